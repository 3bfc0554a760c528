/* overlap: path-compressed binary tries per domain and family; pairs by path and subtree.
 *
 * DESIGN: a trie node is a prefix (key left-aligned in 128 bits, so IPv4 and IPv6 share the
 * code) with two children and a list of entries that carry exactly that prefix. Nodes without
 * entries exist only where two subtrees branch, so there are fewer nodes than 2n. Removal
 * splices out nodes that no longer hold entries or branch. Nodes and entries live in arrays
 * per trie (pools) and refer to each other by 32-bit index (0 = none). A key's low 64 bits
 * are zero up to length 64 (every IPv4 prefix, the usual IPv6 VPC and subnet sizes), so such
 * nodes take 24 bytes and only longer ones (a pool of their own, tagged in the index) 32; an
 * entry takes 16. Freed items are recycled through free lists. An operation reserves
 * the items it may need before it takes pointers into a pool, so that no pointer outlives a
 * pool's reallocation.
 *
 * The batch scan (overlap_scan_array) needs no trie: CIDRs either nest or are disjoint, so in
 * (address, length) order every entry still open on a stack (its last address at or after
 * the next start) contains the next one. Entries are placed per (domain, family) bucket by a
 * counting pass, each bucket is radix sorted on a packed key (IPv4: address << 6 | length in
 * 11-bit digits; IPv6: (hi, lo, length) in bytes), digits equal in the whole bucket skipped,
 * and equal prefixes ordered by owner afterwards. Several times faster than n inserts plus a
 * scan (bench/RESULTS.md).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define LOG_MODULE "overlap"
#include "log.h"

#include "overlap.h"
#include "xalloc.h"

/* Max trie depth: one node per distinct length on a path, 0..128. */
#define OV_MAX_DEPTH 130

struct ov_entry {
    uint32_t owner;
    uint32_t parent;
    uint32_t refs;
    uint32_t next; /* next entry of the node, 0 = none */
};

/* A node of length <= 64: the key's low half is zero. */
struct ov_node {
    uint64_t hi; /* key, left-aligned; bits beyond len are zero */
    uint32_t child[2];
    uint32_t entries; /* first entry, 0 = none */
    uint8_t len;
};

/* A node of length > 64, in the long-node pool; its index carries OV_LONG. */
struct ov_long_node {
    struct ov_node n;
    uint64_t lo; /* the key's low half */
};

#define OV_LONG 0x80000000u /* node index tag: the node is in the long-node pool */

/* Items of one size named by index; index 0 is never handed out. Items live in chunks of
 * OV_CHUNK (the first one grows up to that size, so that small domains stay small): a large
 * trie never reallocates (and so never holds two copies of) its whole array. */
#define OV_CHUNK_SHIFT 12
#define OV_CHUNK       (1u << OV_CHUNK_SHIFT)

struct pool {
    char **chunks;
    size_t nchunks, capchunks;
    size_t elem;
    size_t n, cap;      /* items handed out (slot 0 included), items the chunks hold */
    uint32_t free_head; /* recycled items, chained through their first 4 bytes */
};

/* One trie with its own pools, so that a walk over one domain touches only its memory. */
struct ov_tree {
    uint32_t root;
    struct pool nodes, lnodes, entries;
};

struct ov_domain {
    uint32_t id;
    uint32_t in_use;
    struct ov_tree t[2]; /* [0] IPv4, [1] IPv6 */
};

struct overlap_index {
    struct ov_domain *dom; /* open addressing, power-of-two capacity */
    size_t dcap, dcount;
    size_t count;
};

static void pool_init(struct pool *p, size_t elem)
{
    memset(p, 0, sizeof *p);
    p->elem = elem;
    p->n = 1;
}

static void *pool_item(const struct pool *p, uint32_t i)
{
    return p->chunks[i >> OV_CHUNK_SHIFT] + (size_t)(i & (OV_CHUNK - 1)) * p->elem;
}

/* Makes room for k more items. Only growing the first chunk moves items: pointers into a pool
 * stay valid across the next k pool_alloc() calls. */
static void pool_reserve(struct pool *p, size_t k)
{
    while (p->n + k > p->cap) {
        if (p->cap >= UINT32_MAX / 2) {
            LOG_ERR("more than 2^31 trie items in one domain");
            abort();
        }
        if (p->nchunks == 1 && p->cap < OV_CHUNK) {
            p->cap *= 2;
            p->chunks[0] = xrealloc(p->chunks[0], p->cap * p->elem);
            continue;
        }
        size_t items = p->nchunks ? OV_CHUNK : 32;
        p->chunks = xgrow(p->chunks, &p->capchunks, p->nchunks + 1, sizeof *p->chunks);
        p->chunks[p->nchunks++] = xmalloc(items * p->elem);
        p->cap += items;
    }
}

static uint32_t pool_alloc(struct pool *p)
{
    uint32_t i = p->free_head;
    if (i) {
        memcpy(&p->free_head, pool_item(p, i), sizeof p->free_head);
        return i;
    }
    pool_reserve(p, 1);
    return (uint32_t)p->n++;
}

static void pool_release(struct pool *p, uint32_t i)
{
    memcpy(pool_item(p, i), &p->free_head, sizeof p->free_head);
    p->free_head = i;
}

static void pool_destroy(struct pool *p)
{
    for (size_t i = 0; i < p->nchunks; i++)
        free(p->chunks[i]);
    free(p->chunks);
}

static struct ov_node *node_at(const struct ov_tree *t, uint32_t i)
{
    if (!i)
        return NULL;
    if (i & OV_LONG)
        return &((struct ov_long_node *)pool_item(&t->lnodes, i & ~OV_LONG))->n;
    return pool_item(&t->nodes, i);
}

static struct ov_entry *entry_at(const struct ov_tree *t, uint32_t i)
{
    return i ? pool_item(&t->entries, i) : NULL;
}

static prefix_u128 node_key(const struct ov_node *n)
{
    uint64_t lo = n->len > 64 ? ((const struct ov_long_node *)(const void *)n)->lo : 0;
    return ((prefix_u128)n->hi << 64) | lo;
}

static unsigned key_bit(prefix_u128 key, unsigned i)
{
    return (unsigned)(key >> (127 - i)) & 1u;
}

/* Number of leading bits a and b share (128 when equal). */
static unsigned common_bits(prefix_u128 a, prefix_u128 b)
{
    prefix_u128 x = a ^ b;
    uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x;
    if (hi)
        return (unsigned)__builtin_clzll(hi);
    if (lo)
        return 64 + (unsigned)__builtin_clzll(lo);
    return 128;
}

static prefix_u128 key_truncate(prefix_u128 key, unsigned len)
{
    if (len == 0)
        return 0;
    return key & ~((((prefix_u128)1) << (128 - len)) - 1);
}

/* A new node; the caller reserved room for it (pointers into the pool stay valid). */
static uint32_t node_new(struct ov_tree *t, prefix_u128 key, unsigned len)
{
    bool lng = len > 64;
    uint32_t i = pool_alloc(lng ? &t->lnodes : &t->nodes);
    if (i & OV_LONG) {
        LOG_ERR("more than 2^31 trie nodes in one domain");
        abort();
    }
    struct ov_node *n;
    if (lng) {
        struct ov_long_node *l = pool_item(&t->lnodes, i);
        l->lo = (uint64_t)key;
        n = &l->n;
        i |= OV_LONG;
    } else {
        n = pool_item(&t->nodes, i);
    }
    n->hi = (uint64_t)(key >> 64);
    n->child[0] = n->child[1] = n->entries = 0;
    n->len = (uint8_t)len;
    return i;
}

static uint32_t hash_id(uint32_t id)
{
    id ^= id >> 16;
    id *= 0x7feb352du;
    id ^= id >> 15;
    id *= 0x846ca68bu;
    id ^= id >> 16;
    return id;
}

static struct ov_domain *domain_find(const overlap_index_t *idx, uint32_t id)
{
    if (idx->dcap == 0)
        return NULL;
    size_t mask = idx->dcap - 1;
    for (size_t i = hash_id(id) & mask;; i = (i + 1) & mask) {
        struct ov_domain *d = &idx->dom[i];
        if (!d->in_use)
            return NULL;
        if (d->id == id)
            return d;
    }
}

static struct ov_domain *domain_get(overlap_index_t *idx, uint32_t id)
{
    struct ov_domain *d = domain_find(idx, id);
    if (d)
        return d;
    if ((idx->dcount + 1) * 2 > idx->dcap) {
        size_t ncap = idx->dcap ? idx->dcap * 2 : 16;
        struct ov_domain *old = idx->dom;
        size_t ocap = idx->dcap;
        idx->dom = xcalloc(ncap, sizeof *idx->dom);
        idx->dcap = ncap;
        for (size_t i = 0; i < ocap; i++) {
            if (!old[i].in_use)
                continue;
            size_t j = hash_id(old[i].id) & (ncap - 1);
            while (idx->dom[j].in_use)
                j = (j + 1) & (ncap - 1);
            idx->dom[j] = old[i];
        }
        free(old);
    }
    size_t mask = idx->dcap - 1;
    size_t i = hash_id(id) & mask;
    while (idx->dom[i].in_use)
        i = (i + 1) & mask;
    d = &idx->dom[i];
    memset(d, 0, sizeof *d);
    d->id = id;
    d->in_use = 1;
    for (int f = 0; f < 2; f++) {
        pool_init(&d->t[f].nodes, sizeof(struct ov_node));
        pool_init(&d->t[f].lnodes, sizeof(struct ov_long_node));
        pool_init(&d->t[f].entries, sizeof(struct ov_entry));
    }
    idx->dcount++;
    return d;
}

overlap_index_t *overlap_index_new(void)
{
    return xcalloc(1, sizeof(overlap_index_t));
}

void overlap_index_free(overlap_index_t *idx)
{
    if (!idx)
        return;
    for (size_t i = 0; i < idx->dcap; i++) {
        if (!idx->dom[i].in_use)
            continue;
        for (int f = 0; f < 2; f++) {
            pool_destroy(&idx->dom[i].t[f].nodes);
            pool_destroy(&idx->dom[i].t[f].lnodes);
            pool_destroy(&idx->dom[i].t[f].entries);
        }
    }
    free(idx->dom);
    free(idx);
}

size_t overlap_count(const overlap_index_t *idx)
{
    return idx->count;
}

/* Family slot and left-aligned key of a validated prefix. */
static int entry_key(const struct overlap_entry *e, unsigned *fam, prefix_u128 *key)
{
    prefix_t canon;
    if (prefix_make(&canon, (enum prefix_family)e->prefix.family, e->prefix.addr, e->prefix.len) <
            0 ||
        canon.addr != e->prefix.addr)
        return -EINVAL;
    if (e->prefix.family == PREFIX_INET) {
        *fam = 0;
        *key = e->prefix.addr << 96;
    } else {
        *fam = 1;
        *key = e->prefix.addr;
    }
    return 0;
}

/* The pair-reporting context of one operation. */
struct emitter {
    overlap_pair_cb cb;
    void *ctx;
    enum overlap_event ev;
    uint32_t domain;
    unsigned family;
    const struct overlap_entry *self; /* the entry inserted or removed */
    const struct ov_tree *t;
};

static bool excluded(uint32_t o1, uint32_t p1, uint32_t o2, uint32_t p2)
{
    return o1 == o2 || p1 == o2 || p2 == o1;
}

static void fill_entry(struct overlap_entry *out, const struct emitter *em, const struct ov_node *n,
                       const struct ov_entry *x)
{
    prefix_u128 key = node_key(n);
    out->prefix.addr = em->family == PREFIX_INET ? key >> 96 : key;
    out->prefix.family = (uint8_t)em->family;
    out->prefix.len = n->len;
    out->domain = em->domain;
    out->owner = x->owner;
    out->parent = x->parent;
}

/* Reports self against every entry of node n that forms a pair with it. */
static void emit_node(const struct emitter *em, const struct ov_node *n)
{
    const struct overlap_entry *s = em->self;
    for (const struct ov_entry *x = entry_at(em->t, n->entries); x; x = entry_at(em->t, x->next)) {
        if (excluded(s->owner, s->parent, x->owner, x->parent))
            continue;
        struct overlap_entry other;
        fill_entry(&other, em, n, x);
        bool other_first =
            n->len < s->prefix.len || (n->len == s->prefix.len && x->owner < s->owner);
        if (other_first)
            em->cb(em->ctx, em->ev, &other, s);
        else
            em->cb(em->ctx, em->ev, s, &other);
    }
}

/* Reports self against every entry in the subtree below n (n itself excluded). */
static void emit_subtree(const struct emitter *em, const struct ov_node *n)
{
    uint32_t stack[2 * OV_MAX_DEPTH];
    size_t sp = 0;
    if (n->child[1])
        stack[sp++] = n->child[1];
    if (n->child[0])
        stack[sp++] = n->child[0];
    while (sp > 0) {
        const struct ov_node *m = node_at(em->t, stack[--sp]);
        emit_node(em, m);
        if (m->child[1])
            stack[sp++] = m->child[1];
        if (m->child[0])
            stack[sp++] = m->child[0];
    }
}

/* Finds the node holding exactly (key, len), or NULL. */
static struct ov_node *find_node(const struct ov_tree *t, prefix_u128 key, unsigned len)
{
    for (struct ov_node *n = node_at(t, t->root); n;
         n = node_at(t, n->child[key_bit(key, n->len)])) {
        if (n->len > len || common_bits(node_key(n), key) < n->len)
            return NULL;
        if (n->len == len)
            return n;
    }
    return NULL;
}

unsigned overlap_refcount(const overlap_index_t *idx, const struct overlap_entry *e)
{
    unsigned fam;
    prefix_u128 key;
    if (entry_key(e, &fam, &key) < 0)
        return 0;
    struct ov_domain *d = domain_find(idx, e->domain);
    if (!d)
        return 0;
    const struct ov_tree *t = &d->t[fam];
    struct ov_node *n = find_node(t, key, e->prefix.len);
    if (!n)
        return 0;
    for (struct ov_entry *x = entry_at(t, n->entries); x; x = entry_at(t, x->next))
        if (x->owner == e->owner)
            return x->refs;
    return 0;
}

int overlap_insert(overlap_index_t *idx, const struct overlap_entry *e, overlap_pair_cb cb,
                   void *ctx)
{
    unsigned fam;
    prefix_u128 key;
    if (e->owner == 0 || entry_key(e, &fam, &key) < 0)
        return -EINVAL;
    unsigned len = e->prefix.len;
    struct ov_domain *d = domain_get(idx, e->domain);
    struct ov_tree *t = &d->t[fam];
    /* At most two new nodes and one entry: reserved now, so the pointers below stay valid. */
    pool_reserve(&t->nodes, 2);
    pool_reserve(&t->lnodes, 2);
    pool_reserve(&t->entries, 1);

    /* One walk: remember the nodes above that contain the prefix, find or make its node. */
    struct ov_node *above[OV_MAX_DEPTH];
    size_t nabove = 0;
    uint32_t *link = &t->root;
    struct ov_node *target = NULL;
    while (*link) {
        uint32_t ni = *link;
        struct ov_node *n = node_at(t, ni);
        prefix_u128 nkey = node_key(n);
        unsigned c = common_bits(nkey, key);
        if (c > n->len)
            c = n->len;
        if (c > len)
            c = len;
        if (c == n->len && n->len == len) {
            target = n;
            break;
        }
        if (c == n->len) {
            above[nabove++] = n;
            link = &n->child[key_bit(key, n->len)];
            continue;
        }
        uint32_t mi = node_new(t, key, len);
        struct ov_node *m = node_at(t, mi);
        if (c == len) {
            m->child[key_bit(nkey, len)] = ni;
            *link = mi;
        } else {
            uint32_t bi = node_new(t, key_truncate(key, c), c);
            struct ov_node *b = node_at(t, bi);
            b->child[key_bit(key, c)] = mi;
            b->child[key_bit(nkey, c)] = ni;
            *link = bi;
        }
        target = m;
        break;
    }
    if (!target) {
        *link = node_new(t, key, len);
        target = node_at(t, *link);
    }
    for (struct ov_entry *x = entry_at(t, target->entries); x; x = entry_at(t, x->next)) {
        if (x->owner != e->owner)
            continue;
        if (x->parent != e->parent)
            return -EEXIST;
        x->refs++;
        return 0;
    }
    if (cb) {
        struct emitter em = {cb, ctx, OVERLAP_CREATED, e->domain, e->prefix.family, e, t};
        for (size_t i = 0; i < nabove; i++)
            emit_node(&em, above[i]);
        emit_node(&em, target);
        emit_subtree(&em, target);
    }
    uint32_t xi = pool_alloc(&t->entries);
    struct ov_entry *x = entry_at(t, xi);
    x->owner = e->owner;
    x->parent = e->parent;
    x->refs = 1;
    x->next = target->entries;
    target->entries = xi;
    idx->count++;
    return 0;
}

int overlap_remove(overlap_index_t *idx, const struct overlap_entry *e, overlap_pair_cb cb,
                   void *ctx)
{
    unsigned fam;
    prefix_u128 key;
    if (entry_key(e, &fam, &key) < 0)
        return -ENOENT;
    unsigned len = e->prefix.len;
    struct ov_domain *d = domain_find(idx, e->domain);
    if (!d)
        return -ENOENT;

    struct ov_tree *t = &d->t[fam];
    uint32_t *path[OV_MAX_DEPTH];
    size_t depth = 0;
    uint32_t *link = &t->root;
    while (*link) {
        struct ov_node *n = node_at(t, *link);
        if (n->len > len || common_bits(node_key(n), key) < n->len)
            return -ENOENT;
        path[depth++] = link;
        if (n->len == len)
            break;
        link = &n->child[key_bit(key, n->len)];
    }
    if (!*link)
        return -ENOENT;
    struct ov_node *target = node_at(t, *link);
    uint32_t *xp = &target->entries;
    while (*xp && entry_at(t, *xp)->owner != e->owner)
        xp = &entry_at(t, *xp)->next;
    uint32_t xi = *xp;
    struct ov_entry *x = entry_at(t, xi);
    if (!x)
        return -ENOENT;
    if (--x->refs > 0)
        return 0;

    *xp = x->next;
    if (cb) {
        /* Report with the stored parent: it decides which pairs existed. */
        struct overlap_entry self = *e;
        self.parent = x->parent;
        struct emitter em = {cb, ctx, OVERLAP_ENDED, e->domain, e->prefix.family, &self, t};
        for (size_t i = 0; i + 1 < depth; i++)
            emit_node(&em, node_at(t, *path[i]));
        emit_node(&em, target);
        emit_subtree(&em, target);
    }
    pool_release(&t->entries, xi);
    idx->count--;

    /* Splice out nodes that hold no entry and no longer branch. */
    while (depth > 0) {
        link = path[depth - 1];
        uint32_t ni = *link;
        struct ov_node *n = node_at(t, ni);
        if (n->entries || (n->child[0] && n->child[1]))
            break;
        uint32_t only = n->child[0] ? n->child[0] : n->child[1];
        *link = only;
        pool_release(ni & OV_LONG ? &t->lnodes : &t->nodes, ni & ~OV_LONG);
        if (only)
            break;
        depth--;
    }
    return 0;
}

struct scan_state {
    const struct ov_tree *t;
    overlap_pair_cb cb;
    void *ctx;
    uint32_t domain;
    unsigned family;
    struct overlap_entry *anc; /* entries on the path above the current node */
    size_t nanc, cap;
    size_t pairs;
};

static void scan_node(struct scan_state *st, const struct ov_node *n)
{
    struct emitter em = {st->cb, st->ctx, OVERLAP_PRESENT, st->domain, st->family, NULL, st->t};
    size_t base = st->nanc;
    for (const struct ov_entry *x = entry_at(st->t, n->entries); x; x = entry_at(st->t, x->next)) {
        st->anc = xgrow(st->anc, &st->cap, st->nanc + 1, sizeof *st->anc);
        struct overlap_entry *cur = &st->anc[st->nanc];
        fill_entry(cur, &em, n, x);
        for (size_t i = 0; i < base; i++) {
            const struct overlap_entry *a = &st->anc[i];
            if (excluded(a->owner, a->parent, cur->owner, cur->parent))
                continue;
            st->pairs++;
            if (st->cb)
                st->cb(st->ctx, OVERLAP_PRESENT, a, cur);
        }
        for (size_t i = base; i < st->nanc; i++) {
            const struct overlap_entry *a = &st->anc[i];
            if (excluded(a->owner, a->parent, cur->owner, cur->parent))
                continue;
            st->pairs++;
            if (st->cb) {
                if (a->owner < cur->owner)
                    st->cb(st->ctx, OVERLAP_PRESENT, a, cur);
                else
                    st->cb(st->ctx, OVERLAP_PRESENT, cur, a);
            }
        }
        st->nanc++;
    }
    for (int c = 0; c < 2; c++)
        if (n->child[c])
            scan_node(st, node_at(st->t, n->child[c]));
    st->nanc = base;
}

static size_t scan_domain(const struct ov_domain *d, overlap_pair_cb cb, void *ctx)
{
    struct scan_state st = {NULL, cb, ctx, d->id, 0, NULL, 0, 0, 0};
    for (int f = 0; f < 2; f++) {
        if (!d->t[f].root)
            continue;
        st.t = &d->t[f];
        st.family = f == 0 ? PREFIX_INET : PREFIX_INET6;
        scan_node(&st, node_at(st.t, d->t[f].root));
    }
    free(st.anc);
    return st.pairs;
}

size_t overlap_scan(const overlap_index_t *idx, uint32_t domain, overlap_pair_cb cb, void *ctx)
{
    const struct ov_domain *d = domain_find(idx, domain);
    return d ? scan_domain(d, cb, ctx) : 0;
}

size_t overlap_scan_all(const overlap_index_t *idx, overlap_pair_cb cb, void *ctx)
{
    size_t pairs = 0;
    for (size_t i = 0; i < idx->dcap; i++)
        if (idx->dom[i].in_use)
            pairs += scan_domain(&idx->dom[i], cb, ctx);
    return pairs;
}

/* ---- batch scan: sort and sweep a flat array, no index ---- */

/* Scratch memory for the batch scan. Large blocks are 2 MiB aligned and advised for huge
 * pages: the scan touches every byte once or twice, so 4 KiB page faults would cost as much
 * as the sort itself. Free with free(). */
static void *bs_alloc(size_t bytes)
{
    enum { HUGE = 2u << 20 };
    if (bytes == 0)
        bytes = 1;
#ifdef MADV_HUGEPAGE
    if (bytes >= HUGE) {
        size_t rounded = (bytes + HUGE - 1) / HUGE * HUGE;
        void *p = aligned_alloc(HUGE, rounded);
        if (!p)
            return xmalloc(bytes);
        (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice only: failure changes nothing */
        return p;
    }
#endif
    return xmalloc(bytes);
}

/* IPv4 sort record: key = address << 6 | length (38 bits), sorted by key, then owner. */
struct bs_rec4 {
    uint64_t key;
    uint32_t owner;
    uint32_t idx; /* position in the caller's array */
};

/* IPv6 sort record, sorted by (hi, lo, len, owner). */
struct bs_rec6 {
    uint64_t hi, lo;
    uint32_t owner;
    uint32_t idx;
    uint32_t len;
};

/* One entry on the sweep stack: every entry on it contains the ones above it. */
struct bs_open {
    prefix_u128 last;
    uint32_t owner, parent, idx;
};

struct bs_state {
    const struct overlap_entry *es;
    overlap_pair_cb cb;
    void *ctx;
    struct bs_open *stack;
    size_t cap;
    size_t pairs;
};

#define BS_SMALL 48 /* below this many records a bucket is insertion-sorted */

static bool rec4_less(const struct bs_rec4 *a, const struct bs_rec4 *b)
{
    return a->key < b->key || (a->key == b->key && a->owner < b->owner);
}

static bool rec6_less(const struct bs_rec6 *a, const struct bs_rec6 *b)
{
    if (a->hi != b->hi)
        return a->hi < b->hi;
    if (a->lo != b->lo)
        return a->lo < b->lo;
    if (a->len != b->len)
        return a->len < b->len;
    return a->owner < b->owner;
}

static int rec4_cmp_owner(const void *x, const void *y)
{
    const struct bs_rec4 *a = x, *b = y;
    return a->owner < b->owner ? -1 : a->owner > b->owner;
}

static int rec6_cmp_owner(const void *x, const void *y)
{
    const struct bs_rec6 *a = x, *b = y;
    return a->owner < b->owner ? -1 : a->owner > b->owner;
}

static void rec4_insertion_sort(struct bs_rec4 *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct bs_rec4 x = a[i];
        size_t j = i;
        while (j > 0 && rec4_less(&x, &a[j - 1])) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = x;
    }
}

static void rec6_insertion_sort(struct bs_rec6 *a, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct bs_rec6 x = a[i];
        size_t j = i;
        while (j > 0 && rec6_less(&x, &a[j - 1])) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = x;
    }
}

/* Orders runs of equal key by owner (the radix passes leave them in input order). */
static void rec4_order_owners(struct bs_rec4 *a, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && a[j].key == a[i].key)
            j++;
        if (j - i > BS_SMALL)
            qsort(a + i, j - i, sizeof *a, rec4_cmp_owner);
        else if (j - i > 1)
            rec4_insertion_sort(a + i, j - i);
        i = j;
    }
}

static void rec6_order_owners(struct bs_rec6 *a, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && a[j].hi == a[i].hi && a[j].lo == a[i].lo && a[j].len == a[i].len)
            j++;
        if (j - i > BS_SMALL)
            qsort(a + i, j - i, sizeof *a, rec6_cmp_owner);
        else if (j - i > 1)
            rec6_insertion_sort(a + i, j - i);
        i = j;
    }
}

/* LSD radix sort by key in 11-bit digits, skipping digits that are the same in every record;
 * tmp holds n records. */
static void rec4_sort(struct bs_rec4 *a, struct bs_rec4 *tmp, size_t n)
{
    if (n <= BS_SMALL) {
        rec4_insertion_sort(a, n);
        return;
    }
    uint64_t any = 0, all = ~(uint64_t)0;
    for (size_t i = 0; i < n; i++) {
        any |= a[i].key;
        all &= a[i].key;
    }
    uint64_t vary = any ^ all;
    struct bs_rec4 *src = a, *dst = tmp;
    for (unsigned shift = 0; shift < 64 && (vary >> shift) != 0; shift += 11) {
        if (((vary >> shift) & 0x7ff) == 0)
            continue;
        size_t cnt[2048] = {0};
        for (size_t i = 0; i < n; i++)
            cnt[(src[i].key >> shift) & 0x7ff]++;
        size_t sum = 0;
        for (size_t d = 0; d < 2048; d++) {
            size_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[cnt[(src[i].key >> shift) & 0x7ff]++] = src[i];
        struct bs_rec4 *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
    rec4_order_owners(a, n);
}

static uint64_t rec6_word(const struct bs_rec6 *r, unsigned w)
{
    return w == 0 ? r->len : w == 1 ? r->lo : r->hi;
}

/* LSD radix sort by (hi, lo, len) in 8-bit digits, skipping constant digits. */
static void rec6_sort(struct bs_rec6 *a, struct bs_rec6 *tmp, size_t n)
{
    if (n <= BS_SMALL) {
        rec6_insertion_sort(a, n);
        return;
    }
    uint64_t vary[3];
    for (unsigned w = 0; w < 3; w++) {
        uint64_t any = 0, all = ~(uint64_t)0;
        for (size_t i = 0; i < n; i++) {
            uint64_t v = rec6_word(&a[i], w);
            any |= v;
            all &= v;
        }
        vary[w] = any ^ all;
    }
    struct bs_rec6 *src = a, *dst = tmp;
    for (unsigned w = 0; w < 3; w++) {
        for (unsigned shift = 0; shift < 64 && (vary[w] >> shift) != 0; shift += 8) {
            if (((vary[w] >> shift) & 0xff) == 0)
                continue;
            size_t cnt[256] = {0};
            for (size_t i = 0; i < n; i++)
                cnt[(rec6_word(&src[i], w) >> shift) & 0xff]++;
            size_t sum = 0;
            for (size_t d = 0; d < 256; d++) {
                size_t c = cnt[d];
                cnt[d] = sum;
                sum += c;
            }
            for (size_t i = 0; i < n; i++)
                dst[cnt[(rec6_word(&src[i], w) >> shift) & 0xff]++] = src[i];
            struct bs_rec6 *t = src;
            src = dst;
            dst = t;
        }
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
    rec6_order_owners(a, n);
}

/* Reports cur against every open entry (all of which contain it) and opens cur. */
static void bs_visit(struct bs_state *st, size_t *sp, prefix_u128 first, prefix_u128 last,
                     uint32_t owner, uint32_t idx)
{
    struct bs_open *stack = st->stack;
    size_t n = *sp;
    while (n > 0 && stack[n - 1].last < first)
        n--;
    uint32_t parent = st->es[idx].parent;
    for (size_t i = 0; i < n; i++) {
        if (excluded(stack[i].owner, stack[i].parent, owner, parent))
            continue;
        st->pairs++;
        if (st->cb)
            st->cb(st->ctx, OVERLAP_PRESENT, &st->es[stack[i].idx], &st->es[idx]);
    }
    if (n == st->cap) {
        st->stack = xgrow(st->stack, &st->cap, n + 1, sizeof *st->stack);
        stack = st->stack;
    }
    stack[n] = (struct bs_open){last, owner, parent, idx};
    *sp = n + 1;
}

static void sweep4(struct bs_state *st, const struct bs_rec4 *r, size_t n)
{
    size_t sp = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 8 < n)
            __builtin_prefetch(&st->es[r[i + 8].idx].parent);
        if (i > 0 && r[i].key == r[i - 1].key && r[i].owner == r[i - 1].owner)
            continue; /* identical entry: counted once */
        uint64_t addr = r[i].key >> 6;
        unsigned len = (unsigned)(r[i].key & 63);
        uint64_t last = addr | (((uint64_t)1 << (32 - len)) - 1);
        bs_visit(st, &sp, addr, last, r[i].owner, r[i].idx);
    }
}

static void sweep6(struct bs_state *st, const struct bs_rec6 *r, size_t n)
{
    size_t sp = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 8 < n)
            __builtin_prefetch(&st->es[r[i + 8].idx].parent);
        if (i > 0 && r[i].hi == r[i - 1].hi && r[i].lo == r[i - 1].lo && r[i].len == r[i - 1].len &&
            r[i].owner == r[i - 1].owner)
            continue;
        prefix_u128 first = (prefix_u128)r[i].hi << 64 | r[i].lo;
        prefix_u128 last =
            first | (r[i].len == 0 ? ~(prefix_u128)0 : ((prefix_u128)1 << (128 - r[i].len)) - 1);
        bs_visit(st, &sp, first, last, r[i].owner, r[i].idx);
    }
}

/* Dense domain numbering: open addressing over the distinct domain ids. */
struct bs_domains {
    uint32_t *id;    /* slot -> domain id */
    uint32_t *dense; /* slot -> dense number + 1, 0 = empty slot */
    size_t cap, count;
    uint32_t *list; /* dense number -> domain id */
    size_t lcap;
};

static uint32_t bs_domain_number(struct bs_domains *d, uint32_t id)
{
    if ((d->count + 1) * 2 > d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 64;
        uint32_t *nid = xcalloc(ncap, sizeof *nid), *nd = xcalloc(ncap, sizeof *nd);
        for (size_t i = 0; i < d->cap; i++) {
            if (!d->dense[i])
                continue;
            size_t j = hash_id(d->id[i]) & (ncap - 1);
            while (nd[j])
                j = (j + 1) & (ncap - 1);
            nid[j] = d->id[i];
            nd[j] = d->dense[i];
        }
        free(d->id);
        free(d->dense);
        d->id = nid;
        d->dense = nd;
        d->cap = ncap;
    }
    size_t mask = d->cap - 1;
    size_t i = hash_id(id) & mask;
    while (d->dense[i]) {
        if (d->id[i] == id)
            return d->dense[i] - 1;
        i = (i + 1) & mask;
    }
    d->list = xgrow(d->list, &d->lcap, d->count + 1, sizeof *d->list);
    d->list[d->count] = id;
    d->id[i] = id;
    d->dense[i] = (uint32_t)++d->count;
    return (uint32_t)(d->count - 1);
}

static int cmp_u32_ptr(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

/* Family slot (0 IPv4, 1 IPv6) of a valid entry, -1 for owner 0 or a bad prefix. */
static int bs_check(const struct overlap_entry *e)
{
    const prefix_t *p = &e->prefix;
    if (e->owner == 0)
        return -1;
    if (p->family == PREFIX_INET) {
        if (p->len > 32 || p->addr >> 32 ||
            (p->len < 32 && ((uint32_t)p->addr & (0xffffffffu >> p->len))))
            return -1;
        return 0;
    }
    if (p->family == PREFIX_INET6) {
        if (p->len > 128 || (p->len < 128 && (p->addr & (~(prefix_u128)0 >> p->len))))
            return -1;
        return 1;
    }
    return -1;
}

/* Bucket of entry e: 2 * rank of its domain + family slot. *cache_id and *cache_num remember
 * the last domain looked up (input usually comes grouped by domain). */
static uint32_t bs_bucket(struct bs_domains *d, const uint32_t *rank, const struct overlap_entry *e,
                          uint32_t *cache_id, uint32_t *cache_num)
{
    if (e->domain != *cache_id) {
        *cache_num = rank[bs_domain_number(d, e->domain)];
        *cache_id = e->domain;
    }
    return *cache_num * 2 + (e->prefix.family == PREFIX_INET6);
}

int overlap_scan_array(const struct overlap_entry *es, size_t n, overlap_pair_cb cb, void *ctx,
                       size_t *npairs)
{
    int rc = -EINVAL;
    struct bs_domains doms = {0};
    uint32_t *rank = NULL, *sorted = NULL;
    size_t *start = NULL, *fill = NULL;
    struct bs_rec4 *r4 = NULL, *t4 = NULL;
    struct bs_rec6 *r6 = NULL, *t6 = NULL;
    struct bs_state st = {es, cb, ctx, NULL, 0, 0};
    if (npairs)
        *npairs = 0;
    if (n == 0)
        return 0;
    if (n > UINT32_MAX / 2)
        return -EINVAL; /* positions and bucket numbers are held in 32 bits */

    /* Validate and number the domains in order of appearance. */
    size_t n4 = 0;
    uint32_t cache_id = 0;
    for (size_t i = 0; i < n; i++) {
        int fam = bs_check(&es[i]);
        if (fam < 0)
            goto fail;
        n4 += fam == 0;
        if (i == 0 || es[i].domain != cache_id) {
            cache_id = es[i].domain;
            bs_domain_number(&doms, cache_id);
        }
    }
    size_t n6 = n - n4;

    /* Buckets in ascending domain id, IPv4 before IPv6; count, then place the records. */
    size_t nd = doms.count, nb = 2 * nd;
    sorted = xmalloc(nd * sizeof *sorted);
    memcpy(sorted, doms.list, nd * sizeof *sorted);
    qsort(sorted, nd, sizeof *sorted, cmp_u32_ptr);
    rank = xmalloc(nd * sizeof *rank);
    for (size_t k = 0; k < nd; k++)
        rank[bs_domain_number(&doms, sorted[k])] = (uint32_t)k;
    start = xcalloc(nb + 1, sizeof *start);
    uint32_t cache_num = rank[bs_domain_number(&doms, es[0].domain)];
    cache_id = es[0].domain;
    for (size_t i = 0; i < n; i++)
        start[bs_bucket(&doms, rank, &es[i], &cache_id, &cache_num)]++;
    /* start[b]: first record of bucket b in r4 (even b) or r6 (odd b); start[nb] unused. */
    size_t sum[2] = {0, 0}, maxb[2] = {0, 0};
    for (size_t b = 0; b < nb; b++) {
        size_t c = start[b];
        start[b] = sum[b & 1];
        sum[b & 1] += c;
        if (c > maxb[b & 1])
            maxb[b & 1] = c;
    }
    r4 = bs_alloc(n4 * sizeof *r4);
    r6 = bs_alloc(n6 * sizeof *r6);
    fill = xmalloc(nb * sizeof *fill);
    memcpy(fill, start, nb * sizeof *fill);
    for (size_t i = 0; i < n; i++) {
        const struct overlap_entry *e = &es[i];
        uint32_t b = bs_bucket(&doms, rank, e, &cache_id, &cache_num);
        if ((b & 1) == 0) {
            struct bs_rec4 *r = &r4[fill[b]++];
            r->key = (uint64_t)e->prefix.addr << 6 | e->prefix.len;
            r->owner = e->owner;
            r->idx = (uint32_t)i;
        } else {
            struct bs_rec6 *r = &r6[fill[b]++];
            r->hi = (uint64_t)(e->prefix.addr >> 64);
            r->lo = (uint64_t)e->prefix.addr;
            r->len = e->prefix.len;
            r->owner = e->owner;
            r->idx = (uint32_t)i;
        }
    }

    /* Sort every bucket, then refuse a key given twice with different parents before any
     * pair is reported. */
    t4 = bs_alloc(maxb[0] * sizeof *t4);
    t6 = bs_alloc(maxb[1] * sizeof *t6);
    for (size_t b = 0; b < nb; b++) {
        size_t end = b + 2 < nb ? start[b + 2] : sum[b & 1];
        if (b & 1)
            rec6_sort(r6 + start[b], t6, end - start[b]);
        else
            rec4_sort(r4 + start[b], t4, end - start[b]);
    }
    rc = -EEXIST;
    for (size_t i = 1; i < n4; i++)
        if (r4[i].key == r4[i - 1].key && r4[i].owner == r4[i - 1].owner &&
            es[r4[i].idx].domain == es[r4[i - 1].idx].domain &&
            es[r4[i].idx].parent != es[r4[i - 1].idx].parent)
            goto fail;
    for (size_t i = 1; i < n6; i++)
        if (r6[i].hi == r6[i - 1].hi && r6[i].lo == r6[i - 1].lo && r6[i].len == r6[i - 1].len &&
            r6[i].owner == r6[i - 1].owner && es[r6[i].idx].domain == es[r6[i - 1].idx].domain &&
            es[r6[i].idx].parent != es[r6[i - 1].idx].parent)
            goto fail;

    for (size_t b = 0; b < nb; b++) {
        size_t end = b + 2 < nb ? start[b + 2] : sum[b & 1];
        if (b & 1)
            sweep6(&st, r6 + start[b], end - start[b]);
        else
            sweep4(&st, r4 + start[b], end - start[b]);
    }
    if (npairs)
        *npairs = st.pairs;
    rc = 0;
fail:
    free(st.stack);
    free(t4);
    free(t6);
    free(r4);
    free(r6);
    free(fill);
    free(start);
    free(rank);
    free(sorted);
    free(doms.id);
    free(doms.dense);
    free(doms.list);
    return rc;
}
