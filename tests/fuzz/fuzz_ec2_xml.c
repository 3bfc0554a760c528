/* fuzz_ec2_xml: libFuzzer entry point for ec2_xml, fed and read the way the collector does.
 *
 * The first input byte picks the IPAM operation (its required key and record type) and the
 * chunk size; the rest is an EC2/STS Query answer (result pages, error documents, STS
 * credentials). It is parsed twice: in one piece and in chunks (as curl hands a body over),
 * and both parses must agree on success, items and meta data. A page that finishes is read
 * as ec2_ipam does (next token, request id, error code) and every item is mapped to a record
 * both from the nodes (ipam_map_item_xml_into, the collector's hot path) and from its JSON
 * (ipam_map_item of ec2_xml_item_json): the two must accept the same items and encode to the
 * same bytes. A failed parse must say why, naming the operation. The memory parser
 * (ec2_xml_parse_whole, the paged listings' path) must agree with the push parser, and a
 * nextToken sniffed from the raw bytes (ec2_xml_sniff_next_token) must be the one the parse
 * finds when the document holds one nextToken element.
 * Seed corpus: tests/fuzz/corpus/ec2_xml/ (answers of tests/aws/fake_aws.py and real EC2
 * error documents). */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "collector/ec2_xml.h"
#include "collector/ipam_map.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the collector asks for per operation: the element every item carries, the record
 * an item becomes and the id the record takes from the request. */
static const struct {
    const char *operation, *required;
    enum record_type type;
    const char *context;
} ops[] = {
    {"DescribeIpams", "ipamId", RECORD_IPAM, NULL},
    {"DescribeIpamScopes", "ipamScopeId", RECORD_SCOPE, NULL},
    {"DescribeIpamPools", "ipamPoolId", RECORD_POOL, NULL},
    {"GetIpamPoolCidrs", "ipamPoolCidrId", RECORD_POOL_CIDR, "ipam-pool-0123456789abcdef0"},
    {"GetIpamPoolAllocations", "ipamPoolAllocationId", RECORD_ALLOCATION,
     "ipam-pool-0123456789abcdef0"},
    {"GetIpamResourceCidrs", "resourceCidr", RECORD_RESOURCE_CIDR, "ipam-scope-0123456789abcdef0"},
    {"GetIpamDiscoveredAccounts", "accountId", RECORD_DISCOVERED_ACCOUNT,
     "ipam-res-disco-0123456789abcdef0"},
    {"AssumeRole", NULL, RECORD_NONE, NULL},
};
#define N_OPS (sizeof ops / sizeof ops[0])

static ec2_xml_t *parse(size_t op, const uint8_t *doc, size_t len, size_t chunk, int *rc, char *err,
                        size_t errlen)
{
    ec2_xml_t *x = ec2_xml_new(ops[op].operation, ops[op].required);
    int frc = 0;
    for (size_t off = 0; off < len && frc == 0; off += chunk)
        frc = ec2_xml_feed(x, (const char *)doc + off, len - off < chunk ? len - off : chunk);
    *rc = ec2_xml_finish(x, err, errlen);
    if ((frc != 0 && *rc == 0) || (*rc != 0 && *rc != -EBADMSG))
        abort();
    if (*rc != 0 && strncmp(err, ops[op].operation, strlen(ops[op].operation)) != 0)
        abort(); /* the reason names the call */
    return x;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Encodes a mapped record with a fixed envelope; NULL when it does not encode. */
static char *encode(struct record *rec, size_t *len)
{
    rec->ts_ms = 1741946537000;
    record_str_set(&rec->source, "fuzz");
    record_str_set(&rec->scope, "ipam-scope-0123456789abcdef0");
    char *out = NULL;
    if (record_encode(rec, &out, len) != 0)
        return NULL;
    return out;
}

/* The two mappings of every item agree. */
static void map_items(size_t op, ec2_xml_t *x)
{
    struct record *slot = NULL;
    for (size_t i = 0; i < ec2_xml_item_count(x); i++) {
        int node = ec2_xml_item_node(x, i);
        char err1[256] = "", err2[256] = "";
        int rc = ipam_map_item_xml_into(&slot, ops[op].type, x, node, ops[op].context, err1,
                                        sizeof err1);
        json_t *item = ec2_xml_item_json(x, node);
        struct record *ref = ipam_map_item(ops[op].type, item, ops[op].context, err2, sizeof err2);
        json_decref(item);
        if ((rc == 0) != (ref != NULL) || (rc != 0 && (!err1[0] || !err2[0])))
            abort();
        if (rc == 0) {
            size_t l1 = 0, l2 = 0;
            char *e1 = encode(slot, &l1), *e2 = encode(ref, &l2);
            if (!e1 != !e2 || (e1 && (l1 != l2 || memcmp(e1, e2, l1) != 0))) {
                fprintf(stderr, "nodes: %.*s\njson:  %.*s\n", (int)l1, e1 ? e1 : "", (int)l2,
                        e2 ? e2 : "");
                abort();
            }
            free(e1);
            free(e2);
        }
        record_free(ref);
    }
    record_free(slot);
}

/* How often "nextToken" occurs in the bytes. */
static size_t count_name(const uint8_t *doc, size_t len)
{
    static const char name[] = "nextToken";
    size_t n = 0;
    for (size_t i = 0; i + sizeof name - 1 <= len; i++)
        if (memcmp(doc + i, name, sizeof name - 1) == 0)
            n++;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t op = data[0] % N_OPS;
    size_t chunk = 1 + (data[0] >> 3) * 3; /* 1 .. 94 bytes */
    data++;
    size--;
    char err1[512] = "", err2[512] = "";
    int rc1, rc2;
    ec2_xml_t *whole = parse(op, data, size, size ? size : 1, &rc1, err1, sizeof err1);
    ec2_xml_t *parts = parse(op, data, size, chunk, &rc2, err2, sizeof err2);
    if (rc1 != rc2) {
        fprintf(stderr, "whole: %d %s\nchunks of %zu: %d %s\n", rc1, err1, chunk, rc2, err2);
        abort();
    }
    ec2_xml_t *mem = NULL;
    char err3[512] = "";
    int rc3 = ec2_xml_parse_whole(ops[op].operation, ops[op].required, (const char *)data, size,
                                  &mem, err3, sizeof err3);
    if (rc3 != rc1 || (rc3 != 0 && strncmp(err3, ops[op].operation, strlen(ops[op].operation)))) {
        fprintf(stderr, "push parser: %d %s\nmemory parser: %d %s\n", rc1, err1, rc3, err3);
        abort();
    }
    char *sniffed = NULL;
    int sn = ec2_xml_sniff_next_token((const char *)data, size, &sniffed);
    if (sn < 0 ? sn != -EAGAIN || sniffed : sn > 1 || (sn == 1) != (sniffed != NULL))
        abort();
    if (rc1 == 0) {
        if (!json_equal(ec2_xml_items(whole), ec2_xml_items(mem)) ||
            !same_str(ec2_xml_next_token(whole), ec2_xml_next_token(mem)) ||
            !same_str(ec2_xml_request_id(whole), ec2_xml_request_id(mem)) ||
            strcmp(ec2_xml_root(whole), ec2_xml_root(mem)) != 0 ||
            ec2_xml_is_error(whole) != ec2_xml_is_error(mem))
            abort();
        /* With more than one nextToken element the two may differ; the pipeline then follows
         * the parse. */
        if (sn == 1 && !ec2_xml_is_error(whole) && count_name(data, size) == 2 &&
            !same_str(sniffed, ec2_xml_next_token(whole))) {
            fprintf(stderr, "sniffed %s, parsed %s\n", sniffed,
                    ec2_xml_next_token(whole) ? ec2_xml_next_token(whole) : "(none)");
            abort();
        }
        if (!json_equal(ec2_xml_items(whole), ec2_xml_items(parts)) ||
            !same_str(ec2_xml_next_token(whole), ec2_xml_next_token(parts)) ||
            !same_str(ec2_xml_request_id(whole), ec2_xml_request_id(parts)) ||
            strcmp(ec2_xml_root(whole), ec2_xml_root(parts)) != 0 ||
            ec2_xml_is_error(whole) != ec2_xml_is_error(parts))
            abort();
        /* What aws_client and aws_creds read of an answer. */
        static const char *const meta[] = {
            "Code",         "Message",    "AccessKeyId", "SecretAccessKey",
            "SessionToken", "Expiration", NULL};
        for (int i = 0; meta[i]; i++)
            if (!same_str(ec2_xml_meta(whole, meta[i]), ec2_xml_meta(parts, meta[i])))
                abort();
        if (ops[op].type != RECORD_NONE && !ec2_xml_is_error(whole))
            map_items(op, parts);
        json_t *items = ec2_xml_take_items(whole);
        if (json_array_size(items) != ec2_xml_item_count(whole))
            abort();
        json_decref(items);
    }
    free(sniffed);
    ec2_xml_free(mem);
    ec2_xml_free(whole);
    ec2_xml_free(parts);
    return 0;
}
