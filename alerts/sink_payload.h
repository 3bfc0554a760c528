/* sink_payload: the wire form of one alert notification for each sink type (pure functions).
 *
 * DESIGN: formatting is kept apart from delivery so every documented shape can be checked
 * without a network: Alertmanager API v2 (a JSON array of postable alerts), PagerDuty
 * Events v2, Slack incoming webhooks, the generic webhook (the alert record's own JSON,
 * signed with HMAC-SHA256 over "<timestamp>.<body>") and RFC 5424 syslog lines with
 * structured data. Nothing here logs, and secrets (routing keys) only go into the bodies
 * that need them.
 */
#ifndef IPAMWATCH_ALERTS_SINK_PAYLOAD_H
#define IPAMWATCH_ALERTS_SINK_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "record.h"

/* Syslog: the SD-ID of our structured data (private enterprise number 32473, the one RFC
 * 5612 reserves for documentation). */
#define SINK_SYSLOG_SDID "ipamwatch@32473"
/* Longest syslog message we build; longer MSG parts are cut at a UTF-8 boundary. */
#define SINK_SYSLOG_MAX 8192

/* Rank of an alert severity ("info" 0, "warning" 1, "critical" 2); -1 when unknown.
 * Any thread. */
int sink_severity_rank(const char *severity);

/* The JSON body of one notification of `rec` (an alert, borrowed) for `sink` (borrowed):
 * alertmanager: an array with one postable alert (endsAt set only when resolved; a time
 * ahead of the wall clock goes out as the current time);
 * pagerduty: an Events v2 trigger or resolve with dedup_key = fingerprint;
 * slack: text plus one attachment coloured by severity (green when resolved);
 * webhook and file: the record's JSON encoding. Returns 0 with a NUL-terminated string
 * owned by the caller (free()) in *out, -EINVAL if the record is not a valid alert or the
 * sink type takes no JSON body (syslog, kafka). Any thread. */
int sink_payload_json(const struct config_sink *sink, const struct record *rec, char **out);

/* The Alertmanager form of several alerts (borrowed, n of them) in one array, for re-posts
 * of firing alerts. Same ownership and returns as sink_payload_json(). Any thread. */
int sink_payload_alertmanager_batch(const struct record *const *recs, size_t n, char **out);

/* Writes "sha256=<lower-case hex HMAC-SHA256(secret, "<ts>.<body>")>" into `buf` (at least
 * 72 bytes). `secret`, `ts` (the decimal Unix seconds sent in the timestamp header) and
 * `body` are borrowed. Returns 0, -ENOSPC if `buflen` is too small, -EIO if libcrypto
 * fails. Any thread. */
int sink_webhook_signature(const char *secret, const char *ts, const char *body, size_t len,
                           char *buf, size_t buflen);

/* Formats `rec` (borrowed) as one RFC 5424 message without framing:
 * "<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [ipamwatch@32473 fingerprint=".."
 * rule=".." state=".." severity=".."] MSG" where PRI uses facility daemon, the severity
 * maps critical->crit, warning->warning, info->info, resolved->notice, MSGID is the state
 * and MSG the summary annotation (else the rule). SD values escape '"', '\\' and ']'.
 * `hostname`/`app_name` (borrowed) are sanitised to printable ASCII and cut to 255/48
 * bytes; `now_ms` is the TIMESTAMP. Returns 0 with a string owned by the caller in *out,
 * or -EINVAL for an invalid alert. Any thread. */
int sink_syslog_format(const struct record *rec, const char *hostname, const char *app_name,
                       int pid, int64_t now_ms, char **out);

/* Escapes an RFC 5424 PARAM-VALUE into `buf`: '"', '\\' and ']' get a backslash. Returns 0
 * or -ENOSPC when it does not fit (buf then holds a truncated, still valid prefix). */
int sink_sd_escape(const char *value, char *buf, size_t buflen);

#endif
