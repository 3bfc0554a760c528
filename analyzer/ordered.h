/* ordered: the records of several partitions handed out in event-time order while those
 * partitions hold a backlog (a k-way merge over per-partition queues).
 *
 * DESIGN: Kafka keeps order within a partition only. The collector keys events by account
 * and region, so a backfill (three years of CloudTrail archive) leaves a backlog in each of
 * several partitions, and a consumer hands them out in fetch-sized chunks of one partition
 * after another: applied as they come, the event-time RRD samples and the model would jump
 * back and forth by months. The analyzer therefore pushes every decoded record into the
 * queue of its partition here and pops the record with the smallest event time among the
 * queue heads (ties: the partition that sorts first by topic, then number; records without
 * an event time take the time of the record before them in their partition, so the items of
 * an inventory pass follow their pass-begin). A partition whose queue is empty holds the
 * merge back while it still has a backlog, i.e. while the next offset it will deliver is
 * below its high watermark (or either is not known yet): nothing is popped until a record
 * of it arrives. How long it is waited for depends on what is known. A known backlog (its
 * position and its high watermark both known, the position below the watermark: records
 * exist and will come) is waited for up to `max_wait_ms` ([analyzer] order_wait, default
 * ORDERED_MAX_WAIT_MS = 10 s): on a loaded machine one fetch can take seconds, and giving
 * up early would apply the same records in another order on another run. A partition whose
 * position or watermark is not known yet may as well be empty, so it is waited for only
 * `max_idle_ms` (ORDERED_MAX_IDLE_MS, after Kafka Streams' max.task.idle.ms). In a fresh
 * consumer group the position is not known until the first record arrives, and a slow first
 * fetch would let the others go first: so the caller asks the brokers at assignment where
 * the partition starts and ends (ordered_expect(), then ordered_learn() with the answer).
 * While the answer is out the partition is waited for like a known backlog; with it, a
 * partition with records to come is a known backlog and an empty one is not waited for at
 * all; without it (the brokers did not answer) it is waited for max_idle_ms. Both waits
 * count the time the caller spends asking (ordered_pop(), ordered_wait_ms()): a gap between
 * two calls counts at most ORDERED_GAP_MS, because while the caller was busy elsewhere (a
 * checkpoint) or paused its partitions, librdkafka fetched on or nothing could arrive, and
 * that time says nothing about the partition. Once its wait is over the others go on
 * without it until its next record arrives; each such expiry after which a record is handed
 * out is counted (ordered_get_stats()) and, for a known backlog, logged rate-limited: the
 * event-time order was given up there. A partition at its high watermark holds nothing
 * back, so at the live edge a record goes out as soon as it is pushed. When the queues hold
 * `max_buffered` records the head is popped without waiting, which bounds the memory at the
 * price of order in that case only (counted and logged too).
 *
 * Watermarks come from a callback (the analyzer asks librdkafka's cached values, no broker
 * round trip), asked only for empty partitions that look caught up or unknown, at most every
 * ORDERED_REFRESH_MS per partition. Offsets: the module only tells which record is next; the
 * caller advances its committed positions when it applies a popped record, so records still
 * queued here are never covered by a checkpoint.
 *
 * Not thread-safe: one thread (the analyzer loop) uses an instance.
 */
#ifndef IPAMWATCH_ORDERED_H
#define IPAMWATCH_ORDERED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ORDERED_MAX_IDLE_MS  500   /* longest wait for a partition not known to have a backlog */
#define ORDERED_MAX_WAIT_MS  10000 /* default longest wait for a known backlog */
#define ORDERED_GAP_MS       1000  /* most a gap between two calls counts towards a wait */
#define ORDERED_MAX_BUFFERED 50000 /* records queued before the merge stops waiting */
#define ORDERED_REFRESH_MS   5     /* watermark re-read interval per empty partition */
#define ORDERED_TIME_UNSET   INT64_MIN

/* Times the merge gave up event-time order (see DESIGN). */
struct ordered_stats {
    uint64_t backlog_timeouts; /* a known backlog was waited for max_wait_ms in vain */
    uint64_t unknown_timeouts; /* a partition of unknown position or watermark, max_idle_ms
                                  (it may have had nothing to deliver) */
    uint64_t buffer_full;      /* max_buffered reached while a partition was waited for */
};

typedef struct ordered ordered_t;

/* Writes the low and high watermark of `topic` (borrowed) / `partition` into *lo and *hi:
 * -1 for a value not known. Returns 0, or -errno when nothing is known. */
typedef int (*ordered_ends_fn)(void *ctx, const char *topic, int32_t partition, int64_t *lo,
                               int64_t *hi);

/* Frees one queued item (the caller's type). */
typedef void (*ordered_free_fn)(void *item);

/* A merge that waits at most `max_wait_ms` for a partition with a known backlog and
 * `max_idle_ms` for one whose position or watermark is not known (<= 0: never waits; a
 * `max_wait_ms` below `max_idle_ms` is raised to it), and holds at most `max_buffered`
 * records (0: ORDERED_MAX_BUFFERED). `ends` (may be NULL: every watermark is
 * unknown) and `ctx` (borrowed) tell watermarks; `free_item` (may be NULL) frees items
 * dropped with a partition or left at ordered_free(). Never NULL (allocation failure
 * aborts). Owned by the caller. */
ordered_t *ordered_new(int64_t max_idle_ms, int64_t max_wait_ms, size_t max_buffered,
                       ordered_ends_fn ends, void *ctx, ordered_free_fn free_item);

/* Frees the merge and every item still queued. NULL is a no-op. */
void ordered_free(ordered_t *o);

/* Adds `topic` (borrowed, copied) / `partition` to the merge, or updates it, with `next` the
 * offset of the first message it will deliver (-1 not known) at time `now_ms`. */
void ordered_assign(ordered_t *o, const char *topic, int32_t partition, int64_t next,
                    int64_t now_ms);

/* Raises the known high watermark of the partition to `hi` (read from the brokers by the
 * caller: librdkafka's cached value can be older). */
void ordered_note_end(ordered_t *o, const char *topic, int32_t partition, int64_t hi);

/* Notes that the caller is asking the brokers where the partition starts and ends: until
 * ordered_learn(), while it is empty and its backlog is not known, it holds the merge back
 * for up to max_wait_ms. Unknown partitions are ignored. */
void ordered_expect(ordered_t *o, const char *topic, int32_t partition);

/* The answer to ordered_expect(): `next` is the offset of the first message the partition
 * will deliver, `hi` its high watermark (-1 each: not learnt). The position is taken only
 * while nothing was delivered since ordered_assign() (a record pushed or skipped is newer).
 * Unknown partitions are ignored. */
void ordered_learn(ordered_t *o, const char *topic, int32_t partition, int64_t next, int64_t hi);

/* Removes the partition; its queued items are freed (they were not applied, so the next
 * owner gets them again from the committed offset). Unknown partitions are ignored. */
void ordered_revoke(ordered_t *o, const char *topic, int32_t partition);

/* Queues `item` (stolen) of message `offset` of the partition (added when not assigned yet),
 * with event time `time_ms` (ORDERED_TIME_UNSET: the time of the one before it). */
void ordered_push(ordered_t *o, const char *topic, int32_t partition, int64_t offset,
                  int64_t time_ms, void *item, int64_t now_ms);

/* Notes that message `offset` of the partition was delivered and not queued (e.g. already
 * in a loaded snapshot), which moves its position. */
void ordered_skip(ordered_t *o, const char *topic, int32_t partition, int64_t offset);

/* The next item in event-time order (ownership passes to the caller), or NULL when the
 * queues are empty or a partition with a backlog and nothing queued is still waited for.
 * When not NULL and `topic`/`partition`/`offset` are not NULL they receive the item's
 * partition (the topic borrowed, valid until the partition is revoked) and offset. */
void *ordered_pop(ordered_t *o, int64_t now_ms, const char **topic, int32_t *partition,
                  int64_t *offset);

/* Records queued. */
size_t ordered_buffered(const ordered_t *o);

/* Milliseconds until a queued record may be popped at the latest if the caller keeps
 * asking (0: now, the wait for a partition holding the merge back ends then), or -1 when
 * nothing is queued. For the poll timeout. */
int64_t ordered_wait_ms(ordered_t *o, int64_t now_ms);

/* Messages between what the merge has handed out and the high watermarks, queued ones
 * included; -1 while a partition's position or watermark is not known (and it was not
 * waited for past max_idle_ms). */
int64_t ordered_lag(ordered_t *o, int64_t now_ms);

/* Copies the counts of given-up order into *out. */
void ordered_get_stats(const ordered_t *o, struct ordered_stats *out);

/* With `full_scan`, works the former way: scans every partition for the empty ones, and asks
 * all of them again after a pop emptied one or a push filled one, instead of keeping the set
 * of empty ones and asking only what changed; so tests can compare the two. Tests only. */
void ordered_set_full_scan_for_testing(ordered_t *o, bool full_scan);

#endif
