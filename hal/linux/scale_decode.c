/* SPDX-License-Identifier: Apache-2.0 */
/*
 * scale_decode.c - NCI and 8213 scale replies to weights (see scale_decode.h; the protocols as
 * read here are described at the top of linux_scale.c).
 *
 * Weights are converted to grams with integer arithmetic only (exact factors, rounded half away
 * from zero), never through floating point; a weight that does not fit is PE_ERANGE.
 */
#include "hal/linux/scale_decode.h"

#include <stdint.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/log.h"

#define LF 0x0a
#define CR 0x0d
#define STX 0x02
#define ETX 0x03

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
static int nci_flags(const struct lx_scale_dec *s, const char *st)
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
static struct lx_scale_reply nci_frame(struct lx_scale_dec *s, bool two_lines)
{
    struct lx_scale_reply r = {.rc = LX_SCALE_NO_REPLY};
    if (!two_lines) {
        if (strcmp(s->l1, "?") == 0) {
            r.rc = PE_EPARSE;
        } else if (nci_status(s->l1, s->n1)) {
            r.rc = nci_flags(s, s->l1);
            if (r.rc == PE_OK) /* a status alone: in motion (no weight yet) or no news */
                r.rc = (s->l1[1] & 0x01) ? PE_EBUSY : LX_SCALE_NO_REPLY;
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

static void start(struct lx_scale_dec *s)
{
    s->st = LX_SCALE_LINE1;
    s->n1 = s->n2 = 0;
}

static bool printable(unsigned char b)
{
    return b >= 0x20 && b <= 0x7e;
}

/* Feed one byte of an NCI stream; true with *r when a frame ended. */
static bool nci_byte(struct lx_scale_dec *s, unsigned char b, struct lx_scale_reply *r)
{
    switch (s->st) {
    case LX_SCALE_HUNT:
        if (b == LF)
            start(s);
        return false;
    case LX_SCALE_LINE1:
        if (b == LF)
            start(s); /* the frame was cut off: a new one starts */
        else if (b == CR)
            s->st = LX_SCALE_CR1;
        else if (printable(b) && s->n1 < sizeof s->l1 - 1)
            s->l1[s->n1++] = (char)b;
        else
            s->st = LX_SCALE_HUNT;
        return false;
    case LX_SCALE_CR1:
        s->l1[s->n1] = '\0';
        if (b == LF) {
            s->st = LX_SCALE_LINE2;
            return false;
        }
        s->st = LX_SCALE_HUNT;
        if (b != ETX)
            return false;
        *r = nci_frame(s, false);
        return true;
    case LX_SCALE_LINE2:
        if (b == LF) {
            start(s);
        } else if (s->n2 == 0 && b != 'S') {
            /* Not a status line: the frame was cut off after its first line, and the LF just
             * taken started the next frame, of which b is the first byte. */
            start(s);
            return nci_byte(s, b, r);
        } else if (b == CR) {
            s->st = LX_SCALE_CR2;
        } else if (printable(b) && s->n2 < sizeof s->l2 - 1) {
            s->l2[s->n2++] = (char)b;
        } else {
            s->st = LX_SCALE_HUNT;
        }
        return false;
    case LX_SCALE_CR2:
        s->l2[s->n2] = '\0';
        if (b == LF) {
            start(s);
            return false;
        }
        s->st = LX_SCALE_HUNT;
        if (b != ETX)
            return false;
        *r = nci_frame(s, true);
        return true;
    }
    return false;
}

/* ---- 8213 frames ---- */

static struct lx_scale_reply frame_8213(struct lx_scale_dec *s)
{
    struct lx_scale_reply r = {.rc = PE_EPARSE};
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
static bool byte_8213(struct lx_scale_dec *s, unsigned char b, struct lx_scale_reply *r)
{
    if (b == STX) { /* a frame start, even inside a frame that was cut off */
        start(s);
        return false;
    }
    if (s->st != LX_SCALE_LINE1)
        return false;
    if (b == CR) {
        s->l1[s->n1] = '\0';
        s->st = LX_SCALE_HUNT;
        *r = frame_8213(s);
        return true;
    }
    if (printable(b) && s->n1 < 8)
        s->l1[s->n1++] = (char)b;
    else
        s->st = LX_SCALE_HUNT;
    return false;
}

/* ---- the decoder ---- */

void lx_scale_dec_init(struct lx_scale_dec *d, enum lx_scale_proto proto, bool grams_8213,
                       const char *path)
{
    memset(d, 0, sizeof *d);
    d->proto = proto;
    d->grams_8213 = grams_8213;
    d->path = path;
    d->st = LX_SCALE_HUNT;
}

void lx_scale_dec_reset(struct lx_scale_dec *d)
{
    d->st = LX_SCALE_HUNT;
    d->n1 = d->n2 = 0;
}

bool lx_scale_feed(struct lx_scale_dec *d, unsigned char b, struct lx_scale_reply *r)
{
    return d->proto == LX_SCALE_NCI ? nci_byte(d, b, r) : byte_8213(d, b, r);
}
