/* analyzer_metrics: the analyze job's metrics and readiness. See analyzer_metrics.h.
 *
 * DESIGN: the pools the model holds are kept with the labels their series carry, in a table
 * by pool id (the model reports each pool every round and a forecast names it by id) and in
 * a list per scope (a round of one scope, or a scope leaving, drops that scope's pools).
 * Scopes are in a table by id too. Both tables chain `struct entry`, the first member of
 * `struct pool` and `struct scope`. */
#define LOG_MODULE "analyzer"
#include "analyzer/analyzer_metrics.h"

#include <stdio.h>
#include <string.h>

#include "hash.h"
#include "log.h"
#include "xalloc.h"

#define TICK_MS        1000
#define KAFKA_CHECK_MS 5000
#define KAFKA_QUERY_MS 500
#define READY_VALID_MS 60000 /* a loop that stops turning turns not ready after this */

/* An entry of a table by id; the first member of the structs the table holds. */
struct entry {
    struct entry *next; /* same bucket */
    char *id;
};

/* A string-keyed table of entries, chained per bucket; nb is 0 or a power of two. */
struct table {
    struct entry **b;
    size_t nb, n;
};

struct scope {
    struct entry e; /* id: the scope id */
    struct pool *pools;
};

/* A pool the model holds: the labels its series carry ("" when none) and the round that
 * last reported it. */
struct pool {
    struct entry e; /* id: the pool id */
    struct scope *scope;
    struct pool *prev, *next; /* the scope's pools */
    char *name, *locale;
    uint64_t round;
};

struct analyzer_metrics {
    metrics_t *mx;
    struct table pools;          /* struct pool by pool id */
    struct table scopes;         /* struct scope by scope id; only scopes with pools */
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

/* ---- the pool and scope tables ------------------------------------------------------ */

static uint64_t id_hash(const char *id)
{
    return hash_fnv1a(id, false);
}

/* Where entry `id` is, or would be added, in `t` (which has buckets). */
static struct entry **table_slot(const struct table *t, const char *id)
{
    struct entry **pp = &t->b[id_hash(id) & (t->nb - 1)];
    while (*pp && strcmp((*pp)->id, id) != 0)
        pp = &(*pp)->next;
    return pp;
}

static struct entry *table_find(const struct table *t, const char *id)
{
    return t->nb ? *table_slot(t, id) : NULL;
}

/* Adds `e`, whose id is not in `t` yet, growing the buckets to keep chains short. */
static void table_add(struct table *t, struct entry *e)
{
    if (t->n >= t->nb) {
        size_t nb = t->nb ? 2 * t->nb : 64;
        struct entry **b = xcalloc(nb, sizeof *b);
        for (size_t i = 0; i < t->nb; i++)
            for (struct entry *x = t->b[i], *next; x; x = next) {
                struct entry **head = &b[id_hash(x->id) & (nb - 1)];
                next = x->next;
                x->next = *head;
                *head = x;
            }
        free(t->b);
        t->b = b;
        t->nb = nb;
    }
    struct entry **pp = table_slot(t, e->id);
    e->next = NULL;
    *pp = e;
    t->n++;
}

/* Unlinks `e` (in `t`); the caller frees it. */
static void table_del(struct table *t, struct entry *e)
{
    struct entry **pp = table_slot(t, e->id);
    *pp = e->next;
    t->n--;
}

static void pool_free(struct pool *p)
{
    free(p->e.id);
    free(p->name);
    free(p->locale);
    free(p);
}

/* Removes pool `p` from the tables, its series from the registry and its scope when that
 * has no pool left, and frees it. Registry locked. */
static void drop_pool(analyzer_metrics_t *am, struct pool *p)
{
    struct scope *sc = p->scope;
    metrics_drop(am->mx, "pool_id", p->e.id);
    if (p->prev)
        p->prev->next = p->next;
    else
        sc->pools = p->next;
    if (p->next)
        p->next->prev = p->prev;
    table_del(&am->pools, &p->e);
    if (!sc->pools) {
        table_del(&am->scopes, &sc->e);
        free(sc->e.id);
        free(sc);
    }
    pool_free(p);
}

/* Adds pool `id` of scope `sid` with these labels, reported by the current round.
 * Registry locked. */
static void add_pool(analyzer_metrics_t *am, const char *id, const char *sid, const char *name,
                     const char *locale)
{
    struct scope *sc = (struct scope *)table_find(&am->scopes, sid);
    if (!sc) {
        sc = xcalloc(1, sizeof *sc);
        sc->e.id = xstrdup(sid);
        table_add(&am->scopes, &sc->e);
    }
    struct pool *p = xcalloc(1, sizeof *p);
    p->e.id = xstrdup(id);
    p->scope = sc;
    p->name = xstrdup(name);
    p->locale = xstrdup(locale);
    p->round = am->round;
    p->next = sc->pools;
    if (sc->pools)
        sc->pools->prev = p;
    sc->pools = p;
    table_add(&am->pools, &p->e);
}

/* Drops every pool of scope `sc` that round `keep` did not report (keep 0: every one); `sc`
 * is freed with its last pool. Registry locked. */
static void drop_scope_pools(analyzer_metrics_t *am, struct scope *sc, uint64_t keep)
{
    for (struct pool *p = sc->pools, *next; p; p = next) {
        next = p->next; /* when `p` is the last pool of `sc`, this is NULL */
        if (!keep || p->round != keep)
            drop_pool(am, p);
    }
}

/* Drops the pools of scope `scope_id` (NULL: of every scope) that round `keep` did not
 * report (keep 0: every such pool). Registry locked. */
static void drop_pools(analyzer_metrics_t *am, const char *scope_id, uint64_t keep)
{
    if (scope_id) {
        struct scope *sc = (struct scope *)table_find(&am->scopes, scope_id);
        if (sc)
            drop_scope_pools(am, sc, keep);
        return;
    }
    for (size_t i = 0; i < am->scopes.nb; i++)
        for (struct entry *e = am->scopes.b[i], *next; e; e = next) {
            next = e->next;
            drop_scope_pools(am, (struct scope *)e, keep);
        }
}

void analyzer_metrics_free(analyzer_metrics_t *am)
{
    if (!am)
        return;
    for (size_t i = 0; i < am->pools.nb; i++)
        for (struct entry *e = am->pools.b[i], *next; e; e = next) {
            next = e->next;
            pool_free((struct pool *)e);
        }
    for (size_t i = 0; i < am->scopes.nb; i++)
        for (struct entry *e = am->scopes.b[i], *next; e; e = next) {
            next = e->next;
            free(e->id);
            free(e);
        }
    free(am->pools.b);
    free(am->scopes.b);
    free(am->round_scope);
    free(am);
}

/* ---- pool gauges --------------------------------------------------------------------- */

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
    struct pool *p = (struct pool *)table_find(&am->pools, o->id);
    if (p && (strcmp(p->locale, locale) != 0 || strcmp(p->name, name) != 0 ||
              strcmp(p->scope->e.id, sid) != 0)) {
        /* renamed or moved: the old series would linger under the old labels */
        drop_pool(am, p);
        p = NULL;
    }
    if (p) {
        p->round = am->round;
    } else {
        add_pool(am, o->id, sid, name, locale);
        am->exhaustion_version = 0; /* (re)export its time to exhaustion at the next tick */
    }
    for (size_t i = 0; i < sizeof pool_gauges / sizeof pool_gauges[0]; i++)
        metrics_set(am->mx, pool_gauges[i].name, v[i], sid, o->id, name, locale, NULL);
    metrics_unlock(am->mx);
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
    const struct pool *p = (const struct pool *)table_find(&am->pools, pool_id);
    if (!p) /* not in the model (any more): no series */
        return;
    metrics_set(am->mx, EXHAUSTION, seconds, p->scope->e.id, pool_id, p->name, p->locale, NULL);
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
