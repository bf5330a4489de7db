/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_escpos_status.c - libFuzzer target: what an ESC/POS printer answers to the
 * real-time status queries (DLE EOT 1, 2, 4), through hal/linux/escpos_status.c as the escpos
 * driver's health check and drawer_is_open read it.
 *
 * Input: a flags byte (bit 0: the drawer's open level is high), then records of a length byte and
 * that many reply bytes (what one read returned), taken in threes as one health check's answers to
 * n = 1, 2 and 4; the check stops at the first read without a reply byte, as the driver does at the
 * first silence, and counts the silences in a row. Checked beyond the sanitizers: a reply byte has
 * the fixed bits, every cause has a name, and the health follows the rules (paper end, cover open,
 * error and offline are FAILED).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hal/linux/escpos_status.h"

/* The next read: its bytes and length; false at the end of the input. */
static bool next_read(const uint8_t **data, size_t *size, const uint8_t **buf, size_t *n)
{
    if (*size == 0)
        return false;
    *n = **data;
    if (*n > *size - 1)
        *n = *size - 1;
    *buf = *data + 1;
    *data += 1 + *n;
    *size -= 1 + *n;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int silent = 0;
    if (size < 1)
        return 0;
    bool open_high = data[0] & 1;
    data++;
    size--;
    for (;;) {
        unsigned char s[3] = {0, 0, 0};
        bool answered = true;
        const uint8_t *buf;
        size_t n;
        int q;
        for (q = 0; q < 3 && answered; q++) {
            if (!next_read(&data, &size, &buf, &n))
                return 0;
            answered = lx_escpos_reply(buf, n, &s[q]);
            if (answered && (s[q] & LX_ESCPOS_FIXED_MASK) != LX_ESCPOS_FIXED)
                abort();
        }
        enum lx_escpos_cause c = answered ? lx_escpos_cause(s[0], s[1], s[2]) : LX_ESCPOS_NO_REPLY;
        silent = c == LX_ESCPOS_NO_REPLY ? silent + 1 : 0;
        const char *name = lx_escpos_cause_name(c);
        if (!name || strcmp(name, "?") == 0)
            abort();
        enum pe_health h = lx_escpos_health(c, silent);
        bool fatal = c == LX_ESCPOS_PAPER_END || c == LX_ESCPOS_COVER_OPEN ||
                     c == LX_ESCPOS_ERROR || c == LX_ESCPOS_OFFLINE;
        if (fatal != (h == PE_HEALTH_FAILED) && c != LX_ESCPOS_NO_REPLY)
            abort();
        if (answered)
            (void)lx_escpos_drawer_open(s[0], open_high);
    }
}
