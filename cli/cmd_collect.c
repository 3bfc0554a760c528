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
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"once", no_argument, NULL, 'o'},
                                             {"from-files", required_argument, NULL, 'f'},
                                             {"from-archive", required_argument, NULL, 'a'},
                                             {"collector-id", required_argument, NULL, 'i'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *path = NULL;
    const char *archive = NULL;
    struct collector_options o = {.stop = &cli_stop};
    struct cli_overrides xs = {0};
    int status = EXIT_USAGE;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:X:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'X':
            if (cli_overrides_add(&xs, optarg, "collect") < 0)
                goto out;
            break;
        case 'o':
            o.once = true;
            break;
        case 'f':
            o.from_files = optarg;
            break;
        case 'a':
            archive = optarg;
            break;
        case 'i':
            o.collector_id = optarg;
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
        fprintf(stderr, "ipamwatch collect: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        goto out;
    }
    if (archive && o.from_files) {
        fprintf(stderr, "ipamwatch collect: --from-archive and --from-files exclude each other\n");
        goto out;
    }
    if (!path) {
        fprintf(stderr, "ipamwatch collect: a configuration file is required (-c FILE)\n");
        usage(stderr);
        goto out;
    }
    struct config *cfg = cli_load_config(path, &xs, "collect");
    if (!cfg)
        goto out;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    cli_stop_signals();

    int rc;
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
    cli_overrides_clear(&xs);
    return status;
}
