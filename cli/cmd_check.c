/* cmd_check: `ipamwatch check`: loads and validates the configuration (Kafka properties
 * through librdkafka's own parser) and prints the effective settings with secrets redacted. */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "config/config.h"
#include "xalloc.h"

static void check_usage(FILE *out)
{
    fprintf(out,
            "usage: ipamwatch check [-c FILE] [-X key=value]... [--quiet]\n"
            "\n"
            "Validates the configuration and prints the effective settings (defaults\n"
            "included, secrets redacted). Exits 0 when valid, 2 with FILE:LINE on error.\n"
            "\n"
            "  -c, --config FILE   configuration file (default %s)\n"
            "  -X key=value        Kafka property; wins over the [kafka] section\n"
            "  -q, --quiet         validate only, print nothing on success\n"
            "  -h, --help          print this help\n",
            CONFIG_DEFAULT_PATH);
}

int cmd_check(int argc, char **argv)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *path = CONFIG_DEFAULT_PATH;
    bool quiet = false;
    struct config_kv *xs = NULL;
    size_t n_xs = 0, cap_xs = 0;
    struct config *cfg = NULL;
    char err[1024];
    int status = EXIT_USAGE;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "+c:X:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            path = optarg;
            break;
        case 'X':
            xs = xgrow(xs, &cap_xs, n_xs + 1, sizeof *xs);
            if (config_kv_parse(optarg, &xs[n_xs], err, sizeof err) < 0) {
                fprintf(stderr, "ipamwatch: %s\n", err);
                goto done;
            }
            n_xs++;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            check_usage(stdout);
            status = 0;
            goto done;
        default:
            check_usage(stderr);
            goto done;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ipamwatch: check: unexpected argument '%s'\n", argv[optind]);
        check_usage(stderr);
        goto done;
    }

    cfg = config_load(path, xs, n_xs, err, sizeof err);
    if (!cfg || config_check_kafka(cfg, err, sizeof err) < 0) {
        fprintf(stderr, "ipamwatch: %s\n", err);
        goto done;
    }
    if (!quiet && config_dump(cfg, stdout) < 0) {
        fprintf(stderr, "ipamwatch: check: cannot write to standard output\n");
        status = 1;
        goto done;
    }
    status = 0;
done:
    config_free(cfg);
    for (size_t i = 0; i < n_xs; i++)
        config_kv_clear(&xs[i]);
    free(xs);
    return status;
}
