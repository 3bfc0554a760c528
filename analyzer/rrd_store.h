/* rrd_store: the RRD files of every pool, scope, VPC and subnet; the one module using librrd.
 *
 * DESIGN: one file per object at <dir>/<kind>/<id>.rrd, written in event time. Updates are
 * queued per object and sent by rrd_store_flush(), either directly with librrd or through
 * rrdcached over our own socket (BATCH protocol, then FLUSH of every file written), so one
 * analyzer step over many objects costs one round trip. A store opened for writing does its
 * file work on a thread of its own: rrd_store_update() only hands the sample over; that thread
 * looks the file up and creates it on first sight, and writes at rrd_store_flush(), which waits
 * for it. Reads in the same store (last, fetch, graph) first wait for it to take up every
 * sample handed over, so they see what they would see without it. Replays are idempotent: a
 * sample at or before an object's newest sample is counted as skipped, never an error;
 * rrdcached's "illegal attempt to update" reply is parsed and treated the same way. With no
 * daemon or a unix socket, files are created and read directly, so the directory must be
 * visible to this process under the same path as to rrdcached (a local daemon or a shared
 * mount). With a TCP daemon (host:port) the files live on the daemon's host: every access goes
 * through it (CREATE, INFO, FETCH, LIST; graphs with rrd_graph's --daemon), paths are relative
 * to its base directory (rrdcached -b DIR -B -R) as <kind>/<id>.rrd, and the local directory is
 * not used. See docs/rrd.md for the archive plan.
 */
#ifndef IPAMWATCH_RRD_STORE_H
#define IPAMWATCH_RRD_STORE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

typedef struct rrd_store rrd_store_t;

/* Data sources of every file, in file order. */
enum rrd_ds {
    RRD_DS_SIZE,         /* addresses in the object (IPv6 in /64 units) */
    RRD_DS_USED,         /* allocated addresses */
    RRD_DS_FREE,         /* unallocated addresses */
    RRD_DS_UTILIZATION,  /* used / size in percent */
    RRD_DS_LARGEST_FREE, /* prefix length of the largest free block */
    RRD_DS_DEFAULT_FITS, /* blocks of the default netmask that still fit */
    RRD_DS_ALLOCATIONS,  /* allocation count */
    RRD_DS_OVERLAPS,     /* overlapping-pair count */
    RRD_DS_NONCOMPLIANT, /* noncompliant resource count */
    RRD_DS_COUNT
};

/* One sample; NAN marks an unknown value. Field order matches enum rrd_ds. */
struct rrd_sample {
    double size;
    double used;
    double free;
    double utilization;
    double largest_free;
    double default_fits;
    double allocations;
    double overlaps;
    double noncompliant;
};

/* A sample with every value unknown. */
struct rrd_sample rrd_sample_unknown(void);
/* Value of data source `ds` in `s` (borrowed). */
double rrd_sample_get(const struct rrd_sample *s, enum rrd_ds ds);
/* Data source name as stored in the files ("size", "used", ...); NULL when out of range. */
const char *rrd_ds_name(enum rrd_ds ds);

/* Counters since rrd_store_new(); those of the store's thread as of its last round (all of
 * the work before it once rrd_store_flush() or a read returned). */
struct rrd_store_stats {
    uint64_t queued;   /* samples accepted by rrd_store_update() */
    uint64_t written;  /* samples written to a file or accepted by rrdcached */
    uint64_t skipped;  /* samples at or before the newest one of their object (replays) */
    uint64_t created;  /* files created */
    uint64_t flushes;  /* successful rrd_store_flush() calls */
    uint64_t failures; /* failed librrd calls or daemon commands */
};

/* Opens a store over `dir` (created if missing, with one subdirectory per kind) for
 * files with a base step of `step_s` seconds (a divisor of 3600). `daemon` NULL or ""
 * writes directly with librrd; "unix:/path" or "host:port" goes through rrdcached, which
 * is connected to here. With "host:port" (or "[v6addr]:port") the files are on the
 * daemon's host under its base directory and `dir` is neither created nor read (it may be
 * NULL). Returns the store (owned by the caller, free with
 * rrd_store_free()) or NULL with a message in `err` when the directory is not writable,
 * the step is invalid or the daemon is unreachable. Starts the store's thread, which alone
 * calls librrd's create and update functions until rrd_store_free(). Any thread. */
rrd_store_t *rrd_store_new(const char *dir, int step_s, const char *daemon, char *err,
                           size_t errlen);
/* Opens an existing store for reading (graph, forecast, report) like rrd_store_new(), but
 * creates nothing and needs no write access: a missing `dir` is an error naming it. No
 * thread of its own: every call does its work on the caller's thread.
 * Returns the store (owned by the caller) or NULL with a message in `err`. Any thread. */
rrd_store_t *rrd_store_open_reader(const char *dir, int step_s, const char *daemon, char *err,
                                   size_t errlen);
/* How long rrd_store_free() waits for rrdcached at most (5 s) unless rrd_store_stop_within()
 * set an earlier bound. */
#define RRD_STORE_STOP_TIMEOUT_MS 5000

/* Writes the samples still queued (as rrd_store_flush() would), ends the store's thread,
 * closes the daemon connection and frees the store. With rrdcached, the write gives up
 * RRD_STORE_STOP_TIMEOUT_MS after this call (or at the rrd_store_stop_within() bound), also
 * when the daemon accepts connections and never answers. A failure logs each file whose
 * samples were not written (with their times) and why; those samples are dropped, and
 * rrd_store_flush() never confirmed them: a caller that commits its input only after a
 * successful flush gets them again by replaying it. NULL is a no-op. */
void rrd_store_free(rrd_store_t *store);

/* Bounds the store's remaining work with rrdcached to `timeout_ms` from now: from then on no
 * wait for the daemon goes on (a wait in progress ends within 100 ms) and no command starts,
 * so rrd_store_flush(), the reads and rrd_store_free() fail with -ETIMEDOUT ("no answer
 * before the stop deadline") instead of waiting out the 120 s socket timeout, per command,
 * of a daemon that stopped answering. For a caller that is stopping; it cannot be undone, and
 * a later call can only make the bound earlier. No effect without a daemon (files are
 * written directly). Any thread. */
void rrd_store_stop_within(rrd_store_t *store, int64_t timeout_ms);

/* Has the store call rrd_store_stop_within(`timeout_ms`) itself once `*flag` (borrowed, set
 * by the caller's signal handling; NULL = none) is non-zero, as seen by a command or a wait
 * for the daemon (within 100 ms), so that a stop requested while a flush waits for a daemon
 * that stopped answering ends that flush then. Call it right after rrd_store_new(), before
 * the first update. Same thread as the other calls. */
void rrd_store_stop_when(rrd_store_t *store, volatile sig_atomic_t *flag, int64_t timeout_ms);

/* Sets the heartbeat of files created from now on (default 2 days, so that a backfill
 * with one sample a day stays continuous; gaps longer than the heartbeat read as unknown).
 * Returns 0 or -EINVAL when below the step. Same thread as the other calls. */
int rrd_store_set_heartbeat(rrd_store_t *store, int heartbeat_s);

/* True when `kind` is one of pool, scope, vpc, subnet and `id` is usable as a file name
 * (letters, digits, '-', '_', '.', no "..", not starting with '.', at most 128 bytes). */
int rrd_store_valid_key(const char *kind, const char *id);

/* Queues sample `s` (borrowed) of object kind/id at event time `t` and returns: the
 * store's thread creates the object's file on first sight with its start just before `t`
 * (history may be years old). A sample at or before the object's newest sample (queued or
 * on disk) is an already applied replay: it is counted as skipped (once the store's thread
 * has looked at the file) and 0 is returned. Once 65,536 samples are queued since the last
 * flush, this has them written to bound memory (a backfill needs no flush of its own until
 * its end): the store's thread writes them while this returns, and the next time waits for
 * that write first (a store without a thread calls rrd_store_flush()). A file that cannot be
 * looked up, created or written yet (disk full) keeps its samples queued: rrd_store_flush()
 * tries again, and fails naming the file until it can. Returns 0, -EINVAL for a bad kind, id
 * or time, or -errno when the write waited for failed (text in rrd_store_error()). One
 * thread at a time per store. */
int rrd_store_update(rrd_store_t *store, const char *kind, const char *id, time_t t,
                     const struct rrd_sample *s);

/* Writes every sample queued before this call and makes it durable (on the store's thread,
 * waiting for it): files not created yet are created, then directly every file is updated;
 * through rrdcached, the samples are sent in one BATCH and every file written to is flushed
 * by the daemon before this returns. Returns 0 when all of it is in the files (commit Kafka
 * offsets only then), or -errno (e.g. -ECONNREFUSED when rrdcached is down, -EIO for a
 * librrd failure) with rrd_store_error() naming the file and librrd's or the daemon's
 * message, and the samples kept queued for the next call. One thread at a time per store. */
int rrd_store_flush(rrd_store_t *store);

/* Newest sample time of kind/id (queued or on disk) in *out, after the store's thread took
 * up every sample queued before. Returns 0, -ENOENT when the object has no file, -EINVAL
 * for a bad key, or -errno. One thread at a time per store. */
int rrd_store_last(rrd_store_t *store, const char *kind, const char *id, time_t *out);

/* Ids of every <kind>/<id>.rrd file, sorted, in *ids (an array of *n strings, owned by the
 * caller: rrd_store_list_free()); names that are not valid keys are left out. Opens no
 * store and creates nothing: reads `dir`/<kind>, or with a TCP `daemon` (host:port) asks
 * it (LIST; a kind without any file there yet is an empty list). Returns 0, -EINVAL for a
 * bad kind, or -errno with text in `err` (-ENOENT when the local directory is missing).
 * Any thread. */
int rrd_store_list(const char *dir, const char *daemon, const char *kind, char ***ids, size_t *n,
                   char *err, size_t errlen);
/* Frees what rrd_store_list() returned; NULL is a no-op. */
void rrd_store_list_free(char **ids, size_t n);

/* A series read back from one file: row i covers (start + i*step, start + (i+1)*step]. */
struct rrd_series {
    time_t start;
    unsigned long step;
    size_t rows;
    double *values[RRD_DS_COUNT]; /* one owned array of `rows` values per data source */
};

/* Time stamp of row `i` of `s` (the end of its interval), as rrdtool fetch prints it. */
time_t rrd_series_time(const struct rrd_series *s, size_t i);
/* Frees the arrays of `s` (the struct itself is the caller's) and zeroes it; NULL ok. */
void rrd_series_free(struct rrd_series *s);

/* Reads kind/id's consolidation `cf` ("AVERAGE" or "MAX") between `start` and `end` at
 * the archive closest to `resolution` seconds (0 = finest that covers the range) into
 * *out (owned by the caller, release with rrd_series_free()). Sees what rrd_store_flush()
 * wrote (the file of a sample queued before exists: the store's thread is waited for);
 * through rrdcached the file is flushed by the daemon first. A TCP rrdcached reads
 * the finest archive that covers the range (its FETCH has no resolution); rows finer than
 * `resolution` are consolidated here into `resolution`-aligned rows (mean or maximum of
 * the known values, unknown when fewer than half are known). Returns 0, -ENOENT
 * for an unknown object, -EINVAL for bad arguments, or -errno. One thread at a time. */
int rrd_store_fetch(rrd_store_t *store, const char *kind, const char *id, const char *cf,
                    time_t start, time_t end, unsigned long resolution, struct rrd_series *out);

/* Path of kind/id's file in `buf` (for rrd_graph definitions later): absolute under the
 * store's directory, or "<kind>/<id>.rrd" relative to the base directory of a TCP
 * rrdcached. Returns 0, -EINVAL for a bad key or -ENAMETOOLONG. Any thread. */
int rrd_store_path(const rrd_store_t *store, const char *kind, const char *id, char *buf,
                   size_t buflen);

/* Graphs ------------------------------------------------------------------------------
 * One picture of one object: utilization (percent, left axis) as an area, size (right
 * axis, addresses) as a line, warning/critical thresholds as dashed rules, optionally a
 * trend line and a forecast date, with a legend (now, peak, size). */
struct rrd_store_graph {
    const char *kind, *id; /* the object (borrowed) */
    time_t start, end;     /* time range of the data */
    time_t view_end;       /* right edge of the x axis, >= end (room for a forecast); 0 = end */
    int width, height;     /* the whole image in pixels (100 to 8000) */
    const char *format;    /* "PNG" or "SVG" */
    const char *title;     /* borrowed; NULL = "<kind> <id>" */
    double warn_pct;       /* warning threshold in percent; NAN = not drawn */
    double crit_pct;       /* critical threshold in percent; NAN = not drawn */
    /* Trend of `used` in addresses: trend_value at trend_time, trend_per_day a day; drawn
     * in percent of trend_size from trend_from on (0 = the whole graph). NAN trend_per_day
     * = no trend line. */
    double trend_value, trend_per_day, trend_size;
    time_t trend_time, trend_from;
    time_t forecast_date;      /* vertical rule at the projected date; 0 = none */
    const char *forecast_text; /* legend line for the forecast (borrowed); NULL = none */
};

/* Fills *g with defaults: no object, 800x300 PNG, thresholds 80/90 %, no trend. */
void rrd_store_graph_init(struct rrd_store_graph *g);

/* Draws `g` (borrowed) with librrd's graph API into `path` (written to a temporary file in
 * the same directory, then renamed). On success stores the image size librrd reports in
 * *width and *height (either may be NULL) and returns 0; -ENOENT when the object has no
 * file (rrd_store_error() names the file looked for), -EINVAL for bad options, or -errno
 * for a librrd or file failure (text in rrd_store_error()). With a TCP rrdcached the data
 * is read through the daemon (librrd's own client connection, closed before returning).
 * librrd's graph code keeps process-wide state: one thread of the process at a time. */
int rrd_store_graph(rrd_store_t *store, const struct rrd_store_graph *g, const char *path,
                    int *width, int *height);

/* Counters (copied into *out). Same thread as the other calls. */
void rrd_store_get_stats(const rrd_store_t *store, struct rrd_store_stats *out);
/* Text of the most recent failure, "" when none; borrowed, valid until the next call. */
const char *rrd_store_error(const rrd_store_t *store);

#endif
