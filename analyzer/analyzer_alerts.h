/* analyzer_alerts: the alert rule engine and the sinks inside the analyzer loop.
 *
 * DESIGN: the analyzer hands this module what it already computes: every sample round's
 * objects (model_metrics_objects()), each applied record with the model effects it caused,
 * and a tick per loop turn. Rule lifecycles run on the wall clock: utilization and
 * cannot_fit `for` durations, repeat intervals, the allocation_failed window and stale
 * checks are measured in real time, never in event time, so a backfill replaying years of
 * history in minutes cannot make a `for` elapse or a repeat fall due. Figures are observed
 * only in live rounds, whose sample time is at most ANALYZER_ALERTS_LIVE_MS (plus one RRD
 * step) behind the wall clock; backfill rounds feed the RRD history only, so a utilization
 * peak of two years ago pages nobody. Effects (overlaps, noncompliance) always go in, with
 * their event time as the alert's start, because they are incremental: an overlap opened in
 * the backfill and never closed is still open. An allocation failure older than its rule's
 * window is journaled but not alerted. Forecasts (forecast_object(), one RRD fetch per
 * object) run at most once per object per RRD step, only for the object kinds a forecast
 * rule selects: measured at about 0.3 ms per object (200 days of history, sanitizer
 * build), so 10 000 pools cost about 3 s per step, about 1 % of a 5-minute step.
 *
 * Durability: the emit callback appends each notification to the sink spools (synced before
 * sinks_submit() returns); the engine state is saved by the first tick (at most 100 ms later)
 * after a change, and again at each checkpoint, before the RRD/journal/snapshot checkpoint and
 * the offset commit. A spool append that failed makes the checkpoint fail for good
 * (analyzer_alerts_checkpoint() returns the error): the analyzer stops without committing,
 * and the restart, which reloads the engine state of the last save, replays the records and
 * emits the lost notification again. At start the alerts already firing are registered
 * with the Alertmanager sinks (sinks_adopt_firing()) so they keep being re-posted, without
 * a new page to PagerDuty, Slack or the other sinks.
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

#include "analyzer/model.h"
#include "analyzer/rrd_store.h"
#include "config/config.h"
#include "record.h"

/* Sample rounds at most this far (plus one RRD step) behind the wall clock are live. */
#define ANALYZER_ALERTS_LIVE_MS (3600 * 1000LL)
#define ANALYZER_ALERTS_STATE   "alerts.json" /* in [analyzer] state_dir */

typedef struct analyzer_alerts analyzer_alerts_t;

/* Counters for logs. */
struct analyzer_alerts_stats {
    uint64_t submitted;  /* notifications handed to the sinks */
    uint64_t observed;   /* object observations in live rounds */
    uint64_t forecasts;  /* forecast_object() calls */
    uint64_t adopted;    /* firing alerts re-registered with Alertmanager sinks at start */
    uint64_t old_failed; /* allocation failures older than their window, not alerted */
};

/* Opens the sinks of `cfg` and the rule engine with its state in <state_dir>/alerts.json
 * (read when it exists), and registers the alerts already firing with the Alertmanager
 * sinks. `cfg` and `rrd` (for forecasts) are borrowed and must outlive the result. Call it
 * before any other thread uses libcurl. Returns the handle (owned by the caller,
 * analyzer_alerts_free()) or NULL with the reason in `err`. Analyzer thread. */
analyzer_alerts_t *analyzer_alerts_new(const struct config *cfg, rrd_store_t *rrd, char *err,
                                       size_t errlen);

/* Starts a sample round at sample time `t` (UTC seconds) covering every scope (`full`) or
 * one scope. Analyzer thread. */
void analyzer_alerts_round_begin(analyzer_alerts_t *aa, time_t t, bool full);

/* One object of the current round (both borrowed for the call): observed against the
 * utilization and cannot_fit rules, and forecast when due, in a live round. Analyzer
 * thread; not from inside a model callback that forbids engine calls (there is none). */
void analyzer_alerts_object(analyzer_alerts_t *aa, const struct model_object *o,
                            const struct rrd_sample *s);

/* Ends the round: after a live full round, ends the alerts of objects it did not report
 * (they disappeared). Analyzer thread. */
void analyzer_alerts_round_end(analyzer_alerts_t *aa);

/* Feeds one applied record (`rec` borrowed) and the effects it caused (`fx` borrowed):
 * effects to the engine, complete passes and CloudTrail event times for stale rules.
 * Analyzer thread. */
void analyzer_alerts_record(analyzer_alerts_t *aa, const struct record *rec,
                            const struct model_effects *fx);

/* Time-driven work at the wall clock, then a save of the engine state if anything changed;
 * at most once per 100 ms (later calls return at once). Call once per loop turn. Analyzer
 * thread. */
void analyzer_alerts_tick(analyzer_alerts_t *aa);

/* The alert part of a checkpoint: returns -errno (text in `err`) when a notification could
 * not be spooled since the start (the checkpoint must not commit: only a replay can emit it
 * again), else saves the engine state if it changed since the last save and returns 0 or
 * its -errno. Analyzer thread. */
int analyzer_alerts_checkpoint(analyzer_alerts_t *aa, char *err, size_t errlen);

/* True after a notification could not be spooled: the analyzer must stop without a
 * commit. Analyzer thread. */
bool analyzer_alerts_failed(const analyzer_alerts_t *aa);

/* Copies the counters into *out. Analyzer thread. */
void analyzer_alerts_get_stats(const analyzer_alerts_t *aa, struct analyzer_alerts_stats *out);

/* Saves the engine state if it changed since the last save (unless a notification could not
 * be spooled), closes the sinks (they keep delivering for their drain time, the rest stays
 * spooled) and frees everything. NULL is a no-op. Analyzer thread. */
void analyzer_alerts_free(analyzer_alerts_t *aa);

#endif
