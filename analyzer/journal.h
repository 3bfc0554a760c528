/* journal: the tamper-evident audit journal (append-only, hash-chained, one segment a day).
 *
 * DESIGN: each record is one compact JSON line in the segment of the UTC day it was written
 * (`YYYY-MM-DD.jsonl`), with the fields in a fixed order:
 *   {"seq":N,"ts":"<write time>","event_time":"<event time>","kind":"...","key":"...",
 *    "prev":"<hex SHA-256 of the previous line>","data":{...keys sorted...}}
 * `prev` of the first record is 64 zeros. The file HEAD holds the seq and digest of the last
 * synced record (written atomically on every sync), so removing records at the tail is as
 * visible as editing one in the middle. Keys are idempotency keys: appending a key that is
 * already journaled is a no-op, which makes replays after a crash harmless.
 *
 * Only the newest keys are held (memory stays flat under a sustained stream): every key
 * appended since the previous journal_checkpointed() call, and at least the newest
 * JOURNAL_KEYS_KEPT / 2 (at most JOURNAL_KEYS_KEPT + what one checkpoint appends). A replay
 * after a crash re-appends only the keys of records after the last completed checkpoint,
 * which the reopened journal holds as long as that checkpoint interval appended at most
 * JOURNAL_KEYS_KEPT / 2 records (the open scan keeps the newest ones by count, and every key
 * of a record beyond HEAD: written since the last sync, however many). A checkpoint
 * interval that appended more is counted (journal_get_key_stats(): window_overflows): had
 * the process crashed after its journal sync but before that checkpoint completed, its
 * replay could have journaled the oldest of those records a second time. A key older than the held
 * ones (e.g. a CloudTrail archive published again months later) is journaled again; the model's
 * event-id window counts those events (analyzer/model.h, events_unchecked). docs/journal.md
 * explains the format, the crash model and the costs.
 */
#ifndef IPAMWATCH_JOURNAL_H
#define IPAMWATCH_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#define JOURNAL_DIGEST_HEX 64 /* hex characters of a SHA-256 digest */

/* Keys held at least (half of it) and at most (all of it, plus one checkpoint's appends):
 * 16-byte slots in tables at most 3/4 full, about 16 MiB. */
#define JOURNAL_KEYS_KEPT 524288

/* journal_append() result when the key was already journaled (the record was skipped). */
#define JOURNAL_DUPLICATE 1

typedef struct journal journal_t;

/* Source of the write time ("now"); `arg` is the pointer given with it. */
typedef time_t (*journal_clock_fn)(void *arg);

/* Opens the journal in `dir` (borrowed), creating the directory (0700, parents too) and an
 * empty HEAD when it does not exist yet; files are created 0600. Takes an exclusive lock on
 * the directory (one writer per journal). Scans every segment to rebuild the newest journaled
 * keys (see above) and the chain tail; cuts a torn last line (a partial write that was never
 * synced) and logs it. Refuses a journal whose synced tail is missing (HEAD ahead of the records)
 * or whose HEAD does not match its record, so a restart cannot paper over a truncation. With
 * `fsync` false nothing is fsynced (tests and throwaway demos only). Returns a journal owned by the
 * caller (journal_close()), or NULL with text in err. Any thread; the journal is then used by one
 * thread at a time. */
journal_t *journal_open(const char *dir, bool fsync, char *err, size_t errlen);

/* Writes pending records (journal_sync(), logging a failure), ends the writer thread (started
 * with the first full chunk; it formats, hashes and writes the records; it blocks all
 * signals), releases the lock and frees the journal.
 * NULL is a no-op. The thread using the journal. */
void journal_close(journal_t *j);

/* Buffers one record: `kind` (e.g. "allocation", "overlap_opened"; borrowed), `key` (the
 * idempotency key, e.g. a CloudTrail event id or "overlap_opened:<pair>:<time>"; borrowed),
 * `event_time` (when the described event happened, UTC seconds) and `data` (a JSON object,
 * borrowed, may be NULL for {}). The record gets the next seq and the write time from the
 * clock (which picks the day's segment) here, and its key goes into the key index; a compact
 * copy of it (the kind and key quoted, the data's JSON text) goes into a write buffer. Each
 * buffer whose lines come to 128 KiB is handed to the journal's writer thread, which formats
 * the lines, links each to the digest of the previous record and writes them to the segment
 * (not synced), in append order, so memory does not grow with the records appended between
 * syncs (a few chunks are queued at most; the appending thread waits when the queue is full);
 * they are durable only after journal_sync(). When the writer thread cannot be started, the
 * appending thread formats and writes each full buffer itself (the bytes are the same). A
 * chunk write that fails (disk full) keeps its records queued for the next journal_sync(),
 * which retries it and reports the error. Returns 0 when added,
 * JOURNAL_DUPLICATE when `key` is already journaled or pending (nothing is added), -EINVAL on an
 * empty or non-UTF-8 kind/key, non-object data or an event time outside years 0001..9999, or the
 * sticky error of a failed sync (-EIO). The thread using the journal. */
int journal_append(journal_t *j, const char *kind, const char *key, time_t event_time,
                   json_t *data);

/* One string member of a record's data for journal_append_fields(): `name` (a C string) and
 * its value, the `len` bytes at `value`, which a NUL must follow (both borrowed). */
struct journal_field {
    const char *name;
    const char *value;
    size_t len;
};

/* journal_append() of the data object whose members are the `n` strings `fields` (borrowed;
 * names strictly ascending in byte order), without building it: the record's bytes are
 * exactly those journal_append() writes for the jansson object holding those strings (keys
 * sorted, strings escaped by common/record_write.h, same seq, digest chain and key index).
 * Returns as journal_append() does, and -EINVAL also when the names are not strictly
 * ascending. The thread using the journal. */
int journal_append_fields(journal_t *j, const char *kind, const char *key, time_t event_time,
                          const struct journal_field *fields, size_t n);

/* The jansson object of the `n` string members `fields` (borrowed), the object
 * journal_append_fields() journals as journal_append() would: a new reference owned by the
 * caller. The strings are not checked for UTF-8 (journal_append*() refuse what is not). Any
 * thread. */
json_t *journal_fields_object(const struct journal_field *fields, size_t n);

/* Hands the buffered records to the writer thread and waits until it has formatted and
 * written every appended record to its segment (or does that here when there is no writer
 * thread or its writes are paused by a failure), fsyncs them (and the directory when a
 * segment was created), then replaces HEAD atomically (again when a previous call wrote the
 * records but failed at HEAD). Only after it returned 0 may the caller treat the records as
 * durable (e.g. commit the Kafka offsets they came from).
 * Returns 0 or -errno. A failed write is cut back and its records stay pending (the call may
 * be retried); a failed fsync makes the journal fail every later call with -EIO (the page
 * cache can no longer be trusted): close and reopen it. The thread using the journal. */
int journal_sync(journal_t *j);

/* Tells the journal that everything synced so far is covered by a completed checkpoint (its
 * sources will not be replayed): the keys appended before the previous call may now drop.
 * Call after the checkpoint that followed a journal_sync() is complete. The thread using the
 * journal. */
void journal_checkpointed(journal_t *j);

struct journal_key_stats {
    uint64_t keys;             /* idempotency keys held now */
    uint64_t dropped;          /* keys dropped since the open (open scan included) */
    uint64_t window_overflows; /* checkpoint intervals that appended more than
                                  JOURNAL_KEYS_KEPT / 2 records (see above) */
};

/* Copies the key index counters into *out (owned by the caller). The thread using the
 * journal. */
void journal_get_key_stats(const journal_t *j, struct journal_key_stats *out);

/* Seq of the last appended record (pending included); 0 for an empty journal. */
uint64_t journal_last_seq(const journal_t *j);

/* Copies the hex digest of the last appended record (zeros for an empty journal) into `hex`
 * (JOURNAL_DIGEST_HEX + 1 bytes, owned by the caller). Records are chained on the writing
 * side, so this waits until the writer thread has formatted every appended record (or
 * formats them itself when there is no writer thread or its writes are paused). The thread
 * using the journal. */
void journal_last_digest(journal_t *j, char *hex);

/* Number of records appended but not yet synced (written to the segment or still buffered). */
size_t journal_pending(const journal_t *j);

/* Replaces the write-time clock (default: time()). Tests only; call before appending. */
void journal_set_clock_for_testing(journal_t *j, journal_clock_fn now, void *arg);

/* Replaces the 64-bit key hash for journals opened afterwards (NULL restores the default), so
 * tests can force collisions. Tests only; not thread-safe. */
void journal_set_key_hash_for_testing(uint64_t (*hash)(const char *key, size_t len));

/* With `no_thread`, journals opened afterwards fail to start their writer thread (as when
 * pthread_create() fails), so they format and write on the appending thread; false restores
 * it. Tests only; not thread-safe. */
void journal_set_no_writer_thread_for_testing(bool no_thread);

/* Replaces JOURNAL_KEYS_KEPT for journals opened afterwards (0 restores it), so tests can
 * reach the bound with few records. Tests only; not thread-safe. */
void journal_set_keys_kept_for_testing(size_t keys);

/* What journal_verify() found wrong first. */
enum journal_fault {
    JOURNAL_FAULT_NONE = 0,
    JOURNAL_FAULT_MALFORMED, /* a line is not a journal record (bad JSON, field, time) */
    JOURNAL_FAULT_EDITED,    /* a record's bytes changed after it was written */
    JOURNAL_FAULT_MISSING,   /* records are missing (a line or a segment was removed) */
    JOURNAL_FAULT_INSERTED,  /* a record that is not part of the chain was added */
    JOURNAL_FAULT_REORDERED, /* records are out of order */
    JOURNAL_FAULT_TRUNCATED, /* the tail is shorter than HEAD says, or a line is cut short */
    JOURNAL_FAULT_HEAD,      /* HEAD is missing, malformed or does not match its record */
};

/* Short name of a fault ("edited", ...). Static string. Any thread. */
const char *journal_fault_name(enum journal_fault fault);

struct journal_verify_result {
    bool ok;                                  /* the whole chain and HEAD check out */
    uint64_t records;                         /* records verified (before the first fault) */
    uint64_t segments;                        /* segment files walked */
    uint64_t last_seq;                        /* seq of the last verified record */
    char head_digest[JOURNAL_DIGEST_HEX + 1]; /* digest of that record (zeros when none) */
    uint64_t beyond_head;                     /* records after HEAD's seq (crash before the
                                                 HEAD update; HEAD catches up at next open) */
    bool torn_tail;                           /* an unsynced partial line after HEAD (cut at
                                                 the next open) */
    /* Records whose event_time lies in the requested range (journal_verify_range()). */
    uint64_t range_records;
    uint64_t range_first_seq, range_last_seq; /* 0 when none */
    /* The first fault, when !ok. */
    enum journal_fault fault;
    char file[32];  /* segment name, or "HEAD" */
    uint64_t line;  /* 1-based line in `file` (0 for HEAD) */
    uint64_t seq;   /* seq of the bad record (the expected seq when it is missing) */
    char what[320]; /* what is wrong, in words */
};

/* Walks every segment of the journal in `dir` in order, recomputes the hash chain and checks
 * seqs and HEAD; stops at the first fault, which it names in `res` (file, line, seq, what).
 * Read-only and lock-free: it may run while a writer appends (a line being written is seen
 * as an unsynced torn tail). Returns 0 when the journal is intact, -EBADMSG when a fault was
 * found (res says which; err has a one-line summary), other -errno on I/O errors (err says
 * which). `res` is owned by the caller. Any thread. */
int journal_verify(const char *dir, struct journal_verify_result *res, char *err, size_t errlen);

/* journal_verify() that also counts the records whose event_time is in [from, to) (to <= 0:
 * no upper bound) in res->range_*; the whole chain is still verified. Any thread. */
int journal_verify_range(const char *dir, time_t from, time_t to, struct journal_verify_result *res,
                         char *err, size_t errlen);

/* One record handed out by journal_reader_next(); every pointer is borrowed from the reader
 * and valid until the next call (json_incref() `record` or `data` to keep them). */
struct journal_record {
    uint64_t seq;
    time_t ts;         /* write time */
    time_t event_time; /* time of the described event */
    const char *kind;
    const char *key;
    const char *prev; /* hex digest of the previous record */
    json_t *data;     /* the caller's object */
    json_t *record;   /* the whole parsed line */
    const char *segment;
    uint64_t line;
};

typedef struct journal_reader journal_reader_t;

/* Opens a reader over every record of the journal in `dir` in seq order whose event_time is
 * in [from, to) (from = to = 0: all records; to <= 0: no upper bound). Reads without a lock;
 * an unsynced partial last line is skipped. It does not verify the chain: reports run
 * journal_verify() too. Returns a reader owned by the caller, or NULL with text in err. */
journal_reader_t *journal_reader_new(const char *dir, time_t from, time_t to, char *err,
                                     size_t errlen);

/* Fills `rec` with the next matching record. Returns 1, 0 at the end, or -errno (-EBADMSG for
 * a line that is not a record) with text in err. The thread owning the reader. */
int journal_reader_next(journal_reader_t *r, struct journal_record *rec, char *err, size_t errlen);

/* Frees the reader; NULL is a no-op. */
void journal_reader_free(journal_reader_t *r);

#endif
