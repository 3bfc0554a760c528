/* fuzz_record: libFuzzer entry point for record_decode(), with the encode round trip.
 *
 * Any input must either decode, or be refused with -EINVAL/-E2BIG and a message. A record
 * that decodes must encode, and its encoding must decode and encode to the same bytes.
 * Seed corpus: tests/fuzz/corpus/record/ (golden records). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct record *rec = NULL, *back = NULL;
    char err[512] = "";
    char *enc = NULL, *enc2 = NULL;
    size_t len, len2;
    int rc = record_decode((const char *)data, size, &rec, err, sizeof err);
    if (rc != 0) {
        if ((rc != -EINVAL && rc != -E2BIG) || rec || err[0] == '\0')
            abort();
        return 0;
    }
    if (record_encode(rec, &enc, &len) != 0)
        abort();
    if (record_decode(enc, len, &back, err, sizeof err) != 0)
        abort();
    if (record_encode(back, &enc2, &len2) != 0 || len2 != len || memcmp(enc, enc2, len) != 0)
        abort();
    free(enc);
    free(enc2);
    record_free(back);
    record_free(rec);
    return 0;
}
