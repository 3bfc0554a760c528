/* analyzer_alerts: the alert rule engine and the sinks inside the analyzer loop. See
 * analyzer_alerts.h. */
#define LOG_MODULE "alerts"
#include "analyzer/analyzer_alerts.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "alerts/engine.h"
#include "alerts/sinks.h"
#include "analyzer/forecast.h"
#include "fileio.h"
#include "log.h"
#include "xalloc.h"

#define DEFAULT_FAILED_WINDOW_MS   (3600 * 1000LL) /* the built-in allocation_failed rule */
#define DEFAULT_FORECAST_WINDOW_MS (90 * 86400 * 1000LL)
#define TICK_MS                    100 /* least time between two ticks */

struct analyzer_alerts {
    const struct config *cfg;
    rrd_store_t *rrd;
    sinks_t *sinks;
    alert_engine_t *engine;
    int64_t step_ms;
    int64_t failed_window_ms; /* longest allocation_failed window */
    int64_t forecast_window_ms;
    bool forecast_kind[4];   /* enum config_object: a forecast rule selects this kind */
    bool forecast_target[2]; /* enum config_forecast_target in use */
    bool past_for;           /* a utilization rule has a `for`: backfill rounds are observed */
    json_t *forecast_at;     /* "kind/id" -> the RRD step (sample time) of its last forecast */
    /* pool id -> {"scope": scope id, "seconds": until full by the last forecast of target full
     * that could judge; null: never (flat or shrinking); "unknown": it no longer can} */
    json_t *exhaustion;
    uint64_t exhaustion_version; /* bumped whenever `exhaustion` changes */

    /* the current round: its sample time (event time: observations and `for`), the start of
     * the RRD step that holds it (forecasts are judged there) and the wall time it began */
    bool live, full;
    int64_t sample_ms, step_start_ms, round_ms;

    int64_t last_tick_ms;
    bool dirty;         /* the engine state changed since the last save */
    char *state_path;   /* <state_dir>/alerts.json */
    char *prev_path;    /* <state_dir>/alerts.prev.json: the state of the previous checkpoint */
    uint64_t saved_gen; /* checkpoint generation of the state file */
    int submit_err;     /* first notification a sink could neither spool nor hold; sticky */
    uint64_t changes;   /* notifications emitted: transitions the partition state must carry */
    struct analyzer_alerts_stats st;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_emit(void *ctx, const struct record *alert)
{
    analyzer_alerts_t *aa = ctx;
    aa->dirty = true;
    aa->changes++;
    int rc = sinks_submit(aa->sinks, alert);
    if (rc == -EINVAL) {
        LOG_WARN("alert %s (%s) refused by the sinks: not a valid alert",
                 alert->u.alert.fingerprint, alert->u.alert.rule);
        return;
    }
    if (rc < 0) {
        LOG_ERR("alert %s (%s, %s) could not be spooled nor held: %s", alert->u.alert.fingerprint,
                alert->u.alert.rule, alert->u.alert.state, strerror(-rc));
        if (!aa->submit_err)
            aa->submit_err = rc;
        return;
    }
    if (strcmp(alert->u.alert.state, "pending") != 0) {
        aa->st.submitted++;
        LOG_INFO("alert %s %s: %s (%d sinks)", alert->u.alert.rule, alert->u.alert.state,
                 alert->u.alert.fingerprint, rc);
    }
}

static void on_adopt(void *ctx, const struct record *alert)
{
    analyzer_alerts_t *aa = ctx;
    if (sinks_adopt_firing(aa->sinks, alert) > 0)
        aa->st.adopted++;
}

/* What the rules need to know in advance: allocation_failed windows, forecast kinds. */
static void scan_rules(analyzer_alerts_t *aa)
{
    const struct config *cfg = aa->cfg;
    aa->forecast_window_ms = cfg->analyzer.forecast_window_ms > 0 ? cfg->analyzer.forecast_window_ms
                                                                  : DEFAULT_FORECAST_WINDOW_MS;
    if (cfg->n_rules == 0) { /* the built-in rules: see alerts/engine.c */
        aa->failed_window_ms = DEFAULT_FAILED_WINDOW_MS;
        aa->forecast_kind[CONFIG_OBJECT_POOL] = true;
        aa->forecast_target[CONFIG_TARGET_FULL] = true;
        aa->past_for = true;
        return;
    }
    for (size_t i = 0; i < cfg->n_rules; i++) {
        const struct config_rule *r = &cfg->rules[i];
        if (r->type == CONFIG_RULE_UTILIZATION && r->for_ms > 0)
            aa->past_for = true;
        if (r->type == CONFIG_RULE_ALLOCATION_FAILED && r->window_ms > aa->failed_window_ms)
            aa->failed_window_ms = r->window_ms;
        if (r->type == CONFIG_RULE_FORECAST) {
            aa->forecast_kind[r->object] = true;
            aa->forecast_target[r->target] = true;
            if (r->window_ms > aa->forecast_window_ms)
                aa->forecast_window_ms = r->window_ms;
        }
    }
}

/* The "checkpoint" of the alert state file `path`: 1 with *gen set, 0 when the file has none
 * (written before states were tied to checkpoints), -1 when there is no readable file. */
static int state_checkpoint(const char *path, uint64_t *gen)
{
    json_t *root = json_load_file(path, 0, NULL);
    if (!root)
        return -1;
    json_t *v = json_object_get(root, "checkpoint");
    int rc = json_is_integer(v) && json_integer_value(v) >= 0 ? 1 : 0;
    if (rc)
        *gen = (uint64_t)json_integer_value(v);
    json_decref(root);
    return rc;
}

/* Makes alerts.json the state of checkpoint `gen` (or of an earlier one: a checkpoint saves
 * the state first, so one not saved since is unchanged): a state saved for a later checkpoint
 * that was never completed (a crash between the two) is replaced by alerts.prev.json, or
 * removed when there is none, so that the records replayed from `gen` meet the alert state
 * they left. */
static void state_pick(analyzer_alerts_t *aa, uint64_t gen)
{
    uint64_t cur = 0, prev = 0;
    int has_cur = state_checkpoint(aa->state_path, &cur);
    int has_prev = state_checkpoint(aa->prev_path, &prev);
    aa->saved_gen = has_cur == 1 ? cur : gen;
    if (has_cur == 0 || (has_cur == 1 && cur <= gen))
        return;
    bool use_prev = has_prev == 0 || (has_prev == 1 && prev <= gen);
    if (has_cur == 1)
        LOG_INFO("alert state %s belongs to checkpoint %llu, beyond checkpoint %llu: %s",
                 aa->state_path, (unsigned long long)cur, (unsigned long long)gen,
                 use_prev ? "using the previous one" : "starting without alerts");
    if (use_prev) {
        if (rename(aa->prev_path, aa->state_path) < 0)
            LOG_ERR("rename %s to %s: %s", aa->prev_path, aa->state_path, strerror(errno));
        aa->saved_gen = has_prev == 1 ? prev : gen;
    } else if (has_cur == 1) {
        if (unlink(aa->state_path) < 0)
            LOG_ERR("unlink %s: %s", aa->state_path, strerror(errno));
        aa->saved_gen = gen;
    }
    fileio_fsync_dir(aa->cfg->analyzer.state_dir);
}

analyzer_alerts_t *analyzer_alerts_new(const struct config *cfg, rrd_store_t *rrd, uint64_t gen,
                                       char *err, size_t errlen)
{
    analyzer_alerts_t *aa = xcalloc(1, sizeof *aa);
    char text[512];
    const char *path = NULL;
    aa->cfg = cfg;
    aa->rrd = rrd;
    aa->step_ms = cfg->rrd.step_ms > 0 ? cfg->rrd.step_ms : 300000;
    aa->forecast_at = json_object();
    aa->exhaustion = json_object();
    scan_rules(aa);
    aa->sinks = sinks_new(cfg, text, sizeof text);
    if (!aa->sinks) {
        snprintf(err, errlen, "alert sinks: %s", text);
        goto fail;
    }
    aa->state_path = xasprintf("%s/" ANALYZER_ALERTS_STATE, cfg->analyzer.state_dir);
    aa->prev_path = xasprintf("%s/" ANALYZER_ALERTS_PREV, cfg->analyzer.state_dir);
    path = aa->state_path;
    state_pick(aa, gen);
    /* A first start saves its state at once: it holds the start time that the stale rules'
     * "no pass since the start" counts from, which a restart must count from too. */
    aa->dirty = access(path, F_OK) != 0;
    aa->engine = alert_engine_new(cfg, path, NULL, on_emit, aa, text, sizeof text);
    if (!aa->engine) {
        snprintf(err, errlen, "alert state %s: %s", path, text);
        goto fail;
    }
    alert_engine_foreach_firing(aa->engine, on_adopt, aa);
    struct alert_engine_stats es;
    alert_engine_get_stats(aa->engine, &es);
    LOG_INFO("%zu rules, %zu sinks; %llu alerts firing and %llu pending from %s (%llu "
             "re-registered with Alertmanager sinks)",
             cfg->n_rules, sinks_count(aa->sinks), (unsigned long long)es.firing,
             (unsigned long long)es.pending, path, (unsigned long long)aa->st.adopted);
    return aa;
fail:
    analyzer_alerts_free(aa);
    return NULL;
}

void analyzer_alerts_round_begin(analyzer_alerts_t *aa, time_t t, bool full)
{
    aa->round_ms = wall_ms();
    /* Event time, even when it runs ahead of the clock (RRD sample times only grow, so
     * rounds closer together than a second are written a second apart): a replay of the same
     * records must announce the same times, and so the same notification ids. The
     * Alertmanager payload clamps times ahead of the clock (alerts/sink_payload.c). */
    aa->sample_ms = (int64_t)t * 1000;
    aa->step_start_ms = aa->sample_ms - aa->sample_ms % aa->step_ms;
    aa->full = full;
    aa->live = (int64_t)t * 1000 >= aa->round_ms - ANALYZER_ALERTS_LIVE_MS - aa->step_ms;
}

static bool object_kind(const char *kind, enum config_object *out)
{
    static const struct {
        const char *word;
        enum config_object kind;
    } kinds[] = {{"pool", CONFIG_OBJECT_POOL},
                 {"scope", CONFIG_OBJECT_SCOPE},
                 {"vpc", CONFIG_OBJECT_VPC},
                 {"subnet", CONFIG_OBJECT_SUBNET}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kind, kinds[i].word) == 0) {
            *out = kinds[i].kind;
            return true;
        }
    return false;
}

/* Notes the time until pool `ao` is full from a forecast of target full that ended in
 * `status` (`days` as handed to the engine) for analyzer_alerts_exhaustion(). A forecast that
 * cannot judge (too little history, no size) leaves a pool never judged out and turns a judged
 * one "unknown". */
static void note_exhaustion(analyzer_alerts_t *aa, const struct alert_object *ao,
                            enum forecast_status status, double days)
{
    json_t *v;
    if (status == FORECAST_DATE || status == FORECAST_REACHED)
        v = json_real(days > 0 ? days * 86400.0 : 0.0);
    else if (status == FORECAST_FLAT || status == FORECAST_SHRINKING)
        v = json_null();
    else if (json_object_get(aa->exhaustion, ao->id))
        v = json_string("unknown");
    else
        return;
    json_t *old = json_object_get(json_object_get(aa->exhaustion, ao->id), "seconds");
    if (old && json_equal(old, v)) {
        json_decref(v);
        return;
    }
    json_object_set_new(aa->exhaustion, ao->id,
                        json_pack("{s:s,s:o}", "scope", ao->scope_id, "seconds", v));
    aa->exhaustion_version++;
}

/* Days from `now_s` to `t`; `none` when t is 0 (no date). */
static double days_to(time_t t, time_t now_s, double none)
{
    return t ? (double)(t - now_s) / 86400.0 : none;
}

/* Forecasts `ao` once per RRD step of sample time, judged at the step's start: what it
 * decides (and so a notification's starts_at and id) depends on the step and the daily
 * history only, not on the round or the wall time it ran in, so the rounds that a restart
 * replays after a crash decide the same and the sinks drop what they spooled before. */
static void forecast(analyzer_alerts_t *aa, const struct alert_object *ao, const char *kind)
{
    char key[300];
    if (snprintf(key, sizeof key, "%s/%s", kind, ao->id) >= (int)sizeof key)
        return;
    json_t *last = json_object_get(aa->forecast_at, key);
    if (last && json_integer_value(last) == aa->step_start_ms)
        return;
    json_object_set_new(aa->forecast_at, key, json_integer(aa->step_start_ms));
    if (!rrd_store_valid_key(kind, ao->id))
        return;
    time_t now_s = (time_t)(aa->step_start_ms / 1000);
    for (int target = CONFIG_TARGET_FULL; target <= CONFIG_TARGET_CRIT; target++) {
        if (!aa->forecast_target[target])
            continue;
        struct forecast_options fo = {
            .level = NAN,
            .level_pct = alert_engine_forecast_level(aa->engine, target),
            .confidence = 0.90,
            .min_days = 7,
        };
        struct forecast_result fr;
        aa->st.forecasts++;
        int rc = forecast_object(aa->rrd, kind, ao->id, aa->forecast_window_ms / 1000, &fo, &fr);
        if (rc == -ENOENT)
            return; /* no history yet */
        if (rc < 0) {
            LOG_DEBUG("forecast of %s %s: %s", kind, ao->id, rrd_store_error(aa->rrd));
            return;
        }
        double days = INFINITY, low = NAN, high = NAN;
        if (fr.status == FORECAST_REACHED) {
            days = low = high = 0;
        } else if (fr.status == FORECAST_DATE) {
            days = days_to(fr.date, now_s, INFINITY);
            low = days_to(fr.date_early, now_s, NAN);
            high = days_to(fr.date_late, now_s, INFINITY);
        }
        if (ao->kind == CONFIG_OBJECT_POOL && target == CONFIG_TARGET_FULL)
            note_exhaustion(aa, ao, fr.status, days);
        alert_engine_forecast(aa->engine, ao, (enum config_forecast_target)target, days, low, high,
                              aa->step_start_ms);
    }
}

void analyzer_alerts_object(analyzer_alerts_t *aa, const struct model_object *o,
                            const struct rrd_sample *s)
{
    enum config_object kind;
    if ((!aa->live && !aa->past_for) || !object_kind(o->kind, &kind))
        return;
    struct alert_object ao = {
        .kind = kind,
        .id = o->id,
        .scope_id = o->scope_id,
        .name = o->name,
        .locale = o->locale,
        .pools = o->pools,
        .pool_names = o->pool_names,
        .n_pools = o->n_pools,
        .tags = o->tags,
        .default_netmask = o->default_netmask,
        .family = o->family,
    };
    if (!aa->live) {
        alert_engine_observe_past(aa->engine, &ao, s, aa->sample_ms);
        return;
    }
    aa->st.observed++;
    alert_engine_observe(aa->engine, &ao, s, aa->sample_ms);
    if (aa->forecast_kind[kind])
        forecast(aa, &ao, o->kind);
}

void analyzer_alerts_round_end(analyzer_alerts_t *aa)
{
    if (!aa->live || !aa->full)
        return;
    alert_engine_sweep(aa->engine, CONFIG_RULE_UTILIZATION, aa->sample_ms, aa->sample_ms);
    alert_engine_sweep(aa->engine, CONFIG_RULE_CANNOT_FIT, aa->sample_ms, aa->sample_ms);
    /* An object is forecast once per step, judged at the step's start: one still there was
     * forecast in this step, or in the previous one (a step of grace). */
    alert_engine_sweep(aa->engine, CONFIG_RULE_FORECAST, aa->step_start_ms - aa->step_ms,
                       aa->step_start_ms);
}

void analyzer_alerts_effects(analyzer_alerts_t *aa, const struct model_effect *items, size_t n)
{
    int64_t now = wall_ms();
    for (size_t i = 0; i < n; i++) {
        const struct model_effect *e = &items[i];
        int64_t ms = (int64_t)e->event_time * 1000;
        if (strcmp(e->kind, "pass") == 0) {
            const char *scope =
                json_string_value(json_object_get(model_effect_data(e), "scope_id"));
            if (scope)
                alert_engine_pass(aa->engine, scope, ms);
            aa->dirty = true;
            continue;
        }
        if (strcmp(e->kind, "allocation_failed") == 0 && now - ms > aa->failed_window_ms) {
            aa->st.old_failed++;
            continue; /* history: in the journal and the reports, not a page */
        }
        /* A first pass has a million unmanaged effects that no rule may use: their data
         * object is built only when one does. */
        if (!alert_engine_wants_effect(aa->engine, e->kind)) {
            alert_engine_effect_seen(aa->engine, ms);
            continue;
        }
        alert_engine_effect(aa->engine, e->kind, model_effect_data(e), ms);
    }
}

void analyzer_alerts_record(analyzer_alerts_t *aa, const struct record *rec,
                            const struct model_effects *fx)
{
    if (fx)
        analyzer_alerts_effects(aa, fx->items, fx->n);
    /* The record's own time ends a reflect_lag alert, so that a replay resolves it the same. */
    if (rec->type == RECORD_ALLOCATION)
        alert_engine_allocation_seen(aa->engine, rec->u.allocation.pool_id, rec->u.allocation.cidr,
                                     rec->ts_ms != RECORD_UNSET ? rec->ts_ms : wall_ms());
    if (rec->type == RECORD_EVENT && rec->scope && rec->u.event.time_ms != RECORD_UNSET) {
        alert_engine_event_seen(aa->engine, rec->scope, rec->u.event.time_ms);
        aa->dirty = true;
    }
}

static int save(analyzer_alerts_t *aa, uint64_t gen, char *err, size_t errlen)
{
    if (aa->submit_err) {
        /* The saved state must not claim a notification that never reached a spool. */
        snprintf(err, errlen, "a notification could not be spooled: %s", strerror(-aa->submit_err));
        return aa->submit_err;
    }
    /* Nor a notification that is held in memory only: it is spooled first. */
    int rc = sinks_spool_held(aa->sinks, err, errlen);
    if (rc < 0)
        return rc;
    if (gen != aa->saved_gen) {
        /* The state of the last completed checkpoint stays until the next one completes. */
        if (rename(aa->state_path, aa->prev_path) < 0 && errno != ENOENT) {
            rc = -errno;
            snprintf(err, errlen, "rename %s to %s: %s", aa->state_path, aa->prev_path,
                     strerror(errno));
            return rc;
        }
        aa->saved_gen = gen;
    }
    alert_engine_set_checkpoint(aa->engine, gen);
    rc = alert_engine_save(aa->engine, err, errlen);
    if (rc == 0)
        aa->dirty = false;
    return rc;
}

void analyzer_alerts_tick(analyzer_alerts_t *aa)
{
    int64_t now = wall_ms();
    /* A backfill turns the loop once per message: ticks are spaced instead. */
    if (now >= aa->last_tick_ms && now - aa->last_tick_ms < TICK_MS)
        return;
    aa->last_tick_ms = now;
    alert_engine_tick(aa->engine, now);
}

void analyzer_alerts_set_caught_up(analyzer_alerts_t *aa, bool caught_up)
{
    if (aa)
        alert_engine_set_caught_up(aa->engine, caught_up, wall_ms());
}

int analyzer_alerts_checkpoint(analyzer_alerts_t *aa, uint64_t gen, char *err, size_t errlen)
{
    if (aa->submit_err) {
        snprintf(err, errlen, "a notification could not be spooled: %s", strerror(-aa->submit_err));
        return aa->submit_err;
    }
    if (!aa->dirty && gen == aa->saved_gen && sinks_held(aa->sinks) == 0)
        return 0;
    return save(aa, gen, err, errlen); /* a failure is the checkpoint's to log */
}

bool analyzer_alerts_dirty(const analyzer_alerts_t *aa)
{
    return aa && aa->dirty;
}

bool analyzer_alerts_failed(const analyzer_alerts_t *aa)
{
    return aa && aa->submit_err != 0;
}

bool analyzer_alerts_pending(const analyzer_alerts_t *aa)
{
    return aa && sinks_held(aa->sinks) > 0;
}

void analyzer_alerts_get_stats(const analyzer_alerts_t *aa, struct analyzer_alerts_stats *out)
{
    *out = aa->st;
}

void analyzer_alerts_free(analyzer_alerts_t *aa)
{
    if (!aa)
        return;
    LOG_INFO("%llu notifications submitted, %llu observations, %llu forecasts, %llu old "
             "allocation failures not alerted",
             (unsigned long long)aa->st.submitted, (unsigned long long)aa->st.observed,
             (unsigned long long)aa->st.forecasts, (unsigned long long)aa->st.old_failed);
    /* Not saved here: the state on disk stays the one of the last checkpoint, which a
     * restart resumes from. */
    alert_engine_free(aa->engine);
    sinks_free(aa->sinks);
    json_decref(aa->forecast_at);
    json_decref(aa->exhaustion);
    free(aa->state_path);
    free(aa->prev_path);
    free(aa);
}

size_t analyzer_alerts_rule_counts(const analyzer_alerts_t *aa, alert_rule_count_fn fn, void *ctx)
{
    return alert_engine_rule_counts(aa->engine, fn, ctx);
}

int analyzer_alerts_sink_stats(analyzer_alerts_t *aa, size_t i, struct sinks_stat *out)
{
    return sinks_stats(aa->sinks, i, out);
}

uint64_t analyzer_alerts_exhaustion(const analyzer_alerts_t *aa, analyzer_alerts_exhaustion_fn fn,
                                    void *ctx)
{
    if (fn) {
        const char *pool;
        json_t *v;
        json_object_foreach(aa->exhaustion, pool, v)
        {
            json_t *sec = json_object_get(v, "seconds");
            fn(ctx, pool, json_string_value(json_object_get(v, "scope")),
               json_is_null(sec)     ? INFINITY
               : json_is_number(sec) ? json_number_value(sec)
                                     : NAN);
        }
    }
    return aa->exhaustion_version;
}

/* ---- partition state (scale-out) ------------------------------------------------------- */

uint64_t analyzer_alerts_changes(const analyzer_alerts_t *aa)
{
    return aa->changes;
}

json_t *analyzer_alerts_export(const analyzer_alerts_t *aa, alert_scope_fn want, void *ctx)
{
    return alert_engine_export(aa->engine, want, ctx);
}

size_t analyzer_alerts_forget(analyzer_alerts_t *aa, alert_scope_fn want, void *ctx)
{
    json_t *gone = alert_engine_export(aa->engine, want, ctx);
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(gone, "alerts"), i, v)
    {
        const char *fp = json_string_value(json_object_get(v, "fingerprint"));
        if (fp)
            sinks_disown(aa->sinks, fp);
    }
    json_decref(gone);
    const char *pool;
    void *tmp;
    json_object_foreach_safe(aa->exhaustion, tmp, pool, v)
    {
        if (want(ctx, json_string_value(json_object_get(v, "scope")))) {
            json_object_del(aa->exhaustion, pool);
            aa->exhaustion_version++;
        }
    }
    size_t n = alert_engine_forget(aa->engine, want, ctx);
    aa->dirty = true;
    return n;
}

int analyzer_alerts_adopt(analyzer_alerts_t *aa, json_t *state, char *err, size_t errlen)
{
    int rc = alert_engine_adopt(aa->engine, state, err, errlen);
    if (rc < 0)
        return rc;
    aa->dirty = true;
    /* Alertmanager sinks re-post what fires; a fingerprint they know already is replaced. */
    alert_engine_foreach_firing(aa->engine, on_adopt, aa);
    return 0;
}
