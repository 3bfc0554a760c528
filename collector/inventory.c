/* inventory: one framed inventory pass over an IPAM source, published to Kafka. */
#define LOG_MODULE "inventory"
#include "collector/inventory.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "collector/ipam_map.h"
#include "log.h"
#include "xalloc.h"

/* The state of one pass: what was listed up front, and the frame being published. */
struct pass {
    const struct inventory_source *src;
    const struct inventory_options *opt;
    publisher_t *pub;
    struct inventory_result *res;
    struct publisher_batch batch;
    const char *scope_id;  /* the frame being published */
    const char *context;   /* pool, scope or discovery id the listed items belong to */
    enum record_type type; /* type of the items being listed */
    int64_t counts[RECORD_TYPE_COUNT];
    bool frame_ok;
    char frame_error[512];
    unsigned frames_complete;
    bool logged; /* the reason the pass is incomplete was logged by pass_fail() */
    bool interrupted;
    struct record *spare; /* the record refilled for each streamed API item */
};

static void pass_fail(struct pass *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void pass_fail(struct pass *p, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    LOG_ERR("pass %s, scope %s: %s", p->res->pass_id, p->scope_id ? p->scope_id : "-", text);
    if (p->frame_ok)
        snprintf(p->frame_error, sizeof p->frame_error, "%s", text);
    p->frame_ok = false;
    p->logged = true;
    if (p->res->complete)
        snprintf(p->res->error, sizeof p->res->error, "%s", text);
    p->res->complete = false;
}

/* Publishes `rec` (borrowed) inside the current frame. */
static int send_lent(struct pass *p, struct record *rec)
{
    /* The envelope is the same for the whole frame: lent for the send, not copied. */
    rec->scope = (char *)p->scope_id;
    rec->source = (char *)p->opt->collector_id;
    rec->pass_id = p->res->pass_id;
    if (p->opt->as_of_ms > 0)
        rec->ts_ms = p->opt->as_of_ms;
    char err[512];
    int rc = publisher_send(p->pub, p->opt->topic, rec, &p->batch, err, sizeof err);
    rec->scope = rec->source = rec->pass_id = NULL;
    if (rc == 0) {
        p->counts[rec->type]++;
        p->res->counts[rec->type]++;
        p->res->records++;
    } else if (rc == -EINTR) {
        p->interrupted = true;
    } else {
        pass_fail(p, "%s", err);
    }
    return rc == -EINTR ? rc : 0;
}

/* Publishes `rec` (stolen) inside the current frame. */
static int send_record(struct pass *p, struct record *rec)
{
    int rc = send_lent(p, rec);
    record_free(rec);
    return rc;
}

static int map_and_send(struct pass *p, enum record_type type, json_t *item, const char *context)
{
    char err[256];
    struct record *rec = ipam_map_item(type, item, context, err, sizeof err);
    if (!rec) {
        pass_fail(p, "%s: %s", p->src->name, err);
        return 0;
    }
    return send_record(p, rec);
}

static int on_stream_item(void *ctx, json_t *item)
{
    struct pass *p = ctx;
    if (p->opt->stop && *p->opt->stop) {
        p->interrupted = true;
        return -EINTR;
    }
    return map_and_send(p, p->type, item, p->context);
}

/* The API source's items, mapped from the parser's nodes without JSON. */
static int on_stream_node(void *ctx, const ec2_xml_t *x, int node)
{
    struct pass *p = ctx;
    if (p->opt->stop && *p->opt->stop) {
        p->interrupted = true;
        return -EINTR;
    }
    char err[256];
    if (ipam_map_item_xml_into(&p->spare, p->type, x, node, p->context, err, sizeof err) < 0) {
        pass_fail(p, "%s: %s", p->src->name, err);
        return 0;
    }
    return send_lent(p, p->spare);
}

static int api_list(void *ctx, enum ec2_ipam_op op, const char *region, const char *arg,
                    const char *arg2, ec2_ipam_item_cb on_item, void *cb_ctx, char *err,
                    size_t errlen);

static int on_collect_item(void *ctx, json_t *item)
{
    json_array_append(ctx, item);
    return 0;
}

/* Lists `op` into a new array (owned by the caller); NULL on failure (logged). */
static json_t *collect(struct pass *p, enum ec2_ipam_op op, const char *region, const char *arg,
                       const char *arg2)
{
    json_t *items = json_array();
    char err[512] = "";
    int rc =
        p->src->list(p->src->ctx, op, region, arg, arg2, on_collect_item, items, err, sizeof err);
    if (rc != 0) {
        if (rc == -EINTR)
            p->interrupted = true;
        else
            pass_fail(p, "%s", err[0] ? err : strerror(rc < 0 ? -rc : EIO));
        json_decref(items);
        return NULL;
    }
    return items;
}

static void stream(struct pass *p, enum ec2_ipam_op op, enum record_type type, const char *region,
                   const char *arg)
{
    char err[512] = "";
    p->type = type;
    p->context = arg;
    int rc;
    if (p->src->list == api_list) /* the EC2 API: straight from the parser's nodes */
        rc = ec2_ipam_list_nodes(p->src->ctx, op, region, arg, NULL, 0, on_stream_node, p, NULL,
                                 err, sizeof err);
    else
        rc = p->src->list(p->src->ctx, op, region, arg, NULL, on_stream_item, p, err, sizeof err);
    if (rc == -EINTR || p->interrupted)
        p->interrupted = true;
    else if (rc != 0)
        pass_fail(p, "%s", err[0] ? err : strerror(rc < 0 ? -rc : EIO));
}

static const char *scope_ipam_id(json_t *scope)
{
    const char *arn = ipam_map_str(scope, "ipamArn");
    return arn ? record_id_from_arn(arn) : NULL;
}

static const char *pool_scope_id(json_t *pool)
{
    const char *arn = ipam_map_str(pool, "ipamScopeArn");
    return arn ? record_id_from_arn(arn) : NULL;
}

static json_t *find_ipam(json_t *ipams, const char *ipam_id)
{
    size_t i;
    json_t *it;
    json_array_foreach(ipams, i, it)
    {
        const char *id = ipam_map_str(it, "ipamId");
        if (id && ipam_id && strcmp(id, ipam_id) == 0)
            return it;
    }
    return NULL;
}

/* Discovery health for every resource discovery and operating region; a failure here
 * only warns: it is supplementary to the inventory. Returns an array of
 * [discovery id, item] pairs (owned by the caller). */
static json_t *collect_discovery_health(struct pass *p)
{
    json_t *out = json_array();
    char err[512] = "";
    json_t *discos = json_array();
    int rc = p->src->list(p->src->ctx, EC2_DESCRIBE_IPAM_RESOURCE_DISCOVERIES, p->src->home_region,
                          NULL, NULL, on_collect_item, discos, err, sizeof err);
    if (rc != 0) {
        if (rc == -EINTR)
            p->interrupted = true;
        else
            LOG_WARN("%s: discovery health unavailable: %s", p->src->name, err);
        json_decref(discos);
        return out;
    }
    size_t i;
    json_t *d;
    json_array_foreach(discos, i, d)
    {
        const char *did = ipam_map_str(d, "ipamResourceDiscoveryId");
        json_t *regions = ipam_map_get(d, "operatingRegionSet");
        if (!regions)
            regions = json_object_get(d, "OperatingRegions");
        size_t j;
        json_t *reg;
        json_array_foreach(regions, j, reg)
        {
            const char *rname = ipam_map_str(reg, "regionName");
            if (!did || !rname)
                continue;
            json_t *accts = json_array();
            rc = p->src->list(p->src->ctx, EC2_GET_IPAM_DISCOVERED_ACCOUNTS, p->src->home_region,
                              did, rname, on_collect_item, accts, err, sizeof err);
            if (rc == 0) {
                size_t k;
                json_t *a;
                json_array_foreach(accts, k, a)
                    json_array_append_new(out, json_pack("[sO]", did, a));
            } else if (rc == -EINTR) {
                p->interrupted = true;
            } else {
                LOG_WARN("%s: discovery health of %s in %s unavailable: %s", p->src->name, did,
                         rname, err);
            }
            json_decref(accts);
        }
    }
    json_decref(discos);
    return out;
}

static void publish_scope(struct pass *p, json_t *ipam, json_t *scope, json_t *pools,
                          json_t *health, int64_t started_ms)
{
    memset(p->counts, 0, sizeof p->counts);
    p->frame_ok = true;
    p->frame_error[0] = '\0';

    struct record *begin = record_new(RECORD_PASS_BEGIN);
    record_str_set(&begin->u.pass_begin.collector_id, p->opt->collector_id);
    begin->u.pass_begin.started_ms = started_ms;
    record_str_set(&begin->u.pass_begin.ipam_id, ipam_map_str(ipam, "ipamId"));
    record_str_set(&begin->u.pass_begin.region, p->src->home_region);
    if (send_record(p, begin) < 0)
        return;
    if (map_and_send(p, RECORD_IPAM, ipam, NULL) < 0 ||
        map_and_send(p, RECORD_SCOPE, scope, NULL) < 0)
        return;

    size_t i;
    json_t *pool;
    json_array_foreach(pools, i, pool)
    {
        const char *sid = pool_scope_id(pool);
        if (!sid || strcmp(sid, p->scope_id) != 0)
            continue;
        if (map_and_send(p, RECORD_POOL, pool, NULL) < 0)
            return;
        const char *pool_id = ipam_map_str(pool, "ipamPoolId");
        if (!pool_id)
            continue; /* already reported by the mapping */
        stream(p, EC2_GET_IPAM_POOL_CIDRS, RECORD_POOL_CIDR, p->src->home_region, pool_id);
        if (p->interrupted)
            return;
        stream(p, EC2_GET_IPAM_POOL_ALLOCATIONS, RECORD_ALLOCATION,
               ec2_ipam_pool_region(pool, p->src->home_region), pool_id);
        if (p->interrupted)
            return;
    }
    stream(p, EC2_GET_IPAM_RESOURCE_CIDRS, RECORD_RESOURCE_CIDR, p->src->home_region, p->scope_id);
    if (p->interrupted)
        return;
    json_t *pair;
    json_array_foreach(health, i, pair)
    {
        if (map_and_send(p, RECORD_DISCOVERED_ACCOUNT, json_array_get(pair, 1),
                         json_string_value(json_array_get(pair, 0))) < 0)
            return;
    }

    struct record *end = record_new(RECORD_PASS_END);
    for (int t = RECORD_IPAM; t <= RECORD_DISCOVERED_ACCOUNT; t++)
        end->u.pass_end.counts[t] = p->counts[t];
    end->u.pass_end.complete = p->frame_ok;
    if (!p->frame_ok)
        record_str_set(&end->u.pass_end.error, p->frame_error);
    if (send_record(p, end) < 0)
        return;
    p->res->scopes++;
    if (p->frame_ok)
        p->frames_complete++;
}

int inventory_pass_run(const struct inventory_source *src, publisher_t *pub,
                       const struct inventory_options *opt, struct inventory_result *res)
{
    memset(res, 0, sizeof *res);
    int64_t t0 = log_now_ms();
    struct record *clock = record_new(RECORD_PASS_BEGIN); /* wall clock in ms */
    int64_t started_ms = opt->as_of_ms > 0 ? opt->as_of_ms : clock->ts_ms;
    record_free(clock);
    snprintf(res->pass_id, sizeof res->pass_id, "%s-%lld", opt->collector_id,
             (long long)started_ms);
    res->complete = true;

    struct pass p = {.src = src, .opt = opt, .pub = pub, .res = res};
    LOG_INFO("pass %s: reading %s", res->pass_id, src->name);

    json_t *ipams = collect(&p, EC2_DESCRIBE_IPAMS, src->home_region, NULL, NULL);
    json_t *scopes =
        ipams ? collect(&p, EC2_DESCRIBE_IPAM_SCOPES, src->home_region, NULL, NULL) : NULL;
    json_t *pools =
        scopes ? collect(&p, EC2_DESCRIBE_IPAM_POOLS, src->home_region, NULL, NULL) : NULL;
    json_t *health = pools ? collect_discovery_health(&p) : NULL;

    if (pools && !p.interrupted) {
        size_t i;
        json_t *scope;
        json_array_foreach(scopes, i, scope)
        {
            const char *ipam_id = scope_ipam_id(scope);
            p.scope_id = ipam_map_str(scope, "ipamScopeId");
            if (!p.scope_id || !ipam_id)
                continue;
            if (opt->ipam_id && strcmp(ipam_id, opt->ipam_id) != 0)
                continue;
            json_t *ipam = find_ipam(ipams, ipam_id);
            if (!ipam) {
                pass_fail(&p, "scope %s belongs to %s, which DescribeIpams did not list",
                          p.scope_id, ipam_id);
                continue;
            }
            publish_scope(&p, ipam, scope, pools, health, started_ms);
            if (p.interrupted)
                break;
        }
        if (res->scopes == 0 && !p.interrupted && res->complete)
            pass_fail(&p, "%s: no scope%s%s found", src->name, opt->ipam_id ? " of " : "",
                      opt->ipam_id ? opt->ipam_id : "");
    }
    json_decref(ipams);
    json_decref(scopes);
    json_decref(pools);
    json_decref(health);
    record_free(p.spare);

    /* Every queued record must be reported before the batch goes away. */
    int rc = publisher_wait(pub, &p.batch, -1);
    res->delivered = p.batch.delivered;
    res->failed = p.batch.failed;
    char undelivered[512] = "";
    if (rc < 0 || p.batch.failed) {
        snprintf(undelivered, sizeof undelivered, "%llu of %llu records not delivered: %s",
                 (unsigned long long)(p.batch.sent - p.batch.delivered),
                 (unsigned long long)p.batch.sent,
                 p.batch.error[0] ? p.batch.error : "producer error");
        if (res->complete)
            snprintf(res->error, sizeof res->error, "%s", undelivered);
        res->complete = false;
    }
    res->duration_ms = log_now_ms() - t0;
    if (p.interrupted) {
        /* Every record counted as delivered was confirmed by the cluster. */
        LOG_WARN("pass %s interrupted: %llu of %llu records delivered, %llu failed", res->pass_id,
                 (unsigned long long)res->delivered, (unsigned long long)p.batch.sent,
                 (unsigned long long)res->failed);
        return -EINTR;
    }
    if (!res->complete) {
        /* A failed call or item was logged where it happened: one line names it, this one
         * sums the pass up. */
        if (undelivered[0])
            LOG_ERR("pass %s incomplete after %lld ms: %s", res->pass_id,
                    (long long)res->duration_ms, undelivered);
        else if (p.logged)
            LOG_ERR("pass %s incomplete after %lld ms: %u of %u scopes complete", res->pass_id,
                    (long long)res->duration_ms, p.frames_complete, res->scopes);
        else
            LOG_ERR("pass %s incomplete after %lld ms: %s", res->pass_id,
                    (long long)res->duration_ms, res->error);
        return -EAGAIN;
    }
    LOG_INFO("pass %s complete: %u scopes, %llu records delivered in %lld ms", res->pass_id,
             res->scopes, (unsigned long long)res->delivered, (long long)res->duration_ms);
    return 0;
}

static int api_list(void *ctx, enum ec2_ipam_op op, const char *region, const char *arg,
                    const char *arg2, ec2_ipam_item_cb on_item, void *cb_ctx, char *err,
                    size_t errlen)
{
    return ec2_ipam_list(ctx, op, region, arg, arg2, 0, on_item, cb_ctx, NULL, err, errlen);
}

void inventory_source_api(struct inventory_source *src, aws_client_t *client,
                          const char *home_region)
{
    src->list = api_list;
    src->ctx = client;
    src->home_region = home_region;
    src->name = "ec2";
}
