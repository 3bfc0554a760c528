/* ct_event: normalises one CloudTrail event into a record of type event.
 *
 * DESIGN: CloudTrail events reach the collector in two shapes: an item of LookupEvents'
 * "Events" array (PascalCase envelope, the event document itself as a JSON *string* in
 * CloudTrailEvent) and an element of an archive file's "Records" array (the document as an
 * object). Both end in one normaliser that reads the document defensively: EC2's XML->JSON
 * conversion wraps lists as {"items": [...]} or {"item": ...}, turns one-element lists into
 * objects, numeric strings into numbers and back, and newer actions nest their parameters in
 * "<Action>Request" / "<Action>Response" objects; lookups try both casings and all wrappers.
 * An event that cannot be interpreted is never dropped: it becomes a record with
 * parsed=false and raw = the original text, so it can be reprocessed later. Only an event
 * without an id is refused, since the analyzer de-duplicates on it. The scope is left unset
 * (the event is keyed <account>/<region> by record_key()); the caller fills the envelope
 * source.
 */
#ifndef IPAMWATCH_CT_EVENT_H
#define IPAMWATCH_CT_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "record.h"

/* NULL-terminated list of the CloudTrail event names relevant to IP allocation auditing
 * (IPAM pool space, pool and IPAM lifecycle, discovery, BYOIP/BYOASN, VPC, subnet, EIP and
 * public IPv4 pool calls). Static storage. */
extern const char *const ct_event_names[];

/* Returns true when `event_name` (borrowed; NULL gives false) is one of ct_event_names.
 * Any thread. */
bool ct_event_is_relevant(const char *event_name);

/* Normalises one item of LookupEvents' "Events" array (`event`, borrowed): EventId,
 * EventName, EventTime (epoch seconds, a number or a numeric string), Username, Resources
 * and CloudTrailEvent (a JSON string, parsed here). `account` and `region` (borrowed, may be
 * NULL) are the account and Region that were polled: they fill the record when the document
 * lacks recipientAccountId / awsRegion (or cannot be parsed). Returns a new record of type
 * RECORD_EVENT owned by the caller; parsed=false with raw = the CloudTrailEvent text (or
 * the item itself re-encoded when that is missing) when the document cannot be interpreted.
 * Returns NULL with the reason in `err` only when the item is not an object or carries no
 * event id. The returned record may still fail record_validate() if neither the item nor
 * the caller supplies an account, Region or time. Any thread. */
struct record *ct_event_from_lookup(json_t *event, const char *account, const char *region,
                                    char *err, size_t errlen);

/* Normalises one element of a CloudTrail log file's "Records" array (`rec`, borrowed: the
 * event document as an object). Returns a new record of type RECORD_EVENT owned by the
 * caller (parsed=false with raw = the element re-encoded when it cannot be interpreted), or
 * NULL with the reason in `err` when it is not an object or has no eventID. Any thread. */
struct record *ct_event_from_trail(json_t *rec, char *err, size_t errlen);

#endif
