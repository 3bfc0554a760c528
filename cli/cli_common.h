/* cli_common: what the daemon-style subcommands share: their common options (`-c`, `-X
 * key=value` Kafka overrides, sources, idle exit, commit pacing), loading the configuration,
 * and the stop signals. Main thread only. */
#ifndef IPAMWATCH_CLI_COMMON_H
#define IPAMWATCH_CLI_COMMON_H

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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

/* Loads `path` again with the overrides (borrowed) and leaves logging as it is (other
 * threads may be logging): for a configuration cli_load_config() already routed logging
 * for. Returns the configuration (owned by the caller) or NULL after printing the error. */
struct config *cli_reload_config(const char *path, const struct cli_overrides *o);

/* The options `collect`, `analyze` and `run` share. Zero-initialise; a command accepts the
 * subset it lists in its getopt table (CLI_OPT_* below). Strings are borrowed from argv. */
struct cli_args {
    const char *config;         /* -c FILE */
    struct cli_overrides xs;    /* -X key=value */
    bool once;                  /* --once */
    const char *from_files;     /* --from-files DIR */
    const char *from_archive;   /* --from-archive DIR */
    const char *collector_id;   /* --collector-id ID */
    int64_t exit_when_idle_ms;  /* --exit-when-idle DURATION; 0 = never */
    uint64_t commit_records;    /* --commit-records N; 0 = default */
    int64_t commit_interval_ms; /* --commit-interval DURATION; 0 = default */
    const char *history_files;  /* `demo`: aws CLI files of the past, published first as a
                                   pass dated history_ms, before the archive */
    int64_t history_ms;
};

/* getopt_long codes of the shared options without a short form. */
enum {
    CLI_OPT_ONCE = 0x100,
    CLI_OPT_FROM_FILES,
    CLI_OPT_FROM_ARCHIVE,
    CLI_OPT_COLLECTOR_ID,
    CLI_OPT_EXIT_WHEN_IDLE,
    CLI_OPT_COMMIT_RECORDS,
    CLI_OPT_COMMIT_INTERVAL,
};

/* `struct option` entries of the shared options, for a command's getopt_long table. */
#define CLI_LONGOPT(name, has_arg, val)                                                            \
    {                                                                                              \
        (name), (has_arg), NULL, (val)                                                             \
    }
#define CLI_LONGOPT_CONFIG     CLI_LONGOPT("config", required_argument, 'c')
#define CLI_LONGOPT_HELP       CLI_LONGOPT("help", no_argument, 'h')
#define CLI_LONGOPT_ONCE       CLI_LONGOPT("once", no_argument, CLI_OPT_ONCE)
#define CLI_LONGOPT_FROM_FILES CLI_LONGOPT("from-files", required_argument, CLI_OPT_FROM_FILES)
#define CLI_LONGOPT_FROM_ARCHIVE                                                                   \
    CLI_LONGOPT("from-archive", required_argument, CLI_OPT_FROM_ARCHIVE)
#define CLI_LONGOPT_COLLECTOR_ID                                                                   \
    CLI_LONGOPT("collector-id", required_argument, CLI_OPT_COLLECTOR_ID)
#define CLI_LONGOPT_EXIT_WHEN_IDLE                                                                 \
    CLI_LONGOPT("exit-when-idle", required_argument, CLI_OPT_EXIT_WHEN_IDLE)
#define CLI_LONGOPT_COMMIT_RECORDS                                                                 \
    CLI_LONGOPT("commit-records", required_argument, CLI_OPT_COMMIT_RECORDS)
#define CLI_LONGOPT_COMMIT_INTERVAL                                                                \
    CLI_LONGOPT("commit-interval", required_argument, CLI_OPT_COMMIT_INTERVAL)

/* Applies one option `c` returned by getopt_long with its argument `arg` (borrowed) to `a`.
 * Returns 0 when applied, -ENOENT when `c` is not a shared option (the caller handles it),
 * -EINVAL for a bad value after printing "ipamwatch CMD: <reason>" to stderr. */
int cli_args_option(struct cli_args *a, int c, const char *arg, const char *cmd);

/* After getopt_long: refuses a left-over argument and a missing -c, printing
 * "ipamwatch CMD: <reason>" to stderr. Returns 0 or -EINVAL. */
int cli_args_finish(const struct cli_args *a, int argc, char **argv, const char *cmd);

/* Parses the command line of command `cmd` into `a` with getopt_long over `longopts` (shared
 * options only, ending in a zero entry; short options -c, -X and -h). `usage` prints the
 * command's usage to the stream given. Returns 1 after printing the usage to stdout for
 * -h/--help, 0 when parsed, -EINVAL after printing the reason and the usage to stderr.
 * Strings in `a` are borrowed from argv; cli_args_clear() frees the rest. */
int cli_args_parse(struct cli_args *a, int argc, char **argv, const struct option *longopts,
                   const char *cmd, void (*usage)(FILE *));

/* Frees what `a` owns (the overrides). */
void cli_args_clear(struct cli_args *a);

/* Fails with "ipamwatch CMD: bootstrap.servers = embedded ..." on stderr (returns -EINVAL)
 * when `cfg` (borrowed) asks for the in-process broker, which only `run` and `demo` start;
 * 0 otherwise. */
int cli_refuse_embedded(const struct config *cfg, const char *cmd);

/* True when `cfg` (borrowed) asks for the in-process development broker. */
bool cli_wants_embedded(const struct config *cfg);

/* Set to 1 by SIGINT or SIGTERM once cli_stop_signals() ran. */
extern volatile sig_atomic_t cli_stop;

/* Installs the daemon signal handling: SIGINT and SIGTERM set cli_stop; SIGPIPE is
 * ignored; SIGHUP is ignored too (logs go to stderr or syslog: no file to reopen). */
void cli_stop_signals(void);

#endif
