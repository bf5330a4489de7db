/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_catalog_store.c - the bridge's store catalog (bridge/catalog_store.c, catalog_serve.c,
 * catalog_doc.c) over a real spool: a batch and its positions are one transaction (a rollback
 * or a process gone before the commit leaves the last batch whole), records wait in the stage
 * until a batch applies it, every applied stage that changes the catalog raises the version by
 * one and marks what it changed, a barcode is one item's in force, the store's records
 * override "*" ones and their tombstones fall back, refused records change nothing, answers
 * are full or the delta (deletions included) in chunks of at most 500 entries, and the
 * streamed content hash is the model's (pe_catalog_content_hash).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "bridge/catalog_doc.h"
#include "bridge/catalog_serve.h"
#include "bridge/catalog_store.h"
#include "posedge/catalog.h"
#include "posedge/err.h"
#include "posedge/json.h"
#include "posedge/spool.h"
#include "tests/unit/harness.h"

#define ITEMS "pos.catalog"
#define PROMOS "pos.promotions"

static struct pe_spool *open_spool(const char *path)
{
    struct pe_spool *s = NULL;
    char err[256];
    int rc = pe_spool_open(path, NULL, &s, err, sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "open %s: %s", path, err);
    return s;
}

/* An item document of id at price (valid barcode from n). */
static void item_doc(char *out, size_t n, const char *id, int num, long price)
{
    char bc[14];
    snprintf(bc, sizeof bc, "400%09d", num);
    bc[12] = (char)('0' + pe_ean13_check_digit(bc));
    bc[13] = '\0';
    snprintf(out, n,
             "{\"v\":1,\"id\":\"%s\",\"barcodes\":[\"%s\"],\"name\":\"Item %s\",\"category\":"
             "\"Soups\",\"brand\":\"B\",\"tax_bp\":2000,\"weighed\":false,\"currency\":\"EUR\","
             "\"price\":%ld,\"effective_from\":\"2026-01-01T00:00:00.000Z\"}",
             id, bc, id, price);
}

static void promo_doc(char *out, size_t n, const char *id, int pct)
{
    snprintf(out, n,
             "{\"v\":1,\"id\":\"%s\",\"name\":\"%d off\",\"kind\":\"percent\",\"target\":"
             "{\"category\":\"Soups\"},\"percent_bp\":%d,\"from\":\"2026-01-01T00:00:00.000Z\"}",
             id, pct, pct * 100);
}

static int64_t offsets[2]; /* the next offset of partition 0 of each topic */

/* Apply one record (val NULL: a tombstone) and return its outcome. */
static enum catalog_outcome add(struct catalog_store *cs, enum catalog_kind kind, const char *key,
                                const char *val, char *why)
{
    struct catalog_record r = {
        .kind = kind,
        .topic = kind == CATALOG_ITEM ? ITEMS : PROMOS,
        .partition = 0,
        .offset = offsets[kind]++,
        .key = key,
        .keylen = strlen(key),
        .val = val,
        .len = val ? strlen(val) : 0,
    };
    enum catalog_outcome out;
    char w[256];
    CHECK_OK(catalog_store_add(cs, &r, &out, why ? why : w, 256));
    return out;
}

static enum catalog_outcome add_item(struct catalog_store *cs, const char *scope, const char *id,
                                     int num, long price)
{
    char key[64], doc[512];
    snprintf(key, sizeof key, "%s/%s", scope, id);
    item_doc(doc, sizeof doc, id, num, price);
    return add(cs, CATALOG_ITEM, key, doc, NULL);
}

/* Refusals made as the stage is applied, kept. */
struct refusals {
    int n;
    char key[8][64];
    char why[8][256];
    bool tombstone[8];
};

static void on_refused(void *ctx, const struct catalog_refusal *r)
{
    struct refusals *f = ctx;
    CHECK(f->n < 8);
    CHECK(r->offset >= 0 && r->partition == 0);
    snprintf(f->key[f->n], sizeof f->key[0], "%s", r->key);
    snprintf(f->why[f->n], sizeof f->why[0], "%s", r->why);
    f->tombstone[f->n++] = r->record == NULL;
}

static struct refusals refused;

/* Apply the stage and commit: the version rose or not. */
static bool commit(struct catalog_store *cs)
{
    bool changed = false;
    CHECK_OK(catalog_store_apply(cs, on_refused, &refused));
    CHECK_OK(catalog_store_commit(cs, 1700000000000, &changed));
    return changed;
}

/* Commit after an apply of the test's own. */
static bool commit_after_apply(struct catalog_store *cs)
{
    bool changed = false;
    CHECK_OK(catalog_store_commit(cs, 1700000000000, &changed));
    return changed;
}

/* Commit without applying: the records wait in the stage. */
static void stage_only(struct catalog_store *cs)
{
    bool changed = true;
    CHECK_OK(catalog_store_commit(cs, 1700000000000, &changed));
    CHECK(!changed);
}

/* ---- answers, collected ---- */

struct chunks {
    int n;
    cJSON *c[64];
};

static int collect(void *ctx, int chunk, int total, const char *payload, size_t len)
{
    struct chunks *ch = ctx;
    CHECK(ch->n < 64);
    CHECK_INT(chunk, ch->n);
    cJSON *o = NULL;
    CHECK_OK(pe_json_parse(payload, len, &o, NULL, 0));
    int64_t v;
    CHECK_OK(pe_json_get_int(o, "chunk", &v));
    CHECK_INT(v, chunk);
    CHECK_OK(pe_json_get_int(o, "chunks", &v));
    CHECK_INT(v, total);
    ch->c[ch->n++] = o;
    return 0;
}

static void chunks_free(struct chunks *ch)
{
    for (int i = 0; i < ch->n; i++)
        cJSON_Delete(ch->c[i]);
    ch->n = 0;
}

static int list_size(const struct chunks *ch, const char *list)
{
    int n = 0;
    for (int i = 0; i < ch->n; i++)
        n += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ch->c[i], list));
    return n;
}

/* The i-th entry of list over all chunks: a document's "id"/"price" or an id. */
static const cJSON *list_at(const struct chunks *ch, const char *list, int i)
{
    for (int k = 0; k < ch->n; k++) {
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(ch->c[k], list);
        int n = cJSON_GetArraySize(l);
        if (i < n)
            return cJSON_GetArrayItem(l, i);
        i -= n;
    }
    return NULL;
}

static void ask(struct pe_spool *sp, int64_t since, struct chunks *ch, struct catalog_answer *a)
{
    struct catalog_get g = {.since = since};
    snprintf(g.req, sizeof g.req, "r-%lld", (long long)since);
    chunks_free(ch);
    CHECK_OK(catalog_serve_answer(sp, &g, collect, ch, a));
    CHECK_INT(a->chunks, ch->n);
}

static int64_t first_price(const cJSON *doc)
{
    int64_t p = -1;
    const cJSON *w = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "prices"), 0);
    CHECK_OK(pe_json_get_int(w, "price", &p));
    return p;
}

/* ---- tests ---- */

/* A batch is one transaction: rolled back, nothing of it (documents, positions, version);
 * committed, all of it, after a reopen too; a batch of other stores' records only moves the
 * positions. */
static void t_batch_atomic(void)
{
    const char *path = pe_test_path(0, "spool.db");
    struct pe_spool *sp = open_spool(path);
    struct catalog_store *cs = NULL;
    int64_t next = 0;
    CHECK_OK(catalog_store_open(sp, "s001", &cs));
    CHECK_INT(catalog_store_version(cs)->version, 0);
    struct catalog_record r = {.topic = ITEMS};
    enum catalog_outcome out;
    char why[256];
    CHECK_INT(catalog_store_add(cs, &r, &out, why, sizeof why), PE_ESTATE);

    CHECK_OK(catalog_store_begin(cs));
    CHECK_INT(catalog_store_begin(cs), PE_ESTATE);
    CHECK_INT(add_item(cs, "*", "SKU-1", 1, 100), CATALOG_STORED);
    CHECK_INT(catalog_store_pending(cs), 1);
    catalog_store_rollback(cs);
    CHECK_INT(catalog_store_version(cs)->version, 0);
    CHECK_OK(catalog_store_position(cs, ITEMS, 0, &next));
    CHECK_INT(next, -1);

    offsets[CATALOG_ITEM] = 0;
    CHECK_OK(catalog_store_begin(cs));
    CHECK_INT(add_item(cs, "*", "SKU-1", 1, 100), CATALOG_STORED);
    CHECK_INT(add_item(cs, "s002", "SKU-2", 2, 200), CATALOG_IGNORED);
    CHECK_INT(add_item(cs, "s001", "SKU-3", 3, 300), CATALOG_STORED);
    CHECK(commit(cs));
    const struct catalog_version *v = catalog_store_version(cs);
    CHECK_INT(v->version, 1);
    CHECK_INT(v->items, 2);
    CHECK_INT(v->promotions, 0);
    CHECK_STR(v->currency, "EUR");
    CHECK_INT(v->ts_ms, 1700000000000);
    CHECK_OK(catalog_store_position(cs, ITEMS, 0, &next));
    CHECK_INT(next, 3);

    /* Only another store's records: the positions move, the version does not. */
    CHECK_OK(catalog_store_begin(cs));
    CHECK_INT(add_item(cs, "s002", "SKU-4", 4, 400), CATALOG_IGNORED);
    CHECK(!commit(cs));
    CHECK_INT(catalog_store_version(cs)->version, 1);
    CHECK_OK(catalog_store_position(cs, ITEMS, 0, &next));
    CHECK_INT(next, 4);

    /* The same records again (read twice): stored, and no change. */
    CHECK_OK(catalog_store_begin(cs));
    CHECK_INT(add_item(cs, "*", "SKU-1", 1, 100), CATALOG_STORED);
    CHECK(!commit(cs));
    char hash[PE_SHA256_HEXLEN];
    memcpy(hash, catalog_store_version(cs)->hash, sizeof hash);
    catalog_store_close(cs);
    pe_spool_close(sp);

    /* As a restart finds it. */
    sp = open_spool(path);
    CHECK_OK(catalog_store_open(sp, "s001", &cs));
    v = catalog_store_version(cs);
    CHECK_INT(v->version, 1);
    CHECK_INT(v->items, 2);
    CHECK_STR(v->hash, hash);
    CHECK_OK(catalog_store_position(cs, ITEMS, 0, &next));
    CHECK_INT(next, 5);
    catalog_store_close(cs);
    pe_spool_close(sp);
}

/* The store's record overrides "*"; its tombstone falls back to "*"; a "*" tombstone under a
 * store record changes nothing; each committed change is one version and the delta since any
 * version carries exactly what changed after it, delisted items and removed promotions
 * included. */
static void t_scope_versions_deltas(void)
{
    struct pe_spool *sp = open_spool(pe_test_path(0, "spool.db"));
    struct catalog_store *cs = NULL;
    struct chunks ch = {0};
    struct catalog_answer a;
    char doc[512];
    CHECK_OK(catalog_store_open(sp, "s001", &cs));

    /* v1: A and B for all, promotion P */
    CHECK_OK(catalog_store_begin(cs));
    add_item(cs, "*", "A", 1, 100);
    add_item(cs, "*", "B", 2, 200);
    promo_doc(doc, sizeof doc, "P", 10);
    CHECK_INT(add(cs, CATALOG_PROMOTION, "*/P", doc, NULL), CATALOG_STORED);
    CHECK(commit(cs));
    /* v2: A overridden for s001 */
    CHECK_OK(catalog_store_begin(cs));
    add_item(cs, "s001", "A", 1, 150);
    CHECK(commit(cs));
    ask(sp, 0, &ch, &a);
    CHECK(a.full);
    CHECK_INT(a.version, 2);
    CHECK_INT(list_size(&ch, "items"), 2);
    CHECK_INT(first_price(list_at(&ch, "items", 0)), 150);
    CHECK_INT(list_size(&ch, "promotions"), 1);
    CHECK_INT(list_size(&ch, "delisted"), 0);

    /* v3: a "*" update of A is hidden by the store's (no change); B delisted; P removed */
    CHECK_OK(catalog_store_begin(cs));
    add_item(cs, "*", "A", 1, 120);
    CHECK_INT(add(cs, CATALOG_ITEM, "*/B", NULL, NULL), CATALOG_STORED);
    CHECK_INT(add(cs, CATALOG_PROMOTION, "*/P", NULL, NULL), CATALOG_STORED);
    CHECK(commit(cs));
    CHECK_INT(catalog_store_version(cs)->version, 3);
    CHECK_INT(catalog_store_version(cs)->items, 1);
    CHECK_INT(catalog_store_version(cs)->promotions, 0);
    ask(sp, 2, &ch, &a);
    CHECK(!a.full);
    CHECK_INT(list_size(&ch, "items"), 0);
    CHECK_INT(list_size(&ch, "delisted"), 1);
    CHECK_STR(list_at(&ch, "delisted", 0)->valuestring, "B");
    CHECK_INT(list_size(&ch, "removed"), 1);
    CHECK_STR(list_at(&ch, "removed", 0)->valuestring, "P");

    /* v4: the store's A removed: falls back to the "*" one (120) */
    CHECK_OK(catalog_store_begin(cs));
    CHECK_INT(add(cs, CATALOG_ITEM, "s001/A", NULL, NULL), CATALOG_STORED);
    CHECK(commit(cs));
    ask(sp, 3, &ch, &a);
    CHECK_INT(a.version, 4);
    CHECK_INT(list_size(&ch, "items"), 1);
    CHECK_INT(first_price(list_at(&ch, "items", 0)), 120);
    CHECK_INT(list_size(&ch, "delisted"), 0);
    /* since 1: A changed, B delisted, P removed */
    ask(sp, 1, &ch, &a);
    CHECK(!a.full);
    CHECK_INT(list_size(&ch, "items"), 1);
    CHECK_INT(list_size(&ch, "delisted"), 1);
    CHECK_INT(list_size(&ch, "removed"), 1);
    /* since the current version: nothing, in one chunk */
    ask(sp, 4, &ch, &a);
    CHECK(!a.full);
    CHECK_INT(a.chunks, 1);
    CHECK_INT(a.entries, 0);
    /* a version this bridge never made: the whole */
    ask(sp, 99, &ch, &a);
    CHECK(a.full);
    CHECK_INT(list_size(&ch, "items"), 1);
    CHECK_INT(list_size(&ch, "delisted"), 0);

    /* Every chunk says the version, hash and currency of the answer. */
    const char *hash = NULL, *cur = NULL;
    int64_t version = 0;
    CHECK_OK(pe_json_get_str(ch.c[0], "hash", &hash));
    CHECK_STR(hash, catalog_store_version(cs)->hash);
    CHECK_OK(pe_json_get_str(ch.c[0], "currency", &cur));
    CHECK_STR(cur, "EUR");
    CHECK_OK(pe_json_get_int(ch.c[0], "version", &version));
    CHECK_INT(version, 4);
    chunks_free(&ch);
    catalog_store_close(cs);
    pe_spool_close(sp);
}

/* Refused records: another id than the key's, a bad document, a bad key of this store; they
 * change nothing, and another store's bad key is not this bridge's to refuse. */
static void t_refusals(void)
{
    struct pe_spool *sp = open_spool(pe_test_path(0, "spool.db"));
    struct catalog_store *cs = NULL;
    char doc[512], why[256];
    CHECK_OK(catalog_store_open(sp, "s001", &cs));
    CHECK_OK(catalog_store_begin(cs));
    item_doc(doc, sizeof doc, "X", 1, 100);
    CHECK_INT(add(cs, CATALOG_ITEM, "*/Y", doc, why), CATALOG_REFUSED);
    CHECK(strstr(why, "id") != NULL);
    CHECK_INT(add(cs, CATALOG_ITEM, "*/Z", "{not json", why), CATALOG_REFUSED);
    CHECK_INT(add(cs, CATALOG_ITEM, "*/Z", "{\"v\":1,\"id\":\"Z\"}", why), CATALOG_REFUSED);
    CHECK(why[0] != '\0');
    /* a window that ends before it starts */
    char bad[600];
    snprintf(bad, sizeof bad, "%.*s,\"effective_to\":\"2025-01-01T00:00:00.000Z\"}",
             (int)strlen(doc) - 1, doc);
    CHECK_INT(add(cs, CATALOG_ITEM, "*/X", bad, why), CATALOG_REFUSED);
    CHECK_INT(add(cs, CATALOG_ITEM, "s001", doc, why), CATALOG_REFUSED);
    CHECK(strstr(why, "key") != NULL);
    CHECK_INT(add(cs, CATALOG_ITEM, "s001/", doc, why), CATALOG_REFUSED);
    CHECK_INT(add(cs, CATALOG_ITEM, "s002", doc, why), CATALOG_IGNORED);
    CHECK_INT(add(cs, CATALOG_PROMOTION, "*/P", "{\"v\":1,\"id\":\"P\",\"kind\":\"bogus\"}", why),
              CATALOG_REFUSED);
    CHECK(!commit(cs));
    CHECK_INT(catalog_store_version(cs)->version, 0);
    catalog_store_close(cs);
    pe_spool_close(sp);
}

/* 1203 items and 3 promotions: 3 chunks of at most 500 entries, every document once; a delta
 * of one change is one chunk. */
static void t_chunks(void)
{
    struct pe_spool *sp = open_spool(pe_test_path(0, "spool.db"));
    struct catalog_store *cs = NULL;
    struct chunks ch = {0};
    struct catalog_answer a;
    char id[32], doc[512];
    CHECK_OK(catalog_store_open(sp, "s001", &cs));
    CHECK_OK(catalog_store_begin(cs));
    for (int i = 0; i < 1203; i++) {
        snprintf(id, sizeof id, "SKU-%05d", i);
        CHECK_INT(add_item(cs, "*", id, i, 100 + i), CATALOG_STORED);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof id, "P%d", i);
        char key[40];
        snprintf(key, sizeof key, "*/%s", id);
        promo_doc(doc, sizeof doc, id, 5 + i);
        CHECK_INT(add(cs, CATALOG_PROMOTION, key, doc, NULL), CATALOG_STORED);
    }
    CHECK(commit(cs));
    ask(sp, 0, &ch, &a);
    CHECK_INT(a.chunks, 3);
    CHECK_INT(a.entries, 1206);
    for (int i = 0; i < ch.n; i++) {
        int n = 0;
        static const char *const lists[] = {"items", "delisted", "promotions", "removed"};
        for (int l = 0; l < 4; l++)
            n += cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(ch.c[i], lists[l]));
        CHECK(n <= CATALOG_CHUNK_DOCS);
    }
    CHECK_INT(list_size(&ch, "items"), 1203);
    CHECK_INT(list_size(&ch, "promotions"), 3);
    const char *prev = "";
    for (int i = 0; i < 1203; i++) { /* in id order, each once */
        const char *got = NULL;
        CHECK_OK(pe_json_get_str(list_at(&ch, "items", i), "id", &got));
        CHECK(strcmp(prev, got) < 0);
        prev = got;
    }
    CHECK_OK(catalog_store_begin(cs));
    add_item(cs, "s001", "SKU-00007", 7, 1);
    CHECK(commit(cs));
    ask(sp, 1, &ch, &a);
    CHECK_INT(a.chunks, 1);
    CHECK_INT(list_size(&ch, "items"), 1);
    chunks_free(&ch);
    catalog_store_close(cs);
    pe_spool_close(sp);
}

static int see_doc(const struct pe_spool_doc *d, void *ctx)
{
    cJSON **arr = ctx;
    cJSON *o = NULL;
    CHECK_OK(pe_json_parse(d->doc, d->len, &o, NULL, 0));
    cJSON_AddItemToArray(*arr, o);
    return 0;
}

/* The streamed hash of the stored documents is the model's content hash of them, and of the
 * documents as HQ wrote them (shorthand and all). */
static void t_hash_is_the_models(void)
{
    struct pe_spool *sp = open_spool(pe_test_path(0, "spool.db"));
    struct catalog_store *cs = NULL;
    char doc[512], id[16], hash[PE_SHA256_HEXLEN], why[256];
    cJSON *raw_items = cJSON_CreateArray(), *raw_promos = cJSON_CreateArray();
    CHECK_OK(catalog_store_open(sp, "s001", &cs));
    CHECK_OK(catalog_store_begin(cs));
    for (int i = 9; i >= 0; i--) { /* any order in */
        snprintf(id, sizeof id, "I%d", i);
        item_doc(doc, sizeof doc, id, i, 10 * i);
        char key[32];
        snprintf(key, sizeof key, "*/%s", id);
        CHECK_INT(add(cs, CATALOG_ITEM, key, doc, NULL), CATALOG_STORED);
        cJSON_AddItemToArray(raw_items, cJSON_Parse(doc));
        if (i < 2) {
            snprintf(key, sizeof key, "*/P%d", i);
            snprintf(id, sizeof id, "P%d", i);
            promo_doc(doc, sizeof doc, id, 20 + i);
            CHECK_INT(add(cs, CATALOG_PROMOTION, key, doc, NULL), CATALOG_STORED);
            cJSON_AddItemToArray(raw_promos, cJSON_Parse(doc));
        }
    }
    CHECK(commit(cs));
    const cJSON *ip[10], *pp[2];
    for (int i = 0; i < 10; i++)
        ip[i] = cJSON_GetArrayItem(raw_items, i);
    for (int i = 0; i < 2; i++)
        pp[i] = cJSON_GetArrayItem(raw_promos, i);
    CHECK_OK(pe_catalog_content_hash(ip, 10, pp, 2, hash, why, sizeof why));
    CHECK_STR(catalog_store_version(cs)->hash, hash);

    /* And of what is stored, read back. */
    cJSON *stored = cJSON_CreateArray();
    CHECK_OK(pe_spool_docs(sp, "items", 0, false, see_doc, &stored));
    CHECK_INT(cJSON_GetArraySize(stored), 10);
    for (int i = 0; i < 10; i++)
        ip[i] = cJSON_GetArrayItem(stored, i);
    CHECK_OK(pe_catalog_content_hash(ip, 10, pp, 2, hash, why, sizeof why));
    CHECK_STR(catalog_store_version(cs)->hash, hash);

    /* The empty catalog's, too (version 0). */
    struct catalog_version empty;
    struct pe_spool *sp2 = open_spool(pe_test_path(1, "empty.db"));
    CHECK_OK(catalog_store_read_version(sp2, &empty));
    CHECK_OK(pe_catalog_content_hash(NULL, 0, NULL, 0, hash, why, sizeof why));
    CHECK_STR(empty.hash, hash);
    CHECK_INT(empty.version, 0);
    pe_spool_close(sp2);
    cJSON_Delete(stored);
    cJSON_Delete(raw_items);
    cJSON_Delete(raw_promos);
    catalog_store_close(cs);
    pe_spool_close(sp);
}

/* The stage: records of several batches are no part of the catalog (no version, nothing
 * served) until a batch applies them, all at once as one version; a stage survives a restart
 * (a process gone between batches), and a batch rolled back stages nothing. */
static void t_stage(void)
{
    const char *path = pe_test_path(0, "spool.db");
    struct pe_spool *sp = open_spool(path);
    struct catalog_store *cs = NULL;
    struct chunks ch = {0};
    struct catalog_answer a;
    char doc[512];
    offsets[0] = offsets[1] = 0;
    CHECK_OK(catalog_store_open(sp, "s001", &cs));
    CHECK_OK(catalog_store_begin(cs));
    add_item(cs, "s001", "A", 1, 100);
    CHECK(commit(cs)); /* v1: A */

    CHECK_OK(catalog_store_begin(cs));
    add_item(cs, "s001", "B", 2, 200);
    add_item(cs, "s001", "A", 1, 101);
    CHECK_INT(catalog_store_staged(cs), 2);
    stage_only(cs);
    CHECK_INT(catalog_store_staged(cs), 2);
    CHECK_OK(catalog_store_begin(cs));
    promo_doc(doc, sizeof doc, "P", 10);
    CHECK_INT(add(cs, CATALOG_PROMOTION, "s001/P", doc, NULL), CATALOG_STORED);
    catalog_store_rollback(cs); /* staged nothing */
    CHECK_INT(catalog_store_staged(cs), 2);
    CHECK_OK(catalog_store_begin(cs));
    CHECK_INT(add(cs, CATALOG_PROMOTION, "s001/P", doc, NULL), CATALOG_STORED);
    CHECK_INT(add(cs, CATALOG_ITEM, "s001/A", NULL, NULL), CATALOG_STORED); /* the last wins */
    add_item(cs, "s001", "A", 1, 102);
    stage_only(cs);
    CHECK_INT(catalog_store_version(cs)->version, 1);
    ask(sp, 0, &ch, &a);
    CHECK_INT(a.version, 1);
    CHECK_INT(list_size(&ch, "items"), 1);
    CHECK_INT(first_price(list_at(&ch, "items", 0)), 100);
    CHECK_INT(list_size(&ch, "promotions"), 0);
    catalog_store_close(cs);
    pe_spool_close(sp);

    /* A restart finds the stage, and positions past it. */
    sp = open_spool(path);
    CHECK_OK(catalog_store_open(sp, "s001", &cs));
    CHECK_INT(catalog_store_staged(cs), 3); /* its scopes and ids */
    int64_t next = 0;
    CHECK_OK(catalog_store_position(cs, ITEMS, 0, &next));
    CHECK_INT(next, offsets[CATALOG_ITEM]);
    CHECK_OK(catalog_store_begin(cs));
    CHECK(commit(cs)); /* a batch of no record applies it: v2, the whole stage */
    CHECK_INT(catalog_store_staged(cs), 0);
    const struct catalog_version *v = catalog_store_version(cs);
    CHECK_INT(v->version, 2);
    CHECK_INT(v->items, 2);
    CHECK_INT(v->promotions, 1);
    ask(sp, 1, &ch, &a);
    CHECK_INT(list_size(&ch, "items"), 2);
    CHECK_INT(first_price(list_at(&ch, "items", 0)), 102);
    CHECK_INT(list_size(&ch, "promotions"), 1);
    /* applied once: nothing more to stage in the same batch, nothing left to apply */
    CHECK_OK(catalog_store_begin(cs));
    CHECK_OK(catalog_store_apply(cs, NULL, NULL));
    CHECK_INT(catalog_store_apply(cs, NULL, NULL), PE_ESTATE);
    struct catalog_record r = {.topic = ITEMS};
    enum catalog_outcome out;
    char why[64];
    CHECK_INT(catalog_store_add(cs, &r, &out, why, sizeof why), PE_ESTATE);
    CHECK(!commit_after_apply(cs));
    CHECK_INT(catalog_store_version(cs)->version, 2);
    chunks_free(&ch);
    catalog_store_close(cs);
    pe_spool_close(sp);
}

/* The effective document of item id, or NULL (the caller frees). */
static char *effective(struct pe_spool *sp, const char *id)
{
    char *doc = NULL;
    size_t len = 0;
    int rc = pe_spool_doc_get(sp, "items", id, -1, &doc, &len);
    CHECK(rc == PE_OK || rc == PE_ENOTFOUND);
    return doc;
}

static bool has_barcode_of(struct pe_spool *sp, const char *id, int num)
{
    char *doc = effective(sp, id), code[16];
    snprintf(code, sizeof code, "400%09d", num);
    bool yes = doc && strstr(doc, code) != NULL;
    free(doc);
    return yes;
}

/* A barcode is one item's in the store: a record that would give an item in force another's
 * barcode is refused when the stage is applied (naming the barcode and the other item), and
 * its key keeps what it had; a store record of the same id as a "*" one is no conflict; a
 * barcode moved from one item to another in one stage goes through in either id order; a
 * store tombstone that would bring back a "*" record's barcode another item has is refused. */
static void t_barcodes(void)
{
    struct pe_spool *sp = open_spool(pe_test_path(0, "spool.db"));
    struct catalog_store *cs = NULL;
    offsets[0] = offsets[1] = 0;
    memset(&refused, 0, sizeof refused);
    CHECK_OK(catalog_store_open(sp, "s001", &cs));
    CHECK_OK(catalog_store_begin(cs));
    add_item(cs, "s001", "A", 1, 100);
    add_item(cs, "*", "C", 5, 100);
    add_item(cs, "s001", "C", 5, 150); /* the same id over "*": no conflict */
    add_item(cs, "*", "G", 9, 100);
    add_item(cs, "s001", "G", 10, 100);
    add_item(cs, "s001", "H", 9, 100); /* G in force has 10: no conflict */
    add_item(cs, "s001", "F", 20, 100);
    CHECK(commit(cs));
    CHECK_INT(refused.n, 0);
    CHECK_INT(catalog_store_version(cs)->items, 5);

    /* B takes A's barcode: refused, and the version does not rise for nothing. */
    CHECK_OK(catalog_store_begin(cs));
    add_item(cs, "s001", "B", 1, 200);
    CHECK(!commit(cs));
    CHECK_INT(refused.n, 1);
    CHECK_STR(refused.key[0], "s001/B");
    CHECK(strstr(refused.why[0], "barcodes: 400000000001") && strstr(refused.why[0], "item A's"));
    CHECK(effective(sp, "B") == NULL);
    CHECK_INT(catalog_store_version(cs)->version, 1);
    /* A "*" record of another item with A's barcode: refused too (A is in force here). */
    CHECK_OK(catalog_store_begin(cs));
    add_item(cs, "*", "Z", 1, 200);
    add_item(cs, "s001", "Y", 30, 300);
    CHECK(commit(cs));
    CHECK_INT(refused.n, 2);
    CHECK_STR(refused.key[1], "*/Z");
    CHECK(has_barcode_of(sp, "Y", 30) && effective(sp, "Z") == NULL);

    /* Moves in one stage: A's barcode to D (A first), F's to E (E first: it waits for F). */
    CHECK_OK(catalog_store_begin(cs));
    add_item(cs, "s001", "D", 1, 100);
    add_item(cs, "s001", "A", 2, 100);
    add_item(cs, "s001", "E", 20, 100);
    add_item(cs, "s001", "F", 21, 100);
    CHECK(commit(cs));
    CHECK_INT(refused.n, 2);
    CHECK(has_barcode_of(sp, "D", 1) && has_barcode_of(sp, "A", 2));
    CHECK(has_barcode_of(sp, "E", 20) && has_barcode_of(sp, "F", 21));

    /* A swap in one stage cannot go in either order: both refused, both keep theirs. */
    CHECK_OK(catalog_store_begin(cs));
    add_item(cs, "s001", "E", 21, 100);
    add_item(cs, "s001", "F", 20, 100);
    CHECK(!commit(cs));
    CHECK_INT(refused.n, 4);
    CHECK(has_barcode_of(sp, "E", 20) && has_barcode_of(sp, "F", 21));

    /* The store's G delisted would fall back to "*"/G, whose barcode 9 is H's: refused. */
    CHECK_OK(catalog_store_begin(cs));
    CHECK_INT(add(cs, CATALOG_ITEM, "s001/G", NULL, NULL), CATALOG_STORED);
    CHECK(!commit(cs));
    CHECK_INT(refused.n, 5);
    CHECK_STR(refused.key[4], "s001/G");
    CHECK(refused.tombstone[4] && strstr(refused.why[4], "item H"));
    CHECK(has_barcode_of(sp, "G", 10));
    /* Once H lets it go, the same tombstone goes through. */
    CHECK_OK(catalog_store_begin(cs));
    CHECK_INT(add(cs, CATALOG_ITEM, "s001/G", NULL, NULL), CATALOG_STORED);
    add_item(cs, "s001", "H", 11, 100);
    CHECK(commit(cs));
    CHECK_INT(refused.n, 5);
    CHECK(has_barcode_of(sp, "G", 9) && has_barcode_of(sp, "H", 11));
    catalog_store_close(cs);
    pe_spool_close(sp);
}

/* Barcodes read from a stored document's bytes; a name that looks like the member does not
 * fool it (canonical JSON escapes its quotes). */
static void t_doc_barcodes(void)
{
    uint64_t codes[PE_CATALOG_BARCODES_MAX];
    const char *two = "{\"barcodes\":[\"4006381333931\",\"0000000000000\"],\"id\":\"A\"}";
    CHECK_INT(catalog_doc_barcodes(two, strlen(two), codes), 2);
    CHECK(codes[0] == 4006381333931ull && codes[1] == 0);
    const char *fake = "{\"barcodes\":[\"4006381333931\"],\"name\":\"\\\"barcodes\\\":[\"}";
    CHECK_INT(catalog_doc_barcodes(fake, strlen(fake), codes), 1);
    static const char *const bad[] = {"{\"id\":\"A\"}", "{\"barcodes\":[]}",
                                      "{\"barcodes\":[\"123\"]}",
                                      "{\"barcodes\":[\"400638133393x\"]}",
                                      "{\"barcodes\":[\"4006381333931\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_INT(catalog_doc_barcodes(bad[i], strlen(bad[i]), codes), -1);
}

/* catalog/get requests, and the version document. */
static void t_messages(void)
{
    struct catalog_get g;
    char why[128];
    const char *ok = "{\"v\":1,\"req\":\"a-1:b\",\"since\":7}";
    CHECK_OK(catalog_serve_parse_get(ok, strlen(ok), &g, why, sizeof why));
    CHECK_STR(g.req, "a-1:b");
    CHECK_INT(g.since, 7);
    static const char *const bad[] = {
        "", "[]", "{\"v\":2,\"req\":\"a\",\"since\":0}", "{\"v\":1,\"since\":0}",
        "{\"v\":1,\"req\":\"a b\",\"since\":0}", "{\"v\":1,\"req\":\"a\",\"since\":-1}",
        "{\"v\":1,\"req\":\"a\"}", "{\"v\":1,\"req\":\"a\\\"\",\"since\":0}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_INT(catalog_serve_parse_get(bad[i], strlen(bad[i]), &g, why, sizeof why),
                  PE_EINVAL);

    struct catalog_version v = {.version = 3, .items = 2, .promotions = 1,
                                .ts_ms = 1700000000000};
    memset(v.hash, 'a', 64);
    v.hash[64] = '\0';
    char *doc = catalog_serve_version_doc(&v);
    CHECK_STR(doc, "{\"hash\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
                   "\"items\":2,\"promotions\":1,\"ts\":\"2023-11-14T22:13:20.000Z\",\"v\":1,"
                   "\"version\":3}");
    free(doc);
    v.version = 0;
    v.ts_ms = 0;
    doc = catalog_serve_version_doc(&v);
    CHECK(strstr(doc, "\"ts\":null") != NULL);
    free(doc);
}

static const struct pe_test tests[] = {
    {"batch_atomic", t_batch_atomic},
    {"scope_versions_deltas", t_scope_versions_deltas},
    {"refusals", t_refusals},
    {"chunks", t_chunks},
    {"hash_is_the_models", t_hash_is_the_models},
    {"messages", t_messages},
    {"stage", t_stage},
    {"barcodes", t_barcodes},
    {"doc_barcodes", t_doc_barcodes},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("catalog_store", tests, argc, argv);
}
