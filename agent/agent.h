/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent.h - PRIVATE to agent/: the till daemon's one struct, and the parts of posedge-agent
 * that main.c (lifecycle: options, start, run, stop) wires together:
 *   devices.c     the devices, one per class of PE_DEV_CLASSES, opened, watched, read and
 *                 closed by one loop over the classes;
 *   selftest.c    --self-test;
 *   remote_cfg.c  settings made remotely (set_config, remote-config.json) and the checks a
 *                 configuration must pass beyond its key table;
 *   agent_sim.c   the simulator of the sim board (--scenario, --shopper, --replay and the
 *                 daemon's endless shopper); the only file that calls it. On a board without
 *                 the sim layer agent_sim_nosim.c stands in and refuses those options.
 * Everything runs on the one thread of the agent's loop.
 */
#ifndef POSEDGE_AGENT_AGENT_H
#define POSEDGE_AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "agent/agent_cfg.h"
#include "agent/catalog_sync.h"
#include "agent/enrol.h"
#include "agent/fleet.h"
#include "agent/till.h"
#include "agent/upgrade.h"
#include "agent/uplink.h"
#include "posedge/catalog.h"
#include "posedge/crypto.h"
#include "posedge/hal/board.h"
#include "posedge/journal.h"
#include "posedge/loop.h"

#define EXIT_USAGE 2
#define EXIT_UNCOMMITTED 3
#define EXIT_DAMAGED 4 /* the journal is damaged (the message says how to recover) */
#define EXIT_RESTART                                                                               \
    75 /* a remote set_config needs a clean restart (unit: RestartForceExitStatus) */

struct pe_sim;

struct agent {
    struct agent_cfg cfg;
    char cfg_path[AGENT_PATH_MAX]; /* the configuration file, for relative paths */
    struct pe_loop *loop;
    struct pe_journal *journal;
    struct pe_catalog *catalog;
    struct pe_rng *rng;
    struct pe_signer *signer;      /* NULL with signer.type none */
    struct pe_device *dev[PE_DEV__COUNT]; /* by class; NULL until opened */
    enum pe_health health[PE_DEV__COUNT]; /* last seen, while watched */
    int64_t failed_since[PE_DEV__COUNT];  /* pe_mono_ms when last seen failed, 0: not failed */
    bool scale_polled;             /* the scale answers request(): asked every SCALE_POLL_MS */
    struct pe_sim *sim;            /* NULL: no simulation (real devices, or no simulator) */
    struct pe_till *till;
    struct uplink *uplink;         /* NULL when mqtt.host is "" */
    struct fleet *fleet;           /* with the uplink: state document and commands */
    struct enrol *enrol;           /* with mutual TLS: the certificate's enrolment and renewal */
    struct catalog_sync *catalog_sync; /* with the uplink: the catalog from the bridge */
    struct upgrade *upgrade;       /* daemon mode: HQ's upgrades, handed to the upgrade unit */
    int64_t started_us;            /* pe_mono_us at start, for the summary */
    int64_t started_ms;            /* wall clock at start (process_start_time_seconds) */
    struct pe_http *http;          /* /metrics and /health (http.listen), NULL when off */
    int64_t archive_timer;         /* a pending agent_archive after a Z report, 0 none */
    bool restart;                  /* stop, then exit EXIT_RESTART */
    bool stop;                     /* a signal or a restart asked the loop to end */
    int stop_signal;
};

/* ---- archiver.c ---- */

/* Archive and prune the closed, delivered periods older than journal.keep_days (see
 * archiver.c), if any. Failures are logged and leave the journal as it was. Returns PE_OK or the
 * error. */
int agent_archive(struct agent *a);

/* ---- devices.c ---- */

/* Every class's configured driver is built in. Errors: PE_EINVAL, with err naming the key
 * ("devices.scale.driver: no driver ..."). */
int devices_check(const struct agent_cfg *c, char *err, size_t len);

/*
 * Open every class's device with its driver (checked by devices_check) and watch the input
 * devices' fds on the loop. On failure a message is on stderr and the devices opened so far
 * stay in a->dev for devices_close. Returns 0 or the exit status 1.
 */
int devices_open(struct agent *a);

/* With a real (non-fake) device configured: look at every device's health each second (logged,
 * and said on the customer display through the till) and poll a scale that must be asked. The
 * fakes of the sim board are driven by their back doors and not watched. */
void devices_watch(struct agent *a);

/* Close every open device; safe on a partly opened set. */
void devices_close(struct agent *a);

/* fleet_deps.devices: {"scanner":{"driver":D,"status":S},...} for the state document. */
void devices_fleet(void *ctx, cJSON *obj);

/* ---- selftest.c ---- */

/* posedge-agent --self-test over a->cfg (loaded, with the remote settings): prints one line
 * per check on stdout and returns the exit status, 0 when every check passed, else 1. */
int selftest_run(struct agent *a);

/* The class's device health now: true with *h, or false when the agent cannot tell (no device,
 * or its driver does not say). *failed_ms (may be NULL) is how long it has been seen failed,
 * 0 when it is not. */
bool devices_health(struct agent *a, enum pe_dev_class cls, enum pe_health *h,
                    int64_t *failed_ms);

/* ---- metrics.c ---- */

/* GET path on the till's http.listen: /metrics and /health (docs/metrics.md); a
 * pe_http_handler. */
int agent_http(void *ctx, const char *path, struct pe_http_reply *r);

/* ---- remote_cfg.c ---- */

/* Apply <data_dir>/remote-config.json (settings made by set_config) to c. A setting that no
 * longer passes is logged and skipped, never fatal: an unattended till must come back up. So
 * is a key that cannot be set remotely (remote_cfg_settable): the file is read back from disk
 * and trusted no further than the command that wrote it. */
void remote_cfg_load(struct agent_cfg *c);

/* The same over a document already read (text, len bytes; path only names it in the log). */
void remote_cfg_apply(struct agent_cfg *c, const char *path, const char *text, size_t len);

/* remote_cfg_settable (which keys a remote setting may change) is declared in fleet.h, for
 * the set_config command that applies it first. */

/*
 * Load the catalog c names (a relative path is taken from cfg_path's folder) into *out, and
 * check that it is priced in c's currency. Errors (err says which file and why): those of
 * pe_catalog_load, PE_EINVAL (another currency).
 */
int remote_cfg_catalog(const struct agent_cfg *c, const char *cfg_path, struct pe_catalog **out,
                       char *err, size_t len);

/* The checks start makes that the key table cannot (drivers built in, the catalog readable and
 * priced in the currency). Errors: PE_EINVAL (err says what is wrong). */
int remote_cfg_check(const struct agent_cfg *c, const char *cfg_path, char *err, size_t len);

/*
 * The first line of mqtt.password_file into out (outlen bytes; the caller wipes it with
 * pe_secret_wipe). Errors (err says "<path>: why", without the setting's name): those of
 * pe_secret_read.
 */
int remote_cfg_password(const struct agent_cfg *c, char *out, size_t outlen, char *err,
                        size_t errlen);

/* fleet_deps.set_config (fleet.h); ctx is the struct agent. */
int remote_cfg_set(void *ctx, const char *key, const char *value, bool *live, char *err,
                   size_t len);

/* ---- agent_sim.c ---- */

#define AGENT_REPLAY_MAX 64 /* --replay files */

/* What the command line asks of the simulator. */
struct agent_sim_opts {
    const char *scenario;                   /* --scenario FILE, or NULL */
    const char *replay[AGENT_REPLAY_MAX];   /* --replay FILE..., in order */
    size_t nreplay;                         /* files in replay */
    const char *replay_format;              /* --replay-format (NULL: online-retail) */
    const char *replay_store;               /* --replay-store (NULL: the first one seen) */
    long long shopper;                      /* --shopper N, -1 when not given */
    long long seed;                         /* --seed S, -1: sim.seed */
};

/* A batch run: the agent performs a scenario, a replay or N customers, then exits. */
static inline bool agent_sim_batch(const struct agent_sim_opts *o)
{
    return o->scenario || o->nreplay || o->shopper > 0;
}

/* "scenario" (a scenario or a replay), "shopper" or "daemon", for the start log. */
static inline const char *agent_sim_mode(const struct agent_sim_opts *o)
{
    return o->scenario || o->nreplay ? "scenario" : o->shopper > 0 ? "shopper" : "daemon";
}

/* The options hold together and this build has a simulator when they ask for one; called once
 * the command line is parsed. Errors: PE_EINVAL (err says what is wrong). */
int agent_sim_check(const struct agent_sim_opts *o, char *err, size_t len);

/*
 * Create a->sim when the keypad is the fake (the sim board): the batch the options ask for, or
 * the endless shopper of the daemon, with the sim clock starting at start_ms. A batch on other
 * devices is refused. Errors: PE_EINVAL and the errors of the simulator's create (err says).
 */
int agent_sim_start(struct agent *a, const struct agent_sim_opts *o, int64_t start_ms, char *err,
                    size_t len);

/* Free a->sim; NULL is a no-op. */
void agent_sim_stop(struct agent *a);

/* The sim board's terminal clock (simulated UTC ms); a->sim must exist. */
int64_t agent_sim_now(const struct agent *a);

/* The till committed an event (body borrowed): the shopper keeps sales for returns. */
void agent_sim_committed(struct agent *a, int64_t seq, const char *id, enum pe_event_type type,
                         const cJSON *body);

/* A real device of class cls (scanner or scale) gave the till one input: a scenario's "device"
 * step waits for one. */
void agent_sim_device_input(struct agent *a, enum pe_dev_class cls);

/* Customers served so far (0 without a simulation). */
int64_t agent_sim_customers(const struct agent *a);

/* Drive a batch run to its end. Returns the exit status: 0 done, 1 stopped or failed. */
int agent_sim_run_batch(struct agent *a);

/* Run the daemon with the endless shopper, paced to sim.speed, until stopped. Returns the exit
 * status: 0, or 1 when the simulation or the loop failed. */
int agent_sim_run_daemon(struct agent *a);

#endif
