/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog.c - posedge-ctl catalog: HQ's side of the store catalog (docs/protocol.md, "The
 * store catalog").
 *
 *   posedge-ctl catalog publish (--brokers B | --bridge-config FILE) [security options as
 *       reconcile's] [--topic T] [--promotions-topic T] [--transactional-id ID]
 *       [--skip-rejects] [--timeout S] FILE...
 *   posedge-ctl catalog status --mqtt HOST:PORT --store S [--user U --password-file F]
 *       [--tls-ca F [--tls-cert F --tls-key F]] [--timeout S]
 *
 * publish turns files into catalog records: a CSV file with a header row (store, id,
 * barcodes separated by '|', name, category, brand, tax_bp, weighed, currency, price,
 * effective_from, and optionally effective_to, item_id, supplier_id, safety_stock), where the
 * rows of one store and id are one item whose prices are the rows' windows; or JSON lines,
 * each an item or promotion document with a "scope" member (a store id or "*"), a "type"
 * member ("item" or "promotion") where the document does not say it ("kind" makes a
 * promotion), or a deletion {"scope":S,"id":ID,"delete":true}. Everything is checked first
 * with the document model (posedge/catalog.h), each refusal printed on stderr as
 * "FILE:LINE: reason"; with any refusal nothing is published (exit 1) unless --skip-rejects.
 * The valid records (key "<scope>/<id>", value the document's normal form, a deletion a
 * tombstone) are produced in one Kafka transaction (librdkafka role producer-transactional,
 * transactional.id posedge-ctl-catalog: a second publish running at once fences the first),
 * so the bridges see all of them or none. The last line is
 * "published items=I promotions=P deletions=D rejected=R" (or "... nothing published").
 * Exit 0 when published, 1 refused records and nothing published, 2 usage, a file that cannot
 * be read, or Kafka that did not take the transaction within --timeout (default 60 s).
 *
 * status reads the bridge's retained catalog version (posedge/v1/S/bridge/catalog) and every
 * till's retained state document, whose "catalog" member says the version it applied and when
 * ("catalog":{"version":N,"applied":TS,...}), and prints the version and one line per till:
 *
 *   TERMINAL  STATE  VERSION  APPLIED  STATUS
 *
 * STATUS is "current", or "behind by N" for a till at an older version (since APPLIED, when
 * it applied the one it has), or "unknown" for a till whose state says no version. APPLIED is
 * the till's time, and how long before its state document was written ("ts"), in the till's
 * own clock too: a simulated till's clock is not the wall clock (its state is republished
 * every few seconds while it runs, so that is how long ago; an offline till's last state says
 * how long before it went). The bridge's version time is compared with this host's clock. The last
 * line counts them: "tills=T current=C behind=B unknown=U". Exit 0 when every till is at the
 * bridge's version, 1 when one is not, when the bridge has published no version, or when the
 * broker cannot be reached; 2 for a usage error. Subscriptions are confirmed with a probe as
 * in posedge-ctl status.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ctl/ctl.h"
#include "posedge/catalog.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "posedge/kafka_conf.h"
#include "posedge/log.h"
#include "posedge/loop.h"
#include "posedge/mqtt.h"
#include "posedge/protocol.h"
#include "posedge/secret.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

#define DEFAULT_TOPIC "pos.catalog"
#define DEFAULT_PROMOTIONS_TOPIC "pos.promotions"
#define DEFAULT_TID "posedge-ctl-catalog"
#define WHY_MAX 320

static void usage(FILE *out)
{
    fputs("usage: posedge-ctl catalog publish (--brokers B | --bridge-config FILE)\n"
          "           [--security-protocol P] [--sasl-mechanism M --sasl-username U\n"
          "           --sasl-password-file F] [--tls-ca-file F] [--tls-cert-file F\n"
          "           --tls-key-file F] [--topic T] [--promotions-topic T]\n"
          "           [--transactional-id ID] [--skip-rejects] [--timeout S] FILE...\n"
          "       posedge-ctl catalog status --mqtt HOST:PORT --store S [--user U\n"
          "           --password-file F] [--tls-ca F [--tls-cert F --tls-key F]]\n"
          "           [--timeout S]\n"
          "\n"
          "publish  check a CSV file (header: store,id,barcodes,name,category,brand,tax_bp,\n"
          "         weighed,currency,price,effective_from[,effective_to,item_id,supplier_id,\n"
          "         safety_stock]; barcodes separated by '|'; the rows of one store and id are\n"
          "         one item's price windows) or JSON lines (documents with \"scope\", or\n"
          "         {\"scope\":S,\"id\":ID,\"delete\":true}), print each refusal as\n"
          "         FILE:LINE: reason, and produce the valid records to pos.catalog and\n"
          "         pos.promotions in one Kafka transaction; with a refusal nothing is\n"
          "         published (exit 1) unless --skip-rejects\n"
          "status   the bridge's catalog version and every till's applied version, with the\n"
          "         tills that are behind and since when; exit 0 when all are current\n",
          out);
}

/* ---- an index of strings (keys of records, of CSV items) ---- */

/* Open addressing over indexes into the caller's array, kept under half full. */
struct index {
    size_t *slot; /* index + 1; 0: empty */
    size_t cap;   /* a power of two, or 0 */
    size_t n;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 14695981039346656037ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The entry whose name (name_of(ctx, i)) is s: its index, or (size_t)-1. */
static size_t index_find(const struct index *x, const char *s,
                         const char *(*name_of)(const void *ctx, size_t i), const void *ctx)
{
    if (!x->cap)
        return (size_t)-1;
    for (size_t h = fnv1a(s) & (x->cap - 1);; h = (h + 1) & (x->cap - 1)) {
        if (!x->slot[h])
            return (size_t)-1;
        if (strcmp(name_of(ctx, x->slot[h] - 1), s) == 0)
            return x->slot[h] - 1;
    }
}

/* Add entry i (named s, not in x yet). Errors: PE_ENOMEM. */
static int index_add(struct index *x, const char *s, size_t i,
                     const char *(*name_of)(const void *ctx, size_t i), const void *ctx)
{
    if (2 * (x->n + 1) > x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 1024;
        size_t *slot = calloc(cap, sizeof *slot);
        if (!slot)
            return PE_ENOMEM;
        for (size_t k = 0; k < x->cap; k++) {
            if (!x->slot[k])
                continue;
            size_t h = fnv1a(name_of(ctx, x->slot[k] - 1)) & (cap - 1);
            while (slot[h])
                h = (h + 1) & (cap - 1);
            slot[h] = x->slot[k];
        }
        free(x->slot);
        x->slot = slot;
        x->cap = cap;
    }
    size_t h = fnv1a(s) & (x->cap - 1);
    while (x->slot[h])
        h = (h + 1) & (x->cap - 1);
    x->slot[h] = i + 1;
    x->n++;
    return PE_OK;
}

/* ---- records to publish ---- */

struct rec {
    bool promotion; /* to the promotions topic */
    char *key;      /* "<scope>/<id>" */
    char *val;      /* the document's normal form, NULL for a deletion */
    size_t len;
    const char *file; /* where it came from */
    long line;
};

/* A barcode of an item published, with the item's id: one barcode names one item. */
struct barcode {
    char code[16];
    char id[PE_CATALOG_ID_MAX];
    long line;
    const char *file;
};

struct pub {
    struct rec *v;
    size_t n, cap;
    struct index keys[2]; /* records by key: items [0], promotions [1] */
    struct barcode *bc;
    size_t nbc, bccap;
    struct index by_code; /* bc by code */
    long rejected;
    long items, promotions, deletions;
};

static void reject(struct pub *p, const char *file, long line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void reject(struct pub *p, const char *file, long line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%ld: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    p->rejected++;
}

static const char *rec_key(const void *ctx, size_t i)
{
    return ((const struct pub *)ctx)->v[i].key;
}

/* An earlier record of the same topic and key, or NULL. */
static const struct rec *find_rec(const struct pub *p, bool promotion, const char *key)
{
    size_t i = index_find(&p->keys[promotion], key, rec_key, p);
    return i == (size_t)-1 ? NULL : &p->v[i];
}

static const char *bc_code(const void *ctx, size_t i)
{
    return ((const struct pub *)ctx)->bc[i].code;
}

/* The barcodes of an item document (canonical, valid) against those of the other items: a
 * barcode of another id is refused (a till could not tell the two apart). PE_EINVAL after
 * saying so, PE_OK, PE_ENOMEM. */
static int check_barcodes(struct pub *p, const char *val, size_t len, const char *file, long line)
{
    cJSON *o = NULL;
    const char *id = NULL;
    int rc = pe_json_parse(val, len, &o, NULL, 0);
    if (rc || pe_json_get_str(o, "id", &id) != PE_OK) {
        cJSON_Delete(o);
        return rc ? rc : PE_EINVAL;
    }
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(o, "barcodes"))
    {
        size_t at = index_find(&p->by_code, b->valuestring, bc_code, p);
        if (at != (size_t)-1) {
            if (strcmp(p->bc[at].id, id) != 0) {
                reject(p, file, line, "item %s: barcode %s is item %s's (line %ld of %s)", id,
                       b->valuestring, p->bc[at].id, p->bc[at].line, p->bc[at].file);
                rc = PE_EINVAL;
                break;
            }
            continue;
        }
        if (p->nbc == p->bccap) {
            size_t cap = p->bccap ? 2 * p->bccap : 1024;
            struct barcode *v = realloc(p->bc, cap * sizeof *v);
            if (!v) {
                rc = PE_ENOMEM;
                break;
            }
            p->bc = v;
            p->bccap = cap;
        }
        struct barcode *e = &p->bc[p->nbc];
        snprintf(e->code, sizeof e->code, "%s", b->valuestring);
        snprintf(e->id, sizeof e->id, "%s", id);
        e->line = line;
        e->file = file;
        if ((rc = index_add(&p->by_code, e->code, p->nbc, bc_code, p)))
            break;
        p->nbc++;
    }
    cJSON_Delete(o);
    return rc;
}

/* Add a checked record (key and val taken over). */
static int add_rec(struct pub *p, bool promotion, char *key, char *val, size_t len,
                   const char *file, long line)
{
    const struct rec *dup = find_rec(p, promotion, key);
    if (dup) {
        reject(p, file, line, "%s %s: already on line %ld of %s (one record per key)",
               promotion ? "promotion" : "item", key, dup->line, dup->file);
        free(key);
        free(val);
        return PE_OK;
    }
    int brc = val && !promotion ? check_barcodes(p, val, len, file, line) : PE_OK;
    if (brc) {
        free(key);
        free(val);
        return brc == PE_EINVAL ? PE_OK : brc;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        struct rec *v = realloc(p->v, cap * sizeof *v);
        if (!v) {
            free(key);
            free(val);
            return PE_ENOMEM;
        }
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n] = (struct rec){promotion, key, val, len, file, line};
    if (index_add(&p->keys[promotion], key, p->n, rec_key, p)) {
        free(key);
        free(val);
        return PE_ENOMEM;
    }
    p->n++;
    if (!val)
        p->deletions++;
    else if (promotion)
        p->promotions++;
    else
        p->items++;
    return PE_OK;
}

/* The normal form of doc (an item or a promotion) as canonical text; why says why not. */
static int normal_text(const cJSON *doc, bool promotion, char **out, size_t *len, char *why,
                       size_t whylen)
{
    cJSON *norm = NULL;
    int rc = promotion ? pe_catalog_doc_normalize_promotion(doc, &norm, why, whylen)
                       : pe_catalog_doc_normalize_item(doc, &norm, why, whylen);
    if (rc == PE_OK) {
        rc = pe_json_canonical(norm, out, len);
        if (rc == PE_EINVAL)
            snprintf(why, whylen, "not valid UTF-8, or a number out of range");
    }
    cJSON_Delete(norm);
    return rc;
}

/* "<scope>/<id>" (malloc'd) when both are valid; NULL with why otherwise. */
static char *make_key(const char *scope, const char *id, char *why, size_t whylen)
{
    char s[PE_ID_MAX], i[PE_CATALOG_ID_MAX];
    size_t n = strlen(scope) + strlen(id) + 2;
    char *key = malloc(n);
    if (!key) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    snprintf(key, n, "%s/%s", scope, id);
    if (pe_catalog_key_parse(key, strlen(key), s, i) != PE_OK) {
        snprintf(why, whylen, "key \"%.80s\": the scope is a store id or \"*\", the id 1 to %d "
                              "printable ASCII characters",
                 key, PE_CATALOG_ID_MAX - 1);
        free(key);
        return NULL;
    }
    return key;
}

/* ---- JSON lines ---- */

static int jsonl_line(struct pub *p, const char *file, long lineno, const char *line, size_t n)
{
    char why[WHY_MAX], perr[128];
    cJSON *o = NULL;
    int rc = pe_json_parse(line, n, &o, perr, sizeof perr);
    if (rc == PE_ENOMEM)
        return rc;
    if (rc || !cJSON_IsObject(o)) {
        reject(p, file, lineno, "not a JSON object%s%s", rc ? ": " : "", rc ? perr : "");
        cJSON_Delete(o);
        return PE_OK;
    }
    const char *scope = NULL, *type = NULL, *id = NULL;
    bool del = false;
    cJSON *dv = cJSON_DetachItemFromObjectCaseSensitive(o, "delete");
    int sr = pe_json_get_str(o, "scope", &scope);
    int tr = pe_json_get_str(o, "type", &type);
    if (dv && !cJSON_IsBool(dv)) {
        reject(p, file, lineno, "delete: expected true");
        goto done;
    }
    del = cJSON_IsTrue(dv);
    if (sr) {
        reject(p, file, lineno, "scope: %s (a store id or \"*\")",
               sr == PE_ENOTFOUND ? "missing" : "expected a string");
        goto done;
    }
    if (tr == PE_EINVAL || (tr == PE_OK && strcmp(type, "item") && strcmp(type, "promotion"))) {
        reject(p, file, lineno, "type: expected \"item\" or \"promotion\"");
        goto done;
    }
    bool promotion = tr == PE_OK ? strcmp(type, "promotion") == 0
                                 : cJSON_GetObjectItemCaseSensitive(o, "kind") != NULL;
    if (pe_json_get_str(o, "id", &id) != PE_OK) {
        reject(p, file, lineno, "id: missing or not a string");
        goto done;
    }
    char *key = make_key(scope, id, why, sizeof why);
    if (!key) {
        reject(p, file, lineno, "%s", why);
        goto done;
    }
    if (del) {
        if (cJSON_GetArraySize(o) != (tr == PE_OK ? 3 : 2)) {
            reject(p, file, lineno, "a deletion has only scope, id, type and delete");
            free(key);
            goto done;
        }
        rc = add_rec(p, promotion, key, NULL, 0, file, lineno);
        goto done;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(o, "scope");
    cJSON_DeleteItemFromObjectCaseSensitive(o, "type");
    char *val = NULL;
    size_t len = 0;
    rc = normal_text(o, promotion, &val, &len, why, sizeof why);
    if (rc == PE_OK) {
        rc = add_rec(p, promotion, key, val, len, file, lineno);
    } else {
        free(key);
        if (rc == PE_EINVAL) {
            reject(p, file, lineno, "%s %s: %s", promotion ? "promotion" : "item", id, why);
            rc = PE_OK;
        }
    }
done:
    cJSON_Delete(dv);
    cJSON_Delete(o);
    return rc;
}

/* ---- CSV ---- */

/* X(name, required) - the CSV columns. */
#define CSV_COLUMNS(X)                                                                             \
    X(STORE, "store", true)                                                                        \
    X(ID, "id", true)                                                                              \
    X(BARCODES, "barcodes", true)                                                                  \
    X(NAME, "name", true)                                                                          \
    X(CATEGORY, "category", true)                                                                  \
    X(BRAND, "brand", true)                                                                        \
    X(TAX_BP, "tax_bp", true)                                                                      \
    X(WEIGHED, "weighed", true)                                                                    \
    X(CURRENCY, "currency", true)                                                                  \
    X(PRICE, "price", true)                                                                        \
    X(EFFECTIVE_FROM, "effective_from", true)                                                      \
    X(EFFECTIVE_TO, "effective_to", false)                                                         \
    X(ITEM_ID, "item_id", false)                                                                   \
    X(SUPPLIER_ID, "supplier_id", false)                                                           \
    X(SAFETY_STOCK, "safety_stock", false)

enum csv_col {
#define CSV__ENUM(name, str, req) COL_##name,
    CSV_COLUMNS(CSV__ENUM)
#undef CSV__ENUM
        COL__COUNT
};

static const struct {
    const char *name;
    bool required;
} csv_cols[COL__COUNT] = {
#define CSV__ROW(name, str, req) [COL_##name] = {str, req},
    CSV_COLUMNS(CSV__ROW)
#undef CSV__ROW
};

#define CSV_FIELDS_MAX 32

/* Split one CSV line (RFC 4180 quoting within the line) into fields, in place. Returns the
 * number of fields, or -1 for an unterminated quote. */
static int csv_split(char *line, char *fields[CSV_FIELDS_MAX])
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == CSV_FIELDS_MAX)
            return CSV_FIELDS_MAX + 1;
        char *out = p, *start = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p)
                    return -1;
                if (*p == '"' && p[1] == '"') {
                    *out++ = '"';
                    p += 2;
                } else if (*p == '"') {
                    p++;
                    break;
                } else {
                    *out++ = *p++;
                }
            }
            if (*p && *p != ',')
                return -1;
        } else {
            while (*p && *p != ',')
                *out++ = *p++;
        }
        char sep = *p;
        *out = '\0';
        fields[n++] = start;
        if (!sep)
            return n;
        p++;
    }
}

/* One item of a CSV file: its rows, grouped. */
struct csv_item {
    char *key;                         /* "<store>/<id>" */
    long line;                         /* its first row */
    cJSON *doc;                        /* built from the first row; prices gain a window a row */
    char *fixed;                       /* its first row's columns other than the prices */
    bool bad;                          /* a row was refused: the item is */
};

struct csv {
    int col[COL__COUNT]; /* field index of each column, -1 when absent */
    int ncols;
    struct csv_item *items;
    size_t n, cap;
    struct index by_key; /* items by key */
};

static const char *item_key(const void *ctx, size_t i)
{
    return ((const struct csv *)ctx)->items[i].key;
}

static int header(struct pub *p, struct csv *c, const char *file, long lineno, char *line)
{
    char *f[CSV_FIELDS_MAX];
    int n = csv_split(line, f);
    for (int i = 0; i < COL__COUNT; i++)
        c->col[i] = -1;
    if (n < 0 || n > CSV_FIELDS_MAX) {
        reject(p, file, lineno, "header: not a CSV row of at most %d columns", CSV_FIELDS_MAX);
        return PE_EINVAL;
    }
    for (int i = 0; i < n; i++) {
        int k = 0;
        while (k < COL__COUNT && strcmp(f[i], csv_cols[k].name) != 0)
            k++;
        if (k == COL__COUNT) {
            reject(p, file, lineno, "header: unknown column \"%s\"", f[i]);
            return PE_EINVAL;
        }
        if (c->col[k] >= 0) {
            reject(p, file, lineno, "header: column \"%s\" twice", f[i]);
            return PE_EINVAL;
        }
        c->col[k] = i;
    }
    for (int k = 0; k < COL__COUNT; k++)
        if (csv_cols[k].required && c->col[k] < 0) {
            reject(p, file, lineno, "header: column \"%s\" missing", csv_cols[k].name);
            return PE_EINVAL;
        }
    c->ncols = n;
    return PE_OK;
}

/* An integer field; why says why not. */
static int csv_int(const char *s, const char *col, int64_t *out, char *why, size_t whylen)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno) {
        snprintf(why, whylen, "%s: \"%.40s\" is not an integer", col, s);
        return PE_EINVAL;
    }
    *out = v;
    return PE_OK;
}

/* The item document of one row: everything but the price window (into *doc) and the window
 * (into *window). */
static int csv_row_doc(struct csv *c, char **f, cJSON **doc, cJSON **window, char *why,
                       size_t whylen)
{
    cJSON *o = cJSON_CreateObject(), *w = cJSON_CreateObject();
    int64_t v;
    int rc = PE_ENOMEM;
    if (!o || !w)
        goto fail;
    pe_json_add_int(o, "v", PE_CATALOG_DOC_VERSION);
    pe_json_add_str(o, "id", f[c->col[COL_ID]]);
    cJSON *bc = cJSON_AddArrayToObject(o, "barcodes");
    for (char *s = f[c->col[COL_BARCODES]], *bar; bc && (bar = strsep(&s, "|"));)
        cJSON_AddItemToArray(bc, cJSON_CreateString(bar));
    pe_json_add_str(o, "name", f[c->col[COL_NAME]]);
    pe_json_add_str(o, "category", f[c->col[COL_CATEGORY]]);
    pe_json_add_str(o, "brand", f[c->col[COL_BRAND]]);
    if ((rc = csv_int(f[c->col[COL_TAX_BP]], "tax_bp", &v, why, whylen)))
        goto fail;
    pe_json_add_int(o, "tax_bp", v);
    const char *wd = f[c->col[COL_WEIGHED]];
    bool weighed = strcmp(wd, "true") == 0 || strcmp(wd, "1") == 0;
    if (!weighed && strcmp(wd, "false") != 0 && strcmp(wd, "0") != 0) {
        snprintf(why, whylen, "weighed: expected true or false, got \"%.20s\"", wd);
        rc = PE_EINVAL;
        goto fail;
    }
    cJSON_AddBoolToObject(o, "weighed", weighed);
    pe_json_add_str(o, "currency", f[c->col[COL_CURRENCY]]);
    static const enum csv_col numbers[] = {COL_ITEM_ID, COL_SUPPLIER_ID, COL_SAFETY_STOCK};
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++) {
        int k = c->col[numbers[i]];
        if (k < 0 || !f[k][0])
            continue;
        if ((rc = csv_int(f[k], csv_cols[numbers[i]].name, &v, why, whylen)))
            goto fail;
        pe_json_add_int(o, csv_cols[numbers[i]].name, v);
    }
    if ((rc = csv_int(f[c->col[COL_PRICE]], "price", &v, why, whylen)))
        goto fail;
    pe_json_add_int(w, "price", v);
    pe_json_add_str(w, "effective_from", f[c->col[COL_EFFECTIVE_FROM]]);
    int to = c->col[COL_EFFECTIVE_TO];
    if (to >= 0 && f[to][0])
        pe_json_add_str(w, "effective_to", f[to]);
    else
        cJSON_AddNullToObject(w, "effective_to");
    *doc = o;
    *window = w;
    return PE_OK;
fail:
    cJSON_Delete(o);
    cJSON_Delete(w);
    return rc;
}

static int csv_row(struct pub *p, struct csv *c, const char *file, long lineno, char *line)
{
    char *f[CSV_FIELDS_MAX], why[WHY_MAX];
    int n = csv_split(line, f);
    if (n < 0) {
        reject(p, file, lineno, "an unterminated quote");
        return PE_OK;
    }
    if (n != c->ncols) {
        reject(p, file, lineno, "%d fields, the header has %d", n, c->ncols);
        return PE_OK;
    }
    char *key = make_key(f[c->col[COL_STORE]], f[c->col[COL_ID]], why, sizeof why);
    if (!key) {
        reject(p, file, lineno, "%s", why);
        return PE_OK;
    }
    size_t at = index_find(&c->by_key, key, item_key, c);
    struct csv_item *it = at == (size_t)-1 ? NULL : &c->items[at];
    cJSON *doc = NULL, *window = NULL;
    int rc = csv_row_doc(c, f, &doc, &window, why, sizeof why);
    if (rc == PE_ENOMEM) {
        free(key);
        return rc;
    }
    if (rc) {
        reject(p, file, lineno, "%s", why);
        if (it)
            it->bad = true;
        free(key);
        return PE_OK;
    }
    char *fixed = NULL;
    if (pe_json_canonical(doc, &fixed, NULL) != PE_OK) {
        reject(p, file, lineno, "not valid UTF-8, or a number out of range");
        cJSON_Delete(doc);
        cJSON_Delete(window);
        free(key);
        return PE_OK;
    }
    if (it) {
        /* Another window of an item seen: the rest of the row must be the item's. */
        if (strcmp(fixed, it->fixed) != 0) {
            reject(p, file, lineno, "item %s: differs from its row on line %ld in a column "
                                    "other than price, effective_from and effective_to",
                   key, it->line);
            it->bad = true;
            cJSON_Delete(window);
        } else {
            cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(it->doc, "prices"), window);
        }
        cJSON_Delete(doc);
        free(fixed);
        free(key);
        return PE_OK;
    }
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        struct csv_item *v = realloc(c->items, cap * sizeof *v);
        if (!v) {
            cJSON_Delete(doc);
            cJSON_Delete(window);
            free(fixed);
            free(key);
            return PE_ENOMEM;
        }
        c->items = v;
        c->cap = cap;
    }
    cJSON_AddItemToArray(cJSON_AddArrayToObject(doc, "prices"), window);
    c->items[c->n] = (struct csv_item){key, lineno, doc, fixed, false};
    if (index_add(&c->by_key, key, c->n, item_key, c)) {
        cJSON_Delete(doc);
        free(fixed);
        free(key);
        return PE_ENOMEM;
    }
    c->n++;
    return PE_OK;
}

/* Every item of a CSV file, checked whole, into p. */
static int csv_finish(struct pub *p, struct csv *c, const char *file)
{
    int rc = PE_OK;
    for (size_t i = 0; i < c->n; i++) {
        struct csv_item *it = &c->items[i];
        char why[WHY_MAX], *val = NULL;
        size_t len = 0;
        if (rc == PE_OK && !it->bad) {
            rc = normal_text(it->doc, false, &val, &len, why, sizeof why);
            if (rc == PE_OK) {
                rc = add_rec(p, false, it->key, val, len, file, it->line);
                it->key = NULL;
            } else if (rc == PE_EINVAL) {
                reject(p, file, it->line, "item %s: %s", it->key, why);
                rc = PE_OK;
            }
        }
        free(it->key);
        free(it->fixed);
        cJSON_Delete(it->doc);
    }
    free(c->items);
    free(c->by_key.slot);
    return rc;
}

/* Read one file (CSV, or JSON lines when its first line starts with '{') into p. Errors:
 * PE_EIO (cannot read: said on stderr), PE_ENOMEM. */
static int read_file(struct pub *p, const char *file)
{
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (!f) {
        fprintf(stderr, "posedge-ctl catalog publish: %s: %s\n", file, strerror(errno));
        return PE_EIO;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    long lineno = 0;
    int rc = PE_OK, fmt = 0; /* 0: not known yet, 1: CSV, 2: JSON lines */
    struct csv c = {.ncols = 0};
    bool header_bad = false;
    while (rc == PE_OK && (got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        size_t n = (size_t)got;
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        char *text = line;
        if (lineno == 1 && n >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0) {
            text += 3; /* a BOM, as spreadsheets write them */
            n -= 3;
        }
        if (n == 0)
            continue;
        if (fmt == 0) {
            fmt = text[0] == '{' ? 2 : 1;
            if (fmt == 1) {
                header_bad = header(p, &c, file, lineno, text) != PE_OK;
                if (header_bad)
                    break;
                continue;
            }
        }
        rc = fmt == 2 ? jsonl_line(p, file, lineno, text, n) : csv_row(p, &c, file, lineno, text);
    }
    if (ferror(f)) {
        fprintf(stderr, "posedge-ctl catalog publish: %s: %s\n", file, strerror(errno));
        rc = rc ? rc : PE_EIO;
    }
    free(line);
    if (f != stdin)
        fclose(f);
    int frc = fmt == 1 ? csv_finish(p, &c, file) : PE_OK;
    return rc ? rc : frc;
}

/* ---- producing ---- */

struct produced {
    long delivered, failed;
    char err[256];
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct produced *pr = opaque;
    (void)rk;
    if (m->err) {
        if (!pr->failed)
            snprintf(pr->err, sizeof pr->err, "%s", rd_kafka_err2str(m->err));
        pr->failed++;
    } else {
        pr->delivered++;
    }
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    if (level <= 3)
        pe_log(PE_LOG_WARN, "catalog.librdkafka", "fac=%s msg=\"%s\"", fac, buf);
}

/* Say a transaction error; true when it says to retry the call. */
static bool txn_failed(const char *what, rd_kafka_error_t *e)
{
    bool retry = rd_kafka_error_is_retriable(e);
    if (!retry)
        fprintf(stderr, "posedge-ctl catalog publish: %s: %s\n", what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return retry;
}

static int produce_all(const struct pub *p, const struct pe_kafka_site *site, const char *topic,
                       const char *promotions_topic, int64_t deadline)
{
    char err[512];
    rd_kafka_conf_t *conf = NULL;
    struct produced pr = {0};
    if (pe_kafka_conf_new(PE_KAFKA_PRODUCER_TRANSACTIONAL, site, &conf, err, sizeof err)) {
        fprintf(stderr, "posedge-ctl catalog publish: %s\n", err);
        return EXIT_USAGE;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_opaque(conf, &pr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "posedge-ctl catalog publish: %s\n", err);
        return EXIT_USAGE;
    }
    int status = EXIT_USAGE;
    rd_kafka_error_t *e;
    int64_t left;
    while ((left = deadline - pe_mono_ms()) > 0 &&
           (e = rd_kafka_init_transactions(rk, (int)left)))
        if (!txn_failed("cannot begin (is Kafka there, and may this user use transactional id "
                        "posedge-ctl-catalog?)",
                        e))
            goto destroy;
    if (left <= 0) {
        fprintf(stderr, "posedge-ctl catalog publish: Kafka did not answer in time\n");
        goto destroy;
    }
    /* A producer learns a topic's partitions on its first message to it, and waits for the
     * next metadata round (about a second) to do so: ask for both topics now. */
    const char *const topics[] = {topic, promotions_topic};
    for (size_t i = 0; i < 2; i++) {
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topics[i], NULL);
        const struct rd_kafka_metadata *md = NULL;
        left = deadline - pe_mono_ms();
        if (rkt && left > 0 && !rd_kafka_metadata(rk, 0, rkt, &md, (int)left))
            rd_kafka_metadata_destroy(md);
        if (rkt)
            rd_kafka_topic_destroy(rkt);
    }
    if ((e = rd_kafka_begin_transaction(rk))) {
        txn_failed("begin", e);
        goto destroy;
    }
    for (size_t i = 0; i < p->n; i++) {
        const struct rec *r = &p->v[i];
        rd_kafka_resp_err_t pe;
        const char *t = r->promotion ? promotions_topic : topic;
        while ((pe = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(t),
                                       RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                       RD_KAFKA_V_KEY(r->key, strlen(r->key)),
                                       RD_KAFKA_V_VALUE(r->val, r->val ? r->len : 0),
                                       RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL &&
               pe_mono_ms() < deadline)
            rd_kafka_poll(rk, 100);
        if (pe) {
            fprintf(stderr, "posedge-ctl catalog publish: %s:%ld: %s\n", r->file, r->line,
                    rd_kafka_err2str(pe));
            goto abort;
        }
    }
    while ((left = deadline - pe_mono_ms()) > 0 &&
           (e = rd_kafka_commit_transaction(rk, (int)left))) {
        bool abortable = rd_kafka_error_txn_requires_abort(e);
        if (!txn_failed("commit", e) || abortable)
            goto abort;
    }
    if (left <= 0) {
        fprintf(stderr, "posedge-ctl catalog publish: the transaction was not committed in "
                        "time\n");
        goto abort;
    }
    if (pr.failed) {
        fprintf(stderr, "posedge-ctl catalog publish: %ld records failed: %s\n", pr.failed,
                pr.err);
        goto destroy;
    }
    status = 0;
    goto destroy;
abort:
    left = deadline - pe_mono_ms();
    if ((e = rd_kafka_abort_transaction(rk, left > 1000 ? (int)left : 1000)))
        rd_kafka_error_destroy(e);
    fprintf(stderr, "posedge-ctl catalog publish: the transaction was aborted: nothing is "
                    "published\n");
destroy:
    rd_kafka_destroy(rk);
    return status;
}

/* The security options' values start here in getopt's val (SEC_OPT + index). */
#define SEC_OPT 1000
#define SEC_MAX 16

static int cmd_publish(int argc, char **argv)
{
    static const struct option fixed[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"bridge-config", required_argument, NULL, 'C'},
        {"topic", required_argument, NULL, 't'},
        {"promotions-topic", required_argument, NULL, 'P'},
        {"transactional-id", required_argument, NULL, 'x'},
        {"skip-rejects", no_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
    };
    struct option longopts[sizeof fixed / sizeof fixed[0] + SEC_MAX + 1];
    const char *sec_args[SEC_MAX] = {NULL};
    int nopt = 0, nsec = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        longopts[nopt++] = fixed[i];
    for (; pe_kafka_security_keys[nsec].key && nsec < SEC_MAX; nsec++)
        longopts[nopt++] = (struct option){pe_kafka_security_keys[nsec].option, required_argument,
                                           NULL, SEC_OPT + nsec};
    longopts[nopt] = (struct option){NULL, 0, NULL, 0};
    const char *brokers = NULL, *bridge_path = NULL, *topic = DEFAULT_TOPIC,
               *promotions_topic = DEFAULT_PROMOTIONS_TOPIC, *tid = DEFAULT_TID;
    bool skip = false;
    long timeout_s = 60;
    struct pe_kafka_security sec;
    struct pe_kafka_client bcfg = {0};
    char why[512];
    int c;
    pe_kafka_security_defaults(&sec);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c >= SEC_OPT && c < SEC_OPT + nsec)
            sec_args[c - SEC_OPT] = optarg;
        else if (c == 'b')
            brokers = optarg;
        else if (c == 'C')
            bridge_path = optarg;
        else if (c == 't')
            topic = optarg;
        else if (c == 'P')
            promotions_topic = optarg;
        else if (c == 'x')
            tid = optarg;
        else if (c == 's')
            skip = true;
        else if (c == 'T') {
            if (ctl_seconds("catalog publish", "--timeout", optarg, 3600, &timeout_s))
                return EXIT_USAGE;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (bridge_path) {
        if (pe_kafka_client_load(bridge_path, &bcfg, why, sizeof why) != PE_OK) {
            fprintf(stderr, "posedge-ctl catalog publish: --bridge-config %s\n", why);
            return EXIT_USAGE;
        }
        sec = bcfg.security;
        if (!brokers)
            brokers = bcfg.brokers;
    }
    int status = 0;
    for (int i = 0; i < nsec && !status; i++)
        if (sec_args[i] && pe_kafka_security_set(&sec, i, sec_args[i], why, sizeof why)) {
            fprintf(stderr, "posedge-ctl catalog publish: --%s: %s\n",
                    pe_kafka_security_keys[i].option, why);
            status = EXIT_USAGE;
        }
    if (!status && pe_kafka_security_check(&sec, why, sizeof why)) {
        fprintf(stderr, "posedge-ctl catalog publish: %s\n", why);
        status = EXIT_USAGE;
    }
    if (!status && (!brokers || !*brokers || optind >= argc || !*topic || !*promotions_topic)) {
        fprintf(stderr, "posedge-ctl catalog publish: needs --brokers (or --bridge-config) and "
                        "at least one FILE\n");
        status = EXIT_USAGE;
    }
    struct pub p = {0};
    int64_t deadline = pe_mono_ms() + timeout_s * 1000;
    for (int i = optind; !status && i < argc; i++) {
        int rc = read_file(&p, argv[i]);
        if (rc)
            status = EXIT_USAGE;
    }
    if (!status && p.rejected && !skip) {
        printf("rejected=%ld: nothing published (fix the lines above, or --skip-rejects to "
               "publish the %zu valid records)\n",
               p.rejected, p.n);
        status = EXIT_FAIL;
    } else if (!status) {
        struct pe_kafka_site site = {.brokers = brokers,
                                     .properties = bcfg.properties,
                                     .security = &sec,
                                     .transactional_id = tid};
        status = p.n ? produce_all(&p, &site, topic, promotions_topic, deadline) : 0;
        if (!status)
            printf("published items=%ld promotions=%ld deletions=%ld rejected=%ld\n", p.items,
                   p.promotions, p.deletions, p.rejected);
    }
    for (size_t i = 0; i < p.n; i++) {
        free(p.v[i].key);
        free(p.v[i].val);
    }
    free(p.v);
    free(p.keys[0].slot);
    free(p.keys[1].slot);
    free(p.bc);
    free(p.by_code.slot);
    pe_kafka_client_free(&bcfg);
    if (fflush(stdout) != 0 && !status)
        status = EXIT_USAGE;
    return status;
}

/* ---- status ---- */

struct till {
    char id[PE_ID_MAX];
    char state[16];     /* "online", "offline", "?" */
    int64_t version;    /* -1: the state says none */
    int64_t applied_ms; /* -1: unknown */
    int64_t ts_ms;      /* when the state document was written (the till's clock), -1 */
    char error[120];    /* the catalog's error, "" when none */
};

_Static_assert(offsetof(struct till, id) == 0, "ctl_till_get and ctl_by_id: the id first");

struct cstatus {
    struct ctl_link link; /* the connection, the options it takes, the probe */
    bool have_version;
    int64_t version, items, promotions, ts_ms;
    char hash[PE_SHA256_HEXLEN];
    struct till *tills;
    size_t n, cap;
};

static int64_t time_of(const cJSON *o, const char *key)
{
    const char *s = NULL;
    int64_t ms = -1;
    if (pe_json_get_str(o, key, &s) != PE_OK || pe_time_parse(s, &ms) != PE_OK)
        return -1;
    return ms;
}

static void take_state(struct cstatus *st, const char *terminal, const void *payload, size_t len)
{
    struct till *t = ctl_till_get(&st->tills, &st->n, &st->cap, sizeof *t, terminal, len > 0);
    if (!t)
        return; /* a cleared state of a till not seen, or out of memory */
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", terminal);
    snprintf(t->state, sizeof t->state, "?");
    t->version = t->applied_ms = t->ts_ms = -1;
    cJSON *o = NULL;
    const char *s = NULL;
    if (pe_json_parse(payload, len, &o, NULL, 0) != PE_OK)
        return;
    ctl_state_word(o, t->state, sizeof t->state);
    const cJSON *cat = cJSON_GetObjectItemCaseSensitive(o, "catalog");
    int64_t v;
    if (pe_json_get_int(cat, "version", &v) == PE_OK && v >= 0)
        t->version = v;
    t->applied_ms = time_of(cat, "applied");
    t->ts_ms = time_of(o, "ts");
    if (pe_json_get_str(cat, "error", &s) == PE_OK && *s)
        snprintf(t->error, sizeof t->error, "%s", s);
    cJSON_Delete(o);
}

static void take_version(struct cstatus *st, const void *payload, size_t len)
{
    cJSON *o = NULL;
    const char *h = NULL;
    st->have_version = false;
    if (pe_json_parse(payload, len, &o, NULL, 0) != PE_OK)
        return;
    st->have_version = pe_json_get_int(o, "version", &st->version) == PE_OK &&
                       pe_json_get_str(o, "hash", &h) == PE_OK && pe_is_sha256_hex(h);
    if (st->have_version) {
        memcpy(st->hash, h, sizeof st->hash);
        if (pe_json_get_int(o, "items", &st->items) != PE_OK)
            st->items = -1;
        if (pe_json_get_int(o, "promotions", &st->promotions) != PE_OK)
            st->promotions = -1;
        st->ts_ms = time_of(o, "ts");
    }
    cJSON_Delete(o);
}

/* A message on one of the store's topics (ctl_link_deliver). */
static void st_message(void *ctx, const char *terminal, enum pe_channel ch, const void *payload,
                       size_t len)
{
    if (ch == PE_CH_CATALOG && strcmp(terminal, PE_ID_BRIDGE) == 0)
        take_version(ctx, payload, len);
    else if (ch == PE_CH_STATE && !pe_id_reserved(terminal))
        take_state(ctx, terminal, payload, len);
}

/* "2026-12-08T06:00:00.000Z (3m04s ago)" (ago: before now, in the clock ms is of), the time
 * alone when now is unknown (-1), or "-". */
static void fmt_when(int64_t ms, int64_t now, char *out, size_t n)
{
    char ts[PE_TIME_STRLEN];
    if (ms < 0) {
        snprintf(out, n, "-");
        return;
    }
    if (now < 0) {
        pe_time_format(ms, ts);
        snprintf(out, n, "%s", ts);
        return;
    }
    long long s = now > ms ? (long long)((now - ms) / 1000) : 0;
    pe_time_format(ms, ts);
    if (s < 60)
        snprintf(out, n, "%s (%llds ago)", ts, s);
    else if (s < 3600)
        snprintf(out, n, "%s (%lldm%02llds ago)", ts, s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, n, "%s (%lldh%02lldm ago)", ts, s / 3600, s / 60 % 60);
    else
        snprintf(out, n, "%s (%lldd%02lldh ago)", ts, s / 86400, s / 3600 % 24);
}

static int st_print(struct cstatus *st)
{
    int64_t now = pe_time_now_ms();
    char when[64];
    if (!st->have_version) {
        printf("store %s: no catalog version from the bridge (no retained document on its "
               "catalog topic: is the bridge running with catalog.enabled?)\n",
               st->link.store);
    } else {
        fmt_when(st->ts_ms, now, when, sizeof when);
        printf("store %s: catalog version %lld items=%lld promotions=%lld hash=%.16s made %s\n",
               st->link.store, (long long)st->version, (long long)st->items,
               (long long)st->promotions, st->hash, when);
    }
    qsort(st->tills, st->n, sizeof *st->tills, ctl_by_id);
    long current = 0, behind = 0, unknown = 0;
    if (st->n)
        printf("%-12s %-10s %-8s %-42s %s\n", "TERMINAL", "STATE", "VERSION", "APPLIED",
               "STATUS");
    for (size_t i = 0; i < st->n; i++) {
        const struct till *t = &st->tills[i];
        char ver[24], status[64];
        fmt_when(t->applied_ms, t->ts_ms, when, sizeof when); /* both the till's clock */
        if (t->version < 0) {
            snprintf(ver, sizeof ver, "-");
            snprintf(status, sizeof status, "unknown");
            unknown++;
        } else {
            snprintf(ver, sizeof ver, "%lld", (long long)t->version);
            if (st->have_version && t->version == st->version) {
                snprintf(status, sizeof status, "current");
                current++;
            } else if (st->have_version && t->version < st->version) {
                snprintf(status, sizeof status, "behind by %lld",
                         (long long)(st->version - t->version));
                behind++;
            } else {
                snprintf(status, sizeof status, st->have_version ? "ahead" : "unknown");
                unknown++;
            }
        }
        printf("%-12s %-10s %-8s %-42s %s", t->id, t->state, ver, when, status);
        if (t->error[0]) {
            printf(" error=");
            ctl_put_text(stdout, t->error);
        }
        putchar('\n');
    }
    printf("tills=%zu current=%ld behind=%ld unknown=%ld\n", st->n, current, behind, unknown);
    return st->have_version && current == (long)st->n ? 0 : EXIT_FAIL;
}

static int cmd_status(int argc, char **argv)
{
    static const struct option longopts[] = {
        CTL_LINK_LONGOPTS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static const struct ctl_link_sub subs[] = {{PE_ID_BRIDGE, PE_CH_CATALOG, 0},
                                               {NULL, PE_CH_STATE, 0}};
    static const struct ctl_link_hooks hooks = {.message = st_message};
    struct cstatus st = {.have_version = false};
    ctl_link_init(&st.link, "catalog status", 5, 3600, &hooks, &st);
    st.link.subs = subs;
    st.link.nsubs = sizeof subs / sizeof *subs;
    int c, taken, status = EXIT_USAGE;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if ((taken = ctl_link_opt(&st.link, c, optarg)) < 0) {
            return EXIT_USAGE;
        } else if (taken) {
            continue;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!st.link.addr || !st.link.store || optind != argc) {
        fprintf(stderr, "posedge-ctl catalog status: needs --mqtt HOST:PORT and --store S\n");
        return EXIT_USAGE;
    }
    if (ctl_link_check(&st.link))
        goto close_link;
    status = EXIT_FAIL;
    long timeout_s = st.link.timeout_s;
    int64_t deadline = pe_mono_ms() + timeout_s * 1000;
    if (ctl_link_open(&st.link))
        goto close_link;
    int rc = ctl_link_collect(&st.link, deadline);
    if (rc != PE_OK && rc != PE_EAGAIN && rc != PE_EDECLINED) {
        fprintf(stderr, "posedge-ctl catalog status: event loop: %s\n", pe_strerror(rc));
        goto close_link;
    }
    if (!ctl_link_reached(&st.link, timeout_s))
        goto close_link;
    if (!st.link.probed)
        fprintf(stderr, "posedge-ctl catalog status: the broker did not confirm the "
                        "subscriptions within %ld s; the list may be incomplete\n",
                timeout_s);
    status = st_print(&st);
    if (fflush(stdout) != 0)
        status = EXIT_FAIL;
close_link:
    ctl_link_close(&st.link);
    free(st.tills);
    return status;
}

int ctl_catalog(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    if (strcmp(argv[1], "publish") == 0)
        return cmd_publish(argc - 1, argv + 1);
    if (strcmp(argv[1], "status") == 0)
        return cmd_status(argc - 1, argv + 1);
    fprintf(stderr, "posedge-ctl catalog: unknown subcommand \"%s\"\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
