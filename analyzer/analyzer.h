/* analyzer: the `analyze` job: inventory and event records from Kafka into the model, the
 * RRD history and the audit journal, with offsets committed only once all of it is durable.
 *
 * DESIGN: one loop on the main thread polls the consumer group, decodes each message
 * (record_decode), sends what does not decode to the dead-letter topic, applies the rest to
 * the model (analyzer/model.h) and writes the model's effects to the journal and its
 * figures to the RRD files in event time: before a record whose time falls in a later RRD
 * step than the last one written, every object's current figures are written at that step
 * boundary, and after an accepted pass at the pass time (that pass's scope only, unless
 * events changed other scopes since the last sample). A checkpoint (every N records or T ms,
 * but no sooner than ten times the last checkpoint's duration after it; at revoke and at exit)
 * makes the effects durable in dependency order: alert state saved (its notifications are
 * already synced to the sink spools; analyzer/analyzer_alerts.h evaluates the alert rules on
 * each sample round and effect), dead letters delivered, RRD flushed, journal synced, model
 * snapshot written (model-<gen>.snap), then checkpoint.json (which names the
 * snapshot, the Kafka offsets it covers, the last RRD step and which scope lives in which
 * partition) replaced atomically, and only then are the offsets committed. On start the snapshot
 * named by checkpoint.json is loaded and messages below its offsets are skipped, so a crash between
 * the snapshot and the commit replays nothing into the model twice; journal keys and RRD times make
 * the other replays no-ops. When a checkpoint fails (disk full, rrdcached down) consumption pauses,
 * nothing is committed, the failure is logged rate-limited and the checkpoint is retried every
 * second until it works. A failure that lost an effect for good (a journal whose fsync failed and
 * can no longer be trusted, an RRD update that was not queued) stops the analyzer without
 * committing: the next start reloads the last checkpoint and replays from its offsets, so
 * nothing is lost (run it under a supervisor that restarts it).
 */
#ifndef IPAMWATCH_ANALYZER_H
#define IPAMWATCH_ANALYZER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "metrics.h"

#define ANALYZER_COMMIT_RECORDS     1000 /* default records between checkpoints */
#define ANALYZER_COMMIT_INTERVAL_MS 1000 /* default time between checkpoints */

struct analyzer_options {
    int64_t exit_when_idle_ms;   /* > 0: return once nothing arrived for this long */
    uint64_t commit_records;     /* checkpoint after this many records; 0 = default */
    int64_t commit_interval_ms;  /* or this long after the first unsaved one; 0 = default */
    volatile sig_atomic_t *stop; /* set by the caller's signal handling; may be NULL */
    metrics_t *metrics;          /* registry to report into (borrowed); NULL = a server of
                                    its own on [metrics] listen, if set */
};

/* Counters since analyzer_new(). */
struct analyzer_stats {
    uint64_t messages;     /* messages consumed */
    uint64_t applied;      /* records applied to the model */
    uint64_t skipped;      /* messages already in the loaded snapshot */
    uint64_t dead_letters; /* undecodable messages sent to the dead-letter topic */
    uint64_t effects;      /* journal records appended (duplicates included) */
    uint64_t samples;      /* RRD samples queued */
    uint64_t checkpoints;  /* successful checkpoints */
    uint64_t checkpoint_failures;
    uint64_t rewinds; /* returns to the last checkpoint after a journal failure */
};

typedef struct analyzer analyzer_t;

/* Opens everything the analyzer needs with `cfg` (borrowed; must outlive the analyzer) and
 * `o` (copied): state directory, model snapshot, journal, RRD store, dead-letter producer
 * and the consumer group on the inventory and events topics. Returns the analyzer (owned by
 * the caller, analyzer_free()) or NULL with the reason in err. Main thread. */
analyzer_t *analyzer_new(const struct config *cfg, const struct analyzer_options *o, char *err,
                         size_t errlen);

/* Runs the loop until *stop is set, the idle time passed or a fatal error; then takes a
 * final checkpoint and leaves the group. Returns 0, or -EIO after a fatal Kafka error or a
 * final checkpoint that could not be written (logged). Main thread. */
int analyzer_run(analyzer_t *a);

/* Copies the counters into *out. The thread running the analyzer. */
void analyzer_get_stats(const analyzer_t *a, struct analyzer_stats *out);

/* Leaves the group if still in it and frees everything (no checkpoint: call analyzer_run()
 * to the end for that). NULL is a no-op. Main thread. */
void analyzer_free(analyzer_t *a);

#endif
