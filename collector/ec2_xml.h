/* ec2_xml: streaming parser of EC2/STS Query XML answers into items.
 *
 * DESIGN: a libxml2 SAX2 push parser is fed the body as it arrives (a body already held
 * whole goes through libxml2's memory parser with the same handlers). Every <item> directly
 * inside the result set (the child of the root element, e.g. ipamPoolSet) is kept as a tree
 * of flat nodes (no allocation per item; the collector's hot path reads these), and is
 * available as one JSON object with the XML's camelCase names as keys; nested lists of <item>
 * become arrays (so a tagSet becomes [{"key":..,"value":..}]), known numeric and boolean fields of
 * the EC2 model become JSON numbers and booleans, everything else stays a string. Leaf elements
 * outside the items (requestId, nextToken, the error document's Code/Message/RequestID, the STS
 * Credentials) are collected by name as "meta". Any DOCTYPE is refused (no DTD, no entity
 * expansion, no network), text nodes are capped at 1 MiB and nesting at 64 levels, so a
 * hostile body fails cleanly with bounded memory. The result is only usable after
 * ec2_xml_finish() accepted the whole document: a truncated body is an error.
 */
#ifndef IPAMWATCH_EC2_XML_H
#define IPAMWATCH_EC2_XML_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

typedef struct ec2_xml ec2_xml_t;

#define EC2_XML_MAX_TEXT  (1u << 20)
#define EC2_XML_MAX_DEPTH 64

/* Creates a parser for the answer of `operation` (copied; used in error text). When
 * `required_key` is set (copied), every result item must carry that element. Never NULL.
 * One thread at a time per parser. */
ec2_xml_t *ec2_xml_new(const char *operation, const char *required_key);
/* Frees the parser and its items; NULL is a no-op. */
void ec2_xml_free(ec2_xml_t *x);

/* Feeds the next `len` bytes. Returns 0, or -EBADMSG once the document is malformed or
 * hostile (the reason is kept for ec2_xml_finish). */
int ec2_xml_feed(ec2_xml_t *x, const char *buf, size_t len);
/* Ends the document. Returns 0 when it was complete and well-formed and every item had its
 * required key; else -EBADMSG with e.g. "ec2 DescribeIpamPools: truncated or malformed XML
 * (line 7: ...)" or "... item 3 without ipamPoolId (request id ...)" in err. */
int ec2_xml_finish(ec2_xml_t *x, char *err, size_t errlen);

/* Parses a whole answer held in memory (`buf`, `len`, borrowed) in one go, with libxml2's
 * memory parser instead of the push parser (fewer instructions a byte); the same handlers,
 * limits and refusals. Stores a new parser in *out (owned by the caller, ec2_xml_free(),
 * also on failure) and returns what ec2_xml_finish() would after feeding it the bytes: 0 or
 * -EBADMSG with the reason in err. Any thread; one parser per call. */
int ec2_xml_parse_whole(const char *operation, const char *required_key, const char *buf,
                        size_t len, ec2_xml_t **out, char *err, size_t errlen);

/* The result items (a JSON array, borrowed from the parser), built from the nodes on the
 * first call. */
json_t *ec2_xml_items(ec2_xml_t *x);
/* Takes the items array out of the parser (owned by the caller; the parser keeps an empty
 * one). */
json_t *ec2_xml_take_items(ec2_xml_t *x);
/* The result items as nodes, without JSON: ec2_xml_item_count() items, the i-th one
 * ec2_xml_item_node(x, i) (-1 when out of range). A node is an element inside an item;
 * its name is the local name, its text "" for an element with children, its children and
 * next sibling -1 when there are none. Strings are borrowed from the parser and valid
 * until ec2_xml_free(). The thread that owns the parser. */
size_t ec2_xml_item_count(const ec2_xml_t *x);
int ec2_xml_item_node(const ec2_xml_t *x, size_t i);
const char *ec2_xml_node_name(const ec2_xml_t *x, int node);
const char *ec2_xml_node_text(const ec2_xml_t *x, int node);
int ec2_xml_node_child(const ec2_xml_t *x, int node);
int ec2_xml_node_next(const ec2_xml_t *x, int node);
/* The JSON form of `node` (as in ec2_xml_items()); a new reference owned by the caller. */
json_t *ec2_xml_item_json(const ec2_xml_t *x, int node);

/* The text of the first leaf element named `name` outside the items ("nextToken",
 * "requestId", "Code", "AccessKeyId", ...), or NULL. Borrowed from the parser. An empty
 * element gives "". */
const char *ec2_xml_meta(ec2_xml_t *x, const char *name);
/* The root element's local name ("DescribeIpamPoolsResponse", "Response",
 * "ErrorResponse"), or "" before it was seen. */
const char *ec2_xml_root(ec2_xml_t *x);
/* True when the document is an AWS error document (Response/Errors or ErrorResponse). */
bool ec2_xml_is_error(ec2_xml_t *x);
/* The request id: requestId, RequestID or RequestId, or NULL. */
const char *ec2_xml_request_id(ec2_xml_t *x);
/* The pagination token, NULL when absent or empty (last page). */
const char *ec2_xml_next_token(ec2_xml_t *x);

/* Looks for the pagination token in the raw bytes of a whole answer, without parsing it:
 * the text of a <nextToken> element that is the last element before the root's end tag,
 * as EC2 writes it, with the predefined and numeric character references unescaped as the
 * parser would. A guess for starting the next request early: only the parse
 * (ec2_xml_next_token) is authoritative. Returns 1 with the token in *token (owned by the
 * caller), 0 when the document ends without one or with an empty one (a last page), or
 * -EAGAIN when the bytes do not tell (not ending with a result's root end tag: cut short,
 * an error document; a token with markup, CDATA, CR or another entity). Pure; any thread. */
int ec2_xml_sniff_next_token(const char *body, size_t len, char **token);

#endif
