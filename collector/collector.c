/* collector: the `collect` job: inventory passes from the EC2 API or aws CLI files into
 * Kafka, once or every poll interval. */
#define LOG_MODULE "collector"
#include "collector/collector.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "collector/aws_client.h"
#include "collector/aws_creds.h"
#include "collector/cli_files.h"
#include "collector/collector_metrics.h"
#include "collector/ct_lookup.h"
#include "collector/inventory.h"
#include "collector/publisher.h"
#include "log.h"
#include "sdnotify.h"

static void settings_from_config(const struct config *cfg, struct aws_settings *s)
{
    memset(s, 0, sizeof *s);
    s->region = cfg->aws.region;
    s->profile = cfg->aws.profile;
    s->access_key_id = cfg->aws.access_key_id;
    s->secret_access_key = cfg->aws.secret_access_key;
    s->session_token = cfg->aws.session_token;
    s->role_arn = cfg->aws.role_arn;
    s->external_id = cfg->aws.external_id;
    s->endpoint_url = cfg->aws.endpoint_url;
    s->ca_file = cfg->aws.ca_file;
    s->connect_timeout_ms = (long)cfg->aws.connect_timeout_ms;
    s->timeout_ms = (long)cfg->aws.request_timeout_ms;
    s->max_attempts = cfg->aws.max_attempts;
    s->retry_budget = cfg->aws.retry_budget;
}

/* Sleeps up to `ms`, waking early when *stop is set. */
static void nap(int64_t ms, volatile sig_atomic_t *stop)
{
    int64_t end = log_now_ms() + ms;
    while (!*stop && log_now_ms() < end) {
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int collector_run(const struct config *cfg, const struct collector_options *o)
{
    static volatile sig_atomic_t never;
    volatile sig_atomic_t *stop = o->stop ? o->stop : &never;
    char err[1024];
    int rc = -EINVAL;
    const char *bootstrap = config_kafka_get(cfg, "bootstrap.servers");
    if (bootstrap && strcmp(bootstrap, "embedded") == 0) {
        LOG_ERR("bootstrap.servers = embedded keeps data inside one process: use it with "
                "`ipamwatch run` or `ipamwatch demo`, or point collect at a Kafka cluster");
        return -EINVAL;
    }
    char host[256] = "collector";
    if (!o->collector_id && gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "collector");
    host[sizeof host - 1] = '\0';

    cli_files_t *files = NULL;
    aws_creds_t *creds = NULL;
    aws_client_t *client = NULL;
    publisher_t *pub = NULL;
    ct_lookup_t *ct = NULL; /* CloudTrail poller (API mode): its own thread and producer */
    struct inventory_source src;
    metrics_t *own_mx = NULL, *mx = o->metrics; /* NULL: no [metrics] listen */
    struct collector_metrics_source counted;

    if (o->from_files) {
        files = cli_files_new(o->from_files, err, sizeof err);
        if (!files) {
            LOG_ERR("%s", err);
            goto fail;
        }
        cli_files_source(files, &src);
    } else {
        struct aws_settings s;
        settings_from_config(cfg, &s);
        creds = aws_creds_new_chain(&s, err, sizeof err);
        if (!creds) {
            LOG_ERR("credentials: %s", err);
            goto fail;
        }
        client = aws_client_new(&s, creds, err, sizeof err);
        if (!client) {
            LOG_ERR("aws client: %s", err);
            goto fail;
        }
        inventory_source_api(&src, client, aws_client_region(client));
        ct = ct_lookup_new(cfg, &s, creds, o->collector_id ? o->collector_id : host, err,
                           sizeof err);
        if (!ct) {
            LOG_ERR("cloudtrail: %s", err);
            goto fail;
        }
    }
    pub = publisher_new(cfg->kafka, cfg->n_kafka, err, sizeof err);
    if (!pub) {
        LOG_ERR("kafka producer: %s", err);
        goto fail;
    }
    if (!mx && cfg->metrics.listen) {
        if (!(mx = own_mx = metrics_start(cfg->metrics.listen, err, sizeof err))) {
            LOG_ERR("metrics: %s", err);
            goto fail;
        }
        LOG_INFO("metrics on http://%s/metrics", cfg->metrics.listen);
    }
    collector_metrics_init(mx);
    collector_metrics_wrap(mx, &src, &counted);

    struct inventory_options opt = {
        .topic = cfg->topics.inventory,
        .collector_id = o->collector_id ? o->collector_id : host,
        .ipam_id = cfg->collector.ipam_id,
        .stop = stop,
        .as_of_ms = o->as_of_ms,
    };
    if (ct && !o->once && ct_lookup_start(ct, stop) < 0) {
        LOG_ERR("cloudtrail: cannot start the poller thread");
        goto fail;
    }
    int64_t backoff_ms = 10000;
    sdnotify_send("READY=1");
    for (;;) {
        struct inventory_result res;
        collector_metrics_pass_start(mx);
        rc = inventory_pass_run(&src, pub, &opt, &res);
        collector_metrics_pass_end(mx, rc, &res, client, cfg->collector.poll_interval_ms);
        if (o->once && ct && rc == 0 && !*stop) {
            /* One CloudTrail round too; -EAGAIN when a pair could not be read. */
            rc = ct_lookup_round(ct, stop);
            if (rc == -EINTR)
                rc = *stop ? -EINTR : -EAGAIN;
        }
        if (o->once || *stop)
            break;
        int64_t wait_ms = cfg->collector.poll_interval_ms;
        if (rc == 0) {
            backoff_ms = 10000;
        } else {
            /* A failed pass is retried sooner than the poll interval, backing off. */
            if (backoff_ms < wait_ms)
                wait_ms = backoff_ms;
            backoff_ms = backoff_ms * 2 > 600000 ? 600000 : backoff_ms * 2;
            LOG_INFO("retrying the pass in %lld s", (long long)(wait_ms / 1000));
        }
        nap(wait_ms, stop);
        if (*stop)
            break;
    }
    /* Stopping is success: in poll mode a pass that failed before the signal was logged
     * and counted already (a service manager would otherwise record a failure). */
    if (*stop && (rc == -EINTR || !o->once))
        rc = 0;
fail:
    sdnotify_send("STOPPING=1");
    ct_lookup_join(ct); /* the thread ends once *stop is set */
    ct_lookup_free(ct);
    publisher_free(pub);
    aws_client_free(client);
    aws_creds_free(creds);
    cli_files_free(files);
    metrics_free(own_mx);
    return rc;
}
