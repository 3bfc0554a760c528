/* commands: the subcommands of the `ipamwatch` front end. Each takes the arguments after
 * its name (argv[0] is the subcommand) and returns the process exit status:
 * 0 success, 1 runtime failure, 2 usage or configuration error. Main thread only. */
#ifndef IPAMWATCH_COMMANDS_H
#define IPAMWATCH_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Exit statuses shared by every subcommand. */
#define EXIT_USAGE 2
/* `run` and `demo`: the collector thread failed (the analyzer was stopped) / the analyzer
 * thread failed (the collector was stopped). */
#define CLI_EXIT_COLLECTOR 3
#define CLI_EXIT_ANALYZER  4

struct cli_args;
struct config;

/* ipamwatch broker: the development Kafka broker (cli/cmd_broker.c). */
int cmd_broker(int argc, char **argv);

/* ipamwatch check: validates the configuration and prints it redacted (cli/cmd_check.c). */
int cmd_check(int argc, char **argv);
/* ipamwatch collect: inventory into Kafka (cli/cmd_collect.c). */
int cmd_collect(int argc, char **argv);
/* ipamwatch analyze: Kafka records into model, RRD and journal (cli/cmd_analyze.c). */
int cmd_analyze(int argc, char **argv);
/* ipamwatch run: collector and analyzer threads in one process (cli/cmd_run.c). */
int cmd_run(int argc, char **argv);
/* The body of `run` for `args` (borrowed; `cmd` names the command in messages): loads the
 * configuration, starts the embedded broker if asked, runs both threads to the end and
 * returns the exit status (0, 1, EXIT_USAGE, CLI_EXIT_COLLECTOR, CLI_EXIT_ANALYZER).
 * Installs the stop signals. Main thread. */
int cli_run_pipeline(const struct cli_args *args, const char *cmd);
/* ipamwatch demo: the bundled organisation end to end (cli/cmd_demo.c). */
int cmd_demo(int argc, char **argv);
/* ipamwatch graph: one object's utilization as PNG or SVG (cli/cmd_graph.c). */
int cmd_graph(int argc, char **argv);
/* What `graph` draws: one object over a span. Strings borrowed. */
struct cli_graph {
    const char *kind;       /* "pool" or "scope"; NULL with resource */
    const char *id;         /* the object's id */
    bool resource;          /* id is a VPC or subnet: the kind is looked up */
    int64_t span;           /* seconds */
    const char *span_label; /* "1 year", for the default title */
    bool forecast;          /* add the trend line and the forecast date */
    const char *format;     /* "png" or "svg" */
    int width, height;      /* pixels; 0 = default */
    time_t end;             /* right edge of the span */
    const char *title;      /* NULL = "Pool NAME (ID) - utilization, SPAN to DAY" (the name
                               from the analyzer's last snapshot; the id alone without one) */
    struct model *names;    /* that snapshot when the caller loaded it already
                               (report_snapshot_load()); NULL: loaded for this draw */
    const char *out;        /* image file written */
};
/* Draws `rq` from `cfg`'s RRD history (both borrowed) as `graph` does; on success writes
 * "FILE: WxH PNG of KIND ID (RRD)" into `done`. Errors go to stderr as "ipamwatch graph:
 * ...". Returns 0, 1 (no history, drawing failed) or EXIT_USAGE (bad id). Main thread. */
int cli_graph_draw(const struct config *cfg, const struct cli_graph *rq, char *done,
                   size_t donelen);
/* ipamwatch forecast: pools by projected exhaustion date (cli/cmd_forecast.c). */
int cmd_forecast(int argc, char **argv);
/* Default horizon of `forecast`: dates further out are marked beyond it. */
#define CLI_FORECAST_HORIZON_MS (365LL * 86400 * 1000)
/* The `forecast` table (default window, horizon and level) of every pool of `cfg`'s RRD
 * directory, written to `out` (both borrowed); when `top` is not NULL, *top receives the ids
 * of up to `ntop` pools in table order (soonest to fill first, then most utilized), *ntop_out
 * their count; the array and its strings are owned by the caller (free). Returns 0 or -EIO
 * with text in err. Main thread. */
int cli_forecast_table(const struct config *cfg, FILE *out, char ***top, size_t ntop,
                       size_t *ntop_out, char *err, size_t errlen);
/* ipamwatch report: the compliance report of a period (cli/cmd_report.c). */
int cmd_report(int argc, char **argv);
struct report_options;
/* Builds the report of `o` from `cfg` (both borrowed) and writes it as `format` ("csv",
 * "json", "html") to `out` (NULL or "-": standard output; a file is replaced atomically),
 * as `report` does; `line` receives the journal integrity line ("" when the journal could
 * not be read). With `strict`, a broken chain writes nothing. Errors go to stderr as
 * "ipamwatch report: ...". Returns 0 or 1. Main thread. */
int cli_report_write(const struct config *cfg, const struct report_options *o, const char *format,
                     const char *out, bool strict, char *line, size_t linelen);

#endif
