/* Unit tests for ct_event: CloudTrail events (LookupEvents items, archive records) to records. */
#include "testing.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "collector/ct_event.h"
#include "record.h"

static json_t *load(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", testing_srcdir(), rel);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        fail_msg("%s: %s", path, je.text);
    return j;
}

/* The record's body as a flat JSON object ("principal.arn": ...), envelope removed. */
static json_t *body_of(struct record *rec)
{
    char *enc = NULL, err[512];
    size_t len;
    record_str_set(&rec->source, "test");
    rec->ts_ms = 1741946400000;
    if (record_validate(rec, err, sizeof err) != 0)
        fail_msg("record does not validate: %s", err);
    assert_int_equal(record_encode(rec, &enc, &len), 0);
    json_t *j = json_loadb(enc, len, 0, NULL);
    free(enc);
    assert_non_null(j);
    static const char *const envelope[] = {"v", "type", "ts", "source", "scope", "pass"};
    for (size_t i = 0; i < sizeof envelope / sizeof envelope[0]; i++)
        json_object_del(j, envelope[i]);
    json_t *p = json_object_get(j, "principal");
    if (p) {
        const char *k;
        json_t *v;
        json_object_foreach(p, k, v)
        {
            char key[64];
            snprintf(key, sizeof key, "principal.%s", k);
            json_object_set(j, key, v);
        }
        json_object_del(j, "principal");
    }
    return j;
}

static char *encode(struct record *rec)
{
    char *enc = NULL;
    size_t len;
    record_str_set(&rec->source, "test");
    rec->ts_ms = 1741946400000;
    assert_int_equal(record_encode(rec, &enc, &len), 0);
    return enc;
}

/* Wraps an archive record as LookupEvents returns it. */
static json_t *as_lookup(json_t *doc, bool with_id)
{
    int64_t ms;
    assert_int_equal(record_time_parse(json_string_value(json_object_get(doc, "eventTime")), &ms),
                     0);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_t *item = json_pack("{s:O, s:O, s:s, s:f, s:s, s:s, s:[], s:s}", "EventId",
                             json_object_get(doc, "eventID"), "EventName",
                             json_object_get(doc, "eventName"), "ReadOnly", "false", "EventTime",
                             (double)ms / 1000.0, "EventSource", "ec2.amazonaws.com", "Username",
                             "alice@example.com", "Resources", "CloudTrailEvent", text);
    free(text);
    assert_non_null(item);
    if (!with_id)
        json_object_del(item, "EventId");
    return item;
}

/* Every event name, successful and failed, from the fixtures: each field where AWS puts
 * it, nothing else; the LookupEvents shape of the same event gives the same record. */
static void test_fixtures(void **state)
{
    (void)state;
    json_t *events = load("tests/data/cloudtrail/events.json");
    json_t *expected = load("tests/data/cloudtrail/expected.json");
    json_t *records = json_object_get(events, "Records");
    assert_true(json_array_size(records) >= 2 * 54);
    assert_int_equal(json_array_size(records), json_object_size(expected));
    size_t i, bad = 0;
    json_t *doc;
    json_array_foreach(records, i, doc)
    {
        const char *id = json_string_value(json_object_get(doc, "eventID"));
        char err[256] = "";
        struct record *rec = ct_event_from_trail(doc, err, sizeof err);
        if (!rec)
            fail_msg("%s: %s", id, err);
        assert_int_equal(rec->type, RECORD_EVENT);
        assert_null(rec->scope);
        json_t *got = body_of(rec);
        assert_string_equal(json_string_value(json_object_get(got, "event_id")), id);
        json_object_del(got, "event_id");
        json_t *want = json_object_get(expected, id);
        assert_non_null(want);
        if (!json_equal(got, want)) {
            char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);
            char *w = json_dumps(want, JSON_SORT_KEYS | JSON_COMPACT);
            printf("# %s %s\n#  got  %s\n#  want %s\n", id,
                   json_string_value(json_object_get(doc, "eventName")), g, w);
            free(g);
            free(w);
            bad++;
        }
        json_decref(got);

        /* The same event through LookupEvents; the polled account and Region do not
         * override the document's. */
        json_t *item = as_lookup(doc, true);
        struct record *lk =
            ct_event_from_lookup(item, "999999999999", "us-east-1", err, sizeof err);
        if (!lk)
            fail_msg("%s (lookup): %s", id, err);
        char *a = encode(rec), *b = encode(lk);
        if (strcmp(a, b) != 0) {
            printf("# %s: lookup and trail differ\n#  %s\n#  %s\n", id, a, b);
            bad++;
        }
        free(a);
        free(b);
        record_free(lk);
        json_decref(item);
        record_free(rec);
    }
    json_decref(events);
    json_decref(expected);
    if (bad)
        fail_msg("%zu events normalised wrongly", bad);
}

/* The list of relevant names: all of 3.6 but RAM and the optional subnet-fill calls, each
 * once, each covered by a fixture. */
static void test_relevance(void **state)
{
    (void)state;
    json_t *events = load("tests/data/cloudtrail/events.json");
    json_t *records = json_object_get(events, "Records");
    size_t n = 0;
    for (const char *const *p = ct_event_names; *p; p++, n++) {
        assert_true(ct_event_is_relevant(*p));
        for (const char *const *q = ct_event_names; q != p; q++)
            if (strcmp(*p, *q) == 0)
                fail_msg("%s listed twice", *p);
        size_t i;
        json_t *doc;
        bool found = false;
        json_array_foreach(records, i, doc)
        {
            if (strcmp(json_string_value(json_object_get(doc, "eventName")), *p) == 0)
                found = true;
        }
        if (!found)
            fail_msg("no fixture for %s", *p);
    }
    assert_int_equal(n, 54);
    static const char *const not_relevant[] = {"AssumeRole",
                                               "CreateNetworkInterface",
                                               "DescribeIpamPools",
                                               "CreateResourceShare",
                                               "",
                                               "createvpc",
                                               "CreateVpc ",
                                               "GetIpamPoolAllocations"};
    for (size_t i = 0; i < sizeof not_relevant / sizeof not_relevant[0]; i++)
        if (ct_event_is_relevant(not_relevant[i]))
            fail_msg("'%s' counted as relevant", not_relevant[i]);
    assert_false(ct_event_is_relevant(NULL));
    json_decref(events);
}

static struct record *lookup_text(const char *item_json, const char *account, const char *region)
{
    json_error_t je;
    json_t *item = json_loads(item_json, 0, &je);
    if (!item)
        fail_msg("bad test JSON: %s: %s", je.text, item_json);
    char err[256] = "";
    struct record *rec = ct_event_from_lookup(item, account, region, err, sizeof err);
    if (!rec)
        fail_msg("refused: %s", err);
    json_decref(item);
    return rec;
}

/* Documents that cannot be interpreted are kept whole, with what the envelope says. */
static void test_unparsed(void **state)
{
    (void)state;
    static const char *const docs[] = {
        "not json {",
        "[1,2,3]",
        "\"a string\"",
        "{\"eventVersion\":\"1.10\",\"eventID\":\"x\"}",
        "{\"eventName\":42,\"eventTime\":\"2025-03-14T10:02:17Z\"}",
        "{\"eventName\":\"CreateVpc\",\"eventName\":\"DeleteVpc\"}",
        "",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        json_t *item =
            json_pack("{s:s, s:s, s:f, s:s}", "EventId", "e-unparsed", "EventName", "CreateVpc",
                      "EventTime", 1741946537.0, "CloudTrailEvent", docs[i]);
        char err[256] = "";
        struct record *rec =
            ct_event_from_lookup(item, "222233334444", "eu-west-1", err, sizeof err);
        assert_non_null(rec);
        struct record_event *e = &rec->u.event;
        if (e->parsed)
            fail_msg("'%s' counted as parsed", docs[i]);
        assert_string_equal(e->raw, docs[i]);
        assert_string_equal(e->event_id, "e-unparsed");
        assert_string_equal(e->name, "CreateVpc");
        assert_int_equal(e->time_ms, 1741946537000LL);
        assert_string_equal(e->account, "222233334444");
        assert_string_equal(e->region, "eu-west-1");
        assert_null(e->pool_id);
        assert_null(e->principal.arn);
        /* It travels: encodes and decodes with raw intact. */
        char *enc = encode(rec);
        struct record *back = NULL;
        assert_int_equal(record_decode(enc, strlen(enc), &back, err, sizeof err), 0);
        assert_false(back->u.event.parsed);
        assert_string_equal(back->u.event.raw, docs[i]);
        record_free(back);
        free(enc);
        record_free(rec);
        json_decref(item);
    }
    /* No CloudTrailEvent at all: the item itself is kept. */
    struct record *rec = lookup_text(
        "{\"EventId\":\"e2\",\"EventName\":\"DeleteVpc\",\"EventTime\":1741946537}", "1", "r");
    assert_false(rec->u.event.parsed);
    assert_non_null(strstr(rec->u.event.raw, "\"EventId\":\"e2\""));
    record_free(rec);
    /* An archive record without eventName keeps the record as raw. */
    json_t *doc =
        json_pack("{s:s, s:s, s:s, s:s}", "eventID", "t1", "eventTime", "2025-03-14T10:02:17Z",
                  "awsRegion", "eu-central-1", "recipientAccountId", "111122223333");
    char err[256];
    rec = ct_event_from_trail(doc, err, sizeof err);
    assert_non_null(rec);
    assert_false(rec->u.event.parsed);
    assert_non_null(strstr(rec->u.event.raw, "\"eventID\":\"t1\""));
    assert_string_equal(rec->u.event.region, "eu-central-1");
    assert_int_equal(rec->u.event.time_ms, 1741946537000LL);
    record_free(rec);
    json_decref(doc);
}

/* Only an event without an id is refused, since the analyzer de-duplicates on it. */
static void test_event_id(void **state)
{
    (void)state;
    char err[256];
    json_t *j = json_loads("{\"EventName\":\"CreateVpc\",\"EventTime\":1,"
                           "\"CloudTrailEvent\":\"{\\\"eventName\\\":\\\"CreateVpc\\\"}\"}",
                           0, NULL);
    err[0] = '\0';
    assert_null(ct_event_from_lookup(j, "1", "r", err, sizeof err));
    assert_non_null(strstr(err, "EventId"));
    json_decref(j);

    /* The id inside the document stands in for a missing EventId. */
    struct record *rec =
        lookup_text("{\"EventName\":\"CreateVpc\",\"EventTime\":1741946537,\"CloudTrailEvent\":"
                    "\"{\\\"eventID\\\":\\\"inner-id\\\",\\\"eventName\\\":\\\"CreateVpc\\\","
                    "\\\"eventTime\\\":\\\"2025-03-14T10:02:17Z\\\"}\"}",
                    "111122223333", "eu-central-1");
    assert_string_equal(rec->u.event.event_id, "inner-id");
    assert_true(rec->u.event.parsed);
    record_free(rec);

    static const char *const refused[] = {"[]", "\"x\"", "{\"EventId\":\"\"}",
                                          "{\"EventId\":{\"a\":1}}"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        j = json_loads(refused[i], JSON_DECODE_ANY, NULL);
        err[0] = '\0';
        assert_null(ct_event_from_lookup(j, "1", "r", err, sizeof err));
        assert_true(err[0] != '\0');
        err[0] = '\0';
        assert_null(ct_event_from_trail(j, err, sizeof err));
        assert_true(err[0] != '\0');
        json_decref(j);
    }
    assert_null(ct_event_from_trail(NULL, err, sizeof err));
    assert_null(ct_event_from_lookup(NULL, NULL, NULL, err, sizeof err));
}

/* EventTime as epoch seconds (number, exponent, numeric text) or ISO 8601 text. */
static void test_event_time(void **state)
{
    (void)state;
    static const struct {
        const char *time;
        int64_t ms;
    } cases[] = {
        {"1741946537.0", 1741946537000LL},
        {"1.7419465E9", 1741946500000LL},
        {"\"1741946537.25\"", 1741946537250LL},
        {"\"2025-02-13T08:30:35+00:00\"", 1739435435000LL},
        {"\"2025-02-13T09:30:35+01:00\"", 1739435435000LL},
        {"1741946537", 1741946537000LL},
        {"\"soon\"", RECORD_UNSET},
        {"-5", RECORD_UNSET},
        {"null", RECORD_UNSET},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char item[512];
        snprintf(item, sizeof item,
                 "{\"EventId\":\"t\",\"EventName\":\"DeleteVpc\",\"EventTime\":%s,"
                 "\"CloudTrailEvent\":\"{\\\"eventName\\\":\\\"DeleteVpc\\\"}\"}",
                 cases[i].time);
        struct record *rec = lookup_text(item, "111122223333", "eu-central-1");
        if (rec->u.event.time_ms != cases[i].ms)
            fail_msg("EventTime %s: %lld, want %lld", cases[i].time,
                     (long long)rec->u.event.time_ms, (long long)cases[i].ms);
        record_free(rec);
    }
    /* The document's eventTime wins over the envelope's. */
    struct record *rec =
        lookup_text("{\"EventId\":\"t\",\"EventTime\":5,\"CloudTrailEvent\":\"{\\\"eventName\\\":"
                    "\\\"DeleteVpc\\\",\\\"eventTime\\\":\\\"2025-03-14T10:02:17Z\\\"}\"}",
                    "1", "r");
    assert_int_equal(rec->u.event.time_ms, 1741946537000LL);
    record_free(rec);
}

/* Builds a LookupEvents item around a document given as JSON text. */
static struct record *from_doc(const char *doc_json)
{
    json_t *doc = json_loads(doc_json, 0, NULL);
    if (!doc)
        fail_msg("bad test JSON: %s", doc_json);
    json_object_set_new(doc, "eventID", json_string("q-1"));
    if (!json_object_get(doc, "eventTime"))
        json_object_set_new(doc, "eventTime", json_string("2025-03-14T10:02:17Z"));
    char *text = json_dumps(doc, JSON_COMPACT);
    json_t *item = json_pack("{s:s, s:s}", "EventId", "q-1", "CloudTrailEvent", text);
    char err[256];
    struct record *rec =
        ct_event_from_lookup(item, "111122223333", "eu-central-1", err, sizeof err);
    assert_non_null(rec);
    record_str_set(&rec->source, "test");
    free(text);
    json_decref(item);
    json_decref(doc);
    return rec;
}

/* What CloudTrail's XML->JSON conversion does to documents does not lose the fields. */
static void test_xml_quirks(void **state)
{
    (void)state;
    struct record *rec;
    /* A one-element list rendered as {"item": {...}}; an IPv6-only VPC. */
    rec = from_doc("{\"eventName\":\"CreateVpc\",\"requestParameters\":{\"ipv6IpamPoolId\":"
                   "\"ipam-pool-6\",\"ipv6NetmaskLength\":\"56\"},\"responseElements\":{\"vpc\":"
                   "{\"vpcId\":\"vpc-6\",\"ipv6CidrBlockAssociationSet\":{\"item\":"
                   "{\"ipv6CidrBlock\":\"2001:db8:1200::/56\"}}}}}");
    assert_true(rec->u.event.parsed);
    assert_string_equal(rec->u.event.cidr, "2001:db8:1200::/56");
    assert_string_equal(rec->u.event.pool_id, "ipam-pool-6");
    assert_int_equal(rec->u.event.netmask_length, 56);
    assert_string_equal(rec->u.event.resource_id, "vpc-6");
    assert_string_equal(rec->u.event.vpc_id, "vpc-6");
    record_free(rec);

    /* The allocation as a list, wrapped in "items", and the request members in "item". */
    rec =
        from_doc("{\"eventName\":\"AllocateIpamPoolCidr\",\"requestParameters\":"
                 "{\"AllocateIpamPoolCidrRequest\":{\"item\":{\"IpamPoolId\":\"ipam-pool-1\","
                 "\"NetmaskLength\":24.0}}},\"responseElements\":{\"AllocateIpamPoolCidrResponse\":"
                 "{\"ipamPoolAllocation\":{\"items\":[{\"cidr\":\"10.0.1.0/24\","
                 "\"ipamPoolAllocationId\":\"ipam-pool-alloc-1\"}]}}}}");
    assert_string_equal(rec->u.event.pool_id, "ipam-pool-1");
    assert_int_equal(rec->u.event.netmask_length, 24);
    assert_string_equal(rec->u.event.cidr, "10.0.1.0/24");
    assert_string_equal(rec->u.event.allocation_id, "ipam-pool-alloc-1");
    assert_null(rec->u.event.resource_id);
    record_free(rec);

    /* Numbers for strings, PascalCase members in an old action, a differently named
     * wrapper, and a top-level list of one. */
    rec = from_doc(
        "{\"eventName\":\"CreateVpc\",\"recipientAccountId\":222233334444,"
        "\"awsRegion\":\"eu-west-1\",\"userIdentity\":[{\"accountId\":222233334444,"
        "\"type\":\"IAMUser\"}],\"requestParameters\":{\"VpcCreationRequest\":"
        "{\"Ipv4IpamPoolId\":\"ipam-pool-2\",\"Ipv4NetmaskLength\":\"20\"}},"
        "\"responseElements\":[{\"vpc\":{\"VpcId\":\"vpc-2\",\"CidrBlock\":\"10.2.0.0/20\"}}]}");
    assert_string_equal(rec->u.event.account, "222233334444");
    assert_string_equal(rec->u.event.region, "eu-west-1");
    assert_string_equal(rec->u.event.caller_account, "222233334444");
    assert_string_equal(rec->u.event.principal.type, "IAMUser");
    assert_string_equal(rec->u.event.pool_id, "ipam-pool-2");
    assert_int_equal(rec->u.event.netmask_length, 20);
    assert_string_equal(rec->u.event.resource_id, "vpc-2");
    assert_string_equal(rec->u.event.cidr, "10.2.0.0/20");
    record_free(rec);

    /* Unusable values are dropped, the rest kept: a netmask out of range or not a number,
     * an id longer than records allow, members of the wrong type, "Client." alone. */
    char longid[400] = "vpc-";
    memset(longid + 4, 'a', 300);
    longid[304] = '\0';
    char doc[2048];
    snprintf(doc, sizeof doc,
             "{\"eventName\":\"DeleteVpc\",\"userIdentity\":\"root\",\"sourceIPAddress\":{},"
             "\"requestParameters\":{\"vpcId\":\"%s\",\"NetmaskLength\":200},"
             "\"responseElements\":\"ok\",\"errorCode\":\"Client.\",\"errorMessage\":7}",
             longid);
    rec = from_doc(doc);
    assert_true(rec->u.event.parsed);
    assert_null(rec->u.event.resource_id);
    assert_null(rec->u.event.vpc_id);
    assert_int_equal(rec->u.event.netmask_length, RECORD_UNSET);
    assert_null(rec->u.event.error_code);
    assert_null(rec->u.event.error_message);
    assert_null(rec->u.event.principal.type);
    assert_null(rec->u.event.source_ip);
    char err[256];
    assert_int_equal(record_validate(rec, err, sizeof err), 0);
    record_free(rec);

    /* Only the required parts present: parsed, nothing invented, polled account/Region. */
    rec = from_doc("{\"eventName\":\"ReleaseIpamPoolAllocation\"}");
    assert_true(rec->u.event.parsed);
    assert_string_equal(rec->u.event.account, "111122223333");
    assert_string_equal(rec->u.event.region, "eu-central-1");
    assert_null(rec->u.event.cidr);
    assert_null(rec->u.event.pool_id);
    assert_null(rec->u.event.principal.arn);
    assert_null(rec->u.event.error_code);
    assert_int_equal(record_validate(rec, err, sizeof err), 0);
    record_free(rec);

    /* Failure codes lose their prefix; the message stays as AWS wrote it. */
    rec = from_doc("{\"eventName\":\"AllocateIpamPoolCidr\",\"errorCode\":"
                   "\"Client.InvalidParameterValue\",\"errorMessage\":\"The allocation size is "
                   "too big for the pool.\",\"responseElements\":null}");
    assert_string_equal(rec->u.event.error_code, "InvalidParameterValue");
    assert_string_equal(rec->u.event.error_message, "The allocation size is too big for the pool.");
    record_free(rec);
    rec = from_doc("{\"eventName\":\"DeleteVpc\",\"errorCode\":\"AccessDenied\"}");
    assert_string_equal(rec->u.event.error_code, "AccessDenied");
    record_free(rec);
}

/* LookupEvents' Resources list fills ids the document does not carry. */
static void test_resources(void **state)
{
    (void)state;
    struct record *rec = lookup_text(
        "{\"EventId\":\"r1\",\"EventName\":\"DeleteVpc\",\"EventTime\":1741946537,"
        "\"Resources\":[{\"ResourceType\":\"AWS::EC2::VPC\",\"ResourceName\":\"vpc-9\"}],"
        "\"CloudTrailEvent\":\"{\\\"eventName\\\":\\\"DeleteVpc\\\"}\"}",
        "1", "r");
    assert_string_equal(rec->u.event.resource_id, "vpc-9");
    assert_string_equal(rec->u.event.vpc_id, "vpc-9");
    record_free(rec);
    rec = lookup_text("{\"EventId\":\"r2\",\"EventName\":\"DeleteSubnet\",\"EventTime\":1741946537,"
                      "\"Resources\":{\"ResourceType\":null,\"ResourceName\":\"subnet-9\"},"
                      "\"CloudTrailEvent\":\"{\\\"eventName\\\":\\\"DeleteSubnet\\\"}\"}",
                      "1", "r");
    assert_string_equal(rec->u.event.resource_id, "subnet-9");
    assert_null(rec->u.event.vpc_id);
    record_free(rec);
}

/* The generated organisation's LookupEvents output (the aws CLI v2 shape, ISO EventTime):
 * every event becomes a valid, parsed record of its account and Region, and the failures
 * match the dataset's truth. */
static void test_org_small(void **state)
{
    (void)state;
    json_t *truth = load("tests/data/aws/org-small/truth.json");
    char base[1024];
    snprintf(base, sizeof base, "%s/tests/data/aws/org-small/cloudtrail", testing_srcdir());
    DIR *d = opendir(base);
    assert_non_null(d);
    struct dirent *de;
    size_t total = 0, failed_invalid = 0, failed_unauth = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        for (int r = 0; r < 2; r++) {
            const char *region = r ? "eu-west-1" : "eu-central-1";
            char rel[512];
            snprintf(rel, sizeof rel, "tests/data/aws/org-small/cloudtrail/%s/%s.json", de->d_name,
                     region);
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", testing_srcdir(), rel);
            FILE *f = fopen(path, "r");
            if (!f)
                continue;
            fclose(f);
            json_t *page = load(rel);
            size_t i;
            json_t *item;
            json_array_foreach(json_object_get(page, "Events"), i, item)
            {
                char err[256];
                struct record *rec =
                    ct_event_from_lookup(item, de->d_name, region, err, sizeof err);
                assert_non_null(rec);
                assert_true(rec->u.event.parsed);
                assert_string_equal(rec->u.event.account, de->d_name);
                assert_string_equal(rec->u.event.region, region);
                record_str_set(&rec->source, "test");
                if (record_validate(rec, err, sizeof err) != 0)
                    fail_msg("%s: %s", rec->u.event.event_id, err);
                if (rec->u.event.error_code) {
                    if (strcmp(rec->u.event.error_code, "InvalidParameterValue") == 0)
                        failed_invalid++;
                    else if (strcmp(rec->u.event.error_code, "UnauthorizedOperation") == 0)
                        failed_unauth++;
                    else
                        fail_msg("unexpected error code %s", rec->u.event.error_code);
                }
                total++;
                record_free(rec);
            }
            json_decref(page);
        }
    }
    closedir(d);
    json_t *codes = json_object_get(truth, "events_failed_by_code");
    assert_int_equal(total, json_integer_value(json_object_get(truth, "events")));
    assert_int_equal(failed_invalid,
                     json_integer_value(json_object_get(codes, "Client.InvalidParameterValue")));
    assert_int_equal(failed_unauth,
                     json_integer_value(json_object_get(codes, "Client.UnauthorizedOperation")));
    json_decref(truth);
}

/* Replaces a random member somewhere in `v` with a value of a random other shape. */
static void mutate(json_t *v, unsigned *seed)
{
    for (int depth = 0; depth < 8; depth++) {
        if (!json_is_object(v) || json_object_size(v) == 0)
            return;
        size_t pick = (size_t)rand_r(seed) % json_object_size(v), k = 0;
        const char *key = NULL;
        json_t *child = NULL;
        const char *kk;
        json_t *vv;
        json_object_foreach(v, kk, vv)
        {
            if (k++ == pick) {
                key = kk;
                child = vv;
                break;
            }
        }
        if (json_is_object(child) && rand_r(seed) % 3) {
            v = child;
            continue;
        }
        switch (rand_r(seed) % 8) {
        case 0:
            json_object_del(v, key);
            break;
        case 1:
            json_object_set_new(v, key, json_integer(rand_r(seed)));
            break;
        case 2:
            json_object_set_new(v, key, json_pack("[O]", child));
            break;
        case 3:
            json_object_set_new(v, key, json_pack("{s:O}", "item", child));
            break;
        case 4:
            json_object_set_new(v, key, json_null());
            break;
        case 5:
            json_object_set_new(v, key, json_string(""));
            break;
        case 6:
            json_object_set_new(v, key, json_real(1e300));
            break;
        default:
            json_object_set_new(v, key, json_pack("{s:{s:[]}}", "items", "x"));
            break;
        }
        return;
    }
}

/* Randomly damaged documents: never a crash; a record is returned unless the id is gone,
 * and whatever validates also encodes and decodes. */
static void test_damaged(void **state)
{
    (void)state;
    unsigned seed = testing_seed();
    json_t *events = load("tests/data/cloudtrail/events.json");
    json_t *records = json_object_get(events, "Records");
    size_t n = json_array_size(records), refused = 0, records_ok = 0;
    for (int round = 0; round < 3000; round++) {
        json_t *doc = json_deep_copy(json_array_get(records, (size_t)rand_r(&seed) % n));
        int m = 1 + rand_r(&seed) % 6;
        for (int i = 0; i < m; i++)
            mutate(doc, &seed);
        char err[256];
        bool has_id = json_is_string(json_object_get(doc, "eventID")) &&
                      json_string_length(json_object_get(doc, "eventID")) > 0;
        struct record *rec = ct_event_from_trail(doc, err, sizeof err);
        json_t *item = as_lookup(json_array_get(records, 0), true);
        char *text = json_dumps(doc, JSON_COMPACT);
        json_object_set_new(item, "CloudTrailEvent", json_string(text));
        free(text);
        struct record *lk =
            ct_event_from_lookup(item, "111122223333", "eu-west-1", err, sizeof err);
        assert_non_null(lk);
        if (!rec) {
            if (has_id)
                fail_msg("round %d: refused with an id: %s", round, err);
            refused++;
        }
        struct record *both[2] = {rec, lk};
        for (int k = 0; k < 2; k++) {
            if (!both[k])
                continue;
            record_str_set(&both[k]->source, "test");
            if (record_validate(both[k], err, sizeof err) == 0) {
                char *enc = NULL;
                size_t len;
                struct record *back = NULL;
                assert_int_equal(record_encode(both[k], &enc, &len), 0);
                assert_int_equal(record_decode(enc, len, &back, err, sizeof err), 0);
                record_free(back);
                free(enc);
                records_ok++;
            }
            record_free(both[k]);
        }
        json_decref(item);
        json_decref(doc);
    }
    printf("# %zu refused without id, %zu valid records\n", refused, records_ok);
    assert_true(records_ok > 3000);
    json_decref(events);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),   cmocka_unit_test(test_relevance),
        cmocka_unit_test(test_unparsed),   cmocka_unit_test(test_event_id),
        cmocka_unit_test(test_event_time), cmocka_unit_test(test_xml_quirks),
        cmocka_unit_test(test_resources),  cmocka_unit_test(test_org_small),
        cmocka_unit_test(test_damaged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
