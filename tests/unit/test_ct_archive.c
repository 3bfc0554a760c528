/* Unit tests for ct_archive: listing, ordering and streaming CloudTrail log files into Kafka. */
#include "testing.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "collector/ct_archive.h"
#include "devbroker.h"

/* ---- helpers --------------------------------------------------------------------------- */

static void mkdirs(const char *path)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(buf, 0755);
            *p = '/';
        }
    }
    mkdir(buf, 0755);
}

/* Writes `text` to `dir`/`rel` (folders created), gzip'd when `gz`. */
static void put(const char *dir, const char *rel, const char *text, bool gz)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char *slash = strrchr(path, '/');
    *slash = '\0';
    mkdirs(path);
    *slash = '/';
    if (gz) {
        gzFile f = gzopen(path, "wb9");
        assert_non_null(f);
        assert_int_equal(gzwrite(f, text, (unsigned)strlen(text)), (int)strlen(text));
        assert_int_equal(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
    }
}

/* Reads a whole file; returns its bytes (owned) and size. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*len + 1);
    assert_int_equal(fread(b, 1, *len, f), *len);
    fclose(f);
    return b;
}

static void spill(const char *path, const unsigned char *b, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, len, f), len);
    fclose(f);
}

/* One CloudTrail record as JSON text. */
static char *event(const char *id, const char *name, const char *time, const char *account,
                   const char *region)
{
    json_t *j = json_pack(
        "{s:s, s:{s:s, s:s, s:s}, s:s, s:s, s:s, s:s, s:s, s:{s:s, s:i}, s:n, s:s, s:s, s:s}",
        "eventVersion", "1.10", "userIdentity", "type", "AssumedRole", "arn",
        "arn:aws:sts::111122223333:assumed-role/Deployer/terraform", "accountId", account,
        "eventTime", time, "eventSource", "ec2.amazonaws.com", "eventName", name, "awsRegion",
        region, "sourceIPAddress", "198.51.100.7", "requestParameters", "ipv4IpamPoolId",
        "ipam-pool-0fedcba9876543210", "ipv4NetmaskLength", 20, "responseElements", "eventID", id,
        "recipientAccountId", account, "userAgent", "terraform \"quoted\" ]} [{");
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

/* {"Records":[...]} of the NULL-terminated list of record texts (freed here). */
static char *records(char *first, ...)
{
    size_t cap = 64, len = 0;
    char *out = malloc(cap);
    len = (size_t)snprintf(out, cap, "{\"Records\":[");
    va_list ap;
    va_start(ap, first);
    int n = 0;
    for (char *r = first; r; r = va_arg(ap, char *), n++) {
        size_t need = len + strlen(r) + 8;
        if (need > cap) {
            cap = need * 2;
            out = realloc(out, cap);
        }
        len += (size_t)snprintf(out + len, cap - len, "%s%s", n ? ",\n " : "", r);
        free(r);
    }
    va_end(ap);
    out = realloc(out, len + 4);
    snprintf(out + len, 4, "]}\n");
    return out;
}

static char *tmpdir(void)
{
    char d[PATH_MAX];
    assert_int_equal(testing_mkdtemp(d, sizeof d, "ct_archive_test"), 0);
    return strdup(d);
}

struct seen {
    char ids[64][64];
    size_t n;
};

static int collect(json_t *rec, void *ctx)
{
    struct seen *s = ctx;
    const char *id = json_string_value(json_object_get(rec, "eventID"));
    if (s->n < 64)
        snprintf(s->ids[s->n++], sizeof s->ids[0], "%s", id ? id : "?");
    return 0;
}

/* ---- tests ----------------------------------------------------------------------------- */

static void test_file_time(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        int64_t ms;
    } cases[] = {
        {"AWSLogs/1/CloudTrail/eu-west-1/2025/03/14/"
         "1_CloudTrail_eu-west-1_20250314T1005Z_Ab.json.gz",
         1741946700000LL},
        {"x/1_CloudTrail_eu-west-1_20250314T1005Z_Ab.json", 1741946700000LL},
        {"AWSLogs/1/CloudTrail/eu-west-1/2025/03/14/odd-name.json.gz", 1741910400000LL},
        {"/a/2024/02/29/b/2025/03/14/c.json", 1741910400000LL},
        {"/a/2025/13/14/c.json", INT64_MAX},
        {"1_CloudTrail_r_20251314T1005Z_x.json", INT64_MAX},
        {"plain.json", INT64_MAX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t t = ct_archive_file_time(cases[i].path);
        if (t != cases[i].ms)
            fail_msg("%s: %lld, want %lld", cases[i].path, (long long)t, (long long)cases[i].ms);
    }
}

/* Every log file under the folder, in time order across accounts, Regions and layouts;
 * digests, hidden files and other files left out. */
static void test_list(void **state)
{
    (void)state;
    char *dir = tmpdir();
    const char *body = "{\"Records\":[]}";
    put(dir,
        "AWSLogs/111/CloudTrail/eu-west-1/2025/03/14/"
        "111_CloudTrail_eu-west-1_20250314T1010Z_b.json.gz",
        body, true);
    put(dir,
        "AWSLogs/o-abc/222/CloudTrail/eu-central-1/2025/03/14/"
        "222_CloudTrail_eu-central-1_20250314T1005Z_a.json.gz",
        body, true);
    put(dir,
        "AWSLogs/111/CloudTrail/eu-west-1/2025/03/13/"
        "111_CloudTrail_eu-west-1_20250313T2355Z_c.json",
        body, false);
    put(dir, "AWSLogs/111/CloudTrail/eu-west-1/2025/03/15/manual-export.json", body, false);
    put(dir,
        "AWSLogs/111/CloudTrail-Digest/eu-west-1/2025/03/14/"
        "111_CloudTrail-Digest_eu-west-1_x_20250314T1100Z.json.gz",
        body, true);
    put(dir, "AWSLogs/111/CloudTrail/eu-west-1/2025/03/14/.hidden.json.gz", body, true);
    put(dir, "AWSLogs/111/CloudTrail/eu-west-1/2025/03/14/notes.txt", body, false);
    put(dir, "undated.json", body, false);
    char **paths;
    size_t n;
    unsigned unreadable;
    char err[256];
    assert_int_equal(ct_archive_list(dir, &paths, &n, &unreadable, err, sizeof err), 0);
    static const char *const want[] = {"_20250313T2355Z_c.json", "_20250314T1005Z_a.json.gz",
                                       "_20250314T1010Z_b.json.gz", "/manual-export.json",
                                       "/undated.json"};
    assert_int_equal(n, 5);
    assert_int_equal(unreadable, 0);
    for (size_t i = 0; i < n; i++) {
        if (!strstr(paths[i], want[i]))
            fail_msg("position %zu: %s, want *%s", i, paths[i], want[i]);
        assert_true(strncmp(paths[i], dir, strlen(dir)) == 0);
        free(paths[i]);
    }
    free(paths);

    char missing[PATH_MAX];
    snprintf(missing, sizeof missing, "%s/no-such-folder", dir);
    assert_int_equal(ct_archive_list(missing, &paths, &n, &unreadable, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "no-such-folder"));
    assert_int_equal(testing_rm_rf(dir), 0);
    free(dir);
}

/* The Records array is streamed element by element, from gzip or plain files, whatever
 * other members the object has and whatever brackets hide in strings. */
static void test_read(void **state)
{
    (void)state;
    char *dir = tmpdir();
    char *a = event("e1", "CreateVpc", "2025-03-14T10:00:00Z", "111", "eu-west-1");
    char *b = event("e2", "AssumeRole", "2025-03-14T10:00:01Z", "111", "eu-west-1");
    size_t cap = strlen(a) + strlen(b) + 256;
    char *text = malloc(cap);
    int n = snprintf(text, cap,
                     "\xEF\xBB\xBF{ \"Meta\" : {\"x\": [1, \"]}\", {\"y\": null}]},\n"
                     "  \"Records\" : [ %s , %s ] , \"After\": \"\\\"\" }\n",
                     a, b);
    assert_true(n > 0 && (size_t)n < cap);
    put(dir, "f.json.gz", text, true);
    put(dir, "f.json", text, false);
    put(dir, "empty.json", "{\"Records\":[]}", false);
    static const char *const files[] = {"f.json.gz", "f.json"};
    for (size_t i = 0; i < 2; i++) {
        char path[PATH_MAX], err[512] = "";
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        struct seen s = {0};
        if (ct_archive_read_file(path, collect, &s, err, sizeof err) != 0)
            fail_msg("%s: %s", files[i], err);
        assert_int_equal(s.n, 2);
        assert_string_equal(s.ids[0], "e1");
        assert_string_equal(s.ids[1], "e2");
    }
    char path[PATH_MAX], err[512];
    snprintf(path, sizeof path, "%s/empty.json", dir);
    struct seen s = {0};
    assert_int_equal(ct_archive_read_file(path, collect, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 0);
    free(a);
    free(b);
    free(text);
    assert_int_equal(testing_rm_rf(dir), 0);
    free(dir);
}

/* Broken files end with the path and the reason; nothing after the damage is passed on. */
static void test_broken(void **state)
{
    (void)state;
    char *dir = tmpdir();
    char *big = records(event("b1", "CreateVpc", "2025-03-14T10:00:00Z", "111", "eu-west-1"),
                        event("b2", "CreateVpc", "2025-03-14T10:00:01Z", "111", "eu-west-1"),
                        event("b3", "CreateVpc", "2025-03-14T10:00:02Z", "111", "eu-west-1"), NULL);
    put(dir, "ok.json.gz", big, true);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/ok.json.gz", dir);
    size_t len;
    unsigned char *gz = slurp(path, &len);
    /* A flipped run of bytes inside the deflate data. */
    unsigned char *bad = malloc(len);
    memcpy(bad, gz, len);
    for (size_t i = len / 2; i < len / 2 + 8; i++)
        bad[i] ^= 0x5a;
    snprintf(path, sizeof path, "%s/corrupt.json.gz", dir);
    spill(path, bad, len);
    snprintf(path, sizeof path, "%s/truncated.json.gz", dir);
    spill(path, gz, len * 2 / 3);
    free(bad);
    free(gz);
    /* Plain JSON: cut, malformed inside a record, wrong shapes, trailing data. */
    char *cut = strndup(big, strlen(big) * 2 / 3);
    put(dir, "cut.json", cut, false);
    free(cut);
    put(dir, "badrec.json", "{\"Records\":[{\"eventID\":\"m1\"},{\"eventID\":\"m2\",}]}", false);
    put(dir, "norecords.json", "{\"records\":[]}", false);
    put(dir, "array.json", "[{\"eventID\":\"x\"}]", false);
    put(dir, "notarray.json", "{\"Records\":{\"eventID\":\"x\"}}", false);
    put(dir, "trailing.json", "{\"Records\":[]} {\"Records\":[]}", false);
    put(dir, "empty.json", "", false);
    put(dir, "unterminated.json", "{\"Records\":[{\"eventID\":\"u1\"}", false);
    free(big);

    static const struct {
        const char *file;
        int rc;
        const char *reason;
        size_t max_passed;
    } cases[] = {
        {"corrupt.json.gz", -EIO, "", 3},
        {"truncated.json.gz", -EIO, "truncated gzip", 3},
        {"cut.json", -EBADMSG, "truncated JSON", 2},
        {"badrec.json", -EBADMSG, "record 2", 1},
        {"norecords.json", -EBADMSG, "no Records", 0},
        {"array.json", -EBADMSG, "not a JSON object", 0},
        {"notarray.json", -EBADMSG, "not an array", 0},
        {"trailing.json", -EBADMSG, "after the end", 0},
        {"empty.json", -EBADMSG, "", 0},
        {"unterminated.json", -EBADMSG, "truncated", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "";
        struct seen s = {0};
        snprintf(path, sizeof path, "%s/%s", dir, cases[i].file);
        int rc = ct_archive_read_file(path, collect, &s, err, sizeof err);
        printf("# %s: %s\n", cases[i].file, err);
        if (rc != cases[i].rc)
            fail_msg("%s: rc %d, want %d (%s)", cases[i].file, rc, cases[i].rc, err);
        if (!strstr(err, path) || !strstr(err, cases[i].reason))
            fail_msg("%s: message '%s' lacks the path or '%s'", cases[i].file, err,
                     cases[i].reason);
        if (s.n > cases[i].max_passed)
            fail_msg("%s: %zu records passed", cases[i].file, s.n);
    }
    snprintf(path, sizeof path, "%s/absent.json.gz", dir);
    char err[256];
    struct seen s = {0};
    assert_int_equal(ct_archive_read_file(path, collect, &s, err, sizeof err), -EIO);
    assert_int_equal(testing_rm_rf(dir), 0);
    free(dir);
}

/* Builds the archive of test_run: 3 good files (one plain, one in an organisation trail),
 * duplicates across files, irrelevant events, and three broken files. */
static void build_archive(const char *dir, bool with_broken)
{
    const char *a = "AWSLogs/111122223333/CloudTrail/eu-central-1/2025/03/14/"
                    "111122223333_CloudTrail_eu-central-1_20250314T1005Z_aaaa.json.gz";
    char *ta = records(
        event("a3", "ReleaseIpamPoolAllocation", "2025-03-14T10:04:00Z", "111122223333",
              "eu-central-1"),
        event("n1", "AssumeRole", "2025-03-14T10:01:00Z", "111122223333", "eu-central-1"),
        event("a1", "CreateVpc", "2025-03-14T10:01:00Z", "111122223333", "eu-central-1"),
        event("a2", "AllocateIpamPoolCidr", "2025-03-14T10:02:00Z", "111122223333", "eu-central-1"),
        event("n2", "DescribeVpcs", "2025-03-14T10:03:00Z", "111122223333", "eu-central-1"), NULL);
    put(dir, a, ta, true);
    free(ta);
    const char *b = "AWSLogs/o-abc123/222233334444/CloudTrail/eu-west-1/2025/03/13/"
                    "222233334444_CloudTrail_eu-west-1_20250313T2355Z_bbbb.json.gz";
    char *tb = records(
        event("b1", "CreateSubnet", "2025-03-13T23:51:00Z", "222233334444", "eu-west-1"),
        event("a1", "CreateVpc", "2025-03-14T10:01:00Z", "111122223333", "eu-central-1"),
        event("b2", "DeleteVpc", "2025-03-13T23:52:00Z", "222233334444", "eu-west-1"), NULL);
    put(dir, b, tb, true);
    free(tb);
    const char *c = "AWSLogs/222233334444/CloudTrail/eu-west-1/2025/03/15/"
                    "222233334444_CloudTrail_eu-west-1_20250315T0000Z_cccc.json";
    char *tc = records(
        event("c1", "DeleteSubnet", "2025-03-14T23:58:00Z", "222233334444", "eu-west-1"),
        event("b2", "DeleteVpc", "2025-03-13T23:52:00Z", "222233334444", "eu-west-1"), NULL);
    put(dir, c, tc, false);
    free(tc);
    if (!with_broken)
        return;
    char *td = records(
        event("d1", "CreateVpc", "2025-03-14T10:06:00Z", "111122223333", "eu-central-1"), NULL);
    const char *d = "AWSLogs/111122223333/CloudTrail/eu-central-1/2025/03/14/"
                    "111122223333_CloudTrail_eu-central-1_20250314T1010Z_dddd.json.gz";
    put(dir, d, td, true);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, d);
    size_t len;
    unsigned char *gz = slurp(path, &len);
    spill(path, gz, len - 12); /* truncated */
    free(gz);
    const char *e = "AWSLogs/111122223333/CloudTrail/eu-central-1/2025/03/14/"
                    "111122223333_CloudTrail_eu-central-1_20250314T1015Z_eeee.json.gz";
    put(dir, e, "this is not gzip data at all, only pretending", false);
    const char *f = "AWSLogs/111122223333/CloudTrail/eu-central-1/2025/03/14/"
                    "111122223333_CloudTrail_eu-central-1_20250314T1020Z_ffff.json";
    put(dir, f, "{\"Records\":[{\"eventID\":\"f1\",\"eventName\":\"CreateVpc\" \"eventTime\":1}]}",
        false);
    free(td);
}

static publisher_t *publisher_for(devbroker_t *db, const char *timeout_ms)
{
    struct config_kv props[] = {
        {"bootstrap.servers", (char *)devbroker_bootstraps(db), "-X", 0},
        {"message.timeout.ms", (char *)timeout_ms, "-X", 0},
    };
    char err[512];
    publisher_t *pub = publisher_new(props, 2, err, sizeof err);
    if (!pub)
        fail_msg("publisher: %s", err);
    return pub;
}

/* Good files publish every relevant event once; broken files are skipped and make the run
 * fail while the rest still goes out. */
static void test_run(void **state)
{
    (void)state;
    char err[512];
    struct devbroker_topic topic = {"events", 3};
    devbroker_t *db = devbroker_new(1, &topic, 1, err, sizeof err);
    assert_non_null(db);
    publisher_t *pub = publisher_for(db, "20000");
    struct ct_archive_options o = {.topic = "events", .source = "test"};
    struct ct_archive_result res;

    char *good = tmpdir();
    build_archive(good, false);
    assert_int_equal(ct_archive_run(good, pub, &o, &res), 0);
    assert_int_equal(res.files, 3);
    assert_int_equal(res.files_skipped, 0);
    assert_int_equal(res.records, 10);
    assert_int_equal(res.relevant, 8);
    assert_int_equal(res.duplicates, 2);
    assert_int_equal(res.sent, 6);
    assert_int_equal(res.published, 6);
    assert_int_equal(res.failed + res.unusable, 0);

    char *mixed = tmpdir();
    build_archive(mixed, true);
    assert_int_equal(ct_archive_run(mixed, pub, &o, &res), -EAGAIN);
    assert_int_equal(res.files, 6);
    assert_int_equal(res.files_skipped, 3);
    assert_int_equal(res.published, 6);
    assert_int_equal(res.duplicates, 2);

    /* A relevant event without an id is reported and fails the run. */
    char *noid = tmpdir();
    put(noid, "x/2025/03/14/a.json",
        "{\"Records\":[{\"eventName\":\"CreateVpc\",\"eventTime\":\"2025-03-14T10:00:00Z\"}]}",
        false);
    assert_int_equal(ct_archive_run(noid, pub, &o, &res), -EAGAIN);
    assert_int_equal(res.unusable, 1);
    assert_int_equal(res.published, 0);

    /* Nothing to read. */
    char *none = tmpdir();
    assert_int_equal(ct_archive_run(none, pub, &o, &res), -ENOENT);

    /* Stopped before the first file. */
    volatile sig_atomic_t stop = 1;
    o.stop = &stop;
    assert_int_equal(ct_archive_run(good, pub, &o, &res), -EINTR);
    assert_int_equal(res.sent, 0);
    o.stop = NULL;
    publisher_free(pub);

    /* The cluster does not confirm: the run fails and says so. */
    pub = publisher_for(db, "1500");
    assert_int_equal(devbroker_set_down(db, true), 0);
    assert_int_equal(ct_archive_run(good, pub, &o, &res), -EAGAIN);
    assert_int_equal(res.sent, 6);
    assert_int_equal(res.published, 0);
    assert_int_equal(res.failed, 6);
    publisher_free(pub);
    devbroker_free(db);

    const char *dirs[] = {good, mixed, noid, none};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(testing_rm_rf(dirs[i]), 0);
        free((char *)dirs[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_time), cmocka_unit_test(test_list), cmocka_unit_test(test_read),
        cmocka_unit_test(test_broken),    cmocka_unit_test(test_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
