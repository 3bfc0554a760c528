/* Unit tests for aws_creds: environment, shared files and profiles, source_profile chains,
 * bad files with path:line, container and IMDSv2 sources, region, no secret in the log.
 * HOME and every AWS_* variable are isolated per test. */
#include "config.h"

#include "testing.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "aws_test_server.h"
#include "collector/aws_creds.h"
#include "log.h"

extern char **environ;
static char home[64];

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", home, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static int isolate(void **state)
{
    /* drop every AWS_* variable */
    for (;;) {
        char *victim = NULL;
        for (char **e = environ; *e; e++)
            if (strncmp(*e, "AWS_", 4) == 0) {
                victim = *e;
                break;
            }
        if (!victim)
            break;
        char name[128];
        size_t n = strcspn(victim, "=");
        snprintf(name, sizeof name, "%.*s", (int)n, victim);
        unsetenv(name);
    }
    if (testing_mkdtemp(home, sizeof home, "aws-creds-home") != 0)
        fail_msg("mkdtemp");
    char dir[128];
    snprintf(dir, sizeof dir, "%s/.aws", home);
    mkdir(dir, 0700);
    setenv("HOME", home, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    return 0;
}

static int cleanup(void **state)
{
    return testing_rm_rf(home);
}

static int get(const struct aws_settings *s, struct aws_credentials *cr, char *err, size_t n)
{
    aws_creds_t *p = aws_creds_new_chain(s, err, n);
    assert_non_null(p);
    int rc = aws_creds_get(p, cr, err, n);
    aws_creds_free(p);
    return rc;
}

static void test_environment(void **state)
{
    setenv("AWS_ACCESS_KEY_ID", "AKIAENVKEY0001", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    struct aws_settings s = {0};
    struct aws_credentials cr;
    char err[512];
    assert_int_equal(get(&s, &cr, err, sizeof err), 0);
    assert_string_equal(cr.access_key_id, "AKIAENVKEY0001");
    assert_string_equal(cr.secret_access_key, "envsecret");
    assert_string_equal(cr.session_token, "envtoken");
    assert_string_equal(cr.source, "environment");
    aws_credentials_clear(&cr);
    /* static keys in the settings win over the environment */
    s.access_key_id = "AKIASETTINGS";
    s.secret_access_key = "x";
    assert_int_equal(get(&s, &cr, err, sizeof err), 0);
    assert_string_equal(cr.access_key_id, "AKIASETTINGS");
    assert_null(cr.session_token);
    aws_credentials_clear(&cr);
    /* an explicit profile ignores the environment keys */
    write_file(".aws/credentials",
               "[ops]\naws_access_key_id = AKIAOPS\naws_secret_access_key = o\n");
    struct aws_settings s2 = {.profile = "ops"};
    assert_int_equal(get(&s2, &cr, err, sizeof err), 0);
    assert_string_equal(cr.access_key_id, "AKIAOPS");
    aws_credentials_clear(&cr);
    /* half a key pair is refused */
    struct aws_settings s3 = {.access_key_id = "AKIA"};
    assert_null(aws_creds_new_chain(&s3, err, sizeof err));
}

static void test_profiles(void **state)
{
    char token[1501];
    memset(token, 'T', 1500);
    token[1500] = '\0';
    char creds[2048];
    snprintf(creds, sizeof creds,
             "# comment\n[default]\naws_access_key_id = AKIADEFAULT\n"
             "aws_secret_access_key = d\n\n[dev]\naws_access_key_id=AKIADEVCREDS\n"
             "aws_secret_access_key = devsecret\naws_session_token = %s\n",
             token);
    write_file(".aws/credentials", creds);
    write_file(".aws/config", "[default]\nregion = eu-west-1\n[profile dev]\nregion = "
                              "eu-central-1\naws_access_key_id = AKIADEVCONFIG\n"
                              "s3 =\n  max_concurrent_requests = 5\n"
                              "[sso-session x]\nsso_region = us-east-1\n");
    aws_profile_t *p = NULL;
    char err[512];
    assert_int_equal(aws_profile_load("dev", NULL, NULL, &p, err, sizeof err), 0);
    assert_true(aws_profile_exists(p));
    assert_string_equal(aws_profile_get(p, "aws_access_key_id"), "AKIADEVCREDS");
    assert_string_equal(aws_profile_get(p, "region"), "eu-central-1");
    assert_string_equal(aws_profile_get(p, "aws_session_token"), token);
    assert_null(aws_profile_get(p, "max_concurrent_requests"));
    assert_non_null(strstr(aws_profile_origin(p, "aws_access_key_id"), "/.aws/credentials"));
    assert_non_null(strstr(aws_profile_origin(p, "region"), "/.aws/config"));
    aws_profile_free(p);

    struct aws_settings s = {0};
    struct aws_credentials cr;
    assert_int_equal(get(&s, &cr, err, sizeof err), 0);
    assert_string_equal(cr.access_key_id, "AKIADEFAULT");
    aws_credentials_clear(&cr);
    setenv("AWS_PROFILE", "dev", 1);
    assert_int_equal(get(&s, &cr, err, sizeof err), 0);
    assert_string_equal(cr.access_key_id, "AKIADEVCREDS");
    assert_int_equal(strlen(cr.session_token), 1500);
    assert_non_null(strstr(cr.source, "profile dev"));
    aws_credentials_clear(&cr);
    char *region = aws_creds_default_region(&s);
    assert_string_equal(region, "eu-central-1");
    free(region);
    setenv("AWS_REGION", "ap-south-1", 1);
    region = aws_creds_default_region(&s);
    assert_string_equal(region, "ap-south-1");
    free(region);

    /* a named profile that does not exist is an error, naming both files */
    setenv("AWS_PROFILE", "nope", 1);
    assert_int_equal(get(&s, &cr, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "profile nope not found"));
    /* files given by the environment; missing files are no error */
    setenv("AWS_PROFILE", "dev", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    assert_int_equal(aws_profile_load("dev", NULL, NULL, &p, err, sizeof err), 0);
    assert_false(aws_profile_exists(p));
    aws_profile_free(p);
    assert_int_equal(get(&s, &cr, err, sizeof err), -ENOENT);
    unsetenv("AWS_PROFILE");
    assert_int_equal(get(&s, &cr, err, sizeof err), -ENOENT); /* nothing anywhere */
    assert_non_null(strstr(err, "no AWS credentials"));
}

static void test_bad_files(void **state)
{
    static const struct {
        const char *text;
        const char *where;
    } cases[] = {
        {"[default]\naws_access_key_id = A\n[profile x\n", "config:3: section header"},
        {"[default]\n\njust some words\n", "config:3: expected"},
        {"region = eu-west-1\n", "config:1: setting before any [section]"},
        {"[default]\n = value\n", "config:2: empty key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file("config", cases[i].text);
        char path[128], err[512] = "";
        snprintf(path, sizeof path, "%s/config", home);
        aws_profile_t *p = NULL;
        int rc = aws_profile_load("default", path, "/nonexistent", &p, err, sizeof err);
        if (rc != -EINVAL || !strstr(err, cases[i].where) || !strstr(err, home))
            fail_msg("case %zu: rc %d err '%s', want '%s'", i, rc, err, cases[i].where);
        assert_null(p);
        /* the chain reports the same */
        setenv("AWS_CONFIG_FILE", path, 1);
        struct aws_settings s = {0};
        struct aws_credentials cr;
        assert_int_equal(get(&s, &cr, err, sizeof err), -EINVAL);
        assert_non_null(strstr(err, cases[i].where));
    }
    /* an unreadable path (a directory) */
    char err[512];
    aws_profile_t *p = NULL;
    assert_int_equal(aws_profile_load("default", home, "/nonexistent", &p, err, sizeof err), -EIO);
}

static void test_source_profile_chains(void **state)
{
    write_file(".aws/credentials", "[base]\naws_access_key_id = AKIABASE\n"
                                   "aws_secret_access_key = basesecret\n");
    write_file(".aws/config",
               "[profile reader]\nrole_arn = arn:aws:iam::222233334444:role/Reader\n"
               "source_profile = base\nexternal_id = ext-1\nrole_session_name = rs\n"
               "[profile hop]\nrole_arn = arn:aws:iam::333344445555:role/Hop\n"
               "source_profile = reader\n"
               "[profile loop1]\nrole_arn = arn:aws:iam::1:role/A\nsource_profile = loop2\n"
               "[profile loop2]\nrole_arn = arn:aws:iam::1:role/B\nsource_profile = loop1\n"
               "[profile orphan]\nrole_arn = arn:aws:iam::1:role/C\nsource_profile = gone\n"
               "[profile bare]\nrole_arn = arn:aws:iam::1:role/D\n"
               "[profile weird]\nrole_arn = arn:aws:iam::1:role/E\ncredential_source = Moon\n");
    /* STS is a closed local port: the chain must get as far as calling AssumeRole */
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1", 1);
    setenv("AWS_MAX_ATTEMPTS", "1", 1);
    static const struct {
        const char *profile;
        int rc;
        const char *text;
    } cases[] = {
        {"reader", -EIO, "sts AssumeRole"},
        {"hop", -EIO, "sts AssumeRole"},
        {"loop1", -ELOOP, "cycle"},
        {"orphan", -ENOENT, "source_profile gone not found"},
        {"bare", -EINVAL, "role_arn without source_profile"},
        {"weird", -EINVAL, "unknown credential_source 'Moon'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct aws_settings s = {.profile = cases[i].profile};
        struct aws_credentials cr;
        char err[512] = "";
        int rc = get(&s, &cr, err, sizeof err);
        if (rc != cases[i].rc || !strstr(err, cases[i].text))
            fail_msg("%s: rc %d '%s', want %d '%s'", cases[i].profile, rc, err, cases[i].rc,
                     cases[i].text);
    }
}

static const char creds_json[] =
    "{\"AccessKeyId\":\"ASIACONTAINERKEY9\",\"SecretAccessKey\":\"contsecret\",\"Token\":"
    "\"conttoken\",\"Expiration\":\"2099-01-01T00:00:00Z\"}";

static void test_container(void **state)
{
    char *ok = ts_response(200, "application/json", creds_json);
    const char *resp[] = {ok};
    struct test_server ts;
    ts_start(&ts, resp, 1);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/container-credentials", ts.port);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", url, 1);
    write_file("ctoken", "Bearer-xyz\n");
    char tf[128];
    snprintf(tf, sizeof tf, "%s/ctoken", home);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", tf, 1);
    struct aws_settings s = {0};
    struct aws_credentials cr;
    char err[512];
    aws_creds_t *p = aws_creds_new_chain(&s, err, sizeof err);
    assert_int_equal(aws_creds_get(p, &cr, err, sizeof err), 0);
    assert_string_equal(cr.access_key_id, "ASIACONTAINERKEY9");
    assert_string_equal(cr.session_token, "conttoken");
    assert_int_equal(cr.expiration, 4070908800);
    aws_credentials_clear(&cr);
    /* cached: a second get does not call again */
    assert_int_equal(aws_creds_get(p, &cr, err, sizeof err), 0);
    aws_credentials_clear(&cr);
    assert_int_equal(ts.nreq, 1);
    assert_non_null(strstr(ts.requests[0], "GET /container-credentials"));
    assert_non_null(strstr(ts.requests[0], "Authorization: Bearer-xyz\r\n"));
    /* invalidated: fetched again */
    aws_creds_invalidate(p);
    assert_int_equal(aws_creds_get(p, &cr, err, sizeof err), 0);
    aws_credentials_clear(&cr);
    assert_int_equal(ts.nreq, 2);
    aws_creds_free(p);
    ts_stop(&ts);
    free(ok);
    /* only loopback or https */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://192.0.2.1/creds", 1);
    assert_int_equal(get(&s, &cr, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "not allowed"));
}

static void test_imds_and_no_secret_in_log(void **state)
{
    struct testing_capture cap;
    testing_capture_begin(&cap);
    log_set_level(LOG_LEVEL_DEBUG);

    char *tok = ts_response(200, "text/plain", "imds-session-token");
    char *role = ts_response(200, "text/plain", "node-role\n");
    char *json = ts_response(200, "application/json",
                             "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":"
                             "\"ASIAIMDSKEYWXYZ\",\"SecretAccessKey\":\"imdssecretvalue\","
                             "\"Token\":\"imdssessiontokenvalue\",\"Expiration\":"
                             "\"2099-01-01T00:00:00Z\"}");
    const char *resp[] = {tok, role, json};
    struct test_server ts;
    ts_start(&ts, resp, 3);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", ts.port);
    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
    struct aws_settings s = {0};
    struct aws_credentials cr = {0};
    char err[512];
    int rc = get(&s, &cr, err, sizeof err);
    ts_stop(&ts);

    char *buf = testing_capture_end(&cap);
    log_set_level(LOG_LEVEL_INFO);
    if (rc != 0)
        fail_msg("imds: %s", err);
    assert_string_equal(cr.access_key_id, "ASIAIMDSKEYWXYZ");
    assert_string_equal(cr.session_token, "imdssessiontokenvalue");
    aws_credentials_clear(&cr);
    assert_non_null(strstr(buf, "credentials from instance metadata (IMDSv2) (key ...WXYZ"));
    if (strstr(buf, "imdssecretvalue") || strstr(buf, "imdssessiontokenvalue") ||
        strstr(buf, "ASIAIMDSKEY") || strstr(buf, "imds-session-token"))
        fail_msg("a secret reached the log:\n%s", buf);
    free(buf);
    free(tok);
    free(role);
    free(json);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    log_init("test_aws_creds", LOG_LEVEL_INFO, true, false);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_environment, isolate, cleanup),
        cmocka_unit_test_setup_teardown(test_profiles, isolate, cleanup),
        cmocka_unit_test_setup_teardown(test_bad_files, isolate, cleanup),
        cmocka_unit_test_setup_teardown(test_source_profile_chains, isolate, cleanup),
        cmocka_unit_test_setup_teardown(test_container, isolate, cleanup),
        cmocka_unit_test_setup_teardown(test_imds_and_no_secret_in_log, isolate, cleanup),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
