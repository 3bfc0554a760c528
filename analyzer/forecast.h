/* forecast: when an object's used space reaches its size (or another level), from history.
 *
 * DESIGN: the history is reduced to one point a day (UTC day: mean of `used` at the mean
 * time of its samples, newest `size`). Allocations are discrete, so one very large
 * allocation would otherwise read as a trend: day-to-day moves larger than
 * FORECAST_STEP_FACTOR times the median non-zero move (with at least FORECAST_MIN_MOVES
 * non-zero moves to judge by) are one-off steps: each is replaced by a typical day's move
 * (the median of all daily moves) before the trend is fitted. The factor is high enough
 * that noise (a spike up and back) is never taken for a step. The trend is the Theil-Sen slope
 * (median of all pairwise slopes) of the step-capped daily series; its confidence band is Sen's
 * distribution-free interval (ranks from the normal approximation of Kendall's S), widened to
 * at least the history's resolution: on an exact line every pairwise slope is equal and Sen's
 * band is a single value, which would state the date to the second. A daily point only places
 * its value within its UTC day (FORECAST_RESOLUTION_DAYS), so the growth seen over a fitted
 * span of S days may have taken S +- 1 days: the band holds at least slope*S/(S+1) to
 * slope*S/(S-1), and the early/late dates lie at least a day either side of the date (it is
 * stated to the day, from the newest day's level). Noisy histories have a wider Sen band and
 * keep it; the floor never changes a status (a zero slope has none). The line is
 * anchored at the median residual of the real values since the last capped step, so a large
 * allocation counts in full as space used, but not as growth. A date is projected only when the
 * whole band is above zero: a band below zero is "shrinking", a band containing zero is "flat". The
 * early/late dates come from the upper/lower slope of the band (late is open-ended when the
 * lower slope is too small to reach the level within FORECAST_MAX_YEARS). Pure math (any
 * thread), except forecast_object(), which reads the history through rrd_store.
 */
#ifndef IPAMWATCH_FORECAST_H
#define IPAMWATCH_FORECAST_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "analyzer/rrd_store.h"

/* Moves larger than this many times the median non-zero daily move are one-off steps. */
#define FORECAST_STEP_FACTOR 10.0
/* Non-zero daily moves needed before any move can be called a step. */
#define FORECAST_MIN_MOVES 5
/* Time resolution of the daily history in days: the floor of the confidence band. */
#define FORECAST_RESOLUTION_DAYS 1.0
/* Projections further out than this are "flat" (no date). */
#define FORECAST_MAX_YEARS 100
/* Average days per month, for growth per month. */
#define FORECAST_DAYS_PER_MONTH 30.436875

/* One observation; NAN marks an unknown value (skipped). */
struct forecast_point {
    time_t t;    /* UTC seconds */
    double used; /* used addresses (IPv6 in /64 units) */
    double size; /* addresses of the object */
};

struct forecast_options {
    double level;      /* absolute target; NAN (default) = level_pct of the newest size */
    double level_pct;  /* percent of size when level is NAN; default 100 */
    double confidence; /* two-sided confidence of the band, 0.5 to 0.999; default 0.90 */
    size_t min_days;   /* daily points needed for any projection; default 7, at least 3 */
};

enum forecast_status {
    FORECAST_DATE,       /* date (and band) projected */
    FORECAST_REACHED,    /* already at or above the level: date = newest point */
    FORECAST_FLAT,       /* no significant growth: no date */
    FORECAST_SHRINKING,  /* significant decline: no date */
    FORECAST_TOO_LITTLE, /* not enough daily points: no date */
    FORECAST_NO_SIZE,    /* level given as a percentage but size unknown: no date */
};

struct forecast_result {
    enum forecast_status status;
    char reason[160];   /* one sentence for any status, e.g. "only 3 daily points (need 7)" */
    size_t days;        /* daily points used */
    size_t steps;       /* daily moves capped as one-off steps */
    time_t first, last; /* times of the first and newest daily point (0 when none) */
    double used, size;  /* newest known observed values (NAN when none) */
    double level;       /* the target level (NAN when unknown) */
    double slope;       /* trend, units per day (NAN when no fit) */
    double slope_lo;    /* lower end of the slope's confidence band (with the floor) */
    double slope_hi;    /* upper end */
    double per_month;   /* slope * FORECAST_DAYS_PER_MONTH */
    double anchor;      /* trend value at `last` */
    time_t date;        /* when the trend reaches `level`; 0 = no date */
    time_t date_early;  /* with the upper slope, at least a day before `date` (not before
                           `last`); 0 = no date */
    time_t date_late;   /* with the lower slope, at least a day after `date`; 0 = open-ended
                           (or no date) */
};

/* Fills *o with the defaults (level NAN, 100 %, confidence 0.90, 7 days). Any thread. */
void forecast_options_init(struct forecast_options *o);

/* Fits the trend of `pts` (n points in any order, borrowed) and projects when it reaches
 * the level of `o` (borrowed; NULL = defaults). Writes every field of *out (caller-owned)
 * and returns 0, or -EINVAL for a NULL result, points NULL with n > 0, or options out of
 * range. Unknown values are skipped. The outcome is out->status; out->reason says it in
 * words. Any thread. */
int forecast_fit(const struct forecast_point *pts, size_t n, const struct forecast_options *o,
                 struct forecast_result *out);

/* Same, over the `used` and `size` columns of a fetched series (borrowed); each row stands
 * at the middle of its interval. Returns as forecast_fit(). Any thread. */
int forecast_fit_series(const struct rrd_series *s, const struct forecast_options *o,
                        struct forecast_result *out);

/* Same, over the daily history of kind/id in `store`: the `window_s` seconds up to the
 * object's newest sample, read with rrd_store_fetch() (AVERAGE, one row a day). The only
 * function here that does I/O; it goes through rrd_store. Returns 0 with *out filled,
 * -ENOENT when the object has no file, or another -errno from the store (text in
 * rrd_store_error()). The store's thread. */
int forecast_object(rrd_store_t *store, const char *kind, const char *id, int64_t window_s,
                    const struct forecast_options *o, struct forecast_result *out);

/* Value of the fitted trend at time `t` (r borrowed); NAN without a fit. Any thread. */
double forecast_trend_at(const struct forecast_result *r, time_t t);

/* Short name of a status ("date", "reached", "flat", "shrinking", "too_little_data",
 * "no_size"); static. Any thread. */
const char *forecast_status_name(enum forecast_status status);

#endif
