/* eventwin: the model's bounded window of recently seen event ids. See eventwin.h. */
#include "analyzer/eventwin.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "xalloc.h"

#define EVENTWIN_SAVE_CHUNK 1024 /* ids per "event_ids" line */
#define EVENTWIN_HEX_PER_ID 48   /* 16 bytes of fingerprint, 8 of event time */
#define EVENTWIN_NO_POS     UINT32_MAX

struct ev_entry {
    uint64_t fp[2];
    int64_t t_ms;
};

struct eventwin {
    int64_t window_ms;
    size_t max_ids;
    struct ev_entry *ring; /* ring[(head + i) % size], i < n: oldest first */
    size_t size, head, n;
    uint32_t *index; /* ring positions by fingerprint; EVENTWIN_NO_POS = empty */
    size_t index_cap;
    bool has_floor; /* an id was let go (or a loaded window had): st.floor_ms is set */
    struct eventwin_stats st;
};

/* ---- MurmurHash3 x64-128 (Austin Appleby, public domain), seed 0 ------------------------ */

static uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= UINT64_C(0xff51afd7ed558ccd);
    k ^= k >> 33;
    k *= UINT64_C(0xc4ceb9fe1a85ec53);
    k ^= k >> 33;
    return k;
}

static uint64_t load_le64(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

#define EVENTWIN_C1 UINT64_C(0x87c37b91114253d5)
#define EVENTWIN_C2 UINT64_C(0x4cf5ad432745937f)

/* The scrambling of a block's first (k1) and second (k2) 8 bytes, in the body and the tail. */
static uint64_t mix_k1(uint64_t k1)
{
    return rotl64(k1 * EVENTWIN_C1, 31) * EVENTWIN_C2;
}

static uint64_t mix_k2(uint64_t k2)
{
    return rotl64(k2 * EVENTWIN_C2, 33) * EVENTWIN_C1;
}

static void fingerprint(const char *s, uint64_t out[2])
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s), nblocks = len / 16;
    uint64_t h1 = 0, h2 = 0;
    for (size_t i = 0; i < nblocks; i++) {
        h1 ^= mix_k1(load_le64(p + 16 * i, 8));
        h1 = rotl64(h1, 27);
        h1 += h2;
        h1 = h1 * 5 + 0x52dce729;
        h2 ^= mix_k2(load_le64(p + 16 * i + 8, 8));
        h2 = rotl64(h2, 31);
        h2 += h1;
        h2 = h2 * 5 + 0x38495ab5;
    }
    const unsigned char *tail = p + 16 * nblocks;
    size_t rest = len & 15;
    if (rest > 8)
        h2 ^= mix_k2(load_le64(tail + 8, rest - 8));
    if (rest > 0)
        h1 ^= mix_k1(load_le64(tail, rest > 8 ? 8 : rest));
    h1 ^= (uint64_t)len;
    h2 ^= (uint64_t)len;
    h1 += h2;
    h2 += h1;
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 += h2;
    h2 += h1;
    out[0] = h1;
    out[1] = h2;
}

/* ---- ring and index --------------------------------------------------------------------- */

static size_t slot_of(const eventwin_t *w, const uint64_t fp[2])
{
    return (size_t)fp[0] & (w->index_cap - 1);
}

/* Index slot holding `fp`, or the empty slot where it would go. */
static size_t index_find(const eventwin_t *w, const uint64_t fp[2])
{
    size_t k = slot_of(w, fp);
    for (; w->index[k] != EVENTWIN_NO_POS; k = (k + 1) & (w->index_cap - 1)) {
        const struct ev_entry *e = &w->ring[w->index[k]];
        if (e->fp[0] == fp[0] && e->fp[1] == fp[1])
            break;
    }
    return k;
}

static void index_rebuild(eventwin_t *w, size_t cap)
{
    free(w->index);
    w->index = xmalloc(cap * sizeof *w->index);
    memset(w->index, 0xff, cap * sizeof *w->index);
    w->index_cap = cap;
    for (size_t i = 0; i < w->n; i++) {
        size_t pos = (w->head + i) % w->size;
        w->index[index_find(w, w->ring[pos].fp)] = (uint32_t)pos;
    }
}

/* Removes slot k with backward-shift deletion (linear probing keeps no tombstones). */
static void index_remove(eventwin_t *w, size_t k)
{
    size_t mask = w->index_cap - 1;
    for (size_t j = (k + 1) & mask; w->index[j] != EVENTWIN_NO_POS; j = (j + 1) & mask) {
        size_t home = slot_of(w, w->ring[w->index[j]].fp);
        /* j's entry may move to k when k lies cyclically in [home, j). */
        if (((j - home) & mask) >= ((j - k) & mask)) {
            w->index[k] = w->index[j];
            k = j;
        }
    }
    w->index[k] = EVENTWIN_NO_POS;
}

/* Lets the oldest id go. */
static void evict_head(eventwin_t *w, bool capped)
{
    const struct ev_entry *e = &w->ring[w->head];
    size_t k = index_find(w, e->fp);
    if (w->index[k] == (uint32_t)w->head)
        index_remove(w, k);
    if (!w->has_floor || e->t_ms > w->st.floor_ms)
        w->st.floor_ms = e->t_ms;
    w->has_floor = true;
    w->head = (w->head + 1) % w->size;
    w->n--;
    w->st.evicted++;
    if (capped)
        w->st.capped++;
}

/* Makes room for one more id: evicts at the cap, else grows the ring (up to the cap). */
static void make_room(eventwin_t *w)
{
    if (w->n >= w->max_ids) {
        evict_head(w, true);
        return;
    }
    if (w->n < w->size)
        return;
    size_t size = w->size ? w->size * 2 : 64;
    if (size > w->max_ids)
        size = w->max_ids;
    struct ev_entry *ring = xcalloc(size, sizeof *ring);
    for (size_t i = 0; i < w->n; i++)
        ring[i] = w->ring[(w->head + i) % w->size];
    free(w->ring);
    w->ring = ring;
    w->size = size;
    w->head = 0;
    size_t cap = 16;
    while (cap < size * 2)
        cap *= 2;
    index_rebuild(w, cap);
}

/* Appends an id known not to be held. */
static void push(eventwin_t *w, const uint64_t fp[2], int64_t t_ms)
{
    make_room(w);
    size_t pos = (w->head + w->n) % w->size;
    w->ring[pos].fp[0] = fp[0];
    w->ring[pos].fp[1] = fp[1];
    w->ring[pos].t_ms = t_ms;
    w->index[index_find(w, fp)] = (uint32_t)pos;
    w->n++;
    if (t_ms > w->st.newest_ms)
        w->st.newest_ms = t_ms;
}

static bool held(const eventwin_t *w, const uint64_t fp[2])
{
    return w->n > 0 && w->index[index_find(w, fp)] != EVENTWIN_NO_POS;
}

/* ---- public ----------------------------------------------------------------------------- */

eventwin_t *eventwin_new(int64_t window_ms, size_t max_ids)
{
    eventwin_t *w = xcalloc(1, sizeof *w);
    w->window_ms = window_ms > 0 ? window_ms : EVENTWIN_DEFAULT_WINDOW_MS;
    w->max_ids = max_ids >= 1 ? max_ids : 1;
    if (w->max_ids >= EVENTWIN_NO_POS)
        w->max_ids = EVENTWIN_NO_POS - 1;
    w->st.floor_ms = INT64_MIN;
    w->st.newest_ms = INT64_MIN;
    return w;
}

void eventwin_free(eventwin_t *w)
{
    if (!w)
        return;
    free(w->ring);
    free(w->index);
    free(w);
}

enum eventwin_result eventwin_add(eventwin_t *w, const char *id, int64_t t_ms)
{
    uint64_t fp[2];
    fingerprint(id, fp);
    if (held(w, fp))
        return EVENTWIN_DUPLICATE;
    bool below = w->has_floor && t_ms <= w->st.floor_ms;
    push(w, fp, t_ms);
    if (!below)
        return EVENTWIN_NEW;
    w->st.unchecked++;
    return EVENTWIN_UNCHECKED;
}

bool eventwin_contains(const eventwin_t *w, const char *id)
{
    uint64_t fp[2];
    fingerprint(id, fp);
    return held(w, fp);
}

size_t eventwin_expire(eventwin_t *w, int64_t needed_ms)
{
    if (w->st.newest_ms == INT64_MIN)
        return 0;
    int64_t cut = w->st.newest_ms - w->window_ms;
    if (needed_ms < cut)
        cut = needed_ms;
    size_t n = 0;
    while (w->n > 0 && w->ring[w->head].t_ms < cut) {
        evict_head(w, false);
        n++;
    }
    return n;
}

void eventwin_get_stats(const eventwin_t *w, struct eventwin_stats *out)
{
    *out = w->st;
    out->ids = w->n;
}

/* Writes `v` as 16 hex digits, most significant first, and a NUL. */
static void put_hex64(char *out, uint64_t v)
{
    unsigned char be[8];
    for (int i = 7; i >= 0; i--, v >>= 8)
        be[i] = (unsigned char)v;
    text_hex_encode(be, sizeof be, out);
}

int eventwin_save(const eventwin_t *w, FILE *f)
{
    if (fprintf(f, "{\"event_window\":{\"floor_ms\":%" PRId64 ",\"newest_ms\":%" PRId64 "}}\n",
                w->st.floor_ms, w->st.newest_ms) < 0)
        return -EIO;
    char buf[EVENTWIN_SAVE_CHUNK * EVENTWIN_HEX_PER_ID + 1]; /* + put_hex64's last NUL */
    for (size_t i = 0; i < w->n;) {
        size_t k = 0;
        for (; k < EVENTWIN_SAVE_CHUNK && i < w->n; k++, i++) {
            const struct ev_entry *e = &w->ring[(w->head + i) % w->size];
            char *p = buf + k * EVENTWIN_HEX_PER_ID;
            put_hex64(p, e->fp[0]);
            put_hex64(p + 16, e->fp[1]);
            put_hex64(p + 32, (uint64_t)e->t_ms);
        }
        if (fputs("{\"event_ids\":\"", f) == EOF || fwrite(buf, EVENTWIN_HEX_PER_ID, k, f) != k ||
            fputs("\"}\n", f) == EOF)
            return -EIO;
    }
    return 0;
}

void eventwin_load_header(eventwin_t *w, int64_t floor_ms, int64_t newest_ms)
{
    if (floor_ms != INT64_MIN && (!w->has_floor || floor_ms > w->st.floor_ms)) {
        w->st.floor_ms = floor_ms;
        w->has_floor = true;
    }
    if (newest_ms > w->st.newest_ms)
        w->st.newest_ms = newest_ms;
}

static bool get_hex64(const char *p, uint64_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < 16; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return false;
        x = x << 4 | (uint64_t)d;
    }
    *v = x;
    return true;
}

int eventwin_load_ids(eventwin_t *w, const char *hex, size_t len)
{
    if (len % EVENTWIN_HEX_PER_ID != 0)
        return -EINVAL;
    for (size_t off = 0; off < len; off += EVENTWIN_HEX_PER_ID) {
        uint64_t fp[2], t;
        if (!get_hex64(hex + off, &fp[0]) || !get_hex64(hex + off + 16, &fp[1]) ||
            !get_hex64(hex + off + 32, &t))
            return -EINVAL;
        if (!held(w, fp))
            push(w, fp, (int64_t)t);
    }
    return 0;
}
