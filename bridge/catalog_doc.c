/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog_doc.c - the bridge's adapter to the catalog document model (see catalog_doc.h).
 *
 * Until the shared model in common/ lands, this file carries a checker of its own for the
 * documents of docs/protocol.md ("Catalog records on Kafka"): every member known and of its
 * type and range, ids equal to the key's, EAN-13 barcodes, price windows in UTC milliseconds
 * that do not overlap (effective_to exclusive), and the promotion kinds with exactly their
 * own members. A valid document is normalised before it is made canonical (pe_json_canonical):
 * an item's shorthand "price"/"effective_from"/"effective_to" becomes a one-entry "prices",
 * windows are sorted by effective_from and an open end is written as null, a promotion's open
 * "to" likewise; so two documents that mean the same have the same bytes, and the same hash.
 *
 * The hash is streamed (mbedTLS SHA-256 over the canonical bytes of the whole catalog object,
 * assembled from the stored documents), so a 50,000-item catalog is hashed without holding it.
 */
#include "bridge/catalog_doc.h"

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "posedge/catalog.h"
#include "posedge/clock.h"
#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/json.h"

#if MBEDTLS_VERSION_MAJOR >= 3
#define sha256_starts mbedtls_sha256_starts
#define sha256_update mbedtls_sha256_update
#define sha256_finish mbedtls_sha256_finish
#else
#define sha256_starts mbedtls_sha256_starts_ret
#define sha256_update mbedtls_sha256_update_ret
#define sha256_finish mbedtls_sha256_finish_ret
#endif

#define TEXT_MAX 256      /* longest name, category, brand */
#define BARCODES_MAX 32   /* barcodes of one item */
#define PRICES_MAX 64     /* price windows of one item */
#define MONEY_MAX INT64_C(1000000000)
#define INT31_MAX INT64_C(2147483647)

static const struct {
    const char *coll, *what;
} kinds[CATALOG_KIND__COUNT] = {
#define CATALOG__KIND_ROW(name, coll, what) [CATALOG_##name] = {coll, what},
    CATALOG_KINDS(CATALOG__KIND_ROW)
#undef CATALOG__KIND_ROW
};

const char *catalog_kind_coll(enum catalog_kind k)
{
    return (unsigned)k < CATALOG_KIND__COUNT ? kinds[k].coll : NULL;
}

const char *catalog_kind_what(enum catalog_kind k)
{
    return (unsigned)k < CATALOG_KIND__COUNT ? kinds[k].what : NULL;
}

int catalog_doc_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > CATALOG_ID_MAX)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("._:-", *p)))
            return 0;
    return 1;
}

/* ---- checking ---- */

struct check {
    const cJSON *doc; /* the document checked */
    char *why;        /* the reason of a refusal */
    size_t whylen;
};

static int refuse(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(struct check *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, c->whylen, fmt, ap);
    va_end(ap);
    return PE_EINVAL;
}

/* A string member of 1..max bytes into *out; absent is an error when required. */
static int get_text(struct check *c, const cJSON *o, const char *key, size_t max, bool required,
                    const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = NULL;
    if (!v)
        return required ? refuse(c, "%s: missing", key) : PE_OK;
    if (!cJSON_IsString(v) || !v->valuestring[0] || strlen(v->valuestring) > max)
        return refuse(c, "%s: expected a string of 1 to %zu bytes", key, max);
    *out = v->valuestring;
    return PE_OK;
}

/* An integer member in lo..hi; absent is an error when required (else *present false). */
static int get_int(struct check *c, const cJSON *o, const char *key, int64_t lo, int64_t hi,
                   bool required, int64_t *out, bool *present)
{
    int rc = pe_json_get_int(o, key, out);
    if (present)
        *present = rc == PE_OK;
    if (rc == PE_ENOTFOUND)
        return required ? refuse(c, "%s: missing", key) : PE_OK;
    if (rc || *out < lo || *out > hi)
        return refuse(c, "%s: expected an integer from %lld to %lld", key, (long long)lo,
                      (long long)hi);
    return PE_OK;
}

/* A time member ("YYYY-MM-DDTHH:MM:SS.mmmZ", UTC) into *ms; null or absent gives *ms -1 when
 * nullable, else is an error. */
static int get_time(struct check *c, const char *where, const cJSON *o, const char *key,
                    bool nullable, int64_t *ms)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *ms = -1;
    if (!v || cJSON_IsNull(v))
        return nullable ? PE_OK : refuse(c, "%s%s: missing", where, key);
    char back[PE_TIME_STRLEN];
    if (!cJSON_IsString(v) || pe_time_parse(v->valuestring, ms) != PE_OK)
        return refuse(c, "%s%s: expected a UTC time \"YYYY-MM-DDTHH:MM:SS.mmmZ\"", where, key);
    pe_time_format(*ms, back);
    if (strcmp(back, v->valuestring) != 0)
        return refuse(c, "%s%s: \"%s\" is not a valid time", where, key, v->valuestring);
    return PE_OK;
}

/* Every member of o is one of names (NULL-ended). */
static int known_members(struct check *c, const cJSON *o, const char *where,
                         const char *const *names)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, o)
    {
        bool ok = false;
        for (size_t i = 0; names[i] && !ok; i++)
            ok = strcmp(m->string, names[i]) == 0;
        if (!ok)
            return refuse(c, "%s%s: unknown member", where, m->string);
    }
    return PE_OK;
}

static int check_header(struct check *c, const cJSON *o, const char *id)
{
    int64_t v;
    const char *got;
    int rc = get_int(c, o, "v", 1, 1, true, &v, NULL);
    if (rc == PE_OK)
        rc = get_text(c, o, "id", CATALOG_ID_MAX, true, &got);
    if (rc == PE_OK && strcmp(got, id) != 0)
        rc = refuse(c, "id: \"%s\" is not the key's id \"%s\"", got, id);
    return rc;
}

struct window {
    int64_t price, from, to; /* to -1: open */
};

static int by_from(const void *a, const void *b)
{
    const struct window *x = a, *y = b;
    return x->from < y->from ? -1 : x->from > y->from;
}

static cJSON *time_or_null(int64_t ms)
{
    char s[PE_TIME_STRLEN];
    if (ms < 0)
        return cJSON_CreateNull();
    pe_time_format(ms, s);
    return cJSON_CreateString(s);
}

/* One price window: {"price","effective_from","effective_to"} (members of o, or of the item
 * itself for the shorthand). */
static int check_window(struct check *c, const char *where, const cJSON *o, struct window *w)
{
    char key[48];
    snprintf(key, sizeof key, "%sprice", where);
    int rc = pe_json_get_int(o, "price", &w->price);
    if (rc == PE_ENOTFOUND)
        return refuse(c, "%s: missing", key);
    if (rc || w->price < 0 || w->price > MONEY_MAX)
        return refuse(c, "%s: expected an integer from 0 to %lld (minor units)", key,
                      (long long)MONEY_MAX);
    if ((rc = get_time(c, where, o, "effective_from", false, &w->from)) ||
        (rc = get_time(c, where, o, "effective_to", true, &w->to)))
        return rc;
    if (w->to >= 0 && w->to <= w->from)
        return refuse(c, "%seffective_to: not after effective_from", where);
    return PE_OK;
}

static int check_item(struct check *c, const cJSON *o, const char *id, cJSON *out)
{
    static const char *const members[] = {
        "v",        "id",          "barcodes",     "name",           "category",
        "brand",    "tax_bp",      "weighed",      "currency",       "prices",
        "price",    "effective_from", "effective_to", "item_id",     "supplier_id",
        "safety_stock", NULL};
    static const char *const window_members[] = {"price", "effective_from", "effective_to", NULL};
    int rc = check_header(c, o, id);
    if (rc || (rc = known_members(c, o, "", members)))
        return rc;
    /* barcodes */
    const cJSON *bc = cJSON_GetObjectItemCaseSensitive(o, "barcodes");
    if (!cJSON_IsArray(bc) || cJSON_GetArraySize(bc) < 1 ||
        cJSON_GetArraySize(bc) > BARCODES_MAX)
        return refuse(c, "barcodes: expected a list of 1 to %d EAN-13 barcodes", BARCODES_MAX);
    int i = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, bc)
    {
        if (!cJSON_IsString(b) || !pe_ean13_valid(b->valuestring))
            return refuse(c, "barcodes[%d]: not a valid EAN-13 (13 digits, check digit)", i);
        for (const cJSON *p = bc->child; p != b; p = p->next)
            if (strcmp(p->valuestring, b->valuestring) == 0)
                return refuse(c, "barcodes[%d]: \"%s\" listed twice", i, b->valuestring);
        i++;
    }
    const char *name, *category, *brand, *currency;
    int64_t tax, n;
    bool weighed;
    if ((rc = get_text(c, o, "name", TEXT_MAX, true, &name)) ||
        (rc = get_text(c, o, "category", TEXT_MAX, true, &category)) ||
        (rc = get_text(c, o, "brand", TEXT_MAX, true, &brand)) ||
        (rc = get_int(c, o, "tax_bp", 0, 10000, true, &tax, NULL)))
        return rc;
    rc = pe_json_get_bool(o, "weighed", &weighed);
    if (rc)
        return refuse(c, "weighed: %s", rc == PE_ENOTFOUND ? "missing" : "expected true or false");
    if ((rc = get_text(c, o, "currency", 3, true, &currency)))
        return rc;
    if (strlen(currency) != 3 || strspn(currency, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3)
        return refuse(c, "currency: expected an ISO 4217 code (3 upper-case letters)");
    /* prices, or the shorthand for one window */
    struct window w[PRICES_MAX];
    int nw = 0;
    const cJSON *prices = cJSON_GetObjectItemCaseSensitive(o, "prices");
    bool shorthand = cJSON_GetObjectItemCaseSensitive(o, "price") ||
                     cJSON_GetObjectItemCaseSensitive(o, "effective_from") ||
                     cJSON_GetObjectItemCaseSensitive(o, "effective_to");
    if (prices && shorthand)
        return refuse(c, "price: either \"prices\" or the shorthand price, effective_from, "
                         "effective_to, not both");
    if (!prices && !shorthand)
        return refuse(c, "prices: missing");
    if (shorthand) {
        if ((rc = check_window(c, "", o, &w[0])))
            return rc;
        nw = 1;
    } else {
        if (!cJSON_IsArray(prices) || cJSON_GetArraySize(prices) < 1 ||
            cJSON_GetArraySize(prices) > PRICES_MAX)
            return refuse(c, "prices: expected a list of 1 to %d price windows", PRICES_MAX);
        const cJSON *p;
        cJSON_ArrayForEach(p, prices)
        {
            char where[24];
            snprintf(where, sizeof where, "prices[%d].", nw);
            if (!cJSON_IsObject(p))
                return refuse(c, "prices[%d]: expected an object", nw);
            if ((rc = known_members(c, p, where, window_members)) ||
                (rc = check_window(c, where, p, &w[nw])))
                return rc;
            nw++;
        }
    }
    qsort(w, (size_t)nw, sizeof *w, by_from);
    for (int k = 1; k < nw; k++)
        if (w[k - 1].to < 0 || w[k - 1].to > w[k].from)
            return refuse(c, "prices: the windows from %lld and %lld overlap (effective_to is "
                             "exclusive)",
                          (long long)w[k - 1].from, (long long)w[k].from);
    /* The normalised document. */
    cJSON *arr = cJSON_AddArrayToObject(out, "prices");
    for (int k = 0; arr && k < nw; k++) {
        cJSON *e = cJSON_CreateObject();
        if (!e)
            return PE_ENOMEM;
        cJSON_AddItemToArray(arr, e);
        pe_json_add_int(e, "price", w[k].price);
        cJSON_AddItemToObject(e, "effective_from", time_or_null(w[k].from));
        cJSON_AddItemToObject(e, "effective_to", time_or_null(w[k].to));
    }
    pe_json_add_int(out, "v", 1);
    pe_json_add_str(out, "id", id);
    cJSON_AddItemToObject(out, "barcodes", cJSON_Duplicate(bc, 1));
    pe_json_add_str(out, "name", name);
    pe_json_add_str(out, "category", category);
    pe_json_add_str(out, "brand", brand);
    pe_json_add_int(out, "tax_bp", tax);
    cJSON_AddBoolToObject(out, "weighed", weighed);
    pe_json_add_str(out, "currency", currency);
    static const char *const numbers[] = {"item_id", "supplier_id", "safety_stock"};
    for (size_t k = 0; k < sizeof numbers / sizeof numbers[0]; k++) {
        bool present;
        if ((rc = get_int(c, o, numbers[k], 0, INT31_MAX, false, &n, &present)))
            return rc;
        if (present)
            pe_json_add_int(out, numbers[k], n);
    }
    return PE_OK;
}

/* X(name, string, members of its own besides the common ones) - promotion kinds. */
#define PROMO_KINDS(X)                                                                             \
    X(PERCENT, "percent", "percent_bp")                                                            \
    X(AMOUNT, "amount", "amount")                                                                  \
    X(N_FOR_M, "n_for_m", "n,m")                                                                   \
    X(MIX_MATCH, "mix_match", "n,price")

static int check_promotion(struct check *c, const cJSON *o, const char *id, cJSON *out)
{
    static const char *const members[] = {"v", "id", "name", "kind", "target", "percent_bp",
                                          "amount", "n", "m", "price", "from", "to", "priority",
                                          NULL};
    static const struct {
        const char *name, *own;
    } pk[] = {
#define PROMO_ROW(name, str, own) {str, own},
        PROMO_KINDS(PROMO_ROW)
#undef PROMO_ROW
    };
    int rc = check_header(c, o, id);
    if (rc || (rc = known_members(c, o, "", members)))
        return rc;
    const char *name, *kind;
    if ((rc = get_text(c, o, "name", TEXT_MAX, true, &name)) ||
        (rc = get_text(c, o, "kind", 16, true, &kind)))
        return rc;
    size_t k = 0, nk = sizeof pk / sizeof pk[0];
    while (k < nk && strcmp(kind, pk[k].name) != 0)
        k++;
    if (k == nk)
        return refuse(c, "kind: \"%s\" is not one of percent, amount, n_for_m, mix_match", kind);
    /* Only the kind's own members among the kind-specific ones. */
    static const char *const specific[] = {"percent_bp", "amount", "n", "m", "price"};
    for (size_t s = 0; s < sizeof specific / sizeof specific[0]; s++) {
        char own[32];
        snprintf(own, sizeof own, ",%s,", pk[k].own);
        char probe[16];
        snprintf(probe, sizeof probe, ",%s,", specific[s]);
        bool mine = strstr(own, probe) != NULL;
        bool has = cJSON_GetObjectItemCaseSensitive(o, specific[s]) != NULL;
        if (has && !mine)
            return refuse(c, "%s: not a member of a %s promotion", specific[s], kind);
        if (!has && mine)
            return refuse(c, "%s: missing (a %s promotion needs it)", specific[s], kind);
    }
    const cJSON *target = cJSON_GetObjectItemCaseSensitive(o, "target");
    const cJSON *ti = cJSON_GetObjectItemCaseSensitive(target, "item");
    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(target, "category");
    if (!cJSON_IsObject(target) || cJSON_GetArraySize(target) != 1 || (!ti && !tc))
        return refuse(c, "target: expected {\"item\":ID} or {\"category\":NAME}");
    if (ti && (!cJSON_IsString(ti) || !catalog_doc_id_valid(ti->valuestring)))
        return refuse(c, "target.item: not a valid item id");
    if (tc && (!cJSON_IsString(tc) || !tc->valuestring[0] || strlen(tc->valuestring) > TEXT_MAX))
        return refuse(c, "target.category: expected a string of 1 to %d bytes", TEXT_MAX);
    if (strcmp(kind, "mix_match") == 0 && !tc)
        return refuse(c, "target: a mix_match promotion targets a category");
    int64_t v, n = 0, m = 0, from, to, priority = 0;
    if (strcmp(kind, "percent") == 0) {
        if ((rc = get_int(c, o, "percent_bp", 1, 10000, true, &v, NULL)))
            return rc;
        pe_json_add_int(out, "percent_bp", v);
    } else if (strcmp(kind, "amount") == 0) {
        if ((rc = get_int(c, o, "amount", 1, MONEY_MAX, true, &v, NULL)))
            return rc;
        pe_json_add_int(out, "amount", v);
    } else if (strcmp(kind, "n_for_m") == 0) {
        if ((rc = get_int(c, o, "n", 2, 1000, true, &n, NULL)) ||
            (rc = get_int(c, o, "m", 1, 999, true, &m, NULL)))
            return rc;
        if (m >= n)
            return refuse(c, "m: must be less than n (n units for the price of m)");
        pe_json_add_int(out, "n", n);
        pe_json_add_int(out, "m", m);
    } else {
        if ((rc = get_int(c, o, "n", 2, 1000, true, &n, NULL)) ||
            (rc = get_int(c, o, "price", 0, MONEY_MAX, true, &v, NULL)))
            return rc;
        pe_json_add_int(out, "n", n);
        pe_json_add_int(out, "price", v);
    }
    if ((rc = get_time(c, "", o, "from", false, &from)) ||
        (rc = get_time(c, "", o, "to", true, &to)) ||
        (rc = get_int(c, o, "priority", -1000000, 1000000, false, &priority, NULL)))
        return rc;
    if (to >= 0 && to <= from)
        return refuse(c, "to: not after from");
    pe_json_add_int(out, "v", 1);
    pe_json_add_str(out, "id", id);
    pe_json_add_str(out, "name", name);
    pe_json_add_str(out, "kind", kind);
    cJSON_AddItemToObject(out, "target", cJSON_Duplicate(target, 1));
    cJSON_AddItemToObject(out, "from", time_or_null(from));
    cJSON_AddItemToObject(out, "to", time_or_null(to));
    pe_json_add_int(out, "priority", priority);
    return PE_OK;
}

int catalog_doc_check(enum catalog_kind kind, const char *id, const void *val, size_t len,
                      char **out, size_t *outlen, char *why, size_t whylen)
{
    struct check c = {.why = why, .whylen = whylen};
    char perr[128];
    cJSON *doc = NULL, *norm = NULL;
    *out = NULL;
    *outlen = 0;
    if (why && whylen)
        why[0] = '\0';
    if (!catalog_doc_id_valid(id))
        return refuse(&c, "key: \"%.80s\" is not a valid id (1 to %d of A-Z a-z 0-9 . _ : -)",
                      id ? id : "", CATALOG_ID_MAX);
    int rc = pe_json_parse(val, len, &doc, perr, sizeof perr);
    if (rc == PE_ENOMEM)
        return rc;
    if (rc || !cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return refuse(&c, "not a JSON object%s%s", rc ? ": " : "", rc ? perr : "");
    }
    c.doc = doc;
    if (!(norm = cJSON_CreateObject())) {
        rc = PE_ENOMEM;
        goto done;
    }
    rc = kind == CATALOG_ITEM ? check_item(&c, doc, id, norm) : check_promotion(&c, doc, id, norm);
    if (rc == PE_OK) {
        rc = pe_json_canonical(norm, out, outlen);
        if (rc == PE_EINVAL)
            rc = refuse(&c, "not valid UTF-8, or a number out of range");
    }
done:
    cJSON_Delete(norm);
    cJSON_Delete(doc);
    return rc;
}

void catalog_doc_currency(const char *doc, size_t len, char out[4])
{
    cJSON *o = NULL;
    const char *cur = NULL;
    out[0] = '\0';
    if (pe_json_parse(doc, len, &o, NULL, 0) != PE_OK)
        return;
    if (pe_json_get_str(o, "currency", &cur) == PE_OK && strlen(cur) == 3)
        memcpy(out, cur, 4);
    cJSON_Delete(o);
}

/* ---- the content hash ---- */

struct catalog_hash {
    mbedtls_sha256_context ctx;
    int kind;  /* the array being written: -1 before the first */
    bool first; /* nothing written into it yet */
};

static void put(struct catalog_hash *h, const char *s)
{
    sha256_update(&h->ctx, (const unsigned char *)s, strlen(s));
}

/* Close the arrays before kind k and open those up to it: {"items":[ ... ],"promotions":[ */
static void reach(struct catalog_hash *h, int k)
{
    while (h->kind < k) {
        if (h->kind >= 0)
            put(h, "],");
        h->kind++;
        put(h, "\"");
        put(h, kinds[h->kind].coll);
        put(h, "\":[");
        h->first = true;
    }
}

int catalog_hash_begin(struct catalog_hash **out)
{
    struct catalog_hash *h = calloc(1, sizeof *h);
    *out = h;
    if (!h)
        return PE_ENOMEM;
    mbedtls_sha256_init(&h->ctx);
    sha256_starts(&h->ctx, 0);
    h->kind = -1;
    put(h, "{");
    return PE_OK;
}

void catalog_hash_add(struct catalog_hash *h, enum catalog_kind kind, const char *doc, size_t len)
{
    reach(h, (int)kind);
    if (!h->first)
        put(h, ",");
    h->first = false;
    sha256_update(&h->ctx, (const unsigned char *)doc, len);
}

void catalog_hash_end(struct catalog_hash *h, char out[65])
{
    uint8_t md[PE_SHA256_LEN];
    reach(h, CATALOG_KIND__COUNT - 1);
    put(h, "]}");
    sha256_finish(&h->ctx, md);
    pe_hex(md, sizeof md, out);
    catalog_hash_free(h);
}

void catalog_hash_free(struct catalog_hash *h)
{
    if (!h)
        return;
    mbedtls_sha256_free(&h->ctx);
    free(h);
}
