/* Unit tests: hostile bytes in the configuration file.
 *
 * NUL bytes, invalid UTF-8 (in a value, a comment, a section name), a 1 MB line and a file
 * over the size limit must each be refused with FILE:LINE and what was wrong, never loaded
 * as a shorter value; each case runs in a child process with a peak RSS bound of
 * HOSTILE_BOUND_KB (64 MiB). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "hostile.h"
#include "testing.h"

static char g_path[64];

struct text {
    const char *p;
    size_t n;
};

static int load_case(void *arg, char *err, size_t errlen)
{
    const struct text *t = arg;
    FILE *f = fopen(g_path, "wb");
    if (!f || fwrite(t->p, 1, t->n, f) != t->n || fclose(f) != 0)
        return -EIO;
    struct config *cfg = config_load(g_path, NULL, 0, err, errlen);
    if (cfg) {
        config_free(cfg);
        return 0;
    }
    return -EINVAL;
}

static void expect_refused(const char *name, const char *text, size_t n, unsigned line,
                           const char *says)
{
    struct text t = {text, n};
    struct hostile_result res;
    hostile_run(name, load_case, &t, &res);
    if (res.rc != -EINVAL)
        fail_msg("%s: loaded (rc %d)", name, res.rc);
    char where[128];
    snprintf(where, sizeof where, "%s:%u: ", g_path, line);
    hostile_assert_err(name, &res, where);
    hostile_assert_err(name, &res, says);
    hostile_assert_bounded(name, &res, HOSTILE_BOUND_KB);
}

#define KAFKA "[kafka]\nbootstrap.servers = 127.0.0.1:9092\n"

static void test_bytes(void **state)
{
    (void)state;
    static const char ok[] = "[aws]\nregion = eu-central-1\n" KAFKA;
    struct text t = {ok, sizeof ok - 1};
    struct hostile_result res;
    hostile_run("plain file", load_case, &t, &res);
    assert_int_equal(res.rc, 0);

    static const char nul[] = "[aws]\nregion = eu-central-1\0garbage\n" KAFKA;
    expect_refused("NUL in a value", nul, sizeof nul - 1, 2, "a NUL byte at column 22");
    static const char nul_comment[] = KAFKA "# note\0\n[aws]\nregion = eu-central-1\n";
    expect_refused("NUL in a comment", nul_comment, sizeof nul_comment - 1, 3,
                   "a NUL byte at column 7");
    static const char utf[] = "[aws]\nregion = eu-\xFF\xFE"
                              "central-1\n" KAFKA;
    expect_refused("invalid UTF-8 in a value", utf, sizeof utf - 1, 2,
                   "not valid UTF-8 at column 13");
    static const char overlong[] = KAFKA "[rule \"\xC0\xAF\"]\ntype = stale\n";
    expect_refused("overlong UTF-8 in a section name", overlong, sizeof overlong - 1, 3,
                   "not valid UTF-8 at column 8");
    static const char cut[] = KAFKA "# caf\xC3";
    expect_refused("UTF-8 cut at the end", cut, sizeof cut - 1, 3, "not valid UTF-8 at column 6");
}

static void test_long_lines(void **state)
{
    (void)state;
    size_t n = 1024 * 1024;
    char *text = malloc(n + 256);
    assert_non_null(text);
    size_t off = (size_t)snprintf(text, 256, KAFKA "[aws]\nregion = ");
    memset(text + off, 'a', n);
    off += n;
    text[off++] = '\n';
    expect_refused("1 MB line", text, off, 4, "line longer than");
    /* The same megabyte as a comment is no better. */
    off = (size_t)snprintf(text, 256, "# ");
    memset(text + off, '#', n);
    off += n;
    off += (size_t)snprintf(text + off, 256, "\n" KAFKA);
    expect_refused("1 MB comment", text, off, 1, "line longer than");
    free(text);
    /* A file over the size limit is refused before it is parsed. */
    size_t big = 20u * 1024 * 1024;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, '\n', big);
    struct text t = {huge, big};
    struct hostile_result res;
    hostile_run("20 MB file", load_case, &t, &res);
    free(huge);
    assert_int_equal(res.rc, -EINVAL);
    hostile_assert_err("20 MB file", &res, "larger than");
    hostile_assert_bounded("20 MB file", &res, HOSTILE_BOUND_KB);
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_path, sizeof g_path, "/tmp/ipamwatch-hostile-conf.XXXXXX");
    int fd = mkstemp(g_path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return unlink(g_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_long_lines),
    };
    return cmocka_run_group_tests_name("hostile_config", tests, setup, teardown);
}
