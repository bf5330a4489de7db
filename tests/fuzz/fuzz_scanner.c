/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_scanner.c - libFuzzer target: the input of a barcode scanner, through the
 * decoders the Linux scanner drivers use: the serial one (hal/linux/serial_decode.c: bytes,
 * codes ended by CR/LF) and the evdev one (hal/linux/evdev_decode.c: key events of a USB HID
 * keyboard wedge).
 *
 * Input: the first byte chooses the decoder (bit 0: evdev, else serial); the second is maxlen
 * (0 and values beyond PE_SCAN_MAX - 1 test the default). Serial: the rest is the byte stream.
 * Evdev: the rest is 8-byte events, type (2 bytes), code (2) and value (4), little-endian; an
 * event of type 0xffff stands for a silence (the driver then drops the partial code). Checked
 * beyond the sanitizers: every code reported is NUL-terminated within maxlen, non-empty, and
 * made only of the characters a code may hold.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hal/linux/evdev_decode.h"
#include "hal/linux/serial_decode.h"

static void check(const struct pe_scan *s, size_t maxlen, bool serial)
{
    size_t n = strnlen(s->code, sizeof s->code);
    if (n == 0 || n > maxlen || n >= sizeof s->code)
        abort();
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s->code[i];
        if (serial ? (c < 0x20 && c != 0x1d) || c > 0x7e : c < 0x20 || c > 0x7e)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    bool evdev = data[0] & 1;
    size_t maxlen = data[1];
    size_t eff = maxlen >= 1 && maxlen < PE_SCAN_MAX ? maxlen : PE_SCAN_MAX - 1;
    struct pe_scan out;
    data += 2;
    size -= 2;
    if (!evdev) {
        struct lx_serial d;
        lx_serial_init(&d, maxlen);
        for (size_t i = 0; i < size; i++) {
            memset(&out, 0x55, sizeof out);
            if (lx_serial_feed(&d, data[i], (i & 1) ? &out : NULL) == LX_SERIAL_CODE && (i & 1))
                check(&out, eff, true);
            if (d.len > d.maxlen)
                abort();
        }
        return 0;
    }
    struct lx_evdev d;
    lx_evdev_init(&d, maxlen);
    for (size_t i = 0; i + 8 <= size; i += 8) {
        uint16_t type = (uint16_t)(data[i] | data[i + 1] << 8);
        uint16_t code = (uint16_t)(data[i + 2] | data[i + 3] << 8);
        int32_t value = (int32_t)((uint32_t)data[i + 4] | (uint32_t)data[i + 5] << 8 |
                                  (uint32_t)data[i + 6] << 16 | (uint32_t)data[i + 7] << 24);
        if (type == 0xffff) {
            lx_evdev_drop(&d);
            if (lx_evdev_pending(&d))
                abort();
            continue;
        }
        memset(&out, 0x55, sizeof out);
        if (lx_evdev_feed(&d, type, code, value, &out) == LX_EVDEV_CODE)
            check(&out, eff, false);
        if (d.len > d.maxlen)
            abort();
    }
    return 0;
}
