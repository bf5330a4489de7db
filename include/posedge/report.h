/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report.h - period totals (X and Z reports) and the printed form of events.
 *
 * A till keeps running totals for the current period as journal counters, updated in the same
 * transaction as the event that changes them. Names (the contract between the till and this
 * module): p.sales.count, p.sales.gross, p.sales.discount, p.returns.count, p.returns.amount,
 * p.voids.count, p.voids.amount, p.nosale.count, p.tender.<method>, p.tax.<bp>.gross,
 * p.tax.<bp>.tax, p.first_seq, p.x.count (reset by a Z report); z.number, g.sales, g.returns
 * (never reset). Rendering turns any committed event into the text a person reads on paper.
 */
#ifndef POSEDGE_REPORT_H
#define POSEDGE_REPORT_H

#include <cjson/cJSON.h>

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

struct pe_render_hdr {
    const char *title;     /* first line, e.g. the shop name */
    const char *store;     /* store id */
    const char *terminal;  /* terminal id */
    const char *operator_; /* operator id, may be "" */
    const char *type;      /* event type name */
    int64_t seq;           /* receipt number; 0 for an uncommitted preview (ctl report --x) */
    const char *id;        /* event id, may be NULL */
    int64_t ts_ms;         /* event time */
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
