/* SPDX-License-Identifier: Apache-2.0 */
/*
 * journal_ledger.c - the journal's derived state: stock quantities, report counters, the
 * returnable quantities of sale lines, and the basket parked at shutdown.
 *
 * The invariant: every write here runs inside the transaction of the event it belongs to
 * (PE_ESTATE otherwise), so stock, counters and sale lines move exactly when that event is
 * committed and never half. Only the parked basket, which is not fiscal, has transactions of
 * its own. Quantities are integers within +/- 2^53, as everywhere in posedge, so SQLite's
 * integer arithmetic can never overflow into a floating-point value.
 */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/json.h"
#include "store/journal_int.h"

static bool in_range(int64_t v)
{
    return v >= -PE_JSON_MAX_INT && v <= PE_JSON_MAX_INT;
}

/* Step a statement to its end, taking the first column of its first row into *first. */
static int run(struct pe_journal *j, sqlite3_stmt *st, int64_t *first, bool *had_row,
               const char *op)
{
    int rc;
    bool row = false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!row && first)
            *first = sqlite3_column_int64(st, 0);
        row = true;
    }
    int e = rc == SQLITE_DONE ? PE_OK : journal__fail(j, rc, op);
    sqlite3_reset(st);
    if (had_row)
        *had_row = row;
    return e;
}

/* Bind (text, integer) to ?1 and ?2 and run. */
static int run_pair(struct pe_journal *j, enum journal_stmt s, const char *key, int64_t v,
                    int64_t *first, bool *had_row, const char *op)
{
    sqlite3_stmt *st = j->st[s];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v);
    return run(j, st, first, had_row, op);
}

/* What every keyed write checks first: a writable journal inside a transaction, a key, and a
 * value SQLite keeps as an exact integer. */
static int check_write(struct pe_journal *j, const char *key, int64_t v)
{
    int e = journal__writable(j);
    if (e)
        return e;
    if (!*key)
        return PE_EINVAL;
    return in_range(v) ? PE_OK : PE_ERANGE;
}

/* ---- stock ---- */

int pe_journal_stock_add(struct pe_journal *j, const char *item, int64_t delta, int64_t *after)
{
    assert(j && item);
    int e = check_write(j, item, delta);
    if (e)
        return e;
    int64_t qty = 0;
    e = run_pair(j, after ? JS_STOCK_ADD_RET : JS_STOCK_ADD, item, delta, after ? &qty : NULL, NULL,
                 "stock_add");
    if (e == PE_OK && after)
        *after = qty;
    return e;
}

int pe_journal_stock_set(struct pe_journal *j, const char *item, int64_t qty, int64_t *before)
{
    assert(j && item);
    int e = check_write(j, item, qty);
    if (e)
        return e;
    int64_t old = 0;
    sqlite3_stmt *st = j->st[JS_STOCK_GET];
    sqlite3_bind_text(st, 1, item, -1, SQLITE_STATIC);
    e = run(j, st, &old, NULL, "stock_set");
    if (e == PE_OK)
        e = run_pair(j, JS_STOCK_SET, item, qty, NULL, NULL, "stock_set");
    if (e == PE_OK && before)
        *before = old;
    return e;
}

int pe_journal_stock_get(struct pe_journal *j, const char *item, int64_t *qty)
{
    assert(j && item && qty);
    int64_t v = 0;
    sqlite3_stmt *st = j->st[JS_STOCK_GET];
    sqlite3_bind_text(st, 1, item, -1, SQLITE_STATIC);
    int e = run(j, st, &v, NULL, "stock_get");
    if (e == PE_OK)
        *qty = v;
    return e;
}

/* ---- counters ---- */

int pe_journal_counter_add(struct pe_journal *j, const char *name, int64_t delta)
{
    assert(j && name);
    int e = check_write(j, name, delta);
    if (e)
        return e;
    return run_pair(j, JS_COUNTER_ADD, name, delta, NULL, NULL, "counter_add");
}

int pe_journal_counter_set(struct pe_journal *j, const char *name, int64_t value)
{
    assert(j && name);
    int e = check_write(j, name, value);
    if (e)
        return e;
    return run_pair(j, JS_COUNTER_SET, name, value, NULL, NULL, "counter_set");
}

int pe_journal_counter_get(struct pe_journal *j, const char *name, int64_t *value)
{
    assert(j && name && value);
    int64_t v = 0;
    sqlite3_stmt *st = j->st[JS_COUNTER_GET];
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int e = run(j, st, &v, NULL, "counter_get");
    if (e == PE_OK)
        *value = v;
    return e;
}

int pe_journal_counters_each(struct pe_journal *j, const char *prefix,
                             int (*fn)(const char *name, int64_t value, void *ctx), void *ctx)
{
    assert(j && fn);
    const char *p = prefix ? prefix : "";
    size_t plen = strlen(p);
    sqlite3_stmt *st = NULL;
    /* Names sort bytewise, so those starting with prefix are one run beginning at prefix. */
    int rc = sqlite3_prepare_v2(
        j->db, "SELECT name, value FROM counters WHERE name >= ?1 ORDER BY name", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return journal__fail(j, rc, "counters_each");
    sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
    int ret = PE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (!name || strncmp(name, p, plen) != 0)
            break;
        ret = fn(name, sqlite3_column_int64(st, 1), ctx);
        if (ret)
            break;
    }
    if (!ret && rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = journal__fail(j, rc, "counters_each");
    sqlite3_finalize(st);
    return ret;
}

int pe_journal_counters_reset(struct pe_journal *j, const char *prefix)
{
    assert(j);
    int e = journal__writable(j);
    if (e)
        return e;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        j->db, "DELETE FROM counters WHERE substr(name, 1, length(?1)) = ?1", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return journal__fail(j, rc, "counters_reset");
    sqlite3_bind_text(st, 1, prefix ? prefix : "", -1, SQLITE_STATIC);
    e = run(j, st, NULL, NULL, "counters_reset");
    sqlite3_finalize(st);
    return e;
}

/* ---- sale lines ---- */

int pe_journal_sale_line_add(struct pe_journal *j, int64_t sale_seq, const struct pe_sale_line *l)
{
    assert(j && l);
    int e = journal__writable(j);
    if (e)
        return e;
    if (sale_seq < 1 || l->line < 1 || !memchr(l->item, '\0', sizeof l->item) || !l->item[0] ||
        l->qty < 0 || l->returned < 0 || l->returned > l->qty || !in_range(l->qty) ||
        !in_range(l->amount))
        return PE_EINVAL;
    sqlite3_stmt *st = j->st[JS_LINE_ADD];
    sqlite3_bind_int64(st, 1, sale_seq);
    sqlite3_bind_int(st, 2, l->line);
    sqlite3_bind_text(st, 3, l->item, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, l->qty);
    sqlite3_bind_int64(st, 5, l->amount);
    sqlite3_bind_int(st, 6, l->tax_bp);
    sqlite3_bind_int64(st, 7, l->returned);
    return run(j, st, NULL, NULL, "sale_line_add"); /* a repeated line is PE_EEXIST */
}

/* Lines beyond max are not reported; *n is the number filled in. */
int pe_journal_sale_lines(struct pe_journal *j, int64_t sale_seq, struct pe_sale_line *lines,
                          int max, int *n)
{
    assert(j && n && (lines || max <= 0));
    sqlite3_stmt *st = j->st[JS_LINE_LIST];
    sqlite3_bind_int64(st, 1, sale_seq);
    int rc, count = 0;
    bool any = false;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        any = true;
        if (count >= max)
            break;
        struct pe_sale_line *l = &lines[count++];
        const char *item = (const char *)sqlite3_column_text(st, 1);
        memset(l, 0, sizeof *l);
        l->line = sqlite3_column_int(st, 0);
        snprintf(l->item, sizeof l->item, "%s", item ? item : "");
        l->qty = sqlite3_column_int64(st, 2);
        l->amount = sqlite3_column_int64(st, 3);
        l->tax_bp = sqlite3_column_int(st, 4);
        l->returned = sqlite3_column_int64(st, 5);
    }
    int e = rc == SQLITE_ROW || rc == SQLITE_DONE ? PE_OK : journal__fail(j, rc, "sale_lines");
    sqlite3_reset(st);
    *n = count;
    if (e == PE_OK && !any)
        e = PE_ENOTFOUND;
    return e;
}

int pe_journal_sale_line_return(struct pe_journal *j, int64_t sale_seq, int32_t line, int64_t qty)
{
    assert(j);
    int e = journal__writable(j);
    if (e)
        return e;
    if (qty < 1 || !in_range(qty))
        return PE_EINVAL;
    sqlite3_stmt *st = j->st[JS_LINE_RETURN];
    sqlite3_bind_int64(st, 1, sale_seq);
    sqlite3_bind_int(st, 2, line);
    sqlite3_bind_int64(st, 3, qty);
    e = run(j, st, NULL, NULL, "sale_line_return");
    if (e || sqlite3_changes(j->db) == 1)
        return e;
    /* Nothing changed: either there is no such line or it has not that much left. */
    bool found = false;
    st = j->st[JS_LINE_GET];
    sqlite3_bind_int64(st, 1, sale_seq);
    sqlite3_bind_int(st, 2, line);
    e = run(j, st, NULL, &found, "sale_line_return");
    if (e)
        return e;
    return found ? PE_ERANGE : PE_ENOTFOUND;
}

/* ---- parked basket ---- */

int pe_journal_park(struct pe_journal *j, const char *json)
{
    assert(j && json);
    int e = pe_journal_begin(j);
    if (e)
        return e;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(j->db,
                                "INSERT INTO parked(slot, basket) VALUES (1, ?1) "
                                "ON CONFLICT(slot) DO UPDATE SET basket = excluded.basket",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        e = journal__fail(j, rc, "park");
        goto rollback;
    }
    sqlite3_bind_text(st, 1, json, -1, SQLITE_STATIC);
    e = run(j, st, NULL, NULL, "park");
    sqlite3_finalize(st);
    if (e)
        goto rollback;
    return pe_journal_commit(j);
rollback:
    pe_journal_rollback(j);
    return e;
}

int pe_journal_unpark(struct pe_journal *j, char **json)
{
    assert(j && json);
    char *basket = NULL;
    sqlite3_stmt *st = NULL;
    *json = NULL;
    int e = pe_journal_begin(j);
    if (e)
        return e;
    int rc = sqlite3_prepare_v2(j->db, "SELECT basket FROM parked WHERE slot = 1", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        e = journal__fail(j, rc, "unpark");
        goto rollback;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *text = (const char *)sqlite3_column_text(st, 0);
        basket = strdup(text ? text : "");
        if (!basket)
            e = PE_ENOMEM;
    } else if (rc != SQLITE_DONE) {
        e = journal__fail(j, rc, "unpark");
    }
    sqlite3_finalize(st);
    st = NULL;
    if (e || !basket)
        goto rollback;
    rc = sqlite3_prepare_v2(j->db, "DELETE FROM parked WHERE slot = 1", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        e = journal__fail(j, rc, "unpark");
        goto free_basket;
    }
    e = run(j, st, NULL, NULL, "unpark");
    sqlite3_finalize(st);
    if (e)
        goto free_basket;
    /* The basket is handed out only once its deletion is durable, so it cannot come back. */
    e = pe_journal_commit(j);
    if (e)
        goto free_basket;
    *json = basket;
    return PE_OK;

free_basket:
    free(basket);
rollback:
    pe_journal_rollback(j);
    return e;
}

/* ---- uplink watermarks (what the bridge has acknowledged) ---- */

int pe_journal_uplink_get(struct pe_journal *j, int64_t *spooled, int64_t *delivered)
{
    assert(j);
    static const char *const keys[] = {"spooled", "delivered"};
    int64_t *outs[] = {spooled, delivered};
    for (int i = 0; i < 2; i++) {
        if (!outs[i])
            continue;
        *outs[i] = 0;
        sqlite3_stmt *st = NULL;
        int rc =
            sqlite3_prepare_v2(j->db, "SELECT value FROM uplink WHERE key = ?1", -1, &st, NULL);
        if (rc != SQLITE_OK)
            return journal__fail(j, rc, "uplink_get");
        sqlite3_bind_text(st, 1, keys[i], -1, SQLITE_STATIC);
        int e = run(j, st, outs[i], NULL, "uplink_get");
        sqlite3_finalize(st);
        if (e)
            return e;
    }
    return PE_OK;
}

int pe_journal_uplink_set(struct pe_journal *j, int64_t spooled, int64_t delivered)
{
    assert(j);
    /* The agent stores what the bridge last acknowledged, lower or higher: a bridge whose spool
     * was rebuilt acknowledges less than before, and the agent must resend from there. */
    static const char sql[] = "INSERT INTO uplink(key, value) VALUES (?1, ?2) "
                              "ON CONFLICT(key) DO UPDATE SET value = excluded.value";
    int e = pe_journal_begin(j);
    if (e)
        return e;
    static const char *const keys[] = {"spooled", "delivered"};
    int64_t vals[] = {spooled, delivered};
    for (int i = 0; i < 2 && e == PE_OK; i++) {
        sqlite3_stmt *st = NULL;
        int rc = sqlite3_prepare_v2(j->db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK) {
            e = journal__fail(j, rc, "uplink_set");
            break;
        }
        sqlite3_bind_text(st, 1, keys[i], -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, vals[i]);
        e = run(j, st, NULL, NULL, "uplink_set");
        sqlite3_finalize(st);
    }
    if (e) {
        pe_journal_rollback(j);
        return e;
    }
    return pe_journal_commit(j);
}
