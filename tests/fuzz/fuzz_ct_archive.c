/* fuzz_ct_archive: libFuzzer entry point for ct_archive_read_file(), CloudTrail log files.
 *
 * Bit 0 of the first input byte says whether the rest is written gzip'd (as CloudTrail
 * delivers files) or plain (hand-made *.json files, or gzip bytes the mutator made); the
 * file is then streamed through the archive reader. Every Records element goes the way
 * `collect --from-archive` takes it (ct_event_is_relevant, ct_event_from_trail) and a
 * record made of it must validate, encode and decode. A failure must name the file; a file
 * that jansson reads whole as {"Records": [...]} (no duplicate keys) must stream without
 * error into the same elements, in order.
 * Seed corpus: tests/fuzz/corpus/ct_archive/ (records of tests/data/aws/org-small). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "collector/ct_archive.h"
#include "collector/ct_event.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
    json_t *elements; /* every element the reader handed out */
};

static int on_record(json_t *rec, void *ctx)
{
    struct seen *s = ctx;
    json_array_append(s->elements, rec);
    json_t *name = json_is_object(rec) ? json_object_get(rec, "eventName") : NULL;
    if (!ct_event_is_relevant(json_string_value(name)))
        return 0;
    char err[256] = "";
    struct record *out = ct_event_from_trail(rec, err, sizeof err);
    if (!out) {
        if (!err[0])
            abort();
        return 0;
    }
    if (out->type != RECORD_EVENT || !out->u.event.event_id)
        abort();
    record_str_set(&out->source, "fuzz");
    fuzz_check_record(out);
    record_free(out);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[128];
    if (size < 1)
        return 0;
    if (!path[0])
        snprintf(path, sizeof path,
                 "%s/111122223333_CloudTrail_eu-central-1_20250314T1005Z_x.json.gz",
                 fuzz_scratch_dir());
    int gzip = data[0] & 1;
    data++;
    size--;
    fuzz_write_file(path, data, size, gzip);

    struct seen s = {json_array()};
    char err[1024] = "";
    int rc = ct_archive_read_file(path, on_record, &s, err, sizeof err);
    if (rc != 0 && rc != -EIO && rc != -EBADMSG && rc != -EFBIG)
        abort();
    if (rc != 0 && strncmp(err, path, strlen(path)) != 0) {
        fprintf(stderr, "error without the file name: %s\n", err);
        abort();
    }
    /* The streaming reader against jansson reading the whole (uncompressed) text. */
    bool plain_gzip = !gzip && size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    json_t *whole =
        plain_gzip ? NULL : json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    json_t *recs = json_object_get(whole, "Records");
    if (json_is_object(whole) && json_is_array(recs)) {
        if (rc != 0 || !json_equal(recs, s.elements)) {
            fprintf(stderr, "jansson reads the file, the archive reader says %d: %s\n", rc, err);
            abort();
        }
    }
    json_decref(whole);
    json_decref(s.elements);
    return 0;
}
