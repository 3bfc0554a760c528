/* Unit tests for the pieces that wire alerts into the analyzer: object descriptions from the
 * model (model_metrics_objects), the engine's list of firing alerts after a restart
 * (alert_engine_foreach_firing), notification ids that a replay after a crash repeats, also
 * for the alerts the wall clock fires (stale and forecast rules: one page per sink across a
 * kill), Alertmanager re-posts of adopted alerts without a notification
 * (sinks_adopt_firing), and unmanaged effects reaching the rules that ask for them. */
#include "testing.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alerts/engine.h"
#include "alerts/sinks.h"
#include "analyzer/analyzer_alerts.h"
#include "analyzer/model.h"
#include "analyzer/rrd_store.h"
#include "config/config.h"
#include "fixtures.h"
#include "record.h"
#include "xalloc.h"

/* ---- model_metrics_objects ------------------------------------------------------------ */

/* Pool id named `name` (tag Name; tag Purpose = vpc) in locale (NULL: none), provisioned cidr. */
static void named_pool(struct pass *p, const char *id, const char *parent, int netmask,
                       const char *name, const char *locale, const char *cidr)
{
    struct record *r = pool_record(p, id, parent, netmask);
    record_str_set(&r->u.pool.locale, locale);
    record_map_set(&r->u.pool.tags, "Name", name);
    record_map_set(&r->u.pool.tags, "Purpose", "vpc");
    feed(p, r);
    pool_cidr_rec(p, id, cidr, "provisioned");
}

/* A compliant resource CIDR (half used) named `name` in region. */
static void named_res(struct pass *p, const char *type, const char *id, const char *cidr,
                      const char *vpc, const char *pool, const char *name, const char *region)
{
    struct record *r = res_record(p, type, id, cidr, vpc, pool, "compliant", 0.5);
    record_str_set(&r->u.resource_cidr.name, name);
    record_str_set(&r->u.resource_cidr.region, region);
    feed(p, r);
}

/* Top pool P 10.0.0.0/16 "Top" (default /20), child C 10.0.0.0/20 "Child" in eu-central-1
 * (default /24) allocated from P, vpc-2 10.0.0.0/22 from C in eu-west-1 with subnet-2a. */
static model_t *tree(const struct config *cfg)
{
    struct pass p;
    pass_begin(&p, model_new(cfg), "p1", T0);
    struct record *r = scope_record(&p);
    record_str_set(&r->u.scope.description, "Private scope");
    feed(&p, r);
    named_pool(&p, POOL_P, NULL, 20, "Top", NULL, "10.0.0.0/16");
    named_pool(&p, POOL_C, POOL_P, 24, "Child", "eu-central-1", "10.0.0.0/20");
    alloc_rec(&p, POOL_P, "ipam-pool-alloc-c", "10.0.0.0/20", "ipam-pool", POOL_C);
    alloc_rec(&p, POOL_C, "ipam-pool-alloc-v2", "10.0.0.0/22", "vpc", "vpc-2");
    named_res(&p, "vpc", "vpc-2", "10.0.0.0/22", "vpc-2", POOL_C, "app-vpc", "eu-west-1");
    named_res(&p, "subnet", "subnet-2a", "10.0.0.0/24", "vpc-2", NULL, "app-a", "eu-west-1");
    pass_end(&p, true, 0);
    bool accepted = false;
    for (size_t i = 0; i < p.fx.n; i++)
        accepted |= strcmp(p.fx.items[i].kind, "pass") == 0;
    assert_true(accepted);
    model_effects_clear(&p.fx);
    free(p.fx.items);
    return p.m;
}

#define MAX_OBJS 16

struct seen {
    char kind[16], id[64], name[32], locale[32], pools[3][64], pool_names[3][32];
    size_t n_pools;
    int netmask, family;
    bool tagged;
    double utilization;
};

struct seen_list {
    struct seen v[MAX_OBJS];
    size_t n;
};

static void copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "-");
}

static void on_object(void *ctx, const struct model_object *o, const struct rrd_sample *s)
{
    struct seen_list *l = ctx;
    assert_true(l->n < MAX_OBJS);
    struct seen *x = &l->v[l->n++];
    memset(x, 0, sizeof *x);
    copy(x->kind, sizeof x->kind, o->kind);
    copy(x->id, sizeof x->id, o->id);
    copy(x->name, sizeof x->name, o->name);
    copy(x->locale, sizeof x->locale, o->locale);
    assert_string_equal(o->scope_id, SCOPE);
    x->n_pools = o->n_pools;
    for (size_t i = 0; i < o->n_pools && i < 3; i++) {
        copy(x->pools[i], sizeof x->pools[i], o->pools[i]);
        copy(x->pool_names[i], sizeof x->pool_names[i], o->pool_names[i]);
    }
    x->netmask = o->default_netmask;
    x->family = o->family;
    x->tagged = o->tags && record_map_get(o->tags, "Purpose");
    x->utilization = s->utilization;
}

struct plain_list {
    char ids[MAX_OBJS][64];
    double utilization[MAX_OBJS];
    size_t n;
};

static void on_plain(void *ctx, const char *kind, const char *id, const char *scope_id,
                     const struct rrd_sample *s)
{
    (void)kind;
    (void)scope_id;
    struct plain_list *l = ctx;
    assert_true(l->n < MAX_OBJS);
    snprintf(l->ids[l->n], sizeof l->ids[l->n], "%s", id);
    l->utilization[l->n++] = s->utilization;
}

static const struct seen *find(const struct seen_list *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].id, id) == 0)
            return &l->v[i];
    fail_msg("no object %s", id);
    return NULL;
}

static void test_object_descriptions(void **state)
{
    (void)state;
    struct config *cfg = fixture_load_cfg("");
    model_t *m = tree(cfg);
    struct seen_list l = {.n = 0};
    assert_int_equal(model_metrics_objects(m, NULL, on_object, &l), 0);
    assert_int_equal(l.n, 5); /* 2 pools, the scope, 1 VPC, 1 subnet */

    const struct seen *c = find(&l, POOL_C);
    assert_string_equal(c->kind, "pool");
    assert_string_equal(c->name, "Child");
    assert_string_equal(c->locale, "eu-central-1");
    assert_int_equal(c->n_pools, 2); /* itself, then its parent */
    assert_string_equal(c->pools[0], POOL_C);
    assert_string_equal(c->pools[1], POOL_P);
    assert_string_equal(c->pool_names[1], "Top");
    assert_int_equal(c->netmask, 24);
    assert_int_equal(c->family, 4);
    assert_true(c->tagged);

    const struct seen *p = find(&l, POOL_P);
    assert_int_equal(p->n_pools, 1);
    assert_string_equal(p->locale, "-");
    assert_int_equal(p->netmask, 20);

    const struct seen *v = find(&l, "vpc-2");
    assert_string_equal(v->kind, "vpc");
    assert_string_equal(v->name, "app-vpc");
    assert_string_equal(v->locale, "eu-west-1");
    assert_int_equal(v->n_pools, 2); /* the pool it came from, up to the top */
    assert_string_equal(v->pools[0], POOL_C);
    assert_string_equal(v->pool_names[0], "Child");
    assert_string_equal(v->pools[1], POOL_P);
    assert_false(v->tagged);
    assert_int_equal(v->family, 4);

    const struct seen *s = find(&l, "subnet-2a");
    assert_string_equal(s->name, "app-a");
    assert_int_equal(s->n_pools, 0); /* a subnet record names no pool */

    const struct seen *sc = find(&l, SCOPE);
    assert_string_equal(sc->kind, "scope");
    assert_string_equal(sc->name, "Private scope");

    /* The same figures as model_metrics(), object for object; one scope gives the same. */
    struct plain_list pl = {.n = 0};
    model_metrics(m, on_plain, &pl);
    assert_int_equal(pl.n, l.n);
    for (size_t i = 0; i < pl.n; i++) {
        const struct seen *x = find(&l, pl.ids[i]);
        if (isnan(pl.utilization[i]))
            assert_true(isnan(x->utilization));
        else
            assert_true(fabs(x->utilization - pl.utilization[i]) < 1e-9);
    }
    assert_true(fabs(c->utilization - 100.0 * 1024 / 4096) < 1e-9);
    struct seen_list one = {.n = 0};
    model_metrics_objects(m, SCOPE, on_object, &one);
    assert_int_equal(one.n, l.n);
    struct seen_list none = {.n = 0};
    model_metrics_objects(m, "ipam-scope-0unknown", on_object, &none);
    assert_int_equal(none.n, 0);
    model_free(m);
    config_free(cfg);
}

/* ---- alert_engine_foreach_firing ------------------------------------------------------ */

/* The first notifications an engine sent: fingerprint, id and state, in emission order. */
struct emitted {
    char fp[8][32];
    char id[8][32];
    char state[8][16];
    size_t n;
};

static void capture(void *ctx, const struct record *rec)
{
    struct emitted *e = ctx;
    if (e->n >= 8)
        return;
    assert_non_null(rec->u.alert.id);
    snprintf(e->fp[e->n], sizeof e->fp[e->n], "%s", rec->u.alert.fingerprint);
    snprintf(e->id[e->n], sizeof e->id[e->n], "%s", rec->u.alert.id);
    snprintf(e->state[e->n], sizeof e->state[e->n], "%s", rec->u.alert.state);
    e->n++;
}

static struct rrd_sample util(double pct)
{
    struct rrd_sample s = rrd_sample_unknown();
    s.size = 1000;
    s.used = pct * 10;
    s.free = s.size - s.used;
    s.utilization = pct;
    return s;
}

static struct alert_object pool_obj(const char *id)
{
    static const char *pools[1];
    pools[0] = id;
    return (struct alert_object){.kind = CONFIG_OBJECT_POOL,
                                 .id = id,
                                 .scope_id = SCOPE,
                                 .pools = pools,
                                 .n_pools = 1,
                                 .family = 4};
}

/* Rule "util" (utilization, warning at 80 %, critical at 90 %) and then `more`; the path of
 * state file `name` in the group's directory, which does not exist, into path. */
static struct config *util_cfg(const char *more, const char *name, char *path, size_t len)
{
    char *text = xasprintf("[rule \"util\"]\ntype = utilization\nwarn_trigger = 80\n"
                           "crit_trigger = 90\n%s",
                           more);
    struct config *cfg = fixture_load_cfg(text);
    free(text);
    snprintf(path, len, "%s/%s", testing_tmpdir, name);
    unlink(path);
    return cfg;
}

static void test_foreach_firing_after_restart(void **state)
{
    (void)state;
    char path[128], err[256];
    struct config *cfg = util_cfg("for = 10m\n", "alerts.json", path, sizeof path);
    struct emitted first = {.n = 0};
    alert_engine_t *e = alert_engine_new(cfg, path, NULL, capture, &first, err, sizeof err);
    assert_non_null(e);
    struct alert_object a = pool_obj("ipam-pool-0a"), b = pool_obj("ipam-pool-0b");
    struct rrd_sample hot = util(95), warm = util(85);
    alert_engine_observe(e, &a, &hot, T0);  /* warning + critical, pending */
    alert_engine_observe(e, &b, &warm, T0); /* warning, pending */
    struct emitted none = {.n = 0};
    assert_int_equal(alert_engine_foreach_firing(e, capture, &none), 0); /* pending only */
    alert_engine_observe(e, &a, &hot, T0 + 11 * 60000);
    assert_int_equal(alert_engine_save(e, err, sizeof err), 0);
    alert_engine_free(e);

    /* After a restart: a's two alerts are firing and reported, b's pending one is not; the
     * report emits nothing through the engine's own callback. */
    struct emitted again = {.n = 0}, listed = {.n = 0};
    e = alert_engine_new(cfg, path, NULL, capture, &again, err, sizeof err);
    assert_non_null(e);
    assert_int_equal(alert_engine_foreach_firing(e, capture, &listed), 2);
    assert_int_equal(again.n, 0);
    for (size_t i = 0; i < listed.n; i++) {
        assert_string_equal(listed.state[i], "firing");
        bool known = false; /* the fingerprints of the first run's firing notifications */
        for (size_t j = 0; j < first.n; j++)
            known |=
                strcmp(first.fp[j], listed.fp[i]) == 0 && strcmp(first.state[j], "firing") == 0;
        assert_true(known);
    }
    struct alert_engine_stats st;
    alert_engine_get_stats(e, &st);
    assert_int_equal(st.emitted, 0);
    alert_engine_free(e);
    config_free(cfg);
}

/* What a run after a crash does: the state of the last checkpoint, the same records again,
 * on a later wall clock. The fire, the repeat and the resolve carry the same ids as in the
 * first run (the sinks drop them as spooled before); the three ids differ from each other. */
static void test_notification_ids_replay(void **state)
{
    (void)state;
    char path[128], err[256];
    struct config *cfg =
        util_cfg("for = 0s\nrepeat_interval = 1h\n", "alerts-ids.json", path, sizeof path);
    struct alert_object a = pool_obj("ipam-pool-0a");
    struct rrd_sample warm = util(85), cool = util(10);
    const int64_t hour = 3600 * 1000;
    struct emitted run[2];
    for (int r = 0; r < 2; r++) {
        int64_t wall = T0 + r * 10 * hour; /* the second run comes ten hours later */
        memset(&run[r], 0, sizeof run[r]);
        alert_engine_t *e = alert_engine_new(cfg, path, NULL, capture, &run[r], err, sizeof err);
        assert_non_null(e);
        if (r == 0)
            assert_int_equal(alert_engine_save(e, err, sizeof err), 0); /* the checkpoint */
        alert_engine_tick(e, wall);
        alert_engine_observe(e, &a, &warm, T0 + 1000); /* fires */
        alert_engine_tick(e, wall + hour + 2000);      /* repeats */
        alert_engine_observe(e, &a, &cool, T0 + 5000); /* resolves */
        alert_engine_free(e); /* killed: nothing saved after the checkpoint */
    }
    assert_int_equal(run[0].n, 3);
    assert_int_equal(run[1].n, 3);
    const char *want[] = {"firing", "firing", "resolved"};
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(run[0].state[i], want[i]);
        assert_string_equal(run[1].state[i], want[i]);
        assert_string_equal(run[0].id[i], run[1].id[i]);
        assert_int_equal(strlen(run[0].id[i]), 16);
    }
    assert_string_not_equal(run[0].id[0], run[0].id[1]);
    assert_string_not_equal(run[0].id[1], run[0].id[2]);
    assert_string_not_equal(run[0].id[0], run[0].id[2]);
    config_free(cfg);
}

/* ---- wall-clock alerts across a kill ---------------------------------------------------- */

/* An engine wired to sinks as the analyzer wires them: each notification goes to
 * sinks_submit(); its id and the number of sinks that spooled it are kept. */
struct wired {
    sinks_t *sinks;
    char id[8][32];
    char state[8][16];
    int spooled[8];
    size_t n;
};

static void to_sinks(void *ctx, const struct record *rec)
{
    struct wired *w = ctx;
    int rc = sinks_submit(w->sinks, rec);
    if (strcmp(rec->u.alert.state, "pending") == 0 || w->n >= 8)
        return;
    snprintf(w->id[w->n], sizeof w->id[w->n], "%s", rec->u.alert.id);
    snprintf(w->state[w->n], sizeof w->state[w->n], "%s", rec->u.alert.state);
    w->spooled[w->n++] = rc;
}

/* The "state id" of each line of JSON-lines file `path`, in order, into states/ids (at most
 * 8); returns the number of lines. */
static size_t file_lines(const char *path, char states[][16], char ids[][32])
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[8192];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        if (n < 8) {
            snprintf(states[n], 16, "%s", json_string_value(json_object_get(j, "state")));
            snprintf(ids[n], 32, "%s", json_string_value(json_object_get(j, "id")));
        }
        json_decref(j);
        n++;
    }
    fclose(f);
    return n;
}

/* Counters of the only sink of `s`. */
static struct sinks_stat sink_stat(sinks_t *s)
{
    struct sinks_stat st;
    assert_int_equal(sinks_count(s), 1);
    assert_int_equal(sinks_stats(s, 0, &st), 0);
    return st;
}

/* A stale alert fires on a tick, its notification is spooled, and the analyzer is killed
 * before the next checkpoint saves the alert state. The restart loads the checkpoint's state
 * (the alert not firing) and fires it again on a later tick: the same id, so the sink drops
 * it. A real second episode (a pass resolves it, the collector falls silent again) pages. */
static void test_stale_fire_after_kill(void **state)
{
    (void)state;
    char text[512], path[160], out[160], err[256];
    const int64_t min = 60000;
    snprintf(text, sizeof text,
             "[analyzer]\nstate_dir = %s/stale\n"
             "[rule \"silent\"]\ntype = stale\nmax_pass_age = 30m\n"
             "[sink \"file\"]\ntype = file\npath = %s/stale.jsonl\n",
             testing_tmpdir, testing_tmpdir);
    struct config *cfg = fixture_load_cfg(text);
    snprintf(path, sizeof path, "%s/stale-alerts.json", testing_tmpdir);
    snprintf(out, sizeof out, "%s/stale.jsonl", testing_tmpdir);
    struct sinks_opts o = {.drain_ms = 2000};

    /* First run: a pass, the checkpoint, then the tick that finds the collector silent. */
    struct wired first = {.sinks = sinks_new_opts(cfg, &o, err, sizeof err)};
    assert_non_null(first.sinks);
    alert_engine_t *e = alert_engine_new(cfg, path, NULL, to_sinks, &first, err, sizeof err);
    assert_non_null(e);
    alert_engine_pass(e, SCOPE, T0);
    assert_int_equal(alert_engine_save(e, err, sizeof err), 0); /* the checkpoint */
    alert_engine_tick(e, T0 + 20 * min);
    assert_int_equal(first.n, 0);
    alert_engine_tick(e, T0 + 31 * min);
    assert_int_equal(first.n, 1);
    assert_string_equal(first.state[0], "firing");
    assert_int_equal(first.spooled[0], 1);
    alert_engine_free(e); /* killed: no save after the checkpoint */
    sinks_free(first.sinks);

    /* The restart fires it again, minutes later on the wall clock: nothing new is spooled. */
    struct wired again = {.sinks = sinks_new_opts(cfg, &o, err, sizeof err)};
    assert_non_null(again.sinks);
    e = alert_engine_new(cfg, path, NULL, to_sinks, &again, err, sizeof err);
    assert_non_null(e);
    alert_engine_tick(e, T0 + 40 * min);
    assert_int_equal(again.n, 1);
    assert_string_equal(again.state[0], "firing");
    assert_string_equal(again.id[0], first.id[0]);
    assert_int_equal(again.spooled[0], 0);
    struct sinks_stat st = sink_stat(again.sinks);
    assert_int_equal(st.replayed, 1);
    assert_int_equal(st.submitted, 0);

    /* A pass ends it; a new silence fires a new episode, which pages. */
    alert_engine_pass(e, SCOPE, T0 + 50 * min);
    alert_engine_tick(e, T0 + 51 * min);
    alert_engine_tick(e, T0 + 70 * min);
    alert_engine_tick(e, T0 + 85 * min);
    assert_int_equal(again.n, 3);
    assert_string_equal(again.state[1], "resolved");
    assert_string_equal(again.state[2], "firing");
    assert_int_equal(again.spooled[1], 1);
    assert_int_equal(again.spooled[2], 1);
    assert_string_not_equal(again.id[2], first.id[0]);
    assert_int_equal(sinks_flush(again.sinks, 10000), 0);
    alert_engine_free(e);
    sinks_free(again.sinks);

    /* The file got each notification once: fire, resolve, the second fire. */
    char states[8][16], ids[8][32];
    assert_int_equal(file_lines(out, states, ids), 3);
    assert_string_equal(states[0], "firing");
    assert_string_equal(ids[0], first.id[0]);
    assert_string_equal(states[1], "resolved");
    assert_string_equal(ids[1], again.id[1]);
    assert_string_equal(states[2], "firing");
    assert_string_equal(ids[2], again.id[2]);
    config_free(cfg);
}

/* One forecast round at sample time `t` (seconds) over pool `id` with `used` of 16384, or
 * over no object at all when `id` is NULL. */
static void forecast_round(analyzer_alerts_t *aa, time_t t, const char *id, double used)
{
    analyzer_alerts_round_begin(aa, t, true);
    if (id) {
        struct model_object o = {
            .kind = "pool", .id = id, .scope_id = SCOPE, .n_pools = 1, .family = 4};
        o.pools[0] = id;
        struct rrd_sample s = rrd_sample_unknown();
        s.size = 16384;
        s.used = used;
        s.free = s.size - used;
        s.utilization = 100.0 * used / s.size;
        analyzer_alerts_object(aa, &o, &s);
    }
    analyzer_alerts_round_end(aa);
}

/* The same through the analyzer's alert module with a real RRD history: a pool growing
 * 100 addresses a day fills in about 124 days, inside the rule's 200. Its forecast alert fires
 * in a live round and is spooled; the analyzer is killed before the checkpoint; the restart
 * replays the round (on a later wall clock) and fires it again with the same id, which the
 * sink drops. Gone for a whole step, it resolves; back, it pages again. */
static void test_forecast_fire_after_kill(void **state)
{
    (void)state;
    const char *pool = "ipam-pool-0fc0000000000001";
    char text[768], dir[160], out[160], err[512];
    snprintf(text, sizeof text,
             "[analyzer]\nstate_dir = %s/fc\n[rrd]\ndir = %s/fc/rrd\nstep = 300s\n"
             "[journal]\ndir = %s/fc/journal\n"
             "[rule \"fills\"]\ntype = forecast\ndays = 200\n"
             "[sink \"file\"]\ntype = file\npath = %s/fc.jsonl\n",
             testing_tmpdir, testing_tmpdir, testing_tmpdir, testing_tmpdir);
    struct config *cfg = fixture_load_cfg(text);
    snprintf(dir, sizeof dir, "%s/fc/rrd", testing_tmpdir);
    snprintf(out, sizeof out, "%s/fc.jsonl", testing_tmpdir);
    rrd_store_t *rrd = rrd_store_new(dir, 300, NULL, err, sizeof err);
    if (!rrd)
        fail_msg("rrd_store_new: %s", err);
    time_t now = time(NULL);
    for (int h = 30 * 24; h >= 1; h--) { /* hourly, 30 days up to an hour ago */
        struct rrd_sample s = rrd_sample_unknown();
        s.size = 16384;
        s.used = 4000 - 100.0 * h / 24.0;
        s.free = s.size - s.used;
        s.utilization = 100.0 * s.used / s.size;
        assert_int_equal(rrd_store_update(rrd, "pool", pool, now - (time_t)h * 3600, &s), 0);
    }
    assert_int_equal(rrd_store_flush(rrd), 0);
    struct sinks_stat st;

    /* First run: the checkpoint (generation 1), then the live round that fires. */
    analyzer_alerts_t *aa = analyzer_alerts_new(cfg, rrd, 1, err, sizeof err);
    if (!aa)
        fail_msg("analyzer_alerts_new: %s", err);
    assert_int_equal(analyzer_alerts_checkpoint(aa, 1, err, sizeof err), 0);
    forecast_round(aa, now, pool, 4000);
    assert_int_equal(analyzer_alerts_sink_stats(aa, 0, &st), 0);
    assert_int_equal(st.submitted, 1);
    analyzer_alerts_free(aa); /* killed: the state stays the checkpoint's */
    struct timespec pause = {.tv_sec = 0, .tv_nsec = 20 * 1000000L};
    nanosleep(&pause, NULL); /* the restart's wall clock is later */

    /* The restart resumes from checkpoint 1 and replays the round: dropped as spooled. */
    aa = analyzer_alerts_new(cfg, rrd, 1, err, sizeof err);
    if (!aa)
        fail_msg("analyzer_alerts_new: %s", err);
    forecast_round(aa, now, pool, 4000);
    assert_int_equal(analyzer_alerts_sink_stats(aa, 0, &st), 0);
    assert_int_equal(st.replayed, 1);
    assert_int_equal(st.submitted, 0);

    /* Missing from two full rounds a step apart: resolved. Back a step later: a new fire. */
    forecast_round(aa, now + 300, NULL, 0);
    assert_int_equal(analyzer_alerts_sink_stats(aa, 0, &st), 0);
    assert_int_equal(st.submitted, 0);
    forecast_round(aa, now + 600, NULL, 0);
    assert_int_equal(analyzer_alerts_sink_stats(aa, 0, &st), 0);
    assert_int_equal(st.submitted, 1);
    forecast_round(aa, now + 900, pool, 4000);
    assert_int_equal(analyzer_alerts_sink_stats(aa, 0, &st), 0);
    assert_int_equal(st.submitted, 2);
    assert_int_equal(st.replayed, 1);
    analyzer_alerts_free(aa); /* delivers within its drain time */

    char states[8][16], ids[8][32];
    assert_int_equal(file_lines(out, states, ids), 3);
    assert_string_equal(states[0], "firing");
    assert_string_equal(states[1], "resolved");
    assert_string_equal(states[2], "firing");
    assert_string_not_equal(ids[0], ids[2]);
    rrd_store_free(rrd);
    config_free(cfg);
}

/* ---- sinks_adopt_firing: a tiny HTTP server standing in for Alertmanager --------------- */

struct server {
    int fd;
    int port;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock;
    char bodies[64][1024];
    size_t n;
};

static void *serve(void *arg)
{
    struct server *sv = arg;
    while (!atomic_load(&sv->stop)) {
        struct pollfd pfd = {.fd = sv->fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        int c = accept(sv->fd, NULL, NULL);
        if (c < 0)
            continue;
        char buf[8192];
        size_t len = 0;
        ssize_t r;
        /* Read headers, then Content-Length bytes of body. */
        char *body = NULL;
        long want = -1;
        while (len < sizeof buf - 1 && (r = read(c, buf + len, sizeof buf - 1 - len)) > 0) {
            len += (size_t)r;
            buf[len] = '\0';
            char *end = strstr(buf, "\r\n\r\n");
            if (end && want < 0) {
                char *cl = strstr(buf, "Content-Length:");
                cl = cl ? cl : strstr(buf, "content-length:");
                want = cl ? strtol(cl + 15, NULL, 10) : 0;
                body = end + 4;
            }
            if (body && (long)(buf + len - body) >= want)
                break;
        }
        if (body) {
            pthread_mutex_lock(&sv->lock);
            if (sv->n < 64)
                snprintf(sv->bodies[sv->n++], sizeof sv->bodies[0], "%s", body);
            pthread_mutex_unlock(&sv->lock);
        }
        static const char ok[] =
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        ssize_t w = write(c, ok, sizeof ok - 1);
        (void)w;
        close(c);
    }
    return NULL;
}

static void server_start(struct server *sv)
{
    memset(sv, 0, sizeof *sv);
    pthread_mutex_init(&sv->lock, NULL);
    sv->fd = testing_listen_loopback(&sv->port);
    assert_int_equal(pthread_create(&sv->thread, NULL, serve, sv), 0);
}

static void server_stop(struct server *sv)
{
    atomic_store(&sv->stop, true);
    pthread_join(sv->thread, NULL);
    close(sv->fd);
    pthread_mutex_destroy(&sv->lock);
}

/* Requests whose body mentions `needle`. */
static size_t posts_with(struct server *sv, const char *needle)
{
    size_t k = 0;
    pthread_mutex_lock(&sv->lock);
    for (size_t i = 0; i < sv->n; i++)
        k += strstr(sv->bodies[i], needle) != NULL;
    pthread_mutex_unlock(&sv->lock);
    return k;
}

static struct record *alert(const char *fp, const char *state)
{
    struct record *r = record_new(RECORD_ALERT);
    record_str_set(&r->scope, SCOPE);
    record_str_set(&r->source, "analyzer/test");
    record_str_set(&r->u.alert.fingerprint, fp);
    record_str_set(&r->u.alert.rule, "util");
    record_str_set(&r->u.alert.state, state);
    record_str_set(&r->u.alert.severity, "critical");
    record_map_set(&r->u.alert.labels, "alertname", "util");
    record_map_set(&r->u.alert.labels, "fp", fp);
    record_map_set(&r->u.alert.annotations, "summary", "Pool is 95 % used");
    r->u.alert.starts_at_ms = T0;
    if (strcmp(state, "resolved") == 0)
        r->u.alert.ends_at_ms = T0 + 3600000;
    r->u.alert.value = 95;
    return r;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool wait_posts(struct server *sv, const char *needle, size_t n, int ms)
{
    for (int t = 0; t < ms; t += 20) {
        if (posts_with(sv, needle) >= n)
            return true;
        sleep_ms(20);
    }
    return posts_with(sv, needle) >= n;
}

static void test_adopt_reposts_without_notifying(void **state)
{
    (void)state;
    struct server sv;
    server_start(&sv);
    char text[1024];
    snprintf(text, sizeof text,
             "[analyzer]\nstate_dir = %s/state\n"
             "[sink \"am\"]\ntype = alertmanager\nurl = http://127.0.0.1:%d\n"
             "[sink \"file\"]\ntype = file\npath = %s/out.jsonl\n",
             testing_tmpdir, sv.port, testing_tmpdir);
    struct config *cfg = fixture_load_cfg(text);
    struct sinks_opts o = {.backoff_min_ms = 50,
                           .backoff_max_ms = 200,
                           .repost_interval_ms = 150,
                           .http_timeout_ms = 2000,
                           .drain_ms = 500};
    char err[256];
    sinks_t *s = sinks_new_opts(cfg, &o, err, sizeof err);
    assert_non_null(s);

    struct record *fire = alert("fpADOPTED000001", "firing");
    struct record *res = alert("fpADOPTED000001", "resolved");
    assert_int_equal(sinks_adopt_firing(s, res), -EINVAL); /* only firing alerts */
    assert_int_equal(sinks_adopt_firing(s, fire), 1);      /* the Alertmanager sink only */

    /* Re-posted at once and then every interval. */
    assert_true(wait_posts(&sv, "fpADOPTED000001", 3, 10000));
    struct sinks_stat st;
    for (size_t i = 0; i < sinks_count(s); i++) {
        assert_int_equal(sinks_stats(s, i, &st), 0);
        assert_int_equal(st.submitted, 0); /* no notification anywhere */
        if (st.type == CONFIG_SINK_ALERTMANAGER)
            assert_true(st.reposts >= 2);
    }
    char out[160];
    snprintf(out, sizeof out, "%s/out.jsonl", testing_tmpdir);
    struct stat sb;
    assert_true(stat(out, &sb) < 0 || sb.st_size == 0); /* the file sink got nothing */

    /* The resolve is delivered and ends the re-posts. */
    assert_int_equal(sinks_submit(s, res), 2);
    assert_int_equal(sinks_flush(s, 10000), 0);
    assert_true(wait_posts(&sv, "endsAt", 1, 10000));
    sleep_ms(200);
    size_t after = posts_with(&sv, "fpADOPTED000001");
    sleep_ms(600);
    assert_int_equal(posts_with(&sv, "fpADOPTED000001"), after);

    record_free(fire);
    record_free(res);
    sinks_free(s);
    server_stop(&sv);
    config_free(cfg);
}

/* Figures of the rule named in `ctx` (struct rule_fig). */
struct rule_fig {
    const char *rule;
    struct alert_rule_count c;
};

static void rule_fig_cb(void *ctx, const struct alert_rule_count *c)
{
    struct rule_fig *f = ctx;
    if (strcmp(c->rule, f->rule) == 0)
        f->c = *c;
}

/* vpc-x 10.8.0.0/16 is noncompliant and unmanaged. With rule "um" (noncompliant,
 * `unmanaged = yes`) the model's effects fed through analyzer_alerts_effects() fire both its
 * noncompliant and its unmanaged alert; with rule "nc" (noncompliant only) the noncompliant
 * one alone, and the unmanaged effect's data object is never built. */
static void unmanaged_through_analyzer(bool unmanaged_rule)
{
    const char *rule = unmanaged_rule ? "um" : "nc";
    char text[512], err[256];
    snprintf(text, sizeof text,
             "[analyzer]\nstate_dir = %s/%s\n"
             "[rule \"%s\"]\ntype = noncompliant\nunmanaged = %s\n"
             "[sink \"file\"]\ntype = file\npath = %s/%s.jsonl\n",
             testing_tmpdir, rule, rule, unmanaged_rule ? "yes" : "no", testing_tmpdir, rule);
    struct config *cfg = fixture_load_cfg(text);
    analyzer_alerts_t *aa = analyzer_alerts_new(cfg, NULL, 0, err, sizeof err);
    if (!aa)
        fail_msg("analyzer_alerts_new: %s", err);
    struct pass p;
    pass_begin(&p, model_new(cfg), "p1", T0);
    scope_rec(&p);
    struct record *r =
        res_record(&p, "vpc", "vpc-x", "10.8.0.0/16", "vpc-x", NULL, "noncompliant", NAN);
    record_str_set(&r->u.resource_cidr.management_state, "unmanaged");
    feed(&p, r);
    pass_end(&p, true, 0);
    const struct model_effect *um = NULL, *nc = NULL;
    for (size_t i = 0; i < p.fx.n; i++) {
        if (strcmp(p.fx.items[i].kind, "unmanaged") == 0)
            um = &p.fx.items[i];
        if (strcmp(p.fx.items[i].kind, "noncompliant") == 0)
            nc = &p.fx.items[i];
    }
    assert_non_null(um);
    assert_non_null(nc);
    assert_non_null(um->built);
    assert_null(*um->built);
    analyzer_alerts_effects(aa, p.fx.items, p.fx.n);
    struct rule_fig f = {.rule = rule};
    analyzer_alerts_rule_counts(aa, rule_fig_cb, &f);
    assert_int_equal(f.c.firing, unmanaged_rule ? 2 : 1);
    assert_int_equal(f.c.sent_firing, unmanaged_rule ? 2 : 1);
    assert_non_null(*nc->built);
    if (unmanaged_rule)
        assert_non_null(*um->built);
    else
        assert_null(*um->built); /* no rule uses it: never built */
    model_effects_clear(&p.fx);
    model_free(p.m);
    analyzer_alerts_free(aa);
    config_free(cfg);
}

static void test_unmanaged_rule_fires(void **state)
{
    (void)state;
    unmanaged_through_analyzer(true);
}

static void test_unmanaged_skipped_without_rule(void **state)
{
    (void)state;
    unmanaged_through_analyzer(false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_object_descriptions),
        cmocka_unit_test(test_foreach_firing_after_restart),
        cmocka_unit_test(test_notification_ids_replay),
        cmocka_unit_test(test_stale_fire_after_kill),
        cmocka_unit_test(test_forecast_fire_after_kill),
        cmocka_unit_test(test_adopt_reposts_without_notifying),
        cmocka_unit_test(test_unmanaged_rule_fires),
        cmocka_unit_test(test_unmanaged_skipped_without_rule),
    };
    return cmocka_run_group_tests(tests, testing_tmpdir_setup, testing_tmpdir_teardown);
}
