/* SPDX-License-Identifier: Apache-2.0 */
/*
 * devices.c - the agent's devices: one per class of PE_DEV_CLASSES (hal.h), held as a struct
 * pe_device in a->dev[class] and checked, opened, watched, health-checked, reported and closed
 * by one loop over the classes. What is particular to a class is one row of per_class below:
 * where its input goes (the till's on_scan, on_weight, ...) and what the customer display says
 * when it fails.
 *
 * Health: the Linux drivers keep their fd through an unplug and reopen the device from their
 * health op with backoff (hal/linux/linux.h); when a real device is configured, the agent looks
 * at every device's health each HEALTH_MS, logs each change and says it on the customer display.
 * The fakes of the sim board are driven by their back doors and never fail by themselves, so
 * an all-fake till is not watched.
 */
#include <assert.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/log.h"

#define HEALTH_MS 1000    /* devices' health is looked at this often */
#define SCALE_POLL_MS 250 /* a polled scale (NCI, 8213) is asked for a reading this often */

static const char *const health_words[] = {"ok", "degraded", "failed"};

static bool is_fake(const struct agent *a, enum pe_dev_class cls)
{
    return strcmp(a->cfg.dev[cls].driver, "fake") == 0;
}

/* ---- input: each reads until PE_EAGAIN and hands the input to the till ---- */

static void on_scanner(int fd, short revents, void *ctx)
{
    (void)fd;
    (void)revents;
    struct agent *a = ctx;
    struct pe_scanner *d = pe_scanner_of(a->dev[PE_DEV_SCANNER]);
    struct pe_scan s;
    while (pe_scanner_read(d, &s) == PE_OK) {
        till_on_scan(a->till, s.code);
        if (!is_fake(a, PE_DEV_SCANNER))
            agent_sim_device_input(a, PE_DEV_SCANNER);
    }
}

static void on_scale(int fd, short revents, void *ctx)
{
    (void)fd;
    (void)revents;
    struct agent *a = ctx;
    struct pe_scale *d = pe_scale_of(a->dev[PE_DEV_SCALE]);
    struct pe_weight w;
    while (pe_scale_read(d, &w) == PE_OK) {
        till_on_weight(a->till, &w);
        if (!is_fake(a, PE_DEV_SCALE))
            agent_sim_device_input(a, PE_DEV_SCALE);
    }
}

static void on_payment(int fd, short revents, void *ctx)
{
    (void)fd;
    (void)revents;
    struct agent *a = ctx;
    struct pe_payment *d = pe_payment_of(a->dev[PE_DEV_PAYMENT]);
    struct pe_pay_result r;
    while (pe_payment_read(d, &r) == PE_OK)
        till_on_payment(a->till, &r);
}

static void on_keypad(int fd, short revents, void *ctx)
{
    (void)fd;
    (void)revents;
    struct agent *a = ctx;
    struct pe_keypad *d = pe_keypad_of(a->dev[PE_DEV_KEYPAD]);
    struct pe_key_input k;
    while (pe_keypad_read(d, &k) == PE_OK)
        till_on_key(a->till, &k);
}

/* What the agent does with each class. An input class (pe_dev_classes[].input) has a reader,
 * an output class none: the till holds it (till_deps) and writes to it. */
static const struct {
    pe_fd_cb input;     /* reads the class's input into the till; NULL for an output class */
    const char *advice; /* the display's second line when the device fails */
} per_class[PE_DEV__COUNT] = {
    [PE_DEV_SCANNER] = {on_scanner, "check the cable"},
    [PE_DEV_SCALE] = {on_scale, "check the cable"},
    [PE_DEV_PRINTER] = {NULL, "receipts can be reprinted"},
    [PE_DEV_PAYMENT] = {on_payment, "check the cable"},
    [PE_DEV_DISPLAY] = {NULL, "check the cable"},
    [PE_DEV_KEYPAD] = {on_keypad, "check the cable"},
};

/* ---- open and close ---- */

int devices_check(const struct agent_cfg *c, char *err, size_t len)
{
    for (int i = 0; i < PE_DEV__COUNT; i++) {
        if (!pe_hal_driver((enum pe_dev_class)i, c->dev[i].driver)) {
            snprintf(err, len, "devices.%s.driver: no driver \"%s\" (built in: %s)",
                     pe_dev_classes[i].name, c->dev[i].driver, pe_hal_driver_names());
            return PE_EINVAL;
        }
    }
    return PE_OK;
}

int devices_open(struct agent *a)
{
    for (int i = 0; i < PE_DEV__COUNT; i++) {
        const struct agent_devcfg *dc = &a->cfg.dev[i];
        const struct pe_device_ops *ops = pe_hal_driver((enum pe_dev_class)i, dc->driver);
        struct pe_hal_devcfg hc = {dc->driver, dc->path, a->cfg.data_dir, dc->options};
        int rc = ops ? pe_device_open(ops, &hc, &a->dev[i]) : PE_ENOTFOUND;
        if (rc) {
            fprintf(stderr, "posedge-agent: cannot open the %s (%s %s): %s\n",
                    pe_dev_classes[i].name, dc->driver, dc->path, pe_strerror(rc));
            return 1;
        }
    }
    for (int i = 0; i < PE_DEV__COUNT; i++) {
        assert(pe_dev_classes[i].input == (per_class[i].input != NULL));
        if (!per_class[i].input)
            continue;
        int fd = pe_device_fd(a->dev[i]);
        int rc = fd < 0 ? fd : pe_loop_add_fd(a->loop, fd, POLLIN, per_class[i].input, a);
        if (rc) {
            fprintf(stderr, "posedge-agent: cannot watch devices: %s\n", pe_strerror(rc));
            return 1;
        }
    }
    return 0;
}

void devices_close(struct agent *a)
{
    for (int i = 0; i < PE_DEV__COUNT; i++) {
        pe_device_close(a->dev[i]);
        a->dev[i] = NULL;
    }
}

/* ---- health: offline, back, out of paper ---- */

/* Keep when the class was first seen failed (failed_since), for /health's threshold. */
static void seen(struct agent *a, int cls, enum pe_health h)
{
    if (h != PE_HEALTH_FAILED)
        a->failed_since[cls] = 0;
    else if (!a->failed_since[cls])
        a->failed_since[cls] = pe_mono_ms();
}

bool devices_health(struct agent *a, enum pe_dev_class cls, enum pe_health *h,
                    int64_t *failed_ms)
{
    *h = PE_HEALTH_OK;
    if (!a->dev[cls] || pe_device_health(a->dev[cls], h) != PE_OK || *h < PE_HEALTH_OK ||
        *h > PE_HEALTH_FAILED)
        return false;
    seen(a, cls, *h);
    if (failed_ms)
        *failed_ms = a->failed_since[cls] ? pe_mono_ms() - a->failed_since[cls] : 0;
    return true;
}

static void on_health(void *ctx)
{
    struct agent *a = ctx;
    enum pe_health h[PE_DEV__COUNT];
    int rc[PE_DEV__COUNT];
    for (int i = 0; i < PE_DEV__COUNT; i++) {
        h[i] = PE_HEALTH_OK;
        rc[i] = pe_device_health(a->dev[i], &h[i]);
    }
    for (int i = 0; i < PE_DEV__COUNT; i++) {
        if (rc[i] != PE_OK || h[i] < PE_HEALTH_OK || h[i] > PE_HEALTH_FAILED)
            continue;
        seen(a, i, h[i]);
        if (h[i] == a->health[i])
            continue;
        const char *label = pe_dev_classes[i].label;
        pe_log(h[i] == PE_HEALTH_OK ? PE_LOG_INFO : PE_LOG_WARN, "agent.device",
               "device=%s health=%s", label, health_words[h[i]]);
        if (h[i] == PE_HEALTH_FAILED)
            till_on_device(a->till, label, false, per_class[i].advice);
        else if (a->health[i] == PE_HEALTH_FAILED)
            till_on_device(a->till, label, true, "");
        a->health[i] = h[i];
        fleet_changed(a->fleet);
    }
    pe_loop_timer(a->loop, HEALTH_MS, on_health, a, NULL);
}

static void on_scale_poll(void *ctx)
{
    struct agent *a = ctx;
    pe_scale_request(pe_scale_of(a->dev[PE_DEV_SCALE]));
    pe_loop_timer(a->loop, SCALE_POLL_MS, on_scale_poll, a, NULL);
}

void devices_watch(struct agent *a)
{
    bool real = false;
    for (int i = 0; i < PE_DEV__COUNT; i++)
        real = real || !is_fake(a, (enum pe_dev_class)i);
    if (!real)
        return;
    pe_loop_timer(a->loop, HEALTH_MS, on_health, a, NULL);
    /* A scale that reports by itself (the fake) says so: request is not supported. */
    if (pe_scale_request(pe_scale_of(a->dev[PE_DEV_SCALE])) != PE_ENOTSUP)
        pe_loop_timer(a->loop, SCALE_POLL_MS, on_scale_poll, a, NULL);
}

/* ---- the state document ---- */

/* Each class's driver and health ("unknown" when the driver cannot tell). */
void devices_fleet(void *ctx, cJSON *obj)
{
    struct agent *a = ctx;
    for (int i = 0; i < PE_DEV__COUNT; i++) {
        enum pe_health h = PE_HEALTH_OK;
        int rc = a->dev[i] ? pe_device_health(a->dev[i], &h) : PE_ENOTSUP;
        cJSON *d = cJSON_AddObjectToObject(obj, pe_dev_classes[i].name);
        if (!d || !cJSON_AddStringToObject(d, "driver", a->cfg.dev[i].driver) ||
            !cJSON_AddStringToObject(d, "status",
                                     rc == PE_OK && h >= PE_HEALTH_OK && h <= PE_HEALTH_FAILED
                                         ? health_words[h]
                                         : "unknown"))
            return; /* out of memory: the document says less */
    }
}
