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
#include <jansson.h>

#include "alerts/sink_deliver.h"
#include "alerts/sink_payload.h"
#include "fileio.h"
#include "log.h"
#include "xalloc.h"

#define COMPACT_MIN_BYTES (1024 * 1024) /* rewrite a spool once this much is delivered */
#define SPOOLED_IDS       "spooled.ids" /* the ids ledger in the spool directory */

struct entry {
    uint64_t seq;
    char *line; /* the alert record's JSON, without the newline */
    size_t len;
    uint64_t end; /* spool offset just past this line's newline */
    char *id;     /* held entries: the notification id to record once spooled (or NULL) */
};

/* One id of the ledger, in the order spooled. */
struct spooled_id {
    char *id;
    int64_t ms; /* wall time it was spooled */
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
    char **disown; /* sinks_disown(): fingerprints the worker takes off its firing list */
    size_t ndisown, capdisown;
    int64_t repost_ms;                      /* Alertmanager re-post interval */
    int64_t backoff_min_ms, backoff_max_ms; /* retry delays in effect (struct sinks_opts) */
    struct entry *held; /* not yet spooled (the spool write failed), in submit order */
    size_t nheld, capheld;
    log_complain_t spool_complain;
    /* Ids of the notifications spooled (or held) within SINKS_IDS_DAYS of the newest, at most
     * SINKS_IDS_MAX: `ids` in spool order from ids[idhead], `idset` id -> true for lookups;
     * persisted in <spool_dir>/spooled.ids (ids_fd, append only, `idlines` lines). */
    struct spooled_id *ids;
    size_t idhead, nids, capids, idlines;
    json_t *idset;
    int ids_fd;
    log_complain_t ids_complain;

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

/* Wall time in milliseconds, to the second: the ledger's clock. */
static int64_t wall_ms(void)
{
    return (int64_t)time(NULL) * 1000;
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

/* Rewrites the queue (the undelivered entries) as the next spool generation, so that
 * entries taken out of the queue are not replayed after a restart. Returns 0 or -errno
 * (logged; the current generation stays). */
static int spool_rewrite(struct sink *k)
{
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
    uint64_t end = 0;
    for (size_t i = k->qhead; i < k->qn; i++) {
        end += k->q[i].len + 1;
        k->q[i].end = end;
    }
    k->size = end;
    k->cursor = 0;
    k->gen = ngen;
    free(npath);
    free(opath);
    return 0;
fail:;
    int rc = errno ? -errno : -EIO;
    LOG_WARN("sink %s: rewriting the spool failed: %s", k->cfg->name, strerror(errno));
    if (nfd >= 0) {
        close(nfd);
        unlink(npath);
    }
    free(npath);
    free(opath);
    return rc;
}

/* Rewrites the spool once most of it is delivered. */
static void spool_compact(struct sink *k)
{
    if (k->cursor < COMPACT_MIN_BYTES || k->cursor * 2 < k->size)
        return;
    spool_rewrite(k);
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

/* ---- the ledger of spooled ids (caller holds the sink lock) ---------------------------- */

static bool ids_known(const struct sink *k, const char *id)
{
    return id && json_object_get(k->idset, id) != NULL;
}

/* Forgets the ids older than SINKS_IDS_DAYS before the newest (the last: the ledger is in
 * spool order), and the oldest beyond SINKS_IDS_MAX. */
static void ids_expire(struct sink *k)
{
    size_t live = k->nids - k->idhead;
    int64_t newest = live ? k->ids[k->nids - 1].ms : 0;
    while (k->idhead < k->nids && (k->nids - k->idhead > SINKS_IDS_MAX ||
                                   k->ids[k->idhead].ms < newest - SINKS_IDS_DAYS * 86400000LL)) {
        struct spooled_id *x = &k->ids[k->idhead++];
        json_object_del(k->idset, x->id);
        free(x->id);
    }
    if (k->idhead > 0 && k->idhead * 2 >= k->nids) {
        memmove(k->ids, k->ids + k->idhead, (k->nids - k->idhead) * sizeof *k->ids);
        k->nids -= k->idhead;
        k->idhead = 0;
    }
}

/* Remembers `id` (borrowed) as spooled at wall time `ms`, in memory only. */
static void ids_add(struct sink *k, const char *id, int64_t ms)
{
    if (!id || ids_known(k, id) || strcspn(id, " \t\r\n") != strlen(id))
        return; /* an id with blanks would break its ledger line: not remembered */
    k->ids = xgrow(k->ids, &k->capids, k->nids + 1, sizeof *k->ids);
    k->ids[k->nids++] = (struct spooled_id){xstrdup(id), ms};
    json_object_set_new(k->idset, id, json_true());
}

/* Rewrites the ledger with the ids remembered now (atomically), and reopens it for appends.
 * Returns 0 or -errno (logged; the old ledger stays). */
static int ids_rewrite(struct sink *k)
{
    size_t cap = 64, len = 0;
    char *buf = xmalloc(cap);
    for (size_t i = k->idhead; i < k->nids; i++) {
        char line[256];
        int n = snprintf(line, sizeof line, "%s %" PRId64 "\n", k->ids[i].id, k->ids[i].ms);
        if (n < 0 || (size_t)n >= sizeof line)
            continue;
        if (len + (size_t)n + 1 > cap) {
            cap = (len + (size_t)n + 1) * 2;
            buf = xrealloc(buf, cap);
        }
        memcpy(buf + len, line, (size_t)n);
        len += (size_t)n;
    }
    char *path = xasprintf("%s/" SPOOLED_IDS, k->cfg->spool_dir);
    char err[512];
    int rc = fileio_write_atomic(path, buf, len, 0600, 0, err, sizeof err);
    free(buf);
    if (rc == 0) {
        int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd < 0) {
            rc = -errno;
            snprintf(err, sizeof err, "open %s: %s", path, strerror(errno));
        } else {
            if (k->ids_fd >= 0)
                close(k->ids_fd);
            k->ids_fd = fd;
            k->idlines = k->nids - k->idhead;
        }
    }
    if (rc < 0)
        log_complain(&k->ids_complain, LOG_LEVEL_WARN, LOG_MODULE,
                     "sink %s: rewriting the ledger of spooled ids failed: %s", k->cfg->name, err);
    free(path);
    return rc;
}

/* Records `id` (borrowed; NULL: nothing) as spooled now, in memory and in the ledger (synced).
 * A ledger that cannot be written is logged (rate-limited): the notification stays spooled,
 * only a replay after a crash could spool it once more. */
static void ids_record(struct sink *k, const char *id)
{
    if (!id)
        return;
    int64_t now = wall_ms();
    ids_add(k, id, now);
    ids_expire(k);
    char line[256];
    int n = snprintf(line, sizeof line, "%s %" PRId64 "\n", id, now);
    int rc = n > 0 && (size_t)n < sizeof line ? fileio_write_all(k->ids_fd, line, (size_t)n)
                                              : -ENAMETOOLONG;
    if (rc == 0 && fdatasync(k->ids_fd) < 0)
        rc = -errno;
    if (rc < 0) {
        log_complain(&k->ids_complain, LOG_LEVEL_WARN, LOG_MODULE,
                     "sink %s: recording notification id %s in %s/" SPOOLED_IDS " failed: %s",
                     k->cfg->name, id, k->cfg->spool_dir, strerror(-rc));
        return;
    }
    log_relief(&k->ids_complain, LOG_MODULE, "sink %s: ledger of spooled ids writable again",
               k->cfg->name);
    if (++k->idlines > 2 * (k->nids - k->idhead) + 1024)
        ids_rewrite(k);
}

/* The id of a spool line (a new string owned by the caller), or NULL. */
static char *line_id(const char *line, size_t len)
{
    struct record *rec = NULL;
    char derr[256];
    char *id = NULL;
    if (record_decode(line, len, &rec, derr, sizeof derr) == 0 && rec->type == RECORD_ALERT &&
        rec->u.alert.id)
        id = xstrdup(rec->u.alert.id);
    record_free(rec);
    return id;
}

/* Loads the ledger, adds the ids of the spooled lines (a crash may have come between a spool
 * append and its ledger line), drops what expired and opens the ledger for appends (a ledger
 * that cannot be rewritten, its disk full, is appended to as it is; logged). */
static void ids_open(struct sink *k)
{
    char *path = xasprintf("%s/" SPOOLED_IDS, k->cfg->spool_dir);
    FILE *f = fopen(path, "re");
    struct spooled_id *v = NULL;
    size_t n = 0, cap = 0;
    int64_t newest = INT64_MIN;
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            char id[256];
            long long ms;
            /* A torn last line (no newline) was never synced as a whole: skipped. */
            if (!strchr(line, '\n') || sscanf(line, "%255s %lld", id, &ms) != 2)
                continue;
            v = xgrow(v, &cap, n + 1, sizeof *v);
            v[n++] = (struct spooled_id){xstrdup(id), (int64_t)ms};
            if (ms > newest)
                newest = (int64_t)ms;
        }
        fclose(f);
    }
    free(path);
    /* The window is measured from the newest id, not from now: a long stop forgets nothing. */
    for (size_t i = 0; i < n; i++) {
        if (v[i].ms >= newest - SINKS_IDS_DAYS * 86400000LL)
            ids_add(k, v[i].id, v[i].ms);
        free(v[i].id);
    }
    free(v);
    int64_t now = wall_ms();
    for (size_t i = k->qhead; i < k->qn; i++) {
        char *id = line_id(k->q[i].line, k->q[i].len);
        ids_add(k, id, now > newest ? now : newest);
        free(id);
    }
    ids_expire(k);
    /* Written again whole: drops a torn line, expired ids, and adds the spool's. */
    if (ids_rewrite(k) == 0)
        return;
    path = xasprintf("%s/" SPOOLED_IDS, k->cfg->spool_dir);
    k->ids_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    free(path);
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

/* Spools one notification and queues it for the worker, then records its `id` (borrowed,
 * may be NULL) in the ledger; beyond spool_max the oldest go, the one just taken always
 * stays. Returns 0 or the write's -errno. */
static int spool_take(struct sink *k, const char *line, size_t len, const char *id)
{
    int rc = spool_append(k, line, len);
    if (rc < 0)
        return rc;
    ids_record(k, id);
    k->st.submitted++;
    while (k->size - k->cursor > k->cfg->spool_max && queue_depth(k) > 1) {
        /* An in-flight head may go too: the worker ignores its outcome then. */
        queue_pop(k);
        k->st.dropped++;
    }
    k->st.spool_depth = queue_depth(k);
    k->st.spool_bytes = k->size - k->cursor;
    pthread_cond_signal(&k->wake);
    return 0;
}

/* Logs (rate-limited) that the spool could not take a notification. */
static void spool_complain(struct sink *k, int rc)
{
    char *path = spool_path(k, k->gen);
    log_complain(&k->spool_complain, LOG_LEVEL_ERR, LOG_MODULE,
                 "sink %s: writing spool %s failed: %s; %zu notifications held in memory "
                 "(at most %d) until it can be written",
                 k->cfg->name, path, strerror(-rc), k->nheld, SINKS_HELD_MAX);
    free(path);
}

/* Spools the held notifications in order, up to the first failed write. Returns 0 when
 * none is held any more, else the write's -errno (logged). */
static int held_spool(struct sink *k)
{
    size_t done = 0;
    int rc = 0;
    while (done < k->nheld &&
           (rc = spool_take(k, k->held[done].line, k->held[done].len, k->held[done].id)) == 0) {
        free(k->held[done].id);
        free(k->held[done++].line);
    }
    memmove(k->held, k->held + done, (k->nheld - done) * sizeof *k->held);
    k->nheld -= done;
    k->st.held = k->nheld;
    if (rc < 0) {
        spool_complain(k, rc);
        return rc;
    }
    log_relief(&k->spool_complain, LOG_MODULE,
               "sink %s: spool %s writable again; %zu held "
               "notifications spooled",
               k->cfg->name, k->cfg->spool_dir, done);
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

/* Takes `fp` off the fingerprints waiting for the worker to disown them (it is ours again).
 * Caller holds the sink lock. */
static void disown_cancel(struct sink *k, const char *fp)
{
    for (size_t i = 0; i < k->ndisown;) {
        if (strcmp(k->disown[i], fp) == 0) {
            free(k->disown[i]);
            k->disown[i] = k->disown[--k->ndisown];
        } else {
            i++;
        }
    }
}

static int64_t backoff_delay(struct sink *k, unsigned failures)
{
    int64_t d = k->backoff_min_ms;
    for (unsigned i = 1; i < failures && d < k->backoff_max_ms; i++)
        d *= 2;
    if (d > k->backoff_max_ms)
        d = k->backoff_max_ms;
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
    const char *name = k->cfg->name;
    const char *type = config_sink_type_name(k->cfg->type);
    bool am = k->cfg->type == CONFIG_SINK_ALERTMANAGER;
    unsigned failures = 0;
    int64_t next_attempt = 0, first_attempt = 0, next_repost = mono_ms() + k->repost_ms;
    uint64_t attempt_seq = UINT64_MAX;
    char err[512];

    pthread_mutex_lock(&k->lock);
    for (;;) {
        int64_t now = mono_ms();
        if (k->stop && (queue_depth(k) == 0 || now >= k->stop_deadline))
            break;
        for (size_t i = 0; i < k->ndisown; i++) {
            /* Another analyzer owns these alerts now: no more re-posts from here. */
            for (size_t j = 0; j < k->nfiring; j++) {
                if (strcmp(k->firing[j]->u.alert.fingerprint, k->disown[i]) == 0) {
                    record_free(k->firing[j]);
                    k->firing[j] = k->firing[--k->nfiring];
                    break;
                }
            }
            free(k->disown[i]);
        }
        k->ndisown = 0;
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
            next_repost = mono_ms() + k->repost_ms;
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
    for (size_t i = 0; i < k->ndisown; i++)
        free(k->disown[i]);
    free(k->disown);
    for (size_t i = 0; i < k->nheld; i++) {
        free(k->held[i].line);
        free(k->held[i].id);
    }
    free(k->held);
    for (size_t i = k->idhead; i < k->nids; i++)
        free(k->ids[i].id);
    free(k->ids);
    json_decref(k->idset);
    if (k->ids_fd >= 0)
        close(k->ids_fd);
    if (k->fd >= 0)
        close(k->fd);
    sink_conn_free(k->conn);
    pthread_mutex_destroy(&k->lock);
    pthread_cond_destroy(&k->wake);
    pthread_cond_destroy(&k->idle);
}

/* One timing value of a sink: the caller's override, else the sink's configured value, else
 * the default (see struct sinks_opts). */
static int64_t timing(int64_t override_ms, int64_t configured_ms, int64_t default_ms)
{
    if (override_ms > 0)
        return override_ms;
    return configured_ms > 0 ? configured_ms : default_ms;
}

sinks_t *sinks_new_opts(const struct config *cfg, const struct sinks_opts *opts, char *err,
                        size_t errlen)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    sinks_t *s = xcalloc(1, sizeof *s);
    s->cfg = cfg;
    if (opts)
        s->opts = *opts; /* fields left at 0: each sink's configured value (sinks.h) */
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
        k->ids_fd = -1;
        k->idset = json_object();
        k->ids_complain = (log_complain_t)LOG_COMPLAIN_INIT;
        k->st.name = k->cfg->name;
        k->st.type = k->cfg->type;
        k->st.up = true;
        k->repost_ms = timing(s->opts.repost_interval_ms, k->cfg->repost_interval_ms, 60000);
        k->backoff_min_ms = timing(s->opts.backoff_min_ms, k->cfg->backoff_min_ms, 1000);
        k->backoff_max_ms = timing(s->opts.backoff_max_ms, k->cfg->backoff_max_ms, 60000);
        if (k->backoff_max_ms < k->backoff_min_ms)
            k->backoff_max_ms = k->backoff_min_ms;
        k->complain = (log_complain_t)LOG_COMPLAIN_INIT;
        k->spool_complain = (log_complain_t)LOG_COMPLAIN_INIT;
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
        ids_open(k);
        k->conn = sink_conn_new(
            cfg, k->cfg, timing(s->opts.http_timeout_ms, k->cfg->timeout_ms, 10000), err, errlen);
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
    const char *id = alert->u.alert.id;
    for (size_t i = 0; i < s->n; i++) {
        struct sink *k = &s->v[i];
        if (!routes(k->cfg, alert))
            continue;
        pthread_mutex_lock(&k->lock);
        if (ids_known(k, id)) {
            /* Spooled before: a replay after a crash re-emitted it. */
            k->st.replayed++;
            LOG_INFO("sink %s: alert %s (%s) notification %s was spooled before; replay dropped",
                     k->cfg->name, alert->u.alert.fingerprint, alert->u.alert.state, id);
            pthread_mutex_unlock(&k->lock);
            continue;
        }
        /* Behind held notifications a new one waits too: the spool keeps submit order. */
        rc = k->nheld > 0 ? -EAGAIN : spool_take(k, line, len, id);
        if (rc == 0) {
            taken++;
        } else if (k->nheld < SINKS_HELD_MAX) {
            k->held = xgrow(k->held, &k->capheld, k->nheld + 1, sizeof *k->held);
            k->held[k->nheld++] = (struct entry){
                .line = xstrndup(line, len), .len = len, .id = id ? xstrdup(id) : NULL};
            ids_add(k, id, wall_ms()); /* in memory: the ledger line follows its spooling */
            k->st.held = k->nheld;
            if (rc != -EAGAIN)
                spool_complain(k, rc);
            taken++;
        } else {
            LOG_ERR("sink %s: %d notifications held in memory already; alert %s (%s) is lost "
                    "for this sink",
                    k->cfg->name, SINKS_HELD_MAX, alert->u.alert.fingerprint, alert->u.alert.state);
            if (!first_err)
                first_err = -ENOBUFS;
        }
        pthread_mutex_unlock(&k->lock);
    }
    free(line);
    return first_err ? first_err : taken;
}

int sinks_spool_held(sinks_t *s, char *err, size_t errlen)
{
    int first = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct sink *k = &s->v[i];
        pthread_mutex_lock(&k->lock);
        int rc = k->nheld > 0 ? held_spool(k) : 0;
        if (rc < 0 && !first) {
            first = rc;
            char *path = spool_path(k, k->gen);
            snprintf(err, errlen, "sink %s: spool %s: %s; %zu notifications held in memory",
                     k->cfg->name, path, strerror(-rc), k->nheld);
            free(path);
        }
        pthread_mutex_unlock(&k->lock);
    }
    return first;
}

size_t sinks_held(sinks_t *s)
{
    size_t n = 0;
    for (size_t i = 0; s && i < s->n; i++) {
        pthread_mutex_lock(&s->v[i].lock);
        n += s->v[i].nheld;
        pthread_mutex_unlock(&s->v[i].lock);
    }
    return n;
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
        disown_cancel(k, copy->u.alert.fingerprint);
        k->adopt = xgrow(k->adopt, &k->capadopt, k->nadopt + 1, sizeof *k->adopt);
        k->adopt[k->nadopt++] = copy;
        pthread_cond_signal(&k->wake);
        pthread_mutex_unlock(&k->lock);
        taken++;
    }
    free(line);
    return taken;
}

/* True when spool line `e` is an alert of fingerprint `fp` in state "firing" (*resolved is
 * set for a resolve of it). */
static bool entry_is(const struct entry *e, const char *fp, bool *resolved)
{
    struct record *rec = NULL;
    char derr[256];
    bool firing = false;
    *resolved = false;
    if (record_decode(e->line, e->len, &rec, derr, sizeof derr) == 0 && rec->type == RECORD_ALERT &&
        strcmp(rec->u.alert.fingerprint, fp) == 0) {
        firing = strcmp(rec->u.alert.state, "firing") == 0;
        *resolved = !firing;
    }
    record_free(rec);
    return firing;
}

int sinks_disown(sinks_t *s, const char *fingerprint)
{
    if (!s || !fingerprint)
        return 0;
    int dropped = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct sink *k = &s->v[i];
        bool am = k->cfg->type == CONFIG_SINK_ALERTMANAGER;
        pthread_mutex_lock(&k->lock);
        for (size_t j = 0; j < k->nadopt;) {
            if (strcmp(k->adopt[j]->u.alert.fingerprint, fingerprint) == 0) {
                record_free(k->adopt[j]);
                k->adopt[j] = k->adopt[--k->nadopt];
            } else {
                j++;
            }
        }
        if (am) {
            disown_cancel(k, fingerprint);
            k->disown = xgrow(k->disown, &k->capdisown, k->ndisown + 1, sizeof *k->disown);
            k->disown[k->ndisown++] = xstrdup(fingerprint);
        }
        /* Queued firing notifications of it: on an Alertmanager sink all of them (the new
         * owner re-posts the alert while it fires), elsewhere the repeats (a firing after a
         * firing with no resolve between); the entry being delivered and resolves stay. */
        size_t keep = k->qhead, before = queue_depth(k);
        bool seen_firing = false;
        for (size_t j = k->qhead; j < k->qn; j++) {
            bool resolved, firing = entry_is(&k->q[j], fingerprint, &resolved);
            bool in_flight = k->busy && j == k->qhead;
            if (firing && !in_flight && (am || seen_firing)) {
                free(k->q[j].line);
                continue;
            }
            if (firing)
                seen_firing = true;
            if (resolved)
                seen_firing = false;
            k->q[keep++] = k->q[j];
        }
        k->qn = keep;
        size_t n = before - queue_depth(k);
        if (n > 0) {
            dropped += (int)n;
            if (queue_depth(k) == 0 && ftruncate(k->fd, 0) == 0) {
                k->qhead = k->qn = 0;
                k->size = k->cursor = 0;
                cursor_save(k, k->gen, 0);
            } else {
                spool_rewrite(k);
            }
            k->st.spool_depth = queue_depth(k);
            k->st.spool_bytes = k->size - k->cursor;
            LOG_INFO("sink %s: %zu queued notifications of alert %s dropped: another analyzer "
                     "owns it now",
                     k->cfg->name, n, fingerprint);
        }
        pthread_cond_signal(&k->wake);
        pthread_mutex_unlock(&k->lock);
    }
    return dropped;
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
        if (k->nheld > 0)
            LOG_WARN("sink %s: %zu notifications held in memory never reached the spool in %s",
                     k->cfg->name, k->nheld, k->cfg->spool_dir);
        sink_destroy(k);
    }
    free(s->v);
    free(s);
}
