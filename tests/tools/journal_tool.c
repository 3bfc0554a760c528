/* journal_tool: reads an audit journal for tests, through analyzer/journal.h.
 *
 *   journal_tool verify DIR   verifies the hash chain and HEAD; prints
 *                             "ok records=N last_seq=N head=HEX" (exit 0) or the fault
 *                             (exit 1)
 *   journal_tool dump DIR     prints "seq<TAB>event_time<TAB>kind<TAB>key<TAB>data" per record
 * Exit 2 on usage errors.
 */
#define LOG_MODULE "journal_tool"
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "analyzer/journal.h"
#include "log.h"

static int verify(const char *dir)
{
    struct journal_verify_result res;
    char err[512];
    int rc = journal_verify(dir, &res, err, sizeof err);
    if (rc < 0) {
        printf("fault %s file=%s line=%" PRIu64 " seq=%" PRIu64 ": %s\n",
               journal_fault_name(res.fault), res.file, res.line, res.seq, err);
        return 1;
    }
    printf("ok records=%" PRIu64 " last_seq=%" PRIu64 " head=%s\n", res.records, res.last_seq,
           res.head_digest);
    return 0;
}

static int dump(const char *dir)
{
    char err[512];
    journal_reader_t *r = journal_reader_new(dir, 0, 0, err, sizeof err);
    if (!r) {
        fprintf(stderr, "journal_tool: %s\n", err);
        return 1;
    }
    struct journal_record rec;
    int rc;
    while ((rc = journal_reader_next(r, &rec, err, sizeof err)) == 1) {
        char *data = json_dumps(rec.data, JSON_COMPACT | JSON_SORT_KEYS);
        printf("%" PRIu64 "\t%lld\t%s\t%s\t%s\n", rec.seq, (long long)rec.event_time, rec.kind,
               rec.key, data ? data : "{}");
        free(data);
    }
    journal_reader_free(r);
    if (rc < 0) {
        fprintf(stderr, "journal_tool: %s\n", err);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    log_init("journal_tool", LOG_LEVEL_WARN, true, false);
    if (argc != 3) {
        fprintf(stderr, "usage: journal_tool verify|dump DIR\n");
        return 2;
    }
    if (strcmp(argv[1], "verify") == 0)
        return verify(argv[2]);
    if (strcmp(argv[1], "dump") == 0)
        return dump(argv[2]);
    fprintf(stderr, "usage: journal_tool verify|dump DIR\n");
    return 2;
}
