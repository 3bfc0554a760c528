/* ec2_ipam: the read-only IPAM operations of EC2, following every page. */
#include "collector/ec2_ipam.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/ec2_xml.h"
#include "xalloc.h"

struct op_info {
    const char *action;
    const char *cli;
    const char *arg_param;  /* request parameter carrying `arg`, or NULL */
    const char *arg2_param; /* request parameter carrying `arg2`, or NULL */
    const char *required;   /* element every item carries */
    int min_results, max_results;
};

static const struct op_info ops[EC2_IPAM_OP_COUNT] = {
    [EC2_DESCRIBE_IPAMS] = {"DescribeIpams", "describe-ipams", NULL, NULL, "ipamId", 5, 1000},
    [EC2_DESCRIBE_IPAM_SCOPES] = {"DescribeIpamScopes", "describe-ipam-scopes", NULL, NULL,
                                  "ipamScopeId", 5, 1000},
    [EC2_DESCRIBE_IPAM_POOLS] = {"DescribeIpamPools", "describe-ipam-pools", NULL, NULL,
                                 "ipamPoolId", 5, 1000},
    [EC2_GET_IPAM_POOL_CIDRS] = {"GetIpamPoolCidrs", "get-ipam-pool-cidrs", "IpamPoolId", NULL,
                                 "ipamPoolCidrId", 5, 1000},
    [EC2_GET_IPAM_POOL_ALLOCATIONS] = {"GetIpamPoolAllocations", "get-ipam-pool-allocations",
                                       "IpamPoolId", NULL, "ipamPoolAllocationId", 1000, 100000},
    [EC2_GET_IPAM_RESOURCE_CIDRS] = {"GetIpamResourceCidrs", "get-ipam-resource-cidrs",
                                     "IpamScopeId", NULL, "resourceCidr", 5, 1000},
    [EC2_DESCRIBE_IPAM_RESOURCE_DISCOVERIES] = {"DescribeIpamResourceDiscoveries",
                                                "describe-ipam-resource-discoveries", NULL, NULL,
                                                "ipamResourceDiscoveryId", 5, 1000},
    [EC2_GET_IPAM_DISCOVERED_ACCOUNTS] = {"GetIpamDiscoveredAccounts",
                                          "get-ipam-discovered-accounts", "IpamResourceDiscoveryId",
                                          "DiscoveryRegion", "accountId", 5, 1000},
};

const char *ec2_ipam_op_name(enum ec2_ipam_op op)
{
    return (unsigned)op < EC2_IPAM_OP_COUNT ? ops[op].action : NULL;
}

int ec2_ipam_op_parse(const char *name, enum ec2_ipam_op *op)
{
    for (int i = 0; i < EC2_IPAM_OP_COUNT; i++) {
        if (strcmp(name, ops[i].action) == 0 || strcmp(name, ops[i].cli) == 0) {
            *op = (enum ec2_ipam_op)i;
            return 0;
        }
    }
    return -ENOENT;
}

/* Appends "&key=value" (value percent-encoded, RFC 3986 unreserved kept) to a body. */
static void param(char **body, size_t *len, size_t *cap, const char *key, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t need = *len + strlen(key) + 3 * strlen(value) + 3;
    if (need > *cap)
        *body = xgrow(*body, cap, need, 1);
    char *o = *body + *len;
    if (*len)
        *o++ = '&';
    size_t kl = strlen(key);
    memcpy(o, key, kl);
    o += kl;
    *o++ = '=';
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        unsigned char ch = *p;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            *o++ = (char)ch;
        } else {
            *o++ = '%';
            *o++ = hex[ch >> 4];
            *o++ = hex[ch & 15];
        }
    }
    *o = '\0';
    *len = (size_t)(o - *body);
}

static bool valid_id(const char *s)
{
    if (!s || !*s || strlen(s) > 256)
        return false;
    for (; *s; s++)
        if (*s <= ' ' || *s == '&' || *s == '=')
            return false;
    return true;
}

/* One page request, run on a helper thread while the caller works through the previous
 * page (the client is thread-safe; only one request of a listing is in flight). */
struct fetch {
    aws_client_t *c;
    const struct op_info *oi;
    const char *region, *arg, *arg2, *maxr;
    char *token; /* NextToken of this page, NULL for the first; owned */
    ec2_xml_t *x;
    int rc;
    char err[512];
};

static void *fetch_page(void *arg)
{
    struct fetch *f = arg;
    const struct op_info *oi = f->oi;
    char *body = NULL;
    size_t len = 0, cap = 0;
    param(&body, &len, &cap, "Action", oi->action);
    param(&body, &len, &cap, "Version", "2016-11-15");
    if (oi->arg_param)
        param(&body, &len, &cap, oi->arg_param, f->arg);
    if (oi->arg2_param)
        param(&body, &len, &cap, oi->arg2_param, f->arg2);
    param(&body, &len, &cap, "MaxResults", f->maxr);
    if (f->token)
        param(&body, &len, &cap, "NextToken", f->token);
    struct aws_call call = {
        .service = "ec2", .region = f->region, .operation = oi->action, .body = body};
    f->x = NULL;
    f->err[0] = '\0';
    f->rc = aws_client_query(f->c, &call, oi->required, &f->x, f->err, sizeof f->err);
    free(body);
    return NULL;
}

int ec2_ipam_list_nodes(aws_client_t *c, enum ec2_ipam_op op, const char *region, const char *arg,
                        const char *arg2, int max_results, ec2_ipam_node_cb on_node, void *ctx,
                        struct ec2_ipam_stats *stats, char *err, size_t errlen)
{
    if ((unsigned)op >= EC2_IPAM_OP_COUNT) {
        snprintf(err, errlen, "ec2: unknown IPAM operation %d", (int)op);
        return -EINVAL;
    }
    const struct op_info *oi = &ops[op];
    if (oi->arg_param && !valid_id(arg)) {
        snprintf(err, errlen, "ec2 %s: %s missing or malformed", oi->action, oi->arg_param);
        return -EINVAL;
    }
    if (oi->arg2_param && !valid_id(arg2)) {
        snprintf(err, errlen, "ec2 %s: %s missing or malformed", oi->action, oi->arg2_param);
        return -EINVAL;
    }
    if (max_results == 0)
        max_results = 1000;
    if (max_results < oi->min_results || max_results > oi->max_results) {
        snprintf(err, errlen, "ec2 %s: MaxResults %d outside %d..%d", oi->action, max_results,
                 oi->min_results, oi->max_results);
        return -EINVAL;
    }
    char maxr[16];
    snprintf(maxr, sizeof maxr, "%d", max_results);
    /* Two page slots: the page being handed out and the next one being fetched. */
    struct fetch slots[2];
    for (int i = 0; i < 2; i++)
        slots[i] = (struct fetch){
            .c = c, .oi = oi, .region = region, .arg = arg, .arg2 = arg2, .maxr = maxr};
    struct fetch *cur = &slots[0], *next = &slots[1];
    fetch_page(cur);
    int rc = 0;
    unsigned pages = 0;
    uint64_t items = 0;
    for (;;) {
        if (cur->rc < 0) {
            rc = cur->rc;
            snprintf(err, errlen, "%s", cur->err);
            break;
        }
        pages++;
        ec2_xml_t *x = cur->x;
        const char *tok = ec2_xml_next_token(x);
        bool repeated = tok && cur->token && strcmp(tok, cur->token) == 0;
        /* Ask for the next page now: the endpoint prepares it while this one is handed
         * out. A thread that cannot be started just means fetching it afterwards. */
        bool prefetch = false;
        pthread_t tid;
        free(next->token);
        next->token = tok && !repeated ? xstrdup(tok) : NULL;
        if (next->token)
            prefetch = pthread_create(&tid, NULL, fetch_page, next) == 0;
        size_t n = ec2_xml_item_count(x);
        for (size_t i = 0; i < n; i++) {
            items++;
            rc = on_node(ctx, x, ec2_xml_item_node(x, i));
            if (rc != 0)
                break;
        }
        if (rc == 0 && repeated) {
            snprintf(err, errlen, "ec2 %s: the same nextToken twice (request id %s)", oi->action,
                     ec2_xml_request_id(x) ? ec2_xml_request_id(x) : "none");
            rc = -EPROTO;
        }
        ec2_xml_free(x);
        cur->x = NULL;
        if (prefetch)
            pthread_join(tid, NULL);
        else if (rc == 0 && next->token)
            fetch_page(next);
        if (rc != 0 || !next->token) {
            ec2_xml_free(next->x); /* a page fetched ahead and not needed */
            next->x = NULL;
            break;
        }
        struct fetch *t = cur;
        cur = next;
        next = t;
    }
    for (int i = 0; i < 2; i++) {
        ec2_xml_free(slots[i].x);
        free(slots[i].token);
    }
    if (stats) {
        stats->pages = pages;
        stats->items = items;
    }
    return rc;
}

struct json_adapter {
    ec2_ipam_item_cb on_item;
    void *ctx;
};

static int item_as_json(void *ctx, const ec2_xml_t *x, int node)
{
    struct json_adapter *a = ctx;
    json_t *item = ec2_xml_item_json(x, node);
    int rc = a->on_item(a->ctx, item);
    json_decref(item);
    return rc;
}

int ec2_ipam_list(aws_client_t *c, enum ec2_ipam_op op, const char *region, const char *arg,
                  const char *arg2, int max_results, ec2_ipam_item_cb on_item, void *ctx,
                  struct ec2_ipam_stats *stats, char *err, size_t errlen)
{
    struct json_adapter a = {on_item, ctx};
    return ec2_ipam_list_nodes(c, op, region, arg, arg2, max_results, item_as_json, &a, stats, err,
                               errlen);
}

const char *ec2_ipam_pool_region(json_t *pool, const char *home_region)
{
    const char *locale = json_string_value(json_object_get(pool, "locale"));
    if (!locale || !*locale || strcmp(locale, "None") == 0)
        return home_region;
    return locale;
}

const char *ec2_ipam_arn_id(const char *arn)
{
    const char *slash = arn ? strrchr(arn, '/') : NULL;
    return slash && slash[1] ? slash + 1 : NULL;
}
