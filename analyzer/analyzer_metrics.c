/* analyzer_metrics: the analyze job's metrics and readiness. See analyzer_metrics.h. */
#define LOG_MODULE "analyzer"
#include "analyzer/analyzer_metrics.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "xalloc.h"

#define TICK_MS        1000
#define KAFKA_CHECK_MS 5000
#define KAFKA_QUERY_MS 500
#define READY_VALID_MS 60000 /* a loop that stops turning turns not ready after this */

struct analyzer_metrics {
    metrics_t *mx;
    /* pool id -> [locale, name, scope id, round]: the labels its series carry ("" when none)
     * and the round that last reported it; a pool is here while the model holds it */
    json_t *pools;
    json_t *scopes;              /* scope id -> {pool id: its entry in `pools`} */
    uint64_t round;              /* number of the current (or last) round */
    char *round_scope;           /* scope of the open round; NULL: every scope */
    bool in_round;               /* between analyzer_metrics_round_begin() and _end() */
    uint64_t exhaustion_version; /* analyzer_alerts_exhaustion() when last exported */
    int64_t last_tick_ms;
    int64_t last_check_ms;
    char kafka_error[256]; /* last failed reachability check; "" when it answered */
};

static const struct {
    const char *name;
    const char *help;
} pool_gauges[] = {
    {"ipamwatch_pool_size", "Pool size in planning units (IPv4 addresses, IPv6 /64s)."},
    {"ipamwatch_pool_used", "Allocated part of the pool in planning units."},
    {"ipamwatch_pool_utilization_percent", "Used share of the pool, 0-100."},
    {"ipamwatch_pool_largest_free_prefix_length",
     "Prefix length of the largest free block (NaN when none)."},
    {"ipamwatch_pool_default_netmask_fits",
     "Blocks of the pool's default netmask that still fit (NaN without a default netmask)."},
};
#define POOL_LABELS "scope_id,pool_id,pool_name,locale"
#define EXHAUSTION  "ipamwatch_pool_exhaustion_seconds"

/* Per-sink families; the values come from struct sinks_stat (see update_sinks()). */
static const struct {
    const char *name, *help;
    enum metrics_type type;
} sink_fams[] = {
    {"ipamwatch_sink_retries_total", "Failed delivery attempts that were retried.",
     METRICS_COUNTER},
    {"ipamwatch_sink_spool_depth", "Notifications in the spool waiting for delivery.",
     METRICS_GAUGE},
    {"ipamwatch_sink_held",
     "Notifications held in memory because the spool could not be written (disk full).",
     METRICS_GAUGE},
};
/* Label values of ipamwatch_sink_deliveries_total. */
static const char *const sink_outcomes[] = {"delivered", "failed", "dropped"};

/* Label values of ipamwatch_analyzer_order_given_up_total, in struct ordered_stats order. */
static const char *const order_reasons[] = {"backlog_wait", "unknown_wait", "buffer_full"};

analyzer_metrics_t *analyzer_metrics_new(metrics_t *mx)
{
    if (!mx)
        return NULL;
    analyzer_metrics_t *am = xcalloc(1, sizeof *am);
    am->mx = mx;
    am->pools = json_object();
    am->scopes = json_object();
    static const struct {
        const char *name, *help;
        enum metrics_type type;
    } fams[] = {
        {"ipamwatch_analyzer_messages_total", "Kafka messages consumed.", METRICS_COUNTER},
        {"ipamwatch_analyzer_records_applied_total", "Records applied to the model.",
         METRICS_COUNTER},
        {"ipamwatch_analyzer_records_skipped_total",
         "Messages skipped because the loaded snapshot already held them.", METRICS_COUNTER},
        {"ipamwatch_analyzer_dead_letters_total",
         "Undecodable or rejected records sent to the dead-letter topic.", METRICS_COUNTER},
        {"ipamwatch_analyzer_journal_appends_total", "Audit journal records appended.",
         METRICS_COUNTER},
        {"ipamwatch_analyzer_rrd_samples_total", "RRD samples queued.", METRICS_COUNTER},
        {"ipamwatch_analyzer_rrd_writes_total",
         "RRD samples written to a file or accepted by rrdcached.", METRICS_COUNTER},
        {"ipamwatch_analyzer_rrd_errors_total", "Failed librrd calls or rrdcached commands.",
         METRICS_COUNTER},
        {"ipamwatch_analyzer_checkpoints_total", "Checkpoints written (offsets committed after).",
         METRICS_COUNTER},
        {"ipamwatch_analyzer_checkpoint_failures_total", "Checkpoints that failed.",
         METRICS_COUNTER},
        {"ipamwatch_analyzer_event_ids", "Event ids held in the model's de-duplication window.",
         METRICS_GAUGE},
        {"ipamwatch_analyzer_events_unchecked_total",
         "Events older than the de-duplication window's floor whose id was not held: applied "
         "as new (a duplicate among them was applied again).",
         METRICS_COUNTER},
        {"ipamwatch_analyzer_journal_keys", "Idempotency keys held by the audit journal.",
         METRICS_GAUGE},
        {"ipamwatch_analyzer_journal_key_window_overflows_total",
         "Checkpoint intervals that journaled more records than the key index keeps for "
         "replays.",
         METRICS_COUNTER},
    };
    for (size_t i = 0; i < sizeof fams / sizeof fams[0]; i++) {
        metrics_declare(mx, fams[i].name, fams[i].type, fams[i].help, NULL);
        metrics_set(mx, fams[i].name, 0, NULL);
    }
    metrics_declare(mx, "ipamwatch_analyzer_order_given_up_total", METRICS_COUNTER,
                    "Times the event-time merge of partitions went on without a partition: "
                    "backlog_wait (records known to come were not fetched within [analyzer] "
                    "order_wait), unknown_wait (a partition of unknown position or high "
                    "watermark, maybe empty, after 500 ms), buffer_full (too many records "
                    "queued).",
                    "reason");
    for (size_t i = 0; i < sizeof order_reasons / sizeof order_reasons[0]; i++)
        metrics_set(mx, "ipamwatch_analyzer_order_given_up_total", 0, order_reasons[i], NULL);
    metrics_declare(mx, "ipamwatch_analyzer_consumer_lag", METRICS_GAUGE,
                    "Messages between the consumer's position and the partition's high watermark.",
                    "topic,partition");
    for (size_t i = 0; i < sizeof pool_gauges / sizeof pool_gauges[0]; i++)
        metrics_declare(mx, pool_gauges[i].name, METRICS_GAUGE, pool_gauges[i].help, POOL_LABELS);
    metrics_declare(mx, EXHAUSTION, METRICS_GAUGE,
                    "Seconds until the pool is full by its last forecast (forecast rules of "
                    "target full; 0 when full, +Inf when its trend does not grow, NaN when a "
                    "later forecast could no longer judge); absent before the first forecast "
                    "that could judge.",
                    POOL_LABELS);
    metrics_declare(mx, "ipamwatch_alerts", METRICS_GAUGE,
                    "Alerts now pending or firing, by rule (every severity and object together).",
                    "rule,state");
    metrics_declare(mx, "ipamwatch_alert_notifications_total", METRICS_COUNTER,
                    "Firing (repeats included) and resolved notifications the rule engine "
                    "emitted since the start, by rule.",
                    "rule,state");
    metrics_declare(mx, "ipamwatch_sink_deliveries_total", METRICS_COUNTER,
                    "Notifications a sink delivered, gave up on (failed: retry_max passed or a "
                    "final error), or dropped from a spool at spool_max.",
                    "sink,outcome");
    for (size_t i = 0; i < sizeof sink_fams / sizeof sink_fams[0]; i++)
        metrics_declare(mx, sink_fams[i].name, sink_fams[i].type, sink_fams[i].help, "sink");
    metrics_set_ready(mx, "analyzer", "no partition assigned yet", 0);
    return am;
}

void analyzer_metrics_free(analyzer_metrics_t *am)
{
    if (!am)
        return;
    json_decref(am->pools);
    json_decref(am->scopes);
    free(am->round_scope);
    free(am);
}

/* Whether the labels of pool entry `p` are these. */
static bool same_labels(const json_t *p, const char *locale, const char *name, const char *scope)
{
    return strcmp(json_string_value(json_array_get(p, 0)), locale) == 0 &&
           strcmp(json_string_value(json_array_get(p, 1)), name) == 0 &&
           strcmp(json_string_value(json_array_get(p, 2)), scope) == 0;
}

/* Removes pool `id` (its entry `p`) from the maps and its series from the registry.
 * Registry locked. */
static void drop_pool(analyzer_metrics_t *am, const char *id, json_t *p)
{
    char *key = xstrdup(id); /* `id` may be a key of either map */
    json_t *in_scope = json_object_get(am->scopes, json_string_value(json_array_get(p, 2)));
    metrics_drop(am->mx, "pool_id", key);
    json_object_del(in_scope, key);
    json_object_del(am->pools, key);
    free(key);
}

void analyzer_metrics_object(void *ctx, const struct model_object *o, const struct rrd_sample *s)
{
    analyzer_metrics_t *am = ctx;
    if (!am || strcmp(o->kind, "pool") != 0)
        return;
    const char *locale = o->locale ? o->locale : "";
    const char *name = o->name ? o->name : "";
    const char *sid = o->scope_id ? o->scope_id : "";
    const double v[] = {s->size, s->used, s->utilization, s->largest_free, s->default_fits};
    metrics_lock(am->mx);
    json_t *p = json_object_get(am->pools, o->id);
    if (p && !same_labels(p, locale, name, sid)) {
        /* renamed or moved: the old series would linger under the old labels */
        drop_pool(am, o->id, p);
        p = NULL;
    }
    if (!p) {
        p = json_array(); /* _nocheck: the labels are kept as the model has them */
        json_array_append_new(p, json_string_nocheck(locale));
        json_array_append_new(p, json_string_nocheck(name));
        json_array_append_new(p, json_string_nocheck(sid));
        json_array_append_new(p, json_integer((json_int_t)am->round));
        json_object_set_new_nocheck(am->pools, o->id, p);
        json_t *in_scope = json_object_get(am->scopes, sid);
        if (!in_scope)
            json_object_set_new_nocheck(am->scopes, sid, in_scope = json_object());
        json_object_set_nocheck(in_scope, o->id, p);
        am->exhaustion_version = 0; /* (re)export its time to exhaustion at the next tick */
    } else {
        json_integer_set(json_array_get(p, 3), (json_int_t)am->round);
    }
    for (size_t i = 0; i < sizeof pool_gauges / sizeof pool_gauges[0]; i++)
        metrics_set(am->mx, pool_gauges[i].name, v[i], sid, o->id, name, locale, NULL);
    metrics_unlock(am->mx);
}

/* Drops every pool of scope `scope_id` (NULL: of every scope) that round `keep` did not
 * report (keep 0: every such pool). Registry locked. */
static void drop_pools(analyzer_metrics_t *am, const char *scope_id, uint64_t keep)
{
    json_t *from = scope_id ? json_object_get(am->scopes, scope_id) : am->pools;
    const char *id;
    json_t *p;
    void *tmp;
    json_object_foreach_safe(from, tmp, id, p)
    {
        if (!keep || (uint64_t)json_integer_value(json_array_get(p, 3)) != keep)
            drop_pool(am, id, p);
    }
}

void analyzer_metrics_round_begin(analyzer_metrics_t *am, const char *scope_id)
{
    if (!am)
        return;
    am->round++;
    free(am->round_scope);
    am->round_scope = scope_id ? xstrdup(scope_id) : NULL;
    am->in_round = true;
}

void analyzer_metrics_round_end(analyzer_metrics_t *am)
{
    if (!am || !am->in_round)
        return;
    metrics_lock(am->mx);
    drop_pools(am, am->round_scope, am->round);
    metrics_unlock(am->mx);
    am->in_round = false;
}

void analyzer_metrics_drop_scope(analyzer_metrics_t *am, const char *scope_id)
{
    if (!am)
        return;
    metrics_lock(am->mx);
    drop_pools(am, scope_id, 0);
    json_object_del(am->scopes, scope_id);
    metrics_drop(am->mx, "scope_id", scope_id);
    metrics_unlock(am->mx);
}

static void set_rule(void *ctx, const struct alert_rule_count *c)
{
    metrics_t *mx = ctx;
    metrics_set(mx, "ipamwatch_alerts", (double)c->pending, c->rule, "pending", NULL);
    metrics_set(mx, "ipamwatch_alerts", (double)c->firing, c->rule, "firing", NULL);
    metrics_set(mx, "ipamwatch_alert_notifications_total", (double)c->sent_firing, c->rule,
                "firing", NULL);
    metrics_set(mx, "ipamwatch_alert_notifications_total", (double)c->sent_resolved, c->rule,
                "resolved", NULL);
}

/* The sinks' deliveries, retries, spool depth and held notifications. Registry locked. */
static void update_sinks(metrics_t *mx, analyzer_alerts_t *aa)
{
    struct sinks_stat ss;
    for (size_t i = 0; analyzer_alerts_sink_stats(aa, i, &ss) == 0; i++) {
        const uint64_t outcome[] = {ss.delivered, ss.failed, ss.dropped};
        for (size_t j = 0; j < sizeof sink_outcomes / sizeof sink_outcomes[0]; j++)
            metrics_set(mx, "ipamwatch_sink_deliveries_total", (double)outcome[j], ss.name,
                        sink_outcomes[j], NULL);
        const uint64_t fig[] = {ss.retries, ss.spool_depth, ss.held};
        for (size_t j = 0; j < sizeof sink_fams / sizeof sink_fams[0]; j++)
            metrics_set(mx, sink_fams[j].name, (double)fig[j], ss.name, NULL);
    }
}

static void set_exhaustion(void *ctx, const char *pool_id, const char *scope_id, double seconds)
{
    analyzer_metrics_t *am = ctx;
    (void)scope_id; /* the model's, as the pool gauges carry it */
    const json_t *p = json_object_get(am->pools, pool_id);
    if (!p) /* not in the model (any more): no series */
        return;
    metrics_set(am->mx, EXHAUSTION, seconds, json_string_value(json_array_get(p, 2)), pool_id,
                json_string_value(json_array_get(p, 1)), json_string_value(json_array_get(p, 0)),
                NULL);
}

/* Lag per assigned partition from cached watermarks; returns the assignment's size and
 * the first partition in *first (for the reachability check). */
static int update_lag(analyzer_metrics_t *am, rd_kafka_t *rk, char *topic, size_t topiclen,
                      int32_t *first)
{
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts)
        return 0;
    int n = parts->cnt;
    if (n > 0) {
        snprintf(topic, topiclen, "%s", parts->elems[0].topic);
        *first = parts->elems[0].partition;
    }
    rd_kafka_position(rk, parts);
    for (int i = 0; i < n; i++) {
        rd_kafka_topic_partition_t *p = &parts->elems[i];
        int64_t low = -1, high = -1;
        if (rd_kafka_get_watermark_offsets(rk, p->topic, p->partition, &low, &high) !=
                RD_KAFKA_RESP_ERR_NO_ERROR ||
            high < 0)
            continue;
        int64_t pos = p->offset >= 0 ? p->offset : low;
        if (pos < 0)
            continue;
        char part[16];
        snprintf(part, sizeof part, "%d", (int)p->partition);
        metrics_set(am->mx, "ipamwatch_analyzer_consumer_lag",
                    (double)(high > pos ? high - pos : 0), p->topic, part, NULL);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    return n;
}

void analyzer_metrics_tick(analyzer_metrics_t *am, int64_t now_ms,
                           const struct analyzer_metrics_state *st)
{
    if (!am || (am->last_tick_ms && now_ms - am->last_tick_ms < TICK_MS))
        return;
    am->last_tick_ms = now_ms;
    metrics_t *mx = am->mx;
    const struct analyzer_stats *s = st->stats;
    struct rrd_store_stats rs;
    rrd_store_get_stats(st->rrd, &rs);
    metrics_lock(mx);
    metrics_set(mx, "ipamwatch_analyzer_messages_total", (double)s->messages, NULL);
    metrics_set(mx, "ipamwatch_analyzer_records_applied_total", (double)s->applied, NULL);
    metrics_set(mx, "ipamwatch_analyzer_records_skipped_total", (double)s->skipped, NULL);
    metrics_set(mx, "ipamwatch_analyzer_dead_letters_total", (double)s->dead_letters, NULL);
    metrics_set(mx, "ipamwatch_analyzer_journal_appends_total", (double)s->effects, NULL);
    metrics_set(mx, "ipamwatch_analyzer_rrd_samples_total", (double)s->samples, NULL);
    metrics_set(mx, "ipamwatch_analyzer_rrd_writes_total", (double)rs.written, NULL);
    metrics_set(mx, "ipamwatch_analyzer_rrd_errors_total", (double)rs.failures, NULL);
    metrics_set(mx, "ipamwatch_analyzer_checkpoints_total", (double)s->checkpoints, NULL);
    metrics_set(mx, "ipamwatch_analyzer_checkpoint_failures_total", (double)s->checkpoint_failures,
                NULL);
    metrics_set(mx, "ipamwatch_analyzer_event_ids", (double)s->event_ids, NULL);
    metrics_set(mx, "ipamwatch_analyzer_events_unchecked_total", (double)s->events_unchecked, NULL);
    metrics_set(mx, "ipamwatch_analyzer_journal_keys", (double)s->journal_keys, NULL);
    metrics_set(mx, "ipamwatch_analyzer_journal_key_window_overflows_total",
                (double)s->journal_key_window_overflows, NULL);
    const uint64_t order[] = {s->order_backlog_timeouts, s->order_unknown_timeouts,
                              s->order_buffer_full};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        metrics_set(mx, "ipamwatch_analyzer_order_given_up_total", (double)order[i],
                    order_reasons[i], NULL);
    if (st->alerts) {
        analyzer_alerts_rule_counts(st->alerts, set_rule, mx);
        update_sinks(mx, st->alerts);
        uint64_t version = analyzer_alerts_exhaustion(st->alerts, NULL, NULL);
        if (version != am->exhaustion_version)
            am->exhaustion_version = analyzer_alerts_exhaustion(st->alerts, set_exhaustion, am);
    }
    metrics_unlock(mx);

    rd_kafka_t *rk = kafka_consumer_handle(st->consumer);
    char topic[256] = "";
    int32_t first = 0;
    int nparts = update_lag(am, rk, topic, sizeof topic, &first);
    if (nparts > 0 && now_ms - am->last_check_ms >= KAFKA_CHECK_MS) {
        am->last_check_ms = now_ms;
        int64_t low, high;
        rd_kafka_resp_err_t err =
            rd_kafka_query_watermark_offsets(rk, topic, first, &low, &high, KAFKA_QUERY_MS);
        if (err)
            snprintf(am->kafka_error, sizeof am->kafka_error, "Kafka does not answer: %s",
                     rd_kafka_err2str(err));
        else
            am->kafka_error[0] = '\0';
    }
    const char *why = NULL;
    if (st->fatal)
        why = "stopping after a lost effect";
    else if (!st->assigned_once)
        why = "no partition assigned yet";
    else if (st->paused)
        why = "checkpoints failing: consumption paused";
    else if (am->kafka_error[0])
        why = am->kafka_error;
    metrics_set_ready(mx, "analyzer", why, READY_VALID_MS);
}
