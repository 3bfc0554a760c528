/* fixtures: what the model, alert engine and alert wiring unit tests share: a configuration
 * written into the group's directory, and inventory records built and fed to a model as one
 * collector pass.
 *
 * DESIGN: a test group runs testing_tmpdir_setup / testing_tmpdir_teardown; fixture_load_cfg()
 * writes its configuration there. The *_record() builders return a record with the fields a
 * test almost always wants, for the test to add more before feed(); the *_rec() helpers feed
 * it straight away. A failure fails the running test (cmocka). */
#ifndef IPAMWATCH_FIXTURES_H
#define IPAMWATCH_FIXTURES_H

#include "testing.h"

#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

#include "analyzer/model.h"
#include "config/config.h"
#include "record.h"

#define SCOPE  "ipam-scope-0aaaaaaaaaaaaaaaa"
#define POOL_P "ipam-pool-0top00000000000000"
#define POOL_C "ipam-pool-0child0000000000000"
#define T0     1741946400000LL /* 2025-03-14T10:00:00Z */

/* Writes testing_tmpdir/test.conf (mode 0600): a [kafka] section pointing nowhere, then text,
 * and loads it. Returns the configuration (owned by the caller, config_free); fails the test
 * when it does not load. */
static inline struct config *fixture_load_cfg(const char *text)
{
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/test.conf", testing_tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("[kafka]\nbootstrap.servers = 127.0.0.1:9\n", f);
    fputs(text, f);
    fclose(f);
    chmod(path, 0600);
    struct config *cfg = config_load(path, NULL, 0, err, sizeof err);
    if (!cfg)
        fail_msg("config_load: %s", err);
    return cfg;
}

/* One collector pass being fed to a model: the records sent so far per type (for pass_end's
 * counts) and the effects the model produced. */
struct pass {
    model_t *m;
    const char *pass_id;
    int64_t started;
    int64_t counts[RECORD_TYPE_COUNT];
    struct model_effects fx;
};

/* A new record of type t from scope SCOPE, source collector/test, pass pass_id, time T0;
 * owned by the caller. */
static inline struct record *env(enum record_type t, const char *pass_id)
{
    struct record *r = record_new(t);
    record_str_set(&r->scope, SCOPE);
    record_str_set(&r->source, "collector/test");
    record_str_set(&r->pass_id, pass_id);
    r->ts_ms = T0;
    return r;
}

/* Applies r (stolen) to m, effects into fx; fails the test when model_apply() fails. */
static inline void apply(model_t *m, struct record *r, struct model_effects *fx)
{
    char err[256];
    int rc = model_apply(m, r, fx, err, sizeof err);
    if (rc != 0)
        fail_msg("model_apply(%s): %d %s", record_type_name(r->type), rc, err);
    record_free(r);
}

/* Counts r (stolen) in the pass and applies it. */
static inline void feed(struct pass *p, struct record *r)
{
    p->counts[r->type]++;
    apply(p->m, r, &p->fx);
}

/* Starts pass pass_id (borrowed for the pass's life) on m, collector "test". */
static inline void pass_begin(struct pass *p, model_t *m, const char *pass_id, int64_t started)
{
    memset(p, 0, sizeof *p);
    p->m = m;
    p->pass_id = pass_id;
    p->started = started;
    model_effects_init(&p->fx);
    struct record *r = env(RECORD_PASS_BEGIN, pass_id);
    record_str_set(&r->u.pass_begin.collector_id, "test");
    r->u.pass_begin.started_ms = started;
    apply(m, r, &p->fx);
}

/* Sends pass_end; `skew` is added to the pool count to make the counts disagree. */
static inline void pass_end(struct pass *p, bool complete, int skew)
{
    struct record *r = env(RECORD_PASS_END, p->pass_id);
    memcpy(r->u.pass_end.counts, p->counts, sizeof p->counts);
    r->u.pass_end.counts[RECORD_POOL] += skew;
    r->u.pass_end.complete = complete;
    if (!complete)
        record_str_set(&r->u.pass_end.error, "GetIpamResourceCidrs: throttled");
    apply(p->m, r, &p->fx);
}

/* The private scope SCOPE. */
static inline struct record *scope_record(const struct pass *p)
{
    struct record *r = env(RECORD_SCOPE, p->pass_id);
    record_str_set(&r->u.scope.scope_id, SCOPE);
    record_str_set(&r->u.scope.scope_type, "private");
    return r;
}

static inline void scope_rec(struct pass *p)
{
    feed(p, scope_record(p));
}

/* IPv4 pool id in SCOPE under parent (NULL: top level), default netmask /netmask. */
static inline struct record *pool_record(const struct pass *p, const char *id, const char *parent,
                                         int netmask)
{
    struct record *r = env(RECORD_POOL, p->pass_id);
    record_str_set(&r->u.pool.pool_id, id);
    record_str_set(&r->u.pool.scope_id, SCOPE);
    record_str_set(&r->u.pool.parent, parent);
    record_str_set(&r->u.pool.address_family, "ipv4");
    r->u.pool.allocation_default_netmask = netmask;
    return r;
}

static inline void pool_rec(struct pass *p, const char *id, const char *parent, int netmask)
{
    feed(p, pool_record(p, id, parent, netmask));
}

static inline void pool_cidr_rec(struct pass *p, const char *pool, const char *cidr,
                                 const char *state)
{
    struct record *r = env(RECORD_POOL_CIDR, p->pass_id);
    record_str_set(&r->u.pool_cidr.pool_id, pool);
    record_str_set(&r->u.pool_cidr.cidr, cidr);
    record_str_set(&r->u.pool_cidr.state, state);
    feed(p, r);
}

static inline void alloc_rec(struct pass *p, const char *pool, const char *id, const char *cidr,
                             const char *type, const char *resource)
{
    struct record *r = env(RECORD_ALLOCATION, p->pass_id);
    record_str_set(&r->u.allocation.pool_id, pool);
    record_str_set(&r->u.allocation.allocation_id, id);
    record_str_set(&r->u.allocation.cidr, cidr);
    record_str_set(&r->u.allocation.resource_type, type);
    record_str_set(&r->u.allocation.resource_id, resource);
    feed(p, r);
}

/* Resource CIDR in SCOPE; vpc and pool may be NULL; usage NAN: unknown. */
static inline struct record *res_record(const struct pass *p, const char *type, const char *id,
                                        const char *cidr, const char *vpc, const char *pool,
                                        const char *compliance, double usage)
{
    struct record *r = env(RECORD_RESOURCE_CIDR, p->pass_id);
    record_str_set(&r->u.resource_cidr.scope_id, SCOPE);
    record_str_set(&r->u.resource_cidr.resource_type, type);
    record_str_set(&r->u.resource_cidr.resource_id, id);
    record_str_set(&r->u.resource_cidr.cidr, cidr);
    record_str_set(&r->u.resource_cidr.vpc_id, vpc);
    record_str_set(&r->u.resource_cidr.pool_id, pool);
    record_str_set(&r->u.resource_cidr.compliance_status, compliance);
    r->u.resource_cidr.ip_usage = usage;
    return r;
}

static inline void res_rec(struct pass *p, const char *type, const char *id, const char *cidr,
                           const char *vpc, const char *pool, const char *compliance, double usage)
{
    feed(p, res_record(p, type, id, cidr, vpc, pool, compliance, usage));
}

#endif
