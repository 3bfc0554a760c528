/* alert_tool: submits alert records (JSON lines) to the sinks of a configuration, for tests.
 *
 *   alert_tool -c CONF [options] [FILE]   reads one alert record per line from FILE (or
 *                                         stdin; "-" too; an empty FILE only replays the
 *                                         spools), submits each through sinks_submit, waits
 *                                         for delivery and prints one line per sink:
 *       "sink NAME submitted=N delivered=N failed=N retries=N dropped=N reposts=N depth=N"
 *   --wait D          how long to wait for every queue to empty (default 30s)
 *   --hold D          keep running D after the queues emptied (re-posts happen meanwhile)
 *   --drain D         delivery time allowed while closing (default 1s)
 *   --backoff-min D, --backoff-max D, --repost D, --timeout D   sinks_opts fields
 *   --gap D           pause between submissions
 * Exit 0 when everything was delivered or given up, 1 when something is still spooled or a
 * record was refused, 2 on usage or configuration errors.
 */
#define LOG_MODULE "alert_tool"
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alerts/sinks.h"
#include "config/config.h"
#include "log.h"
#include "record.h"
#include "units.h"

static int duration(const char *s, int64_t *ms)
{
    if (units_parse_duration_ms(s, ms) < 0) {
        fprintf(stderr, "alert_tool: bad duration '%s'\n", s);
        return -1;
    }
    return 0;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

int main(int argc, char **argv)
{
    const char *conf = NULL;
    int64_t wait_ms = 30000, hold_ms = 0, gap_ms = 0;
    struct sinks_opts opts = {.drain_ms = 1000};
    static const struct option longopts[] = {
        {"wait", required_argument, NULL, 'w'},
        {"hold", required_argument, NULL, 'h'},
        {"drain", required_argument, NULL, 'd'},
        {"backoff-min", required_argument, NULL, 'm'},
        {"backoff-max", required_argument, NULL, 'M'},
        {"repost", required_argument, NULL, 'r'},
        {"timeout", required_argument, NULL, 't'},
        {"gap", required_argument, NULL, 'g'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
        int rc = 0;
        switch (opt) {
        case 'c':
            conf = optarg;
            break;
        case 'w':
            rc = duration(optarg, &wait_ms);
            break;
        case 'h':
            rc = duration(optarg, &hold_ms);
            break;
        case 'd':
            rc = duration(optarg, &opts.drain_ms);
            break;
        case 'm':
            rc = duration(optarg, &opts.backoff_min_ms);
            break;
        case 'M':
            rc = duration(optarg, &opts.backoff_max_ms);
            break;
        case 'r':
            rc = duration(optarg, &opts.repost_interval_ms);
            break;
        case 't':
            rc = duration(optarg, &opts.http_timeout_ms);
            break;
        case 'g':
            rc = duration(optarg, &gap_ms);
            break;
        default:
            return 2;
        }
        if (rc < 0)
            return 2;
    }
    if (!conf || argc - optind > 1) {
        fprintf(stderr, "usage: alert_tool -c CONF [--wait D] [--hold D] [FILE]\n");
        return 2;
    }
    log_init("alert_tool", LOG_LEVEL_INFO, true, false);
    char err[1024];
    struct config *cfg = config_load(conf, NULL, 0, err, sizeof err);
    if (!cfg) {
        fprintf(stderr, "alert_tool: %s\n", err);
        return 2;
    }
    FILE *in = stdin;
    const char *file = optind < argc ? argv[optind] : "-";
    if (strcmp(file, "-") != 0) {
        in = fopen(file, "re");
        if (!in) {
            fprintf(stderr, "alert_tool: %s: %s\n", file, strerror(errno));
            config_free(cfg);
            return 2;
        }
    }
    sinks_t *s = sinks_new_opts(cfg, &opts, err, sizeof err);
    if (!s) {
        fprintf(stderr, "alert_tool: %s\n", err);
        if (in != stdin)
            fclose(in);
        config_free(cfg);
        return 2;
    }
    int status = 0;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned lineno = 0;
    while ((len = getline(&line, &cap, in)) > 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        struct record *rec = NULL;
        if (record_decode(line, (size_t)len, &rec, err, sizeof err) < 0) {
            fprintf(stderr, "alert_tool: line %u: %s\n", lineno, err);
            status = 1;
            continue;
        }
        int rc = sinks_submit(s, rec);
        if (rc < 0) {
            fprintf(stderr, "alert_tool: line %u: submit: %s\n", lineno, strerror(-rc));
            status = 1;
        }
        record_free(rec);
        if (gap_ms > 0)
            sleep_ms(gap_ms);
    }
    free(line);
    if (in != stdin)
        fclose(in);
    if (sinks_flush(s, wait_ms) < 0)
        status = 1;
    if (hold_ms > 0) {
        sleep_ms(hold_ms);
        if (sinks_flush(s, wait_ms) < 0)
            status = 1;
    }
    for (size_t i = 0; i < sinks_count(s); i++) {
        struct sinks_stat st;
        if (sinks_stats(s, i, &st) < 0)
            continue;
        printf("sink %s submitted=%" PRIu64 " delivered=%" PRIu64 " failed=%" PRIu64
               " retries=%" PRIu64 " dropped=%" PRIu64 " reposts=%" PRIu64 " depth=%" PRIu64 "\n",
               st.name, st.submitted, st.delivered, st.failed, st.retries, st.dropped, st.reposts,
               st.spool_depth);
    }
    fflush(stdout);
    sinks_free(s);
    config_free(cfg);
    return status;
}
