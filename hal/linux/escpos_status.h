/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hal/linux/escpos_status.h - what an ESC/POS printer's real-time status replies say (private
 * to hal/linux/; the queries and the meaning of each bit are described at the top of
 * linux_printer.c).
 *
 * Pure functions: no I/O and no clock, so recorded replies (and a fuzzer) test them alone. A
 * reply to DLE EOT n is one byte with the fixed bits of ESC/POS status (bits 1 and 4 set, bits
 * 0 and 7 clear); any other byte is noise. Every byte value is accepted: data from the device
 * is never trusted to be well formed.
 */
#ifndef POSEDGE_HAL_LINUX_ESCPOS_STATUS_H
#define POSEDGE_HAL_LINUX_ESCPOS_STATUS_H

#include <stdbool.h>
#include <stddef.h>

#include "posedge/hal/hal.h"

#define LX_ESCPOS_FIXED_MASK 0x93   /* bits 0, 1, 4 and 7 of every DLE EOT reply */
#define LX_ESCPOS_FIXED 0x12        /* their values: bits 1 and 4 set */
#define LX_ESCPOS_NO_REPLY_FAILED 3 /* silent health checks in a row that make FAILED */

/* Why health says what it says, the mildest first. */
enum lx_escpos_cause {
    LX_ESCPOS_OK = 0,
    LX_ESCPOS_NEAR_END,
    LX_ESCPOS_NO_REPLY,
    LX_ESCPOS_OFFLINE,
    LX_ESCPOS_ERROR,
    LX_ESCPOS_COVER_OPEN,
    LX_ESCPOS_PAPER_END,
};

/* The cause's name for logs ("paper_end"); "?" for a value outside the enum. */
const char *lx_escpos_cause_name(enum lx_escpos_cause c);

/* The first byte of buf[0..n) that is a status reply, into *reply; false when there is none
 * (the bytes are all noise). */
bool lx_escpos_reply(const unsigned char *buf, size_t n, unsigned char *reply);

/* What the replies to n = 1, 2 and 4 say together, the worst first: paper end (s4 bits 5-6, s2
 * bit 5), cover open (s2 bit 2), error (s2 bit 6), offline (s1 bit 3), near end (s4 bits
 * 2-3), else OK. */
enum lx_escpos_cause lx_escpos_cause(unsigned char s1, unsigned char s2, unsigned char s4);

/* The health a cause makes: FAILED for paper end, cover open, error and offline, and for no
 * reply after silent >= LX_ESCPOS_NO_REPLY_FAILED checks in a row; DEGRADED for near end and a
 * first silence; else OK. */
enum pe_health lx_escpos_health(enum lx_escpos_cause c, int silent);

/* The drawer, from the reply to n = 1 (bit 2: connector pin 3 high), read through the level
 * that means open. */
bool lx_escpos_drawer_open(unsigned char s1, bool open_high);

#endif
