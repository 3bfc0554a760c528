/* xalloc: allocation that never returns NULL; out of memory aborts the process. */
#ifndef IPAMWATCH_XALLOC_H
#define IPAMWATCH_XALLOC_H

#include <stddef.h>

/* Each returns memory owned by the caller (free with free()); on allocation failure the
 * process logs and aborts. Any thread. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Grows an array to hold at least `need` elements of `size` bytes, doubling; updates *cap. */
void *xgrow(void *p, size_t *cap, size_t need, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a freshly allocated string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
