/* test_ordered: the event-time merge over partitions: output order, the bounded waits for a
 * partition with a known backlog and for one not known, what counts towards a wait, the live
 * edge, the memory bound, revokes, the same order whatever the fetch timing, and the start
 * and end of each partition learnt at assignment (a fresh consumer group), and the answers
 * kept per empty partition against the former way of asking them all again. */
#include "testing.h"

#include <stdbool.h>
#include <string.h>

#include "analyzer/ordered.h"

#define NPARTS 4

/* Fake partitions: their watermarks. */
struct fake {
    int64_t lo[NPARTS], hi[NPARTS];
    int calls;
};

static int fake_ends(void *ctx, const char *topic, int32_t partition, int64_t *lo, int64_t *hi)
{
    struct fake *f = ctx;
    f->calls++;
    if (strcmp(topic, "events") != 0 || partition < 0 || partition >= NPARTS)
        return -1;
    *lo = f->lo[partition];
    *hi = f->hi[partition];
    return 0;
}

static int freed;

static void free_item(void *item)
{
    freed++;
    free(item);
}

/* An item: its partition and event time, to check the order. */
struct item {
    int32_t partition;
    int64_t offset;
    int64_t time_ms;
};

static void push(ordered_t *o, int32_t partition, int64_t offset, int64_t time_ms, int64_t now)
{
    struct item *it = malloc(sizeof *it);
    *it = (struct item){partition, offset, time_ms};
    ordered_push(o, "events", partition, offset, time_ms, it, now);
}

/* A merge over the fake partitions f with ordered_new()'s bounds, partitions 0 .. nparts-1
 * assigned at time now with their positions known (offset 0). */
static ordered_t *merge_new(struct fake *f, int64_t max_idle_ms, int64_t max_wait_ms,
                            size_t max_buffered, int nparts, int64_t now)
{
    ordered_t *o = ordered_new(max_idle_ms, max_wait_ms, max_buffered, fake_ends, f, free_item);
    for (int p = 0; p < nparts; p++)
        ordered_assign(o, "events", p, 0, now);
    return o;
}

/* Pops the next record due at now, which must be there; returns a copy (the item is freed). */
static struct item pop_item(ordered_t *o, int64_t now)
{
    struct item *it = ordered_pop(o, now, NULL, NULL, NULL);
    assert_non_null(it);
    struct item v = *it;
    free(it);
    return v;
}

/* Pops every record due at now. The first round (round 0) writes the output order into
 * ref_p / ref_o, later rounds must repeat it. Returns the count of records out so far. */
static int drain_same_order(ordered_t *o, int64_t now, int round, int64_t *ref_p, int64_t *ref_o,
                            int out)
{
    struct item *it;
    while ((it = ordered_pop(o, now, NULL, NULL, NULL))) {
        if (round == 0) {
            ref_p[out] = it->partition;
            ref_o[out] = it->offset;
        } else {
            assert_int_equal(ref_p[out], it->partition);
            assert_int_equal(ref_o[out], it->offset);
        }
        out++;
        free(it);
    }
    return out;
}

/* Three partitions with known timestamps and all their records buffered: the output is
 * sorted by time, ties by partition, and each partition keeps its own order. */
static void test_merge_order(void **state)
{
    (void)state;
    struct fake f = {.lo = {0, 0, 0, 0}, .hi = {4, 3, 3, 0}};
    ordered_t *o = merge_new(&f, 500, 2000, 0, NPARTS, 0);
    static const int64_t t0[] = {10, 40, 40, 90}, t1[] = {20, 30, 70}, t2[] = {5, 40, 100};
    for (int i = 0; i < 4; i++)
        push(o, 0, i, t0[i], 1);
    for (int i = 0; i < 3; i++)
        push(o, 1, i, t1[i], 1);
    for (int i = 0; i < 3; i++)
        push(o, 2, i, t2[i], 1);
    static const struct {
        int32_t p;
        int64_t t;
    } want[] = {{2, 5},  {0, 10}, {1, 20}, {1, 30}, {0, 40},
                {0, 40}, {2, 40}, {1, 70}, {0, 90}, {2, 100}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const char *topic = NULL;
        int32_t part = -1;
        int64_t off = -1;
        struct item *it = ordered_pop(o, 2, &topic, &part, &off);
        assert_non_null(it);
        assert_string_equal(topic, "events");
        assert_int_equal(part, it->partition);
        assert_int_equal(off, it->offset);
        assert_int_equal(it->partition, want[i].p);
        assert_int_equal(it->time_ms, want[i].t);
        free(it);
    }
    assert_null(ordered_pop(o, 2, NULL, NULL, NULL));
    assert_int_equal(ordered_buffered(o), 0);
    assert_int_equal(ordered_lag(o, 2), 0);
    ordered_free(o);
}

/* Records without an event time follow the record before them in their partition. */
static void test_unset_time_inherits(void **state)
{
    (void)state;
    struct fake f = {.hi = {3, 2, 0, 0}};
    ordered_t *o = merge_new(&f, 500, 2000, 0, 2, 0);
    push(o, 0, 0, 100, 0);                /* pass begin */
    push(o, 0, 1, ORDERED_TIME_UNSET, 0); /* its items */
    push(o, 0, 2, ORDERED_TIME_UNSET, 0);
    push(o, 1, 0, 50, 0);
    push(o, 1, 1, 150, 0);
    static const int32_t want[] = {1, 0, 0, 0, 1};
    static const int64_t woff[] = {0, 0, 1, 2, 1};
    for (size_t i = 0; i < 5; i++) {
        struct item it = pop_item(o, 0);
        assert_int_equal(it.partition, want[i]);
        assert_int_equal(it.offset, woff[i]);
    }
    ordered_free(o);
}

/* A partition with a known backlog and nothing buffered holds the merge back, but no longer
 * than max_wait_ms; its records, once they arrive, are merged again. The give-up is
 * counted once per wait. */
static void test_bounded_wait(void **state)
{
    (void)state;
    struct fake f = {.hi = {2, 2, 0, 0}};
    struct ordered_stats st;
    ordered_t *o = merge_new(&f, 500, 2000, 0, 2, 1000);
    push(o, 0, 0, 200, 1000);
    push(o, 0, 1, 300, 1000);
    /* Partition 1 has two records coming (high watermark 2) and none here yet. */
    assert_null(ordered_pop(o, 1000, NULL, NULL, NULL));
    assert_int_equal(ordered_wait_ms(o, 1000), 2000);
    assert_null(ordered_pop(o, 1200, NULL, NULL, NULL));
    assert_int_equal(ordered_wait_ms(o, 1200), 1800);
    assert_int_equal(ordered_lag(o, 1200), 4);
    /* Its first record arrives in time and goes first. */
    push(o, 1, 0, 100, 1300);
    assert_int_equal(pop_item(o, 1300).partition, 1);
    /* Empty again with one record to come: waited for from now, up to 2000 ms, well past
     * the 500 ms that a partition of unknown watermark gets. */
    assert_null(ordered_pop(o, 1300, NULL, NULL, NULL));
    for (int64_t t = 1400; t < 3300; t += 100)
        assert_null(ordered_pop(o, t, NULL, NULL, NULL));
    assert_null(ordered_pop(o, 3299, NULL, NULL, NULL));
    assert_int_equal(ordered_wait_ms(o, 3299), 1);
    ordered_get_stats(o, &st);
    assert_int_equal(st.backlog_timeouts, 0);
    struct item it = pop_item(o, 3300);
    assert_int_equal(it.partition, 0);
    assert_int_equal(it.time_ms, 200);
    /* Past its wait it holds nothing back until its next record. */
    assert_int_equal(pop_item(o, 3301).time_ms, 300);
    ordered_get_stats(o, &st);
    assert_int_equal(st.backlog_timeouts, 1); /* one wait given up, two records past it */
    assert_int_equal(st.unknown_timeouts, 0);
    assert_int_equal(st.buffer_full, 0);
    push(o, 1, 1, 250, 3400);
    assert_int_equal(pop_item(o, 3400).partition, 1);
    assert_int_equal(ordered_wait_ms(o, 3400), -1);
    ordered_free(o);
}

/* A partition whose position or high watermark is not known yet (it may be empty) is waited
 * for only max_idle_ms; once its watermark shows a backlog it gets max_wait_ms. */
static void test_unknown_short_wait(void **state)
{
    (void)state;
    struct fake f = {.lo = {0, -1, 0, 0}, .hi = {3, -1, 0, 0}};
    struct ordered_stats st;
    ordered_t *o = ordered_new(500, 5000, 0, fake_ends, &f, free_item);
    ordered_assign(o, "events", 0, 0, 0);
    ordered_assign(o, "events", 1, -1, 0);
    push(o, 0, 0, 10, 0);
    assert_null(ordered_pop(o, 0, NULL, NULL, NULL));
    assert_int_equal(ordered_wait_ms(o, 0), 500);
    assert_null(ordered_pop(o, 499, NULL, NULL, NULL));
    pop_item(o, 500);
    ordered_get_stats(o, &st);
    assert_int_equal(st.unknown_timeouts, 1);
    assert_int_equal(st.backlog_timeouts, 0);
    /* Its first record arrives: the position is known now, and with the high watermark
     * above it the next wait is the long one. */
    f.lo[1] = 0;
    f.hi[1] = 10;
    push(o, 1, 4, 20, 600);
    push(o, 0, 1, 30, 600);
    assert_int_equal(pop_item(o, 600).partition, 1);
    for (int64_t t = 600; t < 5600; t += 250)
        assert_null(ordered_pop(o, t, NULL, NULL, NULL));
    assert_int_equal(pop_item(o, 5600).partition, 0);
    ordered_get_stats(o, &st);
    assert_int_equal(st.unknown_timeouts, 1);
    assert_int_equal(st.backlog_timeouts, 1);
    ordered_free(o);
}

/* Only the time the caller spends asking counts: a long gap between two calls (a checkpoint
 * that took a minute, a pause) counts ORDERED_GAP_MS, so a backlog is still waited for
 * after it. */
static void test_gap_counts_little(void **state)
{
    (void)state;
    struct fake f = {.hi = {1, 1, 0, 0}};
    ordered_t *o = merge_new(&f, 500, 3000, 0, 2, 0);
    push(o, 0, 0, 10, 0);
    assert_null(ordered_pop(o, 0, NULL, NULL, NULL));
    assert_null(ordered_pop(o, 60000, NULL, NULL, NULL));
    assert_int_equal(ordered_wait_ms(o, 60000), 3000 - ORDERED_GAP_MS);
    assert_null(ordered_pop(o, 600000, NULL, NULL, NULL));
    assert_int_equal(ordered_wait_ms(o, 600000), 3000 - 2 * ORDERED_GAP_MS);
    /* The record comes after all: the merge kept the order. */
    push(o, 1, 0, 5, 600001);
    assert_int_equal(pop_item(o, 600001).partition, 1);
    struct ordered_stats st;
    ordered_get_stats(o, &st);
    assert_int_equal(st.backlog_timeouts + st.unknown_timeouts + st.buffer_full, 0);
    ordered_free(o);
}

/* At the live edge (every other partition at its high watermark) a record goes at once, and
 * an unknown watermark is waited for (bounded) like a backlog. */
static void test_live_edge(void **state)
{
    (void)state;
    struct fake f = {.hi = {5, 7, -1, 0}, .lo = {0, 0, -1, 0}};
    ordered_t *o = ordered_new(500, 2000, 0, fake_ends, &f, free_item);
    ordered_assign(o, "events", 0, 4, 0);
    ordered_assign(o, "events", 1, 7, 0);
    ordered_assign(o, "events", 3, -1, 0); /* position unknown, empty partition */
    push(o, 0, 4, 1000, 10);
    pop_item(o, 10);
    assert_int_equal(ordered_lag(o, 10), 0);
    /* A partition whose watermark is not known yet holds back, up to the bound. */
    ordered_assign(o, "events", 2, -1, 20);
    push(o, 0, 5, 2000, 20);
    assert_null(ordered_pop(o, 20, NULL, NULL, NULL));
    assert_int_equal(ordered_lag(o, 20), -1);
    f.hi[2] = 0; /* known now: empty */
    f.lo[2] = 0;
    pop_item(o, 30);
    /* Watermarks are re-read at most every ORDERED_REFRESH_MS for an empty partition. */
    f.hi[2] = f.lo[2] = -1;
    push(o, 0, 6, 3000, 40);
    f.calls = 0;
    for (int i = 0; i < 100; i++)
        assert_null(ordered_pop(o, 40, NULL, NULL, NULL));
    assert_true(f.calls > 0 && f.calls <= NPARTS);
    ordered_free(o);
}

/* The memory bound: at max_buffered records the merge stops waiting. */
static void test_buffer_bound(void **state)
{
    (void)state;
    struct fake f = {.hi = {100, 10, 0, 0}};
    ordered_t *o = merge_new(&f, 500, 2000, 8, 2, 0);
    for (int i = 0; i < 7; i++)
        push(o, 0, i, i, 0);
    assert_null(ordered_pop(o, 0, NULL, NULL, NULL));
    push(o, 0, 7, 7, 0);
    assert_int_equal(pop_item(o, 0).offset, 0);
    assert_null(ordered_pop(o, 0, NULL, NULL, NULL));
    /* Full again and again while the same partition is waited for: one overflow. */
    for (int i = 8; i < 12; i++) {
        push(o, 0, i, i, 0);
        pop_item(o, 0);
    }
    struct ordered_stats st;
    ordered_get_stats(o, &st);
    assert_int_equal(st.buffer_full, 1);
    assert_int_equal(st.backlog_timeouts, 0);
    ordered_free(o);
}

/* A revoked partition's records are freed, not handed out; ordered_free frees the rest. */
static void test_revoke_frees(void **state)
{
    (void)state;
    struct fake f = {.hi = {3, 3, 0, 0}};
    freed = 0;
    ordered_t *o = merge_new(&f, 0, 0, 0, 2, 0);
    for (int i = 0; i < 3; i++) {
        push(o, 0, i, 10 * i, 0);
        push(o, 1, i, 10 * i + 5, 0);
    }
    ordered_revoke(o, "events", 1);
    assert_int_equal(freed, 3);
    assert_int_equal(ordered_buffered(o), 3);
    assert_int_equal(pop_item(o, 0).partition, 0);
    ordered_free(o);
    assert_int_equal(freed, 5);
}

/* Randomized: any interleaving of arrivals gives the same output once every partition is
 * fully buffered (the order does not depend on fetch chunks). */
static void test_random_interleavings(void **state)
{
    (void)state;
    srand(testing_seed());
    enum { PER = 200 };
    int64_t times[NPARTS][PER];
    for (int p = 0; p < NPARTS; p++) {
        int64_t t = rand() % 100;
        for (int i = 0; i < PER; i++) {
            times[p][i] = (rand() % 5 == 0) ? ORDERED_TIME_UNSET : t;
            t += rand() % 50;
        }
    }
    int64_t ref_p[NPARTS * PER], ref_o[NPARTS * PER];
    for (int round = 0; round < 20; round++) {
        struct fake f = {.hi = {PER, PER, PER, PER}};
        ordered_t *o = merge_new(&f, 1000000, 1000000, 0, NPARTS, 0);
        int next[NPARTS] = {0};
        int out = 0, left = NPARTS * PER;
        while (left > 0 || ordered_buffered(o) > 0) {
            if (left > 0) {
                int p = rand() % NPARTS;
                int chunk = 1 + rand() % 40;
                for (int k = 0; k < chunk && next[p] < PER; k++, left--) {
                    push(o, p, next[p], times[p][next[p]], 0);
                    next[p]++;
                }
            }
            out = drain_same_order(o, 0, round, ref_p, ref_o, out);
        }
        assert_int_equal(out, NPARTS * PER);
        ordered_free(o);
    }
}

/* Randomized: partitions whose fetches come seconds apart (a loaded machine), with the
 * caller asking every 50 ms: while no fetch takes longer than max_wait_ms the output is the
 * same for every schedule, and no wait is given up. */
static void test_slow_fetches_same_order(void **state)
{
    (void)state;
    srand(testing_seed() + 1);
    enum { PER = 150, STEP = 50, MAX_GAP = 4000 };
    int64_t times[NPARTS][PER];
    for (int p = 0; p < NPARTS; p++) {
        int64_t t = rand() % 1000;
        for (int i = 0; i < PER; i++) {
            times[p][i] = t;
            t += rand() % 300;
        }
    }
    int64_t ref_p[NPARTS * PER], ref_o[NPARTS * PER];
    for (int round = 0; round < 10; round++) {
        struct fake f = {.hi = {PER, PER, PER, PER}};
        ordered_t *o = merge_new(&f, 500, 10000, 0, NPARTS, 0);
        int next[NPARTS] = {0}, chunk_end[NPARTS] = {0};
        int64_t arrive[NPARTS] = {0};
        int out = 0;
        for (int64_t now = 0; out < NPARTS * PER; now += STEP) {
            assert_true(now < 10000000);
            for (int p = 0; p < NPARTS; p++) {
                if (next[p] == PER || arrive[p] > now)
                    continue;
                if (next[p] == chunk_end[p]) { /* schedule this partition's next fetch */
                    chunk_end[p] = next[p] + 1 + rand() % 40;
                    chunk_end[p] = chunk_end[p] > PER ? PER : chunk_end[p];
                    arrive[p] = now + rand() % MAX_GAP;
                    continue;
                }
                for (; next[p] < chunk_end[p]; next[p]++)
                    push(o, p, next[p], times[p][next[p]], now);
            }
            out = drain_same_order(o, now, round, ref_p, ref_o, out);
        }
        struct ordered_stats st;
        ordered_get_stats(o, &st);
        assert_int_equal(st.backlog_timeouts + st.unknown_timeouts + st.buffer_full, 0);
        ordered_free(o);
    }
}

/* A merge (500 ms unknown, 5 s backlog waits) with partitions 0..n-1 of "events" assigned
 * in a fresh group (position unknown) and their start and end asked for, not yet answered. */
static ordered_t *assigned_unanswered(struct fake *f, int n)
{
    ordered_t *o = ordered_new(500, 5000, 0, fake_ends, f, free_item);
    for (int p = 0; p < n; p++) {
        ordered_assign(o, "events", p, -1, 0);
        ordered_expect(o, "events", p);
    }
    return o;
}

/* A fresh consumer group: no position is known until a partition's first record arrives,
 * and the cached watermarks are unknown until its first fetch. The analyzer asks the
 * brokers at assignment (ordered_expect(), ordered_learn()): while the answer is out a
 * partition is waited for past max_idle_ms; with it, a slow partition's backlog is waited
 * for up to max_wait_ms and its older records still go first, and an empty partition holds
 * nothing back. */
static void test_backlog_known_at_assignment(void **state)
{
    (void)state;
    struct fake f = {.lo = {-1, -1, -1, -1}, .hi = {-1, -1, -1, -1}};
    struct ordered_stats st;
    ordered_t *o = assigned_unanswered(&f, 3);
    /* Partition 0's records come first; partition 1's older ones are slow to come. */
    for (int i = 0; i < 3; i++)
        push(o, 0, i, 100 * (i + 1), 10);
    for (int64_t t = 10; t <= 800; t += 100)
        assert_null(ordered_pop(o, t, NULL, NULL, NULL)); /* past max_idle_ms: still held */
    assert_int_equal(ordered_lag(o, 800), -1);
    /* The answer: partition 1 holds offsets 0 and 1, partition 2 is empty at offset 5. */
    ordered_learn(o, "events", 0, 0, 3);
    ordered_learn(o, "events", 1, 0, 2);
    ordered_learn(o, "events", 2, 5, 5);
    assert_int_equal(ordered_lag(o, 850), 5);
    for (int64_t t = 850; t < 4000; t += 250)
        assert_null(ordered_pop(o, t, NULL, NULL, NULL));
    assert_true(ordered_wait_ms(o, 4000) > 0);
    /* Partition 1's records arrive 4 s late and still go in event-time order. */
    push(o, 1, 0, 50, 4000);
    push(o, 1, 1, 150, 4000);
    static const struct {
        int32_t p;
        int64_t t;
    } want[] = {{1, 50}, {0, 100}, {1, 150}, {0, 200}, {0, 300}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        struct item it = pop_item(o, 4000);
        assert_int_equal(it.partition, want[i].p);
        assert_int_equal(it.time_ms, want[i].t);
    }
    assert_null(ordered_pop(o, 4000, NULL, NULL, NULL));
    assert_int_equal(ordered_lag(o, 4000), 0);
    ordered_get_stats(o, &st);
    assert_int_equal(st.backlog_timeouts + st.unknown_timeouts + st.buffer_full, 0);
    ordered_free(o);
}

/* A partition that the answer shows empty is not waited for at all, nor is one that
 * delivered its records before the answer came (the answer is older than they are). */
static void test_empty_at_assignment_no_wait(void **state)
{
    (void)state;
    struct fake f = {.lo = {-1, -1, -1, -1}, .hi = {-1, -1, -1, -1}};
    struct ordered_stats st;
    ordered_t *o = assigned_unanswered(&f, 3);
    push(o, 0, 0, 100, 5);
    push(o, 0, 1, 200, 5);
    push(o, 2, 3, 50, 5);
    assert_null(ordered_pop(o, 5, NULL, NULL, NULL)); /* partition 1 not answered yet */
    ordered_learn(o, "events", 1, 7, 7);              /* empty: holds nothing back */
    assert_int_equal(ordered_wait_ms(o, 6), 0);
    assert_int_equal(pop_item(o, 6).partition, 2);
    assert_null(ordered_pop(o, 7, NULL, NULL, NULL)); /* partition 2 not answered yet */
    ordered_learn(o, "events", 2, 0, 4);              /* a start older than what it delivered */
    ordered_learn(o, "events", 0, 0, 2);
    assert_int_equal(ordered_wait_ms(o, 8), 0);
    assert_int_equal(pop_item(o, 8).time_ms, 100);
    assert_int_equal(pop_item(o, 8).time_ms, 200);
    assert_int_equal(ordered_lag(o, 8), 0);
    ordered_get_stats(o, &st);
    assert_int_equal(st.backlog_timeouts + st.unknown_timeouts + st.buffer_full, 0);
    ordered_free(o);
}

/* No answer (the brokers were slow): the partition falls back to the short wait for an
 * unknown position, which already ran out while the answer was awaited. */
static void test_no_answer_falls_back(void **state)
{
    (void)state;
    struct fake f = {.lo = {-1, -1, -1, -1}, .hi = {-1, -1, -1, -1}};
    struct ordered_stats st;
    ordered_t *o = assigned_unanswered(&f, 2);
    push(o, 0, 0, 100, 0);
    ordered_learn(o, "events", 0, 0, 1);
    for (int64_t t = 0; t <= 2000; t += 100)
        assert_null(ordered_pop(o, t, NULL, NULL, NULL));
    ordered_learn(o, "events", 1, -1, -1);
    assert_int_equal(pop_item(o, 2100).partition, 0);
    ordered_get_stats(o, &st);
    assert_int_equal(st.unknown_timeouts, 1);
    assert_int_equal(st.backlog_timeouts, 0);
    ordered_free(o);
}

/* Watermarks of many partitions for the differential test. */
#define DIFF_PARTS 140

struct diff_fake {
    int64_t hi[DIFF_PARTS];
};

static int diff_ends(void *ctx, const char *topic, int32_t partition, int64_t *lo, int64_t *hi)
{
    struct diff_fake *f = ctx;
    (void)topic;
    if (partition < 0 || partition >= DIFF_PARTS || f->hi[partition] < 0)
        return -1;
    *lo = 0;
    *hi = f->hi[partition];
    return 0;
}

/* Randomized: the answers kept per empty partition and the set of empty partitions (the
 * default) against the former way, which scans every partition and asks them all again after
 * a pop or a push changed one (ordered_set_full_scan_for_testing()), on the same schedules of
 * assigns, revokes, pushes, skips, pops, waits, lags and watermark news over more partitions
 * than one 64-bit word holds: every pop, wait, lag and counter is the same. */
static void test_empty_set_matches_scan(void **state)
{
    (void)state;
    unsigned seed = testing_seed();
    srand(seed);
    const char *topics[2] = {"events", "inventory"};
    for (int round = 0; round < 60; round++) {
        struct diff_fake f;
        for (int i = 0; i < DIFF_PARTS; i++)
            f.hi[i] = rand() % 3 == 0 ? -1 : rand() % 50;
        int64_t idle = rand() % 3 == 0 ? 0 : 1 + rand() % 40;
        int64_t wait = idle + rand() % 200;
        size_t maxbuf = (size_t)(50 + rand() % 400);
        ordered_t *o[2];
        for (int k = 0; k < 2; k++) {
            o[k] = ordered_new(idle, wait, maxbuf, diff_ends, &f, free_item);
            ordered_set_full_scan_for_testing(o[k], k == 1);
        }
        int64_t next[2][DIFF_PARTS] = {{0}}, t = rand() % 1000, now = 0;
        int nparts = 1 + rand() % DIFF_PARTS;
        for (int op = 0; op < 3000; op++) {
            int r = rand() % 100, tp = rand() % 2, part = rand() % nparts;
            const char *topic = topics[tp];
            if (r < 3) {
                int64_t at = rand() % 2 ? next[tp][part] : -1;
                for (int k = 0; k < 2; k++)
                    ordered_assign(o[k], topic, part, at, now);
            } else if (r < 5) {
                for (int k = 0; k < 2; k++)
                    ordered_revoke(o[k], topic, part);
            } else if (r < 7) {
                int64_t hi = next[tp][part] + rand() % 20;
                int64_t at = rand() % 2 ? next[tp][part] : -1;
                for (int k = 0; k < 2; k++) {
                    ordered_expect(o[k], topic, part);
                    ordered_learn(o[k], topic, part, at, hi);
                }
            } else if (r < 9) {
                f.hi[part] = next[tp][part] + rand() % 30;
                for (int k = 0; k < 2; k++)
                    ordered_note_end(o[k], topic, part, f.hi[part]);
            } else if (r < 11) {
                for (int k = 0; k < 2; k++)
                    ordered_skip(o[k], topic, part, next[tp][part]);
                next[tp][part]++;
            } else if (r < 50) {
                int chunk = 1 + rand() % 20;
                for (int c = 0; c < chunk; c++, next[tp][part]++) {
                    int64_t tm = rand() % 6 == 0 ? ORDERED_TIME_UNSET : t + rand() % 500;
                    for (int k = 0; k < 2; k++) {
                        struct item *it = malloc(sizeof *it);
                        *it = (struct item){part, next[tp][part], tm};
                        ordered_push(o[k], topic, part, next[tp][part], tm, it, now);
                    }
                }
                t += rand() % 50;
            } else if (r < 85) {
                for (int n = rand() % 30; n >= 0; n--) {
                    const char *top[2];
                    int32_t pp[2];
                    int64_t off[2];
                    struct item *it[2];
                    for (int k = 0; k < 2; k++)
                        it[k] = ordered_pop(o[k], now, &top[k], &pp[k], &off[k]);
                    assert_true((it[0] == NULL) == (it[1] == NULL));
                    if (!it[0])
                        break;
                    assert_string_equal(top[0], top[1]);
                    assert_int_equal(pp[0], pp[1]);
                    assert_int_equal(off[0], off[1]);
                    free(it[0]);
                    free(it[1]);
                }
            } else if (r < 92) {
                assert_int_equal(ordered_wait_ms(o[0], now), ordered_wait_ms(o[1], now));
            } else if (r < 95) {
                assert_int_equal(ordered_lag(o[0], now), ordered_lag(o[1], now));
            } else {
                now += rand() % 4 == 0 ? rand() % 2000 : rand() % 10;
            }
            assert_int_equal(ordered_buffered(o[0]), ordered_buffered(o[1]));
        }
        struct ordered_stats st[2];
        for (int k = 0; k < 2; k++)
            ordered_get_stats(o[k], &st[k]);
        assert_int_equal(st[0].backlog_timeouts, st[1].backlog_timeouts);
        assert_int_equal(st[0].unknown_timeouts, st[1].unknown_timeouts);
        assert_int_equal(st[0].buffer_full, st[1].buffer_full);
        for (int k = 0; k < 2; k++)
            ordered_free(o[k]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_order),
        cmocka_unit_test(test_unset_time_inherits),
        cmocka_unit_test(test_bounded_wait),
        cmocka_unit_test(test_live_edge),
        cmocka_unit_test(test_buffer_bound),
        cmocka_unit_test(test_revoke_frees),
        cmocka_unit_test(test_random_interleavings),
        cmocka_unit_test(test_unknown_short_wait),
        cmocka_unit_test(test_gap_counts_little),
        cmocka_unit_test(test_slow_fetches_same_order),
        cmocka_unit_test(test_backlog_known_at_assignment),
        cmocka_unit_test(test_empty_at_assignment_no_wait),
        cmocka_unit_test(test_no_answer_falls_back),
        cmocka_unit_test(test_empty_set_matches_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
