/* cmd_demo: `ipamwatch demo`: the bundled organisation's three years replayed end to end on
 * the embedded broker, then its graphs, report and forecast, and a short summary.
 *
 * DESIGN: the data files are found in $IPAMWATCH_DATADIR, else, for the binary of the build
 * tree (not installed), in its source tree (scripts/demo-dataset, config/demo.conf), else in
 * the installed $(pkgdatadir): an installed binary never falls back to a source tree, so a
 * file missing from the installation shows (`demo --help` prints what it found). The dataset is
 * made by the generator `demo-dataset --out DIR/dataset` (reused when its DIR/dataset/.complete is
 * there, from today and with the same seed). The configuration is demo.conf with its `./demo-out`
 * paths pointed at DIR, written to DIR/demo.conf so that the other commands can be run on the
 * result. The pipeline is the one of `run` (cli_run_pipeline: archive, then the inventory pass,
 * analyzed in order), with the logs in DIR/demo.log; the outputs come from the functions of
 * `forecast`, `graph` and `report` (cli_forecast_table, cli_graph_draw, cli_report_write).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analyzer/model.h"
#include "analyzer/report.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "config/config.h"
#include "fileio.h"
#include "log.h"
#include "record.h"
#include "text.h"
#include "xalloc.h"

#ifndef IPAMWATCH_PKGDATADIR
#define IPAMWATCH_PKGDATADIR "/usr/local/share/ipamwatch"
#endif

#define DEMO_TOP_POOLS 4   /* pools graphed */
#define DEMO_SUBJECTS  3   /* alert subjects shown per rule */
#define DEMO_COMMIT_MS 200 /* analyzer checkpoint interval (`run --commit-interval`) */

static const char *const demo_spans[][2] = {
    {"1d", "1 day"}, {"1w", "1 week"}, {"1m", "1 month"}, {"1y", "1 year"}, {"3y", "3 years"}};
static const int64_t demo_span_s[] = {86400, 7 * 86400, 31 * 86400, 365 * 86400, 1096 * 86400};

static char *find_data(const char *name, const char *srcpath);

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ipamwatch demo [--out DIR] [--dataset DIR] [--seed N]\n"
            "\n"
            "Replays the bundled organisation's three years of IPAM history end to end on an\n"
            "in-process broker: CloudTrail archive, then today's inventory, through the\n"
            "analyzer; then writes graphs, the last quarter's report and the forecast table,\n"
            "and prints a summary. Needs no network and no AWS account.\n"
            "\n"
            "  --out DIR      output folder (default demo-out): rrd/, journal/, analyzer/,\n"
            "                 collector/, alerts.jsonl, graphs/, report.html, report.csv,\n"
            "                 forecast.txt, demo.conf, demo.log\n"
            "  --dataset DIR  use this dataset (inventory/, cloudtrail/) instead of generating\n"
            "                 DIR/dataset with demo-dataset\n"
            "  --seed N       seed of the generated dataset\n"
            "  -h, --help     this help\n"
            "\n"
            "Data files: $IPAMWATCH_DATADIR, else the source tree (uninstalled build only),\n"
            "else %s.\n",
            IPAMWATCH_PKGDATADIR);
    static const char *const files[][3] = {{"generator", "demo-dataset", "scripts/demo-dataset"},
                                           {"configuration", "demo.conf", "config/demo.conf"}};
    for (size_t i = 0; i < 2; i++) {
        char *path = find_data(files[i][1], files[i][2]);
        fprintf(out, "  %-14s %s\n", files[i][0], path ? path : "not found");
        free(path);
    }
}

/* True when this process is the binary of the build tree, not an installed copy. */
static bool running_uninstalled(void)
{
#if defined(IPAMWATCH_SRCDIR) && defined(IPAMWATCH_BUILDDIR)
    char self[PATH_MAX], built[PATH_MAX];
    return realpath("/proc/self/exe", self) && realpath(IPAMWATCH_BUILDDIR "/ipamwatch", built) &&
           strcmp(self, built) == 0;
#else
    return false;
#endif
}

/* The first of $IPAMWATCH_DATADIR/NAME, SRCDIR/SRCPATH (the build tree's binary only) and
 * PKGDATADIR/NAME that exists, owned by the caller; NULL when none does. */
static char *find_data(const char *name, const char *srcpath)
{
    const char *env = getenv("IPAMWATCH_DATADIR");
    char *cands[3] = {env && *env ? xasprintf("%s/%s", env, name) : NULL, NULL,
                      xasprintf("%s/%s", IPAMWATCH_PKGDATADIR, name)};
#ifdef IPAMWATCH_SRCDIR
    if (running_uninstalled())
        cands[1] = xasprintf("%s/%s", IPAMWATCH_SRCDIR, srcpath);
#else
    (void)srcpath;
#endif
    char *found = NULL;
    for (size_t i = 0; i < 3; i++) {
        if (!found && cands[i] && access(cands[i], R_OK) == 0)
            found = cands[i];
        else
            free(cands[i]);
    }
    return found;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return (type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT ? -1 : 0;
}

/* Removes DIR/NAME (file or tree) if it exists. Returns 0 or -errno. */
static int remove_output(const char *dir, const char *name)
{
    char *path = xasprintf("%s/%s", dir, name);
    int rc = nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT ? -errno : 0;
    free(path);
    return rc;
}

/* Reads a whole small file into a NUL-terminated string (owned by the caller), or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 0, n = 0;
    char *buf = NULL, chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        buf = xgrow(buf, &cap, n + got + 1, 1);
        memcpy(buf + n, chunk, got);
        n += got;
    }
    fclose(f);
    if (!buf)
        buf = xcalloc(1, 1);
    buf[n] = '\0';
    return buf;
}

/* True when DIR/.complete exists, was written today (UTC; the generator's default "now")
 * and, with a seed, names it among its arguments. */
static bool dataset_reusable(const char *dir, const char *seed)
{
    char *path = xasprintf("%s/.complete", dir);
    struct stat sb;
    char *text = stat(path, &sb) == 0 ? slurp(path) : NULL;
    bool ok = text != NULL;
    free(path);
    char day_file[16], day_now[16];
    if (ok && (text_utc_date(sb.st_mtime, false, day_file, sizeof day_file) != 0 ||
               text_utc_date(time(NULL), false, day_now, sizeof day_now) != 0 ||
               strcmp(day_file, day_now) != 0))
        ok = false;
    if (ok && seed) {
        /* The seed as a whole word of the recorded arguments. */
        ok = false;
        size_t n = strlen(seed);
        for (const char *p = strstr(text, seed); p && !ok; p = strstr(p + 1, seed)) {
            bool before = p == text || !(p[-1] >= '0' && p[-1] <= '9');
            bool after = !(p[n] >= '0' && p[n] <= '9');
            ok = before && after;
        }
    }
    free(text);
    return ok;
}

/* The time the dataset's history starts ("start" of DIR/truth.json), in *ms. Returns 0 or
 * -ENOENT when the dataset does not say. */
static int dataset_start(const char *dir, int64_t *ms)
{
    char *path = xasprintf("%s/truth.json", dir);
    json_t *truth = json_load_file(path, 0, NULL);
    const char *start = json_string_value(json_object_get(truth, "start"));
    int rc = start && record_time_parse(start, ms) == 0 ? 0 : -ENOENT;
    json_decref(truth);
    free(path);
    return rc;
}

/* CloudTrail events of the dataset (truth.json counts.events); 0 when it does not say. */
static uint64_t dataset_events(const char *dir)
{
    char *path = xasprintf("%s/truth.json", dir);
    json_t *truth = json_load_file(path, 0, NULL);
    json_int_t n = json_integer_value(json_object_get(json_object_get(truth, "counts"), "events"));
    json_decref(truth);
    free(path);
    return n > 0 ? (uint64_t)n : 0;
}

/* Runs the generator into `dir`; its output goes to `logfd`. Returns 0 or -EIO. */
static int generate(const char *gen, const char *dir, const char *seed, int logfd)
{
    const char *argv[] = {gen, "--out", dir, seed ? "--seed" : NULL, seed, NULL};
    pid_t pid = fork();
    if (pid < 0)
        return -EIO;
    if (pid == 0) {
        dup2(logfd, STDOUT_FILENO);
        dup2(logfd, STDERR_FILENO);
        execv(gen, (char *const *)argv);
        fprintf(stderr, "ipamwatch demo: cannot run %s: %s\n", gen, strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -EIO;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EIO;
}

/* Writes DIR/demo.conf: `src` with "./demo-out" replaced by `dir`, metrics off and logs at
 * info (they go to DIR/demo.log). Returns 0 or -errno. */
static int write_conf(const char *src, const char *dir, const char *dst)
{
    char *text = slurp(src);
    if (!text)
        return -errno;
    size_t cap = 0, n = 0;
    char *out = NULL;
    const char *p = text;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) + 1 : strlen(p);
        char *line = xstrndup(p, len), *rep = NULL;
        if (strncmp(line, "listen =", 8) == 0 || strncmp(line, "analyzer_listen =", 17) == 0) {
            rep = xasprintf("%.*s=\n", (int)(strchr(line, '=') - line), line);
        } else {
            /* Every "./demo-out" of the line, in order. */
            char *cur = xstrdup(line), *hit;
            while ((hit = strstr(cur, "./demo-out")) != NULL) {
                char *next = xasprintf("%.*s%s%s", (int)(hit - cur), cur, dir, hit + 10);
                free(cur);
                cur = next;
            }
            rep = cur;
        }
        size_t rl = strlen(rep);
        out = xgrow(out, &cap, n + rl + 1, 1);
        memcpy(out + n, rep, rl);
        n += rl;
        free(rep);
        free(line);
        p += len;
    }
    int rc = fileio_write_atomic(dst, out ? out : "", n, 0644, 0, NULL, 0);
    free(out);
    free(text);
    return rc;
}

/* Pools, VPCs and subnets with history; journal records and the days they span. */
static void print_dataset(const struct config *cfg, const char *dataset, int64_t start_ms,
                          uint64_t events)
{
    static const char *const kinds[] = {"pool", "scope", "vpc", "subnet"};
    size_t count[4] = {0};
    for (size_t k = 0; k < 4; k++) {
        char *sub = xasprintf("%s/%s", cfg->rrd.dir, kinds[k]);
        DIR *d = opendir(sub);
        struct dirent *de;
        while (d && (de = readdir(d)) != NULL)
            count[k] += text_ends_with(de->d_name, ".rrd");
        if (d)
            closedir(d);
        free(sub);
    }
    size_t records = 0;
    DIR *d = opendir(cfg->journal.dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (!text_ends_with(de->d_name, ".jsonl"))
            continue;
        char *seg = xasprintf("%s/%s", cfg->journal.dir, de->d_name);
        char *text = slurp(seg);
        for (char *q = text; q && *q; q++)
            records += *q == '\n';
        free(text);
        free(seg);
    }
    if (d)
        closedir(d);
    char first[16] = "-", today[16] = "-";
    time_t now = time(NULL);
    if (start_ms > 0)
        text_utc_date((time_t)(start_ms / 1000), false, first, sizeof first);
    text_utc_date(now, false, today, sizeof today);
    double years = start_ms > 0 ? difftime(now, (time_t)(start_ms / 1000)) / (365.25 * 86400) : 0;
    printf("dataset  %s\n", dataset);
    printf("         %zu pools, %zu scopes, %zu VPCs, %zu subnets with history\n", count[0],
           count[1], count[2], count[3]);
    printf("         %llu CloudTrail events replayed, %zu journal records, from %s to %s "
           "(%.1f years)\n",
           (unsigned long long)events, records, first, today, years);
}

/* The alerts of alerts.jsonl by their last state: the firing ones grouped by rule with the
 * first few summaries, and how many resolved during the replay. */
static void print_alerts(const char *path)
{
    json_t *last = json_object(); /* fingerprint -> last notification */
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, resolved = 0, firing = 0;
    while (f && getline(&line, &cap, f) > 0) {
        json_t *a = json_loads(line, 0, NULL);
        const char *fp = json_string_value(json_object_get(a, "fingerprint"));
        if (fp)
            json_object_set(last, fp, a);
        json_decref(a);
    }
    free(line);
    if (f)
        fclose(f);
    json_t *groups = json_object(); /* rule -> [summaries] */
    const char *fp;
    json_t *a;
    json_object_foreach(last, fp, a)
    {
        const char *rule = json_string_value(json_object_get(a, "rule"));
        const char *state = json_string_value(json_object_get(a, "state"));
        if (!rule || !state || strcmp(state, "firing") != 0) {
            resolved++;
            continue;
        }
        json_t *arr = json_object_get(groups, rule);
        if (!arr)
            json_object_set_new(groups, rule, arr = json_array());
        const char *s =
            json_string_value(json_object_get(json_object_get(a, "annotations"), "summary"));
        json_array_append_new(arr, json_string(s ? s : rule));
        firing++;
    }
    printf("\nalerts   %zu firing, %zu resolved during the replay (%s)\n", firing, resolved, path);
    const char *rule;
    json_t *arr;
    json_object_foreach(groups, rule, arr)
    {
        printf("  %-26s %zu\n", rule, json_array_size(arr));
        for (size_t i = 0; i < json_array_size(arr) && i < DEMO_SUBJECTS; i++)
            printf("      %s\n", json_string_value(json_array_get(arr, i)));
        if (json_array_size(arr) > DEMO_SUBJECTS)
            printf("      ... and %zu more\n", json_array_size(arr) - DEMO_SUBJECTS);
    }
    json_decref(groups);
    json_decref(last);
}

/* The table's header and first rows. */
static void print_forecast_top(const char *path, size_t rows)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, n = 0;
    printf("\nforecast (%s, first %zu pools)\n", path, rows);
    while (f && n <= rows && getline(&line, &cap, f) > 0) {
        printf("  %s", line);
        n++;
    }
    free(line);
    if (f)
        fclose(f);
}

/* Graphs of the top pools; returns how many failed. */
static int draw_graphs(const struct config *cfg, const char *dir, char **top, size_t ntop)
{
    int failed = 0;
    time_t now = time(NULL);
    char err[512];
    model_t *names = report_snapshot_load(cfg, err, sizeof err); /* titles: one load */
    if (names == NULL && err[0] != '\0')
        LOG_WARN("graph titles show pool ids: %s", err);
    for (size_t i = 0; i < ntop; i++) {
        for (size_t s = 0; s < sizeof demo_span_s / sizeof demo_span_s[0]; s++) {
            bool three_years = s + 1 == sizeof demo_span_s / sizeof demo_span_s[0];
            for (int svg = 0; svg <= (three_years ? 1 : 0); svg++) {
                char *out = xasprintf("%s/graphs/%s-%s.%s", dir, top[i], demo_spans[s][0],
                                      svg ? "svg" : "png");
                struct cli_graph rq = {.kind = "pool",
                                       .id = top[i],
                                       .span = demo_span_s[s],
                                       .span_label = demo_spans[s][1],
                                       .forecast = three_years,
                                       .format = svg ? "svg" : "png",
                                       .end = now,
                                       .names = names,
                                       .out = out};
                char done[4608];
                if (cli_graph_draw(cfg, &rq, done, sizeof done) != 0)
                    failed++;
                free(out);
            }
        }
    }
    model_free(names);
    return failed;
}

int cmd_demo(int argc, char **argv)
{
    static const struct option longopts[] = {{"out", required_argument, NULL, 'o'},
                                             {"dataset", required_argument, NULL, 'd'},
                                             {"seed", required_argument, NULL, 's'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *out_arg = "demo-out", *dataset_arg = NULL, *seed = NULL;
    char dir[PATH_MAX], err[1024], line[2048];
    char *gen = NULL, *conf_src = NULL, *conf = NULL, *dataset = NULL, *logpath = NULL;
    char *forecast_path = NULL, *alerts_path = NULL, **top = NULL;
    size_t ntop = 0;
    struct config *cfg = NULL;
    int status = EXIT_USAGE, c, logfd = -1, saved_err = -1;
    int64_t t0 = log_now_ms();

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out_arg = optarg;
            break;
        case 'd':
            dataset_arg = optarg;
            break;
        case 's':
            if (!*optarg || strspn(optarg, "0123456789") != strlen(optarg)) {
                fprintf(stderr, "ipamwatch demo: --seed: '%s' is not a number\n", optarg);
                goto out;
            }
            seed = optarg;
            break;
        case 'h':
            usage(stdout);
            status = 0;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ipamwatch demo: unexpected argument '%s'\n", argv[optind]);
        goto out;
    }
    status = 1;
    if (fileio_mkdir_p(out_arg, 0755, err, sizeof err) < 0 || !realpath(out_arg, dir)) {
        fprintf(stderr, "ipamwatch demo: %s: %s\n", out_arg, err[0] ? err : strerror(errno));
        goto out;
    }
    conf_src = find_data("demo.conf", "config/demo.conf");
    if (!conf_src) {
        fprintf(stderr, "ipamwatch demo: demo.conf not found (set IPAMWATCH_DATADIR)\n");
        goto out;
    }
    logpath = xasprintf("%s/demo.log", dir);
    logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (logfd < 0) {
        fprintf(stderr, "ipamwatch demo: %s: %s\n", logpath, strerror(errno));
        goto out;
    }

    /* The dataset: given, reused, or generated. */
    if (dataset_arg) {
        dataset = xstrdup(dataset_arg);
    } else {
        dataset = xasprintf("%s/dataset", dir);
        if (!dataset_reusable(dataset, seed)) {
            gen = find_data("demo-dataset", "scripts/demo-dataset");
            if (!gen) {
                fprintf(stderr, "ipamwatch demo: the demo-dataset generator was not found "
                                "(set IPAMWATCH_DATADIR, or give --dataset DIR)\n");
                goto out;
            }
            printf("generating the dataset (%s)...\n", gen);
            fflush(stdout);
            if (remove_output(dir, "dataset") < 0 || generate(gen, dataset, seed, logfd) < 0) {
                fprintf(stderr, "ipamwatch demo: the generator failed: see %s\n", logpath);
                goto out;
            }
        }
    }
    char *inventory = xasprintf("%s/inventory", dataset);
    char *archive = xasprintf("%s/cloudtrail", dataset);
    static const char *const outputs[] = {"rrd",         "journal",    "analyzer",
                                          "collector",   "graphs",     "alerts.jsonl",
                                          "report.html", "report.csv", "forecast.txt"};
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0]; i++) {
        if (remove_output(dir, outputs[i]) < 0) {
            fprintf(stderr, "ipamwatch demo: cannot remove %s/%s: %s\n", dir, outputs[i],
                    strerror(errno));
            free(inventory);
            free(archive);
            goto out;
        }
    }
    conf = xasprintf("%s/demo.conf", dir);
    int rc = write_conf(conf_src, dir, conf);
    if (rc < 0) {
        fprintf(stderr, "ipamwatch demo: writing %s: %s\n", conf, strerror(-rc));
        free(inventory);
        free(archive);
        goto out;
    }

    /* The pipeline of `run`, its log lines into demo.log. */
    printf("replaying the CloudTrail archive and today's inventory on the embedded broker...\n");
    fflush(stdout);
    /* Each phase (history, archive, today's pass) waits for the analyzer's commit of its
     * last records: checkpoints DEMO_COMMIT_MS after them rather than `run`'s default. */
    struct cli_args args = {.config = conf,
                            .once = true,
                            .from_files = inventory,
                            .from_archive = archive,
                            .collector_id = "demo",
                            .commit_interval_ms = DEMO_COMMIT_MS};
    char *start_inv = xasprintf("%s/inventory-start", dataset);
    int64_t start_ms = 0;
    if (access(start_inv, R_OK) == 0 && dataset_start(dataset, &start_ms) == 0) {
        args.history_files = start_inv;
        args.history_ms = start_ms;
    }
    saved_err = dup(STDERR_FILENO);
    dup2(logfd, STDERR_FILENO);
    rc = cli_run_pipeline(&args, "demo");
    dup2(saved_err, STDERR_FILENO);
    free(start_inv);
    free(inventory);
    free(archive);
    if (rc != 0) {
        fprintf(stderr, "ipamwatch demo: the pipeline failed (exit %d): see %s\n", rc, logpath);
        status = rc;
        goto out;
    }

    /* Graphs, report and forecast, as `graph`, `report` and `forecast` make them. */
    cfg = config_load(conf, NULL, 0, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "ipamwatch demo: %s\n", err);
        goto out;
    }
    log_init("ipamwatch-demo", LOG_LEVEL_WARN, true, false);
    forecast_path = xasprintf("%s/forecast.txt", dir);
    FILE *ff = fopen(forecast_path, "w");
    if (!ff || cli_forecast_table(cfg, ff, &top, DEMO_TOP_POOLS, &ntop, err, sizeof err) < 0) {
        fprintf(stderr, "ipamwatch demo: forecast: %s\n", ff ? err : strerror(errno));
        if (ff)
            fclose(ff);
        goto out;
    }
    if (fclose(ff) != 0) {
        fprintf(stderr, "ipamwatch demo: %s: %s\n", forecast_path, strerror(errno));
        goto out;
    }
    char *graphs = xasprintf("%s/graphs", dir);
    rc = fileio_mkdir_p(graphs, 0755, err, sizeof err);
    free(graphs);
    if (rc < 0 || draw_graphs(cfg, dir, top, ntop) > 0) {
        fprintf(stderr, "ipamwatch demo: drawing the graphs failed\n");
        goto out;
    }
    struct report_options ro = {0};
    ro.to = time(NULL);
    ro.from = ro.to - 90 * 86400;
    char *html = xasprintf("%s/report.html", dir), *csv = xasprintf("%s/report.csv", dir);
    rc = cli_report_write(cfg, &ro, "html", html, false, line, sizeof line);
    if (rc == 0)
        rc = cli_report_write(cfg, &ro, "csv", csv, false, line, sizeof line);
    free(html);
    free(csv);
    if (rc != 0)
        goto out;

    /* The summary. */
    alerts_path = xasprintf("%s/alerts.jsonl", dir);
    printf("\n");
    print_dataset(cfg, dataset, start_ms, dataset_events(dataset));
    print_alerts(alerts_path);
    print_forecast_top(forecast_path, ntop);
    printf("\nreport   %s/report.html, %s/report.csv (last 90 days)\n", dir, dir);
    printf("         %s\n", line);
    printf("graphs   %s/graphs/<pool>-{1d,1w,1m,1y,3y}.png, <pool>-3y.svg (%zu pools)\n", dir,
           ntop);
    printf("history  %s/rrd/  journal %s/journal/  state %s/analyzer/ %s/collector/\n", dir, dir,
           dir, dir);
    printf("config   %s (run report, graph, forecast with -c on it)\n", conf);
    printf("log      %s\n", logpath);
    printf("done in %.1f s\n", (double)(log_now_ms() - t0) / 1000);
    status = 0;
out:
    if (saved_err >= 0)
        close(saved_err);
    if (logfd >= 0)
        close(logfd);
    for (size_t i = 0; top && i < ntop; i++)
        free(top[i]);
    free(top);
    config_free(cfg);
    free(gen);
    free(conf_src);
    free(conf);
    free(dataset);
    free(logpath);
    free(forecast_path);
    free(alerts_path);
    return status;
}
