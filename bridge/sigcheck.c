/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigcheck.c - a till's signatures checked at the bridge's intake (see sigcheck.h).
 *
 * The rules are those of posedge-ctl verify over a journal (store/journal.c, check_sig), applied
 * one record at a time as records arrive, with the till's key group kept between them. Nothing
 * here does I/O: the bridge stores the state (sigcheck_till_save) in its spool, in the same
 * transaction as the records it covers.
 *
 * The ECDSA verification itself is OpenSSL's libcrypto (already in the bridge's process, under
 * librdkafka and libcurl), not mbedTLS as on the till: one bridge verifies every record of every
 * till of its store, and libcrypto's P-256 verify is an order of magnitude faster than mbedTLS's
 * (make bench). The message, the key id and the sig column's form are still signer.h's, so both
 * sides agree on what is signed; a key is parsed once per till (sigcheck_key) and its verify
 * context kept.
 */
#include "bridge/sigcheck.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"

/* ---- the key ---- */

struct sigcheck_key {
    EVP_PKEY *pk;      /* the P-256 public key */
    EVP_PKEY_CTX *ctx; /* initialised for verifying SHA-256 digests, reused */
};

static void key_free(struct sigcheck_key *k)
{
    if (!k)
        return;
    EVP_PKEY_CTX_free(k->ctx);
    EVP_PKEY_free(k->pk);
    free(k);
}

/* Parse pem (SubjectPublicKeyInfo, P-256). Errors: PE_EPARSE (not such a key), PE_ENOMEM. */
static int key_parse(const char *pem, struct sigcheck_key **out)
{
    struct sigcheck_key *k = calloc(1, sizeof *k);
    if (!k)
        return PE_ENOMEM;
    char group[32] = "";
    size_t glen = 0;
    BIO *bio = BIO_new_mem_buf(pem, -1);
    k->pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    int e = PE_OK;
    if (!k->pk || EVP_PKEY_get_base_id(k->pk) != EVP_PKEY_EC ||
        EVP_PKEY_get_group_name(k->pk, group, sizeof group, &glen) != 1 ||
        strcmp(group, "prime256v1") != 0)
        e = PE_EPARSE;
    else if (!(k->ctx = EVP_PKEY_CTX_new(k->pk, NULL)) || EVP_PKEY_verify_init(k->ctx) != 1 ||
             EVP_PKEY_CTX_set_signature_md(k->ctx, EVP_sha256()) != 1)
        e = PE_ENOMEM;
    ERR_clear_error(); /* nothing of a refusal may linger in the thread's queue (librdkafka's) */
    if (e) {
        key_free(k);
        return e;
    }
    *out = k;
    return PE_OK;
}

/* Check s over hash under k: signer.h's message, ECDSA P-256 over its SHA-256, r || s.
 * Returns PE_OK, PE_EDECLINED (it does not verify), PE_EINVAL (a bad hash or number),
 * PE_ENOMEM. */
static int key_verify(struct sigcheck_key *k, const char *hash, const struct pe_signature *s)
{
    char msg[PE_SIGNER_MESSAGE_MAX];
    size_t n = pe_signer_message(hash, s->counter, s->signed_ms, msg);
    if (!n)
        return PE_EINVAL;
    uint8_t digest[PE_SHA256_LEN];
    pe_sha256_2(msg, n, NULL, 0, digest);
    unsigned char der[80], *p = der;
    int e = PE_ENOMEM, len = 0;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(s->rs, 32, NULL), *ss = BN_bin2bn(s->rs + 32, 32, NULL);
    if (sig && r && ss && ECDSA_SIG_set0(sig, r, ss) == 1) {
        r = ss = NULL; /* the signature's now */
        len = i2d_ECDSA_SIG(sig, NULL);
        if (len > 0 && (size_t)len <= sizeof der && i2d_ECDSA_SIG(sig, &p) == len)
            e = EVP_PKEY_verify(k->ctx, der, (size_t)len, digest, sizeof digest) == 1
                    ? PE_OK
                    : PE_EDECLINED;
    }
    BN_free(r);
    BN_free(ss);
    ECDSA_SIG_free(sig);
    ERR_clear_error();
    return e;
}

static const char *const names[SIGCHECK__COUNT] = {
#define SIGCHECK__NAME(name, str) [SIGCHECK_##name] = str,
    SIGCHECK_REASONS(SIGCHECK__NAME)
#undef SIGCHECK__NAME
};

const char *sigcheck_reason_name(enum sigcheck_reason r)
{
    return (unsigned)r < SIGCHECK__COUNT ? names[r] : NULL;
}

/* Refuse: v->why is "<reason>: seq N: <what>". Returns PE_OK (a verdict is not an error). */
static int refuse(struct sigcheck_verdict *v, enum sigcheck_reason r, int64_t seq, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));
static int refuse(struct sigcheck_verdict *v, enum sigcheck_reason r, int64_t seq, const char *fmt,
                  ...)
{
    v->reason = r;
    v->verified = false;
    int n = snprintf(v->why, sizeof v->why, "%s: seq %" PRId64 ": ", names[r], seq);
    if (n > 0 && (size_t)n < sizeof v->why) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(v->why + n, sizeof v->why - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return PE_OK;
}

/* How a sig travelled: none, marked unsigned ({"alg":"none",...}: the till's signer was down),
 * a signature, or something that is neither. */
enum sig_form { SIG_NONE, SIG_MARKED, SIG_ES256, SIG_MALFORMED };

static int sig_form(const void *sig, size_t siglen, struct pe_signature *out, char *why,
                    size_t whylen, enum sig_form *form)
{
    *form = SIG_NONE;
    if (!sig)
        return PE_OK;
    int e = pe_signature_decode(sig, siglen, out, why, whylen);
    *form = SIG_ES256;
    if (e == PE_OK || e == PE_ENOMEM)
        return e; /* out of memory: no verdict on the signature */
    cJSON *o = NULL;
    const char *alg = NULL;
    *form = SIG_MALFORMED;
    e = pe_json_parse(sig, siglen, &o, NULL, 0);
    if (e == PE_OK && cJSON_IsObject(o) && pe_json_get_str(o, "alg", &alg) == PE_OK &&
        strcmp(alg, PE_SIGNER_ALG_NONE) == 0)
        *form = SIG_MARKED;
    cJSON_Delete(o);
    return e == PE_ENOMEM ? e : PE_OK;
}

/* The counter of a signature under the till's key: one above the last (or any, for the first
 * of a group). */
static bool counter_ok(const struct sigcheck_till *t, const struct pe_signature *s,
                       struct sigcheck_verdict *v, int64_t seq)
{
    if (t->counter > 0 && s->counter <= t->counter) {
        refuse(v, SIGCHECK_COUNTER_REGRESSED, seq, "counter %" PRId64 ", the last was %" PRId64,
               s->counter, t->counter);
        return false;
    }
    v->counter = s->counter; /* a gap or a bad signature still uses the counter up */
    if (t->counter > 0 && s->counter != t->counter + 1) {
        refuse(v, SIGCHECK_COUNTER_GAP, seq, "counter %" PRId64 ", expected %" PRId64,
               s->counter, t->counter + 1);
        return false;
    }
    return true;
}

/* A signer_installed record: it installs what its body says, signed by that key. */
static int check_install(const struct sigcheck_till *t, int64_t seq, const cJSON *rec,
                         const char *hash, enum sig_form f, const struct pe_signature *s,
                         struct sigcheck_verdict *v)
{
    struct pe_signer_installed in;
    char w[120] = "";
    int pe = pe_signer_installed_parse(cJSON_GetObjectItemCaseSensitive(rec, "body"), &in, w,
                                       sizeof w);
    if (pe == PE_ENOMEM)
        return pe; /* no verdict: the record is judged again when it comes again */
    if (pe)
        return refuse(v, SIGCHECK_BAD_SIGNER_INSTALLED, seq, "%s", w);
    if (strcmp(in.alg, PE_SIGNER_ALG_NONE) == 0) {
        if (f == SIG_ES256)
            return refuse(v, SIGCHECK_BAD_SIGNER_INSTALLED, seq,
                          "signing turned off by a signed record (key %.12s)", s->key_id);
        v->install = true;
        snprintf(v->alg, sizeof v->alg, "%s", PE_SIGNER_ALG_NONE);
        return PE_OK;
    }
    if (f != SIG_ES256)
        return refuse(v, SIGCHECK_MISSING_SIGNATURE, seq,
                      "signer_installed of key %.12s is not signed by it", in.key_id);
    if (strcmp(s->key_id, in.key_id) != 0)
        return refuse(v, SIGCHECK_UNKNOWN_KEY, seq,
                      "signer_installed of key %.12s is signed by key %.12s", in.key_id,
                      s->key_id);
    struct sigcheck_key *pub = NULL;
    int e = key_parse(in.public_key, &pub);
    if (e == PE_ENOMEM)
        return e;
    if (e)
        return refuse(v, SIGCHECK_BAD_SIGNER_INSTALLED, seq, "public_key does not parse");
    /* The same key installed again continues its counter; a new key starts a group. */
    bool same = strcmp(t->alg, PE_SIGNER_ALG) == 0 && strcmp(t->key_id, in.key_id) == 0;
    if (same && !counter_ok(t, s, v, seq)) {
        key_free(pub);
        return PE_OK;
    }
    if ((e = key_verify(pub, hash, s)) != PE_OK) {
        key_free(pub);
        if (e == PE_ENOMEM)
            return e;
        return refuse(v, SIGCHECK_BAD_SIGNATURE, seq,
                      "signer_installed's signature does not verify under the key it installs");
    }
    v->public_key = strdup(in.public_key);
    if (!v->public_key) {
        key_free(pub);
        return PE_ENOMEM;
    }
    v->pub = pub;
    v->counter = s->counter;
    v->install = true;
    v->verified = true;
    snprintf(v->alg, sizeof v->alg, "%s", PE_SIGNER_ALG);
    snprintf(v->key_id, sizeof v->key_id, "%s", in.key_id);
    return PE_OK;
}

int sigcheck_record(const struct sigcheck_till *t, int64_t seq, const char *type, const cJSON *rec,
                    const char *hash, const void *sig, size_t siglen, struct sigcheck_verdict *v)
{
    memset(v, 0, sizeof *v);
    v->counter = t->counter;
    struct pe_signature s = {0};
    char w[96] = "";
    enum sig_form f;
    int fe = sig_form(sig, siglen, &s, w, sizeof w, &f);
    if (fe)
        return fe;
    if (f == SIG_MALFORMED)
        return refuse(v, SIGCHECK_MALFORMED_SIGNATURE, seq, "%s", w[0] ? w : "not a signature");
    if (type && strcmp(type, pe_event_type_name(PE_EV_SIGNER_INSTALLED)) == 0)
        return check_install(t, seq, rec, hash, f, &s, v);
    bool keyed = strcmp(t->alg, PE_SIGNER_ALG) == 0;
    if (!keyed) {
        if (f != SIG_ES256)
            return PE_OK; /* a till without a key: unsigned, counted */
        if (!t->alg[0]) {
            v->unverified = true; /* its signer_installed never came here: as unsigned */
            return PE_OK;
        }
        return refuse(v, SIGCHECK_UNKNOWN_KEY, seq, "signed by key %.12s, but the till turned "
                      "signing off", s.key_id);
    }
    if (f == SIG_MARKED)
        return PE_OK; /* the till's signer was down: unsigned, marked so, counted */
    if (f == SIG_NONE)
        return refuse(v, SIGCHECK_MISSING_SIGNATURE, seq,
                      "not signed, nor marked unsigned (key %.12s installed at seq %" PRId64 ")",
                      t->key_id, t->installed_seq);
    if (strcmp(s.key_id, t->key_id) != 0)
        return refuse(v, SIGCHECK_UNKNOWN_KEY, seq, "signed by key %.12s, not by the installed "
                      "key %.12s", s.key_id, t->key_id);
    if (!counter_ok(t, &s, v, seq))
        return PE_OK;
    int e = key_verify(t->pub, hash, &s);
    if (e == PE_ENOMEM)
        return e;
    if (e)
        return refuse(v, SIGCHECK_BAD_SIGNATURE, seq,
                      "signature does not verify under key %.12s (the record changed after it "
                      "was signed, or another key signed it)",
                      t->key_id);
    v->verified = true;
    return PE_OK;
}

void sigcheck_apply(struct sigcheck_till *t, int64_t seq, struct sigcheck_verdict *v)
{
    if (v->reason != SIGCHECK_OK) {
        t->rejected++;
        snprintf(t->last_reason, sizeof t->last_reason, "%s", names[v->reason]);
        t->last_seq = seq;
    } else if (v->verified) {
        t->verified++;
    } else if (v->unverified) {
        t->unverified++;
    } else {
        t->unsigned_++;
    }
    if (v->install && v->reason == SIGCHECK_OK) {
        key_free(t->pub);
        free(t->public_key);
        t->pub = v->pub;
        t->public_key = v->public_key;
        v->pub = NULL;
        v->public_key = NULL;
        snprintf(t->alg, sizeof t->alg, "%s", v->alg);
        snprintf(t->key_id, sizeof t->key_id, "%s", v->key_id);
        t->installed_seq = seq;
        t->keys += t->pub != NULL;
    }
    t->counter = v->counter;
}

void sigcheck_verdict_free(struct sigcheck_verdict *v)
{
    key_free(v->pub);
    free(v->public_key);
    v->pub = NULL;
    v->public_key = NULL;
}

void sigcheck_till_clear(struct sigcheck_till *t)
{
    key_free(t->pub);
    free(t->public_key);
    memset(t, 0, sizeof *t);
}

int sigcheck_till_save(const struct sigcheck_till *t, char **out)
{
    cJSON *d = cJSON_CreateObject();
    if (!d)
        return PE_ENOMEM;
    int e = pe_json_add_str(d, "alg", t->alg);
    if (!e && t->public_key)
        e = pe_json_add_str(d, "key_id", t->key_id);
    if (!e && t->public_key)
        e = pe_json_add_str(d, "public_key", t->public_key);
    if (!e)
        e = pe_json_add_int(d, "counter", t->counter);
    if (!e)
        e = pe_json_add_int(d, "installed_seq", t->installed_seq);
    if (!e)
        e = pe_json_add_int(d, "verified", t->verified);
    if (!e)
        e = pe_json_add_int(d, "unsigned", t->unsigned_);
    if (!e)
        e = pe_json_add_int(d, "unverified", t->unverified);
    if (!e)
        e = pe_json_add_int(d, "rejected", t->rejected);
    if (!e)
        e = pe_json_add_int(d, "keys", t->keys);
    if (!e)
        e = pe_json_add_str(d, "last_reason", t->last_reason);
    if (!e)
        e = pe_json_add_int(d, "last_seq", t->last_seq);
    char *s = e ? NULL : cJSON_PrintUnformatted(d);
    cJSON_Delete(d);
    if (!s)
        return PE_ENOMEM;
    *out = s;
    return PE_OK;
}

int sigcheck_till_load(struct sigcheck_till *t, const char *doc, char *why, size_t whylen)
{
    sigcheck_till_clear(t);
    cJSON *d = NULL;
    const char *alg = NULL, *kid = NULL, *pem = NULL, *last = NULL;
    int e = pe_json_parse(doc, strlen(doc), &d, why, whylen);
    if (e)
        return e == PE_ENOMEM ? e : PE_EPARSE;
    if (!cJSON_IsObject(d) || pe_json_get_str(d, "alg", &alg) ||
        pe_json_get_int(d, "counter", &t->counter) ||
        pe_json_get_int(d, "installed_seq", &t->installed_seq) ||
        pe_json_get_int(d, "verified", &t->verified) ||
        pe_json_get_int(d, "unsigned", &t->unsigned_) ||
        pe_json_get_int(d, "unverified", &t->unverified) ||
        pe_json_get_int(d, "rejected", &t->rejected) || pe_json_get_int(d, "keys", &t->keys) ||
        pe_json_get_str(d, "last_reason", &last) || pe_json_get_int(d, "last_seq", &t->last_seq) ||
        strlen(alg) >= sizeof t->alg || strlen(last) >= sizeof t->last_reason) {
        snprintf(why, whylen, "a field is missing or of the wrong type");
        e = PE_EPARSE;
    } else if (strcmp(alg, PE_SIGNER_ALG) == 0 &&
               (pe_json_get_str(d, "key_id", &kid) || pe_json_get_str(d, "public_key", &pem))) {
        snprintf(why, whylen, "key_id or public_key missing");
        e = PE_EPARSE;
    }
    if (!e) {
        snprintf(t->alg, sizeof t->alg, "%s", alg);
        snprintf(t->last_reason, sizeof t->last_reason, "%s", last);
    }
    if (!e && pem) {
        char k[PE_SIGNER_KEY_ID_LEN];
        e = pe_signer_key_id(pem, k);
        if (e == PE_OK && strcmp(k, kid) != 0)
            e = PE_EINVAL;
        if (e == PE_OK)
            e = key_parse(pem, &t->pub);
        if (e == PE_OK) {
            snprintf(t->key_id, sizeof t->key_id, "%s", kid);
            t->public_key = strdup(pem);
            e = t->public_key ? PE_OK : PE_ENOMEM;
        } else if (e != PE_ENOMEM) {
            snprintf(why, whylen, "public_key does not parse or is not that of key_id");
            e = PE_EPARSE;
        }
    }
    cJSON_Delete(d);
    if (e)
        sigcheck_till_clear(t);
    return e;
}
