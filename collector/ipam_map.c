/* ipam_map: turns one IPAM API item (EC2 XML or aws CLI JSON spelling) into a record. */
#include "collector/ipam_map.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

json_t *ipam_map_get(json_t *obj, const char *xml_name)
{
    if (!json_is_object(obj))
        return NULL;
    json_t *v = json_object_get(obj, xml_name);
    if (v)
        return v;
    char pascal[128];
    int n = snprintf(pascal, sizeof pascal, "%s", xml_name);
    if (n <= 0 || (size_t)n >= sizeof pascal)
        return NULL;
    pascal[0] = (char)toupper((unsigned char)pascal[0]);
    return json_object_get(obj, pascal);
}

/* Looks up a member whose XML and CLI names differ beyond the first letter. */
static json_t *get2(json_t *obj, const char *xml_name, const char *cli_name)
{
    json_t *v = ipam_map_get(obj, xml_name);
    return v ? v : json_object_get(obj, cli_name);
}

const char *ipam_map_str(json_t *obj, const char *xml_name)
{
    json_t *v = ipam_map_get(obj, xml_name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void set_str(char **slot, json_t *obj, const char *xml_name)
{
    record_str_set(slot, ipam_map_str(obj, xml_name));
}

/* Integers arrive as JSON numbers (parsed XML, CLI) or, defensively, as decimal strings. */
static int64_t get_int(json_t *obj, const char *xml_name)
{
    json_t *v = ipam_map_get(obj, xml_name);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    if (json_is_string(v)) {
        char *end;
        errno = 0;
        long long n = strtoll(json_string_value(v), &end, 10);
        if (errno == 0 && end != json_string_value(v) && *end == '\0')
            return n;
    }
    return RECORD_UNSET;
}

static double get_double(json_t *obj, const char *xml_name)
{
    json_t *v = ipam_map_get(obj, xml_name);
    if (json_is_number(v))
        return json_number_value(v);
    if (json_is_string(v)) {
        char *end;
        double d = strtod(json_string_value(v), &end);
        if (end != json_string_value(v) && *end == '\0')
            return d;
    }
    return NAN;
}

static bool get_bool(json_t *obj, const char *xml_name)
{
    json_t *v = ipam_map_get(obj, xml_name);
    if (json_is_boolean(v))
        return json_is_true(v);
    if (json_is_string(v))
        return strcmp(json_string_value(v), "true") == 0;
    return false;
}

/* Times arrive as ISO 8601 text (XML, aws CLI v2) or epoch seconds (aws CLI v1). */
static int64_t get_time(json_t *obj, const char *xml_name)
{
    json_t *v = ipam_map_get(obj, xml_name);
    int64_t ms;
    if (json_is_string(v) && record_time_parse(json_string_value(v), &ms) == 0)
        return ms;
    if (json_is_number(v))
        return (int64_t)(json_number_value(v) * 1000.0);
    return RECORD_UNSET;
}

static void get_tags(struct record_map *map, json_t *obj, const char *xml_name,
                     const char *cli_name)
{
    json_t *list = get2(obj, xml_name, cli_name);
    size_t i;
    json_t *tag;
    json_array_foreach(list, i, tag)
    {
        const char *k = ipam_map_str(tag, "key");
        const char *v = ipam_map_str(tag, "value");
        if (k)
            record_map_set(map, k, v ? v : "");
    }
}

/* The required fields an item lacks, gathered so one error names all of them. */
struct lack {
    char names[256];
    size_t len;
};

static void need(struct lack *l, const char *value, const char *field)
{
    if (value && *value)
        return;
    int n =
        snprintf(l->names + l->len, sizeof l->names - l->len, "%s%s", l->len ? ", " : "", field);
    if (n > 0)
        l->len = (size_t)n >= sizeof l->names - l->len ? sizeof l->names - 1 : l->len + (size_t)n;
}

/* Returns 0, or -EINVAL with "pool item without ipamPoolId, addressFamily" in err. */
static int lacking(const struct lack *l, enum record_type type, char *err, size_t errlen)
{
    if (!l->len)
        return 0;
    snprintf(err, errlen, "%s item without %s", record_type_name(type), l->names);
    return -EINVAL;
}

static int map_ipam(struct record *r, json_t *it, char *err, size_t errlen)
{
    struct record_ipam *b = &r->u.ipam;
    set_str(&b->ipam_id, it, "ipamId");
    set_str(&b->arn, it, "ipamArn");
    set_str(&b->owner, it, "ownerId");
    set_str(&b->home_region, it, "ipamRegion");
    set_str(&b->private_default_scope_id, it, "privateDefaultScopeId");
    set_str(&b->public_default_scope_id, it, "publicDefaultScopeId");
    b->scope_count = get_int(it, "scopeCount");
    set_str(&b->tier, it, "tier");
    set_str(&b->state, it, "state");
    set_str(&b->description, it, "description");
    json_t *regions = get2(it, "operatingRegionSet", "OperatingRegions");
    size_t i;
    json_t *reg;
    json_array_foreach(regions, i, reg)
    {
        const char *name = ipam_map_str(reg, "regionName");
        if (name)
            record_list_add(&b->operating_regions, name);
    }
    get_tags(&b->tags, it, "tagSet", "Tags");
    struct lack l = {.len = 0};
    need(&l, b->ipam_id, "ipamId");
    return lacking(&l, r->type, err, errlen);
}

static int map_scope(struct record *r, json_t *it, char *err, size_t errlen)
{
    struct record_scope *b = &r->u.scope;
    set_str(&b->scope_id, it, "ipamScopeId");
    set_str(&b->arn, it, "ipamScopeArn");
    set_str(&b->ipam_arn, it, "ipamArn");
    record_str_set(&b->ipam_id, record_id_from_arn(b->ipam_arn ? b->ipam_arn : ""));
    set_str(&b->owner, it, "ownerId");
    set_str(&b->scope_type, it, "ipamScopeType");
    b->is_default = get_bool(it, "isDefault");
    b->pool_count = get_int(it, "poolCount");
    set_str(&b->state, it, "state");
    set_str(&b->description, it, "description");
    get_tags(&b->tags, it, "tagSet", "Tags");
    struct lack l = {.len = 0};
    need(&l, b->scope_id, "ipamScopeId");
    return lacking(&l, r->type, err, errlen);
}

static int map_pool(struct record *r, json_t *it, char *err, size_t errlen)
{
    struct record_pool *b = &r->u.pool;
    set_str(&b->pool_id, it, "ipamPoolId");
    set_str(&b->arn, it, "ipamPoolArn");
    set_str(&b->scope_arn, it, "ipamScopeArn");
    /* Pools carry no scope id element: it is the last segment of the scope's ARN. */
    record_str_set(&b->scope_id, record_id_from_arn(b->scope_arn ? b->scope_arn : ""));
    const char *ipam_arn = ipam_map_str(it, "ipamArn");
    record_str_set(&b->ipam_id, record_id_from_arn(ipam_arn ? ipam_arn : ""));
    set_str(&b->parent, it, "sourceIpamPoolId");
    set_str(&b->owner, it, "ownerId");
    const char *locale = ipam_map_str(it, "locale");
    if (locale && strcmp(locale, "None") != 0)
        record_str_set(&b->locale, locale);
    set_str(&b->address_family, it, "addressFamily");
    b->depth = get_int(it, "poolDepth");
    set_str(&b->state, it, "state");
    set_str(&b->state_message, it, "stateMessage");
    b->allocation_default_netmask = get_int(it, "allocationDefaultNetmaskLength");
    b->allocation_min_netmask = get_int(it, "allocationMinNetmaskLength");
    b->allocation_max_netmask = get_int(it, "allocationMaxNetmaskLength");
    b->auto_import = get_bool(it, "autoImport");
    b->publicly_advertisable = get_bool(it, "publiclyAdvertisable");
    set_str(&b->aws_service, it, "awsService");
    set_str(&b->public_ip_source, it, "publicIpSource");
    set_str(&b->description, it, "description");
    get_tags(&b->tags, it, "tagSet", "Tags");
    struct lack l = {.len = 0};
    need(&l, b->pool_id, "ipamPoolId");
    need(&l, b->scope_id, "ipamScopeArn");
    need(&l, b->address_family, "addressFamily");
    return lacking(&l, r->type, err, errlen);
}

static int map_pool_cidr(struct record *r, json_t *it, const char *pool_id, char *err,
                         size_t errlen)
{
    struct record_pool_cidr *b = &r->u.pool_cidr;
    record_str_set(&b->pool_id, pool_id);
    set_str(&b->pool_cidr_id, it, "ipamPoolCidrId");
    set_str(&b->cidr, it, "cidr");
    set_str(&b->state, it, "state");
    b->netmask_length = get_int(it, "netmaskLength");
    json_t *failure = ipam_map_get(it, "failureReason");
    if (failure) {
        set_str(&b->failure_code, failure, "code");
        set_str(&b->failure_message, failure, "message");
    }
    struct lack l = {.len = 0};
    need(&l, b->pool_id, "the pool id");
    need(&l, b->state, "state");
    return lacking(&l, r->type, err, errlen);
}

static int map_allocation(struct record *r, json_t *it, const char *pool_id, char *err,
                          size_t errlen)
{
    struct record_allocation *b = &r->u.allocation;
    record_str_set(&b->pool_id, pool_id);
    set_str(&b->allocation_id, it, "ipamPoolAllocationId");
    set_str(&b->cidr, it, "cidr");
    set_str(&b->resource_type, it, "resourceType");
    set_str(&b->resource_id, it, "resourceId");
    set_str(&b->resource_owner, it, "resourceOwner");
    set_str(&b->resource_region, it, "resourceRegion");
    set_str(&b->description, it, "description");
    get_tags(&b->tags, it, "tagSet", "Tags");
    struct lack l = {.len = 0};
    need(&l, b->pool_id, "the pool id");
    need(&l, b->allocation_id, "ipamPoolAllocationId");
    need(&l, b->cidr, "cidr");
    return lacking(&l, r->type, err, errlen);
}

static int map_resource_cidr(struct record *r, json_t *it, const char *scope_id, char *err,
                             size_t errlen)
{
    struct record_resource_cidr *b = &r->u.resource_cidr;
    set_str(&b->scope_id, it, "ipamScopeId");
    if (!b->scope_id)
        record_str_set(&b->scope_id, scope_id);
    set_str(&b->resource_type, it, "resourceType");
    set_str(&b->resource_id, it, "resourceId");
    set_str(&b->cidr, it, "resourceCidr");
    set_str(&b->ipam_id, it, "ipamId");
    set_str(&b->name, it, "resourceName");
    set_str(&b->owner, it, "resourceOwnerId");
    set_str(&b->region, it, "resourceRegion");
    set_str(&b->vpc_id, it, "vpcId");
    set_str(&b->availability_zone_id, it, "availabilityZoneId");
    set_str(&b->pool_id, it, "ipamPoolId");
    set_str(&b->compliance_status, it, "complianceStatus");
    set_str(&b->overlap_status, it, "overlapStatus");
    set_str(&b->management_state, it, "managementState");
    b->ip_usage = get_double(it, "ipUsage");
    get_tags(&b->tags, it, "resourceTagSet", "ResourceTags");
    struct lack l = {.len = 0};
    need(&l, b->scope_id, "ipamScopeId");
    need(&l, b->resource_type, "resourceType");
    need(&l, b->resource_id, "resourceId");
    need(&l, b->cidr, "resourceCidr");
    return lacking(&l, r->type, err, errlen);
}

static int map_discovered_account(struct record *r, json_t *it, const char *discovery_id, char *err,
                                  size_t errlen)
{
    struct record_discovered_account *b = &r->u.discovered_account;
    set_str(&b->account_id, it, "accountId");
    set_str(&b->region, it, "discoveryRegion");
    record_str_set(&b->resource_discovery_id, discovery_id);
    json_t *failure = ipam_map_get(it, "failureReason");
    const char *code = failure ? ipam_map_str(failure, "code") : NULL;
    if (code && *code) {
        record_str_set(&b->status, "failed");
        record_str_set(&b->failure_code, code);
        set_str(&b->failure_message, failure, "message");
    } else {
        record_str_set(&b->status, "ok");
    }
    b->last_attempted_ms = get_time(it, "lastAttemptedDiscoveryTime");
    b->last_successful_ms = get_time(it, "lastSuccessfulDiscoveryTime");
    set_str(&b->organizational_unit_id, it, "organizationalUnitId");
    struct lack l = {.len = 0};
    need(&l, b->account_id, "accountId");
    need(&l, b->region, "discoveryRegion");
    return lacking(&l, r->type, err, errlen);
}

struct record *ipam_map_item(enum record_type type, json_t *item, const char *context_id, char *err,
                             size_t errlen)
{
    if (!json_is_object(item)) {
        snprintf(err, errlen, "%s item is not an object",
                 record_type_name(type) ? record_type_name(type) : "inventory");
        return NULL;
    }
    struct record *r = record_new(type);
    if (!r) {
        snprintf(err, errlen, "record type %d is not an inventory type", (int)type);
        return NULL;
    }
    int rc;
    switch (type) {
    case RECORD_IPAM:
        rc = map_ipam(r, item, err, errlen);
        break;
    case RECORD_SCOPE:
        rc = map_scope(r, item, err, errlen);
        break;
    case RECORD_POOL:
        rc = map_pool(r, item, err, errlen);
        break;
    case RECORD_POOL_CIDR:
        rc = map_pool_cidr(r, item, context_id, err, errlen);
        break;
    case RECORD_ALLOCATION:
        rc = map_allocation(r, item, context_id, err, errlen);
        break;
    case RECORD_RESOURCE_CIDR:
        rc = map_resource_cidr(r, item, context_id, err, errlen);
        break;
    case RECORD_DISCOVERED_ACCOUNT:
        rc = map_discovered_account(r, item, context_id, err, errlen);
        break;
    default:
        snprintf(err, errlen, "record type %s is not an inventory type",
                 record_type_name(type) ? record_type_name(type) : "?");
        rc = -EINVAL;
    }
    if (rc < 0) {
        record_free(r);
        return NULL;
    }
    return r;
}
