/* Unit tests for the journal's streamed write path: records reach their segment in chunks
 * as they are appended (HEAD only at a sync), duplicates are found on disk and in the write
 * buffer, a crash in the middle of a stream is recovered and replayed without duplicates,
 * a failed chunk write keeps its records for the next sync, and keys match as JSON text. */
#include "testing.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "analyzer/journal.h"
#include "journal_fixture.h"

#define NOW   ((time_t)1709287200) /* 2024-03-01T10:00:00Z */
#define SEG   "2024-03-01.jsonl"
#define BULK  3000 /* records of ~500 bytes: several write chunks */
#define FIRST 10   /* records synced before the bulk */

static int setup(void **state)
{
    *state = testing_dir_new("ipamwatch-jstream", "journal", NOW);
    return *state ? 0 : -1;
}

/* Appends key unmanaged-i (an unmanaged resource's record) and returns journal_append(). */
static int append_one(journal_t *j, int i)
{
    char key[64], id[32], cidr[32];
    snprintf(key, sizeof key, "unmanaged-%d", i);
    snprintf(id, sizeof id, "eni-%08d", i);
    snprintf(cidr, sizeof cidr, "10.%d.%d.0/24", (i >> 8) & 255, i & 255);
    json_t *d =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "scope_id",
                  "ipam-scope-0123456789abcdef0", "resource_type", "eni", "resource_id", id, "cidr",
                  cidr, "owner", "111122223333", "region", "eu-central-1", "name",
                  "a network interface of a rather long-named application", "status", "unmanaged");
    int rc = journal_append(j, "unmanaged", key, NOW - 3600 + i, d);
    json_decref(d);
    return rc;
}

static void append_range(journal_t *j, int from, int to)
{
    for (int i = from; i < to; i++) {
        int rc = append_one(j, i);
        if (rc != 0)
            fail_msg("append unmanaged-%d: %d", i, rc);
    }
}

static off_t file_size(struct testing_dir *f, const char *name)
{
    char path[256];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static char last_byte(struct testing_dir *f)
{
    char path[256], c = 0;
    snprintf(path, sizeof path, "%s/%s", f->dir, SEG);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, -1, SEEK_END), 0);
    assert_int_equal(fread(&c, 1, 1, fp), 1);
    fclose(fp);
    return c;
}

static void verify(struct testing_dir *f, struct journal_verify_result *res)
{
    char err[512] = "";
    int rc = journal_verify(f->dir, res, err, sizeof err);
    if (rc != 0 || !res->ok)
        fail_msg("verify: rc %d: %s", rc, err);
}

/* Every record in seq order carries key unmanaged-<seq> (no key twice, none missing). */
static void expect_keys_in_order(struct testing_dir *f, int n)
{
    char err[512];
    journal_reader_t *r = journal_reader_new(f->dir, 0, 0, err, sizeof err);
    assert_non_null(r);
    struct journal_record rec;
    int i = 0, rc;
    while ((rc = journal_reader_next(r, &rec, err, sizeof err)) == 1) {
        char want[64];
        snprintf(want, sizeof want, "unmanaged-%d", ++i);
        assert_string_equal(rec.key, want);
        assert_int_equal(rec.seq, (uint64_t)i);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(i, n);
    journal_reader_free(r);
}

static void test_written_as_appended(void **state)
{
    struct testing_dir *f = *state;
    journal_t *j = open_journal(f);
    append_range(j, 1, FIRST + 1);
    assert_int_equal(journal_sync(j), 0);
    off_t synced = file_size(f, SEG);
    assert_true(synced > 0);

    append_range(j, FIRST + 1, FIRST + BULK + 1);
    assert_int_equal(journal_pending(j), BULK);
    /* Whole records reached the file before any sync; the rest waits in the buffer. */
    off_t written = file_size(f, SEG);
    assert_true(written > synced + 128 * 1024);
    assert_int_equal(last_byte(f), '\n');
    struct journal_verify_result res;
    verify(f, &res);
    /* HEAD still names the last synced record; the written ones are beyond it. */
    assert_true(res.beyond_head > 0 && res.beyond_head < BULK);
    assert_int_equal(res.last_seq - res.beyond_head, FIRST);

    /* Keys are found in the file (unsynced) and in the buffer. */
    assert_int_equal(append_one(j, FIRST + 1), JOURNAL_DUPLICATE);
    assert_int_equal(append_one(j, FIRST + BULK), JOURNAL_DUPLICATE);
    assert_int_equal(append_one(j, 1), JOURNAL_DUPLICATE);
    assert_int_equal(journal_last_seq(j), FIRST + BULK);

    assert_int_equal(journal_sync(j), 0);
    assert_int_equal(journal_pending(j), 0);
    assert_true(file_size(f, SEG) > written);
    verify(f, &res);
    assert_int_equal(res.records, FIRST + BULK);
    assert_int_equal(res.beyond_head, 0);
    journal_close(j);
    expect_keys_in_order(f, FIRST + BULK);
}

/* A process killed in the middle of a stream (some chunks written, the rest in memory, a
 * chunk cut short): the next open keeps the complete records, cuts the partial one, and a
 * replay of every key journals exactly the missing ones, even when the key index holds far
 * fewer keys than were written since the last sync. */
static void test_crash_mid_stream(void **state)
{
    struct testing_dir *f = *state;
    journal_set_keys_kept_for_testing(256);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        journal_t *j = open_journal(f);
        append_range(j, 1, FIRST + 1);
        if (journal_sync(j) != 0)
            _exit(1);
        append_range(j, FIRST + 1, FIRST + BULK + 1);
        _exit(0); /* no sync, no close: as if killed */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The kill interrupted a chunk's write(2) half-way. */
    char path[256];
    snprintf(path, sizeof path, "%s/%s", f->dir, SEG);
    FILE *fp = fopen(path, "ab");
    assert_non_null(fp);
    fputs("{\"seq\":99999,\"ts\":\"2024-03-01T10:00:00Z\",\"event_ti", fp);
    fclose(fp);
    struct journal_verify_result res;
    char err[512];
    assert_int_equal(journal_verify(f->dir, &res, err, sizeof err), 0);
    assert_true(res.torn_tail);
    assert_int_equal(res.last_seq - res.beyond_head, FIRST);
    uint64_t survived = res.last_seq;
    assert_true(survived > FIRST + 256 && survived < FIRST + BULK);

    journal_t *j = open_journal(f);
    assert_int_equal(journal_last_seq(j), survived);
    assert_int_equal(last_byte(f), '\n');
    /* The replay: every record since the last sync again, in order. */
    int dup = 0, added = 0;
    for (int i = 1; i <= FIRST + BULK; i++) {
        int rc = append_one(j, i);
        assert_true(rc == 0 || rc == JOURNAL_DUPLICATE);
        if (rc == JOURNAL_DUPLICATE)
            dup++;
        else
            added++;
        /* What survived is journaled once; the rest is appended in order after it. */
        assert_int_equal(rc == JOURNAL_DUPLICATE, (uint64_t)i <= survived);
    }
    assert_int_equal(added, FIRST + BULK - (int)survived);
    assert_int_equal(journal_sync(j), 0);
    journal_close(j);
    verify(f, &res);
    assert_int_equal(res.records, FIRST + BULK);
    assert_false(res.torn_tail);
    expect_keys_in_order(f, FIRST + BULK);
    printf("# %d records survived the kill, %d replayed\n", dup, added);
}

/* A chunk write that fails (the file may not grow: a full disk) does not fail the append: the
 * records stay buffered, the file is cut back to whole records, the sync reports the error,
 * and a later sync writes everything. */
static void test_failed_chunk_write_kept(void **state)
{
    struct testing_dir *f = *state;
    journal_t *j = open_journal(f);
    append_range(j, 1, FIRST + 1);
    assert_int_equal(journal_sync(j), 0);
    off_t synced = file_size(f, SEG);

    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = (rlim_t)synced + 1000; /* the first chunk stops mid-record */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    append_range(j, FIRST + 1, FIRST + BULK + 1); /* every append still succeeds */
    off_t during = file_size(f, SEG);
    int rc = journal_sync(j);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, -EFBIG);
    assert_int_equal(during, synced); /* the partial chunk was cut back */
    assert_int_equal(file_size(f, SEG), synced);
    assert_int_equal(journal_pending(j), BULK);
    /* Keys of records held in memory only are still duplicates. */
    assert_int_equal(append_one(j, FIRST + 7), JOURNAL_DUPLICATE);

    assert_int_equal(journal_sync(j), 0);
    assert_int_equal(journal_pending(j), 0);
    journal_close(j);
    struct journal_verify_result res;
    verify(f, &res);
    assert_int_equal(res.records, FIRST + BULK);
    expect_keys_in_order(f, FIRST + BULK);
}

/* Keys are matched as their JSON text: plain keys (quoted without jansson) and keys that
 * need escaping are duplicates of themselves in the buffer, on disk and after a reopen, and
 * read back unchanged. */
static void test_key_text(void **state)
{
    struct testing_dir *f = *state;
    static const char *const keys[] = {
        "ev-0123",
        "overlap_opened:corp:a/10.0.0.0/8|b/10.1.0.0/16:2024-03-01T00:00:00.000Z",
        "with \"quotes\"",
        "back\\slash",
        "tab\there",
        "\xc3\xbcnicode",
        "del\x7f",
        "~{}[]"};
    enum { NKEYS = sizeof keys / sizeof keys[0] };
    journal_t *j = open_journal(f);
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < NKEYS; i++)
            assert_int_equal(journal_append(j, "event", keys[i], NOW, NULL),
                             round ? JOURNAL_DUPLICATE : 0);
        if (round == 1) {
            assert_int_equal(journal_sync(j), 0);
            journal_close(j);
            j = open_journal(f);
        }
    }
    journal_close(j);
    char err[512];
    journal_reader_t *r = journal_reader_new(f->dir, 0, 0, err, sizeof err);
    assert_non_null(r);
    struct journal_record rec;
    for (size_t i = 0; i < NKEYS; i++) {
        assert_int_equal(journal_reader_next(r, &rec, err, sizeof err), 1);
        assert_string_equal(rec.key, keys[i]);
    }
    assert_int_equal(journal_reader_next(r, &rec, err, sizeof err), 0);
    journal_reader_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_written_as_appended, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_crash_mid_stream, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_failed_chunk_write_kept, setup,
                                        journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_key_text, setup, journal_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
