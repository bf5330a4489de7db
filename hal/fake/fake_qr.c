/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake_qr.c - the fake printer's QR codes: the symbol from libqrencode (model 2, level M, as
 * the ESC/POS driver asks a real printer for), drawn as an 8-bit grayscale PNG written here
 * with zlib alone.
 *
 * The PNG is the smallest valid one: the signature, IHDR (depth 8, colour type 0, no
 * interlace), one IDAT holding the zlib stream of every row (filter byte 0, then one byte per
 * pixel: 0 dark, 255 light) and IEND, each chunk with its CRC-32. A module is SCALE pixels and
 * the symbol has the quiet zone of QUIET modules the standard asks for, so zbarimg decodes it
 * as it would a photographed receipt. zlib's default level: a receipt's image (about 300 x 300
 * pixels) costs about 1.7 ms and 2.3 KB on a desktop core, where the best level costs 18 ms for
 * 1.8 KB, on the till path of every simulated sale.
 */
#include <errno.h>
#include <fcntl.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "hal/fake/fake.h"
#include "posedge/err.h"
#include "posedge/log.h"

#define SCALE 4 /* pixels per module */
#define QUIET 4 /* modules of light margin on every side */
#define PNG_MAX_SIDE 4096

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One chunk at out: length, type, the n bytes of data (already at out + 8), CRC over type and
 * data. Returns the chunk's size. */
static size_t chunk(uint8_t *out, const char type[4], size_t n)
{
    be32(out, (uint32_t)n);
    memcpy(out + 4, type, 4);
    uLong crc = crc32(0L, out + 4, (uInt)(4 + n));
    be32(out + 8 + n, (uint32_t)crc);
    return 12 + n;
}

int pe_fake_png_gray(const uint8_t *pixels, uint32_t w, uint32_t h, uint8_t **png, size_t *len)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (!pixels || !png || !len || w == 0 || h == 0 || w > PNG_MAX_SIDE || h > PNG_MAX_SIDE)
        return PE_EINVAL;
    size_t rawlen = (size_t)h * (w + 1);
    uint8_t *raw = malloc(rawlen);
    if (!raw)
        return PE_ENOMEM;
    for (uint32_t y = 0; y < h; y++) {
        raw[(size_t)y * (w + 1)] = 0; /* filter: none */
        memcpy(raw + (size_t)y * (w + 1) + 1, pixels + (size_t)y * w, w);
    }
    uLongf zlen = compressBound((uLong)rawlen);
    size_t cap = sizeof sig + (12 + 13) + (12 + zlen) + 12;
    uint8_t *out = malloc(cap);
    if (!out) {
        free(raw);
        return PE_ENOMEM;
    }
    size_t o = 0;
    memcpy(out, sig, sizeof sig);
    o += sizeof sig;
    uint8_t *ihdr = out + o + 8;
    be32(ihdr, w);
    be32(ihdr + 4, h);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 0;  /* colour type: grayscale */
    ihdr[10] = 0; /* compression: deflate */
    ihdr[11] = 0; /* filter method 0 */
    ihdr[12] = 0; /* no interlace */
    o += chunk(out + o, "IHDR", 13);
    int zrc = compress2(out + o + 8, &zlen, raw, (uLong)rawlen, Z_DEFAULT_COMPRESSION);
    free(raw);
    if (zrc != Z_OK) {
        free(out);
        return zrc == Z_MEM_ERROR ? PE_ENOMEM : PE_EINVAL;
    }
    o += chunk(out + o, "IDAT", zlen);
    o += chunk(out + o, "IEND", 0);
    *png = out;
    *len = o;
    return PE_OK;
}

int pe_fake_qr_png(const char *data, size_t len, uint8_t **png, size_t *pnglen)
{
    if (!data || len == 0 || len >= PE_RECEIPT_QR_MAX)
        return PE_EINVAL;
    QRcode *q = QRcode_encodeData((int)len, (const unsigned char *)data, 0, QR_ECLEVEL_M);
    if (!q)
        return errno == ENOMEM ? PE_ENOMEM : PE_EINVAL;
    uint32_t side = (uint32_t)(q->width + 2 * QUIET) * SCALE;
    uint8_t *px = malloc((size_t)side * side);
    if (!px) {
        QRcode_free(q);
        return PE_ENOMEM;
    }
    memset(px, 255, (size_t)side * side);
    for (int y = 0; y < q->width; y++) {
        for (int x = 0; x < q->width; x++) {
            if (!(q->data[y * q->width + x] & 1))
                continue;
            for (int dy = 0; dy < SCALE; dy++)
                memset(px + (size_t)((y + QUIET) * SCALE + dy) * side + (size_t)(x + QUIET) * SCALE,
                       0, SCALE);
        }
    }
    QRcode_free(q);
    int rc = pe_fake_png_gray(px, side, side, png, pnglen);
    free(px);
    return rc;
}
