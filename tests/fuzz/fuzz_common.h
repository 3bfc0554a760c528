/* fuzz_common: helpers the libFuzzer targets share (scratch files, record round trips).
 *
 * Header-only (static functions) because tests/fuzz/run.sh builds each fuzz_*.c on its
 * own against libipamwatch.a. Every helper aborts on a broken promise so that libFuzzer
 * keeps the input as a reproducer. */
#ifndef IPAMWATCH_FUZZ_COMMON_H
#define IPAMWATCH_FUZZ_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "record.h"

/* The process' scratch directory (created on the first call, mode 0700), as a path
 * borrowed from a static buffer. */
static inline const char *fuzz_scratch_dir(void)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/ipamwatch-fuzz.XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    return dir;
}

/* Writes `size` bytes to `path`, plain or as one gzip member. */
static inline void fuzz_write_file(const char *path, const void *data, size_t size, int gzip)
{
    if (gzip) {
        gzFile gz = gzopen(path, "wb1");
        if (!gz || (size && gzwrite(gz, data, (unsigned)size) != (int)size) || gzclose(gz) != Z_OK)
            abort();
        return;
    }
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
}

/* A record a parser produced: it validates (or says why not) and, when it encodes, its
 * encoding decodes and encodes to the same bytes. Borrowed. */
static inline void fuzz_check_record(const struct record *rec)
{
    char err[512] = "";
    if (record_validate(rec, err, sizeof err) != 0) {
        if (!err[0])
            abort();
        return;
    }
    char *enc = NULL, *again = NULL;
    size_t len = 0, len2 = 0;
    int rc = record_encode(rec, &enc, &len);
    if (rc == -E2BIG)
        return; /* refused as a whole, never cut */
    if (rc != 0)
        abort();
    struct record *back = NULL;
    if (record_decode(enc, len, &back, err, sizeof err) != 0) {
        fprintf(stderr, "encoding does not decode: %s\n%.*s\n", err, (int)len, enc);
        abort();
    }
    if (record_encode(back, &again, &len2) != 0 || len2 != len || memcmp(enc, again, len) != 0)
        abort();
    record_free(back);
    free(enc);
    free(again);
}

#endif
