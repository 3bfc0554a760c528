/* aws_client: HTTP transport to AWS services: endpoints, SigV4 signing, retries, errors.
 *
 * DESIGN: one client serves every service (EC2 and STS Query, CloudTrail JSON 1.1) for one
 * credential provider. Each call is a POST to the service endpoint of a region, signed by
 * libcurl (CURLOPT_AWS_SIGV4) and retried in the SDK "standard" style: at most
 * max_attempts, full-jitter exponential backoff (base 100 ms, cap 20 s) and a retry quota
 * shared by every call of the client (500 tokens, 5 per retry, 10 per timeout retry,
 * refunded on success). A clock-skew error (RequestExpired, InvalidSignatureException, ...)
 * whose Date header is a minute or more away from the local clock sets the client's clock
 * offset, used for X-Amz-Date from then on, and is retried once at once, as the SDKs do.
 * XML bodies are parsed while they arrive (ec2_xml); a response is
 * handed back only when it parsed completely. aws_client_query_raw() hands back a successful
 * answer's bytes instead, for callers that parse elsewhere (the paged listings); they report
 * a body that then fails to parse through aws_call.failed_attempts, so its re-request
 * follows the same attempt limit and quota. Idle curl handles are kept in a small pool so
 * connections are reused; calls may run on several threads at once.
 */
#ifndef IPAMWATCH_AWS_CLIENT_H
#define IPAMWATCH_AWS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Plain settings of the AWS side; every pointer is borrowed for the duration of the call
 * that receives the struct (constructors copy what they keep). NULL / 0 means default. */
struct aws_settings {
    const char *region;        /* home region; else AWS_REGION, AWS_DEFAULT_REGION,
                                  the profile's region, "us-east-1" */
    const char *profile;       /* explicit profile name (then environment keys are
                                  ignored); else AWS_PROFILE, AWS_DEFAULT_PROFILE */
    const char *access_key_id; /* static keys: when set they win over the chain */
    const char *secret_access_key;
    const char *session_token;
    const char *role_arn; /* assumed on top of the chain's credentials */
    const char *external_id;
    const char *session_name; /* default "ipamwatch" */
    const char *endpoint_url; /* one endpoint for every service (wins over the
                                 AWS_ENDPOINT_URL* variables) */
    const char *ca_file;      /* CA bundle for TLS verification (always on) */
    long connect_timeout_ms;  /* default 5000 */
    long timeout_ms;          /* whole request, default 120000 */
    long low_speed_time_s;    /* stall: under 1 byte/s for this long, default 30 */
    int max_attempts;         /* default AWS_MAX_ATTEMPTS or 3 */
    int retry_budget;         /* retry quota tokens, default 500 */
    unsigned rng_seed;        /* backoff jitter seed; 0 = from the clock */
};

/* A deep copy of settings, owned by the module that keeps it. */
struct aws_settings_copy {
    struct aws_settings s; /* pointers into owned strings */
};
/* Copies src into dst (strings duplicated). Any thread. */
void aws_settings_copy(struct aws_settings_copy *dst, const struct aws_settings *src);
/* Frees the strings of a copy; a zeroed copy is fine. */
void aws_settings_release(struct aws_settings_copy *c);

/* ---- Endpoints ---------------------------------------------------------------------- */

/* Partition of a region: "aws-cn" for cn-*, "aws-us-gov" for us-gov-*, "aws-iso" for
 * us-iso-*, "aws-iso-b" for us-isob-*, else "aws". Returns a static string. */
const char *aws_partition(const char *region);

/* Resolves the base URL (no trailing slash) of `service` ("ec2", "sts", "cloudtrail") in
 * `region` and the region to sign with. Precedence: settings_url (explicit), then
 * AWS_ENDPOINT_URL_<SERVICE>, then AWS_ENDPOINT_URL (both ignored when
 * AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true), then the partition's default; STS is regional
 * unless AWS_STS_REGIONAL_ENDPOINTS=legacy (global endpoint, signed as us-east-1) or the
 * region is "aws-global". Writes into url / signing_region. Returns 0, -EINVAL (unknown
 * service or empty region) or -ENAMETOOLONG. Any thread (reads the environment). */
int aws_endpoint_resolve(const char *service, const char *region, const char *settings_url,
                         char *url, size_t urllen, char *signing_region, size_t srlen);

/* ---- Retry policy ------------------------------------------------------------------- */

enum aws_retry_class {
    AWS_RETRY_NO = 0,    /* final: client error or success */
    AWS_RETRY_THROTTLE,  /* throttling codes, HTTP 429 */
    AWS_RETRY_TRANSIENT, /* 5xx, transient codes, connection errors, bad bodies */
    AWS_RETRY_TIMEOUT,   /* transport timeout or stall (costs more quota) */
    AWS_RETRY_EXPIRED,   /* expired credentials: refresh, then retry (the first
                            refresh costs no attempt) */
};

/* Classifies one attempt's outcome: `http_status` (0 when no response), the AWS error
 * `code` (NULL if none), `curl_code` (0 = transfer ok), `body_ok` (false when a 2xx body
 * was truncated or did not parse). Pure; any thread. */
enum aws_retry_class aws_retry_classify(long http_status, const char *code, int curl_code,
                                        bool body_ok);

/* True for the throttling error codes of the SDKs (Throttling, RequestLimitExceeded, ...). */
bool aws_is_throttle_code(const char *code);

/* Backoff before retry number `retry` (1 = first retry) with `u` drawn from [0,1):
 * u * min(100 ms * 2^(retry-1), 20 s), in milliseconds. Pure. */
int64_t aws_retry_backoff_ms(int retry, double u);

/* The client-side retry quota (token bucket). Not locked: the owner serializes access. */
struct aws_retry_quota {
    int tokens;
    int capacity;
};
#define AWS_RETRY_COST         5
#define AWS_RETRY_TIMEOUT_COST 10
void aws_retry_quota_init(struct aws_retry_quota *q, int capacity);
/* Takes the cost of one retry; returns the tokens taken, or 0 when the quota is empty
 * (then the caller must not retry). */
int aws_retry_quota_acquire(struct aws_retry_quota *q, bool timeout);
/* After a success: refunds `taken` (what the retries of this call took) or, when the call
 * needed no retry, one token; never above capacity. */
void aws_retry_quota_release(struct aws_retry_quota *q, int taken);

/* ---- Client ------------------------------------------------------------------------- */

typedef struct aws_client aws_client_t;
struct aws_creds; /* aws_creds.h */
struct ec2_xml;   /* ec2_xml.h */

/* Creates a client. `s` is copied. `creds` is borrowed and must outlive the client; NULL
 * makes a client that can only send unsigned calls. Returns NULL with text in err. Call
 * curl_global_init() before any thread exists. Any thread. */
aws_client_t *aws_client_new(const struct aws_settings *s, struct aws_creds *creds, char *err,
                             size_t errlen);
/* Frees the client; NULL is a no-op. No call may be running. */
void aws_client_free(aws_client_t *c);
/* The default region of the client (settings, environment, profile, "us-east-1");
 * borrowed, valid while the client lives. */
const char *aws_client_region(const aws_client_t *c);

/* One call. `region` NULL = the client's region. `body` is the form or JSON body. */
struct aws_call {
    const char *service; /* "ec2", "sts", "cloudtrail" */
    const char *region;
    const char *operation; /* for error text, e.g. "DescribeIpamPools" */
    const char *body;
    bool unsigned_request; /* AssumeRoleWithWebIdentity */
    /* Attempts of this request the caller already made and found unusable itself (a raw
     * answer whose body then did not parse): they count against max_attempts and cost
     * retry quota like the client's own retries (so the call starts with a backoff), and
     * failed_error (borrowed) is the error returned when no attempt is left. */
    int failed_attempts;
    const char *failed_error;
};

/* Counters of one client, for logs and tests. */
struct aws_client_stats {
    uint64_t requests; /* HTTP attempts */
    uint64_t retries;
    uint64_t throttled; /* attempts answered with a throttling error */
    uint64_t refreshes; /* credential refreshes forced by expired-credential errors */
    int quota_tokens;   /* retry quota left */
};
/* Copies the counters. Any thread. */
void aws_client_get_stats(aws_client_t *c, struct aws_client_stats *out);

/* Sends a Query-protocol call (EC2, STS) and parses the XML answer as it arrives.
 * `required_key` (may be NULL) names the element every result item must carry. On success
 * returns 0 and stores the complete parse in *out (owned by the caller, ec2_xml_free()).
 * On failure returns -errno and writes e.g.
 * "ec2 GetIpamPoolAllocations: InvalidParameterValue: ... (request id ...)" into err:
 * -EACCES auth/permission, -ENOENT not found, -EINVAL other client errors, -EAGAIN still
 * throttled after the retries, -ETIMEDOUT, -EIO server or transport errors, -EBADMSG
 * unparseable answers. Any thread. */
int aws_client_query(aws_client_t *c, const struct aws_call *call, const char *required_key,
                     struct ec2_xml **out, char *err, size_t errlen);

/* aws_client_query() without the parse: a 2xx answer that arrived completely is handed
 * back as bytes (*body owned by the caller, NUL-terminated, *len without the NUL) for the
 * caller to parse; the body is not checked at all. Error answers, throttling and broken
 * transfers are parsed, retried and reported exactly as by aws_client_query(). Returns 0 or
 * the same -errno codes. Any thread. */
int aws_client_query_raw(aws_client_t *c, const struct aws_call *call, char **body, size_t *len,
                         char *err, size_t errlen);

/* Sends an AWS JSON 1.1 call (CloudTrail) with X-Amz-Target `target`; the answer is parsed
 * into *out (owned by the caller). Errors as aws_client_query, with the code taken from
 * "__type" (namespace and ":" suffix stripped). Any thread. */
int aws_client_json(aws_client_t *c, const struct aws_call *call, const char *target, json_t **out,
                    char *err, size_t errlen);

/* ---- Plain HTTP for credential endpoints (IMDS, container) --------------------------- */

/* One unsigned request without retries: `method` "GET"/"PUT", `headers` a NULL-terminated
 * list of "Name: value" lines (borrowed; may be NULL), body at most 64 KiB. Stores the
 * HTTP status and the body (owned by the caller, NUL-terminated). Returns 0 when a
 * response arrived (any status), -errno with text in err otherwise. Any thread. */
int aws_http_simple(const struct aws_settings *s, const char *method, const char *url,
                    const char *const *headers, long timeout_ms, long *status, char **body,
                    char *err, size_t errlen);

/* Sends one signed POST with a fixed X-Amz-Date (yyyymmddThhmmssZ) and returns the
 * Authorization header curl produced (owned by the caller) in *authz; `url` is fetched
 * through `connect_to` ("host:port:127.0.0.1:port", may be NULL). For reproducing the
 * SigV4 test vectors. Returns 0 or -errno. Any thread. */
int aws_sign_probe(const char *url, const char *connect_to, const char *region, const char *service,
                   const char *akid, const char *secret, const char *token,
                   const char *content_type, const char *target, const char *amz_date,
                   const char *body, char **authz, char *err, size_t errlen);

#endif
