/* Unit tests for config: every error names FILE:LINE, defaults, -X overrides, secrets and
 * their redaction, librdkafka validation of [kafka], and a randomized mutation run. */
#include "testing.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"
#include "config/config_keys.h"
#include "xalloc.h"

#define KAFKA_OK "[kafka]\nbootstrap.servers = 127.0.0.1:9092\n" /* lines 1-2 */

static char g_dir[256];
static char g_path[512];

static int setup_dir(void **state)
{
    if (testing_mkdtemp(g_dir, sizeof g_dir, "ipamwatch-test-config") != 0)
        return -1;
    unsetenv("IPAMWATCH_TEST_UNSET_VARIABLE");
    return 0;
}

static int teardown_dir(void **state)
{
    return testing_rm_rf(g_dir);
}

/* Writes text to DIR/name with the given mode; returns the path (static buffer). */
static const char *write_file(const char *name, const char *text, mode_t mode)
{
    snprintf(g_path, sizeof g_path, "%s/%s", g_dir, name);
    int fd = open(g_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
    return g_path;
}

static struct config *load_text(const char *text, char *err, size_t errlen)
{
    const char *path = write_file("t.conf", text, 0600);
    return config_load(path, NULL, 0, err, errlen);
}

static struct config *load_ok(const char *text)
{
    char err[1024] = "";
    struct config *cfg = load_text(text, err, sizeof err);
    if (!cfg)
        fail_msg("valid config refused: %s", err);
    return cfg;
}

/* Asserts that loading fails with an error that starts with "PATH:LINE: " and contains
 * every needle. */
static void expect_error_mode(const char *text, mode_t mode, unsigned line, const char *needle1,
                              const char *needle2)
{
    char err[1024] = "";
    const char *path = write_file("t.conf", text, mode);
    struct config *cfg = config_load(path, NULL, 0, err, sizeof err);
    if (cfg) {
        config_free(cfg);
        fail_msg("config loaded; want an error at line %u with '%s'\n--- text:\n%s", line, needle1,
                 text);
    }
    char want[600];
    snprintf(want, sizeof want, "%s:%u: ", path, line);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("error '%s' does not start with '%s'", err, want);
    if (needle1 && !strstr(err, needle1))
        fail_msg("error '%s' lacks '%s'", err, needle1);
    if (needle2 && !strstr(err, needle2))
        fail_msg("error '%s' lacks '%s'", err, needle2);
}

static void expect_error(const char *text, unsigned line, const char *needle1, const char *needle2)
{
    expect_error_mode(text, 0600, line, needle1, needle2);
}

static void test_error_paths(void **state)
{
    static const struct {
        const char *what;
        const char *text;
        unsigned line;
        const char *needle1, *needle2;
    } cases[] = {
        {"unknown key", KAFKA_OK "[aws]\nregion = eu-west-1\nfrobnicate = 1\n", 5,
         "[aws] frobnicate: unknown key", NULL},
        {"unknown section with a key", KAFKA_OK "[nosuch]\nkey = 1\n", 3,
         "[nosuch]: unknown section", NULL},
        {"empty unknown section", KAFKA_OK "\n# nothing below\n[nosuch]\n", 5,
         "[nosuch]: unknown section", NULL},
        {"unknown section before kafka", "[awz]\n" KAFKA_OK, 1, "[awz]: unknown section", NULL},
        {"duplicate key", KAFKA_OK "[aws]\nregion = eu-west-1\nregion = eu-west-2\n", 5,
         "[aws] region: given twice", "first at line 4"},
        {"duplicate kafka key", "[kafka]\nbootstrap.servers = a:1\nbootstrap.servers = b:1\n", 3,
         "[kafka] bootstrap.servers: given twice", NULL},
        {"duplicate section", KAFKA_OK "[aws]\n[log]\n[aws]\n", 5, "[aws]: section given twice",
         "first at line 3"},
        {"duplicate named section", KAFKA_OK "[domain \"a\"]\n[domain \"a\"]\n", 4,
         "[domain \"a\"]: section given twice", NULL},
        {"bad bool", KAFKA_OK "[journal]\nfsync = maybe\n", 4,
         "[journal] fsync: 'maybe' is not a boolean", NULL},
        {"bad int", KAFKA_OK "[aws]\nmax_attempts = three\n", 4,
         "[aws] max_attempts: 'three' is not an integer", NULL},
        {"bad number", KAFKA_OK "[collector]\ncloudtrail_rate = fast\n", 4,
         "[collector] cloudtrail_rate: 'fast' is not a number", NULL},
        {"bad duration", KAFKA_OK "[collector]\npoll_interval = 5 minutes\n", 4,
         "[collector] poll_interval: '5 minutes' is not a duration", NULL},
        {"bad size", KAFKA_OK "[sink \"f\"]\ntype = file\npath = /tmp/x\nspool_max = 5 parsecs\n",
         6, "[sink \"f\"] spool_max: '5 parsecs' is not a size", NULL},
        {"bad enum", KAFKA_OK "[log]\nlevel = loud\n", 4,
         "[log] level: 'loud' is not one of error|warn|info|debug", NULL},
        {"int out of bounds", KAFKA_OK "[aws]\nmax_attempts = 0\n", 4,
         "[aws] max_attempts: 0 is out of range (1 to 20)", NULL},
        {"duration under its minimum", KAFKA_OK "[collector]\ncloudtrail_overlap = 5m\n", 4,
         "[collector] cloudtrail_overlap: 5m is out of range (15m to 1d)", NULL},
        {"rate above 2/s", KAFKA_OK "[collector]\ncloudtrail_rate = 2.5\n", 4,
         "[collector] cloudtrail_rate: 2.5 is out of range", NULL},
        {"size out of bounds", KAFKA_OK "[sink \"f\"]\ntype = file\npath = /x\nspool_max = 1K\n", 6,
         "spool_max: 1K is out of range", NULL},
        {"step not whole seconds", KAFKA_OK "[rrd]\nstep = 1500ms\n", 4,
         "[rrd] step: 1500ms is not a whole number of seconds", NULL},
        {"bad list item", KAFKA_OK "[collector]\naccounts = 111111111111, 123\n", 4,
         "[collector] accounts: '123' is not an AWS account id", NULL},
        {"empty list item", KAFKA_OK "[collector]\nregions = eu-west-1,,eu-central-1\n", 4,
         "[collector] regions: empty item", NULL},
        {"bad host:port", KAFKA_OK "[metrics]\nlisten = localhost\n", 4,
         "[metrics] listen: 'localhost' is not host:port", NULL},
        {"warn reset equal to trigger",
         KAFKA_OK "[rule \"u\"]\ntype = utilization\nwarn_trigger = 80\nwarn_reset = 80\n", 6,
         "[rule \"u\"] warn_reset: 80 must be below warn_trigger (80)", NULL},
        {"crit reset above trigger", KAFKA_OK "[rule \"u\"]\ncrit_reset = 95\ntype = utilization\n",
         4, "[rule \"u\"] crit_reset: 95 must be below crit_trigger (90)", NULL},
        {"warn trigger above crit trigger",
         KAFKA_OK "[rule \"u\"]\ntype = utilization\nwarn_trigger = 95\n", 5,
         "warn_trigger: 95 must be below crit_trigger (90)", NULL},
        {"percent out of bounds", KAFKA_OK "[rule \"u\"]\ntype = utilization\nwarn_trigger = 101\n",
         5, "warn_trigger: 101 is out of range (0 to 100)", NULL},
        {"rule without type", KAFKA_OK "\n[rule \"r\"]\nseverity = critical\n", 4,
         "[rule \"r\"] type: required: one of utilization|cannot_fit|forecast", NULL},
        {"sink without its required url", KAFKA_OK "[sink \"am\"]\ntype = alertmanager\n", 3,
         "[sink \"am\"] url: required for alertmanager sinks", NULL},
        {"required url given empty", KAFKA_OK "[sink \"am\"]\ntype = alertmanager\nurl =\n", 5,
         "[sink \"am\"] url: required for alertmanager sinks (is empty)", NULL},
        {"required directory given empty", KAFKA_OK "[rrd]\ndir =\n", 4, "[rrd] dir: required",
         NULL},
        {"kafka without bootstrap.servers", "[log]\nlevel = info\n[kafka]\nacks = all\n", 3,
         "[kafka] bootstrap.servers: required", NULL},
        {"no kafka section at all", "[log]\nlevel = info\n\n", 3,
         "[kafka] bootstrap.servers: required", "no [kafka] section"},
        {"named section without a name", KAFKA_OK "[rule]\ntype = stale\n", 3,
         "[rule]: needs a quoted name", NULL},
        {"bad section name", KAFKA_OK "[rule \"bad name!\"]\ntype = stale\n", 3,
         "bad name \"bad name!\"", NULL},
        {"empty section name", KAFKA_OK "[sink \"\"]\n", 3, "[sink]: bad name \"\"", NULL},
        {"fixed section with a name", KAFKA_OK "[aws \"x\"]\n", 3, "[aws]: takes no name", NULL},
        {"text after a header", KAFKA_OK "[aws] region = x\n", 3, "after the section header", NULL},
        {"unknown rule type", KAFKA_OK "[rule \"r\"]\ntype = sparkle\n", 4,
         "[rule \"r\"] type: 'sparkle' is not one of utilization|", NULL},
        {"unknown sink type", KAFKA_OK "[sink \"s\"]\ntype = carrier-pigeon\n", 4,
         "[sink \"s\"] type: 'carrier-pigeon' is not one of alertmanager|", NULL},
        {"key of another rule type", KAFKA_OK "[rule \"r\"]\ntype = utilization\nnetmask = 20\n", 5,
         "[rule \"r\"] netmask: not a key of utilization rules (only of type cannot_fit)", NULL},
        {"key of another rule type before the type",
         KAFKA_OK "[rule \"r\"]\ndays = 30\nseverity = info\ntype = overlap\ndomain = d\n", 4,
         "[rule \"r\"] days: not a key of overlap rules (only of type forecast)", NULL},
        {"key of another sink type", KAFKA_OK "[sink \"s\"]\ntype = syslog\nurl = http://x\n", 5,
         "[sink \"s\"] url: not a key of syslog sinks (only of type "
         "alertmanager|pagerduty|webhook)",
         NULL},
        {"unknown rule key", KAFKA_OK "[rule \"r\"]\ntype = stale\nmax_age = 1h\n", 5,
         "[rule \"r\"] max_age: unknown key", NULL},
        {"overlap naming a missing domain",
         KAFKA_OK "[domain \"corp\"]\n[rule \"o\"]\ntype = overlap\ndomain = carp\n", 6,
         "[rule \"o\"] domain: no [domain \"carp\"] section is defined", NULL},
        {"overlap without a domain", KAFKA_OK "[rule \"o\"]\ntype = overlap\n", 3,
         "[rule \"o\"] domain: required for overlap rules", NULL},
        {"sink naming a missing rule",
         KAFKA_OK
         "[rule \"a\"]\ntype = stale\n[sink \"s\"]\ntype = file\npath = /x\nrules = a, b\n",
         8, "[sink \"s\"] rules: no [rule \"b\"] section is defined", NULL},
        {"backoff_max below backoff_min",
         KAFKA_OK "[sink \"w\"]\ntype = webhook\nurl = https://x\nbackoff_min = 10s\n"
                  "backoff_max = 5s\n",
         7, "[sink \"w\"] backoff_max: 5s is shorter than backoff_min (10s)", NULL},
        {"backoff_max given before a longer backoff_min",
         KAFKA_OK "[sink \"f\"]\nbackoff_max = 2m\ntype = file\npath = /x\nbackoff_min = 5m\n", 4,
         "[sink \"f\"] backoff_max: 2m is shorter than backoff_min (5m)", NULL},
        {"backoff_max below the default backoff_min",
         KAFKA_OK "[sink \"k\"]\ntype = kafka\nbackoff_max = 500ms\n", 5,
         "[sink \"k\"] backoff_max: 500ms is shorter than backoff_min (1s)", NULL},
        {"backoff_min below its bounds", KAFKA_OK "[sink \"f\"]\ntype = file\nbackoff_min = 50ms\n",
         5, "[sink \"f\"] backoff_min: 50ms is out of range (100ms to 1h)", NULL},
        {"backoff_max above its bounds", KAFKA_OK "[sink \"f\"]\ntype = file\nbackoff_max = 2h\n",
         5, "[sink \"f\"] backoff_max: 2h is out of range (100ms to 1h)", NULL},
        {"timeout below its bounds",
         KAFKA_OK "[sink \"p\"]\ntype = pagerduty\nrouting_key = k3y\n"
                  "timeout = 500ms\n",
         6, "[sink \"p\"] timeout: 500ms is out of range (1s to 5m)", NULL},
        {"timeout above its bounds",
         KAFKA_OK "[sink \"a\"]\ntype = alertmanager\nurl = http://am:9093\ntimeout = 6m\n", 6,
         "[sink \"a\"] timeout: 6m is out of range (1s to 5m)", NULL},
        {"timeout on a file sink", KAFKA_OK "[sink \"f\"]\ntype = file\npath = /x\ntimeout = 5s\n",
         6,
         "[sink \"f\"] timeout: not a key of file sinks (only of type "
         "alertmanager|pagerduty|slack|webhook|kafka)",
         NULL},
        {"timeout of a kafka sink below its bounds",
         KAFKA_OK "[sink \"k\"]\ntype = kafka\ntimeout = 999ms\n", 5,
         "[sink \"k\"] timeout: 999ms is out of range (1s to 5m)", NULL},
        {"timeout of a kafka sink above its bounds, given before the type",
         KAFKA_OK "[sink \"k\"]\ntimeout = 301s\ntype = kafka\n", 4,
         "[sink \"k\"] timeout: 301s is out of range (1s to 5m)", NULL},
        {"timeout on a syslog sink", KAFKA_OK "[sink \"s\"]\ntype = syslog\ntimeout = 5s\n", 5,
         "[sink \"s\"] timeout: not a key of syslog sinks", NULL},
        {"unknown sink key",
         KAFKA_OK "[sink \"w\"]\ntype = webhook\nurl = https://x\nbackoff = 5s\n", 6,
         "[sink \"w\"] backoff: unknown key", NULL},
        {"unknown sink key after a valid backoff pair",
         KAFKA_OK "[sink \"w\"]\ntype = webhook\nurl = https://x\nbackoff_min = 1s\n"
                  "backoff_max = 2s\nhttp_timeout = 5s\n",
         8, "[sink \"w\"] http_timeout: unknown key", NULL},
        {"unset environment variable",
         KAFKA_OK "[aws]\nsecret_access_key = ${IPAMWATCH_TEST_UNSET_VARIABLE}\n", 4,
         "[aws] secret_access_key: environment variable IPAMWATCH_TEST_UNSET_VARIABLE is not set",
         NULL},
        {"unset environment variable in kafka",
         "[kafka]\nbootstrap.servers = x:1\nsasl.password = ${IPAMWATCH_TEST_UNSET_VARIABLE}\n", 3,
         "[kafka] sasl.password: environment variable IPAMWATCH_TEST_UNSET_VARIABLE", NULL},
        {"missing secret file",
         KAFKA_OK "[sink \"p\"]\ntype = pagerduty\nrouting_key = @/nonexistent/ipamwatch-key\n", 5,
         "routing_key: cannot read secret file /nonexistent/ipamwatch-key",
         "No such file or directory"},
        {"key outside any section", "region = eu-west-1\n" KAFKA_OK, 1,
         "region: key outside any section", NULL},
        {"syntax error", KAFKA_OK "[aws]\nthis line has no equals sign\n", 4, "syntax error", NULL},
        {"missing bracket", KAFKA_OK "[aws\n", 3, "syntax error", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        printf("# case: %s\n", cases[i].what);
        expect_error(cases[i].text, cases[i].line, cases[i].needle1, cases[i].needle2);
    }
}

static void test_literal_secret_needs_private_file(void **state)
{
    const char *text = KAFKA_OK "[aws]\nregion = eu-west-1\nsecret_access_key = hunter2-literal\n";
    char err[1024];
    /* Private: accepted. */
    const char *path = write_file("t.conf", text, 0600);
    struct config *cfg = config_load(path, NULL, 0, err, sizeof err);
    if (!cfg)
        fail_msg("0600 file with a literal secret refused: %s", err);
    assert_string_equal(cfg->aws.secret_access_key, "hunter2-literal");
    config_free(cfg);
    /* World- or group-readable: refused, naming the file, the mode and the key's line. */
    expect_error_mode(text, 0644, 5, "[aws] secret_access_key: ", "mode 0644");
    expect_error_mode(text, 0640, 5, "chmod 600", "mode 0640");
    expect_error_mode(KAFKA_OK "[sink \"w\"]\ntype = webhook\nurl = https://x\nhmac_secret = k\n",
                      0604, 6, "[sink \"w\"] hmac_secret:", "mode 0604");
    expect_error_mode("[kafka]\nbootstrap.servers = x:1\nsasl.password = pw\n", 0644, 3,
                      "[kafka] sasl.password:", "mode 0644");
    /* A secret from the environment or a file does not care about the mode. */
    setenv("IPAMWATCH_TEST_SECRET", "from-env", 1);
    const char *ok = KAFKA_OK "[aws]\nsecret_access_key = ${IPAMWATCH_TEST_SECRET}\n";
    path = write_file("t.conf", ok, 0644);
    cfg = config_load(path, NULL, 0, err, sizeof err);
    if (!cfg)
        fail_msg("env secret in a 0644 file refused: %s", err);
    assert_string_equal(cfg->aws.secret_access_key, "from-env");
    config_free(cfg);
    /* The message names the path so the user can chmod it. */
    expect_error_mode(text, 0644, 5, g_path, NULL);
}

static void test_secret_file(void **state)
{
    char secret_path[600], text[1024];
    snprintf(secret_path, sizeof secret_path, "%s",
             write_file("key.txt", "pd-routing-key\n", 0600));
    snprintf(text, sizeof text, KAFKA_OK "[sink \"p\"]\ntype = pagerduty\nrouting_key = @%s\n",
             secret_path);
    struct config *cfg = load_ok(text);
    assert_int_equal(cfg->n_sinks, 1);
    assert_string_equal(cfg->sinks[0].routing_key, "pd-routing-key");
    assert_string_equal(cfg->sinks[0].url, "https://events.pagerduty.com/v2/enqueue");
    config_free(cfg);
    write_file("key.txt", "\n", 0600);
    expect_error(text, 5, "routing_key: secret file", "is empty");
}

static void test_defaults(void **state)
{
    struct config *def = config_default();
    struct config *cfg = load_ok(KAFKA_OK);
    const struct config *both[] = {def, cfg};
    for (size_t i = 0; i < 2; i++) {
        const struct config *c = both[i];
        assert_int_equal(c->aws.max_attempts, 3);
        assert_null(c->aws.region);
        assert_int_equal(c->aws.connect_timeout_ms, 5000);
        assert_int_equal(c->collector.poll_interval_ms, 300000);
        assert_int_equal(c->collector.cloudtrail_interval_ms, 60000);
        assert_int_equal(c->collector.cloudtrail_overlap_ms, 900000);
        assert_true(c->collector.cloudtrail_rate == 2.0);
        assert_int_equal(c->collector.accounts.n, 0);
        assert_string_equal(c->topics.inventory, "ipamwatch.inventory");
        assert_string_equal(c->topics.events, "ipamwatch.events");
        assert_string_equal(c->topics.alerts, "ipamwatch.alerts");
        assert_string_equal(c->topics.deadletter, "ipamwatch.deadletter");
        assert_string_equal(c->analyzer.group_id, "ipamwatch-analyzer");
        assert_int_equal(c->analyzer.forecast_window_ms, 90LL * 86400000);
        assert_int_equal(c->rrd.step_ms, 300000);
        assert_null(c->rrd.daemon);
        assert_non_null(strstr(c->rrd.dir, "/lib/ipamwatch/rrd"));
        assert_true(c->journal.fsync);
        assert_null(c->metrics.listen);
        assert_int_equal(c->log.level, CONFIG_LOG_INFO);
        assert_false(c->log.syslog);
        assert_true(c->log.to_stderr);
        assert_int_equal(c->n_rules + c->n_sinks + c->n_domains, 0);
    }
    assert_int_equal(def->n_kafka, 0);
    assert_int_equal(cfg->n_kafka, 1);
    config_free(def);
    config_free(cfg);
    config_free(NULL);
}

static void test_typed_values(void **state)
{
    struct config *cfg = load_ok(
        "# comment\n"
        "; another comment\n"
        "[aws]\r\n"
        "  region = eu-west-1   ; inline comment\n"
        "  max_attempts = 7\n"
        "[collector]\n"
        "poll_interval = 1h30m\n"
        "accounts = 111111111111 ,222222222222,  333333333333\n"
        "cloudtrail_rate = 0.5\n"
        "[journal]\nfsync = OFF\n"
        "[log]\nsyslog = 1\nstderr = false\nlevel = debug\n"
        "[rrd]\nstep = 60\ndaemon = unix:/run/rrdcached.sock\n" KAFKA_OK
        "[domain \"corp\"]\nstatic = 10.0.0.0/8, 2001:db8::/32\n"
        "[rule \"u\"]\ntype = utilization\nwarn_trigger = 70\ncrit_trigger = 85.5\n"
        "labels = team=net, tier=1\n"
        "[rule \"o\"]\ntype = overlap\ndomain = corp\n"
        "[rule \"a\"]\ntype = allocation_failed\n"
        "[rule \"f\"]\ntype = forecast\ntarget = crit\n"
        "[sink \"k\"]\ntype = kafka\nrules = u, o\n"
        "[sink \"w\"]\ntype = webhook\nurl = https://hooks.example.com/x\nspool_dir = /spool/w\n"
        "[sink \"s\"]\ntype = syslog\naddress = udp:127.0.0.1:514\n");
    assert_string_equal(cfg->aws.region, "eu-west-1");
    assert_int_equal(cfg->aws.max_attempts, 7);
    assert_int_equal(cfg->collector.poll_interval_ms, 5400000);
    assert_int_equal(cfg->collector.accounts.n, 3);
    assert_string_equal(cfg->collector.accounts.items[0], "111111111111");
    assert_string_equal(cfg->collector.accounts.items[2], "333333333333");
    assert_true(cfg->collector.cloudtrail_rate == 0.5);
    assert_false(cfg->journal.fsync);
    assert_true(cfg->log.syslog);
    assert_false(cfg->log.to_stderr);
    assert_int_equal(cfg->log.level, CONFIG_LOG_DEBUG);
    assert_int_equal(cfg->rrd.step_ms, 60000);
    assert_string_equal(cfg->rrd.daemon, "unix:/run/rrdcached.sock");
    assert_int_equal(cfg->n_domains, 1);
    assert_int_equal(cfg->domains[0].statics.n, 2);
    assert_string_equal(cfg->domains[0].statics.items[1], "2001:db8::/32");
    assert_int_equal(cfg->n_rules, 4);
    const struct config_rule *u = &cfg->rules[0];
    assert_string_equal(u->name, "u");
    assert_int_equal(u->type, CONFIG_RULE_UTILIZATION);
    assert_int_equal(u->severity, CONFIG_SEV_WARNING);
    assert_true(u->warn_trigger == 70 && u->warn_reset == 65);
    assert_true(u->crit_trigger == 85.5 && u->crit_reset == 80.5);
    assert_int_equal(u->for_ms, 900000);
    assert_int_equal(u->labels.n, 2);
    assert_string_equal(cfg->rules[1].domain, "corp");
    assert_int_equal(cfg->rules[2].window_ms, 3600000);         /* allocation_failed default */
    assert_int_equal(cfg->rules[3].window_ms, 90LL * 86400000); /* forecast default */
    assert_int_equal(cfg->rules[3].target, CONFIG_TARGET_CRIT);
    assert_int_equal(cfg->rules[3].days, 30);
    assert_int_equal(cfg->n_sinks, 3);
    assert_string_equal(cfg->sinks[0].topic, "ipamwatch.alerts");
    assert_int_equal(cfg->sinks[0].rules.n, 2);
    assert_non_null(strstr(cfg->sinks[0].spool_dir, "/analyzer/spool/k"));
    assert_string_equal(cfg->sinks[1].header, "X-Ipamwatch-Signature");
    assert_string_equal(cfg->sinks[1].spool_dir, "/spool/w");
    assert_false(cfg->sinks[1].insecure_skip_verify);
    assert_string_equal(cfg->sinks[2].address, "udp:127.0.0.1:514");
    assert_string_equal(cfg->sinks[2].app_name, "ipamwatch");
    assert_int_equal(cfg->sinks[2].line, 43);
    config_free(cfg);
}

static void test_bom_and_level(void **state)
{
    struct config *cfg = load_ok("\xEF\xBB\xBF[log]\nlevel = warn\n" KAFKA_OK);
    assert_int_equal(cfg->log.level, CONFIG_LOG_WARN);
    assert_int_equal(config_log_level(cfg), LOG_LEVEL_WARN);
    config_free(cfg);
    expect_error("\xEF\xBB\xBF[lag]\n" KAFKA_OK, 1, "[lag]: unknown section", NULL);
}

static void test_long_lines(void **state)
{
    /* 400 accounts: one line of about 5.6 KB, far over libinih's default 200 bytes. */
    size_t cap = 8192, off = 0;
    char *text = xmalloc(cap);
    off += (size_t)snprintf(text + off, cap - off, KAFKA_OK "[collector]\naccounts = ");
    for (int i = 0; i < 400; i++)
        off += (size_t)snprintf(text + off, cap - off, "%s%012d", i ? ", " : "", 100000000 + i);
    snprintf(text + off, cap - off, "\npoll_interval = 10m\n");
    struct config *cfg = load_ok(text);
    assert_int_equal(cfg->collector.accounts.n, 400);
    assert_string_equal(cfg->collector.accounts.items[399], "000100000399");
    assert_int_equal(cfg->collector.poll_interval_ms, 600000);
    config_free(cfg);
    free(text);
}

static void test_overrides(void **state)
{
    const char *text = "[kafka]\nbootstrap.servers = 127.0.0.1:9092\nqueue.buffering.max.ms = 5\n"
                       "acks = all\n";
    const char *path = write_file("t.conf", text, 0600);
    char err[1024];
    struct config_kv xs[2];
    assert_int_equal(config_kv_parse("queue.buffering.max.ms=50", &xs[0], err, sizeof err), 0);
    assert_int_equal(config_kv_parse("client.id=a=b", &xs[1], err, sizeof err), 0);
    assert_string_equal(xs[1].key, "client.id");
    assert_string_equal(xs[1].value, "a=b");
    assert_string_equal(xs[1].file, "-X");
    struct config *cfg = config_load(path, xs, 2, err, sizeof err);
    if (!cfg)
        fail_msg("%s", err);
    assert_int_equal(cfg->n_kafka, 5);
    assert_string_equal(cfg->kafka[1].key, "queue.buffering.max.ms");
    assert_string_equal(cfg->kafka[1].file, path);
    assert_int_equal(cfg->kafka[1].line, 3);
    assert_string_equal(cfg->kafka[3].value, "50");
    assert_int_equal(cfg->kafka[3].line, 0);
    assert_string_equal(config_kafka_get(cfg, "queue.buffering.max.ms"), "50");
    assert_string_equal(config_kafka_get(cfg, "acks"), "all");
    assert_null(config_kafka_get(cfg, "linger.ms"));
    assert_int_equal(config_check_kafka(cfg, err, sizeof err), 0);
    /* The dump shows the winning value once. */
    char *dump = NULL;
    size_t dlen = 0;
    FILE *f = open_memstream(&dump, &dlen);
    assert_int_equal(config_dump(cfg, f), 0);
    fclose(f);
    assert_non_null(strstr(dump, "queue.buffering.max.ms = 50\n"));
    assert_null(strstr(dump, "queue.buffering.max.ms = 5\n"));
    free(dump);
    config_free(cfg);

    /* -X alone can supply the bootstrap list. */
    struct config_kv bs;
    assert_int_equal(config_kv_parse("bootstrap.servers=127.0.0.1:1", &bs, err, sizeof err), 0);
    path = write_file("t.conf", "[log]\nlevel = warn\n", 0600);
    cfg = config_load(path, &bs, 1, err, sizeof err);
    if (!cfg)
        fail_msg("%s", err);
    config_free(cfg);
    config_kv_clear(&bs);

    /* A bad -X names -X. */
    struct config_kv bad;
    assert_int_equal(config_kv_parse("queue.buffering.max.ms=banana", &bad, err, sizeof err), 0);
    path = write_file("t.conf", KAFKA_OK, 0600);
    cfg = config_load(path, &bad, 1, err, sizeof err);
    assert_non_null(cfg);
    assert_int_equal(config_check_kafka(cfg, err, sizeof err), -EINVAL);
    if (strncmp(err, "-X: [kafka] queue.buffering.max.ms: ", 36) != 0)
        fail_msg("'%s'", err);
    config_free(cfg);
    config_kv_clear(&bad);

    for (size_t i = 0; i < 2; i++)
        config_kv_clear(&xs[i]);
    config_kv_clear(NULL);
    struct config_kv kv;
    assert_int_equal(config_kv_parse("novalue", &kv, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "key=value"));
    assert_int_equal(config_kv_parse("=secret-typed-alone", &kv, err, sizeof err), -EINVAL);
    assert_null(strstr(err, "secret-typed-alone"));
    assert_int_equal(config_kv_parse("bad key=1", &kv, err, sizeof err), -EINVAL);
}

static void test_check_kafka(void **state)
{
    static const struct {
        const char *text;
        unsigned line;
        const char *key;
        const char *needle;
    } cases[] = {
        {"[kafka]\nbootstrap.servers = x:1\n\nno.such.property = 1\n", 4, "no.such.property",
         "No such configuration property"},
        {"[kafka]\nbootstrap.servers = x:1\nqueue.buffering.max.ms = banana\n", 3,
         "queue.buffering.max.ms", "queue.buffering.max.ms"},
        {"[kafka]\nbootstrap.servers = x:1\nacks = sometimes\n", 3, "acks", "acks"},
    };
    char err[1024], want[700];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct config *cfg = load_ok(cases[i].text);
        assert_int_equal(config_check_kafka(cfg, err, sizeof err), -EINVAL);
        snprintf(want, sizeof want, "%s:%u: [kafka] %s: ", g_path, cases[i].line, cases[i].key);
        if (strncmp(err, want, strlen(want)) != 0 || !strstr(err + strlen(want), cases[i].needle))
            fail_msg("error '%s', want prefix '%s' and '%s'", err, want, cases[i].needle);
        config_free(cfg);
    }
    struct config *cfg = load_ok("[kafka]\nbootstrap.servers = embedded\nlinger.ms = 5\n"
                                 "enable.idempotence = true\n");
    assert_int_equal(config_check_kafka(cfg, err, sizeof err), 0);
    config_free(cfg);
}

static char *dump_to_string(const struct config *cfg)
{
    char *dump = NULL;
    size_t dlen = 0;
    FILE *f = open_memstream(&dump, &dlen);
    assert_non_null(f);
    assert_int_equal(config_dump(cfg, f), 0);
    fclose(f);
    return dump;
}

/* The retry and timeout keys of sinks: defaults per type, given values, a backoff_max not
 * given rising to a longer backoff_min, and config_dump() showing timeout only where it
 * applies (the HTTP types and kafka). */
static void test_sink_timing(void **state)
{
    struct config *cfg = load_ok(KAFKA_OK "[sink \"w\"]\ntype = webhook\nurl = https://x\n"
                                          "[sink \"f\"]\ntype = file\npath = /x\n"
                                          "[sink \"p\"]\ntype = pagerduty\nrouting_key = k3y\n"
                                          "timeout = 20s\nbackoff_min = 250ms\nbackoff_max = 5m\n"
                                          "retry_max = 6h\n"
                                          "[sink \"s\"]\ntype = syslog\nbackoff_min = 2m\n"
                                          "[sink \"k\"]\ntype = kafka\nbackoff_min = 1m\n"
                                          "backoff_max = 1m\ntimeout = 3s\n");
    assert_int_equal(cfg->n_sinks, 5);
    static const struct {
        int64_t timeout, min, max, retry_max;
    } want[] = {
        {10000, 1000, 60000, 86400000}, /* webhook: defaults */
        {0, 1000, 60000, 86400000},     /* file: no timeout */
        {20000, 250, 300000, 21600000}, /* pagerduty: given */
        {0, 120000, 120000, 86400000},  /* syslog: backoff_max rises to backoff_min */
        {3000, 60000, 60000, 86400000}, /* kafka: equal is fine; timeout given */
    };
    for (size_t i = 0; i < 5; i++) {
        printf("# sink %s\n", cfg->sinks[i].name);
        assert_int_equal(cfg->sinks[i].timeout_ms, want[i].timeout);
        assert_int_equal(cfg->sinks[i].backoff_min_ms, want[i].min);
        assert_int_equal(cfg->sinks[i].backoff_max_ms, want[i].max);
        assert_int_equal(cfg->sinks[i].retry_max_ms, want[i].retry_max);
    }
    char *dump = dump_to_string(cfg);
    config_free(cfg);
    const char *w = strstr(dump, "[sink \"w\"]"), *f = strstr(dump, "[sink \"f\"]");
    const char *pd = strstr(dump, "[sink \"p\"]"), *sy = strstr(dump, "[sink \"s\"]");
    const char *ka = strstr(dump, "[sink \"k\"]");
    assert_true(w && f && pd && sy && ka && w < f && f < pd && pd < sy && sy < ka);
    const char *t = strstr(w, "\ntimeout = 10s\n");
    assert_true(t && t < f);
    t = strstr(f, "\ntimeout =");
    assert_true(t && t > pd); /* not in the file sink's section */
    assert_non_null(strstr(pd, "\nbackoff_min = 250ms\nbackoff_max = 5m\n"));
    assert_non_null(strstr(sy, "\nbackoff_min = 2m\nbackoff_max = 2m\n"));
    t = strstr(sy, "\ntimeout =");
    assert_true(t && t > ka); /* not in the syslog sink's section, in the kafka sink's */
    assert_non_null(strstr(ka, "\ntimeout = 3s\n"));
    /* ... and reads back the same. */
    cfg = load_ok(dump);
    assert_int_equal(cfg->sinks[2].timeout_ms, 20000);
    assert_int_equal(cfg->sinks[3].backoff_max_ms, 120000);
    assert_int_equal(cfg->sinks[4].timeout_ms, 3000);
    char *again = dump_to_string(cfg);
    assert_string_equal(strchr(dump, '\n'), strchr(again, '\n'));
    free(again);
    free(dump);
    config_free(cfg);
}

static void test_redaction(void **state)
{
    setenv("IPAMWATCH_TEST_SECRET_ENV", "Zq9-env-secret-7731", 1);
    struct config *cfg = load_ok(
        "[kafka]\nbootstrap.servers = 127.0.0.1:9092\nsasl.username = ipamwatch\n"
        "sasl.password = Zq9-kafka-secret-1\nssl.key.password = Zq9-kafka-secret-2\n"
        "sasl.oauthbearer.client.secret = Zq9-kafka-secret-3\n"
        "[aws]\naccess_key_id = AKIAZq9EXAMPLE\nsecret_access_key = Zq9-aws-secret\n"
        "session_token = ${IPAMWATCH_TEST_SECRET_ENV}\n"
        "[sink \"p\"]\ntype = pagerduty\nrouting_key = Zq9-pd-secret\n"
        "[sink \"s\"]\ntype = slack\nwebhook_url = https://hooks.slack.com/Zq9-slack-secret\n"
        "[sink \"w\"]\ntype = webhook\nurl = https://x.example.com\nhmac_secret = Zq9-hmac\n");
    /* The program sees the values... */
    assert_string_equal(cfg->aws.session_token, "Zq9-env-secret-7731");
    assert_string_equal(cfg->sinks[2].hmac_secret, "Zq9-hmac");
    assert_string_equal(config_kafka_get(cfg, "sasl.password"), "Zq9-kafka-secret-1");
    /* ...the dump never does. */
    char *dump = dump_to_string(cfg);
    if (strstr(dump, "Zq9"))
        fail_msg("a secret reached the dump:\n%s", dump);
    size_t n = 0;
    for (const char *p = dump; (p = strstr(p, "<redacted>")); p++)
        n++;
    assert_int_equal(n, 9);
    assert_non_null(strstr(dump, "sasl.username = ipamwatch\n"));
    assert_non_null(strstr(dump, "sasl.password = <redacted>\n"));
    free(dump);
    config_free(cfg);

    assert_true(config_is_secret_key("sasl.password"));
    assert_true(config_is_secret_key("ssl.key.password"));
    assert_true(config_is_secret_key("ssl.keystore.password"));
    assert_true(config_is_secret_key("sasl.oauthbearer.client.secret"));
    assert_true(config_is_secret_key("ssl.key.pem"));
    assert_false(config_is_secret_key("bootstrap.servers"));
    assert_false(config_is_secret_key("sasl.username"));
    assert_false(config_is_secret_key("ssl.ca.location"));
    assert_false(config_is_secret_key("sasl.oauthbearer.token.endpoint.url"));
    assert_true(config_is_secret_key("my.private.key"));
    assert_string_equal(config_redact("sasl.password", "pw"), "<redacted>");
    assert_string_equal(config_redact("acks", "all"), "all");
}

static void test_dump_reloads(void **state)
{
    const char *src = TOP_SRCDIR;
    char path[600], err[1024];
    snprintf(path, sizeof path, "%s/config/demo.conf", src);
    struct config *cfg = config_load(path, NULL, 0, err, sizeof err);
    if (!cfg)
        fail_msg("demo.conf: %s", err);
    assert_true(cfg->n_rules >= 7);
    char *first = dump_to_string(cfg);
    config_free(cfg);
    cfg = load_ok(first);
    char *second = dump_to_string(cfg);
    /* Identical after the first line, which names the file. */
    assert_string_equal(strchr(first, '\n'), strchr(second, '\n'));
    free(first);
    free(second);
    config_free(cfg);
}

/* Random mutations of a valid file: never a crash or leak, and every error names the file
 * and a line. */
static void test_random_mutations(void **state)
{
    srand(testing_seed());
    const char *base = KAFKA_OK "[aws]\nregion = eu-west-1\nmax_attempts = 4\n"
                                "[collector]\npoll_interval = 5m\naccounts = 111111111111\n"
                                "[domain \"d\"]\nstatic = 10.0.0.0/8\n"
                                "[rule \"r\"]\ntype = utilization\nwarn_trigger = 70\n"
                                "[rule \"o\"]\ntype = overlap\ndomain = d\n"
                                "[sink \"s\"]\ntype = webhook\nurl = https://x.example.com\n";
    static const char alphabet[] = "[]=\"#;, \n\r\tazAZ09.-_${}@/";
    size_t len = strlen(base);
    char *text = xmalloc(len + 16);
    char prefix[600];
    for (int iter = 0; iter < 400; iter++) {
        memcpy(text, base, len + 1);
        int edits = 1 + rand() % 3;
        for (int e = 0; e < edits; e++)
            text[(size_t)rand() % len] = alphabet[(size_t)rand() % (sizeof alphabet - 1)];
        char err[1024] = "";
        struct config *cfg = load_text(text, err, sizeof err);
        if (cfg) {
            char *d = dump_to_string(cfg);
            free(d);
            config_free(cfg);
            continue;
        }
        snprintf(prefix, sizeof prefix, "%s:", g_path);
        if (strncmp(err, prefix, strlen(prefix)) != 0)
            fail_msg("iteration %d: error '%s' does not name the file\n%s", iter, err, text);
    }
    free(text);
}

/* README.md's configuration reference documents every key of the table, in a row of its section's
 * table. */
static void test_reference_lists_every_key(void **state)
{
    char path[600];
    snprintf(path, sizeof path, "%s/README.md", TOP_SRCDIR);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *doc = xmalloc(1 << 20);
    size_t n = fread(doc, 1, (1 << 20) - 1, f);
    doc[n] = '\0';
    fclose(f);
    for (size_t i = 0; i < cfg_n_keys; i++) {
        const struct cfg_key *k = &cfg_keys[i];
        char heading[64], row[96];
        if (k->section == CFG_SEC_DOMAIN || k->section == CFG_SEC_RULE ||
            k->section == CFG_SEC_SINK)
            snprintf(heading, sizeof heading, "### `[%s \"NAME\"]`", cfg_section_names[k->section]);
        else
            snprintf(heading, sizeof heading, "### `[%s]`", cfg_section_names[k->section]);
        const char *sec = strstr(doc, heading);
        if (!sec)
            fail_msg("%s lacks the heading %s", path, heading);
        const char *end = strstr(sec + 4, "\n### ");
        snprintf(row, sizeof row, "| `%s` |", k->name);
        const char *hit = strstr(sec, row);
        if (!hit || (end && hit > end))
            fail_msg("%s: section %s does not document key %s", path, heading, k->name);
    }
    free(doc);
}

static void test_unreadable_file(void **state)
{
    char err[1024];
    struct config *cfg = config_load("/nonexistent/ipamwatch.conf", NULL, 0, err, sizeof err);
    assert_null(cfg);
    assert_string_equal(err, "/nonexistent/ipamwatch.conf: cannot open: No such file or directory");
    cfg = config_load(g_dir, NULL, 0, err, sizeof err);
    assert_null(cfg);
    assert_non_null(strstr(err, "not a regular file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_paths),
        cmocka_unit_test(test_literal_secret_needs_private_file),
        cmocka_unit_test(test_secret_file),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_typed_values),
        cmocka_unit_test(test_sink_timing),
        cmocka_unit_test(test_bom_and_level),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_overrides),
        cmocka_unit_test(test_check_kafka),
        cmocka_unit_test(test_redaction),
        cmocka_unit_test(test_dump_reloads),
        cmocka_unit_test(test_random_mutations),
        cmocka_unit_test(test_reference_lists_every_key),
        cmocka_unit_test(test_unreadable_file),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
