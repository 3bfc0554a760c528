/* metrics: counters and gauges with labels, served as Prometheus /metrics with /healthz and
 * /readyz by libmicrohttpd. See metrics.h. Lock order: the registry mutex is the only lock;
 * nothing else is called while it is held except allocation and formatting. */
#define LOG_MODULE "metrics"
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "log.h"
#include "xalloc.h"

#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"
#define CONTENT_TYPE_JSON    "application/json"

struct series {
    char **values; /* one per label of the family */
    double value;
};

struct family {
    char *name;
    char *help;
    enum metrics_type type;
    char **labels;
    size_t nlabels;
    struct series *series;
    size_t n, cap;
    json_t *index; /* series key (see series_key) -> index into series */
};

struct component {
    char *name;
    char *reason; /* NULL: ready */
    int64_t set_ms;
    int64_t valid_ms;
};

struct metrics {
    pthread_mutex_t lock;
    struct family *fams;
    size_t nfams, capfams;
    struct component *comps;
    size_t ncomps, capcomps;
    struct MHD_Daemon *daemon;
    int port;
};

/* ---- text buffer -------------------------------------------------------------------- */

struct buf {
    char *p;
    size_t len, cap;
};

static void buf_putn(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap)
        b->p = xgrow(b->p, &b->cap, b->len + n + 1, 1);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s)
{
    buf_putn(b, s, strlen(s));
}

static void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(struct buf *b, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        buf_putn(b, tmp, (size_t)n);
        return;
    }
    if (b->len + (size_t)n + 1 > b->cap)
        b->p = xgrow(b->p, &b->cap, b->len + (size_t)n + 1, 1);
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Label values escape backslash, double quote and newline; HELP text backslash and
 * newline only (exposition format 0.0.4). */
static void buf_escaped(struct buf *b, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_puts(b, "\\\\");
        else if (*s == '\n')
            buf_puts(b, "\\n");
        else if (quote && *s == '"')
            buf_puts(b, "\\\"");
        else
            buf_putn(b, s, 1);
    }
}

static void buf_value(struct buf *b, double v)
{
    if (isnan(v)) {
        buf_puts(b, "NaN");
    } else if (isinf(v)) {
        buf_puts(b, v > 0 ? "+Inf" : "-Inf");
    } else if (v == floor(v) && fabs(v) < 1e15) {
        buf_printf(b, "%.0f", v);
    } else {
        char tmp[40];
        snprintf(tmp, sizeof tmp, "%.15g", v);
        if (strtod(tmp, NULL) != v)
            snprintf(tmp, sizeof tmp, "%.17g", v);
        buf_puts(b, tmp);
    }
}

/* ---- registry ----------------------------------------------------------------------- */

metrics_t *metrics_new(void)
{
    metrics_t *m = xcalloc(1, sizeof *m);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&m->lock, &attr);
    pthread_mutexattr_destroy(&attr);
    return m;
}

static void family_clear(struct family *f)
{
    for (size_t i = 0; i < f->n; i++) {
        for (size_t j = 0; j < f->nlabels; j++)
            free(f->series[i].values[j]);
        free(f->series[i].values);
    }
    free(f->series);
    for (size_t j = 0; j < f->nlabels; j++)
        free(f->labels[j]);
    free(f->labels);
    json_decref(f->index);
    free(f->name);
    free(f->help);
}

void metrics_free(metrics_t *m)
{
    if (!m)
        return;
    if (m->daemon)
        MHD_stop_daemon(m->daemon);
    for (size_t i = 0; i < m->nfams; i++)
        family_clear(&m->fams[i]);
    free(m->fams);
    for (size_t i = 0; i < m->ncomps; i++) {
        free(m->comps[i].name);
        free(m->comps[i].reason);
    }
    free(m->comps);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void metrics_lock(metrics_t *m)
{
    pthread_mutex_lock(&m->lock);
}

void metrics_unlock(metrics_t *m)
{
    pthread_mutex_unlock(&m->lock);
}

static bool valid_name(const char *s, size_t n, bool colon)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static struct family *family_find(metrics_t *m, const char *name)
{
    for (size_t i = 0; i < m->nfams; i++)
        if (strcmp(m->fams[i].name, name) == 0)
            return &m->fams[i];
    return NULL;
}

/* Splits "a,b" into trimmed names; returns the count or -EINVAL. */
static int split_labels(const char *labels, char ***out)
{
    *out = NULL;
    if (!labels || !*labels)
        return 0;
    size_t n = 0, cap = 0;
    char **v = NULL;
    const char *p = labels;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t')) {
            p++;
            len--;
        }
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (!valid_name(p, len, false) || (len >= 2 && p[0] == '_' && p[1] == '_')) {
            for (size_t i = 0; i < n; i++)
                free(v[i]);
            free(v);
            return -EINVAL;
        }
        v = xgrow(v, &cap, n + 1, sizeof *v);
        v[n] = xmalloc(len + 1);
        memcpy(v[n], p, len);
        v[n++][len] = '\0';
        if (!end)
            break;
        p = end + 1;
    }
    *out = v;
    return (int)n;
}

int metrics_declare(metrics_t *m, const char *name, enum metrics_type type, const char *help,
                    const char *labels)
{
    if (!name || !valid_name(name, strlen(name), true))
        return -EINVAL;
    char **names;
    int n = split_labels(labels, &names);
    if (n < 0)
        return n;
    int rc = 0;
    metrics_lock(m);
    struct family *f = family_find(m, name);
    if (f) {
        bool same = f->type == type && f->nlabels == (size_t)n;
        for (size_t i = 0; same && i < f->nlabels; i++)
            same = strcmp(f->labels[i], names[i]) == 0;
        rc = same ? 0 : -EEXIST;
        for (int i = 0; i < n; i++)
            free(names[i]);
        free(names);
    } else {
        m->fams = xgrow(m->fams, &m->capfams, m->nfams + 1, sizeof *m->fams);
        f = &m->fams[m->nfams++];
        *f = (struct family){.name = xstrdup(name),
                             .help = xstrdup(help ? help : ""),
                             .type = type,
                             .labels = names,
                             .nlabels = (size_t)n,
                             .index = json_object()};
    }
    metrics_unlock(m);
    return rc;
}

/* Collects the NULL-terminated label values; returns their count. */
static size_t collect_values(va_list ap, const char **values, size_t max)
{
    size_t n = 0;
    const char *v;
    while ((v = va_arg(ap, const char *)) != NULL) {
        if (n < max)
            values[n] = v;
        n++;
    }
    return n;
}

/* Index key of a series: each value as "LEN:VALUE", so no value can alias another. */
static char *series_key(const char *const *values, size_t n)
{
    struct buf b = {0};
    buf_puts(&b, "");
    for (size_t i = 0; i < n; i++) {
        buf_printf(&b, "%zu:", strlen(values[i]));
        buf_puts(&b, values[i]);
    }
    return b.p;
}

#define MAX_LABELS 16

/* Finds (or with `create`, adds) a series; NULL when absent. Called with the lock held. */
static struct series *series_get(struct family *f, const char *const *values, bool create)
{
    char *key = series_key(values, f->nlabels);
    json_t *idx = json_object_get(f->index, key);
    struct series *s = NULL;
    if (idx) {
        s = &f->series[json_integer_value(idx)];
    } else if (create) {
        f->series = xgrow(f->series, &f->cap, f->n + 1, sizeof *f->series);
        s = &f->series[f->n];
        s->values = xcalloc(f->nlabels ? f->nlabels : 1, sizeof *s->values);
        for (size_t i = 0; i < f->nlabels; i++)
            s->values[i] = xstrdup(values[i]);
        s->value = 0;
        json_object_set_new_nocheck(f->index, key, json_integer((json_int_t)f->n));
        f->n++;
    }
    free(key);
    return s;
}

enum op { OP_SET, OP_ADD, OP_GET };

static int update(metrics_t *m, const char *name, enum op op, double value, double *out, va_list ap)
{
    const char *values[MAX_LABELS];
    size_t n = collect_values(ap, values, MAX_LABELS);
    int rc = 0;
    metrics_lock(m);
    struct family *f = family_find(m, name);
    if (!f) {
        rc = -ENOENT;
    } else if (n != f->nlabels || n > MAX_LABELS) {
        rc = -EINVAL;
    } else if (op == OP_ADD && f->type == METRICS_COUNTER && !(value >= 0)) {
        rc = -EINVAL;
    } else {
        struct series *s = series_get(f, values, op != OP_GET);
        if (!s)
            rc = -ENOENT;
        else if (op == OP_SET)
            s->value = value;
        else if (op == OP_ADD)
            s->value += value;
        else
            *out = s->value;
    }
    metrics_unlock(m);
    return rc;
}

int metrics_set(metrics_t *m, const char *name, double value, ...)
{
    va_list ap;
    va_start(ap, value);
    int rc = update(m, name, OP_SET, value, NULL, ap);
    va_end(ap);
    return rc;
}

int metrics_add(metrics_t *m, const char *name, double delta, ...)
{
    va_list ap;
    va_start(ap, delta);
    int rc = update(m, name, OP_ADD, delta, NULL, ap);
    va_end(ap);
    return rc;
}

int metrics_get(metrics_t *m, const char *name, double *out, ...)
{
    va_list ap;
    va_start(ap, out);
    int rc = update(m, name, OP_GET, 0, out, ap);
    va_end(ap);
    return rc;
}

size_t metrics_drop(metrics_t *m, const char *label, const char *value)
{
    size_t dropped = 0;
    metrics_lock(m);
    for (size_t i = 0; i < m->nfams; i++) {
        struct family *f = &m->fams[i];
        size_t li;
        for (li = 0; li < f->nlabels; li++)
            if (strcmp(f->labels[li], label) == 0)
                break;
        if (li == f->nlabels)
            continue;
        size_t keep = 0;
        for (size_t k = 0; k < f->n; k++) {
            struct series *s = &f->series[k];
            if (strcmp(s->values[li], value) == 0) {
                for (size_t j = 0; j < f->nlabels; j++)
                    free(s->values[j]);
                free(s->values);
                dropped++;
            } else {
                f->series[keep++] = *s;
            }
        }
        if (keep == f->n)
            continue;
        f->n = keep;
        json_object_clear(f->index);
        for (size_t k = 0; k < f->n; k++) {
            char *key = series_key((const char *const *)f->series[k].values, f->nlabels);
            json_object_set_new_nocheck(f->index, key, json_integer((json_int_t)k));
            free(key);
        }
    }
    metrics_unlock(m);
    return dropped;
}

char *metrics_render(metrics_t *m, size_t *len)
{
    struct buf b = {0};
    buf_puts(&b, "");
    metrics_lock(m);
    for (size_t i = 0; i < m->nfams; i++) {
        const struct family *f = &m->fams[i];
        buf_printf(&b, "# HELP %s ", f->name);
        buf_escaped(&b, f->help, false);
        buf_printf(&b, "\n# TYPE %s %s\n", f->name,
                   f->type == METRICS_COUNTER ? "counter" : "gauge");
        for (size_t k = 0; k < f->n; k++) {
            const struct series *s = &f->series[k];
            buf_puts(&b, f->name);
            if (f->nlabels) {
                buf_puts(&b, "{");
                for (size_t j = 0; j < f->nlabels; j++) {
                    buf_printf(&b, "%s%s=\"", j ? "," : "", f->labels[j]);
                    buf_escaped(&b, s->values[j], true);
                    buf_puts(&b, "\"");
                }
                buf_puts(&b, "}");
            }
            buf_puts(&b, " ");
            buf_value(&b, s->value);
            buf_puts(&b, "\n");
        }
    }
    metrics_unlock(m);
    if (len)
        *len = b.len;
    return b.p;
}

/* ---- readiness ---------------------------------------------------------------------- */

void metrics_set_ready(metrics_t *m, const char *component, const char *not_ready, int64_t valid_ms)
{
    metrics_lock(m);
    struct component *c = NULL;
    for (size_t i = 0; i < m->ncomps; i++)
        if (strcmp(m->comps[i].name, component) == 0)
            c = &m->comps[i];
    if (!c) {
        m->comps = xgrow(m->comps, &m->capcomps, m->ncomps + 1, sizeof *m->comps);
        c = &m->comps[m->ncomps++];
        *c = (struct component){.name = xstrdup(component)};
    }
    free(c->reason);
    c->reason = not_ready ? xstrdup(not_ready) : NULL;
    c->set_ms = log_now_ms();
    c->valid_ms = not_ready ? 0 : valid_ms;
    metrics_unlock(m);
}

bool metrics_ready(metrics_t *m, char *why, size_t whylen)
{
    bool ready = true;
    int64_t now = log_now_ms();
    metrics_lock(m);
    if (m->ncomps == 0) {
        ready = false;
        if (why)
            snprintf(why, whylen, "starting");
    }
    for (size_t i = 0; ready && i < m->ncomps; i++) {
        const struct component *c = &m->comps[i];
        if (c->reason) {
            ready = false;
            if (why)
                snprintf(why, whylen, "%s: %s", c->name, c->reason);
        } else if (c->valid_ms > 0 && now - c->set_ms > c->valid_ms) {
            ready = false;
            if (why)
                snprintf(why, whylen, "%s: no progress for %lld s", c->name,
                         (long long)((now - c->set_ms) / 1000));
        }
    }
    metrics_unlock(m);
    return ready;
}

/* ---- HTTP server -------------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type,
                             char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static char *json_body(const char *status, const char *reason, size_t *len)
{
    json_t *o = json_pack("{s:s}", "status", status);
    if (reason)
        json_object_set_new(o, "reason", json_string(reason));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!text)
        abort();
    struct buf b = {0};
    buf_puts(&b, text);
    buf_puts(&b, "\n");
    free(text);
    *len = b.len;
    return b.p;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    metrics_t *m = cls;
    (void)version;
    (void)upload_data;
    (void)con_cls;
    size_t len;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        if (*upload_data_size) {
            *upload_data_size = 0; /* discard a body; answer once it is read */
            return MHD_YES;
        }
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", xstrdup("GET only\n"), 9);
    }
    if (strcmp(url, "/metrics") == 0) {
        char *text = metrics_render(m, &len);
        return reply(conn, MHD_HTTP_OK, CONTENT_TYPE_METRICS, text, len);
    }
    if (strcmp(url, "/healthz") == 0) {
        char *body = json_body("ok", NULL, &len);
        return reply(conn, MHD_HTTP_OK, CONTENT_TYPE_JSON, body, len);
    }
    if (strcmp(url, "/readyz") == 0) {
        char why[512];
        bool ready = metrics_ready(m, why, sizeof why);
        char *body = ready ? json_body("ok", NULL, &len) : json_body("not ready", why, &len);
        return reply(conn, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, CONTENT_TYPE_JSON,
                     body, len);
    }
    return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain",
                 xstrdup("not found: try /metrics, /healthz or /readyz\n"), 45);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char text[512];
    (void)cls;
    vsnprintf(text, sizeof text, fmt, ap);
    text[strcspn(text, "\n")] = '\0';
    LOG_WARN("libmicrohttpd: %s", text);
}

/* Opens a listening TCP socket on "host:port" / "[v6]:port"; returns it or -errno. */
static int listen_on(const char *listen_addr, char *err, size_t errlen)
{
    char host[256];
    const char *port, *h = listen_addr;
    size_t hlen;
    if (*h == '[') {
        const char *end = strchr(h, ']');
        if (!end || end[1] != ':') {
            snprintf(err, errlen, "'%s' is not host:port", listen_addr);
            return -EINVAL;
        }
        h++;
        hlen = (size_t)(end - h);
        port = end + 2;
    } else {
        const char *colon = strrchr(h, ':');
        if (!colon) {
            snprintf(err, errlen, "'%s' is not host:port", listen_addr);
            return -EINVAL;
        }
        hlen = (size_t)(colon - h);
        port = colon + 1;
    }
    if (hlen == 0 || hlen >= sizeof host || !*port) {
        snprintf(err, errlen, "'%s' is not host:port", listen_addr);
        return -EINVAL;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int grc = getaddrinfo(host, port, &hints, &ai);
    if (grc != 0) {
        snprintf(err, errlen, "%s: %s", listen_addr, gai_strerror(grc));
        return -EINVAL;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
    int rc = 0;
    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "socket: %s", strerror(errno));
        goto fail;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
        rc = -errno;
        snprintf(err, errlen, "listen on %s: %s", listen_addr, strerror(errno));
        goto fail;
    }
    freeaddrinfo(ai);
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return rc;
}

int metrics_serve(metrics_t *m, const char *listen_addr, char *err, size_t errlen)
{
    if (m->daemon) {
        snprintf(err, errlen, "the metrics server already runs on port %d", m->port);
        return -EALREADY;
    }
    int fd = listen_on(listen_addr, err, errlen);
    if (fd < 0)
        return fd;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int port = 0;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                              : ((struct sockaddr_in *)&ss)->sin_port);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    m->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_EXTERNAL_LOGGER,
                                 on_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
    if (!m->daemon) {
        close(fd);
        snprintf(err, errlen, "libmicrohttpd could not start on %s", listen_addr);
        return -EIO;
    }
    m->port = port;
    return 0;
}

metrics_t *metrics_start(const char *listen_addr, char *err, size_t errlen)
{
    metrics_t *m = metrics_new();
    if (metrics_serve(m, listen_addr, err, errlen) < 0) {
        metrics_free(m);
        return NULL;
    }
    return m;
}

int metrics_port(const metrics_t *m)
{
    return m->daemon ? m->port : 0;
}
