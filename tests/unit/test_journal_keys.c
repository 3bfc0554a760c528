/* Unit tests for the journal's bounded key index: keys since the last checkpoint always held,
 * old keys dropped by generation, replays after a reopen still skipped, overflows counted. */
#include "testing.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyzer/journal.h"

#define KEPT 100
#define T_EV ((time_t)1709287200)

static char root[64];

static int setup(void **state)
{
    (void)state;
    if (testing_mkdtemp(root, sizeof root, "ipamwatch-jkeys") != 0)
        return -1;
    journal_set_keys_kept_for_testing(KEPT);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    journal_set_keys_kept_for_testing(0);
    testing_rm_rf(root);
    return 0;
}

static journal_t *open_journal(const char *name)
{
    char dir[128], err[512];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    journal_t *j = journal_open(dir, false, err, sizeof err);
    if (!j)
        fail_msg("journal_open: %s", err);
    return j;
}

static int append(journal_t *j, int i)
{
    char key[32];
    snprintf(key, sizeof key, "evt-%d", i);
    return journal_append(j, "event", key, T_EV, NULL);
}

/* Appends [from, to) (each new), syncs and, with `mark`, completes a checkpoint. */
static void batch(journal_t *j, int from, int to, bool mark)
{
    for (int i = from; i < to; i++)
        assert_int_equal(append(j, i), 0);
    assert_int_equal(journal_sync(j), 0);
    if (mark)
        journal_checkpointed(j);
}

static void test_keys_bounded_by_checkpoints(void **state)
{
    (void)state;
    journal_t *j = open_journal("a");
    for (int b = 0; b < 100; b++)
        batch(j, b * 10, b * 10 + 10, true);
    struct journal_key_stats ks;
    journal_get_key_stats(j, &ks);
    /* At least half of KEPT, at most KEPT plus one checkpoint's appends. */
    assert_true(ks.keys >= KEPT / 2 && ks.keys <= KEPT + 10);
    assert_int_equal(ks.dropped + ks.keys, 1000);
    assert_int_equal(ks.window_overflows, 0);
    /* The newest keys are still duplicates; the oldest were dropped and journal again (the
     * documented bound: nothing replays that far back). */
    for (int i = 1000 - KEPT / 2; i < 1000; i++)
        assert_int_equal(append(j, i), JOURNAL_DUPLICATE);
    assert_int_equal(append(j, 0), 0);
    assert_int_equal(journal_sync(j), 0);
    journal_close(j);
}

/* Whatever came since the last completed checkpoint is held, however long ago the
 * checkpoint was, as long as no later checkpoint completes. */
static void test_unmarked_keys_kept(void **state)
{
    (void)state;
    journal_t *j = open_journal("b");
    batch(j, 0, 40, true);
    for (int b = 0; b < 30; b++)
        batch(j, 1000 + b * 10, 1000 + b * 10 + 10, false); /* checkpoints failing */
    for (int i = 1000; i < 1300; i++)
        assert_int_equal(append(j, i), JOURNAL_DUPLICATE);
    struct journal_key_stats ks;
    journal_get_key_stats(j, &ks);
    assert_int_equal(ks.keys, 340);
    assert_int_equal(ks.window_overflows, 0);
    /* The checkpoint interval that appended 300 > KEPT / 2 records is counted. */
    journal_checkpointed(j);
    journal_get_key_stats(j, &ks);
    assert_int_equal(ks.window_overflows, 1);
    journal_close(j);
}

/* A crash after the journal sync and before the checkpoint: the reopened journal (which
 * keeps the newest keys by count) still skips the replayed records. */
static void test_replay_after_reopen(void **state)
{
    (void)state;
    journal_t *j = open_journal("c");
    for (int b = 0; b < 50; b++)
        batch(j, b * 10, b * 10 + 10, true);
    batch(j, 500, 540, false); /* synced, checkpoint not completed */
    journal_close(j);
    j = open_journal("c");
    struct journal_key_stats ks;
    journal_get_key_stats(j, &ks);
    assert_true(ks.keys >= KEPT / 2 && ks.keys <= KEPT);
    assert_int_equal(ks.keys + ks.dropped, 540);
    for (int i = 500; i < 540; i++)
        assert_int_equal(append(j, i), JOURNAL_DUPLICATE);
    assert_int_equal(journal_last_seq(j), 540);
    batch(j, 540, 560, true);
    journal_close(j);

    char dir[128], err[512];
    struct journal_verify_result res;
    snprintf(dir, sizeof dir, "%s/c", root);
    assert_int_equal(journal_verify(dir, &res, err, sizeof err), 0);
    assert_int_equal(res.records, 560);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_bounded_by_checkpoints),
        cmocka_unit_test(test_unmarked_keys_kept),
        cmocka_unit_test(test_replay_after_reopen),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
