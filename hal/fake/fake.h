/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hal/fake/fake.h - PRIVATE header of the fake drivers and the simulation (hal/fake/ only,
 * plus hal/hal_registry.c and the unit tests).
 *
 * Each fake exports one const ops table. Everything else a fake offers is a back door: what
 * the simulation (hal/fake/sim*.c) and the tests use to act as the world outside the till -
 * the shopper who scans, the card that is presented, the paper that runs out. A back door
 * takes the class's public handle and checks that it belongs to the fake driver; a handle of
 * another driver is refused with PE_EINVAL (or reads as empty), never misinterpreted.
 *
 * Input fakes (scanner, scale, keypad, payment) keep a bounded FIFO and an eventfd that is
 * readable exactly while something waits unread, so the daemon's poll loop sees them like
 * real devices.
 */
#ifndef POSEDGE_HAL_FAKE_H
#define POSEDGE_HAL_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posedge/hal/board.h"
#include "posedge/hal/sim.h"

/* ---- The drivers ----------------------------------------------------------------------- */

extern const struct pe_scanner_ops pe_fake_scanner_ops;
extern const struct pe_scale_ops pe_fake_scale_ops;
extern const struct pe_keypad_ops pe_fake_keypad_ops;
extern const struct pe_payment_ops pe_fake_payment_ops;
extern const struct pe_printer_ops pe_fake_printer_ops;
extern const struct pe_display_ops pe_fake_display_ops;

#define PE_FAKE_QUEUE_MAX 64 /* inputs a fake holds unread; one more is refused with PE_EFULL */

/* ---- Back doors ------------------------------------------------------------------------ */

/*
 * Scanner: queue one decoded code (1..PE_SCAN_MAX-1 bytes). Errors: PE_EINVAL (not a fake,
 * bad code), PE_ESTATE (the till disabled the scanner: the scan is lost, as at a real
 * counter), PE_EFULL, PE_ESYS.
 */
int pe_fake_scanner_push(struct pe_scanner *dev, const char *code);
/* Codes waiting unread; 0 for a handle of another driver. */
size_t pe_fake_scanner_queued(struct pe_scanner *dev);

/* Scale: queue one reading. Errors: PE_EINVAL (not a fake), PE_EFULL, PE_ESYS. */
int pe_fake_scale_push(struct pe_scale *dev, int32_t grams, bool stable);
size_t pe_fake_scale_queued(struct pe_scale *dev);

/* Keypad: queue one operator action (copied). Errors: PE_EINVAL, PE_EFULL, PE_ESYS. */
int pe_fake_keypad_push(struct pe_keypad *dev, const struct pe_key_input *in);
size_t pe_fake_keypad_queued(struct pe_keypad *dev);

/*
 * Payment: present a card for the next start. The PAN (12..19 digits, Luhn-valid) is
 * tokenised at once and never kept: the fake holds only the token, last 4 and scheme. decline
 * makes the next start decline with reason (NULL: "declined by issuer"). A card stays
 * presented until one start consumes it; presenting again replaces it; pan NULL withdraws it.
 * Errors: PE_EINVAL (not a fake, bad PAN).
 */
int pe_fake_payment_present(struct pe_payment *dev, const char *pan, bool decline,
                            const char *reason);
/* True while a result waits unread (a payment is in flight). */
bool pe_fake_payment_busy(struct pe_payment *dev);
/* True while a presented card waits for a start. */
bool pe_fake_payment_card_present(struct pe_payment *dev);

/* Printer: drawer kicks so far; close the drawer; make print and cut fail with PE_EIO (paper
 * out, health FAILED) until set back to false. Errors: PE_EINVAL (not a fake). */
int64_t pe_fake_printer_kicks(struct pe_printer *dev);
int pe_fake_drawer_close(struct pe_printer *dev);
int pe_fake_printer_set_fail(struct pe_printer *dev, bool fail);

/* Display: the two lines last shown (borrowed, valid until the next show or close).
 * Errors: PE_EINVAL (not a fake). */
int pe_fake_display_lines(struct pe_display *dev, const char **line1, const char **line2);

/* ---- Internal to hal/fake/: the input queue shared by the input fakes --------------------- */

struct fake__queue {
    int efd;             /* eventfd, readable exactly while len > 0 */
    size_t esize;        /* bytes per entry */
    size_t cap;          /* entries the ring holds */
    size_t head;         /* index of the oldest entry */
    size_t len;          /* entries waiting */
    unsigned char *ring; /* cap * esize bytes */
};

/* Errors: PE_ENOMEM, PE_ESYS (eventfd). */
int fake__queue_init(struct fake__queue *q, size_t esize, size_t cap);
/* Frees the ring and closes the eventfd; safe on a zeroed or finished queue. */
void fake__queue_fini(struct fake__queue *q);
/* Errors: PE_EFULL, PE_ESYS. */
int fake__queue_push(struct fake__queue *q, const void *entry);
/* Errors: PE_EAGAIN when empty. */
int fake__queue_pop(struct fake__queue *q, void *entry);
void fake__queue_clear(struct fake__queue *q);

/* True when pan is 12..19 digits and passes the Luhn check (in fake_payment.c). */
bool fake__pan_ok(const char *pan);

/* ---- Internal to hal/fake/: the simulation engine and its two sources -------------------- */

enum sim__input {
    SIM_IN_NONE = 0, /* no device input: only moves the clock (a trailing clock/wait) */
    SIM_IN_KEY,      /* a keypad action; with card set, a card is presented first */
    SIM_IN_SCAN,     /* a scanner code (text) */
    SIM_IN_WEIGH,    /* a scale reading */
    SIM_IN_DEVICE,   /* none injected: wait for one from a real device (kind: 0 scan, 1 weigh) */
};

/* One step: at most one device input, with the clock movement before it. */
struct sim__step {
    bool set_clock;             /* set the clock to clock_ms before advancing */
    int64_t clock_ms;           /* see set_clock */
    int64_t advance_ms;         /* then advance the clock by this much */
    enum sim__input input;      /* what to inject */
    enum pe_key_kind kind;      /* SIM_IN_KEY: the key */
    int64_t amount;             /* SIM_IN_KEY: pe_key_input.amount */
    int64_t qty;                /* SIM_IN_KEY: pe_key_input.qty */
    int64_t ref_seq;            /* SIM_IN_KEY: pe_key_input.ref_seq */
    int32_t line;               /* SIM_IN_KEY: pe_key_input.line */
    int32_t percent_bp;         /* SIM_IN_KEY: pe_key_input.percent_bp */
    int32_t flags;              /* SIM_IN_KEY: pe_key_input.flags */
    char text[PE_KEY_TEXT_MAX]; /* SIM_IN_KEY text, or SIM_IN_SCAN code */
    struct pe_key_line *lines;  /* SIM_IN_KEY inventory lines, owned (malloc) */
    int nlines;                 /* entries in lines */
    int32_t grams;              /* SIM_IN_WEIGH */
    bool stable;                /* SIM_IN_WEIGH */
    bool card;                  /* SIM_IN_KEY: present pan first */
    bool decline;               /* the card is declined */
    char pan[20];               /* the test card's number (wiped once presented) */
    char reason[64];            /* decline reason, "" for the default */
    int32_t counts;             /* customers (shopper) or actions (scenario) begun here */
    int lineno;                 /* scenario line, for logs; 0 for the shopper */
};

/* What a source plugs into the engine. */
struct sim__source {
    void *ctx;
    /* Append the next batch of steps (sim__append); PE_EEOF when there is none. */
    int (*refill)(struct pe_sim *sim, void *ctx);
    /* Optional: pe_sim_sale_committed. */
    void (*committed)(void *ctx, int64_t seq, const char *id, const cJSON *body);
    /* Frees ctx. */
    void (*destroy)(void *ctx);
};

/* Check devs (all four fakes) and create an engine with no steps. Errors: PE_EINVAL, PE_ENOMEM.
 * On success the engine owns src->ctx; on error the caller still does. */
int sim__create(const struct pe_sim_devices *devs, int64_t start_ms, const struct sim__source *src,
                struct pe_sim **out, char *err, size_t errlen);
/* A new zeroed step at the end of the queue, or NULL when out of memory. */
struct sim__step *sim__append(struct pe_sim *sim);

#endif
