/* partstate: one inventory partition's analyzer state on the compacted state topic. See
 * partstate.h. */
#define LOG_MODULE "partstate"
#include "analyzer/partstate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka.h"
#include "log.h"
#include "text.h"
#include "xalloc.h"

#define META_TIMEOUT_MS 5000

struct partstate_io {
    kafka_producer_t *producer;
    struct config_kv *props; /* reader properties: the caller's, then ours */
    size_t nprops;
    char *topic;
    int delivered; /* 0 in flight, 1 delivered, -errno failed */
    char errstr[256];
};

int partstate_key(int32_t partition, char *buf, size_t len)
{
    int n = snprintf(buf, len, "inv-%" PRId32, partition);
    return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int32_t partstate_key_partition(const char *key, size_t len)
{
    if (!key || len < 5 || len >= PARTSTATE_KEY_MAX || memcmp(key, "inv-", 4) != 0)
        return -EINVAL;
    int64_t v = 0;
    for (size_t i = 4; i < len; i++) {
        if (key[i] < '0' || key[i] > '9' || (i == 4 && key[i] == '0' && len > 5))
            return -EINVAL;
        v = v * 10 + (key[i] - '0');
        if (v > INT32_MAX)
            return -EINVAL;
    }
    return (int32_t)v;
}

int32_t partstate_scope_partition(const json_t *scope_parts, const char *scope)
{
    if (!scope)
        return -1;
    if (strcmp(scope, "global") == 0)
        return 0;
    json_t *v = json_object_get(scope_parts, scope);
    return json_is_integer(v) ? (int32_t)json_integer_value(v) : -1;
}

char *partstate_encode(const struct partstate *ps, size_t *len)
{
    json_t *root = json_pack(
        "{s:i, s:i, s:I, s:I, s:s, s:O, s:O, s:s%}", "partstate", PARTSTATE_VERSION, "partition",
        (int)ps->partition, "next", (json_int_t)ps->next, "written_ms", (json_int_t)ps->written_ms,
        "owner", ps->owner ? ps->owner : "", "scopes", ps->scopes ? ps->scopes : json_array(),
        "alerts", ps->alerts ? ps->alerts : json_object(), "model", ps->model ? ps->model : "",
        ps->model ? ps->model_len : 0);
    if (!root)
        abort();
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text)
        abort();
    *len = strlen(text);
    return text;
}

int partstate_decode(const char *buf, size_t len, struct partstate *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        text_errbuf_set(err, errlen, "partition state: %s", jerr.text);
        return -EINVAL;
    }
    json_int_t version = 0, partition = -1, next = -1, written = 0;
    const char *owner = NULL, *model = NULL;
    size_t model_len = 0;
    json_t *scopes = NULL, *alerts = NULL;
    if (json_unpack_ex(root, &jerr, JSON_STRICT, "{s:I, s:I, s:I, s:I, s:s, s:o, s:o, s:s%}",
                       "partstate", &version, "partition", &partition, "next", &next, "written_ms",
                       &written, "owner", &owner, "scopes", &scopes, "alerts", &alerts, "model",
                       &model, &model_len) < 0) {
        text_errbuf_set(err, errlen, "partition state: %s", jerr.text);
        goto fail;
    }
    if (version != PARTSTATE_VERSION || partition < 0 || partition > INT32_MAX || next < 0 ||
        !json_is_array(scopes) || !json_is_object(alerts)) {
        text_errbuf_set(err, errlen,
                        "partition state: not a version %d state with a partition, "
                        "an offset, scopes and alerts",
                        PARTSTATE_VERSION);
        goto fail;
    }
    size_t i;
    json_t *v;
    json_array_foreach(scopes, i, v) if (!json_is_string(v))
    {
        text_errbuf_set(err, errlen, "partition state: scope #%zu is not a string", i + 1);
        goto fail;
    }
    out->partition = (int32_t)partition;
    out->next = next;
    out->written_ms = written;
    out->owner = xstrdup(owner);
    out->model = xmalloc(model_len + 1);
    memcpy(out->model, model, model_len);
    out->model[model_len] = '\0';
    out->model_len = model_len;
    out->scopes = json_incref(scopes);
    out->alerts = json_incref(alerts);
    json_decref(root);
    return 0;
fail:
    json_decref(root);
    return -EINVAL;
}

void partstate_clear(struct partstate *ps)
{
    free(ps->owner);
    free(ps->model);
    json_decref(ps->scopes);
    json_decref(ps->alerts);
    memset(ps, 0, sizeof *ps);
}

/* ---- Kafka ------------------------------------------------------------------------------ */

static void on_delivery(void *ctx, void *opaque, int err, const char *errstr, int32_t partition,
                        int64_t offset)
{
    partstate_io_t *io = ctx;
    (void)opaque;
    (void)partition;
    (void)offset;
    io->delivered = err ? err : 1;
    if (err)
        snprintf(io->errstr, sizeof io->errstr, "%s", errstr ? errstr : strerror(-err));
}

static void add_prop(partstate_io_t *io, size_t *cap, const char *key, const char *value,
                     const char *file)
{
    io->props = xgrow(io->props, cap, io->nprops + 1, sizeof *io->props);
    io->props[io->nprops++] = (struct config_kv){xstrdup(key), xstrdup(value), file, 0};
}

partstate_io_t *partstate_io_new(const struct config_kv *props, size_t n, const char *topic,
                                 char *err, size_t errlen)
{
    partstate_io_t *io = xcalloc(1, sizeof *io);
    char text[512];
    io->topic = xstrdup(topic);
    size_t cap = 0;
    for (size_t i = 0; i < n; i++)
        add_prop(io, &cap, props[i].key, props[i].value, props[i].file);
    /* The reader assigns partitions itself and never commits. */
    add_prop(io, &cap, "group.id", "ipamwatch-partstate-reader", "(partition state reader)");
    add_prop(io, &cap, "enable.auto.commit", "false", "(partition state reader)");
    add_prop(io, &cap, "enable.partition.eof", "true", "(partition state reader)");
    io->producer = kafka_producer_new(props, n, on_delivery, io, text, sizeof text);
    if (!io->producer) {
        text_errbuf_set(err, errlen, "partition state producer: %s", text);
        partstate_io_free(io);
        return NULL;
    }
    return io;
}

int partstate_publish(partstate_io_t *io, const struct partstate *ps, int timeout_ms, char *err,
                      size_t errlen)
{
    char key[PARTSTATE_KEY_MAX];
    size_t len;
    int rc = partstate_key(ps->partition, key, sizeof key);
    if (rc < 0) {
        text_errbuf_set(err, errlen, "partition %d: key too long", (int)ps->partition);
        return rc;
    }
    char *value = partstate_encode(ps, &len);
    io->delivered = 0;
    rc = kafka_producer_produce(io->producer, io->topic, key, strlen(key), value, len, NULL);
    free(value);
    if (rc < 0) {
        text_errbuf_set(err, errlen, "produce %s to %s: %s", key, io->topic, strerror(-rc));
        return rc;
    }
    kafka_producer_flush(io->producer, timeout_ms, NULL);
    if (io->delivered == 1)
        return 0;
    text_errbuf_set(err, errlen, "%s to %s not delivered: %s", key, io->topic,
                    io->delivered == 0 ? "timed out" : io->errstr);
    return io->delivered == 0 ? -ETIMEDOUT : io->delivered;
}

static bool wanted(const int32_t *parts, size_t n, int32_t p)
{
    for (size_t i = 0; i < n; i++)
        if (parts[i] == p)
            return true;
    return false;
}

int partstate_fetch(partstate_io_t *io, const int32_t *parts, size_t n, int timeout_ms,
                    json_t **out, char *err, size_t errlen)
{
    char text[512];
    int rc = -EIO;
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_t *rkt = NULL;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *assign = NULL;
    int64_t *high = NULL;
    json_t *latest = json_object();
    int64_t deadline = log_now_ms() + timeout_ms;

    rd_kafka_conf_t *conf = kafka_conf_new(io->props, io->nprops, text, sizeof text);
    if (!conf) {
        text_errbuf_set(err, errlen, "partition state reader: %s", text);
        goto fail;
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, text, sizeof text);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        text_errbuf_set(err, errlen, "partition state reader: %s", text);
        goto fail;
    }
    rd_kafka_poll_set_consumer(rk);
    rkt = rd_kafka_topic_new(rk, io->topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, META_TIMEOUT_MS);
    if (e) {
        text_errbuf_set(err, errlen, "metadata of %s: %s", io->topic, rd_kafka_err2str(e));
        goto fail;
    }
    if (md->topic_cnt != 1 || md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
        LOG_INFO("state topic %s does not exist yet: no partition state to adopt", io->topic);
        rc = 0;
        goto done;
    }
    if (md->topics[0].err) {
        text_errbuf_set(err, errlen, "metadata of %s: %s", io->topic,
                        rd_kafka_err2str(md->topics[0].err));
        goto fail;
    }
    int np = md->topics[0].partition_cnt;
    high = xcalloc((size_t)(np > 0 ? np : 1), sizeof *high);
    assign = rd_kafka_topic_partition_list_new(np > 0 ? np : 1);
    int open = 0;
    for (int i = 0; i < np; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        int64_t lo = 0, hi = 0;
        e = rd_kafka_query_watermark_offsets(rk, io->topic, p, &lo, &hi, META_TIMEOUT_MS);
        if (e) {
            text_errbuf_set(err, errlen, "offsets of %s [%d]: %s", io->topic, (int)p,
                            rd_kafka_err2str(e));
            goto fail;
        }
        high[i] = hi;
        if (hi <= lo)
            continue;
        rd_kafka_topic_partition_list_add(assign, io->topic, p)->offset = lo;
        open++;
    }
    if (open > 0 && (e = rd_kafka_assign(rk, assign)) != 0) {
        text_errbuf_set(err, errlen, "assign %s: %s", io->topic, rd_kafka_err2str(e));
        goto fail;
    }
    while (open > 0) {
        if (log_now_ms() > deadline) {
            text_errbuf_set(err, errlen, "reading %s to its end took over %d ms", io->topic,
                            timeout_ms);
            rc = -ETIMEDOUT;
            goto fail;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);
        if (!rkm)
            continue;
        int idx = -1;
        for (int i = 0; i < np; i++)
            if (md->topics[0].partitions[i].id == rkm->partition)
                idx = i;
        bool at_end = false;
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            at_end = true;
        } else if (rkm->err) {
            LOG_WARN("reading %s: %s", io->topic, rd_kafka_message_errstr(rkm));
        } else {
            int32_t p = partstate_key_partition(rkm->key, rkm->key_len);
            if (p >= 0 && wanted(parts, n, p)) {
                char key[PARTSTATE_KEY_MAX];
                partstate_key(p, key, sizeof key);
                if (rkm->payload)
                    json_object_set_new(latest, key, json_stringn(rkm->payload, rkm->len));
                else
                    json_object_del(latest, key); /* tombstone */
            }
            at_end = idx >= 0 && rkm->offset + 1 >= high[idx];
        }
        if (at_end && idx >= 0 && high[idx] >= 0) {
            high[idx] = -1; /* done */
            open--;
        }
        rd_kafka_message_destroy(rkm);
    }
    rc = 0;
done:
    *out = latest;
    latest = NULL;
fail:
    json_decref(latest);
    if (assign)
        rd_kafka_topic_partition_list_destroy(assign);
    free(high);
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    return rc;
}

void partstate_io_free(partstate_io_t *io)
{
    if (!io)
        return;
    kafka_producer_free(io->producer);
    for (size_t i = 0; i < io->nprops; i++) {
        free(io->props[i].key);
        free(io->props[i].value);
    }
    free(io->props);
    free(io->topic);
    free(io);
}
