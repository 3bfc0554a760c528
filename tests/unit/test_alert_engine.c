/* Unit tests for the alert engine: every rule type's fire and resolve, hysteresis, for
 * durations, repeats, dedupe windows, selectors, runbook templates, restarts, fingerprints. */
#include "testing.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alerts/engine.h"
#include "config/config.h"
#include "fixtures.h"
#include "record.h"
#include "xalloc.h"

#define MIN  60000LL
#define HOUR 3600000LL
#define DAY  86400000LL

#define POOL_A  "ipam-pool-0aaaaaaaaaaaaaaa1"
#define POOL_B  "ipam-pool-0bbbbbbbbbbbbbbb2"
#define SCOPE_1 "ipam-scope-01111111111111111"
#define SCOPE_2 "ipam-scope-02222222222222222"

/* Fingerprint of rule "u" with alertname=u, severity=warning, pool_id=POOL_A,
 * scope_id=SCOPE_1. */
#define FP_PINNED "07079270abeaf16d"

/* ---- fixture -------------------------------------------------------------------------- */

/* Every notification, copied (encode/decode round trip: also proves each one encodes). */
struct sink {
    struct record **recs;
    size_t n;
};

static void capture(void *ctx, const struct record *rec)
{
    struct sink *s = ctx;
    char *buf = NULL, err[256];
    size_t len = 0;
    int rc = record_encode(rec, &buf, &len);
    if (rc != 0) {
        record_validate(rec, err, sizeof err);
        fail_msg("emitted alert does not encode (%d): %s", rc, err);
    }
    struct record *copy = NULL;
    if (record_decode(buf, len, &copy, err, sizeof err) != 0)
        fail_msg("emitted alert does not decode: %s", err);
    free(buf);
    s->recs = realloc(s->recs, (s->n + 1) * sizeof *s->recs);
    s->recs[s->n++] = copy;
}

static void sink_clear(struct sink *s)
{
    for (size_t i = 0; i < s->n; i++)
        record_free(s->recs[i]);
    free(s->recs);
    s->recs = NULL;
    s->n = 0;
}

/* Number of notifications in state `state` (NULL = any) of rule `rule` (NULL = any). */
static size_t count(const struct sink *s, const char *rule, const char *state)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct record_alert *a = &s->recs[i]->u.alert;
        n += (!rule || strcmp(a->rule, rule) == 0) && (!state || strcmp(a->state, state) == 0);
    }
    return n;
}

/* The last notification with `label` = `value` (NULL = any), or NULL. */
static const struct record_alert *last_with(const struct sink *s, const char *label,
                                            const char *value)
{
    for (size_t i = s->n; i-- > 0;) {
        const struct record_alert *a = &s->recs[i]->u.alert;
        const char *v = label ? record_map_get(&a->labels, label) : NULL;
        if (!label || (v && (!value || strcmp(v, value) == 0)))
            return a;
    }
    return NULL;
}

/* Domains "corp" (private scopes, 172.16.0.0/16) and "lab" (192.168.0.0/16), then rules. */
static struct config *load_cfg(const char *rules)
{
    char *text = xasprintf("[domain \"corp\"]\nscopes = private\nstatic = 172.16.0.0/16\n"
                           "[domain \"lab\"]\nstatic = 192.168.0.0/16\n%s",
                           rules);
    struct config *cfg = fixture_load_cfg(text);
    free(text);
    return cfg;
}

static char *state_path(void)
{
    static char p[128];
    snprintf(p, sizeof p, "%s/alerts.json", testing_tmpdir);
    return p;
}

static alert_engine_t *engine(const struct config *cfg, struct sink *s, bool persist)
{
    char err[512] = "";
    alert_engine_t *e = alert_engine_new(cfg, persist ? state_path() : NULL, "analyzer/test",
                                         capture, s, err, sizeof err);
    if (!e)
        fail_msg("alert_engine_new: %s", err);
    return e;
}

/* Ends a test's engine: frees it, its notifications and its configuration. */
static void stop(alert_engine_t *e, struct sink *s, struct config *cfg)
{
    alert_engine_free(e);
    sink_clear(s);
    config_free(cfg);
}

static struct alert_object pool(const char *id, const char *scope)
{
    struct alert_object o = {.kind = CONFIG_OBJECT_POOL,
                             .id = id,
                             .scope_id = scope,
                             .default_netmask = 20,
                             .family = 4};
    return o;
}

static struct rrd_sample util(double pct)
{
    struct rrd_sample s = rrd_sample_unknown();
    s.size = 65536;
    s.utilization = pct;
    s.used = 65536 * pct / 100;
    s.free = s.size - s.used;
    s.largest_free = 20;
    s.default_fits = 1;
    return s;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void observe(alert_engine_t *e, const char *id, double pct, int64_t t)
{
    struct alert_object o = pool(id, SCOPE_1);
    struct rrd_sample s = util(pct);
    assert_int_equal(alert_engine_observe(e, &o, &s, t), 0);
}

/* ---- utilization ---------------------------------------------------------------------- */

static const char *util_rule = "[rule \"pool_util\"]\ntype = utilization\nwarn_trigger = 80\n"
                               "warn_reset = 70\ncrit_trigger = 95\ncrit_reset = 90\nfor = 0s\n";

static void test_utilization_hysteresis(void **state)
{
    (void)state;
    struct config *cfg = load_cfg(util_rule);
    struct sink s = {0};
    alert_engine_t *e = engine(cfg, &s, false);

    /* Oscillating around the warning trigger fires once and never resolves above reset. */
    static const double seq[] = {79, 81, 79, 80.5, 72, 85, 70.1, 79.9};
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++)
        observe(e, POOL_A, seq[i], T0 + (int64_t)i * MIN);
    assert_int_equal(count(&s, "pool_util", "firing"), 1);
    assert_int_equal(count(&s, "pool_util", "resolved"), 0);
    const struct record_alert *a = last_with(&s, "pool_id", POOL_A);
    assert_string_equal(a->severity, "warning");
    assert_string_equal(record_map_get(&a->labels, "severity"), "warning");
    assert_int_equal(a->starts_at_ms, T0 + 1 * MIN);
    assert_true(fabs(a->value - 0.81) < 1e-9);
    assert_non_null(strstr(record_map_get(&a->annotations, "summary"), "81.0 %"));

    /* Below the reset level it resolves, once. */
    observe(e, POOL_A, 69.9, T0 + 20 * MIN);
    observe(e, POOL_A, 65, T0 + 21 * MIN);
    assert_int_equal(count(&s, "pool_util", "resolved"), 1);
    a = &s.recs[s.n - 1]->u.alert;
    assert_string_equal(a->state, "resolved");
    assert_int_equal(a->ends_at_ms, T0 + 20 * MIN);
    assert_int_equal(a->starts_at_ms, T0 + 1 * MIN);

    /* Critical is its own alert (own fingerprint), with its own levels. */
    size_t before = s.n;
    observe(e, POOL_A, 96, T0 + 30 * MIN);
    assert_int_equal(s.n, before + 2); /* critical and warning fire */
    const struct record_alert *crit = last_with(&s, "severity", "critical");
    assert_non_null(crit);
    assert_string_equal(crit->state, "firing");
    const struct record_alert *warn = last_with(&s, "severity", "warning");
    assert_string_not_equal(crit->fingerprint, warn->fingerprint);
    observe(e, POOL_A, 91, T0 + 31 * MIN); /* above crit_reset: nothing */
    assert_int_equal(s.n, before + 2);
    observe(e, POOL_A, 89, T0 + 32 * MIN); /* critical resolves, warning stays */
    assert_int_equal(s.n, before + 3);
    assert_string_equal(s.recs[s.n - 1]->u.alert.state, "resolved");
    assert_string_equal(s.recs[s.n - 1]->u.alert.severity, "critical");

    stop(e, &s, cfg);
}

static void test_for_duration(void **state)
{
    (void)state;
    struct config *cfg = load_cfg("[rule \"slow\"]\ntype = utilization\nfor = 10m\n");
    struct sink s = {0};
    alert_engine_t *e = engine(cfg, &s, false);

    /* A: holds for 10 minutes -> pending, then firing at the observation after `for`. */
    observe(e, POOL_A, 85, T0);
    assert_int_equal(count(&s, NULL, "pending"), 1);
    assert_int_equal(count(&s, NULL, "firing"), 0);
    observe(e, POOL_A, 86, T0 + 5 * MIN);
    alert_engine_tick(e, T0 + 9 * MIN);
    assert_int_equal(count(&s, NULL, "firing"), 0);
    assert_int_equal(count(&s, NULL, "pending"), 1); /* pending is announced once */
    observe(e, POOL_A, 85, T0 + 10 * MIN);
    assert_int_equal(count(&s, NULL, "firing"), 1);
    assert_int_equal(last_with(&s, "pool_id", POOL_A)->starts_at_ms, T0);

    /* B: cleared before `for` -> never fires, and no resolve is sent for it. */
    observe(e, POOL_B, 85, T0);
    observe(e, POOL_B, 60, T0 + 5 * MIN);
    alert_engine_tick(e, T0 + 30 * MIN);
    observe(e, POOL_B, 60, T0 + 31 * MIN);
    size_t fb = 0, rb = 0;
    for (size_t i = 0; i < s.n; i++) {
        const struct record_alert *a = &s.recs[i]->u.alert;
        if (strcmp(record_map_get(&a->labels, "pool_id"), POOL_B) != 0)
            continue;
        fb += strcmp(a->state, "firing") == 0;
        rb += strcmp(a->state, "resolved") == 0;
    }
    assert_int_equal(fb, 0);
    assert_int_equal(rb, 0);

    /* C: `for` is judged between observations (sample time), not by the clock: ticks long
     * after it elapsed promote nothing; the next observation still above fires. */
    const char *pc = "ipam-pool-0ccccccccccccccc3";
    observe(e, pc, 99, T0 + 40 * MIN);
    size_t firing = count(&s, NULL, "firing");
    alert_engine_tick(e, T0 + 49 * MIN);
    alert_engine_tick(e, T0 + 2 * HOUR);
    assert_int_equal(count(&s, NULL, "firing"), firing);
    observe(e, pc, 99, T0 + 50 * MIN);
    assert_int_equal(count(&s, NULL, "firing"), firing + 2); /* warning and critical */

    stop(e, &s, cfg);
}

static void test_repeat_interval(void **state)
{
    (void)state;
    struct config *cfg = load_cfg("[rule \"u\"]\ntype = utilization\nfor = 0s\n"
                                  "warn_trigger = 50\ncrit_trigger = 99\nrepeat_interval = 1h\n");
    struct sink s = {0};
    alert_engine_t *e = engine(cfg, &s, false);
    alert_engine_tick(e, T0); /* the wall clock */
    observe(e, POOL_A, 60, T0);
    assert_int_equal(s.n, 1);
    const char *fp = s.recs[0]->u.alert.fingerprint;
    alert_engine_tick(e, T0 + 30 * MIN);
    observe(e, POOL_A, 61, T0 + 45 * MIN);
    assert_int_equal(s.n, 1);
    alert_engine_tick(e, T0 + HOUR);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.recs[1]->u.alert.state, "firing");
    assert_string_equal(s.recs[1]->u.alert.fingerprint, fp);
    assert_int_equal(s.recs[1]->u.alert.starts_at_ms, T0);
    alert_engine_tick(e, T0 + HOUR + 59 * MIN);
    assert_int_equal(s.n, 2);
    alert_engine_tick(e, T0 + 2 * HOUR);
    assert_int_equal(s.n, 3);
    struct alert_engine_stats st;
    alert_engine_get_stats(e, &st);
    assert_int_equal(st.repeats, 2);
    assert_int_equal(st.fired, 1);
    assert_int_equal(st.firing, 1);
    stop(e, &s, cfg);
}

/* ---- cannot_fit and forecast ---------------------------------------------------------- */

static void test_cannot_fit(void **state)
{
    (void)state;
    struct config *cfg = load_cfg("[rule \"nofit\"]\ntype = cannot_fit\n"
                                  "[rule \"nofit24\"]\ntype = cannot_fit\nnetmask = 24\n");
    struct sink s = {0};
    alert_engine_t *e = engine(cfg, &s, false);
    struct alert_object o = pool(POOL_A, SCOPE_1); /* default netmask /20 */
    struct rrd_sample smp = util(60);              /* 40 % free */
    smp.largest_free = 21;                         /* ...but fragmented */
    smp.default_fits = 0;
    assert_int_equal(alert_engine_observe(e, &o, &smp, T0), 0);
    assert_int_equal(count(&s, "nofit", "firing"), 1);
    assert_int_equal(count(&s, "nofit24", NULL), 0); /* a /24 still fits in a /21 */
    const struct record_alert *a = last_with(&s, "pool_id", POOL_A);
    assert_string_equal(record_map_get(&a->annotations, "largest_free_block"), "/21");
    assert_non_null(strstr(record_map_get(&a->annotations, "description"), "/21"));
    assert_non_null(strstr(record_map_get(&a->annotations, "summary"), "/20"));
    assert_int_equal((int)a->value, 21);

    /* Still fragmented: no new notification. Then a /20 is free again: resolved. */
    assert_int_equal(alert_engine_observe(e, &o, &smp, T0 + MIN), 0);
    assert_int_equal(s.n, 1);
    smp.largest_free = 19;
    smp.default_fits = 2;
    assert_int_equal(alert_engine_observe(e, &o, &smp, T0 + 2 * MIN), 0);
    assert_int_equal(count(&s, "nofit", "resolved"), 1);

    /* A full pool is the utilization rules' business, not cannot_fit's. */
    struct rrd_sample full = util(100);
    full.largest_free = NAN;
    full.default_fits = 0;
    assert_int_equal(alert_engine_observe(e, &o, &full, T0 + 3 * MIN), 0);
    assert_int_equal(s.n, 2);

    /* A configured length: only a /25 block left -> the /24 rule fires too. */
    smp.largest_free = 25;
    smp.default_fits = 0;
    assert_int_equal(alert_engine_observe(e, &o, &smp, T0 + 4 * MIN), 0);
    assert_int_equal(count(&s, "nofit24", "firing"), 1);
    assert_int_equal(count(&s, "nofit", "firing"), 2);
    stop(e, &s, cfg);
}

static void test_forecast(void **state)
{
    (void)state;
    struct config *cfg = load_cfg("[rule \"fc\"]\ntype = forecast\ndays = 30\nseverity = info\n"
                                  "[rule \"fc_crit\"]\ntype = forecast\ndays = 7\ntarget = crit\n");
    struct sink s = {0};
    alert_engine_t *e = engine(cfg, &s, false);
    struct alert_object o = pool(POOL_A, SCOPE_1);
    assert_true(alert_engine_forecast_level(e, CONFIG_TARGET_CRIT) == 90.0);
    assert_true(alert_engine_forecast_level(e, CONFIG_TARGET_FULL) == 100.0);
    assert_int_equal(alert_engine_forecast(e, &o, CONFIG_TARGET_FULL, 45, 40, 60, T0), 0);
    assert_int_equal(alert_engine_forecast(e, &o, CONFIG_TARGET_FULL, NAN, NAN, NAN, T0), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(alert_engine_forecast(e, &o, CONFIG_TARGET_FULL, 12, 8, 20, T0), 0);
    assert_int_equal(count(&s, "fc", "firing"), 1);
    assert_int_equal(count(&s, "fc_crit", NULL), 0); /* other target */
    const struct record_alert *a = &s.recs[0]->u.alert;
    assert_string_equal(a->severity, "info");
    assert_string_equal(record_map_get(&a->annotations, "exhaustion_date"), "2025-03-26");
    assert_string_equal(record_map_get(&a->annotations, "exhaustion_earliest"), "2025-03-22");
    assert_string_equal(record_map_get(&a->annotations, "exhaustion_latest"), "2025-04-03");
    assert_non_null(
        strstr(record_map_get(&a->annotations, "description"), "2025-03-22 to 2025-04-03"));
    /* Growth slowed: no longer within 30 days -> resolved. */
    assert_int_equal(alert_engine_forecast(e, &o, CONFIG_TARGET_FULL, 31, 25, 40, T0 + DAY), 0);
    assert_int_equal(count(&s, "fc", "resolved"), 1);
    assert_int_equal(alert_engine_forecast(e, &o, CONFIG_TARGET_CRIT, 3, 2, 5, T0 + DAY), 0);
    assert_int_equal(count(&s, "fc_crit", "firing"), 1);
    stop(e, &s, cfg);
}

/* ---- effects -------------------------------------------------------------------------- */

static json_t *pair(const char *domain, const char *a, const char *b)
{
    return json_pack("{ssssss}", "domain", domain, "a", a, "b", b);
}

static void test_overlap_pairs(void **state)
{
    (void)state;
    struct config *cfg = load_cfg("[rule \"ov\"]\ntype = overlap\ndomain = corp\n"
                                  "severity = critical\n");
    struct sink s = {0};
    alert_engine_t *e = engine(cfg, &s, false);
    json_t *p1 = pair("corp", "static:corp/172.16.0.0/16", "vpc-0a1/172.16.5.0/24");
    json_t *p2 = pair("corp", "vpc-0a1/172.16.5.0/24", "vpc-0b2/172.16.5.128/25");
    json_t *p3 = pair("lab", "static:lab/192.168.0.0/16", "vpc-0c3/192.168.1.0/24");
    assert_int_equal(alert_engine_effect(e, "overlap_opened", p1, T0), 0);
    assert_int_equal(alert_engine_effect(e, "overlap_opened", p2, T0 + MIN), 0);
    assert_int_equal(alert_engine_effect(e, "overlap_opened", p3, T0 + MIN), 0); /* other domain */
    assert_int_equal(count(&s, "ov", "firing"), 2);
    assert_string_not_equal(s.recs[0]->u.alert.fingerprint, s.recs[1]->u.alert.fingerprint);
    const struct record_alert *a = &s.recs[0]->u.alert;
    assert_string_equal(record_map_get(&a->labels, "domain"), "corp");
    assert_string_equal(record_map_get(&a->labels, "resource_a"), "static:corp");
    assert_string_equal(record_map_get(&a->labels, "cidr_a"), "172.16.0.0/16");
    assert_string_equal(record_map_get(&a->labels, "resource_b"), "vpc-0a1");
    assert_string_equal(record_map_get(&a->labels, "cidr_b"), "172.16.5.0/24");
    assert_non_null(strstr(record_map_get(&a->annotations, "description"), "on-premise"));
    assert_null(
        strstr(record_map_get(&s.recs[1]->u.alert.annotations, "description"), "on-premise"));
    char fp1[17];
    snprintf(fp1, sizeof fp1, "%s", a->fingerprint);

    /* A replayed open changes nothing; closing one pair resolves that pair only. */
    assert_int_equal(alert_engine_effect(e, "overlap_opened", p1, T0 + 2 * MIN), 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(alert_engine_effect(e, "overlap_closed", p1, T0 + HOUR), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.recs[2]->u.alert.state, "resolved");
    assert_string_equal(s.recs[2]->u.alert.fingerprint, fp1);
    assert_int_equal(s.recs[2]->u.alert.ends_at_ms, T0 + HOUR);
    assert_int_equal(alert_engine_effect(e, "overlap_closed", p1, T0 + HOUR), 0); /* replay */
    assert_int_equal(s.n, 3);

    json_t *bad = json_pack("{ss}", "domain", "corp");
    assert_int_equal(alert_engine_effect(e, "overlap_opened", bad, T0), -EINVAL);
    assert_int_equal(alert_engine_effect(e, "pass", bad, T0), 0); /* not ours */
    json_decref(bad);
    json_decref(p1);
    json_decref(p2);
    json_decref(p3);
    stop(e, &s, cfg);
}

static json_t *failure(const char *pool_id, const char *code)
{
    return json_pack("{sssssssssssssssI}", "pool_id", pool_id, "scope_id", SCOPE_1, "account",
                     "222233334444", "region", "eu-west-1", "error_code", code, "error_message",
                     "The allocation size is too big for the pool.", "principal_arn",
                     "arn:aws:iam::222233334444:role/terraform", "netmask_length", (json_int_t)20);
}

static void test_allocation_failed_window(void **state)
{
    (void)state;
    struct config *cfg =
        load_cfg("[rule \"af\"]\ntype = allocation_failed\nwindow = 1h\nseverity = critical\n");
    struct sink s = {0};
    alert_engine_t *e = engine(cfg, &s, false);
    json_t *fa = failure(POOL_A, "InvalidParameterValue");
    json_t *fb = failure(POOL_B, "IpamPoolCidrAllocationFailed");
    assert_int_equal(alert_engine_effect(e, "allocation_failed", fa, T0), 0);
    assert_int_equal(alert_engine_effect(e, "allocation_failed", fb, T0 + 5 * MIN), 0);
    assert_int_equal(alert_engine_effect(e, "allocation_failed", fa, T0 + 20 * MIN), 0);
    assert_int_equal(count(&s, "af", "firing"), 2); /* one per pool: the repeat is folded */
    const struct record_alert *a = &s.recs[0]->u.alert;
    assert_string_equal(record_map_get(&a->labels, "pool_id"), POOL_A);
    assert_string_equal(record_map_get(&a->annotations, "error_code"), "InvalidParameterValue");
    assert_string_equal(record_map_get(&a->annotations, "requested_netmask"), "/20");
    assert_non_null(strstr(record_map_get(&a->annotations, "description"), "role/terraform"));

    alert_engine_tick(e, T0 + 66 * MIN); /* B's window ended at +65m; A's runs to +80m */
    assert_int_equal(count(&s, "af", "resolved"), 1);
    const struct record_alert *r = &s.recs[s.n - 1]->u.alert;
    assert_string_equal(record_map_get(&r->labels, "pool_id"), POOL_B);
    assert_int_equal(r->ends_at_ms, T0 + 65 * MIN);
    alert_engine_tick(e, T0 + 79 * MIN);
    assert_int_equal(count(&s, "af", "resolved"), 1);
    alert_engine_tick(e, T0 + 81 * MIN);
    assert_int_equal(count(&s, "af", "resolved"), 2);
    r = &s.recs[s.n - 1]->u.alert;
    assert_string_equal(record_map_get(&r->labels, "pool_id"), POOL_A);
    assert_string_equal(record_map_get(&r->annotations, "failures"), "2");
    assert_true(r->value == 2.0);
    assert_int_equal(r->ends_at_ms, T0 + 80 * MIN);

    /* After the window a new failure fires again. */
    assert_int_equal(alert_engine_effect(e, "allocation_failed", fa, T0 + 90 * MIN), 0);
    assert_int_equal(count(&s, "af", "firing"), 3);
    json_decref(fa);
    json_decref(fb);
    stop(e, &s, cfg);
}

static json_t *resource(const char *id, const char *cidr)
{
    return json_pack("{ssssssssssss}", "scope_id", SCOPE_1, "resource_type", "vpc", "resource_id",
                     id, "cidr", cidr, "region", "eu-central-1", "pool_id", POOL_A);
}

static void test_noncompliant(void **state)
{
    (void)state;
    struct config *cfg = load_cfg("[rule \"nc\"]\ntype = noncompliant\n"
                                  "[rule \"nc_west\"]\ntype = noncompliant\nlocale = eu-west-1\n");
    struct sink s = {0};
    alert_engine_t *e = engine(cfg, &s, false);
    json_t *r1 = resource("vpc-0a1", "10.0.0.0/16");
    json_t *r1b = resource("vpc-0a1", "10.9.0.0/16");
    json_t *r2 = resource("vpc-0b2", "10.1.0.0/16");
    assert_int_equal(alert_engine_effect(e, "noncompliant", r1, T0), 0);
    assert_int_equal(alert_engine_effect(e, "noncompliant", r1b, T0), 0);
    assert_int_equal(alert_engine_effect(e, "noncompliant", r2, T0), 0);
    assert_int_equal(count(&s, "nc", "firing"), 3); /* per resource CIDR */
    assert_int_equal(count(&s, "nc_west", NULL), 0);
    assert_int_equal(alert_engine_effect(e, "noncompliant", r2, T0 + MIN), 0); /* replay */
    assert_int_equal(s.n, 3);
    assert_int_equal(alert_engine_effect(e, "compliant", r1, T0 + HOUR), 0);
    assert_int_equal(count(&s, "nc", "resolved"), 1);
    const struct record_alert *a = &s.recs[s.n - 1]->u.alert;
    assert_string_equal(record_map_get(&a->labels, "resource_id"), "vpc-0a1");
    assert_string_equal(record_map_get(&a->labels, "cidr"), "10.0.0.0/16");
    assert_string_equal(a->state, "resolved");
    json_decref(r1);
    json_decref(r1b);
    json_decref(r2);
    stop(e, &s, cfg);
}

/* Unmanaged resources page only for rules that ask (`unmanaged = yes`), with their own
 * fingerprint beside the same resource's noncompliance alert. */
static void test_unmanaged(void **state)
{
    (void)state;
    struct config *cfg = load_cfg("[rule \"nc\"]\ntype = noncompliant\n"
                                  "[rule \"um\"]\ntype = noncompliant\nunmanaged = yes\n");
    struct sink s = {0};
    alert_engine_t *e = engine(cfg, &s, false);
    json_t *r = resource("vpc-0c3", "10.2.0.0/16");
    assert_int_equal(alert_engine_effect(e, "unmanaged", r, T0), 0);
    assert_int_equal(count(&s, "nc", NULL), 0);
    assert_int_equal(count(&s, "um", "firing"), 1);
    const struct record_alert *a = &s.recs[s.n - 1]->u.alert;
    assert_string_equal(record_map_get(&a->labels, "management_state"), "unmanaged");
    assert_non_null(strstr(record_map_get(&a->annotations, "summary"), "not managed by IPAM"));
    char *fp_unmanaged = xstrdup(a->fingerprint);
    assert_int_equal(alert_engine_effect(e, "noncompliant", r, T0), 0);
    assert_int_equal(count(&s, "um", "firing"), 2); /* the rule also pages noncompliance */
    assert_string_not_equal(s.recs[s.n - 1]->u.alert.fingerprint, fp_unmanaged);
    assert_int_equal(alert_engine_effect(e, "unmanaged", r, T0 + MIN), 0); /* replay */
    assert_int_equal(count(&s, "um", "firing"), 2);
    assert_int_equal(alert_engine_effect(e, "managed", r, T0 + HOUR), 0);
    assert_int_equal(count(&s, "um", "resolved"), 1);
    assert_string_equal(s.recs[s.n - 1]->u.alert.fingerprint, fp_unmanaged);
    assert_int_equal(count(&s, "nc", "resolved"), 0);
    free(fp_unmanaged);
    json_decref(r);
    stop(e, &s, cfg);
}

/* ---- stale ---------------------------------------------------------------------------- */

static const char *stale_rule =
    "[rule \"stale\"]\ntype = stale\nmax_pass_age = 1h\nmax_event_lag = 10m\n";

static void test_stale(void **state)
{
    (void)state;
    struct config *cfg = load_cfg(stale_rule);
    struct sink s = {0};
    int64_t t = wall_ms();
    alert_engine_t *e = engine(cfg, &s, false);

    /* Collector silent since the start. */
    alert_engine_tick(e, t + 30 * MIN);
    assert_int_equal(s.n, 0);
    alert_engine_tick(e, t + 62 * MIN);
    assert_int_equal(count(&s, "stale", "firing"), 1);
    assert_string_equal(record_map_get(&s.recs[0]->u.alert.labels, "reason"), "pass_age");
    assert_string_equal(s.recs[0]->scope, "global");
    /* A pass arrives: the global alert resolves. */
    alert_engine_pass(e, SCOPE_1, t + 63 * MIN);
    alert_engine_tick(e, t + 64 * MIN);
    assert_int_equal(count(&s, "stale", "resolved"), 1);

    /* An event newer than the last pass, and no pass for > max_event_lag -> event_lag. */
    alert_engine_event_seen(e, SCOPE_1, t + 65 * MIN);
    alert_engine_tick(e, t + 74 * MIN);
    assert_int_equal(count(&s, "stale", "firing"), 1);
    alert_engine_tick(e, t + 76 * MIN);
    assert_int_equal(count(&s, "stale", "firing"), 2);
    const struct record_alert *a = &s.recs[s.n - 1]->u.alert;
    assert_string_equal(record_map_get(&a->labels, "reason"), "event_lag");
    assert_string_equal(record_map_get(&a->labels, "scope_id"), SCOPE_1);
    alert_engine_pass(e, SCOPE_1, t + 77 * MIN);
    alert_engine_tick(e, t + 78 * MIN);
    assert_int_equal(count(&s, "stale", "resolved"), 2);

    /* The scope's passes stop: pass_age for that scope. */
    alert_engine_tick(e, t + 77 * MIN + HOUR + MIN);
    assert_int_equal(count(&s, "stale", "firing"), 3);
    a = &s.recs[s.n - 1]->u.alert;
    assert_string_equal(record_map_get(&a->labels, "reason"), "pass_age");
    assert_string_equal(s.recs[s.n - 1]->scope, SCOPE_1);
    stop(e, &s, cfg);
}

/* A replay (the analyzer behind its partitions) evaluates no stale rule; after it caught
 * up, a condition from the replayed past fires only once it also held for the limit live,
 * and an alert that fired before keeps its course. */
static void test_stale_replay(void **state)
{
    (void)state;
    struct config *cfg = load_cfg(stale_rule);
    struct sink s = {0};
    int64_t t = wall_ms();
    alert_engine_t *e = engine(cfg, &s, false);
    alert_engine_set_caught_up(e, false, t);
    /* Three years of history: passes and events long ago. */
    alert_engine_pass(e, SCOPE_1, t - 1095 * 24 * HOUR);
    alert_engine_event_seen(e, SCOPE_1, t - 1094 * 24 * HOUR);
    alert_engine_tick(e, t + 2 * HOUR);
    assert_int_equal(s.n, 0);
    /* Caught up: not raised within the limit of catching up. */
    alert_engine_set_caught_up(e, true, t + 3 * HOUR);
    alert_engine_tick(e, t + 3 * HOUR + 9 * MIN);
    assert_int_equal(s.n, 0);
    /* event_lag (10m) held live for its limit. */
    alert_engine_tick(e, t + 3 * HOUR + 11 * MIN);
    assert_int_equal(count(&s, "stale", "firing"), 1);
    assert_string_equal(record_map_get(&s.recs[s.n - 1]->u.alert.labels, "reason"), "event_lag");
    /* Falling behind again freezes the alerts: no resolve, no new one. */
    alert_engine_set_caught_up(e, false, t + 4 * HOUR);
    alert_engine_pass(e, SCOPE_1, t + 5 * HOUR + 30 * MIN);
    alert_engine_tick(e, t + 6 * HOUR);
    assert_int_equal(count(&s, "stale", "firing"), 1);
    assert_int_equal(count(&s, "stale", "resolved"), 0);
    /* Caught up again: the pass resolves it; passes stopping fire at once now. */
    alert_engine_set_caught_up(e, true, t + 6 * HOUR);
    alert_engine_tick(e, t + 6 * HOUR + MIN);
    assert_int_equal(count(&s, "stale", "resolved"), 1);
    assert_int_equal(count(&s, "stale", "firing"), 1);
    alert_engine_tick(e, t + 6 * HOUR + 31 * MIN);
    assert_int_equal(count(&s, "stale", "firing"), 2);
    assert_string_equal(record_map_get(&s.recs[s.n - 1]->u.alert.labels, "reason"), "pass_age");
    stop(e, &s, cfg);
}

/* ---- stale: allocations not reflected in the inventory -------------------------------- */

static json_t *alloc_event(const char *pool_id, const char *cidr, const char *aid, bool in_inv)
{
    json_t *d =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:b}", "scope_id", SCOPE_1, "pool_id", pool_id, "cidr",
                  cidr, "account", "111122223333", "region", "eu-west-1", "in_inventory", in_inv);
    if (aid)
        json_object_set_new(d, "allocation_id", json_string(aid));
    return d;
}

/* Feeds one allocation (or release) effect and drops the data. */
static void alloc_fx(alert_engine_t *e, const char *kind, json_t *d, int64_t ms)
{
    assert_int_equal(alert_engine_effect(e, kind, d, ms), 0);
    json_decref(d);
}

static void test_stale_reflect(void **state)
{
    (void)state;
    struct config *cfg = load_cfg("[rule \"st\"]\ntype = stale\nmax_pass_age = 7d\n"
                                  "max_event_lag = 7d\nmax_reflect_lag = 30m\n"
                                  "[rule \"other\"]\ntype = stale\npool = " POOL_B "\n"
                                  "max_pass_age = 7d\nmax_event_lag = 7d\nmax_reflect_lag = 5m\n");
    struct sink s = {0};
    int64_t t = wall_ms();
    alert_engine_t *e = engine(cfg, &s, true);
    struct alert_engine_stats es;
    alert_engine_pass(e, SCOPE_1, t);

    /* A: waits; B: the model found it in the inventory already; C and D: released (by CIDR,
     * by id) before the inventory listed them. */
    alloc_fx(e, "allocation", alloc_event(POOL_A, "10.0.0.0/24", "ipam-pool-alloc-1", false),
             t + MIN);
    alloc_fx(e, "allocation", alloc_event(POOL_A, "10.0.1.0/24", "ipam-pool-alloc-2", true),
             t + MIN);
    alloc_fx(e, "allocation", alloc_event(POOL_A, "10.0.2.0/24", "ipam-pool-alloc-3", false),
             t + MIN);
    alloc_fx(e, "allocation", alloc_event(POOL_A, "10.0.3.0/24", "ipam-pool-alloc-4", false),
             t + MIN);
    alloc_fx(e, "release", alloc_event(POOL_A, "10.0.2.0/24", NULL, false), t + 2 * MIN);
    json_t *rel = alloc_event(POOL_A, "10.0.3.0/24", "ipam-pool-alloc-4", false);
    json_object_del(rel, "cidr");
    alloc_fx(e, "release", rel, t + 2 * MIN);
    /* History: a complete pass started more than max_reflect_lag after it. */
    alloc_fx(e, "allocation", alloc_event(POOL_A, "10.0.9.0/24", "ipam-pool-alloc-9", false),
             t - HOUR);
    /* Malformed: no CIDR. */
    json_t *bad = alloc_event(POOL_A, "10.0.4.0/24", NULL, false);
    json_object_del(bad, "cidr");
    assert_int_equal(alert_engine_effect(e, "allocation", bad, t), -EINVAL);
    json_decref(bad);
    alert_engine_get_stats(e, &es);
    assert_int_equal(es.unreflected, 1);

    /* Older than 30m, but no complete pass started after the event: the inventory has not
     * had a chance to show it (event_lag speaks for that). */
    alert_engine_tick(e, t + 40 * MIN);
    assert_int_equal(s.n, 0);
    /* A pass that started after the event and did not list it: fires once. */
    alert_engine_pass(e, SCOPE_1, t + 10 * MIN);
    alert_engine_tick(e, t + 20 * MIN); /* only 19 minutes after the event */
    assert_int_equal(s.n, 0);
    alert_engine_tick(e, t + 32 * MIN);
    assert_int_equal(count(&s, "st", "firing"), 1);
    assert_int_equal(count(&s, "other", NULL), 0); /* selects another pool */
    const struct record_alert *a = &s.recs[0]->u.alert;
    assert_string_equal(record_map_get(&a->labels, "reason"), "reflect_lag");
    assert_string_equal(record_map_get(&a->labels, "pool_id"), POOL_A);
    assert_string_equal(record_map_get(&a->labels, "cidr"), "10.0.0.0/24");
    assert_string_equal(record_map_get(&a->labels, "allocation_id"), "ipam-pool-alloc-1");
    assert_string_equal(record_map_get(&a->labels, "account"), "111122223333");
    assert_string_equal(record_map_get(&a->labels, "scope_id"), SCOPE_1);
    assert_string_equal(s.recs[0]->scope, SCOPE_1);
    assert_non_null(strstr(record_map_get(&a->annotations, "summary"), "10.0.0.0/24"));
    char fp[17];
    snprintf(fp, sizeof fp, "%s", a->fingerprint);
    alert_engine_tick(e, t + 33 * MIN);
    assert_int_equal(s.n, 1);

    /* Restart: the tracked allocation and its firing alert come back, without a notice. */
    char err[512] = "";
    assert_int_equal(alert_engine_save(e, err, sizeof err), 0);
    alert_engine_free(e);
    e = engine(cfg, &s, true);
    alert_engine_get_stats(e, &es);
    assert_int_equal(es.unreflected, 1);
    assert_int_equal(es.firing, 1);
    alert_engine_tick(e, t + 34 * MIN);
    assert_int_equal(s.n, 1);

    /* Another pool's record with the same CIDR changes nothing; its own resolves it. */
    alert_engine_allocation_seen(e, POOL_B, "10.0.0.0/24", t + 35 * MIN);
    assert_int_equal(s.n, 1);
    alert_engine_allocation_seen(e, POOL_A, "10.0.0.0/24", t + 35 * MIN);
    assert_int_equal(count(&s, "st", "resolved"), 1);
    assert_string_equal(s.recs[1]->u.alert.fingerprint, fp);
    assert_non_null(record_map_get(&s.recs[1]->u.alert.annotations, "resolution"));
    alert_engine_get_stats(e, &es);
    assert_int_equal(es.unreflected, 0);
    assert_int_equal(es.firing, 0);

    /* A release of an allocation already firing resolves it too. */
    alloc_fx(e, "allocation", alloc_event(POOL_A, "10.0.5.0/24", NULL, false), t + 36 * MIN);
    alert_engine_pass(e, SCOPE_1, t + 37 * MIN);
    alert_engine_tick(e, t + 67 * MIN);
    assert_int_equal(count(&s, "st", "firing"), 2);
    alloc_fx(e, "release", alloc_event(POOL_A, "10.0.5.0/24", NULL, false), t + 68 * MIN);
    assert_int_equal(count(&s, "st", "resolved"), 2);

    /* Bounded: beyond the cap allocations are counted, not tracked. */
    for (int i = 0; i < 10001; i++) {
        char cidr[32];
        snprintf(cidr, sizeof cidr, "10.%d.%d.0/24", 100 + i / 256, i % 256);
        alloc_fx(e, "allocation", alloc_event(POOL_A, cidr, NULL, false), t + 70 * MIN);
    }
    alert_engine_get_stats(e, &es);
    assert_int_equal(es.unreflected, 10000);
    assert_int_equal(es.unreflected_dropped, 1);
    alert_engine_free(e);
    unlink(state_path());
    sink_clear(&s);
    config_free(cfg);
}

/* ---- restart -------------------------------------------------------------------------- */

static void test_restart(void **state)
{
    (void)state;
    const char *rules = "[rule \"u\"]\ntype = utilization\nfor = 0s\nrepeat_interval = 1h\n"
                        "[rule \"ov\"]\ntype = overlap\ndomain = corp\n"
                        "[rule \"nc\"]\ntype = noncompliant\n";
    struct config *cfg = load_cfg(rules);
    struct sink s = {0};
    alert_engine_t *e = engine(cfg, &s, true);
    alert_engine_tick(e, T0);   /* the wall clock */
    observe(e, POOL_A, 85, T0); /* warning fires */
    observe(e, POOL_B, 85, T0); /* warning fires */
    json_t *p1 = pair("corp", "static:corp/172.16.0.0/16", "vpc-0a1/172.16.5.0/24");
    assert_int_equal(alert_engine_effect(e, "overlap_opened", p1, T0), 0);
    json_t *r1 = resource("vpc-0a1", "10.0.0.0/16");
    assert_int_equal(alert_engine_effect(e, "noncompliant", r1, T0), 0);
    assert_int_equal(count(&s, NULL, "firing"), 4);
    char err[512] = "";
    assert_int_equal(alert_engine_save(e, err, sizeof err), 0);
    struct stat st;
    assert_int_equal(stat(state_path(), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char fp_a[17];
    snprintf(fp_a, sizeof fp_a, "%s", last_with(&s, "pool_id", POOL_A)->fingerprint);
    alert_engine_free(e);
    sink_clear(&s);

    /* Restart: nothing is announced again, and the same conditions change nothing. */
    e = engine(cfg, &s, true);
    struct alert_engine_stats es;
    alert_engine_get_stats(e, &es);
    assert_int_equal(es.firing, 4);
    observe(e, POOL_A, 86, T0 + 10 * MIN);
    assert_int_equal(alert_engine_effect(e, "overlap_opened", p1, T0 + 10 * MIN), 0);
    assert_int_equal(alert_engine_effect(e, "noncompliant", r1, T0 + 10 * MIN), 0);
    alert_engine_tick(e, T0 + 30 * MIN); /* within the repeat interval */
    assert_int_equal(s.n, 0);
    /* The repeat schedule survived: due one hour after the original notification for "u"
     * (ov and nc repeat every 4h, the default). */
    alert_engine_tick(e, T0 + HOUR);
    assert_int_equal(s.n, 2);
    assert_int_equal(count(&s, "u", "firing"), 2);
    sink_clear(&s);

    /* Conditions gone after the restart: each alert gets its resolve, with its identity. */
    observe(e, POOL_A, 50, T0 + 70 * MIN);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.recs[0]->u.alert.state, "resolved");
    assert_string_equal(s.recs[0]->u.alert.fingerprint, fp_a);
    assert_int_equal(s.recs[0]->u.alert.starts_at_ms, T0);
    assert_int_equal(alert_engine_effect(e, "overlap_closed", p1, T0 + 70 * MIN), 0);
    assert_int_equal(count(&s, "ov", "resolved"), 1);
    /* POOL_B is no longer reported at all: the sweep ends it. */
    assert_int_equal(alert_engine_sweep(e, CONFIG_RULE_UTILIZATION, T0 + 70 * MIN, T0 + 71 * MIN),
                     1);
    assert_int_equal(count(&s, "u", "resolved"), 2);
    assert_int_equal(alert_engine_save(e, err, sizeof err), 0);
    stop(e, &s, cfg);

    /* A rule deleted from the config: its firing alert is resolved at the first tick. */
    cfg = load_cfg("[rule \"u\"]\ntype = utilization\n");
    e = engine(cfg, &s, true);
    alert_engine_tick(e, T0 + 2 * HOUR);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.recs[0]->u.alert.rule, "nc");
    assert_string_equal(s.recs[0]->u.alert.state, "resolved");
    alert_engine_tick(e, T0 + 3 * HOUR);
    assert_int_equal(s.n, 1);
    alert_engine_free(e);
    sink_clear(&s);

    /* A damaged state file is refused with a reason rather than silently forgotten. */
    FILE *f = fopen(state_path(), "w");
    assert_non_null(f);
    fputs("{\"version\": 1, \"alerts\": [", f);
    fclose(f);
    e = alert_engine_new(cfg, state_path(), NULL, capture, &s, err, sizeof err);
    assert_null(e);
    assert_non_null(strstr(err, state_path()));
    json_decref(p1);
    json_decref(r1);
    config_free(cfg);
}

/* ---- two clocks: conditions in event time, notifications on the wall clock ------------ */

/* Number of notifications in `state` whose fingerprint is `fp`. */
static size_t count_fp(const struct sink *s, const char *fp, const char *state)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += strcmp(s->recs[i]->u.alert.fingerprint, fp) == 0 &&
             strcmp(s->recs[i]->u.alert.state, state) == 0;
    return n;
}

static void test_repeat_old_events(void **state)
{
    (void)state;
    /* Replayed changes from long ago: each alert pages once, its reminders follow on the
     * wall clock from that page, and a restart keeps that schedule. */
    const char *rules = "[rule \"ov\"]\ntype = overlap\ndomain = corp\nrepeat_interval = 1h\n"
                        "[rule \"nc\"]\ntype = noncompliant\nrepeat_interval = 1h\n"
                        "[rule \"af\"]\ntype = allocation_failed\nwindow = 2d\n"
                        "repeat_interval = 1h\n";
    const int64_t W = T0 + 400 * DAY; /* the wall clock; the events are older */
    struct config *cfg = load_cfg(rules);
    struct sink s = {0};
    unlink(state_path());
    alert_engine_t *e = engine(cfg, &s, true);
    alert_engine_tick(e, W);
    json_t *p = pair("corp", "static:corp/172.16.0.0/16", "vpc-0a1/172.16.5.0/24");
    json_t *r = resource("vpc-0a1", "10.0.0.0/16");
    json_t *f = failure(POOL_A, "InvalidParameterValue");
    assert_int_equal(alert_engine_effect(e, "overlap_opened", p, T0 - 730 * DAY), 0);
    assert_int_equal(alert_engine_effect(e, "noncompliant", r, T0 - 365 * DAY), 0);
    assert_int_equal(alert_engine_effect(e, "allocation_failed", f, W - 30 * HOUR), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(count(&s, NULL, "firing"), 3);
    /* The alert's start is the event's time. */
    assert_int_equal(last_with(&s, "domain", "corp")->starts_at_ms, T0 - 730 * DAY);
    assert_int_equal(last_with(&s, "resource_id", "vpc-0a1")->starts_at_ms, T0 - 365 * DAY);
    char fps[3][17];
    for (size_t i = 0; i < 3; i++)
        snprintf(fps[i], sizeof fps[i], "%s", s.recs[i]->u.alert.fingerprint);

    /* No second page right away, nor within the interval of wall time. */
    alert_engine_tick(e, W + 100);
    alert_engine_tick(e, W + MIN);
    alert_engine_tick(e, W + 59 * MIN);
    assert_int_equal(s.n, 3);
    /* One reminder each, a repeat_interval after the page. */
    alert_engine_tick(e, W + HOUR);
    assert_int_equal(s.n, 6);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(count_fp(&s, fps[i], "firing"), 2);
    alert_engine_tick(e, W + HOUR + 30 * MIN);
    assert_int_equal(s.n, 6);
    char err[512] = "";
    assert_int_equal(alert_engine_save(e, err, sizeof err), 0);
    alert_engine_free(e);
    sink_clear(&s);

    /* Restart: the replayed effects change nothing, the schedule goes on from the last
     * reminder (due at W + 2h), and a restart long after reminds once, not once per missed
     * interval. */
    e = engine(cfg, &s, true);
    assert_int_equal(alert_engine_effect(e, "overlap_opened", p, T0 - 730 * DAY), 0);
    assert_int_equal(alert_engine_effect(e, "noncompliant", r, T0 - 365 * DAY), 0);
    alert_engine_tick(e, W + HOUR + 40 * MIN);
    alert_engine_tick(e, W + HOUR + 59 * MIN);
    assert_int_equal(s.n, 0);
    alert_engine_tick(e, W + 2 * HOUR);
    assert_int_equal(s.n, 3);
    alert_engine_tick(e, W + 7 * HOUR);
    assert_int_equal(s.n, 6);
    alert_engine_tick(e, W + 7 * HOUR + 59 * MIN);
    assert_int_equal(s.n, 6);
    struct alert_engine_stats st;
    alert_engine_get_stats(e, &st);
    assert_int_equal(st.repeats, 6);
    assert_int_equal(st.fired, 0); /* nothing fired anew after the restart */

    /* Until resolve: each fingerprint is one firing story; the resolve carries its start. */
    assert_int_equal(alert_engine_effect(e, "overlap_closed", p, W + 8 * HOUR), 0);
    assert_int_equal(count_fp(&s, fps[0], "resolved") + count_fp(&s, fps[1], "resolved") +
                         count_fp(&s, fps[2], "resolved"),
                     1);
    assert_int_equal(last_with(&s, "domain", "corp")->starts_at_ms, T0 - 730 * DAY);
    json_decref(p);
    json_decref(r);
    json_decref(f);
    stop(e, &s, cfg);
}

static void test_clock_stepped_back(void **state)
{
    (void)state;
    /* A notification stamped after the wall clock of the next tick (the clock stepped back,
     * or the engine ran before its first tick) waits one interval from that tick, not until
     * the clock comes back. */
    struct config *cfg = load_cfg("[rule \"nc\"]\ntype = noncompliant\nrepeat_interval = 1h\n");
    struct sink s = {0};
    alert_engine_t *e = engine(cfg, &s, false);
    json_t *r = resource("vpc-0a1", "10.0.0.0/16");
    assert_int_equal(alert_engine_effect(e, "noncompliant", r, T0), 0); /* stamped: real clock */
    assert_int_equal(s.n, 1);
    alert_engine_tick(e, T0 + MIN); /* the real clock is years later than T0 */
    alert_engine_tick(e, T0 + 60 * MIN);
    assert_int_equal(s.n, 1);
    alert_engine_tick(e, T0 + 61 * MIN);
    assert_int_equal(s.n, 2);
    json_decref(r);
    stop(e, &s, cfg);
}

static void test_failed_window_backlog(void **state)
{
    (void)state;
    /* The allocation_failed window is event time: while the analyzer is behind, a failure
     * inside the window may still be on its way, so the alert stays until the stream (or,
     * once caught up, the clock) passes the window's end; a failure folded in meanwhile is
     * no second page. */
    struct config *cfg = load_cfg("[rule \"af\"]\ntype = allocation_failed\nwindow = 1h\n");
    struct sink s = {0};
    alert_engine_t *e = engine(cfg, &s, false);
    const int64_t W = T0 + 10 * DAY;
    json_t *fa = failure(POOL_A, "InvalidParameterValue");
    json_t *fb = failure(POOL_B, "InvalidParameterValue");
    alert_engine_tick(e, W);
    alert_engine_set_caught_up(e, false, W);
    assert_int_equal(alert_engine_effect(e, "allocation_failed", fa, W - 50 * MIN), 0);
    alert_engine_tick(e, W + 20 * MIN); /* window ended at W + 10m, the stream is at W - 50m */
    assert_int_equal(count(&s, "af", "resolved"), 0);
    assert_int_equal(alert_engine_effect(e, "allocation_failed", fa, W - 5 * MIN), 0);
    assert_int_equal(count(&s, "af", "firing"), 1);
    alert_engine_event_seen(e, SCOPE_1, W + 40 * MIN);
    alert_engine_tick(e, W + 50 * MIN); /* now until W + 55m */
    assert_int_equal(count(&s, "af", "resolved"), 0);
    alert_engine_pass(e, SCOPE_1, W + 56 * MIN);
    alert_engine_tick(e, W + 60 * MIN);
    assert_int_equal(count(&s, "af", "resolved"), 1);
    assert_int_equal(s.recs[s.n - 1]->u.alert.ends_at_ms, W + 55 * MIN);
    assert_string_equal(record_map_get(&s.recs[s.n - 1]->u.alert.annotations, "failures"), "2");

    /* Caught up, the clock decides. */
    assert_int_equal(alert_engine_effect(e, "allocation_failed", fb, W + 65 * MIN), 0);
    alert_engine_set_caught_up(e, true, W + 66 * MIN);
    alert_engine_tick(e, W + 2 * HOUR + 4 * MIN);
    assert_int_equal(count(&s, "af", "resolved"), 1);
    alert_engine_tick(e, W + 2 * HOUR + 5 * MIN);
    assert_int_equal(count(&s, "af", "resolved"), 2);
    assert_int_equal(count(&s, "af", "firing"), 2);
    json_decref(fa);
    json_decref(fb);
    stop(e, &s, cfg);
}

static void observe_past(alert_engine_t *e, const char *id, double pct, int64_t t)
{
    struct alert_object o = pool(id, SCOPE_1);
    struct rrd_sample s = util(pct);
    assert_int_equal(alert_engine_observe_past(e, &o, &s, t), 0);
}

static void test_for_over_replay(void **state)
{
    (void)state;
    /* Backfill samples start and drop pending alerts silently (rules without `for` ignore
     * them); the first live sample fires the conditions that held for `for` in sample time,
     * once, from when they began. */
    struct config *cfg =
        load_cfg("[rule \"u\"]\ntype = utilization\nwarn_trigger = 80\n"
                 "warn_reset = 75\ncrit_trigger = 95\nfor = 15m\n"
                 "repeat_interval = 1h\n"
                 "[rule \"fit\"]\ntype = cannot_fit\nnetmask = 16\nrepeat_interval = 1h\n");
    struct sink s = {0};
    alert_engine_t *e = engine(cfg, &s, false);
    const int64_t W = T0 + 100 * DAY;
    const char *pc = "ipam-pool-0ccccccccccccccc3";
    alert_engine_tick(e, W);
    observe_past(e, POOL_A, 85, W - 30 * DAY);
    observe_past(e, POOL_A, 78, W - 20 * DAY); /* above the reset: still on */
    observe_past(e, POOL_B, 85, W - 10 * DAY);
    observe_past(e, POOL_B, 60, W - 9 * DAY); /* a peak long gone */
    observe_past(e, pc, 85, W - 5 * MIN);
    assert_int_equal(s.n, 0); /* the past notifies nothing, not even pending */
    struct alert_engine_stats st;
    alert_engine_get_stats(e, &st);
    assert_int_equal(st.pending, 2);
    assert_int_equal(st.emitted, 0);

    /* The live sample: "fit" (no `for`) fires on it alone, for each pool. */
    observe(e, POOL_A, 85, W);
    observe(e, POOL_B, 60, W);
    observe(e, pc, 85, W);
    assert_int_equal(count(&s, "fit", "firing"), 3);
    assert_int_equal(count(&s, "u", NULL), 1);
    const struct record_alert *a = last_with(&s, "alertname", "u");
    assert_string_equal(a->state, "firing");
    assert_string_equal(record_map_get(&a->labels, "pool_id"), POOL_A);
    assert_int_equal(a->starts_at_ms, W - 30 * DAY);
    observe(e, pc, 86, W + 9 * MIN);
    assert_int_equal(count(&s, "u", NULL), 1);
    observe(e, pc, 86, W + 10 * MIN); /* 15 minutes since it began, in sample time */
    assert_int_equal(count(&s, "u", "firing"), 2);
    a = last_with(&s, "alertname", "u");
    assert_string_equal(record_map_get(&a->labels, "pool_id"), pc);
    assert_int_equal(a->starts_at_ms, W - 5 * MIN);

    /* An older sample neither resolves nor renews what fired. */
    observe_past(e, POOL_A, 10, W - DAY);
    alert_engine_get_stats(e, &st);
    assert_int_equal(st.firing, 5);
    assert_int_equal(st.resolved, 0);
    /* One reminder per interval of wall time after each page. */
    size_t n = s.n;
    alert_engine_tick(e, W + 59 * MIN);
    assert_int_equal(s.n, n);
    alert_engine_tick(e, W + HOUR);
    assert_int_equal(s.n, n + 5);
    assert_int_equal(count(&s, "u", "firing"), 4);
    stop(e, &s, cfg);
}

/* ---- identity, labels, selectors, templates, defaults --------------------------------- */

static void test_fingerprint_stability(void **state)
{
    (void)state;
    const char *k1[] = {"alertname", "severity", "pool_id", "scope_id"};
    const char *v1[] = {"u", "warning", POOL_A, SCOPE_1};
    const char *k2[] = {"scope_id", "pool_id", "alertname", "severity"};
    const char *v2[] = {SCOPE_1, POOL_A, "u", "warning"};
    char a[17], b[17], c[17];
    assert_int_equal(alert_fingerprint("u", k1, v1, 4, a, sizeof a), 0);
    assert_int_equal(alert_fingerprint("u", k2, v2, 4, b, sizeof b), 0);
    assert_string_equal(a, b); /* label order does not matter */
    assert_int_equal(strlen(a), 16);
    assert_int_equal(strspn(a, "0123456789abcdef"), 16);
    /* Pinned: a changed algorithm would re-page every firing alert after an upgrade. */
    assert_string_equal(a, FP_PINNED);
    v1[2] = POOL_B;
    assert_int_equal(alert_fingerprint("u", k1, v1, 4, c, sizeof c), 0);
    assert_string_not_equal(a, c);
    assert_int_equal(alert_fingerprint("v", k2, v2, 4, c, sizeof c), 0);
    assert_string_not_equal(a, c);
    assert_int_equal(alert_fingerprint("u", k1, v1, 4, c, 8), -ENOSPC);

    /* The engine's notifications carry exactly that fingerprint, across fire and resolve. */
    struct config *cfg = load_cfg("[rule \"u\"]\ntype = utilization\nfor = 0s\n");
    struct sink s = {0};
    alert_engine_t *e = engine(cfg, &s, false);
    observe(e, POOL_A, 85, T0);
    observe(e, POOL_A, 10, T0 + MIN);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.recs[0]->u.alert.fingerprint, b);
    assert_string_equal(s.recs[1]->u.alert.fingerprint, b);
    stop(e, &s, cfg);
}

/* Independent of the engine's own check: Prometheus' [a-zA-Z_][a-zA-Z0-9_]*. */
static bool prom_label_name(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

static void test_label_names_valid(void **state)
{
    (void)state;
    struct config *cfg = load_cfg(
        "[rule \"pool-util\"]\ntype = utilization\nfor = 0s\nlabels = team=netops, tier=1\n"
        "[rule \"nofit\"]\ntype = cannot_fit\n"
        "[rule \"fc\"]\ntype = forecast\n"
        "[rule \"ov\"]\ntype = overlap\ndomain = corp\n"
        "[rule \"af\"]\ntype = allocation_failed\n"
        "[rule \"nc\"]\ntype = noncompliant\n"
        "[rule \"st\"]\ntype = stale\nmax_pass_age = 1m\n");
    struct sink s = {0};
    int64_t t = wall_ms();
    alert_engine_t *e = engine(cfg, &s, false);
    struct alert_object o = pool(POOL_A, SCOPE_1);
    struct rrd_sample smp = util(97);
    smp.largest_free = 22;
    smp.default_fits = 0;
    assert_int_equal(alert_engine_observe(e, &o, &smp, t), 0);
    assert_int_equal(alert_engine_forecast(e, &o, CONFIG_TARGET_FULL, 3, 2, 4, t), 0);
    json_t *p = pair("corp", "vpc-0a1/10.0.0.0/16", "vpc-0b2/10.0.0.0/20");
    json_t *f = failure(POOL_A, "InvalidParameterValue");
    json_t *r = resource("vpc-0a1", "10.0.0.0/16");
    assert_int_equal(alert_engine_effect(e, "overlap_opened", p, t), 0);
    assert_int_equal(alert_engine_effect(e, "allocation_failed", f, t), 0);
    assert_int_equal(alert_engine_effect(e, "noncompliant", r, t), 0);
    alert_engine_tick(e, t + 2 * MIN);
    const char *rules[] = {"pool-util", "nofit", "fc", "ov", "af", "nc", "st"};
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
        if (count(&s, rules[i], "firing") == 0)
            fail_msg("rule %s did not fire", rules[i]);
    for (size_t i = 0; i < s.n; i++) {
        const struct record_alert *a = &s.recs[i]->u.alert;
        for (size_t j = 0; j < a->labels.n; j++) {
            const char *k = a->labels.items[j].key;
            if (!prom_label_name(k) || !alert_label_name_valid(k))
                fail_msg("rule %s: label name '%s' is not a Prometheus label name", a->rule, k);
            assert_true(a->labels.items[j].value[0] != '\0');
        }
        assert_string_equal(record_map_get(&a->labels, "alertname"), a->rule);
        assert_string_equal(record_map_get(&a->labels, "severity"), a->severity);
        assert_non_null(record_map_get(&a->annotations, "summary"));
        assert_non_null(record_map_get(&a->annotations, "description"));
    }
    const struct record_alert *u = last_with(&s, "team", "netops");
    assert_non_null(u);
    assert_string_equal(u->rule, "pool-util");
    assert_string_equal(record_map_get(&u->labels, "tier"), "1");

    static const struct {
        const char *name;
        bool ok;
    } names[] = {{"pool_id", true}, {"_x", true},   {"A9", true}, {"pool-id", false},
                 {"9a", false},     {"__x", false}, {"", false},  {"a.b", false}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (alert_label_name_valid(names[i].name) != names[i].ok)
            fail_msg("'%s': want %d", names[i].name, names[i].ok);
    json_decref(p);
    json_decref(f);
    json_decref(r);
    stop(e, &s, cfg);
}

static void test_selectors(void **state)
{
    (void)state;
    struct config *cfg = load_cfg("[rule \"sel\"]\ntype = utilization\nfor = 0s\n"
                                  "scope = prod\npool = corp-net\nlocale = eu-west-1\n"
                                  "tag = env=prod\nobject = vpc\n");
    struct sink s = {0};
    alert_engine_t *e = engine(cfg, &s, false);
    struct record_map tags = {0};
    record_map_set(&tags, "env", "prod");
    struct record_map dev = {0};
    record_map_set(&dev, "env", "dev");
    const char *pools[] = {POOL_B, POOL_A};
    const char *names[] = {"euw1-shared", "corp-net"};
    struct alert_object ok = {.kind = CONFIG_OBJECT_VPC,
                              .id = "vpc-0a1",
                              .scope_id = SCOPE_1,
                              .scope_name = "prod",
                              .locale = "eu-west-1",
                              .pools = pools,
                              .pool_names = names,
                              .n_pools = 2,
                              .tags = &tags,
                              .family = 4};
    struct rrd_sample smp = util(85);
    struct alert_object o = ok;
    o.id = "vpc-other-kind";
    o.kind = CONFIG_OBJECT_SUBNET;
    assert_int_equal(alert_engine_observe(e, &o, &smp, T0), 0);
    o = ok;
    o.scope_id = SCOPE_2;
    o.scope_name = "test";
    assert_int_equal(alert_engine_observe(e, &o, &smp, T0), 0);
    o = ok;
    o.locale = "eu-central-1";
    assert_int_equal(alert_engine_observe(e, &o, &smp, T0), 0);
    o = ok;
    o.tags = &dev;
    assert_int_equal(alert_engine_observe(e, &o, &smp, T0), 0);
    o = ok;
    o.n_pools = 1; /* only under euw1-shared, not below corp-net */
    assert_int_equal(alert_engine_observe(e, &o, &smp, T0), 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(alert_engine_observe(e, &ok, &smp, T0), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(record_map_get(&s.recs[0]->u.alert.labels, "vpc_id"), "vpc-0a1");
    assert_string_equal(s.recs[0]->scope, SCOPE_1);
    assert_int_equal(alert_engine_observe(e, NULL, &smp, T0), -EINVAL);
    free(tags.items[0].key);
    free(tags.items[0].value);
    free(tags.items);
    free(dev.items[0].key);
    free(dev.items[0].value);
    free(dev.items);
    stop(e, &s, cfg);
}

static void test_runbook_template(void **state)
{
    (void)state;
    struct config *cfg = load_cfg(
        "[rule \"ov\"]\ntype = overlap\ndomain = corp\n"
        "runbook_url = https://wiki.example.com/rb?d={domain}&c={cidr_a}&x={nope}#{alertname}\n");
    struct sink s = {0};
    alert_engine_t *e = engine(cfg, &s, false);
    json_t *p = pair("corp", "static:corp/172.16.0.0/16", "vpc-0a1/172.16.5.0/24");
    assert_int_equal(alert_engine_effect(e, "overlap_opened", p, T0), 0);
    assert_int_equal(s.n, 1);
    assert_string_equal(record_map_get(&s.recs[0]->u.alert.annotations, "runbook_url"),
                        "https://wiki.example.com/rb?d=corp&c=172.16.0.0%2F16&x={nope}#ov");
    json_decref(p);
    stop(e, &s, cfg);
}

static void test_default_rules(void **state)
{
    (void)state;
    struct config *cfg = load_cfg("");
    assert_int_equal(cfg->n_rules, 0);
    struct sink s = {0};
    alert_engine_t *e = engine(cfg, &s, false);
    /* utilization_high: 80/90 %, for 15m. */
    observe(e, POOL_A, 91, T0);
    assert_int_equal(count(&s, "utilization_high", "pending"), 2);
    observe(e, POOL_A, 91, T0 + 15 * MIN);
    assert_int_equal(count(&s, "utilization_high", "firing"), 2);
    observe(e, POOL_A, 86, T0 + 16 * MIN); /* under 90 but over the 85 reset */
    assert_int_equal(count(&s, "utilization_high", "resolved"), 0);
    observe(e, POOL_A, 84, T0 + 17 * MIN);
    assert_int_equal(count(&s, "utilization_high", "resolved"), 1);
    /* overlap (any domain) and allocation_failed are critical. */
    json_t *p = pair("lab", "static:lab/192.168.0.0/16", "vpc-0c3/192.168.1.0/24");
    json_t *f = failure(POOL_A, "InvalidParameterValue");
    assert_int_equal(alert_engine_effect(e, "overlap_opened", p, T0), 0);
    assert_int_equal(alert_engine_effect(e, "allocation_failed", f, T0), 0);
    assert_int_equal(count(&s, "overlap", "firing"), 1);
    assert_int_equal(count(&s, "allocation_failed", "firing"), 1);
    assert_string_equal(last_with(&s, "domain", "lab")->severity, "critical");
    json_decref(p);
    json_decref(f);
    stop(e, &s, cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utilization_hysteresis),
        cmocka_unit_test(test_for_duration),
        cmocka_unit_test(test_repeat_interval),
        cmocka_unit_test(test_cannot_fit),
        cmocka_unit_test(test_forecast),
        cmocka_unit_test(test_overlap_pairs),
        cmocka_unit_test(test_allocation_failed_window),
        cmocka_unit_test(test_unmanaged),
        cmocka_unit_test(test_noncompliant),
        cmocka_unit_test(test_stale),
        cmocka_unit_test(test_stale_replay),
        cmocka_unit_test(test_stale_reflect),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_repeat_old_events),
        cmocka_unit_test(test_clock_stepped_back),
        cmocka_unit_test(test_failed_window_backlog),
        cmocka_unit_test(test_for_over_replay),
        cmocka_unit_test(test_fingerprint_stability),
        cmocka_unit_test(test_label_names_valid),
        cmocka_unit_test(test_selectors),
        cmocka_unit_test(test_runbook_template),
        cmocka_unit_test(test_default_rules),
    };
    return cmocka_run_group_tests(tests, testing_tmpdir_setup, testing_tmpdir_teardown);
}
