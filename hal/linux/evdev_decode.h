/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hal/linux/evdev_decode.h - turns the key events of a USB HID keyboard-wedge scanner into
 * barcodes (private to hal/linux/).
 *
 * A pure decoder: no I/O and no clock, so recorded event sequences test it alone. It is fed
 * (type, code, value) triples as struct input_event carries them, keeps the shift keys' state,
 * maps character keys through the US layout and reports a code when Enter is pressed. It also
 * enforces the length cap: a code longer than maxlen is discarded whole, up to its Enter, and
 * reported as LX_EVDEV_OVERLONG so the caller can log it. The caller owns the clock: it drops a
 * partial code after a silence with lx_evdev_drop.
 */
#ifndef POSEDGE_HAL_LINUX_EVDEV_DECODE_H
#define POSEDGE_HAL_LINUX_EVDEV_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posedge/hal/scanner.h"

enum lx_evdev_result {
    LX_EVDEV_NONE = 0, /* nothing complete yet */
    LX_EVDEV_CODE,     /* a code ended with Enter: it is in the caller's struct pe_scan */
    LX_EVDEV_OVERLONG, /* a code longer than maxlen ended with Enter: it was discarded */
};

struct lx_evdev {
    size_t maxlen;          /* longest code kept, 1..PE_SCAN_MAX-1 */
    size_t len;             /* characters of the code being typed */
    bool overlong;          /* the code being typed passed maxlen: dropped up to its Enter */
    bool lshift, rshift;    /* the shift keys held down */
    bool resync;            /* after SYN_DROPPED: events are ignored up to the next SYN_REPORT */
    char code[PE_SCAN_MAX]; /* the code being typed, not NUL-terminated */
};

/* Start with no code and no key held; maxlen outside 1..PE_SCAN_MAX-1 means PE_SCAN_MAX-1. */
void lx_evdev_init(struct lx_evdev *d, size_t maxlen);

/* Feed one event. Key events (type EV_KEY) with value 1 (press) or 2 (autorepeat, taken as
 * another press, as a keyboard would type it) add a character; value 0 (release) only matters
 * for the shift keys. Enter and keypad Enter end the code; an Enter without characters is
 * ignored. Keys without a character (Ctrl, Tab, F-keys...) and other event types (EV_SYN,
 * EV_MSC...) are ignored, except SYN_DROPPED: the kernel lost events, so the code being typed
 * is dropped, the shift keys are taken as released and every event up to the next SYN_REPORT
 * is ignored (the kernel's rule for a client that fell behind). On LX_EVDEV_CODE the NUL-terminated
 * code is written to out (which may be NULL to drop it). Never fails: data from the device is never
 * trusted to be well formed. */
enum lx_evdev_result lx_evdev_feed(struct lx_evdev *d, uint16_t type, uint16_t code, int32_t value,
                                   struct pe_scan *out);

/* True while a code has been started and not ended (including an overlong one). */
bool lx_evdev_pending(const struct lx_evdev *d);

/* Forget the code being typed (after a silence, or on disable); the shift state stays, since
 * it follows keys that are physically held. */
void lx_evdev_drop(struct lx_evdev *d);

/* The character a key gives in the US layout, shifted or not; 0 for a key without one. */
char lx_evdev_char(uint16_t code, bool shift);

#endif
