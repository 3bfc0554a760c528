/* fuzz_ct_lookup: libFuzzer entry point for ct_lookup_page_parse(), one LookupEvents answer.
 *
 * The input is decoded as aws_client_json() decodes a JSON 1.1 body and read as the poller
 * reads a page. A page is either refused with -EBADMSG and a reason, or gives records that
 * validate, encode and decode, carry distinct event ids none of which the
 * poller knew, and a NextToken that is absent or not empty; the counts add up to at most
 * the page's events. Event ids starting with '0' count as already published.
 * Seed corpus: tests/fuzz/corpus/ct_lookup/ (pages of tests/data/aws/org-small). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "collector/ct_lookup.h"
#include "log.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool known(void *ctx, const char *id)
{
    (*(size_t *)ctx)++;
    return id[0] == '0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        log_set_level(LOG_LEVEL_ERR); /* skipped events are logged as warnings */
        quiet = true;
    }
    json_t *resp = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!resp)
        return 0;
    struct ct_lookup_page page = {0};
    char err[512] = "";
    size_t asked = 0;
    int rc = ct_lookup_page_parse(resp, "111122223333", "eu-central-1", "fuzz", known, &asked,
                                  "fuzz", &page, err, sizeof err);
    if (rc != 0) {
        if (rc != -EBADMSG || !err[0] || page.n || page.recs || page.next_token)
            abort();
        json_decref(resp);
        return 0;
    }
    size_t events = json_array_size(json_object_get(resp, "Events"));
    if (page.n + page.ignored + page.duplicates + page.skipped != events || asked > events)
        abort();
    if (page.next_token && !page.next_token[0])
        abort();
    for (size_t i = 0; i < page.n; i++) {
        const struct record *rec = page.recs[i];
        if (rec->type != RECORD_EVENT || !rec->u.event.event_id ||
            rec->u.event.event_id[0] == '0') {
            fprintf(stderr, "record %zu: id %s name %s\n", i,
                    rec->u.event.event_id ? rec->u.event.event_id : "(none)",
                    rec->u.event.name ? rec->u.event.name : "(none)");
            abort();
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(page.recs[k]->u.event.event_id, rec->u.event.event_id) == 0)
                abort();
        fuzz_check_record(rec);
    }
    ct_lookup_page_clear(&page);
    json_decref(resp);
    return 0;
}
