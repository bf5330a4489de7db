/* SPDX-License-Identifier: Apache-2.0 */
/*
 * replay_csv.c - the CSV reader and the field parsers of the dataset replay (replay.h).
 *
 * Records are unquoted into a buffer of their own, so the file text is never changed and a
 * bad record can be skipped by resuming at the line after the one it started on. Money is
 * parsed from its decimal string into integer minor units digit by digit: no value ever goes
 * through a double, so "0.29" is 29 pence on every machine.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/file.h"
#include "sim/replay.h"

#define DECIMAL_MAX_UNITS 1000000000000LL /* 10^12 major units: refused above */
#define INT_MAX_ABS 1000000000000000LL    /* 10^15 */

int rp_csv_open(struct rp_csv *c, const char *path, size_t max, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    c->path = path;
    c->line = 1;
    int rc = pe_file_read(path, max, &c->text, &c->len, err, errlen);
    if (rc)
        return rc;
    if (c->len >= 3 && memcmp(c->text, "\xEF\xBB\xBF", 3) == 0)
        c->pos = 3;
    return PE_OK;
}

void rp_csv_close(struct rp_csv *c)
{
    free(c->text);
    free(c->buf);
    c->text = NULL;
    c->buf = NULL;
    c->cap = 0;
}

/* Skip to the byte after the next line break (or to the end). */
static void skip_line(struct rp_csv *c)
{
    while (c->pos < c->len && c->text[c->pos] != '\n')
        c->pos++;
    if (c->pos < c->len) {
        c->pos++;
        c->line++;
    }
}

int rp_csv_next(struct rp_csv *c, int *nfields, int *lineno, char *why, size_t whylen)
{
    /* Skip blank lines (an empty line, or one holding only a CR). */
    for (;;) {
        if (c->pos >= c->len)
            return PE_EEOF;
        size_t p = c->pos;
        if (c->text[p] == '\r' && p + 1 < c->len && c->text[p + 1] == '\n')
            p++;
        if (c->text[p] != '\n')
            break;
        c->pos = p + 1;
        c->line++;
    }
    /* Unquoting never makes a record longer, and the record is at most the rest of the file. */
    size_t need = c->len - c->pos + 1;
    if (need > c->cap) {
        char *n = realloc(c->buf, need);
        if (!n)
            return PE_ENOMEM;
        c->buf = n;
        c->cap = need;
    }
    const size_t start = c->pos;
    const int start_line = c->line;
    *lineno = start_line;
    size_t o = 0;
    int nf = 0;
    c->fields[nf++] = c->buf;
    size_t p = c->pos;
    int line = c->line;
    for (;;) {
        /* At the start of a field. */
        if (p < c->len && c->text[p] == '"') {
            p++;
            for (;;) {
                if (p >= c->len) {
                    snprintf(why, whylen, "unclosed quoted field");
                    goto bad;
                }
                char ch = c->text[p++];
                if (ch == '"') {
                    if (p < c->len && c->text[p] == '"') {
                        c->buf[o++] = '"';
                        p++;
                        continue;
                    }
                    break;
                }
                if (ch == '\n')
                    line++;
                c->buf[o++] = ch;
            }
            /* After the closing quote: a separator or the end of the record. */
            if (p < c->len && c->text[p] == '\r' && p + 1 < c->len && c->text[p + 1] == '\n')
                p++;
            if (p < c->len && c->text[p] != ',' && c->text[p] != '\n') {
                snprintf(why, whylen, "text after a closing quote");
                goto bad;
            }
        } else {
            while (p < c->len && c->text[p] != ',' && c->text[p] != '\n') {
                if (c->text[p] == '"') {
                    snprintf(why, whylen, "a quote inside an unquoted field");
                    goto bad;
                }
                c->buf[o++] = c->text[p++];
            }
            if (o > 0 && c->buf[o - 1] == '\r' && (p >= c->len || c->text[p] == '\n'))
                o--; /* the CR of a CRLF */
        }
        c->buf[o++] = '\0';
        if (p < c->len && c->text[p] == ',') {
            p++;
            if (nf == RP_CSV_MAX_FIELDS) {
                snprintf(why, whylen, "more than %d fields", RP_CSV_MAX_FIELDS);
                goto bad;
            }
            c->fields[nf++] = c->buf + o;
            continue;
        }
        break; /* a line break or the end of the file */
    }
    if (p < c->len) {
        p++; /* the LF */
        line++;
    }
    c->pos = p;
    c->line = line;
    *nfields = nf;
    return PE_OK;
bad:
    c->pos = start;
    c->line = start_line;
    skip_line(c);
    return PE_EPARSE;
}

char *rp_trim(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    size_t k = strspn(s, " \t\r\n");
    if (k)
        memmove(s, s + k, n - k + 1);
    return s;
}

int rp_int(const char *s, int64_t *out)
{
    bool neg = false;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    if (!*s)
        return PE_EPARSE;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return PE_EPARSE;
        v = v * 10 + (*s - '0');
        if (v > INT_MAX_ABS)
            return PE_ERANGE;
    }
    *out = neg ? -v : v;
    return PE_OK;
}

int rp_decimal_minor(const char *s, int digits, int64_t *out)
{
    bool neg = false;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    int64_t units = 0, frac = 0;
    int nint = 0, nfrac = 0;
    for (; *s >= '0' && *s <= '9'; s++, nint++) {
        units = units * 10 + (*s - '0');
        if (units > DECIMAL_MAX_UNITS)
            return PE_ERANGE;
    }
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++, nfrac++) {
            if (nfrac < digits)
                frac = frac * 10 + (*s - '0');
            else if (*s != '0')
                return PE_ERANGE; /* a fraction of the minor unit */
        }
    }
    if (*s || (nint == 0 && nfrac == 0))
        return PE_EPARSE;
    for (int i = nfrac; i < digits; i++)
        frac *= 10;
    int64_t scale = 1;
    for (int i = 0; i < digits; i++)
        scale *= 10;
    int64_t v = units * scale + frac;
    *out = neg ? -v : v;
    return PE_OK;
}

/* Up to maxd digits at *s (at least one) into *v; advances *s. */
static bool num(const char **s, int maxd, int *v)
{
    int n = 0, x = 0;
    while (n < maxd && **s >= '0' && **s <= '9') {
        x = x * 10 + (**s - '0');
        (*s)++;
        n++;
    }
    *v = x;
    return n > 0;
}

static bool lit(const char **s, char ch)
{
    if (**s != ch)
        return false;
    (*s)++;
    return true;
}

int rp_datetime(const char *s, int64_t *out_ms)
{
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, ms = 0;
    const char *p = s;
    size_t lead = strspn(s, "0123456789");
    if (lead == 4) { /* ISO: yyyy-MM-dd[ T]HH:mm[:ss[.fff]][Z] */
        if (!num(&p, 4, &y) || !lit(&p, '-') || !num(&p, 2, &mo) || !lit(&p, '-') ||
            !num(&p, 2, &d) || !(lit(&p, ' ') || lit(&p, 'T')))
            return PE_EPARSE;
    } else if (s[lead] == '/') { /* M/d/yyyy H:mm[:ss] */
        if (!num(&p, 2, &mo) || !lit(&p, '/') || !num(&p, 2, &d) || !lit(&p, '/') ||
            !num(&p, 4, &y) || !lit(&p, ' '))
            return PE_EPARSE;
    } else if (s[lead] == '-' && lead == 2) { /* dd-MM-yyyy HH:mm[:ss] */
        if (!num(&p, 2, &d) || !lit(&p, '-') || !num(&p, 2, &mo) || !lit(&p, '-') ||
            !num(&p, 4, &y) || !lit(&p, ' '))
            return PE_EPARSE;
    } else {
        return PE_EPARSE;
    }
    if (y < 1970 || y > 9999 || !num(&p, 2, &h) || !lit(&p, ':') || !num(&p, 2, &mi))
        return PE_EPARSE;
    if (lit(&p, ':')) {
        if (!num(&p, 2, &sec))
            return PE_EPARSE;
        if (lit(&p, '.')) {
            int nd = 0;
            for (; *p >= '0' && *p <= '9'; p++, nd++)
                if (nd < 3)
                    ms = ms * 10 + (*p - '0');
            if (nd == 0)
                return PE_EPARSE;
            for (int i = nd; i < 3; i++)
                ms *= 10;
        }
    }
    lit(&p, 'Z');
    if (*p)
        return PE_EPARSE;
    /* Let the clock module check the calendar and do the arithmetic. */
    char iso[40];
    snprintf(iso, sizeof iso, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, mo, d, h, mi, sec, ms);
    return pe_time_parse(iso, out_ms) ? PE_EPARSE : PE_OK;
}
