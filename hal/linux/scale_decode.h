/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hal/linux/scale_decode.h - the replies of a serial checkout scale, NCI General Purpose or
 * 8213, turned into weights (private to hal/linux/; the protocols are described at the top of
 * linux_scale.c).
 *
 * A pure decoder: no I/O and no clock, so recorded byte streams (and a fuzzer) test it alone.
 * It is fed the bytes the scale sent, one at a time, and reports each complete frame. Bytes are
 * discarded until a frame start; a frame cut off by noise is dropped, and parsing resumes at the
 * next frame start, so line noise before a reply never changes its weight. Never fails: data
 * from the device is never trusted to be well formed. Invariant: n1 < sizeof l1 and
 * n2 < sizeof l2, so a line always fits with its NUL.
 */
#ifndef POSEDGE_HAL_LINUX_SCALE_DECODE_H
#define POSEDGE_HAL_LINUX_SCALE_DECODE_H

#include <stdbool.h>
#include <stddef.h>

#include "posedge/hal/scale.h"

enum lx_scale_proto {
    LX_SCALE_NCI,  /* NCI General Purpose: LF ... CR [LF S.. CR] ETX */
    LX_SCALE_8213, /* 8213: STX ddddd CR, STX ? [st] CR */
};

/* Where the decoder is within a frame. */
enum lx_scale_state {
    LX_SCALE_HUNT,  /* discarding until a frame start */
    LX_SCALE_LINE1, /* NCI: the first line (weight, status or "?"); 8213: the body */
    LX_SCALE_CR1,   /* NCI: after the first line's CR: LF (a second line follows) or ETX */
    LX_SCALE_LINE2, /* NCI: the status line */
    LX_SCALE_CR2,   /* NCI: after the status line's CR: ETX */
};

/* A frame that answers nothing (an NCI status without news): not a reply to a request. */
#define LX_SCALE_NO_REPLY 1

/* A complete frame: rc PE_OK with w, LX_SCALE_NO_REPLY, or the error the driver's read
 * reports for it: PE_ERANGE (over or under capacity, 8213 zero error), PE_EBUSY (in motion
 * without a weight), PE_EPARSE (refused, "?", or a weight that cannot be read), PE_EIO (a
 * fault the scale reports: RAM, ROM, EEPROM, calibration). */
struct lx_scale_reply {
    int rc;
    struct pe_weight w;
};

struct lx_scale_dec {
    enum lx_scale_proto proto; /* the protocol spoken */
    bool grams_8213;           /* 8213: weights come in grams (unit=g), else in 0.01 lb */
    const char *path;          /* the device, for logs (borrowed) */
    enum lx_scale_state st;    /* where the decoder is */
    size_t n1, n2;             /* lengths of l1 and l2 */
    char l1[32];               /* first line / 8213 body, NUL-terminated when complete */
    char l2[8];                /* NCI status line */
};

/* Start hunting for a frame of proto; path (borrowed, not NULL) names the device in logs. */
void lx_scale_dec_init(struct lx_scale_dec *d, enum lx_scale_proto proto, bool grams_8213,
                       const char *path);

/* Forget any frame begun (the device went away or came back). */
void lx_scale_dec_reset(struct lx_scale_dec *d);

/* Feed one byte; true with *r set when it ended a frame. */
bool lx_scale_feed(struct lx_scale_dec *d, unsigned char b, struct lx_scale_reply *r);

#endif
