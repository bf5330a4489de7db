/* SPDX-License-Identifier: Apache-2.0 */
/*
 * linux_scanner.c - the two Linux barcode scanner drivers: "serial" (codes ended by CR, LF or
 * CRLF over a tty) and "evdev" (a USB HID keyboard wedge read as struct input_event records,
 * grabbed so its keystrokes reach no one else).
 *
 * Both share one device struct and one read loop: input is read into rx, decoded into the code
 * being typed, and read returns one code per call, so the agent's "read until PE_EAGAIN" loop
 * empties rx before it waits on the fd again. Two rules hold for both drivers:
 *  - a code longer than maxlen is discarded whole, up to its terminator, and logged;
 *  - a partial code is dropped after timeout_ms of silence (a scan cut off mid-way must not be
 *    glued to the next one). The silence is measured when read is called, before new input is
 *    read, from the time of the last input (pe_mono_ms).
 * The bytes and events are decoded by serial_decode.c and evdev_decode.c (pure decoders, fuzzed
 * on their own).
 * A device that goes away (EIO, ENODEV, hang-up) makes read return PE_EIO; its fd number stays
 * valid (lx_lost), and the health op reopens it with backoff (lx_retry) and reports FAILED
 * until then.
 *
 * Options. serial: baud parity bits stop (lx_tty_open), maxlen (1..PE_SCAN_MAX-1, default
 * PE_SCAN_MAX-1), timeout_ms (1..60000, default 500). evdev: grab (1|0, default 1: a grab that
 * fails is logged and the device still used, health DEGRADED), keymap (us, the only one),
 * maxlen, timeout_ms. The evdev path may also be a FIFO carrying struct input_event records, to
 * replay a recorded session; it is not grabbed.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hal/linux/evdev_decode.h"
#include "hal/linux/linux.h"
#include "hal/linux/serial_decode.h"
#include "posedge/clock.h"
#include "posedge/log.h"

#define SERIAL_RX 256 /* bytes read from a tty at once */
#define EVDEV_RX 64   /* input_event records read at once */
#define TIMEOUT_DEFAULT_MS 500

struct scanner {
    struct pe_scanner base; /* first: the agent holds a struct pe_scanner * */
    struct lx_line line;    /* the fd the agent polls, kept across an unplug */
    char *path;             /* the device, for reopening */
    char *options;          /* the options, for reopening (serial line settings) */
    bool evdev;             /* the "evdev" driver; else "serial" */
    bool fifo;              /* evdev: path is a FIFO of recorded events, not grabbed */
    bool grab;              /* evdev: grab asked for (option grab) */
    bool grabbed;           /* evdev: the grab is in place */
    bool enabled;           /* false after enable(false): codes are read and dropped */
    int timeout_ms;         /* silence that drops a partial code */
    size_t maxlen;          /* longest code accepted */
    int64_t last_ms;        /* pe_mono_ms when input was last read */
    struct lx_serial ser;   /* serial decoding (serial_decode.h) */
    struct lx_evdev dec;    /* evdev decoding (evdev_decode.h) */
    /* input read, not yet decoded */
    size_t rxlen, rxpos;
    unsigned char rx[EVDEV_RX * sizeof(struct input_event) > SERIAL_RX
                         ? EVDEV_RX * sizeof(struct input_event)
                         : SERIAL_RX];
};

/* ---- options ---- */

/* The integer option key into *out (def when absent); PE_EINVAL outside min..max. */
static int opt_long(const char *options, const char *key, long def, long min, long max, long *out,
                    char *why, size_t whylen)
{
    char v[24];
    int rc = lx_opt_get(options, key, v, sizeof v);
    if (rc == PE_ENOTFOUND) {
        *out = def;
        return PE_OK;
    }
    char *end = NULL;
    long n = 0;
    if (rc == PE_OK && v[0]) {
        errno = 0;
        n = strtol(v, &end, 10);
    }
    if (rc != PE_OK || !v[0] || *end || errno || n < min || n > max) {
        snprintf(why, whylen, "option %s: expected an integer %ld..%ld", key, min, max);
        return PE_EINVAL;
    }
    *out = n;
    return PE_OK;
}

/* The options both drivers share: maxlen and timeout_ms. */
static int common_options(struct scanner *s, const char *options, char *why, size_t whylen)
{
    long maxlen, timeout;
    int rc = opt_long(options, "maxlen", PE_SCAN_MAX - 1, 1, PE_SCAN_MAX - 1, &maxlen, why, whylen);
    if (!rc)
        rc = opt_long(options, "timeout_ms", TIMEOUT_DEFAULT_MS, 1, 60000, &timeout, why, whylen);
    if (rc)
        return rc;
    s->maxlen = (size_t)maxlen;
    s->timeout_ms = (int)timeout;
    return PE_OK;
}

/* The evdev driver's own options: keymap (us only) and grab (1|0). */
static int evdev_options(struct scanner *s, const char *options, char *why, size_t whylen)
{
    char v[16];
    int rc = lx_opt_get(options, "keymap", v, sizeof v);
    if (rc != PE_ENOTFOUND && (rc != PE_OK || strcmp(v, "us") != 0)) {
        snprintf(why, whylen, "option keymap: only us is known");
        return PE_EINVAL;
    }
    rc = lx_opt_get(options, "grab", v, sizeof v);
    if (rc == PE_ENOTFOUND)
        return PE_OK;
    if (rc != PE_OK || (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)) {
        snprintf(why, whylen, "option grab: expected 0 or 1");
        return PE_EINVAL;
    }
    s->grab = v[0] == '1';
    return PE_OK;
}

/* ---- opening, reopening, closing ---- */

/* Open the evdev node (or FIFO) at s->path into *fd, grabbing it when asked. */
static int evdev_node_open(struct scanner *s, int *fd, char *why, size_t whylen)
{
    int f = open(s->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (f < 0) {
        snprintf(why, whylen, "%s: %s", s->path, strerror(errno));
        return PE_EIO;
    }
    struct stat st;
    if (fstat(f, &st) != 0) {
        snprintf(why, whylen, "%s: fstat: %s", s->path, strerror(errno));
        close(f);
        return PE_EIO;
    }
    s->fifo = S_ISFIFO(st.st_mode);
    s->grabbed = false;
    if (!s->fifo) {
        int version = 0;
        if (!S_ISCHR(st.st_mode) || ioctl(f, EVIOCGVERSION, &version) != 0) {
            snprintf(why, whylen, "%s: not an input event device", s->path);
            close(f);
            return PE_EINVAL;
        }
        if (s->grab) {
            if (ioctl(f, EVIOCGRAB, 1) == 0)
                s->grabbed = true;
            else /* someone else holds it: we still see its keys, so does the other reader */
                pe_warn("hal.linux.scanner.grab", "path=%s err=\"%s\"", s->path, strerror(errno));
        }
    }
    *fd = f;
    return PE_OK;
}

static int device_open(struct scanner *s, int *fd, char *why, size_t whylen)
{
    return s->evdev ? evdev_node_open(s, fd, why, whylen)
                    : lx_tty_open(s->path, s->options, fd, why, whylen);
}

/* Forget everything read from the device: after a loss, a reopen or a disable. */
static void reset_input(struct scanner *s)
{
    s->rxlen = s->rxpos = 0;
    lx_serial_drop(&s->ser);
    lx_evdev_drop(&s->dec);
}

static int reopen(void *ctx, int *fd)
{
    struct scanner *s = ctx;
    char why[160];
    int rc = device_open(s, fd, why, sizeof why);
    if (rc)
        pe_debug("hal.linux.scanner.reopen", "%s", why);
    return rc;
}

static void scanner_free(struct scanner *s)
{
    free(s->path);
    free(s->options);
    free(s);
}

static int scanner_open(const struct pe_hal_devcfg *cfg, bool evdev, struct pe_device **out)
{
    static const char *const serial_keys[] = {"baud",   "parity",     "bits", "stop",
                                              "maxlen", "timeout_ms", NULL};
    static const char *const evdev_keys[] = {"grab", "keymap", "maxlen", "timeout_ms", NULL};
    const char *name = evdev ? "evdev" : "serial";
    const char *options = cfg->options ? cfg->options : "";
    char why[200] = "";
    int fd = -1, rc;

    if (!cfg->path || !cfg->path[0]) {
        pe_error("hal.linux.scanner.open", "driver=%s err=\"no device path\"", name);
        return PE_EINVAL;
    }
    struct scanner *s = calloc(1, sizeof *s);
    if (!s)
        return PE_ENOMEM;
    s->base.dev.ops = evdev ? &pe_linux_evdev_scanner_ops.dev : &pe_linux_serial_scanner_ops.dev;
    s->evdev = evdev;
    s->enabled = true;
    s->grab = true;
    s->path = strdup(cfg->path);
    s->options = strdup(options);
    if (!s->path || !s->options) {
        rc = PE_ENOMEM;
        goto out_free;
    }
    rc = lx_opt_check(options, evdev ? evdev_keys : serial_keys, why, sizeof why);
    if (!rc)
        rc = common_options(s, options, why, sizeof why);
    if (!rc && evdev)
        rc = evdev_options(s, options, why, sizeof why);
    if (rc)
        goto out_log;
    lx_evdev_init(&s->dec, s->maxlen);
    lx_serial_init(&s->ser, s->maxlen);
    rc = device_open(s, &fd, why, sizeof why);
    if (rc)
        goto out_log;
    lx_line_init(&s->line, fd);
    s->last_ms = pe_mono_ms();
    *out = &s->base.dev;
    return PE_OK;

out_log:
    pe_error("hal.linux.scanner.open", "driver=%s path=%s err=\"%s\"", name, cfg->path, why);
out_free:
    scanner_free(s);
    return rc;
}

static int serial_open(const struct pe_hal_devcfg *cfg, struct pe_device **out)
{
    return scanner_open(cfg, false, out);
}

static int evdev_open(const struct pe_hal_devcfg *cfg, struct pe_device **out)
{
    return scanner_open(cfg, true, out);
}

static void scanner_close(struct pe_device *dev)
{
    struct scanner *s = (struct scanner *)dev;
    if (!s)
        return;
    lx_line_close(&s->line); /* closing the fd also releases the grab */
    scanner_free(s);
}

static int scanner_fd(struct pe_device *dev)
{
    return ((struct scanner *)dev)->line.fd;
}

/* ---- decoding ---- */

/* Decode the serial bytes in rx up to the first complete code: PE_OK with it in out, or
 * PE_EAGAIN with rx used up (serial_decode.h says what makes up a code). */
static int decode_serial(struct scanner *s, struct pe_scan *out)
{
    while (s->rxpos < s->rxlen) {
        enum lx_serial_result r = lx_serial_feed(&s->ser, s->rx[s->rxpos++], out);
        if (r == LX_SERIAL_CODE)
            return PE_OK;
        if (r == LX_SERIAL_OVERLONG)
            pe_warn("hal.linux.scanner.overlong", "path=%s maxlen=%zu (code dropped)", s->path,
                    s->maxlen);
    }
    s->rxlen = s->rxpos = 0;
    return PE_EAGAIN;
}

/* Decode the whole input_event records in rx up to the first complete code; a record's tail
 * still to come stays at the front of rx. Only type, code and value are looked at: the time
 * fields' layout differs between 32- and 64-bit ABIs. */
static int decode_evdev(struct scanner *s, struct pe_scan *out)
{
    struct input_event ev;
    int rc = PE_EAGAIN;
    while (rc == PE_EAGAIN && s->rxlen - s->rxpos >= sizeof ev) {
        memcpy(&ev, s->rx + s->rxpos, sizeof ev);
        s->rxpos += sizeof ev;
        enum lx_evdev_result r = lx_evdev_feed(&s->dec, ev.type, ev.code, ev.value, out);
        if (r == LX_EVDEV_CODE)
            rc = PE_OK;
        else if (r == LX_EVDEV_OVERLONG)
            pe_warn("hal.linux.scanner.overlong", "path=%s maxlen=%zu (code dropped)", s->path,
                    s->maxlen);
    }
    size_t left = s->rxlen - s->rxpos;
    if (rc == PE_EAGAIN) {
        memmove(s->rx, s->rx + s->rxpos, left);
        s->rxlen = left;
        s->rxpos = 0;
    }
    return rc;
}

static bool partial(const struct scanner *s)
{
    return s->evdev ? lx_evdev_pending(&s->dec) : lx_serial_pending(&s->ser);
}

static void drop_partial(struct scanner *s)
{
    pe_info("hal.linux.scanner.partial", "path=%s timeout_ms=%d (partial code dropped)", s->path,
            s->timeout_ms);
    lx_serial_drop(&s->ser);
    lx_evdev_drop(&s->dec);
}

/* Read what the device has into rx: PE_OK (some), PE_EAGAIN (none), PE_EIO (gone). */
static int fill(struct scanner *s)
{
    for (;;) {
        ssize_t n = read(s->line.fd, s->rx + s->rxlen, sizeof s->rx - s->rxlen);
        if (n > 0) {
            s->rxlen += (size_t)n;
            s->last_ms = pe_mono_ms();
            return PE_OK;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return PE_EAGAIN;
        if (n < 0) {
            pe_warn("hal.linux.scanner.read", "path=%s err=\"%s\"", s->path, strerror(errno));
            return PE_EIO;
        }
        /* 0: a raw tty (VMIN=0) with nothing to read, or the device hung up / the FIFO's
         * writer left; only the latter polls as hung up. */
        struct pollfd p = {.fd = s->line.fd, .events = POLLIN};
        if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
            return PE_EIO;
        return PE_EAGAIN;
    }
}

static int scanner_read(struct pe_scanner *dev, struct pe_scan *out)
{
    struct scanner *s = (struct scanner *)dev;
    if (s->line.offline)
        return PE_EIO;
    for (;;) {
        int rc = s->evdev ? decode_evdev(s, out) : decode_serial(s, out);
        if (rc == PE_OK) {
            if (s->enabled)
                return PE_OK;
            continue;
        }
        if (partial(s) && pe_mono_ms() - s->last_ms >= s->timeout_ms)
            drop_partial(s);
        rc = fill(s);
        if (rc == PE_EAGAIN)
            return PE_EAGAIN;
        if (rc == PE_EIO) {
            reset_input(s);
            lx_lost(&s->line, s->path);
            return PE_EIO;
        }
    }
}

static int scanner_health(struct pe_device *dev, enum pe_health *out)
{
    struct scanner *s = (struct scanner *)dev;
    if (s->line.offline) {
        if (!lx_retry(&s->line, s->path, reopen, s)) {
            *out = PE_HEALTH_FAILED;
            return PE_OK;
        }
        reset_input(s);
        s->last_ms = pe_mono_ms();
    }
    *out = s->evdev && s->grab && !s->fifo && !s->grabbed ? PE_HEALTH_DEGRADED : PE_HEALTH_OK;
    return PE_OK;
}

static int scanner_enable(struct pe_scanner *dev, bool on)
{
    struct scanner *s = (struct scanner *)dev;
    if (!on) {
        lx_serial_drop(&s->ser);
        lx_evdev_drop(&s->dec);
    }
    s->enabled = on;
    return PE_OK;
}

const struct pe_scanner_ops pe_linux_serial_scanner_ops = {
    .dev =
        {
            .cls = PE_DEV_SCANNER,
            .name = "serial",
            .open = serial_open,
            .close = scanner_close,
            .fd = scanner_fd,
            .health = scanner_health,
        },
    .read = scanner_read,
    .enable = scanner_enable,
};

const struct pe_scanner_ops pe_linux_evdev_scanner_ops = {
    .dev =
        {
            .cls = PE_DEV_SCANNER,
            .name = "evdev",
            .open = evdev_open,
            .close = scanner_close,
            .fd = scanner_fd,
            .health = scanner_health,
        },
    .read = scanner_read,
    .enable = scanner_enable,
};
