/* record_write: the JSON text writer record_encode() prints records with (see the header's
 * DESIGN note for why it exists instead of json_dumps). */
#include "record_write.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "xalloc.h"

/* Makes room for `n` more bytes plus a NUL. */
static char *reserve(struct record_writer *w, size_t n)
{
    if (w->len + n + 1 > w->cap) {
        size_t want = w->cap ? w->cap : 1024; /* most records fit */
        while (want < w->len + n + 1)
            want *= 2;
        w->buf = xrealloc(w->buf, want);
        w->cap = want;
    }
    return w->buf + w->len;
}

void record_writer_reset(struct record_writer *w)
{
    w->len = 0;
    w->failed = false;
    if (w->buf)
        w->buf[0] = '\0';
}

void record_writer_free(struct record_writer *w)
{
    free(w->buf);
    memset(w, 0, sizeof *w);
}

char *record_writer_take(struct record_writer *w, size_t *len)
{
    char *s = reserve(w, 0) - w->len;
    s[w->len] = '\0';
    *len = w->len;
    memset(w, 0, sizeof *w);
    return s;
}

void record_write_raw(struct record_writer *w, const char *s, size_t n)
{
    char *o = reserve(w, n);
    memcpy(o, s, n);
    o[n] = '\0';
    w->len += n;
}

void record_write_key(struct record_writer *w, const char *name, bool first)
{
    size_t n = strlen(name);
    char *o = reserve(w, n + 4);
    if (!first)
        *o++ = ',';
    *o++ = '"';
    memcpy(o, name, n);
    o += n;
    *o++ = '"';
    *o++ = ':';
    *o = '\0';
    w->len = (size_t)(o - w->buf);
}

/* Bytes that end a run of characters copied as they are: NUL, control characters, '"',
 * '\\' and the bytes of multi-byte UTF-8 sequences (checked one sequence at a time). */
static const unsigned char stops_run[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* Writes the string at `s` up to its NUL, which must be at `end` unless `end` is NULL. */
static int write_string(struct record_writer *w, const char *s, const char *end)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = (const unsigned char *)s;
    char *o = reserve(w, 1);
    *o = '"';
    w->len++;
    for (;;) {
        /* A run of characters copied as they are, then one that needs care. */
        const unsigned char *run = p;
        while (!stops_run[*p])
            p++;
        size_t n = (size_t)(p - run);
        o = reserve(w, n + 8); /* the run, then at most a \u00XX escape or the closing quote */
        memcpy(o, run, n);
        o += n;
        unsigned c = *p;
        if (c == '\0') {
            if (end && (const char *)p != end) {
                w->failed = true;
                return -EINVAL;
            }
            *o++ = '"';
            *o = '\0';
            w->len += n + 1;
            return 0;
        }
        char *start = o;
        if (c >= 0x80) {
            size_t k = text_utf8_seq((const char *)p, 4); /* the NUL ends a sequence */
            if (k == 0) {
                w->failed = true;
                return -EINVAL;
            }
            memcpy(o, p, k);
            o += k;
            p += k;
        } else {
            *o++ = '\\';
            switch (c) {
            case '"':
            case '\\':
                *o++ = (char)c;
                break;
            case '\b':
                *o++ = 'b';
                break;
            case '\f':
                *o++ = 'f';
                break;
            case '\n':
                *o++ = 'n';
                break;
            case '\r':
                *o++ = 'r';
                break;
            case '\t':
                *o++ = 't';
                break;
            default:
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            }
            p++;
        }
        *o = '\0';
        w->len += n + (size_t)(o - start);
    }
}

int record_write_string(struct record_writer *w, const char *s)
{
    return write_string(w, s, NULL);
}

int record_write_stringn(struct record_writer *w, const char *s, size_t n)
{
    return write_string(w, s, s + n);
}

void record_write_int(struct record_writer *w, int64_t v)
{
    char tmp[24];
    char *e = tmp + sizeof tmp, *q = e;
    /* Through unsigned so INT64_MIN does not overflow. */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--q = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--q = '-';
    record_write_raw(w, q, (size_t)(e - q));
}

/* The common case without printf: `v` is the double nearest to a decimal of at most 15
 * significant digits and 6 decimals, between 1e-4 and 1e15. "%.15g" then prints exactly that
 * decimal in fixed notation (15 digits survive a round trip through a double), trailing
 * zeros removed; and zero, "0.0" or "-0.0". Returns the length written to `tmp`, or 0 when `v` is
 * not such a value. */
static size_t short_real(double v, char *tmp)
{
    static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
    if (v == 0) {
        size_t n = signbit(v) ? 4 : 3;
        memcpy(tmp, signbit(v) ? "-0.0" : "0.0", n + 1);
        return n;
    }
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e15))
        return 0;
    for (int k = 0; k <= 6; k++) {
        double r = nearbyint(a * p10[k]);
        if (r >= 1e15)
            return 0;
        if (r / p10[k] != a)
            continue;
        uint64_t digits = (uint64_t)r, scale = (uint64_t)p10[k];
        uint64_t ip = digits / scale, frac = digits % scale;
        char *o = tmp;
        if (v < 0)
            *o++ = '-';
        char num[24], *e = num + sizeof num, *q = e;
        do {
            *--q = (char)('0' + ip % 10);
            ip /= 10;
        } while (ip);
        memcpy(o, q, (size_t)(e - q));
        o += e - q;
        *o++ = '.';
        if (frac == 0) {
            *o++ = '0'; /* json_dumps() marks a real that prints as an integer with ".0" */
        } else {
            int nd = k;
            while (frac % 10 == 0) {
                frac /= 10;
                nd--;
            }
            for (int i = nd - 1; i >= 0; i--) {
                o[i] = (char)('0' + frac % 10);
                frac /= 10;
            }
            o += nd;
        }
        *o = '\0';
        return (size_t)(o - tmp);
    }
    return 0;
}

int record_write_real(struct record_writer *w, double v)
{
    if (!isfinite(v))
        return -EINVAL;
    char tmp[64];
    size_t fast = short_real(v, tmp);
    if (fast) {
        record_write_raw(w, tmp, fast);
        return 0;
    }
    int n = snprintf(tmp, sizeof tmp, "%.15g", v);
    if (n < 0 || (size_t)n >= sizeof tmp - 3)
        return -EINVAL; /* "%.15g" needs at most 22 characters */
    size_t len = (size_t)n;
    /* A locale with another decimal point: json_dumps() writes '.'. */
    const char *point = localeconv()->decimal_point;
    if (point[0] != '.') {
        char *pos = strchr(tmp, point[0]);
        if (pos)
            *pos = '.';
    }
    if (!strchr(tmp, '.') && !strchr(tmp, 'e')) {
        memcpy(tmp + len, ".0", 3);
        len += 2;
    }
    char *e = strchr(tmp, 'e');
    if (e) {
        char *start = e + 1;
        char *end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, len - (size_t)(end - tmp) + 1);
            len -= (size_t)(end - start);
        }
    }
    record_write_raw(w, tmp, len);
    return 0;
}

void record_write_bool(struct record_writer *w, bool v)
{
    if (v)
        record_write_raw(w, "true", 4);
    else
        record_write_raw(w, "false", 5);
}
