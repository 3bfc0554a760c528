/* Unit tests for record: golden encodings, round trips, every decoding error, mutations. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "testing.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "golden.h"
#include "record.h"

static int64_t t(const char *s)
{
    int64_t ms;
    if (record_time_parse(s, &ms) != 0)
        fail_msg("bad test time %s", s);
    return ms;
}

#define SCOPE "ipam-scope-0a1b2c3d4e5f60718"
#define PASS  "ipam-admin-1/1741946400000"

static struct record *inventory(enum record_type type)
{
    struct record *rec = record_new(type);
    record_str_set(&rec->scope, SCOPE);
    rec->ts_ms = t("2025-03-14T10:00:03.250Z");
    record_str_set(&rec->source, "collector/ipam-admin-1");
    record_str_set(&rec->pass_id, PASS);
    return rec;
}

/* Builds the record each golden file holds, filled the way the collector fills it. */
static struct record *build(const char *name)
{
    struct record *rec;
    if (strcmp(name, "pass_begin") == 0) {
        rec = inventory(RECORD_PASS_BEGIN);
        rec->ts_ms = t("2025-03-14T10:00:00.000Z");
        struct record_pass_begin *b = &rec->u.pass_begin;
        record_str_set(&b->collector_id, "ipam-admin-1");
        b->started_ms = t("2025-03-14T10:00:00Z");
        record_str_set(&b->ipam_id, "ipam-0123456789abcdef0");
        record_str_set(&b->region, "eu-central-1");
    } else if (strcmp(name, "ipam") == 0) {
        rec = inventory(RECORD_IPAM);
        struct record_ipam *i = &rec->u.ipam;
        record_str_set(&i->ipam_id, "ipam-0123456789abcdef0");
        record_str_set(&i->arn, "arn:aws:ec2::111122223333:ipam/ipam-0123456789abcdef0");
        record_str_set(&i->owner, "111122223333");
        record_str_set(&i->home_region, "eu-central-1");
        record_str_set(&i->private_default_scope_id, SCOPE);
        record_str_set(&i->public_default_scope_id, "ipam-scope-0f1e2d3c4b5a69788");
        i->scope_count = 2;
        record_list_add(&i->operating_regions, "eu-central-1");
        record_list_add(&i->operating_regions, "eu-west-1");
        record_str_set(&i->tier, "advanced");
        record_str_set(&i->state, "create-complete");
        record_str_set(&i->description, "Organisation IPAM");
        record_map_set(&i->tags, "owner", "network-team");
    } else if (strcmp(name, "scope") == 0) {
        rec = inventory(RECORD_SCOPE);
        struct record_scope *s = &rec->u.scope;
        record_str_set(&s->scope_id, SCOPE);
        record_str_set(&s->arn, "arn:aws:ec2::111122223333:ipam-scope/" SCOPE);
        record_str_set(&s->ipam_id, "ipam-0123456789abcdef0");
        record_str_set(&s->ipam_arn, "arn:aws:ec2::111122223333:ipam/ipam-0123456789abcdef0");
        record_str_set(&s->owner, "111122223333");
        record_str_set(&s->scope_type, "private");
        s->is_default = true;
        s->pool_count = 7;
        record_str_set(&s->state, "create-complete");
        record_str_set(&s->description, "Default private scope");
        record_map_set(&s->tags, "env", "shared");
    } else if (strcmp(name, "pool") == 0) {
        rec = inventory(RECORD_POOL);
        struct record_pool *p = &rec->u.pool;
        record_str_set(&p->pool_id, "ipam-pool-0fedcba9876543210");
        record_str_set(&p->arn, "arn:aws:ec2::111122223333:ipam-pool/ipam-pool-0fedcba9876543210");
        record_str_set(&p->scope_arn, "arn:aws:ec2::111122223333:ipam-scope/" SCOPE);
        record_str_set(&p->scope_id, record_id_from_arn(p->scope_arn));
        record_str_set(&p->ipam_id, "ipam-0123456789abcdef0");
        record_str_set(&p->parent, "ipam-pool-01234567890abcdef");
        record_str_set(&p->owner, "111122223333");
        record_str_set(&p->locale, "eu-central-1");
        record_str_set(&p->address_family, "ipv4");
        p->depth = 2;
        record_str_set(&p->state, "create-complete");
        record_str_set(&p->state_message, "");
        p->allocation_default_netmask = 20;
        p->allocation_min_netmask = 16;
        p->allocation_max_netmask = 24;
        p->auto_import = true;
        p->publicly_advertisable = false;
        record_str_set(&p->aws_service, "ec2");
        record_str_set(&p->public_ip_source, "amazon");
        record_str_set(&p->description, "eu-central-1 shared VPC");
        record_map_set(&p->tags, "Name", "euc1-shared");
        record_map_set(&p->tags, "env", "prod");
        record_map_set(&p->tags, "cost-center", "net-42");
    } else if (strcmp(name, "pool_cidr") == 0) {
        rec = inventory(RECORD_POOL_CIDR);
        struct record_pool_cidr *c = &rec->u.pool_cidr;
        record_str_set(&c->pool_id, "ipam-pool-0fedcba9876543210");
        record_str_set(&c->pool_cidr_id, "ipam-pool-cidr-018d2a6c1e5b4f3a9c7e0d2b4a6c8e0f1");
        record_str_set(&c->cidr, "10.16.0.0/16");
        record_str_set(&c->state, "failed-deprovision");
        c->netmask_length = 16;
        record_str_set(&c->failure_code, "cidr-not-available");
        record_str_set(&c->failure_message, "The CIDR has allocations and cannot be deprovisioned");
    } else if (strcmp(name, "allocation") == 0) {
        rec = inventory(RECORD_ALLOCATION);
        struct record_allocation *a = &rec->u.allocation;
        record_str_set(&a->pool_id, "ipam-pool-0fedcba9876543210");
        record_str_set(&a->allocation_id, "ipam-pool-alloc-4a7c9e1b3d5f47a2b6c8d0e2f4a6b8c0d");
        record_str_set(&a->cidr, "10.16.0.0/20");
        record_str_set(&a->resource_type, "vpc");
        record_str_set(&a->resource_id, "vpc-0123abcd4567ef890");
        record_str_set(&a->resource_owner, "222233334444");
        record_str_set(&a->resource_region, "eu-central-1");
        record_str_set(&a->description, "payments-prod");
        record_map_set(&a->tags, "team", "payments");
    } else if (strcmp(name, "resource_cidr") == 0) {
        rec = inventory(RECORD_RESOURCE_CIDR);
        struct record_resource_cidr *r = &rec->u.resource_cidr;
        record_str_set(&r->scope_id, SCOPE);
        record_str_set(&r->resource_type, "subnet");
        record_str_set(&r->resource_id, "subnet-0a1b2c3d4e5f60718");
        record_str_set(&r->cidr, "10.16.4.0/22");
        record_str_set(&r->ipam_id, "ipam-0123456789abcdef0");
        record_str_set(&r->name, "payments-prod-app-a");
        record_str_set(&r->owner, "222233334444");
        record_str_set(&r->region, "eu-central-1");
        record_str_set(&r->vpc_id, "vpc-0123abcd4567ef890");
        record_str_set(&r->availability_zone_id, "euc1-az2");
        record_str_set(&r->pool_id, "ipam-pool-0fedcba9876543210");
        record_str_set(&r->compliance_status, "compliant");
        record_str_set(&r->overlap_status, "nonoverlapping");
        record_str_set(&r->management_state, "managed");
        r->ip_usage = 0.0039;
        record_map_set(&r->tags, "Name", "payments-prod-app-a");
    } else if (strcmp(name, "discovered_account") == 0) {
        rec = inventory(RECORD_DISCOVERED_ACCOUNT);
        struct record_discovered_account *d = &rec->u.discovered_account;
        record_str_set(&d->account_id, "444455556666");
        record_str_set(&d->region, "eu-west-1");
        record_str_set(&d->status, "failed");
        record_str_set(&d->resource_discovery_id, "ipam-res-disco-0123456789abcdef0");
        record_str_set(&d->failure_code, "assume-role-failure");
        record_str_set(&d->failure_message, "Unable to assume AWSServiceRoleForIPAM");
        d->last_attempted_ms = t("2025-03-14T09:55:12Z");
        d->last_successful_ms = t("2025-03-12T17:40:03Z");
        record_str_set(&d->organizational_unit_id, "ou-ab12-cd34ef56");
    } else if (strcmp(name, "pass_end") == 0) {
        rec = inventory(RECORD_PASS_END);
        rec->ts_ms = t("2025-03-14T10:00:41.807Z");
        struct record_pass_end *e = &rec->u.pass_end;
        e->counts[RECORD_IPAM] = 1;
        e->counts[RECORD_SCOPE] = 1;
        e->counts[RECORD_POOL] = 7;
        e->counts[RECORD_POOL_CIDR] = 9;
        e->counts[RECORD_ALLOCATION] = 42;
        e->counts[RECORD_RESOURCE_CIDR] = 318;
        e->counts[RECORD_DISCOVERED_ACCOUNT] = 6;
        e->complete = false;
        record_str_set(&e->error, "GetIpamResourceCidrs: RequestLimitExceeded after 8 attempts");
    } else if (strcmp(name, "event") == 0) {
        /* A member account creates a VPC from a RAM-shared pool. */
        rec = record_new(RECORD_EVENT);
        record_str_set(&rec->scope, SCOPE);
        rec->ts_ms = t("2025-03-14T11:30:00.112Z");
        record_str_set(&rec->source, "collector/ipam-admin-1");
        struct record_event *e = &rec->u.event;
        record_str_set(&e->event_id, "7e6d5c4b-3a29-4180-9f8e-7d6c5b4a3928");
        record_str_set(&e->name, "CreateVpc");
        e->time_ms = t("2025-03-14T11:21:09Z");
        record_str_set(&e->account, "222233334444");
        record_str_set(&e->region, "eu-central-1");
        record_str_set(&e->caller_account, "222233334444");
        record_str_set(&e->principal.type, "AssumedRole");
        record_str_set(&e->principal.arn,
                       "arn:aws:sts::222233334444:assumed-role/Deployer/terraform");
        record_str_set(&e->principal.principal_id, "AROAEXAMPLEID87654321:terraform");
        record_str_set(&e->principal.session_issuer_arn, "arn:aws:iam::222233334444:role/Deployer");
        record_str_set(&e->source_ip, "198.51.100.7");
        record_str_set(&e->user_agent,
                       "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 aws-sdk-go-v2/1.26.0");
        record_str_set(&e->request_id, "0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f");
        record_str_set(&e->pool_id, "ipam-pool-0fedcba9876543210");
        record_str_set(&e->cidr, "10.16.0.0/20");
        e->netmask_length = 20;
        record_str_set(&e->resource_id, "vpc-0123abcd4567ef890");
        record_str_set(&e->vpc_id, "vpc-0123abcd4567ef890");
        e->parsed = true;
    } else if (strcmp(name, "event_failed") == 0) {
        /* A /19 no longer fits: the failure the NOC must hear about. */
        rec = record_new(RECORD_EVENT);
        record_str_set(&rec->scope, SCOPE);
        rec->ts_ms = t("2025-03-14T10:09:30.500Z");
        record_str_set(&rec->source, "collector/ipam-admin-1");
        struct record_event *e = &rec->u.event;
        record_str_set(&e->event_id, "0d6f4b2a-8c1e-4a3f-9b5d-7e2c4a6f8b1d");
        record_str_set(&e->name, "AllocateIpamPoolCidr");
        e->time_ms = t("2025-03-14T10:02:17Z");
        record_str_set(&e->account, "111122223333");
        record_str_set(&e->region, "eu-central-1");
        record_str_set(&e->caller_account, "111122223333");
        record_str_set(&e->principal.type, "AssumedRole");
        record_str_set(&e->principal.arn,
                       "arn:aws:sts::111122223333:assumed-role/NetworkAdmin/alice@example.com");
        record_str_set(&e->principal.principal_id, "AROAEXAMPLEID12345678:alice@example.com");
        record_str_set(&e->principal.session_issuer_arn,
                       "arn:aws:iam::111122223333:role/NetworkAdmin");
        record_str_set(&e->source_ip, "203.0.113.25");
        record_str_set(&e->user_agent, "aws-cli/2.15.30 md/command#ec2.allocate-ipam-pool-cidr");
        record_str_set(&e->request_id, "6a1c2e3f-9b8d-4c7e-a5f4-3b2a1c0d9e8f");
        record_str_set(&e->pool_id, "ipam-pool-0fedcba9876543210");
        e->netmask_length = 19;
        record_str_set(&e->error_code, "InvalidParameterValue");
        record_str_set(&e->error_message, "The allocation size is too big for the pool.");
        e->parsed = true;
    } else if (strcmp(name, "event_release") == 0) {
        /* A manual reservation is given back. */
        rec = record_new(RECORD_EVENT);
        record_str_set(&rec->scope, SCOPE);
        rec->ts_ms = t("2025-03-15T08:05:12.031Z");
        record_str_set(&rec->source, "collector/ipam-admin-1");
        struct record_event *e = &rec->u.event;
        record_str_set(&e->event_id, "f3b2a1c0-d9e8-4f7a-b6c5-d4e3f2a1b0c9");
        record_str_set(&e->name, "ReleaseIpamPoolAllocation");
        e->time_ms = t("2025-03-15T07:58:40.250Z");
        record_str_set(&e->account, "111122223333");
        record_str_set(&e->region, "eu-central-1");
        record_str_set(&e->caller_account, "111122223333");
        record_str_set(&e->principal.type, "IAMUser");
        record_str_set(&e->principal.arn, "arn:aws:iam::111122223333:user/bob");
        record_str_set(&e->principal.principal_id, "AIDAEXAMPLEID11112222");
        record_str_set(&e->source_ip, "203.0.113.40");
        record_str_set(&e->user_agent, "console.ec2.amazonaws.com");
        record_str_set(&e->request_id, "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d");
        record_str_set(&e->pool_id, "ipam-pool-0fedcba9876543210");
        record_str_set(&e->allocation_id, "ipam-pool-alloc-4a7c9e1b3d5f47a2b6c8d0e2f4a6b8c0d");
        record_str_set(&e->cidr, "10.16.32.0/24");
        e->parsed = true;
    } else if (strcmp(name, "event_unparsed") == 0) {
        rec = record_new(RECORD_EVENT);
        rec->ts_ms = t("2025-03-14T11:30:00.004Z");
        record_str_set(&rec->source, "collector/ipam-admin-1");
        struct record_event *e = &rec->u.event;
        record_str_set(&e->event_id, "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e");
        record_str_set(&e->name, "CreateVpc");
        e->time_ms = t("2025-03-14T11:21:09Z");
        record_str_set(&e->account, "222233334444");
        record_str_set(&e->region, "eu-west-1");
        e->parsed = false;
        record_str_set(&e->raw, "{\"eventVersion\":\"1.10\",\"eventName\":\"CreateVpc\","
                                "\"requestParameters\":\"truncated");
    } else if (strcmp(name, "alert") == 0) {
        rec = record_new(RECORD_ALERT);
        record_str_set(&rec->scope, SCOPE);
        rec->ts_ms = t("2025-03-14T12:00:05.000Z");
        record_str_set(&rec->source, "analyzer/ipam-admin-1");
        struct record_alert *a = &rec->u.alert;
        record_str_set(&a->fingerprint, "5f1c0e6a9b2d4c83");
        record_str_set(&a->rule, "utilization_high");
        record_str_set(&a->state, "resolved");
        record_str_set(&a->severity, "warning");
        record_map_set(&a->labels, "pool_id", "ipam-pool-0fedcba9876543210");
        record_map_set(&a->labels, "alertname", "IpamPoolUtilizationHigh");
        record_map_set(&a->labels, "scope_id", SCOPE);
        record_map_set(&a->annotations, "summary", "Pool euc1-shared is 81.2 % used");
        record_map_set(&a->annotations, "description",
                       "Utilization stayed above 80 % for 15m; largest free block /21");
        record_map_set(&a->annotations, "runbook_url",
                       "https://wiki.example.com/runbooks/ipam#utilization-high");
        a->starts_at_ms = t("2025-03-14T09:15:00Z");
        a->ends_at_ms = t("2025-03-14T12:00:00Z");
        a->value = 0.812;
    } else {
        fail_msg("no builder for %s", name);
        return NULL;
    }
    return rec;
}

/* Decodes from an exactly sized heap copy so that ASan catches any read past `len`. */
static int decode_exact(const char *buf, size_t len, struct record **out, char *err, size_t errlen)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);
    int rc = record_decode(copy, len, out, err, errlen);
    free(copy);
    return rc;
}

static void test_golden_files_match_builders(void **state)
{
    (void)state;
    for (size_t i = 0; i < NGOLDEN; i++) {
        size_t glen;
        char *g = golden(golden_names[i], &glen);
        struct record *rec = build(golden_names[i]);
        char err[256];
        if (record_validate(rec, err, sizeof err) != 0)
            fail_msg("%s: %s", golden_names[i], err);
        char *enc;
        size_t len;
        assert_int_equal(record_encode(rec, &enc, &len), 0);
        if (len != glen || memcmp(enc, g, len) != 0)
            fail_msg("%s: encoding differs from golden file:\n got  %s\n want %s", golden_names[i],
                     enc, g);
        assert_int_equal(strlen(enc), len);
        free(enc);
        record_free(rec);
        free(g);
    }
}

static void test_golden_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < NGOLDEN; i++) {
        size_t glen;
        char *g = golden(golden_names[i], &glen);
        struct record *rec = NULL;
        char err[256];
        if (decode_exact(g, glen, &rec, err, sizeof err) != 0)
            fail_msg("%s: %s", golden_names[i], err);
        char *enc;
        size_t len;
        assert_int_equal(record_encode(rec, &enc, &len), 0);
        if (len != glen || memcmp(enc, g, len) != 0)
            fail_msg("%s: round trip differs:\n got  %s\n want %s", golden_names[i], enc, g);
        free(enc);
        record_free(rec);
        free(g);
    }
}

/* What the analyzer reads back out of the golden records. */
static void test_decoded_values(void **state)
{
    (void)state;
    size_t len;
    char err[256];
    struct record *rec;
    char *g = golden("pool", &len);
    assert_int_equal(record_decode(g, len, &rec, err, sizeof err), 0);
    assert_int_equal(rec->type, RECORD_POOL);
    assert_string_equal(rec->scope, SCOPE);
    assert_int_equal(rec->ts_ms, 1741946403250LL);
    assert_string_equal(rec->u.pool.scope_id, SCOPE);
    assert_string_equal(rec->u.pool.parent, "ipam-pool-01234567890abcdef");
    assert_int_equal(rec->u.pool.allocation_default_netmask, 20);
    assert_int_equal(rec->u.pool.depth, 2);
    assert_true(rec->u.pool.auto_import);
    assert_false(rec->u.pool.publicly_advertisable);
    assert_string_equal(record_map_get(&rec->u.pool.tags, "cost-center"), "net-42");
    assert_null(record_map_get(&rec->u.pool.tags, "missing"));
    record_free(rec);
    free(g);

    g = golden("resource_cidr", &len);
    assert_int_equal(record_decode(g, len, &rec, err, sizeof err), 0);
    assert_true(fabs(rec->u.resource_cidr.ip_usage - 0.0039) < 1e-12);
    record_free(rec);
    free(g);

    g = golden("pass_end", &len);
    assert_int_equal(record_decode(g, len, &rec, err, sizeof err), 0);
    assert_int_equal(rec->u.pass_end.counts[RECORD_RESOURCE_CIDR], 318);
    assert_int_equal(rec->u.pass_end.counts[RECORD_ALLOCATION], 42);
    assert_false(rec->u.pass_end.complete);
    assert_string_equal(rec->pass_id, PASS);
    record_free(rec);
    free(g);

    g = golden("event", &len);
    assert_int_equal(record_decode(g, len, &rec, err, sizeof err), 0);
    assert_string_equal(rec->u.event.principal.session_issuer_arn,
                        "arn:aws:iam::222233334444:role/Deployer");
    assert_int_equal(rec->u.event.time_ms, 1741951269000LL);
    assert_int_equal(rec->u.event.netmask_length, 20);
    assert_string_equal(rec->u.event.vpc_id, "vpc-0123abcd4567ef890");
    assert_true(rec->u.event.parsed);
    assert_null(rec->u.event.raw);
    assert_null(rec->u.event.error_code);
    assert_null(rec->pass_id);
    record_free(rec);
    free(g);

    g = golden("event_failed", &len);
    assert_int_equal(record_decode(g, len, &rec, err, sizeof err), 0);
    assert_string_equal(rec->u.event.error_code, "InvalidParameterValue");
    assert_null(rec->u.event.cidr);
    record_free(rec);
    free(g);

    g = golden("event_release", &len);
    assert_int_equal(record_decode(g, len, &rec, err, sizeof err), 0);
    assert_int_equal(rec->u.event.time_ms % 1000, 250);
    assert_null(rec->u.event.principal.session_issuer_arn);
    record_free(rec);
    free(g);

    g = golden("alert", &len);
    assert_int_equal(record_decode(g, len, &rec, err, sizeof err), 0);
    assert_string_equal(record_map_get(&rec->u.alert.annotations, "runbook_url"),
                        "https://wiki.example.com/runbooks/ipam#utilization-high");
    assert_true(fabs(rec->u.alert.value - 0.812) < 1e-12);
    assert_int_equal(rec->u.alert.ends_at_ms - rec->u.alert.starts_at_ms, 9900000);
    record_free(rec);
    free(g);

    /* Absent optional values read back as absent. */
    g = golden("event_unparsed", &len);
    assert_int_equal(record_decode(g, len, &rec, err, sizeof err), 0);
    assert_null(rec->scope);
    assert_int_equal(rec->u.event.netmask_length, RECORD_UNSET);
    assert_null(rec->u.event.principal.arn);
    assert_false(rec->u.event.parsed);
    record_free(rec);
    free(g);
}

/* Records holding only their required fields encode and decode to the same bytes. */
static void test_minimal_round_trip(void **state)
{
    (void)state;
    for (int type = RECORD_NONE + 1; type < RECORD_TYPE_COUNT; type++) {
        struct record *rec = record_new((enum record_type)type);
        assert_non_null(rec);
        char err[256];
        /* A fresh record lacks its required fields and says which. */
        assert_int_equal(record_validate(rec, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "missing required field"));
        char *enc;
        size_t len;
        assert_int_equal(record_encode(rec, &enc, &len), -EINVAL);
        assert_null(enc);
        record_free(rec);
    }
    struct record *rec = record_new(RECORD_POOL_CIDR);
    record_str_set(&rec->scope, SCOPE);
    record_str_set(&rec->source, "c");
    record_str_set(&rec->u.pool_cidr.pool_id, "ipam-pool-1");
    record_str_set(&rec->u.pool_cidr.state, "pending-provision");
    rec->ts_ms = 0;
    char *enc, *enc2;
    size_t len, len2;
    assert_int_equal(record_encode(rec, &enc, &len), 0);
    assert_string_equal(enc, "{\"v\":1,\"type\":\"pool_cidr\",\"scope\":\"" SCOPE "\","
                             "\"ts\":\"1970-01-01T00:00:00.000Z\",\"source\":\"c\","
                             "\"pool_id\":\"ipam-pool-1\",\"state\":\"pending-provision\"}");
    struct record *back;
    char err[256];
    assert_int_equal(record_decode(enc, len, &back, err, sizeof err), 0);
    assert_null(back->u.pool_cidr.cidr);
    assert_int_equal(record_encode(back, &enc2, &len2), 0);
    assert_string_equal(enc, enc2);
    free(enc);
    free(enc2);
    record_free(back);
    record_free(rec);
    assert_null(record_new(RECORD_NONE));
    assert_null(record_new(RECORD_TYPE_COUNT));
    record_free(NULL);
}

/* Golden `name` with `path` ("key" or "obj.key") set to the JSON text `value`, or removed
 * when `value` is NULL. Returns compact JSON owned by the caller. */
static char *golden_with(const char *name, const char *path, const char *value)
{
    size_t len;
    char *g = golden(name, &len);
    json_error_t jerr;
    json_t *root = json_loadb(g, len, 0, &jerr);
    free(g);
    assert_non_null(root);
    json_t *obj = root;
    char key[128];
    snprintf(key, sizeof key, "%s", path);
    char *dot = strchr(key, '.');
    const char *leaf = key;
    if (dot) {
        *dot = '\0';
        obj = json_object_get(root, key);
        assert_non_null(obj);
        leaf = dot + 1;
    }
    if (value) {
        json_t *v = json_loads(value, JSON_DECODE_ANY, &jerr);
        if (!v)
            fail_msg("bad test JSON %s: %s", value, jerr.text);
        json_object_set_new(obj, leaf, v);
    } else {
        json_object_del(obj, leaf);
    }
    char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(root);
    return s;
}

static void expect_error(const char *input, size_t len, int want_rc, const char *want1,
                         const char *want2)
{
    struct record *rec = (struct record *)&rec; /* must be reset to NULL */
    char err[512] = "";
    int rc = decode_exact(input, len, &rec, err, sizeof err);
    if (rc != want_rc)
        fail_msg("rc %d, want %d for %.200s (err '%s')", rc, want_rc, input, err);
    assert_null(rec);
    if (want1 && !strstr(err, want1))
        fail_msg("error '%s' lacks '%s' for %.200s", err, want1, input);
    if (want2 && !strstr(err, want2))
        fail_msg("error '%s' lacks '%s' for %.200s", err, want2, input);
}

static void test_decode_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *want1, *want2;
    } raw[] = {
        {"", "invalid JSON at line 1, column 0, position 0", NULL},
        {"{\"v\":1,\n \"type\":\"pool\",,}", "invalid JSON at line 2, column 16, position 24",
         NULL},
        {"{\"v\":1}x", "invalid JSON", "end of file expected"},
        {"{\"v\":1,\"v\":1}", "invalid JSON", "duplicate object key"},
        {"[1,2]", "record is a JSON array, expected an object", NULL},
        {"\"pool\"", "invalid JSON at line 1", "'[' or '{' expected"},
        {"{}", "missing required field 'v'", NULL},
        {"{\"v\":\"1\",\"type\":\"pool\"}", "field 'v': expected integer, got string", NULL},
        {"{\"v\":2,\"type\":\"pool\"}", "unsupported version 2", NULL},
        {"{\"v\":1}", "missing required field 'type'", NULL},
        {"{\"v\":1,\"type\":7}", "field 'type': expected string, got integer", NULL},
        {"{\"v\":1,\"type\":\"pool_tree\"}", "unknown record type 'pool_tree'", NULL},
        {"{\"v\":1,\"type\":\"ipam\",\"ts\":\"2025-03-14T10:00:00Z\",\"source\":\"c\","
         "\"scope\":\"s\",\"ipam_id\":\"i\",\"tags\":{\"a\":\"1\",\"a\":\"2\"}}",
         "duplicate object key", NULL},
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++)
        expect_error(raw[i].text, strlen(raw[i].text), -EINVAL, raw[i].want1, raw[i].want2);

    static const struct {
        const char *golden, *path, *value;
        const char *want1, *want2;
    } cases[] = {
        {"pool", "ts", "\"2025-02-30T00:00:00Z\"", "pool: field 'ts': bad time", NULL},
        {"pool", "ts", "\"yesterday\"", "field 'ts': bad time 'yesterday'", NULL},
        {"pool", "ts", "1741946403", "pool: field 'ts': expected string, got integer", NULL},
        {"pool", "scope", NULL, "pool: missing required field 'scope'", NULL},
        {"pool", "scope", "\"\"", "pool: field 'scope': empty string", NULL},
        {"pool", "source", "null", "pool: missing required field 'source'", NULL},
        {"pool", "pool_id", NULL, "pool: missing required field 'pool_id'", NULL},
        {"pool", "depth", "\"2\"", "pool: field 'depth': expected integer, got string", NULL},
        {"pool", "depth", "0", "pool: field 'depth': value 0 out of range 1..128", NULL},
        {"pool", "depth", "2.5", "field 'depth': expected integer, got real", NULL},
        {"pool", "allocation_max_netmask", "129", "field 'allocation_max_netmask'", "0..128"},
        {"pool", "allocation_default_netmask", "33", "field 'allocation_default_netmask'", "ipv4"},
        {"pool", "address_family", "\"ipv5\"", "field 'address_family': unknown value 'ipv5'",
         "ipv4, ipv6"},
        {"pool", "auto_import", "\"true\"", "field 'auto_import': expected boolean, got string",
         NULL},
        {"pool", "tags", "[\"a\"]", "field 'tags': expected object, got array", NULL},
        {"pool", "tags", "{\"env\":1}", "field 'tags.env': expected string, got integer", NULL},
        {"pool", "owner",
         "\"1234567890123456789012345678901234567890123456789012345678901234"
         "5\"",
         "field 'owner': 65 characters, the limit is 64", NULL},
        {"pool_cidr", "cidr", "\"\"", "pool_cidr: field 'cidr': empty CIDR", NULL},
        {"pool_cidr", "cidr", "\"2001:db8:1234:5678:9abc:def0:1234:5678:255.255.255.255/128\"",
         "pool_cidr: field 'cidr': CIDR of 58 characters, the limit is 49", NULL},
        {"pool_cidr", "cidr", "167772160", "field 'cidr': expected string, got integer", NULL},
        {"pool_cidr", "state", NULL, "pool_cidr: missing required field 'state'", NULL},
        {"allocation", "cidr", NULL, "allocation: missing required field 'cidr'", NULL},
        {"resource_cidr", "ip_usage", "\"0.5\"", "field 'ip_usage': expected number, got string",
         NULL},
        {"resource_cidr", "ip_usage", "-0.25", "field 'ip_usage': value -0.25 below", NULL},
        {"ipam", "operating_regions", "[\"eu-west-1\",3]",
         "ipam: field 'operating_regions[1]': expected string, got integer", NULL},
        {"ipam", "operating_regions", "\"eu-west-1\"",
         "field 'operating_regions': expected array, got string", NULL},
        {"pass_end", "counts.pool", "-3", "pass_end: field 'counts.pool': negative count -3", NULL},
        {"pass_end", "counts.allocation", "\"42\"",
         "field 'counts.allocation': expected integer, got string", NULL},
        {"pass_end", "counts", "[]", "field 'counts': expected object, got array", NULL},
        {"pass_end", "complete", NULL, "pass_end: missing required field 'complete'", NULL},
        {"pass_end", "pass", NULL, "pass_end: missing required field 'pass'", NULL},
        {"pass_begin", "started", "\"2025-03-14T10:00:00\"", "field 'started': bad time", NULL},
        {"discovered_account", "status", "\"degraded\"", "field 'status': unknown value",
         "ok, failed"},
        {"event", "principal", "\"alice\"", "event: field 'principal': expected object", NULL},
        {"event", "principal.arn", "5",
         "event: field 'principal.arn': expected string, got "
         "integer",
         NULL},
        {"event", "principal.type", "\"\"", "field 'principal.type': empty string", NULL},
        {"event", "error_code", "\"Client.InvalidParameterValue\"", "field 'error_code'",
         "'Client.' prefix"},
        {"event", "parsed", "false", "missing field 'raw', required when 'parsed' is false", NULL},
        {"event", "time", "\"1969-12-31T23:59:59Z\"", "field 'time': bad time", NULL},
        {"event", "netmask_length", "-1", "field 'netmask_length': value -1 out of range", NULL},
        {"event", "netmask_length", "-9223372036854775808", "field 'netmask_length'", NULL},
        {"event", "account", NULL, "event: missing required field 'account'", NULL},
        {"alert", "state", "\"active\"", "field 'state': unknown value 'active'",
         "pending, firing, resolved"},
        {"alert", "ends_at", NULL, "missing field 'ends_at', required when state is resolved",
         NULL},
        {"alert", "ends_at", "\"2025-03-14T09:00:00Z\"", "'ends_at': earlier than 'starts_at'",
         NULL},
        {"alert", "value", "true", "field 'value': expected number, got boolean", NULL},
        {"alert", "labels", "{\"a\":null}", "field 'labels.a': expected string, got null", NULL},
        {"alert", "annotations", "{\"summary\":{}}",
         "field 'annotations.summary': expected string, got object", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = golden_with(cases[i].golden, cases[i].path, cases[i].value);
        expect_error(s, strlen(s), -EINVAL, cases[i].want1, cases[i].want2);
        free(s);
    }
}

/* The required fields of each type: removing one is an error naming it; removing any other
 * field decodes, and the result encodes to the golden record without that field. */
static void test_required_fields(void **state)
{
    (void)state;
    static const struct {
        const char *golden;
        const char *required[10];
    } req[] = {
        {"pass_begin", {"scope", "pass", "collector_id", "started"}},
        {"ipam", {"scope", "ipam_id"}},
        {"scope", {"scope", "scope_id"}},
        {"pool", {"scope", "pool_id", "scope_id", "address_family"}},
        {"pool_cidr", {"scope", "pool_id", "state"}},
        {"allocation", {"scope", "pool_id", "allocation_id", "cidr"}},
        {"resource_cidr", {"scope", "scope_id", "resource_type", "resource_id", "cidr"}},
        {"discovered_account", {"scope", "account_id", "region", "status"}},
        {"pass_end", {"scope", "pass", "counts", "complete"}},
        {"event", {"event_id", "name", "time", "account", "region", "parsed"}},
        {"event_failed", {"event_id", "name", "time", "account", "region", "parsed"}},
        {"event_release", {"event_id", "name", "time", "account", "region", "parsed"}},
        {"event_unparsed", {"event_id", "name", "time", "account", "region", "parsed", "raw"}},
        {"alert", {"scope", "fingerprint", "rule", "state", "severity", "starts_at", "ends_at"}},
    };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++) {
        size_t glen;
        char *g = golden(req[i].golden, &glen);
        json_error_t jerr;
        json_t *root = json_loadb(g, glen, 0, &jerr);
        assert_non_null(root);
        const char *key;
        json_t *val;
        json_object_foreach(root, key, val)
        {
            bool required = strcmp(key, "v") == 0 || strcmp(key, "type") == 0 ||
                            strcmp(key, "ts") == 0 || strcmp(key, "source") == 0;
            for (size_t k = 0; req[i].required[k]; k++)
                required |= strcmp(req[i].required[k], key) == 0;
            char *s = golden_with(req[i].golden, key, NULL);
            struct record *rec = NULL;
            char err[512];
            int rc = decode_exact(s, strlen(s), &rec, err, sizeof err);
            if (required) {
                char quoted[80];
                snprintf(quoted, sizeof quoted, "'%s'", key);
                if (rc != -EINVAL || !strstr(err, quoted))
                    fail_msg("%s without %s: rc %d, err '%s'", req[i].golden, key, rc, err);
            } else {
                if (rc != 0)
                    fail_msg("%s without optional %s: %s", req[i].golden, key, err);
                /* An absent optional boolean reads as false and is written out. */
                char *want =
                    json_is_boolean(val) ? golden_with(req[i].golden, key, "false") : strdup(s);
                char *enc;
                size_t len;
                assert_int_equal(record_encode(rec, &enc, &len), 0);
                if (strcmp(enc, want) != 0)
                    fail_msg("%s without %s:\n got  %s\n want %s", req[i].golden, key, enc, want);
                free(want);
                free(enc);
                record_free(rec);
            }
            free(s);
        }
        json_decref(root);
        free(g);
    }
}

/* A value of the wrong JSON type in any field is an error naming the field. */
static void test_wrong_type_every_field(void **state)
{
    (void)state;
    for (size_t i = 0; i < NGOLDEN; i++) {
        size_t glen;
        char *g = golden(golden_names[i], &glen);
        json_error_t jerr;
        json_t *root = json_loadb(g, glen, 0, &jerr);
        const char *key;
        json_t *val;
        json_object_foreach(root, key, val)
        {
            const char *paths[16];
            char names[16][96];
            size_t np = 0;
            snprintf(names[np], sizeof names[np], "%s", key);
            paths[np] = names[np];
            np++;
            if (json_is_object(val) && strcmp(key, "principal") == 0) {
                const char *sk;
                json_t *sv;
                json_object_foreach(val, sk, sv)
                {
                    snprintf(names[np], sizeof names[np], "%s.%s", key, sk);
                    paths[np] = names[np];
                    np++;
                }
            }
            for (size_t p = 0; p < np; p++) {
                json_t *cur =
                    strchr(paths[p], '.') ? json_object_get(val, strchr(paths[p], '.') + 1) : val;
                const char *wrong = json_is_string(cur) ? "17" : "\"seventeen\"";
                char *s = golden_with(golden_names[i], paths[p], wrong);
                struct record *rec = NULL;
                char err[512];
                int rc = decode_exact(s, strlen(s), &rec, err, sizeof err);
                char quoted[120];
                snprintf(quoted, sizeof quoted, "field '%s': expected", paths[p]);
                if (rc != -EINVAL || !strstr(err, quoted))
                    fail_msg("%s with %s=%s: rc %d, err '%s'", golden_names[i], paths[p], wrong, rc,
                             err);
                free(s);
            }
        }
        json_decref(root);
        free(g);
    }
}

static void test_unknown_fields_ignored(void **state)
{
    (void)state;
    size_t glen;
    char *g = golden("event", &glen);
    char *s = golden_with("event", "zz_added_in_1_1", "{\"nested\":[1,2,{\"x\":null}]}");
    char *s2 = NULL;
    {
        json_error_t jerr;
        json_t *root = json_loads(s, 0, &jerr);
        json_object_set_new(json_object_get(root, "principal"), "mfa", json_true());
        json_object_set_new(root, "pass_note", json_string("ignored"));
        s2 = json_dumps(root, JSON_COMPACT);
        json_decref(root);
    }
    struct record *rec;
    char err[256];
    assert_int_equal(record_decode(s2, strlen(s2), &rec, err, sizeof err), 0);
    char *enc;
    size_t len;
    assert_int_equal(record_encode(rec, &enc, &len), 0);
    assert_string_equal(enc, g);
    free(enc);
    record_free(rec);
    free(s2);
    free(s);
    free(g);

    /* Key order and whitespace of the input do not matter. */
    const char *pretty = "{\n  \"source\": \"c\",\n  \"state\": \"provisioned\",\n"
                         "  \"pool_id\": \"ipam-pool-1\",\n  \"ts\": \"2025-03-14T10:00:00Z\",\n"
                         "  \"scope\": \"s\",\n  \"type\": \"pool_cidr\",\n  \"v\": 1\n}\n";
    assert_int_equal(record_decode(pretty, strlen(pretty), &rec, err, sizeof err), 0);
    assert_int_equal(record_encode(rec, &enc, &len), 0);
    assert_string_equal(enc, "{\"v\":1,\"type\":\"pool_cidr\",\"scope\":\"s\","
                             "\"ts\":\"2025-03-14T10:00:00.000Z\",\"source\":\"c\","
                             "\"pool_id\":\"ipam-pool-1\",\"state\":\"provisioned\"}");
    free(enc);
    record_free(rec);
}

static void test_deep_nesting(void **state)
{
    (void)state;
    /* Far beyond jansson's depth limit: an error, not a crash. */
    size_t n = 200000;
    char *deep = malloc(n);
    memset(deep, '[', n);
    expect_error(deep, n, -EINVAL, "invalid JSON", "depth");
    for (size_t i = 0; i + 5 <= n; i += 5)
        memcpy(deep + i, "{\"a\":", 5);
    expect_error(deep, n, -EINVAL, "invalid JSON", "depth");
    free(deep);

    /* Nesting within the limit in an unknown field is ignored; in a known field it is a
     * type error naming the field. */
    size_t depth = 2000;
    const char *head =
        "{\"v\":1,\"type\":\"pool_cidr\",\"scope\":\"s\",\"ts\":\"2025-03-14T10:00:00Z\","
        "\"source\":\"c\",\"pool_id\":\"p\",\"state\":\"provisioned\",\"";
    for (int known = 0; known < 2; known++) {
        const char *key = known ? "cidr" : "future";
        size_t cap = strlen(head) + 32 + 2 * depth;
        char *buf = malloc(cap);
        size_t len = (size_t)snprintf(buf, cap, "%s%s\":", head, key);
        memset(buf + len, '[', depth);
        len += depth;
        memset(buf + len, ']', depth);
        len += depth;
        buf[len++] = '}';
        struct record *rec;
        char err[256];
        int rc = decode_exact(buf, len, &rec, err, sizeof err);
        if (known) {
            assert_int_equal(rc, -EINVAL);
            assert_non_null(strstr(err, "field 'cidr': expected string, got array"));
        } else {
            if (rc != 0)
                fail_msg("%s", err);
            record_free(rec);
        }
        free(buf);
    }
}

static void test_size_limit(void **state)
{
    (void)state;
    /* Decoding: one byte over the limit is refused before parsing. */
    size_t n = RECORD_MAX_BYTES + 1;
    char *big = malloc(n);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    expect_error(big, n, -E2BIG, "record of 1048577 bytes exceeds the limit of 1048576 bytes",
                 NULL);

    /* An unparsed event whose raw text makes the record too big cannot be encoded; one that
     * just fits still can, and decodes. */
    struct record *rec = build("event_unparsed");
    char err[256];
    char *enc;
    size_t len, base;
    record_str_set(&rec->u.event.raw, "");
    assert_int_equal(record_encode(rec, &enc, &base), 0);
    free(enc);
    memset(big, 'x', n);
    big[RECORD_MAX_BYTES - base] = '\0';
    record_str_set(&rec->u.event.raw, big);
    assert_int_equal(record_encode(rec, &enc, &len), 0);
    assert_int_equal(len, RECORD_MAX_BYTES);
    struct record *back;
    assert_int_equal(decode_exact(enc, len, &back, err, sizeof err), 0);
    assert_int_equal(strlen(back->u.event.raw), RECORD_MAX_BYTES - base);
    record_free(back);
    free(enc);
    big[RECORD_MAX_BYTES - base] = 'x';
    big[RECORD_MAX_BYTES - base + 1] = '\0';
    record_str_set(&rec->u.event.raw, big);
    assert_int_equal(record_encode(rec, &enc, &len), -E2BIG);
    assert_null(enc);
    record_free(rec);
    free(big);
}

static void test_encode_rejects_invalid(void **state)
{
    (void)state;
    struct record *rec = build("pool");
    char err[256];
    char *enc;
    size_t len;

    /* Invalid UTF-8 would make jansson refuse the string: caught with the field named. */
    record_str_set(&rec->u.pool.description, "caf\xc3");
    assert_int_equal(record_validate(rec, err, sizeof err), -EINVAL);
    assert_string_equal(err, "pool: field 'description': not valid UTF-8");
    assert_int_equal(record_encode(rec, &enc, &len), -EINVAL);
    record_str_set(&rec->u.pool.description, "\xed\xa0\x80"); /* a surrogate */
    assert_int_equal(record_validate(rec, err, sizeof err), -EINVAL);
    record_str_set(&rec->u.pool.description, "Zürich \xf0\x9f\x8c\x8d");
    assert_int_equal(record_validate(rec, err, sizeof err), 0);

    record_map_set(&rec->u.pool.tags, "bad\xff", "v");
    assert_int_equal(record_validate(rec, err, sizeof err), -EINVAL);
    assert_string_equal(err, "pool: field 'tags': key of entry 3 is not valid UTF-8");
    record_str_set(&rec->u.pool.tags.items[3].key, "team");
    record_str_set(&rec->u.pool.tags.items[3].value, "\xc0\xaf"); /* overlong '/' */
    assert_int_equal(record_validate(rec, err, sizeof err), -EINVAL);
    assert_string_equal(err, "pool: field 'tags.team': not valid UTF-8");
    rec->u.pool.tags.n--;
    free(rec->u.pool.tags.items[3].key);
    free(rec->u.pool.tags.items[3].value);

    /* A map filled behind the API with a duplicate key. */
    struct record_map *tags = &rec->u.pool.tags;
    record_map_set(tags, "env", "staging"); /* replaces, no duplicate */
    assert_int_equal(tags->n, 3);
    assert_string_equal(record_map_get(tags, "env"), "staging");
    free(tags->items[2].key);
    tags->items[2].key = strdup("Name");
    assert_int_equal(record_validate(rec, err, sizeof err), -EINVAL);
    assert_string_equal(err, "pool: field 'tags': duplicate key 'Name'");
    free(tags->items[2].key);
    tags->items[2].key = strdup("cost-center");

    rec->u.pool.depth = 0;
    assert_int_equal(record_validate(rec, err, sizeof err), -EINVAL);
    assert_string_equal(err, "pool: field 'depth': value 0 out of range 1..128");
    rec->u.pool.depth = 1;
    rec->ts_ms = -1;
    assert_int_equal(record_validate(rec, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "pool: field 'ts': time -1 ms"));
    rec->ts_ms = 0;
    record_str_set(&rec->scope, NULL);
    assert_int_equal(record_validate(rec, err, sizeof err), -EINVAL);
    assert_string_equal(err, "pool: missing required field 'scope'");
    record_free(rec);

    rec = build("resource_cidr");
    rec->u.resource_cidr.ip_usage = INFINITY;
    assert_int_equal(record_validate(rec, err, sizeof err), -EINVAL);
    assert_string_equal(err, "resource_cidr: field 'ip_usage': not a finite number");
    record_free(rec);
}

static void test_key(void **state)
{
    (void)state;
    char key[RECORD_KEY_MAX];
    struct record *rec = build("pool");
    assert_int_equal(record_key(rec, key, sizeof key), 0);
    assert_string_equal(key, SCOPE);
    char small[8];
    assert_int_equal(record_key(rec, small, sizeof small), -ENOSPC);
    record_free(rec);

    /* Event with its pool's scope resolved, and without: account/region. */
    rec = build("event");
    assert_int_equal(record_key(rec, key, sizeof key), 0);
    assert_string_equal(key, SCOPE);
    record_free(rec);
    rec = build("event_unparsed");
    assert_int_equal(record_key(rec, key, sizeof key), 0);
    assert_string_equal(key, "222233334444/eu-west-1");
    record_free(rec);

    rec = build("alert");
    assert_int_equal(record_key(rec, key, sizeof key), 0);
    assert_string_equal(key, SCOPE);
    record_free(rec);

    rec = record_new(RECORD_ALERT);
    assert_int_equal(record_key(rec, key, sizeof key), -EINVAL);
    record_free(rec);

    /* The longest valid key fits RECORD_KEY_MAX. */
    rec = build("pool");
    char longest[201];
    memset(longest, 's', 200);
    longest[200] = '\0';
    record_str_set(&rec->scope, longest);
    char err[128];
    assert_int_equal(record_validate(rec, err, sizeof err), 0);
    assert_int_equal(record_key(rec, key, sizeof key), 0);
    longest[200] = 's';
    record_str_set(&rec->scope, NULL);
    rec->scope = strndup(longest, 201);
    assert_int_equal(record_validate(rec, err, sizeof err), -EINVAL);
    assert_string_equal(err, "pool: field 'scope': 201 characters, the limit is 200");
    record_free(rec);

    assert_string_equal(record_id_from_arn("arn:aws:ec2::1:ipam-scope/ipam-scope-1"),
                        "ipam-scope-1");
    assert_null(record_id_from_arn("arn:aws:ec2::1:ipam-scope/"));
    assert_null(record_id_from_arn("no-slash"));
    assert_null(record_id_from_arn(NULL));
}

static void test_types(void **state)
{
    (void)state;
    for (int type = RECORD_NONE + 1; type < RECORD_TYPE_COUNT; type++) {
        const char *name = record_type_name((enum record_type)type);
        assert_non_null(name);
        assert_int_equal(record_type_from_name(name), type);
    }
    assert_null(record_type_name(RECORD_NONE));
    assert_null(record_type_name(RECORD_TYPE_COUNT));
    assert_int_equal(record_type_from_name("Pool"), RECORD_NONE);
    assert_int_equal(record_type_from_name(""), RECORD_NONE);
}

static void test_time(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int rc;
        int64_t ms;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0, 0},
        {"2025-03-14T10:02:17Z", 0, 1741946537000LL},
        {"2025-03-14T10:02:17.123Z", 0, 1741946537123LL},
        {"2025-03-14T10:02:17.1Z", 0, 1741946537100LL},
        {"2025-03-14T10:02:17.123456789Z", 0, 1741946537123LL},
        {"2025-03-14t10:02:17z", 0, 1741946537000LL},
        {"2025-03-14 10:02:17Z", 0, 1741946537000LL},
        {"2025-03-14T12:02:17+02:00", 0, 1741946537000LL},
        {"2025-03-14T05:32:17-04:30", 0, 1741946537000LL},
        {"2024-02-29T00:00:00Z", 0, 1709164800000LL},
        {"2000-02-29T00:00:00Z", 0, 951782400000LL},
        {"9999-12-31T23:59:59.999Z", 0, 253402300799999LL},
        {"2023-02-29T00:00:00Z", -EINVAL, 0},
        {"1900-02-29T00:00:00Z", -EINVAL, 0},
        {"2025-03-14T10:02:17", -EINVAL, 0},
        {"2025-03-14T10:02:17.Z", -EINVAL, 0},
        {"2025-03-14T10:02:17.1234567890Z", -EINVAL, 0},
        {"2025-03-14T24:00:00Z", -EINVAL, 0},
        {"2025-13-14T10:02:17Z", -EINVAL, 0},
        {"2025-03-14T10:02:17Zjunk", -EINVAL, 0},
        {"2025-3-14T10:02:17Z", -EINVAL, 0},
        {"1969-12-31T23:59:59.999Z", -EINVAL, 0},
        {"1970-01-01T00:30:00+01:00", -EINVAL, 0},
        {"", -EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = -1;
        int rc = record_time_parse(cases[i].text, &ms);
        if (rc != cases[i].rc)
            fail_msg("'%s': rc %d, want %d", cases[i].text, rc, cases[i].rc);
        if (rc == 0 && ms != cases[i].ms)
            fail_msg("'%s': %lld, want %lld", cases[i].text, (long long)ms, (long long)cases[i].ms);
    }
    char buf[RECORD_TIME_MAX];
    assert_int_equal(record_time_format(1741946537123LL, buf, sizeof buf), 0);
    assert_string_equal(buf, "2025-03-14T10:02:17.123Z");
    assert_int_equal(record_time_format(-1, buf, sizeof buf), -ERANGE);
    assert_int_equal(record_time_format(253402300800000LL, buf, sizeof buf), -ERANGE);
    assert_int_equal(record_time_format(0, buf, 10), -ENOSPC);

    /* Random instants survive format -> parse, and formatting matches gmtime. */
    srand(testing_seed());
    for (int i = 0; i < 20000; i++) {
        int64_t ms = (((int64_t)rand() << 31) ^ rand()) % (253402300799999LL + 1);
        int64_t back;
        assert_int_equal(record_time_format(ms, buf, sizeof buf), 0);
        assert_int_equal(record_time_parse(buf, &back), 0);
        if (back != ms)
            fail_msg("%lld -> %s -> %lld", (long long)ms, buf, (long long)back);
        time_t secs = (time_t)(ms / 1000);
        struct tm tm;
        char want[64];
        gmtime_r(&secs, &tm);
        strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S", &tm);
        if (strncmp(buf, want, 19) != 0)
            fail_msg("%lld: %s, gmtime says %s", (long long)ms, buf, want);
    }
}

/* Random byte and structure mutations of the golden records never crash the decoder, and
 * give either a record that re-encodes stably or an -EINVAL with a message. */
static void check_decode_invariants(const char *buf, size_t len)
{
    struct record *rec = (struct record *)&rec;
    char err[512];
    err[0] = '\0';
    int rc = decode_exact(buf, len, &rec, err, sizeof err);
    if (rc != 0) {
        if (rc != -EINVAL && rc != -E2BIG)
            fail_msg("rc %d for %.300s", rc, buf);
        assert_null(rec);
        if (err[0] == '\0')
            fail_msg("no message for %.*s", (int)(len > 300 ? 300 : len), buf);
        return;
    }
    char *enc, *enc2;
    size_t elen, elen2;
    if (record_encode(rec, &enc, &elen) != 0) {
        char verr[256];
        record_validate(rec, verr, sizeof verr);
        fail_msg("decoded but does not encode (%s): %.*s", verr, (int)(len > 300 ? 300 : len), buf);
    }
    struct record *back;
    if (record_decode(enc, elen, &back, err, sizeof err) != 0)
        fail_msg("re-decode failed: %s: %s", err, enc);
    assert_int_equal(record_encode(back, &enc2, &elen2), 0);
    if (elen != elen2 || memcmp(enc, enc2, elen) != 0)
        fail_msg("unstable encoding:\n %s\n %s", enc, enc2);
    free(enc);
    free(enc2);
    record_free(back);
    record_free(rec);
}

static void test_mutations(void **state)
{
    (void)state;
    unsigned seed = testing_seed();
    srand(seed);
    static const char interesting[] = "{}[]\":,\\-0123456789.eE+tfnu \x80\xff\xc3\x00";
    char *goldens[NGOLDEN];
    size_t glens[NGOLDEN];
    for (size_t i = 0; i < NGOLDEN; i++)
        goldens[i] = golden(golden_names[i], &glens[i]);

    size_t decoded = 0, refused = 0;
    for (int iter = 0; iter < 30000; iter++) {
        size_t gi = (size_t)rand() % NGOLDEN;
        size_t len = glens[gi];
        size_t cap = len * 2 + 64;
        char *buf = malloc(cap);
        memcpy(buf, goldens[gi], len);
        int nmut = 1 + rand() % 4;
        for (int m = 0; m < nmut && len > 0; m++) {
            size_t pos = (size_t)rand() % len;
            switch (rand() % 6) {
            case 0: /* flip a bit */
                buf[pos] ^= (char)(1 << (rand() % 8));
                break;
            case 1: /* replace with a syntax character */
                buf[pos] = interesting[(size_t)rand() % (sizeof interesting - 1)];
                break;
            case 2: /* insert */
                if (len + 1 < cap) {
                    memmove(buf + pos + 1, buf + pos, len - pos);
                    buf[pos] = interesting[(size_t)rand() % (sizeof interesting - 1)];
                    len++;
                }
                break;
            case 3: { /* delete a span */
                size_t span = 1 + (size_t)rand() % 8;
                if (span > len - pos)
                    span = len - pos;
                memmove(buf + pos, buf + pos + span, len - pos - span);
                len -= span;
                break;
            }
            case 4: /* truncate */
                len = pos;
                break;
            case 5: { /* duplicate a span */
                size_t span = 1 + (size_t)rand() % 16;
                if (span > len - pos)
                    span = len - pos;
                if (len + span < cap) {
                    memmove(buf + pos + span, buf + pos, len - pos);
                    len += span;
                }
                break;
            }
            }
        }
        struct record *probe = NULL;
        char err[512];
        if (decode_exact(buf, len, &probe, err, sizeof err) == 0)
            decoded++;
        else
            refused++;
        record_free(probe);
        check_decode_invariants(buf, len);
        free(buf);
    }

    /* Structural: replace a random field's value with a random JSON value. */
    static const char *values[] = {
        "\"\"",
        "\"x\"",
        "0",
        "-1",
        "129",
        "1e308",
        "-0.5",
        "0.25",
        "true",
        "false",
        "null",
        "[]",
        "{}",
        "[\"a\"]",
        "{\"a\":\"b\"}",
        "{\"a\":1}",
        "\"2025-03-14T10:02:17Z\"",
        "\"2025-13-01T00:00:00Z\"",
        "\"10.0.0.0/8\"",
        "\"ipv6\"",
        "\"resolved\"",
        "\"ok\"",
        "\"Client.X\"",
        "9223372036854775807",
        "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",
    };
    for (int iter = 0; iter < 5000; iter++) {
        size_t gi = (size_t)rand() % NGOLDEN;
        json_error_t jerr;
        json_t *root = json_loadb(goldens[gi], glens[gi], 0, &jerr);
        size_t nkeys = json_object_size(root);
        size_t pick = (size_t)rand() % nkeys, k = 0;
        const char *key;
        json_t *val;
        json_t *obj = root;
        char chosen[96] = "";
        json_object_foreach(root, key, val)
        {
            if (k++ == pick) {
                snprintf(chosen, sizeof chosen, "%s", key);
                if (json_is_object(val) && json_object_size(val) > 0 && rand() % 2) {
                    obj = val;
                    size_t sub = (size_t)rand() % json_object_size(val), j = 0;
                    const char *sk;
                    json_t *sv;
                    json_object_foreach(val, sk, sv)
                    {
                        if (j++ == sub)
                            snprintf(chosen, sizeof chosen, "%s", sk);
                    }
                }
                break;
            }
        }
        const char *v = values[(size_t)rand() % (sizeof values / sizeof values[0])];
        json_object_set_new(obj, chosen, json_loads(v, JSON_DECODE_ANY, &jerr));
        char *s = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
        struct record *probe = NULL;
        char err[512];
        if (decode_exact(s, strlen(s), &probe, err, sizeof err) == 0)
            decoded++;
        else
            refused++;
        record_free(probe);
        check_decode_invariants(s, strlen(s));
        free(s);
        json_decref(root);
    }
    printf("# mutations: %zu decoded, %zu refused\n", decoded, refused);
    /* Both outcomes must occur, or the mutations are not exercising the decoder. */
    assert_true(decoded > 100);
    assert_true(refused > 100);
    for (size_t i = 0; i < NGOLDEN; i++)
        free(goldens[i]);
}

/* docs/records.md documents every field that appears in a golden record, in the section of
 * its type (nested fields as `parent.child`). */
static void test_docs_cover_every_field(void **state)
{
    (void)state;
    size_t dlen;
    char *doc = testing_read_src("docs/records.md", &dlen);
    for (size_t i = 0; i < NGOLDEN; i++) {
        size_t glen;
        char *g = golden(golden_names[i], &glen);
        json_error_t jerr;
        json_t *root = json_loadb(g, glen, 0, &jerr);
        const char *type = json_string_value(json_object_get(root, "type"));
        char heading[96];
        snprintf(heading, sizeof heading, "\n### `%s`", type);
        const char *sec = strstr(doc, heading);
        if (!sec)
            fail_msg("docs/records.md has no section '### `%s`'", type);
        const char *end = strstr(sec + 1, "\n## ");
        const char *next = strstr(sec + 1, "\n### ");
        if (!end || (next && next < end))
            end = next;
        size_t seclen = end ? (size_t)(end - sec) : strlen(sec);
        const char *env = strstr(doc, "\n### Envelope");
        assert_non_null(env);
        const char *env_end = strstr(env + 1, "\n### ");
        size_t envlen = env_end ? (size_t)(env_end - env) : strlen(env);
        const char *key;
        json_t *val;
        json_object_foreach(root, key, val)
        {
            const char *names[16];
            char buf[16][100];
            size_t nn = 0;
            snprintf(buf[nn], sizeof buf[nn], "`%s`", key);
            names[nn] = buf[nn];
            nn++;
            if (json_is_object(val) &&
                (strcmp(key, "principal") == 0 || strcmp(key, "counts") == 0)) {
                const char *sk;
                json_t *sv;
                json_object_foreach(val, sk, sv)
                {
                    snprintf(buf[nn], sizeof buf[nn], "`%s.%s`", key, sk);
                    names[nn] = buf[nn];
                    nn++;
                }
            }
            for (size_t n = 0; n < nn; n++) {
                bool in_env = memmem(env, envlen, names[n], strlen(names[n])) != NULL;
                bool in_sec = memmem(sec, seclen, names[n], strlen(names[n])) != NULL;
                if (!in_sec && !in_env)
                    fail_msg("docs/records.md: %s of '%s' is not documented", names[n], type);
            }
        }
        /* The golden record itself is the documented example. */
        if (!memmem(sec, seclen, golden_names[i], strlen(golden_names[i])))
            fail_msg("docs/records.md: section '%s' does not show %s.json", type, golden_names[i]);
        json_decref(root);
        free(g);
    }
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_files_match_builders),
        cmocka_unit_test(test_golden_round_trip),
        cmocka_unit_test(test_decoded_values),
        cmocka_unit_test(test_minimal_round_trip),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_required_fields),
        cmocka_unit_test(test_wrong_type_every_field),
        cmocka_unit_test(test_unknown_fields_ignored),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_encode_rejects_invalid),
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_docs_cover_every_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
