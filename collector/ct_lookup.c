/* ct_lookup: the CloudTrail LookupEvents poller with exactly-once checkpoints. */
#define LOG_MODULE "ct_lookup"
#include "collector/ct_lookup.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "collector/ct_event.h"
#include "collector/ct_state.h"
#include "collector/publisher.h"
#include "kafka.h"
#include "log.h"
#include "record.h"
#include "xalloc.h"

#define CT_TARGET         "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
#define CT_PAGE_MAX       50
#define CT_PAGE_LIMIT     1000 /* events an answer may hold; more is not LookupEvents */
#define CT_FIRST_LOOKBACK (90LL * 86400 * 1000) /* all that LookupEvents keeps */
#define CT_RATE_MARGIN_MS 30                    /* per request, against arrival jitter */
#define CT_MAX_TRANSIENT  5                     /* attempts for 5xx/transport errors */
#define CT_KAFKA_TIMEOUT  10000

struct ct_account {
    char *id;           /* NULL: the base account */
    aws_creds_t *creds; /* owned assume-role provider; NULL: base credentials */
    aws_client_t *client;
};

struct ct_pair {
    struct ct_account *acct; /* borrowed from ct->accounts */
    char *region;
    char label[80]; /* "account/region" for logs */
    ct_state_t *st;
    int64_t next_ms; /* token bucket: earliest time of the next request */
};

struct ct_lookup {
    const struct config *cfg;
    aws_creds_t *base;
    publisher_t *pub;
    rd_kafka_t *reader; /* end offsets and the reconciliation reads */
    char *source;
    struct ct_account *accounts;
    size_t n_accounts;
    struct ct_pair *pairs;
    size_t n_pairs;
    int64_t spacing_ms;
    unsigned rng;
    pthread_t thread;
    bool started;
    volatile sig_atomic_t *stop;
    pthread_mutex_t lock; /* guards stats */
    struct ct_lookup_stats stats;
};

static void count(ct_lookup_t *ct, uint64_t *field, uint64_t n)
{
    pthread_mutex_lock(&ct->lock);
    *field += n;
    pthread_mutex_unlock(&ct->lock);
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleeps until monotonic time `until_ms` (log_now_ms clock); false when *stop was set. */
static bool nap_until(int64_t until_ms, volatile sig_atomic_t *stop)
{
    for (;;) {
        if (*stop)
            return false;
        int64_t left = until_ms - log_now_ms();
        if (left <= 0)
            return true;
        if (left > 100)
            left = 100;
        struct timespec ts = {0, (long)left * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void account_free(struct ct_account *a)
{
    aws_client_free(a->client);
    aws_creds_free(a->creds);
    free(a->id);
}

/* A consumer that never joins its group or commits: it assigns partitions explicitly to
 * read the tail of the events topic, and answers end-offset queries. */
static rd_kafka_t *reader_new(const struct config *cfg, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = kafka_conf_new(cfg->kafka, cfg->n_kafka, err, errlen);
    if (!conf)
        return NULL;
    static const char *const set[][2] = {
        {"group.id", "ipamwatch-cloudtrail-reconcile"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"enable.partition.eof", "true"},
        {"auto.offset.reset", "earliest"},
    };
    char text[256];
    for (size_t i = 0; i < sizeof set / sizeof set[0]; i++) {
        if (rd_kafka_conf_set(conf, set[i][0], set[i][1], text, sizeof text) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "kafka reader: %s: %s", set[i][0], text);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    if (!kafka_props_have(cfg->kafka, cfg->n_kafka, "fetch.wait.max.ms"))
        rd_kafka_conf_set(conf, "fetch.wait.max.ms", "10", text, sizeof text);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, text, sizeof text);
    if (!rk) {
        snprintf(err, errlen, "kafka reader: %s", text);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

void ct_lookup_free(ct_lookup_t *ct)
{
    if (!ct)
        return;
    for (size_t i = 0; i < ct->n_pairs; i++) {
        ct_state_free(ct->pairs[i].st);
        free(ct->pairs[i].region);
    }
    free(ct->pairs);
    for (size_t i = 0; i < ct->n_accounts; i++)
        account_free(&ct->accounts[i]);
    free(ct->accounts);
    publisher_free(ct->pub);
    if (ct->reader) {
        rd_kafka_consumer_close(ct->reader);
        rd_kafka_destroy(ct->reader);
    }
    free(ct->source);
    pthread_mutex_destroy(&ct->lock);
    free(ct);
}

ct_lookup_t *ct_lookup_new(const struct config *cfg, const struct aws_settings *s,
                           aws_creds_t *base, const char *source, char *err, size_t errlen)
{
    ct_lookup_t *ct = xcalloc(1, sizeof *ct);
    pthread_mutex_init(&ct->lock, NULL);
    ct->cfg = cfg;
    ct->base = base;
    ct->source = xstrdup(source);
    ct->rng = (unsigned)wall_ms();
    double rate = cfg->collector.cloudtrail_rate > 0 ? cfg->collector.cloudtrail_rate : 2;
    ct->spacing_ms = (int64_t)(1000.0 / rate + 0.999) + CT_RATE_MARGIN_MS;

    /* The CloudTrail clients retry nothing themselves: every attempt must take a token. */
    struct aws_settings cs = *s;
    cs.max_attempts = 1;
    char *home = aws_creds_default_region(s);
    const char *partition = aws_partition(home);
    const struct config_list *accts = &cfg->collector.accounts;
    ct->n_accounts = accts->n ? accts->n : 1;
    ct->accounts = xcalloc(ct->n_accounts, sizeof *ct->accounts);
    for (size_t i = 0; i < ct->n_accounts; i++) {
        struct ct_account *a = &ct->accounts[i];
        aws_creds_t *creds = base;
        if (accts->n) {
            a->id = xstrdup(accts->items[i]);
            if (cfg->collector.member_role_name) {
                char *arn = xasprintf("arn:%s:iam::%s:role/%s", partition, a->id,
                                      cfg->collector.member_role_name);
                a->creds = aws_creds_new_assume_role(base, s, arn, NULL, "ipamwatch-cloudtrail",
                                                     err, errlen);
                free(arn);
                if (!a->creds)
                    goto fail;
                creds = a->creds;
            }
        }
        a->client = aws_client_new(&cs, creds, err, errlen);
        if (!a->client)
            goto fail;
    }
    const struct config_list *regs = &cfg->collector.regions;
    size_t n_regions = regs->n ? regs->n : 1;
    ct->pairs = xcalloc(ct->n_accounts * n_regions, sizeof *ct->pairs);
    for (size_t i = 0; i < ct->n_accounts; i++) {
        for (size_t r = 0; r < n_regions; r++) {
            struct ct_pair *p = &ct->pairs[ct->n_pairs++];
            p->acct = &ct->accounts[i];
            p->region = xstrdup(regs->n ? regs->items[r] : home);
            const char *label = p->acct->id ? p->acct->id : "self";
            snprintf(p->label, sizeof p->label, "%s/%s", label, p->region);
            /* The bucket starts empty: a restarted process cannot know when its
             * predecessor sent its last request. */
            p->next_ms = log_now_ms() + ct->spacing_ms;
            p->st = ct_state_load(cfg->collector.state_dir, label, p->region, err, errlen);
            if (!p->st)
                goto fail;
        }
    }
    ct->pub = publisher_new(cfg->kafka, cfg->n_kafka, err, errlen);
    if (!ct->pub)
        goto fail;
    ct->reader = reader_new(cfg, err, errlen);
    if (!ct->reader)
        goto fail;
    free(home);
    return ct;
fail:
    free(home);
    ct_lookup_free(ct);
    return NULL;
}

/* ---- Kafka side: end offsets before producing, reconciliation after a crash ----------- */

/* Queries the end offset of every partition of `topic`. Stores a malloc'ed array in *offs
 * and its length in *n (0 when the topic does not exist yet). Returns 0 or -EIO. */
static int topic_ends(rd_kafka_t *rk, const char *topic, int64_t **offs, size_t *n, char *err,
                      size_t errlen)
{
    *offs = NULL;
    *n = 0;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!rkt) {
        snprintf(err, errlen, "topic %s: %s", topic, rd_kafka_err2str(rd_kafka_last_error()));
        return -EIO;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, CT_KAFKA_TIMEOUT);
    rd_kafka_topic_destroy(rkt);
    if (e) {
        snprintf(err, errlen, "metadata of %s: %s", topic, rd_kafka_err2str(e));
        return -EIO;
    }
    int rc = 0;
    if (md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        goto out;
    if (md->topic_cnt != 1 || md->topics[0].err) {
        snprintf(err, errlen, "metadata of %s: %s", topic,
                 md->topic_cnt ? rd_kafka_err2str(md->topics[0].err) : "no topic");
        rc = -EIO;
        goto out;
    }
    int np = md->topics[0].partition_cnt;
    *offs = xcalloc(np ? (size_t)np : 1, sizeof **offs);
    for (int i = 0; i < np; i++) {
        int32_t id = md->topics[0].partitions[i].id;
        int64_t lo, hi;
        e = rd_kafka_query_watermark_offsets(rk, topic, id, &lo, &hi, CT_KAFKA_TIMEOUT);
        if (e) {
            snprintf(err, errlen, "end offset of %s [%d]: %s", topic, (int)id, rd_kafka_err2str(e));
            rc = -EIO;
            goto out;
        }
        if (id >= 0 && id < np)
            (*offs)[id] = hi;
    }
    *n = (size_t)np;
out:
    rd_kafka_metadata_destroy(md);
    if (rc < 0) {
        free(*offs);
        *offs = NULL;
        *n = 0;
    }
    return rc;
}

/* Reads `topic` from the offsets saved with the pair's pending ids up to the current end
 * of each partition and resolves the pending set with the ids found there. */
static int reconcile(ct_lookup_t *ct, struct ct_pair *p, volatile sig_atomic_t *stop)
{
    char err[512];
    const char *topic = ct_state_pending_topic(p->st);
    size_t want = ct_state_pending_count(p->st);
    rd_kafka_t *rk = ct->reader;
    int rc = -EIO;
    int64_t *ends = NULL;
    size_t np = 0;
    char **found = NULL;
    size_t nfound = 0, capfound = 0;
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (topic_ends(rk, topic, &ends, &np, err, sizeof err) < 0) {
        LOG_WARN("%s: reconcile: %s", p->label, err);
        goto out;
    }
    parts = rd_kafka_topic_partition_list_new(np ? (int)np : 1);
    size_t open_parts = 0;
    for (size_t i = 0; i < np; i++) {
        int64_t from = ct_state_pending_offset(p->st, (int32_t)i);
        if (from < 0)
            from = 0;
        if (from >= ends[i])
            continue;
        rd_kafka_topic_partition_list_add(parts, topic, (int32_t)i)->offset = from;
        open_parts++;
    }
    if (open_parts && rd_kafka_assign(rk, parts) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        LOG_WARN("%s: reconcile: assign failed", p->label);
        goto out;
    }
    int64_t deadline = log_now_ms() + 60000;
    while (open_parts && nfound < want) {
        if (*stop) {
            rc = -EINTR;
            goto out;
        }
        if (log_now_ms() > deadline) {
            LOG_WARN("%s: reconcile: %s not read to its end within 60 s", p->label, topic);
            goto out;
        }
        rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 100);
        if (!rkm)
            continue;
        int32_t part = rkm->partition;
        if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (part >= 0 && (size_t)part < np && rkm->offset >= ends[part]) {
                ends[part] = -1; /* done */
                open_parts--;
            }
            rd_kafka_message_destroy(rkm);
            continue;
        }
        if (rkm->err) {
            LOG_DEBUG("%s: reconcile: %s", p->label, rd_kafka_message_errstr(rkm));
            rd_kafka_message_destroy(rkm);
            continue;
        }
        struct record *rec = NULL;
        char derr[256];
        if (record_decode(rkm->payload, rkm->len, &rec, derr, sizeof derr) == 0 &&
            rec->type == RECORD_EVENT && rec->u.event.event_id &&
            ct_state_is_pending(p->st, rec->u.event.event_id)) {
            bool dup = false;
            for (size_t i = 0; i < nfound && !dup; i++)
                dup = strcmp(found[i], rec->u.event.event_id) == 0;
            if (!dup) {
                if (nfound == capfound) {
                    capfound = capfound ? capfound * 2 : 64;
                    found = xrealloc(found, capfound * sizeof *found);
                }
                found[nfound++] = xstrdup(rec->u.event.event_id);
            }
        }
        record_free(rec);
        if (part >= 0 && (size_t)part < np && ends[part] >= 0 && rkm->offset + 1 >= ends[part]) {
            ends[part] = -1;
            open_parts--;
        }
        rd_kafka_message_destroy(rkm);
    }
    rc = ct_state_resolve(p->st, (const char *const *)found, nfound, err, sizeof err);
    if (rc < 0) {
        LOG_ERR("%s: %s", p->label, err);
        goto out;
    }
    LOG_INFO("%s: %zu of %zu events in flight were on %s already; the rest is published again",
             p->label, nfound, want, topic);
    count(ct, &ct->stats.reconciled, nfound);
out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    for (size_t i = 0; i < nfound; i++)
        free(found[i]);
    free(found);
    free(ends);
    rd_kafka_assign(rk, NULL);
    return rc;
}

/* ---- CloudTrail side ------------------------------------------------------------------ */

/* One LookupEvents call through the pair's token bucket; throttling is waited out, other
 * transient errors are retried a few times. The last error is left in err. */
static int lookup_call(ct_lookup_t *ct, struct ct_pair *p, const char *body, json_t **out,
                       volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    struct aws_call call = {
        .service = "cloudtrail",
        .region = p->region,
        .operation = "LookupEvents",
        .body = body,
    };
    int throttles = 0, transient = 0;
    for (;;) {
        if (!nap_until(p->next_ms, stop))
            return -EINTR;
        p->next_ms = log_now_ms() + ct->spacing_ms;
        count(ct, &ct->stats.requests, 1);
        int rc = aws_client_json(p->acct->client, &call, CT_TARGET, out, err, errlen);
        if (rc == 0)
            return 0;
        int retry;
        if (rc == -EAGAIN) {
            count(ct, &ct->stats.throttled, 1);
            retry = ++throttles;
            if (throttles == 1 || throttles % 10 == 0)
                LOG_INFO("%s: throttled (%d times in a row); backing off", p->label, throttles);
        } else if (rc == -EIO || rc == -ETIMEDOUT || rc == -EBADMSG) {
            retry = ++transient;
            if (transient >= CT_MAX_TRANSIENT) {
                size_t n = strlen(err);
                snprintf(err + n, errlen - n, " after %d attempts", transient);
                return rc;
            }
        } else {
            return rc;
        }
        int64_t delay = aws_retry_backoff_ms(retry > 8 ? 8 : retry,
                                             (double)rand_r(&ct->rng) / ((double)RAND_MAX + 1));
        int64_t at = log_now_ms() + delay;
        if (at > p->next_ms)
            p->next_ms = at;
    }
}

/* Waits until every message of `batch` was reported. Returns 0, or -EINTR when stopped
 * first (the messages' fate is then left to the reconciliation). */
static int wait_batch(ct_lookup_t *ct, struct publisher_batch *batch, volatile sig_atomic_t *stop)
{
    for (;;) {
        int rc = publisher_wait(ct->pub, batch, 500);
        if (rc == 0)
            return 0;
        if (rc == -EIO)
            return -EIO;
        if (*stop)
            return -EINTR;
    }
}

/* Publishes one page's new events: pending written first, then produced, then committed
 * once every one was confirmed. Records are borrowed. On failure the reason is in err. */
static int publish_page(ct_lookup_t *ct, struct ct_pair *p, struct record **recs, size_t n,
                        volatile sig_atomic_t *stop, char *err, size_t errlen)
{
    const char *topic = ct->cfg->topics.events;
    const char **ids = xcalloc(n, sizeof *ids);
    int64_t *times = xcalloc(n, sizeof *times);
    int64_t *ends = NULL;
    size_t np = 0;
    struct publisher_batch batch;
    memset(&batch, 0, sizeof batch);
    int rc;
    for (size_t i = 0; i < n; i++) {
        ids[i] = recs[i]->u.event.event_id;
        times[i] = recs[i]->u.event.time_ms;
    }
    rc = topic_ends(ct->reader, topic, &ends, &np, err, errlen);
    if (rc < 0)
        goto out;
    rc = ct_state_begin(p->st, ids, times, n, topic, ends, np, err, errlen);
    if (rc < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        rc = publisher_send(ct->pub, topic, recs[i], &batch, err, errlen);
        if (rc < 0)
            break;
    }
    /* Whatever was queued must be reported before its fate can be judged. */
    int wrc = wait_batch(ct, &batch, stop);
    if (rc < 0 || wrc < 0) {
        if (rc >= 0)
            snprintf(err, errlen, "%s",
                     wrc == -EINTR ? "stopped" : "events not confirmed by Kafka");
        rc = rc < 0 ? rc : wrc;
        goto out;
    }
    if (batch.failed) {
        snprintf(err, errlen, "%" PRIu64 " of %" PRIu64 " events not confirmed by Kafka: %s",
                 batch.failed, batch.sent, batch.error);
        rc = -EIO;
        goto out;
    }
    rc = ct_state_commit(p->st, err, errlen);
    if (rc < 0)
        goto out;
    count(ct, &ct->stats.published, n);
out:
    free(ids);
    free(times);
    free(ends);
    return rc;
}

static void page_add(struct ct_lookup_page *page, struct record *rec)
{
    page->recs = xgrow(page->recs, &page->cap, page->n + 1, sizeof *page->recs);
    page->recs[page->n++] = rec;
}

void ct_lookup_page_clear(struct ct_lookup_page *page)
{
    for (size_t i = 0; i < page->n; i++)
        record_free(page->recs[i]);
    free(page->recs);
    free(page->next_token);
    memset(page, 0, sizeof *page);
}

int ct_lookup_page_parse(json_t *resp, const char *account, const char *region, const char *source,
                         ct_lookup_known_fn known, void *ctx, const char *label,
                         struct ct_lookup_page *page, char *err, size_t errlen)
{
    ct_lookup_page_clear(page);
    json_t *events = json_object_get(resp, "Events");
    json_t *next = json_object_get(resp, "NextToken");
    if (!json_is_array(events)) {
        snprintf(err, errlen, "LookupEvents answer without an Events list");
        return -EBADMSG;
    }
    if (next && !json_is_string(next) && !json_is_null(next)) {
        snprintf(err, errlen, "LookupEvents answer with a NextToken that is not a string");
        return -EBADMSG;
    }
    if (json_array_size(events) > CT_PAGE_LIMIT) {
        snprintf(err, errlen, "LookupEvents answer with %zu events (%d were asked for)",
                 json_array_size(events), CT_PAGE_MAX);
        return -EBADMSG;
    }
    char why[512];
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        const char *name = json_string_value(json_object_get(ev, "EventName"));
        if (!ct_event_is_relevant(name)) {
            page->ignored++;
            continue;
        }
        struct record *rec = ct_event_from_lookup(ev, account, region, why, sizeof why);
        if (!rec) {
            LOG_WARN("%s: event skipped: %s", label, why);
            page->skipped++;
            continue;
        }
        /* The record's id: EventId, or the eventID inside CloudTrailEvent. */
        const char *id = rec->u.event.event_id;
        bool again = known && known(ctx, id); /* published before */
        for (size_t k = 0; k < page->n && !again; k++)
            again = strcmp(page->recs[k]->u.event.event_id, id) == 0; /* twice in one page */
        if (again) {
            record_free(rec);
            page->duplicates++;
            continue;
        }
        record_str_set(&rec->source, source);
        if (record_validate(rec, why, sizeof why) < 0) {
            LOG_WARN("%s: event %s skipped: %s", label, id, why);
            record_free(rec);
            page->skipped++;
            continue;
        }
        page_add(page, rec);
    }
    const char *tok = json_string_value(next);
    page->next_token = tok && *tok ? xstrdup(tok) : NULL;
    return 0;
}

static bool pair_knows(void *ctx, const char *id)
{
    return ct_state_known(ctx, id);
}

/* Reads one window of a pair and publishes what is new. On failure the reason is in err
 * (the caller logs it). */
static int poll_pair(ct_lookup_t *ct, struct ct_pair *p, volatile sig_atomic_t *stop, char *err,
                     size_t errlen)
{
    int rc = 0;
    if (ct_state_pending_count(p->st)) {
        rc = reconcile(ct, p, stop);
        if (rc < 0) {
            snprintf(err, errlen, "events in flight not reconciled with %s",
                     ct->cfg->topics.events);
            return rc;
        }
    }
    int64_t overlap = ct->cfg->collector.cloudtrail_overlap_ms;
    int64_t now_s = wall_ms() / 1000;
    int64_t start_ms = ct_state_window_start(p->st, overlap, now_s * 1000 - CT_FIRST_LOOKBACK);
    int64_t start_s = start_ms / 1000;
    if (start_s > now_s)
        start_s = now_s;
    char *token = NULL;
    struct ct_lookup_page page = {0};
    size_t pages = 0, fresh = 0;
    for (;;) {
        json_t *req =
            json_pack("{s:[{s:s,s:s}],s:I,s:I,s:i}", "LookupAttributes", "AttributeKey", "ReadOnly",
                      "AttributeValue", "false", "StartTime", (json_int_t)start_s, "EndTime",
                      (json_int_t)now_s, "MaxResults", CT_PAGE_MAX);
        if (token)
            json_object_set_new(req, "NextToken", json_string(token));
        char *body = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        json_t *resp = NULL;
        rc = lookup_call(ct, p, body, &resp, stop, err, errlen);
        free(body);
        if (rc < 0)
            break;
        pages++;
        rc = ct_lookup_page_parse(resp, p->acct->id, p->region, ct->source, pair_knows, p->st,
                                  p->label, &page, err, errlen);
        json_decref(resp);
        if (rc < 0)
            break;
        count(ct, &ct->stats.ignored, page.ignored);
        count(ct, &ct->stats.duplicates, page.duplicates);
        if (page.n)
            rc = publish_page(ct, p, page.recs, page.n, stop, err, errlen);
        fresh += page.n;
        free(token);
        token = page.next_token;
        page.next_token = NULL;
        if (rc < 0 || !token)
            break;
    }
    free(token);
    ct_lookup_page_clear(&page);
    if (rc < 0)
        return rc;
    rc = ct_state_advance(p->st, now_s * 1000, overlap, err, errlen);
    if (rc < 0)
        return rc;
    LOG_DEBUG("%s: window of %" PRId64 " s read in %zu pages, %zu new events", p->label,
              now_s - start_s, pages, fresh);
    return 0;
}

int ct_lookup_round(ct_lookup_t *ct, volatile sig_atomic_t *stop)
{
    static volatile sig_atomic_t never;
    if (!stop)
        stop = &never;
    int result = 0;
    for (size_t i = 0; i < ct->n_pairs; i++) {
        char err[1024] = "";
        int rc = poll_pair(ct, &ct->pairs[i], stop, err, sizeof err);
        if (rc == -EINTR || *stop)
            return -EINTR;
        if (rc < 0) {
            /* One line per failed poll: the call, the AWS error and its request id. */
            count(ct, &ct->stats.failures, 1);
            LOG_ERR("%s: CloudTrail poll failed: %s; retried next round from the checkpoint",
                    ct->pairs[i].label, err[0] ? err : strerror(-rc));
            result = -EAGAIN;
        }
    }
    count(ct, &ct->stats.rounds, 1);
    return result;
}

static void *thread_main(void *arg)
{
    ct_lookup_t *ct = arg;
    while (!*ct->stop) {
        int64_t next = log_now_ms() + ct->cfg->collector.cloudtrail_interval_ms;
        ct_lookup_round(ct, ct->stop);
        nap_until(next, ct->stop);
    }
    return NULL;
}

int ct_lookup_start(ct_lookup_t *ct, volatile sig_atomic_t *stop)
{
    ct->stop = stop;
    int e = pthread_create(&ct->thread, NULL, thread_main, ct);
    if (e)
        return -e;
    ct->started = true;
    return 0;
}

void ct_lookup_join(ct_lookup_t *ct)
{
    if (!ct || !ct->started)
        return;
    pthread_join(ct->thread, NULL);
    ct->started = false;
}

void ct_lookup_get_stats(ct_lookup_t *ct, struct ct_lookup_stats *out)
{
    pthread_mutex_lock(&ct->lock);
    *out = ct->stats;
    pthread_mutex_unlock(&ct->lock);
}
