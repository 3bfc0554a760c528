/* analyzer_idle: when `analyze --exit-when-idle` may end (the decision, apart from the loop).
 *
 * DESIGN: the run is idle once it waited for messages for the requested time since the last
 * activity (a message, an assignment, consumption resumed after failed checkpoints or
 * released by the caller). Only the time the loop spends waiting in polls that return
 * nothing counts, each poll at most its timeout (analyzer_idle_waited()): the time of a
 * checkpoint (a slow RRD flush or fsync), of a call that blocks on the brokers, of a large
 * record, of a process that stood still on a loaded machine is a stall, and a stall never
 * counts as idleness (nor does it wipe out the idle time before it). Idle is not enough: the
 * run goes on while something is known to be waiting:
 *   - a checkpoint that failed and is retried (consumption is paused meanwhile, so the
 *     watermarks seen are stale): not bounded, the failure is logged as it is retried, and
 *     exiting would leave the applied records for the next run to replay;
 *   - records queued in the event-time merge (analyzer/ordered.h): the merge hands them out
 *     within its own bound ([analyzer] order_wait);
 *   - messages between the consumer's position and the partitions' high watermarks (the lag,
 *     ordered_lag()): a lag that stays above zero while nothing arrives for
 *     ANALYZER_IDLE_STALL_MS of idle time beyond the requested one no longer holds the run
 *     (offsets that never deliver a record, such as transaction markers; brokers gone), nor
 *     does a lag that is not known (a partition whose position or high watermark was not
 *     learnt) after ANALYZER_IDLE_UNKNOWN_MS beyond it;
 *   - offsets of a written checkpoint whose commit failed (retried; the final checkpoint
 *     retries it too): at most ANALYZER_IDLE_STALL_MS beyond it.
 * Without any assignment the run gives up ANALYZER_IDLE_NO_ASSIGN_MS after the idle time,
 * counted in wall time from the start.
 */
#ifndef IPAMWATCH_ANALYZER_IDLE_H
#define IPAMWATCH_ANALYZER_IDLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ANALYZER_IDLE_NO_ASSIGN_MS 60000 /* no assignment: give up this long after idle */
#define ANALYZER_IDLE_STALL_MS     60000 /* a known lag that does not move holds this long */
#define ANALYZER_IDLE_UNKNOWN_MS   10000 /* a lag not known holds this long */

/* What the decision looks at. */
struct analyzer_idle_inputs {
    int64_t idle_ms;         /* --exit-when-idle; <= 0: never idle */
    int64_t quiet_ms;        /* idle time since the last activity (analyzer_idle_waited()) */
    int64_t since_start_ms;  /* time since the analyzer started */
    bool assigned_once;      /* a partition was assigned since the start */
    bool checkpoint_failing; /* the last checkpoint failed and is retried */
    bool commit_pending;     /* a checkpoint was written but its commit failed */
    size_t buffered;         /* records queued in the event-time merge */
    int64_t lag;             /* messages up to the high watermarks; -1 not known */
};

enum analyzer_idle {
    ANALYZER_IDLE_ACTIVE,          /* not idle for long enough: go on */
    ANALYZER_IDLE_EXIT,            /* idle, nothing known to be waiting: exit */
    ANALYZER_IDLE_NO_ASSIGNMENT,   /* no partition ever assigned: give up (a failure) */
    ANALYZER_IDLE_WAIT_CHECKPOINT, /* idle, but a checkpoint fails and is retried */
    ANALYZER_IDLE_WAIT_MERGE,      /* idle, but records wait in the event-time merge */
    ANALYZER_IDLE_WAIT_LAG,        /* idle, but messages are known to wait on the brokers */
    ANALYZER_IDLE_WAIT_UNKNOWN,    /* idle, but the lag is not known yet */
    ANALYZER_IDLE_WAIT_COMMIT,     /* idle, but a written checkpoint is not committed yet */
    ANALYZER_IDLE_EXIT_STALLED,    /* a known lag or a commit did not move within the bound:
                                      exit without them */
    ANALYZER_IDLE_EXIT_UNKNOWN,    /* the lag stayed unknown beyond its bound: exit */
};

/* Decides, from `in` (borrowed), whether the run may end now (see DESIGN). Returns the
 * verdict; the ANALYZER_IDLE_WAIT_* ones name what holds the run. Pure; any thread. */
enum analyzer_idle analyzer_idle_decide(const struct analyzer_idle_inputs *in);

/* Returns the idle time `quiet_ms` plus what a poll with timeout `timeout_ms` that took
 * `waited_ms` and returned no message adds to it: the time waited, at most the timeout (a
 * poll that overran it ran callbacks, such as a checkpoint at a revoke, or the process stood
 * still). Pure; any thread. */
int64_t analyzer_idle_waited(int64_t quiet_ms, int64_t waited_ms, int64_t timeout_ms);

/* True for the verdicts that end the run. */
bool analyzer_idle_ends(enum analyzer_idle v);

#endif
