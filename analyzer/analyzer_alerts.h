/* analyzer_alerts: the alert rule engine and the sinks inside the analyzer loop.
 *
 * DESIGN: the analyzer hands this module what it already computes: every sample round's
 * objects (model_metrics_objects()), each applied record with the model effects it caused,
 * and a tick per loop turn. Conditions are judged in event time, notifications are
 * scheduled on the wall clock (alerts/engine.h, "Two clocks"): a `for` elapses between the
 * sample times of a round's observations and an allocation_failed window runs from the
 * failure's event time, while repeat intervals count wall time from the previous
 * notification, so an alert replayed from hours or years ago pages once and is reminded
 * every repeat_interval after that. Figures fire only in live rounds, whose sample time is
 * at most ANALYZER_ALERTS_LIVE_MS (plus one RRD step) behind the wall clock; in backfill
 * rounds they only start and drop pending alerts of utilization rules with a `for`
 * (alert_engine_observe_past()), so a utilization peak of two years ago pages nobody while
 * a pool above its trigger through the replayed history fires at the first live round.
 * Effects (overlaps, noncompliance) always go in, with their event time as the alert's
 * start, because they are incremental: an overlap opened in the backfill and never closed is
 * still open. An allocation failure older than its rule's window (on the wall clock) is
 * journaled but not alerted. Stale checks judge wall-clock ages. Forecasts (forecast_object(), one
 * RRD fetch per object) run once per object per RRD step of sample time (in the first live
 * round of the step that reports it), judged at the step's start, since the daily history
 * they read does not change within a step; only for the object kinds a forecast rule
 * selects: measured at about 0.3 ms per object (200 days of history, sanitizer build), so
 * 10 000 pools cost about 3 s per step, about 1 % of a 5-minute step.
 *
 * Durability: the emit callback appends each notification to the sink spools (synced before
 * sinks_submit() returns); the engine state is saved only as part of a checkpoint, in step
 * with the model: first thing in each checkpoint (before the RRD/journal/snapshot and the
 * offset commit) as the state of the new checkpoint generation, in alerts.json with that
 * generation inside, the previous one moved to alerts.prev.json; while no record waits for a
 * checkpoint, changes of the ticks (repeats, stale rules, windows that ended) are saved as the
 * current generation's. A start picks the state of the checkpoint it resumes from: alerts.json
 * saved for a later checkpoint that never completed gives way to alerts.prev.json. So the
 * records replayed after a crash meet the alert state they left, the engine emits exactly the
 * notifications it emitted before the crash, with the same ids (alerts/engine.h), and each
 * sink drops the ones it spooled already (alerts/sinks.h): a notification is spooled once per
 * sink however often the analyzer is killed. Alerts fired by the wall clock rather than a
 * record are no exception: a forecast fires again in the replayed round of the same step,
 * judged at the same time; a stale alert fires again on a later tick, but with the start its
 * data fixes; both carry the ids they had. A first start (no state file) saves its state at the
 * first checkpoint without waiting for a change, so that the start time that a "no pass since
 * the start" alert counts from survives a kill. A notification whose spool cannot be written
 * (disk full) is held in memory by the sinks (at most SINKS_HELD_MAX per sink, alerts/sinks.h);
 * while any is held, the engine state is not saved and every checkpoint first retries spooling them
 * and fails while that fails (no commit; the analyzer keeps running). A notification that a sink
 * could neither spool nor hold makes the checkpoint fail for good (analyzer_alerts_checkpoint()
 * returns the error): the analyzer stops without committing, and the restart, which reloads
 * the engine state of the last checkpoint, replays the records and emits it again. At start the
 * alerts already firing are registered with the Alertmanager sinks (sinks_adopt_firing()) so they
 * keep being re-posted, without a new page to PagerDuty, Slack or the other sinks.
 *
 * Not thread-safe: everything here runs on the analyzer loop's thread (the sinks' workers
 * are internal to alerts/sinks.c).
 */
#ifndef IPAMWATCH_ANALYZER_ALERTS_H
#define IPAMWATCH_ANALYZER_ALERTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "alerts/engine.h"
#include "alerts/sinks.h"
#include "analyzer/model.h"
#include "analyzer/rrd_store.h"
#include "config/config.h"
#include "record.h"

/* Sample rounds at most this far (plus one RRD step) behind the wall clock are live. */
#define ANALYZER_ALERTS_LIVE_MS (3600 * 1000LL)
#define ANALYZER_ALERTS_STATE   "alerts.json"      /* in [analyzer] state_dir */
#define ANALYZER_ALERTS_PREV    "alerts.prev.json" /* the previous checkpoint's */

typedef struct analyzer_alerts analyzer_alerts_t;

/* Counters for logs. */
struct analyzer_alerts_stats {
    uint64_t submitted;  /* notifications handed to the sinks */
    uint64_t observed;   /* object observations in live rounds */
    uint64_t forecasts;  /* forecast_object() calls */
    uint64_t adopted;    /* firing alerts re-registered with Alertmanager sinks at start */
    uint64_t old_failed; /* allocation failures older than their window, not alerted */
};

/* Opens the sinks of `cfg` and the rule engine with the state of checkpoint generation `gen`
 * (the one the analyzer resumes from; 0 = none) from <state_dir>/alerts.json or, when that
 * one was saved for a later checkpoint, alerts.prev.json (see DESIGN), and registers the
 * alerts already firing with the Alertmanager sinks. `cfg` and `rrd` (for forecasts) are
 * borrowed and must outlive the result. Call it before any other thread uses libcurl. Returns
 * the handle (owned by the caller, analyzer_alerts_free()) or NULL with the reason in `err`.
 * Analyzer thread. */
analyzer_alerts_t *analyzer_alerts_new(const struct config *cfg, rrd_store_t *rrd, uint64_t gen,
                                       char *err, size_t errlen);

/* Starts a sample round at sample time `t` (UTC seconds) covering every scope (`full`) or
 * one scope. Analyzer thread. */
void analyzer_alerts_round_begin(analyzer_alerts_t *aa, time_t t, bool full);

/* One object of the current round (both borrowed for the call): observed against the
 * utilization and cannot_fit rules at the round's sample time (event time, also when it runs
 * ahead of the wall clock), and forecast when due, in a live round; in a backfill round only noted
 * for the `for` of utilization rules (alert_engine_observe_past()), without notifications. Analyzer
 * thread; not from inside a model callback that forbids engine calls (there is none). */
void analyzer_alerts_object(analyzer_alerts_t *aa, const struct model_object *o,
                            const struct rrd_sample *s);

/* Ends the round: after a live full round, ends the alerts of objects it did not report
 * (they disappeared). Analyzer thread. */
void analyzer_alerts_round_end(analyzer_alerts_t *aa);

/* Feeds one applied record (`rec` borrowed) and the effects it caused (`fx` borrowed; NULL
 * when they went through analyzer_alerts_effects()): effects to the engine, complete passes
 * and CloudTrail event times for stale rules. Analyzer thread. */
void analyzer_alerts_record(analyzer_alerts_t *aa, const struct record *rec,
                            const struct model_effects *fx);

/* Feeds `n` effects (`items` borrowed) to the engine as analyzer_alerts_record() does, for a
 * record whose effects arrive in portions (model_effects_set_sink()); call
 * analyzer_alerts_record() with NULL effects once the record is applied. Analyzer thread;
 * may be called from inside model_apply() (it does not call into the model). */
void analyzer_alerts_effects(analyzer_alerts_t *aa, const struct model_effect *items, size_t n);

/* Time-driven work at the wall clock, at most once per 100 ms (later calls return at once);
 * what it changes is saved by the next checkpoint (analyzer_alerts_dirty()). Call once per
 * loop turn. Analyzer thread. */
void analyzer_alerts_tick(analyzer_alerts_t *aa);

/* Whether the consumer is caught up with its partitions (stale rules judge only then:
 * alert_engine_set_caught_up()). Analyzer thread. */
void analyzer_alerts_set_caught_up(analyzer_alerts_t *aa, bool caught_up);

/* The alert part of checkpoint generation `gen` (the one being written, or the current one
 * while no record waits for a checkpoint): returns -errno (text in `err`) when a notification
 * could neither be spooled nor held since the start (the checkpoint must not commit: only a
 * replay can emit it again), or when notifications held in memory still cannot be spooled
 * (retried first); else saves the engine state as `gen`'s when `gen` is new or the state
 * changed since the last save (a new `gen` moves the previous state to alerts.prev.json
 * first), and returns 0 or its -errno. Analyzer thread. */
int analyzer_alerts_checkpoint(analyzer_alerts_t *aa, uint64_t gen, char *err, size_t errlen);

/* True when the engine state changed since the last save: a checkpoint is due even without
 * new records. Analyzer thread. */
bool analyzer_alerts_dirty(const analyzer_alerts_t *aa);

/* True after a notification could neither be spooled nor held: the analyzer must stop
 * without a commit. Analyzer thread. */
bool analyzer_alerts_failed(const analyzer_alerts_t *aa);

/* True while notifications are held in memory because a spool could not be written: a
 * checkpoint is due to retry them. Analyzer thread. */
bool analyzer_alerts_pending(const analyzer_alerts_t *aa);

/* Copies the counters into *out. Analyzer thread. */
void analyzer_alerts_get_stats(const analyzer_alerts_t *aa, struct analyzer_alerts_stats *out);

/* Closes the sinks (they keep delivering for their drain time, the rest stays spooled) and
 * frees everything, without saving: the state on disk stays the last checkpoint's, which a
 * restart resumes from (call analyzer_run() to the end for a final checkpoint). NULL is a
 * no-op. Analyzer thread. */
void analyzer_alerts_free(analyzer_alerts_t *aa);

/* alert_engine_rule_counts() on the analyzer's engine: per rule, its alerts pending and firing
 * now and the notifications emitted since the start. Returns the number of rules. Analyzer
 * thread; `fn` must not call into `aa`. */
size_t analyzer_alerts_rule_counts(const analyzer_alerts_t *aa, alert_rule_count_fn fn, void *ctx);

/* sinks_stats() of sink `i` of the analyzer's sinks: 0, or -ENOENT past the last one. Any
 * thread. */
int analyzer_alerts_sink_stats(analyzer_alerts_t *aa, size_t i, struct sinks_stat *out);

/* Receives one pool's time to exhaustion: `pool_id` and `scope_id` borrowed for the call;
 * `seconds` until it is full by its last forecast (0: full already), INFINITY when its trend
 * does not grow (flat or shrinking), NAN when a later forecast could no longer judge (its
 * history was too short or its size unknown). */
typedef void (*analyzer_alerts_exhaustion_fn)(void *ctx, const char *pool_id, const char *scope_id,
                                              double seconds);

/* Calls `fn` (may be NULL) with `ctx` once per pool that a forecast of target full judged
 * (forecast rules of pools with `target = full`, the built-in `forecast` rule among them; at
 * most once per pool per RRD step, in live rounds, once its history holds enough days). A pool
 * is reported until its scope is forgotten (analyzer_alerts_forget()). Returns a version that
 * changes whenever what `fn` would be told changes, so a caller may skip the walk while it
 * stays the same. Analyzer thread; `fn` must not call into `aa`. */
uint64_t analyzer_alerts_exhaustion(const analyzer_alerts_t *aa, analyzer_alerts_exhaustion_fn fn,
                                    void *ctx);

/* Notifications emitted since the start: when it moved, the alert part of the partition state
 * changed. Analyzer thread. */
uint64_t analyzer_alerts_changes(const analyzer_alerts_t *aa);

/* alert_engine_export(), alert_engine_forget() and alert_engine_adopt() on the analyzer's
 * engine (alerts/engine.h), for the partition state (analyzer/partstate.h). Adopting also
 * registers the firing alerts with the Alertmanager sinks, as a restart does; forgetting
 * disowns the forgotten alerts in the sinks (sinks_disown()), so that this analyzer stops
 * re-posting what another one owns now. Analyzer thread. */
json_t *analyzer_alerts_export(const analyzer_alerts_t *aa, alert_scope_fn want, void *ctx);
size_t analyzer_alerts_forget(analyzer_alerts_t *aa, alert_scope_fn want, void *ctx);
int analyzer_alerts_adopt(analyzer_alerts_t *aa, json_t *state, char *err, size_t errlen);

#endif
