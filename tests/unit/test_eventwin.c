/* Unit tests for eventwin (the bounded event-id window) and the model's use of it: duplicates
 * inside the window dropped, count cap, time-window expiry, the floor and unchecked events,
 * save/load round trip and a snapshot whose size stays bounded. */
#include "testing.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analyzer/eventwin.h"
#include "analyzer/model.h"
#include "record.h"

#define T0  1741946400000LL /* 2025-03-14T10:00:00Z */
#define SEC 1000LL

static void id_of(char *buf, size_t len, unsigned i)
{
    snprintf(buf, len, "%08x-1111-2222-3333-%012u", i * 2654435761u, i);
}

static enum eventwin_result add_i(eventwin_t *w, unsigned i, int64_t t)
{
    char id[64];
    id_of(id, sizeof id, i);
    return eventwin_add(w, id, t);
}

static bool has_i(const eventwin_t *w, unsigned i)
{
    char id[64];
    id_of(id, sizeof id, i);
    return eventwin_contains(w, id);
}

/* Within the window every id seen is recognised, whatever the order of the replays. */
static void test_duplicates_in_window(void **state)
{
    (void)state;
    unsigned seed = testing_seed();
    srand(seed);
    eventwin_t *w = eventwin_new(EVENTWIN_DEFAULT_WINDOW_MS, 10000);
    /* Before anything was let go there is no floor, whatever the time (even an unset one). */
    assert_int_equal(eventwin_add(w, "no-time", INT64_MIN), EVENTWIN_NEW);
    assert_int_equal(eventwin_add(w, "no-time", INT64_MIN), EVENTWIN_DUPLICATE);
    for (unsigned i = 0; i < 10000; i++)
        assert_int_equal(add_i(w, i, T0 + i), EVENTWIN_NEW);
    for (unsigned k = 0; k < 20000; k++) {
        unsigned i = (unsigned)rand() % 10000;
        assert_int_equal(add_i(w, i, T0 + i), EVENTWIN_DUPLICATE);
    }
    /* Ids that differ in one character, or are a prefix, are different ids. */
    assert_int_equal(eventwin_add(w, "a", T0 + 20000), EVENTWIN_NEW);
    assert_int_equal(eventwin_add(w, "b", T0 + 20000), EVENTWIN_NEW);
    assert_int_equal(eventwin_add(w, "", T0 + 20000), EVENTWIN_NEW);
    assert_int_equal(eventwin_add(w, "a", T0 + 20000), EVENTWIN_DUPLICATE);
    struct eventwin_stats st;
    eventwin_get_stats(w, &st);
    assert_int_equal(st.ids, 10000); /* the cap let the four oldest go */
    assert_int_equal(st.evicted, 4);
    assert_int_equal(st.unchecked, 0);
    eventwin_free(w);
}

/* The count cap holds the newest ids; older ones come back as unchecked, newer ones as new. */
static void test_count_cap(void **state)
{
    (void)state;
    eventwin_t *w = eventwin_new(EVENTWIN_DEFAULT_WINDOW_MS, 1000);
    for (unsigned i = 0; i < 5000; i++)
        assert_int_equal(add_i(w, i, T0 + i * SEC), EVENTWIN_NEW);
    struct eventwin_stats st;
    eventwin_get_stats(w, &st);
    assert_int_equal(st.ids, 1000);
    assert_int_equal(st.evicted, 4000);
    assert_int_equal(st.capped, 4000);
    assert_int_equal(st.floor_ms, T0 + 3999 * SEC);
    for (unsigned i = 0; i < 5000; i++)
        assert_int_equal(has_i(w, i), i >= 4000);
    /* A held id is a duplicate; an id let go (time at or below the floor) is unchecked and
     * remembered again (letting the oldest held id go); an unseen id above the floor is new. */
    assert_int_equal(add_i(w, 4500, T0 + 4500 * SEC), EVENTWIN_DUPLICATE);
    assert_int_equal(add_i(w, 10, T0 + 10 * SEC), EVENTWIN_UNCHECKED);
    assert_int_equal(add_i(w, 10, T0 + 10 * SEC), EVENTWIN_DUPLICATE);
    assert_int_equal(add_i(w, 9000, T0 + 6000 * SEC), EVENTWIN_NEW);
    eventwin_get_stats(w, &st);
    assert_int_equal(st.unchecked, 1);
    assert_int_equal(st.ids, 1000);
    eventwin_free(w);
}

/* Expiry lets go what is older than both the window and what the caller still needs. */
static void test_time_window(void **state)
{
    (void)state;
    eventwin_t *w = eventwin_new(60 * SEC, 100000);
    for (unsigned i = 0; i < 600; i++)
        add_i(w, i, T0 + i * SEC); /* newest: T0 + 599 s */
    /* The caller still needs ids from T0 + 100 s: only the older ones go. */
    assert_int_equal(eventwin_expire(w, T0 + 100 * SEC), 100);
    assert_false(has_i(w, 99));
    assert_true(has_i(w, 100));
    /* Nothing needed any more: the window (60 s before the newest) decides. */
    assert_int_equal(eventwin_expire(w, INT64_MAX), 439);
    assert_false(has_i(w, 538));
    assert_true(has_i(w, 539));
    struct eventwin_stats st;
    eventwin_get_stats(w, &st);
    assert_int_equal(st.ids, 61);
    assert_int_equal(st.capped, 0);
    assert_int_equal(st.floor_ms, T0 + 538 * SEC);
    /* INT64_MIN keeps everything. */
    assert_int_equal(eventwin_expire(w, INT64_MIN), 0);
    /* A late event from before the floor cannot be checked; one after it can. */
    assert_int_equal(add_i(w, 7, T0 + 7 * SEC), EVENTWIN_UNCHECKED);
    assert_int_equal(add_i(w, 555, T0 + 555 * SEC), EVENTWIN_DUPLICATE);
    eventwin_free(w);
}

/* Random adds, replays and expiries against a reference: every id above the floor that was
 * added is found, and memory (ids held) never exceeds the cap. Exercises index deletion. */
static void test_random_against_reference(void **state)
{
    (void)state;
    unsigned seed = testing_seed();
    srand(seed + 1);
    enum { N = 60000, CAP = 777 };
    static int64_t when[N]; /* 0 = never added */
    eventwin_t *w = eventwin_new(30 * SEC, CAP);
    int64_t t = T0;
    for (unsigned k = 0; k < 3 * N; k++) {
        unsigned i = (unsigned)rand() % N;
        t += rand() % 50;
        int64_t ti = when[i] ? when[i] : t - rand() % (20 * SEC);
        struct eventwin_stats before;
        eventwin_get_stats(w, &before);
        enum eventwin_result r = add_i(w, i, ti);
        if (when[i] && ti > before.floor_ms)
            assert_int_equal(r, EVENTWIN_DUPLICATE);
        if (!when[i])
            assert_int_equal(r, ti > before.floor_ms ? EVENTWIN_NEW : EVENTWIN_UNCHECKED);
        when[i] = ti;
        if (k % 997 == 0)
            eventwin_expire(w, t - rand() % (60 * SEC));
        struct eventwin_stats st;
        eventwin_get_stats(w, &st);
        assert_true(st.ids <= CAP);
    }
    struct eventwin_stats st;
    eventwin_get_stats(w, &st);
    for (unsigned i = 0; i < N; i++) {
        if (when[i] && when[i] > st.floor_ms && !has_i(w, i))
            fail_msg("id %u (t %lld > floor %lld) lost", i, (long long)when[i],
                     (long long)st.floor_ms);
    }
    eventwin_free(w);
}

/* What eventwin_save() writes is bounded by the cap and loads back to the same window. */
static void test_save_load_bounded(void **state)
{
    (void)state;
    eventwin_t *w = eventwin_new(EVENTWIN_DEFAULT_WINDOW_MS, 3000);
    for (unsigned i = 0; i < 100000; i++)
        add_i(w, i, T0 + i);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    assert_int_equal(eventwin_save(w, f), 0);
    fclose(f);
    /* 3000 ids of 48 hex digits, three lines of ids and one header. */
    assert_true(len <= 3000 * 48 + 3 * 20 + 100);
    eventwin_t *l = eventwin_new(EVENTWIN_DEFAULT_WINDOW_MS, 3000);
    char *line = buf, *nl;
    size_t lines = 0;
    while ((nl = strchr(line, '\n'))) {
        *nl = '\0';
        lines++;
        long long floor_ms, newest_ms;
        if (sscanf(line, "{\"event_window\":{\"floor_ms\":%lld,\"newest_ms\":%lld}}", &floor_ms,
                   &newest_ms) == 2) {
            eventwin_load_header(l, floor_ms, newest_ms);
        } else {
            const char *p = strstr(line, "{\"event_ids\":\"");
            assert_ptr_equal(p, line);
            p += strlen("{\"event_ids\":\"");
            assert_int_equal(eventwin_load_ids(l, p, strlen(p) - 2), 0);
        }
        line = nl + 1;
    }
    assert_int_equal(lines, 4);
    struct eventwin_stats a, b;
    eventwin_get_stats(w, &a);
    eventwin_get_stats(l, &b);
    assert_int_equal(a.ids, b.ids);
    assert_int_equal(a.floor_ms, b.floor_ms);
    assert_int_equal(a.newest_ms, b.newest_ms);
    for (unsigned i = 96990; i < 100000; i++)
        assert_int_equal(has_i(l, i), i >= 97000);
    assert_int_equal(add_i(l, 5, T0 + 5), EVENTWIN_UNCHECKED);
    /* Malformed id text is refused. */
    assert_int_equal(eventwin_load_ids(l, "00ff", 4), -EINVAL);
    char bad[49];
    memset(bad, 'G', 48);
    bad[48] = '\0';
    assert_int_equal(eventwin_load_ids(l, bad, 48), -EINVAL);
    free(buf);
    eventwin_free(l);
    eventwin_free(w);
}

/* ---- the model's window ----------------------------------------------------------------- */

static struct record *event(unsigned i, int64_t t)
{
    char id[64];
    id_of(id, sizeof id, i);
    struct record *r = record_new(RECORD_EVENT);
    record_str_set(&r->scope, "ipam-scope-0aaaaaaaaaaaaaaaa");
    record_str_set(&r->source, "collector/test");
    record_str_set(&r->u.event.event_id, id);
    record_str_set(&r->u.event.name, "DescribeSomething"); /* changes no modelled state */
    record_str_set(&r->u.event.account, "222233334444");
    record_str_set(&r->u.event.region, "eu-central-1");
    r->u.event.time_ms = t;
    r->u.event.parsed = true;
    return r;
}

/* Effects of applying event i (0 = a duplicate). */
static size_t apply_event(model_t *m, unsigned i, int64_t t)
{
    struct model_effects fx;
    model_effects_init(&fx);
    struct record *r = event(i, t);
    char err[256];
    assert_int_equal(model_apply(m, r, &fx, err, sizeof err), 0);
    record_free(r);
    size_t n = fx.n;
    model_effects_clear(&fx);
    return n;
}

/* A sustained stream: the model holds at most the default cap of ids, its snapshot stays
 * bounded, replays inside the window stay no-ops after a save and load, and a duplicate from
 * beyond the window is counted as unchecked. */
static void test_model_stream_bounded(void **state)
{
    (void)state;
    enum { EVENTS = EVENTWIN_DEFAULT_MAX_IDS + 40000 };
    model_t *m = model_new(NULL);
    for (unsigned i = 0; i < EVENTS; i++)
        assert_int_equal(apply_event(m, i, T0 + i), 1);
    assert_int_equal(apply_event(m, EVENTS - 1, T0 + EVENTS - 1), 0);
    struct model_stats st;
    model_get_stats(m, &st);
    assert_int_equal(st.event_ids, EVENTWIN_DEFAULT_MAX_IDS);
    assert_int_equal(st.event_ids_capped, 40000);
    assert_int_equal(st.events_duplicate, 1);

    char dir[64], path[128], err[512];
    assert_int_equal(testing_mkdtemp(dir, sizeof dir, "test_eventwin"), 0);
    snprintf(path, sizeof path, "%s/model.snap", dir);
    assert_int_equal(model_save(m, path, err, sizeof err), 0);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    /* ~48 bytes an id; before the window it was one line of ~50 bytes per id ever seen. */
    assert_true((size_t)sb.st_size < (size_t)EVENTWIN_DEFAULT_MAX_IDS * 49 + 4096);
    model_t *l = model_load(NULL, path, err, sizeof err);
    if (!l)
        fail_msg("model_load: %s", err);
    unlink(path);
    rmdir(dir);
    /* Replays of the newest ids change nothing; the oldest (let go) come back unchecked. */
    for (unsigned i = EVENTS - 1000; i < EVENTS; i++)
        assert_int_equal(apply_event(l, i, T0 + i), 0);
    assert_int_equal(apply_event(l, 3, T0 + 3), 1);
    model_get_stats(l, &st);
    assert_int_equal(st.events_duplicate, 1000);
    assert_int_equal(st.events_unchecked, 1);
    assert_int_equal(st.event_ids, EVENTWIN_DEFAULT_MAX_IDS);
    model_free(l);
    model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duplicates_in_window),
        cmocka_unit_test(test_count_cap),
        cmocka_unit_test(test_time_window),
        cmocka_unit_test(test_random_against_reference),
        cmocka_unit_test(test_save_load_bounded),
        cmocka_unit_test(test_model_stream_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
