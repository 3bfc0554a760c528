/* sinks: routing, durable spools, worker threads and retries of the alert sinks.
 * The design and the lock order are described in sinks.h. */
#define LOG_MODULE "sinks"
#include "alerts/sinks.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "alerts/sink_deliver.h"
#include "alerts/sink_payload.h"
#include "fileio.h"
#include "log.h"
#include "xalloc.h"

#define COMPACT_MIN_BYTES (1024 * 1024) /* rewrite a spool once this much is delivered */

struct entry {
    uint64_t seq;
    char *line; /* the alert record's JSON, without the newline */
    size_t len;
    uint64_t end; /* spool offset just past this line's newline */
};

struct sink {
    sinks_t *owner;
    const struct config_sink *cfg;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* new entry or stop: the worker */
    pthread_cond_t idle; /* queue became empty: sinks_flush */

    /* guarded by lock */
    struct entry *q;
    size_t qhead, qn, qcap; /* live entries are q[qhead .. qn) */
    uint64_t next_seq;
    int fd;          /* spool.<gen>.jsonl, append only */
    uint64_t gen;    /* spool generation named by the cursor file */
    uint64_t cursor; /* offset of the first undelivered byte */
    uint64_t size;   /* spool file size */
    bool busy;       /* the worker is delivering q[qhead] */
    bool stop;
    int64_t stop_deadline;
    struct sinks_stat st;
    struct record **adopt; /* sinks_adopt_firing(): handed to the worker's firing list */
    size_t nadopt, capadopt;

    /* worker only */
    sink_conn_t *conn;
    log_complain_t complain;
    unsigned rand_state;
    struct record **firing; /* Alertmanager: alerts to re-post */
    size_t nfiring, capfiring;
};

struct sinks {
    const struct config *cfg;
    struct sinks_opts opts;
    struct sink *v;
    size_t n;
};

static int64_t mono_ms(void)
{
    return log_now_ms();
}

static struct timespec abs_mono(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    return ts;
}

/* ---- spool (caller holds the sink lock) ------------------------------------------------ */

static char *spool_path(const struct sink *k, uint64_t gen)
{
    return xasprintf("%s/spool.%" PRIu64 ".jsonl", k->cfg->spool_dir, gen);
}

/* Replaces the cursor file with "<gen> <offset>" atomically. The directory is not fsynced:
 * a crash may bring back the previous cursor, which only delivers a notification again. */
static int cursor_save(struct sink *k, uint64_t gen, uint64_t off)
{
    char *dst = xasprintf("%s/cursor", k->cfg->spool_dir);
    char buf[64], err[512];
    int len = snprintf(buf, sizeof buf, "%" PRIu64 " %" PRIu64 "\n", gen, off);
    int rc = fileio_write_atomic(dst, buf, (size_t)len, 0600, FILEIO_NODIRSYNC, err, sizeof err);
    if (rc < 0)
        LOG_ERR("sink %s: saving the spool cursor failed: %s", k->cfg->name, err);
    free(dst);
    return rc;
}

static void queue_push(struct sink *k, char *line, size_t len, uint64_t end)
{
    if (k->qhead > 0 && k->qhead * 2 >= k->qn) {
        memmove(k->q, k->q + k->qhead, (k->qn - k->qhead) * sizeof *k->q);
        k->qn -= k->qhead;
        k->qhead = 0;
    }
    k->q = xgrow(k->q, &k->qcap, k->qn + 1, sizeof *k->q);
    k->q[k->qn++] = (struct entry){.seq = k->next_seq++, .line = line, .len = len, .end = end};
}

static size_t queue_depth(const struct sink *k)
{
    return k->qn - k->qhead;
}

/* Rewrites the undelivered tail as the next generation once enough is delivered. */
static void spool_compact(struct sink *k)
{
    if (k->cursor < COMPACT_MIN_BYTES || k->cursor * 2 < k->size)
        return;
    uint64_t ngen = k->gen + 1;
    char *npath = spool_path(k, ngen);
    char *opath = spool_path(k, k->gen);
    int nfd = open(npath, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (nfd < 0)
        goto fail;
    for (size_t i = k->qhead; i < k->qn; i++) {
        struct entry *e = &k->q[i];
        if (fileio_write_all(nfd, e->line, e->len) != 0 || fileio_write_all(nfd, "\n", 1) != 0)
            goto fail; /* errno is the failed write's */
    }
    if (fsync(nfd) < 0 || cursor_save(k, ngen, 0) < 0)
        goto fail;
    close(k->fd);
    unlink(opath);
    k->fd = nfd;
    uint64_t base = k->cursor;
    for (size_t i = k->qhead; i < k->qn; i++)
        k->q[i].end -= base;
    k->size -= base;
    k->cursor = 0;
    k->gen = ngen;
    free(npath);
    free(opath);
    return;
fail:
    LOG_WARN("sink %s: compacting the spool failed: %s", k->cfg->name, strerror(errno));
    if (nfd >= 0) {
        close(nfd);
        unlink(npath);
    }
    free(npath);
    free(opath);
}

/* Drops the queue head (delivered, given up or dropped) and advances the cursor. */
static void queue_pop(struct sink *k)
{
    struct entry *e = &k->q[k->qhead++];
    k->cursor = e->end;
    free(e->line);
    if (queue_depth(k) == 0) {
        k->qhead = k->qn = 0;
        /* Truncate first: a cursor beyond the end is read back as "nothing left". */
        if (ftruncate(k->fd, 0) == 0) {
            k->size = 0;
            k->cursor = 0;
        }
    }
    cursor_save(k, k->gen, k->cursor);
    if (queue_depth(k) > 0)
        spool_compact(k);
}

/* Appends one line and syncs it. */
static int spool_append(struct sink *k, const char *line, size_t len)
{
    char *buf = xmalloc(len + 1);
    memcpy(buf, line, len);
    buf[len] = '\n';
    int rc = fileio_write_all(k->fd, buf, len + 1);
    if (rc == 0 && fdatasync(k->fd) < 0)
        rc = -errno;
    if (rc < 0) {
        if (ftruncate(k->fd, (off_t)k->size) < 0)
            LOG_ERR("sink %s: spool truncate failed: %s", k->cfg->name, strerror(errno));
        free(buf);
        return rc;
    }
    k->size += len + 1;
    buf[len] = '\0';
    queue_push(k, buf, len, k->size);
    return 0;
}

/* Opens the spool named by the cursor, cuts a torn last line, loads the undelivered
 * lines into the queue and removes files of other generations. */
static int spool_open(struct sink *k, char *err, size_t errlen)
{
    const char *dir = k->cfg->spool_dir;
    int rc = fileio_mkdir_p(dir, 0700, NULL, 0);
    if (rc < 0) {
        snprintf(err, errlen, "sink %s: creating spool directory %s: %s", k->cfg->name, dir,
                 strerror(-rc));
        return rc;
    }
    chmod(dir, 0700);
    char *cpath = xasprintf("%s/cursor", dir);
    FILE *cf = fopen(cpath, "re");
    free(cpath);
    k->gen = 0;
    k->cursor = 0;
    if (cf) {
        if (fscanf(cf, "%" SCNu64 " %" SCNu64, &k->gen, &k->cursor) != 2) {
            k->gen = 0;
            k->cursor = 0;
        }
        fclose(cf);
    }
    char *path = spool_path(k, k->gen);
    k->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (k->fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "sink %s: opening spool %s: %s", k->cfg->name, path, strerror(-rc));
        free(path);
        return rc;
    }
    fchmod(k->fd, 0600);
    free(path);
    struct stat sb;
    if (fstat(k->fd, &sb) < 0) {
        rc = -errno;
        snprintf(err, errlen, "sink %s: stat spool: %s", k->cfg->name, strerror(-rc));
        return rc;
    }
    k->size = (uint64_t)sb.st_size;
    if (k->cursor > k->size)
        k->cursor = k->size;
    size_t n = (size_t)(k->size - k->cursor);
    char *buf = xmalloc(n + 1);
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(k->fd, buf + got, n - got, (off_t)(k->cursor + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    size_t last_nl = got;
    while (last_nl > 0 && buf[last_nl - 1] != '\n')
        last_nl--;
    if (last_nl < n) { /* a crash cut the last append short: it was never accepted */
        LOG_WARN("sink %s: dropping %zu bytes of a torn spool line", k->cfg->name, n - last_nl);
        if (ftruncate(k->fd, (off_t)(k->cursor + last_nl)) < 0)
            LOG_WARN("sink %s: spool truncate failed: %s", k->cfg->name, strerror(errno));
        k->size = k->cursor + last_nl;
    }
    size_t start = 0;
    for (size_t i = 0; i < last_nl; i++) {
        if (buf[i] != '\n')
            continue;
        if (i > start)
            queue_push(k, xstrndup(buf + start, i - start), i - start, k->cursor + i + 1);
        start = i + 1;
    }
    free(buf);
    /* Leftovers of an interrupted compaction. */
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        char keep[64];
        snprintf(keep, sizeof keep, "spool.%" PRIu64 ".jsonl", k->gen);
        while ((de = readdir(d))) {
            if (strncmp(de->d_name, "spool.", 6) == 0 && strcmp(de->d_name, keep) != 0) {
                char *p = xasprintf("%s/%s", dir, de->d_name);
                unlink(p);
                free(p);
            }
        }
        closedir(d);
    }
    fileio_fsync_dir(dir);
    k->st.spool_depth = queue_depth(k);
    if (queue_depth(k) > 0)
        LOG_INFO("sink %s: replaying %zu spooled notifications", k->cfg->name, queue_depth(k));
    return 0;
}

/* ---- worker ---------------------------------------------------------------------------- */

static void firing_update(struct sink *k, struct record *rec)
{
    const char *fp = rec->u.alert.fingerprint;
    size_t i;
    for (i = 0; i < k->nfiring; i++)
        if (strcmp(k->firing[i]->u.alert.fingerprint, fp) == 0)
            break;
    if (strcmp(rec->u.alert.state, "firing") == 0) {
        if (i < k->nfiring) {
            record_free(k->firing[i]);
            k->firing[i] = rec;
            return;
        }
        k->firing = xgrow(k->firing, &k->capfiring, k->nfiring + 1, sizeof *k->firing);
        k->firing[k->nfiring++] = rec;
        return;
    }
    if (i < k->nfiring) {
        record_free(k->firing[i]);
        k->firing[i] = k->firing[--k->nfiring];
    }
    record_free(rec);
}

static int64_t backoff_delay(struct sink *k, unsigned failures)
{
    const struct sinks_opts *o = &k->owner->opts;
    int64_t d = o->backoff_min_ms;
    for (unsigned i = 1; i < failures && d < o->backoff_max_ms; i++)
        d *= 2;
    if (d > o->backoff_max_ms)
        d = o->backoff_max_ms;
    /* Jitter: somewhere in [d/2, d]. */
    int64_t half = d / 2;
    return half + (half > 0 ? (int64_t)(rand_r(&k->rand_state) % (unsigned)(half + 1)) : 0);
}

static void wait_until(struct sink *k, int64_t when)
{
    struct timespec ts = abs_mono(when);
    pthread_cond_timedwait(&k->wake, &k->lock, &ts);
}

static void *worker(void *arg)
{
    struct sink *k = arg;
    const struct sinks_opts *o = &k->owner->opts;
    const char *name = k->cfg->name;
    const char *type = config_sink_type_name(k->cfg->type);
    bool am = k->cfg->type == CONFIG_SINK_ALERTMANAGER;
    unsigned failures = 0;
    int64_t next_attempt = 0, first_attempt = 0, next_repost = mono_ms() + o->repost_interval_ms;
    uint64_t attempt_seq = UINT64_MAX;
    char err[512];

    pthread_mutex_lock(&k->lock);
    for (;;) {
        int64_t now = mono_ms();
        if (k->stop && (queue_depth(k) == 0 || now >= k->stop_deadline))
            break;
        if (k->nadopt > 0) {
            /* Alerts firing before a restart: re-posted now and from then on, never notified
             * as new. */
            for (size_t i = 0; i < k->nadopt; i++)
                firing_update(k, k->adopt[i]);
            k->nadopt = 0;
            next_repost = now;
        }
        if (am && k->nfiring > 0 && now >= next_repost && failures == 0) {
            pthread_mutex_unlock(&k->lock);
            int rc = sink_conn_repost(k->conn, (const struct record *const *)k->firing, k->nfiring,
                                      err, sizeof err);
            pthread_mutex_lock(&k->lock);
            if (rc == 0)
                k->st.reposts++;
            else
                log_complain(&k->complain, LOG_LEVEL_WARN, LOG_MODULE,
                             "sink %s (%s): re-posting %zu firing alerts failed: %s", name, type,
                             k->nfiring, err);
            next_repost = mono_ms() + o->repost_interval_ms;
            continue;
        }
        if (queue_depth(k) == 0) {
            pthread_cond_broadcast(&k->idle);
            if (k->stop)
                continue;
            if (am && k->nfiring > 0)
                wait_until(k, next_repost);
            else
                pthread_cond_wait(&k->wake, &k->lock);
            continue;
        }
        if (now < next_attempt) {
            int64_t until = next_attempt;
            if (k->stop && k->stop_deadline < until)
                until = k->stop_deadline;
            if (am && k->nfiring > 0 && failures == 0 && next_repost < until)
                until = next_repost;
            wait_until(k, until);
            continue;
        }
        struct entry *e = &k->q[k->qhead];
        uint64_t seq = e->seq;
        char *line = xstrndup(e->line, e->len);
        size_t len = e->len;
        if (seq != attempt_seq) {
            attempt_seq = seq;
            first_attempt = now;
            failures = 0;
        }
        k->busy = true;
        pthread_mutex_unlock(&k->lock);

        struct record *rec = NULL;
        char derr[256];
        int rc;
        if (record_decode(line, len, &rec, derr, sizeof derr) < 0 || rec->type != RECORD_ALERT) {
            snprintf(err, sizeof err, "undecodable spool entry: %s", rec ? "not an alert" : derr);
            rc = SINK_FINAL;
        } else {
            rc = sink_conn_send(k->conn, rec, err, sizeof err);
        }
        free(line);

        pthread_mutex_lock(&k->lock);
        k->busy = false;
        now = mono_ms();
        bool head_same = queue_depth(k) > 0 && k->q[k->qhead].seq == seq;
        if (rc == 0) {
            k->st.delivered++;
            k->st.up = true;
            log_relief(&k->complain, LOG_MODULE, "sink %s (%s): delivering again", name, type);
            failures = 0;
            next_attempt = 0;
            if (head_same)
                queue_pop(k);
            if (am) {
                firing_update(k, rec);
                rec = NULL;
            }
        } else if (rc == SINK_FINAL || now - first_attempt >= k->cfg->retry_max_ms) {
            k->st.failed++;
            LOG_ERR("sink %s (%s): giving up a notification after %u attempts: %s", name, type,
                    failures + 1, err);
            failures = 0;
            next_attempt = 0;
            if (head_same)
                queue_pop(k);
        } else {
            failures++;
            k->st.retries++;
            k->st.up = false;
            int64_t d = backoff_delay(k, failures);
            next_attempt = now + d;
            log_complain(&k->complain, LOG_LEVEL_WARN, LOG_MODULE,
                         "sink %s (%s): delivery failed: %s; %zu waiting, retrying", name, type,
                         err, queue_depth(k));
        }
        record_free(rec);
        k->st.spool_depth = queue_depth(k);
        k->st.spool_bytes = k->size - k->cursor;
    }
    pthread_cond_broadcast(&k->idle);
    pthread_mutex_unlock(&k->lock);
    return NULL;
}

/* ---- public ---------------------------------------------------------------------------- */

sinks_t *sinks_new(const struct config *cfg, char *err, size_t errlen)
{
    return sinks_new_opts(cfg, NULL, err, errlen);
}

static void sink_destroy(struct sink *k)
{
    for (size_t i = k->qhead; i < k->qn; i++)
        free(k->q[i].line);
    free(k->q);
    for (size_t i = 0; i < k->nfiring; i++)
        record_free(k->firing[i]);
    free(k->firing);
    for (size_t i = 0; i < k->nadopt; i++)
        record_free(k->adopt[i]);
    free(k->adopt);
    if (k->fd >= 0)
        close(k->fd);
    sink_conn_free(k->conn);
    pthread_mutex_destroy(&k->lock);
    pthread_cond_destroy(&k->wake);
    pthread_cond_destroy(&k->idle);
}

sinks_t *sinks_new_opts(const struct config *cfg, const struct sinks_opts *opts, char *err,
                        size_t errlen)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sinks_t *s = xcalloc(1, sizeof *s);
    s->cfg = cfg;
    if (opts)
        s->opts = *opts;
    if (s->opts.backoff_min_ms <= 0)
        s->opts.backoff_min_ms = 1000;
    if (s->opts.backoff_max_ms <= 0)
        s->opts.backoff_max_ms = 60000;
    if (s->opts.backoff_max_ms < s->opts.backoff_min_ms)
        s->opts.backoff_max_ms = s->opts.backoff_min_ms;
    if (s->opts.repost_interval_ms <= 0)
        s->opts.repost_interval_ms = 60000;
    if (s->opts.http_timeout_ms <= 0)
        s->opts.http_timeout_ms = 10000;
    if (s->opts.drain_ms <= 0)
        s->opts.drain_ms = 5000;
    s->v = xcalloc(cfg->n_sinks ? cfg->n_sinks : 1, sizeof *s->v);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    for (size_t i = 0; i < cfg->n_sinks; i++) {
        struct sink *k = &s->v[i];
        k->owner = s;
        k->cfg = &cfg->sinks[i];
        k->fd = -1;
        k->st.name = k->cfg->name;
        k->st.type = k->cfg->type;
        k->st.up = true;
        k->complain = (log_complain_t)LOG_COMPLAIN_INIT;
        k->rand_state = (unsigned)time(NULL) ^ (unsigned)(i * 2654435761u) ^ (unsigned)getpid();
        pthread_mutex_init(&k->lock, NULL);
        pthread_cond_init(&k->wake, &ca);
        pthread_cond_init(&k->idle, &ca);
        s->n = i + 1;
        if (!k->cfg->spool_dir) {
            snprintf(err, errlen, "sink %s: no spool_dir", k->cfg->name);
            goto fail;
        }
        if (spool_open(k, err, errlen) < 0)
            goto fail;
        k->conn = sink_conn_new(cfg, k->cfg, s->opts.http_timeout_ms, err, errlen);
        if (!k->conn)
            goto fail;
    }
    for (size_t i = 0; i < s->n; i++) {
        int rc = pthread_create(&s->v[i].thread, NULL, worker, &s->v[i]);
        if (rc != 0) {
            snprintf(err, errlen, "sink %s: pthread_create: %s", s->v[i].cfg->name, strerror(rc));
            goto fail;
        }
        s->v[i].started = true;
    }
    pthread_condattr_destroy(&ca);
    return s;
fail:
    pthread_condattr_destroy(&ca);
    s->opts.drain_ms = 1;
    sinks_free(s);
    return NULL;
}

static bool routes(const struct config_sink *c, const struct record *rec)
{
    if (sink_severity_rank(rec->u.alert.severity) < (int)c->min_severity)
        return false;
    if (c->rules.n == 0)
        return true;
    for (size_t i = 0; i < c->rules.n; i++)
        if (strcmp(c->rules.items[i], rec->u.alert.rule) == 0)
            return true;
    return false;
}

int sinks_submit(sinks_t *s, const struct record *alert)
{
    if (!alert || alert->type != RECORD_ALERT)
        return -EINVAL;
    char verr[256];
    if (record_validate(alert, verr, sizeof verr) < 0 ||
        sink_severity_rank(alert->u.alert.severity) < 0)
        return -EINVAL;
    if (strcmp(alert->u.alert.state, "pending") == 0)
        return 0;
    char *line = NULL;
    size_t len = 0;
    int rc = record_encode(alert, &line, &len);
    if (rc < 0)
        return rc;
    int taken = 0, first_err = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct sink *k = &s->v[i];
        if (!routes(k->cfg, alert))
            continue;
        pthread_mutex_lock(&k->lock);
        rc = spool_append(k, line, len);
        if (rc == 0) {
            taken++;
            k->st.submitted++;
            /* Beyond spool_max the oldest go; the one just taken always stays. */
            while (k->size - k->cursor > k->cfg->spool_max && queue_depth(k) > 1) {
                /* An in-flight head may go too: the worker ignores its outcome then. */
                queue_pop(k);
                k->st.dropped++;
            }
            k->st.spool_depth = queue_depth(k);
            k->st.spool_bytes = k->size - k->cursor;
            pthread_cond_signal(&k->wake);
        } else {
            LOG_ERR("sink %s: appending to the spool in %s failed: %s", k->cfg->name,
                    k->cfg->spool_dir, strerror(-rc));
            if (!first_err)
                first_err = rc;
        }
        pthread_mutex_unlock(&k->lock);
    }
    free(line);
    return first_err ? first_err : taken;
}

int sinks_adopt_firing(sinks_t *s, const struct record *alert)
{
    if (!alert || alert->type != RECORD_ALERT)
        return -EINVAL;
    char verr[256];
    if (record_validate(alert, verr, sizeof verr) < 0 ||
        strcmp(alert->u.alert.state, "firing") != 0)
        return -EINVAL;
    char *line = NULL;
    size_t len = 0;
    int rc = record_encode(alert, &line, &len);
    if (rc < 0)
        return rc;
    int taken = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct sink *k = &s->v[i];
        if (k->cfg->type != CONFIG_SINK_ALERTMANAGER || !routes(k->cfg, alert))
            continue;
        struct record *copy = NULL;
        if (record_decode(line, len, &copy, verr, sizeof verr) < 0) {
            record_free(copy);
            free(line);
            return -EINVAL;
        }
        pthread_mutex_lock(&k->lock);
        k->adopt = xgrow(k->adopt, &k->capadopt, k->nadopt + 1, sizeof *k->adopt);
        k->adopt[k->nadopt++] = copy;
        pthread_cond_signal(&k->wake);
        pthread_mutex_unlock(&k->lock);
        taken++;
    }
    free(line);
    return taken;
}

int sinks_flush(sinks_t *s, int64_t timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    for (size_t i = 0; i < s->n; i++) {
        struct sink *k = &s->v[i];
        pthread_mutex_lock(&k->lock);
        while (queue_depth(k) > 0 || k->busy) {
            if (mono_ms() >= deadline) {
                pthread_mutex_unlock(&k->lock);
                return -ETIMEDOUT;
            }
            struct timespec ts = abs_mono(deadline);
            pthread_cond_timedwait(&k->idle, &k->lock, &ts);
        }
        pthread_mutex_unlock(&k->lock);
    }
    return 0;
}

size_t sinks_count(const sinks_t *s)
{
    return s ? s->n : 0;
}

int sinks_stats(sinks_t *s, size_t i, struct sinks_stat *out)
{
    if (!s || i >= s->n)
        return -ENOENT;
    struct sink *k = &s->v[i];
    pthread_mutex_lock(&k->lock);
    *out = k->st;
    out->spool_depth = queue_depth(k);
    out->spool_bytes = k->size - k->cursor;
    pthread_mutex_unlock(&k->lock);
    return 0;
}

void sinks_free(sinks_t *s)
{
    if (!s)
        return;
    int64_t deadline = mono_ms() + s->opts.drain_ms;
    for (size_t i = 0; i < s->n; i++) {
        struct sink *k = &s->v[i];
        pthread_mutex_lock(&k->lock);
        k->stop = true;
        k->stop_deadline = deadline;
        pthread_cond_signal(&k->wake);
        pthread_mutex_unlock(&k->lock);
    }
    for (size_t i = 0; i < s->n; i++) {
        struct sink *k = &s->v[i];
        if (k->started)
            pthread_join(k->thread, NULL);
        if (queue_depth(k) > 0)
            LOG_WARN("sink %s: %zu notifications stay spooled in %s for the next start",
                     k->cfg->name, queue_depth(k), k->cfg->spool_dir);
        sink_destroy(k);
    }
    free(s->v);
    free(s);
}
