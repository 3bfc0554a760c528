/* ec2_ipam: the read-only IPAM operations of EC2, following every page. */
#define LOG_MODULE "ec2"
#include "collector/ec2_ipam.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/ec2_xml.h"
#include "log.h"
#include "xalloc.h"

/* Pages fetched ahead and not yet handed out, and the threads parsing them. */
#define EC2_IPAM_AHEAD   4
#define EC2_IPAM_PARSERS 2

struct op_info {
    const char *action;
    const char *cli;
    const char *arg_param;  /* request parameter carrying `arg`, or NULL */
    const char *arg2_param; /* request parameter carrying `arg2`, or NULL */
    const char *required;   /* element every item carries */
    int min_results, max_results;
};

static const struct op_info ops[EC2_IPAM_OP_COUNT] = {
    [EC2_DESCRIBE_IPAMS] = {"DescribeIpams", "describe-ipams", NULL, NULL, "ipamId", 5, 1000},
    [EC2_DESCRIBE_IPAM_SCOPES] = {"DescribeIpamScopes", "describe-ipam-scopes", NULL, NULL,
                                  "ipamScopeId", 5, 1000},
    [EC2_DESCRIBE_IPAM_POOLS] = {"DescribeIpamPools", "describe-ipam-pools", NULL, NULL,
                                 "ipamPoolId", 5, 1000},
    [EC2_GET_IPAM_POOL_CIDRS] = {"GetIpamPoolCidrs", "get-ipam-pool-cidrs", "IpamPoolId", NULL,
                                 "ipamPoolCidrId", 5, 1000},
    [EC2_GET_IPAM_POOL_ALLOCATIONS] = {"GetIpamPoolAllocations", "get-ipam-pool-allocations",
                                       "IpamPoolId", NULL, "ipamPoolAllocationId", 1000, 100000},
    [EC2_GET_IPAM_RESOURCE_CIDRS] = {"GetIpamResourceCidrs", "get-ipam-resource-cidrs",
                                     "IpamScopeId", NULL, "resourceCidr", 5, 1000},
    [EC2_DESCRIBE_IPAM_RESOURCE_DISCOVERIES] = {"DescribeIpamResourceDiscoveries",
                                                "describe-ipam-resource-discoveries", NULL, NULL,
                                                "ipamResourceDiscoveryId", 5, 1000},
    [EC2_GET_IPAM_DISCOVERED_ACCOUNTS] = {"GetIpamDiscoveredAccounts",
                                          "get-ipam-discovered-accounts", "IpamResourceDiscoveryId",
                                          "DiscoveryRegion", "accountId", 5, 1000},
};

const char *ec2_ipam_op_name(enum ec2_ipam_op op)
{
    return (unsigned)op < EC2_IPAM_OP_COUNT ? ops[op].action : NULL;
}

int ec2_ipam_op_parse(const char *name, enum ec2_ipam_op *op)
{
    for (int i = 0; i < EC2_IPAM_OP_COUNT; i++) {
        if (strcmp(name, ops[i].action) == 0 || strcmp(name, ops[i].cli) == 0) {
            *op = (enum ec2_ipam_op)i;
            return 0;
        }
    }
    return -ENOENT;
}

/* Appends "&key=value" (value percent-encoded, RFC 3986 unreserved kept) to a body. */
static void param(char **body, size_t *len, size_t *cap, const char *key, const char *value)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t need = *len + strlen(key) + 3 * strlen(value) + 3;
    if (need > *cap)
        *body = xgrow(*body, cap, need, 1);
    char *o = *body + *len;
    if (*len)
        *o++ = '&';
    size_t kl = strlen(key);
    memcpy(o, key, kl);
    o += kl;
    *o++ = '=';
    for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
        unsigned char ch = *p;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            *o++ = (char)ch;
        } else {
            *o++ = '%';
            *o++ = hex[ch >> 4];
            *o++ = hex[ch & 15];
        }
    }
    *o = '\0';
    *len = (size_t)(o - *body);
}

static bool valid_id(const char *s)
{
    if (!s || !*s || strlen(s) > 256)
        return false;
    for (; *s; s++)
        if (*s <= ' ' || *s == '&' || *s == '=')
            return false;
    return true;
}

/* What every page request of one listing shares (borrowed, read-only while it runs). */
struct listing {
    aws_client_t *c;
    const struct op_info *oi;
    const char *region, *arg, *arg2, *maxr;
};

/* The form body of the request for the page after `token` (NULL: the first); owned. */
static char *page_request(const struct listing *l, const char *token)
{
    const struct op_info *oi = l->oi;
    char *body = NULL;
    size_t len = 0, cap = 0;
    param(&body, &len, &cap, "Action", oi->action);
    param(&body, &len, &cap, "Version", "2016-11-15");
    if (oi->arg_param)
        param(&body, &len, &cap, oi->arg_param, l->arg);
    if (oi->arg2_param)
        param(&body, &len, &cap, oi->arg2_param, l->arg2);
    param(&body, &len, &cap, "MaxResults", l->maxr);
    if (token)
        param(&body, &len, &cap, "NextToken", token);
    return body;
}

/* Requests and parses one page as it arrives (the streaming path). `failed` earlier
 * answers to this same request were unusable (failed_error says why): they count as
 * attempts. */
static int query_page(const struct listing *l, const char *token, int failed,
                      const char *failed_error, ec2_xml_t **x, char *err, size_t errlen)
{
    char *body = page_request(l, token);
    struct aws_call call = {.service = "ec2",
                            .region = l->region,
                            .operation = l->oi->action,
                            .body = body,
                            .failed_attempts = failed,
                            .failed_error = failed_error};
    int rc = aws_client_query(l->c, &call, l->oi->required, x, err, errlen);
    free(body);
    return rc;
}

enum page_state { PAGE_FETCHED, PAGE_PARSING, PAGE_DONE };

/* One page of the pipeline, from its request to its hand-over. */
struct page {
    struct page *next; /* the following page of the listing */
    char *token;       /* NextToken it was requested with (owned) */
    char *body;        /* the raw answer until parsed (owned) */
    size_t len;
    char *sniffed; /* the nextToken seen in the raw bytes, or NULL (owned) */
    bool chained;  /* the fetcher requested the following page with `sniffed` */
    bool orphan;   /* discarded while a parser held it: the parser frees it */
    enum page_state state;
    int rc;       /* the request's result (-errno: err says why, nothing to parse) */
    ec2_xml_t *x; /* the parse, once state is PAGE_DONE and rc is 0 */
    int parse_rc;
    char err[512];
};

static void page_free(struct page *pg)
{
    if (!pg)
        return;
    free(pg->token);
    free(pg->body);
    free(pg->sniffed);
    ec2_xml_free(pg->x);
    free(pg);
}

/* The page pipeline of one listing: a fetcher thread requests pages one after another, each
 * with the token sniffed from the raw bytes of the page before; parser threads parse the
 * fetched pages; the listing's own thread hands the parsed pages out in order and checks
 * each sniffed token against the parse. */
struct pager {
    struct listing l;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* every change below is broadcast on it */
    /* guarded by lock: */
    struct page *head, *tail; /* fetched pages in listing order, not yet handed out */
    int queued;               /* pages in that list */
    char *want;               /* token of the page the fetcher is to request next (owned) */
    bool busy;                /* the fetcher has a request in flight */
    uint64_t gen;             /* bumped by every discard: a request of an older one is dropped */
    bool stop;
    /* owned by the listing's thread: */
    pthread_t threads[1 + EC2_IPAM_PARSERS];
    int nthreads;
};

static void *fetcher_main(void *arg)
{
    struct pager *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stop && (!p->want || p->queued >= EC2_IPAM_AHEAD))
            pthread_cond_wait(&p->cond, &p->lock);
        if (p->stop)
            break;
        struct page *pg = xcalloc(1, sizeof *pg);
        pg->token = p->want;
        p->want = NULL;
        uint64_t gen = p->gen;
        p->busy = true;
        pthread_mutex_unlock(&p->lock);

        char *req = page_request(&p->l, pg->token);
        struct aws_call call = {
            .service = "ec2", .region = p->l.region, .operation = p->l.oi->action, .body = req};
        pg->rc = aws_client_query_raw(p->l.c, &call, &pg->body, &pg->len, pg->err, sizeof pg->err);
        free(req);
        if (pg->rc == 0 && ec2_xml_sniff_next_token(pg->body, pg->len, &pg->sniffed) == 1 &&
            strcmp(pg->sniffed, pg->token) != 0)
            pg->chained = true; /* (a repeated token is the parse's to report) */
        pg->state = pg->rc == 0 ? PAGE_FETCHED : PAGE_DONE;

        pthread_mutex_lock(&p->lock);
        p->busy = false;
        if (gen != p->gen || p->stop) {
            page_free(pg);
        } else {
            if (p->tail)
                p->tail->next = pg;
            else
                p->head = pg;
            p->tail = pg;
            p->queued++;
            if (pg->chained)
                p->want = xstrdup(pg->sniffed);
        }
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static void *parser_main(void *arg)
{
    struct pager *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        struct page *pg = NULL;
        while (!p->stop) {
            for (pg = p->head; pg && pg->state != PAGE_FETCHED; pg = pg->next)
                ;
            if (pg)
                break;
            pthread_cond_wait(&p->cond, &p->lock);
        }
        if (p->stop)
            break;
        pg->state = PAGE_PARSING;
        pthread_mutex_unlock(&p->lock);

        pg->parse_rc = ec2_xml_parse_whole(p->l.oi->action, p->l.oi->required, pg->body, pg->len,
                                           &pg->x, pg->err, sizeof pg->err);
        free(pg->body);
        pg->body = NULL;

        pthread_mutex_lock(&p->lock);
        if (pg->orphan)
            page_free(pg);
        else
            pg->state = PAGE_DONE;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Drops every page requested so far (waiting for a request in flight to end) and, when
 * `token` is set, has the fetcher request the page after it next. Listing's thread. */
static void pager_restart(struct pager *p, const char *token)
{
    pthread_mutex_lock(&p->lock);
    p->gen++;
    free(p->want);
    p->want = NULL;
    while (p->busy)
        pthread_cond_wait(&p->cond, &p->lock);
    struct page *pg = p->head;
    while (pg) {
        struct page *next = pg->next;
        if (pg->state == PAGE_PARSING)
            pg->orphan = true;
        else
            page_free(pg);
        pg = next;
    }
    p->head = p->tail = NULL;
    p->queued = 0;
    p->want = token ? xstrdup(token) : NULL;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* The next page in listing order once it is parsed (or its request failed); owned by the
 * caller. The page must have been asked for (chained or pager_restart). Listing's thread. */
static struct page *pager_next(struct pager *p)
{
    pthread_mutex_lock(&p->lock);
    while (!p->head || p->head->state != PAGE_DONE)
        pthread_cond_wait(&p->cond, &p->lock);
    struct page *pg = p->head;
    p->head = pg->next;
    if (!p->head)
        p->tail = NULL;
    p->queued--;
    pg->next = NULL;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return pg;
}

static void pager_free(struct pager *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stop = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    while (p->head) {
        struct page *next = p->head->next;
        page_free(p->head);
        p->head = next;
    }
    free(p->want);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* Starts the pipeline with the page after `token`; NULL when its threads cannot be
 * started (the listing then goes on one page at a time). */
static struct pager *pager_start(const struct listing *l, const char *token)
{
    struct pager *p = xcalloc(1, sizeof *p);
    p->l = *l;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->want = xstrdup(token);
    for (int i = 0; i < 1 + EC2_IPAM_PARSERS; i++) {
        if (pthread_create(&p->threads[i], NULL, i == 0 ? fetcher_main : parser_main, p) != 0)
            break;
        p->nthreads++;
    }
    if (p->nthreads < 2) {
        pager_free(p);
        return NULL;
    }
    return p;
}

int ec2_ipam_list_nodes(aws_client_t *c, enum ec2_ipam_op op, const char *region, const char *arg,
                        const char *arg2, int max_results, ec2_ipam_node_cb on_node, void *ctx,
                        struct ec2_ipam_stats *stats, char *err, size_t errlen)
{
    if ((unsigned)op >= EC2_IPAM_OP_COUNT) {
        snprintf(err, errlen, "ec2: unknown IPAM operation %d", (int)op);
        return -EINVAL;
    }
    const struct op_info *oi = &ops[op];
    if (oi->arg_param && !valid_id(arg)) {
        snprintf(err, errlen, "ec2 %s: %s missing or malformed", oi->action, oi->arg_param);
        return -EINVAL;
    }
    if (oi->arg2_param && !valid_id(arg2)) {
        snprintf(err, errlen, "ec2 %s: %s missing or malformed", oi->action, oi->arg2_param);
        return -EINVAL;
    }
    if (max_results == 0)
        max_results = 1000;
    if (max_results < oi->min_results || max_results > oi->max_results) {
        snprintf(err, errlen, "ec2 %s: MaxResults %d outside %d..%d", oi->action, max_results,
                 oi->min_results, oi->max_results);
        return -EINVAL;
    }
    char maxr[16];
    snprintf(maxr, sizeof maxr, "%d", max_results);
    struct listing l = {.c = c, .oi = oi, .region = region, .arg = arg, .arg2 = arg2, .maxr = maxr};

    /* The first page the streaming way: most listings have no other. */
    ec2_xml_t *x = NULL;
    int rc = query_page(&l, NULL, 0, NULL, &x, err, errlen);
    struct pager *p = NULL;
    char *token = NULL;   /* the token page x was requested with */
    char *sniffed = NULL; /* the token the fetcher went on with after x, when chained */
    unsigned pages = 0;
    uint64_t items = 0;
    while (rc == 0) {
        pages++;
        const char *tok = ec2_xml_next_token(x);
        bool repeated = tok && token && strcmp(tok, token) == 0;
        /* The parse decides which page comes next; have it requested before this one is
         * handed out, unless the fetcher already went on with the same token. */
        if (tok && !repeated) {
            if (!p)
                p = pager_start(&l, tok);
            else if (!sniffed || strcmp(sniffed, tok) != 0)
                pager_restart(p, tok);
        } else if (p && sniffed) {
            pager_restart(p, NULL); /* pages requested on a token the parse did not confirm */
        }
        size_t n = ec2_xml_item_count(x);
        for (size_t i = 0; i < n && rc == 0; i++) {
            items++;
            rc = on_node(ctx, x, ec2_xml_item_node(x, i));
        }
        if (rc == 0 && repeated) {
            snprintf(err, errlen, "ec2 %s: the same nextToken twice (request id %s)", oi->action,
                     ec2_xml_request_id(x) ? ec2_xml_request_id(x) : "none");
            rc = -EPROTO;
        }
        free(token);
        token = tok ? xstrdup(tok) : NULL;
        ec2_xml_free(x);
        x = NULL;
        free(sniffed);
        sniffed = NULL;
        if (rc != 0 || !token)
            break;
        if (!p) {
            rc = query_page(&l, token, 0, NULL, &x, err, errlen);
            continue;
        }
        struct page *pg = pager_next(p);
        if (pg->rc < 0) {
            rc = pg->rc;
            snprintf(err, errlen, "%s", pg->err);
        } else if (pg->parse_rc < 0 || ec2_xml_is_error(pg->x)) {
            /* The parse is the authority: whatever was requested after this page rests on a
             * guess, so it goes, and the page is requested again, counting this answer as
             * one of its attempts. */
            if (pg->parse_rc == 0) {
                const char *code = ec2_xml_meta(pg->x, "Code");
                const char *rid = ec2_xml_request_id(pg->x);
                snprintf(pg->err, sizeof pg->err,
                         "%s: error document with HTTP 200: %s (request id %s)", oi->action,
                         code ? code : "no code", rid ? rid : "none");
            }
            LOG_DEBUG("ec2 %s; requesting the page again", pg->err);
            pager_restart(p, NULL);
            char failed[600];
            snprintf(failed, sizeof failed, "ec2 %s", pg->err);
            rc = query_page(&l, token, 1, failed, &x, err, errlen);
        } else {
            x = pg->x;
            pg->x = NULL;
            if (pg->chained) {
                sniffed = pg->sniffed;
                pg->sniffed = NULL;
            }
        }
        page_free(pg);
    }
    pager_free(p);
    ec2_xml_free(x);
    free(token);
    free(sniffed);
    if (stats) {
        stats->pages = pages;
        stats->items = items;
    }
    return rc;
}

struct json_adapter {
    ec2_ipam_item_cb on_item;
    void *ctx;
};

static int item_as_json(void *ctx, const ec2_xml_t *x, int node)
{
    struct json_adapter *a = ctx;
    json_t *item = ec2_xml_item_json(x, node);
    int rc = a->on_item(a->ctx, item);
    json_decref(item);
    return rc;
}

int ec2_ipam_list(aws_client_t *c, enum ec2_ipam_op op, const char *region, const char *arg,
                  const char *arg2, int max_results, ec2_ipam_item_cb on_item, void *ctx,
                  struct ec2_ipam_stats *stats, char *err, size_t errlen)
{
    struct json_adapter a = {on_item, ctx};
    return ec2_ipam_list_nodes(c, op, region, arg, arg2, max_results, item_as_json, &a, stats, err,
                               errlen);
}

const char *ec2_ipam_pool_region(json_t *pool, const char *home_region)
{
    const char *locale = json_string_value(json_object_get(pool, "locale"));
    if (!locale || !*locale || strcmp(locale, "None") == 0)
        return home_region;
    return locale;
}

const char *ec2_ipam_arn_id(const char *arn)
{
    const char *slash = arn ? strrchr(arn, '/') : NULL;
    return slash && slash[1] ? slash + 1 : NULL;
}
