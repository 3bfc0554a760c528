/* fuzz_overlap: libFuzzer entry point driving the overlap index with insert/remove bytes.
 *
 * Every 5 input bytes are one operation on a small universe (2 domains, 8 owners, prefixes
 * in 10.0.0.0/20 and 2001:db8::/120 with now and then a short one). After each operation the
 * index is checked against a brute-force list of at most 32 entries: the result code, the
 * reference counts, the pairs a full scan finds, and that the pairs reported as created or
 * ended are exactly the ones the operation added or took away. The batch scan of the same
 * list (overlap_scan_array) must find as many pairs as the index.
 * Seed corpus: tests/fuzz/corpus/overlap/.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/overlap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXE 32

struct model {
    struct overlap_entry e[MAXE];
    unsigned refs[MAXE];
    size_t n;
};

static bool is_pair(const struct overlap_entry *x, const struct overlap_entry *y)
{
    return x->domain == y->domain && prefix_intersects(&x->prefix, &y->prefix) &&
           x->owner != y->owner && x->parent != y->owner && y->parent != x->owner;
}

static size_t model_pairs(const struct model *m)
{
    size_t k = 0;
    for (size_t i = 0; i < m->n; i++)
        for (size_t j = i + 1; j < m->n; j++)
            k += is_pair(&m->e[i], &m->e[j]);
    return k;
}

static bool same_key(const struct overlap_entry *x, const struct overlap_entry *y)
{
    return x->domain == y->domain && x->owner == y->owner &&
           prefix_cmp(&x->prefix, &y->prefix) == 0;
}

static ptrdiff_t model_find(const struct model *m, const struct overlap_entry *e)
{
    for (size_t i = 0; i < m->n; i++)
        if (same_key(&m->e[i], e))
            return (ptrdiff_t)i;
    return -1;
}

/* What one operation must report. */
struct expect {
    const struct model *m; /* entries the pair must come from */
    const struct overlap_entry *self;
    enum overlap_event ev;
    struct overlap_entry seen[MAXE]; /* the other side of every pair reported */
    size_t nseen;
};

static void check_cb(void *ctx, enum overlap_event ev, const struct overlap_entry *a,
                     const struct overlap_entry *b)
{
    struct expect *x = ctx;
    if (ev != x->ev || !is_pair(a, b))
        abort();
    /* ordered: container first, equal prefixes by owner */
    if (a->prefix.len > b->prefix.len || (a->prefix.len == b->prefix.len && a->owner > b->owner))
        abort();
    const struct overlap_entry *other;
    if (same_key(a, x->self))
        other = b;
    else if (same_key(b, x->self))
        other = a;
    else
        abort();
    ptrdiff_t k = model_find(x->m, other);
    if (k < 0 || x->m->e[k].parent != other->parent)
        abort();
    for (size_t i = 0; i < x->nseen; i++)
        if (same_key(&x->seen[i], other))
            abort(); /* reported twice */
    if (x->nseen == MAXE)
        abort();
    x->seen[x->nseen++] = *other;
}

static void count_cb(void *ctx, enum overlap_event ev, const struct overlap_entry *a,
                     const struct overlap_entry *b)
{
    if (ev != OVERLAP_PRESENT || !is_pair(a, b))
        abort();
    (*(size_t *)ctx)++;
}

static void decode(const uint8_t *b, struct overlap_entry *e)
{
    memset(e, 0, sizeof *e);
    e->domain = 1 + ((b[0] >> 1) & 1);
    e->owner = 1 + b[1] % 8;
    e->parent = b[2] % 9;
    if (b[0] & 4) {
        unsigned len = (b[3] & 0x80) ? b[3] % 129u : 120 + b[3] % 9u;
        prefix_make(&e->prefix, PREFIX_INET6, ((prefix_u128)0x20010db8u << 96) | b[4], len);
    } else {
        unsigned len = (b[3] & 0x80) ? b[3] % 33u : 20 + b[3] % 13u;
        prefix_make(&e->prefix, PREFIX_INET, 0x0a000000u | ((uint32_t)b[4] << 4), len);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct model m, before;
    static struct expect x;
    memset(&m, 0, sizeof m);
    overlap_index_t *idx = overlap_index_new();
    for (size_t off = 0; off + 5 <= size; off += 5) {
        struct overlap_entry e;
        decode(data + off, &e);
        before = m;
        size_t pairs_before = model_pairs(&m);
        ptrdiff_t k = model_find(&m, &e);
        memset(&x, 0, sizeof x);
        x.self = &e;
        if (data[off] & 1) {
            x.ev = OVERLAP_ENDED;
            x.m = &before;
            int rc = overlap_remove(idx, &e, check_cb, &x);
            if (rc != (k < 0 ? -ENOENT : 0))
                abort();
            if (k >= 0 && --m.refs[k] == 0) {
                m.e[k] = m.e[m.n - 1];
                m.refs[k] = m.refs[m.n - 1];
                m.n--;
            }
        } else {
            if (k < 0 && m.n == MAXE)
                continue;
            x.ev = OVERLAP_CREATED;
            x.m = &m;
            int want = k >= 0 && m.e[k].parent != e.parent ? -EEXIST : 0;
            if (want == 0 && k < 0) {
                m.e[m.n] = e;
                m.refs[m.n++] = 0;
                k = (ptrdiff_t)m.n - 1;
            }
            int rc = overlap_insert(idx, &e, check_cb, &x);
            if (rc != want)
                abort();
            if (rc == 0)
                m.refs[k]++;
        }
        size_t pairs_after = model_pairs(&m);
        size_t changed =
            pairs_after > pairs_before ? pairs_after - pairs_before : pairs_before - pairs_after;
        if (x.nseen != changed)
            abort();
        size_t seen = 0;
        if (overlap_scan_all(idx, count_cb, &seen) != pairs_after || seen != pairs_after)
            abort();
        size_t batch = 0;
        seen = 0;
        if (overlap_scan_array(m.e, m.n, count_cb, &seen, &batch) != 0 || batch != pairs_after ||
            seen != pairs_after)
            abort();
        if (overlap_count(idx) != m.n)
            abort();
        for (size_t i = 0; i < m.n; i++)
            if (overlap_refcount(idx, &m.e[i]) != m.refs[i])
                abort();
    }
    overlap_index_free(idx);
    return 0;
}
