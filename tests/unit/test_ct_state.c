/* Unit tests for ct_state: the CloudTrail checkpoint file and its exactly-once protocol. */
#include "testing.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/ct_state.h"

#define MIN_MS (60 * 1000LL)

static char dir[256];

static int setup(void **state)
{
    (void)state;
    if (testing_mkdtemp(dir, sizeof dir, "test_ct_state") != 0)
        return -1;
    rmdir(dir); /* ct_state_load creates it */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return testing_rm_rf(dir);
}

static ct_state_t *load(void)
{
    char err[256];
    ct_state_t *st = ct_state_load(dir, "111111111111", "eu-west-1", err, sizeof err);
    if (!st)
        fail_msg("load: %s", err);
    return st;
}

static void test_empty_and_modes(void **state)
{
    (void)state;
    ct_state_t *st = load();
    assert_true(ct_state_checkpoint(st) == CT_STATE_NONE);
    assert_int_equal(ct_state_window_start(st, 15 * MIN_MS, 12345), 12345);
    assert_false(ct_state_known(st, "a"));
    assert_null(ct_state_pending_topic(st));
    struct stat sb;
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    assert_int_not_equal(stat(ct_state_path(st), &sb), 0); /* nothing written yet */

    char err[256];
    const char *ids[] = {"e1", "e2"};
    int64_t times[] = {100 * MIN_MS, 101 * MIN_MS};
    int64_t offs[] = {5, 0, 7};
    assert_int_equal(ct_state_begin(st, ids, times, 2, "events", offs, 3, err, sizeof err), 0);
    assert_int_equal(stat(ct_state_path(st), &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    ct_state_free(st);
}

static void test_pending_survives_reload(void **state)
{
    (void)state;
    char err[256];
    ct_state_t *st = load();
    const char *ids[] = {"e1", "e2", "e3"};
    int64_t times[] = {100 * MIN_MS, 101 * MIN_MS, 102 * MIN_MS};
    int64_t offs[] = {5, 0, 7};
    assert_int_equal(ct_state_begin(st, ids, times, 3, "events", offs, 3, err, sizeof err), 0);
    assert_int_equal(ct_state_begin(st, ids, times, 1, "events", offs, 3, err, sizeof err), -EBUSY);
    assert_int_equal(ct_state_advance(st, 200 * MIN_MS, 15 * MIN_MS, err, sizeof err), -EBUSY);
    ct_state_free(st);

    st = load(); /* as after a crash */
    assert_int_equal(ct_state_pending_count(st), 3);
    assert_string_equal(ct_state_pending_topic(st), "events");
    assert_int_equal(ct_state_pending_offset(st, 0), 5);
    assert_int_equal(ct_state_pending_offset(st, 2), 7);
    assert_int_equal(ct_state_pending_offset(st, 3), -1);
    assert_true(ct_state_known(st, "e2"));
    assert_true(ct_state_is_pending(st, "e2"));
    const char *found[] = {"e3", "e1", "not-pending"};
    assert_int_equal(ct_state_resolve(st, found, 3, err, sizeof err), 0);
    ct_state_free(st);

    st = load();
    assert_int_equal(ct_state_pending_count(st), 0);
    assert_int_equal(ct_state_seen_count(st), 2);
    assert_true(ct_state_known(st, "e1"));
    assert_false(ct_state_known(st, "e2")); /* was not on the topic: will be produced again */
    assert_true(ct_state_known(st, "e3"));
    assert_false(ct_state_known(st, "not-pending"));
    ct_state_free(st);
}

static void test_advance_prunes(void **state)
{
    (void)state;
    char err[256];
    ct_state_t *st = load();
    const char *ids[] = {"old", "edge", "new"};
    int64_t times[] = {60 * MIN_MS, 85 * MIN_MS, 99 * MIN_MS};
    assert_int_equal(ct_state_begin(st, ids, times, 3, "events", NULL, 0, err, sizeof err), 0);
    assert_int_equal(ct_state_commit(st, err, sizeof err), 0);
    assert_int_equal(ct_state_advance(st, 100 * MIN_MS, 15 * MIN_MS, err, sizeof err), 0);
    assert_false(ct_state_known(st, "old"));
    assert_true(ct_state_known(st, "edge")); /* 85 >= 100 - 15 */
    assert_true(ct_state_known(st, "new"));
    assert_int_equal(ct_state_window_start(st, 15 * MIN_MS, 0), 85 * MIN_MS);
    /* A larger overlap later cannot reach below what was pruned. */
    assert_int_equal(ct_state_window_start(st, 60 * MIN_MS, 0), 85 * MIN_MS);
    /* The checkpoint never moves backwards. */
    assert_int_equal(ct_state_advance(st, 90 * MIN_MS, 15 * MIN_MS, err, sizeof err), 0);
    assert_int_equal(ct_state_checkpoint(st), 100 * MIN_MS);
    ct_state_free(st);

    st = load();
    assert_int_equal(ct_state_checkpoint(st), 100 * MIN_MS);
    assert_int_equal(ct_state_seen_count(st), 2);
    assert_int_equal(ct_state_window_start(st, 15 * MIN_MS, 0), 85 * MIN_MS);
    ct_state_free(st);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_bad_files(void **state)
{
    (void)state;
    char err[256], path[512];
    ct_state_t *st = load();
    snprintf(path, sizeof path, "%s", ct_state_path(st));
    ct_state_free(st);
    static const char *const bad[] = {
        "{\"version\":1,\"account\":\"111111111111\",\"region\":\"eu-west-1\"",
        "{\"version\":2,\"account\":\"111111111111\",\"region\":\"eu-west-1\",\"seen\":{}}",
        "{\"version\":1,\"account\":\"222222222222\",\"region\":\"eu-west-1\",\"seen\":{}}",
        "{\"version\":1,\"account\":\"111111111111\",\"region\":\"eu-west-1\",\"seen\":[]}",
        "{\"version\":1,\"account\":\"111111111111\",\"region\":\"eu-west-1\",\"seen\":{\"a\":"
        "\"x\"}}",
        "{\"version\":1,\"account\":\"111111111111\",\"region\":\"eu-west-1\",\"seen\":{},"
        "\"pending\":{\"ids\":{}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_file(path, bad[i]);
        err[0] = '\0';
        st = ct_state_load(dir, "111111111111", "eu-west-1", err, sizeof err);
        if (st)
            fail_msg("case %zu loaded", i);
        if (!strstr(err, path))
            fail_msg("case %zu: error does not name the file: %s", i, err);
    }
    assert_null(ct_state_load(dir, "../etc", "eu-west-1", err, sizeof err));
    assert_null(ct_state_load(dir, "111111111111", "", err, sizeof err));
    unlink(path);
}

/* ---- randomized model of the poller protocol with crashes ---------------------------- */

struct model_event {
    char id[16];
    int64_t time_ms;    /* EventTime */
    int64_t visible_ms; /* when CloudTrail starts returning it (delivery lag) */
};

#define N_EVENTS 300
#define TOPIC    8192

struct topic {
    char ids[TOPIC][16];
    size_t n;
};

/* One poll of the model with a crash after `budget` steps (-1 = none). Returns false when
 * it crashed. The steps follow ct_state.h's protocol as ct_lookup implements it. */
static bool model_round(ct_state_t *st, const struct model_event *ev, size_t nev, int64_t now,
                        struct topic *tp, int *budget, unsigned *rng)
{
    char err[256];
#define STEP()                                                                                     \
    do {                                                                                           \
        if (*budget >= 0 && (*budget)-- == 0)                                                      \
            return false;                                                                          \
    } while (0)
    /* Reconcile what a crash left in flight. */
    if (ct_state_pending_count(st)) {
        int64_t from = ct_state_pending_offset(st, 0);
        const char *found[TOPIC];
        size_t nf = 0;
        for (size_t o = from < 0 ? 0 : (size_t)from; o < tp->n; o++)
            if (ct_state_is_pending(st, tp->ids[o]))
                found[nf++] = tp->ids[o];
        STEP();
        assert_int_equal(ct_state_resolve(st, found, nf, err, sizeof err), 0);
    }
    int64_t overlap = 15 * MIN_MS;
    int64_t start = ct_state_window_start(st, overlap, 0);
    /* Pages of up to 7 relevant events, newest first. */
    const char *page[7];
    int64_t times[7];
    size_t np = 0;
    for (size_t i = nev; i-- > 0;) {
        bool last = i == 0;
        const struct model_event *e = &ev[i];
        if (e->visible_ms <= now && e->time_ms >= start && e->time_ms <= now &&
            !ct_state_known(st, e->id)) {
            page[np] = e->id;
            times[np++] = e->time_ms;
        }
        if (np == 7 || (last && np)) {
            int64_t off = (int64_t)tp->n;
            STEP();
            assert_int_equal(
                ct_state_begin(st, page, times, np, "events", &off, 1, err, sizeof err), 0);
            for (size_t k = 0; k < np; k++) {
                STEP();
                assert_true(tp->n < TOPIC);
                snprintf(tp->ids[tp->n++], 16, "%s", page[k]);
            }
            STEP();
            if (rand_r(rng) % 8 == 0)
                return true; /* delivery failure reported: pending stays, no advance */
            assert_int_equal(ct_state_commit(st, err, sizeof err), 0);
            np = 0;
        }
    }
    STEP();
    assert_int_equal(ct_state_advance(st, now, overlap, err, sizeof err), 0);
    return true;
#undef STEP
}

static void test_exactly_once_model(void **state)
{
    (void)state;
    unsigned seed = testing_seed();
    unsigned rng = seed;
    static struct model_event ev[N_EVENTS];
    static struct topic tp;
    for (int trial = 0; trial < 20; trial++) {
        memset(&tp, 0, sizeof tp);
        int64_t t = 0;
        for (size_t i = 0; i < N_EVENTS; i++) {
            t += (int64_t)(rand_r(&rng) % 20000);
            snprintf(ev[i].id, sizeof ev[i].id, "ev-%d-%zu", trial, i);
            ev[i].time_ms = t;
            /* Late delivery up to 14 minutes (less than the 15 minute overlap). */
            ev[i].visible_ms = t + (int64_t)(rand_r(&rng) % (14 * 60)) * 1000;
        }
        int64_t now = 0, end = t + 20 * MIN_MS;
        ct_state_t *st = load();
        int crashes = 0;
        while (now < end) {
            now += 60000;
            int budget = rand_r(&rng) % 3 == 0 ? (int)(rand_r(&rng) % 40) : -1;
            if (!model_round(st, ev, N_EVENTS, now, &tp, &budget, &rng)) {
                ct_state_free(st); /* crash: memory lost, reload from disk */
                st = load();
                crashes++;
            }
        }
        /* Clean rounds until nothing is in flight (a delivery failure keeps ids pending). */
        for (int k = 0; k < 60 && (k < 3 || ct_state_pending_count(st)); k++) {
            int budget = -1;
            now += 60000;
            model_round(st, ev, N_EVENTS, now, &tp, &budget, &rng);
        }
        assert_int_equal(ct_state_pending_count(st), 0);
        for (size_t i = 0; i < N_EVENTS; i++) {
            int copies = 0;
            for (size_t o = 0; o < tp.n; o++)
                copies += strcmp(tp.ids[o], ev[i].id) == 0;
            if (copies != 1)
                fail_msg("seed %u trial %d: %s on the topic %d times (%d crashes)", seed, trial,
                         ev[i].id, copies, crashes);
        }
        assert_int_equal(tp.n, N_EVENTS);
        char path[512];
        snprintf(path, sizeof path, "%s", ct_state_path(st));
        ct_state_free(st);
        unlink(path);
        rng = seed + (unsigned)trial + 1;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_and_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_survives_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_advance_prunes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exactly_once_model, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
