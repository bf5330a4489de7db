/* SPDX-License-Identifier: Apache-2.0 */
/*
 * serial_decode.c - the bytes of a serial barcode scanner to codes (see serial_decode.h).
 *
 * Invariant: len <= maxlen < PE_SCAN_MAX; a character beyond maxlen turns the code overlong
 * instead of growing it.
 */
#include "hal/linux/serial_decode.h"

#include <string.h>

void lx_serial_init(struct lx_serial *d, size_t maxlen)
{
    memset(d, 0, sizeof *d);
    d->maxlen = maxlen >= 1 && maxlen < PE_SCAN_MAX ? maxlen : PE_SCAN_MAX - 1;
}

enum lx_serial_result lx_serial_feed(struct lx_serial *d, unsigned char b, struct pe_scan *out)
{
    if (b == '\r' || b == '\n') {
        if (d->overlong) {
            d->overlong = false;
            return LX_SERIAL_OVERLONG;
        }
        if (d->len == 0) /* the LF of a CRLF, or an empty line */
            return LX_SERIAL_NONE;
        if (out) {
            memcpy(out->code, d->code, d->len);
            out->code[d->len] = '\0';
        }
        d->len = 0;
        return LX_SERIAL_CODE;
    }
    if ((b < 0x20 && b != 0x1d) || b > 0x7e || d->overlong)
        return LX_SERIAL_NONE;
    if (d->len >= d->maxlen) {
        d->overlong = true;
        d->len = 0;
        return LX_SERIAL_NONE;
    }
    d->code[d->len++] = (char)b;
    return LX_SERIAL_NONE;
}

bool lx_serial_pending(const struct lx_serial *d)
{
    return d->len > 0 || d->overlong;
}

void lx_serial_drop(struct lx_serial *d)
{
    d->len = 0;
    d->overlong = false;
}
