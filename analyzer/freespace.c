/* freespace: free-space accounting of one pool in planning units, with input findings. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "freespace.h"
#include "xalloc.h"

struct urange {
    prefix_u128 lo, hi; /* inclusive */
};

struct sorted_ref {
    const prefix_t *p;
    size_t i;
};

struct ctx {
    unsigned family;
    unsigned uwidth; /* bits of unit space: 32 or 64 */
    struct freespace_report *out;
    size_t fcap, bcap;
};

static prefix_u128 low_mask(unsigned bits)
{
    return bits >= 128 ? ~(prefix_u128)0 : (((prefix_u128)1) << bits) - 1;
}

/* Unit range covered by p (a v6 prefix longer than /64 covers its whole /64). */
static struct urange unit_range(const struct ctx *c, const prefix_t *p)
{
    struct urange r;
    if (c->family == PREFIX_INET) {
        r.lo = p->addr;
        r.hi = p->addr | low_mask(32u - p->len);
    } else {
        unsigned ulen = p->len > 64 ? 64 : p->len;
        r.lo = p->addr >> 64;
        r.hi = r.lo | low_mask(64u - ulen);
    }
    return r;
}

static int cmp_ref(const void *a, const void *b)
{
    const struct sorted_ref *x = a, *y = b;
    int c = prefix_cmp(x->p, y->p);
    if (c)
        return c;
    return x->i < y->i ? -1 : x->i > y->i;
}

static int cmp_urange(const void *a, const void *b)
{
    const struct urange *x = a, *y = b;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    return x->hi < y->hi ? -1 : x->hi > y->hi;
}

static void add_finding(struct ctx *c, enum freespace_finding_kind kind, const prefix_t *a,
                        size_t ia, const prefix_t *b, size_t ib)
{
    struct freespace_report *r = c->out;
    r->findings = xgrow(r->findings, &c->fcap, r->nfindings + 1, sizeof *r->findings);
    struct freespace_finding *f = &r->findings[r->nfindings++];
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->a = *a;
    f->ia = ia;
    f->ib = SIZE_MAX;
    if (b) {
        f->b = *b;
        f->ib = ib;
    }
}

/* Reports every pair of intersecting prefixes among refs (sorted by prefix_cmp): since CIDRs
 * nest, a sweep keeping the chain of enclosing prefixes finds each pair once. */
static void nested_pairs(struct ctx *c, const struct sorted_ref *refs, size_t n,
                         enum freespace_finding_kind kind)
{
    size_t *stack = NULL, cap = 0, sp = 0;
    for (size_t k = 0; k < n; k++) {
        while (sp > 0 && !prefix_contains(refs[stack[sp - 1]].p, refs[k].p))
            sp--;
        for (size_t j = 0; j < sp; j++) {
            const struct sorted_ref *o = &refs[stack[j]];
            add_finding(c, kind, o->p, o->i, refs[k].p, refs[k].i);
        }
        stack = xgrow(stack, &cap, sp + 1, sizeof *stack);
        stack[sp++] = k;
    }
    free(stack);
}

/* Sorts and merges ranges that overlap or touch, in place; returns the new count. */
static size_t merge_ranges(struct urange *r, size_t n)
{
    if (n == 0)
        return 0;
    qsort(r, n, sizeof *r, cmp_urange);
    size_t m = 0;
    for (size_t k = 1; k < n; k++) {
        if (r[k].lo <= r[m].hi || r[k].lo - 1 == r[m].hi) {
            if (r[k].hi > r[m].hi)
                r[m].hi = r[k].hi;
        } else {
            r[++m] = r[k];
        }
    }
    return m + 1;
}

static void add_block(struct ctx *c, prefix_u128 lo, unsigned ulen)
{
    struct freespace_report *r = c->out;
    r->blocks = xgrow(r->blocks, &c->bcap, r->nblocks + 1, sizeof *r->blocks);
    prefix_t *p = &r->blocks[r->nblocks++];
    if (c->family == PREFIX_INET)
        prefix_make(p, PREFIX_INET, lo, ulen);
    else
        prefix_make(p, PREFIX_INET6, lo << 64, ulen);
}

/* Cuts [lo, hi] into maximal aligned blocks. */
static void decompose(struct ctx *c, prefix_u128 lo, prefix_u128 hi)
{
    for (;;) {
        unsigned k = c->uwidth;
        if (lo != 0) {
            uint64_t l64 = (uint64_t)lo; /* unit space is at most 64 bits wide */
            k = (unsigned)__builtin_ctzll(l64);
            if (k > c->uwidth)
                k = c->uwidth;
        }
        while (k > 0 && lo + low_mask(k) > hi)
            k--;
        add_block(c, lo, c->uwidth - k);
        prefix_u128 end = lo + low_mask(k);
        if (end >= hi)
            return;
        lo = end + 1;
    }
}

/* Is the real address range of p inside one of the merged real ranges? */
static bool inside(const struct urange *real, size_t n, const prefix_t *p)
{
    prefix_u128 lo = prefix_first(p), hi = prefix_last(p);
    size_t a = 0, b = n;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (real[mid].hi < lo)
            a = mid + 1;
        else
            b = mid;
    }
    return a < n && real[a].lo <= lo && hi <= real[a].hi;
}

int freespace_compute(unsigned family, const prefix_t *cidrs, size_t ncidrs, const prefix_t *uses,
                      size_t nuses, unsigned netmask, struct freespace_report *out, char *err,
                      size_t errlen)
{
    struct ctx c = {family, family == PREFIX_INET ? 32u : 64u, out, 0, 0};
    struct sorted_ref *refs = NULL;
    struct urange *pool = NULL, *real = NULL, *used = NULL;
    int rc = -EINVAL;

    memset(out, 0, sizeof *out);
    out->family = family;
    out->netmask = netmask;
    out->largest_len = -1;
    if (family != PREFIX_INET && family != PREFIX_INET6) {
        snprintf(err, errlen, "freespace: unknown address family %u", family);
        goto fail;
    }
    if (netmask > prefix_width(family)) {
        snprintf(err, errlen, "freespace: netmask /%u is longer than the family allows (/%u)",
                 netmask, prefix_width(family));
        goto fail;
    }
    for (size_t k = 0; k < ncidrs; k++) {
        if (cidrs[k].family != family) {
            char t[PREFIX_STRLEN];
            prefix_format(&cidrs[k], t, sizeof t);
            snprintf(err, errlen, "freespace: pool CIDR %s is not IPv%u", t, family);
            goto fail;
        }
    }

    /* Provisioned CIDRs: overlapping ones are findings; their union is the pool. */
    size_t nref = ncidrs > nuses ? ncidrs : nuses;
    refs = xcalloc(nref ? nref : 1, sizeof *refs);
    pool = xcalloc(ncidrs ? ncidrs : 1, sizeof *pool);
    real = xcalloc(ncidrs ? ncidrs : 1, sizeof *real);
    for (size_t k = 0; k < ncidrs; k++) {
        refs[k] = (struct sorted_ref){&cidrs[k], k};
        pool[k] = unit_range(&c, &cidrs[k]);
        real[k] = (struct urange){prefix_first(&cidrs[k]), prefix_last(&cidrs[k])};
    }
    qsort(refs, ncidrs, sizeof *refs, cmp_ref);
    nested_pairs(&c, refs, ncidrs, FREESPACE_POOL_OVERLAP);
    size_t npool = merge_ranges(pool, ncidrs);
    size_t nreal = merge_ranges(real, ncidrs);

    /* Uses: outside ones are findings (their inside part still counts), overlaps too. */
    used = xcalloc(nuses ? nuses : 1, sizeof *used);
    size_t nref_uses = 0, nused = 0;
    for (size_t k = 0; k < nuses; k++) {
        if (uses[k].family != family) {
            add_finding(&c, FREESPACE_USE_OUTSIDE, &uses[k], k, NULL, 0);
            continue;
        }
        if (!inside(real, nreal, &uses[k]))
            add_finding(&c, FREESPACE_USE_OUTSIDE, &uses[k], k, NULL, 0);
        refs[nref_uses++] = (struct sorted_ref){&uses[k], k};
        used[nused++] = unit_range(&c, &uses[k]);
    }
    qsort(refs, nref_uses, sizeof *refs, cmp_ref);
    nested_pairs(&c, refs, nref_uses, FREESPACE_USE_OVERLAP);
    nused = merge_ranges(used, nused);

    /* Walk pool ranges against the union of uses: used units and the free gaps. */
    size_t u = 0;
    for (size_t k = 0; k < npool; k++) {
        prefix_u128 lo = pool[k].lo, hi = pool[k].hi;
        out->size += hi - lo + 1;
        prefix_u128 cur = lo; /* first unit not yet accounted */
        bool done = false;
        while (u < nused && used[u].hi < lo)
            u++;
        for (size_t v = u; v < nused && used[v].lo <= hi; v++) {
            prefix_u128 a = used[v].lo > cur ? used[v].lo : cur;
            prefix_u128 b = used[v].hi < hi ? used[v].hi : hi;
            if (a > cur)
                decompose(&c, cur, a - 1);
            out->used += b - a + 1;
            if (b == hi) {
                done = true;
                break;
            }
            cur = b + 1;
        }
        if (!done)
            decompose(&c, cur, hi);
    }
    out->free = out->size - out->used;

    /* Largest block and how many /netmask blocks fit. */
    unsigned um = family == PREFIX_INET ? netmask : (netmask > 64 ? 64 : netmask);
    prefix_u128 fit = 0;
    for (size_t k = 0; k < out->nblocks; k++) {
        unsigned bl = out->blocks[k].len;
        if (out->largest_len < 0 || (int)bl < out->largest_len)
            out->largest_len = (int)bl;
        if (bl <= um)
            fit += (prefix_u128)1 << (um - bl);
    }
    if (family == PREFIX_INET6 && netmask > 64) {
        unsigned shift = netmask - 64;
        fit = fit > (~(prefix_u128)0 >> shift) ? ~(prefix_u128)0 : fit << shift;
    }
    out->fit = fit;
    rc = 0;
    if (err && errlen)
        err[0] = '\0';
fail:
    if (rc < 0)
        freespace_report_clear(out);
    free(refs);
    free(pool);
    free(real);
    free(used);
    return rc;
}

void freespace_report_clear(struct freespace_report *r)
{
    free(r->blocks);
    free(r->findings);
    memset(r, 0, sizeof *r);
    r->largest_len = -1;
}
