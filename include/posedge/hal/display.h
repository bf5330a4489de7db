/* SPDX-License-Identifier: Apache-2.0 */
/* hal/display.h - customer display class: two lines of text facing the customer. */
#ifndef POSEDGE_HAL_DISPLAY_H
#define POSEDGE_HAL_DISPLAY_H

#include "posedge/hal/hal.h"

#define PE_DISPLAY_COLS 40 /* longest line shown; drivers truncate longer ones */

struct pe_display;

struct pe_display_ops {
    struct pe_device_ops dev; /* first: name, open, close, fd (optional), health */
    /* mandatory */
    int (*show)(struct pe_display *dev, const char *line1, const char *line2);
    /* optional */
    int (*clear)(struct pe_display *dev);
};

struct pe_display {
    struct pe_device dev; /* first member of every driver's device struct */
};

/* pe_display_open, _close, _fd, _health, _of and _dev (hal.h) */
PE_DEVICE_CLASS(DISPLAY, display)

static inline int pe_display_show(struct pe_display *d, const char *l1, const char *l2)
{
    return pe_display__ops(d)->show(d, l1, l2);
}
static inline int pe_display_clear(struct pe_display *d)
{
    return pe_display__ops(d)->clear ? pe_display__ops(d)->clear(d)
                                     : pe_display__ops(d)->show(d, "", "");
}

#endif
