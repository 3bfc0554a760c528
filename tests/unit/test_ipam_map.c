/* Unit tests for ipam_map: one item, whether EC2's XML (through ec2_xml) or the aws CLI's
 * JSON, gives the same record; ARNs, "None" locales and missing fields; ipUsage as strtod()
 * reads it.
 *
 * The pairs are the same data in both spellings: tests/data/ipam-map/org-small-*.xml is the
 * committed org-small dataset (aws CLI JSON) rendered as EC2 XML by tests/aws/aws_model.py,
 * and tests/data/ipam-map/aws-client-*.json is what botocore's EC2 parser (the aws CLI)
 * makes of the XML fixtures in tests/data/aws-client/ (see tests/data/ipam-map/README).
 */
#include "testing.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include <jansson.h>

#include "collector/ec2_xml.h"
#include "collector/ipam_map.h"
#include "record.h"
#include "record_write.h"

#define DATA(rel) TOP_SRCDIR "/tests/data/" rel

/* The items of an EC2 XML answer of `op`, parsed as the API source parses it (owned). */
static json_t *xml_items(const char *path, const char *op)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s: cannot open", path);
    ec2_xml_t *x = ec2_xml_new(op, NULL);
    char buf[997]; /* odd size: element boundaries fall inside chunks */
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        assert_int_equal(ec2_xml_feed(x, buf, n), 0);
    fclose(f);
    char err[512];
    if (ec2_xml_finish(x, err, sizeof err) != 0)
        fail_msg("%s: %s", path, err);
    json_t *items = ec2_xml_take_items(x);
    ec2_xml_free(x);
    return items;
}

/* The `member` list of an aws CLI output file (owned). */
static json_t *cli_items(const char *path, const char *member)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc)
        fail_msg("%s: line %d: %s", path, jerr.line, jerr.text);
    json_t *items = json_incref(json_object_get(doc, member));
    json_decref(doc);
    if (!json_is_array(items))
        fail_msg("%s: no %s list", path, member);
    return items;
}

/* Maps `item` and returns its wire form with a fixed envelope (owned), failing the test
 * when the item does not map or the record does not encode. */
static char *map_encode(enum record_type type, json_t *item, const char *context,
                        struct record **keep)
{
    char err[256] = "";
    struct record *r = ipam_map_item(type, item, context, err, sizeof err);
    if (!r)
        fail_msg("%s item did not map: %s", record_type_name(type), err);
    record_str_set(&r->scope, "ipam-scope-test");
    record_str_set(&r->source, "test");
    r->ts_ms = 0;
    char *out = NULL;
    size_t len = 0;
    int rc = record_encode(r, &out, &len);
    if (rc != 0) {
        record_validate(r, err, sizeof err);
        fail_msg("%s record does not encode: %s", record_type_name(type), err);
    }
    if (keep)
        *keep = r;
    else
        record_free(r);
    return out;
}

static const struct pair {
    enum record_type type;
    const char *xml, *op;
    const char *cli, *member;
    const char *context;
} pairs[] = {
    {RECORD_IPAM, DATA("ipam-map/org-small-describe-ipams.xml"), "DescribeIpams",
     DATA("aws/org-small/inventory/describe-ipams.json"), "Ipams", NULL},
    {RECORD_SCOPE, DATA("ipam-map/org-small-describe-ipam-scopes.xml"), "DescribeIpamScopes",
     DATA("aws/org-small/inventory/describe-ipam-scopes.json"), "IpamScopes", NULL},
    {RECORD_POOL, DATA("ipam-map/org-small-describe-ipam-pools.xml"), "DescribeIpamPools",
     DATA("aws/org-small/inventory/describe-ipam-pools.json"), "IpamPools", NULL},
    {RECORD_POOL_CIDR, DATA("ipam-map/org-small-get-ipam-pool-cidrs.xml"), "GetIpamPoolCidrs",
     DATA("aws/org-small/inventory/get-ipam-pool-cidrs/ipam-pool-63b6fe5078c5fe8f8.json"),
     "IpamPoolCidrs", "ipam-pool-63b6fe5078c5fe8f8"},
    {RECORD_ALLOCATION, DATA("ipam-map/org-small-get-ipam-pool-allocations.xml"),
     "GetIpamPoolAllocations",
     DATA("aws/org-small/inventory/get-ipam-pool-allocations/ipam-pool-707923986bb968a43.json"),
     "IpamPoolAllocations", "ipam-pool-707923986bb968a43"},
    {RECORD_RESOURCE_CIDR, DATA("ipam-map/org-small-get-ipam-resource-cidrs.xml"),
     "GetIpamResourceCidrs",
     DATA("aws/org-small/inventory/get-ipam-resource-cidrs/ipam-scope-1c386bbc4cd613e30.json"),
     "IpamResourceCidrs", "ipam-scope-1c386bbc4cd613e30"},
    {RECORD_DISCOVERED_ACCOUNT, DATA("ipam-map/org-small-get-ipam-discovered-accounts.xml"),
     "GetIpamDiscoveredAccounts",
     DATA("aws/org-small/inventory/get-ipam-discovered-accounts/"
          "ipam-res-disco-77311d8a3c2ce6f44.json"),
     "IpamDiscoveredAccounts", "ipam-res-disco-77311d8a3c2ce6f44"},
    {RECORD_POOL, DATA("aws-client/describe-ipam-pools.xml"), "DescribeIpamPools",
     DATA("ipam-map/aws-client-describe-ipam-pools.json"), "IpamPools", NULL},
    {RECORD_POOL_CIDR, DATA("aws-client/get-ipam-pool-cidrs.xml"), "GetIpamPoolCidrs",
     DATA("ipam-map/aws-client-get-ipam-pool-cidrs.json"), "IpamPoolCidrs",
     "ipam-pool-0fedcba9876543210"},
    {RECORD_ALLOCATION, DATA("aws-client/get-ipam-pool-allocations.xml"), "GetIpamPoolAllocations",
     DATA("ipam-map/aws-client-get-ipam-pool-allocations.json"), "IpamPoolAllocations",
     "ipam-pool-0fedcba9876543210"},
    {RECORD_RESOURCE_CIDR, DATA("aws-client/get-ipam-resource-cidrs.xml"), "GetIpamResourceCidrs",
     DATA("ipam-map/aws-client-get-ipam-resource-cidrs.json"), "IpamResourceCidrs",
     "ipam-scope-0aa11bb22cc33dd44"},
};

/* Every record type, from both spellings, encodes to the same bytes item by item. */
static void test_xml_and_cli_give_identical_records(void **state)
{
    (void)state;
    bool seen[RECORD_TYPE_COUNT] = {false};
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        json_t *xs = xml_items(pairs[p].xml, pairs[p].op);
        json_t *cs = cli_items(pairs[p].cli, pairs[p].member);
        if (json_array_size(xs) == 0 || json_array_size(xs) != json_array_size(cs))
            fail_msg("%s: %zu XML items, %zu CLI items", pairs[p].xml, json_array_size(xs),
                     json_array_size(cs));
        for (size_t i = 0; i < json_array_size(xs); i++) {
            char *a = map_encode(pairs[p].type, json_array_get(xs, i), pairs[p].context, NULL);
            char *b = map_encode(pairs[p].type, json_array_get(cs, i), pairs[p].context, NULL);
            if (strcmp(a, b) != 0)
                fail_msg("%s item %zu:\n  XML %s\n  CLI %s", pairs[p].xml, i, a, b);
            free(a);
            free(b);
        }
        seen[pairs[p].type] = true;
        json_decref(xs);
        json_decref(cs);
    }
    for (int t = RECORD_IPAM; t <= RECORD_DISCOVERED_ACCOUNT; t++)
        if (!seen[t])
            fail_msg("no pair covers %s", record_type_name(t));
}

/* Parses a whole EC2 XML answer and keeps the parser (owned), for the node path. */
static ec2_xml_t *xml_parse(const char *text, size_t len, const char *op)
{
    ec2_xml_t *x = ec2_xml_new(op, NULL);
    for (size_t off = 0; off < len; off += 997)
        assert_int_equal(ec2_xml_feed(x, text + off, len - off < 997 ? len - off : 997), 0);
    char err[512];
    if (ec2_xml_finish(x, err, sizeof err) != 0)
        fail_msg("%s: %s", op, err);
    return x;
}

/* The wire form of `r` with the fixed envelope of map_encode (owned). */
static char *encode_fixed(struct record *r)
{
    record_str_set(&r->scope, "ipam-scope-test");
    record_str_set(&r->source, "test");
    r->ts_ms = 0;
    char *out = NULL;
    size_t len = 0;
    if (record_encode(r, &out, &len) != 0) {
        /* mapped but not encodable (an infinite ipUsage): compare the reason instead */
        char why[256];
        record_validate(r, why, sizeof why);
        out = strdup(why);
    }
    record_str_set(&r->scope, NULL);
    record_str_set(&r->source, NULL);
    return out;
}

/* Every item of `x` gives the same record through the JSON form, straight from the nodes,
 * and through one record refilled item after item (in the order of `order`, which visits
 * items with more fields and tags before items with fewer). Returns the items compared. */
static size_t compare_node_paths(ec2_xml_t *x, enum record_type type, const char *context,
                                 const char *what)
{
    size_t n = ec2_xml_item_count(x);
    struct record *spare = NULL;
    for (size_t pass = 0; pass < 2; pass++) {
        for (size_t k = 0; k < n; k++) {
            size_t i = pass == 0 ? k : n - 1 - k; /* forwards, then backwards */
            int node = ec2_xml_item_node(x, i);
            char e1[256] = "", e2[256] = "", e3[256] = "";
            json_t *obj = ec2_xml_item_json(x, node);
            struct record *rj = ipam_map_item(type, obj, context, e1, sizeof e1);
            json_decref(obj);
            struct record *rn = ipam_map_item_xml(type, x, node, context, e2, sizeof e2);
            int rc = ipam_map_item_xml_into(&spare, type, x, node, context, e3, sizeof e3);
            if (!rj) {
                /* the same refusal, word for word, on every path */
                assert_null(rn);
                assert_int_equal(rc, -EINVAL);
                assert_string_equal(e2, e1);
                assert_string_equal(e3, e1);
                continue;
            }
            if (!rn || rc != 0)
                fail_msg("%s item %zu: JSON path maps, node path says %s / %s", what, i, e2, e3);
            char *a = encode_fixed(rj), *b = encode_fixed(rn), *c = encode_fixed(spare);
            if (strcmp(a, b) != 0 || strcmp(a, c) != 0)
                fail_msg("%s item %zu:\n  JSON  %s\n  nodes %s\n  reuse %s", what, i, a, b, c);
            free(a);
            free(b);
            free(c);
            record_free(rj);
            record_free(rn);
        }
    }
    record_free(spare);
    return n;
}

/* The node path (the collector's hot path) and the JSON path cannot drift. */
static void test_node_path_matches_json(void **state)
{
    (void)state;
    for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
        size_t len;
        char *text = testing_read_file(pairs[p].xml, &len);
        ec2_xml_t *x = xml_parse(text, len, pairs[p].op);
        assert_true(compare_node_paths(x, pairs[p].type, pairs[p].context, pairs[p].xml) > 0);
        ec2_xml_free(x);
        free(text);
    }
    /* Odd shapes: many tags then none, duplicates, nested and empty elements, bad numbers,
     * missing required members, an item that is not an object. */
    static const char odd[] =
        "<GetIpamResourceCidrsResponse><requestId>r</requestId><ipamResourceCidrSet>"
        "<item><resourceType>vpc</resourceType><resourceId>vpc-1</resourceId>"
        "<resourceCidr>10.0.0.0/16</resourceCidr><resourceName>n\xc3\xa9 \"q\"</resourceName>"
        "<ipUsage>0.25</ipUsage><vpcId>vpc-1</vpcId><resourceOwnerId>1</resourceOwnerId>"
        "<resourceTagSet><item><key>b</key><value>2</value></item><item><key>a</key>"
        "<value>1</value></item><item><key>a</key><value>3</value></item>"
        "<item><key>c</key></item><item><value>orphan</value></item></resourceTagSet>"
        "<complianceStatus>compliant</complianceStatus><futureField>x</futureField></item>"
        "<item><ipamScopeId>ipam-scope-other</ipamScopeId><resourceType>subnet</resourceType>"
        "<resourceId>subnet-1</resourceId><resourceCidr>10.0.1.0/24</resourceCidr>"
        "<ipUsage></ipUsage><resourceName></resourceName><resourceTagSet/></item>"
        "<item><resourceType>subnet</resourceType><resourceId>subnet-2</resourceId>"
        "<resourceCidr>10.0.2.0/24</resourceCidr><ipUsage>abc</ipUsage>"
        "<resourceId>subnet-2b</resourceId><vpcId><nested>1</nested></vpcId>"
        "<resourceTagSet><item><key>k</key><value>v</value></item></resourceTagSet></item>"
        "<item><resourceType>eip</resourceType><resourceCidr>1.2.3.4/32</resourceCidr></item>"
        "<item>just text</item>"
        "<item><item><a>1</a></item></item>"
        "<item><resourceType>vpc</resourceType><resourceId>vpc-9</resourceId>"
        "<resourceCidr>10.9.0.0/16</resourceCidr><ipUsage>1e999</ipUsage></item>"
        "</ipamResourceCidrSet></GetIpamResourceCidrsResponse>";
    ec2_xml_t *x = xml_parse(odd, sizeof odd - 1, "GetIpamResourceCidrs");
    assert_int_equal(compare_node_paths(x, RECORD_RESOURCE_CIDR, "ipam-scope-ctx", "odd shapes"),
                     7);
    /* and the values went where they belong */
    char err[256];
    struct record *r = ipam_map_item_xml(RECORD_RESOURCE_CIDR, x, ec2_xml_item_node(x, 0),
                                         "ipam-scope-ctx", err, sizeof err);
    assert_non_null(r);
    assert_string_equal(r->u.resource_cidr.scope_id, "ipam-scope-ctx");
    assert_string_equal(r->u.resource_cidr.name, "n\xc3\xa9 \"q\"");
    assert_true(r->u.resource_cidr.ip_usage == 0.25);
    assert_int_equal(r->u.resource_cidr.tags.n, 3);
    assert_string_equal(record_map_get(&r->u.resource_cidr.tags, "a"), "3");
    assert_string_equal(record_map_get(&r->u.resource_cidr.tags, "c"), "");
    record_free(r);
    r = ipam_map_item_xml(RECORD_RESOURCE_CIDR, x, ec2_xml_item_node(x, 3), "ipam-scope-ctx", err,
                          sizeof err);
    assert_null(r);
    assert_string_equal(err, "resource_cidr item without resourceId");
    ec2_xml_free(x);
}

/* The values land in the right fields (the comparison above would also pass if both
 * spellings were ignored alike). */
static void test_fields_of_the_xml_fixtures(void **state)
{
    (void)state;
    json_t *pools = xml_items(DATA("aws-client/describe-ipam-pools.xml"), "DescribeIpamPools");
    struct record *r = NULL;
    free(map_encode(RECORD_POOL, json_array_get(pools, 0), NULL, &r));
    const struct record_pool *top = &r->u.pool;
    assert_string_equal(top->pool_id, "ipam-pool-0123456789abcdef0");
    assert_string_equal(top->scope_id, "ipam-scope-0aa11bb22cc33dd44"); /* from the ARN */
    assert_string_equal(top->ipam_id, "ipam-0a1b2c3d4e5f67890");        /* from the ARN */
    assert_null(top->locale);                                           /* "None" */
    assert_null(top->parent);
    assert_int_equal(top->depth, 1);
    assert_false(top->auto_import);
    assert_string_equal(top->address_family, "ipv4");
    assert_string_equal(record_map_get(&top->tags, "Name"), "corp-top");
    assert_true(top->allocation_default_netmask == RECORD_UNSET);
    record_free(r);

    free(map_encode(RECORD_POOL, json_array_get(pools, 1), NULL, &r));
    const struct record_pool *child = &r->u.pool;
    assert_string_equal(child->locale, "us-east-1");
    assert_string_equal(child->parent, "ipam-pool-0123456789abcdef0");
    assert_int_equal(child->depth, 2);
    assert_true(child->auto_import);
    assert_int_equal(child->allocation_min_netmask, 16);
    assert_int_equal(child->allocation_max_netmask, 28);
    assert_int_equal(child->allocation_default_netmask, 20);
    record_free(r);
    json_decref(pools);

    json_t *rcs = xml_items(DATA("aws-client/get-ipam-resource-cidrs.xml"), "GetIpamResourceCidrs");
    free(map_encode(RECORD_RESOURCE_CIDR, json_array_get(rcs, 0), "ignored-scope", &r));
    const struct record_resource_cidr *rc = &r->u.resource_cidr;
    assert_string_equal(rc->scope_id, "ipam-scope-0aa11bb22cc33dd44"); /* the item's own */
    assert_string_equal(rc->cidr, "10.16.0.0/20");
    assert_string_equal(rc->pool_id, "ipam-pool-0fedcba9876543210");
    assert_string_equal(rc->owner, "222233334444");
    assert_true(fabs(rc->ip_usage - 0.75) < 1e-12);
    assert_string_equal(rc->overlap_status, "overlapping");
    assert_string_equal(record_map_get(&rc->tags, "env"), "prod");
    record_free(r);
    free(map_encode(RECORD_RESOURCE_CIDR, json_array_get(rcs, 1), NULL, &r));
    assert_string_equal(r->u.resource_cidr.availability_zone_id, "use1-az4");
    assert_null(r->u.resource_cidr.pool_id);
    assert_int_equal(r->u.resource_cidr.tags.n, 0);
    record_free(r);
    json_decref(rcs);

    json_t *cidrs = xml_items(DATA("aws-client/get-ipam-pool-cidrs.xml"), "GetIpamPoolCidrs");
    free(map_encode(RECORD_POOL_CIDR, json_array_get(cidrs, 2), "ipam-pool-1", &r));
    assert_string_equal(r->u.pool_cidr.pool_id, "ipam-pool-1");
    assert_string_equal(r->u.pool_cidr.state, "failed-provision");
    assert_string_equal(r->u.pool_cidr.failure_code, "cidr-not-available");
    assert_int_equal(r->u.pool_cidr.netmask_length, 16);
    record_free(r);
    json_decref(cidrs);

    json_t *allocs =
        xml_items(DATA("aws-client/get-ipam-pool-allocations.xml"), "GetIpamPoolAllocations");
    free(map_encode(RECORD_ALLOCATION, json_array_get(allocs, 1), "ipam-pool-1", &r));
    assert_string_equal(r->u.allocation.resource_type, "custom");
    assert_null(r->u.allocation.resource_id);
    assert_string_equal(r->u.allocation.resource_owner, "111122223333");
    assert_string_equal(record_map_get(&r->u.allocation.tags, "ticket"), "NET-1234");
    record_free(r);
    json_decref(allocs);
}

static void test_fields_of_org_small(void **state)
{
    (void)state;
    struct record *r = NULL;
    json_t *ipams = xml_items(DATA("ipam-map/org-small-describe-ipams.xml"), "DescribeIpams");
    free(map_encode(RECORD_IPAM, json_array_get(ipams, 0), NULL, &r));
    assert_string_equal(r->u.ipam.ipam_id, "ipam-d91b7584a2265b1f5");
    assert_string_equal(r->u.ipam.home_region, "eu-central-1");
    assert_int_equal(r->u.ipam.operating_regions.n, 2);
    assert_string_equal(r->u.ipam.operating_regions.items[1], "eu-west-1");
    record_free(r);
    json_decref(ipams);

    json_t *scopes =
        xml_items(DATA("ipam-map/org-small-describe-ipam-scopes.xml"), "DescribeIpamScopes");
    for (size_t i = 0; i < json_array_size(scopes); i++) {
        free(map_encode(RECORD_SCOPE, json_array_get(scopes, i), NULL, &r));
        assert_string_equal(r->u.scope.ipam_id, "ipam-d91b7584a2265b1f5"); /* from the ARN */
        assert_true(r->u.scope.is_default);
        record_free(r);
    }
    json_decref(scopes);

    /* One account of the discovery fails; the others are healthy with both times set. */
    json_t *accts = xml_items(DATA("ipam-map/org-small-get-ipam-discovered-accounts.xml"),
                              "GetIpamDiscoveredAccounts");
    int failed = 0;
    for (size_t i = 0; i < json_array_size(accts); i++) {
        free(map_encode(RECORD_DISCOVERED_ACCOUNT, json_array_get(accts, i), "ipam-res-disco-1",
                        &r));
        const struct record_discovered_account *a = &r->u.discovered_account;
        assert_string_equal(a->resource_discovery_id, "ipam-res-disco-1");
        assert_true(a->last_attempted_ms != RECORD_UNSET);
        if (strcmp(a->status, "failed") == 0) {
            failed++;
            assert_non_null(a->failure_code);
        } else {
            assert_string_equal(a->status, "ok");
            assert_null(a->failure_code);
        }
        record_free(r);
    }
    assert_int_equal(failed, 1);
    json_decref(accts);
}

/* aws CLI v1 prints times as epoch seconds, v2 as ISO 8601: the same record either way. */
static void test_cli_time_spellings(void **state)
{
    (void)state;
    json_t *iso =
        json_pack("{s:s, s:s, s:s}", "AccountId", "222222222222", "DiscoveryRegion", "eu-west-1",
                  "LastAttemptedDiscoveryTime", "2025-03-14T23:55:01.250000+00:00");
    json_t *epoch = json_pack("{s:s, s:s, s:f}", "AccountId", "222222222222", "DiscoveryRegion",
                              "eu-west-1", "LastAttemptedDiscoveryTime", 1741996501.25);
    json_t *xml = json_pack("{s:s, s:s, s:s}", "accountId", "222222222222", "discoveryRegion",
                            "eu-west-1", "lastAttemptedDiscoveryTime", "2025-03-14T23:55:01.250Z");
    struct record *r = NULL;
    char *a = map_encode(RECORD_DISCOVERED_ACCOUNT, iso, "d", &r);
    assert_int_equal(r->u.discovered_account.last_attempted_ms, 1741996501250LL);
    assert_true(r->u.discovered_account.last_successful_ms == RECORD_UNSET);
    record_free(r);
    char *b = map_encode(RECORD_DISCOVERED_ACCOUNT, epoch, "d", NULL);
    char *c = map_encode(RECORD_DISCOVERED_ACCOUNT, xml, "d", NULL);
    assert_string_equal(a, b);
    assert_string_equal(a, c);
    free(a);
    free(b);
    free(c);
    json_decref(iso);
    json_decref(epoch);
    json_decref(xml);
}

/* An item without what its record requires is refused with every missing field named. */
static void test_missing_required_fields(void **state)
{
    (void)state;
    static const struct {
        enum record_type type;
        const char *item;
        const char *context;
        const char *want;
    } cases[] = {
        {RECORD_IPAM, "{\"ipamRegion\": \"eu-central-1\"}", NULL, "ipam item without ipamId"},
        {RECORD_SCOPE, "{\"IpamScopeType\": \"private\"}", NULL, "scope item without ipamScopeId"},
        {RECORD_POOL, "{\"description\": \"x\"}", NULL,
         "pool item without ipamPoolId, ipamScopeArn, addressFamily"},
        {RECORD_POOL,
         "{\"IpamPoolId\": \"ipam-pool-1\", \"IpamScopeArn\": \"arn:aws:ec2::1:ipam-scope/\","
         " \"AddressFamily\": \"ipv4\"}",
         NULL, "pool item without ipamScopeArn"},
        {RECORD_POOL_CIDR, "{\"cidr\": \"10.0.0.0/16\"}", NULL,
         "pool_cidr item without the pool id, state"},
        {RECORD_ALLOCATION, "{\"IpamPoolAllocationId\": \"ipam-pool-alloc-1\"}", "ipam-pool-1",
         "allocation item without cidr"},
        {RECORD_ALLOCATION, "{\"cidr\": \"10.0.0.0/24\"}", NULL,
         "allocation item without the pool id, ipamPoolAllocationId"},
        {RECORD_RESOURCE_CIDR, "{\"resourceType\": \"vpc\", \"resourceCidr\": \"10.0.0.0/16\"}",
         NULL, "resource_cidr item without ipamScopeId, resourceId"},
        {RECORD_RESOURCE_CIDR, "{\"ResourceId\": \"vpc-1\", \"ResourceCidr\": \"\"}", "s",
         "resource_cidr item without resourceType, resourceCidr"},
        {RECORD_DISCOVERED_ACCOUNT, "{\"accountId\": \"111111111111\"}", "d",
         "discovered_account item without discoveryRegion"},
        {RECORD_POOL, "[1, 2]", NULL, "pool item is not an object"},
        {RECORD_EVENT, "{\"eventId\": \"e\"}", NULL, "not an inventory type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_error_t jerr;
        json_t *item = json_loads(cases[i].item, 0, &jerr);
        assert_non_null(item);
        char err[256] = "";
        struct record *r = ipam_map_item(cases[i].type, item, cases[i].context, err, sizeof err);
        if (r)
            fail_msg("case %zu (%s) mapped", i, cases[i].item);
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: error '%s', want '%s'", i, err, cases[i].want);
        json_decref(item);
    }
}

/* A string where a number or boolean belongs (defensive: older dumps, hand-made files). */
static void test_lenient_scalars(void **state)
{
    (void)state;
    json_t *item =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "IpamPoolId", "ipam-pool-1", "IpamScopeArn",
                  "arn:aws:ec2::1:ipam-scope/ipam-scope-9", "AddressFamily", "ipv6", "PoolDepth",
                  "3", "AutoImport", "true", "Locale", "eu-west-1");
    struct record *r = NULL;
    free(map_encode(RECORD_POOL, item, NULL, &r));
    assert_string_equal(r->u.pool.scope_id, "ipam-scope-9");
    assert_int_equal(r->u.pool.depth, 3);
    assert_true(r->u.pool.auto_import);
    assert_string_equal(r->u.pool.locale, "eu-west-1");
    assert_null(r->u.pool.ipam_id);
    record_free(r);
    json_decref(item);
}

static unsigned seed_state;

static unsigned rnd(void)
{
    return testing_xorshift(&seed_state);
}

/* What ipUsage became before short decimals were read without strtod(): strtod()'s value
 * when it reads the whole text, else NaN. */
static double former_ip_usage(const char *t)
{
    char *end;
    double d = strtod(t, &end);
    return end != t && *end == '\0' ? d : NAN;
}

static size_t put_digits(char *t, size_t o, unsigned n, bool leading_zeros)
{
    for (unsigned k = 0; k < n; k++)
        t[o++] = leading_zeros && k < n / 2 ? '0' : (char)('0' + rnd() % 10);
    return o;
}

/* A plain decimal: an optional '-', `ni` digits, an optional '.', `nf` digits. */
static size_t put_plain(char *t, size_t o, unsigned ni, unsigned nf)
{
    if (rnd() % 3 == 0)
        t[o++] = '-';
    o = put_digits(t, o, ni, rnd() % 4 == 0);
    if (nf > 0 || rnd() % 2)
        t[o++] = '.';
    return put_digits(t, o, nf, rnd() % 4 == 0);
}

/* Random ipUsage text (at most 63 bytes): plain decimals of up to 15 digits on either side
 * of the point, ones right at the 15-digit limit, exponents, junk, and odd spellings. */
static void random_ip_usage(char *t)
{
    /* clang-format off */
    static const char *const odd[] = {
        "", "-", ".", "-.", "3.", ".5", "-.5", "-0", "0", "-0.0", " 1", "1 ", "+1", "1e-3",
        "1E5", "1.2.3", "1..2", "--1", "1-", "0x10", "inf", "nan", "1e999", "4.9e-324",
        "999999999999999", "9999999999999999", "0.000000000000001", "0.0000000000000001",
        "123456789012345.", ".123456789012345", "1234567890123456.", ".1234567890123456",
        "000000000000000000001", "0.4945", "1.7976931348623157e308", "9007199254740993",
        "900719925474099.3",
    };
    /* clang-format on */
    size_t o = 0;
    switch (rnd() % 8) {
    case 0:
    case 1:
    case 2: /* 0-15 digits before and after the point: both paths */
        o = put_plain(t, o, rnd() % 16, rnd() % 16);
        break;
    case 3: { /* 15 or 16 digits in all: the edge of the fast path */
        unsigned n = 15 + rnd() % 2, ni = rnd() % (n + 1);
        o = put_plain(t, o, ni, n - ni);
        break;
    }
    case 4: /* up to 15 digits in all: always the fast path when there is a digit */
        o = put_plain(t, o, rnd() % 8, rnd() % 8);
        break;
    case 5: /* an exponent */
        o = put_plain(t, o, rnd() % 6, rnd() % 6);
        t[o++] = rnd() % 2 ? 'e' : 'E';
        if (rnd() % 2)
            t[o++] = rnd() % 2 ? '-' : '+';
        o = put_digits(t, o, rnd() % 4, false);
        break;
    case 6: { /* junk */
        static const char alphabet[] = "0123456789..--+eE x";
        unsigned n = rnd() % 12;
        for (unsigned k = 0; k < n; k++)
            t[o++] = alphabet[rnd() % (sizeof alphabet - 1)];
        break;
    }
    default: {
        const char *s = odd[rnd() % (sizeof odd / sizeof odd[0])];
        o = strlen(s);
        memcpy(t, s, o);
    }
    }
    t[o] = '\0';
}

/* The ipUsage of items mapped from EC2's XML is what strtod() made of the text, bit for bit,
 * or NaN where the text is not a whole number; the fast path for short decimals included. */
static void test_ip_usage_matches_strtod(void **state)
{
    (void)state;
    seed_state = testing_seed() | 1u;
    enum { PAGES = 6, ITEMS = 1000 };
    static char texts[ITEMS][64];
    bool present[ITEMS];
    struct record *slot = NULL;
    size_t numbers = 0;
    for (int page = 0; page < PAGES; page++) {
        struct record_writer w = {0};
        static const char head[] =
            "<GetIpamResourceCidrsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">"
            "<requestId>r</requestId><ipamResourceCidrSet>";
        record_write_raw(&w, head, sizeof head - 1);
        for (int i = 0; i < ITEMS; i++) {
            random_ip_usage(texts[i]);
            present[i] = rnd() % 16 != 0; /* now and then an item without ipUsage */
            char usage[96] = "";
            if (present[i]) {
                int u = snprintf(usage, sizeof usage, "<ipUsage>%s</ipUsage>", texts[i]);
                assert_true(u > 0 && (size_t)u < sizeof usage);
            }
            char item[512];
            int place = (int)(rnd() % 3); /* first, among the others, or last */
            int n = snprintf(item, sizeof item,
                             "<item>%s<resourceType>subnet</resourceType>%s"
                             "<resourceId>subnet-%d-%d</resourceId>"
                             "<resourceCidr>10.%d.%d.0/24</resourceCidr>%s</item>",
                             place == 0 ? usage : "", place == 1 ? usage : "", page, i, page,
                             i % 256, place == 2 ? usage : "");
            assert_true(n > 0 && (size_t)n < sizeof item);
            record_write_raw(&w, item, (size_t)n);
        }
        static const char tail[] = "</ipamResourceCidrSet></GetIpamResourceCidrsResponse>";
        record_write_raw(&w, tail, sizeof tail - 1);
        ec2_xml_t *x = xml_parse(w.buf, w.len, "GetIpamResourceCidrs");
        record_writer_free(&w);
        assert_int_equal(ec2_xml_item_count(x), ITEMS);
        for (int i = 0; i < ITEMS; i++) {
            int node = ec2_xml_item_node(x, (size_t)i);
            /* the text reached the mapper as written */
            const char *seen = NULL;
            for (int c = ec2_xml_node_child(x, node); c >= 0; c = ec2_xml_node_next(x, c))
                if (strcmp(ec2_xml_node_name(x, c), "ipUsage") == 0)
                    seen = ec2_xml_node_text(x, c);
            if (present[i])
                assert_string_equal(seen ? seen : "", texts[i]);
            else
                assert_null(seen);
            char err[256];
            if (ipam_map_item_xml_into(&slot, RECORD_RESOURCE_CIDR, x, node, "ipam-scope-ctx", err,
                                       sizeof err) != 0)
                fail_msg("page %d item %d: %s", page, i, err);
            double got = slot->u.resource_cidr.ip_usage;
            double want = present[i] ? former_ip_usage(texts[i]) : NAN;
            if (isnan(want) ? !isnan(got) : memcmp(&got, &want, sizeof got) != 0)
                fail_msg("ipUsage \"%s\": %.17g, strtod gives %.17g", present[i] ? texts[i] : "",
                         got, want);
            /* the one-shot path agrees */
            if (i % 50 == 0) {
                struct record *r = ipam_map_item_xml(RECORD_RESOURCE_CIDR, x, node,
                                                     "ipam-scope-ctx", err, sizeof err);
                assert_non_null(r);
                double one = r->u.resource_cidr.ip_usage;
                assert_true(isnan(want) ? isnan(one) : memcmp(&one, &want, sizeof one) == 0);
                record_free(r);
            }
            numbers += present[i] && !isnan(want);
        }
        ec2_xml_free(x);
    }
    record_free(slot);
    assert_true(numbers > PAGES * ITEMS / 2); /* most texts were numbers */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xml_and_cli_give_identical_records),
        cmocka_unit_test(test_node_path_matches_json),
        cmocka_unit_test(test_fields_of_the_xml_fixtures),
        cmocka_unit_test(test_fields_of_org_small),
        cmocka_unit_test(test_cli_time_spellings),
        cmocka_unit_test(test_missing_required_fields),
        cmocka_unit_test(test_lenient_scalars),
        cmocka_unit_test(test_ip_usage_matches_strtod),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
