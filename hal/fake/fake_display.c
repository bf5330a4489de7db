/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake_display.c - the simulated customer display: it keeps the two lines last shown,
 * truncated to PE_DISPLAY_COLS as a real two-line pole display would cut them, and logs them
 * at debug level. It has no clear op; the wrapper clears by showing two empty lines.
 */
#include <stdlib.h>
#include <string.h>

#include "hal/fake/fake.h"
#include "posedge/log.h"

struct fake_display {
    struct pe_display base;          /* first: the till holds a struct pe_display * */
    char line1[PE_DISPLAY_COLS + 1]; /* upper line as last shown */
    char line2[PE_DISPLAY_COLS + 1]; /* lower line */
};

static struct fake_display *fake_of(struct pe_display *dev)
{
    return dev && dev->dev.ops == &pe_fake_display_ops.dev ? (struct fake_display *)dev : NULL;
}

static int display_open(const struct pe_hal_devcfg *cfg, struct pe_device **out)
{
    (void)cfg;
    struct fake_display *d = calloc(1, sizeof *d);
    if (!d)
        return PE_ENOMEM;
    d->base.dev.ops = &pe_fake_display_ops.dev;
    *out = &d->base.dev;
    return PE_OK;
}

static void display_close(struct pe_device *dev)
{
    free(fake_of(pe_display_of(dev)));
}

static void keep(char dst[PE_DISPLAY_COLS + 1], const char *src)
{
    size_t n = src ? strnlen(src, PE_DISPLAY_COLS) : 0;
    if (n)
        memmove(dst, src, n); /* src may be the line kept here */
    dst[n] = '\0';
}

static int display_show(struct pe_display *dev, const char *line1, const char *line2)
{
    struct fake_display *d = (struct fake_display *)dev;
    keep(d->line1, line1);
    keep(d->line2, line2);
    pe_debug("display.show", "line1=\"%s\" line2=\"%s\"", d->line1, d->line2);
    return PE_OK;
}

static int display_health(struct pe_device *dev, enum pe_health *out)
{
    (void)dev;
    *out = PE_HEALTH_OK;
    return PE_OK;
}

const struct pe_display_ops pe_fake_display_ops = {
    .dev =
        {
            .cls = PE_DEV_DISPLAY,
            .name = "fake",
            .open = display_open,
            .close = display_close,
            .health = display_health,
        },
    .show = display_show,
};

int pe_fake_display_lines(struct pe_display *dev, const char **line1, const char **line2)
{
    struct fake_display *d = fake_of(dev);
    if (!d)
        return PE_EINVAL;
    if (line1)
        *line1 = d->line1;
    if (line2)
        *line2 = d->line2;
    return PE_OK;
}
