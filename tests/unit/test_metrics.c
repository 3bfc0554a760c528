/* test_metrics: the Prometheus registry (exposition format, escaping, label order, errors),
 * readiness, the HTTP server on 127.0.0.1 (libcurl as the client) and sd_notify datagrams. */
#include "testing.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <curl/curl.h>

#include "metrics.h"
#include "sdnotify.h"

static void test_format(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    assert_int_equal(metrics_declare(m, "t_requests_total", METRICS_COUNTER,
                                     "Requests by \\ operation\nand outcome.", "operation,outcome"),
                     0);
    assert_int_equal(metrics_declare(m, "t_up", METRICS_GAUGE, "Up.", ""), 0);
    /* Values are given in the declared label order and printed in it. */
    assert_int_equal(metrics_add(m, "t_requests_total", 2, "GetIpamPoolCidrs", "ok", NULL), 0);
    assert_int_equal(metrics_add(m, "t_requests_total", 3, "GetIpamPoolCidrs", "ok", NULL), 0);
    assert_int_equal(metrics_add(m, "t_requests_total", 1, "a\"b\\c\nd", "error", NULL), 0);
    assert_int_equal(metrics_set(m, "t_up", 1, NULL), 0);
    char *text = metrics_render(m, NULL);
    const char *want = "# HELP t_requests_total Requests by \\\\ operation\\nand outcome.\n"
                       "# TYPE t_requests_total counter\n"
                       "t_requests_total{operation=\"GetIpamPoolCidrs\",outcome=\"ok\"} 5\n"
                       "t_requests_total{operation=\"a\\\"b\\\\c\\nd\",outcome=\"error\"} 1\n"
                       "# HELP t_up Up.\n"
                       "# TYPE t_up gauge\n"
                       "t_up 1\n";
    assert_string_equal(text, want);
    free(text);
    double v = 0;
    assert_int_equal(metrics_get(m, "t_requests_total", &v, "GetIpamPoolCidrs", "ok", NULL), 0);
    assert_true(v == 5);
    assert_int_equal(metrics_get(m, "t_requests_total", &v, "GetIpamPoolCidrs", "error", NULL),
                     -ENOENT);
    metrics_free(m);
}

static void test_values(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    assert_int_equal(metrics_declare(m, "v", METRICS_GAUGE, "", "k"), 0);
    static const struct {
        double v;
        const char *text;
    } cases[] = {
        {0, "0"},
        {-3, "-3"},
        {65536, "65536"},
        {0.1, "0.1"},
        {62.5, "62.5"},
        {1e20, "1e+20"},
        {1.0 / 3, "0.33333333333333331"},
        {NAN, "NaN"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char key[8], want[64];
        snprintf(key, sizeof key, "%zu", i);
        assert_int_equal(metrics_set(m, "v", cases[i].v, key, NULL), 0);
        snprintf(want, sizeof want, "\nv{k=\"%s\"} %s\n", key, cases[i].text);
        char *text = metrics_render(m, NULL);
        if (!strstr(text, want))
            fail_msg("%s not in\n%s", want, text);
        free(text);
    }
    metrics_free(m);
}

static void test_errors(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    assert_int_equal(metrics_declare(m, "9bad", METRICS_GAUGE, "", NULL), -EINVAL);
    assert_int_equal(metrics_declare(m, "bad-name", METRICS_GAUGE, "", NULL), -EINVAL);
    assert_int_equal(metrics_declare(m, "ok", METRICS_GAUGE, "", "a,b-c"), -EINVAL);
    assert_int_equal(metrics_declare(m, "ok", METRICS_GAUGE, "", "__reserved"), -EINVAL);
    assert_int_equal(metrics_declare(m, "ns:ok_total", METRICS_COUNTER, "", " a , b "), 0);
    /* Same declaration again is fine; another type or label set is not. */
    assert_int_equal(metrics_declare(m, "ns:ok_total", METRICS_COUNTER, "x", "a,b"), 0);
    assert_int_equal(metrics_declare(m, "ns:ok_total", METRICS_GAUGE, "", "a,b"), -EEXIST);
    assert_int_equal(metrics_declare(m, "ns:ok_total", METRICS_COUNTER, "", "a"), -EEXIST);
    assert_int_equal(metrics_set(m, "missing", 1, NULL), -ENOENT);
    assert_int_equal(metrics_set(m, "ns:ok_total", 1, "x", NULL), -EINVAL);
    assert_int_equal(metrics_set(m, "ns:ok_total", 1, "x", "y", "z", NULL), -EINVAL);
    assert_int_equal(metrics_add(m, "ns:ok_total", -1, "x", "y", NULL), -EINVAL);
    assert_int_equal(metrics_add(m, "ns:ok_total", 1, "x", "y", NULL), 0);
    char *text = metrics_render(m, NULL);
    assert_non_null(strstr(text, "ns:ok_total{a=\"x\",b=\"y\"} 1\n"));
    free(text);
    metrics_free(m);
    metrics_free(NULL);
}

static void test_drop(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    assert_int_equal(metrics_declare(m, "size", METRICS_GAUGE, "", "scope_id,pool_id"), 0);
    assert_int_equal(metrics_declare(m, "used", METRICS_GAUGE, "", "scope_id,pool_id"), 0);
    assert_int_equal(metrics_declare(m, "other", METRICS_GAUGE, "", "pool_id"), 0);
    const char *scopes[] = {"s1", "s2"};
    for (int s = 0; s < 2; s++)
        for (int p = 0; p < 3; p++) {
            char pool[16];
            snprintf(pool, sizeof pool, "p%d%d", s, p);
            assert_int_equal(metrics_set(m, "size", 100 + p, scopes[s], pool, NULL), 0);
            assert_int_equal(metrics_set(m, "used", p, scopes[s], pool, NULL), 0);
            assert_int_equal(metrics_set(m, "other", p, pool, NULL), 0);
        }
    assert_int_equal(metrics_drop(m, "scope_id", "s1"), 6);
    assert_int_equal(metrics_drop(m, "scope_id", "s1"), 0);
    double v;
    assert_int_equal(metrics_get(m, "size", &v, "s1", "p00", NULL), -ENOENT);
    assert_int_equal(metrics_get(m, "size", &v, "s2", "p12", NULL), 0);
    assert_true(v == 102);
    /* The index still finds the moved series: setting it again does not duplicate it. */
    assert_int_equal(metrics_set(m, "size", 7, "s2", "p12", NULL), 0);
    char *text = metrics_render(m, NULL);
    assert_null(strstr(text, "s1"));
    assert_non_null(strstr(text, "size{scope_id=\"s2\",pool_id=\"p12\"} 7\n"));
    assert_null(strstr(text, "size{scope_id=\"s2\",pool_id=\"p12\"} 102\n"));
    assert_non_null(strstr(text, "other{pool_id=\"p00\"} 0\n"));
    free(text);
    metrics_free(m);
}

static void test_ready(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    char why[256];
    assert_false(metrics_ready(m, why, sizeof why));
    metrics_set_ready(m, "collector", "no inventory pass completed yet", 0);
    metrics_set_ready(m, "analyzer", NULL, 0);
    assert_false(metrics_ready(m, why, sizeof why));
    assert_string_equal(why, "collector: no inventory pass completed yet");
    metrics_set_ready(m, "collector", NULL, 100);
    assert_true(metrics_ready(m, why, sizeof why));
    usleep(300 * 1000);
    assert_false(metrics_ready(m, why, sizeof why));
    assert_non_null(strstr(why, "collector: no progress for"));
    metrics_set_ready(m, "collector", NULL, 100);
    assert_true(metrics_ready(m, NULL, 0));
    metrics_free(m);
}

/* ---- HTTP --------------------------------------------------------------------------- */

struct resp {
    long status;
    char type[128];
    char *body;
    size_t len;
};

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    struct resp *r = ctx;
    r->body = realloc(r->body, r->len + size * n + 1);
    memcpy(r->body + r->len, p, size * n);
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

static void http(int port, const char *method, const char *path, struct resp *r)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    memset(r, 0, sizeof *r);
    r->body = calloc(1, 1);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "x=1");
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    char *type = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
    snprintf(r->type, sizeof r->type, "%s", type ? type : "");
    curl_easy_cleanup(c);
}

struct writer {
    metrics_t *m;
    volatile bool stop;
};

/* Keeps two counters equal under the lock, so a scrape must never see them differ. */
static void *write_loop(void *arg)
{
    struct writer *w = arg;
    while (!w->stop) {
        metrics_lock(w->m);
        metrics_add(w->m, "pair_total", 1, "a", NULL);
        metrics_add(w->m, "pair_total", 1, "b", NULL);
        metrics_unlock(w->m);
    }
    return NULL;
}

/* Asks method path; the answer must have `status` and, unless NULL, the body `body`. */
static void expect_http(int port, const char *method, const char *path, int status,
                        const char *body)
{
    struct resp r;
    http(port, method, path, &r);
    assert_int_equal(r.status, status);
    if (body)
        assert_string_equal(r.body, body);
    free(r.body);
}

static void test_http(void **state)
{
    (void)state;
    metrics_t *m = metrics_new();
    char err[256];
    assert_int_equal(metrics_port(m), 0);
    assert_int_equal(metrics_serve(m, "127.0.0.1:0", err, sizeof err), 0);
    int port = metrics_port(m);
    assert_true(port > 0);
    assert_int_equal(metrics_serve(m, "127.0.0.1:0", err, sizeof err), -EALREADY);
    assert_int_equal(metrics_declare(m, "pool_size", METRICS_GAUGE, "Pool size.", "pool_id"), 0);
    assert_int_equal(metrics_set(m, "pool_size", 65536, "ipam-pool-1", NULL), 0);

    struct resp r;
    http(port, "GET", "/metrics", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.type, "text/plain; version=0.0.4; charset=utf-8");
    char *text = metrics_render(m, NULL);
    assert_string_equal(r.body, text);
    assert_non_null(strstr(r.body, "pool_size{pool_id=\"ipam-pool-1\"} 65536\n"));
    free(text);
    free(r.body);

    expect_http(port, "GET", "/healthz", 200, "{\"status\":\"ok\"}\n");
    expect_http(port, "GET", "/readyz", 503,
                "{\"status\":\"not ready\",\"reason\":\"starting\"}\n");
    metrics_set_ready(m, "collector", "last pass failed: \"ec2\" down", 0);
    expect_http(port, "GET", "/readyz", 503,
                "{\"status\":\"not ready\",\"reason\":\"collector: last pass "
                "failed: \\\"ec2\\\" down\"}\n");
    metrics_set_ready(m, "collector", NULL, 60000);
    expect_http(port, "GET", "/readyz", 200, "{\"status\":\"ok\"}\n");
    expect_http(port, "GET", "/nothing", 404, NULL);
    expect_http(port, "POST", "/metrics", 405, NULL);

    /* Scrapes while another thread updates: every scrape is consistent. */
    assert_int_equal(metrics_declare(m, "pair_total", METRICS_COUNTER, "", "k"), 0);
    struct writer w = {m, false};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, write_loop, &w), 0);
    for (int i = 0; i < 30; i++) {
        http(port, "GET", "/metrics", &r);
        assert_int_equal(r.status, 200);
        const char *a = strstr(r.body, "pair_total{k=\"a\"} ");
        const char *b = strstr(r.body, "pair_total{k=\"b\"} ");
        if (a && b)
            assert_int_equal(strtoll(a + 19, NULL, 10), strtoll(b + 19, NULL, 10));
        else
            assert_true(!a && !b);
        free(r.body);
    }
    w.stop = true;
    pthread_join(th, NULL);

    /* A second server on the same port fails with the reason. */
    metrics_t *m2 = metrics_new();
    char listen_addr[64];
    snprintf(listen_addr, sizeof listen_addr, "127.0.0.1:%d", port);
    assert_int_equal(metrics_serve(m2, listen_addr, err, sizeof err), -EADDRINUSE);
    assert_non_null(strstr(err, "Address already in use"));
    assert_int_equal(metrics_serve(m2, "no-port", err, sizeof err), -EINVAL);
    assert_int_equal(metrics_port(m2), 0);
    metrics_free(m2);
    metrics_free(m);
}

static void test_sdnotify(void **state)
{
    (void)state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(sdnotify_send("READY=1"), 0);
    char path[64];
    snprintf(path, sizeof path, "/tmp/test_metrics.%d.sock", (int)getpid());
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    setenv("NOTIFY_SOCKET", path, 1);
    /* Ready once, when the last of two jobs is: the first job's READY is held back, and a
     * READY after the announcement is not sent again. */
    sdnotify_expect_ready(2);
    assert_int_equal(sdnotify_send("READY=1"), 0);
    assert_int_equal(sdnotify_send("READY=1"), 1);
    char buf[64] = "";
    ssize_t n = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT);
    assert_int_equal(n, 7);
    assert_string_equal(buf, "READY=1");
    assert_int_equal(sdnotify_send("READY=1"), 0);
    assert_int_equal(recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT), -1);
    sdnotify_expect_ready(1);
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    assert_int_equal(sdnotify_send("READY=1"), -EINVAL);
    unsetenv("NOTIFY_SOCKET");
    close(fd);
    unlink(path);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),   cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),   cmocka_unit_test(test_drop),
        cmocka_unit_test(test_ready),    cmocka_unit_test(test_http),
        cmocka_unit_test(test_sdnotify),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
