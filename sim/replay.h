/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim/replay.h - PRIVATE header of the dataset replay (sim/replay*.c and the unit
 * tests): the CSV reader and the field parsers the two dataset layouts share.
 *
 * The reader takes a whole file in memory and hands out one record at a time, with the line
 * number where the record starts, so every refusal can say "FILE:LINE". It follows RFC 4180 as
 * the exporters of these datasets write it: fields separated by commas, optionally quoted with
 * '"' (a quoted field may hold commas, doubled quotes and line breaks), records ended by LF or
 * CRLF, an optional UTF-8 byte order mark before the header. A malformed record (an unclosed
 * quote, text after a closing quote) is refused on its own; reading goes on with the next
 * line, so one bad row never hides the rows after it.
 */
#ifndef POSEDGE_SIM_REPLAY_H
#define POSEDGE_SIM_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#define RP_CSV_MAX_FIELDS 32 /* fields a record may have; more is a bad record */

struct rp_csv {
    const char *path;                /* as given, for messages (borrowed) */
    char *text;                      /* the whole file, owned */
    size_t len;                      /* bytes in text */
    size_t pos;                      /* next byte to read */
    int line;                        /* line number of the byte at pos, 1-based */
    char *buf;                       /* the current record's unquoted fields, owned */
    size_t cap;                      /* bytes allocated in buf */
    char *fields[RP_CSV_MAX_FIELDS]; /* the current record's fields, pointing into buf */
};

/* Read path whole (at most max bytes) and skip a UTF-8 BOM. Errors: PE_EIO (message in err
 * naming the file), PE_ENOMEM. rp_csv_close frees it, also after an error. */
int rp_csv_open(struct rp_csv *c, const char *path, size_t max, char *err, size_t errlen);

/*
 * The next record: *nfields fields in c->fields (valid until the next call), *lineno the line
 * it starts on. Blank lines are skipped. Returns PE_OK; PE_EEOF at the end; PE_EPARSE for a
 * malformed record, with why (whylen bytes) saying what is wrong and *lineno set - the next
 * call continues after the bad record's first line; PE_ENOMEM.
 */
int rp_csv_next(struct rp_csv *c, int *nfields, int *lineno, char *why, size_t whylen);

/* Free what rp_csv_open allocated; safe on a zeroed or closed reader. */
void rp_csv_close(struct rp_csv *c);

/*
 * A decimal in major units ("2.55", "-0.5", "1,234.50" is refused) to integer minor units with
 * `digits` decimals (2 for pounds and pence), exactly, without floating point. Digits beyond
 * `digits` are allowed only when they are zeros ("2.550"). Returns PE_OK, PE_EPARSE (not a
 * plain decimal), PE_ERANGE (more precision than the currency has, or above 10^12 units).
 */
int rp_decimal_minor(const char *s, int digits, int64_t *out);

/* A plain integer ("12", "-3", "+4"); PE_EPARSE otherwise, PE_ERANGE beyond +-10^15. */
int rp_int(const char *s, int64_t *out);

/*
 * A timestamp to UTC ms. Accepted: "M/d/yyyy H:mm" (Online Retail, "12/1/2010 8:26", also
 * with ":ss"), "dd-MM-yyyy HH:mm:ss" (also without seconds), and ISO "yyyy-MM-dd HH:mm:ss" or
 * "yyyy-MM-ddTHH:mm:ss" with optional ".fff" and "Z" (also without seconds). Times without a
 * zone are taken as UTC. Returns PE_OK or PE_EPARSE.
 */
int rp_datetime(const char *s, int64_t *out_ms);

/* Remove leading and trailing blanks in place; returns s. */
char *rp_trim(char *s);

#endif
