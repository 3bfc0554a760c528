/* Unit tests for forecast: exhaustion dates from synthetic histories. */
#include "testing.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "analyzer/forecast.h"

#define DAY 86400
/* 2024-01-01T00:00:00Z: the start of every synthetic history. */
#define T0 ((time_t)1704067200)

/* A history of `days` days with one point every `every` seconds; used = f(t). */
struct history {
    struct forecast_point *p;
    size_t n;
};

typedef double (*used_fn)(double day, void *ctx);

static struct history make(int days, int every, double size, used_fn f, void *ctx)
{
    struct history h;
    h.n = (size_t)days * DAY / (size_t)every;
    h.p = calloc(h.n, sizeof *h.p);
    assert_non_null(h.p);
    for (size_t i = 0; i < h.n; i++) {
        h.p[i].t = T0 + (time_t)(i * (size_t)every);
        h.p[i].used = f((double)(h.p[i].t - T0) / DAY, ctx);
        h.p[i].size = size;
    }
    return h;
}

struct linear {
    double u0, rate;        /* used at day 0, growth a day */
    double step_day, step;  /* one allocation of `step` at `step_day` */
    double noise;           /* uniform noise amplitude */
    unsigned long long rng; /* LCG state for the noise */
};

static double lcg_unit(unsigned long long *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0;
}

static double linear_used(double day, void *ctx)
{
    struct linear *l = ctx;
    double u = l->u0 + l->rate * day;
    if (l->step != 0 && day >= l->step_day)
        u += l->step;
    if (l->noise > 0)
        u += (2 * lcg_unit(&l->rng) - 1) * l->noise;
    return u;
}

/* Day (from T0) at which a linear history with a step reaches `level`. */
static time_t truth(const struct linear *l, double level)
{
    double d = (level - l->u0 - l->step) / l->rate;
    return T0 + (time_t)llround(d * DAY);
}

/* Ordinary least squares slope a day, for showing what a naive fit would do. */
static double ols_slope(const struct history *h)
{
    double sx = 0, sy = 0, sxx = 0, sxy = 0, n = (double)h->n;
    for (size_t i = 0; i < h->n; i++) {
        double x = (double)(h->p[i].t - T0) / DAY, y = h->p[i].used;
        sx += x;
        sy += y;
        sxx += x * x;
        sxy += x * y;
    }
    return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

static void expect_date_near(const struct forecast_result *r, time_t want, double tol_days)
{
    if (r->status != FORECAST_DATE)
        fail_msg("status %s (%s), want a date", forecast_status_name(r->status), r->reason);
    double off = fabs((double)(r->date - want)) / DAY;
    if (off > tol_days)
        fail_msg("date off by %.2f days (tolerance %.2f): %s", off, tol_days, r->reason);
}

static void test_linear_growth(void **state)
{
    (void)state;
    /* Hourly, daily and 5-minute sampling of the same line give the same date. */
    static const int every[] = {300, 3600, DAY};
    for (size_t k = 0; k < sizeof every / sizeof every[0]; k++) {
        struct linear l = {.u0 = 1000, .rate = 50};
        struct history h = make(90, every[k], 16384, linear_used, &l);
        struct forecast_result r;
        assert_int_equal(forecast_fit(h.p, h.n, NULL, &r), 0);
        expect_date_near(&r, truth(&l, 16384), 1.0);
        assert_true(fabs(r.slope - 50) < 1e-6);
        assert_true(fabs(r.per_month - 50 * FORECAST_DAYS_PER_MONTH) < 1e-3);
        assert_true(r.date_early <= r.date && r.date <= r.date_late);
        assert_true(r.days == 90);
        assert_true(r.steps == 0);
        assert_true(fabs(r.level - 16384) < 1e-9);
        assert_true(strstr(r.reason, "reaches") != NULL);
        free(h.p);
    }
}

static void test_level(void **state)
{
    (void)state;
    struct linear l = {.u0 = 1000, .rate = 50};
    struct history h = make(60, 3600, 16384, linear_used, &l);
    struct forecast_options o;
    struct forecast_result r;
    forecast_options_init(&o);
    o.level_pct = 80;
    assert_int_equal(forecast_fit(h.p, h.n, &o, &r), 0);
    expect_date_near(&r, truth(&l, 0.8 * 16384), 1.0);
    o.level = 9000; /* absolute level wins over the percentage */
    assert_int_equal(forecast_fit(h.p, h.n, &o, &r), 0);
    expect_date_near(&r, truth(&l, 9000), 1.0);
    free(h.p);
}

static void test_single_large_allocation(void **state)
{
    (void)state;
    /* 50 a day, and one allocation of 16384 (a /18) on day 45 of 120. */
    struct linear l = {.u0 = 1000, .rate = 50, .step_day = 45.5, .step = 16384};
    struct history h = make(120, 3600, 65536, linear_used, &l);
    struct forecast_result r;
    double ols = ols_slope(&h);
    /* The history really does move a naive fit: least squares triples the rate. */
    assert_true(ols > 150);
    assert_int_equal(forecast_fit(h.p, h.n, NULL, &r), 0);
    if (fabs(r.slope - 50) > 0.05 * 50)
        fail_msg("slope %.2f a day, want 50 +-5%% (least squares: %.2f)", r.slope, ols);
    assert_true(r.steps >= 1);
    /* The allocation counts as used space: the date includes it. */
    expect_date_near(&r, truth(&l, 65536), 1.0);

    /* The same with a large release instead: still growing, not shrinking. */
    struct linear rel = {.u0 = 30000, .rate = 50, .step_day = 60.5, .step = -16384};
    free(h.p);
    h = make(120, 3600, 65536, linear_used, &rel);
    assert_int_equal(forecast_fit(h.p, h.n, NULL, &r), 0);
    if (fabs(r.slope - 50) > 0.05 * 50)
        fail_msg("after a release: slope %.2f a day, want 50 +-5%%", r.slope);
    expect_date_near(&r, truth(&rel, 65536), 1.0);
    free(h.p);
}

static double staircase_used(double day, void *ctx)
{
    (void)ctx;
    /* One /22 (1024 addresses) allocated every 10 days. */
    return 2048 + 1024 * floor(day / 10);
}

static void test_staircase(void **state)
{
    (void)state;
    /* Allocations are discrete: regular blocks are growth, not one-off steps. */
    struct history h = make(120, 3600, 65536, staircase_used, NULL);
    struct forecast_result r;
    assert_int_equal(forecast_fit(h.p, h.n, NULL, &r), 0);
    assert_int_equal(r.status, FORECAST_DATE);
    if (fabs(r.slope - 102.4) > 0.15 * 102.4)
        fail_msg("staircase slope %.2f a day, want 102.4 +-15%%", r.slope);
    free(h.p);
}

static double const_used(double day, void *ctx)
{
    (void)day;
    return *(double *)ctx;
}

static void test_flat(void **state)
{
    (void)state;
    double v = 4096;
    struct history h = make(90, 3600, 65536, const_used, &v);
    struct forecast_result r;
    assert_int_equal(forecast_fit(h.p, h.n, NULL, &r), 0);
    assert_int_equal(r.status, FORECAST_FLAT);
    assert_true(r.date == 0 && r.date_early == 0 && r.date_late == 0);
    assert_true(r.slope == 0);
    assert_non_null(strstr(r.reason, "no change over 90 days"));
    free(h.p);

    /* Noise around a constant: no significant trend, no date. */
    struct linear l = {.u0 = 4096, .rate = 0, .noise = 300, .rng = 42};
    h = make(90, 3600, 65536, linear_used, &l);
    assert_int_equal(forecast_fit(h.p, h.n, NULL, &r), 0);
    if (r.status != FORECAST_FLAT)
        fail_msg("noise around a constant: %s (%s)", forecast_status_name(r.status), r.reason);
    assert_true(r.date == 0);
    free(h.p);
}

static void test_shrinking(void **state)
{
    (void)state;
    struct linear l = {.u0 = 30000, .rate = -30};
    struct history h = make(90, 3600, 65536, linear_used, &l);
    struct forecast_result r;
    assert_int_equal(forecast_fit(h.p, h.n, NULL, &r), 0);
    assert_int_equal(r.status, FORECAST_SHRINKING);
    assert_true(r.date == 0);
    assert_true(fabs(r.slope + 30) < 1e-6);
    assert_true(strstr(r.reason, "shrinking") != NULL);
    free(h.p);
}

static void test_too_little(void **state)
{
    (void)state;
    struct linear l = {.u0 = 1000, .rate = 50};
    struct history h = make(3, 3600, 16384, linear_used, &l);
    struct forecast_result r;
    assert_int_equal(forecast_fit(h.p, h.n, NULL, &r), 0);
    assert_int_equal(r.status, FORECAST_TOO_LITTLE);
    assert_true(r.date == 0);
    assert_int_equal(r.days, 3);
    if (strstr(r.reason, "only 3 daily points") == NULL || strstr(r.reason, "need 7") == NULL)
        fail_msg("reason '%s' does not say why", r.reason);
    assert_int_equal(forecast_fit(NULL, 0, NULL, &r), 0);
    assert_int_equal(r.status, FORECAST_TOO_LITTLE);
    free(h.p);
}

static void test_reached_and_no_size(void **state)
{
    (void)state;
    struct linear l = {.u0 = 16000, .rate = 50};
    struct history h = make(30, 3600, 16384, linear_used, &l);
    struct forecast_result r;
    assert_int_equal(forecast_fit(h.p, h.n, NULL, &r), 0);
    assert_int_equal(r.status, FORECAST_REACHED);
    assert_true(r.date == r.last && r.date != 0);

    for (size_t i = 0; i < h.n; i++)
        h.p[i].size = NAN;
    l.u0 = 1000;
    for (size_t i = 0; i < h.n; i++)
        h.p[i].used = linear_used((double)(h.p[i].t - T0) / DAY, &l);
    assert_int_equal(forecast_fit(h.p, h.n, NULL, &r), 0);
    assert_int_equal(r.status, FORECAST_NO_SIZE);
    assert_true(fabs(r.slope - 50) < 1e-6); /* the trend is still reported */
    free(h.p);
}

static void test_unknowns_and_order(void **state)
{
    (void)state;
    struct linear l = {.u0 = 1000, .rate = 50};
    struct history h = make(60, 3600, 16384, linear_used, &l);
    struct forecast_result r;
    /* Every third point unknown, and the points reversed. */
    for (size_t i = 0; i < h.n; i += 3)
        h.p[i].used = NAN;
    for (size_t i = 0; i < h.n / 2; i++) {
        struct forecast_point t = h.p[i];
        h.p[i] = h.p[h.n - 1 - i];
        h.p[h.n - 1 - i] = t;
    }
    assert_int_equal(forecast_fit(h.p, h.n, NULL, &r), 0);
    expect_date_near(&r, truth(&l, 16384), 1.0);
    free(h.p);
}

static void test_noise_randomized(void **state)
{
    (void)state;
    unsigned seed = testing_seed();
    for (int round = 0; round < 20; round++) {
        struct linear l = {.u0 = 1000,
                           .rate = 50,
                           .noise = 200,
                           .rng = (unsigned long long)seed * 1000003ULL + (unsigned)round};
        struct history h = make(90, 3600, 12000, linear_used, &l);
        struct forecast_result r;
        assert_int_equal(forecast_fit(h.p, h.n, NULL, &r), 0);
        /* About 130 days ahead; the slope is known to about 1 %: 7 days is 5 sigma. */
        expect_date_near(&r, truth(&l, 12000), 7.0);
        assert_true(r.date_early < r.date && r.date < r.date_late);
        assert_true(r.slope_lo < 50 * 1.05 && r.slope_hi > 50 * 0.95);
        free(h.p);
    }
}

static void test_exact_line_range(void **state)
{
    (void)state;
    /* An exact line: every pairwise slope is equal, yet the range is not a single instant. */
    struct linear l = {.u0 = 1000, .rate = 50};
    struct history h = make(90, 3600, 16384, linear_used, &l);
    struct forecast_result exact, noisy;
    time_t want = truth(&l, 16384);
    assert_int_equal(forecast_fit(h.p, h.n, NULL, &exact), 0);
    expect_date_near(&exact, want, 1.0);
    double width = (double)(exact.date_late - exact.date_early) / DAY;
    if (!(width >= 2.0) || exact.date_early > want || exact.date_late < want)
        fail_msg("exact line: range %.2f days (%s), want 2 days or more around the truth", width,
                 exact.reason);
    /* The band is the daily resolution over the 89 days fitted: 89/90 to 89/88 of the slope. */
    assert_true(exact.slope_lo < exact.slope && exact.slope < exact.slope_hi);
    assert_true(fabs(exact.slope_lo - 50 * 89.0 / 90) < 0.05);
    assert_true(fabs(exact.slope_hi - 50 * 89.0 / 88) < 0.05);
    free(h.p);

    /* Far ahead, the slope band sets the range: ~1 % of about 2 years either side. */
    struct linear slow = {.u0 = 1000, .rate = 20};
    h = make(90, 3600, 16384, linear_used, &slow);
    assert_int_equal(forecast_fit(h.p, h.n, NULL, &exact), 0);
    want = truth(&slow, 16384);
    expect_date_near(&exact, want, 1.0);
    width = (double)(exact.date_late - exact.date_early) / DAY;
    if (width < 12 || width > 24 || exact.date_early > want || exact.date_late < want)
        fail_msg("slow exact line: range %.2f days, want 12 to 24 around the truth", width);
    free(h.p);

    /* Noise keeps its statistical range, wider than the exact line's. */
    struct linear n = {.u0 = 1000, .rate = 20, .noise = 1000, .rng = testing_seed()};
    h = make(90, 3600, 16384, linear_used, &n);
    assert_int_equal(forecast_fit(h.p, h.n, NULL, &noisy), 0);
    assert_int_equal(noisy.status, FORECAST_DATE);
    double noisy_width = (double)(noisy.date_late - noisy.date_early) / DAY;
    if (!(noisy_width > width))
        fail_msg("noisy range %.2f days, exact line's %.2f: want wider", noisy_width, width);
    free(h.p);

    /* A date less than a day ahead: the range starts at the newest point, not before it. */
    struct linear near = {.u0 = 16384 - 50 * 90.0, .rate = 50};
    h = make(90, 3600, 16384, linear_used, &near);
    assert_int_equal(forecast_fit(h.p, h.n, NULL, &exact), 0);
    assert_int_equal(exact.status, FORECAST_DATE);
    assert_true(exact.date < exact.last + DAY);
    assert_true(exact.date_early == exact.last && exact.date_late >= exact.date + DAY);
    free(h.p);
}

static void test_series(void **state)
{
    (void)state;
    /* Daily rows as rrd_store_fetch() returns them: row i covers (start+i*step, ...]. */
    struct rrd_series s;
    memset(&s, 0, sizeof s);
    s.start = T0;
    s.step = DAY;
    s.rows = 90;
    for (int d = 0; d < RRD_DS_COUNT; d++) {
        s.values[d] = calloc(s.rows, sizeof(double));
        assert_non_null(s.values[d]);
    }
    for (size_t i = 0; i < s.rows; i++) {
        double mid = (double)i + 0.5;
        s.values[RRD_DS_USED][i] = i == 89 ? NAN : 1000 + 50 * mid; /* newest row unknown */
        s.values[RRD_DS_SIZE][i] = 16384;
    }
    struct forecast_result r;
    struct linear l = {.u0 = 1000, .rate = 50};
    assert_int_equal(forecast_fit_series(&s, NULL, &r), 0);
    expect_date_near(&r, truth(&l, 16384), 1.0);
    assert_int_equal(r.days, 89);
    double at = forecast_trend_at(&r, T0 + 10 * DAY);
    assert_true(fabs(at - 1500) < 1e-3);
    rrd_series_free(&s);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct forecast_options o;
    struct forecast_result r;
    struct forecast_point p = {T0, 1, 2};
    forecast_options_init(&o);
    assert_int_equal(forecast_fit(&p, 1, &o, NULL), -EINVAL);
    assert_int_equal(forecast_fit(NULL, 1, &o, &r), -EINVAL);
    o.confidence = 1.5;
    assert_int_equal(forecast_fit(&p, 1, &o, &r), -EINVAL);
    forecast_options_init(&o);
    o.min_days = 1;
    assert_int_equal(forecast_fit(&p, 1, &o, &r), -EINVAL);
    assert_true(isnan(forecast_trend_at(NULL, T0)));
}

static void test_long_window(void **state)
{
    (void)state;
    /* Three years of daily points with many equal values (a long flat stretch, then growth):
     * the fit stays exact and finishes (equal slopes must not degrade the selection). */
    struct linear l = {.u0 = 1000, .rate = 20};
    struct history h = make(1100, DAY, 65536, linear_used, &l);
    struct forecast_result r;
    for (size_t i = 0; i < 700; i++)
        h.p[i].used = 1000 + 20 * 700.0;
    for (size_t i = 700; i < h.n; i++)
        h.p[i].used = 1000 + 20 * (double)i;
    assert_int_equal(forecast_fit(h.p, h.n, NULL, &r), 0);
    assert_int_equal(r.days, 1100);
    assert_true(r.status == FORECAST_DATE || r.status == FORECAST_FLAT);
    free(h.p);
    h = make(1100, DAY, 65536, linear_used, &l);
    assert_int_equal(forecast_fit(h.p, h.n, NULL, &r), 0);
    expect_date_near(&r, truth(&l, 65536), 1.0);
    free(h.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_growth),
        cmocka_unit_test(test_level),
        cmocka_unit_test(test_single_large_allocation),
        cmocka_unit_test(test_staircase),
        cmocka_unit_test(test_flat),
        cmocka_unit_test(test_shrinking),
        cmocka_unit_test(test_too_little),
        cmocka_unit_test(test_reached_and_no_size),
        cmocka_unit_test(test_unknowns_and_order),
        cmocka_unit_test(test_noise_randomized),
        cmocka_unit_test(test_exact_line_range),
        cmocka_unit_test(test_series),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_long_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
