/* publisher: encodes records and produces them to Kafka, tracking delivery per batch. */
#define LOG_MODULE "publisher"
#include "collector/publisher.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"
#include "record_write.h"
#include "xalloc.h"

struct publisher {
    kafka_producer_t *producer;
    struct record_writer w; /* encode buffer reused for every record */
};

static void on_delivery(void *ctx, void *opaque, int err, const char *errstr, int32_t partition,
                        int64_t offset)
{
    struct publisher_batch *batch = opaque;
    if (!batch)
        return;
    if (err == 0) {
        batch->delivered++;
        return;
    }
    if (batch->failed++ == 0)
        snprintf(batch->error, sizeof batch->error, "%s", errstr ? errstr : strerror(-err));
}

publisher_t *publisher_new(const struct config_kv *props, size_t n, char *err, size_t errlen)
{
    publisher_t *pub = xcalloc(1, sizeof *pub);
    pub->producer = kafka_producer_new(props, n, on_delivery, pub, err, errlen);
    if (!pub->producer) {
        free(pub);
        return NULL;
    }
    return pub;
}

void publisher_free(publisher_t *pub)
{
    if (!pub)
        return;
    kafka_producer_free(pub->producer);
    record_writer_free(&pub->w);
    free(pub);
}

int publisher_send(publisher_t *pub, const char *topic, const struct record *rec,
                   struct publisher_batch *batch, char *err, size_t errlen)
{
    char key[RECORD_KEY_MAX];
    int rc = record_key(rec, key, sizeof key);
    if (rc < 0) {
        snprintf(err, errlen, "%s record has no partition key", record_type_name(rec->type));
        return rc;
    }
    rc = record_encode_to(rec, &pub->w);
    if (rc == -EINVAL) {
        char why[256];
        record_validate(rec, why, sizeof why);
        snprintf(err, errlen, "%s record is invalid: %s", record_type_name(rec->type), why);
        return rc;
    }
    if (rc < 0) {
        snprintf(err, errlen, "%s record: %s", record_type_name(rec->type), strerror(-rc));
        return rc;
    }
    rc = kafka_producer_produce(pub->producer, topic, key, strlen(key), pub->w.buf, pub->w.len,
                                batch);
    if (rc < 0) {
        snprintf(err, errlen, "produce to %s: %s", topic, strerror(-rc));
        return rc;
    }
    batch->sent++;
    return 0;
}

int publisher_wait(publisher_t *pub, struct publisher_batch *batch, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? -1 : log_now_ms() + timeout_ms;
    while (batch->delivered + batch->failed < batch->sent) {
        int64_t left = deadline < 0 ? 100 : deadline - log_now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        if (kafka_producer_poll(pub->producer, left > 100 ? 100 : (int)left) == -EIO)
            return -EIO;
    }
    return 0;
}

void publisher_poll(publisher_t *pub)
{
    kafka_producer_poll(pub->producer, 0);
}

void publisher_interrupt(publisher_t *pub)
{
    kafka_producer_interrupt(pub->producer);
}
