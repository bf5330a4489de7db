/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleet.h - the till's fleet channel (docs/protocol.md, "Fleet state" and "Fleet commands"):
 * the retained state document on posedge/v1/<store>/<terminal>/state and the commands HQ sends
 * on .../cmd, answered on .../cmd/res. It rides on the uplink's MQTT connection (uplink.h's
 * hooks) and runs on the agent's loop; a command runs between two device inputs, like a key.
 *
 * Every command is answered exactly once. A request id is remembered (the last FLEET_SEEN_MAX,
 * in <data_dir>/fleet-seen, rewritten atomically before the command runs), so a QoS 1
 * redelivery, a retained or replayed message never runs a Z report twice.
 */
#ifndef POSEDGE_AGENT_FLEET_H
#define POSEDGE_AGENT_FLEET_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "agent/till.h"
#include "agent/uplink.h"
#include "posedge/journal.h"
#include "posedge/loop.h"

#define FLEET_SEEN_MAX 256 /* request ids remembered against replays */

struct fleet_deps {
    struct pe_loop *loop;       /* borrowed; all of these outlive the fleet channel */
    struct pe_journal *journal; /* borrowed */
    struct pe_till *till;       /* borrowed */
    struct uplink *uplink;      /* borrowed: the connection */
    const char *store;          /* ids and the data folder, copied */
    const char *terminal;
    const char *data_dir;
    const char *cert_file;    /* the till's certificate (mqtt.tls.cert_file), copied; NULL or
                               * "": none (the state has no "cert") */
    int64_t state_interval_s; /* republish the state this often (>= 1) */
    int64_t cmd_max_age_s;    /* refuse commands dated further away than this (>= 1) */
    /* Add the devices to the state document: {"scanner":{"driver":D,"status":S},...}. */
    void (*devices)(void *ctx, cJSON *obj);
    /* Add "catalog" to the state document (catalog_sync.h); false when out of memory. May be
     * NULL (no "catalog"). */
    bool (*catalog)(void *ctx, cJSON *obj);
    /*
     * set_config: check key=value exactly like the configuration file, persist it, apply it
     * when that is safe (*live true) or leave it for a restart (*live false). Errors: PE_EINVAL
     * (err says what is wrong, as the file's loader would), PE_EIO (could not persist).
     */
    int (*set_config)(void *ctx, const char *key, const char *value, bool *live, char *err,
                      size_t errlen);
    /*
     * upgrade: hand HQ's upgrade to version (request id id) to the upgrade unit once the till is
     * idle (upgrade.h's upgrade_ask, whose errors it returns); *current when the till runs that
     * version already. May be NULL (the command is refused as not supported).
     */
    int (*upgrade)(void *ctx, const char *id, const char *version, bool after_shift,
                   bool *current, char *why, size_t len);
    /* Add "upgrade" to the state document (upgrade.h); false when out of memory. May be NULL
     * (no "upgrade"). */
    bool (*upgrade_state)(void *ctx, cJSON *obj);
    /* A set_config needs a clean restart; its answer has reached the broker (or could not). */
    void (*restart)(void *ctx);
    void *ctx;
};

struct fleet;

/*
 * Create the channel and hook it to the uplink (deps->uplink must have been created with the
 * fleet's hooks added: see fleet_hook). Reads <data_dir>/fleet-seen.
 * Errors: PE_EINVAL, PE_ENOMEM.
 */
int fleet_create(const struct fleet_deps *deps, struct fleet **out);

/* Publish the retained state with "state":"offline" when connected (a clean exit says so
 * itself; the will can only say offline), cancel timers and free. NULL is a no-op. */
void fleet_destroy(struct fleet *f);

/* Something the state document shows changed (a commit, a device, the shift): republish soon,
 * at most once per second. Cheap. */
void fleet_changed(struct fleet *f);

/* Live settings changed by set_config. */
void fleet_set_limits(struct fleet *f, int64_t state_interval_s, int64_t cmd_max_age_s);

/* Add the fleet channel's hooks to the uplink's (before uplink_create; fleet is the ctx that
 * fleet_create will return, so the hooks take a pointer to where it will be stored).
 * Errors: PE_ENOMEM (no free hook slot). */
int fleet_hook(struct uplink_opts *uo, struct fleet **slot);

/* The state document ("online" or "offline"), for the status command and tests; the caller
 * frees it with cJSON_Delete. Errors: PE_ENOMEM. */
int fleet_state(struct fleet *f, const char *state, cJSON **out);

/* True for a key a remote setting may change (agent/remote_cfg.c). Not the identity and the
 * link (store, terminal, data_dir, mqtt.*, enrol.*: a wrong value would orphan the journal or cut
 * the till off from the very channel that could set it back), nor the fiscal signer (signer.*: a
 * remote setting may neither turn signing off nor name a module for the till to load), nor the
 * HTTP listener (http.*: where the till's metrics are served is the site's network decision). */
bool remote_cfg_settable(const char *key);

#endif
