/* aws_creds: AWS credential providers: the SDK default chain, STS AssumeRole, refresh.
 *
 * The shared config/credentials files are read by a small parser of our own rather than
 * libinih: Debian's libinih is built with a 200-byte line limit, and session tokens in a
 * credentials file are longer than that.
 */
#define LOG_MODULE "aws-creds"
#include "collector/aws_creds.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "collector/ec2_xml.h"
#include "log.h"
#include "text.h"
#include "xalloc.h"

#define AWS_PROFILE_MAX_DEPTH 8
#define IMDS_TIMEOUT_MS       1000
#define CONTAINER_TIMEOUT_MS  2000
#define DEFAULT_SESSION_NAME  "ipamwatch"

/* ---- Credentials -------------------------------------------------------------------- */

static void wipe(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void aws_credentials_clear(struct aws_credentials *c)
{
    free(c->access_key_id);
    wipe(c->secret_access_key);
    wipe(c->session_token);
    memset(c, 0, sizeof *c);
}

void aws_credentials_copy(struct aws_credentials *dst, const struct aws_credentials *src)
{
    memset(dst, 0, sizeof *dst);
    dst->access_key_id = src->access_key_id ? xstrdup(src->access_key_id) : NULL;
    dst->secret_access_key = src->secret_access_key ? xstrdup(src->secret_access_key) : NULL;
    dst->session_token = src->session_token ? xstrdup(src->session_token) : NULL;
    dst->expiration = src->expiration;
    memcpy(dst->source, src->source, sizeof dst->source);
}

/* The last four characters of an access key id: the most a log line may show. */
static const char *key_tail(const char *akid)
{
    size_t n = akid ? strlen(akid) : 0;
    return n > 4 ? akid + n - 4 : "****";
}

/* Parses "2025-06-01T13:00:00Z" (fraction and numeric offset accepted) into epoch seconds. */
static int parse_iso8601(const char *s, time_t *out)
{
    struct tm tm = {0};
    int consumed = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6)
        return -EINVAL;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const char *p = s + consumed;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            ;
    long offset = 0;
    if (*p == '+' || *p == '-') {
        int hh = 0, mm = 0;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) < 1)
            return -EINVAL;
        offset = (hh * 3600L + mm * 60L) * (*p == '-' ? -1 : 1);
    } else if (*p != 'Z' && *p != '\0') {
        return -EINVAL;
    }
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -EINVAL;
    *out = t - offset;
    return 0;
}

/* ---- Shared files ------------------------------------------------------------------- */

struct aws_profile {
    json_t *values;  /* key -> value */
    json_t *origins; /* key -> path */
    bool exists;
};

/* Reads one INI file; keys of section `want` go into p (existing keys kept when
 * !override). `config` selects the config file's "[profile name]" naming. */
static int parse_ini(const char *path, const char *want, bool config, bool override,
                     aws_profile_t *p, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -EIO;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned lineno = 0;
    bool have_section = false, in_want = false, have_key = false;
    int rc = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        bool indented = n > 0 && (line[0] == ' ' || line[0] == '\t');
        char *t = text_trim(line);
        if (lineno == 1 && (unsigned char)t[0] == 0xEF && (unsigned char)t[1] == 0xBB &&
            (unsigned char)t[2] == 0xBF)
            t = text_trim(t + 3);
        if (!*t || *t == '#' || *t == ';')
            continue;
        if (*t == '[') {
            char *end = strchr(t, ']');
            if (!end) {
                snprintf(err, errlen, "%s:%u: section header without ']'", path, lineno);
                rc = -EINVAL;
                break;
            }
            *end = '\0';
            char *name = text_trim(t + 1);
            const char *profile = NULL;
            if (config) {
                if (strcmp(name, "default") == 0)
                    profile = "default";
                else if (strncmp(name, "profile", 7) == 0 && isspace((unsigned char)name[7]))
                    profile = text_trim(name + 8);
            } else {
                profile = name;
            }
            have_section = true;
            have_key = false;
            in_want = profile && strcmp(profile, want) == 0;
            if (in_want)
                p->exists = true;
            continue;
        }
        if (indented && have_key)
            continue; /* a nested sub-setting ("s3 =\n  max_concurrent = 5"): not ours */
        char *eq = strchr(t, '=');
        if (!eq) {
            snprintf(err, errlen, "%s:%u: expected 'key = value' or '[section]'", path, lineno);
            rc = -EINVAL;
            break;
        }
        if (!have_section) {
            snprintf(err, errlen, "%s:%u: setting before any [section]", path, lineno);
            rc = -EINVAL;
            break;
        }
        *eq = '\0';
        char *key = text_trim(t);
        char *value = text_trim(eq + 1);
        if (!*key) {
            snprintf(err, errlen, "%s:%u: empty key", path, lineno);
            rc = -EINVAL;
            break;
        }
        have_key = true;
        for (char *k = key; *k; k++)
            *k = (char)tolower((unsigned char)*k);
        if (in_want && (override || !json_object_get(p->values, key))) {
            json_object_set_new(p->values, key, json_string(value));
            json_object_set_new(p->origins, key, json_string(path));
        }
    }
    if (rc == 0 && ferror(f)) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        rc = -EIO;
    }
    if (line) {
        explicit_bzero(line, cap);
        free(line);
    }
    fclose(f);
    return rc;
}

static char *default_path(const char *env, const char *leaf)
{
    const char *v = getenv(env);
    if (v && *v)
        return xstrdup(v);
    const char *home = getenv("HOME");
    return xasprintf("%s/.aws/%s", home && *home ? home : ".", leaf);
}

int aws_profile_load(const char *name, const char *config_path, const char *creds_path,
                     aws_profile_t **out, char *err, size_t errlen)
{
    *out = NULL;
    aws_profile_t *p = xcalloc(1, sizeof *p);
    p->values = json_object();
    p->origins = json_object();
    char *cfg = config_path ? xstrdup(config_path) : default_path("AWS_CONFIG_FILE", "config");
    char *crd = creds_path ? xstrdup(creds_path)
                           : default_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    int rc = parse_ini(crd, name, false, true, p, err, errlen);
    if (rc == 0)
        rc = parse_ini(cfg, name, true, false, p, err, errlen);
    free(cfg);
    free(crd);
    if (rc < 0) {
        aws_profile_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void aws_profile_free(aws_profile_t *p)
{
    if (!p)
        return;
    const char *k;
    json_t *v;
    json_object_foreach(p->values, k, v)
    {
        const char *s = json_string_value(v);
        if (s)
            explicit_bzero((char *)s, strlen(s));
    }
    json_decref(p->values);
    json_decref(p->origins);
    free(p);
}

bool aws_profile_exists(const aws_profile_t *p)
{
    return p->exists;
}

const char *aws_profile_get(const aws_profile_t *p, const char *key)
{
    const char *v = json_string_value(json_object_get(p->values, key));
    return v && *v ? v : NULL;
}

const char *aws_profile_origin(const aws_profile_t *p, const char *key)
{
    return json_string_value(json_object_get(p->origins, key));
}

static const char *profile_name(const struct aws_settings *s, bool *named)
{
    const char *v = s->profile;
    if (!v || !*v)
        v = getenv("AWS_PROFILE");
    if (!v || !*v)
        v = getenv("AWS_DEFAULT_PROFILE");
    *named = v && *v;
    return *named ? v : "default";
}

char *aws_creds_default_region(const struct aws_settings *s)
{
    if (s->region && *s->region)
        return xstrdup(s->region);
    const char *v = getenv("AWS_REGION");
    if (!v || !*v)
        v = getenv("AWS_DEFAULT_REGION");
    if (v && *v)
        return xstrdup(v);
    bool named;
    aws_profile_t *p = NULL;
    char err[256];
    char *region = NULL;
    if (aws_profile_load(profile_name(s, &named), NULL, NULL, &p, err, sizeof err) == 0) {
        const char *r = aws_profile_get(p, "region");
        if (r)
            region = xstrdup(r);
    }
    aws_profile_free(p);
    return region ? region : xstrdup("us-east-1");
}

/* ---- Providers ---------------------------------------------------------------------- */

enum kind { K_STATIC, K_ENV, K_ASSUME, K_WEB, K_CONTAINER, K_IMDS, K_CHAIN };

struct aws_creds {
    enum kind kind;
    pthread_mutex_t lock; /* guards cur/have/stale/resolved; taken before a base's lock */
    struct aws_credentials cur;
    bool have, stale;
    struct aws_settings_copy set;
    char label[96];
    /* K_STATIC */
    char *akid, *secret, *token;
    /* K_ASSUME, K_WEB */
    aws_creds_t *base;
    bool own_base;
    char *role_arn, *external_id, *session_name, *token_file, *region;
    /* K_CHAIN */
    aws_creds_t *resolved;
};

static aws_creds_t *provider_new(enum kind kind, const struct aws_settings *s, const char *label)
{
    aws_creds_t *p = xcalloc(1, sizeof *p);
    p->kind = kind;
    pthread_mutex_init(&p->lock, NULL);
    aws_settings_copy(&p->set, s);
    snprintf(p->label, sizeof p->label, "%s", label);
    return p;
}

void aws_creds_free(aws_creds_t *p)
{
    if (!p)
        return;
    aws_credentials_clear(&p->cur);
    aws_settings_release(&p->set);
    free(p->akid);
    wipe(p->secret);
    wipe(p->token);
    if (p->own_base)
        aws_creds_free(p->base);
    aws_creds_free(p->resolved);
    free(p->role_arn);
    free(p->external_id);
    free(p->session_name);
    free(p->token_file);
    free(p->region);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

static aws_creds_t *static_new(const struct aws_settings *s, const char *akid, const char *secret,
                               const char *token, const char *label)
{
    aws_creds_t *p = provider_new(K_STATIC, s, label);
    p->akid = xstrdup(akid);
    p->secret = xstrdup(secret);
    p->token = token && *token ? xstrdup(token) : NULL;
    return p;
}

aws_creds_t *aws_creds_new_static(const char *access_key_id, const char *secret_access_key,
                                  const char *session_token)
{
    struct aws_settings s = {0};
    return static_new(&s, access_key_id, secret_access_key, session_token, "static keys");
}

static aws_creds_t *assume_new(aws_creds_t *base, bool own, const struct aws_settings *s,
                               const char *role_arn, const char *external_id,
                               const char *session_name, const char *label)
{
    aws_creds_t *p = provider_new(K_ASSUME, s, label);
    p->base = base;
    p->own_base = own;
    p->role_arn = xstrdup(role_arn);
    p->external_id = external_id && *external_id ? xstrdup(external_id) : NULL;
    p->session_name = xstrdup(session_name && *session_name ? session_name : DEFAULT_SESSION_NAME);
    p->region = aws_creds_default_region(s);
    return p;
}

aws_creds_t *aws_creds_new_assume_role(aws_creds_t *base, const struct aws_settings *s,
                                       const char *role_arn, const char *external_id,
                                       const char *session_name, char *err, size_t errlen)
{
    if (!base || !role_arn || strncmp(role_arn, "arn:", 4) != 0) {
        snprintf(err, errlen, "assume role: '%s' is not a role ARN", role_arn ? role_arn : "");
        return NULL;
    }
    char label[96];
    snprintf(label, sizeof label, "assume-role %.80s", role_arn);
    return assume_new(base, false, s, role_arn, external_id, session_name, label);
}

/* Form-encodes `v` (RFC 3986 unreserved characters kept) onto the end of *buf. */
static void form_append(char **buf, const char *key, const char *v)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t klen = strlen(key), vlen = strlen(v), old = *buf ? strlen(*buf) : 0;
    char *out = xmalloc(old + klen + 3 * vlen + 3);
    size_t n = 0;
    if (old) {
        memcpy(out, *buf, old);
        n = old;
        out[n++] = '&';
    }
    memcpy(out + n, key, klen);
    n += klen;
    out[n++] = '=';
    for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
        if (isalnum(*c) || *c == '-' || *c == '_' || *c == '.' || *c == '~') {
            out[n++] = (char)*c;
        } else {
            out[n++] = '%';
            out[n++] = hex[*c >> 4];
            out[n++] = hex[*c & 15];
        }
    }
    out[n] = '\0';
    if (*buf)
        wipe(*buf);
    *buf = out;
}

/* Takes the Credentials of an STS answer. */
static int sts_result(ec2_xml_t *x, struct aws_credentials *out, const char *label, char *err,
                      size_t errlen)
{
    const char *akid = ec2_xml_meta(x, "AccessKeyId");
    const char *secret = ec2_xml_meta(x, "SecretAccessKey");
    const char *token = ec2_xml_meta(x, "SessionToken");
    const char *exp = ec2_xml_meta(x, "Expiration");
    time_t t;
    if (!akid || !*akid || !secret || !*secret || !token || !*token || parse_iso8601(exp, &t) < 0) {
        snprintf(err, errlen, "%s: STS answer without complete Credentials (request id %s)", label,
                 ec2_xml_request_id(x) ? ec2_xml_request_id(x) : "none");
        return -EINVAL;
    }
    out->access_key_id = xstrdup(akid);
    out->secret_access_key = xstrdup(secret);
    out->session_token = xstrdup(token);
    out->expiration = t;
    return 0;
}

static int read_token_file(const char *path, char **out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    char *buf = xmalloc(65537);
    size_t n = fread(buf, 1, 65536, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    if (n == 0 || strpbrk(buf, "\r\n")) {
        snprintf(err, errlen, "%s: empty or multi-line token", path);
        wipe(buf);
        return -EINVAL;
    }
    *out = buf;
    return 0;
}

static int fetch_sts(aws_creds_t *p, struct aws_credentials *out, char *err, size_t errlen)
{
    struct aws_settings s = p->set.s;
    s.region = p->region;
    s.role_arn = NULL;
    bool web = p->kind == K_WEB;
    aws_client_t *c = aws_client_new(&s, web ? NULL : p->base, err, errlen);
    if (!c)
        return -EINVAL;
    char *body = NULL, *token = NULL;
    int rc = 0;
    if (web) {
        rc = read_token_file(p->token_file, &token, err, errlen);
        if (rc < 0)
            goto done;
    }
    form_append(&body, "Action", web ? "AssumeRoleWithWebIdentity" : "AssumeRole");
    form_append(&body, "Version", "2011-06-15");
    form_append(&body, "RoleArn", p->role_arn);
    form_append(&body, "RoleSessionName", p->session_name);
    if (p->external_id)
        form_append(&body, "ExternalId", p->external_id);
    if (web)
        form_append(&body, "WebIdentityToken", token);
    struct aws_call call = {.service = "sts",
                            .operation = web ? "AssumeRoleWithWebIdentity" : "AssumeRole",
                            .body = body,
                            .unsigned_request = web};
    ec2_xml_t *x = NULL;
    rc = aws_client_query(c, &call, NULL, &x, err, errlen);
    if (rc == 0)
        rc = sts_result(x, out, p->label, err, errlen);
    ec2_xml_free(x);
done:
    wipe(body);
    wipe(token);
    aws_client_free(c);
    return rc;
}

/* Checks the host of a container credentials URL: https anywhere, http only to loopback
 * or the ECS/EKS agent addresses. */
static bool container_url_allowed(const char *url)
{
    if (strncasecmp(url, "https://", 8) == 0)
        return true;
    if (strncasecmp(url, "http://", 7) != 0)
        return false;
    const char *h = url + 7;
    char host[256];
    size_t n;
    if (*h == '[') {
        n = strcspn(h + 1, "]");
        if (n >= sizeof host)
            return false;
        memcpy(host, h + 1, n);
    } else {
        n = strcspn(h, ":/?#");
        if (n >= sizeof host)
            return false;
        memcpy(host, h, n);
    }
    host[n] = '\0';
    return strncmp(host, "127.", 4) == 0 || strcasecmp(host, "localhost") == 0 ||
           strcmp(host, "::1") == 0 || strcmp(host, "169.254.170.2") == 0 ||
           strcmp(host, "169.254.170.23") == 0 || strcasecmp(host, "fd00:ec2::23") == 0;
}

static int creds_from_json(const char *body, const char *what, struct aws_credentials *out,
                           char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *doc = json_loads(body, 0, &jerr);
    if (!doc) {
        snprintf(err, errlen, "%s: answer is not JSON (%s)", what, jerr.text);
        return -EINVAL;
    }
    const char *code = json_string_value(json_object_get(doc, "Code"));
    const char *akid = json_string_value(json_object_get(doc, "AccessKeyId"));
    const char *secret = json_string_value(json_object_get(doc, "SecretAccessKey"));
    const char *token = json_string_value(json_object_get(doc, "Token"));
    const char *exp = json_string_value(json_object_get(doc, "Expiration"));
    int rc = 0;
    time_t t = 0;
    if (code && strcmp(code, "Success") != 0) {
        const char *m = json_string_value(json_object_get(doc, "Message"));
        snprintf(err, errlen, "%s: %.100s: %.300s", what, code, m ? m : "");
        rc = -EACCES;
    } else if (!akid || !secret || (exp && parse_iso8601(exp, &t) < 0)) {
        snprintf(err, errlen, "%s: answer without AccessKeyId/SecretAccessKey/Expiration", what);
        rc = -EINVAL;
    } else {
        out->access_key_id = xstrdup(akid);
        out->secret_access_key = xstrdup(secret);
        out->session_token = token && *token ? xstrdup(token) : NULL;
        out->expiration = t;
    }
    json_object_clear(doc);
    json_decref(doc);
    return rc;
}

static int fetch_container(aws_creds_t *p, struct aws_credentials *out, char *err, size_t errlen)
{
    const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    char *url = rel && *rel ? xasprintf("http://169.254.170.2%s", rel) : xstrdup(full ? full : "");
    char *token = NULL, *auth = NULL;
    int rc = 0;
    if (!container_url_allowed(url)) {
        snprintf(err, errlen, "container credentials: URL host not allowed: %.200s", url);
        rc = -EINVAL;
        goto done;
    }
    const char *tf = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    if (tf && *tf) {
        rc = read_token_file(tf, &token, err, errlen);
        if (rc < 0)
            goto done;
    } else {
        const char *t = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
        if (t && *t) {
            if (strpbrk(t, "\r\n")) {
                snprintf(err, errlen, "container credentials: token contains a line break");
                rc = -EINVAL;
                goto done;
            }
            token = xstrdup(t);
        }
    }
    if (token)
        auth = xasprintf("Authorization: %s", token);
    const char *headers[] = {"Accept: application/json", auth, NULL};
    for (int attempt = 1; attempt <= 2; attempt++) {
        long status = 0;
        char *body = NULL;
        rc = aws_http_simple(&p->set.s, "GET", url, headers, CONTAINER_TIMEOUT_MS, &status, &body,
                             err, errlen);
        if (rc == 0 && status == 200) {
            rc = creds_from_json(body, "container credentials", out, err, errlen);
            wipe(body);
            break;
        }
        if (rc == 0) {
            snprintf(err, errlen, "container credentials: GET %.200s: HTTP %ld", url, status);
            rc = status == 401 || status == 403 ? -EACCES : -EIO;
        }
        wipe(body);
        if (rc == -EACCES)
            break;
    }
done:
    free(url);
    wipe(token);
    wipe(auth);
    return rc;
}

static int fetch_imds(aws_creds_t *p, struct aws_credentials *out, char *err, size_t errlen)
{
    const char *ep = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    char base[512];
    snprintf(base, sizeof base, "%s", ep && *ep ? ep : "http://169.254.169.254");
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        base[--bl] = '\0';
    char *url = xasprintf("%s/latest/api/token", base);
    const char *put_headers[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
    long status = 0;
    char *token = NULL, *role = NULL, *body = NULL, *hdr = NULL;
    int rc = aws_http_simple(&p->set.s, "PUT", url, put_headers, IMDS_TIMEOUT_MS, &status, &token,
                             err, errlen);
    if (rc == 0 && status != 200) {
        snprintf(err, errlen, "instance metadata: PUT %s: HTTP %ld", url, status);
        rc = -EIO;
    }
    if (rc < 0)
        goto done;
    hdr = xasprintf("X-aws-ec2-metadata-token: %s", text_trim(token));
    const char *get_headers[] = {hdr, NULL};
    free(url);
    url = xasprintf("%s/latest/meta-data/iam/security-credentials/", base);
    rc = aws_http_simple(&p->set.s, "GET", url, get_headers, IMDS_TIMEOUT_MS, &status, &role, err,
                         errlen);
    if (rc == 0 && status != 200) {
        snprintf(err, errlen, "instance metadata: GET %s: HTTP %ld", url, status);
        rc = status == 404 ? -ENOENT : -EIO;
    }
    if (rc < 0)
        goto done;
    char *r = text_trim(role);
    r[strcspn(r, "\r\n")] = '\0';
    if (!*r || strchr(r, '/')) {
        snprintf(err, errlen, "instance metadata: no IAM role attached");
        rc = -ENOENT;
        goto done;
    }
    free(url);
    url = xasprintf("%s/latest/meta-data/iam/security-credentials/%s", base, r);
    rc = aws_http_simple(&p->set.s, "GET", url, get_headers, IMDS_TIMEOUT_MS, &status, &body, err,
                         errlen);
    if (rc == 0 && status != 200) {
        snprintf(err, errlen, "instance metadata: GET %s: HTTP %ld", url, status);
        rc = -EIO;
    }
    if (rc == 0)
        rc = creds_from_json(body, "instance metadata", out, err, errlen);
done:
    free(url);
    wipe(token);
    free(role);
    wipe(body);
    wipe(hdr);
    return rc;
}

static int fetch_env(struct aws_credentials *out, char *err, size_t errlen)
{
    const char *akid = getenv("AWS_ACCESS_KEY_ID");
    const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv("AWS_SESSION_TOKEN");
    if (!token || !*token)
        token = getenv("AWS_SECURITY_TOKEN");
    if (!akid || !*akid || !secret || !*secret) {
        snprintf(err, errlen, "environment: AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY not set");
        return -ENOENT;
    }
    out->access_key_id = xstrdup(akid);
    out->secret_access_key = xstrdup(secret);
    out->session_token = token && *token ? xstrdup(token) : NULL;
    const char *exp = getenv("AWS_CREDENTIAL_EXPIRATION");
    if (exp && *exp && parse_iso8601(exp, &out->expiration) < 0) {
        snprintf(err, errlen, "environment: AWS_CREDENTIAL_EXPIRATION is not ISO 8601");
        aws_credentials_clear(out);
        return -EINVAL;
    }
    return 0;
}

static int resolve_chain(aws_creds_t *p, char *err, size_t errlen);

/* Fetches fresh credentials from the provider's source. Called with p->lock held. */
static int fetch(aws_creds_t *p, struct aws_credentials *out, char *err, size_t errlen)
{
    switch (p->kind) {
    case K_STATIC:
        out->access_key_id = xstrdup(p->akid);
        out->secret_access_key = xstrdup(p->secret);
        out->session_token = p->token ? xstrdup(p->token) : NULL;
        return 0;
    case K_ENV:
        return fetch_env(out, err, errlen);
    case K_ASSUME:
    case K_WEB:
        return fetch_sts(p, out, err, errlen);
    case K_CONTAINER:
        return fetch_container(p, out, err, errlen);
    case K_IMDS:
        return fetch_imds(p, out, err, errlen);
    case K_CHAIN:
        break;
    }
    return -EINVAL;
}

static bool fresh(const aws_creds_t *p, time_t now)
{
    return p->have && !p->stale &&
           (p->cur.expiration == 0 || p->cur.expiration - now > AWS_CREDS_REFRESH_MARGIN_S);
}

int aws_creds_get(aws_creds_t *p, struct aws_credentials *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&p->lock);
    int rc = 0;
    if (p->kind == K_CHAIN) {
        if (!p->resolved)
            rc = resolve_chain(p, err, errlen);
        aws_creds_t *r = p->resolved;
        pthread_mutex_unlock(&p->lock);
        return rc < 0 ? rc : aws_creds_get(r, out, err, errlen);
    }
    time_t now = time(NULL);
    if (!fresh(p, now)) {
        struct aws_credentials n = {0};
        rc = fetch(p, &n, err, errlen);
        if (rc == 0) {
            snprintf(n.source, sizeof n.source, "%s", p->label);
            aws_credentials_clear(&p->cur);
            p->cur = n;
            p->have = true;
            p->stale = false;
            if (p->kind != K_STATIC && p->kind != K_ENV) {
                char when[32] = "never";
                struct tm tm;
                if (n.expiration && gmtime_r(&n.expiration, &tm))
                    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
                LOG_INFO("credentials from %s (key ...%s, expire %s)", p->label,
                         key_tail(n.access_key_id), when);
            }
        } else if (p->have && !p->stale && p->cur.expiration > now) {
            LOG_WARN("refreshing credentials from %s failed, using the current ones until "
                     "they expire: %s",
                     p->label, err);
            rc = 0;
        }
    }
    if (rc == 0)
        aws_credentials_copy(out, &p->cur);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

void aws_creds_invalidate(aws_creds_t *p)
{
    pthread_mutex_lock(&p->lock);
    p->stale = true;
    aws_creds_t *r = p->kind == K_CHAIN ? p->resolved : NULL;
    pthread_mutex_unlock(&p->lock);
    if (r)
        aws_creds_invalidate(r);
}

/* ---- The chain ---------------------------------------------------------------------- */

static aws_creds_t *profile_keys(const struct aws_settings *s, const aws_profile_t *prof,
                                 const char *name)
{
    const char *akid = aws_profile_get(prof, "aws_access_key_id");
    const char *secret = aws_profile_get(prof, "aws_secret_access_key");
    if (!akid || !secret)
        return NULL;
    const char *origin = aws_profile_origin(prof, "aws_access_key_id");
    const char *leaf = origin ? strrchr(origin, '/') : NULL;
    char label[96];
    snprintf(label, sizeof label, "profile %.40s (%.40s)", name,
             leaf ? leaf + 1 : (origin ? origin : "?"));
    return static_new(s, akid, secret, aws_profile_get(prof, "aws_session_token"), label);
}

/* An assume-role (or web identity) provider from profile `name`, NULL when the profile has
 * no role_arn; -errno in *rc on errors. */
static aws_creds_t *profile_role(const struct aws_settings *s, const aws_profile_t *prof,
                                 const char *name, int depth, int *rc, char *err, size_t errlen)
{
    const char *role = aws_profile_get(prof, "role_arn");
    *rc = 0;
    if (!role)
        return NULL;
    if (depth >= AWS_PROFILE_MAX_DEPTH) {
        snprintf(err, errlen, "profile %s: source_profile chain longer than %d (a cycle?)", name,
                 AWS_PROFILE_MAX_DEPTH);
        *rc = -ELOOP;
        return NULL;
    }
    struct aws_settings sub = *s;
    const char *region = aws_profile_get(prof, "region");
    if (!sub.region && region)
        sub.region = region;
    const char *session = aws_profile_get(prof, "role_session_name");
    const char *xid = aws_profile_get(prof, "external_id");
    char label[96];
    snprintf(label, sizeof label, "profile %.24s (assume-role %.48s)", name, role);

    const char *wit = aws_profile_get(prof, "web_identity_token_file");
    if (wit) {
        aws_creds_t *p = provider_new(K_WEB, &sub, label);
        p->role_arn = xstrdup(role);
        p->token_file = xstrdup(wit);
        p->session_name = xstrdup(session ? session : DEFAULT_SESSION_NAME);
        p->region = aws_creds_default_region(&sub);
        return p;
    }
    aws_creds_t *base = NULL;
    const char *src = aws_profile_get(prof, "source_profile");
    const char *csrc = aws_profile_get(prof, "credential_source");
    if (src && csrc) {
        snprintf(err, errlen, "profile %s: both source_profile and credential_source", name);
        *rc = -EINVAL;
        return NULL;
    }
    if (src && strcmp(src, name) == 0) {
        base = profile_keys(s, prof, name);
    } else if (src) {
        aws_profile_t *sp = NULL;
        *rc = aws_profile_load(src, NULL, NULL, &sp, err, errlen);
        if (*rc < 0)
            return NULL;
        if (!aws_profile_exists(sp)) {
            snprintf(err, errlen, "profile %s: source_profile %s not found", name, src);
            aws_profile_free(sp);
            *rc = -ENOENT;
            return NULL;
        }
        base = profile_role(s, sp, src, depth + 1, rc, err, errlen);
        if (!base && *rc == 0)
            base = profile_keys(s, sp, src);
        aws_profile_free(sp);
        if (*rc < 0)
            return NULL;
    } else if (csrc) {
        if (strcmp(csrc, "Environment") == 0)
            base = provider_new(K_ENV, s, "environment");
        else if (strcmp(csrc, "Ec2InstanceMetadata") == 0)
            base = provider_new(K_IMDS, s, "instance metadata (IMDSv2)");
        else if (strcmp(csrc, "EcsContainer") == 0)
            base = provider_new(K_CONTAINER, s, "container credentials");
        else {
            snprintf(err, errlen, "profile %s: unknown credential_source '%s'", name, csrc);
            *rc = -EINVAL;
            return NULL;
        }
    } else {
        snprintf(err, errlen, "profile %s: role_arn without source_profile or credential_source",
                 name);
        *rc = -EINVAL;
        return NULL;
    }
    if (!base) {
        snprintf(err, errlen, "profile %s: source_profile %s has no credentials", name, src);
        *rc = -ENOENT;
        return NULL;
    }
    return assume_new(base, true, &sub, role, xid, session, label);
}

static int resolve_chain(aws_creds_t *chain, char *err, size_t errlen)
{
    const struct aws_settings *s = &chain->set.s;
    aws_creds_t *src = NULL;
    aws_profile_t *prof = NULL;
    int rc = 0;
    bool named = false;
    const char *name = profile_name(s, &named);

    if (s->access_key_id && *s->access_key_id && s->secret_access_key && *s->secret_access_key) {
        src = static_new(s, s->access_key_id, s->secret_access_key, s->session_token,
                         "configured static keys");
        goto found;
    }
    const char *ev = getenv("AWS_ACCESS_KEY_ID");
    const char *es = getenv("AWS_SECRET_ACCESS_KEY");
    if (!(s->profile && *s->profile) && ev && *ev && es && *es) {
        src = provider_new(K_ENV, s, "environment");
        goto found;
    }
    rc = aws_profile_load(name, NULL, NULL, &prof, err, errlen);
    if (rc < 0)
        goto fail;
    if (named && !aws_profile_exists(prof)) {
        char *cfg = default_path("AWS_CONFIG_FILE", "config");
        char *crd = default_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
        snprintf(err, errlen, "profile %s not found in %s or %s", name, cfg, crd);
        free(cfg);
        free(crd);
        rc = -ENOENT;
        goto fail;
    }
    src = profile_role(s, prof, name, 0, &rc, err, errlen);
    if (rc < 0)
        goto fail;
    if (src)
        goto found;
    const char *wit = getenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    const char *role = getenv("AWS_ROLE_ARN");
    if (wit && *wit && role && *role) {
        src = provider_new(K_WEB, s, "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)");
        src->role_arn = xstrdup(role);
        src->token_file = xstrdup(wit);
        const char *sn = getenv("AWS_ROLE_SESSION_NAME");
        src->session_name = xstrdup(sn && *sn ? sn : DEFAULT_SESSION_NAME);
        src->region = aws_creds_default_region(s);
        goto found;
    }
    src = profile_keys(s, prof, name);
    if (src)
        goto found;
    const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    if ((full && *full) || (rel && *rel)) {
        src = provider_new(K_CONTAINER, s, "container credentials");
        goto found;
    }
    const char *off = getenv("AWS_EC2_METADATA_DISABLED");
    if (!off || strcasecmp(off, "true") != 0) {
        src = provider_new(K_IMDS, s, "instance metadata (IMDSv2)");
        goto found;
    }
    snprintf(err, errlen,
             "no AWS credentials: none in the settings, the environment, profile %s of the "
             "shared files, or container credentials, and instance metadata is disabled",
             name);
    rc = -ENOENT;
    goto fail;

found:
    aws_profile_free(prof);
    if (s->role_arn && *s->role_arn) {
        char label[96];
        snprintf(label, sizeof label, "assume-role %.80s", s->role_arn);
        src = assume_new(src, true, s, s->role_arn, s->external_id, s->session_name, label);
    }
    LOG_DEBUG("credential source: %s", src->label);
    chain->resolved = src;
    return 0;
fail:
    aws_profile_free(prof);
    return rc;
}

aws_creds_t *aws_creds_new_chain(const struct aws_settings *s, char *err, size_t errlen)
{
    if (s->role_arn && *s->role_arn && strncmp(s->role_arn, "arn:", 4) != 0) {
        snprintf(err, errlen, "role_arn '%s' is not an ARN", s->role_arn);
        return NULL;
    }
    if ((s->access_key_id && *s->access_key_id) !=
        (s->secret_access_key && *s->secret_access_key)) {
        snprintf(err, errlen, "static keys need both access_key_id and secret_access_key");
        return NULL;
    }
    return provider_new(K_CHAIN, s, "default chain");
}
