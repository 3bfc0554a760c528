/* bench_overlap: timings of the address-space engine on gen_cidrs data; key=value output.
 *
 * Usage: bench_overlap FILE            parse, batch scan, build, full scan of the index,
 *                                      incremental ops, free space
 *        bench_overlap --scan FILE     end to end as the Python baseline does it: read and
 *                                      parse every line, report all pairs (batch scan)
 *        bench_overlap --memory FILE   peak RSS per indexed CIDR (streams FILE into the index
 *                                      and holds nothing else)
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

/* Reads a decimal id at *p (1-10 digits, at most UINT32_MAX) followed by one space. */
static int parse_id(const char **p, const char *end, uint32_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    int digits = 0;
    while (s < end && (unsigned)(*s - '0') < 10 && digits < 11) {
        v = v * 10 + (unsigned)(*s++ - '0');
        digits++;
    }
    if (digits == 0 || digits > 10 || v > UINT32_MAX || s == end || *s != ' ')
        return -EINVAL;
    *out = (uint32_t)v;
    *p = s + 1;
    return 0;
}

/* Parses one "DOMAIN OWNER PARENT CIDR" line in line[0..n) (no newline); returns 0 or
 * -EINVAL with a message on stderr. The CIDR goes through prefix_parse_fast(), and through
 * prefix_parse() for anything unusual, so errors are exactly as precise. */
static int parse_line(const char *line, size_t n, struct overlap_entry *e)
{
    const char *p = line, *end = line + n;
    if (parse_id(&p, end, &e->domain) < 0 || parse_id(&p, end, &e->owner) < 0 ||
        parse_id(&p, end, &e->parent) < 0) {
        fprintf(stderr, "bench_overlap: bad ids in '%.*s'\n", (int)(n > 80 ? 80 : n), line);
        return -EINVAL;
    }
    if (prefix_parse_fast(p, (size_t)(end - p), &e->prefix))
        return 0;
    char text[128], err[200];
    int len = snprintf(text, sizeof text, "%.*s", (int)(end - p), p);
    if (len < 0 || (size_t)len >= sizeof text) {
        fprintf(stderr, "bench_overlap: CIDR text too long\n");
        return -EINVAL;
    }
    if (prefix_parse(text, &e->prefix, err, sizeof err) < 0) {
        fprintf(stderr, "bench_overlap: %s\n", err);
        return -EINVAL;
    }
    return 0;
}

/* Maps the whole file read-only (pages populated at once); NULL with a message on failure.
 * Unmap with munmap(p, *len). An empty file maps to a static empty buffer. */
static const char *map_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        perror(path);
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0) {
        perror(path);
        close(fd);
        return NULL;
    }
    *len = (size_t)sb.st_size;
    if (*len == 0) {
        close(fd);
        return "";
    }
    void *p = mmap(NULL, *len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        perror(path);
        return NULL;
    }
    return p;
}

static void unmap_file(const char *p, size_t len)
{
    if (len > 0)
        munmap((void *)p, len);
}

/* An array of n entries, 2 MiB aligned and advised for huge pages when large (the parse
 * writes every byte once; 4 KiB page faults would cost as much as the parsing). */
static struct overlap_entry *entries_alloc(size_t n)
{
    enum { HUGE = 2u << 20 };
    size_t bytes = (n ? n : 1) * sizeof(struct overlap_entry);
    if (bytes < HUGE)
        return xmalloc(bytes);
    bytes = (bytes + HUGE - 1) / HUGE * HUGE;
    void *p = aligned_alloc(HUGE, bytes);
    if (!p) {
        fprintf(stderr, "bench_overlap: out of memory\n");
        exit(1);
    }
    (void)madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

/* Parses every line of buf[0..len) into a new array (owned by the caller) of *n entries;
 * NULL on a bad line. */
static struct overlap_entry *parse_all(const char *buf, size_t len, size_t *n)
{
    /* The shortest line ("1 1 0 ::/0\n") has 11 bytes: an upper bound without a counting
     * pass. Pages beyond the entries actually written are never touched. */
    struct overlap_entry *es = entries_alloc(len / 11 + 1);
    size_t k = 0;
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        if (eol > p) {
            if (parse_line(p, (size_t)(eol - p), &es[k]) < 0) {
                free(es);
                return NULL;
            }
            k++;
        }
        p = eol + 1;
    }
    *n = k;
    return es;
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
        size_t len = strcspn(line, "\n");
        if (parse_line(line, len, &e) < 0 || overlap_insert(idx, &e, NULL, NULL) < 0) {
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

/* The end-to-end figure in a process of its own, as the baseline runs: text in (read the
 * file, parse every line), all overlapping pairs out (sort + sweep), nothing else. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int scan_mode(const char *path)
{
    double c0 = cpu_now();
    double t0 = now();
    size_t len, n;
    const char *text = map_file(path, &len);
    if (!text)
        return 1;
    struct overlap_entry *es = parse_all(text, len, &n);
    unmap_file(text, len);
    if (!es)
        return 1;
    double t1 = now();
    size_t pairs, cnt = 0;
    int rc = overlap_scan_array(es, n, count_cb, &cnt, &pairs);
    double t2 = now();
    double c2 = cpu_now();
    if (rc < 0) {
        fprintf(stderr, "bench_overlap: overlap_scan_array: %s\n", strerror(-rc));
        return 1;
    }
    if (cnt != pairs) {
        fprintf(stderr, "bench_overlap: batch scan returned %zu but reported %zu\n", pairs, cnt);
        return 1;
    }
    printf("e2e_cidrs=%zu\ne2e_pairs=%zu\n", n, pairs);
    printf("e2e_parse_seconds=%.4f\ne2e_scan_seconds=%.4f\ne2e_total_seconds=%.4f\n", t1 - t0,
           t2 - t1, t2 - t0);
    printf("e2e_cpu_seconds=%.4f\n", c2 - c0);
    free(es);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--memory") == 0)
        return memory_mode(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--scan") == 0)
        return scan_mode(argv[2]);
    if (argc != 2) {
        fprintf(stderr, "usage: bench_overlap [--memory | --scan] FILE\n");
        return 2;
    }
    /* Text in: read the file at once and parse every line (timed together). */
    double t0 = now();
    size_t len, n;
    const char *text = map_file(argv[1], &len);
    if (!text)
        return 1;
    struct overlap_entry *es = parse_all(text, len, &n);
    unmap_file(text, len);
    if (!es)
        return 1;
    double t_parse = now() - t0;

    /* All pairs out, without an index: sort + sweep. The first run is the end-to-end figure
     * (like the baseline's single run); the best of 5 is reported beside it. */
    size_t batch_pairs = 0;
    double t_batch = 0, t_batch_best = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        size_t k, cnt = 0;
        t0 = now();
        int rc = overlap_scan_array(es, n, count_cb, &cnt, &k);
        double dt = now() - t0;
        if (rc < 0) {
            fprintf(stderr, "bench_overlap: overlap_scan_array: %s\n", strerror(-rc));
            return 1;
        }
        if (k != cnt) {
            fprintf(stderr, "bench_overlap: batch scan returned %zu but reported %zu\n", k, cnt);
            return 1;
        }
        if (rep == 0)
            t_batch = dt;
        if (dt < t_batch_best)
            t_batch_best = dt;
        batch_pairs = k;
    }

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
    if (batch_pairs != pairs) {
        fprintf(stderr, "bench_overlap: batch scan found %zu pairs, the index %zu\n", batch_pairs,
                pairs);
        return 1;
    }
    printf("cidrs=%zu\nindexed=%zu\npairs=%zu\n", n, overlap_count(idx), pairs);
    printf("parse_seconds=%.4f\nbatch_scan_seconds=%.4f\nbatch_scan_best_seconds=%.4f\n", t_parse,
           t_batch, t_batch_best);
    printf("build_seconds=%.3f\nscan_seconds=%.4f\n", t_build, t_scan);
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
