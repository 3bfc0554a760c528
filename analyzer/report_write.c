/* report_write: renders a report document (report_build()) as JSON, CSV or one
 * self-contained HTML page with embedded graphs. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#define LOG_MODULE "report"
#include "analyzer/report.h"
#include "analyzer/rrd_store.h"
#include "log.h"
#include "record.h"
#include "xalloc.h"

const char *const report_csv_columns[] = {"section",
                                          "kind",
                                          "time",
                                          "event",
                                          "event_id",
                                          "success",
                                          "applied",
                                          "principal_arn",
                                          "principal_type",
                                          "account",
                                          "region",
                                          "scope_id",
                                          "pool_id",
                                          "cidr",
                                          "allocation_id",
                                          "netmask_length",
                                          "error_code",
                                          "error_message",
                                          "domain",
                                          "pair",
                                          "a",
                                          "b",
                                          "opened",
                                          "closed",
                                          "resource_type",
                                          "resource_id",
                                          "name",
                                          "owner",
                                          "status",
                                          "resolved_as",
                                          "since",
                                          "until",
                                          "duration_s",
                                          "open_ended",
                                          "peak_utilization",
                                          "peak_time",
                                          "end_utilization",
                                          "end_time",
                                          "end_size",
                                          "end_used",
                                          "resolution_s",
                                          "seq",
                                          "key",
                                          "value",
                                          NULL};

/* Sections in document order: JSON member, CSV section name, HTML title. */
static const struct {
    const char *member, *csv, *title;
} sections[] = {
    {"ledger", "ledger", "Allocation ledger"},
    {"failed_allocations", "failed", "Failed allocations"},
    {"overlaps", "overlap", "Overlaps"},
    {"noncompliant", "noncompliant", "Noncompliant resources"},
    {"unmanaged", "unmanaged", "Unmanaged resources"},
    {"utilization", "utilization", "Pool utilization"},
};

int report_write_json(const json_t *report, FILE *f)
{
    if (json_dumpf(report, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0 || fputc('\n', f) == EOF)
        return -EIO;
    return ferror(f) ? -EIO : 0;
}

/* Text of a scalar value (numbers without needless digits); "" for null. Owned by caller. */
static char *scalar_text(const json_t *v)
{
    if (json_is_string(v))
        return xstrdup(json_string_value(v));
    if (json_is_integer(v))
        return xasprintf("%lld", (long long)json_integer_value(v));
    if (json_is_real(v))
        return xasprintf("%.6g", json_real_value(v));
    if (json_is_true(v))
        return xstrdup("true");
    if (json_is_false(v))
        return xstrdup("false");
    return xstrdup("");
}

/* ---- CSV --------------------------------------------------------------------------------- */

static void csv_cell(FILE *f, const char *s, bool first)
{
    if (!first)
        fputc(',', f);
    if (strpbrk(s, ",\"\r\n") == NULL && s[0] != '#') {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void csv_row(FILE *f, const char *section, const json_t *row)
{
    for (size_t i = 0; report_csv_columns[i] != NULL; i++) {
        char *t =
            i == 0 ? xstrdup(section) : scalar_text(json_object_get(row, report_csv_columns[i]));
        csv_cell(f, t, i == 0);
        free(t);
    }
    fputc('\n', f);
}

/* Summary as key/value rows, nested objects flattened with '.'. */
static void csv_summary(FILE *f, const char *prefix, const json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        char *key = prefix ? xasprintf("%s.%s", prefix, k) : xstrdup(k);
        if (json_is_object(v)) {
            csv_summary(f, key, v);
        } else {
            json_t *row = json_object();
            json_object_set_new(row, "key", json_string(key));
            json_object_set(row, "value", v);
            csv_row(f, "summary", row);
            json_decref(row);
        }
        free(key);
    }
}

int report_write_csv(const json_t *report, FILE *f)
{
    char line[2048];
    report_integrity_line(report, line, sizeof line);
    fputs("# integrity: ", f);
    /* The comment row is one line: no quoting, newlines cannot occur in it. */
    for (const char *p = line; *p; p++)
        fputc(*p == '\n' || *p == '\r' ? ' ' : *p, f);
    fputc('\n', f);
    for (size_t i = 0; report_csv_columns[i] != NULL; i++)
        csv_cell(f, report_csv_columns[i], i == 0);
    fputc('\n', f);
    for (size_t s = 0; s < sizeof sections / sizeof sections[0]; s++) {
        size_t i;
        json_t *row;
        json_array_foreach(json_object_get(report, sections[s].member), i, row)
            csv_row(f, sections[s].csv, row);
    }
    csv_summary(f, NULL, json_object_get(report, "summary"));
    return ferror(f) ? -EIO : 0;
}

/* ---- HTML -------------------------------------------------------------------------------- */

static void html_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static void html_value(FILE *f, const json_t *v)
{
    char *t = scalar_text(v);
    html_text(f, t);
    free(t);
}

/* Columns shown per section, in the order of `sections` (the JSON has a few more). */
static const char *const html_cols[][16] = {
    {"time", "kind", "success", "principal_arn", "principal_type", "account", "region", "pool_id",
     "cidr", "allocation_id", "event_id", NULL},
    {"time", "event", "principal_arn", "account", "region", "pool_id", "netmask_length",
     "error_code", "error_message", "event_id", NULL},
    {"domain", "a", "b", "opened", "closed", "duration_s", "open_ended", NULL},
    {"resource_id", "resource_type", "cidr", "scope_id", "pool_id", "owner", "region", "since",
     "until", "resolved_as", "duration_s", NULL},
    {"resource_id", "resource_type", "cidr", "scope_id", "owner", "region", "since", "until",
     "resolved_as", "duration_s", NULL},
    {"pool_id", "peak_utilization", "peak_time", "end_utilization", "end_time", "end_size",
     "end_used", NULL},
};

_Static_assert(sizeof html_cols / sizeof html_cols[0] == sizeof sections / sizeof sections[0],
               "one column list per section");

static const char html_css[] =
    "body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;margin:24px;color:#222;"
    "font-size:13px}"
    "h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:24px 0 6px;"
    "border-bottom:2px solid #345}"
    "table{border-collapse:collapse;width:100%;margin-bottom:8px}"
    "th,td{border:1px solid #bbb;padding:3px 5px;text-align:left;vertical-align:top;"
    "overflow-wrap:anywhere}"
    "th{background:#e8edf2}tr:nth-child(even) td{background:#f7f9fb}"
    ".banner{background:#c00;color:#fff;padding:12px;font-weight:bold;font-size:15px;"
    "margin-bottom:16px}"
    ".ok{background:#e6f4ea;border:1px solid #2a7;padding:8px;margin-bottom:16px}"
    ".fail{color:#c00;font-weight:bold}.none{color:#777;font-style:italic}"
    ".graph{margin:8px 0 16px}.graph img{max-width:100%}"
    "code{font-size:12px}"
    "@media print{body{margin:0;font-size:10px}h2{page-break-after:avoid}"
    "table{page-break-inside:auto}tr{page-break-inside:avoid}thead{display:table-header-group}"
    ".graph{page-break-inside:avoid}.banner{-webkit-print-color-adjust:exact;"
    "print-color-adjust:exact}}";

/* Reads `path` whole; returns a buffer owned by the caller and its size, or NULL. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    size_t cap = 0, n = 0;
    if (f == NULL)
        return NULL;
    for (;;) {
        buf = xgrow(buf, &cap, n + 65536, 1);
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Draws pool `id` over the period and writes it as an <img> with a data URI. Returns 0, or
 * -errno when it could not be drawn (nothing written). */
static int html_graph(FILE *f, rrd_store_t *st, const char *dir, const char *id, time_t from,
                      time_t to)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s.png", dir, id);
    if (n < 0 || (size_t)n >= sizeof path)
        return -ENAMETOOLONG;
    struct rrd_store_graph g;
    rrd_store_graph_init(&g);
    g.kind = "pool";
    g.id = id;
    g.start = from;
    g.end = to;
    g.width = 900;
    g.height = 260;
    g.format = "PNG";
    int rc = rrd_store_graph(st, &g, path, NULL, NULL);
    if (rc < 0) {
        LOG_WARN("graph of pool %s: %s", id, rrd_store_error(st));
        return rc;
    }
    size_t len = 0;
    unsigned char *png = slurp(path, &len);
    unlink(path);
    if (png == NULL || len == 0) {
        free(png);
        return -EIO;
    }
    unsigned char *b64 = xmalloc(4 * ((len + 2) / 3) + 1);
    EVP_EncodeBlock(b64, png, (int)len);
    fputs("<div class=\"graph\"><img alt=\"utilization of ", f);
    html_text(f, id);
    fprintf(f, "\" src=\"data:image/png;base64,%s\"></div>\n", (const char *)b64);
    free(b64);
    free(png);
    return 0;
}

static void html_graphs(FILE *f, const json_t *report, const struct config *cfg, int graphs)
{
    const json_t *util = json_object_get(report, "utilization");
    char err[512], dir[4096];
    const char *tmp = getenv("TMPDIR");
    time_t from = 0, to = 0;
    int64_t ms;
    const json_t *period = json_object_get(json_object_get(report, "summary"), "period");
    if (graphs <= 0 || json_array_size(util) == 0)
        return;
    if (record_time_parse(json_string_value(json_object_get(period, "from")), &ms) == 0)
        from = (time_t)(ms / 1000);
    if (record_time_parse(json_string_value(json_object_get(period, "to")), &ms) == 0)
        to = (time_t)(ms / 1000);
    int n = snprintf(dir, sizeof dir, "%s/ipamwatch-report.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (n < 0 || (size_t)n >= sizeof dir)
        snprintf(dir, sizeof dir, "/tmp/ipamwatch-report.XXXXXX");
    fprintf(f, "<h2>Utilization graphs (top %d pools by peak)</h2>\n",
            json_array_size(util) < (size_t)graphs ? (int)json_array_size(util) : graphs);
    rrd_store_t *st = rrd_store_new(cfg->rrd.dir, (int)(cfg->rrd.step_ms / 1000), cfg->rrd.daemon,
                                    err, sizeof err);
    if (st == NULL || mkdtemp(dir) == NULL) {
        LOG_WARN("graphs: %s", st == NULL ? err : strerror(errno));
        fputs("<p class=\"none\">graphs could not be drawn</p>\n", f);
        rrd_store_free(st);
        return;
    }
    for (size_t i = 0; i < json_array_size(util) && i < (size_t)graphs; i++) {
        const char *id = json_string_value(json_object_get(json_array_get(util, i), "pool_id"));
        if (id == NULL || html_graph(f, st, dir, id, from, to) < 0) {
            fputs("<p class=\"none\">no graph for ", f);
            html_text(f, id ? id : "?");
            fputs("</p>\n", f);
        }
    }
    rmdir(dir);
    rrd_store_free(st);
}

int report_write_html(const json_t *report, const struct config *cfg, int graphs, FILE *f)
{
    const json_t *sum = json_object_get(report, "summary");
    const json_t *period = json_object_get(sum, "period");
    const json_t *counts = json_object_get(sum, "counts");
    char line[2048];
    report_integrity_line(report, line, sizeof line);
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<title>ipamwatch compliance report</title>\n<style>",
          f);
    fputs(html_css, f);
    fputs("</style></head>\n<body>\n", f);
    if (!report_intact(report)) {
        fputs("<div class=\"banner\" id=\"integrity\">JOURNAL INTEGRITY BROKEN: ", f);
        html_text(f, line);
        fputs(". The records below cannot be trusted as evidence.</div>\n", f);
    } else {
        fputs("<div class=\"ok\" id=\"integrity\">Journal hash chain verified: ", f);
        html_text(f, line);
        fputs("</div>\n", f);
    }
    fputs("<h1>Compliance report</h1>\n<table><tbody>\n", f);
    static const char *const rows[][2] = {{"from", "Period from"}, {"to", "Period to (exclusive)"}};
    for (size_t i = 0; i < 2; i++) {
        fprintf(f, "<tr><th>%s</th><td>", rows[i][1]);
        html_value(f, json_object_get(period, rows[i][0]));
        fputs("</td></tr>\n", f);
    }
    static const char *const srows[][2] = {{"scope", "Scope filter"},
                                           {"generated_at", "Generated at"},
                                           {"journal_records", "Journal records"},
                                           {"journal_head_digest", "Journal head digest"}};
    for (size_t i = 0; i < 4; i++) {
        fprintf(f, "<tr><th>%s</th><td>", srows[i][1]);
        const json_t *v = json_object_get(sum, srows[i][0]);
        if (json_is_null(v))
            fputs("all scopes", f);
        else
            html_value(f, v);
        fputs("</td></tr>\n", f);
    }
    const char *k;
    json_t *v;
    fputs("<tr><th>Counts</th><td>", f);
    json_object_foreach((json_t *)counts, k, v)
    {
        html_text(f, k);
        fputs(": ", f);
        html_value(f, v);
        fputs("; ", f);
    }
    fputs("</td></tr>\n</tbody></table>\n", f);

    for (size_t s = 0; s < sizeof sections / sizeof sections[0]; s++) {
        const json_t *arr = json_object_get(report, sections[s].member);
        fprintf(f, "<h2 id=\"%s\">%s (%zu)</h2>\n", sections[s].csv, sections[s].title,
                json_array_size(arr));
        if (json_array_size(arr) == 0) {
            fputs("<p class=\"none\">none in the period</p>\n", f);
            continue;
        }
        fputs("<table><thead><tr>", f);
        for (size_t c = 0; html_cols[s][c] != NULL; c++)
            fprintf(f, "<th>%s</th>", html_cols[s][c]);
        fputs("</tr></thead><tbody>\n", f);
        size_t i;
        json_t *row;
        json_array_foreach(arr, i, row)
        {
            fputs("<tr>", f);
            for (size_t c = 0; html_cols[s][c] != NULL; c++) {
                const json_t *cell = json_object_get(row, html_cols[s][c]);
                bool bad = strcmp(html_cols[s][c], "success") == 0 && json_is_false(cell);
                fputs(bad ? "<td class=\"fail\">" : "<td>", f);
                html_value(f, cell);
                fputs("</td>", f);
            }
            fputs("</tr>\n", f);
        }
        fputs("</tbody></table>\n", f);
    }
    if (cfg != NULL)
        html_graphs(f, report, cfg, graphs);
    fputs("</body></html>\n", f);
    return ferror(f) ? -EIO : 0;
}
