/* inventory: one framed inventory pass over an IPAM source, published to Kafka.
 *
 * DESIGN: a pass reads the IPAM, its scopes, pools and discovery health first (small), then
 * publishes scope by scope: pass_begin, the IPAM and scope records, every pool of the scope
 * with its provisioned CIDRs and allocations (streamed page by page), the scope's resource
 * CIDRs (streamed), the discovery health, and pass_end with the count of each record type.
 * All of a scope's records share its key and so one partition, in order; the analyzer
 * accepts the scope's snapshot only when pass_end arrived complete with matching counts. A
 * pass counts as done only when every record's delivery was confirmed. The source is an
 * interface so that the EC2 API and aws CLI output files go through the same code.
 */
#ifndef IPAMWATCH_INVENTORY_H
#define IPAMWATCH_INVENTORY_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/ec2_ipam.h"
#include "collector/publisher.h"

/* Lists every item of `op` (same contract as ec2_ipam_list without page size and stats). */
typedef int (*inventory_list_fn)(void *ctx, enum ec2_ipam_op op, const char *region,
                                 const char *arg, const char *arg2, ec2_ipam_item_cb on_item,
                                 void *cb_ctx, char *err, size_t errlen);

struct inventory_source {
    inventory_list_fn list;
    void *ctx;
    const char *home_region; /* region of the IPAM's home calls */
    const char *name;        /* for log lines: "ec2 eu-central-1", "files /path" */
};

struct inventory_options {
    const char *topic;        /* inventory topic */
    const char *collector_id; /* record source and pass id prefix */
    const char *ipam_id;      /* only this IPAM's scopes; NULL = every IPAM listed */
    volatile sig_atomic_t *stop; /* when it becomes non-zero the pass stops reading and
                                    returns -EINTR once what it queued was reported */
    int64_t as_of_ms; /* > 0: the pass and its records are dated this time (a replay of an
                         inventory of the past) instead of the wall clock */
};

struct inventory_result {
    char pass_id[128];
    unsigned scopes;          /* scopes framed */
    uint64_t records;         /* records sent, frames included */
    uint64_t delivered;
    uint64_t failed;          /* delivery failures */
    uint64_t counts[RECORD_TYPE_COUNT];
    bool complete;            /* every call succeeded and every record was confirmed */
    int64_t duration_ms;
    char error[512];          /* the first reason the pass is incomplete */
};

/* Runs one pass of `src` (borrowed) into `pub` (borrowed). Fills `res`. Returns 0 when the
 * pass is complete, -EAGAIN when it ran but is incomplete (res->error says why: a failed
 * call, an item that could not be mapped, a delivery failure), -EINTR when interrupted.
 * The thread that owns `pub`. */
int inventory_pass_run(const struct inventory_source *src, publisher_t *pub,
                       const struct inventory_options *opt, struct inventory_result *res);

/* An inventory source over the EC2 API through `client` (borrowed; must outlive the
 * source). Fills `src`. */
void inventory_source_api(struct inventory_source *src, aws_client_t *client,
                          const char *home_region);

#endif
