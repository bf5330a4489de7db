/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report.h - period totals (X and Z reports) and the printed form of events.
 *
 * A till keeps running totals for the current period as journal counters, updated in the same
 * transaction as the event that changes them. Names (the contract between the till and this
 * module): p.sales.count, p.sales.gross, p.sales.discount, p.returns.count, p.returns.amount,
 * p.voids.count, p.voids.amount, p.nosale.count, p.tender.<method>, p.tax.<bp>.gross,
 * p.tax.<bp>.tax, p.first_seq, p.x.count, p.training.count (reset by a Z report); z.number,
 * g.sales, g.returns (never reset). Rendering turns any committed event into the text a person
 * reads on paper.
 *
 * Totals and closings (store/totals.c):
 *   - The perpetual total of a terminal is the running sum of its turnover that never resets:
 *     every sale adds its totals.total, every return subtracts its totals.total, a void adds 0
 *     (it cancels a basket that was never committed, so nothing it held was ever counted), and
 *     a training record ("training":true in its body) adds 0. It is g.sales - g.returns, in the
 *     till's one currency, and every sale, return and void carries it as "perpetual_total": the
 *     total including that record. The X and Z reports carry it as "grand_total".
 *   - A month_close (year_close) sums the Z reports of a month (year) from the counters the
 *     ledger keeps at each Z: m.* (y.*) = m.first_seq, m.last_seq (the month's last Z),
 *     m.z.count, m.sales.count, m.sales.gross, m.returns.count, m.returns.amount, m.voids.count,
 *     m.voids.amount, m.perpetual (the Z's grand_total); reset by the closing. Their numbers
 *     are close.month.number and close.year.number (never reset). A Z report belongs to the UTC
 *     month of its own time.
 *   - pe_totals_verify recomputes all of it from the records alone.
 */
#ifndef POSEDGE_REPORT_H
#define POSEDGE_REPORT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "posedge/event.h"
#include "posedge/journal.h"
#include "posedge/receipt.h"
#include "posedge/signer.h"

/*
 * Build the body of an X or Z report from the journal's counters as they stand (inside or
 * outside a transaction). number is the report number to record (the Z counter, or the X
 * count); last_seq the last event the report covers. *body is owned by the caller.
 * Errors: PE_EIO, PE_ENOMEM.
 */
int pe_report_totals(struct pe_journal *j, const char *currency, int64_t number, int64_t last_seq,
                     cJSON **body);

/* ---- perpetual total, training, closings (store/totals.c) ---- */

/* True when body says "training":true (a record made in training mode). */
bool pe_totals_training(const cJSON *body);

/* What a record of type with body adds to the perpetual total (see above): a sale's
 * totals.total, minus a return's, 0 for anything else and for training records. */
int64_t pe_totals_delta(enum pe_event_type type, const cJSON *body);

/* The perpetual total as the journal's counters stand (inside or outside a transaction).
 * Errors: PE_EIO. */
int pe_totals_perpetual(struct pe_journal *j, int64_t *out);

/* The closing period of a time: "YYYY-MM" (month_close) or "YYYY" (year_close) into out. */
void pe_totals_period(enum pe_event_type type, int64_t ts_ms, char out[8]);

/*
 * Build the body of a month_close or year_close (type) of period ("2026-11", "2026") from the
 * m.* or y.* counters as they stand; number is the closing's number. *body is the caller's.
 * Errors: PE_EINVAL (another type, or nothing to close: no Z report since the last closing),
 * PE_EIO, PE_ENOMEM.
 */
int pe_report_closing(struct pe_journal *j, enum pe_event_type type, const char *period,
                      const char *currency, int64_t number, cJSON **body);

struct pe_totals_result {
    int64_t perpetual;        /* the perpetual total after the last record */
    int64_t carried;          /* sales, returns and voids that carry perpetual_total */
    int64_t training;         /* training records (kept out of every total) */
    int64_t months, years;    /* month_close and year_close records recomputed */
    int64_t bad_seq;          /* the first record whose figures are wrong (0: none) */
    char why[160];            /* what is wrong with it */
    int64_t before_anchor;    /* closings of a pruned journal whose period began before its
                                 anchor: not recomputed (their Z reports are archived) */
};

/*
 * Recompute every figure the till derived from earlier records, from the records alone, in
 * seq order: each sale's, return's and void's perpetual_total (once the journal has one, every
 * later one must), the grand_total of X and Z reports, and each month_close and year_close
 * (its period and seq range, its Z reports, counts, amounts and perpetual total). Run it on a
 * journal whose chain pe_journal_verify found intact. Errors: PE_ECHAIN (res->bad_seq and
 * res->why name the record), PE_EIO, PE_ENOMEM. A pruned journal is walked from its anchor:
 * the perpetual total goes on from the anchor's, and a closing whose period began at or before
 * the anchor is counted in before_anchor instead of recomputed.
 */
int pe_totals_verify(struct pe_journal *j, struct pe_totals_result *res);

struct pe_render_hdr {
    const char *title;     /* first line, e.g. the shop name */
    const char *store;     /* store id */
    const char *terminal;  /* terminal id */
    const char *operator_; /* operator id, may be "" */
    const char *type;      /* event type name */
    int64_t seq;           /* receipt number; 0 for an uncommitted preview (ctl report --x) */
    const char *id;        /* event id, may be NULL */
    int64_t ts_ms;         /* event time */
    bool signer_down;      /* committed unsigned in a signer outage: the receipt says so */
};

/*
 * Render an event as printable text of at most PE_RECEIPT_COLS columns per line; *text is
 * malloc'd (caller frees). Every document of a committed event ends with the line
 * "Receipt <store>/<terminal> #<seq>" and then "ID <uuid>", which is how receipts are matched
 * to journal records. Errors: PE_EINVAL (unknown type or malformed body), PE_ENOMEM.
 */
int pe_render_event(const struct pe_render_hdr *h, const cJSON *body, char **text);

/* Render a parsed stored record (as returned by pe_event_verify's rec_out). */
int pe_render_record(const cJSON *rec, const char *title, char **text);

/* The header of a parsed stored record, its strings borrowed from rec. Errors: PE_EINVAL (no
 * seq or ts). */
int pe_render_record_hdr(const cJSON *rec, const char *title, struct pe_render_hdr *h);

/*
 * The QR code payload of a committed event's receipt (docs/protocol.md, "Receipt QR code"):
 *
 *   posedge-qr/1|store|terminal|seq|id|ts_ms|type|total|currency|hash|key_id|counter|signed_ms|sig
 *
 * made in two steps. pe_render_qr writes the signed part, everything before "|sig", into out
 * (NUL-terminated; *len its length), from the header h (seq >= 1, id set), the event's body
 * (total and currency, for a sale, return or void; else both empty), its hash (64 hex digits)
 * and its journal signature sig (NULL: an unsigned event, key_id, counter and signed_ms empty).
 * The caller signs those *len bytes (pe_signer_sign_receipt), and pe_render_qr_seal appends
 * '|' and the signature rs as base64url without padding (rs NULL: an unsigned receipt, the
 * field empty). A payload always fits PE_RECEIPT_QR_MAX.
 * Errors: PE_EINVAL (no seq, id or hash, a field holding '|' or a byte outside printable
 * ASCII, an unknown type, fields too long; seal: out is not what pe_render_qr made).
 */
int pe_render_qr(const struct pe_render_hdr *h, const cJSON *body, const char *hash,
                 const struct pe_signature *sig, char out[PE_RECEIPT_QR_MAX], size_t *len);
int pe_render_qr_seal(char out[PE_RECEIPT_QR_MAX], size_t *len,
                      const uint8_t rs[PE_SIGNER_SIG_LEN]);

#endif
