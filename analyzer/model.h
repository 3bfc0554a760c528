/* model: the analyzer's picture of the IPAM: scopes, the pool tree, pool CIDRs, allocations,
 * resource CIDRs, with overlap by routing domain, compliance and per-object figures.
 *
 * DESIGN: state is kept per scope. Inventory records arrive framed in passes
 * (pass_begin, records, pass_end; see docs/records.md); they are staged per (scope, pass id)
 * and only a pass_end with complete=true and counts equal to what was staged lets the staged
 * snapshot replace the scope's state wholesale (objects the snapshot omits disappear). Any
 * other ending (complete=false, counts that differ, a pass_end without its pass_begin, a new
 * pass_begin of the same source before the pass_end) tears the pass: its records are dropped
 * and a "pass_torn" effect says why. Inventory records that carry no pass id update what they
 * describe in place. Events (CloudTrail) move the state between passes: allocations,
 * releases, provisions, deprovisions, VPCs and subnets created or deleted. An event older
 * than the scope's last applied snapshot only yields its ledger effect (the snapshot already
 * reflects it); the next complete pass reconciles everything: the snapshot wins. Replays are
 * idempotent: an event id seen before, and a pass id already applied or torn, change nothing
 * and produce no effects.
 *
 * Events: the ids seen are kept in a bounded window (analyzer/eventwin.h): an id is let go
 * once it is older than every scope's snapshot and than the newest event time minus an hour
 * (EVENTWIN_DEFAULT_WINDOW_MS), and, whatever its age, once 262,144 newer ids arrived
 * (EVENTWIN_DEFAULT_MAX_IDS; model_save() writes only the window). A duplicate is therefore
 * always recognised unless its event time is at or below the largest event time let go (the
 * floor). Such an event is applied as new and counted (events_unchecked): when it is older
 * than its scope's snapshot it only yields its ledger record, whose key the journal still
 * catches while it holds that key (analyzer/journal.h); when it is newer (only possible
 * after the count cap let go an id newer than the scope's snapshot, i.e. more than 262,144
 * events arrived since the oldest scope's last pass, event_ids_capped > 0) a duplicate
 * allocation, release or resource change is applied a second time until the scope's next
 * complete pass replaces its state.
 *
 * Overlap: every resource CIDR that belongs to a routing domain ([domain] scopes: a scope id
 * or a scope type word "private"/"public"; pools: a pool id, which covers resource CIDRs
 * allocated from it or from any pool below it) is an entry of an overlap index
 * (analyzer/overlap.h); each domain's static ranges are entries owned by "static:<domain>".
 * A subnet declares its VPC as parent, so it never pairs with its own VPC. Pair changes made
 * by one model_apply() are netted (a pair that ends and reappears within one snapshot
 * produces nothing) and reported as overlap_opened/overlap_closed effects keyed by the pair
 * (domain, then both sides as "owner/cidr" sorted).
 *
 * Not thread-safe: a model belongs to one thread (the analyzer loop), which makes every call.
 */
#ifndef IPAMWATCH_MODEL_H
#define IPAMWATCH_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "analyzer/eventwin.h"
#include "analyzer/journal.h"
#include "analyzer/rrd_store.h"
#include "config/config.h"
#include "record.h"

typedef struct model model_t;

/* One thing that happened, to be written to the audit journal (journal_append()).
 *   kind: "allocation", "release", "provision", "deprovision", "allocation_failed",
 *         "event_failed", "vpc_created", "vpc_deleted", "vpc_cidr_associated",
 *         "vpc_cidr_disassociated", "subnet_created", "subnet_deleted", "event" (an event that
 *         changes no modelled state), "event_unparsed", "overlap_opened", "overlap_closed",
 *         "noncompliant", "compliant", "unmanaged", "managed", "pass", "pass_torn";
 *         "allocation" data carries "in_inventory": whether the inventory (not an event)
 *         already held that allocation when the event arrived.
 *         "noncompliant"/"compliant" and "unmanaged"/"managed" (a resource CIDR entering or
 *         leaving compliance status "noncompliant" / management state "unmanaged") carry
 *         scope_id, resource_type, resource_id, cidr, pool_id, owner, region, name and status
 *         (the new compliance status or management state, or "deleted").
 *   key:  idempotency key: the event id for events, else "<kind>:<pair or resource>:<time>"
 *         or "<kind>:<scope>:<pass id>" for passes.
 *   event_time: when it happened (event time, or the pass start), UTC seconds.
 *   data: a JSON object describing it, read with model_effect_data(). The effects a
 *         resource CIDR's state changes cause (noncompliant, compliant, unmanaged,
 *         managed: a million in a first pass) hold it in a compact form instead: `fields`,
 *         its string members sorted by name, which journal_append_fields() journals as
 *         journal_append() journals the object; the object is built only when asked for. */
struct model_effect {
    const char *kind; /* static string */
    char *key;        /* owned by the effects list */
    time_t event_time;
    json_t *data; /* owned by the effects list (one reference); NULL in the compact form */
    /* The compact form (else NULL and 0): `nfields` members, names strictly ascending,
     * every pointer into the effects list's memory, released with the effect. */
    const struct journal_field *fields;
    size_t nfields;
    json_t **built; /* compact form: where model_effect_data() keeps the object it built */
};

/* The data object of effect `e` (borrowed: valid as long as the effect, json_incref() it to
 * keep it): `data`, or for the compact form an object built from its fields on the first
 * call and kept with the effect. Never NULL for an effect of the model. The thread using the
 * effects list. */
json_t *model_effect_data(const struct model_effect *e);

/* Appends effect `e` (borrowed) to journal `j`: journal_append_fields() of the compact form,
 * journal_append() of `data` otherwise; either writes the same bytes for the same data.
 * Returns what they return. The thread using the journal and the effects list. */
int model_effect_journal(journal_t *j, const struct model_effect *e);

/* Receives the next `n` effects in the order they happened (`items` borrowed for the call:
 * the keys and data are released after it returns; json_incref() a data object, as
 * model_effect_data() gives it, to keep it).
 * Called from inside model_apply(): it must not call into the model. */
typedef void (*model_effects_fn)(void *ctx, const struct model_effect *items, size_t n);

/* Effects handed out per portion when a sink is set (model_effects_set_sink()). */
#define MODEL_EFFECTS_PORTION 256

/* The effects of model_apply(). Without a sink a growing list (every effect of the call is
 * held in `items` until model_effects_clear()); with a sink, effects are handed to it in
 * portions of at most `portion` while model_apply() runs and the rest before it returns, so
 * memory stays flat however many effects one record causes (a first pass that finds a
 * million unmanaged resources) and `n` is 0 after each call. */
struct model_fx_block;

struct model_effects {
    struct model_effect *items;
    size_t n, cap;
    /* Memory of the compact effects (keys, fields, their text): blocks reused once the held
     * effects are released, so a steady stream allocates nothing per effect. */
    struct model_fx_block *blocks, *block;
    model_effects_fn sink; /* NULL: accumulate */
    void *sink_ctx;
    size_t portion; /* with a sink: hand out once this many are held */
};

/* Counters since model_new()/model_load(); copied out by model_get_stats(). */
struct model_stats {
    uint64_t records;           /* records given to model_apply() */
    uint64_t passes_applied;    /* complete passes that replaced a scope's state */
    uint64_t passes_torn;       /* passes dropped as torn */
    uint64_t passes_replayed;   /* passes ignored because already applied or torn */
    uint64_t events_applied;    /* events that changed the state */
    uint64_t events_duplicate;  /* events ignored because their id was seen */
    uint64_t events_failed;     /* events with an error code (reported only) */
    uint64_t events_unchecked;  /* events at or below the event-id window's floor whose id was
                                   not found: applied as new, may have been duplicates */
    uint64_t event_ids;         /* event ids held in the window now */
    uint64_t event_ids_evicted; /* event ids let go (time window or count cap) */
    uint64_t event_ids_capped;  /* of those, let go by the count cap */
    uint64_t invalid;           /* records whose content could not be used (-EINVAL) */
    uint64_t scopes, pools, pool_cidrs, allocations, resource_cidrs; /* current sizes */
    uint64_t overlaps;                                               /* current pairs */
};

/* Zeroes `fx` (caller-owned storage): no sink. Any thread. */
void model_effects_init(struct model_effects *fx);
/* Frees every key and drops every data reference, leaving `fx` empty and reusable (its sink,
 * if any, is kept). */
void model_effects_clear(struct model_effects *fx);
/* Makes model_apply() hand the effects to `fn` (called with `ctx`, borrowed) in portions of
 * at most `portion` effects (0: MODEL_EFFECTS_PORTION) instead of collecting them; NULL `fn`
 * collects again. The thread using `fx`. */
void model_effects_set_sink(struct model_effects *fx, model_effects_fn fn, void *ctx,
                            size_t portion);
/* With a sink, hands the held effects to it and clears them; without one, does nothing.
 * model_apply() calls it before returning. The thread using `fx`. */
void model_effects_flush(struct model_effects *fx);

/* Creates an empty model. `cfg` is borrowed and must outlive the model; its routing domains
 * (cfg->domains) decide overlap membership; NULL means no domains. Returns a model owned by
 * the caller (model_free()). Never NULL (allocation failure aborts). Owner thread. */
model_t *model_new(const struct config *cfg);

/* Frees the model and everything it holds; NULL is a no-op. Owner thread. */
void model_free(model_t *m);

/* Applies one decoded record (`rec` borrowed; the model copies what it keeps) and appends
 * the effects it caused to `fx` (owned by the caller), or hands them to its sink (all of them
 * before returning). Types: pass_begin, ipam, scope, pool,
 * pool_cidr, allocation, resource_cidr, discovered_account, pass_end, event; alert records
 * are accepted and ignored. Returns 0; -EINVAL with text in `err` when the record's content
 * cannot be used (a CIDR that does not parse, an inventory record without a scope): such a
 * record still counts toward its pass (so the pass is not torn by it) but changes nothing;
 * the caller may dead-letter it. Owner thread. */
int model_apply(model_t *m, const struct record *rec, struct model_effects *fx, char *err,
                size_t errlen);

/* Receives one object's figures: kind "pool", "scope", "vpc" or "subnet", its id, its scope
 * id and the sample (all borrowed for the duration of the call). */
typedef void (*model_metrics_cb)(void *ctx, const char *kind, const char *id, const char *scope_id,
                                 const struct rrd_sample *s);

/* Calls `cb` once per pool, scope, VPC and subnet with its current figures (rrd_sample:
 * size, used, free in planning units (IPv4 addresses, IPv6 /64s), utilization in percent,
 * prefix length of the largest free block (NAN when none or not applicable), blocks of the
 * pool's default netmask that still fit (NAN without a default netmask), allocation count,
 * overlapping pairs involving the object, noncompliant resource CIDRs).
 *   pool:   provisioned CIDRs minus its allocations (a child pool counts once, through its
 *           ipam-pool allocation or, when that is not known, through its provisioned CIDRs);
 *   scope:  the sum of its top-level pools (largest free block: the largest among them);
 *   vpc:    its CIDRs minus its subnets' CIDRs (or, without known subnets, size x ipUsage);
 *           the allocation count is the number of subnet CIDRs;
 *   subnet: its CIDR, used = size x ipUsage.
 * Objects of one family are counted in that family's units; a VPC with IPv4 CIDRs reports
 * those only. Returns 0. Owner thread; `cb` must not call into the model. */
int model_metrics(model_t *m, model_metrics_cb cb, void *ctx);

/* As model_metrics(), for the pool, scope, VPC and subnet objects of scope `scope_id`
 * (borrowed) only (overlap counts still include pairs with other scopes); an unknown id calls
 * `cb` for nothing. Returns 0. Owner thread; `cb` must not call into the model. */
int model_metrics_scope(model_t *m, const char *scope_id, model_metrics_cb cb, void *ctx);

#define MODEL_MAX_POOL_DEPTH 16 /* pool ancestry reported per object */

/* What the model knows about an object besides its figures, for alert rule selectors. Every
 * pointer is borrowed from the model for the duration of the callback; optional ones are
 * NULL. */
struct model_object {
    const char *kind;     /* "pool", "scope", "vpc" or "subnet" (static) */
    const char *id;       /* its id */
    const char *scope_id; /* the scope it belongs to */
    const char *name;     /* Name tag (else description) of pools and scopes; VPC/subnet Name */
    const char *locale;   /* a pool's locale; a VPC's or subnet's Region */
    /* Pools it belongs to, nearest first, up to the top-level pool: a pool lists itself
     * first, a VPC or subnet the pool its CIDR was allocated from. pool_names runs parallel
     * (Name tag, else description; entries may be NULL). */
    const char *pools[MODEL_MAX_POOL_DEPTH];
    const char *pool_names[MODEL_MAX_POOL_DEPTH];
    size_t n_pools;
    const struct record_map *tags; /* pools and scopes; NULL for VPCs and subnets */
    int default_netmask;           /* a pool's allocation default netmask; 0 = none */
    int family;                    /* 4 or 6; 0 = unknown (scopes) */
};

/* Receives one object's description and figures (both borrowed for the call). */
typedef void (*model_objects_cb)(void *ctx, const struct model_object *o,
                                 const struct rrd_sample *s);

/* As model_metrics() (scope_id NULL) or model_metrics_scope() (scope_id borrowed), with each
 * object's description. Returns 0. Owner thread; `cb` must not call into the model. */
int model_metrics_objects(model_t *m, const char *scope_id, model_objects_cb cb, void *ctx);

/* Looks up one object's name and locale without computing any figures: `kind` "pool",
 * "scope", "vpc" or "subnet" (as model_object.kind) and `id`, both borrowed. *name receives
 * the name model_metrics_objects() gives it (a pool's or scope's Name tag, else its
 * description; a VPC's or subnet's Name), *locale its locale (a pool's locale, a VPC's or
 * subnet's Region; NULL for a scope); each NULL when the model has none, and either pointer
 * may be NULL when not wanted. A VPC or subnet that several scopes hold is described by the
 * first that gives it a name. The strings are borrowed from the model, valid until the next
 * call that changes it (model_apply(), model_drop_scope(), model_import_scopes(),
 * model_free()). Returns 0; -ENOENT when the model holds no such object (both set to NULL);
 * -EINVAL for another kind. Cost: a hash look-up per scope for a scope or pool, a scan of the
 * resource CIDRs for a VPC or subnet; nothing is allocated. Owner thread. */
int model_object_name(const model_t *m, const char *kind, const char *id, const char **name,
                      const char **locale);

/* Writes the whole model (state, staged passes, applied pass ids and the event-id window) to
 * `path` atomically (temp file, fsync, rename, fsync of the directory). Scopes, pools and the
 * other few objects are written as their whole records (names, descriptions, tags and a
 * pool's locale included), resource CIDRs with their Name and Region, so a loaded model names
 * and locates every object as the saved one did (model_object_name()). Returns 0 or -errno
 * with text in `err`. Owner thread. */
int model_save(const model_t *m, const char *path, char *err, size_t errlen);

/* Reads a model written by model_save(); `cfg` as for model_new(). Overlap pairs are rebuilt
 * silently (no effects: they were reported before the save). Returns a model owned by the
 * caller, or NULL with text in `err` (-ENOENT-like "no such file" text when `path` does not
 * exist: start with model_new() then). Owner thread. */
model_t *model_load(const struct config *cfg, const char *path, char *err, size_t errlen);

/* Forgets everything about `scope_id` (borrowed): its state, staged passes and its overlap
 * entries, without effects (another analyzer took its partition over). Unknown ids are a
 * no-op. Owner thread. */
void model_drop_scope(model_t *m, const char *scope_id);

/* Selects scopes by id (borrowed for the call). Returns true to select. */
typedef bool (*model_scope_fn)(void *ctx, const char *scope_id);

/* Writes the scopes `want` selects (state, staged passes, recent pass ids; not the event ids,
 * which belong to the events partitions) in model_save()'s format into a new buffer of *len
 * bytes, owned by the caller (free()), for the partition state (analyzer/partstate.h).
 * Returns NULL when a stored record does not encode. Owner thread; `want` must not call into
 * the model. */
char *model_export_scopes(const model_t *m, model_scope_fn want, void *ctx, size_t *len);

/* Reads scopes written by model_export_scopes() (`text`, `len` bytes, borrowed): each
 * replaces the model's scope of that id (dropped first, without effects); their overlap
 * entries are indexed silently (pairs were reported by the analyzer that found them). On a
 * malformed text returns -EINVAL with text in `err`, and the scopes it named are gone.
 * Returns 0. Owner thread. */
int model_import_scopes(model_t *m, const char *text, size_t len, char *err, size_t errlen);

/* Copies the counters into *out (owned by the caller). Owner thread. */
void model_get_stats(const model_t *m, struct model_stats *out);

/* Copies the event-id window's counters into *out (owned by the caller); cheaper than
 * model_get_stats(). Owner thread. */
void model_get_event_window(const model_t *m, struct eventwin_stats *out);

#endif
