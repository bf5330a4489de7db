/* SPDX-License-Identifier: Apache-2.0 */
/*
 * escpos_status.c - ESC/POS real-time status replies to a cause and a health (see
 * escpos_status.h). Invariant: every byte value maps to a cause; none is asserted.
 */
#include "hal/linux/escpos_status.h"

static const char *const names[] = {
    [LX_ESCPOS_OK] = "ok",
    [LX_ESCPOS_NEAR_END] = "paper_near_end",
    [LX_ESCPOS_NO_REPLY] = "no_reply",
    [LX_ESCPOS_OFFLINE] = "offline",
    [LX_ESCPOS_ERROR] = "error",
    [LX_ESCPOS_COVER_OPEN] = "cover_open",
    [LX_ESCPOS_PAPER_END] = "paper_end",
};

const char *lx_escpos_cause_name(enum lx_escpos_cause c)
{
    return (unsigned)c < sizeof names / sizeof names[0] ? names[c] : "?";
}

bool lx_escpos_reply(const unsigned char *buf, size_t n, unsigned char *reply)
{
    for (size_t i = 0; i < n; i++) {
        if ((buf[i] & LX_ESCPOS_FIXED_MASK) == LX_ESCPOS_FIXED) {
            *reply = buf[i];
            return true;
        }
    }
    return false;
}

enum lx_escpos_cause lx_escpos_cause(unsigned char s1, unsigned char s2, unsigned char s4)
{
    if ((s4 & 0x60) || (s2 & 0x20))
        return LX_ESCPOS_PAPER_END;
    if (s2 & 0x04)
        return LX_ESCPOS_COVER_OPEN;
    if (s2 & 0x40)
        return LX_ESCPOS_ERROR;
    if (s1 & 0x08)
        return LX_ESCPOS_OFFLINE;
    if (s4 & 0x0c)
        return LX_ESCPOS_NEAR_END;
    return LX_ESCPOS_OK;
}

enum pe_health lx_escpos_health(enum lx_escpos_cause c, int silent)
{
    switch (c) {
    case LX_ESCPOS_OK:
        return PE_HEALTH_OK;
    case LX_ESCPOS_NEAR_END:
        return PE_HEALTH_DEGRADED;
    case LX_ESCPOS_NO_REPLY:
        return silent >= LX_ESCPOS_NO_REPLY_FAILED ? PE_HEALTH_FAILED : PE_HEALTH_DEGRADED;
    case LX_ESCPOS_OFFLINE:
    case LX_ESCPOS_ERROR:
    case LX_ESCPOS_COVER_OPEN:
    case LX_ESCPOS_PAPER_END:
        return PE_HEALTH_FAILED;
    }
    return PE_HEALTH_FAILED;
}

bool lx_escpos_drawer_open(unsigned char s1, bool open_high)
{
    return ((s1 & 0x04) != 0) == open_high;
}
