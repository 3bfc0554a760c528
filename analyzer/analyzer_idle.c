/* analyzer_idle: when `analyze --exit-when-idle` may end. See analyzer_idle.h. */
#include "analyzer/analyzer_idle.h"

enum analyzer_idle analyzer_idle_decide(const struct analyzer_idle_inputs *in)
{
    if (in->idle_ms <= 0)
        return ANALYZER_IDLE_ACTIVE;
    if (!in->assigned_once)
        return in->since_start_ms >= in->idle_ms + ANALYZER_IDLE_NO_ASSIGN_MS
                   ? ANALYZER_IDLE_NO_ASSIGNMENT
                   : ANALYZER_IDLE_ACTIVE;
    if (in->quiet_ms < in->idle_ms)
        return ANALYZER_IDLE_ACTIVE;
    if (in->checkpoint_failing)
        return ANALYZER_IDLE_WAIT_CHECKPOINT;
    if (in->buffered > 0)
        return ANALYZER_IDLE_WAIT_MERGE;
    int64_t over = in->quiet_ms - in->idle_ms; /* beyond the idle time */
    if (in->lag < 0 && over < ANALYZER_IDLE_UNKNOWN_MS)
        return ANALYZER_IDLE_WAIT_UNKNOWN;
    if (in->lag > 0 && over < ANALYZER_IDLE_STALL_MS)
        return ANALYZER_IDLE_WAIT_LAG;
    if (in->commit_pending && over < ANALYZER_IDLE_STALL_MS)
        return ANALYZER_IDLE_WAIT_COMMIT;
    if (in->lag < 0)
        return ANALYZER_IDLE_EXIT_UNKNOWN;
    if (in->lag > 0 || in->commit_pending)
        return ANALYZER_IDLE_EXIT_STALLED;
    return ANALYZER_IDLE_EXIT;
}

int64_t analyzer_idle_waited(int64_t quiet_ms, int64_t waited_ms, int64_t timeout_ms)
{
    if (waited_ms <= 0)
        return quiet_ms;
    return quiet_ms + (waited_ms < timeout_ms ? waited_ms : timeout_ms);
}

bool analyzer_idle_ends(enum analyzer_idle v)
{
    return v == ANALYZER_IDLE_EXIT || v == ANALYZER_IDLE_NO_ASSIGNMENT ||
           v == ANALYZER_IDLE_EXIT_STALLED || v == ANALYZER_IDLE_EXIT_UNKNOWN;
}
