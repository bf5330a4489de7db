/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hal/linux/linux.h - the Linux device drivers (private to hal/): their ops tables, and the
 * helpers they share for options and serial lines (linux_common.c).
 *
 * Drivers, by class and configured name (devices.<class>.driver):
 *   scanner  "evdev"   USB HID keyboard wedge: struct input_event from /dev/input/..., grabbed
 *            "serial"  codes terminated by CR and/or LF over a tty
 *   scale    "serial"  NCI or 8213 protocol over a tty (options protocol=nci|8213)
 *   printer  "escpos"  ESC/POS receipt printer with the cash drawer behind it
 *   display  "serial"  2 x 20 customer display (options cmdset=escpos|ansi)
 * Every driver reports a device that went away (EIO, ENODEV, hang-up) as PE_EIO from its ops,
 * keeps its fd number (struct lx_line below), and opens the device again with backoff from its
 * health op, which reports FAILED until then; the agent calls health every second and says on
 * the customer display what went offline and what came back.
 */
#ifndef POSEDGE_HAL_LINUX_H
#define POSEDGE_HAL_LINUX_H

#include <stddef.h>

#include "posedge/hal/display.h"
#include "posedge/hal/printer.h"
#include "posedge/hal/scale.h"
#include "posedge/hal/scanner.h"

extern const struct pe_scanner_ops pe_linux_evdev_scanner_ops;
extern const struct pe_scanner_ops pe_linux_serial_scanner_ops;
extern const struct pe_scale_ops pe_linux_scale_ops;
extern const struct pe_printer_ops pe_linux_printer_ops;
extern const struct pe_display_ops pe_linux_display_ops;

/* ---- options: "key=value" words separated by spaces or commas (hal.h) ---- */

/* PE_OK when every key of options is in allowed (NULL-terminated); else PE_EINVAL with the
 * offending word named in why. NULL or "" is fine. */
int lx_opt_check(const char *options, const char *const allowed[], char *why, size_t whylen);

/* The value of key into out: PE_OK, PE_ENOTFOUND (absent) or PE_EINVAL (too long). */
int lx_opt_get(const char *options, const char *key, char *out, size_t outlen);

/* ---- serial lines ---- */

/* Open a tty (or pty) non-blocking and close-on-exec, raw, with the line settings of options:
 * baud (1200..115200, default 9600), parity (none|even|odd, default none), bits (7|8, default
 * 8), stop (1|2, default 1). PE_OK, PE_EINVAL (bad option, why says which), PE_EIO (open or
 * tcsetattr failed, why says why). */
int lx_tty_open(const char *path, const char *options, int *fd, char *why, size_t whylen);

/* Write all of buf to a non-blocking fd, waiting for room up to timeout_ms in total.
 * PE_OK, PE_ETIMEDOUT (not all written), PE_EIO (the device is gone or failed). */
int lx_write_all(int fd, const void *buf, size_t len, int timeout_ms);

/* True for an errno that means the device went away (unplugged, hung up). */
int lx_gone(int err);

/* ---- surviving an unplug ----
 *
 * The agent polls a device's fd and must not have it change under its feet, so a driver keeps
 * its fd NUMBER for the life of the handle. When the device goes away, lx_lost puts a
 * placeholder behind that number (a pipe end that never becomes readable, so the loop does not
 * spin on a hung-up tty), and lx_retry, called from the driver's health op (the agent calls
 * health every second), opens the device again with backoff (0.5 s doubling to 30 s) and puts
 * it back behind the same number with dup2. */
struct lx_line {
    int fd;          /* the fd the agent polls: the device, or the placeholder */
    int hold;        /* the placeholder's other end, -1 while online */
    bool offline;    /* the device is gone */
    int64_t next_ms; /* pe_mono_ms of the next reopen attempt */
    int64_t wait_ms; /* current backoff */
};

/* Adopt a freshly opened device fd. */
void lx_line_init(struct lx_line *l, int fd);

/* The device is gone: log once, put the placeholder behind l->fd. */
void lx_lost(struct lx_line *l, const char *what);

/* When offline and the backoff has passed, call reopen(ctx, &fd); on success the new fd goes
 * behind l->fd. Returns true when the line is online (again). */
bool lx_retry(struct lx_line *l, const char *what, int (*reopen)(void *ctx, int *fd), void *ctx);

/* Close the line (device or placeholder). */
void lx_line_close(struct lx_line *l);

#endif
