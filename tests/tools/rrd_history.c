/* rrd_history: writes a synthetic history into RRD files through rrd_store, for tests.
 *
 * usage: rrd_history DIR STEP_SECONDS < samples
 * Each input line is "KIND ID TIME SIZE USED LARGEST_FREE" (TIME in UTC seconds, samples
 * of one object in time order; LARGEST_FREE may be "U"); free and utilization are derived.
 * Prints "samples N files N" and exits 0, or 1 with the store's error.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/rrd_store.h"

int main(int argc, char **argv)
{
    char err[1024], line[1024], kind[32], id[160], lf[32];
    long long t;
    double size, used;
    unsigned long lineno = 0;
    rrd_store_t *st;
    struct rrd_store_stats stats;

    if (argc != 3) {
        fprintf(stderr, "usage: rrd_history DIR STEP_SECONDS < samples\n");
        return 2;
    }
    st = rrd_store_new(argv[1], atoi(argv[2]), NULL, err, sizeof err);
    if (st == NULL) {
        fprintf(stderr, "rrd_history: %s\n", err);
        return 1;
    }
    while (fgets(line, sizeof line, stdin) != NULL) {
        struct rrd_sample s = rrd_sample_unknown();
        lineno++;
        if (sscanf(line, "%31s %159s %lld %lf %lf %31s", kind, id, &t, &size, &used, lf) != 6) {
            fprintf(stderr, "rrd_history: line %lu: expected KIND ID TIME SIZE USED LF\n", lineno);
            rrd_store_free(st);
            return 2;
        }
        s.size = size;
        s.used = used;
        s.free = size - used;
        s.utilization = size > 0 ? 100.0 * used / size : NAN;
        s.largest_free = strcmp(lf, "U") == 0 ? NAN : atof(lf);
        if (rrd_store_update(st, kind, id, (time_t)t, &s) < 0) {
            fprintf(stderr, "rrd_history: line %lu: %s\n", lineno, rrd_store_error(st));
            rrd_store_free(st);
            return 1;
        }
    }
    if (rrd_store_flush(st) < 0) {
        fprintf(stderr, "rrd_history: flush: %s\n", rrd_store_error(st));
        rrd_store_free(st);
        return 1;
    }
    rrd_store_get_stats(st, &stats);
    printf("samples %llu files %llu\n", (unsigned long long)stats.written,
           (unsigned long long)stats.created);
    rrd_store_free(st);
    return 0;
}
