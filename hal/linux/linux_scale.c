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
#include "posedge/clock.h"
#include "posedge/log.h"

#define LF 0x0a
#define CR 0x0d
#define STX 0x02
#define ETX 0x03
#define NO_REPLY 1   /* a frame that answers nothing (an NCI status without news) */
#define WRITE_MS 200 /* longest wait for room to send a command */
#define TIMEOUT_DEFAULT_MS 1000

/* Grams per unit as the exact fraction num/den. */
struct unit {
    const char *name;
    int64_t num, den;
};
static const struct unit KG = {"kg", 1000, 1};
static const struct unit G = {"g", 1, 1};
static const struct unit LB = {"lb", 45359237, 100000};     /* 453.59237 g */
static const struct unit OZ = {"oz", 45359237, 1600000};    /* a sixteenth of that */
static const struct unit CLB = {"clb", 45359237, 10000000}; /* 0.01 lb, the 8213 step */

enum proto { NCI, P8213 };

/* Where the parser is within a frame. */
enum state {
    HUNT,  /* discarding until a frame start */
    LINE1, /* NCI: the first line (weight, status or "?"); 8213: the body */
    CR1,   /* NCI: after the first line's CR: LF (a second line follows) or ETX */
    LINE2, /* NCI: the status line */
    CR2,   /* NCI: after the status line's CR: ETX */
};

/* A complete reply: rc PE_OK with w, or the error read reports, or NO_REPLY. */
struct reply {
    int rc;
    struct pe_weight w;
};

struct scale {
    struct pe_scale base; /* first: the agent holds a struct pe_scale * */
    struct lx_line line;  /* the fd the agent polls, kept across an unplug */
    char *path;           /* the tty, for reopening */
    char *options;        /* the options, for reopening */
    enum proto proto;     /* the protocol spoken */
    bool grams_8213;      /* 8213: weights come in grams (unit=g), else in 0.01 lb */
    int timeout_ms;       /* longest wait for a reply */
    bool pending;         /* a weight request is in flight */
    int64_t asked_ms;     /* pe_mono_ms when it was sent */
    bool silent;          /* a request went unanswered since the last reply (logged once) */
    enum pe_health state; /* from the last reply */
    enum state st;        /* parser */
    size_t n1, n2;        /* lengths of l1 and l2 */
    char l1[32];          /* first line / 8213 body, NUL-terminated when complete */
    char l2[8];           /* NCI status line */
};

/* ---- conversions, exact ---- */

/* Round m / 10^d units of u to grams, half away from zero. PE_OK or PE_ERANGE. */
static int to_grams(int64_t m, int d, const struct unit *u, int32_t *out)
{
    int64_t q = u->den, p;
    for (int i = 0; i < d; i++)
        q *= 10;
    if (__builtin_mul_overflow(m, u->num, &p))
        return PE_ERANGE;
    int64_t a = p < 0 ? -p : p;
    if (a > INT64_MAX - q / 2)
        return PE_ERANGE;
    int64_t g = (a + q / 2) / q;
    if (g > INT32_MAX)
        return PE_ERANGE;
    *out = (int32_t)(p < 0 ? -g : g);
    return PE_OK;
}

/* Digits with at most one decimal point at *p (at most 9 digits, 4 decimals): the value is
 * *m / 10^*d. Advances *p; PE_EPARSE when there is no number. */
static int number(const char **p, int64_t *m, int *d)
{
    const char *s = *p;
    int digits = 0, decimals = -1;
    *m = 0;
    for (;; s++) {
        if (*s >= '0' && *s <= '9') {
            if (++digits > 9)
                return PE_EPARSE;
            *m = *m * 10 + (*s - '0');
            if (decimals >= 0)
                decimals++;
        } else if (*s == '.' && decimals < 0) {
            decimals = 0;
        } else {
            break;
        }
    }
    if (digits == 0 || decimals > 4)
        return PE_EPARSE;
    *d = decimals < 0 ? 0 : decimals;
    *p = s;
    return PE_OK;
}

/* A unit name at *p, any case; advances *p. NULL when none is known. */
static const struct unit *unit_at(const char **p)
{
    static const struct unit *const units[] = {&KG, &LB, &OZ, &G};
    char name[4] = "";
    size_t n = 0;
    const char *s = *p;
    while (n < sizeof name - 1 && ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
        name[n++] = (char)(*s++ | 0x20);
    name[n] = '\0';
    if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))
        return NULL;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(name, units[i]->name) == 0) {
            *p = s;
            return units[i];
        }
    return NULL;
}

static const char *spaces(const char *s)
{
    while (*s == ' ')
        s++;
    return s;
}

/* The NCI weight text ("  1.234kg", "-0.5lb", " 1lb  2.5oz") in grams. PE_OK, PE_EPARSE (not
 * a weight), PE_ERANGE (does not fit). */
static int nci_weight(const char *text, int32_t *grams)
{
    const char *s = spaces(text);
    bool neg = *s == '-';
    if (*s == '-' || *s == '+')
        s = spaces(s + 1);
    int64_t m;
    int d;
    if (number(&s, &m, &d))
        return PE_EPARSE;
    s = spaces(s);
    const struct unit *u = unit_at(&s);
    if (!u)
        return PE_EPARSE;
    s = spaces(s);
    if (u == &LB && *s) { /* pounds and ounces: whole pounds, then ounces */
        int64_t oz, total;
        int od;
        if (d != 0 || number(&s, &oz, &od))
            return PE_EPARSE;
        s = spaces(s);
        if (unit_at(&s) != &OZ)
            return PE_EPARSE;
        s = spaces(s);
        int64_t scale = 16;
        for (int i = 0; i < od; i++)
            scale *= 10;
        if (__builtin_mul_overflow(m, scale, &total) || __builtin_add_overflow(total, oz, &total))
            return PE_ERANGE;
        m = total;
        d = od;
        u = &OZ;
    }
    if (*s)
        return PE_EPARSE;
    return to_grams(neg ? -m : m, d, u, grams);
}

/* ---- NCI frames ---- */

static bool status_byte(unsigned char b)
{
    return (b & 0x30) == 0x30 && b < 0x80;
}

/* "S" and two or three status bytes. */
static bool nci_status(const char *l, size_t n)
{
    if ((n != 3 && n != 4) || l[0] != 'S')
        return false;
    for (size_t i = 1; i < n; i++)
        if (!status_byte((unsigned char)l[i]))
            return false;
    return true;
}

/* What a status says before any weight: a fault, out of range, or nothing (PE_OK). */
static int nci_flags(const struct scale *s, const char *st)
{
    unsigned char s1 = (unsigned char)st[1], s2 = (unsigned char)st[2];
    if ((s1 & 0x0c) || (s2 & 0x0c)) {
        pe_error("hal.linux.scale.fault", "path=%s status=%s (RAM, EEPROM, ROM or calibration)",
                 s->path, st);
        return PE_EIO;
    }
    if (s2 & 0x03)
        return PE_ERANGE;
    return PE_OK;
}

/* A complete NCI frame: its first line l1 and, for a weight reply, its status line l2. */
static struct reply nci_frame(struct scale *s, bool two_lines)
{
    struct reply r = {.rc = NO_REPLY};
    if (!two_lines) {
        if (strcmp(s->l1, "?") == 0) {
            r.rc = PE_EPARSE;
        } else if (nci_status(s->l1, s->n1)) {
            r.rc = nci_flags(s, s->l1);
            if (r.rc == PE_OK) /* a status alone: in motion (no weight yet) or no news */
                r.rc = (s->l1[1] & 0x01) ? PE_EBUSY : NO_REPLY;
        }
        return r;
    }
    if (!nci_status(s->l2, s->n2))
        return r; /* not a reply: dropped */
    r.rc = nci_flags(s, s->l2);
    if (r.rc != PE_OK)
        return r;
    r.rc = nci_weight(s->l1, &r.w.grams);
    if (r.rc == PE_EPARSE)
        pe_warn("hal.linux.scale.unreadable", "path=%s weight=\"%s\"", s->path, s->l1);
    r.w.stable = !(s->l2[1] & 0x01);
    return r;
}

static void start(struct scale *s)
{
    s->st = LINE1;
    s->n1 = s->n2 = 0;
}

static bool printable(unsigned char b)
{
    return b >= 0x20 && b <= 0x7e;
}

/* Feed one byte of an NCI stream; true with *r when a frame ended. */
static bool nci_byte(struct scale *s, unsigned char b, struct reply *r)
{
    switch (s->st) {
    case HUNT:
        if (b == LF)
            start(s);
        return false;
    case LINE1:
        if (b == LF)
            start(s); /* the frame was cut off: a new one starts */
        else if (b == CR)
            s->st = CR1;
        else if (printable(b) && s->n1 < sizeof s->l1 - 1)
            s->l1[s->n1++] = (char)b;
        else
            s->st = HUNT;
        return false;
    case CR1:
        s->l1[s->n1] = '\0';
        if (b == LF) {
            s->st = LINE2;
            return false;
        }
        s->st = HUNT;
        if (b != ETX)
            return false;
        *r = nci_frame(s, false);
        return true;
    case LINE2:
        if (b == LF) {
            start(s);
        } else if (s->n2 == 0 && b != 'S') {
            /* Not a status line: the frame was cut off after its first line, and the LF just
             * taken started the next frame, of which b is the first byte. */
            start(s);
            return nci_byte(s, b, r);
        } else if (b == CR) {
            s->st = CR2;
        } else if (printable(b) && s->n2 < sizeof s->l2 - 1) {
            s->l2[s->n2++] = (char)b;
        } else {
            s->st = HUNT;
        }
        return false;
    case CR2:
        s->l2[s->n2] = '\0';
        if (b == LF) {
            start(s);
            return false;
        }
        s->st = HUNT;
        if (b != ETX)
            return false;
        *r = nci_frame(s, true);
        return true;
    }
    return false;
}

/* ---- 8213 frames ---- */

static struct reply frame_8213(struct scale *s)
{
    struct reply r = {.rc = PE_EPARSE};
    const char *b = s->l1;
    if (s->n1 == 5 && strspn(b, "0123456789") == 5) {
        int64_t m = 0;
        for (int i = 0; i < 5; i++)
            m = m * 10 + (b[i] - '0');
        r.rc = to_grams(m, 0, s->grams_8213 ? &G : &CLB, &r.w.grams);
        r.w.stable = true;
    } else if (b[0] == '?' && s->n1 <= 2) {
        unsigned char st = s->n1 == 2 ? (unsigned char)b[1] : 0;
        if (st & 0x0e) /* over capacity, under zero, zero error */
            r.rc = PE_ERANGE;
        else if (st & 0x01)
            r.rc = PE_EBUSY;
    } else {
        pe_warn("hal.linux.scale.unreadable", "path=%s reply=\"%s\"", s->path, b);
    }
    return r;
}

/* Feed one byte of an 8213 stream; true with *r when a frame ended. */
static bool byte_8213(struct scale *s, unsigned char b, struct reply *r)
{
    if (b == STX) { /* a frame start, even inside a frame that was cut off */
        start(s);
        return false;
    }
    if (s->st != LINE1)
        return false;
    if (b == CR) {
        s->l1[s->n1] = '\0';
        s->st = HUNT;
        *r = frame_8213(s);
        return true;
    }
    if (printable(b) && s->n1 < 8)
        s->l1[s->n1++] = (char)b;
    else
        s->st = HUNT;
    return false;
}

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
static void took(struct scale *s, const struct reply *r)
{
    if (s->silent)
        pe_info("hal.linux.scale.answers", "path=%s", s->path);
    s->silent = false;
    if (r->rc == NO_REPLY)
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
    s->st = HUNT;
    s->n1 = s->n2 = 0;
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
    struct reply last = {.rc = NO_REPLY};
    unsigned char buf[256];
    if (s->line.offline)
        return PE_EIO;
    for (;;) {
        ssize_t n = read(s->line.fd, buf, sizeof buf);
        if (n > 0) {
            for (ssize_t i = 0; i < n; i++) {
                struct reply r;
                bool done = s->proto == NCI ? nci_byte(s, buf[i], &r) : byte_8213(s, buf[i], &r);
                if (!done)
                    continue;
                took(s, &r);
                if (r.rc != NO_REPLY)
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
    if (last.rc != NO_REPLY)
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
    int rc = send_cmd(s, s->proto == NCI ? "W\r" : "W");
    if (rc)
        return rc;
    s->pending = true;
    s->asked_ms = pe_mono_ms();
    return PE_OK;
}

static int scale_zero(struct pe_scale *dev)
{
    struct scale *s = (struct scale *)dev;
    if (s->proto != NCI)
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
    int rc = lx_opt_check(options, keys, why, whylen);
    if (rc)
        return rc;
    rc = lx_opt_get(options, "protocol", v, sizeof v);
    if (rc == PE_ENOTFOUND || (rc == PE_OK && strcmp(v, "nci") == 0)) {
        s->proto = NCI;
    } else if (rc == PE_OK && strcmp(v, "8213") == 0) {
        s->proto = P8213;
    } else {
        snprintf(why, whylen, "option protocol: expected nci or 8213");
        return PE_EINVAL;
    }
    rc = lx_opt_get(options, "unit", v, sizeof v);
    if (rc != PE_ENOTFOUND) {
        if (s->proto != P8213 || rc != PE_OK || (strcmp(v, "lb") != 0 && strcmp(v, "g") != 0)) {
            snprintf(why, whylen, "option unit: lb or g, with protocol=8213 only");
            return PE_EINVAL;
        }
        s->grams_8213 = strcmp(v, "g") == 0;
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
