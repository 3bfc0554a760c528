/* rrd_bench: seconds for one analyzer step (one sample for each of N RRD files, then a
 * durable flush), directly with librrd and through rrdcached.
 *
 * Usage: rrd_bench --dir DIR [--daemon unix:/path|host:port] [--files N] [--steps S]
 * The files are created in a first, separately timed step; the direct steps run next,
 * then the rrdcached steps over the same files, then one step of a fresh store through
 * rrdcached (an analyzer restart: every object is looked up once). bench/rrd_bench.sh
 * starts a private rrdcached and runs this.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyzer/rrd_store.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const kinds[] = {"pool", "scope", "vpc", "subnet"};

/* One step: every file gets a sample at time t, then the store is flushed. */
static double run_step(rrd_store_t *st, int files, time_t t)
{
    double t0 = now_s();
    char id[64];
    for (int i = 0; i < files; i++) {
        struct rrd_sample s = rrd_sample_unknown();
        s.size = 65536;
        s.used = (double)((i * 31 + t / 300) % 65536);
        s.free = s.size - s.used;
        s.utilization = 100.0 * s.used / s.size;
        s.largest_free = 20;
        s.default_fits = 3;
        s.allocations = i % 100;
        s.overlaps = 0;
        s.noncompliant = 0;
        snprintf(id, sizeof id, "obj-%06d", i);
        int rc = rrd_store_update(st, kinds[i % 4], id, t, &s);
        if (rc != 0) {
            fprintf(stderr, "rrd_bench: update %s: %s\n", id, rrd_store_error(st));
            exit(1);
        }
    }
    if (rrd_store_flush(st) != 0) {
        fprintf(stderr, "rrd_bench: flush: %s\n", rrd_store_error(st));
        exit(1);
    }
    return now_s() - t0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void steps(const char *label, rrd_store_t *st, int files, int nsteps, time_t *t)
{
    double *secs = calloc((size_t)nsteps, sizeof *secs);
    for (int i = 0; i < nsteps; i++) {
        *t += 300;
        secs[i] = run_step(st, files, *t);
    }
    qsort(secs, (size_t)nsteps, sizeof *secs, cmp_double);
    printf("%-28s files=%d steps=%d  median %.3f s  min %.3f s  max %.3f s  (%.0f files/s)\n",
           label, files, nsteps, secs[nsteps / 2], secs[0], secs[nsteps - 1],
           files / secs[nsteps / 2]);
    free(secs);
}

int main(int argc, char **argv)
{
    const char *dir = NULL, *daemon = NULL;
    int files = 10000, nsteps = 3;
    char err[512];
    rrd_store_t *st;
    time_t t = (time(NULL) / 300) * 300 - 86400;
    double secs;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--daemon") == 0 && i + 1 < argc)
            daemon = argv[++i];
        else if (strcmp(argv[i], "--files") == 0 && i + 1 < argc)
            files = atoi(argv[++i]);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            nsteps = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: rrd_bench --dir DIR [--daemon ADDR] [--files N] "
                            "[--steps S]\n");
            return 2;
        }
    }
    if (dir == NULL || files < 1 || nsteps < 1) {
        fprintf(stderr, "rrd_bench: --dir is required; --files and --steps must be >= 1\n");
        return 2;
    }

    st = rrd_store_new(dir, 300, NULL, err, sizeof err);
    if (st == NULL) {
        fprintf(stderr, "rrd_bench: %s\n", err);
        return 1;
    }
    secs = run_step(st, files, t);
    printf("%-28s files=%d  %.3f s  (%.0f files/s)\n", "create + first step (direct)", files, secs,
           files / secs);
    steps("step, direct", st, files, nsteps, &t);
    rrd_store_free(st);

    if (daemon != NULL) {
        st = rrd_store_new(dir, 300, daemon, err, sizeof err);
        if (st == NULL) {
            fprintf(stderr, "rrd_bench: %s\n", err);
            return 1;
        }
        /* The first step through the daemon looks every file up once (FLUSH + last). */
        t += 300;
        secs = run_step(st, files, t);
        printf("%-28s files=%d  %.3f s  (%.0f files/s)\n", "first step, rrdcached", files, secs,
               files / secs);
        steps("step, rrdcached", st, files, nsteps, &t);
        rrd_store_free(st);
    }
    return 0;
}
