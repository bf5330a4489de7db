/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog.h - the item catalog a till sells from: its documents, their checks, the price in
 * force at a time, the content hash, and EAN-13 barcodes. The one owner of the catalog's
 * schema: the tills, the bridge, its profiles and the tools all read and write it here, and
 * catalog.c's field table is the one list of its fields.
 *
 * Two forms carry the same items.
 *
 * The file (catalog.json, read once by pe_catalog_load; a till's version 0 before HQ sends
 * one, and the bridge's profiles' catalog): {"currency":"EUR","items":[{"id":"SKU-0001",
 * "barcode":"4006381333931","name":"...","category":"Skincare","brand":"...","price":1299,
 * "tax_bp":2000,"weighed":false}, ...],"promotions":[promotion documents]}. "promotions" is
 * optional. A file item's one price is in force at every time.
 *
 * The documents HQ publishes (pos.catalog, pos.promotions; docs/protocol.md "Catalog"), one
 * per item or promotion:
 *   {"v":1,"id":"SKU-0001","barcodes":["4006381333931"],"name":"...","category":"...",
 *    "brand":"...","tax_bp":2000,"weighed":false,"currency":"EUR",
 *    "prices":[{"price":1299,"effective_from":"2026-12-08T06:00:00.000Z","effective_to":null}],
 *    "item_id":123,"supplier_id":4,"safety_stock":10}          (the last three optional)
 * or with the shorthand "price", "effective_from" and "effective_to" (optional, may be null)
 * for a one-entry "prices". A price is in force from effective_from (inclusive) to effective_to
 * (exclusive; null or absent: for ever); the windows of one item never overlap.
 *   {"v":1,"id":"P-SOUP-3FOR2","name":"3 for 2 soups","kind":"n_for_m","target":{"category":
 *    "Soups"},"n":3,"m":2,"from":"2026-12-01T00:00:00.000Z","to":null,"priority":10}
 * with kind and its members: "percent" (percent_bp 1..10000 off each unit), "amount" (amount
 * off each unit, per kg when weighed), "n_for_m" (n units for the price of m, counted items
 * only), "mix_match" (any n counted units of a category for price). "target" is {"item":ID} or
 * {"category":NAME} (mix_match: a category). "to" is optional (null: no end), "priority"
 * optional (0).
 *
 * In both forms: money is integer minor units (0..10^9), times are UTC
 * "YYYY-MM-DDTHH:MM:SS.mmmZ", tax_bp is basis points (2000 = 20.00 %) and prices are
 * tax-inclusive; a weighed item's price is per kilogram and its quantity is grams. Every
 * barcode is a valid EAN-13; ids and barcodes are unique in a catalog; unknown members are
 * refused (a misspelt "weighed" would sell produce by the piece). A refusal says where and why
 * in one line, as "prices[1].effective_from: not a UTC time" (a file's also names the file and
 * the item: "catalog.json: items[3].barcode: ...").
 *
 * Documents of the wire form have a normal form (pe_catalog_doc_normalize_*): the list form
 * of prices sorted by effective_from, effective_to and to always present (null when open),
 * priority always present, and only the members the document had otherwise. The content hash
 * of a catalog is over normal forms, so a shorthand and its list form hash alike.
 */
#ifndef POSEDGE_CATALOG_H
#define POSEDGE_CATALOG_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posedge/crypto.h"
#include "posedge/event.h"

#define PE_CATALOG_DOC_VERSION 1 /* "v" of item and promotion documents */
#define PE_CATALOG_ID_MAX 32     /* document ids: 1..31 bytes of printable ASCII, and the NUL */
#define PE_CATALOG_TEXT_MAX 256  /* names, categories, brands: 1..256 bytes of UTF-8 */
#define PE_CATALOG_BARCODES_MAX 8 /* barcodes of one item */
#define PE_CATALOG_PRICES_MAX 32  /* price windows of one item */
#define PE_CATALOG_MONEY_MAX INT64_C(1000000000) /* prices and amounts: 0..10^9 minor units */
#define PE_CATALOG_OPEN INT64_MAX /* the end of a window without one */
#define PE_CATALOG_WHY_MAX 256    /* a refusal's reason always fits this */
#define PE_CATALOG_SCOPE_ALL "*"  /* the scope of records for every store */

/* One price window: price is in force for from_ms <= t < to_ms. */
struct pe_price {
    int64_t price;   /* minor units per unit, or per kg when weighed */
    int64_t from_ms; /* effective_from, UTC ms */
    int64_t to_ms;   /* effective_to, exclusive; PE_CATALOG_OPEN when there is none */
};

/* Which optional members an item had (pe_item.has). */
#define PE_ITEM_HAS_ITEM_ID 1u
#define PE_ITEM_HAS_SUPPLIER_ID 2u
#define PE_ITEM_HAS_SAFETY_STOCK 4u

struct pe_item {
    const char *id;       /* stock keeping unit, unique */
    const char *barcode;  /* EAN-13, 13 digits, valid check digit, unique: barcodes[0] */
    const char *name;     /* display and receipt name */
    const char *category; /* e.g. "Skincare", "Produce" */
    const char *brand;    /* brand name */
    int64_t price;        /* a file's price; a document's first window's (see pe_item_price_at) */
    int32_t tax_bp;       /* tax rate in basis points, 0..10000 */
    bool weighed;         /* sold by weight (grams) */
    int64_t item_id;      /* numeric id for pipelines, 0..2^31-1; -1 when the source has none */
    int64_t supplier_id;  /* 0..2^31-1; 0 when the source has none */
    int64_t safety_stock; /* units to keep in stock, 0..2^31-1; 0 when the source has none */
    const char *const *barcodes;  /* every barcode, barcodes[0] == barcode */
    size_t nbarcodes;             /* 1..PE_CATALOG_BARCODES_MAX */
    const struct pe_price *prices; /* windows sorted by from_ms, none overlapping; a file's
                                    * item has one, from 1970 on and open */
    size_t nprices;                /* 1..PE_CATALOG_PRICES_MAX */
    unsigned has;                  /* PE_ITEM_HAS_*: the optional members the source gave */
};

/* X(name, string) - the kinds of promotion. */
#define PE_PROMO_KINDS(X)                                                                          \
    X(PERCENT, "percent")     /* percent_bp off each unit of the target */                        \
    X(AMOUNT, "amount")       /* amount off each unit (per kg when weighed) of the target */       \
    X(N_FOR_M, "n_for_m")     /* n units of the target for the price of m (counted items) */      \
    X(MIX_MATCH, "mix_match") /* any n units of the target category for price (counted items) */

enum pe_promo_kind {
#define PE__PROMO_ENUM(name, str) PE_PROMO_##name,
    PE_PROMO_KINDS(PE__PROMO_ENUM)
#undef PE__PROMO_ENUM
        PE_PROMO__COUNT
};

/* "percent", ...; NULL for an out-of-range value. */
const char *pe_promo_kind_name(enum pe_promo_kind k);

struct pe_promotion {
    const char *id;       /* unique among promotions */
    const char *name;     /* printed on the receipt */
    enum pe_promo_kind kind;
    const char *item;     /* target item id, NULL when the target is a category */
    const char *category; /* target category, NULL when the target is an item */
    int32_t percent_bp;   /* percent: 1..10000; else 0 */
    int64_t amount;       /* amount: 1..10^9 off per unit (per kg); else 0 */
    int32_t n;            /* n_for_m, mix_match: units in a group, 2..1000; else 0 */
    int32_t m;            /* n_for_m: units paid for, 1..n-1; else 0 */
    int64_t price;        /* mix_match: the price of n units, 0..10^9; else 0 */
    int64_t from_ms;      /* in force from (inclusive), UTC ms */
    int64_t to_ms;        /* to (exclusive), PE_CATALOG_OPEN when there is none */
    int32_t priority;     /* ties between equally good promotions: higher first */
};

/* ---- documents ---- */

/*
 * A parsed item document: item's strings point into the cJSON document parsed (borrowed: valid
 * while it is), its barcodes and prices into the arrays here. Copy with pe_item_dup to keep it.
 */
struct pe_item_doc {
    struct pe_item item;
    const char *barcodes[PE_CATALOG_BARCODES_MAX];
    struct pe_price prices[PE_CATALOG_PRICES_MAX];
    char currency[4]; /* ISO 4217 code of the prices */
};

/*
 * Parse and check one item document (the wire form above) into *out. Every member is checked,
 * in the field table's order; the first fault is reported. why (may be NULL) gets the reason,
 * naming the member: "barcodes[1]: bad EAN-13 check digit (expected 4)", "prices[1]: overlaps
 * prices[0]", "price: give prices or price, not both". Never reads past doc; doc is borrowed.
 * Errors: PE_EINVAL (why says why).
 */
int pe_catalog_doc_parse_item(const cJSON *doc, struct pe_item_doc *out, char *why, size_t len);

/*
 * Parse and check one promotion document into *out (strings borrowed from doc). Reasons as
 * above: "kind: expected percent, amount, n_for_m or mix_match", "m: must be below n (3)",
 * "amount: not a member of a percent promotion", "target: mix_match needs a category".
 * Errors: PE_EINVAL.
 */
int pe_catalog_doc_parse_promotion(const cJSON *doc, struct pe_promotion *out, char *why,
                                   size_t len);

/*
 * The normal-form document of an item (currency: its prices' ISO 4217 code) or of a promotion
 * into *out (a new cJSON object the caller deletes). Errors: PE_EINVAL (a field that would not
 * parse back: the structs did not come from the parsers above or pe_catalog_*), PE_ENOMEM.
 */
int pe_catalog_item_json(const struct pe_item *it, const char *currency, cJSON **out);
int pe_catalog_promotion_json(const struct pe_promotion *p, cJSON **out);

/* Parse, check and rewrite a document in its normal form (*out: the caller's). Errors:
 * PE_EINVAL (why says why, as the parsers), PE_ENOMEM. */
int pe_catalog_doc_normalize_item(const cJSON *doc, cJSON **out, char *why, size_t len);
int pe_catalog_doc_normalize_promotion(const cJSON *doc, cJSON **out, char *why, size_t len);

/* A copy of it in one allocation (strings, barcodes and prices included) that the caller frees
 * with free(). Errors: PE_ENOMEM. */
int pe_item_dup(const struct pe_item *it, struct pe_item **out);

/* True when s is a document id: 1..31 bytes of printable ASCII (0x21..0x7e). */
bool pe_catalog_id_valid(const char *s);

/* ---- keys and scopes of the Kafka records ---- */

/*
 * Split a record key "<scope>/<id>" of len bytes: scope is "*" (every store) or a store id
 * (pe_event_id_valid), id a document id. Errors: PE_EINVAL.
 */
int pe_catalog_key_parse(const char *key, size_t len, char scope[PE_ID_MAX],
                         char id[PE_CATALOG_ID_MAX]);

/*
 * How a record of scope counts for store: 2 the store's own (it wins), 1 "*" (used unless the
 * store has its own record of the id), 0 another store's (ignored).
 */
int pe_catalog_scope_rank(const char *scope, const char *store);

/* ---- price and promotion in force ---- */

/* The window of it in force at t_ms, NULL when none is (not yet priced, or no longer). */
const struct pe_price *pe_item_price_window(const struct pe_item *it, int64_t t_ms);

/* The price of it in force at t_ms. Errors: PE_ENOTFOUND (no window is in force). */
int pe_item_price_at(const struct pe_item *it, int64_t t_ms, int64_t *price);

/* True when p is in force at t_ms (from_ms <= t_ms < to_ms). */
bool pe_promotion_active(const struct pe_promotion *p, int64_t t_ms);

/* ---- the content hash ---- */

/*
 * The content hash of a catalog: lower-case hex SHA-256 of the canonical JSON (json.h) of
 * {"items":[item documents sorted by id],"promotions":[promotion documents sorted by id]},
 * every document in its normal form. The documents may come in any order and form (each is
 * parsed and normalised; borrowed). The bridge (for its version document) and the till (after
 * applying a full or delta transfer) compute it here, so equal catalogs hash equal.
 * Errors: PE_EINVAL (a document that does not parse, or two with one id: why says which, as
 * "items[4]: barcodes[0]: ..." with the index as given), PE_ENOMEM.
 */
int pe_catalog_content_hash(const cJSON *const *items, size_t nitems,
                            const cJSON *const *promotions, size_t npromotions,
                            char out[PE_SHA256_HEXLEN], char *why, size_t len);

/*
 * The same hash made incrementally, for catalogs read row by row (a database in id order):
 * create, add every item document in ascending id order (strcmp), then every promotion
 * document in ascending id order, then finish. Each document is parsed and normalised.
 * Errors of the adds: PE_EINVAL (a document that does not parse, an id not above the last,
 * an item after a promotion: why says which), PE_ENOMEM; after an error only finish or free
 * may follow. finish writes out and frees h; pe_catalog_hasher_free(NULL) is a no-op.
 */
struct pe_catalog_hasher;
int pe_catalog_hasher_create(struct pe_catalog_hasher **out);
int pe_catalog_hasher_item(struct pe_catalog_hasher *h, const cJSON *doc, char *why, size_t len);
int pe_catalog_hasher_promotion(struct pe_catalog_hasher *h, const cJSON *doc, char *why,
                                size_t len);
int pe_catalog_hasher_finish(struct pe_catalog_hasher *h, char out[PE_SHA256_HEXLEN]);
void pe_catalog_hasher_free(struct pe_catalog_hasher *h);

/* ---- an in-memory catalog ---- */

struct pe_catalog;

/*
 * Load a catalog file. On error err names the file, the item index and the field.
 * Errors: PE_EIO, PE_EPARSE, PE_EINVAL (bad field, bad check digit, duplicate), PE_ENOMEM.
 */
int pe_catalog_load(const char *path, struct pe_catalog **out, char *err, size_t errlen);

/*
 * Build a catalog from item and promotion documents (borrowed; the catalog copies what it
 * keeps). currency is the catalog's (every item must be priced in it); NULL takes the first
 * item's ("" for an empty catalog). Errors: PE_EINVAL (why names the document as
 * "items[3]: ..." or "promotions[0]: ...": a bad document, a duplicate id or barcode, another
 * currency), PE_ENOMEM.
 */
int pe_catalog_build(const cJSON *const *items, size_t nitems, const cJSON *const *promotions,
                     size_t npromotions, const char *currency, struct pe_catalog **out,
                     char *why, size_t len);

/* Free; pe_catalog_destroy(NULL) is a no-op. Items returned earlier become invalid. */
void pe_catalog_destroy(struct pe_catalog *cat);

size_t pe_catalog_count(const struct pe_catalog *cat);

/* The i-th item (0-based, file or document order); NULL when out of range. Borrowed. */
const struct pe_item *pe_catalog_at(const struct pe_catalog *cat, size_t i);

/* Find by barcode (any of an item's) or by id; NULL when unknown. Borrowed. */
const struct pe_item *pe_catalog_by_barcode(const struct pe_catalog *cat, const char *barcode);
const struct pe_item *pe_catalog_by_id(const struct pe_catalog *cat, const char *id);

/* Promotions, in the order given. Borrowed. */
size_t pe_catalog_promotion_count(const struct pe_catalog *cat);
const struct pe_promotion *pe_catalog_promotion_at(const struct pe_catalog *cat, size_t i);

/* Currency of the catalog's prices (ISO 4217, 3 upper-case letters). */
const char *pe_catalog_currency(const struct pe_catalog *cat);

/*
 * Every item and promotion of cat as documents in normal form (*items and *promotions: cJSON
 * arrays the caller deletes, items sorted by id as the hash takes them, promotions too): what
 * a till stores as its version 0. Either out pointer may be NULL. Errors: PE_ENOMEM.
 */
int pe_catalog_docs(const struct pe_catalog *cat, cJSON **items, cJSON **promotions);

/* The content hash of cat (as pe_catalog_content_hash of its documents). Errors: PE_ENOMEM. */
int pe_catalog_hash(const struct pe_catalog *cat, char out[PE_SHA256_HEXLEN]);

/* ---- EAN-13 ---- */

/* The check digit for the first 12 digits, or -1 when they are not 12 digits. */
int pe_ean13_check_digit(const char *first12);

/* True when s is 13 digits with a correct check digit. */
bool pe_ean13_valid(const char *s);

#endif
