/* Unit tests for record_write: the writer against json_dumps() on random strings, reals and
 * integers, whole records re-printed by jansson, and member names against the appends they
 * replaced. */
#include "testing.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "record.h"
#include "record_write.h"

static unsigned seed_state;

static unsigned rnd(void)
{
    return testing_xorshift(&seed_state);
}

static int setup(void **state)
{
    seed_state = testing_seed() | 1u;
    return 0;
}

/* A random valid UTF-8 string mixing controls, quotes, backslashes, slashes, ASCII, and
 * 2-, 3- and 4-byte characters (never a surrogate). */
static void random_utf8(char *buf, size_t max_chars)
{
    size_t n = rnd() % (max_chars + 1), o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned cp;
        switch (rnd() % 7) {
        case 0:
            cp = 1 + rnd() % 0x1F; /* control */
            break;
        case 1: {
            static const char specials[] = "\"\\/\x7f <>&'";
            cp = (unsigned char)specials[rnd() % (sizeof specials - 1)];
            break;
        }
        case 2:
        case 3:
            cp = 0x20 + rnd() % 0x5F;
            break;
        case 4:
            cp = 0x80 + rnd() % (0x800 - 0x80);
            break;
        case 5:
            do
                cp = 0x800 + rnd() % (0x10000 - 0x800);
            while (cp >= 0xD800 && cp <= 0xDFFF);
            break;
        default:
            cp = 0x10000 + rnd() % (0x110000 - 0x10000);
        }
        o += testing_put_utf8(buf + o, cp);
    }
    buf[o] = '\0';
}

static char *write_one_string(const char *s, int *rc)
{
    struct record_writer w = {0};
    *rc = record_write_string(&w, s);
    size_t len;
    return record_writer_take(&w, &len);
}

static void test_strings_match_jansson(void **state)
{
    char buf[64 * 4 + 1];
    for (int i = 0; i < 20000; i++) {
        random_utf8(buf, 64);
        json_t *js = json_string(buf);
        assert_non_null(js);
        char *want = json_dumps(js, JSON_COMPACT | JSON_ENCODE_ANY);
        int rc;
        char *got = write_one_string(buf, &rc);
        assert_int_equal(rc, 0);
        if (strcmp(want, got) != 0)
            fail_msg("string %d: jansson %s, writer %s", i, want, got);
        free(want);
        free(got);
        json_decref(js);
    }
}

static void test_every_control_character(void **state)
{
    for (unsigned c = 1; c < 0x80; c++) {
        char s[4] = {'a', (char)c, 'b', 0};
        json_t *js = json_string(s);
        char *want = json_dumps(js, JSON_COMPACT | JSON_ENCODE_ANY);
        int rc;
        char *got = write_one_string(s, &rc);
        assert_int_equal(rc, 0);
        assert_string_equal(got, want);
        free(want);
        free(got);
        json_decref(js);
    }
    int rc;
    char *got = write_one_string("\x01\x1f\t\n\"\\", &rc);
    assert_string_equal(got, "\"\\u0001\\u001F\\t\\n\\\"\\\\\"");
    free(got);
}

static void test_invalid_utf8_refused(void **state)
{
    static const char *const bad[] = {
        "\x80",             /* lone continuation byte */
        "a\xC0\xAF",        /* overlong '/' */
        "\xC2",             /* truncated 2-byte sequence */
        "\xE0\x80\x80",     /* overlong NUL */
        "\xED\xA0\x80",     /* surrogate U+D800 */
        "\xF4\x90\x80\x80", /* above U+10FFFF */
        "\xF5\x80\x80\x80", /* invalid lead byte */
        "ok\xE2\x82",       /* truncated at the end */
        "\xFF",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(json_string(bad[i])); /* jansson refuses them too */
        struct record_writer w = {0};
        assert_int_equal(record_write_string(&w, bad[i]), -EINVAL);
        assert_true(w.failed);
        record_writer_free(&w);
    }
    /* Random corruptions of valid strings: the writer accepts exactly what jansson does. */
    char buf[32 * 4 + 1];
    for (int i = 0; i < 20000; i++) {
        random_utf8(buf, 32);
        size_t n = strlen(buf);
        if (n == 0)
            continue;
        buf[rnd() % n] = (char)(0x80 + rnd() % 0x80);
        json_t *js = json_string(buf);
        struct record_writer w = {0};
        int rc = record_write_string(&w, buf);
        if ((js != NULL) != (rc == 0))
            fail_msg("corrupted string %d: jansson %s, writer %d", i, js ? "accepts" : "refuses",
                     rc);
        json_decref(js);
        record_writer_free(&w);
    }
}

/* record_write_stringn() writes what record_write_string() writes for the same C string,
 * and refuses the bytes when a NUL lies within them. */
static void test_stringn_matches_string(void **state)
{
    (void)state;
    char buf[48 * 4 + 1];
    for (int i = 0; i < 20000; i++) {
        random_utf8(buf, 48);
        size_t n = strlen(buf);
        struct record_writer a = {0}, b = {0};
        int ra = record_write_string(&a, buf), rb = record_write_stringn(&b, buf, n);
        assert_int_equal(ra, rb);
        assert_int_equal(a.len, b.len);
        assert_memory_equal(a.buf, b.buf, a.len);
        if (n > 0) {
            size_t at = rnd() % n; /* a NUL within: refused, flagged */
            buf[at] = '\0';
            record_writer_reset(&b);
            assert_int_equal(record_write_stringn(&b, buf, n), -EINVAL);
            assert_true(b.failed);
            record_writer_reset(&b); /* the part before it (may end inside a character) */
            record_writer_reset(&a);
            rb = record_write_stringn(&b, buf, at);
            assert_int_equal(record_write_string(&a, buf), rb);
            if (rb == 0) {
                assert_int_equal(a.len, b.len);
                assert_memory_equal(a.buf, b.buf, a.len);
            }
        }
        record_writer_free(&a);
        record_writer_free(&b);
    }
}

static void check_real(double v)
{
    json_t *jr = json_real(v);
    assert_non_null(jr);
    char *want = json_dumps(jr, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
    struct record_writer w = {0};
    assert_int_equal(record_write_real(&w, v), 0);
    size_t len;
    char *got = record_writer_take(&w, &len);
    if (strcmp(want, got) != 0)
        fail_msg("real %.17g: jansson %s, writer %s", v, want, got);
    assert_int_equal(len, strlen(want));
    free(want);
    free(got);
    json_decref(jr);
}

static void test_reals_match_jansson(void **state)
{
    /* clang-format off */
    static const double fixed[] = {
        0.0, -0.0, 1.0, 0.5, 0.4945, 1e20, 1e-5, 1e-300, 1.5e300, 1e15, 1e16,
        123456789012345678.0, -2.5, 0.1, 1.0 / 3, 4.9e-324, 1.7976931348623157e308, 1e-4,
        9.9999e-5, 0.0001234, 999999999999999.0, 99999999999999.9, 1e14 + 0.5, 123.000001, -7.25,
    };
    /* clang-format on */
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        check_real(fixed[i]);
    for (int i = 0; i < 20000; i++) {
        double v;
        if (i % 2) {
            uint64_t bits = (uint64_t)rnd() << 32 | rnd();
            memcpy(&v, &bits, sizeof v);
            if (!isfinite(v))
                continue;
        } else if (i % 4 == 0) {
            v = (double)(rnd() % 10001) / 10000.0; /* ip_usage-like fractions */
        } else {
            /* short decimals of every magnitude: the writer's fast path and its edges */
            static const double scale[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8};
            uint64_t m = ((uint64_t)rnd() << 32 | rnd()) >> (rnd() % 64);
            v = (double)m / scale[rnd() % 9] * (rnd() % 2 ? 1 : -1);
        }
        check_real(v);
    }
    struct record_writer w = {0};
    assert_int_equal(record_write_real(&w, NAN), -EINVAL);
    assert_int_equal(record_write_real(&w, INFINITY), -EINVAL);
    record_writer_free(&w);
}

static void test_integers_match_jansson(void **state)
{
    int64_t fixed[] = {0, 1, -1, 9, 10, INT64_MAX, INT64_MIN, INT32_MAX, INT32_MIN};
    for (int i = 0; i < 20000 + 9; i++) {
        int64_t v = i < 9 ? fixed[i] : (int64_t)((uint64_t)rnd() << 32 | rnd()) >> (rnd() % 64);
        json_t *ji = json_integer(v);
        char *want = json_dumps(ji, JSON_COMPACT | JSON_ENCODE_ANY);
        struct record_writer w = {0};
        record_write_int(&w, v);
        size_t len;
        char *got = record_writer_take(&w, &len);
        assert_string_equal(got, want);
        free(want);
        free(got);
        json_decref(ji);
    }
}

/* A random resource CIDR or event record with arbitrary text in its free-text fields. */
static struct record *random_record(char *buf)
{
    bool event = rnd() % 2;
    struct record *r = record_new(event ? RECORD_EVENT : RECORD_RESOURCE_CIDR);
    record_str_set(&r->source, "collector-1");
    if (event) {
        struct record_event *e = &r->u.event;
        record_str_set(&e->event_id, "0f4c8a1e-1111-2222-3333-444455556666");
        record_str_set(&e->name, "AllocateIpamPoolCidr");
        e->time_ms = (int64_t)(rnd() % 2000000000u) * 1000 + rnd() % 1000;
        record_str_set(&e->account, "111122223333");
        record_str_set(&e->region, "eu-central-1");
        random_utf8(buf, 40);
        record_str_set(&e->error_message, buf);
        random_utf8(buf, 40);
        record_str_set(&e->user_agent, buf);
        if (rnd() % 2)
            record_str_set(&e->principal.arn, "arn:aws:iam::1:role/x");
        e->netmask_length = rnd() % 3 ? (int64_t)(rnd() % 129) : RECORD_UNSET;
        e->parsed = rnd() % 2;
        if (!e->parsed) {
            random_utf8(buf, 80);
            record_str_set(&e->raw, buf);
        }
    } else {
        struct record_resource_cidr *b = &r->u.resource_cidr;
        record_str_set(&r->scope, "ipam-scope-0a1b2c3d4e5f60718");
        record_str_set(&r->pass_id, "collector-1-1741946400000");
        record_str_set(&b->scope_id, "ipam-scope-0a1b2c3d4e5f60718");
        record_str_set(&b->resource_type, "subnet");
        record_str_set(&b->resource_id, "subnet-0123456789abcdef0");
        record_str_set(&b->cidr, "10.64.0.0/22");
        random_utf8(buf, 30);
        record_str_set(&b->name, buf);
        b->ip_usage = rnd() % 4 ? (double)(rnd() % 100000) / 99999.0 : NAN;
        unsigned ntags = rnd() % 5;
        for (unsigned k = 0; k < ntags; k++) {
            char key[32 * 4 + 1];
            random_utf8(key, 8);
            random_utf8(buf, 30);
            record_map_set(&b->tags, key, buf);
        }
    }
    return r;
}

static void test_records_reprinted_by_jansson(void **state)
{
    char buf[80 * 4 + 1];
    for (int i = 0; i < 5000; i++) {
        struct record *r = random_record(buf);
        char *out;
        size_t len;
        assert_int_equal(record_encode(r, &out, &len), 0);
        assert_int_equal(len, strlen(out));
        /* What jansson prints for the same document (insertion order kept). */
        json_error_t jerr;
        json_t *doc = json_loads(out, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc)
            fail_msg("record %d is not valid JSON (%s): %s", i, jerr.text, out);
        char *again = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
        if (strcmp(again, out) != 0)
            fail_msg("record %d:\nwriter  %s\njansson %s", i, out, again);
        /* and the analyzer reads back the same record */
        struct record *back;
        char err[256];
        assert_int_equal(record_decode(out, len, &back, err, sizeof err), 0);
        char *out2;
        size_t len2;
        assert_int_equal(record_encode(back, &out2, &len2), 0);
        assert_string_equal(out2, out);
        free(out2);
        record_free(back);
        free(again);
        json_decref(doc);
        free(out);
        record_free(r);
    }
}

static void test_writer_reuse(void **state)
{
    struct record_writer w = {0};
    record_write_raw(&w, "[", 1);
    assert_int_equal(record_write_string(&w, "x\xC3\xA9"), 0);
    record_write_raw(&w, ",", 1);
    record_write_bool(&w, true);
    record_write_raw(&w, ",", 1);
    record_write_bool(&w, false);
    record_write_raw(&w, "]", 1);
    assert_string_equal(w.buf, "[\"x\xC3\xA9\",true,false]");
    char *old = w.buf;
    record_writer_reset(&w);
    assert_int_equal(w.len, 0);
    record_write_int(&w, -42);
    assert_ptr_equal(w.buf, old); /* the buffer is kept */
    assert_string_equal(w.buf, "-42");
    record_writer_free(&w);
    assert_null(w.buf);
}

/* record_write_key() against the sequence it replaced: record_write_raw() of ",", "\"", the
 * name and "\":". */
static void key_by_raw(struct record_writer *w, const char *name, bool first)
{
    if (!first)
        record_write_raw(w, ",", 1);
    record_write_raw(w, "\"", 1);
    record_write_raw(w, name, strlen(name));
    record_write_raw(w, "\":", 2);
}

static void test_key_first_and_later(void **state)
{
    struct record_writer w = {0};
    record_write_key(&w, "v", true);
    assert_string_equal(w.buf, "\"v\":");
    assert_int_equal(w.len, 4);
    record_write_key(&w, "type", false);
    assert_string_equal(w.buf, "\"v\":,\"type\":");
    assert_int_equal(w.len, 12);
    record_writer_reset(&w);
    record_write_key(&w, "", true); /* an empty name is still a member name */
    assert_string_equal(w.buf, "\"\":");
    record_write_key(&w, "", false);
    assert_string_equal(w.buf, "\"\":,\"\":");
    assert_int_equal(w.len, 7);
    /* an object built with it is what jansson prints */
    record_writer_reset(&w);
    record_write_raw(&w, "{", 1);
    record_write_key(&w, "a", true);
    record_write_int(&w, 1);
    record_write_key(&w, "b", false);
    record_write_bool(&w, true);
    record_write_key(&w, "c", false);
    assert_int_equal(record_write_string(&w, "x"), 0);
    record_write_raw(&w, "}", 1);
    json_error_t jerr;
    json_t *doc = json_loads(w.buf, JSON_REJECT_DUPLICATES, &jerr);
    assert_non_null(doc);
    char *again = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(again, "{\"a\":1,\"b\":true,\"c\":\"x\"}");
    assert_string_equal(w.buf, again);
    free(again);
    json_decref(doc);
    record_writer_free(&w);
}

/* A key ending exactly at, or just past, the end of the buffer's first size (1024 bytes):
 * the room reserved covers the comma, the quotes, the colon and the NUL. */
static void test_key_at_buffer_edge(void **state)
{
    char pad[1100], name[64];
    memset(pad, 'x', sizeof pad);
    for (size_t n = 0; n < sizeof name; n++) {
        memset(name, 'a' + (int)(n % 26), n);
        name[n] = '\0';
        for (size_t room = 0; room < n + 8; room++) { /* bytes left before the 1024th */
            for (int first = 0; first < 2; first++) {
                struct record_writer a = {0}, b = {0};
                record_write_raw(&a, pad, 1023 - room);
                record_write_raw(&b, pad, 1023 - room);
                record_write_key(&a, name, first);
                key_by_raw(&b, name, first);
                assert_int_equal(a.len, b.len);
                assert_memory_equal(a.buf, b.buf, a.len + 1);
                record_writer_free(&a);
                record_writer_free(&b);
            }
        }
    }
}

/* Random printable ASCII names, first and later, short and long enough to grow the buffer
 * past its first size in the middle of a key: the same bytes as the four appends. */
static void test_key_matches_raw_appends(void **state)
{
    char name[600];
    struct record_writer a = {0}, b = {0};
    for (int i = 0; i < 20000; i++) {
        if (rnd() % 64 == 0) { /* start over now and then: a reused, non-empty buffer */
            record_writer_reset(&a);
            record_writer_reset(&b);
        }
        size_t n = rnd() % 16 == 0 ? rnd() % sizeof name : rnd() % 24;
        for (size_t k = 0; k < n; k++)
            name[k] = (char)(0x20 + rnd() % 0x5F);
        name[n] = '\0';
        bool first = rnd() % 3 == 0;
        size_t before = a.len;
        record_write_key(&a, name, first);
        key_by_raw(&b, name, first);
        assert_int_equal(a.len, before + n + (first ? 3 : 4));
        assert_int_equal(a.len, b.len);
        if (memcmp(a.buf, b.buf, a.len + 1) != 0) /* the NUL included */
            fail_msg("key %d (\"%s\", first %d): writer and raw appends differ", i, name, first);
        if (rnd() % 4 == 0) { /* something between the keys, as in a record */
            record_write_int(&a, i);
            record_write_int(&b, i);
        }
    }
    size_t la, lb;
    char *ta = record_writer_take(&a, &la), *tb = record_writer_take(&b, &lb);
    assert_int_equal(la, lb);
    assert_int_equal(la, strlen(ta));
    assert_memory_equal(ta, tb, la + 1);
    free(ta);
    free(tb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strings_match_jansson),
        cmocka_unit_test(test_every_control_character),
        cmocka_unit_test(test_invalid_utf8_refused),
        cmocka_unit_test(test_stringn_matches_string),
        cmocka_unit_test(test_reals_match_jansson),
        cmocka_unit_test(test_integers_match_jansson),
        cmocka_unit_test(test_records_reprinted_by_jansson),
        cmocka_unit_test(test_writer_reuse),
        cmocka_unit_test(test_key_first_and_later),
        cmocka_unit_test(test_key_at_buffer_edge),
        cmocka_unit_test(test_key_matches_raw_appends),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
