/* collector_metrics: what the collect job reports on /metrics and /readyz: inventory
 * passes, listing calls by operation and outcome, AWS HTTP attempts, records produced and
 * delivery failures; readiness follows the last pass. Every function is a no-op when the
 * registry is NULL ([metrics] listen not set). */
#ifndef IPAMWATCH_COLLECTOR_METRICS_H
#define IPAMWATCH_COLLECTOR_METRICS_H

#include <stdint.h>

#include "collector/aws_client.h"
#include "collector/inventory.h"
#include "metrics.h"

/* A listing source that counts each call of the wrapped one. */
struct collector_metrics_source {
    struct inventory_source inner;
    metrics_t *mx;
};

/* Declares the collector's families on `mx` (borrowed) and marks the collector not ready
 * until its first complete pass. The thread running the collector. */
void collector_metrics_init(metrics_t *mx);

/* Makes `src` count its calls into `mx`: `wrap` (owned by the caller, must outlive `src`)
 * keeps the original source. No-op when `mx` is NULL. */
void collector_metrics_wrap(metrics_t *mx, struct inventory_source *src,
                            struct collector_metrics_source *wrap);

/* Before a pass. */
void collector_metrics_pass_start(metrics_t *mx);

/* After a pass that returned `rc` with result `res` (borrowed); `client` (borrowed, may be
 * NULL in files mode) gives the AWS counters; `poll_interval_ms` sizes how long the
 * readiness given by a complete pass stays valid. */
void collector_metrics_pass_end(metrics_t *mx, int rc, const struct inventory_result *res,
                                aws_client_t *client, int64_t poll_interval_ms);

#endif
