/* publisher: encodes records and produces them to Kafka, tracking delivery per batch.
 *
 * DESIGN: a batch (one inventory pass, one page of events) counts what it sent and what
 * the cluster confirmed or refused; the delivery callback finds the batch through the
 * message opaque. A batch must stay alive until publisher_wait() says every one of its
 * messages was reported: librdkafka reports every message exactly once (delivered, failed
 * after message.timeout.ms, or purged at close), so that wait always ends.
 */
#ifndef IPAMWATCH_PUBLISHER_H
#define IPAMWATCH_PUBLISHER_H

#include <stddef.h>
#include <stdint.h>

#include "kv.h"
#include "record.h"

typedef struct publisher publisher_t;

struct publisher_batch {
    uint64_t sent;      /* messages queued */
    uint64_t delivered; /* confirmed by the cluster */
    uint64_t failed;    /* refused or timed out */
    char error[256];    /* librdkafka's text for the first failure */
};

/* Creates a publisher with an idempotent producer built from `props` (borrowed; librdkafka
 * properties verbatim). Returns NULL with text in `err`. Owned by the caller. One thread. */
publisher_t *publisher_new(const struct config_kv *props, size_t n, char *err, size_t errlen);

/* Flushes (bounded), then destroys. NULL is a no-op. */
void publisher_free(publisher_t *pub);

/* Encodes `rec` (borrowed) and queues it to `topic` keyed by record_key(), counting it in
 * `batch` (borrowed; must outlive the message's delivery report). Returns 0, -EINVAL when
 * the record does not validate (reason in err), -E2BIG when it is too large, -EINTR when
 * interrupted, -EIO on a producer error. */
int publisher_send(publisher_t *pub, const char *topic, const struct record *rec,
                   struct publisher_batch *batch, char *err, size_t errlen);

/* Serves delivery reports until every message of `batch` was reported or `timeout_ms`
 * passed (-1: no limit). Returns 0 when all were reported (check batch->failed),
 * -ETIMEDOUT otherwise, -EIO after a fatal producer error. */
int publisher_wait(publisher_t *pub, struct publisher_batch *batch, int timeout_ms);

/* Serves delivery reports without waiting. */
void publisher_poll(publisher_t *pub);

/* Makes a blocked publisher_send return -EINTR. Async-signal-safe. */
void publisher_interrupt(publisher_t *pub);

#endif
