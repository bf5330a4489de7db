/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog_sync.h - the till's side of the catalog channels (docs/protocol.md, "Catalog"): it
 * follows the bridge's retained version document, asks for what it lacks, receives the answer
 * in chunks, and has the till put it in force between baskets.
 *
 * On every connection (the retained document comes with the subscription) and on every new
 * version, a till whose version or content hash differs from the bridge's asks on
 * posedge/v1/<store>/<terminal>/catalog/get with {"v":1,"req":UUID,"since":V} (V its version,
 * 0 for everything) and receives on .../catalog/data the chunks of the answer of that req. The
 * chunks are kept in the journal's stage as they come (a 50,000-item catalog is not held in
 * memory); once all are in, the till applies them (till.h: one transaction, every document and
 * the content hash checked), or defers while a basket is open. A delta the till cannot take
 * (another base, a hash that does not match) makes it ask for the whole catalog; a transfer
 * from which nothing came for catalog_sync.timeout_ms is asked again; a version refused for its
 * content is kept out (the log and the state document say why) and not asked again until the
 * bridge announces another one. Everything runs on the agent's loop, between two device inputs.
 */
#ifndef POSEDGE_AGENT_CATALOG_SYNC_H
#define POSEDGE_AGENT_CATALOG_SYNC_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "agent/till.h"
#include "agent/uplink.h"
#include "posedge/crypto.h"
#include "posedge/journal.h"
#include "posedge/loop.h"

#define CATALOG_CHUNKS_MAX 100000 /* chunks of one answer: far above 50,000 items / 500 */

struct catalog_sync_deps {
    struct pe_loop *loop;       /* borrowed; all of these outlive the sync */
    struct pe_journal *journal; /* borrowed: the stage */
    struct pe_till *till;       /* borrowed: applies */
    struct uplink *uplink;      /* borrowed: the connection (created with catalog_sync_hook) */
    struct pe_rng *rng;         /* borrowed: request ids */
    const char *store;          /* ids, copied */
    const char *terminal;
    const char *currency;       /* the till's currency, copied: another one is refused */
    int64_t timeout_ms;         /* an answer silent this long, incomplete, is asked again */
    /* Something the state document shows changed (may be NULL). */
    void (*changed)(void *ctx);
    void *ctx;
};

struct catalog_sync;

/* Add the sync's hooks to the uplink's (before uplink_create; *slot is where catalog_sync_create
 * will store it). Errors: PE_ENOMEM (no free hook slot). */
int catalog_sync_hook(struct uplink_opts *uo, struct catalog_sync **slot);

/* Create the sync (it empties the stage: a transfer cut by a restart is asked again).
 * Errors: PE_EINVAL, PE_ENOMEM. */
int catalog_sync_create(const struct catalog_sync_deps *d, struct catalog_sync **out);

/* Cancel timers and free; NULL is a no-op. */
void catalog_sync_destroy(struct catalog_sync *s);

/* The till committed something (its basket may have just ended): a transfer waiting for it is
 * applied soon (from a zero-delay timer, never from inside the caller). Cheap; NULL is a no-op. */
void catalog_sync_kick(struct catalog_sync *s);

/* Add "catalog":{"version","hash","applied","pending","error"} to the state document obj:
 * the version in force, its hash and when it was applied, the version being fetched or waiting
 * for the basket to end (null when none), and why the last one was refused (null when none).
 * s may be NULL (the till's version only: no uplink). Returns false when out of memory. */
bool catalog_sync_state(const struct catalog_sync *s, const struct pe_till *till, cJSON *obj);

#endif
