/* SPDX-License-Identifier: Apache-2.0 */
/*
 * linux_scale.c - the "serial" scale driver: a polled checkout scale on a tty speaking the NCI
 * General Purpose protocol or the 8213 protocol (option protocol=nci|8213, default nci).
 *
 * How it is driven. request() sends the weight command; the reply makes the fd readable and
 * read() parses every byte available and returns the newest complete reply (a scale's older
 * readings are stale), so one read empties the input. A request made while one is in flight
 * and younger than timeout_ms is coalesced (nothing is sent). A request unanswered after
 * timeout_ms makes read return PE_ETIMEDOUT once (health DEGRADED until the scale answers);
 * since a silent scale never makes its fd readable, the health op and the next request notice
 * the silence as well. Weights are converted to grams with integer arithmetic only (exact
 * factors, rounded half away from zero), never through floating point.
 *
 * read returns PE_OK (a weight, stable or in motion), PE_EAGAIN (no complete reply yet),
 * PE_ETIMEDOUT (the request went unanswered), PE_ERANGE (over or under capacity, or 8213 zero
 * error: no weight; health DEGRADED), PE_EBUSY (the scale answered "in motion" without a
 * weight), PE_EPARSE (the scale refused the command, "?", or its reply cannot be read; health
 * DEGRADED), or PE_EIO: the device went away (hang-up, EIO, ENODEV: its fd number stays valid
 * and health reopens it with backoff, FAILED until then) or the scale reports a fault of its
 * own (RAM, ROM, EEPROM, calibration: health FAILED).
 *
 * NCI, as read here. Commands "W\r" (weight), "Z\r" (zero). Every reply starts with LF and ends
 * with ETX (0x03):
 *   LF <weight> CR LF S <s1> <s2> [<s3>] CR ETX    weight and status
 *   LF S <s1> <s2> [<s3>] CR ETX                   status only (reply to Z; in motion; errors)
 *   LF ? CR ETX                                    command not understood
 * <weight> is right-aligned text: optional sign, digits with an optional decimal point, and a
 * unit kg, g, lb or oz (any case, spaces allowed before it), e.g. "  1.234kg", " 12.345lb",
 * "-0.012kg", "250 g", or pounds and ounces " 1lb  2.5oz". Status bytes carry 0x30 (0x30-0x3f; bit
 * 6 may flag a following byte, bit 7 must be clear): s1 bit 0 motion, 1 at zero, 2 RAM error, 3
 * EEPROM error; s2 bit 0 under capacity, 1 over capacity, 2 ROM error, 3 faulty calibration; s3
 * (optional) is ignored. Over or under capacity wins over the weight text, which scales fill with
 * symbols then.
 *
 * 8213, as read here. Command "W" (no CR); replies start with STX (0x02) and end with CR:
 *   STX ddddd CR          five digits: the weight in 0.01 lb, or in grams with option unit=g;
 *                         the scale sends a weight only when it is stable
 *   STX ? [<st>] CR       no valid reading; <st> a status byte: bit 0 motion, 1 over capacity,
 *                         2 under zero, 3 outside the zero capture range (bits 5 and 6 are set
 *                         on the wire); without a status byte or error bit: not understood
 * The 8213 protocol has no zero command: zero returns PE_ENOTSUP.
 *
 * The replies are decoded by scale_decode.c (a pure decoder, fuzzed on its own).
 *
 * Resynchronisation. Bytes are discarded until a frame start (LF, STX). A frame start arriving
 * inside a frame, a control or non-ASCII byte inside a frame, or a frame longer than any valid
 * reply drops the frame cut off; parsing resumes at the next frame start, so line noise before
 * a reply never changes its weight.
 *
 * Options: baud parity bits stop (lx_tty_open; default 9600 8N1: NCI scales are often 7E1, set
 * bits=7 parity=even), protocol (nci|8213), timeout_ms (1..60000, default 1000), unit (8213
 * only: lb|g, default lb).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hal/linux/linux.h"
#include "hal/linux/scale_decode.h"
#include "posedge/clock.h"
#include "posedge/log.h"

#define WRITE_MS 200 /* longest wait for room to send a command */
#define TIMEOUT_DEFAULT_MS 1000

struct scale {
    struct pe_scale base;    /* first: the agent holds a struct pe_scale * */
    struct lx_line line;     /* the fd the agent polls, kept across an unplug */
    char *path;              /* the tty, for reopening */
    char *options;           /* the options, for reopening */
    int timeout_ms;          /* longest wait for a reply */
    bool pending;            /* a weight request is in flight */
    int64_t asked_ms;        /* pe_mono_ms when it was sent */
    bool silent;             /* a request went unanswered since the last reply (logged once) */
    enum pe_health state;    /* from the last reply */
    struct lx_scale_dec dec; /* the reply decoder (scale_decode.h): protocol and frame so far */
};

/* ---- requests and replies ---- */

static bool expired(const struct scale *s)
{
    return s->pending && pe_mono_ms() - s->asked_ms >= s->timeout_ms;
}

/* The request in flight went unanswered. */
static void note_timeout(struct scale *s)
{
    s->pending = false;
    if (!s->silent)
        pe_warn("hal.linux.scale.timeout", "path=%s timeout_ms=%d (no answer)", s->path,
                s->timeout_ms);
    s->silent = true;
}

/* Take a complete reply into the device's state. */
static void took(struct scale *s, const struct lx_scale_reply *r)
{
    if (s->silent)
        pe_info("hal.linux.scale.answers", "path=%s", s->path);
    s->silent = false;
    if (r->rc == LX_SCALE_NO_REPLY)
        return;
    s->pending = false;
    switch (r->rc) {
    case PE_OK:
    case PE_EBUSY:
        s->state = PE_HEALTH_OK;
        break;
    case PE_EIO:
        s->state = PE_HEALTH_FAILED;
        break;
    default:
        s->state = PE_HEALTH_DEGRADED;
        break; /* range, refused, unreadable */
    }
}

static void reset_parser(struct scale *s)
{
    lx_scale_dec_reset(&s->dec);
    s->pending = false;
}

/* The device went away: keep the fd number, reopen from health. */
static int lost(struct scale *s)
{
    reset_parser(s);
    lx_lost(&s->line, s->path);
    return PE_EIO;
}

static int scale_read(struct pe_scale *dev, struct pe_weight *out)
{
    struct scale *s = (struct scale *)dev;
    struct lx_scale_reply last = {.rc = LX_SCALE_NO_REPLY};
    unsigned char buf[256];
    if (s->line.offline)
        return PE_EIO;
    for (;;) {
        ssize_t n = read(s->line.fd, buf, sizeof buf);
        if (n > 0) {
            for (ssize_t i = 0; i < n; i++) {
                struct lx_scale_reply r;
                if (!lx_scale_feed(&s->dec, buf[i], &r))
                    continue;
                took(s, &r);
                if (r.rc != LX_SCALE_NO_REPLY)
                    last = r;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n < 0) {
            pe_warn("hal.linux.scale.read", "path=%s err=\"%s\"", s->path, strerror(errno));
            return lost(s);
        }
        /* 0: nothing to read on a raw tty (VMIN=0), or hung up: only the latter polls so. */
        struct pollfd p = {.fd = s->line.fd, .events = POLLIN};
        if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
            return lost(s);
        break;
    }
    if (last.rc == PE_OK)
        *out = last.w;
    if (last.rc != LX_SCALE_NO_REPLY)
        return last.rc;
    if (expired(s)) {
        note_timeout(s);
        return PE_ETIMEDOUT;
    }
    return PE_EAGAIN;
}

static int send_cmd(struct scale *s, const char *cmd)
{
    int rc = lx_write_all(s->line.fd, cmd, strlen(cmd), WRITE_MS);
    if (rc == PE_EIO)
        return lost(s);
    return rc;
}

static int scale_request(struct pe_scale *dev)
{
    struct scale *s = (struct scale *)dev;
    if (s->line.offline)
        return PE_EIO;
    if (s->pending && !expired(s))
        return PE_OK; /* coalesced with the request in flight */
    if (s->pending)
        note_timeout(s);
    int rc = send_cmd(s, s->dec.proto == LX_SCALE_NCI ? "W\r" : "W");
    if (rc)
        return rc;
    s->pending = true;
    s->asked_ms = pe_mono_ms();
    return PE_OK;
}

static int scale_zero(struct pe_scale *dev)
{
    struct scale *s = (struct scale *)dev;
    if (s->dec.proto != LX_SCALE_NCI)
        return PE_ENOTSUP;
    if (s->line.offline)
        return PE_EIO;
    return send_cmd(s, "Z\r");
}

static int reopen(void *ctx, int *fd)
{
    struct scale *s = ctx;
    char why[160];
    int rc = lx_tty_open(s->path, s->options, fd, why, sizeof why);
    if (rc)
        pe_debug("hal.linux.scale.reopen", "%s", why);
    return rc;
}

static int scale_health(struct pe_device *dev, enum pe_health *out)
{
    struct scale *s = (struct scale *)dev;
    if (s->line.offline) {
        if (!lx_retry(&s->line, s->path, reopen, s)) {
            *out = PE_HEALTH_FAILED;
            return PE_OK;
        }
        reset_parser(s);
        s->state = PE_HEALTH_OK;
        s->silent = false;
    }
    if ((s->silent || expired(s)) && s->state != PE_HEALTH_FAILED)
        *out = PE_HEALTH_DEGRADED;
    else
        *out = s->state;
    return PE_OK;
}

static int scale_fd(struct pe_device *dev)
{
    return ((struct scale *)dev)->line.fd;
}

/* ---- opening and closing ---- */

static int scale_options(struct scale *s, const char *options, char *why, size_t whylen)
{
    static const char *const keys[] = {"baud",     "parity",     "bits", "stop",
                                       "protocol", "timeout_ms", "unit", NULL};
    char v[24];
    enum lx_scale_proto proto;
    bool grams = false;
    int rc = lx_opt_check(options, keys, why, whylen);
    if (rc)
        return rc;
    rc = lx_opt_get(options, "protocol", v, sizeof v);
    if (rc == PE_ENOTFOUND || (rc == PE_OK && strcmp(v, "nci") == 0)) {
        proto = LX_SCALE_NCI;
    } else if (rc == PE_OK && strcmp(v, "8213") == 0) {
        proto = LX_SCALE_8213;
    } else {
        snprintf(why, whylen, "option protocol: expected nci or 8213");
        return PE_EINVAL;
    }
    rc = lx_opt_get(options, "unit", v, sizeof v);
    if (rc != PE_ENOTFOUND) {
        if (proto != LX_SCALE_8213 || rc != PE_OK ||
            (strcmp(v, "lb") != 0 && strcmp(v, "g") != 0)) {
            snprintf(why, whylen, "option unit: lb or g, with protocol=8213 only");
            return PE_EINVAL;
        }
        grams = strcmp(v, "g") == 0;
    }
    s->timeout_ms = TIMEOUT_DEFAULT_MS;
    rc = lx_opt_get(options, "timeout_ms", v, sizeof v);
    if (rc != PE_ENOTFOUND) {
        char *end = NULL;
        long n = 0;
        if (rc == PE_OK && v[0]) {
            errno = 0;
            n = strtol(v, &end, 10);
        }
        if (rc != PE_OK || !v[0] || *end || errno || n < 1 || n > 60000) {
            snprintf(why, whylen, "option timeout_ms: expected an integer 1..60000");
            return PE_EINVAL;
        }
        s->timeout_ms = (int)n;
    }
    lx_scale_dec_init(&s->dec, proto, grams, s->path);
    return PE_OK;
}

static void scale_free(struct scale *s)
{
    free(s->path);
    free(s->options);
    free(s);
}

static int scale_open(const struct pe_hal_devcfg *cfg, struct pe_device **out)
{
    const char *options = cfg->options ? cfg->options : "";
    char why[200] = "no device path";
    int fd = -1, rc = PE_EINVAL;
    struct scale *s = calloc(1, sizeof *s);
    if (!s)
        return PE_ENOMEM;
    s->base.dev.ops = &pe_linux_scale_ops.dev;
    s->state = PE_HEALTH_OK;
    if (!cfg->path || !cfg->path[0])
        goto out_log;
    s->path = strdup(cfg->path);
    s->options = strdup(options);
    if (!s->path || !s->options) {
        rc = PE_ENOMEM;
        goto out_free;
    }
    rc = scale_options(s, options, why, sizeof why);
    if (!rc)
        rc = lx_tty_open(s->path, options, &fd, why, sizeof why);
    if (rc)
        goto out_log;
    lx_line_init(&s->line, fd);
    *out = &s->base.dev;
    return PE_OK;

out_log:
    pe_error("hal.linux.scale.open", "path=%s err=\"%s\"", cfg->path ? cfg->path : "", why);
out_free:
    scale_free(s);
    return rc;
}

static void scale_close(struct pe_device *dev)
{
    struct scale *s = (struct scale *)dev;
    if (!s)
        return;
    lx_line_close(&s->line);
    scale_free(s);
}

const struct pe_scale_ops pe_linux_scale_ops = {
    .dev =
        {
            .cls = PE_DEV_SCALE,
            .name = "serial",
            .open = scale_open,
            .close = scale_close,
            .fd = scale_fd,
            .health = scale_health,
        },
    .read = scale_read,
    .request = scale_request,
    .zero = scale_zero,
};
