/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake_qr_nosim.c - the fake printer's QR code images on a board built without the simulator
 * (the Makefile's SIM): there are none. fake_qr.c draws them with libqrencode and zlib for the
 * tests that decode them; a release till (rpi4, armhf), whose ESC/POS printer draws its codes
 * itself, links neither library. The fake printer still writes each code's payload line.
 */
#include "hal/fake/fake.h"
#include "posedge/err.h"

int pe_fake_png_mono(const uint8_t *pixels, uint32_t w, uint32_t h, uint8_t **png, size_t *len)
{
    (void)pixels;
    (void)w;
    (void)h;
    (void)png;
    (void)len;
    return PE_ENOTSUP;
}

int pe_fake_qr_png(const char *data, size_t len, uint8_t **png, size_t *pnglen)
{
    (void)data;
    (void)len;
    (void)png;
    (void)pnglen;
    return PE_ENOTSUP;
}
