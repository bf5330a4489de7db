/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake_scale.c - the simulated scale: readings pushed through the back door come out of read
 * one at a time, in order, and its fd is readable exactly while one waits.
 *
 * It reports continuously like most checkout scales, so it has no request op (the wrapper
 * answers PE_ENOTSUP); zero is accepted and does nothing, since the fake has no tare drift.
 */
#include <stdlib.h>
#include <string.h>

#include "hal/fake/fake.h"

struct fake_scale {
    struct pe_scale base; /* first: the till holds a struct pe_scale * */
    struct fake__queue q; /* of struct pe_weight */
};

static struct fake_scale *fake_of(struct pe_scale *dev)
{
    return dev && dev->dev.ops == &pe_fake_scale_ops.dev ? (struct fake_scale *)dev : NULL;
}

static int scale_open(const struct pe_hal_devcfg *cfg, struct pe_device **out)
{
    (void)cfg;
    struct fake_scale *s = calloc(1, sizeof *s);
    if (!s)
        return PE_ENOMEM;
    int rc = fake__queue_init(&s->q, sizeof(struct pe_weight), PE_FAKE_QUEUE_MAX);
    if (rc) {
        free(s);
        return rc;
    }
    s->base.dev.ops = &pe_fake_scale_ops.dev;
    *out = &s->base.dev;
    return PE_OK;
}

static void scale_close(struct pe_device *dev)
{
    struct fake_scale *s = fake_of(pe_scale_of(dev));
    if (!s)
        return;
    fake__queue_fini(&s->q);
    free(s);
}

static int scale_fd(struct pe_device *dev)
{
    return ((struct fake_scale *)dev)->q.efd;
}

static int scale_read(struct pe_scale *dev, struct pe_weight *out)
{
    return fake__queue_pop(&((struct fake_scale *)dev)->q, out);
}

static int scale_health(struct pe_device *dev, enum pe_health *out)
{
    (void)dev;
    *out = PE_HEALTH_OK;
    return PE_OK;
}

static int scale_zero(struct pe_scale *dev)
{
    (void)dev;
    return PE_OK;
}

const struct pe_scale_ops pe_fake_scale_ops = {
    .dev =
        {
            .cls = PE_DEV_SCALE,
            .name = "fake",
            .open = scale_open,
            .close = scale_close,
            .fd = scale_fd,
            .health = scale_health,
        },
    .read = scale_read,
    .zero = scale_zero,
};

int pe_fake_scale_push(struct pe_scale *dev, int32_t grams, bool stable)
{
    struct fake_scale *s = fake_of(dev);
    if (!s)
        return PE_EINVAL;
    struct pe_weight w;
    memset(&w, 0, sizeof w);
    w.grams = grams;
    w.stable = stable;
    return fake__queue_push(&s->q, &w);
}

size_t pe_fake_scale_queued(struct pe_scale *dev)
{
    struct fake_scale *s = fake_of(dev);
    return s ? s->q.len : 0;
}
