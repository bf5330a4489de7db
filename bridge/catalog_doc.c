/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog_doc.c - the bridge's adapter to the catalog document model (see catalog_doc.h).
 *
 * Checks and normal forms are the model's (posedge/catalog.h): a record's value is parsed,
 * checked and rewritten in its normal form (pe_catalog_doc_normalize_*), whose canonical JSON
 * is what the bridge stores and serves. The content hash is the model's definition
 * (pe_catalog_content_hash: SHA-256 of the canonical {"items":[...],"promotions":[...]} of the
 * normal forms in id order), computed here as a stream over the stored bytes, which are those
 * very canonical normal forms already: no document is parsed again to hash a version of
 * 50,000 items (tests/unit/test_catalog_store.c checks that both give the same hash).
 */
#include "bridge/catalog_doc.h"

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "posedge/catalog.h"
#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "posedge/sha256_compat.h"


static const char *const colls[CATALOG_KIND__COUNT] = {
#define CATALOG__KIND_ROW(name, coll) [CATALOG_##name] = coll,
    CATALOG_KINDS(CATALOG__KIND_ROW)
#undef CATALOG__KIND_ROW
};

const char *catalog_kind_coll(enum catalog_kind k)
{
    return (unsigned)k < CATALOG_KIND__COUNT ? colls[k] : NULL;
}

int catalog_doc_key(const char *store, const void *key, size_t keylen, char id[PE_CATALOG_ID_MAX],
                    char *why, size_t whylen)
{
    char scope[PE_ID_MAX], kid[PE_CATALOG_ID_MAX];
    const char *k = key, *slash = key ? memchr(key, '/', keylen) : NULL;
    size_t sl = slash ? (size_t)(slash - k) : keylen;
    if (!key || sl == 0 || sl >= sizeof scope || memchr(k, '\0', sl))
        return 0; /* no scope this store could be */
    memcpy(scope, k, sl);
    scope[sl] = '\0';
    int rank = pe_catalog_scope_rank(scope, store);
    if (rank == 0)
        return 0;
    if (pe_catalog_key_parse(k, keylen, scope, kid) != PE_OK) {
        snprintf(why, whylen, "key: expected \"<store or *>/<id>\", the id 1 to %d printable "
                              "ASCII characters",
                 PE_CATALOG_ID_MAX - 1);
        return -1;
    }
    memcpy(id, kid, sizeof kid);
    return rank;
}

int catalog_doc_check(enum catalog_kind kind, const char *id, const void *val, size_t len,
                      char **out, size_t *outlen, char *why, size_t whylen)
{
    char perr[128];
    cJSON *doc = NULL, *norm = NULL;
    const char *got = NULL;
    *out = NULL;
    *outlen = 0;
    if (whylen)
        why[0] = '\0';
    int rc = pe_json_parse(val, len, &doc, perr, sizeof perr);
    if (rc == PE_ENOMEM)
        return rc;
    if (rc || !cJSON_IsObject(doc)) {
        snprintf(why, whylen, "not a JSON object%s%s", rc ? ": " : "", rc ? perr : "");
        cJSON_Delete(doc);
        return PE_EINVAL;
    }
    rc = kind == CATALOG_ITEM ? pe_catalog_doc_normalize_item(doc, &norm, why, whylen)
                              : pe_catalog_doc_normalize_promotion(doc, &norm, why, whylen);
    if (rc == PE_OK && (pe_json_get_str(norm, "id", &got) != PE_OK || strcmp(got, id) != 0)) {
        snprintf(why, whylen, "id: \"%s\" is not the key's id \"%s\"", got ? got : "", id);
        rc = PE_EINVAL;
    }
    if (rc == PE_OK) {
        rc = pe_json_canonical(norm, out, outlen);
        if (rc == PE_EINVAL)
            snprintf(why, whylen, "not valid UTF-8, or a number out of range");
    }
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

int catalog_doc_barcodes(const char *doc, size_t len, uint64_t out[PE_CATALOG_BARCODES_MAX])
{
    /* In canonical JSON a quote inside a string is escaped, so these bytes are the member. */
    static const char member[] = "\"barcodes\":[";
    const size_t mlen = sizeof member - 1;
    const char *p = NULL;
    for (size_t i = 0; !p && i + mlen <= len; i++)
        if (doc[i] == '"' && memcmp(doc + i, member, mlen) == 0)
            p = doc + i + mlen;
    if (!p)
        return -1;
    const char *end = doc + len;
    int n = 0;
    for (;;) {
        if (n == PE_CATALOG_BARCODES_MAX || end - p < 15 || p[0] != '"' || p[14] != '"')
            return -1;
        uint64_t v = 0;
        for (int i = 1; i <= 13; i++) {
            if (p[i] < '0' || p[i] > '9')
                return -1;
            v = v * 10 + (uint64_t)(p[i] - '0');
        }
        out[n++] = v;
        p += 15;
        if (p < end && *p == ']')
            return n;
        if (p >= end || *p != ',')
            return -1;
        p++;
    }
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
        put(h, colls[h->kind]);
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
