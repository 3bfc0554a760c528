/* Unit tests for model: passes, events, overlap by domain, figures, save/load. */
#include "testing.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "analyzer/model.h"
#include "config/config.h"
#include "fixtures.h"
#include "golden.h"
#include "hash.h"
#include "record.h"
#include "xalloc.h"

/* ---- fixture: a config with two routing domains ---------------------------------------- */

static struct config *load_cfg(void)
{
    return fixture_load_cfg("[domain \"corp\"]\nscopes = private\nstatic = 172.16.0.0/16\n"
                            "[domain \"childonly\"]\npools = " POOL_C "\n");
}

/* The known tree: top pool P 10.0.0.0/16 (default /20) with child pool C 10.0.0.0/20
 * (default /24), VPC vpc-1 10.0.16.0/20 with two /24 subnets, a custom /18 reservation,
 * and vpc-2 10.0.0.0/22 from C. `extra` adds more resources through the callback. */
static void base_pass(struct pass *p, model_t *m, const char *pass_id, int64_t started,
                      void (*extra)(struct pass *), bool with_child)
{
    pass_begin(p, m, pass_id, started);
    scope_rec(p);
    pool_rec(p, POOL_P, NULL, 20);
    pool_cidr_rec(p, POOL_P, "10.0.0.0/16", "provisioned");
    pool_cidr_rec(p, POOL_P, "10.1.0.0/16", "pending-provision");
    if (with_child) {
        pool_rec(p, POOL_C, POOL_P, 24);
        pool_cidr_rec(p, POOL_C, "10.0.0.0/20", "provisioned");
        alloc_rec(p, POOL_P, "ipam-pool-alloc-c", "10.0.0.0/20", "ipam-pool", POOL_C);
        alloc_rec(p, POOL_C, "ipam-pool-alloc-v2", "10.0.0.0/22", "vpc", "vpc-2");
        res_rec(p, "vpc", "vpc-2", "10.0.0.0/22", "vpc-2", POOL_C, "compliant", NAN);
    }
    alloc_rec(p, POOL_P, "ipam-pool-alloc-v1", "10.0.16.0/20", "vpc", "vpc-1");
    alloc_rec(p, POOL_P, "ipam-pool-alloc-r", "10.0.64.0/18", "custom", NULL);
    res_rec(p, "vpc", "vpc-1", "10.0.16.0/20", "vpc-1", POOL_P, "compliant", NAN);
    res_rec(p, "subnet", "subnet-1a", "10.0.16.0/24", "vpc-1", NULL, "compliant", 0.5);
    res_rec(p, "subnet", "subnet-1b", "10.0.17.0/24", "vpc-1", NULL, "compliant", 0.25);
    if (extra)
        extra(p);
}

/* A model on load_cfg() (returned in *cfg) that took the known tree, plus `extra`, in the
 * complete pass pass-1 at T0; the pass's effects are left in p->fx. */
static model_t *tree_model(struct config **cfg, struct pass *p, void (*extra)(struct pass *))
{
    *cfg = load_cfg();
    model_t *m = model_new(*cfg);
    base_pass(p, m, "pass-1", T0, extra, true);
    pass_end(p, true, 0);
    return m;
}

/* ---- collecting figures --------------------------------------------------------------- */

#define MAX_OBJS 64

struct obj {
    char kind[16], id[64], scope[64];
    struct rrd_sample s;
};

struct objs {
    struct obj o[MAX_OBJS];
    size_t n;
};

static void collect(void *ctx, const char *kind, const char *id, const char *scope_id,
                    const struct rrd_sample *s)
{
    struct objs *os = ctx;
    assert_true(os->n < MAX_OBJS);
    struct obj *o = &os->o[os->n++];
    snprintf(o->kind, sizeof o->kind, "%s", kind);
    snprintf(o->id, sizeof o->id, "%s", id);
    snprintf(o->scope, sizeof o->scope, "%s", scope_id);
    o->s = *s;
}

static void figures(model_t *m, struct objs *os)
{
    memset(os, 0, sizeof *os);
    assert_int_equal(model_metrics(m, collect, os), 0);
}

static const struct obj *find(const struct objs *os, const char *kind, const char *id)
{
    for (size_t i = 0; i < os->n; i++)
        if (strcmp(os->o[i].kind, kind) == 0 && strcmp(os->o[i].id, id) == 0)
            return &os->o[i];
    return NULL;
}

static const struct obj *need(const struct objs *os, const char *kind, const char *id)
{
    const struct obj *o = find(os, kind, id);
    if (!o)
        fail_msg("no figures for %s %s", kind, id);
    return o;
}

static void expect(const char *what, double got, double want)
{
    bool ok = isnan(want) ? isnan(got) : fabs(got - want) < 1e-9;
    if (!ok)
        fail_msg("%s: got %.10g, want %.10g", what, got, want);
}

/* Stable text of every object's figures, sorted, for comparing two models. */
static int cmp_obj(const void *a, const void *b)
{
    const struct obj *x = a, *y = b;
    int c = strcmp(x->kind, y->kind);
    return c ? c : strcmp(x->id, y->id);
}

static void figures_text(model_t *m, char *buf, size_t len)
{
    struct objs os;
    figures(m, &os);
    qsort(os.o, os.n, sizeof os.o[0], cmp_obj);
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < os.n; i++) {
        const struct rrd_sample *s = &os.o[i].s;
        int w = snprintf(buf + off, len - off, "%s %s %g %g %g %g %g %g %g %g %g\n", os.o[i].kind,
                         os.o[i].id, s->size, s->used, s->free, s->utilization, s->largest_free,
                         s->default_fits, s->allocations, s->overlaps, s->noncompliant);
        assert_true(w > 0 && (size_t)w < len - off);
        off += (size_t)w;
    }
}

static size_t count_kind(const struct model_effects *fx, const char *kind)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->n; i++)
        n += strcmp(fx->items[i].kind, kind) == 0;
    return n;
}

static const struct model_effect *find_effect(const struct model_effects *fx, const char *kind,
                                              const char *key_part)
{
    for (size_t i = 0; i < fx->n; i++)
        if (strcmp(fx->items[i].kind, kind) == 0 && strstr(fx->items[i].key, key_part))
            return &fx->items[i];
    return NULL;
}

/* ---- events --------------------------------------------------------------------------- */

static struct record *event(const char *id, const char *name, int64_t t)
{
    struct record *r = record_new(RECORD_EVENT);
    record_str_set(&r->scope, SCOPE);
    record_str_set(&r->source, "collector/test");
    record_str_set(&r->u.event.event_id, id);
    record_str_set(&r->u.event.name, name);
    record_str_set(&r->u.event.account, "222233334444");
    record_str_set(&r->u.event.region, "eu-central-1");
    r->u.event.time_ms = t;
    r->u.event.parsed = true;
    return r;
}

/* Applies event id (`name`, at t) on allocation alloc_id (cidr) of pool P; effects into fx. */
static void pool_event(model_t *m, struct model_effects *fx, const char *id, const char *name,
                       int64_t t, const char *alloc_id, const char *cidr)
{
    struct record *r = event(id, name, t);
    record_str_set(&r->u.event.pool_id, POOL_P);
    record_str_set(&r->u.event.allocation_id, alloc_id);
    record_str_set(&r->u.event.cidr, cidr);
    apply(m, r, fx);
}

/* ---- tests ---------------------------------------------------------------------------- */

static void test_known_tree_figures(void **state)
{
    (void)state;
    struct config *cfg;
    struct pass p;
    model_t *m = tree_model(&cfg, &p, NULL);
    assert_int_equal(count_kind(&p.fx, "pass"), 1);
    assert_int_equal(count_kind(&p.fx, "pass_torn"), 0);
    /* A subnet inside its own VPC is not an overlap. */
    assert_int_equal(count_kind(&p.fx, "overlap_opened"), 0);
    model_effects_clear(&p.fx);

    struct objs os;
    figures(m, &os);
    /* P: /16 minus the child /20, vpc-1 /20 and a /18: 24576 used; free blocks 10.0.32.0/19
     * and 10.0.128.0/17; /20s that fit: 2 + 8. The pending /16 is no capacity. */
    const struct obj *o = need(&os, "pool", POOL_P);
    expect("P size", o->s.size, 65536);
    expect("P used", o->s.used, 24576);
    expect("P free", o->s.free, 40960);
    expect("P utilization", o->s.utilization, 37.5);
    expect("P largest", o->s.largest_free, 17);
    expect("P fits /20", o->s.default_fits, 10);
    expect("P allocations", o->s.allocations, 3);
    assert_string_equal(o->scope, SCOPE);
    /* C: /20 minus vpc-2's /22; free 10.0.4.0/22 and 10.0.8.0/21; /24s: 4 + 8. */
    o = need(&os, "pool", POOL_C);
    expect("C size", o->s.size, 4096);
    expect("C used", o->s.used, 1024);
    expect("C utilization", o->s.utilization, 25);
    expect("C largest", o->s.largest_free, 21);
    expect("C fits /24", o->s.default_fits, 12);
    expect("C allocations", o->s.allocations, 1);
    /* The scope is its top-level pool only (C is inside P, not counted twice). */
    o = need(&os, "scope", SCOPE);
    expect("scope size", o->s.size, 65536);
    expect("scope used", o->s.used, 24576);
    expect("scope largest", o->s.largest_free, 17);
    expect("scope fits", o->s.default_fits, 10);
    expect("scope overlaps", o->s.overlaps, 0);
    /* vpc-1: /20 minus two /24 subnets; largest free 10.0.24.0/21. */
    o = need(&os, "vpc", "vpc-1");
    expect("vpc-1 size", o->s.size, 4096);
    expect("vpc-1 used", o->s.used, 512);
    expect("vpc-1 utilization", o->s.utilization, 12.5);
    expect("vpc-1 largest", o->s.largest_free, 21);
    expect("vpc-1 subnets", o->s.allocations, 2);
    expect("vpc-1 overlaps", o->s.overlaps, 0);
    o = need(&os, "subnet", "subnet-1a");
    expect("subnet-1a size", o->s.size, 256);
    expect("subnet-1a used", o->s.used, 128);
    expect("subnet-1a utilization", o->s.utilization, 50);
    o = need(&os, "subnet", "subnet-1b");
    expect("subnet-1b used", o->s.used, 64);
    assert_non_null(find(&os, "vpc", "vpc-2"));
    assert_int_equal(os.n, 7); /* 2 pools, 1 scope, 2 VPCs, 2 subnets */
    model_free(m);
    config_free(cfg);
}

static void test_fragmented_pool(void **state)
{
    (void)state;
    model_t *m = model_new(NULL);
    struct pass p;
    pass_begin(&p, m, "frag-1", T0);
    pool_rec(&p, POOL_P, NULL, 20);
    pool_cidr_rec(&p, POOL_P, "10.20.0.0/16", "provisioned");
    /* A /22 and a /23 at the start of every /20: 37.5 % used, 62.5 % free, no /20 left. */
    for (int i = 0; i < 16; i++) {
        char id[32], cidr[32];
        snprintf(id, sizeof id, "alloc-a%d", i);
        snprintf(cidr, sizeof cidr, "10.20.%d.0/22", i * 16);
        alloc_rec(&p, POOL_P, id, cidr, "vpc", id);
        snprintf(id, sizeof id, "alloc-b%d", i);
        snprintf(cidr, sizeof cidr, "10.20.%d.0/23", i * 16 + 4);
        alloc_rec(&p, POOL_P, id, cidr, "custom", NULL);
    }
    pass_end(&p, true, 0);
    model_effects_clear(&p.fx);
    struct objs os;
    figures(m, &os);
    const struct obj *o = need(&os, "pool", POOL_P);
    expect("free", o->s.free, 40960);
    assert_true(o->s.free / o->s.size >= 0.60);
    expect("utilization", o->s.utilization, 37.5);
    expect("largest free", o->s.largest_free, 21);
    expect("fits /20", o->s.default_fits, 0);
    expect("allocations", o->s.allocations, 32);
    model_free(m);
}

static void test_torn_passes(void **state)
{
    (void)state;
    struct config *cfg;
    struct pass p;
    model_t *m = tree_model(&cfg, &p, NULL);
    model_effects_clear(&p.fx);
    char before[4096], after[4096];
    figures_text(m, before, sizeof before);

    /* complete = false: the smaller snapshot is not applied. */
    base_pass(&p, m, "pass-2", T0 + 60000, NULL, false);
    pass_end(&p, false, 0);
    assert_int_equal(count_kind(&p.fx, "pass_torn"), 1);
    assert_int_equal(count_kind(&p.fx, "pass"), 0);
    const struct model_effect *e = find_effect(&p.fx, "pass_torn", "pass-2");
    assert_non_null(e);
    assert_non_null(strstr(json_string_value(json_object_get(e->data, "reason")), "throttled"));
    model_effects_clear(&p.fx);
    figures_text(m, after, sizeof after);
    assert_string_equal(before, after);

    /* counts that do not match what arrived. */
    base_pass(&p, m, "pass-3", T0 + 120000, NULL, false);
    pass_end(&p, true, 1);
    e = find_effect(&p.fx, "pass_torn", "pass-3");
    assert_non_null(e);
    assert_non_null(strstr(json_string_value(json_object_get(e->data, "reason")), "pool"));
    model_effects_clear(&p.fx);
    figures_text(m, after, sizeof after);
    assert_string_equal(before, after);

    /* no pass_end: the next pass_begin of the same collector tears it. */
    base_pass(&p, m, "pass-4", T0 + 180000, NULL, false);
    model_effects_clear(&p.fx);
    struct pass q;
    pass_begin(&q, m, "pass-5", T0 + 240000);
    assert_non_null(find_effect(&q.fx, "pass_torn", "pass-4"));
    model_effects_clear(&q.fx);
    figures_text(m, after, sizeof after);
    assert_string_equal(before, after);

    /* a pass_end whose pass_begin was never seen. */
    struct record *r = env(RECORD_PASS_END, "pass-unknown");
    r->u.pass_end.complete = true;
    struct model_effects fx;
    model_effects_init(&fx);
    apply(m, r, &fx);
    assert_non_null(find_effect(&fx, "pass_torn", "pass-unknown"));
    model_effects_clear(&fx);

    struct model_stats st;
    model_get_stats(m, &st);
    assert_int_equal(st.passes_applied, 1);
    assert_int_equal(st.passes_torn, 4);
    model_free(m);
    config_free(cfg);
}

static void test_pass_replaces_state(void **state)
{
    (void)state;
    struct config *cfg;
    struct pass p;
    model_t *m = tree_model(&cfg, &p, NULL);
    model_effects_clear(&p.fx);
    /* The child pool, its allocation and vpc-2 are gone from the next complete pass. */
    base_pass(&p, m, "pass-2", T0 + 60000, NULL, false);
    pass_end(&p, true, 0);
    assert_int_equal(count_kind(&p.fx, "pass"), 1);
    model_effects_clear(&p.fx);
    struct objs os;
    figures(m, &os);
    assert_null(find(&os, "pool", POOL_C));
    assert_null(find(&os, "vpc", "vpc-2"));
    const struct obj *o = need(&os, "pool", POOL_P);
    expect("P used", o->s.used, 20480);
    expect("P allocations", o->s.allocations, 2);
    struct model_stats st;
    model_get_stats(m, &st);
    assert_int_equal(st.pools, 1);
    assert_int_equal(st.resource_cidrs, 3);
    model_free(m);
    config_free(cfg);
}

static void test_child_pool_without_allocation(void **state)
{
    (void)state;
    model_t *m = model_new(NULL);
    struct pass p;
    pass_begin(&p, m, "pass-1", T0);
    pool_rec(&p, POOL_P, NULL, 20);
    pool_cidr_rec(&p, POOL_P, "10.0.0.0/16", "provisioned");
    pool_rec(&p, POOL_C, POOL_P, 24);
    pool_cidr_rec(&p, POOL_C, "10.0.0.0/20", "provisioned");
    pass_end(&p, true, 0);
    model_effects_clear(&p.fx);
    struct objs os;
    figures(m, &os);
    /* The parent's ipam-pool allocation is missing: the child's CIDR still counts, once. */
    const struct obj *o = need(&os, "pool", POOL_P);
    expect("P used", o->s.used, 4096);
    expect("P allocations", o->s.allocations, 1);
    model_free(m);
}

static void test_events_between_passes(void **state)
{
    (void)state;
    struct config *cfg;
    struct pass p;
    model_t *m = tree_model(&cfg, &p, NULL);
    model_effects_clear(&p.fx);
    char snapshot[4096], now[4096];
    figures_text(m, snapshot, sizeof snapshot);
    struct model_effects fx;
    model_effects_init(&fx);
    struct objs os;

    /* An allocation of 10.0.32.0/19 moves P's figures before the next pass. */
    struct record *r;
    pool_event(m, &fx, "ev-alloc", "AllocateIpamPoolCidr", T0 + 1000, "ipam-pool-alloc-new",
               "10.0.32.0/19");
    assert_int_equal(fx.n, 1);
    assert_string_equal(fx.items[0].kind, "allocation");
    assert_string_equal(fx.items[0].key, "ev-alloc");
    assert_int_equal(fx.items[0].event_time, (T0 + 1000) / 1000);
    model_effects_clear(&fx);
    figures(m, &os);
    expect("P used after allocation", need(&os, "pool", POOL_P)->s.used, 24576 + 8192);
    expect("P fits after allocation", need(&os, "pool", POOL_P)->s.default_fits, 8);

    /* The same event again changes nothing and reports nothing. */
    pool_event(m, &fx, "ev-alloc", "AllocateIpamPoolCidr", T0 + 1000, "ipam-pool-alloc-new",
               "10.0.32.0/19");
    assert_int_equal(fx.n, 0);

    /* A failed allocation is reported and changes nothing. */
    r = event("ev-fail", "AllocateIpamPoolCidr", T0 + 2000);
    record_str_set(&r->u.event.pool_id, POOL_P);
    r->u.event.netmask_length = 15;
    record_str_set(&r->u.event.error_code, "InvalidParameterValue");
    record_str_set(&r->u.event.error_message, "The allocation size is too big for the pool.");
    apply(m, r, &fx);
    assert_int_equal(fx.n, 1);
    assert_string_equal(fx.items[0].kind, "allocation_failed");
    assert_int_equal(json_integer_value(json_object_get(fx.items[0].data, "netmask_length")), 15);
    model_effects_clear(&fx);
    figures(m, &os);
    expect("P used after failure", need(&os, "pool", POOL_P)->s.used, 24576 + 8192);

    /* Release takes it back. */
    pool_event(m, &fx, "ev-release", "ReleaseIpamPoolAllocation", T0 + 3000, "ipam-pool-alloc-new",
               "10.0.32.0/19");
    assert_string_equal(fx.items[0].kind, "release");
    model_effects_clear(&fx);
    figures_text(m, now, sizeof now);
    assert_string_equal(snapshot, now);

    /* A VPC created from P: a resource and an allocation appear; deleting it removes both. */
    r = event("ev-vpc", "CreateVpc", T0 + 4000);
    record_str_set(&r->u.event.pool_id, POOL_P);
    record_str_set(&r->u.event.resource_id, "vpc-9");
    record_str_set(&r->u.event.vpc_id, "vpc-9");
    record_str_set(&r->u.event.cidr, "10.0.128.0/20");
    apply(m, r, &fx);
    assert_string_equal(fx.items[0].kind, "vpc_created");
    model_effects_clear(&fx);
    r = event("ev-subnet", "CreateSubnet", T0 + 4500);
    record_str_set(&r->u.event.resource_id, "subnet-9a");
    record_str_set(&r->u.event.vpc_id, "vpc-9");
    record_str_set(&r->u.event.cidr, "10.0.128.0/24");
    apply(m, r, &fx);
    assert_string_equal(fx.items[0].kind, "subnet_created");
    model_effects_clear(&fx);
    figures(m, &os);
    expect("vpc-9 size", need(&os, "vpc", "vpc-9")->s.size, 4096);
    expect("vpc-9 used", need(&os, "vpc", "vpc-9")->s.used, 256);
    expect("P used with vpc-9", need(&os, "pool", POOL_P)->s.used, 24576 + 4096);
    r = event("ev-del-subnet", "DeleteSubnet", T0 + 4800);
    record_str_set(&r->u.event.resource_id, "subnet-9a");
    apply(m, r, &fx);
    r = event("ev-del-vpc", "DeleteVpc", T0 + 5000);
    record_str_set(&r->u.event.resource_id, "vpc-9");
    record_str_set(&r->u.event.vpc_id, "vpc-9");
    apply(m, r, &fx);
    assert_non_null(find_effect(&fx, "vpc_deleted", "ev-del-vpc"));
    model_effects_clear(&fx);
    figures_text(m, now, sizeof now);
    assert_string_equal(snapshot, now);

    /* An event older than the snapshot is ledger only: the snapshot already holds it. */
    pool_event(m, &fx, "ev-old", "AllocateIpamPoolCidr", T0 - 5000, "ipam-pool-alloc-old",
               "10.0.32.0/19");
    assert_int_equal(fx.n, 1);
    assert_false(json_is_true(json_object_get(fx.items[0].data, "applied")));
    model_effects_clear(&fx);
    figures_text(m, now, sizeof now);
    assert_string_equal(snapshot, now);

    /* An allocation the next pass does not list is gone after it: the snapshot wins. */
    pool_event(m, &fx, "ev-alloc-2", "AllocateIpamPoolCidr", T0 + 6000, "ipam-pool-alloc-2",
               "10.0.32.0/20");
    model_effects_clear(&fx);
    figures_text(m, now, sizeof now);
    assert_string_not_equal(snapshot, now);
    base_pass(&p, m, "pass-2", T0 + 60000, NULL, true);
    pass_end(&p, true, 0);
    model_effects_clear(&p.fx);
    figures_text(m, now, sizeof now);
    assert_string_equal(snapshot, now);

    struct model_stats st;
    model_get_stats(m, &st);
    assert_int_equal(st.events_duplicate, 1);
    assert_int_equal(st.events_failed, 1);
    model_free(m);
    config_free(cfg);
}

static void test_replay_is_idempotent(void **state)
{
    (void)state;
    struct config *cfg;
    struct pass p;
    model_t *m = tree_model(&cfg, &p, NULL);
    model_effects_clear(&p.fx);
    char before[4096], after[4096];
    figures_text(m, before, sizeof before);
    /* The same pass delivered again (a consumer replay) produces nothing. */
    base_pass(&p, m, "pass-1", T0, NULL, true);
    pass_end(&p, true, 0);
    assert_int_equal(p.fx.n, 0);
    model_effects_clear(&p.fx);
    figures_text(m, after, sizeof after);
    assert_string_equal(before, after);
    /* So does a delayed pass older than the applied one, even under a new id. */
    base_pass(&p, m, "pass-0", T0 - 60000, NULL, false);
    pass_end(&p, true, 0);
    assert_int_equal(p.fx.n, 0);
    model_effects_clear(&p.fx);
    figures_text(m, after, sizeof after);
    assert_string_equal(before, after);
    model_free(m);
    config_free(cfg);
}

static void overlapping(struct pass *p)
{
    /* vpc-3 meets the on-premise static range; vpc-4 covers vpc-1 and both its subnets. */
    res_rec(p, "vpc", "vpc-3", "172.16.5.0/24", "vpc-3", NULL, "compliant", NAN);
    res_rec(p, "vpc", "vpc-4", "10.0.16.0/21", "vpc-4", NULL, "noncompliant", NAN);
}

/* vpc-u 10.9.0.0/16 with management state `state` (the other resources carry none). */
static const char *vpc_u_state;
static void vpc_u(struct pass *p)
{
    struct record *r = res_record(p, "vpc", "vpc-u", "10.9.0.0/16", "vpc-u", NULL, NULL, NAN);
    record_str_set(&r->u.resource_cidr.owner, "123456789012");
    record_str_set(&r->u.resource_cidr.management_state, vpc_u_state);
    feed(p, r);
}

static const char *status_of(const struct model_effect *e)
{
    return json_string_value(json_object_get(model_effect_data(e), "status"));
}

static void test_unmanaged_journaled(void **state)
{
    (void)state;
    struct config *cfg = load_cfg();
    model_t *m = model_new(cfg);
    struct pass p;
    vpc_u_state = "unmanaged";
    base_pass(&p, m, "pass-1", T0, vpc_u, true);
    pass_end(&p, true, 0);
    assert_int_equal(count_kind(&p.fx, "unmanaged"), 1);
    assert_int_equal(count_kind(&p.fx, "managed"), 0);
    const struct model_effect *e = find_effect(&p.fx, "unmanaged", "vpc-u/10.9.0.0/16");
    assert_non_null(e);
    assert_string_equal(status_of(e), "unmanaged");
    assert_string_equal(json_string_value(json_object_get(model_effect_data(e), "owner")),
                        "123456789012");
    assert_string_equal(json_string_value(json_object_get(model_effect_data(e), "scope_id")),
                        SCOPE);
    model_effects_clear(&p.fx);
    /* Still unmanaged: nothing new. */
    base_pass(&p, m, "pass-2", T0 + 60000, vpc_u, true);
    pass_end(&p, true, 0);
    assert_int_equal(count_kind(&p.fx, "unmanaged") + count_kind(&p.fx, "managed"), 0);
    model_effects_clear(&p.fx);
    /* IPAM manages it now. */
    vpc_u_state = "managed";
    base_pass(&p, m, "pass-3", T0 + 120000, vpc_u, true);
    pass_end(&p, true, 0);
    assert_int_equal(count_kind(&p.fx, "managed"), 1);
    assert_string_equal(status_of(find_effect(&p.fx, "managed", "vpc-u/")), "managed");
    model_effects_clear(&p.fx);
    /* Unmanaged again, then gone. */
    vpc_u_state = "unmanaged";
    base_pass(&p, m, "pass-4", T0 + 180000, vpc_u, true);
    pass_end(&p, true, 0);
    assert_int_equal(count_kind(&p.fx, "unmanaged"), 1);
    model_effects_clear(&p.fx);
    base_pass(&p, m, "pass-5", T0 + 240000, NULL, true);
    pass_end(&p, true, 0);
    assert_int_equal(count_kind(&p.fx, "managed"), 1);
    assert_string_equal(status_of(find_effect(&p.fx, "managed", "vpc-u/")), "deleted");
    model_effects_clear(&p.fx);

    /* An allocation event says whether the inventory holds the allocation already. */
    struct model_effects fx;
    model_effects_init(&fx);
    pool_event(m, &fx, "ev-known", "AllocateIpamPoolCidr", T0 + 250000, "ipam-pool-alloc-r",
               "10.0.64.0/18");
    assert_true(json_is_true(json_object_get(fx.items[0].data, "in_inventory")));
    model_effects_clear(&fx);
    pool_event(m, &fx, "ev-new", "AllocateIpamPoolCidr", T0 + 260000, "ipam-pool-alloc-new",
               "10.0.128.0/20");
    assert_true(json_is_false(json_object_get(fx.items[0].data, "in_inventory")));
    model_effects_clear(&fx);
    /* ... and an event-made allocation is not the inventory's. */
    pool_event(m, &fx, "ev-new-again", "AllocateIpamPoolCidr", T0 + 270000, "ipam-pool-alloc-new",
               "10.0.128.0/20");
    assert_true(json_is_false(json_object_get(fx.items[0].data, "in_inventory")));
    model_effects_clear(&fx);
    model_free(m);
    config_free(cfg);
}

/* 203 unmanaged VPC CIDRs 10.200.<k>.0/24 (k < 203), the first one noncompliant too. */
#define N_UNMANAGED 203
static void many_unmanaged(struct pass *p)
{
    for (int k = 0; k < N_UNMANAGED; k++) {
        char id[32], cidr[32];
        snprintf(id, sizeof id, "vpc-m%03d", k);
        snprintf(cidr, sizeof cidr, "10.200.%d.0/24", k);
        const char *compliance = k ? "compliant" : "noncompliant";
        struct record *r = res_record(p, "vpc", id, cidr, id, NULL, compliance, NAN);
        record_str_set(&r->u.resource_cidr.management_state, "unmanaged");
        feed(p, r);
    }
}

/* Effects handed out by a sink, flattened to one line each, with the portion sizes. */
struct portions {
    char **lines;
    size_t n, cap;
    size_t calls, largest;
};

static char *effect_line(const struct model_effect *e)
{
    char *d = json_dumps(model_effect_data(e), JSON_COMPACT | JSON_SORT_KEYS);
    char *line = xasprintf("%s|%s|%lld|%s", e->kind, e->key, (long long)e->event_time, d);
    free(d);
    return line;
}

static void on_portion(void *ctx, const struct model_effect *items, size_t n)
{
    struct portions *pt = ctx;
    assert_true(n > 0);
    pt->calls++;
    if (n > pt->largest)
        pt->largest = n;
    for (size_t i = 0; i < n; i++) {
        pt->lines = xgrow(pt->lines, &pt->cap, pt->n + 1, sizeof *pt->lines);
        pt->lines[pt->n++] = effect_line(&items[i]);
    }
}

/* Runs the same three passes (many unmanaged resources appear; one of them stays and becomes
 * managed; all disappear) through a collecting model and one whose effects go to a sink in
 * portions of 5: the sink sees the same effects in the same order, never more than 5 at a
 * time, spread over many calls during one model_apply(), and nothing is left in the list. */
static void test_effects_in_portions(void **state)
{
    (void)state;
    struct config *cfg = load_cfg();
    model_t *ma = model_new(cfg), *mb = model_new(cfg);
    struct portions pt = {0};
    char **want = NULL;
    size_t nwant = 0, wcap = 0;
    static const char *const ids[] = {"pass-1", "pass-2", "pass-3"};
    for (int k = 0; k < 3; k++) {
        for (int side = 0; side < 2; side++) {
            struct pass p;
            pass_begin(&p, side ? mb : ma, ids[k], T0 + k * 60000);
            if (side)
                model_effects_set_sink(&p.fx, on_portion, &pt, 5);
            scope_rec(&p);
            if (k == 0)
                many_unmanaged(&p);
            if (k == 1) {
                vpc_u_state = "managed";
                vpc_u(&p);
            }
            size_t calls = pt.calls;
            pass_end(&p, true, 0);
            if (side) {
                assert_int_equal(p.fx.n, 0); /* everything went to the sink */
                if (k == 0)
                    assert_true(pt.calls - calls >= N_UNMANAGED / 5);
            } else {
                for (size_t i = 0; i < p.fx.n; i++) {
                    want = xgrow(want, &wcap, nwant + 1, sizeof *want);
                    want[nwant++] = effect_line(&p.fx.items[i]);
                }
            }
            model_effects_clear(&p.fx);
        }
    }
    /* Appeared: 203 unmanaged + 1 noncompliant + pass; then 204 gone: 203 managed "deleted",
     * 1 compliant; vpc-u never unmanaged. */
    assert_true(nwant >= 2 * N_UNMANAGED + 2);
    assert_int_equal(pt.n, nwant);
    assert_true(pt.largest <= 5);
    for (size_t i = 0; i < nwant; i++) {
        assert_string_equal(pt.lines[i], want[i]);
        free(want[i]);
        free(pt.lines[i]);
    }
    free(want);
    free(pt.lines);
    struct model_stats sa, sb;
    model_get_stats(ma, &sa);
    model_get_stats(mb, &sb);
    assert_int_equal(sa.passes_applied, sb.passes_applied);
    assert_int_equal(sb.resource_cidrs, 0);
    model_free(ma);
    model_free(mb);
    config_free(cfg);
}

/* vpc-n 10.7.0.0/16: noncompliant and unmanaged, with an owner, a Region and a Name that
 * needs escaping and is not ASCII; subnet-n 10.7.1.0/24 unmanaged without any of them. */
static void vpc_n(struct pass *p)
{
    struct record *r =
        res_record(p, "vpc", "vpc-n", "10.7.0.0/16", "vpc-n", POOL_P, "noncompliant", NAN);
    record_str_set(&r->u.resource_cidr.owner, "210987654321");
    record_str_set(&r->u.resource_cidr.region, "eu-west-1");
    record_str_set(&r->u.resource_cidr.name, "r\xc3\xa9seau \"prod\"\t\xf0\x9f\x8c\x90");
    record_str_set(&r->u.resource_cidr.management_state, "unmanaged");
    feed(p, r);
    r = res_record(p, "subnet", "subnet-n", "10.7.1.0/24", "vpc-n", NULL, NULL, NAN);
    record_str_set(&r->u.resource_cidr.management_state, "unmanaged");
    feed(p, r);
}

/* The data object the state effects carried when they were built as jansson objects: every
 * known field, as json_string() of the model's strings; "status" as given. */
static json_t *state_data(const char *rtype, const char *rid, const char *cidr, const char *pool,
                          const char *owner, const char *region, const char *name,
                          const char *status)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "scope_id", SCOPE, "resource_type", rtype,
                          "resource_id", rid, "cidr", cidr, "status", status);
    const char *opt[][2] = {
        {"pool_id", pool}, {"owner", owner}, {"region", region}, {"name", name}};
    for (size_t i = 0; i < 4; i++)
        if (opt[i][1])
            json_object_set_new(o, opt[i][0], json_string(opt[i][1]));
    return o;
}

/* Checks the state effects of `fx` against the objects the former producer built (kind,
 * status, and the resource each names) and journals every effect twice: from the compact form
 * (model_effect_journal()) to `jc` and as the jansson object (journal_append()) to `jo`, whose
 * chains must agree record by record. Returns the number of state effects. */
static size_t check_state_effects(const struct model_effects *fx, journal_t *jc, journal_t *jo)
{
    size_t n = 0;
    char t[RECORD_TIME_MAX];
    for (size_t i = 0; i < fx->n; i++) {
        const struct model_effect *e = &fx->items[i];
        assert_int_equal(model_effect_journal(jc, e), 0);
        assert_int_equal(journal_append(jo, e->kind, e->key, e->event_time, model_effect_data(e)),
                         0);
        char dc[JOURNAL_DIGEST_HEX + 1], dj[JOURNAL_DIGEST_HEX + 1];
        journal_last_digest(jc, dc);
        journal_last_digest(jo, dj);
        assert_string_equal(dc, dj);
        if (strcmp(e->kind, "pass") == 0)
            continue;
        /* A compact effect: the object is built once, on demand, and kept. */
        assert_null(e->data);
        assert_non_null(e->built);
        json_t *d = model_effect_data(e);
        assert_ptr_equal(model_effect_data(e), d);
        const char *st = json_string_value(json_object_get(d, "status"));
        assert_non_null(st);
        bool gone = strcmp(st, "deleted") == 0;
        const char *rid = json_string_value(json_object_get(d, "resource_id"));
        json_t *want;
        if (strcmp(rid, "vpc-n") == 0)
            want =
                state_data("vpc", "vpc-n", "10.7.0.0/16", POOL_P, "210987654321", "eu-west-1",
                           "r\xc3\xa9seau \"prod\"\t\xf0\x9f\x8c\x90", gone ? "deleted" : e->kind);
        else
            want = state_data("subnet", "subnet-n", "10.7.1.0/24", NULL, NULL, NULL, NULL,
                              gone ? "deleted" : e->kind);
        if (!json_equal(d, want)) {
            char *g = json_dumps(d, JSON_SORT_KEYS), *w = json_dumps(want, JSON_SORT_KEYS);
            fail_msg("%s %s: data %s, want %s", e->kind, e->key, g, w);
        }
        json_decref(want);
        assert_int_equal(record_time_format((int64_t)e->event_time * 1000, t, sizeof t), 0);
        char *key = xasprintf("%s:%s/%s/%s:%s", e->kind, SCOPE, rid,
                              json_string_value(json_object_get(d, "cidr")), t);
        assert_string_equal(e->key, key);
        free(key);
        n++;
    }
    return n;
}

/* The resource CIDR state effects (noncompliant, unmanaged, then compliant and managed with
 * status "deleted") hold their data in the compact form: model_effect_data() gives the object
 * the former producer built, and the journal gets the same bytes from either form. */
static void test_state_effects_compact(void **state)
{
    (void)state;
    struct config *cfg = load_cfg();
    model_t *m = model_new(cfg);
    struct testing_dir *td = testing_dir_new("ipamwatch-fx", "compact", (time_t)(T0 / 1000));
    assert_non_null(td);
    char dirc[160], diro[160], err[512];
    snprintf(dirc, sizeof dirc, "%s/compact", td->root);
    snprintf(diro, sizeof diro, "%s/object", td->root);
    journal_t *jc = journal_open(dirc, false, err, sizeof err);
    journal_t *jo = journal_open(diro, false, err, sizeof err);
    assert_non_null(jc);
    assert_non_null(jo);
    journal_set_clock_for_testing(jc, testing_fake_now, &td->now);
    journal_set_clock_for_testing(jo, testing_fake_now, &td->now);
    struct pass p;
    base_pass(&p, m, "pass-1", T0, vpc_n, true);
    pass_end(&p, true, 0);
    assert_int_equal(count_kind(&p.fx, "noncompliant"), 1);
    assert_int_equal(count_kind(&p.fx, "unmanaged"), 2);
    assert_int_equal(check_state_effects(&p.fx, jc, jo), 3);
    model_effects_clear(&p.fx);
    base_pass(&p, m, "pass-2", T0 + 60000, NULL, true);
    pass_end(&p, true, 0);
    assert_int_equal(count_kind(&p.fx, "compliant"), 1);
    assert_int_equal(count_kind(&p.fx, "managed"), 2);
    assert_int_equal(check_state_effects(&p.fx, jc, jo), 3);
    model_effects_clear(&p.fx);
    assert_int_equal(journal_sync(jc), 0);
    assert_int_equal(journal_sync(jo), 0);
    journal_close(jc);
    journal_close(jo);
    struct journal_verify_result res;
    assert_int_equal(journal_verify(dirc, &res, err, sizeof err), 0);
    assert_true(res.records >= 6);
    model_free(m);
    config_free(cfg);
    testing_dir_free(td);
}

static void test_overlap_pairs(void **state)
{
    (void)state;
    struct config *cfg;
    struct pass p;
    model_t *m = tree_model(&cfg, &p, overlapping);
    assert_int_equal(count_kind(&p.fx, "overlap_opened"), 4);
    assert_int_equal(count_kind(&p.fx, "overlap_closed"), 0);
    assert_non_null(
        find_effect(&p.fx, "overlap_opened", "corp:static:corp/172.16.0.0/16~vpc-3/172.16.5.0/24"));
    assert_non_null(find_effect(&p.fx, "overlap_opened", "corp:vpc-1/10.0.16.0/20~vpc-4/"));
    assert_non_null(find_effect(&p.fx, "overlap_opened", "corp:subnet-1a/10.0.16.0/24~vpc-4/"));
    assert_non_null(find_effect(&p.fx, "overlap_opened", "corp:subnet-1b/10.0.17.0/24~vpc-4/"));
    /* The "childonly" domain holds only vpc-2 (allocated from C): nothing overlaps there. */
    for (size_t i = 0; i < p.fx.n; i++)
        assert_null(strstr(p.fx.items[i].key, "childonly"));
    assert_int_equal(count_kind(&p.fx, "noncompliant"), 1);
    assert_non_null(find_effect(&p.fx, "noncompliant", "vpc-4"));
    model_effects_clear(&p.fx);

    struct objs os;
    figures(m, &os);
    expect("vpc-4 overlaps", need(&os, "vpc", "vpc-4")->s.overlaps, 3);
    expect("vpc-1 overlaps", need(&os, "vpc", "vpc-1")->s.overlaps, 1);
    expect("subnet-1a overlaps", need(&os, "subnet", "subnet-1a")->s.overlaps, 1);
    expect("vpc-3 overlaps", need(&os, "vpc", "vpc-3")->s.overlaps, 1);
    expect("scope overlaps", need(&os, "scope", SCOPE)->s.overlaps, 4);
    expect("scope noncompliant", need(&os, "scope", SCOPE)->s.noncompliant, 1);

    /* The same pairs under the next pass: nothing new. */
    base_pass(&p, m, "pass-2", T0 + 60000, overlapping, true);
    pass_end(&p, true, 0);
    assert_int_equal(count_kind(&p.fx, "overlap_opened"), 0);
    assert_int_equal(count_kind(&p.fx, "overlap_closed"), 0);
    assert_int_equal(count_kind(&p.fx, "noncompliant"), 0);
    model_effects_clear(&p.fx);

    /* vpc-4 and vpc-3 gone: every pair closes, vpc-4 is no longer noncompliant. */
    base_pass(&p, m, "pass-3", T0 + 120000, NULL, true);
    pass_end(&p, true, 0);
    assert_int_equal(count_kind(&p.fx, "overlap_closed"), 4);
    assert_int_equal(count_kind(&p.fx, "overlap_opened"), 0);
    assert_int_equal(count_kind(&p.fx, "compliant"), 1);
    const struct model_effect *e = find_effect(&p.fx, "overlap_closed", "vpc-1/10.0.16.0/20~vpc-4");
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e->data, "domain")), "corp");
    model_effects_clear(&p.fx);

    /* Events open and close pairs too. */
    struct model_effects fx;
    model_effects_init(&fx);
    struct record *r = event("ev-onprem", "CreateVpc", T0 + 130000);
    record_str_set(&r->u.event.resource_id, "vpc-7");
    record_str_set(&r->u.event.cidr, "172.16.0.0/20");
    apply(m, r, &fx);
    assert_non_null(find_effect(&fx, "overlap_opened", "static:corp/172.16.0.0/16~vpc-7/"));
    model_effects_clear(&fx);
    r = event("ev-onprem-del", "DeleteVpc", T0 + 140000);
    record_str_set(&r->u.event.resource_id, "vpc-7");
    apply(m, r, &fx);
    assert_non_null(find_effect(&fx, "overlap_closed", "static:corp/172.16.0.0/16~vpc-7/"));
    model_effects_clear(&fx);
    model_free(m);
    config_free(cfg);
}

static void test_save_load(void **state)
{
    (void)state;
    struct config *cfg;
    struct pass p;
    model_t *m = tree_model(&cfg, &p, overlapping);
    model_effects_clear(&p.fx);
    struct model_effects fx;
    model_effects_init(&fx);
    struct record *r;
    pool_event(m, &fx, "ev-alloc", "AllocateIpamPoolCidr", T0 + 1000, "ipam-pool-alloc-new",
               "10.0.32.0/19");
    model_effects_clear(&fx);
    /* A pass in progress at save time continues after the load. */
    struct pass q;
    base_pass(&q, m, "pass-2", T0 + 60000, NULL, true);
    model_effects_clear(&q.fx);

    char path[128], err[512], before[4096], after[4096];
    snprintf(path, sizeof path, "%s/model.snap", testing_tmpdir);
    assert_int_equal(model_save(m, path, err, sizeof err), 0);
    figures_text(m, before, sizeof before);
    model_t *l = model_load(cfg, path, err, sizeof err);
    if (!l)
        fail_msg("model_load: %s", err);
    figures_text(l, after, sizeof after);
    assert_string_equal(before, after);
    struct model_stats st;
    model_get_stats(l, &st);
    assert_int_equal(st.overlaps, 4);

    /* Replays of what came before the save produce nothing. */
    r = event("ev-alloc", "AllocateIpamPoolCidr", T0 + 1000);
    record_str_set(&r->u.event.pool_id, POOL_P);
    record_str_set(&r->u.event.allocation_id, "ipam-pool-alloc-new");
    record_str_set(&r->u.event.cidr, "10.0.32.0/19");
    apply(l, r, &fx);
    assert_int_equal(fx.n, 0);
    struct pass again;
    base_pass(&again, l, "pass-1", T0, overlapping, true);
    pass_end(&again, true, 0);
    assert_int_equal(again.fx.n, 0);
    model_effects_clear(&again.fx);

    /* The staged pass finishes in the loaded model: overlaps close, the pass applies. */
    q.m = l;
    pass_end(&q, true, 0);
    assert_int_equal(count_kind(&q.fx, "pass"), 1);
    assert_int_equal(count_kind(&q.fx, "overlap_closed"), 4);
    model_effects_clear(&q.fx);

    /* A truncated file is refused, and a missing one says so. */
    assert_int_equal(truncate(path, 40), 0);
    assert_null(model_load(cfg, path, err, sizeof err));
    snprintf(path, sizeof path, "%s/missing.snap", testing_tmpdir);
    assert_null(model_load(cfg, path, err, sizeof err));
    assert_non_null(strstr(err, "No such file"));
    model_free(l);
    model_free(m);
    config_free(cfg);
}

static void test_drop_scope(void **state)
{
    (void)state;
    struct config *cfg;
    struct pass p;
    model_t *m = tree_model(&cfg, &p, overlapping);
    model_effects_clear(&p.fx);
    model_drop_scope(m, SCOPE);
    model_drop_scope(m, "ipam-scope-unknown");
    struct objs os;
    figures(m, &os);
    assert_int_equal(os.n, 0);
    struct model_stats st;
    model_get_stats(m, &st);
    assert_int_equal(st.overlaps, 0);
    assert_int_equal(st.scopes, 0);
    model_free(m);
    config_free(cfg);
}

static void test_golden_records(void **state)
{
    (void)state;
    model_t *m = model_new(NULL);
    struct model_effects fx;
    model_effects_init(&fx);
    for (size_t i = 0; i < NGOLDEN; i++) {
        char err[512];
        size_t n;
        char *buf = golden(golden_names[i], &n);
        struct record *r = NULL;
        if (record_decode(buf, n, &r, err, sizeof err) < 0)
            fail_msg("%s: %s", golden_names[i], err);
        free(buf);
        apply(m, r, &fx);
    }
    /* The golden pass_end says complete=false: the pass is torn and nothing is applied. */
    assert_non_null(find_effect(&fx, "pass_torn", "ipam-admin-1/1741946400000"));
    assert_non_null(find_effect(&fx, "vpc_created", "7e6d5c4b"));
    assert_non_null(find_effect(&fx, "allocation_failed", "0d6f4b2a"));
    assert_non_null(find_effect(&fx, "release", "f3b2a1c0"));
    assert_non_null(find_effect(&fx, "event_unparsed", "b1c2d3e4"));
    struct model_stats st;
    model_get_stats(m, &st);
    assert_int_equal(st.pools, 0);
    model_effects_clear(&fx);
    model_free(m);
}

static void test_bad_cidr_counts_toward_pass(void **state)
{
    (void)state;
    model_t *m = model_new(NULL);
    struct pass p;
    pass_begin(&p, m, "pass-1", T0);
    pool_rec(&p, POOL_P, NULL, 20);
    pool_cidr_rec(&p, POOL_P, "10.0.0.0/16", "provisioned");
    struct record *r = env(RECORD_ALLOCATION, "pass-1");
    record_str_set(&r->u.allocation.pool_id, POOL_P);
    record_str_set(&r->u.allocation.allocation_id, "bad");
    record_str_set(&r->u.allocation.cidr, "10.0.0.1/16");
    char err[256];
    assert_int_equal(model_apply(m, r, &p.fx, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "10.0.0.0/16"));
    record_free(r);
    p.counts[RECORD_ALLOCATION]++;
    pass_end(&p, true, 0);
    assert_int_equal(count_kind(&p.fx, "pass"), 1);
    model_effects_clear(&p.fx);
    struct objs os;
    figures(m, &os);
    expect("used", need(&os, "pool", POOL_P)->s.used, 0);
    model_free(m);
}

/* Thousands of resource CIDRs added, replaced and removed at random (pass-less records and
 * DeleteSubnet events) are counted, reported and saved exactly as a plain list says. */
struct ref_res {
    char id[32], cidr[32];
    bool live;
};

static void count_subnets(void *ctx, const char *kind, const char *id, const char *scope_id,
                          const struct rrd_sample *s)
{
    (void)id;
    (void)scope_id;
    (void)s;
    if (strcmp(kind, "subnet") == 0)
        (*(size_t *)ctx)++;
}

static void check_against(model_t *m, const struct ref_res *ref, size_t n)
{
    size_t want = 0, ids = 0, got_ids = 0;
    for (size_t i = 0; i < n; i++) {
        want += ref[i].live;
        bool first = ref[i].live;
        for (size_t j = 0; j < i && first; j++)
            first = !(ref[j].live && strcmp(ref[j].id, ref[i].id) == 0);
        ids += first;
    }
    struct model_stats st;
    model_get_stats(m, &st);
    assert_int_equal(st.resource_cidrs, want);
    model_metrics(m, count_subnets, &got_ids);
    assert_int_equal(got_ids, ids);
}

static void test_many_resources_random(void **state)
{
    (void)state;
    unsigned seed = testing_seed();
    srand(seed);
    enum { NIDS = 300, NOPS = 4000 };
    struct ref_res *ref = calloc(NIDS * 4, sizeof *ref);
    assert_non_null(ref);
    size_t nref = 0;
    model_t *m = model_new(NULL);
    struct model_effects fx;
    model_effects_init(&fx);
    for (int op = 0; op < NOPS; op++) {
        int id = rand() % NIDS;
        char rid[32], cidr[32];
        snprintf(rid, sizeof rid, "subnet-%04d", id);
        if (rand() % 4 == 0) {
            char evid[32];
            snprintf(evid, sizeof evid, "ev-%d", op);
            struct record *r = event(evid, "DeleteSubnet", T0 + op);
            record_str_set(&r->u.event.resource_id, rid);
            apply(m, r, &fx);
            for (size_t i = 0; i < nref; i++)
                if (strcmp(ref[i].id, rid) == 0)
                    ref[i].live = false;
        } else {
            snprintf(cidr, sizeof cidr, "10.%d.%d.0/24", id % 256, rand() % 4);
            struct record *r = env(RECORD_RESOURCE_CIDR, NULL);
            struct record_resource_cidr *rc = &r->u.resource_cidr;
            record_str_set(&rc->scope_id, SCOPE);
            record_str_set(&rc->resource_type, "subnet");
            record_str_set(&rc->resource_id, rid);
            record_str_set(&rc->cidr, cidr);
            record_str_set(&rc->vpc_id, "vpc-0001");
            apply(m, r, &fx);
            size_t i = 0;
            while (i < nref && !(strcmp(ref[i].id, rid) == 0 && strcmp(ref[i].cidr, cidr) == 0))
                i++;
            if (i == nref) {
                nref++;
                snprintf(ref[i].id, sizeof ref[i].id, "%s", rid);
                snprintf(ref[i].cidr, sizeof ref[i].cidr, "%s", cidr);
            }
            ref[i].live = true;
        }
        model_effects_clear(&fx);
        if (op % 500 == 499)
            check_against(m, ref, nref);
    }
    check_against(m, ref, nref);
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/many.snap", testing_tmpdir);
    assert_int_equal(model_save(m, path, err, sizeof err), 0);
    model_t *l = model_load(NULL, path, err, sizeof err);
    if (!l)
        fail_msg("model_load: %s", err);
    check_against(l, ref, nref);
    model_free(l);
    model_free(m);
    free(ref);
}

/* The tables' hash is pinned: the order of a snapshot's pools, pool CIDRs and allocations
 * follows it, so a changed constant would change snapshot bytes. */
static void test_hash_values(void **state)
{
    (void)state;
    assert_true(hash_fnv1a("", false) == UINT64_C(0x14650fb0739d0383));
    assert_true(hash_fnv1a("a", false) == UINT64_C(0x44bd8ad473cd9906));
    assert_true(hash_fnv1a("ipam-pool-0123456789abcdef0", false) == UINT64_C(0xb7d68a0c8e97d548));
    assert_true(hash_fnv1a("", true) == UINT64_C(0xe36f5519ee926a53));
    assert_true(hash_fnv1a("a", true) == UINT64_C(0x6cd53dd3a3028c95));
    assert_true(hash_fnv1a("eni-00010000000006189", true) == UINT64_C(0xe88f20cbaa261a84));
}

/* Reads the whole file at `path` into a NUL-terminated buffer (owned by the caller). */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        buf = xgrow(buf, &cap, n + 65536 + 1, 1);
        got = fread(buf + n, 1, 65536, f);
        n += got;
    } while (got > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The name of resource i of test_snapshot_usage_and_strings(): every fifth needs JSON
 * escapes. */
static void usage_name(int i, char *buf, size_t len)
{
    static const char esc[] = {'"', '\\', '\t', 0x01, 0x1f};
    if (i % 5 == 0) { /* one byte to escape, at any position of a 24-byte name */
        snprintf(buf, len, "name-%05d-abcdefghijklm", i);
        buf[(i / 5) % 24] = esc[(i / 5) % sizeof esc];
    } else if (i % 5 == 1) {
        snprintf(buf, len, "name-%05d-\xc3\xa9\xe2\x82\xac", i); /* UTF-8, nothing to escape */
    } else {
        snprintf(buf, len, "name-%05d", i);
    }
}

/* Thousands of resource CIDRs, each with its own VPC id and name (the string table grows
 * through several sizes; some names need escapes) and ip_usage values of every kind: the
 * snapshot writes each usage as printf's %.17g does, every name is still found, before and
 * after a load, and a loaded snapshot saves to the same bytes. */
static void test_snapshot_usage_and_strings(void **state)
{
    (void)state;
    unsigned seed = testing_seed(), rs = seed | 1;
    enum { N = 3000 };
    static const double fixed[] = {NAN,
                                   0.0,
                                   1.0,
                                   0.5,
                                   0.75,
                                   0.1,
                                   0.01,
                                   0.001,
                                   1e-4,
                                   9.9e-5,
                                   1e-5,
                                   0.9934,
                                   0.3837,
                                   0.125,
                                   0x1.fffffffffffffp-1,
                                   0x1.999999999999ap-4,
                                   0x1.9999999999999p-4,
                                   0x1.47ae147ae147bp-7,
                                   0x1.47ae147ae147ap-7,
                                   0x1.a36e2eb1c432dp-14,
                                   0x1.a36e2eb1c432cp-14};
    double *usage = xcalloc(N, sizeof *usage);
    model_t *m = model_new(NULL);
    struct pass p;
    pass_begin(&p, m, "pass-u", T0);
    for (int i = 0; i < N; i++) {
        size_t nf = sizeof fixed / sizeof *fixed;
        if ((size_t)i < nf) {
            usage[i] = fixed[i];
        } else if (i % 2) {
            usage[i] = (double)(testing_xorshift(&rs) % 10001) / 10000.0;
        } else { /* any double in [2^-14, 1) */
            uint64_t bits = (UINT64_C(0x3F1) << 52) +
                            (((uint64_t)testing_xorshift(&rs) << 32 | testing_xorshift(&rs)) %
                             (UINT64_C(0xE) << 52));
            memcpy(&usage[i], &bits, sizeof bits);
        }
        char id[32], vpc[32], name[32], cidr[32];
        snprintf(id, sizeof id, "subnet-%05d", i);
        snprintf(vpc, sizeof vpc, "vpc-%05d", i);
        usage_name(i, name, sizeof name);
        snprintf(cidr, sizeof cidr, "10.%d.%d.0/24", i / 256, i % 256);
        struct record *r = res_record(&p, "subnet", id, cidr, vpc, NULL,
                                      i % 3 ? "compliant" : "noncompliant", usage[i]);
        record_str_set(&r->u.resource_cidr.name, name);
        feed(&p, r);
    }
    pass_end(&p, true, 0);
    assert_int_equal(count_kind(&p.fx, "noncompliant"), (N + 2) / 3);
    model_effects_clear(&p.fx);

    char path[128], path2[128], err[512];
    snprintf(path, sizeof path, "%s/usage.snap", testing_tmpdir);
    snprintf(path2, sizeof path2, "%s/usage2.snap", testing_tmpdir);
    assert_int_equal(model_save(m, path, err, sizeof err), 0);
    size_t len, len2;
    char *text = slurp(path, &len);
    int lines = 0;
    for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = '\0';
        int i;
        if (sscanf(line, "{\"rc\":[\"subnet-%d\"", &i) != 1)
            continue;
        assert_true(i >= 0 && i < N);
        const char *v = strrchr(line, ',') + 1;
        char want[64];
        if (isnan(usage[i]))
            snprintf(want, sizeof want, "null]}");
        else
            snprintf(want, sizeof want, "%.17g]}", usage[i]);
        if (strcmp(v, want) != 0)
            fail_msg("seed %u: usage %a written as %s, want %s", seed, usage[i], v, want);
        lines++;
    }
    assert_int_equal(lines, N);
    free(text);

    model_t *l = model_load(NULL, path, err, sizeof err);
    if (!l)
        fail_msg("model_load: %s", err);
    for (int i = 0; i < N; i += 3) {
        char id[32], name[32];
        const char *got = NULL, *got_l = NULL;
        snprintf(id, sizeof id, "subnet-%05d", i);
        usage_name(i, name, sizeof name);
        assert_int_equal(model_object_name(m, "subnet", id, &got, NULL), 0);
        assert_int_equal(model_object_name(l, "subnet", id, &got_l, NULL), 0);
        assert_non_null(got);
        assert_non_null(got_l);
        assert_string_equal(got, name);
        assert_string_equal(got_l, name);
    }
    assert_int_equal(model_save(l, path2, err, sizeof err), 0);
    text = slurp(path, &len);
    char *text2 = slurp(path2, &len2);
    assert_int_equal(len, len2);
    assert_memory_equal(text, text2, len);
    free(text);
    free(text2);
    model_free(l);
    model_free(m);
    free(usage);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_tree_figures),
        cmocka_unit_test(test_fragmented_pool),
        cmocka_unit_test(test_torn_passes),
        cmocka_unit_test(test_pass_replaces_state),
        cmocka_unit_test(test_child_pool_without_allocation),
        cmocka_unit_test(test_events_between_passes),
        cmocka_unit_test(test_replay_is_idempotent),
        cmocka_unit_test(test_overlap_pairs),
        cmocka_unit_test(test_unmanaged_journaled),
        cmocka_unit_test(test_effects_in_portions),
        cmocka_unit_test(test_state_effects_compact),
        cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_drop_scope),
        cmocka_unit_test(test_golden_records),
        cmocka_unit_test(test_bad_cidr_counts_toward_pass),
        cmocka_unit_test(test_many_resources_random),
        cmocka_unit_test(test_hash_values),
        cmocka_unit_test(test_snapshot_usage_and_strings),
    };
    return cmocka_run_group_tests(tests, testing_tmpdir_setup, testing_tmpdir_teardown);
}
