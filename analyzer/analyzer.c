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
#include "analyzer/deadletter.h"
#include "analyzer/journal.h"
#include "analyzer/model.h"
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
#define NO_ASSIGN_GRACE_MS 60000 /* idle exit without any assignment: idle + this */

/* One consumed partition. */
struct part {
    char *topic;
    int32_t partition;
    int64_t next;      /* next offset to apply; -1 unknown (take what Kafka gives) */
    int64_t saved;     /* next offset covered by the last checkpoint; -1 none */
    int64_t committed; /* next offset committed to the group; -1 none */
    bool assigned;
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

    struct part *parts;
    size_t nparts, capparts;
    json_t *scope_parts; /* scope id -> partition of the inventory topic holding it */
    uint64_t gen;        /* generation of the model snapshot on disk */
    time_t last_sample;  /* time of the last sample batch written; 0 none */
    int step;

    struct dead_letter **dls;
    size_t ndls, capdls;

    uint64_t unsaved; /* records applied since the last checkpoint */
    int64_t first_unsaved_ms;
    int64_t ckpt_cost_ms; /* duration of the last successful checkpoint */
    int64_t ckpt_end_ms;  /* when it ended */
    bool live_changed;    /* an event or pass-less record changed state since the last sample */
    bool commit_pending;  /* a checkpoint was saved but its commit failed */
    bool paused;
    int64_t retry_at_ms;
    bool assigned_once;
    int64_t last_activity_ms;
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
    *p = (struct part){xstrdup(topic), partition, -1, -1, -1, false};
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

static void on_metrics(void *ctx, const char *kind, const char *id, const char *scope_id,
                       const struct rrd_sample *s)
{
    struct sample_ctx *sc = ctx;
    analyzer_t *a = sc->a;
    analyzer_metrics_object(a->am, kind, id, scope_id, s);
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
    on_metrics(ctx, o->kind, o->id, o->scope_id, s);
    analyzer_alerts_object(sc->a->alerts, o, s);
}

/* Writes every object's current figures at `t` and remembers it. */
static void sample_all(analyzer_t *a, time_t t)
{
    struct sample_ctx sc = {a, t};
    analyzer_alerts_round_begin(a->alerts, t, true);
    model_metrics_objects(a->model, NULL, on_object, &sc);
    analyzer_alerts_round_end(a->alerts);
    a->last_sample = t;
    a->live_changed = false;
}

/* Writes the figures of one scope's objects at `t` (after a pass of that scope). */
static void sample_scope(analyzer_t *a, const char *scope_id, time_t t)
{
    struct sample_ctx sc = {a, t};
    analyzer_alerts_round_begin(a->alerts, t, false);
    model_metrics_objects(a->model, scope_id, on_object, &sc);
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

static void apply_record(analyzer_t *a, const rd_kafka_message_t *rkm, const struct record *rec)
{
    char err[512];
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    sample_before(a, record_event_ms(rec));
    analyzer_metrics_record(a->am, rec);
    model_effects_clear(&a->fx);
    int rc = model_apply(a->model, rec, &a->fx, err, sizeof err);
    if (rc < 0)
        dead_letter(a, rkm, "rejected", err);
    time_t pass_time = -1;
    for (size_t i = 0; i < a->fx.n; i++) {
        struct model_effect *e = &a->fx.items[i];
        int jrc = journal_append(a->journal, e->kind, e->key, e->event_time, e->data);
        if (jrc == -EINVAL) {
            log_complain(&a->apply_complain, LOG_LEVEL_WARN, LOG_MODULE,
                         "%s [%d] offset %lld: journal refused %s effect '%s'", topic,
                         (int)rkm->partition, (long long)rkm->offset, e->kind, e->key);
        } else if (jrc < 0) {
            LOG_ERR("journal append of %s '%s': %s", e->kind, e->key, strerror(-jrc));
            if (!a->fatal)
                a->fatal = jrc;
        } else {
            a->stats.effects++;
        }
        if (strcmp(e->kind, "pass") == 0)
            pass_time = e->event_time;
    }
    analyzer_alerts_record(a->alerts, rec, &a->fx);
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

static void handle_message(analyzer_t *a, const rd_kafka_message_t *rkm)
{
    const char *topic = rd_kafka_topic_name(rkm->rkt);
    struct part *p = part_get(a, topic, rkm->partition);
    a->stats.messages++;
    if (p->next >= 0 && rkm->offset < p->next) {
        a->stats.skipped++; /* already in the loaded snapshot */
        return;
    }
    struct record *rec = NULL;
    char err[512];
    int rc = record_decode(rkm->payload ? rkm->payload : "", rkm->len, &rec, err, sizeof err);
    if (rc < 0)
        dead_letter(a, rkm, deadletter_code(rc), err);
    else
        apply_record(a, rkm, rec);
    record_free(rec);
    p->next = rkm->offset + 1;
    if (a->unsaved++ == 0)
        a->first_unsaved_ms = log_now_ms();
}

/* ---- checkpoint --------------------------------------------------------------------- */

static int commit_offsets(analyzer_t *a)
{
    int rc = 0;
    for (size_t i = 0; i < a->nparts; i++) {
        struct part *p = &a->parts[i];
        if (p->saved < 0 || p->saved <= p->committed || !p->assigned)
            continue;
        if (kafka_consumer_commit(a->consumer, p->topic, p->partition, p->saved, true) < 0) {
            rc = -EIO;
            continue;
        }
        p->committed = p->saved;
    }
    a->commit_pending = rc < 0;
    return rc;
}

/* Makes everything applied so far durable, then commits. Returns 0 or -errno (logged). */
static int checkpoint(analyzer_t *a)
{
    char err[512] = "";
    int rc;
    const char *what;
    if (a->fatal)
        return a->fatal;
    if (a->unsaved == 0)
        return a->commit_pending ? commit_offsets(a) : 0;
    if (a->rrd_err) {
        /* A sample was lost: only a replay from the last checkpoint can write it. */
        a->fatal = a->rrd_err;
        LOG_ERR("an RRD update failed; stopping without a commit so that a restart replays "
                "from checkpoint %llu",
                (unsigned long long)a->gen);
        return a->fatal;
    }
    what = "alert state";
    if ((rc = analyzer_alerts_checkpoint(a->alerts, err, sizeof err)) < 0) {
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
        set_err(err, sizeof err, "%s", strerror(-rc));
        if (rc == -EIO) {
            /* The journal can no longer be trusted after a failed fsync; a restart reopens
             * it and replays from the last checkpoint. */
            a->fatal = rc;
        }
        goto fail;
    }
    what = "model snapshot";
    char path[PATH_MAX], old[PATH_MAX];
    uint64_t gen = a->gen + 1;
    if ((rc = snap_path(a, gen, path, sizeof path)) < 0 ||
        (rc = snap_path(a, a->gen, old, sizeof old)) < 0) {
        set_err(err, sizeof err, "path too long");
        goto fail;
    }
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
    for (size_t i = 0; i < a->nparts; i++)
        a->parts[i].saved = a->parts[i].next;
    a->unsaved = 0;
    a->stats.checkpoints++;
    if (a->ckpt_complain.failing)
        log_relief(&a->ckpt_complain, LOG_MODULE, "checkpoint %llu written; committing again",
                   (unsigned long long)gen);
    commit_offsets(a);
    return 0;
fail:
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

static void on_rebalance(void *ctx, enum kafka_rebalance event,
                         const rd_kafka_topic_partition_list_t *parts)
{
    analyzer_t *a = ctx;
    if (event == KAFKA_ASSIGN) {
        for (int i = 0; i < parts->cnt; i++)
            part_get(a, parts->elems[i].topic, parts->elems[i].partition)->assigned = true;
        a->assigned_once = true;
        a->last_activity_ms = log_now_ms();
        a->paused = false; /* a new assignment starts unpaused */
        return;
    }
    if (event == KAFKA_REVOKE)
        checkpoint(a);
    for (int i = 0; i < parts->cnt; i++) {
        struct part *p = part_find(a, parts->elems[i].topic, parts->elems[i].partition);
        if (!p)
            continue;
        p->assigned = false;
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
    a->started_ms = a->last_activity_ms = log_now_ms();

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
    /* Before the Kafka clients: the sinks initialise libcurl. */
    a->alerts = analyzer_alerts_new(cfg, a->rrd, text, sizeof text);
    if (!a->alerts) {
        set_err(err, errlen, "%s", text);
        goto fail;
    }

    /* Defaults first so that [kafka] and -X win: a new group starts at the beginning. */
    size_t cap = 0;
    add_prop(a, &cap, "group.id", cfg->analyzer.group_id, "[analyzer] group_id", 0);
    add_prop(a, &cap, "auto.offset.reset", "earliest", "(analyzer default)", 0);
    for (size_t i = 0; i < cfg->n_kafka; i++)
        add_prop(a, &cap, cfg->kafka[i].key, cfg->kafka[i].value, cfg->kafka[i].file,
                 cfg->kafka[i].line);
    a->dlq = kafka_producer_new(cfg->kafka, cfg->n_kafka, on_dlq_delivery, a, text, sizeof text);
    if (!a->dlq) {
        set_err(err, errlen, "dead-letter producer: %s", text);
        goto fail;
    }
    a->topics[a->ntopics++] = cfg->topics.inventory;
    if (strcmp(cfg->topics.events, cfg->topics.inventory) != 0)
        a->topics[a->ntopics++] = cfg->topics.events;
    a->consumer = kafka_consumer_new(a->props, a->nprops, a->topics, a->ntopics, on_rebalance, a,
                                     text, sizeof text);
    if (!a->consumer) {
        set_err(err, errlen, "%s", text);
        goto fail;
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

static bool idle_expired(analyzer_t *a, int64_t now)
{
    if (a->o.exit_when_idle_ms <= 0)
        return false;
    if (!a->assigned_once)
        return now - a->started_ms >= a->o.exit_when_idle_ms + NO_ASSIGN_GRACE_MS;
    return now - a->last_activity_ms >= a->o.exit_when_idle_ms;
}

int analyzer_run(analyzer_t *a)
{
    int status = 0;
    char text[512];
    if (a->am) /* the pool gauges of a loaded snapshot */
        model_metrics(a->model, analyzer_metrics_object, a->am);
    sdnotify_send("READY=1");
    while (!(a->o.stop && *a->o.stop) && !a->fatal) {
        rd_kafka_message_t *rkm = NULL;
        int rc = kafka_consumer_poll(a->consumer, POLL_MS, &rkm);
        int64_t now = log_now_ms();
        if (rc < 0) {
            kafka_consumer_fatal(a->consumer, text, sizeof text);
            LOG_ERR("consumer failed: %s", text);
            status = -EIO;
            break;
        }
        if (rkm) {
            a->last_activity_ms = now;
            handle_message(a, rkm);
            kafka_message_free(rkm);
        }
        kafka_producer_poll(a->dlq, 0);
        analyzer_alerts_tick(a->alerts);
        if (analyzer_alerts_failed(a->alerts) && !a->fatal) {
            a->fatal = -EIO;
            LOG_ERR("an alert notification could not be spooled; stopping without a commit so "
                    "that a restart replays from checkpoint %llu",
                    (unsigned long long)a->gen);
            break;
        }
        /* A checkpoint writes the whole model: with a large one, checkpoints are spaced
         * so that they take at most about a tenth of the time. */
        bool due = ((a->unsaved >= a->o.commit_records ||
                     (a->unsaved > 0 && now - a->first_unsaved_ms >= a->o.commit_interval_ms)) &&
                    now - a->ckpt_end_ms >= 10 * a->ckpt_cost_ms) ||
                   a->commit_pending;
        if (due && now >= a->retry_at_ms) {
            if (checkpoint(a) < 0) {
                a->retry_at_ms = now + RETRY_MS;
                set_paused(a, true);
            } else {
                a->ckpt_end_ms = log_now_ms();
                a->ckpt_cost_ms = a->ckpt_end_ms - now;
                a->retry_at_ms = 0;
                set_paused(a, false);
            }
        }
        if (a->am) {
            struct analyzer_metrics_state ms = {.stats = &a->stats,
                                                .rrd = a->rrd,
                                                .consumer = a->consumer,
                                                .assigned_once = a->assigned_once,
                                                .paused = a->paused,
                                                .fatal = a->fatal};
            analyzer_metrics_tick(a->am, now, &ms);
        }
        if (idle_expired(a, now)) {
            if (!a->assigned_once) {
                LOG_ERR("no partition was assigned within %lld ms; giving up",
                        (long long)(a->o.exit_when_idle_ms + NO_ASSIGN_GRACE_MS));
                status = -EIO;
            } else {
                LOG_INFO("nothing new for %lld ms: exiting", (long long)a->o.exit_when_idle_ms);
            }
            break;
        }
    }
    sdnotify_send("STOPPING=1");
    if (a->fatal) {
        LOG_ERR("stopping without a final commit: %s", strerror(-a->fatal));
        return a->fatal;
    }
    /* Final checkpoint; retried for a while when the disk or rrdcached is briefly away. */
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
    kafka_consumer_free(a->consumer);
    kafka_producer_free(a->dlq);
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
