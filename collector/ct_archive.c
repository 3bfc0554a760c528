/* ct_archive: CloudTrail log archives (AWSLogs/..., *.json.gz) into the events topic. */
#include "config.h"

#define LOG_MODULE "ct_archive"
#include "collector/ct_archive.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "collector/ct_event.h"
#include "hash.h"
#include "log.h"
#include "text.h"
#include "xalloc.h"

#define CT_RECORD_MAX (64u * 1024 * 1024) /* one CloudTrail record; AWS caps them at 256 KiB */
#define CT_DEPTH_MAX  2048                /* nesting accepted in one record (jansson's limit) */

/* ---- file listing -------------------------------------------------------------------- */

struct file_list {
    char **paths;
    size_t n, cap;
    unsigned unreadable;
};

static void walk(const char *dir, struct file_list *fl, int depth)
{
    DIR *d = opendir(dir);
    if (!d) {
        LOG_ERR("%s: cannot read folder: %s", dir, strerror(errno));
        fl->unreadable++;
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *path = xasprintf("%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(path, &st) != 0) {
            free(path);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            if (strcmp(de->d_name, "CloudTrail-Digest") != 0 && depth < 32)
                walk(path, fl, depth + 1);
            free(path);
            continue;
        }
        if (S_ISLNK(st.st_mode) && (stat(path, &st) != 0 || !S_ISREG(st.st_mode))) {
            free(path);
            continue;
        }
        if (S_ISREG(st.st_mode) &&
            (text_ends_with(de->d_name, ".json.gz") || text_ends_with(de->d_name, ".json"))) {
            fl->paths = xgrow(fl->paths, &fl->cap, fl->n + 1, sizeof *fl->paths);
            fl->paths[fl->n++] = path;
        } else {
            free(path);
        }
    }
    closedir(d);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Parses `n` decimal digits at `s`; -1 if any is not a digit. */
static int64_t digits(const char *s, int n)
{
    int64_t v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static bool valid_date(int64_t y, int64_t m, int64_t d)
{
    return y >= 1970 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

int64_t ct_archive_file_time(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    /* <account>_CloudTrail_<region>_20250314T1005Z_<unique>.json.gz */
    for (const char *p = base; *p; p++) {
        if (strlen(p) < 14 || p[8] != 'T' || p[13] != 'Z')
            continue;
        int64_t y = digits(p, 4), mo = digits(p + 4, 2), d = digits(p + 6, 2);
        int64_t h = digits(p + 9, 2), mi = digits(p + 11, 2);
        if (valid_date(y, mo, d) && h >= 0 && h < 24 && mi >= 0 && mi < 60)
            return (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60) * 1000;
    }
    /* .../2025/03/14/... : the last such triple in the path */
    int64_t best = INT64_MAX;
    for (const char *p = path; *p; p++) {
        if (*p != '/' || strlen(p) < 12 || p[5] != '/' || p[8] != '/' || p[11] != '/')
            continue;
        int64_t y = digits(p + 1, 4), mo = digits(p + 6, 2), d = digits(p + 9, 2);
        if (valid_date(y, mo, d))
            best = days_from_civil(y, mo, d) * 86400 * 1000;
    }
    return best;
}

struct sort_item {
    int64_t t;
    char *path;
};

static int sort_cmp(const void *a, const void *b)
{
    const struct sort_item *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return strcmp(x->path, y->path);
}

int ct_archive_list(const char *dir, char ***paths, size_t *n, unsigned *unreadable, char *err,
                    size_t errlen)
{
    *paths = NULL;
    *n = 0;
    *unreadable = 0;
    DIR *probe = opendir(dir);
    if (!probe) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", dir, strerror(e));
        return -e;
    }
    closedir(probe);
    struct file_list fl = {0};
    size_t dl = strlen(dir);
    char *root = xstrndup(dir, dl > 1 && dir[dl - 1] == '/' ? dl - 1 : dl);
    walk(root, &fl, 0);
    free(root);
    struct sort_item *items = xcalloc(fl.n ? fl.n : 1, sizeof *items);
    for (size_t i = 0; i < fl.n; i++) {
        items[i].t = ct_archive_file_time(fl.paths[i]);
        items[i].path = fl.paths[i];
    }
    qsort(items, fl.n, sizeof *items, sort_cmp);
    for (size_t i = 0; i < fl.n; i++)
        fl.paths[i] = items[i].path;
    free(items);
    *paths = fl.paths;
    *n = fl.n;
    *unreadable = fl.unreadable;
    return 0;
}

/* ---- streaming reader ---------------------------------------------------------------- */

struct reader {
    gzFile gz;
    const char *path;
    unsigned char buf[65536];
    size_t pos, len;
    bool eof;
    int error; /* -EIO after a zlib error */
    char *cap; /* capture buffer of the current element */
    size_t ncap, capcap;
    bool capturing;
    uint64_t offset; /* bytes consumed, for messages */
    char *err;
    size_t errlen;
};

/* Returns the next byte without consuming it, or -1 at the end or on an error. */
static int peek(struct reader *r)
{
    if (r->pos < r->len)
        return r->buf[r->pos];
    if (r->eof || r->error)
        return -1;
    int got = gzread(r->gz, r->buf, sizeof r->buf);
    int zerr = Z_OK;
    const char *msg = gzerror(r->gz, &zerr);
    if (got < 0 || (zerr != Z_OK && zerr != Z_STREAM_END)) {
        /* zlib prefixes its message with the path. */
        size_t pl = strlen(r->path);
        if (msg && strncmp(msg, r->path, pl) == 0 && strncmp(msg + pl, ": ", 2) == 0)
            msg += pl + 2;
        snprintf(r->err, r->errlen, "%s: %s at byte %llu", r->path,
                 zerr == Z_BUF_ERROR ? "truncated gzip stream"
                 : msg               ? msg
                                     : "gzip error",
                 (unsigned long long)r->offset + (got > 0 ? (unsigned long long)got : 0));
        r->error = -EIO;
        return -1;
    }
    if (got == 0) {
        r->eof = true;
        return -1;
    }
    r->pos = 0;
    r->len = (size_t)got;
    return r->buf[0];
}

/* Consumes one byte (appending it to the capture when capturing); returns it or -1. */
static int next(struct reader *r)
{
    int c = peek(r);
    if (c < 0)
        return -1;
    r->pos++;
    r->offset++;
    if (r->capturing) {
        if (r->ncap + 1 >= CT_RECORD_MAX)
            return -2;
        r->cap = xgrow(r->cap, &r->capcap, r->ncap + 2, 1);
        r->cap[r->ncap++] = (char)c;
    }
    return c;
}

static int skip_ws(struct reader *r)
{
    int c;
    while ((c = peek(r)) == ' ' || c == '\t' || c == '\n' || c == '\r')
        next(r);
    return c;
}

/* Fails with a JSON-shape message (or the pending zlib error). */
static int bad(struct reader *r, const char *what)
{
    if (r->error)
        return r->error;
    if (r->eof)
        snprintf(r->err, r->errlen, "%s: truncated JSON at byte %llu (%s)", r->path,
                 (unsigned long long)r->offset, what);
    else
        snprintf(r->err, r->errlen, "%s: malformed JSON at byte %llu: %s", r->path,
                 (unsigned long long)r->offset, what);
    return -EBADMSG;
}

static int too_big(struct reader *r)
{
    snprintf(r->err, r->errlen, "%s: a record larger than %u MiB at byte %llu", r->path,
             CT_RECORD_MAX >> 20, (unsigned long long)r->offset);
    return -EFBIG;
}

/* Consumes a string (opening quote next); copies its raw bytes (escapes undecoded) into
 * `out` when given. */
static int scan_string(struct reader *r, char *out, size_t outlen)
{
    size_t n = 0;
    if (next(r) != '"')
        return bad(r, "string expected");
    for (;;) {
        int c = next(r);
        if (c == -2)
            return too_big(r);
        if (c < 0)
            return bad(r, "unterminated string");
        if (c == '"')
            break;
        if (c == '\\') {
            c = next(r);
            if (c == -2)
                return too_big(r);
            if (c < 0)
                return bad(r, "unterminated string");
        }
        if (out && n + 1 < outlen)
            out[n++] = (char)c;
    }
    if (out && outlen)
        out[n] = '\0';
    return 0;
}

/* Consumes one JSON value (whitespace skipped before it), checking only its bracket
 * structure; jansson checks the rest of whatever is captured. */
static int scan_value(struct reader *r)
{
    int c = skip_ws(r);
    if (c == '"')
        return scan_string(r, NULL, 0);
    if (c == '{' || c == '[') {
        char stack[CT_DEPTH_MAX];
        int depth = 0;
        for (;;) {
            c = peek(r);
            if (c == '"') {
                int rc = scan_string(r, NULL, 0);
                if (rc < 0)
                    return rc;
                continue;
            }
            c = next(r);
            if (c == -2)
                return too_big(r);
            if (c < 0)
                return bad(r, "unterminated object or array");
            if (c == '{' || c == '[') {
                if (depth >= CT_DEPTH_MAX)
                    return bad(r, "nested too deeply");
                stack[depth++] = (char)(c == '{' ? '}' : ']');
            } else if (c == '}' || c == ']') {
                if (depth == 0 || stack[depth - 1] != c)
                    return bad(r, "mismatched bracket");
                if (--depth == 0)
                    return 0;
            }
        }
    }
    /* A scalar: up to the next delimiter. */
    size_t n = 0;
    while ((c = peek(r)) >= 0 && c != ',' && c != '}' && c != ']' && c != ' ' && c != '\t' &&
           c != '\n' && c != '\r') {
        if (next(r) == -2)
            return too_big(r);
        n++;
    }
    return n ? 0 : bad(r, "value expected");
}

static int read_records(struct reader *r, ct_archive_record_cb cb, void *ctx)
{
    bool seen_records = false;
    if (skip_ws(r) == 0xEF) { /* UTF-8 byte order mark */
        next(r);
        next(r);
        next(r);
    }
    if (skip_ws(r) != '{' || next(r) != '{')
        return bad(r, "the file is not a JSON object");
    int c = skip_ws(r);
    if (c == '}') {
        next(r);
    } else {
        for (;;) {
            char key[32];
            int rc = scan_string(r, key, sizeof key);
            if (rc < 0)
                return rc;
            if (skip_ws(r) != ':' || next(r) != ':')
                return bad(r, "':' expected");
            if (strcmp(key, "Records") == 0 && !seen_records) {
                seen_records = true;
                if (skip_ws(r) != '[' || next(r) != '[')
                    return bad(r, "Records is not an array");
                c = skip_ws(r);
                if (c == ']') {
                    next(r);
                } else {
                    for (size_t idx = 0;; idx++) {
                        skip_ws(r);
                        r->ncap = 0;
                        r->capturing = true;
                        rc = scan_value(r);
                        r->capturing = false;
                        if (rc < 0)
                            return rc;
                        json_error_t je;
                        json_t *rec = json_loadb(r->cap, r->ncap, 0, &je);
                        if (!rec) {
                            snprintf(r->err, r->errlen,
                                     "%s: malformed JSON in record %zu, line %d column %d: %s",
                                     r->path, idx + 1, je.line, je.column, je.text);
                            return -EBADMSG;
                        }
                        rc = cb(rec, ctx);
                        json_decref(rec);
                        if (rc < 0)
                            return rc;
                        c = skip_ws(r);
                        if (c == ',') {
                            next(r);
                            continue;
                        }
                        if (c == ']') {
                            next(r);
                            break;
                        }
                        return bad(r, "',' or ']' expected in Records");
                    }
                }
            } else {
                rc = scan_value(r);
                if (rc < 0)
                    return rc;
            }
            c = skip_ws(r);
            if (c == ',') {
                next(r);
                skip_ws(r);
                continue;
            }
            if (c == '}') {
                next(r);
                break;
            }
            return bad(r, "',' or '}' expected");
        }
    }
    if (skip_ws(r) >= 0)
        return bad(r, "data after the end of the JSON object");
    if (r->error)
        return r->error;
    if (!seen_records) {
        snprintf(r->err, r->errlen, "%s: no Records array", r->path);
        return -EBADMSG;
    }
    return 0;
}

int ct_archive_read_file(const char *path, ct_archive_record_cb cb, void *ctx, char *err,
                         size_t errlen)
{
    struct reader *r = xcalloc(1, sizeof *r);
    r->path = path;
    r->err = err;
    r->errlen = errlen;
    int rc;
    r->gz = gzopen(path, "rb");
    if (!r->gz) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno ? errno : ENOMEM));
        rc = -EIO;
        goto out;
    }
    gzbuffer(r->gz, 128 * 1024);
    rc = read_records(r, cb, ctx);
    gzclose(r->gz);
out:
    free(r->cap);
    free(r);
    return rc;
}

/* ---- publishing ---------------------------------------------------------------------- */

/* Event ids published in this run: an open-addressing set of owned strings. */
struct id_set {
    char **slots;
    size_t cap, n;
};

/* Returns the slot of `id` or the empty slot where it would go. */
static size_t id_set_slot(const struct id_set *s, const char *id)
{
    size_t i = (size_t)hash_fnv1a(id, false) & (s->cap - 1);
    while (s->slots[i] && strcmp(s->slots[i], id) != 0)
        i = (i + 1) & (s->cap - 1);
    return i;
}

static bool id_set_has(const struct id_set *s, const char *id)
{
    return s->cap && s->slots[id_set_slot(s, id)] != NULL;
}

static void id_set_add(struct id_set *s, const char *id)
{
    if ((s->n + 1) * 2 > s->cap) {
        struct id_set bigger = {xcalloc(s->cap ? s->cap * 2 : 1024, sizeof(char *)),
                                s->cap ? s->cap * 2 : 1024, s->n};
        for (size_t i = 0; i < s->cap; i++)
            if (s->slots[i])
                bigger.slots[id_set_slot(&bigger, s->slots[i])] = s->slots[i];
        free(s->slots);
        *s = bigger;
    }
    size_t i = id_set_slot(s, id);
    if (!s->slots[i]) {
        s->slots[i] = xstrdup(id);
        s->n++;
    }
}

static void id_set_clear(struct id_set *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->slots[i]);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

/* What one file contributes: its relevant events, kept until the file proved whole. */
struct file_events {
    const char *path;
    struct record **recs;
    size_t n, cap;
    uint64_t records, relevant, unusable;
};

static int collect_record(json_t *rec, void *ctx)
{
    struct file_events *fe = ctx;
    fe->records++;
    json_t *name = json_is_object(rec) ? json_object_get(rec, "eventName") : NULL;
    if (!ct_event_is_relevant(json_string_value(name)))
        return 0;
    fe->relevant++;
    char err[256];
    struct record *out = ct_event_from_trail(rec, err, sizeof err);
    if (!out) {
        LOG_ERR("%s: record %llu (%s): %s", fe->path, (unsigned long long)fe->records,
                json_string_value(name), err);
        fe->unusable++;
        return 0;
    }
    fe->recs = xgrow(fe->recs, &fe->cap, fe->n + 1, sizeof *fe->recs);
    fe->recs[fe->n++] = out;
    return 0;
}

static int by_time(const void *a, const void *b)
{
    const struct record *x = *(const struct record *const *)a;
    const struct record *y = *(const struct record *const *)b;
    if (x->u.event.time_ms != y->u.event.time_ms)
        return x->u.event.time_ms < y->u.event.time_ms ? -1 : 1;
    return strcmp(x->u.event.event_id, y->u.event.event_id);
}

static void file_events_clear(struct file_events *fe)
{
    for (size_t i = 0; i < fe->n; i++)
        record_free(fe->recs[i]);
    free(fe->recs);
    fe->recs = NULL;
    fe->n = fe->cap = 0;
}

/* Publishes one file's events in time order; returns 0 or -EINTR. */
static int publish_file(struct file_events *fe, publisher_t *pub,
                        const struct ct_archive_options *o, struct id_set *seen,
                        struct publisher_batch *batch, struct ct_archive_result *res)
{
    if (fe->n > 1)
        qsort(fe->recs, fe->n, sizeof *fe->recs, by_time);
    for (size_t i = 0; i < fe->n; i++) {
        struct record *rec = fe->recs[i];
        const char *id = rec->u.event.event_id;
        if (id_set_has(seen, id)) {
            res->duplicates++;
            continue;
        }
        record_str_set(&rec->source, o->source);
        char err[512];
        if (record_validate(rec, err, sizeof err) != 0) {
            LOG_ERR("%s: event %s cannot be published: %s", fe->path, id, err);
            res->unusable++;
            continue;
        }
        int rc = publisher_send(pub, o->topic, rec, batch, err, sizeof err);
        if (rc == -EINTR)
            return rc;
        if (rc != 0) {
            LOG_ERR("%s: event %s: %s", fe->path, id, err);
            res->failed++;
            continue;
        }
        id_set_add(seen, id);
        res->sent++;
        if (!rec->u.event.parsed)
            res->unparsed++;
    }
    return 0;
}

int ct_archive_run(const char *dir, publisher_t *pub, const struct ct_archive_options *o,
                   struct ct_archive_result *res)
{
    static volatile sig_atomic_t never;
    volatile sig_atomic_t *stop = o->stop ? o->stop : &never;
    memset(res, 0, sizeof *res);
    char err[1024];
    char **paths = NULL;
    size_t n = 0;
    unsigned unreadable = 0;
    int rc = ct_archive_list(dir, &paths, &n, &unreadable, err, sizeof err);
    if (rc < 0) {
        LOG_ERR("%s", err);
        return rc;
    }
    res->files = (unsigned)n;
    res->files_skipped = unreadable;
    if (n == 0 && unreadable == 0) {
        LOG_ERR("%s: no CloudTrail log files (*.json.gz, *.json) found", dir);
        free(paths);
        return -ENOENT;
    }
    struct id_set seen = {0};
    struct publisher_batch batch;
    memset(&batch, 0, sizeof batch);
    bool interrupted = false;
    for (size_t i = 0; i < n; i++) {
        if (*stop) {
            interrupted = true;
            break;
        }
        struct file_events fe = {.path = paths[i]};
        rc = ct_archive_read_file(paths[i], collect_record, &fe, err, sizeof err);
        if (rc < 0) {
            LOG_ERR("%s; file skipped", err);
            res->files_skipped++;
        } else {
            LOG_DEBUG("%s: %llu records, %llu relevant", paths[i], (unsigned long long)fe.records,
                      (unsigned long long)fe.relevant);
            res->records += fe.records;
            res->relevant += fe.relevant;
            res->unusable += fe.unusable;
            if (publish_file(&fe, pub, o, &seen, &batch, res) == -EINTR)
                interrupted = true;
        }
        file_events_clear(&fe);
        publisher_poll(pub);
        if (interrupted)
            break;
    }
    rc = publisher_wait(pub, &batch, -1);
    res->published = batch.delivered;
    res->failed += batch.failed;
    if (batch.failed)
        LOG_ERR("%llu events not delivered: %s", (unsigned long long)batch.failed, batch.error);
    if (rc < 0)
        LOG_ERR("waiting for delivery reports: %s", strerror(-rc));
    id_set_clear(&seen);
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    if (interrupted)
        return -EINTR;
    if (rc < 0 || res->files_skipped || res->unusable || res->failed || res->published != res->sent)
        return -EAGAIN;
    return 0;
}

int ct_archive_collect(const struct config *cfg, const char *dir, const char *collector_id,
                       volatile sig_atomic_t *stop, struct ct_archive_result *res)
{
    char err[1024];
    memset(res, 0, sizeof *res);
    const char *bootstrap = config_kafka_get(cfg, "bootstrap.servers");
    if (bootstrap && strcmp(bootstrap, "embedded") == 0) {
        LOG_ERR("bootstrap.servers = embedded keeps data inside one process: point "
                "collect --from-archive at a Kafka cluster");
        return -EINVAL;
    }
    char host[256] = "collector";
    if (!collector_id && gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "collector");
    host[sizeof host - 1] = '\0';
    publisher_t *pub = publisher_new(cfg->kafka, cfg->n_kafka, err, sizeof err);
    if (!pub) {
        LOG_ERR("kafka producer: %s", err);
        return -EINVAL;
    }
    struct ct_archive_options o = {
        .topic = cfg->topics.events,
        .source = collector_id ? collector_id : host,
        .stop = stop,
    };
    int rc = ct_archive_run(dir, pub, &o, res);
    publisher_free(pub);
    return rc;
}
