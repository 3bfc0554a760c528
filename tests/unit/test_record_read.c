/* test_record_read: the single-pass record decoder against the jansson decoder.
 *
 * record_decode() tries record_read() and falls back to record_decode_jansson(). These tests
 * call both directly (common/record_fields.h) on golden files, generated records and mutated
 * texts: the fast path must accept every record the collector writes, produce exactly the
 * record jansson produces, and never accept what jansson rejects; record_decode() must
 * return jansson's result, message included, whenever the fast path declines.
 */
#include "testing.h"

#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "golden.h"
#include "record.h"
#include "record_fields.h"

/* ---- deep comparison, driven by the field tables ---- */

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Compares `fields` of two records; on a difference names it in `why`. */
static bool fields_equal(const struct record *a, const struct record *b, const struct field *fields,
                         size_t n, char *why, size_t whylen)
{
    for (size_t i = 0; i < n; i++) {
        const struct field *f = &fields[i];
        const void *pa = (const char *)a + f->off, *pb = (const char *)b + f->off;
        bool eq = true;
        switch (f->kind) {
        case K_STR:
        case K_CIDR:
            eq = str_eq(*(char *const *)pa, *(char *const *)pb);
            break;
        case K_INT:
        case K_TIME:
            eq = *(const int64_t *)pa == *(const int64_t *)pb;
            break;
        case K_BOOL:
            eq = *(const bool *)pa == *(const bool *)pb;
            break;
        case K_DOUBLE:
            eq = memcmp(pa, pb, sizeof(double)) == 0; /* bit for bit: -0.0, NAN */
            break;
        case K_MAP: {
            const struct record_map *x = pa, *y = pb;
            eq = x->n == y->n;
            for (size_t k = 0; eq && k < x->n; k++)
                eq = str_eq(x->items[k].key, y->items[k].key) &&
                     str_eq(x->items[k].value, y->items[k].value);
            break;
        }
        case K_LIST: {
            const struct record_list *x = pa, *y = pb;
            eq = x->n == y->n;
            for (size_t k = 0; eq && k < x->n; k++)
                eq = str_eq(x->items[k], y->items[k]);
            break;
        }
        case K_COUNTS:
            eq = memcmp(pa, pb, RECORD_TYPE_COUNT * sizeof(int64_t)) == 0;
            break;
        case K_OBJ:
            if (!fields_equal(a, b, f->sub, f->nsub, why, whylen))
                return false;
            break;
        }
        if (!eq) {
            snprintf(why, whylen, "field '%s' differs", f->name);
            return false;
        }
    }
    return true;
}

static bool record_equal(const struct record *a, const struct record *b, char *why, size_t whylen)
{
    if (a->type != b->type) {
        snprintf(why, whylen, "type %d vs %d", a->type, b->type);
        return false;
    }
    size_t n;
    const struct field *env = record_fields_envelope(&n);
    if (!fields_equal(a, b, env, n, why, whylen))
        return false;
    const struct field *body = record_fields_body(a->type, &n);
    return fields_equal(a, b, body, n, why, whylen);
}

/* Both decoders on an exactly sized heap copy (ASan catches reads past `len`). */
struct both {
    int fast_rc, slow_rc, rc;
    struct record *fast, *slow, *dec;
    char slow_err[512], dec_err[512];
};

static void decode_both(const char *buf, size_t len, struct both *b)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);
    b->fast_rc = record_read(copy, len, &b->fast);
    b->slow_rc = record_decode_jansson(copy, len, &b->slow, b->slow_err, sizeof b->slow_err);
    b->rc = record_decode(copy, len, &b->dec, b->dec_err, sizeof b->dec_err);
    free(copy);
}

static void both_free(struct both *b)
{
    record_free(b->fast);
    record_free(b->slow);
    record_free(b->dec);
}

/* The contract, for any input: the fast path accepts only what jansson accepts, with the same
 * record; record_decode() returns jansson's result (and message) otherwise. */
static void check_contract(const char *buf, size_t len, struct both *b)
{
    char why[128];
    int shown = len > 400 ? 400 : (int)len;
    if (b->fast_rc == 0) {
        if (b->slow_rc != 0)
            fail_msg("fast path accepted what jansson rejects (%s): %.*s", b->slow_err, shown, buf);
        if (!record_equal(b->fast, b->slow, why, sizeof why))
            fail_msg("fast path record differs: %s: %.*s", why, shown, buf);
    } else {
        assert_null(b->fast);
    }
    assert_int_equal(b->rc, b->slow_rc);
    if (b->rc == 0) {
        if (!record_equal(b->dec, b->slow, why, sizeof why))
            fail_msg("record_decode differs from jansson: %s: %.*s", why, shown, buf);
    } else {
        assert_null(b->dec);
        assert_string_equal(b->dec_err, b->slow_err);
    }
}

/* ---- golden files ---- */

static void test_golden_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < NGOLDEN; i++) {
        size_t len;
        char *buf = golden(golden_names[i], &len);
        struct both b = {0};
        decode_both(buf, len, &b);
        if (b.fast_rc != 0)
            fail_msg("fast path declined golden %s", golden_names[i]);
        assert_int_equal(b.slow_rc, 0);
        check_contract(buf, len, &b);
        both_free(&b);
        free(buf);
    }
}

/* ---- generated records ---- */

static unsigned rnd(unsigned n)
{
    return (unsigned)rand() % n;
}

/* Appends one random character (ASCII, quotes, backslashes, controls, 2-4 byte UTF-8). */
static size_t rand_char(char *out)
{
    switch (rnd(10)) {
    case 0:
        out[0] = "\"\\/\b\f\n\r\t"[rnd(8)];
        return 1;
    case 1:
        out[0] = (char)(1 + rnd(0x1F)); /* control characters, escaped as \u00XX */
        return 1;
    case 2: { /* 2 bytes: U+0080..U+07FF */
        unsigned cp = 0x80 + rnd(0x780);
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    case 3: { /* 3 bytes outside the surrogates */
        unsigned cp = 0x800 + rnd(0xF800 - 0x800);
        if (cp >= 0xD800)
            cp += 0x800;
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    case 4: { /* 4 bytes: U+10000..U+10FFFF (surrogate pairs when escaped) */
        unsigned cp = 0x10000 + rnd(0x100000);
        out[0] = (char)(0xF0 | cp >> 18);
        out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
        out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[3] = (char)(0x80 | (cp & 0x3F));
        return 4;
    }
    default:
        out[0] = (char)(0x20 + rnd(0x5F));
        return 1;
    }
}

/* A random valid UTF-8 string of at most `max` bytes (0 = short text), at least `min`. */
static char *rand_str(size_t min, size_t max)
{
    size_t limit = max ? max : 40;
    size_t want = min + rnd((unsigned)(limit - min + 1));
    if (rnd(4) == 0 && want > 12)
        want = min + rnd(12 > min ? (unsigned)(12 - min + 1) : 1);
    char *s = malloc(limit + 1);
    size_t n = 0;
    while (n < want) {
        char c[4];
        size_t k = rand_char(c);
        if (n + k > limit)
            break;
        memcpy(s + n, c, k);
        n += k;
    }
    while (n < min)
        s[n++] = 'x';
    s[n] = '\0';
    return s;
}

static int64_t rand_range(int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)hi - (uint64_t)lo;
    uint64_t r = ((uint64_t)rand() << 42) ^ ((uint64_t)rand() << 21) ^ (uint64_t)rand();
    switch (rnd(4)) {
    case 0:
        return lo;
    case 1:
        return hi;
    default:
        return span == UINT64_MAX ? (int64_t)r : (int64_t)((uint64_t)lo + r % (span + 1));
    }
}

static double rand_double(void)
{
    static const double special[] = {0.0,
                                     -0.0,
                                     1.0,
                                     0.5,
                                     1e308,
                                     -1e308,
                                     5e-324,
                                     1e-310,
                                     2.5e-300,
                                     123456.75,
                                     9007199254740993.0,
                                     1e15,
                                     1e16,
                                     0.1};
    if (rnd(3) == 0)
        return special[rnd(sizeof special / sizeof special[0])];
    double d = (double)rand() / RAND_MAX * pow(10, (int)rnd(40) - 20);
    return rnd(2) ? d : -d;
}

static void fill_fields(struct record *rec, const struct field *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct field *f = &fields[i];
        if (!(f->flags & F_REQ) && rnd(4) == 0)
            continue;
        void *p = (char *)rec + f->off;
        switch (f->kind) {
        case K_STR:
            if (f->allowed) {
                size_t na = 0;
                while (f->allowed[na])
                    na++;
                record_str_set(p, f->allowed[rnd((unsigned)na)]);
            } else {
                char *s = rand_str(f->flags & F_NONEMPTY ? 1 : 0, (size_t)f->max);
                free(*(char **)p);
                *(char **)p = s;
            }
            break;
        case K_CIDR: {
            char *s = rand_str(1, RECORD_CIDR_MAX);
            free(*(char **)p);
            *(char **)p = s;
            break;
        }
        case K_INT:
            *(int64_t *)p = rand_range(f->min, f->max);
            break;
        case K_TIME:
            *(int64_t *)p = rand_range(0, 253402300799999LL);
            break;
        case K_BOOL:
            *(bool *)p = rnd(2);
            break;
        case K_DOUBLE: {
            double d = rand_double();
            if (f->min != INT64_MIN && d < (double)f->min)
                d = -d;
            *(double *)p = d;
            break;
        }
        case K_MAP: {
            unsigned k = rnd(6);
            for (unsigned j = 0; j < k; j++) {
                char *key = rand_str(0, 0), *val = rand_str(0, 0);
                record_map_set(p, key, val);
                free(key);
                free(val);
            }
            break;
        }
        case K_LIST: {
            unsigned k = rnd(5);
            for (unsigned j = 0; j < k; j++) {
                char *v = rand_str(0, 0);
                record_list_add(p, v);
                free(v);
            }
            break;
        }
        case K_COUNTS: {
            size_t nc;
            const enum record_type *counted = record_fields_counted(&nc);
            for (size_t j = 0; j < nc; j++)
                ((int64_t *)p)[counted[j]] = rand_range(0, INT64_MAX);
            break;
        }
        case K_OBJ:
            fill_fields(rec, f->sub, f->nsub);
            break;
        }
    }
}

/* A random record of a random type that validates. */
static struct record *rand_record(void)
{
    enum record_type type = (enum record_type)(1 + rnd(RECORD_TYPE_COUNT - 1));
    struct record *rec = record_new(type);
    size_t n;
    const struct field *env = record_fields_envelope(&n);
    fill_fields(rec, env, n);
    const struct field *body = record_fields_body(type, &n);
    fill_fields(rec, body, n);
    if (!rec->scope && type != RECORD_EVENT)
        record_str_set(&rec->scope, "ipam-scope-1");
    if (!rec->pass_id && (type == RECORD_PASS_BEGIN || type == RECORD_PASS_END))
        record_str_set(&rec->pass_id, "pass/1");
    if (type == RECORD_POOL && strcmp(rec->u.pool.address_family, "ipv4") == 0) {
        int64_t *m[] = {&rec->u.pool.allocation_default_netmask,
                        &rec->u.pool.allocation_min_netmask, &rec->u.pool.allocation_max_netmask};
        for (size_t i = 0; i < 3; i++)
            if (*m[i] != RECORD_UNSET && *m[i] > 32)
                *m[i] = 32;
    }
    if (type == RECORD_EVENT) {
        if (!rec->u.event.parsed && !rec->u.event.raw)
            record_str_set(&rec->u.event.raw, "{\"eventName\":\"AllocateIpamPoolCidr\"}");
        if (rec->u.event.error_code && strncmp(rec->u.event.error_code, "Client.", 7) == 0)
            rec->u.event.error_code[0] = 'c';
    }
    if (type == RECORD_ALERT) {
        struct record_alert *a = &rec->u.alert;
        if (strcmp(a->state, "resolved") == 0 && a->ends_at_ms == RECORD_UNSET)
            a->ends_at_ms = a->starts_at_ms;
        if (a->ends_at_ms != RECORD_UNSET && a->ends_at_ms < a->starts_at_ms) {
            int64_t t = a->ends_at_ms;
            a->ends_at_ms = a->starts_at_ms;
            a->starts_at_ms = t;
        }
    }
    char err[256];
    if (record_validate(rec, err, sizeof err) != 0)
        fail_msg("generated record does not validate: %s", err);
    return rec;
}

/* Writes \uXXXX for `cp` (upper- or lower-case hex); returns 6. */
static size_t hex_escape(char *out, unsigned cp, bool upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    out[0] = '\\';
    out[1] = 'u';
    for (int k = 0; k < 4; k++)
        out[2 + k] = digits[cp >> (12 - 4 * k) & 0xF];
    return 6;
}

/* Rewrites the string values of a compact encoding (not keys) with \u escapes for some of
 * their characters, as another JSON writer might: UTF-8 sequences become \uXXXX or surrogate
 * pairs, ASCII becomes \u00XX, in random hex case. Returns a new text (caller frees). */
static char *reescape(const char *in, size_t len, size_t *outlen)
{
    char *out = malloc(len * 12 + 1);
    size_t o = 0, i = 0;
    while (i < len) {
        if (in[i] != '"') {
            out[o++] = in[i++];
            continue;
        }
        size_t j = i + 1; /* find the closing quote */
        while (in[j] != '"')
            j += in[j] == '\\' ? 2 : 1;
        bool is_key = j + 1 < len && in[j + 1] == ':';
        out[o++] = in[i++];
        while (i < j) {
            unsigned char c = (unsigned char)in[i];
            size_t seq = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
            if (is_key || rnd(3) != 0 || c == '\\') {
                size_t k = c == '\\' ? (in[i + 1] == 'u' ? 6 : 2) : seq;
                memcpy(out + o, in + i, k);
                o += k;
                i += k;
                continue;
            }
            unsigned cp;
            size_t k;
            if (c < 0x80) {
                cp = c;
                k = 1;
            } else if (c < 0xE0) {
                cp = (c & 0x1Fu) << 6 | ((unsigned char)in[i + 1] & 0x3Fu);
                k = 2;
            } else if (c < 0xF0) {
                cp = (c & 0x0Fu) << 12 | ((unsigned char)in[i + 1] & 0x3Fu) << 6 |
                     ((unsigned char)in[i + 2] & 0x3Fu);
                k = 3;
            } else {
                cp = (c & 0x07u) << 18 | ((unsigned char)in[i + 1] & 0x3Fu) << 12 |
                     ((unsigned char)in[i + 2] & 0x3Fu) << 6 | ((unsigned char)in[i + 3] & 0x3Fu);
                k = 4;
            }
            bool upper = rnd(2);
            if (cp >= 0x10000) {
                o += hex_escape(out + o, 0xD800 + ((cp - 0x10000) >> 10), upper);
                o += hex_escape(out + o, 0xDC00 + ((cp - 0x10000) & 0x3FF), upper);
            } else {
                o += hex_escape(out + o, cp, upper);
            }
            i += k;
        }
        out[o++] = in[i++];
    }
    out[o] = '\0';
    *outlen = o;
    return out;
}

#define NRANDOM 100000

static void test_random_records(void **state)
{
    (void)state;
    unsigned seed = testing_seed();
    srand(seed);
    size_t reescaped = 0;
    for (int iter = 0; iter < NRANDOM; iter++) {
        struct record *rec = rand_record();
        char *enc;
        size_t len;
        assert_int_equal(record_encode(rec, &enc, &len), 0);
        char *text = enc;
        size_t tlen = len;
        if (iter % 4 == 0) {
            text = reescape(enc, len, &tlen);
            reescaped++;
        }
        struct both b = {0};
        decode_both(text, tlen, &b);
        if (b.slow_rc != 0)
            fail_msg("iteration %d: jansson rejects an encoded record (%s): %s", iter, b.slow_err,
                     text);
        if (b.fast_rc != 0)
            fail_msg("iteration %d: fast path declined an encoded record: %s", iter, text);
        check_contract(text, tlen, &b);
        /* What was decoded encodes to the same text (doubles print at 15 digits, so the
         * original record is compared through its encoding). */
        char *enc2;
        size_t len2;
        assert_int_equal(record_encode(b.fast, &enc2, &len2), 0);
        if (len2 != len || memcmp(enc, enc2, len) != 0)
            fail_msg("iteration %d: re-encoding differs:\n%s\n%s", iter, enc, enc2);
        free(enc2);
        both_free(&b);
        if (text != enc)
            free(text);
        free(enc);
        record_free(rec);
    }
    printf("# %d generated records (%zu re-escaped) decoded identically by both paths\n", NRANDOM,
           reescaped);
}

/* ---- mutations ---- */

static const char *const snippets[] = {
    "\"zz\":1,",
    "\"zz\":{\"a\":[1,2.5e3,-0,true,false,null,\"s\"]},",
    "\"zz\":{\"a\":1,\"a\":2},",
    "\"zz\":1,\"zz\":2,",
    "\"scope\":\"dup\",",
    "\"tags\":null,",
    "\"tags\":{\"k\":\"v\",\"k\":\"w\"},",
    "\"tags\":{\"k\":\"v\",\"\\u006b\":\"w\"},",
    "\"zz\":1e400,",
    "\"zz\":-1e400,",
    "\"zz\":1e-400,",
    "\"zz\":99999999999999999999,",
    "\"zz\":-9223372036854775808,",
    "\"zz\":9223372036854775807,",
    "\"zz\":9223372036854775808,",
    "\"zz\":01,",
    "\"zz\":1.,",
    "\"zz\":.5,",
    "\"zz\":+1,",
    "\"zz\":\"\\ud83d\\ude00\",",
    "\"zz\":\"\\ud83d\",",
    "\"zz\":\"\\ude00\",",
    "\"zz\":\"\\u0000\",",
    "\"zz\":\"\\x\",",
    "\"zz\":\"\xed\xa0\x80\",",
    "\"zz\":\"\xc0\xaf\",",
    "\"zz\":\"\xf4\x90\x80\x80\",",
    "\"z\\u007a\":1,",
    "\"zz\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],",
    "\"zz\":tru,",
    "\"zz\":nulll,",
    "\"ip_usage\":\"0.5\",",
    "\"ip_usage\":5e-1,",
    "\"netmask_length\":24.0,",
    "\"counts\":{\"pool\":1,\"pool\":2},",
    "\"principal\":{\"type\":\"IAMUser\",\"x\":{}},",
    "\"v\":1,",
    "\"type\":\"pool\",",
    " \t\r\n",
};

static void mutate(char *buf, size_t *len, size_t cap)
{
    static const char interesting[] = "{}[]\":,\\-0123456789.eE+tfnu \x80\xff\xc3\xed\x1f\x00";
    size_t n = *len;
    int nmut = 1 + (int)rnd(3);
    for (int m = 0; m < nmut && n > 0; m++) {
        size_t pos = rnd((unsigned)n);
        switch (rnd(7)) {
        case 0:
            buf[pos] ^= (char)(1 << rnd(8));
            break;
        case 1:
            buf[pos] = interesting[rnd(sizeof interesting - 1)];
            break;
        case 2:
            if (n + 1 < cap) {
                memmove(buf + pos + 1, buf + pos, n - pos);
                buf[pos] = interesting[rnd(sizeof interesting - 1)];
                n++;
            }
            break;
        case 3: {
            size_t span = 1 + rnd(8);
            if (span > n - pos)
                span = n - pos;
            memmove(buf + pos, buf + pos + span, n - pos - span);
            n -= span;
            break;
        }
        case 4:
            n = pos;
            break;
        default: { /* insert a snippet after a ',' or the first '{' */
            const char *sn = snippets[rnd(sizeof snippets / sizeof snippets[0])];
            size_t sl = strlen(sn);
            while (pos < n && buf[pos] != ',' && buf[pos] != '{')
                pos++;
            if (pos >= n || n + sl >= cap)
                break;
            pos++;
            memmove(buf + pos + sl, buf + pos, n - pos);
            memcpy(buf + pos, sn, sl);
            n += sl;
            break;
        }
        }
    }
    *len = n;
}

#define NMUTATIONS 60000

static void test_mutation_differential(void **state)
{
    (void)state;
    unsigned seed = testing_seed();
    srand(seed);
    char *goldens[NGOLDEN];
    size_t glens[NGOLDEN];
    for (size_t i = 0; i < NGOLDEN; i++)
        goldens[i] = golden(golden_names[i], &glens[i]);
    size_t both_ok = 0, fast_declined = 0, both_rejected = 0;
    for (int iter = 0; iter < NMUTATIONS; iter++) {
        char *src, *owned = NULL;
        size_t len;
        if (iter % 2) {
            size_t gi = rnd(NGOLDEN);
            src = goldens[gi];
            len = glens[gi];
        } else {
            struct record *rec = rand_record();
            assert_int_equal(record_encode(rec, &owned, &len), 0);
            record_free(rec);
            src = owned;
        }
        size_t cap = len + 512;
        char *buf = malloc(cap);
        memcpy(buf, src, len);
        mutate(buf, &len, cap);
        struct both b = {0};
        decode_both(buf, len, &b);
        check_contract(buf, len, &b);
        if (b.fast_rc == 0)
            both_ok++;
        else if (b.slow_rc == 0)
            fast_declined++;
        else
            both_rejected++;
        both_free(&b);
        free(buf);
        free(owned);
    }
    printf("# %d mutated texts: %zu accepted by both, %zu declined by the fast path and "
           "accepted by jansson, %zu rejected by both\n",
           NMUTATIONS, both_ok, fast_declined, both_rejected);
    /* The mix must exercise all three outcomes for the differential to mean anything. */
    assert_true(both_ok > NMUTATIONS / 20);
    assert_true(both_rejected > NMUTATIONS / 20);
    for (size_t i = 0; i < NGOLDEN; i++)
        free(goldens[i]);
}

/* ---- cases a reader would ask about ---- */

static void test_cases(void **state)
{
    (void)state;
    /* Each case is one member spliced into a small valid pool record. */
    static const char head[] = "{\"v\":1,\"type\":\"pool\",\"scope\":\"ipam-scope-1\","
                               "\"ts\":\"2025-03-14T10:02:17.123Z\",\"source\":\"c-1\","
                               "\"pool_id\":\"ipam-pool-1\",\"scope_id\":\"ipam-scope-1\",";
    static const char tail[] = "\"address_family\":\"ipv4\"}";
    static const struct {
        const char *member;
        bool fast, slow; /* accepted by the fast path, by jansson */
        const char *tag; /* expected value of tags["t"], if any */
    } cases[] = {
        {"", true, true, NULL},
        {"\"zz\":{\"a\":[1,{\"b\":null}],\"c\":\"\\u00e9\"},", true, true, NULL},
        {"\"tags\":{\"t\":\"\\ud83d\\ude00 \\u00e9\\n\\\"\\\\\\/\"},", true, true,
         "\xf0\x9f\x98\x80 \xc3\xa9\n\"\\/"},
        {"\"tags\":{\"t\":\"\xf0\x9f\x98\x80\"},", true, true, "\xf0\x9f\x98\x80"},
        {"\"tags\":{\"t\":\"\\ud83d\"},", false, false, NULL},
        {"\"tags\":{\"t\":\"\\ude00x\"},", false, false, NULL},
        {"\"tags\":{\"t\":\"\\ud83dx\\ude00\"},", false, false, NULL},
        {"\"tags\":{\"t\":\"a\\u0000b\"},", false, false, NULL},
        {"\"tags\":{\"t\":\"\xed\xa0\x80\"},", false, false, NULL},
        {"\"tags\":{\"t\":\"\xe0\x80\xaf\"},", false, false, NULL},
        {"\"tags\":{\"t\":\"\xf4\x90\x80\x80\"},", false, false, NULL},
        {"\"tags\":{\"t\":\"a\tb\"},", false, false, NULL},
        {"\"tags\":{\"t\":\"\\q\"},", false, false, NULL},
        {"\"tags\":{\"t\":\"1\",\"\\u0074\":\"2\"},", false, false, NULL},
        {"\"tags\":{\"t\":null},", false, false, NULL},
        {"\"zz\":1,\"zz\":2,", false, false, NULL},
        {"\"zz\":{\"a\":1,\"a\":2},", false, false, NULL},
        {"\"zz\":[{\"a\":1,\"a\":2}],", false, false, NULL},
        {"\"pool_id\":\"ipam-pool-dup\",", false, false, NULL},
        {"\"zz\":1e400,", false, false, NULL},
        {"\"zz\":1e-400,", true, true, NULL},
        {"\"zz\":-9223372036854775809,", false, false, NULL},
        {"\"zz\":-9223372036854775808,", true, true, NULL},
        {"\"zz\":01,", false, false, NULL},
        {"\"zz\":-,", false, false, NULL},
        {"\"depth\":1.0,", false, false, NULL},
        {"\"depth\":2,", true, true, NULL},
        {"\"depth\":-9223372036854775808,", false, false, NULL},
        {"\"depth\":\"2\",", false, false, NULL},
        {"\"auto_import\":1,", false, false, NULL},
        {"\"parent\":null,", true, true, NULL},
        {"\"tags\":null,", true, true, NULL},
        {"\"pool_id\":null,", false, false, NULL},
        {"\"v\":1,", false, false, NULL},
        /* valid, left to jansson: an escaped key outside a map */
        {"\"z\\u007a\":1,", false, true, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[1024];
        int n = snprintf(buf, sizeof buf, "%s%s%s", head, cases[i].member, tail);
        assert_true(n > 0 && (size_t)n < sizeof buf);
        struct both b = {0};
        decode_both(buf, (size_t)n, &b);
        if ((b.fast_rc == 0) != cases[i].fast || (b.slow_rc == 0) != cases[i].slow)
            fail_msg("case %zu: fast %d jansson %d (%s): %s", i, b.fast_rc, b.slow_rc, b.slow_err,
                     buf);
        check_contract(buf, (size_t)n, &b);
        if (cases[i].tag)
            assert_string_equal(record_map_get(&b.fast->u.pool.tags, "t"), cases[i].tag);
        both_free(&b);
    }
    /* A raw control character, or a non-ASCII byte alone, at every position of a long
     * string value (the scan reads eight bytes at a time): always refused. A valid
     * two-byte character or an escape at every position: always accepted, same text. */
    static const char *const inserts[] = {"\x01", "\x1f", "\x80", "\xff", "\xc3\xa9",
                                          "\\n",  "\\\"", "#",    " ",    "\x7f"};
    static const bool insert_ok[] = {false, false, false, false, true,
                                     true,  true,  true,  true,  true};
    for (size_t k = 0; k < sizeof inserts / sizeof inserts[0]; k++) {
        for (size_t pos = 0; pos < 24; pos++) {
            char member[128], buf[1024];
            int n = snprintf(member, sizeof member, "\"tags\":{\"t\":\"%.*s%s%.*s\"},", (int)pos,
                             "abcdefghijklmnopqrstuvwxyz", inserts[k], (int)(24 - pos),
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
            assert_true(n > 0 && (size_t)n < sizeof member);
            n = snprintf(buf, sizeof buf, "%s%s%s", head, member, tail);
            assert_true(n > 0 && (size_t)n < sizeof buf);
            struct both b = {0};
            decode_both(buf, (size_t)n, &b);
            if ((b.fast_rc == 0) != insert_ok[k] || (b.slow_rc == 0) != insert_ok[k])
                fail_msg("insert %zu at %zu: fast %d jansson %d (%s)", k, pos, b.fast_rc, b.slow_rc,
                         b.slow_err);
            check_contract(buf, (size_t)n, &b);
            both_free(&b);
        }
    }
    /* Leading white space, trailing bytes after the object. */
    static const struct {
        const char *before, *after;
        size_t nul; /* a NUL byte appended after `after` */
        bool ok;
    } frame[] = {{" \n\t", "", 0, true}, {"", " \r\n\t", 0, true},
                 {"", ",", 0, false},    {"", "}", 0, false},
                 {"", "", 1, false},     {"{}", "", 0, false},
                 {"", "{}", 0, false},   {"\xef\xbb\xbf", "", 0, false}};
    for (size_t i = 0; i < sizeof frame / sizeof frame[0]; i++) {
        char buf[1024];
        int n = snprintf(buf, sizeof buf, "%s%s%s%s", frame[i].before, head, tail, frame[i].after);
        assert_true(n > 0 && (size_t)n + 1 < sizeof buf);
        size_t len = (size_t)n + frame[i].nul;
        struct both b = {0};
        decode_both(buf, len, &b);
        if ((b.fast_rc == 0) != frame[i].ok || (b.slow_rc == 0) != frame[i].ok)
            fail_msg("frame %zu: fast %d jansson %d (%s)", i, b.fast_rc, b.slow_rc, b.slow_err);
        check_contract(buf, len, &b);
        both_free(&b);
    }
}

/* Records the collector never writes but jansson accepts: the fast path declines them and
 * record_decode() still returns jansson's record. */
static void test_fallback_for_valid_variants(void **state)
{
    (void)state;
    size_t len;
    char *scope = golden("scope", &len);
    /* "type" before "v" */
    char buf[4096];
    const char *after = scope + strlen("{\"v\":1,\"type\":\"scope\",");
    int n = snprintf(buf, sizeof buf, "{\"type\":\"scope\",\"v\":1,%s", after);
    assert_true(n > 0 && (size_t)n < sizeof buf);
    struct both b = {0};
    decode_both(buf, (size_t)n, &b);
    assert_int_not_equal(b.fast_rc, 0);
    assert_int_equal(b.rc, 0);
    check_contract(buf, (size_t)n, &b);
    both_free(&b);
    free(scope);
}

/* ---- one allocation per decoded record ---- */

/* Fails unless every string, map array and list array of `fields` lies inside the block of
 * `size` bytes at `rec`. */
static void check_inside(const struct record *rec, size_t size, const struct field *fields,
                         size_t n)
{
    const char *lo = (const char *)rec, *hi = lo + size;
#define INSIDE(ptr)                                                                                \
    do {                                                                                           \
        const char *q_ = (const char *)(ptr);                                                      \
        if (q_ < lo + sizeof *rec || q_ >= hi)                                                     \
            fail_msg("field '%s': pointer outside the record's block", f->name);                   \
    } while (0)
    for (size_t i = 0; i < n; i++) {
        const struct field *f = &fields[i];
        const void *p = (const char *)rec + f->off;
        switch (f->kind) {
        case K_STR:
        case K_CIDR:
            if (*(char *const *)p)
                INSIDE(*(char *const *)p);
            break;
        case K_MAP: {
            const struct record_map *m = p;
            if (m->n)
                INSIDE(m->items);
            for (size_t k = 0; k < m->n; k++) {
                INSIDE(m->items[k].key);
                INSIDE(m->items[k].value);
            }
            break;
        }
        case K_LIST: {
            const struct record_list *l = p;
            if (l->n)
                INSIDE(l->items);
            for (size_t k = 0; k < l->n; k++)
                INSIDE(l->items[k]);
            break;
        }
        case K_OBJ:
            check_inside(rec, size, f->sub, f->nsub);
            break;
        default:
            break;
        }
    }
#undef INSIDE
}

/* A record the fast path decodes is one block: record, strings and arrays; record_free()
 * frees it with one call (ASan reports a leak or a bad free otherwise). */
static void test_one_block(void **state)
{
    (void)state;
    for (size_t i = 0; i < NGOLDEN; i++) {
        size_t len, n;
        char *buf = golden(golden_names[i], &len);
        struct record *rec = NULL;
        char err[256];
        assert_int_equal(record_decode(buf, len, &rec, err, sizeof err), 0);
        assert_true(rec->one_block);
        /* The block holds the record and at most the text's bytes plus the arrays. */
        size_t size = malloc_usable_size(rec);
        assert_true(size >= sizeof *rec);
        assert_true(size < sizeof *rec + len + 4096);
        const struct field *env = record_fields_envelope(&n);
        check_inside(rec, size, env, n);
        const struct field *body = record_fields_body(rec->type, &n);
        check_inside(rec, size, body, n);
        record_free(rec);
        /* The reference decoder's records own each string: record_free() frees them all. */
        assert_int_equal(record_decode_jansson(buf, len, &rec, err, sizeof err), 0);
        assert_false(rec->one_block);
        record_free(rec);
        free(buf);
    }
}

/* ---- strings: escapes, surrogate pairs, long texts ---- */

/* Appends `s` to `b` (of `cap` bytes, used `*n`). */
static void put(char *b, size_t cap, size_t *n, const char *s)
{
    size_t k = strlen(s);
    assert_true(*n + k < cap);
    memcpy(b + *n, s, k + 1);
    *n += k;
}

/* A pool record whose description is `desc` (JSON text between the quotes). */
static char *pool_with_description(const char *desc, size_t *len)
{
    static const char head[] = "{\"v\":1,\"type\":\"pool\",\"scope\":\"ipam-scope-1\","
                               "\"ts\":\"2025-03-14T10:02:17.123Z\",\"source\":\"c-1\","
                               "\"pool_id\":\"ipam-pool-1\",\"scope_id\":\"ipam-scope-1\","
                               "\"address_family\":\"ipv4\",\"description\":\"";
    size_t cap = strlen(head) + strlen(desc) + 8, n = 0;
    char *b = malloc(cap);
    b[0] = '\0';
    put(b, cap, &n, head);
    put(b, cap, &n, desc);
    put(b, cap, &n, "\"}");
    *len = n;
    return b;
}

static void test_escapes_and_long_strings(void **state)
{
    (void)state;
    /* Every escape in a record field (not only in maps), decoded by the fast path. */
    static const struct {
        const char *json, *text;
    } esc[] = {
        {"\\\"\\\\\\/\\b\\f\\n\\r\\t", "\"\\/\b\f\n\r\t"},
        {"\\u0041\\u00e9\\u20ac\\uFFFD", "A\xc3\xa9\xe2\x82\xac\xef\xbf\xbd"},
        {"\\ud83d\\ude00", "\xf0\x9f\x98\x80"}, /* surrogate pair: U+1F600 */
        {"\\uD800\\uDC00\\uDBFF\\uDFFF", "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"}, /* ends of range */
        {"x\\u0001y", "x\x01y"},
        {"\xf0\x9f\x8c\x90 caf\xc3\xa9", "\xf0\x9f\x8c\x90 caf\xc3\xa9"}, /* raw UTF-8 */
    };
    for (size_t i = 0; i < sizeof esc / sizeof esc[0]; i++) {
        size_t len;
        char *buf = pool_with_description(esc[i].json, &len);
        struct both b = {0};
        decode_both(buf, len, &b);
        if (b.fast_rc != 0)
            fail_msg("escape case %zu declined: %s", i, buf);
        check_contract(buf, len, &b);
        assert_string_equal(b.fast->u.pool.description, esc[i].text);
        both_free(&b);
        free(buf);
    }
    /* Lone or reversed surrogates, \u0000 and bad hex: refused by both, jansson's message. */
    static const char *const bad[] = {"\\ud83d", "\\ude00\\ud83d", "\\ud83d\\u0041",
                                      "\\u0000", "\\u12g4",        "\\u12"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len;
        char *buf = pool_with_description(bad[i], &len);
        struct both b = {0};
        decode_both(buf, len, &b);
        if (b.fast_rc == 0 || b.slow_rc == 0)
            fail_msg("bad escape %zu accepted: fast %d jansson %d", i, b.fast_rc, b.slow_rc);
        check_contract(buf, len, &b);
        assert_non_null(strstr(b.dec_err, "invalid JSON"));
        both_free(&b);
        free(buf);
    }
    /* Long descriptions, beyond the decoder's stack scratch area: plain, and with an escape
     * or a multi-byte character every 61 bytes; the text must come back whole. */
    static const size_t sizes[] = {15, 16, 17, 4000, 20000, 300000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (int mixed = 0; mixed < 2; mixed++) {
            size_t cap = sizes[i] * 7 + 16, n = 0, tn = 0;
            char *json = malloc(cap), *text = malloc(cap);
            for (size_t k = 0; k < sizes[i]; k++) {
                const char *j = "a", *t = "a";
                if (mixed && k % 61 == 60)
                    j = (k / 61) % 2 ? "\\u00e9" : "\\n", t = (k / 61) % 2 ? "\xc3\xa9" : "\n";
                else if (mixed && k % 61 == 30)
                    j = t = "\xe2\x82\xac";
                else
                    text[tn] = json[n] = (char)('a' + k % 26), j = t = NULL;
                if (j) {
                    memcpy(json + n, j, strlen(j));
                    memcpy(text + tn, t, strlen(t));
                    n += strlen(j);
                    tn += strlen(t);
                } else {
                    n++;
                    tn++;
                }
            }
            json[n] = text[tn] = '\0';
            size_t len;
            char *buf = pool_with_description(json, &len);
            struct both b = {0};
            decode_both(buf, len, &b);
            if (b.fast_rc != 0)
                fail_msg("description of %zu characters (mixed %d) declined", sizes[i], mixed);
            check_contract(buf, len, &b);
            assert_string_equal(b.fast->u.pool.description, text);
            both_free(&b);
            free(buf);
            free(json);
            free(text);
        }
    }
}

/* Records of exactly RECORD_MAX_BYTES decode on the fast path; one byte more is -E2BIG for
 * both decoders, with the limit in the message. */
static void test_size_limit_fast(void **state)
{
    (void)state;
    size_t base;
    char *probe = pool_with_description("", &base);
    free(probe);
    size_t pad = RECORD_MAX_BYTES - base;
    char *desc = malloc(pad + 2);
    for (size_t k = 0; k < pad + 1; k++)
        desc[k] = (char)('a' + k % 26);
    desc[pad] = '\0';
    size_t len;
    char *buf = pool_with_description(desc, &len);
    assert_int_equal(len, RECORD_MAX_BYTES);
    struct both b = {0};
    decode_both(buf, len, &b);
    assert_int_equal(b.fast_rc, 0);
    check_contract(buf, len, &b);
    assert_int_equal(strlen(b.fast->u.pool.description), pad);
    assert_true(b.fast->one_block);
    both_free(&b);
    free(buf);

    desc[pad] = 'x';
    desc[pad + 1] = '\0';
    buf = pool_with_description(desc, &len);
    assert_int_equal(len, RECORD_MAX_BYTES + 1);
    struct record *rec = NULL;
    assert_int_equal(record_read(buf, len, &rec), -E2BIG);
    assert_null(rec);
    char err[256];
    assert_int_equal(record_decode(buf, len, &rec, err, sizeof err), -E2BIG);
    assert_null(rec);
    assert_non_null(strstr(err, "exceeds the limit"));
    free(buf);
    free(desc);
}

/* ---- keys matched in wire order ---- */

static void test_key_matching(void **state)
{
    (void)state;
    static const char head[] =
        "{\"v\":1,\"type\":\"resource_cidr\",\"scope\":\"ipam-scope-1\","
        "\"ts\":\"2025-03-14T10:02:17.123Z\",\"source\":\"c-1\",\"scope_id\":\"ipam-scope-1\","
        "\"resource_type\":\"vpc\",\"resource_id\":\"vpc-1\",\"cidr\":\"10.0.0.0/16\"";
    static const struct {
        const char *members; /* appended after head, before '}' */
        bool ok;             /* accepted by both (the fast path included) */
        const char *az;      /* expected availability_zone_id */
    } cases[] = {
        {"", true, NULL},
        {",\"availability_zone_id\":\"euc1-az1\"", true, "euc1-az1"},
        /* unknown keys that share a known key's first 16 bytes, or extend or cut one */
        {",\"availability_zone_ix\":\"x\"", true, NULL},
        {",\"availability_zone_id2\":\"x\"", true, NULL},
        {",\"availability_zon\":\"x\"", true, NULL},
        {",\"cidrs\":\"x\",\"cid\":\"y\"", true, NULL},
        /* known keys out of wire order */
        {",\"availability_zone_id\":\"euc1-az2\",\"vpc_id\":\"vpc-1\",\"ipam_id\":\"ipam-1\"", true,
         "euc1-az2"},
        /* repeats: after out-of-order keys, and a short repeated key near the end */
        {",\"availability_zone_id\":\"a\",\"name\":\"n\",\"availability_zone_id\":\"b\"", false,
         NULL},
        {",\"cidr\":\"10.0.0.0/8\"", false, NULL},
        {",\"v\":1", false, NULL},
        {",\"type\":\"resource_cidr\"", false, NULL},
        /* white space around keys, colons and values */
        {" , \"availability_zone_id\" :\t\"euc1-az3\" \n", true, "euc1-az3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[1024];
        int n = snprintf(buf, sizeof buf, "%s%s}", head, cases[i].members);
        assert_true(n > 0 && (size_t)n < sizeof buf);
        struct both b = {0};
        decode_both(buf, (size_t)n, &b);
        if ((b.fast_rc == 0) != cases[i].ok || (b.slow_rc == 0) != cases[i].ok)
            fail_msg("case %zu: fast %d jansson %d (%s): %s", i, b.fast_rc, b.slow_rc, b.slow_err,
                     buf);
        check_contract(buf, (size_t)n, &b);
        if (cases[i].ok) {
            if (cases[i].az)
                assert_string_equal(b.fast->u.resource_cidr.availability_zone_id, cases[i].az);
            else
                assert_null(b.fast->u.resource_cidr.availability_zone_id);
        }
        both_free(&b);
    }
    /* Every truncation of a valid record: keys cut at every byte near the end of the
     * buffer, where fewer than 16 bytes follow the quote. Refused, jansson's message. */
    char full[1024];
    int n =
        snprintf(full, sizeof full, "%s,\"availability_zone_id\":\"a\",\"pool_id\":\"p\"}", head);
    assert_true(n > 0 && (size_t)n < sizeof full);
    for (size_t cut = 1; cut < (size_t)n; cut++) {
        struct both b = {0};
        decode_both(full, cut, &b);
        assert_int_not_equal(b.fast_rc, 0);
        check_contract(full, cut, &b);
        assert_non_null(strstr(b.dec_err, "invalid JSON"));
        both_free(&b);
    }
}

/* ---- values checked as they are read ---- */

/* Values that are valid JSON but break a field rule: the fast path refuses them and
 * record_decode() names the field and the rule (jansson's message). */
static void test_value_rules(void **state)
{
    (void)state;
    static const char head[] = "{\"v\":1,\"type\":\"pool\",\"scope\":\"ipam-scope-1\","
                               "\"ts\":\"2025-03-14T10:02:17.123Z\",\"source\":\"c-1\","
                               "\"pool_id\":\"ipam-pool-1\",\"scope_id\":\"ipam-scope-1\",";
    static const struct {
        const char *members;
        const char *want; /* in the message; NULL: accepted */
    } cases[] = {
        {"\"address_family\":\"ipv4\"", NULL},
        {"\"address_family\":\"ipv5\"", "field 'address_family': unknown value 'ipv5'"},
        {"\"address_family\":\"\"", "field 'address_family': empty string"},
        {"\"address_family\":\"ipv4\",\"depth\":0", "field 'depth': value 0 out of range"},
        {"\"address_family\":\"ipv4\",\"depth\":129", "field 'depth': value 129 out of range"},
        {"\"address_family\":\"ipv4\",\"depth\":128", NULL},
        {"\"address_family\":\"ipv4\",\"allocation_default_netmask\":33", "longer than /32"},
        {"\"address_family\":\"ipv6\",\"allocation_default_netmask\":33", NULL},
        {"\"address_family\":\"ipv4\",\"owner\":\"\"", "field 'owner': empty string"},
        {"\"address_family\":\"ipv4\",\"parent\":null", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[1024];
        int n = snprintf(buf, sizeof buf, "%s%s}", head, cases[i].members);
        assert_true(n > 0 && (size_t)n < sizeof buf);
        struct both b = {0};
        decode_both(buf, (size_t)n, &b);
        check_contract(buf, (size_t)n, &b);
        if (!cases[i].want) {
            if (b.fast_rc != 0)
                fail_msg("case %zu declined: %s", i, buf);
        } else {
            assert_int_not_equal(b.fast_rc, 0);
            assert_int_equal(b.rc, -EINVAL);
            if (!strstr(b.dec_err, cases[i].want))
                fail_msg("case %zu: message '%s' lacks '%s'", i, b.dec_err, cases[i].want);
        }
        both_free(&b);
    }
    /* Other types: a CIDR too long, a negative count, a time outside the years. */
    static const struct {
        const char *golden, *from, *to, *want;
    } edits[] = {
        {"resource_cidr", "\"cidr\":\"10.16.4.0/22\"",
         "\"cidr\":\"10.16.4.0/22222222222222222222222222222222222222222222222\"",
         "field 'cidr': CIDR of 57 characters"},
        {"resource_cidr", "\"cidr\":\"10.16.4.0/22\"", "\"cidr\":\"\"", "field 'cidr': empty CIDR"},
        {"resource_cidr", "\"ip_usage\":0.0039", "\"ip_usage\":-0.5", "below the minimum 0"},
        {"pass_end", "\"pool\":", "\"pool\":-", "negative count"},
        {"pool", "\"ts\":\"2025-03-14T10:00:03.250Z\"", "\"ts\":\"1969-12-31T23:59:59Z\"",
         "field 'ts': bad time"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        size_t len;
        char *g = golden(edits[i].golden, &len);
        const char *at = strstr(g, edits[i].from);
        if (!at)
            fail_msg("edit %zu: '%s' not in golden %s", i, edits[i].from, edits[i].golden);
        char buf[4096];
        int n = snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - g), g, edits[i].to,
                         at + strlen(edits[i].from));
        assert_true(n > 0 && (size_t)n < sizeof buf);
        struct both b = {0};
        decode_both(buf, (size_t)n, &b);
        check_contract(buf, (size_t)n, &b);
        assert_int_not_equal(b.fast_rc, 0);
        if (!strstr(b.dec_err, edits[i].want))
            fail_msg("edit %zu: message '%s' lacks '%s'", i, b.dec_err, edits[i].want);
        both_free(&b);
        free(g);
    }
}

/* ---- reals ---- */

/* Reals read without strtod() where the significand and the power of ten are exact: the same
 * double, bit for bit, as jansson (strtod), over random and boundary texts. */
static void test_reals(void **state)
{
    (void)state;
    size_t glen;
    char *g = golden("resource_cidr", &glen);
    const char *at = strstr(g, "\"ip_usage\":0.0039");
    assert_non_null(at);
    const char *rest = at + strlen("\"ip_usage\":0.0039");
    static const char *const fixed[] = {
        "0.0",
        "1.0",
        "0.1",
        "0.0039",
        "1e22",
        "1e23",
        "123456789012345e-22",
        "1234567890123456e-22",
        "9007199254740993.0",
        "0.30000000000000004",
        "1.7976931348623157e308",
        "4.9e-324",
        "2.5E+3",
        "2.5e-0",
        "0e400",
        "1E-22",
        "1e-23",
        "100000000000000000000000.0",
        "0.000000000000000000000000000001",
    };
    unsigned seed = testing_seed();
    srand(seed);
    enum { NREALS = 20000 };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0] + NREALS; i++) {
        char num[64];
        if (i < sizeof fixed / sizeof fixed[0]) {
            snprintf(num, sizeof num, "%s", fixed[i]);
        } else {
            /* up to 18 digits, a point somewhere, sometimes an exponent */
            int nd = 1 + rnd(18), point = rnd((unsigned)nd);
            size_t k = 0;
            num[k++] = (char)('1' + rnd(9));
            for (int d = 1; d < nd; d++) {
                if (d == point)
                    num[k++] = '.';
                num[k++] = (char)('0' + rnd(10));
            }
            if (point == 0)
                k += (size_t)snprintf(num + k, sizeof num - k, ".%u", rnd(1000));
            if (rnd(3) == 0)
                k += (size_t)snprintf(num + k, sizeof num - k, "e%d", (int)rnd(61) - 30);
            num[k] = '\0';
        }
        char buf[4096];
        int n = snprintf(buf, sizeof buf, "%.*s\"ip_usage\":%s%s", (int)(at - g), g, num, rest);
        assert_true(n > 0 && (size_t)n < sizeof buf);
        struct both b = {0};
        decode_both(buf, (size_t)n, &b);
        if (b.fast_rc != 0 || b.slow_rc != 0)
            fail_msg("seed %u: %s: fast %d jansson %d (%s)", seed, num, b.fast_rc, b.slow_rc,
                     b.slow_err);
        check_contract(buf, (size_t)n, &b); /* doubles compared bit for bit */
        double want = strtod(num, NULL);
        if (memcmp(&b.fast->u.resource_cidr.ip_usage, &want, sizeof want) != 0)
            fail_msg("seed %u: %s read as %.17g, strtod %.17g", seed, num,
                     b.fast->u.resource_cidr.ip_usage, want);
        both_free(&b);
    }
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_files),
        cmocka_unit_test(test_random_records),
        cmocka_unit_test(test_mutation_differential),
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_fallback_for_valid_variants),
        cmocka_unit_test(test_one_block),
        cmocka_unit_test(test_escapes_and_long_strings),
        cmocka_unit_test(test_size_limit_fast),
        cmocka_unit_test(test_key_matching),
        cmocka_unit_test(test_value_rules),
        cmocka_unit_test(test_reals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
