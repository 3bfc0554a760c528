/* cmd_graph: `ipamwatch graph`: one object's utilization and size over a span as PNG or SVG,
 * with thresholds, and optionally its trend and forecast date.
 *
 * DESIGN: the default title names the object as the analyzer's last model snapshot does
 * (report_snapshot_load(): the file state_dir/checkpoint.json names), so no analyzer has to
 * run, and RRD files of any age (they hold no names) get today's name; without a snapshot,
 * or for an object it does not name, the id alone. Loading the snapshot costs what an
 * analyzer start does (it grows with the model); an explicit --title skips it. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "analyzer/forecast.h"
#include "analyzer/model.h"
#include "analyzer/report.h"
#include "analyzer/rrd_store.h"
#include "cli/commands.h"
#include "config/config.h"
#include "log.h"
#include "record.h"
#include "text.h"
#include "units.h"
#include "xalloc.h"

static void graph_usage(FILE *out)
{
    fprintf(out,
            "usage: ipamwatch graph -c FILE (--pool ID | --scope ID | --resource ID)\n"
            "                       [--span 1d|1w|1m|1y|3y] [--forecast] [--format png|svg]\n"
            "                       [--width N] [--height N] [--end TIME] [--title TEXT] -o FILE\n"
            "\n"
            "Draws the utilization (percent, left axis) and size (addresses, right axis) of one\n"
            "pool, scope, VPC or subnet from its RRD history, with the warning and critical\n"
            "thresholds of the utilization rules (80 %% and 90 %% without rules).\n"
            "\n"
            "  -c, --config FILE    configuration file ([rrd] dir is read)\n"
            "      --pool ID        an IPAM pool (ipam-pool-...)\n"
            "      --scope ID       an IPAM scope (ipam-scope-...)\n"
            "      --resource ID    a VPC (vpc-...) or subnet (subnet-...)\n"
            "      --span SPAN      1d, 1w, 1m (31 days), 1y or 3y, or a duration like 90d\n"
            "                       (default 1m)\n"
            "      --forecast       add the trend line and the projected date the object\n"
            "                       fills ([analyzer] forecast_window of history)\n"
            "      --format FMT     png or svg (default: from the -o extension, else png)\n"
            "      --width N        image width in pixels (default 800)\n"
            "      --height N       image height in pixels (default 300)\n"
            "      --end TIME       right edge of the span, RFC 3339 (default now)\n"
            "      --title TEXT     title (default: kind, name and id, span; the name is the\n"
            "                       one in the analyzer's last snapshot in [analyzer]\n"
            "                       state_dir, else the id alone)\n"
            "  -o, --output FILE    where to write the image\n"
            "  -h, --help           this help\n"
            "\n"
            "Exit status: 0 written, 1 no history for the object or drawing failed, 2 usage.\n");
}

/* Span words, then any duration of an hour or more. Returns seconds or 0. */
static int64_t parse_span(const char *s, const char **label)
{
    static const struct {
        const char *word, *label;
        int64_t s;
    } words[] = {
        {"1d", "1 day", 86400},          {"1w", "1 week", 7 * 86400},
        {"1m", "1 month", 31 * 86400},   {"1y", "1 year", 365 * 86400},
        {"3y", "3 years", 1096 * 86400},
    };
    int64_t ms;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(s, words[i].word) == 0) {
            *label = words[i].label;
            return words[i].s;
        }
    if (units_parse_duration_ms(s, &ms) < 0 || ms < 3600 * 1000LL || ms > 1100LL * 86400 * 1000)
        return 0;
    *label = s;
    return ms / 1000;
}

static int parse_pixels(const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 100 || v > 8000)
        return -EINVAL;
    *out = (int)v;
    return 0;
}

/* Warning/critical triggers of the utilization rule that best fits kind/id: one naming
 * this pool, else one for this kind of object, else the first; 80/90 without any. */
static void thresholds(const struct config *cfg, const char *kind, const char *id, double *warn,
                       double *crit)
{
    static const char *const objects[] = {"pool", "scope", "vpc", "subnet"};
    const struct config_rule *best = NULL;
    int best_score = -1;
    *warn = 80;
    *crit = 90;
    for (size_t i = 0; i < cfg->n_rules; i++) {
        const struct config_rule *r = &cfg->rules[i];
        int score = 0;
        if (r->type != CONFIG_RULE_UTILIZATION)
            continue;
        if ((unsigned)r->object < 4 && strcmp(objects[r->object], kind) == 0)
            score += 1;
        if (r->pool != NULL && strcmp(kind, "pool") == 0 && strcmp(r->pool, id) == 0)
            score += 2;
        if (score > best_score) {
            best = r;
            best_score = score;
        }
    }
    if (best != NULL) {
        *warn = best->warn_trigger;
        *crit = best->crit_trigger;
    }
}

static void fmt_day(time_t t, char *buf, size_t len)
{
    if (t == 0 || text_utc_date(t, false, buf, len) != 0)
        snprintf(buf, len, "open");
}

/* Name of kind/id (Name tag, else description; a VPC's or subnet's Name) as the analyzer's
 * last model snapshot has it (`names`, borrowed, else loaded here), with control characters
 * made spaces; NULL (and the id serves) without a snapshot, or when the object is not in it
 * or has no name. Owned by the caller. */
static char *object_name(const struct config *cfg, model_t *names, const char *kind, const char *id)
{
    char err[512];
    model_t *loaded = NULL;
    if (names == NULL) {
        loaded = report_snapshot_load(cfg, err, sizeof err);
        if (loaded == NULL) {
            if (err[0] != '\0')
                LOG_WARN("name of %s %s left out: %s", kind, id, err);
            return NULL;
        }
    }
    const char *found = NULL;
    model_object_name(names != NULL ? names : loaded, kind, id, &found, NULL);
    char *name = found != NULL && found[0] != '\0' ? xstrdup(found) : NULL;
    model_free(loaded);
    for (char *p = name; p != NULL && *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return name;
}

/* rrd_graph's title font (DejaVu Sans Mono) draws about this many pixels a character; a
 * title wider than the image is cut off at both ends. */
#define TITLE_CHAR_PX   8
#define TITLE_MARGIN_PX 16
/* Characters of a name kept at least when it is shortened to fit. */
#define TITLE_MIN_NAME 8

/* Characters (UTF-8 code points) in the first `n` bytes of `s`. */
static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n && s[i] != '\0'; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* Writes the default title into `buf`: "Pool NAME (ID) - utilization, SPAN to DAY", or
 * "Pool ID - ..." when `name` is NULL. When that is wider than an image `width` pixels wide
 * shows, the noun goes, then "- utilization" (the axis says it), then the name is shortened
 * ("...", at least TITLE_MIN_NAME of its characters kept): the id and span always show. */
static void default_title(char *buf, size_t len, const char *noun, const char *name, const char *id,
                          const char *span_label, const char *day, int width)
{
    size_t fit = width > TITLE_MARGIN_PX ? (size_t)(width - TITLE_MARGIN_PX) / TITLE_CHAR_PX : 0;
    const char *label = name != NULL ? name : id;
    char idpart[256] = "", when[256];
    if (name != NULL)
        snprintf(idpart, sizeof idpart, " (%s)", id);
    snprintf(when, sizeof when, "%s to %s", span_label, day);

    snprintf(buf, len, "%s %s%s - utilization, %s", noun, label, idpart, when);
    if (utf8_chars(buf, len) <= fit)
        return;
    snprintf(buf, len, "%s%s - utilization, %s", label, idpart, when);
    if (utf8_chars(buf, len) <= fit)
        return;
    snprintf(buf, len, "%s%s, %s", label, idpart, when);
    size_t have = utf8_chars(buf, len), chars = utf8_chars(label, SIZE_MAX);
    if (name == NULL || have <= fit)
        return;
    size_t keep = chars + fit > have + 3 ? chars + fit - have - 3 : 0;
    if (keep < TITLE_MIN_NAME)
        keep = TITLE_MIN_NAME;
    if (keep >= chars)
        return;
    size_t off = 0;
    for (size_t c = 0; name[off] != '\0'; off++)
        if (((unsigned char)name[off] & 0xC0) != 0x80 && c++ == keep)
            break;
    while (off > 0 && name[off - 1] == ' ')
        off--;
    snprintf(buf, len, "%.*s...%s, %s", (int)off, name, idpart, when);
}

/* Legend text of a forecast result. */
static void forecast_line(const struct forecast_result *r, char *buf, size_t len)
{
    char d0[16], d1[16], d2[16];
    double pct = r->size > 0 ? 100.0 * r->per_month / r->size : NAN;
    switch (r->status) {
    case FORECAST_DATE:
        fmt_day(r->date, d0, sizeof d0);
        fmt_day(r->date_early, d1, sizeof d1);
        fmt_day(r->date_late, d2, sizeof d2);
        snprintf(buf, len, "forecast: full on %s (%s to %s), %+.0f a month (%+.2f %%)", d0, d1, d2,
                 r->per_month, pct);
        break;
    case FORECAST_REACHED:
        snprintf(buf, len, "forecast: full now (%s)", r->reason);
        break;
    default:
        snprintf(buf, len, "forecast: no date: %s", r->reason);
        break;
    }
}

int cli_graph_draw(const struct config *cfg, const struct cli_graph *rq, char *done, size_t donelen)
{
    const char *kind = rq->kind, *id = rq->id, *out = rq->out, *format = rq->format;
    const char *title = rq->title, *span_label = rq->span_label;
    int64_t span = rq->span;
    bool resource = rq->resource, want_forecast = rq->forecast;
    time_t end = rq->end;
    struct rrd_store_graph g;
    rrd_store_t *st = NULL;
    char err[1024], file[4096], title_buf[2048], fc_text[512];
    int status = EXIT_USAGE, w = 0, h = 0;

    rrd_store_graph_init(&g);
    if (rq->width)
        g.width = rq->width;
    if (rq->height)
        g.height = rq->height;
    st = rrd_store_open_reader(cfg->rrd.dir, (int)(cfg->rrd.step_ms / 1000), cfg->rrd.daemon, err,
                               sizeof err);
    if (st == NULL) {
        fprintf(stderr, "ipamwatch graph: %s\n", err);
        status = 1;
        goto out;
    }
    /* Find the file first (through a TCP rrdcached, on its host): a missing object is
     * reported by the path looked for. */
    {
        static const char *const res_kinds[] = {"vpc", "subnet"};
        char tried[2][4096];
        size_t ntried = 0;
        time_t last;
        const char *kinds[2] = {kind, NULL};
        size_t nk = 1;
        if (resource) {
            nk = 0;
            if (strncmp(id, "subnet-", 7) != 0)
                kinds[nk++] = res_kinds[0];
            if (strncmp(id, "vpc-", 4) != 0)
                kinds[nk++] = res_kinds[1];
        }
        kind = NULL;
        for (size_t i = 0; i < nk; i++) {
            int n;
            if (!rrd_store_valid_key(kinds[i], id)) {
                fprintf(stderr, "ipamwatch graph: '%s' is not a valid object id\n", id);
                goto out;
            }
            n = rrd_store_path(st, kinds[i], id, tried[ntried], sizeof tried[ntried]);
            if (n < 0) {
                fprintf(stderr, "ipamwatch graph: [rrd] dir is too long\n");
                goto out;
            }
            n = rrd_store_last(st, kinds[i], id, &last);
            if (n == 0) {
                kind = kinds[i];
                break;
            }
            if (n != -ENOENT) {
                fprintf(stderr, "ipamwatch graph: %s\n", rrd_store_error(st));
                status = 1;
                goto out;
            }
            ntried++;
        }
        if (kind == NULL) {
            fprintf(stderr, "ipamwatch graph: no history for %s '%s': %s%s%s not found%s%s\n",
                    resource ? "resource" : kinds[0], id, tried[0], ntried > 1 ? " and " : "",
                    ntried > 1 ? tried[1] : "", cfg->rrd.daemon ? " via rrdcached at " : "",
                    cfg->rrd.daemon ? cfg->rrd.daemon : "");
            status = 1;
            goto out;
        }
    }
    g.kind = kind;
    g.id = id;
    g.end = end;
    g.start = end - (time_t)span;
    g.format = format;
    thresholds(cfg, kind, id, &g.warn_pct, &g.crit_pct);
    if (rrd_store_path(st, kind, id, file, sizeof file) < 0)
        file[0] = '\0';

    if (want_forecast) {
        struct forecast_result r;
        int rc = forecast_object(st, kind, id, cfg->analyzer.forecast_window_ms / 1000, NULL, &r);
        if (rc < 0) {
            fprintf(stderr, "ipamwatch graph: forecast of %s %s: %s\n", kind, id,
                    rrd_store_error(st));
            status = 1;
            goto out;
        }
        if (isfinite(r.slope) && r.size > 0) {
            g.trend_value = r.anchor;
            g.trend_per_day = r.slope;
            g.trend_time = r.last;
            g.trend_from = r.last - (time_t)(cfg->analyzer.forecast_window_ms / 1000);
            g.trend_size = r.size;
        }
        if (r.status == FORECAST_DATE) {
            g.forecast_date = r.date;
            /* Extend the x axis so the date shows, by at most the span itself. */
            if (r.date > end) {
                time_t want = r.date + (time_t)(span / 20);
                g.view_end = want < end + (time_t)span ? want : end + (time_t)span;
            }
        }
        forecast_line(&r, fc_text, sizeof fc_text);
        g.forecast_text = fc_text;
    }
    if (title == NULL) {
        /* "Pool prod-euc1 (ipam-pool-1) - utilization, 1 year to 2025-06-30" (the span's last
         * UTC day); "Pool ipam-pool-1 - ..." when the analyzer's snapshot gives no name;
         * shortened to the image's width. */
        const char *noun = strcmp(kind, "vpc") == 0     ? "VPC"
                           : strcmp(kind, "pool") == 0  ? "Pool"
                           : strcmp(kind, "scope") == 0 ? "Scope"
                                                        : "Subnet";
        char day[16];
        char *name = object_name(cfg, rq->names, kind, id);
        if (text_utc_date(end, false, day, sizeof day) != 0)
            snprintf(day, sizeof day, "now");
        default_title(title_buf, sizeof title_buf, noun, name, id, span_label, day, g.width);
        free(name);
        title = title_buf;
    }
    g.title = title;

    if (rrd_store_graph(st, &g, out, &w, &h) < 0) {
        fprintf(stderr, "ipamwatch graph: %s\n", rrd_store_error(st));
        status = 1;
        goto out;
    }
    snprintf(done, donelen, "%s: %dx%d %s of %s %s (%s)", out, w, h,
             strcasecmp(format, "svg") ? "PNG" : "SVG", kind, id, file);
    status = 0;

out:
    rrd_store_free(st);
    return status;
}

int cmd_graph(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"pool", required_argument, NULL, 'p'},
        {"scope", required_argument, NULL, 's'},  {"resource", required_argument, NULL, 'r'},
        {"span", required_argument, NULL, 'S'},   {"forecast", no_argument, NULL, 'F'},
        {"format", required_argument, NULL, 'f'}, {"width", required_argument, NULL, 'W'},
        {"height", required_argument, NULL, 'H'}, {"end", required_argument, NULL, 'e'},
        {"title", required_argument, NULL, 't'},  {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *path = NULL, *kind = NULL, *id = NULL, *out = NULL, *format = NULL;
    const char *title = NULL, *span_label = "1 month";
    int64_t span = 31 * 86400;
    bool want_forecast = false, resource = false;
    time_t end = time(NULL);
    struct rrd_store_graph g;
    struct config *cfg = NULL;
    char err[1024];
    int status = EXIT_USAGE, c;

    rrd_store_graph_init(&g);
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'p':
        case 's':
        case 'r':
            if (id != NULL) {
                fprintf(stderr, "ipamwatch graph: give one of --pool, --scope, --resource\n");
                goto out;
            }
            id = optarg;
            kind = c == 'p' ? "pool" : c == 's' ? "scope" : NULL;
            resource = c == 'r';
            break;
        case 'S':
            span = parse_span(optarg, &span_label);
            if (span == 0) {
                fprintf(stderr,
                        "ipamwatch graph: --span: '%s' is not 1d, 1w, 1m, 1y, 3y or a "
                        "duration of 1h to 1100d\n",
                        optarg);
                goto out;
            }
            break;
        case 'F':
            want_forecast = true;
            break;
        case 'f':
            if (strcasecmp(optarg, "png") != 0 && strcasecmp(optarg, "svg") != 0) {
                fprintf(stderr, "ipamwatch graph: --format: '%s' is not png or svg\n", optarg);
                goto out;
            }
            format = optarg;
            break;
        case 'W':
        case 'H':
            if (parse_pixels(optarg, c == 'W' ? &g.width : &g.height) < 0) {
                fprintf(stderr, "ipamwatch graph: --%s: '%s' is not 100 to 8000 pixels\n",
                        c == 'W' ? "width" : "height", optarg);
                goto out;
            }
            break;
        case 'e': {
            int64_t ms;
            if (record_time_parse(optarg, &ms) < 0 || ms <= 0) {
                fprintf(stderr, "ipamwatch graph: --end: '%s' is not an RFC 3339 time\n", optarg);
                goto out;
            }
            end = (time_t)(ms / 1000);
            break;
        }
        case 't':
            title = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            graph_usage(stdout);
            status = 0;
            goto out;
        default:
            graph_usage(stderr);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ipamwatch graph: unexpected argument '%s'\n", argv[optind]);
        goto out;
    }
    if (path == NULL || id == NULL || out == NULL) {
        fprintf(stderr, "ipamwatch graph: -c FILE, one of --pool/--scope/--resource and -o FILE "
                        "are required\n");
        graph_usage(stderr);
        goto out;
    }
    if (format == NULL) {
        size_t n = strlen(out);
        format = n > 4 && strcasecmp(out + n - 4, ".svg") == 0 ? "svg" : "png";
    }
    cfg = config_load(path, NULL, 0, err, sizeof err);
    if (cfg == NULL) {
        fprintf(stderr, "ipamwatch: %s\n", err);
        goto out;
    }
    log_init("ipamwatch-graph", config_log_level(cfg), true, false);

    {
        struct cli_graph rq = {.kind = kind,
                               .id = id,
                               .resource = resource,
                               .span = span,
                               .span_label = span_label,
                               .forecast = want_forecast,
                               .format = format,
                               .width = g.width,
                               .height = g.height,
                               .end = end,
                               .title = title,
                               .out = out};
        char line[4096 + 512];
        status = cli_graph_draw(cfg, &rq, line, sizeof line);
        if (status == 0)
            printf("%s\n", line);
    }

out:
    config_free(cfg);
    return status;
}
