/* soak_events: produces CloudTrail-shaped event records to the events topic at a fixed rate,
 * some of them failed allocations that fire the allocation_failed rule, for bench/soak.sh.
 *
 * Usage: soak_events -b BOOTSTRAP -t TOPIC --scope ID --pool ID [--pool ID]...
 *                    [--rate N] [--seconds N] [--fail-rate N] [--fail-pools N] [--id RUN]
 *                    [--fail-log FILE] [-X key=value]...
 *
 * DESIGN: the records are what the collector publishes for CloudTrail events (record_encode,
 * keyed by record_key, i.e. by scope), stamped with the wall-clock time at which they are
 * produced as their event time, so that an alert's starts_at tells when its event entered
 * Kafka. Successful events alternate AllocateIpamPoolCidr and ReleaseIpamPoolAllocation of one
 * allocation in the given (real) pools, so the model does the work of each event without
 * growing. --fail-rate events per second are failed allocations from one of --fail-pools
 * pools that do not exist in the inventory, taken in turn: with an allocation_failed window
 * shorter than fail-pools / fail-rate seconds each one fires a new alert. --fail-log gets one
 * line per failed allocation, "PRODUCED_MS<TAB>POOL_ID<TAB>EVENT_ID", PRODUCED_MS being the
 * wall-clock milliseconds at which the record was made, just before it goes to the producer
 * (alerts carry the event time in whole seconds only). The loop produces whatever the
 * schedule (rate x elapsed time) says is due, then polls for at most 1 ms; it prints one
 * progress line a 10 s to stderr and a summary on stdout at the end. Exit 0 when every
 * record was confirmed delivered.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka.h"
#include "kv.h"
#include "log.h"
#include "record.h"
#include "xalloc.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

/* Wall-clock milliseconds: event times are UTC. */
static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: soak_events -b BOOTSTRAP -t TOPIC --scope ID --pool ID [--pool ID]...\n"
                 "                   [--rate N] [--seconds N] [--fail-rate N] [--fail-pools N]\n"
                 "                   [--id RUN] [--fail-log FILE] [-X key=value]...\n");
}

static bool parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

/* Builds event number `seq` into a new record (owned by the caller). */
static struct record *make_event(const char *run, uint64_t seq, bool failed, uint64_t fail_seq,
                                 unsigned fail_pools, char **pools, size_t npools,
                                 const char *scope)
{
    struct record *rec = record_new(RECORD_EVENT);
    struct record_event *ev = &rec->u.event;
    char buf[128];
    int64_t now = wall_ms();
    rec->ts_ms = now;
    ev->time_ms = now;
    record_str_set(&rec->scope, scope);
    record_str_set(&rec->source, "soak_events");
    snprintf(buf, sizeof buf, "%s-%" PRIu64, run, seq);
    record_str_set(&ev->event_id, buf);
    record_str_set(&ev->account, "111111111111");
    record_str_set(&ev->region, "eu-central-1");
    record_str_set(&ev->principal.type, "AssumedRole");
    record_str_set(&ev->principal.arn, "arn:aws:sts::111111111111:assumed-role/Deployer/soak");
    ev->parsed = true;
    if (failed) {
        snprintf(buf, sizeof buf, "ipam-pool-50a4%013x", (unsigned)(fail_seq % fail_pools));
        record_str_set(&ev->name, "AllocateIpamPoolCidr");
        record_str_set(&ev->pool_id, buf);
        ev->netmask_length = 20;
        record_str_set(&ev->error_code, "InvalidParameterValue");
        record_str_set(&ev->error_message, "The allocation size is too big for the pool.");
        return rec;
    }
    /* Pairs: 2k allocates allocation k, 2k+1 releases it. */
    uint64_t k = seq / 2;
    record_str_set(&ev->name, seq % 2 ? "ReleaseIpamPoolAllocation" : "AllocateIpamPoolCidr");
    record_str_set(&ev->pool_id, pools[k % npools]);
    snprintf(buf, sizeof buf, "ipam-pool-alloc-50a4%012" PRIx64, k);
    record_str_set(&ev->allocation_id, buf);
    snprintf(buf, sizeof buf, "100.%u.%u.%u/28", 64 + (unsigned)((k >> 12) % 64),
             (unsigned)((k >> 4) % 256), (unsigned)(k % 16) * 16);
    record_str_set(&ev->cidr, buf);
    ev->netmask_length = 28;
    return rec;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"scope", required_argument, NULL, 's'},
                                             {"pool", required_argument, NULL, 'p'},
                                             {"rate", required_argument, NULL, 'r'},
                                             {"seconds", required_argument, NULL, 'd'},
                                             {"fail-rate", required_argument, NULL, 'f'},
                                             {"fail-pools", required_argument, NULL, 'n'},
                                             {"id", required_argument, NULL, 'i'},
                                             {"fail-log", required_argument, NULL, 'l'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *bootstrap = NULL, *topic = NULL, *scope = NULL, *run = "soak";
    char **pools = NULL;
    size_t npools = 0, pools_cap = 0;
    struct config_kv *props = NULL;
    size_t nprops = 0, props_cap = 0;
    double rate = 5000, seconds = 600, fail_rate = 2, fail_pools = 256;
    kafka_producer_t *p = NULL;
    const char *fail_log_path = NULL;
    FILE *fail_log = NULL;
    int c, status = 1;

    while ((c = getopt_long(argc, argv, "b:t:X:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b':
            bootstrap = optarg;
            break;
        case 't':
            topic = optarg;
            break;
        case 's':
            scope = optarg;
            break;
        case 'p':
            pools = xgrow(pools, &pools_cap, npools + 1, sizeof *pools);
            pools[npools++] = optarg;
            break;
        case 'i':
            run = optarg;
            break;
        case 'l':
            fail_log_path = optarg;
            break;
        case 'r':
        case 'd':
        case 'f':
        case 'n': {
            double *slot = c == 'r'   ? &rate
                           : c == 'd' ? &seconds
                           : c == 'f' ? &fail_rate
                                      : &fail_pools;
            double lo = c == 'f' ? 0 : 1;
            if (!parse_num(optarg, lo, 1e7, slot)) {
                fprintf(stderr, "soak_events: bad number '%s'\n", optarg);
                goto out;
            }
            break;
        }
        case 'X': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr, "soak_events: -X %s: expected key=value\n", optarg);
                goto out;
            }
            props = xgrow(props, &props_cap, nprops + 1, sizeof *props);
            props[nprops].key = xstrndup(optarg, (size_t)(eq - optarg));
            props[nprops].value = xstrdup(eq + 1);
            props[nprops].file = "-X";
            props[nprops].line = 0;
            nprops++;
            break;
        }
        case 'h':
            usage(stdout);
            status = 0;
            goto out;
        default:
            usage(stderr);
            goto out;
        }
    }
    if (!bootstrap || !topic || !scope || npools == 0 || optind < argc || fail_rate >= rate) {
        usage(stderr);
        goto out;
    }
    log_init("soak_events", LOG_LEVEL_WARN, true, false);
    props = xgrow(props, &props_cap, nprops + 1, sizeof *props);
    memmove(props + 1, props, nprops * sizeof *props);
    props[0] = (struct config_kv){xstrdup("bootstrap.servers"), xstrdup(bootstrap), "-b", 0};
    nprops++;

    if (fail_log_path && !(fail_log = fopen(fail_log_path, "w"))) {
        fprintf(stderr, "soak_events: %s: %s\n", fail_log_path, strerror(errno));
        goto out;
    }
    char err[512];
    p = kafka_producer_new(props, nprops, NULL, NULL, err, sizeof err);
    if (!p) {
        fprintf(stderr, "soak_events: %s\n", err);
        goto out;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* Failed allocations are spread evenly: event `seq` is one when the failure schedule
     * (fail_rate / rate of the events so far) passes a whole number. */
    double fail_share = fail_rate / rate;
    uint64_t seq = 0, fails = 0, behind_max = 0;
    int64_t t0 = log_now_ms(), end = t0 + (int64_t)(seconds * 1000), next_report = t0 + 10000;
    uint64_t last_seq = 0;
    int64_t last_ms = t0;
    while (!stop_flag) {
        int64_t now = log_now_ms();
        if (now >= end)
            break;
        uint64_t due = (uint64_t)((double)(now - t0) * rate / 1000.0);
        if (due > seq && due - seq > behind_max)
            behind_max = due - seq;
        while (seq < due && !stop_flag) {
            bool failed = (uint64_t)((double)(seq + 1) * fail_share) > fails;
            struct record *rec =
                make_event(run, seq, failed, fails, (unsigned)fail_pools, pools, npools, scope);
            char key[RECORD_KEY_MAX], *json = NULL;
            size_t len = 0;
            int rc = record_key(rec, key, sizeof key);
            if (rc == 0)
                rc = record_encode(rec, &json, &len);
            if (rc == 0)
                rc = kafka_producer_produce(p, topic, key, strlen(key), json, len, NULL);
            free(json);
            if (rc < 0) {
                record_free(rec);
                fprintf(stderr, "soak_events: event %" PRIu64 ": %s\n", seq, strerror(-rc));
                goto out;
            }
            if (failed && fail_log)
                fprintf(fail_log, "%" PRId64 "\t%s\t%s-%" PRIu64 "\n", rec->ts_ms,
                        rec->u.event.pool_id, run, seq);
            record_free(rec);
            if (failed)
                fails++;
            seq++;
        }
        if (kafka_producer_poll(p, 1) < 0) {
            kafka_producer_fatal(p, err, sizeof err);
            fprintf(stderr, "soak_events: fatal: %s\n", err);
            goto out;
        }
        if (now >= next_report) {
            fprintf(stderr,
                    "soak_events: %.0f s: %" PRIu64 " produced (%.0f/s last 10 s), %" PRIu64
                    " delivered, %zu outstanding\n",
                    (double)(now - t0) / 1000.0, seq,
                    (double)(seq - last_seq) * 1000.0 / (double)(now - last_ms),
                    kafka_producer_delivered(p), kafka_producer_outstanding(p));
            last_seq = seq;
            last_ms = now;
            next_report += 10000;
        }
    }
    int64_t t1 = log_now_ms();
    size_t left = 0;
    int frc = kafka_producer_flush(p, stop_flag ? 2000 : 30000, &left); /* stopped: be quick */
    uint64_t delivered = kafka_producer_delivered(p), failed = kafka_producer_failed(p);
    printf("produced %" PRIu64 " events (%" PRIu64 " failed allocations) in %.1f s: %.0f/s; "
           "delivered %" PRIu64 ", delivery failures %" PRIu64 ", most behind schedule %" PRIu64
           "\n",
           seq, fails, (double)(t1 - t0) / 1000.0, (double)seq * 1000.0 / (double)(t1 - t0),
           delivered, failed, behind_max);
    status = frc == 0 && failed == 0 && delivered == seq ? 0 : 1;
out:
    kafka_producer_close(p, 0); /* flushed above, or failing: purge what is left */
    if (fail_log && fclose(fail_log) != 0) {
        fprintf(stderr, "soak_events: %s: %s\n", fail_log_path, strerror(errno));
        status = 1;
    }
    for (size_t i = 0; i < nprops; i++) {
        free(props[i].key);
        free(props[i].value);
    }
    free(props);
    free(pools);
    return status;
}
