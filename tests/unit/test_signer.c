/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_signer.c - unit tests of the fiscal signer (common/signer*.c) and of the journal's
 * signing (store/journal.c: pe_journal_set_signer, pe_journal_verify).
 *
 * What must hold: the software signer makes its key on first use (0600), finds it again, and
 * refuses one others may read; a signature verifies over exactly the hash, counter and time it
 * was made for; the sig column has one encoding. In the journal every record after a
 * signer_installed is signed by the installed key with counters rising by one, across reopens,
 * rollbacks, I/O failures and crashes between sign and commit; and verify names the first bad
 * seq of each forgery: a record edited with its chain recomputed, a record re-signed with another
 * key (under its own key id or the installed one's), a counter that skips or repeats, a
 * signature removed, a signature before any key is installed.
 *
 * Signer down (signer.h): while sign fails so, nothing is signed or stored until a signer_down
 * opens an outage; events are then stored marked, across a reopen, and the signer_up that
 * closes it must carry the outage's collective and continues the counter. verify accepts a
 * marked record only inside an outage covered exactly by a signer_up's collective, and names the
 * seq of each forgery: a signed record turned into a marked one, a mark removed, a collective
 * with a wrong digest or range, an outage no signer_up closes.
 *
 * A signature is the one mbedtls_ecdsa_sign_det_ext makes, byte for byte (pe_pki_key_sign_digest
 * does the arithmetic with libcrypto but derives the nonce as mbedTLS does). A receipt's QR code
 * payload (store/render_qr.c) has its documented fields, is signed over all of them without using a
 * counter, verifies with the public key alone and stops verifying when its total changes.
 */
#include <mbedtls/ecdsa.h>
#include <mbedtls/pk.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/faultvfs.h"
#include "posedge/journal.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/pki.h"
#include "posedge/receipt.h"
#include "posedge/report.h"
#include "posedge/signer.h"
#include "tests/unit/harness.h"

#define STORE "s001"
#define TERMINAL "t01"
#define T0 1795256102000LL

/* ---- helpers ---- */

static int64_t fixed_now = T0;

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return fixed_now++;
}

static struct pe_signer *open_signer(const char *key_file)
{
    struct pe_signer_conf c = {.key_file = key_file, .store = STORE, .terminal = TERMINAL,
                               .now = test_clock};
    struct pe_signer *s = NULL;
    char err[512];
    int rc = pe_signer_open(pe_signer_find("software"), &c, &s, err, sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "signer %s: %s (%s)", key_file, pe_errname(rc), err);
    return s;
}

static struct pe_journal *open_j(const char *path, const char *vfs)
{
    struct pe_journal_opts o = {.store = STORE, .terminal = TERMINAL, .check = true, .vfs = vfs};
    struct pe_journal *j = NULL;
    char err[512];
    int rc = pe_journal_open(path, &o, &j, err, sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "open %s: %s (%s)", path, pe_errname(rc), err);
    return j;
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

/* A sale-like body with a total, the field a forger changes. */
static cJSON *body_of(int n)
{
    cJSON *b = cJSON_CreateObject();
    cJSON *t = cJSON_CreateObject();
    CHECK_OK(pe_json_add_int(t, "total", 1000 + n));
    cJSON_AddItemToObject(b, "totals", t);
    CHECK_OK(pe_json_add_str(b, "currency", "EUR"));
    return b;
}

/* Event n of type in a transaction of its own: the append's result (committed when PE_OK). */
static int try_event(struct pe_journal *j, int n, enum pe_event_type type, cJSON *body)
{
    struct pe_event_meta m;
    struct pe_journal_appended a;
    meta_of(&m, n, type);
    cJSON *b = body ? body : body_of(n);
    int rc = pe_journal_begin(j);
    if (rc == PE_OK)
        rc = pe_journal_append(j, &m, b, &a);
    if (rc == PE_OK)
        rc = pe_journal_commit(j);
    else
        pe_journal_rollback(j);
    cJSON_Delete(b);
    return rc;
}

static void install(struct pe_journal *j, int n, const struct pe_signer *s)
{
    cJSON *b = NULL;
    CHECK_OK(pe_signer_installed_body(s ? pe_signer_key(s) : NULL, &b));
    CHECK_OK(try_event(j, n, PE_EV_SIGNER_INSTALLED, b));
}

static void verify_ok(struct pe_journal *j, int64_t count, int64_t nsigned)
{
    struct pe_journal_verify_result r;
    int rc = pe_journal_verify(j, &r);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "verify: %s bad_seq=%lld why=%s", pe_errname(rc),
                     (long long)r.bad_seq, r.why);
    CHECK_INT(r.count, count);
    CHECK_INT(r.nsigned, nsigned);
}

/* Verify the file (opened afresh) and expect the first bad seq with why containing what. */
static void expect_bad(const char *path, int64_t seq, const char *what)
{
    struct pe_journal_opts o = {.readonly = true};
    struct pe_journal *j = NULL;
    char err[512];
    CHECK_OK(pe_journal_open(path, &o, &j, err, sizeof err));
    struct pe_journal_verify_result r;
    int rc = pe_journal_verify(j, &r);
    pe_journal_close(j);
    if (rc != PE_ECHAIN || r.bad_seq != seq || !strstr(r.why, what))
        pe_test_fail(__FILE__, __LINE__, "expected seq %lld bad (%s), got %s bad_seq=%lld why=%s",
                     (long long)seq, what, pe_errname(rc), (long long)r.bad_seq, r.why);
}

static void raw_sql(const char *path, const char *q)
{
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, q, NULL, NULL, &msg) != SQLITE_OK)
        pe_test_fail(__FILE__, __LINE__, "%s: %s", q, msg ? msg : "?");
    CHECK_INT(sqlite3_close(db), SQLITE_OK);
}

/* A column of one row, malloc'd and NUL-terminated (NULL for an SQL NULL). */
static char *raw_get(const char *path, const char *col, int64_t seq)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char q[128];
    snprintf(q, sizeof q, "SELECT %s FROM events WHERE seq = ?1", col);
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_int64(st, 1, seq);
    CHECK_INT(sqlite3_step(st), SQLITE_ROW);
    char *out = NULL;
    if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        out = malloc(n + 1);
        memcpy(out, sqlite3_column_blob(st, 0), n);
        out[n] = '\0';
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/* Set the columns of one row (sig NULL: SQL NULL; record/hash NULL: unchanged). */
static void raw_set(const char *path, int64_t seq, const char *record, const char *hash,
                    const char *sig)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_prepare_v2(db,
                                 "UPDATE events SET record = coalesce(?1, record), "
                                 "hash = coalesce(?2, hash), sig = ?3 WHERE seq = ?4",
                                 -1, &st, NULL),
              SQLITE_OK);
    if (record)
        sqlite3_bind_blob(st, 1, record, (int)strlen(record), SQLITE_STATIC);
    if (hash)
        sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
    if (sig)
        sqlite3_bind_blob(st, 3, sig, (int)strlen(sig), SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, seq);
    CHECK_INT(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    CHECK_INT(sqlite3_close(db), SQLITE_OK);
}

/* A journal at path: a signer_installed by the key in key_file and events 2..n, all signed. */
static void signed_journal(const char *path, const char *key_file, int n)
{
    struct pe_signer *s = open_signer(key_file);
    struct pe_journal *j = open_j(path, NULL);
    CHECK_OK(pe_journal_set_signer(j, s));
    install(j, 1, s);
    for (int i = 2; i <= n; i++)
        CHECK_OK(try_event(j, i, PE_EV_SALE, NULL));
    verify_ok(j, n, n);
    pe_journal_close(j);
    pe_signer_close(s);
}

/* The sig column for (hash, counter, time) signed by the key in key_file, under key_id (NULL:
 * the key's own). What a forger holding some key can make. */
static char *forge_sig(const char *key_file, const char *key_id, const char *hash,
                       int64_t counter)
{
    struct pe_pki_key *k = NULL;
    struct pe_rng *rng = NULL;
    char err[256], *pem = NULL, own[PE_SIGNER_KEY_ID_LEN], msg[PE_SIGNER_MESSAGE_MAX];
    CHECK_OK(pe_pki_key_load(key_file, &k, err, sizeof err));
    CHECK_OK(pe_rng_create("forger", &rng));
    CHECK_OK(pe_pki_key_public_pem(k, &pem, err, sizeof err));
    CHECK_OK(pe_signer_key_id(pem, own));
    struct pe_signature g = {.alg = PE_SIGNER_ALG, .counter = counter, .signed_ms = T0};
    snprintf(g.key_id, sizeof g.key_id, "%s", key_id ? key_id : own);
    size_t n = pe_signer_message(hash, counter, g.signed_ms, msg);
    CHECK(n > 0);
    uint8_t d[PE_SHA256_LEN];
    pe_sha256_2(msg, n, NULL, 0, d);
    CHECK_OK(pe_pki_key_sign_digest(k, d, rng, g.rs, err, sizeof err));
    char *out = malloc(PE_SIGNER_ENCODED_MAX);
    CHECK(pe_signature_encode(&g, out) > 0);
    free(pem);
    pe_rng_destroy(rng);
    pe_pki_key_destroy(k);
    return out;
}

static struct pe_signature sig_of(const char *path, int64_t seq)
{
    char *raw = raw_get(path, "sig", seq);
    CHECK(raw != NULL);
    struct pe_signature s;
    CHECK_OK(pe_signature_decode(raw, strlen(raw), &s, NULL, 0));
    free(raw);
    return s;
}

/* ---- the signer ---- */

static void t_key_made_once(void)
{
    const char *key = pe_test_path(0, "signer.key");
    struct pe_signer *s = open_signer(key);
    struct stat st;
    CHECK(stat(key, &st) == 0);
    CHECK_INT(st.st_mode & 0777, 0600);
    char id[PE_SIGNER_KEY_ID_LEN];
    const struct pe_signer_key *k = pe_signer_key(s);
    CHECK_STR(k->alg, "ES256");
    CHECK_STR(k->signer, "software");
    CHECK(strstr(k->public_key, "-----BEGIN PUBLIC KEY-----") == k->public_key);
    CHECK(!strstr(k->public_key, "PRIVATE"));
    CHECK_OK(pe_signer_key_id(k->public_key, id));
    CHECK_STR(id, k->key_id);
    snprintf(id, sizeof id, "%s", k->key_id);
    CHECK_INT(pe_signer_counter(s), 1);
    pe_signer_close(s);
    /* The same file: the same key. */
    s = open_signer(key);
    CHECK_STR(pe_signer_key(s)->key_id, id);
    pe_signer_close(s);
    /* Another file: another key. */
    s = open_signer(pe_test_path(1, "other.key"));
    CHECK(strcmp(pe_signer_key(s)->key_id, id) != 0);
    pe_signer_close(s);
}

static void t_key_refusals(void)
{
    const char *key = pe_test_path(0, "signer.key");
    pe_signer_close(open_signer(key));
    struct pe_signer_conf c = {.key_file = key};
    struct pe_signer *s = NULL;
    char err[512];
    const struct pe_signer_ops *sw = pe_signer_find("software");
    CHECK(pe_signer_find("none") == NULL && pe_signer_find("other") == NULL);
#ifdef PE_HAVE_PKCS11
    CHECK(pe_signer_find("pkcs11") == &pe_signer_pkcs11);
    CHECK_STR(pe_signer_names(), "software, pkcs11");
#else
    CHECK(pe_signer_find("pkcs11") == NULL);
    CHECK_STR(pe_signer_names(), "software");
#endif
    CHECK_OK(chmod(key, 0644));
    CHECK_INT(pe_signer_open(sw, &c, &s, err, sizeof err), PE_EINVAL);
    CHECK(strstr(err, key) != NULL);
    CHECK_OK(chmod(key, 0600));
    FILE *f = fopen(key, "w");
    fputs("not a key\n", f);
    fclose(f);
    CHECK_INT(pe_signer_open(sw, &c, &s, err, sizeof err), PE_EPARSE);
    c.key_file = pe_test_path(1, "no/such/dir/signer.key");
    CHECK(pe_signer_open(sw, &c, &s, err, sizeof err) != PE_OK);
    c.key_file = "";
    CHECK_INT(pe_signer_open(sw, &c, &s, err, sizeof err), PE_EINVAL);
}

static void t_sign_verify(void)
{
    struct pe_signer *s = open_signer(pe_test_path(0, "a.key"));
    struct pe_signer *other = open_signer(pe_test_path(1, "b.key"));
    char hash[PE_SHA256_HEXLEN], enc[PE_SIGNER_ENCODED_MAX];
    uint8_t h[PE_SHA256_LEN];
    pe_sha256_2("x", 1, NULL, 0, h);
    pe_hex(h, sizeof h, hash);
    struct pe_signature g, g2;
    CHECK_INT(pe_signer_sign(s, "not a hash", &g), PE_EINVAL);
    CHECK_OK(pe_signer_sign(s, hash, &g));
    CHECK_INT(g.counter, 1);
    CHECK_INT(g.signed_ms, T0);
    CHECK_OK(pe_signer_sign(s, hash, &g2));
    CHECK_INT(g2.counter, 2);
    CHECK_INT(pe_signer_counter(s), 3);
    CHECK_OK(pe_signer_resume(s, 41));
    CHECK_INT(pe_signer_counter(s), 42);
    CHECK_INT(pe_signer_resume(s, -1), PE_EINVAL);

    struct pe_signer_pub *pub = NULL, *opub = NULL;
    char kid[PE_SIGNER_KEY_ID_LEN];
    CHECK_OK(pe_signer_pub_parse(pe_signer_key(s)->public_key, &pub, kid));
    CHECK_STR(kid, g.key_id);
    CHECK_OK(pe_signer_pub_parse(pe_signer_key(other)->public_key, &opub, NULL));
    CHECK_OK(pe_signer_verify(pub, hash, &g));
    CHECK_INT(pe_signer_verify(opub, hash, &g), PE_EDECLINED);
    /* Each signed field matters. */
    struct pe_signature t = g;
    t.counter++;
    CHECK_INT(pe_signer_verify(pub, hash, &t), PE_EDECLINED);
    t = g;
    t.signed_ms++;
    CHECK_INT(pe_signer_verify(pub, hash, &t), PE_EDECLINED);
    t = g;
    t.rs[10] ^= 1;
    CHECK_INT(pe_signer_verify(pub, hash, &t), PE_EDECLINED);
    /* r or s outside 1..n-1 (zero, all ones). */
    t = g;
    memset(t.rs, 0, 32);
    CHECK_INT(pe_signer_verify(pub, hash, &t), PE_EDECLINED);
    t = g;
    memset(t.rs + 32, 0, 32);
    CHECK_INT(pe_signer_verify(pub, hash, &t), PE_EDECLINED);
    t = g;
    memset(t.rs + 32, 0xff, 32);
    CHECK_INT(pe_signer_verify(pub, hash, &t), PE_EDECLINED);
    /* Many signatures of one key: the kept tables give the same answers. */
    for (int i = 0; i < 20; i++) {
        char hi[PE_SHA256_HEXLEN];
        uint8_t hb[PE_SHA256_LEN];
        pe_sha256_2(&i, sizeof i, NULL, 0, hb);
        pe_hex(hb, sizeof hb, hi);
        CHECK_OK(pe_signer_sign(s, hi, &t));
        CHECK_OK(pe_signer_verify(pub, hi, &t));
        CHECK_INT(pe_signer_verify(pub, hash, &t), PE_EDECLINED);
        CHECK_INT(pe_signer_verify(opub, hi, &t), PE_EDECLINED);
    }
    hash[0] = hash[0] == '0' ? '1' : '0';
    CHECK_INT(pe_signer_verify(pub, hash, &g), PE_EDECLINED);

    /* The message, as an outside verifier builds it. */
    char msg[PE_SIGNER_MESSAGE_MAX];
    CHECK(pe_signer_message(hash, 12, 345, msg) > 0);
    CHECK(strncmp(msg, "posedge-sig/1|", 14) == 0 && strstr(msg, "|12|345") != NULL);
    CHECK_INT(pe_signer_message(hash, -1, 345, msg), 0);

    /* The sig column: one encoding, decoded exactly. */
    size_t n = pe_signature_encode(&g, enc);
    CHECK(n > 0 && n == strlen(enc));
    CHECK(strncmp(enc, "{\"alg\":\"ES256\",\"counter\":1,\"key_id\":\"", 37) == 0);
    struct pe_signature d;
    CHECK_OK(pe_signature_decode(enc, n, &d, NULL, 0));
    CHECK(memcmp(&d, &g, sizeof d) == 0);
    char why[96];
    static const char *const bad[] = {
        "", "{}", "[1]", "{\"alg\":\"ES256\"}",
        "{\"alg\":\"ES512\",\"counter\":1,\"key_id\":\"00\",\"sig\":\"00\",\"signed_ms\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        CHECK_INT(pe_signature_decode(bad[i], strlen(bad[i]), &d, why, sizeof why), PE_EPARSE);
    char spaced[PE_SIGNER_ENCODED_MAX + 1];
    snprintf(spaced, sizeof spaced, "{ %s", enc + 1); /* same content, not canonical */
    CHECK_INT(pe_signature_decode(spaced, strlen(spaced), &d, why, sizeof why), PE_EPARSE);
    CHECK(strstr(why, "canonical") != NULL);
    pe_signer_pub_free(pub);
    pe_signer_pub_free(opub);
    pe_signer_close(s);
    pe_signer_close(other);
}

static void t_installed_body(void)
{
    struct pe_signer *s = open_signer(pe_test_path(0, "a.key"));
    cJSON *b = NULL;
    struct pe_signer_installed in;
    char why[96];
    CHECK_OK(pe_signer_installed_body(pe_signer_key(s), &b));
    CHECK_OK(pe_signer_installed_parse(b, &in, why, sizeof why));
    CHECK_STR(in.alg, "ES256");
    CHECK_STR(in.key_id, pe_signer_key(s)->key_id);
    /* A key id that is not the public key's. */
    cJSON_ReplaceItemInObject(b, "key_id", cJSON_CreateString("00112233445566778899aabbccddeeff"));
    CHECK_INT(pe_signer_installed_parse(b, &in, why, sizeof why), PE_EINVAL);
    CHECK(strstr(why, "key_id") != NULL);
    cJSON_Delete(b);
    CHECK_OK(pe_signer_installed_body(NULL, &b));
    CHECK_OK(pe_signer_installed_parse(b, &in, why, sizeof why));
    CHECK_STR(in.alg, "none");
    CHECK(in.key_id == NULL && in.public_key == NULL);
    cJSON_Delete(b);
    pe_signer_close(s);
}

/* ---- the journal's signing ---- */

static void t_journal_signs(void)
{
    const char *path = pe_test_path(0, "j.db"), *key = pe_test_path(1, "signer.key");
    struct pe_signer *s = open_signer(key);
    struct pe_journal *j = open_j(path, NULL);
    struct pe_journal_signing g;
    CHECK_OK(pe_journal_signing(j, &g));
    CHECK_STR(g.alg, "");
    /* Unsigned events of a journal from before signing. */
    CHECK_OK(try_event(j, 1, PE_EV_SALE, NULL));
    CHECK_OK(pe_journal_set_signer(j, s));
    /* No record is signed by a key the journal does not hold. */
    CHECK_INT(try_event(j, 2, PE_EV_SALE, NULL), PE_ESTATE);
    install(j, 2, s);
    for (int i = 3; i <= 6; i++)
        CHECK_OK(try_event(j, i, PE_EV_SALE, NULL));
    CHECK_OK(pe_journal_signing(j, &g));
    CHECK_STR(g.alg, "ES256");
    CHECK_STR(g.key_id, pe_signer_key(s)->key_id);
    CHECK_INT(g.counter, 5);
    CHECK_INT(g.seq, 6);
    verify_ok(j, 6, 5);
    struct pe_journal_verify_result r;
    CHECK_OK(pe_journal_verify(j, &r));
    CHECK_INT(r.first_signed_seq, 2);
    CHECK_INT(r.ngroups, 1);
    CHECK_STR(r.key_id, pe_signer_key(s)->key_id);
    /* The iterator hands out the signature beside the record. */
    struct pe_journal_iter *it = NULL;
    struct pe_journal_rec rec;
    CHECK_OK(pe_journal_iter_open(j, 1, NULL, &it));
    CHECK_OK(pe_journal_iter_next(it, &rec));
    CHECK(rec.sig == NULL && rec.siglen == 0);
    CHECK_OK(pe_journal_iter_next(it, &rec));
    struct pe_signature sg;
    CHECK_OK(pe_signature_decode(rec.sig, rec.siglen, &sg, NULL, 0));
    CHECK_INT(sg.counter, 1);
    pe_journal_iter_close(it);
    pe_journal_close(j);
    pe_signer_close(s);

    /* The counter continues from the journal after a restart (a fresh signer says 1). */
    s = open_signer(key);
    CHECK_INT(pe_signer_counter(s), 1);
    j = open_j(path, NULL);
    CHECK_OK(pe_journal_set_signer(j, s));
    CHECK_INT(pe_signer_counter(s), 6);
    CHECK_OK(try_event(j, 7, PE_EV_SALE, NULL));
    CHECK_INT(sig_of(path, 7).counter, 6);
    verify_ok(j, 7, 6);
    pe_journal_close(j);
    pe_signer_close(s);
}

static void t_rollback_gives_counter_back(void)
{
    const char *path = pe_test_path(0, "j.db"), *key = pe_test_path(1, "signer.key");
    signed_journal(path, key, 3);
    struct pe_signer *s = open_signer(key);
    struct pe_journal *j = open_j(path, NULL);
    CHECK_OK(pe_journal_set_signer(j, s));
    struct pe_event_meta m;
    struct pe_journal_appended a;
    meta_of(&m, 4, PE_EV_SALE);
    cJSON *b = body_of(4);
    CHECK_OK(pe_journal_begin(j));
    CHECK_OK(pe_journal_append(j, &m, b, &a));
    CHECK_INT(pe_signer_counter(s), 5); /* 4 was used inside the transaction */
    pe_journal_rollback(j);
    CHECK_INT(pe_signer_counter(s), 4); /* and given back with it */
    cJSON_Delete(b);
    CHECK_OK(try_event(j, 4, PE_EV_SALE, NULL));
    CHECK_INT(sig_of(path, 4).counter, 4);
    verify_ok(j, 4, 4);
    pe_journal_close(j);
    pe_signer_close(s);
}

/* A new key starts a new group; turning signing off is on record, and nothing after it may be
 * signed. */
static void t_groups_and_off(void)
{
    const char *path = pe_test_path(0, "j.db");
    signed_journal(path, pe_test_path(1, "a.key"), 3);
    struct pe_signer *s = open_signer(pe_test_path(2, "b.key"));
    struct pe_journal *j = open_j(path, NULL);
    CHECK_OK(pe_journal_set_signer(j, s));
    CHECK_INT(pe_signer_counter(s), 1); /* another key's group: b starts at 1 */
    install(j, 4, s);
    CHECK_OK(try_event(j, 5, PE_EV_SALE, NULL));
    CHECK_INT(sig_of(path, 5).counter, 2);
    struct pe_journal_verify_result r;
    CHECK_OK(pe_journal_verify(j, &r));
    CHECK_INT(r.ngroups, 2);
    CHECK_INT(r.nsigned, 5);
    /* Off: an unsigned signer_installed {"alg":"none"}, then unsigned events. */
    CHECK_OK(pe_journal_set_signer(j, NULL));
    install(j, 6, NULL);
    CHECK_OK(try_event(j, 7, PE_EV_SALE, NULL));
    struct pe_journal_signing g;
    CHECK_OK(pe_journal_signing(j, &g));
    CHECK_STR(g.alg, "none");
    verify_ok(j, 7, 5);
    pe_journal_close(j);
    pe_signer_close(s);
    /* A signature where signing is off is not accepted either. */
    char *h = raw_get(path, "hash", 7);
    char *forged = forge_sig(pe_test_path(2, "b.key"), NULL, h, 3);
    raw_set(path, 7, NULL, NULL, forged);
    expect_bad(path, 7, "turned off");
    free(forged);
    free(h);
}

/* The forgery of the issue: one digit of a sale's total changed mid-journal, that record's hash
 * and every later prev and hash recomputed. The chain is intact again; the signature is not. */
static void t_forged_total_recomputed_chain(void)
{
    const char *path = pe_test_path(0, "j.db"), *key = pe_test_path(1, "signer.key");
    signed_journal(path, key, 8);
    char prev[PE_SHA256_HEXLEN];
    char *h = raw_get(path, "hash", 4);
    snprintf(prev, sizeof prev, "%s", h);
    free(h);
    for (int64_t seq = 5; seq <= 8; seq++) {
        char *rec = raw_get(path, "record", seq);
        cJSON *r = NULL;
        struct pe_event_meta m;
        char hash[PE_SHA256_HEXLEN], *out = NULL;
        size_t len;
        CHECK_OK(pe_event_verify(rec, strlen(rec), seq, NULL, &m, hash, &r, NULL, 0));
        cJSON *body = cJSON_GetObjectItemCaseSensitive(r, "body");
        if (seq == 5) {
            cJSON *t = cJSON_GetObjectItemCaseSensitive(body, "totals");
            cJSON_ReplaceItemInObject(t, "total", cJSON_CreateNumber(1));
        }
        CHECK_OK(pe_event_seal(&m, body, prev, &out, &len, hash));
        char *sig = raw_get(path, "sig", seq);
        raw_set(path, seq, out, hash, sig); /* the signature left as it was */
        memcpy(prev, hash, sizeof prev);
        free(sig);
        free(out);
        free(rec);
        cJSON_Delete(r);
    }
    /* The chain alone says nothing is wrong: every record verifies and links. */
    char genesis[PE_SHA256_HEXLEN];
    pe_event_genesis(STORE, TERMINAL, genesis);
    snprintf(prev, sizeof prev, "%s", genesis);
    for (int64_t seq = 1; seq <= 8; seq++) {
        char *rec = raw_get(path, "record", seq);
        CHECK_OK(pe_event_verify(rec, strlen(rec), seq, prev, NULL, prev, NULL, NULL, 0));
        free(rec);
    }
    expect_bad(path, 5, "signature does not verify");
}

static void t_resigned_with_another_key(void)
{
    const char *path = pe_test_path(0, "j.db"), *key = pe_test_path(1, "signer.key");
    const char *other = pe_test_path(2, "other.key");
    signed_journal(path, key, 6);
    pe_signer_close(open_signer(other));
    char *h = raw_get(path, "hash", 4), *orig = raw_get(path, "sig", 4);
    struct pe_signature g = sig_of(path, 4);
    /* Under the other key's own id. */
    char *forged = forge_sig(other, NULL, h, g.counter);
    raw_set(path, 4, NULL, NULL, forged);
    expect_bad(path, 4, "signed by key");
    free(forged);
    /* Under the installed key's id. */
    forged = forge_sig(other, g.key_id, h, g.counter);
    raw_set(path, 4, NULL, NULL, forged);
    expect_bad(path, 4, "does not verify");
    free(forged);
    /* Removed. */
    raw_set(path, 4, NULL, NULL, NULL);
    expect_bad(path, 4, "not signed");
    /* Garbage. */
    raw_set(path, 4, NULL, NULL, "{\"alg\":\"ES256\"}");
    expect_bad(path, 4, "signature lacks");
    raw_set(path, 4, NULL, NULL, orig);
    struct pe_journal *j = open_j(path, NULL);
    verify_ok(j, 6, 6);
    pe_journal_close(j);
    free(orig);
    free(h);
}

static void t_counter_gaps(void)
{
    const char *path = pe_test_path(0, "j.db"), *key = pe_test_path(1, "signer.key");
    signed_journal(path, key, 6);
    char *h = raw_get(path, "hash", 4), *orig = raw_get(path, "sig", 4);
    /* Valid signatures by the right key, with a counter that skips or repeats. */
    char *forged = forge_sig(key, NULL, h, 5);
    raw_set(path, 4, NULL, NULL, forged);
    expect_bad(path, 4, "counter 5, expected 4");
    free(forged);
    forged = forge_sig(key, NULL, h, 3);
    raw_set(path, 4, NULL, NULL, forged);
    expect_bad(path, 4, "counter 3, expected 4");
    free(forged);
    raw_set(path, 4, NULL, NULL, orig);
    struct pe_journal *j = open_j(path, NULL);
    verify_ok(j, 6, 6);
    pe_journal_close(j);
    free(orig);
    free(h);
}

/* A signature on a record no signer_installed comes before. */
static void t_signature_before_install(void)
{
    const char *path = pe_test_path(0, "j.db"), *key = pe_test_path(1, "signer.key");
    struct pe_journal *j = open_j(path, NULL);
    CHECK_OK(try_event(j, 1, PE_EV_SALE, NULL));
    CHECK_OK(try_event(j, 2, PE_EV_SALE, NULL));
    verify_ok(j, 2, 0);
    pe_journal_close(j);
    pe_signer_close(open_signer(key));
    char *h = raw_get(path, "hash", 2);
    char *forged = forge_sig(key, NULL, h, 1);
    raw_set(path, 2, NULL, NULL, forged);
    expect_bad(path, 2, "no signer_installed");
    free(forged);
    free(h);
    raw_sql(path, "PRAGMA user_version"); /* the file is still a database */
}

/* Copy the journal at path into a new one at copy, records and signatures (or marks) as
 * posedge-ctl recover copies them; returns the copy, open. */
static struct pe_journal *copy_signed(const char *path, const char *copy)
{
    struct pe_journal_opts o = {.readonly = true};
    struct pe_journal *src = NULL;
    char err[256];
    CHECK_OK(pe_journal_open(path, &o, &src, err, sizeof err));
    struct pe_journal *dst = open_j(copy, NULL);
    struct pe_journal_iter *it = NULL;
    struct pe_journal_rec r;
    CHECK_OK(pe_journal_iter_open(src, 1, NULL, &it));
    CHECK_OK(pe_journal_begin(dst));
    while (pe_journal_iter_next(it, &r) == PE_OK)
        CHECK_OK(pe_journal_import_signed(dst, r.record, r.len, r.sig, r.siglen, NULL));
    CHECK_OK(pe_journal_commit(dst));
    pe_journal_iter_close(it);
    pe_journal_close(src);
    return dst;
}

static void t_recover_copies_signatures(void)
{
    const char *path = pe_test_path(0, "j.db"), *copy = pe_test_path(1, "copy.db");
    signed_journal(path, pe_test_path(2, "signer.key"), 5);
    struct pe_journal *dst = copy_signed(path, copy);
    CHECK_INT(pe_journal_import_signed(dst, "x", 1, "{}", 2, NULL), PE_ESTATE);
    verify_ok(dst, 5, 5);
    struct pe_journal_signing g;
    CHECK_OK(pe_journal_signing(dst, &g));
    CHECK_INT(g.counter, 5);
    pe_journal_close(dst);
}

/*
 * Fail the nth write or sync while a signed event commits, retry it, and then check: the
 * journal verifies (no counter skipped or stored twice); likewise when the process dies right
 * after the failure and a new one (a new signer) goes on from the file.
 */
static void t_faults_keep_counters_gapless(void)
{
    const char *key = pe_test_path(1, "signer.key");
    const char *path = pe_test_path(0, "j.db");
    char side[600];
    CHECK_OK(pe_faultvfs_register());
    pe_log_set_level(PE_LOG_OFF);
    int64_t triggered = 0;
    for (int op = PE_FAULT_WRITE; op <= PE_FAULT_SYNC; op++) {
        int64_t nth;
        for (nth = 1; nth <= 200; nth++) {
            unlink(path);
            snprintf(side, sizeof side, "%s-wal", path);
            unlink(side);
            signed_journal(path, key, 3);
            pid_t pid = fork();
            CHECK(pid >= 0);
            if (pid == 0) {
                struct pe_signer *s = open_signer(key);
                struct pe_journal *j = open_j(path, "pe-fault");
                if (pe_journal_set_signer(j, s) != PE_OK)
                    _exit(3);
                pe_faultvfs_arm((enum pe_fault_op)op, nth, PE_EIO, false);
                int rc = try_event(j, 4, PE_EV_SALE, NULL);
                bool hit = pe_faultvfs_failures() > 0;
                pe_faultvfs_disarm();
                if (rc != PE_OK && !hit)
                    _exit(4);
                /* An odd nth dies here, as a power cut would; an even one retries. */
                if (nth % 2)
                    _exit(hit ? 10 : 11); /* without closing: the WAL stays as it is */
                rc = try_event(j, 4, PE_EV_SALE, NULL);
                if (rc != PE_OK && rc != PE_EEXIST)
                    _exit(5);
                if (try_event(j, 5, PE_EV_SALE, NULL) != PE_OK)
                    _exit(6);
                pe_journal_close(j);
                pe_signer_close(s);
                _exit(hit ? 10 : 11);
            }
            int status = 0;
            CHECK(waitpid(pid, &status, 0) == pid);
            CHECK(WIFEXITED(status));
            int code = WEXITSTATUS(status);
            if (code != 10 && code != 11)
                pe_test_fail(__FILE__, __LINE__, "op %d nth %lld: child exit %d", op,
                             (long long)nth, code);
            /* A new process goes on: every stored counter once, none skipped. */
            struct pe_signer *s = open_signer(key);
            struct pe_journal *j = open_j(path, NULL);
            CHECK_OK(pe_journal_set_signer(j, s));
            int rc = try_event(j, 4, PE_EV_SALE, NULL);
            CHECK(rc == PE_OK || rc == PE_EEXIST);
            rc = try_event(j, 5, PE_EV_SALE, NULL);
            CHECK(rc == PE_OK || rc == PE_EEXIST);
            CHECK_OK(try_event(j, 6, PE_EV_SALE, NULL));
            verify_ok(j, 6, 6);
            pe_journal_close(j);
            pe_signer_close(s);
            if (code == 11)
                break;
            triggered++;
        }
        CHECK(nth <= 200);
    }
    pe_log_set_level(PE_LOG_INFO);
    CHECK(triggered >= 4);
    printf("    # %lld fault points\n", (long long)triggered);
}

/* ---- signer down ---- */

/* The software signer of test builds fails as an unplugged token while this file exists. */
static const char *down_flag(void)
{
    return pe_test_path(3, "unplugged");
}

static void unplug(bool on)
{
    if (on) {
        FILE *f = fopen(down_flag(), "w");
        CHECK(f != NULL);
        fclose(f);
    } else {
        unlink(down_flag());
    }
}

static struct pe_signer *open_faulty_signer(const char *key_file)
{
    setenv("PE_TEST_SIGNER_DOWN", down_flag(), 1);
    struct pe_signer *s = open_signer(key_file);
    unsetenv("PE_TEST_SIGNER_DOWN");
    return s;
}

static cJSON *down_body(const struct pe_signer *s)
{
    cJSON *b = cJSON_CreateObject();
    CHECK_OK(pe_json_add_str(b, "error", "EUNAVAIL"));
    CHECK_OK(pe_json_add_str(b, "key_id", pe_signer_key(s)->key_id));
    return b;
}

/* Event n of type with body, appended in a transaction of its own; a's marked flag back. */
static int try_marked(struct pe_journal *j, int n, enum pe_event_type type, cJSON *body,
                      bool *marked)
{
    struct pe_event_meta m;
    struct pe_journal_appended a = {0};
    meta_of(&m, n, type);
    int rc = pe_journal_begin(j);
    if (rc == PE_OK)
        rc = pe_journal_append(j, &m, body, &a);
    if (rc == PE_OK)
        rc = pe_journal_commit(j);
    else
        pe_journal_rollback(j);
    cJSON_Delete(body);
    if (marked)
        *marked = a.marked;
    return rc;
}

/* signer_up n with the open outage's collective (what the till appends). */
static int try_up(struct pe_journal *j, int n)
{
    struct pe_signer_collective c;
    cJSON *b = NULL;
    int rc = pe_journal_begin(j);
    if (rc == PE_OK && (rc = pe_journal_collective(j, &c)) == PE_OK)
        rc = pe_signer_collective_body(&c, &b);
    pe_journal_rollback(j);
    return rc ? rc : try_marked(j, n, PE_EV_SIGNER_UP, b, NULL);
}

/* A journal at path: 1 signer_installed, 2 sale (signed), 3 signer_down, 4-5 sales (marked),
 * 6 signer_up (counter 3), 7 sale (counter 4). */
static void outage_journal(const char *path, const char *key_file)
{
    struct pe_signer *s = open_faulty_signer(key_file);
    struct pe_journal *j = open_j(path, NULL);
    CHECK_OK(pe_journal_set_signer(j, s));
    install(j, 1, s);
    CHECK_OK(try_event(j, 2, PE_EV_SALE, NULL));
    unplug(true);
    CHECK_INT(try_event(j, 3, PE_EV_SALE, NULL), PE_EUNAVAIL);
    CHECK_OK(try_marked(j, 3, PE_EV_SIGNER_DOWN, down_body(s), NULL));
    CHECK_OK(try_event(j, 4, PE_EV_SALE, NULL));
    CHECK_OK(try_event(j, 5, PE_EV_SALE, NULL));
    unplug(false);
    CHECK_OK(try_up(j, 6));
    CHECK_OK(try_event(j, 7, PE_EV_SALE, NULL));
    verify_ok(j, 7, 4);
    pe_journal_close(j);
    pe_signer_close(s);
}

static void t_mark_encoding(void)
{
    char enc[PE_SIGNER_ENCODED_MAX];
    int64_t d = 0;
    size_t n = pe_signature_mark_encode(42, enc);
    CHECK_STR(enc, "{\"alg\":\"none\",\"signer_down\":42}");
    CHECK(pe_signature_mark_decode(enc, n, &d) && d == 42);
    CHECK_INT((int64_t)pe_signature_mark_encode(0, enc), 0);
    static const char *const bad[] = {
        "{\"alg\":\"none\",\"signer_down\":042}", "{\"alg\":\"none\",\"signer_down\":0}",
        "{\"alg\":\"none\",\"signer_down\": 42}", "{\"alg\":\"none\",\"signer_down\":42 }",
        "{\"alg\":\"none\",\"signer_down\":-1}",  "{\"alg\":\"none\",\"signer_down\":}",
        "{\"alg\":\"none\",\"signer\":\"none\"}",  "{\"alg\":\"none\",\"signer_down\":99999999999999999999}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (pe_signature_mark_decode(bad[i], strlen(bad[i]), &d))
            pe_test_fail(__FILE__, __LINE__, "accepted %s", bad[i]);
    /* A mark is not a signature, and no signature is a mark. */
    CHECK_INT(pe_signature_decode(enc, n, &(struct pe_signature){0}, NULL, 0), PE_EPARSE);
}

static void t_signer_down_outage(void)
{
    const char *path = pe_test_path(0, "j.db"), *key = pe_test_path(1, "signer.key");
    struct pe_signer *s = open_faulty_signer(key);
    struct pe_journal *j = open_j(path, NULL);
    CHECK_OK(pe_journal_set_signer(j, s));
    install(j, 1, s);
    CHECK_OK(try_event(j, 2, PE_EV_SALE, NULL));
    CHECK_OK(try_event(j, 3, PE_EV_SALE, NULL));
    /* No outage to close, none to open without cause being the caller's. */
    CHECK_INT(try_up(j, 90), PE_ESTATE);
    unplug(true);
    /* Down: nothing stored, the counter not used, the error remembered. */
    CHECK_INT(try_event(j, 4, PE_EV_SALE, NULL), PE_EUNAVAIL);
    CHECK_INT(pe_journal_sign_error(j), PE_EUNAVAIL);
    CHECK_INT(pe_signer_counter(s), 4);
    int64_t last = 0;
    pe_journal_last(j, &last, NULL, NULL);
    CHECK_INT(last, 3);
    bool marked = false;
    CHECK_OK(try_marked(j, 4, PE_EV_SIGNER_DOWN, down_body(s), &marked));
    CHECK(marked);
    CHECK_INT(try_marked(j, 91, PE_EV_SIGNER_DOWN, down_body(s), NULL), PE_ESTATE);
    CHECK_OK(try_marked(j, 5, PE_EV_SALE, body_of(5), &marked));
    CHECK(marked);
    char *mark = raw_get(path, "sig", 5);
    CHECK_STR(mark, "{\"alg\":\"none\",\"signer_down\":4}");
    free(mark);
    /* Still down: signer_up is refused with nothing stored, and no new key comes in. */
    CHECK_INT(try_up(j, 92), PE_EUNAVAIL);
    cJSON *ib = NULL;
    CHECK_OK(pe_signer_installed_body(pe_signer_key(s), &ib));
    CHECK_INT(try_marked(j, 93, PE_EV_SIGNER_INSTALLED, ib, NULL), PE_ESTATE);
    struct pe_journal_signing g;
    CHECK_OK(pe_journal_signing(j, &g));
    CHECK_INT(g.down_seq, 4);
    CHECK_INT(g.down_ms, T0 + 4);
    CHECK_INT(g.counter, 3);
    /* Mid-outage the journal verifies, and says the outage is open. */
    struct pe_journal_verify_result r;
    CHECK_OK(pe_journal_verify(j, &r));
    CHECK_INT(r.down_seq, 4);
    CHECK_INT(r.nmarked, 2);
    pe_journal_close(j);
    pe_signer_close(s);

    /* A restart inside the outage finds it open and goes on marking. */
    s = open_faulty_signer(key);
    j = open_j(path, NULL);
    CHECK_OK(pe_journal_set_signer(j, s));
    CHECK_OK(pe_journal_signing(j, &g));
    CHECK_INT(g.down_seq, 4);
    CHECK_INT(g.counter, 3);
    CHECK_OK(try_marked(j, 6, PE_EV_SALE, body_of(6), &marked));
    CHECK(marked);
    unplug(false);
    /* Back: a signer_up that is not the outage's collective is refused. */
    struct pe_signer_collective c;
    cJSON *b = NULL;
    CHECK_OK(pe_journal_begin(j));
    CHECK_OK(pe_journal_collective(j, &c));
    pe_journal_rollback(j);
    CHECK_INT(c.first_seq, 4);
    CHECK_INT(c.last_seq, 6);
    CHECK_INT(c.count, 3);
    c.last_seq = 5;
    c.count = 2;
    CHECK_OK(pe_signer_collective_body(&c, &b));
    CHECK_INT(try_marked(j, 94, PE_EV_SIGNER_UP, b, NULL), PE_EINVAL);
    CHECK_OK(try_up(j, 7));
    CHECK_INT(sig_of(path, 7).counter, 4); /* one above the last before the outage */
    CHECK_OK(try_marked(j, 8, PE_EV_SALE, body_of(8), &marked));
    CHECK(!marked);
    CHECK_INT(sig_of(path, 8).counter, 5);
    CHECK_INT(pe_journal_sign_error(j), 0);
    CHECK_OK(pe_journal_signing(j, &g));
    CHECK_INT(g.down_seq, 0);
    CHECK_OK(pe_journal_verify(j, &r));
    CHECK_INT(r.count, 8);
    CHECK_INT(r.nsigned, 5);
    CHECK_INT(r.nmarked, 3);
    CHECK_INT(r.noutages, 1);
    CHECK_INT(r.down_seq, 0);
    pe_journal_close(j);
    pe_signer_close(s);

    /* A copy (posedge-ctl recover) carries the marks and verifies. */
    struct pe_journal *dst = copy_signed(path, pe_test_path(2, "copy.db"));
    CHECK_OK(pe_journal_verify(dst, &r));
    CHECK_INT(r.noutages, 1);
    pe_journal_close(dst);
}

/* Re-seal records from..last of path as a forger holding the key would: edit (may be NULL)
 * changes record `at`'s meta or body; every signed record is signed again with key_file (NULL:
 * the signatures are left as they were) at its own counter; marks and NULLs are kept. */
static void forge_from(const char *path, const char *key_file, int64_t from, int64_t at,
                       void (*edit)(struct pe_event_meta *m, cJSON *body))
{
    struct pe_journal_opts o = {.readonly = true};
    struct pe_journal *j = NULL;
    char err[256], prev[PE_SHA256_HEXLEN];
    CHECK_OK(pe_journal_open(path, &o, &j, err, sizeof err));
    int64_t last = 0;
    pe_journal_last(j, &last, NULL, NULL);
    pe_journal_close(j);
    char *h = raw_get(path, "hash", from - 1);
    snprintf(prev, sizeof prev, "%s", h);
    free(h);
    for (int64_t seq = from; seq <= last; seq++) {
        char *rec = raw_get(path, "record", seq), *sig = raw_get(path, "sig", seq), *out = NULL;
        cJSON *r = NULL;
        struct pe_event_meta m;
        char hash[PE_SHA256_HEXLEN];
        size_t len;
        CHECK_OK(pe_event_verify(rec, strlen(rec), seq, NULL, &m, hash, &r, NULL, 0));
        cJSON *body = cJSON_GetObjectItemCaseSensitive(r, "body");
        if (seq == at && edit) {
            edit(&m, body);
            char q[160];
            snprintf(q, sizeof q, "UPDATE events SET type = '%s' WHERE seq = %lld",
                     pe_event_type_name(m.type), (long long)seq);
            raw_sql(path, q);
        }
        CHECK_OK(pe_event_seal(&m, body, prev, &out, &len, hash));
        struct pe_signature g;
        char *resigned = NULL;
        if (key_file && sig && pe_signature_decode(sig, strlen(sig), &g, NULL, 0) == PE_OK)
            resigned = forge_sig(key_file, NULL, hash, g.counter);
        raw_set(path, seq, out, hash, resigned ? resigned : sig);
        memcpy(prev, hash, sizeof prev);
        free(resigned);
        free(sig);
        free(out);
        free(rec);
        cJSON_Delete(r);
    }
}

static void edit_up_hash(struct pe_event_meta *m, cJSON *body)
{
    (void)m;
    cJSON_ReplaceItemInObject(body, "hash", cJSON_CreateString("00000000000000000000000000000000"
                                                               "00000000000000000000000000000000"));
}

static void edit_up_range(struct pe_event_meta *m, cJSON *body)
{
    (void)m;
    cJSON_ReplaceItemInObject(body, "last_seq", cJSON_CreateNumber(4));
    cJSON_ReplaceItemInObject(body, "count", cJSON_CreateNumber(2));
}

static void edit_up_to_sale(struct pe_event_meta *m, cJSON *body)
{
    (void)body;
    m->type = PE_EV_SALE;
}

static void edit_total(struct pe_event_meta *m, cJSON *body)
{
    (void)m;
    cJSON_ReplaceItemInObject(cJSON_GetObjectItemCaseSensitive(body, "totals"), "total",
                              cJSON_CreateNumber(1));
}

/* path becomes a copy of the (closed) journal at from. */
static void fresh(const char *from, const char *path)
{
    char side[600];
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    FILE *in = fopen(from, "rb"), *out = fopen(path, "wb");
    CHECK(in && out);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        CHECK(fwrite(buf, 1, n, out) == n);
    fclose(in);
    CHECK(fclose(out) == 0);
}

/*
 * Fail the nth write or sync while signer_down, a marked event or signer_up commits, retry (or
 * die, as a power cut would, and go on in a new process): the outage is opened once, closed
 * once, the counter goes on by one across it, and the journal verifies.
 */
static void t_outage_under_faults(void)
{
    const char *key = pe_test_path(1, "signer.key");
    const char *path = pe_test_path(0, "j.db");
    char side[600];
    CHECK_OK(pe_faultvfs_register());
    pe_log_set_level(PE_LOG_OFF);
    int64_t triggered = 0;
    for (int step = 0; step < 3; step++) {
        int64_t nth;
        for (nth = 1; nth <= 200; nth++) {
            unlink(path);
            snprintf(side, sizeof side, "%s-wal", path);
            unlink(side);
            unplug(false);
            signed_journal(path, key, 3);
            pid_t pid = fork();
            CHECK(pid >= 0);
            if (pid == 0) {
                struct pe_signer *s = open_faulty_signer(key);
                struct pe_journal *j = open_j(path, "pe-fault");
                if (pe_journal_set_signer(j, s) != PE_OK)
                    _exit(3);
                unplug(true);
                if (step > 0 && (try_marked(j, 4, PE_EV_SIGNER_DOWN, down_body(s), NULL) ||
                                 try_event(j, 5, PE_EV_SALE, NULL)))
                    _exit(4);
                if (step == 2)
                    unplug(false);
                pe_faultvfs_arm(PE_FAULT_ANY, nth, PE_EIO, false);
                int rc = step == 0   ? try_marked(j, 4, PE_EV_SIGNER_DOWN, down_body(s), NULL)
                         : step == 1 ? try_event(j, 6, PE_EV_SALE, NULL)
                                     : try_up(j, 6);
                bool hit = pe_faultvfs_failures() > 0;
                pe_faultvfs_disarm();
                if (rc != PE_OK && !hit)
                    _exit(5);
                if (nth % 2)
                    _exit(hit ? 10 : 11);
                if (rc != PE_OK) {
                    rc = step == 0   ? try_marked(j, 4, PE_EV_SIGNER_DOWN, down_body(s), NULL)
                         : step == 1 ? try_event(j, 6, PE_EV_SALE, NULL)
                                     : try_up(j, 6);
                    if (rc != PE_OK && rc != PE_EEXIST)
                        _exit(6);
                }
                pe_journal_close(j);
                pe_signer_close(s);
                _exit(hit ? 10 : 11);
            }
            int status = 0;
            CHECK(waitpid(pid, &status, 0) == pid);
            CHECK(WIFEXITED(status));
            int code = WEXITSTATUS(status);
            if (code != 10 && code != 11)
                pe_test_fail(__FILE__, __LINE__, "step %d nth %lld: child exit %d", step,
                             (long long)nth, code);
            /* A new process, the signer back: close whatever outage is open, sell on. */
            unplug(false);
            struct pe_signer *s = open_faulty_signer(key);
            struct pe_journal *j = open_j(path, NULL);
            CHECK_OK(pe_journal_set_signer(j, s));
            struct pe_journal_signing g;
            CHECK_OK(pe_journal_signing(j, &g));
            if (g.down_seq)
                CHECK_OK(try_up(j, 7));
            CHECK_OK(try_event(j, 8, PE_EV_SALE, NULL));
            struct pe_journal_verify_result r;
            int vrc = pe_journal_verify(j, &r);
            if (vrc)
                pe_test_fail(__FILE__, __LINE__, "step %d nth %lld: %s", step, (long long)nth,
                             r.why);
            CHECK_INT(r.down_seq, 0);
            CHECK(r.noutages <= 1);
            /* Every signed record's counter one above the last: nsigned is the last counter. */
            CHECK_OK(pe_journal_signing(j, &g));
            CHECK_INT(g.counter, r.nsigned);
            pe_journal_close(j);
            pe_signer_close(s);
            if (code == 11)
                break;
            triggered++;
        }
        CHECK(nth <= 200);
    }
    pe_log_set_level(PE_LOG_INFO);
    CHECK(triggered >= 6);
    printf("    # %lld fault points\n", (long long)triggered);
}

static void t_outage_forgeries(void)
{
    const char *path = pe_test_path(0, "j.db"), *key = pe_test_path(1, "signer.key");
    const char *orig = pe_test_path(2, "orig.db");
    outage_journal(orig, key);
#define FRESH() fresh(orig, path)
    /* A signed record turned into an unsigned one, marked as if in an outage. */
    FRESH();
    raw_set(path, 2, NULL, NULL, "{\"alg\":\"none\",\"signer_down\":2}");
    expect_bad(path, 2, "no outage of the signer is open");
    FRESH();
    raw_set(path, 7, NULL, NULL, "{\"alg\":\"none\",\"signer_down\":3}");
    expect_bad(path, 7, "no outage of the signer is open");
    /* An outage's mark removed, or naming another outage. */
    FRESH();
    raw_set(path, 4, NULL, NULL, NULL);
    expect_bad(path, 4, "not signed, but the signer is down since seq 3");
    FRESH();
    raw_set(path, 4, NULL, NULL, "{\"alg\":\"none\",\"signer_down\":2}");
    expect_bad(path, 4, "open one began at seq 3");
    /* A marked sale edited: the chain recomputed, the collective's signature no longer holds. */
    FRESH();
    forge_from(path, NULL, 4, 4, edit_total);
    expect_bad(path, 6, "signature does not verify");
    /* Re-signed by the key itself: the collective's digest still catches it. */
    FRESH();
    forge_from(path, key, 4, 4, edit_total);
    expect_bad(path, 6, "collective hash does not match seqs 3-5");
    /* A collective with a wrong digest, or that leaves a seq out. */
    FRESH();
    forge_from(path, key, 6, 6, edit_up_hash);
    expect_bad(path, 6, "collective hash does not match");
    FRESH();
    forge_from(path, key, 6, 6, edit_up_range);
    expect_bad(path, 6, "seq 5 is not covered");
    /* No collective: a signed record follows the outage. */
    FRESH();
    forge_from(path, key, 6, 6, edit_up_to_sale);
    expect_bad(path, 6, "no signer_up covers seqs 3-5");
#undef FRESH
    struct pe_journal *j = open_j(orig, NULL);
    verify_ok(j, 7, 4);
    pe_journal_close(j);
}

/* ---- receipts' QR codes (store/render_qr.c, pe_signer_sign_receipt) ---- */

/* RFC 4648 base64url without padding, decoded into out (n bytes expected): false when bad. */
static bool unbase64url(const char *in, uint8_t *out, size_t n)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (const char *p = in; *p; p++) {
        const char *c = strchr(abc, *p);
        if (!c)
            return false;
        acc = (acc << 6) | (uint32_t)(c - abc);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == n)
                return false;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return o == n;
}

static struct pe_render_hdr qr_hdr(const char *type)
{
    struct pe_render_hdr h = {.title = "Shop", .store = STORE, .terminal = TERMINAL,
                              .operator_ = "op1", .type = type, .seq = 7,
                              .id = "0a1b2c3d-0000-4000-8000-000000000007", .ts_ms = T0 + 7};
    return h;
}

/* The payload field by field, signed over everything before its last '|' by the event's key
 * without using a counter, verifying with the public key alone; any changed byte does not. */
static void t_receipt_qr(void)
{
    struct pe_signer *s = open_signer(pe_test_path(0, "a.key"));
    char hash[PE_SHA256_HEXLEN], qr[PE_RECEIPT_QR_MAX], want[PE_RECEIPT_QR_MAX];
    uint8_t h[PE_SHA256_LEN], rs[PE_SIGNER_SIG_LEN], back[PE_SIGNER_SIG_LEN];
    pe_sha256_2("sale 7", 6, NULL, 0, h);
    pe_hex(h, sizeof h, hash);
    struct pe_signature g;
    CHECK_OK(pe_signer_sign(s, hash, &g));
    struct pe_render_hdr hd = qr_hdr("sale");
    cJSON *body = body_of(7);
    size_t n = 0;
    CHECK_OK(pe_render_qr(&hd, body, hash, &g, qr, &n));
    snprintf(want, sizeof want, "posedge-qr/1|s001|t01|7|0a1b2c3d-0000-4000-8000-000000000007|%lld|"
             "sale|1007|EUR|%s|%s|1|%lld", (long long)(T0 + 7), hash, g.key_id,
             (long long)g.signed_ms);
    CHECK_STR(qr, want);
    CHECK_INT(n, strlen(want));

    int64_t counter = pe_signer_counter(s);
    CHECK_OK(pe_signer_sign_receipt(s, qr, n, rs));
    CHECK_INT(pe_signer_counter(s), counter); /* the journal's counters stay gapless */
    size_t signed_len = n;
    CHECK_OK(pe_render_qr_seal(qr, &n, rs));
    CHECK_INT(n, signed_len + 1 + 86);
    CHECK_INT(strlen(qr), n);
    CHECK(memcmp(qr, want, signed_len) == 0 && qr[signed_len] == '|');
    CHECK(unbase64url(qr + signed_len + 1, back, sizeof back));
    CHECK(memcmp(back, rs, sizeof rs) == 0);
    CHECK(n < PE_RECEIPT_QR_MAX);

    struct pe_signer_pub *pub = NULL;
    CHECK_OK(pe_signer_pub_parse(pe_signer_key(s)->public_key, &pub, NULL));
    CHECK_OK(pe_signer_verify_receipt(pub, qr, signed_len, rs));
    /* Deterministic ECDSA: the same payload, the same signature. */
    uint8_t rs2[PE_SIGNER_SIG_LEN];
    CHECK_OK(pe_signer_sign_receipt(s, qr, signed_len, rs2));
    CHECK(memcmp(rs, rs2, sizeof rs) == 0);
    /* The total changed by one cent, or one more byte: it does not verify. */
    char forged[PE_RECEIPT_QR_MAX];
    memcpy(forged, qr, signed_len + 1);
    char *tot = strstr(forged, "|1007|");
    CHECK(tot != NULL);
    tot[4] = '8';
    CHECK_INT(pe_signer_verify_receipt(pub, forged, signed_len, rs), PE_EDECLINED);
    CHECK_INT(pe_signer_verify_receipt(pub, qr, signed_len - 1, rs), PE_EDECLINED);
    /* A receipt's signature never passes for an event's, nor is one made for another kind. */
    char msg[PE_SIGNER_MESSAGE_MAX];
    size_t mlen = pe_signer_message(hash, 2, T0, msg);
    CHECK_INT(pe_signer_sign_receipt(s, msg, mlen, rs2), PE_EINVAL);
    CHECK_INT(pe_signer_verify_receipt(pub, msg, mlen, rs), PE_EINVAL);
    CHECK_INT(pe_signer_sign_receipt(s, "posedge-q", 9, rs2), PE_EINVAL);
    CHECK_INT(pe_signer_sign_receipt(s, NULL, 0, rs2), PE_EINVAL);
    /* Another key's public key does not verify it. */
    struct pe_signer *other = open_signer(pe_test_path(1, "b.key"));
    struct pe_signer_pub *opub = NULL;
    CHECK_OK(pe_signer_pub_parse(pe_signer_key(other)->public_key, &opub, NULL));
    CHECK_INT(pe_signer_verify_receipt(opub, qr, signed_len, rs), PE_EDECLINED);
    pe_signer_pub_free(opub);
    pe_signer_pub_free(pub);
    pe_signer_close(other);
    pe_signer_close(s);
    cJSON_Delete(body);
}

/* An unsigned event (signing off, the signer down): the same fields, the last four empty, and
 * the receipt still has its code. A void's amount is its total; a document without one leaves
 * total and currency empty. */
static void t_receipt_qr_unsigned(void)
{
    char hash[PE_SHA256_HEXLEN], qr[PE_RECEIPT_QR_MAX], want[PE_RECEIPT_QR_MAX];
    uint8_t h[PE_SHA256_LEN];
    pe_sha256_2("void", 4, NULL, 0, h);
    pe_hex(h, sizeof h, hash);
    struct pe_render_hdr hd = qr_hdr("void");
    cJSON *body = cJSON_CreateObject();
    CHECK_OK(pe_json_add_int(body, "amount", 250));
    CHECK_OK(pe_json_add_str(body, "currency", "EUR"));
    size_t n = 0;
    CHECK_OK(pe_render_qr(&hd, body, hash, NULL, qr, &n));
    CHECK_OK(pe_render_qr_seal(qr, &n, NULL));
    snprintf(want, sizeof want,
             "posedge-qr/1|s001|t01|7|0a1b2c3d-0000-4000-8000-000000000007|%lld|void|250|EUR"
             "|%s||||",
             (long long)(T0 + 7), hash);
    CHECK_STR(qr, want);
    CHECK_INT(n, strlen(want));
    cJSON_Delete(body);

    hd = qr_hdr("no_sale");
    body = cJSON_CreateObject();
    CHECK_OK(pe_render_qr(&hd, body, hash, NULL, qr, &n));
    CHECK_OK(pe_render_qr_seal(qr, &n, NULL));
    snprintf(want, sizeof want,
             "posedge-qr/1|s001|t01|7|0a1b2c3d-0000-4000-8000-000000000007|%lld|no_sale|||%s||||",
             (long long)(T0 + 7), hash);
    CHECK_STR(qr, want);
    cJSON_Delete(body);
}

/* What cannot be a payload is refused, and nothing half-made is left in out. */
static void t_receipt_qr_refusals(void)
{
    char hash[PE_SHA256_HEXLEN], qr[PE_RECEIPT_QR_MAX], big[600];
    uint8_t h[PE_SHA256_LEN];
    pe_sha256_2("x", 1, NULL, 0, h);
    pe_hex(h, sizeof h, hash);
    cJSON *body = body_of(1);
    size_t n = 0;
    struct pe_render_hdr hd = qr_hdr("sale");
    hd.seq = 0;
    CHECK_INT(pe_render_qr(&hd, body, hash, NULL, qr, &n), PE_EINVAL);
    hd = qr_hdr("sale");
    hd.id = NULL;
    CHECK_INT(pe_render_qr(&hd, body, hash, NULL, qr, &n), PE_EINVAL);
    hd = qr_hdr("bogus");
    CHECK_INT(pe_render_qr(&hd, body, hash, NULL, qr, &n), PE_EINVAL);
    hd = qr_hdr("sale");
    CHECK_INT(pe_render_qr(&hd, body, "ABC", NULL, qr, &n), PE_EINVAL);
    CHECK_INT(pe_render_qr(&hd, body, hash, NULL, qr, NULL), PE_EINVAL);
    hd.store = "s|001";
    CHECK_INT(pe_render_qr(&hd, body, hash, NULL, qr, &n), PE_EINVAL);
    CHECK_STR(qr, "");
    CHECK_INT(n, 0);
    hd.store = "s\n001";
    CHECK_INT(pe_render_qr(&hd, body, hash, NULL, qr, &n), PE_EINVAL);
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    hd.store = big;
    CHECK_INT(pe_render_qr(&hd, body, hash, NULL, qr, &n), PE_EINVAL);
    /* The longest store id that fits still leaves room for the signature. */
    size_t fixed = strlen("posedge-qr/1||t01|7|0a1b2c3d-0000-4000-8000-000000000007|") +
                   strlen("1795256102007|sale|1001|EUR|") + 64 + 3;
    size_t room = PE_RECEIPT_QR_MAX - 1 - 87 - fixed;
    big[room] = '\0';
    CHECK_OK(pe_render_qr(&hd, body, hash, NULL, qr, &n));
    uint8_t rs[PE_SIGNER_SIG_LEN] = {1};
    CHECK_OK(pe_render_qr_seal(qr, &n, rs));
    CHECK_INT(n, PE_RECEIPT_QR_MAX - 1);
    big[room] = 'a';
    big[room + 1] = '\0';
    CHECK_INT(pe_render_qr(&hd, body, hash, NULL, qr, &n), PE_EINVAL);
    /* seal takes only what pe_render_qr made */
    hd = qr_hdr("sale");
    CHECK_OK(pe_render_qr(&hd, body, hash, NULL, qr, &n));
    size_t wrong = n - 1;
    CHECK_INT(pe_render_qr_seal(qr, &wrong, rs), PE_EINVAL);
    wrong = 0;
    CHECK_INT(pe_render_qr_seal(qr, &wrong, rs), PE_EINVAL);
    cJSON_Delete(body);
}

/* mbedTLS's blinding draws: they change no signature, so any bytes do. */
static int blind_rng(void *ctx, unsigned char *buf, size_t n)
{
    unsigned *x = ctx;
    for (size_t i = 0; i < n; i++) {
        *x = *x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(*x >> 16);
    }
    return 0;
}

static void t_sign_is_mbedtls_det(void)
{
    const char *path = pe_test_path(0, "det.key");
    pe_signer_close(open_signer(path)); /* makes the key file */
    struct pe_pki_key *k = NULL;
    struct pe_rng *rng = NULL;
    char err[256];
    CHECK_OK(pe_pki_key_load(path, &k, err, sizeof err));
    CHECK_OK(pe_rng_create("det", &rng));
    mbedtls_pk_context pk;
    mbedtls_pk_init(&pk);
    CHECK_INT(mbedtls_pk_parse_keyfile(&pk, path, NULL), 0);
    mbedtls_ecp_keypair *ec = mbedtls_pk_ec(pk);
    mbedtls_mpi r, s;
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    unsigned seed = 7;
    for (int i = 0; i < 64; i++) {
        uint8_t d[32], ours[64], theirs[64];
        /* Edge digests first: zero, all ones (above the order: reduced), then hashes. */
        if (i < 2)
            memset(d, i ? 0xff : 0, sizeof d);
        else
            pe_sha256_2(&i, sizeof i, NULL, 0, d);
        CHECK_OK(pe_pki_key_sign_digest(k, d, rng, ours, err, sizeof err));
        CHECK_INT(mbedtls_ecdsa_sign_det_ext(&ec->grp, &r, &s, &ec->d, d, sizeof d,
                                             MBEDTLS_MD_SHA256, blind_rng, &seed),
                  0);
        CHECK_INT(mbedtls_mpi_write_binary(&r, theirs, 32), 0);
        CHECK_INT(mbedtls_mpi_write_binary(&s, theirs + 32, 32), 0);
        CHECK(memcmp(ours, theirs, sizeof ours) == 0);
    }
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    mbedtls_pk_free(&pk);
    pe_rng_destroy(rng);
    pe_pki_key_destroy(k);
}

static const struct pe_test tests[] = {
    {"key_made_once", t_key_made_once},
    {"key_refusals", t_key_refusals},
    {"sign_verify", t_sign_verify},
    {"sign_is_mbedtls_det", t_sign_is_mbedtls_det},
    {"installed_body", t_installed_body},
    {"journal_signs", t_journal_signs},
    {"rollback_gives_counter_back", t_rollback_gives_counter_back},
    {"groups_and_off", t_groups_and_off},
    {"forged_total_recomputed_chain", t_forged_total_recomputed_chain},
    {"resigned_with_another_key", t_resigned_with_another_key},
    {"counter_gaps", t_counter_gaps},
    {"signature_before_install", t_signature_before_install},
    {"recover_copies_signatures", t_recover_copies_signatures},
    {"faults_keep_counters_gapless", t_faults_keep_counters_gapless},
    {"mark_encoding", t_mark_encoding},
    {"signer_down_outage", t_signer_down_outage},
    {"outage_forgeries", t_outage_forgeries},
    {"outage_under_faults", t_outage_under_faults},
    {"receipt_qr", t_receipt_qr},
    {"receipt_qr_unsigned", t_receipt_qr_unsigned},
    {"receipt_qr_refusals", t_receipt_qr_refusals},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("signer", tests, argc, argv);
}
