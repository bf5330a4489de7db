/* SPDX-License-Identifier: Apache-2.0 */
/*
 * journal.c - the till's journal: opening and checking the SQLite file, one transaction per
 * event, appending sealed records, reading them back and verifying the chain.
 *
 * Durability: the file is in WAL mode with synchronous=FULL, so COMMIT returns only after the
 * WAL (the transaction's commit frame included) has been synced; a power cut after the till
 * printed a receipt cannot lose the sale. A COMMIT that fails is followed by ROLLBACK whenever
 * SQLite left the transaction open, so the handle stays usable and the caller can retry the
 * same event: the retry is idempotent because append first looks the event id up.
 *
 * The invariant: the events table only grows, by one sealed record at seq = last + 1 whose prev
 * is the last record's hash. The last seq, hash and time are kept in memory (loaded at open,
 * reloaded if another connection wrote), so the append path runs no query for them; every
 * statement on that path is prepared once at open.
 *
 * Signing (signer.h). With a signer taken, append signs the sealed record's hash and stores the
 * signature in the row's sig column, in the same statement as the record. Where signing stands
 * (the current group's key and its last counter) is kept beside the tail, in memory, and goes
 * back with it when a transaction ends without a commit; the signer is then told the counter
 * that is really stored (resume), so a counter is never stored twice nor skipped. It is read
 * from the last signed record (or signer_installed event) when first needed, not at every open:
 * read-only commands never pay for it.
 *
 * A damaged file is reported, never repaired: the error names the file and the posedge-ctl
 * commands that inspect it and copy its intact part.
 */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/sqlite_util.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "store/journal_int.h"

#define SCHEMA_VERSION 2
#define BUSY_TIMEOUT_MS 5000

static const char *const sql[JS__COUNT] = {
    [JS_BEGIN] = "BEGIN IMMEDIATE",
    [JS_COMMIT] = "COMMIT",
    [JS_ROLLBACK] = "ROLLBACK",
    [JS_DATA_VERSION] = "PRAGMA data_version",
    [JS_TAIL] = "SELECT seq, hash, ts_ms FROM events ORDER BY seq DESC LIMIT 1",
    [JS_FIND] = "SELECT seq, hash FROM events WHERE id = ?1",
    [JS_INSERT] = "INSERT INTO events(seq, id, type, ts_ms, record, hash, sig) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [JS_GET] = "SELECT record FROM events WHERE seq = ?1",
    /* Where signing stands: the newest row before ?1 that is signed (or marked unsigned in a
     * signer outage) or installs a signer. The newest row matches unless signing is off, so
     * this reads one row in the normal case. */
    [JS_SIGNING] = "SELECT seq, type, sig, record FROM events WHERE seq < ?1 AND "
                   "(sig IS NOT NULL OR type = 'signer_installed') ORDER BY seq DESC LIMIT 1",
    [JS_TS] = "SELECT ts_ms FROM events WHERE seq = ?1",
    /* Two forms of the same upsert: RETURNING makes SQLite buffer the result in an ephemeral
     * table on every step, which costs several times the write itself, so the plain form runs
     * whenever the caller does not want the new quantity (every sale). */
    [JS_STOCK_ADD] = "INSERT INTO stock(item, qty) VALUES (?1, ?2) "
                     "ON CONFLICT(item) DO UPDATE SET qty = qty + excluded.qty",
    [JS_STOCK_ADD_RET] = "INSERT INTO stock(item, qty) VALUES (?1, ?2) "
                         "ON CONFLICT(item) DO UPDATE SET qty = qty + excluded.qty RETURNING qty",
    [JS_STOCK_GET] = "SELECT qty FROM stock WHERE item = ?1",
    [JS_STOCK_SET] = "INSERT INTO stock(item, qty) VALUES (?1, ?2) "
                     "ON CONFLICT(item) DO UPDATE SET qty = excluded.qty",
    [JS_COUNTER_ADD] = "INSERT INTO counters(name, value) VALUES (?1, ?2) "
                       "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
    [JS_COUNTER_SET] = "INSERT INTO counters(name, value) VALUES (?1, ?2) "
                       "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
    [JS_COUNTER_GET] = "SELECT value FROM counters WHERE name = ?1",
    [JS_LINE_ADD] = "INSERT INTO sale_lines(sale_seq, line, item, qty, amount, tax_bp, returned) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [JS_LINE_LIST] = "SELECT line, item, qty, amount, tax_bp, returned FROM sale_lines "
                     "WHERE sale_seq = ?1 ORDER BY line",
    [JS_LINE_GET] = "SELECT qty, returned FROM sale_lines WHERE sale_seq = ?1 AND line = ?2",
    [JS_LINE_RETURN] = "UPDATE sale_lines SET returned = returned + ?3 "
                       "WHERE sale_seq = ?1 AND line = ?2 AND returned + ?3 <= qty",
};

/* The applied catalog (journal_catalog.c): item documents with their barcodes, promotion
 * documents, the version in force, and the chunks of a transfer being received. */
#define CATALOG_SQL                                                                                \
    "CREATE TABLE catalog_items(id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;"           \
    "CREATE TABLE catalog_barcodes(barcode TEXT PRIMARY KEY, item TEXT NOT NULL) WITHOUT ROWID;"  \
    "CREATE INDEX catalog_barcodes_item ON catalog_barcodes(item);"                               \
    "CREATE TABLE catalog_promotions(id TEXT PRIMARY KEY, doc TEXT NOT NULL) WITHOUT ROWID;"      \
    "CREATE TABLE catalog_state(slot INTEGER PRIMARY KEY CHECK (slot = 1),"                       \
    " version INTEGER NOT NULL, hash TEXT NOT NULL, items INTEGER NOT NULL,"                      \
    " promotions INTEGER NOT NULL, applied_ms INTEGER NOT NULL, currency TEXT NOT NULL);"        \
    "CREATE TABLE catalog_stage(chunk INTEGER PRIMARY KEY, payload BLOB NOT NULL);"

/* Created in one transaction together with user_version, so a file has all of it or none. */
static const char schema_sql[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE events(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL,"
    " ts_ms INTEGER NOT NULL, record BLOB NOT NULL, hash TEXT NOT NULL, sig BLOB);"
    "CREATE TABLE stock(item TEXT PRIMARY KEY, qty INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE sale_lines(sale_seq INTEGER NOT NULL, line INTEGER NOT NULL,"
    " item TEXT NOT NULL, qty INTEGER NOT NULL, amount INTEGER NOT NULL,"
    " tax_bp INTEGER NOT NULL, returned INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(sale_seq, line)) WITHOUT ROWID;"
    "CREATE TABLE parked(slot INTEGER PRIMARY KEY CHECK (slot = 1), basket TEXT NOT NULL);"
    "CREATE TABLE uplink(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    CATALOG_SQL "PRAGMA user_version = 2;";

/* Migrations, by the version they upgrade from: each runs in one transaction with the
 * user_version it sets, so a file is at one version or the next, never in between. */
static const char *const migrations[SCHEMA_VERSION] = {
    [1] = CATALOG_SQL "PRAGMA user_version = 2;", /* issue 14: the applied catalog */
};

int journal__fail(struct pe_journal *j, int rc, const char *op)
{
    int e = store__rc(rc);
    if (e == PE_OK)
        e = PE_EIO; /* a caller only gets here with a failure */
    pe_error("journal.sqlite", "op=%s rc=%d msg=\"%s\"", op, rc, sqlite3_errmsg(j->db));
    if (j->in_txn && !j->lost && sqlite3_get_autocommit(j->db)) {
        /* SQLite rolled the whole transaction back (full disk, I/O error). Later writes must
         * not run in autocommit mode as if the transaction were still open. */
        j->lost = e;
        j->tail = j->committed;
    }
    return e;
}

int journal__writable(const struct pe_journal *j)
{
    if (!j->in_txn)
        return PE_ESTATE;
    return j->lost ? j->lost : PE_OK;
}

/* Run a statement without results to completion. */
static int exec_stmt(struct pe_journal *j, enum journal_stmt s, const char *op)
{
    sqlite3_stmt *st = j->st[s];
    int rc = sqlite3_step(st);
    int e = rc == SQLITE_DONE || rc == SQLITE_ROW ? PE_OK : journal__fail(j, rc, op);
    sqlite3_reset(st);
    return e;
}

/* The one-integer result of a pragma or query run once (not on a hot path). */
static int query_int(sqlite3 *db, const char *q, int64_t *out, int *sqlite_rc)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, q, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            *out = 0;
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    *sqlite_rc = rc;
    return rc == SQLITE_OK ? PE_OK : store__rc(rc);
}

/* ---- open ---- */

/* Fill err with the message for a damaged journal and return PE_ECORRUPT. */
static int damaged(const struct pe_journal *j, char *err, size_t errlen, const char *detail)
{
    pe_error("journal.damaged", "path=\"%s\" detail=\"%s\"", j->path, detail);
    store__seterr(err, errlen,
                  "journal %s is damaged (%s); it has not been changed. Inspect it with "
                  "'posedge-ctl verify %s' and recover the intact part with "
                  "'posedge-ctl recover %s NEW.db'.",
                  j->path, detail, j->path, j->path);
    return PE_ECORRUPT;
}

/* Report a SQLite failure during open: damage for corruption, err naming the file otherwise. */
static int open_fail(struct pe_journal *j, int rc, const char *op, char *err, size_t errlen)
{
    int e = store__rc(rc);
    if (e == PE_OK)
        e = PE_EIO;
    const char *msg = j->db ? sqlite3_errmsg(j->db) : sqlite3_errstr(rc);
    pe_error("journal.sqlite", "op=%s rc=%d msg=\"%s\"", op, rc, msg);
    if (e == PE_ECORRUPT) {
        char detail[160];
        snprintf(detail, sizeof detail, "%s: %s", op, msg);
        return damaged(j, err, errlen, detail);
    }
    store__seterr(err, errlen, "journal %s: %s failed: %s", j->path, op, msg);
    return e;
}

/* Read one meta value into out (size n). PE_ENOTFOUND when absent. */
static int meta_get(struct pe_journal *j, const char *key, char *out, size_t n, int *sqlite_rc)
{
    sqlite3_stmt *st = NULL;
    int e = PE_ENOTFOUND;
    int rc = sqlite3_prepare_v2(j->db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *v = (const char *)sqlite3_column_text(st, 0);
            snprintf(out, n, "%s", v ? v : "");
            e = PE_OK;
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    *sqlite_rc = rc;
    return rc == SQLITE_OK ? e : store__rc(rc);
}

/* Create the schema in a new file, inside one transaction. */
static int create_schema(struct pe_journal *j, const struct pe_journal_opts *o, char *err,
                         size_t errlen)
{
    int64_t version = 0, tables = 0;
    sqlite3_stmt *st = NULL;
    char now[PE_TIME_STRLEN];
    int e;

    int rc = sqlite3_exec(j->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return open_fail(j, rc, "create", err, errlen);
    /* Another process may have created it between our first look and the lock. */
    if (query_int(j->db, "PRAGMA user_version", &version, &rc) ||
        query_int(j->db, "SELECT count(*) FROM sqlite_schema", &tables, &rc))
        goto fail;
    if (version != 0 || tables != 0) {
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
        return PE_OK;
    }
    rc = sqlite3_exec(j->db, schema_sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    pe_time_format(pe_time_now_ms(), now);
    rc = sqlite3_prepare_v2(j->db,
                            "INSERT INTO meta(key, value) VALUES "
                            "('store', ?1), ('terminal', ?2), ('created', ?3)",
                            -1, &st, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_bind_text(st, 1, o->store, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, o->terminal, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, now, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        goto finalize;
    sqlite3_finalize(st);
    rc = sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    pe_info("journal.create", "path=\"%s\" store=%s terminal=%s", j->path, o->store, o->terminal);
    return PE_OK;

finalize:
    sqlite3_finalize(st);
fail:
    e = open_fail(j, rc, "create", err, errlen);
    if (!sqlite3_get_autocommit(j->db))
        sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
    return e;
}

/* Bring a journal of an older schema up to SCHEMA_VERSION, one migration per transaction (a
 * crash in between leaves a file at a version this code upgrades again). It runs once the file
 * has proved to be a journal (its statements prepared), so nothing else is ever changed. */
static int migrate(struct pe_journal *j, int64_t version, char *err, size_t errlen)
{
    while (version >= 1 && version < SCHEMA_VERSION) {
        int rc = sqlite3_exec(j->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(j->db, migrations[version], NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(j->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            int e = open_fail(j, rc, "migrate", err, errlen);
            if (!sqlite3_get_autocommit(j->db))
                sqlite3_exec(j->db, "ROLLBACK", NULL, NULL, NULL);
            return e;
        }
        pe_info("journal.migrate", "path=\"%s\" from=%lld to=%lld", j->path, (long long)version,
                (long long)version + 1);
        version++;
    }
    return PE_OK;
}

/* Load the last event into j->tail and j->committed. */
static int load_tail(struct pe_journal *j, char *err, size_t errlen)
{
    sqlite3_stmt *st = j->st[JS_TAIL];
    struct journal_tail t = {0};
    int rc = sqlite3_step(st);
    int e = PE_OK;
    if (rc == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 1);
        t.seq = sqlite3_column_int64(st, 0);
        t.ts_ms = sqlite3_column_int64(st, 2);
        if (t.seq < 1 || !pe_is_sha256_hex(h)) {
            e = damaged(j, err, errlen, "the last events row has a bad seq or hash");
        } else {
            memcpy(t.hash, h, PE_SHA256_HEXLEN);
        }
    } else if (rc == SQLITE_DONE) {
        /* Empty: the genesis value, or a journal pruned to its last record: the anchor. */
        struct pe_journal_anchor a;
        pe_event_genesis(j->store, j->terminal, t.hash);
        e = pe_journal_anchor(j, &a);
        if (e == PE_OK && a.seq) {
            t.seq = a.seq;
            memcpy(t.hash, a.hash, sizeof t.hash);
        }
        if (e == PE_ECORRUPT)
            e = damaged(j, err, errlen, "the anchor row (meta) does not parse");
        pe_journal_anchor_free(&a);
    } else {
        e = open_fail(j, rc, "load tail", err, errlen);
    }
    sqlite3_reset(st);
    if (e == PE_OK) {
        j->tail = t;
        j->committed = t;
        j->sig_loaded = false; /* read again when next needed: another writer may have signed */
    }
    return e;
}

/* Where signing stands when no live row says it (a pruned journal): the anchor's key record
 * and counter. */
static int anchor_signing(struct pe_journal *j, struct journal_signing *g, char *why,
                          size_t whylen)
{
    struct pe_journal_anchor a;
    int e = pe_journal_anchor(j, &a);
    if (e || !a.key_record) {
        pe_journal_anchor_free(&a);
        return e;
    }
    cJSON *r = NULL;
    struct pe_signer_installed in;
    e = pe_json_parse(a.key_record, strlen(a.key_record), &r, NULL, 0);
    if (e == PE_OK)
        e = pe_signer_installed_parse(cJSON_GetObjectItemCaseSensitive(r, "body"), &in, NULL, 0);
    if (e == PE_OK) {
        snprintf(g->alg, sizeof g->alg, "%s", in.alg);
        snprintf(g->key_id, sizeof g->key_id, "%s", in.key_id ? in.key_id : "");
        g->counter = a.counter;
        g->seq = a.key_seq;
    } else if (e != PE_ENOMEM) {
        snprintf(why, whylen, "the anchor's key record of seq %lld does not parse",
                 (long long)a.key_seq);
        e = PE_ECORRUPT;
    }
    cJSON_Delete(r);
    pe_journal_anchor_free(&a);
    return e;
}

/* The newest signing row before seq `before` (see JS_SIGNING) into g; *mark gets the outage
 * seq when that row is marked unsigned (signer.h), else 0. why is filled on PE_ECORRUPT. */
static int signing_row(struct pe_journal *j, int64_t before, struct journal_signing *g,
                       int64_t *mark, char *why, size_t whylen, char type_out[24])
{
    sqlite3_stmt *st = j->st[JS_SIGNING];
    sqlite3_bind_int64(st, 1, before);
    int rc = sqlite3_step(st), e = PE_OK;
    *mark = 0;
    if (rc == SQLITE_ROW) {
        g->seq = sqlite3_column_int64(st, 0);
        const char *type = (const char *)sqlite3_column_text(st, 1);
        snprintf(type_out, 24, "%s", type ? type : "");
        const void *sig = sqlite3_column_blob(st, 2);
        size_t siglen = (size_t)sqlite3_column_bytes(st, 2);
        struct pe_signature sg;
        if (sig && pe_signature_mark_decode(sig, siglen, mark)) {
            /* Marked: the caller looks further back for the group. */
        } else if (sig) {
            e = pe_signature_decode(sig, siglen, &sg, why, whylen);
            if (e == PE_OK) {
                memcpy(g->alg, sg.alg, sizeof g->alg);
                memcpy(g->key_id, sg.key_id, sizeof g->key_id);
                g->counter = sg.counter;
            }
        } else {
            /* An unsigned signer_installed: signing turned off ("none"). */
            const char *rec = sqlite3_column_blob(st, 3);
            size_t len = (size_t)sqlite3_column_bytes(st, 3);
            cJSON *r = NULL;
            struct pe_signer_installed in;
            e = pe_json_parse(rec, len, &r, why, whylen);
            if (e == PE_OK)
                e = pe_signer_installed_parse(cJSON_GetObjectItemCaseSensitive(r, "body"), &in,
                                              why, whylen);
            if (e == PE_OK && strcmp(in.alg, PE_SIGNER_ALG_NONE) != 0) {
                snprintf(why, whylen, "signer_installed of a key is not signed");
                e = PE_EINVAL;
            }
            if (e == PE_OK)
                snprintf(g->alg, sizeof g->alg, "%s", in.alg);
            cJSON_Delete(r);
        }
        if (e && e != PE_ENOMEM)
            e = PE_ECORRUPT;
    } else if (rc != SQLITE_DONE) {
        e = journal__fail(j, rc, "signing");
    }
    sqlite3_reset(st);
    return e;
}

/* Read where signing stands into tail and committed (see JS_SIGNING): the group, and an outage
 * of the signer still open (its signer_down's seq and time). Returns PE_ECORRUPT when that
 * row's signature or signer_installed body cannot be read, naming it in the log. */
static int load_signing(struct pe_journal *j)
{
    struct journal_signing g = {0};
    char why[96] = "", type[24] = "";
    int64_t mark = 0;
    int e = signing_row(j, INT64_MAX, &g, &mark, why, sizeof why, type);
    if (e == PE_OK && mark) {
        /* An outage is open: the group is that of the last signed row before it began. */
        int64_t at = g.seq;
        memset(&g, 0, sizeof g);
        g.down_seq = mark;
        int64_t inner = 0;
        if (mark > at || mark < 1) {
            snprintf(why, sizeof why, "marked for an outage at seq %lld after it",
                     (long long)mark);
            g.seq = at;
            e = PE_ECORRUPT;
        }
        if (e == PE_OK)
            e = signing_row(j, mark, &g, &inner, why, sizeof why, type);
        if (e == PE_OK && inner) {
            snprintf(why, sizeof why, "an outage inside the outage at seq %lld", (long long)mark);
            e = PE_ECORRUPT;
        }
        sqlite3_stmt *st = j->st[JS_TS];
        sqlite3_bind_int64(st, 1, mark);
        int rc = e == PE_OK ? sqlite3_step(st) : SQLITE_DONE;
        if (rc == SQLITE_ROW)
            g.down_ms = sqlite3_column_int64(st, 0);
        else if (e == PE_OK && rc == SQLITE_DONE)
            e = PE_ECORRUPT;
        else if (e == PE_OK)
            e = journal__fail(j, rc, "signing");
        sqlite3_reset(st);
        g.down_seq = mark;
    }
    /* No live row says it (a pruned journal; the anchor is never inside an outage): the
     * anchor's key record and counter. */
    if (e == PE_OK && !g.seq)
        e = anchor_signing(j, &g, why, sizeof why);
    if (e == PE_ECORRUPT)
        pe_error("journal.signing_unreadable", "path=\"%s\" seq=%lld type=%s why=\"%s\"",
                 j->path, (long long)g.seq, type, why);
    if (e == PE_OK) {
        j->committed.sig = g;
        j->tail.sig = g;
        j->sig_loaded = true;
    }
    return e;
}

/* The last counter stored under the signer's key as the tail stands: 0 when the group is
 * another key's (the signer's next signature would start its group). */
static int64_t signer_last(const struct pe_journal *j, const struct journal_tail *t)
{
    return strcmp(t->sig.key_id, pe_signer_key(j->signer)->key_id) == 0 ? t->sig.counter : 0;
}

/*
 * Check the events row st stands on as the record of seq chained from prev: the record
 * verifies, and the row's columns agree with it. hash gets the record's hash. why is filled
 * on PE_ECHAIN.
 */
static int check_row(struct pe_journal *j, sqlite3_stmt *st, int64_t seq, const char *prev,
                     char hash[PE_SHA256_HEXLEN], char *why, size_t whylen)
{
    /* Columns: seq, id, type, ts_ms, hash, record. */
    const char *id = (const char *)sqlite3_column_text(st, 1);
    const char *type = (const char *)sqlite3_column_text(st, 2);
    int64_t ts_ms = sqlite3_column_int64(st, 3);
    const char *hashcol = (const char *)sqlite3_column_text(st, 4);
    const char *rec = sqlite3_column_blob(st, 5);
    size_t len = (size_t)sqlite3_column_bytes(st, 5);
    struct pe_event_meta m;

    int rc = pe_event_verify(rec, len, seq, prev, &m, hash, NULL, why, whylen);
    if (rc == PE_ENOMEM)
        return rc;
    if (rc) {
        /* Name the row's seq even when the record's own could not be read or differs. */
        char prefix[32];
        int n = snprintf(prefix, sizeof prefix, "seq %lld: ", (long long)seq);
        size_t plen = (size_t)n, rlen = strlen(why);
        if (strncmp(why, prefix, plen) != 0 && whylen > plen) {
            if (plen + rlen >= whylen)
                rlen = whylen - plen - 1; /* the reason is cut, the prefix never */
            memmove(why + plen, why, rlen);
            memcpy(why, prefix, plen);
            why[plen + rlen] = '\0';
        }
        return PE_ECHAIN;
    }
    const char *bad = NULL;
    if (sqlite3_column_int64(st, 0) != m.seq)
        bad = "seq column does not match the record";
    else if (!id || strcmp(id, m.id) != 0)
        bad = "id column does not match the record";
    else if (!hashcol || strcmp(hashcol, hash) != 0)
        bad = "hash column does not match the record";
    else if (!type || strcmp(type, pe_event_type_name(m.type)) != 0)
        bad = "type column does not match the record";
    else if (ts_ms != m.ts_ms)
        bad = "ts_ms column does not match the record";
    else if (strcmp(m.store, j->store) != 0 || strcmp(m.terminal, j->terminal) != 0)
        bad = "record belongs to another store or terminal";
    if (bad) {
        snprintf(why, whylen, "seq %lld: %s", (long long)seq, bad);
        return PE_ECHAIN;
    }
    return PE_OK;
}

#define ROW_SQL "SELECT seq, id, type, ts_ms, hash, record, sig FROM events"

/*
 * Verify the last record and the one before it: the cheap check at open that catches a torn
 * or edited tail, which is where a crash or a tamperer leaves marks. why gets the reason.
 */
static int check_tail(struct pe_journal *j, char *why, size_t whylen, int *sqlite_rc)
{
    int64_t last = j->committed.seq;
    int64_t first = last > 1 ? last - 1 : 1;
    char prev[PE_SHA256_HEXLEN] = "", hash[PE_SHA256_HEXLEN];
    sqlite3_stmt *st = NULL;
    struct pe_journal_anchor a;
    int e = PE_OK;

    *sqlite_rc = SQLITE_OK;
    if (last == 0)
        return PE_OK;
    /* A pruned journal: nothing before its anchor is here; the record after it chains from it. */
    e = pe_journal_anchor(j, &a);
    if (e) {
        snprintf(why, whylen, "the anchor row (meta) does not parse");
        return e == PE_ENOMEM ? e : PE_ECHAIN;
    }
    if (a.seq && first <= a.seq) {
        first = a.seq + 1;
        memcpy(prev, a.hash, sizeof prev);
    }
    bool known_prev = a.seq && first == a.seq + 1;
    pe_journal_anchor_free(&a);
    if (first > last)
        return PE_OK; /* pruned to its last record: the anchor is the tail */
    int64_t expect = first;
    int rc = sqlite3_prepare_v2(j->db, ROW_SQL " WHERE seq >= ?1 ORDER BY seq", -1, &st, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_bind_int64(st, 1, first);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        if (seq != expect) {
            snprintf(why, whylen, "seq %lld: missing", (long long)expect);
            e = PE_ECHAIN;
            goto finalize;
        }
        if (seq == 1)
            pe_event_genesis(j->store, j->terminal, prev);
        /* The first record checked has no known predecessor unless it is seq 1. */
        e = check_row(j, st, seq, seq == 1 || seq > first || known_prev ? prev : NULL, hash, why,
                      whylen);
        if (e)
            goto finalize;
        memcpy(prev, hash, sizeof prev);
        expect++;
    }
    if (rc != SQLITE_DONE)
        goto fail;
    if (expect != last + 1) {
        snprintf(why, whylen, "seq %lld: missing", (long long)expect);
        e = PE_ECHAIN;
    }
finalize:
    sqlite3_finalize(st);
    return e;
fail:
    *sqlite_rc = rc;
    sqlite3_finalize(st);
    return store__rc(rc) ? store__rc(rc) : PE_EIO;
}

int pe_journal_open(const char *path, const struct pe_journal_opts *opts, struct pe_journal **out,
                    char *err, size_t errlen)
{
    assert(path && opts && out);
    struct pe_journal *j = calloc(1, sizeof *j);
    int64_t version = 0, tables = 0, v = 0;
    int rc = SQLITE_OK, e = PE_OK;
    char detail[160] = "";

    store__seterr(err, errlen, "%s", "");
    if (!j)
        return PE_ENOMEM;
    j->path = strdup(path);
    if (!j->path) {
        e = PE_ENOMEM;
        goto free_j;
    }
    j->readonly = opts->readonly;
    if ((opts->store && !pe_event_id_valid(opts->store, 1)) ||
        (opts->terminal && !pe_event_id_valid(opts->terminal, 1))) {
        store__seterr(err, errlen, "store and terminal ids are 1..32 characters of [A-Za-z0-9._-]");
        e = PE_EINVAL;
        goto free_j;
    }
    /* A missing file is only created when we know whose journal it is. */
    struct stat sb;
    if (!opts->readonly && stat(path, &sb) != 0 && errno == ENOENT &&
        (!opts->store || !opts->terminal)) {
        store__seterr(err, errlen,
                      "journal %s does not exist; store and terminal are needed to create it",
                      path);
        e = PE_EINVAL;
        goto free_j;
    }

    int flags = opts->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    rc = sqlite3_open_v2(path, &j->db, flags, opts->vfs);
    if (rc != SQLITE_OK) {
        e = store__rc(rc);
        e = e == PE_ENOMEM ? e : PE_EIO;
        pe_error("journal.sqlite", "op=open rc=%d msg=\"%s\"", rc,
                 j->db ? sqlite3_errmsg(j->db) : sqlite3_errstr(rc));
        store__seterr(err, errlen, "cannot open journal %s: %s", path,
                      j->db ? sqlite3_errmsg(j->db) : sqlite3_errstr(rc));
        goto close_db;
    }
    sqlite3_extended_result_codes(j->db, 1);
    sqlite3_busy_timeout(j->db, BUSY_TIMEOUT_MS);

    /* The first read of the file: one that is not a database at all fails here. */
    if (query_int(j->db, "PRAGMA user_version", &version, &rc) ||
        query_int(j->db, "SELECT count(*) FROM sqlite_schema", &tables, &rc)) {
        e = open_fail(j, rc, "read schema", err, errlen);
        goto close_db;
    }
    if (version > SCHEMA_VERSION) {
        store__seterr(err, errlen, "journal %s has schema version %lld; this build knows up to %d",
                      path, (long long)version, SCHEMA_VERSION);
        e = PE_EINVAL;
        goto close_db;
    }
    if (version == 0 && tables != 0) {
        store__seterr(err, errlen, "%s is not a posedge journal (it holds other tables)", path);
        e = PE_ECORRUPT;
        goto close_db;
    }
    if (version == 0 && (opts->readonly || !opts->store || !opts->terminal)) {
        store__seterr(err, errlen, "%s is not a posedge journal (it is empty)%s", path,
                      opts->readonly ? "" : "; store and terminal are needed to create it");
        e = opts->readonly ? PE_ECORRUPT : PE_EINVAL;
        goto close_db;
    }
    /* Before anything could write: a damaged file is reported exactly as it was found. */
    if (opts->check && version != 0) {
        e = store__quick_check(j->db, "journal", detail, sizeof detail);
        if (e == PE_ECORRUPT) {
            damaged(j, err, errlen, detail);
            goto close_db;
        } else if (e) {
            store__seterr(err, errlen, "journal %s: %s", path, detail);
            goto close_db;
        }
    }

    if (!opts->readonly) {
        char mode[16] = "";
        sqlite3_stmt *st = NULL;
        rc = sqlite3_prepare_v2(j->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *m = (const char *)sqlite3_column_text(st, 0);
            snprintf(mode, sizeof mode, "%s", m ? m : "");
            rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_OK) {
            e = open_fail(j, rc, "journal_mode", err, errlen);
            goto close_db;
        }
        if (strcmp(mode, "wal") != 0) {
            store__seterr(err, errlen, "journal %s: cannot switch to WAL (mode is %s)", path, mode);
            e = PE_EIO;
            goto close_db;
        }
        /* FULL: a commit syncs the WAL, so a committed sale survives a power cut. */
        rc = sqlite3_exec(j->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            e = open_fail(j, rc, "synchronous", err, errlen);
            goto close_db;
        }
    }
    sqlite3_exec(j->db, "PRAGMA cell_size_check=ON", NULL, NULL, NULL);
    /* A till appends at the tail and touches a few stock and counter pages: 1 MiB of page
     * cache holds that working set (the default 2 MiB would be a quarter of its memory). */
    sqlite3_exec(j->db, "PRAGMA cache_size=-1024", NULL, NULL, NULL);
    if (opts->max_bytes > 0) {
        int64_t page = 0;
        char q[64];
        if (query_int(j->db, "PRAGMA page_size", &page, &rc) || page <= 0) {
            e = open_fail(j, rc, "page_size", err, errlen);
            goto close_db;
        }
        int64_t pages = opts->max_bytes / page;
        snprintf(q, sizeof q, "PRAGMA max_page_count=%lld", (long long)(pages > 0 ? pages : 1));
        if (query_int(j->db, q, &v, &rc)) {
            e = open_fail(j, rc, "max_page_count", err, errlen);
            goto close_db;
        }
    }
    if (version == 0) {
        e = create_schema(j, opts, err, errlen);
        if (e)
            goto close_db;
    }

    for (int i = 0; i < JS__COUNT; i++) {
        rc = sqlite3_prepare_v3(j->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &j->st[i], NULL);
        if (rc != SQLITE_OK) {
            if ((rc & 0xff) == SQLITE_ERROR) {
                store__seterr(err, errlen, "%s is not a posedge journal (%s)", path,
                              sqlite3_errmsg(j->db));
                e = PE_ECORRUPT;
            } else {
                e = open_fail(j, rc, "prepare", err, errlen);
            }
            goto finalize;
        }
    }

    char store[64], terminal[64];
    e = meta_get(j, "store", store, sizeof store, &rc);
    if (e == PE_OK)
        e = meta_get(j, "terminal", terminal, sizeof terminal, &rc);
    if (e == PE_ENOTFOUND) {
        store__seterr(err, errlen, "%s is not a posedge journal (no store or terminal in meta)",
                      path);
        e = PE_ECORRUPT;
        goto finalize;
    } else if (e) {
        e = open_fail(j, rc, "read meta", err, errlen);
        goto finalize;
    }
    if (!pe_event_id_valid(store, 1) || !pe_event_id_valid(terminal, 1)) {
        e = damaged(j, err, errlen, "meta: store or terminal is not a valid id");
        goto finalize;
    }
    memcpy(j->store, store, strlen(store) + 1);
    memcpy(j->terminal, terminal, strlen(terminal) + 1);
    if ((opts->store && strcmp(opts->store, store) != 0) ||
        (opts->terminal && strcmp(opts->terminal, terminal) != 0)) {
        store__seterr(err, errlen, "journal %s belongs to %s/%s, not %s/%s", path, store, terminal,
                      opts->store ? opts->store : store,
                      opts->terminal ? opts->terminal : terminal);
        e = PE_EINVAL;
        goto finalize;
    }

    if (!opts->readonly && (e = migrate(j, version, err, errlen)))
        goto finalize;
    e = load_tail(j, err, errlen);
    if (e)
        goto finalize;
    if (opts->check) {
        e = check_tail(j, detail, sizeof detail, &rc);
        if (e == PE_ECHAIN) {
            e = damaged(j, err, errlen, detail);
            goto finalize;
        } else if (e == PE_ENOMEM) {
            /* Not SQLite's (rc is SQLITE_OK then): a record could not be read into memory. */
            store__seterr(err, errlen, "journal %s: check tail: out of memory", path);
            goto finalize;
        } else if (e) {
            e = open_fail(j, rc, "check tail", err, errlen);
            goto finalize;
        }
    }
    if (query_int(j->db, "PRAGMA data_version", &j->data_version, &rc)) {
        e = open_fail(j, rc, "data_version", err, errlen);
        goto finalize;
    }
    pe_debug("journal.open", "path=\"%s\" store=%s terminal=%s last_seq=%lld", path, j->store,
             j->terminal, (long long)j->committed.seq);
    *out = j;
    return PE_OK;

finalize:
    for (int i = 0; i < JS__COUNT; i++)
        sqlite3_finalize(j->st[i]);
    journal__catalog_close(j);
close_db:
    sqlite3_close(j->db);
free_j:
    free(j->path);
    free(j);
    return e;
}

void pe_journal_close(struct pe_journal *j)
{
    if (!j)
        return;
    pe_journal_rollback(j);
    for (int i = 0; i < JS__COUNT; i++)
        sqlite3_finalize(j->st[i]);
    journal__catalog_close(j);
    /* The last connection to close checkpoints the WAL into the main file and removes it. */
    int rc = sqlite3_close(j->db);
    if (rc != SQLITE_OK) {
        /* An iterator is still open: the connection goes when its last statement does. */
        pe_warn("journal.close", "path=\"%s\" rc=%d msg=\"%s\"", j->path, rc,
                sqlite3_errmsg(j->db));
        sqlite3_close_v2(j->db);
    }
    free(j->path);
    free(j);
}

const char *pe_journal_store(const struct pe_journal *j)
{
    return j->store;
}

const char *pe_journal_terminal(const struct pe_journal *j)
{
    return j->terminal;
}

/* ---- transactions ---- */

int pe_journal_begin(struct pe_journal *j)
{
    assert(j);
    if (j->readonly || j->in_txn)
        return PE_ESTATE;
    int e = exec_stmt(j, JS_BEGIN, "begin");
    if (e)
        return e;
    j->in_txn = true;
    j->lost = 0;

    /* Another connection may have appended since the tail was loaded (a second process on the
     * same file by mistake); the write lock now held makes reloading it race-free, and it keeps
     * this handle from chaining a record off a stale hash. */
    sqlite3_stmt *st = j->st[JS_DATA_VERSION];
    int rc = sqlite3_step(st);
    int64_t dv = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    e = rc == SQLITE_ROW ? PE_OK : journal__fail(j, rc, "data_version");
    sqlite3_reset(st);
    if (e == PE_OK && dv != j->data_version) {
        e = load_tail(j, NULL, 0);
        if (e == PE_ECORRUPT)
            pe_error("journal.tail", "path=\"%s\" msg=\"the last events row is damaged\"", j->path);
        if (e == PE_OK)
            j->data_version = dv;
        if (e == PE_OK && j->signer && (e = load_signing(j)) == PE_OK)
            e = pe_signer_resume(j->signer, signer_last(j, &j->committed));
    }
    if (e)
        pe_journal_rollback(j);
    return e;
}

int pe_journal_commit(struct pe_journal *j)
{
    assert(j);
    if (!j->in_txn)
        return PE_ESTATE;
    int e = j->lost;
    if (e == PE_OK) {
        int rc = sqlite3_step(j->st[JS_COMMIT]);
        sqlite3_reset(j->st[JS_COMMIT]);
        if (rc == SQLITE_DONE) {
            j->committed = j->tail;
            j->in_txn = false;
            return PE_OK;
        }
        e = journal__fail(j, rc, "commit");
    }
    /* SQLite may have ended the transaction itself (I/O error, full disk) or left it open
     * (busy). Either way nothing of it may be committed later by accident, and the handle must
     * be usable for the till's retry of the same event, so roll back whatever remains. */
    pe_journal_rollback(j);
    return e;
}

void pe_journal_rollback(struct pe_journal *j)
{
    if (!j || !j->in_txn)
        return;
    if (!sqlite3_get_autocommit(j->db)) {
        int rc = sqlite3_step(j->st[JS_ROLLBACK]);
        sqlite3_reset(j->st[JS_ROLLBACK]);
        if (rc != SQLITE_DONE)
            pe_error("journal.sqlite", "op=rollback rc=%d msg=\"%s\"", rc, sqlite3_errmsg(j->db));
    }
    j->tail = j->committed;
    j->in_txn = false;
    j->lost = 0;
    /* Whatever the transaction signed is gone with it: the signer continues from what is
     * stored. Software signers cannot fail here (the value is in range). */
    if (j->signer && j->sig_loaded) {
        int e = pe_signer_resume(j->signer, signer_last(j, &j->committed));
        if (e)
            pe_error("journal.signer_resume", "err=%s", pe_errname(e));
    }
}

/* ---- events ---- */

/* Look an id up: PE_OK with seq (and hash when not NULL), PE_ENOTFOUND, or an error. */
static int find(struct pe_journal *j, const char *id, int64_t *seq, char *hash)
{
    sqlite3_stmt *st = j->st[JS_FIND];
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int e = PE_ENOTFOUND;
    if (rc == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 1);
        *seq = sqlite3_column_int64(st, 0);
        if (hash)
            snprintf(hash, PE_SHA256_HEXLEN, "%s", h ? h : "");
        e = PE_OK;
    } else if (rc != SQLITE_DONE) {
        e = journal__fail(j, rc, "find id");
    }
    sqlite3_reset(st);
    return e;
}

/* Store one sealed record as the next row and advance the in-transaction tail. The record's
 * bytes are bound without a copy, so the caller keeps them alive until this returns. */
static int insert(struct pe_journal *j, const struct pe_event_meta *m, const char *rec, size_t len,
                  const char hash[PE_SHA256_HEXLEN], const char *sig, size_t siglen)
{
    sqlite3_stmt *st = j->st[JS_INSERT];
    sqlite3_bind_int64(st, 1, m->seq);
    sqlite3_bind_text(st, 2, m->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, pe_event_type_name(m->type), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, m->ts_ms);
    sqlite3_bind_blob64(st, 5, rec, len, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, hash, -1, SQLITE_STATIC);
    if (sig)
        sqlite3_bind_blob64(st, 7, sig, siglen, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 7);
    int rc = sqlite3_step(st);
    int e = rc == SQLITE_DONE ? PE_OK : journal__fail(j, rc, "append");
    sqlite3_reset(st);
    sqlite3_clear_bindings(st); /* leave no pointer to the caller's record behind */
    if (e)
        return e;
    j->tail.seq = m->seq;
    memcpy(j->tail.hash, hash, PE_SHA256_HEXLEN);
    j->tail.ts_ms = m->ts_ms;
    return PE_OK;
}

int pe_journal_append(struct pe_journal *j, const struct pe_event_meta *m, const cJSON *body,
                      struct pe_journal_appended *out)
{
    assert(j && m && body && out);
    int e = journal__writable(j);
    if (e)
        return e;
    if (strcmp(m->store, j->store) != 0 || strcmp(m->terminal, j->terminal) != 0 ||
        !pe_is_uuid(m->id))
        return PE_EINVAL;

    /* An id already stored means the till is retrying an event whose commit it could not
     * confirm; reporting it instead of storing it twice makes that retry idempotent. */
    int64_t seq = 0;
    e = find(j, m->id, &seq, out->hash);
    if (e == PE_OK) {
        out->seq = seq;
        return PE_EEXIST;
    }
    if (e != PE_ENOTFOUND)
        return e;

    /* Where signing stands, read once (an outage may be open even with no signer now). */
    const struct pe_signer_key *key = NULL;
    if (!j->sig_loaded && (e = load_signing(j)))
        return e;
    int64_t down = j->tail.sig.down_seq; /* an outage of the signer is open (signer.h) */
    if (j->signer) {
        key = pe_signer_key(j->signer);
        /* A key signs only once the journal holds it: its signer_installed comes first. Inside
         * an outage events are stored marked whatever the signer; only the group's key may
         * close it. */
        bool held = strcmp(j->tail.sig.key_id, key->key_id) == 0;
        if (!held && (down ? m->type == PE_EV_SIGNER_UP : m->type != PE_EV_SIGNER_INSTALLED))
            return PE_ESTATE;
    }
    if (m->type == PE_EV_SIGNER_INSTALLED) {
        /* It records the signer's own key, signed by it; or, with no signer, signing turned
         * off. Anything else would be a journal that does not verify. Not inside an outage:
         * the key that went down is the one that closes it. */
        struct pe_signer_installed in;
        if (down)
            return PE_ESTATE;
        if ((e = pe_signer_installed_parse(body, &in, NULL, 0)) == PE_ENOMEM)
            return e;
        if (e != PE_OK ||
            (key ? !in.key_id || strcmp(in.key_id, key->key_id) != 0
                 : strcmp(in.alg, PE_SIGNER_ALG_NONE) != 0))
            return PE_EINVAL;
    }
    /* signer_down opens an outage of the group's signer; signer_up closes the open one and
     * must be its collective, which the journal checks against what it holds. */
    if (m->type == PE_EV_SIGNER_DOWN && (down || !key))
        return PE_ESTATE;
    if (m->type == PE_EV_SIGNER_UP) {
        struct pe_signer_collective want, got;
        if (!down || !key)
            return PE_ESTATE;
        if ((e = pe_journal_collective(j, &want)))
            return e;
        if (pe_signer_collective_parse(body, &got) != PE_OK || got.first_seq != want.first_seq ||
            got.last_seq != want.last_seq || strcmp(got.hash, want.hash) != 0)
            return PE_EINVAL;
    }
    /* Stored unsigned and marked: the signer_down event and everything inside the outage but
     * the signer_up that closes it. */
    bool marked = m->type == PE_EV_SIGNER_DOWN || (down && m->type != PE_EV_SIGNER_UP);

    struct pe_event_meta em = *m;
    em.seq = j->tail.seq + 1;
    char *rec = NULL;
    size_t len = 0;
    char hash[PE_SHA256_HEXLEN];
    e = pe_event_seal(&em, body, j->tail.hash, &rec, &len, hash);
    if (e)
        return e;

    struct pe_signature sig;
    char enc[PE_SIGNER_ENCODED_MAX];
    size_t enclen = 0;
    if (marked) {
        enclen = pe_signature_mark_encode(down ? down : em.seq, enc);
    } else if (key) {
        int64_t expect = signer_last(j, &j->tail) + 1;
        e = pe_signer_sign(j->signer, hash, &sig);
        /* A counter other than the next one would make a journal that does not verify; a
         * signer with a counter of its own that skipped is refused here (a later issue
         * journals such gaps). */
        if (e == PE_OK && (sig.counter != expect && strcmp(j->tail.sig.key_id, key->key_id) == 0))
            e = PE_ESTATE;
        if (e == PE_OK && !(enclen = pe_signature_encode(&sig, enc)))
            e = PE_EINVAL;
        if (e) {
            pe_signer_resume(j->signer, expect - 1);
            free(rec);
            if (pe_signer_is_down(e)) {
                /* The device is gone: nothing is stored, and the caller opens an outage
                 * (signer_down) or, for signer_up, goes on with it open. */
                if (!j->sign_err)
                    pe_warn("journal.signer_down", "seq=%lld signer=%s err=%s",
                            (long long)em.seq, pe_signer_name(j->signer), pe_errname(e));
                j->sign_err = e;
                return PE_EUNAVAIL;
            }
            pe_error("journal.sign_failed", "seq=%lld signer=%s err=%s", (long long)em.seq,
                     pe_signer_name(j->signer), pe_errname(e));
            return e;
        }
        j->sign_err = 0;
    }

    e = insert(j, &em, rec, len, hash, marked || key ? enc : NULL, enclen);
    free(rec);
    if (e && key && !marked) /* nothing was stored: the counter is not used */
        pe_signer_resume(j->signer, signer_last(j, &j->tail));
    if (e == PE_OK && marked) {
        if (!down) {
            j->tail.sig.down_seq = em.seq;
            j->tail.sig.down_ms = em.ts_ms;
        }
    } else if (e == PE_OK && key) {
        memcpy(j->tail.sig.alg, sig.alg, sizeof sig.alg);
        memcpy(j->tail.sig.key_id, sig.key_id, sizeof sig.key_id);
        j->tail.sig.counter = sig.counter;
        j->tail.sig.seq = em.seq;
        j->tail.sig.down_seq = 0;
        j->tail.sig.down_ms = 0;
    } else if (e == PE_OK && m->type == PE_EV_SIGNER_INSTALLED) {
        memset(&j->tail.sig, 0, sizeof j->tail.sig);
        snprintf(j->tail.sig.alg, sizeof j->tail.sig.alg, "%s", PE_SIGNER_ALG_NONE);
        j->tail.sig.seq = em.seq;
    }
    if (e == PE_OK && out) {
        out->seq = em.seq;
        memcpy(out->hash, hash, sizeof hash);
        out->marked = marked;
        out->is_signed = key != NULL && !marked;
        if (out->is_signed)
            out->sig = sig;
    }
    return e;
}

int pe_journal_sign_error(const struct pe_journal *j)
{
    return j->sign_err;
}

int pe_journal_collective(struct pe_journal *j, struct pe_signer_collective *out)
{
    assert(j && out);
    int e = j->sig_loaded ? PE_OK : load_signing(j);
    if (e)
        return e;
    int64_t down = j->tail.sig.down_seq;
    if (!down)
        return PE_ESTATE;
    sqlite3_stmt *st = NULL;
    struct pe_signer_collective_acc *acc = NULL;
    int rc = sqlite3_prepare_v2(j->db, "SELECT seq, hash FROM events WHERE seq >= ?1 AND "
                                       "seq <= ?2 ORDER BY seq",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return journal__fail(j, rc, "collective");
    sqlite3_bind_int64(st, 1, down);
    sqlite3_bind_int64(st, 2, j->tail.seq);
    e = pe_signer_collective_begin(down, &acc);
    int64_t expect = down;
    while (e == PE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 1);
        if (sqlite3_column_int64(st, 0) != expect || pe_signer_collective_add(acc, h ? h : ""))
            e = PE_ECORRUPT;
        expect++;
    }
    if (e == PE_OK && rc != SQLITE_DONE)
        e = journal__fail(j, rc, "collective");
    if (e == PE_OK && expect != j->tail.seq + 1)
        e = PE_ECORRUPT;
    sqlite3_finalize(st);
    if (e) {
        pe_signer_collective_abort(acc);
        return e;
    }
    pe_signer_collective_end(acc, out);
    return PE_OK;
}

int pe_journal_import(struct pe_journal *j, const char *rec, size_t len,
                      struct pe_journal_appended *out)
{
    return pe_journal_import_signed(j, rec, len, NULL, 0, out);
}

int pe_journal_import_signed(struct pe_journal *j, const char *rec, size_t len, const void *sig,
                             size_t siglen, struct pe_journal_appended *out)
{
    assert(j && rec);
    int e = journal__writable(j);
    if (e)
        return e;
    struct pe_signature sg;
    int64_t mark = 0;
    if (sig && !pe_signature_mark_decode(sig, siglen, &mark) &&
        pe_signature_decode(sig, siglen, &sg, NULL, 0) != PE_OK)
        return PE_EPARSE;
    if (!j->sig_loaded && (e = load_signing(j)))
        return e;
    struct pe_event_meta m;
    char hash[PE_SHA256_HEXLEN], why[160];
    e = pe_event_verify(rec, len, j->tail.seq + 1, j->tail.hash, &m, hash, NULL, why, sizeof why);
    if (e) {
        pe_warn("journal.import_refused", "seq=%lld why=\"%s\"", (long long)j->tail.seq + 1, why);
        return e;
    }
    if (strcmp(m.store, j->store) != 0 || strcmp(m.terminal, j->terminal) != 0)
        return PE_EINVAL;
    e = insert(j, &m, rec, len, hash, sig, siglen);
    if (e == PE_OK && mark) {
        /* Marked unsigned in a signer outage: the group stays; the outage is open. */
        if (!j->tail.sig.down_seq) {
            j->tail.sig.down_seq = mark;
            j->tail.sig.down_ms = m.ts_ms;
        }
    } else if (e == PE_OK && sig) {
        memcpy(j->tail.sig.alg, sg.alg, sizeof sg.alg);
        memcpy(j->tail.sig.key_id, sg.key_id, sizeof sg.key_id);
        j->tail.sig.counter = sg.counter;
        j->tail.sig.seq = m.seq;
        j->tail.sig.down_seq = 0;
        j->tail.sig.down_ms = 0;
    } else if (e == PE_OK && m.type == PE_EV_SIGNER_INSTALLED) {
        /* Unsigned: signing turned off (a key's would not verify; verify says so). */
        memset(&j->tail.sig, 0, sizeof j->tail.sig);
        snprintf(j->tail.sig.alg, sizeof j->tail.sig.alg, "%s", PE_SIGNER_ALG_NONE);
        j->tail.sig.seq = m.seq;
    }
    if (e == PE_OK && out) {
        out->seq = m.seq;
        memcpy(out->hash, hash, sizeof hash);
        out->marked = mark != 0;
        out->is_signed = sig != NULL && !mark;
        if (out->is_signed)
            out->sig = sg;
    }
    return e;
}

/* ---- signing ---- */

int pe_journal_signing(struct pe_journal *j, struct pe_journal_signing *out)
{
    assert(j && out);
    int e = j->sig_loaded ? PE_OK : load_signing(j);
    if (e)
        return e;
    const struct journal_signing *g = &j->committed.sig;
    memcpy(out->alg, g->alg, sizeof out->alg);
    memcpy(out->key_id, g->key_id, sizeof out->key_id);
    out->counter = g->counter;
    out->seq = g->seq;
    out->down_seq = g->down_seq;
    out->down_ms = g->down_ms;
    return PE_OK;
}

int pe_journal_set_signer(struct pe_journal *j, struct pe_signer *s)
{
    assert(j);
    if (j->in_txn)
        return PE_ESTATE;
    int e = j->sig_loaded ? PE_OK : load_signing(j);
    if (e)
        return e;
    j->signer = s;
    if (!s)
        return PE_OK;
    e = pe_signer_resume(s, signer_last(j, &j->committed));
    if (e)
        j->signer = NULL;
    return e;
}

int pe_journal_find_id(struct pe_journal *j, const char *id, int64_t *seq)
{
    assert(j && id && seq);
    return find(j, id, seq, NULL);
}

int pe_journal_last(struct pe_journal *j, int64_t *seq, char hash[PE_SHA256_HEXLEN], int64_t *ts_ms)
{
    assert(j);
    if (seq)
        *seq = j->committed.seq;
    if (hash)
        memcpy(hash, j->committed.hash, PE_SHA256_HEXLEN);
    if (ts_ms)
        *ts_ms = j->committed.ts_ms;
    return PE_OK;
}

int pe_journal_get(struct pe_journal *j, int64_t seq, char **rec, size_t *len)
{
    assert(j && rec);
    sqlite3_stmt *st = j->st[JS_GET];
    sqlite3_bind_int64(st, 1, seq);
    int rc = sqlite3_step(st);
    int e = PE_OK;
    if (rc == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        char *copy = malloc(n + 1);
        if (!copy) {
            e = PE_ENOMEM;
        } else {
            if (n)
                memcpy(copy, p, n);
            copy[n] = '\0';
            *rec = copy;
            if (len)
                *len = n;
        }
    } else if (rc == SQLITE_DONE) {
        e = PE_ENOTFOUND;
    } else {
        e = journal__fail(j, rc, "get");
    }
    sqlite3_reset(st);
    return e;
}

/* ---- iteration ---- */

/* An iterator is only a read statement; it keeps no pointer to the journal, and must be closed
 * before the journal is (pe_journal_close otherwise leaves the connection to SQLite to close
 * when the statement is finalized). */
struct pe_journal_iter {
    sqlite3_stmt *st; /* the running query */
    bool done;        /* the query has ended; stepping again would restart it */
};

int pe_journal_iter_open(struct pe_journal *j, int64_t from_seq, const char *type,
                         struct pe_journal_iter **out)
{
    assert(j && out);
    struct pe_journal_iter *it = calloc(1, sizeof *it);
    if (!it)
        return PE_ENOMEM;
    const char *q = type ? "SELECT seq, type, record, hash, sig FROM events "
                           "WHERE seq >= ?1 AND type = ?2 ORDER BY seq"
                         : "SELECT seq, type, record, hash, sig FROM events "
                           "WHERE seq >= ?1 ORDER BY seq";
    int rc = sqlite3_prepare_v2(j->db, q, -1, &it->st, NULL);
    if (rc != SQLITE_OK) {
        int e = journal__fail(j, rc, "iterate");
        free(it);
        return e;
    }
    sqlite3_bind_int64(it->st, 1, from_seq);
    if (type)
        sqlite3_bind_text(it->st, 2, type, -1, SQLITE_TRANSIENT);
    *out = it;
    return PE_OK;
}

int pe_journal_iter_next(struct pe_journal_iter *it, struct pe_journal_rec *rec)
{
    assert(it && rec);
    if (it->done)
        return PE_EEOF;
    int rc = sqlite3_step(it->st);
    if (rc == SQLITE_DONE) {
        it->done = true;
        return PE_EEOF;
    }
    if (rc != SQLITE_ROW) {
        pe_error("journal.sqlite", "op=iterate rc=%d msg=\"%s\"", rc,
                 sqlite3_errmsg(sqlite3_db_handle(it->st)));
        int e = store__rc(rc);
        return e ? e : PE_EIO;
    }
    rec->seq = sqlite3_column_int64(it->st, 0);
    rec->type = (const char *)sqlite3_column_text(it->st, 1);
    /* Read as text: SQLite adds a NUL after the bytes, so callers may also treat it as C. */
    rec->record = (const char *)sqlite3_column_text(it->st, 2);
    rec->len = (size_t)sqlite3_column_bytes(it->st, 2);
    rec->hash = (const char *)sqlite3_column_text(it->st, 3);
    rec->sig = sqlite3_column_blob(it->st, 4);
    rec->siglen = rec->sig ? (size_t)sqlite3_column_bytes(it->st, 4) : 0;
    if (!rec->record) {
        rec->record = "";
        rec->len = 0;
    }
    return PE_OK;
}

void pe_journal_iter_close(struct pe_journal_iter *it)
{
    if (!it)
        return;
    sqlite3_finalize(it->st);
    free(it);
}

/* ---- verification ---- */

/* Check the signature of the row st stands on (the record of seq, hash already verified) in
 * the signing group g (signer.h); res counts what verified. */
static int check_sig(sqlite3_stmt *st, int64_t seq, const char *hash, struct pe_sig_group *g,
                     struct pe_journal_verify_result *res)
{
    const char *type = (const char *)sqlite3_column_text(st, 2);
    const char *rec = sqlite3_column_blob(st, 5);
    size_t len = (size_t)sqlite3_column_bytes(st, 5);
    const void *blob = sqlite3_column_blob(st, 6);
    size_t bloblen = (size_t)sqlite3_column_bytes(st, 6);
    bool verified;
    int e = pe_sig_group_check(g, seq, type, rec, len, hash, blob, bloblen, &verified, res->why,
                               sizeof res->why);
    if (e)
        return e;
    if (g->seq == seq && strcmp(g->alg, PE_SIGNER_ALG) == 0)
        res->ngroups++;
    if (verified) {
        res->nsigned++;
        if (!res->first_signed_seq)
            res->first_signed_seq = seq;
    }
    return PE_OK;
}

/* A pruned journal's verification starts at its anchor: prev its hash, expect the seq after it,
 * and the signing group that of the key record it keeps (which must hash to its stated hash,
 * be a signer_installed record and carry its own valid signature), with the anchor's counter. */
static int verify_anchor(struct pe_journal *j, struct pe_sig_group *g, char *prev,
                         int64_t *expect, struct pe_journal_verify_result *res)
{
    struct pe_journal_anchor a;
    int e = pe_journal_anchor(j, &a);
    if (e == PE_ECORRUPT) {
        snprintf(res->why, sizeof res->why, "the anchor row (meta) does not parse");
        res->bad_seq = 1;
        return PE_ECHAIN;
    }
    if (e || !a.seq)
        return e;
    res->anchor_seq = a.seq;
    res->last_seq = a.seq;
    memcpy(prev, a.hash, PE_SHA256_HEXLEN);
    *expect = a.seq + 1;
    if (a.key_record) {
        struct pe_event_meta m;
        char h[PE_SHA256_HEXLEN], w[120] = "";
        size_t len = strlen(a.key_record);
        e = pe_event_verify(a.key_record, len, a.key_seq, NULL, &m, h, NULL, w, sizeof w);
        if (e == PE_OK && (m.type != PE_EV_SIGNER_INSTALLED || strcmp(h, a.key_hash) != 0)) {
            snprintf(w, sizeof w, "not the signer_installed record it names");
            e = PE_ECHAIN;
        }
        if (e == PE_OK)
            e = pe_sig_group_check(g, a.key_seq, pe_event_type_name(m.type), a.key_record, len, h,
                                   a.key_sig, a.key_sig ? strlen(a.key_sig) : 0, NULL, w,
                                   sizeof w);
        if (e && e != PE_ENOMEM) {
            snprintf(res->why, sizeof res->why, "anchor at seq %lld: key record of seq %lld: %s",
                     (long long)a.seq, (long long)a.key_seq, w);
            res->bad_seq = a.seq + 1;
            e = PE_ECHAIN;
        }
        if (e == PE_OK && strcmp(g->alg, PE_SIGNER_ALG) == 0) {
            g->counter = a.counter;
            res->ngroups++;
        }
    }
    pe_journal_anchor_free(&a);
    return e;
}

int journal__reload(struct pe_journal *j)
{
    int e = load_tail(j, NULL, 0);
    if (e == PE_OK && j->signer && (e = load_signing(j)) == PE_OK)
        e = pe_signer_resume(j->signer, signer_last(j, &j->committed));
    return e;
}

int pe_journal_verify(struct pe_journal *j, struct pe_journal_verify_result *res)
{
    assert(j && res);
    memset(res, 0, sizeof *res);
    char prev[PE_SHA256_HEXLEN], hash[PE_SHA256_HEXLEN];
    int64_t expect = 1;
    sqlite3_stmt *st = NULL;
    struct pe_sig_group g = {0};
    int e = PE_OK;

    pe_event_genesis(j->store, j->terminal, prev);
    e = verify_anchor(j, &g, prev, &expect, res);
    if (e) {
        pe_sig_group_clear(&g);
        return e;
    }
    int rc = sqlite3_prepare_v2(j->db, ROW_SQL " ORDER BY seq", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        pe_sig_group_clear(&g);
        return journal__fail(j, rc, "verify");
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        if (seq > expect) {
            snprintf(res->why, sizeof res->why, "seq %lld: missing (the next record is seq %lld)",
                     (long long)expect, (long long)seq);
            e = PE_ECHAIN;
        } else if (seq < expect) {
            snprintf(res->why, sizeof res->why, "seq %lld: unexpected row with seq %lld",
                     (long long)expect, (long long)seq);
            e = PE_ECHAIN;
        } else {
            e = check_row(j, st, seq, prev, hash, res->why, sizeof res->why);
            if (e == PE_OK)
                e = check_sig(st, seq, hash, &g, res);
        }
        if (e)
            break;
        memcpy(prev, hash, sizeof prev);
        res->count++;
        res->last_seq = seq;
        expect++;
    }
    if (e == PE_OK && rc != SQLITE_DONE) {
        /* A b-tree that cannot be read is a broken chain from here on, for the caller too. */
        int mapped = journal__fail(j, rc, "verify");
        if (mapped == PE_ECORRUPT) {
            snprintf(res->why, sizeof res->why, "seq %lld: database is corrupt: %s",
                     (long long)expect, sqlite3_errmsg(j->db));
            e = PE_ECHAIN;
        } else {
            e = mapped;
        }
    }
    if (e == PE_OK && res->last_seq < j->committed.seq) {
        snprintf(res->why, sizeof res->why, "seq %lld: missing (the journal had seq %lld)",
                 (long long)expect, (long long)j->committed.seq);
        e = PE_ECHAIN;
    }
    if (e == PE_ECHAIN)
        res->bad_seq = expect;
    memcpy(res->alg, g.alg, sizeof res->alg);
    memcpy(res->key_id, g.key_id, sizeof res->key_id);
    res->nmarked = g.nmarked;
    res->noutages = g.noutages;
    res->down_seq = g.down;
    pe_sig_group_clear(&g);
    sqlite3_finalize(st);
    return e;
}
