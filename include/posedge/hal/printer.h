/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hal/printer.h - receipt printer class, with the cash drawer behind it (ESC/POS "ESC p").
 *
 * print takes one whole receipt of plain text lines ('\n'-separated, at most 48 columns); the
 * driver turns it into its device's language. The till calls print only after the event the
 * receipt shows is committed to the journal.
 */
#ifndef POSEDGE_HAL_PRINTER_H
#define POSEDGE_HAL_PRINTER_H

#include "posedge/hal/hal.h"
#include "posedge/receipt.h"

struct pe_printer;

struct pe_printer_ops {
    const char *name;
    /* mandatory */
    int (*open)(const struct pe_hal_devcfg *cfg, struct pe_printer **out);
    void (*close)(struct pe_printer *dev);
    int (*print)(struct pe_printer *dev, const char *text, size_t len); /* PE_OK or PE_EIO */
    /* optional */
    int (*cut)(struct pe_printer *dev);
    int (*drawer_kick)(struct pe_printer *dev);
    int (*drawer_is_open)(struct pe_printer *dev, bool *open);
    int (*health)(struct pe_printer *dev, enum pe_health *out);
    int (*fd)(struct pe_printer *dev); /* status events, if the device sends any */
};

struct pe_printer {
    const struct pe_printer_ops *ops;
};

static inline int pe_printer_print(struct pe_printer *d, const char *text, size_t len)
{
    return d->ops->print(d, text, len);
}
static inline int pe_printer_cut(struct pe_printer *d)
{
    return d->ops->cut ? d->ops->cut(d) : PE_ENOTSUP;
}
static inline int pe_printer_drawer_kick(struct pe_printer *d)
{
    return d->ops->drawer_kick ? d->ops->drawer_kick(d) : PE_ENOTSUP;
}
static inline int pe_printer_drawer_is_open(struct pe_printer *d, bool *open)
{
    return d->ops->drawer_is_open ? d->ops->drawer_is_open(d, open) : PE_ENOTSUP;
}
static inline int pe_printer_health(struct pe_printer *d, enum pe_health *out)
{
    return d->ops->health ? d->ops->health(d, out) : PE_ENOTSUP;
}
static inline void pe_printer_close(struct pe_printer *d)
{
    if (d)
        d->ops->close(d);
}

#endif
