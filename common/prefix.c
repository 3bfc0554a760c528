/* prefix: parsing, canonical formatting and set relations of IPv4/IPv6 CIDRs. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "prefix.h"

static int fail_text(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes the error message (truncation is harmless: it is a diagnostic) and returns -EINVAL. */
static int fail_text(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        if (n < 0)
            err[0] = '\0';
    }
    return -EINVAL;
}

unsigned prefix_width(unsigned family)
{
    return family == PREFIX_INET ? 32 : family == PREFIX_INET6 ? 128 : 0;
}

/* Mask of the host bits of a len-bit prefix in a width-bit space. */
static prefix_u128 host_mask(unsigned width, unsigned len)
{
    unsigned host = width - len;
    if (host == 0)
        return 0;
    if (host >= 128)
        return ~(prefix_u128)0;
    return ((prefix_u128)1 << host) - 1;
}

int prefix_make(prefix_t *out, enum prefix_family family, prefix_u128 addr, unsigned len)
{
    unsigned width = prefix_width(family);
    if (width == 0 || len > width)
        return -EINVAL;
    if (width == 32)
        addr &= 0xffffffffu;
    memset(out, 0, sizeof *out);
    out->family = (uint8_t)family;
    out->len = (uint8_t)len;
    out->addr = addr & ~host_mask(width, len);
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Printable rendering of one character for an error message. */
static const char *show_char(char c, char buf[8])
{
    if (c >= 0x21 && c < 0x7f)
        snprintf(buf, 8, "'%c'", c);
    else
        snprintf(buf, 8, "0x%02x", (unsigned char)c);
    return buf;
}

/* Parses a dotted quad in s[0..n) into *v. what names the address in messages. */
static int parse_v4(const char *text, const char *s, size_t n, uint32_t *v, char *err,
                    size_t errlen)
{
    uint32_t acc = 0;
    unsigned octet = 0;
    size_t i = 0;
    char cb[8];
    for (;;) {
        size_t start = i;
        while (i < n && is_digit(s[i]))
            i++;
        size_t digits = i - start;
        octet++;
        if (octet > 4)
            return fail_text(err, errlen, "invalid CIDR '%s': IPv4 address has more than 4 octets",
                             text);
        if (digits == 0) {
            if (i < n && s[i] != '.')
                return fail_text(err, errlen,
                                 "invalid CIDR '%s': unexpected character %s in IPv4 address", text,
                                 show_char(s[i], cb));
            return fail_text(err, errlen, "invalid CIDR '%s': IPv4 octet %u is empty", text, octet);
        }
        if (digits > 1 && s[start] == '0')
            return fail_text(err, errlen,
                             "invalid CIDR '%s': IPv4 octet %u '%.*s' has a leading zero", text,
                             octet, (int)(digits > 8 ? 8 : digits), s + start);
        unsigned val = 0;
        for (size_t k = start; k < i && val <= 255; k++)
            val = val * 10 + (unsigned)(s[k] - '0');
        if (digits > 3 || val > 255)
            return fail_text(err, errlen, "invalid CIDR '%s': IPv4 octet %u '%.*s' exceeds 255",
                             text, octet, (int)(digits > 8 ? 8 : digits), s + start);
        acc = (acc << 8) | val;
        if (i == n)
            break;
        if (s[i] != '.')
            return fail_text(err, errlen,
                             "invalid CIDR '%s': unexpected character %s in IPv4 address", text,
                             show_char(s[i], cb));
        i++;
        if (i == n)
            return fail_text(err, errlen, "invalid CIDR '%s': IPv4 octet %u is empty", text,
                             octet + 1);
    }
    if (octet != 4)
        return fail_text(err, errlen, "invalid CIDR '%s': IPv4 address has %u octets, needs 4",
                         text, octet);
    *v = acc;
    return 0;
}

/* Parses IPv6 text in s[0..n) (with an optional trailing dotted quad) into *v. */
static int parse_v6(const char *text, const char *s, size_t n, prefix_u128 *v, char *err,
                    size_t errlen)
{
    uint16_t groups[8];
    int ngroups = 0;
    int gap = -1; /* index in groups[] where '::' stands */
    size_t i = 0;
    char cb[8];

    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 0;
        i = 2;
    } else if (n >= 1 && s[0] == ':') {
        return fail_text(err, errlen, "invalid CIDR '%s': IPv6 address starts with a single ':'",
                         text);
    }
    while (i < n) {
        size_t start = i;
        while (i < n && hex_value(s[i]) >= 0)
            i++;
        if (i < n && s[i] == '.') {
            /* Embedded IPv4: takes the last two groups and must end the address. */
            uint32_t v4;
            if (ngroups > 6)
                return fail_text(err, errlen, "invalid CIDR '%s': IPv6 address has too many groups",
                                 text);
            int rc = parse_v4(text, s + start, n - start, &v4, err, errlen);
            if (rc < 0)
                return rc;
            groups[ngroups++] = (uint16_t)(v4 >> 16);
            groups[ngroups++] = (uint16_t)(v4 & 0xffff);
            i = n;
            break;
        }
        size_t digits = i - start;
        if (digits == 0) {
            if (i < n && s[i] == ':')
                return fail_text(err, errlen,
                                 "invalid CIDR '%s': more than one '::' in IPv6 "
                                 "address",
                                 text);
            return fail_text(err, errlen,
                             "invalid CIDR '%s': unexpected character %s in IPv6 address", text,
                             show_char(s[i], cb));
        }
        if (digits > 4)
            return fail_text(err, errlen,
                             "invalid CIDR '%s': IPv6 group '%.*s' has more than 4 hex digits",
                             text, (int)(digits > 8 ? 8 : digits), s + start);
        if (ngroups == 8)
            return fail_text(err, errlen, "invalid CIDR '%s': IPv6 address has more than 8 groups",
                             text);
        unsigned val = 0;
        for (size_t k = start; k < i; k++)
            val = val * 16 + (unsigned)hex_value(s[k]);
        groups[ngroups++] = (uint16_t)val;
        if (i == n)
            break;
        if (s[i] != ':')
            return fail_text(err, errlen,
                             "invalid CIDR '%s': unexpected character %s in IPv6 address", text,
                             show_char(s[i], cb));
        i++;
        if (i < n && s[i] == ':') {
            if (gap >= 0)
                return fail_text(err, errlen,
                                 "invalid CIDR '%s': more than one '::' in IPv6 address", text);
            gap = ngroups;
            i++;
        } else if (i == n) {
            return fail_text(err, errlen, "invalid CIDR '%s': IPv6 address ends with a single ':'",
                             text);
        }
    }
    if (gap < 0 && ngroups != 8)
        return fail_text(err, errlen,
                         "invalid CIDR '%s': IPv6 address has %d groups, needs 8 (or '::')", text,
                         ngroups);
    if (gap >= 0 && ngroups > 7)
        return fail_text(err, errlen,
                         "invalid CIDR '%s': '::' must stand for at least one zero group", text);
    uint16_t full[8] = {0};
    if (gap < 0) {
        memcpy(full, groups, sizeof full);
    } else {
        int tail = ngroups - gap;
        for (int k = 0; k < gap; k++)
            full[k] = groups[k];
        for (int k = 0; k < tail; k++)
            full[8 - tail + k] = groups[gap + k];
    }
    prefix_u128 acc = 0;
    for (int k = 0; k < 8; k++)
        acc = (acc << 16) | full[k];
    *v = acc;
    return 0;
}

/* Hex digit values for the fast path (fast_hex() decides what is a digit). */
static const uint8_t hex_digit[256] = {
    ['0'] = 0,  ['1'] = 1,  ['2'] = 2,  ['3'] = 3,  ['4'] = 4,  ['5'] = 5,  ['6'] = 6,  ['7'] = 7,
    ['8'] = 8,  ['9'] = 9,  ['a'] = 10, ['b'] = 11, ['c'] = 12, ['d'] = 13, ['e'] = 14, ['f'] = 15,
    ['A'] = 10, ['B'] = 11, ['C'] = 12, ['D'] = 13, ['E'] = 14, ['F'] = 15,
};

/* True for '0'..'9'. */
static inline bool fast_digit(unsigned char c)
{
    return (unsigned)(c - '0') < 10;
}

static inline bool fast_hex(unsigned char c)
{
    return fast_digit(c) || (unsigned)((c | 0x20) - 'a') < 6;
}

/* Parses the "/len" tail at s (s[0] == '/'): 1-3 digits without a leading zero, at most
 * width, then the end. Returns the length or -1. */
static inline int fast_len(const unsigned char *s, const unsigned char *end, unsigned width)
{
    s++;
    if (s == end || !fast_digit(*s))
        return -1;
    unsigned len = (unsigned)(*s++ - '0');
    if (s != end && len != 0 && fast_digit(*s)) {
        len = len * 10 + (unsigned)(*s++ - '0');
        if (s != end && fast_digit(*s))
            len = len * 10 + (unsigned)(*s++ - '0');
    }
    if (s != end || len > width)
        return -1;
    return (int)len;
}

/* Plain dotted quad "a.b.c.d/len" with host bits clear; false on anything else. */
static bool fast_v4(const unsigned char *s, const unsigned char *end, prefix_t *out)
{
    uint32_t acc = 0;
    for (int octet = 0; octet < 4; octet++) {
        if (s == end || !fast_digit(*s))
            return false;
        unsigned v = (unsigned)(*s++ - '0');
        if (s != end && v != 0 && fast_digit(*s)) {
            v = v * 10 + (unsigned)(*s++ - '0');
            if (s != end && fast_digit(*s)) {
                v = v * 10 + (unsigned)(*s++ - '0');
                if (v > 255)
                    return false;
            }
        }
        if (s == end || *s != (octet < 3 ? '.' : '/'))
            return false;
        acc = acc << 8 | v;
        if (octet < 3)
            s++;
    }
    int len = fast_len(s, end, 32);
    if (len < 0 || (len < 32 && (acc & (0xffffffffu >> len)) != 0))
        return false;
    out->addr = acc;
    out->family = PREFIX_INET;
    out->len = (uint8_t)len;
    return true;
}

/* Hex groups with at most one "::" (no embedded IPv4, no zone index) and "/len" with host
 * bits clear; false on anything else. */
static bool fast_v6(const unsigned char *s, const unsigned char *end, prefix_t *out)
{
    uint16_t groups[8];
    int ngroups = 0, gap = -1;
    if (s != end && *s == ':') {
        if (end - s < 2 || s[1] != ':')
            return false;
        gap = 0;
        s += 2;
    }
    while (s != end && *s != '/') {
        unsigned v = 0;
        int digits = 0;
        while (s != end && digits < 5 && fast_hex(*s)) {
            v = v << 4 | hex_digit[*s++];
            digits++;
        }
        if (digits == 0 || digits > 4 || ngroups == 8 || s == end)
            return false;
        groups[ngroups++] = (uint16_t)v;
        if (*s == '/')
            break;
        if (*s != ':')
            return false;
        s++;
        if (s != end && *s == ':') {
            if (gap >= 0)
                return false;
            gap = ngroups;
            s++;
        } else if (s == end || *s == '/') {
            return false; /* a single ':' before the length */
        }
    }
    if (s == end || (gap < 0 && ngroups != 8) || (gap >= 0 && ngroups > 7))
        return false;
    int len = fast_len(s, end, 128);
    if (len < 0)
        return false;
    int head = gap < 0 ? ngroups : gap, tail = ngroups - head;
    prefix_u128 addr = 0;
    for (int k = 0; k < 8; k++) {
        unsigned g = k < head ? groups[k] : k >= 8 - tail ? groups[ngroups - (8 - k)] : 0;
        addr = addr << 16 | g;
    }
    if (len < 128 && (addr & (~(prefix_u128)0 >> len)) != 0)
        return false;
    out->addr = addr;
    out->family = PREFIX_INET6;
    out->len = (uint8_t)len;
    return true;
}

bool prefix_parse_fast(const char *text, size_t n, prefix_t *out)
{
    const unsigned char *s = (const unsigned char *)text, *end = s + n;
    prefix_t p;
    memset(&p, 0, sizeof p);
    if (!fast_v4(s, end, &p) && !fast_v6(s, end, &p))
        return false;
    *out = p;
    return true;
}

int prefix_parse(const char *text, prefix_t *out, char *err, size_t errlen)
{
    if (err && errlen > 0)
        err[0] = '\0';
    if (text && prefix_parse_fast(text, strlen(text), out))
        return 0;
    if (!text || !*text)
        return fail_text(err, errlen, "invalid CIDR '': empty text");
    const char *slash = strrchr(text, '/');
    if (!slash)
        return fail_text(err, errlen, "invalid CIDR '%s': missing '/length'", text);
    size_t alen = (size_t)(slash - text);
    if (alen == 0)
        return fail_text(err, errlen, "invalid CIDR '%s': empty address before '/'", text);
    const char *pct = memchr(text, '%', alen);
    if (pct)
        return fail_text(err, errlen, "invalid CIDR '%s': zone index '%.*s' is not allowed", text,
                         (int)(slash - pct), pct);
    bool v6 = memchr(text, ':', alen) != NULL;
    unsigned width = v6 ? 128 : 32;

    const char *l = slash + 1;
    size_t llen = strlen(l);
    if (llen == 0)
        return fail_text(err, errlen, "invalid CIDR '%s': empty prefix length after '/'", text);
    for (size_t k = 0; k < llen; k++) {
        if (!is_digit(l[k]))
            return fail_text(err, errlen, "invalid CIDR '%s': prefix length '%s' is not a number",
                             text, l);
    }
    if (llen > 1 && l[0] == '0')
        return fail_text(err, errlen, "invalid CIDR '%s': prefix length '%s' has a leading zero",
                         text, l);
    unsigned len = 0;
    for (size_t k = 0; k < llen && len <= width; k++)
        len = len * 10 + (unsigned)(l[k] - '0');
    if (llen > 3 || len > width)
        return fail_text(err, errlen, "invalid CIDR '%s': prefix length %s out of range 0..%u",
                         text, l, width);

    prefix_u128 addr = 0;
    if (v6) {
        int rc = parse_v6(text, text, alen, &addr, err, errlen);
        if (rc < 0)
            return rc;
    } else {
        uint32_t a4;
        int rc = parse_v4(text, text, alen, &a4, err, errlen);
        if (rc < 0)
            return rc;
        addr = a4;
    }
    prefix_t p;
    prefix_make(&p, v6 ? PREFIX_INET6 : PREFIX_INET, addr, len);
    if (p.addr != addr) {
        char canon[PREFIX_STRLEN];
        prefix_format(&p, canon, sizeof canon);
        return fail_text(err, errlen, "%s has host bits set; did you mean %s?", text, canon);
    }
    *out = p;
    return 0;
}

/* Appends the decimal digits of `v` at `o`; returns the end. */
static char *put_dec(char *o, unsigned v)
{
    char tmp[10], *e = tmp + sizeof tmp, *q = e;
    do {
        *--q = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(o, q, (size_t)(e - q));
    return o + (e - q);
}

/* Appends "a.b.c.d" of the IPv4 address `a` at `o`; returns the end. */
static char *put_ipv4(char *o, uint32_t a)
{
    for (int k = 3; k >= 0; k--) {
        o = put_dec(o, (a >> (8 * k)) & 0xff);
        if (k)
            *o++ = '.';
    }
    return o;
}

/* Appends the 16-bit group `g` in lowercase hex without leading zeros; returns the end. */
static char *put_group(char *o, unsigned g)
{
    static const char hex[] = "0123456789abcdef";
    int shift = 12;
    while (shift > 0 && (g >> shift) == 0)
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        *o++ = hex[(g >> shift) & 15];
    return o;
}

/* Formatting runs for every CIDR of a model snapshot and every journaled resource, so it
 * builds the text by hand (RFC 5952 for IPv6) instead of through printf. */
int prefix_format(const prefix_t *p, char *buf, size_t len)
{
    char tmp[PREFIX_STRLEN + 8], *o = tmp;
    if (len > 0)
        buf[0] = '\0';
    if (p->family == PREFIX_INET) {
        o = put_ipv4(o, (uint32_t)p->addr);
    } else if (p->family != PREFIX_INET6) {
        return -EINVAL;
    } else if ((p->addr >> 32) == 0xffff) {
        /* IPv4-mapped: RFC 5952 section 5 mixed notation. */
        memcpy(o, "::ffff:", 7);
        o = put_ipv4(o + 7, (uint32_t)p->addr);
    } else {
        unsigned g[8];
        for (int k = 0; k < 8; k++)
            g[k] = (unsigned)(p->addr >> (16 * (7 - k))) & 0xffff;
        int best = -1, best_len = 1; /* a single zero group is never compressed */
        for (int k = 0; k < 8;) {
            if (g[k] != 0) {
                k++;
                continue;
            }
            int j = k;
            while (j < 8 && g[j] == 0)
                j++;
            if (j - k > best_len) {
                best = k;
                best_len = j - k;
            }
            k = j;
        }
        for (int k = 0; k < 8; k++) {
            if (k == best) {
                *o++ = ':';
                *o++ = ':';
                k += best_len - 1;
                continue;
            }
            if (k != 0 && !(best >= 0 && k == best + best_len))
                *o++ = ':';
            o = put_group(o, g[k]);
        }
    }
    *o++ = '/';
    o = put_dec(o, p->len);
    size_t n = (size_t)(o - tmp);
    if (len == 0)
        return -ENOSPC;
    /* Too small a buffer keeps what fits, NUL-terminated, as snprintf would. */
    size_t keep = n < len ? n : len - 1;
    memcpy(buf, tmp, keep);
    buf[keep] = '\0';
    return n < len ? 0 : -ENOSPC;
}

int prefix_cmp(const prefix_t *a, const prefix_t *b)
{
    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    if (a->addr != b->addr)
        return a->addr < b->addr ? -1 : 1;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return 0;
}

prefix_u128 prefix_first(const prefix_t *p)
{
    return p->addr;
}

prefix_u128 prefix_last(const prefix_t *p)
{
    return p->addr | host_mask(prefix_width(p->family), p->len);
}

bool prefix_contains(const prefix_t *outer, const prefix_t *inner)
{
    if (outer->family != inner->family || outer->len > inner->len)
        return false;
    prefix_u128 m = ~host_mask(prefix_width(outer->family), outer->len);
    return (inner->addr & m) == outer->addr;
}

bool prefix_intersects(const prefix_t *a, const prefix_t *b)
{
    return a->len <= b->len ? prefix_contains(a, b) : prefix_contains(b, a);
}

prefix_u128 prefix_units(const prefix_t *p)
{
    if (p->family == PREFIX_INET)
        return (prefix_u128)1 << (32 - p->len);
    if (p->family != PREFIX_INET6)
        return 0;
    if (p->len >= 64)
        return 1;
    return (prefix_u128)1 << (64 - p->len);
}

uint64_t prefix_size(const prefix_t *p)
{
    prefix_u128 u = prefix_units(p);
    return u > UINT64_MAX ? UINT64_MAX : (uint64_t)u;
}
