/* model_snapshot: writes an analyzer model snapshot from records, for tests of the commands
 * that read the analyzer's state without running it.
 *
 * usage: model_snapshot FILE < records
 * Each input line is one record in its wire form (docs/records.md); they are applied in
 * order to an empty model (no routing domains), which is then saved to FILE with
 * model_save(). Prints "records N pools N scopes N" and exits 0, 1 when a record does not
 * decode or apply, or the model cannot be saved, and 2 for usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/model.h"
#include "record.h"

int main(int argc, char **argv)
{
    char err[1024];
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long lineno = 0;
    int status = 1;
    struct model_effects fx;
    struct model_stats stats;
    model_t *m;

    if (argc != 2) {
        fprintf(stderr, "usage: model_snapshot FILE < records\n");
        return 2;
    }
    m = model_new(NULL);
    model_effects_init(&fx);
    while ((len = getline(&line, &cap, stdin)) > 0) {
        struct record *rec = NULL;
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        if (record_decode(line, (size_t)len, &rec, err, sizeof err) < 0 ||
            model_apply(m, rec, &fx, err, sizeof err) < 0) {
            fprintf(stderr, "model_snapshot: line %lu: %s\n", lineno, err);
            record_free(rec);
            goto out;
        }
        record_free(rec);
        model_effects_clear(&fx);
    }
    if (model_save(m, argv[1], err, sizeof err) < 0) {
        fprintf(stderr, "model_snapshot: %s\n", err);
        goto out;
    }
    model_get_stats(m, &stats);
    printf("records %lu pools %llu scopes %llu\n", lineno, (unsigned long long)stats.pools,
           (unsigned long long)stats.scopes);
    status = 0;

out:
    model_effects_clear(&fx);
    free(line);
    model_free(m);
    return status;
}
