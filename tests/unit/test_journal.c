/* Unit tests for journal: chain continuity, idempotent replay, daily segments, tamper
 * detection with the right file/line/seq, torn-tail recovery, permissions, reading. */
#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "analyzer/journal.h"
#include "journal_fixture.h"

#define DAY1  ((time_t)1709287200) /* 2024-03-01T10:00:00Z */
#define DAY   ((time_t)86400)
#define SEG_A "2024-03-01.jsonl"
#define SEG_B "2024-03-02.jsonl"
#define SEG_C "2024-03-03.jsonl"

static int setup(void **state)
{
    *state = testing_dir_new("ipamwatch-journal", "journal", DAY1);
    return *state ? 0 : -1;
}

static json_t *sample_data(int i)
{
    return json_pack("{s:s, s:s, s:i, s:{s:s, s:b}}", "cidr", "10.0.0.0/16", "account",
                     "111122223333", "i", i, "pool", "id", "ipam-pool-0abc", "ok", i % 2);
}

/* Appends records i = from..to-1 with key evt-i; asserts each was added. */
static void append_range(journal_t *j, int from, int to)
{
    for (int i = from; i < to; i++) {
        char key[32];
        snprintf(key, sizeof key, "evt-%d", i);
        json_t *d = sample_data(i);
        int rc = journal_append(j, i % 3 ? "allocation" : "release", key,
                                (time_t)1700000000 + i * 3600, d);
        json_decref(d);
        if (rc != 0)
            fail_msg("append %s: %d", key, rc);
    }
}

/* The standard journal: 15 records, 5 per day over three days (segments A, B, C). */
static void build_std(struct testing_dir *f)
{
    journal_t *j = open_journal(f);
    for (int d = 0; d < 3; d++) {
        f->now = DAY1 + d * DAY;
        append_range(j, 1 + d * 5, 6 + d * 5);
        assert_int_equal(journal_sync(j), 0);
    }
    journal_close(j);
}

static char *path_of(struct testing_dir *f, const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", f->dir, name);
    return buf;
}

static void spit(const char *path, const char *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    fclose(fp);
}

struct lines {
    char *v[64];
    size_t n;
};

static void lines_load(const char *path, struct lines *l)
{
    size_t len;
    char *buf = testing_read_file(path, &len), *save = NULL;
    l->n = 0;
    for (char *t = strtok_r(buf, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
        l->v[l->n++] = strdup(t);
    free(buf);
}

static void lines_save(const char *path, struct lines *l)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    for (size_t i = 0; i < l->n; i++)
        fprintf(fp, "%s\n", l->v[i]);
    fclose(fp);
}

static void lines_free(struct lines *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    l->n = 0;
}

static void sha256_hex(const char *s, size_t len, char *hex)
{
    unsigned char md[32];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(s, len, md, &n, EVP_sha256(), NULL), 1);
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static void expect_ok(struct testing_dir *f, uint64_t records)
{
    struct journal_verify_result res;
    char err[512] = "";
    int rc = journal_verify(f->dir, &res, err, sizeof err);
    if (rc != 0 || !res.ok)
        fail_msg("verify: rc %d: %s", rc, err);
    assert_int_equal(res.records, records);
    assert_int_equal(res.last_seq, records);
}

static void expect_fault(struct testing_dir *f, enum journal_fault fault, const char *file,
                         uint64_t line, uint64_t seq)
{
    struct journal_verify_result res;
    char err[512] = "";
    int rc = journal_verify(f->dir, &res, err, sizeof err);
    printf("# %s\n", err);
    assert_int_equal(rc, -EBADMSG);
    assert_false(res.ok);
    if (res.fault != fault || strcmp(res.file, file) != 0 || res.line != line || res.seq != seq)
        fail_msg("got %s at %s:%llu seq %llu (%s); want %s at %s:%llu seq %llu",
                 journal_fault_name(res.fault), res.file, (unsigned long long)res.line,
                 (unsigned long long)res.seq, res.what, journal_fault_name(fault), file,
                 (unsigned long long)line, (unsigned long long)seq);
}

/* Replaces the first occurrence of `from` after `after` in line `idx` of segment `seg`. */
static void edit_line(struct testing_dir *f, const char *seg, size_t idx, const char *after,
                      const char *from, const char *to)
{
    struct lines l;
    lines_load(path_of(f, seg), &l);
    assert_true(idx < l.n);
    char *base = strstr(l.v[idx], after);
    assert_non_null(base);
    char *p = strstr(base, from);
    assert_non_null(p);
    assert_int_equal(strlen(from), strlen(to));
    memcpy(p, to, strlen(to));
    lines_save(path_of(f, seg), &l);
    lines_free(&l);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_append_sync_reopen(void **state)
{
    struct testing_dir *f = *state;
    char d1[JOURNAL_DIGEST_HEX + 1], d2[JOURNAL_DIGEST_HEX + 1];
    journal_t *j = open_journal(f);
    assert_int_equal(journal_last_seq(j), 0);
    append_range(j, 1, 11);
    assert_int_equal(journal_pending(j), 10);
    assert_int_equal(journal_sync(j), 0);
    assert_int_equal(journal_pending(j), 0);
    journal_last_digest(j, d1);
    journal_close(j);

    struct journal_verify_result res;
    char err[256];
    assert_int_equal(journal_verify(f->dir, &res, err, sizeof err), 0);
    assert_int_equal(res.records, 10);
    assert_string_equal(res.head_digest, d1);

    /* The digest is SHA-256 of the last line as written. */
    struct lines l;
    char hex[65];
    lines_load(path_of(f, SEG_A), &l);
    assert_int_equal(l.n, 10);
    sha256_hex(l.v[9], strlen(l.v[9]), hex);
    assert_string_equal(hex, d1);
    assert_non_null(strstr(l.v[0], "\"prev\":\"0000000000000000000000000000000000000000000000"
                                   "000000000000000000\""));
    lines_free(&l);

    j = open_journal(f);
    assert_int_equal(journal_last_seq(j), 10);
    journal_last_digest(j, d2);
    assert_string_equal(d1, d2);
    append_range(j, 11, 16);
    journal_close(j); /* close writes what is pending */
    expect_ok(f, 15);

    char rerr[256];
    journal_reader_t *r = journal_reader_new(f->dir, 0, 0, rerr, sizeof rerr);
    assert_non_null(r);
    struct journal_record rec;
    uint64_t want = 1;
    while (journal_reader_next(r, &rec, rerr, sizeof rerr) == 1) {
        assert_int_equal(rec.seq, want);
        if (rec.seq == 11)
            assert_string_equal(rec.prev, d1);
        want++;
    }
    assert_int_equal(want, 16);
    journal_reader_free(r);
}

static void test_replay_skips_keys(void **state)
{
    struct testing_dir *f = *state;
    journal_t *j = open_journal(f);
    append_range(j, 1, 11);
    json_t *d = sample_data(1);
    /* A duplicate inside the same unsynced batch. */
    assert_int_equal(journal_append(j, "allocation", "evt-3", 1700000000, d), JOURNAL_DUPLICATE);
    assert_int_equal(journal_sync(j), 0);
    journal_close(j);

    /* Replay after a restart: the first ten are skipped, the rest journaled once. */
    j = open_journal(f);
    int dup = 0, added = 0;
    for (int i = 1; i <= 15; i++) {
        char key[32];
        snprintf(key, sizeof key, "evt-%d", i);
        int rc = journal_append(j, "allocation", key, 1700000000, d);
        if (rc == JOURNAL_DUPLICATE)
            dup++;
        else if (rc == 0)
            added++;
        else
            fail_msg("append %s: %d", key, rc);
    }
    assert_int_equal(dup, 10);
    assert_int_equal(added, 5);
    assert_int_equal(journal_last_seq(j), 15);
    assert_int_equal(journal_sync(j), 0);
    /* A key that is only a prefix of a journaled one is a different key. */
    assert_int_equal(journal_append(j, "allocation", "evt-1\"", 1700000000, d), 0);
    assert_int_equal(journal_append(j, "allocation", "evt-1\"", 1700000000, d), JOURNAL_DUPLICATE);
    journal_close(j);
    json_decref(d);
    expect_ok(f, 16);

    char err[256];
    journal_reader_t *r = journal_reader_new(f->dir, 0, 0, err, sizeof err);
    struct journal_record rec;
    int seen[16] = {0};
    while (journal_reader_next(r, &rec, err, sizeof err) == 1) {
        int i;
        if (sscanf(rec.key, "evt-%d", &i) == 1 && strchr(rec.key, '"') == NULL)
            seen[i]++;
    }
    journal_reader_free(r);
    for (int i = 1; i <= 15; i++)
        assert_int_equal(seen[i], 1);
}

static uint64_t constant_hash(const char *key, size_t len)
{
    (void)key;
    (void)len;
    return 42;
}

static void test_key_hash_collisions(void **state)
{
    struct testing_dir *f = *state;
    /* Every key collides: only the confirmation by the journaled key tells them apart, both
     * for pending records and for records on disk after a reopen. */
    journal_set_key_hash_for_testing(constant_hash);
    journal_t *j = open_journal(f);
    append_range(j, 1, 41);
    json_t *d = sample_data(0);
    assert_int_equal(journal_append(j, "release", "evt-7", 1700000000, d), JOURNAL_DUPLICATE);
    assert_int_equal(journal_sync(j), 0);
    append_range(j, 41, 51);
    assert_int_equal(journal_append(j, "release", "evt-45", 1700000000, d), JOURNAL_DUPLICATE);
    assert_int_equal(journal_append(j, "release", "evt-12", 1700000000, d), JOURNAL_DUPLICATE);
    journal_close(j);

    j = open_journal(f);
    for (int i = 1; i <= 50; i += 7) {
        char key[32];
        snprintf(key, sizeof key, "evt-%d", i);
        assert_int_equal(journal_append(j, "release", key, 1700000000, d), JOURNAL_DUPLICATE);
    }
    assert_int_equal(journal_append(j, "release", "evt-51", 1700000000, d), 0);
    assert_int_equal(journal_append(j, "release", "evt-500", 1700000000, d), 0);
    journal_close(j);
    json_decref(d);
    expect_ok(f, 52);
}

static size_t count_lines(struct testing_dir *f, const char *seg)
{
    struct lines l;
    lines_load(path_of(f, seg), &l);
    size_t n = l.n;
    lines_free(&l);
    return n;
}

static void test_segments_per_day(void **state)
{
    struct testing_dir *f = *state;
    journal_t *j = open_journal(f);
    f->now = 1709337590; /* 2024-03-01T23:59:50Z */
    append_range(j, 1, 4);
    f->now = 1709337605; /* 2024-03-02T00:00:05Z: one sync spans the day boundary */
    append_range(j, 4, 5);
    json_t *d = sample_data(0);
    /* A backfilled event from 2019 is written today, into today's segment. */
    assert_int_equal(journal_append(j, "allocation", "backfill-1", 1546300800, d), 0);
    assert_int_equal(journal_sync(j), 0);
    assert_int_equal(count_lines(f, "2024-03-01.jsonl"), 3);
    assert_int_equal(count_lines(f, "2024-03-02.jsonl"), 2);
    struct stat st;
    assert_int_equal(stat(path_of(f, "2019-01-01.jsonl"), &st), -1);

    /* The clock stepping back a day never reopens an older segment. */
    size_t len_before, len_after;
    char *before = testing_read_file(path_of(f, "2024-03-01.jsonl"), &len_before);
    f->now = 1709294400; /* 2024-03-01T12:00:00Z */
    assert_int_equal(journal_append(j, "allocation", "late", 1709294400, d), 0);
    assert_int_equal(journal_sync(j), 0);
    char *after = testing_read_file(path_of(f, "2024-03-01.jsonl"), &len_after);
    assert_int_equal(len_before, len_after);
    assert_memory_equal(before, after, len_before);
    free(before);
    free(after);
    assert_int_equal(count_lines(f, "2024-03-02.jsonl"), 3);
    journal_close(j);

    /* A reopen on a later day starts a new segment; the chain goes on across it. */
    f->now = 1709640000; /* 2024-03-05T12:00:00Z */
    j = open_journal(f);
    assert_int_equal(journal_append(j, "pass", "pass-1", 1709640000, d), 0);
    journal_close(j);
    json_decref(d);
    assert_int_equal(count_lines(f, "2024-03-05.jsonl"), 1);
    expect_ok(f, 7);

    char err[256];
    journal_reader_t *r = journal_reader_new(f->dir, 0, 0, err, sizeof err);
    struct journal_record rec;
    while (journal_reader_next(r, &rec, err, sizeof err) == 1) {
        if (strcmp(rec.key, "backfill-1") == 0) {
            assert_string_equal(rec.segment, "2024-03-02.jsonl");
            assert_int_equal(rec.event_time, 1546300800);
            assert_int_equal(rec.ts, 1709337605);
            assert_string_equal(json_string_value(json_object_get(rec.record, "event_time")),
                                "2019-01-01T00:00:00Z");
            assert_string_equal(json_string_value(json_object_get(rec.record, "ts")),
                                "2024-03-02T00:00:05Z");
        }
    }
    journal_reader_free(r);
}

static void test_tamper_edit_data(void **state)
{
    struct testing_dir *f = *state;
    build_std(f);
    expect_ok(f, 15);
    /* One character of the data of seq 7 (segment B, line 2). */
    edit_line(f, SEG_B, 1, "\"data\":", "111122223333", "111122223334");
    expect_fault(f, JOURNAL_FAULT_EDITED, SEG_B, 2, 7);
    edit_line(f, SEG_B, 1, "\"data\":", "111122223334", "111122223333");
    expect_ok(f, 15);

    /* The first record, the last of a segment, and the last of all (checked via HEAD). */
    edit_line(f, SEG_A, 0, "\"data\":", "\"i\":1", "\"i\":9");
    expect_fault(f, JOURNAL_FAULT_EDITED, SEG_A, 1, 1);
    edit_line(f, SEG_A, 0, "\"data\":", "\"i\":9", "\"i\":1");
    edit_line(f, SEG_A, 4, "\"data\":", "ipam-pool-0abc", "ipam-pool-0abd");
    expect_fault(f, JOURNAL_FAULT_EDITED, SEG_A, 5, 5);
    edit_line(f, SEG_A, 4, "\"data\":", "ipam-pool-0abd", "ipam-pool-0abc");
    edit_line(f, SEG_C, 4, "\"kind\":", "release", "RELEASE");
    expect_fault(f, JOURNAL_FAULT_EDITED, SEG_C, 5, 15);
    edit_line(f, SEG_C, 4, "\"kind\":", "RELEASE", "release");
    expect_ok(f, 15);
}

static void test_tamper_edit_prev(void **state)
{
    struct testing_dir *f = *state;
    build_std(f);
    struct lines l;
    lines_load(path_of(f, SEG_C), &l);
    char *p = strstr(l.v[1], "\"prev\":\"") + 8;
    *p = *p == 'a' ? 'b' : 'a';
    lines_save(path_of(f, SEG_C), &l);
    lines_free(&l);
    expect_fault(f, JOURNAL_FAULT_EDITED, SEG_C, 2, 12);
}

static void test_tamper_delete_line(void **state)
{
    struct testing_dir *f = *state;
    build_std(f);
    struct lines l;
    lines_load(path_of(f, SEG_B), &l);
    free(l.v[2]); /* seq 8 */
    memmove(&l.v[2], &l.v[3], (l.n - 3) * sizeof l.v[0]);
    l.n--;
    lines_save(path_of(f, SEG_B), &l);
    lines_free(&l);
    expect_fault(f, JOURNAL_FAULT_MISSING, SEG_B, 3, 8);
}

static void test_tamper_insert_line(void **state)
{
    struct testing_dir *f = *state;
    build_std(f);
    struct lines a, b;
    size_t alen;
    char *orig_b = testing_read_file(path_of(f, SEG_B), &alen);

    /* A copy of seq 3 slipped in after seq 9 (B line 5). */
    lines_load(path_of(f, SEG_A), &a);
    lines_load(path_of(f, SEG_B), &b);
    memmove(&b.v[5], &b.v[4], sizeof b.v[0]);
    b.v[4] = strdup(a.v[2]);
    b.n++;
    lines_save(path_of(f, SEG_B), &b);
    expect_fault(f, JOURNAL_FAULT_INSERTED, SEG_B, 5, 3);
    lines_free(&b);
    spit(path_of(f, SEG_B), orig_b, alen);

    /* A forged seq 8 that links correctly to seq 7, put before the genuine seq 8. */
    lines_load(path_of(f, SEG_B), &b);
    char prev[65];
    sha256_hex(b.v[1], strlen(b.v[1]), prev);
    char forged[512];
    snprintf(forged, sizeof forged,
             "{\"seq\":8,\"ts\":\"2024-03-02T10:00:00Z\",\"event_time\":\"2023-11-15T06:13:20Z\","
             "\"kind\":\"release\",\"key\":\"forged\",\"prev\":\"%s\",\"data\":{}}",
             prev);
    memmove(&b.v[3], &b.v[2], (b.n - 2) * sizeof b.v[0]);
    b.v[2] = strdup(forged);
    b.n++;
    lines_save(path_of(f, SEG_B), &b);
    expect_fault(f, JOURNAL_FAULT_INSERTED, SEG_B, 3, 8);
    lines_free(&b);
    lines_free(&a);
    free(orig_b);
}

static void test_tamper_reorder(void **state)
{
    struct testing_dir *f = *state;
    build_std(f);
    struct lines l;
    lines_load(path_of(f, SEG_B), &l);
    char *t = l.v[1]; /* seq 7 and seq 8 swap places */
    l.v[1] = l.v[2];
    l.v[2] = t;
    lines_save(path_of(f, SEG_B), &l);
    lines_free(&l);
    expect_fault(f, JOURNAL_FAULT_REORDERED, SEG_B, 2, 8);
}

static void expect_open_refused(struct testing_dir *f, const char *needle)
{
    char err[512] = "";
    journal_t *j = journal_open(f->dir, false, err, sizeof err);
    printf("# %s\n", err);
    assert_null(j);
    assert_non_null(strstr(err, needle));
}

static void test_tamper_truncate_tail(void **state)
{
    struct testing_dir *f = *state;
    build_std(f);
    size_t len;
    char *orig = testing_read_file(path_of(f, SEG_C), &len);
    struct lines l;
    lines_load(path_of(f, SEG_C), &l);
    size_t last = strlen(l.v[4]) + 1;
    lines_free(&l);

    /* The whole last line removed. */
    spit(path_of(f, SEG_C), orig, len - last);
    expect_fault(f, JOURNAL_FAULT_TRUNCATED, SEG_C, 5, 15);
    /* A restart must not adopt the shorter chain (that would rewrite HEAD and hide it). */
    expect_open_refused(f, "tail");
    expect_fault(f, JOURNAL_FAULT_TRUNCATED, SEG_C, 5, 15);

    /* Cut in the middle of the last line. */
    spit(path_of(f, SEG_C), orig, len - last / 2);
    expect_fault(f, JOURNAL_FAULT_TRUNCATED, SEG_C, 5, 15);
    expect_open_refused(f, "tail");

    spit(path_of(f, SEG_C), orig, len);
    expect_ok(f, 15);
    free(orig);
}

static void test_tamper_delete_segment(void **state)
{
    struct testing_dir *f = *state;
    build_std(f);
    const char *segs[] = {SEG_A, SEG_B, SEG_C};
    char *saved[3];
    size_t lens[3];
    for (int i = 0; i < 3; i++)
        saved[i] = testing_read_file(path_of(f, segs[i]), &lens[i]);

    assert_int_equal(unlink(path_of(f, SEG_B)), 0);
    expect_fault(f, JOURNAL_FAULT_MISSING, SEG_C, 1, 6);
    spit(path_of(f, SEG_B), saved[1], lens[1]);

    assert_int_equal(unlink(path_of(f, SEG_A)), 0);
    expect_fault(f, JOURNAL_FAULT_MISSING, SEG_B, 1, 1);
    spit(path_of(f, SEG_A), saved[0], lens[0]);

    assert_int_equal(unlink(path_of(f, SEG_C)), 0);
    expect_fault(f, JOURNAL_FAULT_TRUNCATED, SEG_B, 6, 11);
    expect_open_refused(f, "tail");
    spit(path_of(f, SEG_C), saved[2], lens[2]);

    expect_ok(f, 15);
    for (int i = 0; i < 3; i++)
        free(saved[i]);
}

static void test_tamper_edit_head(void **state)
{
    struct testing_dir *f = *state;
    build_std(f);
    size_t len;
    char *orig = testing_read_file(path_of(f, "HEAD"), &len);
    char *copy = strdup(orig);

    /* One digit of the digest. */
    char *p = strchr(copy, ' ') + 5;
    *p = *p == '0' ? '1' : '0';
    spit(path_of(f, "HEAD"), copy, len);
    expect_fault(f, JOURNAL_FAULT_HEAD, "HEAD", 0, 0);
    expect_open_refused(f, "HEAD");

    /* The seq. */
    memcpy(copy, orig, len);
    copy[0] = '9';
    spit(path_of(f, "HEAD"), copy, len);
    expect_fault(f, JOURNAL_FAULT_HEAD, "HEAD", 0, 0);

    /* A HEAD rewritten consistently to claim one record more than there is. */
    char hex[65], body[128], check[65], head[256];
    memcpy(hex, strchr(orig, ' ') + 1, 64);
    hex[64] = '\0';
    snprintf(body, sizeof body, "16 %s", hex);
    sha256_hex(body, strlen(body), check);
    snprintf(head, sizeof head, "%s %.16s\n", body, check);
    spit(path_of(f, "HEAD"), head, strlen(head));
    expect_fault(f, JOURNAL_FAULT_TRUNCATED, SEG_C, 6, 16);

    /* Removed. */
    assert_int_equal(unlink(path_of(f, "HEAD")), 0);
    expect_fault(f, JOURNAL_FAULT_HEAD, "HEAD", 0, 15);
    expect_open_refused(f, "HEAD");

    spit(path_of(f, "HEAD"), orig, len);
    expect_ok(f, 15);
    free(orig);
    free(copy);
}

static void test_torn_tail_recovered(void **state)
{
    struct testing_dir *f = *state;
    journal_t *j = open_journal(f);
    append_range(j, 1, 6);
    assert_int_equal(journal_sync(j), 0);
    journal_close(j);
    size_t len;
    char *orig = testing_read_file(path_of(f, SEG_A), &len);

    /* A crash in the middle of writing seq 6: a partial line past HEAD. */
    FILE *fp = fopen(path_of(f, SEG_A), "ab");
    fputs("{\"seq\":6,\"ts\":\"2024-03-01T10:00:00Z\",\"event_ti", fp);
    fclose(fp);
    struct journal_verify_result res;
    char err[256];
    assert_int_equal(journal_verify(f->dir, &res, err, sizeof err), 0);
    assert_true(res.torn_tail);
    assert_int_equal(res.records, 5);

    j = open_journal(f);
    size_t now_len;
    char *now = testing_read_file(path_of(f, SEG_A), &now_len);
    assert_int_equal(now_len, len);
    assert_memory_equal(now, orig, len);
    free(now);
    assert_int_equal(journal_last_seq(j), 5);
    append_range(j, 6, 8);
    journal_close(j);
    expect_ok(f, 7);
    assert_int_equal(journal_verify(f->dir, &res, err, sizeof err), 0);
    assert_false(res.torn_tail);

    /* A crash after the records reached the segment but before HEAD was replaced: the
     * records beyond HEAD are valid, and HEAD catches up at the next open. */
    char *head = testing_read_file(path_of(f, "HEAD"), &len);
    j = open_journal(f);
    append_range(j, 8, 10);
    journal_close(j);
    spit(path_of(f, "HEAD"), head, len);
    assert_int_equal(journal_verify(f->dir, &res, err, sizeof err), 0);
    assert_int_equal(res.beyond_head, 2);
    j = open_journal(f);
    assert_int_equal(journal_last_seq(j), 9);
    journal_close(j);
    assert_int_equal(journal_verify(f->dir, &res, err, sizeof err), 0);
    assert_int_equal(res.beyond_head, 0);
    assert_int_equal(res.records, 9);
    free(head);
    free(orig);
}

static void test_failed_write_is_retried(void **state)
{
    struct testing_dir *f = *state;
    journal_t *j = open_journal(f);
    append_range(j, 1, 4);
    assert_int_equal(journal_sync(j), 0);
    size_t len;
    char *orig = testing_read_file(path_of(f, SEG_A), &len);

    /* The file may grow by 100 bytes only: the write stops mid-record. */
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    lim = old;
    lim.rlim_cur = len + 100;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    append_range(j, 4, 8);
    int rc = journal_sync(j);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, -EFBIG);
    assert_int_equal(journal_pending(j), 4);
    size_t now_len;
    char *now = testing_read_file(path_of(f, SEG_A), &now_len);
    assert_int_equal(now_len, len); /* the partial record was cut back */
    free(now);
    free(orig);

    assert_int_equal(journal_sync(j), 0);
    assert_int_equal(journal_pending(j), 0);
    journal_close(j);
    expect_ok(f, 7);
}

static void test_permissions(void **state)
{
    struct testing_dir *f = *state;
    mode_t old = umask(0); /* modes must not depend on the caller's umask */
    snprintf(f->dir, sizeof f->dir, "%s/a/b/journal", f->root);
    journal_t *j = open_journal(f);
    append_range(j, 1, 3);
    assert_int_equal(journal_sync(j), 0);
    journal_close(j);
    umask(old);
    struct stat st;
    assert_int_equal(stat(f->dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(stat(path_of(f, "HEAD"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(stat(path_of(f, SEG_A), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_fsync_mode(void **state)
{
    struct testing_dir *f = *state;
    char err[256];
    journal_t *j = journal_open(f->dir, true, err, sizeof err);
    assert_non_null(j);
    journal_set_clock_for_testing(j, testing_fake_now, &f->now);
    append_range(j, 1, 4);
    assert_int_equal(journal_sync(j), 0);
    f->now += DAY;
    append_range(j, 4, 6);
    assert_int_equal(journal_sync(j), 0);
    assert_int_equal(journal_sync(j), 0); /* nothing pending: a no-op */
    journal_close(j);
    assert_int_equal(count_lines(f, SEG_A), 3);
    assert_int_equal(count_lines(f, SEG_B), 2);
    expect_ok(f, 5);
}

static void test_lock_and_bad_arguments(void **state)
{
    struct testing_dir *f = *state;
    journal_t *j = open_journal(f);
    char err[256] = "";
    assert_null(journal_open(f->dir, false, err, sizeof err));
    assert_non_null(strstr(err, "in use"));

    json_t *arr = json_array(), *d = sample_data(0);
    assert_int_equal(journal_append(j, "allocation", "k", 1700000000, arr), -EINVAL);
    assert_int_equal(journal_append(j, "allocation", "", 1700000000, d), -EINVAL);
    assert_int_equal(journal_append(j, "", "k", 1700000000, d), -EINVAL);
    assert_int_equal(journal_append(j, NULL, "k", 1700000000, d), -EINVAL);
    assert_int_equal(journal_append(j, "allocation", "bad\xff", 1700000000, d), -EINVAL);
    assert_int_equal(journal_append(j, "allocation", "k", (time_t)253402300800LL, d), -EINVAL);
    assert_int_equal(journal_last_seq(j), 0);
    assert_int_equal(journal_append(j, "allocation", "k", 1700000000, NULL), 0);
    journal_close(j);
    json_decref(arr);
    json_decref(d);
    expect_ok(f, 1);
    /* The lock is released at close. */
    j = open_journal(f);
    journal_close(j);
}

static void test_reader_range(void **state)
{
    struct testing_dir *f = *state;
    const time_t base = 1700000000;
    journal_t *j = open_journal(f);
    for (int i = 0; i < 20; i++) {
        char key[32];
        snprintf(key, sizeof key, "r-%d", i);
        json_t *d = sample_data(i);
        f->now = DAY1 + i * 21600; /* four records a day: six segments */
        assert_int_equal(journal_append(j, "overlap_opened", key, base + i * 100, d), 0);
        json_decref(d);
        if (i % 3 == 0)
            assert_int_equal(journal_sync(j), 0);
    }
    journal_close(j);

    char err[256];
    journal_reader_t *r = journal_reader_new(f->dir, base + 500, base + 1000, err, sizeof err);
    assert_non_null(r);
    struct journal_record rec;
    int i = 5;
    while (journal_reader_next(r, &rec, err, sizeof err) == 1) {
        char key[32];
        snprintf(key, sizeof key, "r-%d", i);
        assert_string_equal(rec.key, key);
        assert_string_equal(rec.kind, "overlap_opened");
        assert_int_equal(rec.seq, (uint64_t)i + 1);
        assert_int_equal(rec.event_time, base + i * 100);
        json_t *want = sample_data(i);
        assert_true(json_equal(rec.data, want));
        json_decref(want);
        i++;
    }
    assert_int_equal(i, 10);
    journal_reader_free(r);

    struct journal_verify_result res;
    assert_int_equal(journal_verify_range(f->dir, base + 500, base + 1000, &res, err, sizeof err),
                     0);
    assert_int_equal(res.records, 20);
    assert_int_equal(res.segments, 6);
    assert_int_equal(res.range_records, 5);
    assert_int_equal(res.range_first_seq, 6);
    assert_int_equal(res.range_last_seq, 10);
}

/* Randomized invariant: changing any one byte of any segment is detected, and the fault
 * names the segment and line that holds the changed byte. */
static void test_random_byte_edits(void **state)
{
    struct testing_dir *f = *state;
    unsigned seed = testing_seed();
    srand(seed);
    build_std(f);
    const char *segs[] = {SEG_A, SEG_B, SEG_C};
    char *orig[3];
    size_t lens[3];
    for (int i = 0; i < 3; i++)
        orig[i] = testing_read_file(path_of(f, segs[i]), &lens[i]);
    static const char repl[] = "0123456789abcdefxyzAZ{}[]\":,.-\n \\";
    for (int it = 0; it < 300; it++) {
        int s = rand() % 3;
        size_t pos = (size_t)rand() % lens[s];
        char c;
        do
            c = repl[rand() % (sizeof repl - 1)];
        while (c == orig[s][pos]);
        char *buf = malloc(lens[s]);
        memcpy(buf, orig[s], lens[s]);
        buf[pos] = c;
        spit(path_of(f, segs[s]), buf, lens[s]);
        free(buf);
        uint64_t line = 1;
        for (size_t k = 0; k < pos; k++)
            line += orig[s][k] == '\n';

        struct journal_verify_result res;
        char err[512];
        int rc = journal_verify(f->dir, &res, err, sizeof err);
        if (rc != -EBADMSG || strcmp(res.file, segs[s]) != 0 || res.line != line)
            fail_msg("byte %zu of %s ('%c' -> '%c', line %llu): rc %d, %s", pos, segs[s],
                     orig[s][pos], c, (unsigned long long)line, rc, err);
        spit(path_of(f, segs[s]), orig[s], lens[s]);
    }
    for (int i = 0; i < 3; i++)
        free(orig[i]);
    expect_ok(f, 15);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void test_large_journal(void **state)
{
    struct testing_dir *f = *state;
    const int n = 100000;
    journal_t *j = open_journal(f);
    double t0 = now_ms();
    for (int i = 0; i < n; i++) {
        char key[48];
        snprintf(key, sizeof key, "8f1c2d3e-%08d-4a5b-9c0d", i);
        json_t *d =
            json_pack("{s:s, s:s, s:i}", "cidr", "10.20.0.0/20", "region", "eu-central-1", "n", i);
        f->now = DAY1 + i; /* a little over one day: two segments */
        assert_int_equal(journal_append(j, "allocation", key, 1600000000 + i, d), 0);
        json_decref(d);
        if (i % 1000 == 999)
            assert_int_equal(journal_sync(j), 0);
    }
    journal_close(j);
    double t1 = now_ms();
    expect_ok(f, (uint64_t)n);
    double t2 = now_ms();
    j = open_journal(f);
    double t3 = now_ms();
    printf("# 100k records: append+sync %.0f ms, verify %.0f ms, open (key scan) %.0f ms\n",
           t1 - t0, t2 - t1, t3 - t2);
    assert_int_equal(journal_last_seq(j), (uint64_t)n);
    assert_int_equal(journal_append(j, "allocation", "8f1c2d3e-00000000-4a5b-9c0d", 1, NULL),
                     JOURNAL_DUPLICATE);
    assert_int_equal(journal_append(j, "allocation", "8f1c2d3e-00099999-4a5b-9c0d", 1, NULL),
                     JOURNAL_DUPLICATE);
    assert_int_equal(journal_append(j, "allocation", "8f1c2d3e-00100000-4a5b-9c0d", 1, NULL), 0);
    journal_close(j);
    expect_ok(f, (uint64_t)n + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_sync_reopen, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_replay_skips_keys, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_key_hash_collisions, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_segments_per_day, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_edit_data, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_edit_prev, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_delete_line, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_insert_line, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_reorder, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_truncate_tail, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_delete_segment, setup,
                                        journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_tamper_edit_head, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_recovered, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_is_retried, setup,
                                        journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_permissions, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_fsync_mode, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lock_and_bad_arguments, setup,
                                        journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_reader_range, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_random_byte_edits, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_large_journal, setup, journal_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
