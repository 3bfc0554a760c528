/* report: the compliance report of a period, gathered from the audit journal and the RRD
 * history, rendered as JSON, CSV or one self-contained HTML page.
 *
 * DESIGN: report_build() produces one JSON document (the shape docs/report-schema.json
 * describes); the CSV and HTML writers only walk that document, so the three formats never
 * disagree. The journal is verified first (journal_verify_range() over the whole chain);
 * the result is the document's "integrity" object and a broken chain does not stop the
 * report, it is stated on the first line of every format. Records are then read once, from
 * the beginning of the journal up to the end of the period, because overlaps and
 * noncompliance that began before the period still matter inside it: each pair and each
 * resource is replayed as a sequence of open/close transitions in event-time order.
 * Utilization comes from the pools' RRD files: MAX of the utilization over the period (the
 * peak) and the last known AVERAGE row (the end-of-period value). docs/report.md documents
 * the sections and the choices made.
 */
#ifndef IPAMWATCH_REPORT_H
#define IPAMWATCH_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>

#include "analyzer/model.h"
#include "config/config.h"

/* Version of the report document ("version" in the JSON). */
#define REPORT_VERSION 1

/* Columns of the single-file CSV, in order (the first is "section"). NULL-terminated. */
extern const char *const report_csv_columns[];

struct report_options {
    time_t from, to;   /* the period [from, to), UTC seconds; to > from */
    const char *scope; /* keep only this scope id (borrowed); NULL = every scope */
    time_t now;        /* generated-at time (0 = time()) */
    /* Journal directories to read (borrowed); none = cfg->journal.dir. Several (the
     * journals of analyzers that split a consumer group): each chain is verified, the
     * records are merged by event time and a record whose key an earlier one had is read
     * once. */
    const char *const *journals;
    size_t n_journals;
};

/* Verifies the journal of cfg->journal.dir (or the journals of o->journals) and gathers
 * every section for the period and scope of `o` (both borrowed). Returns the report document
 * (a new reference owned by the caller), or NULL with text in err when a journal or the RRD
 * directory cannot be read at all. A broken hash chain is not an error: the document's
 * "integrity" says so (check it with report_intact()). Main thread (librrd is not
 * thread-safe). */
json_t *report_build(const struct config *cfg, const struct report_options *o, char *err,
                     size_t errlen);

/* True when the report's journal verified intact (`report` borrowed). Any thread. */
bool report_intact(const json_t *report);

/* One line about the journal for stderr: "journal: N records, head DIGEST (seq S)" or
 * "journal: BROKEN: ..."; with several journals one such line per journal ("journal DIR:
 * ..."), separated by "; " (written into `buf`, owned by the caller). Any thread. */
void report_integrity_line(const json_t *report, char *buf, size_t buflen);

/* Writes the document as indented JSON to `f` (borrowed). Returns 0 or -EIO. Any thread. */
int report_write_json(const json_t *report, FILE *f);

/* Writes the report as one CSV file (RFC 4180, CRLF-free: "\n" line ends): a first line
 * "# integrity: ..." (a comment-like row, the only line starting with '#'), a header of
 * report_csv_columns, then one row per ledger entry, failure, overlap, noncompliant
 * resource, pool and summary item, its section named in the "section" column. Returns 0 or
 * -EIO. Any thread. */
int report_write_csv(const json_t *report, FILE *f);

/* Writes one self-contained HTML page (inline CSS, @media print rules, a red banner first
 * when the chain is broken) to `f`. When `cfg` is not NULL, the `graphs` pools with the
 * highest peaks get a utilization graph over the period drawn with rrd_store_graph() and
 * embedded as a data:image/png;base64 URI. Returns 0, or -errno when writing failed (a graph
 * that cannot be drawn is left out with a note and a warning, not an error). Main thread
 * (librrd's graph code is process-wide). */
int report_write_html(const json_t *report, const struct config *cfg, int graphs, FILE *f);

/* Loads the model snapshot the analyzer checkpointed last (the model-<generation>.snap that
 * <[analyzer] state_dir>/checkpoint.json names), for commands that read the analyzer's state
 * without running it (`cfg` borrowed). Returns the model (owned by the caller, model_free()),
 * or NULL: with "" in `err` when there is no checkpoint yet, else with the reason in `err`.
 * Any thread; the model then belongs to it. */
model_t *report_snapshot_load(const struct config *cfg, char *err, size_t errlen);

#endif
