/* kafka: the librdkafka boundary: verbatim configuration, idempotent producer with
 * per-message delivery callbacks, group consumer with explicit commits, where assigned
 * partitions start. */
#define LOG_MODULE "kafka"
#include "config.h"

#include "kafka.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "text.h"
#include "xalloc.h"

/* State of one handle as seen by the error callback. It is the first member of both
 * kafka_producer and kafka_consumer, and the handle's opaque points to it. The error
 * callback runs in the thread that polls the handle, the same thread that reads it. */
struct kafka_health {
    log_complain_t down; /* brokers unreachable, transport errors */
    bool fatal;
    char fatal_text[512];
};

bool kafka_property_is_secret(const char *key)
{
    static const char *const words[] = {"password", "secret",     "oauthbearer.config",
                                        "key.pem",  "ssl_key",    "private",
                                        "token",    "credential", "sasl.jaas"};
    char lower[256];
    size_t i;
    for (i = 0; key[i] && i < sizeof lower - 1; i++)
        lower[i] = (char)tolower((unsigned char)key[i]);
    lower[i] = '\0';
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++)
        if (strstr(lower, words[w]))
            return true;
    return false;
}

bool kafka_props_have(const struct config_kv *props, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (props[i].key && strcmp(props[i].key, key) == 0)
            return true;
    return false;
}

/* Replaces every occurrence of `secret` in text (in place, bounded by textlen) with "***". */
static void redact(char *text, size_t textlen, const char *secret)
{
    size_t slen = strlen(secret);
    if (slen == 0)
        return;
    char out[512];
    size_t o = 0;
    const char *p = text;
    const char *hit;
    while ((hit = strstr(p, secret)) != NULL) {
        int n = snprintf(out + o, sizeof out - o, "%.*s***", (int)(hit - p), p);
        if (n < 0 || (size_t)n >= sizeof out - o) {
            /* Too long to rebuild: drop the text rather than risk showing the secret. */
            text_errbuf_set(text, textlen, "(error text withheld: it contained the secret value)");
            return;
        }
        o += (size_t)n;
        p = hit + slen;
    }
    if (o == 0)
        return;
    text_errbuf_set(text, textlen, "%s%s", out, p);
}

/* Where a property came from, as the prefix of an error. */
static void origin_err(char *err, size_t errlen, const struct config_kv *kv, const char *text)
{
    if (!kv->file || strcmp(kv->file, "-X") == 0)
        text_errbuf_set(err, errlen, "-X %s: %s", kv->key, text);
    else if (kv->line > 0)
        text_errbuf_set(err, errlen, "%s:%u: kafka property '%s': %s", kv->file, kv->line, kv->key,
                        text);
    else
        text_errbuf_set(err, errlen, "%s: kafka property '%s': %s", kv->file, kv->key, text);
}

/* librdkafka logs (syslog levels) into ours. Called from librdkafka's threads. */
static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    enum log_level lvl;
    if (level <= 3)
        lvl = LOG_LEVEL_ERR;
    else if (level == 4)
        lvl = LOG_LEVEL_WARN;
    else if (level <= 6)
        lvl = LOG_LEVEL_INFO;
    else
        lvl = LOG_LEVEL_DEBUG;
    /* Connection failures also arrive as error events, which are rate limited there. */
    if (strcmp(fac, "FAIL") == 0)
        lvl = LOG_LEVEL_DEBUG;
    /* The [kafka] section serves producer and consumer alike, so each handle is handed the
     * other's properties by design; only that warning is noise, other CONFWARNs stay. */
    if (strcmp(fac, "CONFWARN") == 0 &&
        (strstr(buf, "is a consumer property and will be ignored by this producer instance") ||
         strstr(buf, "is a producer property and will be ignored by this consumer instance")))
        lvl = LOG_LEVEL_DEBUG;
    if (log_enabled(lvl))
        log_msg(lvl, LOG_MODULE, "%s %s: %s", rk ? rd_kafka_name(rk) : "rdkafka", fac, buf);
}

/* librdkafka's error events; runs in the thread that polls the handle. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct kafka_health *h = opaque;
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char text[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, text, sizeof text);
        LOG_ERR("%s: fatal error: %s: %s", rd_kafka_name(rk), rd_kafka_err2name(orig), text);
        if (h) {
            h->fatal = true;
            text_errbuf_set(h->fatal_text, sizeof h->fatal_text, "%s: %s", rd_kafka_err2name(orig),
                            text);
        }
        return;
    }
    bool connectivity = err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
                        err == RD_KAFKA_RESP_ERR__TRANSPORT || err == RD_KAFKA_RESP_ERR__RESOLVE;
    if (connectivity && h)
        log_complain(&h->down, LOG_LEVEL_WARN, LOG_MODULE, "%s: %s", rd_kafka_name(rk), reason);
    else
        LOG_WARN("%s: %s: %s", rd_kafka_name(rk), rd_kafka_err2name(err), reason);
}

static void relief(rd_kafka_t *rk, struct kafka_health *h)
{
    if (h->down.failing)
        log_relief(&h->down, LOG_MODULE, "%s: brokers reachable again", rd_kafka_name(rk));
}

rd_kafka_conf_t *kafka_conf_new(const struct config_kv *props, size_t n, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    for (size_t i = 0; i < n; i++) {
        const struct config_kv *kv = &props[i];
        char text[512];
        if (rd_kafka_conf_set(conf, kv->key, kv->value ? kv->value : "", text, sizeof text) !=
            RD_KAFKA_CONF_OK) {
            /* librdkafka quotes a rejected value; no secret of this list may show. */
            for (size_t j = 0; j < n; j++)
                if (props[j].value && kafka_property_is_secret(props[j].key))
                    redact(text, sizeof text, props[j].value);
            origin_err(err, errlen, kv, text);
            goto fail;
        }
        bool secret = kafka_property_is_secret(kv->key);
        if (kv->file && strcmp(kv->file, "-X") != 0)
            LOG_DEBUG("%s:%u: kafka property %s = %s", kv->file, kv->line, kv->key,
                      secret ? "(secret)" : kv->value);
        else
            LOG_DEBUG("-X kafka property %s = %s", kv->key, secret ? "(secret)" : kv->value);
    }
    rd_kafka_conf_set_log_cb(conf, log_cb);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Sets a default the user did not set. */
static int conf_default(rd_kafka_conf_t *conf, const struct config_kv *props, size_t n,
                        const char *key, const char *value, char *err, size_t errlen)
{
    if (kafka_props_have(props, n, key))
        return 0;
    char text[512];
    if (rd_kafka_conf_set(conf, key, value, text, sizeof text) != RD_KAFKA_CONF_OK) {
        text_errbuf_set(err, errlen, "kafka default %s=%s: %s", key, value, text);
        return -EINVAL;
    }
    return 0;
}

/* ---- producer ---------------------------------------------------------------------- */

struct kafka_producer {
    struct kafka_health health; /* first: the handle's opaque */
    rd_kafka_t *rk;
    kafka_delivery_fn on_delivery;
    void *ctx;
    uint64_t queued;
    uint64_t delivered;
    uint64_t failed;
    log_complain_t dr_complain;
    log_complain_t full_complain;
    volatile sig_atomic_t interrupted;
};

static int delivery_errno(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
        return -ETIMEDOUT;
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
        return -ECANCELED;
    default:
        return -EIO;
    }
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
    kafka_producer_t *p = opaque;
    int err = 0;
    if (rkm->err) {
        err = delivery_errno(rkm->err);
        p->failed++;
        log_complain(&p->dr_complain, LOG_LEVEL_WARN, LOG_MODULE,
                     "%s: delivery to %s [%d] failed: %s", rd_kafka_name(rk),
                     rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "?", (int)rkm->partition,
                     rd_kafka_err2str(rkm->err));
    } else {
        p->delivered++;
        relief(rk, &p->health);
        if (p->dr_complain.failing)
            log_relief(&p->dr_complain, LOG_MODULE, "%s: deliveries succeed again",
                       rd_kafka_name(rk));
    }
    if (p->on_delivery)
        p->on_delivery(p->ctx, rkm->_private, err, rkm->err ? rd_kafka_err2str(rkm->err) : NULL,
                       rkm->partition, rkm->offset);
}

kafka_producer_t *kafka_producer_new(const struct config_kv *props, size_t n,
                                     kafka_delivery_fn on_delivery, void *ctx, char *err,
                                     size_t errlen)
{
    kafka_producer_t *p = NULL;
    rd_kafka_conf_t *conf = kafka_conf_new(props, n, err, errlen);
    if (!conf)
        goto fail;
    if (conf_default(conf, props, n, "enable.idempotence", "true", err, errlen) < 0)
        goto fail;
    p = xcalloc(1, sizeof *p);
    p->on_delivery = on_delivery;
    p->ctx = ctx;
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    rd_kafka_conf_set_opaque(conf, p);
    char text[512];
    p->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, text, sizeof text);
    if (!p->rk) {
        text_errbuf_set(err, errlen, "kafka producer: %s", text);
        goto fail;
    }
    return p; /* conf now belongs to p->rk */
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    free(p);
    return NULL;
}

static int produce_errno(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return -EMSGSIZE;
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        return -ENOENT;
    default:
        return -EIO;
    }
}

int kafka_producer_produce(kafka_producer_t *p, const char *topic, const void *key, size_t keylen,
                           const void *value, size_t len, void *opaque)
{
    for (;;) {
        if (p->interrupted)
            return -EINTR;
        if (p->health.fatal)
            return -EIO;
        /* RD_KAFKA_MSG_F_COPY: librdkafka copies the bytes and never writes to them. */
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? keylen : 0),
            RD_KAFKA_V_VALUE((void *)(uintptr_t)value, len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            p->queued++;
            if (p->full_complain.failing)
                log_relief(&p->full_complain, LOG_MODULE, "%s: local queue accepts messages again",
                           rd_kafka_name(p->rk));
            return 0;
        }
        if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            log_complain(&p->full_complain, LOG_LEVEL_WARN, LOG_MODULE,
                         "%s: local queue full (%zu messages outstanding); waiting for the "
                         "brokers",
                         rd_kafka_name(p->rk), kafka_producer_outstanding(p));
            rd_kafka_poll(p->rk, 100);
            continue;
        }
        if (e == RD_KAFKA_RESP_ERR__FATAL)
            return -EIO; /* the error callback has logged it */
        LOG_ERR("%s: produce to %s: %s", rd_kafka_name(p->rk), topic, rd_kafka_err2str(e));
        return produce_errno(e);
    }
}

int kafka_producer_poll(kafka_producer_t *p, int timeout_ms)
{
    int n = rd_kafka_poll(p->rk, timeout_ms);
    return p->health.fatal ? -EIO : n;
}

int kafka_producer_flush(kafka_producer_t *p, int timeout_ms, size_t *outstanding)
{
    /* rd_kafka_flush also waits for requests other than messages; what counts here is
     * whether every message got its report, so its result only matters through that. */
    (void)rd_kafka_flush(p->rk, timeout_ms);
    rd_kafka_poll(p->rk, 0); /* reports that arrived as the flush returned */
    size_t left = kafka_producer_outstanding(p);
    if (outstanding)
        *outstanding = left;
    if (p->health.fatal)
        return -EIO;
    return left > 0 ? -ETIMEDOUT : 0;
}

int kafka_producer_purge_queued(kafka_producer_t *p)
{
    rd_kafka_resp_err_t e = rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        LOG_ERR("%s: rd_kafka_purge: %s", rd_kafka_name(p->rk), rd_kafka_err2str(e));
    /* A blocking purge has queued the purged messages' reports when it returns. */
    while (rd_kafka_poll(p->rk, 0) > 0)
        ;
    return e != RD_KAFKA_RESP_ERR_NO_ERROR || p->health.fatal ? -EIO : 0;
}

size_t kafka_producer_outstanding(const kafka_producer_t *p)
{
    return (size_t)(p->queued - p->delivered - p->failed);
}

uint64_t kafka_producer_delivered(const kafka_producer_t *p)
{
    return p->delivered;
}

uint64_t kafka_producer_failed(const kafka_producer_t *p)
{
    return p->failed;
}

bool kafka_producer_fatal(kafka_producer_t *p, char *err, size_t errlen)
{
    if (p->health.fatal)
        text_errbuf_set(err, errlen, "%s", p->health.fatal_text);
    return p->health.fatal;
}

void kafka_producer_interrupt(kafka_producer_t *p)
{
    p->interrupted = 1;
}

rd_kafka_t *kafka_producer_handle(kafka_producer_t *p)
{
    return p->rk;
}

void kafka_producer_close(kafka_producer_t *p, int timeout_ms)
{
    if (!p)
        return;
    size_t left = 0;
    if (kafka_producer_flush(p, timeout_ms, &left) != 0 && left > 0) {
        LOG_WARN("%s: %zu messages not delivered within %d ms; dropping them", rd_kafka_name(p->rk),
                 left, timeout_ms);
        rd_kafka_purge(p->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        /* Serve the purge reports so every message gets its callback. */
        for (int i = 0; i < 50 && kafka_producer_outstanding(p) > 0; i++)
            rd_kafka_poll(p->rk, 100);
    }
    rd_kafka_destroy(p->rk);
    free(p);
}

void kafka_producer_free(kafka_producer_t *p)
{
    kafka_producer_close(p, 10000);
}

/* ---- consumer ---------------------------------------------------------------------- */

struct kafka_consumer {
    struct kafka_health health; /* first: the handle's opaque */
    rd_kafka_t *rk;
    kafka_rebalance_fn on_rebalance;
    void *ctx;
    bool closed;
    log_complain_t poll_complain;
};

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    kafka_consumer_t *c = opaque;
    bool cooperative = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    rd_kafka_error_t *error = NULL;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;

    switch (err) {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        LOG_INFO("%s: %d partitions assigned (%s)", rd_kafka_name(rk), parts->cnt,
                 cooperative ? "cooperative" : "eager");
        if (c->on_rebalance)
            c->on_rebalance(c->ctx, KAFKA_ASSIGN, parts);
        if (cooperative)
            error = rd_kafka_incremental_assign(rk, parts);
        else
            e = rd_kafka_assign(rk, parts);
        break;
    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS: {
        bool lost = rd_kafka_assignment_lost(rk);
        LOG_INFO("%s: %d partitions %s", rd_kafka_name(rk), parts->cnt, lost ? "lost" : "revoked");
        if (c->on_rebalance)
            c->on_rebalance(c->ctx, lost ? KAFKA_LOST : KAFKA_REVOKE, parts);
        if (cooperative)
            error = rd_kafka_incremental_unassign(rk, parts);
        else
            e = rd_kafka_assign(rk, NULL);
        break;
    }
    default:
        LOG_ERR("%s: rebalance failed: %s", rd_kafka_name(rk), rd_kafka_err2str(err));
        if (c->on_rebalance)
            c->on_rebalance(c->ctx, KAFKA_LOST, parts);
        e = rd_kafka_assign(rk, NULL);
        break;
    }
    if (error) {
        LOG_ERR("%s: incremental assignment change: %s", rd_kafka_name(rk),
                rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (e) {
        LOG_ERR("%s: assignment change: %s", rd_kafka_name(rk), rd_kafka_err2str(e));
    }
}

static void commit_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)opaque;
    if (err && err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
        LOG_WARN("%s: offset commit failed: %s", rd_kafka_name(rk), rd_kafka_err2str(err));
        return;
    }
    for (int i = 0; offsets && i < offsets->cnt; i++)
        if (offsets->elems[i].err)
            LOG_WARN("%s: offset commit %s [%d] failed: %s", rd_kafka_name(rk),
                     offsets->elems[i].topic, (int)offsets->elems[i].partition,
                     rd_kafka_err2str(offsets->elems[i].err));
}

kafka_consumer_t *kafka_consumer_new(const struct config_kv *props, size_t n,
                                     const char *const *topics, size_t ntopics,
                                     kafka_rebalance_fn on_rebalance, void *ctx, char *err,
                                     size_t errlen)
{
    kafka_consumer_t *c = NULL;
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_topic_partition_list_t *subs = NULL;
    char text[512];

    if (!kafka_props_have(props, n, "group.id")) {
        text_errbuf_set(err, errlen, "kafka consumer: group.id is not set");
        goto fail;
    }
    if (ntopics == 0) {
        text_errbuf_set(err, errlen, "kafka consumer: no topic to subscribe to");
        goto fail;
    }
    conf = kafka_conf_new(props, n, err, errlen);
    if (!conf)
        goto fail;
    if (conf_default(conf, props, n, "enable.auto.commit", "false", err, errlen) < 0 ||
        conf_default(conf, props, n, "enable.auto.offset.store", "false", err, errlen) < 0)
        goto fail;
    c = xcalloc(1, sizeof *c);
    c->on_rebalance = on_rebalance;
    c->ctx = ctx;
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_offset_commit_cb(conf, commit_cb);
    rd_kafka_conf_set_opaque(conf, c);
    c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, text, sizeof text);
    if (!c->rk) {
        text_errbuf_set(err, errlen, "kafka consumer: %s", text);
        goto fail;
    }
    conf = NULL; /* now owned by c->rk */
    rd_kafka_poll_set_consumer(c->rk);

    subs = rd_kafka_topic_partition_list_new((int)ntopics);
    for (size_t i = 0; i < ntopics; i++)
        rd_kafka_topic_partition_list_add(subs, topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, subs);
    if (e) {
        text_errbuf_set(err, errlen, "kafka consumer: subscribe: %s", rd_kafka_err2str(e));
        goto fail;
    }
    rd_kafka_topic_partition_list_destroy(subs);
    return c;
fail:
    if (subs)
        rd_kafka_topic_partition_list_destroy(subs);
    if (c && c->rk)
        rd_kafka_destroy(c->rk);
    if (conf)
        rd_kafka_conf_destroy(conf);
    free(c);
    return NULL;
}

int kafka_consumer_poll(kafka_consumer_t *c, int timeout_ms, rd_kafka_message_t **out)
{
    *out = NULL;
    if (c->health.fatal)
        return -EIO;
    rd_kafka_message_t *rkm = rd_kafka_consumer_poll(c->rk, timeout_ms);
    if (!rkm)
        return c->health.fatal ? -EIO : 0;
    if (rkm->err) {
        if (rkm->err == RD_KAFKA_RESP_ERR__FATAL) {
            char text[512];
            rd_kafka_resp_err_t orig = rd_kafka_fatal_error(c->rk, text, sizeof text);
            c->health.fatal = true;
            text_errbuf_set(c->health.fatal_text, sizeof c->health.fatal_text, "%s: %s",
                            rd_kafka_err2name(orig), text);
            LOG_ERR("%s: fatal error: %s", rd_kafka_name(c->rk), c->health.fatal_text);
        } else if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            log_complain(&c->poll_complain, LOG_LEVEL_WARN, LOG_MODULE, "%s: consume %s [%d]: %s",
                         rd_kafka_name(c->rk), rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "-",
                         (int)rkm->partition, rd_kafka_message_errstr(rkm));
        }
        rd_kafka_message_destroy(rkm);
        return c->health.fatal ? -EIO : 0;
    }
    relief(c->rk, &c->health);
    if (c->poll_complain.failing)
        log_relief(&c->poll_complain, LOG_MODULE, "%s: consuming again", rd_kafka_name(c->rk));
    *out = rkm;
    return 0;
}

int kafka_consumer_commit_offsets(kafka_consumer_t *c, struct kafka_commit *offs, size_t n)
{
    if (n == 0)
        return 0;
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < n; i++)
        rd_kafka_topic_partition_list_add(list, offs[i].topic, offs[i].partition)->offset =
            offs[i].next_offset;
    /* A partial failure answers NO_ERROR with the errors on the partitions; a failed request
     * (timeout, coordinator gone) may leave them unset. The list keeps the order given. */
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, list, 0);
    size_t failed = 0;
    rd_kafka_resp_err_t first = RD_KAFKA_RESP_ERR_NO_ERROR;
    const struct kafka_commit *first_at = NULL;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_resp_err_t pe = e ? e : list->elems[i].err;
        offs[i].err = pe ? -EIO : 0;
        if (pe && failed++ == 0) {
            first = pe;
            first_at = &offs[i];
        }
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (failed == 0)
        return 0;
    LOG_ERR("%s: commit of %zu of %zu offsets failed, first %s [%d] offset %lld: %s",
            rd_kafka_name(c->rk), failed, n, first_at->topic, (int)first_at->partition,
            (long long)first_at->next_offset, rd_kafka_err2str(first));
    return -EIO;
}

bool kafka_consumer_fatal(kafka_consumer_t *c, char *err, size_t errlen)
{
    if (c->health.fatal)
        text_errbuf_set(err, errlen, "%s", c->health.fatal_text);
    return c->health.fatal;
}

rd_kafka_t *kafka_consumer_handle(kafka_consumer_t *c)
{
    return c->rk;
}

int kafka_consumer_close(kafka_consumer_t *c)
{
    if (c->closed)
        return 0;
    c->closed = true;
    rd_kafka_resp_err_t e = rd_kafka_consumer_close(c->rk);
    if (e) {
        LOG_WARN("%s: close: %s", rd_kafka_name(c->rk), rd_kafka_err2str(e));
        return -EIO;
    }
    return 0;
}

void kafka_consumer_free(kafka_consumer_t *c)
{
    if (!c)
        return;
    kafka_consumer_close(c);
    rd_kafka_destroy(c->rk);
    free(c);
}

void kafka_message_free(rd_kafka_message_t *rkm)
{
    if (rkm)
        rd_kafka_message_destroy(rkm);
}

/* ---- where assigned partitions start ------------------------------------------------ */

/* The offset auto.offset.reset of consumer `rk` gives within [lo, hi]; -1 for "error" or
 * a value not known. */
static int64_t reset_offset(rd_kafka_t *rk, int64_t lo, int64_t hi)
{
    char value[32];
    size_t size = sizeof value;
    if (rd_kafka_conf_get(rd_kafka_conf(rk), "auto.offset.reset", value, &size) != RD_KAFKA_CONF_OK)
        return hi; /* librdkafka's default: latest */
    if (!strcmp(value, "smallest") || !strcmp(value, "earliest") || !strcmp(value, "beginning"))
        return lo;
    if (!strcmp(value, "largest") || !strcmp(value, "latest") || !strcmp(value, "end"))
        return hi;
    return -1;
}

int kafka_consumer_starts(kafka_consumer_t *c, const rd_kafka_topic_partition_list_t *parts,
                          int timeout_ms, struct kafka_start *out, char *err, size_t errlen)
{
    int64_t deadline = log_now_ms() + timeout_ms;
    int rc = 0;
    for (int i = 0; i < parts->cnt; i++)
        out[i] = (struct kafka_start){.topic = xstrdup(parts->elems[i].topic),
                                      .partition = parts->elems[i].partition,
                                      .start = -1,
                                      .hi = -1};
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(parts);
    rd_kafka_resp_err_t e = rd_kafka_committed(c->rk, committed, timeout_ms);
    if (e) {
        text_errbuf_set(err, errlen, "committed offsets: %s", rd_kafka_err2str(e));
        rc = e == RD_KAFKA_RESP_ERR__TIMED_OUT ? -ETIMEDOUT : -EIO;
        goto done;
    }
    for (int i = 0; i < parts->cnt; i++) {
        int64_t lo = -1, hi = -1, left = deadline - log_now_ms();
        e = left <= 0 ? RD_KAFKA_RESP_ERR__TIMED_OUT
                      : rd_kafka_query_watermark_offsets(c->rk, out[i].topic, out[i].partition, &lo,
                                                         &hi, (int)left);
        if (e) {
            text_errbuf_set(err, errlen, "watermarks of %s [%d]: %s", out[i].topic,
                            (int)out[i].partition, rd_kafka_err2str(e));
            rc = e == RD_KAFKA_RESP_ERR__TIMED_OUT ? -ETIMEDOUT : -EIO;
            goto done;
        }
        int64_t at = committed->elems[i].err ? RD_KAFKA_OFFSET_INVALID : committed->elems[i].offset;
        out[i].hi = hi;
        out[i].start = at >= lo && at <= hi ? at : reset_offset(c->rk, lo, hi);
        if (out[i].start < 0 && rc == 0) {
            text_errbuf_set(err, errlen,
                            "%s [%d]: no committed offset and no usable "
                            "auto.offset.reset",
                            out[i].topic, (int)out[i].partition);
            rc = -EIO;
        }
    }
done:
    rd_kafka_topic_partition_list_destroy(committed);
    return rc;
}

void kafka_starts_clear(struct kafka_start *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(out[i].topic);
        out[i].topic = NULL;
    }
}

struct kafka_starts {
    kafka_consumer_t *c;
    rd_kafka_topic_partition_list_t *parts;
    int timeout_ms;
    pthread_t thread;
    atomic_bool done; /* set by the thread last: then rc, err and out are the owner's */
    int rc;
    char err[256];
    struct kafka_start *out;
};

static void *starts_thread(void *arg)
{
    kafka_starts_t *q = arg;
    q->rc = kafka_consumer_starts(q->c, q->parts, q->timeout_ms, q->out, q->err, sizeof q->err);
    atomic_store(&q->done, true);
    return NULL;
}

kafka_starts_t *kafka_starts_begin(kafka_consumer_t *c,
                                   const rd_kafka_topic_partition_list_t *parts, int timeout_ms)
{
    kafka_starts_t *q = xcalloc(1, sizeof *q);
    q->c = c;
    q->parts = rd_kafka_topic_partition_list_copy(parts);
    q->timeout_ms = timeout_ms;
    q->out = xcalloc(parts->cnt > 0 ? (size_t)parts->cnt : 1, sizeof *q->out);
    atomic_init(&q->done, false);
    int rc = pthread_create(&q->thread, NULL, starts_thread, q);
    if (rc) {
        LOG_ERR("pthread_create: %s", strerror(rc));
        abort();
    }
    return q;
}

bool kafka_starts_done(kafka_starts_t *q)
{
    return atomic_load(&q->done);
}

int kafka_starts_result(kafka_starts_t *q, const struct kafka_start **out, size_t *n, char *err,
                        size_t errlen)
{
    *out = q->out;
    *n = (size_t)q->parts->cnt;
    if (q->rc)
        text_errbuf_set(err, errlen, "%s", q->err);
    return q->rc;
}

void kafka_starts_free(kafka_starts_t *q)
{
    if (!q)
        return;
    pthread_join(q->thread, NULL);
    kafka_starts_clear(q->out, (size_t)q->parts->cnt);
    free(q->out);
    rd_kafka_topic_partition_list_destroy(q->parts);
    free(q);
}
