/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_spool.c - libFuzzer target: the bridge's spool read back after its rows were
 * damaged on disk (store/spool.c: pe_spool_verify as posedge-ctl runs it, then open with its
 * checks, the terminals and their watermarks, every row as the drain reads it, the stats, the
 * metadata, the documents and the log positions).
 *
 * A template spool is made once per process by the spool's own code from records sealed by
 * pe_event_seal: terminal s001/t01 with four records (two delivered), s001/t02 with two signed
 * ones (one rejected), a metadata entry like the Avro profile's, a catalog document and a log
 * position. Each input starts from a fresh copy of it, changes rows through SQLite directly and
 * reads the copy back.
 *
 * Input: operations of three bytes op, row, len and len bytes of data:
 *   op % 16 picks the column (statements below); row picks the row: a spool row of terminal
 *   1 + row % 2 and seq (row / 2) % 6, a terminal 1 + row % 3, a metadata key or a document;
 *   op / 16 % 4 binds the data as 0 text, 1 blob, 2 an integer (the data as a decimal), 3 NULL.
 * Checked beyond the sanitizers: a refusal says why (err not empty).
 */
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "posedge/spool.h"
#include "tests/fuzz/fuzz_tmp.h"

#define T0 1795256102000LL
#define TID_SPAN 1099511627776LL /* 2^40: k = tid * 2^40 + seq */

static uint8_t *tmpl;   /* the template spool's bytes */
static size_t tmpl_len; /* and their count */

static void die(const char *what, int rc)
{
    fprintf(stderr, "fuzz_spool: template: %s: %s\n", what, pe_errname(rc));
    abort();
}

/* Seal records 1..n of store/terminal and add them, with sig and rejected on seq 2 when
 * signed. */
static void add_chain(struct pe_spool *s, const char *terminal, int n, bool signed_)
{
    char prev[PE_SHA256_HEXLEN], hash[PE_SHA256_HEXLEN];
    pe_event_genesis("s001", terminal, prev);
    for (int i = 1; i <= n; i++) {
        struct pe_event_meta m = {
            .seq = i, .type = i == 3 ? PE_EV_NO_SALE : PE_EV_SALE, .ts_ms = T0 + i};
        snprintf(m.id, sizeof m.id, "0a1b2c3d-0000-4000-8000-%06d%06d", signed_ ? 2 : 1, i);
        strcpy(m.store, "s001");
        snprintf(m.terminal, sizeof m.terminal, "%s", terminal);
        strcpy(m.operator_, "op1");
        cJSON *b = cJSON_CreateObject(), *t = cJSON_CreateObject();
        if (!b || !t || pe_json_add_int(t, "total", 100 * i) ||
            pe_json_add_str(b, "currency", "EUR"))
            abort();
        cJSON_AddItemToObject(b, "totals", t);
        char *rec = NULL;
        size_t len = 0;
        int rc = pe_event_seal(&m, b, prev, &rec, &len, hash);
        cJSON_Delete(b);
        if (rc)
            die("seal", rc);
        static const char sig[] = "{\"alg\":\"ES256\",\"counter\":2,\"key_id\":\"65cbeccfde40abe6"
                                  "49fbce23f14f3acc\",\"sig\":\"AAAA\",\"ts\":\"2026-12-07T"
                                  "00:00:00.000Z\"}";
        rc = signed_ ? pe_spool_add_signed(s, &m, prev, hash, rec, len, sig, sizeof sig - 1,
                                           i == 2 ? "signature does not verify" : NULL)
                     : pe_spool_add(s, &m, prev, hash, rec, len);
        free(rec);
        if (rc)
            die("add", rc);
        memcpy(prev, hash, sizeof prev);
    }
}

static void make_template(void)
{
    char path[256], err[512] = "";
    snprintf(path, sizeof path, "%s/template.db", fuzz_tmp());
    struct pe_spool *s = NULL;
    int rc = pe_spool_open(path, NULL, &s, err, sizeof err);
    if (rc)
        die(err, rc);
    if ((rc = pe_spool_begin(s)))
        die("begin", rc);
    add_chain(s, "t01", 4, false);
    add_chain(s, "t02", 2, true);
    if ((rc = pe_spool_commit(s)))
        die("commit", rc);
    if ((rc = pe_spool_set_delivered(s, "s001", "t01", 2)))
        die("delivered", rc);
    if ((rc =
             pe_spool_meta_put(s, "avro/pos.sales-value/1",
                               "{\"schema\":\"{\\\"type\\\":\\\"string\\\"}\",\"version\":1}", T0)))
        die("meta", rc);
    bool changed = false;
    static const char doc[] = "{\"id\":\"SKU1\",\"barcode\":\"4006381333931\",\"price\":250}";
    if ((rc = pe_spool_begin(s)) ||
        (rc = pe_spool_doc_put(s, "catalog.items", "SKU1", 0, doc, sizeof doc - 1, 7, &changed)) ||
        (rc = pe_spool_position_set(s, "pos.catalog", 0, 8)) || (rc = pe_spool_commit(s)))
        die("docs", rc);
    pe_spool_close(s);
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) || (tmpl_len = (size_t)ftell(f)) == 0 || fseek(f, 0, SEEK_SET))
        abort();
    tmpl = malloc(tmpl_len);
    if (!tmpl || fread(tmpl, 1, tmpl_len, f) != tmpl_len)
        abort();
    fclose(f);
    fuzz_tmp_clean();
}

static void free_template(void)
{
    free(tmpl);
}

static const char *const sql[16] = {
    "UPDATE spool SET record = ?1 WHERE k = ?2",
    "UPDATE spool SET hash = ?1 WHERE k = ?2",
    "UPDATE spool SET sig = ?1 WHERE k = ?2",
    "UPDATE spool SET id = ?1 WHERE k = ?2",
    "UPDATE spool SET type = ?1 WHERE k = ?2",
    "UPDATE spool SET ts_ms = ?1, fiscal = ?1 WHERE k = ?2",
    "UPDATE spool SET cum = ?1 WHERE k = ?2",
    "UPDATE spool SET rejected = ?1 WHERE k = ?2",
    "DELETE FROM spool WHERE k = ?2 AND ?1 IS ?1",
    "UPDATE terminals SET spooled = ?1 WHERE tid = ?2",
    "UPDATE terminals SET delivered = ?1, pruned = ?1 WHERE tid = ?2",
    "UPDATE terminals SET tail_hash = ?1 WHERE tid = ?2",
    "UPDATE terminals SET spooled_bytes = ?1, delivered_bytes = ?1 WHERE tid = ?2",
    "UPDATE terminals SET store = ?1 WHERE tid = ?2",
    "INSERT OR REPLACE INTO meta(key, value, updated_ms) VALUES (?2, ?1, 0)",
    "UPDATE docs SET doc = ?1 WHERE key = ?2",
};

static void apply(sqlite3 *db, uint8_t op, uint8_t row, const uint8_t *data, size_t len)
{
    static const char *const meta_keys[] = {"avro/pos.sales-value/1", "avro/x/2", "x"};
    static const char *const doc_keys[] = {"SKU1", "SKU2"};
    int kind = op % 16, bind = (op / 16) % 4;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql[kind], -1, &st, NULL) != SQLITE_OK)
        return;
    if (bind == 3) {
        sqlite3_bind_null(st, 1);
    } else if (bind == 2) {
        char num[32];
        snprintf(num, sizeof num, "%.*s", (int)(len < sizeof num - 1 ? len : sizeof num - 1),
                 (const char *)data);
        sqlite3_bind_int64(st, 1, strtoll(num, NULL, 10));
    } else if (bind == 1) {
        sqlite3_bind_blob(st, 1, data, (int)len, SQLITE_STATIC);
    } else {
        sqlite3_bind_text(st, 1, (const char *)data, (int)len, SQLITE_STATIC);
    }
    if (kind <= 8)
        sqlite3_bind_int64(st, 2, (1 + row % 2) * TID_SPAN + (row / 2) % 6);
    else if (kind <= 13)
        sqlite3_bind_int64(st, 2, 1 + row % 3);
    else if (kind == 14)
        sqlite3_bind_text(st, 2, meta_keys[row % 3], -1, SQLITE_STATIC);
    else
        sqlite3_bind_text(st, 2, doc_keys[row % 2], -1, SQLITE_STATIC);
    sqlite3_step(st);
    sqlite3_finalize(st);
}

/* ---- reading back, as the bridge and posedge-ctl do ---- */

static int on_row(const struct pe_spool_row *r, void *ctx)
{
    (void)ctx;
    /* The drain hands these to the profiles and Kafka: the columns the schema declares NOT NULL
     * are never NULL here. (A sig damaged to 0 bytes comes back as "", not as none: the header
     * then shows that something was there.) */
    if (!r->record || !r->hash || !r->id || !r->type)
        abort();
    return 0;
}

static int on_terminal(const struct pe_spool_terminal *t, void *ctx)
{
    struct pe_spool *s = ctx;
    (void)pe_spool_rows(s, t->store, t->terminal, 0, 100, on_row, NULL);
    return 0;
}

static int on_meta(const struct pe_spool_meta *m, void *ctx)
{
    (void)ctx;
    cJSON *doc = cJSON_Parse(m->value); /* as the Avro profile reads its kept ids */
    cJSON_Delete(doc);
    return 0;
}

static int on_doc(const struct pe_spool_doc *d, void *ctx)
{
    (void)d;
    (void)ctx;
    return 0;
}

static int on_position(const struct pe_spool_position *p, void *ctx)
{
    (void)p;
    (void)ctx;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[256], err[512] = "";
    if (!tmpl) {
        make_template();
        atexit(free_template);
    }
    fuzz_tmp_write("spool.db", tmpl, tmpl_len, path, sizeof path);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        abort();
    size_t i = 0;
    while (i + 3 <= size) {
        uint8_t op = data[i], row = data[i + 1];
        size_t len = data[i + 2];
        i += 3;
        if (len > size - i)
            len = size - i;
        apply(db, op, row, data + i, len);
        i += len;
    }
    if (sqlite3_close(db) != SQLITE_OK)
        abort();
    struct pe_spool_stats stats;
    int64_t terminals = 0;
    int rc = pe_spool_verify(path, &stats, &terminals, err, sizeof err);
    if (rc != PE_OK && !err[0])
        abort(); /* a refusal that does not say why */
    err[0] = '\0';
    struct pe_spool *s = NULL;
    rc = pe_spool_open(path, NULL, &s, err, sizeof err);
    if (rc != PE_OK && !err[0])
        abort();
    if (rc == PE_OK) {
        (void)pe_spool_terminals(s, on_terminal, s);
        (void)pe_spool_stats(s, &stats);
        (void)pe_spool_meta_list(s, "", on_meta, NULL);
        (void)pe_spool_docs(s, "catalog.items", 0, true, on_doc, NULL);
        (void)pe_spool_positions(s, on_position, NULL);
        int64_t spooled;
        char tail[PE_SHA256_HEXLEN];
        (void)pe_spool_next(s, "s001", "t01", &spooled, tail);
        pe_spool_close(s);
    }
    fuzz_tmp_clean();
    return 0;
}
