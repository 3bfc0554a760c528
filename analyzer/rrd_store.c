/* rrd_store: per-object RRD files written in event time, directly or through rrdcached.
 *
 * DESIGN: objects live in a hash table keyed by "kind/id" with the newest sample time seen
 * (queued or on disk) and the samples queued since the last flush. A store opened for
 * writing has a worker thread that does all of its file and daemon work while it runs:
 * rrd_store_update() (the caller's thread, "main") drops samples older than the newest one
 * it handed over and appends the rest to `in` under `mtx`; the worker takes `in` a batch at
 * a time, looks each object's file up on first sight (creating it when missing), skips the
 * samples the file holds already and queues the others on the object. rrd_store_flush()
 * asks for a flush under `mtx` and waits: the worker takes what was handed over before it,
 * creates what could not be created yet, writes, and answers with the result and its error
 * text. A failed lookup, creation or write keeps the samples queued, so the next flush tries
 * again and fails until it works. Reads (last, fetch, graph) and rrd_store_set_heartbeat()
 * first wait for the worker to go idle with nothing handed over: main then has the whole
 * store, daemon socket included, to itself until it hands over more, which makes the reads
 * see what they saw when the work was done on main. Each thread counts in its own stats and
 * words errors in its own buffer (stats_of(), errbuf()); the worker publishes its counts
 * under `mtx` after each round. Writes happen at a flush only, as before, so what a read
 * sees does not depend on the worker's timing (forecasts stay the same on a replay).
 *
 * Directly, each dirty file gets one rrd_updatex_r() call with all its samples. Through
 * rrdcached, we keep our own socket (librrd's client keeps one global connection and cannot
 * batch): one BATCH with UPDATE lines for every dirty file followed by FLUSH lines for the
 * same files, so the reply arrives only when the daemon wrote them. An UPDATE the daemon
 * rejects because it already holds newer samples (a replay after a crash) is answered with
 * the daemon's last time; the samples up to it count as skipped and the rest are sent
 * again. librrd's error state is per thread: every call is preceded by rrd_clear_error().
 *
 * A TCP daemon ("remote") may run on another host: nothing is done on local files. Paths
 * are "<kind>/<id>.rrd", which the daemon resolves against its base directory; a file is
 * created with CREATE -O (the same archive plan; "File exists" means another analyzer made
 * it), its last update is read with INFO after a FLUSH (an INFO that finds no file means
 * none exists; the answer is kept in the object table), series are read with FETCH and
 * listed with LIST, and graphs pass --daemon to rrd_graph so librrd fetches through it.
 */
#define LOG_MODULE "rrd"

#include "config.h" /* _GNU_SOURCE: pthread_setname_np */

#include "analyzer/rrd_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <rrd.h>
#include <rrd_client.h>

/* librrd 1.7.2's graph code, and fontconfig under it (partly from pango's font-loading
 * thread), keep allocations they never free; under AddressSanitizer they are not reported
 * as our leaks: what librrd allocates in rrd_graph_v() is ignored, and fontconfig's
 * allocations are suppressed by module. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define RRD_STORE_LIBRARY_ALLOCS_BEGIN() __lsan_disable()
#define RRD_STORE_LIBRARY_ALLOCS_END()   __lsan_enable()
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig.so\n";
}
#else
#define RRD_STORE_LIBRARY_ALLOCS_BEGIN() ((void)0)
#define RRD_STORE_LIBRARY_ALLOCS_END()   ((void)0)
#endif

#include "fileio.h"
#include "hash.h"
#include "log.h"
#include "text.h"
#include "xalloc.h"

#define RRD_STORE_DEFAULT_HEARTBEAT (2 * 86400)
#define RRD_STORE_MAX_ID            128
/* Queued samples over all objects before rrd_store_update() writes them itself. */
#define RRD_STORE_MAX_QUEUED 65536
/* rrdcached reads commands of at most RRD_CMD_MAX (4096) bytes; stay below. */
#define RRD_STORE_MAX_LINE 4000
/* Socket timeout towards rrdcached; a FLUSH of many files may take a while. */
#define RRD_STORE_IO_TIMEOUT_S 120
/* Longest wait for the daemon in one poll() call, so that a stop deadline set meanwhile
 * (rrd_store_stop_within()) ends a wait that began before it. */
#define RRD_STORE_WAIT_SLICE_MS 100
/* Rounds of resending after the daemon reported newer samples than ours. */
#define RRD_STORE_MAX_ROUNDS 3

static const char *const ds_names[RRD_DS_COUNT] = {
    "size",         "used",        "free",     "utilization",  "largest_free",
    "default_fits", "allocations", "overlaps", "noncompliant",
};

static const char *const kinds[] = {"pool", "scope", "vpc", "subnet"};
#define KIND_COUNT (sizeof kinds / sizeof kinds[0])

struct queued {
    time_t t;
    double v[RRD_DS_COUNT];
};

/* Which thread touches which field is written after each one (see DESIGN): "main" is the
 * caller's thread, "worker" the store's thread; a drained worker (worker_drain()) leaves
 * every field to the caller until it queues work again. */
struct object {
    struct object *next; /* hash chain (main) */
    char *key;           /* "kind/id" (set before the worker sees the object, then read-only) */
    char *path;          /* file path (same) */
    char *wire_path;     /* path escaped for the rrdcached protocol (same) */
    time_t last;         /* newest sample time handed to the worker (main) */
    /* Worker from here on. */
    bool resolved;    /* the file was looked up (wlast and create_at are valid) */
    time_t wlast;     /* newest sample time in the file or queued for it */
    time_t create_at; /* > 0: the file could not be created yet (disk full); its first
                         row goes before this time, the next flush retries */
    struct queued *q;
    size_t nq, capq;
    bool dirty;         /* on the dirty list */
    bool failed;        /* an attempt failed: not tried again before the next flush */
    time_t daemon_last; /* per-flush scratch: newer time reported by rrdcached, or 0 */
};

/* One sample handed from rrd_store_update() to the worker. */
struct entry {
    struct object *o;
    struct queued s;
};

/* Lock order: `mtx` is the only lock and no other lock is taken while holding it; librrd
 * and the daemon socket are used without it. */
struct rrd_store {
    char *dir;
    int step;
    int heartbeat;
    char *daemon; /* NULL = direct */
    bool remote;  /* TCP daemon: files on its host, paths relative to its base directory */
    int fd;       /* rrdcached connection, -1 when closed (worker; main while drained) */
    char rbuf[8192];
    size_t rlen;
    struct object **table; /* main */
    size_t nbuckets, nobjects;
    struct object **dirty; /* worker */
    size_t ndirty, capdirty;
    size_t queued_total;          /* samples in the objects' queues (worker) */
    size_t unflushed;             /* samples handed over since the last flush asked (main) */
    struct rrd_store_stats stats; /* main's counts; the worker's are in wstats */
    log_complain_t complain;
    char err[1024]; /* main's error text */

    /* The worker (none for a store opened for reading: its calls run on the caller). */
    bool threaded;
    pthread_t worker;
    pthread_mutex_t mtx;
    pthread_cond_t work_cv; /* main -> worker: work queued, flush asked or stop */
    pthread_cond_t done_cv; /* worker -> main: a round done */
    struct entry *in;       /* samples not taken by the worker yet (mtx) */
    size_t nin, capin;      /* (mtx) */
    uint64_t flush_req;     /* flushes asked for (mtx) */
    uint64_t bound_req;     /* the last one asked by rrd_store_update() (mtx) */
    uint64_t flush_done;    /* flushes answered, with flush_rc of the last one (mtx) */
    int flush_rc;           /* (mtx) */
    bool busy;              /* the worker is running a round (mtx) */
    bool stop;              /* rrd_store_free(): end after the queued work (mtx) */
    /* The worker's counts (worker). Its `queued` counts down (modulo 2^64) the samples main
     * counted as queued that turn out to be replays of what the file holds, so the sums keep
     * the meaning they had when main looked the files up itself. */
    struct rrd_store_stats wstats;
    struct rrd_store_stats wpub; /* wstats as of the worker's last round (mtx) */
    char werr[1024];             /* the worker's error text (worker) */
    /* > 0: monotonic ms (log_now_ms()) after which no daemon wait goes on and no command
     * starts (rrd_store_stop_within(); any thread) */
    _Atomic int64_t give_up_ms;
    /* rrd_store_stop_when(): once *stop_flag is non-zero, give_up_ms is set stop_after_ms
     * after (main sets both before the worker starts waiting for the daemon) */
    volatile sig_atomic_t *stop_flag;
    int64_t stop_after_ms;
    /* A wait for the daemon timed out since the last flush was written: no other command
     * (lookup, write or read) is sent before the next flush, so that a daemon that stopped
     * answering costs one timeout per flush, not one per file looked up or read (worker; main
     * while drained). */
    bool stalled;
};

/* The store whose worker is the calling thread, if any. */
static _Thread_local const rrd_store_t *worker_store;

static bool on_worker(const rrd_store_t *st)
{
    return worker_store == st;
}

/* Error text buffer and counters of the calling thread. */
static char *errbuf(rrd_store_t *st)
{
    return on_worker(st) ? st->werr : st->err;
}

static struct rrd_store_stats *stats_of(rrd_store_t *st)
{
    return on_worker(st) ? &st->wstats : &st->stats;
}

/* Adds the worker's counts `w` to `to` (flushes are main's alone). */
static void stats_add(struct rrd_store_stats *to, const struct rrd_store_stats *w)
{
    to->queued += w->queued; /* modulo 2^64: see wstats */
    to->written += w->written;
    to->skipped += w->skipped;
    to->created += w->created;
    to->failures += w->failures;
}

/* Error text helpers ------------------------------------------------------------------- */

static void set_err(rrd_store_t *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(rrd_store_t *st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    text_errbuf_vset(errbuf(st), sizeof st->err, fmt, ap);
    va_end(ap);
}

/* Maps librrd's error text to an errno; librrd reports strerror() text inside. */
static int errno_from_text(const char *text)
{
    static const struct {
        const char *needle;
        int err;
    } map[] = {
        {"No such file", ENOENT},     {"Permission denied", EACCES},
        {"No space", ENOSPC},         {"Read-only file system", EROFS},
        {"File exists", EEXIST},      {"Is a directory", EISDIR},
        {"Not a directory", ENOTDIR}, {"Too many open files", EMFILE},
    };
    if (text == NULL)
        return -EIO;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strstr(text, map[i].needle) != NULL)
            return -map[i].err;
    return -EIO;
}

/* Takes librrd's pending error for a failed call on `path` (after `what`). */
static int take_rrd_error(rrd_store_t *st, const char *what, const char *path)
{
    const char *text = rrd_test_error() ? rrd_get_error() : "unknown error";
    int rc = errno_from_text(text);
    set_err(st, "%s %s: %s", what, path, text);
    rrd_clear_error();
    stats_of(st)->failures++;
    return rc;
}

/* Names and keys ----------------------------------------------------------------------- */

struct rrd_sample rrd_sample_unknown(void)
{
    struct rrd_sample s = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    return s;
}

double rrd_sample_get(const struct rrd_sample *s, enum rrd_ds ds)
{
    switch (ds) {
    case RRD_DS_SIZE:
        return s->size;
    case RRD_DS_USED:
        return s->used;
    case RRD_DS_FREE:
        return s->free;
    case RRD_DS_UTILIZATION:
        return s->utilization;
    case RRD_DS_LARGEST_FREE:
        return s->largest_free;
    case RRD_DS_DEFAULT_FITS:
        return s->default_fits;
    case RRD_DS_ALLOCATIONS:
        return s->allocations;
    case RRD_DS_OVERLAPS:
        return s->overlaps;
    case RRD_DS_NONCOMPLIANT:
        return s->noncompliant;
    case RRD_DS_COUNT:
        break;
    }
    return NAN;
}

const char *rrd_ds_name(enum rrd_ds ds)
{
    return (unsigned)ds < RRD_DS_COUNT ? ds_names[ds] : NULL;
}

static bool valid_kind(const char *kind)
{
    if (kind == NULL)
        return false;
    for (size_t i = 0; i < KIND_COUNT; i++)
        if (strcmp(kind, kinds[i]) == 0)
            return true;
    return false;
}

static bool valid_id(const char *id)
{
    size_t n;
    if (id == NULL || id[0] == '\0' || id[0] == '.')
        return false;
    n = strlen(id);
    if (n > RRD_STORE_MAX_ID || strstr(id, "..") != NULL)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok)
            return false;
    }
    return true;
}

int rrd_store_valid_key(const char *kind, const char *id)
{
    return valid_kind(kind) && valid_id(id);
}

int rrd_store_path(const rrd_store_t *st, const char *kind, const char *id, char *buf,
                   size_t buflen)
{
    int n;
    if (!rrd_store_valid_key(kind, id))
        return -EINVAL;
    if (st->remote)
        n = snprintf(buf, buflen, "%s/%s.rrd", kind, id);
    else
        n = snprintf(buf, buflen, "%s/%s/%s.rrd", st->dir, kind, id);
    if (n < 0 || (size_t)n >= buflen)
        return -ENAMETOOLONG;
    return 0;
}

/* Escapes spaces and backslashes for rrdcached's command parser. */
static char *wire_escape(const char *path)
{
    size_t n = strlen(path), j = 0;
    char *out = xmalloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        if (path[i] == ' ' || path[i] == '\\')
            out[j++] = '\\';
        out[j++] = path[i];
    }
    out[j] = '\0';
    return out;
}

/* Object table ------------------------------------------------------------------------- */

static uint64_t hash_key(const char *s)
{
    return hash_fnv1a(s, false);
}

static struct object *table_find(rrd_store_t *st, const char *key)
{
    struct object *o = st->table[hash_key(key) & (st->nbuckets - 1)];
    for (; o != NULL; o = o->next)
        if (strcmp(o->key, key) == 0)
            return o;
    return NULL;
}

static void table_insert(rrd_store_t *st, struct object *o)
{
    size_t b;
    if (st->nobjects + 1 > st->nbuckets / 4 * 3) {
        size_t nb = st->nbuckets * 2;
        struct object **nt = xcalloc(nb, sizeof *nt);
        for (size_t i = 0; i < st->nbuckets; i++) {
            struct object *p = st->table[i], *next;
            for (; p != NULL; p = next) {
                next = p->next;
                b = hash_key(p->key) & (nb - 1);
                p->next = nt[b];
                nt[b] = p;
            }
        }
        free(st->table);
        st->table = nt;
        st->nbuckets = nb;
    }
    b = hash_key(o->key) & (st->nbuckets - 1);
    o->next = st->table[b];
    st->table[b] = o;
    st->nobjects++;
}

static void object_free(struct object *o)
{
    if (o == NULL)
        return;
    free(o->key);
    free(o->path);
    free(o->wire_path);
    free(o->q);
    free(o);
}

/* rrdcached connection ----------------------------------------------------------------- */

static void daemon_close(rrd_store_t *st)
{
    if (st->fd >= 0)
        close(st->fd);
    st->fd = -1;
    st->rlen = 0;
}

/* True (with the reason in the thread's error text) once the stop deadline has passed. */
static bool daemon_given_up(rrd_store_t *st)
{
    if (st->stop_flag != NULL && *st->stop_flag && atomic_load(&st->give_up_ms) <= 0)
        rrd_store_stop_within(st, st->stop_after_ms);
    int64_t give_up = atomic_load(&st->give_up_ms);
    if (give_up <= 0 || log_now_ms() < give_up)
        return false;
    set_err(st, "rrdcached at %s: no answer before the stop deadline; given up", st->daemon);
    return true;
}

/* Waits until `fd` is ready for `events` (POLLIN or POLLOUT): at most RRD_STORE_IO_TIMEOUT_S,
 * and never past the stop deadline. Returns 0 (also for an error or hang-up, which the next
 * call on the socket reports), -ETIMEDOUT with the reason in the thread's error text, or
 * -errno of poll(). */
static int daemon_wait(rrd_store_t *st, int fd, short events, const char *what)
{
    int64_t end = log_now_ms() + RRD_STORE_IO_TIMEOUT_S * 1000;
    for (;;) {
        if (daemon_given_up(st))
            return -ETIMEDOUT;
        int64_t left = end - log_now_ms();
        if (left <= 0) {
            set_err(st, "rrdcached at %s: %s: no answer within %d s", st->daemon, what,
                    RRD_STORE_IO_TIMEOUT_S);
            st->stalled = true;
            return -ETIMEDOUT;
        }
        struct pollfd pfd = {.fd = fd, .events = events};
        int n =
            poll(&pfd, 1, (int)(left < RRD_STORE_WAIT_SLICE_MS ? left : RRD_STORE_WAIT_SLICE_MS));
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR) {
            int rc = -errno;
            set_err(st, "rrdcached at %s: %s: poll: %s", st->daemon, what, strerror(errno));
            return rc;
        }
    }
}

/* connect() of a non-blocking socket, waited for like the daemon's answers. */
static int daemon_connect_fd(rrd_store_t *st, int fd, const struct sockaddr *sa, socklen_t len)
{
    if (connect(fd, sa, len) == 0)
        return 0;
    if (errno != EINPROGRESS) /* EAGAIN: a unix socket's backlog is full; the next flush retries */
        return -errno;
    int rc = daemon_wait(st, fd, POLLOUT, "connect");
    if (rc < 0)
        return rc;
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
        return -errno;
    return -soerr;
}

static int daemon_connect(rrd_store_t *st)
{
    const char *addr = st->daemon;
    int fd = -1, rc;

    if (st->fd >= 0)
        return 0;
    if (daemon_given_up(st)) {
        stats_of(st)->failures++;
        return -ETIMEDOUT;
    }
    if (st->stalled) {
        set_err(st,
                "rrdcached at %s: no answer within %d s to an earlier command; not asked again "
                "before the next flush",
                addr, RRD_STORE_IO_TIMEOUT_S);
        stats_of(st)->failures++;
        return -ETIMEDOUT;
    }
    if (strncmp(addr, "unix:", 5) == 0 || addr[0] == '/') {
        struct sockaddr_un sun;
        const char *path = addr[0] == '/' ? addr : addr + 5;
        memset(&sun, 0, sizeof sun);
        sun.sun_family = AF_UNIX;
        if (strlen(path) >= sizeof sun.sun_path) {
            set_err(st, "rrdcached address %s: socket path too long", addr);
            return -ENAMETOOLONG;
        }
        memcpy(sun.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            rc = -errno;
            goto fail;
        }
        if ((rc = daemon_connect_fd(st, fd, (struct sockaddr *)&sun, sizeof sun)) < 0)
            goto fail;
    } else {
        char host[256], port[16] = "42217";
        struct addrinfo hints, *res = NULL, *ai;
        const char *colon;
        size_t hl;
        if (addr[0] == '[') {
            const char *end = strchr(addr, ']');
            if (end == NULL)
                goto bad_addr;
            hl = (size_t)(end - addr - 1);
            if (hl >= sizeof host)
                goto bad_addr;
            memcpy(host, addr + 1, hl);
            host[hl] = '\0';
            colon = end[1] == ':' ? end + 1 : NULL;
        } else {
            colon = strrchr(addr, ':');
            hl = colon ? (size_t)(colon - addr) : strlen(addr);
            if (hl == 0 || hl >= sizeof host)
                goto bad_addr;
            memcpy(host, addr, hl);
            host[hl] = '\0';
        }
        if (colon != NULL) {
            int n = snprintf(port, sizeof port, "%s", colon + 1);
            if (n <= 0 || (size_t)n >= sizeof port)
                goto bad_addr;
        }
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        rc = getaddrinfo(host, port, &hints, &res);
        if (rc != 0) {
            set_err(st, "rrdcached at %s: cannot resolve: %s", addr, gai_strerror(rc));
            return -EHOSTUNREACH;
        }
        rc = -ECONNREFUSED;
        for (ai = res; ai != NULL; ai = ai->ai_next) {
            fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                        ai->ai_protocol);
            if (fd < 0) {
                rc = -errno;
                continue;
            }
            if ((rc = daemon_connect_fd(st, fd, ai->ai_addr, ai->ai_addrlen)) == 0)
                break;
            close(fd);
            fd = -1;
            if (rc == -ETIMEDOUT)
                break; /* the wait's text says why */
        }
        freeaddrinfo(res);
        if (fd < 0)
            goto fail_msg;
    }
    /* Blocking from here, each send and recv waiting at most one slice: an answer that comes
     * within it costs one system call; longer waits go on in daemon_wait(). */
    struct timeval tv = {.tv_sec = 0, .tv_usec = RRD_STORE_WAIT_SLICE_MS * 1000};
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
        rc = -errno;
        goto fail;
    }
    st->fd = fd;
    st->rlen = 0;
    return 0;

bad_addr:
    set_err(st, "rrdcached address '%s' is not unix:/path or host:port", addr);
    return -EINVAL;
fail:
    if (fd >= 0)
        close(fd);
fail_msg:
    /* A missing unix socket means the daemon is not running: report it as refused. */
    if (rc == -ENOENT)
        rc = -ECONNREFUSED;
    if (rc != -ETIMEDOUT) /* else daemon_wait() worded it */
        set_err(st, "cannot connect to rrdcached at %s: %s", addr, strerror(-rc));
    stats_of(st)->failures++;
    return rc;
}

static int daemon_write(rrd_store_t *st, const char *buf, size_t len)
{
    int rc = 0;
    while (len > 0 && rc == 0) {
        ssize_t w = send(st->fd, buf, len, MSG_NOSIGNAL);
        if (w > 0) {
            buf += w;
            len -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            rc = daemon_wait(st, st->fd, POLLOUT, "write");
            if (rc < 0) {
                daemon_close(st);
                stats_of(st)->failures++;
                return rc;
            }
        } else if (w < 0 && errno != EINTR) {
            rc = -errno;
        }
    }
    if (rc == 0)
        return 0;
    set_err(st, "rrdcached at %s: write: %s", st->daemon, strerror(-rc));
    daemon_close(st);
    stats_of(st)->failures++;
    return rc;
}

/* Reads one reply line (without the newline) into `line`. */
static int daemon_read_line(rrd_store_t *st, char *line, size_t cap)
{
    for (;;) {
        char *nl = memchr(st->rbuf, '\n', st->rlen);
        if (nl != NULL) {
            size_t n = (size_t)(nl - st->rbuf);
            size_t copy = n < cap - 1 ? n : cap - 1;
            memcpy(line, st->rbuf, copy);
            line[copy] = '\0';
            memmove(st->rbuf, nl + 1, st->rlen - n - 1);
            st->rlen -= n + 1;
            return 0;
        }
        if (st->rlen == sizeof st->rbuf) {
            /* An over-long line: keep its start, drop the rest. */
            st->rlen = cap < sizeof st->rbuf ? cap : sizeof st->rbuf / 2;
        }
        ssize_t r = recv(st->fd, st->rbuf + st->rlen, sizeof st->rbuf - st->rlen, 0);
        if (r > 0) {
            st->rlen += (size_t)r;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int rc = daemon_wait(st, st->fd, POLLIN, "read");
            if (rc == 0)
                continue;
            daemon_close(st);
            stats_of(st)->failures++;
            return rc;
        }
        int rc = r == 0 ? -ECONNRESET : (errno == EINTR ? 0 : -errno);
        if (rc == 0)
            continue;
        set_err(st, "rrdcached at %s: read: %s", st->daemon,
                r == 0 ? "connection closed by daemon" : strerror(-rc));
        daemon_close(st);
        stats_of(st)->failures++;
        return rc;
    }
}

/* Called with each line that follows a successful status line; returns 0 to go on or
 * -errno to fail the command (the remaining lines are still read). */
typedef int (*daemon_line_fn)(rrd_store_t *st, char *line, void *ctx);

/* Sends one command line; returns 0 when the daemon answered with a status >= 0, the
 * lines that follow passed to `each` (NULL: read and dropped), or -errno; the status
 * message is left in `msg`. A negative daemon status becomes -EIO (the caller words the
 * error from `msg`). */
static int daemon_query(rrd_store_t *st, const char *cmd, char *msg, size_t msglen,
                        daemon_line_fn each, void *ctx)
{
    char line[1024];
    int each_rc = 0;
    long status;
    char *end;
    int rc = daemon_connect(st);
    if (rc == 0)
        rc = daemon_write(st, cmd, strlen(cmd));
    if (rc == 0)
        rc = daemon_read_line(st, line, sizeof line);
    if (rc < 0)
        return rc;
    status = strtol(line, &end, 10);
    if (end == line) {
        set_err(st, "rrdcached at %s: unexpected reply '%s'", st->daemon, line);
        daemon_close(st);
        return -EPROTO;
    }
    while (*end == ' ')
        end++;
    snprintf(msg, msglen, "%s", end);
    if (status < 0)
        return -EIO;
    for (long i = 0; i < status; i++) {
        rc = daemon_read_line(st, line, sizeof line);
        if (rc < 0)
            return rc;
        if (each != NULL && each_rc == 0)
            each_rc = each(st, line, ctx);
    }
    return each_rc;
}

static int daemon_command(rrd_store_t *st, const char *cmd, char *msg, size_t msglen)
{
    return daemon_query(st, cmd, msg, msglen, NULL, NULL);
}

/* Asks the daemon to write `o`'s cached samples to its file. Missing files are not an
 * error here (the caller looks at the file next). */
static int daemon_flush_file(rrd_store_t *st, const char *wire_path)
{
    char *cmd = xasprintf("FLUSH %s\n", wire_path);
    char msg[512];
    int rc = daemon_command(st, cmd, msg, sizeof msg);
    free(cmd);
    if (rc == -EIO && strstr(msg, "No such file") == NULL) {
        set_err(st, "rrdcached FLUSH %s: %s", wire_path, msg);
        stats_of(st)->failures++;
        return rc;
    }
    return rc == -EIO ? 0 : rc;
}

/* Files -------------------------------------------------------------------------------- */

/* After a failed rrd_create without librrd text: -ENOSPC with the figures in st->err when
 * the directory of `path` has less than `need` bytes free, else -EIO. */
static int explain_create_failure(rrd_store_t *st, const char *path, uint64_t need)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    struct statvfs sv;
    int rc = -EIO;
    if (slash != NULL)
        *slash = '\0';
    if (statvfs(dir, &sv) == 0 && (uint64_t)sv.f_bavail * sv.f_frsize < need) {
        set_err(st, "rrd_create %s: %s (the file needs %llu KiB, %llu KiB free in %s)", path,
                strerror(ENOSPC), (unsigned long long)(need >> 10),
                (unsigned long long)((uint64_t)sv.f_bavail * sv.f_frsize >> 10), dir);
        rc = -ENOSPC;
    }
    free(dir);
    return rc;
}

/* Daemon error text `msg` of command `what` on `path` into st->err; returns the errno it
 * names (-EIO when none). A missing file is not counted as a failure. */
static int remote_error(rrd_store_t *st, const char *what, const char *path, const char *msg)
{
    int rc = errno_from_text(msg);
    set_err(st, "rrdcached %s %s: %s", what, path, msg);
    if (rc != -ENOENT)
        stats_of(st)->failures++;
    return rc;
}

/* CREATE through a TCP daemon: `argv` (argc DS and RRA definitions) as for rrd_create,
 * never overwriting (-O). Returns 0 when created or already there, or -errno. */
static int remote_create(rrd_store_t *st, const char *path, time_t t, int argc, char **argv)
{
    char *wire = wire_escape(path), *cmd, *next;
    char msg[512];
    int rc;

    cmd = xasprintf("CREATE %s -s %d -b %lld -O", wire, st->step, (long long)(t - 1));
    for (int i = 0; i < argc; i++) {
        next = xasprintf("%s %s", cmd, argv[i]);
        free(cmd);
        cmd = next;
    }
    next = xasprintf("%s\n", cmd);
    free(cmd);
    cmd = next;
    rc = daemon_command(st, cmd, msg, sizeof msg);
    if (rc == 0) {
        stats_of(st)->created++;
    } else if (rc == -EIO) {
        /* Some CREATE errors span more lines than their status announces: start afresh. */
        daemon_close(st);
        rc = errno_from_text(msg);
        if (rc != -EEXIST) /* else created meanwhile by another analyzer */
            rc = remote_error(st, "CREATE", path, msg);
        else
            rc = 0;
        if (strstr(msg, "recursively create") != NULL)
            text_errbuf_set(errbuf(st), sizeof st->err,
                            "rrdcached at %s cannot create %s: start it with -b DIR -B -R, or "
                            "create the directory under its base directory",
                            st->daemon, path);
    }
    free(cmd);
    free(wire);
    return rc;
}

/* rrd_create_r2 on a local file; an existing file is kept. */
static int local_create(rrd_store_t *st, const char *path, time_t t, int argc, char **argv)
{
    const int day = 86400 / st->step;
    int rc = 0;

    rrd_clear_error();
    if (rrd_create_r2(path, (unsigned long)st->step, t - 1, 1, NULL, NULL, argc,
                      (const char **)argv) != 0) {
        bool no_text = !rrd_test_error();
        rc = take_rrd_error(st, "rrd_create", path);
        if (no_text) {
            /* librrd gives no text when writing the new file fails: say whether the file
             * system is too full for it (errno is gone by now). */
            uint64_t rows = 7 * (uint64_t)day + 2 * 90 * 24 + 2 * 1100;
            rc = explain_create_failure(st, path, rows * RRD_DS_COUNT * sizeof(double) + 4096);
        }
        if (rc == -EEXIST) { /* created meanwhile by another writer */
            stats_of(st)->failures--;
            rc = 0;
        }
    } else {
        stats_of(st)->created++;
        /* librrd creates files 0666 less the umask: the history is ours alone. */
        if (chmod(path, 0600) != 0)
            LOG_WARN("chmod 0600 %s: %s", path, strerror(errno));
    }
    return rc;
}

/* Creates `path` with its first row just before `t`; an existing file is kept. */
static int create_file(rrd_store_t *st, const char *path, time_t t)
{
    char *argv[RRD_DS_COUNT + 5];
    int argc = 0, rc;
    const int hour = 3600 / st->step, day = 86400 / st->step;

    for (int i = 0; i < RRD_DS_COUNT; i++)
        argv[argc++] = xasprintf("DS:%s:GAUGE:%d:0:U", ds_names[i], st->heartbeat);
    /* 7 days at the base step, 90 days hourly, 1100 days (over three years) daily. */
    argv[argc++] = xasprintf("RRA:AVERAGE:0.5:1:%d", 7 * day);
    argv[argc++] = xasprintf("RRA:AVERAGE:0.5:%d:%d", hour, 90 * 24);
    argv[argc++] = xasprintf("RRA:MAX:0.5:%d:%d", hour, 90 * 24);
    argv[argc++] = xasprintf("RRA:AVERAGE:0.5:%d:%d", day, 1100);
    argv[argc++] = xasprintf("RRA:MAX:0.5:%d:%d", day, 1100);
    rc =
        st->remote ? remote_create(st, path, t, argc, argv) : local_create(st, path, t, argc, argv);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return rc;
}

/* "last_update 1 <time>" of an INFO reply. */
static int info_line(rrd_store_t *st, char *line, void *ctx)
{
    time_t *last = ctx;
    char *end;
    long long v;
    (void)st;
    if (strncmp(line, "last_update 1 ", 14) != 0)
        return 0;
    v = strtoll(line + 14, &end, 10);
    if (end != line + 14 && v > 0)
        *last = (time_t)v;
    return 0;
}

/* Last update of `path` on a TCP daemon's host (INFO reads the file itself: the caller
 * flushes first). Returns 0, -ENOENT when there is no such file, or -errno. */
static int remote_last(rrd_store_t *st, const char *path, time_t *out)
{
    char *wire = wire_escape(path);
    char *cmd = xasprintf("INFO %s\n", wire);
    char msg[512];
    time_t last = 0;
    int rc = daemon_query(st, cmd, msg, sizeof msg, info_line, &last);
    free(cmd);
    free(wire);
    if (rc == -EIO)
        return remote_error(st, "INFO", path, msg);
    if (rc < 0)
        return rc;
    if (last <= 0) {
        set_err(st, "rrdcached INFO %s: no last_update in the reply", path);
        stats_of(st)->failures++;
        return -EPROTO;
    }
    *out = last;
    return 0;
}

/* Last update time of an existing file in *out; -ENOENT when there is none. */
static int file_last(rrd_store_t *st, const char *path, time_t *out)
{
    struct stat sb;
    time_t last;
    if (st->remote)
        return remote_last(st, path, out);
    if (stat(path, &sb) != 0) {
        int rc = -errno;
        if (rc != -ENOENT)
            set_err(st, "stat %s: %s", path, strerror(errno));
        return rc;
    }
    rrd_clear_error();
    last = rrd_last_r(path);
    if (last == (time_t)-1 || rrd_test_error())
        return take_rrd_error(st, "rrd_last", path);
    *out = last;
    return 0;
}

static void object_drop_upto(rrd_store_t *st, struct object *o, time_t upto);

/* Main: finds kind/id in the table, or adds it (not looked up yet). Returns 0 with *out
 * set, or -EINVAL for a bad key. */
static int object_add(rrd_store_t *st, const char *kind, const char *id, struct object **out)
{
    char key[sizeof "subnet/" + RRD_STORE_MAX_ID + 1];
    struct object *o;

    if (!rrd_store_valid_key(kind, id)) {
        set_err(st, "invalid object %s/%s", kind ? kind : "(null)", id ? id : "(null)");
        return -EINVAL;
    }
    snprintf(key, sizeof key, "%s/%s", kind, id);
    o = table_find(st, key);
    if (o == NULL) {
        o = xcalloc(1, sizeof *o);
        o->key = xstrdup(key);
        o->path = st->remote ? xasprintf("%s.rrd", key) : xasprintf("%s/%s.rrd", st->dir, key);
        o->wire_path = wire_escape(o->path);
        table_insert(st, o);
    }
    *out = o;
    return 0;
}

/* Worker (or main with the worker drained): looks up `o`'s file: an existing file gives its
 * last update, a missing one is created when `t` is given (t > 0) with its first row just
 * before `t`. Queued samples the file holds already count as skipped. Returns 0 with
 * o->resolved set, or -errno: o->resolved set too when only the creation failed (o->create_at
 * tells the next flush to try again), the object unchanged when the lookup failed. */
static int object_resolve(rrd_store_t *st, struct object *o, time_t t)
{
    time_t last = 0;
    int create_rc = 0;
    /* The daemon may hold samples of this file that a previous run sent but never saw
     * written: have them written so the file's last update is the whole truth. */
    int rc = st->daemon ? daemon_flush_file(st, o->wire_path) : 0;
    if (rc == 0)
        rc = file_last(st, o->path, &last);
    if (rc == -ENOENT && t > 0) {
        rc = create_file(st, o->path, t);
        if (rc == 0) {
            rc = file_last(st, o->path, &last);
        } else if (rc != -EINVAL) {
            /* Keep the samples queued: the next flush creates the file once it can (and
             * reports the failure until then). */
            o->create_at = t;
            create_rc = rc;
            rc = 0;
        }
    }
    if (rc < 0)
        return rc;
    o->resolved = true;
    o->wlast = last;
    size_t nq = o->nq;
    object_drop_upto(st, o, last);
    stats_of(st)->queued -= nq - o->nq; /* replays: not queued after all (see wstats) */
    if (o->nq > 0)
        o->wlast = o->q[o->nq - 1].t;
    return create_rc;
}

/* Worker: takes sample `q` of `o` (samples of one object come in increasing time): looks the
 * file up on first sight, skips what it holds already, queues the rest for the next flush.
 * A failed lookup keeps the sample queued; the next flush tries again. */
static void object_take(rrd_store_t *st, struct object *o, const struct queued *q)
{
    if (!o->resolved && !o->failed && object_resolve(st, o, q->t) < 0)
        o->failed = true;
    if (o->resolved && q->t <= o->wlast) {
        stats_of(st)->skipped++;
        stats_of(st)->queued--; /* a replay: not queued after all (see wstats) */
        return;
    }
    o->q = xgrow(o->q, &o->capq, o->nq + 1, sizeof *o->q);
    o->q[o->nq++] = *q;
    if (o->resolved)
        o->wlast = q->t;
    if (!o->dirty) {
        st->dirty = xgrow(st->dirty, &st->capdirty, st->ndirty + 1, sizeof *st->dirty);
        st->dirty[st->ndirty++] = o;
        o->dirty = true;
    }
    st->queued_total++;
}

/* Constructor -------------------------------------------------------------------------- */

/* True for a TCP rrdcached address (not direct, not a unix socket). */
static bool daemon_is_remote(const char *daemon)
{
    return daemon != NULL && daemon[0] != '\0' && daemon[0] != '/' &&
           strncmp(daemon, "unix:", 5) != 0;
}

static int worker_start(rrd_store_t *st);
static int worker_finish(rrd_store_t *st);
static void worker_drain(rrd_store_t *st);
static int store_write(rrd_store_t *st);

/* rrd_store_new() and rrd_store_open_reader(): `reader` opens an existing store without
 * creating or requiring write access to anything. */
static rrd_store_t *store_open(const char *dir, int step_s, const char *daemon, bool reader,
                               char *err, size_t errlen)
{
    rrd_store_t *st = NULL;
    char *absdir = NULL;
    bool remote = daemon_is_remote(daemon);
    int rc = 0;

    if (!remote && (dir == NULL || dir[0] == '\0')) {
        snprintf(err, errlen, "rrd_store: no directory given");
        return NULL;
    }
    if (step_s < 1 || step_s > 3600 || 3600 % step_s != 0) {
        snprintf(err, errlen, "rrd_store: step %d s is not a divisor of one hour", step_s);
        return NULL;
    }
    st = xcalloc(1, sizeof *st);
    st->fd = -1;
    st->step = step_s;
    st->heartbeat = RRD_STORE_DEFAULT_HEARTBEAT;
    st->nbuckets = 1024;
    st->table = xcalloc(st->nbuckets, sizeof *st->table);
    st->complain = (log_complain_t)LOG_COMPLAIN_INIT;
    if (daemon != NULL && daemon[0] != '\0')
        st->daemon = xstrdup(daemon);
    st->remote = remote;

    if (!remote && reader) {
        struct stat sb;
        if (stat(dir, &sb) != 0) {
            rc = -errno;
            set_err(st, "directory %s: %s", dir, strerror(errno));
        } else if (!S_ISDIR(sb.st_mode)) {
            rc = -ENOTDIR;
            set_err(st, "%s is not a directory", dir);
        }
    } else if (!remote) {
        rc = fileio_mkdir_p(dir, 0700, st->err, sizeof st->err);
    }
    for (size_t i = 0; i < KIND_COUNT && rc == 0 && !remote && !reader; i++) {
        char *sub = xasprintf("%s/%s", dir, kinds[i]);
        rc = fileio_mkdir_p(sub, 0700, st->err, sizeof st->err);
        if (rc == 0 && access(sub, W_OK | X_OK) != 0) {
            rc = -errno;
            set_err(st, "directory %s is not writable: %s", sub, strerror(errno));
        }
        free(sub);
    }
    if (rc < 0)
        goto fail;
    /* rrdcached resolves relative paths against its own base directory: send absolute,
     * except to a TCP daemon, whose base directory is where the files are. */
    absdir = remote ? NULL : realpath(dir, NULL);
    if (!remote && absdir == NULL) {
        set_err(st, "realpath %s: %s", dir, strerror(errno));
        goto fail;
    }
    st->dir = absdir;
    if (st->daemon != NULL) {
        char msg[128];
        rc = daemon_command(st, "PING\n", msg, sizeof msg);
        if (rc < 0)
            goto fail;
        if (strncmp(msg, "PONG", 4) != 0) {
            set_err(st, "rrdcached at %s answered PING with '%s'", st->daemon, msg);
            goto fail;
        }
    }
    if (!reader && worker_start(st) < 0)
        goto fail;
    LOG_DEBUG("store %s, step %d s, %s%s", st->dir ? st->dir : "on the daemon's host", st->step,
              st->daemon ? "via " : "direct", st->daemon ? st->daemon : "");
    return st;

fail:
    snprintf(err, errlen, "rrd_store: %s", st->err);
    rrd_store_free(st);
    return NULL;
}

rrd_store_t *rrd_store_new(const char *dir, int step_s, const char *daemon, char *err,
                           size_t errlen)
{
    return store_open(dir, step_s, daemon, false, err, errlen);
}

rrd_store_t *rrd_store_open_reader(const char *dir, int step_s, const char *daemon, char *err,
                                   size_t errlen)
{
    return store_open(dir, step_s, daemon, true, err, errlen);
}

void rrd_store_stop_within(rrd_store_t *st, int64_t timeout_ms)
{
    int64_t at = log_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int64_t cur = atomic_load(&st->give_up_ms);
    /* Only ever earlier: a second call cannot extend the first one's bound. */
    while ((cur <= 0 || at < cur) && !atomic_compare_exchange_weak(&st->give_up_ms, &cur, at))
        ;
}

void rrd_store_stop_when(rrd_store_t *st, volatile sig_atomic_t *flag, int64_t timeout_ms)
{
    st->stop_after_ms = timeout_ms;
    st->stop_flag = flag;
}

/* rrd_store_free() after its last write failed: names every file whose samples stay
 * unwritten, and why (the last write's error text). */
static void report_unwritten(rrd_store_t *st)
{
    size_t files = 0, samples = 0;
    for (size_t i = 0; i < st->nbuckets; i++) {
        for (struct object *o = st->table[i]; o != NULL; o = o->next) {
            if (o->nq == 0)
                continue;
            files++;
            samples += o->nq;
            LOG_ERR("not written: %zu samples of %s (%lld to %lld)", o->nq, o->path,
                    (long long)o->q[0].t, (long long)o->q[o->nq - 1].t);
        }
    }
    if (samples == 0)
        return;
    LOG_ERR("stopping with %zu samples of %zu files not written: %s; no flush confirmed them, so "
            "a writer that commits its input only after a successful flush (the analyzer's Kafka "
            "offsets) replays that input and writes them at its next start",
            samples, files, st->err);
}

void rrd_store_free(rrd_store_t *st)
{
    if (st == NULL)
        return;
    /* What is queued is written first (on the worker, which ends after it), within
     * RRD_STORE_STOP_TIMEOUT_MS of rrdcached time unless the caller bounded it already. */
    if (st->daemon != NULL)
        rrd_store_stop_within(st, RRD_STORE_STOP_TIMEOUT_MS);
    if ((st->threaded ? worker_finish(st) : store_write(st)) < 0)
        report_unwritten(st);
    daemon_close(st);
    for (size_t i = 0; i < st->nbuckets; i++) {
        struct object *o = st->table[i], *next;
        for (; o != NULL; o = next) {
            next = o->next;
            object_free(o);
        }
    }
    free(st->table);
    free(st->dirty);
    free(st->in);
    free(st->daemon);
    free(st->dir);
    free(st);
}

int rrd_store_set_heartbeat(rrd_store_t *st, int heartbeat_s)
{
    if (heartbeat_s < st->step)
        return -EINVAL;
    worker_drain(st); /* files are created with the heartbeat of the updates before */
    st->heartbeat = heartbeat_s;
    return 0;
}

/* Updates ------------------------------------------------------------------------------ */

/* Formats "t:v:v:..." into buf; returns the length or -ENOBUFS. */
static int format_values(const struct queued *q, char *buf, size_t len)
{
    size_t off;
    int n = snprintf(buf, len, "%lld", (long long)q->t);
    if (n < 0 || (size_t)n >= len)
        return -ENOBUFS;
    off = (size_t)n;
    for (int i = 0; i < RRD_DS_COUNT; i++) {
        if (isnan(q->v[i]))
            n = snprintf(buf + off, len - off, ":U");
        else
            n = snprintf(buf + off, len - off, ":%.17g", q->v[i]);
        if (n < 0 || (size_t)n >= len - off)
            return -ENOBUFS;
        off += (size_t)n;
    }
    return (int)off;
}

static void object_done(rrd_store_t *st, struct object *o)
{
    stats_of(st)->written += o->nq;
    st->queued_total -= o->nq;
    o->nq = 0;
}

/* Drops queued samples at or before `upto` (the file or daemon has them already). */
static void object_drop_upto(rrd_store_t *st, struct object *o, time_t upto)
{
    size_t k = 0;
    while (k < o->nq && o->q[k].t <= upto)
        k++;
    if (k == 0)
        return;
    memmove(o->q, o->q + k, (o->nq - k) * sizeof *o->q);
    o->nq -= k;
    st->queued_total -= k;
    stats_of(st)->skipped += k;
}

static int flush_direct(rrd_store_t *st)
{
    int first_rc = 0;
    char **argv = NULL;
    size_t capargv = 0;

    for (size_t i = 0; i < st->ndirty; i++) {
        struct object *o = st->dirty[i];
        char *text;
        int rc = 0;
        if (o->nq == 0)
            continue;
        argv = xgrow(argv, &capargv, o->nq, sizeof *argv);
        text = xmalloc(o->nq * 512);
        for (size_t k = 0; k < o->nq && rc == 0; k++) {
            int n = format_values(&o->q[k], text + k * 512, 512);
            rc = n < 0 ? n : 0;
            argv[k] = text + k * 512;
        }
        if (rc == 0) {
            rrd_clear_error();
            /* Samples the file already holds (another writer) are skipped, not errors. */
            if (rrd_updatex_r(o->path, NULL, RRD_SKIP_PAST_UPDATES, (int)o->nq,
                              (const char **)argv) != 0)
                rc = take_rrd_error(st, "rrd_update", o->path);
        }
        free(text);
        if (rc < 0) {
            o->failed = true;
            if (first_rc == 0)
                first_rc = rc;
            continue;
        }
        object_done(st, o);
    }
    free(argv);
    return first_rc;
}

/* One BATCH command, for mapping the daemon's numbered error lines back. */
struct batch_cmd {
    struct object *o;
    bool flush;
};

/* Runs one BATCH of `ncmds` commands in `buf`; calls back errors through `cmds`. */
static int daemon_batch(rrd_store_t *st, const char *buf, size_t len, struct batch_cmd *cmds,
                        size_t ncmds, int *first_rc)
{
    char line[1024], msg[128];
    long nerr;
    char *end;
    int rc;

    rc = daemon_command(st, "BATCH\n", msg, sizeof msg);
    if (rc < 0) {
        if (rc == -EIO)
            set_err(st, "rrdcached at %s refused BATCH: %s", st->daemon, msg);
        return rc;
    }
    rc = daemon_write(st, buf, len);
    if (rc == 0)
        rc = daemon_write(st, ".\n", 2);
    if (rc == 0)
        rc = daemon_read_line(st, line, sizeof line);
    if (rc < 0)
        return rc;
    nerr = strtol(line, &end, 10);
    if (end == line || nerr < 0) {
        set_err(st, "rrdcached at %s: unexpected BATCH reply '%s'", st->daemon, line);
        daemon_close(st);
        return -EPROTO;
    }
    for (long i = 0; i < nerr; i++) {
        unsigned long no;
        const char *text;
        struct object *o;
        rc = daemon_read_line(st, line, sizeof line);
        if (rc < 0)
            return rc;
        no = strtoul(line, &end, 10);
        text = end;
        while (*text == ' ')
            text++;
        if (end == line || no < 1 || no > ncmds) {
            /* Not one of ours (e.g. the terminator): report as a failure. */
            set_err(st, "rrdcached BATCH: %s", line);
            stats_of(st)->failures++;
            if (*first_rc == 0)
                *first_rc = -EIO;
            continue;
        }
        o = cmds[no - 1].o;
        const char *last = strstr(text, "last update time is ");
        if (!cmds[no - 1].flush && strstr(text, "illegal attempt to update") && last) {
            double y = strtod(last + strlen("last update time is "), NULL);
            if ((time_t)y > o->daemon_last)
                o->daemon_last = (time_t)y;
            continue;
        }
        if (!o->failed) {
            stats_of(st)->failures++;
            set_err(st, "rrdcached %s %s: %s", cmds[no - 1].flush ? "FLUSH" : "UPDATE", o->path,
                    text);
            if (*first_rc == 0)
                *first_rc = errno_from_text(text);
        }
        o->failed = true;
    }
    return 0;
}

static int flush_daemon(rrd_store_t *st)
{
    int first_rc = 0, rc = 0;
    char *buf = NULL;
    size_t len = 0, cap = 0, ncmds = 0, capcmds = 0;
    struct batch_cmd *cmds = NULL;
    char vals[512];

    for (int round = 0; round < RRD_STORE_MAX_ROUNDS; round++) {
        bool again = false;
        len = 0;
        ncmds = 0;
        for (size_t i = 0; i < st->ndirty; i++) {
            struct object *o = st->dirty[i];
            size_t k = 0;
            if (o->nq == 0 || o->failed)
                continue;
            o->daemon_last = 0;
            while (k < o->nq) {
                size_t start = len;
                int n;
                buf = xgrow(buf, &cap, len + RRD_STORE_MAX_LINE + 1, 1);
                n = snprintf(buf + len, cap - len, "UPDATE %s", o->wire_path);
                if (n < 0 || n + 600 > RRD_STORE_MAX_LINE) {
                    set_err(st, "path too long for rrdcached: %s", o->path);
                    o->failed = true;
                    first_rc = first_rc ? first_rc : -ENAMETOOLONG;
                    len = start;
                    break;
                }
                len += (size_t)n;
                while (k < o->nq) {
                    n = format_values(&o->q[k], vals, sizeof vals);
                    if (n < 0 || len - start + (size_t)n + 2 > RRD_STORE_MAX_LINE)
                        break;
                    buf[len++] = ' ';
                    memcpy(buf + len, vals, (size_t)n);
                    len += (size_t)n;
                    k++;
                }
                buf[len++] = '\n';
                cmds = xgrow(cmds, &capcmds, ncmds + 1, sizeof *cmds);
                cmds[ncmds++] = (struct batch_cmd){o, false};
            }
        }
        if (ncmds == 0)
            break;
        /* FLUSH every file written: the reply comes once the daemon wrote them all. */
        size_t nupdates = ncmds;
        for (size_t c = 0; c < nupdates; c++) {
            struct object *o = cmds[c].o;
            if (c + 1 < nupdates && cmds[c + 1].o == o)
                continue;
            buf = xgrow(buf, &cap, len + strlen(o->wire_path) + 8, 1);
            len += (size_t)snprintf(buf + len, cap - len, "FLUSH %s\n", o->wire_path);
            cmds = xgrow(cmds, &capcmds, ncmds + 1, sizeof *cmds);
            cmds[ncmds++] = (struct batch_cmd){o, true};
        }
        rc = daemon_batch(st, buf, len, cmds, ncmds, &first_rc);
        if (rc < 0)
            break;
        for (size_t c = 0; c < nupdates; c++) {
            struct object *o = cmds[c].o;
            if (c + 1 < nupdates && cmds[c + 1].o == o)
                continue;
            if (o->failed)
                continue;
            if (o->daemon_last > 0) {
                /* The daemon holds samples up to daemon_last: those count as applied. */
                object_drop_upto(st, o, o->daemon_last);
                again = again || o->nq > 0;
                continue;
            }
            object_done(st, o);
        }
        if (!again)
            break;
    }
    free(buf);
    free(cmds);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < st->ndirty && first_rc == 0; i++)
        if (st->dirty[i]->nq > 0 && !st->dirty[i]->failed) {
            set_err(st, "rrdcached kept rejecting samples of %s", st->dirty[i]->path);
            first_rc = -EIO;
        }
    return first_rc;
}

/* Worker (or main without one): creates the files that could not be created yet and writes
 * every queued sample. Returns 0, or the first failure's -errno (its text in the thread's
 * error buffer) with the samples kept queued. */
static int write_out(rrd_store_t *st)
{
    size_t keep = 0;
    int rc = 0;

    if (st->ndirty == 0)
        return 0;
    for (size_t i = 0; i < st->ndirty && rc == 0; i++) {
        struct object *o = st->dirty[i];
        o->failed = false;
        if (!o->resolved)
            rc = object_resolve(st, o, o->q[0].t);
        else if (o->create_at > 0 && (rc = create_file(st, o->path, o->create_at)) == 0)
            o->create_at = 0;
    }
    if (rc == 0)
        rc = st->daemon ? flush_daemon(st) : flush_direct(st);
    /* Objects still holding samples stay on the dirty list for the next call. */
    for (size_t i = 0; i < st->ndirty; i++) {
        struct object *o = st->dirty[i];
        if (o->nq > 0)
            st->dirty[keep++] = o;
        else
            o->dirty = false;
    }
    st->ndirty = keep;
    return rc;
}

/* Main, without a worker: takes the handed-over samples itself. */
static void take_queued(rrd_store_t *st)
{
    for (size_t i = 0; i < st->nin; i++)
        object_take(st, st->in[i].o, &st->in[i].s);
    st->nin = 0;
}

/* Main, without a worker: the flush itself. */
static int store_write(rrd_store_t *st)
{
    st->stalled = false;
    take_queued(st);
    return write_out(st);
}

/* The worker: takes the samples handed over, one batch a round (looking up and creating
 * files on first sight), and writes them when a flush is asked for. Ends after the work
 * queued before rrd_store_free() asked it to. */
static void *worker_main(void *arg)
{
    rrd_store_t *st = arg;
    struct entry *batch = NULL;
    size_t nbatch = 0, capbatch = 0;

    worker_store = st;
    pthread_setname_np(pthread_self(), "rrd-writer"); /* as top -H and perf show it */
    pthread_mutex_lock(&st->mtx);
    for (;;) {
        while (st->nin == 0 && st->flush_req == st->flush_done && !st->stop)
            pthread_cond_wait(&st->work_cv, &st->mtx);
        if (st->nin == 0 && st->flush_req == st->flush_done)
            break; /* stop, with nothing left */
        struct entry *tmp = st->in;
        size_t tmpcap = st->capin;
        st->in = batch;
        st->capin = capbatch;
        batch = tmp;
        capbatch = tmpcap;
        nbatch = st->nin;
        st->nin = 0;
        uint64_t req = st->flush_req;
        bool flush = req != st->flush_done;
        st->busy = true;
        pthread_mutex_unlock(&st->mtx);

        for (size_t i = 0; i < nbatch; i++)
            object_take(st, batch[i].o, &batch[i].s);
        int rc = flush ? write_out(st) : 0;
        if (flush)
            st->stalled = false; /* the next flush asks the daemon again */

        pthread_mutex_lock(&st->mtx);
        st->wpub = st->wstats;
        if (flush) {
            st->flush_done = req;
            st->flush_rc = rc;
        }
        st->busy = false;
        pthread_cond_broadcast(&st->done_cv);
    }
    pthread_mutex_unlock(&st->mtx);
    free(batch);
    return NULL;
}

/* Starts the worker of a store opened for writing. Returns 0 or -errno (text in st->err). */
static int worker_start(rrd_store_t *st)
{
    int rc = pthread_mutex_init(&st->mtx, NULL);
    if (rc == 0 && (rc = pthread_cond_init(&st->work_cv, NULL)) != 0)
        pthread_mutex_destroy(&st->mtx);
    if (rc == 0 && (rc = pthread_cond_init(&st->done_cv, NULL)) != 0) {
        pthread_cond_destroy(&st->work_cv);
        pthread_mutex_destroy(&st->mtx);
    }
    if (rc == 0 && (rc = pthread_create(&st->worker, NULL, worker_main, st)) != 0) {
        pthread_cond_destroy(&st->done_cv);
        pthread_cond_destroy(&st->work_cv);
        pthread_mutex_destroy(&st->mtx);
    }
    if (rc != 0) {
        set_err(st, "cannot start the writer thread: %s", strerror(rc));
        return -rc;
    }
    st->threaded = true;
    return 0;
}

/* Main: has the worker write everything queued, end and be joined. Returns that last
 * flush's result (text in st->err). */
static int worker_finish(rrd_store_t *st)
{
    int rc;
    pthread_mutex_lock(&st->mtx);
    st->flush_req++;
    st->stop = true;
    pthread_cond_signal(&st->work_cv);
    pthread_mutex_unlock(&st->mtx);
    pthread_join(st->worker, NULL);
    rc = st->flush_rc;
    if (rc < 0)
        text_errbuf_set(st->err, sizeof st->err, "%s", st->werr);
    pthread_cond_destroy(&st->done_cv);
    pthread_cond_destroy(&st->work_cv);
    pthread_mutex_destroy(&st->mtx);
    stats_add(&st->stats, &st->wstats);
    memset(&st->wstats, 0, sizeof st->wstats);
    st->threaded = false;
    return rc;
}

/* Main: waits until the worker took up every sample handed over and went idle; the caller
 * then has the whole store to itself until it hands over more (without a worker: takes the
 * samples up itself). */
static void worker_drain(rrd_store_t *st)
{
    if (!st->threaded) {
        take_queued(st);
        return;
    }
    pthread_mutex_lock(&st->mtx);
    while (st->nin > 0 || st->busy || st->flush_req != st->flush_done)
        pthread_cond_wait(&st->done_cv, &st->mtx);
    pthread_mutex_unlock(&st->mtx);
}

/* Main, holding `mtx`: waits until the worker answered flush `req`. Returns its result, with
 * the worker's error text copied to st->err on failure. */
static int flush_wait_locked(rrd_store_t *st, uint64_t req)
{
    while (st->flush_done < req)
        pthread_cond_wait(&st->done_cv, &st->mtx);
    if (st->flush_rc < 0)
        text_errbuf_set(st->err, sizeof st->err, "%s", st->werr);
    return st->flush_rc;
}

/* Main, with a worker: bounds the samples queued. Asks the worker to write what is queued
 * without waiting for it, unless the previous such write is still running: then waits for
 * that one first and returns its result (a failure keeps its samples queued for the next
 * flush). Returns 0 or -errno (text in st->err). */
static int flush_bound(rrd_store_t *st)
{
    int rc = 0;
    pthread_mutex_lock(&st->mtx);
    if (st->flush_done < st->bound_req)
        rc = flush_wait_locked(st, st->bound_req);
    st->bound_req = ++st->flush_req;
    pthread_cond_signal(&st->work_cv);
    pthread_mutex_unlock(&st->mtx);
    st->unflushed = 0;
    if (rc < 0)
        log_complain(&st->complain, LOG_LEVEL_ERR, LOG_MODULE, "flush failed: %s", st->err);
    return rc;
}

int rrd_store_update(rrd_store_t *st, const char *kind, const char *id, time_t t,
                     const struct rrd_sample *s)
{
    struct entry e;
    int rc;

    if (t <= 0) {
        set_err(st, "invalid time %lld for %s/%s", (long long)t, kind ? kind : "", id ? id : "");
        return -EINVAL;
    }
    rc = object_add(st, kind, id, &e.o);
    if (rc < 0)
        return rc;
    /* Older than what was handed over already: a replay. The worker skips what the file
     * holds (it alone knows that). */
    if (t <= e.o->last) {
        st->stats.skipped++;
        return 0;
    }
    e.o->last = t;
    e.s.t = t;
    for (int i = 0; i < RRD_DS_COUNT; i++)
        e.s.v[i] = rrd_sample_get(s, (enum rrd_ds)i);
    if (st->threaded)
        pthread_mutex_lock(&st->mtx);
    st->in = xgrow(st->in, &st->capin, st->nin + 1, sizeof *st->in);
    st->in[st->nin++] = e;
    if (st->threaded) {
        if (!st->busy)
            pthread_cond_signal(&st->work_cv);
        pthread_mutex_unlock(&st->mtx);
    }
    st->stats.queued++;
    if (++st->unflushed >= RRD_STORE_MAX_QUEUED)
        return st->threaded ? flush_bound(st) : rrd_store_flush(st);
    return 0;
}

int rrd_store_flush(rrd_store_t *st)
{
    int rc;

    if (st->threaded) {
        pthread_mutex_lock(&st->mtx);
        uint64_t req = ++st->flush_req;
        pthread_cond_signal(&st->work_cv);
        rc = flush_wait_locked(st, req);
        pthread_mutex_unlock(&st->mtx);
    } else {
        rc = store_write(st);
    }
    if (rc < 0) {
        log_complain(&st->complain, LOG_LEVEL_ERR, LOG_MODULE, "flush failed: %s", st->err);
        return rc;
    }
    st->unflushed = 0;
    log_relief(&st->complain, LOG_MODULE, "flush works again");
    st->stats.flushes++;
    return 0;
}

/* Reads -------------------------------------------------------------------------------- */

int rrd_store_last(rrd_store_t *st, const char *kind, const char *id, time_t *out)
{
    struct object *o;
    int rc;

    worker_drain(st);
    rc = object_add(st, kind, id, &o);
    if (rc == 0 && !o->resolved)
        rc = object_resolve(st, o, 0);
    if (rc < 0) {
        if (rc == -ENOENT)
            set_err(st, "no RRD file for %s/%s", kind, id);
        return rc;
    }
    *out = o->last > o->wlast ? o->last : o->wlast;
    return 0;
}

time_t rrd_series_time(const struct rrd_series *s, size_t i)
{
    return s->start + (time_t)((i + 1) * s->step);
}

void rrd_series_free(struct rrd_series *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < RRD_DS_COUNT; i++)
        free(s->values[i]);
    memset(s, 0, sizeof *s);
}

/* A FETCH reply being parsed: the header fields, then one row a line. */
struct fetch_reply {
    const char *path;
    long long start, end;
    unsigned long step, ds_cnt;
    char **names;
    rrd_value_t *data;
    size_t rows;
};

static void fetch_reply_free(struct fetch_reply *f)
{
    for (unsigned long j = 0; f->names != NULL && j < f->ds_cnt; j++)
        free(f->names[j]);
    free(f->names);
    free(f->data);
    f->names = NULL;
    f->data = NULL;
}

/* Header lines "Start: N", "End: N", "Step: N", "DSCount: N", "DSName: a b ..."; rows
 * "<time>: v v ..." (time right-aligned), one for each step after Start up to End. */
static int fetch_line(rrd_store_t *st, char *line, void *ctx)
{
    struct fetch_reply *f = ctx;
    char *p = line, *end;
    while (*p == ' ')
        p++;
    if (*p >= '0' && *p <= '9') {
        long long t = strtoll(p, &end, 10);
        size_t row;
        if (f->data == NULL) {
            if (f->step == 0 || f->ds_cnt == 0 || f->names == NULL || f->end <= f->start ||
                (f->end - f->start) / (long long)f->step > 100000000LL / (long long)f->ds_cnt)
                goto bad;
            f->rows = (size_t)((f->end - f->start) / (long long)f->step);
            f->data = xmalloc((f->rows ? f->rows : 1) * f->ds_cnt * sizeof *f->data);
            for (size_t i = 0; i < f->rows * f->ds_cnt; i++)
                f->data[i] = NAN;
        }
        if (*end != ':' || t <= f->start || (t - f->start) % (long long)f->step != 0)
            goto bad;
        row = (size_t)((t - f->start) / (long long)f->step) - 1;
        if (row >= f->rows)
            goto bad;
        p = end + 1;
        for (unsigned long j = 0; j < f->ds_cnt; j++) {
            double v = strtod(p, &end);
            if (end == p)
                goto bad;
            f->data[row * f->ds_cnt + j] = v;
            p = end;
        }
        return 0;
    }
    if (f->data != NULL)
        goto bad;
    if (strncmp(p, "Start: ", 7) == 0)
        f->start = strtoll(p + 7, NULL, 10);
    else if (strncmp(p, "End: ", 5) == 0)
        f->end = strtoll(p + 5, NULL, 10);
    else if (strncmp(p, "Step: ", 6) == 0)
        f->step = strtoul(p + 6, NULL, 10);
    else if (strncmp(p, "DSCount: ", 9) == 0 && f->names == NULL)
        f->ds_cnt = strtoul(p + 9, NULL, 10);
    else if (strncmp(p, "DSName: ", 8) == 0 && f->names == NULL && f->ds_cnt > 0 &&
             f->ds_cnt <= 1000) {
        char *save = NULL, *name;
        unsigned long n = 0;
        f->names = xcalloc(f->ds_cnt, sizeof *f->names);
        for (name = strtok_r(p + 8, " ", &save); name != NULL && n < f->ds_cnt;
             name = strtok_r(NULL, " ", &save))
            f->names[n++] = xstrdup(name);
        if (n != f->ds_cnt)
            goto bad;
    }
    return 0;
bad:
    set_err(st, "rrdcached FETCH %s: unexpected reply line '%.200s'", f->path, line);
    stats_of(st)->failures++;
    return -EPROTO;
}

/* FETCH through a TCP daemon, with rrd_fetch_r's results (the daemon flushes the file
 * first and picks the finest archive covering the range). Returns 0, -ENOENT or -errno. */
static int remote_fetch(rrd_store_t *st, const char *path, const char *cf, time_t *start,
                        time_t *end, unsigned long *step, unsigned long *ds_cnt, char ***names,
                        rrd_value_t **data)
{
    struct fetch_reply f = {.path = path};
    char *wire = wire_escape(path);
    char *cmd = xasprintf("FETCH %s %s %lld %lld\n", wire, cf, (long long)*start, (long long)*end);
    char msg[512];
    int rc = daemon_query(st, cmd, msg, sizeof msg, fetch_line, &f);
    free(cmd);
    free(wire);
    if (rc == 0 && f.data == NULL) {
        /* No row at all: only valid for an empty range. */
        if (f.step == 0 || f.names == NULL || f.end != f.start) {
            set_err(st, "rrdcached FETCH %s: incomplete reply", path);
            stats_of(st)->failures++;
            rc = -EPROTO;
        } else {
            f.data = xmalloc(sizeof *f.data);
        }
    }
    if (rc == -EIO)
        rc = remote_error(st, "FETCH", path, msg);
    if (rc < 0) {
        fetch_reply_free(&f);
        return rc;
    }
    *start = (time_t)f.start;
    *end = (time_t)f.end;
    *step = f.step;
    *ds_cnt = f.ds_cnt;
    *names = f.names;
    *data = f.data;
    return 0;
}

/* Consolidates the rows of `s` into rows of `res` seconds (a multiple of s->step) ending
 * at multiples of `res`, as an archive of that step would: the mean (or with `max` the
 * maximum) of the known values, unknown when fewer than half of the rows are known. */
static void series_consolidate(struct rrd_series *s, unsigned long res, bool max)
{
    const size_t per = res / s->step;
    time_t first, t0;
    size_t rows;

    if (s->rows == 0 || per < 2 || res % s->step != 0)
        return;
    first = rrd_series_time(s, 0);
    t0 = (first + (time_t)res - 1) / (time_t)res * (time_t)res; /* end of the first row */
    rows = (size_t)((rrd_series_time(s, s->rows - 1) - t0 + (time_t)res - 1) / (time_t)res) + 1;
    for (int d = 0; d < RRD_DS_COUNT; d++) {
        double *v = xmalloc(rows * sizeof *v);
        size_t i = 0;
        for (size_t r = 0; r < rows; r++) {
            time_t row_end = t0 + (time_t)(r * res);
            double acc = NAN;
            size_t known = 0;
            for (; i < s->rows && rrd_series_time(s, i) <= row_end; i++) {
                double x = s->values[d][i];
                if (isnan(x))
                    continue;
                acc = known == 0 ? x : max ? (x > acc ? x : acc) : acc + x;
                known++;
            }
            v[r] = known * 2 < per ? NAN : max ? acc : acc / (double)known;
        }
        free(s->values[d]);
        s->values[d] = v;
    }
    s->start = t0 - (time_t)res;
    s->step = res;
    s->rows = rows;
}

int rrd_store_fetch(rrd_store_t *st, const char *kind, const char *id, const char *cf, time_t start,
                    time_t end, unsigned long resolution, struct rrd_series *out)
{
    char path[4096];
    struct stat sb;
    time_t s = start, e = end;
    unsigned long step = resolution ? resolution : 1, ds_cnt = 0;
    char **names = NULL;
    rrd_value_t *data = NULL;
    int col[RRD_DS_COUNT];
    int rc;

    memset(out, 0, sizeof *out);
    worker_drain(st);
    rc = rrd_store_path(st, kind, id, path, sizeof path);
    if (rc < 0 || cf == NULL || (strcmp(cf, "AVERAGE") != 0 && strcmp(cf, "MAX") != 0) ||
        end <= start) {
        set_err(st, "invalid fetch of %s/%s", kind ? kind : "(null)", id ? id : "(null)");
        return rc < 0 ? rc : -EINVAL;
    }
    if (st->remote) {
        rc = remote_fetch(st, path, cf, &s, &e, &step, &ds_cnt, &names, &data);
        if (rc == -ENOENT)
            set_err(st, "no RRD file for %s/%s: %s not found by rrdcached at %s", kind, id, path,
                    st->daemon);
        if (rc < 0)
            return rc;
    } else {
        if (st->daemon != NULL) {
            char *wire = wire_escape(path);
            rc = daemon_flush_file(st, wire);
            free(wire);
            if (rc < 0)
                return rc;
        }
        if (stat(path, &sb) != 0) {
            rc = -errno;
            set_err(st, "no RRD file for %s/%s: %s", kind, id, strerror(errno));
            return rc;
        }
        rrd_clear_error();
        if (rrd_fetch_r(path, cf, &s, &e, &step, &ds_cnt, &names, &data) != 0)
            return take_rrd_error(st, "rrd_fetch", path);
    }
    for (int i = 0; i < RRD_DS_COUNT; i++) {
        col[i] = -1;
        for (unsigned long j = 0; j < ds_cnt; j++)
            if (strcmp(names[j], ds_names[i]) == 0)
                col[i] = (int)j;
    }
    out->start = s;
    out->step = step;
    out->rows = step > 0 && e > s ? (size_t)((e - s) / (time_t)step) : 0;
    for (int i = 0; i < RRD_DS_COUNT; i++) {
        out->values[i] = xmalloc((out->rows ? out->rows : 1) * sizeof(double));
        for (size_t r = 0; r < out->rows; r++)
            out->values[i][r] = col[i] < 0 ? NAN : data[r * ds_cnt + (size_t)col[i]];
    }
    for (unsigned long j = 0; j < ds_cnt; j++)
        free(names[j]);
    free(names);
    free(data);
    if (st->remote && resolution > out->step)
        series_consolidate(out, resolution, strcmp(cf, "MAX") == 0);
    return 0;
}

/* Listing ------------------------------------------------------------------------------ */

struct id_list {
    char **v;
    size_t n, cap;
};

/* Adds the id of file name `name` ("<id>.rrd" with a valid id; anything else is skipped). */
static void id_list_add(struct id_list *l, const char *name)
{
    size_t len = strlen(name);
    char *id;
    if (len <= 4 || strcmp(name + len - 4, ".rrd") != 0)
        return;
    id = xstrndup(name, len - 4);
    if (!valid_id(id)) {
        free(id);
        return;
    }
    l->v = xgrow(l->v, &l->cap, l->n + 1, sizeof *l->v);
    l->v[l->n++] = id;
}

static int list_line(rrd_store_t *st, char *line, void *ctx)
{
    (void)st;
    id_list_add(ctx, line);
    return 0;
}

/* LIST /<kind> on the TCP daemon at `daemon`; a kind without a directory yet is empty. */
static int list_remote(const char *daemon, const char *kind, struct id_list *l, char *err,
                       size_t errlen)
{
    char msg[512];
    char *cmd;
    int rc;
    rrd_store_t *st = rrd_store_open_reader(NULL, 300, daemon, err, errlen);
    if (st == NULL)
        return -ECONNREFUSED;
    cmd = xasprintf("LIST /%s\n", kind);
    rc = daemon_query(st, cmd, msg, sizeof msg, list_line, l);
    free(cmd);
    if (rc == -EIO) {
        rc = errno_from_text(msg);
        rc = rc == -ENOENT ? 0 : remote_error(st, "LIST", kind, msg);
    }
    if (rc < 0)
        snprintf(err, errlen, "%s", st->err);
    rrd_store_free(st);
    return rc;
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void rrd_store_list_free(char **ids, size_t n)
{
    for (size_t i = 0; ids != NULL && i < n; i++)
        free(ids[i]);
    free(ids);
}

int rrd_store_list(const char *dir, const char *daemon, const char *kind, char ***ids, size_t *n,
                   char *err, size_t errlen)
{
    struct id_list l = {NULL, 0, 0};
    int rc = 0;

    *ids = NULL;
    *n = 0;
    if (!valid_kind(kind) || (!daemon_is_remote(daemon) && (dir == NULL || dir[0] == '\0'))) {
        snprintf(err, errlen, "cannot list objects of kind '%s'", kind ? kind : "(null)");
        return -EINVAL;
    }
    if (daemon_is_remote(daemon)) {
        rc = list_remote(daemon, kind, &l, err, errlen);
    } else {
        char *path = xasprintf("%s/%s", dir, kind);
        DIR *d = opendir(path);
        if (d == NULL) {
            rc = -errno;
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        } else {
            struct dirent *de;
            while ((de = readdir(d)) != NULL)
                id_list_add(&l, de->d_name);
            closedir(d);
        }
        free(path);
    }
    if (rc < 0) {
        rrd_store_list_free(l.v, l.n);
        return rc;
    }
    if (l.n > 1)
        qsort(l.v, l.n, sizeof *l.v, cmp_id);
    *ids = l.v;
    *n = l.n;
    return 0;
}

/* Graphs ------------------------------------------------------------------------------- */

void rrd_store_graph_init(struct rrd_store_graph *g)
{
    memset(g, 0, sizeof *g);
    g->width = 800;
    g->height = 300;
    g->format = "PNG";
    g->warn_pct = 80;
    g->crit_pct = 90;
    g->trend_value = g->trend_per_day = g->trend_size = NAN;
}

/* Legend text made safe for rrd_graph's argument syntax: ':' escaped, '\' dropped (it would
 * start a legend control code). Owned by the caller. */
static char *legend_text(const char *text)
{
    size_t n = strlen(text), j = 0;
    char *out = xmalloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        if (text[i] == '\\')
            continue;
        if (text[i] == ':')
            out[j++] = '\\';
        out[j++] = text[i];
    }
    out[j] = '\0';
    return out;
}

struct argv_list {
    char **v;
    size_t n, cap;
};

/* Appends `text` (stolen) to the argument list, which stays NULL-terminated. */
static void arg_add(struct argv_list *a, char *text)
{
    a->v = xgrow(a->v, &a->cap, a->n + 2, sizeof *a->v);
    a->v[a->n++] = text;
    a->v[a->n] = NULL;
}

/* Largest known `size` of the object over [start, end] in *max (NAN when none). */
static int graph_size_range(rrd_store_t *st, const struct rrd_store_graph *g, double *max)
{
    struct rrd_series s;
    int rc = rrd_store_fetch(st, g->kind, g->id, "AVERAGE", g->start, g->end, 0, &s);
    if (rc < 0)
        return rc;
    *max = NAN;
    for (size_t i = 0; i < s.rows; i++) {
        double v = s.values[RRD_DS_SIZE][i];
        if (isfinite(v) && (isnan(*max) || v > *max))
            *max = v;
    }
    rrd_series_free(&s);
    return 0;
}

int rrd_store_graph(rrd_store_t *st, const struct rrd_store_graph *g, const char *path, int *width,
                    int *height)
{
    char file[4096];
    struct stat sb;
    struct argv_list a = {NULL, 0, 0};
    rrd_info_t *info = NULL;
    char *tmp = NULL, *esc_file = NULL;
    const char *fmt;
    double max_size = NAN;
    time_t view_end;
    int rc, w = -1, h = -1;

    worker_drain(st);
    if (g == NULL || path == NULL || path[0] == '\0' || g->format == NULL) {
        set_err(st, "graph: no object, format or output file");
        return -EINVAL;
    }
    if (strcasecmp(g->format, "png") == 0)
        fmt = "PNG";
    else if (strcasecmp(g->format, "svg") == 0)
        fmt = "SVG";
    else {
        set_err(st, "graph: format '%s' is not PNG or SVG", g->format);
        return -EINVAL;
    }
    view_end = g->view_end ? g->view_end : g->end;
    if (g->width < 100 || g->width > 8000 || g->height < 100 || g->height > 8000 || g->start <= 0 ||
        g->end <= g->start || view_end < g->end) {
        set_err(st, "graph: bad size %dx%d or time range", g->width, g->height);
        return -EINVAL;
    }
    rc = rrd_store_path(st, g->kind, g->id, file, sizeof file);
    if (rc < 0) {
        set_err(st, "graph: invalid object %s/%s", g->kind ? g->kind : "(null)",
                g->id ? g->id : "(null)");
        return rc;
    }
    if (!st->remote && stat(file, &sb) != 0) {
        rc = -errno;
        set_err(st, "no RRD file for %s %s: %s: %s", g->kind, g->id, file, strerror(errno));
        return rc;
    }
    /* Also has rrdcached write what it holds of this file (and through a TCP daemon, finds
     * out whether the file is there). */
    rc = graph_size_range(st, g, &max_size);
    if (rc < 0)
        return rc;

    /* In DEF lines ':' separates fields: escape it in the file name. */
    esc_file = legend_text(file);
    tmp = xasprintf("%s.%ld.tmp", path, (long)getpid());
    arg_add(&a, xasprintf("graph"));
    arg_add(&a, xasprintf("%s", tmp));
    arg_add(&a, xasprintf("--imgformat=%s", fmt));
    arg_add(&a, xasprintf("--start=%lld", (long long)g->start));
    arg_add(&a, xasprintf("--end=%lld", (long long)view_end));
    arg_add(&a, xasprintf("--width=%d", g->width));
    arg_add(&a, xasprintf("--height=%d", g->height));
    arg_add(&a, xasprintf("--full-size-mode"));
    arg_add(&a, xasprintf("--title=%s", g->title ? g->title : g->id));
    arg_add(&a, xasprintf("--vertical-label=utilization (%%)"));
    arg_add(&a, xasprintf("--lower-limit=0"));
    arg_add(&a, xasprintf("--upper-limit=100"));
    arg_add(&a, xasprintf("--watermark=ipamwatch"));
    if (st->remote) /* librrd then fetches every DEF through the daemon */
        arg_add(&a, xasprintf("--daemon=%s", st->daemon));
    arg_add(&a, xasprintf("DEF:util=%s:utilization:AVERAGE", esc_file));
    arg_add(&a, xasprintf("DEF:size=%s:size:AVERAGE", esc_file));
    arg_add(&a, xasprintf("AREA:util#7FB3E6:utilization"));
    arg_add(&a, xasprintf("LINE1:util#1F4E79"));
    arg_add(&a, xasprintf("VDEF:unow=util,LAST"));
    arg_add(&a, xasprintf("VDEF:upeak=util,MAXIMUM"));
    arg_add(&a, xasprintf("GPRINT:unow:now %%5.1lf %%%%"));
    arg_add(&a, xasprintf("GPRINT:upeak:peak %%5.1lf %%%%\\l"));
    if (isfinite(max_size) && max_size > 0) {
        /* Right axis value = left value x scale: size is drawn at size / scale. */
        double scale = max_size / 100.0;
        arg_add(&a, xasprintf("--right-axis=%.17g:0", scale));
        arg_add(&a, xasprintf("--right-axis-label=size (addresses)"));
        arg_add(&a, xasprintf("CDEF:sized=size,%.17g,/", scale));
        arg_add(&a, xasprintf("LINE2:sized#2CA02C:size        "));
        arg_add(&a, xasprintf("VDEF:snow=size,LAST"));
        arg_add(&a, xasprintf("GPRINT:snow:now %%.0lf addresses\\l"));
    }
    if (isfinite(g->warn_pct))
        arg_add(&a, xasprintf("HRULE:%.17g#FF9900:warning %g %%:dashes", g->warn_pct, g->warn_pct));
    if (isfinite(g->crit_pct))
        arg_add(&a,
                xasprintf("HRULE:%.17g#D62728:critical %g %%:dashes", g->crit_pct, g->crit_pct));
    if (isfinite(g->warn_pct) || isfinite(g->crit_pct))
        arg_add(&a, xasprintf("COMMENT:\\l"));
    if (isfinite(g->trend_per_day) && isfinite(g->trend_value) && g->trend_size > 0) {
        /* trend(t) in percent = 100 (value + per_day (t - t0) / 86400) / size, kept to the
         * plot's 0..100 so the line ends where the object is full. */
        double k = 100.0 / g->trend_size;
        arg_add(&a, xasprintf("CDEF:trend=util,POP,TIME,%lld,LT,UNKN,TIME,%lld,-,%.17g,*,%.17g,+,"
                              "0,100,LIMIT,IF",
                              (long long)g->trend_from, (long long)g->trend_time,
                              g->trend_per_day / 86400.0 * k, g->trend_value * k));
        arg_add(&a, xasprintf("LINE1:trend#8E44AD:trend of used%s:dashes=6,3",
                              g->forecast_date > 0 ? "" : "\\l"));
    }
    if (g->forecast_date > 0) {
        char day[32];
        if (text_utc_date(g->forecast_date, false, day, sizeof day) != 0)
            snprintf(day, sizeof day, "?");
        arg_add(&a, xasprintf("VRULE:%lld#D62728:full on %s\\l", (long long)g->forecast_date, day));
    }
    if (g->forecast_text != NULL) {
        char *text = legend_text(g->forecast_text);
        arg_add(&a, xasprintf("COMMENT:%s\\l", text));
        free(text);
    }

    rrd_clear_error();
    /* Without a connection rrd_graph would read "<kind>/<id>.rrd" below the working
     * directory: connect first and fail when the daemon is away. */
    if (st->remote && (rrdc_connect(st->daemon) != 0 || !rrdc_is_connected(st->daemon))) {
        rc = -ECONNREFUSED;
        set_err(st, "graph: cannot connect to rrdcached at %s: %s", st->daemon,
                rrd_test_error() ? rrd_get_error() : "connection failed");
        rrd_clear_error();
        stats_of(st)->failures++;
        goto fail;
    }
    RRD_STORE_LIBRARY_ALLOCS_BEGIN();
    info = rrd_graph_v((int)a.n, a.v);
    RRD_STORE_LIBRARY_ALLOCS_END();
    if (st->remote)
        rrdc_disconnect();
    if (info == NULL || rrd_test_error()) {
        rc = take_rrd_error(st, "rrd_graph", file);
        goto fail;
    }
    for (rrd_info_t *p = info; p != NULL; p = p->next) {
        int *dst = strcmp(p->key, "image_width") == 0    ? &w
                   : strcmp(p->key, "image_height") == 0 ? &h
                                                         : NULL;
        if (dst != NULL && p->type == RD_I_CNT)
            *dst = (int)p->value.u_cnt;
        else if (dst != NULL && p->type == RD_I_INT)
            *dst = p->value.u_int;
    }
    if (rename(tmp, path) != 0) {
        rc = -errno;
        set_err(st, "rename %s to %s: %s", tmp, path, strerror(errno));
        goto fail;
    }
    if (width)
        *width = w;
    if (height)
        *height = h;
    rc = 0;
    goto out;

fail:
    unlink(tmp);
out:
    rrd_info_free(info);
    for (size_t i = 0; i < a.n; i++)
        free(a.v[i]);
    free(a.v);
    free(tmp);
    free(esc_file);
    return rc;
}

void rrd_store_get_stats(const rrd_store_t *st, struct rrd_store_stats *out)
{
    /* The lock is not part of the store's value: taking it leaves the counters alone. */
    rrd_store_t *w = (rrd_store_t *)st;
    struct rrd_store_stats ws = {0};
    if (st->threaded) {
        pthread_mutex_lock(&w->mtx);
        ws = st->wpub;
        pthread_mutex_unlock(&w->mtx);
    }
    *out = st->stats;
    stats_add(out, &ws);
}

const char *rrd_store_error(const rrd_store_t *st)
{
    return st->err;
}
