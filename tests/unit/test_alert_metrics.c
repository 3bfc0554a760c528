/* Unit tests for the alert and pool figures the analyzer puts on /metrics: alerts and
 * notifications per rule (alert_engine_rule_counts), the time to exhaustion of pools from
 * their forecasts (analyzer_alerts_exhaustion), and the labels of the pool gauges: the pool's
 * name, escaped, a renamed pool's old series gone, the series of a pool that left the
 * model gone at the end of the next sample round, over many pools and scopes too, and the
 * time to exhaustion labelled as the model describes the pool after a restart
 * (analyzer_metrics). */
#include "testing.h"

#include <math.h>
#include <stdlib.h>

#include "alerts/engine.h"
#include "analyzer/analyzer_alerts.h"
#include "analyzer/analyzer_metrics.h"
#include "analyzer/rrd_store.h"
#include "config/config.h"
#include "kafka.h"
#include "metrics.h"
#include "record.h"

#define SCOPE      "ipam-scope-0aaaaaaaaaaaaaaaa"
#define POOL_A     "ipam-pool-0aaaaaaaaaaaaaaa1"
#define POOL_GROW  "ipam-pool-0grow00000000000001"
#define POOL_FLAT  "ipam-pool-0flat00000000000002"
#define POOL_YOUNG "ipam-pool-0young0000000000003"
#define T0         1741946400000LL /* 2025-03-14T10:00:00Z */
#define MIN        60000LL

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_alert_metrics.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A configuration with its state and RRD files under tmpdir, then `text`. */
static struct config *load_cfg(const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/test.conf", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "[kafka]\nbootstrap.servers = 127.0.0.1:9\n[analyzer]\nstate_dir = %s\n"
            "[rrd]\ndir = %s/rrd\nstep = 300s\n[journal]\ndir = %s/journal\n%s",
            tmpdir, tmpdir, tmpdir, text);
    fclose(f);
    chmod(path, 0600);
    char err[512];
    struct config *cfg = config_load(path, NULL, 0, err, sizeof err);
    if (!cfg)
        fail_msg("config_load: %s", err);
    return cfg;
}

static struct rrd_sample figures(double size, double used)
{
    struct rrd_sample s = rrd_sample_unknown();
    s.size = size;
    s.used = used;
    s.free = size - used;
    s.utilization = 100.0 * used / size;
    return s;
}

/* ---- alerts and notifications per rule ------------------------------------------------- */

struct rule_counts {
    struct alert_rule_count c[4];
    char names[4][16];
    size_t n;
};

static void collect_rule(void *ctx, const struct alert_rule_count *c)
{
    struct rule_counts *rc = ctx;
    assert_true(rc->n < 4);
    rc->c[rc->n] = *c;
    snprintf(rc->names[rc->n], sizeof rc->names[rc->n], "%s", c->rule);
    rc->c[rc->n].rule = rc->names[rc->n];
    rc->n++;
}

/* Rule `i` has `name` and these figures (pending, firing, firing and resolved notifications). */
static void expect_rule(const struct rule_counts *rc, size_t i, const char *name, uint64_t pending,
                        uint64_t firing, uint64_t sent_firing, uint64_t sent_resolved)
{
    assert_true(i < rc->n);
    assert_string_equal(rc->c[i].rule, name);
    assert_int_equal(rc->c[i].pending, pending);
    assert_int_equal(rc->c[i].firing, firing);
    assert_int_equal(rc->c[i].sent_firing, sent_firing);
    assert_int_equal(rc->c[i].sent_resolved, sent_resolved);
}

/* Fills *rc with the engine's figures of its three rules. */
static void counts(const alert_engine_t *e, struct rule_counts *rc)
{
    rc->n = 0;
    assert_int_equal(alert_engine_rule_counts(e, collect_rule, rc), 3);
    assert_int_equal(rc->n, 3);
}

static void test_rule_counts(void **state)
{
    (void)state;
    struct config *cfg =
        load_cfg("[rule \"slow\"]\ntype = utilization\nwarn_trigger = 50\ncrit_trigger = 90\n"
                 "for = 10m\n"
                 "[rule \"fast\"]\ntype = utilization\nwarn_trigger = 50\ncrit_trigger = 90\n"
                 "for = 0s\nrepeat_interval = 1m\n"
                 "[rule \"idle\"]\ntype = utilization\npool = ipam-pool-0elsewhere0000001\n");
    char err[256];
    alert_engine_t *e = alert_engine_new(cfg, NULL, NULL, NULL, NULL, err, sizeof err);
    assert_non_null(e);
    const char *pools[] = {POOL_A};
    struct alert_object o = {.kind = CONFIG_OBJECT_POOL,
                             .id = POOL_A,
                             .scope_id = SCOPE,
                             .pools = pools,
                             .n_pools = 1,
                             .family = 4};
    struct rrd_sample high = figures(1000, 950), low = figures(1000, 100);

    /* Every rule has its figures before any alert, the idle one all along. */
    struct rule_counts rc;
    counts(e, &rc);
    expect_rule(&rc, 0, "slow", 0, 0, 0, 0);
    expect_rule(&rc, 1, "fast", 0, 0, 0, 0);
    expect_rule(&rc, 2, "idle", 0, 0, 0, 0);

    /* 95 %: both levels of "fast" fire at once, those of "slow" wait for their `for`. */
    alert_engine_tick(e, T0);
    assert_int_equal(alert_engine_observe(e, &o, &high, T0), 0);
    counts(e, &rc);
    expect_rule(&rc, 0, "slow", 2, 0, 0, 0);
    expect_rule(&rc, 1, "fast", 0, 2, 2, 0);
    expect_rule(&rc, 2, "idle", 0, 0, 0, 0);

    /* Two minutes of wall time: "fast" repeats both (a firing notification each). */
    alert_engine_tick(e, T0 + 2 * MIN);
    counts(e, &rc);
    expect_rule(&rc, 1, "fast", 0, 2, 4, 0);

    /* Eleven minutes of sample time: "slow" fires. */
    assert_int_equal(alert_engine_observe(e, &o, &high, T0 + 11 * MIN), 0);
    counts(e, &rc);
    expect_rule(&rc, 0, "slow", 0, 2, 2, 0);
    expect_rule(&rc, 1, "fast", 0, 2, 4, 0);

    /* 10 %: everything resolves; the notifications stay counted. */
    assert_int_equal(alert_engine_observe(e, &o, &low, T0 + 12 * MIN), 0);
    counts(e, &rc);
    expect_rule(&rc, 0, "slow", 0, 0, 2, 2);
    expect_rule(&rc, 1, "fast", 0, 0, 4, 2);
    expect_rule(&rc, 2, "idle", 0, 0, 0, 0);

    alert_engine_free(e);
    config_free(cfg);
}

/* ---- time to exhaustion ------------------------------------------------------------------ */

struct exhaustion {
    char pool[3][40];
    double seconds[3];
    size_t n;
};

static void collect_exhaustion(void *ctx, const char *pool_id, const char *scope_id, double seconds)
{
    struct exhaustion *x = ctx;
    assert_string_equal(scope_id, SCOPE);
    assert_true(x->n < 3);
    snprintf(x->pool[x->n], sizeof x->pool[x->n], "%s", pool_id);
    x->seconds[x->n++] = seconds;
}

/* Seconds reported for `pool`; NAN when it is not reported (checked with `reported`). */
static double seconds_of(const struct exhaustion *x, const char *pool, bool *reported)
{
    for (size_t i = 0; i < x->n; i++)
        if (strcmp(x->pool[i], pool) == 0) {
            *reported = true;
            return x->seconds[i];
        }
    *reported = false;
    return NAN;
}

/* Hourly samples of `pool` (size 16384) over `days` days up to `end`, used growing `per_day`
 * a day up to `used_end`. */
static void history(rrd_store_t *rrd, const char *pool, time_t end, int days, double used_end,
                    double per_day)
{
    for (int h = days * 24; h >= 0; h--) {
        struct rrd_sample s = figures(16384, used_end - per_day * h / 24.0);
        assert_int_equal(rrd_store_update(rrd, "pool", pool, end - (time_t)h * 3600, &s), 0);
    }
}

static bool want_all(void *ctx, const char *scope)
{
    (void)ctx;
    (void)scope;
    return true;
}

/* A forecast rule over the histories of POOL_GROW (full in about 124 days), POOL_FLAT (never
 * full) and POOL_YOUNG (too young to judge), in a store returned in *rrd (owned by the
 * caller). Returns the alerts (owned by the caller) before any round; *cfg owned too. */
static analyzer_alerts_t *forecasting(struct config **cfg, rrd_store_t **rrd, time_t now)
{
    *cfg = load_cfg("[rule \"f\"]\ntype = forecast\ndays = 30\n");
    char err[512];
    char dir[128];
    snprintf(dir, sizeof dir, "%s/rrd", tmpdir);
    *rrd = rrd_store_new(dir, 300, NULL, err, sizeof err);
    if (!*rrd)
        fail_msg("rrd_store_new: %s", err);
    time_t end = now - 3600;
    history(*rrd, POOL_GROW, end, 30, 4000, 100); /* full (16384) in 123.84 days */
    history(*rrd, POOL_FLAT, end, 30, 2000, 0);
    history(*rrd, POOL_YOUNG, end, 3, 2000, 100); /* too little history to judge */
    assert_int_equal(rrd_store_flush(*rrd), 0);
    analyzer_alerts_t *aa = analyzer_alerts_new(*cfg, *rrd, 0, err, sizeof err);
    if (!aa)
        fail_msg("analyzer_alerts_new: %s", err);
    return aa;
}

/* One forecast round of `aa` at `now` over the three pools. */
static void forecast_round(analyzer_alerts_t *aa, time_t now)
{
    analyzer_alerts_round_begin(aa, now, true);
    const char *ids[] = {POOL_GROW, POOL_FLAT, POOL_YOUNG};
    const double used[] = {4000, 2000, 2000};
    for (size_t i = 0; i < 3; i++) {
        struct model_object o = {
            .kind = "pool", .id = ids[i], .scope_id = SCOPE, .n_pools = 1, .family = 4};
        o.pools[0] = ids[i];
        struct rrd_sample s = figures(16384, used[i]);
        analyzer_alerts_object(aa, &o, &s);
    }
    analyzer_alerts_round_end(aa);
}

static void test_exhaustion(void **state)
{
    (void)state;
    struct config *cfg;
    rrd_store_t *rrd;
    time_t now = time(NULL);
    analyzer_alerts_t *aa = forecasting(&cfg, &rrd, now);
    uint64_t v0 = analyzer_alerts_exhaustion(aa, NULL, NULL);
    forecast_round(aa, now);

    struct exhaustion x = {.n = 0};
    uint64_t v1 = analyzer_alerts_exhaustion(aa, collect_exhaustion, &x);
    assert_true(v1 != v0);
    bool reported;
    double grow = seconds_of(&x, POOL_GROW, &reported);
    assert_true(reported);
    double want = (16384.0 - 4000.0) / 100.0 * 86400.0 - 3600.0;
    if (!(fabs(grow - want) <= 1.5 * 86400.0))
        fail_msg("%s: %.0f s to exhaustion, want %.0f +- 1.5 days", POOL_GROW, grow, want);
    double flat = seconds_of(&x, POOL_FLAT, &reported);
    assert_true(reported);
    assert_true(isinf(flat) && flat > 0);
    seconds_of(&x, POOL_YOUNG, &reported);
    assert_false(reported);
    assert_int_equal(x.n, 2);

    /* Nothing new: the same version, so a caller may skip the walk. */
    assert_true(analyzer_alerts_exhaustion(aa, NULL, NULL) == v1);

    /* Forgotten scopes take their pools along. */
    analyzer_alerts_forget(aa, want_all, NULL);
    x.n = 0;
    assert_true(analyzer_alerts_exhaustion(aa, collect_exhaustion, &x) != v1);
    assert_int_equal(x.n, 0);

    analyzer_alerts_free(aa);
    rrd_store_free(rrd);
    config_free(cfg);
}

/* ---- pool labels --------------------------------------------------------------------------- */

/* Pool `id` of scope `scope` as the model describes it: `name` and `locale` may be NULL. */
static struct model_object pool_object(const char *id, const char *scope, const char *name,
                                       const char *locale)
{
    struct model_object o = {.kind = "pool",
                             .id = id,
                             .scope_id = scope,
                             .name = name,
                             .locale = locale,
                             .n_pools = 1,
                             .family = 4};
    o.pools[0] = id;
    return o;
}

/* Whether the rendered registry holds `line` as a whole line. */
static bool has_line(metrics_t *mx, const char *line)
{
    char *text = metrics_render(mx, NULL);
    size_t n = strlen(line);
    bool found = false;
    for (const char *p = text; p && *p && !found; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        found = strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0');
    free(text);
    return found;
}

static void test_pool_labels(void **state)
{
    (void)state;
    metrics_t *mx = metrics_new();
    analyzer_metrics_t *am = analyzer_metrics_new(mx);
    struct rrd_sample s = figures(1024, 256);
    s.largest_free = 23;
    s.default_fits = 3;

    /* The first figures (a loaded snapshot's, before any record arrives) carry the model's
     * name, with a quote and a backslash escaped as the exposition format wants, and locale. */
    struct model_object o = pool_object(POOL_A, SCOPE, "Prod \"A\" \\ pool", "eu-west-1");
    analyzer_metrics_object(am, &o, &s);
    assert_true(has_line(mx,
                         "ipamwatch_pool_size{scope_id=\"" SCOPE "\",pool_id=\"" POOL_A
                         "\",pool_name=\"Prod \\\"A\\\" \\\\ pool\",locale=\"eu-west-1\"} 1024"));
    assert_true(has_line(mx, "ipamwatch_pool_utilization_percent{scope_id=\"" SCOPE
                             "\",pool_id=\"" POOL_A "\",pool_name=\"Prod \\\"A\\\" \\\\ pool\","
                             "locale=\"eu-west-1\"} 25"));

    /* Renamed (no Name tag: its description): the old series go, the new ones come. */
    o = pool_object(POOL_A, SCOPE, "described", "eu-west-1");
    analyzer_metrics_object(am, &o, &s);
    assert_false(has_line(mx, "ipamwatch_pool_size{scope_id=\"" SCOPE "\",pool_id=\"" POOL_A
                              "\",pool_name=\"Prod \\\"A\\\" \\\\ pool\",locale=\"eu-west-1\"} "
                              "1024"));
    assert_true(has_line(mx, "ipamwatch_pool_size{scope_id=\"" SCOPE "\",pool_id=\"" POOL_A
                             "\",pool_name=\"described\",locale=\"eu-west-1\"} 1024"));

    /* Without a name nor a locale: empty labels, and nothing under the old ones. */
    o = pool_object(POOL_A, SCOPE, NULL, NULL);
    analyzer_metrics_object(am, &o, &s);
    assert_true(has_line(mx, "ipamwatch_pool_size{scope_id=\"" SCOPE "\",pool_id=\"" POOL_A
                             "\",pool_name=\"\",locale=\"\"} 1024"));
    assert_false(has_line(mx, "ipamwatch_pool_size{scope_id=\"" SCOPE "\",pool_id=\"" POOL_A
                              "\",pool_name=\"described\",locale=\"eu-west-1\"} 1024"));

    analyzer_metrics_free(am);
    metrics_free(mx);
}

#define SCOPE_2 "ipam-scope-0bbbbbbbbbbbbbbbb"
#define POOL_B  "ipam-pool-0bbbbbbbbbbbbbbb2"
#define POOL_X  "ipam-pool-0xxxxxxxxxxxxxxx3"

/* Whether pool `id` of `scope` (named after its id, no locale) has its size series. */
static bool has_pool(metrics_t *mx, const char *scope, const char *id)
{
    char line[512];
    snprintf(
        line, sizeof line,
        "ipamwatch_pool_size{scope_id=\"%s\",pool_id=\"%s\",pool_name=\"%s\",locale=\"\"} 1024",
        scope, id, id);
    return has_line(mx, line);
}

/* One sample round over `scope` (NULL: every scope) reporting the pools `ids` of `scopes`. */
static void round_of(analyzer_metrics_t *am, const char *scope, const char *const *ids,
                     const char *const *scopes, size_t n)
{
    struct rrd_sample s = figures(1024, 256);
    analyzer_metrics_round_begin(am, scope);
    for (size_t i = 0; i < n; i++) {
        struct model_object o = pool_object(ids[i], scopes[i], ids[i], NULL);
        analyzer_metrics_object(am, &o, &s);
    }
    analyzer_metrics_round_end(am);
}

static void test_pool_left_model(void **state)
{
    (void)state;
    metrics_t *mx = metrics_new();
    analyzer_metrics_t *am = analyzer_metrics_new(mx);
    const char *ids[] = {POOL_A, POOL_B, POOL_X};
    const char *scopes[] = {SCOPE, SCOPE, SCOPE_2};
    round_of(am, NULL, ids, scopes, 3);
    assert_true(has_pool(mx, SCOPE, POOL_A));
    assert_true(has_pool(mx, SCOPE, POOL_B));
    assert_true(has_pool(mx, SCOPE_2, POOL_X));
    /* Pool B's time to exhaustion, as a tick exports it. */
    assert_int_equal(metrics_set(mx, "ipamwatch_pool_exhaustion_seconds", 86400.0, SCOPE, POOL_B,
                                 POOL_B, "", NULL),
                     0);
    char exhaustion[256];
    snprintf(exhaustion, sizeof exhaustion,
             "ipamwatch_pool_exhaustion_seconds{scope_id=\"%s\",pool_id=\"%s\",pool_name=\"%s\","
             "locale=\"\"} 86400",
             SCOPE, POOL_B, POOL_B);
    assert_true(has_line(mx, exhaustion));

    /* A round of SCOPE without pool B (deleted, or a pass that no longer lists it): its
     * series go at once; pool A stays, and so does pool X of the scope not sampled. */
    round_of(am, SCOPE, ids, scopes, 1);
    assert_true(has_pool(mx, SCOPE, POOL_A));
    assert_false(has_pool(mx, SCOPE, POOL_B));
    assert_false(has_line(mx, exhaustion));
    assert_true(has_pool(mx, SCOPE_2, POOL_X));

    /* A round of every scope without pool X. */
    round_of(am, NULL, ids, scopes, 1);
    assert_true(has_pool(mx, SCOPE, POOL_A));
    assert_false(has_pool(mx, SCOPE_2, POOL_X));

    /* Pool A moved to SCOPE_2: only the series under its new scope stay. */
    const char *moved[] = {SCOPE_2};
    round_of(am, SCOPE_2, ids, moved, 1);
    assert_true(has_pool(mx, SCOPE_2, POOL_A));
    assert_false(has_pool(mx, SCOPE, POOL_A));
    /* ... and a later round of its old scope leaves them alone. */
    round_of(am, SCOPE, ids, scopes, 0);
    assert_true(has_pool(mx, SCOPE_2, POOL_A));

    /* A pool that comes back gets its series back; a dropped scope takes them along. */
    round_of(am, SCOPE, ids + 1, scopes + 1, 1);
    assert_true(has_pool(mx, SCOPE, POOL_B));
    analyzer_metrics_drop_scope(am, SCOPE);
    assert_false(has_pool(mx, SCOPE, POOL_B));
    assert_true(has_pool(mx, SCOPE_2, POOL_A));

    analyzer_metrics_free(am);
    metrics_free(mx);
}

/* Whether a line of the rendered registry starts with `prefix`. */
static bool has_prefix(metrics_t *mx, const char *prefix)
{
    char *text = metrics_render(mx, NULL);
    size_t n = strlen(prefix);
    bool found = strncmp(text, prefix, n) == 0;
    for (const char *p = strchr(text, '\n'); p && !found; p = strchr(p + 1, '\n'))
        found = strncmp(p + 1, prefix, n) == 0;
    free(text);
    return found;
}

#define EXHAUSTION_OF(pool, name, locale)                                                          \
    "ipamwatch_pool_exhaustion_seconds{scope_id=\"" SCOPE "\",pool_id=\"" pool                     \
    "\",pool_name=\"" name "\",locale=\"" locale "\"} "

/* After a restart the reporter knows a pool only from the model (the loaded snapshot's
 * objects, reported before any round): the time to exhaustion a tick exports carries the
 * model's name and locale, a forecast pool the model does not hold gets no series, one that
 * joins the model gets its series at the next tick, and one that leaves it loses it at the
 * end of the round. */
static void test_exhaustion_labels_after_restart(void **state)
{
    (void)state;
    struct config *cfg;
    rrd_store_t *rrd;
    time_t now = time(NULL);
    analyzer_alerts_t *aa = forecasting(&cfg, &rrd, now);
    forecast_round(aa, now);

    metrics_t *mx = metrics_new();
    analyzer_metrics_t *am = analyzer_metrics_new(mx);
    struct rrd_sample s = figures(16384, 4000);
    struct model_object grow = pool_object(POOL_GROW, SCOPE, "Grow", "eu-west-1");
    analyzer_metrics_object(am, &grow, &s); /* the snapshot's pool, outside any round */

    char err[512];
    const char *topics[] = {"ipamwatch.test"};
    struct config_kv props[] = {{"bootstrap.servers", "127.0.0.1:9", "t", 0},
                                {"group.id", "test_alert_metrics", "t", 0}};
    kafka_consumer_t *kc = kafka_consumer_new(props, 2, topics, 1, NULL, NULL, err, sizeof err);
    if (!kc)
        fail_msg("kafka_consumer_new: %s", err);
    struct analyzer_stats stats = {0};
    struct analyzer_metrics_state st = {
        .stats = &stats, .rrd = rrd, .consumer = kc, .alerts = aa, .assigned_once = true};
    int64_t t = 1000000;
    analyzer_metrics_tick(am, t, &st);
    assert_true(has_prefix(mx, EXHAUSTION_OF(POOL_GROW, "Grow", "eu-west-1")));
    assert_false(has_prefix(mx, "ipamwatch_pool_exhaustion_seconds{scope_id=\"" SCOPE
                                "\",pool_id=\"" POOL_FLAT "\""));

    /* A round of every scope: POOL_FLAT joins (never full), POOL_GROW is gone. */
    struct model_object flat = pool_object(POOL_FLAT, SCOPE, NULL, "us-east-1");
    analyzer_metrics_round_begin(am, NULL);
    analyzer_metrics_object(am, &flat, &s);
    analyzer_metrics_round_end(am);
    assert_false(has_prefix(mx, EXHAUSTION_OF(POOL_GROW, "Grow", "eu-west-1")));
    analyzer_metrics_tick(am, t += 1000, &st);
    assert_true(has_prefix(mx, EXHAUSTION_OF(POOL_FLAT, "", "us-east-1") "+Inf"));
    assert_false(has_prefix(mx, "ipamwatch_pool_exhaustion_seconds{scope_id=\"" SCOPE
                                "\",pool_id=\"" POOL_GROW "\""));

    kafka_consumer_free(kc);
    analyzer_metrics_free(am);
    metrics_free(mx);
    analyzer_alerts_free(aa);
    rrd_store_free(rrd);
    config_free(cfg);
}

/* Many pools over a few scopes, in random rounds of one scope or of all: after each round
 * exactly the pools the model holds (those a round of their scope reported last, or that no
 * round of their scope has passed since they came) have series. */
static void test_many_pools(void **state)
{
    (void)state;
    enum { POOLS = 600, SCOPES = 5, ROUNDS = 12 };
    static const char *const scopes[SCOPES] = {"ipam-scope-s0", "ipam-scope-s1", "ipam-scope-s2",
                                               "ipam-scope-s3", "ipam-scope-s4"};
    static char ids[POOLS][32];
    bool held[POOLS] = {false};
    unsigned rnd = testing_seed() | 1;
    metrics_t *mx = metrics_new();
    analyzer_metrics_t *am = analyzer_metrics_new(mx);
    struct rrd_sample s = figures(1024, 256);
    for (int i = 0; i < POOLS; i++)
        snprintf(ids[i], sizeof ids[i], "ipam-pool-%05d", i);
    for (int r = 0; r < ROUNDS; r++) {
        int only = (int)(testing_xorshift(&rnd) % (SCOPES + 1)) - 1; /* -1: every scope */
        analyzer_metrics_round_begin(am, only < 0 ? NULL : scopes[only]);
        for (int i = 0; i < POOLS; i++) {
            if (only >= 0 && i % SCOPES != only)
                continue;
            held[i] = testing_xorshift(&rnd) % 3 != 0; /* two in three stay in the model */
            if (held[i]) {
                struct model_object o = pool_object(ids[i], scopes[i % SCOPES], NULL, NULL);
                analyzer_metrics_object(am, &o, &s);
            }
        }
        analyzer_metrics_round_end(am);

        bool seen[POOLS] = {false};
        char *text = metrics_render(mx, NULL);
        static const char want[] = "ipamwatch_pool_size{scope_id=\"";
        for (const char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
            if (strncmp(p, want, sizeof want - 1) != 0)
                continue;
            const char *id = strstr(p, "pool_id=\"ipam-pool-");
            assert_non_null(id);
            int i = atoi(id + strlen("pool_id=\"ipam-pool-"));
            assert_true(i >= 0 && i < POOLS);
            assert_false(seen[i]);
            assert_non_null(strstr(p, scopes[i % SCOPES]));
            seen[i] = true;
        }
        free(text);
        for (int i = 0; i < POOLS; i++)
            if (seen[i] != held[i])
                fail_msg("round %d: pool %d %s", r, i, held[i] ? "lost its series" : "kept");
    }
    for (int sc = 0; sc < SCOPES; sc += 2)
        analyzer_metrics_drop_scope(am, scopes[sc]);
    char *text = metrics_render(mx, NULL);
    for (int sc = 0; sc < SCOPES; sc++)
        assert_true((strstr(text, scopes[sc]) != NULL) == (sc % 2 == 1));
    free(text);
    analyzer_metrics_free(am);
    metrics_free(mx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rule_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exhaustion, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_left_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exhaustion_labels_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_pools, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
