/* cli_common: what the daemon-style subcommands share: `-X key=value` Kafka overrides,
 * loading the configuration, and the stop signals. Main thread only. */
#ifndef IPAMWATCH_CLI_COMMON_H
#define IPAMWATCH_CLI_COMMON_H

#include <signal.h>
#include <stddef.h>

#include "config/config.h"

/* The `-X key=value` pairs of one command line, in order. Zero-initialise. */
struct cli_overrides {
    struct config_kv *kv;
    size_t n, cap;
};

/* Parses one `-X` argument (borrowed) and appends it. On a malformed argument prints
 * "ipamwatch CMD: <reason>" to stderr and returns -EINVAL. */
int cli_overrides_add(struct cli_overrides *o, const char *arg, const char *cmd);
/* Frees every pair; the struct can be reused. */
void cli_overrides_clear(struct cli_overrides *o);

/* Loads `path` with the overrides (borrowed) and routes logging as the file says, under
 * the identity "ipamwatch-CMD". Returns the configuration (owned by the caller,
 * config_free) or NULL after printing "ipamwatch: FILE:LINE: ..." to stderr. */
struct config *cli_load_config(const char *path, const struct cli_overrides *o, const char *cmd);

/* Set to 1 by SIGINT or SIGTERM once cli_stop_signals() ran. */
extern volatile sig_atomic_t cli_stop;

/* Installs the daemon signal handling: SIGINT and SIGTERM set cli_stop; SIGPIPE is
 * ignored; SIGHUP is ignored too (logs go to stderr or syslog: no file to reopen). */
void cli_stop_signals(void);

#endif
