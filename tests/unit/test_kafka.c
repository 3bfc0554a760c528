/* Unit tests for kafka: verbatim configuration with file:line errors, secret redaction,
 * producer delivery reports and outages, consumer defaults and commits (against the
 * in-process development broker on 127.0.0.1). */
#include "testing.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "devbroker.h"
#include "kafka.h"
#include <librdkafka/rdkafka_mock.h> /* after rdkafka.h (kafka.h) */
#include "log.h"

/* librdkafka's own text for setting key=value on a fresh configuration. */
static void rdkafka_text(const char *key, const char *value, char *text, size_t len)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_not_equal(rd_kafka_conf_set(conf, key, value, text, len), RD_KAFKA_CONF_OK);
    rd_kafka_conf_destroy(conf);
}

static void test_conf_unknown_property(void **state)
{
    (void)state;
    struct config_kv props[] = {
        {"client.id", "ok", "/etc/ipamwatch/ipamwatch.conf", 11},
        {"no.such.property", "1", "/etc/ipamwatch/ipamwatch.conf", 12},
    };
    char err[512], text[512], want[1024];
    rdkafka_text("no.such.property", "1", text, sizeof text);
    snprintf(want, sizeof want,
             "/etc/ipamwatch/ipamwatch.conf:12: kafka property 'no.such.property': %s", text);
    assert_null(kafka_conf_new(props, 2, err, sizeof err));
    assert_string_equal(err, want);
    assert_non_null(strstr(err, "No such configuration property"));
}

static void test_conf_invalid_value(void **state)
{
    (void)state;
    struct config_kv props[] = {
        {"queue.buffering.max.ms", "soon", "-X", 0},
        {"linger.ms", "also bad", "-X", 0},
    };
    char err[512], text[512], want[1024];
    rdkafka_text("queue.buffering.max.ms", "soon", text, sizeof text);
    snprintf(want, sizeof want, "-X queue.buffering.max.ms: %s", text);
    assert_null(kafka_conf_new(props, 2, err, sizeof err));
    assert_string_equal(err, want);

    struct config_kv enumbad = {"compression.codec", "brotli", "kafka.conf", 3};
    rdkafka_text("compression.codec", "brotli", text, sizeof text);
    snprintf(want, sizeof want, "kafka.conf:3: kafka property 'compression.codec': %s", text);
    assert_null(kafka_conf_new(&enumbad, 1, err, sizeof err));
    assert_string_equal(err, want);
}

static void test_conf_passthrough(void **state)
{
    (void)state;
    struct config_kv props[] = {
        {"client.id", "ipamwatch-test", "a.conf", 1},
        {"linger.ms", "7", "a.conf", 2},
        {"compression.codec", "zstd", "a.conf", 3},
        {"linger.ms", "9", "-X", 0}, /* later settings win, as on the command line */
    };
    char err[512];
    rd_kafka_conf_t *conf = kafka_conf_new(props, 4, err, sizeof err);
    assert_non_null(conf);
    static const struct {
        const char *key, *want;
    } checks[] = {
        {"client.id", "ipamwatch-test"}, {"linger.ms", "9"}, {"compression.codec", "zstd"}};
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        char value[256];
        size_t len = sizeof value;
        assert_int_equal(rd_kafka_conf_get(conf, checks[i].key, value, &len), RD_KAFKA_CONF_OK);
        assert_string_equal(value, checks[i].want);
    }
    rd_kafka_conf_destroy(conf);
}

static void test_secret_keys(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        bool secret;
    } cases[] = {
        {"sasl.password", true},
        {"ssl.key.password", true},
        {"ssl.keystore.password", true},
        {"sasl.oauthbearer.client.secret", true},
        {"sasl.oauthbearer.config", true},
        {"ssl.key.pem", true},
        {"SASL.PASSWORD", true},
        {"sasl.username", false},
        {"bootstrap.servers", false},
        {"ssl.ca.location", false},
        {"client.id", false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (kafka_property_is_secret(cases[i].key) != cases[i].secret)
            fail_msg("%s: secret %d, want %d", cases[i].key, !cases[i].secret, cases[i].secret);
}

/* Runs fn with stderr captured; returns the captured text (owned by the caller). */
static char *capture_stderr(void (*fn)(void *), void *arg)
{
    struct testing_capture cap;
    testing_capture_begin(&cap);
    fn(arg);
    return testing_capture_end(&cap);
}

#define SECRET1 "Hunter2-sasl-5ecret"
#define SECRET2 "Key-pass-w0rd-77"

static void secrets_workload(void *arg)
{
    (void)arg;
    struct config_kv props[] = {
        {"bootstrap.servers", "127.0.0.1:1", "s.conf", 1},
        {"security.protocol", "sasl_plaintext", "s.conf", 2},
        {"sasl.mechanisms", "PLAIN", "s.conf", 3},
        {"sasl.username", "alice-the-user", "s.conf", 4},
        {"sasl.password", SECRET1, "s.conf", 5},
        {"ssl.key.password", SECRET2, "-X", 0},
        {"debug", "conf,security,generic", "-X", 0},
    };
    char err[512];
    kafka_producer_t *p = kafka_producer_new(props, 7, NULL, NULL, err, sizeof err);
    assert_non_null(p);
    kafka_producer_poll(p, 200);
    kafka_producer_close(p, 100);
    /* A secret pasted into the wrong property: librdkafka quotes the rejected value, the
     * error text must not. */
    struct config_kv bad[] = {
        {"sasl.password", SECRET1, "s.conf", 5},
        {"linger.ms", SECRET1, "s.conf", 6},
    };
    assert_null(kafka_conf_new(bad, 2, err, sizeof err));
    log_msg(LOG_LEVEL_ERR, "test", "%s", err);
}

static void test_secrets_never_logged(void **state)
{
    (void)state;
    log_set_level(LOG_LEVEL_DEBUG);
    char *text = capture_stderr(secrets_workload, NULL);
    log_set_level(LOG_LEVEL_WARN);
    /* The capture works and carries the non-secret settings... */
    assert_non_null(strstr(text, "alice-the-user"));
    assert_non_null(strstr(text, "sasl.password"));
    assert_non_null(strstr(text, "s.conf:6: kafka property 'linger.ms': Invalid value"));
    /* ...but never the secrets. */
    if (strstr(text, SECRET1) || strstr(text, SECRET2))
        fail_msg("a secret value reached the log:\n%s", text);
    free(text);
}

/* ---- against the development broker ------------------------------------------------ */

#define NMSG 300

struct slot {
    int reports;
    int err;
    int32_t partition;
    int64_t offset;
};

static void record_delivery(void *ctx, void *opaque, int err, const char *errstr, int32_t partition,
                            int64_t offset)
{
    (void)errstr;
    int *calls = ctx;
    struct slot *s = opaque;
    (*calls)++;
    if (!s)
        return;
    s->reports++;
    s->err = err;
    s->partition = partition;
    s->offset = offset;
}

static void test_producer_delivery_reports(void **state)
{
    (void)state;
    struct devbroker_topic topic = {"dr", 3};
    char err[512];
    devbroker_t *db = devbroker_new(1, &topic, 1, err, sizeof err);
    assert_non_null(db);
    struct config_kv props[] = {{"bootstrap.servers", (char *)devbroker_bootstraps(db), "-X", 0}};
    int calls = 0;
    kafka_producer_t *p = kafka_producer_new(props, 1, record_delivery, &calls, err, sizeof err);
    assert_non_null(p);

    char value[64];
    size_t len;
    len = sizeof value;
    assert_int_equal(rd_kafka_conf_get(rd_kafka_conf(kafka_producer_handle(p)),
                                       "enable.idempotence", value, &len),
                     RD_KAFKA_CONF_OK);
    assert_string_equal(value, "true");

    static struct slot slots[NMSG];
    memset(slots, 0, sizeof slots);
    for (int i = 0; i < NMSG; i++) {
        char key[16], val[32];
        snprintf(key, sizeof key, "k%d", i % 7);
        int n = snprintf(val, sizeof val, "v%d", i);
        assert_int_equal(
            kafka_producer_produce(p, "dr", key, strlen(key), val, (size_t)n, &slots[i]), 0);
    }
    size_t left = 99;
    assert_int_equal(kafka_producer_flush(p, 20000, &left), 0);
    assert_int_equal(left, 0);
    assert_int_equal(calls, NMSG);
    assert_int_equal(kafka_producer_delivered(p), NMSG);
    assert_int_equal(kafka_producer_failed(p), 0);
    int32_t key_part[7];
    for (int k = 0; k < 7; k++)
        key_part[k] = -1;
    int64_t next_offset[3] = {0, 0, 0};
    for (int i = 0; i < NMSG; i++) {
        assert_int_equal(slots[i].reports, 1);
        assert_int_equal(slots[i].err, 0);
        assert_in_range(slots[i].partition, 0, 2);
        /* One key, one partition, and the partition's offsets in produce order. */
        if (key_part[i % 7] < 0)
            key_part[i % 7] = slots[i].partition;
        assert_int_equal(slots[i].partition, key_part[i % 7]);
        assert_int_equal(slots[i].offset, next_offset[slots[i].partition]);
        next_offset[slots[i].partition]++;
    }
    kafka_producer_free(p);
    devbroker_free(db);
}

static void test_producer_outage(void **state)
{
    (void)state;
    char err[512];
    devbroker_t *db = devbroker_new(1, NULL, 0, err, sizeof err);
    assert_non_null(db);
    assert_int_equal(devbroker_create_topic(db, "out", 2), 0);
    assert_int_equal(devbroker_create_topic(db, "out", 2), -EEXIST);
    assert_int_equal(devbroker_create_topic(db, "bad/name", 2), -EINVAL);
    struct config_kv props[] = {
        {"bootstrap.servers", (char *)devbroker_bootstraps(db), "-X", 0},
        {"reconnect.backoff.max.ms", "200", "-X", 0},
    };
    int calls = 0;
    struct slot a = {0}, b = {0};
    kafka_producer_t *p = kafka_producer_new(props, 2, record_delivery, &calls, err, sizeof err);
    assert_non_null(p);
    assert_int_equal(kafka_producer_produce(p, "out", "k", 1, "first", 5, &a), 0);
    assert_int_equal(kafka_producer_flush(p, 10000, NULL), 0);

    assert_int_equal(devbroker_set_down(db, true), 0);
    assert_true(devbroker_is_down(db));
    assert_int_equal(kafka_producer_produce(p, "out", "k", 1, "second", 6, &b), 0);
    size_t left = 0;
    assert_int_equal(kafka_producer_flush(p, 1500, &left), -ETIMEDOUT);
    assert_int_equal(left, 1);
    assert_int_equal(b.reports, 0);

    assert_int_equal(devbroker_set_down(db, false), 0);
    assert_int_equal(kafka_producer_flush(p, 20000, &left), 0);
    assert_int_equal(b.reports, 1);
    assert_int_equal(b.err, 0);
    assert_int_equal(b.partition, a.partition);
    assert_int_equal(b.offset, a.offset + 1); /* nothing lost, nothing duplicated */

    /* One that waits while the broker is down is taken back by kafka_producer_purge_queued():
     * its report says -ECANCELED, nothing stays outstanding, and the broker that comes back
     * gets nothing of it. */
    struct slot q = {0};
    assert_int_equal(devbroker_set_down(db, true), 0);
    assert_int_equal(kafka_producer_produce(p, "out", "k", 1, "purged", 6, &q), 0);
    assert_int_equal(kafka_producer_flush(p, 1500, &left), -ETIMEDOUT);
    assert_int_equal(left, 1);
    assert_int_equal(kafka_producer_purge_queued(p), 0);
    assert_int_equal(q.reports, 1);
    assert_int_equal(q.err, -ECANCELED);
    assert_int_equal(kafka_producer_outstanding(p), 0);
    assert_int_equal(devbroker_set_down(db, false), 0);
    assert_int_equal(kafka_producer_produce(p, "out", "k", 1, "after", 5, &a), 0);
    assert_int_equal(kafka_producer_flush(p, 20000, &left), 0);
    assert_int_equal(a.err, 0);
    assert_int_equal(a.offset, b.offset + 1); /* "purged" never reached the partition */
    assert_int_equal(q.reports, 1);
    kafka_producer_free(p);

    /* A message that cannot be delivered in message.timeout.ms fails with -ETIMEDOUT. */
    struct config_kv short_props[] = {
        {"bootstrap.servers", (char *)devbroker_bootstraps(db), "-X", 0},
        {"message.timeout.ms", "700", "-X", 0},
    };
    struct slot c = {0};
    calls = 0;
    p = kafka_producer_new(short_props, 2, record_delivery, &calls, err, sizeof err);
    assert_non_null(p);
    assert_int_equal(devbroker_set_down(db, true), 0);
    assert_int_equal(kafka_producer_produce(p, "out", "k", 1, "lost", 4, &c), 0);
    assert_int_equal(kafka_producer_flush(p, 10000, &left), 0);
    assert_int_equal(c.reports, 1);
    assert_int_equal(c.err, -ETIMEDOUT);
    assert_int_equal(kafka_producer_failed(p), 1);
    assert_int_equal(kafka_producer_delivered(p), 0);
    kafka_producer_free(p);
    devbroker_free(db);
}

static void *interrupt_later(void *arg)
{
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    kafka_producer_interrupt(arg);
    return NULL;
}

static void test_producer_queue_full(void **state)
{
    (void)state;
    struct devbroker_topic topic = {"full", 2};
    char err[512];
    devbroker_t *db = devbroker_new(1, &topic, 1, err, sizeof err);
    assert_non_null(db);
    struct config_kv props[] = {
        {"bootstrap.servers", (char *)devbroker_bootstraps(db), "-X", 0},
        {"queue.buffering.max.messages", "5", "-X", 0},
        {"reconnect.backoff.max.ms", "200", "-X", 0},
    };
    int calls = 0;
    static struct slot slots[200];
    memset(slots, 0, sizeof slots);
    kafka_producer_t *p = kafka_producer_new(props, 3, record_delivery, &calls, err, sizeof err);
    assert_non_null(p);
    /* 40 times the local queue: produce waits for room instead of failing. */
    for (int i = 0; i < 200; i++)
        assert_int_equal(kafka_producer_produce(p, "full", "k", 1, "v", 1, &slots[i]), 0);
    assert_int_equal(kafka_producer_flush(p, 20000, NULL), 0);
    assert_int_equal(calls, 200);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(slots[i].err, 0);
        assert_int_equal(slots[i].offset, i); /* one key: one partition, in order */
    }

    /* With the brokers down a full queue blocks until interrupted. */
    assert_int_equal(devbroker_set_down(db, true), 0);
    int rc = 0;
    for (int i = 0; i < 5 && rc == 0; i++)
        rc = kafka_producer_produce(p, "full", "k", 1, "w", 1, NULL);
    assert_int_equal(rc, 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, interrupt_later, p), 0);
    int64_t start = log_now_ms();
    assert_int_equal(kafka_producer_produce(p, "full", "k", 1, "x", 1, NULL), -EINTR);
    assert_true(log_now_ms() - start >= 250);
    pthread_join(th, NULL);
    assert_int_equal(devbroker_set_down(db, false), 0);
    assert_int_equal(kafka_producer_flush(p, 20000, NULL), 0);
    assert_int_equal(kafka_producer_delivered(p), 205);
    kafka_producer_free(p);
    devbroker_free(db);
}

static void test_producer_fatal_error(void **state)
{
    (void)state;
    char err[512];
    devbroker_t *db = devbroker_new(1, NULL, 0, err, sizeof err);
    assert_non_null(db);
    struct config_kv props[] = {{"bootstrap.servers", (char *)devbroker_bootstraps(db), "-X", 0}};
    kafka_producer_t *p = kafka_producer_new(props, 1, NULL, NULL, err, sizeof err);
    assert_non_null(p);
    assert_false(kafka_producer_fatal(p, err, sizeof err));
    assert_int_equal(kafka_producer_produce(p, "fatal", "k", 1, "v", 1, NULL), 0);
    assert_int_equal(kafka_producer_flush(p, 10000, NULL), 0);
    /* What the idempotent producer raises when the broker lost its sequence. */
    assert_int_equal(rd_kafka_test_fatal_error(kafka_producer_handle(p),
                                               RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                               "sequence lost in test"),
                     RD_KAFKA_RESP_ERR_NO_ERROR);
    assert_int_equal(kafka_producer_poll(p, 100), -EIO);
    assert_true(kafka_producer_fatal(p, err, sizeof err));
    assert_non_null(strstr(err, "sequence lost in test"));
    assert_int_equal(kafka_producer_produce(p, "fatal", "k", 1, "v", 1, NULL), -EIO);
    kafka_producer_free(p);
    devbroker_free(db);
}

struct rebalance_log {
    int assigned;
    int revoked;
};

static void record_rebalance(void *ctx, enum kafka_rebalance event,
                             const rd_kafka_topic_partition_list_t *parts)
{
    struct rebalance_log *rl = ctx;
    if (event == KAFKA_ASSIGN)
        rl->assigned += parts->cnt;
    else
        rl->revoked += parts->cnt;
}

/* *state: the partition.assignment.strategy, so both rebalance protocols are covered. */
static void test_consumer_commit(void **state)
{
    const char *strategy = *state;
    struct devbroker_topic topic = {"cons", 2};
    char err[512];
    devbroker_t *db = devbroker_new(1, &topic, 1, err, sizeof err);
    assert_non_null(db);
    char *bs = (char *)devbroker_bootstraps(db);
    struct config_kv pprops[] = {{"bootstrap.servers", bs, "-X", 0}};
    kafka_producer_t *p = kafka_producer_new(pprops, 1, NULL, NULL, err, sizeof err);
    assert_non_null(p);
    for (int i = 0; i < 20; i++) {
        char key[8];
        snprintf(key, sizeof key, "k%d", i % 5);
        assert_int_equal(kafka_producer_produce(p, "cons", key, strlen(key), "x", 1, NULL), 0);
    }
    assert_int_equal(kafka_producer_flush(p, 10000, NULL), 0);
    kafka_producer_free(p);

    struct config_kv nogroup[] = {{"bootstrap.servers", bs, "-X", 0}};
    const char *topics[] = {"cons"};
    assert_null(kafka_consumer_new(nogroup, 1, topics, 1, NULL, NULL, err, sizeof err));
    assert_non_null(strstr(err, "group.id"));

    struct config_kv cprops[] = {
        {"bootstrap.servers", bs, "-X", 0},
        {"group.id", "unit-commit", "-X", 0},
        {"auto.offset.reset", "earliest", "-X", 0},
        {"fetch.wait.max.ms", "5", "-X", 0},
        {"session.timeout.ms", "6000", "-X", 0},
        {"partition.assignment.strategy", (char *)strategy, "-X", 0},
    };
    struct rebalance_log rl = {0, 0};
    kafka_consumer_t *c =
        kafka_consumer_new(cprops, 6, topics, 1, record_rebalance, &rl, err, sizeof err);
    assert_non_null(c);
    char value[64];
    size_t len = sizeof value;
    assert_int_equal(rd_kafka_conf_get(rd_kafka_conf(kafka_consumer_handle(c)),
                                       "enable.auto.commit", value, &len),
                     RD_KAFKA_CONF_OK);
    assert_string_equal(value, "false");

    int64_t next[2] = {-1, -1};
    int got = 0;
    int64_t deadline = log_now_ms() + 30000;
    while (got < 20 && log_now_ms() < deadline) {
        rd_kafka_message_t *rkm;
        assert_int_equal(kafka_consumer_poll(c, 100, &rkm), 0);
        if (!rkm)
            continue;
        assert_in_range(rkm->partition, 0, 1);
        next[rkm->partition] = rkm->offset + 1;
        got++;
        kafka_message_free(rkm);
    }
    assert_int_equal(got, 20);
    assert_int_equal(rl.assigned, 2);
    assert_string_equal(rd_kafka_rebalance_protocol(kafka_consumer_handle(c)),
                        strstr(strategy, "cooperative") ? "COOPERATIVE" : "EAGER");

    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(parts, "cons", 0);
    rd_kafka_topic_partition_list_add(parts, "cons", 1);
    /* Nothing committed behind our back. */
    assert_int_equal(rd_kafka_committed(kafka_consumer_handle(c), parts, 5000), 0);
    assert_int_equal(parts->elems[0].offset, RD_KAFKA_OFFSET_INVALID);
    assert_int_equal(parts->elems[1].offset, RD_KAFKA_OFFSET_INVALID);
    /* Both partitions in one request, with a topic that does not exist: its entry fails
     * (the development broker fails the others with it; a cluster may commit them), and
     * what failed is committed by the next request, as the analyzer retries it. */
    struct kafka_commit offs[3];
    size_t noffs = 0;
    for (int i = 0; i < 2; i++)
        if (next[i] >= 0)
            offs[noffs++] = (struct kafka_commit){"cons", i, next[i], 1};
    offs[noffs++] = (struct kafka_commit){"nosuch", 0, 5, 0};
    assert_int_equal(kafka_consumer_commit_offsets(c, offs, noffs), -EIO);
    assert_int_equal(offs[noffs - 1].err, -EIO);
    size_t again = 0;
    for (size_t i = 0; i + 1 < noffs; i++) {
        assert_true(offs[i].err == 0 || offs[i].err == -EIO);
        if (offs[i].err < 0)
            offs[again++] = offs[i];
    }
    assert_int_equal(kafka_consumer_commit_offsets(c, offs, again), 0);
    for (size_t i = 0; i < again; i++)
        assert_int_equal(offs[i].err, 0);
    assert_int_equal(rd_kafka_committed(kafka_consumer_handle(c), parts, 5000), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(parts->elems[i].offset, next[i] >= 0 ? next[i] : RD_KAFKA_OFFSET_INVALID);
    assert_int_equal(kafka_consumer_commit_offsets(c, offs, 0), 0);
    for (int i = 0; i < 2; i++) /* one partition alone, again (no change) */
        if (next[i] >= 0) {
            struct kafka_commit one = {"cons", i, next[i], -1};
            assert_int_equal(kafka_consumer_commit_offsets(c, &one, 1), 0);
            assert_int_equal(one.err, 0);
        }

    /* Where each partition starts: the committed offsets now (all were consumed), and the
     * same through a query on a thread of its own; with the brokers down it gives up. */
    struct kafka_start st[2];
    assert_int_equal(kafka_consumer_starts(c, parts, 5000, st, err, sizeof err), 0);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(st[i].topic, "cons");
        assert_int_equal(st[i].partition, i);
        assert_int_equal(st[i].hi, next[i] >= 0 ? next[i] : 0);
        assert_int_equal(st[i].start, st[i].hi);
    }
    kafka_starts_clear(st, 2);
    kafka_starts_t *q = kafka_starts_begin(c, parts, 5000);
    deadline = log_now_ms() + 10000;
    while (!kafka_starts_done(q) && log_now_ms() < deadline) {
        rd_kafka_message_t *rkm;
        assert_int_equal(kafka_consumer_poll(c, 10, &rkm), 0);
        kafka_message_free(rkm);
    }
    const struct kafka_start *res;
    size_t n;
    assert_true(kafka_starts_done(q));
    assert_int_equal(kafka_starts_result(q, &res, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(res[i].start, next[i] >= 0 ? next[i] : 0);
    kafka_starts_free(q);
    assert_int_equal(devbroker_set_down(db, true), 0);
    int64_t t0 = log_now_ms();
    int rc = kafka_consumer_starts(c, parts, 300, st, err, sizeof err);
    assert_true(rc == -ETIMEDOUT || rc == -EIO);
    assert_true(log_now_ms() - t0 < 3000);
    assert_int_equal(st[0].start, -1);
    kafka_starts_clear(st, 2);
    assert_int_equal(devbroker_set_down(db, false), 0);
    rd_kafka_topic_partition_list_destroy(parts);

    assert_int_equal(kafka_consumer_close(c), 0);
    assert_int_equal(rl.revoked, 2);
    kafka_consumer_free(c);
    devbroker_free(db);
}

/* A commit the broker refuses fails every partition of its request; the same offsets
 * committed again later go through (the analyzer keeps them pending until then). */
static void test_consumer_commit_refused(void **state)
{
    (void)state;
    char err[512];
    struct config_kv props[] = {
        {"test.mock.num.brokers", "1", "-X", 0},
        {"group.id", "unit-refused", "-X", 0},
        {"session.timeout.ms", "6000", "-X", 0},
    };
    const char *const topics[] = {"refused"};
    kafka_consumer_t *c = kafka_consumer_new(props, 3, topics, 1, NULL, NULL, err, sizeof err);
    assert_non_null(c);
    rd_kafka_t *rk = kafka_consumer_handle(c);
    rd_kafka_mock_cluster_t *mc = rd_kafka_handle_mock_cluster(rk);
    assert_non_null(mc);
    assert_int_equal(rd_kafka_mock_topic_create(mc, "refused", 2, 1), 0);
    /* Commits while the group is being joined are refused as well: join first. */
    rd_kafka_topic_partition_list_t *mine = NULL;
    int64_t deadline = log_now_ms() + 30000;
    while (log_now_ms() < deadline) {
        rd_kafka_message_t *rkm;
        assert_int_equal(kafka_consumer_poll(c, 100, &rkm), 0);
        kafka_message_free(rkm);
        assert_int_equal(rd_kafka_assignment(rk, &mine), 0);
        int cnt = mine->cnt;
        rd_kafka_topic_partition_list_destroy(mine);
        if (cnt == 2)
            break;
    }
    struct kafka_commit offs[2] = {{"refused", 0, 3, 1}, {"refused", 1, 4, 1}};
    rd_kafka_mock_push_request_errors(mc, 8 /* OffsetCommit */, 1,
                                      RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE);
    assert_int_equal(kafka_consumer_commit_offsets(c, offs, 2), -EIO);
    assert_int_equal(offs[0].err, -EIO);
    assert_int_equal(offs[1].err, -EIO);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(parts, "refused", 0);
    rd_kafka_topic_partition_list_add(parts, "refused", 1);
    assert_int_equal(rd_kafka_committed(rk, parts, 5000), 0);
    assert_int_equal(parts->elems[0].offset, RD_KAFKA_OFFSET_INVALID);
    assert_int_equal(parts->elems[1].offset, RD_KAFKA_OFFSET_INVALID);
    assert_int_equal(kafka_consumer_commit_offsets(c, offs, 2), 0);
    assert_int_equal(offs[0].err, 0);
    assert_int_equal(offs[1].err, 0);
    assert_int_equal(rd_kafka_committed(rk, parts, 5000), 0);
    assert_int_equal(parts->elems[0].offset, 3);
    assert_int_equal(parts->elems[1].offset, 4);
    rd_kafka_topic_partition_list_destroy(parts);
    kafka_consumer_free(c);
}

int main(void)
{
    log_init("test_kafka", LOG_LEVEL_WARN, true, false);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_unknown_property),
        cmocka_unit_test(test_conf_invalid_value),
        cmocka_unit_test(test_conf_passthrough),
        cmocka_unit_test(test_secret_keys),
        cmocka_unit_test(test_secrets_never_logged),
        cmocka_unit_test(test_producer_delivery_reports),
        cmocka_unit_test(test_producer_outage),
        cmocka_unit_test(test_producer_queue_full),
        cmocka_unit_test(test_producer_fatal_error),
        cmocka_unit_test_prestate(test_consumer_commit, "range,roundrobin"),
        cmocka_unit_test_prestate(test_consumer_commit, "cooperative-sticky"),
        cmocka_unit_test(test_consumer_commit_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
