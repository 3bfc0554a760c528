/* sink_payload: the wire form of one alert notification for each sink type. */
#include "alerts/sink_payload.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "xalloc.h"

int sink_severity_rank(const char *severity)
{
    if (!severity)
        return -1;
    if (strcmp(severity, "info") == 0)
        return 0;
    if (strcmp(severity, "warning") == 0)
        return 1;
    if (strcmp(severity, "critical") == 0)
        return 2;
    return -1;
}

static bool alert_ok(const struct record *rec)
{
    return rec && rec->type == RECORD_ALERT && rec->u.alert.fingerprint && rec->u.alert.rule &&
           rec->u.alert.state && sink_severity_rank(rec->u.alert.severity) >= 0;
}

static bool is_resolved(const struct record *rec)
{
    return strcmp(rec->u.alert.state, "resolved") == 0;
}

static json_t *map_json(const struct record_map *m)
{
    json_t *o = json_object();
    for (size_t i = 0; i < m->n; i++)
        json_object_set_new(o, m->items[i].key, json_string(m->items[i].value));
    return o;
}

static void set_time(json_t *o, const char *key, int64_t ms)
{
    char t[RECORD_TIME_MAX];
    if (ms != RECORD_UNSET && record_time_format(ms, t, sizeof t) == 0)
        json_object_set_new(o, key, json_string(t));
}

static const char *summary_of(const struct record *rec)
{
    const char *s = record_map_get(&rec->u.alert.annotations, "summary");
    return s ? s : rec->u.alert.rule;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static json_t *alertmanager_alert(const struct record *rec)
{
    const struct record_alert *a = &rec->u.alert;
    json_t *o = json_object();
    json_t *labels = map_json(&a->labels);
    if (!json_object_get(labels, "alertname"))
        json_object_set_new(labels, "alertname", json_string(a->rule));
    if (!json_object_get(labels, "severity"))
        json_object_set_new(labels, "severity", json_string(a->severity));
    json_object_set_new(o, "labels", labels);
    json_object_set_new(o, "annotations", map_json(&a->annotations));
    /* Alertmanager keeps an alert whose endsAt lies ahead active until then, and refuses an
     * endsAt before startsAt: times ahead of the wall clock (a collector's clock ahead of
     * ours, or sample times that a burst of passes pushed past it) go out as now. */
    int64_t now = wall_ms();
    int64_t start =
        a->starts_at_ms != RECORD_UNSET && a->starts_at_ms > now ? now : a->starts_at_ms;
    set_time(o, "startsAt", start);
    if (is_resolved(rec)) {
        int64_t end = a->ends_at_ms != RECORD_UNSET ? a->ends_at_ms : rec->ts_ms;
        set_time(o, "endsAt", end > now ? now : end);
    }
    const char *gen = record_map_get(&a->annotations, "generator_url");
    if (gen)
        json_object_set_new(o, "generatorURL", json_string(gen));
    return o;
}

static const char *pd_severity(const char *sev)
{
    /* Events v2 knows critical, error, warning and info; ours map one to one. */
    return sink_severity_rank(sev) >= 0 ? sev : "error";
}

static json_t *pagerduty_event(const struct config_sink *sink, const struct record *rec)
{
    const struct record_alert *a = &rec->u.alert;
    json_t *o = json_object();
    json_object_set_new(o, "routing_key", json_string(sink->routing_key ? sink->routing_key : ""));
    json_object_set_new(o, "event_action", json_string(is_resolved(rec) ? "resolve" : "trigger"));
    json_object_set_new(o, "dedup_key", json_string(a->fingerprint));
    if (is_resolved(rec))
        return o;
    json_t *p = json_object();
    char summary[1025];
    snprintf(summary, sizeof summary, "%s", summary_of(rec)); /* Events v2 limit: 1024 */
    json_object_set_new(p, "summary", json_string(summary));
    const char *source = record_map_get(&a->labels, "pool_id");
    if (!source)
        source = record_map_get(&a->labels, "scope_id");
    if (!source)
        source = rec->scope ? rec->scope : rec->source;
    json_object_set_new(p, "source", json_string(source ? source : "ipamwatch"));
    json_object_set_new(p, "severity", json_string(pd_severity(a->severity)));
    set_time(p, "timestamp", a->starts_at_ms);
    json_object_set_new(p, "component", json_string(a->rule));
    json_object_set_new(p, "class", json_string(a->rule));
    json_t *d = json_object();
    json_object_set_new(d, "labels", map_json(&a->labels));
    json_object_set_new(d, "annotations", map_json(&a->annotations));
    if (!isnan(a->value))
        json_object_set_new(d, "value", json_real(a->value));
    json_object_set_new(p, "custom_details", d);
    json_object_set_new(o, "payload", p);
    const char *runbook = record_map_get(&a->annotations, "runbook_url");
    if (runbook) {
        json_t *l = json_object();
        json_object_set_new(l, "href", json_string(runbook));
        json_object_set_new(l, "text", json_string("Runbook"));
        json_t *links = json_array();
        json_array_append_new(links, l);
        json_object_set_new(o, "links", links);
    }
    return o;
}

static const char *slack_color(const struct record *rec)
{
    if (is_resolved(rec))
        return "#2eb886";
    switch (sink_severity_rank(rec->u.alert.severity)) {
    case 2:
        return "#d00000";
    case 1:
        return "#daa038";
    default:
        return "#439fe0";
    }
}

static json_t *slack_message(const struct record *rec)
{
    const struct record_alert *a = &rec->u.alert;
    json_t *o = json_object();
    char *text = xasprintf("[%s] %s (%s, %s)", is_resolved(rec) ? "RESOLVED" : "FIRING",
                           summary_of(rec), a->rule, a->severity);
    json_object_set_new(o, "text", json_string(text));
    free(text);
    json_t *att = json_object();
    json_object_set_new(att, "color", json_string(slack_color(rec)));
    json_object_set_new(att, "fallback", json_string(summary_of(rec)));
    json_object_set_new(att, "title", json_string(summary_of(rec)));
    const char *desc = record_map_get(&a->annotations, "description");
    if (desc)
        json_object_set_new(att, "text", json_string(desc));
    const char *runbook = record_map_get(&a->annotations, "runbook_url");
    if (runbook)
        json_object_set_new(att, "title_link", json_string(runbook));
    json_t *fields = json_array();
    for (size_t i = 0; i < a->labels.n; i++) {
        json_t *f = json_object();
        json_object_set_new(f, "title", json_string(a->labels.items[i].key));
        json_object_set_new(f, "value", json_string(a->labels.items[i].value));
        json_object_set_new(f, "short", json_true());
        json_array_append_new(fields, f);
    }
    json_object_set_new(att, "fields", fields);
    json_object_set_new(att, "footer", json_string(a->fingerprint));
    if (a->starts_at_ms != RECORD_UNSET)
        json_object_set_new(att, "ts", json_integer(a->starts_at_ms / 1000));
    json_t *atts = json_array();
    json_array_append_new(atts, att);
    json_object_set_new(o, "attachments", atts);
    return o;
}

static int dump_to(json_t *j, char **out)
{
    *out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!*out)
        abort(); /* jansson fails only when out of memory */
    return 0;
}

int sink_payload_json(const struct config_sink *sink, const struct record *rec, char **out)
{
    *out = NULL;
    if (!alert_ok(rec))
        return -EINVAL;
    switch (sink->type) {
    case CONFIG_SINK_ALERTMANAGER: {
        json_t *arr = json_array();
        json_array_append_new(arr, alertmanager_alert(rec));
        return dump_to(arr, out);
    }
    case CONFIG_SINK_PAGERDUTY:
        return dump_to(pagerduty_event(sink, rec), out);
    case CONFIG_SINK_SLACK:
        return dump_to(slack_message(rec), out);
    case CONFIG_SINK_WEBHOOK:
    case CONFIG_SINK_FILE: {
        size_t len;
        return record_encode(rec, out, &len);
    }
    default:
        return -EINVAL;
    }
}

int sink_payload_alertmanager_batch(const struct record *const *recs, size_t n, char **out)
{
    *out = NULL;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!alert_ok(recs[i])) {
            json_decref(arr);
            return -EINVAL;
        }
        json_array_append_new(arr, alertmanager_alert(recs[i]));
    }
    return dump_to(arr, out);
}

int sink_webhook_signature(const char *secret, const char *ts, const char *body, size_t len,
                           char *buf, size_t buflen)
{
    if (buflen < 7 + 2 * 32 + 1)
        return -ENOSPC;
    size_t tslen = strlen(ts);
    unsigned char *msg = xmalloc(tslen + 1 + len + 1);
    memcpy(msg, ts, tslen);
    msg[tslen] = '.';
    memcpy(msg + tslen + 1, body, len);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    unsigned char *r =
        HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, tslen + 1 + len, mac, &maclen);
    free(msg);
    if (!r || maclen != 32)
        return -EIO;
    memcpy(buf, "sha256=", 7);
    for (unsigned i = 0; i < maclen; i++)
        snprintf(buf + 7 + 2 * i, 3, "%02x", mac[i]);
    return 0;
}

int sink_sd_escape(const char *value, char *buf, size_t buflen)
{
    size_t o = 0;
    if (buflen == 0)
        return -ENOSPC;
    for (const char *p = value; *p; p++) {
        bool esc = *p == '"' || *p == '\\' || *p == ']';
        size_t need = esc ? 2 : 1;
        if (o + need >= buflen) {
            buf[o] = '\0';
            return -ENOSPC;
        }
        if (esc)
            buf[o++] = '\\';
        buf[o++] = *p;
    }
    buf[o] = '\0';
    return 0;
}

/* Copies printable US-ASCII (33..126) of `in` into `buf` (at most `max` bytes); "-" when
 * nothing is left, as RFC 5424 wants for a NILVALUE. */
static void header_field(const char *in, char *buf, size_t max)
{
    size_t o = 0;
    for (const char *p = in ? in : ""; *p && o < max; p++)
        if (*p >= 33 && *p <= 126)
            buf[o++] = *p;
    if (o == 0)
        buf[o++] = '-';
    buf[o] = '\0';
}

static int syslog_severity(const struct record *rec)
{
    if (is_resolved(rec))
        return 5; /* notice */
    switch (sink_severity_rank(rec->u.alert.severity)) {
    case 2:
        return 2; /* crit */
    case 1:
        return 4; /* warning */
    default:
        return 6; /* info */
    }
}

/* Appends "NAME=\"escaped\"" to the SD element being built in `sd`. */
static void sd_param(char *sd, size_t sdlen, const char *name, const char *value)
{
    char esc[1024];
    sink_sd_escape(value, esc, sizeof esc); /* longer values are cut, still well-formed */
    size_t used = strlen(sd);
    snprintf(sd + used, sdlen - used, " %s=\"%s\"", name, esc);
}

int sink_syslog_format(const struct record *rec, const char *hostname, const char *app_name,
                       int pid, int64_t now_ms, char **out)
{
    *out = NULL;
    if (!alert_ok(rec))
        return -EINVAL;
    char ts[RECORD_TIME_MAX];
    if (record_time_format(now_ms, ts, sizeof ts) < 0)
        return -EINVAL;
    char host[256], app[49], msgid[33];
    header_field(hostname, host, 255);
    header_field(app_name, app, 48);
    header_field(rec->u.alert.state, msgid, 32);
    char sd[4 * 1024 + 128];
    snprintf(sd, sizeof sd, "[%s", SINK_SYSLOG_SDID);
    sd_param(sd, sizeof sd, "fingerprint", rec->u.alert.fingerprint);
    sd_param(sd, sizeof sd, "rule", rec->u.alert.rule);
    sd_param(sd, sizeof sd, "state", rec->u.alert.state);
    sd_param(sd, sizeof sd, "severity", rec->u.alert.severity);
    size_t used = strlen(sd);
    snprintf(sd + used, sizeof sd - used, "]");

    int pri = 3 * 8 + syslog_severity(rec); /* facility daemon */
    char head[512 + sizeof sd];
    int n =
        snprintf(head, sizeof head, "<%d>1 %s %s %s %d %s %s ", pri, ts, host, app, pid, msgid, sd);
    if (n < 0 || (size_t)n >= sizeof head)
        return -EINVAL;
    /* MSG: the summary on one line, cut at a UTF-8 character boundary. */
    const char *summary = summary_of(rec);
    size_t room = SINK_SYSLOG_MAX > (size_t)n ? SINK_SYSLOG_MAX - (size_t)n : 0;
    size_t len = strlen(summary);
    if (len > room) {
        len = room;
        while (len > 0 && ((unsigned char)summary[len] & 0xC0) == 0x80)
            len--;
    }
    char *msg = xmalloc((size_t)n + len + 1);
    memcpy(msg, head, (size_t)n);
    for (size_t i = 0; i < len; i++)
        msg[(size_t)n + i] = (summary[i] == '\n' || summary[i] == '\r') ? ' ' : summary[i];
    msg[(size_t)n + len] = '\0';
    *out = msg;
    return 0;
}
