/* Unit tests for aws_client: endpoints, retry policy, SigV4 vectors, calls against a
 * scripted local server (retries, errors, refresh, pagination), no secret in the log. */
#include "config.h"

#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "aws_test_server.h"
#include "collector/aws_client.h"
#include "collector/aws_creds.h"
#include "collector/ec2_ipam.h"
#include "collector/ec2_xml.h"
#include "log.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSECRETKEY"
#define TOKEN  "IQoJb3JpZ2luX2VjSESSIONTOKENxyz"

static const char *const aws_env[] = {
    "AWS_ENDPOINT_URL",           "AWS_ENDPOINT_URL_EC2",
    "AWS_ENDPOINT_URL_STS",       "AWS_ENDPOINT_URL_CLOUDTRAIL",
    "AWS_STS_REGIONAL_ENDPOINTS", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_MAX_ATTEMPTS",           NULL};

static int clear_env(void **state)
{
    for (int i = 0; aws_env[i]; i++)
        unsetenv(aws_env[i]);
    return 0;
}

static void test_endpoints(void **state)
{
    static const struct {
        const char *service, *region, *settings, *env_global, *env_svc, *sts_mode;
        const char *url, *sign;
    } cases[] = {
        {"ec2", "eu-central-1", NULL, NULL, NULL, NULL, "https://ec2.eu-central-1.amazonaws.com",
         "eu-central-1"},
        {"ec2", "cn-north-1", NULL, NULL, NULL, NULL, "https://ec2.cn-north-1.amazonaws.com.cn",
         "cn-north-1"},
        {"cloudtrail", "cn-northwest-1", NULL, NULL, NULL, NULL,
         "https://cloudtrail.cn-northwest-1.amazonaws.com.cn", "cn-northwest-1"},
        {"ec2", "us-gov-west-1", NULL, NULL, NULL, NULL, "https://ec2.us-gov-west-1.amazonaws.com",
         "us-gov-west-1"},
        {"sts", "eu-west-1", NULL, NULL, NULL, NULL, "https://sts.eu-west-1.amazonaws.com",
         "eu-west-1"},
        {"sts", "eu-west-1", NULL, NULL, NULL, "legacy", "https://sts.amazonaws.com", "us-east-1"},
        {"sts", "cn-north-1", NULL, NULL, NULL, "legacy", "https://sts.cn-north-1.amazonaws.com.cn",
         "cn-north-1"},
        {"sts", "aws-global", NULL, NULL, NULL, NULL, "https://sts.amazonaws.com", "us-east-1"},
        {"ec2", "us-east-1", NULL, "http://127.0.0.1:9000/", NULL, NULL, "http://127.0.0.1:9000",
         "us-east-1"},
        {"ec2", "us-east-1", NULL, "http://127.0.0.1:9000", "http://127.0.0.1:9001", NULL,
         "http://127.0.0.1:9001", "us-east-1"},
        {"sts", "us-east-1", NULL, "http://127.0.0.1:9000", "http://127.0.0.1:9001", NULL,
         "http://127.0.0.1:9000", "us-east-1"},
        {"cloudtrail", "ap-south-1", "http://127.0.0.1:7000", "http://127.0.0.1:9000",
         "http://127.0.0.1:9001", NULL, "http://127.0.0.1:7000", "ap-south-1"},
    };
    static const char *const svc_env[] = {"AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_STS",
                                          "AWS_ENDPOINT_URL_CLOUDTRAIL"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clear_env(NULL);
        if (cases[i].env_global)
            setenv("AWS_ENDPOINT_URL", cases[i].env_global, 1);
        if (cases[i].sts_mode)
            setenv("AWS_STS_REGIONAL_ENDPOINTS", cases[i].sts_mode, 1);
        if (cases[i].env_svc) {
            /* the service's own variable; the other services' variables must not apply */
            for (int k = 0; k < 3; k++)
                if (strstr(svc_env[k], "EC2") && strcmp(cases[i].service, "ec2") == 0)
                    setenv(svc_env[k], cases[i].env_svc, 1);
            if (strcmp(cases[i].service, "sts") == 0)
                setenv("AWS_ENDPOINT_URL_EC2", cases[i].env_svc, 1);
            if (strcmp(cases[i].service, "cloudtrail") == 0)
                setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", cases[i].env_svc, 1);
        }
        char url[256], sign[64];
        int rc = aws_endpoint_resolve(cases[i].service, cases[i].region, cases[i].settings, url,
                                      sizeof url, sign, sizeof sign);
        if (rc != 0 || strcmp(url, cases[i].url) != 0 || strcmp(sign, cases[i].sign) != 0)
            fail_msg("case %zu %s/%s: rc %d url %s sign %s, want %s %s", i, cases[i].service,
                     cases[i].region, rc, url, sign, cases[i].url, cases[i].sign);
    }
    /* The service variable for STS and CloudTrail. */
    clear_env(NULL);
    setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1234", 1);
    setenv("AWS_ENDPOINT_URL_CLOUDTRAIL", "http://127.0.0.1:2345", 1);
    char url[256], sign[64];
    assert_int_equal(aws_endpoint_resolve("sts", "eu-west-1", NULL, url, sizeof url, sign, 64), 0);
    assert_string_equal(url, "http://127.0.0.1:1234");
    assert_int_equal(
        aws_endpoint_resolve("cloudtrail", "eu-west-1", NULL, url, sizeof url, sign, 64), 0);
    assert_string_equal(url, "http://127.0.0.1:2345");
    assert_int_equal(aws_endpoint_resolve("ec2", "eu-west-1", NULL, url, sizeof url, sign, 64), 0);
    assert_string_equal(url, "https://ec2.eu-west-1.amazonaws.com");
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
    assert_int_equal(aws_endpoint_resolve("sts", "eu-west-1", NULL, url, sizeof url, sign, 64), 0);
    assert_string_equal(url, "https://sts.eu-west-1.amazonaws.com");
    clear_env(NULL);
    assert_int_equal(aws_endpoint_resolve("s3", "eu-west-1", NULL, url, sizeof url, sign, 64),
                     -EINVAL);
    assert_int_equal(aws_endpoint_resolve("ec2", "", NULL, url, sizeof url, sign, 64), -EINVAL);
    assert_int_equal(aws_endpoint_resolve("ec2", "eu-west-1", NULL, url, 10, sign, 64),
                     -ENAMETOOLONG);
    assert_string_equal(aws_partition("cn-north-1"), "aws-cn");
    assert_string_equal(aws_partition("us-gov-east-1"), "aws-us-gov");
    assert_string_equal(aws_partition("eu-west-3"), "aws");
    assert_string_equal(aws_partition("us-iso-east-1"), "aws-iso");
}

static void test_retry_classify(void **state)
{
    static const struct {
        long status;
        const char *code;
        int curl;
        bool body_ok;
        enum aws_retry_class want;
    } cases[] = {
        {503, "RequestLimitExceeded", 0, true, AWS_RETRY_THROTTLE},
        {400, "Throttling", 0, true, AWS_RETRY_THROTTLE},
        {400, "ThrottlingException", 0, true, AWS_RETRY_THROTTLE},
        {400, "TooManyRequestsException", 0, true, AWS_RETRY_THROTTLE},
        {400, "ProvisionedThroughputExceededException", 0, true, AWS_RETRY_THROTTLE},
        {400, "RequestThrottled", 0, true, AWS_RETRY_THROTTLE},
        {503, "SlowDown", 0, true, AWS_RETRY_THROTTLE},
        {400, "EC2ThrottledException", 0, true, AWS_RETRY_THROTTLE},
        {429, NULL, 0, false, AWS_RETRY_THROTTLE},
        {500, "InternalError", 0, true, AWS_RETRY_TRANSIENT},
        {503, "Unavailable", 0, true, AWS_RETRY_TRANSIENT},
        {502, NULL, 0, false, AWS_RETRY_TRANSIENT},
        {504, NULL, 0, false, AWS_RETRY_TRANSIENT},
        {400, "IDPCommunicationError", 0, true, AWS_RETRY_TRANSIENT},
        {0, NULL, CURLE_OPERATION_TIMEDOUT, false, AWS_RETRY_TIMEOUT},
        {0, NULL, CURLE_COULDNT_CONNECT, false, AWS_RETRY_TRANSIENT},
        {0, NULL, CURLE_RECV_ERROR, false, AWS_RETRY_TRANSIENT},
        {200, NULL, CURLE_PARTIAL_FILE, false, AWS_RETRY_TRANSIENT},
        {0, NULL, CURLE_GOT_NOTHING, false, AWS_RETRY_TRANSIENT},
        {200, NULL, 0, false, AWS_RETRY_TRANSIENT}, /* truncated / malformed body */
        {200, NULL, CURLE_WRITE_ERROR, false, AWS_RETRY_TRANSIENT},
        {200, NULL, 0, true, AWS_RETRY_NO},
        {400, "ExpiredToken", 0, true, AWS_RETRY_EXPIRED},
        {400, "ExpiredTokenException", 0, true, AWS_RETRY_EXPIRED},
        {400, "RequestExpired", 0, true, AWS_RETRY_EXPIRED},
        {400, "InvalidParameterValue", 0, true, AWS_RETRY_NO},
        {400, "InvalidIpamPoolId.NotFound", 0, true, AWS_RETRY_NO},
        {403, "AuthFailure", 0, true, AWS_RETRY_NO},
        {403, "UnauthorizedOperation", 0, true, AWS_RETRY_NO},
        {403, "SignatureDoesNotMatch", 0, true, AWS_RETRY_NO},
        {400, "InvalidPaginationToken", 0, true, AWS_RETRY_NO},
        {0, NULL, CURLE_PEER_FAILED_VERIFICATION, false, AWS_RETRY_NO},
        {0, NULL, CURLE_SSL_CACERT_BADFILE, false, AWS_RETRY_NO},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum aws_retry_class got =
            aws_retry_classify(cases[i].status, cases[i].code, cases[i].curl, cases[i].body_ok);
        if (got != cases[i].want)
            fail_msg("case %zu (%ld %s curl %d): class %d, want %d", i, cases[i].status,
                     cases[i].code ? cases[i].code : "-", cases[i].curl, got, cases[i].want);
    }
}

static void test_backoff_and_quota(void **state)
{
    unsigned seed = testing_seed();
    srand(seed);
    for (int retry = 1; retry <= 30; retry++) {
        int64_t cap = retry >= 9 ? 20000 : 100LL << (retry - 1);
        if (cap > 20000)
            cap = 20000;
        int64_t hi = 0;
        for (int k = 0; k < 2000; k++) {
            double u = (double)rand() / ((double)RAND_MAX + 1.0);
            int64_t d = aws_retry_backoff_ms(retry, u);
            if (d < 0 || d >= cap + 1)
                fail_msg("retry %d: %lld ms outside [0, %lld]", retry, (long long)d,
                         (long long)cap);
            if (d > hi)
                hi = d;
        }
        /* full jitter spreads over the whole range */
        if (hi < cap * 9 / 10)
            fail_msg("retry %d: largest delay %lld ms of cap %lld", retry, (long long)hi,
                     (long long)cap);
    }
    assert_int_equal(aws_retry_backoff_ms(1, 0.0), 0);
    assert_int_equal(aws_retry_backoff_ms(1, 0.5), 50);
    assert_int_equal(aws_retry_backoff_ms(3, 0.5), 200);
    assert_int_equal(aws_retry_backoff_ms(40, 0.5), 10000);

    struct aws_retry_quota q;
    aws_retry_quota_init(&q, 500);
    int n = 0;
    while (aws_retry_quota_acquire(&q, false))
        n++;
    assert_int_equal(n, 100);
    assert_int_equal(aws_retry_quota_acquire(&q, true), 0);
    aws_retry_quota_release(&q, 10); /* a call that had retried and then succeeded */
    assert_int_equal(q.tokens, 10);
    assert_int_equal(aws_retry_quota_acquire(&q, true), 10);
    assert_int_equal(aws_retry_quota_acquire(&q, false), 0);
    aws_retry_quota_release(&q, 0); /* success without retry refunds one */
    assert_int_equal(q.tokens, 1);
    aws_retry_quota_init(&q, 500);
    aws_retry_quota_release(&q, 0);
    assert_int_equal(q.tokens, 500);
}

static const char ok_http[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

static void probe(const char *host, const char *service, const char *token, const char *ctype,
                  const char *target, const char *body, const char *want_sig)
{
    const char *resp[] = {ok_http};
    struct test_server ts;
    ts_start(&ts, resp, 1);
    char url[128], conn[160], err[256];
    snprintf(url, sizeof url, "http://%s/", host);
    snprintf(conn, sizeof conn, "%s:80:127.0.0.1:%d", host, ts.port);
    char *authz = NULL;
    int rc = aws_sign_probe(url, conn, "us-east-1", service, "AKIDEXAMPLE",
                            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token, ctype, target,
                            "20150830T123600Z", body, &authz, err, sizeof err);
    ts_stop(&ts);
    if (rc != 0)
        fail_msg("probe %s: %s", service, err);
    const char *sig = strstr(authz, "Signature=");
    if (!sig || strcmp(sig + 10, want_sig) != 0)
        fail_msg("%s: %s, want Signature=%s", service, authz, want_sig);
    free(authz);
}

/* The vectors of the reference, recomputed with botocore: curl's signer gives the same. */
static void test_sigv4_vectors(void **state)
{
    const char *form = "application/x-www-form-urlencoded; charset=utf-8";
    probe("ec2.us-east-1.amazonaws.com", "ec2", NULL, form, NULL,
          "Action=DescribeIpamPools&Version=2016-11-15&MaxResults=1000",
          "c4e585e0ce213d80cdda9a2c2176d45c6e43797e095146149dfeb60cb865a1e3");
    probe("ec2.us-east-1.amazonaws.com", "ec2",
          "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267", form, NULL,
          "Action=DescribeIpamPools&Version=2016-11-15&MaxResults=1000",
          "8af2816b71f90da94670059282fbef98ecd325905a955908e951d449c683ad0a");
    probe("cloudtrail.us-east-1.amazonaws.com", "cloudtrail", NULL, "application/x-amz-json-1.1",
          "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents",
          "{\"LookupAttributes\":[{\"AttributeKey\":\"EventSource\",\"AttributeValue\":\"ec2."
          "amazonaws.com\"}],\"MaxResults\":50}",
          "b5a991b693aaffc33d69277d90ee6a6298820f93cc579e155617969829e059ee");
    probe("sts.us-east-1.amazonaws.com", "sts", NULL, form, NULL,
          "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%"
          "2FIpamReadOnly&RoleSessionName=ipam-monitor",
          "2a38229973634dfe4e84617b310f2e4b463f25d53faff0663bfd5dbb5bdcb7d1");
}

/* ---- Calls against the scripted server ---------------------------------------------- */

static const char page_xml[] =
    "<?xml version=\"1.0\"?><DescribeIpamPoolsResponse "
    "xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r-ok</requestId>"
    "<ipamPoolSet><item><ipamPoolId>ipam-pool-1</ipamPoolId><poolDepth>1</poolDepth></item>"
    "<item><ipamPoolId>ipam-pool-2</ipamPoolId></item></ipamPoolSet>"
    "</DescribeIpamPoolsResponse>";

static char *ec2_error(int status, const char *code, const char *msg)
{
    char body[512];
    snprintf(body, sizeof body,
             "<?xml version=\"1.0\"?><Response><Errors><Error><Code>%s</Code><Message>%s"
             "</Message></Error></Errors><RequestID>rid-%s</RequestID></Response>",
             code, msg, code);
    return ts_response(status, "text/xml", body);
}

struct env {
    struct test_server ts;
    aws_creds_t *creds;
    aws_client_t *c;
};

static void env_up(struct env *e, const char *const *resp, int n, int attempts, bool token)
{
    ts_start(&e->ts, resp, n);
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", e->ts.port);
    struct aws_settings s = {.region = "eu-central-1",
                             .endpoint_url = url,
                             .max_attempts = attempts,
                             .rng_seed = 42,
                             .timeout_ms = 5000};
    e->creds = aws_creds_new_static("AKIDTESTKEY1234", SECRET, token ? TOKEN : NULL);
    e->c = aws_client_new(&s, e->creds, err, sizeof err);
    assert_non_null(e->c);
}

static void env_down(struct env *e)
{
    aws_client_free(e->c);
    aws_creds_free(e->creds);
    ts_stop(&e->ts);
}

static int call_pools(struct env *e, ec2_xml_t **x, char *err, size_t errlen)
{
    struct aws_call call = {.service = "ec2",
                            .operation = "DescribeIpamPools",
                            .body = "Action=DescribeIpamPools&Version=2016-11-15"};
    return aws_client_query(e->c, &call, "ipamPoolId", x, err, errlen);
}

static void test_call_retries_throttling(void **state)
{
    char *t = ec2_error(503, "RequestLimitExceeded", "Request limit exceeded.");
    char *ok = ts_response(200, "text/xml", page_xml);
    const char *resp[] = {t, t, ok};
    struct env e;
    env_up(&e, resp, 3, 3, true);
    ec2_xml_t *x = NULL;
    char err[512] = "";
    int rc = call_pools(&e, &x, err, sizeof err);
    if (rc != 0)
        fail_msg("call failed: %s", err);
    assert_int_equal(json_array_size(ec2_xml_items(x)), 2);
    struct aws_client_stats st;
    aws_client_get_stats(e.c, &st);
    assert_int_equal(st.requests, 3);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.throttled, 2);
    assert_int_equal(st.quota_tokens, 500); /* refunded after the success */
    /* the request as sent: signed form POST with the session token */
    const char *req = e.ts.requests[0];
    assert_non_null(strstr(req, "POST / HTTP/1.1"));
    assert_non_null(strstr(req, "Content-Type: application/x-www-form-urlencoded; charset=utf-8"));
    assert_non_null(strstr(req, "Credential=AKIDTESTKEY1234/"));
    assert_non_null(strstr(req, "/eu-central-1/ec2/aws4_request"));
    assert_non_null(strstr(req, "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"));
    assert_non_null(strstr(req, "X-Amz-Security-Token: " TOKEN));
    assert_non_null(strstr(req, "\r\n\r\nAction=DescribeIpamPools&Version=2016-11-15"));
    ec2_xml_free(x);
    env_down(&e);
    free(t);
    free(ok);
}

static void test_call_client_error_not_retried(void **state)
{
    char *bad = ec2_error(400, "InvalidParameterValue", "The value '5' for MaxResults is invalid.");
    const char *resp[] = {bad};
    struct env e;
    env_up(&e, resp, 1, 3, false);
    struct aws_call call = {.service = "ec2",
                            .operation = "GetIpamPoolAllocations",
                            .body = "Action=GetIpamPoolAllocations&Version=2016-11-15"};
    ec2_xml_t *x = NULL;
    char err[512] = "";
    int rc = aws_client_query(e.c, &call, NULL, &x, err, sizeof err);
    assert_int_equal(rc, -EINVAL);
    assert_null(x);
    assert_string_equal(err, "ec2 GetIpamPoolAllocations: InvalidParameterValue: The value '5' "
                             "for MaxResults is invalid. (request id rid-InvalidParameterValue)");
    assert_int_equal(e.ts.nreq, 1);
    assert_null(strstr(e.ts.requests[0], "X-Amz-Security-Token"));
    env_down(&e);
    free(bad);

    char *nf = ec2_error(400, "InvalidIpamPoolId.NotFound", "The pool does not exist");
    char *auth = ec2_error(403, "UnauthorizedOperation", "You are not authorized");
    const char *r2[] = {nf, auth};
    env_up(&e, r2, 2, 3, false);
    assert_int_equal(aws_client_query(e.c, &call, NULL, &x, err, sizeof err), -ENOENT);
    assert_int_equal(aws_client_query(e.c, &call, NULL, &x, err, sizeof err), -EACCES);
    assert_int_equal(e.ts.nreq, 2);
    env_down(&e);
    free(nf);
    free(auth);
}

static void test_call_gives_up_after_max_attempts(void **state)
{
    char *t = ec2_error(503, "RequestLimitExceeded", "Request limit exceeded.");
    const char *resp[] = {t};
    struct env e;
    env_up(&e, resp, 1, 3, false);
    ec2_xml_t *x = NULL;
    char err[512] = "";
    assert_int_equal(call_pools(&e, &x, err, sizeof err), -EAGAIN);
    assert_int_equal(e.ts.nreq, 3);
    assert_non_null(strstr(err, "RequestLimitExceeded"));
    assert_non_null(strstr(err, "after 3 attempts"));
    struct aws_client_stats st;
    aws_client_get_stats(e.c, &st);
    assert_int_equal(st.quota_tokens, 490); /* not refunded: the call failed */
    env_down(&e);
    free(t);
}

static void test_call_truncated_and_malformed_bodies_retried(void **state)
{
    char trunc_body[sizeof page_xml];
    memcpy(trunc_body, page_xml, sizeof page_xml);
    trunc_body[sizeof page_xml / 2] = '\0';
    char *trunc = ts_response(200, "text/xml", trunc_body);
    char *junk = ts_response(200, "text/xml", "<DescribeIpamPoolsResponse><a></b>");
    /* A body shorter than its Content-Length: the connection closes early. */
    const char *cut = "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n"
                      "<DescribeIpamPoolsResponse><requestId>x</requestId>";
    char *ok = ts_response(200, "text/xml", page_xml);
    const char *resp[] = {trunc, junk, cut, ok};
    struct env e;
    env_up(&e, resp, 4, 4, false);
    ec2_xml_t *x = NULL;
    char err[512] = "";
    int rc = call_pools(&e, &x, err, sizeof err);
    if (rc != 0)
        fail_msg("call failed: %s", err);
    assert_int_equal(e.ts.nreq, 4);
    assert_int_equal(json_array_size(ec2_xml_items(x)), 2);
    ec2_xml_free(x);
    env_down(&e);

    /* Only broken bodies: a clean failure naming the problem. */
    const char *r2[] = {trunc};
    env_up(&e, r2, 1, 2, false);
    assert_int_equal(call_pools(&e, &x, err, sizeof err), -EBADMSG);
    assert_non_null(strstr(err, "DescribeIpamPools: truncated or malformed XML"));
    assert_null(x);
    env_down(&e);
    free(trunc);
    free(junk);
    free(ok);
}

static void test_call_expired_token_refreshed(void **state)
{
    char *exp = ec2_error(400, "RequestExpired", "Request has expired.");
    char *ok = ts_response(200, "text/xml", page_xml);
    const char *resp[] = {exp, ok};
    struct env e;
    env_up(&e, resp, 2, 1, true); /* one attempt: the refresh retry is extra */
    ec2_xml_t *x = NULL;
    char err[512] = "";
    int rc = call_pools(&e, &x, err, sizeof err);
    if (rc != 0)
        fail_msg("call failed: %s", err);
    struct aws_client_stats st;
    aws_client_get_stats(e.c, &st);
    assert_int_equal(st.refreshes, 1);
    ec2_xml_free(x);
    env_down(&e);

    /* Credentials that expire again use up the attempts left, each after a refresh. */
    const char *r2[] = {exp};
    env_up(&e, r2, 1, 3, true);
    assert_int_equal(call_pools(&e, &x, err, sizeof err), -EACCES);
    assert_int_equal(e.ts.nreq, 4); /* the first answer, the free retry, two more attempts */
    aws_client_get_stats(e.c, &st);
    assert_int_equal(st.refreshes, 3);
    env_down(&e);
    free(exp);
    free(ok);
}

/* `resp` (freed) with a Date header `ahead_s` seconds from now after its status line. */
static char *with_date(char *resp, long ahead_s)
{
    time_t when = time(NULL) + ahead_s;
    struct tm tm;
    char date[64];
    gmtime_r(&when, &tm);
    strftime(date, sizeof date, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    const char *eol = strstr(resp, "\r\n") + 2;
    size_t n = strlen(resp) + strlen(date) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(eol - resp), resp, date, eol);
    free(resp);
    return out;
}

/* The X-Amz-Date of a request as seconds since the epoch; -1 when there is not exactly one. */
static long amz_date_of(const char *req)
{
    const char *at = strstr(req, "X-Amz-Date: ");
    if (!at || strstr(at + 1, "X-Amz-Date:"))
        return -1;
    struct tm tm = {0};
    if (!strptime(at + 12, "%Y%m%dT%H%M%SZ", &tm))
        return -1;
    return (long)timegm(&tm);
}

static void test_call_clock_skew_corrected(void **state)
{
    (void)state;
    char *skewed = with_date(ec2_error(400, "RequestExpired", "Request has expired."), 3600);
    char *ok = ts_response(200, "text/xml", page_xml);
    char *denied = with_date(ec2_error(401, "AuthFailure", "AWS was not able to validate."), 3600);
    const char *resp[] = {skewed, ok, ok, denied};
    struct env e;
    env_up(&e, resp, 4, 1, true); /* one attempt: the re-signed retry is extra */
    ec2_xml_t *x = NULL;
    char err[512] = "";
    int rc = call_pools(&e, &x, err, sizeof err);
    if (rc != 0)
        fail_msg("call failed: %s", err);
    ec2_xml_free(x);
    /* The retry and the next call are signed an hour ahead, with one X-Amz-Date each. */
    rc = call_pools(&e, &x, err, sizeof err);
    if (rc != 0)
        fail_msg("second call failed: %s", err);
    ec2_xml_free(x);
    assert_int_equal(e.ts.nreq, 3);
    long now = (long)time(NULL);
    for (int i = 1; i < 3; i++) {
        long d = amz_date_of(e.ts.requests[i]);
        if (d < now + 3590 || d > now + 3610)
            fail_msg("request %d: X-Amz-Date %ld, want about %ld", i, d, now + 3600);
        assert_non_null(strstr(e.ts.requests[i], "/eu-central-1/ec2/aws4_request, SignedHeaders="
                                                 "content-type;host;x-amz-date;x-amz-security-"
                                                 "token, Signature="));
        assert_non_null(strstr(e.ts.requests[i], "X-Amz-Security-Token: " TOKEN));
    }
    /* A skew code whose Date agrees with the corrected clock is an ordinary failure. */
    assert_int_equal(call_pools(&e, &x, err, sizeof err), -EACCES);
    assert_int_equal(e.ts.nreq, 4);
    assert_non_null(strstr(err, "AuthFailure"));
    env_down(&e);
    free(skewed);
    free(ok);
    free(denied);
}

static void test_call_json_protocol(void **state)
{
    char *thr = ts_response(400, "application/x-amz-json-1.1",
                            "{\"__type\":\"com.amazonaws.cloudtrail.v20131101#"
                            "ThrottlingException:http://x\",\"message\":\"Rate exceeded\"}");
    char *bad = ts_response(400, "application/x-amz-json-1.1",
                            "{\"__type\":\"InvalidLookupAttributesException\",\"Message\":"
                            "\"bad key\"}");
    char *ok =
        ts_response(200, "application/x-amz-json-1.1", "{\"Events\":[{\"EventId\":\"e1\"}]}");
    const char *resp[] = {thr, ok, bad};
    struct env e;
    env_up(&e, resp, 3, 3, false);
    struct aws_call call = {.service = "cloudtrail", .operation = "LookupEvents", .body = "{}"};
    const char *target = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";
    json_t *doc = NULL;
    char err[512] = "";
    int rc = aws_client_json(e.c, &call, target, &doc, err, sizeof err);
    if (rc != 0)
        fail_msg("call failed: %s", err);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(doc, "Events"), 0), "EventId")),
                        "e1");
    json_decref(doc);
    assert_non_null(strstr(e.ts.requests[0], "X-Amz-Target: "
                                             "com.amazonaws.cloudtrail"));
    assert_non_null(strstr(e.ts.requests[0], "Content-Type: application/x-amz-json-1.1"));
    assert_non_null(
        strstr(e.ts.requests[0], "SignedHeaders=content-type;host;x-amz-date;x-amz-target"));
    assert_non_null(strstr(e.ts.requests[0], "/cloudtrail/aws4_request"));
    rc = aws_client_json(e.c, &call, target, &doc, err, sizeof err);
    assert_int_equal(rc, -EINVAL);
    assert_string_equal(err, "cloudtrail LookupEvents: InvalidLookupAttributesException: bad key "
                             "(request id hdr-req-1)");
    env_down(&e);
    free(thr);
    free(bad);
    free(ok);
}

static void test_unsigned_call(void **state)
{
    char *ok =
        ts_response(200, "text/xml",
                    "<AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult>"
                    "<Credentials><AccessKeyId>ASIA1</AccessKeyId></Credentials>"
                    "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>");
    const char *resp[] = {ok};
    struct test_server ts;
    ts_start(&ts, resp, 1);
    char url[64], err[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ts.port);
    struct aws_settings s = {.region = "eu-west-1", .endpoint_url = url};
    aws_client_t *c = aws_client_new(&s, NULL, err, sizeof err);
    struct aws_call call = {.service = "sts",
                            .operation = "AssumeRoleWithWebIdentity",
                            .body = "Action=AssumeRoleWithWebIdentity",
                            .unsigned_request = true};
    ec2_xml_t *x = NULL;
    assert_int_equal(aws_client_query(c, &call, NULL, &x, err, sizeof err), 0);
    assert_string_equal(ec2_xml_meta(x, "AccessKeyId"), "ASIA1");
    assert_null(strstr(ts.requests[0], "Authorization"));
    ec2_xml_free(x);
    /* a signed call without a provider is refused before sending */
    call.unsigned_request = false;
    assert_int_equal(aws_client_query(c, &call, NULL, &x, err, sizeof err), -EINVAL);
    assert_int_equal(ts.nreq, 1);
    assert_null(x);
    aws_client_free(c);
    ts_stop(&ts);
    free(ok);
}

static void test_pagination(void **state)
{
    char *p1 =
        ts_response(200, "text/xml",
                    "<GetIpamPoolCidrsResponse><requestId>r1</requestId><ipamPoolCidrSet>"
                    "<item><cidr>10.0.0.0/16</cidr><ipamPoolCidrId>c1</ipamPoolCidrId></item>"
                    "<item><cidr>10.1.0.0/16</cidr><ipamPoolCidrId>c2</ipamPoolCidrId></item>"
                    "</ipamPoolCidrSet><nextToken>a+b/c=</nextToken></GetIpamPoolCidrsResponse>");
    char *p2 =
        ts_response(200, "text/xml",
                    "<GetIpamPoolCidrsResponse><requestId>r2</requestId><ipamPoolCidrSet>"
                    "<item><cidr>10.2.0.0/16</cidr><ipamPoolCidrId>c3</ipamPoolCidrId></item>"
                    "</ipamPoolCidrSet><nextToken/></GetIpamPoolCidrsResponse>");
    const char *resp[] = {p1, p2};
    struct env e;
    env_up(&e, resp, 2, 3, false);
    json_t *all = json_array();
    char err[512] = "";
    struct ec2_ipam_stats st;
    int rc = ec2_ipam_list(e.c, EC2_GET_IPAM_POOL_CIDRS, NULL, "ipam-pool-0abc", NULL, 5,
                           (ec2_ipam_item_cb)json_array_append, all, &st, err, sizeof err);
    if (rc != 0)
        fail_msg("list failed: %s", err);
    assert_int_equal(json_array_size(all), 3);
    assert_int_equal(st.pages, 2);
    assert_int_equal(st.items, 3);
    assert_non_null(strstr(e.ts.requests[0], "Action=GetIpamPoolCidrs&Version=2016-11-15&"
                                             "IpamPoolId=ipam-pool-0abc&MaxResults=5"));
    assert_null(strstr(e.ts.requests[0], "NextToken"));
    assert_non_null(strstr(e.ts.requests[1], "&NextToken=a%2Bb%2Fc%3D"));
    json_decref(all);
    /* bounds of MaxResults per operation, missing ids */
    assert_int_equal(ec2_ipam_list(e.c, EC2_GET_IPAM_POOL_ALLOCATIONS, NULL, "p", NULL, 999,
                                   (ec2_ipam_item_cb)json_array_append, NULL, NULL, err,
                                   sizeof err),
                     -EINVAL);
    assert_int_equal(ec2_ipam_list(e.c, EC2_GET_IPAM_POOL_CIDRS, NULL, NULL, NULL, 0,
                                   (ec2_ipam_item_cb)json_array_append, NULL, NULL, err,
                                   sizeof err),
                     -EINVAL);
    assert_non_null(strstr(err, "IpamPoolId"));
    assert_int_equal(e.ts.nreq, 2);
    env_down(&e);
    free(p1);
    free(p2);

    json_t *pool = json_pack("{s:s}", "locale", "None");
    assert_string_equal(ec2_ipam_pool_region(pool, "us-east-1"), "us-east-1");
    json_object_set_new(pool, "locale", json_string("eu-west-1"));
    assert_string_equal(ec2_ipam_pool_region(pool, "us-east-1"), "eu-west-1");
    json_decref(pool);
    assert_string_equal(ec2_ipam_arn_id("arn:aws:ec2::111122223333:ipam-scope/ipam-scope-0aa"),
                        "ipam-scope-0aa");
}

/* Every log line of failing and retried calls at debug level: no secret in any. */
static void test_no_secret_in_log(void **state)
{
    struct testing_capture cap;
    testing_capture_begin(&cap);
    log_set_level(LOG_LEVEL_DEBUG);

    char *exp = ec2_error(400, "ExpiredToken", "expired");
    char *t = ec2_error(503, "RequestLimitExceeded", "slow down");
    char *bad = ec2_error(403, "SignatureDoesNotMatch", "no");
    const char *resp[] = {exp, t, bad};
    struct env e;
    env_up(&e, resp, 3, 3, true);
    ec2_xml_t *x = NULL;
    char err[512] = "";
    int rc = call_pools(&e, &x, err, sizeof err);
    LOG_ERR("%s", err);
    env_down(&e);
    /* and a connection that fails */
    struct aws_settings s = {.region = "eu-west-1",
                             .endpoint_url = "http://127.0.0.1:1",
                             .max_attempts = 2,
                             .access_key_id = "AKIDTESTKEY1234",
                             .secret_access_key = SECRET,
                             .session_token = TOKEN};
    aws_creds_t *cr = aws_creds_new_chain(&s, err, sizeof err);
    aws_client_t *c = aws_client_new(&s, cr, err, sizeof err);
    struct aws_call call = {.service = "ec2", .operation = "DescribeIpams", .body = "Action=X"};
    int rc2 = aws_client_query(c, &call, NULL, &x, err, sizeof err);
    LOG_ERR("%s", err);
    aws_client_free(c);
    aws_creds_free(cr);

    char *buf = testing_capture_end(&cap);
    log_set_level(LOG_LEVEL_INFO);
    assert_int_equal(rc, -EACCES);
    assert_int_equal(rc2, -EIO);
    if (!*buf)
        fail_msg("nothing was logged");
    assert_non_null(strstr(buf, "SignatureDoesNotMatch"));
    assert_non_null(strstr(buf, "refreshing credentials"));
    if (strstr(buf, SECRET) || strstr(buf, TOKEN) || strstr(buf, "MDENG"))
        fail_msg("a secret reached the log:\n%s", buf);
    free(buf);
    free(exp);
    free(t);
    free(bad);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    log_init("test_aws_client", LOG_LEVEL_INFO, true, false);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_endpoints, clear_env),
        cmocka_unit_test(test_retry_classify),
        cmocka_unit_test(test_backoff_and_quota),
        cmocka_unit_test_setup(test_sigv4_vectors, clear_env),
        cmocka_unit_test_setup(test_call_retries_throttling, clear_env),
        cmocka_unit_test_setup(test_call_client_error_not_retried, clear_env),
        cmocka_unit_test_setup(test_call_gives_up_after_max_attempts, clear_env),
        cmocka_unit_test_setup(test_call_truncated_and_malformed_bodies_retried, clear_env),
        cmocka_unit_test_setup(test_call_expired_token_refreshed, clear_env),
        cmocka_unit_test_setup(test_call_clock_skew_corrected, clear_env),
        cmocka_unit_test_setup(test_call_json_protocol, clear_env),
        cmocka_unit_test_setup(test_unsigned_call, clear_env),
        cmocka_unit_test_setup(test_pagination, clear_env),
        cmocka_unit_test_setup(test_no_secret_in_log, clear_env),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
