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
            "                              (e.g. 30s), after a final commit\n"
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
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"exit-when-idle", required_argument, NULL, 'i'},
                                             {"commit-records", required_argument, NULL, 'n'},
                                             {"commit-interval", required_argument, NULL, 't'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *path = NULL;
    struct analyzer_options o = {.stop = &cli_stop};
    struct cli_overrides xs = {0};
    int status = EXIT_USAGE;
    char err[1024];
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:X:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'X':
            if (cli_overrides_add(&xs, optarg, "analyze") < 0)
                goto out;
            break;
        case 'i':
        case 't': {
            int64_t ms;
            if (units_parse_duration_ms(optarg, &ms) < 0 || ms <= 0) {
                fprintf(stderr, "ipamwatch analyze: --%s: '%s' is not a duration (like 30s)\n",
                        c == 'i' ? "exit-when-idle" : "commit-interval", optarg);
                goto out;
            }
            if (c == 'i')
                o.exit_when_idle_ms = ms;
            else
                o.commit_interval_ms = ms;
            break;
        }
        case 'n': {
            char *end;
            errno = 0;
            unsigned long long n = strtoull(optarg, &end, 10);
            if (errno || *end || n == 0 || optarg[0] == '-') {
                fprintf(stderr, "ipamwatch analyze: --commit-records: '%s' is not a count\n",
                        optarg);
                goto out;
            }
            o.commit_records = n;
            break;
        }
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
        fprintf(stderr, "ipamwatch analyze: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        goto out;
    }
    if (!path) {
        fprintf(stderr, "ipamwatch analyze: a configuration file is required (-c FILE)\n");
        usage(stderr);
        goto out;
    }
    struct config *cfg = cli_load_config(path, &xs, "analyze");
    if (!cfg)
        goto out;
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
    cli_overrides_clear(&xs);
    return status;
}
