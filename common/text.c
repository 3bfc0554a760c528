/* text: small string helpers every module shares (error buffers, trimming, dates). */
#include "text.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

void text_errbuf_vset(char *err, size_t errlen, const char *fmt, va_list ap)
{
    if (!err || errlen == 0)
        return;
    int n = vsnprintf(err, errlen, fmt, ap);
    if (n < 0) {
        err[0] = '\0';
        return;
    }
    if ((size_t)n >= errlen && errlen >= 4)
        memcpy(err + errlen - 4, "...", 4);
}

void text_errbuf_set(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    text_errbuf_vset(err, errlen, fmt, ap);
    va_end(ap);
}

char *text_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

bool text_ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

void text_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

size_t text_utf8_seq(const char *s, size_t avail)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned c = p[0], cp;
    size_t n;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t k = 1; k < n; k++) {
        if (k >= avail || (p[k] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[k] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

size_t text_utf8_span(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = text_utf8_seq(s + i, len - i);
        if (n == 0)
            return i;
        i += n;
    }
    return len;
}

int text_utc_date(time_t t, bool with_time, char *buf, size_t len)
{
    struct tm tm;
    if (len == 0)
        return -EINVAL;
    if (gmtime_r(&t, &tm) == NULL ||
        strftime(buf, len, with_time ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d", &tm) == 0) {
        buf[0] = '\0';
        return -EINVAL;
    }
    return 0;
}
