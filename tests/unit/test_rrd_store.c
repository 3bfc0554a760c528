/* Unit tests for rrd_store: three-year backfill, replay, bad keys and failures, directly and
 * through a real rrdcached started on a unix socket in a temporary directory, and on a TCP
 * port of 127.0.0.1 with its own base directory (files on the daemon's host), also one that
 * stops answering (the bounded stop). */
#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rrd.h>

#include "analyzer/rrd_store.h"

#define DAY 86400
/* Last sample of the synthetic history: a day boundary (UTC). */
#define T_END     ((time_t)1700006400)
#define DAILY     1100 /* daily samples */
#define FINE_DAYS 4    /* days of 5-minute samples after the last daily one */
#define T0        (T_END - (time_t)(DAILY + FINE_DAYS - 1) * DAY)
#define T_FINE0   (T0 + (time_t)(DAILY - 1) * DAY) /* last daily sample */

static char tmpdir[200];
static pid_t daemon_pid = -1;
static char sock_path[100];

/* Filesystem helpers ----------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* rrdcached ---------------------------------------------------------------------------- */

static bool socket_answers(const char *path)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    bool ok;
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static void daemon_stop(void);

/* Forks rrdcached with `argv` (NULL-terminated) and standard input and output (and error,
 * when `quiet`) on /dev/null, then waits up to 5 s until `answers(addr)` connects; fails the
 * test when the daemon exits first or never answers. */
static void daemon_spawn(char *const argv[], bool quiet, bool (*answers)(const char *),
                         const char *addr)
{
    daemon_pid = fork();
    assert_true(daemon_pid >= 0);
    if (daemon_pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(devnull, 1);
        if (quiet)
            dup2(devnull, 2);
        execvp("rrdcached", argv);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        int status;
        if (answers(addr))
            return;
        if (waitpid(daemon_pid, &status, WNOHANG) == daemon_pid) {
            daemon_pid = -1;
            fail_msg("rrdcached exited during start (status %d)", status);
        }
        usleep(50000);
    }
    fail_msg("rrdcached did not answer on %s within 5 s", addr);
}

/* Starts rrdcached in the foreground on `sock_path` with a journal; writes happen only
 * when asked for (write interval one hour), so a missing FLUSH shows in the files. */
static void daemon_start(void)
{
    char base[300], pidf[400], journal[400], logf[400], listen[320];
    snprintf(base, sizeof base, "%s/daemon", tmpdir);
    snprintf(pidf, sizeof pidf, "%s/rrdcached.pid", base);
    snprintf(journal, sizeof journal, "%s/journal", base);
    snprintf(logf, sizeof logf, "%s/rrdcached.log", base);
    daemon_stop();
    unlink(sock_path);
    mkdir(base, 0755);
    mkdir(journal, 0755);
    snprintf(listen, sizeof listen, "unix:%s", sock_path);
    char *argv[] = {"rrdcached", "-g", "-l", listen, "-p", pidf,   "-b", base, "-j",
                    journal,     "-F", "-w", "3600", "-f", "7200", "-o", logf, NULL};
    daemon_spawn(argv, false, socket_answers, sock_path);
}

/* A free TCP port of 127.0.0.1 (bound and released). */
static int free_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* True when 127.0.0.1:PORT (`addr`) accepts a connection. */
static bool port_answers(const char *addr)
{
    int port = atoi(strrchr(addr, ':') + 1);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* Starts rrdcached on a free TCP port of 127.0.0.1 with base directory `base` (-B, and -R
 * when `recursive`); its address goes to `addr`. */
static void daemon_start_tcp(const char *base, bool recursive, char *addr, size_t addrlen)
{
    char pidf[400];
    int port = free_port();
    assert_true(port > 0);
    snprintf(addr, addrlen, "127.0.0.1:%d", port);
    snprintf(pidf, sizeof pidf, "%s.pid", base);
    daemon_stop();
    mkdir(base, 0700);
    char *argv[] = {"rrdcached", "-g",   "-l",         addr,   "-p",
                    pidf,        "-b",   (char *)base, "-B",   "-F",
                    "-w",        "3600", "-f",         "7200", recursive ? "-R" : NULL,
                    NULL};
    daemon_spawn(argv, true, port_answers, addr);
}

static void daemon_stop(void)
{
    int status;
    if (daemon_pid <= 0)
        return;
    kill(daemon_pid, SIGTERM);
    kill(daemon_pid, SIGCONT); /* one stopped by a test ends too */
    waitpid(daemon_pid, &status, 0);
    daemon_pid = -1;
    unlink(sock_path);
}

static int setup(void **state)
{
    if (testing_mkdtemp(tmpdir, sizeof tmpdir, "ipamwatch-rrd") != 0)
        return -1;
    if ((size_t)snprintf(sock_path, sizeof sock_path, "%s/rrdcached.sock", tmpdir) >=
        sizeof sock_path)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    daemon_stop();
    if (testing_rm_rf(tmpdir) != 0)
        fprintf(stderr, "# cannot remove %s\n", tmpdir);
    return 0;
}

/* After each rrdcached test, also a failed one: no daemon is left for the next test. */
static int stop_daemon(void **state)
{
    daemon_stop();
    return 0;
}

/* Synthetic history ------------------------------------------------------------------ */

/* Values of the daily sample k (0..DAILY-1); overlaps are unknown every 10th day. */
static struct rrd_sample daily_sample(int k)
{
    struct rrd_sample s = rrd_sample_unknown();
    s.size = 65536;
    s.used = (double)((k * 37) % 60000);
    s.free = s.size - s.used;
    s.utilization = 100.0 * s.used / s.size;
    s.largest_free = 16 + k % 8;
    s.default_fits = (double)(k % 50);
    s.allocations = (double)(k / 3);
    s.overlaps = k % 10 == 3 ? NAN : (double)(k % 4);
    s.noncompliant = (double)(k % 7);
    return s;
}

/* Values of the 5-minute sample at time t (after T_FINE0). */
static struct rrd_sample fine_sample(time_t t)
{
    long j = (long)((t - T_FINE0) / 300);
    struct rrd_sample s = daily_sample(DAILY - 1);
    s.used = (double)(1000 + (j * 7919) % 5000);
    s.free = s.size - s.used;
    s.utilization = 100.0 * s.used / s.size;
    s.allocations = (double)(400 + j % 13);
    return s;
}

/* Writes the whole history of one object; returns the number of samples. */
static size_t write_history(rrd_store_t *st, const char *kind, const char *id)
{
    size_t n = 0;
    for (int k = 0; k < DAILY; k++) {
        struct rrd_sample s = daily_sample(k);
        int rc = rrd_store_update(st, kind, id, T0 + (time_t)k * DAY, &s);
        if (rc != 0)
            fail_msg("update day %d: %d (%s)", k, rc, rrd_store_error(st));
        n++;
    }
    for (time_t t = T_FINE0 + 300; t <= T_END; t += 300) {
        struct rrd_sample s = fine_sample(t);
        int rc = rrd_store_update(st, kind, id, t, &s);
        if (rc != 0)
            fail_msg("update %lld: %d (%s)", (long long)t, rc, rrd_store_error(st));
        n++;
    }
    return n;
}

static bool same(double got, double want)
{
    if (isnan(want))
        return isnan(got);
    return fabs(got - want) <= 1e-9 * (fabs(want) > 1 ? fabs(want) : 1);
}

/* A store over `dir` (through `daemon` unless NULL) holding write_history() of a pool and a
 * VPC, flushed: both files created, every sample written. Sets `*n` to the samples and
 * `stats` to the store's counters. */
static rrd_store_t *store_with_two_histories(const char *dir, const char *daemon, size_t *n,
                                             struct rrd_store_stats *stats)
{
    char err[512];
    rrd_store_t *st = rrd_store_new(dir, 300, daemon, err, sizeof err);
    if (st == NULL)
        fail_msg("rrd_store_new: %s", err);
    *n = write_history(st, "pool", "ipam-pool-0123456789abcdef0");
    *n += write_history(st, "vpc", "vpc-0fedcba9876543210");
    assert_int_equal(rrd_store_flush(st), 0);
    rrd_store_get_stats(st, stats);
    assert_int_equal(stats->written, *n);
    assert_int_equal(stats->created, 2);
    return st;
}

/* Writes the pool's history of store_with_two_histories() (n samples for both objects) again
 * through st, a store that did not write it: every sample is found to be a replay, skipped. */
static void replay_pool_history(rrd_store_t *st, size_t n)
{
    struct rrd_store_stats stats;
    write_history(st, "pool", "ipam-pool-0123456789abcdef0");
    assert_int_equal(rrd_store_flush(st), 0);
    rrd_store_get_stats(st, &stats);
    assert_int_equal(stats.skipped, n / 2);
    assert_int_equal(stats.queued, 0);
    assert_int_equal(stats.written, 0);
    assert_int_equal(stats.created, 0);
}

/* Reads the history back with `reader` (a store without rrdcached, so what it sees is what
 * the files hold) and compares it with what was written. */
static void check_history(rrd_store_t *reader, const char *kind, const char *id)
{
    struct rrd_series s;
    size_t checked = 0;
    time_t first_known = 0;
    int rc;

    /* Daily archive: every day of three years carries the sample written for it. */
    rc = rrd_store_fetch(reader, kind, id, "AVERAGE", T_END - 1100 * (time_t)DAY, T_FINE0, DAY, &s);
    assert_int_equal(rc, 0);
    assert_int_equal(s.step, DAY);
    for (size_t i = 0; i < s.rows; i++) {
        time_t t = rrd_series_time(&s, i);
        long k = (long)((t - T0) / DAY);
        if (t < T0 || k >= DAILY)
            continue;
        struct rrd_sample want = daily_sample((int)k);
        if (first_known == 0 && !isnan(s.values[RRD_DS_USED][i]))
            first_known = t;
        for (int d = 0; d < RRD_DS_COUNT; d++) {
            double w = rrd_sample_get(&want, (enum rrd_ds)d);
            if (!same(s.values[d][i], w))
                fail_msg("%s/%s day %ld (%lld) %s: got %.17g, want %.17g", kind, id, k,
                         (long long)t, rrd_ds_name((enum rrd_ds)d), s.values[d][i], w);
        }
        checked++;
    }
    rrd_series_free(&s);
    if (checked < 1090)
        fail_msg("only %zu daily rows checked", checked);
    if (first_known == 0 || T_END - first_known < (time_t)(1095 * DAY))
        fail_msg("daily history starts %lld, less than three years before %lld",
                 (long long)first_known, (long long)T_END);

    /* Fine archive: every 5-minute sample of the last days. */
    rc = rrd_store_fetch(reader, kind, id, "AVERAGE", T_FINE0, T_END, 300, &s);
    assert_int_equal(rc, 0);
    assert_int_equal(s.step, 300);
    checked = 0;
    for (size_t i = 0; i < s.rows; i++) {
        time_t t = rrd_series_time(&s, i);
        if (t <= T_FINE0 || t > T_END)
            continue;
        struct rrd_sample want = fine_sample(t);
        for (int d = 0; d < RRD_DS_COUNT; d++) {
            double w = rrd_sample_get(&want, (enum rrd_ds)d);
            if (!same(s.values[d][i], w))
                fail_msg("%s/%s %lld %s: got %.17g, want %.17g", kind, id, (long long)t,
                         rrd_ds_name((enum rrd_ds)d), s.values[d][i], w);
        }
        checked++;
    }
    rrd_series_free(&s);
    assert_int_equal(checked, FINE_DAYS * 288);

    /* Hourly MAX of the fine samples. */
    rc = rrd_store_fetch(reader, kind, id, "MAX", T_END - DAY, T_END, 3600, &s);
    assert_int_equal(rc, 0);
    assert_int_equal(s.step, 3600);
    checked = 0;
    for (size_t i = 0; i < s.rows; i++) {
        time_t t = rrd_series_time(&s, i);
        double max = -1;
        if (t <= T_END - DAY || t > T_END)
            continue;
        for (time_t u = t - 3600 + 300; u <= t; u += 300) {
            struct rrd_sample f = fine_sample(u);
            if (f.used > max)
                max = f.used;
        }
        if (!same(s.values[RRD_DS_USED][i], max))
            fail_msg("hourly MAX at %lld: got %.17g, want %.17g", (long long)t,
                     s.values[RRD_DS_USED][i], max);
        checked++;
    }
    rrd_series_free(&s);
    assert_int_equal(checked, 24);
}

/* Backfills, checks, replays in the same and in a fresh store: nothing changes. */
static void backfill_and_replay(const char *daemon)
{
    char dir[300], err[512], path[512];
    rrd_store_t *st, *reader;
    struct rrd_store_stats stats;
    size_t n, len0, len1;
    char *before, *after;
    time_t last;

    snprintf(dir, sizeof dir, "%s/rrd-%s", tmpdir, daemon ? "cached" : "direct");
    st = store_with_two_histories(dir, daemon, &n, &stats);
    assert_int_equal(stats.skipped, 0);
    assert_int_equal(rrd_store_last(st, "pool", "ipam-pool-0123456789abcdef0", &last), 0);
    assert_int_equal(last, T_END);

    reader = rrd_store_new(dir, 300, NULL, err, sizeof err);
    assert_non_null(reader);
    check_history(reader, "pool", "ipam-pool-0123456789abcdef0");
    check_history(reader, "vpc", "vpc-0fedcba9876543210");

    /* Replay in the same store: every sample is skipped, the file is untouched. */
    assert_int_equal(rrd_store_path(st, "pool", "ipam-pool-0123456789abcdef0", path, sizeof path),
                     0);
    before = read_file(path, &len0);
    assert_non_null(before);
    assert_int_equal(write_history(st, "pool", "ipam-pool-0123456789abcdef0"), n / 2);
    assert_int_equal(rrd_store_flush(st), 0);
    rrd_store_get_stats(st, &stats);
    assert_int_equal(stats.skipped, n / 2);
    assert_int_equal(stats.queued, n);
    assert_int_equal(stats.written, n);
    rrd_store_free(st);

    /* Replay from a fresh store (a restarted analyzer): skipped from the file's state. */
    st = rrd_store_new(dir, 300, daemon, err, sizeof err);
    assert_non_null(st);
    replay_pool_history(st, n);
    after = read_file(path, &len1);
    assert_non_null(after);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, len0);
    free(before);
    free(after);

    /* New samples after the replay still land. */
    struct rrd_sample s = fine_sample(T_END + 300);
    assert_int_equal(rrd_store_update(st, "pool", "ipam-pool-0123456789abcdef0", T_END + 300, &s),
                     0);
    assert_int_equal(rrd_store_flush(st), 0);
    rrd_store_get_stats(st, &stats);
    assert_int_equal(stats.written, 1);
    rrd_store_free(st);
    assert_int_equal(rrd_store_last(reader, "pool", "ipam-pool-0123456789abcdef0", &last), 0);
    /* The reader knew the object already: ask a fresh one. */
    rrd_store_free(reader);
    reader = rrd_store_new(dir, 300, NULL, err, sizeof err);
    assert_int_equal(rrd_store_last(reader, "pool", "ipam-pool-0123456789abcdef0", &last), 0);
    assert_int_equal(last, T_END + 300);
    rrd_store_free(reader);
}

static void test_backfill_direct(void **state)
{
    backfill_and_replay(NULL);
}

static void test_backfill_rrdcached(void **state)
{
    char addr[320];
    daemon_start();
    snprintf(addr, sizeof addr, "unix:%s", sock_path);
    backfill_and_replay(addr);
    daemon_stop();
}

/* Without FLUSH, rrdcached (write interval one hour) keeps samples in memory: what a
 * direct reader finds after rrd_store_flush() proves the flush reached the file. Also
 * the daemon holding newer samples than the store (another writer, or a run that crashed
 * before its flush) is a replay, not an error. */
static void test_rrdcached_flush_and_newer(void **state)
{
    char addr[320], dir[300], err[512], path[512];
    rrd_store_t *st, *reader;
    struct rrd_store_stats stats;
    struct rrd_series s;
    struct rrd_sample v = fine_sample(T_END);
    const time_t t1 = T_END - 3600;

    daemon_start();
    snprintf(addr, sizeof addr, "unix:%s", sock_path);
    snprintf(dir, sizeof dir, "%s/rrd-newer", tmpdir);
    st = rrd_store_new(dir, 300, addr, err, sizeof err);
    assert_non_null(st);
    reader = rrd_store_new(dir, 300, NULL, err, sizeof err);
    assert_non_null(reader);

    v.used = 111;
    assert_int_equal(rrd_store_update(st, "subnet", "subnet-0aa", t1, &v), 0);
    assert_int_equal(rrd_store_flush(st), 0);
    assert_int_equal(rrd_store_path(st, "subnet", "subnet-0aa", path, sizeof path), 0);

    /* Another writer sends t1+300 to the daemon without flushing it. */
    {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        char cmd[800], reply[256];
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        ssize_t r;
        snprintf(sun.sun_path, sizeof sun.sun_path, "%s", sock_path);
        assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
        snprintf(cmd, sizeof cmd, "UPDATE %s %lld:65536:222:U:U:U:U:U:U:U\n", path,
                 (long long)(t1 + 300));
        assert_true(write(fd, cmd, strlen(cmd)) == (ssize_t)strlen(cmd));
        r = read(fd, reply, sizeof reply - 1);
        assert_true(r > 0);
        reply[r] = '\0';
        assert_true(strncmp(reply, "0 ", 2) == 0);
        close(fd);
    }
    /* Not in the file yet (no flush): the direct reader sees t1 as last. */
    {
        time_t last = 0;
        rrd_clear_error();
        last = rrd_last_r(path);
        assert_int_equal(last, t1);
    }
    v.used = 333;
    assert_int_equal(rrd_store_update(st, "subnet", "subnet-0aa", t1 + 300, &v), 0);
    v.used = 444;
    assert_int_equal(rrd_store_update(st, "subnet", "subnet-0aa", t1 + 600, &v), 0);
    assert_int_equal(rrd_store_flush(st), 0);
    rrd_store_get_stats(st, &stats);
    assert_int_equal(stats.skipped, 1);
    assert_int_equal(stats.written, 2);

    /* The file holds the other writer's t1+300 and our t1+600, without asking the daemon. */
    assert_int_equal(
        rrd_store_fetch(reader, "subnet", "subnet-0aa", "AVERAGE", t1, t1 + 600, 300, &s), 0);
    bool seen300 = false, seen600 = false;
    for (size_t i = 0; i < s.rows; i++) {
        time_t t = rrd_series_time(&s, i);
        if (t == t1 + 300) {
            assert_true(same(s.values[RRD_DS_USED][i], 222));
            seen300 = true;
        }
        if (t == t1 + 600) {
            assert_true(same(s.values[RRD_DS_USED][i], 444));
            seen600 = true;
        }
    }
    assert_true(seen300 && seen600);
    rrd_series_free(&s);
    rrd_store_free(reader);
    rrd_store_free(st);
    daemon_stop();
}

/* rrdcached down: a clear error at open, an error at flush with samples kept, and the
 * samples land once the daemon is back. */
static void test_rrdcached_down(void **state)
{
    char addr[320], dir[300], err[512];
    rrd_store_t *st;
    struct rrd_store_stats stats;
    struct rrd_sample v = fine_sample(T_END);
    time_t last;
    int rc;

    snprintf(addr, sizeof addr, "unix:%s", sock_path);
    snprintf(dir, sizeof dir, "%s/rrd-down", tmpdir);
    err[0] = '\0';
    st = rrd_store_new(dir, 300, addr, err, sizeof err);
    assert_null(st);
    if (strstr(err, "rrdcached") == NULL || strstr(err, sock_path) == NULL ||
        strstr(err, "refused") == NULL)
        fail_msg("unclear error: %s", err);
    st = rrd_store_new(dir, 300, "127.0.0.1:1", err, sizeof err);
    assert_null(st);
    assert_non_null(strstr(err, "Connection refused"));

    daemon_start();
    st = rrd_store_new(dir, 300, addr, err, sizeof err);
    assert_non_null(st);
    assert_int_equal(rrd_store_update(st, "scope", "ipam-scope-0abc", T_END, &v), 0);
    assert_int_equal(rrd_store_update(st, "scope", "ipam-scope-0abc", T_END + 300, &v), 0);
    daemon_stop();

    rc = rrd_store_flush(st);
    if (rc != -ECONNREFUSED && rc != -ECONNRESET && rc != -EPIPE)
        fail_msg("flush with rrdcached down: %d (%s)", rc, rrd_store_error(st));
    assert_non_null(strstr(rrd_store_error(st), "rrdcached"));
    rrd_store_get_stats(st, &stats);
    assert_int_equal(stats.written, 0);
    /* A second try while still down reconnects and is refused. */
    assert_int_equal(rrd_store_flush(st), -ECONNREFUSED);

    daemon_start();
    assert_int_equal(rrd_store_flush(st), 0);
    rrd_store_get_stats(st, &stats);
    assert_int_equal(stats.written, 2);
    rrd_store_free(st);
    daemon_stop();

    st = rrd_store_new(dir, 300, NULL, err, sizeof err);
    assert_int_equal(rrd_store_last(st, "scope", "ipam-scope-0abc", &last), 0);
    assert_int_equal(last, T_END + 300);
    rrd_store_free(st);
}

/* Through rrdcached over TCP: files created, written and read on the daemon's side under
 * its base directory, the local directory untouched; history read back through the daemon
 * equals what was written (hourly MAX consolidated from the fine rows FETCH returns); a
 * fresh store finds the files through the daemon and replays nothing; listing; a daemon
 * without -R is named in the error and the samples wait. */
static void test_rrdcached_tcp(void **state)
{
    char addr[64], base[300], unused[300], err[512], path[512];
    rrd_store_t *st, *remote, *local;
    struct rrd_store_stats stats;
    struct rrd_series s;
    char **ids;
    size_t n, nids;
    time_t last;

    snprintf(base, sizeof base, "%s/tcp-base", tmpdir);
    snprintf(unused, sizeof unused, "%s/tcp-unused", tmpdir);
    daemon_start_tcp(base, true, addr, sizeof addr);
    st = store_with_two_histories(unused, addr, &n, &stats);
    assert_int_equal(stats.failures, 0);
    assert_int_equal(access(unused, F_OK), -1);
    assert_int_equal(rrd_store_path(st, "pool", "ipam-pool-0123456789abcdef0", path, sizeof path),
                     0);
    assert_string_equal(path, "pool/ipam-pool-0123456789abcdef0.rrd");
    rrd_store_free(st);

    /* The files on the daemon's side, read directly and through the daemon. */
    local = rrd_store_new(base, 300, NULL, err, sizeof err);
    assert_non_null(local);
    check_history(local, "pool", "ipam-pool-0123456789abcdef0");
    check_history(local, "vpc", "vpc-0fedcba9876543210");
    rrd_store_free(local);
    remote = rrd_store_new(NULL, 300, addr, err, sizeof err);
    if (remote == NULL)
        fail_msg("rrd_store_new without a directory: %s", err);
    check_history(remote, "pool", "ipam-pool-0123456789abcdef0");
    check_history(remote, "vpc", "vpc-0fedcba9876543210");
    assert_int_equal(rrd_store_last(remote, "vpc", "vpc-0fedcba9876543210", &last), 0);
    assert_int_equal(last, T_END);
    assert_int_equal(rrd_store_last(remote, "vpc", "vpc-0404", &last), -ENOENT);
    assert_int_equal(
        rrd_store_fetch(remote, "vpc", "vpc-0404", "AVERAGE", T_END - DAY, T_END, 0, &s), -ENOENT);
    assert_non_null(strstr(rrd_store_error(remote), "vpc/vpc-0404.rrd"));

    /* A fresh store (another analyzer) finds the files through the daemon: all replays. */
    replay_pool_history(remote, n);
    rrd_store_free(remote);

    assert_int_equal(rrd_store_list(NULL, addr, "pool", &ids, &nids, err, sizeof err), 0);
    assert_int_equal(nids, 1);
    assert_string_equal(ids[0], "ipam-pool-0123456789abcdef0");
    rrd_store_list_free(ids, nids);
    assert_int_equal(rrd_store_list(NULL, addr, "subnet", &ids, &nids, err, sizeof err), 0);
    assert_int_equal(nids, 0);
    rrd_store_list_free(ids, nids);
    assert_int_equal(rrd_store_list(base, NULL, "vpc", &ids, &nids, err, sizeof err), 0);
    assert_int_equal(nids, 1);
    assert_string_equal(ids[0], "vpc-0fedcba9876543210");
    rrd_store_list_free(ids, nids);
    assert_int_equal(rrd_store_list(unused, NULL, "vpc", &ids, &nids, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, unused));

    /* Without -R the daemon cannot make scope/: the error says so, the samples wait. */
    snprintf(base, sizeof base, "%s/tcp-base-flat", tmpdir);
    daemon_start_tcp(base, false, addr, sizeof addr);
    st = rrd_store_new(NULL, 300, addr, err, sizeof err);
    assert_non_null(st);
    struct rrd_sample v = fine_sample(T_END);
    assert_int_equal(rrd_store_update(st, "scope", "ipam-scope-0abc", T_END, &v), 0);
    assert_true(rrd_store_flush(st) < 0);
    if (strstr(rrd_store_error(st), "-R") == NULL || strstr(rrd_store_error(st), addr) == NULL)
        fail_msg("unclear error: %s", rrd_store_error(st));
    rrd_store_get_stats(st, &stats);
    assert_int_equal(stats.written, 0);
    snprintf(path, sizeof path, "%s/scope", base);
    assert_int_equal(mkdir(path, 0700), 0);
    assert_int_equal(rrd_store_flush(st), 0);
    rrd_store_get_stats(st, &stats);
    assert_int_equal(stats.written, 1);
    assert_int_equal(stats.created, 1);
    rrd_store_free(st);
    daemon_stop();
}

static void test_bad_keys(void **state)
{
    static const struct {
        const char *kind, *id;
        int valid;
    } cases[] = {
        {"pool", "ipam-pool-0abc123", 1},
        {"scope", "ipam-scope-0abc", 1},
        {"vpc", "vpc-0123abcd", 1},
        {"subnet", "subnet-0123abcd", 1},
        {"pool", "../etc", 0},
        {"pool", "a/b", 0},
        {"pool", "/abs", 0},
        {"pool", "..", 0},
        {"pool", "x..y", 0},
        {"pool", ".hidden", 0},
        {"pool", "", 0},
        {"pool", NULL, 0},
        {"pool", "vpc 1", 0},
        {"pool", "id:colon", 0},
        {"router", "rtb-0abc", 0},
        {"", "vpc-1", 0},
        {NULL, "vpc-1", 0},
        {"pool",
         "p123456789012345678901234567890123456789012345678901234567890123456789012345678901234"
         "5678901234567890123456789012345678901234567890",
         0},
    };
    char dir[300], err[512], path[512];
    rrd_store_t *st;
    struct rrd_sample v = rrd_sample_unknown();
    struct rrd_store_stats stats;

    snprintf(dir, sizeof dir, "%s/rrd-keys", tmpdir);
    st = rrd_store_new(dir, 300, NULL, err, sizeof err);
    assert_non_null(st);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = rrd_store_update(st, cases[i].kind, cases[i].id, T_END, &v);
        if (rrd_store_valid_key(cases[i].kind, cases[i].id) != cases[i].valid)
            fail_msg("case %zu: validity %d", i, !cases[i].valid);
        if (rc != (cases[i].valid ? 0 : -EINVAL))
            fail_msg("case %zu (%s/%s): update %d", i, cases[i].kind ? cases[i].kind : "NULL",
                     cases[i].id ? cases[i].id : "NULL", rc);
    }
    assert_int_equal(rrd_store_flush(st), 0);
    rrd_store_get_stats(st, &stats);
    assert_int_equal(stats.created, 4);
    /* Nothing escaped the directory. */
    snprintf(path, sizeof path, "%s/etc.rrd", tmpdir);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(
        rrd_store_fetch(st, "pool", "../etc", "AVERAGE", 1, 2, 0, &(struct rrd_series){0}),
        -EINVAL);
    assert_int_equal(rrd_store_fetch(st, "vpc", "vpc-0123abcd", "MIN", T_END - 600, T_END, 0,
                                     &(struct rrd_series){0}),
                     -EINVAL);
    assert_int_equal(rrd_store_fetch(st, "vpc", "vpc-never", "AVERAGE", T_END - 600, T_END, 0,
                                     &(struct rrd_series){0}),
                     -ENOENT);
    time_t last;
    assert_int_equal(rrd_store_last(st, "vpc", "vpc-never", &last), -ENOENT);
    rrd_store_free(st);
}

static void test_bad_dir_and_step(void **state)
{
    char file[300], dir[400], err[512];
    FILE *f;
    rrd_store_t *st;

    /* A directory below a regular file cannot be created, not even by root. */
    snprintf(file, sizeof file, "%s/plainfile", tmpdir);
    f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(dir, sizeof dir, "%s/rrd", file);
    err[0] = '\0';
    st = rrd_store_new(dir, 300, NULL, err, sizeof err);
    assert_null(st);
    if (strstr(err, dir) == NULL || strstr(err, "Not a directory") == NULL)
        fail_msg("unclear error: %s", err);

    /* A read-only directory (meaningful when not root). */
    if (geteuid() != 0) {
        snprintf(dir, sizeof dir, "%s/readonly", tmpdir);
        mkdir(dir, 0555);
        st = rrd_store_new(dir, 300, NULL, err, sizeof err);
        assert_null(st);
        assert_non_null(strstr(err, "Permission denied"));
    } else {
        printf("# running as root: read-only directory case covered by the file case\n");
    }

    snprintf(dir, sizeof dir, "%s/rrd-step", tmpdir);
    assert_null(rrd_store_new(dir, 7, NULL, err, sizeof err));
    assert_non_null(strstr(err, "step"));
    assert_null(rrd_store_new(dir, 0, NULL, err, sizeof err));
    assert_null(rrd_store_new(dir, 300, "nonsense[", err, sizeof err));
}

/* Randomized: out-of-order and repeated samples are skipped, never errors; the file ends
 * with the newest sample. */
static void test_random_order(void **state)
{
    unsigned seed = testing_seed();
    char dir[300], err[512];
    rrd_store_t *st;
    struct rrd_store_stats stats;
    time_t newest = 0, last;
    size_t accepted = 0, skipped = 0;

    srand(seed);
    snprintf(dir, sizeof dir, "%s/rrd-random", tmpdir);
    st = rrd_store_new(dir, 60, NULL, err, sizeof err);
    assert_non_null(st);
    for (int i = 0; i < 2000; i++) {
        time_t t = T_END + (time_t)(rand() % 5000) * 60;
        struct rrd_sample v = fine_sample(T_FINE0 + 300);
        v.used = rand() % 1000;
        assert_int_equal(rrd_store_update(st, "vpc", "vpc-rand", t, &v), 0);
        if (t > newest) {
            newest = t;
            accepted++;
        } else {
            skipped++;
        }
        if (rand() % 100 == 0)
            assert_int_equal(rrd_store_flush(st), 0);
    }
    assert_int_equal(rrd_store_flush(st), 0);
    rrd_store_get_stats(st, &stats);
    assert_int_equal(stats.written, accepted);
    assert_int_equal(stats.skipped, skipped);
    rrd_store_free(st);
    st = rrd_store_new(dir, 60, NULL, err, sizeof err);
    assert_int_equal(rrd_store_last(st, "vpc", "vpc-rand", &last), 0);
    assert_int_equal(last, newest);
    rrd_store_free(st);
}

/* A file that cannot be created or looked up when its first sample is queued (the files are
 * made on the store's writer thread): the next flush fails naming the object, the sample
 * stays queued, and a flush after the cause is gone writes it. Both a missing kind
 * directory (rrd_create fails) and a regular file in its place (the lookup fails). */
static void test_create_failure(void **state)
{
    char dir[300], err[512], sub[400];
    rrd_store_t *st, *reader;
    struct rrd_store_stats stats;
    struct rrd_sample v = fine_sample(T_END);
    time_t last;
    FILE *f;

    snprintf(dir, sizeof dir, "%s/rrd-createfail", tmpdir);
    st = rrd_store_new(dir, 300, NULL, err, sizeof err);
    assert_non_null(st);

    /* The kind directory is gone: rrd_create fails. */
    snprintf(sub, sizeof sub, "%s/subnet", dir);
    assert_int_equal(rmdir(sub), 0);
    v.used = 123;
    assert_int_equal(rrd_store_update(st, "subnet", "subnet-0gone", T_END, &v), 0);
    assert_int_equal(rrd_store_update(st, "vpc", "vpc-0fine", T_END, &v), 0);
    assert_true(rrd_store_flush(st) < 0);
    if (strstr(rrd_store_error(st), "subnet/subnet-0gone.rrd") == NULL)
        fail_msg("flush error does not name the file: %s", rrd_store_error(st));
    assert_true(rrd_store_flush(st) < 0); /* still failing, still queued */
    rrd_store_get_stats(st, &stats);
    assert_true(stats.failures >= 2);
    assert_int_equal(stats.flushes, 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(rrd_store_flush(st), 0);
    rrd_store_get_stats(st, &stats);
    assert_int_equal(stats.written, 2);
    assert_int_equal(stats.created, 2);
    assert_int_equal(stats.flushes, 1);

    /* A regular file where the kind directory belongs: the lookup fails. */
    snprintf(sub, sizeof sub, "%s/pool", dir);
    assert_int_equal(rmdir(sub), 0);
    f = fopen(sub, "w");
    assert_non_null(f);
    fclose(f);
    v.used = 456;
    assert_int_equal(rrd_store_update(st, "pool", "ipam-pool-0blocked", T_END, &v), 0);
    assert_int_equal(rrd_store_update(st, "vpc", "vpc-0fine", T_END + 300, &v), 0);
    assert_int_equal(rrd_store_flush(st), -ENOTDIR);
    if (strstr(rrd_store_error(st), "pool/ipam-pool-0blocked.rrd") == NULL)
        fail_msg("flush error does not name the file: %s", rrd_store_error(st));
    assert_int_equal(unlink(sub), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(rrd_store_flush(st), 0);
    rrd_store_get_stats(st, &stats);
    assert_int_equal(stats.written, 4);
    assert_int_equal(stats.created, 3);
    assert_int_equal(stats.skipped, 0);
    rrd_store_free(st);

    /* Every sample is in its file. */
    reader = rrd_store_open_reader(dir, 300, NULL, err, sizeof err);
    assert_non_null(reader);
    assert_int_equal(rrd_store_last(reader, "subnet", "subnet-0gone", &last), 0);
    assert_int_equal(last, T_END);
    assert_int_equal(rrd_store_last(reader, "pool", "ipam-pool-0blocked", &last), 0);
    assert_int_equal(last, T_END);
    assert_int_equal(rrd_store_last(reader, "vpc", "vpc-0fine", &last), 0);
    assert_int_equal(last, T_END + 300);
    rrd_store_free(reader);
}

/* Value of `ds` in the row of `t` of kind/id read through `st` (NAN when unknown). */
static double value_at(rrd_store_t *st, const char *kind, const char *id, time_t t, enum rrd_ds ds)
{
    struct rrd_series s;
    double v = NAN;
    int rc = rrd_store_fetch(st, kind, id, "AVERAGE", t - 600, t, 300, &s);
    if (rc != 0)
        fail_msg("fetch %s/%s: %d (%s)", kind, id, rc, rrd_store_error(st));
    for (size_t i = 0; i < s.rows; i++)
        if (rrd_series_time(&s, i) == t)
            v = s.values[ds][i];
    rrd_series_free(&s);
    return v;
}

/* Reads in the writing store right after an update, without a flush: the object's file
 * exists and its newest time includes the queued sample, while the values are those the
 * last flush wrote (rrd_store_fetch() sees what rrd_store_flush() wrote). rrd_store_free()
 * writes what is still queued. */
static void test_read_after_update(void **state)
{
    char dir[300], err[512], id[32];
    rrd_store_t *st;
    struct rrd_sample v = fine_sample(T_END);
    time_t last;

    snprintf(dir, sizeof dir, "%s/rrd-readback", tmpdir);
    st = rrd_store_new(dir, 300, NULL, err, sizeof err);
    assert_non_null(st);
    for (int step = 0; step < 2; step++) {
        time_t t = T_END + step * 300;
        for (int i = 0; i < 200; i++) {
            snprintf(id, sizeof id, "vpc-%04d", i);
            v.used = 1000 * (step + 1) + i;
            assert_int_equal(rrd_store_update(st, "vpc", id, t, &v), 0);
            if (i % 50 == 49) {
                assert_int_equal(rrd_store_last(st, "vpc", id, &last), 0);
                assert_int_equal(last, t);
                assert_true(isnan(value_at(st, "vpc", id, t, RRD_DS_USED)));
            }
        }
        assert_int_equal(rrd_store_flush(st), 0);
    }
    /* The first sample of a file only starts it; the second one's row is known. */
    assert_true(same(value_at(st, "vpc", "vpc-0199", T_END + 300, RRD_DS_USED), 2199));

    /* Queued, not flushed, then the store is freed: the samples are written. */
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof id, "vpc-%04d", i);
        v.used = 3000 + i;
        assert_int_equal(rrd_store_update(st, "vpc", id, T_END + 600, &v), 0);
    }
    assert_int_equal(rrd_store_update(st, "subnet", "subnet-0late", T_END + 600, &v), 0);
    rrd_store_free(st);
    st = rrd_store_open_reader(dir, 300, NULL, err, sizeof err);
    assert_non_null(st);
    assert_int_equal(rrd_store_last(st, "vpc", "vpc-0123", &last), 0);
    assert_int_equal(last, T_END + 600);
    assert_true(same(value_at(st, "vpc", "vpc-0123", T_END + 600, RRD_DS_USED), 3123));
    assert_int_equal(rrd_store_last(st, "subnet", "subnet-0late", &last), 0);
    assert_int_equal(last, T_END + 600);
    rrd_store_free(st);
}

/* A backfill without flushes of its own: once 65,536 samples are queued they are written
 * while the updates go on; the final flush writes the rest. */
static void test_backfill_bound(void **state)
{
    char dir[300], err[512];
    rrd_store_t *st;
    struct rrd_store_stats stats;
    const int n = 40000;
    const time_t t0 = T_END - (time_t)n * 60;
    time_t last;

    snprintf(dir, sizeof dir, "%s/rrd-bound", tmpdir);
    st = rrd_store_new(dir, 60, NULL, err, sizeof err);
    assert_non_null(st);
    for (int i = 1; i <= n; i++) {
        struct rrd_sample v = fine_sample(T_FINE0 + 300);
        v.used = i % 1000;
        assert_int_equal(rrd_store_update(st, "vpc", "vpc-0bound-a", t0 + (time_t)i * 60, &v), 0);
        assert_int_equal(rrd_store_update(st, "vpc", "vpc-0bound-b", t0 + (time_t)i * 60, &v), 0);
    }
    /* A read waits for the writer: at least the first 65,536 samples (and those handed over
     * before it started on them) are in the files by now. */
    assert_int_equal(rrd_store_last(st, "vpc", "vpc-0bound-b", &last), 0);
    assert_int_equal(last, T_END);
    rrd_store_get_stats(st, &stats);
    assert_int_equal(stats.queued, 2 * (uint64_t)n);
    assert_true(stats.written >= 65536);
    assert_int_equal(stats.flushes, 0);
    assert_int_equal(rrd_store_flush(st), 0);
    rrd_store_get_stats(st, &stats);
    assert_int_equal(stats.written, 2 * (uint64_t)n);
    assert_int_equal(stats.created, 2);
    assert_int_equal(stats.skipped, 0);
    rrd_store_free(st);
    st = rrd_store_open_reader(dir, 60, NULL, err, sizeof err);
    assert_non_null(st);
    assert_int_equal(rrd_store_last(st, "vpc", "vpc-0bound-a", &last), 0);
    assert_int_equal(last, T_END);
    rrd_store_free(st);
}

static volatile sig_atomic_t silent_stop;

static void on_alarm(int sig)
{
    (void)sig;
    silent_stop = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An rrdcached that stops answering (SIGSTOP: the kernel still accepts connections and takes
 * the commands, no reply ever comes). rrd_store_free() gives up RRD_STORE_STOP_TIMEOUT_MS
 * after it was called, not after the 120 s socket timeout of each command, and logs every
 * file whose samples it did not write, with their times and why; a flush bounded by
 * rrd_store_stop_within() fails with -ETIMEDOUT at that bound, and the free after it does not
 * wait again. */
static void test_rrdcached_silent(void **state)
{
    char addr[64], base[300], err[512];
    struct rrd_sample v = fine_sample(T_END);
    struct testing_capture cap;

    snprintf(base, sizeof base, "%s/silent-base", tmpdir);
    daemon_start_tcp(base, true, addr, sizeof addr);
    rrd_store_t *st = rrd_store_new(NULL, 300, addr, err, sizeof err);
    if (st == NULL)
        fail_msg("rrd_store_new: %s", err);
    assert_int_equal(rrd_store_update(st, "pool", "ipam-pool-0silent", T_END, &v), 0);
    assert_int_equal(rrd_store_flush(st), 0); /* created and written while it answers */
    kill(daemon_pid, SIGSTOP);
    assert_int_equal(rrd_store_update(st, "pool", "ipam-pool-0silent", T_END + 300, &v), 0);
    assert_int_equal(rrd_store_update(st, "pool", "ipam-pool-0silent", T_END + 600, &v), 0);
    assert_int_equal(rrd_store_update(st, "vpc", "vpc-0silent", T_END + 300, &v), 0); /* new */
    testing_capture_begin(&cap);
    int64_t t0 = now_ms();
    rrd_store_free(st);
    int64_t took = now_ms() - t0;
    char *log = testing_capture_end(&cap);
    printf("# rrd_store_free gave up after %lld ms\n", (long long)took);
    assert_true(took >= RRD_STORE_STOP_TIMEOUT_MS - 100);
    assert_true(took < RRD_STORE_STOP_TIMEOUT_MS + 3000);
    if (!strstr(log, "not written: 2 samples of pool/ipam-pool-0silent.rrd (1700006700 to "
                     "1700007000)") ||
        !strstr(log, "not written: 1 samples of vpc/vpc-0silent.rrd (1700006700 to 1700006700)") ||
        !strstr(log, "stopping with 3 samples of 2 files not written") ||
        !strstr(log, "no answer before the stop deadline") || !strstr(log, "replays"))
        fail_msg("unclear log:\n%s", log);
    free(log);

    /* Bounded by the caller, a flush ends at the bound. */
    kill(daemon_pid, SIGCONT);
    st = rrd_store_new(NULL, 300, addr, err, sizeof err);
    if (st == NULL)
        fail_msg("rrd_store_new: %s", err);
    kill(daemon_pid, SIGSTOP);
    assert_int_equal(rrd_store_update(st, "pool", "ipam-pool-0silent", T_END + 900, &v), 0);
    rrd_store_stop_within(st, 1000);
    rrd_store_stop_within(st, 60000); /* cannot extend the bound */
    t0 = now_ms();
    assert_int_equal(rrd_store_flush(st), -ETIMEDOUT);
    took = now_ms() - t0;
    printf("# the bounded flush gave up after %lld ms\n", (long long)took);
    assert_true(took >= 900 && took < 3000);
    assert_non_null(strstr(rrd_store_error(st), "no answer before the stop deadline"));
    testing_capture_begin(&cap);
    t0 = now_ms();
    rrd_store_free(st);
    took = now_ms() - t0;
    log = testing_capture_end(&cap);
    assert_true(took < 1000);
    assert_non_null(strstr(log, "not written: 1 samples of pool/ipam-pool-0silent.rrd"));
    free(log);

    /* A stop signalled while a flush waits ends the flush 500 ms (the bound given) later. */
    kill(daemon_pid, SIGCONT);
    st = rrd_store_new(NULL, 300, addr, err, sizeof err);
    if (st == NULL)
        fail_msg("rrd_store_new: %s", err);
    rrd_store_stop_when(st, &silent_stop, 500);
    kill(daemon_pid, SIGSTOP);
    assert_int_equal(rrd_store_update(st, "pool", "ipam-pool-0silent", T_END + 1200, &v), 0);
    struct sigaction sa = {.sa_handler = on_alarm};
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {.it_value = {0, 300 * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
    t0 = now_ms();
    assert_int_equal(rrd_store_flush(st), -ETIMEDOUT);
    took = now_ms() - t0;
    printf("# the flush stopped by a signal at 300 ms gave up after %lld ms\n", (long long)took);
    assert_true(silent_stop);
    assert_true(took >= 750 && took < 3000);
    testing_capture_begin(&cap);
    rrd_store_free(st);
    free(testing_capture_end(&cap));
    daemon_stop();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_keys),
        cmocka_unit_test(test_bad_dir_and_step),
        cmocka_unit_test(test_random_order),
        cmocka_unit_test(test_backfill_direct),
        cmocka_unit_test(test_create_failure),
        cmocka_unit_test(test_read_after_update),
        cmocka_unit_test(test_backfill_bound),
        cmocka_unit_test_teardown(test_backfill_rrdcached, stop_daemon),
        cmocka_unit_test_teardown(test_rrdcached_flush_and_newer, stop_daemon),
        cmocka_unit_test_teardown(test_rrdcached_down, stop_daemon),
        cmocka_unit_test_teardown(test_rrdcached_tcp, stop_daemon),
        cmocka_unit_test_teardown(test_rrdcached_silent, stop_daemon),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, setup, teardown);
}
