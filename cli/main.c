/* main: the `ipamwatch` front end; dispatches to one subcommand and returns its status. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "log.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"collect", cmd_collect, "poll AWS IPAM and CloudTrail (or read files) and publish to Kafka"},
    {"analyze", cmd_analyze, "consume Kafka records: model, RRD history, journal, alerts"},
    {"run", cmd_run, "collector and analyzer in one process"},
    {"broker", cmd_broker, "development Kafka broker (in memory, for demo and tests)"},
    {"report", cmd_report, "compliance report for a period (CSV, JSON, HTML)"},
    {"graph", cmd_graph, "utilization graph of a pool, scope or resource (PNG, SVG)"},
    {"forecast", cmd_forecast, "projected exhaustion date of every pool"},
    {"check", cmd_check, "validate the configuration and print it with secrets redacted"},
    {"demo", cmd_demo, "replay the bundled organisation's three years end to end"},
    {"version", NULL, "print the version"},
    {"help", NULL, "print this help"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: ipamwatch COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'ipamwatch COMMAND --help' for the options of one command.\n");
}

int main(int argc, char **argv)
{
    log_init("ipamwatch", LOG_LEVEL_INFO, true, false);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(name, "version") == 0 || strcmp(name, "--version") == 0) {
        printf("ipamwatch %s\n", PACKAGE_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(name, commands[i].name) != 0)
            continue;
        if (!commands[i].run) {
            fprintf(stderr, "ipamwatch: '%s' is not built in this version yet\n", name);
            return EXIT_USAGE;
        }
        return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "ipamwatch: unknown command '%s'\n\n", name);
    usage(stderr);
    return EXIT_USAGE;
}
