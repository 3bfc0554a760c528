/* fuzz_ct_event: libFuzzer entry point for ct_event_from_lookup() and ct_event_from_trail().
 *
 * The input is parsed as JSON; if it parses, it is normalised as an archive record, as a
 * LookupEvents item, and as the CloudTrailEvent text of a LookupEvents item. The
 * normalisers must return a record or NULL with a message, never crash; a record that
 * validates must encode and decode. Seed corpus: tests/fuzz/corpus/ct_event/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "collector/ct_event.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(struct record *rec, const char *err)
{
    if (!rec) {
        if (err[0] == '\0')
            abort();
        return;
    }
    if (rec->type != RECORD_EVENT || !rec->u.event.event_id)
        abort();
    if (!rec->u.event.parsed && !rec->u.event.raw)
        abort();
    record_str_set(&rec->source, "fuzz");
    char verr[256];
    if (record_validate(rec, verr, sizeof verr) == 0) {
        char *enc = NULL;
        size_t len;
        struct record *back = NULL;
        /* Encoding may refuse an oversized raw text (-E2BIG); what it produces decodes. */
        if (record_encode(rec, &enc, &len) == 0 &&
            record_decode(enc, len, &back, verr, sizeof verr) != 0)
            abort();
        record_free(back);
        free(enc);
    }
    record_free(rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (j) {
        err[0] = '\0';
        check(ct_event_from_trail(j, err, sizeof err), err);
        err[0] = '\0';
        check(ct_event_from_lookup(j, "111122223333", "eu-central-1", err, sizeof err), err);
        json_decref(j);
    }
    /* The bytes as the CloudTrailEvent string (jansson needs valid UTF-8 without NUL). */
    json_t *text = json_stringn((const char *)data, size);
    if (text && json_string_length(text) == strnlen(json_string_value(text), size)) {
        json_t *item = json_pack("{s:s, s:s, s:f, s:o}", "EventId", "fuzz-1", "EventName",
                                 "CreateVpc", "EventTime", 1741946537.0, "CloudTrailEvent", text);
        text = NULL;
        err[0] = '\0';
        check(ct_event_from_lookup(item, NULL, NULL, err, sizeof err), err);
        json_decref(item);
    }
    json_decref(text);
    return 0;
}
