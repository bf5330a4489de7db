/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog_store.h - the store's catalog in the bridge's spool: HQ's records (pos.catalog,
 * pos.promotions) staged batch by batch, and applied as the store catalog's next version.
 *
 * A record's key is "<scope>/<id>", scope a store id or "*" (every store). Records of another
 * store are passed over; those of this store and of "*" are checked (catalog_doc.h) and
 * staged: kept in the spool beside the catalog, the last record of each scope and id winning,
 * and not yet part of it. Applying the stage puts it into the catalog, "*" in layer 0 and the
 * store's own in layer 1, so a store's record overrides the general one and its tombstone
 * falls back to it. The consumer applies the stage only where it has read everything HQ
 * committed so far (catalog.c), so a version never holds part of one of HQ's transactions. An
 * item whose barcode another item in force in the store has already is refused when the
 * stage is applied, as is a record refused by the checks when it is staged: it changes
 * nothing, and the caller sends it to the rejects topic with the reason given.
 *
 * The invariant: one batch is one spool transaction holding what it staged and the position
 * after the last record read of every partition it read; a batch that applies the stage also
 * holds the stage's documents, the stage emptied, and, when the store's effective catalog
 * changed, the new version (the last plus one: the change number of every document it
 * changed), with the content hash, counts and time of that version. So after a kill -9 the
 * spool holds whole batches only, the stage survives, and reading on from the positions
 * stages nothing twice and skips nothing. Every applied stage that changed the catalog raises
 * the version by exactly one.
 */
#ifndef POSEDGE_BRIDGE_CATALOG_STORE_H
#define POSEDGE_BRIDGE_CATALOG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/catalog_doc.h"
#include "posedge/crypto.h"

struct pe_spool;
struct catalog_store;

/* A version of the store's catalog (docs/protocol.md, "The catalog version"). */
struct catalog_version {
    int64_t version;              /* 0: nothing from HQ yet */
    char hash[PE_SHA256_HEXLEN];  /* content hash (of the empty catalog for version 0) */
    int64_t items;                /* item documents in it */
    int64_t promotions;           /* promotion documents in it */
    int64_t ts_ms;                /* when the bridge made it (0 for version 0) */
    char currency[4];             /* the items' currency ("" when there is no item) */
};

/* What became of one record. */
enum catalog_outcome {
    CATALOG_STORED,  /* this store's or "*": checked and staged (applied with the stage) */
    CATALOG_IGNORED, /* another store's */
    CATALOG_REFUSED, /* this store's or "*", and not valid: why says why */
};

/*
 * The version kept in the spool sp (made by an earlier batch), read in one go: version 0 with
 * the empty catalog's hash when there is none. Usable inside pe_spool_read. Errors: PE_EIO,
 * PE_ECORRUPT (the kept version does not parse), PE_ENOMEM.
 */
int catalog_store_read_version(struct pe_spool *sp, struct catalog_version *out);

/* Open the catalog of store (a valid id) in sp (borrowed; it outlives the store): reads the
 * kept version. Errors: as catalog_store_read_version, PE_EINVAL (store). */
int catalog_store_open(struct pe_spool *sp, const char *store, struct catalog_store **out);

/* Free; a batch still open is rolled back. NULL is a no-op. */
void catalog_store_close(struct catalog_store *cs);

/* The last committed version (valid until the next commit). */
const struct catalog_version *catalog_store_version(const struct catalog_store *cs);

/* Begin a batch. Errors: PE_ESTATE (a batch or another spool transaction is open: try again
 * once it is committed), PE_EIO. */
int catalog_store_begin(struct catalog_store *cs);

/* One record read from Kafka, as catalog_store_add takes it (borrowed for the call, but for
 * topic, which the batch keeps until it ends). */
struct catalog_record {
    enum catalog_kind kind; /* from the topic it came from */
    const char *topic;      /* that topic (borrowed until the batch is committed) */
    int32_t partition;
    int64_t offset;
    const void *key; /* its key (need not be terminated), NULL for none */
    size_t keylen;
    const void *val; /* its value, NULL for a tombstone */
    size_t len;
};

/*
 * Stage one record inside the open batch: *outcome says what became of it (why, the reason of
 * a refusal). The record's partition is read up to its offset either way. Errors: PE_ESTATE
 * (no batch open, or the batch applied the stage already), PE_EIO, PE_EFULL, PE_ENOMEM (the
 * spool failed: roll the batch back).
 */
int catalog_store_add(struct catalog_store *cs, const struct catalog_record *r,
                      enum catalog_outcome *outcome, char *why, size_t whylen);

/* A record refused when the stage was applied (pointers valid during the call). */
struct catalog_refusal {
    enum catalog_kind kind; /* the topic it came from */
    int32_t partition;
    int64_t offset;
    const char *key;    /* "<scope>/<id>", as it came */
    const char *record; /* its document in normal form, NULL for a tombstone */
    const char *why;    /* the reason */
};

/* Told of each record refused when the stage is applied. */
typedef void catalog_refused_fn(void *ctx, const struct catalog_refusal *r);

/*
 * Apply the stage inside the open batch (after its last catalog_store_add): every record
 * staged, by this batch and by the committed ones before it, goes into the store's catalog,
 * and the stage is emptied. Items are taken in order of scope and id; one whose effective
 * document would have a barcode that another item in force has is taken again once the
 * others are in (a barcode moved from one item to another in one transaction goes through),
 * and refused if it still would: refused (may be NULL) is told, and that key keeps what it
 * had. Nothing of it is seen outside the batch until it commits. Errors: PE_ESTATE (no batch
 * open, or applied already), PE_EIO, PE_EFULL, PE_ENOMEM (roll the batch back).
 */
int catalog_store_apply(struct catalog_store *cs, catalog_refused_fn *refused, void *ctx);

/*
 * Commit the batch: the positions and the stage, and when it applied the stage and that
 * changed the catalog the next version (its hash and counts computed here, inside the
 * transaction) made at now_ms. *changed (may be NULL) says whether the version rose. On an
 * error the batch is rolled back and nothing of it counts. Errors: PE_ESTATE (no batch
 * open), PE_EIO, PE_EFULL, PE_ENOMEM.
 */
int catalog_store_commit(struct catalog_store *cs, int64_t now_ms, bool *changed);

/* Roll the open batch back (a no-op without one). */
void catalog_store_rollback(struct catalog_store *cs);

/* Records in the open batch so far (0 without one). */
int64_t catalog_store_pending(const struct catalog_store *cs);

/* Records staged and not applied: by the committed batches (after a restart, the scopes and
 * ids in the stage) and by the open one. */
int64_t catalog_store_staged(const struct catalog_store *cs);

/* The position kept for (topic, partition): the offset of the next record to read, or -1
 * when none is kept. Errors: PE_EIO, PE_ENOMEM. */
int catalog_store_position(struct catalog_store *cs, const char *topic, int32_t partition,
                           int64_t *next);

#endif
