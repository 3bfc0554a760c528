/* hash: the string hash of in-memory tables (FNV-1a, optionally finalised).
 *
 * DESIGN: one definition for the tables of the model, the metrics registry, the RRD store
 * and the CloudTrail archive reader. It is FNV-1a over the bytes up to the NUL, started from
 * the offset basis these tables have always used, 1469598103934665603 (one digit short of the
 * published 14695981039346656037): the iteration order of a chained table follows its hash, and
 * what is written in that order (the model snapshot's pools, pool CIDRs and allocations) must stay
 * byte for byte the same, so the constant stays. FNV-1a spreads strings that differ only in
 * their last characters poorly over the low bits; a table indexed by the low bits of many
 * such keys (a million resource ids) asks for the final mix (`mix` true: the multiply and
 * shifts of MurmurHash3's 64-bit finaliser, first half), which costs three operations.
 */
#ifndef IPAMWATCH_HASH_H
#define IPAMWATCH_HASH_H

#include <stdbool.h>
#include <stdint.h>

#define HASH_FNV1A_BASIS UINT64_C(1469598103934665603)
#define HASH_FNV1A_PRIME UINT64_C(1099511628211)

/* The hash of NUL-terminated `s` (borrowed, not NULL): FNV-1a from HASH_FNV1A_BASIS, then,
 * when `mix`, h ^= h >> 33; h *= 0xFF51AFD7ED558CCD; h ^= h >> 33. Pure; any thread. */
static inline uint64_t hash_fnv1a(const char *s, bool mix)
{
    uint64_t h = HASH_FNV1A_BASIS;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * HASH_FNV1A_PRIME;
    if (mix) {
        h ^= h >> 33;
        h *= UINT64_C(0xFF51AFD7ED558CCD);
        h ^= h >> 33;
    }
    return h;
}

#endif
