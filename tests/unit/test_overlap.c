/* Unit tests for overlap: table cases and random insert/remove against an O(n^2) oracle. */
#include "testing.h"

#include <errno.h>
#include <string.h>

#include "analyzer/overlap.h"

struct pair_key {
    uint32_t domain;
    prefix_t a, b;
    uint32_t oa, pa, ob, pb;
};

struct pairs {
    struct pair_key *v;
    size_t n, cap;
};

static void pairs_add(struct pairs *ps, const struct overlap_entry *a,
                      const struct overlap_entry *b)
{
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 64;
        ps->v = realloc(ps->v, ps->cap * sizeof *ps->v);
        assert_non_null(ps->v);
    }
    struct pair_key *k = &ps->v[ps->n++];
    memset(k, 0, sizeof *k);
    k->domain = a->domain;
    k->a = a->prefix;
    k->b = b->prefix;
    k->oa = a->owner;
    k->pa = a->parent;
    k->ob = b->owner;
    k->pb = b->parent;
}

static int cmp_u32(uint32_t x, uint32_t y)
{
    return x < y ? -1 : x > y;
}

static int cmp_pair(const void *x, const void *y)
{
    const struct pair_key *p = x, *q = y;
    int c;
    if ((c = cmp_u32(p->domain, q->domain)) || (c = prefix_cmp(&p->a, &q->a)) ||
        (c = cmp_u32(p->oa, q->oa)) || (c = prefix_cmp(&p->b, &q->b)) ||
        (c = cmp_u32(p->ob, q->ob)) || (c = cmp_u32(p->pa, q->pa)) || (c = cmp_u32(p->pb, q->pb)))
        return c;
    return 0;
}

static void pairs_sort(struct pairs *ps)
{
    if (ps->n)
        qsort(ps->v, ps->n, sizeof *ps->v, cmp_pair);
}

static void pair_text(const struct pair_key *k, char *buf, size_t len)
{
    char a[PREFIX_STRLEN], b[PREFIX_STRLEN];
    prefix_format(&k->a, a, sizeof a);
    prefix_format(&k->b, b, sizeof b);
    snprintf(buf, len, "d%u %s(o%u p%u) x %s(o%u p%u)", k->domain, a, k->oa, k->pa, b, k->ob,
             k->pb);
}

/* Fails unless the two sorted sets are equal, naming the first difference. */
static void pairs_expect_equal(struct pairs *got, struct pairs *want, const char *what)
{
    pairs_sort(got);
    pairs_sort(want);
    size_t i = 0, j = 0;
    while (i < got->n || j < want->n) {
        int c = i == got->n ? 1 : j == want->n ? -1 : cmp_pair(&got->v[i], &want->v[j]);
        if (c == 0) {
            i++;
            j++;
            continue;
        }
        char t[256];
        pair_text(c < 0 ? &got->v[i] : &want->v[j], t, sizeof t);
        fail_msg("%s: %s pair %s (got %zu pairs, want %zu)", what, c < 0 ? "unexpected" : "missing",
                 t, got->n, want->n);
    }
}

struct recorder {
    struct pairs created, ended, present;
    size_t bad_events;
};

static void record_cb(void *ctx, enum overlap_event ev, const struct overlap_entry *a,
                      const struct overlap_entry *b)
{
    struct recorder *r = ctx;
    switch (ev) {
    case OVERLAP_CREATED:
        pairs_add(&r->created, a, b);
        break;
    case OVERLAP_ENDED:
        pairs_add(&r->ended, a, b);
        break;
    case OVERLAP_PRESENT:
        pairs_add(&r->present, a, b);
        break;
    default:
        r->bad_events++;
    }
}

static void recorder_reset(struct recorder *r)
{
    r->created.n = r->ended.n = r->present.n = 0;
}

static void recorder_free(struct recorder *r)
{
    free(r->created.v);
    free(r->ended.v);
    free(r->present.v);
}

static struct overlap_entry E(uint32_t domain, const char *cidr, uint32_t owner, uint32_t parent) {
    struct overlap_entry e = {.domain = domain, .owner = owner, .parent = parent};
    char err[128];
    if (prefix_parse(cidr, &e.prefix, err, sizeof err) != 0)
        fail_msg("%s", err);
    return e;
}

static void
test_vpc_and_subnets(void **state)
{
    overlap_index_t *idx = overlap_index_new();
    struct recorder r = {0};
    struct overlap_entry vpc = E(1, "10.0.0.0/16", 100, 0);
    struct overlap_entry sub = E(1, "10.0.1.0/24", 101, 100);
    struct overlap_entry sub2 = E(1, "10.0.2.0/24", 102, 100);
    assert_int_equal(overlap_insert(idx, &vpc, record_cb, &r), 0);
    assert_int_equal(overlap_insert(idx, &sub, record_cb, &r), 0);
    assert_int_equal(overlap_insert(idx, &sub2, record_cb, &r), 0);
    assert_int_equal(r.created.n, 0); /* subnets inside their own VPC */
    assert_int_equal(overlap_scan(idx, 1, record_cb, &r), 0);

    /* A second VPC with the same CIDR overlaps the VPC and both subnets. */
    struct overlap_entry vpc2 = E(1, "10.0.0.0/16", 200, 0);
    assert_int_equal(overlap_insert(idx, &vpc2, record_cb, &r), 0);
    assert_int_equal(r.created.n, 3);
    /* ordering: equal prefixes by owner; the container first */
    pairs_sort(&r.created);
    assert_int_equal(r.created.v[0].oa, 100);
    assert_int_equal(r.created.v[0].ob, 200);
    assert_int_equal(r.created.v[1].oa, 200);
    assert_int_equal(r.created.v[1].ob, 101);
    assert_int_equal(r.created.v[1].pb, 100);
    assert_int_equal(r.created.v[2].ob, 102);
    assert_int_equal(overlap_scan(idx, 1, NULL, NULL), 3);

    /* A different domain never pairs. */
    struct overlap_entry other = E(2, "10.0.0.0/8", 300, 0);
    recorder_reset(&r);
    assert_int_equal(overlap_insert(idx, &other, record_cb, &r), 0);
    assert_int_equal(r.created.n, 0);
    assert_int_equal(overlap_scan(idx, 2, NULL, NULL), 0);
    assert_int_equal(overlap_scan_all(idx, NULL, NULL), 3);

    /* Removing the second VPC ends exactly its three pairs. */
    assert_int_equal(overlap_remove(idx, &vpc2, record_cb, &r), 0);
    assert_int_equal(r.ended.n, 3);
    assert_int_equal(overlap_scan(idx, 1, NULL, NULL), 0);
    assert_int_equal(overlap_count(idx), 4);
    assert_int_equal(r.bad_events, 0);
    recorder_free(&r);
    overlap_index_free(idx);
}

static void test_edges(void **state)
{
    overlap_index_t *idx = overlap_index_new();
    struct recorder r = {0};
    const struct overlap_entry es[] = {
        E(7, "0.0.0.0/0", 1, 0),
        E(7, "255.255.255.255/32", 2, 0),
        E(7, "10.0.0.0/16", 3, 0),
        E(7, "10.1.0.0/16", 4, 0), /* adjacent to 3 */
        E(7, "::/0", 5, 0),
        E(7, "::ffff:10.0.0.0/104", 6, 0),
        E(7, "2001:db8::/56", 7, 0),
        E(7, "2001:db8:0:100::/56", 8, 0),
        E(7, "2001:db8::1/128", 9, 7),
        E(7, "::/128", 10, 0),
    };
    for (size_t i = 0; i < sizeof es / sizeof es[0]; i++)
        assert_int_equal(overlap_insert(idx, &es[i], record_cb, &r), 0);
    /* v4: 0/0 with 3 others; v6: ::/0 with 5 others, 7 and 9 excluded (parent). */
    assert_int_equal(overlap_scan(idx, 7, record_cb, &r), 3 + 5);
    assert_int_equal(r.created.n, 8);
    pairs_expect_equal(&r.created, &r.present, "created vs scan");
    /* Scan order: IPv4 first, ascending by the contained prefix. */
    recorder_reset(&r);
    overlap_scan(idx, 7, record_cb, &r);
    for (size_t i = 1; i < r.present.n; i++)
        assert_true(prefix_cmp(&r.present.v[i - 1].b, &r.present.v[i].b) <= 0);
    for (size_t i = 0; i < r.present.n; i++)
        assert_true(prefix_contains(&r.present.v[i].a, &r.present.v[i].b));
    recorder_free(&r);
    overlap_index_free(idx);
}

static void test_duplicates_and_errors(void **state)
{
    overlap_index_t *idx = overlap_index_new();
    struct recorder r = {0};
    struct overlap_entry a = E(1, "10.0.0.0/24", 1, 0);
    struct overlap_entry b = E(1, "10.0.0.0/24", 2, 0);
    assert_int_equal(overlap_insert(idx, &a, record_cb, &r), 0);
    assert_int_equal(overlap_insert(idx, &b, record_cb, &r), 0);
    assert_int_equal(r.created.n, 1);
    /* Identical duplicate: refcount, no new pair. */
    assert_int_equal(overlap_insert(idx, &a, record_cb, &r), 0);
    assert_int_equal(r.created.n, 1);
    assert_int_equal(overlap_refcount(idx, &a), 2);
    assert_int_equal(overlap_count(idx), 2);
    assert_int_equal(overlap_remove(idx, &a, record_cb, &r), 0);
    assert_int_equal(r.ended.n, 0);
    assert_int_equal(overlap_scan(idx, 1, NULL, NULL), 1);
    assert_int_equal(overlap_remove(idx, &a, record_cb, &r), 0);
    assert_int_equal(r.ended.n, 1);
    assert_int_equal(overlap_refcount(idx, &a), 0);
    assert_int_equal(overlap_remove(idx, &a, record_cb, &r), -ENOENT);

    /* Same key with another parent is refused. */
    struct overlap_entry b2 = b;
    b2.parent = 9;
    assert_int_equal(overlap_insert(idx, &b2, record_cb, &r), -EEXIST);
    /* Owner 0 and host bits are refused. */
    struct overlap_entry z = E(1, "10.0.0.0/24", 0, 0);
    assert_int_equal(overlap_insert(idx, &z, NULL, NULL), -EINVAL);
    struct overlap_entry hb = b;
    hb.prefix.addr |= 1;
    assert_int_equal(overlap_insert(idx, &hb, NULL, NULL), -EINVAL);
    struct overlap_entry fam = b;
    fam.prefix.family = 5;
    assert_int_equal(overlap_insert(idx, &fam, NULL, NULL), -EINVAL);
    /* Removing what is not there. */
    struct overlap_entry nx = E(1, "10.0.0.0/25", 2, 0);
    assert_int_equal(overlap_remove(idx, &nx, NULL, NULL), -ENOENT);
    nx = E(3, "10.0.0.0/24", 2, 0);
    assert_int_equal(overlap_remove(idx, &nx, NULL, NULL), -ENOENT);
    nx = E(1, "10.0.0.0/24", 3, 0);
    assert_int_equal(overlap_remove(idx, &nx, NULL, NULL), -ENOENT);
    /* Removal ignores the parent given. */
    assert_int_equal(overlap_remove(idx, &b2, NULL, NULL), 0);
    assert_int_equal(overlap_count(idx), 0);
    overlap_index_free(idx);
    overlap_index_free(NULL);
    recorder_free(&r);
}

/* ---- randomized against the oracle ---- */

struct oentry {
    struct overlap_entry e;
    unsigned refs;
};

static bool excluded(const struct overlap_entry *x, const struct overlap_entry *y)
{
    return x->owner == y->owner || x->parent == y->owner || y->parent == x->owner;
}

static void oracle_pairs(const struct oentry *v, size_t n, struct pairs *out)
{
    out->n = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            const struct overlap_entry *x = &v[i].e, *y = &v[j].e;
            if (x->domain != y->domain || !prefix_intersects(&x->prefix, &y->prefix) ||
                excluded(x, y))
                continue;
            bool x_first = x->prefix.len < y->prefix.len ||
                           (x->prefix.len == y->prefix.len && x->owner < y->owner);
            if (x_first)
                pairs_add(out, x, y);
            else
                pairs_add(out, y, x);
        }
    }
}

/* Pairs in a but not in b (both sorted). */
static void pairs_minus(const struct pairs *a, const struct pairs *b, struct pairs *out)
{
    out->n = 0;
    size_t j = 0;
    for (size_t i = 0; i < a->n; i++) {
        while (j < b->n && cmp_pair(&b->v[j], &a->v[i]) < 0)
            j++;
        if (j < b->n && cmp_pair(&b->v[j], &a->v[i]) == 0)
            continue;
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 64;
            out->v = realloc(out->v, out->cap * sizeof *out->v);
        }
        out->v[out->n++] = a->v[i];
    }
}

static prefix_t random_prefix(unsigned *seed)
{
    prefix_t p;
    if (rand_r(seed) % 2) {
        /* IPv4 inside 10.0.0.0/20, /18 to /32, dense so that prefixes collide */
        unsigned len = 18 + (unsigned)rand_r(seed) % 15;
        uint32_t a = 0x0a000000u | ((uint32_t)rand_r(seed) & 0xfffu);
        if (rand_r(seed) % 4 == 0)
            len = (unsigned)rand_r(seed) % 33; /* now and then a short one, down to /0 */
        prefix_make(&p, PREFIX_INET, a, len);
    } else {
        /* IPv6 near 2001:db8::/48 with bits at both ends */
        unsigned len = 44 + (unsigned)rand_r(seed) % 21;
        prefix_u128 a =
            ((prefix_u128)0x20010db8u << 96) | ((prefix_u128)(rand_r(seed) & 0xff) << 72);
        if (rand_r(seed) % 5 == 0) {
            len = 120 + (unsigned)rand_r(seed) % 9;
            a |= (prefix_u128)(rand_r(seed) & 0xff);
        }
        if (rand_r(seed) % 10 == 0)
            len = (unsigned)rand_r(seed) % 129;
        prefix_make(&p, PREFIX_INET6, a, len);
    }
    return p;
}

static void run_random(unsigned seed, int steps, size_t max_entries)
{
    overlap_index_t *idx = overlap_index_new();
    struct recorder r = {0};
    struct oentry *v = calloc(max_entries + 1, sizeof *v);
    size_t n = 0;
    struct pairs before = {0}, after = {0}, diff = {0};

    for (int step = 0; step < steps; step++) {
        recorder_reset(&r);
        oracle_pairs(v, n, &before);
        pairs_sort(&before);
        int op = rand_r(&seed) % 10;
        if ((op < 5 && n < max_entries) || n == 0) {
            struct overlap_entry e;
            memset(&e, 0, sizeof e);
            e.prefix = random_prefix(&seed);
            e.domain = 1 + (uint32_t)rand_r(&seed) % 2;
            e.owner = 1 + (uint32_t)rand_r(&seed) % 16;
            e.parent = rand_r(&seed) % 3 ? 0 : 1 + (uint32_t)rand_r(&seed) % 16;
            /* expected result from the oracle */
            size_t k;
            for (k = 0; k < n; k++)
                if (v[k].e.domain == e.domain && v[k].e.owner == e.owner &&
                    prefix_cmp(&v[k].e.prefix, &e.prefix) == 0)
                    break;
            int want = 0;
            if (k < n && v[k].e.parent != e.parent)
                want = -EEXIST;
            int rc = overlap_insert(idx, &e, record_cb, &r);
            if (rc != want)
                fail_msg("step %d: insert rc %d, want %d", step, rc, want);
            if (rc == 0 && k < n)
                v[k].refs++;
            else if (rc == 0)
                v[n++] = (struct oentry){e, 1};
        } else if (op < 9) {
            /* remove a present entry (sometimes one reference of several) */
            size_t k = (size_t)rand_r(&seed) % n;
            struct overlap_entry e = v[k].e;
            e.parent = 12345; /* ignored by remove */
            assert_int_equal(overlap_remove(idx, &e, record_cb, &r), 0);
            if (--v[k].refs == 0)
                v[k] = v[--n];
        } else {
            /* remove something absent */
            struct overlap_entry e = {.prefix = random_prefix(&seed), .domain = 3, .owner = 1};
            assert_int_equal(overlap_remove(idx, &e, record_cb, &r), -ENOENT);
        }
        oracle_pairs(v, n, &after);
        pairs_sort(&after);
        char what[64];
        pairs_minus(&after, &before, &diff);
        snprintf(what, sizeof what, "step %d created", step);
        pairs_expect_equal(&r.created, &diff, what);
        pairs_minus(&before, &after, &diff);
        snprintf(what, sizeof what, "step %d ended", step);
        pairs_expect_equal(&r.ended, &diff, what);
        size_t count = overlap_scan_all(idx, record_cb, &r);
        assert_int_equal(count, r.present.n);
        snprintf(what, sizeof what, "step %d scan", step);
        pairs_expect_equal(&r.present, &after, what);
        assert_int_equal(overlap_count(idx), n);
        for (size_t k = 0; k < n; k++)
            assert_int_equal(overlap_refcount(idx, &v[k].e), v[k].refs);
    }
    assert_int_equal(r.bad_events, 0);
    /* Drain: everything goes, every pair ends. */
    while (n > 0) {
        assert_int_equal(overlap_remove(idx, &v[n - 1].e, NULL, NULL), 0);
        if (--v[n - 1].refs == 0)
            n--;
    }
    assert_int_equal(overlap_count(idx), 0);
    assert_int_equal(overlap_scan_all(idx, NULL, NULL), 0);
    free(before.v);
    free(after.v);
    free(diff.v);
    free(v);
    recorder_free(&r);
    overlap_index_free(idx);
}

static void test_random_small(void **state)
{
    run_random(testing_seed(), 20000, 12);
}

static void test_random_larger(void **state)
{
    run_random(testing_seed() + 1, 4000, 80);
}

/* ---- batch scan (overlap_scan_array) against the index and the oracle ---- */

/* 30 random bits. */
static uint64_t rnd_bits(unsigned *seed)
{
    return (uint64_t)(rand_r(seed) & 0x7fff) << 15 | (uint64_t)(rand_r(seed) & 0x7fff);
}

static uint64_t mix64(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 29);
}

static uint64_t entry_hash(uint64_t h, const struct overlap_entry *e)
{
    h = mix64(h, e->domain);
    h = mix64(h, (uint64_t)(e->prefix.addr >> 64));
    h = mix64(h, (uint64_t)e->prefix.addr);
    h = mix64(h, (uint64_t)e->prefix.family << 8 | e->prefix.len);
    h = mix64(h, (uint64_t)e->owner << 32 | e->parent);
    return h;
}

/* Order-independent digest of a pair set (orientation included), plus the batch scan's
 * promises checked on the fly: pointers into the input, domains ascending, IPv4 before IPv6,
 * contained entries in prefix order. */
struct digest {
    size_t pairs;
    uint64_t sum, xor;
    const struct overlap_entry *base; /* input array, or NULL to skip the order checks */
    size_t n;
    bool have_last;
    struct overlap_entry last;
    size_t bad;
};

static void digest_cb(void *ctx, enum overlap_event ev, const struct overlap_entry *a,
                      const struct overlap_entry *b)
{
    struct digest *d = ctx;
    uint64_t h = entry_hash(entry_hash(0x1234, a), b);
    d->pairs++;
    d->sum += h;
    d->xor ^= h;
    if (ev != OVERLAP_PRESENT || !prefix_contains(&a->prefix, &b->prefix))
        d->bad++;
    if (!d->base)
        return;
    if (a < d->base || a >= d->base + d->n || b < d->base || b >= d->base + d->n)
        d->bad++;
    if (d->have_last) {
        const struct overlap_entry *l = &d->last;
        if (b->domain < l->domain ||
            (b->domain == l->domain && prefix_cmp(&b->prefix, &l->prefix) < 0))
            d->bad++;
    }
    d->last = *b;
    d->have_last = true;
}

/* Inserts es into a fresh index and checks that overlap_scan_array() reports the same pairs
 * as overlap_scan_all(), in the promised order. Returns the number of pairs. */
static size_t check_scan_array(const struct overlap_entry *es, size_t n)
{
    overlap_index_t *idx = overlap_index_new();
    for (size_t i = 0; i < n; i++)
        assert_int_equal(overlap_insert(idx, &es[i], NULL, NULL), 0);
    struct digest want = {0}, got = {.base = es, .n = n};
    size_t k_index = overlap_scan_all(idx, digest_cb, &want);
    size_t k_batch = 12345;
    assert_int_equal(overlap_scan_array(es, n, digest_cb, &got, &k_batch), 0);
    assert_int_equal(k_batch, got.pairs);
    if (got.pairs != want.pairs || got.sum != want.sum || got.xor != want.xor)
        fail_msg("batch scan: %zu pairs, index: %zu (digests %s)", got.pairs, want.pairs,
                 got.sum == want.sum ? "equal" : "differ");
    assert_int_equal(k_index, want.pairs);
    assert_int_equal(got.bad, 0);
    assert_int_equal(want.bad, 0);
    overlap_index_free(idx);
    return got.pairs;
}

/* Small random sets in dense address space: the exact pair list equals the O(n^2) oracle's
 * and the index's. */
static void test_scan_array_oracle(void **state)
{
    unsigned seed = testing_seed();
    static const uint32_t domains[] = {7, 1, 0xffffffffu, 0};
    struct overlap_entry *es = calloc(400, sizeof *es);
    struct oentry *v = calloc(400, sizeof *v);
    struct pairs want = {0};
    struct recorder r = {0};
    uint32_t parent_of[40];
    for (int round = 0; round < 300; round++) {
        for (int o = 0; o < 40; o++)
            parent_of[o] = rand_r(&seed) % 3 ? 0 : 1 + (uint32_t)rand_r(&seed) % 39;
        size_t n = (size_t)rand_r(&seed) % 400, nv = 0;
        for (size_t i = 0; i < n; i++) {
            if (i > 0 && rand_r(&seed) % 10 == 0) {
                es[i] = es[(size_t)rand_r(&seed) % i]; /* identical: counted once */
                continue;
            }
            memset(&es[i], 0, sizeof es[i]);
            es[i].prefix = random_prefix(&seed);
            es[i].domain = domains[rand_r(&seed) % 4];
            es[i].owner = 1 + (uint32_t)rand_r(&seed) % 39;
            es[i].parent = parent_of[es[i].owner];
        }
        for (size_t i = 0; i < n; i++) {
            size_t k;
            for (k = 0; k < nv; k++)
                if (v[k].e.domain == es[i].domain && v[k].e.owner == es[i].owner &&
                    prefix_cmp(&v[k].e.prefix, &es[i].prefix) == 0)
                    break;
            if (k == nv)
                v[nv++] = (struct oentry){es[i], 1};
        }
        oracle_pairs(v, nv, &want);
        recorder_reset(&r);
        size_t k = 0;
        assert_int_equal(overlap_scan_array(es, n, record_cb, &r, &k), 0);
        assert_int_equal(k, r.present.n);
        char what[64];
        snprintf(what, sizeof what, "round %d (%zu entries)", round, n);
        pairs_expect_equal(&r.present, &want, what);
        assert_int_equal(check_scan_array(es, n), want.n);
    }
    free(want.v);
    free(es);
    free(v);
    recorder_free(&r);
}

/* 100,000 entries in realistic shapes plus the hard cases: long runs of one prefix with many
 * owners, identical repeats, /0 and host routes, both families, several domains. Pair set
 * equal to the index's. */
static void test_scan_array_large(void **state)
{
    unsigned seed = testing_seed();
    enum { N = 100000, OWNERS = 30000 };
    struct overlap_entry *es = calloc(N, sizeof *es);
    uint32_t *parent_of = calloc(OWNERS + 1, sizeof *parent_of);
    for (uint32_t o = 1; o <= OWNERS; o++)
        parent_of[o] = rand_r(&seed) % 4 ? 0 : 1 + (uint32_t)rand_r(&seed) % OWNERS;
    for (size_t i = 0; i < N; i++) {
        struct overlap_entry *e = &es[i];
        int kind = rand_r(&seed) % 100;
        if (i > 0 && kind < 5) {
            *e = es[(size_t)rand_r(&seed) % i];
            continue;
        }
        e->domain = 1000 - (uint32_t)rand_r(&seed) % 4;
        e->owner = 1 + (uint32_t)rand_r(&seed) % OWNERS;
        e->parent = parent_of[e->owner];
        if (kind < 70) {
            uint32_t a = 0x0a000000u | ((uint32_t)rand_r(&seed) & 0xffffffu);
            prefix_make(&e->prefix, PREFIX_INET, a, 16 + (unsigned)rand_r(&seed) % 17);
        } else if (kind < 90) {
            prefix_u128 a = (prefix_u128)0x26001f00u << 96 | (prefix_u128)rnd_bits(&seed) << 66 |
                            (prefix_u128)rnd_bits(&seed) << 36 | rnd_bits(&seed);
            prefix_make(&e->prefix, PREFIX_INET6, a, 40 + (unsigned)rand_r(&seed) % 89);
        } else if (kind < 91) {
            prefix_make(&e->prefix, PREFIX_INET, 0xac100500u, 24); /* hot prefixes */
        } else if (kind < 92) {
            prefix_make(&e->prefix, PREFIX_INET6, (prefix_u128)0x20010db8u << 96, 56);
        } else {
            /* dense: deep nesting in one /16 */
            uint32_t a = 0x0a010000u | ((uint32_t)rand_r(&seed) & 0xffffu);
            prefix_make(&e->prefix, PREFIX_INET, a, 20 + (unsigned)rand_r(&seed) % 13);
        }
    }
    /* A few short prefixes over everything. */
    prefix_make(&es[0].prefix, PREFIX_INET, 0, 0);
    prefix_make(&es[1].prefix, PREFIX_INET, 0x0a000000u, 8);
    prefix_make(&es[2].prefix, PREFIX_INET6, 0, 0);
    prefix_make(&es[3].prefix, PREFIX_INET6, (prefix_u128)0x26001f00u << 96, 24);
    size_t pairs = check_scan_array(es, N);
    printf("# %zu pairs among %d entries\n", pairs, N);
    assert_true(pairs > 100000); /* the hard cases are there in numbers */
    free(es);
    free(parent_of);
}

static void test_scan_array_errors(void **state)
{
    struct overlap_entry es[] = {
        E(1, "10.0.0.0/16", 1, 0),
        E(1, "10.0.1.0/24", 2, 0),
        E(1, "10.0.2.0/24", 3, 0),
    };
    struct recorder r = {0};
    size_t k = 99;
    assert_int_equal(overlap_scan_array(es, 0, record_cb, &r, &k), 0);
    assert_int_equal(k, 0);
    assert_int_equal(overlap_scan_array(es, 3, NULL, NULL, NULL), 0);
    assert_int_equal(overlap_scan_array(es, 3, record_cb, &r, &k), 0);
    assert_int_equal(k, 2);
    assert_int_equal(r.present.n, 2);
    recorder_reset(&r);

    /* Refused inputs report nothing. */
    struct overlap_entry bad[3];
    memcpy(bad, es, sizeof bad);
    bad[2].owner = 0;
    assert_int_equal(overlap_scan_array(bad, 3, record_cb, &r, &k), -EINVAL);
    memcpy(bad, es, sizeof bad);
    bad[2].prefix.addr |= 1; /* host bits */
    assert_int_equal(overlap_scan_array(bad, 3, record_cb, &r, &k), -EINVAL);
    memcpy(bad, es, sizeof bad);
    bad[2].prefix.len = 33;
    assert_int_equal(overlap_scan_array(bad, 3, record_cb, &r, &k), -EINVAL);
    memcpy(bad, es, sizeof bad);
    bad[2].prefix.family = 5;
    assert_int_equal(overlap_scan_array(bad, 3, record_cb, &r, &k), -EINVAL);
    memcpy(bad, es, sizeof bad);
    bad[2] = bad[1];
    bad[2].parent = 1; /* same (domain, prefix, owner), another parent */
    assert_int_equal(overlap_scan_array(bad, 3, record_cb, &r, &k), -EEXIST);
    assert_int_equal(k, 0);
    assert_int_equal(r.present.n, 0);
    /* The same key in another domain is another entry. */
    bad[2].domain = 2;
    assert_int_equal(overlap_scan_array(bad, 3, record_cb, &r, &k), 0);
    assert_int_equal(k, 1);
    recorder_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vpc_and_subnets),       cmocka_unit_test(test_edges),
        cmocka_unit_test(test_duplicates_and_errors), cmocka_unit_test(test_random_small),
        cmocka_unit_test(test_random_larger),         cmocka_unit_test(test_scan_array_oracle),
        cmocka_unit_test(test_scan_array_large),      cmocka_unit_test(test_scan_array_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
