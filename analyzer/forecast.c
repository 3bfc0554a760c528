/* forecast: robust trend (Theil-Sen on step-capped daily points) and exhaustion date. */
#include "analyzer/forecast.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "xalloc.h"

#define DAY_S 86400.0

/* One UTC day of history. */
struct day {
    double x; /* mean time of its samples, days since the first day's */
    double y; /* mean used */
};

void forecast_options_init(struct forecast_options *o)
{
    o->level = NAN;
    o->level_pct = 100.0;
    o->confidence = 0.90;
    o->min_days = 7;
}

const char *forecast_status_name(enum forecast_status status)
{
    switch (status) {
    case FORECAST_DATE:
        return "date";
    case FORECAST_REACHED:
        return "reached";
    case FORECAST_FLAT:
        return "flat";
    case FORECAST_SHRINKING:
        return "shrinking";
    case FORECAST_TOO_LITTLE:
        return "too_little_data";
    case FORECAST_NO_SIZE:
        return "no_size";
    }
    return "unknown";
}

static int cmp_point(const void *a, const void *b)
{
    const struct forecast_point *p = a, *q = b;
    return (p->t > q->t) - (p->t < q->t);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Rearranges a[0..n) so that a[k] holds the k-th smallest value, smaller values before it
 * and larger ones after; returns it. Three-way partitions keep runs of equal values (flat
 * histories give many equal slopes) linear. */
static double select_kth(double *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n; /* the answer lies in a[lo..hi) */
    while (hi - lo > 1) {
        double x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1];
        double pivot = x < y ? (y < z ? y : (x < z ? z : x)) : (x < z ? x : (y < z ? z : y));
        size_t lt = lo, i = lo, gt = hi; /* [lo,lt) < pivot, [lt,i) == pivot, [gt,hi) > */
        while (i < gt) {
            double t = a[i];
            if (t < pivot) {
                a[i++] = a[lt];
                a[lt++] = t;
            } else if (t > pivot) {
                a[i] = a[--gt];
                a[gt] = t;
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return pivot;
    }
    return a[k];
}

/* Median of a[0..n), n > 0; reorders a. */
static double median(double *a, size_t n)
{
    double hi = select_kth(a, n, n / 2);
    if (n % 2 == 1)
        return hi;
    double lo = select_kth(a, n / 2, n / 2 - 1); /* a[0..n/2) holds the smaller half */
    return (lo + hi) / 2;
}

/* z such that a standard normal lies within +-z with probability `confidence`. */
static double z_two_sided(double confidence)
{
    double lo = 0.0, hi = 10.0;
    for (int i = 0; i < 200; i++) {
        double mid = (lo + hi) / 2;
        /* P(|Z| <= mid) = erf(mid / sqrt 2) */
        if (erf(mid / M_SQRT2) < confidence)
            lo = mid;
        else
            hi = mid;
    }
    return (lo + hi) / 2;
}

/* Reduces valid points (sorted by time) to days; returns how many. Sets newest used/size. */
static size_t to_days(const struct forecast_point *sorted, size_t n, struct day *days,
                      time_t *first, time_t *last)
{
    size_t nd = 0, i = 0;
    double t0 = 0;
    while (i < n) {
        long long key = (long long)floor((double)sorted[i].t / DAY_S);
        double sum_t = 0, sum_u = 0;
        size_t cnt = 0;
        for (; i < n && (long long)floor((double)sorted[i].t / DAY_S) == key; i++) {
            sum_t += (double)sorted[i].t;
            sum_u += sorted[i].used;
            cnt++;
        }
        double mt = sum_t / (double)cnt;
        if (nd == 0) {
            t0 = mt;
            *first = (time_t)llround(mt);
        }
        *last = (time_t)llround(mt);
        days[nd].x = (mt - t0) / DAY_S;
        days[nd].y = sum_u / (double)cnt;
        nd++;
    }
    return nd;
}

/* Caps one-off steps: writes the series with every step replaced by a typical day's move
 * (the median signed move) to yc; returns the number of steps and the index of the day that
 * ends the newest step (0 when none) in *last_step. */
static size_t cap_steps(const struct day *d, size_t nd, double *yc, size_t *last_step)
{
    double *moves = xmalloc((nd ? nd : 1) * sizeof *moves);
    size_t nm = 0, steps = 0;
    double typical = 0, limit = INFINITY;

    *last_step = 0;
    for (size_t k = 1; k < nd; k++) {
        double mv = fabs(d[k].y - d[k - 1].y);
        if (mv > 1e-9 * fmax(1.0, fabs(d[k].y)))
            moves[nm++] = mv;
    }
    if (nm >= FORECAST_MIN_MOVES) {
        limit = FORECAST_STEP_FACTOR * median(moves, nm);
        for (size_t k = 1; k < nd; k++)
            moves[k - 1] = d[k].y - d[k - 1].y;
        typical = median(moves, nd - 1);
    }
    free(moves);
    yc[0] = d[0].y;
    for (size_t k = 1; k < nd; k++) {
        double mv = d[k].y - d[k - 1].y;
        if (fabs(mv) > limit) {
            mv = typical;
            steps++;
            *last_step = k;
        }
        yc[k] = yc[k - 1] + mv;
    }
    return steps;
}

/* Theil-Sen slope of (x, y) with Sen's confidence band. */
static void theil_sen(const struct day *d, const double *y, size_t nd, double z, double *slope,
                      double *lo, double *hi)
{
    size_t npairs = nd * (nd - 1) / 2, np = 0;
    double *s = xmalloc(npairs * sizeof *s);
    double *sorted = xmalloc(nd * sizeof *sorted);
    double var, c, m1, m2;
    size_t r1, r2;

    for (size_t i = 0; i < nd; i++)
        for (size_t j = i + 1; j < nd; j++)
            s[np++] = (y[j] - y[i]) / (d[j].x - d[i].x);
    /* Variance of Kendall's S with the correction for tied values. */
    memcpy(sorted, y, nd * sizeof *sorted);
    qsort(sorted, nd, sizeof *sorted, cmp_double);
    var = (double)nd * (double)(nd - 1) * (double)(2 * nd + 5);
    for (size_t i = 0; i < nd;) {
        size_t j = i + 1;
        while (j < nd && sorted[j] == sorted[i])
            j++;
        double t = (double)(j - i);
        var -= t * (t - 1) * (2 * t + 5);
        i = j;
    }
    var /= 18.0;
    c = z * sqrt(var > 0 ? var : 0);
    m1 = ((double)np - c) / 2;
    m2 = ((double)np + c) / 2;
    r1 = m1 < 1 ? 1 : (size_t)llround(m1);
    r2 = (size_t)llround(m2) + 1;
    if (r1 > np)
        r1 = np;
    if (r2 > np)
        r2 = np;
    *slope = median(s, np);
    *lo = select_kth(s, np, r1 - 1);
    *hi = select_kth(s, np, r2 - 1);
    free(sorted);
    free(s);
}

/* Widens the band [*lo, *hi] around `slope` to at least what the daily resolution allows:
 * each daily point places its value only within its UTC day, so the growth seen over the
 * fitted `span` days may have taken a day more or less (span +-1 days). A zero slope is
 * left alone (no change is exact), and no sign changes: the status never depends on it. */
static void resolution_floor(double slope, double span, double *lo, double *hi)
{
    if (slope == 0 || !(span > FORECAST_RESOLUTION_DAYS))
        return;
    double slower = slope * span / (span + FORECAST_RESOLUTION_DAYS);
    double faster = slope * span / (span - FORECAST_RESOLUTION_DAYS);
    *lo = fmin(*lo, fmin(slower, faster));
    *hi = fmax(*hi, fmax(slower, faster));
}

/* Time `days` after `from`, or 0 when beyond FORECAST_MAX_YEARS or not finite. */
static time_t project(time_t from, double days)
{
    if (!isfinite(days) || days > FORECAST_MAX_YEARS * 365.25)
        return 0;
    if (days < 0)
        days = 0;
    return from + (time_t)llround(days * DAY_S);
}

static void fmt_day(time_t t, char *buf, size_t len)
{
    if (text_utc_date(t, false, buf, len) != 0)
        snprintf(buf, len, "?");
}

int forecast_fit(const struct forecast_point *pts, size_t n, const struct forecast_options *o,
                 struct forecast_result *out)
{
    struct forecast_options def;
    struct forecast_point *valid = NULL;
    struct day *days = NULL;
    double *yc = NULL, *resid = NULL;
    size_t nv = 0, nd, last_step = 0;
    time_t newest_used_t = 0, newest_size_t = 0;

    if (out == NULL || (pts == NULL && n > 0))
        return -EINVAL;
    if (o == NULL) {
        forecast_options_init(&def);
        o = &def;
    }
    if (!(o->confidence >= 0.5 && o->confidence <= 0.999) || o->min_days < 3 ||
        !(isnan(o->level) || isfinite(o->level)) || !(o->level_pct > 0 && o->level_pct < 1e6))
        return -EINVAL;

    memset(out, 0, sizeof *out);
    out->used = out->size = out->level = NAN;
    out->slope = out->slope_lo = out->slope_hi = out->per_month = out->anchor = NAN;

    valid = xmalloc((n ? n : 1) * sizeof *valid);
    for (size_t i = 0; i < n; i++) {
        if (isfinite(pts[i].size) && pts[i].t >= newest_size_t) {
            newest_size_t = pts[i].t;
            out->size = pts[i].size;
        }
        if (!isfinite(pts[i].used))
            continue;
        if (pts[i].t >= newest_used_t) {
            newest_used_t = pts[i].t;
            out->used = pts[i].used;
        }
        valid[nv++] = pts[i];
    }
    qsort(valid, nv, sizeof *valid, cmp_point);
    days = xmalloc((nv ? nv : 1) * sizeof *days);
    nd = to_days(valid, nv, days, &out->first, &out->last);
    out->days = nd;

    if (!isnan(o->level))
        out->level = o->level;
    else if (isfinite(out->size) && out->size > 0)
        out->level = out->size * o->level_pct / 100.0;

    if (nd < o->min_days) {
        out->status = FORECAST_TOO_LITTLE;
        snprintf(out->reason, sizeof out->reason, "only %zu daily point%s of history (need %zu)",
                 nd, nd == 1 ? "" : "s", o->min_days);
        goto done;
    }

    yc = xmalloc(nd * sizeof *yc);
    out->steps = cap_steps(days, nd, yc, &last_step);
    theil_sen(days, yc, nd, z_two_sided(o->confidence), &out->slope, &out->slope_lo,
              &out->slope_hi);
    resolution_floor(out->slope, days[nd - 1].x - days[0].x, &out->slope_lo, &out->slope_hi);
    out->per_month = out->slope * FORECAST_DAYS_PER_MONTH;

    /* Anchor at the newest day: median of the real values since the newest step, each
     * carried along the slope to that day. */
    resid = xmalloc(nd * sizeof *resid);
    size_t nr = 0;
    for (size_t k = last_step; k < nd; k++)
        resid[nr++] = days[k].y - out->slope * (days[k].x - days[nd - 1].x);
    out->anchor = median(resid, nr);

    if (isnan(out->level)) {
        out->status = FORECAST_NO_SIZE;
        snprintf(out->reason, sizeof out->reason, "size unknown: no level to project to");
        goto done;
    }
    if (out->anchor >= out->level || (isfinite(out->used) && out->used >= out->level)) {
        out->status = FORECAST_REACHED;
        out->date = out->date_early = out->date_late = out->last;
        snprintf(out->reason, sizeof out->reason, "already at %.0f of %.0f", out->used, out->level);
        goto done;
    }
    if (out->slope_lo > 0) {
        double rest = out->level - out->anchor;
        out->date = project(out->last, rest / out->slope);
        if (out->date == 0) {
            out->status = FORECAST_FLAT;
            snprintf(out->reason, sizeof out->reason,
                     "growth of %.3g a day reaches the level only in over %d years", out->slope,
                     FORECAST_MAX_YEARS);
            goto done;
        }
        char d0[16], d1[16], d2[16];
        out->status = FORECAST_DATE;
        out->date_early = project(out->last, rest / out->slope_hi);
        out->date_late = project(out->last, rest / out->slope_lo);
        /* The date is stated to the day and starts from the newest day's level, not an
         * instant's: at least a day either side (never before the newest point). */
        time_t day = (time_t)(FORECAST_RESOLUTION_DAYS * DAY_S);
        if (out->date_early > out->date - day)
            out->date_early = out->date - day > out->last ? out->date - day : out->last;
        if (out->date_late != 0 && out->date_late < out->date + day)
            out->date_late = out->date + day;
        fmt_day(out->date, d0, sizeof d0);
        fmt_day(out->date_early, d1, sizeof d1);
        if (out->date_late)
            fmt_day(out->date_late, d2, sizeof d2);
        else
            snprintf(d2, sizeof d2, "open");
        snprintf(out->reason, sizeof out->reason, "reaches %.0f on %s (%s to %s)", out->level, d0,
                 d1, d2);
    } else if (out->slope_hi < 0) {
        out->status = FORECAST_SHRINKING;
        snprintf(out->reason, sizeof out->reason, "shrinking by %.3g a day", -out->slope);
    } else if (out->slope_lo == 0 && out->slope_hi == 0) {
        out->status = FORECAST_FLAT;
        snprintf(out->reason, sizeof out->reason, "no change over %zu days", nd);
    } else {
        out->status = FORECAST_FLAT;
        snprintf(out->reason, sizeof out->reason,
                 "no significant trend (%.3g to %.3g a day at %.0f%%)", out->slope_lo,
                 out->slope_hi, o->confidence * 100);
    }

done:
    free(resid);
    free(yc);
    free(days);
    free(valid);
    return 0;
}

int forecast_fit_series(const struct rrd_series *s, const struct forecast_options *o,
                        struct forecast_result *out)
{
    struct forecast_point *pts;
    int rc;
    if (s == NULL || out == NULL)
        return -EINVAL;
    pts = xmalloc((s->rows ? s->rows : 1) * sizeof *pts);
    for (size_t i = 0; i < s->rows; i++) {
        pts[i].t = rrd_series_time(s, i) - (time_t)(s->step / 2);
        pts[i].used = s->values[RRD_DS_USED] ? s->values[RRD_DS_USED][i] : NAN;
        pts[i].size = s->values[RRD_DS_SIZE] ? s->values[RRD_DS_SIZE][i] : NAN;
    }
    rc = forecast_fit(pts, s->rows, o, out);
    free(pts);
    return rc;
}

int forecast_object(rrd_store_t *store, const char *kind, const char *id, int64_t window_s,
                    const struct forecast_options *o, struct forecast_result *out)
{
    struct rrd_series s;
    time_t last;
    int rc;
    if (store == NULL || out == NULL || window_s < 86400)
        return -EINVAL;
    rc = rrd_store_last(store, kind, id, &last);
    if (rc < 0)
        return rc;
    rc = rrd_store_fetch(store, kind, id, "AVERAGE", last - (time_t)window_s, last, 86400, &s);
    if (rc < 0)
        return rc;
    rc = forecast_fit_series(&s, o, out);
    rrd_series_free(&s);
    return rc;
}

double forecast_trend_at(const struct forecast_result *r, time_t t)
{
    if (r == NULL || !isfinite(r->slope) || !isfinite(r->anchor))
        return NAN;
    return r->anchor + r->slope * ((double)(t - r->last) / DAY_S);
}
