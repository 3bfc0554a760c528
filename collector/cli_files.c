/* cli_files: an inventory source over the JSON files the aws CLI prints. */
#define LOG_MODULE "cli_files"
#include "collector/cli_files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "collector/ipam_map.h"
#include "log.h"
#include "xalloc.h"

struct cli_files {
    char *dir;
    char home_region[64];
    char name[512];
};

/* File name, top-level member and whether a missing file is an empty listing. */
static const struct {
    enum ec2_ipam_op op;
    const char *file; /* with %s for the per-object calls */
    const char *member;
    bool optional;
} files[] = {
    {EC2_DESCRIBE_IPAMS, "describe-ipams.json", "Ipams", false},
    {EC2_DESCRIBE_IPAM_SCOPES, "describe-ipam-scopes.json", "IpamScopes", false},
    {EC2_DESCRIBE_IPAM_POOLS, "describe-ipam-pools.json", "IpamPools", false},
    {EC2_GET_IPAM_POOL_CIDRS, "get-ipam-pool-cidrs/%s.json", "IpamPoolCidrs", false},
    {EC2_GET_IPAM_POOL_ALLOCATIONS, "get-ipam-pool-allocations/%s.json", "IpamPoolAllocations",
     false},
    {EC2_GET_IPAM_RESOURCE_CIDRS, "get-ipam-resource-cidrs/%s.json", "IpamResourceCidrs", false},
    {EC2_DESCRIBE_IPAM_RESOURCE_DISCOVERIES, "describe-ipam-resource-discoveries.json",
     "IpamResourceDiscoveries", true},
    {EC2_GET_IPAM_DISCOVERED_ACCOUNTS, "get-ipam-discovered-accounts/%s.json",
     "IpamDiscoveredAccounts", true},
};

static bool is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

cli_files_t *cli_files_new(const char *dir, char *err, size_t errlen)
{
    char path[4096];
    const char *root = NULL;
    snprintf(path, sizeof path, "%s/inventory/describe-ipams.json", dir);
    if (is_file(path)) {
        root = "inventory";
    } else {
        snprintf(path, sizeof path, "%s/describe-ipams.json", dir);
        if (!is_file(path)) {
            snprintf(err, errlen,
                     "%s: no describe-ipams.json (the output of `aws ec2 describe-ipams`) in it "
                     "or in its inventory/ folder",
                     dir);
            return NULL;
        }
    }
    cli_files_t *f = xcalloc(1, sizeof *f);
    f->dir = root ? xasprintf("%s/%s", dir, root) : xstrdup(dir);
    snprintf(f->home_region, sizeof f->home_region, "unknown");
    snprintf(f->name, sizeof f->name, "files %s", f->dir);

    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    json_t *first = json_array_get(json_object_get(doc, "Ipams"), 0);
    const char *region = ipam_map_str(first, "ipamRegion");
    if (region && strlen(region) < sizeof f->home_region)
        snprintf(f->home_region, sizeof f->home_region, "%s", region);
    json_decref(doc);
    return f;
}

void cli_files_free(cli_files_t *f)
{
    if (!f)
        return;
    free(f->dir);
    free(f);
}

void cli_files_source(cli_files_t *f, struct inventory_source *src)
{
    src->list = cli_files_list;
    src->ctx = f;
    src->home_region = f->home_region;
    src->name = f->name;
}

static bool safe_component(const char *s)
{
    if (!s || !*s || s[0] == '.')
        return false;
    for (; *s; s++)
        if (*s == '/' || *s == '\\')
            return false;
    return true;
}

int cli_files_list(void *ctx, enum ec2_ipam_op op, const char *region, const char *arg,
                   const char *arg2, ec2_ipam_item_cb on_item, void *cb_ctx, char *err,
                   size_t errlen)
{
    cli_files_t *f = ctx;
    size_t k = 0;
    while (k < sizeof files / sizeof files[0] && files[k].op != op)
        k++;
    if (k == sizeof files / sizeof files[0]) {
        snprintf(err, errlen, "files: operation %d has no file", (int)op);
        return -EINVAL;
    }
    char rel[600];
    const char *slot = strstr(files[k].file, "%s");
    if (slot) {
        if (!safe_component(arg)) {
            snprintf(err, errlen, "files: %s needs a plain id, got '%s'",
                     ec2_ipam_op_name(op), arg ? arg : "");
            return -EINVAL;
        }
        snprintf(rel, sizeof rel, "%.*s%s%s", (int)(slot - files[k].file), files[k].file, arg,
                 slot + 2);
    } else {
        snprintf(rel, sizeof rel, "%s", files[k].file);
    }
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", f->dir, rel);
    if (n < 0 || (size_t)n >= sizeof path) {
        snprintf(err, errlen, "files: path too long under %s", f->dir);
        return -ENAMETOOLONG;
    }
    if (!is_file(path)) {
        if (files[k].optional)
            return 0;
        snprintf(err, errlen, "%s: missing (save the output of `aws ec2 %s` there)", path,
                 rel);
        return -ENOENT;
    }
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        snprintf(err, errlen, "%s: line %d column %d: %s", path, jerr.line, jerr.column,
                 jerr.text);
        return -EINVAL;
    }
    int rc = 0;
    json_t *items = json_object_get(doc, files[k].member);
    if (!json_is_object(doc) || !json_is_array(items)) {
        snprintf(err, errlen, "%s: not the output of %s (no \"%s\" list)", path,
                 ec2_ipam_op_name(op), files[k].member);
        rc = -EINVAL;
        goto out;
    }
    const char *next = json_string_value(json_object_get(doc, "NextToken"));
    if (next && *next) {
        snprintf(err, errlen,
                 "%s: holds only one page (NextToken present); save the full listing "
                 "without --max-items/--no-paginate",
                 path);
        rc = -EINVAL;
        goto out;
    }
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        /* One file may hold every Region's discovered accounts. */
        if (op == EC2_GET_IPAM_DISCOVERED_ACCOUNTS && arg2) {
            const char *r = ipam_map_str(item, "discoveryRegion");
            if (r && strcmp(r, arg2) != 0)
                continue;
        }
        rc = on_item(cb_ctx, item);
        if (rc != 0)
            break;
    }
out:
    json_decref(doc);
    (void)region;
    return rc;
}
