/* cmd_run: `ipamwatch run`: the collector and the analyzer in one process, each on its own
 * thread with its own Kafka clients, optionally on an in-process development broker.
 *
 * DESIGN: the main thread loads the configuration, starts the embedded broker when
 * `bootstrap.servers = embedded` (and reloads the configuration with its address as a `-X`
 * override, so every client and every module sees one read-only struct config), creates one
 * metrics registry for both jobs, then starts two threads: the collector (an archive backfill
 * first with --from-archive, then the inventory collector) and the analyzer. Signal handlers
 * only set cli_stop; the main thread watches it and the two threads' completion, and sets each
 * thread's own stop flag: SIGINT/SIGTERM stop both, the collector failing stops the analyzer
 * and the analyzer ending (idle, fatal error) stops the collector. Before the inventory pass
 * that follows a backfill, and before a --once run ends, the collector thread waits until the
 * analyzer's consumer group has committed everything published so far: offsets are committed
 * only once their effects are durable, so this orders the three years of events before
 * today's snapshot in the RRD history, and makes `--once` end with everything analyzed.
 */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analyzer/analyzer.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "collector/collector.h"
#include "collector/ct_archive.h"
#include "config/config.h"
#include "devbroker.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "sdnotify.h"
#include "xalloc.h"

/* Partitions of each topic the embedded broker creates (as `ipamwatch broker` does). */
#define RUN_EMBEDDED_PARTITIONS 6
/* How often the main thread looks at the stop flag and the threads. */
#define RUN_WATCH_MS 50

struct run_ctx {
    const struct config *cfg;
    const struct cli_args *args;
    metrics_t *mx;
    analyzer_t *analyzer;
    volatile sig_atomic_t collector_stop, analyzer_stop;
    volatile sig_atomic_t analyzer_hold; /* set while the archive is being published */
    atomic_bool collector_done, analyzer_done;
    atomic_bool finished; /* the collector's finite job is done and analyzed */
    int collector_rc, analyzer_rc;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ipamwatch run -c FILE [-X key=value]... [--once] [--from-files DIR]\n"
            "                     [--from-archive DIR] [--collector-id ID]\n"
            "                     [--exit-when-idle DURATION] [--commit-records N]\n"
            "                     [--commit-interval DURATION]\n"
            "\n"
            "Runs the collector and the analyzer in one process, each on its own thread with\n"
            "its own Kafka clients. With [kafka] bootstrap.servers = embedded it starts an\n"
            "in-process development broker (in memory; not for production) that both use.\n"
            "\n"
            "  -c, --config FILE     configuration file\n"
            "  -X key=value          Kafka property passed to librdkafka verbatim (repeatable)\n"
            "      --once            one inventory pass; exit once the analyzer committed it\n"
            "      --from-files DIR  read aws CLI output files instead of calling AWS\n"
            "      --from-archive DIR  first publish the IP allocation events of CloudTrail\n"
            "                        log files (AWSLogs/.../*.json.gz) and wait until they are\n"
            "                        analyzed; then the inventory collector runs if\n"
            "                        --from-files is given (else the run ends there)\n"
            "      --collector-id ID   name of this collector in records (default: host name)\n"
            "      --exit-when-idle DURATION  the analyzer exits once nothing arrived for\n"
            "                        DURATION and nothing is known to wait (as analyze);\n"
            "                        the collector stops with it\n"
            "      --commit-records N, --commit-interval DURATION  analyzer checkpoint pacing\n"
            "                        (defaults %d records, %dms)\n"
            "  -h, --help            this help\n"
            "\n"
            "SIGINT/SIGTERM stop both threads gracefully (exit 0). Exit status: 0 success,\n"
            "1 setup failure, 2 usage or configuration error, %d the collector failed (the\n"
            "analyzer was stopped), %d the analyzer failed (the collector was stopped).\n",
            ANALYZER_COMMIT_RECORDS, ANALYZER_COMMIT_INTERVAL_MS, CLI_EXIT_COLLECTOR,
            CLI_EXIT_ANALYZER);
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* The end offsets of every partition of `topics` (borrowed) in a list owned by the caller,
 * or NULL with text in err. */
static rd_kafka_topic_partition_list_t *end_offsets(rd_kafka_t *rk, const char *const *topics,
                                                    size_t ntopics, char *err, size_t errlen)
{
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(16);
    for (size_t t = 0; t < ntopics; t++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topics[t], NULL);
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
        rd_kafka_topic_destroy(rkt);
        if (e || md->topic_cnt != 1 || md->topics[0].err) {
            snprintf(err, errlen, "metadata of %s: %s", topics[t],
                     rd_kafka_err2str(e               ? e
                                      : md->topic_cnt ? md->topics[0].err
                                                      : e));
            if (md)
                rd_kafka_metadata_destroy(md);
            goto fail;
        }
        for (int p = 0; p < md->topics[0].partition_cnt; p++) {
            int32_t id = md->topics[0].partitions[p].id;
            int64_t lo, hi;
            e = rd_kafka_query_watermark_offsets(rk, topics[t], id, &lo, &hi, 10000);
            if (e) {
                snprintf(err, errlen, "end offset of %s [%d]: %s", topics[t], (int)id,
                         rd_kafka_err2str(e));
                rd_kafka_metadata_destroy(md);
                goto fail;
            }
            rd_kafka_topic_partition_list_add(parts, topics[t], id)->offset = hi;
        }
        rd_kafka_metadata_destroy(md);
    }
    return parts;
fail:
    rd_kafka_topic_partition_list_destroy(parts);
    return NULL;
}

/* Waits until the analyzer's consumer group committed, on every partition of the inventory
 * and events topics, the end offset it had when the wait began. Returns 0, -EINTR when
 * *stop was set or the analyzer ended first, -EIO when Kafka could not be asked (logged). */
static int wait_analyzed(struct run_ctx *r)
{
    const struct config *cfg = r->cfg;
    const char *topics[2] = {cfg->topics.inventory, cfg->topics.events};
    size_t ntopics = strcmp(topics[0], topics[1]) != 0 ? 2 : 1;
    rd_kafka_topic_partition_list_t *want = NULL, *got = NULL;
    rd_kafka_t *rk = NULL;
    char err[512];
    int rc = -EIO;

    rd_kafka_conf_t *conf = kafka_conf_new(cfg->kafka, cfg->n_kafka, err, sizeof err);
    if (!conf)
        goto fail;
    if (rd_kafka_conf_set(conf, "group.id", cfg->analyzer.group_id, err, sizeof err) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err)) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    /* A plain handle of the group that never subscribes: it reads offsets, joins nothing. */
    if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err))) {
        rd_kafka_conf_destroy(conf);
        goto fail;
    }
    if (!(want = end_offsets(rk, topics, ntopics, err, sizeof err)))
        goto fail;
    got = rd_kafka_topic_partition_list_copy(want);
    int64_t last_log = log_now_ms();
    for (;;) {
        if (r->collector_stop || atomic_load(&r->analyzer_done)) {
            rc = -EINTR;
            goto out;
        }
        rd_kafka_resp_err_t e = rd_kafka_committed(rk, got, 10000);
        if (e) {
            snprintf(err, sizeof err, "committed offsets of group %s: %s", cfg->analyzer.group_id,
                     rd_kafka_err2str(e));
            goto fail;
        }
        int64_t behind = 0;
        for (int i = 0; i < want->cnt; i++) {
            int64_t committed = got->elems[i].offset < 0 ? 0 : got->elems[i].offset;
            if (committed < want->elems[i].offset)
                behind += want->elems[i].offset - committed;
        }
        if (behind == 0)
            break;
        if (log_now_ms() - last_log >= 10000) {
            LOG_INFO("waiting for the analyzer: %lld records not committed yet", (long long)behind);
            last_log = log_now_ms();
        }
        nap_ms(200);
    }
    rc = 0;
    goto out;
fail:
    LOG_ERR("cannot tell whether the analyzer caught up: %s", err);
out:
    if (want)
        rd_kafka_topic_partition_list_destroy(want);
    if (got)
        rd_kafka_topic_partition_list_destroy(got);
    if (rk)
        rd_kafka_destroy(rk);
    return rc;
}

static void *collector_thread(void *arg)
{
    struct run_ctx *r = arg;
    const struct cli_args *args = r->args;
    int rc = 0;
    if (args->history_files) {
        /* The organisation as it was when the archive begins: the model knows its pools. */
        struct collector_options o = {.once = true,
                                      .from_files = args->history_files,
                                      .collector_id = args->collector_id,
                                      .stop = &r->collector_stop,
                                      .metrics = r->mx,
                                      .as_of_ms = args->history_ms};
        rc = collector_run(r->cfg, &o);
        if (rc == 0)
            rc = wait_analyzed(r);
    }
    if (rc == 0 && args->from_archive) {
        struct ct_archive_result res;
        /* The analyzer waits until the whole archive is in Kafka, then merges its partitions
         * in event time: the same history whatever the publishing and fetching speeds. */
        r->analyzer_hold = 1;
        rc = ct_archive_collect(r->cfg, args->from_archive, args->collector_id, &r->collector_stop,
                                &res);
        r->analyzer_hold = 0;
        if (rc != -EINVAL)
            LOG_INFO("archive %s: %u files, %llu events published, %u files skipped",
                     args->from_archive, res.files, (unsigned long long)res.published,
                     res.files_skipped);
        /* History first: the snapshot's figures must come after the events' in the RRDs. */
        if (rc == 0 && args->from_files)
            rc = wait_analyzed(r);
    }
    if (rc == 0 && !r->collector_stop && (args->from_files || !args->from_archive)) {
        struct collector_options o = {.once = args->once,
                                      .from_files = args->from_files,
                                      .collector_id = args->collector_id,
                                      .stop = &r->collector_stop,
                                      .metrics = r->mx};
        rc = collector_run(r->cfg, &o);
    }
    /* A finite job (one pass, or a backfill alone) ends the run once it is analyzed. */
    if (rc == 0 && !r->collector_stop && (args->once || !args->from_files) &&
        (args->once || args->from_archive)) {
        rc = wait_analyzed(r);
        if (rc == 0) {
            LOG_INFO("the analyzer committed everything collected: stopping");
            atomic_store(&r->finished, true);
        }
    }
    if (rc == -EINTR && (r->collector_stop || atomic_load(&r->analyzer_done)))
        rc = 0; /* stopped from outside: not a failure of the collector */
    r->collector_rc = rc;
    atomic_store(&r->collector_done, true);
    return NULL;
}

static void *analyzer_thread(void *arg)
{
    struct run_ctx *r = arg;
    r->analyzer_rc = analyzer_run(r->analyzer);
    atomic_store(&r->analyzer_done, true);
    return NULL;
}

/* Loads the configuration; with `embedded`, starts the broker into *db and loads it again
 * pointed at the broker. Returns the configuration or NULL (printed). */
static struct config *load_with_broker(const struct cli_args *args, const char *cmd,
                                       devbroker_t **db)
{
    struct config *cfg = cli_load_config(args->config, &args->xs, cmd);
    if (!cfg || !cli_wants_embedded(cfg))
        return cfg;
    char err[512];
    const char *names[4] = {cfg->topics.inventory, cfg->topics.events, cfg->topics.alerts,
                            cfg->topics.deadletter};
    struct devbroker_topic topics[4];
    size_t n = 0;
    for (size_t i = 0; i < 4; i++) {
        bool seen = false;
        for (size_t j = 0; j < n; j++)
            seen = seen || strcmp(topics[j].name, names[i]) == 0;
        if (!seen)
            topics[n++] = (struct devbroker_topic){names[i], RUN_EMBEDDED_PARTITIONS};
    }
    *db = devbroker_new(1, topics, n, err, sizeof err);
    config_free(cfg);
    if (!*db) {
        fprintf(stderr, "ipamwatch %s: embedded broker: %s\n", cmd, err);
        return NULL;
    }
    /* The broker's address as the last -X override: it wins over the file's "embedded". */
    struct cli_overrides xs = {0};
    for (size_t i = 0; i < args->xs.n; i++) {
        char *arg = xasprintf("%s=%s", args->xs.kv[i].key, args->xs.kv[i].value);
        cli_overrides_add(&xs, arg, cmd);
        free(arg);
    }
    char *arg = xasprintf("bootstrap.servers=%s", devbroker_bootstraps(*db));
    cli_overrides_add(&xs, arg, cmd);
    free(arg);
    /* The broker's threads log already: the second load leaves logging alone. */
    cfg = cli_reload_config(args->config, &xs);
    cli_overrides_clear(&xs);
    if (cfg)
        LOG_INFO("embedded development broker at %s (in memory; not for production)",
                 devbroker_bootstraps(*db));
    return cfg;
}

int cli_run_pipeline(const struct cli_args *args, const char *cmd)
{
    struct run_ctx r = {.args = args};
    devbroker_t *db = NULL;
    metrics_t *mx = NULL;
    pthread_t ct, at;
    bool ct_started = false, at_started = false;
    char err[1024];
    int status = 1;

    atomic_init(&r.collector_done, false);
    atomic_init(&r.analyzer_done, false);
    atomic_init(&r.finished, false);
    /* Before any thread: libcurl's global state, then the broker's and clients' threads. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct config *cfg = load_with_broker(args, cmd, &db);
    if (!cfg) {
        status = db ? 1 : EXIT_USAGE;
        goto out;
    }
    r.cfg = cfg;
    cli_stop_signals();
    if (cfg->metrics.listen) {
        if (!(mx = metrics_start(cfg->metrics.listen, err, sizeof err))) {
            fprintf(stderr, "ipamwatch %s: metrics: %s\n", cmd, err);
            goto out;
        }
        LOG_INFO("metrics of the collector and the analyzer on http://%s/metrics",
                 cfg->metrics.listen);
    }
    r.mx = mx;
    struct analyzer_options ao = {.exit_when_idle_ms = args->exit_when_idle_ms,
                                  .commit_records = args->commit_records,
                                  .commit_interval_ms = args->commit_interval_ms,
                                  .stop = &r.analyzer_stop,
                                  .hold = &r.analyzer_hold,
                                  .metrics = mx,
                                  /* The embedded broker's topics are always new. */
                                  .new_topics = db != NULL};
    if (!(r.analyzer = analyzer_new(cfg, &ao, err, sizeof err))) {
        fprintf(stderr, "ipamwatch %s: %s\n", cmd, err);
        goto out;
    }
    /* One READY=1 for the process: when the analyzer and the collector (if it polls) are. */
    sdnotify_expect_ready(args->from_files || !args->from_archive || args->history_files ? 2 : 1);
    if (pthread_create(&at, NULL, analyzer_thread, &r) != 0) {
        fprintf(stderr, "ipamwatch %s: cannot start the analyzer thread\n", cmd);
        goto out;
    }
    at_started = true;
    if (pthread_create(&ct, NULL, collector_thread, &r) != 0) {
        fprintf(stderr, "ipamwatch %s: cannot start the collector thread\n", cmd);
        r.analyzer_stop = 1;
        goto out;
    }
    ct_started = true;

    /* First failure wins the exit status; a signal stops both without one. */
    status = 0;
    bool c_seen = false, a_seen = false;
    while (!(c_seen && a_seen)) {
        if (cli_stop && !(r.collector_stop && r.analyzer_stop)) {
            LOG_INFO("stopping the collector and the analyzer");
            r.collector_stop = r.analyzer_stop = 1;
        }
        if (!c_seen && atomic_load(&r.collector_done)) {
            c_seen = true;
            if (r.collector_rc != 0 && status == 0) {
                LOG_ERR("the collector failed (%s): stopping the analyzer",
                        strerror(-r.collector_rc));
                status = CLI_EXIT_COLLECTOR;
                r.analyzer_stop = 1;
            }
            if (atomic_load(&r.finished))
                r.analyzer_stop = 1;
        }
        if (!a_seen && atomic_load(&r.analyzer_done)) {
            a_seen = true;
            if (r.analyzer_rc != 0 && status == 0) {
                LOG_ERR("the analyzer failed (%s): stopping the collector",
                        strerror(-r.analyzer_rc));
                status = CLI_EXIT_ANALYZER;
            }
            if (!c_seen)
                r.collector_stop = 1;
        }
        if (!(c_seen && a_seen))
            nap_ms(RUN_WATCH_MS);
    }
out:
    if (ct_started)
        pthread_join(ct, NULL);
    if (at_started)
        pthread_join(at, NULL);
    analyzer_free(r.analyzer);
    metrics_free(mx);
    config_free(cfg);
    devbroker_free(db);
    curl_global_cleanup();
    return status;
}

int cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_LONGOPT_CONFIG,         CLI_LONGOPT_ONCE,
        CLI_LONGOPT_FROM_FILES,     CLI_LONGOPT_FROM_ARCHIVE,
        CLI_LONGOPT_COLLECTOR_ID,   CLI_LONGOPT_EXIT_WHEN_IDLE,
        CLI_LONGOPT_COMMIT_RECORDS, CLI_LONGOPT_COMMIT_INTERVAL,
        CLI_LONGOPT_HELP,           {NULL, 0, NULL, 0}};
    struct cli_args args = {0};
    int status = EXIT_USAGE;
    int rc = cli_args_parse(&args, argc, argv, longopts, "run", usage);
    if (rc != 0) {
        status = rc > 0 ? 0 : EXIT_USAGE;
        goto out;
    }
    status = cli_run_pipeline(&args, "run");
out:
    cli_args_clear(&args);
    return status;
}
