/* SPDX-License-Identifier: Apache-2.0 */
/* hal/scanner.h - barcode scanner class: an input device producing one code per read. */
#ifndef POSEDGE_HAL_SCANNER_H
#define POSEDGE_HAL_SCANNER_H

#include "posedge/hal/hal.h"

#define PE_SCAN_MAX 64 /* longest code accepted, with NUL */

struct pe_scan {
    char code[PE_SCAN_MAX]; /* the decoded code, NUL-terminated, no terminator character */
};

struct pe_scanner;

struct pe_scanner_ops {
    struct pe_device_ops dev; /* first: name, open, close, fd (mandatory), health */
    /* mandatory */
    int (*read)(struct pe_scanner *dev, struct pe_scan *out); /* PE_OK or PE_EAGAIN */
    /* optional */
    int (*enable)(struct pe_scanner *dev, bool on);
};

struct pe_scanner {
    struct pe_device dev; /* first member of every driver's device struct */
};

/* pe_scanner_open, _close, _fd, _health, _of and _dev (hal.h) */
PE_DEVICE_CLASS(SCANNER, scanner)

static inline int pe_scanner_read(struct pe_scanner *d, struct pe_scan *out)
{
    return pe_scanner__ops(d)->read(d, out);
}
static inline int pe_scanner_enable(struct pe_scanner *d, bool on)
{
    return pe_scanner__ops(d)->enable ? pe_scanner__ops(d)->enable(d, on) : PE_ENOTSUP;
}

#endif
