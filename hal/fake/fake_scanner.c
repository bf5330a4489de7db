/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake_scanner.c - the simulated barcode scanner: codes pushed through the back door come out
 * of read one at a time, in order, and its fd is readable exactly while one waits.
 *
 * A disabled scanner (enable(false)) drops what it held and refuses new codes with
 * PE_ESTATE, as a real scanner ignores the trigger while the till has it disabled.
 */
#include <stdlib.h>
#include <string.h>

#include "hal/fake/fake.h"

struct fake_scanner {
    struct pe_scanner base; /* first: the till holds a struct pe_scanner * */
    struct fake__queue q;   /* of struct pe_scan */
    bool enabled;           /* false after enable(false) */
};

static struct fake_scanner *fake_of(struct pe_scanner *dev)
{
    return dev && dev->dev.ops == &pe_fake_scanner_ops.dev ? (struct fake_scanner *)dev : NULL;
}

static int scanner_open(const struct pe_hal_devcfg *cfg, struct pe_device **out)
{
    (void)cfg;
    struct fake_scanner *s = calloc(1, sizeof *s);
    if (!s)
        return PE_ENOMEM;
    int rc = fake__queue_init(&s->q, sizeof(struct pe_scan), PE_FAKE_QUEUE_MAX);
    if (rc) {
        free(s);
        return rc;
    }
    s->base.dev.ops = &pe_fake_scanner_ops.dev;
    s->enabled = true;
    *out = &s->base.dev;
    return PE_OK;
}

static void scanner_close(struct pe_device *dev)
{
    struct fake_scanner *s = fake_of(pe_scanner_of(dev));
    if (!s)
        return;
    fake__queue_fini(&s->q);
    free(s);
}

static int scanner_fd(struct pe_device *dev)
{
    return ((struct fake_scanner *)dev)->q.efd;
}

static int scanner_read(struct pe_scanner *dev, struct pe_scan *out)
{
    return fake__queue_pop(&((struct fake_scanner *)dev)->q, out);
}

static int scanner_health(struct pe_device *dev, enum pe_health *out)
{
    (void)dev;
    *out = PE_HEALTH_OK;
    return PE_OK;
}

static int scanner_enable(struct pe_scanner *dev, bool on)
{
    struct fake_scanner *s = (struct fake_scanner *)dev;
    s->enabled = on;
    if (!on)
        fake__queue_clear(&s->q);
    return PE_OK;
}

const struct pe_scanner_ops pe_fake_scanner_ops = {
    .dev =
        {
            .cls = PE_DEV_SCANNER,
            .name = "fake",
            .open = scanner_open,
            .close = scanner_close,
            .fd = scanner_fd,
            .health = scanner_health,
        },
    .read = scanner_read,
    .enable = scanner_enable,
};

int pe_fake_scanner_push(struct pe_scanner *dev, const char *code)
{
    struct fake_scanner *s = fake_of(dev);
    if (!s || !code)
        return PE_EINVAL;
    size_t n = strlen(code);
    if (n == 0 || n >= PE_SCAN_MAX)
        return PE_EINVAL;
    if (!s->enabled)
        return PE_ESTATE;
    struct pe_scan scan;
    memset(&scan, 0, sizeof scan);
    memcpy(scan.code, code, n);
    return fake__queue_push(&s->q, &scan);
}

size_t pe_fake_scanner_queued(struct pe_scanner *dev)
{
    struct fake_scanner *s = fake_of(dev);
    return s ? s->q.len : 0;
}
