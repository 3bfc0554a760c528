/* overlap: path-compressed binary tries per domain and family; pairs by path and subtree.
 *
 * DESIGN: a trie node is a prefix (key left-aligned in 128 bits, so IPv4 and IPv6 share the
 * code) with two children and a list of entries that carry exactly that prefix. Nodes without
 * entries exist only where two subtrees branch, so there are fewer nodes than 2n. Removal
 * splices out nodes that no longer hold entries or branch. Memory comes from two slabs (nodes,
 * entries) that recycle freed items through free lists.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "overlap.h"
#include "xalloc.h"

/* Max trie depth: one node per distinct length on a path, 0..128. */
#define OV_MAX_DEPTH  130
#define OV_SLAB_ITEMS 4096

struct ov_entry {
    uint32_t owner;
    uint32_t parent;
    uint32_t refs;
    struct ov_entry *next;
};

struct ov_node {
    uint64_t hi, lo; /* key, left-aligned; bits beyond len are zero */
    struct ov_node *child[2];
    struct ov_entry *entries;
    uint8_t len;
};

struct slab {
    size_t elem;
    void *free_list;
    char *cur; /* current chunk */
    size_t used, cur_items;
    char **chunks;
    size_t nchunks, cap;
};

/* One trie with its own slabs, so that a walk over one domain touches only its memory. */
struct ov_tree {
    struct ov_node *root;
    struct slab nodes, entries;
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

static void slab_init(struct slab *s, size_t elem)
{
    memset(s, 0, sizeof *s);
    s->elem = elem;
}

static void *slab_alloc(struct slab *s)
{
    if (s->free_list) {
        void *p = s->free_list;
        memcpy(&s->free_list, p, sizeof(void *));
        return p;
    }
    if (s->used == s->cur_items) {
        /* chunks grow from 32 items, so that small domains stay small */
        s->cur_items = s->cur_items ? s->cur_items * 2 : 32;
        if (s->cur_items > OV_SLAB_ITEMS)
            s->cur_items = OV_SLAB_ITEMS;
        s->cur = xmalloc(s->elem * s->cur_items);
        s->chunks = xgrow(s->chunks, &s->cap, s->nchunks + 1, sizeof *s->chunks);
        s->chunks[s->nchunks++] = s->cur;
        s->used = 0;
    }
    return s->cur + s->elem * s->used++;
}

static void slab_release(struct slab *s, void *p)
{
    memcpy(p, &s->free_list, sizeof(void *));
    s->free_list = p;
}

static void slab_destroy(struct slab *s)
{
    for (size_t i = 0; i < s->nchunks; i++)
        free(s->chunks[i]);
    free(s->chunks);
}

static prefix_u128 node_key(const struct ov_node *n)
{
    return ((prefix_u128)n->hi << 64) | n->lo;
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

static struct ov_node *node_new(struct ov_tree *t, prefix_u128 key, unsigned len)
{
    struct ov_node *n = slab_alloc(&t->nodes);
    memset(n, 0, sizeof *n);
    n->hi = (uint64_t)(key >> 64);
    n->lo = (uint64_t)key;
    n->len = (uint8_t)len;
    return n;
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
        slab_init(&d->t[f].nodes, sizeof(struct ov_node));
        slab_init(&d->t[f].entries, sizeof(struct ov_entry));
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
            slab_destroy(&idx->dom[i].t[f].nodes);
            slab_destroy(&idx->dom[i].t[f].entries);
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
    for (const struct ov_entry *x = n->entries; x; x = x->next) {
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
    const struct ov_node *stack[2 * OV_MAX_DEPTH];
    size_t sp = 0;
    if (n->child[1])
        stack[sp++] = n->child[1];
    if (n->child[0])
        stack[sp++] = n->child[0];
    while (sp > 0) {
        const struct ov_node *m = stack[--sp];
        emit_node(em, m);
        if (m->child[1])
            stack[sp++] = m->child[1];
        if (m->child[0])
            stack[sp++] = m->child[0];
    }
}

/* Finds the node holding exactly (key, len), or NULL. */
static struct ov_node *find_node(struct ov_node *n, prefix_u128 key, unsigned len)
{
    while (n) {
        if (n->len > len || common_bits(node_key(n), key) < n->len)
            return NULL;
        if (n->len == len)
            return n;
        n = n->child[key_bit(key, n->len)];
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
    struct ov_node *n = find_node(d->t[fam].root, key, e->prefix.len);
    if (!n)
        return 0;
    for (struct ov_entry *x = n->entries; x; x = x->next)
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

    /* One walk: remember the nodes above that contain the prefix, find or make its node. */
    struct ov_node *above[OV_MAX_DEPTH];
    size_t nabove = 0;
    struct ov_node **link = &t->root;
    struct ov_node *target = NULL;
    while (*link) {
        struct ov_node *n = *link;
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
        struct ov_node *m = node_new(t, key, len);
        if (c == len) {
            m->child[key_bit(nkey, len)] = n;
            *link = m;
        } else {
            struct ov_node *b = node_new(t, key_truncate(key, c), c);
            b->child[key_bit(key, c)] = m;
            b->child[key_bit(nkey, c)] = n;
            *link = b;
        }
        target = m;
        break;
    }
    if (!target) {
        target = node_new(t, key, len);
        *link = target;
    }
    for (struct ov_entry *x = target->entries; x; x = x->next) {
        if (x->owner != e->owner)
            continue;
        if (x->parent != e->parent)
            return -EEXIST;
        x->refs++;
        return 0;
    }
    if (cb) {
        struct emitter em = {cb, ctx, OVERLAP_CREATED, e->domain, e->prefix.family, e};
        for (size_t i = 0; i < nabove; i++)
            emit_node(&em, above[i]);
        emit_node(&em, target);
        emit_subtree(&em, target);
    }
    struct ov_entry *x = slab_alloc(&t->entries);
    x->owner = e->owner;
    x->parent = e->parent;
    x->refs = 1;
    x->next = target->entries;
    target->entries = x;
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
    struct ov_node **path[OV_MAX_DEPTH];
    size_t depth = 0;
    struct ov_node **link = &t->root;
    while (*link) {
        struct ov_node *n = *link;
        if (n->len > len || common_bits(node_key(n), key) < n->len)
            return -ENOENT;
        path[depth++] = link;
        if (n->len == len)
            break;
        link = &n->child[key_bit(key, n->len)];
    }
    if (!*link)
        return -ENOENT;
    struct ov_node *target = *link;
    struct ov_entry **xp = &target->entries;
    while (*xp && (*xp)->owner != e->owner)
        xp = &(*xp)->next;
    struct ov_entry *x = *xp;
    if (!x)
        return -ENOENT;
    if (--x->refs > 0)
        return 0;

    *xp = x->next;
    if (cb) {
        /* Report with the stored parent: it decides which pairs existed. */
        struct overlap_entry self = *e;
        self.parent = x->parent;
        struct emitter em = {cb, ctx, OVERLAP_ENDED, e->domain, e->prefix.family, &self};
        for (size_t i = 0; i + 1 < depth; i++)
            emit_node(&em, *path[i]);
        emit_node(&em, target);
        emit_subtree(&em, target);
    }
    slab_release(&t->entries, x);
    idx->count--;

    /* Splice out nodes that hold no entry and no longer branch. */
    while (depth > 0) {
        link = path[depth - 1];
        struct ov_node *n = *link;
        if (n->entries || (n->child[0] && n->child[1]))
            break;
        struct ov_node *only = n->child[0] ? n->child[0] : n->child[1];
        *link = only;
        slab_release(&t->nodes, n);
        if (only)
            break;
        depth--;
    }
    return 0;
}

struct scan_state {
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
    struct emitter em = {st->cb, st->ctx, OVERLAP_PRESENT, st->domain, st->family, NULL};
    size_t base = st->nanc;
    for (const struct ov_entry *x = n->entries; x; x = x->next) {
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
            scan_node(st, n->child[c]);
    st->nanc = base;
}

static size_t scan_domain(const struct ov_domain *d, overlap_pair_cb cb, void *ctx)
{
    struct scan_state st = {cb, ctx, d->id, 0, NULL, 0, 0, 0};
    for (int f = 0; f < 2; f++) {
        if (!d->t[f].root)
            continue;
        st.family = f == 0 ? PREFIX_INET : PREFIX_INET6;
        scan_node(&st, d->t[f].root);
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
