/* deadletter: the JSON envelope of a Kafka message the analyzer could not decode.
 *
 * DESIGN: the envelope names what went wrong (a short code and the decoder's words), where
 * the message came from (topic, partition, offset, key) and carries the original bytes,
 * bounded to DEADLETTER_PAYLOAD_MAX so that an oversized record still fits the dead-letter
 * topic: as a JSON string when the bytes are UTF-8 text, otherwise base64. Building the
 * envelope is pure so it can be tested without a broker; producing it is the analyzer's.
 */
#ifndef IPAMWATCH_DEADLETTER_H
#define IPAMWATCH_DEADLETTER_H

#include <stddef.h>
#include <stdint.h>

#define DEADLETTER_VERSION     1
#define DEADLETTER_PAYLOAD_MAX (64 * 1024) /* bytes of the original message kept */

/* Where an undecodable message came from; every pointer is borrowed. */
struct deadletter_source {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key; /* may be NULL */
    size_t keylen;
    const void *payload; /* may be NULL when len is 0 */
    size_t len;
};

/* Builds the envelope
 *   {"v":1,"code":CODE,"reason":REASON,"topic":..,"partition":..,"offset":..,"key":..,
 *    "payload_bytes":N,"truncated":BOOL,"payload":"text"} (or "payload_base64":"...")
 * where `code` is a short class ("oversized", "invalid"; borrowed) and `reason` the
 * decoder's message (borrowed). A key that is not UTF-8 is written as "key_base64".
 * Returns a NUL-terminated string owned by the caller (free()), its length in *len.
 * Any thread. */
char *deadletter_encode(const char *code, const char *reason, const struct deadletter_source *src,
                        size_t *len);

/* Short class of a record_decode() result: "oversized" for -E2BIG, "invalid" otherwise.
 * Static string. Any thread. */
const char *deadletter_code(int decode_rc);

#endif
