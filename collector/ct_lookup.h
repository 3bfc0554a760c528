/* ct_lookup: polls CloudTrail LookupEvents for the IP allocation events of every (account,
 * Region) and publishes each event to the events topic exactly once.
 *
 * DESIGN: one poller thread with its own producer walks the pairs every
 * cloudtrail_interval. Accounts are reached by assuming
 * arn:<partition>:iam::<account>:role/<member_role_name> (one credential provider and one
 * AWS client per account); with no accounts configured the base credentials read their own
 * account ("self"). Each pair has a token bucket (one token, refilled every
 * 1/cloudtrail_rate s plus a small margin against network jitter) that every request waits
 * for, retries included (and it starts empty, so a restart cannot burst): the AWS client
 * runs with max_attempts=1 and the retry loop is here,
 * so a ThrottlingException waits for a token and backs off, and never ends the poll. A
 * window runs from max(checkpoint - cloudtrail_overlap, horizon) (90 days back on the first
 * poll: all LookupEvents keeps) to now, every page followed through NextToken; events are
 * de-duplicated by EventId against the pair's ct_state, which also carries the
 * exactly-once protocol (see ct_state.h). Before polling a pair whose state has ids in
 * flight, the poller reads the events topic from the saved offsets to learn which of them
 * were appended.
 *
 * Strategy: one ReadOnly=false lookup per window, filtered here with
 * ct_event_is_relevant(), rather than one EventName lookup per relevant name. LookupEvents
 * takes one attribute per call, so the per-name strategy costs at least one request per
 * name (about 40 names) per window even when nothing happened, i.e. >= 20 s per pair and
 * round at 2 requests/s, which alone exceeds a 10 s interval and grows with accounts x
 * Regions. ReadOnly=false costs ceil(write events in the window / 50) requests: one request
 * for a quiet pair, and it only loses once a pair records more than about 2,000 write
 * events (all services) per window of interval + overlap (16 minutes by default).
 */
#ifndef IPAMWATCH_CT_LOOKUP_H
#define IPAMWATCH_CT_LOOKUP_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "collector/aws_client.h"
#include "collector/aws_creds.h"
#include "config/config.h"
#include "record.h"

typedef struct ct_lookup ct_lookup_t;

/* Counters of a poller, for logs and tests. */
struct ct_lookup_stats {
    uint64_t rounds;     /* rounds finished */
    uint64_t requests;   /* LookupEvents requests sent */
    uint64_t throttled;  /* requests answered with ThrottlingException */
    uint64_t published;  /* events confirmed on the topic */
    uint64_t duplicates; /* events skipped because they were already published */
    uint64_t ignored;    /* events not relevant to IP allocation auditing */
    uint64_t reconciled; /* in-flight ids found on the topic after a crash or failure */
    uint64_t failures;   /* pair polls that failed (logged) */
};

/* Creates a poller for the pairs of `cfg` (borrowed; must outlive the poller): accounts x
 * regions of [collector], the state files in collector.state_dir, events to
 * topics.events with `source` (copied) as the records' source. `s` (copied) are the base
 * AWS settings and `base` (borrowed, must outlive the poller) the base credentials. Loads
 * every pair's state; nothing is sent yet. Returns NULL with text in err (bad state file,
 * producer error). Main thread. */
ct_lookup_t *ct_lookup_new(const struct config *cfg, const struct aws_settings *s,
                           aws_creds_t *base, const char *source, char *err, size_t errlen);

/* Frees the poller (its thread must have been joined); NULL is a no-op. */
void ct_lookup_free(ct_lookup_t *ct);

/* Runs one round over every pair in the calling thread. Returns 0 when every pair's
 * window was read and published, -EAGAIN when a pair failed (logged; it is retried next
 * round from its checkpoint), -EINTR when *stop was set. */
int ct_lookup_round(ct_lookup_t *ct, volatile sig_atomic_t *stop);

/* Starts the poller thread: a round, then one every cloudtrail_interval, until *stop
 * (borrowed; must outlive the thread) is set. Returns 0 or -errno. Main thread. */
int ct_lookup_start(ct_lookup_t *ct, volatile sig_atomic_t *stop);

/* Waits for the thread started by ct_lookup_start (set *stop first). No-op when it was
 * not started. Main thread. */
void ct_lookup_join(ct_lookup_t *ct);

/* Copies the counters. Any thread. */
void ct_lookup_get_stats(ct_lookup_t *ct, struct ct_lookup_stats *out);

/* What one LookupEvents answer holds for the poller (ct_lookup_page_parse). */
struct ct_lookup_page {
    struct record **recs; /* new relevant events as valid records, in page order (owned) */
    size_t n, cap;
    char *next_token;    /* the answer's NextToken; NULL on the last page (owned) */
    uint64_t ignored;    /* events not relevant to IP allocation auditing */
    uint64_t duplicates; /* relevant events already known, or repeated in the page */
    uint64_t skipped;    /* relevant events that made no valid record (each logged) */
};

/* Whether the event id `id` (borrowed) was already published. */
typedef bool (*ct_lookup_known_fn)(void *ctx, const char *id);

/* Reads one decoded LookupEvents answer `resp` (borrowed): every relevant event
 * (ct_event_is_relevant of its EventName) becomes a record through ct_event_from_lookup()
 * with `account` and `region` (borrowed; may be NULL); a record whose event id (EventId,
 * else the eventID inside CloudTrailEvent) `known` (may be NULL) reports as published, or
 * that the page already holds, is counted as a duplicate and dropped; the others get
 * `source` (borrowed) as their source and are kept when record_validate() accepts them.
 * Events that make no valid record are logged under `label` and counted. Empties `page`
 * first. Returns 0, or -EBADMSG when `resp` is not an object with an Events array of at
 * most 1000 events (the poller asks for 50) or its NextToken is not a string (the reason in
 * err; the page is then empty). Any thread. */
int ct_lookup_page_parse(json_t *resp, const char *account, const char *region, const char *source,
                         ct_lookup_known_fn known, void *ctx, const char *label,
                         struct ct_lookup_page *page, char *err, size_t errlen);

/* Frees the records and the token a page holds and empties it, keeping nothing; a zeroed
 * page is fine. */
void ct_lookup_page_clear(struct ct_lookup_page *page);

#endif
