/* Unit tests for units: duration and size parsing. */
#include "testing.h"

#include <errno.h>
#include <string.h>

#include "units.h"

static void test_durations(void **state)
{
    static const struct {
        const char *text;
        int rc;
        int64_t ms;
    } cases[] = {
        {"30s", 0, 30000},       {"5m", 0, 300000},      {"2h", 0, 7200000},
        {"90d", 0, 7776000000LL}, {"1w", 0, 604800000},  {"250ms", 0, 250},
        {"45", 0, 45000},        {"1h30m", 0, 5400000},  {"0s", 0, 0},
        {"", -EINVAL, 0},        {"s", -EINVAL, 0},      {"5x", -EINVAL, 0},
        {"-5s", -EINVAL, 0},     {"5 s", -EINVAL, 0},    {"5sec", -EINVAL, 0},
        {"1.5h", -EINVAL, 0},    {"99999999999999999999s", -ERANGE, 0},
        {"9999999999999999d", -ERANGE, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t ms = -1;
        int rc = units_parse_duration_ms(cases[i].text, &ms);
        if (rc != cases[i].rc)
            fail_msg("'%s': rc %d, want %d", cases[i].text, rc, cases[i].rc);
        if (rc == 0 && ms != cases[i].ms)
            fail_msg("'%s': %lld ms, want %lld", cases[i].text, (long long)ms,
                     (long long)cases[i].ms);
    }
}

static void test_sizes(void **state)
{
    static const struct {
        const char *text;
        int rc;
        uint64_t bytes;
    } cases[] = {
        {"0", 0, 0},           {"512", 0, 512},          {"512B", 0, 512},
        {"64K", 0, 65536},     {"64KiB", 0, 65536},      {"64KB", 0, 64000},
        {"5MiB", 0, 5242880},  {"5MB", 0, 5000000},      {"2G", 0, 2147483648ULL},
        {"1TiB", 0, 1099511627776ULL},                   {"", -EINVAL, 0},
        {"MB", -EINVAL, 0},    {"5 MB", -EINVAL, 0},     {"5QB", -EINVAL, 0},
        {"-1", -EINVAL, 0},    {"99999999999T", -ERANGE, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t b = 0;
        int rc = units_parse_size(cases[i].text, &b);
        if (rc != cases[i].rc)
            fail_msg("'%s': rc %d, want %d", cases[i].text, rc, cases[i].rc);
        if (rc == 0 && b != cases[i].bytes)
            fail_msg("'%s': %llu, want %llu", cases[i].text, (unsigned long long)b,
                     (unsigned long long)cases[i].bytes);
    }
}

static void test_format_roundtrip(void **state)
{
    const int64_t values[] = {1, 999, 1000, 60000, 90000, 3600000, 86400000, 7776000000LL};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char buf[32];
        int64_t back;
        units_format_duration(values[i], buf, sizeof buf);
        assert_int_equal(units_parse_duration_ms(buf, &back), 0);
        assert_int_equal(back, values[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_format_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
