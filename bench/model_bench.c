/* model_bench: apply rate and memory footprint of the analyzer's model on framed inventory
 * passes; also frames render_records output into passes for the analyzer benchmark.
 *
 * Usage: model_bench --frame PARTS KEEP IN   prints IN (render_records "key<TAB>json" lines)
 *                                            as complete passes (pass_begin, records,
 *                                            pass_end with counts) on stdout; see below
 *        model_bench [--domain] FILE         decodes every line of a framed FILE, then applies
 *                                            the records to one model as a whole: apply rate,
 *                                            model_save/model_load of the result, metrics
 *                                            (each phase's wall and process CPU seconds)
 *        model_bench --memory [--domain] FILE  separate process: streams FILE through
 *                                            record_decode into one model and keeps nothing
 *                                            else; VmHWM after minus before, per CIDR
 *
 * --domain puts every scope of FILE into one routing domain, so that the model also keeps
 * an overlap index entry per resource CIDR (analyzer/overlap.h). Effects go through a sink
 * in portions, as in the analyzer; --journal DIR (with --memory) also appends each to a
 * journal in DIR (no fsync), so the peak includes the journal's write path and key index.
 *
 * DESIGN (framing): PARTS = 0 keeps the scopes of IN and frames each run of one scope as a
 * pass. PARTS = P > 0 splits IN into P contiguous chunks, each a scope of its own whose id
 * (same length as the original, so record sizes do not change) is chosen so that librdkafka's
 * default partitioner (CRC-32 of the key modulo the partition count) puts chunk j into
 * partition j of a P-partition topic: every partition then holds 1/P of the data, which keeps
 * the development broker's 5 MiB per partition limit from trimming it. KEEP = K > 1 keeps
 * every K-th VPC or subnet resource CIDR as it is and turns the others into network
 * interface ("eni") CIDRs, so that a million tracked CIDRs do not mean a million RRD files.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "analyzer/journal.h"
#include "analyzer/model.h"
#include "record.h"
#include "xalloc.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The process's CPU time: on a shared machine steadier than the wall clock. */
static double cpu(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

/* ---- framing -------------------------------------------------------------------------- */

/* A growable output line. */
struct buf {
    char *p;
    size_t n, cap;
};

static void buf_add(struct buf *b, const char *s, size_t len)
{
    b->p = xgrow(b->p, &b->cap, b->n + len + 1, 1);
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

/* Copies `in` into `out` replacing every `from` by `to` (at most `max` times). */
static void replace(struct buf *out, const char *in, const char *from, const char *to, int max)
{
    size_t fl = strlen(from), tl = strlen(to);
    out->n = 0;
    buf_add(out, "", 0);
    const char *p = in, *hit;
    while (max-- > 0 && (hit = strstr(p, from))) {
        buf_add(out, p, (size_t)(hit - p));
        buf_add(out, to, tl);
        p = hit + fl;
    }
    buf_add(out, p, strlen(p));
}

static char *encode_line(const struct record *r)
{
    char *json = NULL, key[RECORD_KEY_MAX];
    size_t len = 0;
    if (record_encode(r, &json, &len) < 0 || record_key(r, key, sizeof key) < 0) {
        char err[256];
        record_validate(r, err, sizeof err);
        fprintf(stderr, "model_bench: frame record: %s\n", err);
        exit(1);
    }
    char *line = xasprintf("%s\t%s\n", key, json);
    free(json);
    return line;
}

struct frame {
    char scope[RECORD_KEY_MAX];
    char pass_id[200];
    int64_t started_ms;
    uint64_t n;
};

static void frame_begin(struct frame *f, FILE *out)
{
    struct record *r = record_new(RECORD_PASS_BEGIN);
    record_str_set(&r->scope, f->scope);
    record_str_set(&r->source, "bench");
    record_str_set(&r->pass_id, f->pass_id);
    record_str_set(&r->u.pass_begin.collector_id, "bench");
    r->u.pass_begin.started_ms = f->started_ms;
    char *line = encode_line(r);
    fputs(line, out);
    free(line);
    record_free(r);
    f->n = 0;
}

static void frame_end(struct frame *f, FILE *out)
{
    struct record *r = record_new(RECORD_PASS_END);
    record_str_set(&r->scope, f->scope);
    record_str_set(&r->source, "bench");
    record_str_set(&r->pass_id, f->pass_id);
    r->u.pass_end.complete = true;
    r->u.pass_end.counts[RECORD_RESOURCE_CIDR] = (int64_t)f->n;
    char *line = encode_line(r);
    fputs(line, out);
    free(line);
    record_free(r);
}

/* A scope id of `len` characters ("ipam-scope-" and hex) for partition `part` of `parts`. */
static void scope_for(unsigned part, unsigned parts, size_t len, char *out, size_t outlen)
{
    for (uint64_t salt = 0;; salt++) {
        int w = snprintf(out, outlen, "ipam-scope-%0*" PRIx64, (int)(len - 11), salt * 7919 + part);
        if (w < 0 || (size_t)w != len)
            continue;
        uLong crc = crc32(0L, (const Bytef *)out, (uInt)len);
        if (crc % parts == part)
            return;
    }
}

/* Rewrites a VPC or subnet resource CIDR line as an "eni" one. */
static const char *to_eni(struct buf *tmp, struct buf *tmp2, const char *line)
{
    const char *types[][3] = {
        {"\"resource_type\":\"subnet\"", "\"resource_id\":\"subnet-", "\"resource_id\":\"eni-"},
        {"\"resource_type\":\"vpc\"", "\"resource_id\":\"vpc-", "\"resource_id\":\"eni-"},
    };
    for (size_t i = 0; i < 2; i++) {
        if (!strstr(line, types[i][0]))
            continue;
        replace(tmp, line, types[i][0], "\"resource_type\":\"eni\"", 1);
        replace(tmp2, tmp->p, types[i][1], types[i][2], 1);
        return tmp2->p;
    }
    return line;
}

static int frame_mode(unsigned parts, unsigned keep, const char *path)
{
    FILE *in = fopen(path, "r");
    if (!in) {
        perror(path);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    uint64_t total = 0;
    while ((len = getline(&line, &cap, in)) > 0)
        total++;
    rewind(in);
    struct frame f = {.started_ms = RECORD_UNSET};
    struct buf a = {0}, b = {0}, c = {0};
    char orig[RECORD_KEY_MAX] = "";
    uint64_t i = 0, vs = 0;
    unsigned cur = UINT32_MAX;
    while ((len = getline(&line, &cap, in)) > 0) {
        line[strcspn(line, "\n")] = '\0';
        char *tab = strchr(line, '\t');
        if (!tab) {
            fprintf(stderr, "model_bench: %s: line %" PRIu64 " has no key\n", path, i + 1);
            return 1;
        }
        *tab = '\0';
        const char *json = tab + 1;
        if (f.started_ms == RECORD_UNSET) {
            struct record *r = NULL;
            char err[512];
            if (record_decode(json, strlen(json), &r, err, sizeof err) < 0 || !r->pass_id) {
                fprintf(stderr, "model_bench: %s: first record: %s\n", path,
                        r ? "no pass id" : err);
                return 1;
            }
            snprintf(f.pass_id, sizeof f.pass_id, "%s", r->pass_id);
            f.started_ms = r->ts_ms;
            record_free(r);
        }
        unsigned want = parts ? (unsigned)(i * parts / total) : 0;
        bool new_scope = parts ? want != cur : strcmp(orig, line) != 0;
        if (new_scope && cur != UINT32_MAX)
            frame_end(&f, stdout);
        if (new_scope) {
            if (parts)
                scope_for(want, parts, strlen(line), f.scope, sizeof f.scope);
            else
                snprintf(f.scope, sizeof f.scope, "%s", line);
            cur = want;
            frame_begin(&f, stdout);
        }
        snprintf(orig, sizeof orig, "%s", line);
        const char *body = json;
        if (keep > 1 && (strstr(json, "\"resource_type\":\"subnet\"") ||
                         strstr(json, "\"resource_type\":\"vpc\""))) {
            if (vs++ % keep != 0)
                body = to_eni(&b, &c, json);
        }
        char quoted[RECORD_KEY_MAX + 2], nq[RECORD_KEY_MAX + 2];
        snprintf(quoted, sizeof quoted, "\"%s\"", orig);
        snprintf(nq, sizeof nq, "\"%s\"", f.scope);
        replace(&a, body, quoted, nq, 8);
        printf("%s\t%s\n", f.scope, a.p);
        f.n++;
        i++;
    }
    if (cur != UINT32_MAX)
        frame_end(&f, stdout);
    free(line);
    free(a.p);
    free(b.p);
    free(c.p);
    fclose(in);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- applying ------------------------------------------------------------------------- */

/* A configuration with one routing domain holding every scope id given. */
struct bench_cfg {
    struct config cfg;
    struct config_domain dom;
};

static void cfg_add_scope(struct bench_cfg *bc, const char *scope)
{
    struct config_list *l = &bc->dom.scopes;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->items[i], scope) == 0)
            return;
    l->items = xrealloc(l->items, (l->n + 1) * sizeof *l->items);
    l->items[l->n++] = xstrdup(scope);
}

/* Collects the scopes of FILE's pass_begin lines into the domain. */
static int cfg_scan(struct bench_cfg *bc, const char *path)
{
    FILE *in = fopen(path, "r");
    if (!in) {
        perror(path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, in) > 0) {
        if (!strstr(line, "\"type\":\"pass_begin\""))
            continue;
        line[strcspn(line, "\t")] = '\0';
        cfg_add_scope(bc, line);
    }
    free(line);
    fclose(in);
    bc->dom.name = "bench";
    bc->cfg.domains = &bc->dom;
    bc->cfg.n_domains = 1;
    return 0;
}

static void cfg_clear(struct bench_cfg *bc)
{
    for (size_t i = 0; i < bc->dom.scopes.n; i++)
        free(bc->dom.scopes.items[i]);
    free(bc->dom.scopes.items);
}

static int decode_line(char *line, struct record **rec, uint64_t lineno)
{
    line[strcspn(line, "\n")] = '\0';
    char *tab = strchr(line, '\t');
    const char *json = tab ? tab + 1 : line;
    char err[512];
    if (record_decode(json, strlen(json), rec, err, sizeof err) < 0) {
        fprintf(stderr, "model_bench: line %" PRIu64 ": %s\n", lineno, err);
        return -1;
    }
    return 0;
}

static uint64_t pass_count(model_t *m)
{
    struct model_stats st;
    model_get_stats(m, &st);
    return st.passes_applied;
}

static void count_obj(void *ctx, const char *kind, const char *id, const char *scope_id,
                      const struct rrd_sample *s)
{
    (void)kind;
    (void)id;
    (void)scope_id;
    (void)s;
    (*(uint64_t *)ctx)++;
}

/* Effects sink of both modes: counts them, the most of one model_apply(), and with
 * --journal appends each to a journal (unsynced until the end), as the analyzer does. */
struct fx_count {
    uint64_t total;
    size_t this_apply, max_apply;
    journal_t *j;
    int jerr;
};

static void on_effects(void *ctx, const struct model_effect *items, size_t n)
{
    struct fx_count *c = ctx;
    c->total += n;
    c->this_apply += n;
    for (size_t i = 0; c->j && i < n; i++) {
        int rc = model_effect_journal(c->j, &items[i]);
        if (rc < 0 && !c->jerr)
            c->jerr = rc;
    }
}

static void fx_count_apply_done(struct fx_count *c)
{
    if (c->this_apply > c->max_apply)
        c->max_apply = c->this_apply;
    c->this_apply = 0;
}

static journal_t *bench_journal(const char *dir)
{
    char err[512];
    if (!dir)
        return NULL;
    journal_t *j = journal_open(dir, false, err, sizeof err);
    if (!j)
        fprintf(stderr, "model_bench: %s\n", err);
    return j;
}

static int memory_mode(const struct config *cfg, const char *path, const char *jdir)
{
    FILE *in = fopen(path, "r");
    if (!in) {
        perror(path);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    uint64_t n = 0;
    int rc = 0;
    long before = vm_hwm_kb();
    model_t *m = model_new(cfg);
    struct fx_count cnt = {.j = bench_journal(jdir)};
    if (jdir && !cnt.j)
        return 1;
    struct model_effects fx;
    model_effects_init(&fx);
    model_effects_set_sink(&fx, on_effects, &cnt, 0);
    while (getline(&line, &cap, in) > 0) {
        struct record *rec = NULL;
        char err[512];
        if (decode_line(line, &rec, ++n) < 0 || model_apply(m, rec, &fx, err, sizeof err) < 0) {
            rc = 1;
            record_free(rec);
            break;
        }
        record_free(rec);
        fx_count_apply_done(&cnt);
    }
    if (cnt.j && (cnt.jerr || journal_sync(cnt.j) != 0))
        rc = 1;
    long after = vm_hwm_kb();
    struct model_stats st;
    model_get_stats(m, &st);
    printf("mem_records=%" PRIu64 "\nmem_passes_applied=%" PRIu64 "\n", n, st.passes_applied);
    printf("mem_resource_cidrs=%" PRIu64 "\nmem_overlap_domains=%zu\n", st.resource_cidrs,
           cfg ? cfg->n_domains : (size_t)0);
    printf("mem_max_effects_per_apply=%zu\nmem_effects=%" PRIu64 "\nmem_journaled=%s\n",
           cnt.max_apply, cnt.total, cnt.j ? "yes" : "no");
    printf("mem_hwm_before_kb=%ld\nmem_hwm_after_kb=%ld\n", before, after);
    printf("mem_bytes_per_cidr=%.1f\n",
           st.resource_cidrs ? (double)(after - before) * 1024.0 / (double)st.resource_cidrs : NAN);
    if (!st.resource_cidrs)
        rc = 1;
    model_free(m);
    model_effects_clear(&fx);
    journal_close(cnt.j);
    free(line);
    fclose(in);
    return rc;
}

static int apply_mode(const struct config *cfg, const char *path)
{
    FILE *in = fopen(path, "r");
    if (!in) {
        perror(path);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0, nrec = 0, caprec = 0;
    struct record **recs = NULL;
    double t0 = now(), c0 = cpu();
    while (getline(&line, &cap, in) > 0) {
        recs = xgrow(recs, &caprec, nrec + 1, sizeof *recs);
        if (decode_line(line, &recs[nrec], nrec + 1) < 0)
            return 1;
        nrec++;
    }
    free(line);
    fclose(in);
    double t_decode = now() - t0, c_decode = cpu() - c0;

    model_t *m = model_new(cfg);
    struct fx_count cnt = {0};
    struct model_effects fx;
    model_effects_init(&fx);
    model_effects_set_sink(&fx, on_effects, &cnt, 0);
    t0 = now();
    c0 = cpu();
    for (size_t i = 0; i < nrec; i++) {
        char err[512];
        if (model_apply(m, recs[i], &fx, err, sizeof err) < 0) {
            fprintf(stderr, "model_bench: record %zu: %s\n", i + 1, err);
            return 1;
        }
        fx_count_apply_done(&cnt);
    }
    model_effects_clear(&fx);
    size_t neffects = (size_t)cnt.total;
    double t_apply = now() - t0, c_apply = cpu() - c0;
    for (size_t i = 0; i < nrec; i++)
        record_free(recs[i]);
    free(recs);
    /* A million freed records sit in malloc's fast bins; the first large free() would merge
     * them all and be charged to whatever runs next (the analyzer never holds that many freed
     * at once): merge them here, outside the timed parts. */
    malloc_trim(0);
    struct model_stats st;
    model_get_stats(m, &st);

    uint64_t objs = 0;
    t0 = now();
    c0 = cpu();
    model_metrics(m, count_obj, &objs);
    double t_metrics = now() - t0, c_metrics = cpu() - c0;

    char path_save[] = "/tmp/model_bench.XXXXXX";
    int fd = mkstemp(path_save);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(fd);
    char err[512];
    t0 = now();
    c0 = cpu();
    if (model_save(m, path_save, err, sizeof err) < 0) {
        fprintf(stderr, "model_bench: %s\n", err);
        unlink(path_save);
        return 1;
    }
    double t_save = now() - t0, c_save = cpu() - c0;
    FILE *sf = fopen(path_save, "r");
    long save_bytes = -1;
    if (sf && fseek(sf, 0, SEEK_END) == 0)
        save_bytes = ftell(sf);
    if (sf)
        fclose(sf);
    t0 = now();
    c0 = cpu();
    model_t *l = model_load(cfg, path_save, err, sizeof err);
    double t_load = now() - t0, c_load = cpu() - c0;
    unlink(path_save);
    if (!l) {
        fprintf(stderr, "model_bench: %s\n", err);
        return 1;
    }
    struct model_stats ls;
    model_get_stats(l, &ls);
    printf("records=%zu\nresource_cidrs=%" PRIu64 "\npasses_applied=%" PRIu64 "\n", nrec,
           st.resource_cidrs, pass_count(m));
    printf("effects=%zu\noverlaps=%" PRIu64 "\n", neffects, st.overlaps);
    printf("decode_s=%.3f\ndecode_per_s=%.0f\n", t_decode, (double)nrec / t_decode);
    printf("apply_s=%.3f\napply_per_s=%.0f\n", t_apply, (double)nrec / t_apply);
    printf("metrics_objects=%" PRIu64 "\nmetrics_s=%.3f\n", objs, t_metrics);
    printf("save_s=%.3f\nsave_bytes=%ld\nload_s=%.3f\n", t_save, save_bytes, t_load);
    printf("decode_cpu_s=%.3f\napply_cpu_s=%.3f\nmetrics_cpu_s=%.3f\nsave_cpu_s=%.3f\n"
           "load_cpu_s=%.3f\n",
           c_decode, c_apply, c_metrics, c_save, c_load);
    printf("load_resource_cidrs=%" PRIu64 "\n", ls.resource_cidrs);
    int rc = ls.resource_cidrs == st.resource_cidrs && st.resource_cidrs > 0 ? 0 : 1;
    if (rc)
        fprintf(stderr, "model_bench: the loaded model differs (%" PRIu64 " CIDRs)\n",
                ls.resource_cidrs);
    model_free(l);
    model_free(m);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 5 && strcmp(argv[1], "--frame") == 0)
        return frame_mode((unsigned)strtoul(argv[2], NULL, 10),
                          (unsigned)strtoul(argv[3], NULL, 10), argv[4]);
    bool memory = false, domain = false;
    const char *jdir = NULL;
    int i = 1;
    for (; i < argc - 1; i++) {
        if (strcmp(argv[i], "--memory") == 0)
            memory = true;
        else if (strcmp(argv[i], "--journal") == 0 && i + 2 < argc)
            jdir = argv[++i];
        else if (strcmp(argv[i], "--domain") == 0)
            domain = true;
        else
            break;
    }
    if (i != argc - 1) {
        fprintf(stderr, "usage: model_bench --frame PARTS KEEP IN\n"
                        "       model_bench [--memory [--journal DIR]] [--domain] FILE\n");
        return 2;
    }
    struct bench_cfg bc;
    memset(&bc, 0, sizeof bc);
    if (domain && cfg_scan(&bc, argv[i]) < 0)
        return 1;
    const struct config *cfg = domain ? &bc.cfg : NULL;
    int rc = memory ? memory_mode(cfg, argv[i], jdir) : apply_mode(cfg, argv[i]);
    cfg_clear(&bc);
    return rc;
}
