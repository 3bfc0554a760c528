/* freespace: a pool's free space: size, used, free, maximal free blocks and what still fits.
 *
 * DESIGN: everything is computed in planning units (IPv4 addresses, IPv6 /64s). The pool's
 * provisioned CIDRs are merged into ranges; its uses (allocations and child pools' CIDRs) are
 * clipped to those ranges and merged, so nothing is counted twice; the gaps are cut into
 * maximal aligned CIDR blocks. An IPv6 use longer than /64 makes its whole /64 used (a /64
 * request can no longer be served from it). Problems in the input never abort the computation;
 * they come back as findings: uses that overlap each other (also identical ones), uses that
 * lie partly or wholly outside the pool (or are of the other family), and provisioned CIDRs
 * that overlap each other.
 */
#ifndef IPAMWATCH_FREESPACE_H
#define IPAMWATCH_FREESPACE_H

#include <stddef.h>
#include <stdint.h>

#include "prefix.h"

enum freespace_finding_kind {
    FREESPACE_USE_OVERLAP,  /* uses[ia] and uses[ib] share addresses (ia contains ib) */
    FREESPACE_USE_OUTSIDE,  /* uses[ia] is not inside the pool (ib unused) */
    FREESPACE_POOL_OVERLAP, /* cidrs[ia] and cidrs[ib] share addresses */
};

struct freespace_finding {
    enum freespace_finding_kind kind;
    prefix_t a, b; /* the CIDRs concerned (b unset for USE_OUTSIDE) */
    size_t ia, ib; /* their indexes in the caller's arrays (ib = SIZE_MAX when unused) */
};

struct freespace_report {
    unsigned family;  /* PREFIX_INET or PREFIX_INET6 */
    prefix_u128 size; /* provisioned units (union of the pool's CIDRs) */
    prefix_u128 used; /* units inside the pool covered by a use */
    prefix_u128 free; /* size - used */
    prefix_t *blocks; /* maximal aligned free blocks, ascending; owned by the report */
    size_t nblocks;
    int largest_len;  /* prefix length of the largest free block, -1 when full */
    unsigned netmask; /* the length asked about */
    prefix_u128 fit;  /* how many /netmask blocks still fit (saturates at 2^128-1) */
    struct freespace_finding *findings; /* owned by the report */
    size_t nfindings;
};

/* Computes the free space of a pool of `family` provisioned with cidrs[0..ncidrs) minus
 * uses[0..nuses), and how many blocks of length netmask still fit. Both arrays are borrowed,
 * in any order. Fills *out (owned by the caller; release with freespace_report_clear()).
 * Returns 0; -EINVAL with text in err when family or netmask is bad or a provisioned CIDR is
 * of the other family (*out is then empty). Any thread (no shared state). */
int freespace_compute(unsigned family, const prefix_t *cidrs, size_t ncidrs, const prefix_t *uses,
                      size_t nuses, unsigned netmask, struct freespace_report *out, char *err,
                      size_t errlen);

/* Frees what a report owns and zeroes it; safe on a zeroed or already cleared report. */
void freespace_report_clear(struct freespace_report *r);

#endif
