/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_sigcheck.c - unit tests of the bridge's signature check at intake (bridge/sigcheck.c).
 *
 * What must hold: a till's signer_installed puts its key in use only when that key signed it;
 * then each record passes only when signed by that key, with a counter one above the last and a
 * signature that verifies over its hash; each forgery is named: a record changed after it was
 * signed (bad_signature), a record re-signed with another key under the installed key's id
 * (bad_signature) or its own (unknown_key), a counter that repeats (counter_regressed) or skips
 * (counter_gap), a record unsigned and unmarked (missing_signature). One bad record costs one
 * refusal: the genuine record after it passes. A till that never installed a key sends unsigned
 * records, and a till whose signer is down marks them; both pass, counted. The state survives a
 * save and a load.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/sigcheck.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "posedge/signer.h"
#include "tests/unit/harness.h"

#define STORE "s001"
#define TERMINAL "t01"
#define T0 1795256102000LL

static int64_t fixed_now = T0;

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return fixed_now++;
}

static struct pe_signer *open_signer(const char *name)
{
    struct pe_signer_conf c = {.key_file = pe_test_path(0, name), .store = STORE,
                               .terminal = TERMINAL, .now = test_clock};
    struct pe_signer *s = NULL;
    char err[512];
    int rc = pe_signer_open(pe_signer_find("software"), &c, &s, err, sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "signer %s: %s (%s)", name, pe_errname(rc), err);
    CHECK_OK(pe_signer_resume(s, 0));
    return s;
}

/* One sealed record of a till's chain, and what travels with it. */
struct rec {
    cJSON *doc;
    char hash[PE_SHA256_HEXLEN];
    char sig[PE_SIGNER_ENCODED_MAX];
    bool has_sig;
};

static char prev[PE_SHA256_HEXLEN];
static int64_t next_seq;

static void chain_reset(void)
{
    pe_event_genesis(STORE, TERMINAL, prev);
    next_seq = 1;
}

/* The next record of the chain (type, body: a sale's when NULL), unsigned. */
static struct rec make(enum pe_event_type type, cJSON *body, int64_t total)
{
    struct rec r = {0};
    struct pe_event_meta m = {.seq = next_seq++, .type = type, .ts_ms = T0 + next_seq};
    snprintf(m.id, sizeof m.id, "0a1b2c3d-0000-4000-8000-%012lld", (long long)m.seq);
    strcpy(m.store, STORE);
    strcpy(m.terminal, TERMINAL);
    if (!body) {
        body = cJSON_CreateObject();
        CHECK_OK(pe_json_add_int(body, "total", total));
    }
    char *bytes = NULL;
    size_t len = 0;
    CHECK_OK(pe_event_seal(&m, body, prev, &bytes, &len, r.hash));
    CHECK_OK(pe_json_parse(bytes, len, &r.doc, NULL, 0));
    memcpy(prev, r.hash, sizeof prev);
    free(bytes);
    cJSON_Delete(body);
    return r;
}

static void sign(struct rec *r, struct pe_signer *s)
{
    struct pe_signature g;
    CHECK_OK(pe_signer_sign(s, r->hash, &g));
    CHECK(pe_signature_encode(&g, r->sig) > 0);
    r->has_sig = true;
}

static struct rec installed(struct pe_signer *key_of, struct pe_signer *signed_by)
{
    cJSON *b = NULL;
    CHECK_OK(pe_signer_installed_body(key_of ? pe_signer_key(key_of) : NULL, &b));
    struct rec r = make(PE_EV_SIGNER_INSTALLED, b, 0);
    if (signed_by)
        sign(&r, signed_by);
    return r;
}

static int64_t seq_of(const struct rec *r)
{
    int64_t seq = 0;
    CHECK_OK(pe_json_get_int(r->doc, "seq", &seq));
    return seq;
}

/* Judge r, store it (apply), and return the reason. The refusal text must name it. */
static enum sigcheck_reason judge(struct sigcheck_till *t, struct rec *r)
{
    struct sigcheck_verdict v;
    const char *type = NULL;
    CHECK_OK(pe_json_get_str(r->doc, "type", &type));
    CHECK_OK(sigcheck_record(t, seq_of(r), type, r->doc, r->hash, r->has_sig ? r->sig : NULL,
                             r->has_sig ? strlen(r->sig) : 0, &v));
    enum sigcheck_reason got = v.reason;
    if (got != SIGCHECK_OK)
        CHECK(strncmp(v.why, sigcheck_reason_name(got), strlen(sigcheck_reason_name(got))) == 0);
    sigcheck_apply(t, seq_of(r), &v);
    sigcheck_verdict_free(&v);
    cJSON_Delete(r->doc);
    r->doc = NULL;
    return got;
}

#define JUDGE(t, r, want) CHECK_STR(sigcheck_reason_name(judge(t, r)), sigcheck_reason_name(want))

/* ---- tests ---- */

static void t_good(void)
{
    chain_reset();
    struct pe_signer *a = open_signer("a.key");
    struct sigcheck_till t = {0};
    struct rec r = installed(a, a);
    JUDGE(&t, &r, SIGCHECK_OK);
    CHECK_STR(t.alg, PE_SIGNER_ALG);
    CHECK_STR(t.key_id, pe_signer_key(a)->key_id);
    CHECK_INT(t.installed_seq, 1);
    CHECK_INT(t.counter, 1);
    for (int i = 0; i < 5; i++) {
        r = make(PE_EV_SALE, NULL, 100 + i);
        sign(&r, a);
        JUDGE(&t, &r, SIGCHECK_OK);
    }
    CHECK_INT(t.counter, 6);
    CHECK_INT(t.verified, 6);
    CHECK_INT(t.rejected, 0);
    CHECK_INT(t.keys, 1);
    sigcheck_till_clear(&t);
    pe_signer_close(a);
}

static void t_bad_signature_then_moves_on(void)
{
    chain_reset();
    struct pe_signer *a = open_signer("a.key");
    struct sigcheck_till t = {0};
    struct rec r = installed(a, a);
    JUDGE(&t, &r, SIGCHECK_OK);
    /* A total changed after signing, its chain recomputed: the signature is over another hash. */
    char before[PE_SHA256_HEXLEN];
    memcpy(before, prev, sizeof before);
    struct rec genuine = make(PE_EV_SALE, NULL, 100);
    sign(&genuine, a);
    cJSON_Delete(genuine.doc);
    memcpy(prev, before, sizeof prev);
    next_seq--;
    struct rec forged = make(PE_EV_SALE, NULL, 1);
    memcpy(forged.sig, genuine.sig, sizeof forged.sig);
    forged.has_sig = true;
    JUDGE(&t, &forged, SIGCHECK_BAD_SIGNATURE);
    CHECK_INT(t.rejected, 1);
    CHECK_STR(t.last_reason, "bad_signature");
    CHECK_INT(t.last_seq, 2);
    /* The till's next record, counter one above the forged one's: it passes. */
    r = make(PE_EV_SALE, NULL, 200);
    sign(&r, a);
    JUDGE(&t, &r, SIGCHECK_OK);
    CHECK_INT(t.counter, 3);
    sigcheck_till_clear(&t);
    pe_signer_close(a);
}

static void t_counters(void)
{
    chain_reset();
    struct pe_signer *a = open_signer("a.key");
    struct sigcheck_till t = {0};
    struct rec r = installed(a, a);
    JUDGE(&t, &r, SIGCHECK_OK);
    r = make(PE_EV_SALE, NULL, 1);
    sign(&r, a);
    JUDGE(&t, &r, SIGCHECK_OK); /* counter 2 */
    /* A counter used again: a journal put back to an older copy of itself signs 2 again. */
    CHECK_OK(pe_signer_resume(a, 1));
    r = make(PE_EV_SALE, NULL, 2);
    sign(&r, a);
    JUDGE(&t, &r, SIGCHECK_COUNTER_REGRESSED);
    CHECK_INT(t.counter, 2);
    /* A counter skipped. */
    CHECK_OK(pe_signer_resume(a, 3));
    r = make(PE_EV_SALE, NULL, 3);
    sign(&r, a); /* 4 */
    JUDGE(&t, &r, SIGCHECK_COUNTER_GAP);
    CHECK_INT(t.counter, 4);
    r = make(PE_EV_SALE, NULL, 4);
    sign(&r, a); /* 5 */
    JUDGE(&t, &r, SIGCHECK_OK);
    CHECK_INT(t.rejected, 2);
    sigcheck_till_clear(&t);
    pe_signer_close(a);
}

static void t_unknown_and_foreign_keys(void)
{
    chain_reset();
    struct pe_signer *a = open_signer("a.key"), *b = open_signer("b.key");
    struct sigcheck_till t = {0};
    /* Signed before any key came (a spool made anew): passes unverified, as unsigned would. */
    struct rec r = make(PE_EV_SALE, NULL, 1);
    sign(&r, a);
    JUDGE(&t, &r, SIGCHECK_OK);
    CHECK_INT(t.unverified, 1);
    CHECK_INT(t.verified, 0);
    r = installed(a, a);
    JUDGE(&t, &r, SIGCHECK_OK);
    /* Re-signed with another key, under that key's own id. */
    r = make(PE_EV_SALE, NULL, 2);
    sign(&r, b);
    JUDGE(&t, &r, SIGCHECK_UNKNOWN_KEY);
    /* Re-signed with another key under the installed key's id (and the right counter). */
    r = make(PE_EV_SALE, NULL, 3);
    struct pe_signature g;
    CHECK_OK(pe_signer_resume(b, pe_signer_counter(a) - 1));
    CHECK_OK(pe_signer_sign(b, r.hash, &g));
    snprintf(g.key_id, sizeof g.key_id, "%s", pe_signer_key(a)->key_id);
    CHECK(pe_signature_encode(&g, r.sig) > 0);
    r.has_sig = true;
    JUDGE(&t, &r, SIGCHECK_BAD_SIGNATURE);
    /* A signer_installed of key a signed by b; of b unsigned: neither installs. */
    r = installed(a, b);
    JUDGE(&t, &r, SIGCHECK_UNKNOWN_KEY);
    r = installed(b, NULL);
    JUDGE(&t, &r, SIGCHECK_MISSING_SIGNATURE);
    CHECK_STR(t.key_id, pe_signer_key(a)->key_id);
    /* A new key properly installed: a's signatures are foreign from then on. */
    r = installed(b, b);
    JUDGE(&t, &r, SIGCHECK_OK);
    CHECK_STR(t.key_id, pe_signer_key(b)->key_id);
    CHECK_INT(t.keys, 2);
    r = make(PE_EV_SALE, NULL, 4);
    sign(&r, b);
    JUDGE(&t, &r, SIGCHECK_OK);
    r = make(PE_EV_SALE, NULL, 5);
    sign(&r, a);
    JUDGE(&t, &r, SIGCHECK_UNKNOWN_KEY);
    sigcheck_till_clear(&t);
    pe_signer_close(a);
    pe_signer_close(b);
}

static void t_unsigned_forms(void)
{
    chain_reset();
    struct pe_signer *a = open_signer("a.key");
    struct sigcheck_till t = {0};
    /* A till that never installed a key: its records pass unsigned, counted. */
    struct rec r = make(PE_EV_SALE, NULL, 1);
    JUDGE(&t, &r, SIGCHECK_OK);
    CHECK_INT(t.unsigned_, 1);
    r = installed(a, a);
    JUDGE(&t, &r, SIGCHECK_OK);
    /* After a key: unsigned and unmarked is refused; marked (signer down) passes. */
    r = make(PE_EV_SALE, NULL, 2);
    JUDGE(&t, &r, SIGCHECK_MISSING_SIGNATURE);
    r = make(PE_EV_SALE, NULL, 3);
    snprintf(r.sig, sizeof r.sig, "{\"alg\":\"none\",\"reason\":\"signer_down\"}");
    r.has_sig = true;
    JUDGE(&t, &r, SIGCHECK_OK);
    CHECK_INT(t.unsigned_, 2);
    r = make(PE_EV_SALE, NULL, 4);
    snprintf(r.sig, sizeof r.sig, "{\"alg\":\"ES256\",\"sig\":\"zz\"}");
    r.has_sig = true;
    JUDGE(&t, &r, SIGCHECK_MALFORMED_SIGNATURE);
    /* Signing turned off (journaled unsigned): unsigned records pass again. */
    r = installed(NULL, NULL);
    JUDGE(&t, &r, SIGCHECK_OK);
    CHECK_STR(t.alg, PE_SIGNER_ALG_NONE);
    r = make(PE_EV_SALE, NULL, 5);
    JUDGE(&t, &r, SIGCHECK_OK);
    /* ... and a signed one after signing was turned off is refused. */
    r = make(PE_EV_SALE, NULL, 6);
    sign(&r, a);
    JUDGE(&t, &r, SIGCHECK_UNKNOWN_KEY);
    sigcheck_till_clear(&t);
    pe_signer_close(a);
}

static void t_save_load(void)
{
    chain_reset();
    struct pe_signer *a = open_signer("a.key");
    struct sigcheck_till t = {0}, u = {0};
    struct rec r = installed(a, a);
    JUDGE(&t, &r, SIGCHECK_OK);
    r = make(PE_EV_SALE, NULL, 1);
    JUDGE(&t, &r, SIGCHECK_MISSING_SIGNATURE);
    char *doc = NULL, why[120];
    CHECK_OK(sigcheck_till_save(&t, &doc));
    CHECK_OK(sigcheck_till_load(&u, doc, why, sizeof why));
    free(doc);
    CHECK_STR(u.key_id, t.key_id);
    CHECK_INT(u.counter, t.counter);
    CHECK_INT(u.rejected, 1);
    CHECK_STR(u.last_reason, "missing_signature");
    r = make(PE_EV_SALE, NULL, 2);
    sign(&r, a);
    JUDGE(&u, &r, SIGCHECK_OK); /* the loaded key verifies */
    CHECK_INT(sigcheck_till_load(&u, "{\"alg\":\"ES256\"}", why, sizeof why), PE_EPARSE);
    CHECK(u.pub == NULL);
    sigcheck_till_clear(&t);
    sigcheck_till_clear(&u);
    pe_signer_close(a);
}

static const struct pe_test tests[] = {
    {"good", t_good},
    {"bad_signature_then_moves_on", t_bad_signature_then_moves_on},
    {"counters", t_counters},
    {"unknown_and_foreign_keys", t_unknown_and_foreign_keys},
    {"unsigned_forms", t_unsigned_forms},
    {"save_load", t_save_load},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("sigcheck", tests, argc, argv);
}
