/* Unit tests for partstate: record keys, the partition that owns a scope's state, and the
 * state record round-trip (with a model text and alerts) and its refusals. */
#include "testing.h"

#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "analyzer/partstate.h"

static void test_keys(void **state)
{
    (void)state;
    char buf[PARTSTATE_KEY_MAX];
    assert_int_equal(partstate_key(7, buf, sizeof buf), 0);
    assert_string_equal(buf, "inv-7");
    assert_int_equal(partstate_key(123, buf, 5), -ENOSPC);
    assert_int_equal(partstate_key_partition("inv-7", 5), 7);
    assert_int_equal(partstate_key_partition("inv-0", 5), 0);
    assert_int_equal(partstate_key_partition("inv-2147483647", 14), 2147483647);
    const char *bad[] = {"inv-", "inv-07", "inv-x", "inv-2147483648", "dlq-1", "inv--1", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(partstate_key_partition(bad[i], strlen(bad[i])), -EINVAL);
    assert_int_equal(partstate_key_partition(NULL, 0), -EINVAL);
}

static void test_scope_partition(void **state)
{
    (void)state;
    json_t *parts = json_pack("{s:i, s:i}", "ipam-scope-a", 3, "ipam-scope-b", 0);
    assert_int_equal(partstate_scope_partition(parts, "ipam-scope-a"), 3);
    assert_int_equal(partstate_scope_partition(parts, "ipam-scope-b"), 0);
    assert_int_equal(partstate_scope_partition(parts, "global"), 0); /* no scope: partition 0 */
    assert_int_equal(partstate_scope_partition(parts, "ipam-scope-c"), -1);
    assert_int_equal(partstate_scope_partition(parts, NULL), -1);
    json_decref(parts);
}

static void test_round_trip(void **state)
{
    (void)state;
    const char model[] =
        "{\"model\":2}\n{\"scope\":\"ipam-scope-a\",\"recent\":[]}\n{\"end\":true}\n";
    struct partstate ps = {.partition = 1, .next = 4242, .written_ms = 1700000000123LL};
    ps.owner = strdup("/var/lib/ipamwatch/analyzer");
    ps.model = strdup(model);
    ps.model_len = strlen(model);
    ps.scopes = json_pack("[s]", "ipam-scope-a");
    ps.alerts = json_pack("{s:i, s:[{s:s}], s:[]}", "version", 1, "alerts", "fingerprint",
                          "0123456789abcdef", "scopes");
    size_t len = 0;
    char *text = partstate_encode(&ps, &len);
    assert_int_equal(len, strlen(text));
    struct partstate got;
    char err[256];
    assert_int_equal(partstate_decode(text, len, &got, err, sizeof err), 0);
    assert_int_equal(got.partition, 1);
    assert_int_equal(got.next, 4242);
    assert_int_equal(got.written_ms, 1700000000123LL);
    assert_string_equal(got.owner, ps.owner);
    assert_int_equal(got.model_len, ps.model_len);
    assert_memory_equal(got.model, model, ps.model_len);
    assert_true(json_equal(got.scopes, ps.scopes));
    assert_true(json_equal(got.alerts, ps.alerts));
    partstate_clear(&got);
    assert_null(got.model);
    free(text);
    partstate_clear(&ps);
}

static void test_refusals(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "[]",
        "{\"partstate\":2,\"partition\":0,\"next\":0,\"written_ms\":0,\"owner\":\"x\","
        "\"scopes\":[],\"alerts\":{},\"model\":\"\"}",
        "{\"partstate\":1,\"partition\":-1,\"next\":0,\"written_ms\":0,\"owner\":\"x\","
        "\"scopes\":[],\"alerts\":{},\"model\":\"\"}",
        "{\"partstate\":1,\"partition\":0,\"next\":0,\"written_ms\":0,\"owner\":\"x\","
        "\"scopes\":[1],\"alerts\":{},\"model\":\"\"}",
        "{\"partstate\":1,\"partition\":0,\"next\":0,\"written_ms\":0,\"owner\":\"x\","
        "\"scopes\":[],\"alerts\":[],\"model\":\"\"}",
        "{\"partstate\":1,\"partition\":0,\"next\":0,\"written_ms\":0,\"owner\":\"x\","
        "\"scopes\":[],\"alerts\":{}}",
        "{\"partstate\":1,\"partition\":0,\"partition\":1,\"next\":0,\"written_ms\":0,"
        "\"owner\":\"x\",\"scopes\":[],\"alerts\":{},\"model\":\"\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct partstate got;
        char err[256] = "";
        assert_int_equal(partstate_decode(bad[i], strlen(bad[i]), &got, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, "partition state"));
        assert_null(got.model);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_scope_partition),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests_name("partstate", tests, NULL, NULL);
}
