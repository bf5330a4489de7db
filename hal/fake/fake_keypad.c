/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake_keypad.c - the simulated operator keypad: decoded operator actions (struct
 * pe_key_input) pushed through the back door come out of read one at a time, in order, and
 * its fd is readable exactly while one waits.
 */
#include <stdlib.h>
#include <string.h>

#include "hal/fake/fake.h"

struct fake_keypad {
    struct pe_keypad base; /* first: the till holds a struct pe_keypad * */
    struct fake__queue q;  /* of struct pe_key_input */
};

static struct fake_keypad *fake_of(struct pe_keypad *dev)
{
    return dev && dev->dev.ops == &pe_fake_keypad_ops.dev ? (struct fake_keypad *)dev : NULL;
}

static int keypad_open(const struct pe_hal_devcfg *cfg, struct pe_device **out)
{
    (void)cfg;
    struct fake_keypad *k = calloc(1, sizeof *k);
    if (!k)
        return PE_ENOMEM;
    int rc = fake__queue_init(&k->q, sizeof(struct pe_key_input), PE_FAKE_QUEUE_MAX);
    if (rc) {
        free(k);
        return rc;
    }
    k->base.dev.ops = &pe_fake_keypad_ops.dev;
    *out = &k->base.dev;
    return PE_OK;
}

static void keypad_close(struct pe_device *dev)
{
    struct fake_keypad *k = fake_of(pe_keypad_of(dev));
    if (!k)
        return;
    fake__queue_fini(&k->q);
    free(k);
}

static int keypad_fd(struct pe_device *dev)
{
    return ((struct fake_keypad *)dev)->q.efd;
}

static int keypad_read(struct pe_keypad *dev, struct pe_key_input *out)
{
    return fake__queue_pop(&((struct fake_keypad *)dev)->q, out);
}

static int keypad_health(struct pe_device *dev, enum pe_health *out)
{
    (void)dev;
    *out = PE_HEALTH_OK;
    return PE_OK;
}

const struct pe_keypad_ops pe_fake_keypad_ops = {
    .dev =
        {
            .cls = PE_DEV_KEYPAD,
            .name = "fake",
            .open = keypad_open,
            .close = keypad_close,
            .fd = keypad_fd,
            .health = keypad_health,
        },
    .read = keypad_read,
};

int pe_fake_keypad_push(struct pe_keypad *dev, const struct pe_key_input *in)
{
    struct fake_keypad *k = fake_of(dev);
    if (!k || !in || in->nlines < 0 || in->nlines > PE_KEY_MAX_LINES)
        return PE_EINVAL;
    struct pe_key_input copy = *in;
    /* Texts come back NUL-terminated whatever the caller left in the buffers. */
    copy.text[PE_KEY_TEXT_MAX - 1] = '\0';
    for (int i = 0; i < copy.nlines; i++)
        copy.lines[i].code[sizeof copy.lines[i].code - 1] = '\0';
    return fake__queue_push(&k->q, &copy);
}

size_t pe_fake_keypad_queued(struct pe_keypad *dev)
{
    struct fake_keypad *k = fake_of(dev);
    return k ? k->q.len : 0;
}
