/* sink_deliver: the transports of the alert sinks (HTTP, syslog, Kafka, file). */
#define LOG_MODULE "sinks"
#include "config.h"

#include "alerts/sink_deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "alerts/sink_payload.h"
#include "fileio.h"
#include "kafka.h"
#include "log.h"
#include "xalloc.h"

enum syslog_proto { SYSLOG_UNIX, SYSLOG_UDP, SYSLOG_TCP };

/* Kafka attempts given up while their message was in flight, whose reports may still come. */
#define KAFKA_LATE_MAX 16

struct kafka_late {
    uint64_t attempt; /* the attempt's number (its message's opaque) */
    char *id;         /* the notification's id; NULL when it has none */
    bool delivered;   /* its report came and said the broker wrote it */
};

struct sink_conn {
    const struct config *cfg;
    const struct config_sink *sink;
    int64_t timeout_ms;
    CURL *curl;
    char curl_err[CURL_ERROR_SIZE];
    /* syslog */
    enum syslog_proto proto;
    char *host, *port, *path;
    int fd;
    bool unix_stream;
    char hostname[256];
    /* kafka */
    kafka_producer_t *producer;
    const char *topic;
    uint64_t attempt;  /* number of the current attempt: its message's opaque */
    bool attempt_open; /* that attempt is still being decided (kafka_send runs) */
    int delivery_err;  /* the current attempt's report, once delivery_done */
    bool delivery_done;
    char delivery_text[256];
    struct kafka_late late[KAFKA_LATE_MAX];
    size_t nlate;
};

static size_t discard(char *ptr, size_t size, size_t n, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * n;
}

static const char *http_url(const struct sink_conn *c)
{
    switch (c->sink->type) {
    case CONFIG_SINK_PAGERDUTY:
        return c->sink->url ? c->sink->url : "https://events.pagerduty.com/v2/enqueue";
    case CONFIG_SINK_SLACK:
        return c->sink->webhook_url;
    default:
        return c->sink->url;
    }
}

/* POSTs `body` as JSON to `url` with `extra` headers (may be NULL). */
static int http_post(struct sink_conn *c, const char *url, const char *body,
                     struct curl_slist *extra, char *err, size_t errlen)
{
    if (!url) {
        snprintf(err, errlen, "no URL configured");
        return SINK_FINAL;
    }
    struct curl_slist *h = extra;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    CURL *cu = c->curl;
    curl_easy_reset(cu);
    c->curl_err[0] = '\0';
    curl_easy_setopt(cu, CURLOPT_URL, url);
    curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(cu, CURLOPT_ERRORBUFFER, c->curl_err);
    curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(cu, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(cu, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(cu, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(c->timeout_ms < 5000 ? c->timeout_ms : 5000));
    curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(cu, CURLOPT_USERAGENT, "ipamwatch/" PACKAGE_VERSION);
    if (c->sink->ca_file)
        curl_easy_setopt(cu, CURLOPT_CAINFO, c->sink->ca_file);
    if (c->sink->insecure_skip_verify) {
        curl_easy_setopt(cu, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(cu, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    CURLcode rc = curl_easy_perform(cu);
    long status = 0;
    curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s", c->curl_err[0] ? c->curl_err : curl_easy_strerror(rc));
        return SINK_RETRY;
    }
    if (status >= 200 && status < 300)
        return 0;
    snprintf(err, errlen, "HTTP status %ld", status);
    if (status == 408 || status == 429 || status >= 500)
        return SINK_RETRY;
    return SINK_FINAL;
}

static void split_hostport(const char *s, char **host, char **port)
{
    const char *colon = strrchr(s, ':');
    if (s[0] == '[') { /* [v6]:port */
        const char *end = strchr(s, ']');
        if (end) {
            *host = xstrndup(s + 1, (size_t)(end - s - 1));
            *port = xstrdup(end[1] == ':' ? end + 2 : "514");
            return;
        }
    }
    if (colon) {
        *host = xstrndup(s, (size_t)(colon - s));
        *port = xstrdup(colon + 1);
    } else {
        *host = xstrdup(s);
        *port = xstrdup("514");
    }
}

static int syslog_connect(struct sink_conn *c, char *err, size_t errlen)
{
    if (c->fd >= 0)
        return 0;
    if (c->proto == SYSLOG_UNIX) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(c->path) >= sizeof sa.sun_path) {
            snprintf(err, errlen, "socket path too long");
            return SINK_FINAL;
        }
        memcpy(sa.sun_path, c->path, strlen(c->path) + 1);
        for (int pass = 0; pass < 2; pass++) {
            int type = pass == 0 ? SOCK_DGRAM : SOCK_STREAM;
            int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
            if (fd < 0)
                break;
            if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
                c->fd = fd;
                c->unix_stream = pass == 1;
                return 0;
            }
            int e = errno;
            close(fd);
            if (e != EPROTOTYPE) {
                snprintf(err, errlen, "connect %s: %s", c->path, strerror(e));
                return SINK_RETRY;
            }
        }
        snprintf(err, errlen, "connect %s: %s", c->path, strerror(errno));
        return SINK_RETRY;
    }
    struct addrinfo hints = {.ai_socktype = c->proto == SYSLOG_UDP ? SOCK_DGRAM : SOCK_STREAM};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(c->host, c->port, &hints, &res);
    if (g != 0) {
        snprintf(err, errlen, "resolve %s: %s", c->host, gai_strerror(g));
        return SINK_RETRY;
    }
    int e = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            c->fd = fd;
            freeaddrinfo(res);
            return 0;
        }
        e = errno;
        close(fd);
    }
    freeaddrinfo(res);
    snprintf(err, errlen, "connect %s:%s: %s", c->host, c->port, strerror(e));
    return SINK_RETRY;
}

static int syslog_send(struct sink_conn *c, const struct record *rec, char *err, size_t errlen)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    char *msg = NULL;
    const char *app = c->sink->app_name ? c->sink->app_name : "ipamwatch";
    if (sink_syslog_format(rec, c->hostname, app, (int)getpid(), now, &msg) < 0) {
        snprintf(err, errlen, "alert cannot be formatted");
        return SINK_FINAL;
    }
    int rc = SINK_RETRY;
    for (int attempt = 0; attempt < 2; attempt++) {
        rc = syslog_connect(c, err, errlen);
        if (rc != 0)
            break;
        size_t len = strlen(msg);
        int w;
        if (c->proto == SYSLOG_TCP) { /* RFC 6587 octet counting */
            char *framed = xasprintf("%zu %s", len, msg);
            w = fileio_send_all(c->fd, framed, strlen(framed));
            free(framed);
        } else if (c->proto == SYSLOG_UNIX && c->unix_stream) {
            char *framed = xasprintf("%s\n", msg);
            w = fileio_send_all(c->fd, framed, len + 1);
            free(framed);
        } else {
            ssize_t s = send(c->fd, msg, len, MSG_NOSIGNAL);
            w = s < 0 ? -errno : 0;
        }
        if (w == 0) {
            rc = 0;
            break;
        }
        snprintf(err, errlen, "send: %s", strerror(-w));
        close(c->fd); /* reconnect once: the peer may have restarted */
        c->fd = -1;
        rc = SINK_RETRY;
    }
    free(msg);
    return rc;
}

static void late_drop(struct sink_conn *c, size_t i)
{
    free(c->late[i].id);
    c->late[i] = c->late[--c->nlate];
}

/* Remembers the current attempt, given up in flight (the oldest one is forgotten when full:
 * a duplicate it might cause is what a receiver drops by id anyway). */
static void late_add(struct sink_conn *c, const char *id)
{
    if (c->nlate == KAFKA_LATE_MAX) {
        size_t oldest = 0;
        for (size_t i = 1; i < c->nlate; i++)
            if (c->late[i].attempt < c->late[oldest].attempt)
                oldest = i;
        late_drop(c, oldest);
    }
    c->late[c->nlate++] = (struct kafka_late){c->attempt, id ? xstrdup(id) : NULL, false};
}

/* Reports come per message; the opaque is the number of the attempt that produced it. Only the
 * current attempt's report decides that attempt; a late report of an attempt given up earlier
 * is remembered when it says delivered, so that the retry of that notification is not sent. */
static void on_delivery(void *ctx, void *opaque, int err, const char *errstr, int32_t partition,
                        int64_t offset)
{
    (void)partition;
    (void)offset;
    struct sink_conn *c = ctx;
    uint64_t attempt = (uint64_t)(uintptr_t)opaque;
    if (c->attempt_open && attempt == c->attempt) {
        c->delivery_done = true;
        c->delivery_err = err;
        snprintf(c->delivery_text, sizeof c->delivery_text, "%s", errstr ? errstr : "");
        return;
    }
    for (size_t i = 0; i < c->nlate; i++) {
        if (c->late[i].attempt != attempt)
            continue;
        if (err == 0 && c->late[i].id) {
            c->late[i].delivered = true;
            LOG_INFO("sink %s: notification %s given up in flight was delivered to %s after all",
                     c->sink->name, c->late[i].id, c->topic);
        } else {
            late_drop(c, i);
        }
        return;
    }
}

/* True when an earlier attempt of notification `id` was delivered late; `id`'s earlier
 * attempts are forgotten then, and when `forget` is set (its delivery is settled). */
static bool late_delivered(struct sink_conn *c, const char *id, bool forget)
{
    bool delivered = false;
    for (size_t i = 0; id && i < c->nlate;) {
        if (c->late[i].id && strcmp(c->late[i].id, id) == 0) {
            delivered = delivered || c->late[i].delivered;
            if (c->late[i].delivered || forget) {
                late_drop(c, i);
                continue;
            }
        }
        i++;
    }
    return delivered;
}

/* kafka_send() once its message is queued: waits `timeout` for the attempt's report only (a
 * message of an earlier attempt still in flight must not hold it up), else gives up. */
static int kafka_wait(struct sink_conn *c, const char *id, char *err, size_t errlen)
{
    int64_t deadline = log_now_ms() + c->timeout_ms;
    for (int64_t now = log_now_ms(); !c->delivery_done && now < deadline; now = log_now_ms()) {
        int64_t wait = deadline - now;
        if (kafka_producer_poll(c->producer, (int)(wait < 100 ? wait : 100)) < 0)
            break; /* fatal: the purge below reports the message */
    }
    if (!c->delivery_done) {
        /* Given up: a message not sent yet must not go out later next to the retry. */
        kafka_producer_purge_queued(c->producer);
        if (!c->delivery_done) {
            late_add(c, id);
            snprintf(err, errlen,
                     "no delivery report from %s within %lld ms (the message is in flight and may "
                     "still be written: the retry may then be a second copy)",
                     c->topic, (long long)c->timeout_ms);
            return SINK_RETRY;
        }
        if (c->delivery_err == -ECANCELED) {
            snprintf(err, errlen,
                     "no delivery report from %s within %lld ms (the message was not sent; "
                     "taken back)",
                     c->topic, (long long)c->timeout_ms);
            return SINK_RETRY;
        }
    }
    if (c->delivery_err != 0) {
        snprintf(err, errlen, "delivery to %s failed: %s", c->topic, c->delivery_text);
        return SINK_RETRY;
    }
    return 0;
}

/* DESIGN: one message per attempt, and the attempt's message is the only one queued in the
 * producer (the previous attempt was reported or purged before this one is produced), so that
 * giving up purges exactly this attempt's message if it was not sent yet. One that was sent
 * (in flight) cannot be taken back: the broker may still write it, and the retry is then a
 * second copy with the same notification id (at least once; a receiver drops the copy by
 * `id`). Its late report, if it comes before the retry is produced, spares the retry. */
static int kafka_send(struct sink_conn *c, const struct record *rec, char *err, size_t errlen)
{
    const char *id = rec->u.alert.id;
    kafka_producer_poll(c->producer, 0); /* late reports of earlier attempts */
    if (late_delivered(c, id, false))
        return 0;
    char *buf = NULL;
    size_t len = 0;
    if (record_encode(rec, &buf, &len) < 0) {
        snprintf(err, errlen, "alert cannot be encoded");
        return SINK_FINAL;
    }
    c->attempt++;
    c->attempt_open = true;
    c->delivery_done = false;
    const char *key = rec->u.alert.fingerprint;
    int rc = kafka_producer_produce(c->producer, c->topic, key, strlen(key), buf, len,
                                    (void *)(uintptr_t)c->attempt);
    free(buf);
    if (rc < 0) {
        snprintf(err, errlen, "produce to %s: %s", c->topic, strerror(-rc));
        rc = rc == -EMSGSIZE ? SINK_FINAL : SINK_RETRY;
    } else {
        rc = kafka_wait(c, id, err, errlen);
    }
    if (rc == 0)
        late_delivered(c, id, true); /* its earlier attempts no longer matter */
    c->attempt_open = false;         /* a report that comes from now on is a late one */
    return rc;
}

/* True when the last line of the file open as `fd` is the notification `id`: written by a
 * delivery whose spool cursor a crash kept from moving (each delivery moves the cursor before
 * the next one, so only the last line can be such a one). */
static bool file_ends_with(int fd, const char *id)
{
    enum { TAIL = 65536 };
    struct stat sb;
    if (!id || fstat(fd, &sb) < 0 || sb.st_size < 2)
        return false;
    size_t n = sb.st_size < TAIL ? (size_t)sb.st_size : TAIL;
    char *buf = xmalloc(n);
    bool same = false;
    ssize_t got = pread(fd, buf, n, sb.st_size - (off_t)n);
    if (got == (ssize_t)n && buf[n - 1] == '\n') {
        size_t start = n - 1;
        while (start > 0 && buf[start - 1] != '\n')
            start--;
        json_t *j = json_loadb(buf + start, n - 1 - start, 0, NULL);
        const char *last = json_string_value(json_object_get(j, "id"));
        same = last && strcmp(last, id) == 0;
        json_decref(j);
    }
    free(buf);
    return same;
}

static int file_send(struct sink_conn *c, const struct record *rec, char *err, size_t errlen)
{
    char *body = NULL;
    if (sink_payload_json(c->sink, rec, &body) < 0) {
        snprintf(err, errlen, "alert cannot be encoded");
        return SINK_FINAL;
    }
    int rc = 0;
    int fd = open(c->sink->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "open %s: %s", c->sink->path, strerror(errno));
        free(body);
        return SINK_RETRY;
    }
    if (file_ends_with(fd, rec->u.alert.id)) {
        close(fd);
        free(body);
        return 0; /* written already, before a crash */
    }
    size_t len = strlen(body);
    body[len] = '\n'; /* json_dumps' NUL becomes the line end; length bound kept below */
    int w = fileio_write_all(fd, body, len + 1);
    if (w < 0) {
        snprintf(err, errlen, "write %s: %s", c->sink->path, strerror(-w));
        rc = SINK_RETRY;
    }
    if (rc == 0 && fsync(fd) < 0) {
        snprintf(err, errlen, "fsync %s: %s", c->sink->path, strerror(errno));
        rc = SINK_RETRY;
    }
    close(fd);
    free(body);
    return rc;
}

sink_conn_t *sink_conn_new(const struct config *cfg, const struct config_sink *sink,
                           int64_t timeout_ms, char *err, size_t errlen)
{
    struct sink_conn *c = xcalloc(1, sizeof *c);
    c->cfg = cfg;
    c->sink = sink;
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
    c->fd = -1;
    switch (sink->type) {
    case CONFIG_SINK_ALERTMANAGER:
    case CONFIG_SINK_PAGERDUTY:
    case CONFIG_SINK_SLACK:
    case CONFIG_SINK_WEBHOOK:
        c->curl = curl_easy_init();
        if (!c->curl) {
            snprintf(err, errlen, "sink %s: curl_easy_init failed", sink->name);
            goto fail;
        }
        break;
    case CONFIG_SINK_SYSLOG: {
        const char *a = sink->address ? sink->address : "unix:/dev/log";
        if (strncmp(a, "unix:", 5) == 0) {
            c->proto = SYSLOG_UNIX;
            c->path = xstrdup(a + 5);
        } else if (strncmp(a, "udp:", 4) == 0) {
            c->proto = SYSLOG_UDP;
            split_hostport(a + 4, &c->host, &c->port);
        } else if (strncmp(a, "tcp:", 4) == 0) {
            c->proto = SYSLOG_TCP;
            split_hostport(a + 4, &c->host, &c->port);
        } else {
            snprintf(err, errlen, "sink %s: address '%s' is not unix:, udp: or tcp:", sink->name,
                     a);
            goto fail;
        }
        if (gethostname(c->hostname, sizeof c->hostname - 1) < 0)
            snprintf(c->hostname, sizeof c->hostname, "-");
        break;
    }
    case CONFIG_SINK_KAFKA:
        c->topic = sink->topic ? sink->topic : cfg->topics.alerts;
        c->producer = kafka_producer_new(cfg->kafka, cfg->n_kafka, on_delivery, c, err, errlen);
        if (!c->producer)
            goto fail;
        break;
    case CONFIG_SINK_FILE:
        if (!sink->path) {
            snprintf(err, errlen, "sink %s: no path", sink->name);
            goto fail;
        }
        break;
    }
    return c;
fail:
    sink_conn_free(c);
    return NULL;
}

int sink_conn_send(sink_conn_t *c, const struct record *alert, char *err, size_t errlen)
{
    err[0] = '\0';
    switch (c->sink->type) {
    case CONFIG_SINK_SYSLOG:
        return syslog_send(c, alert, err, errlen);
    case CONFIG_SINK_KAFKA:
        return kafka_send(c, alert, err, errlen);
    case CONFIG_SINK_FILE:
        return file_send(c, alert, err, errlen);
    default:
        break;
    }
    char *body = NULL;
    if (sink_payload_json(c->sink, alert, &body) < 0) {
        snprintf(err, errlen, "alert cannot be encoded");
        return SINK_FINAL;
    }
    struct curl_slist *h = NULL;
    const char *url = http_url(c);
    char *amurl = NULL;
    if (c->sink->type == CONFIG_SINK_ALERTMANAGER && c->sink->url) {
        size_t l = strlen(c->sink->url);
        amurl = xasprintf("%.*s/api/v2/alerts",
                          (int)(l > 0 && c->sink->url[l - 1] == '/' ? l - 1 : l), c->sink->url);
        url = amurl;
    }
    if (c->sink->type == CONFIG_SINK_WEBHOOK) {
        char ts[32], sig[80];
        snprintf(ts, sizeof ts, "%lld", (long long)time(NULL));
        char *th = xasprintf("X-Ipamwatch-Timestamp: %s", ts);
        h = curl_slist_append(h, th);
        free(th);
        if (c->sink->hmac_secret && sink_webhook_signature(c->sink->hmac_secret, ts, body,
                                                           strlen(body), sig, sizeof sig) == 0) {
            char *sh = xasprintf("%s: %s",
                                 c->sink->header ? c->sink->header : "X-Ipamwatch-Signature", sig);
            h = curl_slist_append(h, sh);
            free(sh);
        }
    }
    int rc = http_post(c, url, body, h, err, errlen);
    free(amurl);
    free(body);
    return rc;
}

int sink_conn_repost(sink_conn_t *c, const struct record *const *alerts, size_t n, char *err,
                     size_t errlen)
{
    err[0] = '\0';
    if (c->sink->type != CONFIG_SINK_ALERTMANAGER || n == 0)
        return 0;
    char *body = NULL;
    if (sink_payload_alertmanager_batch(alerts, n, &body) < 0) {
        snprintf(err, errlen, "alerts cannot be encoded");
        return SINK_FINAL;
    }
    size_t l = strlen(c->sink->url);
    char *url = xasprintf("%.*s/api/v2/alerts",
                          (int)(l > 0 && c->sink->url[l - 1] == '/' ? l - 1 : l), c->sink->url);
    int rc = http_post(c, url, body, NULL, err, errlen);
    free(url);
    free(body);
    return rc;
}

void sink_conn_free(sink_conn_t *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    if (c->fd >= 0)
        close(c->fd);
    /* Every send waited for its report or purged its unsent message; one still outstanding
     * is in flight from an attempt given up, whose notification stays in the spool (or was
     * given up): waiting longer could only deliver it twice. */
    if (c->producer)
        kafka_producer_close(c->producer, 0);
    for (size_t i = 0; i < c->nlate; i++)
        free(c->late[i].id);
    free(c->host);
    free(c->port);
    free(c->path);
    free(c);
}
