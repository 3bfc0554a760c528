/* cmd_analyze: `ipamwatch analyze`: parse options, load config, run the analyzer. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer/analyzer.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "config/config.h"
#include "log.h"
#include "units.h"
#include "xalloc.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ipamwatch analyze -c FILE [-X key=value]... [--exit-when-idle DURATION]\n"
            "                         [--commit-records N] [--commit-interval DURATION]\n"
            "\n"
            "Consumes the inventory and events topics in the [analyzer] group_id consumer\n"
            "group: updates the model, writes RRD history in event time and the audit\n"
            "journal, sends undecodable records to the dead-letter topic, and commits\n"
            "offsets only once their effects are durable.\n"
            "\n"
            "  -c, --config FILE           configuration file\n"
            "  -X key=value                Kafka property passed to librdkafka verbatim\n"
            "                              (repeatable)\n"
            "      --exit-when-idle DURATION  exit 0 once nothing arrived for DURATION\n"
            "                              (e.g. 30s) and nothing is known to wait (all\n"
            "                              partitions at their high watermarks, no\n"
            "                              checkpoint failing), after a final commit\n"
            "      --commit-records N      checkpoint and commit every N records (default %d)\n"
            "      --commit-interval DURATION  or this long after the first uncommitted\n"
            "                              record (default %dms)\n"
            "  -h, --help                  this help\n"
            "\n"
            "SIGINT/SIGTERM: commit what is durable, leave the group, exit 0.\n",
            ANALYZER_COMMIT_RECORDS, ANALYZER_COMMIT_INTERVAL_MS);
}

int cmd_analyze(int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_LONGOPT_CONFIG,          CLI_LONGOPT_EXIT_WHEN_IDLE, CLI_LONGOPT_COMMIT_RECORDS,
        CLI_LONGOPT_COMMIT_INTERVAL, CLI_LONGOPT_HELP,           {NULL, 0, NULL, 0}};
    struct cli_args args = {0};
    int status = EXIT_USAGE;
    char err[1024];
    int rc = cli_args_parse(&args, argc, argv, longopts, "analyze", usage);
    if (rc != 0) {
        status = rc > 0 ? 0 : EXIT_USAGE;
        goto out;
    }
    struct analyzer_options o = {.stop = &cli_stop,
                                 .exit_when_idle_ms = args.exit_when_idle_ms,
                                 .commit_records = args.commit_records,
                                 .commit_interval_ms = args.commit_interval_ms};
    struct config *cfg = cli_load_config(args.config, &args.xs, "analyze");
    if (!cfg)
        goto out;
    if (cli_refuse_embedded(cfg, "analyze") < 0) {
        config_free(cfg);
        goto out;
    }
    cli_stop_signals();

    analyzer_t *a = analyzer_new(cfg, &o, err, sizeof err);
    if (!a) {
        fprintf(stderr, "ipamwatch analyze: %s\n", err);
        status = 1;
    } else {
        status = analyzer_run(a) == 0 ? 0 : 1;
        analyzer_free(a);
    }
    config_free(cfg);
out:
    cli_args_clear(&args);
    return status;
}
