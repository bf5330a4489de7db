/* SPDX-License-Identifier: Apache-2.0 */
/*
 * event.h - the v1 event record: sealing into canonical bytes and verifying a chain.
 *
 * A record is the canonical JSON (json.h) of
 *   {"body":{...},"hash":H,"id":U,"operator":O,"prev":P,"seq":N,"store":S,"terminal":T,
 *    "ts":"...Z","type":Y,"v":1}
 * where H = hex(SHA-256(P || canonical bytes of the same object without "hash")) and P is the
 * previous record's H (or the genesis value of the terminal for seq 1). The stored bytes are the
 * canonical bytes themselves, so changing any byte of a stored record is detected: either the
 * text stops being canonical JSON, or the hash no longer matches, or the next record's prev does
 * not. An ECDSA signature over H (signer.h) is stored beside the record, not inside the
 * hashed bytes.
 */
#ifndef POSEDGE_EVENT_H
#define POSEDGE_EVENT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posedge/crypto.h"

#define PE_EVENT_VERSION 1
#define PE_ID_MAX 33   /* store, terminal and operator ids: 1..32 characters and NUL */
#define PE_TYPE_MAX 24 /* event type names and NUL */

/* Event types of v1: X(name, type string, fiscal, default Kafka topic). The string forms are
 * the "type" values; the topic is where the bridge's native profile and posedge-ctl reconcile
 * put the type unless topics.<type> says otherwise. catalog_applied (a till put a new catalog
 * version in force) is fiscal: it is the audit trail of which prices were in force.
 * signer_installed (a signing key put in use, signer.h) is fiscal too: without it no signature
 * of its group can be verified, so it is kept and delivered like the records it vouches for.
 * signer_down and signer_up (an outage of the signer and the collective signature that covers
 * it, signer.h) are fiscal for the same reason: they make the unsigned records verifiable.
 * month_close and year_close (report.h) are the closings of a month's and a year's Z reports,
 * committed by the till before the first Z report of the next month or year. */
#define PE_EVENT_TYPES(X)                                                                          \
    X(SALE, "sale", 1, "pos.sales")                                                                \
    X(RETURN, "return", 1, "pos.sales")                                                            \
    X(VOID, "void", 1, "pos.sales")                                                                \
    X(NO_SALE, "no_sale", 1, "pos.sales")                                                          \
    X(INVENTORY_RECEIPT, "inventory_receipt", 0, "pos.inventory")                                  \
    X(INVENTORY_ADJUST, "inventory_adjust", 0, "pos.inventory")                                    \
    X(INVENTORY_COUNT, "inventory_count", 0, "pos.inventory")                                      \
    X(SHIFT_OPEN, "shift_open", 1, "pos.reports")                                                  \
    X(SHIFT_CLOSE, "shift_close", 1, "pos.reports")                                                \
    X(X_REPORT, "x_report", 1, "pos.reports")                                                      \
    X(Z_REPORT, "z_report", 1, "pos.reports")                                                      \
    X(CATALOG_APPLIED, "catalog_applied", 1, "pos.reports")                                        \
    X(SIGNER_INSTALLED, "signer_installed", 1, "pos.reports")                                      \
    X(SIGNER_DOWN, "signer_down", 1, "pos.reports")                                                \
    X(SIGNER_UP, "signer_up", 1, "pos.reports")                                                    \
    X(MONTH_CLOSE, "month_close", 1, "pos.reports")                                                \
    X(YEAR_CLOSE, "year_close", 1, "pos.reports")

enum pe_event_type {
#define PE__EV_ENUM(name, str, fiscal, topic) PE_EV_##name,
    PE_EVENT_TYPES(PE__EV_ENUM)
#undef PE__EV_ENUM
        PE_EV__COUNT
};

/* A set of event types as a bit mask: PE_EV_BIT(PE_EV_SALE) | PE_EV_BIT(PE_EV_RETURN). */
#define PE_EV_BIT(t) (UINT64_C(1) << (t))
#define PE_EV_ALL (PE_EV_BIT(PE_EV__COUNT) - 1)
_Static_assert(PE_EV__COUNT < 64, "event type sets are 64-bit masks");

/* "sale" etc.; NULL for an out-of-range value. */
const char *pe_event_type_name(enum pe_event_type t);

/* Look up a type name. Returns PE_OK or PE_ENOTFOUND. */
int pe_event_type_parse(const char *s, enum pe_event_type *out);

/* True for fiscal types (never evicted, never pruned before delivery and retention). */
int pe_event_type_is_fiscal(enum pe_event_type t);

/* The type's default Kafka topic ("pos.sales" ...); NULL for an out-of-range value. */
const char *pe_event_type_topic(enum pe_event_type t);

/* Header fields of an event; everything except body, prev and hash. */
struct pe_event_meta {
    int64_t seq;               /* gapless per terminal, from 1 */
    char id[PE_UUID_STRLEN];   /* UUID drawn at capture */
    char store[PE_ID_MAX];     /* store id */
    char terminal[PE_ID_MAX];  /* terminal id */
    char operator_[PE_ID_MAX]; /* operator id ("" when none is logged in) */
    enum pe_event_type type;   /* event type */
    int64_t ts_ms;             /* event time, UTC ms since epoch, from the terminal clock */
};

/* True when s is an id of min..PE_ID_MAX-1 characters, all letters, digits, '.', '_' or '-'
 * (store, terminal and operator ids). */
bool pe_event_id_valid(const char *s, size_t min);

/* Genesis chain value for a terminal: hex(SHA-256("posedge/v1/genesis/" store "/" terminal)). */
void pe_event_genesis(const char *store, const char *terminal, char out[PE_SHA256_HEXLEN]);

/*
 * Build and seal a record. body is borrowed (copied into the record). On success *out is the
 * malloc'd canonical record (caller frees), *len its length, and hash_out its hash.
 * Errors: PE_EINVAL (bad meta field or a body that cannot be canonical), PE_ENOMEM.
 */
int pe_event_seal(const struct pe_event_meta *m, const cJSON *body, const char *prev_hex,
                  char **out, size_t *len, char hash_out[PE_SHA256_HEXLEN]);

/*
 * Verify one stored record: it parses, is canonical byte for byte, has every v1 field with the
 * right type, and its hash matches. When expect_prev is not NULL its prev must equal it; when
 * expect_seq > 0 its seq must equal it. On success meta (may be NULL) and hash_out are filled
 * and, if rec_out is not NULL, *rec_out is the parsed record (caller cJSON_Delete()s; the
 * body is its "body" member). On failure why gets a reason such as "hash mismatch".
 * Errors: PE_EPARSE (not JSON), PE_EINVAL (not canonical, missing/mistyped field),
 * PE_ECHAIN (prev, seq or hash wrong), PE_ENOMEM.
 */
int pe_event_verify(const char *rec, size_t len, int64_t expect_seq, const char *expect_prev,
                    struct pe_event_meta *meta, char hash_out[PE_SHA256_HEXLEN], cJSON **rec_out,
                    char *why, size_t whylen);

#endif
