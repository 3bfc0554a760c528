/* ipam_map: turns one IPAM API item (EC2 XML or aws CLI JSON spelling) into a record. */
#include "collector/ipam_map.h"

#include <ctype.h>
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* Text members of a resource CIDR item, one table for both spellings (the CLI's is the XML
 * name with its first letter upper-cased). */
static const struct {
    const char *xml_name;
    size_t len; /* strlen(xml_name): compared first */
    size_t off;
} resource_cidr_strs[] = {
/* clang-format off */
#define RC_STR(name, member) {name, sizeof name - 1, offsetof(struct record, u.resource_cidr.member)}
    /* clang-format on */
    RC_STR("ipamScopeId", scope_id),
    RC_STR("resourceType", resource_type),
    RC_STR("resourceId", resource_id),
    RC_STR("resourceCidr", cidr),
    RC_STR("ipamId", ipam_id),
    RC_STR("resourceName", name),
    RC_STR("resourceOwnerId", owner),
    RC_STR("resourceRegion", region),
    RC_STR("vpcId", vpc_id),
    RC_STR("availabilityZoneId", availability_zone_id),
    RC_STR("ipamPoolId", pool_id),
    RC_STR("complianceStatus", compliance_status),
    RC_STR("overlapStatus", overlap_status),
    RC_STR("managementState", management_state),
};
#undef RC_STR
#define N_RESOURCE_CIDR_STRS (sizeof resource_cidr_strs / sizeof resource_cidr_strs[0])

static char **str_slot(struct record *r, size_t off)
{
    return (char **)((char *)r + off);
}

/* What both spellings share once the members are read: the scope from the context, and
 * the required fields. */
static int finish_resource_cidr(struct record *r, const char *scope_id, char *err, size_t errlen)
{
    struct record_resource_cidr *b = &r->u.resource_cidr;
    if (!b->scope_id)
        record_str_set(&b->scope_id, scope_id);
    struct lack l = {.len = 0};
    need(&l, b->scope_id, "ipamScopeId");
    need(&l, b->resource_type, "resourceType");
    need(&l, b->resource_id, "resourceId");
    need(&l, b->cidr, "resourceCidr");
    return lacking(&l, r->type, err, errlen);
}

static int map_resource_cidr(struct record *r, json_t *it, const char *scope_id, char *err,
                             size_t errlen)
{
    struct record_resource_cidr *b = &r->u.resource_cidr;
    for (size_t i = 0; i < N_RESOURCE_CIDR_STRS; i++)
        set_str(str_slot(r, resource_cidr_strs[i].off), it, resource_cidr_strs[i].xml_name);
    b->ip_usage = get_double(it, "ipUsage");
    get_tags(&b->tags, it, "resourceTagSet", "ResourceTags");
    return finish_resource_cidr(r, scope_id, err, errlen);
}

/* ---- the same mapping read straight from parser nodes (no JSON per item) ---- */

static bool is_item(const ec2_xml_t *x, int node)
{
    return strcmp(ec2_xml_node_name(x, node), "item") == 0;
}

/* Whether `node` reads as a JSON object in ec2_xml_item_json(): it has children and the
 * first one is not an <item>. */
static bool node_is_object(const ec2_xml_t *x, int node)
{
    int c = ec2_xml_node_child(x, node);
    return c >= 0 && !is_item(x, c);
}

/* The text of a leaf node, NULL when the node has children (not a string in JSON). */
static const char *leaf_text(const ec2_xml_t *x, int node)
{
    return ec2_xml_node_child(x, node) < 0 ? ec2_xml_node_text(x, node) : NULL;
}

/* Replaces `*slot` with a copy of `v` (NULL clears it), reusing the slot's buffer when it is
 * large enough: a record refilled item after item then allocates nothing. */
static void set_reuse(char **slot, const char *v)
{
    if (!v) {
        free(*slot);
        *slot = NULL;
        return;
    }
    size_t n = strlen(v) + 1;
    if (!*slot || malloc_usable_size(*slot) < n) {
        free(*slot);
        *slot = xmalloc(n);
    }
    memcpy(*slot, v, n);
}

/* Adds tag k=v to `map` whose first `*used` entries are this item's so far; entries from
 * `*used` on are left over from the previous item and are overwritten first. */
static void tag_reuse(struct record_map *map, size_t *used, const char *k, const char *v)
{
    for (size_t i = 0; i < *used; i++) {
        if (strcmp(map->items[i].key, k) == 0) {
            set_reuse(&map->items[i].value, v);
            return;
        }
    }
    if (*used == map->n) {
        map->items = xgrow(map->items, &map->cap, map->n + 1, sizeof map->items[0]);
        map->items[map->n].key = NULL;
        map->items[map->n].value = NULL;
        map->n++;
    }
    set_reuse(&map->items[*used].key, k);
    set_reuse(&map->items[*used].value, v);
    (*used)++;
}

/* Tags from a <xxxTagSet> node: a list of <item><key/><value/></item>. */
static void node_tags(struct record_map *map, size_t *used, const ec2_xml_t *x, int set)
{
    int c = ec2_xml_node_child(x, set);
    if (c < 0 || !is_item(x, c))
        return; /* empty, or not a list */
    for (; c >= 0; c = ec2_xml_node_next(x, c)) {
        if (!is_item(x, c) || !node_is_object(x, c))
            continue;
        const char *k = NULL, *v = NULL;
        for (int m = ec2_xml_node_child(x, c); m >= 0; m = ec2_xml_node_next(x, m)) {
            const char *name = ec2_xml_node_name(x, m);
            if (strcmp(name, "key") == 0)
                k = leaf_text(x, m); /* a later duplicate wins, as in JSON */
            else if (strcmp(name, "value") == 0)
                v = leaf_text(x, m);
        }
        if (k)
            tag_reuse(map, used, k, v ? v : "");
    }
}

/* strtod() of a plain decimal ("0.4945", "-12", "3.") of at most 15 digits, without the
 * library call: such a value and its power of ten are exact doubles, so their quotient is
 * the correctly rounded value strtod() returns. False (and *out untouched) for any other
 * text. */
static bool short_decimal(const char *t, double *out)
{
    static const double p10[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    bool neg = *t == '-';
    if (neg)
        t++;
    uint64_t m = 0;
    int digits = 0, frac = -1;
    for (; *t; t++) {
        if (*t == '.' && frac < 0) {
            frac = 0;
            continue;
        }
        if (*t < '0' || *t > '9' || ++digits > 15)
            return false;
        m = m * 10 + (uint64_t)(*t - '0');
        if (frac >= 0)
            frac++;
    }
    if (digits == 0)
        return false;
    double v = (double)m / p10[frac > 0 ? frac : 0];
    *out = neg ? -v : v;
    return true;
}

/* Fills `r` (new, or the previous item's record being reused) from the item's nodes. */
static int map_resource_cidr_nodes(struct record *r, const ec2_xml_t *x, int item,
                                   const char *scope_id, char *err, size_t errlen)
{
    struct record_resource_cidr *b = &r->u.resource_cidr;
    uint32_t seen = 0; /* bit i: resource_cidr_strs[i] was set by this item */
    size_t tags = 0;
    /* Items of a listing list their members in one order: the member the k-th child named
     * last time is tried first. */
    static _Thread_local unsigned char hint[32];
    b->ip_usage = NAN;
    unsigned k = 0;
    for (int c = ec2_xml_node_child(x, item); c >= 0; c = ec2_xml_node_next(x, c), k++) {
        const char *name = ec2_xml_node_name(x, c);
        size_t len = strlen(name);
        size_t i = k < sizeof hint ? hint[k] : 0;
        if (i >= N_RESOURCE_CIDR_STRS || len != resource_cidr_strs[i].len ||
            memcmp(name, resource_cidr_strs[i].xml_name, len) != 0) {
            for (i = 0; i < N_RESOURCE_CIDR_STRS; i++)
                if (len == resource_cidr_strs[i].len &&
                    memcmp(name, resource_cidr_strs[i].xml_name, len) == 0)
                    break;
            if (k < sizeof hint)
                hint[k] = (unsigned char)i;
        }
        if (i < N_RESOURCE_CIDR_STRS) {
            set_reuse(str_slot(r, resource_cidr_strs[i].off), leaf_text(x, c));
            seen |= 1u << i;
            continue;
        }
        if (strcmp(name, "ipUsage") == 0) {
            const char *t = leaf_text(x, c);
            char *end;
            double d = NAN;
            if (t && !short_decimal(t, &d)) {
                d = strtod(t, &end);
                if (end == t || *end != '\0')
                    d = NAN;
            }
            b->ip_usage = d;
        } else if (strcmp(name, "resourceTagSet") == 0) {
            tags = 0; /* a later duplicate set wins, as in JSON */
            node_tags(&b->tags, &tags, x, c);
        }
    }
    for (size_t i = 0; i < N_RESOURCE_CIDR_STRS; i++)
        if (!(seen & 1u << i))
            set_reuse(str_slot(r, resource_cidr_strs[i].off), NULL);
    while (b->tags.n > tags) { /* the previous item's surplus tags */
        b->tags.n--;
        free(b->tags.items[b->tags.n].key);
        free(b->tags.items[b->tags.n].value);
    }
    return finish_resource_cidr(r, scope_id, err, errlen);
}

int ipam_map_item_xml_into(struct record **slot, enum record_type type, const ec2_xml_t *x,
                           int item, const char *context_id, char *err, size_t errlen)
{
    if (type != RECORD_RESOURCE_CIDR || !*slot || (*slot)->type != type) {
        record_free(*slot);
        *slot = ipam_map_item_xml(type, x, item, context_id, err, errlen);
        return *slot ? 0 : -EINVAL;
    }
    if (!node_is_object(x, item)) {
        snprintf(err, errlen, "%s item is not an object", record_type_name(type));
        return -EINVAL;
    }
    struct record *r = *slot;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    r->ts_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    return map_resource_cidr_nodes(r, x, item, context_id, err, errlen);
}

struct record *ipam_map_item_xml(enum record_type type, const ec2_xml_t *x, int item,
                                 const char *context_id, char *err, size_t errlen)
{
    if (type != RECORD_RESOURCE_CIDR) {
        json_t *obj = ec2_xml_item_json(x, item);
        struct record *r = ipam_map_item(type, obj, context_id, err, errlen);
        json_decref(obj);
        return r;
    }
    if (!node_is_object(x, item)) {
        snprintf(err, errlen, "%s item is not an object", record_type_name(type));
        return NULL;
    }
    struct record *r = record_new(type);
    if (map_resource_cidr_nodes(r, x, item, context_id, err, errlen) < 0) {
        record_free(r);
        return NULL;
    }
    return r;
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
