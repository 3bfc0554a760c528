/* eventwin: the model's bounded window of recently seen event ids (replay and duplicate
 * detection for CloudTrail events).
 *
 * DESIGN: an id is remembered as a 128-bit fingerprint (MurmurHash3 x64-128 of its text) and
 * its event time, 24 bytes, in a ring in arrival order, with an open-addressing index of ring
 * positions: about 32 bytes an id, whatever the id's length. Ids leave from the oldest end,
 * either because the ring holds `max_ids` (the count cap, applied on every add) or through
 * eventwin_expire() (the time window: older than the newest event time minus `window_ms` and
 * older than what the caller still needs). The window remembers the largest event time it
 * has let go (the floor): an id whose event time lies above the floor and that was seen
 * before is always found, so exactly then a duplicate is always recognised. An id at or below
 * the floor that is not found is reported as EVENTWIN_UNCHECKED: it may be new or a
 * duplicate whose id was let go; the caller decides (the model applies it) and counts it.
 * Two different ids share a fingerprint with probability about n / 2^128 per lookup.
 *
 * Not thread-safe: a window belongs to the thread that owns its model.
 */
#ifndef IPAMWATCH_EVENTWIN_H
#define IPAMWATCH_EVENTWIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Defaults: an hour of event time (with the collector's defaults, twice its CloudTrail
 * re-read span of cloudtrail_interval + cloudtrail_overlap = 16 min, plus CloudTrail's
 * delivery delay of up to 15 min) and 262,144 ids (about 8 MiB; at 5,000 events a second,
 * 52 s of events). */
#define EVENTWIN_DEFAULT_WINDOW_MS (3600LL * 1000)
#define EVENTWIN_DEFAULT_MAX_IDS   262144

typedef struct eventwin eventwin_t;

enum eventwin_result {
    EVENTWIN_NEW,       /* not seen before (its time lies above the floor): remembered now */
    EVENTWIN_DUPLICATE, /* seen before: nothing changes */
    EVENTWIN_UNCHECKED, /* not found, but its time is at or below the floor: it may be a
                           duplicate whose id was let go; remembered now */
};

/* Counters and sizes since eventwin_new(). */
struct eventwin_stats {
    uint64_t ids;       /* ids held now */
    uint64_t evicted;   /* ids let go (count cap or time window) */
    uint64_t capped;    /* of those, let go by the count cap */
    uint64_t unchecked; /* adds that returned EVENTWIN_UNCHECKED */
    int64_t floor_ms;   /* largest event time let go; INT64_MIN when none */
    int64_t newest_ms;  /* largest event time added; INT64_MIN when none */
};

/* Creates an empty window keeping ids for `window_ms` of event time (> 0) and at most
 * `max_ids` ids (>= 1). Returns the window, owned by the caller (eventwin_free()); never
 * NULL (allocation failure aborts). */
eventwin_t *eventwin_new(int64_t window_ms, size_t max_ids);

/* Frees the window; NULL is a no-op. */
void eventwin_free(eventwin_t *w);

/* Looks `id` (borrowed, NUL-terminated) up and remembers it with event time `t_ms` unless it
 * was seen; at the count cap the oldest id is let go first. Returns what it found. */
enum eventwin_result eventwin_add(eventwin_t *w, const char *id, int64_t t_ms);

/* True when `id` is held (no change). */
bool eventwin_contains(const eventwin_t *w, const char *id);

/* Lets go, from the oldest end, every id whose event time is older than both the newest
 * event time minus the window and `needed_ms` (the oldest time the caller still needs ids
 * for; INT64_MIN keeps everything the count cap allows). Returns how many were let go. */
size_t eventwin_expire(eventwin_t *w, int64_t needed_ms);

/* Copies the counters into *out. */
void eventwin_get_stats(const eventwin_t *w, struct eventwin_stats *out);

/* Writes the window as JSON lines to `f`: one {"event_window":{...}} line (floor, newest),
 * then {"event_ids":"HEX"} lines of up to 1,024 ids each, oldest first (48 hex digits an id:
 * fingerprint and event time). Returns 0 or -EIO. */
int eventwin_save(const eventwin_t *w, FILE *f);

/* Restores the floor and newest time of an {"event_window":...} line's object. */
void eventwin_load_header(eventwin_t *w, int64_t floor_ms, int64_t newest_ms);

/* Appends the ids of one "event_ids" string (`hex`, `len` characters; borrowed) in order, as
 * eventwin_save() wrote them (the count cap applies). Returns 0 or -EINVAL when the text is
 * not a whole number of ids in lowercase hex. */
int eventwin_load_ids(eventwin_t *w, const char *hex, size_t len);

#endif
