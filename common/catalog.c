/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog.c - the item catalog: loading and validating the JSON file, lookups, and EAN-13.
 *
 * The file is parsed with cJSON and checked whole before a catalog is returned: every item has
 * every required field with the right type (the table fields[] is the schema: name, type, range,
 * whether required, the default of an optional one), every barcode is a valid EAN-13, and ids and
 * barcodes are unique. A refusal names the file, the item index and the field, so a bad catalog is
 * fixed in one look. The loaded catalog owns one copy of every string and two open-addressing hash
 * tables (by barcode and by id) over the item array; it never changes after loading, so the
 * pointers it hands out stay valid until pe_catalog_destroy.
 */
#include "posedge/catalog.h"
#include "posedge/file.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "posedge/err.h"

#define CATALOG_MAX_BYTES (64L * 1024 * 1024) /* refuse files larger than this */
#define FIELD_MAX 256                         /* longest accepted string field, in bytes */
#define JSON_INT_MAX 9007199254740991.0       /* 2^53 - 1: the doubles that are exact */

#define MAX_CATALOG_BYTES (16 * 1024 * 1024) /* a catalog of ~50,000 items */

struct pe_catalog {
    struct pe_item *items; /* file order */
    size_t count;          /* number of items */
    size_t slots;          /* size of each hash table, a power of two > 2 * count */
    size_t *by_barcode;    /* slot -> item index + 1; 0 is an empty slot */
    size_t *by_id;         /* same, keyed by id */
    char currency[4];      /* ISO 4217 code */
};

/* How a field of an item is read and checked. */
enum field_type {
    F_STR,   /* a string of 1..FIELD_MAX bytes, copied: const char * */
    F_EAN13, /* a string of 13 digits with a valid check digit: const char * */
    F_INT64, /* an integer in lo..hi: int64_t */
    F_INT32, /* an integer in lo..hi: int32_t */
    F_BOOL,  /* true or false: bool */
};

/* One field of an item: the catalog's schema is this table. */
struct field {
    const char *name;     /* the JSON member */
    enum field_type type; /* what it holds */
    bool required;        /* a missing one refuses the catalog; else def applies */
    size_t offset;        /* in struct pe_item */
    int64_t lo, hi;       /* integers: the range accepted */
    int64_t def;          /* integers that are not required: the value when absent */
};

#define FIELD(n, t, req, lo, hi, def) {#n, t, req, offsetof(struct pe_item, n), lo, hi, def}

/* In the order they are checked (a refusal names the first bad one). Unknown members are
 * refused: a misspelt "weighed" would sell produce by the piece. */
static const struct field fields[] = {
    FIELD(id, F_STR, true, 0, 0, 0),
    FIELD(barcode, F_EAN13, true, 0, 0, 0),
    FIELD(name, F_STR, true, 0, 0, 0),
    FIELD(category, F_STR, true, 0, 0, 0),
    FIELD(brand, F_STR, true, 0, 0, 0),
    FIELD(price, F_INT64, true, 0, INT64_C(1000000000), 0),
    FIELD(tax_bp, F_INT32, true, 0, 10000, 0),
    FIELD(weighed, F_BOOL, true, 0, 0, 0),
    FIELD(item_id, F_INT64, false, 0, INT32_MAX, -1),
    FIELD(supplier_id, F_INT64, false, 0, INT32_MAX, 0),
    FIELD(safety_stock, F_INT64, false, 0, INT32_MAX, 0),
};

#define NFIELDS (sizeof fields / sizeof fields[0])

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int pe_ean13_check_digit(const char *first12)
{
    if (!first12)
        return -1;
    int sum = 0;
    for (int i = 0; i < 12; i++) {
        char c = first12[i];
        if (c < '0' || c > '9')
            return -1;
        /* Counted from the left, odd positions weigh 1 and even positions weigh 3. */
        sum += (c - '0') * ((i % 2) ? 3 : 1);
    }
    return (10 - sum % 10) % 10;
}

bool pe_ean13_valid(const char *s)
{
    if (!s || strlen(s) != 13)
        return false;
    int check = pe_ean13_check_digit(s);
    return check >= 0 && s[12] == '0' + check;
}

/* FNV-1a: small, and good enough for a table kept under half full. */
static size_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

/* The slot holding key, or the empty slot where it would go. */
static size_t table_find(const struct pe_catalog *cat, const size_t *table, const char *key,
                         bool by_id)
{
    size_t mask = cat->slots - 1;
    size_t i = hash_str(key) & mask;
    while (table[i]) {
        const struct pe_item *it = &cat->items[table[i] - 1];
        if (strcmp(by_id ? it->id : it->barcode, key) == 0)
            return i;
        i = (i + 1) & mask;
    }
    return i;
}

void pe_catalog_destroy(struct pe_catalog *cat)
{
    if (!cat)
        return;
    for (size_t i = 0; i < cat->count; i++)
        for (size_t f = 0; f < NFIELDS; f++)
            if (fields[f].type == F_STR || fields[f].type == F_EAN13)
                free(*(char **)((char *)&cat->items[i] + fields[f].offset));
    free(cat->items);
    free(cat->by_barcode);
    free(cat->by_id);
    free(cat);
}

size_t pe_catalog_count(const struct pe_catalog *cat)
{
    return cat ? cat->count : 0;
}

const struct pe_item *pe_catalog_at(const struct pe_catalog *cat, size_t i)
{
    return cat && i < cat->count ? &cat->items[i] : NULL;
}

const struct pe_item *pe_catalog_by_barcode(const struct pe_catalog *cat, const char *barcode)
{
    if (!cat || !barcode || cat->count == 0)
        return NULL;
    size_t slot = table_find(cat, cat->by_barcode, barcode, false);
    return cat->by_barcode[slot] ? &cat->items[cat->by_barcode[slot] - 1] : NULL;
}

const struct pe_item *pe_catalog_by_id(const struct pe_catalog *cat, const char *id)
{
    if (!cat || !id || cat->count == 0)
        return NULL;
    size_t slot = table_find(cat, cat->by_id, id, true);
    return cat->by_id[slot] ? &cat->items[cat->by_id[slot] - 1] : NULL;
}

const char *pe_catalog_currency(const struct pe_catalog *cat)
{
    return cat ? cat->currency : "";
}

/* Read a whole file into a NUL-terminated buffer the caller frees. */

/* 1-based line of position pos in text, for JSON syntax errors. */
static int line_of(const char *text, const char *pos)
{
    int line = 1;
    for (const char *p = text; p < pos && *p; p++)
        line += *p == '\n';
    return line;
}

/* Read field f of item i (obj) into it. */
static int load_field(const char *path, size_t i, const cJSON *obj, const struct field *f,
                      struct pe_item *it, char *err, size_t errlen)
{
    char *slot = (char *)it + f->offset;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f->name);
    if (!v && f->required) {
        seterr(err, errlen, "%s: items[%zu].%s: missing", path, i, f->name);
        return PE_EINVAL;
    }
    if (!v && f->type != F_INT64 && f->type != F_INT32)
        return PE_OK; /* an optional string or flag: NULL or false */
    switch (f->type) {
    case F_STR:
    case F_EAN13: {
        if (!cJSON_IsString(v) || !v->valuestring) {
            seterr(err, errlen, "%s: items[%zu].%s: not a string", path, i, f->name);
            return PE_EINVAL;
        }
        const char *s = v->valuestring;
        size_t n = strlen(s);
        if (n == 0 || n > FIELD_MAX) {
            seterr(err, errlen, "%s: items[%zu].%s: must be 1..%d bytes long", path, i, f->name,
                   FIELD_MAX);
            return PE_EINVAL;
        }
        if (f->type == F_EAN13 && (n != 13 || pe_ean13_check_digit(s) < 0 || s[12] < '0' ||
                                   s[12] > '9')) {
            seterr(err, errlen, "%s: items[%zu].%s: \"%s\" is not 13 digits", path, i, f->name,
                   s);
            return PE_EINVAL;
        }
        if (f->type == F_EAN13 && !pe_ean13_valid(s)) {
            seterr(err, errlen, "%s: items[%zu].%s: bad EAN-13 check digit (expected %d)", path,
                   i, f->name, pe_ean13_check_digit(s));
            return PE_EINVAL;
        }
        char *copy = strdup(s);
        if (!copy)
            return PE_ENOMEM;
        memcpy(slot, &copy, sizeof copy);
        return PE_OK;
    }
    case F_INT64:
    case F_INT32: {
        int64_t n = f->def;
        if (v) {
            /* Floats and strings are refused, and so are doubles past 2^53 (not exact). */
            if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
                fabs(v->valuedouble) > JSON_INT_MAX) {
                seterr(err, errlen, "%s: items[%zu].%s: not an integer", path, i, f->name);
                return PE_EINVAL;
            }
            n = (int64_t)v->valuedouble;
            if (n < f->lo || n > f->hi) {
                seterr(err, errlen, "%s: items[%zu].%s: %lld is outside %lld..%lld", path, i,
                       f->name, (long long)n, (long long)f->lo, (long long)f->hi);
                return PE_EINVAL;
            }
        }
        if (f->type == F_INT32) {
            int32_t n32 = (int32_t)n;
            memcpy(slot, &n32, sizeof n32);
        } else {
            memcpy(slot, &n, sizeof n);
        }
        return PE_OK;
    }
    case F_BOOL: {
        if (!cJSON_IsBool(v)) {
            seterr(err, errlen, "%s: items[%zu].%s: not true or false", path, i, f->name);
            return PE_EINVAL;
        }
        bool b = cJSON_IsTrue(v);
        memcpy(slot, &b, sizeof b);
        return PE_OK;
    }
    }
    seterr(err, errlen, "%s: items[%zu].%s: unknown field type", path, i, f->name);
    return PE_EINVAL;
}

static int load_item(const char *path, size_t i, const cJSON *obj, struct pe_item *it, char *err,
                     size_t errlen)
{
    if (!cJSON_IsObject(obj)) {
        seterr(err, errlen, "%s: items[%zu]: not an object", path, i);
        return PE_EINVAL;
    }
    for (const cJSON *m = obj->child; m; m = m->next) {
        bool known = false;
        for (size_t k = 0; k < NFIELDS; k++)
            known |= m->string && strcmp(m->string, fields[k].name) == 0;
        if (!known) {
            seterr(err, errlen, "%s: items[%zu].%s: unknown field", path, i,
                   m->string ? m->string : "?");
            return PE_EINVAL;
        }
    }
    for (size_t k = 0; k < NFIELDS; k++) {
        int rc = load_field(path, i, obj, &fields[k], it, err, errlen);
        if (rc)
            return rc;
    }
    return PE_OK;
}

static int load_currency(const char *path, const cJSON *root, char out[4], char *err, size_t errlen)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "currency");
    if (!c) {
        seterr(err, errlen, "%s: currency: missing", path);
        return PE_EINVAL;
    }
    const char *s = cJSON_IsString(c) ? c->valuestring : NULL;
    if (!s || strlen(s) != 3 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' ||
        s[2] < 'A' || s[2] > 'Z') {
        seterr(err, errlen, "%s: currency: not an ISO 4217 code (3 upper-case letters)", path);
        return PE_EINVAL;
    }
    memcpy(out, s, 4);
    return PE_OK;
}

int pe_catalog_load(const char *path, struct pe_catalog **out, char *err, size_t errlen)
{
    if (!path || !out)
        return PE_EINVAL;
    *out = NULL;
    char *text = NULL;
    cJSON *root = NULL;
    struct pe_catalog *cat = NULL;
    int rc = pe_file_read(path, MAX_CATALOG_BYTES, &text, NULL, err, errlen);
    if (rc)
        return rc;

    const char *end = NULL;
    root = cJSON_ParseWithOpts(text, &end, true);
    if (!root) {
        seterr(err, errlen, "%s:%d: malformed JSON", path, line_of(text, end ? end : text));
        rc = PE_EPARSE;
        goto cleanup_text;
    }
    if (!cJSON_IsObject(root)) {
        seterr(err, errlen, "%s: not a JSON object", path);
        rc = PE_EINVAL;
        goto cleanup_json;
    }
    for (const cJSON *f = root->child; f; f = f->next) {
        if (!f->string || (strcmp(f->string, "currency") && strcmp(f->string, "items"))) {
            seterr(err, errlen, "%s: %s: unknown field", path, f->string ? f->string : "?");
            rc = PE_EINVAL;
            goto cleanup_json;
        }
    }
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items");
    if (!cJSON_IsArray(items)) {
        seterr(err, errlen, "%s: items: %s", path, items ? "not an array" : "missing");
        rc = PE_EINVAL;
        goto cleanup_json;
    }

    cat = calloc(1, sizeof *cat);
    if (!cat) {
        rc = PE_ENOMEM;
        goto cleanup_json;
    }
    if ((rc = load_currency(path, root, cat->currency, err, errlen)))
        goto cleanup_cat;

    size_t n = (size_t)cJSON_GetArraySize(items);
    cat->slots = 16;
    while (cat->slots < 2 * n + 1)
        cat->slots *= 2;
    cat->items = calloc(n ? n : 1, sizeof *cat->items);
    cat->by_barcode = calloc(cat->slots, sizeof *cat->by_barcode);
    cat->by_id = calloc(cat->slots, sizeof *cat->by_id);
    if (!cat->items || !cat->by_barcode || !cat->by_id) {
        rc = PE_ENOMEM;
        goto cleanup_cat;
    }

    size_t i = 0;
    for (const cJSON *obj = items->child; obj; obj = obj->next, i++) {
        struct pe_item *it = &cat->items[i];
        cat->count = i + 1; /* so that destroy frees what this item got so far */
        if ((rc = load_item(path, i, obj, it, err, errlen)))
            goto cleanup_cat;
        size_t slot = table_find(cat, cat->by_barcode, it->barcode, false);
        if (cat->by_barcode[slot]) {
            seterr(err, errlen, "%s: items[%zu].barcode: duplicate of items[%zu] (%s)", path, i,
                   cat->by_barcode[slot] - 1, it->barcode);
            rc = PE_EINVAL;
            goto cleanup_cat;
        }
        cat->by_barcode[slot] = i + 1;
        slot = table_find(cat, cat->by_id, it->id, true);
        if (cat->by_id[slot]) {
            seterr(err, errlen, "%s: items[%zu].id: duplicate of items[%zu] (%s)", path, i,
                   cat->by_id[slot] - 1, it->id);
            rc = PE_EINVAL;
            goto cleanup_cat;
        }
        cat->by_id[slot] = i + 1;
    }
    cat->count = i;
    *out = cat;
    cat = NULL;
    rc = PE_OK;

cleanup_cat:
    pe_catalog_destroy(cat);
cleanup_json:
    cJSON_Delete(root);
cleanup_text:
    free(text);
    return rc;
}

/* ---- documents (stubs: the implementation follows on this branch) ---- */

const char *pe_promo_kind_name(enum pe_promo_kind k)
{
    static const char *const names[PE_PROMO__COUNT] = {
#define PE__PROMO_NAME(name, str) [PE_PROMO_##name] = str,
        PE_PROMO_KINDS(PE__PROMO_NAME)
#undef PE__PROMO_NAME
    };
    return (unsigned)k < PE_PROMO__COUNT ? names[k] : NULL;
}

int pe_catalog_doc_parse_item(const cJSON *doc, struct pe_item_doc *out, char *why, size_t len)
{
    (void)doc, (void)out;
    seterr(why, len, "not implemented yet");
    return PE_ENOTSUP;
}

int pe_catalog_doc_parse_promotion(const cJSON *doc, struct pe_promotion *out, char *why,
                                   size_t len)
{
    (void)doc, (void)out;
    seterr(why, len, "not implemented yet");
    return PE_ENOTSUP;
}

int pe_catalog_content_hash(const cJSON *const *items, size_t nitems,
                            const cJSON *const *promotions, size_t npromotions,
                            char out[PE_SHA256_HEXLEN], char *why, size_t len)
{
    (void)items, (void)nitems, (void)promotions, (void)npromotions, (void)out;
    seterr(why, len, "not implemented yet");
    return PE_ENOTSUP;
}
