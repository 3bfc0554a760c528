/* Unit tests for the journal's streamed write path: records reach their segment in chunks
 * as they are appended (HEAD only at a sync), duplicates are found on disk and in the write
 * buffer, a crash in the middle of a stream is recovered and replayed without duplicates,
 * a failed chunk write keeps its records for the next sync, and keys match as JSON text.
 * The writer thread: a failed write surfaces at the sync and is retried, keys of queued
 * chunks are confirmed, journal_close() writes what is queued; without a writer thread the
 * appending thread writes. */
#include "testing.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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
    /* Records reached the file before any sync (the writer thread may be in the middle of a
     * chunk: verify sees its partial line as an unsynced torn tail); the rest is queued. */
    off_t written = file_size(f, SEG);
    assert_true(written > synced + 128 * 1024);
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
    assert_int_equal(last_byte(f), '\n');
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

/* The segment may not grow beyond `max` bytes (a full disk): writes beyond fail with EFBIG
 * instead of raising SIGXFSZ, until fsize_limit_clear(). */
struct fsize_limit {
    struct rlimit old;
    void (*prev)(int);
};

static void fsize_limit_set(struct fsize_limit *l, off_t max)
{
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &l->old), 0);
    l->prev = signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = l->old;
    lim.rlim_cur = (rlim_t)max;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
}

static void fsize_limit_clear(const struct fsize_limit *l)
{
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &l->old), 0);
    signal(SIGXFSZ, l->prev);
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

    struct fsize_limit lim;
    fsize_limit_set(&lim, synced + 1000);         /* the first chunk stops mid-record */
    append_range(j, FIRST + 1, FIRST + BULK + 1); /* every append still succeeds */
    off_t during = file_size(f, SEG);
    int rc = journal_sync(j);
    fsize_limit_clear(&lim);
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

/* A chunk write that fails on the writer thread (the file may not grow) pauses the writes
 * without blocking the appends; each journal_sync() retries and reports the error, nothing
 * is lost or written twice, and once space returns a sync writes every record in order and
 * the writer streams again. */
static void test_writer_failure_surfaces_at_sync(void **state)
{
    struct testing_dir *f = *state;
    journal_t *j = open_journal(f);
    append_range(j, 1, FIRST + 1);
    assert_int_equal(journal_sync(j), 0);
    off_t synced = file_size(f, SEG);

    struct fsize_limit lim;
    fsize_limit_set(&lim, synced + 1000);
    /* Several times the queue's worth: appending would block for good if a failed writer
     * kept the queue bounded. */
    append_range(j, FIRST + 1, FIRST + BULK + 1);
    int rc1 = journal_sync(j);
    append_range(j, FIRST + BULK + 1, FIRST + 2 * BULK + 1);
    int rc2 = journal_sync(j);
    off_t during = file_size(f, SEG);
    fsize_limit_clear(&lim);
    assert_int_equal(rc1, -EFBIG);
    assert_int_equal(rc2, -EFBIG);
    assert_int_equal(during, synced); /* every failed write was cut back */
    assert_int_equal(journal_pending(j), 2 * BULK);
    assert_int_equal(append_one(j, FIRST + BULK + 1), JOURNAL_DUPLICATE);

    assert_int_equal(journal_sync(j), 0);
    assert_int_equal(journal_pending(j), 0);
    off_t recovered = file_size(f, SEG);
    struct journal_verify_result res;
    verify(f, &res);
    assert_int_equal(res.records, FIRST + 2 * BULK);
    assert_int_equal(res.beyond_head, 0);
    /* The writer thread took up streaming again: chunks reach the file before a sync. */
    append_range(j, FIRST + 2 * BULK + 1, FIRST + 3 * BULK + 1);
    assert_true(file_size(f, SEG) > recovered + 128 * 1024);
    journal_close(j);
    verify(f, &res);
    assert_int_equal(res.records, FIRST + 3 * BULK);
    expect_keys_in_order(f, FIRST + 3 * BULK);
}

/* Copies what is written into the FIFO `fifo` to `to` until its writer closes it. Opening
 * the FIFO waits for the writer, so the end is never seen before it came. */
struct pump {
    const char *fifo;
    int to;
    off_t copied; /* -1 when the FIFO could not be opened */
};

static void *pump_main(void *arg)
{
    struct pump *p = arg;
    char buf[65536];
    ssize_t n;
    int from = open(p->fifo, O_RDONLY | O_CLOEXEC);
    if (from < 0) {
        p->copied = -1;
        return NULL;
    }
    while ((n = read(from, buf, sizeof buf)) > 0) {
        if (write(p->to, buf, (size_t)n) != n)
            break;
        p->copied += n;
    }
    close(from);
    return NULL;
}

#define HELD 600 /* records of the held day: two chunks queued, one being filled */

/* Records that are queued but not written are journaled already: while the writer thread
 * waits to open the next day's segment (a FIFO without a reader holds it there), replaying
 * their keys (from the chunk being written, a queued one, the one being filled) and a synced
 * record's key adds nothing. journal_close() then writes the queued chunks (the FIFO is
 * pumped into the real segment) and the journal verifies with every record once. */
static void test_queued_keys_confirmed(void **state)
{
    struct testing_dir *f = *state;
    journal_t *j = open_journal(f);
    append_range(j, 1, FIRST + 1);
    assert_int_equal(journal_sync(j), 0);

    f->now += 86400;
    char next[256], spare[256];
    snprintf(next, sizeof next, "%s/2024-03-02.jsonl", f->dir);
    snprintf(spare, sizeof spare, "%s/../segment", f->dir);
    assert_int_equal(mkfifo(next, 0600), 0);
    append_range(j, FIRST + 1, FIRST + HELD + 1);
    assert_int_equal(journal_pending(j), HELD);
    static const int replay[] = {
        FIRST + 1, FIRST + 2, FIRST + HELD / 3, FIRST + HELD / 2, FIRST + HELD, 1, FIRST};
    for (size_t i = 0; i < sizeof replay / sizeof replay[0]; i++) {
        if (append_one(j, replay[i]) != JOURNAL_DUPLICATE)
            fail_msg("unmanaged-%d journaled twice", replay[i]);
    }
    assert_int_equal(journal_last_seq(j), FIRST + HELD);
    assert_int_equal(append_one(j, FIRST + HELD + 1), 0);

    /* Release the writer: a reader opens the FIFO and copies its bytes into a file that then
     * takes the segment's name. */
    int to = open(spare, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    assert_true(to >= 0);
    struct pump p = {.fifo = next, .to = to};
    pthread_t pt;
    assert_int_equal(pthread_create(&pt, NULL, pump_main, &p), 0);
    journal_close(j); /* closes the writer's end: the pump sees the end */
    assert_int_equal(pthread_join(pt, NULL), 0);
    close(to);
    assert_true(p.copied > 2 * 128 * 1024);
    assert_int_equal(rename(spare, next), 0);

    struct journal_verify_result res;
    verify(f, &res);
    assert_int_equal(res.records, FIRST + HELD + 1);
    assert_int_equal(res.beyond_head, 0);
    assert_int_equal(res.segments, 2);
    expect_keys_in_order(f, FIRST + HELD + 1);
}

/* journal_close() with chunks still queued writes them all and HEAD names the last record;
 * with the writes paused by a failure it neither hangs nor leaves a partial record. */
static void test_close_with_queued_chunks(void **state)
{
    struct testing_dir *f = *state;
    journal_t *j = open_journal(f);
    append_range(j, 1, FIRST + BULK + 1);
    journal_close(j); /* no sync */
    struct journal_verify_result res;
    verify(f, &res);
    assert_int_equal(res.records, FIRST + BULK);
    assert_int_equal(res.beyond_head, 0);
    assert_false(res.torn_tail);
    expect_keys_in_order(f, FIRST + BULK);
    off_t closed = file_size(f, SEG);

    j = open_journal(f);
    struct fsize_limit lim;
    fsize_limit_set(&lim, closed + 1000);
    for (int i = FIRST + BULK + 1; i <= FIRST + 2 * BULK; i++)
        assert_int_equal(append_one(j, i), 0);
    journal_close(j); /* its sync fails: the records are lost, the chain stays whole */
    fsize_limit_clear(&lim);
    assert_int_equal(file_size(f, SEG), closed);
    verify(f, &res);
    assert_int_equal(res.records, FIRST + BULK);
    assert_false(res.torn_tail);
}

/* Threads of this process (entries of /proc/self/task). */
static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

/* When the writer thread cannot be started, the journal formats, chains and writes on the
 * appending thread: full chunks reach the segment as they are appended (no thread is added),
 * keys are found written and buffered, the digest is the chain's, a failed write keeps its
 * records for the next sync, which reports it, and a later sync writes every record once.
 * A journal opened afterwards (the hook off) streams through its own thread again. */
static void test_no_writer_thread(void **state)
{
    struct testing_dir *f = *state;
    journal_set_no_writer_thread_for_testing(true);
    journal_t *j = open_journal(f);
    journal_set_no_writer_thread_for_testing(false);
    int threads = thread_count();
    append_range(j, 1, FIRST + 1);
    assert_int_equal(journal_sync(j), 0);
    off_t synced = file_size(f, SEG);
    append_range(j, FIRST + 1, FIRST + BULK + 1);
    assert_int_equal(thread_count(), threads);
    off_t written = file_size(f, SEG);
    assert_true(written > synced + 128 * 1024);
    assert_int_equal(last_byte(f), '\n'); /* whole chunks, written here */
    assert_int_equal(append_one(j, FIRST + 1), JOURNAL_DUPLICATE);
    assert_int_equal(append_one(j, FIRST + BULK), JOURNAL_DUPLICATE);
    char digest[JOURNAL_DIGEST_HEX + 1];
    journal_last_digest(j, digest);
    assert_int_equal(journal_sync(j), 0);
    struct journal_verify_result res;
    verify(f, &res);
    assert_int_equal(res.records, FIRST + BULK);
    assert_string_equal(res.head_digest, digest);
    synced = file_size(f, SEG);

    struct fsize_limit lim;
    fsize_limit_set(&lim, synced + 1000);
    append_range(j, FIRST + BULK + 1, FIRST + 2 * BULK + 1); /* every append still succeeds */
    off_t during = file_size(f, SEG);
    int rc = journal_sync(j);
    fsize_limit_clear(&lim);
    assert_int_equal(rc, -EFBIG);
    assert_int_equal(during, synced); /* each failed chunk was cut back */
    assert_int_equal(file_size(f, SEG), synced);
    assert_int_equal(journal_pending(j), BULK);
    assert_int_equal(append_one(j, FIRST + BULK + 7), JOURNAL_DUPLICATE);
    assert_int_equal(journal_sync(j), 0);
    assert_int_equal(thread_count(), threads);
    journal_close(j);
    verify(f, &res);
    assert_int_equal(res.records, FIRST + 2 * BULK);
    assert_int_equal(res.beyond_head, 0);
    expect_keys_in_order(f, FIRST + 2 * BULK);

    /* The same appends on a journal with its writer thread: one more thread. */
    char dir2[160], err[512];
    snprintf(dir2, sizeof dir2, "%s/threaded", f->root);
    journal_t *jt = journal_open(dir2, false, err, sizeof err);
    if (!jt)
        fail_msg("journal_open: %s", err);
    journal_set_clock_for_testing(jt, testing_fake_now, &f->now);
    append_range(jt, 1, FIRST + BULK + 1);
    assert_int_equal(thread_count(), threads + 1);
    journal_close(jt);
    assert_int_equal(thread_count(), threads);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_written_as_appended, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_crash_mid_stream, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_failed_chunk_write_kept, setup,
                                        journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_key_text, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_writer_failure_surfaces_at_sync, setup,
                                        journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_queued_keys_confirmed, setup,
                                        journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_close_with_queued_chunks, setup,
                                        journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_no_writer_thread, setup, journal_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
