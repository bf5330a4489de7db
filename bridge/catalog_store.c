/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog_store.c - the store's catalog in the bridge's spool (see catalog_store.h).
 *
 * Layout in the spool: documents of the collections "items" and "promotions" (spool.h), keyed
 * by id, "*" records in layer 0 and the store's own in layer 1; positions under the topic's
 * name; the version under the metadata key "catalog/version" as one JSON object (the version
 * document's members without "v"), written in the batch's transaction.
 *
 * A batch knows the version it would make (the last plus one) from its start, gives it as the
 * change number of every document it puts, and writes it only if one of them changed. Its
 * positions are collected in memory (a handful of partitions) and written at commit.
 */
#include "bridge/catalog_store.h"

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

struct part_pos {
    const char *topic; /* borrowed from the consumer's settings (outlive the batch) */
    int32_t partition;
    int64_t next;
};

struct catalog_store {
    struct pe_spool *sp;          /* borrowed */
    char store[PE_ID_MAX];        /* this store */
    struct catalog_version cur;   /* as last committed */
    bool open;                    /* a batch is open */
    bool changed;                 /* it changed an effective document */
    int64_t records;              /* records in it */
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
    cs->changed = false;
    cs->records = 0;
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
    if (!cs->open)
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
    char *doc = NULL;
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
    bool changed = false;
    rc = pe_spool_doc_put(cs->sp, catalog_kind_coll(r->kind), id, layer, doc, len,
                          cs->cur.version + 1, &changed);
    free(doc);
    if (rc)
        return rc;
    cs->changed |= changed;
    *outcome = CATALOG_STORED;
    return PE_OK;
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
    if (rc == PE_OK && cs->changed) {
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
        *changed = cs->changed;
    cs->cur = v;
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
