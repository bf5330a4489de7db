/* SPDX-License-Identifier: Apache-2.0 */
/*
 * upgrade.h - the till's side of a fleet upgrade (docs/rollout.md). The agent runs sandboxed
 * and installs nothing: HQ's upgrade command (fleet.h) is handed to the root-owned upgrade unit
 * (pkg/posedge-upgrade, started by posedge-upgrade.path) through small files in
 * <data_dir>/upgrade/, once the till is idle, and the till stays held (till_hold) until the unit
 * is done, so that installing, the restart it brings and a rollback never interrupt a sale.
 * What came of it is shown in the state document's "upgrade" (docs/protocol.md).
 *
 * The files, each "key=value" lines, each written whole (a new file, synced, renamed):
 *
 *   pending  agent   an accepted upgrade waiting for the till to be idle (no basket; with
 *                    after_shift also no open shift): id, version, from, after_shift, watch_s, ts
 *   request  agent   pending renamed once the till is idle: the path unit starts the upgrade
 *                    unit on it; it is the unit's to remove, last
 *   alive    agent   version, pid, ts_ms: rewritten every second while request exists, by the
 *                    old agent and by the new one the package restarts; the unit judges the
 *                    new version's first upgrade.watch_s seconds by it
 *   result   unit    id, version, previous, outcome (ok, rolled_back, failed), reason, ts
 */
#ifndef POSEDGE_AGENT_UPGRADE_H
#define POSEDGE_AGENT_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "agent/till.h"
#include "posedge/loop.h"
#include "posedge/protocol.h"

struct upgrade_deps {
    struct pe_loop *loop;   /* borrowed; outlive the upgrade */
    struct pe_till *till;   /* borrowed */
    const char *data_dir;   /* copied: the files are in <data_dir>/upgrade */
    int64_t watch_s;        /* upgrade.watch_s: the new version's first seconds the unit judges */
    int64_t hold_max_s;     /* upgrade.hold_max_s: the till is released after this at most */
    void (*changed)(void *ctx); /* the state's "upgrade" changed (republish); may be NULL */
    void *ctx;
};

struct upgrade;

/* Create <data_dir>/upgrade (mode 0750) and read what is there: a request left by the agent
 * before a restart holds the till at once. Errors: PE_ENOMEM, PE_EIO (err says which file). */
int upgrade_create(const struct upgrade_deps *deps, struct upgrade **out, char *err,
                   size_t errlen);
/* Cancel the timer and free; the files stay (a restart carries on). NULL is a no-op. */
void upgrade_destroy(struct upgrade *u);

/*
 * HQ's upgrade command (request id id): upgrade to version once the till is idle. *current is
 * set when the till runs version already (nothing is written). An earlier upgrade still
 * waiting is replaced. Errors (why says what): PE_EINVAL (version), PE_EBUSY (an upgrade is
 * being installed), PE_EIO (the file could not be written).
 */
int upgrade_ask(struct upgrade *u, const char *id, const char *version, bool after_shift,
                bool *current, char *why, size_t len);

/* Add "upgrade" to the state document: null, or {"id","version","previous","outcome",
 * "reason","ts"} (outcome: protocol.h's PE_UPGRADE_OUTCOMES). False when out of
 * memory. */
bool upgrade_state(const struct upgrade *u, cJSON *obj);

#endif
