/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim.h - the simulated shop floor of the sim board: the simulator layer (sim/).
 *
 * The simulator sits above the HAL and below the daemons (common -> store | hal -> sim ->
 * agent | bridge | ctl) and is built only for a board whose HAL_DIRS has fake, because it
 * drives the fake devices (hal/fake/) through their back doors: it scans barcodes on the fake
 * scanner, puts weights on the fake scale, presses keys on the fake keypad and presents cards
 * to the fake payment terminal. Its source is a scenario (a JSON-lines script of till
 * actions, see docs/scenario.md), the seeded shopper simulator or a dataset replay. It also
 * keeps the sim board's terminal clock: simulated UTC time that advances with each action, so
 * a trading day takes seconds. Everything is deterministic for a given script or seed.
 *
 * The daemon's loop calls pe_sim_step when pe_sim_pending is false (the till has consumed the
 * previous action and no payment is in flight), so actions never overtake each other.
 */
#ifndef POSEDGE_SIM_H
#define POSEDGE_SIM_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "posedge/catalog.h"
#include "posedge/hal/board.h"

/* The devices a simulation drives; all must be opened with the "fake" driver. Borrowed. */
struct pe_sim_devices {
    struct pe_scanner *scanner;
    struct pe_scale *scale;
    struct pe_keypad *keypad;
    struct pe_payment *payment;
};

struct pe_shopper_opts {
    uint64_t seed;        /* PRNG seed: same seed, same shop day */
    int64_t transactions; /* customers to serve; < 0 for endless (daemon mode) */
    int64_t start_ms;     /* sim clock at start, UTC ms */
    int32_t tx_per_day;   /* customers per trading day before the Z report */
    int32_t open_hour;    /* trading day opens (UTC hour) */
    int32_t close_hour;   /* and closes */
    int32_t card_pm;      /* per mille of customers paying by card */
    int32_t split_pm;     /* per mille paying part card, part cash */
    int32_t decline_pm;   /* per mille of card payments declined first */
    int32_t return_pm;    /* per mille of customers returning a previous purchase */
    int32_t void_pm;      /* per mille of transactions cancelled */
    int32_t nosale_pm;    /* per mille of no-sale drawer openings */
    int32_t weighed_pm;   /* per mille of basket lines that are weighed produce */
    int32_t error_pm;     /* per mille of operator mistakes (unknown barcode, bad weight) */
    int32_t max_lines;    /* most lines in a basket */
    char operator_[33];   /* operator id logging in */
};

/* Fill o with the defaults documented in README (seed 1, endless, ...). */
void pe_shopper_opts_default(struct pe_shopper_opts *o);

struct pe_sim;

/*
 * Start a scenario from a JSON-lines file. The file is read and checked whole before
 * anything runs: a bad line is refused with err naming the file, line number and reason.
 * start_ms is the sim clock at start. Errors: PE_EIO, PE_EPARSE, PE_EINVAL, PE_ENOMEM.
 */
int pe_sim_scenario_create(const char *path, const struct pe_sim_devices *devs, int64_t start_ms,
                           struct pe_sim **out, char *err, size_t errlen);

/* Start the shopper simulator over a catalog (borrowed; must outlive the sim).
 * Errors: PE_EINVAL (bad option, named in err), PE_ENOMEM. */
int pe_sim_shopper_create(const struct pe_catalog *cat, const struct pe_shopper_opts *o,
                          const struct pe_sim_devices *devs, struct pe_sim **out, char *err,
                          size_t errlen);

/* The till took one input from a real (non-fake) device: kind 0 a scan, 1 a weight. A
 * scenario's {"do":"device","input":"scan"|"weigh"} step waits for one (docs/scenario.md). */
void pe_sim_device_input(struct pe_sim *sim, int kind);

/* Free; pe_sim_destroy(NULL) is a no-op. Does not close the devices. */
void pe_sim_destroy(struct pe_sim *sim);

/* The sim board's terminal clock: simulated UTC ms. */
int64_t pe_sim_now(const struct pe_sim *sim);

/* True while an injected action waits unread in a device, or a payment is in flight. */
bool pe_sim_pending(const struct pe_sim *sim);

/* Simulated time at which the next action is due. Returns PE_OK, or PE_EEOF when done. */
int pe_sim_next_due(struct pe_sim *sim, int64_t *due_ms);

/*
 * Perform the next action: advance the clock to its due time and inject it into its device.
 * Returns PE_OK, PE_EEOF when the script or the requested number of customers is done,
 * or PE_ENOMEM.
 */
int pe_sim_step(struct pe_sim *sim);

/*
 * Tell the simulation that the till committed a sale (seq, id and the event body, borrowed):
 * the shopper keeps recent sales so that customers can come back with returns.
 */
void pe_sim_sale_committed(struct pe_sim *sim, int64_t seq, const char *id, const cJSON *body);

/* Customers served so far (each sale, return, void or no-sale attempt counts one). */
int64_t pe_sim_customers(const struct pe_sim *sim);

/* ---- Dataset replay (sim/replay.c, docs/scenario.md "Replaying datasets") --------------- */

enum pe_replay_format {
    PE_REPLAY_ONLINE_RETAIL = 1, /* UCI "Online Retail" CSV: one sale per InvoiceNo */
    PE_REPLAY_DATABRICKS,        /* Databricks POS CSVs: inventory_change, inventory_snapshot */
};

struct pe_replay_opts {
    enum pe_replay_format format; /* layout of the files */
    const char *store;            /* Databricks store_id to replay; NULL: the first one seen */
    const char *operator_;        /* operator id logging in; NULL: "replay" */
    const char *currency;         /* replay-catalog: ISO code; NULL: GBP (Online Retail), USD */
    int32_t tax_bp;               /* replay-catalog: tax rate of every item, basis points */
    FILE *report;                 /* skipped rows and notes, one line each; NULL: stderr */
};

/* "online-retail" or "databricks" into *out. Errors: PE_EINVAL. */
int pe_replay_format_parse(const char *name, enum pe_replay_format *out);

/*
 * Replay dataset files (npaths of them, in the order given) as till activity over cat
 * (borrowed; must outlive the sim), which must hold their items (pe_replay_catalog makes such a
 * catalog). Every file is read and checked whole at create: a bad row is reported to
 * o->report as "FILE:LINE: reason" and its whole invoice or transaction is skipped, never half
 * applied. Errors: PE_EIO (unreadable file), PE_EINVAL (a file of another layout; err names
 * it), PE_ENOMEM.
 */
int pe_sim_replay_create(const char *const *paths, size_t npaths, const struct pe_replay_opts *o,
                         const struct pe_catalog *cat, const struct pe_sim_devices *devs,
                         struct pe_sim **out, char *err, size_t errlen);

/*
 * Derive a catalog (the JSON of catalog.h) from dataset files: one item per product, with a
 * stable made-up EAN-13, the file's price (Online Retail: one item per StockCode and price) or
 * a deterministic one (Databricks), as a malloc'd string in *json_out (the caller frees).
 * Rows are checked as pe_sim_replay_create checks them. Errors: as pe_sim_replay_create.
 */
int pe_replay_catalog(const char *const *paths, size_t npaths, const struct pe_replay_opts *o,
                      char **json_out, char *err, size_t errlen);

#endif
