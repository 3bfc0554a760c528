/* metrics: a registry of counters and gauges with labels, served over HTTP as Prometheus
 * /metrics (text exposition format 0.0.4), with /healthz and /readyz.
 *
 * DESIGN: a family is declared once (name, type, help text, label names); its series are
 * set or incremented by label values given in the declared order, and printed in that
 * order, families in declaration order and series in creation order, so the output is
 * stable. One mutex guards the registry: the daemon's threads update it and the HTTP
 * server (libmicrohttpd's own polling thread) renders it under the same lock, so a scrape
 * never sees half an update. metrics_lock() takes that lock (it is recursive) for a group of
 * updates that must appear together. Readiness is kept per component ("collector",
 * "analyzer"): /readyz answers 200 only when every registered component is ready and its
 * readiness has not expired; a component that stops refreshing turns not ready by itself,
 * so a hung loop is visible without any cooperation from it.
 */
#ifndef IPAMWATCH_METRICS_H
#define IPAMWATCH_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct metrics metrics_t;

enum metrics_type { METRICS_COUNTER, METRICS_GAUGE };

/* Creates an empty registry without a server. Returns the registry, owned by the caller
 * (metrics_free()). Any thread. */
metrics_t *metrics_new(void);

/* Stops the server if one runs and frees everything. NULL is a no-op. The thread that
 * created the registry, once no other thread uses it. */
void metrics_free(metrics_t *m);

/* Starts the HTTP server on `listen` ("host:port" or "[v6]:port"; port 0 picks a free
 * one, see metrics_port()) in libmicrohttpd's own thread. Returns 0, -EINVAL for an
 * address that does not parse or resolve, -EALREADY when a server already runs, or
 * -EADDRINUSE-style codes when it cannot listen, with text in `err`. `listen` is
 * borrowed. The owning thread. */
int metrics_serve(metrics_t *m, const char *listen, char *err, size_t errlen);

/* metrics_new() and metrics_serve() in one: the registry of a daemon serving on `listen`
 * (borrowed). Returns it (owned by the caller, metrics_free()) or NULL with text in `err`.
 * The owning thread. */
metrics_t *metrics_start(const char *listen, char *err, size_t errlen);

/* Port the server listens on; 0 when none runs. Any thread. */
int metrics_port(const metrics_t *m);

/* Declares family `name` ([a-zA-Z_:][a-zA-Z0-9_:]*) of `type` with `help` (borrowed,
 * copied) and `labels`, a comma-separated list of label names ("" or NULL: none).
 * Declaring an existing family again with the same type and labels is a no-op. Returns 0,
 * -EINVAL for a bad name or label name, -EEXIST when `name` exists with another type or
 * other labels. Any thread. */
int metrics_declare(metrics_t *m, const char *name, enum metrics_type type, const char *help,
                    const char *labels);

/* Sets the series of `name` with the given label values (as many `const char *` as the
 * family has labels, in declaration order, then NULL; values borrowed and copied) to
 * `value`. The series is created on first use. Returns 0, -ENOENT for an undeclared
 * family, -EINVAL when the number of values differs. Any thread. */
int metrics_set(metrics_t *m, const char *name, double value, ...) __attribute__((sentinel));

/* As metrics_set(), adding `delta` to the series' value (a new series starts at 0). A
 * negative delta on a counter is refused with -EINVAL. Any thread. */
int metrics_add(metrics_t *m, const char *name, double delta, ...) __attribute__((sentinel));

/* Current value of a series in *out (same arguments as metrics_set()). Returns 0 or
 * -ENOENT when the family or the series does not exist. Any thread. */
int metrics_get(metrics_t *m, const char *name, double *out, ...) __attribute__((sentinel));

/* Removes, from every family having label `label`, the series whose value of that label is
 * `value` (both borrowed). Returns how many series went. Any thread. */
size_t metrics_drop(metrics_t *m, const char *label, const char *value);

/* Takes / releases the registry lock so that a group of updates appears at once to the
 * server. Recursive; every metrics_lock() needs its metrics_unlock() on the same thread. */
void metrics_lock(metrics_t *m);
void metrics_unlock(metrics_t *m);

/* Renders the registry in the text exposition format 0.0.4 into a NUL-terminated buffer
 * owned by the caller (free()), its length in *len if not NULL. Any thread. */
char *metrics_render(metrics_t *m, size_t *len);

/* Sets the readiness of `component` (borrowed, copied; registered on first call):
 * `not_ready` NULL means ready, else it is the reason (borrowed, copied) /readyz reports.
 * A ready state given with `valid_ms` > 0 turns not ready ("COMPONENT: no progress for N s")
 * unless refreshed within that time; 0 keeps it until changed. Any thread. */
void metrics_set_ready(metrics_t *m, const char *component, const char *not_ready,
                       int64_t valid_ms);

/* True when every registered component is ready (and at least one is registered); else
 * false with "COMPONENT: reason" of the first one that is not in `why` (may be NULL).
 * Any thread. */
bool metrics_ready(metrics_t *m, char *why, size_t whylen);

#endif
