/* Unit tests for freespace: table cases and random pools against a bitmap oracle. */
#include "testing.h"

#include <errno.h>
#include <string.h>

#include "analyzer/freespace.h"

#define MAXN 16

static prefix_t P(const char *text)
{
    prefix_t p;
    char err[256];
    if (prefix_parse(text, &p, err, sizeof err) != 0)
        fail_msg("%s", err);
    return p;
}

/* Runs freespace on NULL-terminated lists of CIDR text. */
static void run(unsigned family, const char *const *pool, const char *const *uses, unsigned netmask,
                struct freespace_report *r)
{
    prefix_t c[MAXN], u[MAXN];
    size_t nc = 0, nu = 0;
    for (; pool[nc]; nc++)
        c[nc] = P(pool[nc]);
    for (; uses[nu]; nu++)
        u[nu] = P(uses[nu]);
    char err[256];
    if (freespace_compute(family, c, nc, u, nu, netmask, r, err, sizeof err) != 0)
        fail_msg("freespace_compute: %s", err);
}

static void expect_blocks(const struct freespace_report *r, const char *const *want)
{
    size_t n = 0;
    for (; want[n]; n++) {
        if (n >= r->nblocks)
            fail_msg("block %zu missing (want %s)", n, want[n]);
        char t[PREFIX_STRLEN];
        prefix_format(&r->blocks[n], t, sizeof t);
        if (strcmp(t, want[n]) != 0)
            fail_msg("block %zu is %s, want %s", n, t, want[n]);
    }
    assert_int_equal(r->nblocks, n);
}

static void test_simple_pool(void **state)
{
    struct freespace_report r;
    run(PREFIX_INET, (const char *[]){"10.0.0.0/16", NULL},
        (const char *[]){"10.0.1.0/24", "10.0.0.0/24", NULL}, 20, &r);
    assert_true(r.size == 65536);
    assert_true(r.used == 512);
    assert_true(r.free == 65024);
    expect_blocks(&r, (const char *[]){"10.0.2.0/23", "10.0.4.0/22", "10.0.8.0/21", "10.0.16.0/20",
                                       "10.0.32.0/19", "10.0.64.0/18", "10.0.128.0/17", NULL});
    assert_int_equal(r.largest_len, 17);
    assert_true(r.fit == 8 + 4 + 2 + 1);
    assert_int_equal(r.nfindings, 0);
    freespace_report_clear(&r);
}

/* The reason this exists: a pool 93 % free that cannot serve one /20. */
static void test_fragmented_pool_cannot_fit(void **state)
{
    const char *uses[17];
    char text[16][32];
    for (int i = 0; i < 16; i++) {
        snprintf(text[i], sizeof text[i], "10.0.%d.0/24", i * 16 + 8);
        uses[i] = text[i];
    }
    uses[16] = NULL;
    struct freespace_report r;
    run(PREFIX_INET, (const char *[]){"10.0.0.0/16", NULL}, uses, 20, &r);
    assert_true(r.used == 16 * 256);
    assert_true(r.free * 100 / r.size == 93);
    assert_true(r.fit == 0);
    assert_int_equal(r.largest_len, 21);
    assert_int_equal(r.nblocks, 16 * 4); /* per /20: /21 + /23 + /22 ... around the /24 */
    freespace_report_clear(&r);
    run(PREFIX_INET, (const char *[]){"10.0.0.0/16", NULL}, uses, 21, &r);
    assert_true(r.fit == 16);
    freespace_report_clear(&r);
}

static void test_full_and_empty(void **state)
{
    struct freespace_report r;
    run(PREFIX_INET, (const char *[]){"10.0.0.0/24", NULL}, (const char *[]){"10.0.0.0/24", NULL},
        28, &r);
    assert_true(r.free == 0);
    assert_int_equal(r.nblocks, 0);
    assert_int_equal(r.largest_len, -1);
    assert_true(r.fit == 0);
    freespace_report_clear(&r);

    run(PREFIX_INET, (const char *[]){"0.0.0.0/0", NULL}, (const char *[]){NULL}, 32, &r);
    assert_true(r.size == ((prefix_u128)1 << 32));
    expect_blocks(&r, (const char *[]){"0.0.0.0/0", NULL});
    assert_true(r.fit == ((prefix_u128)1 << 32));
    assert_int_equal(r.largest_len, 0);
    freespace_report_clear(&r);

    run(PREFIX_INET6, (const char *[]){"::/0", NULL}, (const char *[]){NULL}, 64, &r);
    assert_true(r.size == ((prefix_u128)1 << 64)); /* 2^64 /64s, exact in 128 bits */
    expect_blocks(&r, (const char *[]){"::/0", NULL});
    assert_true(r.fit == ((prefix_u128)1 << 64));
    freespace_report_clear(&r);

    /* A /128 netmask in ::/0 is 2^128 blocks: saturates. */
    run(PREFIX_INET6, (const char *[]){"::/0", NULL}, (const char *[]){NULL}, 128, &r);
    assert_true(r.fit == ~(prefix_u128)0);
    freespace_report_clear(&r);

    /* No provisioned CIDR: nothing free, every use is outside. */
    run(PREFIX_INET, (const char *[]){NULL}, (const char *[]){"10.0.0.0/24", NULL}, 24, &r);
    assert_true(r.size == 0 && r.used == 0 && r.free == 0);
    assert_int_equal(r.nfindings, 1);
    assert_int_equal(r.findings[0].kind, FREESPACE_USE_OUTSIDE);
    freespace_report_clear(&r);
}

static void test_ipv6_units(void **state)
{
    struct freespace_report r;
    run(PREFIX_INET6, (const char *[]){"2001:db8::/48", NULL},
        (const char *[]){"2001:db8::/56", "2001:db8:0:100::/64", "2001:db8:0:200::/80",
                         "2001:db8:0:200:1::/80", NULL},
        56, &r);
    assert_true(r.size == 65536);
    assert_true(r.used == 256 + 1 + 1); /* two /80s in one /64 use that /64 once */
    assert_true(r.free == 65536 - 258);
    assert_int_equal(r.largest_len, 49);
    assert_true(r.fit == 256 - 3);    /* /56s #0, #1 and #2 are touched */
    assert_int_equal(r.nfindings, 0); /* the two /80s do not overlap */
    char t[PREFIX_STRLEN];
    prefix_format(&r.blocks[0], t, sizeof t);
    assert_string_equal(t, "2001:db8:0:101::/64");
    freespace_report_clear(&r);
}

static void test_findings(void **state)
{
    struct freespace_report r;
    run(PREFIX_INET, (const char *[]){"10.0.0.0/17", "10.0.0.0/24", NULL},
        (const char *[]){"10.0.0.0/24", "10.0.0.128/25", "10.0.0.0/24", "10.0.0.0/16",
                         "2001:db8::/64", "192.168.0.0/24", NULL},
        24, &r);
    /* used: /16 clipped to the pool = whole pool; never more than size */
    assert_true(r.size == 32768);
    assert_true(r.used == 32768);
    assert_true(r.free == 0);
    size_t n_overlap = 0, n_outside = 0, n_pool = 0;
    for (size_t i = 0; i < r.nfindings; i++) {
        const struct freespace_finding *f = &r.findings[i];
        if (f->kind == FREESPACE_USE_OVERLAP) {
            n_overlap++;
            assert_true(prefix_contains(&f->a, &f->b));
        } else if (f->kind == FREESPACE_USE_OUTSIDE) {
            n_outside++;
            assert_true(f->ia == 3 || f->ia == 4 || f->ia == 5);
            assert_true(f->ib == SIZE_MAX);
        } else if (f->kind == FREESPACE_POOL_OVERLAP) {
            n_pool++;
            assert_int_equal(f->ia, 0);
            assert_int_equal(f->ib, 1);
        }
    }
    /* /16 x3 others, /24 x /24 (identical), each /24 x /25: 3 + 1 + 2 */
    assert_int_equal(n_overlap, 6);
    assert_int_equal(n_outside, 3);
    assert_int_equal(n_pool, 1);
    freespace_report_clear(&r);

    /* Adjacent provisioned CIDRs merge into one aligned block. */
    run(PREFIX_INET, (const char *[]){"10.0.1.0/24", "10.0.0.0/24", NULL}, (const char *[]){NULL},
        24, &r);
    expect_blocks(&r, (const char *[]){"10.0.0.0/23", NULL});
    assert_int_equal(r.nfindings, 0);
    freespace_report_clear(&r);
}

static void test_errors(void **state)
{
    struct freespace_report r;
    prefix_t c = P("10.0.0.0/16"), c6 = P("2001:db8::/32");
    char err[256];
    assert_int_equal(freespace_compute(PREFIX_INET, &c, 1, NULL, 0, 33, &r, err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "/33"));
    assert_int_equal(freespace_compute(PREFIX_INET, &c6, 1, NULL, 0, 24, &r, err, sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "2001:db8::/32 is not IPv4"));
    assert_int_equal(freespace_compute(9, &c, 1, NULL, 0, 24, &r, err, sizeof err), -EINVAL);
    assert_null(r.blocks);
    assert_null(r.findings);
    freespace_report_clear(&r);
}

/* ---- random pools against a bitmap oracle ---- */

#define UBITS 10 /* universe of 1024 units */
#define USIZE (1u << UBITS)

static bool all_set(const unsigned char *bm, unsigned lo, unsigned n)
{
    for (unsigned i = lo; i < lo + n; i++)
        if (!bm[i])
            return false;
    return true;
}

static void check_against_bitmap(unsigned *seed, unsigned family)
{
    /* Universe: 10.0.0.0/22 in addresses, or 2001:db8::/54 in /64 units. */
    prefix_u128 base = family == PREFIX_INET ? 0x0a000000u : (prefix_u128)0x20010db8u << 96;
    unsigned ulen = family == PREFIX_INET ? 32 - UBITS : 64 - UBITS; /* 22 or 54 */
    unsigned shift = family == PREFIX_INET ? 0 : 64;                 /* unit -> address */
    prefix_t cidrs[4], uses[12];
    size_t nc = 1 + (size_t)rand_r(seed) % 3, nu = (size_t)rand_r(seed) % 12;
    unsigned char pool[USIZE] = {0}, used[USIZE] = {0};
    for (size_t i = 0; i < nc; i++) {
        unsigned len = ulen + (unsigned)rand_r(seed) % 7;
        unsigned off = (unsigned)rand_r(seed) % USIZE;
        prefix_make(&cidrs[i], family, base + ((prefix_u128)off << shift), len);
        unsigned lo = (unsigned)((cidrs[i].addr - base) >> shift), n = 1u << (ulen + UBITS - len);
        memset(pool + lo, 1, n);
    }
    for (size_t i = 0; i < nu; i++) {
        if (rand_r(seed) % 20 == 0) {
            prefix_make(&uses[i], family == PREFIX_INET ? PREFIX_INET6 : PREFIX_INET, 0, 0);
            continue;
        }
        unsigned maxlen = family == PREFIX_INET ? 32 : 80;
        unsigned len = ulen - 2 + (unsigned)rand_r(seed) % (maxlen - ulen + 3);
        unsigned off = (unsigned)rand_r(seed) % USIZE;
        prefix_u128 addr = base + ((prefix_u128)off << shift);
        if (family == PREFIX_INET6)
            addr |= (prefix_u128)(rand_r(seed) & 3) << 48; /* below /64: distinct /80s */
        prefix_make(&uses[i], family, addr, len);
    }
    unsigned netmask = ulen + (unsigned)rand_r(seed) % (family == PREFIX_INET ? 11 : 12);

    struct freespace_report r;
    char err[256];
    if (freespace_compute(family, cidrs, nc, uses, nu, netmask, &r, err, sizeof err) != 0)
        fail_msg("%s", err);

    /* Oracle: bitmaps in units. */
    bool outside[12] = {false};
    for (size_t i = 0; i < nu; i++) {
        if (uses[i].family != family) {
            outside[i] = true;
            continue;
        }
        unsigned l = uses[i].len > (shift ? 64u : 32u) ? (shift ? 64u : 32u) : uses[i].len;
        unsigned bits = (shift ? 64 : 32) - l;
        prefix_u128 a = uses[i].addr >> shift;
        prefix_u128 b0 = base >> shift;
        prefix_u128 lo = a < b0 ? b0 : a;
        prefix_u128 hi = a + (((prefix_u128)1 << bits) - 1);
        if (hi > b0 + USIZE - 1)
            hi = b0 + USIZE - 1;
        bool out = a < b0 || a + (((prefix_u128)1 << bits) - 1) > b0 + USIZE - 1;
        for (prefix_u128 u = lo; u <= hi; u++) {
            used[u - b0] = 1;
            if (!pool[u - b0])
                out = true;
        }
        outside[i] = out;
    }
    unsigned size = 0, nused = 0;
    unsigned char freebm[USIZE];
    for (unsigned i = 0; i < USIZE; i++) {
        size += pool[i];
        nused += pool[i] && used[i];
        freebm[i] = pool[i] && !used[i];
    }
    if (r.size != size || r.used != nused || r.free != size - nused)
        fail_msg("size/used/free %u/%u/%u, want %u/%u/%u", (unsigned)r.size, (unsigned)r.used,
                 (unsigned)r.free, size, nused, size - nused);
    /* Maximal aligned free blocks: free, and the aligned block twice as big is not. */
    size_t nb = 0;
    int largest = -1;
    unsigned fit = 0, unit_mask = netmask > (shift ? 64u : 32u) ? (shift ? 64u : 32u) : netmask;
    unsigned mbits = (shift ? 64 : 32) - unit_mask;
    for (unsigned b = 0; b <= UBITS; b++) {
        for (unsigned lo = 0; lo < USIZE; lo += 1u << b) {
            if (!all_set(freebm, lo, 1u << b))
                continue;
            if (b == mbits)
                fit++;
            if (b < UBITS && all_set(freebm, lo & ~((2u << b) - 1), 2u << b))
                continue;
            prefix_t want;
            prefix_make(&want, family, base + ((prefix_u128)lo << shift), (shift ? 64 : 32) - b);
            bool found = false;
            for (size_t k = 0; k < r.nblocks; k++)
                found |= prefix_cmp(&r.blocks[k], &want) == 0;
            if (!found) {
                char t[PREFIX_STRLEN];
                prefix_format(&want, t, sizeof t);
                fail_msg("free block %s missing", t);
            }
            nb++;
            if (largest < 0 || (int)want.len < largest)
                largest = want.len;
        }
    }
    assert_int_equal(r.nblocks, nb);
    for (size_t k = 1; k < r.nblocks; k++)
        assert_true(prefix_cmp(&r.blocks[k - 1], &r.blocks[k]) < 0);
    assert_int_equal(r.largest_len, largest);
    if (netmask > unit_mask)
        fit <<= netmask - unit_mask; /* longer than /64: that many per free /64 */
    if (r.fit != fit)
        fail_msg("fit /%u: %u, want %u", netmask, (unsigned)r.fit, fit);

    /* Findings: exactly the intersecting pairs and the outside uses. */
    size_t want_overlap = 0, want_outside = 0, got_overlap = 0, got_outside = 0;
    for (size_t i = 0; i < nu; i++) {
        want_outside += outside[i];
        for (size_t j = i + 1; j < nu; j++)
            want_overlap += uses[i].family == family && uses[j].family == family &&
                            prefix_intersects(&uses[i], &uses[j]);
    }
    for (size_t k = 0; k < r.nfindings; k++) {
        const struct freespace_finding *f = &r.findings[k];
        if (f->kind == FREESPACE_USE_OUTSIDE) {
            got_outside++;
            assert_true(outside[f->ia]);
        } else if (f->kind == FREESPACE_USE_OVERLAP) {
            got_overlap++;
            assert_true(f->ia != f->ib);
            assert_true(prefix_contains(&uses[f->ia], &uses[f->ib]));
        }
    }
    assert_int_equal(got_outside, want_outside);
    assert_int_equal(got_overlap, want_overlap);
    freespace_report_clear(&r);
}

static void test_random_bitmap(void **state)
{
    unsigned seed = testing_seed();
    for (int i = 0; i < 3000; i++) {
        check_against_bitmap(&seed, PREFIX_INET);
        check_against_bitmap(&seed, PREFIX_INET6);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_pool),    cmocka_unit_test(test_fragmented_pool_cannot_fit),
        cmocka_unit_test(test_full_and_empty), cmocka_unit_test(test_ipv6_units),
        cmocka_unit_test(test_findings),       cmocka_unit_test(test_errors),
        cmocka_unit_test(test_random_bitmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
