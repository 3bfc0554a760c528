/* cmd_forecast: `ipamwatch forecast`: every pool with an RRD history, sorted by the date it
 * is projected to fill, as a table, CSV or JSON.
 *
 * DESIGN: the pools are the files under <[rrd] dir>/pool/ (or pool/ under the base
 * directory of a TCP rrdcached, [rrd] daemon = host:port); each is fitted with
 * forecast_object() over [analyzer] forecast_window (the method of the forecast alert
 * rule), and its current figures (utilization, used, size, largest free block) are the
 * newest known values of the finest archive. Pools with a date come first, earliest first
 * (pools already full before them); the rest follow by utilization, highest first.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "analyzer/forecast.h"
#include "analyzer/rrd_store.h"
#include "cli/commands.h"
#include "config/config.h"
#include "log.h"
#include "text.h"
#include "units.h"
#include "xalloc.h"

enum out_format { OUT_TABLE, OUT_CSV, OUT_JSON };

struct row {
    char *id;
    double utilization, used, size, largest_free; /* newest known values, NAN if none */
    struct forecast_result r;
    bool within_horizon; /* a date no later than now + horizon */
    int error;           /* -errno when the file could not be read */
    char error_text[256];
};

static void forecast_usage(FILE *out)
{
    fprintf(out,
            "usage: ipamwatch forecast -c FILE [--horizon DURATION] [--window DURATION]\n"
            "                          [--level PERCENT] [--format table|csv|json]\n"
            "\n"
            "Projects when every pool (every RRD file under [rrd] dir/pool) fills, from a\n"
            "robust trend (Theil-Sen on daily points; one-off large allocations count as used\n"
            "space, not as growth), and lists the pools by that date with their utilization,\n"
            "growth per month, the date's 90 %% confidence range and the largest free block.\n"
            "\n"
            "  -c, --config FILE    configuration file\n"
            "      --horizon D      dates further out are marked beyond the horizon\n"
            "                       (default 365d)\n"
            "      --window D       history fitted (default: [analyzer] forecast_window)\n"
            "      --level PERCENT  fill level projected to (default 100)\n"
            "      --format F       table (default), csv or json\n"
            "  -h, --help           this help\n"
            "\n"
            "Exit status: 0 listed, 1 the RRD directory cannot be read, 2 usage.\n");
}

/* Newest known value of each data source over the last two days of the finest archive. */
static int current_values(rrd_store_t *st, const char *id, struct row *row)
{
    struct rrd_series s;
    time_t last;
    int rc = rrd_store_last(st, "pool", id, &last);
    if (rc == 0)
        rc = rrd_store_fetch(st, "pool", id, "AVERAGE", last - 2 * 86400, last, 0, &s);
    if (rc < 0)
        return rc;
    static const enum rrd_ds ds[] = {RRD_DS_UTILIZATION, RRD_DS_USED, RRD_DS_SIZE,
                                     RRD_DS_LARGEST_FREE};
    double *dst[] = {&row->utilization, &row->used, &row->size, &row->largest_free};
    for (size_t k = 0; k < 4; k++) {
        *dst[k] = NAN;
        for (size_t i = s.rows; i-- > 0;)
            if (isfinite(s.values[ds[k]][i])) {
                *dst[k] = s.values[ds[k]][i];
                break;
            }
    }
    rrd_series_free(&s);
    return 0;
}

/* Sort key: 0 full now, 1 with a date, 2 the rest. */
static int rank(const struct row *r)
{
    if (r->error)
        return 3;
    if (r->r.status == FORECAST_REACHED)
        return 0;
    return r->r.status == FORECAST_DATE ? 1 : 2;
}

static int cmp_row(const void *a, const void *b)
{
    const struct row *p = a, *q = b;
    int ra = rank(p), rb = rank(q);
    if (ra != rb)
        return ra - rb;
    if (ra <= 1 && p->r.date != q->r.date)
        return p->r.date < q->r.date ? -1 : 1;
    if (ra == 2) {
        double up = isfinite(p->utilization) ? p->utilization : -1;
        double uq = isfinite(q->utilization) ? q->utilization : -1;
        if (up != uq)
            return up > uq ? -1 : 1;
    }
    return strcmp(p->id, q->id);
}

/* "" for no date (0) and for a time that cannot be written. */
static void fmt_time(time_t t, bool day_only, char *buf, size_t len)
{
    if (t == 0)
        buf[0] = '\0';
    else
        text_utc_date(t, !day_only, buf, len);
}

static const char *status_of(const struct row *r)
{
    if (r->error)
        return "error";
    if (r->r.status == FORECAST_DATE && !r->within_horizon)
        return "beyond_horizon";
    return forecast_status_name(r->r.status);
}

static const char *note_of(const struct row *r)
{
    if (r->error)
        return r->error_text;
    if (r->r.status == FORECAST_DATE)
        return r->within_horizon ? "" : "beyond the horizon";
    return r->r.reason;
}

static double growth_pct(const struct row *r)
{
    return isfinite(r->r.per_month) && r->size > 0 ? 100.0 * r->r.per_month / r->size : NAN;
}

static void print_table(FILE *out, const struct row *rows, size_t n)
{
    fprintf(out, "%-28s %7s %23s %14s %8s %-10s %-23s %8s  %s\n", "POOL", "UTIL", "USED/SIZE",
            "GROWTH/MONTH", "%/MONTH", "FULL ON", "RANGE", "LARGEST", "NOTE");
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        char util[16] = "-", usz[48] = "-", growth[24] = "-", gpct[16] = "-", date[16] = "-",
             range[32] = "-", largest[8] = "-";
        if (isfinite(r->utilization))
            snprintf(util, sizeof util, "%.1f%%", r->utilization);
        if (isfinite(r->used) && isfinite(r->size))
            snprintf(usz, sizeof usz, "%.0f/%.0f", r->used, r->size);
        if (isfinite(r->r.per_month))
            snprintf(growth, sizeof growth, "%+.0f", r->r.per_month);
        if (isfinite(growth_pct(r)))
            snprintf(gpct, sizeof gpct, "%+.2f", growth_pct(r));
        if (!r->error && (r->r.status == FORECAST_DATE || r->r.status == FORECAST_REACHED)) {
            char e[16], l[16];
            fmt_time(r->r.date, true, date, sizeof date);
            fmt_time(r->r.date_early, true, e, sizeof e);
            fmt_time(r->r.date_late, true, l, sizeof l);
            snprintf(range, sizeof range, "%s..%s", e, l[0] ? l : "open");
        }
        if (isfinite(r->largest_free))
            snprintf(largest, sizeof largest, "/%.0f", r->largest_free);
        fprintf(out, "%-28s %7s %23s %14s %8s %-10s %-23s %8s  %s\n", r->id, util, usz, growth,
                gpct, date, range, largest, note_of(r));
    }
}

/* Writes `s` as one CSV field (quoted when it holds a comma, quote or line break). */
static void csv_field(const char *s, bool last)
{
    if (strpbrk(s, ",\"\r\n") == NULL) {
        fputs(s, stdout);
    } else {
        putchar('"');
        for (; *s; s++) {
            if (*s == '"')
                putchar('"');
            putchar(*s);
        }
        putchar('"');
    }
    putchar(last ? '\n' : ',');
}

static void csv_num(double v, int decimals, bool last)
{
    char buf[64] = "";
    if (isfinite(v))
        snprintf(buf, sizeof buf, "%.*f", decimals, v);
    csv_field(buf, last);
}

static void print_csv(const struct row *rows, size_t n)
{
    printf("pool,utilization_percent,used,size,largest_free_prefix,growth_per_month,"
           "growth_percent_per_month,status,date,date_early,date_late,within_horizon,days,"
           "note\n");
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        char d0[32], d1[32], d2[32], days[24];
        bool dated = !r->error && (r->r.status == FORECAST_DATE || r->r.status == FORECAST_REACHED);
        fmt_time(dated ? r->r.date : 0, false, d0, sizeof d0);
        fmt_time(dated ? r->r.date_early : 0, false, d1, sizeof d1);
        fmt_time(dated ? r->r.date_late : 0, false, d2, sizeof d2);
        snprintf(days, sizeof days, "%zu", r->r.days);
        csv_field(r->id, false);
        csv_num(r->utilization, 3, false);
        csv_num(r->used, 0, false);
        csv_num(r->size, 0, false);
        csv_num(r->largest_free, 0, false);
        csv_num(r->r.per_month, 3, false);
        csv_num(growth_pct(r), 4, false);
        csv_field(status_of(r), false);
        csv_field(d0, false);
        csv_field(d1, false);
        csv_field(d2, false);
        csv_field(dated ? (r->within_horizon ? "true" : "false") : "", false);
        csv_field(days, false);
        csv_field(note_of(r), true);
    }
}

static json_t *json_num(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *json_time(time_t t)
{
    char buf[32];
    fmt_time(t, false, buf, sizeof buf);
    return buf[0] ? json_string(buf) : json_null();
}

static int print_json(const struct row *rows, size_t n, int64_t window_s, int64_t horizon_s,
                      double level_pct)
{
    json_t *doc = json_object(), *pools = json_array();
    int rc;
    json_object_set_new(doc, "generated_at", json_time(time(NULL)));
    json_object_set_new(doc, "window_days", json_real((double)window_s / 86400));
    json_object_set_new(doc, "horizon_days", json_real((double)horizon_s / 86400));
    json_object_set_new(doc, "level_percent", json_real(level_pct));
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        bool dated = !r->error && (r->r.status == FORECAST_DATE || r->r.status == FORECAST_REACHED);
        json_t *o = json_object();
        json_object_set_new(o, "pool", json_string(r->id));
        json_object_set_new(o, "utilization_percent", json_num(r->utilization));
        json_object_set_new(o, "used", json_num(r->used));
        json_object_set_new(o, "size", json_num(r->size));
        json_object_set_new(o, "largest_free_prefix",
                            isfinite(r->largest_free) ? json_integer((json_int_t)r->largest_free)
                                                      : json_null());
        json_object_set_new(o, "growth_per_month", json_num(r->r.per_month));
        json_object_set_new(o, "growth_percent_per_month", json_num(growth_pct(r)));
        json_object_set_new(o, "slope_per_day", json_num(r->r.slope));
        json_object_set_new(o, "status", json_string(status_of(r)));
        json_object_set_new(o, "date", json_time(dated ? r->r.date : 0));
        json_object_set_new(o, "date_early", json_time(dated ? r->r.date_early : 0));
        json_object_set_new(o, "date_late", json_time(dated ? r->r.date_late : 0));
        json_object_set_new(o, "within_horizon", json_boolean(dated && r->within_horizon));
        json_object_set_new(o, "days", json_integer((json_int_t)r->r.days));
        json_object_set_new(o, "steps", json_integer((json_int_t)r->r.steps));
        json_object_set_new(o, "note", json_string(note_of(r)));
        json_array_append_new(pools, o);
    }
    json_object_set_new(doc, "pools", pools);
    rc = json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    putchar('\n');
    json_decref(doc);
    return rc == 0 ? 0 : -EIO;
}

/* Fits every pool of cfg's RRD directory and sorts the rows (full now, soonest date, then
 * by utilization). *ids_out and *rows_out are owned by the caller (rrd_store_list_free(),
 * free()); a row's id points into *ids_out. Returns 0 or -EIO with text in err. */
static int forecast_rows(const struct config *cfg, int64_t window_ms, int64_t horizon_ms,
                         const struct forecast_options *fo_in, char ***ids_out,
                         struct row **rows_out, size_t *n_out, char *err, size_t errlen)
{
    struct forecast_options fo = *fo_in;
    time_t now = time(NULL);
    size_t n = 0;
    char **ids = NULL;
    if (rrd_store_list(cfg->rrd.dir, cfg->rrd.daemon, "pool", &ids, &n, err, errlen) < 0)
        return -EIO;
    rrd_store_t *st = rrd_store_open_reader(cfg->rrd.dir, (int)(cfg->rrd.step_ms / 1000),
                                            cfg->rrd.daemon, err, errlen);
    if (st == NULL) {
        rrd_store_list_free(ids, n);
        return -EIO;
    }
    struct row *rows = xcalloc(n ? n : 1, sizeof *rows);
    for (size_t i = 0; i < n; i++) {
        struct row *r = &rows[i];
        int rc;
        r->id = ids[i];
        rc = forecast_object(st, "pool", r->id, window_ms / 1000, &fo, &r->r);
        if (rc == 0)
            rc = current_values(st, r->id, r);
        if (rc < 0) {
            r->error = rc;
            r->utilization = r->used = r->size = r->largest_free = NAN;
            memset(&r->r, 0, sizeof r->r);
            r->r.per_month = r->r.slope = NAN;
            snprintf(r->error_text, sizeof r->error_text, "%s", rrd_store_error(st));
            LOG_WARN("pool %s: %s", r->id, r->error_text);
            continue;
        }
        r->within_horizon =
            r->r.status == FORECAST_REACHED ||
            (r->r.status == FORECAST_DATE && r->r.date <= now + (time_t)(horizon_ms / 1000));
    }
    qsort(rows, n, sizeof *rows, cmp_row);
    rrd_store_free(st);
    *ids_out = ids;
    *rows_out = rows;
    *n_out = n;
    return 0;
}

int cli_forecast_table(const struct config *cfg, FILE *out, char ***top, size_t ntop,
                       size_t *ntop_out, char *err, size_t errlen)
{
    struct forecast_options fo;
    struct row *rows = NULL;
    char **ids = NULL;
    size_t n = 0;
    forecast_options_init(&fo);
    if (forecast_rows(cfg, cfg->analyzer.forecast_window_ms, CLI_FORECAST_HORIZON_MS, &fo, &ids,
                      &rows, &n, err, errlen) < 0)
        return -EIO;
    print_table(out, rows, n);
    if (top) {
        size_t k = 0;
        *top = xcalloc(ntop ? ntop : 1, sizeof **top);
        for (size_t i = 0; i < n && k < ntop; i++)
            if (!rows[i].error)
                (*top)[k++] = xstrdup(rows[i].id);
        *ntop_out = k;
    }
    rrd_store_list_free(ids, n);
    free(rows);
    return ferror(out) ? -EIO : 0;
}

int cmd_forecast(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"horizon", required_argument, NULL, 'H'},
                                             {"window", required_argument, NULL, 'w'},
                                             {"level", required_argument, NULL, 'l'},
                                             {"format", required_argument, NULL, 'f'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *path = NULL;
    enum out_format fmt = OUT_TABLE;
    int64_t horizon_ms = CLI_FORECAST_HORIZON_MS, window_ms = 0;
    struct forecast_options fo;
    struct config *cfg = NULL;
    struct row *rows = NULL;
    char **ids = NULL;
    size_t n = 0;
    char err[1024];
    int status = EXIT_USAGE, c;

    forecast_options_init(&fo);
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'H':
        case 'w': {
            int64_t ms;
            if (units_parse_duration_ms(optarg, &ms) < 0 || ms < 86400 * 1000LL) {
                fprintf(stderr,
                        "ipamwatch forecast: --%s: '%s' is not a duration of a day or "
                        "more (like 365d)\n",
                        c == 'H' ? "horizon" : "window", optarg);
                goto out;
            }
            if (c == 'H')
                horizon_ms = ms;
            else
                window_ms = ms;
            break;
        }
        case 'l': {
            char *end;
            double v = strtod(optarg, &end);
            if (*end || !(v > 0 && v <= 1000)) {
                fprintf(stderr, "ipamwatch forecast: --level: '%s' is not a percentage\n", optarg);
                goto out;
            }
            fo.level_pct = v;
            break;
        }
        case 'f':
            if (strcmp(optarg, "table") == 0)
                fmt = OUT_TABLE;
            else if (strcmp(optarg, "csv") == 0)
                fmt = OUT_CSV;
            else if (strcmp(optarg, "json") == 0)
                fmt = OUT_JSON;
            else {
                fprintf(stderr, "ipamwatch forecast: --format: '%s' is not table, csv or json\n",
                        optarg);
                goto out;
            }
            break;
        case 'h':
            forecast_usage(stdout);
            status = 0;
            goto out;
        default:
            forecast_usage(stderr);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ipamwatch forecast: unexpected argument '%s'\n", argv[optind]);
        goto out;
    }
    if (path == NULL) {
        fprintf(stderr, "ipamwatch forecast: a configuration file is required (-c FILE)\n");
        forecast_usage(stderr);
        goto out;
    }
    cfg = config_load(path, NULL, 0, err, sizeof err);
    if (cfg == NULL) {
        fprintf(stderr, "ipamwatch: %s\n", err);
        goto out;
    }
    log_init("ipamwatch-forecast", config_log_level(cfg), true, false);
    if (window_ms == 0)
        window_ms = cfg->analyzer.forecast_window_ms;

    if (forecast_rows(cfg, window_ms, horizon_ms, &fo, &ids, &rows, &n, err, sizeof err) < 0) {
        fprintf(stderr, "ipamwatch forecast: %s\n", err);
        status = 1;
        goto out;
    }
    switch (fmt) {
    case OUT_TABLE:
        print_table(stdout, rows, n);
        break;
    case OUT_CSV:
        print_csv(rows, n);
        break;
    case OUT_JSON:
        if (print_json(rows, n, window_ms / 1000, horizon_ms / 1000, fo.level_pct) < 0) {
            status = 1;
            goto out;
        }
        break;
    }
    status = fflush(stdout) == 0 ? 0 : 1;

out:
    rrd_store_list_free(ids, n);
    free(rows);
    config_free(cfg);
    return status;
}
