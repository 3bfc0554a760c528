/* sink_deliver: the transports of the alert sinks (HTTP, syslog, Kafka, file), one
 * connection per sink worker.
 *
 * DESIGN: a connection turns one alert into its sink's wire form (alerts/sink_payload.h)
 * and sends it, telling a retryable failure (network, timeout, HTTP 408/429/5xx) from a
 * final one (any other 4xx, an unencodable alert). HTTP goes through one reused libcurl
 * easy handle with CURLOPT_NOSIGNAL, TLS verification on unless the sink says otherwise, and
 * libcurl's error text in our messages; URLs and keys never appear in them, because Slack
 * webhook URLs and PagerDuty routing keys are secrets.
 *
 * A Kafka send produces the alert record (docs/records.md: `id`, `fingerprint`, `state`,
 * `starts_at`, `ends_at`), keyed by fingerprint, and waits `timeout` for its delivery report.
 * When none comes, the attempt is given up and its message taken out of the producer if it
 * was not sent yet, so a broker that comes back later receives only the retry. A message
 * already sent cannot be taken back: if the broker wrote it without its report reaching us,
 * the retry is a second copy. The Kafka sink is therefore at least once; a receiver keeps
 * one message per `id` (the same notification always carries the same id, and a new
 * notification of the same alert a new one).
 */
#ifndef IPAMWATCH_ALERTS_SINK_DELIVER_H
#define IPAMWATCH_ALERTS_SINK_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "record.h"

/* Result codes of sink_conn_send besides 0 (delivered). */
#define SINK_RETRY (-EAGAIN) /* try again later */
#define SINK_FINAL (-EINVAL) /* retrying cannot help */

typedef struct sink_conn sink_conn_t;

/* Creates the transport of `sink` (borrowed, as is `cfg`, both must outlive it); HTTP
 * requests time out after `timeout_ms`, and a Kafka send waits that long for the broker's
 * delivery report. Returns NULL with text in `err` (a Kafka producer
 * that cannot be configured). Owned by the caller (sink_conn_free). The thread that uses
 * it; one thread at a time. */
sink_conn_t *sink_conn_new(const struct config *cfg, const struct config_sink *sink,
                           int64_t timeout_ms, char *err, size_t errlen);

/* Sends one alert (borrowed). Returns 0, SINK_RETRY or SINK_FINAL with the reason (free
 * of secrets) in `err`. */
int sink_conn_send(sink_conn_t *c, const struct record *alert, char *err, size_t errlen);

/* Alertmanager only: posts the `n` firing alerts (borrowed) in one array. Same returns. */
int sink_conn_repost(sink_conn_t *c, const struct record *const *alerts, size_t n, char *err,
                     size_t errlen);

/* Closes sockets, flushes and frees. NULL is a no-op. */
void sink_conn_free(sink_conn_t *c);

#endif
