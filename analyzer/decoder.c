/* decoder: record_decode() of batches of polled messages on a worker thread. See decoder.h. */
#include "analyzer/decoder.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

struct decoder {
    pthread_t thread;
    pthread_mutex_t lock;       /* guards batch, n, done and quit */
    pthread_cond_t cond;        /* a batch handed over, done, or quit */
    struct decoder_item *batch; /* the batch out; NULL none */
    size_t n;
    void **trash; /* freed with trash_free() before the batch is decoded */
    size_t ntrash;
    void (*trash_free)(void *);
    bool done; /* the batch out is decoded */
    bool quit;
    bool out; /* the owner's view: a batch was handed over and not taken back */
};

void decoder_decode(struct decoder_item *it)
{
    char err[512];
    it->rec = NULL;
    it->rc = 0;
    it->err = NULL;
    if (it->skip)
        return;
    it->rc = record_decode(it->payload ? it->payload : "", it->len, &it->rec, err, sizeof err);
    if (it->rc < 0)
        it->err = xstrdup(err);
}

static void *worker(void *arg)
{
    decoder_t *d = arg;
    pthread_mutex_lock(&d->lock);
    for (;;) {
        while (!d->quit && (!d->batch || d->done))
            pthread_cond_wait(&d->cond, &d->lock);
        if (d->quit)
            break;
        struct decoder_item *items = d->batch;
        size_t n = d->n;
        void **trash = d->trash;
        size_t ntrash = d->ntrash;
        void (*trash_free)(void *) = d->trash_free;
        pthread_mutex_unlock(&d->lock);
        for (size_t i = 0; i < ntrash; i++)
            trash_free(trash[i]);
        for (size_t i = 0; i < n; i++)
            decoder_decode(&items[i]);
        pthread_mutex_lock(&d->lock);
        d->done = true;
        pthread_cond_broadcast(&d->cond);
    }
    pthread_mutex_unlock(&d->lock);
    return NULL;
}

decoder_t *decoder_new(char *err, size_t errlen)
{
    decoder_t *d = xcalloc(1, sizeof *d);
    bool have_lock = false, have_cond = false;
    const char *what = "pthread_mutex_init";
    int rc;
    if ((rc = pthread_mutex_init(&d->lock, NULL)) != 0)
        goto fail;
    have_lock = true;
    what = "pthread_cond_init";
    if ((rc = pthread_cond_init(&d->cond, NULL)) != 0)
        goto fail;
    have_cond = true;
    what = "pthread_create";
    if ((rc = pthread_create(&d->thread, NULL, worker, d)) != 0)
        goto fail;
    return d;
fail:
    snprintf(err, errlen, "decoder: %s: %s", what, strerror(rc));
    if (have_cond)
        pthread_cond_destroy(&d->cond);
    if (have_lock)
        pthread_mutex_destroy(&d->lock);
    free(d);
    return NULL;
}

void decoder_start(decoder_t *d, struct decoder_item *items, size_t n, void **trash, size_t ntrash,
                   void (*trash_free)(void *))
{
    static struct decoder_item none;
    if (d->out)
        decoder_wait(d);
    pthread_mutex_lock(&d->lock);
    d->batch = items ? items : &none; /* non-NULL: a batch is out */
    d->n = n;
    d->trash = trash;
    d->ntrash = trash_free ? ntrash : 0;
    d->trash_free = trash_free;
    d->done = false;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    d->out = true;
}

bool decoder_busy(const decoder_t *d)
{
    return d->out;
}

bool decoder_done(decoder_t *d)
{
    if (!d->out)
        return true;
    pthread_mutex_lock(&d->lock);
    bool done = d->done;
    pthread_mutex_unlock(&d->lock);
    return done;
}

void decoder_wait(decoder_t *d)
{
    if (!d->out)
        return;
    pthread_mutex_lock(&d->lock);
    while (!d->done)
        pthread_cond_wait(&d->cond, &d->lock);
    d->batch = NULL;
    d->n = 0;
    d->trash = NULL;
    d->ntrash = 0;
    pthread_mutex_unlock(&d->lock);
    d->out = false;
}

void decoder_free(decoder_t *d)
{
    if (!d)
        return;
    decoder_wait(d);
    pthread_mutex_lock(&d->lock);
    d->quit = true;
    pthread_cond_broadcast(&d->cond);
    pthread_mutex_unlock(&d->lock);
    pthread_join(d->thread, NULL);
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->lock);
    free(d);
}
