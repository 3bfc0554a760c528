/* engine: the alert rule engine: evaluates the [rule] sections against the analyzer's
 * figures and effects, runs each alert's lifecycle and keeps its state across restarts.
 *
 * DESIGN: an alert is one (rule, label set). Its labels are `alertname` (the rule name),
 * `severity`, the labels that identify what it is about (`pool_id`, `scope_id`, `vpc_id`,
 * `subnet_id`, `resource_id`, `cidr`, `domain`, ...) and the rule's own `labels`; its
 * fingerprint is the first 16 hex digits of SHA-256 over the sorted label set, so it is the
 * same across fire, repeat, resolve and restarts. An alert is pending while its condition
 * holds for less than the rule's `for` (utilization rules only), firing after, and is
 * resolved (and forgotten) when the condition ends. Utilization alerts use hysteresis: an
 * alert becomes active at the trigger level and stays active until the value drops below
 * the reset level, so a value oscillating around the trigger fires once. A pending alert
 * whose condition ends before `for` is dropped without a notification.
 *
 * Inputs: per-object figures (alert_engine_observe(): utilization and cannot_fit rules),
 * forecasts (alert_engine_forecast()), model effects (alert_engine_effect(): overlap,
 * allocation_failed, noncompliant rules; allocation and release: stale rules), complete passes,
 * CloudTrail event times and inventory allocation records (alert_engine_pass(),
 * alert_engine_event_seen(), alert_engine_allocation_seen(): stale rules). Time-driven work
 * (repeat intervals, the allocation_failed window, stale checks) happens in
 * alert_engine_tick(). Every transition (pending, firing, resolved) and every repeat of a
 * firing alert is handed to the emit callback as a RECORD_ALERT record; a repeat carries
 * state "firing" again with the same fingerprint and starts_at. Each notification carries an
 * id: the first 16 hex digits of SHA-256 over the fingerprint, the state, starts_at, ends_at
 * and, for a firing one, its repeat number (0 for the fire, n for the n-th repeat, saved with
 * the state). None of these is the wall time of an evaluation, so the same records replayed
 * from the same state produce the same ids, and the sinks drop what they spooled before
 * (alerts/sinks.h). That holds for the alerts the wall clock fires too: a stale alert starts
 * when its data made it true (the newest pass, event or tracked allocation plus the rule's
 * limit; for "no pass since the start", the saved start time plus max_pass_age), not at the
 * tick that noticed it, and resolves at the pass that ended it; forecasts are judged at a time
 * their caller fixes (the analyzer: the start of the RRD step, analyzer/analyzer_alerts.h).
 * So a restart that resumes from a state saved before such an alert fired, and fires it again
 * on a later tick, announces the same id, while a new episode (after a resolve) has a new
 * starts_at and pages.
 *
 * Two clocks: a condition is judged in the time of the data that shows it. A `for` elapses
 * between the sample times of observations (so a replay honours it: with
 * alert_engine_observe_past(), a condition that held through the replayed history fires at
 * the first live observation), an allocation_failed window runs from the event time of the
 * last failure, and starts_at/ends_at are those times. Notifications are scheduled on the
 * wall clock, which the engine learns from alert_engine_tick(): an alert is announced once
 * when it fires, however old its event, and repeated each repeat_interval of wall time after
 * its previous notification (saved with the state, so a restart neither repeats early nor
 * forgets to). Stale rules judge wall-clock ages.
 *
 * Stale rules check three things per scope: the age of the last complete pass (`pass_age`),
 * a CloudTrail event with no complete pass started after it (`event_lag`), and each
 * successful CloudTrail allocation the inventory does not list yet (`reflect_lag`): such an
 * allocation is tracked (at most 10 000 at once; more are counted and logged, not tracked)
 * until an inventory allocation record of its pool lists its CIDR, or a release event ends
 * it; once it is older than max_reflect_lag and a complete pass of its scope that started
 * after the event did not list it, one alert per allocation fires, resolved when it shows
 * up (or is released). An allocation event arriving after a complete pass that started more
 * than max_reflect_lag after it is history (the inventory moved on) and is not tracked.
 *
 * State (every pending and firing alert, the stale bookkeeping) is written by
 * alert_engine_save() as one JSON file, atomically, mode 0600, and read back by
 * alert_engine_new(): an alert that was firing is not announced again, and is resolved as
 * soon as its condition is observed gone (or its rule no longer exists).
 *
 * Not thread-safe: an engine belongs to one thread (the analyzer loop), which makes every
 * call; the emit callback runs on that thread, inside the call that caused it.
 */
#ifndef IPAMWATCH_ALERTS_ENGINE_H
#define IPAMWATCH_ALERTS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "analyzer/rrd_store.h"
#include "config/config.h"
#include "record.h"

typedef struct alert_engine alert_engine_t;

/* Receives one notification: `alert` (a RECORD_ALERT record) is borrowed for the duration
 * of the call; copy or encode what you keep. Must not call into the engine. */
typedef void (*alert_emit_fn)(void *ctx, const struct record *alert);

/* The object a figure or forecast is about, as the rule selectors see it. Every pointer is
 * borrowed for the duration of the call; optional ones may be NULL. */
struct alert_object {
    enum config_object kind; /* pool, scope, vpc or subnet */
    const char *id;          /* required: ipam-pool-..., ipam-scope-..., vpc-..., subnet-... */
    const char *scope_id;    /* required: the IPAM scope it belongs to */
    const char *scope_name;  /* optional: for `scope = NAME` selectors */
    const char *name;        /* optional: display name (Name tag) */
    const char *locale;      /* optional: the pool's locale / the resource's region */
    /* Pools the object belongs to, nearest first, up to the top-level pool: a pool lists
     * itself first; a VPC or subnet the pool it was allocated from. For `pool = X`
     * selectors ("this pool and its children"). `pool_names` (optional) runs parallel. */
    const char *const *pools;
    const char *const *pool_names;
    size_t n_pools;
    const struct record_map *tags; /* optional: for `tag = Key[=Value]` selectors */
    int default_netmask;           /* a pool's allocation default netmask length; 0 = none */
    int family;                    /* 4 or 6; 0 = unknown */
};

/* Counters since alert_engine_new(); copied out by alert_engine_get_stats(). */
struct alert_engine_stats {
    uint64_t emitted;             /* notifications handed to the emit callback */
    uint64_t fired;               /* transitions to firing */
    uint64_t resolved;            /* transitions to resolved */
    uint64_t repeats;             /* repeat notifications */
    uint64_t pending;             /* alerts currently pending */
    uint64_t firing;              /* alerts currently firing */
    uint64_t unreflected;         /* CloudTrail allocations waiting for the inventory */
    uint64_t unreflected_dropped; /* ... not tracked because the table was full */
};

/* Creates an engine for the rules of `cfg` (borrowed; must outlive the engine), or for the
 * built-in default rules (README.md, configuration reference) when `cfg` has none. `state_path`
 * (borrowed, copied; NULL = no persistence) is read when it exists: alerts pending or firing
 * at the last save are restored without notifications. `emit` (may be NULL) receives every
 * notification with `ctx`. `source` (borrowed, copied; NULL = "analyzer/ipamwatch") is the
 * records' producer instance. Returns an engine owned by the caller (alert_engine_free()),
 * or NULL with text in `err` when the state file exists but cannot be read or parsed.
 * Owner thread. */
alert_engine_t *alert_engine_new(const struct config *cfg, const char *state_path,
                                 const char *source, alert_emit_fn emit, void *ctx, char *err,
                                 size_t errlen);

/* Frees the engine (without saving); NULL is a no-op. Owner thread. */
void alert_engine_free(alert_engine_t *e);

/* Evaluates the utilization and cannot_fit rules that select `obj` against its figures `s`
 * (both borrowed; rrd_sample as model_metrics() reports it: utilization in percent, largest
 * free block as a prefix length, NAN when unknown) at sample time `now_ms`. Emits the
 * transitions this causes. Returns 0, or -EINVAL when obj or its id is missing.
 * Owner thread. */
int alert_engine_observe(alert_engine_t *e, const struct alert_object *obj,
                         const struct rrd_sample *s, int64_t now_ms);

/* Like alert_engine_observe() for a sample of the replayed past (a backfill round): notes
 * when a condition of a utilization rule with a `for` began and drops such pending alerts
 * whose condition ended, at sample time `sample_ms`, without any notification. Nothing
 * fires, resolves or repeats; firing alerts, other rules and rules without `for` are left
 * alone. Returns 0, or -EINVAL when obj or its id is missing. Owner thread. */
int alert_engine_observe_past(alert_engine_t *e, const struct alert_object *obj,
                              const struct rrd_sample *s, int64_t sample_ms);

/* Evaluates the forecast rules of `target` that select `obj` (borrowed): `days` is the
 * projected number of days from `now_ms` until the object reaches the target (NAN or
 * INFINITY: not projected to), `low`/`high` the earliest and latest days of the
 * confidence range (NAN when unknown). `now_ms` is the time the forecast is judged at and
 * becomes the starts_at (ends_at) of what fires (resolves): pass a time that a replay
 * repeats, not the wall clock, so that the notification ids repeat too. Emits the
 * transitions this causes. Returns 0 or -EINVAL. Owner thread. */
int alert_engine_forecast(alert_engine_t *e, const struct alert_object *obj,
                          enum config_forecast_target target, double days, double low, double high,
                          int64_t now_ms);

/* The utilization in percent a forecast of `target` projects to: 100 for full, the lowest
 * crit_trigger of the utilization rules (90 without one) for crit. Owner thread. */
double alert_engine_forecast_level(const alert_engine_t *e, enum config_forecast_target target);

/* Resolves (or drops, when pending) the alerts of rules of `type` (utilization, cannot_fit
 * or forecast) whose object was last observed before `since_ms`: call it after each round
 * of observations with the round's start, so alerts of objects that disappeared end.
 * Returns the number of alerts ended. Owner thread. */
size_t alert_engine_sweep(alert_engine_t *e, enum config_rule_type type, int64_t since_ms,
                          int64_t now_ms);

/* Feeds one model effect (model.h: `kind` and `data` borrowed) that happened at
 * `event_ms`: overlap_opened/overlap_closed fire and resolve the pair's overlap alert in
 * each overlap rule of its domain; allocation_failed fires (or extends, within the rule's
 * window, without a new notification) the pool's allocation_failed alert;
 * noncompliant/compliant fire and resolve the resource CIDR's noncompliant alert;
 * allocation (data: scope_id, pool_id, cidr required; allocation_id, account, region,
 * principal_arn, in_inventory optional) starts tracking an allocation for the stale rules'
 * reflect_lag check, release (pool_id and cidr or allocation_id) ends it. Other kinds are
 * ignored. Replays are harmless (an open pair already firing changes nothing).
 * Returns 0, or -EINVAL when `data` lacks a field the kind needs. Owner thread. */
int alert_engine_effect(alert_engine_t *e, const char *kind, json_t *data, int64_t event_ms);

/* Whether alert_engine_effect() would act on an effect of `kind` (borrowed) beyond noting its
 * time: false for unmanaged/managed when no noncompliant rule has `unmanaged = yes`, true
 * otherwise. Lets a caller skip building the data of effects no rule uses. Owner thread. */
bool alert_engine_wants_effect(const alert_engine_t *e, const char *kind);

/* Notes an effect that happened at `event_ms` whose kind alert_engine_wants_effect() declined:
 * exactly what alert_engine_effect() does with it (it advances the engine's event time).
 * Owner thread. */
void alert_engine_effect_seen(alert_engine_t *e, int64_t event_ms);

/* Records a complete inventory pass of `scope_id` (borrowed) that started at `pass_ms`, for
 * stale rules. Owner thread. */
void alert_engine_pass(alert_engine_t *e, const char *scope_id, int64_t pass_ms);

/* Records a CloudTrail event of `scope_id` (borrowed) at `event_ms`, for stale rules: when
 * no complete pass of that scope starts after the newest event within max_event_lag, the
 * inventory is behind CloudTrail. Owner thread. */
void alert_engine_event_seen(alert_engine_t *e, const char *scope_id, int64_t event_ms);

/* An inventory allocation record of `pool_id` listing `cidr` (both borrowed), of time
 * `now_ms` (the record's, so that a replay resolves with the same ends_at), was applied: a
 * tracked CloudTrail allocation with that CIDR in that pool is reflected (its reflect_lag
 * alerts resolve). Owner thread. */
void alert_engine_allocation_seen(alert_engine_t *e, const char *pool_id, const char *cidr,
                                  int64_t now_ms);

/* Tells whether the analyzer is caught up with its partitions at wall time `now_ms`. While it
 * is not (a replay), stale rules are not evaluated (their alerts keep their state); a stale
 * condition that began before the analyzer first caught up after a backlog is raised only
 * once it also held for the rule's limit after that moment. An engine never told is caught
 * up. Owner thread. */
void alert_engine_set_caught_up(alert_engine_t *e, bool caught_up, int64_t now_ms);

/* Time-driven work at wall time `now_ms`, which also becomes the engine's wall clock (the
 * time the notifications emitted until the next tick are scheduled from): resolves
 * allocation_failed alerts whose window passed without a new failure (while the analyzer is
 * behind, only once the stream's event time passed it too), resolves alerts whose rule no
 * longer exists, evaluates stale rules, and repeats firing alerts whose rule's
 * repeat_interval elapsed since their last notification. Pending alerts wait for the
 * observation that completes their `for`. Owner thread. */
void alert_engine_tick(alert_engine_t *e, int64_t now_ms);

/* Names the checkpoint generation `gen` that the next saves belong to: alert_engine_save()
 * writes it into the state file as "checkpoint", so that a restart can tell a state saved
 * ahead of the checkpoint it resumes from (analyzer/analyzer_alerts.h). Owner thread. */
void alert_engine_set_checkpoint(alert_engine_t *e, uint64_t gen);

/* Writes the state to the engine's state path atomically (temporary file, fsync, rename,
 * fsync of the directory), mode 0600. Returns 0 (also when there is no state path) or
 * -errno with text in `err`. Owner thread. */
int alert_engine_save(alert_engine_t *e, char *err, size_t errlen);

/* Calls `fn` with `ctx` once per alert that is firing, with its last firing notification
 * (the record is borrowed for the call), without counting or changing anything: after a
 * restart, to tell the sinks which alerts are still out (sinks_adopt_firing()). Returns
 * how many it reported. Owner thread; `fn` must not call into the engine. */
size_t alert_engine_foreach_firing(const alert_engine_t *e, alert_emit_fn fn, void *ctx);

/* Copies the counters into *out (owned by the caller). Owner thread. */
void alert_engine_get_stats(const alert_engine_t *e, struct alert_engine_stats *out);

/* One rule's alerts and notifications, for /metrics. */
struct alert_rule_count {
    const char *rule;       /* the rule's name, borrowed from the engine's configuration */
    uint64_t pending;       /* alerts pending now */
    uint64_t firing;        /* alerts firing now */
    uint64_t sent_firing;   /* firing notifications emitted since alert_engine_new() (repeats
                               included) */
    uint64_t sent_resolved; /* resolved notifications emitted since alert_engine_new() */
};

/* Receives one rule's figures (`c` borrowed for the call). Must not call into the engine. */
typedef void (*alert_rule_count_fn)(void *ctx, const struct alert_rule_count *c);

/* Calls `fn` with `ctx` once per rule in use (the configured ones in file order, else the
 * built-in ones), also for a rule without any alert, so every rule has its figures. Alerts
 * whose rule no longer exists (a state from an older configuration, resolved at the next
 * alert_engine_tick()) are not counted. Returns the number of rules. Owner thread. */
size_t alert_engine_rule_counts(const alert_engine_t *e, alert_rule_count_fn fn, void *ctx);

/* Writes the fingerprint of `rule` and a label set (n `keys`/`values`, borrowed, any
 * order; the engine's alerts include `alertname` and `severity`): the first 16 lower-case
 * hex digits of SHA-256 over the rule name and the labels sorted by name, and a NUL, into
 * `buf` (at least 17 bytes). Returns 0, -ENOSPC, or -EIO if libcrypto fails. Any thread. */
int alert_fingerprint(const char *rule, const char *const *keys, const char *const *values,
                      size_t n, char *buf, size_t buflen);

/* True when `name` is a valid Prometheus label name: [A-Za-z_][A-Za-z0-9_]*, not starting
 * with "__". Any thread. */
bool alert_label_name_valid(const char *name);

/* Selects alerts by the scope they belong to: `scope` is a scope id, or "global" for an
 * alert tied to no scope (overlap pairs, a silent collector). Returns true to select. */
typedef bool (*alert_scope_fn)(void *ctx, const char *scope);

/* The pending and firing alerts and the stale bookkeeping of the scopes `want` selects, in
 * the state file's form ({"version", "alerts": [...], "scopes": [...]}), for the partition
 * state another analyzer adopts (analyzer/partstate.h). Returns a new reference owned by the
 * caller. Owner thread; `want` must not call into the engine. */
json_t *alert_engine_export(const alert_engine_t *e, alert_scope_fn want, void *ctx);

/* Forgets the alerts and stale bookkeeping of the scopes `want` selects without any
 * notification (another analyzer owns them now and goes on from their state). Returns the
 * number of alerts forgotten. Owner thread; `want` must not call into the engine. */
size_t alert_engine_forget(alert_engine_t *e, alert_scope_fn want, void *ctx);

/* Adopts the alerts and stale bookkeeping of `state` (borrowed; alert_engine_export()'s
 * form) without notifications, as a restart adopts its state file: a firing alert is not
 * announced again and resolves when its condition is observed gone. Alerts whose fingerprint
 * the engine already holds are kept as they are. Returns 0, or -EINVAL with text in `err`
 * for a document that is not such a state. Owner thread. */
int alert_engine_adopt(alert_engine_t *e, json_t *state, char *err, size_t errlen);

#endif
