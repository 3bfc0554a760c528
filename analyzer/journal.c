/* journal: the tamper-evident audit journal (append-only, hash-chained, one segment a day).
 *
 * DESIGN: appending answers at once what the caller must know (the key index: duplicate or
 * not; validation: -EINVAL; seq; the write time from the clock, which picks the segment) and
 * reckons the line's length, hence its place in the segment, which the key index records. It
 * then copies the record compactly (struct prec: seq, times, the kind and key as JSON
 * strings, and the data's JSON text or the bytes of its string members) into the current
 * chunk. A chunk whose lines come to JOURNAL_WRITE_CHUNK bytes is handed to the journal's
 * writer thread (started with the first full chunk), which formats its lines (seq, times,
 * prev digest, data; without jansson for the usual record: common/record_write.h quotes the
 * strings, the data's keys are sorted here; the bytes are those jansson's JSON_COMPACT |
 * JSON_SORT_KEYS dump gave, which the hash chain depends on), chains their SHA-256 digests,
 * and write(2)s the queued chunks in order to their segments on an O_APPEND descriptor, so
 * neither the formatting and hashing nor the kernel's copy into the page cache hold up the
 * appending thread. Without a writer thread (it could not be started) the appending thread
 * does the same at each handoff. Appending blocks only while JOURNAL_QUEUED_MAX chunks wait, so
 * memory does not grow with the records between two syncs (a pass that journals a million
 * resources holds a few chunks). journal_sync() queues the rest, waits until everything
 * queued is written, then fdatasyncs and replaces HEAD (temp file, fsync, rename, directory
 * fsync): durability still comes only from journal_sync(). A write that fails (disk full) is
 * cut back to whole records; its chunk stays queued, the writer pauses and later chunks
 * queue without bound until the next journal_sync(), which writes the queue itself (a retry)
 * and reports the error if it fails again. A segment is fdatasynced before the next one is
 * written, so only the newest segment can end in unsynced bytes. A crash can therefore leave
 * (a) a partial last line, never synced, which the next open cuts, or (b) complete records
 * beyond HEAD's seq (written, perhaps synced, before HEAD was replaced), which are valid and
 * make HEAD catch up at the next open; their keys are all kept by the open scan, so the
 * replay that follows finds them journaled. Anything else (HEAD ahead of the records, HEAD
 * not matching its record) is damage, and open refuses to continue the chain so that a
 * restart cannot overwrite HEAD and hide it.
 *
 * Idempotency keys live in an open-addressing table of 16-byte slots: a 64-bit hash of the
 * key as journaled (its JSON string text) and the record's location (segment index << 44 |
 * byte offset). A hash hit is confirmed by re-reading that record's key (from the chunk that
 * still holds it, see Threads, or with one pread), so a 64-bit collision never drops a
 * record; hits only happen on replays, so the confirmation costs nothing in steady state. The
 * keys are kept in two generations, so that old keys drop without a per-key deletion: new
 * keys go into the current table; at journal_checkpointed(), once the current table holds at
 * least half of the keys to keep, the previous table is dropped (its memory reused) and the
 * current one becomes the previous one. The open scan does the same by count alone. See
 * journal.h for what that keeps.
 *
 * Threads: one thread at a time uses the journal ("the journal's thread": appends, syncs,
 * lookups); the writer thread formats, chains and writes. The journal's thread alone owns
 * the seq, the key index, the segment list and the current chunk; a chunk's records and runs
 * carry their seq, times, segment name and offset, so the writer reads nothing else. `mu`
 * guards the queue, the spare chunks, the write errors and the formatted chain's tail
 * (fmt_seq, fmt_digest): a queued chunk does not change except that the writer formats it
 * into its own buffer and then marks it formatted under the lock, drops its written runs
 * under the lock, and it leaves the queue only once written. So a key is confirmed from the
 * current chunk's records, else from a queued chunk's records or lines (under the lock),
 * else with a pread of its segment. The writing side (the writer thread while it has a
 * queued chunk and writes are not paused, else the journal's thread: journal_sync() and
 * journal_last_digest() wait for the writer first) owns the chain as formatted (wdigest),
 * the descriptor and its fdatasync state. Chunks are formatted strictly in queue order by
 * whichever side holds the head, so the bytes and the chain do not depend on which thread
 * wrote them. The writer blocks every signal, so they stay with the journal's thread.
 *
 * Verification streams the segments with one record of lookahead, which is enough to tell
 * an edited record from an edited successor, a removed line from a swapped pair, and an
 * inserted line from the genuine record next to it.
 */
#define LOG_MODULE "journal"
#include "config.h"

#include "analyzer/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fileio.h"
#include "log.h"
#include "record_write.h"
#include "text.h"
#include "xalloc.h"

#define SHA_LEN             32
#define SEG_SUFFIX          ".jsonl"
#define SEG_NAME_LEN        16 /* "YYYY-MM-DD.jsonl" */
#define HEAD_NAME           "HEAD"
#define HEAD_CHECK_HEX      16
#define LOC_OFF_BITS        44
#define LOC_OFF_MASK        ((UINT64_C(1) << LOC_OFF_BITS) - 1)
#define LOC_MAX_SEGS        (UINT64_C(1) << (64 - LOC_OFF_BITS))
#define TIME_MIN            INT64_C(-62135596800) /* 0001-01-01T00:00:00Z */
#define TIME_MAX            INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define RFC3339_LEN         20
#define DAY_SECONDS         86400
#define JOURNAL_WRITE_CHUNK (128 * 1024)      /* hand to the writer once a chunk holds this */
#define JOURNAL_QUEUED_MAX  4                 /* full chunks queued before appending blocks */
#define KEYS_HUGE_PAGE      (2 * 1024 * 1024) /* key tables this large ask for huge pages */

static uint64_t (*g_key_hash_for_testing)(const char *key, size_t len);
static size_t g_keys_kept_for_testing;
static bool g_no_writer_for_testing;

/* ---- small helpers ---------------------------------------------------------------------- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1; /* uppercase is not canonical */
}

static bool hex_decode(const char *in, size_t n, unsigned char *out)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(in[2 * i]), lo = hex_value(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

static EVP_MD *g_sha256_md;
static pthread_once_t g_sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    g_sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* SHA-256 of `len` bytes with a reusable context; returns 0 or -EIO. The digest is fetched
 * once per process (kept until exit): EVP_sha256() makes every EVP_DigestInit_ex() look
 * the algorithm up in the provider store again, which cost half as much as hashing a
 * journal line. */
static int sha256(EVP_MD_CTX *ctx, const void *data, size_t len, unsigned char *out)
{
    unsigned int n = 0;
    pthread_once(&g_sha256_once, sha256_fetch);
    const EVP_MD *md = g_sha256_md ? g_sha256_md : EVP_sha256();
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, data, len) != 1 ||
        EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != SHA_LEN)
        return -EIO;
    return 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Formats `t` as YYYY-MM-DDTHH:MM:SSZ (21 bytes with the NUL); false outside 0001..9999. */
static bool format_rfc3339(time_t t, char *buf, size_t len)
{
    struct tm tm;
    if ((int64_t)t < TIME_MIN || (int64_t)t > TIME_MAX || !gmtime_r(&t, &tm))
        return false;
    int n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return n == RFC3339_LEN && (size_t)n < len;
}

/* Parses exactly the form format_rfc3339() writes; false for anything else. */
static bool parse_rfc3339(const char *s, size_t len, time_t *out)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (len != RFC3339_LEN)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
            return false;
    }
    struct tm tm = {0};
    tm.tm_year = atoi(s) - 1900;
    tm.tm_mon = (s[5] - '0') * 10 + (s[6] - '0') - 1;
    tm.tm_mday = (s[8] - '0') * 10 + (s[9] - '0');
    tm.tm_hour = (s[11] - '0') * 10 + (s[12] - '0');
    tm.tm_min = (s[14] - '0') * 10 + (s[15] - '0');
    tm.tm_sec = (s[17] - '0') * 10 + (s[18] - '0');
    time_t t = timegm(&tm);
    char back[RFC3339_LEN + 1];
    /* The round trip rejects out-of-range fields such as 2024-02-30 or 25:00:00. */
    if (!format_rfc3339(t, back, sizeof back) || memcmp(back, s, len) != 0)
        return false;
    *out = t;
    return true;
}

/* Name of the segment of `day` (days since the epoch; years 1..9999, as the clock is checked
 * before a segment is made). */
static void segment_name(int64_t day, char *buf, size_t len)
{
    char ts[RFC3339_LEN + 1];
    if (!format_rfc3339((time_t)(day * DAY_SECONDS), ts, sizeof ts))
        snprintf(ts, sizeof ts, "%s", "0000-00-00");
    snprintf(buf, len, "%.10s" SEG_SUFFIX, ts);
}

/* True for "YYYY-MM-DD.jsonl" naming a real date; stores its day number. */
static bool segment_day(const char *name, int64_t *day)
{
    char ts[RFC3339_LEN + 1];
    time_t t;
    if (strlen(name) != SEG_NAME_LEN || strcmp(name + 10, SEG_SUFFIX) != 0)
        return false;
    snprintf(ts, sizeof ts, "%.10sT00:00:00Z", name);
    if (!parse_rfc3339(ts, RFC3339_LEN, &t))
        return false;
    *day = floor_div((int64_t)t, DAY_SECONDS);
    return true;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the segment files of `dirfd` sorted by name (= by day). The array and its strings
 * are owned by the caller. Returns 0 or -errno. */
static int list_segments(int dirfd, char ***names, size_t *count)
{
    int fd = dup(dirfd);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    rewinddir(d);
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    int64_t day;
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (!segment_day(de->d_name, &day))
            continue;
        v = xgrow(v, &cap, n + 1, sizeof *v);
        v[n++] = xstrdup(de->d_name);
    }
    int rc = errno ? -errno : 0;
    closedir(d);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            free(v[i]);
        free(v);
        return rc;
    }
    if (n)
        qsort(v, n, sizeof *v, cmp_names);
    *names = v;
    *count = n;
    return 0;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Text of `s` as a JSON string (quotes and escapes), owned by the caller; NULL when `s` is
 * not valid UTF-8. */
static char *json_quote(const char *s)
{
    json_t *str = json_string(s);
    if (!str)
        return NULL;
    char *text = json_dumps(str, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(str);
    return text;
}

/* ---- HEAD ------------------------------------------------------------------------------- */

struct head {
    uint64_t seq;
    unsigned char digest[SHA_LEN];
};

/* HEAD is one line "<seq> <digest hex> <check>\n" where check is the first 16 hex digits of
 * SHA-256("<seq> <digest hex>"), so an edited HEAD is told apart from an edited record. */
static int head_format(EVP_MD_CTX *ctx, const struct head *h, char *buf, size_t len)
{
    char hex[JOURNAL_DIGEST_HEX + 1], check[2 * SHA_LEN + 1];
    unsigned char sum[SHA_LEN];
    text_hex_encode(h->digest, SHA_LEN, hex);
    char body[128];
    int n = snprintf(body, sizeof body, "%" PRIu64 " %s", h->seq, hex);
    if (n < 0 || (size_t)n >= sizeof body || sha256(ctx, body, (size_t)n, sum) != 0)
        return -EIO;
    text_hex_encode(sum, SHA_LEN, check);
    n = snprintf(buf, len, "%s %.*s\n", body, HEAD_CHECK_HEX, check);
    return (n < 0 || (size_t)n >= len) ? -ENOSPC : n;
}

/* Reads HEAD. Returns 0, -ENOENT when absent, -EBADMSG with the reason in `why` when it is
 * malformed or its check does not match, other -errno on I/O errors. */
static int head_read(int dirfd, EVP_MD_CTX *ctx, struct head *h, char *why, size_t whylen)
{
    int fd = openat(dirfd, HEAD_NAME, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int rc = n < 0 ? -errno : 0;
    close(fd);
    if (rc)
        return rc;
    buf[n] = '\0';
    char *end;
    errno = 0;
    unsigned long long seq = strtoull(buf, &end, 10);
    if (errno || end == buf || buf[0] < '0' || buf[0] > '9' || *end != ' ' ||
        strlen(end + 1) < JOURNAL_DIGEST_HEX || !hex_decode(end + 1, SHA_LEN, h->digest)) {
        text_errbuf_set(why, whylen, "HEAD is not \"<seq> <digest> <check>\"");
        return -EBADMSG;
    }
    h->seq = seq;
    char want[256];
    if (head_format(ctx, h, want, sizeof want) < 0 || strcmp(want, buf) != 0) {
        text_errbuf_set(why, whylen,
                        "HEAD's check does not match its seq and digest (HEAD was edited)");
        return -EBADMSG;
    }
    return 0;
}

static int head_write(int dirfd, EVP_MD_CTX *ctx, bool do_fsync, const struct head *h)
{
    char buf[256];
    int n = head_format(ctx, h, buf, sizeof buf);
    if (n < 0)
        return n;
    /* Written as HEAD.tmp, renamed over HEAD. */
    return fileio_write_atomic_at(dirfd, HEAD_NAME, buf, (size_t)n, 0600,
                                  do_fsync ? 0 : FILEIO_NOSYNC, NULL, 0);
}

/* ---- line walker over all segments ------------------------------------------------------ */

struct wline {
    char *buf;
    size_t cap;
    size_t len;    /* without the newline */
    bool complete; /* ended with a newline */
    size_t seg;
    uint64_t lineno;
    uint64_t offset;
};

struct walker {
    int dirfd;
    char **names;
    size_t n;
    size_t idx;
    FILE *f;
    uint64_t lineno;
    uint64_t offset;
};

/* Next line of the journal. Returns 1, 0 at the end, or -errno. */
static int walker_next(struct walker *w, struct wline *out)
{
    for (;;) {
        if (!w->f) {
            if (w->idx >= w->n)
                return 0;
            int fd = openat(w->dirfd, w->names[w->idx], O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                return -errno;
            w->f = fdopen(fd, "r");
            if (!w->f) {
                int rc = -errno;
                close(fd);
                return rc;
            }
            w->lineno = 0;
            w->offset = 0;
        }
        errno = 0;
        ssize_t n = getline(&out->buf, &out->cap, w->f);
        if (n < 0) {
            int rc = ferror(w->f) ? -(errno ? errno : EIO) : 0;
            fclose(w->f);
            w->f = NULL;
            if (rc)
                return rc;
            w->idx++;
            continue;
        }
        out->complete = out->buf[n - 1] == '\n';
        out->len = (size_t)n - (out->complete ? 1 : 0);
        out->seg = w->idx;
        out->lineno = ++w->lineno;
        out->offset = w->offset;
        w->offset += (uint64_t)n;
        return 1;
    }
}

static void walker_close(struct walker *w)
{
    if (w->f)
        fclose(w->f);
    w->f = NULL;
}

/* ---- record parsing --------------------------------------------------------------------- */

static const char *skip_json_string(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return NULL;
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

static bool expect_lit(const char **p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0)
        return false;
    *p += n;
    return true;
}

/* Seq and key text (the JSON string with its quotes) of a record line. The fast path reads
 * the fixed field order this module writes; anything else is parsed with jansson and the key
 * re-quoted into *owned (freed by the caller). Returns false when the line is no record. */
static bool line_seq_key(const char *line, size_t len, uint64_t *seq, const char **key,
                         size_t *keylen, char **owned)
{
    const char *p = line, *end = line + len, *k;
    *owned = NULL;
    if (expect_lit(&p, end, "{\"seq\":") && p < end && *p >= '1' && *p <= '9') {
        uint64_t v = 0;
        bool ok = true;
        while (p < end && *p >= '0' && *p <= '9') {
            if (v > (UINT64_MAX - 9) / 10)
                ok = false;
            v = v * 10 + (uint64_t)(*p++ - '0');
        }
        if (ok && expect_lit(&p, end, ",\"ts\":") && (p = skip_json_string(p, end)) &&
            expect_lit(&p, end, ",\"event_time\":") && (p = skip_json_string(p, end)) &&
            expect_lit(&p, end, ",\"kind\":") && (p = skip_json_string(p, end)) &&
            expect_lit(&p, end, ",\"key\":") && (k = p, p = skip_json_string(p, end)) &&
            expect_lit(&p, end, ",\"prev\":\"")) {
            *seq = v;
            *key = k;
            *keylen = (size_t)(p - k) - strlen(",\"prev\":\"");
            return true;
        }
    }
    json_t *o = json_loadb(line, len, 0, NULL);
    json_t *jseq = json_object_get(o, "seq");
    const char *s = json_string_value(json_object_get(o, "key"));
    bool ok = json_is_integer(jseq) && json_integer_value(jseq) > 0 && s && *s;
    if (ok) {
        *owned = json_quote(s);
        ok = *owned != NULL;
    }
    if (ok) {
        *seq = (uint64_t)json_integer_value(jseq);
        *key = *owned;
        *keylen = strlen(*owned);
    }
    json_decref(o);
    return ok;
}

struct vrec {
    uint64_t seq;
    unsigned char prev[SHA_LEN];
    time_t ts;
    time_t event_time;
};

/* seq, ts, event_time, kind, key, prev, data */
#define RECORD_FIELDS 7

/* Full parse and validation of a record line. On success returns the object (owned by the
 * caller) and fills `v`; else NULL with the reason in `why`. */
static json_t *parse_record(const char *line, size_t len, struct vrec *v, char *why, size_t whylen)
{
    json_error_t e;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &e);
    if (!o) {
        text_errbuf_set(why, whylen, "not valid JSON (%s at column %d)", e.text, e.column);
        return NULL;
    }
    const char *bad = NULL;
    json_t *jseq = json_object_get(o, "seq");
    const char *ts = json_string_value(json_object_get(o, "ts"));
    const char *et = json_string_value(json_object_get(o, "event_time"));
    const char *kind = json_string_value(json_object_get(o, "kind"));
    const char *key = json_string_value(json_object_get(o, "key"));
    const char *prev = json_string_value(json_object_get(o, "prev"));
    if (!json_is_object(o))
        bad = "not a JSON object";
    else if (json_object_size(o) != RECORD_FIELDS)
        bad = "fields missing or added";
    else if (!json_is_integer(jseq) || json_integer_value(jseq) <= 0)
        bad = "seq is not a positive integer";
    else if (!ts || !parse_rfc3339(ts, strlen(ts), &v->ts))
        bad = "ts is not an RFC 3339 UTC time";
    else if (!et || !parse_rfc3339(et, strlen(et), &v->event_time))
        bad = "event_time is not an RFC 3339 UTC time";
    else if (!kind || !*kind)
        bad = "kind is missing or empty";
    else if (!key || !*key)
        bad = "key is missing or empty";
    else if (!prev || strlen(prev) != JOURNAL_DIGEST_HEX || !hex_decode(prev, SHA_LEN, v->prev))
        bad = "prev is not a lowercase hex SHA-256 digest";
    else if (!json_is_object(json_object_get(o, "data")))
        bad = "data is not an object";
    if (bad) {
        text_errbuf_set(why, whylen, "%s", bad);
        json_decref(o);
        return NULL;
    }
    v->seq = (uint64_t)json_integer_value(jseq);
    return o;
}

/* ---- the writer ------------------------------------------------------------------------- */

struct segment {
    char name[SEG_NAME_LEN + 1];
    int64_t day;
    uint64_t size; /* bytes appended to it (written, queued or buffered) */
};

/* Bytes of a chunk that go to one segment (consecutive runs differ in segment). */
struct wrun {
    size_t seg;
    uint64_t off; /* where they start in the segment */
    size_t len;
    char name[SEG_NAME_LEN + 1];
};

/* A record handed over to the writing side, not formatted yet: this header in a chunk's
 * `recs`, then the kind and the key as JSON strings (quotes and escapes), then the data: its
 * JSON text, or (nfields > 0) for each string member a size_t name length, a size_t value
 * length, the name and its NUL, the value and its NUL (the bytes journal_append_fields() got).
 * Entries take a multiple of 8 bytes, so each header is aligned. */
struct prec {
    uint64_t seq;
    uint64_t loc; /* segment index << LOC_OFF_BITS | offset of its line */
    int64_t ts, event_time;
    size_t size;     /* bytes of the entry */
    size_t line_len; /* bytes of its line, the newline included */
    size_t kind_len, key_len, data_len;
    size_t nfields;
};

/* Records appended but not written yet: the chunk being filled by the journal's thread, or
 * one handed to the writing side, which formats its records into `buf` (chaining their
 * digests) before writing it. */
struct chunk {
    char *recs; /* struct prec entries, oldest first */
    size_t rlen, rcap;
    size_t lines;      /* bytes of their lines (the runs' total until a partial write) */
    uint64_t last_seq; /* seq of the last record */
    bool formatted;    /* buf holds the lines of every record (set under the lock) */
    char *buf;         /* the formatted lines, once formatted */
    size_t len, cap;
    struct wrun *runs;
    size_t nruns, runcap;
    struct chunk *next; /* in the queue or among the spares */
};

static void chunk_free_list(struct chunk *c)
{
    while (c) {
        struct chunk *next = c->next;
        free(c->recs);
        free(c->buf);
        free(c->runs);
        free(c);
        c = next;
    }
}

/* Empties a chunk for reuse (its buffers are kept). */
static void chunk_reset(struct chunk *c)
{
    c->rlen = c->lines = c->len = c->nruns = 0;
    c->last_seq = 0;
    c->formatted = false;
}

struct key_slot {
    uint64_t hash; /* 0 = empty */
    uint64_t loc;  /* segment index << LOC_OFF_BITS | offset */
};

/* One generation of idempotency keys: open addressing, linear probing, hash 0 = empty. */
struct key_table {
    struct key_slot *slots;
    size_t cap, count;
};

struct journal {
    char *dir;
    int dirfd;
    bool fsync;
    EVP_MD_CTX *md;
    journal_clock_fn now;
    void *now_arg;
    uint64_t (*key_hash)(const char *key, size_t len);
    int failed; /* sticky -errno after a failed fsync */

    struct segment *segs;
    size_t nsegs, segcap;

    uint64_t seq; /* last appended */

    struct record_writer lw; /* scratch: kind, key and data text of the record */

    struct chunk cur;    /* the records appended since the last handoff */
    uint64_t synced_seq; /* seq HEAD vouches for (the last journal_sync()) */

    /* The writer thread and its queue (see DESIGN): mu guards the fields up to `wfailed`. */
    pthread_mutex_t mu;
    pthread_cond_t work; /* the writer waits: a chunk was queued, or stop */
    pthread_cond_t idle; /* the journal's thread waits: a chunk was formatted, written or
                            failed */
    uint64_t fmt_seq;    /* seq of the last formatted record */
    unsigned char fmt_digest[SHA_LEN]; /* and its digest (the chain's tail) */
    pthread_t thread;
    bool started, stop, spawn_failed;
    bool no_writer;            /* journal_set_no_writer_thread_for_testing() at the open */
    struct chunk *head, *tail; /* full chunks, oldest first; the writer drops them once written */
    size_t queued;
    struct chunk *spare; /* written chunks kept for reuse */
    size_t nspare;
    int werr;    /* a write failed (-errno): writes pause until the next journal_sync() */
    int wfailed; /* -EIO once a cut or fdatasync failed on the writer (j->failed follows) */

    /* The writing side's state: the writer thread's while it has a chunk, else the
     * journal's thread's. The chain as formatted, the format caches, the descriptor. */
    EVP_MD_CTX *wmd;
    unsigned char wdigest[SHA_LEN]; /* digest of the last formatted record */
    time_t wts_t, wet_t;            /* the last times formatted, and their text ("" none) */
    char wts_text[RFC3339_LEN + 1], wet_text[RFC3339_LEN + 1];
    int fd; /* O_APPEND descriptor of segment fd_seg, or -1 */
    size_t fd_seg;
    char fd_name[SEG_NAME_LEN + 1];
    bool fd_linked; /* its directory entry is durable (not created since its last settle) */
    bool fd_dirty;  /* written since its last fdatasync */

    struct key_table keys[2]; /* [0] current, [1] previous generation */
    size_t keys_kept;         /* rotate once [0] holds half of this */
    uint64_t keys_dropped, key_window_overflows;
    uint64_t marked_seq; /* j->seq at the last journal_checkpointed() */
};

static void writer_stop(journal_t *j);

static time_t default_clock(void *arg)
{
    (void)arg;
    return time(NULL);
}

/* FNV-1a followed by the splitmix64 finalizer. */
static uint64_t default_key_hash(const char *key, size_t len)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= UINT64_C(0x100000001b3);
    }
    h ^= h >> 30;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 27;
    h *= UINT64_C(0x94d049bb133111eb);
    h ^= h >> 31;
    return h;
}

static uint64_t key_hash(const journal_t *j, const char *key, size_t len)
{
    uint64_t h = j->key_hash(key, len);
    return h ? h : 1;
}

/* Zeroed slots for a table of `cap` (free() them). A large table asks for transparent huge
 * pages: its lookups are random, so on 4 KiB pages nearly every one missed the TLB as well as
 * the cache (the kernel may refuse; that changes nothing else). */
static struct key_slot *slots_alloc(size_t cap)
{
#ifdef MADV_HUGEPAGE
    size_t bytes = cap * sizeof(struct key_slot);
    void *p;
    if (bytes >= KEYS_HUGE_PAGE && posix_memalign(&p, KEYS_HUGE_PAGE, bytes) == 0) {
        (void)madvise(p, bytes, MADV_HUGEPAGE);
        memset(p, 0, bytes);
        return p;
    }
#endif
    return xcalloc(cap, sizeof(struct key_slot));
}

static void table_insert(struct key_table *t, uint64_t hash, uint64_t loc)
{
    if ((t->count + 1) * 4 > t->cap * 3) {
        size_t ncap = t->cap ? t->cap * 2 : 1024;
        struct key_slot *ns = slots_alloc(ncap);
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->slots[i].hash)
                continue;
            size_t k = t->slots[i].hash & (ncap - 1);
            while (ns[k].hash)
                k = (k + 1) & (ncap - 1);
            ns[k] = t->slots[i];
        }
        free(t->slots);
        t->slots = ns;
        t->cap = ncap;
    }
    size_t k = hash & (t->cap - 1);
    while (t->slots[k].hash)
        k = (k + 1) & (t->cap - 1);
    t->slots[k].hash = hash;
    t->slots[k].loc = loc;
    t->count++;
}

/* Drops the previous generation; the current one becomes it; the dropped table's memory
 * becomes the new, empty current one. */
static void keys_rotate(journal_t *j)
{
    struct key_table old = j->keys[1];
    j->keys_dropped += old.count;
    j->keys[1] = j->keys[0];
    if (old.cap)
        memset(old.slots, 0, old.cap * sizeof *old.slots);
    old.count = 0;
    j->keys[0] = old;
}

static void slots_insert(journal_t *j, uint64_t hash, uint64_t loc)
{
    table_insert(&j->keys[0], hash, loc);
}

/* Reads the line starting at `off` in segment `seg` and compares its key. */
static bool disk_key_equals(journal_t *j, size_t seg, uint64_t off, const char *key, size_t len)
{
    int fd = openat(j->dirfd, j->segs[seg].name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        LOG_WARN("openat %s: %s: cannot confirm a duplicate key; journaling it again",
                 j->segs[seg].name, strerror(errno));
        return false;
    }
    size_t cap = 4096, have = 0;
    char *buf = xmalloc(cap);
    bool equal = false;
    for (;;) {
        ssize_t n = pread(fd, buf + have, cap - have, (off_t)(off + have));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            LOG_WARN("pread %s: %s: cannot confirm a duplicate key; journaling it again",
                     j->segs[seg].name, strerror(errno));
            break;
        }
        char *nl = memchr(buf + have, '\n', (size_t)n);
        have += (size_t)n;
        if (nl || n == 0) {
            size_t linelen = nl ? (size_t)(nl - buf) : have;
            uint64_t seq;
            const char *k;
            size_t klen;
            char *owned;
            if (line_seq_key(buf, linelen, &seq, &k, &klen, &owned))
                equal = klen == len && memcmp(k, key, len) == 0;
            free(owned);
            break;
        }
        if (have == cap)
            buf = xrealloc(buf, cap *= 2);
    }
    free(buf);
    close(fd);
    return equal;
}

/* Compares the key of the record at `off` of segment `seg` when chunk `c` holds it (as a
 * handed-over record, or formatted): returns -1 when it does not, else whether the key is
 * `key`. Under the lock for a queued chunk (the writing side sets `formatted`). */
static int chunk_key_equals(const struct chunk *c, size_t seg, uint64_t off, const char *key,
                            size_t len)
{
    if (!c->formatted) {
        uint64_t loc = (uint64_t)seg << LOC_OFF_BITS | off;
        for (const char *e = c->recs, *end = c->recs + c->rlen; e < end;) {
            const struct prec *p = (const struct prec *)(const void *)e;
            if (p->loc == loc)
                return p->key_len == len && memcmp(e + sizeof *p + p->kind_len, key, len) == 0;
            e += p->size;
        }
        return -1;
    }
    size_t at = 0;
    for (size_t r = 0; r < c->nruns; r++) {
        const struct wrun *run = &c->runs[r];
        if (run->seg == seg && off >= run->off && off - run->off < run->len) {
            size_t rel = (size_t)(off - run->off);
            const char *line = c->buf + at + rel;
            const char *nl = memchr(line, '\n', run->len - rel);
            uint64_t seq;
            const char *k;
            size_t klen;
            char *owned = NULL;
            bool equal = nl && line_seq_key(line, (size_t)(nl - line), &seq, &k, &klen, &owned) &&
                         klen == len && memcmp(k, key, len) == 0;
            free(owned);
            return equal;
        }
        at += run->len;
    }
    return -1;
}

/* Whether the record at `loc` carries `key`: read from the chunk that still holds it (not
 * written yet) or else from its segment. The queue is searched under the lock, as the writer
 * formats a chunk and drops it only after writing it. */
static bool key_at(journal_t *j, uint64_t loc, const char *key, size_t len)
{
    size_t seg = (size_t)(loc >> LOC_OFF_BITS);
    uint64_t off = loc & LOC_OFF_MASK;
    if (seg >= j->nsegs)
        return false;
    int held = chunk_key_equals(&j->cur, seg, off, key, len);
    pthread_mutex_lock(&j->mu);
    for (const struct chunk *c = j->head; held < 0 && c; c = c->next)
        held = chunk_key_equals(c, seg, off, key, len);
    pthread_mutex_unlock(&j->mu);
    return held >= 0 ? held == 1 : disk_key_equals(j, seg, off, key, len);
}

/* Starts loading the slots where `hash` would be, so that key_seen() finds them in the
 * cache: the key index is far larger than the cache, and its lookups are random. */
static void keys_prefetch(const journal_t *j, uint64_t hash)
{
    for (size_t g = 0; g < 2; g++) {
        const struct key_table *t = &j->keys[g];
        if (t->cap)
            __builtin_prefetch(&t->slots[hash & (t->cap - 1)]);
    }
}

static bool key_seen(journal_t *j, uint64_t hash, const char *key, size_t len)
{
    for (size_t g = 0; g < 2; g++) {
        const struct key_table *t = &j->keys[g];
        if (!t->cap)
            continue;
        for (size_t k = hash & (t->cap - 1); t->slots[k].hash; k = (k + 1) & (t->cap - 1)) {
            if (t->slots[k].hash == hash && key_at(j, t->slots[k].loc, key, len))
                return true;
        }
    }
    return false;
}

static size_t segment_push(journal_t *j, int64_t day, uint64_t size)
{
    j->segs = xgrow(j->segs, &j->segcap, j->nsegs + 1, sizeof *j->segs);
    struct segment *s = &j->segs[j->nsegs];
    segment_name(day, s->name, sizeof s->name);
    s->day = day;
    s->size = size;
    return j->nsegs++;
}

/* Scans the segments: keys, chain tail, HEAD's record, torn last line. */
static int journal_scan(journal_t *j, const struct head *head, char *err, size_t errlen)
{
    struct walker w = {.dirfd = j->dirfd, .n = j->nsegs};
    struct wline cur = {0};
    char *last = NULL;
    size_t last_cap = 0, last_len = 0;
    uint64_t records = 0, last_seq = 0;
    bool head_found = head->seq == 0, torn = false, warned = false;
    struct wline torn_at = {0};
    int rc;

    w.names = xcalloc(j->nsegs ? j->nsegs : 1, sizeof *w.names);
    for (size_t i = 0; i < j->nsegs; i++)
        w.names[i] = j->segs[i].name;
    while ((rc = walker_next(&w, &cur)) == 1) {
        if (!cur.complete) {
            if (cur.seg + 1 == j->nsegs) {
                torn = true;
                torn_at = cur;
                break;
            }
            LOG_ERR("%s:%" PRIu64 ": line cut short inside the chain; journal_verify will "
                    "report it",
                    j->segs[cur.seg].name, cur.lineno);
            continue;
        }
        uint64_t seq = 0;
        const char *key;
        size_t keylen;
        char *owned;
        if (!line_seq_key(cur.buf, cur.len, &seq, &key, &keylen, &owned)) {
            if (!warned)
                LOG_ERR("%s:%" PRIu64 ": not a journal record; journal_verify will report it",
                        j->segs[cur.seg].name, cur.lineno);
            warned = true;
            seq = last_seq + 1;
        } else {
            if (seq != last_seq + 1 && !warned) {
                LOG_ERR("%s:%" PRIu64 ": seq %" PRIu64 " follows seq %" PRIu64
                        "; journal_verify will report the damage",
                        j->segs[cur.seg].name, cur.lineno, seq, last_seq);
                warned = true;
            }
            slots_insert(j, key_hash(j, key, keylen),
                         (uint64_t)cur.seg << LOC_OFF_BITS | cur.offset);
            /* No checkpoint is known here: keep the newest by count, and every key beyond
             * HEAD (written since the last sync: the replay after a crash re-appends them). */
            if (seq <= head->seq && j->keys[0].count >= j->keys_kept / 2)
                keys_rotate(j);
            free(owned);
        }
        if (seq == head->seq && !head_found) {
            unsigned char sum[SHA_LEN];
            if (sha256(j->md, cur.buf, cur.len, sum) != 0) {
                rc = -EIO;
                text_errbuf_set(err, errlen, "SHA-256 failed");
                goto out;
            }
            if (memcmp(sum, head->digest, SHA_LEN) != 0) {
                rc = -EBADMSG;
                text_errbuf_set(err, errlen,
                                "journal %s: %s:%" PRIu64 ": record seq %" PRIu64
                                " does not match HEAD's digest; refusing to continue the chain "
                                "(run journal verification)",
                                j->dir, j->segs[cur.seg].name, cur.lineno, seq);
                goto out;
            }
            head_found = true;
        }
        last = xgrow(last, &last_cap, cur.len + 1, 1);
        memcpy(last, cur.buf, cur.len);
        last_len = cur.len;
        last_seq = seq;
        records++;
    }
    if (rc < 0) {
        text_errbuf_set(err, errlen, "reading journal %s: %s", j->dir, strerror(-rc));
        goto out;
    }
    if (!head_found) {
        rc = -EBADMSG;
        text_errbuf_set(
            err, errlen,
            "journal %s: HEAD says seq %" PRIu64 " was synced but the records end at seq %" PRIu64
            "; the tail was removed, refusing to continue the chain (run journal verification)",
            j->dir, head->seq, last_seq);
        goto out;
    }
    if (torn) {
        /* Past HEAD's record, so never synced: its Kafka offset was never committed. */
        struct segment *s = &j->segs[torn_at.seg];
        int fd = openat(j->dirfd, s->name, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ftruncate(fd, (off_t)torn_at.offset) != 0 || (j->fsync && fsync(fd) != 0)) {
            rc = -errno;
            text_errbuf_set(err, errlen, "cutting the torn tail of %s/%s: %s", j->dir, s->name,
                            strerror(errno));
            if (fd >= 0)
                close(fd);
            goto out;
        }
        close(fd);
        LOG_WARN("%s/%s:%" PRIu64 ": cut a partial record of %zu bytes (an unsynced write "
                 "interrupted by a crash; its source will be replayed)",
                 j->dir, s->name, torn_at.lineno, torn_at.len);
        s->size = torn_at.offset;
    }
    j->seq = last_seq;
    if (records)
        rc = sha256(j->md, last, last_len, j->wdigest);
    else
        memset(j->wdigest, 0, SHA_LEN);
    if (rc == 0 && j->seq != head->seq) {
        struct head h = {.seq = j->seq};
        memcpy(h.digest, j->wdigest, SHA_LEN);
        rc = head_write(j->dirfd, j->md, j->fsync, &h);
        if (rc)
            text_errbuf_set(err, errlen, "writing %s/HEAD: %s", j->dir, strerror(-rc));
    }
out:
    walker_close(&w);
    free(w.names);
    free(cur.buf);
    free(last);
    return rc;
}

journal_t *journal_open(const char *dir, bool fsync, char *err, size_t errlen)
{
    journal_t *j = xcalloc(1, sizeof *j);
    char **names = NULL;
    size_t nnames = 0;
    char why[256];
    struct head head = {0};
    struct stat st;
    int rc;

    j->dir = xstrdup(dir);
    j->dirfd = -1;
    j->fd = -1;
    if (pthread_mutex_init(&j->mu, NULL) != 0 || pthread_cond_init(&j->work, NULL) != 0 ||
        pthread_cond_init(&j->idle, NULL) != 0)
        abort(); /* cannot fail with default attributes on Linux */
    j->fsync = fsync;
    j->now = default_clock;
    j->key_hash = g_key_hash_for_testing ? g_key_hash_for_testing : default_key_hash;
    j->keys_kept = g_keys_kept_for_testing ? g_keys_kept_for_testing : JOURNAL_KEYS_KEPT;
    j->no_writer = g_no_writer_for_testing;
    if ((rc = fileio_mkdir_p(dir, 0700, NULL, 0)) != 0) {
        text_errbuf_set(err, errlen, "creating journal directory %s: %s", dir, strerror(-rc));
        goto fail;
    }
    j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (j->dirfd < 0) {
        text_errbuf_set(err, errlen, "opening journal directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    if (flock(j->dirfd, LOCK_EX | LOCK_NB) != 0) {
        text_errbuf_set(err, errlen, "journal %s is in use by another process (flock: %s)", dir,
                        strerror(errno));
        goto fail;
    }
    if (fstat(j->dirfd, &st) == 0 && (st.st_mode & 077))
        LOG_WARN("journal directory %s is accessible to group or others (mode %o)", dir,
                 (unsigned)(st.st_mode & 0777));
    j->md = EVP_MD_CTX_new();
    j->wmd = EVP_MD_CTX_new();
    if (!j->md || !j->wmd) {
        text_errbuf_set(err, errlen, "EVP_MD_CTX_new failed");
        goto fail;
    }
    if ((rc = list_segments(j->dirfd, &names, &nnames)) != 0) {
        text_errbuf_set(err, errlen, "listing journal directory %s: %s", dir, strerror(-rc));
        goto fail;
    }
    if (nnames >= LOC_MAX_SEGS) {
        text_errbuf_set(err, errlen, "journal %s: too many segments", dir);
        goto fail;
    }
    for (size_t i = 0; i < nnames; i++) {
        int64_t day = 0;
        if (fstatat(j->dirfd, names[i], &st, 0) != 0) {
            text_errbuf_set(err, errlen, "stat %s/%s: %s", dir, names[i], strerror(errno));
            goto fail;
        }
        segment_day(names[i], &day);
        segment_push(j, day, (uint64_t)st.st_size);
    }
    rc = head_read(j->dirfd, j->md, &head, why, sizeof why);
    if (rc == -ENOENT && nnames == 0) {
        /* A new journal: HEAD exists from the start, so a missing HEAD is always damage. */
        if ((rc = head_write(j->dirfd, j->md, fsync, &head)) != 0) {
            text_errbuf_set(err, errlen, "writing %s/HEAD: %s", dir, strerror(-rc));
            goto fail;
        }
    } else if (rc == -ENOENT) {
        text_errbuf_set(err, errlen,
                        "journal %s has segments but no HEAD; refusing to continue the "
                        "chain (run journal verification)",
                        dir);
        goto fail;
    } else if (rc == -EBADMSG) {
        text_errbuf_set(err, errlen, "journal %s: %s; refusing to continue the chain", dir, why);
        goto fail;
    } else if (rc) {
        text_errbuf_set(err, errlen, "reading %s/HEAD: %s", dir, strerror(-rc));
        goto fail;
    }
    if (journal_scan(j, &head, err, errlen) != 0)
        goto fail;
    j->marked_seq = j->seq;
    j->synced_seq = j->seq;
    j->fmt_seq = j->seq;
    memcpy(j->fmt_digest, j->wdigest, SHA_LEN);
    free_names(names, nnames);
    LOG_DEBUG("opened journal %s: %zu segments, last seq %" PRIu64, dir, j->nsegs, j->seq);
    return j;
fail:
    free_names(names, nnames);
    j->synced_seq = j->seq; /* nothing to write at close */
    journal_close(j);
    return NULL;
}

void journal_close(journal_t *j)
{
    if (!j)
        return;
    if (j->seq != j->synced_seq) {
        int rc = journal_sync(j);
        if (rc)
            LOG_ERR("journal %s: writing %zu pending records at close: %s", j->dir,
                    journal_pending(j), strerror(-rc));
    }
    writer_stop(j);
    if (j->fd >= 0)
        close(j->fd);
    if (j->dirfd >= 0)
        close(j->dirfd); /* releases the flock */
    EVP_MD_CTX_free(j->md);
    EVP_MD_CTX_free(j->wmd);
    chunk_free_list(j->head);
    chunk_free_list(j->spare);
    free(j->cur.recs);
    free(j->cur.runs);
    free(j->cur.buf);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->work);
    pthread_cond_destroy(&j->idle);
    record_writer_free(&j->lw);
    free(j->segs);
    free(j->keys[0].slots);
    free(j->keys[1].slots);
    free(j->dir);
    free(j);
}

void journal_set_clock_for_testing(journal_t *j, journal_clock_fn now, void *arg)
{
    j->now = now ? now : default_clock;
    j->now_arg = now ? arg : NULL;
}

void journal_set_key_hash_for_testing(uint64_t (*hash)(const char *key, size_t len))
{
    g_key_hash_for_testing = hash;
}

void journal_set_keys_kept_for_testing(size_t keys)
{
    g_keys_kept_for_testing = keys;
}

void journal_checkpointed(journal_t *j)
{
    if (j->seq - j->marked_seq > j->keys_kept / 2)
        j->key_window_overflows++;
    j->marked_seq = j->seq;
    if (j->keys[0].count >= j->keys_kept / 2)
        keys_rotate(j);
}

void journal_get_key_stats(const journal_t *j, struct journal_key_stats *out)
{
    out->keys = j->keys[0].count + j->keys[1].count;
    out->dropped = j->keys_dropped;
    out->window_overflows = j->key_window_overflows;
}

uint64_t journal_last_seq(const journal_t *j)
{
    return j->seq;
}

size_t journal_pending(const journal_t *j)
{
    return (size_t)(j->seq - j->synced_seq);
}

static void journal_handoff(journal_t *j);

/* ---- appending -------------------------------------------------------------------------- */

/* Nesting and object size the data writer handles itself (its sort array is on the stack);
 * anything larger goes to jansson. Effects are flat objects of about ten fields. */
#define DATA_MAX_DEPTH 8
#define DATA_MAX_KEYS  32

/* Formats `t` as format_rfc3339() does through a one-entry cache (`*cached`, `text` of
 * RFC3339_LEN + 1 bytes, "" when empty): the records of one pass share their event time, and
 * the write time changes once a second. False outside years 1..9999. */
static bool format_time_cached(time_t t, time_t *cached, char *text)
{
    if (text[0] && *cached == t)
        return true;
    if (!format_rfc3339(t, text, RFC3339_LEN + 1)) {
        text[0] = '\0';
        return false;
    }
    *cached = t;
    return true;
}

struct data_key {
    const char *key;
    size_t len;
    json_t *value;
};

/* jansson's JSON_SORT_KEYS order: bytes compared unsigned, a prefix first. */
static int data_key_cmp(const struct data_key *a, const struct data_key *b)
{
    int r = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);
    return r ? r : (a->len > b->len) - (a->len < b->len);
}

static bool write_data(struct record_writer *w, json_t *v, int depth);

static bool write_data_object(struct record_writer *w, json_t *o, int depth)
{
    struct data_key keys[DATA_MAX_KEYS];
    size_t n = 0;
    if (depth >= DATA_MAX_DEPTH || json_object_size(o) > DATA_MAX_KEYS)
        return false;
    for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
        struct data_key k = {json_object_iter_key(it), json_object_iter_key_len(it),
                             json_object_iter_value(it)};
        if (n == DATA_MAX_KEYS)
            return false;
        size_t i = n++; /* insertion sort: objects are small */
        while (i > 0 && data_key_cmp(&keys[i - 1], &k) > 0) {
            keys[i] = keys[i - 1];
            i--;
        }
        keys[i] = k;
    }
    record_write_raw(w, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            record_write_raw(w, ",", 1);
        /* A key with a NUL byte is left to jansson (the writer takes C strings). */
        if (record_write_stringn(w, keys[i].key, keys[i].len) != 0)
            return false;
        record_write_raw(w, ":", 1);
        if (!write_data(w, keys[i].value, depth + 1))
            return false;
    }
    record_write_raw(w, "}", 1);
    return true;
}

/* Appends `v` as json_dumpb(v, JSON_COMPACT | JSON_SORT_KEYS) prints it, byte for byte.
 * Returns false for what it leaves to jansson: reals (jansson's "%.17g" text), strings and
 * keys holding NUL bytes or invalid UTF-8, nesting deeper than DATA_MAX_DEPTH, objects of
 * more than DATA_MAX_KEYS keys; the writer's text is then unusable. */
static bool write_data(struct record_writer *w, json_t *v, int depth)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return write_data_object(w, v, depth);
    case JSON_ARRAY: {
        if (depth >= DATA_MAX_DEPTH)
            return false;
        record_write_raw(w, "[", 1);
        for (size_t i = 0, n = json_array_size(v); i < n; i++) {
            if (i)
                record_write_raw(w, ",", 1);
            if (!write_data(w, json_array_get(v, i), depth + 1))
                return false;
        }
        record_write_raw(w, "]", 1);
        return true;
    }
    case JSON_STRING:
        return record_write_stringn(w, json_string_value(v), json_string_length(v)) == 0;
    case JSON_INTEGER:
        record_write_int(w, (int64_t)json_integer_value(v));
        return true;
    case JSON_TRUE:
        record_write_raw(w, "true", 4);
        return true;
    case JSON_FALSE:
        record_write_raw(w, "false", 5);
        return true;
    case JSON_NULL:
        record_write_raw(w, "null", 4);
        return true;
    default:
        return false;
    }
}

json_t *journal_fields_object(const struct journal_field *f, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new_nocheck(o, f[i].name, json_stringn_nocheck(f[i].value, f[i].len));
    return o;
}

/* jansson's text of the object of the string members `f`, for what write_packed_fields()
 * cannot write (owned by the caller; NULL where jansson refuses it too). */
static char *dump_fields(const struct journal_field *f, size_t n)
{
    json_t *o = journal_fields_object(f, n);
    char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

/* Bytes of the `n` bytes at `s` (a NUL after them) as a JSON string: quotes and escapes as
 * record_write_stringn() and jansson write them (NUL bytes as \u0000, as jansson does); 0
 * when they are not valid UTF-8. Eight bytes at a time while none needs care. */
static size_t quoted_len(const char *s, size_t n)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = UINT64_C(0x8080808080808080);
    size_t q = 2, i = 0;
    while (i < n) {
        if (n - i >= 8) {
            uint64_t v, quote, bslash;
            memcpy(&v, s + i, 8);
            quote = v ^ (ones * '"');
            bslash = v ^ (ones * '\\');
            /* Any byte >= 0x80, < 0x20, '"' or '\\' (the usual zero-byte tests). */
            if (!((v | ((v - ones * 0x20) & ~v) | ((quote - ones) & ~quote) |
                   ((bslash - ones) & ~bslash)) &
                  highs)) {
                q += 8;
                i += 8;
                continue;
            }
        }
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t k = text_utf8_seq(s + i, n - i);
            if (k == 0)
                return 0;
            q += k;
            i += k;
            continue;
        }
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            q += 2;
        else if (c < 0x20)
            q += 6;
        else
            q++;
        i++;
    }
    return q;
}

static size_t decimal_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

static bool time_in_range(time_t t)
{
    return (int64_t)t >= TIME_MIN && (int64_t)t <= TIME_MAX;
}

/* The fixed text of a line: {"seq":N,"ts":"..","event_time":"..","kind":..,"key":..,
 * "prev":"..","data":..} */
static const char seq_lit[] = "{\"seq\":", ts_lit[] = ",\"ts\":\"",
                  et_lit[] = "\",\"event_time\":\"",
                  kind_lit[] = "\",\"kind\":", key_lit[] = ",\"key\":", prev_lit[] = ",\"prev\":\"",
                  data_lit[] = "\",\"data\":";

/* Bytes of a line (its newline included) from the lengths of its variable parts. */
static size_t line_length(uint64_t seq, size_t qkind_len, size_t qkey_len, size_t data_len)
{
    return sizeof seq_lit - 1 + decimal_len(seq) + sizeof ts_lit - 1 + RFC3339_LEN + sizeof et_lit -
           1 + RFC3339_LEN + sizeof kind_lit - 1 + qkind_len + sizeof key_lit - 1 + qkey_len +
           sizeof prev_lit - 1 + JOURNAL_DIGEST_HEX + sizeof data_lit - 1 + data_len + 2;
}

/* journal_append() of `data`, or with `compact` of the object of the `nfields` string members
 * `fields` (journal_append_fields()). What must be answered now is done here (validation,
 * the key index, seq, write time, segment and the line's length, hence its place); the line
 * itself is formatted and chained by the writing side (chunk_format()) from the copy put
 * into the current chunk. */
static int append_record(journal_t *j, const char *kind, const char *key, time_t event_time,
                         json_t *data, bool compact, const struct journal_field *fields,
                         size_t nfields)
{
    struct record_writer *w = &j->lw;
    char *jtext = NULL;
    int rc = -EINVAL;

    if (j->failed)
        return j->failed;
    if (!kind || !*kind || !key || !*key || (data && !json_is_object(data)) ||
        !time_in_range(event_time))
        return -EINVAL;
    for (size_t i = 0; compact && i < nfields; i++)
        if (!fields[i].name || !fields[i].value ||
            (i > 0 && strcmp(fields[i - 1].name, fields[i].name) >= 0))
            return -EINVAL;
    /* The kind and the key as JSON strings, quoted as jansson quotes them; the key's text is
     * what the index hashes. Then the data's text (unless it is fields), in the same scratch
     * buffer, copied into the chunk below. */
    record_writer_reset(w);
    if (record_write_string(w, kind) != 0)
        return -EINVAL;
    size_t qkind_len = w->len;
    if (record_write_string(w, key) != 0)
        return -EINVAL;
    size_t qkey_len = w->len - qkind_len;
    uint64_t hash = key_hash(j, w->buf + qkind_len, qkey_len);
    keys_prefetch(j, hash);
    /* While the key's slots load: the record's copy at the end of the current chunk (not
     * counted until it is added below), the data's length and whether it can be journaled,
     * which matters only for a key not journaled yet. */
    struct chunk *c = &j->cur;
    size_t at = c->rlen, o = at + sizeof(struct prec) + qkind_len + qkey_len, dlen;
    bool data_ok = true;
    c->recs = xgrow(c->recs, &c->rcap, o, 1);
    memcpy(c->recs + at + sizeof(struct prec), w->buf, qkind_len + qkey_len);
    if (compact && nfields) {
        dlen = 1 + 2 * nfields; /* braces, a colon each, commas between */
        for (size_t i = 0; i < nfields && data_ok; i++) {
            const struct journal_field *fl = &fields[i];
            size_t nlen = strlen(fl->name), qn = quoted_len(fl->name, nlen),
                   qv = quoted_len(fl->value, fl->len);
            data_ok = qn && qv;
            dlen += qn + qv;
            c->recs = xgrow(c->recs, &c->rcap, o + 2 * sizeof(size_t) + nlen + fl->len + 2, 1);
            char *e = c->recs + o;
            memcpy(e, &nlen, sizeof nlen);
            memcpy(e + sizeof nlen, &fl->len, sizeof fl->len);
            e += 2 * sizeof(size_t);
            memcpy(e, fl->name, nlen + 1);
            e += nlen + 1;
            memcpy(e, fl->value, fl->len);
            e[fl->len] = '\0';
            o += 2 * sizeof(size_t) + nlen + fl->len + 2;
        }
    } else {
        size_t data_at = w->len;
        if (!data || compact) {
            record_write_raw(w, "{}", 2);
        } else if (!write_data(w, data, 0)) {
            /* What the writer leaves to jansson (reals, NUL bytes, deep nesting). */
            jtext = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
            data_ok = jtext != NULL;
        }
        dlen = jtext ? strlen(jtext) : w->len - data_at;
        if (data_ok) {
            c->recs = xgrow(c->recs, &c->rcap, o + dlen, 1);
            memcpy(c->recs + o, jtext ? jtext : w->buf + data_at, dlen);
            o += dlen;
        }
    }
    if (key_seen(j, hash, w->buf + qkind_len, qkey_len)) {
        rc = JOURNAL_DUPLICATE;
        goto out;
    }
    time_t now = j->now(j->now_arg);
    if (!time_in_range(now)) {
        LOG_ERR("clock returned %lld, outside years 1..9999", (long long)now);
        goto out;
    }
    if (!data_ok)
        goto out;
    /* The write day picks the segment, but never an earlier one than the last: appending to
     * an old segment would break append-only (see docs/journal.md). */
    int64_t day = floor_div((int64_t)now, DAY_SECONDS);
    size_t seg;
    if (j->nsegs == 0 || day > j->segs[j->nsegs - 1].day) {
        if (j->nsegs + 1 >= LOC_MAX_SEGS)
            goto out;
        seg = segment_push(j, day, 0);
    } else {
        seg = j->nsegs - 1;
    }
    size_t len = line_length(j->seq + 1, qkind_len, qkey_len, dlen);
    size_t size = (o - at + 7) & ~(size_t)7;
    c->recs = xgrow(c->recs, &c->rcap, at + size, 1);
    struct prec *p = (struct prec *)(void *)(c->recs + at);
    *p = (struct prec){.seq = j->seq + 1,
                       .loc = (uint64_t)seg << LOC_OFF_BITS | j->segs[seg].size,
                       .ts = (int64_t)now,
                       .event_time = (int64_t)event_time,
                       .size = size,
                       .line_len = len,
                       .kind_len = qkind_len,
                       .key_len = qkey_len,
                       .data_len = dlen,
                       .nfields = compact ? nfields : 0};
    c->rlen += size;
    if (c->nruns == 0 || c->runs[c->nruns - 1].seg != seg) {
        c->runs = xgrow(c->runs, &c->runcap, c->nruns + 1, sizeof *c->runs);
        struct wrun *run = &c->runs[c->nruns++];
        *run = (struct wrun){.seg = seg, .off = j->segs[seg].size};
        memcpy(run->name, j->segs[seg].name, sizeof run->name);
    }
    c->runs[c->nruns - 1].len += len;
    c->lines += len;
    c->last_seq = ++j->seq;
    j->segs[seg].size += len;
    slots_insert(j, hash, p->loc);
    rc = 0;
    /* A full chunk goes to the writer thread (a failed write waits for the next sync, which
     * retries it and reports the error). */
    if (c->lines >= JOURNAL_WRITE_CHUNK)
        journal_handoff(j);
out:
    free(jtext);
    return rc;
}

int journal_append(journal_t *j, const char *kind, const char *key, time_t event_time, json_t *data)
{
    return append_record(j, kind, key, event_time, data, false, NULL, 0);
}

int journal_append_fields(journal_t *j, const char *kind, const char *key, time_t event_time,
                          const struct journal_field *fields, size_t n)
{
    return append_record(j, kind, key, event_time, NULL, true, fields, n);
}

/* ---- formatting: the writing side ------------------------------------------------------- */

/* Appends the data object of the `n` string members packed at `e` (see struct prec) as
 * write_data() appends the jansson object holding them; false where it leaves the object to
 * jansson (a NUL byte in a value). */
static bool write_packed_fields(struct record_writer *w, const char *e, size_t n)
{
    bool ok = true;
    record_write_raw(w, "{", 1);
    for (size_t i = 0; i < n; i++) {
        size_t nlen, vlen;
        memcpy(&nlen, e, sizeof nlen);
        memcpy(&vlen, e + sizeof nlen, sizeof vlen);
        e += 2 * sizeof(size_t);
        if (ok) {
            if (i)
                record_write_raw(w, ",", 1);
            ok = record_write_string(w, e) == 0;
            record_write_raw(w, ":", 1);
            ok = ok && record_write_stringn(w, e + nlen + 1, vlen) == 0;
        }
        e += nlen + 1 + vlen + 1;
    }
    record_write_raw(w, "}", 1);
    return ok;
}

/* jansson's text of the `n` members packed at `e` (owned by the caller; NULL where jansson
 * refuses them). */
static char *dump_packed_fields(const char *e, size_t n)
{
    struct journal_field *f = xcalloc(n, sizeof *f);
    for (size_t i = 0; i < n; i++) {
        size_t nlen;
        memcpy(&nlen, e, sizeof nlen);
        memcpy(&f[i].len, e + sizeof nlen, sizeof f[i].len);
        f[i].name = e + 2 * sizeof(size_t);
        f[i].value = f[i].name + nlen + 1;
        e = f[i].value + f[i].len + 1;
    }
    char *text = dump_fields(f, n);
    free(f);
    return text;
}

/* Formats the handed-over records of chunk `c` into its lines (c->buf), each linked to the
 * digest of the one before; the chain's tail moves on only when every line came out as long
 * as its place was reckoned (else the chunk is not formatted, and -EIO poisons the journal).
 * Returns 0 or -EIO. The writing side, without the lock (the journal's thread reads only
 * `recs` of a chunk that is not formatted). */
static int chunk_format(journal_t *j, struct chunk *c)
{
    unsigned char digest[SHA_LEN];
    char hex[JOURNAL_DIGEST_HEX + 1];
    struct record_writer w = {.buf = c->buf, .cap = c->cap};
    int rc = 0;

    memcpy(digest, j->wdigest, SHA_LEN);
    if (c->cap < c->lines + 1) {
        w.buf = xrealloc(c->buf, c->lines + 1);
        w.cap = c->lines + 1;
    }
    for (const char *e = c->recs, *end = c->recs + c->rlen; e < end && rc == 0;) {
        const struct prec *p = (const struct prec *)(const void *)e;
        const char *qkind = e + sizeof *p, *qkey = qkind + p->kind_len, *data = qkey + p->key_len;
        size_t start = w.len;
        if (!format_time_cached((time_t)p->ts, &j->wts_t, j->wts_text) ||
            !format_time_cached((time_t)p->event_time, &j->wet_t, j->wet_text)) {
            rc = -EIO;
            break;
        }
        record_write_raw(&w, seq_lit, sizeof seq_lit - 1);
        record_write_int(&w, (int64_t)p->seq);
        record_write_raw(&w, ts_lit, sizeof ts_lit - 1);
        record_write_raw(&w, j->wts_text, RFC3339_LEN);
        record_write_raw(&w, et_lit, sizeof et_lit - 1);
        record_write_raw(&w, j->wet_text, RFC3339_LEN);
        record_write_raw(&w, kind_lit, sizeof kind_lit - 1);
        record_write_raw(&w, qkind, p->kind_len);
        record_write_raw(&w, key_lit, sizeof key_lit - 1);
        record_write_raw(&w, qkey, p->key_len);
        record_write_raw(&w, prev_lit, sizeof prev_lit - 1);
        text_hex_encode(digest, SHA_LEN, hex);
        record_write_raw(&w, hex, JOURNAL_DIGEST_HEX);
        record_write_raw(&w, data_lit, sizeof data_lit - 1);
        if (p->nfields == 0) {
            record_write_raw(&w, data, p->data_len);
        } else {
            size_t data_at = w.len;
            if (!write_packed_fields(&w, data, p->nfields)) {
                /* A NUL byte in a value: jansson writes it as \u0000. */
                char *text = dump_packed_fields(data, p->nfields);
                w.len = data_at;
                w.failed = false;
                if (!text) {
                    rc = -EIO;
                    break;
                }
                record_write_raw(&w, text, strlen(text));
                free(text);
            }
        }
        record_write_raw(&w, "}", 1);
        if (w.len - start + 1 != p->line_len) {
            LOG_ERR("journal %s: record seq %" PRIu64 " came out %zu bytes long, not %zu", j->dir,
                    p->seq, w.len - start + 1, p->line_len);
            rc = -EIO;
            break;
        }
        if ((rc = sha256(j->wmd, w.buf + start, w.len - start, digest)) != 0)
            break;
        record_write_raw(&w, "\n", 1);
        e += p->size;
    }
    c->buf = w.buf;
    c->cap = w.cap;
    c->len = w.len;
    if (rc == 0)
        memcpy(j->wdigest, digest, SHA_LEN);
    return rc;
}

/* ---- writing: the writer thread and the journal's thread ------------------------------- */

/* Settles the segment open on j->fd: fdatasync its written bytes and, for a segment created
 * since its last settle, the directory entry. Returns 0 or -EIO (the caller poisons the
 * journal). The writing side. */
static int segment_settle(journal_t *j)
{
    if (j->fd < 0 || (!j->fd_dirty && j->fd_linked))
        return 0;
    /* A new segment's directory entry must be durable too (once, even after a retry). */
    if (j->fsync && (fdatasync(j->fd) != 0 || (!j->fd_linked && fsync(j->dirfd) != 0))) {
        LOG_ERR("journal %s: fsync %s: %s", j->dir, j->fd_name, strerror(errno));
        return -EIO;
    }
    j->fd_dirty = false;
    j->fd_linked = true;
    return 0;
}

/* Makes j->fd the append descriptor of the segment of `run`, creating the file if needed;
 * the segment it leaves is settled first, so only the newest segment ends in unsynced bytes
 * (a failure there sets *poison). Returns 0 or -errno. The writing side. */
static int segment_fd(journal_t *j, const struct wrun *run, bool *poison)
{
    if (j->fd >= 0 && j->fd_seg == run->seg)
        return 0;
    if (j->fd >= 0) {
        if (segment_settle(j) != 0) {
            *poison = true;
            return -EIO;
        }
        close(j->fd);
    }
    bool created = false;
    j->fd = openat(j->dirfd, run->name, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (j->fd < 0 && errno == ENOENT) {
        j->fd =
            openat(j->dirfd, run->name, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        created = j->fd >= 0;
    }
    if (j->fd < 0) {
        int rc = -errno;
        LOG_ERR("journal %s: opening %s: %s", j->dir, run->name, strerror(-rc));
        return rc;
    }
    j->fd_seg = run->seg;
    memcpy(j->fd_name, run->name, sizeof j->fd_name);
    j->fd_linked = !created;
    j->fd_dirty = false;
    return 0;
}

/* Writes the runs of chunk `c` to their segments and counts those written in *done. A failed
 * write is cut back to whole records (a failed cut sets *poison). Returns 0 or -errno. The
 * writing side, without the lock (the chunk stays queued, and unchanged, until it is done). */
static int chunk_write(journal_t *j, const struct chunk *c, size_t *done, bool *poison)
{
    size_t at = 0;
    for (size_t r = 0; r < c->nruns; r++) {
        const struct wrun *run = &c->runs[r];
        int rc = segment_fd(j, run, poison);
        if (rc)
            return rc;
        if ((rc = fileio_write_all(j->fd, c->buf + at, run->len)) != 0) {
            LOG_ERR("journal %s: write %s: %s", j->dir, run->name, strerror(-rc));
            if (ftruncate(j->fd, (off_t)run->off) != 0) {
                LOG_ERR("journal %s: ftruncate %s: %s", j->dir, run->name, strerror(errno));
                *poison = true;
            }
            return rc;
        }
#ifdef SYNC_FILE_RANGE_WRITE
        /* Start the writeback now, so that the next sync's fdatasync has little left to
         * wait for (advice: its failure changes nothing). */
        if (j->fsync)
            (void)sync_file_range(j->fd, (off_t)run->off, (off_t)run->len, SYNC_FILE_RANGE_WRITE);
#endif
        j->fd_dirty = true;
        at += run->len;
        *done = r + 1;
    }
    return 0;
}

/* Formats the queue's head chunk `c` unless that is done, writes it, then, under the lock,
 * drops it (or the runs written before a failure, which pauses the writes) and wakes the
 * journal's thread. Returns 0 or -errno. The writing side. */
static int write_head(journal_t *j, struct chunk *c)
{
    size_t done = 0;
    bool poison = false;
    int rc = 0;
    if (!c->formatted) {
        if ((rc = chunk_format(j, c)) != 0) {
            poison = true;
        } else {
            pthread_mutex_lock(&j->mu);
            c->formatted = true;
            j->fmt_seq = c->last_seq;
            memcpy(j->fmt_digest, j->wdigest, SHA_LEN);
            pthread_mutex_unlock(&j->mu);
        }
    }
    if (rc == 0)
        rc = chunk_write(j, c, &done, &poison);
    pthread_mutex_lock(&j->mu);
    if (done == c->nruns) {
        j->head = c->next;
        if (!j->head)
            j->tail = NULL;
        j->queued--;
        chunk_reset(c);
        if (j->nspare < JOURNAL_QUEUED_MAX) {
            c->next = j->spare;
            j->spare = c;
            j->nspare++;
        } else {
            c->next = NULL;
            chunk_free_list(c);
        }
    } else {
        size_t at = 0;
        for (size_t r = 0; r < done; r++)
            at += c->runs[r].len;
        memmove(c->buf, c->buf + at, c->len - at);
        c->len -= at;
        memmove(c->runs, c->runs + done, (c->nruns - done) * sizeof *c->runs);
        c->nruns -= done;
    }
    if (rc)
        j->werr = rc;
    if (poison)
        j->wfailed = -EIO;
    pthread_cond_broadcast(&j->idle);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

static void *writer_main(void *arg)
{
    journal_t *j = arg;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        while (!j->stop && (!j->head || j->werr))
            pthread_cond_wait(&j->work, &j->mu);
        if (j->stop)
            break;
        struct chunk *c = j->head;
        pthread_mutex_unlock(&j->mu);
        write_head(j, c);
        pthread_mutex_lock(&j->mu);
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

/* Starts the writer thread (signals blocked: they stay with the journal's thread). Under the
 * lock. When it cannot be started, the journal's thread writes (and no start is tried again). */
static void writer_start(journal_t *j)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = j->no_writer ? EAGAIN : pthread_create(&j->thread, NULL, writer_main, j);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc)
        LOG_WARN("journal %s: pthread_create: %s; writing on the appending thread", j->dir,
                 strerror(rc));
    j->started = rc == 0;
    j->spawn_failed = rc != 0;
}

/* Stops and joins the writer thread (a chunk being written is finished first). */
static void writer_stop(journal_t *j)
{
    pthread_mutex_lock(&j->mu);
    j->stop = true;
    pthread_cond_signal(&j->work);
    bool started = j->started;
    pthread_mutex_unlock(&j->mu);
    if (started)
        pthread_join(j->thread, NULL);
}

/* Moves the current chunk to the end of the queue; a spare (or new) chunk becomes the
 * current one. Under the lock. */
static void enqueue_cur(journal_t *j)
{
    struct chunk *c = j->spare;
    if (c) {
        j->spare = c->next;
        j->nspare--;
    } else {
        c = xcalloc(1, sizeof *c);
    }
    struct chunk full = j->cur;
    j->cur = *c;
    j->cur.next = NULL;
    *c = full;
    c->next = NULL;
    if (j->tail)
        j->tail->next = c;
    else
        j->head = c;
    j->tail = c;
    j->queued++;
}

/* Writes the queued chunks on the calling thread, oldest first, until one fails; once all
 * are written, writes resume on the writer thread. Returns 0 or -errno. The journal's thread,
 * while the writer is idle (not started, or paused by a failed write, or the queue empty). */
static int write_queued(journal_t *j)
{
    for (;;) {
        pthread_mutex_lock(&j->mu);
        struct chunk *c = j->head;
        if (!c)
            j->werr = 0;
        pthread_mutex_unlock(&j->mu);
        if (!c)
            return 0;
        int rc = write_head(j, c);
        if (rc)
            return rc;
    }
}

/* Hands the full current chunk to the writer thread, starting it on first use. Blocks while
 * JOURNAL_QUEUED_MAX chunks wait, unless a failed write paused the writes (the chunks then
 * wait for the next journal_sync()). The journal's thread. */
static void journal_handoff(journal_t *j)
{
    pthread_mutex_lock(&j->mu);
    if (!j->started && !j->spawn_failed && !j->werr)
        writer_start(j);
    while (j->started && j->queued >= JOURNAL_QUEUED_MAX && !j->werr)
        pthread_cond_wait(&j->idle, &j->mu);
    enqueue_cur(j);
    pthread_cond_signal(&j->work);
    if (j->wfailed)
        j->failed = j->wfailed;
    bool write_here = !j->started && !j->werr;
    pthread_mutex_unlock(&j->mu);
    if (write_here)
        write_queued(j); /* a failure waits for the next sync, as on the writer thread */
}

/* Writes every appended record: hands the current chunk over, waits until the writer thread
 * has written the queue or failed, then writes what is left here (the chunks of a failed
 * write, retried; all of them when there is no writer thread). Returns 0 or -errno. The
 * journal's thread; the writer is idle when it returns. */
static int journal_write(journal_t *j)
{
    pthread_mutex_lock(&j->mu);
    if (j->cur.rlen)
        enqueue_cur(j);
    pthread_cond_signal(&j->work);
    while (j->started && j->head && !j->werr)
        pthread_cond_wait(&j->idle, &j->mu);
    pthread_mutex_unlock(&j->mu);
    int rc = write_queued(j);
    pthread_mutex_lock(&j->mu);
    if (j->wfailed)
        j->failed = rc = j->wfailed;
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int journal_sync(journal_t *j)
{
    int rc;

    if (j->failed)
        return j->failed;
    if (j->seq == j->synced_seq)
        return 0;
    if ((rc = journal_write(j)) != 0)
        return rc;
    if (segment_settle(j) != 0)
        return j->failed = -EIO;
    struct head h = {.seq = j->seq};
    memcpy(h.digest, j->wdigest, SHA_LEN); /* the writer is idle: everything is formatted */
    /* HEAD goes through a fresh temp file each time, so a failure here poisons nothing: the
     * records are durable, HEAD lags (which is allowed) and the next sync (which writes it
     * again) or open fixes it. */
    if ((rc = head_write(j->dirfd, j->md, j->fsync, &h)) != 0) {
        LOG_ERR("journal %s: writing HEAD: %s", j->dir, strerror(-rc));
        return rc;
    }
    j->synced_seq = j->seq;
    return 0;
}

/* Formats every appended record: hands the current chunk over and waits until the writer
 * thread has formatted the queue, or formats what is left here (no writer thread, or writes
 * paused by a failure). The journal's thread. */
static void format_all(journal_t *j)
{
    pthread_mutex_lock(&j->mu);
    if (j->fmt_seq != j->seq) {
        if (j->cur.rlen)
            enqueue_cur(j);
        pthread_cond_signal(&j->work);
        while (j->started && !j->werr && j->fmt_seq != j->seq)
            pthread_cond_wait(&j->idle, &j->mu);
    }
    struct chunk *c = j->fmt_seq != j->seq ? j->head : NULL;
    pthread_mutex_unlock(&j->mu);
    /* The writer is idle, so the queue changes only here. */
    for (; c; c = c->next) {
        if (c->formatted)
            continue;
        if (chunk_format(j, c) != 0) {
            j->failed = -EIO;
            return;
        }
        pthread_mutex_lock(&j->mu);
        c->formatted = true;
        j->fmt_seq = c->last_seq;
        memcpy(j->fmt_digest, j->wdigest, SHA_LEN);
        pthread_mutex_unlock(&j->mu);
    }
}

void journal_last_digest(journal_t *j, char *hex)
{
    unsigned char digest[SHA_LEN];
    format_all(j);
    pthread_mutex_lock(&j->mu);
    memcpy(digest, j->fmt_digest, SHA_LEN);
    pthread_mutex_unlock(&j->mu);
    text_hex_encode(digest, SHA_LEN, hex);
}

void journal_set_no_writer_thread_for_testing(bool no_thread)
{
    g_no_writer_for_testing = no_thread;
}

/* ---- verification ----------------------------------------------------------------------- */

const char *journal_fault_name(enum journal_fault fault)
{
    switch (fault) {
    case JOURNAL_FAULT_NONE:
        return "none";
    case JOURNAL_FAULT_MALFORMED:
        return "malformed";
    case JOURNAL_FAULT_EDITED:
        return "edited";
    case JOURNAL_FAULT_MISSING:
        return "missing";
    case JOURNAL_FAULT_INSERTED:
        return "inserted";
    case JOURNAL_FAULT_REORDERED:
        return "reordered";
    case JOURNAL_FAULT_TRUNCATED:
        return "truncated";
    case JOURNAL_FAULT_HEAD:
        return "head";
    }
    return "unknown";
}

struct verifier {
    struct journal_verify_result *res;
    char **names;
    EVP_MD_CTX *md;
    time_t from, to;
    int head_rc;
    struct head head;
    char head_why[256];
    bool head_matched;
    uint64_t expected;                 /* next seq */
    unsigned char last_hash[SHA_LEN];  /* digest of the last good record (zeros: none) */
    unsigned char prev2_hash[SHA_LEN]; /* digest of the one before it */
    bool have_last, have_prev2;
    size_t last_seg;
    uint64_t last_line;
};

static void fault(struct verifier *v, enum journal_fault f, const char *file, uint64_t line,
                  uint64_t seq, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void fault(struct verifier *v, enum journal_fault f, const char *file, uint64_t line,
                  uint64_t seq, const char *fmt, ...)
{
    struct journal_verify_result *r = v->res;
    r->ok = false;
    r->fault = f;
    snprintf(r->file, sizeof r->file, "%s", file);
    r->line = line;
    r->seq = seq;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->what, sizeof r->what, fmt, ap);
    va_end(ap);
}

static bool in_range(const struct verifier *v, time_t t)
{
    return t >= v->from && (v->to <= 0 || t < v->to);
}

/* A line parsed once, when it is read as the lookahead. */
struct peek {
    bool ok; /* a complete, well-formed record */
    struct vrec rec;
    char why[200]; /* why not, when complete */
};

static void peek_parse(const struct wline *l, struct peek *pk)
{
    pk->ok = false;
    pk->why[0] = '\0';
    if (!l->complete)
        return;
    json_t *o = parse_record(l->buf, l->len, &pk->rec, pk->why, sizeof pk->why);
    pk->ok = o != NULL;
    json_decref(o);
}

/* Checks one line against the chain; returns false after recording a fault. */
static bool verify_line(struct verifier *v, const struct wline *cur, const struct peek *pcur,
                        const struct peek *nxt, bool is_last)
{
    const char *file = v->names[cur->seg];
    const char *lastfile = v->have_last ? v->names[v->last_seg] : file;
    const struct vrec rec = pcur->rec;
    unsigned char h[SHA_LEN];

    if (!cur->complete) {
        if (is_last)
            return true; /* judged against HEAD at the end */
        fault(v, JOURNAL_FAULT_TRUNCATED, file, cur->lineno, v->expected,
              "line cut short (no newline at the end of the segment)");
        return false;
    }
    if (!pcur->ok) {
        fault(v, JOURNAL_FAULT_MALFORMED, file, cur->lineno, v->expected, "%s", pcur->why);
        return false;
    }
    if (sha256(v->md, cur->buf, cur->len, h) != 0) {
        fault(v, JOURNAL_FAULT_MALFORMED, file, cur->lineno, v->expected, "SHA-256 failed");
        return false;
    }
    uint64_t s = rec.seq, e = v->expected;
    bool prev_ok = memcmp(rec.prev, v->last_hash, SHA_LEN) == 0;
    if (s == e && prev_ok) {
        memcpy(v->prev2_hash, v->last_hash, SHA_LEN);
        memcpy(v->last_hash, h, SHA_LEN);
        v->have_prev2 = v->have_last;
        v->have_last = true;
        v->last_seg = cur->seg;
        v->last_line = cur->lineno;
        v->expected++;
        v->res->records++;
        v->res->last_seq = s;
        if (v->head_rc == 0 && s == v->head.seq)
            v->head_matched = memcmp(h, v->head.digest, SHA_LEN) == 0;
        if (in_range(v, rec.event_time)) {
            if (!v->res->range_records++)
                v->res->range_first_seq = s;
            v->res->range_last_seq = s;
        }
        return true;
    }
    if (s == e) {
        /* Right seq, wrong prev: this record or its predecessor changed, or this one is an
         * extra record whose genuine twin follows. */
        if (nxt->ok && nxt->rec.seq == s && memcmp(nxt->rec.prev, v->last_hash, SHA_LEN) == 0) {
            fault(v, JOURNAL_FAULT_INSERTED, file, cur->lineno, s,
                  "record is not part of the chain (the next line carries seq %" PRIu64
                  " and links to seq %" PRIu64 ")",
                  s, s - 1);
            return false;
        }
        bool cur_intact = nxt->ok ? memcmp(nxt->rec.prev, h, SHA_LEN) == 0
                                  : (v->head_rc == 0 && v->head.seq == s &&
                                     memcmp(v->head.digest, h, SHA_LEN) == 0);
        if (v->have_last && cur_intact) {
            fault(v, JOURNAL_FAULT_EDITED, lastfile, v->last_line, s - 1,
                  "record changed after it was written: its digest no longer matches the "
                  "prev of seq %" PRIu64,
                  s);
        } else if (v->have_last) {
            fault(v, JOURNAL_FAULT_EDITED, file, cur->lineno, s,
                  "record changed after it was written: its prev does not match the digest "
                  "of seq %" PRIu64,
                  s - 1);
        } else {
            fault(v, JOURNAL_FAULT_EDITED, file, cur->lineno, s,
                  "first record's prev is not all zeros");
        }
        return false;
    }
    if (s > e) {
        if (nxt->ok && nxt->rec.seq == e) {
            fault(v, JOURNAL_FAULT_REORDERED, file, cur->lineno, s,
                  "seq %" PRIu64 " found where seq %" PRIu64
                  " was expected, which follows: records out of order",
                  s, e);
        } else if (e == 1) {
            fault(v, JOURNAL_FAULT_MISSING, file, cur->lineno, e,
                  "the chain starts at seq %" PRIu64 ": seq 1..%" PRIu64
                  " missing (a segment or lines removed)",
                  s, s - 1);
        } else {
            fault(v, JOURNAL_FAULT_MISSING, file, cur->lineno, e,
                  "seq %" PRIu64 "..%" PRIu64 " missing between seq %" PRIu64
                  " and this record (%s removed)",
                  e, s - 1, e - 1, cur->lineno == 1 ? "a segment or lines" : "lines");
        }
        return false;
    }
    /* s < e: a seq repeats or goes backwards. */
    if (v->have_prev2 && s == e - 1 && memcmp(rec.prev, v->prev2_hash, SHA_LEN) == 0) {
        fault(v, JOURNAL_FAULT_INSERTED, lastfile, v->last_line, s,
              "record is not part of the chain: the genuine seq %" PRIu64
              " follows it and links past it",
              s);
    } else if (nxt->ok && nxt->rec.seq == e && memcmp(nxt->rec.prev, v->last_hash, SHA_LEN) == 0) {
        fault(v, JOURNAL_FAULT_INSERTED, file, cur->lineno, s,
              "extra record with seq %" PRIu64 " inserted after seq %" PRIu64, s, e - 1);
    } else {
        fault(v, JOURNAL_FAULT_REORDERED, file, cur->lineno, s,
              "seq %" PRIu64 " found after seq %" PRIu64 ": records repeated or out of order", s,
              e - 1);
    }
    return false;
}

static void verify_end(struct verifier *v, const struct wline *torn, size_t nsegs)
{
    struct journal_verify_result *r = v->res;
    const char *lastfile = nsegs ? v->names[nsegs - 1] : HEAD_NAME;
    uint64_t end_line = v->have_last && v->last_seg + 1 == nsegs ? v->last_line + 1 : 1;

    if (v->head_rc == -ENOENT) {
        if (r->records || torn)
            fault(v, JOURNAL_FAULT_HEAD, HEAD_NAME, 0, r->last_seq,
                  "HEAD is missing (tail truncation can no longer be detected)");
        return;
    }
    if (v->head_rc != 0) {
        fault(v, JOURNAL_FAULT_HEAD, HEAD_NAME, 0, 0, "%s", v->head_why);
        return;
    }
    if (v->head.seq > r->last_seq) {
        if (torn)
            fault(v, JOURNAL_FAULT_TRUNCATED, v->names[torn->seg], torn->lineno, r->last_seq + 1,
                  "record cut short (%zu bytes left) although HEAD says seq %" PRIu64
                  " was synced: tail truncated",
                  torn->len, v->head.seq);
        else
            fault(v, JOURNAL_FAULT_TRUNCATED, lastfile, end_line, r->last_seq + 1,
                  "seq %" PRIu64 "..%" PRIu64 " missing at the end: HEAD says seq %" PRIu64
                  " was synced (tail truncated)",
                  r->last_seq + 1, v->head.seq, v->head.seq);
        return;
    }
    if (v->head.seq > 0 && !v->head_matched) {
        if (v->head.seq == r->last_seq)
            fault(v, JOURNAL_FAULT_EDITED, v->names[v->last_seg], v->last_line, r->last_seq,
                  "record changed after it was synced: its digest does not match HEAD");
        else
            fault(v, JOURNAL_FAULT_HEAD, HEAD_NAME, 0, v->head.seq,
                  "HEAD's digest does not match record seq %" PRIu64, v->head.seq);
        return;
    }
    r->beyond_head = r->last_seq - v->head.seq;
    r->torn_tail = torn != NULL;
    r->ok = true;
}

int journal_verify_range(const char *dir, time_t from, time_t to, struct journal_verify_result *res,
                         char *err, size_t errlen)
{
    struct verifier v = {.res = res, .from = from, .to = to, .expected = 1};
    struct walker w = {.dirfd = -1};
    struct wline a = {0}, b = {0}, *cur = &a, *nxt = &b;
    struct peek pa, pb, *pcur = &pa, *pnxt = &pb;
    int rc;

    memset(res, 0, sizeof *res);
    memset(res->head_digest, '0', JOURNAL_DIGEST_HEX);
    w.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w.dirfd < 0) {
        rc = -errno;
        text_errbuf_set(err, errlen, "opening journal directory %s: %s", dir, strerror(errno));
        goto out;
    }
    v.md = EVP_MD_CTX_new();
    if (!v.md) {
        rc = -ENOMEM;
        text_errbuf_set(err, errlen, "EVP_MD_CTX_new failed");
        goto out;
    }
    /* HEAD before the segments: a writer syncing meanwhile only adds records beyond it. */
    v.head_rc = head_read(w.dirfd, v.md, &v.head, v.head_why, sizeof v.head_why);
    if (v.head_rc != 0 && v.head_rc != -ENOENT && v.head_rc != -EBADMSG) {
        rc = v.head_rc;
        text_errbuf_set(err, errlen, "reading %s/HEAD: %s", dir, strerror(-rc));
        goto out;
    }
    if ((rc = list_segments(w.dirfd, &w.names, &w.n)) != 0) {
        text_errbuf_set(err, errlen, "listing journal directory %s: %s", dir, strerror(-rc));
        goto out;
    }
    v.names = w.names;
    res->segments = w.n;
    rc = walker_next(&w, cur);
    if (rc == 1)
        peek_parse(cur, pcur);
    bool faulted = false;
    const struct wline *torn = NULL;
    while (rc == 1) {
        int nrc = walker_next(&w, nxt);
        if (nrc < 0) {
            rc = nrc;
            break;
        }
        pnxt->ok = false;
        if (nrc == 1)
            peek_parse(nxt, pnxt);
        if (!verify_line(&v, cur, pcur, pnxt, nrc == 0)) {
            faulted = true;
            break;
        }
        if (nrc == 0) {
            torn = cur->complete ? NULL : cur;
            break;
        }
        struct wline *t = cur;
        cur = nxt;
        nxt = t;
        struct peek *tp = pcur;
        pcur = pnxt;
        pnxt = tp;
    }
    if (rc < 0) {
        text_errbuf_set(err, errlen, "reading journal %s: %s", dir, strerror(-rc));
        goto out;
    }
    if (!faulted)
        verify_end(&v, torn, w.n);
    if (v.have_last)
        text_hex_encode(v.last_hash, SHA_LEN, res->head_digest);
    if (res->ok) {
        rc = 0;
    } else {
        rc = -EBADMSG;
        text_errbuf_set(err, errlen, "journal %s: %s:%" PRIu64 ": seq %" PRIu64 ": %s: %s", dir,
                        res->file, res->line, res->seq, journal_fault_name(res->fault), res->what);
    }
out:
    walker_close(&w);
    free_names(w.names, w.n);
    if (w.dirfd >= 0)
        close(w.dirfd);
    EVP_MD_CTX_free(v.md);
    free(a.buf);
    free(b.buf);
    return rc;
}

int journal_verify(const char *dir, struct journal_verify_result *res, char *err, size_t errlen)
{
    return journal_verify_range(dir, 0, 0, res, err, errlen);
}

/* ---- reading ---------------------------------------------------------------------------- */

struct journal_reader {
    struct walker w;
    struct wline line;
    time_t from, to;
    json_t *cur;
};

journal_reader_t *journal_reader_new(const char *dir, time_t from, time_t to, char *err,
                                     size_t errlen)
{
    journal_reader_t *r = xcalloc(1, sizeof *r);
    int rc;
    r->from = from;
    r->to = to;
    r->w.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (r->w.dirfd < 0) {
        text_errbuf_set(err, errlen, "opening journal directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    if ((rc = list_segments(r->w.dirfd, &r->w.names, &r->w.n)) != 0) {
        text_errbuf_set(err, errlen, "listing journal directory %s: %s", dir, strerror(-rc));
        goto fail;
    }
    return r;
fail:
    journal_reader_free(r);
    return NULL;
}

int journal_reader_next(journal_reader_t *r, struct journal_record *rec, char *err, size_t errlen)
{
    char why[256];
    struct vrec v;
    int rc;

    json_decref(r->cur);
    r->cur = NULL;
    while ((rc = walker_next(&r->w, &r->line)) == 1) {
        if (!r->line.complete)
            continue; /* a write in progress or a torn, never synced tail */
        json_t *o = parse_record(r->line.buf, r->line.len, &v, why, sizeof why);
        if (!o) {
            text_errbuf_set(err, errlen, "%s:%" PRIu64 ": %s", r->w.names[r->line.seg],
                            r->line.lineno, why);
            return -EBADMSG;
        }
        if (v.event_time < r->from || (r->to > 0 && v.event_time >= r->to)) {
            json_decref(o);
            continue;
        }
        r->cur = o;
        rec->seq = v.seq;
        rec->ts = v.ts;
        rec->event_time = v.event_time;
        rec->kind = json_string_value(json_object_get(o, "kind"));
        rec->key = json_string_value(json_object_get(o, "key"));
        rec->prev = json_string_value(json_object_get(o, "prev"));
        rec->data = json_object_get(o, "data");
        rec->record = o;
        rec->segment = r->w.names[r->line.seg];
        rec->line = r->line.lineno;
        return 1;
    }
    if (rc < 0)
        text_errbuf_set(err, errlen, "reading journal: %s", strerror(-rc));
    return rc;
}

void journal_reader_free(journal_reader_t *r)
{
    if (!r)
        return;
    json_decref(r->cur);
    walker_close(&r->w);
    free_names(r->w.names, r->w.n);
    if (r->w.dirfd >= 0)
        close(r->w.dirfd);
    free(r->line.buf);
    free(r);
}
