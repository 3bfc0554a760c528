/* cli_files: an inventory source over the JSON files the aws CLI prints.
 *
 * DESIGN: a user without live access (and the demo) saves the output of the same calls the
 * API source makes (`aws ec2 describe-ipam-pools > describe-ipam-pools.json`, one file per
 * pool or scope for the per-object calls) and the collector publishes them as one
 * inventory pass exactly as it would publish the API's answers. Layout under DIR (or
 * DIR/inventory):
 *   describe-ipams.json, describe-ipam-scopes.json, describe-ipam-pools.json,
 *   describe-ipam-resource-discoveries.json (optional),
 *   get-ipam-pool-cidrs/<pool-id>.json, get-ipam-pool-allocations/<pool-id>.json,
 *   get-ipam-resource-cidrs/<scope-id>.json,
 *   get-ipam-discovered-accounts/<discovery-id>.json (optional).
 * A file that still holds a NextToken is only one page of a listing and fails the pass.
 */
#ifndef IPAMWATCH_CLI_FILES_H
#define IPAMWATCH_CLI_FILES_H

#include <stddef.h>

#include "collector/inventory.h"

typedef struct cli_files cli_files_t;

/* Opens the file source rooted at `dir` (copied). Returns NULL with a reason in `err` when
 * the directory holds no describe-ipams.json. Owned by the caller. */
cli_files_t *cli_files_new(const char *dir, char *err, size_t errlen);
void cli_files_free(cli_files_t *f);

/* Fills `src` with this source (borrowed; must outlive `src`). The home region is taken
 * from the first IPAM's ipamRegion, or "unknown". */
void cli_files_source(cli_files_t *f, struct inventory_source *src);

/* Lists the items of `op` from its file (inventory_list_fn contract). Errors name the
 * file: "DIR/describe-ipam-pools.json: line 3 column 5: ...". */
int cli_files_list(void *ctx, enum ec2_ipam_op op, const char *region, const char *arg,
                   const char *arg2, ec2_ipam_item_cb on_item, void *cb_ctx, char *err,
                   size_t errlen);

#endif
