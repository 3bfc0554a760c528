/* fuzz_cli_files: libFuzzer entry point for cli_files, the aws CLI JSON inventory files.
 *
 * The first input byte picks the listing (describe-ipams ... get-ipam-discovered-accounts);
 * the rest becomes that file in a scratch folder laid out as `collect --from-files` expects
 * (describe-ipams.json is the input itself or an empty listing). The source is opened and
 * listed as the inventory pass does, and every item is mapped to its record
 * (ipam_map_item), which must validate, encode and decode. A file holding a NextToken (one
 * page of a listing) must be refused; every refusal names the file.
 * Seed corpus: tests/fuzz/corpus/cli_files/ (files of tests/data/aws/org-small). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "collector/cli_files.h"
#include "collector/ipam_map.h"
#include "tests/fuzz/fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Per listing (in enum ec2_ipam_op order): the file under the scratch folder and the record
 * its items become (RECORD_NONE: read for discovery ids only). */
static const struct {
    enum ec2_ipam_op op;
    const char *file;
    enum record_type type;
    const char *context;
} lists[] = {
    {EC2_DESCRIBE_IPAMS, "describe-ipams.json", RECORD_IPAM, NULL},
    {EC2_DESCRIBE_IPAM_SCOPES, "describe-ipam-scopes.json", RECORD_SCOPE, NULL},
    {EC2_DESCRIBE_IPAM_POOLS, "describe-ipam-pools.json", RECORD_POOL, NULL},
    {EC2_GET_IPAM_POOL_CIDRS, "get-ipam-pool-cidrs/ipam-pool-fuzz.json", RECORD_POOL_CIDR,
     "ipam-pool-fuzz"},
    {EC2_GET_IPAM_POOL_ALLOCATIONS, "get-ipam-pool-allocations/ipam-pool-fuzz.json",
     RECORD_ALLOCATION, "ipam-pool-fuzz"},
    {EC2_GET_IPAM_RESOURCE_CIDRS, "get-ipam-resource-cidrs/ipam-pool-fuzz.json",
     RECORD_RESOURCE_CIDR, "ipam-pool-fuzz"},
    {EC2_DESCRIBE_IPAM_RESOURCE_DISCOVERIES, "describe-ipam-resource-discoveries.json", RECORD_NONE,
     NULL},
    {EC2_GET_IPAM_DISCOVERED_ACCOUNTS, "get-ipam-discovered-accounts/ipam-pool-fuzz.json",
     RECORD_DISCOVERED_ACCOUNT, "ipam-pool-fuzz"},
};
#define N_LISTS (sizeof lists / sizeof lists[0])

struct ctx {
    size_t list;
    size_t items;
};

static int on_item(void *arg, json_t *item)
{
    struct ctx *c = arg;
    c->items++;
    if (lists[c->list].type == RECORD_NONE) {
        (void)ipam_map_str(item, "ipamResourceDiscoveryId");
        (void)ipam_map_get(item, "operatingRegionSet");
        return 0;
    }
    char err[256] = "";
    struct record *rec =
        ipam_map_item(lists[c->list].type, item, lists[c->list].context, err, sizeof err);
    if (!rec) {
        if (!err[0])
            abort();
        return 0;
    }
    record_str_set(&rec->source, "fuzz");
    record_str_set(&rec->scope, "ipam-scope-fuzz");
    fuzz_check_record(rec);
    record_free(rec);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[128];
    char path[256], err[1024] = "";
    if (size < 1)
        return 0;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s", fuzz_scratch_dir());
        static const char *const subdirs[] = {"get-ipam-pool-cidrs", "get-ipam-pool-allocations",
                                              "get-ipam-resource-cidrs",
                                              "get-ipam-discovered-accounts"};
        for (size_t i = 0; i < 4; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, subdirs[i]);
            if (mkdir(path, 0700) != 0 && errno != EEXIST)
                abort();
        }
    }
    size_t list = data[0] % N_LISTS;
    data++;
    size--;
    snprintf(path, sizeof path, "%s/describe-ipams.json", dir);
    if (list != 0)
        fuzz_write_file(path, "{\"Ipams\": []}", 13, 0);
    snprintf(path, sizeof path, "%s/%s", dir, lists[list].file);
    fuzz_write_file(path, data, size, 0);

    cli_files_t *f = cli_files_new(dir, err, sizeof err);
    if (!f)
        abort(); /* describe-ipams.json exists: the source opens whatever it holds */
    struct inventory_source src;
    cli_files_source(f, &src);
    if (!src.home_region || !src.home_region[0])
        abort();
    struct ctx c = {list, 0};
    int rc = cli_files_list(f, lists[list].op, "eu-central-1", "ipam-pool-fuzz", "eu-central-1",
                            on_item, &c, err, sizeof err);
    if (rc != 0) {
        if (rc != -EINVAL || strncmp(err, path, strlen(path)) != 0) {
            fprintf(stderr, "rc %d: %s\n", rc, err);
            abort();
        }
    } else {
        /* A listing that was accepted held no page token. */
        json_t *doc = json_loadb((const char *)data, size, 0, NULL);
        const char *next = json_string_value(json_object_get(doc, "NextToken"));
        if (next && *next)
            abort();
        json_decref(doc);
    }
    cli_files_free(f);
    return 0;
}
