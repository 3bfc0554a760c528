/* text: small string helpers every module shares (error buffers, trimming, dates). */
#ifndef IPAMWATCH_TEXT_H
#define IPAMWATCH_TEXT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* Formats a message into the caller's error buffer `err` of `errlen` bytes (borrowed). A
 * message that does not fit is cut and ends in "..." so a reader can tell it was cut. A NULL
 * `err` or a zero `errlen` writes nothing. Any thread (the buffer is the caller's). */
void text_errbuf_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* text_errbuf_set with a va_list; `ap` is consumed as by vsnprintf. Any thread. */
void text_errbuf_vset(char *err, size_t errlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Strips leading and trailing white space (isspace) from `s` in place: the trailing part is
 * overwritten with NULs. Returns a pointer into `s` (borrowed, same lifetime). Any thread. */
char *text_trim(char *s);

/* True when `s` ends with `suffix` (both borrowed, NUL-terminated). Any thread. */
bool text_ends_with(const char *s, const char *suffix);

/* Returns the length (2 to 4) of the valid UTF-8 sequence at `s` (borrowed), whose first
 * byte is not ASCII, reading at most `avail` bytes; 0 when it is not one (overlong forms,
 * surrogates, code points above U+10FFFF, a byte that does not continue it, fewer than the
 * sequence's bytes available), as jansson checks its input. For a NUL-terminated string
 * `avail` may be 4: the NUL ends a sequence. Any thread. */
size_t text_utf8_seq(const char *s, size_t avail);

/* Returns the length of the longest prefix of the `len` bytes at `s` (borrowed) that is
 * valid UTF-8: `len` when all of it is. Overlong forms, surrogates and code points above
 * U+10FFFF are invalid, as jansson treats them; NUL bytes are valid characters here.
 * Any thread. */
size_t text_utf8_span(const char *s, size_t len);

/* Writes the `n` bytes at `in` (borrowed) as 2n lowercase hex digits and a NUL to `out`,
 * which holds at least 2n + 1 bytes. Any thread. */
void text_hex_encode(const unsigned char *in, size_t n, char *out);

/* Writes `t` in UTC as "YYYY-MM-DD" (with_time false) or "YYYY-MM-DDTHH:MM:SSZ" into `buf`
 * of `len` bytes. Returns 0, or -EINVAL (buf set to "") when `t` cannot be broken down or
 * the text does not fit. Any thread. */
int text_utc_date(time_t t, bool with_time, char *buf, size_t len);

#endif
