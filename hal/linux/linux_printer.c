/* SPDX-License-Identifier: Apache-2.0 */
/*
 * linux_printer.c - the "escpos" printer driver: an ESC/POS receipt printer, with the cash
 * drawer behind it, on a USB printer-class device (/dev/usb/lp0) or on a serial line.
 *
 * cfg->path is opened read-write (write-only when that is refused). A tty is then reopened
 * through lx_tty_open with the line settings of cfg->options; anything else (a printer-class
 * character device, or a regular file, which is appended to) is written as it is. Options:
 *
 *   baud parity bits stop   line settings, tty only (lx_tty_open; refused for anything else)
 *   cols=1..64              columns per line, default 42; longer lines are cut
 *   cut=partial|full        GS V 66 0 (default) or GS V 65 0
 *   drawer_pin=2|5          the connector pin ESC p drives: m = 0 for pin 2 (default), 1 for 5
 *   pulse_ms=2..510         drawer pulse, default 100: ESC p m t1 t2 counts 2 ms units, so
 *                           t1 = pulse_ms / 2 (on time) and t2 = min(2 * t1, 255) (off time)
 *   drawer_open_level=high|low  level of connector pin 3 that means "drawer open", default
 *                           high (the usual drawer switch grounds pin 3 while the drawer is
 *                           shut; with no drawer attached the pin floats high and reads open)
 *   status=auto|on|off      ask real-time status with DLE EOT; auto (default) is on for a tty
 *                           and off otherwise (set on for a bidirectional USB printer); on
 *                           needs a readable device
 *   status_ms=10..5000      wait for one status reply, default 250 (the agent asks for health
 *                           every second on its only thread, so this bounds its stall)
 *   timeout_ms=10..60000    bound on one write (a receipt, a cut, a kick), default 2000
 *   qr_module=1..16         dots per QR code module, default 4 (a symbol of version 13-14,
 *                           a receipt's, is then about 320 dots wide: a 58 mm head has 384;
 *                           6 suits an 80 mm head of 576)
 *
 * Bytes sent. open and every reopen: ESC @ (1b 40). print: each '\n'-separated line of the
 * receipt, cut to cols and ended with LF (0a); a byte outside printable ASCII 0x20..0x7e
 * becomes '?', a UTF-8 sequence one '?' (one column, as the character takes), and a CR just
 * before LF is dropped; nothing else: the till asks for the cut after print. cut: ESC d 3
 * (1b 64 03, three lines past the print head) then GS V 66 0 (1d 56 42 00) or GS V 65 0
 * (1d 56 41 00). drawer_kick: ESC p m t1 t2 (1b 70 m t1 t2), 1b 70 00 32 64 by default.
 * print_qr, the printer's own QR code (GS ( k, cn 49), centred, in one write: ESC a 1
 * (1b 61 01); model 2 (1d 28 6b 04 00 31 41 32 00); module size (1d 28 6b 03 00 31 43 n);
 * error correction M (1d 28 6b 03 00 31 45 31); store the k data bytes (1d 28 6b pL pH 31 50
 * 30 d1..dk, pL + 256 pH = k + 3); print it (1d 28 6b 03 00 31 51 30); ESC a 0 (1b 61 00).
 *
 * Status (status on). Each query drains stale input, sends DLE EOT n (10 04 n) and waits up
 * to status_ms for one reply byte. A reply has the fixed bits of ESC/POS status (bits 1 and 4
 * set, bits 0 and 7 clear: (b & 0x93) == 0x12); other bytes are noise and skipped, and the
 * drain throws away a reply that came too late, so one lost byte never shifts the answers.
 * health asks n = 1 (printer: bit 3 offline), n = 2 (offline cause: bit 2 cover open, bit 5
 * stopped at paper end, bit 6 error) and n = 4 (roll sensor: bits 2-3 near end, bits 5-6
 * paper end), stopping at the first silence, and answers
 *   FAILED    paper end, cover open, error, or offline for another reason; a printer silent
 *             for LX_ESCPOS_NO_REPLY_FAILED health checks in a row (switched off); the device gone
 *   DEGRADED  paper near end, or no reply this time (one miss proves nothing)
 *   OK        otherwise; with status off, OK unless the device is gone.
 * While a tty still holds receipt bytes for the printer (TIOCOUTQ) a query would queue behind
 * them and time out, so health answers what it found last time instead. drawer_is_open asks
 * n = 1 (bit 2: connector pin 3 high) and reads it through drawer_open_level. A change of
 * cause is logged once (event hal.linux.printer.status).
 * The replies are read by escpos_status.c (pure functions, fuzzed on their own).
 *
 * Errors and unplugging. print, cut and drawer_kick return PE_OK or PE_EIO: PE_EIO when the
 * device is gone (a write or read failed: EIO, ENODEV, EPIPE, a hang-up) or took nothing for
 * timeout_ms (not gone: the printer may be busy; the receipt may be partly printed). A printer
 * out of paper still takes bytes; the caller learns of it from health. A gone device is
 * replaced by a placeholder (lx_lost): every op but health returns PE_EIO, and health, which
 * the agent calls every second, reports FAILED and reopens the device with backoff (lx_retry),
 * initialising it again with ESC @.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "hal/linux/escpos_status.h"
#include "hal/linux/linux.h"
#include "posedge/clock.h"
#include "posedge/log.h"

#define ESC 0x1b
#define GS 0x1d
#define DLE 0x10
#define EOT 0x04

#define MAX_COLS 64
struct lx_printer {
    struct pe_printer base; /* first: the till holds a struct pe_printer * */
    struct lx_line line;    /* the device, non-blocking; a placeholder while it is gone */
    char *path;             /* the device, for reopening and the log */
    char *options;          /* the options, for reopening (line settings) */
    size_t cols;            /* columns per printed line */
    int timeout_ms;         /* bound on one write */
    int status_ms;          /* bound on the wait for one status reply */
    unsigned char cut[7];   /* ESC d 3, GS V 66|65 0 */
    unsigned char kick[5];  /* ESC p m t1 t2 */
    int qr_module;          /* dots per QR code module */
    bool status;            /* ask real-time status (DLE EOT) */
    bool open_high;         /* connector pin 3 high means the drawer is open */
    int silent;             /* health checks in a row without a reply */
    enum lx_escpos_cause cause; /* what the last health check found (escpos_status.h) */
};

static const char *const printer_keys[] = {
    "baud",     "parity", "bits",       "stop",
    "cols",     "cut",    "drawer_pin", "drawer_open_level",
    "pulse_ms", "status", "status_ms",  "timeout_ms",
    "qr_module", NULL,
};

/* ---- options ---- */

/* The integer option key into *out when it is present and within lo..hi; *out is left alone
 * when it is absent. PE_OK or PE_EINVAL (why says which). */
static int opt_int(const char *opts, const char *key, long lo, long hi, int *out, char *why,
                   size_t whylen)
{
    char v[16], *end;
    int rc = lx_opt_get(opts, key, v, sizeof v);
    if (rc == PE_ENOTFOUND)
        return PE_OK;
    if (rc == PE_OK) {
        errno = 0;
        long n = strtol(v, &end, 10);
        if (errno == 0 && end != v && *end == '\0' && n >= lo && n <= hi) {
            *out = (int)n;
            return PE_OK;
        }
    }
    snprintf(why, whylen, "option %s must be a whole number in %ld..%ld", key, lo, hi);
    return PE_EINVAL;
}

/* The option key, one of the NULL-terminated words, as its index into *out; *out is left
 * alone when it is absent. PE_OK or PE_EINVAL (why says which). */
static int opt_word(const char *opts, const char *key, const char *const words[], int *out,
                    char *why, size_t whylen)
{
    char v[16];
    int rc = lx_opt_get(opts, key, v, sizeof v);
    if (rc == PE_ENOTFOUND)
        return PE_OK;
    for (int i = 0; rc == PE_OK && words[i]; i++) {
        if (strcmp(v, words[i]) == 0) {
            *out = i;
            return PE_OK;
        }
    }
    snprintf(why, whylen, "option %s: bad value", key);
    return PE_EINVAL;
}

/* ---- text ---- */

/*
 * One line of src (n bytes, no '\n') as at most cols printable ASCII characters into dst;
 * returns how many were written. A byte outside 0x20..0x7e becomes '?', and the continuation
 * bytes of a UTF-8 sequence are dropped so the whole character becomes a single '?'.
 */
static size_t put_line(char *dst, const char *src, size_t n, size_t cols)
{
    size_t o = 0;
    bool in_seq = false; /* after a UTF-8 lead byte */
    for (size_t i = 0; i < n && o < cols; i++) {
        unsigned char c = (unsigned char)src[i];
        if (in_seq && c >= 0x80 && c < 0xc0)
            continue;
        in_seq = c >= 0xc0 && c < 0xf8;
        dst[o++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    return o;
}

/* ---- the device ---- */

/* The device went away: the placeholder takes its place until health reopens it. PE_EIO. */
static int lost(struct lx_printer *p, const char *what)
{
    pe_debug("hal.linux.printer.lost", "path=\"%s\" op=%s", p->path, what);
    lx_lost(&p->line, p->path);
    return PE_EIO;
}

/* Write all of buf before deadline (pe_mono_ms). PE_OK or PE_EIO (gone, or timed out). */
static int send(struct lx_printer *p, const void *buf, size_t len, int64_t deadline)
{
    if (p->line.offline)
        return PE_EIO;
    int64_t left = deadline - pe_mono_ms();
    int rc = lx_write_all(p->line.fd, buf, len, left > 0 ? (int)left : 0);
    if (rc == PE_OK)
        return PE_OK;
    if (rc == PE_ETIMEDOUT) {
        pe_warn("hal.linux.printer.timeout", "path=\"%s\" timeout_ms=%d", p->path, p->timeout_ms);
        return PE_EIO;
    }
    return lost(p, "write");
}

/* PE_EIO when poll says the device hung up or failed, else PE_OK. Does not wait. */
static int check_hangup(struct lx_printer *p)
{
    struct pollfd pfd = {.fd = p->line.fd, .events = 0};
    if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)))
        return lost(p, "poll");
    return PE_OK;
}

/* Throw away input already waiting: replies that came after their wait ended, and noise.
 * Bounded, so a device that talks without end cannot hold the caller. PE_OK or PE_EIO. */
static int drain(struct lx_printer *p)
{
    unsigned char buf[64];
    for (int i = 0; i < 64; i++) {
        ssize_t got = read(p->line.fd, buf, sizeof buf);
        if (got > 0)
            continue;
        if (got == 0 || errno == EAGAIN || errno == EWOULDBLOCK)
            return PE_OK;
        if (errno != EINTR)
            return lost(p, "read");
    }
    return PE_OK;
}

/*
 * Send DLE EOT n and wait up to status_ms for its reply byte into *reply. Stale input is
 * drained first; bytes without the fixed status bits are skipped. PE_OK, PE_ETIMEDOUT (no
 * reply, or the input ended) or PE_EIO (gone).
 */
static int query(struct lx_printer *p, unsigned char n, unsigned char *reply)
{
    int64_t deadline = pe_mono_ms() + p->status_ms;
    const unsigned char q[3] = {DLE, EOT, n};
    int rc = drain(p);
    if (rc == PE_OK)
        rc = send(p, q, sizeof q, deadline);
    if (rc)
        return rc;
    for (;;) {
        int64_t left = deadline - pe_mono_ms();
        if (left <= 0)
            return PE_ETIMEDOUT;
        struct pollfd pfd = {.fd = p->line.fd, .events = POLLIN};
        int r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || (r > 0 && (pfd.revents & POLLNVAL)))
            return lost(p, "poll");
        if (r == 0)
            return PE_ETIMEDOUT;
        bool hup = pfd.revents & (POLLHUP | POLLERR);
        unsigned char buf[32];
        ssize_t got = read(p->line.fd, buf, sizeof buf);
        if (got < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return lost(p, "read");
        if (got <= 0 && hup)
            return lost(p, "read");
        if (got == 0)
            return PE_ETIMEDOUT; /* end of input (a regular file): nothing will answer */
        if (lx_escpos_reply(buf, (size_t)got, reply))
            return PE_OK;
    }
}

/*
 * Open path: a tty through lx_tty_open with options, anything else read-write or else
 * write-only; then initialise the printer (ESC @). PE_OK with *fd, *tty and *readable set;
 * PE_EINVAL (bad line settings) or PE_EIO (cannot open or write), why says why.
 */
static int open_device(const char *path, const char *options, int timeout_ms, int *fd, bool *tty,
                       bool *readable, char *why, size_t whylen)
{
    static const unsigned char init[] = {ESC, '@'};
    int f = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | O_APPEND);
    *readable = f >= 0;
    if (f < 0)
        f = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | O_APPEND);
    if (f < 0) {
        snprintf(why, whylen, "%s", strerror(errno));
        return PE_EIO;
    }
    *tty = isatty(f);
    if (*tty) {
        close(f);
        int rc = lx_tty_open(path, options, &f, why, whylen);
        if (rc)
            return rc;
        *readable = true;
    }
    if (lx_write_all(f, init, sizeof init, timeout_ms) != PE_OK) {
        snprintf(why, whylen, "initialise (ESC @) failed");
        close(f);
        return PE_EIO;
    }
    *fd = f;
    return PE_OK;
}

/* lx_retry's reopen: the same device, initialised again. */
static int reopen(void *ctx, int *fd)
{
    struct lx_printer *p = ctx;
    char why[160] = "";
    bool tty, readable;
    int rc = open_device(p->path, p->options, p->timeout_ms, fd, &tty, &readable, why, sizeof why);
    if (rc)
        pe_debug("hal.linux.printer.reopen", "path=\"%s\" why=\"%s\"", p->path, why);
    return rc;
}

/* ---- ops ---- */

static void printer_close(struct pe_device *dev)
{
    struct lx_printer *p = (struct lx_printer *)dev;
    if (!p)
        return;
    lx_line_close(&p->line);
    free(p->path);
    free(p->options);
    free(p);
}

static int printer_open(const struct pe_hal_devcfg *cfg, struct pe_device **out)
{
    static const char *const cuts[] = {"partial", "full", NULL};
    static const char *const pins[] = {"2", "5", NULL};
    static const char *const levels[] = {"high", "low", NULL};
    static const char *const statuses[] = {"auto", "on", "off", NULL};
    static const char *const tty_keys[] = {"baud", "parity", "bits", "stop", NULL};
    char why[160] = "";
    if (!cfg || !cfg->path || !cfg->path[0] || !out)
        return PE_EINVAL;
    const char *o = cfg->options ? cfg->options : "";
    int cols = PE_RECEIPT_COLS, cut = 0, pin = 0, level = 0, pulse = 100, status = 0;
    int status_ms = 250, timeout = 2000, qr_module = 4;
    int rc = lx_opt_check(o, printer_keys, why, sizeof why);
    if (!rc)
        rc = opt_int(o, "cols", 1, MAX_COLS, &cols, why, sizeof why);
    if (!rc)
        rc = opt_word(o, "cut", cuts, &cut, why, sizeof why);
    if (!rc)
        rc = opt_word(o, "drawer_pin", pins, &pin, why, sizeof why);
    if (!rc)
        rc = opt_word(o, "drawer_open_level", levels, &level, why, sizeof why);
    if (!rc)
        rc = opt_int(o, "pulse_ms", 2, 510, &pulse, why, sizeof why);
    if (!rc)
        rc = opt_word(o, "status", statuses, &status, why, sizeof why);
    if (!rc)
        rc = opt_int(o, "status_ms", 10, 5000, &status_ms, why, sizeof why);
    if (!rc)
        rc = opt_int(o, "timeout_ms", 10, 60000, &timeout, why, sizeof why);
    if (!rc)
        rc = opt_int(o, "qr_module", 1, 16, &qr_module, why, sizeof why);
    if (rc)
        goto fail_log;

    int fd;
    bool tty, readable;
    if ((rc = open_device(cfg->path, o, timeout, &fd, &tty, &readable, why, sizeof why)))
        goto fail_log;
    for (int i = 0; !tty && tty_keys[i]; i++) {
        char v[16];
        if (lx_opt_get(o, tty_keys[i], v, sizeof v) != PE_ENOTFOUND) {
            snprintf(why, sizeof why, "option %s is for a serial line only", tty_keys[i]);
            rc = PE_EINVAL;
            goto fail_close;
        }
    }
    bool want_status = status == 1 || (status == 0 && tty);
    if (want_status && !readable) {
        snprintf(why, sizeof why, "status=on needs a readable device");
        rc = PE_EINVAL;
        goto fail_close;
    }
    struct lx_printer *p = calloc(1, sizeof *p);
    if (!p) {
        rc = PE_ENOMEM;
        goto fail_close;
    }
    lx_line_init(&p->line, fd);
    p->path = strdup(cfg->path);
    p->options = strdup(o);
    if (!p->path || !p->options) {
        printer_close(&p->base.dev);
        return PE_ENOMEM;
    }
    p->cols = (size_t)cols;
    p->timeout_ms = timeout;
    p->status_ms = status_ms;
    p->status = want_status;
    p->qr_module = qr_module;
    p->open_high = level == 0;
    int t1 = pulse / 2, t2 = t1 * 2 > 255 ? 255 : t1 * 2;
    const unsigned char cutseq[sizeof p->cut] = {ESC, 'd', 3, GS, 'V', cut ? 65 : 66, 0};
    const unsigned char kick[sizeof p->kick] = {ESC, 'p', (unsigned char)pin, (unsigned char)t1,
                                                (unsigned char)t2};
    memcpy(p->cut, cutseq, sizeof p->cut);
    memcpy(p->kick, kick, sizeof p->kick);
    p->base.dev.ops = &pe_linux_printer_ops.dev;
    pe_info("hal.linux.printer.open", "path=\"%s\" tty=%d status=%d cols=%d", p->path, tty,
            p->status, cols);
    *out = &p->base.dev;
    return PE_OK;

fail_close:
    close(fd);
fail_log:
    pe_error("hal.linux.printer.open", "path=\"%s\" err=%s why=\"%s\"", cfg->path, pe_errname(rc),
             why);
    return rc;
}

static int printer_print(struct pe_printer *dev, const char *text, size_t len)
{
    struct lx_printer *p = (struct lx_printer *)dev;
    if (!text && len)
        return PE_EINVAL;
    if (p->line.offline)
        return PE_EIO;
    int64_t deadline = pe_mono_ms() + p->timeout_ms;
    char buf[2048]; /* lines are gathered here and written whenever it is full */
    size_t o = 0;
    const char *s = text, *end = text + len;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
        if (n && s[n - 1] == '\r')
            n--;
        if (o + p->cols + 1 > sizeof buf) {
            int rc = send(p, buf, o, deadline);
            if (rc)
                return rc;
            o = 0;
        }
        o += put_line(buf + o, s, n, p->cols);
        buf[o++] = '\n';
        s = nl ? nl + 1 : end;
    }
    return o ? send(p, buf, o, deadline) : PE_OK;
}

static int printer_cut(struct pe_printer *dev)
{
    struct lx_printer *p = (struct lx_printer *)dev;
    return send(p, p->cut, sizeof p->cut, pe_mono_ms() + p->timeout_ms);
}

/* The GS ( k sequence of the top of the file, in one write. */
static int printer_print_qr(struct pe_printer *dev, const char *data, size_t len)
{
    struct lx_printer *p = (struct lx_printer *)dev;
    if (!data || len == 0 || len >= PE_RECEIPT_QR_MAX)
        return PE_EINVAL;
    unsigned char buf[PE_RECEIPT_QR_MAX + 64];
    const unsigned char head[] = {
        ESC, 'a', 1,                                                  /* centre */
        GS,  '(', 'k', 4, 0, 49, 65, 50, 0,                           /* fn165: model 2 */
        GS,  '(', 'k', 3, 0, 49, 67, (unsigned char)p->qr_module,     /* fn167: module size */
        GS,  '(', 'k', 3, 0, 49, 69, 49,                              /* fn169: level M */
        GS,  '(', 'k', (unsigned char)((len + 3) & 0xff), (unsigned char)((len + 3) >> 8), 49,
        80,  48,                                                      /* fn180: store */
    };
    static const unsigned char tail[] = {
        GS, '(', 'k', 3, 0, 49, 81, 48, /* fn181: print */
        ESC, 'a', 0,                    /* left again */
    };
    memcpy(buf, head, sizeof head);
    memcpy(buf + sizeof head, data, len);
    memcpy(buf + sizeof head + len, tail, sizeof tail);
    return send(p, buf, sizeof head + len + sizeof tail, pe_mono_ms() + p->timeout_ms);
}

static int printer_drawer_kick(struct pe_printer *dev)
{
    struct lx_printer *p = (struct lx_printer *)dev;
    return send(p, p->kick, sizeof p->kick, pe_mono_ms() + p->timeout_ms);
}

/* PE_OK; PE_ENOTSUP with status off; PE_ETIMEDOUT when the printer did not answer; PE_EIO
 * when the device is gone. */
static int printer_drawer_is_open(struct pe_printer *dev, bool *open_)
{
    struct lx_printer *p = (struct lx_printer *)dev;
    if (p->line.offline)
        return PE_EIO;
    if (!p->status)
        return check_hangup(p) ? PE_EIO : PE_ENOTSUP;
    unsigned char s1;
    int rc = query(p, 1, &s1);
    if (rc)
        return rc;
    *open_ = lx_escpos_drawer_open(s1, p->open_high);
    return PE_OK;
}

/* Ask the printer (status on): the cause, or PE_EIO when it is gone. */
static int ask(struct lx_printer *p, enum lx_escpos_cause *c)
{
    int queued = 0;
    if (ioctl(p->line.fd, TIOCOUTQ, &queued) == 0 && queued > 0) {
        *c = p->cause; /* a query would wait behind the receipt: keep what we know */
        return PE_OK;
    }
    unsigned char s1 = 0, s2 = 0, s4 = 0;
    int rc = query(p, 1, &s1);
    if (rc == PE_OK)
        rc = query(p, 2, &s2);
    if (rc == PE_OK)
        rc = query(p, 4, &s4);
    if (rc == PE_EIO)
        return PE_EIO;
    *c = rc ? LX_ESCPOS_NO_REPLY : lx_escpos_cause(s1, s2, s4);
    p->silent = *c == LX_ESCPOS_NO_REPLY ? p->silent + 1 : 0;
    if (*c != p->cause && *c != LX_ESCPOS_OK && *c != LX_ESCPOS_NO_REPLY)
        pe_warn("hal.linux.printer.status", "path=\"%s\" cause=%s status=%02x,%02x,%02x", p->path,
                lx_escpos_cause_name(*c), s1, s2, s4);
    else if (*c != p->cause)
        pe_log(*c == LX_ESCPOS_OK ? PE_LOG_INFO : PE_LOG_WARN, "hal.linux.printer.status",
               "path=\"%s\" cause=%s", p->path, lx_escpos_cause_name(*c));
    p->cause = *c;
    return PE_OK;
}

/* Always PE_OK with *out set: FAILED while the device is gone (and being reopened). */
static int printer_health(struct pe_device *dev, enum pe_health *out)
{
    struct lx_printer *p = (struct lx_printer *)dev;
    if (p->line.offline) {
        if (!lx_retry(&p->line, p->path, reopen, p)) {
            *out = PE_HEALTH_FAILED;
            return PE_OK;
        }
        p->silent = 0;
        p->cause = LX_ESCPOS_OK;
    }
    enum lx_escpos_cause c = LX_ESCPOS_OK;
    if (p->status ? ask(p, &c) : check_hangup(p)) {
        *out = PE_HEALTH_FAILED; /* just lost: health reopens it from the next call on */
        return PE_OK;
    }
    *out = lx_escpos_health(c, p->silent);
    return PE_OK;
}

const struct pe_printer_ops pe_linux_printer_ops = {
    .dev =
        {
            .cls = PE_DEV_PRINTER,
            .name = "escpos",
            .open = printer_open,
            .close = printer_close,
            .health = printer_health,
        },
    .print = printer_print,
    .cut = printer_cut,
    .drawer_kick = printer_drawer_kick,
    .drawer_is_open = printer_drawer_is_open,
    .print_qr = printer_print_qr,
};
