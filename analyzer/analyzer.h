/* analyzer: the `analyze` job: inventory and event records from Kafka into the model, the
 * RRD history and the audit journal, with offsets committed only once all of it is durable.
 *
 * DESIGN: one loop on the main thread polls the consumer group in batches of up to 1,024
 * messages, has each batch decoded (record_decode) on a worker thread (analyzer/decoder.h)
 * while it applies the records before, and queues the decoded messages in poll order in the
 * event-time merge (a rebalance and the end of the loop first queue every message polled so
 * far); journal chunks are written and RRD files created and written on threads of their own
 * (analyzer/journal.h, analyzer/rrd_store.h). In the merge (analyzer/ordered.h), while several
 * partitions hold a backlog (a backfill) the record with the smallest event time among their
 * heads goes first, a partition with a backlog and nothing fetched yet holding the others back
 * for at most [analyzer] order_wait (10 s) when its high watermark shows records to come,
 * ORDERED_MAX_IDLE_MS (500 ms) while that is not known (at each assignment the partitions'
 * starts and high watermarks are asked of the brokers off the loop, kafka_starts_begin(), so
 * that a fresh group knows them before the first fetch). In that order it sends what does not
 * decode to the dead-letter topic, applies the rest to the model (analyzer/model.h) and writes the
 * model's effects (handed out in portions while model_apply() runs, so that a record with a
 * million of them never holds them all) to the journal and the alert engine, and its
 * figures to the RRD files in event time: before a
 * record whose time falls in a later RRD step than the last one written, every object's
 * current figures are written at that step boundary, and after an accepted pass at the pass
 * time (that pass's scope only, unless events changed other scopes since the last sample).
 * A checkpoint (every N records or T ms, but no sooner than ten times what the last one's
 * model snapshot took after it: the RRD flush and the journal sync grow with the records
 * applied, not with the model; and while more than a thousand messages wait, once they are
 * consumed, ANALYZER_BACKLOG_MAX_MS after the first unsaved record or
 * ANALYZER_BACKLOG_MAX_EFFECTS journal records later, whichever comes first; at revoke and at
 * exit) makes the effects durable in dependency order: alert state saved (its notifications are
 * already synced to the sink spools; analyzer/analyzer_alerts.h evaluates the alert rules on
 * each sample round and effect), dead letters delivered, RRD flushed, journal synced, model
 * snapshot written (model-<gen>.snap), then checkpoint.json (which names the
 * snapshot, the Kafka offsets it covers, the last RRD step and which scope lives in which
 * partition) replaced atomically, and only then are the offsets committed (one commit request
 * for every partition that moved; a partition whose commit failed is retried). On start the
 * snapshot named by checkpoint.json is loaded (unless its offsets lie beyond the partitions' ends:
 * see analyzer_new()) and messages below its offsets are skipped, so a crash between the snapshot
 * and the commit replays nothing into the model twice; journal keys and RRD times make the other
 * replays no-ops. When a checkpoint fails (disk full for the RRD files, the journal or a sink
 * spool, whose notifications wait in memory meanwhile; rrdcached down) consumption pauses, nothing
 * is committed, the failure is logged rate-limited and the checkpoint is retried every second until
 * it works. A failure that lost an effect for good (a journal whose fsync failed and can no longer
 * be trusted, an RRD update that was not queued) stops the analyzer without committing: the next
 * start reloads the last checkpoint and replays from its offsets, so nothing is lost (run it under
 * a supervisor that restarts it).
 *
 * Scale-out ([analyzer] partition_state): the state of an inventory partition follows the
 * partition (analyzer/partstate.h). Each checkpoint publishes, after the journal sync and
 * before the snapshot and the commit, one record per owned inventory partition to the
 * compacted [topics] state: its scopes' model, their alerts and the offset covered; alert
 * transitions without new records publish too. An assignment reads the state topic to its
 * end and adopts the latest record of each assigned inventory partition (its scopes replace
 * the local ones, its alerts come over without notifications, messages below its offset are
 * skipped), then drops the scopes and alerts of inventory partitions owned elsewhere; alerts
 * tied to no scope go with inventory partition 0. A revoke checkpoints (publishing) first.
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
/* Longest a checkpoint waits while a backlog (more than a thousand messages behind the high
 * watermarks) is consumed: what a crash in a backlog replays at most; and the most journal
 * records it waits with: the journal writes them as they come (memory stays flat), and a
 * reopened journal holds the keys of at least twice that many newest records, so a replay
 * after a crash in the backlog finds every record it appends again unless one record alone
 * had more effects than the margin (docs/journal.md). */
#define ANALYZER_BACKLOG_MAX_MS      30000
#define ANALYZER_BACKLOG_MAX_EFFECTS 131072 /* JOURNAL_KEYS_KEPT / 4 */

struct analyzer_options {
    int64_t exit_when_idle_ms;   /* > 0: return once nothing arrived for this long and
                                    nothing is known to wait (analyzer/analyzer_idle.h) */
    uint64_t commit_records;     /* checkpoint after this many records; 0 = default */
    int64_t commit_interval_ms;  /* or this long after the first unsaved one; 0 = default */
    volatile sig_atomic_t *stop; /* set by the caller's signal handling; may be NULL */
    volatile sig_atomic_t *hold; /* while non-zero, consumption is paused (membership kept);
                                    when it clears the high watermarks are read from the
                                    brokers, so what was published meanwhile is merged in
                                    event time (a backfill published first). May be NULL */
    metrics_t *metrics;          /* registry to report into (borrowed); NULL = a server of
                                    its own on [metrics] listen, if set */
    bool new_topics;             /* the topics were created with this process (embedded
                                    broker): a checkpoint whose offsets lie beyond their
                                    ends is dropped (empty model) instead of refused */
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
    /* Bounds of the replay and duplicate detection, as of the last checkpoint (see
     * analyzer/model.h, Events, and analyzer/journal.h): */
    uint64_t event_ids;        /* event ids the model's window holds (current value) */
    uint64_t events_unchecked; /* events whose id the window could no longer check */
    uint64_t journal_keys;     /* idempotency keys the journal holds (current value) */
    uint64_t journal_key_window_overflows;
    /* Event-time order given up by the merge (analyzer/ordered.h, struct ordered_stats): */
    uint64_t order_backlog_timeouts; /* a known backlog not fetched within [analyzer] order_wait */
    uint64_t order_unknown_timeouts; /* a partition of unknown position/watermark, 500 ms */
    uint64_t order_buffer_full;      /* ORDERED_MAX_BUFFERED records queued */
};

typedef struct analyzer analyzer_t;

/* Opens everything the analyzer needs with `cfg` (borrowed; must outlive the analyzer) and
 * `o` (copied): state directory, model snapshot, journal, RRD store, dead-letter producer
 * and the consumer group on the inventory and events topics. A loaded checkpoint whose
 * offset of some partition lies beyond that partition's high watermark (the topic was
 * created again) is logged per partition, then refused (NULL, err names the partition, both
 * offsets and what to do) or, with o->new_topics, dropped for an empty model. Returns the
 * analyzer (owned by the caller, analyzer_free()) or NULL with the reason in err. Main
 * thread. */
analyzer_t *analyzer_new(const struct config *cfg, const struct analyzer_options *o, char *err,
                         size_t errlen);

/* Runs the loop until *stop is set, the run is idle with nothing known to wait
 * (analyzer/analyzer_idle.h) or a fatal error; then takes a final checkpoint and leaves the
 * group. Returns 0, or -EIO after a fatal Kafka error or a
 * final checkpoint that could not be written (logged). Main thread. */
int analyzer_run(analyzer_t *a);

/* Copies the counters into *out. The thread running the analyzer. */
void analyzer_get_stats(const analyzer_t *a, struct analyzer_stats *out);

/* Leaves the group if still in it and frees everything (no checkpoint: call analyzer_run()
 * to the end for that). NULL is a no-op. Main thread. */
void analyzer_free(analyzer_t *a);

#endif
