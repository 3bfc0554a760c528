/* collector: the `collect` job: inventory passes from the EC2 API or aws CLI files into
 * Kafka, once or every poll interval; with the API also the CloudTrail poller (ct_lookup),
 * in its own thread, or one round after the pass with `once`. */
#ifndef IPAMWATCH_COLLECTOR_H
#define IPAMWATCH_COLLECTOR_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "metrics.h"

struct collector_options {
    bool once;                   /* one pass, then return */
    const char *from_files;      /* aws CLI output directory instead of the API */
    const char *collector_id;    /* NULL = the host name */
    volatile sig_atomic_t *stop; /* set by the caller's signal handling */
    metrics_t *metrics;          /* registry to report into (borrowed); NULL = a server of
                                    its own on [metrics] listen, if set */
    int64_t as_of_ms;            /* > 0: date the passes this time (replaying an inventory
                                    of the past, with once) */
};

/* Runs the collector with `cfg` (borrowed) until *o->stop or, with o->once, after one pass.
 * A pass in flight when stop is set stops reading and waits for what it queued to be
 * reported. Returns 0 (with once: the pass was complete and every record delivered),
 * -EAGAIN when the single pass was incomplete, -EINVAL on a setup error (logged). Main
 * thread; call curl_global_init() first. */
int collector_run(const struct config *cfg, const struct collector_options *o);

#endif
