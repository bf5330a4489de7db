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
    struct pe_device_ops dev; /* first: name, open, close, fd (mandatory), health */
    /* mandatory */
    int (*read)(struct pe_scale *dev, struct pe_weight *out); /* PE_OK or PE_EAGAIN */
    /* optional */
    int (*request)(struct pe_scale *dev); /* ask for a reading (polled protocols) */
    int (*zero)(struct pe_scale *dev);
};

struct pe_scale {
    struct pe_device dev; /* first member of every driver's device struct */
};

/* pe_scale_open, _close, _fd, _health, _of and _dev (hal.h) */
PE_DEVICE_CLASS(SCALE, scale)

static inline int pe_scale_read(struct pe_scale *d, struct pe_weight *out)
{
    return pe_scale__ops(d)->read(d, out);
}
static inline int pe_scale_request(struct pe_scale *d)
{
    return pe_scale__ops(d)->request ? pe_scale__ops(d)->request(d) : PE_ENOTSUP;
}
static inline int pe_scale_zero(struct pe_scale *d)
{
    return pe_scale__ops(d)->zero ? pe_scale__ops(d)->zero(d) : PE_ENOTSUP;
}

#endif
