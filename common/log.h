/* log: the one logger of every ipamwatch component (stderr and/or syslog).
 *
 * Each .c file that logs defines LOG_MODULE ("collector", "kafka", ...) before including
 * this header; the macros check the level before formatting anything. Secrets must never
 * be passed to the logger: callers redact them first (see config_redact()).
 */
#ifndef IPAMWATCH_LOG_H
#define IPAMWATCH_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_LEVEL_ERR = 3, LOG_LEVEL_WARN = 4, LOG_LEVEL_INFO = 6, LOG_LEVEL_DEBUG = 7 };

/* Configures the logger; call once at start before any thread exists. `ident` is borrowed
 * and must outlive the process' logging. */
void log_init(const char *ident, enum log_level level, bool to_stderr, bool to_syslog);
void log_set_level(enum log_level level);
/* Parses "error|warn|info|debug"; returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
bool log_enabled(enum log_level level);

/* Writes one line. Thread-safe. */
void log_msg(enum log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifndef LOG_MODULE
#define LOG_MODULE "ipamwatch"
#endif

#define LOG_AT(lvl, ...)                                                                           \
    do {                                                                                           \
        if (log_enabled(lvl))                                                                      \
            log_msg(lvl, LOG_MODULE, __VA_ARGS__);                                                 \
    } while (0)
#define LOG_ERR(...)   LOG_AT(LOG_LEVEL_ERR, __VA_ARGS__)
#define LOG_WARN(...)  LOG_AT(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_INFO(...)  LOG_AT(LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) LOG_AT(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* Rate limiter for a repeated failure ("broker down"): the first failure is logged, repeats
 * are logged at most once per interval with a count, and the recovery once. One per failure
 * site; not thread-safe (each site belongs to one thread). */
typedef struct log_complain {
    int64_t last_ms;     /* monotonic time of the last line written */
    int64_t interval_ms; /* minimum gap between lines; doubles up to 1 h */
    uint64_t suppressed; /* failures since the last line */
    bool failing;
} log_complain_t;

#define LOG_COMPLAIN_INIT {0, 0, 0, false}

/* Logs a failure through `c` at `level`. */
void log_complain(log_complain_t *c, enum log_level level, const char *module, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));
/* Logs recovery once (at INFO) if `c` was failing, then resets it. */
void log_relief(log_complain_t *c, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Monotonic milliseconds, for rate limiting and timeouts. */
int64_t log_now_ms(void);

#endif
