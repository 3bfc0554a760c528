/* ct_state: the CloudTrail checkpoint of one (account, Region), kept in an atomically
 * replaced JSON file (format: docs in ct_state.h). */
#define LOG_MODULE "ct_state"
#include "collector/ct_state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "fileio.h"
#include "log.h"
#include "xalloc.h"

#define CT_STATE_VERSION 1

struct ct_state {
    char *path;
    char *account;
    char *region;
    int64_t checkpoint; /* CT_STATE_NONE when unset */
    int64_t horizon;    /* CT_STATE_NONE when unset */
    json_t *seen;       /* object: id -> EventTime ms */
    json_t *pending;    /* object: id -> EventTime ms */
    char *pending_topic;
    json_t *offsets; /* object: partition (text) -> end offset before producing */
};

static bool safe_label(const char *s)
{
    if (!s || !*s || strlen(s) > 64)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static int64_t json_ms(const json_t *v)
{
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    return CT_STATE_NONE;
}

static int parse_file(ct_state_t *st, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_load_file(st->path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        if (access(st->path, F_OK) != 0 && errno == ENOENT)
            return 0;
        snprintf(err, errlen, "%s:%d: %s", st->path, jerr.line, jerr.text);
        return -EINVAL;
    }
    int rc = -EINVAL;
    const char *what = NULL;
    json_t *v = json_object_get(doc, "version");
    if (!json_is_integer(v) || json_integer_value(v) != CT_STATE_VERSION) {
        what = "unsupported \"version\"";
        goto out;
    }
    const char *acct = json_string_value(json_object_get(doc, "account"));
    const char *reg = json_string_value(json_object_get(doc, "region"));
    if (!acct || !reg || strcmp(acct, st->account) != 0 || strcmp(reg, st->region) != 0) {
        what = "state of another account or Region";
        goto out;
    }
    st->checkpoint = json_ms(json_object_get(doc, "checkpoint_ms"));
    st->horizon = json_ms(json_object_get(doc, "horizon_ms"));
    json_t *seen = json_object_get(doc, "seen");
    json_t *pend = json_object_get(doc, "pending");
    if (!json_is_object(seen) || (pend && !json_is_object(pend) && !json_is_null(pend))) {
        what = "\"seen\" or \"pending\" is not an object";
        goto out;
    }
    const char *k;
    json_t *t;
    json_object_foreach(seen, k, t)
    {
        if (!json_is_integer(t)) {
            what = "a \"seen\" time is not an integer";
            goto out;
        }
    }
    json_object_update(st->seen, seen);
    if (json_is_object(pend)) {
        const char *topic = json_string_value(json_object_get(pend, "topic"));
        json_t *ids = json_object_get(pend, "ids");
        json_t *offs = json_object_get(pend, "offsets");
        if (!topic || !json_is_object(ids) || !json_is_object(offs)) {
            what = "\"pending\" lacks topic, ids or offsets";
            goto out;
        }
        st->pending_topic = xstrdup(topic);
        json_object_update(st->pending, ids);
        json_object_update(st->offsets, offs);
    }
    rc = 0;
out:
    if (what)
        snprintf(err, errlen, "%s: %s", st->path, what);
    json_decref(doc);
    return rc;
}

ct_state_t *ct_state_load(const char *dir, const char *account, const char *region, char *err,
                          size_t errlen)
{
    if (!dir || !*dir || !safe_label(account) || !safe_label(region)) {
        snprintf(err, errlen, "cloudtrail state: invalid directory, account or Region");
        return NULL;
    }
    if (fileio_mkdir_p(dir, 0700, err, errlen) != 0)
        return NULL;
    ct_state_t *st = xcalloc(1, sizeof *st);
    st->path = xasprintf("%s/cloudtrail-%s-%s.json", dir, account, region);
    st->account = xstrdup(account);
    st->region = xstrdup(region);
    st->checkpoint = CT_STATE_NONE;
    st->horizon = CT_STATE_NONE;
    st->seen = json_object();
    st->pending = json_object();
    st->offsets = json_object();
    if (!st->seen || !st->pending || !st->offsets) {
        snprintf(err, errlen, "cloudtrail state: out of memory");
        goto fail;
    }
    if (parse_file(st, err, errlen) < 0)
        goto fail;
    return st;
fail:
    ct_state_free(st);
    return NULL;
}

void ct_state_free(ct_state_t *st)
{
    if (!st)
        return;
    json_decref(st->seen);
    json_decref(st->pending);
    json_decref(st->offsets);
    free(st->pending_topic);
    free(st->path);
    free(st->account);
    free(st->region);
    free(st);
}

const char *ct_state_path(const ct_state_t *st)
{
    return st->path;
}

int64_t ct_state_checkpoint(const ct_state_t *st)
{
    return st->checkpoint;
}

int64_t ct_state_window_start(const ct_state_t *st, int64_t overlap_ms, int64_t first_ms)
{
    if (st->checkpoint == CT_STATE_NONE)
        return first_ms;
    int64_t start = st->checkpoint - overlap_ms;
    if (st->horizon != CT_STATE_NONE && start < st->horizon)
        start = st->horizon;
    return start;
}

bool ct_state_known(const ct_state_t *st, const char *id)
{
    return json_object_get(st->seen, id) || json_object_get(st->pending, id);
}

bool ct_state_is_pending(const ct_state_t *st, const char *id)
{
    return json_object_get(st->pending, id) != NULL;
}

size_t ct_state_seen_count(const ct_state_t *st)
{
    return json_object_size(st->seen);
}

size_t ct_state_pending_count(const ct_state_t *st)
{
    return json_object_size(st->pending);
}

const char *ct_state_pending_topic(const ct_state_t *st)
{
    return json_object_size(st->pending) ? st->pending_topic : NULL;
}

int64_t ct_state_pending_offset(const ct_state_t *st, int32_t partition)
{
    char key[24];
    snprintf(key, sizeof key, "%d", (int)partition);
    json_t *v = json_object_get(st->offsets, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

static json_t *ms_or_null(int64_t ms)
{
    return ms == CT_STATE_NONE ? json_null() : json_integer(ms);
}

/* Writes the state: temp file, fsync, rename over the old file, fsync the directory. */
static int save(ct_state_t *st, char *err, size_t errlen)
{
    json_t *doc = json_object();
    json_object_set_new(doc, "version", json_integer(CT_STATE_VERSION));
    json_object_set_new(doc, "account", json_string(st->account));
    json_object_set_new(doc, "region", json_string(st->region));
    json_object_set_new(doc, "checkpoint_ms", ms_or_null(st->checkpoint));
    json_object_set_new(doc, "horizon_ms", ms_or_null(st->horizon));
    json_object_set(doc, "seen", st->seen);
    if (json_object_size(st->pending)) {
        json_t *p = json_object();
        json_object_set_new(p, "topic", json_string(st->pending_topic));
        json_object_set(p, "ids", st->pending);
        json_object_set(p, "offsets", st->offsets);
        json_object_set_new(doc, "pending", p);
    } else {
        json_object_set_new(doc, "pending", json_null());
    }
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(doc);
    if (!text) {
        snprintf(err, errlen, "%s: cannot encode the state", st->path);
        return -ENOMEM;
    }
    int rc = fileio_write_atomic(st->path, text, strlen(text), 0600, 0, err, errlen);
    free(text);
    return rc;
}

int ct_state_begin(ct_state_t *st, const char *const *ids, const int64_t *times_ms, size_t n,
                   const char *topic, const int64_t *offsets, size_t nparts, char *err,
                   size_t errlen)
{
    if (json_object_size(st->pending)) {
        snprintf(err, errlen, "%s: events are already in flight", st->path);
        return -EBUSY;
    }
    if (n == 0)
        return 0;
    json_object_clear(st->offsets);
    for (size_t p = 0; p < nparts; p++) {
        char key[24];
        snprintf(key, sizeof key, "%zu", p);
        json_object_set_new(st->offsets, key, json_integer(offsets[p]));
    }
    for (size_t i = 0; i < n; i++)
        json_object_set_new(st->pending, ids[i], json_integer(times_ms[i]));
    free(st->pending_topic);
    st->pending_topic = xstrdup(topic);
    return save(st, err, errlen);
}

int ct_state_commit(ct_state_t *st, char *err, size_t errlen)
{
    if (!json_object_size(st->pending))
        return 0;
    json_object_update(st->seen, st->pending);
    json_object_clear(st->pending);
    json_object_clear(st->offsets);
    return save(st, err, errlen);
}

int ct_state_resolve(ct_state_t *st, const char *const *found, size_t n, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_object_get(st->pending, found[i]);
        if (t)
            json_object_set(st->seen, found[i], t);
    }
    json_object_clear(st->pending);
    json_object_clear(st->offsets);
    return save(st, err, errlen);
}

int ct_state_advance(ct_state_t *st, int64_t end_ms, int64_t overlap_ms, char *err, size_t errlen)
{
    if (json_object_size(st->pending)) {
        snprintf(err, errlen, "%s: events are still in flight", st->path);
        return -EBUSY;
    }
    if (st->checkpoint == CT_STATE_NONE || end_ms > st->checkpoint)
        st->checkpoint = end_ms;
    int64_t horizon = st->checkpoint - overlap_ms;
    if (st->horizon == CT_STATE_NONE || horizon > st->horizon)
        st->horizon = horizon;
    const char *k;
    json_t *t;
    void *tmp;
    json_object_foreach_safe(st->seen, tmp, k, t)
    {
        if (json_integer_value(t) < st->horizon)
            json_object_del(st->seen, k);
    }
    return save(st, err, errlen);
}
