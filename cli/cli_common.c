/* cli_common: `-X` overrides, configuration loading and stop signals for subcommands. */
#include "config.h"

#include "cli/cli_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
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

struct config *cli_load_config(const char *path, const struct cli_overrides *o, const char *cmd)
{
    char err[1024];
    struct config *cfg = config_load(path, o ? o->kv : NULL, o ? o->n : 0, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "ipamwatch: %s\n", err);
        return NULL;
    }
    /* The identity must outlive logging: one static buffer per process is enough. */
    static char ident[64];
    snprintf(ident, sizeof ident, "ipamwatch-%s", cmd);
    log_init(ident, config_log_level(cfg), cfg->log.to_stderr, cfg->log.syslog);
    return cfg;
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
