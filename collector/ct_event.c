/* ct_event: normalises one CloudTrail event (LookupEvents item or archive record) into a record.
 *
 * DESIGN: what is read where is data, not code: every field is found through a list of
 * lookup paths ("r:vpc.vpcId q:VpcId") tried in order, r: in the response, q: in the
 * request. Each path step unwraps the XML->JSON leftovers ({"items": [...]}, {"item": ...},
 * a list where one element was expected) and tries the name as written and with the case of
 * its first letter flipped, so PascalCase request members of newer actions and lowerCamel
 * members of older ones share one path. The request and response roots descend into
 * "<Action>Request" / "<Action>Response" when the action nests its members there. Values
 * are accepted as strings or numbers either way round and dropped (not refused) when they
 * exceed the record's limits, so one odd member never costs the whole event.
 */
#include "collector/ct_event.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

/* Limits of the record fields (docs/records.md), enforced here so that an odd value is
 * dropped instead of making the whole record fail validation. */
#define CT_ID_MAX    200
#define CT_SHORT_MAX 64
#define CT_ARN_MAX   2048

/* How to find what an action created or changed. `resource` lists lookup paths for
 * resource_id ("" = the action concerns no single resource beyond its pool/CIDR);
 * `host_cidr` means the CIDR is a single address (an Elastic IP) given without a length. */
struct ct_spec {
    const char *name;
    const char *resource;
    bool host_cidr;
    bool relevant; /* listed in ct_event_names */
};

#define RES_IPAM      "r:ipam.ipamId q:IpamId"
#define RES_SCOPE     "r:ipamScope.ipamScopeId q:IpamScopeId"
#define RES_DISCOVERY "r:ipamResourceDiscovery.ipamResourceDiscoveryId q:IpamResourceDiscoveryId"
#define RES_DISC_ASSOC                                                                             \
    "r:ipamResourceDiscoveryAssociation.ipamResourceDiscoveryAssociationId "                       \
    "q:IpamResourceDiscoveryAssociationId"
#define RES_POLICY "r:ipamPolicy.ipamPolicyId q:IpamPolicyId"
#define RES_ASN    "q:Asn r:byoasn.asn r:asnAssociation.asn"
#define RES_ALLOC  "r:ipamPoolAllocation.resourceId"

static const struct ct_spec specs[] = {
    /* IPAM pool space */
    {"AllocateIpamPoolCidr", RES_ALLOC, false, true},
    {"ReleaseIpamPoolAllocation", "", false, true},
    {"ModifyIpamPoolAllocation", RES_ALLOC, false, true},
    {"ProvisionIpamPoolCidr", "", false, true},
    {"DeprovisionIpamPoolCidr", "", false, true},
    {"MoveByoipCidrToIpam", "", false, true},
    /* Pool lifecycle (pool_id names the pool) */
    {"CreateIpamPool", "", false, true},
    {"ModifyIpamPool", "", false, true},
    {"DeleteIpamPool", "", false, true},
    /* Monitoring state */
    {"ModifyIpamResourceCidr", "q:ResourceId r:ipamResourceCidr.resourceId", false, true},
    /* IPAM and scopes */
    {"CreateIpam", RES_IPAM, false, true},
    {"ModifyIpam", RES_IPAM, false, true},
    {"DeleteIpam", RES_IPAM, false, true},
    {"CreateIpamScope", RES_SCOPE, false, true},
    {"ModifyIpamScope", RES_SCOPE, false, true},
    {"DeleteIpamScope", RES_SCOPE, false, true},
    /* Discovery and organisation */
    {"CreateIpamResourceDiscovery", RES_DISCOVERY, false, true},
    {"ModifyIpamResourceDiscovery", RES_DISCOVERY, false, true},
    {"DeleteIpamResourceDiscovery", RES_DISCOVERY, false, true},
    {"AssociateIpamResourceDiscovery", RES_DISC_ASSOC, false, true},
    {"DisassociateIpamResourceDiscovery", RES_DISC_ASSOC, false, true},
    {"EnableIpamOrganizationAdminAccount", "q:DelegatedAdminAccountId", false, true},
    {"DisableIpamOrganizationAdminAccount", "q:DelegatedAdminAccountId", false, true},
    /* Less common IPAM actions */
    {"ProvisionIpamByoasn", RES_ASN, false, true},
    {"DeprovisionIpamByoasn", RES_ASN, false, true},
    {"AssociateIpamByoasn", RES_ASN, false, true},
    {"DisassociateIpamByoasn", RES_ASN, false, true},
    {"CreateIpamPolicy", RES_POLICY, false, true},
    {"ModifyIpamPolicyAllocationRules", RES_POLICY, false, true},
    {"EnableIpamPolicy", RES_POLICY, false, true},
    {"DisableIpamPolicy", RES_POLICY, false, true},
    {"DeleteIpamPolicy", RES_POLICY, false, true},
    /* VPCs */
    {"CreateVpc", "r:vpc.vpcId", false, true},
    {"CreateDefaultVpc", "r:vpc.vpcId", false, true},
    {"DeleteVpc", "q:VpcId", false, true},
    {"AssociateVpcCidrBlock", "r:vpcId q:VpcId", false, true},
    {"DisassociateVpcCidrBlock", "r:vpcId q:VpcId", false, true},
    /* Subnets */
    {"CreateSubnet", "r:subnet.subnetId", false, true},
    {"CreateDefaultSubnet", "r:subnet.subnetId", false, true},
    {"DeleteSubnet", "q:SubnetId", false, true},
    {"AssociateSubnetCidrBlock", "r:subnetId q:SubnetId", false, true},
    {"DisassociateSubnetCidrBlock", "r:subnetId q:SubnetId", false, true},
    {"CreateSubnetCidrReservation", "r:subnetCidrReservation.subnetCidrReservationId", false, true},
    {"DeleteSubnetCidrReservation",
     "q:SubnetCidrReservationId r:deletedSubnetCidrReservation.subnetCidrReservationId", false,
     true},
    /* Elastic IPs, public IPv4 pools, BYOIP */
    {"AllocateAddress", "r:allocationId", true, true},
    {"ReleaseAddress", "q:AllocationId q:PublicIp", true, true},
    {"CreatePublicIpv4Pool", "r:poolId", false, true},
    {"DeletePublicIpv4Pool", "q:PoolId", false, true},
    {"ProvisionPublicIpv4PoolCidr", "q:PoolId r:poolId", false, true},
    {"DeprovisionPublicIpv4PoolCidr", "q:PoolId r:poolId", false, true},
    {"ProvisionByoipCidr", "", false, true},
    {"DeprovisionByoipCidr", "", false, true},
    {"AdvertiseByoipCidr", "", false, true},
    {"WithdrawByoipCidr", "", false, true},
    /* Subnet fill: normalised when given, but not polled or kept from archives (chatty). */
    {"CreateNetworkInterface", "r:networkInterface.networkInterfaceId", false, false},
    {"DeleteNetworkInterface", "q:NetworkInterfaceId", false, false},
    {"AssignPrivateIpAddresses", "q:NetworkInterfaceId r:networkInterfaceId", false, false},
    {"UnassignPrivateIpAddresses", "q:NetworkInterfaceId", false, false},
    {"AssignIpv6Addresses", "q:NetworkInterfaceId r:networkInterfaceId", false, false},
    {"UnassignIpv6Addresses", "q:NetworkInterfaceId r:networkInterfaceId", false, false},
};

/* Keep in the order of `specs`; relevant entries only. */
const char *const ct_event_names[] = {
    "AllocateIpamPoolCidr",
    "ReleaseIpamPoolAllocation",
    "ModifyIpamPoolAllocation",
    "ProvisionIpamPoolCidr",
    "DeprovisionIpamPoolCidr",
    "MoveByoipCidrToIpam",
    "CreateIpamPool",
    "ModifyIpamPool",
    "DeleteIpamPool",
    "ModifyIpamResourceCidr",
    "CreateIpam",
    "ModifyIpam",
    "DeleteIpam",
    "CreateIpamScope",
    "ModifyIpamScope",
    "DeleteIpamScope",
    "CreateIpamResourceDiscovery",
    "ModifyIpamResourceDiscovery",
    "DeleteIpamResourceDiscovery",
    "AssociateIpamResourceDiscovery",
    "DisassociateIpamResourceDiscovery",
    "EnableIpamOrganizationAdminAccount",
    "DisableIpamOrganizationAdminAccount",
    "ProvisionIpamByoasn",
    "DeprovisionIpamByoasn",
    "AssociateIpamByoasn",
    "DisassociateIpamByoasn",
    "CreateIpamPolicy",
    "ModifyIpamPolicyAllocationRules",
    "EnableIpamPolicy",
    "DisableIpamPolicy",
    "DeleteIpamPolicy",
    "CreateVpc",
    "CreateDefaultVpc",
    "DeleteVpc",
    "AssociateVpcCidrBlock",
    "DisassociateVpcCidrBlock",
    "CreateSubnet",
    "CreateDefaultSubnet",
    "DeleteSubnet",
    "AssociateSubnetCidrBlock",
    "DisassociateSubnetCidrBlock",
    "CreateSubnetCidrReservation",
    "DeleteSubnetCidrReservation",
    "AllocateAddress",
    "ReleaseAddress",
    "CreatePublicIpv4Pool",
    "DeletePublicIpv4Pool",
    "ProvisionPublicIpv4PoolCidr",
    "DeprovisionPublicIpv4PoolCidr",
    "ProvisionByoipCidr",
    "DeprovisionByoipCidr",
    "AdvertiseByoipCidr",
    "WithdrawByoipCidr",
    NULL,
};

/* Paths shared by every action; the first that yields a usable value wins. */
static const char pool_paths[] = "q:IpamPoolId q:Ipv4IpamPoolId q:Ipv6IpamPoolId "
                                 "r:ipamPool.ipamPoolId r:ipamResourceCidr.ipamPoolId "
                                 "r:ipamPoolAllocation.ipamPoolId r:ipamPoolCidr.ipamPoolId";
static const char allocation_paths[] =
    "r:ipamPoolAllocation.ipamPoolAllocationId q:IpamPoolAllocationId";
static const char cidr_paths[] =
    "r:ipamPoolAllocation.cidr r:ipamPoolCidr.cidr r:byoipCidr.cidr "
    "r:ipamResourceCidr.resourceCidr r:subnetCidrReservation.cidr "
    "r:deletedSubnetCidrReservation.cidr r:vpc.cidrBlock "
    "r:vpc.ipv6CidrBlockAssociationSet.ipv6CidrBlock r:subnet.cidrBlock "
    "r:subnet.ipv6CidrBlockAssociationSet.ipv6CidrBlock r:cidrBlockAssociation.cidrBlock "
    "r:ipv6CidrBlockAssociation.ipv6CidrBlock q:Cidr q:CidrBlock q:Ipv6CidrBlock q:ResourceCidr";
static const char host_cidr_paths[] = "r:publicIp q:PublicIp";
static const char netmask_paths[] =
    "q:NetmaskLength q:Ipv4NetmaskLength q:Ipv6NetmaskLength r:ipamPoolCidr.netmaskLength";
static const char vpc_paths[] = "r:vpc.vpcId r:subnet.vpcId r:vpcId q:VpcId "
                                "r:ipamResourceCidr.vpcId r:networkInterface.vpcId";

static const struct ct_spec *spec_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if (strcmp(specs[i].name, name) == 0)
            return &specs[i];
    return NULL;
}

bool ct_event_is_relevant(const char *event_name)
{
    const struct ct_spec *s = spec_find(event_name);
    return s && s->relevant;
}

/* Strips the XML->JSON wrappers: {"items": x} and {"item": x} become x, a list becomes its
 * first element (NULL when empty). Returns a borrowed value or NULL. */
static json_t *unwrap(json_t *v)
{
    for (int guard = 0; v && guard < 16; guard++) {
        if (json_is_array(v)) {
            v = json_array_size(v) ? json_array_get(v, 0) : NULL;
        } else if (json_is_object(v) && json_object_size(v) == 1 &&
                   (json_object_get(v, "items") || json_object_get(v, "item"))) {
            json_t *in = json_object_get(v, "items");
            v = in ? in : json_object_get(v, "item");
        } else {
            break;
        }
    }
    return v;
}

/* Member `name` of `obj` (after unwrapping), as written or with its first letter's case
 * flipped. Borrowed or NULL. */
static json_t *get_ci(json_t *obj, const char *name, size_t len)
{
    obj = unwrap(obj);
    if (!json_is_object(obj) || len == 0 || len >= 128)
        return NULL;
    char key[128];
    memcpy(key, name, len);
    key[len] = '\0';
    json_t *v = json_object_get(obj, key);
    if (v)
        return v;
    unsigned char c = (unsigned char)key[0];
    key[0] = (char)(isupper(c) ? tolower(c) : toupper(c));
    return json_object_get(obj, key);
}

/* Follows a dotted `path` of `len` bytes from `root`. Borrowed or NULL. */
static json_t *path_walk(json_t *root, const char *path, size_t len)
{
    json_t *cur = root;
    while (cur && len > 0) {
        const char *dot = memchr(path, '.', len);
        size_t seg = dot ? (size_t)(dot - path) : len;
        cur = get_ci(cur, path, seg);
        if (!dot)
            break;
        path = dot + 1;
        len -= seg + 1;
    }
    return unwrap(cur);
}

/* Text of a scalar: a string as is, a number printed as an integer when it is one (an
 * account id logged unquoted), else NULL. Writes into `buf` for numbers. Borrowed. */
static const char *scalar_text(json_t *v, char *buf, size_t buflen)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, buflen, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (isfinite(d) && d == floor(d) && fabs(d) < 1e15)
            snprintf(buf, buflen, "%.0f", d);
        else
            snprintf(buf, buflen, "%.17g", d);
        return buf;
    }
    return NULL;
}

/* Whether `s` fits a record field of at most `max` bytes (non-empty). */
static bool fits(const char *s, size_t max)
{
    return s && s[0] != '\0' && strlen(s) <= max;
}

/* Sets `*slot` from `v` when it is a usable scalar within `max` bytes; returns whether it
 * did. */
static bool set_from(char **slot, json_t *v, size_t max)
{
    char num[64];
    const char *s = scalar_text(v, num, sizeof num);
    if (!fits(s, max))
        return false;
    record_str_set(slot, s);
    return true;
}

/* Integer value of `v` (integer, integral real or decimal string); false otherwise. */
static bool int_from(json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d != floor(d) || fabs(d) > 1e15)
            return false;
        *out = (int64_t)d;
        return true;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        long long n = strtoll(s, &end, 10);
        if (end == s || *end != '\0' || errno != 0)
            return false;
        *out = n;
        return true;
    }
    return false;
}

/* The request and response roots of one event document. */
struct ct_roots {
    json_t *req;
    json_t *resp;
};

/* `container` itself, or its "<name><suffix>" member when the action nests there (newer
 * EC2 actions), or its single "*<suffix>" member. */
static json_t *nested_root(json_t *container, const char *name, const char *suffix)
{
    container = unwrap(container);
    if (!json_is_object(container))
        return NULL;
    char key[160];
    int n = snprintf(key, sizeof key, "%s%s", name ? name : "", suffix);
    if (name && n > 0 && (size_t)n < sizeof key) {
        json_t *in = get_ci(container, key, (size_t)n);
        if (json_is_object(unwrap(in)))
            return unwrap(in);
    }
    if (json_object_size(container) == 1) {
        const char *k = json_object_iter_key(json_object_iter(container));
        size_t kl = strlen(k), sl = strlen(suffix);
        json_t *in = unwrap(json_object_iter_value(json_object_iter(container)));
        if (kl > sl && strcmp(k + kl - sl, suffix) == 0 && json_is_object(in))
            return in;
    }
    return container;
}

/* Returns the first value found along the space-separated `paths`. Borrowed or NULL. */
static json_t *lookup(const struct ct_roots *r, const char *paths,
                      bool (*usable)(json_t *v, void *ctx), void *ctx)
{
    const char *p = paths;
    while (*p) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len > 2 && p[1] == ':') {
            json_t *root = p[0] == 'r' ? r->resp : r->req;
            json_t *v = root ? path_walk(root, p + 2, len - 2) : NULL;
            if (v && usable(v, ctx))
                return v;
        }
        p += len;
    }
    return NULL;
}

static bool usable_text(json_t *v, void *ctx)
{
    char num[64];
    return fits(scalar_text(v, num, sizeof num), *(size_t *)ctx);
}

static bool usable_int(json_t *v, void *ctx)
{
    int64_t n;
    (void)ctx;
    return int_from(v, &n) && n >= 0 && n <= 128;
}

/* Sets `*slot` from the first usable value along `paths`. */
static void fill_text(char **slot, const struct ct_roots *r, const char *paths, size_t max)
{
    json_t *v = lookup(r, paths, usable_text, &max);
    if (v)
        set_from(slot, v, max);
}

/* Reads an event time: RFC 3339 text, or epoch seconds as a number or numeric text. */
static bool time_from(json_t *v, int64_t *ms)
{
    double secs;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (record_time_parse(s, ms) == 0)
            return true;
        char *end;
        secs = strtod(s, &end);
        if (end == s || *end != '\0')
            return false;
    } else if (json_is_number(v)) {
        secs = json_number_value(v);
    } else {
        return false;
    }
    if (!isfinite(secs) || secs < 0 || secs > 253402300799.0)
        return false;
    *ms = (int64_t)llround(secs * 1000.0);
    return true;
}

/* Fills the CIDR: for an address event the address as a host prefix, else the first
 * usable CIDR along cidr_paths. */
static void fill_cidr(struct record_event *e, const struct ct_roots *r, const struct ct_spec *s)
{
    if (s && s->host_cidr) {
        size_t amax = RECORD_CIDR_MAX - 4;
        json_t *v = lookup(r, host_cidr_paths, usable_text, &amax);
        const char *a = json_string_value(v);
        if (a && !strchr(a, '/')) {
            char buf[RECORD_CIDR_MAX + 1];
            snprintf(buf, sizeof buf, "%s/%d", a, strchr(a, ':') ? 128 : 32);
            record_str_set(&e->cidr, buf);
            return;
        }
    }
    fill_text(&e->cidr, r, cidr_paths, RECORD_CIDR_MAX);
}

/* Fills the body of `e` from an event document (`doc`, an object). */
static void fill_from_doc(struct record_event *e, json_t *doc, const char *name)
{
    const struct ct_spec *s = spec_find(name);
    json_t *ui = unwrap(json_object_get(doc, "userIdentity"));
    set_from(&e->caller_account, get_ci(ui, "accountId", 9), CT_SHORT_MAX);
    set_from(&e->principal.type, get_ci(ui, "type", 4), CT_SHORT_MAX);
    set_from(&e->principal.arn, get_ci(ui, "arn", 3), CT_ARN_MAX);
    set_from(&e->principal.principal_id, get_ci(ui, "principalId", 11), CT_ID_MAX);
    json_t *issuer = path_walk(ui, "sessionContext.sessionIssuer", 28);
    set_from(&e->principal.session_issuer_arn, get_ci(issuer, "arn", 3), CT_ARN_MAX);
    set_from(&e->source_ip, json_object_get(doc, "sourceIPAddress"), CT_ID_MAX);
    json_t *ua = json_object_get(doc, "userAgent");
    if (json_is_string(ua))
        record_str_set(&e->user_agent, json_string_value(ua));
    set_from(&e->request_id, json_object_get(doc, "requestID"), CT_ID_MAX);

    struct ct_roots r = {
        .req = nested_root(json_object_get(doc, "requestParameters"), name, "Request"),
        .resp = nested_root(json_object_get(doc, "responseElements"), name, "Response"),
    };
    fill_text(&e->pool_id, &r, pool_paths, CT_ID_MAX);
    fill_text(&e->allocation_id, &r, allocation_paths, CT_ID_MAX);
    fill_cidr(e, &r, s);
    json_t *nm = lookup(&r, netmask_paths, usable_int, NULL);
    if (nm)
        int_from(nm, &e->netmask_length);
    if (s && s->resource[0])
        fill_text(&e->resource_id, &r, s->resource, CT_ID_MAX);
    fill_text(&e->vpc_id, &r, vpc_paths, CT_ID_MAX);
    if (!e->vpc_id && e->resource_id && strncmp(e->resource_id, "vpc-", 4) == 0)
        record_str_set(&e->vpc_id, e->resource_id);

    char num[64];
    const char *code = scalar_text(json_object_get(doc, "errorCode"), num, sizeof num);
    while (code && (strncmp(code, "Client.", 7) == 0 || strncmp(code, "Server.", 7) == 0))
        code += 7;
    if (fits(code, CT_ID_MAX))
        record_str_set(&e->error_code, code);
    json_t *msg = json_object_get(doc, "errorMessage");
    if (json_is_string(msg))
        record_str_set(&e->error_message, json_string_value(msg));
}

/* Fills resource and VPC ids from LookupEvents' Resources list when the document did not
 * name them. */
static void fill_one_resource(struct record_event *e, json_t *res)
{
    json_t *type = get_ci(res, "ResourceType", 12);
    json_t *rname = get_ci(res, "ResourceName", 12);
    if (!e->resource_id)
        set_from(&e->resource_id, rname, CT_ID_MAX);
    if (!e->vpc_id && json_is_string(type) && strcmp(json_string_value(type), "AWS::EC2::VPC") == 0)
        set_from(&e->vpc_id, rname, CT_ID_MAX);
}

static void fill_from_resources(struct record_event *e, json_t *resources)
{
    size_t i;
    json_t *res;
    if (json_is_array(resources)) {
        json_array_foreach(resources, i, res) fill_one_resource(e, res);
    } else if (json_is_object(resources)) {
        fill_one_resource(e, unwrap(resources));
    }
}

/* Builds the record from a document that may be NULL or not an object. `fallback_*` come
 * from the LookupEvents envelope or the caller; `raw` (borrowed) is kept when the document
 * cannot be interpreted. */
static struct record *build(const char *event_id, json_t *doc, const char *raw,
                            const char *fallback_name, json_t *fallback_time,
                            const char *fallback_account, const char *fallback_region)
{
    struct record *rec = record_new(RECORD_EVENT);
    struct record_event *e = &rec->u.event;
    record_str_set(&e->event_id, event_id);
    json_t *name = json_is_object(doc) ? json_object_get(doc, "eventName") : NULL;
    e->parsed = json_is_string(name) && fits(json_string_value(name), CT_ID_MAX);

    if (e->parsed)
        record_str_set(&e->name, json_string_value(name));
    else if (fits(fallback_name, CT_ID_MAX))
        record_str_set(&e->name, fallback_name);
    if (json_is_object(doc)) {
        if (!time_from(json_object_get(doc, "eventTime"), &e->time_ms))
            e->time_ms = RECORD_UNSET;
        set_from(&e->account, json_object_get(doc, "recipientAccountId"), CT_SHORT_MAX);
        set_from(&e->region, json_object_get(doc, "awsRegion"), CT_SHORT_MAX);
    }
    if (e->time_ms == RECORD_UNSET && fallback_time && !time_from(fallback_time, &e->time_ms))
        e->time_ms = RECORD_UNSET;
    if (!e->account && fits(fallback_account, CT_SHORT_MAX))
        record_str_set(&e->account, fallback_account);
    if (!e->region && fits(fallback_region, CT_SHORT_MAX))
        record_str_set(&e->region, fallback_region);
    if (e->parsed)
        fill_from_doc(e, doc, e->name);
    else
        record_str_set(&e->raw, raw ? raw : "");
    return rec;
}

struct record *ct_event_from_lookup(json_t *event, const char *account, const char *region,
                                    char *err, size_t errlen)
{
    if (!json_is_object(event)) {
        snprintf(err, errlen, "LookupEvents item is not an object");
        return NULL;
    }
    json_t *ct = json_object_get(event, "CloudTrailEvent");
    json_t *doc = NULL;
    char *raw = NULL;
    if (json_is_string(ct)) {
        raw = xstrdup(json_string_value(ct));
        doc = json_loads(raw, JSON_REJECT_DUPLICATES, NULL);
    } else if (ct && !json_is_null(ct)) {
        doc = json_incref(ct);
        raw = json_dumps(ct, JSON_COMPACT | JSON_ENCODE_ANY);
    } else {
        raw = json_dumps(event, JSON_COMPACT);
    }
    if (!raw)
        raw = xstrdup("");

    char idbuf[64];
    const char *id = scalar_text(get_ci(event, "EventId", 7), idbuf, sizeof idbuf);
    if (!fits(id, CT_ID_MAX) && json_is_object(doc))
        id = scalar_text(json_object_get(doc, "eventID"), idbuf, sizeof idbuf);
    struct record *rec = NULL;
    if (!fits(id, CT_ID_MAX)) {
        snprintf(err, errlen, "LookupEvents item without a usable EventId");
        goto out;
    }
    char nbuf[64];
    const char *name = scalar_text(get_ci(event, "EventName", 9), nbuf, sizeof nbuf);
    rec = build(id, doc, raw, name, get_ci(event, "EventTime", 9), account, region);
    if (rec->u.event.parsed && (!rec->u.event.resource_id || !rec->u.event.vpc_id))
        fill_from_resources(&rec->u.event, get_ci(event, "Resources", 9));
out:
    json_decref(doc);
    free(raw);
    return rec;
}

struct record *ct_event_from_trail(json_t *rec, char *err, size_t errlen)
{
    if (!json_is_object(rec)) {
        snprintf(err, errlen, "CloudTrail record is not an object");
        return NULL;
    }
    char idbuf[64];
    const char *id = scalar_text(json_object_get(rec, "eventID"), idbuf, sizeof idbuf);
    if (!fits(id, CT_ID_MAX)) {
        snprintf(err, errlen, "CloudTrail record without a usable eventID");
        return NULL;
    }
    char *raw = json_dumps(rec, JSON_COMPACT);
    struct record *out = build(id, rec, raw ? raw : "", NULL, NULL, NULL, NULL);
    free(raw);
    return out;
}
