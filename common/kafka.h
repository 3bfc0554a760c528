/* kafka: the librdkafka boundary shared by the collector, the analyzer and the tools.
 *
 * DESIGN: every Kafka property the user gives (config `[kafka]` section, `-X key=value`)
 * reaches librdkafka verbatim; an error names where the property came from. librdkafka's
 * own logs and errors go through our logger: fatal errors are flagged on the handle and
 * surfaced by the next call, "all brokers down" and transport errors are rate limited.
 * The producer is idempotent unless the user says otherwise and hands each message's
 * opaque back to one delivery callback, so a caller can tell exactly which of its records
 * the cluster confirmed. The consumer never commits on its own: the caller commits the
 * next offset once the message's effects are durable. Where an assigned partition will
 * start and end can be asked on a thread of its own (kafka_starts_begin()), the one thread
 * this module starts: the calls block on broker round trips. Nothing here assumes a
 * particular broker (the development broker lives in devbroker.c).
 */
#ifndef IPAMWATCH_KAFKA_H
#define IPAMWATCH_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "kv.h"

/* Builds a librdkafka configuration from `props` (borrowed, `n` entries, applied in order
 * with rd_kafka_conf_set), with librdkafka's logs routed to our logger and an error
 * callback installed. On failure returns NULL and writes
 * "FILE:LINE: kafka property 'KEY': <librdkafka's text>" (or "-X KEY: <text>" for a
 * command-line property) into `err`. Values of secret properties never reach a log line
 * or `err`. The returned conf is owned by the caller (rd_kafka_conf_destroy, or handed to
 * rd_kafka_new); its opaque is reserved for kafka_producer/kafka_consumer and must not be
 * set by the caller. Any thread. */
rd_kafka_conf_t *kafka_conf_new(const struct config_kv *props, size_t n, char *err, size_t errlen);

/* True when the value of property `key` is a secret that must never be logged
 * (passwords, *.secret, private keys, OAUTHBEARER config). Any thread. */
bool kafka_property_is_secret(const char *key);

/* True when `props` sets `key` (exact match). */
bool kafka_props_have(const struct config_kv *props, size_t n, const char *key);

/* ---- producer ---------------------------------------------------------------------- */

typedef struct kafka_producer kafka_producer_t;

/* Called once per produced message from the thread that calls kafka_producer_poll,
 * _flush, _produce or _free. `opaque` is the pointer given to kafka_producer_produce;
 * `err` is 0 on success (`errstr` NULL), -ETIMEDOUT when message.timeout.ms expired,
 * -ECANCELED when the message was purged at shutdown, -EIO otherwise, with librdkafka's
 * text in `errstr` (borrowed, valid during the call). `partition`/`offset` are known on success
 * (offset may be -1 if the broker did not return one). */
typedef void (*kafka_delivery_fn)(void *ctx, void *opaque, int err, const char *errstr,
                                  int32_t partition, int64_t offset);

/* Creates a producer from `props` (borrowed). enable.idempotence=true unless `props`
 * sets it. `on_delivery` may be NULL (then only the counters are kept); `ctx` is borrowed
 * and passed back to it. Returns NULL with text in `err` on failure. Owned by the caller
 * (kafka_producer_free). The producer is used by one thread at a time. */
kafka_producer_t *kafka_producer_new(const struct config_kv *props, size_t n,
                                     kafka_delivery_fn on_delivery, void *ctx, char *err,
                                     size_t errlen);

/* Queues one message to `topic` (borrowed), partitioned by `key` (borrowed, may be NULL)
 * with the configured partitioner. The key and `value` bytes are copied. When the local
 * queue is full it polls (serving delivery callbacks) and retries until space frees up,
 * a fatal error occurs or kafka_producer_interrupt() is called. Returns 0 when queued
 * (the delivery callback follows later), -EINTR if interrupted, -EMSGSIZE for a message
 * over message.max.bytes, -ENOENT for an unknown partition/topic, -EIO on a fatal or
 * other error (logged). */
int kafka_producer_produce(kafka_producer_t *p, const char *topic, const void *key, size_t keylen,
                           const void *value, size_t len, void *opaque);

/* Serves delivery callbacks and errors, waiting at most `timeout_ms`. Returns the number
 * of events served, or -EIO after a fatal error (see kafka_producer_fatal). Call it every
 * loop turn. */
int kafka_producer_poll(kafka_producer_t *p, int timeout_ms);

/* Waits up to `timeout_ms` for every queued message to be delivered or to fail (serving
 * callbacks). Returns 0 when nothing is outstanding, -ETIMEDOUT otherwise with the count
 * left in *outstanding (if not NULL), -EIO after a fatal error. */
int kafka_producer_flush(kafka_producer_t *p, int timeout_ms, size_t *outstanding);

/* Takes the messages that still wait in the producer's queues, not sent to a broker yet,
 * out of it (rd_kafka_purge with RD_KAFKA_PURGE_F_QUEUE: librdkafka cannot take back one
 * message alone, so a caller that wants one message gone keeps no other queued) and serves
 * their delivery callbacks (err -ECANCELED) before it returns. Messages already sent (in
 * flight) cannot be recalled: their callbacks follow later, and the broker may have written
 * them (kafka_producer_outstanding() counts them). Returns 0, or -EIO when librdkafka refused
 * or after a fatal error. The producer's thread. */
int kafka_producer_purge_queued(kafka_producer_t *p);

/* Messages queued but not yet reported. */
size_t kafka_producer_outstanding(const kafka_producer_t *p);
/* Messages reported delivered / failed since creation. */
uint64_t kafka_producer_delivered(const kafka_producer_t *p);
uint64_t kafka_producer_failed(const kafka_producer_t *p);

/* True after a fatal error (e.g. the idempotent producer lost its sequence); writes
 * librdkafka's text into `err` if not NULL. The producer must then be recreated. */
bool kafka_producer_fatal(kafka_producer_t *p, char *err, size_t errlen);

/* Makes a blocked or later kafka_producer_produce return -EINTR. Async-signal-safe; may
 * be called from any thread or a signal handler. */
void kafka_producer_interrupt(kafka_producer_t *p);

/* The underlying handle (borrowed), for statistics and metadata. */
rd_kafka_t *kafka_producer_handle(kafka_producer_t *p);

/* Flushes for at most `timeout_ms` (kafka_producer_free uses 10 s), then purges what is
 * left (those messages get -ECANCELED delivery callbacks) and destroys the producer.
 * NULL is a no-op. */
void kafka_producer_close(kafka_producer_t *p, int timeout_ms);
void kafka_producer_free(kafka_producer_t *p);

/* ---- consumer ---------------------------------------------------------------------- */

typedef struct kafka_consumer kafka_consumer_t;

enum kafka_rebalance {
    KAFKA_ASSIGN, /* partitions now ours: consumption starts at the committed offsets */
    KAFKA_REVOKE, /* partitions leave us: commit what is durable now */
    KAFKA_LOST,   /* partitions were taken away: commits for them would fail */
};

/* Called from kafka_consumer_poll (or _close) before the assignment changes, with the
 * partitions concerned (borrowed, valid during the call). With the cooperative protocol
 * only the added/removed partitions are listed; with the eager one, all of them. */
typedef void (*kafka_rebalance_fn)(void *ctx, enum kafka_rebalance event,
                                   const rd_kafka_topic_partition_list_t *parts);

/* Creates a group consumer subscribed to `topics` (borrowed, `ntopics` names).
 * `props` (borrowed) must set group.id; enable.auto.commit=false and
 * enable.auto.offset.store=false unless they set them. `on_rebalance` may be NULL; `ctx`
 * is borrowed. Returns NULL with text in `err` on failure. Owned by the caller
 * (kafka_consumer_free). One thread at a time. */
kafka_consumer_t *kafka_consumer_new(const struct config_kv *props, size_t n,
                                     const char *const *topics, size_t ntopics,
                                     kafka_rebalance_fn on_rebalance, void *ctx, char *err,
                                     size_t errlen);

/* Waits up to `timeout_ms` for one message. Returns 0 with *rkm set to a message owned by
 * the caller (kafka_message_free), 0 with *rkm NULL when nothing arrived (timeouts,
 * partition EOF and transient errors, which are logged rate-limited), or -EIO after a
 * fatal error (see kafka_consumer_fatal). */
int kafka_consumer_poll(kafka_consumer_t *c, int timeout_ms, rd_kafka_message_t **rkm);

/* One partition's offset for kafka_consumer_commit_offsets(). */
struct kafka_commit {
    const char *topic; /* borrowed */
    int32_t partition;
    int64_t next_offset; /* the offset of the next message to read */
    int err;             /* set by the call: 0 committed, -EIO not committed */
};

/* Commits the `n` offsets of `offs` (borrowed) in one synchronous request to the group
 * coordinator and sets each entry's `err` from the broker's answer for that partition: a
 * failure of the whole request fails every entry. Returns 0 when all were committed (n == 0
 * included), -EIO otherwise (the failures logged in one line). One thread at a time. */
int kafka_consumer_commit_offsets(kafka_consumer_t *c, struct kafka_commit *offs, size_t n);

/* True after a fatal error; writes librdkafka's text into `err` if not NULL. */
bool kafka_consumer_fatal(kafka_consumer_t *c, char *err, size_t errlen);

/* The underlying handle (borrowed). */
rd_kafka_t *kafka_consumer_handle(kafka_consumer_t *c);

/* Leaves the group (revoking partitions through the rebalance callback). Returns 0 or
 * -EIO. Idempotent; kafka_consumer_free calls it if needed. */
int kafka_consumer_close(kafka_consumer_t *c);
/* Closes if needed and destroys. NULL is a no-op. */
void kafka_consumer_free(kafka_consumer_t *c);

/* Destroys a message from kafka_consumer_poll. NULL is a no-op. */
void kafka_message_free(rd_kafka_message_t *rkm);

/* ---- where assigned partitions start ------------------------------------------------ */

/* Where a group consumer starts delivering one partition, and where the partition ends. */
struct kafka_start {
    char *topic; /* a copy, freed by kafka_starts_clear() */
    int32_t partition;
    int64_t start; /* the group's committed offset when it lies within the partition, else
                      the offset auto.offset.reset gives (earliest: the low watermark,
                      latest: the high one); -1 not known */
    int64_t hi;    /* the high watermark; -1 not known */
};

/* Asks the brokers where consumer `c` starts delivering each of `parts` (borrowed; their
 * offsets are ignored) and where they end: the committed offsets (rd_kafka_committed) and
 * the watermarks (rd_kafka_query_watermark_offsets), within `timeout_ms` in all. Writes
 * parts->cnt answers into `out` (an array of that many, owned by the caller; each topic a
 * copy the caller frees, or kafka_starts_clear). Returns 0 when every answer is known,
 * -ETIMEDOUT or -EIO with the first failure in `err` otherwise (the missing values are
 * -1). Blocks; any thread while `c` lives (librdkafka's calls are thread-safe). */
int kafka_consumer_starts(kafka_consumer_t *c, const rd_kafka_topic_partition_list_t *parts,
                          int timeout_ms, struct kafka_start *out, char *err, size_t errlen);

/* Frees the topics of `n` answers (the array itself stays the caller's). */
void kafka_starts_clear(struct kafka_start *out, size_t n);

/* kafka_consumer_starts() on a thread of its own, so that a slow cluster does not stall
 * the caller's loop. */
typedef struct kafka_starts kafka_starts_t;

/* Starts the query for `parts` (borrowed, copied). Never NULL (allocation failure or a
 * thread that cannot start aborts). Owned by the caller (kafka_starts_free), which must
 * free it before `c`. */
kafka_starts_t *kafka_starts_begin(kafka_consumer_t *c,
                                   const rd_kafka_topic_partition_list_t *parts, int timeout_ms);

/* True once the answers are in (or the query gave up). Does not block. The owner's
 * thread. */
bool kafka_starts_done(kafka_starts_t *q);

/* After kafka_starts_done(): sets *out to the answers (borrowed, valid until
 * kafka_starts_free) and *n to their count; returns what kafka_consumer_starts() returned,
 * with its text in `err`. */
int kafka_starts_result(kafka_starts_t *q, const struct kafka_start **out, size_t *n, char *err,
                        size_t errlen);

/* Waits for the query to end (at most its timeout) and frees it. NULL is a no-op. */
void kafka_starts_free(kafka_starts_t *q);

#endif
