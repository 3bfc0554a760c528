/* prefix: one CIDR type for IPv4 and IPv6; strict parsing, canonical text, set relations.
 *
 * DESIGN: an address is held as an unsigned 128-bit integer in host order (IPv4 in the low 32
 * bits) next to its family and prefix length, so every relation is integer arithmetic. Text is
 * parsed strictly: a prefix with host bits set is an error that names the canonical form and
 * is never silently fixed. IPv6 is written per RFC 5952 (lowercase, no leading zeros, the
 * longest run of two or more zero groups compressed, ties to the first). IPv4-mapped IPv6
 * (::ffff:0:0/96) is IPv6: ::ffff:10.0.0.0/104 is written in the mixed notation RFC 5952
 * section 5 recommends, and it neither contains nor intersects the IPv4 10.0.0.0/8; the two
 * families never relate.
 *
 * Sizes are counted in the units capacity is planned in: IPv4 in addresses, IPv6 in /64s. A
 * prefix longer than /64 occupies (part of) one /64, which can no longer be handed out whole,
 * so it counts as one unit. ::/0 is 2^64 units, one more than uint64_t holds: prefix_units()
 * is exact in 128 bits, prefix_size() saturates at UINT64_MAX.
 */
#ifndef IPAMWATCH_PREFIX_H
#define IPAMWATCH_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef unsigned __int128 prefix_u128;

enum prefix_family { PREFIX_INET = 4, PREFIX_INET6 = 6 };

/* Longest text prefix_format() writes, with its NUL ("ffff:...:ffff/128" is 44). */
#define PREFIX_STRLEN 48

typedef struct prefix {
    prefix_u128 addr; /* network address, host bits zero; IPv4 in the low 32 bits */
    uint8_t family;   /* PREFIX_INET or PREFIX_INET6 */
    uint8_t len;      /* 0..32 or 0..128 */
} prefix_t;

/* Parses CIDR text ("10.0.0.0/16", "2001:db8::/56", "::ffff:10.0.0.0/104") into *out. The
 * length is required; no whitespace, zone index, leading zeros in an IPv4 octet or in the
 * length. On error writes one line into err naming the wrong part (octet, group, '::',
 * length, host bits with the canonical suggestion) and returns -EINVAL; *out is then
 * unspecified. text and err are borrowed. Any thread. */
int prefix_parse(const char *text, prefix_t *out, char *err, size_t errlen);

/* Parses the common plain forms quickly: a dotted quad "a.b.c.d/len", or IPv6 hex groups
 * with at most one "::" and no embedded IPv4, followed by "/len", with host bits clear. The
 * text is text[0..n) (no NUL needed; a NUL inside is refused). Returns true and sets *out
 * exactly as prefix_parse() would; returns false for any other text, valid or not, and leaves
 * *out untouched: call prefix_parse() then for the result or the precise error. prefix_parse()
 * tries this path first. text is borrowed. Any thread. */
bool prefix_parse_fast(const char *text, size_t n, prefix_t *out);

/* Writes the canonical text of p into buf (at least PREFIX_STRLEN bytes is always enough).
 * Returns 0, or -ENOSPC when buf is too small (buf then holds a truncated string if
 * len > 0). Any thread. */
int prefix_format(const prefix_t *p, char *buf, size_t len);

/* Builds a prefix from family, address and length; host bits are cleared. Returns 0, or
 * -EINVAL for an unknown family or a length beyond the family's width. */
int prefix_make(prefix_t *out, enum prefix_family family, prefix_u128 addr, unsigned len);

/* Address width of the family in bits: 32 or 128 (0 for an unknown family). */
unsigned prefix_width(unsigned family);

/* Total order for sorting: family (IPv4 first), then address, then length (shorter first,
 * so a prefix sorts before everything it contains). Returns <0, 0, >0. Any thread. */
int prefix_cmp(const prefix_t *a, const prefix_t *b);

/* True when every address of inner lies in outer (same family; a prefix contains itself). */
bool prefix_contains(const prefix_t *outer, const prefix_t *inner);

/* True when a and b share at least one address (same family; for CIDRs this means one
 * contains the other). */
bool prefix_intersects(const prefix_t *a, const prefix_t *b);

/* First and last address of p. */
prefix_u128 prefix_first(const prefix_t *p);
prefix_u128 prefix_last(const prefix_t *p);

/* Size of p in planning units (IPv4 addresses, IPv6 /64s; longer than /64 counts 1), exact:
 * at most 2^64, which fits. */
prefix_u128 prefix_units(const prefix_t *p);

/* The same as prefix_units() as uint64_t, saturated at UINT64_MAX (only ::/0 saturates). */
uint64_t prefix_size(const prefix_t *p);

#endif
