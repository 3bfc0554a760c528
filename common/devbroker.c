/* devbroker: an in-memory Kafka cluster (librdkafka's mock cluster) for development and
 * tests. */
#define LOG_MODULE "devbroker"
#include "config.h"

#include "devbroker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "log.h"
#include "xalloc.h"

struct devbroker {
    rd_kafka_t *rk; /* owns the cluster's thread; never produces */
    rd_kafka_mock_cluster_t *mcluster;
    char *bootstraps;
    int brokers;
    bool down;
};

/* The owning handle has no bootstrap.servers on purpose; its configuration warning and
 * the mock's chatter are debug material. Called from librdkafka's threads. */
static void devbroker_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    enum log_level lvl = level <= 3 ? LOG_LEVEL_ERR : level == 4 ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG;
    if (strcmp(fac, "CONFWARN") == 0)
        lvl = LOG_LEVEL_DEBUG;
    if (log_enabled(lvl))
        log_msg(lvl, LOG_MODULE, "%s: %s", fac, buf);
}

static bool topic_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > 249 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return false;
    return true;
}

devbroker_t *devbroker_new(int brokers, const struct devbroker_topic *topics, size_t ntopics,
                           char *err, size_t errlen)
{
    devbroker_t *db = NULL;
    rd_kafka_conf_t *conf = NULL;
    char text[512];

    if (brokers < 1 || brokers > DEVBROKER_MAX_BROKERS) {
        snprintf(err, errlen, "broker count %d out of range 1..%d", brokers, DEVBROKER_MAX_BROKERS);
        goto fail;
    }
    for (size_t i = 0; i < ntopics; i++) {
        if (!topic_name_ok(topics[i].name)) {
            snprintf(err, errlen, "invalid topic name '%s' (1..249 of [a-zA-Z0-9._-])",
                     topics[i].name);
            goto fail;
        }
        if (topics[i].partitions < 1 || topics[i].partitions > DEVBROKER_MAX_PARTITIONS) {
            snprintf(err, errlen, "topic %s: partition count %d out of range 1..%d", topics[i].name,
                     topics[i].partitions, DEVBROKER_MAX_PARTITIONS);
            goto fail;
        }
    }

    db = xcalloc(1, sizeof *db);
    db->brokers = brokers;
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, devbroker_log_cb);
    if (rd_kafka_conf_set(conf, "client.id", "ipamwatch-devbroker", text, sizeof text) !=
        RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "devbroker: %s", text);
        goto fail;
    }
    db->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, text, sizeof text);
    if (!db->rk) {
        snprintf(err, errlen, "devbroker: rd_kafka_new: %s", text);
        goto fail;
    }
    conf = NULL; /* owned by db->rk */
    db->mcluster = rd_kafka_mock_cluster_new(db->rk, brokers);
    if (!db->mcluster) {
        snprintf(err, errlen, "devbroker: rd_kafka_mock_cluster_new failed (see log)");
        goto fail;
    }
    db->bootstraps = xstrdup(rd_kafka_mock_cluster_bootstraps(db->mcluster));
    for (size_t i = 0; i < ntopics; i++) {
        int rc = devbroker_create_topic(db, topics[i].name, topics[i].partitions);
        if (rc < 0) {
            snprintf(err, errlen, "devbroker: create topic %s: %s", topics[i].name, strerror(-rc));
            goto fail;
        }
    }
    LOG_INFO("%d broker%s at %s", brokers, brokers == 1 ? "" : "s", db->bootstraps);
    return db;
fail:
    if (conf)
        rd_kafka_conf_destroy(conf);
    devbroker_free(db);
    return NULL;
}

const char *devbroker_bootstraps(const devbroker_t *db)
{
    return db->bootstraps;
}

int devbroker_create_topic(devbroker_t *db, const char *name, int partitions)
{
    if (!topic_name_ok(name) || partitions < 1 || partitions > DEVBROKER_MAX_PARTITIONS)
        return -EINVAL;
    int replicas = db->brokers < 3 ? db->brokers : 3;
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(db->mcluster, name, partitions, replicas);
    if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        return -EEXIST;
    if (e) {
        LOG_ERR("rd_kafka_mock_topic_create %s: %s", name, rd_kafka_err2str(e));
        return -EIO;
    }
    LOG_INFO("topic %s: %d partition%s", name, partitions, partitions == 1 ? "" : "s");
    return 0;
}

int devbroker_set_down(devbroker_t *db, bool down)
{
    int rc = 0;
    for (int id = 1; id <= db->brokers; id++) {
        rd_kafka_resp_err_t e = down ? rd_kafka_mock_broker_set_down(db->mcluster, id)
                                     : rd_kafka_mock_broker_set_up(db->mcluster, id);
        if (e) {
            LOG_ERR("broker %d: set %s: %s", id, down ? "down" : "up", rd_kafka_err2str(e));
            rc = -EIO;
        }
    }
    db->down = down;
    LOG_INFO("brokers %s", down ? "down (connections refused, data kept)" : "up");
    return rc;
}

bool devbroker_is_down(const devbroker_t *db)
{
    return db->down;
}

void devbroker_free(devbroker_t *db)
{
    if (!db)
        return;
    if (db->mcluster)
        rd_kafka_mock_cluster_destroy(db->mcluster);
    if (db->rk)
        rd_kafka_destroy(db->rk);
    free(db->bootstraps);
    free(db);
}
