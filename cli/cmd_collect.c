/* cmd_collect: `ipamwatch collect`: parse options, load config, run the collector. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "collector/collector.h"
#include "collector/ct_archive.h"
#include "config/config.h"
#include "log.h"
#include "xalloc.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ipamwatch collect -c FILE [-X key=value]... [--once] [--from-files DIR]\n"
            "                         [--collector-id ID]\n"
            "\n"
            "Reads the IPAM inventory (EC2 API, or the JSON files the aws CLI prints) and\n"
            "publishes it to the inventory topic as framed passes.\n"
            "\n"
            "  -c, --config FILE     configuration file\n"
            "  -X key=value          Kafka property passed to librdkafka verbatim (repeatable)\n"
            "      --once            one pass; exit 0 only when every record was delivered\n"
            "      --from-files DIR  read aws CLI output files instead of calling AWS\n"
            "      --from-archive DIR  publish the IP allocation events of CloudTrail log files\n"
            "                        (AWSLogs/.../*.json.gz) to the events topic, then exit:\n"
            "                        0 when every event was delivered, 1 when a file was\n"
            "                        skipped or an event not delivered\n"
            "      --collector-id ID   name of this collector in records (default: host name)\n"
            "  -h, --help            this help\n");
}

int cmd_collect(int argc, char **argv)
{
    static const struct option longopts[] = {CLI_LONGOPT_CONFIG,       CLI_LONGOPT_ONCE,
                                             CLI_LONGOPT_FROM_FILES,   CLI_LONGOPT_FROM_ARCHIVE,
                                             CLI_LONGOPT_COLLECTOR_ID, CLI_LONGOPT_HELP,
                                             {NULL, 0, NULL, 0}};
    struct cli_args args = {0};
    int status = EXIT_USAGE;
    int rc = cli_args_parse(&args, argc, argv, longopts, "collect", usage);
    if (rc != 0) {
        status = rc > 0 ? 0 : EXIT_USAGE;
        goto out;
    }
    const char *archive = args.from_archive;
    struct collector_options o = {.stop = &cli_stop,
                                  .once = args.once,
                                  .from_files = args.from_files,
                                  .collector_id = args.collector_id};
    if (archive && o.from_files) {
        fprintf(stderr, "ipamwatch collect: --from-archive and --from-files exclude each other\n");
        goto out;
    }
    struct config *cfg = cli_load_config(args.config, &args.xs, "collect");
    if (!cfg)
        goto out;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    cli_stop_signals();

    if (archive) {
        struct ct_archive_result res;
        rc = ct_archive_collect(cfg, archive, o.collector_id, &cli_stop, &res);
        if (rc != -EINVAL)
            printf("%u files, %llu events published, %u files skipped (%llu relevant records, "
                   "%llu duplicates, %llu unparsed, %llu not published)\n",
                   res.files, (unsigned long long)res.published, res.files_skipped,
                   (unsigned long long)res.relevant, (unsigned long long)res.duplicates,
                   (unsigned long long)res.unparsed,
                   (unsigned long long)(res.unusable + res.failed));
    } else {
        rc = collector_run(cfg, &o);
    }
    status = rc == 0 ? 0 : rc == -EINVAL ? EXIT_USAGE : 1;
    config_free(cfg);
    curl_global_cleanup();
out:
    cli_args_clear(&args);
    return status;
}
