/* SPDX-License-Identifier: Apache-2.0 */
/* hal/scale.h - weighing scale class: an input device reporting weight readings in grams. */
#ifndef POSEDGE_HAL_SCALE_H
#define POSEDGE_HAL_SCALE_H

#include "posedge/hal/hal.h"

struct pe_weight {
    int32_t grams; /* net weight; may be 0 or negative (under zero) */
    bool stable;   /* the scale reports motion has stopped */
};

struct pe_scale;

struct pe_scale_ops {
    const char *name;
    /* mandatory */
    int (*open)(const struct pe_hal_devcfg *cfg, struct pe_scale **out);
    void (*close)(struct pe_scale *dev);
    int (*fd)(struct pe_scale *dev);
    int (*read)(struct pe_scale *dev, struct pe_weight *out); /* PE_OK or PE_EAGAIN */
    /* optional */
    int (*health)(struct pe_scale *dev, enum pe_health *out);
    int (*request)(struct pe_scale *dev); /* ask for a reading (polled protocols) */
    int (*zero)(struct pe_scale *dev);
};

struct pe_scale {
    const struct pe_scale_ops *ops;
};

static inline int pe_scale_fd(struct pe_scale *d)
{
    return d->ops->fd(d);
}
static inline int pe_scale_read(struct pe_scale *d, struct pe_weight *out)
{
    return d->ops->read(d, out);
}
static inline int pe_scale_health(struct pe_scale *d, enum pe_health *out)
{
    return d->ops->health ? d->ops->health(d, out) : PE_ENOTSUP;
}
static inline int pe_scale_request(struct pe_scale *d)
{
    return d->ops->request ? d->ops->request(d) : PE_ENOTSUP;
}
static inline int pe_scale_zero(struct pe_scale *d)
{
    return d->ops->zero ? d->ops->zero(d) : PE_ENOTSUP;
}
static inline void pe_scale_close(struct pe_scale *d)
{
    if (d)
        d->ops->close(d);
}

#endif
