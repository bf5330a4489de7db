/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signer.c - what every signer and every verifier share (signer.h): the built-in signers, the
 * signed message, the sig column's encoding, key ids, verifying, and the signer_installed body.
 *
 * Also the signer-down path's shared pieces: the mark of a record stored unsigned in an outage
 * and the signer_collective body that covers such records.
 *
 * The invariant: a verifier accepts exactly what a signer can produce. The sig column is decoded
 * and encoded again, and must come out byte for byte the same (so one signature has one stored
 * form); the signed message is built by one function for both sides.
 */
#include "posedge/signer.h"

#include <inttypes.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "posedge/sha256_compat.h"


#define MESSAGE_PREFIX "posedge-sig/1|"
#define MAX_DECIMAL 9007199254740992LL /* 2^53: counters and times stay exact in JSON */

/* Every built-in signer; a new one is its file and one line here. */
static const struct pe_signer_ops *const signers[] = {
    &pe_signer_software,
#ifdef PE_HAVE_PKCS11
    &pe_signer_pkcs11,
#endif
    NULL,
};

const struct pe_signer_ops *pe_signer_find(const char *name)
{
    for (size_t i = 0; name && signers[i]; i++)
        if (strcmp(signers[i]->name, name) == 0)
            return signers[i];
    return NULL;
}

const char *pe_signer_names(void)
{
    static char names[64];
    if (!names[0]) {
        size_t n = 0;
        for (size_t i = 0; signers[i]; i++)
            n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "",
                                  signers[i]->name);
    }
    return names;
}

/* ---- the signed message ---- */

size_t pe_signer_message(const char *hash, int64_t counter, int64_t signed_ms,
                         char out[PE_SIGNER_MESSAGE_MAX])
{
    if (!pe_is_sha256_hex(hash) || counter < 0 || signed_ms < 0)
        return 0;
    int n = snprintf(out, PE_SIGNER_MESSAGE_MAX, MESSAGE_PREFIX "%s|%" PRId64 "|%" PRId64, hash,
                     counter, signed_ms);
    return n > 0 && n < PE_SIGNER_MESSAGE_MAX ? (size_t)n : 0;
}

/* ---- the counter and the signature, for every implementation ---- */

int pe_signer_counter_resume(int64_t *next, int64_t last)
{
    if (last < 0 || last >= MAX_DECIMAL)
        return PE_EINVAL;
    *next = last + 1;
    return PE_OK;
}

int pe_signer_prepare(int64_t next, const char *key_id, int64_t (*now)(void *ctx), void *now_ctx,
                      const char *hash, struct pe_signature *out, uint8_t digest[PE_SHA256_LEN])
{
    if (next < 1 || next > MAX_DECIMAL)
        return PE_ERANGE;
    if (!pe_is_sha256_hex(hash))
        return PE_EINVAL; /* before the clock is read: a refused request takes no time */
    struct pe_signature g = {.alg = PE_SIGNER_ALG, .counter = next, .signed_ms = now(now_ctx)};
    snprintf(g.key_id, sizeof g.key_id, "%s", key_id);
    char msg[PE_SIGNER_MESSAGE_MAX];
    size_t n = pe_signer_message(hash, g.counter, g.signed_ms, msg);
    if (!n)
        return PE_EINVAL;
    pe_sha256_2(msg, n, NULL, 0, digest);
    *out = g;
    return PE_OK;
}

/* ---- keys ---- */

/*
 * A public key for verifying many signatures. Verifying computes u1*G + u2*Q; mbedTLS keeps the
 * precomputed comb table of a group's base point G in the group, but makes the one of Q afresh
 * for every signature, which is half the cost of a verification (more under the sanitizers,
 * whose allocator its tables strain). So the key also gets a group of its own in which Q is the
 * base point: its table is made once, at the first verification, and kept. Written for the
 * mbedTLS 2.28 structures (Debian 12), whose fields are public.
 */
struct pe_signer_pub {
    mbedtls_pk_context pk;
    mbedtls_ecp_group gq; /* the curve with Q as its base point */
};

void pe_signer_pub_free(struct pe_signer_pub *p)
{
    if (!p)
        return;
    mbedtls_ecp_group_free(&p->gq);
    mbedtls_pk_free(&p->pk);
    free(p);
}

/* The curve of ec with its public point as the base point. The loaded group's constants are
 * static (h == 1: never written, never freed), so they are copied, not shared. */
static int group_of_q(const mbedtls_ecp_keypair *ec, mbedtls_ecp_group *q)
{
    const mbedtls_ecp_group *g = &ec->grp;
    q->id = g->id;
    q->pbits = g->pbits;
    q->nbits = g->nbits;
    q->modp = g->modp;
    int mrc = mbedtls_mpi_copy(&q->P, &g->P);
    if (mrc == 0 && g->A.p)
        mrc = mbedtls_mpi_copy(&q->A, &g->A); /* none: A = -3, as for P-256 */
    if (mrc == 0)
        mrc = mbedtls_mpi_copy(&q->B, &g->B);
    if (mrc == 0)
        mrc = mbedtls_mpi_copy(&q->N, &g->N);
    if (mrc == 0)
        mrc = mbedtls_ecp_copy(&q->G, &ec->Q);
    return mrc;
}

int pe_signer_pub_parse(const char *pem, struct pe_signer_pub **out,
                        char key_id[PE_SIGNER_KEY_ID_LEN])
{
    if (!pem)
        return PE_EPARSE;
    struct pe_signer_pub *p = calloc(1, sizeof *p);
    if (!p)
        return PE_ENOMEM;
    mbedtls_pk_init(&p->pk);
    mbedtls_ecp_group_init(&p->gq);
    int e = PE_OK;
    /* PEM only: the length counts the NUL, as mbedTLS wants for PEM. */
    if (mbedtls_pk_parse_public_key(&p->pk, (const unsigned char *)pem, strlen(pem) + 1) != 0 ||
        strstr(pem, "-----BEGIN PUBLIC KEY-----") == NULL) {
        e = PE_EPARSE;
    } else if (mbedtls_pk_get_type(&p->pk) != MBEDTLS_PK_ECKEY ||
               mbedtls_pk_ec(p->pk)->grp.id != MBEDTLS_ECP_DP_SECP256R1) {
        e = PE_EINVAL;
    } else if (group_of_q(mbedtls_pk_ec(p->pk), &p->gq) != 0) {
        e = PE_ENOMEM;
    } else if (key_id) {
        /* The DER as mbedTLS writes it again: one key, one id, whatever the PEM's line
         * lengths. It is written at the end of the buffer. */
        unsigned char der[160];
        int n = mbedtls_pk_write_pubkey_der(&p->pk, der, sizeof der);
        if (n <= 0) {
            e = PE_EPARSE;
        } else {
            uint8_t d[PE_SHA256_LEN];
            pe_sha256_2(der + sizeof der - n, (size_t)n, NULL, 0, d);
            pe_hex(d, (PE_SIGNER_KEY_ID_LEN - 1) / 2, key_id);
        }
    }
    if (e) {
        pe_signer_pub_free(p);
        return e;
    }
    *out = p;
    return PE_OK;
}

int pe_signer_key_id(const char *pem, char out[PE_SIGNER_KEY_ID_LEN])
{
    struct pe_signer_pub *p = NULL;
    int e = pe_signer_pub_parse(pem, &p, out);
    pe_signer_pub_free(p);
    return e;
}

/* Check any mbedTLS call: on failure, leave with its code. */
#define MCHK(x)                                                                                    \
    do {                                                                                           \
        if ((mrc = (x)) != 0)                                                                      \
            goto out;                                                                              \
    } while (0)

/*
 * ECDSA verification (SEC 1 4.1.4, as mbedtls_ecdsa_verify does it) of (r, s) over digest,
 * with u2*Q in the key's own group (see struct pe_signer_pub). Everything here is public, so
 * nothing needs to run in constant time. Returns 0 when the signature holds.
 */
static int ecdsa_verify(struct pe_signer_pub *pub, const uint8_t digest[PE_SHA256_LEN],
                        const mbedtls_mpi *r, const mbedtls_mpi *s)
{
    mbedtls_ecp_keypair *ec = mbedtls_pk_ec(pub->pk);
    mbedtls_ecp_group *grp = &ec->grp;
    mbedtls_mpi e, w, u1, u2, one;
    mbedtls_ecp_point r1, r2, sum;
    int mrc = 0;
    mbedtls_mpi_init(&e);
    mbedtls_mpi_init(&w);
    mbedtls_mpi_init(&u1);
    mbedtls_mpi_init(&u2);
    mbedtls_mpi_init(&one);
    mbedtls_ecp_point_init(&r1);
    mbedtls_ecp_point_init(&r2);
    mbedtls_ecp_point_init(&sum);
    /* 1 <= r, s < n */
    if (mbedtls_mpi_cmp_int(r, 1) < 0 || mbedtls_mpi_cmp_mpi(r, &grp->N) >= 0 ||
        mbedtls_mpi_cmp_int(s, 1) < 0 || mbedtls_mpi_cmp_mpi(s, &grp->N) >= 0) {
        mrc = MBEDTLS_ERR_ECP_VERIFY_FAILED;
        goto out;
    }
    /* e: the digest as an integer (P-256's order has 256 bits: nothing to cut) */
    MCHK(mbedtls_mpi_read_binary(&e, digest, PE_SHA256_LEN));
    MCHK(mbedtls_mpi_inv_mod(&w, s, &grp->N));
    MCHK(mbedtls_mpi_mul_mpi(&u1, &e, &w));
    MCHK(mbedtls_mpi_mod_mpi(&u1, &u1, &grp->N));
    MCHK(mbedtls_mpi_mul_mpi(&u2, r, &w));
    MCHK(mbedtls_mpi_mod_mpi(&u2, &u2, &grp->N));
    /* u1*G + u2*Q, each from its group's kept table */
    MCHK(mbedtls_ecp_mul(grp, &r1, &u1, &grp->G, NULL, NULL));
    MCHK(mbedtls_ecp_mul(&pub->gq, &r2, &u2, &pub->gq.G, NULL, NULL));
    MCHK(mbedtls_mpi_lset(&one, 1));
    MCHK(mbedtls_ecp_muladd(grp, &sum, &one, &r1, &one, &r2));
    if (mbedtls_ecp_is_zero(&sum)) {
        mrc = MBEDTLS_ERR_ECP_VERIFY_FAILED;
        goto out;
    }
    /* v = x(sum) mod n must be r */
    MCHK(mbedtls_mpi_mod_mpi(&sum.X, &sum.X, &grp->N));
    if (mbedtls_mpi_cmp_mpi(&sum.X, r) != 0)
        mrc = MBEDTLS_ERR_ECP_VERIFY_FAILED;
out:
    mbedtls_mpi_free(&e);
    mbedtls_mpi_free(&w);
    mbedtls_mpi_free(&u1);
    mbedtls_mpi_free(&u2);
    mbedtls_mpi_free(&one);
    mbedtls_ecp_point_free(&r1);
    mbedtls_ecp_point_free(&r2);
    mbedtls_ecp_point_free(&sum);
    return mrc;
}

/* r || s over digest under pub: 0 when it verifies, else an mbedTLS error. */
static int verify_digest(struct pe_signer_pub *pub, const uint8_t digest[PE_SHA256_LEN],
                         const uint8_t rs[PE_SIGNER_SIG_LEN])
{
    mbedtls_mpi r, s;
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    int mrc = mbedtls_mpi_read_binary(&r, rs, 32);
    if (mrc == 0)
        mrc = mbedtls_mpi_read_binary(&s, rs + 32, 32);
    if (mrc == 0)
        mrc = ecdsa_verify(pub, digest, &r, &s);
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    return mrc;
}

int pe_signer_verify(struct pe_signer_pub *pub, const char *hash, const struct pe_signature *sig)
{
    char msg[PE_SIGNER_MESSAGE_MAX];
    size_t n = pe_signer_message(hash, sig->counter, sig->signed_ms, msg);
    if (!n || strcmp(sig->alg, PE_SIGNER_ALG) != 0)
        return PE_EINVAL;
    uint8_t digest[PE_SHA256_LEN];
    pe_sha256_2(msg, n, NULL, 0, digest);
    return verify_digest(pub, digest, sig->rs) == 0 ? PE_OK : PE_EDECLINED;
}

int pe_signer_verify_receipt(struct pe_signer_pub *pub, const char *msg, size_t len,
                             const uint8_t rs[PE_SIGNER_SIG_LEN])
{
    if (!msg || len < sizeof PE_SIGNER_RECEIPT_PREFIX - 1 ||
        memcmp(msg, PE_SIGNER_RECEIPT_PREFIX, sizeof PE_SIGNER_RECEIPT_PREFIX - 1) != 0)
        return PE_EINVAL;
    uint8_t digest[PE_SHA256_LEN];
    pe_sha256_2(msg, len, NULL, 0, digest);
    return verify_digest(pub, digest, rs) == 0 ? PE_OK : PE_EDECLINED;
}

/* ---- the sig column ---- */

static bool is_lhex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[n] == '\0';
}

size_t pe_signature_encode(const struct pe_signature *sig, char out[PE_SIGNER_ENCODED_MAX])
{
    if (strcmp(sig->alg, PE_SIGNER_ALG) != 0 || !is_lhex(sig->key_id, PE_SIGNER_KEY_ID_LEN - 1) ||
        sig->counter < 1 || sig->counter > MAX_DECIMAL || sig->signed_ms < 0 ||
        sig->signed_ms > MAX_DECIMAL)
        return 0;
    char rs[2 * PE_SIGNER_SIG_LEN + 1];
    pe_hex(sig->rs, PE_SIGNER_SIG_LEN, rs);
    /* The members in their sorted order and values JSON never escapes: canonical as written. */
    int n = snprintf(out, PE_SIGNER_ENCODED_MAX,
                     "{\"alg\":\"%s\",\"counter\":%" PRId64 ",\"key_id\":\"%s\",\"sig\":\"%s\","
                     "\"signed_ms\":%" PRId64 "}",
                     sig->alg, sig->counter, sig->key_id, rs, sig->signed_ms);
    return n > 0 && n < PE_SIGNER_ENCODED_MAX ? (size_t)n : 0;
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
    if (!is_lhex(s, 2 * n))
        return PE_EPARSE;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(s + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
    return PE_OK;
}

static int bad(char *why, size_t whylen, const char *what)
{
    if (why && whylen)
        snprintf(why, whylen, "%s", what);
    return PE_EPARSE;
}

int pe_signature_decode(const void *buf, size_t len, struct pe_signature *out, char *why,
                        size_t whylen)
{
    cJSON *o = NULL;
    const char *alg = NULL, *kid = NULL, *rs = NULL;
    struct pe_signature s = {0};
    if (!buf || len == 0 || len >= PE_SIGNER_ENCODED_MAX)
        return bad(why, whylen, "signature is not JSON");
    int e = pe_json_parse(buf, len, &o, NULL, 0);
    if (e == PE_ENOMEM) {
        if (why && whylen)
            snprintf(why, whylen, "out of memory");
        return e; /* not a verdict on the signature */
    }
    if (e)
        return bad(why, whylen, "signature is not JSON");
    if (!cJSON_IsObject(o) || pe_json_get_str(o, "alg", &alg) ||
        pe_json_get_str(o, "key_id", &kid) || pe_json_get_str(o, "sig", &rs) ||
        pe_json_get_int(o, "counter", &s.counter) ||
        pe_json_get_int(o, "signed_ms", &s.signed_ms))
        e = bad(why, whylen, "signature lacks a field or has one of the wrong type");
    else if (strlen(alg) >= sizeof s.alg || strlen(kid) >= sizeof s.key_id)
        e = bad(why, whylen, "signature alg or key_id too long");
    else if (unhex(rs, s.rs, sizeof s.rs))
        e = bad(why, whylen, "signature value is not 128 lower-case hex digits");
    if (e == PE_OK) {
        memcpy(s.alg, alg, strlen(alg) + 1);
        memcpy(s.key_id, kid, strlen(kid) + 1);
        char again[PE_SIGNER_ENCODED_MAX];
        size_t n = pe_signature_encode(&s, again);
        if (n == 0)
            e = bad(why, whylen, "signature has an unknown alg or a field out of range");
        else if (n != len || memcmp(again, buf, len) != 0)
            e = bad(why, whylen, "signature is not in its canonical form");
    }
    cJSON_Delete(o);
    if (e == PE_OK)
        *out = s;
    return e;
}

/* ---- the signer_installed body ---- */

int pe_signer_installed_body(const struct pe_signer_key *k, cJSON **out)
{
    cJSON *b = cJSON_CreateObject();
    int e = b ? PE_OK : PE_ENOMEM;
    if (e == PE_OK && !k) {
        e = pe_json_add_str(b, "alg", PE_SIGNER_ALG_NONE);
        if (e == PE_OK)
            e = pe_json_add_str(b, "signer", PE_SIGNER_ALG_NONE);
    } else if (e == PE_OK) {
        e = pe_json_add_str(b, "alg", k->alg);
        if (e == PE_OK)
            e = pe_json_add_str(b, "key_id", k->key_id);
        if (e == PE_OK)
            e = pe_json_add_str(b, "public_key", k->public_key);
        if (e == PE_OK)
            e = pe_json_add_str(b, "signer", k->signer);
    }
    if (e) {
        cJSON_Delete(b);
        return e;
    }
    *out = b;
    return PE_OK;
}

int pe_signer_installed_parse(const cJSON *body, struct pe_signer_installed *out, char *why,
                              size_t whylen)
{
    struct pe_signer_installed r = {0};
    const char *what = NULL;
    if (!cJSON_IsObject(body) || pe_json_get_str(body, "alg", &r.alg) ||
        pe_json_get_str(body, "signer", &r.signer))
        what = "signer_installed: alg or signer missing";
    else if (strcmp(r.alg, PE_SIGNER_ALG_NONE) == 0)
        what = NULL;
    else if (strcmp(r.alg, PE_SIGNER_ALG) != 0)
        what = "signer_installed: unknown alg";
    else if (pe_json_get_str(body, "key_id", &r.key_id) ||
             pe_json_get_str(body, "public_key", &r.public_key))
        what = "signer_installed: key_id or public_key missing";
    if (what == NULL && r.public_key) {
        char kid[PE_SIGNER_KEY_ID_LEN];
        int e = pe_signer_key_id(r.public_key, kid);
        if (e == PE_ENOMEM) {
            if (why && whylen)
                snprintf(why, whylen, "out of memory");
            return e; /* not a verdict on the key */
        }
        if (e != PE_OK)
            what = "signer_installed: public_key is not a P-256 public key";
        else if (strcmp(kid, r.key_id) != 0)
            what = "signer_installed: key_id is not that of public_key";
    }
    if (what) {
        if (why && whylen)
            snprintf(why, whylen, "%s", what);
        return PE_EINVAL;
    }
    *out = r;
    return PE_OK;
}

/* ---- the unsigned mark (signer down) ---- */

size_t pe_signature_mark_encode(int64_t down_seq, char out[PE_SIGNER_ENCODED_MAX])
{
    if (down_seq < 1 || down_seq > MAX_DECIMAL)
        return 0;
    int n = snprintf(out, PE_SIGNER_ENCODED_MAX, "{\"alg\":\"%s\",\"signer_down\":%" PRId64 "}",
                     PE_SIGNER_ALG_NONE, down_seq);
    return n > 0 && n < PE_SIGNER_ENCODED_MAX ? (size_t)n : 0;
}

bool pe_signature_mark_decode(const void *buf, size_t len, int64_t *down_seq)
{
    static const char prefix[] = "{\"alg\":\"none\",\"signer_down\":";
    const size_t plen = sizeof prefix - 1;
    if (!buf || len <= plen + 1 || len >= PE_SIGNER_ENCODED_MAX || memcmp(buf, prefix, plen) != 0)
        return false;
    /* The rest is a decimal without leading zeros and the closing brace: encode it again and
     * compare, so one outage has one stored form. */
    const char *p = (const char *)buf + plen;
    int64_t v = 0;
    for (size_t i = 0; i < len - plen - 1; i++) {
        if (p[i] < '0' || p[i] > '9' || v > MAX_DECIMAL / 10)
            return false;
        v = v * 10 + (p[i] - '0');
    }
    char again[PE_SIGNER_ENCODED_MAX];
    size_t n = pe_signature_mark_encode(v, again);
    if (n != len || memcmp(again, buf, len) != 0)
        return false;
    *down_seq = v;
    return true;
}

/* ---- the signer_collective body ---- */

struct pe_signer_collective_acc {
    mbedtls_sha256_context sha;
    int64_t first_seq;
    int64_t count;
};

int pe_signer_collective_begin(int64_t first_seq, struct pe_signer_collective_acc **out)
{
    struct pe_signer_collective_acc *a = calloc(1, sizeof *a);
    if (!a)
        return PE_ENOMEM;
    mbedtls_sha256_init(&a->sha);
    sha256_starts(&a->sha, 0);
    a->first_seq = first_seq;
    *out = a;
    return PE_OK;
}

int pe_signer_collective_add(struct pe_signer_collective_acc *acc, const char *hash)
{
    if (!pe_is_sha256_hex(hash))
        return PE_EINVAL;
    sha256_update(&acc->sha, (const unsigned char *)hash, PE_SHA256_HEXLEN - 1);
    acc->count++;
    return PE_OK;
}

void pe_signer_collective_end(struct pe_signer_collective_acc *acc,
                              struct pe_signer_collective *c)
{
    uint8_t d[PE_SHA256_LEN];
    sha256_finish(&acc->sha, d);
    memset(c, 0, sizeof *c);
    c->first_seq = acc->first_seq;
    c->count = acc->count;
    c->last_seq = acc->first_seq + acc->count - 1;
    pe_hex(d, sizeof d, c->hash);
    pe_signer_collective_abort(acc);
}

void pe_signer_collective_abort(struct pe_signer_collective_acc *acc)
{
    if (!acc)
        return;
    mbedtls_sha256_free(&acc->sha);
    free(acc);
}

int pe_signer_collective_body(const struct pe_signer_collective *c, cJSON **out)
{
    cJSON *b = cJSON_CreateObject();
    int e = b ? PE_OK : PE_ENOMEM;
    if (e == PE_OK)
        e = pe_json_add_int(b, "count", c->count);
    if (e == PE_OK)
        e = pe_json_add_int(b, "first_seq", c->first_seq);
    if (e == PE_OK)
        e = pe_json_add_str(b, "hash", c->hash);
    if (e == PE_OK)
        e = pe_json_add_int(b, "last_seq", c->last_seq);
    if (e) {
        cJSON_Delete(b);
        return e;
    }
    *out = b;
    return PE_OK;
}

int pe_signer_collective_parse(const cJSON *body, struct pe_signer_collective *out)
{
    struct pe_signer_collective c = {0};
    const char *h = NULL;
    if (!cJSON_IsObject(body) || pe_json_get_int(body, "count", &c.count) ||
        pe_json_get_int(body, "first_seq", &c.first_seq) ||
        pe_json_get_int(body, "last_seq", &c.last_seq) || pe_json_get_str(body, "hash", &h) ||
        !pe_is_sha256_hex(h) || c.first_seq < 1 || c.last_seq < c.first_seq ||
        c.count != c.last_seq - c.first_seq + 1)
        return PE_EINVAL;
    memcpy(c.hash, h, PE_SHA256_HEXLEN);
    *out = c;
    return PE_OK;
}

/* ---- checking a chain's signatures ---- */

void pe_sig_group_clear(struct pe_sig_group *g)
{
    pe_signer_pub_free(g->pub);
    pe_signer_collective_abort(g->acc);
    memset(g, 0, sizeof *g);
}

int pe_sig_group_install(struct pe_sig_group *g, int64_t seq, const char *rec, size_t len,
                         char *why, size_t whylen)
{
    cJSON *r = NULL;
    struct pe_signer_installed in;
    struct pe_signer_pub *pub = NULL;
    char w[120] = "";
    int e = pe_json_parse(rec, len, &r, w, sizeof w);
    if (e == PE_OK)
        e = pe_signer_installed_parse(cJSON_GetObjectItemCaseSensitive(r, "body"), &in, w,
                                      sizeof w);
    if (e == PE_OK && in.public_key && (e = pe_signer_pub_parse(in.public_key, &pub, NULL)))
        snprintf(w, sizeof w, "signer_installed: public_key does not parse");
    if (e == PE_OK) {
        pe_signer_pub_free(g->pub);
        snprintf(g->alg, sizeof g->alg, "%s", in.alg);
        snprintf(g->key_id, sizeof g->key_id, "%s", in.key_id ? in.key_id : "");
        g->pub = pub;
        g->counter = 0;
        g->seq = seq;
    }
    cJSON_Delete(r);
    if (e == PE_ENOMEM)
        return e;
    if (e) {
        snprintf(why, whylen, "seq %lld: %s", (long long)seq, w);
        return PE_ECHAIN;
    }
    return PE_OK;
}

/* A record marked unsigned (its outage down_seq D): a signer_down opens an outage (in a signing
 * group, marked with its own seq), every other marked record must be inside the open one; the
 * signer_up's collective covers them all. */
static int check_marked(struct pe_sig_group *g, int64_t seq, int64_t mark, const char *type,
                        bool is_down, bool is_up, const char *hash, char *why, size_t whylen)
{
    bool is_installed = type && strcmp(type, pe_event_type_name(PE_EV_SIGNER_INSTALLED)) == 0;
    if (is_down && g->down) {
        snprintf(why, whylen, "seq %lld: signer_down inside the outage opened at seq %lld",
                 (long long)seq, (long long)g->down);
        return PE_ECHAIN;
    }
    if (is_down && (mark != seq || strcmp(g->alg, PE_SIGNER_ALG) != 0)) {
        snprintf(why, whylen, "seq %lld: signer_down %s", (long long)seq,
                 mark != seq ? "marked for another outage" : "with no signing key installed");
        return PE_ECHAIN;
    }
    if (!is_down && !g->down) {
        snprintf(why, whylen,
                 "seq %lld: unsigned (marked signer down at seq %lld), but no outage of the "
                 "signer is open",
                 (long long)seq, (long long)mark);
        return PE_ECHAIN;
    }
    if (!is_down && mark != g->down) {
        snprintf(why, whylen,
                 "seq %lld: marked for an outage at seq %lld, but the open one began at seq "
                 "%lld",
                 (long long)seq, (long long)mark, (long long)g->down);
        return PE_ECHAIN;
    }
    if (is_up) {
        snprintf(why, whylen, "seq %lld: signer_up is not signed", (long long)seq);
        return PE_ECHAIN;
    }
    if (is_installed) {
        snprintf(why, whylen, "seq %lld: signer_installed inside the outage opened at seq %lld",
                 (long long)seq, (long long)g->down);
        return PE_ECHAIN;
    }
    if (is_down) {
        int e = pe_signer_collective_begin(seq, &g->acc);
        if (e)
            return e;
        g->down = seq;
    }
    if (pe_signer_collective_add(g->acc, hash) != PE_OK) {
        snprintf(why, whylen, "seq %lld: its hash is not 64 hex digits", (long long)seq);
        return PE_ECHAIN;
    }
    g->nmarked++;
    return PE_OK;
}

/* The signed signer_up rec of seq: its collective must cover exactly the open outage, seqs
 * g->down to seq - 1, with their hashes' digest. Closes the outage. */
static int check_up(struct pe_sig_group *g, int64_t seq, const char *rec, size_t len, char *why,
                    size_t whylen)
{
    cJSON *r = NULL;
    struct pe_signer_collective got, want;
    int e = pe_json_parse(rec, len, &r, NULL, 0);
    if (e == PE_ENOMEM)
        return e;
    if (e == PE_OK)
        e = pe_signer_collective_parse(cJSON_GetObjectItemCaseSensitive(r, "body"), &got);
    cJSON_Delete(r);
    pe_signer_collective_end(g->acc, &want);
    g->acc = NULL;
    int64_t down = g->down;
    g->down = 0;
    if (e) {
        snprintf(why, whylen, "seq %lld: signer_up: its body is not a collective", (long long)seq);
        return PE_ECHAIN;
    }
    if (got.first_seq != want.first_seq || got.last_seq != want.last_seq) {
        /* Name the first unsigned seq it leaves out (or the first it claims wrongly). */
        int64_t bad = got.first_seq != want.first_seq ? down
                      : got.last_seq < want.last_seq ? got.last_seq + 1
                                                     : got.last_seq;
        snprintf(why, whylen,
                 "seq %lld: signer_up covers seqs %lld-%lld, but the outage is seqs %lld-%lld: "
                 "seq %lld is not covered",
                 (long long)seq, (long long)got.first_seq, (long long)got.last_seq,
                 (long long)want.first_seq, (long long)want.last_seq, (long long)bad);
        return PE_ECHAIN;
    }
    if (strcmp(got.hash, want.hash) != 0) {
        snprintf(why, whylen,
                 "seq %lld: signer_up: the collective hash does not match seqs %lld-%lld",
                 (long long)seq, (long long)want.first_seq, (long long)want.last_seq);
        return PE_ECHAIN;
    }
    g->noutages++;
    return PE_OK;
}

int pe_sig_group_check(struct pe_sig_group *g, int64_t seq, const char *type, const char *rec,
                       size_t len, const char *hash, const void *blob, size_t bloblen,
                       bool *verified, char *why, size_t whylen)
{
    struct pe_signature sig;
    char w[96];
    int64_t mark = 0;
    bool is_down = type && strcmp(type, pe_event_type_name(PE_EV_SIGNER_DOWN)) == 0;
    bool is_up = type && strcmp(type, pe_event_type_name(PE_EV_SIGNER_UP)) == 0;
    if (verified)
        *verified = false;
    if (blob && pe_signature_mark_decode(blob, bloblen, &mark))
        return check_marked(g, seq, mark, type, is_down, is_up, hash, why, whylen);
    if (g->down && !is_up) {
        snprintf(why, whylen,
                 "seq %lld: %s, but the signer is down since seq %lld and no signer_up covers "
                 "seqs %lld-%lld",
                 (long long)seq, blob ? "signed" : "not signed", (long long)g->down,
                 (long long)g->down, (long long)seq - 1);
        return PE_ECHAIN;
    }
    if (type && strcmp(type, pe_event_type_name(PE_EV_SIGNER_INSTALLED)) == 0) {
        int e = pe_sig_group_install(g, seq, rec, len, why, whylen);
        if (e)
            return e;
    }
    if (is_down) {
        snprintf(why, whylen, "seq %lld: signer_down is not marked unsigned", (long long)seq);
        return PE_ECHAIN;
    }
    if (is_up && !g->down) {
        snprintf(why, whylen, "seq %lld: signer_up, but no outage of the signer is open",
                 (long long)seq);
        return PE_ECHAIN;
    }
    int de = blob ? pe_signature_decode(blob, bloblen, &sig, w, sizeof w) : PE_OK;
    if (de == PE_ENOMEM)
        return de;
    if (de) {
        snprintf(why, whylen, "seq %lld: %s", (long long)seq, w);
        return PE_ECHAIN;
    }
    if (strcmp(g->alg, PE_SIGNER_ALG) != 0) {
        if (!blob)
            return PE_OK; /* before any signer, or with signing turned off */
        if (g->alg[0])
            snprintf(why, whylen, "seq %lld: signed, but signing was turned off at seq %lld",
                     (long long)seq, (long long)g->seq);
        else
            snprintf(why, whylen, "seq %lld: signed, but no signer_installed event comes before it",
                     (long long)seq);
        return PE_ECHAIN;
    }
    if (!blob) {
        snprintf(why, whylen, "seq %lld: not signed (key %.12s installed at seq %lld)",
                 (long long)seq, g->key_id, (long long)g->seq);
        return PE_ECHAIN;
    }
    if (strcmp(sig.key_id, g->key_id) != 0) {
        snprintf(why, whylen, "seq %lld: signed by key %.12s, not by the installed key %.12s",
                 (long long)seq, sig.key_id, g->key_id);
        return PE_ECHAIN;
    }
    if (g->counter > 0 && sig.counter != g->counter + 1) {
        snprintf(why, whylen, "seq %lld: signature counter %lld, expected %lld", (long long)seq,
                 (long long)sig.counter, (long long)g->counter + 1);
        return PE_ECHAIN;
    }
    if (pe_signer_verify(g->pub, hash, &sig) != PE_OK) {
        snprintf(why, whylen,
                 "seq %lld: signature does not verify (the record changed after it was signed, "
                 "or another key signed it)",
                 (long long)seq);
        return PE_ECHAIN;
    }
    if (is_up) {
        int e = check_up(g, seq, rec, len, why, whylen);
        if (e)
            return e;
    }
    g->counter = sig.counter;
    if (verified)
        *verified = true;
    return PE_OK;
}
