/* decoder: record_decode() of batches of polled messages on a worker thread.
 *
 * DESIGN: the analyzer's main thread applies records one at a time and bounds its
 * throughput; decoding them (common/record_read.c) needs nothing of the analyzer's state,
 * so it runs beside it. The caller hands over one batch at a time (decoder_start()), goes
 * on with its own work and takes the batch back with decoder_wait(); the items keep their
 * order. The messages the caller is done with can go along to be freed there too (their
 * records' strings are many small allocations). Lock order: one mutex, held only to hand a
 * batch over and back.
 */
#ifndef IPAMWATCH_DECODER_H
#define IPAMWATCH_DECODER_H

#include <stdbool.h>
#include <stddef.h>

#include "record.h"

/* One message to decode. The caller fills the input; decoding fills the output. */
struct decoder_item {
    const char *payload; /* borrowed: must stay valid until the batch is taken back */
    size_t len;
    bool skip;          /* true: not decoded (rec stays NULL, rc 0) */
    struct record *rec; /* the record (owned by the caller once taken back), or NULL */
    int rc;             /* record_decode()'s result */
    char *err;          /* its text when rc < 0 (owned by the caller, free()), else NULL */
};

typedef struct decoder decoder_t;

/* Starts the worker thread. Returns the decoder (owned by the caller, decoder_free()) or
 * NULL with the reason in err. */
decoder_t *decoder_new(char *err, size_t errlen);

/* Decodes `it` in the calling thread (what the worker does with each item of a batch).
 * Any thread. */
void decoder_decode(struct decoder_item *it);

/* Hands the batch `items[0..n-1]` (borrowed until decoder_wait() returns) to the worker,
 * and `trash[0..ntrash-1]` (each stolen, the array borrowed until decoder_wait()), which it
 * frees with trash_free() before decoding; n and ntrash may be 0. At most one batch is out
 * at a time: a batch still out is waited for first. The thread that owns the decoder. */
void decoder_start(decoder_t *d, struct decoder_item *items, size_t n, void **trash, size_t ntrash,
                   void (*trash_free)(void *));

/* True while a batch was handed over and not taken back by decoder_wait(). */
bool decoder_busy(const decoder_t *d);

/* True when decoder_wait() would not block: no batch out, or the one out is decoded. The
 * thread that owns the decoder. */
bool decoder_done(decoder_t *d);

/* Waits until the batch handed over is decoded; it is the caller's again. No-op when no
 * batch is out. The thread that owns the decoder. */
void decoder_wait(decoder_t *d);

/* Waits for a batch still out (the caller then frees its items), stops the worker and frees
 * the decoder. NULL is a no-op. */
void decoder_free(decoder_t *d);

#endif
