/* test_analyzer_idle: when `analyze --exit-when-idle` may end: what counts as idle time (a
 * stall does not), a failing checkpoint, records in the merge, a known, an unknown and a
 * stalled lag, a pending commit, no assignment; and, on random inputs, that the run never
 * ends while something is known to wait within its bound. */
#include "testing.h"

#include <stdbool.h>

#include "analyzer/analyzer_idle.h"

#define IDLE 2000

/* Inputs of a run with a partition assigned, nothing waiting, idle for `quiet` ms. */
static struct analyzer_idle_inputs quiet_run(int64_t quiet)
{
    return (struct analyzer_idle_inputs){.idle_ms = IDLE,
                                         .quiet_ms = quiet,
                                         .since_start_ms = 100000,
                                         .assigned_once = true,
                                         .lag = 0};
}

struct row {
    const char *what;
    struct analyzer_idle_inputs in;
    enum analyzer_idle want;
};

static void test_table(void **state)
{
    (void)state;
    const int64_t S = ANALYZER_IDLE_STALL_MS, U = ANALYZER_IDLE_UNKNOWN_MS;
    struct analyzer_idle_inputs in;
    struct row rows[64];
    size_t n = 0;
#define ROW(w, expr, v)                                                                            \
    do {                                                                                           \
        in = quiet_run(IDLE);                                                                      \
        expr;                                                                                      \
        rows[n++] = (struct row){w, in, v};                                                        \
    } while (0)
    ROW("idle for exactly the idle time, nothing waiting", (void)0, ANALYZER_IDLE_EXIT);
    ROW("one ms short of the idle time", in.quiet_ms -= 1, ANALYZER_IDLE_ACTIVE);
    ROW("no idle time asked: never idle", (in.idle_ms = 0, in.quiet_ms = 1 << 30),
        ANALYZER_IDLE_ACTIVE);
    ROW("a failing checkpoint holds the run", in.checkpoint_failing = true,
        ANALYZER_IDLE_WAIT_CHECKPOINT);
    ROW("... however long, whatever else is known",
        (in.checkpoint_failing = true, in.quiet_ms += 100 * S, in.lag = -1, in.buffered = 3),
        ANALYZER_IDLE_WAIT_CHECKPOINT);
    ROW("records in the merge hold the run", in.buffered = 1, ANALYZER_IDLE_WAIT_MERGE);
    ROW("... however long", (in.buffered = 7, in.quiet_ms += 100 * S), ANALYZER_IDLE_WAIT_MERGE);
    ROW("a known lag holds the run", in.lag = 1, ANALYZER_IDLE_WAIT_LAG);
    ROW("... up to the stall bound", (in.lag = 5, in.quiet_ms += S - 1), ANALYZER_IDLE_WAIT_LAG);
    ROW("... not beyond", (in.lag = 5, in.quiet_ms += S), ANALYZER_IDLE_EXIT_STALLED);
    ROW("an unknown lag holds the run", in.lag = -1, ANALYZER_IDLE_WAIT_UNKNOWN);
    ROW("... up to its bound", (in.lag = -1, in.quiet_ms += U - 1), ANALYZER_IDLE_WAIT_UNKNOWN);
    ROW("... not beyond", (in.lag = -1, in.quiet_ms += U), ANALYZER_IDLE_EXIT_UNKNOWN);
    ROW("an unknown lag within the idle time: active", (in.lag = -1, in.quiet_ms -= 1),
        ANALYZER_IDLE_ACTIVE);
    ROW("an unknown lag and a pending commit: the longer bound",
        (in.lag = -1, in.commit_pending = true, in.quiet_ms += U), ANALYZER_IDLE_WAIT_COMMIT);
    ROW("a pending commit holds the run", in.commit_pending = true, ANALYZER_IDLE_WAIT_COMMIT);
    ROW("... up to the stall bound", (in.commit_pending = true, in.quiet_ms += S),
        ANALYZER_IDLE_EXIT_STALLED);
    ROW("a lag goes before a pending commit", (in.commit_pending = true, in.lag = 2),
        ANALYZER_IDLE_WAIT_LAG);
    ROW("records in the merge go before the lag", (in.buffered = 2, in.lag = 9),
        ANALYZER_IDLE_WAIT_MERGE);
    ROW("no assignment: the idle time does not count",
        (in.assigned_once = false, in.quiet_ms = 1 << 30, in.since_start_ms = 5),
        ANALYZER_IDLE_ACTIVE);
    ROW("no assignment: idle plus the grace from the start",
        (in.assigned_once = false, in.since_start_ms = IDLE + ANALYZER_IDLE_NO_ASSIGN_MS - 1),
        ANALYZER_IDLE_ACTIVE);
    ROW("no assignment: given up after it",
        (in.assigned_once = false, in.since_start_ms = IDLE + ANALYZER_IDLE_NO_ASSIGN_MS),
        ANALYZER_IDLE_NO_ASSIGNMENT);
#undef ROW
    for (size_t i = 0; i < n; i++) {
        enum analyzer_idle got = analyzer_idle_decide(&rows[i].in);
        if (got != rows[i].want)
            fail_msg("%s: verdict %d, want %d", rows[i].what, (int)got, (int)rows[i].want);
    }
}

/* What counts as idle time: polls that returned nothing, each at most its timeout. A 3 s
 * stall (a checkpoint at a revoke inside the poll, a process that stood still) adds one
 * timeout; work between polls is not counted at all. */
static void test_waited(void **state)
{
    (void)state;
    int64_t q = 0;
    for (int i = 0; i < 10; i++)
        q = analyzer_idle_waited(q, 100, 100);
    assert_int_equal(q, 1000);
    q = analyzer_idle_waited(q, 3000, 100); /* stalled inside the poll */
    assert_int_equal(q, 1100);
    q = analyzer_idle_waited(q, 37, 100); /* woke early (an event, a merge deadline) */
    assert_int_equal(q, 1137);
    q = analyzer_idle_waited(q, 5, 0); /* a poll that was not to wait */
    assert_int_equal(q, 1137);
    q = analyzer_idle_waited(q, -4, 100); /* a clock that did not move */
    assert_int_equal(q, 1137);
    /* A run idle 1.9 s, then a checkpoint of 3 s between two polls, then 100 ms: exactly
     * the idle time of 2 s, not 5 s. */
    struct analyzer_idle_inputs in = quiet_run(0);
    for (int i = 0; i < 19; i++)
        in.quiet_ms = analyzer_idle_waited(in.quiet_ms, 100, 100);
    assert_int_equal(analyzer_idle_decide(&in), ANALYZER_IDLE_ACTIVE);
    in.quiet_ms = analyzer_idle_waited(in.quiet_ms, 100, 100);
    assert_int_equal(analyzer_idle_decide(&in), ANALYZER_IDLE_EXIT);
}

static void test_ends(void **state)
{
    (void)state;
    assert_true(analyzer_idle_ends(ANALYZER_IDLE_EXIT));
    assert_true(analyzer_idle_ends(ANALYZER_IDLE_NO_ASSIGNMENT));
    assert_true(analyzer_idle_ends(ANALYZER_IDLE_EXIT_STALLED));
    assert_true(analyzer_idle_ends(ANALYZER_IDLE_EXIT_UNKNOWN));
    assert_false(analyzer_idle_ends(ANALYZER_IDLE_ACTIVE));
    assert_false(analyzer_idle_ends(ANALYZER_IDLE_WAIT_CHECKPOINT));
    assert_false(analyzer_idle_ends(ANALYZER_IDLE_WAIT_MERGE));
    assert_false(analyzer_idle_ends(ANALYZER_IDLE_WAIT_LAG));
    assert_false(analyzer_idle_ends(ANALYZER_IDLE_WAIT_UNKNOWN));
    assert_false(analyzer_idle_ends(ANALYZER_IDLE_WAIT_COMMIT));
}

/* Random inputs: the run ends only when its conditions hold, and once it ends at some time it
 * still ends later with the same inputs (the bounds only run out). */
static void test_random(void **state)
{
    (void)state;
    unsigned r = testing_seed() | 1;
    for (int i = 0; i < 200000; i++) {
        struct analyzer_idle_inputs in = {
            .idle_ms = 1 + testing_xorshift(&r) % 5000,
            .quiet_ms = testing_xorshift(&r) % 150000,
            .since_start_ms = testing_xorshift(&r) % 150000,
            .assigned_once = testing_xorshift(&r) % 8 != 0,
            .checkpoint_failing = testing_xorshift(&r) % 4 == 0,
            .commit_pending = testing_xorshift(&r) % 4 == 0,
            .buffered = testing_xorshift(&r) % 3 == 0 ? testing_xorshift(&r) % 100 : 0,
            .lag = (int64_t)(testing_xorshift(&r) % 5) - 1,
        };
        enum analyzer_idle v = analyzer_idle_decide(&in);
        int64_t quiet = in.quiet_ms, over = quiet - in.idle_ms;
        if (!in.assigned_once) {
            assert_int_equal(v, in.since_start_ms >= in.idle_ms + ANALYZER_IDLE_NO_ASSIGN_MS
                                    ? ANALYZER_IDLE_NO_ASSIGNMENT
                                    : ANALYZER_IDLE_ACTIVE);
            continue;
        }
        assert_int_not_equal(v, ANALYZER_IDLE_NO_ASSIGNMENT);
        if (analyzer_idle_ends(v)) {
            assert_true(quiet >= in.idle_ms);
            assert_false(in.checkpoint_failing);
            assert_int_equal(in.buffered, 0);
            if (in.lag < 0)
                assert_true(over >= ANALYZER_IDLE_UNKNOWN_MS);
            if (in.lag > 0 || in.commit_pending)
                assert_true(over >= ANALYZER_IDLE_STALL_MS);
            assert_int_equal(v == ANALYZER_IDLE_EXIT, in.lag == 0 && !in.commit_pending);
            struct analyzer_idle_inputs later = in;
            later.quiet_ms += testing_xorshift(&r) % 100000;
            assert_true(analyzer_idle_ends(analyzer_idle_decide(&later)));
        } else if (quiet < in.idle_ms) {
            assert_int_equal(v, ANALYZER_IDLE_ACTIVE);
        } else {
            assert_int_not_equal(v, ANALYZER_IDLE_ACTIVE);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_waited),
        cmocka_unit_test(test_ends),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
