/* Unit tests for the journal's line writer: every line and the hash chain byte for byte as
 * jansson prints them (json_dumps of the kind and key, sorted compact data), on random
 * effects: escaped and non-ASCII text, keys in any order and sharing prefixes, nested objects
 * and arrays, integers, reals, NUL bytes; journal_append_fields() against journal_append();
 * and the writer thread's output against the appending thread's, file by file. */
#include "testing.h"

#include <dirent.h>
#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "analyzer/journal.h"
#include "journal_fixture.h"

#define T_NOW    ((time_t)1709287200) /* 2024-03-01T10:00:00Z */
#define N_RANDOM 3000

static unsigned seed_state;
static bool with_nul; /* random texts may hold NUL bytes (which journal_verify() refuses) */

static unsigned rnd(void)
{
    return testing_xorshift(&seed_state);
}

static int setup(void **state)
{
    *state = testing_dir_new("ipamwatch-jformat", "journal", T_NOW);
    return *state ? 0 : -1;
}

/* A random valid UTF-8 text of up to `max` characters (at least `min`), NUL-terminated, with
 * its length (NUL bytes inside only when `nul`): mostly the ASCII of ids and names, sometimes
 * controls, quotes, backslashes, slashes and 2- to 4-byte characters. */
static size_t random_text(char *buf, size_t min, size_t max, bool nul)
{
    static const char common[] = "abcdefghijklmnopqrstuvwxyz0123456789-_:/|.# ";
    size_t n = min + rnd() % (max - min + 1), o = 0;
    bool plain = rnd() % 2;
    for (size_t i = 0; i < n; i++) {
        unsigned cp, r = rnd() % 20;
        if (plain || r < 12) {
            cp = (unsigned char)common[rnd() % (sizeof common - 1)];
        } else if (r < 14) {
            cp = 1 + rnd() % 0x1F;
        } else if (r == 14) {
            cp = "\"\\/\x7f"[rnd() % 4];
        } else if (r == 15) {
            cp = nul && rnd() % 4 == 0 ? 0 : 0x80 + rnd() % 0x780;
        } else if (r < 18) {
            do
                cp = 0x800 + rnd() % 0xF800;
            while (cp >= 0xD800 && cp < 0xE000);
        } else {
            cp = 0x10000 + rnd() % 0x100000;
        }
        o += testing_put_utf8(buf + o, cp);
    }
    buf[o] = '\0';
    return o;
}

static json_t *random_value(int depth);

/* An object of random keys: common effect field names (prefixes of each other too) and random
 * text, inserted in random order. */
static json_t *random_object(int depth)
{
    static const char *names[] = {"cidr",   "cidr_v6",  "owner",    "owner_id",
                                  "pool",   "pool_id",  "region",   "name",
                                  "status", "scope_id", "resource", "resource_id",
                                  "a",      "ab",       "B",        "\xc3\xa9t\xc3\xa9"};
    json_t *o = json_object();
    size_t n = rnd() % (depth == 0 ? 14 : 5);
    if (depth == 0 && rnd() % 50 == 0)
        n = 40; /* more keys than the writer sorts itself */
    for (size_t i = 0; i < n; i++) {
        char key[256];
        size_t len;
        if (rnd() % 3) {
            snprintf(key, sizeof key, "%s", names[rnd() % (sizeof names / sizeof names[0])]);
            len = strlen(key);
        } else {
            len = random_text(key, 1, 12, with_nul && rnd() % 30 == 0);
        }
        json_object_setn_new(o, key, len, random_value(depth + 1));
    }
    return o;
}

static json_t *random_value(int depth)
{
    char text[512];
    unsigned r = rnd() % (depth >= 10 ? 8 : 11);
    switch (r) {
    case 0:
    case 1:
    case 2:
    case 3: {
        size_t len = random_text(text, 0, 60, with_nul && rnd() % 30 == 0);
        return json_stringn(text, len);
    }
    case 4: {
        int64_t v = (int64_t)((uint64_t)rnd() << 32 | rnd()); /* any sign and size */
        return json_integer((json_int_t)(v >> (rnd() % 64)));
    }
    case 5:
        return json_real((double)(int32_t)rnd() / (double)(1 + rnd() % 1000));
    case 6:
        return rnd() % 2 ? json_true() : json_false();
    case 7:
        return json_null();
    case 8:
    case 9:
        return random_object(depth);
    default: {
        json_t *a = json_array();
        for (size_t i = 0, n = rnd() % 4; i < n; i++)
            json_array_append_new(a, random_value(depth + 1));
        return a;
    }
    }
}

/* The line as jansson prints it, the way the journal wrote lines before its own writer:
 * json_dumps() of the kind and key strings and of the data with JSON_SORT_KEYS. */
static char *reference_line(uint64_t seq, time_t now, time_t event_time, const char *kind,
                            const char *key, const char *prev, json_t *data)
{
    char ts[32], et[32];
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    gmtime_r(&event_time, &tm);
    strftime(et, sizeof et, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *k = json_string(kind), *y = json_string(key);
    char *qk = json_dumps(k, JSON_ENCODE_ANY | JSON_COMPACT);
    char *qy = json_dumps(y, JSON_ENCODE_ANY | JSON_COMPACT);
    char *d = data ? json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
    assert_non_null(qk);
    assert_non_null(qy);
    assert_non_null(d);
    size_t cap = strlen(qk) + strlen(qy) + strlen(d) + 256;
    char *line = malloc(cap);
    int n = snprintf(line, cap,
                     "{\"seq\":%" PRIu64 ",\"ts\":\"%s\",\"event_time\":\"%s\",\"kind\":%s,"
                     "\"key\":%s,\"prev\":\"%s\",\"data\":%s}",
                     seq, ts, et, qk, qy, prev, d);
    assert_true(n > 0 && (size_t)n < cap);
    json_decref(k);
    json_decref(y);
    free(qk);
    free(qy);
    free(d);
    return line;
}

static void sha256_hex(const char *s, size_t len, char *hex)
{
    unsigned char sum[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(s, len, sum, &n, EVP_sha256(), NULL), 1);
    assert_int_equal(n, 32);
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", sum[i]);
}

/* Reads the whole segment of T_NOW's day of the journal in `dir`; owned by the caller. */
static char *read_segment_in(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/2024-03-01.jsonl", dir);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    assert_int_equal(fread(buf, 1, (size_t)size, fp), (size_t)size);
    buf[size] = '\0';
    fclose(fp);
    return buf;
}

/* read_segment_in() of the fixture's journal. */
static char *read_segment(const struct testing_dir *f)
{
    return read_segment_in(f->dir);
}

/* Random effects appended with the journal's writer; each line must equal the reference line
 * and chain to the previous one, and the journal must verify (without NUL bytes, which the
 * verifier's parser refuses, as before the writer). */
static void random_effects(struct testing_dir *f, bool nul)
{
    with_nul = nul;
    seed_state = testing_seed() | 1u;
    journal_t *j = open_journal(f);
    char **lines = calloc(N_RANDOM, sizeof *lines);
    char prev[65];
    memset(prev, '0', 64);
    prev[64] = '\0';
    size_t appended = 0;
    for (size_t i = 0; i < N_RANDOM; i++) {
        char kind[128], key[512];
        if (rnd() % 4)
            snprintf(kind, sizeof kind, "%s", rnd() % 2 ? "unmanaged" : "overlap_opened");
        else
            random_text(kind, 1, 20, false);
        random_text(key, 1, 80, false);
        snprintf(key + strlen(key), sizeof key - strlen(key), "#%zu", i); /* unique */
        json_t *data = rnd() % 10 ? random_object(0) : NULL;
        time_t et = (time_t)(1500000000 + (rnd() % 4 ? 0 : (int64_t)(rnd() % 100000000)));
        f->now = T_NOW + (time_t)(i / 100); /* the same day; write times repeat */
        assert_int_equal(journal_append(j, kind, key, et, data), 0);
        lines[appended] = reference_line(appended + 1, f->now, et, kind, key, prev, data);
        sha256_hex(lines[appended], strlen(lines[appended]), prev);
        appended++;
        char got[65];
        journal_last_digest(j, got);
        assert_string_equal(got, prev);
        json_decref(data);
    }
    assert_int_equal(journal_sync(j), 0);
    journal_close(j);

    char *text = read_segment(f), *p = text;
    for (size_t i = 0; i < appended; i++) {
        char *nl = strchr(p, '\n');
        assert_non_null(nl);
        *nl = '\0';
        if (strcmp(p, lines[i]) != 0)
            fail_msg("line %zu differs:\n  journal: %s\n  jansson: %s", i + 1, p, lines[i]);
        p = nl + 1;
        free(lines[i]);
    }
    assert_string_equal(p, "");
    free(text);
    free(lines);

    if (nul)
        return;
    char err[512];
    struct journal_verify_result res;
    if (journal_verify(f->dir, &res, err, sizeof err) != 0)
        fail_msg("journal_verify: %s", err);
    assert_int_equal(res.records, appended);
    assert_string_equal(res.head_digest, prev);
}

static void test_random_effects_match_jansson(void **state)
{
    random_effects(*state, false);
}

static void test_random_effects_with_nul_match_jansson(void **state)
{
    random_effects(*state, true);
}

/* The writer refuses what jansson refuses: a kind or key that is not UTF-8, and data that
 * cannot be printed (a reference cycle); nothing is appended then. */
static void test_refusals_match_jansson(void **state)
{
    struct testing_dir *f = *state;
    journal_t *j = open_journal(f);
    assert_int_equal(journal_append(j, "k\xff", "key", T_NOW, NULL), -EINVAL);
    assert_int_equal(journal_append(j, "kind", "\xc0\x80", T_NOW, NULL), -EINVAL);
    assert_int_equal(journal_append(j, "kind", "\xed\xa0\x80", T_NOW, NULL), -EINVAL);
    json_t *o = json_object(), *a = json_array();
    json_object_set(o, "a", a);
    json_array_append(a, o); /* o -> a -> o */
    assert_int_equal(journal_append(j, "kind", "cycle", T_NOW, o), -EINVAL);
    json_array_clear(a);
    json_decref(a);
    json_decref(o);
    assert_int_equal(journal_last_seq(j), 0);
    /* Deep nesting goes to jansson and still matches it. */
    json_t *deep = json_pack("{s:i}", "leaf", 1);
    for (int i = 0; i < 20; i++)
        deep = json_pack("{s:o,s:[o]}", "x", deep, "y", json_real(0.1 * i));
    assert_int_equal(journal_append(j, "kind", "deep", T_NOW, deep), 0);
    char zeros[65];
    memset(zeros, '0', 64);
    zeros[64] = '\0';
    char *want = reference_line(1, T_NOW, T_NOW, "kind", "deep", zeros, deep);
    json_decref(deep);
    assert_int_equal(journal_sync(j), 0);
    journal_close(j);
    char *text = read_segment(f);
    size_t n = strlen(want);
    assert_true(strncmp(text, want, n) == 0 && text[n] == '\n' && text[n + 1] == '\0');
    free(text);
    free(want);
}

/* Appends one object of string members to `jj` (journal_append() of the jansson object) and
 * to `jf` (journal_append_fields() of the same members, `f` sorted); both must agree. */
static int append_both(journal_t *jj, journal_t *jf, const char *key, const struct journal_field *f,
                       size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new_nocheck(o, f[i].name, json_stringn_nocheck(f[i].value, f[i].len));
    json_t *fo = journal_fields_object(f, n);
    assert_true(json_equal(fo, o));
    json_decref(fo);
    int rj = journal_append(jj, "unmanaged", key, T_NOW - 3600, o);
    int rf = journal_append_fields(jf, "unmanaged", key, T_NOW - 3600, f, n);
    json_decref(o);
    assert_int_equal(rf, rj);
    char dj[65], df[65];
    journal_last_digest(jj, dj);
    journal_last_digest(jf, df);
    assert_string_equal(df, dj);
    return rf;
}

static int field_cmp(const void *a, const void *b)
{
    return strcmp(((const struct journal_field *)a)->name, ((const struct journal_field *)b)->name);
}

/* journal_append_fields() writes, byte for byte, the record journal_append() writes for the
 * jansson object of the same strings: random members (escapes, controls, non-ASCII UTF-8,
 * empty values, NUL bytes, names that prefix each other or sort before lower case), then
 * the edge cases: no members, a value jansson refuses (both refuse), names out of order or
 * repeated (refused), a key already journaled (a duplicate for both). Without NUL bytes
 * (`nul` false; the verifier's parser refuses them, as before the writer) both verify. */
static void fields_match_append(struct testing_dir *f, bool nul)
{
    seed_state = testing_seed() | 1u;
    journal_t *jj = open_journal(f);
    char dir2[160], err[512];
    snprintf(dir2, sizeof dir2, "%s/fields", f->root);
    journal_t *jf = journal_open(dir2, false, err, sizeof err);
    if (!jf)
        fail_msg("journal_open: %s", err);
    journal_set_clock_for_testing(jf, testing_fake_now, &f->now);
    static const char *names[] = {"cidr",    "cidr_v6", "owner", "owner_id",    "pool",
                                  "pool_id", "region",  "name",  "status",      "scope_id",
                                  "a",       "ab",      "B",     "resource_id", "\xc3\xa9t\xc3\xa9",
                                  "q\"\\\n"};
    enum { NNAMES = sizeof names / sizeof names[0] };
    static char text[NNAMES][512];
    size_t appended = 0;
    for (size_t i = 0; i < N_RANDOM; i++) {
        struct journal_field fl[NNAMES];
        size_t n = 0;
        for (size_t k = 0; k < NNAMES; k++) {
            if (rnd() % 3 == 0)
                continue;
            size_t len = rnd() % 8 == 0 ? 0 : random_text(text[k], 0, 60, nul && rnd() % 10 == 0);
            text[k][len] = '\0';
            fl[n++] = (struct journal_field){names[k], text[k], len};
        }
        qsort(fl, n, sizeof *fl, field_cmp);
        char key[64];
        snprintf(key, sizeof key, "unmanaged:s/r-%zu/10.0.0.0/24:t", i);
        f->now = T_NOW + (time_t)(i / 100);
        assert_int_equal(append_both(jj, jf, key, fl, n), 0);
        appended++;
    }
    /* No members; an empty value; characters escaped as \u00XX and the short escapes. */
    assert_int_equal(append_both(jj, jf, "none", NULL, 0), 0);
    struct journal_field esc[] = {{"a", "", 0},
                                  {"b", "\x01\x1f\b\f\n\r\t\"\\/\x7f", 11},
                                  {"c", "\xe2\x82\xac\xf0\x9f\x98\x80", 7}};
    assert_int_equal(append_both(jj, jf, "escapes", esc, 3), 0);
    appended += 2;
    /* What jansson refuses, both refuse: a value that is not UTF-8. */
    struct journal_field bad[] = {{"a", "\xc0\x80", 2}};
    assert_int_equal(append_both(jj, jf, "bad-value", bad, 1), -EINVAL);
    /* A key journaled before is a duplicate for both. */
    assert_int_equal(append_both(jj, jf, "escapes", esc, 3), JOURNAL_DUPLICATE);
    /* Names must be strictly ascending. */
    struct journal_field unsorted[] = {{"b", "x", 1}, {"a", "y", 1}};
    struct journal_field twice[] = {{"a", "x", 1}, {"a", "y", 1}};
    assert_int_equal(journal_append_fields(jf, "k", "unsorted", T_NOW, unsorted, 2), -EINVAL);
    assert_int_equal(journal_append_fields(jf, "k", "twice", T_NOW, twice, 2), -EINVAL);
    assert_int_equal(journal_last_seq(jf), appended);
    assert_int_equal(journal_sync(jj), 0);
    assert_int_equal(journal_sync(jf), 0);
    journal_close(jj);
    journal_close(jf);

    char *a = read_segment(f), *b = read_segment_in(dir2);
    assert_int_equal(strlen(b), strlen(a));
    assert_string_equal(b, a);
    assert_non_null(strstr(a, "\"data\":{}}"));
    assert_non_null(strstr(a, "\"b\":\"\\u0001\\u001F\\b\\f\\n\\r\\t\\\"\\\\/\x7f\""));
    free(a);
    free(b);
    if (nul)
        return;
    struct journal_verify_result res;
    if (journal_verify(dir2, &res, err, sizeof err) != 0)
        fail_msg("journal_verify: %s", err);
    assert_int_equal(res.records, appended);
}

static void test_fields_match_append(void **state)
{
    fields_match_append(*state, false);
}

static void test_fields_with_nul_match_append(void **state)
{
    fields_match_append(*state, true);
}

#define N_BOTH 4000 /* random operations of the threaded-against-synchronous test */

/* Random string members for journal_append_fields(): names from `names` in ascending order,
 * random texts in `text` (NUL bytes rarely, invalid UTF-8 when `bad`). Returns how many. */
static size_t random_fields(struct journal_field *fl, char text[][128], bool bad)
{
    static const char *names[] = {"B",
                                  "a",
                                  "cidr",
                                  "name",
                                  "owner",
                                  "owner_id",
                                  "pool_id",
                                  "region",
                                  "resource_id",
                                  "status",
                                  "\xc3\xa9t\xc3\xa9"};
    enum { NNAMES = sizeof names / sizeof names[0] };
    size_t n = 0;
    for (size_t k = 0; k < NNAMES; k++) {
        if (rnd() % 3 == 0)
            continue;
        size_t len = random_text(text[k], 0, 40, rnd() % 200 == 0);
        if (bad && n == 0 && len < 126) {
            text[k][len++] = '\xff';
            text[k][len] = '\0';
        }
        fl[n++] = (struct journal_field){names[k], text[k], len};
    }
    return n;
}

/* Lists the regular files of `dir`, sorted; the names are owned by the caller. */
static size_t list_files(const char *dir, char names[][64], size_t max)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    size_t n = 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        size_t len = strlen(de->d_name);
        assert_true(n < max && len < 64);
        memcpy(names[n++], de->d_name, len + 1);
    }
    closedir(d);
    qsort(names, n, 64, (int (*)(const void *, const void *))strcmp);
    return n;
}

/* The same random operations on a journal whose writer thread formats, chains and writes the
 * records (`threaded`) and on one that does all of it on the appending thread (its writer
 * thread could not be started): jansson data and string members (escapes, non-ASCII, NUL
 * bytes, values refused as not UTF-8), replayed keys, syncs, digests, checkpoints, a clock
 * that crosses midnight several times (new segments) and steps back. Every result, and in the
 * end every file (segments and HEAD), must be the same byte for byte. */
static void test_threaded_matches_synchronous(void **state)
{
    struct testing_dir *f = *state;
    char sync_dir[160], err[512];
    seed_state = testing_seed() | 1u;
    with_nul = true;
    snprintf(sync_dir, sizeof sync_dir, "%s/sync", f->root);
    journal_set_no_writer_thread_for_testing(true);
    journal_t *js = journal_open(sync_dir, false, err, sizeof err);
    journal_set_no_writer_thread_for_testing(false);
    if (!js)
        fail_msg("journal_open: %s", err);
    journal_set_clock_for_testing(js, testing_fake_now, &f->now);
    journal_t *jt = open_journal(f);
    size_t appended = 0, duplicates = 0, refused = 0;
    char key[160];
    for (size_t i = 0; i < N_BOTH; i++) {
        unsigned op = rnd() % 100;
        f->now += (time_t)(rnd() % 3);
        if (i % 1000 == 999)
            f->now += 86400 - 7200; /* to the next day, or close to its end */
        if (i == N_BOTH / 2)
            f->now -= 90000; /* the clock steps back over midnight */
        int rt, rs;
        time_t et = (time_t)(1500000000 + (int64_t)(rnd() % 100000000));
        if (op < 45) {
            random_text(key, 1, 60, false);
            snprintf(key + strlen(key), sizeof key - strlen(key), "#%zu", i);
            json_t *data = rnd() % 10 ? random_object(0) : NULL;
            const char *kind = rnd() % 2 ? "unmanaged" : "overlap_opened";
            rt = journal_append(jt, kind, key, et, data);
            rs = journal_append(js, kind, key, et, data);
            json_decref(data);
        } else if (op < 90) {
            struct journal_field fl[16];
            static char text[16][128];
            size_t n = random_fields(fl, text, rnd() % 50 == 0);
            snprintf(key, sizeof key, "unmanaged:s/eni-%zu/10.0.0.0/24:t", i);
            rt = journal_append_fields(jt, "unmanaged", key, et, fl, n);
            rs = journal_append_fields(js, "unmanaged", key, et, fl, n);
        } else if (op < 96) {
            /* A replayed key: journaled before (a duplicate), or refused before (added now);
             * half of them recent, so still queued (not formatted or not written). */
            size_t back = rnd() % 2 ? rnd() % 600 : rnd() % (i + 1);
            snprintf(key, sizeof key, "unmanaged:s/eni-%zu/10.0.0.0/24:t",
                     back <= i ? i - back : 0);
            rt = journal_append(jt, "unmanaged", key, et, NULL);
            rs = journal_append(js, "unmanaged", key, et, NULL);
        } else if (op == 96 && rnd() % 4 == 0) {
            rt = journal_sync(jt);
            rs = journal_sync(js);
            assert_int_equal(rt, 0);
        } else if (op < 99) {
            char dt[JOURNAL_DIGEST_HEX + 1], ds[JOURNAL_DIGEST_HEX + 1];
            journal_last_digest(jt, dt);
            journal_last_digest(js, ds);
            assert_string_equal(dt, ds);
            rt = rs = 0;
        } else {
            journal_checkpointed(jt);
            journal_checkpointed(js);
            rt = rs = 0;
        }
        if (rt != rs)
            fail_msg("operation %zu (%u): %d threaded, %d synchronous", i, op, rt, rs);
        appended += op < 96 && rt == 0 ? 1 : 0;
        duplicates += rt == JOURNAL_DUPLICATE;
        refused += rt == -EINVAL;
        assert_int_equal(journal_last_seq(jt), journal_last_seq(js));
        assert_int_equal(journal_pending(jt), journal_pending(js));
    }
    assert_int_equal(journal_sync(jt), 0);
    assert_int_equal(journal_sync(js), 0);
    journal_close(jt);
    journal_close(js);

    char tn[16][64], sn[16][64];
    size_t nt = list_files(f->dir, tn, 16), ns = list_files(sync_dir, sn, 16);
    assert_int_equal(nt, ns);
    assert_true(nt >= 4); /* HEAD and three segments at least */
    size_t total = 0;
    for (size_t k = 0; k < nt; k++) {
        char pt[256], ps[256];
        size_t lt, ls;
        assert_string_equal(tn[k], sn[k]);
        snprintf(pt, sizeof pt, "%s/%s", f->dir, tn[k]);
        snprintf(ps, sizeof ps, "%s/%s", sync_dir, sn[k]);
        char *bt = testing_read_file(pt, &lt), *bs = testing_read_file(ps, &ls);
        if (lt != ls || memcmp(bt, bs, lt) != 0)
            fail_msg("%s differs (%zu bytes threaded, %zu synchronous)", tn[k], lt, ls);
        total += lt;
        free(bt);
        free(bs);
    }
    assert_true(total > 8 * 128 * 1024); /* many chunks went through the writer thread */
    assert_true(duplicates > 0 && refused > 0);
    printf("# %zu records (%zu bytes in %zu files), %zu duplicates, %zu refused\n", appended, total,
           nt, duplicates, refused);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_random_effects_match_jansson, setup,
                                        journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_random_effects_with_nul_match_jansson, setup,
                                        journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_refusals_match_jansson, setup,
                                        journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_fields_match_append, setup, journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_fields_with_nul_match_append, setup,
                                        journal_fixture_teardown),
        cmocka_unit_test_setup_teardown(test_threaded_matches_synchronous, setup,
                                        journal_fixture_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
