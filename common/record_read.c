/* record_read: the single-pass decoder that record_decode() tries before jansson.
 *
 * DESIGN: the analyzer decodes every record it consumes, and jansson's json_loadb() plus the
 * field-table walk cost about 10 of the 17 us the analyzer spent per record: a tree node and
 * a hash table per object, a copy of every key and value, then another copy into struct
 * record. Debian 12 ships no faster C JSON parser. This decoder reads the bytes once and
 * fills struct record directly: keys are matched against the key the field table says comes
 * next (the encoder writes them in table order), else looked up in small hash tables built
 * from the same field tables record.c uses (record_fields.h); numbers are read in place.
 * Each value passes the checks record_fields_check() applies (record_fields_*_ok) as it is
 * read, and the rules across fields run at the end (record_fields_check_rules).
 *
 * One allocation per record: the record is filled on the stack from a per-type template,
 * its strings (unescaped when they hold escapes) and map and list arrays go to a scratch
 * area, and once the record is accepted the record and the scratch area are copied into one
 * block of exactly their size, the pointers into the scratch area moved by the distance
 * (every such pointer's place is noted while decoding). rec->one_block tells record_free()
 * to free only the block. A declined text allocates nothing.
 *
 * jansson stays the reference and the error reporter. This decoder only says yes or no: on
 * anything it does not accept, valid or not, record_decode() runs jansson, which produces the
 * record or the precise message. So it must never accept a text jansson rejects (it checks
 * everything json_loadb(JSON_REJECT_DUPLICATES) checks: grammar, UTF-8, escapes and
 * surrogate pairs, \u0000, integer and real overflow, duplicate keys at every depth, nothing
 * after the object) and never produce a different record (map entries in input order, null
 * meaning absent, integers read as integers, reals rounded correctly as jansson's strtod
 * does). Where exactness would cost code for inputs the collector never writes (keys with
 * escapes outside maps, "v" and "type" not first, very long numbers, deep or wide unknown
 * values, maps of more than MAP_MAX entries, lists of more than LIST_MAX items), it declines.
 * tests/unit/test_record_read.c and tests/fuzz/fuzz_record.c compare the two decoders on
 * generated and mutated records.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "record_fields.h"
#include "text.h"
#include "xalloc.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define KS_SLOTS       128 /* hash slots per key set (power of two) */
#define KS_MAX         64  /* keys per key set: seen/present masks are 64 bits */
#define SKIP_DEPTH     32  /* nesting accepted inside unknown values */
#define SKIP_KEYS      32  /* members of one unknown object, or unknown members of a known one */
#define MAP_MAX        64  /* entries of one map (duplicate check is quadratic) */
#define NUM_MAX        64  /* longest real number text read with strtod */
#define WORD_TEXT      256 /* longest type name or time text read (escaped: 6 bytes a character) */
#define SUBSETS_MAX    8   /* nested objects (K_OBJ) across all tables */
#define LIST_MAX       128 /* items of one list */
#define SCRATCH_STACK  16384 /* scratch bytes on the stack; larger records take the heap */
#define SCRATCH_ARRAYS 8192  /* scratch beyond the text's length: map and list arrays */
#define RELOC_MAX      1024  /* pointers into the scratch area of one record */

/* The keys of one kind of object: index 0..n-1 by name. */
struct keyset {
    struct {
        const char *name;
        size_t len;
        unsigned idx;
    } slot[KS_SLOTS];
    const struct field *field[KS_MAX]; /* by index; NULL for "v", "type" and counts */
    const char *name[KS_MAX];          /* by index: the key, in wire order */
    size_t len[KS_MAX];
    uint64_t word[KS_MAX][2], mask[KS_MAX][2]; /* the key's first 16 bytes and its closing
                                                * quote, as key_next() loads them */
    unsigned n;
    bool usable; /* built without a duplicate name or overflow */
};

static struct {
    struct keyset top[RECORD_TYPE_COUNT]; /* "v", "type", envelope, body */
    struct keyset counts;                 /* pass_end.counts: index k = counted type k */
    struct keyset types;                  /* type names: index t - 1 = type t */
    struct keyset sub[SUBSETS_MAX];       /* K_OBJ members */
    const struct field *sub_of[SUBSETS_MAX];
    unsigned nsub;
    const enum record_type *counted;
    size_t ncounted;
    struct record tmpl[RECORD_TYPE_COUNT]; /* empty records (record_fields_new), no strings */
} keys;
static pthread_once_t keys_once = PTHREAD_ONCE_INIT;

static uint32_t key_hash(const unsigned char *s, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ s[i]) * 16777619u;
    return h;
}

static void keyset_add(struct keyset *ks, const char *name, const struct field *f)
{
    if (ks->n >= KS_MAX) {
        ks->usable = false;
        return;
    }
    size_t len = strlen(name);
    uint32_t h = key_hash((const unsigned char *)name, len) & (KS_SLOTS - 1);
    while (ks->slot[h].name) {
        if (ks->slot[h].len == len && memcmp(ks->slot[h].name, name, len) == 0) {
            ks->usable = false; /* one JSON key for two fields: leave it to jansson */
            return;
        }
        h = (h + 1) & (KS_SLOTS - 1);
    }
    ks->slot[h].name = name;
    ks->slot[h].len = len;
    ks->slot[h].idx = ks->n;
    ks->name[ks->n] = name;
    ks->len[ks->n] = len;
    unsigned char text[16], on[16];
    memset(text, 0, sizeof text);
    memset(on, 0, sizeof on);
    for (size_t i = 0; i <= len && i < sizeof text; i++) {
        text[i] = i < len ? (unsigned char)name[i] : '"';
        on[i] = 0xFF;
    }
    memcpy(ks->word[ks->n], text, sizeof text);
    memcpy(ks->mask[ks->n], on, sizeof on);
    ks->field[ks->n++] = f;
}

/* Returns the index of key `s` (`len` bytes) in `ks`, or -1. */
static int keyset_find(const struct keyset *ks, const unsigned char *s, size_t len)
{
    uint32_t h = key_hash(s, len) & (KS_SLOTS - 1);
    while (ks->slot[h].name) {
        if (ks->slot[h].len == len && memcmp(ks->slot[h].name, s, len) == 0)
            return (int)ks->slot[h].idx;
        h = (h + 1) & (KS_SLOTS - 1);
    }
    return -1;
}

static const struct keyset *subset_of(const struct field *f)
{
    for (unsigned i = 0; i < keys.nsub; i++)
        if (keys.sub_of[i] == f->sub)
            return keys.sub[i].usable ? &keys.sub[i] : NULL;
    return NULL;
}

static void add_fields(struct keyset *ks, const struct field *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        keyset_add(ks, fields[i].name, &fields[i]);
        if (fields[i].kind != K_OBJ || subset_of(&fields[i]) || keys.nsub >= SUBSETS_MAX)
            continue;
        struct keyset *sub = &keys.sub[keys.nsub];
        keys.sub_of[keys.nsub++] = fields[i].sub;
        sub->usable = true;
        add_fields(sub, fields[i].sub, fields[i].nsub);
    }
}

static void keys_build(void)
{
    size_t nenv;
    const struct field *env = record_fields_envelope(&nenv);
    for (int t = RECORD_NONE + 1; t < RECORD_TYPE_COUNT; t++) {
        struct keyset *ks = &keys.top[t];
        size_t nbody;
        const struct field *body = record_fields_body((enum record_type)t, &nbody);
        ks->usable = true;
        keyset_add(ks, "v", NULL);
        keyset_add(ks, "type", NULL);
        add_fields(ks, env, nenv);
        add_fields(ks, body, nbody);
        struct record *rec = record_fields_new((enum record_type)t);
        keys.tmpl[t] = *rec;
        free(rec); /* an empty record owns nothing else */
    }
    keys.types.usable = true;
    for (int t = RECORD_NONE + 1; t < RECORD_TYPE_COUNT; t++)
        keyset_add(&keys.types, record_type_name((enum record_type)t), NULL);
    keys.counted = record_fields_counted(&keys.ncounted);
    keys.counts.usable = true;
    for (size_t k = 0; k < keys.ncounted; k++)
        keyset_add(&keys.counts, record_type_name(keys.counted[k]), NULL);
}

/* ---- lexical level ---- */

struct rd {
    const unsigned char *p, *end;
};

/* A string as it appears in the input, between the quotes, already checked. */
struct span {
    const unsigned char *s;
    size_t n;
    bool escaped; /* holds backslash escapes: decode with unescape() */
};

static inline void skip_ws(struct rd *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
}

/* Consumes `c` after optional white space. */
static inline bool expect(struct rd *r, unsigned char c)
{
    if (r->p < r->end && *r->p == c) { /* compact text: no white space */
        r->p++;
        return true;
    }
    skip_ws(r);
    if (r->p >= r->end || *r->p != c)
        return false;
    r->p++;
    return true;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads 4 hex digits at `p` (bounds checked against `end`). */
static bool hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
    if (end - p < 4)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return false;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return true;
}

static bool plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* Returns the first byte at or after `p` that is not plain printable ASCII (a quote, a
 * backslash, a control character or a non-ASCII byte), or `end`. Sixteen bytes at a time
 * with SSE2 (a signed compare below 0x20 also catches the bytes of 0x80 and above), then
 * eight at a time: a byte lane's high bit in `stop` is set for every such byte (borrows
 * between lanes can set it for a plain byte too, which the byte check then sorts out). */
static const unsigned char *plain_run(const unsigned char *p, const unsigned char *end)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'),
                  space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i stop =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, bslash)),
                         _mm_cmplt_epi8(x, space));
        unsigned m = (unsigned)_mm_movemask_epi8(stop);
        if (m)
            return p + __builtin_ctz(m);
        p += 16;
    }
#endif
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    while (end - p >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
        uint64_t stop = (x | (x - ones * 0x20) | (q - ones) | (b - ones)) & high;
        if (stop)
            for (int i = 0; i < 8; i++)
                if (!plain(p[i]))
                    return p + i;
        p += 8;
    }
    while (p < end && plain(*p))
        p++;
    return p;
}

/* Reads the string at r->p (at its opening quote) into `sp`, checking what jansson checks:
 * no raw control characters, valid escapes, \uXXXX surrogates in pairs, no \u0000, valid
 * UTF-8. */
static bool read_string(struct rd *r, struct span *sp)
{
    if (r->p >= r->end || *r->p != '"')
        return false;
    const unsigned char *start = r->p + 1, *p = start, *end = r->end;
    bool escaped = false;
    for (;;) {
        p = plain_run(p, end);
        if (p >= end)
            return false;
        unsigned c = *p;
        if (c == '"')
            break;
        if (c < 0x20)
            return false;
        if (c == '\\') {
            escaped = true;
            if (end - p < 2)
                return false;
            c = p[1];
            if (c == 'u') {
                unsigned cp, lo;
                if (!hex4(p + 2, end, &cp) || cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
                    return false;
                p += 6;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (end - p < 2 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, end, &lo) ||
                        lo < 0xDC00 || lo > 0xDFFF)
                        return false;
                    p += 6;
                }
            } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
                       c == 'r' || c == 't') {
                p += 2;
            } else {
                return false;
            }
            continue;
        }
        size_t k = text_utf8_seq((const char *)p, (size_t)(end - p));
        if (k == 0)
            return false;
        p += k;
    }
    sp->s = start;
    sp->n = (size_t)(p - start);
    sp->escaped = escaped;
    r->p = p + 1;
    return true;
}

static size_t utf8_put(unsigned cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes a checked span into `out` (at least sp->n + 1 bytes: decoding never grows the
 * text) and NUL-terminates it. Returns the decoded length. */
static size_t unescape(const struct span *sp, char *out)
{
    const unsigned char *s = sp->s;
    size_t i = 0, o = 0;
    while (i < sp->n) {
        if (s[i] != '\\') {
            out[o++] = (char)s[i++];
            continue;
        }
        unsigned c = s[i + 1];
        i += 2;
        switch (c) {
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u': {
            unsigned cp, lo;
            hex4(s + i, s + sp->n, &cp);
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                hex4(s + i + 2, s + sp->n, &lo);
                i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            o += utf8_put(cp, out + o);
            break;
        }
        default: /* " \ / */
            out[o++] = (char)c;
            break;
        }
    }
    out[o] = '\0';
    return o;
}

/* One decoding: the record being filled, and the scratch area its strings and arrays go to
 * until they are copied behind the record (see DESIGN). */
struct dec {
    struct rd r;
    struct record rec;
    char *scratch; /* 8-byte aligned */
    size_t used, cap;
    uint32_t reloc[RELOC_MAX]; /* places of pointers into scratch: offsets in the final block */
    unsigned nreloc;
};

/* Returns `n` bytes of scratch aligned to `align` (a power of two), or NULL when full. */
static void *scratch_take(struct dec *d, size_t n, size_t align)
{
    size_t at = (d->used + align - 1) & ~(align - 1);
    if (at > d->cap || d->cap - at < n)
        return NULL;
    d->used = at + n;
    return d->scratch + at;
}

/* Notes `place` (a pointer in d->rec or in the scratch area) as pointing into scratch. */
static bool reloc_add(struct dec *d, char **place)
{
    const char *p = (const char *)place, *rec = (const char *)&d->rec;
    if (d->nreloc >= RELOC_MAX)
        return false;
    if (p >= rec && p < rec + sizeof d->rec)
        d->reloc[d->nreloc++] = (uint32_t)(p - rec);
    else
        d->reloc[d->nreloc++] = (uint32_t)(sizeof d->rec + (size_t)(p - d->scratch));
    return true;
}

/* Returns a NUL-terminated copy of the string's text in scratch, its length in *len; NULL
 * when the scratch area is full. */
static char *span_copy(struct dec *d, const struct span *sp, size_t *len)
{
    char *s = scratch_take(d, sp->n + 1, 1);
    if (!s)
        return NULL;
    if (sp->escaped) {
        *len = unescape(sp, s);
    } else {
        memcpy(s, sp->s, sp->n);
        s[sp->n] = '\0';
        *len = sp->n;
    }
    return s;
}

struct num {
    bool is_int;
    int64_t i;
    double d;
};

static bool is_digit(const unsigned char *p, const unsigned char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* Reads a real already checked against the JSON grammar (`s` after the sign, up to `end`)
 * when its decimal significand has at most 15 digits and its power of ten is within 22: then
 * the significand and the power are exact doubles and one IEEE division or multiplication
 * rounds correctly, which is what strtod() returns (Clinger's fast path). Otherwise false,
 * for strtod() to read it. */
static bool real_fast(const unsigned char *s, const unsigned char *end, bool neg, double *out)
{
#if FLT_EVAL_METHOD == 0
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    uint64_t m = 0;
    int digits = 0, e10 = 0;
    const unsigned char *p = s;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (m || *p != '0')
            digits++;
        m = m * 10 + (unsigned)(*p - '0');
        if (digits > 15)
            return false;
    }
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
            if (m || *p != '0')
                digits++;
            m = m * 10 + (unsigned)(*p - '0');
            e10--;
            if (digits > 15 || e10 < -22)
                return false;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = *p == '-';
        if (*p == '+' || *p == '-')
            p++;
        int x = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            x = x * 10 + (*p - '0');
            if (x > 100)
                return false;
        }
        e10 += eneg ? -x : x;
    }
    if (e10 < -22 || e10 > 22)
        return false;
    double v = (double)m; /* exact: m < 10^15 < 2^53 */
    v = e10 < 0 ? v / pow10[-e10] : v * pow10[e10];
    *out = neg ? -v : v;
    return true;
#else
    (void)s, (void)end, (void)neg, (void)out;
    return false;
#endif
}

/* Reads a JSON number as jansson does: an integer (no fraction or exponent) must fit int64
 * (strtoll), a real must not overflow (strtod). */
static bool read_number(struct rd *r, struct num *out)
{
    const unsigned char *s = r->p, *p = s, *end = r->end;
    bool neg = p < end && *p == '-';
    if (neg)
        p++;
    if (!is_digit(p, end))
        return false;
    if (*p == '0') {
        p++;
        if (is_digit(p, end))
            return false;
    } else {
        while (is_digit(p, end))
            p++;
    }
    const unsigned char *int_end = p;
    bool is_int = true;
    if (p < end && *p == '.') {
        p++;
        if (!is_digit(p, end))
            return false;
        while (is_digit(p, end))
            p++;
        is_int = false;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (!is_digit(p, end))
            return false;
        while (is_digit(p, end))
            p++;
        is_int = false;
    }
    out->is_int = is_int;
    if (is_int) {
        uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
        for (const unsigned char *q = s + neg; q < int_end; q++) {
            unsigned d = (unsigned)(*q - '0');
            if (v > (limit - d) / 10)
                return false; /* jansson: too big (negative) integer */
            v = v * 10 + d;
        }
        if (!neg)
            out->i = (int64_t)v;
        else if (v == (uint64_t)INT64_MAX + 1)
            out->i = INT64_MIN;
        else
            out->i = -(int64_t)v;
    } else if (!real_fast(s + neg, p, neg, &out->d)) {
        char tmp[NUM_MAX];
        size_t n = (size_t)(p - s);
        if (n >= sizeof tmp)
            return false;
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        char *e;
        int saved = errno;
        errno = 0;
        double d = strtod(tmp, &e);
        bool overflow = (d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE;
        errno = saved;
        if (e != tmp + n || overflow)
            return false; /* another locale's decimal point; jansson: real number overflow */
        out->d = d;
    }
    r->p = p;
    return true;
}

/* Consumes the literal `word` (true, false, null). */
static bool read_word(struct rd *r, const char *word, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n) != 0)
        return false;
    r->p += n;
    return true;
}

/* True when key `k` is not among `seen`/`nseen`, which it then joins; false for a repeat
 * (jansson: duplicate object key) or when there is no room (decline). Keys compared here
 * are never escaped, so their bytes are their text. */
static bool key_fresh(struct span *seen, unsigned *nseen, const struct span *k)
{
    for (unsigned i = 0; i < *nseen; i++)
        if (seen[i].n == k->n && memcmp(seen[i].s, k->s, k->n) == 0)
            return false;
    if (*nseen >= SKIP_KEYS)
        return false;
    seen[(*nseen)++] = *k;
    return true;
}

static bool skip_value(struct rd *r, int depth);

/* Skips the members of an object whose '{' was consumed. */
static bool skip_object(struct rd *r, int depth)
{
    struct span seen[SKIP_KEYS];
    unsigned nseen = 0;
    if (expect(r, '}'))
        return true;
    do {
        struct span k;
        skip_ws(r);
        if (!read_string(r, &k) || k.escaped || !key_fresh(seen, &nseen, &k) || !expect(r, ':') ||
            !skip_value(r, depth))
            return false;
    } while (expect(r, ','));
    return expect(r, '}');
}

/* Skips one JSON value of any type, checking it as jansson would. */
static bool skip_value(struct rd *r, int depth)
{
    skip_ws(r);
    if (r->p >= r->end || depth > SKIP_DEPTH)
        return false;
    struct span sp;
    struct num num;
    switch (*r->p) {
    case '"':
        return read_string(r, &sp);
    case '{':
        r->p++;
        return skip_object(r, depth + 1);
    case '[':
        r->p++;
        if (expect(r, ']'))
            return true;
        do {
            if (!skip_value(r, depth + 1))
                return false;
        } while (expect(r, ','));
        return expect(r, ']');
    case 't':
        return read_word(r, "true", 4);
    case 'f':
        return read_word(r, "false", 5);
    case 'n':
        return read_word(r, "null", 4);
    default:
        return read_number(r, &num);
    }
}

/* ---- fields ---- */

static bool read_members(struct dec *d, const struct keyset *ks, bool after_first,
                         uint64_t *present);

/* Reads the value of field `f` at d->r.p (white space skipped) into d->rec. *is_null tells
 * whether it was null, which means absent. */
static bool read_field(struct dec *d, const struct field *f, bool *is_null)
{
    struct rd *r = &d->r;
    *is_null = false;
    if (r->p < r->end && *r->p == 'n') {
        *is_null = true;
        return read_word(r, "null", 4);
    }
    void *p = (char *)&d->rec + f->off;
    struct span sp;
    struct num num;
    switch (f->kind) {
    case K_STR:
    case K_CIDR: {
        size_t n;
        char *s;
        if (!read_string(r, &sp) || !(s = span_copy(d, &sp, &n)) || !record_fields_str_ok(f, s, n))
            return false;
        *(char **)p = s;
        return reloc_add(d, p);
    }
    case K_TIME: {
        char text[WORD_TEXT];
        if (!read_string(r, &sp) || sp.n >= sizeof text)
            return false;
        if (sp.escaped) {
            unescape(&sp, text);
        } else {
            memcpy(text, sp.s, sp.n);
            text[sp.n] = '\0';
        }
        return record_time_parse(text, p) == 0 && record_fields_int_ok(f, *(int64_t *)p);
    }
    case K_INT:
        if (!read_number(r, &num) || !num.is_int || num.i == RECORD_UNSET ||
            !record_fields_int_ok(f, num.i))
            return false;
        *(int64_t *)p = num.i;
        return true;
    case K_DOUBLE:
        if (!read_number(r, &num))
            return false;
        *(double *)p = num.is_int ? (double)num.i : num.d;
        return record_fields_double_ok(f, *(double *)p);
    case K_BOOL:
        if (read_word(r, "true", 4)) {
            *(bool *)p = true;
            return true;
        }
        *(bool *)p = false;
        return read_word(r, "false", 5);
    case K_LIST: {
        struct record_list *l = p;
        char *items[LIST_MAX];
        size_t n = 0;
        if (!expect(r, '['))
            return false;
        if (expect(r, ']'))
            return true;
        do {
            skip_ws(r);
            if (n >= LIST_MAX || !read_string(r, &sp))
                return false;
            size_t len;
            if (!(items[n++] = span_copy(d, &sp, &len)))
                return false;
        } while (expect(r, ','));
        if (!expect(r, ']'))
            return false;
        char **arr = scratch_take(d, n * sizeof arr[0], _Alignof(char *));
        if (!arr || !reloc_add(d, (char **)(void *)&l->items))
            return false;
        memcpy(arr, items, n * sizeof arr[0]);
        l->items = arr;
        l->n = l->cap = n;
        for (size_t i = 0; i < n; i++)
            if (!reloc_add(d, &arr[i]))
                return false;
        return true;
    }
    case K_MAP: {
        struct record_map *m = p;
        struct record_map_entry items[MAP_MAX];
        size_t n = 0;
        if (!expect(r, '{'))
            return false;
        if (expect(r, '}'))
            return true;
        do {
            struct span k;
            char *key, *value;
            size_t len;
            skip_ws(r);
            if (n >= MAP_MAX || !read_string(r, &k) || !expect(r, ':'))
                return false;
            skip_ws(r);
            if (!read_string(r, &sp))
                return false;
            if (!(key = span_copy(d, &k, &len)))
                return false;
            for (size_t i = 0; i < n; i++)
                if (strcmp(items[i].key, key) == 0)
                    return false; /* duplicate key */
            if (!(value = span_copy(d, &sp, &len)))
                return false;
            items[n].key = key;
            items[n].value = value;
            n++;
        } while (expect(r, ','));
        if (!expect(r, '}'))
            return false;
        struct record_map_entry *arr =
            scratch_take(d, n * sizeof arr[0], _Alignof(struct record_map_entry));
        if (!arr || !reloc_add(d, (char **)(void *)&m->items))
            return false;
        memcpy(arr, items, n * sizeof arr[0]);
        m->items = arr;
        m->n = m->cap = n;
        for (size_t i = 0; i < n; i++)
            if (!reloc_add(d, &arr[i].key) || !reloc_add(d, &arr[i].value))
                return false;
        return true;
    }
    case K_COUNTS: {
        int64_t *counts = p;
        struct span seen[SKIP_KEYS];
        unsigned nseen = 0;
        uint64_t got = 0;
        if (!expect(r, '{'))
            return false;
        if (expect(r, '}'))
            return true;
        do {
            struct span k;
            skip_ws(r);
            if (!read_string(r, &k) || k.escaped || !expect(r, ':'))
                return false;
            int idx = keyset_find(&keys.counts, k.s, k.n);
            if (idx < 0) {
                if (!key_fresh(seen, &nseen, &k) || !skip_value(r, 1))
                    return false;
                continue;
            }
            if (got & (1ull << idx))
                return false;
            got |= 1ull << idx;
            skip_ws(r);
            if (!read_number(r, &num) || !num.is_int || num.i < 0)
                return false; /* record_fields_check: a count is not negative */
            counts[keys.counted[idx]] = num.i;
        } while (expect(r, ','));
        return expect(r, '}');
    }
    case K_OBJ: {
        const struct keyset *sub = subset_of(f);
        uint64_t present = 0;
        if (!sub || !expect(r, '{'))
            return false;
        if (!read_members(d, sub, false, &present))
            return false;
        for (unsigned i = 0; i < sub->n; i++)
            if ((sub->field[i]->flags & F_REQ) && !(present & (1ull << i)))
                return false;
        return true;
    }
    }
    return false;
}

/* Matches the key at r->p against the keys of `ks` from index `from` on, in wire order (the
 * encoder's order, so the next key present is usually the first tried). A match is exact:
 * the names hold no byte that JSON escapes. On a match consumes the key and returns its
 * index, else -1 (the key is read the slow way). */
static int key_next(struct rd *r, const struct keyset *ks, unsigned from)
{
    const unsigned char *p = r->p;
    size_t room = (size_t)(r->end - p);
    if (room < 2 || *p != '"')
        return -1;
    if (room >= 17) { /* 16 bytes after the quote compared as two words */
        uint64_t a, b;
        memcpy(&a, p + 1, 8);
        memcpy(&b, p + 9, 8);
        for (unsigned i = from; i < ks->n; i++) {
            if (((a ^ ks->word[i][0]) & ks->mask[i][0]) | ((b ^ ks->word[i][1]) & ks->mask[i][1]))
                continue;
            size_t len = ks->len[i];
            if (len >= 16 && (len + 2 > room || p[len + 1] != '"' ||
                              memcmp(p + 17, ks->name[i] + 16, len - 16) != 0))
                continue;
            r->p = p + len + 2;
            return (int)i;
        }
        return -1;
    }
    for (unsigned i = from; i < ks->n; i++) {
        size_t len = ks->len[i];
        if (len + 2 <= room && p[len + 1] == '"' && p[1] == (unsigned char)ks->name[i][0] &&
            memcmp(p + 1, ks->name[i], len) == 0) {
            r->p = p + len + 2;
            return (int)i;
        }
    }
    return -1;
}

/* Reads the members of an object up to and including its '}' (the '{' and, when
 * `after_first`, some members are consumed already), known keys into d->rec, unknown ones
 * skipped. Sets bit i of *present for each key of index i with a non-null value. */
static bool read_members(struct dec *d, const struct keyset *ks, bool after_first,
                         uint64_t *present)
{
    struct rd *r = &d->r;
    struct span unknown[SKIP_KEYS];
    unsigned nunknown = 0;
    uint64_t seen = *present;
    unsigned next = after_first ? 2 : 0; /* "v" and "type" came first */
    if (after_first ? !expect(r, ',') : expect(r, '}'))
        return after_first ? expect(r, '}') : true;
    do {
        skip_ws(r);
        int idx = key_next(r, ks, next);
        if (idx < 0) {
            struct span k;
            if (!read_string(r, &k) || k.escaped)
                return false;
            idx = keyset_find(ks, k.s, k.n);
            if (idx < 0 || !ks->field[idx]) {
                if (idx >= 0 || !expect(r, ':') || !key_fresh(unknown, &nunknown, &k) ||
                    !skip_value(r, 1))
                    return false; /* "v" or "type" again, or a duplicate unknown key */
                continue;
            }
        } else if (!ks->field[idx]) {
            return false; /* "v" or "type" again */
        }
        if (!expect(r, ':'))
            return false;
        skip_ws(r);
        if (seen & (1ull << idx))
            return false;
        seen |= 1ull << idx;
        next = (unsigned)idx + 1;
        bool is_null;
        if (!read_field(d, ks->field[idx], &is_null))
            return false;
        if (!is_null)
            *present |= 1ull << idx;
    } while (expect(r, ','));
    return expect(r, '}');
}

/* The body of record_read() once the type is known: fills d->rec, checks it, and on success
 * returns it in one block (see DESIGN), else NULL. */
static struct record *read_record(struct dec *d, enum record_type type)
{
    const struct keyset *ks = &keys.top[type];
    d->rec = keys.tmpl[type];
    uint64_t present = 3; /* "v" and "type" */
    if (!read_members(d, ks, true, &present))
        return NULL;
    skip_ws(&d->r);
    if (d->r.p != d->r.end)
        return NULL;
    for (unsigned i = 2; i < ks->n; i++)
        if ((ks->field[i]->flags & F_REQ) && !(present & (1ull << i)))
            return NULL;
    if (record_fields_check_rules(&d->rec) < 0)
        return NULL; /* each value was checked as it was read (record_fields_*_ok) */
    char *block = xmalloc(sizeof d->rec + d->used);
    char *moved = block + sizeof d->rec;
    memcpy(block, &d->rec, sizeof d->rec);
    memcpy(moved, d->scratch, d->used);
    for (unsigned i = 0; i < d->nreloc; i++) {
        char *ptr; /* a char * or an array pointer: copied as bytes */
        memcpy(&ptr, block + d->reloc[i], sizeof ptr);
        ptr = moved + (ptr - d->scratch);
        memcpy(block + d->reloc[i], &ptr, sizeof ptr);
    }
    struct record *rec = (struct record *)(void *)block;
    rec->one_block = true;
    return rec;
}

int record_read(const char *buf, size_t len, struct record **out)
{
    *out = NULL;
    if (len > RECORD_MAX_BYTES)
        return -E2BIG;
    pthread_once(&keys_once, keys_build);
    struct rd r = {(const unsigned char *)buf, (const unsigned char *)buf + len};
    struct span k, tname;
    struct num v;
    /* The encoder writes "v" and "type" first; other orders are left to jansson. */
    if (!expect(&r, '{'))
        return -EINVAL;
    skip_ws(&r);
    if (!read_string(&r, &k) || k.n != 1 || k.s[0] != 'v' || !expect(&r, ':'))
        return -EINVAL;
    skip_ws(&r);
    if (!read_number(&r, &v) || !v.is_int || v.i != RECORD_VERSION || !expect(&r, ','))
        return -EINVAL;
    skip_ws(&r);
    if (!read_string(&r, &k) || k.n != 4 || memcmp(k.s, "type", 4) != 0 || !expect(&r, ':'))
        return -EINVAL;
    skip_ws(&r);
    char name[WORD_TEXT];
    if (!read_string(&r, &tname) || tname.n >= sizeof name)
        return -EINVAL;
    enum record_type type = RECORD_NONE;
    if (!tname.escaped) {
        int idx = keyset_find(&keys.types, tname.s, tname.n);
        type = idx < 0 || !keys.types.usable ? RECORD_NONE : (enum record_type)(idx + 1);
    } else {
        unescape(&tname, name);
        type = record_type_from_name(name);
    }
    if (type == RECORD_NONE || !keys.top[type].usable)
        return -EINVAL;

    /* Decoded strings never take more bytes than their JSON text (quotes included). */
    _Alignas(16) char stack[SCRATCH_STACK];
    struct dec d;
    d.r = r;
    d.used = 0;
    d.nreloc = 0;
    d.cap = len + SCRATCH_ARRAYS;
    d.scratch = d.cap <= sizeof stack ? stack : xmalloc(d.cap);
    struct record *rec = read_record(&d, type);
    if (d.scratch != stack)
        free(d.scratch);
    if (!rec)
        return -EINVAL;
    *out = rec;
    return 0;
}
