/* SPDX-License-Identifier: Apache-2.0 */
/* hal/display.h - customer display class: two lines of text facing the customer. */
#ifndef POSEDGE_HAL_DISPLAY_H
#define POSEDGE_HAL_DISPLAY_H

#include "posedge/hal/hal.h"

#define PE_DISPLAY_COLS 40 /* longest line shown; drivers truncate longer ones */

struct pe_display;

struct pe_display_ops {
    const char *name;
    /* mandatory */
    int (*open)(const struct pe_hal_devcfg *cfg, struct pe_display **out);
    void (*close)(struct pe_display *dev);
    int (*show)(struct pe_display *dev, const char *line1, const char *line2);
    /* optional */
    int (*clear)(struct pe_display *dev);
    int (*health)(struct pe_display *dev, enum pe_health *out);
};

struct pe_display {
    const struct pe_display_ops *ops;
};

static inline int pe_display_show(struct pe_display *d, const char *l1, const char *l2)
{
    return d->ops->show(d, l1, l2);
}
static inline int pe_display_clear(struct pe_display *d)
{
    return d->ops->clear ? d->ops->clear(d) : d->ops->show(d, "", "");
}
static inline int pe_display_health(struct pe_display *d, enum pe_health *out)
{
    return d->ops->health ? d->ops->health(d, out) : PE_ENOTSUP;
}
static inline void pe_display_close(struct pe_display *d)
{
    if (d)
        d->ops->close(d);
}

#endif
