/* Unit tests for ec2_xml: the reference's example answers, error documents, STS, truncated,
 * malformed and hostile input (billion laughs, external entity, huge text, deep nesting). */
#include "config.h"

#include "testing.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "collector/ec2_xml.h"

/* A file of tests/data/aws-client (owned by the caller). */
static char *read_xml(const char *name, size_t *len)
{
    char rel[256];
    snprintf(rel, sizeof rel, "tests/data/aws-client/%s", name);
    return testing_read_src(rel, len);
}

/* Parses `buf` fed in random-sized chunks; returns the finish code. */
static int parse(ec2_xml_t *x, const char *buf, size_t len, char *err, size_t errlen)
{
    size_t off = 0;
    int rc = 0;
    while (off < len && rc == 0) {
        size_t n = 1 + (size_t)rand() % 97;
        if (n > len - off)
            n = len - off;
        rc = ec2_xml_feed(x, buf + off, n);
        off += n;
    }
    int frc = ec2_xml_finish(x, err, errlen);
    if (rc != 0 && frc == 0)
        fail_msg("feed failed but finish accepted");
    return frc;
}

static ec2_xml_t *parse_file(const char *name, const char *op, const char *required)
{
    size_t len;
    char *buf = read_xml(name, &len);
    ec2_xml_t *x = ec2_xml_new(op, required);
    char err[512];
    if (parse(x, buf, len, err, sizeof err) != 0)
        fail_msg("%s: %s", name, err);
    free(buf);
    return x;
}

static const char *sget(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void test_resource_cidrs(void **state)
{
    srand(testing_seed());
    ec2_xml_t *x =
        parse_file("get-ipam-resource-cidrs.xml", "ec2 GetIpamResourceCidrs", "resourceCidr");
    json_t *items = ec2_xml_items(x);
    assert_int_equal(json_array_size(items), 3);
    json_t *vpc = json_array_get(items, 0);
    assert_string_equal(sget(vpc, "resourceCidr"), "10.16.0.0/20");
    assert_string_equal(sget(vpc, "ipamPoolId"), "ipam-pool-0fedcba9876543210");
    assert_true(json_is_real(json_object_get(vpc, "ipUsage")));
    assert_true(json_real_value(json_object_get(vpc, "ipUsage")) == 0.75);
    json_t *tags = json_object_get(vpc, "resourceTagSet");
    assert_true(json_is_array(tags));
    assert_int_equal(json_array_size(tags), 2);
    assert_string_equal(sget(json_array_get(tags, 1), "key"), "env");
    assert_string_equal(sget(json_array_get(tags, 1), "value"), "prod");
    json_t *subnet = json_array_get(items, 1);
    assert_true(json_is_array(json_object_get(subnet, "resourceTagSet")));
    assert_int_equal(json_array_size(json_object_get(subnet, "resourceTagSet")), 0);
    assert_null(json_object_get(subnet, "ipamPoolId"));
    assert_string_equal(sget(subnet, "availabilityZoneId"), "use1-az4");
    assert_string_equal(ec2_xml_next_token(x), "eyJ2IjoiMiIsImMiOiJ...");
    assert_string_equal(ec2_xml_request_id(x), "2f0b6c9e-7d1a-4c3e-9f57-1b2c3d4e5f60");
    assert_false(ec2_xml_is_error(x));
    assert_string_equal(ec2_xml_root(x), "GetIpamResourceCidrsResponse");
    ec2_xml_free(x);
}

static void test_pools_allocations_cidrs(void **state)
{
    ec2_xml_t *x = parse_file("describe-ipam-pools.xml", "ec2 DescribeIpamPools", "ipamPoolId");
    json_t *items = ec2_xml_items(x);
    assert_int_equal(json_array_size(items), 3);
    json_t *top = json_array_get(items, 0), *child = json_array_get(items, 1);
    assert_string_equal(sget(top, "locale"), "None");
    assert_null(json_object_get(top, "sourceIpamPoolId"));
    assert_true(json_is_false(json_object_get(top, "autoImport")));
    assert_int_equal(json_integer_value(json_object_get(top, "poolDepth")), 1);
    assert_string_equal(sget(json_array_get(json_object_get(top, "tagSet"), 0), "value"),
                        "corp-top");
    assert_string_equal(sget(child, "sourceIpamPoolId"), "ipam-pool-0123456789abcdef0");
    assert_int_equal(json_integer_value(json_object_get(child, "allocationDefaultNetmaskLength")),
                     20);
    assert_true(json_is_true(json_object_get(child, "autoImport")));
    assert_int_equal(json_array_size(json_object_get(child, "allocationResourceTagSet")), 1);
    assert_true(json_is_true(json_object_get(json_array_get(items, 2), "publiclyAdvertisable")));
    assert_null(ec2_xml_next_token(x));
    /* take: the caller owns the items, the parser keeps an empty list */
    json_t *taken = ec2_xml_take_items(x);
    assert_int_equal(json_array_size(taken), 3);
    assert_int_equal(json_array_size(ec2_xml_items(x)), 0);
    json_decref(taken);
    ec2_xml_free(x);

    x = parse_file("get-ipam-pool-allocations.xml", "ec2 GetIpamPoolAllocations",
                   "ipamPoolAllocationId");
    items = ec2_xml_items(x);
    assert_int_equal(json_array_size(items), 3);
    assert_string_equal(sget(json_array_get(items, 1), "resourceType"), "custom");
    assert_null(json_object_get(json_array_get(items, 1), "resourceId"));
    assert_string_equal(sget(json_array_get(items, 2), "resourceOwner"), "111122223333");
    ec2_xml_free(x);

    x = parse_file("get-ipam-pool-cidrs.xml", "ec2 GetIpamPoolCidrs", "ipamPoolCidrId");
    items = ec2_xml_items(x);
    assert_int_equal(json_array_size(items), 3);
    json_t *failed = json_array_get(items, 2);
    assert_string_equal(sget(failed, "state"), "failed-provision");
    assert_string_equal(sget(json_object_get(failed, "failureReason"), "code"),
                        "cidr-not-available");
    assert_int_equal(json_integer_value(json_object_get(failed, "netmaskLength")), 16);
    ec2_xml_free(x);
}

static void test_error_documents(void **state)
{
    ec2_xml_t *x = parse_file("error.xml", "ec2 DescribeIpamPools", "ipamPoolId");
    assert_true(ec2_xml_is_error(x));
    assert_string_equal(ec2_xml_meta(x, "Code"), "RequestLimitExceeded");
    assert_string_equal(ec2_xml_meta(x, "Message"), "Request limit exceeded.");
    assert_string_equal(ec2_xml_request_id(x), "d9f4c1a2-3b5e-4c6d-8e7f-9a0b1c2d3e4f");
    assert_int_equal(json_array_size(ec2_xml_items(x)), 0);
    ec2_xml_free(x);

    x = parse_file("sts-error.xml", "sts AssumeRole", NULL);
    assert_true(ec2_xml_is_error(x));
    assert_string_equal(ec2_xml_meta(x, "Code"), "AccessDenied");
    assert_string_equal(ec2_xml_request_id(x), "4b6c2a1e-0f3d-4e5a-9b8c-7d6e5f4a3b2c");
    ec2_xml_free(x);

    x = parse_file("sts-assume-role.xml", "sts AssumeRole", NULL);
    assert_false(ec2_xml_is_error(x));
    assert_string_equal(ec2_xml_meta(x, "AccessKeyId"), "ASIAIOSFODNN7EXAMPLE");
    assert_string_equal(ec2_xml_meta(x, "SessionToken"), "IQoJb3JpZ2luX2VjEXAMPLETOKEN...");
    assert_string_equal(ec2_xml_meta(x, "Expiration"), "2025-06-01T13:00:00Z");
    assert_string_equal(ec2_xml_request_id(x), "c6104cbe-af31-11e0-8154-cbc7ccf896c7");
    ec2_xml_free(x);
}

/* Every proper prefix of a valid answer is refused: a torn body never yields a page. */
static void test_every_truncation_fails(void **state)
{
    size_t len;
    char *buf = read_xml("get-ipam-pool-allocations.xml", &len);
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
        len--;
    for (size_t cut = 0; cut < len; cut++) {
        ec2_xml_t *x = ec2_xml_new("ec2 GetIpamPoolAllocations", "ipamPoolAllocationId");
        char err[512];
        ec2_xml_feed(x, buf, cut);
        int rc = ec2_xml_finish(x, err, sizeof err);
        if (rc != -EBADMSG)
            fail_msg("prefix of %zu bytes accepted (rc %d)", cut, rc);
        if (!strstr(err, "GetIpamPoolAllocations"))
            fail_msg("error without the operation: %s", err);
        ec2_xml_free(x);
    }
    free(buf);
}

static int parse_text(const char *text, const char *required, char *err, size_t errlen)
{
    ec2_xml_t *x = ec2_xml_new("ec2 DescribeIpamPools", required);
    int rc = parse(x, text, strlen(text), err, errlen);
    ec2_xml_free(x);
    return rc;
}

static void test_malformed(void **state)
{
    static const char *const bad[] = {
        "",
        "not xml at all",
        "<DescribeIpamPoolsResponse><ipamPoolSet><item></ipamPoolSet></DescribeIpamPoolsResponse>",
        "<a><b></a>",
        "<a>&undefined;</a>",
        "<a></a><b></b>",
        "<a attr=\"x></a>",
        "<a>\xff\xfe</a>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[512] = "";
        if (parse_text(bad[i], NULL, err, sizeof err) != -EBADMSG)
            fail_msg("case %zu accepted", i);
        if (!strstr(err, "truncated or malformed"))
            fail_msg("case %zu: %s", i, err);
    }
}

static void test_missing_required_and_unknown(void **state)
{
    char err[512] = "";
    const char *missing = "<DescribeIpamPoolsResponse><requestId>req-7</requestId><ipamPoolSet>"
                          "<item><ipamPoolId>ipam-pool-1</ipamPoolId></item>"
                          "<item><description>no id</description></item>"
                          "</ipamPoolSet></DescribeIpamPoolsResponse>";
    assert_int_equal(parse_text(missing, "ipamPoolId", err, sizeof err), -EBADMSG);
    assert_string_equal(err, "ec2 DescribeIpamPools: item 2 of the answer has no ipamPoolId "
                             "(request id req-7)");

    const char *unknown =
        "<DescribeIpamPoolsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
        "<requestId>req-8</requestId><brandNewField>x</brandNewField><ipamPoolSet>"
        "<item><ipamPoolId>ipam-pool-1</ipamPoolId><futureField>v</futureField>"
        "<futureSet><item><a>1</a></item></futureSet><?pi data?><!-- note -->"
        "<description><![CDATA[a <b> & c]]> &amp; d</description></item>"
        "</ipamPoolSet></DescribeIpamPoolsResponse>";
    ec2_xml_t *x = ec2_xml_new("ec2 DescribeIpamPools", "ipamPoolId");
    assert_int_equal(parse(x, unknown, strlen(unknown), err, sizeof err), 0);
    json_t *it = json_array_get(ec2_xml_items(x), 0);
    assert_string_equal(sget(it, "futureField"), "v");
    assert_string_equal(sget(json_array_get(json_object_get(it, "futureSet"), 0), "a"), "1");
    assert_string_equal(sget(it, "description"), "a <b> & c & d");
    assert_string_equal(ec2_xml_meta(x, "brandNewField"), "x");
    ec2_xml_free(x);
}

static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void test_hostile(void **state)
{
    long before = maxrss_kb();
    const char *files[] = {"billion-laughs.xml", "external-entity.xml"};
    for (int i = 0; i < 2; i++) {
        size_t len;
        char *buf = read_xml(files[i], &len);
        ec2_xml_t *x = ec2_xml_new("ec2 DescribeIpamPools", "ipamPoolId");
        char err[512] = "";
        assert_int_equal(parse(x, buf, len, err, sizeof err), -EBADMSG);
        if (!strstr(err, "DOCTYPE"))
            fail_msg("%s: %s", files[i], err);
        assert_int_equal(json_array_size(ec2_xml_items(x)), 0);
        assert_null(strstr(err, "root:"));
        ec2_xml_free(x);
        free(buf);
    }
    /* A text node over the 1 MiB cap fails; one under it is fine. */
    size_t big = EC2_XML_MAX_TEXT + 10;
    char *doc = malloc(big + 200);
    for (int round = 0; round < 2; round++) {
        size_t n = round == 0 ? big : EC2_XML_MAX_TEXT - 100;
        int off = snprintf(doc, 200,
                           "<R><requestId>q</requestId><s><item><ipamPoolId>p"
                           "</ipamPoolId><description>");
        memset(doc + off, 'a', n);
        static const char tail[] = "</description></item></s></R>";
        memcpy(doc + off + n, tail, sizeof tail);
        char err[512] = "";
        int rc = parse_text(doc, "ipamPoolId", err, sizeof err);
        if (round == 0 && (rc != -EBADMSG || !strstr(err, "longer than 1 MiB")))
            fail_msg("huge text: rc %d %s", rc, err);
        if (round == 1 && rc != 0)
            fail_msg("large text refused: %s", err);
    }
    free(doc);
    /* Nesting deeper than the cap. */
    char deep[200 * 7 + 100] = "";
    size_t off = 0;
    for (int i = 0; i < 200; i++)
        off += (size_t)snprintf(deep + off, sizeof deep - off, "<a>");
    char err[512] = "";
    assert_int_equal(parse_text(deep, NULL, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "deeper"));
    long grown = maxrss_kb() - before;
    if (grown > 64 * 1024)
        fail_msg("hostile inputs grew the process by %ld KiB", grown);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resource_cidrs),  cmocka_unit_test(test_pools_allocations_cidrs),
        cmocka_unit_test(test_error_documents), cmocka_unit_test(test_every_truncation_fails),
        cmocka_unit_test(test_malformed),       cmocka_unit_test(test_missing_required_and_unknown),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
