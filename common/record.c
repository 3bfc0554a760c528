/* record: encoding, decoding and validation of the versioned JSON records.
 *
 * DESIGN: each record type is described by a table of fields (wire name, kind, flags,
 * offset into struct record, limits). record_new(), record_free(), record_validate(),
 * record_encode() and record_decode() all walk the same tables, so adding a field is one
 * table line plus its documentation. Decoding checks presence and JSON types while copying
 * into the struct, then runs the same value checks as encoding (record_validate), so a
 * record the collector can encode is exactly a record the analyzer accepts.
 */
#include "record.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "record_fields.h"
#include "record_write.h"
#include "text.h"
#include "xalloc.h"

#define ID_MAX    200               /* ids, names of things */
#define SHORT_MAX 64                /* accounts, Regions, enum words */
#define ARN_MAX   2048              /* AWS allows 1283 */
#define TIME_MAX  253402300799999LL /* 9999-12-31T23:59:59.999Z */

/* clang-format off */
#define OFF(m) offsetof(struct record, m)
#define STR_F(n, m, fl, mx) {n, K_STR, (fl), OFF(m), 0, (mx), NULL, NULL, 0}
#define ID_F(n, m, fl)      STR_F(n, m, (fl) | F_NONEMPTY, ID_MAX)
#define SHORT_F(n, m, fl)   STR_F(n, m, (fl) | F_NONEMPTY, SHORT_MAX)
#define ARN_F(n, m)         STR_F(n, m, F_NONEMPTY, ARN_MAX)
#define TEXT_F(n, m)        STR_F(n, m, 0, 0)
#define ENUM_F(n, m, fl, v) {n, K_STR, (fl) | F_NONEMPTY, OFF(m), 0, SHORT_MAX, v, NULL, 0}
#define CIDR_F(n, m, fl)    {n, K_CIDR, (fl), OFF(m), 0, 0, NULL, NULL, 0}
#define INT_F(n, m, fl, lo, hi) {n, K_INT, (fl), OFF(m), (lo), (hi), NULL, NULL, 0}
#define BOOL_F(n, m, fl)    {n, K_BOOL, (fl), OFF(m), 0, 0, NULL, NULL, 0}
#define DOUBLE_F(n, m, fl, lo) {n, K_DOUBLE, (fl), OFF(m), (lo), INT64_MAX, NULL, NULL, 0}
#define TIME_F(n, m, fl)    {n, K_TIME, (fl), OFF(m), 0, TIME_MAX, NULL, NULL, 0}
#define MAP_F(n, m)         {n, K_MAP, 0, OFF(m), 0, 0, NULL, NULL, 0}
#define LIST_F(n, m)        {n, K_LIST, 0, OFF(m), 0, 0, NULL, NULL, 0}
#define OBJ_F(n, m, tab)    {n, K_OBJ, 0, OFF(m), 0, 0, NULL, tab, sizeof tab / sizeof tab[0]}
/* clang-format on */
#define NFIELDS(tab) (sizeof tab / sizeof tab[0])

static const char *const address_families[] = {"ipv4", "ipv6", NULL};
static const char *const discovery_statuses[] = {"ok", "failed", NULL};
static const char *const alert_states[] = {"pending", "firing", "resolved", NULL};
static const char *const alert_severities[] = {"info", "warning", "critical", NULL};

/* "v" and "type" are handled separately; these follow them on the wire. */
static const struct field envelope_fields[] = {
    ID_F("scope", scope, 0),
    TIME_F("ts", ts_ms, F_REQ),
    ID_F("source", source, F_REQ),
    ID_F("pass", pass_id, 0),
};

static const struct field pass_begin_fields[] = {
    ID_F("collector_id", u.pass_begin.collector_id, F_REQ),
    TIME_F("started", u.pass_begin.started_ms, F_REQ),
    ID_F("ipam_id", u.pass_begin.ipam_id, 0),
    SHORT_F("region", u.pass_begin.region, 0),
};

static const struct field pass_end_fields[] = {
    {"counts", K_COUNTS, F_REQ, OFF(u.pass_end.counts), 0, 0, NULL, NULL, 0},
    BOOL_F("complete", u.pass_end.complete, F_REQ),
    TEXT_F("error", u.pass_end.error),
};

static const struct field ipam_fields[] = {
    ID_F("ipam_id", u.ipam.ipam_id, F_REQ),
    ARN_F("arn", u.ipam.arn),
    SHORT_F("owner", u.ipam.owner, 0),
    SHORT_F("home_region", u.ipam.home_region, 0),
    ID_F("private_default_scope_id", u.ipam.private_default_scope_id, 0),
    ID_F("public_default_scope_id", u.ipam.public_default_scope_id, 0),
    INT_F("scope_count", u.ipam.scope_count, 0, 0, INT32_MAX),
    LIST_F("operating_regions", u.ipam.operating_regions),
    SHORT_F("tier", u.ipam.tier, 0),
    SHORT_F("state", u.ipam.state, 0),
    TEXT_F("description", u.ipam.description),
    MAP_F("tags", u.ipam.tags),
};

static const struct field scope_fields[] = {
    ID_F("scope_id", u.scope.scope_id, F_REQ),
    ARN_F("arn", u.scope.arn),
    ID_F("ipam_id", u.scope.ipam_id, 0),
    ARN_F("ipam_arn", u.scope.ipam_arn),
    SHORT_F("owner", u.scope.owner, 0),
    SHORT_F("scope_type", u.scope.scope_type, 0),
    BOOL_F("is_default", u.scope.is_default, 0),
    INT_F("pool_count", u.scope.pool_count, 0, 0, INT32_MAX),
    SHORT_F("state", u.scope.state, 0),
    TEXT_F("description", u.scope.description),
    MAP_F("tags", u.scope.tags),
};

static const struct field pool_fields[] = {
    ID_F("pool_id", u.pool.pool_id, F_REQ),
    ARN_F("arn", u.pool.arn),
    ID_F("scope_id", u.pool.scope_id, F_REQ),
    ARN_F("scope_arn", u.pool.scope_arn),
    ID_F("ipam_id", u.pool.ipam_id, 0),
    ID_F("parent", u.pool.parent, 0),
    SHORT_F("owner", u.pool.owner, 0),
    SHORT_F("locale", u.pool.locale, 0),
    ENUM_F("address_family", u.pool.address_family, F_REQ, address_families),
    INT_F("depth", u.pool.depth, 0, 1, 128),
    SHORT_F("state", u.pool.state, 0),
    TEXT_F("state_message", u.pool.state_message),
    INT_F("allocation_default_netmask", u.pool.allocation_default_netmask, 0, 0, 128),
    INT_F("allocation_min_netmask", u.pool.allocation_min_netmask, 0, 0, 128),
    INT_F("allocation_max_netmask", u.pool.allocation_max_netmask, 0, 0, 128),
    BOOL_F("auto_import", u.pool.auto_import, 0),
    BOOL_F("publicly_advertisable", u.pool.publicly_advertisable, 0),
    SHORT_F("aws_service", u.pool.aws_service, 0),
    SHORT_F("public_ip_source", u.pool.public_ip_source, 0),
    TEXT_F("description", u.pool.description),
    MAP_F("tags", u.pool.tags),
};

static const struct field pool_cidr_fields[] = {
    ID_F("pool_id", u.pool_cidr.pool_id, F_REQ),
    ID_F("pool_cidr_id", u.pool_cidr.pool_cidr_id, 0),
    CIDR_F("cidr", u.pool_cidr.cidr, 0),
    SHORT_F("state", u.pool_cidr.state, F_REQ),
    INT_F("netmask_length", u.pool_cidr.netmask_length, 0, 0, 128),
    SHORT_F("failure_code", u.pool_cidr.failure_code, 0),
    TEXT_F("failure_message", u.pool_cidr.failure_message),
};

static const struct field allocation_fields[] = {
    ID_F("pool_id", u.allocation.pool_id, F_REQ),
    ID_F("allocation_id", u.allocation.allocation_id, F_REQ),
    CIDR_F("cidr", u.allocation.cidr, F_REQ),
    SHORT_F("resource_type", u.allocation.resource_type, 0),
    ID_F("resource_id", u.allocation.resource_id, 0),
    SHORT_F("resource_owner", u.allocation.resource_owner, 0),
    SHORT_F("resource_region", u.allocation.resource_region, 0),
    TEXT_F("description", u.allocation.description),
    MAP_F("tags", u.allocation.tags),
};

static const struct field resource_cidr_fields[] = {
    ID_F("scope_id", u.resource_cidr.scope_id, F_REQ),
    SHORT_F("resource_type", u.resource_cidr.resource_type, F_REQ),
    ID_F("resource_id", u.resource_cidr.resource_id, F_REQ),
    CIDR_F("cidr", u.resource_cidr.cidr, F_REQ),
    ID_F("ipam_id", u.resource_cidr.ipam_id, 0),
    TEXT_F("name", u.resource_cidr.name),
    SHORT_F("owner", u.resource_cidr.owner, 0),
    SHORT_F("region", u.resource_cidr.region, 0),
    ID_F("vpc_id", u.resource_cidr.vpc_id, 0),
    SHORT_F("availability_zone_id", u.resource_cidr.availability_zone_id, 0),
    ID_F("pool_id", u.resource_cidr.pool_id, 0),
    SHORT_F("compliance_status", u.resource_cidr.compliance_status, 0),
    SHORT_F("overlap_status", u.resource_cidr.overlap_status, 0),
    SHORT_F("management_state", u.resource_cidr.management_state, 0),
    DOUBLE_F("ip_usage", u.resource_cidr.ip_usage, 0, 0),
    MAP_F("tags", u.resource_cidr.tags),
};

static const struct field discovered_account_fields[] = {
    SHORT_F("account_id", u.discovered_account.account_id, F_REQ),
    SHORT_F("region", u.discovered_account.region, F_REQ),
    ENUM_F("status", u.discovered_account.status, F_REQ, discovery_statuses),
    ID_F("resource_discovery_id", u.discovered_account.resource_discovery_id, 0),
    SHORT_F("failure_code", u.discovered_account.failure_code, 0),
    TEXT_F("failure_message", u.discovered_account.failure_message),
    TIME_F("last_attempted", u.discovered_account.last_attempted_ms, 0),
    TIME_F("last_successful", u.discovered_account.last_successful_ms, 0),
    ID_F("organizational_unit_id", u.discovered_account.organizational_unit_id, 0),
};

static const struct field principal_fields[] = {
    SHORT_F("type", u.event.principal.type, 0),
    ARN_F("arn", u.event.principal.arn),
    ID_F("principal_id", u.event.principal.principal_id, 0),
    ARN_F("session_issuer_arn", u.event.principal.session_issuer_arn),
};

static const struct field event_fields[] = {
    ID_F("event_id", u.event.event_id, F_REQ),
    ID_F("name", u.event.name, F_REQ),
    TIME_F("time", u.event.time_ms, F_REQ),
    SHORT_F("account", u.event.account, F_REQ),
    SHORT_F("region", u.event.region, F_REQ),
    SHORT_F("caller_account", u.event.caller_account, 0),
    OBJ_F("principal", u.event.principal, principal_fields),
    ID_F("source_ip", u.event.source_ip, 0),
    TEXT_F("user_agent", u.event.user_agent),
    ID_F("request_id", u.event.request_id, 0),
    ID_F("pool_id", u.event.pool_id, 0),
    ID_F("allocation_id", u.event.allocation_id, 0),
    CIDR_F("cidr", u.event.cidr, 0),
    INT_F("netmask_length", u.event.netmask_length, 0, 0, 128),
    ID_F("resource_id", u.event.resource_id, 0),
    ID_F("vpc_id", u.event.vpc_id, 0),
    ID_F("error_code", u.event.error_code, 0),
    TEXT_F("error_message", u.event.error_message),
    BOOL_F("parsed", u.event.parsed, F_REQ),
    TEXT_F("raw", u.event.raw),
};

static const struct field alert_fields[] = {
    ID_F("fingerprint", u.alert.fingerprint, F_REQ),
    ID_F("id", u.alert.id, 0),
    ID_F("rule", u.alert.rule, F_REQ),
    ENUM_F("state", u.alert.state, F_REQ, alert_states),
    ENUM_F("severity", u.alert.severity, F_REQ, alert_severities),
    MAP_F("labels", u.alert.labels),
    MAP_F("annotations", u.alert.annotations),
    TIME_F("starts_at", u.alert.starts_at_ms, F_REQ),
    TIME_F("ends_at", u.alert.ends_at_ms, 0),
    DOUBLE_F("value", u.alert.value, 0, INT64_MIN),
};

static const struct {
    const char *name;
    const struct field *fields;
    size_t nfields;
} types[RECORD_TYPE_COUNT] = {
    [RECORD_PASS_BEGIN] = {"pass_begin", pass_begin_fields, NFIELDS(pass_begin_fields)},
    [RECORD_IPAM] = {"ipam", ipam_fields, NFIELDS(ipam_fields)},
    [RECORD_SCOPE] = {"scope", scope_fields, NFIELDS(scope_fields)},
    [RECORD_POOL] = {"pool", pool_fields, NFIELDS(pool_fields)},
    [RECORD_POOL_CIDR] = {"pool_cidr", pool_cidr_fields, NFIELDS(pool_cidr_fields)},
    [RECORD_ALLOCATION] = {"allocation", allocation_fields, NFIELDS(allocation_fields)},
    [RECORD_RESOURCE_CIDR] = {"resource_cidr", resource_cidr_fields, NFIELDS(resource_cidr_fields)},
    [RECORD_DISCOVERED_ACCOUNT] = {"discovered_account", discovered_account_fields,
                                   NFIELDS(discovered_account_fields)},
    [RECORD_PASS_END] = {"pass_end", pass_end_fields, NFIELDS(pass_end_fields)},
    [RECORD_EVENT] = {"event", event_fields, NFIELDS(event_fields)},
    [RECORD_ALERT] = {"alert", alert_fields, NFIELDS(alert_fields)},
};

/* Inventory types counted in pass_end.counts, in wire order. */
static const enum record_type counted_types[] = {
    RECORD_IPAM,
    RECORD_SCOPE,
    RECORD_POOL,
    RECORD_POOL_CIDR,
    RECORD_ALLOCATION,
    RECORD_RESOURCE_CIDR,
    RECORD_DISCOVERED_ACCOUNT,
};
#define NCOUNTED (sizeof counted_types / sizeof counted_types[0])

const struct field *record_fields_envelope(size_t *n)
{
    *n = NFIELDS(envelope_fields);
    return envelope_fields;
}

const struct field *record_fields_body(enum record_type type, size_t *n)
{
    if (type <= RECORD_NONE || type >= RECORD_TYPE_COUNT) {
        *n = 0;
        return NULL;
    }
    *n = types[type].nfields;
    return types[type].fields;
}

const enum record_type *record_fields_counted(size_t *n)
{
    *n = NCOUNTED;
    return counted_types;
}

static bool valid_type(enum record_type type)
{
    return type > RECORD_NONE && type < RECORD_TYPE_COUNT;
}

static void *slot(const struct record *rec, const struct field *f)
{
    return (char *)rec + f->off;
}

/* Error text: "<type>: <message>" once the type is known. Truncation of an error message
 * is acceptable, so the snprintf results are not checked beyond staying in the buffer. */
static void __attribute__((format(printf, 4, 5)))
seterr(char *err, size_t errlen, const char *ctx, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    size_t used = 0;
    if (ctx) {
        int n = snprintf(err, errlen, "%s: ", ctx);
        if (n < 0 || (size_t)n >= errlen)
            return;
        used = (size_t)n;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err + used, errlen - used, fmt, ap);
    va_end(ap);
}

static const char *json_type_word(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "real";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

static const char *kind_word(enum kind k)
{
    switch (k) {
    case K_STR:
    case K_CIDR:
    case K_TIME:
        return "string";
    case K_INT:
        return "integer";
    case K_BOOL:
        return "boolean";
    case K_DOUBLE:
        return "number";
    case K_MAP:
    case K_COUNTS:
    case K_OBJ:
        return "object";
    case K_LIST:
        return "array";
    }
    return "unknown";
}

/* ---- time ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *year, unsigned *month, unsigned *day)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = (int64_t)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = (int)(y + (*month <= 2));
}

int record_time_format(int64_t ms, char *buf, size_t buflen)
{
    if (buflen < RECORD_TIME_MAX)
        return -ENOSPC;
    if (ms < 0 || ms > TIME_MAX)
        return -ERANGE;
    int64_t days = ms / 86400000;
    int64_t rem = ms % 86400000;
    int year;
    unsigned month, day;
    civil_from_days(days, &year, &month, &day);
    /* "YYYY-MM-DDTHH:MM:SS.mmmZ" by hand: the analyzer formats one for every journaled
     * effect. Years are 1970..9999 here (checked above), so every field has its width. */
    const unsigned v[] = {(unsigned)year,
                          month,
                          day,
                          (unsigned)(rem / 3600000),
                          (unsigned)(rem / 60000 % 60),
                          (unsigned)(rem / 1000 % 60),
                          (unsigned)(rem % 1000)};
    static const unsigned width[] = {4, 2, 2, 2, 2, 2, 3};
    static const char sep[] = "--T::.Z";
    char *o = buf;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        for (unsigned k = width[i], x = v[i]; k > 0; k--, x /= 10)
            o[k - 1] = (char)('0' + x % 10);
        o += width[i];
        *o++ = sep[i];
    }
    *o = '\0';
    return 0;
}

/* Reads exactly `n` digits at *p into *out and advances *p. */
static bool digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

int record_time_parse(const char *s, int64_t *ms)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, sec, frac = 0;
    const char *p = s;
    if (!s || !digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
        !digits(&p, 2, &d))
        return -EINVAL;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -EINVAL;
    p++;
    if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
        !digits(&p, 2, &sec))
        return -EINVAL;
    if (*p == '.') {
        p++;
        int n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n < 3)
                frac = frac * 10 + (*p - '0');
            n++;
            p++;
        }
        if (n == 0 || n > 9)
            return -EINVAL;
        for (; n < 3; n++)
            frac *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
            return -EINVAL;
        offset_min = sign * (oh * 60 + om);
    } else {
        return -EINVAL;
    }
    if (*p != '\0')
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60)
        return -EINVAL;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    unsigned maxd = mdays[mo - 1] + (mo == 2 && leap);
    if ((unsigned)d > maxd)
        return -EINVAL;
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t t = ((days * 24 + h) * 60 + mi - offset_min) * 60 + sec;
    t = t * 1000 + frac;
    if (t < 0 || t > TIME_MAX)
        return -EINVAL;
    *ms = t;
    return 0;
}

/* ---- small containers ---- */

void record_str_set(char **slot_p, const char *value)
{
    char *copy = value ? xstrdup(value) : NULL;
    free(*slot_p);
    *slot_p = copy;
}

void record_map_set(struct record_map *map, const char *key, const char *value)
{
    for (size_t i = 0; i < map->n; i++) {
        if (strcmp(map->items[i].key, key) == 0) {
            record_str_set(&map->items[i].value, value);
            return;
        }
    }
    map->items = xgrow(map->items, &map->cap, map->n + 1, sizeof map->items[0]);
    map->items[map->n].key = xstrdup(key);
    map->items[map->n].value = xstrdup(value);
    map->n++;
}

const char *record_map_get(const struct record_map *map, const char *key)
{
    for (size_t i = 0; i < map->n; i++)
        if (strcmp(map->items[i].key, key) == 0)
            return map->items[i].value;
    return NULL;
}

void record_list_add(struct record_list *list, const char *value)
{
    list->items = xgrow(list->items, &list->cap, list->n + 1, sizeof list->items[0]);
    list->items[list->n++] = xstrdup(value);
}

static void map_clear(struct record_map *map)
{
    for (size_t i = 0; i < map->n; i++) {
        free(map->items[i].key);
        free(map->items[i].value);
    }
    free(map->items);
    memset(map, 0, sizeof *map);
}

static void list_clear(struct record_list *list)
{
    for (size_t i = 0; i < list->n; i++)
        free(list->items[i]);
    free(list->items);
    memset(list, 0, sizeof *list);
}

static int entry_cmp(const void *a, const void *b)
{
    const struct record_map_entry *const *x = a, *const *y = b;
    return strcmp((*x)->key, (*y)->key);
}

/* Returns the entries of `map` sorted by key (owned by the caller), NULL when empty. */
static const struct record_map_entry **map_sorted(const struct record_map *map)
{
    if (map->n == 0)
        return NULL;
    const struct record_map_entry **v = xmalloc(map->n * sizeof *v);
    for (size_t i = 0; i < map->n; i++)
        v[i] = &map->items[i];
    qsort(v, map->n, sizeof *v, entry_cmp);
    return v;
}

/* ---- lifecycle ---- */

const char *record_type_name(enum record_type type)
{
    return valid_type(type) ? types[type].name : NULL;
}

enum record_type record_type_from_name(const char *name)
{
    for (int t = RECORD_NONE + 1; t < RECORD_TYPE_COUNT; t++)
        if (strcmp(types[t].name, name) == 0)
            return (enum record_type)t;
    return RECORD_NONE;
}

static void fields_init(struct record *rec, const struct field *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct field *f = &fields[i];
        if (f->kind == K_INT || f->kind == K_TIME)
            *(int64_t *)slot(rec, f) = RECORD_UNSET;
        else if (f->kind == K_DOUBLE)
            *(double *)slot(rec, f) = NAN;
        else if (f->kind == K_OBJ)
            fields_init(rec, f->sub, f->nsub);
    }
}

static void fields_free(struct record *rec, const struct field *fields, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct field *f = &fields[i];
        switch (f->kind) {
        case K_STR:
        case K_CIDR:
            free(*(char **)slot(rec, f));
            break;
        case K_MAP:
            map_clear(slot(rec, f));
            break;
        case K_LIST:
            list_clear(slot(rec, f));
            break;
        case K_OBJ:
            fields_free(rec, f->sub, f->nsub);
            break;
        default:
            break;
        }
    }
}

struct record *record_fields_new(enum record_type type)
{
    if (!valid_type(type))
        return NULL;
    struct record *rec = xcalloc(1, sizeof *rec);
    rec->type = type;
    fields_init(rec, envelope_fields, NFIELDS(envelope_fields));
    fields_init(rec, types[type].fields, types[type].nfields);
    return rec;
}

struct record *record_new(enum record_type type)
{
    struct record *rec = record_fields_new(type);
    if (!rec)
        return NULL;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    rec->ts_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    return rec;
}

void record_free(struct record *rec)
{
    if (!rec)
        return;
    if (rec->one_block) { /* record_read(): strings and arrays are inside the block */
        free(rec);
        return;
    }
    fields_free(rec, envelope_fields, NFIELDS(envelope_fields));
    if (valid_type(rec->type))
        fields_free(rec, types[rec->type].fields, types[rec->type].nfields);
    free(rec);
}

/* ---- validation ---- */

/* Whether the NUL-terminated `s` is valid UTF-8 (as jansson judges it). */
static bool utf8_valid(const char *s)
{
    size_t len = strlen(s);
    return text_utf8_span(s, len) == len;
}

bool record_fields_str_ok(const struct field *f, const char *s, size_t len)
{
    if (f->kind == K_CIDR)
        return len > 0 && len <= RECORD_CIDR_MAX;
    if ((f->flags & F_NONEMPTY) && len == 0)
        return false;
    if (f->max > 0 && len > (size_t)f->max)
        return false;
    if (!f->allowed)
        return true;
    for (const char *const *a = f->allowed; *a; a++)
        if (strcmp(*a, s) == 0)
            return true;
    return false;
}

bool record_fields_int_ok(const struct field *f, int64_t v)
{
    return v >= f->min && v <= f->max;
}

bool record_fields_double_ok(const struct field *f, double v)
{
    return isnan(v) || (isfinite(v) && (f->min == INT64_MIN || v >= (double)f->min));
}

/* Checks a string field; the predicate decides, the rest finds the words for the message. */
static int validate_str(const struct field *f, const char *s, bool full, const char *ctx,
                        const char *path, char *err, size_t errlen)
{
    if (full && !utf8_valid(s)) {
        seterr(err, errlen, ctx, "field '%s': not valid UTF-8", path);
        return -EINVAL;
    }
    size_t len = strlen(s);
    if (record_fields_str_ok(f, s, len))
        return 0;
    if (f->kind == K_CIDR) {
        if (len == 0) {
            seterr(err, errlen, ctx, "field '%s': empty CIDR", path);
            return -EINVAL;
        }
        if (len > RECORD_CIDR_MAX) {
            seterr(err, errlen, ctx, "field '%s': CIDR of %zu characters, the limit is %d", path,
                   len, RECORD_CIDR_MAX);
            return -EINVAL;
        }
        return 0;
    }
    if ((f->flags & F_NONEMPTY) && len == 0) {
        seterr(err, errlen, ctx, "field '%s': empty string", path);
        return -EINVAL;
    }
    if (f->max > 0 && len > (size_t)f->max) {
        seterr(err, errlen, ctx, "field '%s': %zu characters, the limit is %lld", path, len,
               (long long)f->max);
        return -EINVAL;
    }
    if (f->allowed) {
        char words[128];
        size_t used = 0;
        for (const char *const *a = f->allowed; *a; a++) {
            if (strcmp(*a, s) == 0)
                return 0;
            int n = snprintf(words + used, sizeof words - used, "%s%s", used ? ", " : "", *a);
            if (n > 0 && (size_t)n < sizeof words - used)
                used += (size_t)n;
        }
        seterr(err, errlen, ctx, "field '%s': unknown value '%.64s' (expected one of: %s)", path, s,
               words);
        return -EINVAL;
    }
    return 0;
}

/* The dotted path of a field for messages: `name` itself at the top level (no copy), else
 * `prefix` + `name` in `buf`, marked with "..." when truncated. */
static const char *field_path(char *buf, size_t buflen, const char *prefix, const char *name)
{
    if (prefix[0] == '\0')
        return name;
    int n = snprintf(buf, buflen, "%s%s", prefix, name);
    if (n < 0 || (size_t)n >= buflen)
        snprintf(buf + buflen - 4, 4, "...");
    return buf;
}

/* Checks the values of `fields`. `full` adds the checks a decoded record needs not repeat
 * because jansson already guarantees them: valid UTF-8 and unique map keys. */
static int validate_fields(const struct record *rec, const struct field *fields, size_t n,
                           bool full, const char *ctx, const char *prefix, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const struct field *f = &fields[i];
        char pathbuf[128];
        const char *path = field_path(pathbuf, sizeof pathbuf, prefix, f->name);
        void *p = slot(rec, f);
        switch (f->kind) {
        case K_STR:
        case K_CIDR: {
            const char *s = *(char *const *)p;
            if (!s) {
                if (f->flags & F_REQ) {
                    seterr(err, errlen, ctx, "missing required field '%s'", path);
                    return -EINVAL;
                }
                break;
            }
            if (validate_str(f, s, full, ctx, path, err, errlen) < 0)
                return -EINVAL;
            break;
        }
        case K_INT:
        case K_TIME: {
            int64_t v = *(const int64_t *)p;
            if (v == RECORD_UNSET) {
                if (f->flags & F_REQ) {
                    seterr(err, errlen, ctx, "missing required field '%s'", path);
                    return -EINVAL;
                }
                break;
            }
            if (record_fields_int_ok(f, v))
                break;
            if (f->kind == K_TIME) {
                seterr(err, errlen, ctx, "field '%s': time %lld ms is outside years 1970 to 9999",
                       path, (long long)v);
                return -EINVAL;
            }
            seterr(err, errlen, ctx, "field '%s': value %lld out of range %lld..%lld", path,
                   (long long)v, (long long)f->min, (long long)f->max);
            return -EINVAL;
        }
        case K_DOUBLE: {
            double v = *(const double *)p;
            if (record_fields_double_ok(f, v))
                break;
            if (!isfinite(v)) {
                seterr(err, errlen, ctx, "field '%s': not a finite number", path);
                return -EINVAL;
            }
            seterr(err, errlen, ctx, "field '%s': value %g below the minimum %lld", path, v,
                   (long long)f->min);
            return -EINVAL;
        }
        case K_BOOL:
            break;
        case K_MAP: {
            const struct record_map *m = p;
            for (size_t k = 0; k < m->n; k++) {
                const struct record_map_entry *e = &m->items[k];
                if (!e->key || !e->value) {
                    seterr(err, errlen, ctx, "field '%s': entry %zu has no key or value", path, k);
                    return -EINVAL;
                }
                if (full && !utf8_valid(e->key)) {
                    seterr(err, errlen, ctx, "field '%s': key of entry %zu is not valid UTF-8",
                           path, k);
                    return -EINVAL;
                }
                if (full && !utf8_valid(e->value)) {
                    seterr(err, errlen, ctx, "field '%s.%.64s': not valid UTF-8", path, e->key);
                    return -EINVAL;
                }
            }
            if (!full || m->n < 2)
                break;
            const struct record_map_entry **sorted = map_sorted(m);
            for (size_t k = 1; k < m->n; k++) {
                if (strcmp(sorted[k - 1]->key, sorted[k]->key) == 0) {
                    seterr(err, errlen, ctx, "field '%s': duplicate key '%.64s'", path,
                           sorted[k]->key);
                    free(sorted);
                    return -EINVAL;
                }
            }
            free(sorted);
            break;
        }
        case K_LIST: {
            const struct record_list *l = p;
            for (size_t k = 0; k < l->n; k++) {
                if (!l->items[k]) {
                    seterr(err, errlen, ctx, "field '%s[%zu]': missing string", path, k);
                    return -EINVAL;
                }
                if (full && !utf8_valid(l->items[k])) {
                    seterr(err, errlen, ctx, "field '%s[%zu]': not valid UTF-8", path, k);
                    return -EINVAL;
                }
            }
            break;
        }
        case K_COUNTS: {
            const int64_t *counts = p;
            for (size_t k = 0; k < NCOUNTED; k++) {
                int64_t v = counts[counted_types[k]];
                if (v < 0) {
                    seterr(err, errlen, ctx, "field '%s.%s': negative count %lld", path,
                           types[counted_types[k]].name, (long long)v);
                    return -EINVAL;
                }
            }
            break;
        }
        case K_OBJ: {
            char sub[128];
            int w = snprintf(sub, sizeof sub, "%s.", path);
            if (w < 0 || (size_t)w >= sizeof sub)
                return -EINVAL; /* field tables have short names */
            if (validate_fields(rec, f->sub, f->nsub, full, ctx, sub, err, errlen) < 0)
                return -EINVAL;
            break;
        }
        }
    }
    return 0;
}

/* Rules that involve more than one field. */
static int validate_cross(const struct record *rec, const char *ctx, char *err, size_t errlen)
{
    switch (rec->type) {
    case RECORD_PASS_BEGIN:
    case RECORD_PASS_END:
        if (!rec->pass_id) {
            seterr(err, errlen, ctx, "missing required field 'pass'");
            return -EINVAL;
        }
        break;
    case RECORD_POOL: {
        const struct record_pool *p = &rec->u.pool;
        if (strcmp(p->address_family, "ipv4") != 0)
            break;
        const struct {
            const char *name;
            int64_t v;
        } masks[] = {
            {"allocation_default_netmask", p->allocation_default_netmask},
            {"allocation_min_netmask", p->allocation_min_netmask},
            {"allocation_max_netmask", p->allocation_max_netmask},
        };
        for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
            if (masks[i].v != RECORD_UNSET && masks[i].v > 32) {
                seterr(err, errlen, ctx, "field '%s': /%lld is longer than /32 in an ipv4 pool",
                       masks[i].name, (long long)masks[i].v);
                return -EINVAL;
            }
        }
        break;
    }
    case RECORD_EVENT: {
        const struct record_event *e = &rec->u.event;
        if (!e->parsed && !e->raw) {
            seterr(err, errlen, ctx, "missing field 'raw', required when 'parsed' is false");
            return -EINVAL;
        }
        if (e->error_code && strncmp(e->error_code, "Client.", 7) == 0) {
            seterr(err, errlen, ctx,
                   "field 'error_code': '%.64s' still carries the 'Client.' prefix", e->error_code);
            return -EINVAL;
        }
        break;
    }
    case RECORD_ALERT: {
        const struct record_alert *a = &rec->u.alert;
        if (strcmp(a->state, "resolved") == 0 && a->ends_at_ms == RECORD_UNSET) {
            seterr(err, errlen, ctx, "missing field 'ends_at', required when state is resolved");
            return -EINVAL;
        }
        if (a->ends_at_ms != RECORD_UNSET && a->ends_at_ms < a->starts_at_ms) {
            seterr(err, errlen, ctx, "field 'ends_at': earlier than 'starts_at'");
            return -EINVAL;
        }
        break;
    }
    default:
        break;
    }
    return 0;
}

/* The envelope rule the tables cannot say: "scope" is required except for events. */
static int validate_scope(const struct record *rec, const char *ctx, char *err, size_t errlen)
{
    if (rec->type != RECORD_EVENT && !rec->scope) {
        seterr(err, errlen, ctx, "missing required field 'scope'");
        return -EINVAL;
    }
    return 0;
}

static int validate(const struct record *rec, bool full, char *err, size_t errlen)
{
    if (!rec || !valid_type(rec->type)) {
        seterr(err, errlen, NULL, "not a record type");
        return -EINVAL;
    }
    const char *ctx = types[rec->type].name;
    if (validate_fields(rec, envelope_fields, NFIELDS(envelope_fields), full, ctx, "", err,
                        errlen) < 0 ||
        validate_scope(rec, ctx, err, errlen) < 0 ||
        validate_fields(rec, types[rec->type].fields, types[rec->type].nfields, full, ctx, "", err,
                        errlen) < 0)
        return -EINVAL;
    return validate_cross(rec, ctx, err, errlen);
}

int record_fields_check_rules(const struct record *rec)
{
    const char *ctx = types[rec->type].name;
    if (validate_scope(rec, ctx, NULL, 0) < 0)
        return -EINVAL;
    return validate_cross(rec, ctx, NULL, 0);
}

int record_validate(const struct record *rec, char *err, size_t errlen)
{
    return validate(rec, true, err, errlen);
}

int record_fields_check(const struct record *rec, char *err, size_t errlen)
{
    return validate(rec, false, err, errlen);
}

/* ---- encoding ---- */

static bool obj_has_value(const struct record *rec, const struct field *fields, size_t n);

/* Whether field `f` of `rec` goes on the wire. */
static bool field_present(const struct record *rec, const struct field *f)
{
    const void *p = slot(rec, f);
    switch (f->kind) {
    case K_STR:
    case K_CIDR:
        return *(char *const *)p != NULL;
    case K_INT:
    case K_TIME:
        return *(const int64_t *)p != RECORD_UNSET;
    case K_DOUBLE:
        return !isnan(*(const double *)p);
    case K_MAP:
        return ((const struct record_map *)p)->n > 0;
    case K_LIST:
        return ((const struct record_list *)p)->n > 0;
    case K_BOOL:
    case K_COUNTS:
        return true;
    case K_OBJ:
        return obj_has_value(rec, f->sub, f->nsub);
    }
    return false;
}

static bool obj_has_value(const struct record *rec, const struct field *fields, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (field_present(rec, &fields[i]))
            return true;
    return false;
}

/* Writes ",\"name\":" (or without the comma for the first member of an object). */
static void write_key(struct record_writer *w, const char *name, bool *first)
{
    record_write_key(w, name, *first); /* table names are plain ASCII */
    *first = false;
}

/* Appends the present fields as members of the object being written; the text matches what
 * json_dumps() printed for the same members (record_write.h). Returns 0 or -EINVAL if a
 * value cannot be written. */
static int encode_fields(const struct record *rec, const struct field *fields, size_t n,
                         struct record_writer *w, bool *first)
{
    for (size_t i = 0; i < n; i++) {
        const struct field *f = &fields[i];
        if (!field_present(rec, f))
            continue;
        const void *p = slot(rec, f);
        write_key(w, f->name, first);
        switch (f->kind) {
        case K_STR:
        case K_CIDR:
            if (record_write_string(w, *(char *const *)p) < 0)
                return -EINVAL;
            break;
        case K_INT:
            record_write_int(w, *(const int64_t *)p);
            break;
        case K_TIME: {
            /* Records of one pass share their time stamps: remember the last one. */
            static _Thread_local int64_t last_ms = RECORD_UNSET;
            static _Thread_local char last[RECORD_TIME_MAX + 2];
            static _Thread_local size_t last_len;
            int64_t ms = *(const int64_t *)p;
            if (ms != last_ms) {
                char buf[RECORD_TIME_MAX];
                if (record_time_format(ms, buf, sizeof buf) < 0)
                    return -EINVAL;
                int wn = snprintf(last, sizeof last, "\"%s\"", buf);
                if (wn < 0 || (size_t)wn >= sizeof last)
                    return -EINVAL;
                last_len = (size_t)wn;
                last_ms = ms;
            }
            record_write_raw(w, last, last_len);
            break;
        }
        case K_BOOL:
            record_write_bool(w, *(const bool *)p);
            break;
        case K_DOUBLE:
            if (record_write_real(w, *(const double *)p) < 0)
                return -EINVAL;
            break;
        case K_MAP: {
            const struct record_map *m = p;
            const struct record_map_entry *one = &m->items[0];
            const struct record_map_entry **sorted = m->n > 1 ? map_sorted(m) : &one;
            int rc = 0;
            record_write_raw(w, "{", 1);
            for (size_t k = 0; k < m->n && rc == 0; k++) {
                if (k)
                    record_write_raw(w, ",", 1);
                if (k && strcmp(sorted[k - 1]->key, sorted[k]->key) == 0)
                    rc = -EINVAL; /* a duplicate key */
                else
                    rc = record_write_string(w, sorted[k]->key);
                record_write_raw(w, ":", 1);
                if (rc == 0)
                    rc = record_write_string(w, sorted[k]->value);
            }
            record_write_raw(w, "}", 1);
            if (m->n > 1)
                free(sorted);
            if (rc < 0)
                return -EINVAL;
            break;
        }
        case K_LIST: {
            const struct record_list *l = p;
            record_write_raw(w, "[", 1);
            for (size_t k = 0; k < l->n; k++) {
                if (k)
                    record_write_raw(w, ",", 1);
                if (record_write_string(w, l->items[k]) < 0)
                    return -EINVAL;
            }
            record_write_raw(w, "]", 1);
            break;
        }
        case K_COUNTS: {
            const int64_t *counts = p;
            bool cfirst = true;
            record_write_raw(w, "{", 1);
            for (size_t k = 0; k < NCOUNTED; k++) {
                write_key(w, types[counted_types[k]].name, &cfirst);
                record_write_int(w, counts[counted_types[k]]);
            }
            record_write_raw(w, "}", 1);
            break;
        }
        case K_OBJ: {
            bool ofirst = true;
            record_write_raw(w, "{", 1);
            if (encode_fields(rec, f->sub, f->nsub, w, &ofirst) < 0)
                return -EINVAL;
            record_write_raw(w, "}", 1);
            break;
        }
        }
    }
    return 0;
}

int record_encode_to(const struct record *rec, struct record_writer *w)
{
    record_writer_reset(w);
    /* The writer checks what the full validation adds (UTF-8, unique map keys) as it goes. */
    if (validate(rec, false, NULL, 0) < 0)
        return -EINVAL;
    bool first = false;
    record_write_raw(w, "{\"v\":", 5);
    record_write_int(w, RECORD_VERSION);
    write_key(w, "type", &first);
    record_write_string(w, types[rec->type].name);
    if (encode_fields(rec, envelope_fields, NFIELDS(envelope_fields), w, &first) < 0 ||
        encode_fields(rec, types[rec->type].fields, types[rec->type].nfields, w, &first) < 0)
        return -EINVAL;
    record_write_raw(w, "}", 1);
    if (w->len > RECORD_MAX_BYTES)
        return -E2BIG;
    return 0;
}

int record_encode(const struct record *rec, char **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    struct record_writer w = {0};
    int rc = record_encode_to(rec, &w);
    if (rc < 0) {
        record_writer_free(&w);
        return rc;
    }
    *out = record_writer_take(&w, len);
    return 0;
}

/* ---- decoding ---- */

static int type_error(const char *ctx, const char *path, const struct field *f, const json_t *v,
                      char *err, size_t errlen)
{
    seterr(err, errlen, ctx, "field '%s': expected %s, got %s", path, kind_word(f->kind),
           json_type_word(v));
    return -EINVAL;
}

static int decode_fields(struct record *rec, const struct field *fields, size_t n,
                         const json_t *obj, const char *ctx, const char *prefix, char *err,
                         size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const struct field *f = &fields[i];
        char pathbuf[128];
        const char *path = field_path(pathbuf, sizeof pathbuf, prefix, f->name);
        json_t *v = json_object_get(obj, f->name);
        if (!v || json_is_null(v)) {
            if (f->flags & F_REQ) {
                seterr(err, errlen, ctx, "missing required field '%s'", path);
                return -EINVAL;
            }
            continue;
        }
        void *p = slot(rec, f);
        switch (f->kind) {
        case K_STR:
        case K_CIDR:
            if (!json_is_string(v))
                return type_error(ctx, path, f, v, err, errlen);
            record_str_set(p, json_string_value(v));
            break;
        case K_INT:
            if (!json_is_integer(v))
                return type_error(ctx, path, f, v, err, errlen);
            if (json_integer_value(v) == RECORD_UNSET) {
                seterr(err, errlen, ctx, "field '%s': value out of range", path);
                return -EINVAL;
            }
            *(int64_t *)p = json_integer_value(v);
            break;
        case K_TIME:
            if (!json_is_string(v))
                return type_error(ctx, path, f, v, err, errlen);
            if (record_time_parse(json_string_value(v), p) < 0) {
                seterr(err, errlen, ctx,
                       "field '%s': bad time '%.40s' (expected RFC 3339 UTC like "
                       "2025-03-14T10:02:17.123Z, years 1970 to 9999)",
                       path, json_string_value(v));
                return -EINVAL;
            }
            break;
        case K_BOOL:
            if (!json_is_boolean(v))
                return type_error(ctx, path, f, v, err, errlen);
            *(bool *)p = json_is_true(v);
            break;
        case K_DOUBLE:
            if (!json_is_number(v))
                return type_error(ctx, path, f, v, err, errlen);
            *(double *)p = json_number_value(v);
            break;
        case K_MAP: {
            if (!json_is_object(v))
                return type_error(ctx, path, f, v, err, errlen);
            const char *key;
            json_t *val;
            json_object_foreach(v, key, val)
            {
                if (!json_is_string(val)) {
                    seterr(err, errlen, ctx, "field '%s.%.64s': expected string, got %s", path, key,
                           json_type_word(val));
                    return -EINVAL;
                }
                struct record_map *m = p;
                m->items = xgrow(m->items, &m->cap, m->n + 1, sizeof m->items[0]);
                m->items[m->n].key = xstrdup(key);
                m->items[m->n].value = xstrdup(json_string_value(val));
                m->n++;
            }
            break;
        }
        case K_LIST: {
            if (!json_is_array(v))
                return type_error(ctx, path, f, v, err, errlen);
            size_t k;
            json_t *val;
            json_array_foreach(v, k, val)
            {
                if (!json_is_string(val)) {
                    seterr(err, errlen, ctx, "field '%s[%zu]': expected string, got %s", path, k,
                           json_type_word(val));
                    return -EINVAL;
                }
                record_list_add(p, json_string_value(val));
            }
            break;
        }
        case K_COUNTS: {
            if (!json_is_object(v))
                return type_error(ctx, path, f, v, err, errlen);
            int64_t *counts = p;
            for (size_t k = 0; k < NCOUNTED; k++) {
                const char *name = types[counted_types[k]].name;
                json_t *c = json_object_get(v, name);
                if (!c)
                    continue;
                if (!json_is_integer(c)) {
                    seterr(err, errlen, ctx, "field '%s.%s': expected integer, got %s", path, name,
                           json_type_word(c));
                    return -EINVAL;
                }
                counts[counted_types[k]] = json_integer_value(c);
            }
            break;
        }
        case K_OBJ: {
            if (!json_is_object(v))
                return type_error(ctx, path, f, v, err, errlen);
            char sub[128];
            int w = snprintf(sub, sizeof sub, "%s.", path);
            if (w < 0 || (size_t)w >= sizeof sub)
                return -EINVAL; /* field tables have short names */
            if (decode_fields(rec, f->sub, f->nsub, v, ctx, sub, err, errlen) < 0)
                return -EINVAL;
            break;
        }
        }
    }
    return 0;
}

int record_decode(const char *buf, size_t len, struct record **out, char *err, size_t errlen)
{
    /* Valid records take the single-pass decoder; anything it declines, valid or not, goes
     * through jansson, which also words every error (record_read.c explains why). */
    if (len <= RECORD_MAX_BYTES && record_read(buf, len, out) == 0) {
        if (err && errlen)
            err[0] = '\0';
        return 0;
    }
    return record_decode_jansson(buf, len, out, err, errlen);
}

int record_decode_jansson(const char *buf, size_t len, struct record **out, char *err,
                          size_t errlen)
{
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (len > RECORD_MAX_BYTES) {
        seterr(err, errlen, NULL, "record of %zu bytes exceeds the limit of %d bytes", len,
               RECORD_MAX_BYTES);
        return -E2BIG;
    }
    struct record *rec = NULL;
    json_error_t jerr;
    json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        seterr(err, errlen, NULL, "invalid JSON at line %d, column %d, position %d: %s", jerr.line,
               jerr.column, jerr.position, jerr.text);
        return -EINVAL;
    }
    if (!json_is_object(root)) {
        seterr(err, errlen, NULL, "record is a JSON %s, expected an object", json_type_word(root));
        goto fail;
    }
    json_t *v = json_object_get(root, "v");
    if (!v) {
        seterr(err, errlen, NULL, "missing required field 'v'");
        goto fail;
    }
    if (!json_is_integer(v)) {
        seterr(err, errlen, NULL, "field 'v': expected integer, got %s", json_type_word(v));
        goto fail;
    }
    if (json_integer_value(v) != RECORD_VERSION) {
        seterr(err, errlen, NULL, "unsupported version %lld (this build reads version %d)",
               (long long)json_integer_value(v), RECORD_VERSION);
        goto fail;
    }
    json_t *t = json_object_get(root, "type");
    if (!t) {
        seterr(err, errlen, NULL, "missing required field 'type'");
        goto fail;
    }
    if (!json_is_string(t)) {
        seterr(err, errlen, NULL, "field 'type': expected string, got %s", json_type_word(t));
        goto fail;
    }
    enum record_type type = record_type_from_name(json_string_value(t));
    if (type == RECORD_NONE) {
        seterr(err, errlen, NULL, "unknown record type '%.64s'", json_string_value(t));
        goto fail;
    }
    rec = record_new(type);
    const char *ctx = types[type].name;
    if (decode_fields(rec, envelope_fields, NFIELDS(envelope_fields), root, ctx, "", err, errlen) <
            0 ||
        decode_fields(rec, types[type].fields, types[type].nfields, root, ctx, "", err, errlen) <
            0 ||
        validate(rec, false, err, errlen) < 0)
        goto fail;
    json_decref(root);
    *out = rec;
    return 0;
fail:
    record_free(rec);
    json_decref(root);
    return -EINVAL;
}

/* ---- keys and ids ---- */

int record_key(const struct record *rec, char *buf, size_t buflen)
{
    int n;
    if (rec->scope && rec->scope[0])
        n = snprintf(buf, buflen, "%s", rec->scope);
    else if (rec->type == RECORD_EVENT && rec->u.event.account && rec->u.event.region)
        n = snprintf(buf, buflen, "%s/%s", rec->u.event.account, rec->u.event.region);
    else
        return -EINVAL;
    if (n < 0 || (size_t)n >= buflen)
        return -ENOSPC;
    return 0;
}

const char *record_id_from_arn(const char *arn)
{
    if (!arn)
        return NULL;
    const char *slash = strrchr(arn, '/');
    if (!slash || slash[1] == '\0')
        return NULL;
    return slash + 1;
}
