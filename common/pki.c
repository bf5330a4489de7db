/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pki.c - the store PKI on mbedTLS 2.28: keys, CSRs, a CA with an index and enrolment tokens, a
 * CRL writer, and the checks of --self-test (pki.h has the directory layout and the rules).
 *
 * The invariant: a certificate names only an identity the CA authorised ("<store>/<name>", both
 * parts ids), never anything a CSR asked for, and is handed out only after the index holds it
 * on disk; a token is spent on disk before a certificate is made for it. Key material lives in
 * mbedTLS contexts, in libcrypto BIGNUMs that are cleared before they are freed (a signature's
 * arithmetic: see "Signing" below), and in buffers that are wiped before they are freed; no
 * message names it.
 *
 * mbedTLS has no CRL writer and no PKCS#8 writer: both are DER written here with the asn1write
 * functions, which write backwards from the end of a buffer (so lists go in reverse order).
 * Certificate and CRL times are checked against the caller's now_ms, not the system clock:
 * mbedtls_x509_crt_verify's time flags are masked and recomputed.
 */
#include "posedge/pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/hmac_drbg.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha1.h>
#include <mbedtls/x509_crl.h>
#include <mbedtls/x509_crt.h>
#include <mbedtls/x509_csr.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "posedge/clock.h"
#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/file.h"
#include "posedge/json.h"
#include "posedge/secret.h"

#define DAY_MS 86400000LL
#define BACKDATE_MS 3600000LL /* not_before = now - 1 h: tills' clocks drift */
#define SERIAL_LEN 16
#define MAX_DAYS 36500
#define MAX_FILE (4 * 1024 * 1024) /* index, tokens, certificates: far below this */
#define LOCK_WAIT_MS 5000
#define TOKEN_MAX_H 720
#define SAN_MAX 16
#define CERT_PEM_MAX 4096
#define ORG ",O=posedge"
#define SEQ (MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE)

#define CA_KEY "ca.key"
#define CA_CRT "ca.crt"
#define INDEX "index.json"
#define TOKENS "tokens.json"
#define CRL "crl.pem"

/* Add the length written by an asn1write call, or return its (negative) error. */
#define ADD(len, x)                                                                                \
    do {                                                                                           \
        int r__ = (x);                                                                             \
        if (r__ < 0)                                                                               \
            return r__;                                                                            \
        (len) += (size_t)r__;                                                                      \
    } while (0)

static void say(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* "what: <mbedTLS message> (-0xNNNN)" into err; returns rc_out. */
static int mbed_fail(char *err, size_t errlen, int rc_out, const char *what, int mrc)
{
    char m[128];
    mbedtls_strerror(mrc, m, sizeof m);
    say(err, errlen, "%s: %s (-0x%04x)", what, m, (unsigned)-mrc);
    return rc_out;
}

/* mbedTLS's random callback over pe_rng. */
static int rng_cb(void *p, unsigned char *buf, size_t n)
{
    return pe_rng_bytes(p, buf, n) == PE_OK ? 0 : MBEDTLS_ERR_ERROR_GENERIC_ERROR;
}

/* ---- names: kinds, refusals, verdicts, identities ---- */

struct kind_row {
    const char *name, *cn, *eku;
    int days;
};

static const struct kind_row kinds[] = {
#define PE__PKI_KIND_ROW(e, name, cn, eku, days) [PE_PKI_##e] = {name, cn, eku, days},
    PE_PKI_KINDS(PE__PKI_KIND_ROW)
#undef PE__PKI_KIND_ROW
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

const char *pe_pki_kind_name(enum pe_pki_kind k)
{
    return (unsigned)k < NKINDS ? kinds[k].name : NULL;
}

int pe_pki_kind_parse(const char *s, enum pe_pki_kind *out)
{
    for (size_t i = 0; s && i < NKINDS; i++)
        if (strcmp(s, kinds[i].name) == 0) {
            *out = (enum pe_pki_kind)i;
            return PE_OK;
        }
    return PE_EINVAL;
}

int pe_pki_kind_days(enum pe_pki_kind k)
{
    return (unsigned)k < NKINDS ? kinds[k].days : 0;
}

/* True when name is the CN part reserved for a kind other than TERMINAL. */
static bool reserved(const char *name)
{
    for (size_t i = 0; i < NKINDS; i++)
        if (kinds[i].cn && strcmp(name, kinds[i].cn) == 0)
            return true;
    return false;
}

static const char *const refusal_names[] = {
#define PE__PKI_REFUSAL_NAME(e, name, msg) [PE_PKI_REFUSE_##e] = name,
    PE_PKI_REFUSALS(PE__PKI_REFUSAL_NAME)
#undef PE__PKI_REFUSAL_NAME
};
static const char *const refusal_msgs[] = {
#define PE__PKI_REFUSAL_MSG(e, name, msg) [PE_PKI_REFUSE_##e] = msg,
    PE_PKI_REFUSALS(PE__PKI_REFUSAL_MSG)
#undef PE__PKI_REFUSAL_MSG
};
static const char *const verdict_names[] = {
#define PE__PKI_VERDICT_NAME(e, name) [PE_PKI_VERDICT_##e] = name,
    PE_PKI_VERDICTS(PE__PKI_VERDICT_NAME)
#undef PE__PKI_VERDICT_NAME
};

const char *pe_pki_refusal_name(enum pe_pki_refusal r)
{
    return (unsigned)r < sizeof refusal_names / sizeof *refusal_names ? refusal_names[r] : NULL;
}

const char *pe_pki_refusal_msg(enum pe_pki_refusal r)
{
    return (unsigned)r < sizeof refusal_msgs / sizeof *refusal_msgs ? refusal_msgs[r] : NULL;
}

const char *pe_pki_verdict_name(enum pe_pki_verdict v)
{
    return (unsigned)v < sizeof verdict_names / sizeof *verdict_names ? verdict_names[v] : NULL;
}

int pe_pki_cn_make(enum pe_pki_kind kind, const char *store, const char *terminal,
                   char out[PE_PKI_CN_MAX], char *err, size_t errlen)
{
    if ((unsigned)kind >= NKINDS || kind == PE_PKI_CA) {
        say(err, errlen, "a CA certificate has no identity CN");
        return PE_EINVAL;
    }
    if (!pe_event_id_valid(store, 1)) {
        say(err, errlen, "store \"%.40s\" is not an id (1..%d letters, digits, '.', '_', '-')",
            store ? store : "", PE_ID_MAX - 1);
        return PE_EINVAL;
    }
    const char *name = kinds[kind].cn;
    if (kind == PE_PKI_TERMINAL) {
        if (!pe_event_id_valid(terminal, 1)) {
            say(err, errlen,
                "terminal \"%.40s\" is not an id (1..%d letters, digits, '.', '_', '-')",
                terminal ? terminal : "", PE_ID_MAX - 1);
            return PE_EINVAL;
        }
        if (reserved(terminal)) {
            say(err, errlen, "terminal \"%s\" is a reserved name (bridge, hq, server)", terminal);
            return PE_EINVAL;
        }
        name = terminal;
    }
    snprintf(out, PE_PKI_CN_MAX, "%s/%s", store, name);
    return PE_OK;
}

int pe_pki_cn_split(const char *cn, char store[PE_ID_MAX], char name[PE_ID_MAX])
{
    const char *slash = cn ? strchr(cn, '/') : NULL;
    if (!slash || (size_t)(slash - cn) >= PE_ID_MAX)
        return PE_EINVAL;
    char s[PE_ID_MAX];
    memcpy(s, cn, (size_t)(slash - cn));
    s[slash - cn] = '\0';
    if (!pe_event_id_valid(s, 1) || !pe_event_id_valid(slash + 1, 1))
        return PE_EINVAL;
    snprintf(store, PE_ID_MAX, "%s", s);
    snprintf(name, PE_ID_MAX, "%s", slash + 1);
    return PE_OK;
}

/* ---- time ---- */

/* Times go through pe_time_split/join, never time_t: a 32-bit time_t (armhf) ends in 2038,
 * before a CA's validity or a GeneralizedTime CRL does. */
static int64_t x509_time_ms(const mbedtls_x509_time *t)
{
    struct pe_civil c = {.year = t->year, .mon = t->mon, .day = t->day,
                         .hour = t->hour, .min = t->min, .sec = t->sec};
    return pe_time_join(&c);
}

/* "YYYYMMDDhhmmss" (15 bytes with the NUL) of ms. Errors: PE_ERANGE. */
static int civil_str(int64_t ms, char out[16], struct pe_civil *c)
{
    if (ms < 0)
        return PE_ERANGE;
    pe_time_split(ms, c);
    if (c->year > 9999)
        return PE_ERANGE;
    snprintf(out, 16, "%04d%02d%02d%02d%02d%02d", (int)c->year, c->mon, c->day, c->hour, c->min,
             c->sec);
    return PE_OK;
}

/* "YYYYMMDDhhmmss" of ms (mbedtls_x509write_crt_set_validity's format). Errors: PE_ERANGE. */
static int validity_str(int64_t ms, char out[16])
{
    struct pe_civil c;
    return civil_str(ms, out, &c);
}

/* A CRL time: UTCTime before 2050, GeneralizedTime from 2050 (RFC 5280 5.1.2.4). */
static int write_time(unsigned char **c, unsigned char *start, int64_t ms)
{
    struct pe_civil when;
    char s[20];
    size_t len = 0;
    if (civil_str(ms, s, &when))
        return MBEDTLS_ERR_ASN1_INVALID_DATA;
    strcat(s, "Z");
    bool utc = when.year < 2050; /* UTCTime: the year's last two digits */
    const char *v = utc ? s + 2 : s;
    ADD(len, mbedtls_asn1_write_raw_buffer(c, start, (const unsigned char *)v, strlen(v)));
    ADD(len, mbedtls_asn1_write_len(c, start, len));
    ADD(len, mbedtls_asn1_write_tag(c, start,
                                    utc ? MBEDTLS_ASN1_UTC_TIME : MBEDTLS_ASN1_GENERALIZED_TIME));
    return (int)len;
}

int64_t pe_pki_days_left(int64_t t_ms, int64_t now_ms)
{
    int64_t d = t_ms - now_ms;
    return d >= 0 ? d / DAY_MS : -((-d + DAY_MS - 1) / DAY_MS);
}

/* ---- keys ---- */

struct pki_signing;

struct pe_pki_key {
    mbedtls_pk_context pk;
    struct pki_signing *signing; /* libcrypto's side, made at the first signature (see below) */
};

static void signing_free(struct pki_signing *g);

static bool is_p256(const mbedtls_pk_context *pk)
{
    return mbedtls_pk_get_type(pk) == MBEDTLS_PK_ECKEY &&
           mbedtls_pk_ec(*pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
}

int pe_pki_key_generate(struct pe_rng *rng, struct pe_pki_key **out, char *err, size_t errlen)
{
    struct pe_pki_key *k = calloc(1, sizeof *k);
    if (!k)
        return PE_ENOMEM;
    mbedtls_pk_init(&k->pk);
    int mrc = mbedtls_pk_setup(&k->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (mrc == 0)
        mrc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(k->pk), rng_cb, rng);
    if (mrc != 0) {
        pe_pki_key_destroy(k);
        return mbed_fail(err, errlen, PE_ESYS, "generating a P-256 key", mrc);
    }
    *out = k;
    return PE_OK;
}

void pe_pki_key_destroy(struct pe_pki_key *key)
{
    if (!key)
        return;
    mbedtls_pk_free(&key->pk); /* zeroizes the private value */
    signing_free(key->signing); /* clears libcrypto's copy of it */
    free(key);
}

/*
 * Signing (pe_pki_key_sign_digest). mbedTLS 2.28's P-256 arithmetic is generic multi-precision
 * code: one signature took about a millisecond of CPU, twice per event on the till (the record
 * and its receipt's QR code), which was most of the till's CPU (issue 19). libcrypto, already
 * in every process under libmosquitto and used by the bridge for verifying (bridge/sigcheck.c),
 * has a constant-time P-256 with its generator's table built in: a signature made as below
 * takes a tenth of mbedTLS's time (about 80 against 870 us on a loaded 2-core VM). So:
 *   - the nonce is still mbedtls_ecdsa_sign_det_ext's, derived here with the same mbedTLS calls
 *     (RFC 6979: HMAC_DRBG over SHA-256 seeded with d || (digest mod n), k drawn from it by
 *     mbedtls_ecp_gen_privkey, the next draw when r or s comes out zero), so a signature is the
 *     one mbedTLS would make, byte for byte (tests/unit/test_signer.c checks it);
 *   - R = kG, r = x(R) mod n and s = (e + rd) / k mod n are libcrypto's: EC_POINT_mul with the
 *     secret scalar (constant time), and the inversion of k blinded as mbedTLS does it,
 *     s = t(e + rd) / (kt) with t from the caller's rng, and kt inverted by Fermat (n is prime:
 *     (kt)^(n-2)) in BN_mod_exp_mont_consttime with the order's Montgomery form kept.
 * The curve and the private scalar in libcrypto's form are made at a key's first signature and
 * kept with it (cleared when the key is destroyed). Every secret number of one signature is a
 * BIGNUM of its own, cleared before it is freed.
 */
struct pki_signing {
    EC_GROUP *group;   /* P-256 */
    BIGNUM *d;         /* the private scalar (BN_FLG_CONSTTIME) */
    BIGNUM *n_2;       /* the group order minus 2: the exponent that inverts mod n */
    BN_MONT_CTX *mont; /* Montgomery form of the order, for that exponentiation */
    BN_CTX *bn;        /* libcrypto's scratch numbers, cleared when freed */
};

static void signing_free(struct pki_signing *g)
{
    if (!g)
        return;
    EC_GROUP_free(g->group);
    BN_clear_free(g->d);
    BN_free(g->n_2);
    BN_MONT_CTX_free(g->mont);
    BN_CTX_free(g->bn);
    free(g);
}

/* "what: <libcrypto's first error>" into err (the queue emptied); returns PE_ESYS. */
static int ossl_fail(char *err, size_t errlen, const char *what)
{
    char m[160] = "no error queued";
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, m, sizeof m);
    ERR_clear_error();
    say(err, errlen, "%s: libcrypto: %s", what, m);
    return PE_ESYS;
}

/* libcrypto's side of signing with key, made once. Errors: PE_ENOMEM, PE_ESYS. */
static int signing_make(struct pe_pki_key *key, char *err, size_t errlen)
{
    const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(key->pk);
    uint8_t d[32];
    struct pki_signing *g = calloc(1, sizeof *g);
    if (!g)
        return PE_ENOMEM;
    int mrc = mbedtls_mpi_write_binary(&ec->d, d, sizeof d);
    if (mrc) {
        free(g);
        return mbed_fail(err, errlen, PE_ESYS, "signing", mrc);
    }
    g->group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    g->d = BN_new();
    g->n_2 = BN_new();
    g->mont = BN_MONT_CTX_new();
    g->bn = BN_CTX_new();
    const BIGNUM *n = g->group ? EC_GROUP_get0_order(g->group) : NULL;
    bool ok = n && g->d && g->n_2 && g->mont && g->bn && BN_bin2bn(d, sizeof d, g->d) &&
              BN_copy(g->n_2, n) && BN_sub_word(g->n_2, 2) && BN_MONT_CTX_set(g->mont, n, g->bn);
    mbedtls_platform_zeroize(d, sizeof d);
    if (!ok) {
        signing_free(g);
        return ossl_fail(err, errlen, "signing");
    }
    BN_set_flags(g->d, BN_FLG_CONSTTIME);
    key->signing = g;
    return PE_OK;
}

/*
 * r and s for digest with the nonce kb: 1 when r or s is zero (the caller draws the next
 * nonce), 0 with rs filled, -1 when libcrypto failed (its error queued).
 */
static int sign_with(struct pki_signing *g, const uint8_t kb[32], const uint8_t digest[32],
                     const uint8_t tb[32], uint8_t rs[64])
{
    const BIGNUM *n = EC_GROUP_get0_order(g->group);
    BIGNUM *k = BN_new(), *t = BN_new(), *kt = BN_new(), *s = BN_new();
    BIGNUM *x = BN_new(), *r = BN_new(), *e = BN_new();
    EC_POINT *R = EC_POINT_new(g->group);
    int res = -1;
    if (!k || !t || !kt || !s || !x || !r || !e || !R)
        goto done;
    BN_set_flags(k, BN_FLG_CONSTTIME);
    if (!BN_bin2bn(kb, 32, k) || !EC_POINT_mul(g->group, R, k, NULL, NULL, g->bn) ||
        !EC_POINT_get_affine_coordinates(g->group, R, x, NULL, g->bn) ||
        !BN_nnmod(r, x, n, g->bn))
        goto done;
    if (BN_is_zero(r)) {
        res = 1;
        goto done;
    }
    /* t in 1..n-1 blinds the inversion; any such t gives the same s. */
    if (!BN_bin2bn(tb, 32, t) || !BN_nnmod(t, t, n, g->bn) || (BN_is_zero(t) && !BN_one(t)) ||
        !BN_bin2bn(digest, 32, e) || !BN_mod_mul(s, r, g->d, n, g->bn) ||
        !BN_mod_add(s, s, e, n, g->bn) || !BN_mod_mul(s, s, t, n, g->bn) ||
        !BN_mod_mul(kt, k, t, n, g->bn) ||
        !BN_mod_exp_mont_consttime(kt, kt, g->n_2, n, g->bn, g->mont) ||
        !BN_mod_mul(s, s, kt, n, g->bn))
        goto done;
    if (BN_is_zero(s)) {
        res = 1;
        goto done;
    }
    res = BN_bn2binpad(r, rs, 32) == 32 && BN_bn2binpad(s, rs + 32, 32) == 32 ? 0 : -1;
done:
    EC_POINT_clear_free(R);
    BN_clear_free(k);
    BN_clear_free(t);
    BN_clear_free(kt);
    BN_clear_free(s);
    BN_clear_free(x);
    BN_free(r);
    BN_free(e);
    return res;
}

int pe_pki_key_sign_digest(struct pe_pki_key *key, const uint8_t digest[32], struct pe_rng *rng,
                           uint8_t rs[64], char *err, size_t errlen)
{
    if (!key->signing) {
        int rc = signing_make(key, err, errlen);
        if (rc)
            return rc;
    }
    const mbedtls_ecp_keypair *ec = mbedtls_pk_ec(key->pk);
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    mbedtls_hmac_drbg_context drbg;
    mbedtls_mpi h, k;
    uint8_t seed[64], kb[32], tb[32];
    int mrc, res = 1, rc = PE_OK;
    mbedtls_hmac_drbg_init(&drbg);
    mbedtls_mpi_init(&h);
    mbedtls_mpi_init(&k);
    /* The nonce as mbedtls_ecdsa_sign_det_ext derives it: seeded with d || (digest mod n). */
    mrc = mbedtls_mpi_write_binary(&ec->d, seed, 32);
    if (mrc == 0)
        mrc = mbedtls_mpi_read_binary(&h, digest, 32);
    if (mrc == 0 && mbedtls_mpi_cmp_mpi(&h, &ec->grp.N) >= 0)
        mrc = mbedtls_mpi_sub_mpi(&h, &h, &ec->grp.N);
    if (mrc == 0)
        mrc = mbedtls_mpi_write_binary(&h, seed + 32, 32);
    if (mrc == 0)
        mrc = mbedtls_hmac_drbg_seed_buf(&drbg, md, seed, sizeof seed);
    for (int tries = 0; mrc == 0 && res == 1; tries++) {
        if (tries > 10) {
            mrc = MBEDTLS_ERR_ECP_RANDOM_FAILED;
            break;
        }
        mrc = mbedtls_ecp_gen_privkey(&ec->grp, &k, mbedtls_hmac_drbg_random, &drbg);
        if (mrc == 0)
            mrc = mbedtls_mpi_write_binary(&k, kb, sizeof kb);
        if (mrc == 0)
            mrc = rng_cb(rng, tb, sizeof tb);
        if (mrc == 0 && (res = sign_with(key->signing, kb, digest, tb, rs)) < 0)
            rc = ossl_fail(err, errlen, "signing");
        if (rc)
            break;
    }
    if (mrc)
        rc = mbed_fail(err, errlen, PE_ESYS, "signing", mrc);
    mbedtls_platform_zeroize(seed, sizeof seed);
    mbedtls_platform_zeroize(kb, sizeof kb);
    mbedtls_platform_zeroize(tb, sizeof tb);
    mbedtls_mpi_free(&k); /* zeroizes */
    mbedtls_mpi_free(&h);
    mbedtls_hmac_drbg_free(&drbg); /* zeroizes */
    return rc;
}

int pe_pki_key_public_pem(const struct pe_pki_key *key, char **pem_out, char *err, size_t errlen)
{
    unsigned char buf[512];
    int mrc = mbedtls_pk_write_pubkey_pem((mbedtls_pk_context *)&key->pk, buf, sizeof buf);
    if (mrc != 0)
        return mbed_fail(err, errlen, PE_ESYS, "encoding the public key", mrc);
    char *pem = strdup((const char *)buf);
    if (!pem)
        return PE_ENOMEM;
    *pem_out = pem;
    return PE_OK;
}

/* Parse a key from a NUL-terminated PEM buffer of len bytes (len without the NUL). */
static int key_parse(const char *what, const char *pem, size_t len, struct pe_pki_key **out,
                     char *err, size_t errlen)
{
    struct pe_pki_key *k = calloc(1, sizeof *k);
    if (!k)
        return PE_ENOMEM;
    mbedtls_pk_init(&k->pk);
    size_t n = len > 0 && (unsigned char)pem[0] != 0x30 ? strlen(pem) + 1 : len; /* PEM | DER */
    int mrc = mbedtls_pk_parse_key(&k->pk, (const unsigned char *)pem, n, NULL, 0);
    if (mrc != 0) {
        pe_pki_key_destroy(k);
        /* mbedTLS's message names the format problem, never the key's bytes. */
        return mbed_fail(err, errlen, PE_EPARSE, what, mrc);
    }
    if (!is_p256(&k->pk)) {
        pe_pki_key_destroy(k);
        say(err, errlen, "%s: not an ECDSA P-256 key", what);
        return PE_EINVAL;
    }
    *out = k;
    return PE_OK;
}

int pe_pki_key_load(const char *path, struct pe_pki_key **out, char *err, size_t errlen)
{
    int rc = pe_secret_check_mode("key file", path, err, errlen);
    if (rc)
        return rc;
    char *text = NULL;
    size_t len = 0;
    if ((rc = pe_file_read(path, 64 * 1024, &text, &len, err, errlen)))
        return rc;
    char what[512];
    snprintf(what, sizeof what, "key file %s", path);
    rc = key_parse(what, text, len, out, err, errlen);
    pe_secret_wipe(text, len);
    free(text);
    return rc;
}

/* The key as PEM in the format asked for, into buf (size bytes); *olen is its length. */
static int key_pem(const mbedtls_pk_context *pk, enum pe_pki_key_format fmt, unsigned char *buf,
                   size_t size, size_t *olen)
{
    mbedtls_pk_context *k = (mbedtls_pk_context *)pk; /* 2.28's writers take non-const */
    if (fmt == PE_PKI_KEY_SEC1) {
        int mrc = mbedtls_pk_write_key_pem(k, buf, size);
        if (mrc == 0)
            *olen = strlen((char *)buf);
        return mrc;
    }
    /* PKCS#8 PrivateKeyInfo ::= SEQUENCE { INTEGER 0, AlgorithmIdentifier { id-ecPublicKey,
     * prime256v1 }, OCTET STRING { SEC1 ECPrivateKey } } around mbedTLS's SEC1 DER. */
    unsigned char der[512], *c;
    size_t len, alg = 0;
    int n = mbedtls_pk_write_key_der(k, der, sizeof der);
    if (n < 0)
        return n;
    c = der + sizeof der - n;
    len = (size_t)n;
    ADD(len, mbedtls_asn1_write_len(&c, der, (size_t)n));
    ADD(len, mbedtls_asn1_write_tag(&c, der, MBEDTLS_ASN1_OCTET_STRING));
    ADD(alg, mbedtls_asn1_write_oid(&c, der, MBEDTLS_OID_EC_GRP_SECP256R1,
                                    MBEDTLS_OID_SIZE(MBEDTLS_OID_EC_GRP_SECP256R1)));
    ADD(alg, mbedtls_asn1_write_oid(&c, der, MBEDTLS_OID_EC_ALG_UNRESTRICTED,
                                    MBEDTLS_OID_SIZE(MBEDTLS_OID_EC_ALG_UNRESTRICTED)));
    ADD(alg, mbedtls_asn1_write_len(&c, der, alg));
    ADD(alg, mbedtls_asn1_write_tag(&c, der, SEQ));
    len += alg;
    ADD(len, mbedtls_asn1_write_int(&c, der, 0));
    ADD(len, mbedtls_asn1_write_len(&c, der, len));
    ADD(len, mbedtls_asn1_write_tag(&c, der, SEQ));
    n = mbedtls_pem_write_buffer("-----BEGIN PRIVATE KEY-----\n", "-----END PRIVATE KEY-----\n", c,
                                 len, buf, size, olen);
    pe_secret_wipe(der, sizeof der);
    if (n == 0)
        *olen -= 1; /* it counts the NUL */
    return n;
}

static int key_write(const mbedtls_pk_context *pk, const char *path, enum pe_pki_key_format fmt,
                     char *err, size_t errlen)
{
    unsigned char pem[1024];
    size_t olen = 0;
    int mrc = key_pem(pk, fmt, pem, sizeof pem, &olen), rc;
    if (mrc != 0)
        rc = mbed_fail(err, errlen, PE_ESYS, "encoding the key", mrc);
    else
        rc = pe_file_write_atomic_mode(path, pem, olen, 0600, PE_FILE_NOREPLACE, err, errlen);
    pe_secret_wipe(pem, sizeof pem);
    return rc;
}

int pe_pki_key_save(const struct pe_pki_key *key, const char *path, enum pe_pki_key_format fmt,
                    char *err, size_t errlen)
{
    return key_write(&key->pk, path, fmt, err, errlen);
}

/* ---- CSRs ---- */

int pe_pki_csr_create(const struct pe_pki_key *key, const char *store, const char *terminal,
                      struct pe_rng *rng, char **pem_out, char *err, size_t errlen)
{
    char cn[PE_PKI_CN_MAX], subject[PE_PKI_CN_MAX + 16];
    int rc = pe_pki_cn_make(PE_PKI_TERMINAL, store, terminal, cn, err, errlen);
    if (rc)
        return rc;
    snprintf(subject, sizeof subject, "CN=%s" ORG, cn);
    unsigned char *pem = malloc(CERT_PEM_MAX);
    if (!pem)
        return PE_ENOMEM;
    mbedtls_x509write_csr w;
    mbedtls_x509write_csr_init(&w);
    mbedtls_x509write_csr_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_csr_set_key(&w, (mbedtls_pk_context *)&key->pk);
    int mrc = mbedtls_x509write_csr_set_subject_name(&w, subject);
    if (mrc == 0)
        mrc = mbedtls_x509write_csr_pem(&w, pem, CERT_PEM_MAX, rng_cb, rng);
    mbedtls_x509write_csr_free(&w);
    if (mrc != 0) {
        free(pem);
        return mbed_fail(err, errlen, PE_ESYS, "writing the CSR", mrc);
    }
    *pem_out = (char *)pem;
    return PE_OK;
}

/* A NUL-terminated copy of len bytes, and in *plen the length to hand mbedTLS's parsers: a
 * PEM's with its NUL counted (that is how they tell PEM), DER's as it is. */
static char *nul_copy(const char *buf, size_t len, size_t *plen)
{
    char *c = malloc(len + 1);
    if (c) {
        memcpy(c, buf, len);
        c[len] = '\0';
        *plen = len > 0 && (unsigned char)buf[0] != 0x30 ? strlen(c) + 1 : len;
    }
    return c;
}

/* The first CN of a name into out ("" when there is none or it holds a NUL). */
static void first_cn(const mbedtls_x509_name *n, char *out, size_t outlen)
{
    out[0] = '\0';
    for (; n; n = n->next) {
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) != 0)
            continue;
        if (memchr(n->val.p, 0, n->val.len) || n->val.len >= outlen)
            return;
        memcpy(out, n->val.p, n->val.len);
        out[n->val.len] = '\0';
        return;
    }
}

/* Parse and verify a CSR into csr (initialised here; the caller frees it on PE_OK). */
static int csr_parse(const char *pem, size_t len, mbedtls_x509_csr *csr, char *err, size_t errlen)
{
    mbedtls_x509_csr_init(csr);
    size_t n;
    char *copy = nul_copy(pem, len, &n);
    if (!copy)
        return PE_ENOMEM;
    int mrc = mbedtls_x509_csr_parse(csr, (const unsigned char *)copy, n);
    free(copy);
    if (mrc != 0) {
        mbedtls_x509_csr_free(csr);
        return mbed_fail(err, errlen, PE_EPARSE, "the CSR", mrc);
    }
    /* mbedtls_x509_csr_parse does not check the CSR's own signature: do it here. */
    unsigned char h[MBEDTLS_MD_MAX_SIZE];
    const mbedtls_md_info_t *mi = mbedtls_md_info_from_type(csr->sig_md);
    int rc = PE_EDECLINED;
    if (!mi || mbedtls_md(mi, csr->cri.p, csr->cri.len, h) != 0) {
        say(err, errlen, "the CSR: unsupported signature algorithm");
    } else if ((mrc = mbedtls_pk_verify_ext(csr->sig_pk, csr->sig_opts, &csr->pk, csr->sig_md, h,
                                            mbedtls_md_get_size(mi), csr->sig.p,
                                            csr->sig.len)) != 0) {
        mbed_fail(err, errlen, PE_EDECLINED, "the CSR's signature does not verify", mrc);
    } else if (!is_p256(&csr->pk)) {
        say(err, errlen, "the CSR's key is not an ECDSA P-256 key");
    } else {
        rc = PE_OK;
    }
    if (rc)
        mbedtls_x509_csr_free(csr);
    return rc;
}

int pe_pki_csr_check(const char *pem, size_t len, char cn_out[PE_PKI_CN_MAX], char *err,
                     size_t errlen)
{
    mbedtls_x509_csr csr;
    int rc = csr_parse(pem, len, &csr, err, errlen);
    if (rc)
        return rc;
    if (cn_out)
        first_cn(&csr.subject, cn_out, PE_PKI_CN_MAX);
    mbedtls_x509_csr_free(&csr);
    return PE_OK;
}

/* ---- extensions: SAN and EKU values, and reading extensions back ---- */

struct san {
    int n;
    struct {
        bool ip;
        unsigned char addr[16]; /* IP: 4 or 16 octets */
        size_t len;
        char dns[254]; /* DNS */
    } e[SAN_MAX];
};

static bool dns_name_ok(const char *s)
{
    size_t n = strlen(s), label = 0;
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        /* "*" only as the whole first label (a wildcard certificate). */
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || (c == '*' && i == 0 && (n == 1 || s[1] == '.'));
        if (!ok || ++label > 63)
            return false;
    }
    return label > 0;
}

/* "DNS:name,IP:addr,..." into s. Errors: PE_EINVAL naming the bad entry. */
static int san_parse(const char *text, struct san *s, char *err, size_t errlen)
{
    s->n = 0;
    const char *p = text;
    while (*p) {
        size_t n = strcspn(p, ",");
        char item[300];
        if (n >= sizeof item || n == 0) {
            say(err, errlen, "SAN: an empty or too long entry in \"%.80s\"", text);
            return PE_EINVAL;
        }
        memcpy(item, p, n);
        item[n] = '\0';
        p += n + (p[n] == ',');
        if (s->n == SAN_MAX) {
            say(err, errlen, "SAN: more than %d entries", SAN_MAX);
            return PE_EINVAL;
        }
        if (strncmp(item, "DNS:", 4) == 0 && dns_name_ok(item + 4)) {
            s->e[s->n].ip = false;
            memcpy(s->e[s->n].dns, item + 4, strlen(item + 4) + 1); /* at most 253 + NUL */
        } else if (strncmp(item, "IP:", 3) == 0 &&
                   inet_pton(AF_INET, item + 3, s->e[s->n].addr) == 1) {
            s->e[s->n].ip = true;
            s->e[s->n].len = 4;
        } else if (strncmp(item, "IP:", 3) == 0 &&
                   inet_pton(AF_INET6, item + 3, s->e[s->n].addr) == 1) {
            s->e[s->n].ip = true;
            s->e[s->n].len = 16;
        } else {
            say(err, errlen, "SAN: \"%.80s\" is not DNS:<host name> or IP:<address>", item);
            return PE_EINVAL;
        }
        s->n++;
        if (*p == '\0' && p[-1] == ',') {
            say(err, errlen, "SAN: a trailing ',' in \"%.80s\"", text);
            return PE_EINVAL;
        }
    }
    if (s->n == 0) {
        say(err, errlen, "SAN: no entry");
        return PE_EINVAL;
    }
    return PE_OK;
}

/* SubjectAltName value: SEQUENCE OF GeneralName (dNSName [2] IA5String, iPAddress [7]). */
static int san_der(const struct san *s, unsigned char *buf, size_t size, unsigned char **out)
{
    unsigned char *c = buf + size;
    size_t len = 0;
    for (int i = s->n; i-- > 0;) {
        size_t l = 0;
        if (s->e[i].ip)
            ADD(l, mbedtls_asn1_write_raw_buffer(&c, buf, s->e[i].addr, s->e[i].len));
        else
            ADD(l, mbedtls_asn1_write_raw_buffer(&c, buf, (const unsigned char *)s->e[i].dns,
                                                 strlen(s->e[i].dns)));
        ADD(l, mbedtls_asn1_write_len(&c, buf, l));
        ADD(l, mbedtls_asn1_write_tag(&c, buf,
                                      MBEDTLS_ASN1_CONTEXT_SPECIFIC | (s->e[i].ip ? 7 : 2)));
        len += l;
    }
    ADD(len, mbedtls_asn1_write_len(&c, buf, len));
    ADD(len, mbedtls_asn1_write_tag(&c, buf, SEQ));
    *out = c;
    return (int)len;
}

/* ExtKeyUsageSyntax ::= SEQUENCE OF KeyPurposeId: one purpose. */
static int eku_der(bool server, unsigned char *buf, size_t size, unsigned char **out)
{
    unsigned char *c = buf + size;
    size_t len = 0;
    if (server)
        ADD(len, mbedtls_asn1_write_oid(&c, buf, MBEDTLS_OID_SERVER_AUTH,
                                        MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)));
    else
        ADD(len, mbedtls_asn1_write_oid(&c, buf, MBEDTLS_OID_CLIENT_AUTH,
                                        MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)));
    ADD(len, mbedtls_asn1_write_len(&c, buf, len));
    ADD(len, mbedtls_asn1_write_tag(&c, buf, SEQ));
    *out = c;
    return (int)len;
}

/* Find the extension oid in an Extensions buffer as mbedTLS keeps it (ext->p at the SEQUENCE
 * OF, ext->len up to the end of the explicit tag): val and vlen get its extnValue's contents.
 * Returns true when found. */
static bool find_ext(const mbedtls_x509_buf *ext, const char *oid, size_t oidlen,
                     const unsigned char **val, size_t *vlen)
{
    unsigned char *p = ext->p, *end = ext->p + ext->len;
    size_t len;
    if (!p || mbedtls_asn1_get_tag(&p, end, &len, SEQ))
        return false;
    end = p + len;
    while (p < end) {
        unsigned char *e;
        if (mbedtls_asn1_get_tag(&p, end, &len, SEQ))
            return false;
        e = p + len;
        size_t olen;
        if (mbedtls_asn1_get_tag(&p, e, &olen, MBEDTLS_ASN1_OID))
            return false;
        bool match = olen == oidlen && memcmp(p, oid, oidlen) == 0;
        p += olen;
        int critical;
        if (p < e && *p == MBEDTLS_ASN1_BOOLEAN && mbedtls_asn1_get_bool(&p, e, &critical))
            return false;
        size_t l;
        if (mbedtls_asn1_get_tag(&p, e, &l, MBEDTLS_ASN1_OCTET_STRING) || p + l != e)
            return false;
        if (match) {
            *val = p;
            *vlen = l;
            return true;
        }
        p = e;
    }
    return false;
}

/* The SAN of a certificate as "DNS:a,IP:b" text. */
static void san_text(const mbedtls_x509_crt *crt, char *out, size_t outlen)
{
    const unsigned char *v;
    size_t vlen, len, used = 0;
    out[0] = '\0';
    if (!find_ext(&crt->v3_ext, MBEDTLS_OID_SUBJECT_ALT_NAME,
                  MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), &v, &vlen))
        return;
    unsigned char *p = (unsigned char *)v, *end = p + vlen;
    if (mbedtls_asn1_get_tag(&p, end, &len, SEQ))
        return;
    end = p + len;
    while (p < end && used < outlen) {
        unsigned char tag = *p++;
        if (mbedtls_asn1_get_len(&p, end, &len))
            return;
        char item[300] = "";
        if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2) && len < 254 && !memchr(p, 0, len)) {
            snprintf(item, sizeof item, "DNS:%.*s", (int)len, (const char *)p);
        } else if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && (len == 4 || len == 16)) {
            char a[INET6_ADDRSTRLEN];
            inet_ntop(len == 4 ? AF_INET : AF_INET6, p, a, sizeof a);
            snprintf(item, sizeof item, "IP:%s", a);
        }
        if (item[0]) {
            int n = snprintf(out + used, outlen - used, "%s%s", used ? "," : "", item);
            used += n > 0 ? (size_t)n : 0;
        }
        p += len;
    }
}

/* ---- certificates: writing, describing ---- */

struct certspec {
    const char *subject;               /* "CN=...,O=posedge" */
    const char *issuer;                /* the CA's subject */
    mbedtls_pk_context *subject_key;   /* the certified public key */
    mbedtls_pk_context *issuer_key;    /* signs */
    enum pe_pki_kind kind;             /* CA or a leaf kind */
    const struct san *san;             /* SERVER's names, else NULL */
    int64_t not_before_ms, not_after_ms;
    unsigned char serial[SERIAL_LEN];
};

static int write_cert(const struct certspec *s, struct pe_rng *rng, char **pem_out, char *err,
                      size_t errlen)
{
    char nb[16], na[16];
    if (validity_str(s->not_before_ms, nb) || validity_str(s->not_after_ms, na)) {
        say(err, errlen, "validity out of range");
        return PE_ERANGE;
    }
    unsigned char *pem = malloc(CERT_PEM_MAX), ext[512], *v;
    if (!pem)
        return PE_ENOMEM;
    mbedtls_x509write_cert w;
    mbedtls_mpi serial;
    mbedtls_x509write_crt_init(&w);
    mbedtls_mpi_init(&serial);
    bool ca = s->kind == PE_PKI_CA;
    const char *step = "serial";
    int mrc = mbedtls_mpi_read_binary(&serial, s->serial, sizeof s->serial), n;
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(&w, s->subject_key);
    mbedtls_x509write_crt_set_issuer_key(&w, s->issuer_key);
    if (mrc || (mrc = mbedtls_x509write_crt_set_serial(&w, &serial)))
        goto failed;
    step = "validity";
    if ((mrc = mbedtls_x509write_crt_set_validity(&w, nb, na)))
        goto failed;
    step = "subject";
    if ((mrc = mbedtls_x509write_crt_set_subject_name(&w, s->subject)))
        goto failed;
    step = "issuer";
    if ((mrc = mbedtls_x509write_crt_set_issuer_name(&w, s->issuer)))
        goto failed;
    step = "extensions";
    if ((mrc = mbedtls_x509write_crt_set_basic_constraints(&w, ca, ca ? 0 : -1)) ||
        (mrc = mbedtls_x509write_crt_set_key_usage(
             &w, ca ? MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN
                    : MBEDTLS_X509_KU_DIGITAL_SIGNATURE)) ||
        (mrc = mbedtls_x509write_crt_set_subject_key_identifier(&w)) ||
        (mrc = mbedtls_x509write_crt_set_authority_key_identifier(&w)))
        goto failed;
    if (!ca) {
        bool server = strcmp(kinds[s->kind].eku, "server") == 0;
        if ((mrc = n = eku_der(server, ext, sizeof ext, &v)) < 0 ||
            (mrc = mbedtls_x509write_crt_set_extension(
                 &w, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                 MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0, v, (size_t)n)))
            goto failed;
    }
    if (s->san) {
        if ((mrc = n = san_der(s->san, ext, sizeof ext, &v)) < 0 ||
            (mrc = mbedtls_x509write_crt_set_extension(
                 &w, MBEDTLS_OID_SUBJECT_ALT_NAME, MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME),
                 0, v, (size_t)n)))
            goto failed;
    }
    step = "signing";
    if ((mrc = mbedtls_x509write_crt_pem(&w, pem, CERT_PEM_MAX, rng_cb, rng)))
        goto failed;
    mbedtls_x509write_crt_free(&w);
    mbedtls_mpi_free(&serial);
    *pem_out = (char *)pem;
    return PE_OK;
failed:
    mbedtls_x509write_crt_free(&w);
    mbedtls_mpi_free(&serial);
    free(pem);
    char what[64];
    snprintf(what, sizeof what, "writing the certificate (%s)", step);
    return mbed_fail(err, errlen, PE_ESYS, what, mrc);
}

static void describe(const mbedtls_x509_crt *crt, struct pe_pki_cert_info *out)
{
    memset(out, 0, sizeof *out);
    first_cn(&crt->subject, out->cn, sizeof out->cn);
    first_cn(&crt->issuer, out->issuer_cn, sizeof out->issuer_cn);
    if (pe_pki_cn_split(out->cn, out->store, out->terminal) != PE_OK)
        out->store[0] = out->terminal[0] = '\0';
    size_t sl = crt->serial.len > 20 ? 20 : crt->serial.len;
    pe_hex(crt->serial.p, sl, out->serial);
    out->not_before_ms = x509_time_ms(&crt->valid_from);
    out->not_after_ms = x509_time_ms(&crt->valid_to);
    uint8_t fp[PE_SHA256_LEN];
    pe_sha256_2(crt->raw.p, crt->raw.len, NULL, 0, fp);
    pe_hex(fp, sizeof fp, out->fingerprint);
    san_text(crt, out->san, sizeof out->san);
    bool has_eku = (crt->ext_types & MBEDTLS_X509_EXT_EXTENDED_KEY_USAGE) != 0;
    if (crt->ca_istrue)
        out->kind = PE_PKI_CA;
    else if (has_eku && mbedtls_x509_crt_check_extended_key_usage(
                            crt, MBEDTLS_OID_SERVER_AUTH,
                            MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)) == 0)
        out->kind = PE_PKI_SERVER;
    else if (strcmp(out->terminal, PE_ID_BRIDGE) == 0)
        out->kind = PE_PKI_BRIDGE;
    else if (strcmp(out->terminal, "hq") == 0)
        out->kind = PE_PKI_HQ;
    else
        out->kind = PE_PKI_TERMINAL;
}

/* Parse the certificates of a buffer (PEM or DER) into crt (initialised here; freed on error). */
static int crt_parse(const char *what, const char *buf, size_t len, mbedtls_x509_crt *crt,
                     char *err, size_t errlen)
{
    mbedtls_x509_crt_init(crt);
    size_t n;
    char *copy = nul_copy(buf, len, &n);
    if (!copy)
        return PE_ENOMEM;
    int mrc = mbedtls_x509_crt_parse(crt, (const unsigned char *)copy, n);
    free(copy);
    if (mrc != 0) {
        mbedtls_x509_crt_free(crt);
        return mbed_fail(err, errlen, PE_EPARSE, what, mrc);
    }
    return PE_OK;
}

static int crt_load(const char *path, mbedtls_x509_crt *crt, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    mbedtls_x509_crt_init(crt);
    int rc = pe_file_read(path, MAX_FILE, &text, &len, err, errlen);
    if (rc)
        return rc;
    char what[512];
    snprintf(what, sizeof what, "certificate %s", path);
    rc = crt_parse(what, text, len, crt, err, errlen);
    free(text);
    return rc;
}

int pe_pki_cert_info_mem(const char *buf, size_t len, struct pe_pki_cert_info *out, char *err,
                         size_t errlen)
{
    mbedtls_x509_crt crt;
    int rc = crt_parse("certificate", buf, len, &crt, err, errlen);
    if (rc)
        return rc;
    describe(&crt, out);
    mbedtls_x509_crt_free(&crt);
    return PE_OK;
}

int pe_pki_cert_info_file(const char *path, struct pe_pki_cert_info *out, char *err,
                          size_t errlen)
{
    mbedtls_x509_crt crt;
    int rc = crt_load(path, &crt, err, errlen);
    if (rc)
        return rc;
    describe(&crt, out);
    mbedtls_x509_crt_free(&crt);
    return PE_OK;
}

/* ---- the CA directory ---- */

struct pe_pki_ca {
    char dir[4096];
    int lock_fd;             /* the directory, flock'ed LOCK_EX while open */
    struct pe_rng *rng;      /* serials, signatures, tokens */
    mbedtls_pk_context key;  /* ca.key */
    mbedtls_x509_crt crt;    /* ca.crt */
    cJSON *index;            /* index.json */
    cJSON *tokens;           /* tokens.json */
    char store[PE_ID_MAX];   /* the store it issues for, "*" for HQ */
    char subject[256];       /* "CN=...,O=posedge": the issuer of what it signs */
};

static int path_in(const struct pe_pki_ca *ca, const char *name, char *out, size_t outlen,
                   char *err, size_t errlen)
{
    if ((size_t)snprintf(out, outlen, "%s/%s", ca->dir, name) >= outlen) {
        say(err, errlen, "%s: path too long", ca->dir);
        return PE_EINVAL;
    }
    return PE_OK;
}

/* A file of the CA directory belongs to the directory's owner, whoever writes it: root running
 * posedge-ctl on the bridge's CA (user posedge, the enrolment signer) must not leave files the
 * bridge can no longer read. Only root gives a file away; anyone else writes files it owns
 * already. Called with the directory locked, so nobody reads the file in between. Errors:
 * PE_EIO. */
static int own_like_dir(const struct pe_pki_ca *ca, const char *path, char *err, size_t errlen)
{
    struct stat d;
    if (geteuid() != 0 || ca->lock_fd < 0 || fstat(ca->lock_fd, &d) != 0 || d.st_uid == 0)
        return PE_OK;
    if (chown(path, d.st_uid, d.st_gid) != 0) {
        say(err, errlen, "%s: cannot give it to the CA directory's owner: %s", path,
            strerror(errno));
        return PE_EIO;
    }
    return PE_OK;
}

/* Write a JSON document of the CA directory atomically with mode. */
static int save_json(const struct pe_pki_ca *ca, const char *name, const cJSON *doc, unsigned mode,
                     char *err, size_t errlen)
{
    char path[4200];
    int rc = path_in(ca, name, path, sizeof path, err, errlen);
    if (rc)
        return rc;
    char *text = cJSON_Print(doc);
    if (!text)
        return PE_ENOMEM;
    size_t n = strlen(text);
    char *nl = realloc(text, n + 2);
    if (!nl) {
        free(text);
        return PE_ENOMEM;
    }
    nl[n] = '\n';
    nl[n + 1] = '\0';
    rc = pe_file_write_atomic_mode(path, nl, n + 1, mode, 0, err, errlen);
    free(nl);
    return rc ? rc : own_like_dir(ca, path, err, errlen);
}

static int load_json(const struct pe_pki_ca *ca, const char *name, cJSON **out, char *err,
                     size_t errlen)
{
    char path[4200], why[128];
    int rc = path_in(ca, name, path, sizeof path, err, errlen);
    if (rc)
        return rc;
    char *text = NULL;
    size_t len = 0;
    if ((rc = pe_file_read(path, MAX_FILE, &text, &len, err, errlen)))
        return rc;
    rc = pe_json_parse(text, len, out, why, sizeof why);
    free(text);
    int64_t v = 0;
    if (rc == PE_OK && (!cJSON_IsObject(*out) || pe_json_get_int(*out, "v", &v) || v != 1)) {
        cJSON_Delete(*out);
        *out = NULL;
        snprintf(why, sizeof why, "not a version 1 document");
        rc = PE_ECORRUPT;
    }
    if (rc == PE_EPARSE)
        rc = PE_ECORRUPT;
    if (rc == PE_ECORRUPT)
        say(err, errlen, "%s: damaged: %s", path, why);
    return rc;
}

/* Take the directory's lock, waiting up to LOCK_WAIT_MS. */
static int lock_dir(const char *dir, int *fd_out, char *err, size_t errlen)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        say(err, errlen, "%s: cannot open the CA directory: %s", dir, strerror(errno));
        return PE_EIO;
    }
    int64_t deadline = pe_mono_ms() + LOCK_WAIT_MS;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if ((errno != EWOULDBLOCK && errno != EINTR) || pe_mono_ms() > deadline) {
            int e = errno;
            close(fd);
            if (e == EWOULDBLOCK) {
                say(err, errlen, "%s: the CA directory is in use by another process", dir);
                return PE_EBUSY;
            }
            say(err, errlen, "%s: cannot lock: %s", dir, strerror(e));
            return PE_EIO;
        }
        /* A lock wait (another process holds the CA for a few milliseconds), bounded above. */
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    *fd_out = fd;
    return PE_OK;
}

static struct pe_pki_ca *ca_new(const char *dir)
{
    struct pe_pki_ca *ca = calloc(1, sizeof *ca);
    if (!ca)
        return NULL;
    ca->lock_fd = -1;
    snprintf(ca->dir, sizeof ca->dir, "%s", dir);
    mbedtls_pk_init(&ca->key);
    mbedtls_x509_crt_init(&ca->crt);
    return ca;
}

void pe_pki_ca_close(struct pe_pki_ca *ca)
{
    if (!ca)
        return;
    mbedtls_pk_free(&ca->key);
    mbedtls_x509_crt_free(&ca->crt);
    cJSON_Delete(ca->index);
    cJSON_Delete(ca->tokens);
    pe_rng_destroy(ca->rng);
    if (ca->lock_fd >= 0)
        close(ca->lock_fd); /* releases the flock */
    free(ca);
}

const char *pe_pki_ca_store(const struct pe_pki_ca *ca)
{
    return ca->store;
}

/* The CA's name is a CN inside a DN string: no characters mbedTLS's DN parser treats
 * specially, nothing unprintable. */
static bool ca_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || s[0] == ' ' || s[n - 1] == ' ')
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < ' ' || s[i] > '~' || strchr(",=+\\\"<>;#", s[i]))
            return false;
    return true;
}

static int random_serial(struct pe_rng *rng, const cJSON *certs, unsigned char out[SERIAL_LEN]);
static int crl_write_locked(struct pe_pki_ca *ca, int64_t now_ms, int days, char **pem_out,
                            char *err, size_t errlen);

int pe_pki_ca_init(const struct pe_pki_ca_init *o, char *err, size_t errlen)
{
    char cn[128];
    int days = o->days ? o->days : kinds[PE_PKI_CA].days;
    if (o->hq && o->store) {
        say(err, errlen, "an HQ CA is not bound to a store");
        return PE_EINVAL;
    }
    if (!o->hq && !pe_event_id_valid(o->store, 1)) {
        say(err, errlen, "store \"%.40s\" is not an id (letters, digits, '.', '_', '-')",
            o->store ? o->store : "");
        return PE_EINVAL;
    }
    if (o->name)
        snprintf(cn, sizeof cn, "%s", o->name);
    else if (o->hq)
        snprintf(cn, sizeof cn, "posedge HQ CA");
    else
        snprintf(cn, sizeof cn, "posedge store %s CA", o->store);
    if (!ca_name_ok(cn)) {
        say(err, errlen,
            "CA name \"%.80s\": 1..64 printable characters, none of , = + \\ \" < > ; #", cn);
        return PE_EINVAL;
    }
    if (days < 1 || days > MAX_DAYS) {
        say(err, errlen, "days %d out of range 1..%d", days, MAX_DAYS);
        return PE_EINVAL;
    }
    if (mkdir(o->dir, 0700) != 0 && errno != EEXIST) {
        say(err, errlen, "%s: cannot create: %s", o->dir, strerror(errno));
        return PE_EIO;
    }
    struct pe_pki_ca *ca = ca_new(o->dir);
    if (!ca)
        return PE_ENOMEM;
    char path[4200], *pem = NULL;
    int rc = lock_dir(o->dir, &ca->lock_fd, err, errlen);
    if (rc)
        goto done;
    if ((rc = path_in(ca, CA_KEY, path, sizeof path, err, errlen)))
        goto done;
    if (access(path, F_OK) == 0) {
        say(err, errlen, "%s holds a CA already (%s exists)", o->dir, path);
        rc = PE_EEXIST;
        goto done;
    }
    snprintf(ca->store, sizeof ca->store, "%s", o->hq ? "*" : o->store);
    snprintf(ca->subject, sizeof ca->subject, "CN=%s" ORG, cn);
    if ((rc = pe_rng_create("posedge-pki/ca", &ca->rng)))
        goto done;
    struct pe_pki_key *key = NULL;
    if ((rc = pe_pki_key_generate(ca->rng, &key, err, errlen)))
        goto done;
    /* Move the generated key into the CA's context (the struct copy keeps its pointers). */
    ca->key = key->pk;
    free(key);
    /* The key first, never replacing one: a second init racing this one fails here. */
    if ((rc = key_write(&ca->key, path, PE_PKI_KEY_PKCS8, err, errlen)) ||
        (rc = own_like_dir(ca, path, err, errlen)))
        goto done;
    struct certspec s = {.subject = ca->subject,
                         .issuer = ca->subject,
                         .subject_key = &ca->key,
                         .issuer_key = &ca->key,
                         .kind = PE_PKI_CA,
                         .not_before_ms = o->now_ms - BACKDATE_MS,
                         .not_after_ms = o->now_ms + days * DAY_MS};
    if ((rc = random_serial(ca->rng, NULL, s.serial)) ||
        (rc = write_cert(&s, ca->rng, &pem, err, errlen)) ||
        (rc = path_in(ca, CA_CRT, path, sizeof path, err, errlen)) ||
        (rc = pe_file_write_atomic_mode(path, pem, strlen(pem), 0644, 0, err, errlen)) ||
        (rc = own_like_dir(ca, path, err, errlen)) ||
        (rc = crt_parse(path, pem, strlen(pem), &ca->crt, err, errlen)))
        goto done;
    rc = PE_ENOMEM;
    if (!(ca->index = cJSON_CreateObject()) || !(ca->tokens = cJSON_CreateObject()) ||
        pe_json_add_int(ca->index, "v", 1) || pe_json_add_str(ca->index, "store", ca->store) ||
        pe_json_add_str(ca->index, "subject", ca->subject) ||
        pe_json_add_int(ca->index, "crl_number", 0) ||
        !cJSON_AddArrayToObject(ca->index, "certs") || pe_json_add_int(ca->tokens, "v", 1) ||
        !cJSON_AddArrayToObject(ca->tokens, "tokens"))
        goto done;
    if ((rc = save_json(ca, TOKENS, ca->tokens, 0600, err, errlen)) ||
        (rc = save_json(ca, INDEX, ca->index, 0600, err, errlen)))
        goto done;
    rc = crl_write_locked(ca, o->now_ms, 0, NULL, err, errlen);
done:
    free(pem);
    pe_pki_ca_close(ca);
    return rc;
}

int pe_pki_ca_open(const char *dir, struct pe_pki_ca **out, char *err, size_t errlen)
{
    struct pe_pki_ca *ca = ca_new(dir);
    if (!ca)
        return PE_ENOMEM;
    char path[4200];
    struct pe_pki_key *key = NULL;
    const char *store = NULL, *subject = NULL;
    int rc = lock_dir(dir, &ca->lock_fd, err, errlen);
    if (rc)
        goto failed;
    if ((rc = path_in(ca, CA_KEY, path, sizeof path, err, errlen)) ||
        (rc = pe_pki_key_load(path, &key, err, errlen)))
        goto failed;
    ca->key = key->pk;
    free(key);
    if ((rc = path_in(ca, CA_CRT, path, sizeof path, err, errlen)) ||
        (rc = crt_load(path, &ca->crt, err, errlen)))
        goto failed;
    if (mbedtls_pk_check_pair(&ca->crt.pk, &ca->key) != 0) {
        say(err, errlen, "%s/%s does not belong to %s/%s", dir, CA_KEY, dir, CA_CRT);
        rc = PE_ECORRUPT;
        goto failed;
    }
    if ((rc = load_json(ca, INDEX, &ca->index, err, errlen)) ||
        (rc = load_json(ca, TOKENS, &ca->tokens, err, errlen)))
        goto failed;
    if (pe_json_get_str(ca->index, "store", &store) ||
        (strcmp(store, "*") != 0 && !pe_event_id_valid(store, 1)) ||
        pe_json_get_str(ca->index, "subject", &subject) || strlen(subject) >= sizeof ca->subject ||
        !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(ca->index, "certs")) ||
        !cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(ca->tokens, "tokens"))) {
        say(err, errlen, "%s/%s or %s: damaged (missing store, subject, certs or tokens)", dir,
            INDEX, TOKENS);
        rc = PE_ECORRUPT;
        goto failed;
    }
    snprintf(ca->store, sizeof ca->store, "%s", store);
    snprintf(ca->subject, sizeof ca->subject, "%s", subject);
    if ((rc = pe_rng_create("posedge-pki/ca", &ca->rng)))
        goto failed;
    *out = ca;
    return PE_OK;
failed:
    pe_pki_ca_close(ca);
    return rc;
}

/* ---- the index ---- */

static cJSON *certs_of(const struct pe_pki_ca *ca)
{
    return cJSON_GetObjectItemCaseSensitive(ca->index, "certs");
}

/* One index entry into e. Errors: PE_ECORRUPT. */
static int entry_get(const cJSON *c, struct pe_pki_entry *e)
{
    const char *serial, *cn, *kind, *status;
    int64_t nb, na, ra = 0;
    memset(e, 0, sizeof *e);
    if (pe_json_get_str(c, "serial", &serial) || strlen(serial) >= sizeof e->serial ||
        pe_json_get_str(c, "cn", &cn) || strlen(cn) >= sizeof e->cn ||
        pe_json_get_str(c, "kind", &kind) || pe_pki_kind_parse(kind, &e->kind) ||
        pe_json_get_str(c, "status", &status) || pe_json_get_int(c, "not_before", &nb) ||
        pe_json_get_int(c, "not_after", &na))
        return PE_ECORRUPT;
    pe_json_get_int(c, "revoked_at", &ra);
    snprintf(e->serial, sizeof e->serial, "%s", serial);
    snprintf(e->cn, sizeof e->cn, "%s", cn);
    e->not_before_ms = nb;
    e->not_after_ms = na;
    e->revoked = strcmp(status, "revoked") == 0;
    e->revoked_ms = e->revoked ? ra : 0;
    return PE_OK;
}

int pe_pki_list(const struct pe_pki_ca *ca, struct pe_pki_entry **out, size_t *n)
{
    const cJSON *certs = certs_of(ca), *c;
    size_t count = (size_t)cJSON_GetArraySize(certs), i = 0;
    struct pe_pki_entry *v = calloc(count ? count : 1, sizeof *v);
    if (!v)
        return PE_ENOMEM;
    cJSON_ArrayForEach(c, certs)
    {
        if (entry_get(c, &v[i]) == PE_OK)
            i++;
    }
    *out = v;
    *n = i;
    return PE_OK;
}

/* A serial that is not in the index: 16 random octets, positive, first octet non-zero (so the
 * DER INTEGER is exactly these 16 octets). */
static int random_serial(struct pe_rng *rng, const cJSON *certs, unsigned char out[SERIAL_LEN])
{
    for (;;) {
        int rc = pe_rng_bytes(rng, out, SERIAL_LEN);
        if (rc)
            return rc;
        out[0] = (unsigned char)((out[0] & 0x7f) | 0x40);
        char hex[2 * SERIAL_LEN + 1];
        pe_hex(out, SERIAL_LEN, hex);
        bool taken = false;
        const cJSON *c;
        cJSON_ArrayForEach(c, certs)
        {
            const char *s;
            if (pe_json_get_str(c, "serial", &s) == PE_OK && strcmp(s, hex) == 0)
                taken = true;
        }
        if (!taken)
            return PE_OK;
    }
}

static int index_add(struct pe_pki_ca *ca, const struct pe_pki_cert_info *info,
                     enum pe_pki_kind kind)
{
    cJSON *e = cJSON_CreateObject();
    if (!e)
        return PE_ENOMEM;
    if (pe_json_add_str(e, "serial", info->serial) || pe_json_add_str(e, "cn", info->cn) ||
        pe_json_add_str(e, "kind", kinds[kind].name) || pe_json_add_str(e, "store", info->store) ||
        pe_json_add_str(e, "terminal", info->terminal) ||
        pe_json_add_int(e, "not_before", info->not_before_ms) ||
        pe_json_add_int(e, "not_after", info->not_after_ms) ||
        pe_json_add_str(e, "status", "valid") || !cJSON_AddItemToArray(certs_of(ca), e)) {
        cJSON_Delete(e);
        return PE_ENOMEM;
    }
    return PE_OK;
}

static bool store_allowed(const struct pe_pki_ca *ca, const char *store)
{
    return strcmp(ca->store, "*") == 0 || strcmp(ca->store, store ? store : "") == 0;
}

/* Issue with the subject key pk (from a CSR or a key), the request already checked. */
static int issue_pk(struct pe_pki_ca *ca, const struct pe_pki_issue_req *req, const char *cn,
                    const struct san *san, mbedtls_pk_context *pk, char **pem_out,
                    struct pe_pki_cert_info *info_out, char *err, size_t errlen)
{
    int days = req->days ? req->days : kinds[req->kind].days;
    char subject[PE_PKI_CN_MAX + 16];
    snprintf(subject, sizeof subject, "CN=%s" ORG, cn);
    int64_t ca_end = x509_time_ms(&ca->crt.valid_to);
    struct certspec s = {.subject = subject,
                         .issuer = ca->subject,
                         .subject_key = pk,
                         .issuer_key = &ca->key,
                         .kind = req->kind,
                         .san = san,
                         .not_before_ms = req->now_ms - BACKDATE_MS,
                         .not_after_ms = req->now_ms + days * DAY_MS};
    if (s.not_after_ms > ca_end)
        s.not_after_ms = ca_end; /* nothing outlives the CA that vouches for it */
    if (s.not_after_ms <= req->now_ms) {
        say(err, errlen, "the CA certificate has expired: make a new CA");
        return PE_ESTATE;
    }
    char *pem = NULL;
    mbedtls_x509_crt crt;
    int rc = random_serial(ca->rng, certs_of(ca), s.serial);
    if (rc || (rc = write_cert(&s, ca->rng, &pem, err, errlen)))
        return rc;
    if ((rc = crt_parse("the new certificate", pem, strlen(pem), &crt, err, errlen)))
        goto free_pem;
    /* The issuer must be the CA's subject byte for byte, or chains will not build. */
    if (crt.issuer_raw.len != ca->crt.subject_raw.len ||
        memcmp(crt.issuer_raw.p, ca->crt.subject_raw.p, crt.issuer_raw.len) != 0) {
        say(err, errlen, "%s: its subject differs from %s/%s's subject", INDEX, ca->dir, CA_CRT);
        rc = PE_ECORRUPT;
        goto free_crt;
    }
    struct pe_pki_cert_info info;
    describe(&crt, &info);
    /* Recorded on disk before anyone gets the certificate. */
    if ((rc = index_add(ca, &info, req->kind)) ||
        (rc = save_json(ca, INDEX, ca->index, 0600, err, errlen))) {
        /* Keep memory as the disk has it: drop the entry just added. */
        cJSON *certs = certs_of(ca);
        int last = cJSON_GetArraySize(certs) - 1;
        cJSON *e = cJSON_GetArrayItem(certs, last);
        const char *sn;
        if (e && pe_json_get_str(e, "serial", &sn) == PE_OK && strcmp(sn, info.serial) == 0)
            cJSON_DeleteItemFromArray(certs, last);
        goto free_crt;
    }
    if (info_out)
        *info_out = info;
    *pem_out = pem;
    pem = NULL;
free_crt:
    mbedtls_x509_crt_free(&crt);
free_pem:
    free(pem);
    return rc;
}

/* Check a request's identity fields and SAN; cn and san get the results. */
static int issue_check(const struct pe_pki_ca *ca, const struct pe_pki_issue_req *req,
                       char cn[PE_PKI_CN_MAX], struct san *san, bool *has_san, char *err,
                       size_t errlen)
{
    int rc = pe_pki_cn_make(req->kind, req->store, req->terminal, cn, err, errlen);
    if (rc)
        return rc;
    if (!store_allowed(ca, req->store)) {
        say(err, errlen, "this CA issues for store %s only, not %s", ca->store, req->store);
        return PE_EINVAL;
    }
    if (req->days < 0 || req->days > MAX_DAYS) {
        say(err, errlen, "days %d out of range 1..%d", req->days, MAX_DAYS);
        return PE_EINVAL;
    }
    *has_san = req->san && *req->san;
    if (req->kind == PE_PKI_SERVER && !*has_san) {
        say(err, errlen, "a server certificate needs its host names (SAN DNS:name,IP:address)");
        return PE_EINVAL;
    }
    if (req->kind != PE_PKI_SERVER && *has_san) {
        say(err, errlen, "only a server certificate carries SAN entries");
        return PE_EINVAL;
    }
    if (*has_san && (rc = san_parse(req->san, san, err, errlen)))
        return rc;
    if (!req->csr_pem == !req->key) {
        say(err, errlen, "give exactly one of a CSR and a key");
        return PE_EINVAL;
    }
    return PE_OK;
}

int pe_pki_issue(struct pe_pki_ca *ca, const struct pe_pki_issue_req *req, char **pem_out,
                 struct pe_pki_cert_info *info, char *err, size_t errlen)
{
    char cn[PE_PKI_CN_MAX];
    struct san san;
    bool has_san = false;
    int rc = issue_check(ca, req, cn, &san, &has_san, err, errlen);
    if (rc)
        return rc;
    if (req->key)
        return issue_pk(ca, req, cn, has_san ? &san : NULL, (mbedtls_pk_context *)&req->key->pk,
                        pem_out, info, err, errlen);
    mbedtls_x509_csr csr;
    if ((rc = csr_parse(req->csr_pem, strlen(req->csr_pem), &csr, err, errlen)))
        return rc == PE_EPARSE ? PE_EDECLINED : rc;
    rc = issue_pk(ca, req, cn, has_san ? &san : NULL, &csr.pk, pem_out, info, err, errlen);
    mbedtls_x509_csr_free(&csr);
    return rc;
}

/* ---- revocation and the CRL ---- */

/* Lower-case hex without ':' of a serial given by a person. Errors: PE_EINVAL. */
static int serial_norm(const char *in, char out[PE_PKI_SERIAL_MAX])
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c == ':')
            continue;
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || n + 1 >= PE_PKI_SERIAL_MAX)
            return PE_EINVAL;
        out[n++] = c;
    }
    out[n] = '\0';
    return n > 0 && n % 2 == 0 ? PE_OK : PE_EINVAL;
}

static int mark_revoked(cJSON *c, int64_t now_ms)
{
    cJSON *st = cJSON_CreateString("revoked");
    if (!st || !cJSON_ReplaceItemInObjectCaseSensitive(c, "status", st)) {
        cJSON_Delete(st);
        return PE_ENOMEM;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(c, "revoked_at");
    return pe_json_add_int(c, "revoked_at", now_ms);
}

int pe_pki_revoke_serial(struct pe_pki_ca *ca, const char *serial, int64_t now_ms, char *err,
                         size_t errlen)
{
    char want[PE_PKI_SERIAL_MAX];
    if (!serial || serial_norm(serial, want)) {
        say(err, errlen, "serial \"%.60s\" is not hex", serial ? serial : "");
        return PE_EINVAL;
    }
    cJSON *c;
    cJSON_ArrayForEach(c, certs_of(ca))
    {
        struct pe_pki_entry e;
        if (entry_get(c, &e) || strcmp(e.serial, want) != 0)
            continue;
        if (e.revoked) {
            say(err, errlen, "serial %s (%s) is revoked already", want, e.cn);
            return PE_ESTATE;
        }
        int rc = mark_revoked(c, now_ms);
        if (rc || (rc = save_json(ca, INDEX, ca->index, 0600, err, errlen)))
            return rc;
        return crl_write_locked(ca, now_ms, 0, NULL, err, errlen);
    }
    say(err, errlen, "serial %s: not issued by the CA in %s", want, ca->dir);
    return PE_ENOTFOUND;
}

static cJSON *tokens_of(const struct pe_pki_ca *ca)
{
    return cJSON_GetObjectItemCaseSensitive(ca->tokens, "tokens");
}

static int set_str(cJSON *obj, const char *key, const char *v)
{
    cJSON *s = cJSON_CreateString(v);
    if (!s)
        return PE_ENOMEM;
    if (cJSON_GetObjectItemCaseSensitive(obj, key)) {
        if (!cJSON_ReplaceItemInObjectCaseSensitive(obj, key, s)) {
            cJSON_Delete(s);
            return PE_ENOMEM;
        }
    } else if (!cJSON_AddItemToObject(obj, key, s)) {
        cJSON_Delete(s);
        return PE_ENOMEM;
    }
    return PE_OK;
}

int pe_pki_revoke_terminal(struct pe_pki_ca *ca, const char *store, const char *terminal,
                           int64_t now_ms, int *ncerts, int *ntokens, char *err, size_t errlen)
{
    char cn[PE_PKI_CN_MAX];
    int certs = 0, toks = 0, rc = PE_OK;
    if (!pe_event_id_valid(store, 1) || !pe_event_id_valid(terminal, 1)) {
        say(err, errlen, "store \"%.40s\" or terminal \"%.40s\" is not an id", store ? store : "",
            terminal ? terminal : "");
        return PE_EINVAL;
    }
    snprintf(cn, sizeof cn, "%s/%s", store, terminal);
    /* Tokens first: once this returns, nothing of that terminal can enrol any more. */
    cJSON *t;
    cJSON_ArrayForEach(t, tokens_of(ca))
    {
        const char *ts, *tt, *st;
        if (pe_json_get_str(t, "store", &ts) == PE_OK && strcmp(ts, store) == 0 &&
            pe_json_get_str(t, "terminal", &tt) == PE_OK && strcmp(tt, terminal) == 0 &&
            pe_json_get_str(t, "status", &st) == PE_OK && strcmp(st, "unused") == 0) {
            if ((rc = set_str(t, "status", "void")))
                return rc;
            toks++;
        }
    }
    if (toks && (rc = save_json(ca, TOKENS, ca->tokens, 0600, err, errlen)))
        return rc;
    cJSON *c;
    cJSON_ArrayForEach(c, certs_of(ca))
    {
        struct pe_pki_entry e;
        if (entry_get(c, &e) || e.revoked || strcmp(e.cn, cn) != 0)
            continue;
        if ((rc = mark_revoked(c, now_ms)))
            return rc;
        certs++;
    }
    if (certs && (rc = save_json(ca, INDEX, ca->index, 0600, err, errlen)))
        return rc;
    if (ncerts)
        *ncerts = certs;
    if (ntokens)
        *ntokens = toks;
    return certs ? crl_write_locked(ca, now_ms, 0, NULL, err, errlen) : PE_OK;
}

/* Extension ::= SEQUENCE { extnID OID, extnValue OCTET STRING } (not critical). */
static int write_ext(unsigned char **c, unsigned char *start, const char *oid, size_t oid_len,
                     const unsigned char *val, size_t val_len)
{
    size_t len = 0;
    ADD(len, mbedtls_asn1_write_octet_string(c, start, val, val_len));
    ADD(len, mbedtls_asn1_write_oid(c, start, oid, oid_len));
    ADD(len, mbedtls_asn1_write_len(c, start, len));
    ADD(len, mbedtls_asn1_write_tag(c, start, SEQ));
    return (int)len;
}

/* AlgorithmIdentifier ecdsa-with-SHA256, parameters absent (RFC 5758 3.2: not NULL). */
static int write_sig_alg(unsigned char **c, unsigned char *start)
{
    size_t len = 0;
    ADD(len, mbedtls_asn1_write_oid(c, start, MBEDTLS_OID_ECDSA_SHA256,
                                    MBEDTLS_OID_SIZE(MBEDTLS_OID_ECDSA_SHA256)));
    ADD(len, mbedtls_asn1_write_len(c, start, len));
    ADD(len, mbedtls_asn1_write_tag(c, start, SEQ));
    return (int)len;
}

struct revoked {
    unsigned char serial[20];
    size_t len;
    int64_t when_ms;
};

/* An INTEGER of the serial's octets (a leading 0x00 when the top bit is set). */
static int write_serial(unsigned char **c, unsigned char *start, const struct revoked *r)
{
    size_t len = 0;
    ADD(len, mbedtls_asn1_write_raw_buffer(c, start, r->serial, r->len));
    if (r->serial[0] & 0x80) {
        if (*c - start < 1)
            return MBEDTLS_ERR_ASN1_BUF_TOO_SMALL;
        *--(*c) = 0x00;
        len++;
    }
    ADD(len, mbedtls_asn1_write_len(c, start, len));
    ADD(len, mbedtls_asn1_write_tag(c, start, MBEDTLS_ASN1_INTEGER));
    return (int)len;
}

/*
 * The CRL's DER, ending at buf + size (*out is its start):
 *   CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue }
 *   TBSCertList ::= SEQUENCE { version v2, signature, issuer, thisUpdate, nextUpdate,
 *                              revokedCertificates (absent when empty), [0] crlExtensions }
 * with the extensions authorityKeyIdentifier (the CA key's SKI) and cRLNumber.
 */
static int crl_der(struct pe_pki_ca *ca, unsigned char *buf, size_t size, int64_t this_ms,
                   int64_t next_ms, int64_t number, const struct revoked *rv, size_t nrv,
                   unsigned char **out)
{
    unsigned char *c = buf + size, tmp[96], *t, pub[160], *pp, kid[20];
    unsigned char hash[32], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t len = 0, exts = 0, sig_len = 0;
    int n;
    /* cRLNumber ::= INTEGER */
    t = tmp + sizeof tmp;
    n = mbedtls_asn1_write_int(&t, tmp, (int)number);
    if (n < 0)
        return n;
    ADD(exts, write_ext(&c, buf, MBEDTLS_OID_CRL_NUMBER, MBEDTLS_OID_SIZE(MBEDTLS_OID_CRL_NUMBER),
                        t, (size_t)n));
    /* AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING }, the
     * SHA-1 of the CA's subjectPublicKey bits, as mbedTLS computes the CA certificate's SKI. */
    pp = pub + sizeof pub;
    n = mbedtls_pk_write_pubkey(&pp, pub, &ca->key);
    if (n < 0)
        return n;
    if ((n = mbedtls_sha1_ret(pp, (size_t)n, kid)) != 0)
        return n;
    size_t a = 0;
    t = tmp + sizeof tmp;
    ADD(a, mbedtls_asn1_write_raw_buffer(&t, tmp, kid, sizeof kid));
    ADD(a, mbedtls_asn1_write_len(&t, tmp, sizeof kid));
    ADD(a, mbedtls_asn1_write_tag(&t, tmp, MBEDTLS_ASN1_CONTEXT_SPECIFIC | 0));
    ADD(a, mbedtls_asn1_write_len(&t, tmp, a));
    ADD(a, mbedtls_asn1_write_tag(&t, tmp, SEQ));
    ADD(exts, write_ext(&c, buf, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER,
                        MBEDTLS_OID_SIZE(MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER), t, a));
    ADD(exts, mbedtls_asn1_write_len(&c, buf, exts));
    ADD(exts, mbedtls_asn1_write_tag(&c, buf, SEQ));
    ADD(exts, mbedtls_asn1_write_len(&c, buf, exts));
    ADD(exts, mbedtls_asn1_write_tag(&c, buf,
                                     MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0));
    len += exts;
    /* revokedCertificates: omitted entirely when empty. */
    if (nrv > 0) {
        size_t list = 0;
        for (size_t i = nrv; i-- > 0;) {
            size_t e = 0;
            ADD(e, write_time(&c, buf, rv[i].when_ms));
            ADD(e, write_serial(&c, buf, &rv[i]));
            ADD(e, mbedtls_asn1_write_len(&c, buf, e));
            ADD(e, mbedtls_asn1_write_tag(&c, buf, SEQ));
            list += e;
        }
        ADD(list, mbedtls_asn1_write_len(&c, buf, list));
        ADD(list, mbedtls_asn1_write_tag(&c, buf, SEQ));
        len += list;
    }
    ADD(len, write_time(&c, buf, next_ms));
    ADD(len, write_time(&c, buf, this_ms));
    /* issuer: the CA certificate's subject, byte for byte */
    ADD(len,
        mbedtls_asn1_write_raw_buffer(&c, buf, ca->crt.subject_raw.p, ca->crt.subject_raw.len));
    ADD(len, write_sig_alg(&c, buf));
    ADD(len, mbedtls_asn1_write_int(&c, buf, 1)); /* v2 */
    ADD(len, mbedtls_asn1_write_len(&c, buf, len));
    ADD(len, mbedtls_asn1_write_tag(&c, buf, SEQ));
    size_t tbs_len = len;
    if ((n = mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), c, tbs_len, hash)) != 0 ||
        (n = mbedtls_pk_sign(&ca->key, MBEDTLS_MD_SHA256, hash, 0, sig, &sig_len, rng_cb,
                             ca->rng)) != 0)
        return n;
    /* The signature follows the TBS: build signatureAlgorithm and signatureValue in a second
     * buffer, move the TBS down to make room for them, and wrap the whole. */
    unsigned char tail[MBEDTLS_PK_SIGNATURE_MAX_SIZE + 64], *s = tail + sizeof tail;
    size_t tl = 0;
    ADD(tl, mbedtls_asn1_write_bitstring(&s, tail, sig, sig_len * 8));
    ADD(tl, write_sig_alg(&s, tail));
    if ((size_t)(c - buf) < tl + 8)
        return MBEDTLS_ERR_ASN1_BUF_TOO_SMALL;
    memmove(c - tl, c, tbs_len);
    c -= tl;
    memcpy(c + tbs_len, s, tl);
    len = tbs_len + tl;
    ADD(len, mbedtls_asn1_write_len(&c, buf, len));
    ADD(len, mbedtls_asn1_write_tag(&c, buf, SEQ));
    *out = c;
    return (int)len;
}

static int hex_octets(const char *hex, unsigned char *out, size_t max, size_t *n)
{
    size_t l = strlen(hex);
    if (l == 0 || l % 2 || l / 2 > max)
        return PE_EINVAL;
    for (size_t i = 0; i < l / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return PE_EINVAL;
        out[i] = (unsigned char)v;
    }
    *n = l / 2;
    return PE_OK;
}

static int crl_write_locked(struct pe_pki_ca *ca, int64_t now_ms, int days, char **pem_out,
                            char *err, size_t errlen)
{
    if (days == 0)
        days = PE_PKI_CRL_DAYS;
    if (days < 1 || days > 366) {
        say(err, errlen, "CRL days %d out of range 1..366", days);
        return PE_EINVAL;
    }
    int64_t number = 0;
    pe_json_get_int(ca->index, "crl_number", &number);
    number++;
    if (number > 0x7fffffff) {
        say(err, errlen, "cRLNumber exhausted");
        return PE_ERANGE;
    }
    /* The number is on disk before a CRL carries it: a crash never reuses one. */
    cJSON_DeleteItemFromObjectCaseSensitive(ca->index, "crl_number");
    int rc = pe_json_add_int(ca->index, "crl_number", number);
    if (rc || (rc = save_json(ca, INDEX, ca->index, 0600, err, errlen)))
        return rc;
    /* Every revoked certificate that has not expired (an expired one is refused anyway). */
    size_t cap = (size_t)cJSON_GetArraySize(certs_of(ca)), nrv = 0;
    struct revoked *rv = calloc(cap ? cap : 1, sizeof *rv);
    size_t size = 1024 + cap * 64, der_len, pem_size, olen = 0;
    unsigned char *buf = malloc(size), *der = NULL, *pem = NULL;
    char path[4200];
    if (!rv || !buf) {
        rc = PE_ENOMEM;
        goto done;
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, certs_of(ca))
    {
        struct pe_pki_entry e;
        if (entry_get(c, &e) || !e.revoked || e.not_after_ms < now_ms)
            continue;
        if (hex_octets(e.serial, rv[nrv].serial, sizeof rv[nrv].serial, &rv[nrv].len))
            continue;
        rv[nrv++].when_ms = e.revoked_ms;
    }
    int n = crl_der(ca, buf, size, now_ms, now_ms + days * DAY_MS, number, rv, nrv, &der);
    if (n < 0) {
        rc = mbed_fail(err, errlen, PE_ESYS, "writing the CRL", n);
        goto done;
    }
    der_len = (size_t)n;
    pem_size = der_len * 2 + 128;
    if (!(pem = malloc(pem_size))) {
        rc = PE_ENOMEM;
        goto done;
    }
    if ((n = mbedtls_pem_write_buffer("-----BEGIN X509 CRL-----\n", "-----END X509 CRL-----\n", der,
                                      der_len, pem, pem_size, &olen)) != 0) {
        rc = mbed_fail(err, errlen, PE_ESYS, "encoding the CRL", n);
        goto done;
    }
    olen -= 1; /* it counts the NUL */
    if ((rc = path_in(ca, CRL, path, sizeof path, err, errlen)) ||
        (rc = pe_file_write_atomic_mode(path, pem, olen, 0644, 0, err, errlen)) ||
        (rc = own_like_dir(ca, path, err, errlen)))
        goto done;
    if (pem_out) {
        *pem_out = (char *)pem;
        pem = NULL;
    }
done:
    free(pem);
    free(buf);
    free(rv);
    return rc;
}

int pe_pki_crl_write(struct pe_pki_ca *ca, int64_t now_ms, int days, char **pem_out, char *err,
                     size_t errlen)
{
    return crl_write_locked(ca, now_ms, days, pem_out, err, errlen);
}

int pe_pki_crl_info_file(const char *path, struct pe_pki_crl_info *out, char *err,
                         size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = pe_file_read(path, MAX_FILE, &text, &len, err, errlen);
    if (rc)
        return rc;
    mbedtls_x509_crl crl;
    mbedtls_x509_crl_init(&crl);
    size_t n = len > 0 && (unsigned char)text[0] != 0x30 ? strlen(text) + 1 : len;
    int mrc = mbedtls_x509_crl_parse(&crl, (const unsigned char *)text, n);
    free(text);
    if (mrc != 0) {
        char what[512];
        snprintf(what, sizeof what, "CRL %s", path);
        mbedtls_x509_crl_free(&crl);
        return mbed_fail(err, errlen, PE_EPARSE, what, mrc);
    }
    memset(out, 0, sizeof *out);
    out->this_update_ms = x509_time_ms(&crl.this_update);
    out->next_update_ms = x509_time_ms(&crl.next_update);
    out->number = -1;
    for (const mbedtls_x509_crl_entry *e = &crl.entry; e && e->serial.len; e = e->next)
        out->revoked++;
    const unsigned char *v;
    size_t vlen;
    if (find_ext(&crl.crl_ext, MBEDTLS_OID_CRL_NUMBER, MBEDTLS_OID_SIZE(MBEDTLS_OID_CRL_NUMBER), &v,
                 &vlen)) {
        unsigned char *p = (unsigned char *)v;
        int num;
        if (mbedtls_asn1_get_int(&p, p + vlen, &num) == 0)
            out->number = num;
    }
    mbedtls_x509_crl_free(&crl);
    return PE_OK;
}

/* ---- enrolment tokens ---- */

static const char B32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/* A token as typed (any case, '-' and blanks ignored) into its canonical form. */
static bool token_norm(const char *in, char out[PE_PKI_TOKEN_LEN + 1])
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c == '-' || c == ' ' || c == '\t')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (!strchr(B32, c) || n == PE_PKI_TOKEN_LEN)
            return false;
        out[n++] = c;
    }
    out[n] = '\0';
    return n == PE_PKI_TOKEN_LEN;
}

static void token_hash(const char *token, char hex[PE_SHA256_HEXLEN])
{
    uint8_t h[PE_SHA256_LEN];
    pe_sha256_2("posedge-enrol/", 14, token, strlen(token), h);
    pe_hex(h, sizeof h, hex);
}

int pe_pki_token_create(struct pe_pki_ca *ca, const char *store, const char *terminal, int ttl_h,
                        int64_t now_ms, char token[PE_PKI_TOKEN_LEN + 1], char *err,
                        size_t errlen)
{
    char cn[PE_PKI_CN_MAX], hash[PE_SHA256_HEXLEN];
    int rc = pe_pki_cn_make(PE_PKI_TERMINAL, store, terminal, cn, err, errlen);
    if (rc)
        return rc;
    if (!store_allowed(ca, store)) {
        say(err, errlen, "this CA issues for store %s only, not %s", ca->store, store);
        return PE_EINVAL;
    }
    if (ttl_h < 1 || ttl_h > TOKEN_MAX_H) {
        say(err, errlen, "token lifetime %d h out of range 1..%d", ttl_h, TOKEN_MAX_H);
        return PE_EINVAL;
    }
    /* 15 random octets are exactly 24 base32 characters (120 bits). */
    unsigned char r[15];
    if ((rc = pe_rng_bytes(ca->rng, r, sizeof r)))
        return rc;
    for (int i = 0; i < PE_PKI_TOKEN_LEN; i++) {
        int bit = i * 5, byte = bit / 8, off = bit % 8;
        unsigned v = (unsigned)r[byte] << 8 | (byte + 1 < 15 ? r[byte + 1] : 0);
        token[i] = B32[(v >> (11 - off)) & 31];
    }
    token[PE_PKI_TOKEN_LEN] = '\0';
    pe_secret_wipe(r, sizeof r);
    token_hash(token, hash);
    cJSON *t = cJSON_CreateObject();
    if (!t || pe_json_add_str(t, "hash", hash) || pe_json_add_str(t, "store", store) ||
        pe_json_add_str(t, "terminal", terminal) || pe_json_add_int(t, "created", now_ms) ||
        pe_json_add_int(t, "expires", now_ms + (int64_t)ttl_h * 3600000) ||
        pe_json_add_str(t, "status", "unused") || !cJSON_AddItemToArray(tokens_of(ca), t)) {
        cJSON_Delete(t);
        pe_secret_wipe(token, PE_PKI_TOKEN_LEN + 1);
        return PE_ENOMEM;
    }
    if ((rc = save_json(ca, TOKENS, ca->tokens, 0600, err, errlen))) {
        cJSON_DeleteItemFromArray(tokens_of(ca), cJSON_GetArraySize(tokens_of(ca)) - 1);
        pe_secret_wipe(token, PE_PKI_TOKEN_LEN + 1);
    }
    return rc;
}

/* ---- the enrolment signer ---- */

static int refuse(enum pe_pki_refusal r, enum pe_pki_refusal *why, char *err, size_t errlen)
{
    *why = r;
    say(err, errlen, "%s", refusal_msgs[r]);
    return PE_EDECLINED;
}

/* The token check of a first enrolment, spending the token on disk. */
static int spend_token(struct pe_pki_ca *ca, const struct pe_pki_enrol_req *req,
                       enum pe_pki_refusal *why, char *err, size_t errlen)
{
    char tok[PE_PKI_TOKEN_LEN + 1], hash[PE_SHA256_HEXLEN];
    if (!token_norm(req->token, tok))
        return refuse(PE_PKI_REFUSE_BAD_TOKEN, why, err, errlen);
    token_hash(tok, hash);
    pe_secret_wipe(tok, sizeof tok);
    cJSON *t, *found = NULL;
    cJSON_ArrayForEach(t, tokens_of(ca))
    {
        const char *h;
        if (pe_json_get_str(t, "hash", &h) == PE_OK && strcmp(h, hash) == 0)
            found = t;
    }
    if (!found)
        return refuse(PE_PKI_REFUSE_BAD_TOKEN, why, err, errlen);
    const char *ts = "", *tt = "", *st = "";
    int64_t expires = 0;
    pe_json_get_str(found, "store", &ts);
    pe_json_get_str(found, "terminal", &tt);
    pe_json_get_str(found, "status", &st);
    pe_json_get_int(found, "expires", &expires);
    if (strcmp(ts, req->store) != 0 || strcmp(tt, req->terminal) != 0)
        return refuse(PE_PKI_REFUSE_WRONG_TERMINAL, why, err, errlen);
    if (strcmp(st, "void") == 0)
        return refuse(PE_PKI_REFUSE_REVOKED, why, err, errlen);
    if (strcmp(st, "unused") != 0)
        return refuse(PE_PKI_REFUSE_TOKEN_USED, why, err, errlen);
    if (req->now_ms >= expires)
        return refuse(PE_PKI_REFUSE_TOKEN_EXPIRED, why, err, errlen);
    int rc = set_str(found, "status", "used");
    if (rc == PE_OK) {
        cJSON_DeleteItemFromObjectCaseSensitive(found, "used_at");
        rc = pe_json_add_int(found, "used_at", req->now_ms);
    }
    /* Durable before the certificate exists: a crash after this burns the token, and a token
     * can never be used twice. */
    if (rc == PE_OK)
        rc = save_json(ca, TOKENS, ca->tokens, 0600, err, errlen);
    return rc;
}

/* A renewal: the identity must hold a valid certificate of this CA. */
static int check_renewal(const struct pe_pki_ca *ca, const char *cn, int64_t now_ms,
                         enum pe_pki_refusal *why, char *err, size_t errlen)
{
    bool revoked = false;
    const cJSON *c;
    cJSON_ArrayForEach(c, certs_of(ca))
    {
        struct pe_pki_entry e;
        if (entry_get(c, &e) || strcmp(e.cn, cn) != 0)
            continue;
        if (e.revoked)
            revoked = true;
        else if (e.not_before_ms <= now_ms && now_ms < e.not_after_ms)
            return PE_OK;
    }
    return refuse(revoked ? PE_PKI_REFUSE_REVOKED : PE_PKI_REFUSE_NOT_ENROLLED, why, err, errlen);
}

int pe_pki_enrol(const char *dir, const struct pe_pki_enrol_req *req, char **pem_out,
                 enum pe_pki_refusal *why, char *err, size_t errlen)
{
    char cn[PE_PKI_CN_MAX];
    *why = PE_PKI_REFUSE_NONE;
    if (!req->csr_pem || (!req->token == !req->authenticated) || req->days < 0 ||
        req->days > MAX_DAYS ||
        pe_pki_cn_make(PE_PKI_TERMINAL, req->store, req->terminal, cn, NULL, 0) != PE_OK)
        return refuse(PE_PKI_REFUSE_BAD_REQUEST, why, err, errlen);
    struct pe_pki_ca *ca;
    int rc = pe_pki_ca_open(dir, &ca, err, errlen);
    if (rc)
        return rc;
    mbedtls_x509_csr csr;
    bool have_csr = false;
    if (!store_allowed(ca, req->store)) {
        rc = refuse(PE_PKI_REFUSE_WRONG_STORE, why, err, errlen);
        goto done;
    }
    /* The CSR before the token: a till with a broken CSR keeps its token. */
    if (csr_parse(req->csr_pem, strlen(req->csr_pem), &csr, NULL, 0) != PE_OK) {
        rc = refuse(PE_PKI_REFUSE_BAD_CSR, why, err, errlen);
        goto done;
    }
    have_csr = true;
    rc = req->token ? spend_token(ca, req, why, err, errlen)
                    : check_renewal(ca, cn, req->now_ms, why, err, errlen);
    if (rc)
        goto done;
    struct pe_pki_issue_req ir = {.kind = PE_PKI_TERMINAL,
                                  .store = req->store,
                                  .terminal = req->terminal,
                                  .csr_pem = req->csr_pem,
                                  .days = req->days,
                                  .now_ms = req->now_ms};
    rc = issue_pk(ca, &ir, cn, NULL, &csr.pk, pem_out, NULL, err, errlen);
done:
    if (have_csr)
        mbedtls_x509_csr_free(&csr);
    pe_pki_ca_close(ca);
    return rc;
}

/* ---- verification ---- */

static int crl_load(const char *path, mbedtls_x509_crl *crl, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    mbedtls_x509_crl_init(crl);
    int rc = pe_file_read(path, MAX_FILE, &text, &len, err, errlen);
    if (rc)
        return rc;
    size_t n = len > 0 && (unsigned char)text[0] != 0x30 ? strlen(text) + 1 : len;
    int mrc = mbedtls_x509_crl_parse(crl, (const unsigned char *)text, n);
    free(text);
    if (mrc != 0) {
        char what[512];
        snprintf(what, sizeof what, "CRL %s", path);
        mbedtls_x509_crl_free(crl);
        return mbed_fail(err, errlen, PE_EPARSE, what, mrc);
    }
    return PE_OK;
}

static int verdict(enum pe_pki_verdict v, enum pe_pki_verdict *out)
{
    *out = v;
    return v == PE_PKI_VERDICT_OK ? PE_OK : PE_EDECLINED;
}

int pe_pki_verify(const char *cert_path, const char *ca_path, const char *crl_path,
                  int64_t now_ms, enum pe_pki_verdict *v, char *err, size_t errlen)
{
    mbedtls_x509_crt crt, ca;
    mbedtls_x509_crl crl;
    mbedtls_x509_crl_init(&crl);
    mbedtls_x509_crt_init(&ca);
    *v = PE_PKI_VERDICT_BAD;
    int rc = crt_load(cert_path, &crt, err, errlen);
    if (rc)
        return rc;
    if ((rc = crt_load(ca_path, &ca, err, errlen)) ||
        (crl_path && (rc = crl_load(crl_path, &crl, err, errlen))))
        goto done;
    char t[PE_TIME_STRLEN];
    /* A CRL of another CA would be skipped silently by mbedTLS: refuse it here. */
    if (crl_path && (crl.issuer_raw.len != ca.subject_raw.len ||
                     memcmp(crl.issuer_raw.p, ca.subject_raw.p, ca.subject_raw.len) != 0)) {
        say(err, errlen, "CRL %s is not from the CA in %s", crl_path, ca_path);
        rc = verdict(PE_PKI_VERDICT_CRL_BAD, v);
        goto done;
    }
    uint32_t flags = 0;
    mbedtls_x509_crt_verify(&crt, &ca, crl_path ? &crl : NULL, NULL, &flags, NULL, NULL);
    /* Times are judged against now_ms below, not against this machine's clock. */
    flags &= ~(uint32_t)(MBEDTLS_X509_BADCERT_EXPIRED | MBEDTLS_X509_BADCERT_FUTURE |
                         MBEDTLS_X509_BADCRL_EXPIRED | MBEDTLS_X509_BADCRL_FUTURE);
    if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) {
        say(err, errlen, "%s is not signed by the CA in %s", cert_path, ca_path);
        rc = verdict(PE_PKI_VERDICT_WRONG_CA, v);
    } else if (flags & MBEDTLS_X509_BADCRL_NOT_TRUSTED) {
        say(err, errlen, "CRL %s is not signed by the CA in %s", crl_path, ca_path);
        rc = verdict(PE_PKI_VERDICT_CRL_BAD, v);
    } else if (flags & MBEDTLS_X509_BADCERT_REVOKED) {
        say(err, errlen, "%s is revoked (CRL %s)", cert_path, crl_path);
        rc = verdict(PE_PKI_VERDICT_REVOKED, v);
    } else if (flags) {
        char info[256];
        mbedtls_x509_crt_verify_info(info, sizeof info, "", flags);
        info[strcspn(info, "\n")] = '\0';
        say(err, errlen, "%s does not verify: %s", cert_path, info);
        rc = verdict(PE_PKI_VERDICT_BAD, v);
    } else if (now_ms >= x509_time_ms(&crt.valid_to)) {
        pe_time_format(x509_time_ms(&crt.valid_to), t);
        say(err, errlen, "%s expired on %s", cert_path, t);
        rc = verdict(PE_PKI_VERDICT_EXPIRED, v);
    } else if (now_ms < x509_time_ms(&crt.valid_from)) {
        pe_time_format(x509_time_ms(&crt.valid_from), t);
        say(err, errlen, "%s is not valid before %s", cert_path, t);
        rc = verdict(PE_PKI_VERDICT_NOT_YET_VALID, v);
    } else if (now_ms >= x509_time_ms(&ca.valid_to) || now_ms < x509_time_ms(&ca.valid_from)) {
        pe_time_format(x509_time_ms(&ca.valid_to), t);
        say(err, errlen, "the CA certificate %s is not valid now (valid until %s)", ca_path, t);
        rc = verdict(PE_PKI_VERDICT_CA_EXPIRED, v);
    } else if (crl_path && now_ms >= x509_time_ms(&crl.next_update)) {
        pe_time_format(x509_time_ms(&crl.next_update), t);
        say(err, errlen, "CRL %s is past its next update (%s): the broker refuses every client",
            crl_path, t);
        rc = verdict(PE_PKI_VERDICT_CRL_EXPIRED, v);
    } else {
        rc = verdict(PE_PKI_VERDICT_OK, v);
    }
done:
    mbedtls_x509_crl_free(&crl);
    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crt_free(&crt);
    return rc;
}

int pe_pki_key_matches(const char *key_path, const char *cert_path, char *err, size_t errlen)
{
    struct pe_pki_key *key;
    int rc = pe_pki_key_load(key_path, &key, err, errlen);
    if (rc)
        return rc;
    mbedtls_x509_crt crt;
    if ((rc = crt_load(cert_path, &crt, err, errlen)) == PE_OK) {
        if (mbedtls_pk_check_pair(&crt.pk, &key->pk) != 0) {
            say(err, errlen, "key file %s does not belong to certificate %s", key_path,
                cert_path);
            rc = PE_EDECLINED;
        }
        mbedtls_x509_crt_free(&crt);
    }
    pe_pki_key_destroy(key);
    return rc;
}

int pe_pki_self_check(const char *ca_path, const char *cert_path, const char *key_path,
                      const char *crl_path, int64_t now_ms, struct pe_pki_self *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof *out);
    enum pe_pki_verdict v;
    int rc = pe_pki_cert_info_file(cert_path, &out->cert, err, errlen);
    if (rc)
        return rc;
    out->days_left = pe_pki_days_left(out->cert.not_after_ms, now_ms);
    if (crl_path) {
        struct pe_pki_crl_info ci;
        if ((rc = pe_pki_crl_info_file(crl_path, &ci, err, errlen)))
            return rc;
        out->crl = true;
        out->crl_next_update_ms = ci.next_update_ms;
        out->crl_days_left = pe_pki_days_left(ci.next_update_ms, now_ms);
    }
    if ((rc = pe_pki_key_matches(key_path, cert_path, err, errlen)))
        return rc;
    return pe_pki_verify(cert_path, ca_path, crl_path, now_ms, &v, err, errlen);
}
