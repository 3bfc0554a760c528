/* log: the one logger of every ipamwatch component (stderr and/or syslog). */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>

static enum log_level g_level = LOG_LEVEL_INFO;
static bool g_stderr = true;
static bool g_syslog = false;
static const char *g_ident = "ipamwatch";
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

void log_init(const char *ident, enum log_level level, bool to_stderr, bool to_syslog)
{
    g_ident = ident ? ident : "ipamwatch";
    g_level = level;
    g_stderr = to_stderr;
    g_syslog = to_syslog;
    if (g_syslog)
        openlog(g_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level level)
{
    g_level = level;
}

int log_level_parse(const char *s, enum log_level *out)
{
    static const struct {
        const char *name;
        enum log_level level;
    } names[] = {{"error", LOG_LEVEL_ERR},  {"err", LOG_LEVEL_ERR},   {"warn", LOG_LEVEL_WARN},
                 {"warning", LOG_LEVEL_WARN}, {"info", LOG_LEVEL_INFO}, {"debug", LOG_LEVEL_DEBUG}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -EINVAL;
}

bool log_enabled(enum log_level level)
{
    return level <= g_level;
}

static const char *level_name(enum log_level level)
{
    switch (level) {
    case LOG_LEVEL_ERR:
        return "error";
    case LOG_LEVEL_WARN:
        return "warn";
    case LOG_LEVEL_INFO:
        return "info";
    default:
        return "debug";
    }
}

static void log_vmsg(enum log_level level, const char *module, const char *fmt, va_list ap)
{
    char text[2048];
    int n = vsnprintf(text, sizeof text, fmt, ap);
    if (n >= (int)sizeof text)
        memcpy(text + sizeof text - 4, "...", 4);
    /* One line per message: a newline inside would let input forge log lines. */
    for (char *p = text; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';

    pthread_mutex_lock(&g_lock);
    if (g_stderr) {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: %s\n", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                level_name(level), module, text);
        fflush(stderr);
    }
    if (g_syslog)
        syslog((int)level, "%s: %s", module, text);
    pthread_mutex_unlock(&g_lock);
}

void log_msg(enum log_level level, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, module, fmt, ap);
    va_end(ap);
}

int64_t log_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void log_complain(log_complain_t *c, enum log_level level, const char *module, const char *fmt,
                  ...)
{
    int64_t now = log_now_ms();
    if (c->failing && now - c->last_ms < c->interval_ms) {
        c->suppressed++;
        return;
    }
    char text[1800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (c->suppressed)
        log_msg(level, module, "%s (repeated %llu times since last report)", text,
                (unsigned long long)c->suppressed);
    else
        log_msg(level, module, "%s", text);
    c->interval_ms = c->failing ? c->interval_ms * 2 : 10000;
    if (c->interval_ms > 3600000)
        c->interval_ms = 3600000;
    c->failing = true;
    c->last_ms = now;
    c->suppressed = 0;
}

void log_relief(log_complain_t *c, const char *module, const char *fmt, ...)
{
    if (!c->failing)
        return;
    char text[1800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    log_msg(LOG_LEVEL_INFO, module, "%s", text);
    *c = (log_complain_t)LOG_COMPLAIN_INIT;
}
