/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_journal.c - unit tests of the till's journal (store/journal*.c), including its I/O
 * fault behaviour through the "pe-fault" VFS.
 *
 * What must hold: an event and everything derived from it (stock, counters, sale lines) is
 * committed as a whole or not at all; seq is gapless and the chain verifies after any failure;
 * a failed commit leaves the handle usable and a retry of the same event idempotent; tampering
 * and damage are detected and reported with the recovery command, never repaired silently.
 * The fault loop fails the Nth write or sync for every N until a run triggers no fault.
 * The applied catalog's tables change only inside a transaction (a rollback or a failed write
 * at any point leaves them as they were), a barcode belongs to one item, the stage keeps what
 * it is given across a reopen, and a journal of schema 1 is migrated when opened for writing
 * and still read, catalog-less, when opened read-only. Pruning deletes only delivered records
 * closed by a Z report and still the archived ones, moves the anchor with the deletion in one
 * transaction (a failed write or sync at any point, with or without a crash after it, leaves the
 * old anchor and every record, or the new anchor and the rest), and the journal verifies,
 * reopens with its tail check and takes appends from its anchor, even pruned to its last record.
 */
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/faultvfs.h"
#include "posedge/journal.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "tests/unit/harness.h"

#define STORE "s001"
#define TERMINAL "t01"

/* ---- helpers ---- */

static void id_of(int n, char id[PE_UUID_STRLEN])
{
    snprintf(id, PE_UUID_STRLEN, "0a1b2c3d-0000-4000-8000-%012d", n);
}

static void meta_of(struct pe_event_meta *m, int n, enum pe_event_type type)
{
    memset(m, 0, sizeof *m);
    id_of(n, m->id);
    strcpy(m->store, STORE);
    strcpy(m->terminal, TERMINAL);
    strcpy(m->operator_, "op1");
    m->type = type;
    m->ts_ms = 1795256102000LL + n;
}

static cJSON *body_of(int n, size_t pad)
{
    cJSON *b = cJSON_CreateObject();
    CHECK_OK(pe_json_add_int(b, "n", n));
    CHECK_OK(pe_json_add_str(b, "currency", "EUR"));
    if (pad) {
        char *s = malloc(pad + 1);
        for (size_t i = 0; i < pad; i++)
            s[i] = (char)('a' + (i * 7 + (size_t)n) % 26);
        s[pad] = '\0';
        CHECK_OK(pe_json_add_str(b, "pad", s));
        free(s);
    }
    return b;
}

static struct pe_journal *open_j(const char *path, const char *store, const char *terminal,
                                 bool check)
{
    struct pe_journal_opts o = {.store = store, .terminal = terminal, .check = check};
    struct pe_journal *j = NULL;
    char err[512];
    int rc = pe_journal_open(path, &o, &j, err, sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "open %s: %s (%s)", path, pe_errname(rc), err);
    return j;
}

/* Append event n in a transaction of its own. */
static int64_t append_one(struct pe_journal *j, int n, enum pe_event_type type, size_t pad)
{
    struct pe_event_meta m;
    struct pe_journal_appended a;
    meta_of(&m, n, type);
    cJSON *b = body_of(n, pad);
    CHECK_OK(pe_journal_begin(j));
    CHECK_OK(pe_journal_append(j, &m, b, &a));
    CHECK_OK(pe_journal_commit(j));
    cJSON_Delete(b);
    return a.seq;
}

static void verify_ok(struct pe_journal *j, int64_t count)
{
    struct pe_journal_verify_result r;
    int rc = pe_journal_verify(j, &r);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "verify: %s bad_seq=%lld why=%s", pe_errname(rc),
                     (long long)r.bad_seq, r.why);
    CHECK_INT(r.count, count);
    CHECK_INT(r.last_seq, count);
    CHECK_INT(r.bad_seq, 0);
}

/* Run SQL on the file through a plain connection, as a tamperer (or a test) would. */
static void raw_sql(const char *path, const char *q)
{
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, q, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        pe_test_fail(__FILE__, __LINE__, "%s: %s", q, msg ? msg : "?");
    CHECK_INT(sqlite3_close(db), SQLITE_OK);
}

/* Replace the record of seq with itself, one byte XORed at offset off. */
static void raw_flip_record(const char *path, int64_t seq, size_t off)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_prepare_v2(db, "SELECT record FROM events WHERE seq = ?1", -1, &st, NULL),
              SQLITE_OK);
    sqlite3_bind_int64(st, 1, seq);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    size_t len = (size_t)sqlite3_column_bytes(st, 0);
    char *rec = malloc(len);
    memcpy(rec, sqlite3_column_blob(st, 0), len);
    sqlite3_finalize(st);
    CHECK(off < len);
    rec[off] = (char)(rec[off] ^ 0x01);
    CHECK_INT(sqlite3_prepare_v2(db, "UPDATE events SET record = ?1 WHERE seq = ?2", -1, &st, NULL),
              SQLITE_OK);
    sqlite3_bind_blob(st, 1, rec, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, seq);
    CHECK_INT(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    free(rec);
    CHECK_INT(sqlite3_close(db), SQLITE_OK);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    CHECK(in && out);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        CHECK(fwrite(buf, 1, n, out) == n);
    fclose(in);
    CHECK(fclose(out) == 0);
}

static void remove_db(const char *path)
{
    char side[600];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

static bool file_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* ---- basics ---- */

static void t_create_reopen(void)
{
    const char *path = pe_test_path(0, "j.db");
    char genesis[PE_SHA256_HEXLEN], hash[PE_SHA256_HEXLEN];
    int64_t seq = -1, ts = -1;
    pe_event_genesis(STORE, TERMINAL, genesis);

    struct pe_journal *j = open_j(path, STORE, TERMINAL, false);
    CHECK_STR(pe_journal_store(j), STORE);
    CHECK_STR(pe_journal_terminal(j), TERMINAL);
    CHECK_OK(pe_journal_last(j, &seq, hash, &ts));
    CHECK_INT(seq, 0);
    CHECK_INT(ts, 0);
    CHECK_STR(hash, genesis);
    CHECK_OK(pe_journal_last(j, NULL, NULL, NULL));
    for (int i = 1; i <= 5; i++)
        CHECK_INT(append_one(j, i, PE_EV_SALE, 0), i);
    char last_hash[PE_SHA256_HEXLEN];
    CHECK_OK(pe_journal_last(j, &seq, last_hash, &ts));
    CHECK_INT(seq, 5);
    CHECK_INT(ts, 1795256102005LL);
    pe_journal_close(j);
    pe_journal_close(NULL);

    /* Reopen taking store and terminal from the file; the tail is where it was. */
    j = open_j(path, NULL, NULL, true);
    CHECK_STR(pe_journal_store(j), STORE);
    CHECK_OK(pe_journal_last(j, &seq, hash, &ts));
    CHECK_INT(seq, 5);
    CHECK_STR(hash, last_hash);
    CHECK_INT(ts, 1795256102005LL);
    CHECK_INT(append_one(j, 6, PE_EV_NO_SALE, 0), 6);
    verify_ok(j, 6);

    /* The stored record is the sealed one, chained to the previous hash. */
    char *rec = NULL;
    size_t len = 0;
    CHECK_OK(pe_journal_get(j, 6, &rec, &len));
    CHECK_INT(len, strlen(rec));
    struct pe_event_meta m;
    CHECK_OK(pe_event_verify(rec, len, 6, last_hash, &m, hash, NULL, NULL, 0));
    CHECK_INT(m.type, PE_EV_NO_SALE);
    free(rec);
    CHECK_INT(pe_journal_get(j, 7, &rec, &len), PE_ENOTFOUND);
    int64_t found = 0;
    char id[PE_UUID_STRLEN];
    id_of(3, id);
    CHECK_OK(pe_journal_find_id(j, id, &found));
    CHECK_INT(found, 3);
    id_of(99, id);
    CHECK_INT(pe_journal_find_id(j, id, &found), PE_ENOTFOUND);
    pe_journal_close(j);

    /* Read-only opens see the same and write nothing. */
    struct pe_journal_opts ro = {.readonly = true, .check = true};
    char err[512];
    CHECK_OK(pe_journal_open(path, &ro, &j, err, sizeof err));
    CHECK_OK(pe_journal_last(j, &seq, NULL, NULL));
    CHECK_INT(seq, 6);
    verify_ok(j, 6);
    CHECK_INT(pe_journal_begin(j), PE_ESTATE);
    CHECK_INT(pe_journal_park(j, "{}"), PE_ESTATE);
    pe_journal_close(j);
}

static void t_open_refusals(void)
{
    const char *path = pe_test_path(0, "j.db");
    const char *missing = pe_test_path(1, "missing.db");
    struct pe_journal *j = NULL;
    char err[512];

    /* A new file needs both ids, and nothing is created without them. */
    struct pe_journal_opts o = {.store = STORE};
    CHECK_INT(pe_journal_open(missing, &o, &j, err, sizeof err), PE_EINVAL);
    CHECK(!file_exists(missing));
    CHECK(strstr(err, missing) != NULL);
    struct pe_journal_opts ro = {.readonly = true, .store = STORE, .terminal = TERMINAL};
    CHECK_INT(pe_journal_open(missing, &ro, &j, err, sizeof err), PE_EIO);
    CHECK(!file_exists(missing));
    struct pe_journal_opts badid = {.store = "s 1", .terminal = TERMINAL};
    CHECK_INT(pe_journal_open(missing, &badid, &j, err, sizeof err), PE_EINVAL);
    struct pe_journal_opts novfs = {.store = STORE, .terminal = TERMINAL, .vfs = "no-such-vfs"};
    CHECK_INT(pe_journal_open(missing, &novfs, &j, err, sizeof err), PE_EIO);

    /* The journal belongs to s001/t02. */
    j = open_j(path, STORE, "t02", false);
    pe_journal_close(j);
    struct pe_journal_opts other = {.store = STORE, .terminal = TERMINAL};
    CHECK_INT(pe_journal_open(path, &other, &j, err, sizeof err), PE_EINVAL);
    char want[600];
    snprintf(want, sizeof want, "journal %s belongs to s001/t02, not s001/t01", path);
    CHECK_STR(err, want);
    struct pe_journal_opts store_only = {.store = "s002"};
    CHECK_INT(pe_journal_open(path, &store_only, &j, err, sizeof err), PE_EINVAL);
    CHECK(strstr(err, "belongs to s001/t02, not s002/t02") != NULL);

    /* A newer schema is refused, not misread. */
    raw_sql(path, "PRAGMA user_version = 3");
    struct pe_journal_opts plain = {0};
    CHECK_INT(pe_journal_open(path, &plain, &j, err, sizeof err), PE_EINVAL);
    CHECK(strstr(err, "schema version 3") != NULL);

    /* Not a journal: a text file, another SQLite database, a database without the tables. */
    const char *text = pe_test_path(2, "text.db");
    FILE *f = fopen(text, "wb");
    for (int i = 0; i < 200; i++)
        fputs("this is not a database at all. ", f);
    fclose(f);
    CHECK_INT(pe_journal_open(text, &plain, &j, err, sizeof err), PE_ECORRUPT);
    CHECK(strstr(err, text) != NULL);
    const char *foreign = pe_test_path(3, "foreign.db");
    raw_sql(foreign, "CREATE TABLE t(x)");
    CHECK_INT(pe_journal_open(foreign, &other, &j, err, sizeof err), PE_ECORRUPT);
    CHECK(strstr(err, "not a posedge journal") != NULL);
    remove_db(foreign);
    raw_sql(foreign, "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT); PRAGMA user_version=1");
    CHECK_INT(pe_journal_open(foreign, &other, &j, err, sizeof err), PE_ECORRUPT);
    CHECK(strstr(err, "not a posedge journal") != NULL);
}

static void t_txn_rules(void)
{
    struct pe_journal *j = open_j(pe_test_path(0, "j.db"), STORE, TERMINAL, false);
    struct pe_event_meta m;
    struct pe_journal_appended a;
    struct pe_sale_line l = {.line = 1, .item = "A", .qty = 1, .amount = 100, .tax_bp = 700};
    int64_t v;
    meta_of(&m, 1, PE_EV_SALE);
    cJSON *b = body_of(1, 0);

    /* Writes need a transaction. */
    CHECK_INT(pe_journal_append(j, &m, b, &a), PE_ESTATE);
    CHECK_INT(pe_journal_stock_add(j, "A", 1, &v), PE_ESTATE);
    CHECK_INT(pe_journal_stock_set(j, "A", 1, &v), PE_ESTATE);
    CHECK_INT(pe_journal_counter_add(j, "c", 1), PE_ESTATE);
    CHECK_INT(pe_journal_counter_set(j, "c", 1), PE_ESTATE);
    CHECK_INT(pe_journal_counters_reset(j, "c"), PE_ESTATE);
    CHECK_INT(pe_journal_sale_line_add(j, 1, &l), PE_ESTATE);
    CHECK_INT(pe_journal_sale_line_return(j, 1, 1, 1), PE_ESTATE);
    CHECK_INT(pe_journal_commit(j), PE_ESTATE);
    pe_journal_rollback(j); /* a no-op */

    CHECK_OK(pe_journal_begin(j));
    CHECK_INT(pe_journal_begin(j), PE_ESTATE);
    CHECK_INT(pe_journal_park(j, "{}"), PE_ESTATE);

    /* Events of another terminal, or with bad fields, are refused. */
    struct pe_event_meta bad = m;
    strcpy(bad.terminal, "t02");
    CHECK_INT(pe_journal_append(j, &bad, b, &a), PE_EINVAL);
    bad = m;
    strcpy(bad.id, "nope");
    CHECK_INT(pe_journal_append(j, &bad, b, &a), PE_EINVAL);
    bad = m;
    bad.ts_ms = -1;
    CHECK_INT(pe_journal_append(j, &bad, b, &a), PE_EINVAL);
    /* m.seq is ignored. */
    m.seq = 77;
    CHECK_OK(pe_journal_append(j, &m, b, &a));
    CHECK_INT(a.seq, 1);
    CHECK_OK(pe_journal_commit(j));
    verify_ok(j, 1);
    cJSON_Delete(b);
    pe_journal_close(j);
}

static void t_rollback_restores_tail(void)
{
    const char *path = pe_test_path(0, "j.db");
    struct pe_journal *j = open_j(path, STORE, TERMINAL, false);
    append_one(j, 1, PE_EV_SALE, 0);
    append_one(j, 2, PE_EV_SALE, 0);
    int64_t seq;
    char before[PE_SHA256_HEXLEN], after[PE_SHA256_HEXLEN];
    CHECK_OK(pe_journal_last(j, &seq, before, NULL));

    struct pe_event_meta m;
    struct pe_journal_appended a;
    meta_of(&m, 3, PE_EV_SALE);
    cJSON *b = body_of(3, 0);
    CHECK_OK(pe_journal_begin(j));
    CHECK_OK(pe_journal_append(j, &m, b, &a));
    CHECK_INT(a.seq, 3);
    int64_t qty;
    CHECK_OK(pe_journal_stock_add(j, "A", -1, &qty));
    /* Uncommitted: last still reports the committed tail. */
    CHECK_OK(pe_journal_last(j, &seq, after, NULL));
    CHECK_INT(seq, 2);
    pe_journal_rollback(j);

    CHECK_OK(pe_journal_last(j, &seq, after, NULL));
    CHECK_INT(seq, 2);
    CHECK_STR(after, before);
    int64_t found;
    CHECK_INT(pe_journal_find_id(j, m.id, &found), PE_ENOTFOUND);
    char *rec = NULL;
    size_t len;
    CHECK_INT(pe_journal_get(j, 3, &rec, &len), PE_ENOTFOUND);
    CHECK_OK(pe_journal_stock_get(j, "A", &qty));
    CHECK_INT(qty, 0);

    /* The next event takes seq 3 and chains from seq 2. */
    meta_of(&m, 30, PE_EV_SALE);
    CHECK_OK(pe_journal_begin(j));
    CHECK_OK(pe_journal_append(j, &m, b, &a));
    CHECK_INT(a.seq, 3);
    CHECK_OK(pe_journal_commit(j));
    verify_ok(j, 3);
    pe_journal_close(j);

    /* Closing with a transaction open rolls it back. */
    j = open_j(path, NULL, NULL, true);
    meta_of(&m, 4, PE_EV_SALE);
    CHECK_OK(pe_journal_begin(j));
    CHECK_OK(pe_journal_append(j, &m, b, &a));
    pe_journal_close(j);
    j = open_j(path, NULL, NULL, true);
    CHECK_OK(pe_journal_last(j, &seq, NULL, NULL));
    CHECK_INT(seq, 3);
    verify_ok(j, 3);
    pe_journal_close(j);
    cJSON_Delete(b);
}

static void t_duplicate_id(void)
{
    const char *path = pe_test_path(0, "j.db");
    struct pe_journal *j = open_j(path, STORE, TERMINAL, false);
    append_one(j, 1, PE_EV_SALE, 0);
    append_one(j, 2, PE_EV_SALE, 0);
    append_one(j, 3, PE_EV_SALE, 0);
    char h2[PE_SHA256_HEXLEN];
    char *rec = NULL;
    size_t len;
    CHECK_OK(pe_journal_get(j, 2, &rec, &len));
    CHECK_OK(pe_event_verify(rec, len, 2, NULL, NULL, h2, NULL, NULL, 0));
    free(rec);

    /* A retry of event 2 (even with another body) is reported, not stored again. */
    struct pe_event_meta m;
    struct pe_journal_appended a = {0};
    meta_of(&m, 2, PE_EV_SALE);
    cJSON *b = body_of(222, 0);
    CHECK_OK(pe_journal_begin(j));
    CHECK_INT(pe_journal_append(j, &m, b, &a), PE_EEXIST);
    CHECK_INT(a.seq, 2);
    CHECK_STR(a.hash, h2);
    /* Within one transaction too. */
    meta_of(&m, 4, PE_EV_SALE);
    CHECK_OK(pe_journal_append(j, &m, b, &a));
    CHECK_INT(pe_journal_append(j, &m, b, &a), PE_EEXIST);
    CHECK_INT(a.seq, 4);
    CHECK_OK(pe_journal_commit(j));
    verify_ok(j, 4);
    cJSON_Delete(b);
    pe_journal_close(j);
}

/* ---- derived state ---- */

struct walk {
    char names[8][32];
    int64_t values[8];
    int n;
    int stop_at;
};

static int walk_fn(const char *name, int64_t value, void *ctx)
{
    struct walk *w = ctx;
    if (w->n < 8) {
        snprintf(w->names[w->n], sizeof w->names[w->n], "%s", name);
        w->values[w->n] = value;
    }
    w->n++;
    return w->stop_at && w->n == w->stop_at ? 42 : 0;
}

static void t_stock_and_counters(void)
{
    const char *path = pe_test_path(0, "j.db");
    struct pe_journal *j = open_j(path, STORE, TERMINAL, false);
    int64_t v = -1;
    CHECK_OK(pe_journal_stock_get(j, "A", &v));
    CHECK_INT(v, 0);

    CHECK_OK(pe_journal_begin(j));
    CHECK_OK(pe_journal_stock_add(j, "A", 5, &v));
    CHECK_INT(v, 5);
    CHECK_OK(pe_journal_stock_add(j, "A", -7, &v));
    CHECK_INT(v, -2); /* shops oversell */
    CHECK_OK(pe_journal_stock_add(j, "B", 3, NULL));
    CHECK_OK(pe_journal_stock_set(j, "A", 40, &v));
    CHECK_INT(v, -2);
    CHECK_OK(pe_journal_stock_set(j, "C", 9, &v));
    CHECK_INT(v, 0);
    CHECK_INT(pe_journal_stock_add(j, "A", PE_JSON_MAX_INT + 1, &v), PE_ERANGE);
    CHECK_INT(pe_journal_stock_add(j, "", 1, &v), PE_EINVAL);

    CHECK_OK(pe_journal_counter_add(j, "z.sales", 100));
    CHECK_OK(pe_journal_counter_add(j, "z.sales", 250));
    CHECK_OK(pe_journal_counter_add(j, "z.tax", 7));
    CHECK_OK(pe_journal_counter_set(j, "x.count", 3));
    CHECK_OK(pe_journal_counter_set(j, "z", -1));
    CHECK_OK(pe_journal_counter_add(j, "zz", 1));
    CHECK_OK(pe_journal_counter_set(j, "grand_total", 1000));
    CHECK_OK(pe_journal_commit(j));

    CHECK_OK(pe_journal_stock_get(j, "A", &v));
    CHECK_INT(v, 40);
    CHECK_OK(pe_journal_stock_get(j, "B", &v));
    CHECK_INT(v, 3);
    CHECK_OK(pe_journal_counter_get(j, "z.sales", &v));
    CHECK_INT(v, 350);
    CHECK_OK(pe_journal_counter_get(j, "nope", &v));
    CHECK_INT(v, 0);

    struct walk w = {0};
    CHECK_OK(pe_journal_counters_each(j, "z.", walk_fn, &w));
    CHECK_INT(w.n, 2);
    CHECK_STR(w.names[0], "z.sales");
    CHECK_INT(w.values[0], 350);
    CHECK_STR(w.names[1], "z.tax");
    memset(&w, 0, sizeof w);
    CHECK_OK(pe_journal_counters_each(j, NULL, walk_fn, &w));
    CHECK_INT(w.n, 6);
    CHECK_STR(w.names[0], "grand_total");
    CHECK_STR(w.names[5], "zz");
    memset(&w, 0, sizeof w);
    w.stop_at = 2;
    CHECK_INT(pe_journal_counters_each(j, "", walk_fn, &w), 42);
    CHECK_INT(w.n, 2);

    /* Resetting a period's counters leaves the others, and rolls back with its event. */
    CHECK_OK(pe_journal_begin(j));
    CHECK_OK(pe_journal_counters_reset(j, "z."));
    pe_journal_rollback(j);
    CHECK_OK(pe_journal_counter_get(j, "z.tax", &v));
    CHECK_INT(v, 7);
    CHECK_OK(pe_journal_begin(j));
    CHECK_OK(pe_journal_counters_reset(j, "z."));
    CHECK_OK(pe_journal_commit(j));
    memset(&w, 0, sizeof w);
    CHECK_OK(pe_journal_counters_each(j, "", walk_fn, &w));
    CHECK_INT(w.n, 4);
    CHECK_STR(w.names[0], "grand_total");
    CHECK_STR(w.names[1], "x.count");
    CHECK_STR(w.names[2], "z");
    CHECK_STR(w.names[3], "zz");
    pe_journal_close(j);

    /* Durable across reopen. */
    j = open_j(path, NULL, NULL, true);
    CHECK_OK(pe_journal_stock_get(j, "C", &v));
    CHECK_INT(v, 9);
    CHECK_OK(pe_journal_counter_get(j, "grand_total", &v));
    CHECK_INT(v, 1000);
    pe_journal_close(j);
}

static void t_sale_lines(void)
{
    const char *path = pe_test_path(0, "j.db");
    struct pe_journal *j = open_j(path, STORE, TERMINAL, false);
    struct pe_sale_line l1 = {
        .line = 1, .item = "4006381333931", .qty = 3, .amount = 597, .tax_bp = 700};
    struct pe_sale_line l2 = {
        .line = 2, .item = "BANANA", .qty = 1250, .amount = 249, .tax_bp = 700};
    struct pe_sale_line got[4];
    int n = -1;

    CHECK_INT(pe_journal_sale_lines(j, 1, got, 4, &n), PE_ENOTFOUND);
    CHECK_OK(pe_journal_begin(j));
    CHECK_OK(pe_journal_sale_line_add(j, 1, &l2));
    CHECK_OK(pe_journal_sale_line_add(j, 1, &l1));
    CHECK_INT(pe_journal_sale_line_add(j, 1, &l1), PE_EEXIST);
    struct pe_sale_line bad = l1;
    bad.line = 0;
    CHECK_INT(pe_journal_sale_line_add(j, 1, &bad), PE_EINVAL);
    bad = l1;
    memset(bad.item, 'x', sizeof bad.item);
    CHECK_INT(pe_journal_sale_line_add(j, 1, &bad), PE_EINVAL);
    bad = l1;
    bad.returned = 4;
    CHECK_INT(pe_journal_sale_line_add(j, 1, &bad), PE_EINVAL);
    CHECK_OK(pe_journal_commit(j));

    CHECK_OK(pe_journal_sale_lines(j, 1, got, 4, &n));
    CHECK_INT(n, 2);
    CHECK_INT(got[0].line, 1);
    CHECK_STR(got[0].item, "4006381333931");
    CHECK_INT(got[0].qty, 3);
    CHECK_INT(got[0].amount, 597);
    CHECK_INT(got[0].tax_bp, 700);
    CHECK_INT(got[0].returned, 0);
    CHECK_INT(got[1].line, 2);
    CHECK_INT(got[1].qty, 1250);
    CHECK_OK(pe_journal_sale_lines(j, 1, got, 1, &n));
    CHECK_INT(n, 1);

    /* Returns: up to what was sold, never more. */
    CHECK_OK(pe_journal_begin(j));
    CHECK_OK(pe_journal_sale_line_return(j, 1, 1, 1));
    CHECK_OK(pe_journal_sale_line_return(j, 1, 1, 2));
    CHECK_INT(pe_journal_sale_line_return(j, 1, 1, 1), PE_ERANGE);
    CHECK_INT(pe_journal_sale_line_return(j, 1, 2, 1251), PE_ERANGE);
    CHECK_INT(pe_journal_sale_line_return(j, 1, 9, 1), PE_ENOTFOUND);
    CHECK_INT(pe_journal_sale_line_return(j, 2, 1, 1), PE_ENOTFOUND);
    CHECK_INT(pe_journal_sale_line_return(j, 1, 2, 0), PE_EINVAL);
    CHECK_OK(pe_journal_sale_line_return(j, 1, 2, 1250));
    CHECK_OK(pe_journal_commit(j));
    CHECK_OK(pe_journal_sale_lines(j, 1, got, 4, &n));
    CHECK_INT(got[0].returned, 3);
    CHECK_INT(got[1].returned, 1250);

    /* A rolled-back return is not recorded. */
    struct pe_sale_line l3 = {.line = 1, .item = "C", .qty = 2, .amount = 10};
    CHECK_OK(pe_journal_begin(j));
    CHECK_OK(pe_journal_sale_line_add(j, 5, &l3));
    CHECK_OK(pe_journal_commit(j));
    CHECK_OK(pe_journal_begin(j));
    CHECK_OK(pe_journal_sale_line_return(j, 5, 1, 2));
    pe_journal_rollback(j);
    pe_journal_close(j);
    j = open_j(path, NULL, NULL, true);
    CHECK_OK(pe_journal_sale_lines(j, 5, got, 4, &n));
    CHECK_INT(n, 1);
    CHECK_INT(got[0].returned, 0);
    pe_journal_close(j);
}

static void t_park(void)
{
    const char *path = pe_test_path(0, "j.db");
    struct pe_journal *j = open_j(path, STORE, TERMINAL, false);
    char *json = (char *)"sentinel";
    CHECK_OK(pe_journal_unpark(j, &json));
    CHECK(json == NULL);
    CHECK_OK(pe_journal_park(j, "{\"lines\":[1]}"));
    CHECK_OK(pe_journal_park(j, "{\"lines\":[1,2]}"));
    pe_journal_close(j);

    j = open_j(path, NULL, NULL, true);
    CHECK_OK(pe_journal_unpark(j, &json));
    CHECK_STR(json, "{\"lines\":[1,2]}");
    free(json);
    CHECK_OK(pe_journal_unpark(j, &json));
    CHECK(json == NULL);
    CHECK_OK(pe_journal_begin(j));
    CHECK_INT(pe_journal_unpark(j, &json), PE_ESTATE);
    pe_journal_rollback(j);
    pe_journal_close(j);
}

static void t_iterator(void)
{
    struct pe_journal *j = open_j(pe_test_path(0, "j.db"), STORE, TERMINAL, false);
    static const enum pe_event_type types[] = {PE_EV_SHIFT_OPEN, PE_EV_SALE,    PE_EV_RETURN,
                                               PE_EV_SALE,       PE_EV_NO_SALE, PE_EV_SALE};
    for (int i = 0; i < 6; i++)
        append_one(j, i + 1, types[i], 0);

    struct pe_journal_iter *it = NULL;
    struct pe_journal_rec r;
    char prev[PE_SHA256_HEXLEN], hash[PE_SHA256_HEXLEN];
    pe_event_genesis(STORE, TERMINAL, prev);
    CHECK_OK(pe_journal_iter_open(j, 1, NULL, &it));
    int n = 0;
    int rc;
    while ((rc = pe_journal_iter_next(it, &r)) == PE_OK) {
        n++;
        CHECK_INT(r.seq, n);
        CHECK_STR(r.type, pe_event_type_name(types[n - 1]));
        CHECK_INT(r.len, strlen(r.record));
        CHECK_OK(pe_event_verify(r.record, r.len, n, prev, NULL, hash, NULL, NULL, 0));
        CHECK_STR(r.hash, hash);
        memcpy(prev, hash, sizeof prev);
    }
    CHECK_INT(rc, PE_EEOF);
    CHECK_INT(n, 6);
    CHECK_INT(pe_journal_iter_next(it, &r), PE_EEOF);
    pe_journal_iter_close(it);

    CHECK_OK(pe_journal_iter_open(j, 1, "sale", &it));
    static const int64_t sales[] = {2, 4, 6};
    for (int i = 0; i < 3; i++) {
        CHECK_OK(pe_journal_iter_next(it, &r));
        CHECK_INT(r.seq, sales[i]);
        CHECK_STR(r.type, "sale");
    }
    CHECK_INT(pe_journal_iter_next(it, &r), PE_EEOF);
    pe_journal_iter_close(it);

    CHECK_OK(pe_journal_iter_open(j, 5, NULL, &it));
    CHECK_OK(pe_journal_iter_next(it, &r));
    CHECK_INT(r.seq, 5);
    CHECK_OK(pe_journal_iter_next(it, &r));
    CHECK_INT(r.seq, 6);
    CHECK_INT(pe_journal_iter_next(it, &r), PE_EEOF);
    pe_journal_iter_close(it);

    CHECK_OK(pe_journal_iter_open(j, 1, "z_report", &it));
    CHECK_INT(pe_journal_iter_next(it, &r), PE_EEOF);
    pe_journal_iter_close(it);
    pe_journal_iter_close(NULL);
    pe_journal_close(j);
}

static void t_second_writer(void)
{
    /* Two handles on one file: each reloads the tail when the other has written, so neither
     * chains from a stale hash. */
    const char *path = pe_test_path(0, "j.db");
    struct pe_journal *a = open_j(path, STORE, TERMINAL, false);
    struct pe_journal *b = open_j(path, STORE, TERMINAL, false);
    CHECK_INT(append_one(a, 1, PE_EV_SALE, 0), 1);
    CHECK_INT(append_one(b, 2, PE_EV_SALE, 0), 2);
    CHECK_INT(append_one(a, 3, PE_EV_SALE, 0), 3);
    int64_t seq;
    CHECK_OK(pe_journal_begin(b)); /* the reload happens under the write lock */
    pe_journal_rollback(b);
    CHECK_OK(pe_journal_last(b, &seq, NULL, NULL));
    CHECK_INT(seq, 3);
    verify_ok(b, 3);
    verify_ok(a, 3);
    pe_journal_close(a);
    pe_journal_close(b);
}

/* ---- tampering and damage ---- */

static struct pe_journal *journal_with(const char *path, int n, size_t pad)
{
    struct pe_journal *j = open_j(path, STORE, TERMINAL, false);
    for (int i = 1; i <= n; i++)
        append_one(j, i, i % 5 == 0 ? PE_EV_INVENTORY_ADJUST : PE_EV_SALE, pad);
    return j;
}

static void expect_bad(const char *path, int64_t bad_seq, const char *why_part)
{
    struct pe_journal *j = open_j(path, NULL, NULL, false);
    struct pe_journal_verify_result r;
    CHECK_INT(pe_journal_verify(j, &r), PE_ECHAIN);
    CHECK_INT(r.bad_seq, bad_seq);
    CHECK_INT(r.count, bad_seq - 1);
    char prefix[32];
    snprintf(prefix, sizeof prefix, "seq %lld: ", (long long)bad_seq);
    if (strncmp(r.why, prefix, strlen(prefix)) != 0 || !strstr(r.why, why_part))
        pe_test_fail(__FILE__, __LINE__, "why=\"%s\", expected \"%s...%s...\"", r.why, prefix,
                     why_part);
    pe_journal_close(j);
}

static void t_verify_edited_record(void)
{
    const char *path = pe_test_path(0, "j.db");
    pe_journal_close(journal_with(path, 10, 0));
    raw_flip_record(path, 5, 20); /* a byte inside the body */
    expect_bad(path, 5, "");
}

static void t_verify_edited_record_everywhere(void)
{
    /* Any byte position of a stored record. */
    const char *path = pe_test_path(0, "j.db");
    pe_journal_close(journal_with(path, 3, 0));
    char *rec = NULL;
    size_t len = 0;
    struct pe_journal *j = open_j(path, NULL, NULL, false);
    CHECK_OK(pe_journal_get(j, 2, &rec, &len));
    pe_journal_close(j);
    free(rec);
    for (size_t off = 0; off < len; off += 7) {
        raw_flip_record(path, 2, off);
        expect_bad(path, 2, "");
        raw_flip_record(path, 2, off); /* back as it was */
    }
    j = open_j(path, NULL, NULL, true);
    verify_ok(j, 3);
    pe_journal_close(j);
}

static void t_verify_gap(void)
{
    const char *path = pe_test_path(0, "j.db");
    pe_journal_close(journal_with(path, 10, 0));
    raw_sql(path, "DELETE FROM events WHERE seq = 5");
    expect_bad(path, 5, "missing");
    raw_sql(path, "DELETE FROM events WHERE seq = 1");
    expect_bad(path, 1, "missing");
}

static void t_verify_hash_column(void)
{
    const char *path = pe_test_path(0, "j.db");
    pe_journal_close(journal_with(path, 10, 0));
    raw_sql(path, "UPDATE events SET hash = '" /* 64 zeros */
                  "0000000000000000000000000000000000000000000000000000000000000000'"
                  " WHERE seq = 5");
    expect_bad(path, 5, "hash column");

    const char *p2 = pe_test_path(1, "j2.db");
    pe_journal_close(journal_with(p2, 6, 0));
    raw_sql(p2, "UPDATE events SET type = 'void' WHERE seq = 3");
    expect_bad(p2, 3, "type column");
    const char *p3 = pe_test_path(2, "j3.db");
    pe_journal_close(journal_with(p3, 6, 0));
    raw_sql(p3, "UPDATE events SET seq = 100 WHERE seq = 6");
    expect_bad(p3, 6, "missing");
}

/* Open with check=true, expecting PE_ECORRUPT and the recovery advice. */
static void expect_damaged(const char *path, const char *detail)
{
    struct pe_journal_opts o = {.check = true};
    struct pe_journal *j = NULL;
    char err[1024];
    CHECK_INT(pe_journal_open(path, &o, &j, err, sizeof err), PE_ECORRUPT);
    CHECK(j == NULL);
    char want[1024];
    snprintf(want, sizeof want, "journal %s is damaged (", path);
    CHECK(strncmp(err, want, strlen(want)) == 0);
    snprintf(want, sizeof want, "'posedge-ctl recover %s NEW.db'", path);
    CHECK(strstr(err, want) != NULL);
    snprintf(want, sizeof want, "'posedge-ctl verify %s'", path);
    CHECK(strstr(err, want) != NULL);
    if (detail && !strstr(err, detail))
        pe_test_fail(__FILE__, __LINE__, "err=\"%s\" does not name \"%s\"", err, detail);
}

static void t_check_refuses_tampered_tail(void)
{
    const char *path = pe_test_path(0, "j.db");
    pe_journal_close(journal_with(path, 12, 0));
    struct pe_journal *j = open_j(path, NULL, NULL, true);
    pe_journal_close(j);

    raw_flip_record(path, 12, 30);
    expect_damaged(path, "seq 12: ");
    /* Without check the open succeeds; full verification still finds it. */
    expect_bad(path, 12, "");
    raw_flip_record(path, 12, 30);
    j = open_j(path, NULL, NULL, true);
    pe_journal_close(j);

    /* The record before the last, and the hash column of the last. */
    raw_flip_record(path, 11, 40);
    expect_damaged(path, "seq 11: ");
    raw_flip_record(path, 11, 40);
    raw_sql(path, "UPDATE events SET hash = upper(hash) WHERE seq = 12");
    expect_damaged(path, NULL);
    raw_sql(path, "UPDATE events SET hash = lower(hash) WHERE seq = 12");
    raw_sql(path, "DELETE FROM events WHERE seq = 11");
    expect_damaged(path, "seq 11: missing");
}

static void t_check_refuses_garbage_pages(void)
{
    const char *path = pe_test_path(0, "j.db");
    pe_journal_close(journal_with(path, 300, 200));
    CHECK(!file_exists(pe_test_path(1, "j.db-wal")));
    long size = file_size(path);
    const long page = 4096;
    CHECK(size > 8 * page);

    /* Overwrite pages 2..N with pseudo-random bytes, as a failing flash chip might. */
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    uint32_t x = 2463534242u;
    CHECK(fseek(f, page, SEEK_SET) == 0);
    for (long i = page; i < size; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        fputc((int)(x & 0xff), f);
    }
    CHECK(fclose(f) == 0);
    expect_damaged(path, NULL);

    /* Whole middle pages of garbage: the b-tree check sees them. */
    const char *p2 = pe_test_path(2, "j2.db");
    pe_journal_close(journal_with(p2, 300, 200));
    f = fopen(p2, "r+b");
    CHECK(fseek(f, 5 * page, SEEK_SET) == 0);
    for (long i = 0; i < 3 * page; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        fputc((int)(x & 0xff), f);
    }
    CHECK(fclose(f) == 0);
    expect_damaged(p2, "quick_check: ");

    /* Garbage inside one record's bytes may leave the b-tree well-formed; then the open
     * succeeds (it checks only the tail) and full verification names the record. */
    const char *p4 = pe_test_path(1, "j4.db");
    pe_journal_close(journal_with(p4, 300, 200));
    long size4 = file_size(p4);
    char *img = malloc((size_t)size4);
    f = fopen(p4, "r+b");
    CHECK(fread(img, 1, (size_t)size4, f) == (size_t)size4);
    static const char needle[] = "\"n\":150,\"pad\":\"";
    char *hit = NULL;
    for (long i = 0; !hit && i + (long)sizeof needle - 1 <= size4; i++)
        if (memcmp(img + i, needle, sizeof needle - 1) == 0)
            hit = img + i;
    CHECK(hit != NULL);
    CHECK(fseek(f, (long)(hit - img) + 2, SEEK_SET) == 0);
    for (int i = 0; i < 100; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        fputc((int)(x & 0xff), f);
    }
    CHECK(fclose(f) == 0);
    free(img);
    struct pe_journal_opts o = {.check = true};
    struct pe_journal *j = NULL;
    char err[1024];
    int rc = pe_journal_open(p4, &o, &j, err, sizeof err);
    if (rc == PE_OK) {
        struct pe_journal_verify_result r;
        CHECK_INT(pe_journal_verify(j, &r), PE_ECHAIN);
        CHECK_INT(r.bad_seq, 150);
        pe_journal_close(j);
    } else {
        expect_damaged(p4, NULL);
    }

    /* A file whose header is destroyed is not a database any more. */
    const char *p3 = pe_test_path(3, "j3.db");
    pe_journal_close(journal_with(p3, 3, 0));
    f = fopen(p3, "r+b");
    fputs("garbage garbage garbage garbage", f);
    CHECK(fclose(f) == 0);
    expect_damaged(p3, NULL);
}

static void t_quota(void)
{
    const char *path = pe_test_path(0, "j.db");
    struct pe_journal_opts o = {.store = STORE, .terminal = TERMINAL, .max_bytes = 96 * 1024};
    struct pe_journal *j = NULL;
    char err[512];
    CHECK_OK(pe_journal_open(path, &o, &j, err, sizeof err));
    int64_t committed = 0, qty = 0;
    int rc = PE_OK;
    for (int i = 1; i <= 1000 && rc == PE_OK; i++) {
        struct pe_event_meta m;
        struct pe_journal_appended a;
        meta_of(&m, i, PE_EV_SALE);
        cJSON *b = body_of(i, 1500);
        CHECK_OK(pe_journal_begin(j));
        rc = pe_journal_append(j, &m, b, &a);
        if (rc == PE_OK)
            rc = pe_journal_stock_add(j, "A", -1, &qty);
        if (rc == PE_OK)
            rc = pe_journal_commit(j);
        else
            pe_journal_rollback(j);
        if (rc == PE_OK)
            committed++;
        cJSON_Delete(b);
    }
    CHECK_INT(rc, PE_EFULL);
    CHECK(committed > 5);
    /* Full is not broken: the handle still reads, the chain is intact, the refused event left
     * nothing behind, and it keeps refusing rather than evicting anything. */
    int64_t seq;
    CHECK_OK(pe_journal_last(j, &seq, NULL, NULL));
    CHECK_INT(seq, committed);
    CHECK_OK(pe_journal_stock_get(j, "A", &qty));
    CHECK_INT(qty, -committed);
    verify_ok(j, committed);
    struct pe_event_meta m;
    struct pe_journal_appended a;
    meta_of(&m, 5000, PE_EV_SALE);
    cJSON *b = body_of(5000, 3000);
    CHECK_OK(pe_journal_begin(j));
    CHECK_INT(pe_journal_append(j, &m, b, &a), PE_EFULL);
    /* SQLite has ended the transaction by itself; later writes of the same event must not run
     * on their own in autocommit mode (a stock movement without its sale), and commit says
     * the event failed. */
    CHECK_INT(pe_journal_stock_add(j, "A", -1000, &qty), PE_EFULL);
    CHECK_INT(pe_journal_counter_add(j, "sales", 1), PE_EFULL);
    CHECK_INT(pe_journal_commit(j), PE_EFULL);
    CHECK_OK(pe_journal_stock_get(j, "A", &qty));
    CHECK_INT(qty, -committed);
    CHECK_OK(pe_journal_counter_get(j, "sales", &qty));
    CHECK_INT(qty, 0);
    CHECK_OK(pe_journal_last(j, &seq, NULL, NULL));
    CHECK_INT(seq, committed);
    pe_journal_close(j);
    cJSON_Delete(b);

    /* Without the quota the journal takes the event, after the intact earlier ones. */
    j = open_j(path, NULL, NULL, true);
    verify_ok(j, committed);
    CHECK_INT(append_one(j, 5000, PE_EV_SALE, 3000), committed + 1);
    pe_journal_close(j);
}

/* ---- the fault loop ---- */

#define TEMPLATE_EVENTS 3

/* One event the way the till writes it: the row, a stock movement, a counter, a sale line. */
static int till_event(struct pe_journal *j, int n)
{
    struct pe_event_meta m;
    struct pe_journal_appended a;
    struct pe_sale_line l = {.line = 1, .item = "SKU1", .qty = 1, .amount = 199, .tax_bp = 700};
    int64_t after;
    meta_of(&m, n, PE_EV_SALE);
    cJSON *b = body_of(n, 300);
    int rc = pe_journal_begin(j);
    if (rc)
        goto out;
    rc = pe_journal_append(j, &m, b, &a);
    if (rc == PE_OK)
        rc = pe_journal_stock_add(j, "SKU1", -1, &after);
    if (rc == PE_OK)
        rc = pe_journal_counter_add(j, "z.count", 1);
    if (rc == PE_OK)
        rc = pe_journal_sale_line_add(j, a.seq, &l);
    if (rc == PE_OK)
        rc = pe_journal_commit(j);
    else
        pe_journal_rollback(j);
out:
    cJSON_Delete(b);
    return rc;
}

static void make_template(const char *path)
{
    struct pe_journal *j = open_j(path, STORE, TERMINAL, false);
    for (int i = 1; i <= TEMPLATE_EVENTS; i++)
        CHECK_OK(till_event(j, i));
    pe_journal_close(j);
}

/* The state must be exactly that of `events` whole till events: never half of one. */
static void check_consistent(struct pe_journal *j, int64_t events)
{
    int64_t seq, v;
    CHECK_OK(pe_journal_last(j, &seq, NULL, NULL));
    CHECK_INT(seq, events);
    verify_ok(j, events);
    CHECK_OK(pe_journal_stock_get(j, "SKU1", &v));
    CHECK_INT(v, -events);
    CHECK_OK(pe_journal_counter_get(j, "z.count", &v));
    CHECK_INT(v, events);
    for (int64_t s = 1; s <= events + 1; s++) {
        struct pe_sale_line l;
        int n = 0;
        CHECK_INT(pe_journal_sale_lines(j, s, &l, 1, &n), s <= events ? PE_OK : PE_ENOTFOUND);
    }
}

static struct pe_journal *open_fault(const char *path)
{
    struct pe_journal_opts o = {.vfs = "pe-fault"};
    struct pe_journal *j = NULL;
    char err[512];
    int rc = pe_journal_open(path, &o, &j, err, sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "open via pe-fault: %s (%s)", pe_errname(rc), err);
    return j;
}

/* Reopen with the tail check and full verification; returns how many events are there, which
 * must be lo or hi. */
static int64_t reopen_checked(const char *path, int64_t lo, int64_t hi)
{
    struct pe_journal *j = open_j(path, NULL, NULL, true);
    int64_t seq;
    CHECK_OK(pe_journal_last(j, &seq, NULL, NULL));
    CHECK(seq == lo || seq == hi);
    check_consistent(j, seq);
    pe_journal_close(j);
    return seq;
}

/* The error an armed fault of op/err should surface as. */
static bool expected_failure(int rc, enum pe_fault_op op, int err)
{
    if (op == PE_FAULT_SYNC)
        return rc == PE_EIO;
    return rc == err;
}

/*
 * Phase A: fail the nth op while the handle runs one till event, then retry the same event on
 * the same handle, close, and check the file. Returns whether the fault triggered.
 */
static bool fault_same_handle(const char *tpl, const char *path, enum pe_fault_op op, int err,
                              int64_t nth)
{
    remove_db(path);
    copy_file(tpl, path);
    struct pe_journal *j = open_fault(path);
    pe_faultvfs_arm(op, nth, err, false);
    int rc = till_event(j, TEMPLATE_EVENTS + 1);
    bool triggered = pe_faultvfs_failures() > 0;
    pe_faultvfs_disarm();
    if (rc != PE_OK && !expected_failure(rc, op, err))
        pe_test_fail(__FILE__, __LINE__, "op %d err %s nth %lld: event failed with %s", op,
                     pe_errname(err), (long long)nth, pe_errname(rc));
    if (!triggered)
        CHECK_OK(rc);

    /* The handle is consistent with what it reports and still works. */
    int64_t seq;
    CHECK_OK(pe_journal_last(j, &seq, NULL, NULL));
    CHECK_INT(seq, rc == PE_OK ? TEMPLATE_EVENTS + 1 : TEMPLATE_EVENTS);
    check_consistent(j, seq);
    int retry = till_event(j, TEMPLATE_EVENTS + 1);
    if (retry != PE_OK && retry != PE_EEXIST)
        pe_test_fail(__FILE__, __LINE__, "op %d err %s nth %lld: retry failed with %s", op,
                     pe_errname(err), (long long)nth, pe_errname(retry));
    CHECK_INT(retry, rc == PE_OK ? PE_EEXIST : PE_OK);
    check_consistent(j, TEMPLATE_EVENTS + 1);
    CHECK_OK(till_event(j, TEMPLATE_EVENTS + 2));
    pe_journal_close(j);

    reopen_checked(path, TEMPLATE_EVENTS + 2, TEMPLATE_EVENTS + 2);
    return triggered;
}

/*
 * Phase B: the same failure, then the process dies without closing (the WAL is left as the
 * failure left it). The reopened journal holds the event whole or not at all, and the till's
 * retry of the same event then stores it exactly once.
 */
static int64_t fault_then_crash(const char *tpl, const char *path, enum pe_fault_op op, int err,
                                int64_t nth)
{
    remove_db(path);
    copy_file(tpl, path);
    int report[2];
    CHECK(pipe(report) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(report[0]);
        struct pe_journal *j = open_fault(path);
        pe_faultvfs_arm(op, nth, err, false);
        int rc = till_event(j, TEMPLATE_EVENTS + 1);
        char ok = rc == PE_OK || expected_failure(rc, op, err) ? 'y' : 'n';
        if (write(report[1], &ok, 1) != 1)
            _exit(1);
        for (;;)
            pause(); /* wait, journal open, for the kill -9 */
    }
    close(report[1]);
    char ok = 0;
    CHECK(read(report[0], &ok, 1) == 1);
    close(report[0]);
    CHECK(kill(pid, SIGKILL) == 0);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK(ok == 'y');

    int64_t events = reopen_checked(path, TEMPLATE_EVENTS, TEMPLATE_EVENTS + 1);
    struct pe_journal *j = open_j(path, NULL, NULL, true);
    int retry = till_event(j, TEMPLATE_EVENTS + 1);
    CHECK_INT(retry, events == TEMPLATE_EVENTS ? PE_OK : PE_EEXIST);
    check_consistent(j, TEMPLATE_EVENTS + 1);
    pe_journal_close(j);
    return events;
}

static void fault_loop(enum pe_fault_op op, int err)
{
    const char *tpl = pe_test_path(0, "template.db");
    const char *path = pe_test_path(1, "work.db");
    CHECK_OK(pe_faultvfs_register());
    CHECK_OK(pe_faultvfs_register()); /* idempotent */
    make_template(tpl);
    pe_log_set_level(PE_LOG_OFF); /* every iteration logs the injected error */

    int64_t nth, triggered = 0, survived = 0;
    for (nth = 1; nth <= 500; nth++) {
        if (!fault_same_handle(tpl, path, op, err, nth))
            break;
        triggered++;
        /* Counts failures after which the event was durable anyway (the ambiguous commit the
         * idempotent retry exists for). */
        survived += fault_then_crash(tpl, path, op, err, nth) == TEMPLATE_EVENTS + 1;
    }
    CHECK(nth <= 500);
    CHECK(triggered >= 1); /* the loop did inject faults */
    pe_log_set_level(PE_LOG_INFO);
    printf("    # op=%d err=%s: %lld fault points, event durable after crash in %lld\n", op,
           pe_errname(err), (long long)triggered, (long long)survived);
}

static void t_fault_write_full(void)
{
    fault_loop(PE_FAULT_WRITE, PE_EFULL);
}

static void t_fault_write_eio(void)
{
    fault_loop(PE_FAULT_WRITE, PE_EIO);
}

static void t_fault_sync_full(void)
{
    fault_loop(PE_FAULT_SYNC, PE_EFULL);
}

static void t_fault_sync_eio(void)
{
    fault_loop(PE_FAULT_SYNC, PE_EIO);
}

static void t_fault_sticky(void)
{
    /* The disk stays full for several commits, then space is freed. */
    const char *tpl = pe_test_path(0, "template.db");
    const char *path = pe_test_path(1, "work.db");
    CHECK_OK(pe_faultvfs_register());
    make_template(tpl);
    copy_file(tpl, path);
    pe_log_set_level(PE_LOG_OFF);
    struct pe_journal *j = open_fault(path);
    pe_faultvfs_arm(PE_FAULT_WRITE, 1, PE_EFULL, true);
    for (int attempt = 0; attempt < 4; attempt++) {
        CHECK_INT(till_event(j, TEMPLATE_EVENTS + 1), PE_EFULL);
        check_consistent(j, TEMPLATE_EVENTS);
    }
    CHECK(pe_faultvfs_failures() >= 4);
    CHECK(pe_faultvfs_calls() >= pe_faultvfs_failures());
    pe_faultvfs_disarm();
    CHECK_OK(till_event(j, TEMPLATE_EVENTS + 1));
    CHECK_OK(till_event(j, TEMPLATE_EVENTS + 2));
    check_consistent(j, TEMPLATE_EVENTS + 2);

    /* Syncs failing for a while too. */
    pe_faultvfs_arm(PE_FAULT_ANY, 2, PE_EIO, true);
    for (int attempt = 0; attempt < 3; attempt++) {
        int rc = till_event(j, TEMPLATE_EVENTS + 3);
        CHECK_INT(rc, PE_EIO);
    }
    pe_faultvfs_disarm();
    CHECK_OK(till_event(j, TEMPLATE_EVENTS + 3));
    pe_journal_close(j);
    pe_log_set_level(PE_LOG_INFO);

    j = open_j(path, NULL, NULL, true);
    check_consistent(j, TEMPLATE_EVENTS + 3);
    pe_journal_close(j);
}

static void t_fault_counting(void)
{
    /* The shim counts only while armed and only matching calls. */
    const char *path = pe_test_path(0, "j.db");
    CHECK_OK(pe_faultvfs_register());
    make_template(path);
    struct pe_journal *j = open_fault(path);
    pe_faultvfs_arm(PE_FAULT_SYNC, 1000, PE_EIO, false);
    CHECK_OK(till_event(j, TEMPLATE_EVENTS + 1));
    int64_t syncs = pe_faultvfs_calls();
    CHECK(syncs >= 1); /* synchronous=FULL: the commit synced the WAL */
    CHECK_INT(pe_faultvfs_failures(), 0);
    pe_faultvfs_arm(PE_FAULT_WRITE, 1000, PE_EIO, false);
    CHECK_OK(till_event(j, TEMPLATE_EVENTS + 2));
    CHECK(pe_faultvfs_calls() >= 4); /* at least a frame per table touched */
    pe_faultvfs_disarm();
    int64_t before = pe_faultvfs_calls();
    CHECK_OK(till_event(j, TEMPLATE_EVENTS + 3));
    CHECK_INT(pe_faultvfs_calls(), before);
    pe_journal_close(j);
}


/* ---- the applied catalog ---- */

static const char *const BC1[] = {"4006381333931", "5901234123457"};
static const char *const BC2[] = {"2145427049688"};

struct catwalk {
    char ids[256];
};

static int walk_row(const char *id, const char *doc, void *ctx)
{
    struct catwalk *w = ctx;
    size_t n = strlen(w->ids);
    snprintf(w->ids + n, sizeof w->ids - n, "%s%s=%s", n ? "," : "", id, doc);
    return 0;
}

static void put_state(struct pe_journal *j, int64_t version)
{
    struct pe_journal_catalog c = {.version = version, .items = 2, .promotions = 1,
                                   .applied_ms = 1795000000000LL + version};
    snprintf(c.hash, sizeof c.hash, "%064lld", (long long)version);
    snprintf(c.currency, sizeof c.currency, "EUR");
    CHECK_OK(pe_journal_catalog_set(j, &c));
}

static void t_catalog_tables(void)
{
    const char *path = pe_test_path(0, "j.db");
    struct pe_journal *j = open_j(path, STORE, TERMINAL, false);
    struct pe_journal_catalog c;
    char *doc = NULL, owner[PE_CATALOG_ID_MAX] = "";
    CHECK_INT(pe_journal_catalog_get(j, &c), PE_ENOTFOUND);
    /* Writes only inside a transaction. */
    CHECK_INT(pe_journal_catalog_put_item(j, "A", BC1, 2, "{\"a\":1}", NULL), PE_ESTATE);
    CHECK_INT(pe_journal_catalog_clear(j), PE_ESTATE);
    CHECK_OK(pe_journal_begin(j));
    CHECK_OK(pe_journal_catalog_put_item(j, "A", BC1, 2, "{\"a\":1}", owner));
    CHECK_OK(pe_journal_catalog_put_item(j, "B", BC2, 1, "{\"b\":1}", owner));
    CHECK_OK(pe_journal_catalog_put_promotion(j, "P", "{\"p\":1}"));
    /* A barcode of another item: refused, naming it; nothing of B changes. */
    CHECK_INT(pe_journal_catalog_put_item(j, "B", BC1 + 1, 1, "{\"b\":2}", owner), PE_EEXIST);
    CHECK_STR(owner, "A");
    CHECK_INT(pe_journal_catalog_put_item(j, "C D", BC2, 1, "{}", owner), PE_EINVAL);
    put_state(j, 7);
    CHECK_OK(pe_journal_commit(j));
    CHECK_OK(pe_journal_catalog_get(j, &c));
    CHECK_INT(c.version, 7);
    CHECK_INT(c.items, 2);
    CHECK_STR(c.currency, "EUR");
    /* By any barcode, or by id. */
    CHECK_OK(pe_journal_catalog_item(j, "5901234123457", &doc, NULL));
    CHECK_STR(doc, "{\"a\":1}");
    free(doc);
    CHECK_OK(pe_journal_catalog_item(j, "B", &doc, NULL));
    CHECK_STR(doc, "{\"b\":1}");
    free(doc);
    CHECK_INT(pe_journal_catalog_item(j, "Z", &doc, NULL), PE_ENOTFOUND);
    CHECK(doc == NULL);
    struct catwalk w = {""};
    CHECK_OK(pe_journal_catalog_each(j, false, walk_row, &w));
    CHECK_STR(w.ids, "A={\"a\":1},B={\"b\":1}");

    /* A rolled-back replacement leaves everything as it was. */
    CHECK_OK(pe_journal_begin(j));
    CHECK_OK(pe_journal_catalog_clear(j));
    CHECK_OK(pe_journal_catalog_put_item(j, "B", BC1, 2, "{\"b\":3}", owner));
    put_state(j, 8);
    CHECK_INT(pe_journal_catalog_item(j, "A", &doc, NULL), PE_ENOTFOUND); /* seen inside */
    pe_journal_rollback(j);
    CHECK_OK(pe_journal_catalog_get(j, &c));
    CHECK_INT(c.version, 7);
    CHECK_OK(pe_journal_catalog_item(j, "4006381333931", &doc, NULL));
    CHECK_STR(doc, "{\"a\":1}");
    free(doc);

    /* An item moves its barcode to another in one transaction; deletes of what is not there
     * are no error. */
    CHECK_OK(pe_journal_begin(j));
    CHECK_OK(pe_journal_catalog_delete_item(j, "A"));
    CHECK_OK(pe_journal_catalog_delete_item(j, "nothing"));
    CHECK_OK(pe_journal_catalog_put_item(j, "B", BC1, 2, "{\"b\":4}", owner));
    CHECK_OK(pe_journal_catalog_delete_promotion(j, "P"));
    CHECK_OK(pe_journal_commit(j));
    CHECK_OK(pe_journal_catalog_item(j, "4006381333931", &doc, NULL));
    CHECK_STR(doc, "{\"b\":4}");
    free(doc);
    CHECK_INT(pe_journal_catalog_item(j, "2145427049688", &doc, NULL), PE_ENOTFOUND);
    memset(&w, 0, sizeof w);
    CHECK_OK(pe_journal_catalog_each(j, true, walk_row, &w));
    CHECK_STR(w.ids, "");

    /* The stage: its own transactions, kept across a reopen, refused inside another. */
    CHECK_OK(pe_journal_catalog_stage_put(j, 1, "{\"chunk\":1}", 11));
    CHECK_OK(pe_journal_catalog_stage_put(j, 0, "{\"chunk\":0}", 11));
    CHECK_OK(pe_journal_catalog_stage_put(j, 1, "{\"chunk\":9}", 11));
    CHECK_OK(pe_journal_begin(j));
    CHECK_INT(pe_journal_catalog_stage_put(j, 2, "{}", 2), PE_ESTATE);
    pe_journal_rollback(j);
    pe_journal_close(j);
    j = open_j(path, STORE, TERMINAL, true);
    size_t len = 0;
    CHECK_OK(pe_journal_catalog_stage_get(j, 1, &doc, &len));
    CHECK_STR(doc, "{\"chunk\":9}");
    CHECK_INT(len, 11);
    free(doc);
    CHECK_INT(pe_journal_catalog_stage_get(j, 2, &doc, &len), PE_ENOTFOUND);
    CHECK_OK(pe_journal_catalog_stage_clear(j));
    CHECK_INT(pe_journal_catalog_stage_get(j, 0, &doc, &len), PE_ENOTFOUND);
    verify_ok(j, 0);
    pe_journal_close(j);
}

/* A journal of schema 1 (before the catalog): read-only it opens without a catalog; for
 * writing it gains the tables, its events untouched. */
static void t_catalog_migration(void)
{
    const char *path = pe_test_path(0, "old.db");
    struct pe_journal *j = open_j(path, STORE, TERMINAL, false);
    append_one(j, 1, PE_EV_SALE, 0);
    append_one(j, 2, PE_EV_NO_SALE, 0);
    pe_journal_close(j);
    raw_sql(path, "DROP TABLE catalog_items; DROP TABLE catalog_barcodes;"
                  " DROP TABLE catalog_promotions; DROP TABLE catalog_state;"
                  " DROP TABLE catalog_stage; PRAGMA user_version = 1;");
    struct pe_journal_opts ro = {.readonly = true, .check = true};
    char err[512];
    CHECK_OK(pe_journal_open(path, &ro, &j, err, sizeof err));
    struct pe_journal_catalog c;
    char *doc = NULL;
    CHECK_INT(pe_journal_catalog_get(j, &c), PE_ENOTFOUND);
    CHECK_INT(pe_journal_catalog_item(j, "A", &doc, NULL), PE_ENOTFOUND);
    struct catwalk w = {""};
    CHECK_INT(pe_journal_catalog_each(j, false, walk_row, &w), PE_ENOTFOUND);
    verify_ok(j, 2);
    pe_journal_close(j);
    j = open_j(path, STORE, TERMINAL, true);
    verify_ok(j, 2);
    CHECK_INT(pe_journal_catalog_get(j, &c), PE_ENOTFOUND);
    CHECK_OK(pe_journal_begin(j));
    CHECK_OK(pe_journal_catalog_put_item(j, "A", BC1, 2, "{}", NULL));
    put_state(j, 1);
    CHECK_OK(pe_journal_commit(j));
    CHECK_OK(pe_journal_catalog_get(j, &c));
    CHECK_INT(c.version, 1);
    pe_journal_close(j);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(st, 0), 2);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The Nth write of a catalog replacement fails, for every N: the catalog is the old one or the
 * new one, never a mix, and the handle goes on. */
static void t_catalog_faults(void)
{
    CHECK_OK(pe_faultvfs_register());
    const char *path = pe_test_path(0, "f.db");
    struct pe_journal_opts o = {.store = STORE, .terminal = TERMINAL, .vfs = "pe-fault"};
    struct pe_journal *j = NULL;
    char err[512], name[16], bc[24];
    CHECK_OK(pe_journal_open(path, &o, &j, err, sizeof err));
    CHECK_OK(pe_journal_begin(j));
    CHECK_OK(pe_journal_catalog_put_item(j, "OLD", BC2, 1, "{\"old\":1}", NULL));
    put_state(j, 1);
    CHECK_OK(pe_journal_commit(j));
    int failed = 0;
    for (int64_t nth = 1; nth < 2000; nth++) {
        pe_faultvfs_arm(nth % 2 ? PE_FAULT_WRITE : PE_FAULT_SYNC, (nth + 1) / 2, PE_EIO, false);
        int rc = pe_journal_begin(j);
        if (!rc)
            rc = pe_journal_catalog_clear(j);
        /* Enough items to spill pages: the transaction writes more than one. */
        for (int i = 0; i < 300 && !rc; i++) {
            snprintf(name, sizeof name, "N%d", i);
            snprintf(bc, sizeof bc, "200%09d", i);
            bc[12] = (char)('0' + pe_ean13_check_digit(bc));
            bc[13] = '\0';
            const char *bcs[] = {bc};
            rc = pe_journal_catalog_put_item(j, name, bcs, 1,
                                             "{\"new\":\"................................\"}",
                                             NULL);
        }
        if (!rc) {
            struct pe_journal_catalog c = {.version = 2, .items = 300, .applied_ms = 1};
            snprintf(c.hash, sizeof c.hash, "%064d", 2);
            snprintf(c.currency, sizeof c.currency, "EUR");
            rc = pe_journal_catalog_set(j, &c);
        }
        if (!rc)
            rc = pe_journal_commit(j);
        else
            pe_journal_rollback(j);
        bool tripped = pe_faultvfs_failures() > 0;
        pe_faultvfs_disarm();
        struct pe_journal_catalog c;
        char *doc = NULL;
        CHECK_OK(pe_journal_catalog_get(j, &c));
        if (c.version == 1) {
            CHECK(rc != PE_OK);
            CHECK_OK(pe_journal_catalog_item(j, "OLD", &doc, NULL));
            free(doc);
            CHECK_INT(pe_journal_catalog_item(j, "N0", &doc, NULL), PE_ENOTFOUND);
            failed++;
        } else {
            CHECK_INT(c.version, 2);
            CHECK_INT(pe_journal_catalog_item(j, "OLD", &doc, NULL), PE_ENOTFOUND);
            CHECK_OK(pe_journal_catalog_item(j, "N299", &doc, NULL));
        }
        free(doc);
        if (c.version == 2) {
            /* Back to the old one for the next round. */
            CHECK_OK(pe_journal_begin(j));
            CHECK_OK(pe_journal_catalog_clear(j));
            CHECK_OK(pe_journal_catalog_put_item(j, "OLD", BC2, 1, "{\"old\":1}", NULL));
            put_state(j, 1);
            CHECK_OK(pe_journal_commit(j));
            if (!tripped && nth % 2 == 0)
                break; /* neither the Nth write nor the Nth sync is reached any more */
        }
    }
    CHECK(failed >= 2);
    pe_journal_close(j);
    /* Reopened with the checks: intact. */
    j = open_j(path, STORE, TERMINAL, true);
    pe_journal_close(j);
}

/* ---- pruning ---- */

#define PRUNE_EVENTS 10
#define PRUNE_Z 6

/* Events 1..PRUNE_EVENTS, a Z report at PRUNE_Z, all delivered. */
static void make_prune_template(const char *path)
{
    struct pe_journal *j = open_j(path, STORE, TERMINAL, false);
    for (int i = 1; i <= PRUNE_EVENTS; i++)
        append_one(j, i, i == PRUNE_Z ? PE_EV_Z_REPORT : PE_EV_SALE, 0);
    pe_journal_close(j);
}

static void hash_of(struct pe_journal *j, int64_t seq, char out[PE_SHA256_HEXLEN])
{
    struct pe_journal_iter *it = NULL;
    struct pe_journal_rec r;
    CHECK_OK(pe_journal_iter_open(j, seq, NULL, &it));
    CHECK_OK(pe_journal_iter_next(it, &r));
    CHECK_INT(r.seq, seq);
    memcpy(out, r.hash, PE_SHA256_HEXLEN);
    pe_journal_iter_close(it);
}

/* The journal holds seq first..last after the anchor first-1, and verifies from it. */
static void check_pruned(struct pe_journal *j, int64_t first, int64_t last)
{
    struct pe_journal_verify_result r;
    struct pe_journal_anchor a;
    int64_t seq;
    int rc = pe_journal_verify(j, &r);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "verify: %s bad_seq=%lld why=%s", pe_errname(rc),
                     (long long)r.bad_seq, r.why);
    CHECK_INT(r.anchor_seq, first - 1);
    CHECK_INT(r.count, last - first + 1);
    CHECK_INT(r.last_seq, last);
    CHECK_OK(pe_journal_anchor(j, &a));
    CHECK_INT(a.seq, first - 1);
    pe_journal_anchor_free(&a);
    CHECK_OK(pe_journal_last(j, &seq, NULL, NULL));
    CHECK_INT(seq, last);
}

static void t_prune(void)
{
    const char *path = pe_test_path(0, "prune.db");
    char h[PE_SHA256_HEXLEN], why[200];
    make_prune_template(path);
    struct pe_journal *j = open_j(path, NULL, NULL, false);
    hash_of(j, PRUNE_Z, h);
    /* Not delivered, then the open period, then not the archived record: refused, kept. */
    CHECK_INT(pe_journal_prune(j, PRUNE_Z, h, why, sizeof why), PE_ESTATE);
    CHECK(strstr(why, "not delivered") != NULL);
    CHECK_OK(pe_journal_uplink_set(j, PRUNE_EVENTS, PRUNE_EVENTS));
    CHECK_INT(pe_journal_prune(j, PRUNE_Z + 1, h, why, sizeof why), PE_ESTATE);
    CHECK(strstr(why, "open period") != NULL);
    CHECK_INT(pe_journal_prune(j, PRUNE_Z - 1, h, why, sizeof why), PE_ECHAIN);
    CHECK_INT(pe_journal_prune(j, PRUNE_EVENTS + 1, h, why, sizeof why), PE_ERANGE);
    verify_ok(j, PRUNE_EVENTS);
    /* Through the Z report: the rest verifies from the anchor, also after a checked reopen. */
    CHECK_OK(pe_journal_prune(j, PRUNE_Z, h, why, sizeof why));
    check_pruned(j, PRUNE_Z + 1, PRUNE_EVENTS);
    CHECK_INT(pe_journal_prune(j, PRUNE_Z, h, why, sizeof why), PE_ERANGE);
    char *rec = NULL;
    size_t len;
    CHECK_INT(pe_journal_get(j, 1, &rec, &len), PE_ENOTFOUND);
    pe_journal_close(j);
    j = open_j(path, NULL, NULL, true);
    check_pruned(j, PRUNE_Z + 1, PRUNE_EVENTS);
    /* Appends continue the chain; a second period closes and goes, to the last record. */
    append_one(j, PRUNE_EVENTS + 1, PE_EV_SALE, 0);
    append_one(j, PRUNE_EVENTS + 2, PE_EV_Z_REPORT, 0);
    CHECK_OK(pe_journal_uplink_set(j, PRUNE_EVENTS + 2, PRUNE_EVENTS + 2));
    hash_of(j, PRUNE_EVENTS + 2, h);
    CHECK_OK(pe_journal_prune(j, PRUNE_EVENTS + 2, h, why, sizeof why));
    check_pruned(j, PRUNE_EVENTS + 3, PRUNE_EVENTS + 2); /* empty: the anchor is the tail */
    pe_journal_close(j);
    j = open_j(path, NULL, NULL, true);
    check_pruned(j, PRUNE_EVENTS + 3, PRUNE_EVENTS + 2);
    append_one(j, PRUNE_EVENTS + 3, PE_EV_SALE, 0);
    check_pruned(j, PRUNE_EVENTS + 3, PRUNE_EVENTS + 3);
    pe_journal_close(j);
    /* An edited anchor breaks the chain at the record after it. */
    raw_sql(path, "UPDATE meta SET value = replace(value, '\"hash\":\"', '\"hash\":\"0') "
                  "WHERE key = 'anchor'");
    j = open_j(path, NULL, NULL, false);
    struct pe_journal_verify_result r;
    CHECK(pe_journal_verify(j, &r) == PE_ECHAIN);
    pe_journal_close(j);
}

/* Fail the nth write or sync of a prune, then close (or, crash: kill -9); the file must hold
 * the old anchor and every record, or the new anchor and the rest. Returns whether it triggered
 * and sets *pruned. */
static bool prune_fault(const char *tpl, const char *path, enum pe_fault_op op, int err,
                        int64_t nth, bool crash, bool *pruned)
{
    remove_db(path);
    copy_file(tpl, path);
    int report[2];
    CHECK(pipe(report) == 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(report[0]);
        struct pe_journal *j = open_fault(path);
        char h[PE_SHA256_HEXLEN], why[200];
        hash_of(j, PRUNE_Z, h);
        pe_faultvfs_arm(op, nth, err, false);
        int rc = pe_journal_prune(j, PRUNE_Z, h, why, sizeof why);
        char ok = pe_faultvfs_failures() > 0 ? 't' : 'n';
        pe_faultvfs_disarm();
        if (rc != PE_OK && !expected_failure(rc, op, err))
            ok = 'x';
        if (write(report[1], &ok, 1) != 1)
            _exit(1);
        if (!crash) {
            pe_journal_close(j);
            _exit(0);
        }
        for (;;)
            pause();
    }
    close(report[1]);
    char ok = 0;
    CHECK(read(report[0], &ok, 1) == 1);
    close(report[0]);
    if (crash)
        CHECK(kill(pid, SIGKILL) == 0);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(ok != 'x');
    struct pe_journal *j = open_j(path, NULL, NULL, true);
    struct pe_journal_anchor a;
    CHECK_OK(pe_journal_anchor(j, &a));
    *pruned = a.seq == PRUNE_Z;
    if (*pruned)
        check_pruned(j, PRUNE_Z + 1, PRUNE_EVENTS);
    else
        verify_ok(j, PRUNE_EVENTS);
    pe_journal_anchor_free(&a);
    pe_journal_close(j);
    return ok == 't';
}

static void t_prune_faults(void)
{
    const char *tpl = pe_test_path(0, "prune-template.db");
    const char *path = pe_test_path(1, "prune-work.db");
    CHECK_OK(pe_faultvfs_register());
    make_prune_template(tpl);
    struct pe_journal *j = open_j(tpl, NULL, NULL, false);
    CHECK_OK(pe_journal_uplink_set(j, PRUNE_EVENTS, PRUNE_EVENTS));
    pe_journal_close(j);
    pe_log_set_level(PE_LOG_OFF);
    static const struct {
        enum pe_fault_op op;
        int err;
    } kinds[] = {{PE_FAULT_WRITE, PE_EFULL}, {PE_FAULT_WRITE, PE_EIO}, {PE_FAULT_SYNC, PE_EIO}};
    int64_t points = 0, pruned_after = 0;
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        for (int crash = 0; crash <= 1; crash++) {
            int64_t nth;
            for (nth = 1; nth <= 200; nth++) {
                bool pruned;
                if (!prune_fault(tpl, path, kinds[k].op, kinds[k].err, nth, crash, &pruned)) {
                    CHECK(pruned); /* no fault: the prune happened */
                    break;
                }
                points++;
                pruned_after += pruned;
            }
            CHECK(nth > 1 && nth <= 200);
        }
    }
    pe_log_set_level(PE_LOG_INFO);
    printf("    # prune: %lld fault points, pruned anyway after %lld\n", (long long)points,
           (long long)pruned_after);
}

static const struct pe_test tests[] = {
    {"create_reopen", t_create_reopen},
    {"catalog_tables", t_catalog_tables},
    {"catalog_migration", t_catalog_migration},
    {"catalog_faults", t_catalog_faults},
    {"open_refusals", t_open_refusals},
    {"txn_rules", t_txn_rules},
    {"rollback_restores_tail", t_rollback_restores_tail},
    {"duplicate_id", t_duplicate_id},
    {"stock_and_counters", t_stock_and_counters},
    {"sale_lines", t_sale_lines},
    {"park", t_park},
    {"iterator", t_iterator},
    {"second_writer", t_second_writer},
    {"verify_edited_record", t_verify_edited_record},
    {"verify_edited_record_everywhere", t_verify_edited_record_everywhere},
    {"verify_gap", t_verify_gap},
    {"verify_hash_column", t_verify_hash_column},
    {"check_refuses_tampered_tail", t_check_refuses_tampered_tail},
    {"check_refuses_garbage_pages", t_check_refuses_garbage_pages},
    {"quota", t_quota},
    {"fault_counting", t_fault_counting},
    {"fault_write_full", t_fault_write_full},
    {"fault_write_eio", t_fault_write_eio},
    {"fault_sync_full", t_fault_sync_full},
    {"fault_sync_eio", t_fault_sync_eio},
    {"fault_sticky", t_fault_sticky},
    {"prune", t_prune},
    {"prune_faults", t_prune_faults},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("journal", tests, argc, argv);
}
