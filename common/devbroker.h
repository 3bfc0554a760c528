/* devbroker: an in-memory Kafka cluster for development, the demo and tests.
 *
 * DESIGN: librdkafka's mock cluster (rdkafka_mock.h) running in its own thread, owned by
 * a producer handle that never produces. It speaks the Kafka protocol on 127.0.0.1
 * ephemeral ports, keeps data in memory only and drops the oldest message sets of a
 * partition once it holds more than about 5 MiB or 100,000 of them (fixed in librdkafka).
 * Topics a client auto-creates get the mock's fixed partition count
 * (DEVBROKER_AUTO_PARTITIONS in librdkafka 2.0.x); create topics up front to choose it.
 * Brokers can be taken down and brought back on the same port to exercise outages.
 */
#ifndef IPAMWATCH_DEVBROKER_H
#define IPAMWATCH_DEVBROKER_H

#include <stdbool.h>
#include <stddef.h>

/* Partition count the mock gives an auto-created topic (librdkafka 2.0.x). */
#define DEVBROKER_AUTO_PARTITIONS 4
#define DEVBROKER_MAX_BROKERS     32
#define DEVBROKER_MAX_PARTITIONS  10000

typedef struct devbroker devbroker_t;

struct devbroker_topic {
    const char *name; /* borrowed */
    int partitions;   /* 1..DEVBROKER_MAX_PARTITIONS */
};

/* Starts a cluster of `brokers` (1..DEVBROKER_MAX_BROKERS) brokers with `topics`
 * (borrowed, `ntopics` entries) created. Returns NULL with text in `err` on failure.
 * Owned by the caller (devbroker_free). Any thread; the cluster runs in its own. */
devbroker_t *devbroker_new(int brokers, const struct devbroker_topic *topics, size_t ntopics,
                           char *err, size_t errlen);

/* The bootstrap list, "127.0.0.1:PORT,..." (borrowed, valid until devbroker_free). */
const char *devbroker_bootstraps(const devbroker_t *db);

/* Creates a topic. Returns 0, -EEXIST if it exists, -EINVAL for a bad name or count, -EIO
 * otherwise (logged). Any thread. */
int devbroker_create_topic(devbroker_t *db, const char *name, int partitions);

/* Takes every broker down (`down` true: connections closed, new ones refused, data
 * kept) or brings them back up on the same ports. Returns 0 or -EIO (logged). Any
 * thread. */
int devbroker_set_down(devbroker_t *db, bool down);

/* True while the brokers are down. */
bool devbroker_is_down(const devbroker_t *db);

/* Stops the cluster (clients see their connections closed) and frees it. NULL is a
 * no-op. */
void devbroker_free(devbroker_t *db);

#endif
