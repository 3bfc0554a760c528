/* cmd_report: `ipamwatch report`: the compliance report of a period (ledger, failures,
 * overlaps, noncompliance, utilization) as CSV, JSON or HTML, after verifying the journal. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "analyzer/report.h"
#include "cli/commands.h"
#include "config/config.h"
#include "log.h"
#include "record.h"
#include "xalloc.h"

/* Pools graphed in the HTML page. */
#define REPORT_GRAPHS 5

static void report_usage(FILE *out)
{
    fprintf(out,
            "usage: ipamwatch report -c FILE --from DATE --to DATE [--scope ID]\n"
            "                        [--journal DIR]... [--format csv|json|html] [-o FILE]\n"
            "                        [--strict]\n"
            "\n"
            "Verifies the audit journal's hash chain, then writes the compliance report of the\n"
            "period [from, to): allocation ledger, failed allocations, overlaps opened and\n"
            "closed, noncompliant resources, utilization peak and end value per pool, summary.\n"
            "The journal's record count and head digest go to standard error and into the\n"
            "report; a broken chain is stated on the report's first line.\n"
            "\n"
            "  -c, --config FILE   configuration file ([journal], [rrd], [analyzer] are read)\n"
            "      --from DATE     start of the period, YYYY-MM-DD or RFC 3339 (inclusive)\n"
            "      --to DATE       end of the period, YYYY-MM-DD or RFC 3339 (exclusive)\n"
            "      --scope ID      only this IPAM scope (ipam-scope-...)\n"
            "      --journal DIR   read this journal instead of [journal] dir; repeat it for\n"
            "                      the journals of several analyzers (each chain verified,\n"
            "                      records merged by time, one record per key)\n"
            "      --format FMT    csv, json or html (default: from the -o extension, else json)\n"
            "  -o, --output FILE   where to write the report (default: standard output)\n"
            "      --strict        refuse to write a report when the chain is broken (exit 1)\n"
            "  -h, --help          this help\n"
            "\n"
            "Exit status: 0 written, 1 broken chain with --strict or a failure, 2 usage.\n");
}

/* YYYY-MM-DD (midnight UTC) or an RFC 3339 time. Returns 0 or -EINVAL. */
static int parse_when(const char *s, time_t *out)
{
    int64_t ms;
    char buf[40];
    if (strlen(s) == 10) {
        int n = snprintf(buf, sizeof buf, "%sT00:00:00Z", s);
        if (n < 0 || (size_t)n >= sizeof buf)
            return -EINVAL;
        s = buf;
    }
    if (record_time_parse(s, &ms) < 0)
        return -EINVAL;
    *out = (time_t)(ms / 1000);
    return 0;
}

static const char *format_of(const char *path)
{
    size_t n = path ? strlen(path) : 0;
    if (n > 4 && strcasecmp(path + n - 4, ".csv") == 0)
        return "csv";
    if (n > 5 && strcasecmp(path + n - 5, ".html") == 0)
        return "html";
    if (n > 4 && strcasecmp(path + n - 4, ".htm") == 0)
        return "html";
    return "json";
}

int cli_report_write(const struct config *cfg, const struct report_options *o, const char *format,
                     const char *out, bool strict, char *line, size_t linelen)
{
    json_t *doc = NULL;
    FILE *f = NULL;
    char err[1024], *tmp = NULL;
    int status = 1, rc;
    line[0] = '\0';
    doc = report_build(cfg, o, err, sizeof err);
    if (doc == NULL) {
        fprintf(stderr, "ipamwatch report: %s\n", err);
        status = 1;
        goto out;
    }
    report_integrity_line(doc, line, linelen);
    if (!report_intact(doc) && strict) {
        fprintf(stderr, "ipamwatch report: --strict: no report written\n");
        status = 1;
        goto out;
    }

    /* Written to a temporary file and renamed, so a failed run leaves no partial report. */
    if (out != NULL && strcmp(out, "-") != 0) {
        tmp = xasprintf("%s.tmp.%ld", out, (long)getpid());
        f = fopen(tmp, "w");
        if (f == NULL) {
            fprintf(stderr, "ipamwatch report: %s: %s\n", tmp, strerror(errno));
            status = 1;
            goto out;
        }
    } else {
        f = stdout;
    }
    if (strcasecmp(format, "csv") == 0)
        rc = report_write_csv(doc, f);
    else if (strcasecmp(format, "html") == 0)
        rc = report_write_html(doc, cfg, REPORT_GRAPHS, f);
    else
        rc = report_write_json(doc, f);
    if (f != stdout) {
        if (fclose(f) != 0 && rc == 0)
            rc = -errno;
        f = NULL;
        if (rc == 0 && rename(tmp, out) < 0)
            rc = -errno;
        if (rc < 0)
            unlink(tmp);
    } else if (fflush(stdout) != 0 && rc == 0) {
        rc = -EIO;
    }
    if (rc < 0) {
        fprintf(stderr, "ipamwatch report: writing %s: %s\n", out ? out : "standard output",
                strerror(-rc));
        status = 1;
        goto out;
    }
    status = 0;

out:
    if (f != NULL && f != stdout)
        fclose(f);
    free(tmp);
    json_decref(doc);
    return status;
}

int cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},  {"from", required_argument, NULL, 'F'},
        {"to", required_argument, NULL, 'T'},      {"scope", required_argument, NULL, 's'},
        {"journal", required_argument, NULL, 'j'}, {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},  {"strict", no_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    const char *path = NULL, *out = NULL, *format = NULL, *from_s = NULL, *to_s = NULL;
    struct report_options o = {0};
    struct config *cfg = NULL;
    char err[1024], line[2048];
    bool strict = false;
    int status = EXIT_USAGE, c;
    const char **journals = NULL;
    size_t cap_journals = 0;

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'F':
        case 'T':
            if (parse_when(optarg, c == 'F' ? &o.from : &o.to) < 0) {
                fprintf(stderr, "ipamwatch report: --%s: '%s' is not YYYY-MM-DD or RFC 3339\n",
                        c == 'F' ? "from" : "to", optarg);
                goto out;
            }
            if (c == 'F')
                from_s = optarg;
            else
                to_s = optarg;
            break;
        case 's':
            o.scope = optarg;
            break;
        case 'j':
            journals = xgrow(journals, &cap_journals, o.n_journals + 1, sizeof *journals);
            journals[o.n_journals++] = optarg;
            o.journals = journals;
            break;
        case 'f':
            if (strcasecmp(optarg, "csv") != 0 && strcasecmp(optarg, "json") != 0 &&
                strcasecmp(optarg, "html") != 0) {
                fprintf(stderr, "ipamwatch report: --format: '%s' is not csv, json or html\n",
                        optarg);
                goto out;
            }
            format = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'S':
            strict = true;
            break;
        case 'h':
            report_usage(stdout);
            status = 0;
            goto out;
        default:
            report_usage(stderr);
            goto out;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ipamwatch report: unexpected argument '%s'\n", argv[optind]);
        goto out;
    }
    if (path == NULL || from_s == NULL || to_s == NULL) {
        fprintf(stderr, "ipamwatch report: -c FILE, --from and --to are required\n");
        report_usage(stderr);
        goto out;
    }
    if (o.to <= o.from) {
        fprintf(stderr, "ipamwatch report: --to (%s) must be after --from (%s)\n", to_s, from_s);
        goto out;
    }
    if (format == NULL)
        format = format_of(out);
    cfg = config_load(path, NULL, 0, err, sizeof err);
    if (cfg == NULL) {
        fprintf(stderr, "ipamwatch: %s\n", err);
        goto out;
    }
    log_init("ipamwatch-report", config_log_level(cfg), true, false);

    status = cli_report_write(cfg, &o, format, out, strict, line, sizeof line);
    if (line[0])
        fprintf(stderr, "%s\n", line);

out:
    config_free(cfg);
    free(journals);
    return status;
}
