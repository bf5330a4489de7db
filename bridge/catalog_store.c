/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog_store.c - the store's catalog in the bridge's spool (see catalog_store.h).
 *
 * Layout in the spool: documents of the collections "items" and "promotions" (spool.h), keyed
 * by id, "*" records in layer 0 and the store's own in layer 1; the stage in the collections
 * "stage/items" and "stage/promotions", keyed "<layer>/<id>" in layer 0, each entry the text
 * "<partition> <offset>\n<document>" (no document: a tombstone), so a record refused when the
 * stage is applied can still be named; positions under the topic's name; the version under
 * the metadata key "catalog/version" as one JSON object (the version document's members
 * without "v"), written in the applying batch's transaction.
 *
 * Applying knows the version it would make (the last plus one), gives it as the change number
 * of every document it puts, and the batch writes it only if one of them changed. A batch's
 * positions are collected in memory (a handful of partitions) and written at commit.
 *
 * Barcodes. While it applies items, the stage keeps a table of every barcode of the items in
 * force (a number per EAN-13, and the item's id): an item whose new effective document has a
 * barcode of another id waits for the other items of the stage (which may take the barcode
 * away), and is refused if none does. The table lives for the one call.
 */
#include "bridge/catalog_store.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/spool.h"

#define META_VERSION "catalog/version"
#define LAYER_ALL 0   /* "*": every store */
#define LAYER_STORE 1 /* this store's own */
#define MAX_PARTS 256 /* partitions one batch may read (both topics) */
#define STAGE_KEY_MAX (PE_CATALOG_ID_MAX + 2) /* "<layer>/<id>" */
#define WHY_MAX 256   /* a refusal's reason */

/* The stage's collection of each kind. */
static const char *const stage_colls[CATALOG_KIND__COUNT] = {
    [CATALOG_ITEM] = "stage/items",
    [CATALOG_PROMOTION] = "stage/promotions",
};

struct part_pos {
    const char *topic; /* borrowed from the consumer's settings (outlive the batch) */
    int32_t partition;
    int64_t next;
};

struct catalog_store {
    struct pe_spool *sp;          /* borrowed */
    char store[PE_ID_MAX];        /* this store */
    struct catalog_version cur;   /* as last committed */
    int64_t staged;               /* records staged by committed batches */
    bool open;                    /* a batch is open */
    bool applied;                 /* it applied the stage */
    bool changed;                 /* that changed an effective document */
    int64_t records;              /* records in it */
    int64_t batch_staged;         /* records it staged */
    struct part_pos pos[MAX_PARTS]; /* where it has read each partition up to */
    int npos;
};

static void empty_version(struct catalog_version *v)
{
    memset(v, 0, sizeof *v);
    struct catalog_hash *h = NULL;
    if (catalog_hash_begin(&h) == PE_OK)
        catalog_hash_end(h, v->hash);
}

int catalog_store_read_version(struct pe_spool *sp, struct catalog_version *out)
{
    char *text = NULL;
    empty_version(out);
    int rc = pe_spool_meta_get(sp, META_VERSION, &text);
    if (rc == PE_ENOTFOUND)
        return PE_OK;
    if (rc)
        return rc;
    cJSON *o = NULL;
    const char *hash = NULL, *ts = NULL, *cur = NULL;
    rc = pe_json_parse(text, strlen(text), &o, NULL, 0);
    if (rc == PE_OK &&
        (pe_json_get_int(o, "version", &out->version) || out->version < 1 ||
         pe_json_get_str(o, "hash", &hash) || !pe_is_sha256_hex(hash) ||
         pe_json_get_int(o, "items", &out->items) ||
         pe_json_get_int(o, "promotions", &out->promotions) ||
         pe_json_get_str(o, "ts", &ts) || pe_time_parse(ts, &out->ts_ms) ||
         pe_json_get_str(o, "currency", &cur) || strlen(cur) > 3))
        rc = PE_ECORRUPT;
    if (rc == PE_OK) {
        memcpy(out->hash, hash, PE_SHA256_HEXLEN);
        memcpy(out->currency, cur, strlen(cur) + 1);
    } else {
        pe_error("catalog.version_damaged", "key=%s value=\"%.120s\"", META_VERSION, text);
        rc = rc == PE_ENOMEM ? rc : PE_ECORRUPT;
        empty_version(out);
    }
    cJSON_Delete(o);
    free(text);
    return rc;
}

int catalog_store_open(struct pe_spool *sp, const char *store, struct catalog_store **out)
{
    *out = NULL;
    if (!pe_event_id_valid(store, 1))
        return PE_EINVAL;
    struct catalog_store *cs = calloc(1, sizeof *cs);
    if (!cs)
        return PE_ENOMEM;
    cs->sp = sp;
    snprintf(cs->store, sizeof cs->store, "%s", store);
    int rc = catalog_store_read_version(sp, &cs->cur);
    for (int k = 0; rc == PE_OK && k < CATALOG_KIND__COUNT; k++) {
        int64_t n = 0;
        rc = pe_spool_docs_count(sp, stage_colls[k], 0, &n, NULL);
        cs->staged += n;
    }
    if (rc) {
        free(cs);
        return rc;
    }
    *out = cs;
    return PE_OK;
}

void catalog_store_close(struct catalog_store *cs)
{
    if (!cs)
        return;
    catalog_store_rollback(cs);
    free(cs);
}

const struct catalog_version *catalog_store_version(const struct catalog_store *cs)
{
    return &cs->cur;
}

int catalog_store_begin(struct catalog_store *cs)
{
    if (cs->open)
        return PE_ESTATE;
    int rc = pe_spool_begin(cs->sp);
    if (rc)
        return rc;
    cs->open = true;
    cs->applied = false;
    cs->changed = false;
    cs->records = 0;
    cs->batch_staged = 0;
    cs->npos = 0;
    return PE_OK;
}

void catalog_store_rollback(struct catalog_store *cs)
{
    if (!cs->open)
        return;
    pe_spool_rollback(cs->sp);
    cs->open = false;
    cs->npos = 0;
}

int64_t catalog_store_pending(const struct catalog_store *cs)
{
    return cs->open ? cs->records : 0;
}

int64_t catalog_store_staged(const struct catalog_store *cs)
{
    if (!cs->open)
        return cs->staged;
    return cs->applied ? 0 : cs->staged + cs->batch_staged;
}

/* The partition is read up to offset: its position becomes offset + 1. */
static int note_position(struct catalog_store *cs, const char *topic, int32_t partition,
                         int64_t offset)
{
    for (int i = 0; i < cs->npos; i++)
        if (cs->pos[i].partition == partition && strcmp(cs->pos[i].topic, topic) == 0) {
            if (offset + 1 > cs->pos[i].next)
                cs->pos[i].next = offset + 1;
            return PE_OK;
        }
    if (cs->npos == MAX_PARTS)
        return PE_ENOMEM; /* more partitions than any catalog topic has: refuse the batch */
    cs->pos[cs->npos++] = (struct part_pos){topic, partition, offset + 1};
    return PE_OK;
}

int catalog_store_add(struct catalog_store *cs, const struct catalog_record *r,
                      enum catalog_outcome *outcome, char *why, size_t whylen)
{
    char id[PE_CATALOG_ID_MAX];
    *outcome = CATALOG_IGNORED;
    if (whylen)
        why[0] = '\0';
    if (!cs->open || cs->applied)
        return PE_ESTATE;
    int rc = note_position(cs, r->topic, r->partition, r->offset);
    if (rc)
        return rc;
    cs->records++;
    int rank = catalog_doc_key(cs->store, r->key, r->keylen, id, why, whylen);
    if (rank == 0)
        return PE_OK;
    if (rank < 0) {
        *outcome = CATALOG_REFUSED;
        return PE_OK;
    }
    int layer = rank == 2 ? LAYER_STORE : LAYER_ALL;
    char *doc = NULL, *text = NULL, skey[STAGE_KEY_MAX], head[48];
    size_t len = 0;
    if (r->val) {
        rc = catalog_doc_check(r->kind, id, r->val, r->len, &doc, &len, why, whylen);
        if (rc == PE_EINVAL) {
            *outcome = CATALOG_REFUSED;
            return PE_OK;
        }
        if (rc)
            return rc;
    }
    int hl = snprintf(head, sizeof head, "%" PRId32 " %" PRId64 "\n", r->partition, r->offset);
    snprintf(skey, sizeof skey, "%d/%s", layer, id);
    if (!(text = malloc((size_t)hl + len + 1))) {
        free(doc);
        return PE_ENOMEM;
    }
    memcpy(text, head, (size_t)hl);
    if (doc)
        memcpy(text + hl, doc, len);
    text[(size_t)hl + len] = '\0';
    rc = pe_spool_doc_put(cs->sp, stage_colls[r->kind], skey, 0, text, (size_t)hl + len, 1,
                          NULL);
    free(text);
    free(doc);
    if (rc)
        return rc;
    cs->batch_staged++;
    *outcome = CATALOG_STORED;
    return PE_OK;
}

/* ---- applying the stage ---- */

/* The barcodes of the items in force: EAN-13 (as a number, plus one: 0 is a free slot) ->
 * the offset plus one of its item's id in ids (0: no item has it now). Open addressing. */
struct barcode_slot {
    uint64_t code;
    uint32_t owner;
};

struct barcodes {
    struct barcode_slot *slot;
    size_t cap, used; /* cap a power of two */
    char *ids;        /* the owners' ids, NUL-terminated one after another */
    size_t ids_len, ids_cap;
};

static void barcodes_free(struct barcodes *b)
{
    free(b->slot);
    free(b->ids);
    memset(b, 0, sizeof *b);
}

static struct barcode_slot *barcode_find(const struct barcodes *b, uint64_t ean)
{
    if (!b->cap)
        return NULL;
    size_t i = (size_t)((ean + 1) * 0x9e3779b97f4a7c15ull >> 20) & (b->cap - 1);
    for (;; i = (i + 1) & (b->cap - 1)) {
        if (b->slot[i].code == ean + 1)
            return &b->slot[i];
        if (b->slot[i].code == 0)
            return NULL;
    }
}

/* The slot of ean, made when there is none. Errors: PE_ENOMEM. */
static int barcode_slot(struct barcodes *b, uint64_t ean, struct barcode_slot **out)
{
    if ((*out = barcode_find(b, ean)))
        return PE_OK;
    if ((b->used + 1) * 4 > b->cap * 3) {
        struct barcodes g = {.cap = b->cap ? b->cap * 2 : 1024};
        if (!(g.slot = calloc(g.cap, sizeof *g.slot)))
            return PE_ENOMEM;
        for (size_t i = 0; i < b->cap; i++) {
            if (!b->slot[i].code)
                continue;
            size_t j = (size_t)(b->slot[i].code * 0x9e3779b97f4a7c15ull >> 20) & (g.cap - 1);
            while (g.slot[j].code)
                j = (j + 1) & (g.cap - 1);
            g.slot[j] = b->slot[i];
        }
        free(b->slot);
        b->slot = g.slot;
        b->cap = g.cap;
    }
    size_t i = (size_t)((ean + 1) * 0x9e3779b97f4a7c15ull >> 20) & (b->cap - 1);
    while (b->slot[i].code)
        i = (i + 1) & (b->cap - 1);
    b->slot[i] = (struct barcode_slot){.code = ean + 1};
    b->used++;
    *out = &b->slot[i];
    return PE_OK;
}

/* The id whose barcode ean is, or NULL. */
static const char *barcode_owner(const struct barcodes *b, uint64_t ean)
{
    const struct barcode_slot *s = barcode_find(b, ean);
    return s && s->owner ? b->ids + s->owner - 1 : NULL;
}

/* The barcodes of doc (an item's stored document, NULL for none) are id's (give true) or no
 * longer (give false: only those that are id's now). Errors: PE_ENOMEM. */
static int barcodes_mark(struct barcodes *b, const char *id, const char *doc, size_t len,
                         bool give)
{
    uint64_t codes[PE_CATALOG_BARCODES_MAX];
    int n = doc ? catalog_doc_barcodes(doc, len, codes) : 0;
    uint32_t owner = 0;
    if (give && n > 0) {
        size_t il = strlen(id) + 1;
        if (b->ids_len + il > b->ids_cap) {
            size_t cap = b->ids_cap ? b->ids_cap * 2 : 16384;
            while (cap < b->ids_len + il)
                cap *= 2;
            char *p = realloc(b->ids, cap);
            if (!p)
                return PE_ENOMEM;
            b->ids = p;
            b->ids_cap = cap;
        }
        if (b->ids_len + il >= UINT32_MAX)
            return PE_ENOMEM;
        memcpy(b->ids + b->ids_len, id, il);
        owner = (uint32_t)b->ids_len + 1;
        b->ids_len += il;
    }
    for (int i = 0; i < n; i++) {
        struct barcode_slot *s = NULL;
        if (give) {
            int rc = barcode_slot(b, codes[i], &s);
            if (rc)
                return rc;
            s->owner = owner;
        } else if ((s = barcode_find(b, codes[i])) && s->owner &&
                   strcmp(b->ids + s->owner - 1, id) == 0) {
            s->owner = 0;
        }
    }
    return PE_OK;
}

static int map_item(const struct pe_spool_doc *d, void *ctx)
{
    return barcodes_mark(ctx, d->key, d->doc, d->len, true);
}

/* One entry of the stage, as read back. */
struct staged {
    enum catalog_kind kind;
    int layer;
    const char *id;
    int32_t partition;
    int64_t offset;
    const char *doc; /* NULL: a tombstone */
    size_t len;
};

/* Read an entry back: key "<layer>/<id>", text "<partition> <offset>\n<doc>". PE_ECORRUPT
 * when it is not one. */
static int staged_parse(enum catalog_kind kind, const char *key, const char *text, size_t len,
                        struct staged *out)
{
    char *end = NULL;
    const char *nl = memchr(text, '\n', len);
    if (!nl || (key[0] != '0' + LAYER_ALL && key[0] != '0' + LAYER_STORE) || key[1] != '/' ||
        !key[2])
        return PE_ECORRUPT;
    out->kind = kind;
    out->layer = key[0] - '0';
    out->id = key + 2;
    long long p = strtoll(text, &end, 10);
    if (end == text || *end != ' ' || p < 0 || p > INT32_MAX)
        return PE_ECORRUPT;
    const char *o = end + 1;
    out->offset = strtoll(o, &end, 10);
    if (end == o || end != nl || out->offset < 0)
        return PE_ECORRUPT;
    out->partition = (int32_t)p;
    out->doc = nl + 1 < text + len ? nl + 1 : NULL;
    out->len = out->doc ? len - (size_t)(out->doc - text) : 0;
    return PE_OK;
}

struct applying {
    struct catalog_store *cs;
    int64_t change;             /* the version being made */
    catalog_refused_fn *refused;
    void *ctx;
    struct barcodes bc;
    char (*waiting)[STAGE_KEY_MAX]; /* items taken again once the others are in */
    size_t nwaiting, capwaiting;
    bool last;                  /* the last round: a barcode taken is a refusal */
    bool progress;              /* the round applied one */
};

/* What became of a staged item. */
enum take { TAKEN, WAIT };

static void refuse(struct applying *a, const struct staged *e, const char *why)
{
    char key[PE_ID_MAX + PE_CATALOG_ID_MAX + 1];
    snprintf(key, sizeof key, "%s/%s", e->layer == LAYER_STORE ? a->cs->store : "*", e->id);
    if (!a->refused)
        return;
    char *rec = NULL;
    if (e->doc && (rec = malloc(e->len + 1))) {
        memcpy(rec, e->doc, e->len);
        rec[e->len] = '\0';
    }
    struct catalog_refusal r = {
        .kind = e->kind,
        .partition = e->partition,
        .offset = e->offset,
        .key = key,
        .record = rec,
        .why = why,
    };
    a->refused(a->ctx, &r);
    free(rec);
}

/* Put a staged item into the catalog, unless its effective document would have a barcode of
 * another item in force: then *took is WAIT (or, in the last round, it is refused). */
static int take_item(struct applying *a, const struct staged *e, enum take *took)
{
    struct pe_spool *sp = a->cs->sp;
    const char *coll = catalog_kind_coll(CATALOG_ITEM);
    char *below = NULL, *was = NULL, *above = NULL, why[WHY_MAX];
    size_t below_len = 0, was_len = 0, above_len = 0;
    const char *now = e->doc;
    size_t now_len = e->len;
    int rc = PE_OK;
    *took = TAKEN;
    if (e->layer == LAYER_ALL) {
        /* Under a store record the effective document stays the store's. */
        rc = pe_spool_doc_get(sp, coll, e->id, LAYER_STORE, &above, &above_len);
        if (rc == PE_OK) {
            now = above;
            now_len = above_len;
        }
    } else if (!e->doc) {
        /* The store's tombstone falls back to the "*" record. */
        rc = pe_spool_doc_get(sp, coll, e->id, LAYER_ALL, &below, &below_len);
        now = below;
        now_len = below_len;
    }
    if (rc == PE_ENOTFOUND)
        rc = PE_OK;
    if (rc == PE_OK)
        rc = pe_spool_doc_get(sp, coll, e->id, -1, &was, &was_len);
    if (rc == PE_ENOTFOUND)
        rc = PE_OK;
    if (rc)
        goto done;
    uint64_t codes[PE_CATALOG_BARCODES_MAX];
    int n = now ? catalog_doc_barcodes(now, now_len, codes) : 0;
    for (int i = 0; i < n; i++) {
        const char *owner = barcode_owner(&a->bc, codes[i]);
        if (!owner || strcmp(owner, e->id) == 0)
            continue;
        if (!a->last) {
            *took = WAIT;
            goto done;
        }
        if (e->doc)
            snprintf(why, sizeof why,
                     "barcodes: %013" PRIu64 " is item %s's, in force in store %s", codes[i],
                     owner, a->cs->store);
        else
            snprintf(why, sizeof why,
                     "delisting falls back to the \"*\" record, whose barcode %013" PRIu64
                     " is item %s's, in force in store %s",
                     codes[i], owner, a->cs->store);
        refuse(a, e, why);
        goto done;
    }
    bool changed = false;
    rc = pe_spool_doc_put(sp, coll, e->id, e->layer, e->doc, e->len, a->change, &changed);
    if (rc == PE_OK && changed) {
        a->cs->changed = true;
        rc = barcodes_mark(&a->bc, e->id, was, was_len, false);
        if (rc == PE_OK)
            rc = barcodes_mark(&a->bc, e->id, now, now_len, true);
    }
done:
    free(below);
    free(was);
    free(above);
    return rc;
}

static int wait_item(struct applying *a, const char *key)
{
    if (a->nwaiting == a->capwaiting) {
        size_t cap = a->capwaiting ? a->capwaiting * 2 : 16;
        char(*w)[STAGE_KEY_MAX] = realloc(a->waiting, cap * sizeof *w);
        if (!w)
            return PE_ENOMEM;
        a->waiting = w;
        a->capwaiting = cap;
    }
    snprintf(a->waiting[a->nwaiting++], STAGE_KEY_MAX, "%s", key);
    return PE_OK;
}

static int apply_entry(const struct pe_spool_doc *d, void *ctx, enum catalog_kind kind)
{
    struct applying *a = ctx;
    struct staged e;
    if (staged_parse(kind, d->key, d->doc, d->len, &e) != PE_OK) {
        pe_error("catalog.stage_damaged", "coll=%s key=\"%.40s\" (passed over)",
                 stage_colls[kind], d->key);
        return 0;
    }
    if (kind == CATALOG_PROMOTION) {
        bool changed = false;
        int rc = pe_spool_doc_put(a->cs->sp, catalog_kind_coll(kind), e.id, e.layer, e.doc,
                                  e.len, a->change, &changed);
        a->cs->changed |= changed;
        return rc;
    }
    enum take took;
    int rc = take_item(a, &e, &took);
    if (rc == PE_OK && took == WAIT)
        rc = wait_item(a, d->key);
    return rc;
}

static int apply_promotion(const struct pe_spool_doc *d, void *ctx)
{
    return apply_entry(d, ctx, CATALOG_PROMOTION);
}

static int apply_item(const struct pe_spool_doc *d, void *ctx)
{
    return apply_entry(d, ctx, CATALOG_ITEM);
}

/* The items that waited, again and again while one of them goes in; then the last round,
 * which refuses those that still take a barcode of another item. */
static int apply_waiting(struct applying *a)
{
    int rc = PE_OK;
    while (rc == PE_OK && a->nwaiting) {
        size_t n = a->nwaiting, kept = 0;
        bool progress = false;
        for (size_t i = 0; i < n && rc == PE_OK; i++) {
            char *text = NULL;
            size_t len = 0;
            struct staged e;
            enum take took = TAKEN;
            rc = pe_spool_doc_get(a->cs->sp, stage_colls[CATALOG_ITEM], a->waiting[i], -1,
                                  &text, &len);
            if (rc == PE_OK && staged_parse(CATALOG_ITEM, a->waiting[i], text, len, &e) == PE_OK)
                rc = take_item(a, &e, &took);
            free(text);
            if (rc == PE_OK && took == WAIT)
                memmove(a->waiting[kept++], a->waiting[i], STAGE_KEY_MAX);
            else if (rc == PE_OK)
                progress = true;
        }
        a->nwaiting = kept;
        if (rc == PE_OK && !progress)
            a->last = true;
    }
    return rc;
}

int catalog_store_apply(struct catalog_store *cs, catalog_refused_fn *refused, void *ctx)
{
    if (!cs->open || cs->applied)
        return PE_ESTATE;
    struct applying a = {.cs = cs, .change = cs->cur.version + 1, .refused = refused,
                         .ctx = ctx};
    int64_t items = 0;
    int rc = pe_spool_docs(cs->sp, stage_colls[CATALOG_PROMOTION], 0, false, apply_promotion, &a);
    if (rc == PE_OK)
        rc = pe_spool_docs_count(cs->sp, stage_colls[CATALOG_ITEM], 0, &items, NULL);
    if (rc == PE_OK && items > 0)
        rc = pe_spool_docs(cs->sp, catalog_kind_coll(CATALOG_ITEM), 0, false, map_item, &a.bc);
    if (rc == PE_OK && items > 0)
        rc = pe_spool_docs(cs->sp, stage_colls[CATALOG_ITEM], 0, false, apply_item, &a);
    if (rc == PE_OK)
        rc = apply_waiting(&a);
    for (int k = 0; rc == PE_OK && k < CATALOG_KIND__COUNT; k++)
        rc = pe_spool_docs_drop(cs->sp, stage_colls[k]);
    barcodes_free(&a.bc);
    free(a.waiting);
    if (rc == PE_OK)
        cs->applied = true;
    return rc;
}

struct hashing {
    struct catalog_hash *h;
    enum catalog_kind kind;
    int64_t n;
    char currency[4];
};

static int hash_doc(const struct pe_spool_doc *d, void *ctx)
{
    struct hashing *x = ctx;
    if (x->kind == CATALOG_ITEM && x->n == 0)
        catalog_doc_currency(d->doc, d->len, x->currency);
    catalog_hash_add(x->h, x->kind, d->doc, d->len);
    x->n++;
    return 0;
}

/* The version the open batch makes: hash, counts and currency from what the spool holds now
 * (inside the transaction), into v. */
static int make_version(struct catalog_store *cs, int64_t now_ms, struct catalog_version *v)
{
    struct hashing x = {0};
    int rc = catalog_hash_begin(&x.h);
    if (rc)
        return rc;
    memset(v, 0, sizeof *v);
    for (int k = 0; k < CATALOG_KIND__COUNT && rc == PE_OK; k++) {
        x.kind = (enum catalog_kind)k;
        x.n = 0;
        rc = pe_spool_docs(cs->sp, catalog_kind_coll(x.kind), 0, false, hash_doc, &x);
        if (k == CATALOG_ITEM)
            v->items = x.n;
        else
            v->promotions = x.n;
    }
    if (rc) {
        catalog_hash_free(x.h);
        return rc;
    }
    catalog_hash_end(x.h, v->hash);
    v->version = cs->cur.version + 1;
    v->ts_ms = now_ms;
    memcpy(v->currency, x.currency, sizeof v->currency);
    return PE_OK;
}

/* The version as kept under META_VERSION (malloc'd). */
static char *version_json(const struct catalog_version *v)
{
    cJSON *o = cJSON_CreateObject();
    char ts[PE_TIME_STRLEN], *out = NULL;
    if (!o)
        return NULL;
    pe_time_format(v->ts_ms, ts);
    pe_json_add_int(o, "version", v->version);
    pe_json_add_str(o, "hash", v->hash);
    pe_json_add_int(o, "items", v->items);
    pe_json_add_int(o, "promotions", v->promotions);
    pe_json_add_str(o, "ts", ts);
    pe_json_add_str(o, "currency", v->currency);
    if (pe_json_canonical(o, &out, NULL) != PE_OK)
        out = NULL;
    cJSON_Delete(o);
    return out;
}

int catalog_store_commit(struct catalog_store *cs, int64_t now_ms, bool *changed)
{
    if (changed)
        *changed = false;
    if (!cs->open)
        return PE_ESTATE;
    int rc = PE_OK;
    struct catalog_version v = cs->cur;
    for (int i = 0; rc == PE_OK && i < cs->npos; i++)
        rc = pe_spool_position_set(cs->sp, cs->pos[i].topic, cs->pos[i].partition,
                                   cs->pos[i].next);
    if (rc == PE_OK && cs->applied && cs->changed) {
        char *text = NULL;
        rc = make_version(cs, now_ms, &v);
        if (rc == PE_OK && !(text = version_json(&v)))
            rc = PE_ENOMEM;
        if (rc == PE_OK)
            rc = pe_spool_meta_set(cs->sp, META_VERSION, text, now_ms);
        free(text);
    }
    if (rc == PE_OK)
        rc = pe_spool_commit(cs->sp); /* rolls back by itself when it fails */
    else
        pe_spool_rollback(cs->sp);
    cs->open = false;
    if (rc)
        return rc;
    if (changed)
        *changed = cs->applied && cs->changed;
    cs->cur = v;
    cs->staged = cs->applied ? 0 : cs->staged + cs->batch_staged;
    return PE_OK;
}

struct pos_find {
    const char *topic;
    int32_t partition;
    int64_t next;
};

static int find_pos(const struct pe_spool_position *p, void *ctx)
{
    struct pos_find *f = ctx;
    if (p->part == f->partition && strcmp(p->log, f->topic) == 0) {
        f->next = p->next;
        return 1;
    }
    return 0;
}

int catalog_store_position(struct catalog_store *cs, const char *topic, int32_t partition,
                           int64_t *next)
{
    struct pos_find f = {topic, partition, -1};
    int rc = pe_spool_positions(cs->sp, find_pos, &f);
    *next = f.next;
    return rc == 1 ? PE_OK : rc;
}
