/* Unit tests for object names in the model: model_object_name() agrees with what
 * model_metrics_objects() reports, names and locales survive model_save()/model_load(), and
 * snapshots written in the earlier formats load with them. */
#include "testing.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "analyzer/model.h"
#include "fixtures.h"
#include "golden.h"
#include "record.h"
#include "xalloc.h"

#define POOL_BARE "ipam-pool-0bare0000000000000"

/* One complete pass of a named tree: scope SCOPE named by its Name tag; top pool P named by
 * its Name tag in eu-central-1; child pool C by its description only, in eu-west-1; a pool
 * without a name or locale; vpc-1 "shared-vpc" with subnet-1a "shared-app-a" in
 * eu-central-1 and subnet-1b without a name or Region. `p_name` names pool P. */
static void named_pass(model_t *m, const char *pass_id, int64_t started, const char *p_name)
{
    struct pass p;
    pass_begin(&p, m, pass_id, started);
    struct record *r = scope_record(&p);
    record_map_set(&r->u.scope.tags, "Name", "Corporate private");
    record_str_set(&r->u.scope.description, "the private scope");
    feed(&p, r);
    r = pool_record(&p, POOL_P, NULL, 20);
    record_map_set(&r->u.pool.tags, "Name", p_name);
    record_str_set(&r->u.pool.description, "top-level pool");
    record_str_set(&r->u.pool.locale, "eu-central-1");
    feed(&p, r);
    r = pool_record(&p, POOL_C, POOL_P, 24);
    record_str_set(&r->u.pool.description, "eu-west-1 dedicated VPC");
    record_str_set(&r->u.pool.locale, "eu-west-1");
    feed(&p, r);
    pool_rec(&p, POOL_BARE, NULL, 0);
    pool_cidr_rec(&p, POOL_P, "10.0.0.0/16", "provisioned");
    pool_cidr_rec(&p, POOL_C, "10.0.0.0/20", "provisioned");
    r = res_record(&p, "vpc", "vpc-1", "10.0.16.0/20", "vpc-1", POOL_P, "compliant", NAN);
    record_str_set(&r->u.resource_cidr.name, "shared-vpc");
    record_str_set(&r->u.resource_cidr.region, "eu-central-1");
    feed(&p, r);
    r = res_record(&p, "subnet", "subnet-1a", "10.0.16.0/24", "vpc-1", NULL, "compliant", 0.5);
    record_str_set(&r->u.resource_cidr.name, "shared-app-a");
    record_str_set(&r->u.resource_cidr.region, "eu-central-1");
    feed(&p, r);
    res_rec(&p, "subnet", "subnet-1b", "10.0.17.0/24", "vpc-1", NULL, "compliant", 0.25);
    pass_end(&p, true, 0);
    bool applied = false;
    for (size_t i = 0; i < p.fx.n; i++)
        applied |= strcmp(p.fx.items[i].kind, "pass") == 0;
    assert_true(applied);
    model_effects_clear(&p.fx);
}

struct want_name {
    const char *kind, *id, *name, *locale;
};

static const struct want_name named_tree[] = {
    {"scope", SCOPE, "Corporate private", NULL},
    {"pool", POOL_P, "AWS Private", "eu-central-1"},
    {"pool", POOL_C, "eu-west-1 dedicated VPC", "eu-west-1"},
    {"pool", POOL_BARE, NULL, NULL},
    {"vpc", "vpc-1", "shared-vpc", "eu-central-1"},
    {"subnet", "subnet-1a", "shared-app-a", "eu-central-1"},
    {"subnet", "subnet-1b", NULL, NULL},
};
#define N_NAMED (sizeof named_tree / sizeof named_tree[0])

static void expect_str(const char *what, const char *got, const char *want)
{
    if (want == NULL ? got != NULL : got == NULL || strcmp(got, want) != 0)
        fail_msg("%s: got %s%s%s, want %s%s%s", what, got ? "'" : "", got ? got : "NULL",
                 got ? "'" : "", want ? "'" : "", want ? want : "NULL", want ? "'" : "");
}

/* model_object_name() gives every object of `want` its name and locale. */
static void expect_names(const model_t *m, const struct want_name *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *name = "unset", *locale = "unset";
        char what[128];
        snprintf(what, sizeof what, "%s %s", want[i].kind, want[i].id);
        int rc = model_object_name(m, want[i].kind, want[i].id, &name, &locale);
        if (rc != 0)
            fail_msg("model_object_name(%s): %d", what, rc);
        expect_str(what, name, want[i].name);
        expect_str(what, locale, want[i].locale);
    }
}

#define SCOPE_OTHER "ipam-scope-0other00000000000"

/* A resource CIDR of scope SCOPE_OTHER outside any pass, named `name` (may be NULL) in
 * eu-west-1; owned by the caller. */
static struct record *other_res(const char *type, const char *id, const char *cidr,
                                const char *name)
{
    struct record *r = env(RECORD_RESOURCE_CIDR, NULL);
    record_str_set(&r->scope, SCOPE_OTHER);
    record_str_set(&r->u.resource_cidr.scope_id, SCOPE_OTHER);
    record_str_set(&r->u.resource_cidr.resource_type, type);
    record_str_set(&r->u.resource_cidr.resource_id, id);
    record_str_set(&r->u.resource_cidr.cidr, cidr);
    record_str_set(&r->u.resource_cidr.vpc_id, strcmp(type, "vpc") == 0 ? id : "vpc-1");
    record_str_set(&r->u.resource_cidr.name, name);
    record_str_set(&r->u.resource_cidr.region, "eu-west-1");
    r->u.resource_cidr.ip_usage = NAN;
    return r;
}

static void test_lookup(void **state)
{
    (void)state;
    model_t *m = model_new(NULL);
    named_pass(m, "pass-1", T0, "AWS Private");
    expect_names(m, named_tree, N_NAMED);

    /* Unknown objects, an object asked for under another kind, another kind. */
    const char *name = "unset", *locale = "unset";
    assert_int_equal(model_object_name(m, "pool", "ipam-pool-0missing", &name, &locale), -ENOENT);
    assert_null(name);
    assert_null(locale);
    assert_int_equal(model_object_name(m, "scope", "ipam-scope-0other", &name, NULL), -ENOENT);
    assert_int_equal(model_object_name(m, "vpc", "vpc-9", &name, NULL), -ENOENT);
    assert_int_equal(model_object_name(m, "vpc", "subnet-1a", &name, NULL), -ENOENT);
    assert_int_equal(model_object_name(m, "subnet", "vpc-1", &name, NULL), -ENOENT);
    assert_int_equal(model_object_name(m, "pool", SCOPE, &name, NULL), -ENOENT);
    assert_int_equal(model_object_name(m, "ipam", "ipam-0123", &name, &locale), -EINVAL);
    assert_null(name);
    assert_int_equal(model_object_name(m, "pool", POOL_P, NULL, NULL), 0);

    /* Another scope holds vpc-1 without a name and subnet-1b with one: whatever the order
     * of the scopes, the look-up gives the name. */
    struct model_effects fx;
    model_effects_init(&fx);
    apply(m, other_res("vpc", "vpc-1", "10.0.16.0/20", NULL), &fx);
    apply(m, other_res("subnet", "subnet-1b", "10.0.17.0/24", "other-b"), &fx);
    model_effects_clear(&fx);
    assert_int_equal(model_object_name(m, "vpc", "vpc-1", &name, &locale), 0);
    assert_string_equal(name, "shared-vpc");
    assert_string_equal(locale, "eu-central-1");
    assert_int_equal(model_object_name(m, "subnet", "subnet-1b", &name, &locale), 0);
    assert_string_equal(name, "other-b");
    assert_string_equal(locale, "eu-west-1");

    /* The next pass renames pool P: the look-up follows. */
    named_pass(m, "pass-2", T0 + 60000, "Corporate Network");
    assert_int_equal(model_object_name(m, "pool", POOL_P, &name, &locale), 0);
    assert_string_equal(name, "Corporate Network");
    assert_string_equal(locale, "eu-central-1");

    /* A dropped scope takes its objects' names along; vpc-1 is left as the other scope has
     * it, without a name. */
    model_drop_scope(m, SCOPE);
    assert_int_equal(model_object_name(m, "pool", POOL_P, &name, NULL), -ENOENT);
    assert_int_equal(model_object_name(m, "vpc", "vpc-1", &name, &locale), 0);
    assert_null(name);
    assert_string_equal(locale, "eu-west-1");
    model_drop_scope(m, SCOPE_OTHER);
    assert_int_equal(model_object_name(m, "vpc", "vpc-1", &name, &locale), -ENOENT);
    assert_int_equal(model_object_name(m, "scope", SCOPE_OTHER, &name, NULL), -ENOENT);
    model_free(m);
}

/* Every object the figures describe, by model_object_name(): the same name and locale. */
struct described {
    const model_t *m;
    size_t n;
};

static void check_described(void *ctx, const struct model_object *o, const struct rrd_sample *s)
{
    (void)s;
    struct described *d = ctx;
    const char *name = "unset", *locale = "unset";
    char what[128];
    snprintf(what, sizeof what, "%s %s", o->kind, o->id);
    if (model_object_name(d->m, o->kind, o->id, &name, &locale) != 0)
        fail_msg("model_object_name(%s) does not know it", what);
    expect_str(what, name, o->name);
    expect_str(what, locale, o->locale);
    d->n++;
}

static void test_lookup_matches_figures(void **state)
{
    (void)state;
    model_t *m = model_new(NULL);
    named_pass(m, "pass-1", T0, "AWS Private");
    struct described d = {m, 0};
    assert_int_equal(model_metrics_objects(m, NULL, check_described, &d), 0);
    assert_int_equal(d.n, N_NAMED);
    model_free(m);
}

static void test_save_load_names(void **state)
{
    (void)state;
    model_t *m = model_new(NULL);
    named_pass(m, "pass-1", T0, "AWS Private");
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/names.snap", testing_tmpdir);
    assert_int_equal(model_save(m, path, err, sizeof err), 0);
    model_free(m);
    model_t *l = model_load(NULL, path, err, sizeof err);
    if (!l)
        fail_msg("model_load: %s", err);
    expect_names(l, named_tree, N_NAMED);
    struct described d = {l, 0};
    assert_int_equal(model_metrics_objects(l, NULL, check_described, &d), 0);
    assert_int_equal(d.n, N_NAMED);
    model_free(l);
}

/* Writes `text` to testing_tmpdir/NAME and loads it as a snapshot; fails the test when it
 * does not load. */
static model_t *load_text(const char *name, const char *text)
{
    char path[128], err[512];
    snprintf(path, sizeof path, "%s/%s", testing_tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
    model_t *m = model_load(NULL, path, err, sizeof err);
    if (!m)
        fail_msg("model_load(%s): %s", name, err);
    return m;
}

#define G_SCOPE  "ipam-scope-0a1b2c3d4e5f60718"
#define G_POOL   "ipam-pool-0fedcba9876543210"
#define G_SUBNET "subnet-0a1b2c3d4e5f60718"

/* The golden scope, pool and subnet (tests/data/records) as a snapshot of the earlier
 * formats: version 2 (resource CIDRs as "rc" arrays, the event-id window) and version 1
 * (resource CIDRs as records, one event id a line). */
static void test_previous_formats(void **state)
{
    (void)state;
    size_t n;
    char *scope = golden("scope", &n), *pool = golden("pool", &n),
         *res = golden("resource_cidr", &n);
    const char *head = "{\"scope\":\"" G_SCOPE "\",\"snapshot_ms\":1741946400000,"
                       "\"recent\":[\"ipam-admin-1/1741946400000\"]}\n";
    char *v2 = xasprintf(
        "{\"model\":2}\n%s{\"r\":%s}\n{\"r\":%s}\n"
        "{\"rc\":[\"" G_SUBNET "\",\"10.16.4.0/22\",\"subnet\",\"vpc-0123abcd4567ef890\",\"" G_POOL
        "\",\"payments-prod-app-a\",\"222233334444\",\"eu-central-1\",\"compliant\",\"managed\","
        "0.0039]}\n"
        "{\"event_window\":{\"floor_ms\":1741946000000,\"newest_ms\":1741946400000}}\n"
        "{\"end\":true}\n",
        head, scope, pool);
    char *v1 = xasprintf("{\"model\":1}\n%s{\"r\":%s}\n{\"r\":%s}\n{\"r\":%s}\n"
                         "{\"event\":\"ev-1\",\"t\":1741946400000}\n{\"end\":true}\n",
                         head, scope, pool, res);
    static const struct want_name want[] = {
        {"scope", G_SCOPE, "Default private scope", NULL},
        {"pool", G_POOL, "euc1-shared", "eu-central-1"},
        {"subnet", G_SUBNET, "payments-prod-app-a", "eu-central-1"},
    };
    const char *texts[] = {v2, v1};
    for (size_t i = 0; i < 2; i++) {
        model_t *m = load_text(i == 0 ? "v2.snap" : "v1.snap", texts[i]);
        expect_names(m, want, sizeof want / sizeof want[0]);
        struct described d = {m, 0};
        assert_int_equal(model_metrics_objects(m, NULL, check_described, &d), 0);
        assert_int_equal(d.n, 3); /* the pool, the scope, the subnet */
        model_free(m);
    }
    free(v1);
    free(v2);
    free(scope);
    free(pool);
    free(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_lookup_matches_figures),
        cmocka_unit_test(test_save_load_names),
        cmocka_unit_test(test_previous_formats),
    };
    return cmocka_run_group_tests(tests, testing_tmpdir_setup, testing_tmpdir_teardown);
}
