/* SPDX-License-Identifier: Apache-2.0 */
/*
 * journal_catalog.c - the journal's applied catalog: item documents and their barcodes,
 * promotion documents, the state of the version in force, and the stage of a transfer being
 * received (journal.h, "the applied catalog").
 *
 * The invariant: every write to catalog_items, catalog_barcodes, catalog_promotions and
 * catalog_state runs inside the caller's transaction (PE_ESTATE otherwise), the transaction that
 * also commits the catalog_applied event, so the tables are the old catalog or the new one after
 * any crash. The stage is a receiving buffer, not fiscal: its writes have transactions of their
 * own. Statements are prepared on first use and kept, so a journal that predates the tables
 * (schema 1, opened read-only) still opens, and its catalog is simply not found.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/json.h"
#include "store/journal_int.h"

static const char *const csql[JC__COUNT] = {
    [JC_STATE_GET] = "SELECT version, hash, items, promotions, applied_ms, currency "
                     "FROM catalog_state WHERE slot = 1",
    [JC_STATE_SET] = "INSERT INTO catalog_state(slot, version, hash, items, promotions, applied_ms,"
                     " currency) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(slot) DO UPDATE "
                     "SET version = excluded.version, hash = excluded.hash, items = "
                     "excluded.items, promotions = excluded.promotions, applied_ms = "
                     "excluded.applied_ms, currency = excluded.currency",
    [JC_BY_BARCODE] = "SELECT i.doc FROM catalog_barcodes b JOIN catalog_items i ON i.id = b.item "
                      "WHERE b.barcode = ?1",
    [JC_BY_ID] = "SELECT doc FROM catalog_items WHERE id = ?1",
    [JC_ITEM_PUT] = "INSERT INTO catalog_items(id, doc) VALUES (?1, ?2) "
                    "ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
    [JC_ITEM_DEL] = "DELETE FROM catalog_items WHERE id = ?1",
    [JC_BARCODES_DEL] = "DELETE FROM catalog_barcodes WHERE item = ?1",
    [JC_BARCODE_OWNER] = "SELECT item FROM catalog_barcodes WHERE barcode = ?1",
    [JC_BARCODE_PUT] = "INSERT INTO catalog_barcodes(barcode, item) VALUES (?1, ?2)",
    [JC_PROMO_PUT] = "INSERT INTO catalog_promotions(id, doc) VALUES (?1, ?2) "
                     "ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
    [JC_PROMO_DEL] = "DELETE FROM catalog_promotions WHERE id = ?1",
    [JC_STAGE_PUT] = "INSERT INTO catalog_stage(chunk, payload) VALUES (?1, ?2) "
                     "ON CONFLICT(chunk) DO UPDATE SET payload = excluded.payload",
    [JC_STAGE_GET] = "SELECT payload FROM catalog_stage WHERE chunk = ?1",
};

void journal__catalog_close(struct pe_journal *j)
{
    for (int i = 0; i < JC__COUNT; i++) {
        sqlite3_finalize(j->cst[i]);
        j->cst[i] = NULL;
    }
}

/* The statement s, prepared now if it was not yet. PE_ENOTFOUND when the tables are not there
 * (a schema 1 journal opened read-only). */
static int stmt(struct pe_journal *j, enum journal_cstmt s, sqlite3_stmt **out)
{
    if (!j->cst[s]) {
        int rc = sqlite3_prepare_v3(j->db, csql[s], -1, SQLITE_PREPARE_PERSISTENT, &j->cst[s],
                                    NULL);
        if (rc != SQLITE_OK) {
            j->cst[s] = NULL;
            if ((rc & 0xff) == SQLITE_ERROR && j->readonly)
                return PE_ENOTFOUND;
            return journal__fail(j, rc, "catalog prepare");
        }
    }
    *out = j->cst[s];
    return PE_OK;
}

/* Step st to its end; the first row's first column as text is copied to *text (malloc'd) when
 * text is not NULL. *had_row (may be NULL) says whether there was a row. */
static int run(struct pe_journal *j, sqlite3_stmt *st, char **text, size_t *len, bool *had_row,
               const char *op)
{
    int rc;
    bool row = false;
    int e = PE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!row && text) {
            const char *t = (const char *)sqlite3_column_text(st, 0);
            size_t n = (size_t)sqlite3_column_bytes(st, 0);
            char *copy = malloc(n + 1);
            if (!copy) {
                e = PE_ENOMEM;
                break;
            }
            if (n)
                memcpy(copy, t, n);
            copy[n] = '\0';
            *text = copy;
            if (len)
                *len = n;
        }
        row = true;
    }
    if (e == PE_OK && rc != SQLITE_DONE)
        e = journal__fail(j, rc, op);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st); /* no pointer to a caller's string is left behind */
    if (had_row)
        *had_row = row;
    return e;
}

/* Bind ?1 (and ?2 when b is not NULL) as text and run. */
static int run2(struct pe_journal *j, enum journal_cstmt s, const char *a, const char *b,
                const char *op)
{
    sqlite3_stmt *st;
    int e = stmt(j, s, &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (b)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    return run(j, st, NULL, NULL, NULL, op);
}

int pe_journal_catalog_get(struct pe_journal *j, struct pe_journal_catalog *out)
{
    assert(j && out);
    sqlite3_stmt *st;
    int e = stmt(j, JC_STATE_GET, &st);
    if (e)
        return e;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 1);
        const char *c = (const char *)sqlite3_column_text(st, 5);
        memset(out, 0, sizeof *out);
        out->version = sqlite3_column_int64(st, 0);
        snprintf(out->hash, sizeof out->hash, "%s", h ? h : "");
        out->items = sqlite3_column_int64(st, 2);
        out->promotions = sqlite3_column_int64(st, 3);
        out->applied_ms = sqlite3_column_int64(st, 4);
        snprintf(out->currency, sizeof out->currency, "%s", c ? c : "");
        e = PE_OK;
    } else {
        e = rc == SQLITE_DONE ? PE_ENOTFOUND : journal__fail(j, rc, "catalog_get");
    }
    sqlite3_reset(st);
    return e;
}

int pe_journal_catalog_set(struct pe_journal *j, const struct pe_journal_catalog *c)
{
    assert(j && c);
    int e = journal__writable(j);
    if (e)
        return e;
    if (c->version < 0 || !pe_is_sha256_hex(c->hash) || c->items < 0 || c->promotions < 0 ||
        strlen(c->currency) != 3)
        return PE_EINVAL;
    sqlite3_stmt *st;
    if ((e = stmt(j, JC_STATE_SET, &st)))
        return e;
    sqlite3_bind_int64(st, 1, c->version);
    sqlite3_bind_text(st, 2, c->hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, c->items);
    sqlite3_bind_int64(st, 4, c->promotions);
    sqlite3_bind_int64(st, 5, c->applied_ms);
    sqlite3_bind_text(st, 6, c->currency, -1, SQLITE_STATIC);
    return run(j, st, NULL, NULL, NULL, "catalog_set");
}

int pe_journal_catalog_item(struct pe_journal *j, const char *code, char **doc, size_t *len)
{
    assert(j && code && doc);
    *doc = NULL;
    static const enum journal_cstmt order[] = {JC_BY_BARCODE, JC_BY_ID};
    for (size_t i = 0; i < 2; i++) {
        sqlite3_stmt *st;
        bool found = false;
        int e = stmt(j, order[i], &st);
        if (e)
            return e;
        sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
        if ((e = run(j, st, doc, len, &found, "catalog_item")))
            return e;
        if (found)
            return PE_OK;
    }
    return PE_ENOTFOUND;
}

int pe_journal_catalog_clear(struct pe_journal *j)
{
    assert(j);
    int e = journal__writable(j);
    if (e)
        return e;
    int rc = sqlite3_exec(j->db,
                          "DELETE FROM catalog_barcodes; DELETE FROM catalog_items;"
                          " DELETE FROM catalog_promotions;",
                          NULL, NULL, NULL);
    return rc == SQLITE_OK ? PE_OK : journal__fail(j, rc, "catalog_clear");
}

int pe_journal_catalog_put_item(struct pe_journal *j, const char *id,
                                const char *const *barcodes, size_t nbarcodes, const char *doc,
                                char owner[PE_CATALOG_ID_MAX])
{
    assert(j && id && doc && (barcodes || !nbarcodes));
    int e = journal__writable(j);
    if (e)
        return e;
    if (!pe_catalog_id_valid(id) || nbarcodes == 0)
        return PE_EINVAL;
    /* Its old barcodes go first: an item may drop one that another item takes in the same
     * transfer, or keep the ones it had. */
    if ((e = run2(j, JC_BARCODES_DEL, id, NULL, "catalog_put_item")))
        return e;
    for (size_t i = 0; i < nbarcodes; i++) {
        sqlite3_stmt *st;
        char *other = NULL;
        bool found = false;
        if ((e = stmt(j, JC_BARCODE_OWNER, &st)))
            return e;
        sqlite3_bind_text(st, 1, barcodes[i], -1, SQLITE_STATIC);
        if ((e = run(j, st, &other, NULL, &found, "catalog_put_item")))
            return e;
        if (found) {
            if (owner)
                snprintf(owner, PE_CATALOG_ID_MAX, "%s", other);
            free(other);
            return PE_EEXIST;
        }
        if ((e = run2(j, JC_BARCODE_PUT, barcodes[i], id, "catalog_put_item")))
            return e;
    }
    return run2(j, JC_ITEM_PUT, id, doc, "catalog_put_item");
}

int pe_journal_catalog_delete_item(struct pe_journal *j, const char *id)
{
    assert(j && id);
    int e = journal__writable(j);
    if (e)
        return e;
    if ((e = run2(j, JC_BARCODES_DEL, id, NULL, "catalog_delete_item")))
        return e;
    return run2(j, JC_ITEM_DEL, id, NULL, "catalog_delete_item");
}

int pe_journal_catalog_put_promotion(struct pe_journal *j, const char *id, const char *doc)
{
    assert(j && id && doc);
    int e = journal__writable(j);
    if (e)
        return e;
    if (!pe_catalog_id_valid(id))
        return PE_EINVAL;
    return run2(j, JC_PROMO_PUT, id, doc, "catalog_put_promotion");
}

int pe_journal_catalog_delete_promotion(struct pe_journal *j, const char *id)
{
    assert(j && id);
    int e = journal__writable(j);
    return e ? e : run2(j, JC_PROMO_DEL, id, NULL, "catalog_delete_promotion");
}

int pe_journal_catalog_each(struct pe_journal *j, bool promotions,
                            int (*fn)(const char *id, const char *doc, void *ctx), void *ctx)
{
    assert(j && fn);
    sqlite3_stmt *st = NULL;
    /* A statement of its own: fn may look documents up while the walk runs. */
    int rc = sqlite3_prepare_v2(j->db,
                                promotions ? "SELECT id, doc FROM catalog_promotions ORDER BY id"
                                           : "SELECT id, doc FROM catalog_items ORDER BY id",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        if ((rc & 0xff) == SQLITE_ERROR && j->readonly)
            return PE_ENOTFOUND;
        return journal__fail(j, rc, "catalog_each");
    }
    int ret = PE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        const char *doc = (const char *)sqlite3_column_text(st, 1);
        if ((ret = fn(id ? id : "", doc ? doc : "", ctx)))
            break;
    }
    if (!ret && rc != SQLITE_DONE)
        ret = journal__fail(j, rc, "catalog_each");
    sqlite3_finalize(st);
    return ret;
}

/* ---- the stage ---- */

int pe_journal_catalog_stage_put(struct pe_journal *j, int64_t i, const void *payload,
                                 size_t len)
{
    assert(j && (payload || !len));
    if (i < 0)
        return PE_EINVAL;
    int e = pe_journal_begin(j);
    if (e)
        return e;
    sqlite3_stmt *st;
    if ((e = stmt(j, JC_STAGE_PUT, &st)))
        goto rollback;
    sqlite3_bind_int64(st, 1, i);
    sqlite3_bind_blob64(st, 2, payload ? payload : "", len, SQLITE_STATIC);
    if ((e = run(j, st, NULL, NULL, NULL, "catalog_stage_put")))
        goto rollback;
    return pe_journal_commit(j);
rollback:
    pe_journal_rollback(j);
    return e;
}

int pe_journal_catalog_stage_get(struct pe_journal *j, int64_t i, char **payload, size_t *len)
{
    assert(j && payload);
    *payload = NULL;
    sqlite3_stmt *st;
    bool found = false;
    int e = stmt(j, JC_STAGE_GET, &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, i);
    if ((e = run(j, st, payload, len, &found, "catalog_stage_get")))
        return e;
    return found ? PE_OK : PE_ENOTFOUND;
}

int pe_journal_catalog_stage_clear(struct pe_journal *j)
{
    assert(j);
    int e = pe_journal_begin(j);
    if (e)
        return e;
    int rc = sqlite3_exec(j->db, "DELETE FROM catalog_stage", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        e = journal__fail(j, rc, "catalog_stage_clear");
        pe_journal_rollback(j);
        return e;
    }
    return pe_journal_commit(j);
}
