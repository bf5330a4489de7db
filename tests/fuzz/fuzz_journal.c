/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_journal.c - libFuzzer target: a till's journal read back after its rows were
 * damaged on disk (store/journal.c: open with its checks, verify, the signing state, the
 * pruning anchor, iteration, sale lines, the catalog state, the parked basket).
 *
 * Two template journals are made once per process by the journal's own code, each of five
 * events with stock, counters and sale lines, and a parked basket: one unsigned, and one
 * signed: an unsigned sale, a signer_installed by a software signer (its key made in the
 * temporary directory) and three signed sales. Each input starts from a fresh copy of one,
 * changes rows through SQLite directly, and reads the copy back. (Checking a signature takes
 * milliseconds, so the unsigned template keeps most inputs fast.)
 *
 * Input: a flags byte (bit 0: open read-only, as posedge-ctl does; bit 1: check on open, as
 * the agent does; bit 2: the signed template), then operations of three bytes op, row, len and len
 * bytes of data: op % 10: 0 record, 1 hash, 2 sig, 3 id, 4 type, 5 ts_ms (the data as a decimal) of
 * the event seq row % 8; 6 meta value of key row % 4 (store, terminal, created, anchor); 7 reseal:
 * the data as a JSON body sealed (pe_event_seal, correct hash, prev the stored hash of seq - 1) as
 * type op / 10 at seq row % 8; 8 delete event seq row % 8; 9 the parked basket. op / 10 % 2: the
 * value as text rather than a blob; 200 <= op < 220: SQL NULL instead; op >= 220: patch the record,
 * hash, sig or id ((op - 220) % 4) of seq row % 8 in place: the data overwrites it from offset 16 *
 * (row / 8), or, when empty, cuts it there (a torn write). Checked beyond the sanitizers: a refusal
 * to open says why (err not empty), and a verify that fails names the bad seq and why.
 *
 * The signer's key is random per process, so the records that carry it (the signer_installed
 * body) differ between processes; an input's outcome does not depend on the key's value.
 */
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/journal.h"
#include "posedge/json.h"
#include "posedge/signer.h"
#include "tests/fuzz/fuzz_tmp.h"

#define STORE "s001"
#define TERMINAL "t01"
#define T0 1795256102000LL
#define EVENTS 5

static uint8_t *tmpl[2];   /* the template journals' bytes: unsigned, signed */
static size_t tmpl_len[2]; /* and their counts */
static int64_t clock_ms = T0;

static int64_t fixed_clock(void *ctx)
{
    (void)ctx;
    return clock_ms++;
}

static void die(const char *what, int rc, const char *err)
{
    fprintf(stderr, "fuzz_journal: template: %s: %s (%s)\n", what, pe_errname(rc), err);
    abort();
}

static void meta_of(struct pe_event_meta *m, int n, enum pe_event_type type)
{
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "0a1b2c3d-0000-4000-8000-%012d", n);
    strcpy(m->store, STORE);
    strcpy(m->terminal, TERMINAL);
    strcpy(m->operator_, "op1");
    m->type = type;
    m->ts_ms = T0 + n;
}

/* Event n with body b (taken) in a transaction of its own, with its stock, counter and sale
 * line when it is a sale. */
static void event(struct pe_journal *j, int n, enum pe_event_type type, cJSON *b)
{
    struct pe_event_meta m;
    struct pe_journal_appended a;
    int rc;
    meta_of(&m, n, type);
    if ((rc = pe_journal_begin(j)) || (rc = pe_journal_append(j, &m, b, &a)))
        die("append", rc, "");
    if (type == PE_EV_SALE) {
        struct pe_sale_line l = {.line = 1, .qty = n, .amount = 100 * n, .tax_bp = 2000};
        int64_t after;
        snprintf(l.item, sizeof l.item, "SKU%d", n);
        if ((rc = pe_journal_stock_add(j, l.item, -n, &after)) ||
            (rc = pe_journal_counter_add(j, "z.count", 1)) ||
            (rc = pe_journal_sale_line_add(j, a.seq, &l)))
            die("sale", rc, "");
    }
    if ((rc = pe_journal_commit(j)))
        die("commit", rc, "");
    cJSON_Delete(b);
}

static cJSON *sale_body(int n)
{
    cJSON *b = cJSON_CreateObject(), *t = cJSON_CreateObject();
    if (!b || !t || pe_json_add_int(t, "total", 100 * n) != PE_OK)
        abort();
    cJSON_AddItemToObject(b, "totals", t);
    if (pe_json_add_str(b, "currency", "EUR") != PE_OK)
        abort();
    return b;
}

static void make_template(int k)
{
    char path[256], key[256], err[512] = "";
    snprintf(path, sizeof path, "%s/template.db", fuzz_tmp());
    snprintf(key, sizeof key, "%s/signer.key", fuzz_tmp());
    struct pe_signer_conf sc = {
        .key_file = key, .store = STORE, .terminal = TERMINAL, .now = fixed_clock};
    struct pe_signer *s = NULL;
    int rc = k ? pe_signer_open(pe_signer_find("software"), &sc, &s, err, sizeof err) : PE_OK;
    if (rc)
        die("signer", rc, err);
    struct pe_journal_opts o = {.store = STORE, .terminal = TERMINAL};
    struct pe_journal *j = NULL;
    if ((rc = pe_journal_open(path, &o, &j, err, sizeof err)))
        die("open", rc, err);
    event(j, 1, PE_EV_SALE, sale_body(1));
    if (k) {
        cJSON *b = NULL;
        if ((rc = pe_journal_set_signer(j, s)))
            die("set_signer", rc, "");
        if ((rc = pe_signer_installed_body(pe_signer_key(s), &b)))
            die("installed body", rc, "");
        event(j, 2, PE_EV_SIGNER_INSTALLED, b);
    } else {
        event(j, 2, PE_EV_SALE, sale_body(2));
    }
    for (int n = 3; n <= EVENTS; n++)
        event(j, n, PE_EV_SALE, sale_body(n));
    if ((rc = pe_journal_park(j,
                              "{\"lines\":[{\"item\":\"SKU1\",\"qty\":2}],\"operator\":\"op1\"}")))
        die("park", rc, "");
    pe_journal_close(j);
    if (s)
        pe_signer_close(s);
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END) || (tmpl_len[k] = (size_t)ftell(f)) == 0 ||
        fseek(f, 0, SEEK_SET))
        abort();
    tmpl[k] = malloc(tmpl_len[k]);
    if (!tmpl[k] || fread(tmpl[k], 1, tmpl_len[k], f) != tmpl_len[k])
        abort();
    fclose(f);
    fuzz_tmp_clean();
}

static void free_templates(void)
{
    free(tmpl[0]);
    free(tmpl[1]);
}

/* The stored hash of seq (the genesis for 0 or a missing row) into out. */
static void stored_hash(sqlite3 *db, int64_t seq, char out[PE_SHA256_HEXLEN])
{
    sqlite3_stmt *st = NULL;
    pe_event_genesis(STORE, TERMINAL, out);
    if (sqlite3_prepare_v2(db, "SELECT hash FROM events WHERE seq = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, seq);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT &&
        (size_t)sqlite3_column_bytes(st, 0) == PE_SHA256_HEXLEN - 1)
        memcpy(out, sqlite3_column_text(st, 0), PE_SHA256_HEXLEN);
    sqlite3_finalize(st);
}

/* Seal the JSON body in data[0..len) as an event of type at seq, as a till would have; its
 * record and hash replace the row's. Bodies that are not JSON objects are skipped. */
static void reseal(sqlite3 *db, int type, int64_t seq, const uint8_t *data, size_t len)
{
    cJSON *body = cJSON_ParseWithLength((const char *)data, len);
    char prev[PE_SHA256_HEXLEN], hash[PE_SHA256_HEXLEN], *rec = NULL;
    size_t rlen = 0;
    struct pe_event_meta m;
    sqlite3_stmt *st = NULL;
    if (cJSON_IsObject(body)) {
        meta_of(&m, (int)seq, (enum pe_event_type)(type % PE_EV__COUNT));
        m.seq = seq;
        stored_hash(db, seq - 1, prev);
        if (pe_event_seal(&m, body, prev, &rec, &rlen, hash) == PE_OK &&
            sqlite3_prepare_v2(db,
                               "UPDATE events SET record = ?1, hash = ?2, type = ?3 WHERE seq = ?4",
                               -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_blob(st, 1, rec, (int)rlen, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, pe_event_type_name(m.type), -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 4, seq);
            sqlite3_step(st);
        }
    }
    sqlite3_finalize(st);
    free(rec);
    cJSON_Delete(body);
}

/* Overwrite column col of seq from offset with data, or cut it at offset when len is 0. */
static void patch(sqlite3 *db, int col, int64_t seq, size_t offset, const uint8_t *data, size_t len)
{
    static const char *const cols[] = {"record", "hash", "sig", "id"};
    char q[128];
    sqlite3_stmt *st = NULL;
    uint8_t *v = NULL;
    size_t n = 0;
    snprintf(q, sizeof q, "SELECT %s FROM events WHERE seq = ?1", cols[col]);
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_int64(st, 1, seq);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        n = (size_t)sqlite3_column_bytes(st, 0);
        v = malloc(n + 1);
        if (v && n) /* an empty value's blob pointer is NULL */
            memcpy(v, sqlite3_column_blob(st, 0), n);
    }
    sqlite3_finalize(st);
    if (!v || offset > n) {
        free(v);
        return;
    }
    if (len == 0)
        n = offset;
    else
        memcpy(v + offset, data, len < n - offset ? len : n - offset);
    snprintf(q, sizeof q, "UPDATE events SET %s = ?1 WHERE seq = ?2", cols[col]);
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK) {
        if (col == 2)
            sqlite3_bind_blob(st, 1, v, (int)n, SQLITE_STATIC);
        else
            sqlite3_bind_text(st, 1, (const char *)v, (int)n, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, seq);
        sqlite3_step(st);
    }
    sqlite3_finalize(st);
    free(v);
}

static void apply(sqlite3 *db, uint8_t op, uint8_t row, const uint8_t *data, size_t len)
{
    static const char *const sql[] = {
        "UPDATE events SET record = ?1 WHERE seq = ?2",
        "UPDATE events SET hash = ?1 WHERE seq = ?2",
        "UPDATE events SET sig = ?1 WHERE seq = ?2",
        "UPDATE events SET id = ?1 WHERE seq = ?2",
        "UPDATE events SET type = ?1 WHERE seq = ?2",
        "UPDATE events SET ts_ms = ?1 WHERE seq = ?2",
        "INSERT OR REPLACE INTO meta(key, value) VALUES (?2, ?1)",
        "UPDATE events SET type = ?1 WHERE seq = ?2", /* 207: a NULL type (7 reseals) */
        "DELETE FROM events WHERE seq = ?2",
        "INSERT OR REPLACE INTO parked(slot, basket) VALUES (1, ?1)",
    };
    static const char *const meta_keys[] = {"store", "terminal", "created", "anchor"};
    int kind = op % 10;
    int64_t seq = row % 8;
    sqlite3_stmt *st = NULL;
    if (op >= 220) {
        patch(db, (op - 220) % 4, seq, 16 * (size_t)(row / 8), data, len);
        return;
    }
    if (kind == 7 && op < 200) {
        reseal(db, op / 10, seq, data, len);
        return;
    }
    if (sqlite3_prepare_v2(db, sql[kind], -1, &st, NULL) != SQLITE_OK)
        return;
    if (op >= 200) {
        sqlite3_bind_null(st, 1);
    } else if (kind == 5) {
        char num[32];
        snprintf(num, sizeof num, "%.*s", (int)(len < sizeof num - 1 ? len : sizeof num - 1),
                 (const char *)data);
        sqlite3_bind_int64(st, 1, strtoll(num, NULL, 10));
    } else if ((op / 10) % 2) {
        sqlite3_bind_text(st, 1, (const char *)data, (int)len, SQLITE_STATIC);
    } else {
        sqlite3_bind_blob(st, 1, data, (int)len, SQLITE_STATIC);
    }
    if (kind == 6)
        sqlite3_bind_text(st, 2, meta_keys[row % 4], -1, SQLITE_STATIC);
    else if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, seq);
    sqlite3_step(st);
    sqlite3_finalize(st);
}

/* Everything the software reads back from an open journal. */
static void read_back(struct pe_journal *j)
{
    struct pe_journal_verify_result r;
    int rc = pe_journal_verify(j, &r);
    if (rc == PE_ECHAIN && (r.bad_seq <= 0 || !r.why[0]))
        abort(); /* a broken chain that does not say where or why */
    struct pe_journal_signing sg;
    (void)pe_journal_signing(j, &sg);
    struct pe_journal_anchor an;
    if (pe_journal_anchor(j, &an) == PE_OK)
        pe_journal_anchor_free(&an);
    int64_t seq;
    char hash[PE_SHA256_HEXLEN];
    (void)pe_journal_last(j, &seq, hash, NULL);
    struct pe_journal_iter *it = NULL;
    if (pe_journal_iter_open(j, 0, NULL, &it) == PE_OK) {
        struct pe_journal_rec rec;
        while (pe_journal_iter_next(it, &rec) == PE_OK)
            ;
        pe_journal_iter_close(it);
    }
    for (int64_t s = 1; s <= EVENTS + 1; s++) {
        struct pe_sale_line l[4];
        int n = 0;
        (void)pe_journal_sale_lines(j, s, l, 4, &n);
    }
    int64_t v;
    (void)pe_journal_counter_get(j, "z.count", &v);
    struct pe_journal_catalog cat;
    (void)pe_journal_catalog_get(j, &cat);
    char *basket = NULL;
    if (pe_journal_unpark(j, &basket) == PE_OK)
        free(basket);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[256], err[512] = "";
    if (size < 1)
        return 0;
    if (!tmpl[0]) {
        make_template(0);
        make_template(1);
        atexit(free_templates);
    }
    int k = (data[0] >> 2) & 1;
    fuzz_tmp_write("journal.db", tmpl[k], tmpl_len[k], path, sizeof path);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        abort();
    uint8_t flags = data[0];
    size_t i = 1;
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
    struct pe_journal_opts o = {.readonly = flags & 1, .check = (flags & 2) != 0};
    if (!o.readonly) {
        o.store = STORE;
        o.terminal = TERMINAL;
    }
    struct pe_journal *j = NULL;
    int rc = pe_journal_open(path, &o, &j, err, sizeof err);
    if (rc != PE_OK && !err[0])
        abort(); /* a refusal that does not say why */
    if (rc == PE_OK) {
        read_back(j);
        pe_journal_close(j);
    }
    fuzz_tmp_clean();
    return 0;
}
