/* aws_tool: runs one AWS operation (or the credential chain) and prints JSON lines.
 *
 * Usage: aws_tool [-r REGION] [-m MAX_RESULTS] [-a MAX_ATTEMPTS] [-R ROLE_ARN] [-x EXTERNAL_ID]
 *                 [-p PROFILE] [-e ENDPOINT_URL] [-t TIMEOUT_MS] [-v] COMMAND [ARGS]
 * Commands: creds | caller-identity | pass | lookup-events [ATTRIBUTE_KEY VALUE]
 *           | OPERATION [ID [DISCOVERY_REGION]] (e.g. describe-ipam-pools,
 *             get-ipam-pool-cidrs ipam-pool-..., get-ipam-discovered-accounts ID REGION)
 * Items go to stdout as {"op": ..., "item": {...}}; a last line {"summary": {...}} gives the
 * counts and the client's retry statistics. Credentials are printed as the source, the last
 * four characters of the key id and whether a session token is present, never the secrets.
 * Exit status: 0 success, 1 failure (one error line on stderr), 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "collector/aws_client.h"
#include "collector/aws_creds.h"
#include "collector/ec2_ipam.h"
#include "collector/ec2_xml.h"
#include "log.h"

struct out {
    const char *op;
    uint64_t items;
    json_t *keep; /* when set, items are also kept here */
};

static int print_item(void *ctx, json_t *item)
{
    struct out *o = ctx;
    json_t *line = json_pack("{s:s, s:O}", "op", o->op, "item", item);
    char *s = json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS);
    puts(s);
    free(s);
    json_decref(line);
    o->items++;
    if (o->keep)
        json_array_append(o->keep, item);
    return 0;
}

static int list(aws_client_t *c, enum ec2_ipam_op op, const char *region, const char *arg,
                const char *arg2, int max_results, json_t *keep, uint64_t *total, char *err,
                size_t errlen)
{
    struct out o = {.op = ec2_ipam_op_name(op), .keep = keep};
    struct ec2_ipam_stats st;
    int rc = ec2_ipam_list(c, op, region, arg, arg2, max_results, print_item, &o, &st, err, errlen);
    *total += o.items;
    return rc;
}

/* A whole inventory pass, in the order of the collector's poll plan. */
static int pass(aws_client_t *c, int max_results, uint64_t *total, char *err, size_t errlen)
{
    const char *home = aws_client_region(c);
    json_t *ipams = json_array(), *scopes = json_array(), *pools = json_array(),
           *discos = json_array();
    int rc = list(c, EC2_DESCRIBE_IPAMS, home, NULL, NULL, max_results, ipams, total, err, errlen);
    if (rc == 0)
        rc = list(c, EC2_DESCRIBE_IPAM_SCOPES, home, NULL, NULL, max_results, scopes, total, err,
                  errlen);
    if (rc == 0)
        rc = list(c, EC2_DESCRIBE_IPAM_POOLS, home, NULL, NULL, max_results, pools, total, err,
                  errlen);
    size_t i;
    json_t *it;
    json_array_foreach(pools, i, it)
    {
        const char *id = json_string_value(json_object_get(it, "ipamPoolId"));
        if (rc == 0)
            rc = list(c, EC2_GET_IPAM_POOL_CIDRS, home, id, NULL, max_results, NULL, total, err,
                      errlen);
        if (rc == 0)
            rc = list(c, EC2_GET_IPAM_POOL_ALLOCATIONS, ec2_ipam_pool_region(it, home), id, NULL,
                      max_results < 1000 ? 1000 : max_results, NULL, total, err, errlen);
    }
    json_array_foreach(scopes, i, it)
    {
        const char *id = json_string_value(json_object_get(it, "ipamScopeId"));
        if (rc == 0)
            rc = list(c, EC2_GET_IPAM_RESOURCE_CIDRS, home, id, NULL, max_results, NULL, total, err,
                      errlen);
    }
    if (rc == 0)
        rc = list(c, EC2_DESCRIBE_IPAM_RESOURCE_DISCOVERIES, home, NULL, NULL, max_results, discos,
                  total, err, errlen);
    json_array_foreach(discos, i, it)
    {
        const char *id = json_string_value(json_object_get(it, "ipamResourceDiscoveryId"));
        size_t j;
        json_t *r;
        json_array_foreach(json_object_get(it, "operatingRegionSet"), j, r)
        {
            const char *region = json_string_value(json_object_get(r, "regionName"));
            if (rc == 0 && region)
                rc = list(c, EC2_GET_IPAM_DISCOVERED_ACCOUNTS, home, id, region, max_results, NULL,
                          total, err, errlen);
        }
    }
    json_decref(ipams);
    json_decref(scopes);
    json_decref(pools);
    json_decref(discos);
    return rc;
}

static void usage(void)
{
    fprintf(stderr, "usage: aws_tool [-r REGION] [-m MAX] [-a ATTEMPTS] [-R ROLE_ARN] "
                    "[-x EXTERNAL_ID] [-p PROFILE] [-e URL] [-t TIMEOUT_MS] [-v] COMMAND "
                    "[ARGS]\n");
}

int main(int argc, char **argv)
{
    struct aws_settings s = {0};
    int max_results = 0, opt;
    enum log_level level = LOG_LEVEL_INFO;
    while ((opt = getopt(argc, argv, "r:m:a:R:x:p:e:t:v")) != -1) {
        switch (opt) {
        case 'r':
            s.region = optarg;
            break;
        case 'm':
            max_results = atoi(optarg);
            break;
        case 'a':
            s.max_attempts = atoi(optarg);
            break;
        case 'R':
            s.role_arn = optarg;
            break;
        case 'x':
            s.external_id = optarg;
            break;
        case 'p':
            s.profile = optarg;
            break;
        case 'e':
            s.endpoint_url = optarg;
            break;
        case 't':
            s.timeout_ms = atol(optarg);
            break;
        case 'v':
            level = LOG_LEVEL_DEBUG;
            break;
        default:
            usage();
            return 2;
        }
    }
    if (optind >= argc) {
        usage();
        return 2;
    }
    log_init("aws_tool", level, true, false);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *cmd = argv[optind];
    char err[1024] = "";
    int rc = 0;
    uint64_t total = 0;
    aws_creds_t *creds = aws_creds_new_chain(&s, err, sizeof err);
    aws_client_t *c = creds ? aws_client_new(&s, creds, err, sizeof err) : NULL;
    if (!c) {
        LOG_ERR("%s", err);
        aws_creds_free(creds);
        return 2;
    }
    enum ec2_ipam_op op;
    if (strcmp(cmd, "creds") == 0) {
        struct aws_credentials cr;
        rc = aws_creds_get(creds, &cr, err, sizeof err);
        if (rc == 0) {
            size_t n = strlen(cr.access_key_id);
            json_t *line =
                json_pack("{s:{s:s, s:s, s:b, s:I}}", "creds", "source", cr.source, "key_suffix",
                          n > 4 ? cr.access_key_id + n - 4 : "", "session",
                          cr.session_token != NULL, "expiration", (json_int_t)cr.expiration);
            char *text = json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS);
            puts(text);
            free(text);
            json_decref(line);
            aws_credentials_clear(&cr);
        }
    } else if (strcmp(cmd, "caller-identity") == 0) {
        struct aws_call call = {.service = "sts",
                                .operation = "GetCallerIdentity",
                                .body = "Action=GetCallerIdentity&Version=2011-06-15"};
        ec2_xml_t *x = NULL;
        rc = aws_client_query(c, &call, NULL, &x, err, sizeof err);
        if (rc == 0) {
            const char *acct = ec2_xml_meta(x, "Account"), *arn = ec2_xml_meta(x, "Arn");
            printf("{\"identity\":{\"account\":\"%s\",\"arn\":\"%s\"}}\n", acct ? acct : "",
                   arn ? arn : "");
        }
        ec2_xml_free(x);
    } else if (strcmp(cmd, "pass") == 0) {
        rc = pass(c, max_results, &total, err, sizeof err);
    } else if (strcmp(cmd, "lookup-events") == 0) {
        json_t *req = json_pack("{s:i}", "MaxResults", 50);
        if (optind + 2 < argc)
            json_object_set_new(req, "LookupAttributes",
                                json_pack("[{s:s, s:s}]", "AttributeKey", argv[optind + 1],
                                          "AttributeValue", argv[optind + 2]));
        char *body = json_dumps(req, JSON_COMPACT);
        json_decref(req);
        struct aws_call call = {.service = "cloudtrail", .operation = "LookupEvents", .body = body};
        json_t *doc = NULL;
        rc = aws_client_json(c, &call,
                             "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
                             &doc, err, sizeof err);
        if (rc == 0) {
            size_t i;
            json_t *ev;
            struct out o = {.op = "LookupEvents"};
            json_array_foreach(json_object_get(doc, "Events"), i, ev) print_item(&o, ev);
            total = o.items;
        }
        json_decref(doc);
        free(body);
    } else if (ec2_ipam_op_parse(cmd, &op) == 0) {
        const char *arg = optind + 1 < argc ? argv[optind + 1] : NULL;
        const char *arg2 = optind + 2 < argc ? argv[optind + 2] : NULL;
        rc = list(c, op, NULL, arg, arg2, max_results, NULL, &total, err, sizeof err);
    } else {
        usage();
        rc = -EINVAL;
        snprintf(err, sizeof err, "unknown command '%s'", cmd);
    }
    struct aws_client_stats st;
    aws_client_get_stats(c, &st);
    printf("{\"summary\":{\"ok\":%s,\"items\":%llu,\"requests\":%llu,\"retries\":%llu,"
           "\"throttled\":%llu,\"refreshes\":%llu,\"quota\":%d}}\n",
           rc == 0 ? "true" : "false", (unsigned long long)total, (unsigned long long)st.requests,
           (unsigned long long)st.retries, (unsigned long long)st.throttled,
           (unsigned long long)st.refreshes, st.quota_tokens);
    if (rc != 0)
        LOG_ERR("%s", err);
    aws_client_free(c);
    aws_creds_free(creds);
    curl_global_cleanup();
    return rc == 0 ? 0 : 1;
}
