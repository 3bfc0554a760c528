/* ordered: records of several partitions in event-time order while they hold a backlog.
 * See ordered.h.
 *
 * DESIGN: a pop is done once per applied record (a million in a backlog of 160 partitions),
 * so it does not scan every partition: the non-empty partitions sit in a binary min-heap on
 * (head time, index in `parts`), which is the order the scan used (ties: the partition that
 * sorts first), rebuilt when a partition is added or removed (indices move). Whether an
 * empty partition holds the merge back is asked of each empty partition once per `now_ms`
 * and kept per partition (`ev`: held with the wait it has left, given up, or neither) with
 * totals (`eval_*`): asking again at the same time changes nothing (holds_back() only
 * counts time that passed, refresh() re-reads after ORDERED_REFRESH_MS), so the answers
 * stand until time moves or a call other than a pop or a push changes a partition. A pop
 * that empties a partition marks it unasked, and the next evaluation at the same time asks
 * it alone and adds its answer (a later one asks all of them anyway); a push that fills one
 * takes its answer out. With small fetches (the development broker returns one message set
 * per partition and request) a partition empties and fills every few records, and asking
 * all hundred-odd partitions again each time was a tenth of the analyzer's CPU. The empty
 * partitions are kept as a bit set over `parts` too (rebuilt with the heap), so that asking
 * them all visits only them, in index order as the former scan over every partition did.
 * ordered_pop() and ordered_wait_ms() share the answers. */
#define LOG_MODULE "analyzer"
#include "analyzer/ordered.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "xalloc.h"

struct entry {
    void *item;
    int64_t offset;
    int64_t time_ms;
};

/* One partition: a FIFO ring of entries and what is known of its position. */
struct opart {
    char *topic;
    int32_t partition;
    struct entry *ring;
    size_t cap, head, n;
    int64_t last_time;   /* event time of the last record pushed */
    int64_t recv;        /* offset after the last message delivered; -1 not known */
    int64_t lo, hi;      /* cached watermarks; -1 not known */
    int64_t checked_ms;  /* when they were read; INT64_MIN never */
    bool waiting;        /* empty and not at its end: it holds the merge back */
    bool gave_up;        /* its wait ran out and records went past it (counted) */
    bool expecting;      /* its start and end are being asked (ordered_expect()) */
    bool delivered;      /* a record was pushed or skipped since its assignment */
    int64_t waited_ms;   /* how long it was waited for (see ORDERED_GAP_MS) */
    int64_t asked_ms;    /* when waited_ms was brought up to date */
    int64_t assigned_ms; /* when it was added */
    size_t heap_at;      /* its place in the heap while it is not empty */
    uint8_t ev;          /* its kept answer while empty: EV_NONE, EV_HELD or EV_EXPIRED */
    int64_t ev_left;     /* EV_HELD: the wait it had left */
};

enum { EV_NONE, EV_HELD, EV_EXPIRED };

struct ordered {
    int64_t max_idle_ms, max_wait_ms;
    size_t max_buffered;
    bool overflowing; /* popping past a waited-for partition because the queues are full */
    struct ordered_stats stats;
    log_complain_t complain;
    ordered_ends_fn ends;
    void *ctx;
    ordered_free_fn free_item;
    struct opart *parts; /* sorted by topic, then partition */
    size_t nparts, capparts;
    size_t buffered;
    size_t *heap; /* indices of the non-empty partitions, by (head time, index) */
    size_t nheap, capheap;
    uint64_t *empty;   /* bit i set: parts[i] is empty */
    uint64_t *unasked; /* bit i set: parts[i] emptied after the answers were kept */
    size_t empty_words, nunasked;
    bool full_scan;  /* tests: the former way: scan every partition, ask them all again
                        after a pop emptied one or a push filled one */
    bool eval_valid; /* each empty partition's `ev` holds at eval_ms */
    size_t eval_held, eval_expired; /* empty partitions with ev EV_HELD, EV_EXPIRED */
    int64_t eval_ms;
    int64_t eval_wait; /* the least ev_left of them (-1 none), when wait_known */
    bool wait_known;
};

ordered_t *ordered_new(int64_t max_idle_ms, int64_t max_wait_ms, size_t max_buffered,
                       ordered_ends_fn ends, void *ctx, ordered_free_fn free_item)
{
    ordered_t *o = xcalloc(1, sizeof *o);
    o->max_idle_ms = max_idle_ms > 0 ? max_idle_ms : 0;
    o->max_wait_ms = max_wait_ms > o->max_idle_ms ? max_wait_ms : o->max_idle_ms;
    o->complain = (log_complain_t)LOG_COMPLAIN_INIT;
    o->max_buffered = max_buffered ? max_buffered : ORDERED_MAX_BUFFERED;
    o->ends = ends;
    o->ctx = ctx;
    o->free_item = free_item;
    return o;
}

static void part_clear(ordered_t *o, struct opart *p)
{
    for (size_t i = 0; i < p->n; i++) {
        void *item = p->ring[(p->head + i) % p->cap].item;
        if (o->free_item)
            o->free_item(item);
    }
    o->buffered -= p->n;
    free(p->ring);
    free(p->topic);
}

void ordered_free(ordered_t *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->nparts; i++)
        part_clear(o, &o->parts[i]);
    free(o->parts);
    free(o->heap);
    free(o->empty);
    free(o->unasked);
    free(o);
}

/* ---- the heap of non-empty partitions -------------------------------------------------- */

/* True when partition index `a` goes out before `b`: smaller head time, then smaller index. */
static bool heap_before(const ordered_t *o, size_t a, size_t b)
{
    const struct opart *pa = &o->parts[a], *pb = &o->parts[b];
    int64_t ta = pa->ring[pa->head].time_ms, tb = pb->ring[pb->head].time_ms;
    return ta < tb || (ta == tb && a < b);
}

static void heap_set(ordered_t *o, size_t at, size_t part)
{
    o->heap[at] = part;
    o->parts[part].heap_at = at;
}

static void heap_up(ordered_t *o, size_t at)
{
    size_t part = o->heap[at];
    while (at > 0) {
        size_t up = (at - 1) / 2;
        if (!heap_before(o, part, o->heap[up]))
            break;
        heap_set(o, at, o->heap[up]);
        at = up;
    }
    heap_set(o, at, part);
}

static void heap_down(ordered_t *o, size_t at)
{
    size_t part = o->heap[at];
    for (;;) {
        size_t c = 2 * at + 1;
        if (c >= o->nheap)
            break;
        if (c + 1 < o->nheap && heap_before(o, o->heap[c + 1], o->heap[c]))
            c++;
        if (!heap_before(o, o->heap[c], part))
            break;
        heap_set(o, at, o->heap[c]);
        at = c;
    }
    heap_set(o, at, part);
}

static void heap_push(ordered_t *o, size_t part)
{
    o->heap = xgrow(o->heap, &o->capheap, o->nheap + 1, sizeof *o->heap);
    heap_set(o, o->nheap++, part);
    heap_up(o, o->nheap - 1);
}

/* Puts the top back in place after its head changed, or drops it when it became empty. */
static void heap_top_changed(ordered_t *o)
{
    if (o->parts[o->heap[0]].n == 0) {
        if (--o->nheap == 0)
            return;
        heap_set(o, 0, o->heap[o->nheap]);
    }
    heap_down(o, 0); /* the root has no parent to move above */
}

static inline void bit_set(uint64_t *set, size_t part, bool on)
{
    uint64_t bit = UINT64_C(1) << (part % 64);
    if (on)
        set[part / 64] |= bit;
    else
        set[part / 64] &= ~bit;
}

static inline void empty_set(ordered_t *o, size_t part, bool empty)
{
    bit_set(o->empty, part, empty);
}

/* Marks partition `part`, just emptied or filled, as to be asked at the next evaluation or
 * not. */
static void unasked_set(ordered_t *o, size_t part, bool on)
{
    bool was = (o->unasked[part / 64] >> (part % 64)) & 1;
    if (was != on) {
        bit_set(o->unasked, part, on);
        o->nunasked += on ? 1 : (size_t)-1;
    }
}

/* Rebuilds the heap and the empty set after partitions were added or removed (their
 * indices moved). */
static void heap_rebuild(ordered_t *o)
{
    size_t words = (o->nparts + 63) / 64;
    if (words > o->empty_words) {
        o->empty = xrealloc(o->empty, words * sizeof *o->empty);
        o->unasked = xrealloc(o->unasked, words * sizeof *o->unasked);
        o->empty_words = words;
    }
    memset(o->empty, 0, o->empty_words * sizeof *o->empty);
    memset(o->unasked, 0, o->empty_words * sizeof *o->unasked); /* all asked again */
    o->nunasked = 0;
    o->nheap = 0;
    for (size_t i = 0; i < o->nparts; i++) {
        if (o->parts[i].n > 0)
            heap_push(o, i);
        else
            empty_set(o, i, true);
    }
}

/* The first empty partition at index `from` or above, or o->nparts when none. */
static inline size_t empty_next(const ordered_t *o, size_t from)
{
    if (o->full_scan) {
        while (from < o->nparts && o->parts[from].n != 0)
            from++;
        return from;
    }
    size_t w = from / 64;
    if (w >= o->empty_words)
        return o->nparts;
    uint64_t bits = o->empty[w] & (~UINT64_C(0) << (from % 64));
    while (!bits) {
        if (++w >= o->empty_words)
            return o->nparts;
        bits = o->empty[w];
    }
    size_t i = w * 64 + (size_t)__builtin_ctzll(bits);
    return i < o->nparts ? i : o->nparts;
}

static int part_cmp(const char *topic, int32_t partition, const struct opart *p)
{
    int c = strcmp(topic, p->topic);
    if (c)
        return c;
    return partition < p->partition ? -1 : partition > p->partition;
}

/* The partition, or where it would go (*at) when absent. */
static struct opart *part_find(ordered_t *o, const char *topic, int32_t partition, size_t *at)
{
    size_t lo = 0, hi = o->nparts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = part_cmp(topic, partition, &o->parts[mid]);
        if (c == 0)
            return &o->parts[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (at)
        *at = lo;
    return NULL;
}

static struct opart *part_get(ordered_t *o, const char *topic, int32_t partition, int64_t now_ms)
{
    size_t at = 0;
    struct opart *p = part_find(o, topic, partition, &at);
    if (p)
        return p;
    o->parts = xgrow(o->parts, &o->capparts, o->nparts + 1, sizeof *o->parts);
    memmove(&o->parts[at + 1], &o->parts[at], (o->nparts - at) * sizeof *o->parts);
    o->nparts++;
    p = &o->parts[at];
    *p = (struct opart){.topic = xstrdup(topic),
                        .partition = partition,
                        .last_time = ORDERED_TIME_UNSET,
                        .recv = -1,
                        .lo = -1,
                        .hi = -1,
                        .checked_ms = INT64_MIN,
                        .assigned_ms = now_ms};
    heap_rebuild(o);
    o->eval_valid = false; /* a new empty partition */
    return p;
}

void ordered_assign(ordered_t *o, const char *topic, int32_t partition, int64_t next,
                    int64_t now_ms)
{
    struct opart *p = part_get(o, topic, partition, now_ms);
    o->eval_valid = false;
    if (p->n == 0) {
        p->recv = next;
        p->assigned_ms = now_ms;
        p->waiting = p->gave_up = false;
        p->expecting = p->delivered = false;
        p->checked_ms = INT64_MIN;
    }
}

void ordered_expect(ordered_t *o, const char *topic, int32_t partition)
{
    struct opart *p = part_find(o, topic, partition, NULL);
    if (p)
        p->expecting = true;
    o->eval_valid = false;
}

void ordered_learn(ordered_t *o, const char *topic, int32_t partition, int64_t next, int64_t hi)
{
    struct opart *p = part_find(o, topic, partition, NULL);
    o->eval_valid = false;
    if (!p)
        return;
    p->expecting = false;
    if (next >= 0 && !p->delivered)
        p->recv = next;
    if (hi > p->hi)
        p->hi = hi;
}

void ordered_revoke(ordered_t *o, const char *topic, int32_t partition)
{
    struct opart *p = part_find(o, topic, partition, NULL);
    if (!p)
        return;
    part_clear(o, p);
    size_t i = (size_t)(p - o->parts);
    memmove(&o->parts[i], &o->parts[i + 1], (o->nparts - i - 1) * sizeof *o->parts);
    o->nparts--;
    heap_rebuild(o);
    o->eval_valid = false;
}

static void evaluate_drop(ordered_t *o, struct opart *p);

void ordered_push(ordered_t *o, const char *topic, int32_t partition, int64_t offset,
                  int64_t time_ms, void *item, int64_t now_ms)
{
    struct opart *p = part_get(o, topic, partition, now_ms);
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct entry *ring = xcalloc(cap, sizeof *ring);
        for (size_t i = 0; i < p->n; i++)
            ring[i] = p->ring[(p->head + i) % p->cap];
        free(p->ring);
        p->ring = ring;
        p->cap = cap;
        p->head = 0;
    }
    if (time_ms != ORDERED_TIME_UNSET)
        p->last_time = time_ms;
    p->ring[(p->head + p->n) % p->cap] = (struct entry){item, offset, p->last_time};
    if (p->n++ == 0) {
        heap_push(o, (size_t)(p - o->parts));
        empty_set(o, (size_t)(p - o->parts), false);
        evaluate_drop(o, p); /* one empty partition fewer */
    }
    o->buffered++;
    p->recv = offset + 1;
    p->delivered = true;
    p->waiting = p->gave_up = false;
}

void ordered_note_end(ordered_t *o, const char *topic, int32_t partition, int64_t hi)
{
    struct opart *p = part_find(o, topic, partition, NULL);
    if (p && hi > p->hi)
        p->hi = hi;
    o->eval_valid = false;
}

void ordered_skip(ordered_t *o, const char *topic, int32_t partition, int64_t offset)
{
    struct opart *p = part_find(o, topic, partition, NULL);
    o->eval_valid = false;
    if (!p)
        return;
    p->delivered = true;
    if (offset + 1 > p->recv)
        p->recv = offset + 1;
}

/* Re-reads the watermarks of an empty partition unless they show a backlog (watermarks
 * only grow, so a backlog seen once is still there until its records arrive). */
static void refresh(ordered_t *o, struct opart *p, int64_t now_ms)
{
    bool backlog = p->hi >= 0 && p->recv >= 0 && p->recv < p->hi;
    if (backlog || !o->ends ||
        (p->checked_ms != INT64_MIN && now_ms - p->checked_ms < ORDERED_REFRESH_MS))
        return;
    int64_t lo = -1, hi = -1;
    if (o->ends(o->ctx, p->topic, p->partition, &lo, &hi) == 0) {
        p->lo = lo;
        p->hi = hi > p->hi ? hi : p->hi; /* a cached value can be older than one noted */
    }
    p->checked_ms = now_ms;
}

/* True when the empty partition `p` is known to have delivered everything up to its high
 * watermark. */
static bool at_end(const struct opart *p)
{
    if (p->hi < 0)
        return false;
    if (p->recv >= 0)
        return p->recv >= p->hi;
    return p->lo >= 0 && p->lo >= p->hi; /* empty partition, position not known */
}

/* True when records of the empty partition `p` are known to exist and to come: its position
 * and high watermark are known and the position is below. */
static bool backlog_known(const struct opart *p)
{
    return p->hi >= 0 && p->recv >= 0 && p->recv < p->hi;
}

/* How long the empty partition `p` may hold the merge back: a partition whose start and
 * end are being asked may well have a backlog. */
static int64_t bound(const ordered_t *o, const struct opart *p)
{
    return backlog_known(p) || p->expecting ? o->max_wait_ms : o->max_idle_ms;
}

/* True while the empty partition `p` holds the merge back; brings its wait up to date. */
static bool holds_back(ordered_t *o, struct opart *p, int64_t now_ms)
{
    refresh(o, p, now_ms);
    if (at_end(p)) {
        p->waiting = p->gave_up = false;
        return false;
    }
    if (!p->waiting) {
        p->waiting = true;
        p->waited_ms = 0;
    } else if (now_ms > p->asked_ms) {
        int64_t gap = now_ms - p->asked_ms;
        p->waited_ms += gap < ORDERED_GAP_MS ? gap : ORDERED_GAP_MS;
    }
    p->asked_ms = now_ms;
    return p->waited_ms < bound(o, p);
}

/* Notes that records go out past the partition `p`, whose wait ran out: counted and, for a
 * known backlog, logged once per wait. */
static void give_up(ordered_t *o, struct opart *p)
{
    if (p->gave_up)
        return;
    p->gave_up = true;
    if (!backlog_known(p)) {
        o->stats.unknown_timeouts++;
        LOG_DEBUG("%s [%d]: position or high watermark still not known after %lld ms; merging "
                  "the other partitions without it",
                  p->topic, (int)p->partition, (long long)p->waited_ms);
        return;
    }
    o->stats.backlog_timeouts++;
    log_complain(&o->complain, LOG_LEVEL_WARN, LOG_MODULE,
                 "%s [%d]: nothing fetched for %lld ms ([analyzer] order_wait) though offsets "
                 "%lld to %lld exist: the other partitions' records go on without it, out of "
                 "event-time order",
                 p->topic, (int)p->partition, (long long)p->waited_ms, (long long)p->recv,
                 (long long)(p->hi - 1));
}

/* Asks the empty partition `p` whether it holds the merge back at `now_ms` and adds the
 * answer to the kept one. */
static void evaluate_one(ordered_t *o, struct opart *p, int64_t now_ms)
{
    if (holds_back(o, p, now_ms)) {
        p->ev = EV_HELD;
        p->ev_left = bound(o, p) - p->waited_ms;
        o->eval_held++;
        if (o->wait_known && (o->eval_wait < 0 || p->ev_left < o->eval_wait))
            o->eval_wait = p->ev_left;
    } else if (p->waiting) {
        p->ev = EV_EXPIRED;
        o->eval_expired++;
    } else {
        p->ev = EV_NONE;
    }
}

/* Takes the kept answer of partition `p`, which is no longer empty, out of the totals:
 * asking the others again at the same time would give the same answers. */
static void evaluate_drop(ordered_t *o, struct opart *p)
{
    if (o->full_scan) {
        o->eval_valid = false;
    } else if (p->ev == EV_HELD) {
        o->eval_held--;
        if (p->ev_left == o->eval_wait)
            o->wait_known = false; /* perhaps the least: found again when asked */
    } else if (p->ev == EV_EXPIRED) {
        o->eval_expired--;
    }
    p->ev = EV_NONE;
    unasked_set(o, (size_t)(p - o->parts), false);
}

/* Asks every empty partition whether it holds the merge back at `now_ms` (see the DESIGN
 * note above for why the answer is kept). */
static void evaluate_empty(ordered_t *o, int64_t now_ms)
{
    if (o->eval_valid && o->eval_ms == now_ms) {
        /* Only the partitions emptied since are asked (the others would answer the same). */
        for (size_t w = 0; o->nunasked && w < o->empty_words; w++) {
            for (uint64_t bits = o->unasked[w]; bits; bits &= bits - 1) {
                size_t i = w * 64 + (size_t)__builtin_ctzll(bits);
                evaluate_one(o, &o->parts[i], now_ms);
            }
            o->nunasked -= (size_t)__builtin_popcountll(o->unasked[w]);
            o->unasked[w] = 0;
        }
        return;
    }
    if (o->nunasked) {
        memset(o->unasked, 0, o->empty_words * sizeof *o->unasked);
        o->nunasked = 0;
    }
    o->eval_held = o->eval_expired = 0;
    o->eval_wait = -1;
    o->wait_known = true;
    for (size_t i = empty_next(o, 0); i < o->nparts; i = empty_next(o, i + 1))
        evaluate_one(o, &o->parts[i], now_ms);
    o->eval_valid = true;
    o->eval_ms = now_ms;
}

void *ordered_pop(ordered_t *o, int64_t now_ms, const char **topic, int32_t *partition,
                  int64_t *offset)
{
    if (o->buffered == 0)
        return NULL;
    evaluate_empty(o, now_ms);
    bool held = o->eval_held > 0, expired = o->eval_expired > 0;
    struct opart *best = &o->parts[o->heap[0]];
    if (held && o->buffered < o->max_buffered)
        return NULL;
    /* One overflow lasts until no partition holds the merge back any more. */
    if (held && !o->overflowing) {
        o->overflowing = true;
        o->stats.buffer_full++;
        log_complain(&o->complain, LOG_LEVEL_WARN, LOG_MODULE,
                     "%zu records queued for the event-time merge while a partition's are "
                     "still to come: applying them out of order to bound the memory",
                     o->buffered);
    } else if (!held) {
        o->overflowing = false;
    }
    for (size_t i = expired ? empty_next(o, 0) : o->nparts; i < o->nparts;
         i = empty_next(o, i + 1)) {
        struct opart *p = &o->parts[i];
        if (p->waiting && p->waited_ms >= bound(o, p))
            give_up(o, p);
    }
    struct entry e = best->ring[best->head];
    best->head = (best->head + 1) % best->cap;
    best->n--;
    o->buffered--;
    heap_top_changed(o);
    if (best->n == 0) {
        empty_set(o, (size_t)(best - o->parts), true);
        /* One more empty partition to ask, at the next evaluation: if that is at this time,
         * the others' answers stand and it alone is asked (see DESIGN). */
        if (o->full_scan)
            o->eval_valid = false;
        else
            unasked_set(o, (size_t)(best - o->parts), true);
    }
    if (topic)
        *topic = best->topic;
    if (partition)
        *partition = best->partition;
    if (offset)
        *offset = e.offset;
    return e.item;
}

size_t ordered_buffered(const ordered_t *o)
{
    return o->buffered;
}

int64_t ordered_wait_ms(ordered_t *o, int64_t now_ms)
{
    if (o->buffered == 0)
        return -1;
    evaluate_empty(o, now_ms);
    /* Nothing holds back: the queued records can go now. */
    if (!o->wait_known) {
        o->eval_wait = -1;
        for (size_t i = empty_next(o, 0); o->eval_held && i < o->nparts; i = empty_next(o, i + 1)) {
            const struct opart *p = &o->parts[i];
            if (p->ev == EV_HELD && (o->eval_wait < 0 || p->ev_left < o->eval_wait))
                o->eval_wait = p->ev_left;
        }
        o->wait_known = true;
    }
    return o->eval_wait < 0 ? 0 : o->eval_wait;
}

int64_t ordered_lag(ordered_t *o, int64_t now_ms)
{
    int64_t lag = (int64_t)o->buffered;
    o->eval_valid = false;
    for (size_t i = 0; i < o->nparts; i++) {
        struct opart *p = &o->parts[i];
        refresh(o, p, now_ms);
        if (p->hi >= 0 && p->recv >= 0) {
            if (p->hi > p->recv)
                lag += p->hi - p->recv;
            continue;
        }
        if (p->n == 0 && at_end(p))
            continue;
        /* Not known; a partition that delivered nothing long after its assignment is
         * taken to be at its end (librdkafka fetches it all the time). */
        if (p->n == 0 && p->recv < 0 && !p->expecting && now_ms - p->assigned_ms >= o->max_idle_ms)
            continue;
        return -1;
    }
    return lag;
}

void ordered_get_stats(const ordered_t *o, struct ordered_stats *out)
{
    *out = o->stats;
}

void ordered_set_full_scan_for_testing(ordered_t *o, bool full_scan)
{
    o->full_scan = full_scan;
}
