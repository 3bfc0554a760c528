/* aws_test_server: a scripted one-thread HTTP server on 127.0.0.1 for the AWS client tests.
 *
 * Each accepted connection reads one request (headers and Content-Length body), records
 * it, answers with the next scripted raw response (the last one repeats) and closes.
 */
#ifndef IPAMWATCH_AWS_TEST_SERVER_H
#define IPAMWATCH_AWS_TEST_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define TS_MAX 32

struct test_server {
    int fd;
    int port;
    pthread_t thread;
    const char *responses[TS_MAX];
    int nresp;
    char *requests[TS_MAX];
    int nreq;
    int stop;
    /* When set, picks the response to request number n (0-based) from its raw text
     * instead of the script (called on the server thread; the text stays the picker's). */
    const char *(*pick)(void *ud, const char *request, int n);
    void *pick_ud;
};

static void *ts_main(void *arg)
{
    struct test_server *ts = arg;
    for (;;) {
        int c = accept(ts->fd, NULL, NULL);
        if (c < 0 || ts->stop) {
            if (c >= 0)
                close(c);
            return NULL;
        }
        size_t cap = 1 << 16, len = 0;
        char *buf = calloc(1, cap + 1);
        long want = -1;
        for (;;) {
            ssize_t n = read(c, buf + len, cap - len);
            if (n <= 0)
                break;
            len += (size_t)n;
            buf[len] = '\0';
            char *end = strstr(buf, "\r\n\r\n");
            if (end && want < 0) {
                const char *cl = strcasestr(buf, "\r\nContent-Length:");
                want = (long)(end + 4 - buf) + (cl && cl < end ? atol(cl + 17) : 0);
            }
            if (want >= 0 && (long)len >= want)
                break;
        }
        int i = ts->nreq < ts->nresp ? ts->nreq : ts->nresp - 1;
        const char *r = ts->pick ? ts->pick(ts->pick_ud, buf, ts->nreq) : ts->responses[i];
        if (ts->nreq < TS_MAX)
            ts->requests[ts->nreq] = buf;
        else
            free(buf);
        ts->nreq++;
        size_t off = 0, rl = strlen(r);
        while (off < rl) {
            ssize_t n = write(c, r + off, rl - off);
            if (n <= 0)
                break;
            off += (size_t)n;
        }
        close(c);
    }
}

/* Starts a server answering with `responses` (raw HTTP, borrowed), n >= 1, or, when `pick`
 * is set, with what it picks for each request. */
static void ts_start_pick(struct test_server *ts, const char *const *responses, int n,
                          const char *(*pick)(void *, const char *, int), void *pick_ud)
{
    memset(ts, 0, sizeof *ts);
    ts->pick = pick;
    ts->pick_ud = pick_ud;
    for (int i = 0; i < n && i < TS_MAX; i++)
        ts->responses[i] = responses[i];
    ts->nresp = n;
    ts->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(ts->fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(ts->fd, 16) < 0) {
        perror("test server");
        exit(1);
    }
    socklen_t sl = sizeof a;
    getsockname(ts->fd, (struct sockaddr *)&a, &sl);
    ts->port = ntohs(a.sin_port);
    pthread_create(&ts->thread, NULL, ts_main, ts);
}

static inline void ts_start(struct test_server *ts, const char *const *responses, int n)
{
    ts_start_pick(ts, responses, n, NULL, NULL);
}

static void ts_stop(struct test_server *ts)
{
    ts->stop = 1;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)ts->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    connect(c, (struct sockaddr *)&a, sizeof a);
    close(c);
    pthread_join(ts->thread, NULL);
    close(ts->fd);
    for (int i = 0; i < ts->nreq && i < TS_MAX; i++)
        free(ts->requests[i]);
}

/* Builds a raw response with Content-Length (owned by the caller). */
static char *ts_response(int status, const char *ctype, const char *body)
{
    size_t n = strlen(body) + 256;
    char *r = malloc(n);
    snprintf(r, n,
             "HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
             "x-amzn-RequestId: hdr-req-1\r\nConnection: close\r\n\r\n%s",
             status, ctype, strlen(body), body);
    return r;
}

#endif
