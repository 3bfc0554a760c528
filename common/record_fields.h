/* record_fields: the field tables of the record format, shared inside common/ by record.c
 * (tables, validation, encoding, the jansson decoder) and record_read.c (the single-pass
 * decoder). Not for use outside the record modules; everyone else uses record.h.
 *
 * DESIGN: the tables stay defined once, in record.c; this header only describes their rows
 * and hands them out, so both decoders read the same names, kinds, flags and offsets and
 * cannot drift apart. Both decoders finish with the same value checks
 * (record_fields_check), so they accept the same records.
 */
#ifndef IPAMWATCH_RECORD_FIELDS_H
#define IPAMWATCH_RECORD_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

enum kind { K_STR, K_CIDR, K_INT, K_BOOL, K_DOUBLE, K_TIME, K_MAP, K_LIST, K_COUNTS, K_OBJ };

#define F_REQ      1u /* must be present */
#define F_NONEMPTY 2u /* a present string must not be empty */

/* One row of a field table. */
struct field {
    const char *name;
    enum kind kind;
    unsigned flags;
    size_t off;                 /* offset in struct record */
    int64_t min, max;           /* K_INT/K_DOUBLE range; K_STR: max length (0 = none) */
    const char *const *allowed; /* K_STR: accepted values, NULL-terminated */
    const struct field *sub;    /* K_OBJ: nested fields */
    size_t nsub;
};

/* Returns the envelope fields (those after "v" and "type"; static table) and their number
 * in *n. Any thread. */
const struct field *record_fields_envelope(size_t *n);

/* Returns the body fields of `type` (static table) and their number in *n, or NULL when
 * `type` is not a record type. Any thread. */
const struct field *record_fields_body(enum record_type type, size_t *n);

/* Returns the inventory types counted in pass_end's "counts" object, in wire order (static
 * array), and their number in *n. Any thread. */
const enum record_type *record_fields_counted(size_t *n);

/* record_new() without reading the clock: ts_ms is RECORD_UNSET (decoders always set it,
 * "ts" being required). Owned by the caller; NULL if `type` is not a record type. Any thread. */
struct record *record_fields_new(enum record_type type);

/* The checks record_decode() runs on a record once its fields are copied in: required
 * fields, ranges, lengths, allowed words, rules across fields (not UTF-8 or unique map keys,
 * which the JSON parser guarantees). Returns 0 or -EINVAL with the message in `err`.
 * `rec` is borrowed. Any thread. */
int record_fields_check(const struct record *rec, char *err, size_t errlen);

/* The per-value checks of record_fields_check(), for a decoder that checks each value as it
 * reads it (record_read.c), so both decoders apply the same rules: a present string of
 * field `f` (K_STR, K_CIDR; `len` = strlen(s)), an integer or time (K_INT, K_TIME), a double
 * (K_DOUBLE). Any thread. */
bool record_fields_str_ok(const struct field *f, const char *s, size_t len);
bool record_fields_int_ok(const struct field *f, int64_t v);
bool record_fields_double_ok(const struct field *f, double v);

/* The rest of record_fields_check() once every present value passed the checks above and
 * every F_REQ field is present: "scope" required except for events, and the rules across
 * fields. `rec` (borrowed) has a valid type. Returns 0 or -EINVAL. Any thread. */
int record_fields_check_rules(const struct record *rec);

/* The reference decoder: jansson's parser and the field-table walk. Same contract as
 * record_decode(); it produces every error message record_decode() reports. Any thread. */
int record_decode_jansson(const char *buf, size_t len, struct record **out, char *err,
                          size_t errlen);

/* The single-pass decoder (record_read.c). Same contract as record_decode() on success.
 * Returns -EINVAL without a message for anything it does not accept, valid or not (-E2BIG
 * above RECORD_MAX_BYTES); it never
 * accepts a text record_decode_jansson() rejects and never produces a different record.
 * `buf` is borrowed; the record in *out is owned by the caller. Any thread. */
int record_read(const char *buf, size_t len, struct record **out);

#endif
