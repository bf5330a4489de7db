/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hal/fake/fake.h - PRIVATE header of the fake drivers (hal/fake/), shared with the ones that
 * play the world outside the till: the simulator (sim/), hal/hal_registry.c and the unit tests.
 *
 * Each fake exports one const ops table. Everything else a fake offers is a back door: what
 * the simulator (sim/) and the tests use to act as the world outside the till -
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

/*
 * Printer, QR codes (fake_qr.c): the PNG of the QR code (model 2, level M) of the len bytes of
 * data, 1..PE_RECEIPT_QR_MAX - 1, as the fake printer writes it; *png is malloc'd (the caller
 * frees). pe_fake_png_mono is its PNG writer: w x h pixels (row by row, one byte each: 0 dark,
 * any other value light; sides 1..4096), written as a 1-bit grayscale PNG. Errors: PE_EINVAL
 * (bad size, data too long), PE_ENOMEM, PE_ENOTSUP (a build without the simulator, which draws
 * no images: fake_qr_nosim.c).
 */
int pe_fake_qr_png(const char *data, size_t len, uint8_t **png, size_t *pnglen);
int pe_fake_png_mono(const uint8_t *pixels, uint32_t w, uint32_t h, uint8_t **png, size_t *len);

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

#endif
