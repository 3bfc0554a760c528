/* ipam_map: turns one IPAM API item into a record, whichever way it was read.
 *
 * DESIGN: the same item arrives in two spellings: from EC2's XML (camelCase element names,
 * tag lists as tagSet [{key,value}]) and from the aws CLI's JSON (PascalCase member names,
 * Tags [{Key,Value}]). Every lookup tries the XML name first, then the CLI name, so one
 * mapping serves the API source and `collect --from-files` alike and the two cannot drift.
 */
#ifndef IPAMWATCH_IPAM_MAP_H
#define IPAMWATCH_IPAM_MAP_H

#include <stddef.h>

#include <jansson.h>

#include "collector/ec2_xml.h"
#include "record.h"

/* Maps `item` (borrowed) to a new record of `type` (RECORD_IPAM .. RECORD_DISCOVERED_ACCOUNT),
 * owned by the caller. `context_id` supplies what the item itself does not carry: the pool
 * id for RECORD_POOL_CIDR and RECORD_ALLOCATION, the scope id for RECORD_RESOURCE_CIDR when
 * absent from the item, the discovery id for RECORD_DISCOVERED_ACCOUNT (may be NULL
 * otherwise). The envelope (scope, source, pass id) is left for the caller. Returns NULL
 * with a reason naming every missing required field in `err` ("pool item without
 * ipamPoolId, addressFamily") when the item lacks what the record requires. Any thread. */
struct record *ipam_map_item(enum record_type type, json_t *item, const char *context_id, char *err,
                             size_t errlen);

/* ipam_map_item() for an item read by ec2_xml: `item` is its node in `x` (borrowed). The
 * record is the one ipam_map_item() makes of ec2_xml_item_json(x, item); resource CIDRs, the
 * bulk of a pass, are read from the nodes directly without building JSON. Any thread. */
struct record *ipam_map_item_xml(enum record_type type, const ec2_xml_t *x, int item,
                                 const char *context_id, char *err, size_t errlen);

/* ipam_map_item_xml() refilling `*slot` (owned by the caller; NULL or a record this
 * function made before): a resource CIDR record is reused with its string buffers, so a
 * stream of items allocates nothing per item; other types replace *slot. Returns 0, or
 * -EINVAL with the reason in err (then *slot may be NULL or hold a partly filled record, to
 * be reused or freed). Any thread. */
int ipam_map_item_xml_into(struct record **slot, enum record_type type, const ec2_xml_t *x,
                           int item, const char *context_id, char *err, size_t errlen);

/* Looks up `xml_name` in `obj`, then the same name with its first letter upper-cased (the
 * aws CLI spelling). Returns the value (borrowed) or NULL. */
json_t *ipam_map_get(json_t *obj, const char *xml_name);

/* Returns the string value of `xml_name` in `obj` (borrowed), or NULL when absent or not a
 * string. */
const char *ipam_map_str(json_t *obj, const char *xml_name);

#endif
