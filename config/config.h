/* config: the one configuration file of every ipamwatch component, parsed once into a
 * validated, read-only struct config.
 *
 * DESIGN: the file is INI text read by libinih. Every key of every fixed section, and of the
 * named [domain "NAME"], [rule "NAME"] and [sink "NAME"] sections, is described once in a
 * table (config/config_keys.c: name, type, bounds, default, field offset; secrets are a
 * type), so parsing, defaults, validation and config_dump() cannot drift apart. The
 * [kafka] section is the exception: its pairs are kept verbatim with their file:line and
 * handed to librdkafka, which validates them with its own words (config_check_kafka()).
 * Errors read "FILE:LINE: [section] key: what is wrong". After config_load() returns, the
 * struct is never written again, so any thread may read it without locking.
 */
#ifndef IPAMWATCH_CONFIG_CONFIG_H
#define IPAMWATCH_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kv.h"
#include "log.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

/* Where `ipamwatch` looks for its configuration when no -c is given. */
#define CONFIG_DEFAULT_PATH SYSCONFDIR "/ipamwatch.conf"

/* A comma-separated list; items are trimmed, never empty. */
struct config_list {
    char **items;
    size_t n;
};

enum config_severity { CONFIG_SEV_INFO, CONFIG_SEV_WARNING, CONFIG_SEV_CRITICAL };

enum config_rule_type {
    CONFIG_RULE_UTILIZATION,
    CONFIG_RULE_CANNOT_FIT,
    CONFIG_RULE_FORECAST,
    CONFIG_RULE_OVERLAP,
    CONFIG_RULE_ALLOCATION_FAILED,
    CONFIG_RULE_NONCOMPLIANT,
    CONFIG_RULE_STALE,
};

enum config_object {
    CONFIG_OBJECT_POOL,
    CONFIG_OBJECT_SCOPE,
    CONFIG_OBJECT_VPC,
    CONFIG_OBJECT_SUBNET
};

enum config_forecast_target { CONFIG_TARGET_FULL, CONFIG_TARGET_CRIT };

enum config_sink_type {
    CONFIG_SINK_ALERTMANAGER,
    CONFIG_SINK_PAGERDUTY,
    CONFIG_SINK_SLACK,
    CONFIG_SINK_WEBHOOK,
    CONFIG_SINK_SYSLOG,
    CONFIG_SINK_KAFKA,
    CONFIG_SINK_FILE,
};

enum config_log_level { CONFIG_LOG_ERROR, CONFIG_LOG_WARN, CONFIG_LOG_INFO, CONFIG_LOG_DEBUG };

/* Strings below are owned by the struct config; an optional string that was not given is
 * NULL (never ""). Durations are milliseconds, sizes bytes. */

struct config_aws {
    char *region; /* home region; NULL = AWS_REGION / profile */
    char *role_arn;
    char *external_id;
    char *endpoint_url;
    char *profile;
    char *access_key_id;     /* secret */
    char *secret_access_key; /* secret */
    char *session_token;     /* secret */
    char *ca_file;
    int64_t connect_timeout_ms;
    int64_t request_timeout_ms;
    int max_attempts;
    int retry_budget; /* retry quota tokens (SDK "standard" mode) */
};

struct config_collector {
    int64_t poll_interval_ms;
    char *ipam_id; /* NULL = the only IPAM of the home region */
    struct config_list accounts;
    struct config_list regions;
    char *member_role_name; /* NULL = read CloudTrail with the base credentials */
    int64_t cloudtrail_interval_ms;
    int64_t cloudtrail_overlap_ms; /* >= 15 min */
    double cloudtrail_rate;        /* requests/s per account and region, <= 2 */
    char *state_dir;
};

struct config_topics {
    char *inventory;
    char *events;
    char *alerts;
    char *deadletter;
    char *state; /* per-partition analyzer state (compacted) for scale-out */
};

struct config_analyzer {
    char *group_id;
    char *state_dir;
    int64_t forecast_window_ms;
    bool partition_state;  /* publish/adopt partition state on [topics] state (scale-out) */
    int64_t order_wait_ms; /* longest wait for a partition with a known backlog (ordered.h) */
};

struct config_rrd {
    char *dir;
    int64_t step_ms; /* whole seconds */
    char *daemon;    /* NULL = write directly; "unix:/path" or "host:port" */
};

struct config_journal {
    char *dir;
    bool fsync;
};

struct config_metrics {
    char *listen;          /* NULL = off; "host:port" */
    char *analyzer_listen; /* the analyzer's; NULL = listen */
};

struct config_log {
    enum config_log_level level;
    bool syslog;
    bool to_stderr; /* key "stderr" */
};

struct config_domain {
    char *name;
    struct config_list scopes;
    struct config_list pools;
    struct config_list statics; /* key "static": CIDRs as text, checked by the address engine */
    char *description;
    unsigned line; /* line of the section header */
};

struct config_rule {
    char *name;
    enum config_rule_type type;
    enum config_severity severity;
    char *runbook_url;
    struct config_list labels; /* "k=v" items */
    char *scope;               /* selectors; NULL = any */
    char *pool;
    char *locale;
    char *tag; /* "Key" or "Key=Value" */
    enum config_object object;
    int64_t repeat_interval_ms;
    /* utilization: percent 0-100, reset < trigger, warn_trigger < crit_trigger */
    double warn_trigger, warn_reset, crit_trigger, crit_reset;
    int64_t for_ms;
    /* cannot_fit: 0 = the pool's default netmask */
    int netmask;
    /* forecast */
    int days;
    int64_t window_ms; /* forecast: history used; allocation_failed: how long a failure fires */
    enum config_forecast_target target;
    /* overlap: a [domain] that exists */
    char *domain;
    /* stale */
    int64_t max_pass_age_ms;
    int64_t max_event_lag_ms;
    int64_t max_reflect_lag_ms; /* a CloudTrail allocation not in the inventory after this */
    /* noncompliant: also resources IPAM does not manage (management state "unmanaged") */
    bool unmanaged;
    unsigned line;
};

struct config_sink {
    char *name;
    enum config_sink_type type;
    struct config_list rules; /* rule names; empty = every rule */
    enum config_severity min_severity;
    int64_t retry_max_ms;
    int64_t backoff_min_ms; /* first retry delay */
    int64_t backoff_max_ms; /* longest retry delay; >= backoff_min_ms */
    char *spool_dir;        /* effective: defaults to <analyzer.state_dir>/spool/<name> */
    uint64_t spool_max;
    char *url;         /* alertmanager, pagerduty, webhook */
    char *routing_key; /* secret; pagerduty */
    char *webhook_url; /* secret; slack */
    char *hmac_secret; /* secret; webhook */
    char *header;      /* webhook signature header */
    char *address;     /* syslog: unix:/path, udp:host:port, tcp:host:port */
    char *app_name;    /* syslog */
    char *topic;       /* kafka; defaults to [topics] alerts */
    char *path;        /* file */
    char *ca_file;
    bool insecure_skip_verify;
    int64_t repost_interval_ms; /* alertmanager: re-post of firing alerts */
    int64_t timeout_ms; /* HTTP sinks: whole request; kafka: delivery report; 0 for others */
    unsigned line;
};

struct config {
    char *path; /* file loaded; "(defaults)" for config_default() */
    struct config_aws aws;
    struct config_collector collector;
    struct config_topics topics;
    struct config_analyzer analyzer;
    struct config_rrd rrd;
    struct config_journal journal;
    struct config_metrics metrics;
    struct config_log log;
    /* [kafka] pairs in file order, then the -X overrides (later pairs win). The kv's file
     * points at `path` (or at the caller's "-X" string constant). */
    struct config_kv *kafka;
    size_t n_kafka;
    struct config_domain *domains;
    size_t n_domains;
    struct config_rule *rules;
    size_t n_rules;
    struct config_sink *sinks;
    size_t n_sinks;
};

/* Loads and validates the file at `path`; `overrides` (n of them, may be NULL when n is 0)
 * are -X Kafka properties appended after the [kafka] pairs so they win. Secrets given as
 * ${VAR} or @/path are resolved; a literal secret in a file readable by group or others is
 * refused. Returns a config owned by the caller (config_free()), or NULL with
 * "FILE:LINE: [section] key: what is wrong" in err. `overrides` is borrowed (copied).
 * Main thread, at start (it sets libinih's process-wide options for the parse). */
struct config *config_load(const char *path, const struct config_kv *overrides, size_t n, char *err,
                           size_t errlen);

/* Returns a config holding every default and no [kafka] pairs, for tools that run without a
 * file. Owned by the caller. Any thread. */
struct config *config_default(void);

/* Frees everything; NULL is a no-op. */
void config_free(struct config *cfg);

/* Writes the effective configuration (defaults included) as INI text that config_load()
 * reads back; secrets, and [kafka] values of secret properties, appear as <redacted>.
 * Returns 0 or -EIO. `cfg` and `out` are borrowed. Any thread. */
int config_dump(const struct config *cfg, FILE *out);

/* Validates the [kafka] pairs and -X overrides with librdkafka's own parser. Returns 0, or
 * -EINVAL with "FILE:LINE: [kafka] KEY: librdkafka's text" in err. Any thread. */
int config_check_kafka(const struct config *cfg, char *err, size_t errlen);

/* True when a Kafka property (or any key) holds a secret: sasl.password, ssl.key.password,
 * ssl.keystore.password, sasl.oauthbearer.client.secret, ssl.key.pem, ... and any key
 * naming a password, secret or private key. Any thread. */
bool config_is_secret_key(const char *key);

/* Returns `value`, or "<redacted>" when `key` holds a secret; for printing settings.
 * The result is borrowed (from `value` or static). Any thread. */
const char *config_redact(const char *key, const char *value);

/* Parses a -X argument "key=value" into *kv (file "-X", line 0); kv->key and kv->value are
 * owned by the caller (config_kv_clear()). Returns 0, or -EINVAL with a message in err. */
int config_kv_parse(const char *arg, struct config_kv *kv, char *err, size_t errlen);

/* Frees kv->key and kv->value and zeroes them; NULL is a no-op. */
void config_kv_clear(struct config_kv *kv);

/* Looks up a value in the effective [kafka] pairs (the last one wins); NULL if absent.
 * The result is borrowed from cfg. Any thread. */
const char *config_kafka_get(const struct config *cfg, const char *key);

/* The [log] level as the logger's level, for log_init(). Any thread. */
enum log_level config_log_level(const struct config *cfg);

/* Names of enum values, for messages and dumps ("utilization", "critical", ...). */
const char *config_rule_type_name(enum config_rule_type type);
const char *config_sink_type_name(enum config_sink_type type);
const char *config_severity_name(enum config_severity sev);

#endif
