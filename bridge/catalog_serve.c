/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog_serve.c - the version document and the answers to catalog/get (see
 * catalog_serve.h).
 *
 * An answer is counted first (how many documents and ids each list gets, so that every chunk
 * can say how many chunks there are), then streamed: one pass over the changed documents of
 * each kind in id order puts each into the list it belongs to ("items" or "delisted",
 * "promotions" or "removed"), and a chunk is written out as soon as it holds
 * CATALOG_CHUNK_DOCS entries. Documents are the stored canonical bytes, copied as they are, so
 * the till hashes exactly what the bridge hashed. Counting and streaming run in the same read
 * transaction, so the count holds.
 */
#include "bridge/catalog_serve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/json.h"
#include "posedge/spool.h"

/* The lists of an answer: per kind, those with a document and those taken away. */
static const char *const list_names[CATALOG_KIND__COUNT][2] = {
    [CATALOG_ITEM] = {"items", "delisted"},
    [CATALOG_PROMOTION] = {"promotions", "removed"},
};

char *catalog_serve_version_doc(const struct catalog_version *v)
{
    char ts[PE_TIME_STRLEN], *out = NULL;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    pe_json_add_int(o, "v", 1);
    pe_json_add_int(o, "version", v->version);
    pe_json_add_str(o, "hash", v->hash);
    pe_json_add_int(o, "items", v->items);
    pe_json_add_int(o, "promotions", v->promotions);
    if (v->ts_ms > 0) {
        pe_time_format(v->ts_ms, ts);
        pe_json_add_str(o, "ts", ts);
    } else {
        cJSON_AddNullToObject(o, "ts");
    }
    if (pe_json_canonical(o, &out, NULL) != PE_OK)
        out = NULL;
    cJSON_Delete(o);
    return out;
}

static int req_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CATALOG_REQ_MAX)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("._:-", *s)))
            return 0;
    return 1;
}

int catalog_serve_parse_get(const void *payload, size_t len, struct catalog_get *out, char *why,
                            size_t whylen)
{
    cJSON *o = NULL;
    char perr[96];
    const char *req = NULL;
    int64_t v = 0;
    memset(out, 0, sizeof *out);
    int rc = pe_json_parse(payload, len, &o, perr, sizeof perr);
    if (rc == PE_ENOMEM)
        return rc;
    if (rc || !cJSON_IsObject(o)) {
        snprintf(why, whylen, "not a JSON object");
        rc = PE_EINVAL;
    } else if (pe_json_get_int(o, "v", &v) || v != 1) {
        snprintf(why, whylen, "v: expected 1");
        rc = PE_EINVAL;
    } else if (pe_json_get_str(o, "req", &req) || !req_valid(req)) {
        snprintf(why, whylen, "req: expected 1 to %d of A-Z a-z 0-9 . _ : -", CATALOG_REQ_MAX);
        rc = PE_EINVAL;
    } else if (pe_json_get_int(o, "since", &out->since) || out->since < 0) {
        snprintf(why, whylen, "since: expected a version >= 0");
        rc = PE_EINVAL;
    } else {
        memcpy(out->req, req, strlen(req) + 1);
    }
    cJSON_Delete(o);
    return rc;
}

/* ---- building an answer ---- */

struct buf {
    char *p;
    size_t len, cap;
};

static int put(struct buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return PE_ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return PE_OK;
}

static int puts_(struct buf *b, const char *s)
{
    return put(b, s, strlen(s));
}

/* s as a JSON string (ids are plain, but a damaged spool must not make bad JSON). */
static int put_string(struct buf *b, const char *s)
{
    int rc = put(b, "\"", 1);
    for (; rc == PE_OK && *s; s++) {
        char esc[8];
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", (unsigned char)*s);
            rc = puts_(b, esc);
        } else {
            rc = put(b, s, 1);
        }
    }
    return rc == PE_OK ? put(b, "\"", 1) : rc;
}

struct answer {
    const struct catalog_get *g;
    struct catalog_version v;
    bool full;
    int chunks;                           /* in the whole answer */
    int chunk;                            /* the next one's index */
    int n;                                /* entries in the chunk being filled */
    struct buf list[CATALOG_KIND__COUNT][2]; /* its lists' contents, comma-separated */
    struct buf out;                       /* the chunk's payload */
    enum catalog_kind kind;               /* the kind being streamed */
    int (*emit)(void *ctx, int chunk, int chunks, const char *payload, size_t len);
    void *ctx;
    struct catalog_answer info;
};

static int flush_chunk(struct answer *a)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "{\"v\":1,\"req\":\"%s\",\"version\":%lld,\"since\":%lld,\"full\":%s,"
                     "\"chunk\":%d,\"chunks\":%d,\"hash\":\"%s\"",
                     a->g->req, (long long)a->v.version, (long long)a->g->since,
                     a->full ? "true" : "false", a->chunk, a->chunks, a->v.hash);
    a->out.len = 0;
    int rc = put(&a->out, head, (size_t)n);
    /* The catalog's currency; a catalog without items has none, and says nothing. */
    if (rc == PE_OK && a->v.currency[0]) {
        rc = puts_(&a->out, ",\"currency\":");
        if (rc == PE_OK)
            rc = put_string(&a->out, a->v.currency);
    }
    for (int k = 0; rc == PE_OK && k < CATALOG_KIND__COUNT; k++)
        for (int r = 0; rc == PE_OK && r < 2; r++) {
            struct buf *l = &a->list[k][r];
            rc = puts_(&a->out, ",\"");
            if (rc == PE_OK)
                rc = puts_(&a->out, list_names[k][r]);
            if (rc == PE_OK)
                rc = puts_(&a->out, "\":[");
            if (rc == PE_OK && l->len)
                rc = put(&a->out, l->p, l->len);
            if (rc == PE_OK)
                rc = puts_(&a->out, "]");
            l->len = 0;
        }
    if (rc == PE_OK)
        rc = puts_(&a->out, "}");
    if (rc)
        return rc;
    a->info.chunks++;
    a->info.entries += a->n;
    a->info.bytes += (int64_t)a->out.len;
    rc = a->emit(a->ctx, a->chunk, a->chunks, a->out.p, a->out.len);
    a->chunk++;
    a->n = 0;
    return rc;
}

static int add_entry(const struct pe_spool_doc *d, void *ctx)
{
    struct answer *a = ctx;
    struct buf *l = &a->list[a->kind][d->doc ? 0 : 1];
    int rc = l->len ? put(l, ",", 1) : PE_OK;
    if (rc == PE_OK)
        rc = d->doc ? put(l, d->doc, d->len) : put_string(l, d->key);
    if (rc)
        return rc;
    if (++a->n == CATALOG_CHUNK_DOCS)
        return flush_chunk(a);
    return PE_OK;
}

static int answer_in_txn(struct pe_spool *sp, void *ctx)
{
    struct answer *a = ctx;
    int rc = catalog_store_read_version(sp, &a->v);
    if (rc)
        return rc;
    /* A version the bridge never made (a spool made anew) cannot be a base: the whole. */
    a->full = a->g->since <= 0 || a->g->since > a->v.version;
    int64_t after = a->full ? 0 : a->g->since, total = 0;
    for (int k = 0; k < CATALOG_KIND__COUNT; k++) {
        int64_t present = 0, removed = 0;
        rc = pe_spool_docs_count(sp, catalog_kind_coll((enum catalog_kind)k), after, &present,
                                 &removed);
        if (rc)
            return rc;
        total += present + (a->full ? 0 : removed);
    }
    a->chunks = total ? (int)((total + CATALOG_CHUNK_DOCS - 1) / CATALOG_CHUNK_DOCS) : 1;
    a->info.version = a->v.version;
    a->info.full = a->full;
    for (int k = 0; k < CATALOG_KIND__COUNT; k++) {
        a->kind = (enum catalog_kind)k;
        rc = pe_spool_docs(sp, catalog_kind_coll(a->kind), after, !a->full, add_entry, a);
        if (rc)
            return rc;
    }
    if (a->n > 0 || a->chunk == 0)
        rc = flush_chunk(a);
    if (rc == PE_OK && a->chunk != a->chunks)
        rc = PE_EIO; /* cannot happen inside one read transaction */
    return rc;
}

int catalog_serve_answer(struct pe_spool *sp, const struct catalog_get *g,
                         int (*emit)(void *ctx, int chunk, int chunks, const char *payload,
                                     size_t len),
                         void *ctx, struct catalog_answer *info)
{
    struct answer a = {.g = g, .emit = emit, .ctx = ctx};
    int rc = pe_spool_read(sp, answer_in_txn, &a);
    for (int k = 0; k < CATALOG_KIND__COUNT; k++)
        for (int r = 0; r < 2; r++)
            free(a.list[k][r].p);
    free(a.out.p);
    if (info)
        *info = a.info;
    return rc;
}
