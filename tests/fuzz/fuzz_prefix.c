/* fuzz_prefix: libFuzzer entry point for prefix_parse(), with the format round trip.
 *
 * Any text either parses, or is refused with -EINVAL and a message. A prefix that parses
 * formats canonically, the canonical text parses to the same prefix and formats to the same
 * text, and the prefix contains and intersects itself. prefix_parse_fast() accepts nothing
 * that prefix_parse() refuses and agrees on what both accept.
 * Seed corpus: tests/fuzz/corpus/prefix/.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "prefix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[256], err[512] = "";
    if (size >= sizeof text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    prefix_t p, q;
    int rc = prefix_parse(text, &p, err, sizeof err);
    /* The fast path (bounded by size, so a NUL inside is its to refuse) accepts only what
     * prefix_parse() accepts, with the same result. */
    if (prefix_parse_fast((const char *)data, size, &q) && (rc != 0 || prefix_cmp(&p, &q) != 0))
        abort();
    if (rc != 0) {
        if (rc != -EINVAL || err[0] == '\0')
            abort();
        return 0;
    }
    char canon[PREFIX_STRLEN], again[PREFIX_STRLEN];
    if (prefix_format(&p, canon, sizeof canon) != 0)
        abort();
    if (prefix_parse(canon, &q, err, sizeof err) != 0 || prefix_cmp(&p, &q) != 0)
        abort();
    if (prefix_format(&q, again, sizeof again) != 0 || strcmp(canon, again) != 0)
        abort();
    if (!prefix_contains(&p, &q) || !prefix_intersects(&p, &q))
        abort();
    if (prefix_first(&p) > prefix_last(&p) || prefix_units(&p) == 0)
        abort();
    return 0;
}
