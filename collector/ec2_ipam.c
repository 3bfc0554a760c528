/* ec2_ipam: the read-only IPAM operations of EC2, following every page. */
#include "collector/ec2_ipam.h"

#include <errno.h>
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

int ec2_ipam_list_nodes(aws_client_t *c, enum ec2_ipam_op op, const char *region,
                        const char *arg, const char *arg2, int max_results,
                        ec2_ipam_node_cb on_node, void *ctx, struct ec2_ipam_stats *stats,
                        char *err, size_t errlen)
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
    char *token = NULL;
    int rc = 0;
    unsigned pages = 0;
    uint64_t items = 0;
    for (;;) {
        char *body = NULL;
        size_t len = 0, cap = 0;
        param(&body, &len, &cap, "Action", oi->action);
        param(&body, &len, &cap, "Version", "2016-11-15");
        if (oi->arg_param)
            param(&body, &len, &cap, oi->arg_param, arg);
        if (oi->arg2_param)
            param(&body, &len, &cap, oi->arg2_param, arg2);
        param(&body, &len, &cap, "MaxResults", maxr);
        if (token)
            param(&body, &len, &cap, "NextToken", token);
        struct aws_call call = {
            .service = "ec2", .region = region, .operation = oi->action, .body = body};
        ec2_xml_t *x = NULL;
        rc = aws_client_query(c, &call, oi->required, &x, err, errlen);
        free(body);
        if (rc < 0)
            break;
        pages++;
        size_t n = ec2_xml_item_count(x);
        for (size_t i = 0; i < n; i++) {
            items++;
            rc = on_node(ctx, x, ec2_xml_item_node(x, i));
            if (rc != 0)
                break;
        }
        const char *next = ec2_xml_next_token(x);
        if (rc == 0 && next && token && strcmp(next, token) == 0) {
            snprintf(err, errlen, "ec2 %s: the same nextToken twice (request id %s)", oi->action,
                     ec2_xml_request_id(x) ? ec2_xml_request_id(x) : "none");
            rc = -EPROTO;
        }
        free(token);
        token = next && rc == 0 ? xstrdup(next) : NULL;
        ec2_xml_free(x);
        if (rc != 0 || !token)
            break;
    }
    free(token);
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
    return ec2_ipam_list_nodes(c, op, region, arg, arg2, max_results, item_as_json, &a, stats,
                               err, errlen);
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
