/* model: scopes, pool tree, pool CIDRs, allocations and resource CIDRs; passes and events.
 *
 * DESIGN: the few objects (IPAMs, scopes, pools, pool CIDRs, allocations, discovered
 * accounts) are kept as their records (copied through record_encode/record_decode, so the
 * stored form is exactly the wire form and model_save() can write it back out) plus their
 * parsed CIDR. The many resource CIDRs (a million in a large organisation) are kept in a
 * compact form instead: the prefix and interned string ids in a 64-byte struct, in an array
 * with an open addressing table per snapshot (struct resset), with the strings stored once
 * per model (struct strtab); only the fields the analyzer uses survive the apply. A scope
 * holds one snapshot (live state) and the snapshots of its passes in progress (stages); a
 * complete pass swaps its stage in. The overlap index always reflects the live resource
 * CIDRs under the current domain membership: any change that may alter membership (a scope's
 * type, the pool tree, a whole snapshot) removes the scope's entries under the old state and
 * inserts them under the new one, and the pair reports of that call are netted before they
 * become effects. Figures are computed on demand by model_metrics().
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_MODULE "model"
#include "log.h"

#include "analyzer/eventwin.h"
#include "analyzer/freespace.h"
#include "analyzer/model.h"
#include "analyzer/overlap.h"
#include "hash.h"
#include "prefix.h"
#include "xalloc.h"

#define MODEL_FILE_VERSION  2  /* 2: resource CIDRs in their compact form; 1 still loads */
#define MODEL_RECENT_PASSES 16 /* pass ids remembered per scope for replay detection */
#define MODEL_MAX_STAGES    8  /* passes in progress per scope */
#define MODEL_SOURCE        "analyzer/model"

/* ---- string-keyed hash map ------------------------------------------------------------ */

struct smap_node {
    struct smap_node *next;
    uint64_t h;
    char *key;
    void *val;
};

struct smap {
    struct smap_node **b;
    size_t nb, n;
};

/* FNV-1a without the mix: the maps' iteration order, and so the order of a snapshot's pools,
 * pool CIDRs and allocations, follows it. */
static uint64_t smap_hash(const char *s)
{
    return hash_fnv1a(s, false);
}

static struct smap_node **smap_slot(const struct smap *m, const char *key, uint64_t h)
{
    if (!m->nb)
        return NULL;
    struct smap_node **pp = &m->b[h & (m->nb - 1)];
    while (*pp && ((*pp)->h != h || strcmp((*pp)->key, key) != 0))
        pp = &(*pp)->next;
    return pp;
}

static void *smap_get(const struct smap *m, const char *key)
{
    struct smap_node **pp = smap_slot(m, key, smap_hash(key));
    return pp && *pp ? (*pp)->val : NULL;
}

static void smap_grow(struct smap *m)
{
    size_t nb = m->nb ? m->nb * 2 : 16;
    struct smap_node **b = xcalloc(nb, sizeof *b);
    for (size_t i = 0; i < m->nb; i++) {
        struct smap_node *n = m->b[i], *next;
        for (; n; n = next) {
            next = n->next;
            n->next = b[n->h & (nb - 1)];
            b[n->h & (nb - 1)] = n;
        }
    }
    free(m->b);
    m->b = b;
    m->nb = nb;
}

/* Sets key to val; returns the value it replaces (NULL when new). */
static void *smap_put(struct smap *m, const char *key, void *val)
{
    uint64_t h = smap_hash(key);
    if (m->n + 1 > m->nb * 3 / 4)
        smap_grow(m);
    struct smap_node **pp = smap_slot(m, key, h);
    if (*pp) {
        void *old = (*pp)->val;
        (*pp)->val = val;
        return old;
    }
    struct smap_node *n = xmalloc(sizeof *n);
    n->next = NULL;
    n->h = h;
    n->key = xstrdup(key);
    n->val = val;
    *pp = n;
    m->n++;
    return NULL;
}

/* Removes key; returns its value (NULL when absent). */
static void *smap_del(struct smap *m, const char *key)
{
    struct smap_node **pp = smap_slot(m, key, smap_hash(key));
    if (!pp || !*pp)
        return NULL;
    struct smap_node *n = *pp;
    void *val = n->val;
    *pp = n->next;
    free(n->key);
    free(n);
    m->n--;
    return val;
}

/* Frees the map's nodes, calling free_val (may be NULL) on each value. */
static void smap_clear(struct smap *m, void (*free_val)(void *))
{
    for (size_t i = 0; i < m->nb; i++) {
        struct smap_node *n = m->b[i], *next;
        for (; n; n = next) {
            next = n->next;
            if (free_val)
                free_val(n->val);
            free(n->key);
            free(n);
        }
    }
    free(m->b);
    memset(m, 0, sizeof *m);
}

#define SMAP_CAT2(a, b) a##b
#define SMAP_CAT(a, b)  SMAP_CAT2(a, b)
/* Visits every node of map m as `node`; nested uses must be on different lines. */
#define SMAP_FOREACH(m, node)                                                                      \
    for (size_t SMAP_CAT(smap_i_, __LINE__) = 0; SMAP_CAT(smap_i_, __LINE__) < (m)->nb;            \
         SMAP_CAT(smap_i_, __LINE__)++)                                                            \
        for (struct smap_node *node = (m)->b[SMAP_CAT(smap_i_, __LINE__)]; node; node = node->next)

/* ---- interned strings ----------------------------------------------------------------- */

/* Every string a resource CIDR keeps (ids, owners, Regions, names, enum words) is stored once
 * per model, back to back in one arena, and named by a 32-bit id (0 = absent). Strings stay
 * for the model's life: ids are never reused, so a stale id can never name another string;
 * model_load() interns only what the snapshot still holds. The table's slots hold the id with
 * the top byte of its string's hash side by side (5 bytes): a probe mostly touches one cache
 * line of the table and compares a string only when that byte matches. Growing the table
 * rehashes the strings: keeping more hash bits per slot would cost ~12 B per tracked CIDR of
 * peak memory. */
struct st_ent {
    uint32_t id; /* 0: empty */
    uint8_t tag; /* the top byte of st_hash() of the string */
} __attribute__((packed));

struct strtab {
    char *arena; /* NUL-terminated strings back to back */
    size_t len, cap;
    uint32_t *off; /* id -> offset in arena; [0] unused */
    size_t n, capoff;
    uint64_t *plain; /* bit per id: set when the string needs no JSON escape (no control
                        character, quote or backslash): model_save() copies it as it is */
    size_t capplain;
    struct st_ent *slots; /* open addressing, linear probing */
    size_t nslots;
};

static const char *st_str(const struct strtab *t, uint32_t id)
{
    return id ? t->arena + t->off[id] : NULL;
}

/* True when string `id` (not 0) is its own JSON string text. */
static bool st_plain(const struct strtab *t, uint32_t id)
{
    return t->plain[id >> 6] >> (id & 63) & 1;
}

/* The length of string `id` (not 0). */
static size_t st_len(const struct strtab *t, uint32_t id)
{
    return (id == t->n ? t->len : t->off[id + 1]) - t->off[id] - 1;
}

/* FNV-1a with the final mix: the table takes the low bits, which FNV-1a alone spreads poorly
 * over ids that differ in their last characters. */
static uint64_t st_hash(const char *s)
{
    return hash_fnv1a(s, true);
}

static size_t st_slot(const struct strtab *t, const char *s, uint64_t h)
{
    size_t mask = t->nslots - 1, i = (size_t)h & mask;
    uint8_t tag = (uint8_t)(h >> 56);
    while (t->slots[i].id &&
           (t->slots[i].tag != tag || strcmp(t->arena + t->off[t->slots[i].id], s) != 0))
        i = (i + 1) & mask;
    return i;
}

/* Returns the id of `s`, 0 when `s` is NULL or not interned. */
static uint32_t st_find(const struct strtab *t, const char *s)
{
    if (!s || !t->nslots)
        return 0;
    return t->slots[st_slot(t, s, st_hash(s))].id;
}

/* Grows the table so that `more` new strings fit without growing it again. */
static void st_reserve(struct strtab *t, size_t more)
{
    if ((t->n + more) * 4 < t->nslots * 3)
        return;
    size_t nslots = t->nslots ? t->nslots : 1024;
    while ((t->n + more) * 4 >= nslots * 3)
        nslots *= 2;
    struct st_ent *slots = xcalloc(nslots, sizeof *slots);
    for (size_t k = 0; k < t->nslots; k++) {
        struct st_ent e = t->slots[k];
        if (!e.id)
            continue;
        size_t i = (size_t)st_hash(t->arena + t->off[e.id]) & (nslots - 1);
        while (slots[i].id)
            i = (i + 1) & (nslots - 1);
        slots[i] = e;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = nslots;
}

/* Starts loading the slot where a string of hash `h` is looked up. */
static void st_prefetch(const struct strtab *t, uint64_t h)
{
    __builtin_prefetch(&t->slots[(size_t)h & (t->nslots - 1)]);
}

/* True when the `len` bytes at `s` hold no control character, quote or backslash, i.e. are
 * their own JSON string text. Eight bytes a step: (w - 0x01..01 * n) & ~w & 0x80..80 is not
 * zero exactly when a byte of w is below n (n <= 0x80); a byte equal to c is a zero byte of
 * w ^ (0x01..01 * c). */
static bool json_plain(const char *s, size_t len)
{
    const uint64_t ones = UINT64_C(0x0101010101010101), highs = ones << 7;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w, q, b;
        memcpy(&w, s + i, sizeof w);
        q = w ^ (ones * '"');
        b = w ^ (ones * '\\');
        if ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs)
            return false;
    }
    for (; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\')
            return false;
    }
    return true;
}

/* Returns the id of `s` (borrowed, not NULL) of hash `h` (st_hash()), interning it when new;
 * the table must have room (st_reserve()). */
static uint32_t st_intern_h(struct strtab *t, const char *s, uint64_t h)
{
    size_t i = st_slot(t, s, h);
    if (t->slots[i].id)
        return t->slots[i].id;
    size_t len = strlen(s) + 1;
    if (t->len + len > UINT32_MAX || t->n + 1 >= UINT32_MAX) {
        LOG_ERR("string table full (%zu strings, %zu bytes)", t->n, t->len);
        abort();
    }
    t->arena = xgrow(t->arena, &t->cap, t->len + len, 1);
    memcpy(t->arena + t->len, s, len);
    t->off = xgrow(t->off, &t->capoff, t->n + 2, sizeof *t->off);
    size_t word = (t->n + 1) >> 6, cap = t->capplain;
    t->plain = xgrow(t->plain, &t->capplain, word + 1, sizeof *t->plain);
    if (t->capplain > cap)
        memset(t->plain + cap, 0, (t->capplain - cap) * sizeof *t->plain);
    if (json_plain(s, len - 1))
        t->plain[word] |= UINT64_C(1) << ((t->n + 1) & 63);
    t->off[++t->n] = (uint32_t)t->len;
    t->len += len;
    t->slots[i] = (struct st_ent){.id = (uint32_t)t->n, .tag = (uint8_t)(h >> 56)};
    return (uint32_t)t->n;
}

/* Returns the id of `s` (borrowed), interning it when new; 0 for NULL. */
static uint32_t st_intern(struct strtab *t, const char *s)
{
    if (!s)
        return 0;
    st_reserve(t, 1);
    return st_intern_h(t, s, st_hash(s));
}

/* Interns the `n` strings `s` (borrowed, NULL entries give 0) into ids[], in order, as
 * st_intern() of each would. memo[i], when not NULL, remembers the last id of field i:
 * consecutive resource CIDRs repeat their VPC, pool, owner, Region, type and states, so most
 * of those end in one strcmp. The table slots of the strings left to look up are loaded
 * together before the first probe: a large table misses the cache on each. */
static void st_intern_many(struct strtab *t, const char *const *s, uint32_t *const *memo,
                           uint32_t *ids, size_t n)
{
    uint64_t h[16];
    assert(n <= 16);
    st_reserve(t, n);
    for (size_t i = 0; i < n; i++) {
        if (!s[i] || (memo[i] && *memo[i] && strcmp(st_str(t, *memo[i]), s[i]) == 0)) {
            ids[i] = s[i] ? *memo[i] : 0;
            continue;
        }
        h[i] = st_hash(s[i]);
        st_prefetch(t, h[i]);
        ids[i] = UINT32_MAX; /* to look up */
    }
    for (size_t i = 0; i < n; i++) {
        if (ids[i] != UINT32_MAX)
            continue;
        ids[i] = st_intern_h(t, s[i], h[i]);
        if (memo[i])
            *memo[i] = ids[i];
    }
}

static void st_clear(struct strtab *t)
{
    free(t->arena);
    free(t->off);
    free(t->plain);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

/* ---- resource CIDRs -------------------------------------------------------------------- */

/* One resource CIDR in its compact form (64 bytes): the prefix and the strings the analyzer
 * uses (figures, overlap, compliance effects, snapshots) as interned ids. What a resource
 * CIDR record carries besides (ipam id, availability zone, IPAM's own overlap status, tags,
 * the envelope) is not kept. */
struct res {
    uint64_t hi, lo; /* network address */
    double usage;    /* ip_usage, NAN when absent */
    uint32_t id, vpc, pool, name, owner, region, type, compliance, mgmt;
    uint8_t family, len;
};

static void res_prefix(const struct res *r, prefix_t *p)
{
    memset(p, 0, sizeof *p);
    p->addr = ((prefix_u128)r->hi << 64) | r->lo;
    p->family = r->family;
    p->len = r->len;
}

static bool res_same(const struct res *a, const struct res *b)
{
    return a->id == b->id && a->lo == b->lo && a->hi == b->hi && a->len == b->len &&
           a->family == b->family;
}

static uint64_t res_hash(const struct res *r)
{
    uint64_t h = r->id * 0x9E3779B97F4A7C15ULL;
    h ^= r->lo + 0x632BE59BD9B4E019ULL + (h << 6) + (h >> 2);
    h ^= r->hi + ((uint64_t)r->len << 8 | r->family) + (h << 6) + (h >> 2);
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ULL;
    return h ^ (h >> 29);
}

/* The resource CIDRs of one snapshot, keyed by (resource id, prefix): an array and an open
 * addressing table of array positions + 1. Removal moves the last element into the gap. */
struct resset {
    struct res *v;
    size_t n, cap;
    uint32_t *slots;
    size_t nslots;
};

/* Slot of `r`'s key: holding it, or the empty slot where it would go. */
static size_t rs_slot(const struct resset *s, const struct res *r)
{
    size_t mask = s->nslots - 1, i = (size_t)res_hash(r) & mask;
    while (s->slots[i] && !res_same(&s->v[s->slots[i] - 1], r))
        i = (i + 1) & mask;
    return i;
}

/* Returns the element with `r`'s key, or NULL. */
static struct res *rs_get(const struct resset *s, const struct res *r)
{
    if (!s->n)
        return NULL;
    uint32_t k = s->slots[rs_slot(s, r)];
    return k ? &s->v[k - 1] : NULL;
}

static void rs_rehash(struct resset *s, size_t nslots)
{
    free(s->slots);
    s->slots = xcalloc(nslots, sizeof *s->slots);
    s->nslots = nslots;
    for (size_t k = 0; k < s->n; k++)
        s->slots[rs_slot(s, &s->v[k])] = (uint32_t)(k + 1);
}

/* Stores `r` (copied), replacing the element with its key. Returns the stored element. */
static struct res *rs_put(struct resset *s, const struct res *r)
{
    if ((s->n + 1) * 4 >= s->nslots * 3)
        rs_rehash(s, s->nslots ? s->nslots * 2 : 64);
    size_t i = rs_slot(s, r);
    if (s->slots[i]) {
        s->v[s->slots[i] - 1] = *r;
        return &s->v[s->slots[i] - 1];
    }
    if (s->n + 1 >= UINT32_MAX) {
        LOG_ERR("too many resource CIDRs in one scope (%zu)", s->n);
        abort();
    }
    s->v = xgrow(s->v, &s->cap, s->n + 1, sizeof *s->v);
    s->v[s->n++] = *r;
    s->slots[i] = (uint32_t)s->n;
    return &s->v[s->n - 1];
}

/* Removes element `k` (an index into s->v); the last element moves into its place. */
static void rs_del(struct resset *s, size_t k)
{
    size_t mask = s->nslots - 1, i = rs_slot(s, &s->v[k]);
    /* Backward-shift deletion keeps every probe chain unbroken without tombstones. */
    size_t j = i;
    for (;;) {
        s->slots[i] = 0;
        for (;;) {
            j = (j + 1) & mask;
            if (!s->slots[j])
                goto moved;
            size_t home = (size_t)res_hash(&s->v[s->slots[j] - 1]) & mask;
            if (i <= j ? (home <= i || home > j) : (home <= i && home > j))
                break;
        }
        s->slots[i] = s->slots[j];
        i = j;
    }
moved:
    if (k != s->n - 1) {
        s->slots[rs_slot(s, &s->v[s->n - 1])] = (uint32_t)(k + 1);
        s->v[k] = s->v[s->n - 1];
    }
    s->n--;
}

static void rs_clear(struct resset *s)
{
    free(s->v);
    free(s->slots);
    memset(s, 0, sizeof *s);
}

/* ---- objects -------------------------------------------------------------------------- */

/* One stored object: its record and parsed CIDR, plus scratch counters for metrics. */
struct item {
    struct record *rec;
    prefix_t pfx;
    bool has_pfx;
};

static void item_free(void *p)
{
    struct item *it = p;
    if (!it)
        return;
    record_free(it->rec);
    free(it);
}

struct snap {
    struct record *ipam, *scope;
    struct smap pools;    /* pool_id -> item */
    struct smap pcidrs;   /* pool_id|cidr (or pool_id|#pool_cidr_id) -> item */
    struct smap allocs;   /* pool_id|allocation_id -> item */
    struct resset res;    /* resource CIDRs (compact) */
    struct smap accounts; /* account|region -> item */
};

static void snap_clear(struct snap *s)
{
    record_free(s->ipam);
    record_free(s->scope);
    smap_clear(&s->pools, item_free);
    smap_clear(&s->pcidrs, item_free);
    smap_clear(&s->allocs, item_free);
    rs_clear(&s->res);
    smap_clear(&s->accounts, item_free);
    memset(s, 0, sizeof *s);
}

struct stage {
    struct stage *next;
    char *pass_id;
    char *source;
    int64_t started_ms;
    bool ignore; /* a replay or a pass older than the live snapshot: swallow silently */
    int64_t counts[RECORD_TYPE_COUNT];
    struct snap snap;
};

static void stage_free(struct stage *st)
{
    if (!st)
        return;
    free(st->pass_id);
    free(st->source);
    snap_clear(&st->snap);
    free(st);
}

struct scope {
    char *id;
    struct snap live;
    int64_t snapshot_ms; /* start of the last applied pass; RECORD_UNSET when none */
    char *recent[MODEL_RECENT_PASSES];
    unsigned recent_pos;
    struct stage *stages;
    /* metrics scratch */
    uint64_t m_overlaps;
};

static void scope_free(void *p)
{
    struct scope *sc = p;
    if (!sc)
        return;
    free(sc->id);
    snap_clear(&sc->live);
    for (unsigned i = 0; i < MODEL_RECENT_PASSES; i++)
        free(sc->recent[i]);
    while (sc->stages) {
        struct stage *st = sc->stages;
        sc->stages = st->next;
        stage_free(st);
    }
    free(sc);
}

/* A pair change collected during one model_apply(), netted before it becomes an effect. */
struct pend_pair {
    int net;
    char *domain, *a, *b; /* "owner/cidr" sides, a < b */
};

static void pend_free(void *p)
{
    struct pend_pair *pp = p;
    if (!pp)
        return;
    free(pp->domain);
    free(pp->a);
    free(pp->b);
    free(pp);
}

struct model {
    const struct config *cfg;
    struct smap scopes; /* id -> struct scope */
    overlap_index_t *ov;
    struct strtab strs; /* interned strings; an id is also the overlap owner id */
    uint32_t w_noncompliant, w_vpc, w_subnet, w_managed, w_unmanaged;
    uint32_t memo[7];   /* res_make(): the last id of each repetitive field */
    eventwin_t *events; /* event ids seen (bounded: see model.h, Events) */
    struct smap pend;   /* pair key -> struct pend_pair, during one apply */
    struct model_stats st;
    char **domain_names; /* domain id - 1 -> name (borrowed from cfg) */
    size_t ndomains;
    struct scope *last_scope; /* scope_get(): the last one found (records come in runs) */
    /* res_state_fx(): the event time last formatted */
    int64_t fx_time_ms;
    bool fx_time_valid;
    char fx_time[RECORD_TIME_MAX];
    size_t fx_time_len;
};

/* ---- effects -------------------------------------------------------------------------- */

/* A block of the effects list's memory for compact effects (struct model_effects). One
 * block holds a portion of resource CIDR effects (about 400 bytes each). */
struct model_fx_block {
    struct model_fx_block *next;
    size_t len, cap;
    _Alignas(max_align_t) unsigned char mem[];
};

#define FX_BLOCK_SIZE (128 * 1024)

void model_effects_init(struct model_effects *fx)
{
    memset(fx, 0, sizeof *fx);
}

/* `n` bytes of the effects list's memory, aligned for pointers, valid until the held effects
 * are released. */
static void *fx_mem(struct model_effects *fx, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    struct model_fx_block *b = fx->block;
    if (b && b->cap - b->len < n) /* on to the next block, emptied by the last release */
        b = b->next && b->next->cap >= n ? b->next : NULL;
    if (!b) {
        size_t cap = n > FX_BLOCK_SIZE ? n : FX_BLOCK_SIZE;
        b = xmalloc(sizeof *b + cap);
        b->len = 0;
        b->cap = cap;
        if (fx->block) {
            b->next = fx->block->next;
            fx->block->next = b;
        } else {
            b->next = NULL;
            fx->blocks = b;
        }
    }
    fx->block = b;
    void *p = b->mem + b->len;
    b->len += n;
    return p;
}

json_t *model_effect_data(const struct model_effect *e)
{
    if (e->data || !e->built)
        return e->data;
    /* The producer copied values known to be UTF-8, so jansson need not check them. */
    if (!*e->built)
        *e->built = journal_fields_object(e->fields, e->nfields);
    return *e->built;
}

int model_effect_journal(journal_t *j, const struct model_effect *e)
{
    if (e->built)
        return journal_append_fields(j, e->kind, e->key, e->event_time, e->fields, e->nfields);
    return journal_append(j, e->kind, e->key, e->event_time, e->data);
}

/* Releases the held effects' keys and data; the list keeps its storage. */
static void fx_release(struct model_effects *fx)
{
    for (size_t i = 0; i < fx->n; i++) {
        struct model_effect *e = &fx->items[i];
        if (e->built) {
            json_decref(*e->built); /* the key is in the list's memory */
            continue;
        }
        free(e->key);
        json_decref(e->data);
    }
    fx->n = 0;
    for (struct model_fx_block *b = fx->blocks; b; b = b->next)
        b->len = 0;
    fx->block = fx->blocks;
}

void model_effects_clear(struct model_effects *fx)
{
    fx_release(fx);
    free(fx->items);
    fx->items = NULL;
    fx->cap = 0;
    for (struct model_fx_block *b = fx->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    fx->blocks = fx->block = NULL;
}

void model_effects_set_sink(struct model_effects *fx, model_effects_fn fn, void *ctx,
                            size_t portion)
{
    fx->sink = fn;
    fx->sink_ctx = fn ? ctx : NULL;
    fx->portion = portion ? portion : MODEL_EFFECTS_PORTION;
}

void model_effects_flush(struct model_effects *fx)
{
    if (!fx || !fx->sink || fx->n == 0)
        return;
    fx->sink(fx->sink_ctx, fx->items, fx->n);
    fx_release(fx);
}

/* Appends an effect; `key` and `data` are stolen. With a sink, a full portion goes out. */
/* Appends effect `e` at event time `ms` (RECORD_UNSET: 0); with a sink, a full portion goes
 * out. */
static void fx_push(struct model_effects *fx, struct model_effect e, int64_t ms)
{
    e.event_time = ms == RECORD_UNSET ? 0 : (time_t)(ms / 1000);
    fx->items = xgrow(fx->items, &fx->cap, fx->n + 1, sizeof *fx->items);
    fx->items[fx->n++] = e;
    if (fx->sink && fx->n >= fx->portion)
        model_effects_flush(fx);
}

static void fx_add(struct model_effects *fx, const char *kind, char *key, int64_t ms, json_t *data)
{
    if (!fx) {
        free(key);
        json_decref(data);
        return;
    }
    fx_push(fx, (struct model_effect){.kind = kind, .key = key, .data = data}, ms);
}

/* A string member of a compact effect's data before it is copied; `value` NULL: left out. */
struct fx_src {
    const char *name; /* static */
    const char *value;
    size_t len; /* strlen(value) when known, else 0 */
};

/* Appends a compact effect (model.h): its key is the concatenation of the `nkey` (at most 16)
 * strings `key_parts` up to the first NULL (key_lens[i]: the length of part i when known,
 * else 0; key_lens may be NULL), its data the members `src` (at most 16, names
 * strictly ascending, NULL values left out); all copied into the list's memory, so a
 * portion costs no allocation once the list's blocks exist. With a sink, a full portion goes
 * out. */
static void fx_add_fields(struct model_effects *fx, const char *kind, const char *const *key_parts,
                          const size_t *key_lens, size_t nkey, int64_t ms, const struct fx_src *src,
                          size_t nsrc)
{
    if (!fx)
        return;
    size_t klen[16], vlen[16], keylen = 0, text = 0, nf = 0;
    assert(nkey <= 16 && nsrc <= 16);
    for (size_t i = 0; i < nkey; i++) {
        if (!key_parts[i]) { /* the key ends at a NULL part */
            nkey = i;
            break;
        }
        keylen += klen[i] = key_lens && key_lens[i] ? key_lens[i] : strlen(key_parts[i]);
    }
    for (size_t i = 0; i < nsrc; i++) {
        if (!src[i].value)
            continue;
        text += (vlen[i] = src[i].len ? src[i].len : strlen(src[i].value)) + 1;
        nf++;
    }
    json_t **built =
        fx_mem(fx, sizeof(json_t *) + nf * sizeof(struct journal_field) + keylen + 1 + text);
    struct journal_field *f = (struct journal_field *)(built + 1);
    char *p = (char *)(f + nf), *key = p;
    *built = NULL;
    for (size_t i = 0; i < nkey; i++) {
        memcpy(p, key_parts[i], klen[i]);
        p += klen[i];
    }
    *p++ = '\0';
    nf = 0;
    for (size_t i = 0; i < nsrc; i++) {
        if (!src[i].value)
            continue;
        memcpy(p, src[i].value, vlen[i] + 1);
        f[nf++] = (struct journal_field){.name = src[i].name, .value = p, .len = vlen[i]};
        p += vlen[i] + 1;
    }
    fx_push(
        fx,
        (struct model_effect){.kind = kind, .key = key, .fields = f, .nfields = nf, .built = built},
        ms);
}

static void fmt_time(int64_t ms, char *buf, size_t len)
{
    if (ms == RECORD_UNSET || record_time_format(ms, buf, len) < 0)
        snprintf(buf, len, "unknown");
}

static void json_set_str(json_t *o, const char *k, const char *v)
{
    if (v)
        json_object_set_new(o, k, json_string(v));
}

/* ---- helpers -------------------------------------------------------------------------- */

static char *key2(const char *a, const char *b)
{
    return xasprintf("%s|%s", a ? a : "", b ? b : "");
}

static struct record *record_dup(const struct record *rec)
{
    char *buf = NULL;
    size_t len = 0;
    struct record *out = NULL;
    char err[256];
    if (record_encode(rec, &buf, &len) < 0)
        return NULL;
    if (record_decode(buf, len, &out, err, sizeof err) < 0)
        out = NULL;
    free(buf);
    return out;
}

static uint32_t owner_id(model_t *m, const char *name)
{
    return st_intern(&m->strs, name);
}

static uint32_t owner_find(const model_t *m, const char *name)
{
    return st_find(&m->strs, name);
}

/* The string of id `id` (NULL for 0). */
static const char *S(const model_t *m, uint32_t id)
{
    return st_str(&m->strs, id);
}

/* Its length (0 for 0). */
static size_t SL(const model_t *m, uint32_t id)
{
    return id ? st_len(&m->strs, id) : 0;
}

static struct scope *scope_get(model_t *m, const char *id, bool create)
{
    if (m->last_scope && strcmp(m->last_scope->id, id) == 0)
        return m->last_scope;
    struct scope *sc = smap_get(&m->scopes, id);
    if (!sc && create) {
        sc = xcalloc(1, sizeof *sc);
        sc->id = xstrdup(id);
        sc->snapshot_ms = RECORD_UNSET;
        smap_put(&m->scopes, id, sc);
    }
    if (sc)
        m->last_scope = sc;
    return sc;
}

static bool recent_has(const struct scope *sc, const char *pass_id)
{
    for (unsigned i = 0; i < MODEL_RECENT_PASSES; i++)
        if (sc->recent[i] && strcmp(sc->recent[i], pass_id) == 0)
            return true;
    return false;
}

static void recent_add(struct scope *sc, const char *pass_id)
{
    if (recent_has(sc, pass_id))
        return;
    free(sc->recent[sc->recent_pos]);
    sc->recent[sc->recent_pos] = xstrdup(pass_id);
    sc->recent_pos = (sc->recent_pos + 1) % MODEL_RECENT_PASSES;
}

static bool str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static bool is_noncompliant(const model_t *m, const struct res *r)
{
    return r && r->compliance == m->w_noncompliant;
}

static bool is_unmanaged(const model_t *m, const struct res *r)
{
    return r && r->mgmt == m->w_unmanaged;
}

/* ---- overlap membership --------------------------------------------------------------- */

static bool list_has(const struct config_list *l, const char *s)
{
    if (!s)
        return false;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i], s) == 0)
            return true;
    return false;
}

/* True when resource `r` of scope `sc` belongs to domain `d`. */
static bool in_domain(const model_t *m, const struct scope *sc, const struct res *r,
                      const struct config_domain *d)
{
    if (list_has(&d->scopes, sc->id))
        return true;
    if (sc->live.scope && list_has(&d->scopes, sc->live.scope->u.scope.scope_type))
        return true;
    const char *pool = S(m, r->pool);
    for (int depth = 0; pool && depth < 64; depth++) {
        if (list_has(&d->pools, pool))
            return true;
        struct item *p = smap_get(&sc->live.pools, pool);
        pool = p ? p->rec->u.pool.parent : NULL;
    }
    return false;
}

static void pair_cb(void *ctx, enum overlap_event ev, const struct overlap_entry *a,
                    const struct overlap_entry *b)
{
    model_t *m = ctx;
    char ca[PREFIX_STRLEN], cb[PREFIX_STRLEN];
    prefix_format(&a->prefix, ca, sizeof ca);
    prefix_format(&b->prefix, cb, sizeof cb);
    char *sa = xasprintf("%s/%s", S(m, a->owner), ca);
    char *sb = xasprintf("%s/%s", S(m, b->owner), cb);
    if (strcmp(sa, sb) > 0) {
        char *t = sa;
        sa = sb;
        sb = t;
    }
    const char *dom = m->domain_names[a->domain - 1];
    char *key = xasprintf("%s:%s~%s", dom, sa, sb);
    struct pend_pair *pp = smap_get(&m->pend, key);
    if (!pp) {
        pp = xcalloc(1, sizeof *pp);
        pp->domain = xstrdup(dom);
        pp->a = sa;
        pp->b = sb;
        smap_put(&m->pend, key, pp);
    } else {
        free(sa);
        free(sb);
    }
    pp->net += ev == OVERLAP_CREATED ? 1 : ev == OVERLAP_ENDED ? -1 : 0;
    free(key);
}

/* Inserts (or removes) the overlap entries of resource `r` of scope `sc`. */
static void index_item(model_t *m, const struct scope *sc, const struct res *r, bool insert)
{
    if (!m->ndomains)
        return;
    for (size_t d = 0; d < m->ndomains; d++) {
        if (!in_domain(m, sc, r, &m->cfg->domains[d]))
            continue;
        struct overlap_entry e = {.domain = (uint32_t)d + 1};
        res_prefix(r, &e.prefix);
        e.owner = r->id;
        e.parent = r->vpc && r->vpc != r->id ? r->vpc : OVERLAP_NO_PARENT;
        int rc =
            insert ? overlap_insert(m->ov, &e, pair_cb, m) : overlap_remove(m->ov, &e, pair_cb, m);
        if (rc < 0)
            LOG_DEBUG("overlap_%s %s: %s", insert ? "insert" : "remove", S(m, r->id),
                      strerror(-rc));
    }
}

static void index_scope(model_t *m, const struct scope *sc, bool insert)
{
    if (!m->ndomains)
        return;
    for (size_t k = 0; k < sc->live.res.n; k++)
        index_item(m, sc, &sc->live.res.v[k], insert);
}

/* Turns the netted pair changes of this call into effects at time `ms`. */
static void flush_pairs(model_t *m, struct model_effects *fx, int64_t ms)
{
    char t[RECORD_TIME_MAX];
    fmt_time(ms, t, sizeof t);
    SMAP_FOREACH(&m->pend, n)
    {
        struct pend_pair *pp = n->val;
        if (pp->net == 0)
            continue;
        const char *kind = pp->net > 0 ? "overlap_opened" : "overlap_closed";
        json_t *d = json_object();
        json_set_str(d, "domain", pp->domain);
        json_set_str(d, "pair", n->key);
        json_set_str(d, "a", pp->a);
        json_set_str(d, "b", pp->b);
        fx_add(fx, kind, xasprintf("%s:%s:%s", kind, n->key, t), ms, d);
    }
    smap_clear(&m->pend, pend_free);
}

/* One resource CIDR entering (`is`) or leaving a state: effect `on` or `off` with its
 * fields, `status` being `neu`'s `field` (its compliance or management state) or "deleted". */
static void res_state_fx(model_t *m, struct model_effects *fx, const char *scope_id,
                         const struct res *old, const struct res *neu, bool is, const char *on,
                         const char *off, uint32_t field, int64_t ms)
{
    const struct res *r = neu ? neu : old;
    const char *kind = is ? on : off;
    char cidr[PREFIX_STRLEN];
    if (!m->fx_time_valid || m->fx_time_ms != ms) { /* a pass's effects share one time */
        fmt_time(ms, m->fx_time, sizeof m->fx_time);
        m->fx_time_len = strlen(m->fx_time);
        m->fx_time_ms = ms;
        m->fx_time_valid = true;
    }
    const char *t = m->fx_time;
    prefix_t p;
    res_prefix(r, &p);
    prefix_format(&p, cidr, sizeof cidr);
    /* The data in the compact form, names in byte order; the values are UTF-8 (interned
     * strings of checked records, or formatted here); the interned ones' lengths are known. */
    size_t l_cidr = strlen(cidr), l_scope = strlen(scope_id), l_id = SL(m, r->id);
    const struct fx_src src[] = {
        {"cidr", cidr, l_cidr},
        {"name", S(m, r->name), SL(m, r->name)},
        {"owner", S(m, r->owner), SL(m, r->owner)},
        {"pool_id", S(m, r->pool), SL(m, r->pool)},
        {"region", S(m, r->region), SL(m, r->region)},
        {"resource_id", S(m, r->id), l_id},
        {"resource_type", S(m, r->type), SL(m, r->type)},
        {"scope_id", scope_id, l_scope},
        {"status", neu ? S(m, field) : "deleted", neu ? SL(m, field) : 0},
    };
    /* Every stored resource CIDR has an id (res_make() refuses one without). */
    const char *key[] = {kind, ":", scope_id, "/", S(m, r->id), "/", cidr, ":", t};
    const size_t key_lens[] = {0, 1, l_scope, 1, l_id, 1, l_cidr, 1, m->fx_time_len};
    fx_add_fields(fx, kind, key, key_lens, sizeof key / sizeof *key, ms, src,
                  sizeof src / sizeof *src);
}

/* Compliance and management transitions of one resource CIDR from `old` to `neu` (either
 * may be NULL): noncompliant/compliant, unmanaged/managed. */
static void compliance_fx(model_t *m, struct model_effects *fx, const char *scope_id,
                          const struct res *old, const struct res *neu, int64_t ms)
{
    bool was = is_noncompliant(m, old), is = is_noncompliant(m, neu);
    if (was != is)
        res_state_fx(m, fx, scope_id, old, neu, is, "noncompliant", "compliant",
                     neu ? neu->compliance : 0, ms);
    was = is_unmanaged(m, old);
    is = is_unmanaged(m, neu);
    if (was != is)
        res_state_fx(m, fx, scope_id, old, neu, is, "unmanaged", "managed", neu ? neu->mgmt : 0,
                     ms);
}

/* ---- storing records ------------------------------------------------------------------ */

/* Builds the item of an inventory record (copied). Returns NULL with text in err when its
 * CIDR does not parse; *keyp receives the item's map key (owned by the caller). */
static struct item *item_make(const struct record *rec, char **keyp, char *err, size_t errlen)
{
    const char *cidr = NULL;
    char *key = NULL;
    switch (rec->type) {
    case RECORD_POOL:
        key = xstrdup(rec->u.pool.pool_id);
        break;
    case RECORD_POOL_CIDR:
        cidr = rec->u.pool_cidr.cidr;
        if (cidr)
            key = key2(rec->u.pool_cidr.pool_id, cidr);
        else
            key = xasprintf("%s|#%s", rec->u.pool_cidr.pool_id,
                            rec->u.pool_cidr.pool_cidr_id ? rec->u.pool_cidr.pool_cidr_id
                                                          : "pending");
        break;
    case RECORD_ALLOCATION:
        cidr = rec->u.allocation.cidr;
        key = key2(rec->u.allocation.pool_id, rec->u.allocation.allocation_id);
        break;
    case RECORD_DISCOVERED_ACCOUNT:
        key = key2(rec->u.discovered_account.account_id, rec->u.discovered_account.region);
        break;
    default:
        snprintf(err, errlen, "model: record type %s is not an inventory object",
                 record_type_name(rec->type));
        return NULL;
    }
    struct item *it = xcalloc(1, sizeof *it);
    if (cidr) {
        char perr[160];
        if (prefix_parse(cidr, &it->pfx, perr, sizeof perr) < 0) {
            snprintf(err, errlen, "model: %s: %s", record_type_name(rec->type), perr);
            free(it);
            free(key);
            return NULL;
        }
        it->has_pfx = true;
    }
    it->rec = record_dup(rec);
    if (!it->rec) {
        snprintf(err, errlen, "model: %s record does not validate", record_type_name(rec->type));
        free(it);
        free(key);
        return NULL;
    }
    *keyp = key;
    return it;
}

static struct smap *snap_map(struct snap *s, enum record_type t)
{
    switch (t) {
    case RECORD_POOL:
        return &s->pools;
    case RECORD_POOL_CIDR:
        return &s->pcidrs;
    case RECORD_ALLOCATION:
        return &s->allocs;
    case RECORD_DISCOVERED_ACCOUNT:
        return &s->accounts;
    default:
        return NULL;
    }
}

/* Fills *out with the compact form of resource CIDR record `rec` (strings interned).
 * Returns 0, or -EINVAL with text in err when its CIDR does not parse. */
static int res_make(model_t *m, const struct record *rec, struct res *out, char *err, size_t errlen)
{
    const struct record_resource_cidr *r = &rec->u.resource_cidr;
    prefix_t p;
    char perr[160];
    if (!r->cidr || !r->resource_id) {
        snprintf(err, errlen, "model: resource_cidr without %s", r->cidr ? "resource id" : "cidr");
        return -EINVAL;
    }
    if (prefix_parse(r->cidr, &p, perr, sizeof perr) < 0) {
        snprintf(err, errlen, "model: resource_cidr: %s", perr);
        return -EINVAL;
    }
    memset(out, 0, sizeof *out);
    out->hi = (uint64_t)(p.addr >> 64);
    out->lo = (uint64_t)p.addr;
    out->family = p.family;
    out->len = p.len;
    out->usage = r->ip_usage;
    const char *const str[] = {
        r->resource_id,     r->name,   r->vpc_id,        r->pool_id,
        r->owner,           r->region, r->resource_type, r->compliance_status,
        r->management_state};
    uint32_t *const memo[] = {NULL,        NULL,        &m->memo[0], &m->memo[1], &m->memo[2],
                              &m->memo[3], &m->memo[4], &m->memo[5], &m->memo[6]};
    uint32_t ids[sizeof str / sizeof *str];
    st_intern_many(&m->strs, str, memo, ids, sizeof str / sizeof *str);
    out->id = ids[0];
    out->name = ids[1];
    out->vpc = ids[2];
    out->pool = ids[3];
    out->owner = ids[4];
    out->region = ids[5];
    out->type = ids[6];
    out->compliance = ids[7];
    out->mgmt = ids[8];
    return 0;
}

/* Stores a copy of inventory record `rec` into snapshot `s`. Returns 0 or -EINVAL. */
static int snap_store(model_t *m, struct snap *s, const struct record *rec, char *err,
                      size_t errlen)
{
    if (rec->type == RECORD_RESOURCE_CIDR) {
        struct res r;
        int rc = res_make(m, rec, &r, err, errlen);
        if (rc == 0)
            rs_put(&s->res, &r);
        return rc;
    }
    if (rec->type == RECORD_IPAM || rec->type == RECORD_SCOPE) {
        struct record *copy = record_dup(rec);
        if (!copy) {
            snprintf(err, errlen, "model: %s record does not validate",
                     record_type_name(rec->type));
            return -EINVAL;
        }
        struct record **slot = rec->type == RECORD_IPAM ? &s->ipam : &s->scope;
        record_free(*slot);
        *slot = copy;
        return 0;
    }
    char *key = NULL;
    struct item *it = item_make(rec, &key, err, errlen);
    if (!it)
        return -EINVAL;
    item_free(smap_put(snap_map(s, rec->type), key, it));
    free(key);
    return 0;
}

/* ---- passes --------------------------------------------------------------------------- */

static const enum record_type inventory_types[] = {
    RECORD_IPAM,
    RECORD_SCOPE,
    RECORD_POOL,
    RECORD_POOL_CIDR,
    RECORD_ALLOCATION,
    RECORD_RESOURCE_CIDR,
    RECORD_DISCOVERED_ACCOUNT,
};
#define N_INVENTORY_TYPES (sizeof inventory_types / sizeof inventory_types[0])

static json_t *counts_json(const int64_t *counts)
{
    json_t *o = json_object();
    for (size_t i = 0; i < N_INVENTORY_TYPES; i++)
        json_object_set_new(o, record_type_name(inventory_types[i]),
                            json_integer(counts[inventory_types[i]]));
    return o;
}

static struct stage *stage_find(struct scope *sc, const char *pass_id, struct stage ***prevp)
{
    struct stage **pp = &sc->stages;
    for (; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->pass_id, pass_id) == 0) {
            if (prevp)
                *prevp = pp;
            return *pp;
        }
    }
    return NULL;
}

static void stage_unlink(struct scope *sc, struct stage *st)
{
    for (struct stage **pp = &sc->stages; *pp; pp = &(*pp)->next) {
        if (*pp == st) {
            *pp = st->next;
            return;
        }
    }
}

/* Reports pass `pass_id` of scope `sc` as torn (and remembers it, so a replay is silent). */
static void torn_fx(model_t *m, struct scope *sc, const char *pass_id, const char *source,
                    int64_t ms, const char *reason, const int64_t *expected,
                    const int64_t *received, struct model_effects *fx)
{
    m->st.passes_torn++;
    recent_add(sc, pass_id);
    json_t *d = json_object();
    json_set_str(d, "scope_id", sc->id);
    json_set_str(d, "pass", pass_id);
    json_set_str(d, "source", source);
    json_set_str(d, "reason", reason);
    if (expected)
        json_object_set_new(d, "expected", counts_json(expected));
    if (received)
        json_object_set_new(d, "received", counts_json(received));
    LOG_INFO("scope %s: pass %s torn: %s", sc->id, pass_id, reason);
    fx_add(fx, "pass_torn", xasprintf("pass_torn:%s:%s", sc->id, pass_id), ms, d);
}

static void stage_tear(model_t *m, struct scope *sc, struct stage *st, const char *reason,
                       struct model_effects *fx)
{
    stage_unlink(sc, st);
    if (!st->ignore)
        torn_fx(m, sc, st->pass_id, st->source, st->started_ms, reason, NULL, st->counts, fx);
    stage_free(st);
}

/* Lets the event ids go that no scope needs: older than every scope's snapshot (such an event
 * only yields its ledger record, which the journal's keys catch) and than the time window. */
static void prune_events(model_t *m)
{
    int64_t oldest = INT64_MAX;
    SMAP_FOREACH(&m->scopes, n)
    {
        const struct scope *sc = n->val;
        if (sc->snapshot_ms == RECORD_UNSET)
            return; /* a scope without snapshot keeps every id the count cap allows */
        if (sc->snapshot_ms < oldest)
            oldest = sc->snapshot_ms;
    }
    if (oldest != INT64_MAX)
        eventwin_expire(m->events, oldest);
}

/* Replaces the live state of `sc` with the snapshot of `st` (which is consumed). */
static void pass_replace(model_t *m, struct scope *sc, struct stage *st, const struct record *end,
                         struct model_effects *fx)
{
    int64_t ms = st->started_ms != RECORD_UNSET ? st->started_ms : end->ts_ms;
    index_scope(m, sc, false);
    for (size_t k = 0; k < sc->live.res.n; k++) {
        const struct res *old = &sc->live.res.v[k];
        compliance_fx(m, fx, sc->id, old, rs_get(&st->snap.res, old), ms);
    }
    for (size_t k = 0; k < st->snap.res.n; k++) {
        const struct res *neu = &st->snap.res.v[k];
        if (!rs_get(&sc->live.res, neu))
            compliance_fx(m, fx, sc->id, NULL, neu, ms);
    }
    snap_clear(&sc->live);
    sc->live = st->snap;
    memset(&st->snap, 0, sizeof st->snap);
    sc->snapshot_ms = ms;
    recent_add(sc, st->pass_id);
    index_scope(m, sc, true);
    flush_pairs(m, fx, ms);

    m->st.passes_applied++;
    json_t *d = json_object();
    json_set_str(d, "scope_id", sc->id);
    json_set_str(d, "pass", st->pass_id);
    json_set_str(d, "source", st->source);
    json_object_set_new(d, "counts", counts_json(st->counts));
    fx_add(fx, "pass", xasprintf("pass:%s:%s", sc->id, st->pass_id), ms, d);
    stage_unlink(sc, st);
    stage_free(st);
    prune_events(m);
}

static int apply_pass_begin(model_t *m, struct scope *sc, const struct record *rec,
                            struct model_effects *fx)
{
    if (stage_find(sc, rec->pass_id, NULL))
        return 0; /* a repeated pass_begin */
    struct stage *st = xcalloc(1, sizeof *st);
    st->pass_id = xstrdup(rec->pass_id);
    st->source = xstrdup(rec->source);
    st->started_ms = rec->u.pass_begin.started_ms;
    if (recent_has(sc, rec->pass_id) ||
        (sc->snapshot_ms != RECORD_UNSET && st->started_ms <= sc->snapshot_ms)) {
        st->ignore = true;
        m->st.passes_replayed++;
    }
    /* A new pass of the same collector ends the one it never finished (a replayed old
     * pass_begin does not). */
    for (struct stage *o = st->ignore ? NULL : sc->stages, *next; o; o = next) {
        next = o->next;
        if (strcmp(o->source, st->source) == 0) {
            char reason[300];
            snprintf(reason, sizeof reason, "no pass_end before pass %s began", st->pass_id);
            stage_tear(m, sc, o, reason, fx);
        }
    }
    size_t n = 0;
    for (struct stage *o = sc->stages; o; o = o->next)
        n++;
    while (n-- >= MODEL_MAX_STAGES) {
        struct stage *last = sc->stages;
        while (last->next)
            last = last->next;
        stage_tear(m, sc, last, "too many passes in progress", fx);
    }
    st->next = sc->stages;
    sc->stages = st;
    return 0;
}

static int apply_pass_end(model_t *m, struct scope *sc, const struct record *rec,
                          struct model_effects *fx)
{
    const struct record_pass_end *pe = &rec->u.pass_end;
    struct stage *st = stage_find(sc, rec->pass_id, NULL);
    if (st && st->ignore) {
        stage_unlink(sc, st);
        stage_free(st);
        return 0;
    }
    if (recent_has(sc, rec->pass_id)) {
        m->st.passes_replayed++;
        if (st) {
            stage_unlink(sc, st);
            stage_free(st);
        }
        return 0;
    }
    if (!st) {
        torn_fx(m, sc, rec->pass_id, rec->source, rec->ts_ms, "pass_begin not seen", pe->counts,
                NULL, fx);
        return 0;
    }
    if (!pe->complete) {
        char reason[600];
        snprintf(reason, sizeof reason, "collector reported the pass incomplete%s%s",
                 pe->error ? ": " : "", pe->error ? pe->error : "");
        stage_unlink(sc, st);
        torn_fx(m, sc, st->pass_id, st->source, st->started_ms, reason, pe->counts, st->counts, fx);
        stage_free(st);
        return 0;
    }
    char reason[600] = "";
    size_t off = 0;
    for (size_t i = 0; i < N_INVENTORY_TYPES; i++) {
        enum record_type t = inventory_types[i];
        if (pe->counts[t] == st->counts[t])
            continue;
        int w = snprintf(
            reason + off, sizeof reason - off, "%s%s: %" PRId64 " sent, %" PRId64 " received",
            off ? "; " : "counts differ: ", record_type_name(t), pe->counts[t], st->counts[t]);
        if (w > 0 && (size_t)w < sizeof reason - off)
            off += (size_t)w;
    }
    if (off) {
        stage_unlink(sc, st);
        torn_fx(m, sc, st->pass_id, st->source, st->started_ms, reason, pe->counts, st->counts, fx);
        stage_free(st);
        return 0;
    }
    pass_replace(m, sc, st, rec, fx);
    return 0;
}

/* An inventory record outside any pass: update what it describes in place. */
static int apply_direct(model_t *m, struct scope *sc, const struct record *rec,
                        struct model_effects *fx, char *err, size_t errlen)
{
    int64_t ms = rec->ts_ms;
    if (rec->type == RECORD_SCOPE || rec->type == RECORD_POOL) {
        index_scope(m, sc, false);
        int rc = snap_store(m, &sc->live, rec, err, errlen);
        index_scope(m, sc, true);
        flush_pairs(m, fx, ms);
        return rc;
    }
    if (rec->type == RECORD_RESOURCE_CIDR) {
        struct res r;
        if (res_make(m, rec, &r, err, errlen) < 0)
            return -EINVAL;
        struct res *old = rs_get(&sc->live.res, &r);
        compliance_fx(m, fx, sc->id, old, &r, ms);
        if (old)
            index_item(m, sc, old, false);
        index_item(m, sc, rs_put(&sc->live.res, &r), true);
        flush_pairs(m, fx, ms);
        return 0;
    }
    return snap_store(m, &sc->live, rec, err, errlen);
}

static int apply_inventory(model_t *m, const struct record *rec, struct model_effects *fx,
                           char *err, size_t errlen)
{
    if (!rec->scope) {
        snprintf(err, errlen, "model: %s record without a scope", record_type_name(rec->type));
        return -EINVAL;
    }
    struct scope *sc = scope_get(m, rec->scope, true);
    if (!rec->pass_id)
        return apply_direct(m, sc, rec, fx, err, errlen);
    struct stage *st = stage_find(sc, rec->pass_id, NULL);
    if (!st || st->ignore)
        return 0; /* its pass_begin was not seen (reported at pass_end) or a replay */
    st->counts[rec->type]++;
    return snap_store(m, &st->snap, rec, err, errlen);
}

/* ---- events --------------------------------------------------------------------------- */

static struct scope *scope_of_pool(model_t *m, const char *pool_id)
{
    if (!pool_id)
        return NULL;
    SMAP_FOREACH(&m->scopes, n)
    {
        struct scope *sc = n->val;
        if (smap_get(&sc->live.pools, pool_id))
            return sc;
    }
    return NULL;
}

static struct scope *scope_of_resource(model_t *m, const char *resource_id)
{
    uint32_t id = st_find(&m->strs, resource_id);
    if (!id)
        return NULL;
    SMAP_FOREACH(&m->scopes, n)
    {
        struct scope *sc = n->val;
        for (size_t k = 0; k < sc->live.res.n; k++)
            if (sc->live.res.v[k].id == id)
                return sc;
    }
    return NULL;
}

static json_t *event_json(const struct record *rec, const struct scope *sc)
{
    const struct record_event *ev = &rec->u.event;
    json_t *d = json_object();
    json_set_str(d, "event", ev->name);
    json_set_str(d, "event_id", ev->event_id);
    json_set_str(d, "account", ev->account);
    json_set_str(d, "region", ev->region);
    json_set_str(d, "caller_account", ev->caller_account);
    json_set_str(d, "principal_arn", ev->principal.arn);
    json_set_str(d, "principal_type", ev->principal.type);
    json_set_str(d, "session_issuer_arn", ev->principal.session_issuer_arn);
    json_set_str(d, "source_ip", ev->source_ip);
    json_set_str(d, "user_agent", ev->user_agent);
    json_set_str(d, "pool_id", ev->pool_id);
    json_set_str(d, "allocation_id", ev->allocation_id);
    json_set_str(d, "cidr", ev->cidr);
    if (ev->netmask_length != RECORD_UNSET)
        json_object_set_new(d, "netmask_length", json_integer(ev->netmask_length));
    json_set_str(d, "resource_id", ev->resource_id);
    json_set_str(d, "vpc_id", ev->vpc_id);
    json_set_str(d, "error_code", ev->error_code);
    json_set_str(d, "error_message", ev->error_message);
    json_set_str(d, "scope_id", sc ? sc->id : rec->scope);
    return d;
}

/* Builds an inventory record for a change an event describes (envelope filled). */
static struct record *synth(enum record_type t, const struct scope *sc, int64_t ms)
{
    struct record *r = record_new(t);
    record_str_set(&r->scope, sc->id);
    record_str_set(&r->source, MODEL_SOURCE);
    r->ts_ms = ms;
    return r;
}

static void put_item(struct smap *map, struct record *rec, const char *key)
{
    struct item *it = xcalloc(1, sizeof *it);
    it->rec = rec;
    const char *cidr = rec->type == RECORD_ALLOCATION      ? rec->u.allocation.cidr
                       : rec->type == RECORD_POOL_CIDR     ? rec->u.pool_cidr.cidr
                       : rec->type == RECORD_RESOURCE_CIDR ? rec->u.resource_cidr.cidr
                                                           : NULL;
    char e[160];
    it->has_pfx = cidr && prefix_parse(cidr, &it->pfx, e, sizeof e) == 0;
    item_free(smap_put(map, key, it));
}

/* Removes the resource CIDRs for which `match` holds (with their overlap entries). */
static void remove_resources(model_t *m, struct scope *sc, const char *resource_id,
                             const char *vpc_id, const char *cidr, struct model_effects *fx,
                             int64_t ms)
{
    uint32_t rid = st_find(&m->strs, resource_id), vid = st_find(&m->strs, vpc_id);
    prefix_t want;
    char perr[160];
    if ((!rid && !vid) || (cidr && prefix_parse(cidr, &want, perr, sizeof perr) < 0))
        return;
    /* From the end, so that the element moved into a removed one's place was checked. */
    for (size_t k = sc->live.res.n; k-- > 0;) {
        const struct res *r = &sc->live.res.v[k];
        bool hit = (rid && r->id == rid) || (vid && r->vpc == vid);
        if (hit && cidr) {
            prefix_t p;
            res_prefix(r, &p);
            hit = prefix_cmp(&p, &want) == 0;
        }
        if (!hit)
            continue;
        index_item(m, sc, r, false);
        compliance_fx(m, fx, sc->id, r, NULL, ms);
        rs_del(&sc->live.res, k);
    }
}

static void remove_allocations_of(struct scope *sc, const char *resource_id, const char *cidr)
{
    size_t nk = 0, cap = 0;
    char **keys = NULL;
    SMAP_FOREACH(&sc->live.allocs, n)
    {
        const struct record_allocation *a = &((struct item *)n->val)->rec->u.allocation;
        if (str_eq(a->resource_id, resource_id) && (!cidr || str_eq(a->cidr, cidr))) {
            keys = xgrow(keys, &cap, nk + 1, sizeof *keys);
            keys[nk++] = xstrdup(n->key);
        }
    }
    for (size_t i = 0; i < nk; i++) {
        item_free(smap_del(&sc->live.allocs, keys[i]));
        free(keys[i]);
    }
    free(keys);
}

static void add_resource(model_t *m, struct scope *sc, const struct record *rec, const char *type,
                         const char *id, const char *vpc, struct model_effects *fx)
{
    const struct record_event *ev = &rec->u.event;
    prefix_t p;
    char perr[160];
    if (prefix_parse(ev->cidr, &p, perr, sizeof perr) < 0) {
        LOG_DEBUG("event %s: %s", ev->event_id, perr);
        return;
    }
    struct res r = {.hi = (uint64_t)(p.addr >> 64), .lo = (uint64_t)p.addr, .usage = NAN};
    r.family = p.family;
    r.len = p.len;
    r.type = st_intern(&m->strs, type);
    r.id = st_intern(&m->strs, id);
    r.vpc = st_intern(&m->strs, vpc);
    r.owner = st_intern(&m->strs, ev->account);
    r.region = st_intern(&m->strs, ev->region);
    r.pool = st_intern(&m->strs, ev->pool_id);
    /* Without a pool the management state is IPAM's to say (the next pass): "unmanaged" is
     * journaled from the inventory only. */
    r.mgmt = ev->pool_id ? m->w_managed : 0;
    struct res *old = rs_get(&sc->live.res, &r);
    if (old)
        index_item(m, sc, old, false);
    index_item(m, sc, rs_put(&sc->live.res, &r), true);
    (void)fx;
    /* A VPC from a pool is an allocation in that pool (IPAM records it as one). */
    if (ev->pool_id && smap_get(&sc->live.pools, ev->pool_id)) {
        struct record *a = synth(RECORD_ALLOCATION, sc, ev->time_ms);
        record_str_set(&a->u.allocation.pool_id, ev->pool_id);
        char *aid = xasprintf("event-%s", ev->event_id);
        record_str_set(&a->u.allocation.allocation_id, aid);
        record_str_set(&a->u.allocation.cidr, ev->cidr);
        record_str_set(&a->u.allocation.resource_type, type);
        record_str_set(&a->u.allocation.resource_id, id);
        record_str_set(&a->u.allocation.resource_owner, ev->account);
        record_str_set(&a->u.allocation.resource_region, ev->region);
        char *akey = key2(ev->pool_id, aid);
        put_item(&sc->live.allocs, a, akey);
        free(akey);
        free(aid);
    }
}

/* True when the inventory (not an event) of `sc` holds allocation `aid` (or, without an id,
 * one of `cidr`) in `pool_id`. */
static bool alloc_in_inventory(const struct scope *sc, const char *pool_id, const char *aid,
                               const char *cidr)
{
    if (!sc || !pool_id)
        return false;
    if (aid) {
        char *k = key2(pool_id, aid);
        const struct item *it = smap_get(&sc->live.allocs, k);
        free(k);
        return it && !str_eq(it->rec->source, MODEL_SOURCE);
    }
    SMAP_FOREACH(&sc->live.allocs, n)
    {
        const struct record *r = ((const struct item *)n->val)->rec;
        if (str_eq(r->u.allocation.pool_id, pool_id) && str_eq(r->u.allocation.cidr, cidr) &&
            !str_eq(r->source, MODEL_SOURCE))
            return true;
    }
    return false;
}

static int apply_event(model_t *m, const struct record *rec, struct model_effects *fx, char *err,
                       size_t errlen)
{
    const struct record_event *ev = &rec->u.event;
    enum eventwin_result seen = eventwin_add(m->events, ev->event_id, ev->time_ms);
    if (seen == EVENTWIN_DUPLICATE) {
        m->st.events_duplicate++;
        return 0;
    }
    /* EVENTWIN_UNCHECKED is applied as new (counted by the window; see model.h, Events). */

    if (!ev->parsed) {
        json_t *d = event_json(rec, NULL);
        fx_add(fx, "event_unparsed", xstrdup(ev->event_id), ev->time_ms, d);
        return 0;
    }
    const char *name = ev->name;
    struct scope *sc = scope_of_pool(m, ev->pool_id);
    const char *vpc = ev->vpc_id ? ev->vpc_id : NULL;
    if (!sc && (str_eq(name, "CreateSubnet") || str_eq(name, "AssociateSubnetCidrBlock")))
        sc = scope_of_resource(m, vpc);
    if (!sc &&
        (str_eq(name, "DeleteVpc") || str_eq(name, "DeleteSubnet") ||
         str_eq(name, "DisassociateVpcCidrBlock") || str_eq(name, "DisassociateSubnetCidrBlock")))
        sc = scope_of_resource(m, ev->resource_id ? ev->resource_id : vpc);
    if (!sc && rec->scope)
        sc = scope_get(m, rec->scope, false);

    if (ev->error_code) {
        m->st.events_failed++;
        bool alloc = str_eq(name, "AllocateIpamPoolCidr") || ev->pool_id;
        fx_add(fx, alloc ? "allocation_failed" : "event_failed", xstrdup(ev->event_id), ev->time_ms,
               event_json(rec, sc));
        return 0;
    }

    const char *kind = "event";
    bool changes = sc && (sc->snapshot_ms == RECORD_UNSET || ev->time_ms > sc->snapshot_ms);
    bool applied = false;
    const char *rid = ev->resource_id ? ev->resource_id : vpc;
    bool in_inventory = false;
    if (str_eq(name, "AllocateIpamPoolCidr")) {
        kind = "allocation";
        in_inventory = alloc_in_inventory(sc, ev->pool_id, ev->allocation_id, ev->cidr);
        if (changes && ev->pool_id && ev->allocation_id && ev->cidr &&
            smap_get(&sc->live.pools, ev->pool_id)) {
            struct record *a = synth(RECORD_ALLOCATION, sc, ev->time_ms);
            record_str_set(&a->u.allocation.pool_id, ev->pool_id);
            record_str_set(&a->u.allocation.allocation_id, ev->allocation_id);
            record_str_set(&a->u.allocation.cidr, ev->cidr);
            record_str_set(&a->u.allocation.resource_type, "custom");
            record_str_set(&a->u.allocation.resource_owner, ev->account);
            char *k = key2(ev->pool_id, ev->allocation_id);
            put_item(&sc->live.allocs, a, k);
            free(k);
            applied = true;
        }
    } else if (str_eq(name, "ReleaseIpamPoolAllocation")) {
        kind = "release";
        if (changes && ev->pool_id) {
            if (ev->allocation_id) {
                char *k = key2(ev->pool_id, ev->allocation_id);
                struct item *it = smap_del(&sc->live.allocs, k);
                applied = it != NULL;
                item_free(it);
                free(k);
            }
            if (!applied && ev->cidr) {
                SMAP_FOREACH(&sc->live.allocs, n)
                {
                    const struct record_allocation *a = &((struct item *)n->val)->rec->u.allocation;
                    if (str_eq(a->pool_id, ev->pool_id) && str_eq(a->cidr, ev->cidr)) {
                        char *k = xstrdup(n->key);
                        item_free(smap_del(&sc->live.allocs, k));
                        free(k);
                        applied = true;
                        break;
                    }
                }
            }
        }
    } else if (str_eq(name, "ProvisionIpamPoolCidr")) {
        kind = "provision";
        if (changes && ev->pool_id && ev->cidr && smap_get(&sc->live.pools, ev->pool_id)) {
            struct record *p = synth(RECORD_POOL_CIDR, sc, ev->time_ms);
            record_str_set(&p->u.pool_cidr.pool_id, ev->pool_id);
            record_str_set(&p->u.pool_cidr.cidr, ev->cidr);
            record_str_set(&p->u.pool_cidr.state, "provisioned");
            char *k = key2(ev->pool_id, ev->cidr);
            put_item(&sc->live.pcidrs, p, k);
            free(k);
            applied = true;
        }
    } else if (str_eq(name, "DeprovisionIpamPoolCidr")) {
        kind = "deprovision";
        if (changes && ev->pool_id && ev->cidr) {
            char *k = key2(ev->pool_id, ev->cidr);
            struct item *it = smap_del(&sc->live.pcidrs, k);
            applied = it != NULL;
            item_free(it);
            free(k);
        }
    } else if (str_eq(name, "CreateVpc") || str_eq(name, "AssociateVpcCidrBlock")) {
        kind = str_eq(name, "CreateVpc") ? "vpc_created" : "vpc_cidr_associated";
        if (changes && rid && ev->cidr) {
            add_resource(m, sc, rec, "vpc", rid, rid, fx);
            applied = true;
        }
    } else if (str_eq(name, "CreateSubnet") || str_eq(name, "AssociateSubnetCidrBlock")) {
        kind = "subnet_created";
        const char *sid = ev->resource_id;
        if (changes && sid && ev->cidr) {
            add_resource(m, sc, rec, "subnet", sid, vpc, fx);
            applied = true;
        }
    } else if (str_eq(name, "DeleteVpc")) {
        kind = "vpc_deleted";
        if (changes && rid) {
            remove_resources(m, sc, rid, rid, NULL, fx, ev->time_ms);
            remove_allocations_of(sc, rid, NULL);
            applied = true;
        }
    } else if (str_eq(name, "DisassociateVpcCidrBlock")) {
        kind = "vpc_cidr_disassociated";
        if (changes && rid && ev->cidr) {
            remove_resources(m, sc, rid, NULL, ev->cidr, fx, ev->time_ms);
            remove_allocations_of(sc, rid, ev->cidr);
            applied = true;
        }
    } else if (str_eq(name, "DeleteSubnet")) {
        kind = "subnet_deleted";
        if (changes && ev->resource_id) {
            remove_resources(m, sc, ev->resource_id, NULL, NULL, fx, ev->time_ms);
            applied = true;
        }
    }
    (void)err;
    (void)errlen;
    if (applied)
        m->st.events_applied++;
    json_t *d = event_json(rec, sc);
    json_object_set_new(d, "applied", json_boolean(applied));
    if (strcmp(kind, "allocation") == 0)
        json_object_set_new(d, "in_inventory", json_boolean(in_inventory));
    fx_add(fx, kind, xstrdup(ev->event_id), ev->time_ms, d);
    flush_pairs(m, fx, ev->time_ms);
    return 0;
}

/* ---- public: lifecycle and apply ------------------------------------------------------ */

static void index_statics(model_t *m)
{
    for (size_t d = 0; d < m->ndomains; d++) {
        const struct config_domain *dom = &m->cfg->domains[d];
        char *owner = xasprintf("static:%s", dom->name);
        for (size_t i = 0; i < dom->statics.n; i++) {
            struct overlap_entry e = {.domain = (uint32_t)d + 1, .owner = owner_id(m, owner)};
            char perr[160];
            if (prefix_parse(dom->statics.items[i], &e.prefix, perr, sizeof perr) < 0) {
                LOG_WARN("domain %s: static %s: %s", dom->name, dom->statics.items[i], perr);
                continue;
            }
            overlap_insert(m->ov, &e, NULL, NULL);
        }
        free(owner);
    }
}

model_t *model_new(const struct config *cfg)
{
    model_t *m = xcalloc(1, sizeof *m);
    m->cfg = cfg;
    m->ov = overlap_index_new();
    m->events = eventwin_new(EVENTWIN_DEFAULT_WINDOW_MS, EVENTWIN_DEFAULT_MAX_IDS);
    m->ndomains = cfg ? cfg->n_domains : 0;
    m->domain_names = xcalloc(m->ndomains ? m->ndomains : 1, sizeof *m->domain_names);
    for (size_t d = 0; d < m->ndomains; d++)
        m->domain_names[d] = cfg->domains[d].name;
    m->w_noncompliant = st_intern(&m->strs, "noncompliant");
    m->w_vpc = st_intern(&m->strs, "vpc");
    m->w_subnet = st_intern(&m->strs, "subnet");
    m->w_managed = st_intern(&m->strs, "managed");
    m->w_unmanaged = st_intern(&m->strs, "unmanaged");
    index_statics(m);
    return m;
}

void model_free(model_t *m)
{
    if (!m)
        return;
    smap_clear(&m->scopes, scope_free);
    eventwin_free(m->events);
    smap_clear(&m->pend, pend_free);
    st_clear(&m->strs);
    free(m->domain_names);
    overlap_index_free(m->ov);
    free(m);
}

int model_apply(model_t *m, const struct record *rec, struct model_effects *fx, char *err,
                size_t errlen)
{
    int rc = 0;
    m->st.records++;
    switch (rec->type) {
    case RECORD_PASS_BEGIN:
    case RECORD_PASS_END:
        if (!rec->scope || !rec->pass_id) {
            snprintf(err, errlen, "model: %s without scope or pass id",
                     record_type_name(rec->type));
            rc = -EINVAL;
            break;
        }
        rc = rec->type == RECORD_PASS_BEGIN
                 ? apply_pass_begin(m, scope_get(m, rec->scope, true), rec, fx)
                 : apply_pass_end(m, scope_get(m, rec->scope, true), rec, fx);
        break;
    case RECORD_IPAM:
    case RECORD_SCOPE:
    case RECORD_POOL:
    case RECORD_POOL_CIDR:
    case RECORD_ALLOCATION:
    case RECORD_RESOURCE_CIDR:
    case RECORD_DISCOVERED_ACCOUNT:
        rc = apply_inventory(m, rec, fx, err, errlen);
        break;
    case RECORD_EVENT:
        rc = apply_event(m, rec, fx, err, errlen);
        break;
    default:
        break;
    }
    if (rc < 0)
        m->st.invalid++;
    smap_clear(&m->pend, pend_free);
    model_effects_flush(fx);
    return rc;
}

void model_drop_scope(model_t *m, const char *scope_id)
{
    struct scope *sc = smap_get(&m->scopes, scope_id);
    if (!sc)
        return;
    index_scope(m, sc, false);
    smap_clear(&m->pend, pend_free);
    smap_del(&m->scopes, scope_id);
    if (m->last_scope == sc)
        m->last_scope = NULL;
    scope_free(sc);
}

void model_get_event_window(const model_t *m, struct eventwin_stats *out)
{
    eventwin_get_stats(m->events, out);
}

void model_get_stats(const model_t *m, struct model_stats *out)
{
    *out = m->st;
    out->scopes = m->scopes.n;
    out->pools = out->pool_cidrs = out->allocations = out->resource_cidrs = 0;
    SMAP_FOREACH(&m->scopes, n)
    {
        const struct scope *sc = n->val;
        out->pools += sc->live.pools.n;
        out->pool_cidrs += sc->live.pcidrs.n;
        out->allocations += sc->live.allocs.n;
        out->resource_cidrs += sc->live.res.n;
    }
    out->overlaps = overlap_scan_all(m->ov, NULL, NULL);
    struct eventwin_stats es;
    eventwin_get_stats(m->events, &es);
    out->event_ids = es.ids;
    out->events_unchecked = es.unchecked;
    out->event_ids_evicted = es.evicted;
    out->event_ids_capped = es.capped;
}

/* ---- metrics -------------------------------------------------------------------------- */

/* Per-object figures gathered for one model_metrics() call. */
struct acc {
    prefix_t *cidrs, *uses;
    size_t ncidrs, cap_cidrs, nuses, cap_uses;
    uint64_t allocations, overlaps, noncompliant;
    double usage_units; /* sum of units x ipUsage (VPCs without subnets, subnets) */
    bool has_usage;
    unsigned family;
    const struct res *res; /* VPCs and subnets: one of its resource CIDRs (name, region, pool) */
};

static void acc_free(void *p)
{
    struct acc *a = p;
    if (!a)
        return;
    free(a->cidrs);
    free(a->uses);
    free(a);
}

static struct acc *acc_get(struct smap *map, const char *id)
{
    struct acc *a = smap_get(map, id);
    if (!a) {
        a = xcalloc(1, sizeof *a);
        smap_put(map, id, a);
    }
    return a;
}

static void acc_cidr(struct acc *a, const prefix_t *p)
{
    a->cidrs = xgrow(a->cidrs, &a->cap_cidrs, a->ncidrs + 1, sizeof *a->cidrs);
    a->cidrs[a->ncidrs++] = *p;
}

static void acc_use(struct acc *a, const prefix_t *p)
{
    a->uses = xgrow(a->uses, &a->cap_uses, a->nuses + 1, sizeof *a->uses);
    a->uses[a->nuses++] = *p;
}

static double u128d(prefix_u128 v)
{
    return (double)v;
}

/* Keeps only the CIDRs (and uses) of one family: IPv4 when there is any, else IPv6. */
static unsigned acc_family(struct acc *a)
{
    unsigned fam = PREFIX_INET6;
    for (size_t i = 0; i < a->ncidrs; i++)
        if (a->cidrs[i].family == PREFIX_INET)
            fam = PREFIX_INET;
    size_t k = 0;
    for (size_t i = 0; i < a->ncidrs; i++)
        if (a->cidrs[i].family == fam)
            a->cidrs[k++] = a->cidrs[i];
    a->ncidrs = k;
    k = 0;
    for (size_t i = 0; i < a->nuses; i++)
        if (a->uses[i].family == fam)
            a->uses[k++] = a->uses[i];
    a->nuses = k;
    a->family = fam;
    return fam;
}

/* Figures of a space (cidrs minus uses) into *s; netmask 0 = no default netmask. */
static void space_sample(struct acc *a, unsigned netmask, struct rrd_sample *s,
                         prefix_u128 *largest_units)
{
    unsigned fam = acc_family(a);
    struct freespace_report r;
    char err[200];
    unsigned nm = netmask ? netmask : prefix_width(fam);
    if (nm > prefix_width(fam))
        nm = prefix_width(fam);
    *largest_units = 0;
    if (freespace_compute(fam, a->cidrs, a->ncidrs, a->uses, a->nuses, nm, &r, err, sizeof err) <
        0) {
        LOG_DEBUG("freespace_compute: %s", err);
        return;
    }
    s->size = u128d(r.size);
    s->used = u128d(r.used);
    s->free = u128d(r.free);
    s->utilization = r.size ? 100.0 * u128d(r.used) / u128d(r.size) : NAN;
    s->largest_free = r.largest_len >= 0 ? (double)r.largest_len : NAN;
    s->default_fits = netmask ? u128d(r.fit) : NAN;
    if (r.largest_len >= 0) {
        prefix_t b;
        prefix_make(&b, fam, 0, (unsigned)r.largest_len);
        *largest_units = prefix_units(&b);
    }
    freespace_report_clear(&r);
}

struct metrics_ctx {
    model_t *m;
    uint64_t *per_owner; /* pairs per owner id; NULL when the index holds no entry */
    const struct scope **owner_scope;
};

/* Overlapping pairs of owner id `id`. */
static uint64_t pairs_of(const struct metrics_ctx *mc, uint32_t id)
{
    return mc->per_owner && id ? mc->per_owner[id] : 0;
}

/* The name a pool or scope goes by (alerts, reports, graphs, /metrics): its Name tag, else its
 * description; NULL when it has neither. Borrowed from the record. */
static const char *tagged_name(const struct record_map *tags, const char *description)
{
    const char *name = record_map_get(tags, "Name");
    return name ? name : description;
}

/* Fills the pool ancestry of `o` from `pool_id` up to its top-level pool in `sc`. */
static void object_pools(const struct scope *sc, const char *pool_id, struct model_object *o)
{
    o->n_pools = 0;
    for (const char *pid = pool_id; pid && o->n_pools < MODEL_MAX_POOL_DEPTH;) {
        const struct item *it = smap_get(&sc->live.pools, pid);
        if (!it)
            break;
        const struct record_pool *p = &it->rec->u.pool;
        bool seen = false; /* a loop in the tree ends the walk */
        for (size_t i = 0; i < o->n_pools && !seen; i++)
            seen = strcmp(o->pools[i], p->pool_id) == 0;
        if (seen)
            break;
        o->pools[o->n_pools] = p->pool_id;
        o->pool_names[o->n_pools] = tagged_name(&p->tags, p->description);
        o->n_pools++;
        pid = p->parent;
    }
}

/* Describes a VPC or subnet from one of its resource CIDRs. */
static void object_res(const model_t *m, const struct scope *sc, const struct acc *a,
                       struct model_object *o)
{
    o->family = a->family == PREFIX_INET6 ? 6 : a->family == PREFIX_INET ? 4 : 0;
    if (!a->res)
        return;
    o->name = S(m, a->res->name);
    o->locale = S(m, a->res->region);
    object_pools(sc, S(m, a->res->pool), o);
}

static void tally_pair(void *ctx, enum overlap_event ev, const struct overlap_entry *a,
                       const struct overlap_entry *b)
{
    (void)ev;
    struct metrics_ctx *mc = ctx;
    mc->per_owner[a->owner]++;
    mc->per_owner[b->owner]++;
    const struct scope *sa = mc->owner_scope[a->owner], *sb = mc->owner_scope[b->owner];
    if (sa)
        ((struct scope *)sa)->m_overlaps++;
    if (sb && sb != sa)
        ((struct scope *)sb)->m_overlaps++;
}

static void metrics_scope(model_t *m, struct scope *sc, struct metrics_ctx *mc, model_objects_cb cb,
                          void *ctx)
{
    struct smap pools = {0}, vpcs = {0}, subnets = {0};
    SMAP_FOREACH(&sc->live.pcidrs, n)
    {
        const struct item *it = n->val;
        const struct record_pool_cidr *pc = &it->rec->u.pool_cidr;
        if (it->has_pfx && str_eq(pc->state, "provisioned") &&
            smap_get(&sc->live.pools, pc->pool_id))
            acc_cidr(acc_get(&pools, pc->pool_id), &it->pfx);
    }
    SMAP_FOREACH(&sc->live.allocs, n)
    {
        const struct item *it = n->val;
        const char *pid = it->rec->u.allocation.pool_id;
        if (!it->has_pfx || !smap_get(&sc->live.pools, pid))
            continue;
        struct acc *a = acc_get(&pools, pid);
        acc_use(a, &it->pfx);
        a->allocations++;
    }
    /* A child pool's CIDRs are used space of its parent; they are normally already there as
     * the parent's ipam-pool allocations, and only count when they are not. */
    SMAP_FOREACH(&sc->live.pools, n)
    {
        const char *parent = ((struct item *)n->val)->rec->u.pool.parent;
        struct acc *child = smap_get(&pools, n->key);
        if (!parent || !child || !smap_get(&sc->live.pools, parent))
            continue;
        struct acc *pa = acc_get(&pools, parent);
        size_t nuses = pa->nuses;
        for (size_t i = 0; i < child->ncidrs; i++) {
            bool known = false;
            for (size_t j = 0; j < nuses && !known; j++)
                known = prefix_cmp(&pa->uses[j], &child->cidrs[i]) == 0;
            if (!known) {
                acc_use(pa, &child->cidrs[i]);
                pa->allocations++;
            }
        }
    }
    uint64_t scope_nc = 0;
    for (size_t k = 0; k < sc->live.res.n; k++) {
        const struct res *r = &sc->live.res.v[k];
        const char *pool_id = S(m, r->pool);
        bool nc = is_noncompliant(m, r);
        bool in_pool = pool_id && smap_get(&sc->live.pools, pool_id);
        scope_nc += nc;
        if (nc && in_pool)
            acc_get(&pools, pool_id)->noncompliant++;
        prefix_t pfx;
        res_prefix(r, &pfx);
        uint64_t ov = pairs_of(mc, r->id);
        if (in_pool)
            acc_get(&pools, pool_id)->overlaps += ov;
        if (r->type == m->w_vpc) {
            struct acc *a = acc_get(&vpcs, S(m, r->id));
            if (!a->res)
                a->res = r;
            acc_cidr(a, &pfx);
            a->noncompliant += nc;
            if (!isnan(r->usage)) {
                a->has_usage = true;
                a->usage_units += u128d(prefix_units(&pfx)) * r->usage;
            }
        } else if (r->type == m->w_subnet) {
            struct acc *a = acc_get(&subnets, S(m, r->id));
            if (!a->res)
                a->res = r;
            acc_cidr(a, &pfx);
            a->noncompliant += nc;
            if (!isnan(r->usage) && pfx.family == PREFIX_INET) {
                a->has_usage = true;
                a->usage_units += u128d(prefix_units(&pfx)) * r->usage;
            }
            if (r->vpc) {
                struct acc *v = acc_get(&vpcs, S(m, r->vpc));
                acc_use(v, &pfx);
                v->allocations++;
            }
        }
    }

    /* Pools, summed into the scope through the top-level ones. */
    struct rrd_sample ss = rrd_sample_unknown();
    double s_size = 0, s_used = 0, s_free = 0, s_fits = 0, s_alloc = 0;
    bool any_fits = false;
    prefix_u128 best_units = 0;
    double best_len = NAN;
    SMAP_FOREACH(&sc->live.pools, n)
    {
        const struct record_pool *p = &((struct item *)n->val)->rec->u.pool;
        struct acc *a = acc_get(&pools, n->key);
        struct rrd_sample s = rrd_sample_unknown();
        unsigned want = str_eq(p->address_family, "ipv6") ? PREFIX_INET6 : PREFIX_INET;
        unsigned nm = p->allocation_default_netmask != RECORD_UNSET &&
                              p->allocation_default_netmask >= 0 &&
                              p->allocation_default_netmask <= (int64_t)prefix_width(want)
                          ? (unsigned)p->allocation_default_netmask
                          : 0;
        /* The pool's family decides; a pool without CIDRs reports size 0. */
        size_t k = 0;
        for (size_t i = 0; i < a->ncidrs; i++)
            if (a->cidrs[i].family == want)
                a->cidrs[k++] = a->cidrs[i];
        a->ncidrs = k;
        prefix_u128 lu = 0;
        if (a->ncidrs) {
            space_sample(a, nm, &s, &lu);
        } else {
            s.size = 0;
            s.used = 0;
            s.free = 0;
            s.default_fits = nm ? 0 : NAN;
        }
        s.allocations = (double)a->allocations;
        s.overlaps = (double)a->overlaps;
        s.noncompliant = (double)a->noncompliant;
        struct model_object o = {.kind = "pool", .id = n->key, .scope_id = sc->id};
        o.name = tagged_name(&p->tags, p->description);
        o.locale = p->locale;
        o.tags = &p->tags;
        o.default_netmask = (int)nm;
        o.family = want == PREFIX_INET6 ? 6 : 4;
        object_pools(sc, n->key, &o);
        cb(ctx, &o, &s);
        bool top = !p->parent || !smap_get(&sc->live.pools, p->parent);
        if (!top)
            continue;
        s_size += s.size;
        s_used += s.used;
        s_free += s.free;
        s_alloc += s.allocations;
        if (!isnan(s.default_fits)) {
            s_fits += s.default_fits;
            any_fits = true;
        }
        if (lu > best_units) {
            best_units = lu;
            best_len = s.largest_free;
        }
    }
    ss.size = s_size;
    ss.used = s_used;
    ss.free = s_free;
    ss.utilization = s_size > 0 ? 100.0 * s_used / s_size : NAN;
    ss.largest_free = best_len;
    ss.default_fits = any_fits ? s_fits : NAN;
    ss.allocations = s_alloc;
    ss.overlaps = (double)sc->m_overlaps;
    ss.noncompliant = (double)scope_nc;
    struct model_object so = {.kind = "scope", .id = sc->id, .scope_id = sc->id};
    if (sc->live.scope) {
        const struct record_scope *rs = &sc->live.scope->u.scope;
        so.name = tagged_name(&rs->tags, rs->description);
        so.tags = &rs->tags;
    }
    cb(ctx, &so, &ss);

    SMAP_FOREACH(&vpcs, n)
    {
        struct acc *a = n->val;
        if (!a->ncidrs)
            continue; /* subnets of a VPC this scope does not hold */
        struct rrd_sample s = rrd_sample_unknown();
        prefix_u128 lu;
        size_t nsub = a->nuses;
        space_sample(a, 0, &s, &lu);
        if (nsub == 0 && a->has_usage && a->family == PREFIX_INET) {
            s.used = a->usage_units;
            s.free = s.size - s.used;
            s.utilization = s.size > 0 ? 100.0 * s.used / s.size : NAN;
            s.largest_free = NAN;
        }
        s.allocations = (double)a->allocations;
        s.overlaps = (double)pairs_of(mc, mc->per_owner ? owner_find(m, n->key) : 0);
        s.noncompliant = (double)a->noncompliant;
        struct model_object o = {.kind = "vpc", .id = n->key, .scope_id = sc->id};
        object_res(m, sc, a, &o);
        cb(ctx, &o, &s);
    }
    SMAP_FOREACH(&subnets, n)
    {
        struct acc *a = n->val;
        struct rrd_sample s = rrd_sample_unknown();
        unsigned fam = acc_family(a);
        prefix_u128 size = 0;
        for (size_t i = 0; i < a->ncidrs; i++)
            size += prefix_units(&a->cidrs[i]);
        s.size = u128d(size);
        if (a->has_usage && fam == PREFIX_INET) {
            s.used = a->usage_units;
            s.free = s.size - s.used;
            s.utilization = s.size > 0 ? 100.0 * s.used / s.size : NAN;
        }
        s.overlaps = (double)pairs_of(mc, mc->per_owner ? owner_find(m, n->key) : 0);
        s.noncompliant = (double)a->noncompliant;
        struct model_object o = {.kind = "subnet", .id = n->key, .scope_id = sc->id};
        object_res(m, sc, a, &o);
        cb(ctx, &o, &s);
    }
    smap_clear(&pools, acc_free);
    smap_clear(&vpcs, acc_free);
    smap_clear(&subnets, acc_free);
}

/* Figures of every scope, or of `only` (a scope id) when not NULL. */
static int metrics_run(model_t *m, const char *only, model_objects_cb cb, void *ctx)
{
    struct scope *one = only ? smap_get(&m->scopes, only) : NULL;
    if (only && !one)
        return 0;
    struct metrics_ctx mc = {m, NULL, NULL};
    SMAP_FOREACH(&m->scopes, n)
    {
        ((struct scope *)n->val)->m_overlaps = 0;
    }
    /* Pair counts cost a pass over every resource CIDR and two arrays per string: only
     * when the overlap index holds something (a sample per pass of a large model). */
    if (overlap_count(m->ov) > 0) {
        mc.per_owner = xcalloc(m->strs.n + 1, sizeof *mc.per_owner);
        mc.owner_scope = xcalloc(m->strs.n + 1, sizeof *mc.owner_scope);
        SMAP_FOREACH(&m->scopes, n)
        {
            struct scope *sc = n->val;
            for (size_t k = 0; k < sc->live.res.n; k++)
                mc.owner_scope[sc->live.res.v[k].id] = sc;
        }
        overlap_scan_all(m->ov, tally_pair, &mc);
    }
    if (one)
        metrics_scope(m, one, &mc, cb, ctx);
    else
        SMAP_FOREACH(&m->scopes, n) metrics_scope(m, n->val, &mc, cb, ctx);
    free(mc.per_owner);
    free(mc.owner_scope);
    return 0;
}

/* Adapts model_metrics_cb to model_objects_cb. */
struct plain_cb {
    model_metrics_cb cb;
    void *ctx;
};

static void plain_object(void *ctx, const struct model_object *o, const struct rrd_sample *s)
{
    struct plain_cb *p = ctx;
    p->cb(p->ctx, o->kind, o->id, o->scope_id, s);
}

int model_metrics(model_t *m, model_metrics_cb cb, void *ctx)
{
    struct plain_cb p = {cb, ctx};
    return metrics_run(m, NULL, plain_object, &p);
}

int model_metrics_scope(model_t *m, const char *scope_id, model_metrics_cb cb, void *ctx)
{
    struct plain_cb p = {cb, ctx};
    return metrics_run(m, scope_id, plain_object, &p);
}

int model_metrics_objects(model_t *m, const char *scope_id, model_objects_cb cb, void *ctx)
{
    return metrics_run(m, scope_id, cb, ctx);
}

/* ---- names ---------------------------------------------------------------------------- */

/* The name and locale of object kind/id in scope `sc`, as metrics_scope() describes it.
 * Returns false when the scope does not hold it. */
static bool scope_object_name(const model_t *m, const struct scope *sc, const char *kind,
                              const char *id, const char **name, const char **locale)
{
    if (strcmp(kind, "scope") == 0) {
        if (strcmp(sc->id, id) != 0)
            return false;
        if (sc->live.scope)
            *name = tagged_name(&sc->live.scope->u.scope.tags, sc->live.scope->u.scope.description);
        return true;
    }
    if (strcmp(kind, "pool") == 0) {
        const struct item *it = smap_get(&sc->live.pools, id);
        if (!it)
            return false;
        const struct record_pool *p = &it->rec->u.pool;
        *name = tagged_name(&p->tags, p->description);
        *locale = p->locale;
        return true;
    }
    /* A VPC or subnet: its first resource CIDR of that type, as metrics_scope() takes it. */
    uint32_t sid = st_find(&m->strs, id);
    uint32_t type = strcmp(kind, "vpc") == 0 ? m->w_vpc : m->w_subnet;
    for (size_t k = 0; sid && k < sc->live.res.n; k++) {
        const struct res *r = &sc->live.res.v[k];
        if (r->id == sid && r->type == type) {
            *name = S(m, r->name);
            *locale = S(m, r->region);
            return true;
        }
    }
    return false;
}

int model_object_name(const model_t *m, const char *kind, const char *id, const char **name,
                      const char **locale)
{
    const char *n = NULL, *l = NULL;
    int rc = -ENOENT;
    if (strcmp(kind, "pool") != 0 && strcmp(kind, "scope") != 0 && strcmp(kind, "vpc") != 0 &&
        strcmp(kind, "subnet") != 0) {
        rc = -EINVAL;
    } else if (strcmp(kind, "scope") == 0) {
        const struct scope *sc = smap_get(&m->scopes, id);
        if (sc && scope_object_name(m, sc, kind, id, &n, &l))
            rc = 0;
    } else {
        /* The first scope that holds it under a name; else the first that holds it. */
        bool named = false;
        SMAP_FOREACH(&m->scopes, node)
        {
            const char *sn = NULL, *sl = NULL;
            if (named || !scope_object_name(m, node->val, kind, id, &sn, &sl))
                continue;
            named = sn && *sn;
            if (rc != 0 || named) {
                n = sn;
                l = sl;
            }
            rc = 0;
        }
    }
    if (name)
        *name = n;
    if (locale)
        *locale = l;
    return rc;
}

/* ---- persistence ---------------------------------------------------------------------- */

/* Writes one JSON line; returns 0 or -EIO. `o` is stolen. */
static int put_line(FILE *f, json_t *o)
{
    int rc = json_dumpf(o, f, JSON_COMPACT) == 0 && fputc('\n', f) != EOF ? 0 : -EIO;
    json_decref(o);
    return rc;
}

/* Writes {"r":<record's wire form>}: the encoder's output is compact JSON already. */
static int put_record(FILE *f, const struct record *rec)
{
    char *buf = NULL;
    size_t len = 0;
    if (record_encode(rec, &buf, &len) < 0)
        return -EINVAL;
    int rc = fputs("{\"r\":", f) != EOF && fwrite(buf, 1, len, f) == len && fputs("}\n", f) != EOF
                 ? 0
                 : -EIO;
    free(buf);
    return rc;
}

/* Room put_json_str() needs for `s`: six bytes per byte (\u00XX) and the quotes. */
static size_t json_str_room(const char *s)
{
    return s ? 6 * strlen(s) + 2 : 4;
}

/* Writes `s` as a JSON string (or null for NULL) at `o`, which has json_str_room(s) bytes;
 * returns the end. Quotes and backslashes are escaped with a backslash, other control
 * characters as \u00xx. */
static char *put_json_str(char *o, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (!s)
        return memcpy(o, "null", 4), o + 4;
    *o++ = '"';
    for (;;) {
        size_t run = 0;
        for (unsigned char c; (c = (unsigned char)s[run]) >= 0x20 && c != '"' && c != '\\';)
            run++;
        memcpy(o, s, run);
        o += run;
        s += run;
        if (!*s)
            break;
        unsigned char c = (unsigned char)*s++;
        *o++ = '\\';
        if (c == '"' || c == '\\') {
            *o++ = (char)c;
        } else {
            memcpy(o, "u00", 3);
            o[3] = hex[c >> 4];
            o[4] = hex[c & 15];
            o += 5;
        }
    }
    *o++ = '"';
    return o;
}

/* Writes printf's "%.17g" of `v` at `o` (room for 24 bytes) when 1e-4 <= v < 1, the range of
 * the fractional ip_usage values; returns the end, or NULL, having written nothing, for any
 * other value. The 17 digits are v's exact binary value times a power of ten, rounded half to
 * even as glibc's printf rounds it (v * 10^20 < 2^120 fits 128 bits), then printed in
 * fixed notation without trailing zeros, as %g prints exponents -4..-1. */
static char *put_g17_fraction(char *o, double v)
{
    const uint64_t e16 = UINT64_C(10000000000000000), e17 = e16 * 10;
    if (!(v >= 1e-4 && v < 1.0))
        return NULL;
    /* The decimal exponent; a wrong guess would leave the digits outside 10^16..10^17 and
     * fall back to the caller. */
    int x = v >= 1e-1 ? -1 : v >= 1e-2 ? -2 : v >= 1e-3 ? -3 : -4;
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    uint64_t mant = (bits & ((UINT64_C(1) << 52) - 1)) | UINT64_C(1) << 52; /* v is normal */
    unsigned shift = 1075u - (unsigned)(bits >> 52 & 0x7ff);                /* 53..66 here */
    unsigned __int128 p = (unsigned __int128)mant * e16;                    /* times 10^(16-x) */
    for (int i = x; i < 0; i++)
        p *= 10;
    unsigned __int128 q = p >> shift, rest = p - (q << shift);
    unsigned __int128 half = (unsigned __int128)1 << (shift - 1);
    if (rest > half || (rest == half && (q & 1)))
        q++;
    if (q < e16 || q >= e17)
        return NULL;
    uint64_t n = (uint64_t)q;
    char d[17];
    for (int i = 16; i >= 0; i--, n /= 10)
        d[i] = (char)('0' + n % 10);
    size_t len = 17;
    while (d[len - 1] == '0') /* d[0] is not '0' */
        len--;
    *o++ = '0';
    *o++ = '.';
    for (int i = x; i < -1; i++)
        *o++ = '0';
    memcpy(o, d, len);
    return o + len;
}

/* One resource CIDR in its compact form: {"rc":[id,cidr,type,vpc,pool,name,owner,region,
 * compliance,management,ip_usage]}, absent values null. The line is built in memory and
 * written at once: a snapshot holds a line per resource CIDR, up to a million. */
static int put_res(const model_t *m, FILE *f, const struct res *r)
{
    char cidr[PREFIX_STRLEN];
    prefix_t p;
    res_prefix(r, &p);
    prefix_format(&p, cidr, sizeof cidr);
    const struct strtab *t = &m->strs;
    const uint32_t v[] = {r->id,   0 /* cidr */, r->type,   r->vpc,        r->pool,
                          r->name, r->owner,     r->region, r->compliance, r->mgmt};
    enum { N = sizeof v / sizeof v[0] };
    size_t need = 64 + json_str_room(cidr); /* punctuation and the usage */
    for (size_t i = 0; i < N; i++)
        need += !v[i] ? 5 : (st_plain(t, v[i]) ? 1 : 6) * st_len(t, v[i]) + 3;
    char stack[2048];
    char *buf = need <= sizeof stack ? stack : xmalloc(need), *o = buf;
    memcpy(o, "{\"rc\":[", 7);
    o += 7;
    for (size_t i = 0; i < N; i++) {
        if (i)
            *o++ = ',';
        if (i == 1) {
            o = put_json_str(o, cidr);
        } else if (v[i] && st_plain(t, v[i])) { /* as put_json_str() writes it, without the scan */
            size_t len = st_len(t, v[i]);
            *o++ = '"';
            memcpy(o, st_str(t, v[i]), len);
            o += len;
            *o++ = '"';
        } else {
            o = put_json_str(o, st_str(t, v[i]));
        }
    }
    if (isnan(r->usage)) {
        memcpy(o, ",null]}\n", 8);
        o += 8;
    } else if ((r->usage == 0.0 && !signbit(r->usage)) || r->usage == 1.0) {
        /* the common values, without printf's float path */
        memcpy(o, r->usage == 1.0 ? ",1]}\n" : ",0]}\n", 5);
        o += 5;
    } else {
        *o++ = ',';
        char *end = put_g17_fraction(o, r->usage);
        if (end) {
            o = end;
        } else {
            int n = snprintf(o, need - (size_t)(o - buf), "%.17g", r->usage);
            o += n > 0 ? n : 0;
        }
        memcpy(o, "]}\n", 3);
        o += 3;
    }
    size_t len = (size_t)(o - buf);
    int rc = fwrite_unlocked(buf, 1, len, f) == len ? 0 : -EIO;
    if (buf != stack)
        free(buf);
    return rc;
}

static int put_snap(const model_t *m, FILE *f, const struct snap *s)
{
    int rc = 0;
    if (s->ipam)
        rc = rc ? rc : put_record(f, s->ipam);
    if (s->scope)
        rc = rc ? rc : put_record(f, s->scope);
    const struct smap *maps[] = {&s->pools, &s->pcidrs, &s->allocs, &s->accounts};
    for (size_t i = 0; i < sizeof maps / sizeof maps[0] && !rc; i++) {
        SMAP_FOREACH(maps[i], n)
        {
            if (!rc)
                rc = put_record(f, ((struct item *)n->val)->rec);
        }
    }
    for (size_t k = 0; k < s->res.n && !rc; k++)
        rc = put_res(m, f, &s->res.v[k]);
    return rc;
}

/* Reads a {"rc":[...]} array written by put_res() into *out. Returns 0 or -EINVAL. */
static int get_res(model_t *m, const json_t *a, struct res *out, char *err, size_t errlen)
{
    if (!json_is_array(a) || json_array_size(a) != 11) {
        snprintf(err, errlen, "resource CIDR: expected an array of 11 values");
        return -EINVAL;
    }
    for (size_t i = 0; i < 10; i++) {
        const json_t *v = json_array_get(a, i);
        if (!json_is_string(v) && !(i > 1 && json_is_null(v))) {
            snprintf(err, errlen, "resource CIDR: value %zu: expected a string", i + 1);
            return -EINVAL;
        }
    }
    const json_t *u = json_array_get(a, 10);
    if (!json_is_number(u) && !json_is_null(u)) {
        snprintf(err, errlen, "resource CIDR: ip_usage: expected a number");
        return -EINVAL;
    }
    prefix_t p;
    char perr[160];
    if (prefix_parse(json_string_value(json_array_get(a, 1)), &p, perr, sizeof perr) < 0) {
        snprintf(err, errlen, "resource CIDR: %s", perr);
        return -EINVAL;
    }
    memset(out, 0, sizeof *out);
    out->hi = (uint64_t)(p.addr >> 64);
    out->lo = (uint64_t)p.addr;
    out->family = p.family;
    out->len = p.len;
    out->usage = json_is_number(u) ? json_number_value(u) : NAN;
    uint32_t *ids[] = {&out->id,    &out->type,   &out->vpc,        &out->pool, &out->name,
                       &out->owner, &out->region, &out->compliance, &out->mgmt};
    for (size_t i = 0, j = 0; i < 10; i++) {
        if (i == 1)
            continue;
        *ids[j++] = st_intern(&m->strs, json_string_value(json_array_get(a, i)));
    }
    return 0;
}

static json_t *ms_json(int64_t ms)
{
    return ms == RECORD_UNSET ? json_null() : json_integer(ms);
}

/* Writes the scopes `want` selects (every scope and the event ids when `want` is NULL). */
static int save_to(const model_t *m, FILE *f, model_scope_fn want, void *ctx)
{
    int rc = put_line(f, json_pack("{si}", "model", MODEL_FILE_VERSION));
    SMAP_FOREACH(&m->scopes, n)
    {
        const struct scope *sc = n->val;
        if (rc)
            break;
        if (want && !want(ctx, sc->id))
            continue;
        json_t *recent = json_array();
        for (unsigned i = 0; i < MODEL_RECENT_PASSES; i++) {
            unsigned k = (sc->recent_pos + i) % MODEL_RECENT_PASSES; /* oldest first */
            if (sc->recent[k])
                json_array_append_new(recent, json_string(sc->recent[k]));
        }
        rc = put_line(f, json_pack("{sssoso}", "scope", sc->id, "snapshot_ms",
                                   ms_json(sc->snapshot_ms), "recent", recent));
        rc = rc ? rc : put_snap(m, f, &sc->live);
        /* Stages oldest first, so loading (which pushes to the front) keeps the order. */
        size_t ns = 0;
        for (const struct stage *st = sc->stages; st; st = st->next)
            ns++;
        for (size_t i = ns; i-- > 0 && !rc;) {
            const struct stage *st = sc->stages;
            for (size_t j = 0; j < i; j++)
                st = st->next;
            rc = put_line(f, json_pack("{sssssosbso}", "stage", st->pass_id, "source", st->source,
                                       "started_ms", ms_json(st->started_ms), "ignore", st->ignore,
                                       "counts", counts_json(st->counts)));
            rc = rc ? rc : put_snap(m, f, &st->snap);
        }
    }
    /* The event-id window (not with `want`: the ids belong to the events partitions). */
    if (!rc && !want)
        rc = eventwin_save(m->events, f);
    return rc ? rc : put_line(f, json_pack("{sb}", "end", 1));
}

int model_save(const model_t *m, const char *path, char *err, size_t errlen)
{
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        rc = -errno;
        snprintf(err, errlen, "model_save: open %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        goto fail;
    }
    rc = save_to(m, f, NULL, NULL);
    if (rc) {
        snprintf(err, errlen, "model_save: writing %s: %s", tmp,
                 rc == -EINVAL ? "a stored record does not encode" : strerror(-rc));
        fclose(f);
        goto fail_unlink;
    }
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        rc = -errno;
        snprintf(err, errlen, "model_save: fsync %s: %s", tmp, strerror(errno));
        fclose(f);
        goto fail_unlink;
    }
    if (fclose(f) != 0) {
        rc = -errno;
        snprintf(err, errlen, "model_save: close %s: %s", tmp, strerror(errno));
        goto fail_unlink;
    }
    if (rename(tmp, path) != 0) {
        rc = -errno;
        snprintf(err, errlen, "model_save: rename %s to %s: %s", tmp, path, strerror(errno));
        goto fail_unlink;
    }
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) != 0)
            LOG_WARN("fsync of the directory of %s: %s", path, strerror(errno));
        close(dfd);
    }
    free(dir);
    free(tmp);
    return 0;

fail_unlink:
    unlink(tmp);
fail:
    free(tmp);
    return rc;
}

static int64_t json_ms(const json_t *v)
{
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : RECORD_UNSET;
}

/* Reads model_save()'s lines from `f` into `m`; `path` names the source in errors. With `ids`
 * (an array), a scope that is read replaces the model's scope of that id, whose id is appended
 * to `ids`. Nothing is indexed for overlap here. Returns 0 or -EINVAL with text in `err`. */
static int load_from(model_t *m, FILE *f, const char *path, json_t *ids, char *err, size_t errlen)
{
    struct scope *sc = NULL;
    struct snap *target = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long lineno = 0;
    bool header = false, end = false;
    while (!end && (len = getline(&line, &cap, f)) > 0) {
        lineno++;
        json_error_t jerr;
        json_t *o = json_loadb(line, (size_t)len, 0, &jerr);
        if (!json_is_object(o)) {
            snprintf(err, errlen, "model_load: %s:%lu: %s", path, lineno,
                     o ? "not an object" : jerr.text);
            json_decref(o);
            goto fail;
        }
        json_t *v;
        if (!header) {
            json_int_t version = json_integer_value(json_object_get(o, "model"));
            if (version != MODEL_FILE_VERSION && version != 1) {
                snprintf(err, errlen, "model_load: %s: not a model file of version %d", path,
                         MODEL_FILE_VERSION);
                json_decref(o);
                goto fail;
            }
            header = true;
        } else if ((v = json_object_get(o, "r"))) {
            char *buf = json_dumps(v, JSON_COMPACT);
            struct record *rec = NULL;
            char rerr[300];
            int rc = buf ? record_decode(buf, strlen(buf), &rec, rerr, sizeof rerr) : -EINVAL;
            free(buf);
            if (rc == 0 && target)
                rc = snap_store(m, target, rec, rerr, sizeof rerr);
            record_free(rec);
            if (rc < 0 || !target) {
                snprintf(err, errlen, "model_load: %s:%lu: %s", path, lineno,
                         target ? rerr : "record outside a scope");
                json_decref(o);
                goto fail;
            }
        } else if ((v = json_object_get(o, "rc"))) {
            struct res r;
            char rerr[300];
            if (!target || get_res(m, v, &r, rerr, sizeof rerr) < 0) {
                snprintf(err, errlen, "model_load: %s:%lu: %s", path, lineno,
                         target ? rerr : "resource CIDR outside a scope");
                json_decref(o);
                goto fail;
            }
            rs_put(&target->res, &r);
        } else if ((v = json_object_get(o, "scope")) && json_is_string(v)) {
            if (ids) {
                model_drop_scope(m, json_string_value(v));
                json_array_append(ids, v);
            }
            sc = scope_get(m, json_string_value(v), true);
            sc->snapshot_ms = json_ms(json_object_get(o, "snapshot_ms"));
            size_t i;
            json_t *p;
            json_array_foreach(json_object_get(o, "recent"), i, p)
            {
                if (json_is_string(p))
                    recent_add(sc, json_string_value(p));
            }
            target = &sc->live;
        } else if ((v = json_object_get(o, "stage")) && json_is_string(v) && sc) {
            struct stage *st = xcalloc(1, sizeof *st);
            st->pass_id = xstrdup(json_string_value(v));
            const char *src = json_string_value(json_object_get(o, "source"));
            st->source = xstrdup(src ? src : "");
            st->started_ms = json_ms(json_object_get(o, "started_ms"));
            st->ignore = json_is_true(json_object_get(o, "ignore"));
            json_t *counts = json_object_get(o, "counts");
            for (size_t i = 0; i < N_INVENTORY_TYPES; i++) {
                enum record_type t = inventory_types[i];
                st->counts[t] = json_integer_value(json_object_get(counts, record_type_name(t)));
            }
            st->next = sc->stages;
            sc->stages = st;
            target = &st->snap;
        } else if ((v = json_object_get(o, "event_ids")) && json_is_string(v)) {
            if (eventwin_load_ids(m->events, json_string_value(v), json_string_length(v)) < 0) {
                snprintf(err, errlen, "model_load: %s:%lu: malformed event ids", path, lineno);
                json_decref(o);
                goto fail;
            }
        } else if ((v = json_object_get(o, "event_window")) && json_is_object(v)) {
            eventwin_load_header(m->events, json_ms(json_object_get(v, "floor_ms")),
                                 json_ms(json_object_get(v, "newest_ms")));
        } else if ((v = json_object_get(o, "event")) && json_is_string(v)) {
            /* One id a line: what snapshots held before the window. */
            eventwin_add(m->events, json_string_value(v), json_ms(json_object_get(o, "t")));
        } else if (json_object_get(o, "end")) {
            end = true;
        } else {
            snprintf(err, errlen, "model_load: %s:%lu: unknown line", path, lineno);
            json_decref(o);
            goto fail;
        }
        json_decref(o);
    }
    if (!end) {
        snprintf(err, errlen, "model_load: %s: %s", path,
                 ferror(f) ? strerror(errno) : "file ends early (no end marker)");
        goto fail;
    }
    free(line);
    return 0;

fail:
    free(line);
    return -EINVAL;
}

model_t *model_load(const struct config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "model_load: %s: %s", path, strerror(errno));
        return NULL;
    }
    model_t *m = model_new(cfg);
    int rc = load_from(m, f, path, NULL, err, errlen);
    fclose(f);
    if (rc < 0) {
        model_free(m);
        return NULL;
    }
    SMAP_FOREACH(&m->scopes, n) index_scope(m, n->val, true);
    smap_clear(&m->pend, pend_free);
    return m;
}

char *model_export_scopes(const model_t *m, model_scope_fn want, void *ctx, size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f)
        abort();
    int rc = save_to(m, f, want, ctx);
    if (fclose(f) != 0 || rc < 0) {
        free(buf);
        return NULL;
    }
    *len = size;
    return buf;
}

int model_import_scopes(model_t *m, const char *text, size_t len, char *err, size_t errlen)
{
    FILE *f = fmemopen((void *)text, len, "r");
    if (!f) {
        snprintf(err, errlen, "model_import_scopes: fmemopen: %s", strerror(errno));
        return -errno;
    }
    json_t *ids = json_array();
    int rc = load_from(m, f, "(partition state)", ids, err, errlen);
    fclose(f);
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        struct scope *sc = smap_get(&m->scopes, json_string_value(v));
        if (!sc)
            continue;
        if (rc < 0) { /* no half-read scope stays behind */
            smap_del(&m->scopes, json_string_value(v));
            if (m->last_scope == sc)
                m->last_scope = NULL;
            scope_free(sc);
        } else {
            index_scope(m, sc, true);
        }
    }
    smap_clear(&m->pend, pend_free);
    json_decref(ids);
    return rc;
}
