/* ct_state: the CloudTrail checkpoint of one (account, Region): high-water mark, the event
 * ids already published inside the overlap window, and the ids in flight to Kafka.
 *
 * DESIGN: exactly once from LookupEvents to the events topic, across crashes.
 *
 * State (one JSON file per pair, written atomically: temp file, fsync, rename, fsync of the
 * directory; file 0600, directory 0700):
 *   checkpoint  every event with EventTime <= checkpoint was read and its fate is known;
 *   seen        id -> EventTime of every event published with EventTime >= horizon
 *               (horizon = checkpoint - overlap when the checkpoint last advanced);
 *   pending     ids that may or may not be on the topic, with the topic's per-partition end
 *               offsets taken BEFORE they were produced.
 *
 * Protocol of the poller for each page of new relevant events (ids not in seen):
 *   1. ct_state_begin(): pending := the page's ids + current end offsets; written to disk;
 *   2. produce them (idempotent producer) and wait until librdkafka reported every one;
 *   3. all delivered: ct_state_commit() moves pending into seen (written). Any failure or
 *      purge leaves pending as it is (a failed or purged in-flight message may still have
 *      been appended by the broker).
 * When the whole window [start, end] was read, ct_state_advance(end) moves the checkpoint
 * and prunes seen below the new horizon; the next window starts at max(checkpoint -
 * overlap, horizon), so a pruned id can never be read again.
 *
 * Why every event ends on the topic exactly once, whatever moment the process dies at:
 *   - The checkpoint moves only after every event of the window is in seen, i.e. was
 *     confirmed delivered; a crash before that re-reads the window, so nothing is lost.
 *   - A re-read event is published again only if its id is neither in seen nor pending.
 *     Ids enter seen only after confirmed delivery, so nothing in seen is missing.
 *   - An id is produced only after it was written to pending. So a crash between produce
 *     and commit leaves it in pending on disk. Before polling again the poller reconciles:
 *     it reads every partition of the topic from the offsets saved with pending to the
 *     current end, and ct_state_resolve() moves the pending ids found there into seen and
 *     drops the others (they were not appended and will be produced again when the window
 *     is re-read). Offsets saved before producing bound that read, and ids are unique, so
 *     the check is exact. A crash during the reconciliation changes nothing on disk and is
 *     simply repeated.
 *   - Within one process the idempotent producer keeps librdkafka's own retries from
 *     duplicating a message; across processes the pending/reconcile step does that job
 *     (producer ids do not survive a restart, and transactions are not relied upon).
 * The residual assumption: the produce requests of a dead process are appended (or lost)
 * before the restarted one asks the broker for the partition ends, which holds once the
 * dead process's connections are closed.
 *
 * A state object is used by one thread at a time.
 */
#ifndef IPAMWATCH_CT_STATE_H
#define IPAMWATCH_CT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ct_state ct_state_t;

#define CT_STATE_NONE INT64_MIN /* no checkpoint yet */

/* Loads the state of (`account`, `region`) (borrowed; account may be a label such as
 * "self") from `dir`, creating `dir` with mode 0700 when missing. A missing file gives an
 * empty state (no checkpoint). Returns a state owned by the caller (ct_state_free), or NULL
 * with the reason in err (unreadable or malformed file, state of another pair, cannot
 * create the directory). Any thread. */
ct_state_t *ct_state_load(const char *dir, const char *account, const char *region, char *err,
                          size_t errlen);

/* Frees the state (nothing is written); NULL is a no-op. */
void ct_state_free(ct_state_t *st);

/* Path of the state file (borrowed, valid while the state lives). */
const char *ct_state_path(const ct_state_t *st);

/* The checkpoint in ms since the epoch, or CT_STATE_NONE. */
int64_t ct_state_checkpoint(const ct_state_t *st);

/* Start of the next window: max(checkpoint - overlap_ms, horizon), or `first_ms` when there
 * is no checkpoint yet. */
int64_t ct_state_window_start(const ct_state_t *st, int64_t overlap_ms, int64_t first_ms);

/* True when `id` was published (seen) or may have been (pending). */
bool ct_state_known(const ct_state_t *st, const char *id);

/* Number of ids in seen / in pending. */
size_t ct_state_seen_count(const ct_state_t *st);
size_t ct_state_pending_count(const ct_state_t *st);

/* Records `n` ids (`ids` and `times_ms` borrowed, parallel arrays; EventTime of each) as
 * pending for `topic` (borrowed), with the topic's end offsets before producing:
 * `offsets[p]` for partitions 0..nparts-1 (borrowed; nparts 0 = the topic had no data).
 * Fails with -EBUSY if ids are already pending. Writes the file. Returns 0 or -errno with
 * text in err. */
int ct_state_begin(ct_state_t *st, const char *const *ids, const int64_t *times_ms, size_t n,
                   const char *topic, const int64_t *offsets, size_t nparts, char *err,
                   size_t errlen);

/* The pending set's topic (borrowed, NULL when nothing is pending) and its saved end offset
 * of `partition` (-1 when none was saved: read that partition from its beginning). */
const char *ct_state_pending_topic(const ct_state_t *st);
int64_t ct_state_pending_offset(const ct_state_t *st, int32_t partition);

/* True when `id` is in the pending set. */
bool ct_state_is_pending(const ct_state_t *st, const char *id);

/* Every pending id was confirmed delivered: moves them into seen and writes the file.
 * Returns 0 or -errno with text in err. */
int ct_state_commit(ct_state_t *st, char *err, size_t errlen);

/* After reading the topic: moves the pending ids listed in `found` (borrowed, `n` ids; ids
 * that are not pending are ignored) into seen, forgets the other pending ids, writes the
 * file. Returns 0 or -errno with text in err. */
int ct_state_resolve(ct_state_t *st, const char *const *found, size_t n, char *err, size_t errlen);

/* The window ending at `end_ms` was read completely and nothing is pending: sets the
 * checkpoint to end_ms (never backwards), prunes seen ids older than end_ms - overlap_ms
 * and writes the file. Returns 0, -EBUSY while ids are pending, or -errno with text. */
int ct_state_advance(ct_state_t *st, int64_t end_ms, int64_t overlap_ms, char *err, size_t errlen);

#endif
