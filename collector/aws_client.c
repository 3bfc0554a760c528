/* aws_client: HTTP transport to AWS services: endpoints, SigV4 signing, retries, errors. */
#include "config.h"

#define LOG_MODULE "aws"
#include "collector/aws_client.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "collector/aws_creds.h"
#include "collector/ec2_xml.h"
#include "log.h"
#include "text.h"
#include "xalloc.h"

#define AWS_MAX_JSON_BODY (64u << 20)
#define AWS_MAX_SIMPLE    (64u << 10)
#define AWS_IDLE_HANDLES  8
#define AWS_BACKOFF_BASE  100
#define AWS_BACKOFF_CAP   20000
#define AWS_ERR_SNIPPET   200
#define AWS_SKEW_MIN_S    60 /* a clock error smaller than this is not corrected */

/* ---- Settings ----------------------------------------------------------------------- */

static const char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

void aws_settings_copy(struct aws_settings_copy *dst, const struct aws_settings *src)
{
    memset(dst, 0, sizeof *dst);
    dst->s = *src;
    dst->s.region = dup_or_null(src->region);
    dst->s.profile = dup_or_null(src->profile);
    dst->s.access_key_id = dup_or_null(src->access_key_id);
    dst->s.secret_access_key = dup_or_null(src->secret_access_key);
    dst->s.session_token = dup_or_null(src->session_token);
    dst->s.role_arn = dup_or_null(src->role_arn);
    dst->s.external_id = dup_or_null(src->external_id);
    dst->s.session_name = dup_or_null(src->session_name);
    dst->s.endpoint_url = dup_or_null(src->endpoint_url);
    dst->s.ca_file = dup_or_null(src->ca_file);
}

static void wipe_free(const char *s)
{
    if (s) {
        explicit_bzero((char *)s, strlen(s));
        free((char *)s);
    }
}

void aws_settings_release(struct aws_settings_copy *c)
{
    free((char *)c->s.region);
    free((char *)c->s.profile);
    free((char *)c->s.access_key_id);
    wipe_free(c->s.secret_access_key);
    wipe_free(c->s.session_token);
    free((char *)c->s.role_arn);
    free((char *)c->s.external_id);
    free((char *)c->s.session_name);
    free((char *)c->s.endpoint_url);
    free((char *)c->s.ca_file);
    memset(c, 0, sizeof *c);
}

/* ---- Endpoints ---------------------------------------------------------------------- */

const char *aws_partition(const char *region)
{
    if (!region)
        return "aws";
    if (strncmp(region, "cn-", 3) == 0)
        return "aws-cn";
    if (strncmp(region, "us-gov-", 7) == 0)
        return "aws-us-gov";
    if (strncmp(region, "us-isob-", 8) == 0)
        return "aws-iso-b";
    if (strncmp(region, "us-iso-", 7) == 0)
        return "aws-iso";
    return "aws";
}

static const char *partition_suffix(const char *partition)
{
    if (strcmp(partition, "aws-cn") == 0)
        return "amazonaws.com.cn";
    if (strcmp(partition, "aws-iso") == 0)
        return "c2s.ic.gov";
    if (strcmp(partition, "aws-iso-b") == 0)
        return "sc2s.sgov.gov";
    return "amazonaws.com";
}

static int copy_url(char *url, size_t urllen, const char *src)
{
    size_t n = strlen(src);
    while (n > 0 && src[n - 1] == '/')
        n--;
    if (n + 1 > urllen)
        return -ENAMETOOLONG;
    memcpy(url, src, n);
    url[n] = '\0';
    return 0;
}

int aws_endpoint_resolve(const char *service, const char *region, const char *settings_url,
                         char *url, size_t urllen, char *signing_region, size_t srlen)
{
    static const struct {
        const char *service, *env;
    } services[] = {{"ec2", "AWS_ENDPOINT_URL_EC2"},
                    {"sts", "AWS_ENDPOINT_URL_STS"},
                    {"cloudtrail", "AWS_ENDPOINT_URL_CLOUDTRAIL"}};
    const char *env_name = NULL;
    for (size_t i = 0; i < sizeof services / sizeof services[0]; i++)
        if (service && strcmp(service, services[i].service) == 0)
            env_name = services[i].env;
    if (!env_name || !region || !*region)
        return -EINVAL;

    bool global_sts = false;
    if (strcmp(service, "sts") == 0) {
        const char *mode = getenv("AWS_STS_REGIONAL_ENDPOINTS");
        if (strcmp(region, "aws-global") == 0 ||
            (mode && strcasecmp(mode, "legacy") == 0 && strcmp(aws_partition(region), "aws") == 0))
            global_sts = true;
    }
    const char *sign = global_sts ? "us-east-1" : region;
    if ((size_t)snprintf(signing_region, srlen, "%s", sign) >= srlen)
        return -ENAMETOOLONG;

    if (settings_url && *settings_url)
        return copy_url(url, urllen, settings_url);
    const char *ignore = getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    if (!ignore || strcasecmp(ignore, "true") != 0) {
        const char *v = getenv(env_name);
        if (v && *v)
            return copy_url(url, urllen, v);
        v = getenv("AWS_ENDPOINT_URL");
        if (v && *v)
            return copy_url(url, urllen, v);
    }
    int n;
    if (global_sts)
        n = snprintf(url, urllen, "https://sts.amazonaws.com");
    else
        n = snprintf(url, urllen, "https://%s.%s.%s", service, region,
                     partition_suffix(aws_partition(region)));
    return n < 0 || (size_t)n >= urllen ? -ENAMETOOLONG : 0;
}

/* ---- Retry policy ------------------------------------------------------------------- */

bool aws_is_throttle_code(const char *code)
{
    static const char *const codes[] = {"Throttling",
                                        "ThrottlingException",
                                        "ThrottledException",
                                        "RequestThrottledException",
                                        "TooManyRequestsException",
                                        "ProvisionedThroughputExceededException",
                                        "TransactionInProgressException",
                                        "RequestLimitExceeded",
                                        "BandwidthLimitExceeded",
                                        "LimitExceededException",
                                        "RequestThrottled",
                                        "SlowDown",
                                        "PriorRequestNotComplete",
                                        "EC2ThrottledException",
                                        NULL};
    if (!code)
        return false;
    for (int i = 0; codes[i]; i++)
        if (strcmp(code, codes[i]) == 0)
            return true;
    return false;
}

static bool is_transient_code(const char *code)
{
    static const char *const codes[] = {
        "RequestTimeout",  "RequestTimeoutException", "InternalError",
        "InternalFailure", "InternalServerError",     "ServiceUnavailable",
        "Unavailable",     "IDPCommunicationError",   NULL};
    if (!code)
        return false;
    for (int i = 0; codes[i]; i++)
        if (strcmp(code, codes[i]) == 0)
            return true;
    return false;
}

static bool is_expired_code(const char *code)
{
    return code &&
           (strcmp(code, "ExpiredToken") == 0 || strcmp(code, "ExpiredTokenException") == 0 ||
            strcmp(code, "RequestExpired") == 0);
}

enum aws_retry_class aws_retry_classify(long http_status, const char *code, int curl_code,
                                        bool body_ok)
{
    switch (curl_code) {
    case CURLE_OK:
    case CURLE_WRITE_ERROR: /* the body parser gave up: judged by body_ok below */
        break;
    case CURLE_OPERATION_TIMEDOUT:
        return AWS_RETRY_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING:
        return AWS_RETRY_TRANSIENT;
    default:
        return AWS_RETRY_NO; /* TLS verification, bad URL, ...: retrying cannot help */
    }
    if (aws_is_throttle_code(code))
        return AWS_RETRY_THROTTLE;
    if (is_expired_code(code))
        return AWS_RETRY_EXPIRED;
    if (is_transient_code(code))
        return AWS_RETRY_TRANSIENT;
    if (http_status == 429)
        return AWS_RETRY_THROTTLE;
    if (http_status >= 500 && http_status <= 599)
        return AWS_RETRY_TRANSIENT;
    if (http_status >= 200 && http_status <= 299)
        return body_ok ? AWS_RETRY_NO : AWS_RETRY_TRANSIENT;
    if (http_status >= 400 && !code && !body_ok)
        return AWS_RETRY_TRANSIENT; /* an error answer that did not arrive whole */
    return AWS_RETRY_NO;
}

int64_t aws_retry_backoff_ms(int retry, double u)
{
    if (retry < 1)
        retry = 1;
    int64_t cap = AWS_BACKOFF_CAP;
    if (retry < 20) {
        int64_t b = (int64_t)AWS_BACKOFF_BASE << (retry - 1);
        if (b < cap)
            cap = b;
    }
    if (u < 0)
        u = 0;
    if (u >= 1)
        u = 0.999999;
    return (int64_t)(u * (double)cap);
}

void aws_retry_quota_init(struct aws_retry_quota *q, int capacity)
{
    q->capacity = capacity > 0 ? capacity : 500;
    q->tokens = q->capacity;
}

int aws_retry_quota_acquire(struct aws_retry_quota *q, bool timeout)
{
    int cost = timeout ? AWS_RETRY_TIMEOUT_COST : AWS_RETRY_COST;
    if (q->tokens < cost)
        return 0;
    q->tokens -= cost;
    return cost;
}

void aws_retry_quota_release(struct aws_retry_quota *q, int taken)
{
    q->tokens += taken > 0 ? taken : 1;
    if (q->tokens > q->capacity)
        q->tokens = q->capacity;
}

/* ---- Client ------------------------------------------------------------------------- */

struct aws_client {
    struct aws_settings_copy set;
    char *region;
    aws_creds_t *creds; /* borrowed */
    int max_attempts;
    pthread_mutex_t lock; /* guards everything below */
    CURL *idle[AWS_IDLE_HANDLES];
    int nidle;
    struct aws_retry_quota quota;
    uint64_t rng;
    int64_t clock_offset_s; /* AWS time minus local time, learnt from Date headers */
    struct aws_client_stats stats;
};

aws_client_t *aws_client_new(const struct aws_settings *s, struct aws_creds *creds, char *err,
                             size_t errlen)
{
    int attempts = s->max_attempts;
    if (attempts == 0) {
        const char *env = getenv("AWS_MAX_ATTEMPTS");
        attempts = env && *env ? atoi(env) : 3;
    }
    if (attempts < 1 || attempts > 20) {
        snprintf(err, errlen, "aws: max_attempts %d out of range 1..20", attempts);
        return NULL;
    }
    if (s->retry_budget < 0 || s->connect_timeout_ms < 0 || s->timeout_ms < 0 ||
        s->low_speed_time_s < 0) {
        snprintf(err, errlen, "aws: negative timeout or retry budget");
        return NULL;
    }
    aws_client_t *c = xcalloc(1, sizeof *c);
    aws_settings_copy(&c->set, s);
    c->region = aws_creds_default_region(s);
    c->creds = creds;
    c->max_attempts = attempts;
    pthread_mutex_init(&c->lock, NULL);
    aws_retry_quota_init(&c->quota, s->retry_budget ? s->retry_budget : 500);
    c->rng = s->rng_seed ? s->rng_seed : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    if (c->rng == 0)
        c->rng = 0x9e3779b97f4a7c15ULL;
    return c;
}

void aws_client_free(aws_client_t *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->nidle; i++)
        curl_easy_cleanup(c->idle[i]);
    pthread_mutex_destroy(&c->lock);
    aws_settings_release(&c->set);
    free(c->region);
    free(c);
}

const char *aws_client_region(const aws_client_t *c)
{
    return c->region;
}

void aws_client_get_stats(aws_client_t *c, struct aws_client_stats *out)
{
    pthread_mutex_lock(&c->lock);
    *out = c->stats;
    out->quota_tokens = c->quota.tokens;
    pthread_mutex_unlock(&c->lock);
}

static CURL *handle_take(aws_client_t *c)
{
    CURL *h = NULL;
    pthread_mutex_lock(&c->lock);
    if (c->nidle > 0)
        h = c->idle[--c->nidle];
    pthread_mutex_unlock(&c->lock);
    if (!h)
        h = curl_easy_init();
    else
        curl_easy_reset(h);
    if (!h) {
        fprintf(stderr, "aws: curl_easy_init failed\n");
        abort();
    }
    return h;
}

static void handle_give(aws_client_t *c, CURL *h)
{
    pthread_mutex_lock(&c->lock);
    if (c->nidle < AWS_IDLE_HANDLES) {
        c->idle[c->nidle++] = h;
        h = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    if (h)
        curl_easy_cleanup(h);
}

static double rng_unit(aws_client_t *c)
{
    pthread_mutex_lock(&c->lock);
    uint64_t x = c->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    pthread_mutex_unlock(&c->lock);
    return (double)((x * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static void set_common(CURL *h, const struct aws_settings *s, char *errbuf)
{
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     s->connect_timeout_ms ? s->connect_timeout_ms : 5000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, s->timeout_ms ? s->timeout_ms : 120000L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, s->low_speed_time_s ? s->low_speed_time_s : 30L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (s->ca_file && *s->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, s->ca_file);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ipamwatch/" PACKAGE_VERSION);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    /* Inventory pages are ~600 KB: fewer, larger reads and parser chunks than the 16 KB
     * default. */
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
}

/* The answer of one attempt as it streams in. */
struct attempt {
    ec2_xml_t *xml; /* XML protocols */
    char *buf;      /* JSON protocol: whole body */
    size_t len, cap;
    char snippet[AWS_ERR_SNIPPET + 1]; /* start of the body, for error text */
    size_t snip_len;
    char amzn_request_id[128];
    char date[64]; /* the Date header */
    bool too_big;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct attempt *a = ud;
    size_t n = size * nmemb;
    if (a->snip_len < AWS_ERR_SNIPPET) {
        size_t k = AWS_ERR_SNIPPET - a->snip_len < n ? AWS_ERR_SNIPPET - a->snip_len : n;
        memcpy(a->snippet + a->snip_len, ptr, k);
        a->snip_len += k;
        a->snippet[a->snip_len] = '\0';
    }
    if (a->xml)
        return ec2_xml_feed(a->xml, ptr, n) == 0 ? n : 0;
    if (a->len + n > AWS_MAX_JSON_BODY) {
        a->too_big = true;
        return 0;
    }
    if (a->len + n + 1 > a->cap)
        a->buf = xgrow(a->buf, &a->cap, a->len + n + 1, 1);
    memcpy(a->buf + a->len, ptr, n);
    a->len += n;
    a->buf[a->len] = '\0';
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct attempt *a = ud;
    size_t n = size * nmemb;
    static const char key[] = "x-amzn-requestid:";
    static const char date_key[] = "date:";
    static const char length_key[] = "content-length:";
    if (!a->xml && !a->buf && n > sizeof length_key - 1 &&
        strncasecmp(ptr, length_key, sizeof length_key - 1) == 0) {
        /* A body kept whole: one allocation of the announced size instead of regrowing
         * (and copying) it while a 600 KB page arrives. */
        unsigned long long v = strtoull(ptr + sizeof length_key - 1, NULL, 10);
        if (v > 0 && v < AWS_MAX_JSON_BODY) {
            a->cap = (size_t)v + 1;
            a->buf = xmalloc(a->cap);
            a->buf[0] = '\0';
        }
        return n;
    }
    char *dst = NULL;
    size_t cap = 0, skip = 0;
    if (n > sizeof key - 1 && strncasecmp(ptr, key, sizeof key - 1) == 0) {
        dst = a->amzn_request_id;
        cap = sizeof a->amzn_request_id;
        skip = sizeof key - 1;
    } else if (n > sizeof date_key - 1 && strncasecmp(ptr, date_key, sizeof date_key - 1) == 0) {
        dst = a->date;
        cap = sizeof a->date;
        skip = sizeof date_key - 1;
    }
    if (dst) {
        const char *v = ptr + skip;
        size_t vl = n - skip;
        while (vl > 0 && (*v == ' ' || *v == '\t'))
            v++, vl--;
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
            vl--;
        if (vl >= cap)
            vl = cap - 1;
        memcpy(dst, v, vl);
        dst[vl] = '\0';
    }
    return n;
}

/* Error codes with which AWS services refuse a request signed at a time too far from
 * theirs (the SDKs' clock-skew list). */
static bool is_skew_code(const char *code)
{
    static const char *const codes[] = {"RequestTimeTooSkewed",
                                        "RequestExpired",
                                        "RequestInTheFuture",
                                        "InvalidSignatureException",
                                        "SignatureDoesNotMatch",
                                        "AuthFailure",
                                        NULL};
    for (int i = 0; codes[i]; i++)
        if (strcmp(code, codes[i]) == 0)
            return true;
    return false;
}

/* After an answer with a clock-skew error `code`: when its Date header differs from the
 * local clock corrected by the client's offset by AWS_SKEW_MIN_S or more, stores the new
 * offset and returns true (the caller retries once, signing with it). */
static bool learn_clock_offset(aws_client_t *c, const struct aws_call *cl, const char *code,
                               const char *date)
{
    if (!code[0] || !date[0] || !is_skew_code(code))
        return false;
    time_t server = curl_getdate(date, NULL);
    if (server == (time_t)-1)
        return false;
    int64_t offset = (int64_t)server - (int64_t)time(NULL);
    pthread_mutex_lock(&c->lock);
    int64_t old = c->clock_offset_s;
    bool off = offset - old >= AWS_SKEW_MIN_S || old - offset >= AWS_SKEW_MIN_S;
    if (off)
        c->clock_offset_s = offset;
    pthread_mutex_unlock(&c->lock);
    if (off && offset == 0)
        LOG_WARN("%s %s: %s: the local clock agrees with AWS again (Date: %s); signing with it",
                 cl->service, cl->operation, code, date);
    else if (off)
        LOG_WARN("%s %s: %s: the local clock is %lld s %s AWS (Date: %s); signing with that "
                 "offset from now on",
                 cl->service, cl->operation, code, (long long)(offset < 0 ? -offset : offset),
                 offset < 0 ? "ahead of" : "behind", date);
    return off;
}

/* Keeps printable ASCII of untrusted text for an error message. */
static void sanitize(char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            *s = ' ';
}

static int errno_for(long status, const char *code)
{
    static const char *const auth[] = {"AuthFailure",
                                       "UnauthorizedOperation",
                                       "AccessDenied",
                                       "AccessDeniedException",
                                       "SignatureDoesNotMatch",
                                       "InvalidClientTokenId",
                                       "UnrecognizedClientException",
                                       "InvalidSignatureException",
                                       "OptInRequired",
                                       "ExpiredToken",
                                       "ExpiredTokenException",
                                       "RequestExpired",
                                       "MissingAuthenticationToken",
                                       "IncompleteSignature",
                                       "InvalidIdentityToken",
                                       "IDPRejectedClaim",
                                       NULL};
    if (code) {
        for (int i = 0; auth[i]; i++)
            if (strcmp(code, auth[i]) == 0)
                return -EACCES;
        size_t n = strlen(code);
        if ((n > 9 && strcmp(code + n - 9, ".NotFound") == 0) ||
            (n > 17 && strcmp(code + n - 17, "NotFoundException") == 0))
            return -ENOENT;
    }
    if (status == 401 || status == 403)
        return -EACCES;
    return -EINVAL;
}

enum proto { PROTO_QUERY, PROTO_JSON };

static void hmac_sha256(const void *key, size_t keylen, const char *data, unsigned char out[32])
{
    unsigned int n = 32;
    if (!HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)data, strlen(data), out, &n)) {
        fprintf(stderr, "aws: HMAC-SHA256 failed\n");
        abort();
    }
}

/* Signs one POST to `url` (SigV4, signed headers content-type, host, x-amz-date and, when
 * given, x-amz-security-token and x-amz-target) as of `when`, and appends the Host,
 * X-Amz-Date and Authorization lines to *hdrs. Used while the client corrects a clock
 * offset: curl signs with a caller's X-Amz-Date but then sends that header twice (7.88),
 * which AWS refuses. Returns 0 or -EINVAL (a URL without a host). */
static int sign_v4(struct curl_slist **hdrs, const char *url, const char *region,
                   const char *service, const struct aws_credentials *cr, const char *content_type,
                   const char *target, const char *body, time_t when)
{
    const char *host = strstr(url, "://");
    if (!host)
        return -EINVAL;
    host += 3;
    size_t hostlen = strcspn(host, "/?#");
    if (hostlen == 0 || hostlen > 255)
        return -EINVAL;
    const char *path = host[hostlen] == '/' ? host + hostlen : "/";
    size_t pathlen = strcspn(path, "?#");
    char stamp[17], day[9];
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    memcpy(day, stamp, 8);
    day[8] = '\0';

    unsigned char md[32];
    char body_hex[65], creq_hex[65], sig_hex[65];
    unsigned int mdlen = 0;
    EVP_Digest(body, strlen(body), md, &mdlen, EVP_sha256(), NULL);
    text_hex_encode(md, 32, body_hex);
    char *creq = xasprintf(
        "POST\n%.*s\n\ncontent-type:%s\nhost:%.*s\nx-amz-date:%s\n%s%s%s%s%s%s\n"
        "content-type;host;x-amz-date%s%s\n%s",
        (int)pathlen, path, content_type, (int)hostlen, host, stamp,
        cr->session_token ? "x-amz-security-token:" : "",
        cr->session_token ? cr->session_token : "", cr->session_token ? "\n" : "",
        target ? "x-amz-target:" : "", target ? target : "", target ? "\n" : "",
        cr->session_token ? ";x-amz-security-token" : "", target ? ";x-amz-target" : "", body_hex);
    EVP_Digest(creq, strlen(creq), md, &mdlen, EVP_sha256(), NULL);
    free(creq);
    text_hex_encode(md, 32, creq_hex);
    char *scope = xasprintf("%s/%s/%s/aws4_request", day, region, service);
    char *to_sign = xasprintf("AWS4-HMAC-SHA256\n%s\n%s\n%s", stamp, scope, creq_hex);
    char *key0 = xasprintf("AWS4%s", cr->secret_access_key);
    unsigned char k1[32], k2[32];
    hmac_sha256(key0, strlen(key0), day, k1);
    explicit_bzero(key0, strlen(key0));
    free(key0);
    hmac_sha256(k1, 32, region, k2);
    hmac_sha256(k2, 32, service, k1);
    hmac_sha256(k1, 32, "aws4_request", k2);
    hmac_sha256(k2, 32, to_sign, md);
    explicit_bzero(k1, sizeof k1);
    explicit_bzero(k2, sizeof k2);
    text_hex_encode(md, 32, sig_hex);
    free(to_sign);

    char *line = xasprintf("Host: %.*s", (int)hostlen, host);
    *hdrs = curl_slist_append(*hdrs, line);
    free(line);
    line = xasprintf("X-Amz-Date: %s", stamp);
    *hdrs = curl_slist_append(*hdrs, line);
    free(line);
    line = xasprintf("Authorization: AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders="
                     "content-type;host;x-amz-date%s%s, Signature=%s",
                     cr->access_key_id, scope, cr->session_token ? ";x-amz-security-token" : "",
                     target ? ";x-amz-target" : "", sig_hex);
    *hdrs = curl_slist_append(*hdrs, line);
    free(line);
    free(scope);
    return 0;
}

/* Strips a JSON error type to its code: after the last '#', before the first ':'. */
static void aws_json_error_code(const char *type, char *code, size_t len)
{
    const char *p = strrchr(type, '#');
    p = p ? p + 1 : type;
    size_t n = strcspn(p, ":");
    if (n >= len)
        n = len - 1;
    memcpy(code, p, n);
    code[n] = '\0';
}

/* Before retry number `attempt` (the attempts made so far) of a call whose last attempt
 * failed with class `cls` and text `last`: takes the retry's cost from the quota and sleeps
 * the backoff. Returns false (with the reason appended to `last`) when no attempt is left or
 * the quota is empty. */
static bool retry_wait(aws_client_t *c, enum aws_retry_class cls, int attempt, int *taken,
                       char *last, size_t lastlen)
{
    if (attempt >= c->max_attempts)
        return false;
    pthread_mutex_lock(&c->lock);
    int cost = aws_retry_quota_acquire(&c->quota, cls == AWS_RETRY_TIMEOUT);
    if (cost)
        c->stats.retries++;
    pthread_mutex_unlock(&c->lock);
    if (!cost) {
        size_t n = strlen(last);
        snprintf(last + n, lastlen - n, " (retry quota exhausted)");
        return false;
    }
    *taken += cost;
    int64_t delay = aws_retry_backoff_ms(attempt, rng_unit(c));
    LOG_DEBUG("%s; retry %d of %d in %lld ms", last, attempt, c->max_attempts - 1,
              (long long)delay);
    sleep_ms(delay);
    return true;
}

/* One call with its retries. Query answers are parsed into *xml_out as they arrive, or,
 * with raw_out, a successful answer's body is handed back unparsed (error answers are
 * still parsed, for their code and request id). */
static int call(aws_client_t *c, enum proto proto, const struct aws_call *cl, const char *target,
                const char *required_key, ec2_xml_t **xml_out, json_t **json_out, char **raw_out,
                size_t *raw_len, char *err, size_t errlen)
{
    const char *region = cl->region ? cl->region : c->region;
    char base[1024], sregion[64];
    int rc = aws_endpoint_resolve(cl->service, region, c->set.s.endpoint_url, base, sizeof base,
                                  sregion, sizeof sregion);
    if (rc < 0) {
        snprintf(err, errlen, "%s %s: no endpoint for region '%s'", cl->service, cl->operation,
                 region ? region : "");
        return rc;
    }
    char url[1100];
    snprintf(url, sizeof url, "%s/", base);
    char sigv4[160];
    snprintf(sigv4, sizeof sigv4, "aws:amz:%s:%s", sregion, cl->service);
    if (!cl->unsigned_request && !c->creds) {
        snprintf(err, errlen, "%s %s: no credentials", cl->service, cl->operation);
        return -EINVAL;
    }

    struct aws_credentials cr = {0};
    bool refreshed = false, reclocked = false;
    int taken = 0;
    char last[1024] = "";
    int last_rc = -EIO;
    enum aws_retry_class last_cls = AWS_RETRY_NO;
    int attempt = 0;
    rc = 0;
    bool go = true;
    if (cl->failed_attempts > 0) {
        /* The caller's own judgement of earlier answers: they are attempts like ours. */
        attempt = cl->failed_attempts;
        snprintf(last, sizeof last, "%s", cl->failed_error ? cl->failed_error : "unusable answer");
        last_rc = -EBADMSG;
        last_cls = AWS_RETRY_TRANSIENT;
        go = retry_wait(c, last_cls, attempt, &taken, last, sizeof last);
    }

    while (go && attempt < c->max_attempts) {
        attempt++;
        if (!cl->unsigned_request && !cr.access_key_id) {
            char cerr[512];
            int crc = aws_creds_get(c->creds, &cr, cerr, sizeof cerr);
            if (crc < 0) {
                snprintf(err, errlen, "%s %s: credentials: %s", cl->service, cl->operation, cerr);
                return crc;
            }
        }
        struct attempt a = {0};
        if (proto == PROTO_QUERY && !raw_out)
            a.xml = ec2_xml_new(cl->operation, required_key);
        char errbuf[CURL_ERROR_SIZE] = "";
        CURL *h = handle_take(c);
        set_common(h, &c->set.s, errbuf);
        struct curl_slist *hdrs = NULL;
        const char *ctype = proto == PROTO_QUERY
                                ? "application/x-www-form-urlencoded; charset=utf-8"
                                : "application/x-amz-json-1.1";
        char t[256];
        snprintf(t, sizeof t, "Content-Type: %s", ctype);
        hdrs = curl_slist_append(hdrs, t);
        if (proto == PROTO_JSON) {
            snprintf(t, sizeof t, "X-Amz-Target: %s", target);
            hdrs = curl_slist_append(hdrs, t);
        }
        char *tok_hdr = NULL;
        if (!cl->unsigned_request) {
            pthread_mutex_lock(&c->lock);
            int64_t offset = c->clock_offset_s;
            pthread_mutex_unlock(&c->lock);
            if (cr.session_token) {
                tok_hdr = xasprintf("X-Amz-Security-Token: %s", cr.session_token);
                hdrs = curl_slist_append(hdrs, tok_hdr);
            }
            if (offset == 0) {
                curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4);
                curl_easy_setopt(h, CURLOPT_USERNAME, cr.access_key_id);
                curl_easy_setopt(h, CURLOPT_PASSWORD, cr.secret_access_key);
            } else if (sign_v4(&hdrs, url, sregion, cl->service, &cr, ctype,
                               proto == PROTO_JSON ? target : NULL, cl->body ? cl->body : "",
                               (time_t)((int64_t)time(NULL) + offset)) < 0) {
                snprintf(err, errlen, "%s %s: cannot sign for %s", cl->service, cl->operation, url);
                curl_slist_free_all(hdrs);
                if (tok_hdr)
                    explicit_bzero(tok_hdr, strlen(tok_hdr));
                free(tok_hdr);
                handle_give(c, h);
                ec2_xml_free(a.xml);
                aws_credentials_clear(&cr);
                return -EINVAL;
            }
        }
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, cl->body ? cl->body : "");
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);

        CURLcode cc = curl_easy_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        /* Drop the secrets from the handle before it goes back to the pool. */
        curl_easy_setopt(h, CURLOPT_USERNAME, NULL);
        curl_easy_setopt(h, CURLOPT_PASSWORD, NULL);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        handle_give(c, h);
        curl_slist_free_all(hdrs);
        if (tok_hdr) {
            explicit_bzero(tok_hdr, strlen(tok_hdr));
            free(tok_hdr);
        }
        pthread_mutex_lock(&c->lock);
        c->stats.requests++;
        pthread_mutex_unlock(&c->lock);

        if (raw_out) {
            if (cc == CURLE_OK && status >= 200 && status <= 299) {
                pthread_mutex_lock(&c->lock);
                aws_retry_quota_release(&c->quota, taken);
                pthread_mutex_unlock(&c->lock);
                *raw_out = a.buf ? a.buf : xstrdup("");
                *raw_len = a.len;
                aws_credentials_clear(&cr);
                return 0;
            }
            /* An error answer or a broken transfer: judged on what arrived, parsed as the
             * streaming path would have parsed it. */
            a.xml = ec2_xml_new(cl->operation, required_key);
            if (a.len)
                ec2_xml_feed(a.xml, a.buf, a.len);
            free(a.buf);
            a.buf = NULL;
            a.len = 0;
        }

        /* Judge the body. */
        sanitize(a.amzn_request_id);
        bool body_ok = false;
        char code[128] = "", message[512] = "", rid[128] = "";
        char perr[512] = "";
        json_t *doc = NULL;
        if (cc == CURLE_OK || cc == CURLE_WRITE_ERROR) {
            if (proto == PROTO_QUERY) {
                body_ok = ec2_xml_finish(a.xml, perr, sizeof perr) == 0;
                if (body_ok && ec2_xml_is_error(a.xml)) {
                    const char *v = ec2_xml_meta(a.xml, "Code");
                    snprintf(code, sizeof code, "%s", v ? v : "");
                    v = ec2_xml_meta(a.xml, "Message");
                    snprintf(message, sizeof message, "%s", v ? v : "");
                }
                const char *r = ec2_xml_request_id(a.xml);
                snprintf(rid, sizeof rid, "%s", r ? r : a.amzn_request_id);
            } else if (!a.too_big) {
                json_error_t jerr;
                doc = a.len ? json_loadb(a.buf, a.len, JSON_DECODE_ANY, &jerr) : NULL;
                body_ok = doc != NULL;
                if (!doc)
                    snprintf(perr, sizeof perr, "%s: unparseable JSON (%s)%s%s%s", cl->operation,
                             a.len ? jerr.text : "empty body",
                             a.amzn_request_id[0] ? " (request id " : "", a.amzn_request_id,
                             a.amzn_request_id[0] ? ")" : "");
                if (doc && (status < 200 || status > 299)) {
                    const char *ty = json_string_value(json_object_get(doc, "__type"));
                    const char *m = json_string_value(json_object_get(doc, "message"));
                    if (!m)
                        m = json_string_value(json_object_get(doc, "Message"));
                    if (ty)
                        aws_json_error_code(ty, code, sizeof code);
                    snprintf(message, sizeof message, "%s", m ? m : "");
                }
                snprintf(rid, sizeof rid, "%s", a.amzn_request_id);
            } else {
                snprintf(perr, sizeof perr, "%s: answer larger than %u MiB", cl->operation,
                         AWS_MAX_JSON_BODY >> 20);
            }
        }
        sanitize(code);
        sanitize(message);
        sanitize(rid);
        sanitize(a.date);

        if ((cc == CURLE_OK) && body_ok && status >= 200 && status <= 299 && !code[0]) {
            pthread_mutex_lock(&c->lock);
            aws_retry_quota_release(&c->quota, taken);
            pthread_mutex_unlock(&c->lock);
            if (xml_out) {
                *xml_out = a.xml;
                a.xml = NULL;
            }
            if (json_out) {
                *json_out = doc;
                doc = NULL;
            }
            json_decref(doc);
            ec2_xml_free(a.xml);
            free(a.buf);
            aws_credentials_clear(&cr);
            return 0;
        }

        enum aws_retry_class cls = aws_retry_classify(
            status, code[0] ? code : NULL,
            cc == CURLE_WRITE_ERROR && a.too_big ? CURLE_FILESIZE_EXCEEDED : (int)cc, body_ok);
        if (cc != CURLE_OK && cc != CURLE_WRITE_ERROR) {
            /* An answer cut short still names its request in a header or its first bytes. */
            const char *r = a.xml ? ec2_xml_request_id(a.xml) : NULL;
            snprintf(rid, sizeof rid, "%s", r ? r : a.amzn_request_id);
            sanitize(rid);
            snprintf(last, sizeof last, "%s %s: %s (%s)%s%s%s", cl->service, cl->operation,
                     errbuf[0] ? errbuf : curl_easy_strerror(cc), curl_easy_strerror(cc),
                     rid[0] ? " (request id " : "", rid, rid[0] ? ")" : "");
            LOG_DEBUG("%s %s: curl: %s", cl->service, cl->operation,
                      errbuf[0] ? errbuf : curl_easy_strerror(cc));
            last_rc = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
        } else if (code[0]) {
            snprintf(last, sizeof last, "%s %s: %s: %s (request id %s)", cl->service, cl->operation,
                     code, message, rid[0] ? rid : "none");
            last_rc = aws_is_throttle_code(code) ? -EAGAIN
                      : status >= 500            ? -EIO
                                                 : errno_for(status, code);
        } else if (!body_ok) {
            sanitize(perr); /* the parser may quote the answer */
            snprintf(last, sizeof last, "%s %s (HTTP %ld)", cl->service, perr, status);
            last_rc = -EBADMSG;
        } else {
            sanitize(a.snippet);
            snprintf(last, sizeof last, "%s %s: HTTP %ld: %s", cl->service, cl->operation, status,
                     a.snippet);
            last_rc = status >= 500 ? -EIO : errno_for(status, NULL);
        }
        last_cls = cls;
        json_decref(doc);
        ec2_xml_free(a.xml);
        free(a.buf);

        if (!cl->unsigned_request && !reclocked && learn_clock_offset(c, cl, code, a.date)) {
            reclocked = true;
            attempt--; /* like a refresh, the re-signed retry does not use up an attempt */
            continue;
        }
        if (cls == AWS_RETRY_NO)
            break;
        if (cls == AWS_RETRY_THROTTLE) {
            pthread_mutex_lock(&c->lock);
            c->stats.throttled++;
            pthread_mutex_unlock(&c->lock);
        }
        if (cls == AWS_RETRY_EXPIRED) {
            /* The first refresh is free; credentials that expire again (revoked sessions,
             * a provider handing out stale ones) use up the attempts left. */
            if (cl->unsigned_request || (refreshed && attempt >= c->max_attempts))
                break;
            LOG_INFO("%s %s: %s; refreshing credentials (%s) and retrying", cl->service,
                     cl->operation, code, cr.source);
            aws_creds_invalidate(c->creds);
            aws_credentials_clear(&cr);
            pthread_mutex_lock(&c->lock);
            c->stats.refreshes++;
            pthread_mutex_unlock(&c->lock);
            if (!refreshed) {
                refreshed = true;
                attempt--; /* the first refresh retry is at once and uses up no attempt */
                continue;
            }
            /* later ones are retries like any other: quota and backoff below */
        }
        if (!retry_wait(c, cls, attempt, &taken, last, sizeof last))
            break;
    }
    aws_credentials_clear(&cr);
    if (last_cls != AWS_RETRY_NO && attempt > 1) {
        size_t n = strlen(last);
        snprintf(last + n, sizeof last - n, " after %d attempts", attempt);
    }
    snprintf(err, errlen, "%s", last);
    return last_rc;
}

int aws_client_query(aws_client_t *c, const struct aws_call *cl, const char *required_key,
                     struct ec2_xml **out, char *err, size_t errlen)
{
    *out = NULL;
    return call(c, PROTO_QUERY, cl, NULL, required_key, out, NULL, NULL, NULL, err, errlen);
}

int aws_client_query_raw(aws_client_t *c, const struct aws_call *cl, char **body, size_t *len,
                         char *err, size_t errlen)
{
    *body = NULL;
    *len = 0;
    return call(c, PROTO_QUERY, cl, NULL, NULL, NULL, NULL, body, len, err, errlen);
}

int aws_client_json(aws_client_t *c, const struct aws_call *cl, const char *target, json_t **out,
                    char *err, size_t errlen)
{
    *out = NULL;
    return call(c, PROTO_JSON, cl, target, NULL, NULL, out, NULL, NULL, err, errlen);
}

/* ---- Plain HTTP --------------------------------------------------------------------- */

int aws_http_simple(const struct aws_settings *s, const char *method, const char *url,
                    const char *const *headers, long timeout_ms, long *status, char **body,
                    char *err, size_t errlen)
{
    *body = NULL;
    *status = 0;
    CURL *h = curl_easy_init();
    if (!h) {
        snprintf(err, errlen, "curl_easy_init failed");
        return -ENOMEM;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    struct attempt a = {0};
    struct curl_slist *hdrs = NULL;
    for (int i = 0; headers && headers[i]; i++)
        hdrs = curl_slist_append(hdrs, headers[i]);
    set_common(h, s, errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE, (long)AWS_MAX_SIMPLE);
    if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, "");
    }
    CURLcode cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    if (cc != CURLE_OK || a.len > AWS_MAX_SIMPLE) {
        snprintf(err, errlen, "%s %s: %s", method, url,
                 a.len > AWS_MAX_SIMPLE ? "answer too large"
                                        : (errbuf[0] ? errbuf : curl_easy_strerror(cc)));
        free(a.buf);
        return cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT : -EIO;
    }
    *body = a.buf ? a.buf : xstrdup("");
    return 0;
}

/* ---- Signing probe ------------------------------------------------------------------ */

struct probe {
    char *authz;
};

static int on_debug(CURL *h, curl_infotype type, char *data, size_t size, void *ud)
{
    struct probe *p = ud;
    static const char key[] = "\nAuthorization: ";
    if (type != CURLINFO_HEADER_OUT || p->authz)
        return 0;
    char *text = xstrndup(data, size);
    char *at = strstr(text, key);
    if (at) {
        at += sizeof key - 1;
        size_t n = strcspn(at, "\r\n");
        p->authz = xstrndup(at, n);
    }
    free(text);
    return 0;
}

int aws_sign_probe(const char *url, const char *connect_to, const char *region, const char *service,
                   const char *akid, const char *secret, const char *token,
                   const char *content_type, const char *target, const char *amz_date,
                   const char *body, char **authz, char *err, size_t errlen)
{
    *authz = NULL;
    CURL *h = curl_easy_init();
    if (!h)
        return -ENOMEM;
    char errbuf[CURL_ERROR_SIZE] = "";
    struct aws_settings s = {.timeout_ms = 5000};
    struct attempt a = {0};
    struct probe p = {0};
    struct curl_slist *hdrs = NULL, *conn = NULL;
    char *line = xasprintf("X-Amz-Date: %s", amz_date);
    hdrs = curl_slist_append(hdrs, line);
    free(line);
    line = xasprintf("Content-Type: %s", content_type);
    hdrs = curl_slist_append(hdrs, line);
    free(line);
    if (target) {
        line = xasprintf("X-Amz-Target: %s", target);
        hdrs = curl_slist_append(hdrs, line);
        free(line);
    }
    if (token) {
        line = xasprintf("X-Amz-Security-Token: %s", token);
        hdrs = curl_slist_append(hdrs, line);
        free(line);
    }
    if (connect_to)
        conn = curl_slist_append(conn, connect_to);
    char sigv4[160];
    snprintf(sigv4, sizeof sigv4, "aws:amz:%s:%s", region, service);
    set_common(h, &s, errbuf);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, conn);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_AWS_SIGV4, sigv4);
    curl_easy_setopt(h, CURLOPT_USERNAME, akid);
    curl_easy_setopt(h, CURLOPT_PASSWORD, secret);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(h, CURLOPT_DEBUGDATA, &p);
    CURLcode cc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    curl_slist_free_all(conn);
    free(a.buf);
    if (!p.authz) {
        snprintf(err, errlen, "no Authorization header sent (%s)",
                 errbuf[0] ? errbuf : curl_easy_strerror(cc));
        return -EIO;
    }
    *authz = p.authz;
    return 0;
}
