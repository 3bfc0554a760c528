/* ct_archive: the `collect --from-archive DIR` source: CloudTrail log files into the events topic.
 *
 * DESIGN: CloudTrail delivers one gzip'd JSON file per account, Region and ~5 minutes
 * (AWSLogs/[<org-id>/]<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/
 * <account>_CloudTrail_<region>_<yyyymmddThhmmZ>_<unique>.json.gz, each {"Records": [...]}).
 * The source lists every *.json.gz and *.json under DIR, orders the files by the timestamp
 * in their name (else the date of their path), and reads them one at a time through zlib
 * (plain JSON passes through gzread unchanged). A file is scanned as a stream: the Records
 * array is cut into its elements without building the file's document, so only one element
 * and the file's relevant events are in memory at once, whatever the file size. A file is
 * all or nothing: its events are published, in event-time order, only after the whole file
 * was read; a corrupt gzip stream, a truncated file or malformed JSON skips the file with
 * its path and the reason, and the run goes on. Event ids already published in the run are
 * skipped (archives overlap, and so do organisation and account trails).
 *
 * Exit policy: the run succeeds only when no file was skipped and every relevant event
 * became a record whose delivery the cluster confirmed; anything else is reported and makes
 * the command exit 1 after finishing the other files.
 */
#ifndef IPAMWATCH_CT_ARCHIVE_H
#define IPAMWATCH_CT_ARCHIVE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "collector/publisher.h"
#include "config/config.h"

struct ct_archive_options {
    const char *topic;           /* events topic */
    const char *source;          /* envelope source of the records */
    volatile sig_atomic_t *stop; /* non-zero: stop reading, wait for what was queued */
};

struct ct_archive_result {
    unsigned files;         /* log files found */
    unsigned files_skipped; /* corrupt, truncated, malformed or unreadable */
    uint64_t records;       /* CloudTrail records read from files that were not skipped */
    uint64_t relevant;      /* of those, IP allocation events (ct_event_is_relevant) */
    uint64_t duplicates;    /* relevant events whose id was already published in the run */
    uint64_t unparsed;      /* published with parsed=false */
    uint64_t unusable;      /* relevant but no valid record could be made (reported) */
    uint64_t sent;          /* queued to Kafka */
    uint64_t published;     /* delivery confirmed */
    uint64_t failed;        /* refused by the producer or the cluster */
};

/* Lists the CloudTrail log files (*.json.gz, *.json) under `dir` (borrowed), recursively,
 * skipping hidden entries, symbolic links to directories and CloudTrail-Digest folders, in
 * processing order (ct_archive_file_time(), then path). On success stores an array of
 * `*n` paths in `*paths` (owned by the caller: free each and the array) and the number of
 * subfolders that could not be read in `*unreadable` (each logged); returns 0, or -errno
 * with the reason in `err` when `dir` itself cannot be read. Any thread. */
int ct_archive_list(const char *dir, char ***paths, size_t *n, unsigned *unreadable, char *err,
                    size_t errlen);

/* Returns the time a log file covers, in ms since the epoch: the yyyymmddThhmmZ stamp of a
 * CloudTrail file name, else the yyyy/mm/dd folders of its path (midnight UTC), else
 * INT64_MAX (such files go last). `path` is borrowed. Any thread. */
int64_t ct_archive_file_time(const char *path);

/* Called once per element of a file's Records array with the element (borrowed; valid
 * during the call). Return 0 to go on, or a negative code to stop reading (returned by
 * ct_archive_read_file). */
typedef int (*ct_archive_record_cb)(json_t *rec, void *ctx);

/* Streams the Records array of the log file `path` (gzip or plain JSON) into `cb`, one
 * element at a time. Returns 0 when the whole file was read and is well-formed; -EIO
 * (unreadable, corrupt or truncated gzip), -EBADMSG (malformed JSON, no Records array,
 * truncated JSON) or -EFBIG (one record larger than 64 MiB) with the reason in `err`; or
 * what `cb` returned. Elements already passed to `cb` before an error stay passed. Any
 * thread. */
int ct_archive_read_file(const char *path, ct_archive_record_cb cb, void *ctx, char *err,
                         size_t errlen);

/* Publishes the relevant events of every log file under `dir` to `o->topic` through `pub`
 * (both borrowed) and waits until the cluster reported every message. Fills `res`.
 * Returns 0 when every file was read and every relevant event was delivered (duplicates
 * count as delivered), -EAGAIN when something was skipped or not delivered (each logged
 * with its file), -ENOENT when `dir` holds no log file, -EINTR when stopped, another -errno
 * when `dir` cannot be read. The thread that owns `pub`. */
int ct_archive_run(const char *dir, publisher_t *pub, const struct ct_archive_options *o,
                   struct ct_archive_result *res);

/* The `collect --from-archive` job: a producer from `cfg` (borrowed), ct_archive_run() into
 * cfg->topics.events with `collector_id` (NULL = the host name) as the record source.
 * Returns what ct_archive_run() returns, or -EINVAL on a setup error (logged). Main
 * thread. */
int ct_archive_collect(const struct config *cfg, const char *dir, const char *collector_id,
                       volatile sig_atomic_t *stop, struct ct_archive_result *res);

#endif
