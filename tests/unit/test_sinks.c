/* test_sinks: payload shapes, webhook HMAC, RFC 5424 lines, routing, spool durability and
 * replay, replayed notifications dropped by id across a restart, retry give-up, the spool
 * size bound, disowning, and a spool that cannot be written (notifications held in memory)
 * of the alert sinks, the timeout (of HTTP and Kafka sinks) and retry delays a [sink]
 * section configures, and Kafka attempts given up (an unsent message taken back, a late
 * report) read back from the topic. */
#include "testing.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "alerts/sink_payload.h"
#include "alerts/sinks.h"
#include "devbroker.h"
#include "fixtures.h"
#include "log.h"
#include "record.h"
#include "xalloc.h"

static struct record *alert(const char *fp, const char *state, const char *sev)
{
    struct record *r = record_new(RECORD_ALERT);
    record_str_set(&r->scope, "ipam-scope-1");
    record_str_set(&r->source, "analyzer/test");
    record_str_set(&r->u.alert.fingerprint, fp);
    record_str_set(&r->u.alert.rule, "utilization_high");
    record_str_set(&r->u.alert.state, state);
    record_str_set(&r->u.alert.severity, sev);
    record_map_set(&r->u.alert.labels, "alertname", "IpamPoolUtilizationHigh");
    record_map_set(&r->u.alert.labels, "pool_id", "ipam-pool-1");
    record_map_set(&r->u.alert.annotations, "summary", "Pool euc1 is 91 % used");
    record_map_set(&r->u.alert.annotations, "runbook_url", "https://wiki.example/rb");
    r->u.alert.starts_at_ms = 1741943700000; /* 2025-03-14T09:15:00Z */
    if (strcmp(state, "resolved") == 0)
        r->u.alert.ends_at_ms = 1741953600000; /* 2025-03-14T12:00:00Z */
    r->u.alert.value = 0.91;
    return r;
}

static json_t *payload(enum config_sink_type type, const struct record *r)
{
    struct config_sink sink = {.name = "t", .type = type, .routing_key = "R0UT1NG"};
    char *body = NULL;
    assert_int_equal(sink_payload_json(&sink, r, &body), 0);
    json_error_t je;
    json_t *j = json_loads(body, 0, &je);
    assert_non_null(j);
    free(body);
    return j;
}

/* The payload of alert(fp, state, sev) for a sink of `type`; owned by the caller. */
static json_t *alert_payload(enum config_sink_type type, const char *fp, const char *state,
                             const char *sev)
{
    struct record *r = alert(fp, state, sev);
    json_t *j = payload(type, r);
    record_free(r);
    return j;
}

static const char *jstr(json_t *o, const char *path1, const char *path2)
{
    json_t *v = json_object_get(o, path1);
    if (path2)
        v = json_object_get(v, path2);
    return json_string_value(v);
}

static void test_alertmanager_shape(void **state)
{
    (void)state;
    json_t *j = alert_payload(CONFIG_SINK_ALERTMANAGER, "fp1", "firing", "critical");
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 1);
    json_t *a = json_array_get(j, 0);
    assert_string_equal(jstr(a, "labels", "alertname"), "IpamPoolUtilizationHigh");
    assert_string_equal(jstr(a, "labels", "severity"), "critical");
    assert_string_equal(jstr(a, "annotations", "summary"), "Pool euc1 is 91 % used");
    assert_string_equal(jstr(a, "startsAt", NULL), "2025-03-14T09:15:00.000Z");
    assert_null(json_object_get(a, "endsAt")); /* firing: Alertmanager fills it in */
    json_decref(j);

    struct record *r = record_new(RECORD_ALERT); /* no alertname: the rule name stands in */
    record_str_set(&r->scope, "ipam-scope-1");
    record_str_set(&r->source, "analyzer/test");
    record_str_set(&r->u.alert.fingerprint, "fp1");
    record_str_set(&r->u.alert.rule, "utilization_high");
    record_str_set(&r->u.alert.state, "resolved");
    record_str_set(&r->u.alert.severity, "critical");
    r->u.alert.starts_at_ms = 1741943700000;
    r->u.alert.ends_at_ms = 1741953600000;
    j = payload(CONFIG_SINK_ALERTMANAGER, r);
    a = json_array_get(j, 0);
    assert_string_equal(jstr(a, "labels", "alertname"), "utilization_high");
    assert_string_equal(jstr(a, "endsAt", NULL), "2025-03-14T12:00:00.000Z");
    json_decref(j);
    record_free(r);
}

/* A resolve whose times lie ahead of the wall clock (sample times past it) goes to
 * Alertmanager with endsAt no later than now, so that Alertmanager takes it as resolved. */
static void test_alertmanager_future_times(void **state)
{
    (void)state;
    struct record *r = alert("fp1", "resolved", "warning");
    int64_t before = r->ts_ms; /* record_new(): the wall clock */
    r->u.alert.starts_at_ms = before + 60000;
    r->u.alert.ends_at_ms = before + 120000;
    json_t *j = payload(CONFIG_SINK_ALERTMANAGER, r);
    json_t *a = json_array_get(j, 0);
    int64_t starts = 0, ends = 0;
    assert_int_equal(record_time_parse(jstr(a, "startsAt", NULL), &starts), 0);
    assert_int_equal(record_time_parse(jstr(a, "endsAt", NULL), &ends), 0);
    assert_true(starts >= before && starts < before + 60000);
    assert_true(ends >= starts && ends < before + 60000);
    json_decref(j);
    record_free(r);
}

static void test_pagerduty_shape(void **state)
{
    (void)state;
    json_t *j = alert_payload(CONFIG_SINK_PAGERDUTY, "fp2", "firing", "warning");
    assert_string_equal(jstr(j, "routing_key", NULL), "R0UT1NG");
    assert_string_equal(jstr(j, "event_action", NULL), "trigger");
    assert_string_equal(jstr(j, "dedup_key", NULL), "fp2");
    assert_string_equal(jstr(j, "payload", "summary"), "Pool euc1 is 91 % used");
    assert_string_equal(jstr(j, "payload", "source"), "ipam-pool-1");
    assert_string_equal(jstr(j, "payload", "severity"), "warning");
    json_t *cd = json_object_get(json_object_get(j, "payload"), "custom_details");
    assert_true(json_is_object(cd));
    assert_string_equal(jstr(cd, "labels", "pool_id"), "ipam-pool-1");
    assert_true(fabs(json_real_value(json_object_get(cd, "value")) - 0.91) < 1e-9);
    assert_string_equal(jstr(json_array_get(json_object_get(j, "links"), 0), "href", NULL),
                        "https://wiki.example/rb");
    json_decref(j);

    j = alert_payload(CONFIG_SINK_PAGERDUTY, "fp2", "resolved", "warning");
    assert_string_equal(jstr(j, "event_action", NULL), "resolve");
    assert_string_equal(jstr(j, "dedup_key", NULL), "fp2");
    json_decref(j);
}

static void test_slack_shape(void **state)
{
    (void)state;
    static const struct {
        const char *state, *sev, *color, *prefix;
    } cases[] = {
        {"firing", "critical", "#d00000", "[FIRING]"},
        {"firing", "warning", "#daa038", "[FIRING]"},
        {"firing", "info", "#439fe0", "[FIRING]"},
        {"resolved", "critical", "#2eb886", "[RESOLVED]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *j = alert_payload(CONFIG_SINK_SLACK, "fp3", cases[i].state, cases[i].sev);
        const char *text = jstr(j, "text", NULL);
        assert_non_null(text);
        assert_true(strncmp(text, cases[i].prefix, strlen(cases[i].prefix)) == 0);
        assert_non_null(strstr(text, "Pool euc1 is 91 % used"));
        json_t *att = json_array_get(json_object_get(j, "attachments"), 0);
        assert_string_equal(jstr(att, "color", NULL), cases[i].color);
        json_decref(j);
    }
}

static void test_webhook_body_and_hmac(void **state)
{
    (void)state;
    json_t *j = alert_payload(CONFIG_SINK_WEBHOOK, "fp4", "firing", "info");
    assert_string_equal(jstr(j, "type", NULL), "alert");
    assert_string_equal(jstr(j, "fingerprint", NULL), "fp4");
    json_decref(j);

    char sig[80];
    const char *body = "{\"a\":1}";
    assert_int_equal(
        sink_webhook_signature("k3y", "1700000000", body, strlen(body), sig, sizeof sig), 0);
    /* python3: hmac.new(b'k3y', b'1700000000.{"a":1}', hashlib.sha256).hexdigest() */
    assert_string_equal(sig,
                        "sha256=fd5a70e965043f7df6309c2c3b5ff5a8ffa99b1f5175e9a311459e73c4634d4a");
    assert_int_equal(
        sink_webhook_signature("k3y", "1700000001", body, strlen(body), sig, sizeof sig), 0);
    assert_string_not_equal(
        sig, "sha256=fd5a70e965043f7df6309c2c3b5ff5a8ffa99b1f5175e9a311459e73c4634d4a");
    assert_int_equal(sink_webhook_signature("k", "1", body, 1, sig, 20), -ENOSPC);
}

static void test_syslog_format(void **state)
{
    (void)state;
    struct record *f = alert("fp5", "firing", "critical");
    record_str_set(&f->u.alert.rule, "we\"ird]ru\\le");
    char *msg = NULL;
    assert_int_equal(sink_syslog_format(f, "host 1", "ipamwatch", 42, 1741953600123, &msg), 0);
    assert_string_equal(msg, "<26>1 2025-03-14T12:00:00.123Z host1 ipamwatch 42 firing "
                             "[ipamwatch@32473 fingerprint=\"fp5\" rule=\"we\\\"ird\\]ru\\\\le\" "
                             "state=\"firing\" severity=\"critical\"] Pool euc1 is 91 % used");
    free(msg);
    record_free(f);

    struct record *r = alert("fp5", "resolved", "warning");
    record_map_set(&r->u.alert.annotations, "summary", "line1\nline2");
    assert_int_equal(sink_syslog_format(r, "", "", 1, 0, &msg), 0);
    /* notice (5) for a resolve; NILVALUE for empty header fields; MSG on one line */
    assert_string_equal(msg, "<29>1 1970-01-01T00:00:00.000Z - - 1 resolved "
                             "[ipamwatch@32473 fingerprint=\"fp5\" rule=\"utilization_high\" "
                             "state=\"resolved\" severity=\"warning\"] line1 line2");
    free(msg);
    record_free(r);

    char buf[8];
    assert_int_equal(sink_sd_escape("ab]", buf, sizeof buf), 0);
    assert_string_equal(buf, "ab\\]");
    assert_int_equal(sink_sd_escape("\"\"\"\"\"", buf, sizeof buf), -ENOSPC);
}

/* ---- sinks_t with a spool in a temp directory ------------------------------------------ */

struct fixture {
    char dir[64];
    char spool[128];
    char out[128];
    struct config cfg;
    struct config_sink sink;
    char *rules[1];
};

static void fixture_init(struct fixture *fx, enum config_sink_type type)
{
    memset(fx, 0, sizeof *fx);
    assert_int_equal(testing_mkdtemp(fx->dir, sizeof fx->dir, "test_sinks"), 0);
    snprintf(fx->spool, sizeof fx->spool, "%s/spool/s1", fx->dir);
    snprintf(fx->out, sizeof fx->out, "%s/out.jsonl", fx->dir);
    fx->sink.name = "s1";
    fx->sink.type = type;
    fx->sink.spool_dir = fx->spool;
    fx->sink.spool_max = 64 * 1024 * 1024;
    fx->sink.retry_max_ms = 3600 * 1000;
    fx->sink.min_severity = CONFIG_SEV_INFO;
    fx->sink.path = fx->out;
    fx->sink.url = "http://127.0.0.1:1"; /* nothing listens on port 1: connection refused */
    fx->cfg.sinks = &fx->sink;
    fx->cfg.n_sinks = 1;
}

static void fixture_done(struct fixture *fx)
{
    testing_rm_rf(fx->dir);
}

static const struct sinks_opts fast = {
    .backoff_min_ms = 50, .backoff_max_ms = 200, .http_timeout_ms = 2000, .drain_ms = 100};

static size_t count_lines(const char *path, char lines[][64], size_t max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char *line = NULL;
    size_t cap = 0, n = 0;
    while (getline(&line, &cap, f) > 0) {
        if (n < max) {
            json_t *j = json_loads(line, 0, NULL);
            snprintf(lines[n], 64, "%s/%s", jstr(j, "fingerprint", NULL), jstr(j, "state", NULL));
            json_decref(j);
        }
        n++;
    }
    free(line);
    fclose(f);
    return n;
}

/* The spool as the next start reads it: the sink reopened as a file sink and drained; its
 * notifications ("fingerprint/state", at most 8) go to `lines`. Returns how many it wrote. */
static size_t spool_replayed(struct fixture *fx, char lines[8][64])
{
    char err[256];
    fx->sink.type = CONFIG_SINK_FILE;
    sinks_t *s = sinks_new_opts(&fx->cfg, &fast, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(sinks_flush(s, 10000), 0);
    sinks_free(s);
    return count_lines(fx->out, lines, 8);
}

static struct sinks_stat stat0(sinks_t *s)
{
    struct sinks_stat st;
    assert_int_equal(sinks_stats(s, 0, &st), 0);
    return st;
}

static void test_file_sink_and_routing(void **state)
{
    (void)state;
    struct fixture fx;
    fixture_init(&fx, CONFIG_SINK_FILE);
    fx.sink.min_severity = CONFIG_SEV_WARNING;
    fx.rules[0] = "utilization_high";
    fx.sink.rules.items = fx.rules;
    fx.sink.rules.n = 1;
    char err[256];
    sinks_t *s = sinks_new_opts(&fx.cfg, &fast, err, sizeof err);
    assert_non_null(s);
    struct record *info = alert("a", "firing", "info");
    struct record *other = alert("b", "firing", "critical");
    record_str_set(&other->u.alert.rule, "overlap");
    struct record *pending = alert("c", "pending", "critical");
    struct record *ok = alert("d", "firing", "warning");
    assert_int_equal(sinks_submit(s, info), 0);    /* below min_severity */
    assert_int_equal(sinks_submit(s, other), 0);   /* rule not in the filter */
    assert_int_equal(sinks_submit(s, pending), 0); /* not a notification */
    assert_int_equal(sinks_submit(s, ok), 1);
    assert_int_equal(sinks_flush(s, 10000), 0);
    struct sinks_stat st = stat0(s);
    assert_int_equal(st.delivered, 1);
    assert_int_equal(st.spool_depth, 0);
    sinks_free(s);
    char lines[4][64];
    assert_int_equal(count_lines(fx.out, lines, 4), 1);
    assert_string_equal(lines[0], "d/firing");
    struct stat sb;
    assert_int_equal(stat(fx.spool, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    char *sp = xasprintf("%s/spool.0.jsonl", fx.spool);
    assert_int_equal(stat(sp, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_size, 0); /* fully delivered: truncated */
    free(sp);
    struct record *bad = alert("e", "firing", "fatal");
    s = sinks_new_opts(&fx.cfg, &fast, err, sizeof err);
    assert_int_equal(sinks_submit(s, bad), -EINVAL);
    sinks_free(s);
    record_free(bad);
    record_free(info);
    record_free(other);
    record_free(pending);
    record_free(ok);
    fixture_done(&fx);
}

static void test_spool_replay_once(void **state)
{
    (void)state;
    struct fixture fx;
    fixture_init(&fx, CONFIG_SINK_WEBHOOK); /* down: connection refused */
    char err[256];
    sinks_t *s = sinks_new_opts(&fx.cfg, &fast, err, sizeof err);
    assert_non_null(s);
    const char *order[] = {"x/firing", "y/firing", "x/resolved"};
    struct record *r1 = alert("x", "firing", "critical");
    struct record *r2 = alert("y", "firing", "warning");
    struct record *r3 = alert("x", "resolved", "critical");
    assert_int_equal(sinks_submit(s, r1), 1);
    assert_int_equal(sinks_submit(s, r2), 1);
    assert_int_equal(sinks_submit(s, r3), 1);
    assert_int_equal(sinks_flush(s, 300), -ETIMEDOUT);
    struct sinks_stat st = stat0(s);
    assert_int_equal(st.delivered, 0);
    assert_true(st.retries >= 1);
    assert_false(st.up);
    assert_int_equal(st.spool_depth, 3);
    sinks_free(s);

    /* A torn append (crash mid-write) is not an accepted notification. */
    char *sp = xasprintf("%s/spool.0.jsonl", fx.spool);
    FILE *f = fopen(sp, "a");
    fputs("{\"v\":1,\"type\":\"alert\",\"fing", f);
    fclose(f);
    free(sp);

    /* Same spool, now a sink that works: the three are delivered in order, once. */
    fx.sink.type = CONFIG_SINK_FILE;
    s = sinks_new_opts(&fx.cfg, &fast, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(sinks_flush(s, 10000), 0);
    st = stat0(s);
    assert_int_equal(st.delivered, 3);
    assert_int_equal(st.failed, 0);
    sinks_free(s);
    char lines[8][64];
    assert_int_equal(count_lines(fx.out, lines, 8), 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(lines[i], order[i]);
    s = sinks_new_opts(&fx.cfg, &fast, err, sizeof err);
    assert_int_equal(sinks_flush(s, 10000), 0);
    assert_int_equal(stat0(s).delivered, 0);
    sinks_free(s);
    assert_int_equal(count_lines(fx.out, lines, 8), 3);
    record_free(r1);
    record_free(r2);
    record_free(r3);
    fixture_done(&fx);
}

/* `r` with notification id `id`. */
static struct record *with_id(struct record *r, const char *id)
{
    record_str_set(&r->u.alert.id, id);
    return r;
}

/* Appends "<id> <ms>" to the ledger of spooled ids in `spool`. */
static void ledger_add(const char *spool, const char *id, int64_t ms)
{
    char *p = xasprintf("%s/spooled.ids", spool);
    FILE *f = fopen(p, "a");
    assert_non_null(f);
    fprintf(f, "%s %lld\n", id, (long long)ms);
    fclose(f);
    free(p);
}

/* Drops the last line of the ledger (a crash between the spool append and its ledger line). */
static void ledger_drop_last(const char *spool)
{
    char *p = xasprintf("%s/spooled.ids", spool);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_true(n > 0 && buf[n - 1] == '\n');
    n--;
    while (n > 0 && buf[n - 1] != '\n')
        n--;
    assert_int_equal(truncate(p, (off_t)n), 0);
    free(p);
}

/* A restart (the spool and its ledger reloaded) drops a notification whose id was spooled
 * before, also when the crash came between its spool line and its ledger line; a repeat (a
 * new id) and notifications without an id still go out; ids older than SINKS_IDS_DAYS before
 * the newest are forgotten. */
static void test_replay_dropped_after_restart(void **state)
{
    (void)state;
    struct fixture fx;
    fixture_init(&fx, CONFIG_SINK_FILE);
    char err[256];
    struct record *x1 = with_id(alert("x", "firing", "critical"), "id-x-fire");
    struct record *y1 = with_id(alert("y", "firing", "warning"), "id-y-fire");
    struct record *x1r = with_id(alert("x", "firing", "critical"), "id-x-repeat1");
    struct record *x2 = with_id(alert("x", "resolved", "critical"), "id-x-resolve");
    struct record *z1 = with_id(alert("z", "firing", "warning"), "id-z-fire");
    struct record *w1 = alert("w", "firing", "warning"); /* no id */

    sinks_t *s = sinks_new_opts(&fx.cfg, &fast, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(sinks_submit(s, x1), 1);
    assert_int_equal(sinks_submit(s, y1), 1);
    assert_int_equal(sinks_submit(s, x1), 0); /* the same id twice in one run */
    assert_int_equal(sinks_flush(s, 10000), 0);
    assert_int_equal(stat0(s).replayed, 1);
    sinks_free(s);
    char *ledger = xasprintf("%s/spooled.ids", fx.spool);
    struct stat sb;
    assert_int_equal(stat(ledger, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    /* Restart: the replayed fire goes nowhere; the repeat and the resolve go out. */
    s = sinks_new_opts(&fx.cfg, &fast, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(sinks_submit(s, x1), 0);
    assert_int_equal(sinks_submit(s, y1), 0);
    assert_int_equal(sinks_submit(s, x1r), 1);
    assert_int_equal(sinks_submit(s, x2), 1);
    assert_int_equal(sinks_submit(s, w1), 1);
    assert_int_equal(sinks_submit(s, w1), 1); /* without an id nothing is dropped */
    assert_int_equal(sinks_flush(s, 10000), 0);
    struct sinks_stat st = stat0(s);
    assert_int_equal(st.replayed, 2);
    assert_int_equal(st.delivered, 4);
    sinks_free(s);
    const char *want[] = {"x/firing", "y/firing", "x/firing", "x/resolved", "w/firing", "w/firing"};
    char lines[8][64];
    assert_int_equal(count_lines(fx.out, lines, 8), 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(lines[i], want[i]);

    /* A sink that is down keeps z spooled; the crash came before z's ledger line: the
     * restart knows z's id from the spool itself and delivers it once. */
    fx.sink.type = CONFIG_SINK_WEBHOOK;
    s = sinks_new_opts(&fx.cfg, &fast, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(sinks_submit(s, z1), 1);
    sinks_free(s);
    ledger_drop_last(fx.spool);
    /* ... and the file got z before the crash, which came before the spool cursor moved: the
     * file sink sees z as its last line and does not write it again. */
    char *zline = NULL;
    size_t zlen = 0;
    assert_int_equal(record_encode(z1, &zline, &zlen), 0);
    FILE *of = fopen(fx.out, "a");
    assert_non_null(of);
    fprintf(of, "%s\n", zline);
    fclose(of);
    free(zline);
    fx.sink.type = CONFIG_SINK_FILE;
    s = sinks_new_opts(&fx.cfg, &fast, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(sinks_submit(s, z1), 0);
    assert_int_equal(sinks_flush(s, 10000), 0);
    assert_int_equal(stat0(s).replayed, 1);
    assert_int_equal(stat0(s).delivered, 1);
    sinks_free(s);
    assert_int_equal(count_lines(fx.out, lines, 8), 7);
    assert_string_equal(lines[6], "z/firing");

    /* The ledger keeps SINKS_IDS_DAYS before its newest id (a minute from now here), however
     * old that one is. */
    int64_t newest = (int64_t)time(NULL) * 1000 + 60000;
    ledger_add(fx.spool, "id-old", newest - (SINKS_IDS_DAYS + 1) * 86400000LL);
    ledger_add(fx.spool, "id-kept", newest - (SINKS_IDS_DAYS - 1) * 86400000LL);
    ledger_add(fx.spool, "id-newest", newest);
    s = sinks_new_opts(&fx.cfg, &fast, err, sizeof err);
    assert_non_null(s);
    struct record *old = with_id(alert("o", "firing", "warning"), "id-old");
    struct record *kept = with_id(alert("k", "firing", "warning"), "id-kept");
    assert_int_equal(sinks_submit(s, kept), 0);
    assert_int_equal(sinks_submit(s, old), 1);
    assert_int_equal(sinks_flush(s, 10000), 0);
    sinks_free(s);
    assert_int_equal(count_lines(fx.out, lines, 8), 8);
    assert_string_equal(lines[7], "o/firing");

    free(ledger);
    record_free(old);
    record_free(kept);
    record_free(x1);
    record_free(y1);
    record_free(x1r);
    record_free(x2);
    record_free(z1);
    record_free(w1);
    fixture_done(&fx);
}

static void test_retry_max_gives_up(void **state)
{
    (void)state;
    struct fixture fx;
    fixture_init(&fx, CONFIG_SINK_ALERTMANAGER);
    fx.sink.retry_max_ms = 400;
    char err[256];
    sinks_t *s = sinks_new_opts(&fx.cfg, &fast, err, sizeof err);
    assert_non_null(s);
    struct record *r = alert("z", "firing", "critical");
    assert_int_equal(sinks_submit(s, r), 1);
    assert_int_equal(sinks_flush(s, 10000), 0);
    struct sinks_stat st = stat0(s);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.delivered, 0);
    assert_true(st.retries >= 2);
    sinks_free(s);
    record_free(r);
    fixture_done(&fx);
}

static void test_spool_max_drops_oldest(void **state)
{
    (void)state;
    unsigned seed = testing_seed();
    srand(seed);
    struct fixture fx;
    fixture_init(&fx, CONFIG_SINK_WEBHOOK);
    fx.sink.spool_max = 64 * 1024;
    char err[256];
    struct sinks_opts slow = fast;
    slow.backoff_min_ms = slow.backoff_max_ms = 60000;
    sinks_t *s = sinks_new_opts(&fx.cfg, &slow, err, sizeof err);
    assert_non_null(s);
    size_t n = 150 + (size_t)(rand() % 100);
    for (size_t i = 0; i < n; i++) {
        char fp[32];
        snprintf(fp, sizeof fp, "fp%zu", i);
        struct record *r = alert(fp, "firing", "warning");
        record_map_set(&r->u.alert.annotations, "description",
                       "padding padding padding padding padding padding padding padding padding "
                       "padding padding padding padding padding padding padding padding padding");
        assert_int_equal(sinks_submit(s, r), 1);
        record_free(r);
    }
    struct sinks_stat st = stat0(s);
    assert_true(st.dropped > 0);
    assert_true(st.spool_bytes <= 64 * 1024);
    assert_int_equal(st.submitted, n);
    sinks_free(s);
    /* The newest survive, in order. */
    fx.sink.type = CONFIG_SINK_FILE;
    s = sinks_new_opts(&fx.cfg, &fast, err, sizeof err);
    assert_int_equal(sinks_flush(s, 20000), 0);
    sinks_free(s);
    char lines[1][64];
    size_t got = count_lines(fx.out, lines, 0);
    assert_int_equal(got + st.dropped, n);
    fixture_done(&fx);
}

/* Disowned alerts (another analyzer owns them): queued firing notifications go (all of them
 * on an Alertmanager sink, the repeats elsewhere), resolves stay, and the spool no longer
 * holds what was dropped. */
static void disown_case(enum config_sink_type type, int want_dropped, const char *const *want,
                        size_t nwant)
{
    struct fixture fx;
    fixture_init(&fx, type);
    char err[256];
    struct sinks_opts slow = fast;
    slow.backoff_min_ms = slow.backoff_max_ms = 60000;
    sinks_t *s = sinks_new_opts(&fx.cfg, &slow, err, sizeof err);
    assert_non_null(s);
    const char *seq[][2] = {{"x", "firing"},   {"y", "firing"}, {"x", "firing"},
                            {"x", "resolved"}, {"x", "firing"}, {"x", "firing"}};
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        struct record *r = alert(seq[i][0], seq[i][1], "critical");
        assert_int_equal(sinks_submit(s, r), 1);
        record_free(r);
    }
    assert_int_equal(sinks_flush(s, 300), -ETIMEDOUT); /* down: all six wait */
    assert_int_equal(sinks_disown(s, "x"), want_dropped);
    assert_int_equal(sinks_disown(s, "nobody"), 0);
    assert_int_equal(stat0(s).spool_depth, nwant);
    sinks_free(s);
    /* The spool as the next start reads it. */
    char lines[8][64];
    assert_int_equal(spool_replayed(&fx, lines), nwant);
    for (size_t i = 0; i < nwant; i++)
        assert_string_equal(lines[i], want[i]);
    fixture_done(&fx);
}

static void test_disown(void **state)
{
    (void)state;
    const char *am[] = {"y/firing", "x/resolved"};
    disown_case(CONFIG_SINK_ALERTMANAGER, 4, am, 2);
    const char *hook[] = {"x/firing", "y/firing", "x/resolved", "x/firing"};
    disown_case(CONFIG_SINK_WEBHOOK, 2, hook, 4);
}

/* Caps the size any file of this process may grow to (RLIMIT_FSIZE): a write beyond it
 * fails with EFBIG, as one on a full disk fails with ENOSPC. 0 lifts the cap. */
static void file_size_cap(off_t max)
{
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &rl), 0);
    rl.rlim_cur = max > 0 ? (rlim_t)max : rl.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static off_t spool_size(const struct fixture *fx)
{
    char *sp = xasprintf("%s/spool.0.jsonl", fx->spool);
    struct stat sb;
    assert_int_equal(stat(sp, &sb), 0);
    free(sp);
    return sb.st_size;
}

/* A spool that cannot be written: notifications are held in memory in order, retried by
 * sinks_spool_held() and spooled once it can be written again; at most SINKS_HELD_MAX are
 * held; what is still held at sinks_free() never reaches the spool. */
static void test_spool_full_holds(void **state)
{
    (void)state;
    signal(SIGXFSZ, SIG_IGN);
    struct fixture fx;
    fixture_init(&fx, CONFIG_SINK_WEBHOOK); /* down: nothing leaves the spool */
    char err[512];
    struct sinks_opts slow = fast;
    slow.backoff_min_ms = slow.backoff_max_ms = 60000;
    sinks_t *s = sinks_new_opts(&fx.cfg, &slow, err, sizeof err);
    assert_non_null(s);
    const char *seq[][2] = {{"x", "firing"}, {"y", "firing"}, {"x", "resolved"}, {"z", "firing"}};
    struct record *r = alert(seq[0][0], seq[0][1], "critical");
    assert_int_equal(sinks_submit(s, r), 1);
    record_free(r);
    assert_int_equal(sinks_spool_held(s, err, sizeof err), 0);

    off_t full = spool_size(&fx);
    file_size_cap(full + 10); /* the spool is full */
    for (size_t i = 1; i < 3; i++) {
        r = alert(seq[i][0], seq[i][1], "critical");
        assert_int_equal(sinks_submit(s, r), 1); /* held, not lost */
        record_free(r);
    }
    struct sinks_stat st = stat0(s);
    assert_int_equal(st.held, 2);
    assert_int_equal(st.spool_depth, 1);
    assert_int_equal(st.submitted, 1);
    assert_int_equal(sinks_held(s), 2);
    assert_int_equal(sinks_spool_held(s, err, sizeof err), -EFBIG);
    assert_non_null(strstr(err, "/spool.0.jsonl: File too large; 2 notifications held"));
    assert_int_equal(spool_size(&fx), full); /* no torn line was left behind */
    file_size_cap(0);

    /* Room again: the next one waits behind the held ones, which the retry spools first. */
    r = alert(seq[3][0], seq[3][1], "critical");
    assert_int_equal(sinks_submit(s, r), 1);
    record_free(r);
    assert_int_equal(sinks_held(s), 3);
    assert_int_equal(sinks_spool_held(s, err, sizeof err), 0);
    st = stat0(s);
    assert_int_equal(st.held, 0);
    assert_int_equal(st.spool_depth, 4);
    assert_int_equal(st.submitted, 4);

    /* Full again, beyond the bound: one more is refused, and what is held at the end is
     * dropped, not written behind the analyzer's back. */
    file_size_cap(spool_size(&fx) + 10);
    for (int i = 0; i < SINKS_HELD_MAX; i++) {
        r = alert("w", i % 2 ? "resolved" : "firing", "critical");
        assert_int_equal(sinks_submit(s, r), 1);
        record_free(r);
    }
    r = alert("v", "firing", "critical");
    assert_int_equal(sinks_submit(s, r), -ENOBUFS);
    record_free(r);
    assert_int_equal(sinks_held(s), SINKS_HELD_MAX);
    file_size_cap(0);
    sinks_free(s);

    /* The spool as the next start reads it: the four, in submit order, once. */
    char lines[8][64];
    assert_int_equal(spool_replayed(&fx, lines), 4);
    for (size_t i = 0; i < 4; i++) {
        char want[64];
        snprintf(want, sizeof want, "%s/%s", seq[i][0], seq[i][1]);
        assert_string_equal(lines[i], want);
    }
    fixture_done(&fx);
}

/* ---- timing from the [sink] section: timeout, backoff_min, backoff_max --------------- */

static int64_t mono_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Submits one notification to the single sink of `cfg` and waits until it is given up.
 * Returns the milliseconds that took; what the sinks logged goes to `log` (owned by the
 * caller). */
static int64_t time_to_give_up(const struct config *cfg, const struct sinks_opts *o, char **log)
{
    char err[256];
    sinks_t *s = sinks_new_opts(cfg, o, err, sizeof err);
    if (!s)
        fail_msg("sinks_new_opts: %s", err);
    struct record *r = alert("hang", "firing", "critical");
    struct testing_capture cap;
    testing_capture_begin(&cap);
    int64_t t0 = mono_now_ms();
    assert_int_equal(sinks_submit(s, r), 1);
    int rc = sinks_flush(s, 20000);
    int64_t took = mono_now_ms() - t0;
    *log = testing_capture_end(&cap);
    assert_int_equal(rc, 0);
    struct sinks_stat st = stat0(s);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.delivered, 0);
    sinks_free(s);
    record_free(r);
    return took;
}

/* A sink's configured `timeout` ends a request that never gets an answer: with timeout 1s
 * and retry_max 1s the notification is given up after about a second (two attempts at
 * most), not after the 10 s default; an explicit sinks_opts value beats the configured one. */
static void test_configured_timeout(void **state)
{
    (void)state;
    int port;
    int lfd = testing_listen_loopback(&port); /* never accepts: the kernel takes the request,
                                                 no answer ever comes */
    char text[512];
    snprintf(text, sizeof text,
             "[analyzer]\nstate_dir = %s/state\n"
             "[sink \"hang\"]\ntype = webhook\nurl = http://127.0.0.1:%d/hook\n"
             "timeout = 1s\nretry_max = 1s\n",
             testing_tmpdir, port);
    struct config *cfg = fixture_load_cfg(text);
    assert_int_equal(cfg->sinks[0].timeout_ms, 1000);
    struct sinks_opts o = {.drain_ms = 100};
    char *log = NULL;
    int64_t took = time_to_give_up(cfg, &o, &log);
    printf("# given up after %lld ms\n", (long long)took);
    assert_true(took >= 900); /* the request hung until the timeout */
    assert_true(took < 5000); /* ... of 1 s: at most two attempts and one backoff */
    assert_non_null(strstr(log, "giving up a notification"));
    assert_non_null(strstr(log, "timed out"));
    free(log);
    config_free(cfg);

    /* The configuration says 30s; the caller's 1 s wins. */
    snprintf(text, sizeof text,
             "[analyzer]\nstate_dir = %s/state\n"
             "[sink \"hang\"]\ntype = webhook\nurl = http://127.0.0.1:%d/hook\n"
             "timeout = 30s\nretry_max = 1s\n",
             testing_tmpdir, port);
    cfg = fixture_load_cfg(text);
    o.http_timeout_ms = 1000;
    took = time_to_give_up(cfg, &o, &log);
    assert_true(took >= 900 && took < 5000);
    free(log);
    config_free(cfg);
    close(lfd);
}

/* A Kafka sink's configured `timeout` bounds the wait for the delivery report: with the
 * broker unreachable (nothing listens on the fixture's bootstrap port) and timeout 1s, each
 * attempt fails after about a second, so retry_max 1s gives the notification up after two
 * attempts, not after the 10 s default wait; closing the sink then does not wait for the
 * undelivered copies either. */
static void test_kafka_configured_timeout(void **state)
{
    (void)state;
    char text[512];
    snprintf(text, sizeof text,
             "[analyzer]\nstate_dir = %s/state\n"
             "[sink \"topic\"]\ntype = kafka\ntopic = alerts\n"
             "timeout = 1s\nretry_max = 1s\nbackoff_min = 100ms\n",
             testing_tmpdir);
    struct config *cfg = fixture_load_cfg(text);
    assert_int_equal(cfg->sinks[0].timeout_ms, 1000);
    struct sinks_opts o = {.drain_ms = 100};
    char *log = NULL;
    int64_t t0 = mono_now_ms();
    int64_t took = time_to_give_up(cfg, &o, &log);
    int64_t closed = mono_now_ms() - t0;
    printf("# given up after %lld ms, closed after %lld ms\n", (long long)took, (long long)closed);
    assert_true(took >= 900); /* the first attempt waited for its report until the timeout */
    assert_true(took < 4000); /* ... of 1 s: two attempts and one short backoff */
    assert_true(closed < 5000);
    assert_non_null(strstr(log, "giving up a notification"));
    assert_non_null(strstr(log, "no delivery report from alerts within 1000 ms"));
    free(log);
    config_free(cfg);
}

/* The messages of partition 0 of `topic` at `bootstraps`, from its start, as "id/state" (at
 * most `max` in `lines`). Returns how many there are. */
static size_t topic_read(const char *bootstraps, const char *topic, char lines[][64], size_t max)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    assert_int_equal(rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, err, sizeof err),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "enable.partition.eof", "true", err, sizeof err),
                     RD_KAFKA_CONF_OK);
    assert_int_equal(rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", err, sizeof err),
                     RD_KAFKA_CONF_OK);
    /* assign() wants a group; nothing joins or commits it. */
    assert_int_equal(rd_kafka_conf_set(conf, "group.id", "test-sinks", err, sizeof err),
                     RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk)
        fail_msg("rd_kafka_new: %s", err);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    assert_int_equal(rd_kafka_assign(rk, parts), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(parts);
    size_t n = 0;
    bool eof = false;
    for (int64_t deadline = mono_now_ms() + 10000; !eof && mono_now_ms() < deadline;) {
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);
        if (!rkm)
            continue;
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eof = true;
        } else if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            if (n < max) {
                json_t *j = json_loadb(rkm->payload, rkm->len, 0, NULL);
                snprintf(lines[n], 64, "%s/%s", jstr(j, "id", NULL), jstr(j, "state", NULL));
                json_decref(j);
            }
            n++;
        }
        rd_kafka_message_destroy(rkm);
    }
    assert_true(eof);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

/* How many of the `n` messages topic_read() returned in `lines` are `what`. */
static size_t copies(char lines[][64], size_t n, const char *what)
{
    size_t k = 0;
    for (size_t i = 0; i < n && i < 8; i++)
        k += strcmp(lines[i], what) == 0;
    return k;
}

/* The configuration of one Kafka sink "topic" writing to topic alerts of the brokers at
 * `bootstraps`, with `timing` (its timeout, retry_max, backoff lines). Owned by the caller. */
static struct config *kafka_sink_cfg(const char *bootstraps, const char *timing)
{
    char text[1024], path[128], err[512];
    snprintf(text, sizeof text,
             "[analyzer]\nstate_dir = %s/kafka\n"
             "[sink \"topic\"]\ntype = kafka\ntopic = alerts\n%s",
             testing_tmpdir, timing);
    config_free(fixture_load_cfg(text)); /* written and valid; loaded again with the brokers: */
    struct config_kv kafka[] = {
        {"bootstrap.servers", (char *)bootstraps, "-X", 0},
        {"reconnect.backoff.max.ms", "200", "-X", 0},
    };
    snprintf(path, sizeof path, "%s/test.conf", testing_tmpdir);
    struct config *cfg = config_load(path, kafka, 2, err, sizeof err);
    if (!cfg)
        fail_msg("config_load: %s", err);
    testing_rm_rf(cfg->sinks[0].spool_dir); /* a fresh spool for each test */
    return cfg;
}

/* alert(fp, "firing", "critical") with notification id `id`; owned by the caller. */
static struct record *alert_id(const char *fp, const char *id)
{
    struct record *r = alert(fp, "firing", "critical");
    record_str_set(&r->u.alert.id, id);
    return r;
}

/* Waits up to 10 s for the sink's retry count to reach `n`; returns it. */
static uint64_t wait_retries(sinks_t *s, uint64_t n)
{
    int64_t deadline = mono_now_ms() + 10000;
    while (stat0(s).retries < n && mono_now_ms() < deadline) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return stat0(s).retries;
}

/* The sinks of `cfg` (a Kafka sink; 100 ms drain), warmed up: notification
 * 00000000000000aa submitted and delivered, so the producer is connected and knows its id and
 * the topic's leader. *warm gets that record (owned by the caller). */
static sinks_t *kafka_sinks_warm(struct config *cfg, struct record **warm)
{
    char err[512];
    struct sinks_opts o = {.drain_ms = 100};
    sinks_t *s = sinks_new_opts(cfg, &o, err, sizeof err);
    if (!s)
        fail_msg("sinks_new_opts: %s", err);
    *warm = alert_id("fp-a", "00000000000000aa");
    assert_int_equal(sinks_submit(s, *warm), 1);
    assert_int_equal(sinks_flush(s, 20000), 0);
    return s;
}

/* A Kafka notification whose attempt timed out while the broker was down is taken out of the
 * producer when the attempt is given up: once the broker is back, the retry alone reaches the
 * topic, and the notification is there once (left in the producer, the timed-out copy went
 * out next to the retry: two copies). */
static void test_kafka_timeout_no_duplicate(void **state)
{
    (void)state;
    struct devbroker_topic topic = {"alerts", 1};
    char err[512];
    devbroker_t *db = devbroker_new(1, &topic, 1, err, sizeof err);
    if (!db)
        fail_msg("devbroker_new: %s", err);
    struct config *cfg =
        kafka_sink_cfg(devbroker_bootstraps(db),
                       "timeout = 1s\nretry_max = 1h\nbackoff_min = 200ms\nbackoff_max = 400ms\n");
    struct record *a = NULL;
    sinks_t *s = kafka_sinks_warm(cfg, &a);

    assert_int_equal(devbroker_set_down(db, true), 0);
    struct record *b = alert_id("fp-b", "00000000000000bb");
    assert_int_equal(sinks_submit(s, b), 1);
    assert_true(wait_retries(s, 1) >= 1); /* an attempt timed out and was given up */
    assert_int_equal(devbroker_set_down(db, false), 0);
    assert_int_equal(sinks_flush(s, 20000), 0); /* a retry delivered it */
    struct sinks_stat st = stat0(s);
    assert_int_equal(st.delivered, 2);
    assert_int_equal(st.failed, 0);
    sinks_free(s); /* a copy left in the producer would go out at the latest here */

    char lines[8][64];
    size_t n = topic_read(devbroker_bootstraps(db), "alerts", lines, 8);
    for (size_t i = 0; i < n && i < 8; i++)
        printf("# alerts[%zu] = %s\n", i, lines[i]);
    /* The warm-up notification is there (twice if its first attempt on a fresh connection
     * gave up in flight, which is not what this test is about); the one of the outage once. */
    assert_in_range(copies(lines, n, "00000000000000aa/firing"), 1, 2);
    assert_int_equal(copies(lines, n, "00000000000000bb/firing"), 1);
    assert_string_equal(lines[n - 1], "00000000000000bb/firing");
    record_free(a);
    record_free(b);
    config_free(cfg);
    devbroker_free(db);
}

/* A report that comes after its attempt was given up (the message was in flight: the broker
 * answers 1.2 s late, the sink waits 1 s) decides no other attempt: it is remembered, and as
 * it says the notification was written, the retry (after at least 1 s) does not send it
 * again. The topic holds it once and the sink counts it delivered once (sent again, the
 * retry was a second copy). */
static void test_kafka_late_report(void **state)
{
    (void)state;
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!mrk)
        fail_msg("rd_kafka_new: %s", err);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(mrk, 1);
    assert_non_null(mc);
    assert_int_equal(rd_kafka_mock_topic_create(mc, "alerts", 1, 1), RD_KAFKA_RESP_ERR_NO_ERROR);
    char *boot = xstrdup(rd_kafka_mock_cluster_bootstraps(mc));
    struct config *cfg =
        kafka_sink_cfg(boot, "timeout = 1s\nretry_max = 1h\nbackoff_min = 2s\nbackoff_max = 2s\n");
    struct record *a = NULL;
    sinks_t *s = kafka_sinks_warm(cfg, &a);

    assert_int_equal(rd_kafka_mock_broker_set_rtt(mc, 1, 1200), RD_KAFKA_RESP_ERR_NO_ERROR);
    struct record *b = alert_id("fp-b", "00000000000000bb");
    uint64_t retries = stat0(s).retries;
    struct testing_capture cap;
    testing_capture_begin(&cap);
    log_set_level(LOG_LEVEL_INFO);
    assert_int_equal(sinks_submit(s, b), 1);
    int rc = sinks_flush(s, 20000);
    log_set_level(LOG_LEVEL_ERR);
    char *log = testing_capture_end(&cap);
    assert_int_equal(rc, 0);
    struct sinks_stat st = stat0(s);
    assert_int_equal(st.retries - retries, 1); /* the first attempt gave up in flight */
    assert_int_equal(st.delivered, 2);
    assert_int_equal(st.failed, 0);
    assert_int_equal(rd_kafka_mock_broker_set_rtt(mc, 1, 0), RD_KAFKA_RESP_ERR_NO_ERROR);
    sinks_free(s);

    char lines[8][64];
    size_t n = topic_read(boot, "alerts", lines, 8);
    for (size_t i = 0; i < n && i < 8; i++)
        printf("# alerts[%zu] = %s\n", i, lines[i]);
    assert_in_range(copies(lines, n, "00000000000000aa/firing"), 1, 2); /* as above */
    assert_int_equal(copies(lines, n, "00000000000000bb/firing"), 1);
    assert_non_null(strstr(log, "the message is in flight"));
    assert_non_null(strstr(log, "notification 00000000000000bb given up in flight was delivered"));
    free(log);
    record_free(a);
    record_free(b);
    config_free(cfg);
    free(boot);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
}

/* backoff_min and backoff_max of a sink govern its retry delays: against a port that refuses
 * at once, the failures come backoff_min (jittered into its second half) apart at first, then
 * double, and never grow past backoff_max. Bounds are generous: this checks which delays
 * apply, not how precisely they are kept. */
static void test_configured_backoff(void **state)
{
    (void)state;
    char text[512];
    snprintf(text, sizeof text,
             "[analyzer]\nstate_dir = %s/state\n"
             "[sink \"down\"]\ntype = webhook\nurl = http://127.0.0.1:1/hook\n"
             "backoff_min = 200ms\nbackoff_max = 400ms\nretry_max = 1h\n",
             testing_tmpdir);
    struct config *cfg = fixture_load_cfg(text);
    struct sinks_opts o = {.drain_ms = 100};
    char err[256];
    sinks_t *s = sinks_new_opts(cfg, &o, err, sizeof err);
    if (!s)
        fail_msg("sinks_new_opts: %s", err);
    struct record *r = alert("down", "firing", "critical");
    enum { FAILS = 6 };
    int64_t at[FAILS];
    uint64_t seen = 0;
    assert_int_equal(sinks_submit(s, r), 1);
    int64_t deadline = mono_now_ms() + 15000;
    while (seen < FAILS && mono_now_ms() < deadline) {
        uint64_t n = stat0(s).retries;
        for (; seen < n && seen < FAILS; seen++)
            at[seen] = mono_now_ms();
        struct timespec ts = {0, 2 * 1000000L};
        nanosleep(&ts, NULL);
    }
    sinks_free(s); /* undelivered: it stays in the spool */
    record_free(r);
    config_free(cfg);
    assert_int_equal(seen, FAILS);
    /* Delay after failure n: min(200 ms * 2^(n-1), 400 ms), drawn from [d/2, d]. Without the
     * cap the 4th and 5th would be 800-1600 ms and 1600-3200 ms; with the 1 s default
     * backoff_min the first would be 500-1000 ms. */
    int64_t last = 0;
    for (int i = 1; i < FAILS; i++) {
        int64_t gap = at[i] - at[i - 1];
        printf("# delay %d: %lld ms\n", i, (long long)gap);
        if (i == 1) {
            assert_true(gap >= 80 && gap < 480);
        } else {
            assert_true(gap >= 170 && gap < 780);
            last += gap;
        }
    }
    assert_true(last < 4 * 600); /* four capped delays; uncapped they would take 3 s at least */
}

int main(void)
{
    log_init("test_sinks", LOG_LEVEL_ERR, true, false);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alertmanager_shape),
        cmocka_unit_test(test_alertmanager_future_times),
        cmocka_unit_test(test_pagerduty_shape),
        cmocka_unit_test(test_slack_shape),
        cmocka_unit_test(test_webhook_body_and_hmac),
        cmocka_unit_test(test_syslog_format),
        cmocka_unit_test(test_file_sink_and_routing),
        cmocka_unit_test(test_spool_replay_once),
        cmocka_unit_test(test_replay_dropped_after_restart),
        cmocka_unit_test(test_retry_max_gives_up),
        cmocka_unit_test(test_spool_max_drops_oldest),
        cmocka_unit_test(test_disown),
        cmocka_unit_test(test_spool_full_holds),
        cmocka_unit_test(test_configured_timeout),
        cmocka_unit_test(test_kafka_configured_timeout),
        cmocka_unit_test(test_kafka_timeout_no_duplicate),
        cmocka_unit_test(test_kafka_late_report),
        cmocka_unit_test(test_configured_backoff),
    };
    return cmocka_run_group_tests(tests, testing_tmpdir_setup, testing_tmpdir_teardown);
}
