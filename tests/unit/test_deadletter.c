/* Unit tests for deadletter: the envelope of an undecodable message round-trips through a
 * JSON parser with its source, reason and a bounded payload. */
#include "testing.h"

#include <errno.h>
#include <string.h>

#include <jansson.h>

#include "analyzer/deadletter.h"

static json_t *encode(const char *code, const char *reason, const struct deadletter_source *src)
{
    size_t len = 0;
    char *text = deadletter_encode(code, reason, src, &len);
    assert_non_null(text);
    assert_int_equal(len, strlen(text));
    json_error_t jerr;
    json_t *o = json_loads(text, 0, &jerr);
    if (!o)
        fail_msg("envelope is not JSON: %s: %.200s", jerr.text, text);
    free(text);
    return o;
}

static void test_text_payload(void **state)
{
    (void)state;
    const char *payload = "{\"v\":1,\"type\":\"pool\",\"pool_id\":";
    struct deadletter_source src = {"ipamwatch.inventory", 3, 1234, "scope-1", 7, payload,
                                    strlen(payload)};
    json_t *o = encode("invalid", "JSON syntax: end of file at line 1", &src);
    assert_int_equal(json_integer_value(json_object_get(o, "v")), DEADLETTER_VERSION);
    assert_string_equal(json_string_value(json_object_get(o, "code")), "invalid");
    assert_string_equal(json_string_value(json_object_get(o, "reason")),
                        "JSON syntax: end of file at line 1");
    assert_string_equal(json_string_value(json_object_get(o, "topic")), "ipamwatch.inventory");
    assert_int_equal(json_integer_value(json_object_get(o, "partition")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "offset")), 1234);
    assert_string_equal(json_string_value(json_object_get(o, "key")), "scope-1");
    assert_string_equal(json_string_value(json_object_get(o, "payload")), payload);
    assert_int_equal(json_integer_value(json_object_get(o, "payload_bytes")), strlen(payload));
    assert_true(json_is_false(json_object_get(o, "truncated")));
    json_decref(o);
}

static void test_binary_payload_and_key(void **state)
{
    (void)state;
    const unsigned char payload[] = {0xff, 0x00, 0x41, 0xc3};
    const unsigned char key[] = {0x80, 0x81};
    struct deadletter_source src = {"t", 0, 0, key, sizeof key, payload, sizeof payload};
    json_t *o = encode("invalid", "not UTF-8", &src);
    assert_null(json_object_get(o, "payload"));
    assert_string_equal(json_string_value(json_object_get(o, "payload_base64")), "/wBBww==");
    assert_string_equal(json_string_value(json_object_get(o, "key_base64")), "gIE=");
    json_decref(o);
    /* No key at all is null; an empty payload is an empty string. */
    struct deadletter_source empty = {"t", 0, 5, NULL, 0, NULL, 0};
    o = encode("invalid", "empty", &empty);
    assert_true(json_is_null(json_object_get(o, "key")));
    assert_string_equal(json_string_value(json_object_get(o, "payload")), "");
    json_decref(o);
}

static void test_oversized_is_bounded(void **state)
{
    (void)state;
    /* 2 MiB of text whose multi-byte characters straddle the cut. */
    size_t n = 2 * 1024 * 1024;
    char *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i + 1 < n; i += 2) {
        big[i] = (char)0xc3; /* U+00E9 */
        big[i + 1] = (char)0xa9;
    }
    struct deadletter_source src = {"t", 1, 9, "k", 1, big, n};
    json_t *o = encode(deadletter_code(-E2BIG), "record larger than 1 MiB", &src);
    assert_string_equal(json_string_value(json_object_get(o, "code")), "oversized");
    assert_true(json_is_true(json_object_get(o, "truncated")));
    assert_int_equal(json_integer_value(json_object_get(o, "payload_bytes")), n);
    const char *p = json_string_value(json_object_get(o, "payload"));
    assert_non_null(p); /* still text: cut on a character boundary */
    assert_true(strlen(p) <= DEADLETTER_PAYLOAD_MAX);
    assert_true(strlen(p) >= DEADLETTER_PAYLOAD_MAX - 4);
    assert_memory_equal(p, big, strlen(p));
    json_decref(o);
    free(big);
    assert_string_equal(deadletter_code(-EINVAL), "invalid");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_payload),
        cmocka_unit_test(test_binary_payload_and_key),
        cmocka_unit_test(test_oversized_is_bounded),
    };
    return cmocka_run_group_tests_name("deadletter", tests, NULL, NULL);
}
