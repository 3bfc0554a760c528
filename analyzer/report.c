/* report: gathers the compliance report of a period from the journal and the RRD history.
 * The writers (JSON, CSV, HTML) are in report_write.c. See report.h for the design. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_MODULE "report"
#include "analyzer/journal.h"
#include "analyzer/model.h"
#include "analyzer/report.h"
#include "analyzer/rrd_store.h"
#include "log.h"
#include "xalloc.h"

/* "YYYY-MM-DDTHH:MM:SSZ" of `t` as a new JSON string, null when out of range. */
static json_t *time_json(time_t t)
{
    struct tm tm;
    char buf[32];
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999 ||
        strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return json_null();
    return json_string(buf);
}

/* Copy of data[key] when it is a string or number, else null. */
static json_t *field(const json_t *data, const char *key)
{
    json_t *v = json_object_get(data, key);
    if (json_is_string(v) || json_is_integer(v) || json_is_boolean(v))
        return json_copy(v);
    return json_null();
}

static const char *str_of(const json_t *data, const char *key)
{
    const char *s = json_string_value(json_object_get(data, key));
    return s ? s : "";
}

/* True when a record with this data belongs to the scope filter. */
static bool scope_match(const struct report_options *o, const json_t *data)
{
    return o->scope == NULL || strcmp(str_of(data, "scope_id"), o->scope) == 0;
}

static bool list_has(const struct config_list *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i], s) == 0)
            return true;
    return false;
}

/* With a scope filter, an overlap is kept when its routing domain can hold resources of the
 * scope: the domain names the scope, a scope type word (the type is not in the journal), or
 * pools (whose scope is not in the journal either). Domains not in the configuration are
 * kept, so nothing disappears silently when the configuration changed. */
static bool domain_match(const struct config *cfg, const struct report_options *o,
                         const char *domain)
{
    if (o->scope == NULL)
        return true;
    for (size_t i = 0; i < cfg->n_domains; i++) {
        const struct config_domain *d = &cfg->domains[i];
        if (strcmp(d->name, domain) != 0)
            continue;
        return list_has(&d->scopes, o->scope) || list_has(&d->scopes, "private") ||
               list_has(&d->scopes, "public") || d->pools.n > 0;
    }
    return true;
}

/* One open or close of an overlap pair or a noncompliance, for the replay. */
struct transition {
    time_t t;
    uint64_t seq;
    bool open;
    json_t *data; /* own reference */
};

struct transitions {
    struct transition *v;
    size_t n, cap;
};

static void tr_add(struct transitions *ts, time_t t, uint64_t seq, bool open, json_t *data)
{
    ts->v = xgrow(ts->v, &ts->cap, ts->n + 1, sizeof *ts->v);
    ts->v[ts->n++] = (struct transition){t, seq, open, json_incref(data)};
}

static void tr_free(struct transitions *ts)
{
    for (size_t i = 0; i < ts->n; i++)
        json_decref(ts->v[i].data);
    free(ts->v);
    memset(ts, 0, sizeof *ts);
}

static int tr_cmp(const void *a, const void *b)
{
    const struct transition *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Builds one interval row: `open` (the opening data, may be NULL when the close came
 * without a known opening), times, and fills the interval fields. */
typedef json_t *(*row_fn)(const json_t *open, const json_t *close);

/* Replays `ts` (sorted here) keyed by data[keyfield] and appends to `out` every interval
 * that touches [from, to): its row from `mk`, plus opened/closed/duration_s/open_ended.
 * `end` is the time open intervals are measured to. Counts opened and closed inside the
 * period in *n_opened, *n_closed and intervals open at the end in *n_open. */
static void replay(struct transitions *ts, const char *keyfield, time_t from, time_t to, time_t end,
                   row_fn mk, const char *since_name, const char *until_name, json_t *out,
                   size_t *n_opened, size_t *n_closed, size_t *n_open)
{
    json_t *open = json_object(); /* key -> index into ts of the opening */
    if (ts->n > 1)
        qsort(ts->v, ts->n, sizeof *ts->v, tr_cmp);
    for (size_t i = 0; i <= ts->n; i++) {
        const struct transition *op = NULL, *cl = NULL;
        if (i < ts->n) {
            const struct transition *x = &ts->v[i];
            const char *key = str_of(x->data, keyfield);
            json_t *at = json_object_get(open, key);
            if (x->open) {
                if (at == NULL)
                    json_object_set_new(open, key, json_integer((json_int_t)i));
                continue; /* a repeated opening keeps the first */
            }
            if (at != NULL) {
                op = &ts->v[json_integer_value(at)];
                json_object_del(open, key);
            }
            cl = x;
        } else {
            /* The end: every interval still open. Emit them in opening order. */
            size_t n = json_object_size(open), k = 0;
            size_t *idx = xcalloc(n ? n : 1, sizeof *idx);
            const char *key;
            json_t *v;
            json_object_foreach(open, key, v) idx[k++] = (size_t)json_integer_value(v);
            for (size_t a = 1; a < n; a++)
                for (size_t b = a; b > 0 && idx[b - 1] > idx[b]; b--) {
                    size_t t = idx[b];
                    idx[b] = idx[b - 1];
                    idx[b - 1] = t;
                }
            for (k = 0; k < n; k++) {
                op = &ts->v[idx[k]];
                if (op->t >= to)
                    continue;
                json_t *row = mk(op->data, NULL);
                json_object_set_new(row, since_name, time_json(op->t));
                json_object_set_new(row, until_name, json_null());
                json_object_set_new(row, "duration_s",
                                    json_integer(end > op->t ? (json_int_t)(end - op->t) : 0));
                json_object_set_new(row, "open_ended", json_true());
                json_array_append_new(out, row);
                (*n_open)++;
                if (op->t >= from)
                    (*n_opened)++;
            }
            free(idx);
            break;
        }
        /* A closed interval [op->t, cl->t]: kept when it touches the period. */
        if (cl->t < from || (op != NULL && op->t >= to))
            continue;
        json_t *row = mk(op ? op->data : NULL, cl->data);
        json_object_set_new(row, since_name, op ? time_json(op->t) : json_null());
        json_object_set_new(row, until_name, time_json(cl->t));
        json_object_set_new(row, "duration_s",
                            op ? json_integer((json_int_t)(cl->t - op->t)) : json_null());
        json_object_set_new(row, "open_ended", json_false());
        json_array_append_new(out, row);
        if (op != NULL && op->t >= from)
            (*n_opened)++;
        if (cl->t < to)
            (*n_closed)++;
    }
    json_decref(open);
}

static json_t *overlap_row(const json_t *open, const json_t *close)
{
    const json_t *d = open ? open : close;
    json_t *row = json_object();
    json_object_set_new(row, "domain", field(d, "domain"));
    json_object_set_new(row, "pair", field(d, "pair"));
    json_object_set_new(row, "a", field(d, "a"));
    json_object_set_new(row, "b", field(d, "b"));
    return row;
}

/* A noncompliant or unmanaged interval of one resource CIDR. */
static json_t *resource_state_row(const json_t *open, const json_t *close)
{
    const json_t *d = open ? open : close;
    json_t *row = json_object();
    static const char *const keys[] = {"scope_id", "resource_type", "resource_id",
                                       "cidr",     "pool_id",       "owner",
                                       "region",   "name",          "status"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        json_object_set_new(row, keys[i], field(d, keys[i]));
    json_object_set_new(row, "resolved_as", close ? field(close, "status") : json_null());
    return row;
}

/* Ledger and failure rows share the event fields. */
static json_t *event_row(const struct journal_record *rec, bool failed)
{
    static const char *const keys[] = {
        "event",    "event_id", "principal_arn", "principal_type", "account",       "region",
        "scope_id", "pool_id",  "cidr",          "allocation_id",  "netmask_length"};
    json_t *row = json_object();
    json_object_set_new(row, "time", time_json(rec->event_time));
    json_object_set_new(row, "kind", json_string(rec->kind));
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        json_object_set_new(row, keys[i], field(rec->data, keys[i]));
    if (failed) {
        json_object_set_new(row, "error_code", field(rec->data, "error_code"));
        json_object_set_new(row, "error_message", field(rec->data, "error_message"));
    }
    json_object_set_new(row, "seq", json_integer((json_int_t)rec->seq));
    return row;
}

/* Ledger and failure rows until they are sorted: auditors read them by event time, so the
 * order must not depend on the order the analyzer journaled them in (which follows Kafka
 * partitions and fetches): event time, then event id, then journal key (unique in a
 * journal), then merge order. */
struct event_row_at {
    time_t t;
    const char *event_id; /* the row's, borrowed; NULL when none */
    char *key;            /* the journal key, owned; NULL when none */
    uint64_t order;
    json_t *row; /* own reference */
};

struct event_rows {
    struct event_row_at *v;
    size_t n, cap;
};

/* Adds `row` (stolen) of the journal record `rec` (borrowed) read as number `order`. */
static void er_add(struct event_rows *rs, const struct journal_record *rec, uint64_t order,
                   json_t *row)
{
    rs->v = xgrow(rs->v, &rs->cap, rs->n + 1, sizeof *rs->v);
    rs->v[rs->n++] = (struct event_row_at){
        .t = rec->event_time,
        .event_id = json_string_value(json_object_get(row, "event_id")),
        .key = rec->key ? xstrdup(rec->key) : NULL,
        .order = order,
        .row = row,
    };
}

static int str_cmp_null(const char *x, const char *y)
{
    if (!x || !y)
        return (x != NULL) - (y != NULL);
    return strcmp(x, y);
}

static int er_cmp(const void *a, const void *b)
{
    const struct event_row_at *x = a, *y = b;
    int c;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    if ((c = str_cmp_null(x->event_id, y->event_id)) != 0 || (c = str_cmp_null(x->key, y->key)))
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

/* Sorts the rows into a new array (owned by the caller) and empties `rs`. */
static json_t *er_take_sorted(struct event_rows *rs)
{
    json_t *arr = json_array();
    if (rs->n > 1)
        qsort(rs->v, rs->n, sizeof *rs->v, er_cmp);
    for (size_t i = 0; i < rs->n; i++) {
        json_array_append_new(arr, rs->v[i].row);
        free(rs->v[i].key);
    }
    free(rs->v);
    memset(rs, 0, sizeof *rs);
    return arr;
}

static void er_free(struct event_rows *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        json_decref(rs->v[i].row);
        free(rs->v[i].key);
    }
    free(rs->v);
    memset(rs, 0, sizeof *rs);
}

static bool is_ledger_kind(const char *kind)
{
    return strcmp(kind, "allocation") == 0 || strcmp(kind, "release") == 0 ||
           strcmp(kind, "provision") == 0 || strcmp(kind, "deprovision") == 0;
}

/* ---- integrity ------------------------------------------------------------------------ */

static json_t *integrity_json(const struct journal_verify_result *vr, const char *dir)
{
    json_t *o = json_object();
    json_object_set_new(o, "ok", json_boolean(vr->ok));
    json_object_set_new(o, "journal", json_string(dir));
    json_object_set_new(o, "records", json_integer((json_int_t)vr->records));
    json_object_set_new(o, "segments", json_integer((json_int_t)vr->segments));
    json_object_set_new(o, "head_seq", json_integer((json_int_t)vr->last_seq));
    json_object_set_new(o, "head_digest", json_string(vr->head_digest));
    json_object_set_new(o, "period_records", json_integer((json_int_t)vr->range_records));
    json_object_set_new(o, "beyond_head", json_integer((json_int_t)vr->beyond_head));
    json_object_set_new(o, "torn_tail", json_boolean(vr->torn_tail));
    if (vr->ok) {
        json_object_set_new(o, "fault", json_null());
    } else {
        json_t *f = json_object();
        json_object_set_new(f, "kind", json_string(journal_fault_name(vr->fault)));
        json_object_set_new(f, "file", json_string(vr->file));
        json_object_set_new(f, "line", json_integer((json_int_t)vr->line));
        json_object_set_new(f, "seq", json_integer((json_int_t)vr->seq));
        json_object_set_new(f, "what", json_string(vr->what));
        json_object_set_new(o, "fault", f);
    }
    return o;
}

bool report_intact(const json_t *report)
{
    return json_is_true(json_object_get(json_object_get(report, "integrity"), "ok"));
}

/* The text of one journal's integrity object `in` (borrowed), its label first. */
static void integrity_text(const json_t *in, const char *label, char *buf, size_t buflen)
{
    const json_t *f = json_object_get(in, "fault");
    json_int_t records = json_integer_value(json_object_get(in, "records"));
    json_int_t seq = json_integer_value(json_object_get(in, "head_seq"));
    const char *digest = json_string_value(json_object_get(in, "head_digest"));
    int n;
    if (json_is_true(json_object_get(in, "ok")))
        n = snprintf(buf, buflen, "%s: %lld records verified, head %s (seq %lld)", label,
                     (long long)records, digest ? digest : "?", (long long)seq);
    else
        n = snprintf(buf, buflen,
                     "%s: BROKEN: %s record in %s line %lld (seq %lld): %s; %lld records "
                     "verified before it, last good digest %s (seq %lld)",
                     label, json_string_value(json_object_get(f, "kind")),
                     json_string_value(json_object_get(f, "file")),
                     (long long)json_integer_value(json_object_get(f, "line")),
                     (long long)json_integer_value(json_object_get(f, "seq")),
                     json_string_value(json_object_get(f, "what")), (long long)records,
                     digest ? digest : "?", (long long)seq);
    if (n < 0 || (size_t)n >= buflen) {
        /* Truncated: end it visibly. */
        if (buflen > 4)
            memcpy(buf + buflen - 4, "...", 4);
    }
}

void report_integrity_line(const json_t *report, char *buf, size_t buflen)
{
    const json_t *in = json_object_get(report, "integrity");
    const json_t *each = json_object_get(in, "journals");
    if (json_array_size(each) < 2) {
        integrity_text(in, "journal", buf, buflen);
        return;
    }
    size_t used = 0, i;
    const json_t *j;
    buf[0] = '\0';
    json_array_foreach(each, i, j)
    {
        if (used + 1 >= buflen)
            break;
        char label[1024];
        snprintf(label, sizeof label, "journal %s",
                 json_string_value(json_object_get(j, "journal")));
        if (i > 0) {
            snprintf(buf + used, buflen - used, "; ");
            used += strlen(buf + used);
        }
        integrity_text(j, label, buf + used, buflen - used);
        used += strlen(buf + used);
    }
}

/* ---- pools and utilization ------------------------------------------------------------- */

static void on_pool(void *ctx, const char *kind, const char *id, const char *scope_id,
                    const struct rrd_sample *s)
{
    (void)scope_id;
    (void)s;
    if (strcmp(kind, "pool") == 0)
        json_object_set_new(ctx, id, json_true());
}

model_t *report_snapshot_load(const struct config *cfg, char *err, size_t errlen)
{
    char path[4096];
    json_error_t jerr;
    err[0] = '\0';
    int n = snprintf(path, sizeof path, "%s/checkpoint.json", cfg->analyzer.state_dir);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(err, errlen, "[analyzer] state_dir is too long");
        return NULL;
    }
    json_t *ck = json_load_file(path, 0, &jerr);
    if (ck == NULL) {
        if (access(path, F_OK) == 0)
            snprintf(err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
        return NULL;
    }
    json_int_t gen = json_integer_value(json_object_get(ck, "generation"));
    json_decref(ck);
    n = snprintf(path, sizeof path, "%s/model-%lld.snap", cfg->analyzer.state_dir, (long long)gen);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(err, errlen, "[analyzer] state_dir is too long");
        return NULL;
    }
    return model_load(cfg, path, err, errlen);
}

/* Adds the pools of scope `scope` known to the analyzer's last model snapshot to `pools`.
 * Returns 0, or -ENOENT when there is no snapshot (nothing added). */
static int snapshot_pools(const struct config *cfg, const char *scope, json_t *pools)
{
    char err[512];
    model_t *m = report_snapshot_load(cfg, err, sizeof err);
    if (m == NULL) {
        if (err[0] != '\0')
            LOG_WARN("pools of scope %s: %s", scope, err);
        return -ENOENT;
    }
    model_metrics_scope(m, scope, on_pool, pools);
    model_free(m);
    return 0;
}

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* The utilization row of one pool over [from, to). NULL when it has no value there. */
static json_t *pool_row(rrd_store_t *st, const char *id, time_t from, time_t to)
{
    struct rrd_series mx, av;
    double peak = NAN, end_util = NAN, end_size = NAN, end_used = NAN;
    time_t peak_t = 0, end_t = 0;
    if (rrd_store_fetch(st, "pool", id, "MAX", from, to, 0, &mx) < 0) {
        LOG_WARN("utilization of pool %s: %s", id, rrd_store_error(st));
        return NULL;
    }
    for (size_t r = 0; r < mx.rows; r++) {
        double u = mx.values[RRD_DS_UTILIZATION][r];
        time_t t = rrd_series_time(&mx, r);
        if (isfinite(u) && t - (time_t)mx.step < to && (!isfinite(peak) || u > peak)) {
            peak = u;
            peak_t = t;
        }
    }
    rrd_series_free(&mx);
    if (rrd_store_fetch(st, "pool", id, "AVERAGE", from, to, 0, &av) < 0) {
        LOG_WARN("utilization of pool %s: %s", id, rrd_store_error(st));
        return NULL;
    }
    for (size_t r = av.rows; r-- > 0;) {
        time_t t = rrd_series_time(&av, r);
        double u = av.values[RRD_DS_UTILIZATION][r];
        if (isfinite(u) && t - (time_t)av.step < to) {
            end_util = u;
            end_t = t;
            end_size = av.values[RRD_DS_SIZE][r];
            end_used = av.values[RRD_DS_USED][r];
            break;
        }
    }
    unsigned long step = av.step;
    rrd_series_free(&av);
    if (!isfinite(peak) && !isfinite(end_util))
        return NULL;
    json_t *row = json_object();
    json_object_set_new(row, "pool_id", json_string(id));
    json_object_set_new(row, "peak_utilization", num_or_null(peak));
    json_object_set_new(row, "peak_time", isfinite(peak) ? time_json(peak_t) : json_null());
    json_object_set_new(row, "end_utilization", num_or_null(end_util));
    json_object_set_new(row, "end_time", isfinite(end_util) ? time_json(end_t) : json_null());
    json_object_set_new(row, "end_size", num_or_null(end_size));
    json_object_set_new(row, "end_used", num_or_null(end_used));
    json_object_set_new(row, "resolution_s", json_integer((json_int_t)step));
    return row;
}

static int peak_desc(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    double px = json_number_value(json_object_get(x, "peak_utilization"));
    double py = json_number_value(json_object_get(y, "peak_utilization"));
    if (px != py)
        return px > py ? -1 : 1;
    return strcmp(json_string_value(json_object_get(x, "pool_id")),
                  json_string_value(json_object_get(y, "pool_id")));
}

/* Utilization rows of every pool (of the scope, when filtered), highest peak first. */
static json_t *utilization(const struct config *cfg, const struct report_options *o,
                           json_t *journal_pools, char *err, size_t errlen)
{
    size_t n = 0;
    char **ids = NULL;
    int rc = rrd_store_list(cfg->rrd.dir, cfg->rrd.daemon, "pool", &ids, &n, err, errlen);
    json_t *rows = json_array();
    if (rc < 0 && rc != -ENOENT)
        LOG_WARN("pool utilization left out: %s", err);
    if (n == 0)
        return rows;
    rrd_store_t *st = rrd_store_open_reader(cfg->rrd.dir, (int)(cfg->rrd.step_ms / 1000),
                                            cfg->rrd.daemon, err, errlen);
    if (st == NULL)
        goto fail;
    if (o->scope != NULL)
        snapshot_pools(cfg, o->scope, journal_pools);
    json_t **v = xcalloc(n, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (o->scope != NULL && json_object_get(journal_pools, ids[i]) == NULL)
            continue;
        json_t *row = pool_row(st, ids[i], o->from, o->to);
        if (row != NULL)
            v[k++] = row;
    }
    qsort(v, k, sizeof *v, peak_desc);
    for (size_t i = 0; i < k; i++)
        json_array_append_new(rows, v[i]);
    free(v);
    rrd_store_free(st);
    rrd_store_list_free(ids, n);
    return rows;
fail:
    rrd_store_list_free(ids, n);
    json_decref(rows);
    return NULL;
}

/* ---- several journals as one stream ------------------------------------------------------ */

/* The journals of a report read as one stream: each reader's next record waits in `head`;
 * the earliest event time goes first (each journal keeps its own order), and with several
 * journals a key seen before is skipped (two analyzers journaled the same event). */
struct jmerge {
    const char *const *dirs;
    size_t n;
    journal_reader_t **r;
    struct journal_record *head;
    bool *has, *done;
    json_t *seen; /* keys already handed out; NULL with one journal */
};

static void jmerge_free(struct jmerge *m)
{
    for (size_t i = 0; m->r && i < m->n; i++)
        journal_reader_free(m->r[i]);
    free(m->r);
    free(m->head);
    free(m->has);
    free(m->done);
    json_decref(m->seen);
}

static int jmerge_open(struct jmerge *m, const char *const *dirs, size_t n, time_t to, char *err,
                       size_t errlen)
{
    memset(m, 0, sizeof *m);
    m->dirs = dirs;
    m->n = n;
    m->r = xcalloc(n, sizeof *m->r);
    m->head = xcalloc(n, sizeof *m->head);
    m->has = xcalloc(n, sizeof *m->has);
    m->done = xcalloc(n, sizeof *m->done);
    m->seen = n > 1 ? json_object() : NULL;
    for (size_t i = 0; i < n; i++) {
        m->r[i] = journal_reader_new(dirs[i], 0, to, err, errlen);
        if (!m->r[i])
            return -EIO;
    }
    return 0;
}

/* The next record of the merged stream into *rec (borrowed until the next call). Returns 1,
 * 0 at the end, or -errno with text in err. Damaged lines are logged and passed over (the
 * verification reports them). */
static int jmerge_next(struct jmerge *m, struct journal_record *rec, char *err, size_t errlen)
{
    for (;;) {
        size_t best = m->n;
        for (size_t i = 0; i < m->n; i++) {
            while (!m->has[i] && !m->done[i]) {
                char rerr[512];
                int rc = journal_reader_next(m->r[i], &m->head[i], rerr, sizeof rerr);
                if (rc > 0) {
                    m->has[i] = true;
                } else if (rc == 0) {
                    m->done[i] = true;
                } else if (rc == -EBADMSG) {
                    LOG_WARN("journal %s: %s", m->dirs[i], rerr);
                } else {
                    snprintf(err, errlen, "journal %s: %s", m->dirs[i], rerr);
                    return rc;
                }
            }
            if (m->has[i] && (best == m->n || m->head[i].event_time < m->head[best].event_time))
                best = i;
        }
        if (best == m->n)
            return 0;
        m->has[best] = false;
        *rec = m->head[best];
        if (m->seen && rec->key) {
            if (json_object_get(m->seen, rec->key))
                continue;
            json_object_set_new(m->seen, rec->key, json_true());
        }
        return 1;
    }
}

/* ---- the document ---------------------------------------------------------------------- */

json_t *report_build(const struct config *cfg, const struct report_options *o, char *err,
                     size_t errlen)
{
    struct journal_verify_result vr;
    struct transitions ov = {0}, nc = {0}, um = {0};
    struct jmerge m = {0};
    const char *const *dirs =
        o->n_journals > 0 ? o->journals : (const char *const *)&cfg->journal.dir;
    size_t ndirs = o->n_journals > 0 ? o->n_journals : 1;
    json_t *each = json_array(); /* integrity of every journal */
    uint64_t ordinal = 0;
    json_t *doc = NULL, *ledger = NULL, *failed = NULL;
    struct event_rows ledger_rows = {0}, failed_rows = {0};
    json_t *overlaps = json_array(), *noncompliant = json_array(), *pools = json_object();
    json_t *unmanaged = json_array();
    json_t *util = NULL;
    char verr[512];
    size_t n_alloc = 0, n_rel = 0, n_prov = 0, n_deprov = 0, n_ok = 0, n_fail_ledger = 0;
    size_t ov_opened = 0, ov_closed = 0, ov_open = 0, nc_opened = 0, nc_closed = 0, nc_open = 0;
    size_t um_opened = 0, um_closed = 0, um_open = 0;
    time_t now = o->now ? o->now : time(NULL);
    time_t end = o->to < now ? o->to : now;
    int rc;

    /* Every chain verified; the report's integrity is the first broken one's, else the
     * first one's, with the counts of all of them. */
    struct journal_verify_result first_bad = {0}, total = {0};
    bool any_bad = false;
    for (size_t i = 0; i < ndirs; i++) {
        memset(&vr, 0, sizeof vr);
        rc = journal_verify_range(dirs[i], o->from, o->to, &vr, verr, sizeof verr);
        if (rc < 0 && rc != -EBADMSG) {
            snprintf(err, errlen, "journal %s: %s", dirs[i], verr);
            goto fail;
        }
        json_array_append_new(each, integrity_json(&vr, dirs[i]));
        if (i == 0)
            total = vr;
        if (!vr.ok && !any_bad) {
            any_bad = true;
            first_bad = vr;
        }
        if (i > 0) {
            total.records += vr.records;
            total.segments += vr.segments;
            total.range_records += vr.range_records;
            total.beyond_head += vr.beyond_head;
            total.torn_tail = total.torn_tail || vr.torn_tail;
        }
    }
    if (any_bad) {
        uint64_t records = total.records, segments = total.segments;
        uint64_t range = total.range_records, beyond = total.beyond_head;
        bool torn = total.torn_tail;
        total = first_bad;
        total.records = records;
        total.segments = segments;
        total.range_records = range;
        total.beyond_head = beyond;
        total.torn_tail = torn;
    }
    vr = total;
    if (jmerge_open(&m, dirs, ndirs, o->to, err, errlen) < 0)
        goto fail;
    for (;;) {
        struct journal_record rec;
        rc = jmerge_next(&m, &rec, err, errlen);
        if (rc == 0)
            break;
        if (rc < 0)
            goto fail;
        /* Merge order: the tie-break of transitions at the same second. */
        uint64_t order = ordinal++;
        const char *kind = rec.kind;
        bool in = rec.event_time >= o->from && rec.event_time < o->to;
        if (strcmp(kind, "overlap_opened") == 0 || strcmp(kind, "overlap_closed") == 0) {
            if (domain_match(cfg, o, str_of(rec.data, "domain")))
                tr_add(&ov, rec.event_time, order, kind[8] == 'o', rec.data);
            continue;
        }
        if (!scope_match(o, rec.data))
            continue;
        if (o->scope != NULL && json_is_string(json_object_get(rec.data, "pool_id")))
            json_object_set_new(pools, str_of(rec.data, "pool_id"), json_true());
        bool nc_kind = strcmp(kind, "noncompliant") == 0 || strcmp(kind, "compliant") == 0;
        if (nc_kind || strcmp(kind, "unmanaged") == 0 || strcmp(kind, "managed") == 0) {
            json_t *d = json_deep_copy(rec.data);
            json_object_set_new(d, "_key",
                                json_sprintf("%s/%s/%s", str_of(d, "scope_id"),
                                             str_of(d, "resource_id"), str_of(d, "cidr")));
            /* noncompliant and unmanaged open an interval, compliant and managed close it */
            tr_add(nc_kind ? &nc : &um, rec.event_time, order, kind[0] != (nc_kind ? 'c' : 'm'), d);
            json_decref(d);
            continue;
        }
        if (!in)
            continue;
        if (is_ledger_kind(kind)) {
            json_t *row = event_row(&rec, false);
            json_object_set_new(row, "success", json_true());
            json_object_set_new(row, "applied", field(rec.data, "applied"));
            er_add(&ledger_rows, &rec, order, row);
            n_ok++;
            n_alloc += strcmp(kind, "allocation") == 0;
            n_rel += strcmp(kind, "release") == 0;
            n_prov += strcmp(kind, "provision") == 0;
            n_deprov += strcmp(kind, "deprovision") == 0;
        } else if (strcmp(kind, "allocation_failed") == 0 || strcmp(kind, "event_failed") == 0) {
            er_add(&failed_rows, &rec, order, event_row(&rec, true));
            if (kind[0] == 'a') {
                json_t *row = event_row(&rec, false);
                json_object_set_new(row, "success", json_false());
                json_object_set_new(row, "applied", json_false());
                er_add(&ledger_rows, &rec, order, row);
                n_fail_ledger++;
            }
        }
    }
    jmerge_free(&m);
    memset(&m, 0, sizeof m);
    ledger = er_take_sorted(&ledger_rows);
    failed = er_take_sorted(&failed_rows);
    replay(&ov, "pair", o->from, o->to, end, overlap_row, "opened", "closed", overlaps, &ov_opened,
           &ov_closed, &ov_open);
    replay(&nc, "_key", o->from, o->to, end, resource_state_row, "since", "until", noncompliant,
           &nc_opened, &nc_closed, &nc_open);
    replay(&um, "_key", o->from, o->to, end, resource_state_row, "since", "until", unmanaged,
           &um_opened, &um_closed, &um_open);
    util = utilization(cfg, o, pools, err, errlen);
    if (util == NULL)
        goto fail;

    json_t *summary = json_object();
    json_t *period = json_object();
    json_object_set_new(period, "from", time_json(o->from));
    json_object_set_new(period, "to", time_json(o->to));
    json_object_set_new(summary, "period", period);
    json_object_set_new(summary, "scope", o->scope ? json_string(o->scope) : json_null());
    json_object_set_new(summary, "generated_at", time_json(now));
    json_object_set_new(summary, "journal_head_digest", json_string(vr.head_digest));
    json_object_set_new(summary, "journal_records", json_integer((json_int_t)vr.records));
    json_object_set_new(summary, "journal_intact", json_boolean(vr.ok));
    json_t *c = json_object();
    json_object_set_new(c, "ledger", json_integer((json_int_t)json_array_size(ledger)));
    json_object_set_new(c, "allocations", json_integer((json_int_t)n_alloc));
    json_object_set_new(c, "releases", json_integer((json_int_t)n_rel));
    json_object_set_new(c, "provisions", json_integer((json_int_t)n_prov));
    json_object_set_new(c, "deprovisions", json_integer((json_int_t)n_deprov));
    json_object_set_new(c, "succeeded", json_integer((json_int_t)n_ok));
    json_object_set_new(c, "failed", json_integer((json_int_t)json_array_size(failed)));
    json_object_set_new(c, "failed_allocations", json_integer((json_int_t)n_fail_ledger));
    json_object_set_new(c, "overlaps", json_integer((json_int_t)json_array_size(overlaps)));
    json_object_set_new(c, "overlaps_opened", json_integer((json_int_t)ov_opened));
    json_object_set_new(c, "overlaps_closed", json_integer((json_int_t)ov_closed));
    json_object_set_new(c, "overlaps_open_at_end", json_integer((json_int_t)ov_open));
    json_object_set_new(c, "noncompliant", json_integer((json_int_t)json_array_size(noncompliant)));
    json_object_set_new(c, "noncompliant_at_end", json_integer((json_int_t)nc_open));
    json_object_set_new(c, "unmanaged", json_integer((json_int_t)json_array_size(unmanaged)));
    json_object_set_new(c, "unmanaged_at_end", json_integer((json_int_t)um_open));
    json_object_set_new(c, "pools", json_integer((json_int_t)json_array_size(util)));
    json_object_set_new(summary, "counts", c);

    doc = json_object();
    json_t *in = integrity_json(&vr, dirs[0]);
    if (ndirs > 1) {
        char *joined = xstrdup(dirs[0]);
        for (size_t i = 1; i < ndirs; i++) {
            char *next = xasprintf("%s, %s", joined, dirs[i]);
            free(joined);
            joined = next;
        }
        json_object_set_new(in, "journal", json_string(joined));
        free(joined);
        json_object_set(in, "journals", each);
    }
    json_object_set_new(doc, "integrity", in);
    json_object_set_new(doc, "version", json_integer(REPORT_VERSION));
    json_object_set_new(doc, "summary", summary);
    json_object_set_new(doc, "ledger", ledger);
    json_object_set_new(doc, "failed_allocations", failed);
    json_object_set_new(doc, "overlaps", overlaps);
    json_object_set_new(doc, "noncompliant", noncompliant);
    json_object_set_new(doc, "unmanaged", unmanaged);
    json_object_set_new(doc, "utilization", util);
    tr_free(&ov);
    tr_free(&nc);
    tr_free(&um);
    json_decref(pools);
    json_decref(each);
    return doc;

fail:
    jmerge_free(&m);
    json_decref(each);
    er_free(&ledger_rows);
    er_free(&failed_rows);
    tr_free(&ov);
    tr_free(&nc);
    tr_free(&um);
    json_decref(ledger);
    json_decref(failed);
    json_decref(overlaps);
    json_decref(noncompliant);
    json_decref(unmanaged);
    json_decref(pools);
    json_decref(util);
    return NULL;
}
