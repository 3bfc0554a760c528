/* engine: alert rules, alert lifecycle (pending, firing, resolved, repeats) and durable
 * alert state; see engine.h for the model. */
#define LOG_MODULE "alerts"

#include "alerts/engine.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "fileio.h"
#include "log.h"
#include "prefix.h"
#include "xalloc.h"

#define FP_LEN         16 /* hex digits of a fingerprint */
#define MAX_LABELS     48
#define STATE_VERSION  1
#define GLOBAL_SCOPE   "global"
#define DEFAULT_SOURCE "analyzer/ipamwatch"
/* Allocations seen in CloudTrail and not yet in the inventory that are tracked at once; a
 * further one is not tracked (counted and logged). About 300 bytes each. */
#define MAX_UNREFLECTED 10000

enum astate { ST_INACTIVE, ST_PENDING, ST_FIRING };

struct alert {
    struct alert *next; /* hash chain */
    char fp[FP_LEN + 1];
    const struct erule *rule; /* NULL: the rule no longer exists (resolve at the next tick) */
    char *rule_name;
    const char *severity; /* static: config_severity_name() */
    char *scope;
    struct record_map labels;
    struct record_map annotations;
    enum astate state;
    int64_t active_since; /* condition start: the notification's starts_at */
    int64_t last_sent;    /* wall time of the last firing notification: repeats count from it */
    int64_t repeats;      /* repeat notifications since it fired: part of the notification id */
    int64_t seen_ms;      /* last observation (object rules) */
    int64_t expires_ms;   /* allocation_failed: end of the window */
    int64_t for_ms;
    double value;
    int64_t count; /* allocation_failed: failures folded into this alert */
};

/* A rule with its `labels` list split into names and values. */
struct erule {
    const struct config_rule *cfg;
    char **lkeys, **lvals;
    size_t nlabels;
    uint64_t sent_firing, sent_resolved; /* notifications emitted (alert_engine_rule_counts) */
};

struct stale_scope {
    char *id;
    int64_t pass_ms;  /* start of the newest complete pass; RECORD_UNSET = none */
    int64_t event_ms; /* newest CloudTrail event; RECORD_UNSET = none */
};

struct alert_engine {
    struct erule *rules;
    size_t n_rules;
    struct config_rule *defaults; /* built-in rules when the config has none */
    size_t n_defaults;
    char *state_path;
    char *source;
    alert_emit_fn emit;
    void *ctx;
    struct alert **buckets;
    size_t nbuckets, count;
    struct stale_scope *scopes;
    size_t n_scopes, cap_scopes;
    /* CloudTrail allocations not yet reflected in the inventory: "pool|cidr" -> {scope,
     * pool, cidr, allocation, account, region, event, mask}; `mask` (not saved) has bit i
     * set once stale rule i raised its alert. */
    json_t *unreflected;
    int64_t max_reflect_lag_ms; /* largest max_reflect_lag of the stale rules; 0 = none */
    uint64_t unreflected_dropped;
    log_complain_t unreflected_complain;
    int64_t started_ms;
    int64_t checkpoint; /* alert_engine_set_checkpoint(); -1 = none: not written */
    /* The wall clock as the engine knows it: the newest alert_engine_tick() time (the real
     * clock before the first tick). Notifications caused by figures and effects carry event
     * time; the repeat schedule is kept in wall time, stamped from this. */
    int64_t wall_ms;
    /* Newest event time seen in effects, passes and CloudTrail events: while the analyzer is
     * behind, an allocation_failed window ends only once the stream reached its end. */
    int64_t event_front;
    /* Set during alert_engine_observe_past(): pending alerts are started and dropped without
     * notifications; nothing fires. */
    bool past;
    /* Stale rules judge the present: not while the analyzer is behind its partitions (a
     * replay), and a condition from the replayed past is raised only once it also held for
     * its limit after live_ms, when the analyzer first caught up (RECORD_UNSET: it never
     * was behind). */
    bool behind, live_seen;
    int64_t live_ms;
    struct alert_engine_stats st;
};

/* A label set under construction; strings are borrowed. The first value of a name wins. */
struct lset {
    const char *k[MAX_LABELS];
    const char *v[MAX_LABELS];
    size_t n;
};

/* ---- small helpers -------------------------------------------------------------------- */

static bool str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void lset_add(struct lset *l, const char *k, const char *v)
{
    if (!k || !v || !*v)
        return;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->k[i], k) == 0)
            return;
    if (l->n < MAX_LABELS) {
        l->k[l->n] = k;
        l->v[l->n] = v;
        l->n++;
    }
}

static void map_clear(struct record_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->items[i].key);
        free(m->items[i].value);
    }
    free(m->items);
    memset(m, 0, sizeof *m);
}

static void map_copy(struct record_map *dst, const struct record_map *src)
{
    for (size_t i = 0; i < src->n; i++)
        record_map_set(dst, src->items[i].key, src->items[i].value);
}

static void annot(struct alert *a, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void annot(struct alert *a, const char *key, const char *fmt, ...)
{
    char small[512];
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof small) {
        record_map_set(&a->annotations, key, small);
    } else {
        char *big = xmalloc((size_t)n + 1);
        vsnprintf(big, (size_t)n + 1, fmt, ap2);
        record_map_set(&a->annotations, key, big);
        free(big);
    }
    va_end(ap2);
}

/* "2025-03-14" for `ms`, or "unknown". */
static void fmt_date(int64_t ms, char *buf, size_t len)
{
    char t[RECORD_TIME_MAX];
    if (record_time_format(ms, t, sizeof t) < 0)
        snprintf(buf, len, "unknown");
    else
        snprintf(buf, len, "%.10s", t);
}

static void fmt_time(int64_t ms, char *buf, size_t len)
{
    if (ms == RECORD_UNSET || record_time_format(ms, buf, len) < 0)
        snprintf(buf, len, "never");
}

/* A duration as "2h5m" / "45m" / "30s". */
static void fmt_dur(int64_t ms, char *buf, size_t len)
{
    int64_t s = ms / 1000;
    if (s >= 86400)
        snprintf(buf, len, "%lldd%lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
    else if (s >= 3600)
        snprintf(buf, len, "%lldh%lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else if (s >= 60)
        snprintf(buf, len, "%lldm", (long long)(s / 60));
    else
        snprintf(buf, len, "%llds", (long long)s);
}

bool alert_label_name_valid(const char *name)
{
    if (!name || !*name || (name[0] == '_' && name[1] == '_'))
        return false;
    if (!(name[0] == '_' || (name[0] >= 'a' && name[0] <= 'z') ||
          (name[0] >= 'A' && name[0] <= 'Z')))
        return false;
    size_t n = strlen(name);
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == n;
}

/* ---- fingerprints --------------------------------------------------------------------- */

static int fingerprint_sorted(const char *rule, const char **k, const char **v, size_t n, char *buf,
                              size_t buflen)
{
    if (buflen < FP_LEN + 1)
        return -ENOSPC;
    /* Insertion sort of indexes by name: label sets are small. */
    size_t idx[MAX_LABELS];
    if (n > MAX_LABELS)
        n = MAX_LABELS;
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        while (j > 0 && strcmp(k[idx[j - 1]], k[i]) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, rule, strlen(rule) + 1) == 1;
    for (size_t i = 0; ok && i < n; i++)
        ok = EVP_DigestUpdate(ctx, k[idx[i]], strlen(k[idx[i]]) + 1) == 1 &&
             EVP_DigestUpdate(ctx, v[idx[i]], strlen(v[idx[i]]) + 1) == 1;
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen >= FP_LEN / 2;
    EVP_MD_CTX_free(ctx);
    if (!ok)
        return -EIO;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < FP_LEN / 2; i++) {
        buf[2 * i] = hex[md[i] >> 4];
        buf[2 * i + 1] = hex[md[i] & 15];
    }
    buf[FP_LEN] = '\0';
    return 0;
}

int alert_fingerprint(const char *rule, const char *const *keys, const char *const *values,
                      size_t n, char *buf, size_t buflen)
{
    const char *k[MAX_LABELS], *v[MAX_LABELS];
    if (n > MAX_LABELS)
        n = MAX_LABELS;
    for (size_t i = 0; i < n; i++) {
        k[i] = keys[i];
        v[i] = values[i];
    }
    return fingerprint_sorted(rule, k, v, n, buf, buflen);
}

/* ---- the alert table ------------------------------------------------------------------ */

static size_t fp_hash(const char *fp)
{
    size_t h = 0;
    for (int i = 0; i < 12 && fp[i]; i++)
        h = h * 16 + (size_t)(fp[i] <= '9' ? fp[i] - '0' : fp[i] - 'a' + 10);
    return h;
}

static struct alert *table_get(const alert_engine_t *e, const char *fp)
{
    for (struct alert *a = e->buckets[fp_hash(fp) & (e->nbuckets - 1)]; a; a = a->next)
        if (strcmp(a->fp, fp) == 0)
            return a;
    return NULL;
}

static void table_put(alert_engine_t *e, struct alert *a)
{
    if (e->count + 1 > e->nbuckets) {
        size_t nb = e->nbuckets * 2;
        struct alert **b = xcalloc(nb, sizeof *b);
        for (size_t i = 0; i < e->nbuckets; i++) {
            for (struct alert *x = e->buckets[i], *next; x; x = next) {
                next = x->next;
                size_t h = fp_hash(x->fp) & (nb - 1);
                x->next = b[h];
                b[h] = x;
            }
        }
        free(e->buckets);
        e->buckets = b;
        e->nbuckets = nb;
    }
    size_t h = fp_hash(a->fp) & (e->nbuckets - 1);
    a->next = e->buckets[h];
    e->buckets[h] = a;
    e->count++;
}

static void alert_free(struct alert *a)
{
    if (!a)
        return;
    free(a->rule_name);
    free(a->scope);
    map_clear(&a->labels);
    map_clear(&a->annotations);
    free(a);
}

static void table_del(alert_engine_t *e, struct alert *a)
{
    struct alert **pp = &e->buckets[fp_hash(a->fp) & (e->nbuckets - 1)];
    while (*pp && *pp != a)
        pp = &(*pp)->next;
    if (*pp) {
        *pp = a->next;
        e->count--;
    }
    alert_free(a);
}

/* ---- notifications and transitions ---------------------------------------------------- */

/* The id of the notification `rec` of `a`: the fingerprint hashed with what the notification
 * announces (state, starts_at, ends_at: event times) and the repeat number, never the wall
 * clock, so a replay of the same records after a crash produces the same id and the sinks
 * drop it (alerts/sinks.h). */
static void notification_id(const struct alert *a, struct record *rec)
{
    struct record_alert *ra = &rec->u.alert;
    char starts[24], ends[24], rep[24], id[FP_LEN + 1];
    snprintf(starts, sizeof starts, "%lld", (long long)ra->starts_at_ms);
    snprintf(ends, sizeof ends, "%lld", (long long)ra->ends_at_ms);
    snprintf(rep, sizeof rep, "%lld",
             strcmp(ra->state, "firing") == 0 ? (long long)a->repeats : 0LL);
    const char *k[] = {"state", "starts_at", "ends_at", "repeat"};
    const char *v[] = {ra->state, starts, ends, rep};
    if (fingerprint_sorted(a->fp, k, v, 4, id, sizeof id) == 0)
        record_str_set(&ra->id, id);
}

/* The notification of `a` in `state` as a new RECORD_ALERT record (owned by the caller). */
static struct record *alert_record(const alert_engine_t *e, const struct alert *a,
                                   const char *state, int64_t now_ms, int64_t ends_ms)
{
    struct record *rec = record_new(RECORD_ALERT);
    rec->ts_ms = now_ms;
    record_str_set(&rec->scope, a->scope);
    record_str_set(&rec->source, e->source);
    struct record_alert *ra = &rec->u.alert;
    record_str_set(&ra->fingerprint, a->fp);
    record_str_set(&ra->rule, a->rule_name);
    record_str_set(&ra->state, state);
    record_str_set(&ra->severity, a->severity);
    map_copy(&ra->labels, &a->labels);
    map_copy(&ra->annotations, &a->annotations);
    ra->starts_at_ms = a->active_since;
    if (ends_ms != RECORD_UNSET)
        ra->ends_at_ms = ends_ms < a->active_since ? a->active_since : ends_ms;
    ra->value = a->value;
    notification_id(a, rec);
    return rec;
}

static void emit(alert_engine_t *e, const struct alert *a, const char *state, int64_t now_ms,
                 int64_t ends_ms)
{
    e->st.emitted++;
    if (a->rule) { /* the rule's own entry: a->rule points into e->rules */
        struct erule *r = &e->rules[a->rule - e->rules];
        if (strcmp(state, "firing") == 0)
            r->sent_firing++;
        else if (strcmp(state, "resolved") == 0)
            r->sent_resolved++;
    }
    if (!e->emit)
        return;
    struct record *rec = alert_record(e, a, state, now_ms, ends_ms);
    char err[256];
    if (record_validate(rec, err, sizeof err) < 0)
        LOG_WARN("alert %s (%s) does not validate: %s", a->fp, a->rule_name, err);
    else
        e->emit(e->ctx, rec);
    record_free(rec);
}

/* The condition of `a` holds at `now_ms` (the time the condition is judged at: event time
 * for figures and effects, wall time for stale rules): start it, or promote it once `for`
 * elapsed between its start and `now_ms`. The firing notification's wall time starts the
 * repeat schedule. In a past observation a started alert stays pending, silently. */
static void activate(alert_engine_t *e, struct alert *a, int64_t now_ms)
{
    if (a->state == ST_INACTIVE) {
        a->active_since = now_ms;
        a->state = ST_PENDING;
        if (e->past)
            return;
        if (a->for_ms > 0) {
            emit(e, a, "pending", now_ms, RECORD_UNSET);
            return;
        }
    }
    if (a->state == ST_PENDING && !e->past && now_ms - a->active_since >= a->for_ms) {
        a->state = ST_FIRING;
        a->last_sent = e->wall_ms;
        a->repeats = 0;
        e->st.fired++;
        emit(e, a, "firing", now_ms, RECORD_UNSET);
    }
}

/* Like activate() for a condition judged on the wall clock (stale rules) that became true at
 * `onset_ms`, a time the data fixes (the last pass or event plus the rule's limit), not the
 * tick that noticed it: the notification's starts_at, and so its id, is the same whichever
 * tick fires it, also the first one after a restart that replays from a checkpoint taken
 * before the alert fired, so the sinks drop the second announcement (alerts/sinks.h). */
static void activate_since(alert_engine_t *e, struct alert *a, int64_t onset_ms, int64_t now_ms)
{
    if (a->state == ST_INACTIVE) {
        a->active_since = onset_ms < now_ms ? onset_ms : now_ms;
        a->state = ST_PENDING;
    }
    activate(e, a, now_ms);
}

/* The condition of `a` ended at `ends_ms`: a firing alert is resolved, a pending one is
 * dropped silently; either way it is forgotten. */
static void deactivate(alert_engine_t *e, struct alert *a, int64_t now_ms, int64_t ends_ms)
{
    if (a->state == ST_FIRING) {
        e->st.resolved++;
        emit(e, a, "resolved", now_ms, ends_ms);
    }
    table_del(e, a);
}

/* Finds the alert of `rule` with labels `l` (alertname and severity are added here), or
 * creates it inactive when `create`. */
static struct alert *alert_get(alert_engine_t *e, const struct erule *r, enum config_severity sev,
                               const char *scope, struct lset *l, bool create)
{
    const char *sevname = config_severity_name(sev);
    struct lset full = {.n = 0};
    lset_add(&full, "alertname", r->cfg->name);
    lset_add(&full, "severity", sevname);
    for (size_t i = 0; i < l->n; i++)
        lset_add(&full, l->k[i], l->v[i]);
    for (size_t i = 0; i < r->nlabels; i++)
        lset_add(&full, r->lkeys[i], r->lvals[i]);
    char fp[FP_LEN + 1];
    if (fingerprint_sorted(r->cfg->name, full.k, full.v, full.n, fp, sizeof fp) < 0) {
        LOG_ERR("SHA-256 of the labels of rule %s failed", r->cfg->name);
        return NULL;
    }
    struct alert *a = table_get(e, fp);
    if (a || !create)
        return a;
    a = xcalloc(1, sizeof *a);
    memcpy(a->fp, fp, sizeof fp);
    a->rule = r;
    a->rule_name = xstrdup(r->cfg->name);
    a->severity = sevname;
    a->scope = xstrdup(scope && *scope ? scope : GLOBAL_SCOPE);
    for (size_t i = 0; i < full.n; i++)
        record_map_set(&a->labels, full.k[i], full.v[i]);
    a->state = ST_INACTIVE;
    a->active_since = a->last_sent = a->seen_ms = a->expires_ms = RECORD_UNSET;
    a->value = NAN;
    table_put(e, a);
    return a;
}

/* Appends `s` to the growing string *buf (length *len, capacity *cap). */
static void sb_add(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
    *buf = xgrow(*buf, cap, *len + n + 1, 1);
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* Expands `{label}` placeholders of the rule's runbook_url with the alert's label values
 * (percent-encoded); unknown placeholders stay as written. */
static void set_runbook(struct alert *a)
{
    const char *t = a->rule && a->rule->cfg->runbook_url ? a->rule->cfg->runbook_url : NULL;
    if (!t)
        return;
    char *out = NULL;
    size_t len = 0, cap = 0;
    sb_add(&out, &len, &cap, "", 0);
    while (*t) {
        const char *open = strchr(t, '{');
        const char *close = open ? strchr(open, '}') : NULL;
        if (!open || !close) {
            sb_add(&out, &len, &cap, t, strlen(t));
            break;
        }
        sb_add(&out, &len, &cap, t, (size_t)(open - t));
        char name[128];
        size_t nl = (size_t)(close - open - 1);
        const char *v = NULL;
        if (nl < sizeof name) {
            memcpy(name, open + 1, nl);
            name[nl] = '\0';
            v = record_map_get(&a->labels, name);
        }
        if (!v) {
            sb_add(&out, &len, &cap, open, (size_t)(close - open + 1));
        } else {
            for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
                char enc[4];
                if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || strchr("-._~", *p)) {
                    enc[0] = (char)*p;
                    sb_add(&out, &len, &cap, enc, 1);
                } else {
                    snprintf(enc, sizeof enc, "%%%02X", *p);
                    sb_add(&out, &len, &cap, enc, 3);
                }
            }
        }
        t = close + 1;
    }
    record_map_set(&a->annotations, "runbook_url", out);
    free(out);
}

/* ---- selectors ------------------------------------------------------------------------ */

static const char *kind_word(enum config_object k)
{
    static const char *const w[] = {"Pool", "Scope", "VPC", "Subnet"};
    return (unsigned)k < 4 ? w[k] : "Object";
}

static const char *kind_label(enum config_object k)
{
    static const char *const w[] = {"pool_id", "scope_id", "vpc_id", "subnet_id"};
    return (unsigned)k < 4 ? w[k] : "object_id";
}

static bool match_tag(const char *sel, const struct record_map *tags)
{
    if (!tags)
        return false;
    const char *eq = strchr(sel, '=');
    size_t kl = eq ? (size_t)(eq - sel) : strlen(sel);
    for (size_t i = 0; i < tags->n; i++) {
        const struct record_map_entry *t = &tags->items[i];
        if (strlen(t->key) == kl && strncmp(t->key, sel, kl) == 0)
            return !eq || str_eq(t->value, eq + 1);
    }
    return false;
}

static bool match_object(const struct config_rule *r, const struct alert_object *o)
{
    if (r->object != o->kind)
        return false;
    if (r->scope && !str_eq(r->scope, o->scope_id) && !str_eq(r->scope, o->scope_name))
        return false;
    if (r->locale && !str_eq(r->locale, o->locale))
        return false;
    if (r->tag && !match_tag(r->tag, o->tags))
        return false;
    if (r->pool) {
        bool hit = o->kind == CONFIG_OBJECT_POOL && str_eq(r->pool, o->name);
        for (size_t i = 0; i < o->n_pools && !hit; i++)
            hit = str_eq(r->pool, o->pools[i]) ||
                  (o->pool_names && str_eq(r->pool, o->pool_names[i]));
        if (!hit)
            return false;
    }
    return true;
}

/* Selectors of effect-driven rules: scope id, pool id and locale (region) when known. */
static bool match_fields(const struct config_rule *r, const char *scope_id, const char *pool_id,
                         const char *region)
{
    return (!r->scope || str_eq(r->scope, scope_id)) && (!r->pool || str_eq(r->pool, pool_id)) &&
           (!r->locale || str_eq(r->locale, region));
}

static void object_labels(struct lset *l, const struct alert_object *o)
{
    lset_add(l, kind_label(o->kind), o->id);
    lset_add(l, "scope_id", o->scope_id);
}

static void object_title(const struct alert_object *o, char *buf, size_t len)
{
    if (o->name && *o->name && !str_eq(o->name, o->id))
        snprintf(buf, len, "%s %s (%s)", kind_word(o->kind), o->name, o->id);
    else
        snprintf(buf, len, "%s %s", kind_word(o->kind), o->id);
}

static const char *unit_word(const struct alert_object *o)
{
    return o->family == 6 ? "/64 blocks" : o->family == 4 ? "addresses" : "units";
}

static void object_annotations(struct alert *a, const struct alert_object *o)
{
    if (o->name && *o->name)
        record_map_set(&a->annotations, "name", o->name);
    if (o->locale && *o->locale)
        record_map_set(&a->annotations, "locale", o->locale);
}

/* ---- utilization ---------------------------------------------------------------------- */

static void eval_utilization_level(alert_engine_t *e, const struct erule *r,
                                   const struct alert_object *o, const struct rrd_sample *s,
                                   enum config_severity sev, double trigger, double reset,
                                   int64_t now_ms)
{
    struct lset l = {.n = 0};
    object_labels(&l, o);
    double u = s->utilization;
    struct alert *a = alert_get(e, r, sev, o->scope_id, &l, false);
    if (e->past && a && a->state == ST_FIRING)
        return; /* the past neither resolves nor renews what the live figures fired */
    bool active = a && a->state != ST_INACTIVE;
    bool on = active ? u >= reset : u >= trigger;
    if (!on) {
        if (a)
            deactivate(e, a, now_ms, now_ms);
        return;
    }
    if (!a)
        a = alert_get(e, r, sev, o->scope_id, &l, true);
    if (!a)
        return;
    a->seen_ms = now_ms;
    a->for_ms = r->cfg->for_ms;
    a->value = u / 100.0;
    char title[512], lf[32] = "";
    object_title(o, title, sizeof title);
    if (!isnan(s->largest_free))
        snprintf(lf, sizeof lf, "; largest free block /%d", (int)s->largest_free);
    annot(a, "summary", "%s is %.1f %% used", title, u);
    annot(a, "description",
          "Utilization %.1f %% reached the %s trigger of %g %% (it resolves below %g %%); "
          "%.0f of %.0f %s free%s",
          u, config_severity_name(sev), trigger, reset, s->free, s->size, unit_word(o), lf);
    object_annotations(a, o);
    set_runbook(a);
    activate(e, a, now_ms);
}

/* ---- cannot_fit ----------------------------------------------------------------------- */

static void eval_cannot_fit(alert_engine_t *e, const struct erule *r, const struct alert_object *o,
                            const struct rrd_sample *s, int64_t now_ms)
{
    int len = r->cfg->netmask > 0 ? r->cfg->netmask : o->default_netmask;
    bool has_free = !isnan(s->free) && s->free > 0 && !(s->utilization >= 100.0);
    bool on;
    if (!has_free)
        on = false; /* full or unknown: utilization rules speak for a full pool */
    else if (len > 0) {
        if (o->family == 4 && len > 32)
            return;
        on = isnan(s->largest_free) || s->largest_free > len;
    } else if (!isnan(s->default_fits))
        on = s->default_fits < 1;
    else
        return; /* no request size known: nothing to judge */

    struct lset l = {.n = 0};
    object_labels(&l, o);
    struct alert *a = alert_get(e, r, r->cfg->severity, o->scope_id, &l, on);
    if (!a)
        return;
    if (!on) {
        deactivate(e, a, now_ms, now_ms);
        return;
    }
    a->seen_ms = now_ms;
    a->for_ms = 0;
    a->value = s->largest_free;
    char title[512], req[32], lf[64];
    object_title(o, title, sizeof title);
    if (len > 0)
        snprintf(req, sizeof req, "/%d", len);
    else
        snprintf(req, sizeof req, "default-size");
    if (isnan(s->largest_free))
        snprintf(lf, sizeof lf, "no free block is left");
    else
        snprintf(lf, sizeof lf, "the largest free block is /%d", (int)s->largest_free);
    annot(a, "summary", "%s cannot fit a %s request although %.1f %% is free", title, req,
          isnan(s->utilization) ? 0.0 : 100.0 - s->utilization);
    annot(a, "description",
          "The next %s allocation would fail: %s; %.0f %s are free but fragmented", req, lf,
          s->free, unit_word(o));
    if (!isnan(s->largest_free))
        annot(a, "largest_free_block", "/%d", (int)s->largest_free);
    object_annotations(a, o);
    set_runbook(a);
    activate(e, a, now_ms);
}

int alert_engine_observe(alert_engine_t *e, const struct alert_object *obj,
                         const struct rrd_sample *s, int64_t now_ms)
{
    if (!e || !obj || !obj->id || !s)
        return -EINVAL;
    for (size_t i = 0; i < e->n_rules; i++) {
        const struct erule *r = &e->rules[i];
        const struct config_rule *c = r->cfg;
        if (c->type != CONFIG_RULE_UTILIZATION && c->type != CONFIG_RULE_CANNOT_FIT)
            continue;
        if (e->past && (c->type != CONFIG_RULE_UTILIZATION || c->for_ms <= 0))
            continue; /* only a `for` has a use for the past */
        if (!match_object(c, obj))
            continue;
        if (c->type == CONFIG_RULE_CANNOT_FIT) {
            eval_cannot_fit(e, r, obj, s, now_ms);
            continue;
        }
        if (isnan(s->utilization))
            continue;
        eval_utilization_level(e, r, obj, s, CONFIG_SEV_CRITICAL, c->crit_trigger, c->crit_reset,
                               now_ms);
        eval_utilization_level(e, r, obj, s, CONFIG_SEV_WARNING, c->warn_trigger, c->warn_reset,
                               now_ms);
    }
    return 0;
}

int alert_engine_observe_past(alert_engine_t *e, const struct alert_object *obj,
                              const struct rrd_sample *s, int64_t sample_ms)
{
    if (!e)
        return -EINVAL;
    e->past = true;
    int rc = alert_engine_observe(e, obj, s, sample_ms);
    e->past = false;
    return rc;
}

/* ---- forecast ------------------------------------------------------------------------- */

double alert_engine_forecast_level(const alert_engine_t *e, enum config_forecast_target target)
{
    if (target == CONFIG_TARGET_FULL)
        return 100.0;
    double lvl = NAN;
    for (size_t i = 0; i < e->n_rules; i++) {
        const struct config_rule *c = e->rules[i].cfg;
        if (c->type == CONFIG_RULE_UTILIZATION && (isnan(lvl) || c->crit_trigger < lvl))
            lvl = c->crit_trigger;
    }
    return isnan(lvl) ? 90.0 : lvl;
}

int alert_engine_forecast(alert_engine_t *e, const struct alert_object *obj,
                          enum config_forecast_target target, double days, double low, double high,
                          int64_t now_ms)
{
    if (!e || !obj || !obj->id)
        return -EINVAL;
    for (size_t i = 0; i < e->n_rules; i++) {
        const struct erule *r = &e->rules[i];
        const struct config_rule *c = r->cfg;
        if (c->type != CONFIG_RULE_FORECAST || c->target != target || !match_object(c, obj))
            continue;
        bool on = isfinite(days) && days >= 0 && days <= c->days;
        struct lset l = {.n = 0};
        object_labels(&l, obj);
        struct alert *a = alert_get(e, r, c->severity, obj->scope_id, &l, on);
        if (!a)
            continue;
        if (!on) {
            deactivate(e, a, now_ms, now_ms);
            continue;
        }
        a->seen_ms = now_ms;
        a->for_ms = 0;
        a->value = days;
        const int64_t day = 86400000;
        char title[512], when[16], early[16], late[16];
        object_title(obj, title, sizeof title);
        fmt_date(now_ms + (int64_t)(days * day), when, sizeof when);
        double lvl = alert_engine_forecast_level(e, target);
        annot(a, "summary", "%s is projected to reach %g %% in %.0f days (%s)", title, lvl, days,
              when);
        annot(a, "exhaustion_date", "%s", when);
        if (isfinite(low) && isfinite(high)) {
            fmt_date(now_ms + (int64_t)((low > 0 ? low : 0) * day), early, sizeof early);
            fmt_date(now_ms + (int64_t)(high * day), late, sizeof late);
            annot(a, "exhaustion_earliest", "%s", early);
            annot(a, "exhaustion_latest", "%s", late);
            annot(a, "description",
                  "At the current growth %s reaches %g %% on %s (confidence range %s to %s), "
                  "within the rule's %d days",
                  title, lvl, when, early, late, c->days);
        } else {
            annot(a, "description",
                  "At the current growth %s reaches %g %% on %s, within the rule's %d days", title,
                  lvl, when, c->days);
        }
        object_annotations(a, obj);
        set_runbook(a);
        activate(e, a, now_ms);
    }
    return 0;
}

size_t alert_engine_sweep(alert_engine_t *e, enum config_rule_type type, int64_t since_ms,
                          int64_t now_ms)
{
    size_t ended = 0;
    for (size_t b = 0; b < e->nbuckets; b++) {
        for (struct alert *a = e->buckets[b], *next; a; a = next) {
            next = a->next;
            if (!a->rule || a->rule->cfg->type != type || a->seen_ms == RECORD_UNSET ||
                a->seen_ms >= since_ms)
                continue;
            if (a->state == ST_FIRING)
                annot(a, "resolution", "the object is no longer reported");
            deactivate(e, a, now_ms, now_ms);
            ended++;
        }
    }
    return ended;
}

/* ---- effects -------------------------------------------------------------------------- */

static const char *jstr(json_t *data, const char *key)
{
    return json_string_value(json_object_get(data, key));
}

/* The stream reached event time `ms`. */
static void event_advance(alert_engine_t *e, int64_t ms)
{
    if (ms != RECORD_UNSET && (e->event_front == RECORD_UNSET || ms > e->event_front))
        e->event_front = ms;
}

/* Splits "owner/cidr" at the first '/' into `owner` and `cidr` buffers. */
static bool split_side(const char *side, char *owner, size_t olen, char *cidr, size_t clen)
{
    const char *slash = side ? strchr(side, '/') : NULL;
    if (!slash || slash == side || !slash[1])
        return false;
    size_t n = (size_t)(slash - side);
    if (n >= olen || strlen(slash + 1) >= clen)
        return false;
    memcpy(owner, side, n);
    owner[n] = '\0';
    snprintf(cidr, clen, "%s", slash + 1);
    return true;
}

static int effect_overlap(alert_engine_t *e, bool open, json_t *data, int64_t ms)
{
    const char *dom = jstr(data, "domain");
    char ra[256], ca[64], rb[256], cb[64];
    if (!dom || !split_side(jstr(data, "a"), ra, sizeof ra, ca, sizeof ca) ||
        !split_side(jstr(data, "b"), rb, sizeof rb, cb, sizeof cb))
        return -EINVAL;
    for (size_t i = 0; i < e->n_rules; i++) {
        const struct erule *r = &e->rules[i];
        if (r->cfg->type != CONFIG_RULE_OVERLAP || (r->cfg->domain && !str_eq(r->cfg->domain, dom)))
            continue;
        struct lset l = {.n = 0};
        lset_add(&l, "domain", dom);
        lset_add(&l, "resource_a", ra);
        lset_add(&l, "cidr_a", ca);
        lset_add(&l, "resource_b", rb);
        lset_add(&l, "cidr_b", cb);
        struct alert *a = alert_get(e, r, r->cfg->severity, GLOBAL_SCOPE, &l, open);
        if (!a)
            continue;
        if (!open) {
            deactivate(e, a, ms, ms);
            continue;
        }
        if (a->state != ST_INACTIVE)
            continue; /* replay of an open pair */
        a->for_ms = 0;
        bool onprem = strncmp(ra, "static:", 7) == 0 || strncmp(rb, "static:", 7) == 0;
        annot(a, "summary", "%s %s overlaps %s %s in routing domain %s", ra, ca, rb, cb, dom);
        annot(a, "description", "%s %s and %s %s intersect in domain %s%s", ra, ca, rb, cb, dom,
              onprem ? "; one side is a static (on-premise) range of the domain" : "");
        set_runbook(a);
        activate(e, a, ms);
    }
    return 0;
}

static int effect_allocation_failed(alert_engine_t *e, json_t *data, int64_t ms)
{
    const char *pool = jstr(data, "pool_id"), *scope = jstr(data, "scope_id");
    const char *acct = jstr(data, "account"), *region = jstr(data, "region");
    const char *code = jstr(data, "error_code"), *msg = jstr(data, "error_message");
    const char *who = jstr(data, "principal_arn");
    if (!pool && !(acct && region))
        return -EINVAL;
    json_int_t nm = json_integer_value(json_object_get(data, "netmask_length"));
    for (size_t i = 0; i < e->n_rules; i++) {
        const struct erule *r = &e->rules[i];
        if (r->cfg->type != CONFIG_RULE_ALLOCATION_FAILED ||
            !match_fields(r->cfg, scope, pool, region))
            continue;
        struct lset l = {.n = 0};
        if (pool) {
            lset_add(&l, "pool_id", pool);
        } else {
            lset_add(&l, "account", acct);
            lset_add(&l, "region", region);
        }
        struct alert *a = alert_get(e, r, r->cfg->severity, scope, &l, true);
        if (!a)
            continue;
        int64_t until = ms + r->cfg->window_ms;
        if (a->state == ST_FIRING) {
            a->count++;
            if (until > a->expires_ms)
                a->expires_ms = until;
        } else {
            a->count = 1;
            a->expires_ms = until;
        }
        a->for_ms = 0;
        a->value = (double)a->count;
        char t[RECORD_TIME_MAX], w[32], req[32] = "";
        fmt_time(ms, t, sizeof t);
        fmt_dur(r->cfg->window_ms, w, sizeof w);
        if (nm > 0)
            snprintf(req, sizeof req, " of a /%lld", (long long)nm);
        annot(a, "summary", "Allocation from %s failed%s%s", pool ? pool : "an IPAM pool",
              code ? ": " : "", code ? code : "");
        annot(a, "description",
              "%lld failed allocation%s within %s; the last%s at %s%s%s in %s/%s: %s",
              (long long)a->count, a->count == 1 ? "" : "s", w, req, t, who ? " by " : "",
              who ? who : "", acct ? acct : "?", region ? region : "?",
              msg ? msg : (code ? code : "no message"));
        if (nm > 0)
            annot(a, "requested_netmask", "/%lld", (long long)nm);
        if (code)
            annot(a, "error_code", "%s", code);
        annot(a, "failures", "%lld", (long long)a->count);
        set_runbook(a);
        activate(e, a, ms);
    }
    return 0;
}

/* A resource CIDR entering (`bad`) or leaving noncompliance, or with `unmanaged`, entering
 * or leaving management state "unmanaged" (only for rules with `unmanaged = yes`; its alerts
 * carry the label management_state="unmanaged", so they never share a fingerprint with the
 * same resource's noncompliance alert). */
static int effect_compliance(alert_engine_t *e, bool bad, bool unmanaged, json_t *data, int64_t ms)
{
    const char *scope = jstr(data, "scope_id"), *rid = jstr(data, "resource_id");
    const char *cidr = jstr(data, "cidr"), *rtype = jstr(data, "resource_type");
    const char *pool = jstr(data, "pool_id"), *region = jstr(data, "region");
    if (!scope || !rid || !cidr)
        return -EINVAL;
    for (size_t i = 0; i < e->n_rules; i++) {
        const struct erule *r = &e->rules[i];
        if (r->cfg->type != CONFIG_RULE_NONCOMPLIANT || (unmanaged && !r->cfg->unmanaged) ||
            !match_fields(r->cfg, scope, pool, region))
            continue;
        struct lset l = {.n = 0};
        lset_add(&l, "scope_id", scope);
        lset_add(&l, "resource_id", rid);
        lset_add(&l, "cidr", cidr);
        lset_add(&l, "resource_type", rtype);
        if (unmanaged)
            lset_add(&l, "management_state", "unmanaged");
        struct alert *a = alert_get(e, r, r->cfg->severity, scope, &l, bad);
        if (!a)
            continue;
        if (!bad) {
            deactivate(e, a, ms, ms);
            continue;
        }
        if (a->state != ST_INACTIVE)
            continue;
        a->for_ms = 0;
        const char *name = jstr(data, "name");
        annot(a, "summary", "%s %s%s%s%s is %s", rtype ? rtype : "resource", rid, name ? " (" : "",
              name ? name : "", name ? ")" : "",
              unmanaged ? "not managed by IPAM" : "noncompliant");
        if (unmanaged)
            annot(a, "description",
                  "%s of %s in %s is not managed by IPAM: no pool allocation covers it, so it "
                  "escapes the pools' allocation rules and overlap planning",
                  cidr, rid, region ? region : "an unknown region");
        else
            annot(a, "description",
                  "%s of %s in %s%s%s does not comply with its IPAM pool's allocation rules", cidr,
                  rid, region ? region : "an unknown region", pool ? ", pool " : "",
                  pool ? pool : "");
        set_runbook(a);
        activate(e, a, ms);
    }
    return 0;
}

bool alert_engine_wants_effect(const alert_engine_t *e, const char *kind)
{
    if (!e || !kind || (strcmp(kind, "unmanaged") != 0 && strcmp(kind, "managed") != 0))
        return true;
    for (size_t i = 0; i < e->n_rules; i++)
        if (e->rules[i].cfg->type == CONFIG_RULE_NONCOMPLIANT && e->rules[i].cfg->unmanaged)
            return true;
    return false;
}

void alert_engine_effect_seen(alert_engine_t *e, int64_t event_ms)
{
    if (e)
        event_advance(e, event_ms);
}

static int reflect_track(alert_engine_t *e, json_t *data, int64_t ms);
static int reflect_release(alert_engine_t *e, json_t *data, int64_t ms);

int alert_engine_effect(alert_engine_t *e, const char *kind, json_t *data, int64_t event_ms)
{
    if (!e || !kind || !json_is_object(data))
        return -EINVAL;
    event_advance(e, event_ms);
    if (strcmp(kind, "overlap_opened") == 0 || strcmp(kind, "overlap_closed") == 0)
        return effect_overlap(e, kind[8] == 'o', data, event_ms);
    if (strcmp(kind, "allocation_failed") == 0)
        return effect_allocation_failed(e, data, event_ms);
    if (strcmp(kind, "noncompliant") == 0 || strcmp(kind, "compliant") == 0)
        return effect_compliance(e, kind[0] == 'n', false, data, event_ms);
    if (strcmp(kind, "unmanaged") == 0 || strcmp(kind, "managed") == 0)
        return effect_compliance(e, kind[0] == 'u', true, data, event_ms);
    if (strcmp(kind, "allocation") == 0)
        return reflect_track(e, data, event_ms);
    if (strcmp(kind, "release") == 0)
        return reflect_release(e, data, event_ms);
    return 0;
}

/* ---- stale ---------------------------------------------------------------------------- */

static struct stale_scope *scope_get(alert_engine_t *e, const char *id)
{
    for (size_t i = 0; i < e->n_scopes; i++)
        if (strcmp(e->scopes[i].id, id) == 0)
            return &e->scopes[i];
    e->scopes = xgrow(e->scopes, &e->cap_scopes, e->n_scopes + 1, sizeof *e->scopes);
    struct stale_scope *s = &e->scopes[e->n_scopes++];
    s->id = xstrdup(id);
    s->pass_ms = s->event_ms = RECORD_UNSET;
    return s;
}

void alert_engine_pass(alert_engine_t *e, const char *scope_id, int64_t pass_ms)
{
    if (!e || !scope_id || !*scope_id)
        return;
    event_advance(e, pass_ms);
    struct stale_scope *s = scope_get(e, scope_id);
    if (s->pass_ms == RECORD_UNSET || pass_ms > s->pass_ms)
        s->pass_ms = pass_ms;
}

void alert_engine_event_seen(alert_engine_t *e, const char *scope_id, int64_t event_ms)
{
    if (!e || !scope_id || !*scope_id)
        return;
    event_advance(e, event_ms);
    struct stale_scope *s = scope_get(e, scope_id);
    if (s->event_ms == RECORD_UNSET || event_ms > s->event_ms)
        s->event_ms = event_ms;
}

void alert_engine_set_caught_up(alert_engine_t *e, bool caught_up, int64_t now_ms)
{
    if (!e)
        return;
    if (!caught_up) {
        e->behind = true;
        return;
    }
    if (e->behind && !e->live_seen)
        e->live_ms = now_ms;
    e->behind = false;
    e->live_seen = true;
}

/* Sets the stale alert of `r` for (scope, reason) to `on`; `limit_ms` is the rule's limit
 * for that reason. A firing alert that is no longer `on` resolves with ends_at `ends_ms`
 * (the pass or event that ended the condition, so that a replay resolves with the same id;
 * RECORD_UNSET: `now_ms`). */
static struct alert *stale_set(alert_engine_t *e, const struct erule *r, const char *scope,
                               const char *reason, bool on, int64_t limit_ms, int64_t now_ms,
                               int64_t ends_ms)
{
    struct lset l = {.n = 0};
    lset_add(&l, "scope_id", scope);
    lset_add(&l, "reason", reason);
    /* Just after a replay: not raised yet, unless it already was before. */
    bool fresh = on && e->live_ms != RECORD_UNSET && now_ms - e->live_ms <= limit_ms;
    struct alert *a = alert_get(e, r, r->cfg->severity, scope, &l, on && !fresh);
    if (a && fresh && a->state == ST_INACTIVE)
        return NULL;
    if (a && !on) {
        deactivate(e, a, now_ms, ends_ms != RECORD_UNSET ? ends_ms : now_ms);
        return NULL;
    }
    if (a)
        a->for_ms = 0;
    return a;
}

/* The earliest pass or CloudTrail event of any scope: what ended the collector's silence
 * since the start; RECORD_UNSET when none. */
static int64_t first_report(const alert_engine_t *e)
{
    int64_t first = RECORD_UNSET;
    for (size_t i = 0; i < e->n_scopes; i++) {
        const int64_t t[] = {e->scopes[i].pass_ms, e->scopes[i].event_ms};
        for (size_t k = 0; k < 2; k++)
            if (t[k] != RECORD_UNSET && (first == RECORD_UNSET || t[k] < first))
                first = t[k];
    }
    return first;
}

static void eval_reflect(alert_engine_t *e, const struct erule *r, size_t ri, int64_t now_ms);

static void eval_stale(alert_engine_t *e, const struct erule *r, size_t ri, int64_t now_ms)
{
    const struct config_rule *c = r->cfg;
    char age[32], t[RECORD_TIME_MAX], lim[32];
    if (e->behind)
        return; /* a replay: the figures are of the past, not of the collector now */
    /* No scope reported at all: the collector has been silent since we started. */
    if (!c->scope) {
        bool on = e->n_scopes == 0 && now_ms - e->started_ms > c->max_pass_age_ms;
        struct alert *a =
            stale_set(e, r, NULL, "pass_age", on, c->max_pass_age_ms, now_ms, first_report(e));
        if (a) {
            fmt_dur(now_ms - e->started_ms, age, sizeof age);
            fmt_dur(c->max_pass_age_ms, lim, sizeof lim);
            a->value = (double)(now_ms - e->started_ms) / 1000.0;
            annot(a, "summary", "No complete inventory pass received for %s", age);
            annot(a, "description",
                  "The analyzer has not received a complete inventory pass of any scope since it "
                  "started %s ago (limit %s): the collector is silent or failing",
                  age, lim);
            set_runbook(a);
            activate_since(e, a, e->started_ms + c->max_pass_age_ms, now_ms);
        }
    }
    for (size_t i = 0; i < e->n_scopes; i++) {
        const struct stale_scope *s = &e->scopes[i];
        if (c->scope && !str_eq(c->scope, s->id))
            continue;
        int64_t ref = s->pass_ms != RECORD_UNSET ? s->pass_ms : e->started_ms;
        bool on = now_ms - ref > c->max_pass_age_ms;
        struct alert *a =
            stale_set(e, r, s->id, "pass_age", on, c->max_pass_age_ms, now_ms, s->pass_ms);
        if (a) {
            fmt_dur(now_ms - ref, age, sizeof age);
            fmt_dur(c->max_pass_age_ms, lim, sizeof lim);
            fmt_time(s->pass_ms, t, sizeof t);
            a->value = (double)(now_ms - ref) / 1000.0;
            annot(a, "summary", "No complete inventory pass of %s for %s", s->id, age);
            annot(a, "description",
                  "The last complete pass of scope %s started at %s, %s ago (limit %s): the "
                  "collector is silent or its passes are torn",
                  s->id, t, age, lim);
            set_runbook(a);
            activate_since(e, a, ref + c->max_pass_age_ms, now_ms);
        }
        on = s->event_ms != RECORD_UNSET &&
             (s->pass_ms == RECORD_UNSET || s->event_ms > s->pass_ms) &&
             now_ms - s->event_ms > c->max_event_lag_ms;
        a = stale_set(e, r, s->id, "event_lag", on, c->max_event_lag_ms, now_ms, s->pass_ms);
        if (a) {
            fmt_dur(now_ms - s->event_ms, age, sizeof age);
            fmt_dur(c->max_event_lag_ms, lim, sizeof lim);
            fmt_time(s->event_ms, t, sizeof t);
            a->value = (double)(now_ms - s->event_ms) / 1000.0;
            annot(a, "summary", "Inventory of %s is %s behind CloudTrail", s->id, age);
            annot(a, "description",
                  "CloudTrail recorded a change in scope %s at %s, and no complete inventory pass "
                  "has started since (limit %s): IPAM's view lags the event stream",
                  s->id, t, lim);
            set_runbook(a);
            activate_since(e, a, s->event_ms + c->max_event_lag_ms, now_ms);
        }
    }
    eval_reflect(e, r, ri, now_ms);
}

/* ---- allocations not reflected in the inventory --------------------------------------- */

static const struct stale_scope *scope_find(const alert_engine_t *e, const char *id)
{
    for (size_t i = 0; i < e->n_scopes; i++)
        if (str_eq(e->scopes[i].id, id))
            return &e->scopes[i];
    return NULL;
}

/* "pool|cidr" with the CIDR in canonical form, owned by the caller. */
static char *reflect_key(const char *pool, const char *cidr)
{
    prefix_t p;
    char text[PREFIX_STRLEN], perr[160];
    if (prefix_parse(cidr, &p, perr, sizeof perr) == 0 && prefix_format(&p, text, sizeof text) >= 0)
        cidr = text;
    return xasprintf("%s|%s", pool, cidr);
}

/* The reflect_lag alert of stale rule `r` about tracked allocation `t`; created when
 * `create`. */
static struct alert *reflect_alert(alert_engine_t *e, const struct erule *r, json_t *t, bool create)
{
    struct lset l = {.n = 0};
    lset_add(&l, "scope_id", jstr(t, "scope"));
    lset_add(&l, "reason", "reflect_lag");
    lset_add(&l, "pool_id", jstr(t, "pool"));
    lset_add(&l, "cidr", jstr(t, "cidr"));
    lset_add(&l, "allocation_id", jstr(t, "allocation"));
    lset_add(&l, "account", jstr(t, "account"));
    return alert_get(e, r, r->cfg->severity, jstr(t, "scope"), &l, create);
}

/* Stops tracking `key`: its alerts (in every stale rule) resolve, annotated with `why`. */
static void reflect_end(alert_engine_t *e, const char *key, const char *why, int64_t now_ms)
{
    json_t *t = json_object_get(e->unreflected, key);
    if (!t)
        return;
    for (size_t i = 0; i < e->n_rules; i++) {
        const struct erule *r = &e->rules[i];
        if (r->cfg->type != CONFIG_RULE_STALE)
            continue;
        struct alert *a = reflect_alert(e, r, t, false);
        if (!a)
            continue;
        if (a->state == ST_FIRING)
            annot(a, "resolution", "%s", why);
        deactivate(e, a, now_ms, now_ms);
    }
    json_object_del(e->unreflected, key);
    if (e->unreflected_complain.failing)
        log_relief(&e->unreflected_complain, LOG_MODULE,
                   "allocations not yet in the inventory are tracked again (%llu were not)",
                   (unsigned long long)e->unreflected_dropped);
}

/* Adds tracked allocation `t` (borrowed) under `key` unless the table is full. */
static void reflect_put(alert_engine_t *e, const char *key, json_t *t)
{
    if (json_object_size(e->unreflected) >= MAX_UNREFLECTED) {
        e->unreflected_dropped++;
        log_complain(&e->unreflected_complain, LOG_LEVEL_WARN, LOG_MODULE,
                     "%d allocations not yet in the inventory are tracked already: %s is not "
                     "(%llu not tracked so far)",
                     MAX_UNREFLECTED, key, (unsigned long long)e->unreflected_dropped);
        return;
    }
    json_t *copy = json_copy(t);
    json_object_del(copy, "mask");
    json_object_set_new(e->unreflected, key, copy);
}

/* A successful allocation event (`data` as model.h's "allocation" effect): tracked until an
 * inventory allocation record lists it, unless the model found it in the inventory already
 * (`in_inventory`), or a complete pass of its scope started more than the largest
 * max_reflect_lag after it (history replayed after the inventory moved on). */
static int reflect_track(alert_engine_t *e, json_t *data, int64_t ms)
{
    if (e->max_reflect_lag_ms <= 0)
        return 0;
    const char *scope = jstr(data, "scope_id"), *pool = jstr(data, "pool_id");
    const char *cidr = jstr(data, "cidr");
    if (!scope || !pool || !cidr)
        return -EINVAL;
    if (json_is_true(json_object_get(data, "in_inventory")))
        return 0;
    const struct stale_scope *sc = scope_find(e, scope);
    if (sc && sc->pass_ms != RECORD_UNSET && sc->pass_ms - ms > e->max_reflect_lag_ms)
        return 0;
    char *key = reflect_key(pool, cidr);
    if (!json_object_get(e->unreflected, key)) {
        json_t *t = json_pack("{s:s,s:s,s:s,s:I}", "scope", scope, "pool", pool, "cidr", cidr,
                              "event", (json_int_t)ms);
        static const char *const opt[][2] = {{"allocation", "allocation_id"},
                                             {"account", "account"},
                                             {"region", "region"},
                                             {"principal", "principal_arn"}};
        for (size_t i = 0; t && i < sizeof opt / sizeof opt[0]; i++)
            if (jstr(data, opt[i][1]))
                json_object_set_new(t, opt[i][0], json_string(jstr(data, opt[i][1])));
        if (t)
            reflect_put(e, key, t);
        json_decref(t);
    }
    free(key);
    return 0;
}

/* A release event: the allocation it names (by CIDR, else by allocation id) is no longer
 * waited for. */
static int reflect_release(alert_engine_t *e, json_t *data, int64_t ms)
{
    const char *pool = jstr(data, "pool_id"), *cidr = jstr(data, "cidr");
    const char *aid = jstr(data, "allocation_id");
    if (!pool || (!cidr && !aid))
        return -EINVAL;
    if (json_object_size(e->unreflected) == 0)
        return 0;
    const char *why = "the allocation was released before the inventory listed it";
    if (cidr) {
        char *key = reflect_key(pool, cidr);
        bool hit = json_object_get(e->unreflected, key) != NULL;
        if (hit)
            reflect_end(e, key, why, ms);
        free(key);
        if (hit || !aid)
            return 0;
    }
    const char *key;
    json_t *t;
    json_object_foreach(e->unreflected, key, t)
    {
        if (str_eq(jstr(t, "pool"), pool) && str_eq(jstr(t, "allocation"), aid)) {
            char *k = xstrdup(key);
            reflect_end(e, k, why, ms);
            free(k);
            break;
        }
    }
    return 0;
}

void alert_engine_allocation_seen(alert_engine_t *e, const char *pool_id, const char *cidr,
                                  int64_t now_ms)
{
    if (!e || !pool_id || !cidr || json_object_size(e->unreflected) == 0)
        return;
    char *key = reflect_key(pool_id, cidr);
    reflect_end(e, key, "the inventory lists the allocation", now_ms);
    free(key);
}

/* Raises the reflect_lag alert of stale rule `r` (index `ri`) for every tracked allocation
 * older than its max_reflect_lag whose scope had a complete pass start after the event (that
 * pass did not list it). Without such a pass the event_lag check speaks for the scope. */
static void eval_reflect(alert_engine_t *e, const struct erule *r, size_t ri, int64_t now_ms)
{
    const struct config_rule *c = r->cfg;
    json_int_t bit = ri < 62 ? (json_int_t)1 << ri : 0;
    const char *key;
    json_t *t;
    json_object_foreach(e->unreflected, key, t)
    {
        json_int_t mask = json_integer_value(json_object_get(t, "mask"));
        if (bit && (mask & bit))
            continue;
        const char *scope = jstr(t, "scope"), *pool = jstr(t, "pool");
        if (!match_fields(c, scope, pool, jstr(t, "region")))
            continue;
        int64_t ev = (int64_t)json_integer_value(json_object_get(t, "event"));
        const struct stale_scope *sc = scope_find(e, scope);
        if (now_ms - ev <= c->max_reflect_lag_ms || !sc || sc->pass_ms == RECORD_UNSET ||
            sc->pass_ms <= ev)
            continue;
        struct alert *a = reflect_alert(e, r, t, true);
        if (!a)
            continue;
        char age[32], lim[32], te[RECORD_TIME_MAX], tp[RECORD_TIME_MAX];
        fmt_dur(now_ms - ev, age, sizeof age);
        fmt_dur(c->max_reflect_lag_ms, lim, sizeof lim);
        fmt_time(ev, te, sizeof te);
        fmt_time(sc->pass_ms, tp, sizeof tp);
        const char *aid = jstr(t, "allocation"), *who = jstr(t, "principal");
        a->for_ms = 0;
        a->value = (double)(now_ms - ev) / 1000.0;
        annot(a, "summary", "Allocation %s from %s is not in the inventory %s after CloudTrail",
              jstr(t, "cidr"), pool, age);
        annot(a, "description",
              "CloudTrail recorded allocation %s of %s from pool %s at %s%s%s; the complete "
              "inventory pass of scope %s that started at %s does not list it (limit %s): "
              "IPAM's view lags CloudTrail",
              aid ? aid : "(no id)", jstr(t, "cidr"), pool, te, who ? " by " : "", who ? who : "",
              scope, tp, lim);
        set_runbook(a);
        activate_since(e, a, ev + c->max_reflect_lag_ms, now_ms);
        if (bit && a->state == ST_FIRING)
            json_object_set_new(t, "mask", json_integer(mask | bit));
    }
}

/* The tracked allocations of the scopes `want` selects (NULL: all) as a new array. */
static json_t *reflect_json(const alert_engine_t *e, alert_scope_fn want, void *ctx)
{
    json_t *arr = json_array();
    const char *key;
    json_t *t;
    json_object_foreach(e->unreflected, key, t)
    {
        if (want && !want(ctx, jstr(t, "scope")))
            continue;
        json_t *copy = json_copy(t);
        json_object_del(copy, "mask");
        json_array_append_new(arr, copy);
    }
    return arr;
}

/* Adds the tracked allocations of `arr` (reflect_json()'s form, borrowed; may be NULL:
 * state written before allocations were tracked) that the engine does not hold yet. */
static void reflect_merge(alert_engine_t *e, json_t *arr)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        const char *pool = jstr(o, "pool"), *cidr = jstr(o, "cidr");
        if (!jstr(o, "scope") || !pool || !cidr || !json_is_integer(json_object_get(o, "event")))
            continue;
        char *key = reflect_key(pool, cidr);
        if (!json_object_get(e->unreflected, key))
            reflect_put(e, key, o);
        free(key);
    }
}

/* ---- tick ----------------------------------------------------------------------------- */

void alert_engine_tick(alert_engine_t *e, int64_t now_ms)
{
    if (!e)
        return;
    e->wall_ms = now_ms;
    for (size_t b = 0; b < e->nbuckets; b++) {
        for (struct alert *a = e->buckets[b], *next; a; a = next) {
            next = a->next;
            if (!a->rule) {
                if (a->state == ST_FIRING)
                    annot(a, "resolution", "the rule no longer exists");
                deactivate(e, a, now_ms, now_ms);
                continue;
            }
            const struct config_rule *c = a->rule->cfg;
            /* The window is event time: it ends once the clock passed its end and, while the
             * analyzer replays a backlog, the stream did too (a failure inside it may still
             * be on its way). */
            if (c->type == CONFIG_RULE_ALLOCATION_FAILED && a->expires_ms != RECORD_UNSET &&
                now_ms >= a->expires_ms &&
                (!e->behind ||
                 (e->event_front != RECORD_UNSET && e->event_front >= a->expires_ms))) {
                deactivate(e, a, now_ms, a->expires_ms);
                continue;
            }
            /* A pending alert's `for` is judged by its observations (event time), not here. */
            if (a->state != ST_FIRING)
                continue;
            /* Repeats are wall time since the last notification; one never stamped, or
             * stamped after now (the clock stepped back), counts from now. */
            if (a->last_sent == RECORD_UNSET || a->last_sent > now_ms) {
                a->last_sent = now_ms;
            } else if (now_ms - a->last_sent >= c->repeat_interval_ms) {
                a->last_sent = now_ms;
                a->repeats++;
                e->st.repeats++;
                emit(e, a, "firing", now_ms, RECORD_UNSET);
            }
        }
    }
    for (size_t i = 0; i < e->n_rules; i++)
        if (e->rules[i].cfg->type == CONFIG_RULE_STALE)
            eval_stale(e, &e->rules[i], i, now_ms);
}

/* ---- rules ---------------------------------------------------------------------------- */

/* The built-in rules used when a config defines none (README.md, configuration reference). */
static void default_rules(alert_engine_t *e, const struct config *cfg)
{
    static const struct {
        const char *name;
        enum config_rule_type type;
    } defs[] = {
        {"utilization_high", CONFIG_RULE_UTILIZATION},
        {"cannot_fit", CONFIG_RULE_CANNOT_FIT},
        {"forecast", CONFIG_RULE_FORECAST},
        {"overlap", CONFIG_RULE_OVERLAP},
        {"allocation_failed", CONFIG_RULE_ALLOCATION_FAILED},
        {"noncompliant", CONFIG_RULE_NONCOMPLIANT},
        {"stale_data", CONFIG_RULE_STALE},
    };
    size_t n = sizeof defs / sizeof defs[0];
    e->defaults = xcalloc(n, sizeof *e->defaults);
    e->n_defaults = n;
    for (size_t i = 0; i < n; i++) {
        struct config_rule *r = &e->defaults[i];
        r->name = xstrdup(defs[i].name);
        r->type = defs[i].type;
        r->severity = CONFIG_SEV_WARNING;
        r->object = CONFIG_OBJECT_POOL;
        r->repeat_interval_ms = 4 * 3600 * 1000LL;
        r->warn_trigger = 80;
        r->warn_reset = 75;
        r->crit_trigger = 90;
        r->crit_reset = 85;
        r->for_ms = 15 * 60 * 1000LL;
        r->days = 30;
        r->target = CONFIG_TARGET_FULL;
        r->max_pass_age_ms = 30 * 60 * 1000LL;
        r->max_event_lag_ms = 3600 * 1000LL;
        r->max_reflect_lag_ms = 3600 * 1000LL;
        r->window_ms = r->type == CONFIG_RULE_FORECAST ? (cfg && cfg->analyzer.forecast_window_ms
                                                              ? cfg->analyzer.forecast_window_ms
                                                              : 90 * 86400000LL)
                                                       : 3600 * 1000LL;
        if (r->type == CONFIG_RULE_ALLOCATION_FAILED || r->type == CONFIG_RULE_OVERLAP)
            r->severity = CONFIG_SEV_CRITICAL;
    }
}

static void rules_init(alert_engine_t *e, const struct config *cfg)
{
    const struct config_rule *src = cfg ? cfg->rules : NULL;
    size_t n = cfg ? cfg->n_rules : 0;
    if (n == 0) {
        default_rules(e, cfg);
        src = e->defaults;
        n = e->n_defaults;
    }
    e->rules = xcalloc(n, sizeof *e->rules);
    e->n_rules = n;
    for (size_t i = 0; i < n; i++) {
        struct erule *r = &e->rules[i];
        r->cfg = &src[i];
        if (src[i].type == CONFIG_RULE_STALE && src[i].max_reflect_lag_ms > e->max_reflect_lag_ms)
            e->max_reflect_lag_ms = src[i].max_reflect_lag_ms;
        const struct config_list *ls = &src[i].labels;
        r->lkeys = xcalloc(ls->n + 1, sizeof *r->lkeys);
        r->lvals = xcalloc(ls->n + 1, sizeof *r->lvals);
        for (size_t j = 0; j < ls->n; j++) {
            const char *eq = strchr(ls->items[j], '=');
            char *k = eq ? xstrndup(ls->items[j], (size_t)(eq - ls->items[j])) : NULL;
            if (!k || !alert_label_name_valid(k) || strcmp(k, "alertname") == 0 ||
                strcmp(k, "severity") == 0) {
                LOG_WARN("rule %s: label '%s' ignored (not a label name, or reserved)", src[i].name,
                         ls->items[j]);
                free(k);
                continue;
            }
            r->lkeys[r->nlabels] = k;
            r->lvals[r->nlabels] = xstrdup(eq + 1);
            r->nlabels++;
        }
    }
}

static const struct erule *rule_find(const alert_engine_t *e, const char *name)
{
    for (size_t i = 0; i < e->n_rules; i++)
        if (str_eq(e->rules[i].cfg->name, name))
            return &e->rules[i];
    return NULL;
}

/* ---- persistence ---------------------------------------------------------------------- */

static json_t *map_json(const struct record_map *m)
{
    json_t *o = json_object();
    for (size_t i = 0; i < m->n; i++)
        json_object_set_new(o, m->items[i].key, json_string(m->items[i].value));
    return o;
}

static json_t *time_json(int64_t ms)
{
    return ms == RECORD_UNSET ? json_null() : json_integer((json_int_t)ms);
}

static int64_t json_time(json_t *v)
{
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : RECORD_UNSET;
}

static json_t *state_json(const alert_engine_t *e)
{
    json_t *alerts = json_array();
    for (size_t b = 0; b < e->nbuckets; b++) {
        for (const struct alert *a = e->buckets[b]; a; a = a->next) {
            if (a->state == ST_INACTIVE)
                continue;
            json_t *o = json_object();
            json_object_set_new(o, "fingerprint", json_string(a->fp));
            json_object_set_new(o, "rule", json_string(a->rule_name));
            json_object_set_new(o, "severity", json_string(a->severity));
            json_object_set_new(o, "scope", json_string(a->scope));
            json_object_set_new(o, "state",
                                json_string(a->state == ST_FIRING ? "firing" : "pending"));
            json_object_set_new(o, "labels", map_json(&a->labels));
            json_object_set_new(o, "annotations", map_json(&a->annotations));
            json_object_set_new(o, "active_since", time_json(a->active_since));
            json_object_set_new(o, "notified", time_json(a->last_sent));
            json_object_set_new(o, "repeats", json_integer((json_int_t)a->repeats));
            json_object_set_new(o, "seen", time_json(a->seen_ms));
            json_object_set_new(o, "expires", time_json(a->expires_ms));
            json_object_set_new(o, "for", json_integer((json_int_t)a->for_ms));
            json_object_set_new(o, "value", isnan(a->value) ? json_null() : json_real(a->value));
            json_object_set_new(o, "count", json_integer((json_int_t)a->count));
            json_array_append_new(alerts, o);
        }
    }
    json_t *scopes = json_array();
    for (size_t i = 0; i < e->n_scopes; i++)
        json_array_append_new(scopes, json_pack("{s:s,s:o,s:o}", "id", e->scopes[i].id, "pass",
                                                time_json(e->scopes[i].pass_ms), "event",
                                                time_json(e->scopes[i].event_ms)));
    return json_pack("{s:i,s:o,s:o,s:o,s:o}", "version", STATE_VERSION, "started",
                     time_json(e->started_ms), "alerts", alerts, "scopes", scopes, "unreflected",
                     reflect_json(e, NULL, NULL));
}

static const char *severity_static(const char *s)
{
    for (int v = CONFIG_SEV_INFO; v <= CONFIG_SEV_CRITICAL; v++)
        if (str_eq(s, config_severity_name((enum config_severity)v)))
            return config_severity_name((enum config_severity)v);
    return NULL;
}

/* Adds the alerts and stale bookkeeping of a state document (alert_engine_save()'s
 * "alerts" and "scopes" arrays, borrowed) that the engine does not know yet. `what` names
 * the document in errors. Returns 0 or -EINVAL. */
static int state_merge(alert_engine_t *e, json_t *alerts, json_t *scopes, const char *what,
                       char *err, size_t errlen)
{
    size_t i;
    json_t *o;
    json_array_foreach(alerts, i, o)
    {
        const char *fp = jstr(o, "fingerprint"), *rule = jstr(o, "rule");
        const char *sev = severity_static(jstr(o, "severity")), *st = jstr(o, "state");
        json_t *labels = json_object_get(o, "labels"), *ann = json_object_get(o, "annotations");
        if (!fp || strlen(fp) != FP_LEN || strspn(fp, "0123456789abcdef") != FP_LEN || !rule ||
            !sev || !st || !json_is_object(labels) || !json_is_object(ann) ||
            (strcmp(st, "firing") != 0 && strcmp(st, "pending") != 0)) {
            snprintf(err, errlen, "alert state %s: alert #%zu is incomplete", what, i + 1);
            return -EINVAL;
        }
        if (table_get(e, fp))
            continue;
        struct alert *a = xcalloc(1, sizeof *a);
        memcpy(a->fp, fp, FP_LEN + 1);
        a->rule = rule_find(e, rule);
        a->rule_name = xstrdup(rule);
        a->severity = sev;
        a->scope = xstrdup(jstr(o, "scope") ? jstr(o, "scope") : GLOBAL_SCOPE);
        const char *k;
        json_t *v;
        json_object_foreach(labels, k, v) if (json_is_string(v))
            record_map_set(&a->labels, k, json_string_value(v));
        json_object_foreach(ann, k, v) if (json_is_string(v))
            record_map_set(&a->annotations, k, json_string_value(v));
        a->state = strcmp(st, "firing") == 0 ? ST_FIRING : ST_PENDING;
        a->active_since = json_time(json_object_get(o, "active_since"));
        /* Wall time of the last notification; a state without it (written when repeats
         * were scheduled from the event time) starts the schedule over. */
        a->last_sent = json_time(json_object_get(o, "notified"));
        if (a->state == ST_FIRING && a->last_sent == RECORD_UNSET)
            a->last_sent = e->wall_ms;
        a->repeats = (int64_t)json_integer_value(json_object_get(o, "repeats"));
        a->seen_ms = json_time(json_object_get(o, "seen"));
        a->expires_ms = json_time(json_object_get(o, "expires"));
        a->for_ms = (int64_t)json_integer_value(json_object_get(o, "for"));
        json_t *val = json_object_get(o, "value");
        a->value = json_is_number(val) ? json_number_value(val) : NAN;
        a->count = (int64_t)json_integer_value(json_object_get(o, "count"));
        if (a->active_since == RECORD_UNSET)
            a->active_since = e->started_ms;
        table_put(e, a);
    }
    json_array_foreach(scopes, i, o)
    {
        const char *id = jstr(o, "id");
        if (!id || !*id)
            continue;
        struct stale_scope *s = scope_get(e, id);
        s->pass_ms = json_time(json_object_get(o, "pass"));
        s->event_ms = json_time(json_object_get(o, "event"));
    }
    return 0;
}

static int state_load(alert_engine_t *e, const char *path, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        if (access(path, F_OK) != 0 && errno == ENOENT)
            return 0; /* first start */
        snprintf(err, errlen, "alert state %s: line %d: %s", path, je.line, je.text);
        return -EINVAL;
    }
    int rc = -EINVAL;
    json_t *alerts = json_object_get(root, "alerts"), *scopes = json_object_get(root, "scopes");
    if (json_integer_value(json_object_get(root, "version")) != STATE_VERSION ||
        !json_is_array(alerts) || !json_is_array(scopes)) {
        snprintf(err, errlen, "alert state %s: not an alert state file of version %d", path,
                 STATE_VERSION);
        goto fail;
    }
    int64_t started = json_time(json_object_get(root, "started"));
    if (started != RECORD_UNSET)
        e->started_ms = started;
    rc = state_merge(e, alerts, scopes, path, err, errlen);
    if (rc == 0)
        reflect_merge(e, json_object_get(root, "unreflected"));
fail:
    json_decref(root);
    return rc;
}

void alert_engine_set_checkpoint(alert_engine_t *e, uint64_t gen)
{
    e->checkpoint = (int64_t)gen;
}

int alert_engine_save(alert_engine_t *e, char *err, size_t errlen)
{
    if (!e || !e->state_path)
        return 0;
    json_t *root = state_json(e);
    if (e->checkpoint >= 0)
        json_object_set_new(root, "checkpoint", json_integer((json_int_t)e->checkpoint));
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!text) {
        snprintf(err, errlen, "alert state: cannot encode the state");
        return -ENOMEM;
    }
    char *line = xasprintf("%s\n", text);
    free(text);
    char why[512];
    int rc = fileio_write_atomic(e->state_path, line, strlen(line), 0600, 0, why, sizeof why);
    if (rc < 0)
        snprintf(err, errlen, "alert state: %s", why);
    free(line);
    return rc;
}

/* ---- construction --------------------------------------------------------------------- */

alert_engine_t *alert_engine_new(const struct config *cfg, const char *state_path,
                                 const char *source, alert_emit_fn emit_fn, void *ctx, char *err,
                                 size_t errlen)
{
    alert_engine_t *e = xcalloc(1, sizeof *e);
    e->nbuckets = 64;
    e->buckets = xcalloc(e->nbuckets, sizeof *e->buckets);
    e->emit = emit_fn;
    e->ctx = ctx;
    e->source = xstrdup(source && *source ? source : DEFAULT_SOURCE);
    e->state_path = state_path ? xstrdup(state_path) : NULL;
    e->unreflected = json_object();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    e->started_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    e->wall_ms = e->started_ms;
    e->event_front = RECORD_UNSET;
    e->live_ms = RECORD_UNSET;
    e->checkpoint = -1;
    rules_init(e, cfg);
    if (e->state_path && state_load(e, e->state_path, err, errlen) < 0)
        goto fail;
    return e;

fail:
    alert_engine_free(e);
    return NULL;
}

void alert_engine_free(alert_engine_t *e)
{
    if (!e)
        return;
    for (size_t b = 0; b < e->nbuckets; b++) {
        for (struct alert *a = e->buckets[b], *next; a; a = next) {
            next = a->next;
            alert_free(a);
        }
    }
    free(e->buckets);
    for (size_t i = 0; i < e->n_rules; i++) {
        for (size_t j = 0; j < e->rules[i].nlabels; j++) {
            free(e->rules[i].lkeys[j]);
            free(e->rules[i].lvals[j]);
        }
        free(e->rules[i].lkeys);
        free(e->rules[i].lvals);
    }
    free(e->rules);
    for (size_t i = 0; i < e->n_defaults; i++)
        free(e->defaults[i].name);
    free(e->defaults);
    for (size_t i = 0; i < e->n_scopes; i++)
        free(e->scopes[i].id);
    free(e->scopes);
    json_decref(e->unreflected);
    free(e->state_path);
    free(e->source);
    free(e);
}

size_t alert_engine_foreach_firing(const alert_engine_t *e, alert_emit_fn fn, void *ctx)
{
    size_t n = 0;
    char err[256];
    for (size_t b = 0; b < e->nbuckets; b++)
        for (const struct alert *a = e->buckets[b]; a; a = a->next) {
            if (a->state != ST_FIRING)
                continue;
            struct record *rec = alert_record(e, a, "firing", a->last_sent, RECORD_UNSET);
            if (record_validate(rec, err, sizeof err) == 0) {
                fn(ctx, rec);
                n++;
            }
            record_free(rec);
        }
    return n;
}

void alert_engine_get_stats(const alert_engine_t *e, struct alert_engine_stats *out)
{
    *out = e->st;
    out->pending = out->firing = 0;
    out->unreflected = json_object_size(e->unreflected);
    out->unreflected_dropped = e->unreflected_dropped;
    for (size_t b = 0; b < e->nbuckets; b++)
        for (const struct alert *a = e->buckets[b]; a; a = a->next) {
            out->pending += a->state == ST_PENDING;
            out->firing += a->state == ST_FIRING;
        }
}

size_t alert_engine_rule_counts(const alert_engine_t *e, alert_rule_count_fn fn, void *ctx)
{
    if (e->n_rules == 0)
        return 0;
    struct alert_rule_count *c = xcalloc(e->n_rules, sizeof *c);
    for (size_t i = 0; i < e->n_rules; i++) {
        c[i].rule = e->rules[i].cfg->name;
        c[i].sent_firing = e->rules[i].sent_firing;
        c[i].sent_resolved = e->rules[i].sent_resolved;
    }
    for (size_t b = 0; b < e->nbuckets; b++)
        for (const struct alert *a = e->buckets[b]; a; a = a->next) {
            if (!a->rule)
                continue; /* its rule is gone: resolved at the next tick */
            struct alert_rule_count *rc = &c[a->rule - e->rules];
            rc->pending += a->state == ST_PENDING;
            rc->firing += a->state == ST_FIRING;
        }
    for (size_t i = 0; i < e->n_rules; i++)
        fn(ctx, &c[i]);
    free(c);
    return e->n_rules;
}

/* ---- partition state (scale-out) ------------------------------------------------------- */

json_t *alert_engine_export(const alert_engine_t *e, alert_scope_fn want, void *ctx)
{
    json_t *all = state_json(e);
    json_t *alerts = json_array(), *scopes = json_array();
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(all, "alerts"), i, o)
    {
        const char *scope = jstr(o, "scope");
        if (want(ctx, scope ? scope : GLOBAL_SCOPE))
            json_array_append(alerts, o);
    }
    json_array_foreach(json_object_get(all, "scopes"), i, o)
    {
        const char *id = jstr(o, "id");
        if (id && want(ctx, id))
            json_array_append(scopes, o);
    }
    json_decref(all);
    return json_pack("{s:i,s:o,s:o,s:o}", "version", STATE_VERSION, "alerts", alerts, "scopes",
                     scopes, "unreflected", reflect_json(e, want, ctx));
}

size_t alert_engine_forget(alert_engine_t *e, alert_scope_fn want, void *ctx)
{
    size_t n = 0;
    for (size_t b = 0; b < e->nbuckets; b++) {
        for (struct alert *a = e->buckets[b], *next; a; a = next) {
            next = a->next;
            if (!want(ctx, a->scope))
                continue;
            table_del(e, a);
            n++;
        }
    }
    size_t keep = 0;
    for (size_t i = 0; i < e->n_scopes; i++) {
        if (want(ctx, e->scopes[i].id))
            free(e->scopes[i].id);
        else
            e->scopes[keep++] = e->scopes[i];
    }
    e->n_scopes = keep;
    const char *key;
    json_t *t, *tmp;
    json_object_foreach_safe(e->unreflected, tmp, key, t)
    {
        if (want(ctx, jstr(t, "scope")))
            json_object_del(e->unreflected, key);
    }
    return n;
}

int alert_engine_adopt(alert_engine_t *e, json_t *state, char *err, size_t errlen)
{
    json_t *alerts = json_object_get(state, "alerts"), *scopes = json_object_get(state, "scopes");
    if (json_integer_value(json_object_get(state, "version")) != STATE_VERSION ||
        !json_is_array(alerts) || !json_is_array(scopes)) {
        snprintf(err, errlen, "partition alert state: not an alert state of version %d",
                 STATE_VERSION);
        return -EINVAL;
    }
    int rc = state_merge(e, alerts, scopes, "(partition state)", err, errlen);
    if (rc == 0)
        reflect_merge(e, json_object_get(state, "unreflected"));
    return rc;
}
