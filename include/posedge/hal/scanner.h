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
    const char *name; /* driver name */
    /* mandatory */
    int (*open)(const struct pe_hal_devcfg *cfg, struct pe_scanner **out);
    void (*close)(struct pe_scanner *dev);
    int (*fd)(struct pe_scanner *dev);                        /* pollable for POLLIN */
    int (*read)(struct pe_scanner *dev, struct pe_scan *out); /* PE_OK or PE_EAGAIN */
    /* optional */
    int (*health)(struct pe_scanner *dev, enum pe_health *out);
    int (*enable)(struct pe_scanner *dev, bool on);
};

struct pe_scanner {
    const struct pe_scanner_ops *ops; /* first member of every driver's device struct */
};

static inline int pe_scanner_fd(struct pe_scanner *d)
{
    return d->ops->fd(d);
}
static inline int pe_scanner_read(struct pe_scanner *d, struct pe_scan *out)
{
    return d->ops->read(d, out);
}
static inline int pe_scanner_health(struct pe_scanner *d, enum pe_health *out)
{
    return d->ops->health ? d->ops->health(d, out) : PE_ENOTSUP;
}
static inline int pe_scanner_enable(struct pe_scanner *d, bool on)
{
    return d->ops->enable ? d->ops->enable(d, on) : PE_ENOTSUP;
}
static inline void pe_scanner_close(struct pe_scanner *d)
{
    if (d)
        d->ops->close(d);
}

#endif
