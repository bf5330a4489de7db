/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog.c - the catalog's schema (see catalog.h): item and promotion documents parsed,
 * checked and written back, the catalog file, catalogs built from documents, the price in force,
 * the content hash, and EAN-13.
 *
 * Layout: the tables first (item_fields[] is the schema of an item in both forms, the file's
 * and the wire's; promo_fields[] a promotion's), then the readers of one member each, the item
 * and promotion parsers driven by the tables, the writers of the normal form (driven by the same
 * tables), copies, keys, the hash, and the in-memory catalog.
 *
 * The invariant: a document is either refused with one reason naming the first bad member, or
 * accepted whole; nothing that reaches a struct pe_item or pe_promotion from here is out of the
 * ranges catalog.h states. Parsers borrow the document's strings and never allocate, so a
 * thousand documents are checked without a malloc; what must outlive the document is copied in
 * one allocation per item (pe_item_dup). An in-memory catalog never changes once built, so the
 * pointers it hands out stay valid until pe_catalog_destroy.
 */
#include "posedge/catalog.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/file.h"
#include "posedge/json.h"
#include "posedge/sha256_compat.h"

#define JSON_INT_MAX 9007199254740991.0 /* 2^53 - 1: the doubles that are exact */
#define MAX_CATALOG_BYTES (16 * 1024 * 1024) /* a catalog file of ~50,000 items */
#define PRIORITY_MAX 1000000                 /* priorities: -10^6..10^6 */
#define GROUP_MAX 1000                       /* n of n_for_m and mix_match */
#define EPOCH_TEXT "1970-01-01T00:00:00.000Z" /* a file price's window starts here */

/* ---- errors ---- */

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

/*
 * A refusal of member name: "<pre><name>: <reason>". pre names where the member is ("items[3].",
 * "items[3]: ", or ""); with an empty name the reason is about pre itself ("items[3]: not an
 * object"). Returns PE_EINVAL.
 */
static int refuse(char *why, size_t len, const char *pre, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int refuse(char *why, size_t len, const char *pre, const char *name, const char *fmt, ...)
{
    if (!why || len == 0)
        return PE_EINVAL;
    char where[PE_CATALOG_WHY_MAX];
    snprintf(where, sizeof where, "%s%s", pre, name);
    size_t n = strlen(where);
    while (n && (where[n - 1] == '.' || where[n - 1] == ' ' || where[n - 1] == ':'))
        where[--n] = '\0';
    int k = snprintf(why, len, "%s%s", where, n ? ": " : "");
    if (k >= 0 && (size_t)k < len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why + k, len - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return PE_EINVAL;
}

/* ---- EAN-13 ---- */

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

/* ---- the schema ---- */

/* How a member is read and checked. */
enum field_type {
    F_VERSION,  /* the integer PE_CATALOG_DOC_VERSION */
    F_ID,       /* a document id (pe_catalog_id_valid): const char * */
    F_TEXT,     /* a string of 1..PE_CATALOG_TEXT_MAX bytes: const char * */
    F_EAN13,    /* a string of 13 digits with a valid check digit: const char * */
    F_EAN13S,   /* a list of 1..PE_CATALOG_BARCODES_MAX distinct EAN-13s: the barcodes */
    F_INT64,    /* an integer in lo..hi: int64_t */
    F_INT32,    /* an integer in lo..hi: int32_t */
    F_BOOL,     /* true or false: bool */
    F_CURRENCY, /* an ISO 4217 code: char[4] */
    F_TIME,     /* a UTC time: int64_t ms */
    F_TIME_END, /* a UTC time, or null: int64_t ms, PE_CATALOG_OPEN for null or absent */
    F_PRICES,   /* the list of price windows */
    F_KIND,     /* a promotion kind: enum pe_promo_kind */
    F_TARGET,   /* a promotion target: {"item":ID} or {"category":TEXT} */
};

/* The forms a member belongs to (bit masks). */
#define IN_FILE 1u  /* catalog.json's items */
#define IN_DOC 2u   /* item documents (pos.catalog) */
#define IN_SHORT 4u /* the shorthand of an item document's prices */

/* One member of an item or a promotion: the schemas are these tables. */
struct field {
    const char *name;     /* the JSON member */
    enum field_type type; /* what it holds */
    unsigned forms;       /* items: IN_* where it may appear; promotions: PROMO_BIT of kinds */
    unsigned required;    /* of those, where it must */
    size_t offset;        /* in struct pe_item_doc or struct pe_promotion */
    int64_t lo, hi;       /* integers: the range accepted */
    int64_t def;          /* integers that may be absent: the value then */
    unsigned has;         /* items: the PE_ITEM_HAS_ bit an optional member sets */
};

#define ITEM(n, member, t, forms, req, lo, hi, def, has)                                           \
    {n, t, forms, req, offsetof(struct pe_item_doc, member), lo, hi, def, has}
#define BOTH (IN_FILE | IN_DOC)

/* In the order they are checked (a refusal names the first bad one). The file's members come
 * in the order catalog.json always had, so its messages are unchanged. */
static const struct field item_fields[] = {
    ITEM("v", item, F_VERSION, IN_DOC, IN_DOC, 0, 0, 0, 0),
    ITEM("id", item.id, F_TEXT, IN_FILE, IN_FILE, 0, 0, 0, 0),
    ITEM("id", item.id, F_ID, IN_DOC, IN_DOC, 0, 0, 0, 0),
    ITEM("barcode", item.barcode, F_EAN13, IN_FILE, IN_FILE, 0, 0, 0, 0),
    ITEM("barcodes", barcodes, F_EAN13S, IN_DOC, IN_DOC, 0, 0, 0, 0),
    ITEM("name", item.name, F_TEXT, BOTH, BOTH, 0, 0, 0, 0),
    ITEM("category", item.category, F_TEXT, BOTH, BOTH, 0, 0, 0, 0),
    ITEM("brand", item.brand, F_TEXT, BOTH, BOTH, 0, 0, 0, 0),
    ITEM("price", item.price, F_INT64, IN_FILE | IN_SHORT, IN_FILE, 0, PE_CATALOG_MONEY_MAX, 0,
         0),
    ITEM("tax_bp", item.tax_bp, F_INT32, BOTH, BOTH, 0, 10000, 0, 0),
    ITEM("weighed", item.weighed, F_BOOL, BOTH, BOTH, 0, 0, 0, 0),
    ITEM("currency", currency, F_CURRENCY, IN_DOC, IN_DOC, 0, 0, 0, 0),
    /* The shorthand's window is read into prices[0] first; prices (the list, or the check
     * that exactly one form is there) comes after it. */
    ITEM("effective_from", prices[0].from_ms, F_TIME, IN_SHORT, 0, 0, 0, 0, 0),
    ITEM("effective_to", prices[0].to_ms, F_TIME_END, IN_SHORT, 0, 0, 0, 0, 0),
    ITEM("prices", prices, F_PRICES, IN_DOC, 0, 0, 0, 0, 0),
    ITEM("item_id", item.item_id, F_INT64, BOTH, 0, 0, INT32_MAX, -1, PE_ITEM_HAS_ITEM_ID),
    ITEM("supplier_id", item.supplier_id, F_INT64, BOTH, 0, 0, INT32_MAX, 0,
         PE_ITEM_HAS_SUPPLIER_ID),
    ITEM("safety_stock", item.safety_stock, F_INT64, BOTH, 0, 0, INT32_MAX, 0,
         PE_ITEM_HAS_SAFETY_STOCK),
};
#define NITEM_FIELDS (sizeof item_fields / sizeof item_fields[0])

/* The members of one entry of "prices". */
static const struct field price_fields[] = {
    {"price", F_INT64, 1, 1, offsetof(struct pe_price, price), 0, PE_CATALOG_MONEY_MAX, 0, 0},
    {"effective_from", F_TIME, 1, 1, offsetof(struct pe_price, from_ms), 0, 0, 0, 0},
    {"effective_to", F_TIME_END, 1, 0, offsetof(struct pe_price, to_ms), 0, 0, 0, 0},
};
#define NPRICE_FIELDS (sizeof price_fields / sizeof price_fields[0])

#define PROMO_BIT(k) (1u << (k))
#define ALL_KINDS ((1u << PE_PROMO__COUNT) - 1)
#define PROMO(n, member, t, kinds, req, lo, hi, def)                                               \
    {n, t, kinds, req, offsetof(struct pe_promotion, member), lo, hi, def, 0}

/* A promotion's members; forms and required are masks of the kinds they belong to. v, id, name
 * and kind come first: what a kind needs is judged once the kind is known. */
static const struct field promo_fields[] = {
    PROMO("v", id, F_VERSION, ALL_KINDS, ALL_KINDS, 0, 0, 0),
    PROMO("id", id, F_ID, ALL_KINDS, ALL_KINDS, 0, 0, 0),
    PROMO("name", name, F_TEXT, ALL_KINDS, ALL_KINDS, 0, 0, 0),
    PROMO("kind", kind, F_KIND, ALL_KINDS, ALL_KINDS, 0, 0, 0),
    PROMO("target", item, F_TARGET, ALL_KINDS, ALL_KINDS, 0, 0, 0),
    PROMO("percent_bp", percent_bp, F_INT32, PROMO_BIT(PE_PROMO_PERCENT),
          PROMO_BIT(PE_PROMO_PERCENT), 1, 10000, 0),
    PROMO("amount", amount, F_INT64, PROMO_BIT(PE_PROMO_AMOUNT), PROMO_BIT(PE_PROMO_AMOUNT), 1,
          PE_CATALOG_MONEY_MAX, 0),
    PROMO("n", n, F_INT32, PROMO_BIT(PE_PROMO_N_FOR_M) | PROMO_BIT(PE_PROMO_MIX_MATCH),
          PROMO_BIT(PE_PROMO_N_FOR_M) | PROMO_BIT(PE_PROMO_MIX_MATCH), 2, GROUP_MAX, 0),
    PROMO("m", m, F_INT32, PROMO_BIT(PE_PROMO_N_FOR_M), PROMO_BIT(PE_PROMO_N_FOR_M), 1,
          GROUP_MAX - 1, 0),
    PROMO("price", price, F_INT64, PROMO_BIT(PE_PROMO_MIX_MATCH), PROMO_BIT(PE_PROMO_MIX_MATCH),
          0, PE_CATALOG_MONEY_MAX, 0),
    PROMO("from", from_ms, F_TIME, ALL_KINDS, ALL_KINDS, 0, 0, 0),
    PROMO("to", to_ms, F_TIME_END, ALL_KINDS, 0, 0, 0, 0),
    PROMO("priority", priority, F_INT32, ALL_KINDS, 0, -PRIORITY_MAX, PRIORITY_MAX, 0),
};
#define NPROMO_FIELDS (sizeof promo_fields / sizeof promo_fields[0])

static const char *const kind_names[PE_PROMO__COUNT] = {
#define PE__PROMO_NAME(name, str) [PE_PROMO_##name] = str,
    PE_PROMO_KINDS(PE__PROMO_NAME)
#undef PE__PROMO_NAME
};

const char *pe_promo_kind_name(enum pe_promo_kind k)
{
    return (unsigned)k < PE_PROMO__COUNT ? kind_names[k] : NULL;
}

/* ---- readers of one member ---- */

bool pe_catalog_id_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n >= PE_CATALOG_ID_MAX)
        return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* True when s is well-formed UTF-8: what the canonical writer will accept. */
static bool utf8_ok(const char *s)
{
    cJSON str = {.type = cJSON_String, .valuestring = (char *)s};
    char *out = NULL;
    if (pe_json_canonical(&str, &out, NULL) != PE_OK)
        return false;
    free(out);
    return true;
}

static bool currency_ok(const char *s)
{
    return s && strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' &&
           s[2] >= 'A' && s[2] <= 'Z';
}

/* An integer member of range lo..hi into *out. */
static int read_int(const cJSON *v, const char *pre, const char *name, int64_t lo, int64_t hi,
                    int64_t *out, char *why, size_t len)
{
    /* Floats and strings are refused, and so are doubles past 2^53 (not exact). */
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        fabs(v->valuedouble) > JSON_INT_MAX)
        return refuse(why, len, pre, name, "not an integer");
    int64_t n = (int64_t)v->valuedouble;
    if (n < lo || n > hi)
        return refuse(why, len, pre, name, "%lld is outside %lld..%lld", (long long)n,
                      (long long)lo, (long long)hi);
    *out = n;
    return PE_OK;
}

/* A UTC time in the one format, as it formats back (so "2026-12-08T06:00:00.000Z" only). */
static int read_time(const cJSON *v, const char *pre, const char *name, bool null_ok,
                     int64_t *out, char *why, size_t len)
{
    if (null_ok && cJSON_IsNull(v)) {
        *out = PE_CATALOG_OPEN;
        return PE_OK;
    }
    int64_t ms = 0;
    if (!cJSON_IsString(v) || !v->valuestring || pe_time_parse(v->valuestring, &ms) != PE_OK)
        return refuse(why, len, pre, name, "not a UTC time (YYYY-MM-DDTHH:MM:SS.mmmZ)%s",
                      null_ok ? " or null" : "");
    *out = ms;
    return PE_OK;
}

/* A string member: an id, a text or an EAN-13 (checked as its type says). */
static int read_str(const cJSON *v, enum field_type t, const char *pre, const char *name,
                    const char **out, char *why, size_t len)
{
    if (!cJSON_IsString(v) || !v->valuestring)
        return refuse(why, len, pre, name, "not a string");
    const char *s = v->valuestring;
    size_t n = strlen(s);
    if (t == F_ID && !pe_catalog_id_valid(s))
        return refuse(why, len, pre, name, "must be 1..%d printable ASCII characters",
                      PE_CATALOG_ID_MAX - 1);
    if (t != F_ID && (n == 0 || n > PE_CATALOG_TEXT_MAX))
        return refuse(why, len, pre, name, "must be 1..%d bytes long", PE_CATALOG_TEXT_MAX);
    if (t == F_TEXT && !utf8_ok(s))
        return refuse(why, len, pre, name, "not UTF-8");
    if (t == F_EAN13 &&
        (n != 13 || pe_ean13_check_digit(s) < 0 || s[12] < '0' || s[12] > '9'))
        return refuse(why, len, pre, name, "\"%s\" is not 13 digits", s);
    if (t == F_EAN13 && !pe_ean13_valid(s))
        return refuse(why, len, pre, name, "bad EAN-13 check digit (expected %d)",
                      pe_ean13_check_digit(s));
    *out = s;
    return PE_OK;
}

/* Refuse members of obj that no row of table (in one of forms) names. */
static int unknown_members(const cJSON *obj, const struct field *table, size_t n, unsigned forms,
                           const char *pre, char *why, size_t len)
{
    for (const cJSON *m = obj->child; m; m = m->next) {
        bool known = false;
        for (size_t k = 0; k < n && !known; k++)
            known = m->string && strcmp(m->string, table[k].name) == 0 &&
                    (table[k].forms & forms) != 0;
        if (!known)
            return refuse(why, len, pre, m->string ? m->string : "?", "unknown field");
    }
    return PE_OK;
}

/* Duplicate members have no meaning (and no canonical form): the first is refused. */
static int duplicate_members(const cJSON *obj, const char *pre, char *why, size_t len)
{
    for (const cJSON *a = obj->child; a; a = a->next)
        for (const cJSON *b = a->next; b; b = b->next)
            if (a->string && b->string && strcmp(a->string, b->string) == 0)
                return refuse(why, len, pre, a->string, "given twice");
    return PE_OK;
}

/* Read the scalar member f of obj into base + f->offset. absent (may be NULL) says whether it
 * was missing; a missing member that is not required takes its default. */
static int read_scalar(const cJSON *obj, const struct field *f, bool required, void *base,
                       const char *pre, bool *absent, char *why, size_t len)
{
    char *slot = (char *)base + f->offset;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f->name);
    if (absent)
        *absent = v == NULL;
    if (!v && required)
        return refuse(why, len, pre, f->name, "missing");
    int rc = PE_OK;
    switch (f->type) {
    case F_VERSION: {
        int64_t ver = 0;
        if (v && (rc = read_int(v, pre, f->name, PE_CATALOG_DOC_VERSION, PE_CATALOG_DOC_VERSION,
                                &ver, why, len)))
            return rc;
        return PE_OK;
    }
    case F_ID:
    case F_TEXT:
    case F_EAN13: {
        const char *s = NULL;
        if (v && (rc = read_str(v, f->type, pre, f->name, &s, why, len)))
            return rc;
        memcpy(slot, &s, sizeof s);
        return PE_OK;
    }
    case F_INT64:
    case F_INT32: {
        int64_t n = f->def;
        if (v && (rc = read_int(v, pre, f->name, f->lo, f->hi, &n, why, len)))
            return rc;
        if (f->type == F_INT32) {
            int32_t n32 = (int32_t)n;
            memcpy(slot, &n32, sizeof n32);
        } else {
            memcpy(slot, &n, sizeof n);
        }
        return PE_OK;
    }
    case F_BOOL: {
        if (v && !cJSON_IsBool(v))
            return refuse(why, len, pre, f->name, "not true or false");
        bool b = v && cJSON_IsTrue(v);
        memcpy(slot, &b, sizeof b);
        return PE_OK;
    }
    case F_CURRENCY:
        if (v && (!cJSON_IsString(v) || !currency_ok(v->valuestring)))
            return refuse(why, len, pre, f->name,
                          "not an ISO 4217 code (3 upper-case letters)");
        memcpy(slot, v ? v->valuestring : "", v ? 4 : 1);
        return PE_OK;
    case F_TIME:
    case F_TIME_END: {
        int64_t ms = f->type == F_TIME_END ? PE_CATALOG_OPEN : 0;
        if (v && (rc = read_time(v, pre, f->name, f->type == F_TIME_END, &ms, why, len)))
            return rc;
        memcpy(slot, &ms, sizeof ms);
        return PE_OK;
    }
    case F_EAN13S:
    case F_PRICES:
    case F_KIND:
    case F_TARGET:
        break; /* read by their owners */
    }
    return refuse(why, len, pre, f->name, "not a scalar member");
}

/* ---- items ---- */

/* barcodes: a list of distinct EAN-13s. */
static int read_barcodes(const cJSON *v, struct pe_item_doc *d, const char *pre, char *why,
                         size_t len)
{
    if (!cJSON_IsArray(v))
        return refuse(why, len, pre, "barcodes", "not a list");
    int n = cJSON_GetArraySize(v);
    if (n < 1 || n > PE_CATALOG_BARCODES_MAX)
        return refuse(why, len, pre, "barcodes", "must hold 1..%d barcodes",
                      PE_CATALOG_BARCODES_MAX);
    int i = 0;
    char name[48];
    for (const cJSON *b = v->child; b; b = b->next, i++) {
        snprintf(name, sizeof name, "barcodes[%d]", i);
        int rc = read_str(b, F_EAN13, pre, name, &d->barcodes[i], why, len);
        if (rc)
            return rc;
        for (int k = 0; k < i; k++)
            if (strcmp(d->barcodes[k], d->barcodes[i]) == 0)
                return refuse(why, len, pre, name, "duplicate of barcodes[%d]", k);
    }
    d->item.nbarcodes = (size_t)n;
    return PE_OK;
}

/* One entry of prices (index i) into *p. */
static int read_price(const cJSON *v, int i, struct pe_price *p, const char *pre, char *why,
                      size_t len)
{
    char sub[PE_CATALOG_WHY_MAX];
    snprintf(sub, sizeof sub, "%.200sprices[%d].", pre, i);
    if (!cJSON_IsObject(v))
        return refuse(why, len, sub, "", "not an object");
    int rc = duplicate_members(v, sub, why, len);
    if (!rc)
        rc = unknown_members(v, price_fields, NPRICE_FIELDS, 1, sub, why, len);
    for (size_t k = 0; k < NPRICE_FIELDS && !rc; k++)
        rc = read_scalar(v, &price_fields[k], price_fields[k].required != 0, p, sub, NULL, why,
                         len);
    return rc;
}

static int by_from(const void *a, const void *b)
{
    const struct pe_price *x = a, *y = b;
    return (x->from_ms > y->from_ms) - (x->from_ms < y->from_ms);
}

/* The windows read (in document order, with their indexes) are sorted, checked for an end
 * after their start and for overlaps; the reason names the document's indexes. */
static int check_windows(struct pe_item_doc *d, bool shorthand, const char *pre, char *why,
                         size_t len)
{
    size_t n = d->item.nprices;
    int idx[PE_CATALOG_PRICES_MAX];
    for (size_t i = 0; i < n; i++) {
        struct pe_price *p = &d->prices[i];
        if (p->to_ms <= p->from_ms) {
            if (shorthand)
                return refuse(why, len, pre, "effective_to", "not after effective_from");
            char name[48];
            snprintf(name, sizeof name, "prices[%d].effective_to", (int)i);
            return refuse(why, len, pre, name, "not after effective_from");
        }
        idx[i] = (int)i;
    }
    /* Insertion sort carrying the document's indexes (n is small). */
    for (size_t i = 1; i < n; i++) {
        struct pe_price p = d->prices[i];
        int pi = idx[i];
        size_t k = i;
        while (k > 0 && by_from(&d->prices[k - 1], &p) > 0) {
            d->prices[k] = d->prices[k - 1];
            idx[k] = idx[k - 1];
            k--;
        }
        d->prices[k] = p;
        idx[k] = pi;
    }
    for (size_t i = 1; i < n; i++) {
        if (d->prices[i].from_ms < d->prices[i - 1].to_ms) {
            int a = idx[i] > idx[i - 1] ? idx[i] : idx[i - 1];
            int b = idx[i] > idx[i - 1] ? idx[i - 1] : idx[i];
            char name[48];
            snprintf(name, sizeof name, "prices[%d]", a);
            return refuse(why, len, pre, name, "overlaps prices[%d]", b);
        }
    }
    return PE_OK;
}

/* prices, or the shorthand; d->prices[0] may already hold what the shorthand's rows read. */
static int read_prices(const cJSON *obj, struct pe_item_doc *d, const char *pre, char *why,
                       size_t len)
{
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(obj, "prices");
    const cJSON *price = cJSON_GetObjectItemCaseSensitive(obj, "price");
    const cJSON *from = cJSON_GetObjectItemCaseSensitive(obj, "effective_from");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(obj, "effective_to");
    if (list && (price || from || to))
        return refuse(why, len, pre, price ? "price" : from ? "effective_from" : "effective_to",
                      "give prices or price, not both");
    if (!list) {
        if (!price)
            return refuse(why, len, pre, "prices", "missing");
        if (!from)
            return refuse(why, len, pre, "effective_from", "missing (the price's start)");
        /* The shorthand's members were read by their rows into prices[0] and item.price. */
        d->prices[0].price = d->item.price;
        d->item.nprices = 1;
        return check_windows(d, true, pre, why, len);
    }
    if (!cJSON_IsArray(list))
        return refuse(why, len, pre, "prices", "not a list");
    int n = cJSON_GetArraySize(list);
    if (n < 1 || n > PE_CATALOG_PRICES_MAX)
        return refuse(why, len, pre, "prices", "must hold 1..%d entries", PE_CATALOG_PRICES_MAX);
    int i = 0;
    for (const cJSON *p = list->child; p; p = p->next, i++) {
        int rc = read_price(p, i, &d->prices[i], pre, why, len);
        if (rc)
            return rc;
    }
    d->item.nprices = (size_t)n;
    return check_windows(d, false, pre, why, len);
}

/*
 * Parse obj as an item of form (IN_FILE or IN_DOC) into *d. pre prefixes every member's name
 * in a refusal ("cat.json: items[3]." or "").
 */
static int parse_item(const cJSON *obj, unsigned form, struct pe_item_doc *d, const char *pre,
                      char *why, size_t len)
{
    memset(d, 0, sizeof *d);
    d->item.item_id = -1;
    if (!cJSON_IsObject(obj))
        return refuse(why, len, pre, "", "not an object");
    unsigned forms = form == IN_DOC ? IN_DOC | IN_SHORT : form;
    int rc = duplicate_members(obj, pre, why, len);
    if (!rc)
        rc = unknown_members(obj, item_fields, NITEM_FIELDS, forms, pre, why, len);
    for (size_t k = 0; k < NITEM_FIELDS && !rc; k++) {
        const struct field *f = &item_fields[k];
        if (!(f->forms & forms))
            continue;
        if (f->type == F_EAN13S) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f->name);
            rc = v ? read_barcodes(v, d, pre, why, len) : refuse(why, len, pre, f->name, "missing");
        } else if (f->type == F_PRICES) {
            rc = read_prices(obj, d, pre, why, len);
        } else {
            bool absent = false;
            rc = read_scalar(obj, f, (f->required & form) != 0, d, pre, &absent, why, len);
            if (!rc && !absent)
                d->item.has |= f->has;
        }
    }
    if (rc)
        return rc;
    if (form == IN_FILE) {
        d->barcodes[0] = d->item.barcode;
        d->item.nbarcodes = 1;
        d->prices[0] = (struct pe_price){d->item.price, 0, PE_CATALOG_OPEN};
        d->item.nprices = 1;
    }
    d->item.barcode = d->barcodes[0];
    d->item.barcodes = d->barcodes;
    d->item.prices = d->prices;
    d->item.price = d->prices[0].price;
    return PE_OK;
}

int pe_catalog_doc_parse_item(const cJSON *doc, struct pe_item_doc *out, char *why, size_t len)
{
    if (!out)
        return PE_EINVAL;
    return parse_item(doc, IN_DOC, out, "", why, len);
}

/* ---- promotions ---- */

/* target: {"item":ID} or {"category":TEXT}, exactly one. */
static int read_target(const cJSON *v, struct pe_promotion *p, const char *pre, char *why,
                       size_t len)
{
    if (!v)
        return refuse(why, len, pre, "target", "missing");
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(v, "item");
    const cJSON *cat = cJSON_GetObjectItemCaseSensitive(v, "category");
    if (!cJSON_IsObject(v) || cJSON_GetArraySize(v) != 1 || (!it && !cat))
        return refuse(why, len, pre, "target",
                      "expected {\"item\":ID} or {\"category\":NAME}");
    char sub[PE_CATALOG_WHY_MAX];
    snprintf(sub, sizeof sub, "%.200starget.", pre);
    if (it)
        return read_str(it, F_ID, sub, "item", &p->item, why, len);
    return read_str(cat, F_TEXT, sub, "category", &p->category, why, len);
}

static int read_kind(const cJSON *v, struct pe_promotion *p, const char *pre, char *why,
                     size_t len)
{
    for (int k = 0; v && cJSON_IsString(v) && k < PE_PROMO__COUNT; k++) {
        if (strcmp(v->valuestring, kind_names[k]) == 0) {
            p->kind = (enum pe_promo_kind)k;
            return PE_OK;
        }
    }
    return refuse(why, len, pre, "kind", v ? "expected percent, amount, n_for_m or mix_match"
                                           : "missing");
}

static int parse_promotion(const cJSON *obj, struct pe_promotion *p, const char *pre, char *why,
                           size_t len)
{
    memset(p, 0, sizeof *p);
    if (!cJSON_IsObject(obj))
        return refuse(why, len, pre, "", "not an object");
    int rc = duplicate_members(obj, pre, why, len);
    if (!rc)
        rc = unknown_members(obj, promo_fields, NPROMO_FIELDS, ALL_KINDS, pre, why, len);
    for (size_t k = 0; k < NPROMO_FIELDS && !rc; k++) {
        const struct field *f = &promo_fields[k];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, f->name);
        unsigned bit = PROMO_BIT(p->kind);
        if (f->type == F_KIND) {
            rc = read_kind(v, p, pre, why, len);
        } else if (f->type == F_TARGET) {
            rc = read_target(v, p, pre, why, len);
            if (!rc && p->kind == PE_PROMO_MIX_MATCH && !p->category)
                rc = refuse(why, len, pre, "target", "mix_match needs a category");
        } else if (v && !(f->forms & bit)) {
            rc = refuse(why, len, pre, f->name, "not a member of a %s promotion",
                        kind_names[p->kind]);
        } else if (f->forms & bit) {
            rc = read_scalar(obj, f, (f->required & bit) != 0, p, pre, NULL, why, len);
        }
    }
    if (rc)
        return rc;
    if (p->kind == PE_PROMO_N_FOR_M && p->m >= p->n)
        return refuse(why, len, pre, "m", "must be below n (%d)", (int)p->n);
    if (p->to_ms <= p->from_ms)
        return refuse(why, len, pre, "to", "not after from");
    return PE_OK;
}

int pe_catalog_doc_parse_promotion(const cJSON *doc, struct pe_promotion *out, char *why,
                                   size_t len)
{
    if (!out)
        return PE_EINVAL;
    return parse_promotion(doc, out, "", why, len);
}

/* ---- the normal form ---- */

static bool add_time(cJSON *o, const char *key, int64_t ms)
{
    if (ms == PE_CATALOG_OPEN)
        return cJSON_AddNullToObject(o, key) != NULL;
    char ts[PE_TIME_STRLEN];
    pe_time_format(ms, ts);
    return cJSON_AddStringToObject(o, key, ts) != NULL;
}

/* Write the scalar member f of base into o. */
static bool write_scalar(cJSON *o, const struct field *f, const void *base)
{
    const char *slot = (const char *)base + f->offset;
    switch (f->type) {
    case F_VERSION:
        return pe_json_add_int(o, f->name, PE_CATALOG_DOC_VERSION) == PE_OK;
    case F_ID:
    case F_TEXT:
    case F_EAN13: {
        const char *s;
        memcpy(&s, slot, sizeof s);
        return s && cJSON_AddStringToObject(o, f->name, s) != NULL;
    }
    case F_INT64: {
        int64_t v;
        memcpy(&v, slot, sizeof v);
        return pe_json_add_int(o, f->name, v) == PE_OK;
    }
    case F_INT32: {
        int32_t v;
        memcpy(&v, slot, sizeof v);
        return pe_json_add_int(o, f->name, v) == PE_OK;
    }
    case F_BOOL: {
        bool b;
        memcpy(&b, slot, sizeof b);
        return cJSON_AddBoolToObject(o, f->name, b) != NULL;
    }
    case F_CURRENCY:
        return cJSON_AddStringToObject(o, f->name, slot) != NULL;
    case F_TIME:
    case F_TIME_END: {
        int64_t ms;
        memcpy(&ms, slot, sizeof ms);
        return add_time(o, f->name, ms);
    }
    case F_EAN13S:
    case F_PRICES:
    case F_KIND:
    case F_TARGET:
        break;
    }
    return false;
}

int pe_catalog_item_json(const struct pe_item *it, const char *currency, cJSON **out)
{
    if (!it || !out || !currency_ok(currency) || !it->nbarcodes ||
        it->nbarcodes > PE_CATALOG_BARCODES_MAX || !it->nprices ||
        it->nprices > PE_CATALOG_PRICES_MAX)
        return PE_EINVAL;
    /* The scalar rows read a struct pe_item_doc; build one over it (strings borrowed). */
    struct pe_item_doc d;
    memset(&d, 0, sizeof d);
    d.item = *it;
    memcpy(d.currency, currency, 4);
    cJSON *o = cJSON_CreateObject(), *arr = NULL;
    bool ok = o != NULL;
    for (size_t k = 0; ok && k < NITEM_FIELDS; k++) {
        const struct field *f = &item_fields[k];
        if (!(f->forms & IN_DOC))
            continue;
        if (f->has && !(it->has & f->has))
            continue; /* an optional member the source did not give */
        if (f->type == F_EAN13S) {
            ok = (arr = cJSON_AddArrayToObject(o, f->name)) != NULL;
            for (size_t i = 0; ok && i < it->nbarcodes; i++)
                ok = cJSON_AddItemToArray(arr, cJSON_CreateString(it->barcodes[i]));
        } else if (f->type == F_PRICES) {
            ok = (arr = cJSON_AddArrayToObject(o, f->name)) != NULL;
            for (size_t i = 0; ok && i < it->nprices; i++) {
                cJSON *p = cJSON_CreateObject();
                ok = p && cJSON_AddItemToArray(arr, p);
                if (!ok) {
                    cJSON_Delete(p);
                    break;
                }
                for (size_t n = 0; ok && n < NPRICE_FIELDS; n++)
                    ok = write_scalar(p, &price_fields[n], &it->prices[i]);
            }
        } else {
            ok = write_scalar(o, f, &d);
        }
    }
    if (!ok) {
        cJSON_Delete(o);
        return PE_ENOMEM;
    }
    *out = o;
    return PE_OK;
}

int pe_catalog_promotion_json(const struct pe_promotion *p, cJSON **out)
{
    if (!p || !out || (unsigned)p->kind >= PE_PROMO__COUNT || (!p->item == !p->category))
        return PE_EINVAL;
    cJSON *o = cJSON_CreateObject(), *t = NULL;
    bool ok = o != NULL;
    unsigned bit = PROMO_BIT(p->kind);
    for (size_t k = 0; ok && k < NPROMO_FIELDS; k++) {
        const struct field *f = &promo_fields[k];
        if (f->type == F_KIND)
            ok = cJSON_AddStringToObject(o, f->name, kind_names[p->kind]) != NULL;
        else if (f->type == F_TARGET)
            ok = (t = cJSON_AddObjectToObject(o, f->name)) &&
                 cJSON_AddStringToObject(t, p->item ? "item" : "category",
                                         p->item ? p->item : p->category);
        else if (f->forms & bit)
            ok = write_scalar(o, f, p);
    }
    if (!ok) {
        cJSON_Delete(o);
        return PE_ENOMEM;
    }
    *out = o;
    return PE_OK;
}

int pe_catalog_doc_normalize_item(const cJSON *doc, cJSON **out, char *why, size_t len)
{
    struct pe_item_doc d;
    int rc = parse_item(doc, IN_DOC, &d, "", why, len);
    return rc ? rc : pe_catalog_item_json(&d.item, d.currency, out);
}

int pe_catalog_doc_normalize_promotion(const cJSON *doc, cJSON **out, char *why, size_t len)
{
    struct pe_promotion p;
    int rc = parse_promotion(doc, &p, "", why, len);
    return rc ? rc : pe_catalog_promotion_json(&p, out);
}

/* ---- copies ---- */

int pe_item_dup(const struct pe_item *it, struct pe_item **out)
{
    if (!it || !out)
        return PE_EINVAL;
    const char *strs[] = {it->id, it->name, it->category, it->brand};
    size_t nstr = sizeof strs / sizeof strs[0];
    size_t bytes = sizeof(struct pe_item) + it->nprices * sizeof(struct pe_price) +
                   it->nbarcodes * sizeof(char *);
    for (size_t i = 0; i < nstr; i++)
        bytes += strlen(strs[i]) + 1;
    for (size_t i = 0; i < it->nbarcodes; i++)
        bytes += strlen(it->barcodes[i]) + 1;
    /* One block: the struct, the windows, the barcode pointers, then the strings. The
     * struct's alignment suits what follows it (pointers and int64_t). */
    char *block = malloc(bytes);
    if (!block)
        return PE_ENOMEM;
    struct pe_item *c = (struct pe_item *)block;
    *c = *it;
    struct pe_price *prices = (struct pe_price *)(c + 1);
    const char **barcodes = (const char **)(prices + it->nprices);
    char *s = (char *)(barcodes + it->nbarcodes);
    memcpy(prices, it->prices, it->nprices * sizeof *prices);
    const char **dst[] = {&c->id, &c->name, &c->category, &c->brand};
    for (size_t i = 0; i < nstr; i++) {
        size_t n = strlen(strs[i]) + 1;
        memcpy(s, strs[i], n);
        *dst[i] = s;
        s += n;
    }
    for (size_t i = 0; i < it->nbarcodes; i++) {
        size_t n = strlen(it->barcodes[i]) + 1;
        memcpy(s, it->barcodes[i], n);
        barcodes[i] = s;
        s += n;
    }
    c->prices = prices;
    c->barcodes = barcodes;
    c->barcode = barcodes[0];
    *out = c;
    return PE_OK;
}

/* ---- keys and scopes ---- */

int pe_catalog_key_parse(const char *key, size_t len, char scope[PE_ID_MAX],
                         char id[PE_CATALOG_ID_MAX])
{
    const char *slash = key ? memchr(key, '/', len) : NULL;
    if (!slash)
        return PE_EINVAL;
    size_t sn = (size_t)(slash - key), in = len - sn - 1;
    if (sn == 0 || sn >= PE_ID_MAX || in == 0 || in >= PE_CATALOG_ID_MAX ||
        memchr(key, '\0', len))
        return PE_EINVAL;
    memcpy(scope, key, sn);
    scope[sn] = '\0';
    memcpy(id, slash + 1, in);
    id[in] = '\0';
    if (strcmp(scope, PE_CATALOG_SCOPE_ALL) != 0 && !pe_event_id_valid(scope, 1))
        return PE_EINVAL;
    return pe_catalog_id_valid(id) ? PE_OK : PE_EINVAL;
}

int pe_catalog_scope_rank(const char *scope, const char *store)
{
    if (!scope || !store)
        return 0;
    if (strcmp(scope, store) == 0 && strcmp(scope, PE_CATALOG_SCOPE_ALL) != 0)
        return 2;
    return strcmp(scope, PE_CATALOG_SCOPE_ALL) == 0 ? 1 : 0;
}

/* ---- in force ---- */

const struct pe_price *pe_item_price_window(const struct pe_item *it, int64_t t_ms)
{
    for (size_t i = 0; it && i < it->nprices; i++)
        if (it->prices[i].from_ms <= t_ms && t_ms < it->prices[i].to_ms)
            return &it->prices[i];
    return NULL;
}

int pe_item_price_at(const struct pe_item *it, int64_t t_ms, int64_t *price)
{
    const struct pe_price *w = pe_item_price_window(it, t_ms);
    if (!w)
        return PE_ENOTFOUND;
    *price = w->price;
    return PE_OK;
}

bool pe_promotion_active(const struct pe_promotion *p, int64_t t_ms)
{
    return p && p->from_ms <= t_ms && t_ms < p->to_ms;
}

/* ---- the content hash ---- */

enum hash_part { PART_NONE, PART_ITEMS, PART_PROMOTIONS };

struct pe_catalog_hasher {
    mbedtls_sha256_context sha;
    enum hash_part part;               /* what the last document added was */
    bool any;                          /* a document of this part was added */
    char last[PE_CATALOG_ID_MAX];      /* its id */
    int failed;                        /* an add failed: only finish or free may follow */
};

int pe_catalog_hasher_create(struct pe_catalog_hasher **out)
{
    struct pe_catalog_hasher *h = calloc(1, sizeof *h);
    if (!h)
        return PE_ENOMEM;
    mbedtls_sha256_init(&h->sha);
    sha256_starts(&h->sha, 0);
    sha256_update(&h->sha, (const unsigned char *)"{\"items\":[", 10);
    h->part = PART_ITEMS;
    *out = h;
    return PE_OK;
}

void pe_catalog_hasher_free(struct pe_catalog_hasher *h)
{
    if (!h)
        return;
    mbedtls_sha256_free(&h->sha);
    free(h);
}

/* Move on to part (items, then promotions), closing the list before. */
static void hash_part(struct pe_catalog_hasher *h, enum hash_part part)
{
    if (h->part == part)
        return;
    sha256_update(&h->sha, (const unsigned char *)"],\"promotions\":[", 16);
    h->part = part;
    h->any = false;
    h->last[0] = '\0';
}

/* Add one document already in normal form, whose id is id. */
static int hash_add(struct pe_catalog_hasher *h, enum hash_part part, const cJSON *norm,
                    const char *id, char *why, size_t len)
{
    const char *what = part == PART_ITEMS ? "item" : "promotion";
    if (h->failed)
        return h->failed;
    if (part < h->part) {
        seterr(why, len, "item %s: after the promotions", id);
        return h->failed = PE_EINVAL;
    }
    hash_part(h, part);
    if (h->any && strcmp(id, h->last) <= 0) {
        seterr(why, len, "%s %s: not after %s (ids in ascending order, each once)", what, id,
               h->last);
        return h->failed = PE_EINVAL;
    }
    char *text = NULL;
    size_t n = 0;
    int rc = pe_json_canonical(norm, &text, &n);
    if (rc) {
        seterr(why, len, "%s %s: %s", what, id, pe_strerror(rc));
        return h->failed = rc;
    }
    if (h->any)
        sha256_update(&h->sha, (const unsigned char *)",", 1);
    sha256_update(&h->sha, (const unsigned char *)text, n);
    free(text);
    h->any = true;
    snprintf(h->last, sizeof h->last, "%s", id);
    return PE_OK;
}

int pe_catalog_hasher_item(struct pe_catalog_hasher *h, const cJSON *doc, char *why, size_t len)
{
    if (!h)
        return PE_EINVAL;
    if (h->failed)
        return h->failed;
    cJSON *norm = NULL;
    int rc = pe_catalog_doc_normalize_item(doc, &norm, why, len);
    if (rc)
        return h->failed = rc;
    rc = hash_add(h, PART_ITEMS, norm, cJSON_GetObjectItemCaseSensitive(norm, "id")->valuestring,
                  why, len);
    cJSON_Delete(norm);
    return rc;
}

int pe_catalog_hasher_promotion(struct pe_catalog_hasher *h, const cJSON *doc, char *why,
                                size_t len)
{
    if (!h)
        return PE_EINVAL;
    if (h->failed)
        return h->failed;
    cJSON *norm = NULL;
    int rc = pe_catalog_doc_normalize_promotion(doc, &norm, why, len);
    if (rc)
        return h->failed = rc;
    rc = hash_add(h, PART_PROMOTIONS, norm,
                  cJSON_GetObjectItemCaseSensitive(norm, "id")->valuestring, why, len);
    cJSON_Delete(norm);
    return rc;
}

int pe_catalog_hasher_finish(struct pe_catalog_hasher *h, char out[PE_SHA256_HEXLEN])
{
    if (!h)
        return PE_EINVAL;
    int rc = h->failed;
    if (!rc) {
        uint8_t digest[PE_SHA256_LEN];
        hash_part(h, PART_PROMOTIONS);
        sha256_update(&h->sha, (const unsigned char *)"]}", 2);
        sha256_finish(&h->sha, digest);
        pe_hex(digest, sizeof digest, out);
    }
    pe_catalog_hasher_free(h);
    return rc;
}

/* A document and its index as given, for sorting by id. */
struct doc_ref {
    const cJSON *doc;
    const char *id; /* "" when it has none: its parse names the fault */
    size_t index;
};

static int by_id(const void *a, const void *b)
{
    const struct doc_ref *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* The documents sorted by id (a malloc'd array, NULL for none). */
static int sort_docs(const cJSON *const *docs, size_t n, struct doc_ref **out)
{
    *out = NULL;
    if (!n)
        return PE_OK;
    struct doc_ref *r = malloc(n * sizeof *r);
    if (!r)
        return PE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(docs[i], "id");
        r[i] = (struct doc_ref){docs[i], cJSON_IsString(id) && id->valuestring ? id->valuestring
                                                                                  : "",
                                i};
    }
    qsort(r, n, sizeof *r, by_id);
    *out = r;
    return PE_OK;
}

int pe_catalog_content_hash(const cJSON *const *items, size_t nitems,
                            const cJSON *const *promotions, size_t npromotions,
                            char out[PE_SHA256_HEXLEN], char *why, size_t len)
{
    struct doc_ref *ri = NULL, *rp = NULL;
    struct pe_catalog_hasher *h = NULL;
    char sub[PE_CATALOG_WHY_MAX];
    int rc = sort_docs(items, nitems, &ri);
    if (!rc)
        rc = sort_docs(promotions, npromotions, &rp);
    if (!rc)
        rc = pe_catalog_hasher_create(&h);
    for (size_t i = 0; !rc && i < nitems; i++) {
        if ((rc = pe_catalog_hasher_item(h, ri[i].doc, sub, sizeof sub)))
            seterr(why, len, "items[%zu]: %s", ri[i].index, sub);
    }
    for (size_t i = 0; !rc && i < npromotions; i++) {
        if ((rc = pe_catalog_hasher_promotion(h, rp[i].doc, sub, sizeof sub)))
            seterr(why, len, "promotions[%zu]: %s", rp[i].index, sub);
    }
    if (h)
        rc = rc ? (pe_catalog_hasher_free(h), rc) : pe_catalog_hasher_finish(h, out);
    free(ri);
    free(rp);
    return rc;
}

/* ---- the in-memory catalog ---- */

struct pe_catalog {
    struct pe_item **items;   /* in the order given; each one allocation (pe_item_dup) */
    size_t count;             /* number of items */
    size_t slots;             /* size of each hash table, a power of two > 2 * keys */
    size_t *by_barcode;       /* slot -> item index + 1; 0 is an empty slot */
    size_t *by_id;            /* same, keyed by id */
    size_t nbarcode_keys;     /* barcodes in by_barcode */
    struct pe_promotion *promos; /* promotions, strings in promo_text */
    size_t npromos;
    char **promo_text;        /* one allocation per promotion holding its strings */
    char currency[4];         /* ISO 4217 code */
};

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

/* The slot holding key, or the empty slot where it would go. by_id: the id table, else the
 * barcode table (whose keys are any of an item's barcodes). */
static size_t table_find(const struct pe_catalog *cat, const size_t *table, const char *key,
                         bool by_id_table)
{
    size_t mask = cat->slots - 1;
    size_t i = hash_str(key) & mask;
    while (table[i]) {
        const struct pe_item *it = cat->items[table[i] - 1];
        if (by_id_table) {
            if (strcmp(it->id, key) == 0)
                return i;
        } else {
            for (size_t b = 0; b < it->nbarcodes; b++)
                if (strcmp(it->barcodes[b], key) == 0)
                    return i;
        }
        i = (i + 1) & mask;
    }
    return i;
}

void pe_catalog_destroy(struct pe_catalog *cat)
{
    if (!cat)
        return;
    for (size_t i = 0; i < cat->count; i++)
        free(cat->items[i]);
    for (size_t i = 0; i < cat->npromos; i++)
        free(cat->promo_text[i]);
    free(cat->items);
    free(cat->promos);
    free(cat->promo_text);
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
    return cat && i < cat->count ? cat->items[i] : NULL;
}

const struct pe_item *pe_catalog_by_barcode(const struct pe_catalog *cat, const char *barcode)
{
    if (!cat || !barcode || cat->count == 0)
        return NULL;
    size_t slot = table_find(cat, cat->by_barcode, barcode, false);
    return cat->by_barcode[slot] ? cat->items[cat->by_barcode[slot] - 1] : NULL;
}

const struct pe_item *pe_catalog_by_id(const struct pe_catalog *cat, const char *id)
{
    if (!cat || !id || cat->count == 0)
        return NULL;
    size_t slot = table_find(cat, cat->by_id, id, true);
    return cat->by_id[slot] ? cat->items[cat->by_id[slot] - 1] : NULL;
}

size_t pe_catalog_promotion_count(const struct pe_catalog *cat)
{
    return cat ? cat->npromos : 0;
}

const struct pe_promotion *pe_catalog_promotion_at(const struct pe_catalog *cat, size_t i)
{
    return cat && i < cat->npromos ? &cat->promos[i] : NULL;
}

const char *pe_catalog_currency(const struct pe_catalog *cat)
{
    return cat ? cat->currency : "";
}

/* An empty catalog with room for n items (barcodes: their number) and np promotions. */
static int cat_new(size_t n, size_t barcodes, size_t np, struct pe_catalog **out)
{
    struct pe_catalog *cat = calloc(1, sizeof *cat);
    if (!cat)
        return PE_ENOMEM;
    size_t keys = barcodes > n ? barcodes : n;
    cat->slots = 16;
    while (cat->slots < 2 * keys + 1)
        cat->slots *= 2;
    cat->items = calloc(n ? n : 1, sizeof *cat->items);
    cat->by_barcode = calloc(cat->slots, sizeof *cat->by_barcode);
    cat->by_id = calloc(cat->slots, sizeof *cat->by_id);
    cat->promos = calloc(np ? np : 1, sizeof *cat->promos);
    cat->promo_text = calloc(np ? np : 1, sizeof *cat->promo_text);
    if (!cat->items || !cat->by_barcode || !cat->by_id || !cat->promos || !cat->promo_text) {
        pe_catalog_destroy(cat);
        return PE_ENOMEM;
    }
    *out = cat;
    return PE_OK;
}

/* Add a copy of it; a barcode or id already there is refused (pre names the item, bname the
 * member of its barcodes). */
static int cat_add_item(struct pe_catalog *cat, const struct pe_item *it, const char *pre,
                        const char *bname, char *why, size_t len)
{
    size_t i = cat->count;
    for (size_t b = 0; b < it->nbarcodes; b++) {
        size_t slot = table_find(cat, cat->by_barcode, it->barcodes[b], false);
        if (cat->by_barcode[slot])
            return refuse(why, len, pre, bname, "duplicate of items[%zu] (%s)",
                          cat->by_barcode[slot] - 1, it->barcodes[b]);
        /* Two of its own barcodes are the same: the parser refuses that first. */
    }
    size_t slot = table_find(cat, cat->by_id, it->id, true);
    if (cat->by_id[slot])
        return refuse(why, len, pre, "id", "duplicate of items[%zu] (%s)", cat->by_id[slot] - 1,
                      it->id);
    struct pe_item *copy = NULL;
    int rc = pe_item_dup(it, &copy);
    if (rc)
        return rc;
    cat->items[i] = copy;
    cat->count = i + 1;
    cat->by_id[slot] = i + 1;
    for (size_t b = 0; b < copy->nbarcodes; b++)
        cat->by_barcode[table_find(cat, cat->by_barcode, copy->barcodes[b], false)] = i + 1;
    return PE_OK;
}

/* Add a copy of promotion p (its strings in one allocation); a duplicate id is refused. */
static int cat_add_promotion(struct pe_catalog *cat, const struct pe_promotion *p,
                             const char *pre, char *why, size_t len)
{
    for (size_t k = 0; k < cat->npromos; k++)
        if (strcmp(cat->promos[k].id, p->id) == 0)
            return refuse(why, len, pre, "id", "duplicate of promotions[%zu] (%s)", k, p->id);
    const char *target = p->item ? p->item : p->category;
    size_t a = strlen(p->id) + 1, b = strlen(p->name) + 1, c = strlen(target) + 1;
    char *text = malloc(a + b + c);
    if (!text)
        return PE_ENOMEM;
    memcpy(text, p->id, a);
    memcpy(text + a, p->name, b);
    memcpy(text + a + b, target, c);
    struct pe_promotion *dst = &cat->promos[cat->npromos];
    *dst = *p;
    dst->id = text;
    dst->name = text + a;
    dst->item = p->item ? text + a + b : NULL;
    dst->category = p->category ? text + a + b : NULL;
    cat->promo_text[cat->npromos++] = text;
    return PE_OK;
}

int pe_catalog_build(const cJSON *const *items, size_t nitems, const cJSON *const *promotions,
                     size_t npromotions, const char *currency, struct pe_catalog **out,
                     char *why, size_t len)
{
    if (!out || (nitems && !items) || (npromotions && !promotions) ||
        (currency && !currency_ok(currency)))
        return PE_EINVAL;
    *out = NULL;
    size_t barcodes = 0;
    for (size_t i = 0; i < nitems; i++)
        barcodes += (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(items[i], "barcodes"));
    struct pe_catalog *cat = NULL;
    int rc = cat_new(nitems, barcodes, npromotions, &cat);
    if (rc)
        return rc;
    if (currency)
        memcpy(cat->currency, currency, 4);
    char pre[48];
    struct pe_item_doc d;
    for (size_t i = 0; !rc && i < nitems; i++) {
        snprintf(pre, sizeof pre, "items[%zu]: ", i);
        rc = parse_item(items[i], IN_DOC, &d, pre, why, len);
        if (!rc && !cat->currency[0])
            memcpy(cat->currency, d.currency, 4);
        if (!rc && strcmp(d.currency, cat->currency) != 0)
            rc = refuse(why, len, pre, "currency", "%s, but the catalog is priced in %s",
                        d.currency, cat->currency);
        if (!rc)
            rc = cat_add_item(cat, &d.item, pre, "barcodes", why, len);
    }
    struct pe_promotion p;
    for (size_t i = 0; !rc && i < npromotions; i++) {
        snprintf(pre, sizeof pre, "promotions[%zu]: ", i);
        rc = parse_promotion(promotions[i], &p, pre, why, len);
        if (!rc)
            rc = cat_add_promotion(cat, &p, pre, why, len);
    }
    if (rc) {
        pe_catalog_destroy(cat);
        return rc;
    }
    *out = cat;
    return PE_OK;
}

/* 1-based line of position pos in text, for JSON syntax errors. */
static int line_of(const char *text, const char *pos)
{
    int line = 1;
    for (const char *p = text; p < pos && *p; p++)
        line += *p == '\n';
    return line;
}

static int load_currency(const char *path, const cJSON *root, char out[4], char *err, size_t errlen)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "currency");
    if (!c) {
        seterr(err, errlen, "%s: currency: missing", path);
        return PE_EINVAL;
    }
    if (!cJSON_IsString(c) || !currency_ok(c->valuestring)) {
        seterr(err, errlen, "%s: currency: not an ISO 4217 code (3 upper-case letters)", path);
        return PE_EINVAL;
    }
    memcpy(out, c->valuestring, 4);
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
        if (!f->string || (strcmp(f->string, "currency") && strcmp(f->string, "items") &&
                           strcmp(f->string, "promotions"))) {
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
    const cJSON *promos = cJSON_GetObjectItemCaseSensitive(root, "promotions");
    if (promos && !cJSON_IsArray(promos)) {
        seterr(err, errlen, "%s: promotions: not an array", path);
        rc = PE_EINVAL;
        goto cleanup_json;
    }
    size_t n = (size_t)cJSON_GetArraySize(items);
    size_t np = promos ? (size_t)cJSON_GetArraySize(promos) : 0;
    if ((rc = cat_new(n, n, np, &cat)))
        goto cleanup_json;
    if ((rc = load_currency(path, root, cat->currency, err, errlen)))
        goto cleanup_cat;

    char pre[PE_CATALOG_WHY_MAX];
    struct pe_item_doc d;
    size_t i = 0;
    for (const cJSON *obj = items->child; obj; obj = obj->next, i++) {
        snprintf(pre, sizeof pre, "%.180s: items[%zu].", path, i);
        if ((rc = parse_item(obj, IN_FILE, &d, pre, err, errlen)) ||
            (rc = cat_add_item(cat, &d.item, pre, "barcode", err, errlen)))
            goto cleanup_cat;
    }
    struct pe_promotion p;
    i = 0;
    for (const cJSON *obj = promos ? promos->child : NULL; obj; obj = obj->next, i++) {
        snprintf(pre, sizeof pre, "%.180s: promotions[%zu].", path, i);
        if ((rc = parse_promotion(obj, &p, pre, err, errlen)) ||
            (rc = cat_add_promotion(cat, &p, pre, err, errlen)))
            goto cleanup_cat;
    }
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

/* Sort items or promotions by id, for the documents and the hash. */
static int item_ptr_by_id(const void *a, const void *b)
{
    return strcmp((*(const struct pe_item *const *)a)->id, (*(const struct pe_item *const *)b)->id);
}

static int promo_ptr_by_id(const void *a, const void *b)
{
    return strcmp((*(const struct pe_promotion *const *)a)->id,
                  (*(const struct pe_promotion *const *)b)->id);
}

int pe_catalog_docs(const struct pe_catalog *cat, cJSON **items, cJSON **promotions)
{
    if (!cat)
        return PE_EINVAL;
    const struct pe_item **it = malloc((cat->count ? cat->count : 1) * sizeof *it);
    const struct pe_promotion **pr = malloc((cat->npromos ? cat->npromos : 1) * sizeof *pr);
    cJSON *ai = items ? cJSON_CreateArray() : NULL, *ap = promotions ? cJSON_CreateArray() : NULL;
    int rc = it && pr && (!items || ai) && (!promotions || ap) ? PE_OK : PE_ENOMEM;
    if (!rc) {
        for (size_t i = 0; i < cat->count; i++)
            it[i] = cat->items[i];
        for (size_t i = 0; i < cat->npromos; i++)
            pr[i] = &cat->promos[i];
        qsort(it, cat->count, sizeof *it, item_ptr_by_id);
        qsort(pr, cat->npromos, sizeof *pr, promo_ptr_by_id);
    }
    for (size_t i = 0; !rc && ai && i < cat->count; i++) {
        cJSON *d = NULL;
        rc = pe_catalog_item_json(it[i], cat->currency, &d);
        if (!rc && !cJSON_AddItemToArray(ai, d)) {
            cJSON_Delete(d);
            rc = PE_ENOMEM;
        }
    }
    for (size_t i = 0; !rc && ap && i < cat->npromos; i++) {
        cJSON *d = NULL;
        rc = pe_catalog_promotion_json(pr[i], &d);
        if (!rc && !cJSON_AddItemToArray(ap, d)) {
            cJSON_Delete(d);
            rc = PE_ENOMEM;
        }
    }
    free(it);
    free(pr);
    if (rc) {
        cJSON_Delete(ai);
        cJSON_Delete(ap);
        return rc;
    }
    if (items)
        *items = ai;
    if (promotions)
        *promotions = ap;
    return PE_OK;
}

int pe_catalog_hash(const struct pe_catalog *cat, char out[PE_SHA256_HEXLEN])
{
    if (!cat)
        return PE_EINVAL;
    /* One document at a time, in id order: a 50,000-item file is never a cJSON tree whole. */
    const struct pe_item **it = malloc((cat->count ? cat->count : 1) * sizeof *it);
    const struct pe_promotion **pr = malloc((cat->npromos ? cat->npromos : 1) * sizeof *pr);
    struct pe_catalog_hasher *h = NULL;
    int rc = it && pr ? pe_catalog_hasher_create(&h) : PE_ENOMEM;
    if (!rc) {
        for (size_t i = 0; i < cat->count; i++)
            it[i] = cat->items[i];
        for (size_t i = 0; i < cat->npromos; i++)
            pr[i] = &cat->promos[i];
        qsort(it, cat->count, sizeof *it, item_ptr_by_id);
        qsort(pr, cat->npromos, sizeof *pr, promo_ptr_by_id);
    }
    for (size_t i = 0; !rc && i < cat->count + cat->npromos; i++) {
        cJSON *d = NULL;
        bool promo = i >= cat->count;
        rc = promo ? pe_catalog_promotion_json(pr[i - cat->count], &d)
                   : pe_catalog_item_json(it[i], cat->currency, &d);
        if (!rc)
            rc = promo ? pe_catalog_hasher_promotion(h, d, NULL, 0)
                       : pe_catalog_hasher_item(h, d, NULL, 0);
        cJSON_Delete(d);
    }
    if (h)
        rc = rc ? (pe_catalog_hasher_free(h), rc) : pe_catalog_hasher_finish(h, out);
    free(it);
    free(pr);
    /* The documents come from a catalog that was checked: only memory can fail here. */
    return rc == PE_EINVAL ? PE_ENOMEM : rc;
}
