/* gen_cidrs: writes a deterministic set of resource CIDRs in realistic shapes for benchmarks.
 *
 * Output, one per line: "DOMAIN OWNER PARENT CIDR" (decimal ids, PARENT 0 = none). VPCs of
 * /16 to /28 are carved from 10.0.0.0/8, 172.16.0.0/12 and 100.64.0.0/10 in each of several
 * routing domains, each followed by its subnets (parent = the VPC); IPv6 VPCs are /56s with
 * /64 subnets; on-premise static ranges sit in 192.168.0.0/16. About 0.5 % of the VPCs and a
 * few on-premise ranges are placed over address space already in use: deliberate overlaps.
 * The same arguments always give the same bytes (own PRNG, no time, no locale).
 *
 * Usage: gen_cidrs [COUNT [SEED]]   (default 1000000 lines, seed 1)
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define DOMAINS 12

static uint64_t rng_state;

static uint64_t rng(void)
{
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned below(unsigned n)
{
    return (unsigned)(rng() % n);
}

struct space {
    uint32_t base, end; /* [base, end) */
    uint32_t cursor;
};

struct domain {
    struct space v4[3];
    unsigned cur;
    uint64_t v6_next;    /* index of the next /56 */
    uint32_t recent[64]; /* recent VPC starts and lengths, for deliberate overlaps */
    unsigned recent_len[64];
    unsigned nrecent;
};

static uint64_t lines, limit;
static uint32_t next_owner = 1;

static void emit_v4(unsigned dom, uint32_t owner, uint32_t parent, uint32_t a, unsigned len)
{
    if (lines >= limit)
        return;
    printf("%u %" PRIu32 " %" PRIu32 " %u.%u.%u.%u/%u\n", dom, owner, parent, a >> 24,
           (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff, len);
    lines++;
}

static void emit_v6(unsigned dom, uint32_t owner, uint32_t parent, uint64_t hi64, unsigned len)
{
    if (lines >= limit)
        return;
    /* 2600:1f00::/24 style: the top 64 bits are enough for /56 and /64 */
    printf("%u %" PRIu32 " %" PRIu32 " %x:%x:%x:%x::/%u\n", dom, owner, parent,
           (unsigned)(hi64 >> 48) & 0xffff, (unsigned)(hi64 >> 32) & 0xffff,
           (unsigned)(hi64 >> 16) & 0xffff, (unsigned)hi64 & 0xffff, len);
    lines++;
}

static unsigned vpc_len(void)
{
    unsigned r = below(1000);
    if (r < 5)
        return 16;
    if (r < 25)
        return 18;
    if (r < 125)
        return 20;
    if (r < 375)
        return 22;
    if (r < 775)
        return 24;
    if (r < 945)
        return 26;
    return 28;
}

static void subnets_v4(unsigned dom, uint32_t vpc, uint32_t a, unsigned len)
{
    unsigned n = 2 + below(15); /* 2..16 subnets */
    unsigned extra = 0;
    while ((1u << extra) < n)
        extra++;
    if (len + extra > 28)
        extra = 28 - len;
    if ((1u << extra) < n)
        n = 1u << extra;
    unsigned slen = len + extra;
    for (unsigned i = 0; i < n; i++)
        emit_v4(dom, next_owner++, vpc, a + (i << (32 - slen)), slen);
}

static void vpc_v4(unsigned di, struct domain *d)
{
    unsigned len = vpc_len();
    uint32_t size = 1u << (32 - len);
    uint32_t a;
    if (d->nrecent > 0 && below(200) == 0) {
        /* deliberate overlap: reuse (part of) a recent VPC's range */
        unsigned k = below(d->nrecent < 64 ? d->nrecent : 64);
        a = d->recent[k];
        len = d->recent_len[k] + below(3);
        if (len > 28)
            len = 28;
    } else {
        struct space *s = &d->v4[d->cur];
        uint32_t c = (s->cursor + size - 1) & ~(size - 1);
        if (c < s->cursor || (uint64_t)c + size > s->end) {
            d->cur = (d->cur + 1) % 3;
            s = &d->v4[d->cur];
            s->cursor = s->base; /* wrapped: reuse space from the start (overlaps) */
            c = s->cursor;
        }
        a = c;
        s->cursor = c + size;
        d->recent[d->nrecent % 64] = a;
        d->recent_len[d->nrecent % 64] = len;
        d->nrecent++;
    }
    uint32_t vpc = next_owner++;
    emit_v4(di, vpc, 0, a, len);
    subnets_v4(di, vpc, a, len);
}

static void vpc_v6(unsigned di, struct domain *d)
{
    uint64_t hi = 0x26001f0000000000ULL | ((uint64_t)di << 36) | (d->v6_next++ << 8);
    uint32_t vpc = next_owner++;
    emit_v6(di, vpc, 0, hi, 56);
    unsigned n = below(9);
    for (unsigned i = 0; i < n; i++)
        emit_v6(di, next_owner++, vpc, hi | i, 64);
}

int main(int argc, char **argv)
{
    limit = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    rng_state = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    static struct domain dom[DOMAINS];
    for (unsigned i = 0; i < DOMAINS; i++) {
        dom[i].v4[0] = (struct space){0x0a000000u, 0x0b000000u, 0x0a000000u};
        dom[i].v4[1] = (struct space){0xac100000u, 0xac200000u, 0xac100000u};
        dom[i].v4[2] = (struct space){0x64400000u, 0x64800000u, 0x64400000u};
    }
    /* On-premise static ranges: /24s of 192.168.0.0/16 in every domain, and a few /20s laid
     * over VPC space further on. */
    for (unsigned di = 0; di < DOMAINS; di++)
        for (unsigned k = 0; k < 256; k++)
            emit_v4(di + 1, next_owner++, 0, 0xc0a80000u | (k << 8), 24);
    uint64_t vpcs = 0;
    while (lines < limit) {
        unsigned di = (unsigned)(vpcs++ % DOMAINS);
        if (below(100) < 12)
            vpc_v6(di + 1, &dom[di]);
        else
            vpc_v4(di + 1, &dom[di]);
        if (vpcs % 20000 == 0)
            emit_v4(di + 1, next_owner++, 0, 0x0a000000u | (below(4096) << 12), 20);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
