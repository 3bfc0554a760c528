/* test_decoder: batches decoded on the worker thread give what record_decode() gives in the
 * caller's thread, in order, skipped items untouched; hand-over and take-back in any order;
 * what the caller hands over to be freed is freed by the worker. */
#include "testing.h"

#include "analyzer/decoder.h"
#include "golden.h"
#include "record.h"

#define BATCH 300

/* Payloads: the golden records, and texts that do not decode. */
static const char *const bad[] = {
    "",
    "{",
    "{\"v\":1,\"type\":\"no_such_type\"}",
    "{\"v\":2,\"type\":\"scope\",\"scope_id\":\"ipam-scope-1\"}",
    "{\"v\":1,\"type\":\"pool\",\"pool_id\":7}",
};
#define NBAD (sizeof bad / sizeof bad[0])

struct payloads {
    char *text[NGOLDEN + NBAD];
    size_t len[NGOLDEN + NBAD];
};

static void payloads_load(struct payloads *p)
{
    for (size_t i = 0; i < NGOLDEN; i++)
        p->text[i] = golden(golden_names[i], &p->len[i]);
    for (size_t i = 0; i < NBAD; i++) {
        p->text[NGOLDEN + i] = strdup(bad[i]);
        p->len[NGOLDEN + i] = strlen(bad[i]);
    }
}

static void payloads_free(struct payloads *p)
{
    for (size_t i = 0; i < NGOLDEN + NBAD; i++)
        free(p->text[i]);
}

/* Fills items with payloads picked by the seeded sequence; about one in eight skipped. */
static void fill(struct decoder_item *items, size_t n, const struct payloads *p, unsigned *rnd)
{
    for (size_t i = 0; i < n; i++) {
        size_t k = testing_xorshift(rnd) % (NGOLDEN + NBAD);
        items[i] = (struct decoder_item){
            .payload = p->text[k], .len = p->len[k], .skip = testing_xorshift(rnd) % 8 == 0};
    }
}

/* Fails unless `it` holds what record_decode() gives for its payload in this thread. */
static void expect_decoded(const struct decoder_item *it)
{
    if (it->skip) {
        assert_null(it->rec);
        assert_int_equal(it->rc, 0);
        assert_null(it->err);
        return;
    }
    struct record *want = NULL;
    char err[512];
    int rc = record_decode(it->payload, it->len, &want, err, sizeof err);
    assert_int_equal(it->rc, rc);
    if (rc < 0) {
        assert_null(it->rec);
        assert_non_null(it->err);
        assert_string_equal(it->err, err);
        return;
    }
    assert_null(it->err);
    assert_non_null(it->rec);
    char *a = NULL, *b = NULL;
    size_t alen, blen;
    assert_int_equal(record_encode(it->rec, &a, &alen), 0);
    assert_int_equal(record_encode(want, &b, &blen), 0);
    assert_string_equal(a, b);
    free(a);
    free(b);
    record_free(want);
}

/* Checks every item of a batch that came back, then frees what the decoder made. */
static void expect_batch(struct decoder_item *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        expect_decoded(&items[i]);
        record_free(items[i].rec);
        free(items[i].err);
        items[i].rec = NULL;
        items[i].err = NULL;
    }
}

/* Trash goes with a batch (or alone) and is freed by the worker: counted by the thread that
 * frees, read after decoder_wait(). */
static size_t trash_freed;

static void trash_free(void *p)
{
    trash_freed++;
    free(p);
}

static void test_trash_freed_with_batch(void **state)
{
    (void)state;
    unsigned rnd = testing_seed() | 1;
    struct payloads p;
    payloads_load(&p);
    char err[256];
    decoder_t *d = decoder_new(err, sizeof err);
    assert_non_null(d);
    void *trash[100];
    struct decoder_item items[50];
    trash_freed = 0;
    for (size_t i = 0; i < 100; i++)
        trash[i] = malloc(16);
    fill(items, 50, &p, &rnd);
    decoder_start(d, items, 50, trash, 100, trash_free);
    while (!decoder_done(d)) /* without blocking */
        usleep(100);
    assert_true(decoder_busy(d)); /* until taken back */
    decoder_wait(d);
    assert_int_equal(trash_freed, 100);
    expect_batch(items, 50);
    for (size_t i = 0; i < 7; i++)
        trash[i] = malloc(16);
    decoder_start(d, NULL, 0, trash, 7, trash_free); /* trash alone */
    assert_true(decoder_busy(d));
    decoder_free(d); /* waits for it */
    assert_int_equal(trash_freed, 107);
    payloads_free(&p);
}

/* Two batches alternate as the analyzer uses them: one out with the worker while the caller
 * fills the other, which is handed over once the first is back. */
static void test_batches_match_record_decode(void **state)
{
    (void)state;
    unsigned rnd = testing_seed() | 1;
    struct payloads p;
    payloads_load(&p);
    char err[256];
    decoder_t *d = decoder_new(err, sizeof err);
    assert_non_null(d);
    static struct decoder_item items[2][BATCH];
    size_t n[2] = {0, 0};
    unsigned cur = 0;
    for (int round = 0; round < 40; round++) {
        n[cur] = 1 + testing_xorshift(&rnd) % BATCH;
        fill(items[cur], n[cur], &p, &rnd);
        decoder_wait(d);
        assert_false(decoder_busy(d));
        if (round > 0) {
            expect_batch(items[cur ^ 1], n[cur ^ 1]);
        }
        decoder_start(d, items[cur], n[cur], NULL, 0, NULL);
        assert_true(decoder_busy(d));
        cur ^= 1;
    }
    decoder_wait(d);
    expect_batch(items[cur ^ 1], n[cur ^ 1]);
    decoder_free(d);
    payloads_free(&p);
}

/* decoder_decode() in the caller's thread is the worker's step; an empty batch comes back. */
static void test_decode_in_caller_and_empty_batch(void **state)
{
    (void)state;
    unsigned rnd = testing_seed() | 1;
    struct payloads p;
    payloads_load(&p);
    struct decoder_item items[64];
    fill(items, 64, &p, &rnd);
    for (size_t i = 0; i < 64; i++)
        decoder_decode(&items[i]);
    expect_batch(items, 64);
    char err[256];
    decoder_t *d = decoder_new(err, sizeof err);
    assert_non_null(d);
    assert_true(decoder_done(d)); /* nothing out */
    decoder_wait(d);              /* returns at once */
    decoder_start(d, items, 0, NULL, 0, NULL);
    decoder_wait(d);
    assert_false(decoder_busy(d));
    decoder_free(d);
    payloads_free(&p);
}

/* A second hand-over waits for the first; freeing the decoder waits for the batch out. */
static void test_start_while_busy_and_free_with_batch_out(void **state)
{
    (void)state;
    unsigned rnd = testing_seed() | 1;
    struct payloads p;
    payloads_load(&p);
    static struct decoder_item first[BATCH], second[BATCH];
    fill(first, BATCH, &p, &rnd);
    fill(second, BATCH, &p, &rnd);
    char err[256];
    decoder_t *d = decoder_new(err, sizeof err);
    assert_non_null(d);
    decoder_start(d, first, BATCH, NULL, 0, NULL);
    decoder_start(d, second, BATCH, NULL, 0, NULL); /* takes `first` back first */
    expect_batch(first, BATCH);
    decoder_free(d); /* with `second` out */
    expect_batch(second, BATCH);
    decoder_free(NULL);
    payloads_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batches_match_record_decode),
        cmocka_unit_test(test_decode_in_caller_and_empty_batch),
        cmocka_unit_test(test_start_while_busy_and_free_with_batch_out),
        cmocka_unit_test(test_trash_freed_with_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
