/* bench_overlap: timings of the address-space engine on gen_cidrs data; key=value output.
 *
 * Usage: bench_overlap FILE            parse, build, full scan, incremental ops, free space
 *        bench_overlap --memory FILE   peak RSS per indexed CIDR (streams FILE into the index
 *                                      and holds nothing else)
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyzer/freespace.h"
#include "analyzer/overlap.h"
#include "prefix.h"
#include "xalloc.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state = 42;

static uint64_t rng(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Parses one "DOMAIN OWNER PARENT CIDR" line; returns 0 or -EINVAL. */
static int parse_line(char *line, struct overlap_entry *e)
{
    char *end;
    e->domain = (uint32_t)strtoul(line, &end, 10);
    e->owner = (uint32_t)strtoul(end, &end, 10);
    e->parent = (uint32_t)strtoul(end, &end, 10);
    while (*end == ' ')
        end++;
    char *nl = strchr(end, '\n');
    if (nl)
        *nl = '\0';
    char err[160];
    if (prefix_parse(end, &e->prefix, err, sizeof err) < 0) {
        fprintf(stderr, "bench_overlap: %s\n", err);
        return -EINVAL;
    }
    return 0;
}

static long vm_hwm_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

static int memory_mode(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return 1;
    }
    long before = vm_hwm_kb();
    overlap_index_t *idx = overlap_index_new();
    char line[256];
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        struct overlap_entry e;
        if (parse_line(line, &e) < 0 || overlap_insert(idx, &e, NULL, NULL) < 0) {
            fclose(f);
            overlap_index_free(idx);
            return 1;
        }
        n++;
    }
    fclose(f);
    long after = vm_hwm_kb();
    printf("mem_cidrs=%zu\n", overlap_count(idx));
    printf("mem_hwm_before_kb=%ld\nmem_hwm_after_kb=%ld\n", before, after);
    printf("mem_bytes_per_cidr=%.1f\n", (double)(after - before) * 1024.0 / (double)n);
    overlap_index_free(idx);
    return 0;
}

static void count_cb(void *ctx, enum overlap_event ev, const struct overlap_entry *a,
                     const struct overlap_entry *b)
{
    (*(size_t *)ctx)++;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report_latency(const char *name, double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    printf("%s_median_us=%.3f\n%s_p99_us=%.3f\n%s_max_us=%.3f\n", name, v[n / 2] * 1e6, name,
           v[n * 99 / 100] * 1e6, name, v[n - 1] * 1e6);
}

/* 10,000 pools: 1-3 provisioned /16-/20 CIDRs each, up to 256 allocations of /20-/28, some
 * overlapping or sticking out. */
static void bench_freespace(void)
{
    enum { POOLS = 10000, MAXC = 3, MAXU = 256 };
    prefix_t c[MAXC], u[MAXU];
    size_t total_uses = 0, total_blocks = 0, total_findings = 0;
    double t = 0;
    for (int p = 0; p < POOLS; p++) {
        size_t nc = 1 + rng() % MAXC, nu = rng() % (MAXU + 1);
        uint32_t base = 0x0a000000u | (uint32_t)(p % 256) << 16;
        for (size_t i = 0; i < nc; i++)
            prefix_make(&c[i], PREFIX_INET, base + (uint32_t)(i << 14), 16 + (unsigned)(rng() % 5));
        for (size_t i = 0; i < nu; i++) {
            unsigned len = 20 + (unsigned)(rng() % 9);
            prefix_make(&u[i], PREFIX_INET, base + (uint32_t)(rng() & 0x1ffff), len);
        }
        struct freespace_report r;
        char err[128];
        double t0 = now();
        if (freespace_compute(PREFIX_INET, c, nc, u, nu, 24, &r, err, sizeof err) < 0) {
            fprintf(stderr, "bench_overlap: %s\n", err);
            exit(1);
        }
        t += now() - t0;
        total_uses += nu;
        total_blocks += r.nblocks;
        total_findings += r.nfindings;
        freespace_report_clear(&r);
    }
    printf("freespace_pools=%d\nfreespace_uses=%zu\nfreespace_blocks=%zu\n", POOLS, total_uses,
           total_blocks);
    printf("freespace_findings=%zu\nfreespace_seconds=%.3f\n", total_findings, t);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--memory") == 0)
        return memory_mode(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: bench_overlap [--memory] FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    size_t n = 0, cap = 0;
    struct overlap_entry *es = NULL;
    char line[256];
    double t0 = now();
    while (fgets(line, sizeof line, f)) {
        es = xgrow(es, &cap, n + 1, sizeof *es);
        if (parse_line(line, &es[n]) < 0)
            return 1;
        n++;
    }
    fclose(f);
    double t_parse = now() - t0;

    overlap_index_t *idx = overlap_index_new();
    t0 = now();
    for (size_t i = 0; i < n; i++) {
        int rc = overlap_insert(idx, &es[i], NULL, NULL);
        if (rc < 0) {
            fprintf(stderr, "bench_overlap: insert %zu: %s\n", i, strerror(-rc));
            return 1;
        }
    }
    double t_build = now() - t0;

    size_t pairs = 0;
    double t_scan = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        size_t cnt = 0;
        t0 = now();
        size_t k = overlap_scan_all(idx, count_cb, &cnt);
        double dt = now() - t0;
        if (dt < t_scan)
            t_scan = dt;
        if (k != cnt) {
            fprintf(stderr, "bench_overlap: scan returned %zu but reported %zu\n", k, cnt);
            return 1;
        }
        pairs = k;
    }
    printf("cidrs=%zu\nindexed=%zu\npairs=%zu\n", n, overlap_count(idx), pairs);
    printf("parse_seconds=%.3f\nbuild_seconds=%.3f\nscan_seconds=%.4f\n", t_parse, t_build, t_scan);
    printf("build_scan_seconds=%.3f\n", t_build + t_scan);

    /* Incremental: remove a random entry and insert it back, 100k times, reporting pairs. */
    enum { OPS = 100000 };
    double *lat_rm = xcalloc(OPS, sizeof(double)), *lat_in = xcalloc(OPS, sizeof(double));
    size_t events = 0;
    for (int i = 0; i < OPS; i++) {
        const struct overlap_entry *e = &es[rng() % n];
        t0 = now();
        int rc = overlap_remove(idx, e, count_cb, &events);
        double t1 = now();
        rc |= overlap_insert(idx, e, count_cb, &events);
        double t2 = now();
        if (rc < 0) {
            fprintf(stderr, "bench_overlap: incremental op failed\n");
            return 1;
        }
        lat_rm[i] = t1 - t0;
        lat_in[i] = t2 - t1;
    }
    printf("incremental_ops=%d\nincremental_pair_events=%zu\n", 2 * OPS, events);
    report_latency("remove", lat_rm, OPS);
    report_latency("insert", lat_in, OPS);
    if (overlap_scan_all(idx, NULL, NULL) != pairs) {
        fprintf(stderr, "bench_overlap: pair count changed after remove/insert cycles\n");
        return 1;
    }
    free(lat_rm);
    free(lat_in);
    overlap_index_free(idx);
    free(es);

    bench_freespace();
    return 0;
}
