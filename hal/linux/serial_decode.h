/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hal/linux/serial_decode.h - turns the bytes of a serial barcode scanner into codes (private
 * to hal/linux/).
 *
 * A pure decoder: no I/O and no clock, so recorded byte streams (and a fuzzer) test it alone.
 * Codes are ended by CR, LF or CRLF; printable ASCII and GS (0x1d, the GS1 separator) make up
 * codes, and other bytes (a scanner's STX/ETX framing, NUL, line noise) are skipped. A code
 * longer than maxlen is discarded whole, up to its terminator, and reported as
 * LX_SERIAL_OVERLONG so the caller can log it. The caller owns the clock: it drops a partial
 * code after a silence with lx_serial_drop. Invariant: len <= maxlen < PE_SCAN_MAX, so a code
 * always fits with its NUL.
 */
#ifndef POSEDGE_HAL_LINUX_SERIAL_DECODE_H
#define POSEDGE_HAL_LINUX_SERIAL_DECODE_H

#include <stdbool.h>
#include <stddef.h>

#include "posedge/hal/scanner.h"

enum lx_serial_result {
    LX_SERIAL_NONE = 0, /* nothing complete yet */
    LX_SERIAL_CODE,     /* a code ended: it is in the caller's struct pe_scan */
    LX_SERIAL_OVERLONG, /* a code longer than maxlen ended: it was discarded */
};

struct lx_serial {
    size_t maxlen;          /* longest code kept, 1..PE_SCAN_MAX-1 */
    size_t len;             /* characters of the code being received */
    bool overlong;          /* it passed maxlen: dropped up to its terminator */
    char code[PE_SCAN_MAX]; /* the code being received, not NUL-terminated */
};

/* Start with no code; maxlen outside 1..PE_SCAN_MAX-1 means PE_SCAN_MAX-1. */
void lx_serial_init(struct lx_serial *d, size_t maxlen);

/* Feed one byte. On LX_SERIAL_CODE the NUL-terminated code is written to out (which may be
 * NULL to drop it). An empty line (the LF of a CRLF) is not a code. Never fails. */
enum lx_serial_result lx_serial_feed(struct lx_serial *d, unsigned char b, struct pe_scan *out);

/* True while a code has been started and not ended (including an overlong one). */
bool lx_serial_pending(const struct lx_serial *d);

/* Forget the code being received (after a silence, a loss or on disable). */
void lx_serial_drop(struct lx_serial *d);

#endif
