/* ec2_ipam: the read-only IPAM operations of EC2, following every page.
 *
 * DESIGN: each operation is a table entry (action, request parameter naming, the element
 * every item must carry, page-size bounds); ec2_ipam_list() sends one Query call per page
 * through aws_client, hands each item of a completely parsed page to the caller, and stops
 * when the answer has no nextToken. A page that fails (after the client's retries) fails the
 * whole listing: items of earlier pages were already delivered, so callers frame a pass and
 * discard it on error.
 *
 * Pages after the first go through a pipeline, because the request for page N+1 needs page
 * N's nextToken: a fetcher thread takes each answer as raw bytes (aws_client_query_raw),
 * sniffs its nextToken from the end of the bytes (ec2_xml_sniff_next_token) and requests the
 * next page at once, while two parser threads parse the fetched pages and the caller's
 * thread hands them out strictly in page order. The parse stays the authority: when a page
 * does not parse, is an AWS error document, or its parsed nextToken differs from the
 * sniffed one (or the sniff found none), everything requested after it is dropped and the
 * listing goes on from the parse, re-requesting a failed page the streaming way with the
 * unusable answer counted as one of its attempts (aws_call.failed_attempts), so the retry
 * limit, quota and error text with the request id are those of any other call. At most
 * four fetched pages wait to be handed out, plus one request in flight.
 *
 * Threads and ownership: the pipeline's mutex guards its page list, the fetcher's next
 * token, its busy flag, the discard generation and the stop flag; it is the only lock of
 * the module and is never held across a request, a parse or a callback (aws_client takes
 * its own lock inside requests, never the other way round). A page belongs to the fetcher
 * until it is linked into the list, then to the list; a parser owns its body and parse while
 * the page is marked parsing (a page discarded meanwhile is marked orphan and freed by that
 * parser); the caller's thread owns a page once it unlinked it. The first page of every
 * listing is fetched and parsed as it arrives, as are small listings entirely.
 */
#ifndef IPAMWATCH_EC2_IPAM_H
#define IPAMWATCH_EC2_IPAM_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "collector/aws_client.h"
#include "collector/ec2_xml.h"

enum ec2_ipam_op {
    EC2_DESCRIBE_IPAMS,
    EC2_DESCRIBE_IPAM_SCOPES,
    EC2_DESCRIBE_IPAM_POOLS,
    EC2_GET_IPAM_POOL_CIDRS,       /* arg: pool id */
    EC2_GET_IPAM_POOL_ALLOCATIONS, /* arg: pool id; call in the pool's region */
    EC2_GET_IPAM_RESOURCE_CIDRS,   /* arg: scope id */
    EC2_DESCRIBE_IPAM_RESOURCE_DISCOVERIES,
    EC2_GET_IPAM_DISCOVERED_ACCOUNTS, /* arg: discovery id, arg2: discovery region */
    EC2_IPAM_OP_COUNT
};

/* Called once per item; `item` is borrowed (json_incref to keep it). A non-zero return
 * stops the listing and is returned by ec2_ipam_list(). */
typedef int (*ec2_ipam_item_cb)(void *ctx, json_t *item);

/* Called once per item without building JSON: `node` is the item's node in `x` (borrowed;
 * valid during the call only). A non-zero return stops the listing. */
typedef int (*ec2_ipam_node_cb)(void *ctx, const ec2_xml_t *x, int node);

struct ec2_ipam_stats {
    unsigned pages;
    uint64_t items;
};

/* The EC2 action name of an op ("DescribeIpamPools"), or NULL. */
const char *ec2_ipam_op_name(enum ec2_ipam_op op);
/* Looks an op up by action name ("GetIpamPoolCidrs") or CLI name ("get-ipam-pool-cidrs").
 * Returns 0 or -ENOENT. */
int ec2_ipam_op_parse(const char *name, enum ec2_ipam_op *op);

/* Lists every item of `op` in `region` (NULL = the client's region): `arg` is the pool,
 * scope or resource discovery id the op needs (else NULL), `arg2` the DiscoveryRegion of
 * GetIpamDiscoveredAccounts. `max_results` 0 = the largest page (1000; GetIpamPoolAllocations
 * allows 1000..100000, the others 5..1000). `stats` may be NULL. Returns 0, the callback's
 * non-zero value, or -errno with e.g. "ec2 GetIpamPoolAllocations: InvalidParameterValue: ...
 * (request id ...)" in err (-EINVAL for a missing or malformed argument). Any thread. */
int ec2_ipam_list(aws_client_t *c, enum ec2_ipam_op op, const char *region, const char *arg,
                  const char *arg2, int max_results, ec2_ipam_item_cb on_item, void *ctx,
                  struct ec2_ipam_stats *stats, char *err, size_t errlen);

/* ec2_ipam_list() handing each item over as parser nodes (the collector's hot path). Same
 * arguments, results and thread rules; `on_node` runs on the calling thread, in page order,
 * while helper threads already request and parse the following pages through `c` (so a
 * stop returned by `on_node` takes effect once the request in flight ended).
 * ec2_ipam_list() is built on it. */
int ec2_ipam_list_nodes(aws_client_t *c, enum ec2_ipam_op op, const char *region, const char *arg,
                        const char *arg2, int max_results, ec2_ipam_node_cb on_node, void *ctx,
                        struct ec2_ipam_stats *stats, char *err, size_t errlen);

/* The region to call GetIpamPoolAllocations in for `pool` (a DescribeIpamPools item): its
 * locale, or `home_region` when the locale is absent or "None". Borrowed. */
const char *ec2_ipam_pool_region(json_t *pool, const char *home_region);

/* The last ARN segment after '/', e.g. the scope id of a pool's ipamScopeArn; borrowed
 * pointer into `arn`, NULL when there is none. */
const char *ec2_ipam_arn_id(const char *arn);

#endif
