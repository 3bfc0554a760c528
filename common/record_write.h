/* record_write: the JSON text writer record_encode() prints records with.
 *
 * DESIGN: the collector encodes every record it publishes, up to a million per pass, and
 * building a jansson tree per record only to print it cost about a third of the collector's
 * CPU (one allocation per value and key, a hash table per object). The writer appends the
 * text straight into one growing buffer. It reproduces jansson's json_dumps() output with
 * JSON_COMPACT | JSON_REAL_PRECISION(15) byte for byte (string escaping, "%.15g" reals with
 * ".0" appended and the exponent trimmed), so the wire format did not change; jansson
 * remains the parser. Strings must be valid UTF-8: the writer refuses anything else, as
 * jansson's json_string() does.
 */
#ifndef IPAMWATCH_RECORD_WRITE_H
#define IPAMWATCH_RECORD_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growing text buffer, kept NUL-terminated. Zero-initialise it ({0}); the
 * buffer is owned by the writer until record_writer_take(). One thread at a time. */
struct record_writer {
    char *buf;
    size_t len, cap;
    bool failed; /* a string was not valid UTF-8 */
};

/* Empties the writer, keeping its buffer for reuse. */
void record_writer_reset(struct record_writer *w);
/* Frees the buffer; the writer is empty afterwards. */
void record_writer_free(struct record_writer *w);
/* Returns the text (NUL-terminated, owned by the caller, free()) and its length in *len;
 * the writer is empty afterwards. */
char *record_writer_take(struct record_writer *w, size_t *len);

/* Appends `n` bytes verbatim (punctuation, keys known to need no escaping). */
void record_write_raw(struct record_writer *w, const char *s, size_t n);
/* Appends the member name `name` (plain ASCII, no escaping) as "name": preceded by a comma
 * unless `first`. */
void record_write_key(struct record_writer *w, const char *name, bool first);
/* Appends `s` as a JSON string in quotes, escaped as json_dumps() escapes it: \" \\ \b \f
 * \n \r \t, other control characters as \u00XX (upper-case hex), everything else as is.
 * Returns 0, or -EINVAL (and sets w->failed; the text written so far is then unusable)
 * when `s` is not valid UTF-8 (overlong forms, surrogates, code points above U+10FFFF). */
int record_write_string(struct record_writer *w, const char *s);
/* record_write_string() of the `n` bytes at `s`, which must be followed by a NUL (as
 * jansson's strings and keys are): -EINVAL also when they hold a NUL byte, which JSON text
 * could carry as \u0000 but a C string cannot. Spares the caller a strlen() to tell. */
int record_write_stringn(struct record_writer *w, const char *s, size_t n);
/* Appends a decimal integer. */
void record_write_int(struct record_writer *w, int64_t v);
/* Appends a real as json_dumps() with JSON_REAL_PRECISION(15) does ("%.15g", ".0" added
 * when neither '.' nor 'e' appears, exponent without '+' and leading zeros). Returns 0, or
 * -EINVAL for NaN and infinities, which JSON cannot carry. */
int record_write_real(struct record_writer *w, double v);
/* Appends true or false. */
void record_write_bool(struct record_writer *w, bool v);

#endif
