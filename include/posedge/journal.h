/* SPDX-License-Identifier: Apache-2.0 */
/*
 * journal.h - the till's durable journal: a hash-chained event log in SQLite.
 *
 * The journal is one SQLite file in WAL mode with synchronous=FULL. Every change a till makes
 * for one event (the event row, stock movements, report counters, returnable sale lines)
 * happens between pe_journal_begin and pe_journal_commit, so it is durable as a whole or not
 * at all; the till reports success (prints, opens the drawer) only after the commit returns.
 * seq is gapless from 1; each record's prev is the previous record's hash (event.h). Nothing
 * in the events table is ever updated or deleted by this API.
 *
 * Signing: with a signer taken (pe_journal_set_signer) every appended event is signed in its own
 * transaction, and the signature (signer.h) is stored in the row's sig column; since the
 * counter is in the row, a transaction that ends without a commit takes its counter back with
 * it. pe_journal_verify checks the signatures and counters besides the chain. When the signer
 * is down, events are stored unsigned and marked inside an outage that signer_down opens and a
 * signed signer_up (the collective over the outage's records) closes (signer.h).
 *
 * Tables: meta (schema version, store, terminal), events (seq, id, type, ts_ms, record, hash,
 * sig: the signature's JSON or NULL), stock (item, qty), counters (name, value), sale_lines
 * (returnable quantities), parked (a basket parked at shutdown), uplink (reserved for the
 * bridge watermarks), and the applied catalog: catalog_items (id, doc), catalog_barcodes
 * (barcode, item), catalog_promotions (id, doc), catalog_state (version, hash, counts, when
 * applied, currency) and catalog_stage (the chunks of a transfer still being received). Schema
 * version 2; a journal of version 1 gains the catalog tables when it is opened for writing.
 */
#ifndef POSEDGE_JOURNAL_H
#define POSEDGE_JOURNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posedge/catalog.h"
#include "posedge/event.h"
#include "posedge/signer.h"

struct pe_journal;

struct pe_journal_opts {
    const char *store;    /* must match the journal's store; NULL: take it from the file */
    const char *terminal; /* likewise */
    bool readonly;        /* open without creating or writing anything */
    bool check;           /* run PRAGMA quick_check and verify the chain tail on open */
    const char *vfs;      /* SQLite VFS name, NULL for the default (tests inject faults) */
    int64_t max_bytes;    /* size quota of the file (PRAGMA max_page_count); 0: no quota.
                           * When it is reached commits fail with PE_EFULL, nothing is evicted. */
};

/*
 * Open (and, unless readonly, create) the journal at path. On error err names the file and
 * what is wrong; for a damaged journal it also names the recovery command. A damaged journal
 * is never replaced or repaired here.
 * Errors: PE_EIO (cannot open/create), PE_ECORRUPT (not a journal, quick_check failed, chain
 * tail broken), PE_EINVAL (belongs to another store/terminal, newer schema), PE_ENOMEM.
 */
int pe_journal_open(const char *path, const struct pe_journal_opts *opts, struct pe_journal **out,
                    char *err, size_t errlen);

/* Close; pe_journal_close(NULL) is a no-op. An open transaction is rolled back. */
void pe_journal_close(struct pe_journal *j);

const char *pe_journal_store(const struct pe_journal *j);
const char *pe_journal_terminal(const struct pe_journal *j);

/* Start one event's transaction (BEGIN IMMEDIATE). Errors: PE_ESTATE (already in one),
 * PE_EBUSY, PE_EIO. */
int pe_journal_begin(struct pe_journal *j);

/* Make the transaction durable. On failure the transaction is rolled back and the journal is
 * as before begin. Errors: PE_EFULL (disk or quota full), PE_EIO, PE_ESTATE (none open). */
int pe_journal_commit(struct pe_journal *j);

/* Abandon the open transaction; a no-op when none is open. */
void pe_journal_rollback(struct pe_journal *j);

struct pe_journal_appended {
    int64_t seq;                 /* the seq given to the event */
    char hash[PE_SHA256_HEXLEN]; /* its hash */
    bool marked;                 /* stored unsigned in an outage of the signer (signer.h) */
    bool is_signed;              /* sig holds its signature (a receipt's QR code names it) */
    struct pe_signature sig;     /* valid when is_signed; not set for PE_EEXIST */
};

/*
 * Append one event inside the open transaction. m->seq is ignored (the next seq is used) and
 * m->store / m->terminal must match the journal. body is borrowed.
 *
 * The signer (pe_journal_set_signer) signs it, except inside an outage of the signer
 * (signer.h): a signer_down event opens one, and from there every event is stored unsigned and
 * marked (out->marked) until a signer_up whose body is pe_journal_collective's closes it,
 * signed. When sign answers a signer-down error (pe_signer_is_down) nothing is stored and
 * append returns PE_EUNAVAIL: the caller appends signer_down (in a transaction of its own) and
 * then the event again; for a signer_up it means the signer is still down.
 *
 * Errors: PE_ESTATE (no transaction; an event signed by a key the journal does not hold; a
 * signer_down with no signer or inside an outage; a signer_up outside one or by another key; a
 * signer_installed inside one), PE_EUNAVAIL (the signer is down), PE_EEXIST (an event with this
 * id is already committed: out->seq tells which), PE_EINVAL (also: a signer_up body that is not
 * the outage's collective), PE_EFULL, PE_EIO, PE_ENOMEM, the signer's sign errors.
 */
int pe_journal_append(struct pe_journal *j, const struct pe_event_meta *m, const cJSON *body,
                      struct pe_journal_appended *out);

/*
 * Append an already-sealed record (a copy of this terminal's journal, e.g. by posedge-ctl
 * recover) inside the open transaction. Its bytes are stored unchanged after pe_event_verify
 * confirms it is canonical, complete and chains onto the current last record.
 * Errors: PE_ESTATE, PE_EPARSE, PE_EINVAL (not canonical, another store/terminal), PE_ECHAIN
 * (wrong seq, prev or hash), PE_EFULL, PE_EIO. out may be NULL.
 */
int pe_journal_import(struct pe_journal *j, const char *rec, size_t len,
                      struct pe_journal_appended *out);

/* pe_journal_import with the record's signature as its sig column held it (sig NULL: none).
 * The signature is stored as given, after it decodes (pe_signature_decode, or an outage's mark:
 * pe_signature_mark_decode); pe_journal_verify checks it. Errors: those of pe_journal_import,
 * and PE_EPARSE (a sig that does not decode). */
int pe_journal_import_signed(struct pe_journal *j, const char *rec, size_t len, const void *sig,
                             size_t siglen, struct pe_journal_appended *out);

/* ---- signing (signer.h) ---- */

/* Where signing stands at the journal's last committed record: the group of the last signed
 * record or signer_installed event. */
struct pe_journal_signing {
    char alg[PE_SIGNER_ALG_MAX];       /* "ES256"; "none" (turned off by a signer_installed);
                                        * "" when nothing was ever signed */
    char key_id[PE_SIGNER_KEY_ID_LEN]; /* the group's key ("" unless signed) */
    int64_t counter;                   /* the last counter stored under key_id */
    int64_t seq;                       /* the record that says so (0: none) */
    int64_t down_seq; /* an outage of the signer is open: its signer_down's seq (0: none) */
    int64_t down_ms;  /* that event's time: when the outage began */
};

/* Errors: PE_ECORRUPT (that record's signature or body does not decode), PE_EIO. */
int pe_journal_signing(struct pe_journal *j, struct pe_journal_signing *out);

/*
 * Sign every event appended from now on with s (borrowed; it must outlive the journal or be
 * replaced first; NULL: append unsigned). The journal resumes s's counter from the last counter
 * stored under s's key (0 when the current group is another key's), and again after every
 * transaction that ends without a commit. While s's key is not the current group's, the only
 * event that may be appended is the signer_installed event that puts it in use (others:
 * PE_ESTATE), so no record is ever signed by a key the journal has not recorded.
 * Errors: PE_ESTATE (a transaction is open), PE_ECORRUPT, PE_EIO, the signer's resume errors.
 */
int pe_journal_set_signer(struct pe_journal *j, struct pe_signer *s);

/* The signer-down error of the last sign that failed so (what a signer_down body names), 0
 * after a sign that worked. */
int pe_journal_sign_error(const struct pe_journal *j);

/* The collective over the open outage as the journal stands (inside a transaction: with its
 * appends): the body a signer_up must carry (pe_signer_collective_body). Errors: PE_ESTATE (no
 * outage is open), PE_ECORRUPT (a row of it is missing or has a bad hash), PE_EIO, PE_ENOMEM. */
int pe_journal_collective(struct pe_journal *j, struct pe_signer_collective *out);

/* Seq of the committed event with this id. Errors: PE_ENOTFOUND, PE_EIO. */
int pe_journal_find_id(struct pe_journal *j, const char *id, int64_t *seq);

/* The last committed event: seq (0 when empty), hash (genesis when empty), ts (0 when empty).
 * Any out pointer may be NULL. */
int pe_journal_last(struct pe_journal *j, int64_t *seq, char hash[PE_SHA256_HEXLEN],
                    int64_t *ts_ms);

/* One stored record, malloc'd (caller frees). Errors: PE_ENOTFOUND, PE_EIO, PE_ENOMEM. */
int pe_journal_get(struct pe_journal *j, int64_t seq, char **rec, size_t *len);

/* ---- stock ledger (inside a transaction for writes) ---- */

/* Add delta (may be negative; stock may go negative, as shops oversell) and return the new
 * quantity. Errors: PE_ESTATE, PE_EIO, PE_EFULL. */
int pe_journal_stock_add(struct pe_journal *j, const char *item, int64_t delta, int64_t *after);

/* Set the quantity (a stock count), returning the previous one (0 when unknown). */
int pe_journal_stock_set(struct pe_journal *j, const char *item, int64_t qty, int64_t *before);

/* Current quantity; 0 with PE_OK when the item has no stock record. */
int pe_journal_stock_get(struct pe_journal *j, const char *item, int64_t *qty);

/* ---- report counters (inside a transaction for writes) ---- */

int pe_journal_counter_add(struct pe_journal *j, const char *name, int64_t delta);
int pe_journal_counter_set(struct pe_journal *j, const char *name, int64_t value);
/* 0 with PE_OK when the counter does not exist. */
int pe_journal_counter_get(struct pe_journal *j, const char *name, int64_t *value);
/* Call fn for every counter whose name starts with prefix, in name order; fn returning
 * non-zero stops the walk and that value is returned. */
int pe_journal_counters_each(struct pe_journal *j, const char *prefix,
                             int (*fn)(const char *name, int64_t value, void *ctx), void *ctx);
/* Delete every counter whose name starts with prefix. */
int pe_journal_counters_reset(struct pe_journal *j, const char *prefix);

/* ---- returnable sale lines (inside a transaction for writes) ---- */

struct pe_sale_line {
    int32_t line;     /* 1-based line number in the sale */
    char item[32];    /* item id */
    int64_t qty;      /* units sold (grams when weighed) */
    int64_t amount;   /* line amount paid, minor units, tax included */
    int32_t tax_bp;   /* tax rate of the line */
    int64_t returned; /* units returned so far */
};

int pe_journal_sale_line_add(struct pe_journal *j, int64_t sale_seq, const struct pe_sale_line *l);

/* Fill up to max lines of a sale; *n gets the count. Errors: PE_ENOTFOUND (no such sale). */
int pe_journal_sale_lines(struct pe_journal *j, int64_t sale_seq, struct pe_sale_line *lines,
                          int max, int *n);

/* Record qty more units of a line as returned. Errors: PE_ERANGE (more than sold remains),
 * PE_ENOTFOUND. */
int pe_journal_sale_line_return(struct pe_journal *j, int64_t sale_seq, int32_t line, int64_t qty);

/* ---- a basket parked at shutdown (not fiscal: an uncommitted basket) ---- */

/* Store json (replacing any parked basket). Runs its own transaction. */
int pe_journal_park(struct pe_journal *j, const char *json);
/* Take the parked basket out (deleting it). *json is malloc'd, or NULL when none is parked. */
int pe_journal_unpark(struct pe_journal *j, char **json);

/* ---- uplink watermarks: what the bridge acknowledged (spooled, delivered to Kafka) ---- */

/* 0 for a watermark never set. Either out pointer may be NULL. */
int pe_journal_uplink_get(struct pe_journal *j, int64_t *spooled, int64_t *delivered);
/* Store the watermarks in their own transaction; they never move backwards. */
int pe_journal_uplink_set(struct pe_journal *j, int64_t spooled, int64_t delivered);

/* ---- the applied catalog (catalog.h's documents, in normal form) ----
 *
 * The catalog a till sells from. Its tables change only inside a transaction (the one that
 * commits the catalog_applied event, or a till's first seeding from its catalog file), so a
 * crash leaves the old catalog or the new one, never a mix. Reads see the last committed one
 * (or, inside a transaction, what it has written so far). */

struct pe_journal_catalog {
    int64_t version;             /* the version in force; 0: the catalog file's */
    char hash[PE_SHA256_HEXLEN]; /* its content hash (catalog.h) */
    int64_t items;               /* item documents */
    int64_t promotions;          /* promotion documents */
    int64_t applied_ms;          /* when it was put in force, the till's clock (UTC ms) */
    char currency[4];            /* ISO 4217 code of its prices */
};

/* The catalog's state. Errors: PE_ENOTFOUND (none was ever stored: a new journal, or one of
 * schema version 1 opened read-only), PE_EIO. */
int pe_journal_catalog_get(struct pe_journal *j, struct pe_journal_catalog *out);

/* Store the state, inside the open transaction. Errors: PE_ESTATE, PE_EINVAL, PE_EFULL,
 * PE_EIO. */
int pe_journal_catalog_set(struct pe_journal *j, const struct pe_journal_catalog *c);

/*
 * The document of the item with barcode code (any of its barcodes) or, when no barcode is
 * code, with id code: *doc is malloc'd and NUL-terminated (caller frees), *len (may be NULL)
 * its length. Errors: PE_ENOTFOUND, PE_EIO, PE_ENOMEM.
 */
int pe_journal_catalog_item(struct pe_journal *j, const char *code, char **doc, size_t *len);

/* Delete every item and promotion, inside the open transaction (a full transfer). */
int pe_journal_catalog_clear(struct pe_journal *j);

/*
 * Store item id's document (its barcodes given, doc borrowed) inside the open transaction,
 * replacing the item of that id and its barcodes. Errors: PE_EEXIST (a barcode belongs to
 * another item: owner, PE_CATALOG_ID_MAX bytes, gets its id; nothing was stored), PE_ESTATE,
 * PE_EINVAL, PE_EFULL, PE_EIO.
 */
int pe_journal_catalog_put_item(struct pe_journal *j, const char *id,
                                const char *const *barcodes, size_t nbarcodes, const char *doc,
                                char owner[PE_CATALOG_ID_MAX]);

/* Delete item id (with its barcodes) or promotion id, inside the open transaction; an id that
 * is not there is no error. */
int pe_journal_catalog_delete_item(struct pe_journal *j, const char *id);
int pe_journal_catalog_delete_promotion(struct pe_journal *j, const char *id);

/* Store promotion id's document (borrowed), inside the open transaction. */
int pe_journal_catalog_put_promotion(struct pe_journal *j, const char *id, const char *doc);

/* Call fn for every item document (promotions false) or promotion document (true) in
 * ascending id order (strcmp); fn returning non-zero stops the walk and that value is
 * returned. id and doc are valid during the call. */
int pe_journal_catalog_each(struct pe_journal *j, bool promotions,
                            int (*fn)(const char *id, const char *doc, void *ctx), void *ctx);

/* The chunks of a transfer being received (not fiscal: a receiving buffer that survives a
 * restart). put stores chunk index i (replacing one of that index) and clear empties the
 * stage, each in a transaction of its own; get reads chunk i (*payload malloc'd,
 * NUL-terminated). Errors: PE_ENOTFOUND (get: no such chunk), PE_ESTATE (a transaction is
 * open), PE_EFULL, PE_EIO, PE_ENOMEM. */
int pe_journal_catalog_stage_put(struct pe_journal *j, int64_t i, const void *payload,
                                 size_t len);
int pe_journal_catalog_stage_get(struct pe_journal *j, int64_t i, char **payload, size_t *len);
int pe_journal_catalog_stage_clear(struct pe_journal *j);

/* ---- reading and verification ---- */

struct pe_journal_iter;

struct pe_journal_rec {
    int64_t seq;
    const char *type;   /* borrowed until the next call */
    const char *record; /* canonical bytes, borrowed until the next call */
    size_t len;
    const char *hash;
    const void *sig; /* the sig column, borrowed until the next call; NULL when unsigned */
    size_t siglen;
};

/* Iterate records with seq >= from_seq (and of one type when type is not NULL). */
int pe_journal_iter_open(struct pe_journal *j, int64_t from_seq, const char *type,
                         struct pe_journal_iter **out);
/* PE_OK with rec filled, PE_EEOF at the end, PE_EIO. */
int pe_journal_iter_next(struct pe_journal_iter *it, struct pe_journal_rec *rec);
void pe_journal_iter_close(struct pe_journal_iter *it);

struct pe_journal_verify_result {
    int64_t count;    /* records checked */
    int64_t last_seq; /* last seq seen */
    int64_t bad_seq;  /* first bad seq (0 when intact) */
    char why[160];    /* reason for the first bad record */
    int64_t nsigned;  /* records whose signature verified */
    int64_t ngroups;  /* signer_installed events of a signing key */
    int64_t first_signed_seq;           /* 0 when none is signed */
    char key_id[PE_SIGNER_KEY_ID_LEN];  /* the last group's key ("" none) */
    char alg[PE_SIGNER_ALG_MAX];        /* the last group's alg ("" never signed) */
    int64_t anchor_seq;                 /* a pruned journal's anchor: checked from seq+1 */
    int64_t nmarked;  /* records stored unsigned in outages of the signer (signer.h) */
    int64_t noutages; /* outages closed by a signer_up whose collective verified */
    int64_t down_seq; /* an outage still open at the end: its signer_down (0: none) */
};

/*
 * Verify the whole chain from seq 1 (from its anchor in a pruned journal: the chain from the
 * anchor's hash, the signatures from the key record the anchor keeps, whose own signature and
 * hash are checked, and counters from the anchor's): every record is canonical JSON with all
 * fields, seq is gapless and matches its row, id and hash match their columns, prev links and
 * hashes match.
 * And the signatures (signer.h): a signer_installed event starts a group (its key_id must be
 * that of its public_key); from there on every record up to the next signer_installed is signed
 * by that key, with a signature that verifies over its hash, counter and time, and a counter
 * one above the previous record's (the installing record's is the first). Records before the
 * first signer_installed, and after one that turned signing off ("none"), are unsigned; a
 * signature there is an error too. A record marked unsigned (signer.h) is accepted only inside
 * an outage: from a signer_down (marked with its own seq, in a signing group) to the signed
 * signer_up that closes it, whose collective must cover exactly those seqs with their hashes'
 * digest; a signed record, or a signer_installed, inside an outage is an error, and so is a
 * signer_up outside one. An outage still open at the end is reported in down_seq. (These checks
 * are pe_sig_group_check's, signer.h, which posedge-ctl audit applies to archives too.)
 * Returns PE_OK when intact, PE_ECHAIN (res->bad_seq/why say where) otherwise, PE_EIO.
 */
int pe_journal_verify(struct pe_journal *j, struct pe_journal_verify_result *res);

/* ---- pruning (journal_prune.c) ----
 *
 * A pruned journal starts after its anchor: the last pruned record's seq, hash and signature
 * counter, and the signer_installed record in force there, kept in the meta table so that the
 * live journal verifies on its own from it (pe_journal_verify) and continues the archives that
 * hold what was pruned (posedge-ctl audit, docs/audit.md). */
struct pe_journal_anchor {
    int64_t seq;                     /* the last pruned record; 0: never pruned */
    char hash[PE_SHA256_HEXLEN];     /* its hash: the prev of record seq+1 */
    int64_t counter;                 /* its signature's counter, 0 when unsigned */
    int64_t key_seq;                 /* the signer_installed record in force at seq; 0: none */
    char key_hash[PE_SHA256_HEXLEN]; /* its hash */
    char *key_record;                /* its canonical bytes (NUL-terminated), owned */
    char *key_sig;                   /* its sig column, owned; NULL when unsigned */
    int64_t perpetual_total;         /* the perpetual total (report.h) after record seq */
    int64_t ts_ms;                   /* record seq's event time (a Z report's: its period) */
};

/* The journal's anchor into *out (zero when never pruned; pe_journal_anchor_free after).
 * Errors: PE_ECORRUPT (the anchor row does not parse), PE_ENOMEM, PE_EIO. */
int pe_journal_anchor(struct pe_journal *j, struct pe_journal_anchor *out);

/* Free what an anchor owns and zero it; NULL is a no-op. */
void pe_journal_anchor_free(struct pe_journal_anchor *a);

/*
 * Delete the records up to and including seq through from the live journal, making through the
 * anchor, in one transaction. The caller must have made the archive of those records durable first
 * and passes the hash of through as archived (archived_hash): the prune refuses when the journal's
 * record differs. It refuses (why says which) a seq that is not in the live journal (PE_ERANGE),
 * one the bridge has not acknowledged as delivered, that no Z report at or after it closes, or that
 * is inside an outage of the signer (a record marked unsigned: an anchor never holds an open
 * outage) (PE_ESTATE), and a record that is not the archived one (PE_ECHAIN). The sale lines of
 * pruned sales go too (a pruned sale cannot be returned against). Errors also PE_ESTATE (read-only,
 * or inside a transaction), the journal's write errors.
 */
int pe_journal_prune(struct pe_journal *j, int64_t through, const char *archived_hash,
                     char *why, size_t whylen);

/* The checks of pe_journal_prune that need no archive (in the live journal, delivered, closed
 * by a Z report, not inside an outage of the signer), for a caller to run before it writes the archive. Errors as pe_journal_prune's
 * (PE_ERANGE, PE_ESTATE with why), PE_ECORRUPT, PE_EIO. */
int pe_journal_prunable(struct pe_journal *j, int64_t through, char *why, size_t whylen);

#endif
