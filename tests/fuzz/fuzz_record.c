/* fuzz_record: libFuzzer entry point for record_decode(), with the encode round trip.
 *
 * Any input must either decode, or be refused with -EINVAL/-E2BIG and a message. A record
 * that decodes must encode, and its encoding must decode and encode to the same bytes.
 * The single-pass decoder (record_read) must never accept what the jansson decoder rejects,
 * and what both accept must encode to the same bytes; its records are one block each.
 * Seed corpus: tests/fuzz/corpus/record/ (golden records). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "record_fields.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct record *rec = NULL, *back = NULL;
    char err[512] = "";
    char *enc = NULL, *enc2 = NULL;
    size_t len, len2;
    struct record *fast = NULL, *slow = NULL;
    char slow_err[512] = "";
    int fast_rc = record_read((const char *)data, size, &fast);
    int slow_rc = record_decode_jansson((const char *)data, size, &slow, slow_err, sizeof slow_err);
    if (fast_rc == 0) {
        char *fe = NULL, *se = NULL;
        size_t fl, sl;
        if (!fast->one_block || slow_rc != 0 || record_encode(fast, &fe, &fl) != 0 ||
            record_encode(slow, &se, &sl) != 0 || fl != sl || memcmp(fe, se, fl) != 0)
            abort();
        free(fe);
        free(se);
    } else if (fast) {
        abort();
    }
    record_free(fast);
    record_free(slow);
    int rc = record_decode((const char *)data, size, &rec, err, sizeof err);
    if (rc != slow_rc || (rc != 0 && strcmp(err, slow_err) != 0))
        abort();
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
