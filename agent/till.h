/* SPDX-License-Identifier: Apache-2.0 */
/*
 * till.h - the till: the transaction state machine between HAL input and the journal.
 *
 * States: idle -> basket -> tender -> (committed -> receipt) -> idle. Input arrives as scans,
 * scale readings, operator keys and payment results; output goes to the customer display, the
 * journal, the printer and the cash drawer, in that order. The invariant: an event is
 * committed to the journal before anything is printed or the drawer opens, and a refused
 * action (unknown item, unstable weight, declined card, short tender, over-return, unknown
 * sale, failed commit) changes no journal state and leaves a clear message on the display.
 *
 * Signing: with a signer (deps->signer) every event is signed as it is committed (journal.h).
 * A key the journal does not hold yet is put in use by a signer_installed event, committed and
 * printed just before the till's first event with it; so is signing turned off (no signer on a
 * journal whose last events were signed), as an unsigned signer_installed {"alg":"none"}.
 *
 * Signer down (signer.h): when the signer cannot sign, selling goes on. The till commits a
 * signer_down event (nothing printed) and then the event itself, which the journal stores
 * unsigned and marked; its receipt says "SIGNATURE DEVICE UNAVAILABLE". Before each later event,
 * at most every deps->signer_retry_ms, it tries to commit a signer_up (the signed collective over
 * the outage's records); when that works signing goes on where the counter stood. The state
 * (till_signer) raises an alarm once the outage is older than deps->signer_down_alarm_s.
 */
#ifndef POSEDGE_AGENT_TILL_H
#define POSEDGE_AGENT_TILL_H

#include <stdbool.h>
#include <stdint.h>

#include "posedge/catalog.h"
#include "posedge/crypto.h"
#include "posedge/event.h"
#include "posedge/hal/board.h"
#include "posedge/journal.h"
#include "posedge/signer.h"

struct till_deps {
    struct pe_journal *journal;       /* borrowed; outlives the till */
    const struct pe_catalog *catalog; /* borrowed: the catalog file, version 0 (see below) */
    struct pe_rng *rng;               /* borrowed: draws event ids */
    struct pe_signer *signer;         /* borrowed: signs every event; NULL: events unsigned */
    struct pe_printer *printer;       /* borrowed */
    struct pe_display *display;       /* borrowed */
    struct pe_payment *payment;       /* borrowed */
    const char *store;                /* ids and currency, borrowed */
    const char *terminal;
    const char *currency;
    const char *title;         /* first line of every receipt */
    bool training;             /* start in training mode (till_set_training) */
    int64_t (*now)(void *ctx); /* the terminal clock: UTC ms (NULL: the real clock) */
    void *now_ctx;
    /* Called after each commit (body borrowed for the call); may be NULL. */
    void (*committed)(void *ctx, int64_t seq, const char *id, enum pe_event_type type,
                      const cJSON *body);
    void *committed_ctx;
    int64_t signer_retry_ms;     /* signer down: try signer_up at most this often (0: every event) */
    int64_t signer_down_alarm_s; /* signer down this long: alarm (0: at once) */
};

struct till_stats {
    int64_t events;          /* events committed */
    int64_t refusals;        /* actions refused */
    int64_t commit_failures; /* commits that failed (storage) */
    int commit_failing;      /* the last commit failed with this error (storage), 0 if not */
    int64_t print_failures;  /* receipts the printer could not print */
    int64_t *lat_us;         /* last-tender-to-commit latencies, microseconds */
    size_t nlat, caplat;
};

enum till_state { TILL_IDLE = 0, TILL_BASKET, TILL_TENDER };

struct pe_till;

/* Create a till over its dependencies; restores a basket parked at the last shutdown.
 * Errors: PE_ENOMEM, PE_EIO (journal). */
int till_create(const struct till_deps *deps, struct pe_till **out);
void till_destroy(struct pe_till *t);

void till_on_scan(struct pe_till *t, const char *code);
void till_on_weight(struct pe_till *t, const struct pe_weight *w);
void till_on_key(struct pe_till *t, const struct pe_key_input *k);
void till_on_payment(struct pe_till *t, const struct pe_pay_result *r);

/* A device went offline or came back (the agent polls the devices' health): the customer
 * display says so (e.g. "Printer offline", "out of paper: receipts can be reprinted"); the sale
 * in progress is not touched. */
void till_on_device(struct pe_till *t, const char *device, bool online, const char *detail);

/* True while a card payment is in flight. */
bool till_awaiting_payment(const struct pe_till *t);

/* True when a basket is open, or a commit failed and is waiting for a retry. */
bool till_basket_open(const struct pe_till *t);
enum till_state till_state(const struct pe_till *t);

/* Park the open basket in the journal so the next start resumes it (shutdown). Returns PE_OK
 * when nothing was open or it was parked; errors from the journal otherwise. */
int till_park(struct pe_till *t);

/* True while a shift is open; the operator logged in ("" when none). */
bool till_shift_open(const struct pe_till *t);
const char *till_operator(const struct pe_till *t);

/*
 * Commit an X (z false) or Z report asked for remotely (fleet commands), with operator_ as the
 * event's operator; the till's own login is untouched. On success *seq is the report's seq and
 * *number its number. Errors (why gets a sentence for the answer): PE_EBUSY (a transaction is
 * open at the till), PE_ESTATE (Z while a shift is open), PE_EINVAL (bad operator id), the
 * journal's errors (nothing committed).
 */
int till_remote_report(struct pe_till *t, bool z, const char *operator_, int64_t *seq,
                       int64_t *number, char *why, size_t len);

/*
 * Print the receipt of journal event seq again (0: the last event), marked as a copy above and
 * below. *printed gets the seq and type its type. Errors (why says which): PE_ENOTFOUND (no
 * such seq), PE_ENOTSUP (no printer), the printer's and the journal's errors.
 */
int till_reprint(struct pe_till *t, int64_t seq, int64_t *printed, char type[32], char *why,
                 size_t len);

/* ---- the catalog in force ----
 *
 * The till sells from the catalog in its journal (journal.h): items are looked up there, at the
 * price in force by the till's clock when the line is added, and the promotions of that catalog
 * apply (pricing.h). Until HQ sends a version, the catalog file (deps->catalog) is version 0:
 * stored at the first start, and again at a start that finds the file changed. */

/* A catalog version to put in force: the whole catalog (full) or the changes since version
 * `since`, in parts ("chunks") each {"items":[item documents],"delisted":[item ids],
 * "promotions":[promotion documents],"removed":[promotion ids]} (catalog.h's documents). */
struct till_catalog_update {
    int64_t version;  /* the version it puts in force (>= 1) */
    bool full;        /* the whole catalog, else a delta */
    int64_t since;    /* a delta's base: the version in force must be it */
    const char *hash; /* the content hash the result must have (catalog.h) */
    size_t chunks;    /* parts 0..chunks-1, read in that order, twice */
    /* Part i, parsed, into *out (the till deletes it). An error stops the update. */
    int (*chunk)(void *ctx, size_t i, cJSON **out);
    void *ctx;
};

/*
 * Put u in force between baskets: one journal transaction replaces the catalog's tables, checks
 * every document and the content hash of the result, and commits the catalog_applied event
 * ({"version","hash","items","promotions","previous"}); nothing is printed. On any error the
 * catalog in force is unchanged and why says why. Errors: PE_EBUSY (a basket or a payment is
 * open: try again when idle), PE_ESTATE (a delta whose base is not the version in force),
 * PE_EINVAL (a document or a chunk refused: why names the chunk and document, as
 * "chunk 2: items[7]: prices[1].effective_from: not a UTC time ..."), PE_ECHAIN (the result's
 * content hash is not u->hash), the journal's errors (PE_EFULL, PE_EIO).
 */
int till_catalog_apply(struct pe_till *t, const struct till_catalog_update *u, char *why,
                       size_t len);

/* The state of the catalog in force (version, hash, counts, when applied). */
void till_catalog(const struct pe_till *t, struct pe_journal_catalog *out);

/*
 * Training mode (setting till.training): baskets opened while it is on are committed, signed
 * and printed like any other, but their sale, return or void says "training":true, the receipt
 * says TRAINING, and they are kept out of every total (X, Z, month, year, perpetual) and out of
 * stock. A training sale is returned in training mode only, and a real sale never is. A change
 * applies from the next basket.
 */
void till_set_training(struct pe_till *t, bool on);
bool till_training(const struct pe_till *t);

/*
 * Hold the till (why: what the display says, e.g. "installing an update"), or release it (why
 * NULL). While held no new transaction opens (a sale, a return, a no-sale is refused with
 * "Please wait"); one already open goes on to its end, and the rest of the till (reports,
 * log-in, the shift) works as usual. The agent holds an idle till while an upgrade installs
 * (upgrade.h), so that installing never interrupts a sale.
 */
void till_hold(struct pe_till *t, const char *why);

const struct till_stats *till_stats(const struct pe_till *t);

/* Where the fiscal signer stands, by the till's clock. */
struct till_signer {
    const char *status; /* "ok"; "down" (an outage is open, signer.h); "none" (no signer) */
    int64_t down_seq;   /* the open outage's signer_down, 0 when none */
    int64_t down_ms;    /* when it began (that event's time), 0 when none */
    int64_t down_s;     /* how long it has lasted, whole seconds */
    int64_t nunsigned;  /* events stored unsigned in it so far (signer_down included) */
    int64_t outages;    /* outages this till opened since it started */
    bool alarm;         /* down for signer_down_alarm_s or longer */
};
void till_signer(const struct pe_till *t, struct till_signer *out);

/* Last message shown on the display (for tests and logs). */
const char *till_display_line1(const struct pe_till *t);

#endif
