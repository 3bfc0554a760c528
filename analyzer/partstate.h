/* partstate: the analyzer state of one inventory partition as one record of a compacted Kafka
 * topic, so that the state follows the partition from one analyzer to another.
 *
 * DESIGN: analyzers of one consumer group split the inventory partitions, and the inventory is
 * keyed by scope, so a scope lives in exactly one inventory partition and is modelled by the
 * analyzer that owns it. At each checkpoint, after the journal and the RRD files are durable
 * and before any offset is committed, the analyzer publishes per owned inventory partition p
 * one record keyed "inv-<p>" to [topics] state: the model of p's scopes
 * (model_export_scopes()), the pending and firing alerts of those scopes
 * (alert_engine_export()) and the inventory offset that state covers. The topic is compacted,
 * so it holds the latest record per key. When a partition is assigned, the analyzer reads the
 * state topic to its end and adopts the latest record of that partition before it applies any
 * message: the model replaces its scopes, the alerts come over without notifications (a
 * firing alert is not paged again and resolves when its condition ends), and messages below
 * the record's offset are skipped. The committed offset is never beyond the record's offset
 * (records go out before the commit), so a takeover after a crash replays what the dead
 * analyzer did not commit, and replays are idempotent.
 *
 * Alerts tied to no scope ("global": overlap pairs, a silent collector) travel with inventory
 * partition 0 (partstate_scope_partition()).
 */
#ifndef IPAMWATCH_PARTSTATE_H
#define IPAMWATCH_PARTSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "kv.h"

#define PARTSTATE_VERSION 1
#define PARTSTATE_KEY_MAX 24 /* "inv-" and a partition number, NUL included */

/* One partition's state. Strings and JSON are owned by the struct (partstate_clear()). */
struct partstate {
    int32_t partition; /* inventory partition */
    int64_t next;      /* next inventory offset the state covers */
    int64_t written_ms;
    char *owner; /* the analyzer that wrote it (group member description) */
    char *model; /* model_export_scopes() text */
    size_t model_len;
    json_t *scopes; /* array of the scope ids in `model` */
    json_t *alerts; /* alert_engine_export() document */
};

/* Writes the record key of inventory partition `partition` ("inv-<partition>") into `buf`.
 * Returns 0 or -ENOSPC. Any thread. */
int partstate_key(int32_t partition, char *buf, size_t len);

/* The inventory partition a record key names, or -EINVAL when `key` (`len` bytes, borrowed)
 * is not such a key. Any thread. */
int32_t partstate_key_partition(const char *key, size_t len);

/* The inventory partition whose state holds what belongs to `scope` (borrowed): its entry in
 * `scope_parts` (scope id -> partition, borrowed), 0 for "global" (alerts tied to no scope),
 * -1 when unknown. Any thread. */
int32_t partstate_scope_partition(const json_t *scope_parts, const char *scope);

/* Encodes `ps` (borrowed) as one JSON document in a new buffer of *len bytes (owned by the
 * caller, free()). Never NULL (allocation failure aborts). Any thread. */
char *partstate_encode(const struct partstate *ps, size_t *len);

/* Decodes `len` bytes of `buf` (borrowed) into *out (zeroed first; owned by the caller,
 * partstate_clear()). Returns 0, or -EINVAL with text in `err` for anything that is not a
 * partition state of this version. Any thread. */
int partstate_decode(const char *buf, size_t len, struct partstate *out, char *err, size_t errlen);

/* Frees what `ps` holds and zeroes it. Any thread. */
void partstate_clear(struct partstate *ps);

typedef struct partstate_io partstate_io_t;

/* Opens a producer for `topic` (borrowed, copied) with the Kafka properties `props` (borrowed).
 * Returns the handle (owned by the caller, partstate_io_free()) or NULL with text in `err`.
 * The thread that uses it. */
partstate_io_t *partstate_io_new(const struct config_kv *props, size_t n, const char *topic,
                                 char *err, size_t errlen);

/* Publishes `ps` (borrowed) under its partition's key and waits up to `timeout_ms` for the
 * broker's confirmation. Returns 0 when delivered, or -errno with text in `err`. */
int partstate_publish(partstate_io_t *io, const struct partstate *ps, int timeout_ms, char *err,
                      size_t errlen);

/* Reads the state topic from its beginning to its end (high watermarks taken at the call)
 * and returns, in *out (a new object owned by the caller), the latest value of the key of
 * each of the `n` partitions `parts` (borrowed) as a JSON string of the record's bytes; keys
 * without a record, or whose latest record is a tombstone, are absent. A topic that does not
 * exist yet reads as empty. Returns 0 or -errno with text in `err` (nothing in *out). */
int partstate_fetch(partstate_io_t *io, const int32_t *parts, size_t n, int timeout_ms,
                    json_t **out, char *err, size_t errlen);

/* Flushes and frees; NULL is a no-op. */
void partstate_io_free(partstate_io_t *io);

#endif
