/* SPDX-License-Identifier: Apache-2.0 */
/*
 * linux_display.c - the "serial" customer display driver: a two-line pole display on a serial
 * line (lx_tty_open), spoken to in one of two command sets. Options:
 *
 *   baud parity bits stop   line settings (lx_tty_open; 9600 8N1 by default)
 *   cmdset=escpos|ansi      escpos (default): the Epson DM-D command set most pole displays
 *                           understand; ansi: a VT100-style terminal
 *   cols=1..40              characters per line, default 20
 *
 * Bytes sent, with each line cut or padded with spaces to exactly cols characters (a byte
 * outside printable ASCII becomes '?', a UTF-8 sequence one '?'):
 *   escpos  open: ESC @ (1b 40, initialise: clears the screen, default settings)
 *           show: FF (0c, clear, cursor home), line 1, US $ 1 2 (1f 24 01 02, cursor to
 *                 column 1 of row 2), line 2
 *           clear: FF (0c)
 *   ansi    open: nothing
 *           show: ESC [2J ESC [H, line 1, ESC [2;1H, line 2
 *           clear: ESC [2J ESC [H
 * Every show rewrites both lines, so a display that was switched off and on shows the right
 * text at the next show. The display never answers, so health sees only a hang-up.
 *
 * Errors and unplugging. show and clear return PE_EIO when the line is gone (a write failed,
 * or a hang-up) or took nothing for WRITE_MS. A gone line is replaced by a placeholder
 * (lx_lost): show and clear return PE_EIO, and health, which the agent calls every second,
 * reports FAILED and reopens the line with backoff (lx_retry). The screen last asked for, even
 * while the line was gone, is kept and sent again after the reopen (after ESC @ for escpos).
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hal/linux/linux.h"
#include "posedge/log.h"

#define WRITE_MS 1000 /* bound on one write; a whole screen takes 90 ms at 9600 baud */

static const char esc_home[] = "\x0c", esc_row2[] = "\x1f\x24\x01\x02";
static const char ansi_home[] = "\x1b[2J\x1b[H", ansi_row2[] = "\x1b[2;1H";
static const unsigned char esc_init[] = {0x1b, '@'};

#define SCREEN_MAX (sizeof ansi_home - 1 + sizeof ansi_row2 - 1 + 2 * PE_DISPLAY_COLS)

struct lx_display {
    struct pe_display base;  /* first: the till holds a struct pe_display * */
    struct lx_line line;     /* the serial line; a placeholder while it is gone */
    char *path;              /* the line, for reopening and the log */
    char *options;           /* the options, for reopening (line settings) */
    size_t cols;             /* characters per line */
    bool ansi;               /* ANSI/VT100 escapes instead of ESC/POS */
    char screen[SCREEN_MAX]; /* the bytes of the screen last asked for */
    size_t screen_len;       /* 0 before the first show, and after a clear */
};

static const char *const display_keys[] = {"baud",   "parity", "bits", "stop",
                                           "cmdset", "cols",   NULL};

/* line cut or padded to exactly cols printable ASCII characters at dst (see the file top);
 * NULL is an empty line. Returns cols. */
static size_t put_line(char *dst, const char *line, size_t cols)
{
    size_t o = 0;
    bool in_seq = false; /* after a UTF-8 lead byte */
    for (const char *s = line ? line : ""; *s && o < cols; s++) {
        unsigned char c = (unsigned char)*s;
        if (in_seq && c >= 0x80 && c < 0xc0)
            continue;
        in_seq = c >= 0xc0 && c < 0xf8;
        dst[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    memset(dst + o, ' ', cols - o);
    return cols;
}

/* Write buf in full; PE_OK or PE_EIO (gone, or timed out). */
static int send(struct lx_display *d, const void *buf, size_t len)
{
    if (d->line.offline)
        return PE_EIO;
    int rc = lx_write_all(d->line.fd, buf, len, WRITE_MS);
    if (rc == PE_OK)
        return PE_OK;
    if (rc == PE_ETIMEDOUT)
        pe_warn("hal.linux.display.timeout", "path=\"%s\"", d->path);
    else
        lx_lost(&d->line, d->path);
    return PE_EIO;
}

/* Open the line and initialise the display. PE_OK, PE_EINVAL or PE_EIO (why says why). */
static int open_line(const char *path, const char *options, bool ansi, int *fd, char *why,
                     size_t whylen)
{
    int rc = lx_tty_open(path, options, fd, why, whylen);
    if (rc)
        return rc;
    if (!ansi && lx_write_all(*fd, esc_init, sizeof esc_init, WRITE_MS) != PE_OK) {
        snprintf(why, whylen, "initialise (ESC @) failed");
        close(*fd);
        return PE_EIO;
    }
    return PE_OK;
}

/* lx_retry's reopen: the same line, initialised again. */
static int reopen(void *ctx, int *fd)
{
    struct lx_display *d = ctx;
    char why[160] = "";
    int rc = open_line(d->path, d->options, d->ansi, fd, why, sizeof why);
    if (rc)
        pe_debug("hal.linux.display.reopen", "path=\"%s\" why=\"%s\"", d->path, why);
    return rc;
}

static void display_close(struct pe_device *dev)
{
    struct lx_display *d = (struct lx_display *)dev;
    if (!d)
        return;
    lx_line_close(&d->line);
    free(d->path);
    free(d->options);
    free(d);
}

static int display_open(const struct pe_hal_devcfg *cfg, struct pe_device **out)
{
    char why[160] = "", v[16];
    if (!cfg || !cfg->path || !cfg->path[0] || !out)
        return PE_EINVAL;
    const char *o = cfg->options ? cfg->options : "";
    bool ansi = false;
    long cols = 20;
    int rc = lx_opt_check(o, display_keys, why, sizeof why);
    if (!rc && lx_opt_get(o, "cmdset", v, sizeof v) != PE_ENOTFOUND) {
        ansi = strcmp(v, "ansi") == 0;
        if (!ansi && strcmp(v, "escpos") != 0) {
            snprintf(why, sizeof why, "option cmdset: escpos or ansi");
            rc = PE_EINVAL;
        }
    }
    if (!rc && lx_opt_get(o, "cols", v, sizeof v) != PE_ENOTFOUND) {
        char *end;
        cols = strtol(v, &end, 10);
        if (end == v || *end || cols < 1 || cols > PE_DISPLAY_COLS) {
            snprintf(why, sizeof why, "option cols: 1..%d", PE_DISPLAY_COLS);
            rc = PE_EINVAL;
        }
    }
    int fd;
    if (!rc)
        rc = open_line(cfg->path, o, ansi, &fd, why, sizeof why);
    if (rc) {
        pe_error("hal.linux.display.open", "path=\"%s\" err=%s why=\"%s\"", cfg->path,
                 pe_errname(rc), why);
        return rc;
    }
    struct lx_display *d = calloc(1, sizeof *d);
    if (!d) {
        close(fd);
        return PE_ENOMEM;
    }
    lx_line_init(&d->line, fd);
    d->path = strdup(cfg->path);
    d->options = strdup(o);
    if (!d->path || !d->options) {
        display_close(&d->base.dev);
        return PE_ENOMEM;
    }
    d->cols = (size_t)cols;
    d->ansi = ansi;
    d->base.dev.ops = &pe_linux_display_ops.dev;
    *out = &d->base.dev;
    return PE_OK;
}

static int display_show(struct pe_display *dev, const char *line1, const char *line2)
{
    struct lx_display *d = (struct lx_display *)dev;
    const char *home = d->ansi ? ansi_home : esc_home, *row2 = d->ansi ? ansi_row2 : esc_row2;
    size_t n = strlen(home);
    memcpy(d->screen, home, n);
    n += put_line(d->screen + n, line1, d->cols);
    memcpy(d->screen + n, row2, strlen(row2));
    n += strlen(row2);
    n += put_line(d->screen + n, line2, d->cols);
    d->screen_len = n;
    return send(d, d->screen, n);
}

static int display_clear(struct pe_display *dev)
{
    struct lx_display *d = (struct lx_display *)dev;
    d->screen_len = 0;
    return d->ansi ? send(d, ansi_home, sizeof ansi_home - 1)
                   : send(d, esc_home, sizeof esc_home - 1);
}

/* Always PE_OK with *out set: FAILED while the line is gone (and being reopened). */
static int display_health(struct pe_device *dev, enum pe_health *out)
{
    struct lx_display *d = (struct lx_display *)dev;
    if (d->line.offline) {
        if (!lx_retry(&d->line, d->path, reopen, d)) {
            *out = PE_HEALTH_FAILED;
            return PE_OK;
        }
        if (d->screen_len)
            send(d, d->screen, d->screen_len); /* a failure shows at the next call */
    }
    struct pollfd pfd = {.fd = d->line.fd, .events = 0};
    if (!d->line.offline && poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)))
        lx_lost(&d->line, d->path);
    *out = d->line.offline ? PE_HEALTH_FAILED : PE_HEALTH_OK;
    return PE_OK;
}

const struct pe_display_ops pe_linux_display_ops = {
    .dev =
        {
            .cls = PE_DEV_DISPLAY,
            .name = "serial",
            .open = display_open,
            .close = display_close,
            .health = display_health,
        },
    .show = display_show,
    .clear = display_clear,
};
