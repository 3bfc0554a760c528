/* collector_metrics: the collect job's metrics and readiness. See collector_metrics.h. */
#include "collector/collector_metrics.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sdnotify.h"

#define READY_SLACK_MS 60000 /* beyond two poll intervals and twice the last pass */

static const char *outcome(int rc)
{
    switch (rc) {
    case 0:
        return "ok";
    case -EAGAIN:
        return "throttled";
    case -ETIMEDOUT:
        return "timeout";
    case -EACCES:
        return "denied";
    case -ENOENT:
        return "not_found";
    case -EINTR:
        return "interrupted";
    default:
        return "error";
    }
}

void collector_metrics_init(metrics_t *mx)
{
    if (!mx)
        return;
    metrics_declare(mx, "ipamwatch_collector_passes_started_total", METRICS_COUNTER,
                    "Inventory passes started.", NULL);
    metrics_declare(mx, "ipamwatch_collector_passes_completed_total", METRICS_COUNTER,
                    "Inventory passes complete: every call succeeded and every record was "
                    "confirmed by Kafka.",
                    NULL);
    metrics_declare(mx, "ipamwatch_collector_passes_failed_total", METRICS_COUNTER,
                    "Inventory passes that ended incomplete or interrupted.", NULL);
    metrics_declare(mx, "ipamwatch_collector_last_pass_duration_seconds", METRICS_GAUGE,
                    "Duration of the last inventory pass.", NULL);
    metrics_declare(mx, "ipamwatch_collector_last_success_timestamp_seconds", METRICS_GAUGE,
                    "Unix time at which the last complete inventory pass ended.", NULL);
    metrics_declare(mx, "ipamwatch_collector_records_produced_total", METRICS_COUNTER,
                    "Records queued to Kafka by inventory passes, frames included.", NULL);
    metrics_declare(mx, "ipamwatch_collector_records_delivered_total", METRICS_COUNTER,
                    "Records whose delivery Kafka confirmed.", NULL);
    metrics_declare(mx, "ipamwatch_collector_delivery_failures_total", METRICS_COUNTER,
                    "Records Kafka refused or did not confirm in time.", NULL);
    metrics_declare(mx, "ipamwatch_collector_list_calls_total", METRICS_COUNTER,
                    "IPAM listings (all pages of one listing count once; from files: one output "
                    "file) by operation and outcome.",
                    "operation,outcome");
    metrics_declare(mx, "ipamwatch_aws_http_requests_total", METRICS_COUNTER,
                    "HTTP attempts of the inventory's AWS client, retries included.", NULL);
    metrics_declare(mx, "ipamwatch_aws_retries_total", METRICS_COUNTER, "Retried AWS attempts.",
                    NULL);
    metrics_declare(mx, "ipamwatch_aws_throttled_total", METRICS_COUNTER,
                    "AWS attempts answered with a throttling error.", NULL);
    metrics_declare(mx, "ipamwatch_aws_retry_quota_tokens", METRICS_GAUGE,
                    "Retry quota left (SDK standard retry mode).", NULL);
    metrics_set(mx, "ipamwatch_collector_passes_started_total", 0, NULL);
    metrics_set(mx, "ipamwatch_collector_passes_completed_total", 0, NULL);
    metrics_set(mx, "ipamwatch_collector_passes_failed_total", 0, NULL);
    metrics_set_ready(mx, "collector", "no inventory pass completed yet", 0);
}

static int counted_list(void *ctx, enum ec2_ipam_op op, const char *region, const char *arg,
                        const char *arg2, ec2_ipam_item_cb on_item, void *cb_ctx, char *err,
                        size_t errlen)
{
    struct collector_metrics_source *w = ctx;
    int rc = w->inner.list(w->inner.ctx, op, region, arg, arg2, on_item, cb_ctx, err, errlen);
    metrics_add(w->mx, "ipamwatch_collector_list_calls_total", 1, ec2_ipam_op_name(op), outcome(rc),
                NULL);
    return rc;
}

void collector_metrics_wrap(metrics_t *mx, struct inventory_source *src,
                            struct collector_metrics_source *wrap)
{
    if (!mx)
        return;
    wrap->inner = *src;
    wrap->mx = mx;
    src->list = counted_list;
    src->ctx = wrap;
}

void collector_metrics_pass_start(metrics_t *mx)
{
    if (mx)
        metrics_add(mx, "ipamwatch_collector_passes_started_total", 1, NULL);
}

void collector_metrics_pass_end(metrics_t *mx, int rc, const struct inventory_result *res,
                                aws_client_t *client, int64_t poll_interval_ms)
{
    if (!mx)
        return;
    char status[600];
    metrics_lock(mx);
    metrics_add(mx,
                rc == 0 ? "ipamwatch_collector_passes_completed_total"
                        : "ipamwatch_collector_passes_failed_total",
                1, NULL);
    metrics_set(mx, "ipamwatch_collector_last_pass_duration_seconds", res->duration_ms / 1000.0,
                NULL);
    metrics_add(mx, "ipamwatch_collector_records_produced_total", (double)res->records, NULL);
    metrics_add(mx, "ipamwatch_collector_records_delivered_total", (double)res->delivered, NULL);
    metrics_add(mx, "ipamwatch_collector_delivery_failures_total", (double)res->failed, NULL);
    if (client) {
        struct aws_client_stats st;
        aws_client_get_stats(client, &st);
        metrics_set(mx, "ipamwatch_aws_http_requests_total", (double)st.requests, NULL);
        metrics_set(mx, "ipamwatch_aws_retries_total", (double)st.retries, NULL);
        metrics_set(mx, "ipamwatch_aws_throttled_total", (double)st.throttled, NULL);
        metrics_set(mx, "ipamwatch_aws_retry_quota_tokens", st.quota_tokens, NULL);
    }
    if (rc == 0) {
        metrics_set(mx, "ipamwatch_collector_last_success_timestamp_seconds", (double)time(NULL),
                    NULL);
        /* Ready until the next pass is clearly overdue. */
        metrics_set_ready(mx, "collector", NULL,
                          2 * poll_interval_ms + 2 * res->duration_ms + READY_SLACK_MS);
        snprintf(status, sizeof status, "STATUS=last pass complete: %llu records in %.1f s",
                 (unsigned long long)res->records, res->duration_ms / 1000.0);
    } else {
        char why[560];
        snprintf(why, sizeof why, "last pass failed: %s",
                 res->error[0] ? res->error : (rc == -EINTR ? "interrupted" : "incomplete"));
        metrics_set_ready(mx, "collector", why, 0);
        snprintf(status, sizeof status, "STATUS=%s", why);
    }
    metrics_unlock(mx);
    sdnotify_send(status);
}
