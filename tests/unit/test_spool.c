/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_spool.c - unit tests of the bridge's spool (store/spool.c).
 *
 * What must hold: a terminal's records are stored only in order and chained (duplicates
 * ignored, conflicts and broken chains refused, gaps not stored), so spooled is always the
 * contiguous tail; watermarks, the in-memory cache and the quota's byte count move with the
 * transaction and come back exactly after a rollback or a reopen; delivered only grows and
 * never passes spooled; pruning deletes only delivered rows; a file that is not a spool, or
 * is damaged, is refused with its path. Records are real sealed events (pe_event_seal), and
 * every count the spool reports is compared with what a plain SQLite connection sees.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/spool.h"
#include "tests/unit/harness.h"

#define TS0 1795256102000LL

/* ---- records ---- */

/* A till: hands out sealed records seq 1, 2, ... chained from its genesis value. */
struct till {
    char store[PE_ID_MAX];
    char terminal[PE_ID_MAX];
    int num;                     /* makes its event ids unique */
    int64_t seq;                 /* last seq handed out */
    char prev[PE_SHA256_HEXLEN]; /* hash of that record (genesis at first) */
};

struct rec {
    struct pe_event_meta m;
    char prev[PE_SHA256_HEXLEN];
    char hash[PE_SHA256_HEXLEN];
    char *bytes; /* canonical record, malloc'd */
    size_t len;
};

static void till_init(struct till *t, const char *store, const char *terminal, int num)
{
    memset(t, 0, sizeof *t);
    snprintf(t->store, sizeof t->store, "%s", store);
    snprintf(t->terminal, sizeof t->terminal, "%s", terminal);
    t->num = num;
    pe_event_genesis(store, terminal, t->prev);
}

static enum pe_event_type type_of(int64_t seq)
{
    return seq % 5 == 0 ? PE_EV_INVENTORY_ADJUST : PE_EV_SALE;
}

/* Seal the record of seq chained from prev; variant > 0 gives other content for the same
 * seq, pad adds that many bytes to the body. */
static void rec_make(const struct till *t, int64_t seq, const char *prev, int variant, size_t pad,
                     struct rec *r)
{
    memset(r, 0, sizeof *r);
    r->m.seq = seq;
    /* seq as 12 hex digits: unique per till up to 2^48, and a bounded length for -O2 */
    snprintf(r->m.id, sizeof r->m.id, "0a1b2c3d-%04x-4000-8%03x-%012llx", t->num & 0xffff,
             variant & 0xfff, (unsigned long long)seq & 0xffffffffffffULL);
    snprintf(r->m.store, sizeof r->m.store, "%s", t->store);
    snprintf(r->m.terminal, sizeof r->m.terminal, "%s", t->terminal);
    snprintf(r->m.operator_, sizeof r->m.operator_, "op1");
    r->m.type = type_of(seq);
    r->m.ts_ms = TS0 + seq * 1000 + t->num;
    cJSON *body = cJSON_CreateObject();
    CHECK(body != NULL);
    CHECK_OK(pe_json_add_int(body, "n", seq));
    if (variant)
        CHECK_OK(pe_json_add_int(body, "variant", variant));
    if (pad) {
        char *p = malloc(pad + 1);
        CHECK(p != NULL);
        for (size_t i = 0; i < pad; i++)
            p[i] = (char)('a' + (i * 7 + (size_t)seq) % 26);
        p[pad] = '\0';
        CHECK_OK(pe_json_add_str(body, "pad", p));
        free(p);
    }
    memcpy(r->prev, prev, PE_SHA256_HEXLEN);
    CHECK_OK(pe_event_seal(&r->m, body, prev, &r->bytes, &r->len, r->hash));
    cJSON_Delete(body);
}

/* The till's next record. */
static void till_next(struct till *t, size_t pad, struct rec *r)
{
    rec_make(t, t->seq + 1, t->prev, 0, pad, r);
    t->seq++;
    memcpy(t->prev, r->hash, PE_SHA256_HEXLEN);
}

static void rec_free(struct rec *r)
{
    free(r->bytes);
    r->bytes = NULL;
}

/* ---- spool helpers ---- */

static struct pe_spool *open_s(const char *path, int64_t max_bytes)
{
    struct pe_spool_opts o = {.max_bytes = max_bytes};
    struct pe_spool *s = NULL;
    char err[512];
    int rc = pe_spool_open(path, &o, &s, err, sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "open %s: %s (%s)", path, pe_errname(rc), err);
    return s;
}

static int add(struct pe_spool *s, const struct rec *r)
{
    return pe_spool_add(s, &r->m, r->prev, r->hash, r->bytes, r->len);
}

/* Add the till's next n records in one transaction; their byte count goes to *bytes. */
static void add_n(struct pe_spool *s, struct till *t, int n, size_t pad, int64_t *bytes)
{
    CHECK_OK(pe_spool_begin(s));
    for (int i = 0; i < n; i++) {
        struct rec r;
        till_next(t, pad, &r);
        CHECK_OK(add(s, &r));
        if (bytes)
            *bytes += (int64_t)r.len;
        rec_free(&r);
    }
    CHECK_OK(pe_spool_commit(s));
}

static struct pe_spool_terminal term(struct pe_spool *s, const char *store, const char *terminal)
{
    struct pe_spool_terminal t;
    CHECK_OK(pe_spool_terminal(s, store, terminal, &t));
    return t;
}

static struct pe_spool_stats stats(struct pe_spool *s)
{
    struct pe_spool_stats st;
    CHECK_OK(pe_spool_stats(s, &st));
    return st;
}

static void check_stats(struct pe_spool *s, int64_t rows, int64_t pending, int64_t bytes)
{
    struct pe_spool_stats st = stats(s);
    CHECK_INT(st.rows, rows);
    CHECK_INT(st.pending, pending);
    CHECK_INT(st.pending_bytes, bytes);
}

/* One integer from a query on a plain connection (WAL lets it read beside the spool). */
static int64_t raw_int(const char *path, const char *q)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    CHECK_INT(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, q, -1, &st, NULL) != SQLITE_OK)
        pe_test_fail(__FILE__, __LINE__, "%s: %s", q, sqlite3_errmsg(db));
    int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    CHECK_INT(sqlite3_close(db), SQLITE_OK);
    return v;
}

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

/* Rows in the file (all, or of one terminal). */
static int64_t raw_rows(const char *path, const char *terminal)
{
    char q[256];
    if (terminal)
        snprintf(q, sizeof q, "SELECT count(*) FROM records WHERE terminal = '%s'", terminal);
    else
        snprintf(q, sizeof q, "SELECT count(*) FROM spool");
    return raw_int(path, q);
}

/* Collects what pe_spool_rows hands out. */
struct seen {
    int n;                   /* rows seen */
    int stop_at;             /* return 7 at this row (0: never) */
    int64_t first;           /* first seq */
    int64_t last;            /* last seq */
    int64_t bytes;           /* sum of record lengths */
    bool ordered;            /* every seq was last + 1 */
    const struct till *till; /* when set, each row is compared with a fresh seal */
    struct pe_spool *nest;   /* when set, fn tries pe_spool_rows on it */
    int nest_rc;
};

static int nop_row(const struct pe_spool_row *r, void *ctx)
{
    (void)r;
    (void)ctx;
    return 0;
}

static int on_row(const struct pe_spool_row *r, void *ctx)
{
    struct seen *v = ctx;
    if (v->n == 0) {
        v->first = r->seq;
        v->ordered = true;
    } else if (r->seq != v->last + 1) {
        v->ordered = false;
    }
    v->last = r->seq;
    v->bytes += (int64_t)r->len;
    v->n++;
    if (v->till) {
        /* The same record sealed again has the same bytes: compare all fields. */
        CHECK_STR(r->store, v->till->store);
        CHECK_STR(r->terminal, v->till->terminal);
        struct pe_event_meta m;
        char hash[PE_SHA256_HEXLEN], why[160];
        CHECK_OK(pe_event_verify(r->record, r->len, r->seq, NULL, &m, hash, NULL, why, sizeof why));
        CHECK_STR(r->id, m.id);
        CHECK_STR(r->type, pe_event_type_name(type_of(r->seq)));
        CHECK_INT(r->ts_ms, TS0 + r->seq * 1000 + v->till->num);
        CHECK_STR(m.terminal, v->till->terminal);
    }
    if (v->nest)
        v->nest_rc = pe_spool_rows(v->nest, "s001", "t01", 0, 10, nop_row, NULL);
    return v->stop_at && v->n == v->stop_at ? 7 : 0;
}

static struct seen rows(struct pe_spool *s, const struct till *t, int64_t after, int max)
{
    struct seen v = {.till = t};
    CHECK_OK(pe_spool_rows(s, t->store, t->terminal, after, max, on_row, &v));
    return v;
}

static int count_term(const struct pe_spool_terminal *t, void *ctx)
{
    (void)t;
    (*(int *)ctx)++;
    return 0;
}

static int nterms(struct pe_spool *s)
{
    int n = 0;
    CHECK_OK(pe_spool_terminals(s, count_term, &n));
    return n;
}

/* ---- tests ---- */

static void t_open_fresh(void)
{
    const char *path = pe_test_path(0, "spool.db");
    struct pe_spool *s = open_s(path, 0);
    check_stats(s, 0, 0, 0);
    CHECK_INT(nterms(s), 0);

    struct pe_spool_terminal t = term(s, "s001", "t01");
    char g[PE_SHA256_HEXLEN];
    pe_event_genesis("s001", "t01", g);
    CHECK_STR(t.store, "s001");
    CHECK_STR(t.terminal, "t01");
    CHECK_INT(t.spooled, 0);
    CHECK_INT(t.delivered, 0);
    CHECK_INT(t.oldest_pending_ts_ms, 0);
    CHECK_STR(t.tail_hash, g);
    CHECK_INT(nterms(s), 0); /* reading a terminal does not create it */
    CHECK_INT(pe_spool_terminal(s, "s001", "bad id", &t), PE_EINVAL);

    struct seen v = {0};
    CHECK_OK(pe_spool_rows(s, "s001", "t01", 0, 100, on_row, &v));
    CHECK_INT(v.n, 0);
    int64_t deleted = -1;
    CHECK_OK(pe_spool_prune(s, 100, &deleted));
    CHECK_INT(deleted, 0);
    pe_spool_close(s);
    pe_spool_close(NULL);

    CHECK_INT(raw_int(path, "PRAGMA application_id"), 0x50455350);
    CHECK_INT(raw_int(path, "PRAGMA user_version"), 5);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM terminals"), 0);
    s = open_s(path, 0); /* and an existing empty spool opens again */
    CHECK_INT(nterms(s), 0);
    pe_spool_close(s);
}

static void t_transaction_state(void)
{
    struct pe_spool *s = open_s(pe_test_path(0, "spool.db"), 0);
    struct till a;
    struct rec r;
    till_init(&a, "s001", "t01", 1);
    till_next(&a, 0, &r);
    CHECK_INT(add(s, &r), PE_ESTATE);
    CHECK_INT(pe_spool_commit(s), PE_ESTATE);
    pe_spool_rollback(s); /* a no-op */
    CHECK_OK(pe_spool_begin(s));
    CHECK_INT(pe_spool_begin(s), PE_ESTATE);

    /* Malformed input is refused before it is looked at. */
    struct rec bad = r;
    bad.m.seq = 0;
    CHECK_INT(add(s, &bad), PE_EINVAL);
    bad = r;
    bad.hash[3] = 'X';
    CHECK_INT(add(s, &bad), PE_EINVAL);
    bad = r;
    bad.prev[64 - 1] = '\0';
    CHECK_INT(add(s, &bad), PE_EINVAL);
    bad = r;
    bad.m.type = PE_EV__COUNT;
    CHECK_INT(add(s, &bad), PE_EINVAL);
    bad = r;
    bad.m.store[0] = '\0';
    CHECK_INT(add(s, &bad), PE_EINVAL);
    CHECK_INT(pe_spool_add(s, &r.m, r.prev, r.hash, r.bytes, 0), PE_EINVAL);
    CHECK_INT(nterms(s), 0);

    CHECK_OK(add(s, &r));
    CHECK_OK(pe_spool_commit(s));
    CHECK_INT(term(s, "s001", "t01").spooled, 1);
    rec_free(&r);
    pe_spool_close(s);
}

/* seq 1..N in order, with the meta a bridge gets from pe_event_verify. */
static void t_add_in_order(void)
{
    const char *path = pe_test_path(0, "spool.db");
    struct pe_spool *s = open_s(path, 0);
    struct till a;
    till_init(&a, "s001", "t01", 1);
    const int n = 100;
    int64_t bytes = 0;
    char hash1[PE_SHA256_HEXLEN] = "";

    CHECK_OK(pe_spool_begin(s));
    for (int i = 1; i <= n; i++) {
        struct rec r;
        till_next(&a, 40, &r);
        struct pe_event_meta m;
        char prev[PE_SHA256_HEXLEN], hash[PE_SHA256_HEXLEN], why[160];
        cJSON *root = NULL;
        CHECK_OK(pe_event_verify(r.bytes, r.len, 0, NULL, &m, hash, &root, why, sizeof why));
        const char *p = NULL;
        CHECK_OK(pe_json_get_str(root, "prev", &p));
        snprintf(prev, sizeof prev, "%s", p);
        cJSON_Delete(root);
        CHECK_STR(hash, r.hash);
        CHECK_OK(pe_spool_add(s, &m, prev, hash, r.bytes, r.len));
        bytes += (int64_t)r.len;
        if (i == 1)
            memcpy(hash1, hash, sizeof hash1);
        /* The open transaction is visible in the terminal's state. */
        struct pe_spool_terminal t = term(s, "s001", "t01");
        CHECK_INT(t.spooled, i);
        CHECK_STR(t.tail_hash, hash);
        rec_free(&r);
    }
    /* ... but rows are handed out only once committed. */
    CHECK_INT(rows(s, &a, 0, 1000).n, 0);
    CHECK_OK(pe_spool_commit(s));

    struct pe_spool_terminal t = term(s, "s001", "t01");
    CHECK_INT(t.spooled, n);
    CHECK_INT(t.delivered, 0);
    CHECK_STR(t.tail_hash, a.prev);
    CHECK_INT(t.oldest_pending_ts_ms, TS0 + 1000 + a.num);
    check_stats(s, n, n, bytes);

    struct seen v = rows(s, &a, 0, 1000);
    CHECK_INT(v.n, n);
    CHECK_INT(v.first, 1);
    CHECK_INT(v.last, n);
    CHECK(v.ordered);
    CHECK_INT(v.bytes, bytes);
    CHECK_INT(raw_rows(path, NULL), n);
    CHECK_INT(raw_int(path, "SELECT fiscal FROM records WHERE seq = 1"), 1);
    CHECK_INT(raw_int(path, "SELECT fiscal FROM records WHERE seq = 5"), 0);
    CHECK_INT(raw_int(path, "SELECT spooled FROM terminals"), n);
    char q[200];
    snprintf(q, sizeof q, "SELECT count(*) FROM records WHERE seq = 1 AND hash = '%s'", hash1);
    CHECK_INT(raw_int(path, q), 1);
    pe_spool_close(s);
}

static void t_duplicate(void)
{
    const char *path = pe_test_path(0, "spool.db");
    struct pe_spool *s = open_s(path, 0);
    struct till a;
    till_init(&a, "s001", "t01", 1);
    int64_t bytes = 0;
    add_n(s, &a, 20, 0, &bytes);

    /* The till resends everything (its ack got lost): every record is a duplicate. */
    struct till again;
    till_init(&again, "s001", "t01", 1);
    CHECK_OK(pe_spool_begin(s));
    for (int i = 1; i <= 20; i++) {
        struct rec r;
        till_next(&again, 0, &r);
        CHECK_INT(add(s, &r), PE_EEXIST);
        rec_free(&r);
    }
    struct pe_spool_terminal t = term(s, "s001", "t01");
    CHECK_INT(t.spooled, 20);
    CHECK_STR(t.tail_hash, a.prev);
    check_stats(s, 20, 20, bytes);
    CHECK_OK(pe_spool_commit(s));
    CHECK_INT(raw_rows(path, NULL), 20);
    check_stats(s, 20, 20, bytes);
    CHECK_INT(rows(s, &a, 0, 100).n, 20);
    pe_spool_close(s);
}

static void t_conflict(void)
{
    const char *path = pe_test_path(0, "spool.db");
    struct pe_spool *s = open_s(path, 0);
    struct till a;
    till_init(&a, "s001", "t01", 1);
    add_n(s, &a, 20, 0, NULL);

    /* Other content at seq 7 (chained correctly from 6) and at the tail, seq 20. */
    struct till b;
    till_init(&b, "s001", "t01", 1);
    struct rec r, alt;
    for (int i = 1; i <= 6; i++) {
        till_next(&b, 0, &r);
        rec_free(&r);
    }
    rec_make(&b, 7, b.prev, 1, 0, &alt);
    CHECK_OK(pe_spool_begin(s));
    CHECK_INT(add(s, &alt), PE_ECHAIN);
    rec_free(&alt);
    for (int i = 7; i <= 19; i++) {
        till_next(&b, 0, &r);
        rec_free(&r);
    }
    rec_make(&b, 20, b.prev, 2, 0, &alt);
    CHECK_INT(add(s, &alt), PE_ECHAIN);
    rec_free(&alt);
    CHECK_OK(pe_spool_commit(s));

    struct pe_spool_terminal t = term(s, "s001", "t01");
    CHECK_INT(t.spooled, 20);
    CHECK_STR(t.tail_hash, a.prev);
    CHECK_INT(raw_rows(path, NULL), 20);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM spool WHERE record LIKE '%variant%'"), 0);
    pe_spool_close(s);
}

static void t_gap(void)
{
    const char *path = pe_test_path(0, "spool.db");
    struct pe_spool *s = open_s(path, 0);
    struct till a;
    till_init(&a, "s001", "t01", 1);
    add_n(s, &a, 10, 0, NULL);

    struct rec r11, r12, r13;
    till_next(&a, 0, &r11);
    till_next(&a, 0, &r12);
    till_next(&a, 0, &r13);
    CHECK_OK(pe_spool_begin(s));
    CHECK_INT(add(s, &r12), PE_EAGAIN);
    CHECK_INT(add(s, &r13), PE_EAGAIN);
    CHECK_INT(term(s, "s001", "t01").spooled, 10);
    CHECK_OK(pe_spool_commit(s));
    CHECK_INT(raw_rows(path, NULL), 10);
    CHECK_INT(rows(s, &a, 0, 100).n, 10);

    /* A gap on a terminal never seen: nothing is stored and the terminal stays unknown. */
    struct till b;
    struct rec b1, b2;
    till_init(&b, "s001", "t02", 2);
    till_next(&b, 0, &b1);
    till_next(&b, 0, &b2);
    CHECK_OK(pe_spool_begin(s));
    CHECK_INT(add(s, &b2), PE_EAGAIN);
    CHECK_INT(nterms(s), 1);

    /* The resend fills the gap. */
    CHECK_OK(add(s, &r11));
    CHECK_OK(add(s, &r12));
    CHECK_OK(add(s, &r13));
    CHECK_OK(add(s, &b1));
    CHECK_OK(add(s, &b2));
    CHECK_OK(pe_spool_commit(s));
    CHECK_INT(term(s, "s001", "t01").spooled, 13);
    CHECK_INT(term(s, "s001", "t02").spooled, 2);
    CHECK_INT(raw_rows(path, NULL), 15);
    struct rec *all[] = {&r11, &r12, &r13, &b1, &b2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        rec_free(all[i]);
    pe_spool_close(s);
}

static void t_wrong_prev(void)
{
    const char *path = pe_test_path(0, "spool.db");
    struct pe_spool *s = open_s(path, 0);
    struct till a;
    till_init(&a, "s001", "t01", 1);
    add_n(s, &a, 10, 0, NULL);

    /* seq 11 chained from seq 9's hash, and from an unrelated value. */
    struct rec r;
    struct till b;
    till_init(&b, "s001", "t01", 1);
    for (int i = 1; i <= 9; i++) {
        till_next(&b, 0, &r);
        rec_free(&r);
    }
    CHECK_OK(pe_spool_begin(s));
    rec_make(&a, 11, b.prev, 0, 0, &r);
    CHECK_INT(add(s, &r), PE_ECHAIN);
    rec_free(&r);
    char g[PE_SHA256_HEXLEN];
    pe_event_genesis("s001", "t01", g);
    rec_make(&a, 11, g, 0, 0, &r);
    CHECK_INT(add(s, &r), PE_ECHAIN);
    rec_free(&r);

    /* seq 1 of a new terminal must chain from its own genesis, not another till's. */
    struct till c;
    till_init(&c, "s001", "t02", 2);
    rec_make(&c, 1, g, 0, 0, &r);
    CHECK_INT(add(s, &r), PE_ECHAIN);
    rec_free(&r);
    CHECK_INT(nterms(s), 1);
    CHECK_INT(term(s, "s001", "t01").spooled, 10);

    till_next(&a, 0, &r);
    CHECK_OK(add(s, &r));
    rec_free(&r);
    till_next(&c, 0, &r);
    CHECK_OK(add(s, &r));
    rec_free(&r);
    CHECK_OK(pe_spool_commit(s));
    CHECK_INT(term(s, "s001", "t01").spooled, 11);
    CHECK_INT(term(s, "s001", "t02").spooled, 1);
    CHECK_INT(raw_rows(path, NULL), 12);
    pe_spool_close(s);
}

/* Collects the terminals in the order pe_spool_terminals gives them. */
struct term_list {
    int n;
    struct pe_spool_terminal t[8];
};

static int list_term(const struct pe_spool_terminal *t, void *ctx)
{
    struct term_list *l = ctx;
    CHECK(l->n < 8);
    l->t[l->n++] = *t;
    return 0;
}

static int stop_term(const struct pe_spool_terminal *t, void *ctx)
{
    (void)t;
    (*(int *)ctx)++;
    return 42;
}

static void t_two_terminals(void)
{
    const char *path = pe_test_path(0, "spool.db");
    struct pe_spool *s = open_s(path, 0);
    struct till tills[3];
    /* Created out of order, listed in (store, terminal) order. */
    till_init(&tills[0], "s002", "t01", 3);
    till_init(&tills[1], "s001", "t02", 2);
    till_init(&tills[2], "s001", "t01", 1);
    const int counts[3] = {5, 10, 30};
    int64_t bytes[3] = {0};

    CHECK_OK(pe_spool_begin(s));
    for (int i = 1; i <= 30; i++) {
        for (int k = 0; k < 3; k++) {
            if (i > counts[k])
                continue;
            struct rec r;
            till_next(&tills[k], (size_t)(k * 10), &r);
            CHECK_OK(add(s, &r));
            bytes[k] += (int64_t)r.len;
            rec_free(&r);
        }
    }
    CHECK_OK(pe_spool_commit(s));

    struct term_list l = {0};
    CHECK_OK(pe_spool_terminals(s, list_term, &l));
    CHECK_INT(l.n, 3);
    CHECK_STR(l.t[0].store, "s001");
    CHECK_STR(l.t[0].terminal, "t01");
    CHECK_INT(l.t[0].spooled, 30);
    CHECK_STR(l.t[0].tail_hash, tills[2].prev);
    CHECK_STR(l.t[1].store, "s001");
    CHECK_STR(l.t[1].terminal, "t02");
    CHECK_INT(l.t[1].spooled, 10);
    CHECK_STR(l.t[1].tail_hash, tills[1].prev);
    CHECK_STR(l.t[2].store, "s002");
    CHECK_STR(l.t[2].terminal, "t01");
    CHECK_INT(l.t[2].spooled, 5);
    CHECK_STR(l.t[2].tail_hash, tills[0].prev);
    int calls = 0;
    CHECK_INT(pe_spool_terminals(s, stop_term, &calls), 42);
    CHECK_INT(calls, 1);

    for (int k = 0; k < 3; k++) {
        struct seen v = rows(s, &tills[k], 0, 1000);
        CHECK_INT(v.n, counts[k]);
        CHECK(v.ordered);
        CHECK_INT(v.bytes, bytes[k]);
    }
    check_stats(s, 45, 45, bytes[0] + bytes[1] + bytes[2]);

    /* Delivery of one terminal leaves the others alone. */
    CHECK_OK(pe_spool_set_delivered(s, "s001", "t02", 10));
    CHECK_INT(term(s, "s001", "t02").delivered, 10);
    CHECK_INT(term(s, "s001", "t01").delivered, 0);
    CHECK_INT(term(s, "s002", "t01").delivered, 0);
    check_stats(s, 45, 35, bytes[0] + bytes[2]);
    int64_t deleted = 0;
    CHECK_OK(pe_spool_prune(s, 1000, &deleted));
    CHECK_INT(deleted, 10);
    CHECK_INT(raw_rows(path, "t02"), 0);
    CHECK_INT(raw_rows(path, "t01"), 35);
    CHECK_INT(rows(s, &tills[2], 0, 1000).n, 30);
    CHECK_INT(rows(s, &tills[0], 0, 1000).n, 5);
    pe_spool_close(s);
}

static void t_rollback(void)
{
    const char *path = pe_test_path(0, "spool.db");
    struct pe_spool *s = open_s(path, 0);
    struct till a, b;
    till_init(&a, "s001", "t01", 1);
    till_init(&b, "s001", "t02", 2);
    int64_t bytes = 0;
    add_n(s, &a, 10, 0, &bytes);
    CHECK_OK(pe_spool_set_delivered(s, "s001", "t01", 2));
    struct pe_spool_terminal before = term(s, "s001", "t01");
    struct pe_spool_stats st0 = stats(s);

    /* A batch that adds records, creates a terminal, delivers and prunes, then rolls back. */
    struct till a2 = a, b2 = b;
    struct rec keep11;
    CHECK_OK(pe_spool_begin(s));
    for (int i = 0; i < 5; i++) {
        struct rec r;
        till_next(&a2, 0, &r);
        CHECK_OK(add(s, &r));
        if (i == 0)
            keep11 = r;
        else
            rec_free(&r);
    }
    for (int i = 0; i < 3; i++) {
        struct rec r;
        till_next(&b2, 0, &r);
        CHECK_OK(add(s, &r));
        rec_free(&r);
    }
    CHECK_OK(pe_spool_set_delivered(s, "s001", "t01", 12));
    int64_t deleted = 0;
    CHECK_OK(pe_spool_prune(s, 100, &deleted));
    CHECK_INT(deleted, 12);
    CHECK_INT(term(s, "s001", "t01").spooled, 15);
    CHECK_INT(term(s, "s001", "t02").spooled, 3);
    CHECK_INT(nterms(s), 2);
    CHECK(stats(s).pending_bytes != st0.pending_bytes);
    pe_spool_rollback(s);

    struct pe_spool_terminal after = term(s, "s001", "t01");
    CHECK(memcmp(&before, &after, sizeof before) == 0);
    CHECK_INT(after.spooled, 10);
    CHECK_INT(after.delivered, 2);
    CHECK_STR(after.tail_hash, a.prev);
    CHECK_INT(term(s, "s001", "t02").spooled, 0);
    CHECK_INT(nterms(s), 1);
    struct pe_spool_stats st1 = stats(s);
    CHECK(memcmp(&st0, &st1, sizeof st0) == 0);
    CHECK_INT(raw_rows(path, NULL), 10);
    CHECK_INT(raw_int(path, "SELECT count(*) FROM terminals"), 1);

    /* The cache chains from the real tail again: the same records go in after the rollback. */
    CHECK_OK(pe_spool_begin(s));
    CHECK_OK(add(s, &keep11));
    rec_free(&keep11);
    CHECK_OK(pe_spool_commit(s));
    add_n(s, &b, 3, 0, NULL);
    CHECK_INT(term(s, "s001", "t01").spooled, 11);
    CHECK_INT(term(s, "s001", "t02").spooled, 3);

    /* Closing with a transaction open rolls it back, too. */
    CHECK_OK(pe_spool_begin(s));
    struct rec r;
    till_next(&b, 0, &r);
    CHECK_OK(add(s, &r));
    rec_free(&r);
    pe_spool_close(s);
    s = open_s(path, 0);
    CHECK_INT(term(s, "s001", "t02").spooled, 3);
    CHECK_INT(term(s, "s001", "t01").spooled, 11);
    CHECK_INT(raw_rows(path, NULL), 14);
    pe_spool_close(s);
}

static void t_reopen(void)
{
    const char *path = pe_test_path(0, "spool.db");
    struct pe_spool *s = open_s(path, 0);
    struct till a, b;
    till_init(&a, "s001", "t01", 1);
    till_init(&b, "s001", "t02", 2);
    add_n(s, &a, 40, 20, NULL);
    add_n(s, &b, 7, 0, NULL);
    CHECK_OK(pe_spool_set_delivered(s, "s001", "t01", 25));
    int64_t deleted = 0;
    CHECK_OK(pe_spool_prune(s, 10, &deleted));
    CHECK_INT(deleted, 10);
    struct term_list l0 = {0}, l1 = {0};
    CHECK_OK(pe_spool_terminals(s, list_term, &l0));
    struct pe_spool_stats st0 = stats(s);
    pe_spool_close(s);

    s = open_s(path, 0);
    CHECK_OK(pe_spool_terminals(s, list_term, &l1));
    CHECK_INT(l1.n, 2);
    CHECK(memcmp(&l0, &l1, sizeof l0) == 0);
    CHECK_INT(l1.t[0].oldest_pending_ts_ms, TS0 + 26 * 1000 + a.num);
    struct pe_spool_stats st1 = stats(s);
    CHECK(memcmp(&st0, &st1, sizeof st0) == 0);
    CHECK_INT(st1.rows, 37);
    CHECK_INT(st1.pending, 22);

    /* The cached tails chain on, duplicates are still seen, and a new terminal gets its own
     * key range (it must not collide with the existing ones). */
    struct till c, a1;
    till_init(&c, "s001", "t03", 3);
    till_init(&a1, "s001", "t01", 1);
    struct rec r;
    for (int i = 1; i <= 30; i++) {
        till_next(&a1, 20, &r);
        rec_free(&r);
    }
    CHECK_OK(pe_spool_begin(s));
    till_next(&a1, 20, &r);
    CHECK_INT(add(s, &r), PE_EEXIST);
    rec_free(&r);
    CHECK_OK(pe_spool_commit(s));
    add_n(s, &a, 5, 20, NULL);
    add_n(s, &c, 4, 0, NULL);
    add_n(s, &b, 1, 0, NULL);
    CHECK_INT(term(s, "s001", "t01").spooled, 45);
    CHECK_INT(term(s, "s001", "t02").spooled, 8);
    CHECK_INT(term(s, "s001", "t03").spooled, 4);
    CHECK_INT(rows(s, &a, 0, 1000).n, 35); /* 11..45: 1..10 were pruned */
    CHECK_INT(rows(s, &b, 0, 1000).n, 8);
    CHECK_INT(rows(s, &c, 0, 1000).n, 4);
    pe_spool_close(s);
    s = open_s(path, 0);
    CHECK_INT(nterms(s), 3);
    CHECK_INT(stats(s).rows, 35 + 8 + 4);
    pe_spool_close(s);
}

/* Another connection wrote: the next transaction reloads the cache instead of chaining onto
 * a stale tail. */
static void t_second_handle(void)
{
    const char *path = pe_test_path(0, "spool.db");
    struct pe_spool *s1 = open_s(path, 0), *s2 = open_s(path, 0);
    struct till a;
    till_init(&a, "s001", "t01", 1);
    add_n(s1, &a, 5, 0, NULL);
    CHECK_INT(term(s2, "s001", "t01").spooled, 0); /* not yet: it reloads at begin */

    CHECK_OK(pe_spool_set_delivered(s2, "s001", "t01", 2));
    CHECK_INT(term(s2, "s001", "t01").spooled, 5);
    add_n(s2, &a, 2, 0, NULL);
    CHECK_INT(term(s2, "s001", "t01").spooled, 7);

    CHECK_OK(pe_spool_begin(s1));
    struct pe_spool_terminal t = term(s1, "s001", "t01");
    CHECK_INT(t.spooled, 7);
    CHECK_INT(t.delivered, 2);
    CHECK_STR(t.tail_hash, a.prev);
    struct rec r;
    till_next(&a, 0, &r);
    CHECK_OK(add(s1, &r));
    rec_free(&r);
    CHECK_OK(pe_spool_commit(s1));
    check_stats(s1, 8, 6, stats(s1).pending_bytes);
    pe_spool_close(s2);
    pe_spool_close(s1);
    s1 = open_s(path, 0);
    CHECK_INT(term(s1, "s001", "t01").spooled, 8);
    pe_spool_close(s1);
}

static void t_set_delivered(void)
{
    const char *path = pe_test_path(0, "spool.db");
    struct pe_spool *s = open_s(path, 0);
    struct till a;
    till_init(&a, "s001", "t01", 1);
    int64_t lens[11] = {0};
    CHECK_OK(pe_spool_begin(s));
    for (int i = 1; i <= 10; i++) {
        struct rec r;
        till_next(&a, (size_t)i * 3, &r);
        CHECK_OK(add(s, &r));
        lens[i] = (int64_t)r.len;
        rec_free(&r);
    }
    CHECK_OK(pe_spool_commit(s));
    int64_t total = 0;
    for (int i = 1; i <= 10; i++)
        total += lens[i];

    CHECK_OK(pe_spool_set_delivered(s, "s001", "t01", 5));
    struct pe_spool_terminal t = term(s, "s001", "t01");
    CHECK_INT(t.delivered, 5);
    CHECK_INT(t.oldest_pending_ts_ms, TS0 + 6 * 1000 + a.num);
    check_stats(s, 10, 5, lens[6] + lens[7] + lens[8] + lens[9] + lens[10]);

    /* Never lowered; never past spooled. */
    CHECK_OK(pe_spool_set_delivered(s, "s001", "t01", 3));
    CHECK_OK(pe_spool_set_delivered(s, "s001", "t01", 5));
    CHECK_INT(term(s, "s001", "t01").delivered, 5);
    CHECK_INT(pe_spool_set_delivered(s, "s001", "t01", 11), PE_EINVAL);
    CHECK_INT(term(s, "s001", "t01").delivered, 5);
    CHECK_INT(pe_spool_set_delivered(s, "s001", "t09", 1), PE_EINVAL);
    CHECK_OK(pe_spool_set_delivered(s, "s001", "t09", 0));
    CHECK_INT(nterms(s), 1);
    CHECK_INT(raw_int(path, "SELECT delivered FROM terminals"), 5);

    /* Inside a transaction it moves with the transaction, also past rows added in it. */
    struct rec r;
    till_next(&a, 0, &r);
    CHECK_OK(pe_spool_begin(s));
    CHECK_OK(add(s, &r));
    CHECK_OK(pe_spool_set_delivered(s, "s001", "t01", 11));
    CHECK_INT(term(s, "s001", "t01").delivered, 11);
    check_stats(s, 11, 0, 0);
    pe_spool_rollback(s);
    CHECK_INT(term(s, "s001", "t01").delivered, 5);
    CHECK_INT(term(s, "s001", "t01").spooled, 10);
    CHECK_OK(pe_spool_begin(s));
    CHECK_OK(add(s, &r));
    CHECK_OK(pe_spool_set_delivered(s, "s001", "t01", 7));
    CHECK_OK(pe_spool_set_delivered(s, "s001", "t01", 6)); /* nor lowered in a transaction */
    CHECK_INT(term(s, "s001", "t01").delivered, 7);
    CHECK_INT(pe_spool_set_delivered(s, "s001", "t01", 12), PE_EINVAL);
    CHECK_OK(pe_spool_commit(s));
    rec_free(&r);
    CHECK_INT(raw_int(path, "SELECT delivered FROM terminals"), 7);

    CHECK_OK(pe_spool_set_delivered(s, "s001", "t01", 11));
    t = term(s, "s001", "t01");
    CHECK_INT(t.delivered, 11);
    CHECK_INT(t.oldest_pending_ts_ms, 0);
    check_stats(s, 11, 0, 0);
    pe_spool_close(s);

    s = open_s(path, 0);
    CHECK_INT(term(s, "s001", "t01").delivered, 11);
    check_stats(s, 11, 0, 0);
    (void)total;
    pe_spool_close(s);
}

static void t_rows(void)
{
    struct pe_spool *s = open_s(pe_test_path(0, "spool.db"), 0);
    struct till a;
    till_init(&a, "s001", "t01", 1);
    add_n(s, &a, 50, 30, NULL);

    struct seen v = rows(s, &a, 0, 10);
    CHECK_INT(v.n, 10);
    CHECK_INT(v.first, 1);
    CHECK_INT(v.last, 10);
    CHECK(v.ordered);
    v = rows(s, &a, 10, 10);
    CHECK_INT(v.first, 11);
    CHECK_INT(v.last, 20);
    v = rows(s, &a, 45, 100);
    CHECK_INT(v.n, 5);
    CHECK_INT(v.first, 46);
    CHECK_INT(v.last, 50);
    CHECK_INT(rows(s, &a, 50, 100).n, 0);
    CHECK_INT(rows(s, &a, 1000, 100).n, 0);
    v = rows(s, &a, -5, 3);
    CHECK_INT(v.first, 1);
    CHECK_INT(v.n, 3);
    CHECK_INT(rows(s, &a, 0, 0).n, 0);
    v = rows(s, &a, 0, 1);
    CHECK_INT(v.n, 1);
    CHECK_INT(v.first, 1);

    /* fn stops the walk; its value comes back. */
    struct seen stop = {.stop_at = 3};
    CHECK_INT(pe_spool_rows(s, "s001", "t01", 0, 100, on_row, &stop), 7);
    CHECK_INT(stop.n, 3);
    /* A nested walk is refused; the outer one goes on. */
    struct seen nest = {.nest = s};
    CHECK_OK(pe_spool_rows(s, "s001", "t01", 40, 100, on_row, &nest));
    CHECK_INT(nest.n, 10);
    CHECK_INT(nest.nest_rc, PE_ESTATE);

    struct seen none = {0};
    CHECK_OK(pe_spool_rows(s, "s001", "t02", 0, 100, on_row, &none));
    CHECK_INT(none.n, 0);
    CHECK_OK(pe_spool_rows(s, "s009", "t01", 0, 100, on_row, &none));
    CHECK_INT(none.n, 0);
    pe_spool_close(s);
}

static void t_prune(void)
{
    const char *path = pe_test_path(0, "spool.db");
    struct pe_spool *s = open_s(path, 0);
    struct till a, b;
    till_init(&a, "s001", "t01", 1);
    till_init(&b, "s001", "t02", 2);
    int64_t bytes = 0;
    add_n(s, &a, 50, 0, &bytes);
    add_n(s, &b, 10, 0, NULL);

    int64_t deleted = -1;
    CHECK_OK(pe_spool_prune(s, 100, &deleted)); /* nothing delivered: nothing goes */
    CHECK_INT(deleted, 0);
    CHECK_INT(raw_rows(path, NULL), 60);

    CHECK_OK(pe_spool_set_delivered(s, "s001", "t01", 20));
    CHECK_OK(pe_spool_set_delivered(s, "s001", "t02", 4));
    CHECK_OK(pe_spool_prune(s, 5, &deleted));
    CHECK_INT(deleted, 5);
    CHECK_INT(rows(s, &a, 0, 100).first, 6);
    CHECK_OK(pe_spool_prune(s, 17, &deleted)); /* the bound spans terminals */
    CHECK_INT(deleted, 17);
    CHECK_OK(pe_spool_prune(s, 1000, NULL));
    CHECK_OK(pe_spool_prune(s, 1000, &deleted));
    CHECK_INT(deleted, 0);
    CHECK_INT(raw_rows(path, "t01"), 30);
    CHECK_INT(raw_rows(path, "t02"), 6);
    CHECK_INT(raw_int(path, "SELECT min(seq) FROM records WHERE terminal = 't01'"), 21);
    CHECK_INT(raw_int(path, "SELECT min(seq) FROM records WHERE terminal = 't02'"), 5);
    struct seen v = rows(s, &a, 0, 100);
    CHECK_INT(v.n, 30);
    CHECK_INT(v.first, 21);
    check_stats(s, 36, 36, stats(s).pending_bytes);
    CHECK_INT(term(s, "s001", "t01").oldest_pending_ts_ms, TS0 + 21 * 1000 + a.num);

    /* Resends of pruned and of kept records are duplicates; other content is not. */
    struct till a1;
    till_init(&a1, "s001", "t01", 1);
    struct rec r;
    CHECK_OK(pe_spool_begin(s));
    for (int i = 1; i <= 25; i++) {
        till_next(&a1, 0, &r);
        CHECK_INT(add(s, &r), PE_EEXIST);
        rec_free(&r);
    }
    rec_make(&a1, 26, a1.prev, 1, 0, &r);
    CHECK_INT(add(s, &r), PE_ECHAIN);
    rec_free(&r);
    CHECK_OK(pe_spool_commit(s));

    /* Within a transaction prune goes with it. */
    CHECK_OK(pe_spool_set_delivered(s, "s001", "t01", 30));
    CHECK_OK(pe_spool_begin(s));
    CHECK_OK(pe_spool_prune(s, 100, &deleted));
    CHECK_INT(deleted, 10);
    CHECK_INT(stats(s).rows, 26);
    pe_spool_rollback(s);
    CHECK_INT(stats(s).rows, 36);
    CHECK_INT(raw_rows(path, NULL), 36);
    pe_spool_close(s);

    /* The pruned file opens (its first row is now pruned + 1) and keeps going. */
    s = open_s(path, 0);
    CHECK_INT(stats(s).rows, 36);
    add_n(s, &a, 1, 0, NULL);
    CHECK_INT(term(s, "s001", "t01").spooled, 51);
    pe_spool_close(s);
}

static void t_quota(void)
{
    const char *path = pe_test_path(0, "spool.db");
    struct till a, probe;
    till_init(&a, "s001", "t01", 1);
    till_init(&probe, "s001", "t01", 1);
    struct rec r;
    till_next(&probe, 100, &r);
    int64_t one = (int64_t)r.len; /* every record below has this length, give or take */
    rec_free(&r);
    int64_t quota = 10 * one + one / 2;
    struct pe_spool *s = open_s(path, quota);

    int stored = 0, rc = PE_OK;
    struct rec refused = {0};
    CHECK_OK(pe_spool_begin(s));
    while (stored < 100) {
        till_next(&a, 100, &r);
        rc = add(s, &r);
        if (rc) {
            refused = r;
            break;
        }
        stored++;
        rec_free(&r);
    }
    CHECK_INT(rc, PE_EFULL);
    CHECK_INT(stored, 10);
    CHECK(stats(s).pending_bytes <= quota);
    CHECK_OK(pe_spool_commit(s)); /* the refused record is not part of it, the rest is */
    CHECK_INT(term(s, "s001", "t01").spooled, 10);
    CHECK_INT(raw_rows(path, NULL), 10);

    /* A new terminal is refused as well: the quota is the spool's. */
    struct till b;
    till_init(&b, "s001", "t02", 2);
    till_next(&b, 100, &r);
    CHECK_OK(pe_spool_begin(s));
    CHECK_INT(add(s, &r), PE_EFULL);
    CHECK_INT(add(s, &refused), PE_EFULL);
    pe_spool_rollback(s);
    CHECK_INT(nterms(s), 1);

    /* The quota survives a reopen: the byte count is stored, not guessed. */
    pe_spool_close(s);
    s = open_s(path, quota);
    CHECK_OK(pe_spool_begin(s));
    CHECK_INT(add(s, &refused), PE_EFULL);
    pe_spool_rollback(s);

    /* Delivered and pruned, the space is free again. */
    CHECK_OK(pe_spool_set_delivered(s, "s001", "t01", 4));
    int64_t deleted = 0;
    CHECK_OK(pe_spool_prune(s, 100, &deleted));
    CHECK_INT(deleted, 4);
    CHECK_OK(pe_spool_begin(s));
    CHECK_OK(add(s, &refused));
    CHECK_OK(add(s, &r));
    CHECK_OK(pe_spool_commit(s));
    rec_free(&refused);
    rec_free(&r);
    CHECK_INT(term(s, "s001", "t01").spooled, 11);
    CHECK_INT(term(s, "s001", "t02").spooled, 1);
    check_stats(s, 8, 8, stats(s).pending_bytes);
    CHECK(stats(s).pending_bytes <= quota);
    pe_spool_close(s);
}

static void t_stats(void)
{
    const char *path = pe_test_path(0, "spool.db");
    struct pe_spool *s = open_s(path, 0);
    struct till t[4];
    char name[16];
    for (int k = 0; k < 4; k++) {
        snprintf(name, sizeof name, "t%02d", k + 1);
        till_init(&t[k], k < 3 ? "s001" : "s002", name, k + 1);
        add_n(s, &t[k], 10 * (k + 1), (size_t)(k * 17), NULL);
    }
    CHECK_OK(pe_spool_set_delivered(s, "s001", "t01", 10));
    CHECK_OK(pe_spool_set_delivered(s, "s001", "t02", 7));
    CHECK_OK(pe_spool_set_delivered(s, "s001", "t03", 29));
    CHECK_OK(pe_spool_prune(s, 20, NULL));

    /* What a plain connection counts, through the `records` view and `terminals`. */
    struct pe_spool_stats st = stats(s);
    CHECK_INT(st.rows, raw_rows(path, NULL));
    CHECK_INT(st.rows, 100 - 20);
    CHECK_INT(st.pending, 100 - 10 - 7 - 29);
    CHECK_INT(st.pending, raw_int(path, "SELECT count(*) FROM records r JOIN terminals t "
                                        "USING (store, terminal) WHERE r.seq > t.delivered"));
    CHECK_INT(st.pending_bytes,
              raw_int(path, "SELECT sum(length(r.record)) FROM records r JOIN terminals t "
                            "USING (store, terminal) WHERE r.seq > t.delivered"));
    pe_spool_close(s);
}

/* Open expecting failure; err must name the file. */
static void expect_refused(const char *path, int want, const char *text)
{
    struct pe_spool *s = NULL;
    char err[512];
    int rc = pe_spool_open(path, NULL, &s, err, sizeof err);
    if (rc != want)
        pe_test_fail(__FILE__, __LINE__, "open %s: %s, expected %s (%s)", path, pe_errname(rc),
                     pe_errname(want), err);
    CHECK(s == NULL);
    CHECK(strstr(err, path) != NULL);
    if (text && !strstr(err, text))
        pe_test_fail(__FILE__, __LINE__, "err=\"%s\" does not say \"%s\"", err, text);
}

static void fill_garbage(const char *path, long from, long n)
{
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    uint32_t x = 2463534242u;
    CHECK(fseek(f, from, SEEK_SET) == 0);
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        fputc((int)(x & 0xff), f);
    }
    CHECK(fclose(f) == 0);
}

static void spool_with(const char *path, int n)
{
    struct pe_spool *s = open_s(path, 0);
    struct till a;
    till_init(&a, "s001", "t01", 1);
    add_n(s, &a, n, 200, NULL);
    pe_spool_close(s);
}

static void t_not_a_spool(void)
{
    /* A text file, another database, a journal-like file, a newer spool. */
    const char *text = pe_test_path(0, "text.db");
    FILE *f = fopen(text, "wb");
    for (int i = 0; i < 200; i++)
        fputs("this is not a database at all. ", f);
    fclose(f);
    expect_refused(text, PE_ECORRUPT, NULL);

    const char *foreign = pe_test_path(1, "foreign.db");
    raw_sql(foreign, "CREATE TABLE t(x)");
    expect_refused(foreign, PE_ECORRUPT, "not a posedge spool");
    const char *journal = pe_test_path(2, "journal.db");
    raw_sql(journal, "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT); PRAGMA user_version=1");
    expect_refused(journal, PE_ECORRUPT, "not a posedge spool");

    const char *newer = pe_test_path(3, "newer.db");
    spool_with(newer, 2);
    raw_sql(newer, "PRAGMA user_version = 6");
    expect_refused(newer, PE_EINVAL, "schema version 6");
}

static void t_damaged(void)
{
    /* Whole middle pages of garbage: quick_check sees them. */
    const char *p0 = pe_test_path(0, "pages.db");
    spool_with(p0, 300);
    const long page = 4096;
    fill_garbage(p0, 5 * page, 3 * page);
    expect_refused(p0, PE_ECORRUPT, "damaged");

    /* A destroyed header. */
    const char *p1 = pe_test_path(1, "header.db");
    spool_with(p1, 3);
    fill_garbage(p1, 0, 32);
    expect_refused(p1, PE_ECORRUPT, NULL);

    /* Tables that disagree with each other: the probes at open see it. */
    const char *p2 = pe_test_path(2, "edited.db");
    spool_with(p2, 20);
    raw_sql(p2, "UPDATE terminals SET spooled = 21");
    expect_refused(p2, PE_ECORRUPT, "seq 21: missing");
    raw_sql(p2, "UPDATE terminals SET spooled = 20");
    pe_spool_close(open_s(p2, 0));
    raw_sql(p2, "UPDATE terminals SET tail_hash = lower(hex(randomblob(32)))");
    expect_refused(p2, PE_ECORRUPT, "tail hash");
    const char *p3 = pe_test_path(3, "edited2.db");
    spool_with(p3, 20);
    raw_sql(p3, "DELETE FROM spool WHERE k = (SELECT min(k) FROM spool)");
    expect_refused(p3, PE_ECORRUPT, "seq 1: missing");
    raw_sql(p3, "UPDATE terminals SET delivered = 1, pruned = 1, delivered_bytes = 1");
    expect_refused(p3, PE_ECORRUPT, "delivered bytes");
    raw_sql(p3, "UPDATE terminals SET delivered = 30");
    expect_refused(p3, PE_ECORRUPT, "not consistent");
}

/* Size and modification time of a file, or -1s when it does not exist. */
static void file_sig(const char *path, int64_t sig[3])
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        sig[0] = sig[1] = sig[2] = -1;
        return;
    }
    sig[0] = (int64_t)sb.st_size;
    sig[1] = (int64_t)sb.st_mtim.tv_sec;
    sig[2] = (int64_t)sb.st_mtim.tv_nsec;
}

/* The spool's three files, to show that verify changed none of them. */
static void files_sig(const char *path, int64_t sig[9])
{
    char p[600];
    file_sig(path, sig);
    snprintf(p, sizeof p, "%s-wal", path);
    file_sig(p, sig + 3);
    snprintf(p, sizeof p, "%s-shm", path);
    file_sig(p, sig + 6);
}

static void expect_verify(const char *path, int want, const char *text)
{
    char err[512];
    int64_t terminals = -1;
    struct pe_spool_stats st;
    int rc = pe_spool_verify(path, &st, &terminals, err, sizeof err);
    if (rc != want)
        pe_test_fail(__FILE__, __LINE__, "verify %s: %s, expected %s (%s)", path, pe_errname(rc),
                     pe_errname(want), err);
    CHECK(strstr(err, path) != NULL);
    if (text && !strstr(err, text))
        pe_test_fail(__FILE__, __LINE__, "err=\"%s\" does not say \"%s\"", err, text);
}

static void t_verify(void)
{
    char err[512];
    int64_t n = -1, before[9], after[9];
    struct pe_spool_stats st;

    /* No file: its own answer (a fresh install has none). */
    const char *absent = pe_test_path(0, "absent.db");
    CHECK_INT(pe_spool_verify(absent, &st, &n, err, sizeof err), PE_ENOTFOUND);
    CHECK(strstr(err, absent) != NULL);
    CHECK(access(absent, F_OK) != 0); /* and not created */

    /* A closed spool (no -wal, no -shm): counts right, nothing changed or created. A name
     * with characters a URI would take apart. */
    const char *good = pe_test_path(1, "a b?c#d%e.db");
    struct pe_spool *s = open_s(good, 0);
    struct till a, b;
    till_init(&a, "s001", "t01", 1);
    till_init(&b, "s001", "t02", 2);
    add_n(s, &a, 10, 100, NULL);
    add_n(s, &b, 5, 100, NULL);
    CHECK_OK(pe_spool_set_delivered(s, "s001", "t01", 4));
    struct pe_spool_stats want = stats(s);
    pe_spool_close(s);
    files_sig(good, before);
    CHECK_OK(pe_spool_verify(good, &st, &n, err, sizeof err));
    files_sig(good, after);
    CHECK_INT(n, 2);
    CHECK_INT(st.pending, 11);
    CHECK_INT(st.pending, want.pending);
    CHECK_INT(st.pending_bytes, want.pending_bytes);
    CHECK(memcmp(before, after, sizeof before) == 0);
    CHECK_INT(after[3], -1); /* no -wal */
    CHECK_INT(after[6], -1); /* no -shm */

    /* Open in another handle, with records only in the WAL: seen, and still nothing changed
     * (the -shm index is read, never written). */
    s = open_s(good, 0);
    add_n(s, &a, 3, 100, NULL);
    files_sig(good, before);
    CHECK(before[3] > 0 && before[6] > 0);
    CHECK_OK(pe_spool_verify(good, &st, &n, err, sizeof err));
    files_sig(good, after);
    CHECK_INT(st.pending, 14);
    CHECK(memcmp(before, after, sizeof before) == 0);
    pe_spool_close(s);

    /* An empty file is a spool never written to. */
    const char *empty = pe_test_path(2, "empty.db");
    fclose(fopen(empty, "wb"));
    CHECK_OK(pe_spool_verify(empty, &st, &n, err, sizeof err));
    CHECK_INT(n, 0);

    /* Refused as pe_spool_open refuses, with the file named. */
    const char *p0 = pe_test_path(2, "pages.db");
    spool_with(p0, 300);
    fill_garbage(p0, 5 * 4096, 3 * 4096);
    expect_verify(p0, PE_ECORRUPT, "damaged");
    const char *p1 = pe_test_path(3, "edited.db");
    spool_with(p1, 20);
    raw_sql(p1, "UPDATE terminals SET spooled = 21");
    expect_verify(p1, PE_ECORRUPT, "seq 21: missing");
    raw_sql(p1, "UPDATE terminals SET spooled = 20; PRAGMA user_version = 6");
    expect_verify(p1, PE_EINVAL, "schema version 6");
    raw_sql(p1, "CREATE TABLE extra(x); PRAGMA application_id = 7");
    expect_verify(p1, PE_ECORRUPT, "not a posedge spool");
}

/* 200,000 small records in transactions of 500 from 4 tills, then the drain. */
static void t_throughput(void)
{
    const char *path = pe_test_path(0, "spool.db");
    struct pe_spool *s = open_s(path, 0);
    enum { N = 200000, BATCH = 500, TILLS = 4 };
    struct till t[TILLS];
    char name[16];
    for (int k = 0; k < TILLS; k++) {
        snprintf(name, sizeof name, "t%02d", k + 1);
        till_init(&t[k], "s001", name, k + 1);
    }
    struct rec *batch = calloc(BATCH, sizeof *batch);
    CHECK(batch != NULL);
    int64_t add_us = 0, bytes = 0;
    for (int b = 0; b < N / BATCH; b++) {
        struct till *till = &t[b % TILLS]; /* an MQTT batch comes from one till */
        for (int i = 0; i < BATCH; i++)
            till_next(till, 0, &batch[i]);
        int64_t t0 = pe_mono_us();
        CHECK_OK(pe_spool_begin(s));
        for (int i = 0; i < BATCH; i++)
            CHECK_OK(add(s, &batch[i]));
        CHECK_OK(pe_spool_commit(s));
        add_us += pe_mono_us() - t0;
        for (int i = 0; i < BATCH; i++) {
            bytes += (int64_t)batch[i].len;
            rec_free(&batch[i]);
        }
    }
    free(batch);
    check_stats(s, N, N, bytes);

    /* The drain: pages of 10,000 per call, as the Kafka side would take them. */
    int64_t t0 = pe_mono_us(), seen = 0, seen_bytes = 0;
    for (int k = 0; k < TILLS; k++) {
        int64_t after = 0;
        for (;;) {
            struct seen v = {0};
            CHECK_OK(pe_spool_rows(s, t[k].store, t[k].terminal, after, 10000, on_row, &v));
            if (v.n == 0)
                break;
            CHECK(v.ordered);
            CHECK_INT(v.first, after + 1);
            after = v.last;
            seen += v.n;
            seen_bytes += v.bytes;
        }
        CHECK_INT(after, N / TILLS);
    }
    int64_t read_us = pe_mono_us() - t0;
    CHECK_INT(seen, N);
    CHECK_INT(seen_bytes, bytes);

    /* Delivery and pruning of the whole backlog. */
    t0 = pe_mono_us();
    for (int k = 0; k < TILLS; k++)
        CHECK_OK(pe_spool_set_delivered(s, t[k].store, t[k].terminal, N / TILLS));
    int64_t deleted = 0, total = 0;
    do {
        CHECK_OK(pe_spool_prune(s, 20000, &deleted));
        total += deleted;
    } while (deleted);
    int64_t prune_us = pe_mono_us() - t0;
    CHECK_INT(total, N);
    check_stats(s, 0, 0, 0);
    pe_spool_close(s);

    printf("# spool: add %d records (%lld bytes) in batches of %d: %.0f/s; read back: %.0f/s; "
           "deliver+prune: %.0f/s\n",
           N, (long long)bytes, BATCH, N / (add_us / 1e6), N / (read_us / 1e6),
           N / (prune_us / 1e6));
}

static int hash_of_row(const struct pe_spool_row *r, void *ctx)
{
    char(*hashes)[PE_SHA256_HEXLEN] = ctx;
    CHECK_STR(r->hash, hashes[r->seq]);
    return 0;
}

/* Kafka's committed state brings a spool that is behind it forward, and checks one ahead. */
static void t_advance(void)
{
    const char *path = pe_test_path(0, "spool.db");
    struct pe_spool *s = open_s(path, 0);
    struct till a;
    struct rec r[12];
    char hashes[12][PE_SHA256_HEXLEN];
    till_init(&a, "s001", "t01", 1);
    for (int i = 1; i <= 10; i++) {
        till_next(&a, 0, &r[i]);
        memcpy(hashes[i], r[i].hash, PE_SHA256_HEXLEN);
    }
    /* Behind: the spool has 1..3, Kafka has 1..7. */
    CHECK_OK(pe_spool_begin(s));
    for (int i = 1; i <= 3; i++)
        CHECK_OK(add(s, &r[i]));
    CHECK_OK(pe_spool_commit(s));
    CHECK_OK(pe_spool_advance(s, "s001", "t01", 7, hashes[7]));
    struct pe_spool_terminal t = term(s, "s001", "t01");
    CHECK_INT(t.spooled, 7);
    CHECK_INT(t.delivered, 7);
    CHECK_STR(t.tail_hash, hashes[7]);
    check_stats(s, 0, 0, 0);
    CHECK_INT(raw_rows(path, "t01"), 0);
    /* The till's resend of what Kafka has is a duplicate; its next record continues. */
    CHECK_OK(pe_spool_begin(s));
    CHECK_INT(add(s, &r[5]), PE_EEXIST);
    CHECK_OK(add(s, &r[8]));
    CHECK_OK(pe_spool_commit(s));
    check_stats(s, 1, 1, (int64_t)r[8].len);
    struct seen v = rows(s, &a, 0, 100);
    CHECK_INT(v.n, 1);
    CHECK_INT(v.first, 8);
    CHECK_OK(pe_spool_rows(s, "s001", "t01", 0, 100, hash_of_row, hashes));
    pe_spool_close(s);
    s = open_s(path, 0); /* the start-up checks accept what advance left */
    CHECK_INT(term(s, "s001", "t01").spooled, 8);

    /* Ahead: the spool has 1..10 of t02, Kafka 1..4: only delivered moves. */
    struct till b;
    till_init(&b, "s001", "t02", 2);
    struct rec q[11];
    char qh[11][PE_SHA256_HEXLEN];
    CHECK_OK(pe_spool_begin(s));
    for (int i = 1; i <= 10; i++) {
        till_next(&b, 0, &q[i]);
        memcpy(qh[i], q[i].hash, PE_SHA256_HEXLEN);
        CHECK_OK(add(s, &q[i]));
    }
    CHECK_OK(pe_spool_commit(s));
    CHECK_INT(pe_spool_advance(s, "s001", "t02", 4, qh[5]), PE_ECHAIN);
    CHECK_INT(term(s, "s001", "t02").delivered, 0);
    CHECK_OK(pe_spool_advance(s, "s001", "t02", 4, qh[4]));
    t = term(s, "s001", "t02");
    CHECK_INT(t.spooled, 10);
    CHECK_INT(t.delivered, 4);
    CHECK_INT(pe_spool_advance(s, "s001", "t02", 10, qh[9]), PE_ECHAIN);
    CHECK_OK(pe_spool_advance(s, "s001", "t02", 10, qh[10]));
    CHECK_INT(term(s, "s001", "t02").delivered, 10);
    CHECK_OK(pe_spool_rows(s, "s001", "t02", 0, 100, hash_of_row, qh));

    /* A terminal the spool never saw, inside an open transaction that is rolled back. */
    CHECK_OK(pe_spool_begin(s));
    CHECK_OK(pe_spool_advance(s, "s001", "t03", 5, qh[5]));
    CHECK_INT(term(s, "s001", "t03").spooled, 5);
    pe_spool_rollback(s);
    CHECK_INT(term(s, "s001", "t03").spooled, 0);
    CHECK_OK(pe_spool_advance(s, "s001", "t03", 5, qh[5]));
    CHECK_INT(term(s, "s001", "t03").spooled, 5);

    /* Refusals name nothing stored. */
    CHECK_INT(pe_spool_advance(s, "s001", "t01", 0, hashes[1]), PE_EINVAL);
    CHECK_INT(pe_spool_advance(s, "s001", "t01", 9, "xyz"), PE_EINVAL);
    CHECK_INT(pe_spool_advance(s, "s 001", "t01", 9, hashes[9]), PE_EINVAL);
    CHECK_INT(term(s, "s001", "t01").spooled, 8);
    for (int i = 1; i <= 10; i++) {
        rec_free(&r[i]);
        rec_free(&q[i]);
    }
    pe_spool_close(s);
}

struct meta_seen {
    char keys[8][64];
    char values[8][128];
    int64_t updated[8];
    int n;
};

static int see_meta(const struct pe_spool_meta *m, void *ctx)
{
    struct meta_seen *seen = ctx;
    if (seen->n == 8)
        return 1;
    snprintf(seen->keys[seen->n], sizeof seen->keys[0], "%s", m->key);
    snprintf(seen->values[seen->n], sizeof seen->values[0], "%s", m->value);
    seen->updated[seen->n++] = m->updated_ms;
    return 0;
}

static int64_t user_version(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        pe_test_fail(__FILE__, __LINE__, "%s: %s", sql, msg);
    sqlite3_free(msg);
    sqlite3_close(db);
}

/* Metadata: a key/value store the spool does not interpret; put replaces, list takes a
 * prefix, values survive a reopen, nothing is written inside an intake transaction. */
static void t_meta(void)
{
    const char *path = pe_test_path(0, "meta.db");
    struct pe_spool *s = NULL;
    char err[256], *v = NULL;
    CHECK_OK(pe_spool_open(path, NULL, &s, err, sizeof err));
    CHECK_INT(pe_spool_meta_get(s, "a/1", &v), PE_ENOTFOUND);
    CHECK(v == NULL);
    CHECK_OK(pe_spool_meta_put(s, "a/1", "one", 1000));
    CHECK_OK(pe_spool_meta_put(s, "a/2", "two", 1000));
    CHECK_OK(pe_spool_meta_put(s, "b/1", "other", 1000));
    CHECK_OK(pe_spool_meta_put(s, "a/1", "uno", 2000)); /* replaces */
    CHECK_INT(pe_spool_meta_put(s, "", "x", 1), PE_EINVAL);
    CHECK_OK(pe_spool_begin(s));
    CHECK_INT(pe_spool_meta_put(s, "a/3", "x", 1), PE_ESTATE);
    pe_spool_rollback(s);
    pe_spool_close(s);
    CHECK_OK(pe_spool_open(path, NULL, &s, err, sizeof err));
    CHECK_OK(pe_spool_meta_get(s, "a/1", &v));
    CHECK_STR(v, "uno");
    free(v);
    struct meta_seen seen = {0};
    CHECK_OK(pe_spool_meta_list(s, "a/", see_meta, &seen));
    CHECK_INT(seen.n, 2);
    CHECK_STR(seen.keys[0], "a/1");
    CHECK_STR(seen.values[0], "uno");
    CHECK_INT(seen.updated[0], 2000);
    CHECK_STR(seen.keys[1], "a/2");
    memset(&seen, 0, sizeof seen);
    CHECK_OK(pe_spool_meta_list(s, "", see_meta, &seen));
    CHECK_INT(seen.n, 3);
    memset(&seen, 0, sizeof seen);
    CHECK_OK(pe_spool_meta_list(s, "a/%", see_meta, &seen)); /* a prefix, not a pattern */
    CHECK_INT(seen.n, 0);
    pe_spool_close(s);
    CHECK_INT(user_version(path), 5);
}

/* The signatures and refusals of a terminal's rows (s001/t01). */
struct sig_seen {
    int n, with_sig, rejected;
    char sig[128];
    char reason[64];
    int64_t rejected_seq;
};

static int on_sig_row(const struct pe_spool_row *r, void *ctx)
{
    struct sig_seen *v = ctx;
    v->n++;
    if (r->sig) {
        v->with_sig++;
        CHECK_INT(strlen(r->sig), r->siglen);
        snprintf(v->sig, sizeof v->sig, "%s", r->sig);
    }
    if (r->rejected) {
        v->rejected++;
        snprintf(v->reason, sizeof v->reason, "%s", r->rejected);
        v->rejected_seq = r->seq;
    }
    return 0;
}

static struct sig_seen sig_rows(struct pe_spool *s)
{
    struct sig_seen v = {0};
    CHECK_OK(pe_spool_rows(s, "s001", "t01", 0, 100, on_sig_row, &v));
    return v;
}

/* What a file of schema version 4 or older lacks: the spool's sig and rejected columns (and the
 * view shows neither). */
#define NO_SIGS                                                                                    \
    "DROP VIEW records; ALTER TABLE spool DROP COLUMN sig; ALTER TABLE spool DROP COLUMN rejected;" \
    "CREATE VIEW records AS SELECT t.store AS store, t.terminal AS terminal,"                     \
    " s.k - t.tid * 1099511627776 AS seq, s.id AS id, s.type AS type, s.ts_ms AS ts_ms,"          \
    " s.fiscal AS fiscal, lower(hex(s.hash)) AS hash, s.record AS record"                         \
    " FROM spool s JOIN terminals t ON s.k > t.tid * 1099511627776"                               \
    " AND s.k < (t.tid + 1) * 1099511627776;"

/* What a file of schema version 3 or older lacks: the document tables. */
#define NO_DOCS NO_SIGS "DROP TABLE doc_layers; DROP TABLE docs; DROP TABLE positions; "

/* Older files are migrated at open, one version per transaction: version 1 had no table of
 * ids, version 2 kept the Avro sinks' ids in schema_ids, which become metadata under the keys
 * the Avro profile uses ("avro/<subject>/<id>", {"schema":..., "version":...}; of two rows of
 * one key the newer wins). */
static void t_migration(void)
{
    const char *path = pe_test_path(0, "v1.db");
    struct pe_spool *s = NULL;
    char err[256];
    CHECK_OK(pe_spool_open(path, NULL, &s, err, sizeof err));
    pe_spool_close(s);
    exec_sql(path, "DROP TABLE meta; " NO_DOCS "PRAGMA user_version = 1;");
    CHECK_OK(pe_spool_open(path, NULL, &s, err, sizeof err));
    CHECK_OK(pe_spool_meta_put(s, "k", "v", 1));
    pe_spool_close(s);
    CHECK_INT(user_version(path), 5);

    path = pe_test_path(0, "v2.db");
    CHECK_OK(pe_spool_open(path, NULL, &s, err, sizeof err));
    pe_spool_close(s);
    exec_sql(path,
             "DROP TABLE meta;" NO_DOCS
             "CREATE TABLE schema_ids(subject TEXT NOT NULL, schema TEXT NOT NULL, id INTEGER NOT "
             "NULL, version INTEGER NOT NULL, learned_ms INTEGER NOT NULL, PRIMARY KEY(subject, "
             "schema));"
             "INSERT INTO schema_ids VALUES ('t-value', '\"int\"', 7, 2, 2000);"
             "INSERT INTO schema_ids VALUES ('t-value', '\"long\"', 7, 0, 1000);"
             "INSERT INTO schema_ids VALUES ('t-key', '{\"type\":\"string\"}', 8, 1, 1500);"
             "PRAGMA user_version = 2;");
    CHECK_OK(pe_spool_open(path, NULL, &s, err, sizeof err));
    struct meta_seen seen = {0};
    CHECK_OK(pe_spool_meta_list(s, "", see_meta, &seen));
    CHECK_INT(seen.n, 2);
    CHECK_STR(seen.keys[0], "avro/t-key/8");
    CHECK_STR(seen.values[0], "{\"schema\":\"{\\\"type\\\":\\\"string\\\"}\",\"version\":1}");
    CHECK_INT(seen.updated[0], 1500);
    CHECK_STR(seen.keys[1], "avro/t-value/7");
    CHECK_STR(seen.values[1], "{\"schema\":\"\\\"int\\\"\",\"version\":2}");
    CHECK_INT(seen.updated[1], 2000);
    pe_spool_close(s);
    CHECK_INT(user_version(path), 5);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'schema_ids'",
                                 -1, &st, NULL),
              SQLITE_OK);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    CHECK_INT(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ---- documents ---- */

struct docs_seen {
    int n;
    char keys[16][32];
    char docs[16][64]; /* "" for a removed key */
    int layers[16];
    int64_t changes[16];
};

static int see_doc(const struct pe_spool_doc *d, void *ctx)
{
    struct docs_seen *seen = ctx;
    if (seen->n == 16)
        return 1;
    snprintf(seen->keys[seen->n], sizeof seen->keys[0], "%s", d->key);
    snprintf(seen->docs[seen->n], sizeof seen->docs[0], "%s", d->doc ? d->doc : "");
    CHECK_INT(d->doc ? strlen(d->doc) : 0, d->len);
    seen->layers[seen->n] = d->layer;
    seen->changes[seen->n++] = d->change;
    return 0;
}

static void docs_list(struct pe_spool *s, const char *coll, int64_t after, bool removed,
                      struct docs_seen *seen)
{
    memset(seen, 0, sizeof *seen);
    CHECK_OK(pe_spool_docs(s, coll, after, removed, see_doc, seen));
}

static bool put(struct pe_spool *s, const char *coll, const char *key, int layer, const char *doc,
                int64_t change)
{
    bool changed = false;
    CHECK_OK(pe_spool_doc_put(s, coll, key, layer, doc, doc ? strlen(doc) : 0, change, &changed));
    return changed;
}

/* Layers: the highest one a key is in is its effective document; a change number is given
 * only when the effective document changes; a key in no layer stays as removed. */
static void t_docs_layers(void)
{
    struct pe_spool *s = open_s(pe_test_path(0, "docs.db"), 0);
    struct docs_seen seen;
    int64_t present = -1, removed = -1;

    CHECK_INT(pe_spool_doc_put(s, "items", "A", 0, "a", 1, 1, NULL), PE_ESTATE); /* no txn */
    CHECK_OK(pe_spool_begin(s));
    CHECK_INT(pe_spool_doc_put(s, "", "A", 0, "a", 1, 1, NULL), PE_EINVAL);
    CHECK_INT(pe_spool_doc_put(s, "items", "", 0, "a", 1, 1, NULL), PE_EINVAL);
    CHECK_INT(pe_spool_doc_put(s, "items", "A", PE_SPOOL_LAYERS, "a", 1, 1, NULL), PE_EINVAL);
    CHECK_INT(pe_spool_doc_put(s, "items", "A", -1, "a", 1, 1, NULL), PE_EINVAL);
    CHECK_INT(pe_spool_doc_put(s, "items", "A", 0, "a", 1, 0, NULL), PE_EINVAL);
    /* change 1: A and B in layer 0 (general), C removed although never seen: no row */
    CHECK(put(s, "items", "A", 0, "{\"p\":1}", 1));
    CHECK(put(s, "items", "B", 0, "{\"p\":2}", 1));
    CHECK(!put(s, "items", "C", 0, NULL, 1));
    CHECK(put(s, "promotions", "A", 0, "{\"x\":1}", 1)); /* another collection, same key */
    CHECK_OK(pe_spool_commit(s));
    docs_list(s, "items", 0, true, &seen);
    CHECK_INT(seen.n, 2);
    CHECK_STR(seen.keys[0], "A");
    CHECK_STR(seen.docs[0], "{\"p\":1}");
    CHECK_INT(seen.layers[0], 0);
    CHECK_INT(seen.changes[0], 1);

    /* change 2: A overridden in layer 1; B again with the same bytes (no change) */
    CHECK_OK(pe_spool_begin(s));
    CHECK(put(s, "items", "A", 1, "{\"p\":10}", 2));
    CHECK(!put(s, "items", "B", 0, "{\"p\":2}", 2));
    /* the same bytes in a higher layer: no change, but the row says where it comes from */
    CHECK(!put(s, "items", "B", 1, "{\"p\":2}", 2));
    CHECK_OK(pe_spool_commit(s));
    docs_list(s, "items", 1, true, &seen);
    CHECK_INT(seen.n, 1);
    CHECK_STR(seen.keys[0], "A");
    CHECK_STR(seen.docs[0], "{\"p\":10}");
    CHECK_INT(seen.layers[0], 1);
    CHECK_INT(seen.changes[0], 2);
    docs_list(s, "items", 0, true, &seen);
    CHECK_INT(seen.layers[1], 1);
    CHECK_INT(seen.changes[1], 1);

    /* change 3: a general update of A is hidden by its layer 1 document: no change; taking A
     * out of layer 1 falls back to layer 0's (a change); B out of layer 1 leaves the same
     * bytes (no change). */
    CHECK_OK(pe_spool_begin(s));
    CHECK(!put(s, "items", "A", 0, "{\"p\":3}", 3));
    CHECK(put(s, "items", "A", 1, NULL, 3));
    CHECK(!put(s, "items", "B", 1, NULL, 3));
    CHECK_OK(pe_spool_commit(s));
    docs_list(s, "items", 2, true, &seen);
    CHECK_INT(seen.n, 1);
    CHECK_STR(seen.docs[0], "{\"p\":3}");
    CHECK_INT(seen.layers[0], 0);
    CHECK_INT(seen.changes[0], 3);

    /* change 4: B out of every layer: removed, and listed as removed after 3 */
    CHECK_OK(pe_spool_begin(s));
    CHECK(put(s, "items", "B", 0, NULL, 4));
    CHECK(!put(s, "items", "B", 0, NULL, 4)); /* removing again changes nothing */
    CHECK_OK(pe_spool_commit(s));
    docs_list(s, "items", 3, true, &seen);
    CHECK_INT(seen.n, 1);
    CHECK_STR(seen.keys[0], "B");
    CHECK_STR(seen.docs[0], "");
    CHECK_INT(seen.layers[0], -1);
    CHECK_INT(seen.changes[0], 4);
    docs_list(s, "items", 3, false, &seen);
    CHECK_INT(seen.n, 0);
    docs_list(s, "items", 0, false, &seen); /* a full listing: what is there */
    CHECK_INT(seen.n, 1);
    CHECK_STR(seen.keys[0], "A");
    CHECK_OK(pe_spool_docs_count(s, "items", 0, &present, &removed));
    CHECK_INT(present, 1);
    CHECK_INT(removed, 1);
    CHECK_OK(pe_spool_docs_count(s, "items", 3, &present, &removed));
    CHECK_INT(present, 0);
    CHECK_INT(removed, 1);
    CHECK_OK(pe_spool_docs_count(s, "promotions", 0, &present, NULL));
    CHECK_INT(present, 1);

    /* change 5: B back */
    CHECK_OK(pe_spool_begin(s));
    CHECK(put(s, "items", "B", 1, "{\"p\":5}", 5));
    CHECK_OK(pe_spool_commit(s));
    docs_list(s, "items", 4, true, &seen);
    CHECK_INT(seen.n, 1);
    CHECK_STR(seen.docs[0], "{\"p\":5}");
    pe_spool_close(s);
}

/* One document by layer or the effective one; a working collection dropped whole leaves no
 * row, and nothing of another collection goes with it. */
static void t_docs_get_drop(void)
{
    struct pe_spool *s = open_s(pe_test_path(0, "getdrop.db"), 0);
    struct docs_seen seen;
    char *doc = NULL;
    size_t len = 0;
    int64_t present = -1, removed = -1;

    CHECK_OK(pe_spool_begin(s));
    CHECK(put(s, "items", "A", 0, "{\"p\":1}", 1));
    CHECK(put(s, "items", "A", 1, "{\"p\":2}", 1));
    CHECK(put(s, "items", "B", 0, "{\"p\":3}", 1));
    CHECK(put(s, "items", "B", 0, NULL, 2));
    CHECK(put(s, "work", "x", 0, "1", 1));
    CHECK(put(s, "work", "y", 0, "2", 1));
    CHECK(put(s, "work", "y", 0, NULL, 2)); /* a removal row */
    CHECK_OK(pe_spool_doc_get(s, "items", "A", -1, &doc, &len)); /* seen inside */
    CHECK_STR(doc, "{\"p\":2}");
    CHECK_INT(len, 7);
    free(doc);
    CHECK_OK(pe_spool_commit(s));
    CHECK_OK(pe_spool_doc_get(s, "items", "A", 0, &doc, &len));
    CHECK_STR(doc, "{\"p\":1}");
    free(doc);
    CHECK_INT(pe_spool_doc_get(s, "items", "A", 2, &doc, &len), PE_ENOTFOUND);
    CHECK(doc == NULL);
    CHECK_INT(pe_spool_doc_get(s, "items", "B", -1, &doc, &len), PE_ENOTFOUND); /* removed */
    CHECK_INT(pe_spool_doc_get(s, "items", "C", -1, &doc, &len), PE_ENOTFOUND);
    CHECK_INT(pe_spool_doc_get(s, "items", "A", PE_SPOOL_LAYERS, &doc, &len), PE_EINVAL);
    CHECK_INT(pe_spool_doc_get(s, "", "A", 0, &doc, &len), PE_EINVAL);

    CHECK_INT(pe_spool_docs_drop(s, "work"), PE_ESTATE); /* no transaction */
    CHECK_OK(pe_spool_begin(s));
    CHECK_INT(pe_spool_docs_drop(s, ""), PE_EINVAL);
    CHECK_OK(pe_spool_docs_drop(s, "work"));
    CHECK_OK(pe_spool_commit(s));
    CHECK_OK(pe_spool_docs_count(s, "work", 0, &present, &removed));
    CHECK_INT(present, 0);
    CHECK_INT(removed, 0);
    CHECK_INT(pe_spool_doc_get(s, "work", "x", 0, &doc, &len), PE_ENOTFOUND);
    docs_list(s, "items", 0, true, &seen);
    CHECK_INT(seen.n, 2);
    CHECK_OK(pe_spool_doc_get(s, "items", "A", 1, &doc, &len));
    free(doc);
    pe_spool_close(s);
}

static int see_pos(const struct pe_spool_position *p, void *ctx)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 256 - n, "%s:%d:%lld ", p->log, (int)p->part, (long long)p->next);
    return 0;
}

static int read_all(struct pe_spool *s, void *ctx)
{
    struct docs_seen *seen = ctx;
    CHECK_INT(pe_spool_begin(s), PE_ESTATE); /* nothing writes inside a read */
    CHECK_INT(pe_spool_meta_put(s, "x", "y", 1), PE_ESTATE);
    memset(seen, 0, sizeof *seen);
    return pe_spool_docs(s, "items", 0, true, see_doc, seen);
}

/* Documents, positions and metadata of one transaction reach the file together or not at all:
 * a rollback (or a process killed before the commit) leaves the last committed batch. */
static void t_docs_atomic(void)
{
    const char *path = pe_test_path(0, "atomic.db");
    struct pe_spool *s = open_s(path, 0);
    struct docs_seen seen;
    char pos[256] = "", *v = NULL;

    CHECK_INT(pe_spool_position_set(s, "log", 0, 5), PE_ESTATE);
    CHECK_INT(pe_spool_meta_set(s, "k", "v", 1), PE_ESTATE);
    CHECK_OK(pe_spool_begin(s));
    CHECK_INT(pe_spool_position_set(s, "", 0, 5), PE_EINVAL);
    CHECK_INT(pe_spool_position_set(s, "log", -1, 5), PE_EINVAL);
    CHECK_INT(pe_spool_meta_set(s, "", "v", 1), PE_EINVAL);
    CHECK(put(s, "items", "A", 0, "a1", 1));
    CHECK_OK(pe_spool_position_set(s, "log", 0, 5));
    CHECK_OK(pe_spool_position_set(s, "log", 1, 7));
    CHECK_OK(pe_spool_meta_set(s, "feed/version", "1", 10));
    CHECK_OK(pe_spool_commit(s));

    CHECK_OK(pe_spool_begin(s));
    CHECK(put(s, "items", "A", 0, "a2", 2));
    CHECK(put(s, "items", "B", 0, "b2", 2));
    CHECK_OK(pe_spool_position_set(s, "log", 0, 9));
    CHECK_OK(pe_spool_position_set(s, "other", 0, 1));
    CHECK_OK(pe_spool_meta_set(s, "feed/version", "2", 20));
    /* Inside the transaction its writes are seen. */
    CHECK_OK(pe_spool_read(s, read_all, &seen));
    CHECK_INT(seen.n, 2);
    pe_spool_rollback(s);

    CHECK_OK(pe_spool_positions(s, see_pos, pos));
    CHECK_STR(pos, "log:0:5 log:1:7 ");
    CHECK_OK(pe_spool_meta_get(s, "feed/version", &v));
    CHECK_STR(v, "1");
    free(v);
    CHECK_OK(pe_spool_read(s, read_all, &seen));
    CHECK_INT(seen.n, 1);
    CHECK_STR(seen.docs[0], "a1");

    /* Committed: the whole batch, after a reopen too. */
    CHECK_OK(pe_spool_begin(s));
    CHECK(put(s, "items", "B", 0, "b3", 3));
    CHECK_OK(pe_spool_position_set(s, "log", 0, 12));
    CHECK_OK(pe_spool_meta_set(s, "feed/version", "3", 30));
    CHECK_OK(pe_spool_commit(s));
    pe_spool_close(s);
    s = open_s(path, 0);
    pos[0] = '\0';
    CHECK_OK(pe_spool_positions(s, see_pos, pos));
    CHECK_STR(pos, "log:0:12 log:1:7 ");
    CHECK_OK(pe_spool_meta_get(s, "feed/version", &v));
    CHECK_STR(v, "3");
    free(v);
    docs_list(s, "items", 0, true, &seen);
    CHECK_INT(seen.n, 2);
    CHECK_STR(seen.docs[1], "b3");
    CHECK_INT(seen.changes[1], 3);
    /* The spool's own check at open and verify are content with the document tables. */
    pe_spool_close(s);
    char err[256];
    CHECK_OK(pe_spool_verify(path, NULL, NULL, err, sizeof err));
}

/* A version 3 file (no document tables) gains them, empty, at open; verify reads one as it
 * is. */
static void t_migration_docs(void)
{
    const char *path = pe_test_path(0, "v3.db");
    struct pe_spool *s = open_s(path, 0);
    pe_spool_close(s);
    exec_sql(path, NO_DOCS "PRAGMA user_version = 3;");
    char err[256];
    CHECK_OK(pe_spool_verify(path, NULL, NULL, err, sizeof err));
    s = open_s(path, 0);
    CHECK_INT(user_version(path), 5);
    CHECK_OK(pe_spool_begin(s));
    CHECK(put(s, "items", "A", 0, "a", 1));
    CHECK_OK(pe_spool_commit(s));
    pe_spool_close(s);
}

/* A version 4 file (rows without sig or rejected) is read by verify as it is, and gains both
 * columns at open, NULL in the rows it had; new rows keep what they are given. */
static void t_migration_sigs(void)
{
    const char *path = pe_test_path(0, "v4.db");
    struct pe_spool *s = open_s(path, 0);
    struct till a;
    till_init(&a, "s001", "t01", 1);
    add_n(s, &a, 3, 0, NULL);
    pe_spool_close(s);
    exec_sql(path, NO_SIGS "PRAGMA user_version = 4;");
    char err[256];
    struct pe_spool_stats st;
    CHECK_OK(pe_spool_verify(path, &st, NULL, err, sizeof err));
    CHECK_INT(st.rows, 3);
    s = open_s(path, 0);
    CHECK_INT(user_version(path), 5);
    struct sig_seen v = sig_rows(s);
    CHECK_INT(v.n, 3);
    CHECK_INT(v.with_sig, 0);
    CHECK_INT(v.rejected, 0);
    pe_spool_close(s);
}

/* What travels beside a record (its signature, the intake's refusal) comes back with it; the
 * next seq and prev are known before adding. */
static void t_signed_rows(void)
{
    struct pe_spool *s = open_s(pe_test_path(0, "spool.db"), 0);
    struct till a;
    till_init(&a, "s001", "t01", 1);
    int64_t spooled = -1;
    char tail[PE_SHA256_HEXLEN];
    CHECK_OK(pe_spool_next(s, "s001", "t01", &spooled, tail));
    CHECK_INT(spooled, 0);
    CHECK_STR(tail, a.prev);
    CHECK_INT(pe_spool_next(s, "s 1", "t01", &spooled, tail), PE_EINVAL);
    static const char sig[] = "{\"alg\":\"ES256\",\"counter\":1}";
    CHECK_OK(pe_spool_begin(s));
    for (int i = 0; i < 3; i++) {
        struct rec r;
        till_next(&a, 0, &r);
        CHECK_OK(pe_spool_add_signed(s, &r.m, r.prev, r.hash, r.bytes, r.len,
                                     i == 0 ? NULL : sig, i == 0 ? 0 : strlen(sig),
                                     i == 2 ? "bad_signature: seq 3: forged" : NULL));
        rec_free(&r);
    }
    CHECK_OK(pe_spool_next(s, "s001", "t01", &spooled, tail));
    CHECK_INT(spooled, 3);
    CHECK_STR(tail, a.prev);
    struct rec r;
    till_next(&a, 0, &r);
    CHECK_INT(pe_spool_add_signed(s, &r.m, r.prev, r.hash, r.bytes, r.len, sig, 0, NULL),
              PE_EINVAL);
    rec_free(&r);
    CHECK_OK(pe_spool_commit(s));
    struct sig_seen v = sig_rows(s);
    CHECK_INT(v.n, 3);
    CHECK_INT(v.with_sig, 2);
    CHECK_STR(v.sig, sig);
    CHECK_INT(v.rejected, 1);
    CHECK_STR(v.reason, "bad_signature: seq 3: forged");
    CHECK_INT(v.rejected_seq, 3);
    pe_spool_close(s);
}

static const struct pe_test tests[] = {
    {"meta", t_meta},
    {"migration_sigs", t_migration_sigs},
    {"signed_rows", t_signed_rows},
    {"docs_layers", t_docs_layers},
    {"docs_atomic", t_docs_atomic},
    {"docs_get_drop", t_docs_get_drop},
    {"migration_docs", t_migration_docs},
    {"migration", t_migration},
    {"open_fresh", t_open_fresh},
    {"transaction_state", t_transaction_state},
    {"add_in_order", t_add_in_order},
    {"duplicate", t_duplicate},
    {"conflict", t_conflict},
    {"gap", t_gap},
    {"wrong_prev", t_wrong_prev},
    {"two_terminals", t_two_terminals},
    {"rollback", t_rollback},
    {"reopen", t_reopen},
    {"second_handle", t_second_handle},
    {"set_delivered", t_set_delivered},
    {"advance", t_advance},
    {"rows", t_rows},
    {"prune", t_prune},
    {"quota", t_quota},
    {"stats", t_stats},
    {"not_a_spool", t_not_a_spool},
    {"damaged", t_damaged},
    {"verify", t_verify},
    {"throughput", t_throughput},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("spool", tests, argc, argv);
}
