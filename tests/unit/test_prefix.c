/* Unit tests for prefix: parsing, errors, canonical text, order, relations and sizes. */
#include "testing.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "prefix.h"

static prefix_t P(const char *text)
{
    prefix_t p;
    char err[256];
    if (prefix_parse(text, &p, err, sizeof err) != 0)
        fail_msg("'%s' does not parse: %s", text, err);
    return p;
}

static void test_parse_canonical(void **state)
{
    static const struct {
        const char *in, *out;
        unsigned family, len;
    } cases[] = {
        {"0.0.0.0/0", "0.0.0.0/0", 4, 0},
        {"10.0.0.0/8", "10.0.0.0/8", 4, 8},
        {"10.1.2.3/32", "10.1.2.3/32", 4, 32},
        {"255.255.255.255/32", "255.255.255.255/32", 4, 32},
        {"192.168.0.0/16", "192.168.0.0/16", 4, 16},
        {"::/0", "::/0", 6, 0},
        {"::/128", "::/128", 6, 128},
        {"::1/128", "::1/128", 6, 128},
        {"2001:DB8::/32", "2001:db8::/32", 6, 32},
        {"2001:0db8:0000:0000:0000:0000:0000:0000/64", "2001:db8::/64", 6, 64},
        {"2001:db8:0:0:1:0:0:1/128", "2001:db8::1:0:0:1/128", 6, 128},    /* tie: first run */
        {"2001:db8:0:1:1:1:1:1/128", "2001:db8:0:1:1:1:1:1/128", 6, 128}, /* no single :: */
        {"2001:0:0:1:0:0:0:1/128", "2001:0:0:1::1/128", 6, 128},          /* longest run */
        {"fe80:0:0:0:0:0:0:0/10", "fe80::/10", 6, 10},
        {"1:2:3:4:5:6:7::/128", "1:2:3:4:5:6:7:0/128", 6, 128},
        {"::2:3:4:5:6:7:8/128", "0:2:3:4:5:6:7:8/128", 6, 128},
        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
         "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", 6, 128},
        {"2600:1f18:abcd:ef00::/56", "2600:1f18:abcd:ef00::/56", 6, 56},
        {"::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104", 6, 104},
        {"::ffff:a00:0/104", "::ffff:10.0.0.0/104", 6, 104},
        {"0:0:0:0:0:ffff:192.0.2.1/128", "::ffff:192.0.2.1/128", 6, 128},
        {"::ffff:0:0/96", "::ffff:0.0.0.0/96", 6, 96},
        {"64:ff9b::192.0.2.0/120", "64:ff9b::c000:200/120", 6, 120},
        {"1:2:3:4:5:6:1.2.3.4/128", "1:2:3:4:5:6:102:304/128", 6, 128},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        prefix_t p = P(cases[i].in);
        char buf[PREFIX_STRLEN];
        assert_int_equal(prefix_format(&p, buf, sizeof buf), 0);
        if (strcmp(buf, cases[i].out) != 0)
            fail_msg("'%s' formats as '%s', want '%s'", cases[i].in, buf, cases[i].out);
        assert_int_equal(p.family, cases[i].family);
        assert_int_equal(p.len, cases[i].len);
        prefix_t q = P(buf);
        assert_int_equal(prefix_cmp(&p, &q), 0);
    }
}

static void test_parse_errors(void **state)
{
    static const struct {
        const char *in, *msg;
    } cases[] = {
        {"", "empty text"},
        {"10.0.0.0", "missing '/length'"},
        {"/8", "empty address"},
        {"10.0.0.0/", "empty prefix length"},
        {"10.0.0.0/33", "prefix length 33 out of range 0..32"},
        {"::/129", "prefix length 129 out of range 0..128"},
        {"10.0.0.0/99999999999", "out of range 0..32"},
        {"10.0.0.0/-1", "prefix length '-1' is not a number"},
        {"10.0.0.0/+8", "is not a number"},
        {"10.0.0.0/8 ", "is not a number"},
        {"10.0.0.0/08", "leading zero"},
        {"10.0.0.0//8", "unexpected character '/'"},
        {"10.0.0/8", "IPv4 address has 3 octets, needs 4"},
        {"10.0.0.0.0/8", "more than 4 octets"},
        {"10.0.0.256/32", "octet 4 '256' exceeds 255"},
        {"10.0.1000.0/32", "octet 3 '1000' exceeds 255"},
        {"10.00.0.0/16", "octet 2 '00' has a leading zero"},
        {"010.0.0.0/8", "octet 1 '010' has a leading zero"},
        {"10..0.0/16", "octet 2 is empty"},
        {"10.0.0./24", "octet 4 is empty"},
        {".10.0.0/24", "octet 1 is empty"},
        {"10.0.0.x/24", "unexpected character 'x' in IPv4"},
        {" 10.0.0.0/8", "unexpected character 0x20"},
        {"10.0.0.1/24", "10.0.0.1/24 has host bits set; did you mean 10.0.0.0/24?"},
        {"10.0.0.0/0", "has host bits set; did you mean 0.0.0.0/0?"},
        {"2001:db8::1/64", "2001:db8::1/64 has host bits set; did you mean 2001:db8::/64?"},
        {"::ffff:10.1.0.0/104", "did you mean ::ffff:10.0.0.0/104?"},
        {"1::2::/64", "more than one '::'"},
        {"1:::/64", "more than one '::'"},
        {"12345::/16", "group '12345' has more than 4 hex digits"},
        {"1:2:3:4:5:6:7/128", "has 7 groups, needs 8"},
        {"1:2:3:4:5:6:7:8:9/128", "more than 8 groups"},
        {"1:2:3:4:5:6:7:8::/128", "'::' must stand for at least one zero group"},
        {"1:2:3:4::5:6:7:8/128", "'::' must stand for at least one zero group"},
        {":1::/16", "starts with a single ':'"},
        {"1::1:/128", "ends with a single ':'"},
        {"2001:db8::g/128", "unexpected character 'g' in IPv6"},
        {"fe80::1%eth0/128", "zone index '%eth0' is not allowed"},
        {"1.2.3.4::/128", "unexpected character ':' in IPv4"},
        {"::1.2.3/128", "IPv4 address has 3 octets"},
        {"::1.2.3.400/128", "octet 4 '400' exceeds 255"},
        {"1:2:3:4:5:6:7:1.2.3.4/128", "too many groups"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        prefix_t p;
        char err[256] = "";
        int rc = prefix_parse(cases[i].in, &p, err, sizeof err);
        if (rc != -EINVAL)
            fail_msg("'%s': rc %d, want -EINVAL", cases[i].in, rc);
        if (!strstr(err, cases[i].msg))
            fail_msg("'%s': message '%s' lacks '%s'", cases[i].in, err, cases[i].msg);
    }
    /* A tiny error buffer is truncated, never overrun. */
    prefix_t p;
    char small[8];
    assert_int_equal(prefix_parse("10.0.0.1/24", &p, small, sizeof small), -EINVAL);
    assert_int_equal(strlen(small), 7);
    assert_int_equal(prefix_parse("10.0.0.1/24", &p, NULL, 0), -EINVAL);
}

static void test_format_small_buffer(void **state)
{
    prefix_t p = P("2001:db8::/32");
    char buf[6];
    assert_int_equal(prefix_format(&p, buf, sizeof buf), -ENOSPC);
    assert_string_equal(buf, "2001:");
    char exact[14];
    assert_int_equal(prefix_format(&p, exact, sizeof exact), 0);
    assert_string_equal(exact, "2001:db8::/32");
    p = P("10.0.0.0/8");
    assert_int_equal(prefix_format(&p, exact, 10), -ENOSPC);
}

static void test_relations(void **state)
{
    static const struct {
        const char *a, *b;
        int contains;   /* a contains b */
        int intersects; /* symmetric */
    } cases[] = {
        {"10.0.0.0/8", "10.1.0.0/16", 1, 1},
        {"10.1.0.0/16", "10.0.0.0/8", 0, 1},
        {"10.0.0.0/16", "10.0.0.0/16", 1, 1},      /* identical */
        {"10.0.0.0/16", "10.1.0.0/16", 0, 0},      /* adjacent */
        {"10.0.0.0/25", "10.0.0.128/25", 0, 0},    /* adjacent halves */
        {"0.0.0.0/0", "255.255.255.255/32", 1, 1}, /* /0 holds everything */
        {"10.0.0.1/32", "10.0.0.1/32", 1, 1},
        {"10.0.0.1/32", "10.0.0.2/32", 0, 0},
        {"::/0", "2001:db8::/32", 1, 1},
        {"::/0", "0.0.0.0/0", 0, 0},                 /* families never relate */
        {"::ffff:10.0.0.0/104", "10.0.0.0/8", 0, 0}, /* mapped is IPv6 */
        {"::ffff:0:0/96", "::ffff:10.0.0.0/104", 1, 1},
        {"2001:db8::/56", "2001:db8:0:ff::/64", 1, 1},
        {"2001:db8::/56", "2001:db8:0:100::/64", 0, 0},
        {"::/128", "::1/128", 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        prefix_t a = P(cases[i].a), b = P(cases[i].b);
        if (prefix_contains(&a, &b) != (bool)cases[i].contains)
            fail_msg("contains(%s, %s) != %d", cases[i].a, cases[i].b, cases[i].contains);
        if (prefix_intersects(&a, &b) != (bool)cases[i].intersects ||
            prefix_intersects(&b, &a) != (bool)cases[i].intersects)
            fail_msg("intersects(%s, %s) != %d", cases[i].a, cases[i].b, cases[i].intersects);
    }
}

static void test_order(void **state)
{
    /* Sorted: family, address, length. */
    const char *sorted[] = {"0.0.0.0/0",    "10.0.0.0/8",  "10.0.0.0/16",       "10.0.0.0/24",
                            "10.0.1.0/24",  "10.1.0.0/16", "11.0.0.0/8",        "::/0",
                            "::/1",         "::1/128",     "::ffff:0.0.0.0/96", "2001:db8::/32",
                            "2001:db8::/56"};
    size_t n = sizeof sorted / sizeof sorted[0];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            prefix_t a = P(sorted[i]), b = P(sorted[j]);
            int c = prefix_cmp(&a, &b);
            int want = i < j ? -1 : i > j;
            if ((c > 0) - (c < 0) != want)
                fail_msg("cmp(%s, %s) = %d, want %d", sorted[i], sorted[j], c, want);
        }
    }
}

static void test_sizes(void **state)
{
    static const struct {
        const char *p;
        uint64_t size;
    } cases[] = {
        {"0.0.0.0/0", 4294967296ULL},
        {"10.0.0.0/16", 65536},
        {"10.0.0.0/28", 16},
        {"10.0.0.1/32", 1},
        {"2001:db8::/56", 256},
        {"2001:db8::/64", 1},
        {"2001:db8::/80", 1}, /* part of one /64 */
        {"2001:db8::1/128", 1},
        {"2001:db8::/32", 4294967296ULL},
        {"::/1", 9223372036854775808ULL},
        {"::/0", UINT64_MAX}, /* 2^64 saturates */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        prefix_t p = P(cases[i].p);
        if (prefix_size(&p) != cases[i].size)
            fail_msg("size(%s) = %llu, want %llu", cases[i].p, (unsigned long long)prefix_size(&p),
                     (unsigned long long)cases[i].size);
    }
    prefix_t all = P("::/0");
    assert_true(prefix_units(&all) == ((prefix_u128)1 << 64));
    prefix_t v4 = P("10.0.0.0/24");
    assert_true(prefix_first(&v4) == 0x0a000000u);
    assert_true(prefix_last(&v4) == 0x0a0000ffu);
    assert_true(prefix_last(&all) == ~(prefix_u128)0);
}

static void test_make(void **state)
{
    prefix_t p;
    assert_int_equal(prefix_make(&p, PREFIX_INET, 0x0a0102ffu, 24), 0);
    char buf[PREFIX_STRLEN];
    prefix_format(&p, buf, sizeof buf);
    assert_string_equal(buf, "10.1.2.0/24");
    assert_int_equal(prefix_make(&p, PREFIX_INET, 0, 33), -EINVAL);
    assert_int_equal(prefix_make(&p, PREFIX_INET6, 0, 129), -EINVAL);
    assert_int_equal(prefix_make(&p, (enum prefix_family)5, 0, 1), -EINVAL);
}

static uint64_t rnd64(unsigned *s)
{
    uint64_t v = 0;
    for (int i = 0; i < 4; i++)
        v = (v << 16) ^ (uint64_t)(rand_r(s) & 0xffff);
    return v;
}

/* Random prefixes with zero runs: format -> parse is the identity, and the text matches what
 * the C library makes of the address (inet_pton agrees on the value). */
static void test_random_roundtrip(void **state)
{
    unsigned seed = testing_seed();
    for (int iter = 0; iter < 20000; iter++) {
        prefix_u128 a = ((prefix_u128)rnd64(&seed) << 64) | rnd64(&seed);
        /* zero some groups so that runs of every length appear */
        for (int g = 0; g < 8; g++)
            if (rand_r(&seed) % 2)
                a &= ~((prefix_u128)0xffff << (16 * g));
        bool v6 = rand_r(&seed) % 2;
        unsigned len = (unsigned)rand_r(&seed) % (v6 ? 129 : 33);
        prefix_t p;
        assert_int_equal(prefix_make(&p, v6 ? PREFIX_INET6 : PREFIX_INET, a, len), 0);
        char buf[PREFIX_STRLEN], err[256];
        assert_int_equal(prefix_format(&p, buf, sizeof buf), 0);
        prefix_t q;
        if (prefix_parse(buf, &q, err, sizeof err) != 0)
            fail_msg("'%s' does not parse back: %s", buf, err);
        if (prefix_cmp(&p, &q) != 0)
            fail_msg("'%s' parses to a different prefix", buf);
        /* Compare the address part with inet_pton. */
        char addr[PREFIX_STRLEN];
        snprintf(addr, sizeof addr, "%s", buf);
        *strchr(addr, '/') = '\0';
        unsigned char raw[16];
        assert_int_equal(inet_pton(v6 ? AF_INET6 : AF_INET, addr, raw), 1);
        prefix_u128 back = 0;
        for (int k = 0; k < (v6 ? 16 : 4); k++)
            back = (back << 8) | raw[k];
        if (back != p.addr)
            fail_msg("'%s': inet_pton reads another address", buf);
        /* RFC 5952 text: glibc's inet_ntop writes the same, except for the deprecated
         * IPv4-compatible ::/96 range, which it writes in dotted form. */
        if (v6 && (p.addr >> 32) != 0) {
            char ref[INET6_ADDRSTRLEN];
            assert_non_null(inet_ntop(AF_INET6, raw, ref, sizeof ref));
            if (strcmp(ref, addr) != 0)
                fail_msg("'%s': inet_ntop writes '%s'", addr, ref);
        }
    }
}

/* Independent reading of CIDR text: inet_pton for the address (glibc refuses leading zeros
 * in IPv4 octets, zone indexes and surplus groups), the length by hand, host bits clear.
 * Returns true and fills *out when the text is a valid CIDR. */
static bool oracle_parse(const char *text, prefix_t *out)
{
    const char *slash = strrchr(text, '/');
    if (!slash || slash == text || (size_t)(slash - text) >= INET6_ADDRSTRLEN)
        return false;
    char addr[INET6_ADDRSTRLEN];
    memcpy(addr, text, (size_t)(slash - text));
    addr[slash - text] = '\0';
    bool v6 = strchr(addr, ':') != NULL;
    const char *l = slash + 1;
    size_t llen = strlen(l);
    if (llen == 0 || llen > 3 || (llen > 1 && l[0] == '0') || strspn(l, "0123456789") != llen)
        return false;
    unsigned len = (unsigned)strtoul(l, NULL, 10);
    unsigned char raw[16];
    if (len > (v6 ? 128u : 32u) || inet_pton(v6 ? AF_INET6 : AF_INET, addr, raw) != 1)
        return false;
    prefix_u128 a = 0;
    for (int k = 0; k < (v6 ? 16 : 4); k++)
        a = (a << 8) | raw[k];
    if (prefix_make(out, v6 ? PREFIX_INET6 : PREFIX_INET, a, len) < 0 || out->addr != a)
        return false;
    return true;
}

/* A valid CIDR in one of the written forms the fast path is for: dotted quad, or IPv6 hex
 * groups (canonical, or all eight with leading zeros and upper case). */
static void random_plain_text(unsigned *seed, char *buf, size_t len)
{
    bool v6 = rand_r(seed) % 2;
    prefix_u128 a = ((prefix_u128)rnd64(seed) << 64) | rnd64(seed);
    for (int g = 0; g < 8; g++)
        if (rand_r(seed) % 2)
            a &= ~((prefix_u128)0xffff << (16 * g));
    prefix_t p;
    prefix_make(&p, v6 ? PREFIX_INET6 : PREFIX_INET, a, (unsigned)rand_r(seed) % (v6 ? 129 : 33));
    if (!v6 || rand_r(seed) % 2 || (p.addr >> 32) == 0xffff) {
        prefix_format(&p, buf, len);
        return;
    }
    size_t pos = 0;
    for (int g = 0; g < 8; g++) {
        unsigned v = (unsigned)(p.addr >> (16 * (7 - g))) & 0xffff;
        int n =
            snprintf(buf + pos, len - pos, rand_r(seed) % 2 ? "%s%04X" : "%s%x", g ? ":" : "", v);
        assert_true(n > 0 && (size_t)n < len - pos);
        pos += (size_t)n;
    }
    snprintf(buf + pos, len - pos, "/%u", p.len);
}

/* The fast path: accepts every plain form exactly as the precise parser does, accepts nothing
 * an independent reading refuses, and keeps to its n bytes. */
static void test_parse_fast(void **state)
{
    static const char alphabet[] = "0123456789abcdefABCDEFg.:/% \t";
    unsigned seed = testing_seed();
    size_t fast_taken = 0;
    for (int iter = 0; iter < 40000; iter++) {
        char text[96];
        random_plain_text(&seed, text, sizeof text);
        /* Half of them mutated: a character replaced, inserted or removed, maybe twice. */
        if (iter % 2) {
            for (int m = 0; m < 1 + rand_r(&seed) % 2; m++) {
                size_t n = strlen(text), at = (size_t)rand_r(&seed) % (n + 1);
                char c = alphabet[rand_r(&seed) % (sizeof alphabet - 1)];
                int op = rand_r(&seed) % 3;
                if (op == 0 && at < n) {
                    text[at] = c;
                } else if (op == 1 && n + 1 < sizeof text) {
                    memmove(text + at + 1, text + at, n - at + 1);
                    text[at] = c;
                } else if (at < n) {
                    memmove(text + at, text + at + 1, n - at);
                }
            }
        }
        prefix_t fast, precise, indep;
        char err[256];
        memset(&fast, 0xa5, sizeof fast);
        bool f = prefix_parse_fast(text, strlen(text), &fast);
        bool ok = prefix_parse(text, &precise, err, sizeof err) == 0;
        bool o = oracle_parse(text, &indep);
        if (f && (!o || prefix_cmp(&fast, &indep) != 0))
            fail_msg("fast path accepts '%s', which reads otherwise independently", text);
        if (f && (!ok || prefix_cmp(&fast, &precise) != 0))
            fail_msg("fast path and prefix_parse differ on '%s'", text);
        /* Plain forms (no embedded IPv4 in IPv6) that parse must take the fast path. */
        bool embedded_v4 = strchr(text, ':') && strchr(text, '.');
        if (ok && !embedded_v4 && !f)
            fail_msg("'%s' parses but not on the fast path", text);
        if (!ok && f)
            fail_msg("'%s' is refused (%s) but the fast path accepts it", text, err);
        fast_taken += f;
    }
    assert_true(fast_taken > 20000); /* every unmutated text, and a few mutated ones */

    /* Bounded by n: the rest of the buffer is not read; a NUL inside is refused. */
    prefix_t p;
    assert_true(prefix_parse_fast("10.0.0.0/8 1 2", 10, &p));
    assert_int_equal(p.len, 8);
    assert_true(p.addr == 0x0a000000u);
    assert_true(prefix_parse_fast("2600:1f00::/24,x", 14, &p));
    assert_int_equal(p.family, PREFIX_INET6);
    assert_false(prefix_parse_fast("10.0.0.0/8", 9, &p)); /* "10.0.0.0/" */
    assert_true(prefix_parse_fast("0.0.0.0/16", 9, &p));  /* "0.0.0.0/1" */
    assert_int_equal(p.len, 1);
    assert_false(prefix_parse_fast("10.0.0.0/\0", 10, &p));
    assert_false(prefix_parse_fast("", 0, &p));
    assert_false(prefix_parse_fast("10.0.0.1/24", 11, &p)); /* host bits: precise path */
    assert_false(prefix_parse_fast("::ffff:10.0.0.0/104", 19, &p));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_canonical),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_format_small_buffer),
        cmocka_unit_test(test_relations),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_make),
        cmocka_unit_test(test_random_roundtrip),
        cmocka_unit_test(test_parse_fast),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
