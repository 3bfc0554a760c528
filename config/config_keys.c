/* config_keys: the table of every configuration key, and the typed parse, free and print of
 * one value. See config_keys.h for the design. */
#include "config/config_keys.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "text.h"
#include "units.h"
#include "xalloc.h"

#ifndef LOCALSTATEDIR
#define LOCALSTATEDIR "/var"
#endif
#define STATE_DIR LOCALSTATEDIR "/lib/ipamwatch"

/* Largest secret file read through @path. */
#define SECRET_FILE_MAX 65536

_Static_assert(sizeof(enum config_rule_type) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum config_severity) == sizeof(int), "enums are stored as int");

const char *const cfg_section_names[CFG_SEC_COUNT] = {
    "aws",     "collector", "kafka", "topics", "analyzer", "rrd",
    "journal", "metrics",   "log",   "domain", "rule",     "sink",
};

const char *const cfg_rule_type_names[] = {
    "utilization",       "cannot_fit",   "forecast", "overlap",
    "allocation_failed", "noncompliant", "stale",    NULL};
const char *const cfg_sink_type_names[] = {"alertmanager", "pagerduty", "slack", "webhook",
                                           "syslog",       "kafka",     "file",  NULL};
static const char *const severity_names[] = {"info", "warning", "critical", NULL};
static const char *const object_names[] = {"pool", "scope", "vpc", "subnet", NULL};
static const char *const target_names[] = {"full", "crit", NULL};
static const char *const level_names[] = {"error", "warn", "info", "debug", NULL};

/* ---- checks of one string or list item ---- */

static bool check_account_id(const char *s, char *why, size_t len)
{
    if (strlen(s) == 12 && strspn(s, "0123456789") == 12)
        return true;
    snprintf(why, len, "'%s' is not an AWS account id (12 digits)", s);
    return false;
}

static bool check_region(const char *s, char *why, size_t len)
{
    if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(s) && strchr(s, '-'))
        return true;
    snprintf(why, len, "'%s' is not an AWS region name (like eu-central-1)", s);
    return false;
}

static bool check_arn(const char *s, char *why, size_t len)
{
    if (strncmp(s, "arn:", 4) == 0 && strstr(s, ":role/"))
        return true;
    snprintf(why, len, "'%s' is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)", s);
    return false;
}

static bool check_url(const char *s, char *why, size_t len)
{
    const char *rest = NULL;
    if (strncmp(s, "https://", 8) == 0)
        rest = s + 8;
    else if (strncmp(s, "http://", 7) == 0)
        rest = s + 7;
    if (rest && *rest && *rest != '/' && !strpbrk(s, " \t"))
        return true;
    snprintf(why, len, "not an http:// or https:// URL");
    return false;
}

/* "host:port" or "[v6]:port" with a port 1-65535. */
static bool parse_hostport(const char *s)
{
    const char *colon;
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (!end || end == s + 1 || end[1] != ':')
            return false;
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || colon == s || memchr(s, ':', (size_t)(colon - s)))
            return false;
    }
    const char *p = colon + 1;
    if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 5)
        return false;
    long port = strtol(p, NULL, 10);
    return port >= 1 && port <= 65535;
}

static bool check_hostport(const char *s, char *why, size_t len)
{
    if (parse_hostport(s))
        return true;
    snprintf(why, len, "'%s' is not host:port (like 127.0.0.1:9310)", s);
    return false;
}

static bool check_rrd_daemon(const char *s, char *why, size_t len)
{
    if ((strncmp(s, "unix:/", 6) == 0 && s[6]) || parse_hostport(s))
        return true;
    snprintf(why, len, "'%s' is neither unix:/path nor host:port", s);
    return false;
}

static bool check_syslog_address(const char *s, char *why, size_t len)
{
    if ((strncmp(s, "unix:/", 6) == 0 && s[6]) ||
        ((strncmp(s, "udp:", 4) == 0 || strncmp(s, "tcp:", 4) == 0) && parse_hostport(s + 4)))
        return true;
    snprintf(why, len, "'%s' is not unix:/path, udp:host:port or tcp:host:port", s);
    return false;
}

static bool is_label_name(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_'))
            return false;
    return true;
}

static bool check_label(const char *s, char *why, size_t len)
{
    const char *eq = strchr(s, '=');
    if (eq && is_label_name(s, (size_t)(eq - s)))
        return true;
    snprintf(why, len, "'%s' is not a label name=value (name: letters, digits, _)", s);
    return false;
}

static bool check_tag(const char *s, char *why, size_t len)
{
    if (*s && *s != '=')
        return true;
    snprintf(why, len, "'%s' is not a tag Key or Key=Value", s);
    return false;
}

static bool check_topic(const char *s, char *why, size_t len)
{
    size_t n = strlen(s);
    if (n <= 249 &&
        strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n)
        return true;
    snprintf(why, len, "'%s' is not a Kafka topic name (letters, digits, '.', '_', '-')", s);
    return false;
}

static bool check_header_name(const char *s, char *why, size_t len)
{
    size_t n = strlen(s);
    if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == n)
        return true;
    snprintf(why, len, "'%s' is not an HTTP header name", s);
    return false;
}

/* ---- the table ---- */

#define SEC(x)              ((x)*1000.0)
#define MINS(x)             ((x)*60000.0)
#define HOUR(x)             ((x)*3600000.0)
#define DAY(x)              ((x)*86400000.0)
#define CO(f)               offsetof(struct config, f)
#define DO(f)               offsetof(struct config_domain, f)
#define RO(f)               offsetof(struct config_rule, f)
#define SO(f)               offsetof(struct config_sink, f)
#define K(sec, nm, ty, off) .section = CFG_SEC_##sec, .name = nm, .type = CFG_T_##ty, .offset = off
#define RT(t)               (1u << CONFIG_RULE_##t)
#define ST(t)               (1u << CONFIG_SINK_##t)
#define HTTP_SINKS          (ST(ALERTMANAGER) | ST(PAGERDUTY) | ST(SLACK) | ST(WEBHOOK))

const struct cfg_key cfg_keys[] = {
    /* [aws] */
    {K(AWS, "region", STRING, CO(aws.region)), .check = check_region},
    {K(AWS, "role_arn", STRING, CO(aws.role_arn)), .check = check_arn},
    {K(AWS, "external_id", STRING, CO(aws.external_id))},
    {K(AWS, "endpoint_url", STRING, CO(aws.endpoint_url)), .check = check_url},
    {K(AWS, "profile", STRING, CO(aws.profile))},
    {K(AWS, "access_key_id", SECRET, CO(aws.access_key_id))},
    {K(AWS, "secret_access_key", SECRET, CO(aws.secret_access_key))},
    {K(AWS, "session_token", SECRET, CO(aws.session_token))},
    {K(AWS, "ca_file", STRING, CO(aws.ca_file))},
    {K(AWS, "connect_timeout", DURATION, CO(aws.connect_timeout_ms)), .def = "5s", .lo = 100,
     .hi = MINS(5)},
    {K(AWS, "request_timeout", DURATION, CO(aws.request_timeout_ms)), .def = "30s", .lo = SEC(1),
     .hi = HOUR(1)},
    {K(AWS, "max_attempts", INT, CO(aws.max_attempts)), .def = "3", .lo = 1, .hi = 20},
    {K(AWS, "retry_budget", INT, CO(aws.retry_budget)), .def = "500", .lo = 0, .hi = 1000000},

    /* [collector] */
    {K(COLLECTOR, "poll_interval", DURATION, CO(collector.poll_interval_ms)), .def = "5m",
     .lo = SEC(1), .hi = DAY(1)},
    {K(COLLECTOR, "ipam_id", STRING, CO(collector.ipam_id))},
    {K(COLLECTOR, "accounts", LIST, CO(collector.accounts)), .check = check_account_id},
    {K(COLLECTOR, "regions", LIST, CO(collector.regions)), .check = check_region},
    {K(COLLECTOR, "member_role_name", STRING, CO(collector.member_role_name))},
    {K(COLLECTOR, "cloudtrail_interval", DURATION, CO(collector.cloudtrail_interval_ms)),
     .def = "1m", .lo = SEC(10), .hi = HOUR(1)},
    {K(COLLECTOR, "cloudtrail_overlap", DURATION, CO(collector.cloudtrail_overlap_ms)),
     .def = "15m", .lo = MINS(15), .hi = DAY(1)},
    {K(COLLECTOR, "cloudtrail_rate", NUMBER, CO(collector.cloudtrail_rate)), .def = "2", .lo = 0.01,
     .hi = 2},
    {K(COLLECTOR, "state_dir", STRING, CO(collector.state_dir)), .def = STATE_DIR "/collector",
     .flags = CFG_F_REQUIRED},

    /* [topics] */
    {K(TOPICS, "inventory", STRING, CO(topics.inventory)), .def = "ipamwatch.inventory",
     .flags = CFG_F_REQUIRED, .check = check_topic},
    {K(TOPICS, "events", STRING, CO(topics.events)), .def = "ipamwatch.events",
     .flags = CFG_F_REQUIRED, .check = check_topic},
    {K(TOPICS, "alerts", STRING, CO(topics.alerts)), .def = "ipamwatch.alerts",
     .flags = CFG_F_REQUIRED, .check = check_topic},
    {K(TOPICS, "deadletter", STRING, CO(topics.deadletter)), .def = "ipamwatch.deadletter",
     .flags = CFG_F_REQUIRED, .check = check_topic},
    {K(TOPICS, "state", STRING, CO(topics.state)), .def = "ipamwatch.state",
     .flags = CFG_F_REQUIRED, .check = check_topic},

    /* [analyzer] */
    {K(ANALYZER, "group_id", STRING, CO(analyzer.group_id)), .def = "ipamwatch-analyzer",
     .flags = CFG_F_REQUIRED},
    {K(ANALYZER, "state_dir", STRING, CO(analyzer.state_dir)), .def = STATE_DIR "/analyzer",
     .flags = CFG_F_REQUIRED},
    {K(ANALYZER, "forecast_window", DURATION, CO(analyzer.forecast_window_ms)), .def = "90d",
     .lo = DAY(1), .hi = DAY(1100)},
    {K(ANALYZER, "partition_state", BOOL, CO(analyzer.partition_state)), .def = "no"},
    {K(ANALYZER, "order_wait", DURATION, CO(analyzer.order_wait_ms)), .def = "10s", .lo = 500,
     .hi = MINS(10)},

    /* [rrd] */
    {K(RRD, "dir", STRING, CO(rrd.dir)), .def = STATE_DIR "/rrd", .flags = CFG_F_REQUIRED},
    {K(RRD, "step", DURATION, CO(rrd.step_ms)), .def = "300s", .lo = SEC(1), .hi = DAY(1),
     .flags = CFG_F_SECONDS},
    {K(RRD, "daemon", STRING, CO(rrd.daemon)), .check = check_rrd_daemon},

    /* [journal] */
    {K(JOURNAL, "dir", STRING, CO(journal.dir)), .def = STATE_DIR "/journal",
     .flags = CFG_F_REQUIRED},
    {K(JOURNAL, "fsync", BOOL, CO(journal.fsync)), .def = "yes"},

    /* [metrics] */
    {K(METRICS, "listen", STRING, CO(metrics.listen)), .check = check_hostport},
    {K(METRICS, "analyzer_listen", STRING, CO(metrics.analyzer_listen)), .check = check_hostport},

    /* [log] */
    {K(LOG, "level", ENUM, CO(log.level)), .def = "info", .names = level_names},
    {K(LOG, "syslog", BOOL, CO(log.syslog)), .def = "no"},
    {K(LOG, "stderr", BOOL, CO(log.to_stderr)), .def = "yes"},

    /* [domain "NAME"] */
    {K(DOMAIN, "scopes", LIST, DO(scopes))},
    {K(DOMAIN, "pools", LIST, DO(pools))},
    {K(DOMAIN, "static", LIST, DO(statics))},
    {K(DOMAIN, "description", STRING, DO(description))},

    /* [rule "NAME"]: type first, then the keys every type has, then per type. */
    {K(RULE, "type", ENUM, RO(type)), .names = cfg_rule_type_names, .flags = CFG_F_REQUIRED},
    {K(RULE, "severity", ENUM, RO(severity)), .def = "warning", .names = severity_names},
    {K(RULE, "runbook_url", STRING, RO(runbook_url)), .check = check_url},
    {K(RULE, "labels", LIST, RO(labels)), .check = check_label},
    {K(RULE, "scope", STRING, RO(scope))},
    {K(RULE, "pool", STRING, RO(pool))},
    {K(RULE, "locale", STRING, RO(locale))},
    {K(RULE, "tag", STRING, RO(tag)), .check = check_tag},
    {K(RULE, "object", ENUM, RO(object)), .def = "pool", .names = object_names},
    {K(RULE, "repeat_interval", DURATION, RO(repeat_interval_ms)), .def = "4h", .lo = MINS(1),
     .hi = DAY(30)},
    {K(RULE, "warn_trigger", NUMBER, RO(warn_trigger)), .def = "80", .lo = 0, .hi = 100,
     .types = RT(UTILIZATION)},
    {K(RULE, "warn_reset", NUMBER, RO(warn_reset)), .lo = 0, .hi = 100, .types = RT(UTILIZATION)},
    {K(RULE, "crit_trigger", NUMBER, RO(crit_trigger)), .def = "90", .lo = 0, .hi = 100,
     .types = RT(UTILIZATION)},
    {K(RULE, "crit_reset", NUMBER, RO(crit_reset)), .lo = 0, .hi = 100, .types = RT(UTILIZATION)},
    {K(RULE, "for", DURATION, RO(for_ms)), .def = "15m", .lo = 0, .hi = DAY(7),
     .types = RT(UTILIZATION)},
    {K(RULE, "netmask", INT, RO(netmask)), .def = "0", .lo = 0, .hi = 128, .types = RT(CANNOT_FIT)},
    {K(RULE, "days", INT, RO(days)), .def = "30", .lo = 1, .hi = 3650, .types = RT(FORECAST)},
    {K(RULE, "window", DURATION, RO(window_ms)), .def = "90d", .lo = DAY(1), .hi = DAY(1100),
     .types = RT(FORECAST)},
    {K(RULE, "target", ENUM, RO(target)), .def = "full", .names = target_names,
     .types = RT(FORECAST)},
    {K(RULE, "domain", STRING, RO(domain)), .flags = CFG_F_REQUIRED, .types = RT(OVERLAP)},
    /* Same key name, another meaning and default: how long a failed allocation fires. */
    {K(RULE, "window", DURATION, RO(window_ms)), .def = "1h", .lo = MINS(1), .hi = DAY(30),
     .types = RT(ALLOCATION_FAILED)},
    {K(RULE, "max_pass_age", DURATION, RO(max_pass_age_ms)), .def = "30m", .lo = MINS(1),
     .hi = DAY(7), .types = RT(STALE)},
    {K(RULE, "max_event_lag", DURATION, RO(max_event_lag_ms)), .def = "1h", .lo = MINS(1),
     .hi = DAY(7), .types = RT(STALE)},
    {K(RULE, "max_reflect_lag", DURATION, RO(max_reflect_lag_ms)), .def = "1h", .lo = MINS(1),
     .hi = DAY(7), .types = RT(STALE)},
    {K(RULE, "unmanaged", BOOL, RO(unmanaged)), .def = "no", .types = RT(NONCOMPLIANT)},

    /* [sink "NAME"] */
    {K(SINK, "type", ENUM, SO(type)), .names = cfg_sink_type_names, .flags = CFG_F_REQUIRED},
    {K(SINK, "rules", LIST, SO(rules))},
    {K(SINK, "min_severity", ENUM, SO(min_severity)), .def = "info", .names = severity_names},
    {K(SINK, "retry_max", DURATION, SO(retry_max_ms)), .def = "24h", .lo = SEC(1), .hi = DAY(30)},
    {K(SINK, "backoff_min", DURATION, SO(backoff_min_ms)), .def = "1s", .lo = 100, .hi = HOUR(1)},
    /* Not given: 60s, or backoff_min when that is longer (config.c check_sink). */
    {K(SINK, "backoff_max", DURATION, SO(backoff_max_ms)), .def = "60s", .lo = 100, .hi = HOUR(1)},
    {K(SINK, "spool_dir", STRING, SO(spool_dir))},
    {K(SINK, "spool_max", SIZE, SO(spool_max)), .def = "64MiB", .lo = 65536, .hi = 1e12},
    {K(SINK, "url", STRING, SO(url)), .flags = CFG_F_REQUIRED, .check = check_url,
     .types = ST(ALERTMANAGER) | ST(WEBHOOK)},
    {K(SINK, "url", STRING, SO(url)), .def = "https://events.pagerduty.com/v2/enqueue",
     .check = check_url, .types = ST(PAGERDUTY)},
    {K(SINK, "routing_key", SECRET, SO(routing_key)), .flags = CFG_F_REQUIRED,
     .types = ST(PAGERDUTY)},
    {K(SINK, "webhook_url", SECRET, SO(webhook_url)), .flags = CFG_F_REQUIRED, .types = ST(SLACK)},
    {K(SINK, "hmac_secret", SECRET, SO(hmac_secret)), .types = ST(WEBHOOK)},
    {K(SINK, "header", STRING, SO(header)), .def = "X-Ipamwatch-Signature",
     .check = check_header_name, .types = ST(WEBHOOK)},
    {K(SINK, "address", STRING, SO(address)), .def = "unix:/dev/log", .check = check_syslog_address,
     .types = ST(SYSLOG)},
    {K(SINK, "app_name", STRING, SO(app_name)), .def = "ipamwatch", .types = ST(SYSLOG)},
    {K(SINK, "topic", STRING, SO(topic)), .check = check_topic, .types = ST(KAFKA)},
    {K(SINK, "path", STRING, SO(path)), .flags = CFG_F_REQUIRED, .types = ST(FILE)},
    {K(SINK, "ca_file", STRING, SO(ca_file)), .types = HTTP_SINKS},
    {K(SINK, "insecure_skip_verify", BOOL, SO(insecure_skip_verify)), .def = "no",
     .types = HTTP_SINKS},
    /* HTTP sinks: the whole request; kafka: the wait for the broker's delivery report. */
    {K(SINK, "timeout", DURATION, SO(timeout_ms)), .def = "10s", .lo = SEC(1), .hi = MINS(5),
     .types = HTTP_SINKS | ST(KAFKA)},
    {K(SINK, "repost_interval", DURATION, SO(repost_interval_ms)), .def = "1m", .lo = SEC(1),
     .hi = HOUR(1), .types = ST(ALERTMANAGER)},
};

const size_t cfg_n_keys = sizeof cfg_keys / sizeof cfg_keys[0];

const struct cfg_key *cfg_key_find(enum cfg_section section, const char *name, int type)
{
    const struct cfg_key *any = NULL;
    for (size_t i = 0; i < cfg_n_keys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        if (k->section != section || strcmp(k->name, name) != 0)
            continue;
        if (cfg_key_applies(k, type))
            return k;
        if (!any)
            any = k;
    }
    return any;
}

bool cfg_key_applies(const struct cfg_key *k, int type)
{
    return k->types == 0 || (type >= 0 && (k->types & (1u << type)));
}

const char *config_rule_type_name(enum config_rule_type type)
{
    return (unsigned)type < sizeof cfg_rule_type_names / sizeof cfg_rule_type_names[0] - 1
               ? cfg_rule_type_names[type]
               : "?";
}

const char *config_sink_type_name(enum config_sink_type type)
{
    return (unsigned)type < sizeof cfg_sink_type_names / sizeof cfg_sink_type_names[0] - 1
               ? cfg_sink_type_names[type]
               : "?";
}

const char *config_severity_name(enum config_severity sev)
{
    return (unsigned)sev < 3 ? severity_names[sev] : "?";
}

/* ---- secrets ---- */

void cfg_secret_free(char *s)
{
    if (!s)
        return;
    volatile char *p = s;
    while (*p)
        *p++ = '\0';
    free(s);
}

static char *read_secret_file(const char *path, char *why, size_t len)
{
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(why, len, "cannot read secret file %s: %s", path, strerror(errno));
        return NULL;
    }
    buf = xmalloc(SECRET_FILE_MAX + 1);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, SECRET_FILE_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(why, len, "cannot read secret file %s: %s", path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > SECRET_FILE_MAX) {
            snprintf(why, len, "secret file %s is larger than %d bytes", path, SECRET_FILE_MAX);
            goto fail;
        }
    }
    close(fd);
    fd = -1;
    buf[n] = '\0';
    if (strlen(buf) != n) {
        snprintf(why, len, "secret file %s holds a NUL byte", path);
        goto fail;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    if (n == 0) {
        snprintf(why, len, "secret file %s is empty", path);
        goto fail;
    }
    return buf;
fail:
    if (fd >= 0)
        close(fd);
    if (buf) {
        buf[SECRET_FILE_MAX] = '\0';
        cfg_secret_free(buf);
    }
    return NULL;
}

char *cfg_secret_resolve(const char *text, bool *literal, char *why, size_t len)
{
    *literal = false;
    size_t n = strlen(text);
    if (n >= 3 && text[0] == '$' && text[1] == '{' && text[n - 1] == '}') {
        char *var = xstrndup(text + 2, n - 3);
        if (!*var ||
            strspn(var, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") !=
                strlen(var)) {
            snprintf(why, len, "'%s' is not a valid ${VARIABLE} reference", text);
            free(var);
            return NULL;
        }
        const char *v = getenv(var);
        if (!v || !*v) {
            snprintf(why, len, "environment variable %s is %s", var, v ? "empty" : "not set");
            free(var);
            return NULL;
        }
        free(var);
        return xstrdup(v);
    }
    if (text[0] == '@') {
        if (!text[1]) {
            snprintf(why, len, "'@' needs a file path (@/path/to/secret)");
            return NULL;
        }
        return read_secret_file(text + 1, why, len);
    }
    *literal = true;
    return xstrdup(text);
}

/* ---- one value ---- */

static void list_free(struct config_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static int parse_list(const struct cfg_key *k, const char *text, struct config_list *out, char *why,
                      size_t len)
{
    struct config_list l = {NULL, 0};
    size_t cap = 0;
    char *copy = xstrdup(text);
    char *t = text_trim(copy);
    if (*t) {
        char *p = t;
        for (;;) {
            char *comma = strchr(p, ',');
            if (comma)
                *comma = '\0';
            char *item = text_trim(p);
            if (!*item) {
                snprintf(why, len, "empty item in the comma-separated list");
                goto fail;
            }
            if (k->check && !k->check(item, why, len))
                goto fail;
            for (size_t i = 0; i < l.n; i++) {
                if (strcmp(l.items[i], item) == 0) {
                    snprintf(why, len, "'%s' is listed twice", item);
                    goto fail;
                }
            }
            l.items = xgrow(l.items, &cap, l.n + 1, sizeof *l.items);
            l.items[l.n++] = xstrdup(item);
            if (!comma)
                break;
            p = comma + 1;
        }
    }
    free(copy);
    list_free(out);
    *out = l;
    return 0;
fail:
    free(copy);
    list_free(&l);
    return -EINVAL;
}

static void format_bound(const struct cfg_key *k, double v, char *buf, size_t len)
{
    if (k->type == CFG_T_DURATION)
        units_format_duration((int64_t)v, buf, (unsigned)len);
    else
        snprintf(buf, len, "%.15g", v);
}

static int out_of_range(const struct cfg_key *k, const char *text, char *why, size_t len)
{
    char lo[32], hi[32];
    format_bound(k, k->lo, lo, sizeof lo);
    format_bound(k, k->hi, hi, sizeof hi);
    snprintf(why, len, "%s is out of range (%s to %s)", text, lo, hi);
    return -EINVAL;
}

static int parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -EINVAL;
}

int cfg_key_set(const struct cfg_key *k, void *base, const char *text, bool *literal, char *why,
                size_t len)
{
    void *field = (char *)base + k->offset;
    *literal = false;
    switch (k->type) {
    case CFG_T_STRING: {
        if (*text && k->check && !k->check(text, why, len))
            return -EINVAL;
        free(*(char **)field);
        *(char **)field = *text ? xstrdup(text) : NULL;
        return 0;
    }
    case CFG_T_SECRET: {
        char *v = NULL;
        if (*text) {
            v = cfg_secret_resolve(text, literal, why, len);
            if (!v)
                return -EINVAL;
        }
        cfg_secret_free(*(char **)field);
        *(char **)field = v;
        return 0;
    }
    case CFG_T_BOOL:
        if (parse_bool(text, (bool *)field) < 0) {
            snprintf(why, len, "'%s' is not a boolean (yes/no, true/false, on/off, 1/0)", text);
            return -EINVAL;
        }
        return 0;
    case CFG_T_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(text, &end, 10);
        if (!*text || *end || errno == ERANGE || isspace((unsigned char)*text)) {
            snprintf(why, len, "'%s' is not an integer", text);
            return -EINVAL;
        }
        if ((double)v < k->lo || (double)v > k->hi)
            return out_of_range(k, text, why, len);
        *(int *)field = (int)v;
        return 0;
    }
    case CFG_T_NUMBER: {
        char *end;
        errno = 0;
        double v = strtod(text, &end);
        if (!*text || *end || errno == ERANGE || !isfinite(v) || isspace((unsigned char)*text)) {
            snprintf(why, len, "'%s' is not a number", text);
            return -EINVAL;
        }
        if (v < k->lo || v > k->hi)
            return out_of_range(k, text, why, len);
        *(double *)field = v;
        return 0;
    }
    case CFG_T_DURATION: {
        int64_t ms;
        if (units_parse_duration_ms(text, &ms) < 0) {
            snprintf(why, len, "'%s' is not a duration (like 500ms, 30s, 5m, 2h, 90d, 1h30m)",
                     text);
            return -EINVAL;
        }
        if ((double)ms < k->lo || (double)ms > k->hi)
            return out_of_range(k, text, why, len);
        if ((k->flags & CFG_F_SECONDS) && ms % 1000 != 0) {
            snprintf(why, len, "%s is not a whole number of seconds", text);
            return -EINVAL;
        }
        *(int64_t *)field = ms;
        return 0;
    }
    case CFG_T_SIZE: {
        uint64_t b;
        if (units_parse_size(text, &b) < 0) {
            snprintf(why, len, "'%s' is not a size (like 512, 64KiB, 5MB, 2GiB)", text);
            return -EINVAL;
        }
        if ((double)b < k->lo || (double)b > k->hi)
            return out_of_range(k, text, why, len);
        *(uint64_t *)field = b;
        return 0;
    }
    case CFG_T_ENUM: {
        for (int i = 0; k->names[i]; i++) {
            if (strcmp(text, k->names[i]) == 0) {
                *(int *)field = i;
                return 0;
            }
        }
        size_t off = (size_t)snprintf(why, len, "'%s' is not one of ", text);
        for (int i = 0; k->names[i] && off < len; i++)
            off += (size_t)snprintf(why + off, len - off, "%s%s", i ? "|" : "", k->names[i]);
        return -EINVAL;
    }
    case CFG_T_LIST:
        return parse_list(k, text, (struct config_list *)field, why, len);
    }
    snprintf(why, len, "internal error: unknown key type");
    return -EINVAL;
}

void cfg_key_free(const struct cfg_key *k, void *base)
{
    void *field = (char *)base + k->offset;
    switch (k->type) {
    case CFG_T_STRING:
        free(*(char **)field);
        *(char **)field = NULL;
        break;
    case CFG_T_SECRET:
        cfg_secret_free(*(char **)field);
        *(char **)field = NULL;
        break;
    case CFG_T_LIST:
        list_free((struct config_list *)field);
        break;
    default:
        break;
    }
}

static void format_size(uint64_t b, char *buf, size_t len)
{
    static const char *const units[] = {"", "KiB", "MiB", "GiB", "TiB"};
    size_t u = 0;
    while (u < 4 && b >= 1024 && b % 1024 == 0) {
        b /= 1024;
        u++;
    }
    snprintf(buf, len, "%llu%s", (unsigned long long)b, units[u]);
}

/* libinih reads " ;" as the start of a comment, but a value that begins with ';' right
 * after '=' as text; such a value is printed without the space so that it reads back the
 * same. (Anywhere else in a value " ;" was already a comment when the file was read.) */
int cfg_print_pair(FILE *out, const char *name, const char *value)
{
    if (!value || !*value)
        return fprintf(out, "%s =\n", name) < 0 ? -EIO : 0;
    return fprintf(out, value[0] == ';' ? "%s =%s\n" : "%s = %s\n", name, value) < 0 ? -EIO : 0;
}

int cfg_key_print(const struct cfg_key *k, const void *base, FILE *out)
{
    const void *field = (const char *)base + k->offset;
    char buf[64];
    int rc = 0;
    switch (k->type) {
    case CFG_T_STRING: {
        const char *s = *(char *const *)field;
        rc = cfg_print_pair(out, k->name, s);
        break;
    }
    case CFG_T_SECRET:
        rc = *(char *const *)field ? fprintf(out, "%s = <redacted>\n", k->name)
                                   : fprintf(out, "%s =\n", k->name);
        break;
    case CFG_T_BOOL:
        rc = fprintf(out, "%s = %s\n", k->name, *(const bool *)field ? "yes" : "no");
        break;
    case CFG_T_INT:
        rc = fprintf(out, "%s = %d\n", k->name, *(const int *)field);
        break;
    case CFG_T_NUMBER:
        rc = fprintf(out, "%s = %.15g\n", k->name, *(const double *)field);
        break;
    case CFG_T_DURATION:
        units_format_duration(*(const int64_t *)field, buf, sizeof buf);
        rc = fprintf(out, "%s = %s\n", k->name, buf);
        break;
    case CFG_T_SIZE:
        format_size(*(const uint64_t *)field, buf, sizeof buf);
        rc = fprintf(out, "%s = %s\n", k->name, buf);
        break;
    case CFG_T_ENUM:
        rc = fprintf(out, "%s = %s\n", k->name, k->names[*(const int *)field]);
        break;
    case CFG_T_LIST: {
        const struct config_list *l = field;
        rc = fprintf(out, "%s =", k->name);
        for (size_t i = 0; i < l->n && rc >= 0; i++) /* no space before a ';' (see above) */
            rc = fprintf(out, "%s%s",
                         i ? (l->items[i][0] == ';' ? "," : ", ")
                           : (l->items[i][0] == ';' ? "" : " "),
                         l->items[i]);
        if (rc >= 0)
            rc = fputc('\n', out) == EOF ? -1 : 0;
        break;
    }
    }
    return rc < 0 ? -EIO : 0;
}
