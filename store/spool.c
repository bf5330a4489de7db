/* SPDX-License-Identifier: Apache-2.0 */
/*
 * spool.c - the bridge's spool: records of many tills kept in one SQLite file until Kafka has
 * acknowledged them.
 *
 * Layout. Table `terminals` has one row per (store, terminal): a small integer tid, the
 * watermarks spooled, delivered and pruned (every seq at or below pruned has been deleted),
 * the tail hash, and two cumulative byte counts, spooled_bytes and delivered_bytes (record
 * bytes of seq 1..spooled and 1..delivered). Table `spool` holds the records in a rowid table
 * whose key is k = tid * 2^40 + seq, so one terminal's records are one contiguous key range
 * in seq order: intake appends at the end of a range, and the drain (pe_spool_rows) is a rowid
 * range scan with no index and no per-row planning. Each row also keeps cum, the terminal's
 * cumulative record bytes through that seq, which turns "bytes between two watermarks" into
 * two numbers instead of a scan. The view `records` shows rows with store, terminal and seq
 * for people using the sqlite3 shell. Table `meta` (schema version 3) is a small key/value
 * store for what the bridge's modules keep across restarts apart from the records (the Avro
 * sinks' schema ids, under keys of their own); the spool does not interpret it. Tables
 * `doc_layers`, `docs` and `positions` (schema version 4) hold keyed documents taken from an
 * outside log and the log positions read up to (see "Documents" below). An older file is
 * migrated at open (migrations[], one transaction per step): version 2 kept the Avro sinks'
 * ids in a table of their own, which becomes rows of `meta` under the keys the Avro profile
 * (bridge/profile_avro.c) reads; version 3 gains the document tables, empty; version 4 gains
 * the columns `sig` (the record's signature as the till sent it, NULL when it sent none) and
 * `rejected` (NULL, or why the bridge's signature check refused the record: it is stored, so the
 * till's chain and watermarks move on, and goes to the dead-letter topic instead of the fiscal
 * ones), both NULL in the rows it had.
 *
 * The invariant: for every terminal, the spool holds exactly the rows pruned+1..spooled,
 * seq spooled has hash tail_hash, and 0 <= pruned <= delivered <= spooled. Rows are only
 * added at spooled+1 with prev = tail_hash, and only deleted from pruned+1 up to delivered,
 * so the counts in pe_spool_stats follow from the watermarks alone.
 *
 * Terminal state is cached in memory (a sorted array of pointers, binary search plus a
 * one-entry memo because an MQTT batch comes from one till). Each entry has the state of the
 * open transaction (cur) and the committed one (com); changed entries are written to
 * `terminals` just before COMMIT, inside the same transaction, so a crash can never separate
 * the records from their watermarks. Whenever a transaction ends without a successful COMMIT,
 * cur goes back to com and entries created in it are dropped.
 *
 * Durability: WAL with synchronous=FULL, so COMMIT returns only once the WAL is synced; the
 * bridge publishes its ack after that, and a power cut cannot lose what a till was told is
 * spooled. The file is checked with quick_check and a few probes per terminal at open; a
 * damaged file is reported with its path, never repaired or replaced here.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/sqlite_util.h"
#include "posedge/err.h"
#include "posedge/log.h"
#include "posedge/spool.h"

static int spool_rc(int rc);

#define SCHEMA_VERSION 5 /* 2: table schema_ids; 3: table meta instead of it; 4: documents;
                          * 5: spool.sig and spool.rejected */
#define APPLICATION_ID 0x50455350 /* "PESP": tells a spool from a journal or any other file */
#define BUSY_TIMEOUT_MS 5000

#define SEQ_BITS 40
#define SEQ_MAX ((INT64_C(1) << SEQ_BITS) - 1)        /* 1.1e12 events per till */
#define TID_MAX ((INT64_C(1) << (63 - SEQ_BITS)) - 1) /* 8.4 million terminals */

/* Statements prepared once at open. */
enum spool_stmt {
    SS_BEGIN,
    SS_COMMIT,
    SS_ROLLBACK,
    SS_DATA_VERSION,
    SS_INSERT,
    SS_ROW,
    SS_RANGE,
    SS_FIRST,
    SS_LAST,
    SS_PRUNE,
    SS_TERM_PUT,
    SS_TERM_LOAD,
    SS__COUNT
};

static const char *const sql[SS__COUNT] = {
    [SS_BEGIN] = "BEGIN IMMEDIATE",
    [SS_COMMIT] = "COMMIT",
    [SS_ROLLBACK] = "ROLLBACK",
    [SS_DATA_VERSION] = "PRAGMA data_version",
    [SS_INSERT] = "INSERT INTO spool(k, id, type, ts_ms, fiscal, cum, hash, record, sig, "
                  "rejected) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [SS_ROW] = "SELECT hash, cum, ts_ms, length(record) FROM spool WHERE k = ?1",
    [SS_RANGE] = "SELECT k, id, type, ts_ms, record, hash, sig, rejected FROM spool "
                 "WHERE k > ?1 AND k <= ?2 ORDER BY k LIMIT ?3",
    [SS_FIRST] = "SELECT k FROM spool WHERE k > ?1 AND k <= ?2 ORDER BY k LIMIT 1",
    [SS_LAST] = "SELECT k FROM spool WHERE k > ?1 AND k <= ?2 ORDER BY k DESC LIMIT 1",
    [SS_PRUNE] = "DELETE FROM spool WHERE k > ?1 AND k <= ?2",
    [SS_TERM_PUT] = "INSERT INTO terminals(tid, store, terminal, spooled, delivered, pruned, "
                    "tail_hash, spooled_bytes, delivered_bytes) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                    "ON CONFLICT(tid) DO UPDATE SET spooled = excluded.spooled, "
                    "delivered = excluded.delivered, pruned = excluded.pruned, "
                    "tail_hash = excluded.tail_hash, spooled_bytes = excluded.spooled_bytes, "
                    "delivered_bytes = excluded.delivered_bytes",
    [SS_TERM_LOAD] = "SELECT tid, store, terminal, spooled, delivered, pruned, tail_hash, "
                     "spooled_bytes, delivered_bytes FROM terminals",
};

/* The schema version a statement needs. pe_spool_verify reads files of older versions as they
 * are, and leaves the statements of a later version unprepared (it never uses them). */
static const int64_t sql_since[SS__COUNT] = {
    [SS_INSERT] = 5,
    [SS_RANGE] = 5,
};

/* The document tables (schema version 4): each key's document per layer, each key's effective
 * document (NULL once no layer has it) with its change number, and the log positions. */
#define DOCS_SCHEMA                                                                                \
    "CREATE TABLE doc_layers(coll TEXT NOT NULL, key TEXT NOT NULL, layer INTEGER NOT NULL,"      \
    " doc TEXT NOT NULL, PRIMARY KEY(coll, key, layer)) WITHOUT ROWID;"                            \
    "CREATE TABLE docs(coll TEXT NOT NULL, key TEXT NOT NULL, layer INTEGER NOT NULL,"            \
    " change INTEGER NOT NULL, doc TEXT, PRIMARY KEY(coll, key)) WITHOUT ROWID;"                   \
    "CREATE INDEX docs_by_change ON docs(coll, change);"                                           \
    "CREATE TABLE positions(log TEXT NOT NULL, part INTEGER NOT NULL, next INTEGER NOT NULL,"     \
    " PRIMARY KEY(log, part)) WITHOUT ROWID;"

/* The view for people using the sqlite3 shell (schema version 5: with sig and rejected). */
#define RECORDS_VIEW                                                                               \
    "CREATE VIEW records AS SELECT t.store AS store, t.terminal AS terminal,"                     \
    " s.k - t.tid * 1099511627776 AS seq, s.id AS id, s.type AS type, s.ts_ms AS ts_ms,"          \
    " s.fiscal AS fiscal, lower(hex(s.hash)) AS hash, s.record AS record, s.sig AS sig,"          \
    " s.rejected AS rejected"                                                                      \
    " FROM spool s JOIN terminals t ON s.k > t.tid * 1099511627776"                               \
    " AND s.k < (t.tid + 1) * 1099511627776;"

/* Created in one transaction together with application_id and user_version, so a file has
 * all of it or none. */
static const char schema_sql[] =
    "CREATE TABLE terminals(tid INTEGER PRIMARY KEY, store TEXT NOT NULL,"
    " terminal TEXT NOT NULL, spooled INTEGER NOT NULL, delivered INTEGER NOT NULL,"
    " pruned INTEGER NOT NULL, tail_hash TEXT NOT NULL, spooled_bytes INTEGER NOT NULL,"
    " delivered_bytes INTEGER NOT NULL, UNIQUE(store, terminal));"
    "CREATE TABLE spool(k INTEGER PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT NULL,"
    " ts_ms INTEGER NOT NULL, fiscal INTEGER NOT NULL, cum INTEGER NOT NULL,"
    " hash BLOB NOT NULL, record BLOB NOT NULL, sig BLOB, rejected TEXT);"
    RECORDS_VIEW
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_ms INTEGER NOT NULL);"
    DOCS_SCHEMA
    "PRAGMA application_id = 1346720592;"
    "PRAGMA user_version = 5;";

/* Migrations, by the version they upgrade from: each runs in one transaction with the
 * user_version it sets, so a file is at one version or the next, never in between. */
static const char *const migrations[SCHEMA_VERSION] = {
    [1] = "CREATE TABLE IF NOT EXISTS schema_ids(subject TEXT NOT NULL, schema TEXT NOT NULL,"
          " id INTEGER NOT NULL, version INTEGER NOT NULL, learned_ms INTEGER NOT NULL,"
          " PRIMARY KEY(subject, schema));"
          "PRAGMA user_version = 2;",
    /* Each kept id becomes the row the Avro profile writes: key "avro/<subject>/<id>", value
     * {"schema":..., "version":...}; of two rows with one key the newer wins. */
    [2] = "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL,"
          " updated_ms INTEGER NOT NULL);"
          "INSERT OR REPLACE INTO meta(key, value, updated_ms)"
          " SELECT 'avro/' || subject || '/' || id,"
          " json_object('schema', schema, 'version', version), learned_ms"
          " FROM schema_ids ORDER BY learned_ms, rowid;"
          "DROP TABLE schema_ids;"
          "PRAGMA user_version = 3;",
    [3] = DOCS_SCHEMA "PRAGMA user_version = 4;",
    /* Signatures travel with the records (docs/protocol.md, "Signatures"): rows spooled before
     * have none, and none was refused. */
    [4] = "ALTER TABLE spool ADD COLUMN sig BLOB;"
          "ALTER TABLE spool ADD COLUMN rejected TEXT;"
          "DROP VIEW IF EXISTS records;" RECORDS_VIEW "PRAGMA user_version = 5;",
};

/* Statements of the documents, prepared at their first use (pe_spool_verify, which may read
 * a file of an older version, never needs them). */
enum doc_stmt {
    DS_LAYER_PUT,
    DS_LAYER_DEL,
    DS_TOP,
    DS_CUR,
    DS_DOC_PUT,
    DS_POS_PUT,
    DS_META_SET,
    DS_LAYER_GET,
    DS_DROP_LAYERS,
    DS_DROP_DOCS,
    DS__COUNT
};

static const char *const doc_sql[DS__COUNT] = {
    [DS_LAYER_PUT] = "INSERT INTO doc_layers(coll, key, layer, doc) VALUES (?1, ?2, ?3, ?4) "
                     "ON CONFLICT(coll, key, layer) DO UPDATE SET doc = excluded.doc",
    [DS_LAYER_DEL] = "DELETE FROM doc_layers WHERE coll = ?1 AND key = ?2 AND layer = ?3",
    [DS_TOP] = "SELECT layer, doc FROM doc_layers WHERE coll = ?1 AND key = ?2 "
               "ORDER BY layer DESC LIMIT 1",
    [DS_CUR] = "SELECT layer, doc, change FROM docs WHERE coll = ?1 AND key = ?2",
    [DS_DOC_PUT] = "INSERT INTO docs(coll, key, layer, change, doc) VALUES (?1, ?2, ?3, ?4, ?5) "
                   "ON CONFLICT(coll, key) DO UPDATE SET layer = excluded.layer, "
                   "change = excluded.change, doc = excluded.doc",
    [DS_POS_PUT] = "INSERT INTO positions(log, part, next) VALUES (?1, ?2, ?3) "
                   "ON CONFLICT(log, part) DO UPDATE SET next = excluded.next",
    [DS_META_SET] = "INSERT INTO meta(key, value, updated_ms) VALUES (?1, ?2, ?3) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                    "updated_ms = excluded.updated_ms",
    [DS_LAYER_GET] = "SELECT layer, doc FROM doc_layers "
                     "WHERE coll = ?1 AND key = ?2 AND layer = ?3",
    [DS_DROP_LAYERS] = "DELETE FROM doc_layers WHERE coll = ?1",
    [DS_DROP_DOCS] = "DELETE FROM docs WHERE coll = ?1",
};

/* One terminal's watermarks. */
struct term_state {
    int64_t spooled;                  /* contiguous spooled watermark */
    int64_t delivered;                /* contiguous delivered watermark */
    int64_t pruned;                   /* every seq at or below it is deleted */
    int64_t spooled_bytes;            /* record bytes of seq 1..spooled */
    int64_t delivered_bytes;          /* record bytes of seq 1..delivered */
    char tail_hash[PE_SHA256_HEXLEN]; /* hash of seq spooled, genesis when 0 */
};

struct term {
    char store[PE_ID_MAX];    /* store id */
    char terminal[PE_ID_MAX]; /* terminal id */
    int64_t tid;              /* key prefix of its rows: k = tid << SEQ_BITS | seq */
    struct term_state cur;    /* as of the open transaction */
    struct term_state com;    /* as of the last commit (what `terminals` holds on disk) */
    bool dirty;               /* cur changed in the open transaction */
    bool fresh;               /* created in the open transaction: no committed row */
};

/* The terminal cache: entries are allocated one by one, so pointers stay valid while the
 * array grows. */
struct cache {
    struct term **v;  /* entries sorted by (store, terminal) */
    size_t n;         /* entries in v */
    size_t cap;       /* allocated slots in v */
    int64_t next_tid; /* tid for the next new terminal (tids are never reused in a file) */
};

struct pe_spool {
    sqlite3 *db;                 /* the connection */
    sqlite3_stmt *st[SS__COUNT]; /* statements, prepared at open */
    char *path;                  /* file name, for messages */
    int64_t max_bytes;           /* quota on pending record bytes, 0: none */
    bool in_txn;                 /* between a successful begin and commit/rollback */
    bool in_rows;                /* pe_spool_rows is running (its statement is in use) */
    bool in_read;                /* pe_spool_read's transaction is open: nothing may write */
    sqlite3_stmt *dst[DS__COUNT]; /* the document statements, prepared when first used */
    int lost;                    /* error with which SQLite ended the open transaction */
    int64_t data_version;        /* PRAGMA data_version when the cache was loaded */
    struct cache c;              /* the terminals */
    struct term *memo;           /* the last terminal looked up, or NULL */
    int64_t pending_bytes;       /* sum over terminals of cur bytes above delivered */
    int64_t version;             /* the file's schema version as found at open */
};

static int64_t key_of(int64_t tid, int64_t seq)
{
    return tid << SEQ_BITS | seq;
}

static void cache_restore(struct pe_spool *s);

/* Convert a SQLite failure to PE_E*, logging SQLite's message once. When SQLite has ended the
 * open transaction by itself (I/O error, full disk), remember that and restore the cache. */
static int fail(struct pe_spool *s, int rc, const char *op)
{
    int e = spool_rc(rc);
    if (e == PE_OK)
        e = PE_EIO; /* a caller only gets here with a failure */
    pe_error("spool.sqlite", "op=%s rc=%d msg=\"%s\"", op, rc, sqlite3_errmsg(s->db));
    if (s->in_txn && !s->lost && sqlite3_get_autocommit(s->db)) {
        /* Later writes must not run in autocommit mode as if the transaction were open. */
        s->lost = e;
        cache_restore(s);
    }
    return e;
}

/* A row the watermarks promise is not there, or disagrees with them. */
static int missing(struct pe_spool *s, const struct term *t, int64_t seq, const char *what)
{
    pe_error("spool.damaged", "path=\"%s\" store=%s terminal=%s seq=%lld detail=\"%s\"", s->path,
             t->store, t->terminal, (long long)seq, what);
    return PE_EIO;
}

/* PE_OK when a write may run now: a transaction is open and still alive. */
static int writable(const struct pe_spool *s)
{
    if (!s->in_txn)
        return PE_ESTATE;
    return s->lost ? s->lost : PE_OK;
}

static int exec_stmt(struct pe_spool *s, enum spool_stmt i, const char *op)
{
    sqlite3_stmt *st = s->st[i];
    int rc = sqlite3_step(st);
    int e = rc == SQLITE_DONE || rc == SQLITE_ROW ? PE_OK : fail(s, rc, op);
    sqlite3_reset(st);
    return e;
}

/* The spool never expects a constraint violation (INSERT OR IGNORE and explicit checks come
 * first), so one means a row that should not be there: an I/O-class error, not PE_EEXIST. */
static int spool_rc(int rc)
{
    return (rc & 0xff) == SQLITE_CONSTRAINT ? PE_EIO : store__rc(rc);
}

/* ---- the terminal cache ---- */

static int term_cmp(const char *store, const char *terminal, const struct term *t)
{
    int c = strcmp(store, t->store);
    return c ? c : strcmp(terminal, t->terminal);
}

/* The terminal's entry or NULL; when NULL, *pos (may be NULL) gets where it would go. */
static struct term *term_find(struct pe_spool *s, const char *store, const char *terminal,
                              size_t *pos)
{
    struct term *m = s->memo;
    if (m && strcmp(terminal, m->terminal) == 0 && strcmp(store, m->store) == 0)
        return m;
    size_t lo = 0, hi = s->c.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = term_cmp(store, terminal, s->c.v[mid]);
        if (c == 0)
            return s->memo = s->c.v[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (pos)
        *pos = lo;
    return NULL;
}

/* Make room for one more entry, so that linking one cannot fail. */
static int cache_reserve(struct cache *c)
{
    if (c->n < c->cap)
        return PE_OK;
    size_t cap = c->cap ? c->cap * 2 : 16;
    struct term **v = realloc(c->v, cap * sizeof *v);
    if (!v)
        return PE_ENOMEM;
    c->v = v;
    c->cap = cap;
    return PE_OK;
}

/* Insert t at pos (room reserved by cache_reserve). */
static void cache_link(struct cache *c, struct term *t, size_t pos)
{
    assert(c->n < c->cap && pos <= c->n);
    memmove(c->v + pos + 1, c->v + pos, (c->n - pos) * sizeof *c->v);
    c->v[pos] = t;
    c->n++;
}

static void cache_free(struct cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i]);
    free(c->v);
    *c = (struct cache){.next_tid = 1};
}

static void recount(struct pe_spool *s)
{
    s->pending_bytes = 0;
    for (size_t i = 0; i < s->c.n; i++) {
        const struct term_state *st = &s->c.v[i]->cur;
        s->pending_bytes += st->spooled_bytes - st->delivered_bytes;
    }
}

/* Back to the committed state: drop entries of the transaction, undo changes to the rest. */
static void cache_restore(struct pe_spool *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->c.n; i++) {
        struct term *t = s->c.v[i];
        if (t->fresh) {
            free(t);
            continue;
        }
        t->cur = t->com;
        t->dirty = false;
        s->c.v[n++] = t;
    }
    s->c.n = n;
    s->memo = NULL;
    recount(s);
}

static int term_ptr_cmp(const void *a, const void *b)
{
    const struct term *x = *(const struct term *const *)a, *y = *(const struct term *const *)b;
    return term_cmp(x->store, x->terminal, y);
}

/* Make one cache entry of the terminals row st stands on. */
static int load_row(sqlite3_stmt *st, struct cache *c, char *why, size_t whylen)
{
    const char *store = (const char *)sqlite3_column_text(st, 1);
    const char *terminal = (const char *)sqlite3_column_text(st, 2);
    const char *tail = (const char *)sqlite3_column_text(st, 6);
    int64_t tid = sqlite3_column_int64(st, 0);
    struct term_state ts = {
        .spooled = sqlite3_column_int64(st, 3),
        .delivered = sqlite3_column_int64(st, 4),
        .pruned = sqlite3_column_int64(st, 5),
        .spooled_bytes = sqlite3_column_int64(st, 7),
        .delivered_bytes = sqlite3_column_int64(st, 8),
    };
    if (tid < 1 || tid > TID_MAX || !pe_event_id_valid(store, 1) ||
        !pe_event_id_valid(terminal, 1) || !pe_is_sha256_hex(tail) || ts.pruned < 0 ||
        ts.pruned > ts.delivered || ts.delivered > ts.spooled || ts.spooled > SEQ_MAX ||
        ts.delivered_bytes < 0 || ts.delivered_bytes > ts.spooled_bytes) {
        snprintf(why, whylen, "terminals row tid %lld is not consistent", (long long)tid);
        return PE_ECORRUPT;
    }
    struct term *t = calloc(1, sizeof *t);
    if (!t || cache_reserve(c)) {
        free(t);
        snprintf(why, whylen, "out of memory");
        return PE_ENOMEM;
    }
    memcpy(t->store, store, strlen(store) + 1);
    memcpy(t->terminal, terminal, strlen(terminal) + 1);
    memcpy(ts.tail_hash, tail, PE_SHA256_HEXLEN);
    t->tid = tid;
    t->cur = t->com = ts;
    c->v[c->n++] = t;
    if (tid >= c->next_tid)
        c->next_tid = tid + 1;
    return PE_OK;
}

/* Replace the cache with what `terminals` holds; on failure the old cache stays. why names
 * what is wrong. Errors: PE_ECORRUPT, PE_ENOMEM, PE_EIO. */
static int cache_load(struct pe_spool *s, char *why, size_t whylen)
{
    sqlite3_stmt *st = s->st[SS_TERM_LOAD];
    struct cache c = {.next_tid = 1};
    int e = PE_OK, rc;

    while (e == PE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        e = load_row(st, &c, why, whylen);
    if (e == PE_OK && rc != SQLITE_DONE) {
        e = spool_rc(rc) ? spool_rc(rc) : PE_EIO;
        pe_error("spool.sqlite", "op=load_terminals rc=%d msg=\"%s\"", rc, sqlite3_errmsg(s->db));
        snprintf(why, whylen, "reading terminals: %s", sqlite3_errmsg(s->db));
    }
    sqlite3_reset(st);
    if (e == PE_OK && c.n) {
        qsort(c.v, c.n, sizeof *c.v, term_ptr_cmp);
        for (size_t i = 1; i < c.n && e == PE_OK; i++) {
            if (term_ptr_cmp(&c.v[i - 1], &c.v[i]) == 0) {
                snprintf(why, whylen, "terminal %s/%s is listed twice", c.v[i]->store,
                         c.v[i]->terminal);
                e = PE_ECORRUPT;
            }
        }
    }
    if (e) {
        cache_free(&c);
        return e;
    }
    cache_free(&s->c);
    s->c = c;
    s->memo = NULL;
    recount(s);
    return PE_OK;
}

/* ---- rows ---- */

/* Look the row of seq up: PE_OK with the out values (any may be NULL; before is cum minus
 * the record's length), PE_ENOTFOUND, or an error. */
static int row_get(struct pe_spool *s, const struct term *t, int64_t seq, uint8_t hash[32],
                   int64_t *cum, int64_t *ts_ms, int64_t *before)
{
    sqlite3_stmt *st = s->st[SS_ROW];
    sqlite3_bind_int64(st, 1, key_of(t->tid, seq));
    int rc = sqlite3_step(st);
    int e = PE_OK;
    if (rc == SQLITE_ROW) {
        if (hash) {
            const void *h = sqlite3_column_blob(st, 0);
            if (h && sqlite3_column_bytes(st, 0) == 32) {
                memcpy(hash, h, 32);
            } else {
                /* Logged, and then compared as a hash no record can have. */
                missing(s, t, seq, "hash column is not 32 bytes");
                memset(hash, 0, 32);
            }
        }
        if (cum)
            *cum = sqlite3_column_int64(st, 1);
        if (ts_ms)
            *ts_ms = sqlite3_column_int64(st, 2);
        if (before)
            *before = sqlite3_column_int64(st, 1) - sqlite3_column_int64(st, 3);
    } else if (rc == SQLITE_DONE) {
        e = PE_ENOTFOUND;
    } else {
        e = fail(s, rc, "row");
    }
    sqlite3_reset(st);
    return e;
}

/* The key of the first (or last) row in (lo, hi], 0 when there is none. */
static int probe(struct pe_spool *s, enum spool_stmt which, int64_t lo, int64_t hi, int64_t *k)
{
    sqlite3_stmt *st = s->st[which];
    sqlite3_bind_int64(st, 1, lo);
    sqlite3_bind_int64(st, 2, hi);
    int rc = sqlite3_step(st);
    *k = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Hex digit values plus one (0: not a lower-case hex digit). A table, because the digits of
 * a hash are random and range tests on them mispredict on every other character. */
static const uint8_t hexv[256] = {
    ['0'] = 1, ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9, ['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

/* Decode 64 lower-case hex digits (and nothing after them); false for anything else. */
static bool hex_decode(const char *hex, uint8_t out[32])
{
    for (int i = 0; i < 32; i++) {
        unsigned hi = hexv[(uint8_t)hex[2 * i]], lo = hexv[(uint8_t)hex[2 * i + 1]];
        if (!hi || !lo) /* also stops at a NUL: nothing past a short string is read */
            return false;
        out[i] = (uint8_t)((hi - 1) << 4 | (lo - 1));
    }
    return hex[64] == '\0';
}

/*
 * Check that the rows of t are exactly pruned+1..spooled and that the rows at spooled and
 * delivered agree with the watermarks: the cheap check at open that catches a file whose
 * `terminals` and `spool` tables disagree (an edit, a restored backup of one table, damage).
 * why gets the reason for PE_ECORRUPT and for a failure to read.
 */
static void hex_encode(const uint8_t in[32], char out[PE_SHA256_HEXLEN])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[64] = '\0';
}

static int check_term(struct pe_spool *s, const struct term *t, char *why, size_t whylen)
{
    const struct term_state *c = &t->com;
    int64_t first, last, cum = 0;
    uint8_t h[32], want[32];
    const char *bad = NULL;
    int64_t at = 0;
    int e = PE_OK;

    if (c->spooled == 0) {
        char g[PE_SHA256_HEXLEN];
        pe_event_genesis(t->store, t->terminal, g);
        if (strcmp(g, c->tail_hash) != 0 || c->spooled_bytes != 0)
            bad = "an empty terminal must have the genesis hash and no bytes";
    }
    int rc = probe(s, SS_FIRST, key_of(t->tid, 0), key_of(t->tid, SEQ_MAX), &first);
    if (rc == SQLITE_OK)
        rc = probe(s, SS_LAST, key_of(t->tid, 0), key_of(t->tid, SEQ_MAX), &last);
    if (rc != SQLITE_OK) {
        pe_error("spool.sqlite", "op=check rc=%d msg=\"%s\"", rc, sqlite3_errmsg(s->db));
        snprintf(why, whylen, "reading %s/%s: %s", t->store, t->terminal, sqlite3_errmsg(s->db));
        return spool_rc(rc) ? spool_rc(rc) : PE_EIO;
    }
    int64_t base = key_of(t->tid, 0);
    if (bad) {
        /* already known */
    } else if (c->spooled == c->pruned) {
        if (first) {
            bad = "row beyond the watermarks";
            at = first - base;
        }
    } else if (first != base + c->pruned + 1) {
        bad = "missing";
        at = c->pruned + 1;
    } else if (last > base + c->spooled) {
        bad = "row beyond spooled";
        at = last - base;
    } else if (last < base + c->spooled) {
        bad = "missing";
        at = c->spooled;
    } else {
        e = row_get(s, t, c->spooled, h, &cum, NULL, NULL);
        if (e && e != PE_ENOTFOUND)
            goto read_fail;
        at = c->spooled;
        if (e || !hex_decode(c->tail_hash, want) || memcmp(h, want, 32) != 0) {
            bad = "hash differs from the tail hash";
        } else if (cum != c->spooled_bytes) {
            bad = "byte count differs from the terminal's";
        } else {
            /* The bytes through delivered: the row's cum, or before the first row kept. */
            if (c->delivered > c->pruned)
                e = row_get(s, t, c->delivered, NULL, &cum, NULL, NULL);
            else
                e = row_get(s, t, c->pruned + 1, NULL, NULL, NULL, &cum);
            if (e && e != PE_ENOTFOUND)
                goto read_fail;
            at = c->delivered > c->pruned ? c->delivered : c->pruned + 1;
            if (e || cum != c->delivered_bytes)
                bad = "byte count differs from the terminal's delivered bytes";
        }
    }
    if (!bad)
        return PE_OK;
    if (at)
        snprintf(why, whylen, "%s/%s seq %lld: %s", t->store, t->terminal, (long long)at, bad);
    else
        snprintf(why, whylen, "%s/%s: %s", t->store, t->terminal, bad);
    return PE_ECORRUPT;

read_fail: /* row_get has logged SQLite's message */
    snprintf(why, whylen, "reading %s/%s: %s", t->store, t->terminal, sqlite3_errmsg(s->db));
    return e;
}

/* ---- open ---- */

static int damaged(const struct pe_spool *s, char *err, size_t errlen, const char *detail)
{
    pe_error("spool.damaged", "path=\"%s\" detail=\"%s\"", s->path, detail);
    store__seterr(err, errlen, "spool %s is damaged (%s); it has not been changed", s->path,
                  detail);
    return PE_ECORRUPT;
}

/* Report a SQLite failure during open: damage for corruption, err naming the file otherwise. */
static int open_fail(struct pe_spool *s, int rc, const char *op, char *err, size_t errlen)
{
    int e = spool_rc(rc);
    if (e == PE_OK)
        e = PE_EIO;
    const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
    pe_error("spool.sqlite", "op=%s rc=%d msg=\"%s\"", op, rc, msg);
    if (e == PE_ECORRUPT) {
        char detail[200];
        snprintf(detail, sizeof detail, "%s: %s", op, msg);
        return damaged(s, err, errlen, detail);
    }
    store__seterr(err, errlen, "spool %s: %s failed: %s", s->path, op, msg);
    return e;
}

/* The one-integer result of a pragma or query run once. */
static int query_int(sqlite3 *db, const char *q, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, q, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Create the schema in an empty file, inside one transaction. */
static int create_schema(struct pe_spool *s, char *err, size_t errlen)
{
    int64_t app = 0, tables = 0;
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return open_fail(s, rc, "create", err, errlen);
    /* Another process may have created it between our first look and the lock. */
    if ((rc = query_int(s->db, "PRAGMA application_id", &app)) != SQLITE_OK ||
        (rc = query_int(s->db, "SELECT count(*) FROM sqlite_schema", &tables)) != SQLITE_OK)
        goto fail;
    if (app != 0 || tables != 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return app == APPLICATION_ID ? PE_OK : PE_EBUSY;
    }
    rc = sqlite3_exec(s->db, schema_sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    pe_info("spool.create", "path=\"%s\"", s->path);
    return PE_OK;

fail:;
    int e = open_fail(s, rc, "create", err, errlen);
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return e;
}

/* Is this file a spool of a version we know? PE_OK, or the error with err filled. Sets *empty
 * for a file without any table (a new spool). */
static int identify(struct pe_spool *s, bool *empty, char *err, size_t errlen)
{
    int64_t app = 0, version = 0, tables = 0;
    s->version = 0;
    int rc;
    /* The first reads of the file: one that is not a database at all fails here. */
    if ((rc = query_int(s->db, "PRAGMA application_id", &app)) != SQLITE_OK ||
        (rc = query_int(s->db, "PRAGMA user_version", &version)) != SQLITE_OK ||
        (rc = query_int(s->db, "SELECT count(*) FROM sqlite_schema", &tables)) != SQLITE_OK)
        return open_fail(s, rc, "read schema", err, errlen);
    *empty = app == 0 && version == 0 && tables == 0;
    if (*empty)
        return PE_OK;
    if (app != APPLICATION_ID || version < 1) {
        store__seterr(err, errlen, "%s is not a posedge spool (application_id %lld, %lld tables)",
                      s->path, (long long)app, (long long)tables);
        pe_error("spool.open", "path=\"%s\" msg=\"not a posedge spool\"", s->path);
        return PE_ECORRUPT;
    }
    if (version > SCHEMA_VERSION) {
        store__seterr(err, errlen, "spool %s has schema version %lld; this build knows up to %d",
                      s->path, (long long)version, SCHEMA_VERSION);
        return PE_EINVAL;
    }
    s->version = version;
    return PE_OK;
}

/* Bring a spool of an older schema version up to SCHEMA_VERSION, one migration per
 * transaction (a crash in between leaves a file at a version this code upgrades again). */
static int migrate(struct pe_spool *s, char *err, size_t errlen)
{
    while (s->version >= 1 && s->version < SCHEMA_VERSION) {
        int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->db, migrations[s->version], NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            int e = open_fail(s, rc, "migrate", err, errlen);
            if (!sqlite3_get_autocommit(s->db))
                sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return e;
        }
        pe_info("spool.migrate", "path=\"%s\" from=%lld to=%lld", s->path, (long long)s->version,
                (long long)s->version + 1);
        s->version++;
    }
    return PE_OK;
}

/* WAL and synchronous=FULL: a COMMIT returns once the WAL is synced, so what the bridge
 * acknowledged to a till survives a power cut. */
static int set_durability(struct pe_spool *s, char *err, size_t errlen)
{
    char mode[16] = "";
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(st, 0);
        snprintf(mode, sizeof mode, "%s", m ? m : "");
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return open_fail(s, rc, "journal_mode", err, errlen);
    if (strcmp(mode, "wal") != 0) {
        store__seterr(err, errlen, "spool %s: cannot switch to WAL (mode is %s)", s->path, mode);
        return PE_EIO;
    }
    rc = sqlite3_exec(s->db, "PRAGMA synchronous=FULL", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return open_fail(s, rc, "synchronous", err, errlen);
    sqlite3_exec(s->db, "PRAGMA cell_size_check=ON", NULL, NULL, NULL);
    /* A large prune writes a large WAL; give the space back after the next checkpoint. */
    sqlite3_exec(s->db, "PRAGMA journal_size_limit=16777216", NULL, NULL, NULL);
    return PE_OK;
}

/* identify, then quick_check a file that is not empty. err says what is wrong.
 * Errors: as identify, PE_ECORRUPT (damaged), PE_EIO. */
static int check_file(struct pe_spool *s, bool *empty, char *err, size_t errlen)
{
    char detail[200] = "";
    int e = identify(s, empty, err, errlen);
    if (e || *empty)
        return e;
    e = store__quick_check(s->db, "spool", detail, sizeof detail);
    if (e == PE_ECORRUPT)
        return damaged(s, err, errlen, detail);
    if (e)
        store__seterr(err, errlen, "spool %s: %s", s->path, detail);
    return e;
}

/* Prepare the statements (which fails on a schema that is not ours), load the terminals and
 * check each against its rows. On failure the caller frees the cache and the statements.
 * Errors: PE_ECORRUPT, PE_EIO, PE_ENOMEM (err says what). */
static int load_checked(struct pe_spool *s, char *err, size_t errlen)
{
    char detail[200] = "";
    int e;
    for (int i = 0; i < SS__COUNT; i++) {
        if (s->version < sql_since[i])
            continue; /* pe_spool_verify of an older file: never used */
        int rc = sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
        if (rc == SQLITE_OK)
            continue;
        if ((rc & 0xff) != SQLITE_ERROR)
            return open_fail(s, rc, "prepare", err, errlen);
        /* A table or column is missing: the file says it is a spool but is not one. */
        snprintf(detail, sizeof detail, "schema: %s", sqlite3_errmsg(s->db));
        return damaged(s, err, errlen, detail);
    }
    e = cache_load(s, detail, sizeof detail);
    for (size_t i = 0; e == PE_OK && i < s->c.n; i++)
        e = check_term(s, s->c.v[i], detail, sizeof detail);
    if (e == PE_ECORRUPT)
        return damaged(s, err, errlen, detail);
    if (e)
        store__seterr(err, errlen, "spool %s: %s", s->path,
                      e == PE_ENOMEM ? "out of memory" : detail);
    return e;
}

int pe_spool_open(const char *path, const struct pe_spool_opts *opts, struct pe_spool **out,
                  char *err, size_t errlen)
{
    assert(path && out);
    struct pe_spool *s = calloc(1, sizeof *s);
    bool empty = false;
    int rc, e;

    store__seterr(err, errlen, "%s", "");
    *out = NULL;
    if (!s)
        return PE_ENOMEM;
    s->path = strdup(path);
    if (!s->path) {
        e = PE_ENOMEM;
        goto free_s;
    }
    s->max_bytes = opts && opts->max_bytes > 0 ? opts->max_bytes : 0;
    s->c.next_tid = 1;

    rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                         opts ? opts->vfs : NULL);
    if (rc != SQLITE_OK) {
        const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
        e = spool_rc(rc) == PE_ENOMEM ? PE_ENOMEM : PE_EIO;
        pe_error("spool.sqlite", "op=open rc=%d msg=\"%s\"", rc, msg);
        store__seterr(err, errlen, "cannot open spool %s: %s", path, msg);
        goto close_db;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);

    /* Before anything could write: a damaged file is reported exactly as it was found. */
    e = check_file(s, &empty, err, errlen);
    if (e)
        goto close_db;
    e = set_durability(s, err, errlen);
    if (e)
        goto close_db;
    if (empty) {
        e = create_schema(s, err, errlen);
        if (e == PE_EBUSY) {
            store__seterr(err, errlen, "%s is not a posedge spool (another program created tables)",
                          path);
            e = PE_ECORRUPT;
        }
        if (e)
            goto close_db;
        s->version = SCHEMA_VERSION;
    } else if ((e = migrate(s, err, errlen))) {
        goto close_db;
    }

    e = load_checked(s, err, errlen);
    if (e)
        goto free_cache;
    if ((rc = query_int(s->db, "PRAGMA data_version", &s->data_version)) != SQLITE_OK) {
        e = open_fail(s, rc, "data_version", err, errlen);
        goto free_cache;
    }
    pe_debug("spool.open", "path=\"%s\" terminals=%zu pending_bytes=%lld", path, s->c.n,
             (long long)s->pending_bytes);
    *out = s;
    return PE_OK;

free_cache:
    cache_free(&s->c);
    for (int i = 0; i < SS__COUNT; i++)
        sqlite3_finalize(s->st[i]);
close_db:
    sqlite3_close(s->db);
free_s:
    free(s->path);
    free(s);
    return e;
}

/* A file URI for path that opens it read-only without writing anything: every byte outside
 * [A-Za-z0-9/._~-] percent-encoded, then the parameters (params starts with '?'). */
static char *ro_uri(const char *path, const char *params)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(path);
    char *u = malloc(5 + 3 * n + strlen(params) + 1), *p = u;
    if (!u)
        return NULL;
    memcpy(p, "file:", 5);
    p += 5;
    for (const unsigned char *c = (const unsigned char *)path; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            strchr("/._~-", *c)) {
            *p++ = (char)*c;
        } else {
            *p++ = '%';
            *p++ = hex[*c >> 4];
            *p++ = hex[*c & 15];
        }
    }
    memcpy(p, params, strlen(params) + 1);
    return u;
}

int pe_spool_verify(const char *path, struct pe_spool_stats *stats, int64_t *terminals, char *err,
                    size_t errlen)
{
    assert(path);
    struct pe_spool *s = calloc(1, sizeof *s);
    char *uri = NULL, wal[4096];
    bool empty = false;
    struct stat sb;
    int rc, e;

    store__seterr(err, errlen, "%s", "");
    if (stats)
        memset(stats, 0, sizeof *stats);
    if (terminals)
        *terminals = 0;
    if (!s)
        return PE_ENOMEM;
    s->c.next_tid = 1;
    s->path = strdup(path);
    if (!s->path) {
        e = PE_ENOMEM;
        goto free_s;
    }
    if (stat(path, &sb) != 0) {
        e = errno == ENOENT ? PE_ENOTFOUND : PE_EIO;
        store__seterr(err, errlen, "spool %s: %s", path, strerror(errno));
        goto free_s;
    }
    /*
     * How to read a WAL database without writing: SQLite creates the -wal and -shm files when
     * they are missing, even on a read-only connection. With no -wal (a spool closed cleanly:
     * no bridge has it open) the main file is the whole spool and immutable=1 reads just that.
     * With one (a bridge has it open, or was killed), readonly_shm=1 uses the -shm index
     * without writing it; only a -wal left without its index makes SQLite build one.
     */
    snprintf(wal, sizeof wal, "%s-wal", path);
    bool has_wal = access(wal, F_OK) == 0;
    uri = ro_uri(path, has_wal ? "?mode=ro&readonly_shm=1" : "?mode=ro&immutable=1");
    if (!uri) {
        e = PE_ENOMEM;
        goto free_s;
    }
    rc = sqlite3_open_v2(uri, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
    if (rc == SQLITE_OK && has_wal &&
        (sqlite3_exec(s->db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) & 0xff) ==
            SQLITE_CANTOPEN) {
        sqlite3_close(s->db);
        s->db = NULL;
        rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY, NULL);
    }
    if (rc != SQLITE_OK) {
        const char *msg = s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);
        e = spool_rc(rc) == PE_ENOMEM ? PE_ENOMEM : PE_EIO;
        store__seterr(err, errlen, "cannot open spool %s: %s", path, msg);
        goto close_db;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
    e = check_file(s, &empty, err, errlen);
    if (e || empty)
        goto close_db; /* an empty file is a spool that was never written to */
    e = load_checked(s, err, errlen);
    if (e)
        goto free_cache;
    if (stats)
        pe_spool_stats(s, stats);
    if (terminals)
        *terminals = (int64_t)s->c.n;

free_cache:
    cache_free(&s->c);
    for (int i = 0; i < SS__COUNT; i++)
        sqlite3_finalize(s->st[i]);
close_db:
    sqlite3_close(s->db);
free_s:
    free(uri);
    free(s->path);
    free(s);
    return e;
}

void pe_spool_close(struct pe_spool *s)
{
    if (!s)
        return;
    pe_spool_rollback(s);
    for (int i = 0; i < SS__COUNT; i++)
        sqlite3_finalize(s->st[i]);
    for (int i = 0; i < DS__COUNT; i++)
        sqlite3_finalize(s->dst[i]);
    /* The last connection to close checkpoints the WAL into the main file and removes it. */
    int rc = sqlite3_close(s->db);
    if (rc != SQLITE_OK) {
        pe_warn("spool.close", "path=\"%s\" rc=%d msg=\"%s\"", s->path, rc, sqlite3_errmsg(s->db));
        sqlite3_close_v2(s->db);
    }
    cache_free(&s->c);
    free(s->path);
    free(s);
}

/* ---- transactions ---- */

int pe_spool_begin(struct pe_spool *s)
{
    assert(s);
    if (s->in_txn || s->in_read)
        return PE_ESTATE;
    int e = exec_stmt(s, SS_BEGIN, "begin");
    if (e)
        return e;
    s->in_txn = true;
    s->lost = 0;

    /* Another connection may have written since the cache was loaded (a second bridge on the
     * same file by mistake, a repair tool); the write lock now held makes reloading it
     * race-free and keeps this handle from chaining onto a stale tail. */
    sqlite3_stmt *st = s->st[SS_DATA_VERSION];
    int rc = sqlite3_step(st);
    int64_t dv = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    e = rc == SQLITE_ROW ? PE_OK : fail(s, rc, "data_version");
    sqlite3_reset(st);
    if (e == PE_OK && dv != s->data_version) {
        char why[200] = "";
        e = cache_load(s, why, sizeof why);
        if (e)
            pe_error("spool.reload", "path=\"%s\" err=%s why=\"%s\"", s->path, pe_errname(e), why);
        else
            s->data_version = dv;
    }
    if (e)
        pe_spool_rollback(s);
    return e;
}

/* Write the changed terminals through, inside the open transaction. */
static int flush_terms(struct pe_spool *s)
{
    sqlite3_stmt *st = s->st[SS_TERM_PUT];
    for (size_t i = 0; i < s->c.n; i++) {
        struct term *t = s->c.v[i];
        if (!t->dirty)
            continue;
        sqlite3_bind_int64(st, 1, t->tid);
        sqlite3_bind_text(st, 2, t->store, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, t->terminal, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, t->cur.spooled);
        sqlite3_bind_int64(st, 5, t->cur.delivered);
        sqlite3_bind_int64(st, 6, t->cur.pruned);
        sqlite3_bind_text(st, 7, t->cur.tail_hash, PE_SHA256_HEXLEN - 1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 8, t->cur.spooled_bytes);
        sqlite3_bind_int64(st, 9, t->cur.delivered_bytes);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return fail(s, rc, "write terminal");
    }
    return PE_OK;
}

int pe_spool_commit(struct pe_spool *s)
{
    assert(s);
    if (!s->in_txn)
        return PE_ESTATE;
    int e = s->lost;
    if (e == PE_OK)
        e = flush_terms(s);
    if (e == PE_OK) {
        int rc = sqlite3_step(s->st[SS_COMMIT]);
        sqlite3_reset(s->st[SS_COMMIT]);
        if (rc == SQLITE_DONE) {
            for (size_t i = 0; i < s->c.n; i++) {
                struct term *t = s->c.v[i];
                if (t->dirty || t->fresh)
                    t->com = t->cur;
                t->dirty = t->fresh = false;
            }
            s->in_txn = false;
            /* Our own commits do not change data_version; only other connections' do. */
            return PE_OK;
        }
        e = fail(s, rc, "commit");
    }
    /* SQLite may have ended the transaction itself (I/O error, full disk) or left it open
     * (busy). Either way nothing of it may be committed later by accident. */
    pe_spool_rollback(s);
    return e;
}

void pe_spool_rollback(struct pe_spool *s)
{
    if (!s || !s->in_txn)
        return;
    if (!sqlite3_get_autocommit(s->db)) {
        int rc = sqlite3_step(s->st[SS_ROLLBACK]);
        sqlite3_reset(s->st[SS_ROLLBACK]);
        if (rc != SQLITE_DONE)
            pe_error("spool.sqlite", "op=rollback rc=%d msg=\"%s\"", rc, sqlite3_errmsg(s->db));
    }
    cache_restore(s);
    s->in_txn = false;
    s->lost = 0;
}

/* ---- intake ---- */

/* seq <= spooled: the same record again, or a conflicting one. */
static int duplicate(struct pe_spool *s, const struct term *t, int64_t seq, const char *hash,
                     const uint8_t hbin[32])
{
    if (seq == t->cur.spooled)
        return strncmp(hash, t->cur.tail_hash, PE_SHA256_HEXLEN) == 0 ? PE_EEXIST : PE_ECHAIN;
    /* A pruned record's hash is gone. It was delivered, so taking the resend for a duplicate
     * loses nothing, and a till whose chain diverged still shows at its next new record,
     * whose prev cannot match the tail. */
    if (seq <= t->cur.pruned)
        return PE_EEXIST;
    uint8_t stored[32];
    int e = row_get(s, t, seq, stored, NULL, NULL, NULL);
    if (e == PE_ENOTFOUND)
        return missing(s, t, seq, "row below spooled is missing");
    if (e)
        return e;
    return memcmp(stored, hbin, 32) == 0 ? PE_EEXIST : PE_ECHAIN;
}

int pe_spool_add(struct pe_spool *s, const struct pe_event_meta *m, const char *prev,
                 const char *hash, const char *rec, size_t len)
{
    return pe_spool_add_signed(s, m, prev, hash, rec, len, NULL, 0, NULL);
}

int pe_spool_next(struct pe_spool *s, const char *store, const char *terminal, int64_t *spooled,
                  char tail_hash[PE_SHA256_HEXLEN])
{
    assert(s && store && terminal && spooled && tail_hash);
    struct term *t = term_find(s, store, terminal, NULL);
    if (t) {
        *spooled = t->cur.spooled;
        memcpy(tail_hash, t->cur.tail_hash, PE_SHA256_HEXLEN);
        return PE_OK;
    }
    if (!pe_event_id_valid(store, 1) || !pe_event_id_valid(terminal, 1))
        return PE_EINVAL;
    *spooled = 0;
    pe_event_genesis(store, terminal, tail_hash);
    return PE_OK;
}

int pe_spool_add_signed(struct pe_spool *s, const struct pe_event_meta *m, const char *prev,
                        const char *hash, const char *rec, size_t len, const void *sig,
                        size_t siglen, const char *rejected)
{
    assert(s && m && prev && hash && rec);
    int e = writable(s);
    if (e)
        return e;
    const char *type = pe_event_type_name(m->type);
    uint8_t hbin[32];
    if (m->seq < 1 || m->seq > SEQ_MAX || !type || !pe_is_uuid(m->id) || !hex_decode(hash, hbin) ||
        len == 0 || len > INT_MAX || (sig && (siglen == 0 || siglen > INT_MAX)))
        return PE_EINVAL;

    /* A cached terminal's ids are valid, so only a new one's are checked. */
    size_t pos = 0;
    struct term *t = term_find(s, m->store, m->terminal, &pos);
    if (!t && (!pe_event_id_valid(m->store, 1) || !pe_event_id_valid(m->terminal, 1)))
        return PE_EINVAL;
    int64_t spooled = t ? t->cur.spooled : 0;
    if (m->seq <= spooled)
        return duplicate(s, t, m->seq, hash, hbin);
    if (m->seq > spooled + 1)
        return PE_EAGAIN;

    /* prev is checked by comparison with the tail (a valid hash), and only read as hex when
     * it differs, to tell a malformed prev from a broken chain. */
    char genesis[PE_SHA256_HEXLEN];
    if (!t)
        pe_event_genesis(m->store, m->terminal, genesis);
    if (strncmp(prev, t ? t->cur.tail_hash : genesis, PE_SHA256_HEXLEN) != 0)
        return pe_is_sha256_hex(prev) ? PE_ECHAIN : PE_EINVAL;
    if (s->max_bytes && s->pending_bytes + (int64_t)len > s->max_bytes)
        return PE_EFULL;

    struct term *nt = NULL;
    if (!t) {
        /* Allocated before the insert and linked after it, so that nothing can fail between a
         * stored row and the cache entry that accounts for it. */
        if (s->c.next_tid > TID_MAX) {
            pe_error("spool.full", "path=\"%s\" msg=\"no terminal ids left\"", s->path);
            return PE_EFULL;
        }
        nt = calloc(1, sizeof *nt);
        if (!nt || cache_reserve(&s->c)) {
            free(nt);
            return PE_ENOMEM;
        }
        memcpy(nt->store, m->store, strlen(m->store) + 1);
        memcpy(nt->terminal, m->terminal, strlen(m->terminal) + 1);
        nt->tid = s->c.next_tid;
        memcpy(nt->com.tail_hash, genesis, sizeof genesis);
        nt->cur = nt->com;
        nt->fresh = true;
        t = nt;
    }

    int64_t cum = t->cur.spooled_bytes + (int64_t)len;
    sqlite3_stmt *st = s->st[SS_INSERT];
    sqlite3_bind_int64(st, 1, key_of(t->tid, m->seq));
    sqlite3_bind_text(st, 2, m->id, PE_UUID_STRLEN - 1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, type, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, m->ts_ms);
    sqlite3_bind_int(st, 5, pe_event_type_is_fiscal(m->type) ? 1 : 0);
    sqlite3_bind_int64(st, 6, cum);
    sqlite3_bind_blob(st, 7, hbin, sizeof hbin, SQLITE_STATIC);
    sqlite3_bind_blob(st, 8, rec, (int)len, SQLITE_STATIC);
    if (sig)
        sqlite3_bind_text(st, 9, sig, (int)siglen, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 9);
    if (rejected)
        sqlite3_bind_text(st, 10, rejected, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 10);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st); /* leave no pointer to the caller's record behind */
    if (rc != SQLITE_DONE) {
        free(nt); /* never linked: a lost transaction's restore cannot have seen it */
        return fail(s, rc, "add");
    }
    if (nt) {
        cache_link(&s->c, nt, pos);
        s->c.next_tid++;
        s->memo = nt;
    }
    t->cur.spooled = m->seq;
    t->cur.spooled_bytes = cum;
    memcpy(t->cur.tail_hash, hash, PE_SHA256_HEXLEN);
    t->dirty = true;
    s->pending_bytes += (int64_t)len;
    return PE_OK;
}

/* ---- reading ---- */

static int fill_terminal(struct pe_spool *s, struct term *t, struct pe_spool_terminal *out)
{
    memset(out, 0, sizeof *out); /* padding too: callers may compare whole structs */
    memcpy(out->store, t->store, sizeof out->store);
    memcpy(out->terminal, t->terminal, sizeof out->terminal);
    out->spooled = t->cur.spooled;
    out->delivered = t->cur.delivered;
    memcpy(out->tail_hash, t->cur.tail_hash, sizeof out->tail_hash);
    if (t->cur.spooled > t->cur.delivered) {
        int64_t seq = t->cur.delivered + 1;
        int e = row_get(s, t, seq, NULL, NULL, &out->oldest_pending_ts_ms, NULL);
        if (e == PE_ENOTFOUND)
            return missing(s, t, seq, "oldest pending row is missing");
        return e;
    }
    return PE_OK;
}

int pe_spool_terminal(struct pe_spool *s, const char *store, const char *terminal,
                      struct pe_spool_terminal *out)
{
    assert(s && store && terminal && out);
    memset(out, 0, sizeof *out);
    struct term *t = term_find(s, store, terminal, NULL);
    if (t)
        return fill_terminal(s, t, out);
    if (!pe_event_id_valid(store, 1) || !pe_event_id_valid(terminal, 1))
        return PE_EINVAL;
    memcpy(out->store, store, strlen(store) + 1);
    memcpy(out->terminal, terminal, strlen(terminal) + 1);
    pe_event_genesis(store, terminal, out->tail_hash);
    return PE_OK;
}

int pe_spool_terminals(struct pe_spool *s, int (*fn)(const struct pe_spool_terminal *t, void *ctx),
                       void *ctx)
{
    assert(s && fn);
    /* Indexed, not by pointer: fn may add a terminal (or end a transaction) meanwhile. */
    for (size_t i = 0; i < s->c.n; i++) {
        struct pe_spool_terminal t;
        int e = fill_terminal(s, s->c.v[i], &t);
        if (e)
            return e;
        e = fn(&t, ctx);
        if (e)
            return e;
    }
    return PE_OK;
}

int pe_spool_rows(struct pe_spool *s, const char *store, const char *terminal, int64_t after,
                  int max, int (*fn)(const struct pe_spool_row *r, void *ctx), void *ctx)
{
    assert(s && store && terminal && fn);
    if (s->in_rows)
        return PE_ESTATE; /* called from fn: the statement is in use */
    struct term *t = term_find(s, store, terminal, NULL);
    if (!t || max < 1)
        return PE_OK;
    /* Only committed rows: a row of the open transaction may still be rolled back, and once
     * produced to Kafka it could not be taken back. */
    int64_t upto = t->com.spooled;
    if (after < t->cur.pruned)
        after = t->cur.pruned;
    if (after >= upto)
        return PE_OK;

    /* fn may end a transaction, which can drop or reload the cache: keep copies. */
    struct pe_spool_row r = {0};
    char st_id[PE_ID_MAX], te_id[PE_ID_MAX], hash[PE_SHA256_HEXLEN];
    memcpy(st_id, t->store, sizeof st_id);
    memcpy(te_id, t->terminal, sizeof te_id);
    int64_t base = key_of(t->tid, 0);
    r.store = st_id;
    r.terminal = te_id;

    sqlite3_stmt *st = s->st[SS_RANGE];
    sqlite3_bind_int64(st, 1, base + after);
    sqlite3_bind_int64(st, 2, base + upto);
    sqlite3_bind_int(st, 3, max);
    s->in_rows = true;
    int rc, e = PE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        r.seq = sqlite3_column_int64(st, 0) - base;
        r.id = (const char *)sqlite3_column_text(st, 1);
        r.type = (const char *)sqlite3_column_text(st, 2);
        r.ts_ms = sqlite3_column_int64(st, 3);
        r.record = sqlite3_column_blob(st, 4);
        r.len = (size_t)sqlite3_column_bytes(st, 4);
        const uint8_t *h = sqlite3_column_blob(st, 5);
        if (!r.id || !r.type || !r.record || !h) {
            e = PE_ENOMEM; /* SQLite could not convert the value */
            break;
        }
        if (sqlite3_column_bytes(st, 5) != 32) {
            e = missing(s, t, r.seq, "row hash is not 32 bytes");
            break;
        }
        hex_encode(h, hash);
        r.hash = hash;
        r.sig = (const char *)sqlite3_column_text(st, 6); /* NUL-terminated */
        r.siglen = r.sig ? (size_t)sqlite3_column_bytes(st, 6) : 0;
        r.rejected = (const char *)sqlite3_column_text(st, 7);
        e = fn(&r, ctx);
        if (e)
            break;
    }
    if (e == PE_OK && rc != SQLITE_DONE)
        e = fail(s, rc, "rows");
    sqlite3_reset(st);
    s->in_rows = false;
    return e;
}

/* ---- delivery and pruning ---- */

static int set_delivered(struct pe_spool *s, const char *store, const char *terminal, int64_t seq)
{
    struct term *t = term_find(s, store, terminal, NULL);
    if (!t)
        return seq <= 0 ? PE_OK : PE_EINVAL;
    if (seq <= t->cur.delivered)
        return PE_OK;
    if (seq > t->cur.spooled)
        return PE_EINVAL;
    int64_t cum = t->cur.spooled_bytes;
    if (seq < t->cur.spooled) {
        int e = row_get(s, t, seq, NULL, &cum, NULL, NULL);
        if (e == PE_ENOTFOUND)
            return missing(s, t, seq, "row to mark delivered is missing");
        if (e)
            return e;
    }
    s->pending_bytes -= cum - t->cur.delivered_bytes;
    t->cur.delivered = seq;
    t->cur.delivered_bytes = cum;
    t->dirty = true;
    return PE_OK;
}

int pe_spool_set_delivered(struct pe_spool *s, const char *store, const char *terminal, int64_t seq)
{
    assert(s && store && terminal);
    if (s->in_txn) {
        int e = writable(s);
        return e ? e : set_delivered(s, store, terminal, seq);
    }
    /* Delivery reports repeat watermarks already stored: answer those without a transaction. */
    struct term *t = term_find(s, store, terminal, NULL);
    if (t ? seq <= t->cur.delivered : seq <= 0)
        return PE_OK;
    int e = pe_spool_begin(s);
    if (e)
        return e;
    e = set_delivered(s, store, terminal, seq);
    if (e) {
        pe_spool_rollback(s);
        return e;
    }
    return pe_spool_commit(s);
}

/* A new, empty terminal in the cache (linked; written at commit). */
static int term_add(struct pe_spool *s, const char *store, const char *terminal, size_t pos,
                    struct term **out)
{
    if (s->c.next_tid > TID_MAX) {
        pe_error("spool.full", "path=\"%s\" msg=\"no terminal ids left\"", s->path);
        return PE_EFULL;
    }
    struct term *nt = calloc(1, sizeof *nt);
    if (!nt || cache_reserve(&s->c)) {
        free(nt);
        return PE_ENOMEM;
    }
    memcpy(nt->store, store, strlen(store) + 1);
    memcpy(nt->terminal, terminal, strlen(terminal) + 1);
    nt->tid = s->c.next_tid++;
    pe_event_genesis(store, terminal, nt->com.tail_hash);
    nt->cur = nt->com;
    nt->fresh = true;
    cache_link(&s->c, nt, pos);
    s->memo = nt;
    *out = nt;
    return PE_OK;
}

static int advance(struct pe_spool *s, const char *store, const char *terminal, int64_t seq,
                   const char *hash, const uint8_t hbin[32])
{
    size_t pos = 0;
    struct term *t = term_find(s, store, terminal, &pos);
    int e;
    if (!t && (e = term_add(s, store, terminal, pos, &t)))
        return e;
    if (seq <= t->cur.spooled) {
        /* The spool has it: the same record, or a chain Kafka does not know. */
        if (seq > t->cur.pruned) {
            uint8_t stored[32];
            if (seq == t->cur.spooled) {
                if (strncmp(hash, t->cur.tail_hash, PE_SHA256_HEXLEN) != 0)
                    return PE_ECHAIN;
            } else if ((e = row_get(s, t, seq, stored, NULL, NULL, NULL))) {
                return e == PE_ENOTFOUND ? missing(s, t, seq, "row below spooled is missing") : e;
            } else if (memcmp(stored, hbin, 32) != 0) {
                return PE_ECHAIN;
            }
        }
        return set_delivered(s, store, terminal, seq);
    }
    /* Behind Kafka: every row the spool has of this terminal is in Kafka already. */
    sqlite3_stmt *st = s->st[SS_PRUNE];
    sqlite3_bind_int64(st, 1, key_of(t->tid, t->cur.pruned));
    sqlite3_bind_int64(st, 2, key_of(t->tid, t->cur.spooled));
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return fail(s, rc, "advance");
    s->pending_bytes -= t->cur.spooled_bytes - t->cur.delivered_bytes;
    t->cur.spooled = t->cur.delivered = t->cur.pruned = seq;
    t->cur.delivered_bytes = t->cur.spooled_bytes;
    memcpy(t->cur.tail_hash, hash, PE_SHA256_HEXLEN);
    t->dirty = true;
    return PE_OK;
}

int pe_spool_advance(struct pe_spool *s, const char *store, const char *terminal, int64_t seq,
                     const char *hash)
{
    assert(s && store && terminal && hash);
    uint8_t hbin[32];
    if (seq < 1 || seq > SEQ_MAX || !hex_decode(hash, hbin) || !pe_event_id_valid(store, 1) ||
        !pe_event_id_valid(terminal, 1))
        return PE_EINVAL;
    bool own = !s->in_txn;
    int e = own ? pe_spool_begin(s) : writable(s);
    if (e)
        return e;
    e = advance(s, store, terminal, seq, hash, hbin);
    if (own) {
        if (e)
            pe_spool_rollback(s);
        else
            e = pe_spool_commit(s);
    }
    return e;
}

int pe_spool_prune(struct pe_spool *s, int max, int64_t *deleted)
{
    assert(s);
    if (deleted)
        *deleted = 0;
    bool any = false;
    for (size_t i = 0; i < s->c.n && !any; i++)
        any = s->c.v[i]->cur.pruned < s->c.v[i]->cur.delivered;
    if (!any || max < 1)
        return PE_OK;
    bool own = !s->in_txn;
    int e = own ? pe_spool_begin(s) : writable(s);
    if (e)
        return e;

    int64_t n = 0;
    sqlite3_stmt *st = s->st[SS_PRUNE];
    for (size_t i = 0; i < s->c.n && n < max && e == PE_OK; i++) {
        struct term *t = s->c.v[i];
        if (t->cur.pruned >= t->cur.delivered)
            continue;
        int64_t upto = t->cur.delivered;
        if (upto - t->cur.pruned > max - n)
            upto = t->cur.pruned + (max - n);
        sqlite3_bind_int64(st, 1, key_of(t->tid, t->cur.pruned));
        sqlite3_bind_int64(st, 2, key_of(t->tid, upto));
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) {
            e = fail(s, rc, "prune");
            break;
        }
        int64_t changes = sqlite3_changes64(s->db);
        if (changes != upto - t->cur.pruned)
            missing(s, t, upto, "fewer rows than the watermarks say were pruned");
        n += changes;
        t->cur.pruned = upto;
        t->dirty = true;
    }
    if (own) {
        if (e)
            pe_spool_rollback(s);
        else
            e = pe_spool_commit(s);
    }
    if (e == PE_OK && deleted)
        *deleted = n;
    return e;
}

int pe_spool_stats(struct pe_spool *s, struct pe_spool_stats *out)
{
    assert(s && out);
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < s->c.n; i++) {
        const struct term_state *c = &s->c.v[i]->cur;
        out->rows += c->spooled - c->pruned;
        out->pending += c->spooled - c->delivered;
    }
    out->pending_bytes = s->pending_bytes;
    return PE_OK;
}

/* ---- metadata ---- */

int pe_spool_meta_put(struct pe_spool *s, const char *key, const char *value, int64_t now_ms)
{
    assert(s && key && value);
    if (s->in_txn || s->in_rows || s->in_read)
        return PE_ESTATE;
    if (!*key)
        return PE_EINVAL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "INSERT INTO meta(key, value, updated_ms) VALUES (?1, ?2, ?3) "
                                "ON CONFLICT(key) DO UPDATE SET value = excluded.value, "
                                "updated_ms = excluded.updated_ms",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, now_ms);
        rc = sqlite3_step(st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? PE_OK : fail(s, rc, "meta_put");
}

int pe_spool_meta_get(struct pe_spool *s, const char *key, char **value)
{
    assert(s && key && value);
    *value = NULL;
    sqlite3_stmt *st = NULL;
    int e = PE_ENOTFOUND;
    int rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *v = (const char *)sqlite3_column_text(st, 0);
            *value = strdup(v ? v : "");
            e = *value ? PE_OK : PE_ENOMEM;
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK)
        e = fail(s, rc, "meta_get");
    sqlite3_finalize(st);
    return e;
}

int pe_spool_meta_list(struct pe_spool *s, const char *prefix,
                       int (*fn)(const struct pe_spool_meta *m, void *ctx), void *ctx)
{
    assert(s && prefix && fn);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT key, value, updated_ms FROM meta "
                                "WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key",
                                -1, &st, NULL);
    int e = PE_OK;
    if (rc == SQLITE_OK)
        sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct pe_spool_meta m = {
            .key = (const char *)sqlite3_column_text(st, 0),
            .value = (const char *)sqlite3_column_text(st, 1),
            .updated_ms = sqlite3_column_int64(st, 2),
        };
        rc = SQLITE_OK;
        if (m.key && m.value && (e = fn(&m, ctx)) != 0)
            break;
    }
    if (rc != SQLITE_OK && rc != SQLITE_DONE)
        e = fail(s, rc, "meta_list");
    sqlite3_finalize(st);
    return e;
}

/* ---- documents ----
 *
 * doc_layers holds what each layer says of a key; docs the effective document of every key
 * ever seen (the highest layer's, or NULL once no layer has the key) with the change number of
 * its last change. pe_spool_doc_put keeps the two consistent inside the caller's transaction:
 * it writes the layer, looks up the highest layer left, and rewrites the effective row only
 * when its bytes (or its presence) differ, so a document received again unchanged changes
 * nothing and costs no change number.
 */

/* The document statement i, prepared at its first use. NULL after logging the failure. */
static sqlite3_stmt *doc_stmt(struct pe_spool *s, enum doc_stmt i)
{
    if (!s->dst[i]) {
        int rc = sqlite3_prepare_v3(s->db, doc_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->dst[i],
                                    NULL);
        if (rc != SQLITE_OK) {
            pe_error("spool.sqlite", "op=prepare_docs rc=%d msg=\"%s\"", rc, sqlite3_errmsg(s->db));
            s->dst[i] = NULL;
        }
    }
    return s->dst[i];
}

/* Step a statement that returns no row, reset it and clear its bindings (no pointer to the
 * caller's bytes stays behind). */
static int doc_exec(struct pe_spool *s, sqlite3_stmt *st, const char *op)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? PE_OK : fail(s, rc, op);
}

/* The layer, document and (change not NULL) change number of the row st finds (one step):
 * PE_OK with *doc malloc'd (NULL for a removed key), PE_ENOTFOUND, or an error. */
static int doc_row(struct pe_spool *s, sqlite3_stmt *st, int *layer, char **doc, size_t *len,
                   int64_t *change, const char *op)
{
    int rc = sqlite3_step(st), e = PE_OK;
    *doc = NULL;
    *len = 0;
    *layer = -1;
    if (rc == SQLITE_ROW) {
        *layer = sqlite3_column_int(st, 0);
        if (change)
            *change = sqlite3_column_int64(st, 2);
        if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
            const char *d = (const char *)sqlite3_column_text(st, 1);
            size_t n = (size_t)sqlite3_column_bytes(st, 1);
            if (!d || !(*doc = malloc(n + 1))) {
                e = PE_ENOMEM;
            } else {
                memcpy(*doc, d, n + 1);
                *len = n;
            }
        }
    } else if (rc == SQLITE_DONE) {
        e = PE_ENOTFOUND;
    } else {
        e = fail(s, rc, op);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return e;
}

int pe_spool_doc_put(struct pe_spool *s, const char *coll, const char *key, int layer,
                     const char *doc, size_t len, int64_t change, bool *changed)
{
    assert(s && coll && key);
    if (changed)
        *changed = false;
    int e = writable(s);
    if (e)
        return e;
    if (!*coll || !*key || layer < 0 || layer >= PE_SPOOL_LAYERS || change < 1 ||
        len > INT_MAX)
        return PE_EINVAL;
    sqlite3_stmt *put = doc_stmt(s, doc ? DS_LAYER_PUT : DS_LAYER_DEL);
    sqlite3_stmt *top = doc_stmt(s, DS_TOP), *cur = doc_stmt(s, DS_CUR);
    sqlite3_stmt *eff = doc_stmt(s, DS_DOC_PUT);
    if (!put || !top || !cur || !eff)
        return PE_EIO;

    sqlite3_bind_text(put, 1, coll, -1, SQLITE_STATIC);
    sqlite3_bind_text(put, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int(put, 3, layer);
    if (doc)
        sqlite3_bind_text(put, 4, doc, (int)len, SQLITE_STATIC);
    if ((e = doc_exec(s, put, "doc_layer")))
        return e;

    /* What the key's effective document is now, and what it was. */
    char *now = NULL, *was = NULL;
    size_t now_len = 0, was_len = 0;
    int now_layer = -1, was_layer = -1;
    sqlite3_bind_text(top, 1, coll, -1, SQLITE_STATIC);
    sqlite3_bind_text(top, 2, key, -1, SQLITE_STATIC);
    e = doc_row(s, top, &now_layer, &now, &now_len, NULL, "doc_top");
    if (e == PE_ENOTFOUND)
        e = PE_OK; /* in no layer any more */
    if (e)
        goto free_docs;
    sqlite3_bind_text(cur, 1, coll, -1, SQLITE_STATIC);
    sqlite3_bind_text(cur, 2, key, -1, SQLITE_STATIC);
    int64_t was_change = 0;
    e = doc_row(s, cur, &was_layer, &was, &was_len, &was_change, "doc_current");
    bool known = e == PE_OK;
    if (e == PE_ENOTFOUND)
        e = PE_OK;
    if (e)
        goto free_docs;
    bool same = now ? (was && now_len == was_len && memcmp(now, was, now_len) == 0) : !was;
    if (same && (!known || now_layer == was_layer))
        goto free_docs; /* unchanged; a key never seen that is removed needs no row either */
    /* The same bytes from another layer are no change a reader sees: only the layer is
     * written, under the change number the row has. */
    sqlite3_bind_text(eff, 1, coll, -1, SQLITE_STATIC);
    sqlite3_bind_text(eff, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int(eff, 3, now_layer);
    sqlite3_bind_int64(eff, 4, same ? was_change : change);
    if (now)
        sqlite3_bind_text(eff, 5, now, (int)now_len, SQLITE_STATIC);
    if ((e = doc_exec(s, eff, "doc_put")) == PE_OK && changed && !same)
        *changed = true;

free_docs:
    free(now);
    free(was);
    return e;
}

int pe_spool_doc_get(struct pe_spool *s, const char *coll, const char *key, int layer,
                     char **doc, size_t *len)
{
    assert(s && coll && key && doc && len);
    *doc = NULL;
    *len = 0;
    if (!*coll || !*key || layer < -1 || layer >= PE_SPOOL_LAYERS)
        return PE_EINVAL;
    sqlite3_stmt *st = doc_stmt(s, layer < 0 ? DS_CUR : DS_LAYER_GET);
    if (!st)
        return PE_EIO;
    sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    if (layer >= 0)
        sqlite3_bind_int(st, 3, layer);
    int got_layer;
    int e = doc_row(s, st, &got_layer, doc, len, NULL, "doc_get");
    if (e == PE_OK && !*doc)
        e = PE_ENOTFOUND; /* a removed key */
    return e;
}

int pe_spool_docs_drop(struct pe_spool *s, const char *coll)
{
    assert(s && coll);
    int e = writable(s);
    if (e)
        return e;
    if (!*coll)
        return PE_EINVAL;
    sqlite3_stmt *layers = doc_stmt(s, DS_DROP_LAYERS), *docs = doc_stmt(s, DS_DROP_DOCS);
    if (!layers || !docs)
        return PE_EIO;
    sqlite3_bind_text(layers, 1, coll, -1, SQLITE_STATIC);
    if ((e = doc_exec(s, layers, "docs_drop")))
        return e;
    sqlite3_bind_text(docs, 1, coll, -1, SQLITE_STATIC);
    return doc_exec(s, docs, "docs_drop");
}

int pe_spool_docs(struct pe_spool *s, const char *coll, int64_t after, bool removed,
                  int (*fn)(const struct pe_spool_doc *d, void *ctx), void *ctx)
{
    assert(s && coll && fn);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                removed ? "SELECT key, doc, layer, change FROM docs "
                                          "WHERE coll = ?1 AND change > ?2 ORDER BY key"
                                        : "SELECT key, doc, layer, change FROM docs "
                                          "WHERE coll = ?1 AND change > ?2 AND doc IS NOT NULL "
                                          "ORDER BY key",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return fail(s, rc, "docs");
    sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, after);
    int e = PE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct pe_spool_doc d = {
            .key = (const char *)sqlite3_column_text(st, 0),
            .layer = sqlite3_column_int(st, 2),
            .change = sqlite3_column_int64(st, 3),
        };
        if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
            d.doc = (const char *)sqlite3_column_text(st, 1);
            d.len = (size_t)sqlite3_column_bytes(st, 1);
        } else {
            d.layer = -1;
        }
        if (!d.key || (sqlite3_column_type(st, 1) != SQLITE_NULL && !d.doc)) {
            e = PE_ENOMEM; /* SQLite could not convert the value */
            break;
        }
        if ((e = fn(&d, ctx)) != 0)
            break;
    }
    if (e == PE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        e = fail(s, rc, "docs");
    sqlite3_finalize(st);
    return e;
}

int pe_spool_docs_count(struct pe_spool *s, const char *coll, int64_t after, int64_t *present,
                        int64_t *removed)
{
    assert(s && coll);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT count(doc), count(*) - count(doc) FROM docs "
                                "WHERE coll = ?1 AND change > ?2",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, coll, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, after);
        rc = sqlite3_step(st);
    }
    int e = rc == SQLITE_ROW ? PE_OK : fail(s, rc, "docs_count");
    if (e == PE_OK) {
        if (present)
            *present = sqlite3_column_int64(st, 0);
        if (removed)
            *removed = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return e;
}

int pe_spool_position_set(struct pe_spool *s, const char *log, int32_t part, int64_t next)
{
    assert(s && log);
    int e = writable(s);
    if (e)
        return e;
    if (!*log || part < 0 || next < 0)
        return PE_EINVAL;
    sqlite3_stmt *st = doc_stmt(s, DS_POS_PUT);
    if (!st)
        return PE_EIO;
    sqlite3_bind_text(st, 1, log, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, part);
    sqlite3_bind_int64(st, 3, next);
    return doc_exec(s, st, "position");
}

int pe_spool_positions(struct pe_spool *s, int (*fn)(const struct pe_spool_position *p, void *ctx),
                       void *ctx)
{
    assert(s && fn);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT log, part, next FROM positions ORDER BY log, part",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return fail(s, rc, "positions");
    int e = PE_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct pe_spool_position p = {
            .log = (const char *)sqlite3_column_text(st, 0),
            .part = (int32_t)sqlite3_column_int(st, 1),
            .next = sqlite3_column_int64(st, 2),
        };
        if (!p.log) {
            e = PE_ENOMEM;
            break;
        }
        if ((e = fn(&p, ctx)) != 0)
            break;
    }
    if (e == PE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        e = fail(s, rc, "positions");
    sqlite3_finalize(st);
    return e;
}

int pe_spool_meta_set(struct pe_spool *s, const char *key, const char *value, int64_t now_ms)
{
    assert(s && key && value);
    int e = writable(s);
    if (e)
        return e;
    if (!*key)
        return PE_EINVAL;
    sqlite3_stmt *st = doc_stmt(s, DS_META_SET);
    if (!st)
        return PE_EIO;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now_ms);
    return doc_exec(s, st, "meta_set");
}

int pe_spool_read(struct pe_spool *s, int (*fn)(struct pe_spool *s, void *ctx), void *ctx)
{
    assert(s && fn);
    if (s->in_txn || s->in_read)
        return fn(s, ctx); /* already one view of the file */
    int rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return fail(s, rc, "read_begin");
    s->in_read = true;
    int e = fn(s, ctx);
    s->in_read = false;
    /* A read transaction has nothing to keep: COMMIT just ends it. */
    rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        int f = fail(s, rc, "read_end");
        if (!sqlite3_get_autocommit(s->db))
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        if (e == PE_OK)
            e = f;
    }
    return e;
}
