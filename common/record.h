/* record: the versioned JSON records the collector publishes and the analyzer and CLI read.
 *
 * DESIGN: one `struct record` carries the envelope (type, scope, time, source, pass) and a
 * union with one body struct per type. Every string is owned by the record (NULL = absent),
 * optional integers and times hold RECORD_UNSET when absent, optional doubles hold NAN.
 * A record from record_new() owns each string, map array and list array separately; a
 * record from record_decode() may hold them all in its own allocation (one malloc per
 * record): read its strings, maps and lists but do not replace, add to or free them (copy
 * what you keep). Either way record_free() is the one call that frees it.
 * Encoding and decoding are driven by one field table in record.c, so the wire layout,
 * validation and error messages cannot drift apart; docs/records.md documents every field
 * and tests/data/records/ holds one golden encoding per type.
 *
 * Wire form (version 1): one flat JSON object, envelope keys first, then body keys in a
 * fixed order; compact, deterministic, maps sorted by key. Unknown keys are ignored when
 * decoding (forward compatibility within a version); an unknown "v" or "type" is an error.
 */
#ifndef IPAMWATCH_RECORD_H
#define IPAMWATCH_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RECORD_VERSION   1
#define RECORD_MAX_BYTES (1024 * 1024) /* larger records are refused both ways: -E2BIG */
#define RECORD_CIDR_MAX  49            /* longest CIDR text accepted (IPv6 with IPv4 tail) */
#define RECORD_KEY_MAX   256           /* buffer size that always holds record_key() */
#define RECORD_TIME_MAX  32            /* buffer size that always holds record_time_format() */
#define RECORD_UNSET     INT64_MIN     /* value of an absent optional integer or time */

enum record_type {
    RECORD_NONE = 0,
    RECORD_PASS_BEGIN,
    RECORD_IPAM,
    RECORD_SCOPE,
    RECORD_POOL,
    RECORD_POOL_CIDR,
    RECORD_ALLOCATION,
    RECORD_RESOURCE_CIDR,
    RECORD_DISCOVERED_ACCOUNT,
    RECORD_PASS_END,
    RECORD_EVENT,
    RECORD_ALERT,
    RECORD_TYPE_COUNT
};

/* A string map (tags, alert labels and annotations). Keys are unique; encoded as a JSON
 * object sorted by key. Fill it with record_map_set(). */
struct record_map_entry {
    char *key;
    char *value;
};
struct record_map {
    struct record_map_entry *items;
    size_t n, cap;
};

/* A list of strings (an IPAM's operating Regions). Fill it with record_list_add(). */
struct record_list {
    char **items;
    size_t n, cap;
};

/* Times are milliseconds since the Unix epoch, UTC. */

struct record_pass_begin {
    char *collector_id; /* required: the collector instance running the pass */
    int64_t started_ms; /* required */
    char *ipam_id;
    char *region; /* IPAM home Region the pass read from */
};

struct record_pass_end {
    /* Records of each inventory type sent in the pass, indexed by enum record_type
     * (RECORD_IPAM .. RECORD_DISCOVERED_ACCOUNT); other slots are ignored. */
    int64_t counts[RECORD_TYPE_COUNT];
    bool complete; /* required: every page of every call was read */
    char *error;   /* why the pass is incomplete */
};

struct record_ipam {
    char *ipam_id; /* required */
    char *arn;
    char *owner;
    char *home_region;
    char *private_default_scope_id;
    char *public_default_scope_id;
    int64_t scope_count;
    struct record_list operating_regions;
    char *tier;
    char *state;
    char *description;
    struct record_map tags;
};

struct record_scope {
    char *scope_id; /* required */
    char *arn;
    char *ipam_id;
    char *ipam_arn;
    char *owner;
    char *scope_type; /* "public" or "private" */
    bool is_default;
    int64_t pool_count;
    char *state;
    char *description;
    struct record_map tags;
};

struct record_pool {
    char *pool_id; /* required */
    char *arn;
    char *scope_id; /* required; parsed from ipamScopeArn (record_id_from_arn) */
    char *scope_arn;
    char *ipam_id;
    char *parent; /* sourceIpamPoolId; NULL for a top-level pool */
    char *owner;
    char *locale;         /* NULL when AWS says "None" */
    char *address_family; /* required: "ipv4" or "ipv6" */
    int64_t depth;
    char *state;
    char *state_message;
    int64_t allocation_default_netmask;
    int64_t allocation_min_netmask;
    int64_t allocation_max_netmask;
    bool auto_import;
    bool publicly_advertisable;
    char *aws_service;
    char *public_ip_source;
    char *description;
    struct record_map tags;
};

struct record_pool_cidr {
    char *pool_id; /* required */
    char *pool_cidr_id;
    char *cidr;  /* absent while a netmask-length provisioning is pending */
    char *state; /* required */
    int64_t netmask_length;
    char *failure_code;
    char *failure_message;
};

struct record_allocation {
    char *pool_id;       /* required */
    char *allocation_id; /* required */
    char *cidr;          /* required */
    char *resource_type;
    char *resource_id;
    char *resource_owner;
    char *resource_region;
    char *description;
    struct record_map tags;
};

struct record_resource_cidr {
    char *scope_id;      /* required */
    char *resource_type; /* required: vpc, subnet, eip, public-ipv4-pool, ipv6-pool, ... */
    char *resource_id;   /* required */
    char *cidr;          /* required */
    char *ipam_id;
    char *name;
    char *owner;
    char *region;
    char *vpc_id;
    char *availability_zone_id;
    char *pool_id;
    char *compliance_status;
    char *overlap_status;
    char *management_state;
    double ip_usage; /* 0..1 fraction; NAN when absent */
    struct record_map tags;
};

struct record_discovered_account {
    char *account_id; /* required */
    char *region;     /* required */
    char *status;     /* required: "ok" or "failed" */
    char *resource_discovery_id;
    char *failure_code;
    char *failure_message;
    int64_t last_attempted_ms;
    int64_t last_successful_ms;
    char *organizational_unit_id;
};

struct record_principal {
    char *type;
    char *arn;
    char *principal_id;
    char *session_issuer_arn;
};

struct record_event {
    char *event_id;  /* required */
    char *name;      /* required */
    int64_t time_ms; /* required: event time */
    char *account;   /* required: account the event was recorded in */
    char *region;    /* required */
    char *caller_account;
    struct record_principal principal;
    char *source_ip;
    char *user_agent;
    char *request_id;
    char *pool_id;
    char *allocation_id;
    char *cidr;
    int64_t netmask_length;
    char *resource_id;
    char *vpc_id;
    char *error_code; /* without the "Client." prefix */
    char *error_message;
    bool parsed; /* required: false when CloudTrailEvent could not be interpreted */
    char *raw;   /* required when !parsed: the CloudTrailEvent text */
};

struct record_alert {
    char *fingerprint; /* required */
    char *id;          /* optional: the notification's id (a replay repeats it) */
    char *rule;        /* required */
    char *state;       /* required: "pending", "firing" or "resolved" */
    char *severity;    /* required: "info", "warning" or "critical" */
    struct record_map labels;
    struct record_map annotations; /* summary, description, runbook_url, ... */
    int64_t starts_at_ms;          /* required */
    int64_t ends_at_ms;            /* required when resolved */
    double value;                  /* NAN when absent */
};

struct record {
    enum record_type type;
    char *scope;   /* partition key; required except for events */
    int64_t ts_ms; /* when the record was produced */
    char *source;  /* required: producer instance */
    char *pass_id; /* required for pass_begin/pass_end, optional for inventory records */
    union {
        struct record_pass_begin pass_begin;
        struct record_pass_end pass_end;
        struct record_ipam ipam;
        struct record_scope scope;
        struct record_pool pool;
        struct record_pool_cidr pool_cidr;
        struct record_allocation allocation;
        struct record_resource_cidr resource_cidr;
        struct record_discovered_account discovered_account;
        struct record_event event;
        struct record_alert alert;
    } u;
    /* Private to the record modules: set by record_decode() when the strings, map and list
     * arrays live in the record's own allocation, so record_free() frees that one block. */
    bool one_block;
};

/* Returns a new empty record of `type` (owned by the caller, free with record_free()):
 * strings NULL, maps empty, optional integers and times RECORD_UNSET, optional doubles NAN,
 * booleans false, ts_ms the current time. NULL if `type` is not a record type. Any thread. */
struct record *record_new(enum record_type type);

/* Frees `rec` and everything it owns; NULL is a no-op. Any thread. */
void record_free(struct record *rec);

/* Replaces the string in `*slot` (a field of a record) with a copy of `value` (borrowed;
 * NULL clears it). Any thread. */
void record_str_set(char **slot, const char *value);

/* Sets `key` to `value` in `map`, replacing an existing value; both are copied. Any thread. */
void record_map_set(struct record_map *map, const char *key, const char *value);
/* Returns the value of `key` (borrowed from the map) or NULL. Any thread. */
const char *record_map_get(const struct record_map *map, const char *key);
/* Appends a copy of `value` to `list`. Any thread. */
void record_list_add(struct record_list *list, const char *value);

/* Returns the wire name of `type` ("pool", "pass_end", ...) or NULL. Static string. */
const char *record_type_name(enum record_type type);
/* Looks up a wire name; returns the type or RECORD_NONE. */
enum record_type record_type_from_name(const char *name);

/* Checks what record_encode() needs: required fields present, values in range, strings
 * within their limits. Returns 0, or -EINVAL with a message naming the field in `err`.
 * Any thread. */
int record_validate(const struct record *rec, char *err, size_t errlen);

/* Encodes `rec` (borrowed) as compact JSON with a deterministic key order. On success
 * stores a NUL-terminated string owned by the caller (free()) in *out and its length
 * (without the NUL) in *len. Returns 0, -EINVAL if the record does not validate (call
 * record_validate() for the reason), -E2BIG if the encoding exceeds RECORD_MAX_BYTES.
 * Any thread. */
int record_encode(const struct record *rec, char **out, size_t *len);

/* record_encode() into `w` (borrowed; common/record_write.h), which is emptied first and
 * holds the text in w->buf, w->len on success; one writer reused for every record saves an
 * allocation per record. Same results as record_encode(); on failure the writer's content
 * is unspecified. Any thread (one writer per thread). */
struct record_writer;
int record_encode_to(const struct record *rec, struct record_writer *w);

/* Decodes `len` bytes at `buf` (borrowed, need not be NUL-terminated). On success stores a
 * record owned by the caller in *out (free with record_free(); its strings, maps and lists
 * are read-only, see DESIGN) and returns 0. Otherwise *out is NULL, `err` says
 * precisely what is wrong (JSON syntax with line/column/position, wrong version or type,
 * the missing or ill-typed field by name) and the result is -EINVAL, or -E2BIG when `len`
 * exceeds RECORD_MAX_BYTES. Any thread. */
int record_decode(const char *buf, size_t len, struct record **out, char *err, size_t errlen);

/* Writes the Kafka message key of `rec` into `buf`: the scope id when the record has one,
 * else, for an event, "<account>/<region>". Returns 0, -EINVAL if the record has no key,
 * -ENOSPC if `buflen` is too small (RECORD_KEY_MAX always suffices for valid records).
 * Any thread. */
int record_key(const struct record *rec, char *buf, size_t buflen);

/* Formats `ms` as RFC 3339 UTC with milliseconds ("2025-03-14T10:02:17.123Z") into `buf`.
 * Returns 0, -ERANGE outside years 1970..9999, -ENOSPC if `buflen` < RECORD_TIME_MAX. */
int record_time_format(int64_t ms, char *buf, size_t buflen);
/* Parses RFC 3339 ("2025-03-14T10:02:17Z", optional fraction, "Z" or a +hh:mm offset) into
 * milliseconds since the epoch (fraction truncated to ms). Returns 0 or -EINVAL. */
int record_time_parse(const char *s, int64_t *ms);

/* Returns the id after the last '/' of an ARN ("arn:aws:ec2::1:ipam-scope/ipam-scope-1" ->
 * "ipam-scope-1"), borrowed from `arn`, or NULL if there is no non-empty id. Any thread. */
const char *record_id_from_arn(const char *arn);

#endif
