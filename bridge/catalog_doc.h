/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog_doc.h - what the bridge asks of HQ's catalog documents (docs/protocol.md, "Catalog
 * records on Kafka"): is this record's value a valid item or promotion document for this id,
 * its canonical bytes (what is stored, served to the tills and hashed), and the content hash
 * of a store catalog.
 *
 * The one adapter between the bridge and the catalog document model: everything else of the
 * bridge (catalog_store.c, catalog_serve.c) calls these functions and nothing else about
 * documents, so the model's owner can change without the bridge noticing. The content hash is
 * SHA-256 of the canonical JSON {"items":[item docs by id],"promotions":[promotion docs by
 * id]}; since every stored document is canonical already, it is computed here as a stream over
 * the stored bytes, without parsing any of them.
 */
#ifndef POSEDGE_BRIDGE_CATALOG_DOC_H
#define POSEDGE_BRIDGE_CATALOG_DOC_H

#include <stddef.h>

/* X(name, collection, what) - the kinds of catalog document; the collection is their
 * collection in the spool (spool.h, "documents") and the name of their array in answers. */
#define CATALOG_KINDS(X)                                                                           \
    X(ITEM, "items", "item")                                                                       \
    X(PROMOTION, "promotions", "promotion")

enum catalog_kind {
#define CATALOG__KIND_ENUM(name, coll, what) CATALOG_##name,
    CATALOG_KINDS(CATALOG__KIND_ENUM)
#undef CATALOG__KIND_ENUM
        CATALOG_KIND__COUNT
};

/* "items" or "promotions"; NULL for an out-of-range value. */
const char *catalog_kind_coll(enum catalog_kind k);

/* "item" or "promotion"; NULL for an out-of-range value. */
const char *catalog_kind_what(enum catalog_kind k);

/* The longest id accepted (bytes). */
#define CATALOG_ID_MAX 64

/*
 * Check that the value (len bytes, need not be terminated) is a valid document of kind whose
 * id is id (the key's part after the scope), and give its canonical bytes in *out (malloc'd,
 * NUL-terminated; the caller frees) and their length in *outlen. why gets the reason of a
 * refusal, naming the member ("prices[1].effective_to: before effective_from"). Errors:
 * PE_EINVAL (refused), PE_ENOMEM.
 */
int catalog_doc_check(enum catalog_kind kind, const char *id, const void *val, size_t len,
                      char **out, size_t *outlen, char *why, size_t whylen);

/* True when id (the part of a record's key after "<scope>/") is a valid id of a document. */
int catalog_doc_id_valid(const char *id);

/* The currency of a canonical item document into out ("" when it has none). */
void catalog_doc_currency(const char *doc, size_t len, char out[4]);

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
