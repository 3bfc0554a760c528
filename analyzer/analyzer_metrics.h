/* analyzer_metrics: what the analyze job reports on /metrics and /readyz: records applied
 * and dead-lettered, journal appends, RRD writes and errors, checkpoints, consumer lag; per
 * pool its size, used, utilization, largest free block, the default-size blocks that still
 * fit and the time until it is full by its forecast (labelled scope_id, pool_id, pool_name,
 * locale, as the model describes the pool, so a loaded snapshot's pools are labelled at once;
 * a pool's series go at the end of the first sample round after it left the model); alerts
 * pending and firing and notifications by rule; per sink its deliveries, retries, spool depth
 * and notifications held in memory. Readiness: partitions assigned, Kafka answering,
 * checkpoints succeeding and the loop turning. Every function is a no-op when given NULL
 * ([metrics] listen not set), so the analyzer pays nothing then. */
#ifndef IPAMWATCH_ANALYZER_METRICS_H
#define IPAMWATCH_ANALYZER_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "analyzer/analyzer.h"
#include "analyzer/analyzer_alerts.h"
#include "analyzer/model.h"
#include "analyzer/rrd_store.h"
#include "kafka.h"
#include "metrics.h"
#include "record.h"

typedef struct analyzer_metrics analyzer_metrics_t;

/* Declares the analyzer's families on `mx` (borrowed; must outlive the result) and marks
 * the analyzer not ready until it has partitions. Returns the reporter (owned by the
 * caller, analyzer_metrics_free()), or NULL when `mx` is NULL. The analyzer's thread. */
analyzer_metrics_t *analyzer_metrics_new(metrics_t *mx);

/* Frees the reporter (not the registry). NULL is a no-op. */
void analyzer_metrics_free(analyzer_metrics_t *am);

/* A model_objects_cb (ctx: the reporter): sets the gauges of a "pool" object (`o` and `s`
 * borrowed), labelled with its scope, id, name (o->name; "" when none) and locale (""
 * when none); the series a pool had under other labels (renamed, moved to another scope)
 * go first. Other kinds are ignored. The analyzer's thread. */
void analyzer_metrics_object(void *am, const struct model_object *o, const struct rrd_sample *s);

/* Brackets one round of analyzer_metrics_object() calls that reports every object of scope
 * `scope_id` (borrowed for the call; NULL: of every scope), as model_metrics_objects() does:
 * at the round's end, the pools of those scopes that the round did not report have left the
 * model, and their series (the pool gauges and the time to exhaustion) go. The analyzer's
 * thread. */
void analyzer_metrics_round_begin(analyzer_metrics_t *am, const char *scope_id);
void analyzer_metrics_round_end(analyzer_metrics_t *am);

/* Removes the series of a scope that left this analyzer (`scope_id` borrowed). */
void analyzer_metrics_drop_scope(analyzer_metrics_t *am, const char *scope_id);

/* Current state of the analyzer loop, for analyzer_metrics_tick(). Pointers borrowed. */
struct analyzer_metrics_state {
    const struct analyzer_stats *stats;
    rrd_store_t *rrd;
    kafka_consumer_t *consumer;
    analyzer_alerts_t *alerts; /* rules and sinks; NULL: no alert figures */
    bool assigned_once;        /* the group gave us an assignment at least once */
    bool paused;               /* consumption paused: checkpoints failing */
    int fatal;                 /* -errno: stopping without a commit */
};

/* Call every loop turn: at most once a second it copies the counters (the alert and sink
 * figures from st->alerts, the times to exhaustion when they changed), reads the consumer
 * lag from librdkafka's cached watermarks, checks every few seconds that Kafka answers (a
 * watermark query of one assigned partition, bounded at 500 ms) and sets readiness. */
void analyzer_metrics_tick(analyzer_metrics_t *am, int64_t now_ms,
                           const struct analyzer_metrics_state *st);

#endif
