/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog_doc.h - what the bridge asks of HQ's catalog documents (docs/protocol.md, "Catalog
 * records on Kafka"): is this record's value a valid item or promotion document for this id,
 * its canonical bytes (what is stored, served to the tills and hashed), and the content hash
 * of a store catalog.
 *
 * The one adapter between the bridge and the catalog document model (posedge/catalog.h):
 * everything else of the bridge (catalog_store.c, catalog_serve.c) calls these functions and
 * nothing else about documents. The content hash is the model's (SHA-256 of the canonical JSON
 * {"items":[item docs by id],"promotions":[promotion docs by id]}, each in its normal form);
 * since every stored document is its canonical normal form already, it is computed here as a
 * stream over the stored bytes, without parsing any of them.
 */
#ifndef POSEDGE_BRIDGE_CATALOG_DOC_H
#define POSEDGE_BRIDGE_CATALOG_DOC_H

#include <stddef.h>
#include <stdint.h>

#include "posedge/catalog.h"

/* X(name, collection) - the kinds of catalog document; the collection is their collection in
 * the spool (spool.h, "documents") and the name of their list in answers. */
#define CATALOG_KINDS(X)                                                                           \
    X(ITEM, "items")                                                                               \
    X(PROMOTION, "promotions")

enum catalog_kind {
#define CATALOG__KIND_ENUM(name, coll) CATALOG_##name,
    CATALOG_KINDS(CATALOG__KIND_ENUM)
#undef CATALOG__KIND_ENUM
        CATALOG_KIND__COUNT
};

/* "items" or "promotions"; NULL for an out-of-range value. */
const char *catalog_kind_coll(enum catalog_kind k);

/*
 * The scope of a record's key "<scope>/<id>" (keylen bytes, need not be terminated) for store:
 * 2 the store's own, 1 "*" (every store), with the id in id; 0 another store's (or no key: a
 * record for nobody), to be passed over; -1 a key of this store or "*" whose id is not valid
 * (why says why), to be refused.
 */
int catalog_doc_key(const char *store, const void *key, size_t keylen, char id[PE_CATALOG_ID_MAX],
                    char *why, size_t whylen);

/*
 * Check that the value (len bytes, need not be terminated) is a valid document of kind whose
 * id is id (from the record's key), and give its canonical normal form in *out (malloc'd,
 * NUL-terminated; the caller frees) and its length in *outlen. why gets the reason of a
 * refusal, naming the member ("prices[1]: overlaps prices[0]"). Errors: PE_EINVAL (refused),
 * PE_ENOMEM.
 */
int catalog_doc_check(enum catalog_kind kind, const char *id, const void *val, size_t len,
                      char **out, size_t *outlen, char *why, size_t whylen);

/* The currency of a canonical item document into out ("" when it has none). */
void catalog_doc_currency(const char *doc, size_t len, char out[4]);

/*
 * The barcodes of a stored item document (its canonical normal form, as catalog_doc_check
 * gives it) as numbers (an EAN-13's 13 digits) into out: how many (1..PE_CATALOG_BARCODES_MAX),
 * or -1 when the document holds no such list (a damaged one). Read from the bytes, without
 * parsing the document.
 */
int catalog_doc_barcodes(const char *doc, size_t len, uint64_t out[PE_CATALOG_BARCODES_MAX]);

/* A content hash being computed: items first, in id order, then promotions, in id order. */
struct catalog_hash;

/* Start one. Errors: PE_ENOMEM. */
int catalog_hash_begin(struct catalog_hash **out);

/* Add the next canonical document of kind (kinds in CATALOG_KINDS order, each in id order). */
void catalog_hash_add(struct catalog_hash *h, enum catalog_kind kind, const char *doc,
                      size_t len);

/* Finish: the hash as 64 lower-case hex digits into out; h is freed. */
void catalog_hash_end(struct catalog_hash *h, char out[65]);

/* Free h without finishing it; NULL is a no-op. */
void catalog_hash_free(struct catalog_hash *h);

#endif
