/* render_records: prints the resource-CIDR records of an aws CLI dataset as "key<TAB>json"
 * lines, encoded exactly as the collector encodes them, for kcat to produce pre-rendered.
 *
 * Usage: render_records DIR [SOURCE]   (DIR as for `collect --from-files`)
 * The records go through the collector's own path (cli_files, ipam_map, record_encode) with
 * the envelope a pass gives them, so kcat sends the same bytes and keys the collector sends.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/cli_files.h"
#include "collector/ipam_map.h"
#include "record.h"

struct ctx {
    const char *scope_id;
    const char *source;
    char pass_id[128];
    unsigned long long n;
    int failed;
};

static int on_scope(void *arg, json_t *item)
{
    json_t *ids = arg;
    const char *id = ipam_map_str(item, "ipamScopeId");
    if (id)
        json_array_append_new(ids, json_string(id));
    return 0;
}

static int on_resource(void *arg, json_t *item)
{
    struct ctx *c = arg;
    char err[256];
    struct record *r = ipam_map_item(RECORD_RESOURCE_CIDR, item, c->scope_id, err, sizeof err);
    if (!r) {
        fprintf(stderr, "render_records: %s\n", err);
        c->failed = 1;
        return -EINVAL;
    }
    record_str_set(&r->scope, c->scope_id);
    record_str_set(&r->source, c->source);
    record_str_set(&r->pass_id, c->pass_id);
    char *buf = NULL;
    size_t len = 0;
    int rc = record_encode(r, &buf, &len);
    record_free(r);
    if (rc < 0) {
        fprintf(stderr, "render_records: encode: %s\n", strerror(-rc));
        c->failed = 1;
        return rc;
    }
    printf("%s\t%s\n", c->scope_id, buf);
    free(buf);
    c->n++;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: render_records DIR [SOURCE]\n");
        return 2;
    }
    char err[1024];
    cli_files_t *f = cli_files_new(argv[1], err, sizeof err);
    if (!f) {
        fprintf(stderr, "render_records: %s\n", err);
        return 1;
    }
    struct ctx c = {.source = argc > 2 ? argv[2] : "bench"};
    struct record *clock = record_new(RECORD_PASS_BEGIN);
    snprintf(c.pass_id, sizeof c.pass_id, "%s-%lld", c.source, (long long)clock->ts_ms);
    record_free(clock);
    json_t *ids = json_array();
    int rc = cli_files_list(f, EC2_DESCRIBE_IPAM_SCOPES, NULL, NULL, NULL, on_scope, ids, err,
                            sizeof err);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        if (rc != 0)
            break;
        c.scope_id = json_string_value(id);
        rc = cli_files_list(f, EC2_GET_IPAM_RESOURCE_CIDRS, NULL, c.scope_id, NULL, on_resource, &c,
                            err, sizeof err);
    }
    if (rc != 0 && !c.failed)
        fprintf(stderr, "render_records: %s\n", err);
    json_decref(ids);
    cli_files_free(f);
    fprintf(stderr, "render_records: %llu records\n", c.n);
    return rc == 0 ? 0 : 1;
}
