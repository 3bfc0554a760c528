/* overlap: per routing domain index of resource CIDRs that reports every overlapping pair.
 *
 * DESIGN: each domain holds one path-compressed binary trie per family. Two CIDRs intersect
 * only when one contains the other, so the CIDRs overlapping a prefix P are the entries on the
 * trie path down to P plus the entries in P's subtree. An insert or a remove therefore walks
 * one path (at most 33 or 129 nodes, in practice the nesting depth plus a few branch nodes:
 * O(log n) for realistic data) and visits P's subtree to report the pairs it creates or ends;
 * a full scan is one depth-first walk, O(n + k). Nodes and entries come from chunked pools
 * with free lists and refer to each other by 32-bit index, so an indexed CIDR costs about 60
 * bytes with no per-allocation overhead.
 *
 * Identity of an entry is (domain, prefix, owner). Owner, parent and domain are integer ids
 * the caller interns (for example from "vpc-0abc" strings); 0 is reserved for "no parent".
 * Inserting an identical entry again only raises its reference count (no pair is reported);
 * each remove lowers it, and the entry (with its pairs) goes when the count reaches zero.
 *
 * A pair is two entries of one domain and family whose prefixes intersect, except:
 *   - two entries of the same owner (a resource never overlaps itself),
 *   - an entry and an entry of its declared parent (a subnet inside its own VPC).
 * Pairs are reported ordered: a is the containing prefix (for equal prefixes the lower owner
 * id), b the contained one, so a pair has one stable identity for alert keys.
 *
 * Not thread-safe: one index belongs to one thread (the analyzer loop). Callbacks must not
 * modify the index they are called from.
 */
#ifndef IPAMWATCH_OVERLAP_H
#define IPAMWATCH_OVERLAP_H

#include <stddef.h>
#include <stdint.h>

#include "prefix.h"

#define OVERLAP_NO_PARENT 0u

typedef struct overlap_index overlap_index_t;

struct overlap_entry {
    prefix_t prefix;
    uint32_t domain; /* routing domain id */
    uint32_t owner;  /* resource id, not 0 */
    uint32_t parent; /* owner id of the enclosing resource, or OVERLAP_NO_PARENT */
};

enum overlap_event {
    OVERLAP_CREATED, /* the insert just made created this pair */
    OVERLAP_ENDED,   /* the remove just made ended this pair */
    OVERLAP_PRESENT, /* reported by a scan */
};

/* Receives one pair. a and b are borrowed for the duration of the call. */
typedef void (*overlap_pair_cb)(void *ctx, enum overlap_event ev, const struct overlap_entry *a,
                                const struct overlap_entry *b);

/* Creates an empty index, owned by the caller (free with overlap_index_free()). */
overlap_index_t *overlap_index_new(void);

/* Frees the index and every entry; NULL is a no-op. */
void overlap_index_free(overlap_index_t *idx);

/* Adds e (borrowed; copied). Calls cb (may be NULL) once with OVERLAP_CREATED for each pair
 * the new entry makes. An identical entry already present gets its reference count raised and
 * no pair is reported. Returns 0; -EINVAL for owner 0 or a bad prefix; -EEXIST when
 * (domain, prefix, owner) is present with a different parent (remove it first to change a
 * parent). Cost: the trie path plus the entries under e's prefix. Owner thread only. */
int overlap_insert(overlap_index_t *idx, const struct overlap_entry *e, overlap_pair_cb cb,
                   void *ctx);

/* Drops one reference of the entry (domain, prefix, owner) of e (parent is ignored). When the
 * last reference goes, the entry is removed and cb (may be NULL) is called once with
 * OVERLAP_ENDED for each pair it was part of. Returns 0, or -ENOENT when no such entry
 * exists. Owner thread only. */
int overlap_remove(overlap_index_t *idx, const struct overlap_entry *e, overlap_pair_cb cb,
                   void *ctx);

/* Reference count of the entry (domain, prefix, owner) of e; 0 when absent. */
unsigned overlap_refcount(const overlap_index_t *idx, const struct overlap_entry *e);

/* Calls cb with OVERLAP_PRESENT for every pair in domain, IPv4 before IPv6, in prefix order
 * of the contained entry. Returns the number of pairs. O(n + k). Owner thread only. */
size_t overlap_scan(const overlap_index_t *idx, uint32_t domain, overlap_pair_cb cb, void *ctx);

/* The same over every domain (in no particular domain order). Returns the number of pairs. */
size_t overlap_scan_all(const overlap_index_t *idx, overlap_pair_cb cb, void *ctx);

/* Reports every overlapping pair among the n entries of es without building an index: the
 * same pairs, oriented the same way, that inserting every entry into an empty index and
 * calling overlap_scan_all() reports. Entries identical in (domain, prefix, owner) count once,
 * as repeated inserts do. Sorts a flat copy (radix sort, about 40 bytes of scratch per entry,
 * freed on return) and sweeps it: much faster than n inserts when the whole set is at hand
 * (a first full build, a periodic audit). Calls cb (may be NULL) with OVERLAP_PRESENT for
 * every pair, a and b pointing into es; order: domains by ascending id, IPv4 before IPv6,
 * contained entry in prefix order. Stores the number of pairs in *npairs (may be NULL).
 * Returns 0; -EINVAL when an entry has owner 0 or a bad prefix, or n exceeds 2^31 - 1;
 * -EEXIST when (domain, prefix, owner) appears with two different parents. On error no pair
 * is reported. es is borrowed. Any thread (touches only es and its own memory). */
int overlap_scan_array(const struct overlap_entry *es, size_t n, overlap_pair_cb cb, void *ctx,
                       size_t *npairs);

/* Number of distinct entries (not counting repeated references). */
size_t overlap_count(const overlap_index_t *idx);

#endif
