/* cmd_broker: `ipamwatch broker`, the development Kafka broker as a process of its own.
 *
 * DESIGN: the cluster runs in librdkafka's mock thread; the main thread only waits for
 * signals with sigsuspend (the signals are blocked everywhere else, so none is lost
 * between a check and the wait). SIGINT/SIGTERM stop it, SIGUSR1 takes the brokers down
 * and SIGUSR2 brings them back on the same ports, for outage tests.
 */
#define LOG_MODULE "broker"
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "devbroker.h"
#include "fileio.h"
#include "log.h"
#include "xalloc.h"

#define BROKER_DEFAULT_PARTITIONS 6

static volatile sig_atomic_t g_stop;
static volatile sig_atomic_t g_down_req;
static volatile sig_atomic_t g_up_req;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        g_down_req = 1;
    else if (sig == SIGUSR2)
        g_up_req = 1;
    else
        g_stop = 1;
}

static void broker_usage(FILE *out)
{
    fprintf(
        out,
        "usage: ipamwatch broker [--brokers N] [--partitions N] [--topic NAME[:PARTITIONS]]...\n"
        "                        [--bootstrap-file FILE] [--verbose] [--help]\n"
        "\n"
        "Runs a development Kafka cluster (librdkafka's mock cluster) on 127.0.0.1\n"
        "ephemeral ports. The bootstrap list is the first line printed on stdout.\n"
        "\n"
        "  --brokers N           brokers in the cluster (default 1, at most %d)\n"
        "  --partitions N        partitions of each --topic given without a count\n"
        "                        (default %d)\n"
        "  --topic NAME[:P]      create topic NAME with P partitions; repeatable.\n"
        "                        Topics that clients auto-create get %d partitions.\n"
        "  --bootstrap-file FILE also write the bootstrap list to FILE (atomically);\n"
        "                        the file is removed on exit\n"
        "  --verbose             log debug messages\n"
        "\n"
        "Signals: SIGINT/SIGTERM stop the broker (exit 0); SIGUSR1 takes every broker\n"
        "down (connections refused, data kept), SIGUSR2 brings them back on the same ports.\n"
        "\n"
        "For development and tests, NOT for production:\n"
        "  - data is kept in memory only and is lost on exit;\n"
        "  - the oldest data is dropped once a partition holds more than about 5 MiB\n"
        "    or 100,000 message sets; lagging consumers then jump ahead;\n"
        "  - consumers should set fetch.wait.max.ms around 5 (an empty fetch is held for\n"
        "    the full wait) and session.timeout.ms around 6000 (a re-join waits\n"
        "    session.timeout.ms minus one second); use the same value in a whole group.\n",
        DEVBROKER_MAX_BROKERS, BROKER_DEFAULT_PARTITIONS, DEVBROKER_AUTO_PARTITIONS);
}

/* Parses a positive int in [1, max]; returns 0 or -EINVAL. */
static int parse_count(const char *s, int max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 1 || v > max)
        return -EINVAL;
    *out = (int)v;
    return 0;
}

int cmd_broker(int argc, char **argv)
{
    static const struct option opts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"partitions", required_argument, NULL, 'p'},
        {"topic", required_argument, NULL, 't'},
        {"bootstrap-file", required_argument, NULL, 'f'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int brokers = 1;
    int partitions = BROKER_DEFAULT_PARTITIONS;
    const char *bootstrap_file = NULL;
    char **topic_args = NULL; /* argv strings, borrowed */
    size_t ntopic_args = 0, topic_cap = 0;
    struct devbroker_topic *topics = NULL;
    char **names = NULL;
    devbroker_t *db = NULL;
    int status = 1;
    bool file_written = false;
    sigset_t block, old;
    bool masked = false;

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":b:p:t:f:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (parse_count(optarg, DEVBROKER_MAX_BROKERS, &brokers) < 0) {
                fprintf(stderr, "ipamwatch broker: --brokers: '%s' is not 1..%d\n", optarg,
                        DEVBROKER_MAX_BROKERS);
                goto usage;
            }
            break;
        case 'p':
            if (parse_count(optarg, DEVBROKER_MAX_PARTITIONS, &partitions) < 0) {
                fprintf(stderr, "ipamwatch broker: --partitions: '%s' is not 1..%d\n", optarg,
                        DEVBROKER_MAX_PARTITIONS);
                goto usage;
            }
            break;
        case 't':
            topic_args = xgrow(topic_args, &topic_cap, ntopic_args + 1, sizeof *topic_args);
            topic_args[ntopic_args++] = optarg;
            break;
        case 'f':
            bootstrap_file = optarg;
            break;
        case 'v':
            log_set_level(LOG_LEVEL_DEBUG);
            break;
        case 'h':
            broker_usage(stdout);
            status = 0;
            goto out;
        case ':':
            fprintf(stderr, "ipamwatch broker: option '%s' needs a value\n", argv[optind - 1]);
            goto usage;
        default:
            fprintf(stderr, "ipamwatch broker: unknown option '%s'\n", argv[optind - 1]);
            goto usage;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ipamwatch broker: unexpected argument '%s'\n", argv[optind]);
        goto usage;
    }

    /* --topic NAME[:P]: the count applies after all options, so --partitions may follow. */
    topics = xcalloc(ntopic_args ? ntopic_args : 1, sizeof *topics);
    names = xcalloc(ntopic_args ? ntopic_args : 1, sizeof *names);
    for (size_t i = 0; i < ntopic_args; i++) {
        const char *arg = topic_args[i];
        const char *colon = strrchr(arg, ':');
        topics[i].partitions = partitions;
        if (colon) {
            if (parse_count(colon + 1, DEVBROKER_MAX_PARTITIONS, &topics[i].partitions) < 0) {
                fprintf(stderr, "ipamwatch broker: --topic %s: partition count is not 1..%d\n", arg,
                        DEVBROKER_MAX_PARTITIONS);
                goto usage;
            }
            names[i] = xstrndup(arg, (size_t)(colon - arg));
        } else {
            names[i] = xstrdup(arg);
        }
        topics[i].name = names[i];
    }

    /* Block the signals before the cluster's threads exist so that they inherit the mask
     * and only sigsuspend below receives them. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGUSR2);
    sigprocmask(SIG_BLOCK, &block, &old);
    masked = true;

    char err[512];
    db = devbroker_new(brokers, topics, ntopic_args, err, sizeof err);
    if (!db) {
        LOG_ERR("%s", err);
        goto out;
    }
    const char *bootstraps = devbroker_bootstraps(db);
    if (printf("%s\n", bootstraps) < 0 || fflush(stdout) != 0)
        LOG_WARN("cannot write the bootstrap list to stdout: %s", strerror(errno));
    if (bootstrap_file) {
        char *line = xasprintf("%s\n", bootstraps);
        int rc = fileio_write_atomic(bootstrap_file, line, strlen(line), 0666, 0, err, sizeof err);
        free(line);
        if (rc < 0) {
            LOG_ERR("writing the bootstrap list: %s", err);
            goto out;
        }
        file_written = true;
    }
    LOG_INFO("ready; in memory only, for development and tests (SIGTERM stops, SIGUSR1 "
             "down, SIGUSR2 up)");

    while (!g_stop) {
        sigsuspend(&old);
        if (g_down_req) {
            g_down_req = 0;
            devbroker_set_down(db, true);
        }
        if (g_up_req) {
            g_up_req = 0;
            devbroker_set_down(db, false);
        }
    }
    LOG_INFO("stopping; in-memory data discarded");
    status = 0;
    goto out;

usage:
    broker_usage(stderr);
    status = EXIT_USAGE;
out:
    devbroker_free(db);
    if (file_written && unlink(bootstrap_file) != 0)
        LOG_WARN("unlink %s: %s", bootstrap_file, strerror(errno));
    if (masked)
        sigprocmask(SIG_SETMASK, &old, NULL);
    for (size_t i = 0; names && i < ntopic_args; i++)
        free(names[i]);
    free(names);
    free(topics);
    free(topic_args);
    return status;
}
