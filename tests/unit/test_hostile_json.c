/* Unit tests: hostile JSON through every JSON reader of the product.
 *
 * 100k nested '[' in Kafka records, CloudTrail archive files, aws CLI files and the
 * CloudTrailEvent text of a LookupEvents item; NUL (\u0000) and invalid UTF-8 in their
 * strings; records over RECORD_MAX_BYTES (they become dead letters with the reason);
 * oversized CloudTrail records, a gzip bomb and over-full LookupEvents pages. Each case
 * runs in a child process (a stack overflow fails the case, not the binary), must fail with
 * a message that names what was wrong (and the file, for files), must never turn a string
 * into a shorter valid one, and must keep its peak RSS growth under the bound it states. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <zlib.h>

#include "analyzer/deadletter.h"
#include "collector/cli_files.h"
#include "collector/ct_archive.h"
#include "collector/ct_event.h"
#include "collector/ct_lookup.h"
#include "hostile.h"
#include "log.h"
#include "record.h"
#include "record_fields.h"
#include "testing.h"

#define MB   (1024u * 1024u)
#define DEEP 100000

static char g_dir[64];

/* A relevant CloudTrail record (archive spelling) with `extra` spliced into it. */
#define TRAIL_EVENT(extra)                                                                         \
    "{\"eventVersion\":\"1.08\",\"eventID\":\"6b1c2f4e-0000-4000-8000-000000000001\","             \
    "\"eventName\":\"AllocateIpamPoolCidr\",\"eventSource\":\"ec2.amazonaws.com\","                \
    "\"eventTime\":\"2025-03-14T10:00:00Z\",\"awsRegion\":\"eu-central-1\","                       \
    "\"recipientAccountId\":\"111122223333\"," extra "\"requestParameters\":{\"AllocateIpamPool"   \
    "CidrRequest\":{\"IpamPoolId\":\"ipam-pool-0123456789abcdef0\",\"NetmaskLength\":24}}}"

static char *deep_text(const char *head, const char *tail)
{
    size_t hl = strlen(head), tl = strlen(tail);
    char *s = malloc(hl + DEEP + tl + 1);
    assert_non_null(s);
    memcpy(s, head, hl);
    memset(s + hl, '[', DEEP);
    memcpy(s + hl + DEEP, tail, tl + 1);
    return s;
}

static void write_file(const char *path, const char *data, size_t len, bool gzip)
{
    if (gzip) {
        gzFile gz = gzopen(path, "wb6");
        assert_non_null(gz);
        assert_int_equal(gzwrite(gz, data, (unsigned)len), (int)len);
        assert_int_equal(gzclose(gz), Z_OK);
        return;
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* ---- Kafka records --------------------------------------------------------------------- */

struct bytes {
    const char *p;
    size_t n;
};

static int decode_case(void *arg, char *err, size_t errlen)
{
    const struct bytes *b = arg;
    struct record *rec = NULL;
    int rc = record_decode(b->p, b->n, &rec, err, errlen);
    struct record *fast = NULL;
    if (rc == 0 || record_read(b->p, b->n, &fast) == 0)
        rc = -EEXIST; /* accepted */
    record_free(rec);
    record_free(fast);
    return rc;
}

static void expect_decode_error(const char *name, const char *text, size_t len, int want,
                                const char *says)
{
    struct bytes b = {text, len};
    struct hostile_result res;
    hostile_run(name, decode_case, &b, &res);
    if (res.rc != want)
        fail_msg("%s: rc %d, want %d (%s)", name, res.rc, want, res.err);
    hostile_assert_err(name, &res, says);
    hostile_assert_bounded(name, &res, HOSTILE_BOUND_KB);
}

static void test_records(void **state)
{
    (void)state;
    char *deep = deep_text("", "");
    expect_decode_error("record of 100k '['", deep, strlen(deep), -EINVAL, "depth");
    free(deep);
    deep = deep_text("{\"v\":1,\"type\":\"pool\",\"x\":", "");
    expect_decode_error("record with 100k '[' inside", deep, strlen(deep), -EINVAL, "depth");
    free(deep);

    static const char nul[] =
        "{\"v\":1,\"type\":\"event\",\"ts\":\"2025-03-14T10:00:00.000Z\",\"source\":\"c\\u0000x\","
        "\"event_id\":\"e-1\",\"name\":\"AllocateIpamPoolCidr\",\"time\":"
        "\"2025-03-14T10:00:00.000Z\",\"account\":\"111122223333\",\"region\":\"eu-central-1\","
        "\"parsed\":true}";
    expect_decode_error("record with \\u0000", nul, strlen(nul), -EINVAL, "u0000");
    char bad[sizeof nul];
    memcpy(bad, nul, sizeof nul);
    char *at = strstr(bad, "\\u0000");
    memcpy(at, "\xC3\x28xxxx", 6); /* an invalid two-byte sequence */
    expect_decode_error("record with invalid UTF-8", bad, strlen(bad), -EINVAL,
                        "unable to decode byte 0xc3");
    char raw_nul[sizeof nul];
    memcpy(raw_nul, nul, sizeof nul);
    memcpy(strstr(raw_nul, "\\u0000"), "\0xxxxx", 6);
    expect_decode_error("record with a NUL byte", raw_nul, sizeof nul - 1, -EINVAL, "");
}

/* An oversized record is refused as a whole and becomes a bounded dead letter. */
static int oversized_case(void *arg, char *err, size_t errlen)
{
    (void)arg;
    size_t n = RECORD_MAX_BYTES + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    static const char head[] = "{\"v\":1,\"type\":\"pool\",\"description\":\"";
    memcpy(big, head, sizeof head - 1);
    memset(big + sizeof head - 1, 'a', n - sizeof head - 2);
    memcpy(big + n - 2, "\"}", 2);
    struct record *rec = NULL;
    int rc = record_decode(big, n, &rec, err, errlen);
    if (rc == 0)
        return -EEXIST;
    struct deadletter_source src = {"ipamwatch.inventory", 2, 77, "scope-1", 7, big, n};
    size_t dlen;
    char *dl = deadletter_encode(deadletter_code(rc), err, &src, &dlen);
    json_t *env = json_loadb(dl, dlen, 0, NULL);
    const char *code = json_string_value(json_object_get(env, "code"));
    const char *reason = json_string_value(json_object_get(env, "reason"));
    if (!code || strcmp(code, "oversized") != 0 || !reason || strcmp(reason, err) != 0 ||
        dlen > DEADLETTER_PAYLOAD_MAX + 4096 || !json_is_true(json_object_get(env, "truncated")))
        rc = -EPROTO;
    json_decref(env);
    free(dl);
    free(big);
    return rc;
}

/* A record whose encoding would pass the limit is refused, never cut. */
static int encode_big_case(void *arg, char *err, size_t errlen)
{
    (void)arg;
    json_t *item =
        json_pack("{s:s, s:s, s:f, s:s#}", "EventId", "e-big", "EventName", "AllocateIpamPoolCidr",
                  "EventTime", 1741946400.0, "CloudTrailEvent", "not json", (int)8);
    char *raw = malloc(2 * MB);
    memset(raw, 'r', 2 * MB - 1);
    raw[2 * MB - 1] = '\0';
    json_object_set_new(item, "CloudTrailEvent", json_string(raw));
    free(raw);
    struct record *rec = ct_event_from_lookup(item, "111122223333", "eu-central-1", err, errlen);
    json_decref(item);
    if (!rec)
        return -EPROTO;
    record_str_set(&rec->source, "test");
    char *out = NULL;
    size_t len;
    int rc = record_validate(rec, err, errlen);
    if (rc == 0) {
        rc = record_encode(rec, &out, &len);
        if (rc == -E2BIG)
            snprintf(err, errlen, "encoding refused: larger than %d bytes", RECORD_MAX_BYTES);
    }
    free(out);
    record_free(rec);
    return rc;
}

static void test_oversized_records(void **state)
{
    (void)state;
    struct hostile_result res;
    hostile_run("record of 1 MiB + 1 byte", oversized_case, NULL, &res);
    assert_int_equal(res.rc, -E2BIG);
    hostile_assert_err("record of 1 MiB + 1 byte", &res, "exceeds the limit of 1048576 bytes");
    hostile_assert_bounded("record of 1 MiB + 1 byte", &res, 16L * 1024);
    hostile_run("event with 2 MiB raw text", encode_big_case, NULL, &res);
    if (res.rc != -EINVAL && res.rc != -E2BIG)
        fail_msg("event with 2 MiB raw text: rc %d (%s)", res.rc, res.err);
    assert_true(res.err[0] != '\0');
    hostile_assert_bounded("event with 2 MiB raw text", &res, 32L * 1024);
}

/* ---- CloudTrail archives ---------------------------------------------------------------- */

struct archive_case {
    const char *path;
    size_t records; /* elements handed out */
    size_t events;  /* records made of relevant ones */
    char raw_nul;   /* an unparsed record kept "\\u0000" literally */
};

static int on_trail(json_t *rec, void *ctx)
{
    struct archive_case *c = ctx;
    c->records++;
    char err[256];
    struct record *r = ct_event_from_trail(rec, err, sizeof err);
    if (r)
        c->events++;
    record_free(r);
    return 0;
}

static int archive_case(void *arg, char *err, size_t errlen)
{
    struct archive_case *c = arg;
    int rc = ct_archive_read_file(c->path, on_trail, c, err, errlen);
    if (rc == 0)
        snprintf(err, errlen, "%zu records, %zu events", c->records, c->events);
    return rc;
}

static void expect_archive(const char *name, const char *text, size_t len, bool gzip, int want,
                           const char *says, long bound_kb)
{
    char path[256];
    snprintf(path, sizeof path, "%s/111122223333_CloudTrail_eu-central-1_20250314T1000Z_%s.json%s",
             g_dir, gzip ? "gz" : "plain", gzip ? ".gz" : "");
    write_file(path, text, len, gzip);
    struct archive_case c = {path, 0, 0, 0};
    struct hostile_result res;
    hostile_run(name, archive_case, &c, &res);
    unlink(path);
    if (res.rc != want)
        fail_msg("%s: rc %d, want %d (%s)", name, res.rc, want, res.err);
    if (want != 0)
        hostile_assert_err(name, &res, path);
    hostile_assert_err(name, &res, says);
    hostile_assert_bounded(name, &res, bound_kb);
}

static void test_archives(void **state)
{
    (void)state;
    char *deep = deep_text("{\"Records\":[", "");
    expect_archive("archive of 100k '['", deep, strlen(deep), true, -EBADMSG, "nested too deeply",
                   HOSTILE_BOUND_KB);
    free(deep);
    deep = deep_text("{\"Other\":", "], \"Records\":[]}");
    expect_archive("archive with 100k '[' outside Records", deep, strlen(deep), false, -EBADMSG,
                   "nested too deeply", HOSTILE_BOUND_KB);
    free(deep);

    static const char good[] = "{\"Records\":[" TRAIL_EVENT("") "]}";
    expect_archive("archive with one event", good, strlen(good), true, 0, "1 records, 1 events",
                   HOSTILE_BOUND_KB);
    static const char nul[] =
        "{\"Records\":[" TRAIL_EVENT("\"userAgent\":\"aws-cli\\u0000/2\",") "]}";
    expect_archive("archive with \\u0000", nul, strlen(nul), false, -EBADMSG, "u0000",
                   HOSTILE_BOUND_KB);
    static const char utf[] = "{\"Records\":[" TRAIL_EVENT("\"userAgent\":\"aws-cli\xFF/2\",") "]}";
    expect_archive("archive with invalid UTF-8", utf, strlen(utf), true, -EBADMSG,
                   "unable to decode byte 0xff", HOSTILE_BOUND_KB);

    /* One 70 MB record: refused at the 64 MiB capture limit, whose buffer is the bound. */
    size_t big = 70u * MB;
    char *text = malloc(big + 512);
    assert_non_null(text);
    size_t off = (size_t)snprintf(text, 512, "{\"Records\":[{\"eventName\":\"CreateVpc\",\"x\":\"");
    memset(text + off, 'x', big);
    off += big;
    off += (size_t)snprintf(text + off, 512, "\"}]}");
    expect_archive("archive with a 70 MB record", text, off, true, -EFBIG, "larger than 64 MiB",
                   160L * 1024);
    /* A gzip bomb: 200 MB of white space between two events, streamed. */
    size_t pad = 200u * MB;
    char *bomb = realloc(text, pad + 4096);
    assert_non_null(bomb);
    off = (size_t)snprintf(bomb, 2048, "{\"Records\":[%s,", TRAIL_EVENT(""));
    memset(bomb + off, '\n', pad);
    off += pad;
    off += (size_t)snprintf(bomb + off, 2048, "%s]}", TRAIL_EVENT(""));
    expect_archive("archive with 200 MB of white space", bomb, off, true, 0, "2 records, 2 events",
                   HOSTILE_BOUND_KB);
    free(bomb);
}

/* ---- aws CLI files ------------------------------------------------------------------- */

struct cli_case {
    const char *dir;
};

static int on_cli_item(void *ctx, json_t *item)
{
    (void)ctx;
    (void)item;
    return 0;
}

static int cli_case(void *arg, char *err, size_t errlen)
{
    const struct cli_case *c = arg;
    cli_files_t *f = cli_files_new(c->dir, err, errlen);
    if (!f)
        return -ENOENT;
    int rc = cli_files_list(f, EC2_DESCRIBE_IPAM_POOLS, "eu-central-1", NULL, NULL, on_cli_item,
                            NULL, err, errlen);
    cli_files_free(f);
    return rc;
}

static void expect_cli(const char *name, const char *pools, const char *says)
{
    char path[256];
    snprintf(path, sizeof path, "%s/describe-ipams.json", g_dir);
    write_file(path, "{\"Ipams\": []}", 13, false);
    snprintf(path, sizeof path, "%s/describe-ipam-pools.json", g_dir);
    write_file(path, pools, strlen(pools), false);
    struct cli_case c = {g_dir};
    struct hostile_result res;
    hostile_run(name, cli_case, &c, &res);
    if (res.rc != -EINVAL)
        fail_msg("%s: rc %d (%s)", name, res.rc, res.err);
    hostile_assert_err(name, &res, path);
    hostile_assert_err(name, &res, says);
    hostile_assert_bounded(name, &res, HOSTILE_BOUND_KB);
}

static void test_cli_files(void **state)
{
    (void)state;
    char *deep = deep_text("{\"IpamPools\": ", "");
    expect_cli("aws CLI file of 100k '['", deep, "depth");
    free(deep);
    expect_cli("aws CLI file with \\u0000",
               "{\"IpamPools\": [\n {\"IpamPoolId\": \"ipam-pool-1\\u0000x\"}\n]}", "line 2");
    expect_cli("aws CLI file with invalid UTF-8",
               "{\"IpamPools\": [\n {\"IpamPoolId\": \"ipam-pool-1\xC0\xAF\"}\n]}",
               "line 2 column 28: unable to decode byte 0xc0");
    expect_cli("aws CLI page", "{\"IpamPools\": [], \"NextToken\": \"eyJvZmZzZXQiOiAzfQ==\"}",
               "NextToken present");
}

/* ---- LookupEvents pages ------------------------------------------------------------- */

struct page_case {
    json_t *resp;
    size_t n;      /* records the page gave */
    bool raw_kept; /* the first record is unparsed and kept its text whole */
    char *expect;  /* text the first record's raw must equal (NULL: not checked) */
};

static int page_case(void *arg, char *err, size_t errlen)
{
    struct page_case *c = arg;
    struct ct_lookup_page page = {0};
    int rc = ct_lookup_page_parse(c->resp, "111122223333", "eu-central-1", "test", NULL, NULL,
                                  "test", &page, err, errlen);
    c->n = page.n;
    if (rc == 0) {
        snprintf(err, errlen, "%zu records", page.n);
        if (c->expect &&
            (page.n != 1 || page.recs[0]->u.event.parsed || !page.recs[0]->u.event.raw ||
             strcmp(page.recs[0]->u.event.raw, c->expect) != 0))
            rc = -EPROTO;
    }
    ct_lookup_page_clear(&page);
    return rc;
}

static json_t *lookup_item(int i, const char *ct_event)
{
    char id[64];
    snprintf(id, sizeof id, "6b1c2f4e-0000-4000-8000-%012d", i);
    return json_pack("{s:s, s:s, s:f, s:s}", "EventId", id, "EventName", "AllocateIpamPoolCidr",
                     "EventTime", 1741946400.0 + i, "CloudTrailEvent", ct_event);
}

static void test_lookup_pages(void **state)
{
    (void)state;
    log_set_level(LOG_LEVEL_ERR);
    struct hostile_result res;
    /* More relevant events than the 50 a page is asked for: all of them, none lost. */
    json_t *events = json_array();
    for (int i = 0; i < 60; i++)
        json_array_append_new(events, lookup_item(i, TRAIL_EVENT("")));
    struct page_case c = {json_pack("{s:o}", "Events", events), 0, false, NULL};
    hostile_run("LookupEvents page of 60 events", page_case, &c, &res);
    assert_int_equal(res.rc, 0);
    hostile_assert_err("LookupEvents page of 60 events", &res, "60 records");
    /* Far more than any page holds: refused. */
    for (int i = 60; i < 1001; i++)
        json_array_append_new(events, lookup_item(i, TRAIL_EVENT("")));
    hostile_run("LookupEvents page of 1001 events", page_case, &c, &res);
    assert_int_equal(res.rc, -EBADMSG);
    hostile_assert_err("LookupEvents page of 1001 events", &res, "1001 events");
    json_decref(c.resp);

    /* A CloudTrailEvent of 100k '[' or with an escaped NUL stays raw text, whole. */
    char *deep = deep_text("", "");
    static const char nul_event[] = TRAIL_EVENT("\"userAgent\":\"aws-cli\\u0000/2\",");
    const char *texts[] = {deep, nul_event};
    const char *names[] = {"CloudTrailEvent of 100k '['", "CloudTrailEvent with \\u0000"};
    for (int i = 0; i < 2; i++) {
        json_t *page = json_pack("{s:[o]}", "Events", lookup_item(i, texts[i]));
        struct page_case pc = {page, 0, false, (char *)texts[i]};
        hostile_run(names[i], page_case, &pc, &res);
        if (res.rc != 0)
            fail_msg("%s: rc %d (%s)", names[i], res.rc, res.err);
        hostile_assert_bounded(names[i], &res, HOSTILE_BOUND_KB);
        json_decref(page);
    }
    free(deep);
    /* Not a LookupEvents answer. */
    json_t *junk = json_pack("{s:s}", "Events", "none");
    struct page_case jc = {junk, 0, false, NULL};
    hostile_run("answer without an Events list", page_case, &jc, &res);
    assert_int_equal(res.rc, -EBADMSG);
    hostile_assert_err("answer without an Events list", &res, "Events list");
    json_decref(junk);
}

static int setup(void **state)
{
    (void)state;
    return testing_mkdtemp(g_dir, sizeof g_dir, "ipamwatch-hostile");
}

static int teardown(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/describe-ipams.json", g_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/describe-ipam-pools.json", g_dir);
    unlink(path);
    return rmdir(g_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records),      cmocka_unit_test(test_oversized_records),
        cmocka_unit_test(test_archives),     cmocka_unit_test(test_cli_files),
        cmocka_unit_test(test_lookup_pages),
    };
    return cmocka_run_group_tests_name("hostile_json", tests, setup, teardown);
}
