/* Unit tests for log: levels, one line per message, rate-limited repeated failures. */
#include "testing.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* Runs `fn` with stderr redirected to a temporary file and returns what it wrote
 * (static buffer). */
static const char *capture(void (*fn)(void))
{
    static char buf[16384];
    struct testing_capture cap;
    testing_capture_begin(&cap);
    fn();
    char *text = testing_capture_end(&cap);
    snprintf(buf, sizeof buf, "%s", text);
    free(text);
    return buf;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void emit_levels(void)
{
    log_init("test", LOG_LEVEL_WARN, true, false);
    log_msg(LOG_LEVEL_ERR, "mod", "an error %d", 1);
    LOG_WARN("a warning");
    LOG_INFO("an info line that must not appear");
    LOG_DEBUG("a debug line that must not appear");
}

static void test_levels(void **state)
{
    const char *out = capture(emit_levels);
    assert_non_null(strstr(out, " error mod: an error 1\n"));
    assert_non_null(strstr(out, " warn ipamwatch: a warning\n"));
    assert_null(strstr(out, "must not appear"));
    assert_int_equal(count_lines(out), 2);
}

static void emit_newlines(void)
{
    log_init("test", LOG_LEVEL_INFO, true, false);
    LOG_INFO("first\nforged 2026-01-01T00:00:00Z error x: injected\rline");
}

static void test_one_line_per_message(void **state)
{
    const char *out = capture(emit_newlines);
    assert_int_equal(count_lines(out), 1);
    assert_non_null(strstr(out, "first forged"));
}

static void emit_complaints(void)
{
    log_init("test", LOG_LEVEL_INFO, true, false);
    log_complain_t c = LOG_COMPLAIN_INIT;
    for (int i = 0; i < 1000; i++)
        log_complain(&c, LOG_LEVEL_ERR, "kafka", "broker down: %s", "connection refused");
    log_relief(&c, "kafka", "broker back");
    log_relief(&c, "kafka", "broker back again must not be logged");
    for (int i = 0; i < 3; i++)
        log_complain(&c, LOG_LEVEL_ERR, "kafka", "broker down again");
}

static void test_complain_rate_limited(void **state)
{
    const char *out = capture(emit_complaints);
    /* 1000 identical failures within the interval: one line; the recovery once; a new failure
     * after recovery is logged again at once. */
    assert_int_equal(count_lines(out), 3);
    assert_non_null(strstr(out, "broker down: connection refused"));
    assert_non_null(strstr(out, "info kafka: broker back\n"));
    assert_null(strstr(out, "again must not"));
    assert_non_null(strstr(out, "broker down again"));
}

static void test_complain_reports_suppressed_count(void **state)
{
    log_complain_t c = LOG_COMPLAIN_INIT;
    c.failing = true;
    c.interval_ms = 10000;
    c.last_ms = log_now_ms() - 20000; /* interval elapsed */
    c.suppressed = 41;
    struct testing_capture cap;
    testing_capture_begin(&cap);
    log_init("test", LOG_LEVEL_INFO, true, false);
    log_complain(&c, LOG_LEVEL_ERR, "aws", "throttled");
    char *buf = testing_capture_end(&cap);
    assert_non_null(strstr(buf, "throttled (repeated 41 times since last report)"));
    assert_int_equal(c.interval_ms, 20000); /* backs off */
    free(buf);
}

static void test_level_parse(void **state)
{
    enum log_level l;
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("WARN", &l), 0);
    assert_int_equal(l, LOG_LEVEL_WARN);
    assert_int_not_equal(log_level_parse("verbose", &l), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels),
        cmocka_unit_test(test_one_line_per_message),
        cmocka_unit_test(test_complain_rate_limited),
        cmocka_unit_test(test_complain_reports_suppressed_count),
        cmocka_unit_test(test_level_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
