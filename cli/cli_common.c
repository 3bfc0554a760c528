/* cli_common: `-X` overrides, configuration loading and stop signals for subcommands. */
#include "config.h"

#include "cli/cli_common.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "units.h"
#include "xalloc.h"

volatile sig_atomic_t cli_stop;

int cli_overrides_add(struct cli_overrides *o, const char *arg, const char *cmd)
{
    char err[1024];
    o->kv = xgrow(o->kv, &o->cap, o->n + 1, sizeof *o->kv);
    if (config_kv_parse(arg, &o->kv[o->n], err, sizeof err) < 0) {
        fprintf(stderr, "ipamwatch %s: %s\n", cmd, err);
        return -EINVAL;
    }
    o->n++;
    return 0;
}

void cli_overrides_clear(struct cli_overrides *o)
{
    for (size_t i = 0; i < o->n; i++)
        config_kv_clear(&o->kv[i]);
    free(o->kv);
    memset(o, 0, sizeof *o);
}

struct config *cli_reload_config(const char *path, const struct cli_overrides *o)
{
    char err[1024];
    struct config *cfg = config_load(path, o ? o->kv : NULL, o ? o->n : 0, err, sizeof err);
    if (!cfg)
        fprintf(stderr, "ipamwatch: %s\n", err);
    return cfg;
}

struct config *cli_load_config(const char *path, const struct cli_overrides *o, const char *cmd)
{
    struct config *cfg = cli_reload_config(path, o);
    if (!cfg)
        return NULL;
    /* The identity must outlive logging: one static buffer per process is enough. */
    static char ident[64];
    snprintf(ident, sizeof ident, "ipamwatch-%s", cmd);
    log_init(ident, config_log_level(cfg), cfg->log.to_stderr, cfg->log.syslog);
    return cfg;
}

static int parse_idle(const char *arg, const char *name, const char *cmd, int64_t *out)
{
    int64_t ms;
    if (units_parse_duration_ms(arg, &ms) < 0 || ms <= 0) {
        fprintf(stderr, "ipamwatch %s: --%s: '%s' is not a duration (like 30s)\n", cmd, name, arg);
        return -EINVAL;
    }
    *out = ms;
    return 0;
}

int cli_args_option(struct cli_args *a, int c, const char *arg, const char *cmd)
{
    switch (c) {
    case 'c':
        a->config = arg;
        return 0;
    case 'X':
        return cli_overrides_add(&a->xs, arg, cmd);
    case CLI_OPT_ONCE:
        a->once = true;
        return 0;
    case CLI_OPT_FROM_FILES:
        a->from_files = arg;
        return 0;
    case CLI_OPT_FROM_ARCHIVE:
        a->from_archive = arg;
        return 0;
    case CLI_OPT_COLLECTOR_ID:
        a->collector_id = arg;
        return 0;
    case CLI_OPT_EXIT_WHEN_IDLE:
        return parse_idle(arg, "exit-when-idle", cmd, &a->exit_when_idle_ms);
    case CLI_OPT_COMMIT_INTERVAL:
        return parse_idle(arg, "commit-interval", cmd, &a->commit_interval_ms);
    case CLI_OPT_COMMIT_RECORDS: {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(arg, &end, 10);
        if (errno || *end || n == 0 || arg[0] == '-') {
            fprintf(stderr, "ipamwatch %s: --commit-records: '%s' is not a count\n", cmd, arg);
            return -EINVAL;
        }
        a->commit_records = n;
        return 0;
    }
    default:
        return -ENOENT;
    }
}

int cli_args_finish(const struct cli_args *a, int argc, char **argv, const char *cmd)
{
    if (optind < argc) {
        fprintf(stderr, "ipamwatch %s: unexpected argument '%s'\n", cmd, argv[optind]);
        return -EINVAL;
    }
    if (!a->config) {
        fprintf(stderr, "ipamwatch %s: a configuration file is required (-c FILE)\n", cmd);
        return -EINVAL;
    }
    return 0;
}

int cli_args_parse(struct cli_args *a, int argc, char **argv, const struct option *longopts,
                   const char *cmd, void (*usage)(FILE *))
{
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:X:h", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return 1;
        }
        int rc = cli_args_option(a, c, optarg, cmd);
        if (rc == -ENOENT)
            usage(stderr);
        if (rc < 0)
            return -EINVAL;
    }
    if (cli_args_finish(a, argc, argv, cmd) < 0) {
        usage(stderr);
        return -EINVAL;
    }
    return 0;
}

void cli_args_clear(struct cli_args *a)
{
    cli_overrides_clear(&a->xs);
    memset(a, 0, sizeof *a);
}

bool cli_wants_embedded(const struct config *cfg)
{
    const char *bootstrap = config_kafka_get(cfg, "bootstrap.servers");
    return bootstrap && strcmp(bootstrap, "embedded") == 0;
}

int cli_refuse_embedded(const struct config *cfg, const char *cmd)
{
    if (!cli_wants_embedded(cfg))
        return 0;
    fprintf(stderr,
            "ipamwatch %s: bootstrap.servers = embedded keeps data inside one process: use it "
            "with `ipamwatch run` or `ipamwatch demo`, or point %s at a Kafka cluster\n",
            cmd, cmd);
    return -EINVAL;
}

static void on_stop(int sig)
{
    (void)sig;
    cli_stop = 1;
}

void cli_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}
