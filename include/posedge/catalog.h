/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog.h - the item catalog a till sells from, and EAN-13 barcodes.
 *
 * The catalog is a JSON file: {"currency":"EUR","items":[{"id":"SKU-0001","barcode":
 * "4006381333931","name":"...","category":"Skincare","brand":"...","price":1299,
 * "tax_bp":2000,"weighed":false}, ...]}. price is in minor units: per unit for counted items,
 * per kilogram for weighed items (weighed:true). tax_bp is the tax rate in basis points
 * (2000 = 20.00 %). Prices are tax-inclusive, as on a shelf label. Every barcode must be a
 * valid EAN-13 and unique; every id unique. The catalog is read-only after loading.
 *
 * An item may also carry the numbers that downstream pipelines key on, all optional integers
 * from 0 to 2^31-1: item_id (the item's numeric id, e.g. the Databricks layout's; the
 * inventory-avro output profile uses it), supplier_id and safety_stock. This file is the one
 * schema of the catalog: the tills, the bridge's profiles and the tools all load it here, and
 * catalog.c's field table is the one list of its fields.
 */
#ifndef POSEDGE_CATALOG_H
#define POSEDGE_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pe_item {
    const char *id;       /* stock keeping unit, unique */
    const char *barcode;  /* EAN-13, 13 digits, valid check digit, unique */
    const char *name;     /* display and receipt name */
    const char *category; /* e.g. "Skincare", "Produce" */
    const char *brand;    /* brand name */
    int64_t price;        /* minor units per unit, or per kg when weighed */
    int32_t tax_bp;       /* tax rate in basis points, 0..10000 */
    bool weighed;         /* sold by weight (grams) */
    int64_t item_id;      /* numeric id for pipelines, 0..2^31-1; -1 when the file has none */
    int64_t supplier_id;  /* 0..2^31-1; 0 when the file has none */
    int64_t safety_stock; /* units to keep in stock, 0..2^31-1; 0 when the file has none */
};

struct pe_catalog;

/*
 * Load a catalog file. On error err names the file, the item index and the field.
 * Errors: PE_EIO, PE_EPARSE, PE_EINVAL (bad field, bad check digit, duplicate), PE_ENOMEM.
 */
int pe_catalog_load(const char *path, struct pe_catalog **out, char *err, size_t errlen);

/* Free; pe_catalog_destroy(NULL) is a no-op. Items returned earlier become invalid. */
void pe_catalog_destroy(struct pe_catalog *cat);

size_t pe_catalog_count(const struct pe_catalog *cat);

/* The i-th item (0-based, file order); NULL when out of range. Borrowed. */
const struct pe_item *pe_catalog_at(const struct pe_catalog *cat, size_t i);

/* Find by barcode or by id; NULL when unknown. Borrowed. */
const struct pe_item *pe_catalog_by_barcode(const struct pe_catalog *cat, const char *barcode);
const struct pe_item *pe_catalog_by_id(const struct pe_catalog *cat, const char *id);

/* Currency of the catalog's prices (ISO 4217, 3 upper-case letters). */
const char *pe_catalog_currency(const struct pe_catalog *cat);

/* EAN-13: the check digit for the first 12 digits, or -1 when they are not 12 digits. */
int pe_ean13_check_digit(const char *first12);

/* True when s is 13 digits with a correct check digit. */
bool pe_ean13_valid(const char *s);

#endif
