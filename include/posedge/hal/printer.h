/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hal/printer.h - receipt printer class, with the cash drawer behind it (ESC/POS "ESC p").
 *
 * print takes one whole receipt of plain text lines ('\n'-separated, at most 48 columns); the
 * driver turns it into its device's language. The till calls print only after the event the
 * receipt shows is committed to the journal.
 *
 * print_qr prints a QR code (model 2, error correction level M) of the len bytes of data
 * (printable ASCII, at most PE_RECEIPT_QR_MAX - 1: the receipt's QR payload, report.h) below
 * what print printed, before the cut. A driver without it: the receipt has no code
 * (PE_ENOTSUP). Errors: PE_EINVAL (too long), PE_EIO (the device failed).
 */
#ifndef POSEDGE_HAL_PRINTER_H
#define POSEDGE_HAL_PRINTER_H

#include "posedge/hal/hal.h"
#include "posedge/receipt.h"

struct pe_printer;

struct pe_printer_ops {
    struct pe_device_ops dev; /* first: name, open, close, fd (optional: status events, if the
                               * device sends any), health */
    /* mandatory */
    int (*print)(struct pe_printer *dev, const char *text, size_t len); /* PE_OK or PE_EIO */
    /* optional */
    int (*cut)(struct pe_printer *dev);
    int (*drawer_kick)(struct pe_printer *dev);
    int (*drawer_is_open)(struct pe_printer *dev, bool *open);
    int (*print_qr)(struct pe_printer *dev, const char *data, size_t len);
};

struct pe_printer {
    struct pe_device dev; /* first member of every driver's device struct */
};

/* pe_printer_open, _close, _fd, _health, _of and _dev (hal.h) */
PE_DEVICE_CLASS(PRINTER, printer)

static inline int pe_printer_print(struct pe_printer *d, const char *text, size_t len)
{
    return pe_printer__ops(d)->print(d, text, len);
}
static inline int pe_printer_cut(struct pe_printer *d)
{
    return pe_printer__ops(d)->cut ? pe_printer__ops(d)->cut(d) : PE_ENOTSUP;
}
static inline int pe_printer_drawer_kick(struct pe_printer *d)
{
    return pe_printer__ops(d)->drawer_kick ? pe_printer__ops(d)->drawer_kick(d) : PE_ENOTSUP;
}
static inline int pe_printer_drawer_is_open(struct pe_printer *d, bool *open)
{
    return pe_printer__ops(d)->drawer_is_open ? pe_printer__ops(d)->drawer_is_open(d, open)
                                              : PE_ENOTSUP;
}
static inline int pe_printer_print_qr(struct pe_printer *d, const char *data, size_t len)
{
    return pe_printer__ops(d)->print_qr ? pe_printer__ops(d)->print_qr(d, data, len) : PE_ENOTSUP;
}

#endif
