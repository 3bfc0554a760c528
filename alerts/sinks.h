/* sinks: delivers alert notifications to the configured [sink "NAME"] sections, durably.
 *
 * DESIGN: each sink owns an on-disk spool (JSON lines of alert records, file 0600 in a
 * 0700 directory), an in-memory queue mirroring the spool's undelivered tail, and one worker
 * thread. sinks_submit() routes an alert (rules filter, min_severity), appends it to each
 * matching spool and syncs it BEFORE returning, so an accepted notification survives a
 * crash. The worker delivers the queue head, and only after the sink confirmed it advances
 * the spool cursor (a file "cursor" holding "<generation> <offset>", replaced atomically);
 * a restart replays from the cursor, so delivery is at least once and normally once. One
 * FIFO per sink keeps every alert's fire ahead of its resolve. Failures are retried with
 * jittered exponential backoff (the sink's backoff_min, doubling up to its backoff_max; each
 * delay drawn from [d/2, d]) until retry_max has passed since the first attempt; a 4xx
 * answer other than 408/429 is final. A spool beyond spool_max drops its oldest entries
 * (counted). Fully delivered spools are truncated; a mostly delivered large one is
 * rewritten as the next generation (written and synced before the cursor names it).
 * A spool that cannot be written (disk full) does not lose a notification: it is held in
 * memory, in order behind any held before it (at most SINKS_HELD_MAX per sink), logged
 * rate-limited, and written by sinks_spool_held() once there is space; held notifications
 * are not delivered before they are spooled, so the spool stays the one delivery order.
 * Alertmanager sinks re-post the alerts still firing every repost interval (the sink's
 * repost_interval), because Alertmanager resolves an alert on its own after resolve_timeout
 * without one. An alert that another analyzer took over (scale-out) is disowned: no longer
 * re-posted from here, so that its new owner's resolve stands.
 *
 * Replays: after a crash the analyzer replays the records since its last checkpoint, and its
 * alert engine, restored to the state of that checkpoint, emits the same notifications again
 * with the same ids (alerts/engine.h: an id hashes the fingerprint, the state, starts_at,
 * ends_at and the repeat number, all times the data fixes or counts, never the wall time of
 * an evaluation; also for stale and forecast alerts, which a tick or a round on a later wall
 * clock may fire again after the restart). Each sink
 * keeps the ids it spooled in a ledger, <spool_dir>/spooled.ids ("<id> <wall ms>" lines,
 * appended and synced right after the spool line; on open the ids of the spool's own lines are
 * added, since a crash may fall between the two writes), and sinks_submit() drops a
 * notification whose id the sink spooled before (counted as `replayed`). So a notification is
 * spooled once per sink and delivered once; only a crash between a delivery and the cursor
 * save sends the spool's head again: a file sink then finds it as its file's last line and
 * does not write it twice (alerts/sink_deliver.c); webhook and Kafka receivers get the id in
 * the payload, Alertmanager and PagerDuty merge by fingerprint. The ledger is bounded: ids spooled
 * within SINKS_IDS_DAYS of the newest one (however long the analyzer was down), at most
 * SINKS_IDS_MAX; it is rewritten once it holds twice that many lines. A replay reaches back
 * only to the last checkpoint (seconds, ANALYZER_BACKLOG_MAX_MS at most while consuming), far
 * inside that window. Notifications without an id are never dropped.
 *
 * Lock order: sinks_t has no lock (its sink array is fixed after sinks_new). Each sink has
 * one mutex guarding its queue, spool file, cursor and counters; no code path holds two
 * sink mutexes, and none holds one while delivering over the network.
 */
#ifndef IPAMWATCH_ALERTS_SINKS_H
#define IPAMWATCH_ALERTS_SINKS_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "record.h"

typedef struct sinks sinks_t;

/* Most notifications one sink holds in memory while its spool cannot be written. */
#define SINKS_HELD_MAX 10000
/* Bounds of the ledger of spooled notification ids (see DESIGN, "Replays"). */
#define SINKS_IDS_DAYS 7
#define SINKS_IDS_MAX  100000

/* Overrides of the sinks' timing, for tests and tools; production passes none. The rule: a
 * field above zero applies to EVERY sink and beats what its [sink] section configured; a
 * zero field leaves each sink its configured value (backoff_min, backoff_max, timeout,
 * repost_interval), and where a sink has none (a struct config built by hand, or a type
 * without that key) the default in brackets applies. A backoff_max below the backoff_min in
 * effect is raised to it. */
struct sinks_opts {
    int64_t backoff_min_ms;     /* first retry delay [1 s] */
    int64_t backoff_max_ms;     /* delay cap [60 s] */
    int64_t repost_interval_ms; /* Alertmanager re-post of firing alerts [60 s] */
    int64_t http_timeout_ms;    /* whole HTTP request; for Kafka sinks the wait for the
                                   delivery report [10 s] */
    int64_t drain_ms;           /* how long sinks_free() keeps delivering [5 s]; no key */
};

/* Counters of one sink, for logs and /metrics. */
struct sinks_stat {
    const char *name; /* borrowed from the config */
    enum config_sink_type type;
    uint64_t submitted;   /* notifications accepted into the spool */
    uint64_t delivered;   /* confirmed by the sink */
    uint64_t failed;      /* given up (retry_max passed, or a final error) */
    uint64_t retries;     /* failed attempts that were retried */
    uint64_t dropped;     /* oldest entries dropped because the spool hit spool_max */
    uint64_t reposts;     /* Alertmanager re-posts of firing alerts */
    uint64_t spool_depth; /* notifications waiting */
    uint64_t spool_bytes; /* bytes waiting in the spool */
    uint64_t held;        /* notifications held in memory: the spool could not be written */
    uint64_t replayed;    /* notifications dropped: their id was spooled before (a replay) */
    bool up;              /* last attempt succeeded (true before the first) */
};

/* Opens every sink of `cfg` (borrowed; must outlive the sinks): creates the spool
 * directories, replays undelivered spool entries into the queues and starts one worker per
 * sink. `opts` (borrowed, copied) may be NULL: every sink as configured (see struct
 * sinks_opts). Calls curl_global_init, so call it from the main thread before other threads
 * use libcurl. Returns a handle owned by the caller (sinks_free) or NULL with the reason in
 * `err`. A config without sinks gives a valid handle that accepts and drops everything. */
sinks_t *sinks_new(const struct config *cfg, char *err, size_t errlen);
sinks_t *sinks_new_opts(const struct config *cfg, const struct sinks_opts *opts, char *err,
                        size_t errlen);

/* Routes `alert` (borrowed; a RECORD_ALERT) to every sink whose rules filter and
 * min_severity match and appends it durably to their spools before returning. A sink whose
 * spool write fails, or that holds notifications already, holds this one in memory instead
 * (see sinks_spool_held()). "pending" alerts are not notifications and are skipped, and so is
 * a sink that spooled a notification with the same id before (a replay; see DESIGN). Returns
 * the number of sinks that spooled or held it, -EINVAL for a record that is not a valid
 * alert, or -ENOBUFS when a sink could neither spool it nor hold it (SINKS_HELD_MAX reached:
 * it is lost for that sink; other sinks still got it). Any thread; calls from several
 * threads are serialised per sink. */
int sinks_submit(sinks_t *s, const struct record *alert);

/* Writes the notifications held in memory to their spools, in order, each sink up to its
 * first failed write. Returns 0 when no sink holds any now, else the first failure's -errno
 * with "sink NAME: spool PATH: reason; N notifications held in memory" in `err`. Any
 * thread. */
int sinks_spool_held(sinks_t *s, char *err, size_t errlen);

/* Number of notifications held in memory over all sinks. Any thread. */
size_t sinks_held(sinks_t *s);

/* Registers `alert` (borrowed; a RECORD_ALERT in state "firing") with the Alertmanager
 * sinks that route it as still firing, WITHOUT a notification to anyone: they re-post it
 * (at once, then every repost interval) until a resolve of its fingerprint is delivered.
 * For alerts that were firing before a restart: re-submitting them would page PagerDuty,
 * Slack and the other sinks again. Returns the number of sinks that took it, -EINVAL for
 * a record that is not a valid firing alert. Any thread. */
int sinks_adopt_firing(sinks_t *s, const struct record *alert);

/* Gives up alert `fingerprint` (borrowed) because another analyzer owns it now and goes on
 * from its state: Alertmanager sinks stop re-posting it and drop its pending adoption and
 * every queued firing notification of it (the new owner re-posts it while it fires); the
 * other sinks drop its queued repeats (a firing after a firing with no resolve between).
 * Queued resolves and the notification being delivered are never dropped. The spool is
 * rewritten without the dropped entries, so a restart does not replay them (if the rewrite
 * fails, logged, they stay on disk and only a restart would send them). A later
 * sinks_adopt_firing() of the same fingerprint takes it back. Returns the number of queued
 * notifications dropped. Any thread. */
int sinks_disown(sinks_t *s, const char *fingerprint);

/* Waits until every queue is empty or `timeout_ms` passed. Returns 0 when all is
 * delivered (or given up), -ETIMEDOUT otherwise. Any thread. */
int sinks_flush(sinks_t *s, int64_t timeout_ms);

/* Number of sinks, and a snapshot of sink `i`'s counters into *out. Returns 0 or -ENOENT.
 * Any thread. */
size_t sinks_count(const sinks_t *s);
int sinks_stats(sinks_t *s, size_t i, struct sinks_stat *out);

/* Keeps delivering for at most the drain time, stops the workers, and frees everything;
 * undelivered notifications stay in the spools for the next start, notifications still held
 * in memory are dropped (logged). NULL is a no-op.
 * The thread that created the handle, after every sinks_submit returned. */
void sinks_free(sinks_t *s);

#endif
