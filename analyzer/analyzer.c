/* analyzer: the `analyze` job: Kafka records into the model, RRD history and audit journal,
 * with offsets committed only after their effects are durable. See analyzer.h. */
#define LOG_MODULE "analyzer"
#include "analyzer/analyzer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "analyzer/analyzer_metrics.h"
#include "analyzer/analyzer_alerts.h"
#include "analyzer/analyzer_idle.h"
#include "analyzer/deadletter.h"
#include "analyzer/decoder.h"
#include "analyzer/journal.h"
#include "analyzer/model.h"
#include "analyzer/ordered.h"
#include "analyzer/partstate.h"
#include "analyzer/rrd_store.h"
#include "kafka.h"
#include "log.h"
#include "record.h"
#include "sdnotify.h"
#include "xalloc.h"

#define CHECKPOINT_FILE    "checkpoint.json"
#define CHECKPOINT_VERSION 1
#define RETRY_MS           1000  /* between attempts of a failed checkpoint */
#define DLQ_FLUSH_MS       10000 /* longest wait for dead letters at a checkpoint */
#define POLL_MS            100
#define PARTSTATE_MS       10000 /* longest wait for the state topic (publish, read) */
#define CHECK_ENDS_MS      5000  /* longest wait for the watermarks checked at start */
#define STARTS_MS          5000  /* longest wait for where assigned partitions start */
#define APPLY_BATCH        1024  /* records applied per loop turn at most */
#define RECV_BATCH         1024  /* messages polled per loop turn at most */
/* The consumer's prefetch: librdkafka's one queue for all assigned partitions. Once it holds
 * queued.min.messages or queued.max.messages.kbytes, librdkafka (before 2.2.0, which added
 * fetch.queue.backoff.ms) decides to fetch again only a second later; with its defaults
 * (100,000 messages, 64 MB) the loop emptied the queue within that second while consuming a
 * backlog, and then waited. These hold about a second of a backlog of inventory records: the
 * memory they may take while a backlog lasts (README, [kafka]). */
#define ANALYZER_PREFETCH_MESSAGES "500000"
#define ANALYZER_PREFETCH_KBYTES   "262144"
#define LIVE_LAG                                                                                   \
    1000 /* messages behind the high watermarks that still count as                                \
            caught up (stale rules are evaluated) */

/* A crash in a backlog replays at most this many journal records: the reopened journal must
 * still hold their keys. */
_Static_assert(ANALYZER_BACKLOG_MAX_EFFECTS <= JOURNAL_KEYS_KEPT / 4,
               "a backlog checkpoint interval must fit the journal's key window");

/* One consumed partition. */
struct part {
    char *topic;
    int32_t partition;
    int64_t next;      /* next offset to apply; -1 unknown (take what Kafka gives) */
    int64_t saved;     /* next offset covered by the last checkpoint; -1 none */
    int64_t committed; /* next offset committed to the group; -1 none */
    bool assigned;
    bool kept; /* lost without a state topic: kept for the next assignment */
};

/* A polled message, decoded, waiting in the event-time merge (analyzer/ordered.h). */
struct pending {
    rd_kafka_message_t *rkm;
    struct record *rec; /* NULL when it did not decode */
    int rc;             /* record_decode()'s result */
    char *err;          /* its text when it failed */
};

/* The messages polled in one loop turn, in poll order, with their decoding (decoder.h). */
struct recv_batch {
    rd_kafka_message_t *rkm[RECV_BATCH];
    struct decoder_item it[RECV_BATCH];
    size_t n;
    /* Messages applied meanwhile (struct pending): freed by the decoder with the batch. */
    void **trash;
    size_t ntrash, captrash;
};

/* One dead letter until its delivery is confirmed. */
struct dead_letter {
    char *key;
    size_t keylen;
    char *value;
    size_t len;
    int state; /* 0 in flight, 1 delivered, -1 failed (produce again) */
};

struct analyzer {
    const struct config *cfg;
    struct analyzer_options o;
    char *ckpt_path;
    struct config_kv *props;
    size_t nprops;
    const char *topics[2];
    size_t ntopics;

    model_t *model;
    journal_t *journal;
    rrd_store_t *rrd;
    kafka_producer_t *dlq;
    kafka_consumer_t *consumer;
    ordered_t *ord; /* polled messages until their turn in event time */
    decoder_t *dec; /* decodes polled messages beside the loop */
    /* recv[cur] collects this turn's messages; the other one, the last turn's, is out with
     * the decoder while decoder_busy(), queued in the merge after this turn's poll. */
    struct recv_batch recv[2];
    unsigned cur;
    size_t applied_turn;    /* messages the last apply_ready() applied */
    kafka_starts_t *starts; /* where assigned partitions start and end, being asked */
    /* Partitions assigned since it was asked: asked next (learn_starts()); or NULL. */
    rd_kafka_topic_partition_list_t *starts_wanted;
    int64_t lag_checked_ms;    /* when caught-up-ness was last told to the alert rules */
    int64_t lag;               /* ordered_lag() then: -1 unknown */
    partstate_io_t *ps;        /* [analyzer] partition_state: the state topic; else NULL */
    uint64_t ps_alert_changes; /* analyzer_alerts_changes() at the last publish */

    struct part *parts;
    size_t nparts, capparts;
    json_t *scope_parts; /* scope id -> partition of the inventory topic holding it */
    uint64_t gen;        /* generation of the model snapshot on disk */
    time_t last_sample;  /* time of the last sample batch written; 0 none */
    int step;

    struct dead_letter **dls;
    size_t ndls, capdls;

    uint64_t unsaved;       /* records applied since the last checkpoint */
    uint64_t saved_effects; /* stats.effects at the last checkpoint */
    int64_t first_unsaved_ms;
    int64_t ckpt_cost_ms; /* how long the last successful checkpoint took to write the model
                             snapshot and checkpoint.json: the part that grows with the model,
                             not with the records applied since the one before */
    int64_t ckpt_end_ms;  /* when it ended */
    bool live_changed;    /* an event or pass-less record changed state since the last sample */
    bool commit_pending;  /* a checkpoint was saved but its commit failed */
    bool ckpt_failing;    /* the last checkpoint failed before its effects were durable */
    bool paused;
    bool held;       /* options' hold was set at the last loop turn */
    bool reassigned; /* an assignment since: a hold pauses it too */
    int64_t retry_at_ms;
    bool assigned_once;
    int64_t quiet_ms;     /* idle time since the last message, assignment or resumption
                             (analyzer_idle.h): what --exit-when-idle counts */
    unsigned idle_logged; /* 1 << verdict: reasons logged in this idle period */
    int64_t started_ms;
    int fatal;   /* -errno: stop without committing (restart replays from the checkpoint) */
    int rrd_err; /* first failed rrd_store_update since the last checkpoint */

    struct model_effects fx;
    analyzer_alerts_t *alerts; /* rule engine and sinks (analyzer_alerts.h) */
    struct analyzer_stats stats;
    metrics_t *own_mx;      /* our metrics server, when options gave no registry */
    analyzer_metrics_t *am; /* NULL: metrics off */
    log_complain_t ckpt_complain, dl_complain, apply_complain;
};

/* ---- small helpers ------------------------------------------------------------------ */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int mkdir_p(const char *path)
{
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -ENAMETOOLONG;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int snap_path(const analyzer_t *a, uint64_t gen, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/model-%llu.snap", a->cfg->analyzer.state_dir,
                     (unsigned long long)gen);
    return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Writes `text` to `path` atomically: temp file, fsync, rename, fsync of the directory. */
static int write_atomic(const char *dir, const char *path, const char *text, char *err,
                        size_t errlen)
{
    char tmp[PATH_MAX];
    int fd = -1, rc;
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        set_err(err, errlen, "%s: path too long", path);
        return -ENAMETOOLONG;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        goto fail;
    size_t len = strlen(text), off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            goto fail;
        off += (size_t)w;
    }
    if (fsync(fd) < 0)
        goto fail;
    if (close(fd) < 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) < 0)
        goto fail;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || fsync(dfd) < 0) {
        rc = -errno;
        if (dfd >= 0)
            close(dfd);
        set_err(err, errlen, "fsync %s: %s", dir, strerror(-rc));
        return rc;
    }
    close(dfd);
    return 0;
fail:
    rc = -errno;
    set_err(err, errlen, "write %s: %s", tmp, strerror(-rc));
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return rc;
}

static struct part *part_find(analyzer_t *a, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < a->nparts; i++)
        if (a->parts[i].partition == partition && strcmp(a->parts[i].topic, topic) == 0)
            return &a->parts[i];
    return NULL;
}

static struct part *part_get(analyzer_t *a, const char *topic, int32_t partition)
{
    struct part *p = part_find(a, topic, partition);
    if (p)
        return p;
    a->parts = xgrow(a->parts, &a->capparts, a->nparts + 1, sizeof *a->parts);
    p = &a->parts[a->nparts++];
    *p = (struct part){xstrdup(topic), partition, -1, -1, -1, false, false};
    return p;
}

static void part_remove(analyzer_t *a, struct part *p)
{
    free(p->topic);
    size_t i = (size_t)(p - a->parts);
    memmove(&a->parts[i], &a->parts[i + 1], (a->nparts - i - 1) * sizeof *a->parts);
    a->nparts--;
}

/* ---- checkpoint file ---------------------------------------------------------------- */

/* Loads checkpoint.json and the snapshot it names into `a`. No file: an empty model. */
static int checkpoint_load(analyzer_t *a, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_load_file(a->ckpt_path, 0, &jerr);
    if (!root) {
        if (access(a->ckpt_path, F_OK) < 0 && errno == ENOENT) {
            a->model = model_new(a->cfg);
            LOG_INFO("no checkpoint in %s: starting with an empty model",
                     a->cfg->analyzer.state_dir);
            return 0;
        }
        set_err(err, errlen, "%s:%d: %s", a->ckpt_path, jerr.line, jerr.text);
        return -EINVAL;
    }
    json_int_t version = 0, gen = 0, last = 0;
    json_t *offsets = NULL, *scopes = NULL;
    if (json_unpack_ex(root, &jerr, 0, "{s:I, s:I, s:I, s:o, s:o}", "version", &version,
                       "generation", &gen, "last_sample", &last, "offsets", &offsets, "scopes",
                       &scopes) < 0 ||
        version != CHECKPOINT_VERSION || !json_is_array(offsets) || !json_is_object(scopes)) {
        set_err(err, errlen, "%s: not a checkpoint of this version: %s", a->ckpt_path, jerr.text);
        json_decref(root);
        return -EINVAL;
    }
    char path[PATH_MAX];
    if (snap_path(a, (uint64_t)gen, path, sizeof path) < 0) {
        set_err(err, errlen, "%s: snapshot path too long", a->ckpt_path);
        json_decref(root);
        return -ENAMETOOLONG;
    }
    char merr[512];
    a->model = model_load(a->cfg, path, merr, sizeof merr);
    if (!a->model) {
        set_err(err, errlen, "%s names %s: %s", a->ckpt_path, path, merr);
        json_decref(root);
        return -EINVAL;
    }
    a->gen = (uint64_t)gen;
    a->last_sample = (time_t)last;
    size_t i;
    json_t *v;
    json_array_foreach(offsets, i, v)
    {
        const char *topic;
        json_int_t partition, next;
        if (json_unpack(v, "{s:s, s:I, s:I}", "topic", &topic, "partition", &partition, "next",
                        &next) < 0)
            continue;
        struct part *p = part_get(a, topic, (int32_t)partition);
        p->next = p->saved = next;
    }
    json_decref(a->scope_parts);
    a->scope_parts = json_deep_copy(scopes);
    LOG_INFO("loaded checkpoint %llu: %zu partitions, last sample at %lld",
             (unsigned long long)a->gen, a->nparts, (long long)a->last_sample);
    json_decref(root);
    return 0;
}

static char *checkpoint_text(const analyzer_t *a, uint64_t gen)
{
    json_t *offsets = json_array();
    for (size_t i = 0; i < a->nparts; i++) {
        const struct part *p = &a->parts[i];
        if (p->next < 0)
            continue;
        json_array_append_new(offsets, json_pack("{s:s, s:i, s:I}", "topic", p->topic, "partition",
                                                 (int)p->partition, "next", (json_int_t)p->next));
    }
    json_t *root = json_pack(
        "{s:i, s:I, s:I, s:o, s:O}", "version", CHECKPOINT_VERSION, "generation", (json_int_t)gen,
        "last_sample", (json_int_t)a->last_sample, "offsets", offsets, "scopes", a->scope_parts);
    char *text = json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(root);
    if (!text)
        abort();
    return text;
}

/* Compares the loaded checkpoint's offsets with the partitions' high watermarks on the
 * brokers. An offset beyond its partition's end means the topic was deleted and created
 * again (or [kafka] bootstrap.servers names another cluster): its messages below the offset
 * would be skipped as already applied. Each such partition is logged; returns 0, -ESTALE
 * with the first one in err, or 0 after a warning when the brokers could not be asked
 * within CHECK_ENDS_MS. */
static int check_checkpoint_ends(analyzer_t *a, char *err, size_t errlen)
{
    rd_kafka_t *rk = kafka_consumer_handle(a->consumer);
    int64_t deadline = log_now_ms() + CHECK_ENDS_MS;
    size_t beyond = 0;
    for (size_t i = 0; i < a->nparts; i++) {
        const struct part *p = &a->parts[i];
        int64_t lo = -1, hi = -1, left = deadline - log_now_ms();
        if (p->saved < 0)
            continue;
        rd_kafka_resp_err_t e =
            left <= 0
                ? RD_KAFKA_RESP_ERR__TIMED_OUT
                : rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi, (int)left);
        if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
            hi = 0; /* deleted: nothing of it is left */
        else if (e) {
            LOG_WARN("checkpoint offsets not checked against the brokers (%s [%d]: %s)", p->topic,
                     (int)p->partition, rd_kafka_err2str(e));
            return 0;
        }
        if (p->saved <= hi)
            continue;
        LOG_ERR("checkpoint %llu covers %s [%d] up to offset %lld but the partition ends at "
                "offset %lld: the topic was created again (or bootstrap.servers names another "
                "cluster)",
                (unsigned long long)a->gen, p->topic, (int)p->partition, (long long)p->saved,
                (long long)hi);
        if (beyond++ == 0)
            set_err(err, errlen,
                    "checkpoint %llu in %s covers %s [%d] up to offset %lld but the partition "
                    "ends at offset %lld",
                    (unsigned long long)a->gen, a->cfg->analyzer.state_dir, p->topic,
                    (int)p->partition, (long long)p->saved, (long long)hi);
    }
    return beyond ? -ESTALE : 0;
}

/* Drops what checkpoint_load() loaded: an empty model and no offsets. The generation and
 * the last RRD sample time stay (the next snapshot replaces the old one; RRD times only
 * grow). */
static void checkpoint_forget(analyzer_t *a)
{
    model_free(a->model);
    a->model = model_new(a->cfg);
    for (size_t i = 0; i < a->nparts; i++)
        free(a->parts[i].topic);
    a->nparts = 0;
    json_object_clear(a->scope_parts);
}

/* ---- dead letters ------------------------------------------------------------------- */

static void on_dlq_delivery(void *ctx, void *opaque, int err, const char *errstr, int32_t partition,
                            int64_t offset)
{
    analyzer_t *a = ctx;
    struct dead_letter *dl = opaque;
    (void)partition;
    (void)offset;
    if (err) {
        log_complain(&a->dl_complain, LOG_LEVEL_WARN, LOG_MODULE,
                     "dead letter to %s not delivered (will retry): %s", a->cfg->topics.deadletter,
                     errstr ? errstr : strerror(-err));
        dl->state = -1;
    } else {
        dl->state = 1;
    }
}

static int dl_produce(analyzer_t *a, struct dead_letter *dl)
{
    dl->state = 0;
    int rc = kafka_producer_produce(a->dlq, a->cfg->topics.deadletter, dl->key, dl->keylen,
                                    dl->value, dl->len, dl);
    if (rc < 0)
        dl->state = -1;
    return rc;
}

static void dead_letter(analyzer_t *a, const rd_kafka_message_t *rkm, const char *code,
                        const char *reason)
{
    struct deadletter_source src = {
        .topic = rd_kafka_topic_name(rkm->rkt),
        .partition = rkm->partition,
        .offset = rkm->offset,
        .key = rkm->key,
        .keylen = rkm->key_len,
        .payload = rkm->payload,
        .len = rkm->len,
    };
    struct dead_letter *dl = xcalloc(1, sizeof *dl);
    dl->value = deadletter_encode(code, reason, &src, &dl->len);
    if (rkm->key) {
        dl->key = xmalloc(rkm->key_len + 1);
        memcpy(dl->key, rkm->key, rkm->key_len);
        dl->keylen = rkm->key_len;
    }
    a->dls = xgrow(a->dls, &a->capdls, a->ndls + 1, sizeof *a->dls);
    a->dls[a->ndls++] = dl;
    a->stats.dead_letters++;
    log_complain(&a->dl_complain, LOG_LEVEL_WARN, LOG_MODULE,
                 "%s [%d] offset %lld: %s record sent to %s: %s", src.topic, (int)src.partition,
                 (long long)src.offset, code, a->cfg->topics.deadletter, reason);
    dl_produce(a, dl);
}

/* Waits until every dead letter is delivered, producing failed ones again. Returns 0 or
 * -EAGAIN when some are still not delivered. */
static int dl_settle(analyzer_t *a)
{
    if (a->ndls == 0)
        return 0;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < a->ndls; i++)
            if (a->dls[i]->state < 0)
                dl_produce(a, a->dls[i]);
        kafka_producer_flush(a->dlq, DLQ_FLUSH_MS, NULL);
        size_t keep = 0;
        for (size_t i = 0; i < a->ndls; i++) {
            struct dead_letter *dl = a->dls[i];
            if (dl->state == 1) {
                free(dl->key);
                free(dl->value);
                free(dl);
            } else {
                a->dls[keep++] = dl;
            }
        }
        a->ndls = keep;
        if (keep == 0)
            return 0;
    }
    return -EAGAIN;
}

/* ---- RRD samples in event time ------------------------------------------------------ */

struct sample_ctx {
    analyzer_t *a;
    time_t t;
};

static void on_metrics(void *ctx, const char *kind, const char *id, const struct rrd_sample *s)
{
    struct sample_ctx *sc = ctx;
    analyzer_t *a = sc->a;
    if (!rrd_store_valid_key(kind, id)) {
        LOG_DEBUG("no RRD file for %s '%s': not usable as a file name", kind, id);
        return;
    }
    int rc = rrd_store_update(a->rrd, kind, id, sc->t, s);
    if (rc < 0) {
        log_complain(&a->apply_complain, LOG_LEVEL_ERR, LOG_MODULE, "RRD update of %s %s: %s", kind,
                     id, rrd_store_error(a->rrd));
        if (!a->rrd_err)
            a->rrd_err = rc;
        return;
    }
    a->stats.samples++;
}

/* One object of a sample round: its RRD sample and its alert rules. */
static void on_object(void *ctx, const struct model_object *o, const struct rrd_sample *s)
{
    struct sample_ctx *sc = ctx;
    analyzer_metrics_object(sc->a->am, o, s);
    on_metrics(ctx, o->kind, o->id, s);
    analyzer_alerts_object(sc->a->alerts, o, s);
}

/* Writes every object's current figures at `t` and remembers it. */
static void sample_all(analyzer_t *a, time_t t)
{
    struct sample_ctx sc = {a, t};
    analyzer_alerts_round_begin(a->alerts, t, true);
    analyzer_metrics_round_begin(a->am, NULL);
    model_metrics_objects(a->model, NULL, on_object, &sc);
    analyzer_metrics_round_end(a->am);
    analyzer_alerts_round_end(a->alerts);
    a->last_sample = t;
    a->live_changed = false;
}

/* Writes the figures of one scope's objects at `t` (after a pass of that scope). */
static void sample_scope(analyzer_t *a, const char *scope_id, time_t t)
{
    struct sample_ctx sc = {a, t};
    analyzer_alerts_round_begin(a->alerts, t, false);
    analyzer_metrics_round_begin(a->am, scope_id);
    model_metrics_objects(a->model, scope_id, on_object, &sc);
    analyzer_metrics_round_end(a->am);
    analyzer_alerts_round_end(a->alerts);
    a->last_sample = t;
}

/* Before a record of event time `ms`: the figures so far hold until its step boundary. */
static void sample_before(analyzer_t *a, int64_t ms)
{
    if (ms == RECORD_UNSET || ms < 0)
        return;
    time_t t = (time_t)(ms / 1000);
    time_t boundary = t - t % a->step;
    if (boundary > a->last_sample)
        sample_all(a, boundary);
}

static int64_t record_event_ms(const struct record *rec)
{
    if (rec->type == RECORD_PASS_BEGIN)
        return rec->u.pass_begin.started_ms;
    if (rec->type == RECORD_EVENT)
        return rec->u.event.time_ms;
    return RECORD_UNSET;
}

/* ---- applying one message ----------------------------------------------------------- */

static void track_scope(analyzer_t *a, const char *topic, int32_t partition,
                        const struct record *rec)
{
    if (!rec->scope || strcmp(topic, a->cfg->topics.inventory) != 0)
        return;
    json_t *v = json_object_get(a->scope_parts, rec->scope);
    if (!v || json_integer_value(v) != partition)
        json_object_set_new(a->scope_parts, rec->scope, json_integer(partition));
}

/* The record whose effects model_apply() is handing out (apply_record()). */
struct apply_ctx {
    analyzer_t *a;
    const rd_kafka_message_t *rkm;
    time_t pass_time; /* of its "pass" effect; -1 = none */
};

/* Model effects sink: one portion of a record's effects to the journal (written to its
 * segment as it goes, synced by the next checkpoint) and the alert engine, so that a record
 * with a million effects holds one portion at a time. Runs inside model_apply(). */
static void on_effects(void *ctx, const struct model_effect *items, size_t n)
{
    struct apply_ctx *ac = ctx;
    analyzer_t *a = ac->a;
    for (size_t i = 0; i < n; i++) {
        const struct model_effect *e = &items[i];
        int jrc = model_effect_journal(a->journal, e);
        if (jrc == -EINVAL) {
            log_complain(&a->apply_complain, LOG_LEVEL_WARN, LOG_MODULE,
                         "%s [%d] offset %lld: journal refused %s effect '%s'",
                         rd_kafka_topic_name(ac->rkm->rkt), (int)ac->rkm->partition,
                         (long long)ac->rkm->offset, e->kind, e->key);
        } else if (jrc < 0) {
            LOG_ERR("journal append of %s '%s': %s", e->kind, e->key, strerror(-jrc));
            if (!a->fatal)
                a->fatal = jrc;
        } else {
            a->stats.effects++;
        }
        if (strcmp(e->kind, "pass") == 0)
            ac->pass_time = e->event_time;
    }
    analyzer_alerts_effects(a->alerts, items, n);
}

static void apply_record(analyzer_t *a, const rd_kafka_message_t *rkm, const struct record *rec)
{
    char err[512];
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    sample_before(a, record_event_ms(rec));
    struct apply_ctx ac = {.a = a, .rkm = rkm, .pass_time = -1};
    model_effects_set_sink(&a->fx, on_effects, &ac, 0);
    int rc = model_apply(a->model, rec, &a->fx, err, sizeof err);
    model_effects_set_sink(&a->fx, NULL, NULL, 0);
    if (rc < 0)
        dead_letter(a, rkm, "rejected", err);
    time_t pass_time = ac.pass_time;
    analyzer_alerts_record(a->alerts, rec, NULL);
    if (pass_time >= 0) {
        /* The pass's figures are written at its time, or just after the newest sample when
         * event time already moved past it (RRD times only grow). */
        time_t t = (rec->ts_ms != RECORD_UNSET && rec->ts_ms / 1000 > pass_time)
                       ? (time_t)(rec->ts_ms / 1000)
                       : pass_time;
        t = t > a->last_sample ? t : a->last_sample + 1;
        /* A pass changes its own scope only: the others keep the figures of their last
         * sample unless events or pass-less records changed them since. */
        if (a->live_changed || !rec->scope)
            sample_all(a, t);
        else
            sample_scope(a, rec->scope, t);
    } else if (rec->type == RECORD_EVENT ||
               (rec->type != RECORD_PASS_BEGIN && rec->type != RECORD_PASS_END && !rec->pass_id)) {
        a->live_changed = true;
    }
    track_scope(a, topic, rkm->partition, rec);
    a->stats.applied++;
}

static void pending_free(void *item)
{
    struct pending *pm = item;
    if (!pm)
        return;
    kafka_message_free(pm->rkm);
    record_free(pm->rec);
    free(pm->err);
    free(pm);
}

/* Takes a polled message (stolen) into the batch being collected, to be decoded beside the
 * loop (recv_start()) unless the loaded snapshot already has it. */
static void receive_message(analyzer_t *a, rd_kafka_message_t *rkm)
{
    struct recv_batch *b = &a->recv[a->cur];
    const struct part *p = part_get(a, rd_kafka_topic_name(rkm->rkt), rkm->partition);
    a->stats.messages++;
    b->rkm[b->n] = rkm;
    b->it[b->n] = (struct decoder_item){
        .payload = rkm->payload, .len = rkm->len, .skip = p->next >= 0 && rkm->offset < p->next};
    b->n++;
}

/* Queues a decoded batch in the event-time merge in poll order; a message already in the
 * loaded snapshot only moves its partition's position. */
static void recv_queue(analyzer_t *a, struct recv_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        rd_kafka_message_t *rkm = b->rkm[i];
        const struct decoder_item *it = &b->it[i];
        const char *topic = rd_kafka_topic_name(rkm->rkt);
        if (it->skip) {
            a->stats.skipped++;
            ordered_skip(a->ord, topic, rkm->partition, rkm->offset);
            kafka_message_free(rkm);
            continue;
        }
        struct pending *pm = xmalloc(sizeof *pm);
        *pm = (struct pending){.rkm = rkm, .rec = it->rec, .rc = it->rc, .err = it->err};
        int64_t t = pm->rc < 0 ? RECORD_UNSET : record_event_ms(pm->rec);
        ordered_push(a->ord, topic, rkm->partition, rkm->offset,
                     t == RECORD_UNSET ? ORDERED_TIME_UNSET : t, pm, log_now_ms());
    }
    b->n = 0;
}

/* Messages polled and not queued in the merge yet. */
static size_t recv_pending(const analyzer_t *a)
{
    return a->recv[a->cur].n + (decoder_busy(a->dec) ? a->recv[a->cur ^ 1].n : 0);
}

/* Takes the batch out with the decoder back, waiting for it, and queues it. */
static void recv_finish(analyzer_t *a)
{
    if (!decoder_busy(a->dec))
        return;
    decoder_wait(a->dec);
    a->recv[a->cur ^ 1].ntrash = 0; /* freed by the decoder */
    recv_queue(a, &a->recv[a->cur ^ 1]);
}

/* Queues the batch out with the decoder (the last turn's) and hands it the one collected,
 * which is decoded while this turn applies and the next one polls. While that batch is not
 * decoded yet and the last turn applied records with more queued, the loop goes on applying
 * instead of waiting for it, and the batch being collected grows, up to RECV_BATCH. */
static void recv_start(analyzer_t *a)
{
    struct recv_batch *b = &a->recv[a->cur];
    if (b->n < RECV_BATCH && a->applied_turn > 0 && ordered_buffered(a->ord) > 0 &&
        !decoder_done(a->dec))
        return;
    recv_finish(a);
    if (b->n == 0 && b->ntrash == 0)
        return;
    decoder_start(a->dec, b->it, b->n, b->trash, b->ntrash, pending_free);
    a->cur ^= 1;
}

/* Takes a message that was applied (stolen): freed beside the loop with the next batch. */
static void recv_dispose(analyzer_t *a, struct pending *pm)
{
    struct recv_batch *b = &a->recv[a->cur];
    b->trash = xgrow(b->trash, &b->captrash, b->ntrash + 1, sizeof *b->trash);
    b->trash[b->ntrash++] = pm;
}

/* Queues every message polled so far in poll order, the batch out with the decoder first,
 * then the one being collected (decoded here): for what must see them all in the merge
 * first, a rebalance (a revoke drops the queued messages of its partitions) and the end of
 * the loop. Returns how many were queued. */
static size_t recv_drain(analyzer_t *a)
{
    size_t n = recv_pending(a);
    recv_finish(a);
    struct recv_batch *b = &a->recv[a->cur];
    for (size_t i = 0; i < b->n; i++)
        decoder_decode(&b->it[i]);
    recv_queue(a, b);
    for (size_t i = 0; i < b->ntrash; i++)
        pending_free(b->trash[i]);
    b->ntrash = 0;
    return n;
}

/* Frees the messages polled and not queued (analyzer_free()). */
static void recv_free(analyzer_t *a)
{
    if (a->dec && decoder_busy(a->dec)) {
        decoder_wait(a->dec);
        a->recv[a->cur ^ 1].ntrash = 0; /* freed by the decoder */
    }
    for (size_t k = 0; k < 2; k++) {
        struct recv_batch *b = &a->recv[k];
        for (size_t i = 0; i < b->n; i++) {
            record_free(b->it[i].rec);
            free(b->it[i].err);
            kafka_message_free(b->rkm[i]);
        }
        b->n = 0;
        for (size_t i = 0; i < b->ntrash; i++)
            pending_free(b->trash[i]);
        free(b->trash);
        b->trash = NULL;
        b->ntrash = b->captrash = 0;
    }
}

/* Applies a message whose turn came; its offset is then covered by the next checkpoint. */
static void handle_message(analyzer_t *a, const struct pending *pm)
{
    const rd_kafka_message_t *rkm = pm->rkm;
    struct part *p = part_get(a, rd_kafka_topic_name(rkm->rkt), rkm->partition);
    if (p->next >= 0 && rkm->offset < p->next)
        return; /* an adopted partition state covers it */
    if (pm->rc < 0)
        dead_letter(a, rkm, deadletter_code(pm->rc), pm->err);
    else
        apply_record(a, rkm, pm->rec);
    p->next = rkm->offset + 1;
    if (a->unsaved++ == 0)
        a->first_unsaved_ms = log_now_ms();
}

/* Applies the queued messages whose turn came, at most APPLY_BATCH. */
static void apply_ready(analyzer_t *a, int64_t now)
{
    size_t n = 0;
    for (; n < APPLY_BATCH && !a->fatal && !a->paused && !a->held; n++) {
        struct pending *pm = ordered_pop(a->ord, now, NULL, NULL, NULL);
        if (!pm)
            break;
        handle_message(a, pm);
        recv_dispose(a, pm);
    }
    a->applied_turn = n;
    struct ordered_stats os;
    ordered_get_stats(a->ord, &os);
    a->stats.order_backlog_timeouts = os.backlog_timeouts;
    a->stats.order_unknown_timeouts = os.unknown_timeouts;
    a->stats.order_buffer_full = os.buffer_full;
}

/* Tells the alert rules whether the consumer is caught up (live conditions such as a stale
 * collector are judged only then), at most every POLL_MS. */
static void tell_caught_up(analyzer_t *a, int64_t now)
{
    if (now - a->lag_checked_ms < POLL_MS && now >= a->lag_checked_ms)
        return;
    a->lag_checked_ms = now;
    int64_t lag = a->lag = ordered_lag(a->ord, now);
    analyzer_alerts_set_caught_up(a->alerts, a->assigned_once && lag >= 0 && lag <= LIVE_LAG);
}

/* Watermarks librdkafka last saw, for the merge (no broker round trip). */
static int cached_ends(void *ctx, const char *topic, int32_t partition, int64_t *lo, int64_t *hi)
{
    analyzer_t *a = ctx;
    int64_t l = -1, h = -1;
    if (rd_kafka_get_watermark_offsets(kafka_consumer_handle(a->consumer), topic, partition, &l,
                                       &h) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -ENOENT;
    *lo = l < 0 ? -1 : l;
    *hi = h < 0 ? -1 : h;
    return 0;
}

/* ---- partition state (scale-out, analyzer/partstate.h) ----------------------------- */

struct scope_sel {
    const analyzer_t *a;
    int32_t partition;
    const json_t *also; /* array of extra scope ids to select; may be NULL */
};

/* Selects what belongs to inventory partition sel->partition. */
static bool in_partition(void *ctx, const char *scope)
{
    const struct scope_sel *sel = ctx;
    if (partstate_scope_partition(sel->a->scope_parts, scope) == sel->partition)
        return true;
    size_t i;
    json_t *v;
    json_array_foreach(sel->also, i, v) if (strcmp(json_string_value(v), scope) == 0) return true;
    return false;
}

/* Publishes the state of every assigned inventory partition (before any commit). */
static int publish_states(analyzer_t *a, char *err, size_t errlen)
{
    for (size_t i = 0; i < a->nparts; i++) {
        const struct part *p = &a->parts[i];
        if (!p->assigned || p->next < 0 || strcmp(p->topic, a->cfg->topics.inventory) != 0)
            continue;
        struct scope_sel sel = {a, p->partition, NULL};
        struct partstate ps = {
            .partition = p->partition, .next = p->next, .written_ms = log_now_ms()};
        ps.model = model_export_scopes(a->model, in_partition, &sel, &ps.model_len);
        if (!ps.model) {
            set_err(err, errlen, "partition %d: a stored record does not encode",
                    (int)p->partition);
            return -EINVAL;
        }
        ps.owner = xstrdup(a->cfg->analyzer.state_dir);
        ps.scopes = json_array();
        const char *scope;
        json_t *v;
        json_object_foreach(a->scope_parts, scope, v) if (json_integer_value(v) == p->partition)
            json_array_append_new(ps.scopes, json_string(scope));
        ps.alerts = analyzer_alerts_export(a->alerts, in_partition, &sel);
        int rc = partstate_publish(a->ps, &ps, PARTSTATE_MS, err, errlen);
        partstate_clear(&ps);
        if (rc < 0)
            return rc;
    }
    a->ps_alert_changes = analyzer_alerts_changes(a->alerts);
    return 0;
}

/* Forgets the scopes of inventory partition `partition` (and `also`) and their alerts. */
static void forget_partition(analyzer_t *a, int32_t partition, const json_t *also)
{
    struct scope_sel sel = {a, partition, also};
    if (a->ps)
        analyzer_alerts_forget(a->alerts, in_partition, &sel);
    const char *scope;
    json_t *v, *tmp;
    json_object_foreach_safe(a->scope_parts, tmp, scope, v)
    {
        if (!in_partition(&sel, scope))
            continue;
        model_drop_scope(a->model, scope);
        analyzer_metrics_drop_scope(a->am, scope);
        json_object_del(a->scope_parts, scope);
    }
    size_t i;
    json_array_foreach(also, i, v)
    {
        model_drop_scope(a->model, json_string_value(v));
        analyzer_metrics_drop_scope(a->am, json_string_value(v));
    }
}

/* Adopts the latest published state of inventory partition `partition`, if any. */
static void adopt_state(analyzer_t *a, int32_t partition, const char *text)
{
    struct partstate ps;
    char err[512];
    if (partstate_decode(text, strlen(text), &ps, err, sizeof err) < 0 ||
        ps.partition != partition) {
        LOG_WARN("state of %s [%d] not adopted: %s", a->cfg->topics.inventory, (int)partition,
                 ps.partition != partition ? "it names another partition" : err);
        partstate_clear(&ps);
        return;
    }
    forget_partition(a, partition, ps.scopes);
    if (model_import_scopes(a->model, ps.model, ps.model_len, err, sizeof err) < 0)
        LOG_ERR("state of %s [%d]: %s; its scopes come back with the next pass",
                a->cfg->topics.inventory, (int)partition, err);
    if (analyzer_alerts_adopt(a->alerts, ps.alerts, err, sizeof err) < 0)
        LOG_ERR("state of %s [%d]: %s", a->cfg->topics.inventory, (int)partition, err);
    size_t i;
    json_t *v;
    json_array_foreach(ps.scopes, i, v)
        json_object_set_new(a->scope_parts, json_string_value(v), json_integer(partition));
    struct part *p = part_get(a, a->cfg->topics.inventory, partition);
    p->next = ps.next;
    p->saved = -1;
    if (a->unsaved++ == 0) /* the adopted state goes into the next local checkpoint */
        a->first_unsaved_ms = log_now_ms();
    a->live_changed = true; /* the next pass samples every scope, the adopted ones too */
    LOG_INFO("adopted the state of %s [%d] from %s: %zu scopes, offset %lld",
             a->cfg->topics.inventory, (int)partition, ps.owner, json_array_size(ps.scopes),
             (long long)ps.next);
    partstate_clear(&ps);
}

/* After an assignment: the assigned inventory partitions take their published state; the
 * scopes of inventory partitions not assigned to us are dropped (their owner has them). */
static void adopt_assigned(analyzer_t *a)
{
    int32_t *mine = xcalloc(a->nparts + 1, sizeof *mine);
    size_t n = 0;
    for (size_t i = 0; i < a->nparts; i++)
        if (a->parts[i].assigned && strcmp(a->parts[i].topic, a->cfg->topics.inventory) == 0)
            mine[n++] = a->parts[i].partition;
    json_t *latest = NULL;
    char err[512];
    if (partstate_fetch(a->ps, mine, n, PARTSTATE_MS, &latest, err, sizeof err) < 0) {
        /* Without the state, the local model stands; the next complete passes correct it. */
        LOG_ERR("partition state not read (%s): going on with the local state", err);
        latest = json_object();
    }
    for (size_t i = 0; i < n; i++) {
        char key[PARTSTATE_KEY_MAX];
        partstate_key(mine[i], key, sizeof key);
        json_t *v = json_object_get(latest, key);
        if (v)
            adopt_state(a, mine[i], json_string_value(v));
    }
    /* Scopes (and global alerts) of partitions that are not ours. */
    const char *scope;
    json_t *v, *tmp;
    json_t *gone = json_array();
    json_object_foreach_safe(a->scope_parts, tmp, scope, v)
    {
        bool ours = false;
        for (size_t i = 0; i < n; i++)
            ours = ours || json_integer_value(v) == mine[i];
        if (!ours)
            json_array_append_new(gone, json_integer(json_integer_value(v)));
    }
    bool have0 = false;
    for (size_t i = 0; i < n; i++)
        have0 = have0 || mine[i] == 0;
    if (!have0)
        json_array_append_new(gone, json_integer(0));
    size_t i;
    json_array_foreach(gone, i, v) forget_partition(a, (int32_t)json_integer_value(v), NULL);
    json_decref(gone);
    json_decref(latest);
    free(mine);
}

/* ---- checkpoint --------------------------------------------------------------------- */

/* Commits the saved offsets of the assigned partitions that moved since their last commit,
 * all in one request: one broker round trip a checkpoint, whatever the partition count. A
 * partition whose commit failed stays pending (retried by the next loop turns); the others
 * count as committed. */
static int commit_offsets(analyzer_t *a)
{
    struct kafka_commit *offs = xcalloc(a->nparts + 1, sizeof *offs);
    struct part **which = xcalloc(a->nparts + 1, sizeof *which);
    size_t n = 0;
    for (size_t i = 0; i < a->nparts; i++) {
        struct part *p = &a->parts[i];
        if (p->saved < 0 || p->saved <= p->committed || !p->assigned)
            continue;
        offs[n] = (struct kafka_commit){
            .topic = p->topic, .partition = p->partition, .next_offset = p->saved};
        which[n++] = p;
    }
    int rc = kafka_consumer_commit_offsets(a->consumer, offs, n);
    for (size_t i = 0; i < n; i++)
        if (offs[i].err == 0)
            which[i]->committed = offs[i].next_offset;
    free(offs);
    free(which);
    a->commit_pending = rc < 0;
    return rc;
}

/* After a completed checkpoint: older journal keys may drop; the bounds' counters. */
static void note_bounds(analyzer_t *a)
{
    journal_checkpointed(a->journal);
    struct journal_key_stats ks;
    journal_get_key_stats(a->journal, &ks);
    struct eventwin_stats es;
    model_get_event_window(a->model, &es);
    a->stats.event_ids = es.ids;
    a->stats.events_unchecked = es.unchecked;
    a->stats.journal_keys = ks.keys;
    a->stats.journal_key_window_overflows = ks.window_overflows;
}

/* Makes everything applied so far durable, then commits. Returns 0 or -errno (logged). */
static int checkpoint(analyzer_t *a)
{
    char err[512] = "";
    int rc;
    const char *what;
    if (a->fatal)
        return a->fatal;
    if (a->unsaved == 0) {
        what = "alert state";
        /* Held notifications are spooled again; changes of the ticks are saved as the
         * current generation's (no record was applied since it). */
        if ((rc = analyzer_alerts_checkpoint(a->alerts, a->gen, err, sizeof err)) < 0)
            goto fail;
        if (a->ps && analyzer_alerts_changes(a->alerts) != a->ps_alert_changes) {
            /* Alert transitions without new records: the partition state must carry them. */
            what = "partition state";
            if ((rc = analyzer_alerts_checkpoint(a->alerts, a->gen, err, sizeof err)) < 0 ||
                (rc = publish_states(a, err, sizeof err)) < 0)
                goto fail;
        }
        a->ckpt_failing = false;
        return a->commit_pending ? commit_offsets(a) : 0;
    }
    if (a->rrd_err) {
        /* A sample was lost: only a replay from the last checkpoint can write it. */
        a->fatal = a->rrd_err;
        LOG_ERR("an RRD update failed; stopping without a commit so that a restart replays "
                "from checkpoint %llu",
                (unsigned long long)a->gen);
        return a->fatal;
    }
    what = "alert state"; /* the new generation's: a restart from the old one picks its own */
    if ((rc = analyzer_alerts_checkpoint(a->alerts, a->gen + 1, err, sizeof err)) < 0) {
        if (analyzer_alerts_failed(a->alerts))
            a->fatal = rc; /* only a replay from the last checkpoint emits it again */
        goto fail;
    }
    what = "dead-letter delivery";
    if ((rc = dl_settle(a)) < 0) {
        set_err(err, sizeof err, "%zu dead letters not delivered to %s", a->ndls,
                a->cfg->topics.deadletter);
        goto fail;
    }
    what = "RRD flush";
    if ((rc = rrd_store_flush(a->rrd)) < 0) {
        set_err(err, sizeof err, "%s", rrd_store_error(a->rrd));
        goto fail;
    }
    what = "journal sync";
    if ((rc = journal_sync(a->journal)) < 0) {
        set_err(err, sizeof err, "%s: %s", a->cfg->journal.dir, strerror(-rc));
        if (rc == -EIO) {
            /* The journal can no longer be trusted after a failed fsync; a restart reopens
             * it and replays from the last checkpoint. */
            a->fatal = rc;
        }
        goto fail;
    }
    what = "partition state";
    if (a->ps && (rc = publish_states(a, err, sizeof err)) < 0)
        goto fail;
    what = "model snapshot";
    char path[PATH_MAX], old[PATH_MAX];
    uint64_t gen = a->gen + 1;
    if ((rc = snap_path(a, gen, path, sizeof path)) < 0 ||
        (rc = snap_path(a, a->gen, old, sizeof old)) < 0) {
        set_err(err, sizeof err, "path too long");
        goto fail;
    }
    int64_t snap_start_ms = log_now_ms();
    if ((rc = model_save(a->model, path, err, sizeof err)) < 0)
        goto fail;
    what = "checkpoint file";
    char *text = checkpoint_text(a, gen);
    rc = write_atomic(a->cfg->analyzer.state_dir, a->ckpt_path, text, err, sizeof err);
    free(text);
    if (rc < 0) {
        unlink(path);
        goto fail;
    }
    if (a->gen > 0)
        unlink(old);
    a->gen = gen;
    a->ckpt_cost_ms = log_now_ms() - snap_start_ms;
    for (size_t i = 0; i < a->nparts; i++)
        a->parts[i].saved = a->parts[i].next;
    a->unsaved = 0;
    a->stats.checkpoints++;
    a->ckpt_failing = false;
    a->saved_effects = a->stats.effects;
    note_bounds(a);
    if (a->ckpt_complain.failing)
        log_relief(&a->ckpt_complain, LOG_MODULE, "checkpoint %llu written; committing again",
                   (unsigned long long)gen);
    commit_offsets(a);
    return 0;
fail:
    a->ckpt_failing = true;
    a->stats.checkpoint_failures++;
    log_complain(&a->ckpt_complain, LOG_LEVEL_ERR, LOG_MODULE,
                 "checkpoint failed (%s: %s); offsets are not committed, retrying", what, err);
    return rc < 0 ? rc : -EIO;
}

static void set_paused(analyzer_t *a, bool pause)
{
    if (a->paused == pause)
        return;
    rd_kafka_t *rk = kafka_consumer_handle(a->consumer);
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(rk, &parts) == RD_KAFKA_RESP_ERR_NO_ERROR && parts) {
        if (pause)
            rd_kafka_pause_partitions(rk, parts);
        else
            rd_kafka_resume_partitions(rk, parts);
        rd_kafka_topic_partition_list_destroy(parts);
    }
    a->paused = pause;
    LOG_INFO("consumption %s", pause ? "paused until a checkpoint succeeds" : "resumed");
}

/* Pauses the assignment while the caller holds consumption; when it lets go, reads the
 * high watermarks from the brokers for the merge and resumes. A partition that delivered
 * nothing yet (a topic the caller just filled) gets its start too: the group's committed
 * offset, else the one auto.offset.reset gives (kafka_consumer_starts()), so the merge
 * knows its backlog and waits for it ([analyzer] order_wait). */
static void set_held(analyzer_t *a, bool hold)
{
    rd_kafka_t *rk = kafka_consumer_handle(a->consumer);
    rd_kafka_topic_partition_list_t *parts = NULL;
    if (rd_kafka_assignment(rk, &parts) != RD_KAFKA_RESP_ERR_NO_ERROR || !parts)
        return;
    if (hold) {
        rd_kafka_pause_partitions(rk, parts);
    } else {
        struct kafka_start *st = xcalloc((size_t)parts->cnt + 1, sizeof *st);
        char text[256];
        if (kafka_consumer_starts(a->consumer, parts, PARTSTATE_MS, st, text, sizeof text) < 0)
            LOG_WARN("where the assigned partitions start is not fully known (%s)", text);
        for (int i = 0; i < parts->cnt; i++) {
            if (st[i].hi >= 0)
                ordered_note_end(a->ord, st[i].topic, st[i].partition, st[i].hi);
            const struct part *p = part_find(a, st[i].topic, st[i].partition);
            if (p && p->next < 0 && st[i].start >= 0)
                ordered_assign(a->ord, st[i].topic, st[i].partition, st[i].start, log_now_ms());
        }
        kafka_starts_clear(st, (size_t)parts->cnt);
        free(st);
        if (!a->paused)
            rd_kafka_resume_partitions(rk, parts);
    }
    rd_kafka_topic_partition_list_destroy(parts);
    a->held = hold;
    LOG_DEBUG("consumption %s by the caller", hold ? "held" : "released");
}

/* Asks the brokers, off the loop (kafka_starts_begin()), where the partitions assigned
 * since the last question start and end, and hands each answer to the merge: in a fresh
 * group a partition's position is not known until its first record arrives, and without
 * the answer a slow first fetch would let the other partitions' later records go first.
 * Called every loop turn; one question at a time. */
static void learn_starts(analyzer_t *a)
{
    if (a->starts && kafka_starts_done(a->starts)) {
        const struct kafka_start *st;
        size_t n;
        char text[256];
        if (kafka_starts_result(a->starts, &st, &n, text, sizeof text) < 0)
            LOG_WARN("where %zu assigned partitions start is not fully known (%s): a partition "
                     "still unknown is waited for at most %d ms until its first record",
                     n, text, ORDERED_MAX_IDLE_MS);
        for (size_t i = 0; i < n; i++) {
            LOG_DEBUG("%s [%d] starts at offset %lld, ends at %lld", st[i].topic,
                      (int)st[i].partition, (long long)st[i].start, (long long)st[i].hi);
            ordered_learn(a->ord, st[i].topic, st[i].partition, st[i].start, st[i].hi);
        }
        kafka_starts_free(a->starts);
        a->starts = NULL;
    }
    if (!a->starts && a->starts_wanted) {
        a->starts = kafka_starts_begin(a->consumer, a->starts_wanted, STARTS_MS);
        rd_kafka_topic_partition_list_destroy(a->starts_wanted);
        a->starts_wanted = NULL;
    }
}

/* ---- rebalance ---------------------------------------------------------------------- */

static void drop_partition_scopes(analyzer_t *a, const char *topic, int32_t partition)
{
    if (strcmp(topic, a->cfg->topics.inventory) != 0)
        return;
    const char *scope;
    json_t *v, *tmp;
    json_object_foreach_safe(a->scope_parts, tmp, scope, v)
    {
        if (json_integer_value(v) != partition)
            continue;
        LOG_INFO("scope %s left with %s [%d]: dropped from the model", scope, topic,
                 (int)partition);
        model_drop_scope(a->model, scope);
        analyzer_metrics_drop_scope(a->am, scope);
        json_object_del(a->scope_parts, scope);
    }
}

/* After an assignment without a state topic: partitions kept since they were lost and not
 * given back are another analyzer's now; their scopes leave the model. */
static void drop_unassigned(analyzer_t *a)
{
    for (size_t i = a->nparts; i-- > 0;) {
        struct part *p = &a->parts[i];
        if (p->assigned || !p->kept) {
            p->kept = false;
            continue;
        }
        drop_partition_scopes(a, p->topic, p->partition);
        part_remove(a, p);
    }
}

static void on_rebalance(void *ctx, enum kafka_rebalance event,
                         const rd_kafka_topic_partition_list_t *parts)
{
    analyzer_t *a = ctx;
    /* It runs inside a poll: what was polled before it goes into the merge first. */
    size_t queued = recv_drain(a);
    if (queued > 0)
        LOG_INFO("rebalance: the %zu messages polled before it queued first", queued);
    if (event == KAFKA_ASSIGN) {
        for (int i = 0; i < parts->cnt; i++)
            part_get(a, parts->elems[i].topic, parts->elems[i].partition)->assigned = true;
        if (a->ps)
            adopt_assigned(a);
        else
            drop_unassigned(a);
        if (!a->starts_wanted)
            a->starts_wanted = rd_kafka_topic_partition_list_new(parts->cnt);
        for (int i = 0; i < parts->cnt; i++) {
            const char *topic = parts->elems[i].topic;
            int32_t partition = parts->elems[i].partition;
            ordered_assign(a->ord, topic, partition, part_get(a, topic, partition)->next,
                           log_now_ms());
            ordered_expect(a->ord, topic, partition); /* learn_starts() asks */
            rd_kafka_topic_partition_list_add(a->starts_wanted, topic, partition);
        }
        a->assigned_once = true;
        a->quiet_ms = 0;
        a->paused = false; /* a new assignment starts unpaused */
        a->reassigned = true;
        return;
    }
    if (event == KAFKA_REVOKE)
        checkpoint(a);
    if (a->paused) {
        /* librdkafka keeps an application pause across revoke and assign: a partition that
         * leaves paused would come back paused, while a new assignment starts unpaused. */
        rd_kafka_topic_partition_list_t *copy = rd_kafka_topic_partition_list_copy(parts);
        rd_kafka_resume_partitions(kafka_consumer_handle(a->consumer), copy);
        rd_kafka_topic_partition_list_destroy(copy);
    }
    for (int i = 0; i < parts->cnt; i++) {
        /* Queued but not applied: not covered by the checkpoint, fetched again later. */
        ordered_revoke(a->ord, parts->elems[i].topic, parts->elems[i].partition);
        struct part *p = part_find(a, parts->elems[i].topic, parts->elems[i].partition);
        if (!p)
            continue;
        p->assigned = false;
        /* Lost without a state topic (the session timed out, e.g. the brokers were down for
         * longer than session.timeout.ms): the scopes and the position stay until the next
         * assignment, which normally gives the partition back; messages below p->next are then
         * skipped as after loading a snapshot. drop_unassigned() forgets them otherwise. */
        if (event == KAFKA_LOST && !a->ps) {
            p->kept = true;
            continue;
        }
        if (a->ps && strcmp(p->topic, a->cfg->topics.inventory) == 0)
            forget_partition(a, p->partition, NULL);
        drop_partition_scopes(a, p->topic, p->partition);
        part_remove(a, p);
    }
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void add_prop(analyzer_t *a, size_t *cap, const char *key, const char *value,
                     const char *file, unsigned line)
{
    a->props = xgrow(a->props, cap, a->nprops + 1, sizeof *a->props);
    a->props[a->nprops++] = (struct config_kv){xstrdup(key), xstrdup(value), file, line};
}

analyzer_t *analyzer_new(const struct config *cfg, const struct analyzer_options *o, char *err,
                         size_t errlen)
{
    analyzer_t *a = xcalloc(1, sizeof *a);
    char text[512];
    int rc;
    a->cfg = cfg;
    a->o = *o;
    if (a->o.commit_records == 0)
        a->o.commit_records = ANALYZER_COMMIT_RECORDS;
    if (a->o.commit_interval_ms <= 0)
        a->o.commit_interval_ms = ANALYZER_COMMIT_INTERVAL_MS;
    a->step = (int)(cfg->rrd.step_ms / 1000);
    a->scope_parts = json_object();
    model_effects_init(&a->fx);
    a->started_ms = log_now_ms();

    if (!cfg->analyzer.state_dir || !cfg->journal.dir || !cfg->rrd.dir) {
        set_err(err, errlen, "[analyzer] state_dir, [journal] dir and [rrd] dir are required");
        goto fail;
    }
    if (a->step <= 0) {
        set_err(err, errlen, "[rrd] step must be at least 1s");
        goto fail;
    }
    if ((rc = mkdir_p(cfg->analyzer.state_dir)) < 0) {
        set_err(err, errlen, "state directory %s: %s", cfg->analyzer.state_dir, strerror(-rc));
        goto fail;
    }
    a->ckpt_path = xasprintf("%s/" CHECKPOINT_FILE, cfg->analyzer.state_dir);
    if (checkpoint_load(a, err, errlen) < 0)
        goto fail;
    a->journal = journal_open(cfg->journal.dir, cfg->journal.fsync, text, sizeof text);
    if (!a->journal) {
        set_err(err, errlen, "journal: %s", text);
        goto fail;
    }
    a->rrd = rrd_store_new(cfg->rrd.dir, a->step, cfg->rrd.daemon, text, sizeof text);
    if (!a->rrd) {
        set_err(err, errlen, "RRD store: %s", text);
        goto fail;
    }
    /* A stop asked while a checkpoint waits for an rrdcached that never answers ends that
     * wait as the final checkpoint's retries would (see analyzer_run()). */
    rrd_store_stop_when(a->rrd, a->o.stop, 10 * RETRY_MS);
    /* Before the Kafka clients: the sinks initialise libcurl. */
    a->alerts = analyzer_alerts_new(cfg, a->rrd, a->gen, text, sizeof text);
    if (!a->alerts) {
        set_err(err, errlen, "%s", text);
        goto fail;
    }

    /* Defaults first so that [kafka] and -X win: a new group starts at the beginning, and
     * the prefetch holds about a second of a backlog (ANALYZER_PREFETCH_KBYTES). */
    size_t cap = 0;
    add_prop(a, &cap, "group.id", cfg->analyzer.group_id, "[analyzer] group_id", 0);
    add_prop(a, &cap, "auto.offset.reset", "earliest", "(analyzer default)", 0);
    add_prop(a, &cap, "queued.min.messages", ANALYZER_PREFETCH_MESSAGES, "(analyzer default)", 0);
    add_prop(a, &cap, "queued.max.messages.kbytes", ANALYZER_PREFETCH_KBYTES, "(analyzer default)",
             0);
    for (size_t i = 0; i < cfg->n_kafka; i++)
        add_prop(a, &cap, cfg->kafka[i].key, cfg->kafka[i].value, cfg->kafka[i].file,
                 cfg->kafka[i].line);
    a->dlq = kafka_producer_new(cfg->kafka, cfg->n_kafka, on_dlq_delivery, a, text, sizeof text);
    if (!a->dlq) {
        set_err(err, errlen, "dead-letter producer: %s", text);
        goto fail;
    }
    if (cfg->analyzer.partition_state &&
        !(a->ps =
              partstate_io_new(cfg->kafka, cfg->n_kafka, cfg->topics.state, text, sizeof text))) {
        set_err(err, errlen, "%s", text);
        goto fail;
    }
    a->topics[a->ntopics++] = cfg->topics.inventory;
    if (strcmp(cfg->topics.events, cfg->topics.inventory) != 0)
        a->topics[a->ntopics++] = cfg->topics.events;
    a->ord = ordered_new(ORDERED_MAX_IDLE_MS, cfg->analyzer.order_wait_ms, 0, cached_ends, a,
                         pending_free);
    if (!(a->dec = decoder_new(text, sizeof text))) {
        set_err(err, errlen, "%s", text);
        goto fail;
    }
    a->consumer = kafka_consumer_new(a->props, a->nprops, a->topics, a->ntopics, on_rebalance, a,
                                     text, sizeof text);
    if (!a->consumer) {
        set_err(err, errlen, "%s", text);
        goto fail;
    }
    if (check_checkpoint_ends(a, text, sizeof text) < 0) {
        if (!o->new_topics) {
            set_err(err, errlen,
                    "%s: the topic was deleted and created again, or [kafka] bootstrap.servers "
                    "names another cluster; its messages below the offset would be skipped. "
                    "Correct bootstrap.servers, or, for topics that are new, move %s aside "
                    "and use a new [analyzer] group_id (the next start analyzes them from "
                    "their beginning)",
                    text, a->ckpt_path);
            goto fail;
        }
        LOG_WARN("the topics are new (embedded broker): starting with an empty model instead "
                 "of checkpoint %llu",
                 (unsigned long long)a->gen);
        checkpoint_forget(a);
    }
    metrics_t *mx = o->metrics;
    const char *listen_at =
        cfg->metrics.analyzer_listen ? cfg->metrics.analyzer_listen : cfg->metrics.listen;
    if (!mx && listen_at) {
        if (!(mx = a->own_mx = metrics_start(listen_at, text, sizeof text))) {
            set_err(err, errlen, "metrics: %s", text);
            goto fail;
        }
        LOG_INFO("metrics on http://%s/metrics", listen_at);
    }
    a->am = analyzer_metrics_new(mx);
    LOG_INFO("group %s on %s%s%s: checkpoint every %llu records or %lld ms", cfg->analyzer.group_id,
             a->topics[0], a->ntopics > 1 ? ", " : "", a->ntopics > 1 ? a->topics[1] : "",
             (unsigned long long)a->o.commit_records, (long long)a->o.commit_interval_ms);
    return a;
fail:
    analyzer_free(a);
    return NULL;
}

/* Assigned partitions. */
static size_t assigned_count(const analyzer_t *a)
{
    size_t n = 0;
    for (size_t i = 0; i < a->nparts; i++)
        n += a->parts[i].assigned;
    return n;
}

/* The --exit-when-idle decision at `now` (analyzer_idle.h). Logs why an idle run goes on
 * (once per reason and idle period) and why it ends. Returns true when the loop ends, with
 * *status set to -EIO when no partition was ever assigned. */
static bool idle_done(analyzer_t *a, int64_t now, int *status)
{
    int64_t idle = a->o.exit_when_idle_ms;
    if (idle <= 0)
        return false;
    struct analyzer_idle_inputs in = {.idle_ms = idle,
                                      .quiet_ms = a->quiet_ms,
                                      .since_start_ms = now - a->started_ms,
                                      .assigned_once = a->assigned_once,
                                      .checkpoint_failing = a->ckpt_failing,
                                      .commit_pending = a->commit_pending,
                                      .buffered = ordered_buffered(a->ord) + recv_pending(a),
                                      .lag = -1};
    /* The lag is asked only once idle (it reads every partition's watermarks), not at each
     * message; the decision looks at it only then. */
    if (a->assigned_once && a->quiet_ms >= idle)
        in.lag = ordered_lag(a->ord, now);
    enum analyzer_idle v = analyzer_idle_decide(&in);
    if (v == ANALYZER_IDLE_ACTIVE) {
        a->idle_logged = 0;
        return false;
    }
    if (!analyzer_idle_ends(v) && (a->idle_logged & (1u << v)))
        return false;
    a->idle_logged |= 1u << v;
    long long quiet = (long long)a->quiet_ms;
    long long stall_left = (long long)(idle + ANALYZER_IDLE_STALL_MS) - quiet;
    switch (v) {
    case ANALYZER_IDLE_ACTIVE:
        return false;
    case ANALYZER_IDLE_WAIT_CHECKPOINT:
        LOG_INFO("idle for %lld ms, but the last checkpoint failed: going on until one is "
                 "written (consumption is paused until then)",
                 quiet);
        return false;
    case ANALYZER_IDLE_WAIT_MERGE:
        LOG_INFO("idle for %lld ms, but %zu records wait in the event-time merge: going on "
                 "until they are applied",
                 quiet, in.buffered);
        return false;
    case ANALYZER_IDLE_WAIT_LAG:
        LOG_INFO("idle for %lld ms, but %lld messages are known to wait on the brokers (high "
                 "watermarks): going on until they arrive, at most %lld ms more while none does",
                 quiet, (long long)in.lag, stall_left);
        return false;
    case ANALYZER_IDLE_WAIT_UNKNOWN:
        LOG_INFO("idle for %lld ms, but the position or high watermark of an assigned "
                 "partition is not known: going on for at most %lld ms more",
                 quiet, (long long)(idle + ANALYZER_IDLE_UNKNOWN_MS) - quiet);
        return false;
    case ANALYZER_IDLE_WAIT_COMMIT:
        LOG_INFO("idle for %lld ms, but the offsets of checkpoint %llu are not committed yet: "
                 "retrying for at most %lld ms more",
                 quiet, (unsigned long long)a->gen, stall_left);
        return false;
    case ANALYZER_IDLE_NO_ASSIGNMENT:
        LOG_ERR("no partition was assigned within %lld ms; giving up",
                (long long)(idle + ANALYZER_IDLE_NO_ASSIGN_MS));
        *status = -EIO;
        return true;
    case ANALYZER_IDLE_EXIT_STALLED:
        if (in.lag > 0)
            LOG_WARN("%lld messages known to wait on the brokers did not arrive within %lld ms: "
                     "exiting without them (the next run in the group consumes them)",
                     (long long)in.lag, quiet);
        else
            LOG_WARN("the offsets of checkpoint %llu were not committed within %lld ms: "
                     "exiting (the final checkpoint tries once more)",
                     (unsigned long long)a->gen, quiet);
        break;
    case ANALYZER_IDLE_EXIT_UNKNOWN:
        LOG_WARN("the position or high watermark of an assigned partition is still not known "
                 "after %lld ms idle: exiting",
                 quiet);
        break;
    case ANALYZER_IDLE_EXIT:
        LOG_INFO("nothing new for %lld ms and nothing waiting (%zu assigned partitions consumed "
                 "to their high watermarks, none in the merge, no checkpoint failing): exiting",
                 quiet, assigned_count(a));
        break;
    }
    LOG_INFO("consumed %llu messages: %llu applied, %llu skipped (in the loaded snapshot), %llu "
             "dead letters",
             (unsigned long long)a->stats.messages, (unsigned long long)a->stats.applied,
             (unsigned long long)a->stats.skipped, (unsigned long long)a->stats.dead_letters);
    return true;
}

int analyzer_run(analyzer_t *a)
{
    int status = 0;
    char text[512];
    if (a->am) /* the pool gauges of a loaded snapshot, named as it names them */
        model_metrics_objects(a->model, NULL, analyzer_metrics_object, a->am);
    sdnotify_send("READY=1");
    while (!(a->o.stop && *a->o.stop) && !a->fatal) {
        rd_kafka_message_t *rkm = NULL;
        int64_t poll_ms = log_now_ms();
        int64_t wait = a->paused || a->held ? -1 : ordered_wait_ms(a->ord, poll_ms);
        int timeout = wait < 0 || wait > POLL_MS ? POLL_MS : (int)wait;
        if (decoder_busy(a->dec))
            timeout = 0; /* the last turn's batch is to be queued and applied */
        int rc = kafka_consumer_poll(a->consumer, timeout, &rkm);
        int64_t now = log_now_ms();
        if (!rkm) /* only waiting counts as idle time (analyzer_idle.h) */
            a->quiet_ms = analyzer_idle_waited(a->quiet_ms, now - poll_ms, timeout);
        /* What else arrived is taken without waiting, up to a batch: decoded beside the
         * rest of this turn and the next poll, then queued in the merge (recv_start()). */
        while (rc == 0 && rkm) {
            a->quiet_ms = 0;
            receive_message(a, rkm);
            rkm = NULL;
            if (a->recv[a->cur].n < RECV_BATCH)
                rc = kafka_consumer_poll(a->consumer, 0, &rkm);
        }
        if (rc < 0) {
            kafka_consumer_fatal(a->consumer, text, sizeof text);
            LOG_ERR("consumer failed: %s", text);
            status = -EIO;
            break;
        }
        recv_start(a);
        learn_starts(a);
        bool hold = a->o.hold && *a->o.hold != 0;
        if (a->assigned_once && (hold != a->held || (hold && a->reassigned))) {
            a->reassigned = false;
            set_held(a, hold);
        }
        if (a->held)
            a->quiet_ms = 0; /* waiting for the caller is not idleness */
        apply_ready(a, now);
        kafka_producer_poll(a->dlq, 0);
        tell_caught_up(a, now);
        analyzer_alerts_tick(a->alerts);
        if (analyzer_alerts_failed(a->alerts) && !a->fatal) {
            a->fatal = -EIO;
            LOG_ERR("an alert notification could neither be spooled nor held; stopping without "
                    "a commit so that a restart replays from checkpoint %llu",
                    (unsigned long long)a->gen);
            break;
        }
        /* A checkpoint writes the whole model: with a large one, checkpoints are spaced
         * so that writing it takes at most about a tenth of the time (the RRD flush and
         * the journal sync are the applied records' own work, due anyway), and while a
         * backlog is consumed they wait for its end, at most ANALYZER_BACKLOG_MAX_MS and
         * ANALYZER_BACKLOG_MAX_EFFECTS journal records. */
        bool backlog = a->lag > LIVE_LAG && now - a->first_unsaved_ms < ANALYZER_BACKLOG_MAX_MS &&
                       a->stats.effects - a->saved_effects < ANALYZER_BACKLOG_MAX_EFFECTS;
        bool due = ((a->unsaved >= a->o.commit_records ||
                     (a->unsaved > 0 && now - a->first_unsaved_ms >= a->o.commit_interval_ms)) &&
                    now - a->ckpt_end_ms >= 10 * a->ckpt_cost_ms && !backlog) ||
                   a->commit_pending || a->ckpt_failing || analyzer_alerts_pending(a->alerts) ||
                   (a->unsaved == 0 && analyzer_alerts_dirty(a->alerts)) ||
                   (a->ps && analyzer_alerts_changes(a->alerts) != a->ps_alert_changes);
        if (due && now >= a->retry_at_ms) {
            if (checkpoint(a) < 0) {
                a->retry_at_ms = now + RETRY_MS;
                set_paused(a, true);
            } else {
                a->ckpt_end_ms = log_now_ms();
                a->retry_at_ms = 0;
                if (a->paused) /* consumption resumes now: the pause was not idleness */
                    a->quiet_ms = 0;
                set_paused(a, false);
            }
        }
        if (a->am) {
            struct analyzer_metrics_state ms = {.stats = &a->stats,
                                                .rrd = a->rrd,
                                                .consumer = a->consumer,
                                                .alerts = a->alerts,
                                                .assigned_once = a->assigned_once,
                                                .paused = a->paused,
                                                .fatal = a->fatal};
            analyzer_metrics_tick(a->am, now, &ms);
        }
        if (idle_done(a, now, &status))
            break;
    }
    recv_drain(a); /* into the merge, which frees them */
    sdnotify_send("STOPPING=1");
    if (a->fatal) {
        LOG_ERR("stopping without a final commit: %s", strerror(-a->fatal));
        return a->fatal;
    }
    /* Final checkpoint; retried for a while when the disk or rrdcached is briefly away. An
     * rrdcached that accepts and never answers is given up when the retries end (not after its
     * 120 s socket timeout per command and try); the next start replays what it lacks. */
    rrd_store_stop_within(a->rrd, 10 * RETRY_MS);
    int rc = 0;
    for (int i = 0; i < 10; i++) {
        if ((rc = checkpoint(a)) == 0 || a->fatal)
            break;
        usleep(RETRY_MS * 1000);
    }
    if (rc < 0) {
        LOG_ERR("final checkpoint failed: the next start replays from checkpoint %llu",
                (unsigned long long)a->gen);
        status = rc;
    }
    kafka_starts_free(a->starts); /* it asks through the consumer */
    a->starts = NULL;
    kafka_consumer_close(a->consumer);
    LOG_INFO("stopped: %llu messages, %llu applied, %llu skipped, %llu dead letters, %llu "
             "journal records, %llu RRD samples, %llu checkpoints",
             (unsigned long long)a->stats.messages, (unsigned long long)a->stats.applied,
             (unsigned long long)a->stats.skipped, (unsigned long long)a->stats.dead_letters,
             (unsigned long long)a->stats.effects, (unsigned long long)a->stats.samples,
             (unsigned long long)a->stats.checkpoints);
    return status;
}

void analyzer_get_stats(const analyzer_t *a, struct analyzer_stats *out)
{
    *out = a->stats;
}

void analyzer_free(analyzer_t *a)
{
    if (!a)
        return;
    recv_free(a);         /* polled messages before their consumer */
    ordered_free(a->ord); /* its messages before their consumer */
    kafka_starts_free(a->starts);
    if (a->starts_wanted)
        rd_kafka_topic_partition_list_destroy(a->starts_wanted);
    kafka_consumer_free(a->consumer);
    decoder_free(a->dec); /* after the consumer: its close may still call on_rebalance() */
    kafka_producer_free(a->dlq);
    partstate_io_free(a->ps);
    analyzer_alerts_free(a->alerts);
    for (size_t i = 0; i < a->ndls; i++) {
        free(a->dls[i]->key);
        free(a->dls[i]->value);
        free(a->dls[i]);
    }
    free(a->dls);
    rrd_store_free(a->rrd);
    journal_close(a->journal);
    model_free(a->model);
    model_effects_clear(&a->fx);
    free(a->fx.items);
    for (size_t i = 0; i < a->nparts; i++)
        free(a->parts[i].topic);
    free(a->parts);
    for (size_t i = 0; i < a->nprops; i++) {
        free(a->props[i].key);
        free(a->props[i].value);
    }
    free(a->props);
    json_decref(a->scope_parts);
    free(a->ckpt_path);
    analyzer_metrics_free(a->am);
    metrics_free(a->own_mx);
    free(a);
}
