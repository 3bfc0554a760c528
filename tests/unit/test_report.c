/* test_report: report_build() over hand-made journals: period boundaries, scope filter,
 * overlap and noncompliance intervals that start before the period or arrive out of order
 * (backfills), closes without an opening, CSV quoting, the journals of several analyzers
 * read as one, and the ledger in event-time order whatever the journal's order. */
#include "config.h"

#include "testing.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "analyzer/journal.h"
#include "analyzer/report.h"
#include "config/config.h"
#include "fixtures.h"
#include "xalloc.h"

#define FROM 1736121600 /* 2025-01-06T00:00:00Z */
#define TO   (FROM + 86400)
#define S1   "ipam-scope-0a000000000000001"
#define S2   "ipam-scope-0b000000000000002"

static struct config *cfg;
static journal_t *jr;
static int nkey;

static int setup(void **state)
{
    char path[128], err[512];
    if (testing_tmpdir_setup(state) != 0)
        return -1;
    char *text = xasprintf("[analyzer]\nstate_dir = %s/state\n[rrd]\ndir = %s/rrd\n"
                           "[journal]\ndir = %s/journal\nfsync = no\n"
                           "[domain \"corp\"]\nscopes = " S1 "\nstatic = 192.168.0.0/16\n"
                           "[domain \"other\"]\nscopes = " S2 "\n",
                           testing_tmpdir, testing_tmpdir, testing_tmpdir);
    cfg = fixture_load_cfg(text);
    free(text);
    snprintf(path, sizeof path, "%s/journal", testing_tmpdir);
    jr = journal_open(path, false, err, sizeof err);
    if (jr == NULL)
        fail_msg("journal_open: %s", err);
    return 0;
}

static int teardown(void **state)
{
    journal_close(jr);
    config_free(cfg);
    return testing_tmpdir_teardown(state);
}

static void add(const char *kind, time_t t, json_t *data)
{
    char key[32];
    snprintf(key, sizeof key, "k%d", ++nkey);
    assert_int_equal(journal_append(jr, kind, key, t, data), 0);
    json_decref(data);
}

static void ledger(const char *kind, time_t t, const char *scope, const char *who)
{
    add(kind, t,
        json_pack("{ss ss ss ss ss}", "scope_id", scope, "principal_arn", who, "pool_id",
                  "ipam-pool-0a000000000000001", "cidr", "10.0.0.0/20", "event_id", who));
}

static void overlap(bool open, time_t t, const char *domain, const char *pair)
{
    add(open ? "overlap_opened" : "overlap_closed", t,
        json_pack("{ss ss ss ss}", "domain", domain, "pair", pair, "a", "x", "b", "y"));
}

static json_t *build(const char *scope)
{
    struct report_options o = {.from = FROM, .to = TO, .scope = scope, .now = TO + 3600};
    char err[512];
    assert_int_equal(journal_sync(jr), 0);
    json_t *doc = report_build(cfg, &o, err, sizeof err);
    if (doc == NULL)
        fail_msg("report_build: %s", err);
    return doc;
}

static const json_t *row_where(const json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *row;
    json_array_foreach(arr, i, row)
    {
        const char *s = json_string_value(json_object_get(row, key));
        if (s != NULL && strcmp(s, value) == 0)
            return row;
    }
    return NULL;
}

static const char *str(const json_t *row, const char *key)
{
    return json_string_value(json_object_get(row, key));
}

static json_int_t num(const json_t *row, const char *key)
{
    return json_integer_value(json_object_get(row, key));
}

/* Ledger rows are taken by event time within [from, to) and by scope. */
static void test_ledger_period_and_scope(void **state)
{
    (void)state;
    ledger("allocation", FROM - 1, S1, "before");
    ledger("allocation", FROM, S1, "first");
    ledger("release", TO - 1, S1, "last");
    ledger("allocation", TO, S1, "after");
    ledger("provision", FROM + 10, S2, "other-scope");
    ledger("allocation_failed", FROM + 20, S1, "failed");
    add("event", FROM + 30, json_pack("{ss}", "scope_id", S1));
    json_t *doc = build(NULL);
    const json_t *l = json_object_get(doc, "ledger");
    assert_int_equal(json_array_size(l), 4);
    assert_null(row_where(l, "principal_arn", "before"));
    assert_null(row_where(l, "principal_arn", "after"));
    assert_non_null(row_where(l, "principal_arn", "first"));
    assert_non_null(row_where(l, "principal_arn", "last"));
    assert_non_null(row_where(l, "principal_arn", "other-scope"));
    assert_true(json_is_false(json_object_get(row_where(l, "principal_arn", "failed"), "success")));
    assert_int_equal(json_array_size(json_object_get(doc, "failed_allocations")), 1);
    assert_true(report_intact(doc));
    json_decref(doc);

    doc = build(S1);
    l = json_object_get(doc, "ledger");
    assert_int_equal(json_array_size(l), 3);
    assert_null(row_where(l, "principal_arn", "other-scope"));
    assert_string_equal(str(json_object_get(doc, "summary"), "scope"), S1);
    json_decref(doc);
}

/* Overlap intervals: begun before the period, journaled out of order, closed without a
 * known opening, entirely outside the period, still open at the end. */
static void test_overlap_intervals(void **state)
{
    (void)state;
    overlap(true, FROM - 600, "corp", "before-in");
    overlap(false, FROM + 600, "corp", "before-in");
    overlap(true, FROM - 900, "corp", "all-before");
    overlap(false, FROM - 800, "corp", "all-before");
    /* A backfill journals the close first, the opening later (seq order != time order). */
    overlap(false, FROM + 7200, "corp", "backfill");
    overlap(true, FROM + 3600, "corp", "backfill");
    overlap(false, FROM + 100, "corp", "orphan-close");
    overlap(true, FROM + 50000, "corp", "still-open");
    overlap(true, TO + 10, "corp", "after");
    overlap(true, FROM + 10, "other", "other-domain");
    json_t *doc = build(NULL);
    const json_t *ov = json_object_get(doc, "overlaps");
    assert_null(row_where(ov, "pair", "all-before"));
    assert_null(row_where(ov, "pair", "after"));
    const json_t *r = row_where(ov, "pair", "before-in");
    assert_non_null(r);
    assert_string_equal(str(r, "opened"), "2025-01-05T23:50:00Z");
    assert_int_equal(num(r, "duration_s"), 1200);
    r = row_where(ov, "pair", "backfill");
    assert_non_null(r);
    assert_int_equal(num(r, "duration_s"), 3600);
    assert_string_equal(str(r, "closed"), "2025-01-06T02:00:00Z");
    r = row_where(ov, "pair", "orphan-close");
    assert_non_null(r);
    assert_true(json_is_null(json_object_get(r, "opened")));
    assert_true(json_is_null(json_object_get(r, "duration_s")));
    r = row_where(ov, "pair", "still-open");
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "open_ended")));
    assert_int_equal(num(r, "duration_s"), TO - (FROM + 50000));
    assert_non_null(row_where(ov, "pair", "other-domain"));
    const json_t *c = json_object_get(json_object_get(doc, "summary"), "counts");
    assert_int_equal(num(c, "overlaps"), 5);
    assert_int_equal(num(c, "overlaps_opened"), 3); /* backfill, still-open, other-domain */
    assert_int_equal(num(c, "overlaps_closed"), 3); /* before-in, backfill, orphan-close */
    assert_int_equal(num(c, "overlaps_open_at_end"), 2);
    json_decref(doc);

    /* A scope filter keeps the domains that name the scope. */
    doc = build(S2);
    ov = json_object_get(doc, "overlaps");
    assert_int_equal(json_array_size(ov), 1);
    assert_non_null(row_where(ov, "pair", "other-domain"));
    json_decref(doc);
}

/* Noncompliance from before the period, resolved by deletion inside it. */
static void test_noncompliance(void **state)
{
    (void)state;
    json_t *d = json_pack("{ss ss ss ss}", "scope_id", S1, "resource_id", "vpc-1", "cidr",
                          "10.9.0.0/16", "status", "noncompliant");
    add("noncompliant", FROM - 3600, json_incref(d));
    json_object_set_new(d, "status", json_string("deleted"));
    add("compliant", FROM + 3600, d);
    json_t *doc = build(NULL);
    const json_t *nc = json_object_get(doc, "noncompliant");
    assert_int_equal(json_array_size(nc), 1);
    const json_t *r = json_array_get(nc, 0);
    assert_string_equal(str(r, "resolved_as"), "deleted");
    assert_int_equal(num(r, "duration_s"), 7200);
    assert_true(json_is_false(json_object_get(r, "open_ended")));
    json_decref(doc);
}

/* CSV: the integrity comment first, cells with commas and quotes quoted (RFC 4180). */
static void test_csv_quoting(void **state)
{
    (void)state;
    ledger("allocation", FROM + 5, S1, "arn:with,comma \"and quote\"");
    json_t *doc = build(NULL);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(report_write_csv(doc, f), 0);
    fclose(f);
    assert_true(strncmp(buf, "# integrity: journal: 1 records verified, head ", 47) == 0);
    assert_non_null(strstr(buf, "\n\"arn:with,comma \"\"and quote\"\"\"") ||
                    strstr(buf, ",\"arn:with,comma \"\"and quote\"\"\","));
    assert_non_null(strstr(buf, "\nsection,kind,time,"));
    free(buf);
    json_decref(doc);
}

/* A line that is not a record: the report names it and still lists the records around it. */
static void test_malformed_line(void **state)
{
    (void)state;
    char path[256], seg[256] = "";
    ledger("allocation", FROM + 1, S1, "one");
    ledger("allocation", FROM + 2, S1, "two");
    assert_int_equal(journal_sync(jr), 0);
    journal_close(jr);
    jr = NULL;
    snprintf(path, sizeof path, "%s/journal", testing_tmpdir);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep jsonl", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(seg, sizeof seg, p));
    pclose(p);
    seg[strcspn(seg, "\n")] = '\0';
    snprintf(cmd, sizeof cmd, "sed -i '1a not a record' '%s/%s'", path, seg);
    assert_int_equal(system(cmd), 0);

    struct report_options o = {.from = FROM, .to = TO, .now = TO};
    char err[512], line[1024];
    json_t *doc = report_build(cfg, &o, err, sizeof err);
    if (doc == NULL)
        fail_msg("report_build: %s", err);
    assert_false(report_intact(doc));
    const json_t *fault = json_object_get(json_object_get(doc, "integrity"), "fault");
    assert_string_equal(str(fault, "kind"), "malformed");
    assert_string_equal(str(fault, "file"), seg);
    assert_int_equal(num(fault, "line"), 2);
    report_integrity_line(doc, line, sizeof line);
    assert_true(strncmp(line, "journal: BROKEN: malformed record in ", 37) == 0);
    assert_int_equal(json_array_size(json_object_get(doc, "ledger")), 2);
    json_decref(doc);
}

static void keyed(journal_t *j, const char *kind, const char *key, time_t t, const char *who)
{
    json_t *d = json_pack("{ss ss ss ss ss}", "scope_id", S1, "principal_arn", who, "pool_id",
                          "ipam-pool-0a000000000000001", "cidr", "10.0.0.0/20", "event_id", key);
    assert_int_equal(journal_append(j, kind, key, t, d), 0);
    json_decref(d);
}

/* Two analyzers' journals: each chain verified, records merged by event time, an event both
 * journaled counted once, an overlap opened in one and closed in the other is one interval;
 * a broken second chain is reported as such. */
static void test_several_journals(void **state)
{
    (void)state;
    char dir_a[128], dir_b[128], err[512], line[2048];
    snprintf(dir_a, sizeof dir_a, "%s/journal", testing_tmpdir);
    snprintf(dir_b, sizeof dir_b, "%s/journal-b", testing_tmpdir);
    journal_t *jb = journal_open(dir_b, false, err, sizeof err);
    if (jb == NULL)
        fail_msg("journal_open: %s", err);
    keyed(jr, "allocation", "ev-1", FROM + 100, "first");
    keyed(jr, "release", "ev-3", FROM + 300, "third");
    overlap(true, FROM + 50, "corp", "moved");
    keyed(jb, "allocation", "ev-2", FROM + 200, "second");
    keyed(jb, "allocation", "ev-1", FROM + 100, "first"); /* journaled by both analyzers */
    json_t *d = json_pack("{ss ss ss ss}", "domain", "corp", "pair", "moved", "a", "x", "b", "y");
    assert_int_equal(journal_append(jb, "overlap_closed", "close-moved", FROM + 400, d), 0);
    json_decref(d);
    assert_int_equal(journal_sync(jb), 0);
    assert_int_equal(journal_sync(jr), 0);

    const char *dirs[] = {dir_a, dir_b};
    struct report_options o = {
        .from = FROM, .to = TO, .now = TO, .journals = dirs, .n_journals = 2};
    json_t *doc = report_build(cfg, &o, err, sizeof err);
    if (doc == NULL)
        fail_msg("report_build: %s", err);
    assert_true(report_intact(doc));
    const json_t *l = json_object_get(doc, "ledger");
    assert_int_equal(json_array_size(l), 3);
    const char *order[] = {"first", "second", "third"};
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(str(json_array_get(l, i), "principal_arn"), order[i]);
    const json_t *r = row_where(json_object_get(doc, "overlaps"), "pair", "moved");
    assert_non_null(r);
    assert_int_equal(num(r, "duration_s"), 350);
    const json_t *in = json_object_get(doc, "integrity");
    assert_int_equal(num(in, "records"), 6);
    assert_int_equal(json_array_size(json_object_get(in, "journals")), 2);
    assert_int_equal(num(json_array_get(json_object_get(in, "journals"), 1), "records"), 3);
    report_integrity_line(doc, line, sizeof line);
    assert_non_null(strstr(line, dir_a));
    assert_non_null(strstr(line, "; journal "));
    assert_non_null(strstr(strstr(line, "; journal "), dir_b));
    json_decref(doc);

    /* An edited record in the second journal: the report says its chain is broken. */
    journal_close(jb);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "sed -i 's/\"second\"/\"secnd\"/' '%s'/*.jsonl", dir_b);
    assert_int_equal(system(cmd), 0);
    doc = report_build(cfg, &o, err, sizeof err);
    if (doc == NULL)
        fail_msg("report_build: %s", err);
    assert_false(report_intact(doc));
    in = json_object_get(doc, "integrity");
    assert_true(
        json_is_true(json_object_get(json_array_get(json_object_get(in, "journals"), 0), "ok")));
    assert_false(
        json_is_true(json_object_get(json_array_get(json_object_get(in, "journals"), 1), "ok")));
    report_integrity_line(doc, line, sizeof line);
    assert_null(strchr(line, '\n'));
    assert_non_null(strstr(strstr(line, "; journal "), "BROKEN"));
    json_decref(doc);
}

/* One ledger event with its own journal key and event id (NULL: none). */
static void ledger_event(journal_t *j, const char *kind, const char *key, time_t t,
                         const char *event_id, const char *who)
{
    json_t *d = json_pack("{ss ss ss ss}", "scope_id", S1, "principal_arn", who, "pool_id",
                          "ipam-pool-0a000000000000001", "cidr", "10.0.0.0/20");
    if (event_id)
        json_object_set_new(d, "event_id", json_string(event_id));
    assert_int_equal(journal_append(j, kind, key, t, d), 0);
    json_decref(d);
}

/* The events below, in the order the ledger must list them. */
static const struct {
    const char *kind, *key;
    time_t dt;
    const char *event_id, *who;
} ledger_events[] = {
    {"allocation", "k-z1", 50, "ev-z", "who-z1"}, /* one event id, two keys */
    {"deprovision", "k-z2", 50, "ev-z", "who-z2"},
    {"allocation", "k-n", 100, NULL, "who-n"}, /* no event id: first of its second */
    {"allocation_failed", "k-a", 100, "ev-a", "who-a"},
    {"release", "k-b", 100, "ev-b", "who-b"},
    {"provision", "k-d", 200, "ev-d", "who-d"},
    {"allocation", "k-c", 300, "ev-c", "who-c"},
};
#define N_LEDGER_EVENTS (sizeof ledger_events / sizeof ledger_events[0])

/* The rows of `arr` without their journal seq (which follows the journal's order), as text. */
static char *rows_without_seq(const json_t *arr)
{
    json_t *copy = json_deep_copy(arr);
    size_t i;
    json_t *row;
    json_array_foreach(copy, i, row) json_object_del(row, "seq");
    char *text = json_dumps(copy, JSON_SORT_KEYS);
    json_decref(copy);
    return text;
}

/* `names` appear in `text` in this order. */
static void assert_in_order(const char *text, const char *const *names, size_t n)
{
    const char *at = text;
    for (size_t i = 0; i < n; i++) {
        const char *p = strstr(at, names[i]);
        if (p == NULL)
            fail_msg("%s missing or out of order", names[i]);
        at = p + strlen(names[i]);
    }
}

/* The ledger and the failures are listed by event time, then event id, then journal key,
 * whatever order the journal holds them in (a backfill journals the events of several
 * partitions interleaved): in JSON, CSV and HTML; two journals holding the same events in
 * other orders give the same rows. */
static void test_ledger_event_time_order(void **state)
{
    (void)state;
    static const size_t journaled[] = {6, 4, 1, 3, 5, 0, 2}; /* an order of a backfill */
    for (size_t i = 0; i < N_LEDGER_EVENTS; i++) {
        size_t k = journaled[i];
        ledger_event(jr, ledger_events[k].kind, ledger_events[k].key, FROM + ledger_events[k].dt,
                     ledger_events[k].event_id, ledger_events[k].who);
    }
    json_t *doc = build(NULL);
    const json_t *l = json_object_get(doc, "ledger");
    assert_int_equal(json_array_size(l), N_LEDGER_EVENTS);
    const char *names[N_LEDGER_EVENTS];
    for (size_t i = 0; i < N_LEDGER_EVENTS; i++) {
        names[i] = ledger_events[i].who;
        assert_string_equal(str(json_array_get(l, i), "principal_arn"), names[i]);
    }
    assert_int_equal(num(json_array_get(l, 0), "seq"), 6); /* seq still names the record */
    const json_t *failed = json_object_get(doc, "failed_allocations");
    assert_int_equal(json_array_size(failed), 1);
    assert_string_equal(str(json_array_get(failed, 0), "principal_arn"), "who-a");

    for (int html = 0; html <= 1; html++) {
        char *buf = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&buf, &len);
        assert_non_null(f);
        assert_int_equal(html ? report_write_html(doc, NULL, 0, f) : report_write_csv(doc, f), 0);
        fclose(f);
        assert_in_order(buf, names, N_LEDGER_EVENTS);
        free(buf);
    }

    /* The same events journaled in the reverse order, in a second journal. */
    char dir_b[128], err[512];
    snprintf(dir_b, sizeof dir_b, "%s/journal-b", testing_tmpdir);
    journal_t *jb = journal_open(dir_b, false, err, sizeof err);
    if (jb == NULL)
        fail_msg("journal_open: %s", err);
    for (size_t i = N_LEDGER_EVENTS; i-- > 0;) {
        size_t k = journaled[i];
        ledger_event(jb, ledger_events[k].kind, ledger_events[k].key, FROM + ledger_events[k].dt,
                     ledger_events[k].event_id, ledger_events[k].who);
    }
    assert_int_equal(journal_sync(jb), 0);
    journal_close(jb);
    const char *dirs[] = {dir_b};
    struct report_options o = {
        .from = FROM, .to = TO, .now = TO, .journals = dirs, .n_journals = 1};
    json_t *doc_b = report_build(cfg, &o, err, sizeof err);
    if (doc_b == NULL)
        fail_msg("report_build: %s", err);
    char *ta = rows_without_seq(l), *tb = rows_without_seq(json_object_get(doc_b, "ledger"));
    assert_string_equal(ta, tb);
    free(ta);
    free(tb);
    json_decref(doc_b);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ledger_period_and_scope, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overlap_intervals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_noncompliance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_csv_quoting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_several_journals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ledger_event_time_order, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
