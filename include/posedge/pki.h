/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pki.h - the store PKI: an ECDSA P-256 certificate authority on mbedTLS (posedge-ctl pki, the
 * bridge's enrolment signer, the daemons' --self-test).
 *
 * Identities. Every certificate the CA issues names exactly one identity in its subject's first
 * (and only) CN, "<store>/<name>": "s001/t01" for till t01 of store s001, "s001/bridge" for the
 * store's bridge, "s001/hq" for an HQ operator tool, "s001/server" for a server (the store
 * broker, a Kafka broker; those carry their host names as SAN entries). Both parts are ids
 * (pe_event_id_valid: letters, digits, '.', '_', '-'), so mosquitto's use_identity_as_username
 * makes %u = "s001/t01" and the ACL line "pattern write posedge/v1/%u/events" reaches that till's
 * own topic and no other; '+', '#', '/' or NUL can never appear inside a part. The names bridge,
 * hq and server are reserved: no till may be called so. The subject always comes from what the
 * CA authorised (the command line, or the store and terminal of an enrolment token), never from
 * a CSR: of a CSR only the key is used, after its signature is checked.
 *
 * Keys are ECDSA P-256. A till makes its own key and sends a CSR; its key never leaves it. Key
 * files are written 0600 (atomically, never replacing an existing key) as PKCS#8 ("BEGIN
 * PRIVATE KEY", what Kafka's PEM keystore needs) or SEC1 ("BEGIN EC PRIVATE KEY"); key material
 * is never printed or logged, and every buffer that held it is wiped.
 *
 * The CA directory (one per store CA, or one HQ CA for every store):
 *
 *   ca.key       0600  the CA's private key (PKCS#8 PEM)
 *   ca.crt       0644  the self-signed CA certificate (basicConstraints CA, pathlen 0;
 *                      keyCertSign|cRLSign; SKI): the trust anchor tills and brokers get
 *   index.json   0600  {"v":1, "store":"s001" ("*" for an HQ CA), "subject":"CN=...,O=posedge",
 *                      "crl_number":N, "certs":[{"serial":"<hex>", "cn":"s001/t01",
 *                      "kind":"terminal", "store", "terminal", "not_before":ms, "not_after":ms,
 *                      "status":"valid"|"revoked", "revoked_at":ms}]}: every certificate issued
 *   tokens.json  0600  {"v":1, "tokens":[{"hash":"<sha256 hex of the token>", "store",
 *                      "terminal", "created":ms, "expires":ms, "status":"unused"|"used"|
 *                      "void", "used_at":ms}]}: enrolment tokens, by hash only
 *   crl.pem      0644  the current CRL (v2, cRLNumber, AKI), rewritten on every revocation
 *                      and by "posedge-ctl pki crl" (daily: a CRL past its next update locks
 *                      every client out of the broker)
 *
 * Every file is replaced atomically (temporary, fsync, rename, fsync the folder). A process that
 * changes the directory holds an exclusive flock(2) on the directory itself while it reads and
 * writes, so the bridge's signer and an operator's posedge-ctl never interleave. index.json is
 * written before a certificate is handed out, and an enrolment token is marked used on disk
 * before the certificate is made: a crash can burn a token, never let one be used twice.
 * The directory's files belong to the directory's owner: root working on a CA that another
 * user owns (the bridge's, user posedge, in the package) gives every file it writes there to
 * that user, so the signer can still read them.
 *
 * Times are UTC milliseconds since the epoch and always passed in (now_ms), so tests can put
 * the CA anywhere in time. Written for the mbedTLS 2.28 API (Debian 12).
 */
#ifndef POSEDGE_PKI_H
#define POSEDGE_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posedge/event.h"
#include "posedge/protocol.h"

#define PE_PKI_CN_MAX (2 * PE_ID_MAX) /* "<store>/<name>" and NUL */
#define PE_PKI_SERIAL_MAX 41          /* up to 20 octets as hex, and NUL */
#define PE_PKI_FPR_LEN 65             /* SHA-256 fingerprint as hex, and NUL */
#define PE_PKI_TOKEN_LEN 24           /* an enrolment token: 24 base32 characters (120 bits) */
#define PE_PKI_ERRLEN 512             /* a comfortable size for the err buffers below */

/* Warning thresholds of --self-test and the state documents. */
#define PE_PKI_CERT_WARN_DAYS 30 /* a certificate with fewer days left wants renewing */
#define PE_PKI_CRL_WARN_DAYS 2   /* a CRL this close to its next update wants reissuing */
#define PE_PKI_CRL_DAYS 7        /* default next update of a CRL (reissued daily) */

/* Kinds of certificate: X(NAME, name, reserved CN name or NULL, EKU, default days).
 * The EKU is "client" (TLS clientAuth), "server" (serverAuth) or NULL (the CA: none). */
#define PE_PKI_KINDS(X)                                                                            \
    X(CA, "ca", NULL, NULL, 3650)                                                                  \
    X(TERMINAL, "terminal", NULL, "client", 90)                                                    \
    X(BRIDGE, PE_ID_BRIDGE, PE_ID_BRIDGE, "client", 365) /* the reserved id of protocol.h */       \
    X(HQ, "hq", "hq", "client", 365)                                                               \
    X(SERVER, "server", "server", "server", 365)

enum pe_pki_kind {
#define PE__PKI_KIND_ENUM(e, name, cn, eku, days) PE_PKI_##e,
    PE_PKI_KINDS(PE__PKI_KIND_ENUM)
#undef PE__PKI_KIND_ENUM
};

/* "terminal", "server", ...; NULL for an out-of-range value. */
const char *pe_pki_kind_name(enum pe_pki_kind k);

/* Parse a kind's name. Errors: PE_EINVAL. */
int pe_pki_kind_parse(const char *s, enum pe_pki_kind *out);

/* The kind's default validity in days. */
int pe_pki_kind_days(enum pe_pki_kind k);

/*
 * The CN of an identity into out (PE_PKI_CN_MAX bytes): "<store>/<terminal>" for a TERMINAL
 * (terminal must be an id and not a reserved name), "<store>/bridge|hq|server" for the others
 * (terminal is ignored). Errors: PE_EINVAL (err names the bad part: not an id, or reserved;
 * kind CA has no such CN).
 */
int pe_pki_cn_make(enum pe_pki_kind kind, const char *store, const char *terminal,
                   char out[PE_PKI_CN_MAX], char *err, size_t errlen);

/* Split a CN "<store>/<name>" into its two parts (each a valid id). Errors: PE_EINVAL. */
int pe_pki_cn_split(const char *cn, char store[PE_ID_MAX], char name[PE_ID_MAX]);

/* ---- keys ---- */

struct pe_rng;
struct pe_pki_key;

enum pe_pki_key_format {
    PE_PKI_KEY_PKCS8, /* "BEGIN PRIVATE KEY" (the default: Kafka, OpenSSL, mosquitto, mbedTLS) */
    PE_PKI_KEY_SEC1,  /* "BEGIN EC PRIVATE KEY" */
};

/* Generate a P-256 key pair from rng (borrowed). *out is the caller's (pe_pki_key_destroy).
 * Errors: PE_ENOMEM, PE_ESYS (the generator failed). */
int pe_pki_key_generate(struct pe_rng *rng, struct pe_pki_key **out, char *err, size_t errlen);

/*
 * Load a private key file (PKCS#8 or SEC1 PEM, unencrypted). The file must not be readable by
 * others nor writable by its group (as ssh); it must hold a P-256 key. Errors: PE_EIO (cannot
 * read), PE_EINVAL (mode too open: err names the file and the mode; or not a P-256 key),
 * PE_EPARSE (not a key), PE_ENOMEM. err never contains key material.
 */
int pe_pki_key_load(const char *path, struct pe_pki_key **out, char *err, size_t errlen);

/* Write the key to path, mode 0600, atomically; an existing file is never replaced.
 * Errors: PE_EEXIST, PE_EIO, PE_ENOMEM. */
int pe_pki_key_save(const struct pe_pki_key *key, const char *path, enum pe_pki_key_format fmt,
                    char *err, size_t errlen);

/* Free and wipe; NULL is a no-op. */
void pe_pki_key_destroy(struct pe_pki_key *key);

/*
 * Sign a SHA-256 digest with key: deterministic ECDSA (RFC 6979, so no signature depends on the
 * quality of a random draw; byte for byte mbedtls_ecdsa_sign_det_ext's), the arithmetic
 * libcrypto's constant-time P-256 with the inversion blinded by draws from rng (borrowed). The
 * first call keeps libcrypto's form of the key in key (wiped by pe_pki_key_destroy). rs gets r
 * and s, 32 big-endian octets each (the raw form of JWS ES256 and of PKCS#11 CKM_ECDSA).
 * Errors: PE_ESYS (mbedTLS or libcrypto failed: err says how), PE_ENOMEM.
 */
int pe_pki_key_sign_digest(struct pe_pki_key *key, const uint8_t digest[32], struct pe_rng *rng,
                           uint8_t rs[64], char *err, size_t errlen);

/* The key's public half as a PEM SubjectPublicKeyInfo ("BEGIN PUBLIC KEY"): *pem_out is
 * malloc'd, NUL-terminated, the caller's. Errors: PE_ENOMEM, PE_ESYS. */
int pe_pki_key_public_pem(const struct pe_pki_key *key, char **pem_out, char *err, size_t errlen);

/* ---- certificate signing requests ---- */

/*
 * A PEM CSR for key with subject CN "<store>/<terminal>" (kind TERMINAL's rules; the CA takes
 * the subject from its own authorisation anyway). *pem_out is malloc'd, NUL-terminated, the
 * caller's. Errors: PE_EINVAL (bad store or terminal), PE_ENOMEM, PE_ESYS.
 */
int pe_pki_csr_create(const struct pe_pki_key *key, const char *store, const char *terminal,
                      struct pe_rng *rng, char **pem_out, char *err, size_t errlen);

/*
 * Parse a PEM CSR of len bytes and verify its own signature, which mbedTLS's parser does not;
 * the key must be P-256. cn_out (PE_PKI_CN_MAX bytes, may be NULL) gets the CSR's first CN, for
 * information only. Errors: PE_EPARSE (not a CSR), PE_EDECLINED (bad signature, or not a P-256
 * key: err says which).
 */
int pe_pki_csr_check(const char *pem, size_t len, char cn_out[PE_PKI_CN_MAX], char *err,
                     size_t errlen);

/* ---- the CA ---- */

struct pe_pki_ca;

struct pe_pki_ca_init {
    const char *dir;   /* created 0700 when missing; must not hold a CA yet */
    const char *store; /* the store it issues for, or NULL with hq */
    bool hq;           /* an HQ CA: issues for every store */
    const char *name;  /* the CA's CN; NULL: "posedge store <store> CA" / "posedge HQ CA" */
    int days;          /* validity; 0: the kind's default (3650) */
    int64_t now_ms;    /* the time of creation */
};

/*
 * Create a CA: key, self-signed certificate, index, tokens and a first (empty) CRL with the
 * default next update. Errors: PE_EINVAL (bad store or name; err says which), PE_EEXIST (dir
 * holds a CA already), PE_EIO, PE_ENOMEM, PE_ESYS.
 */
int pe_pki_ca_init(const struct pe_pki_ca_init *o, char *err, size_t errlen);

/*
 * Open the CA of dir, taking its lock (waiting up to 5 s for another process to finish), and
 * loading the key (mode checked as pe_pki_key_load), certificate and index. *out is the
 * caller's (pe_pki_ca_close). Errors: PE_EIO, PE_EINVAL (key file mode), PE_EPARSE or
 * PE_ECORRUPT (a file is damaged: err names it), PE_EBUSY (still locked), PE_ENOMEM, PE_ESYS.
 */
int pe_pki_ca_open(const char *dir, struct pe_pki_ca **out, char *err, size_t errlen);

/* Release the lock and free (wiping the key); NULL is a no-op. */
void pe_pki_ca_close(struct pe_pki_ca *ca);

/* The CA's store ("*" for an HQ CA). Valid until pe_pki_ca_close. */
const char *pe_pki_ca_store(const struct pe_pki_ca *ca);

/* What an issued certificate (or one read from a file) says. */
struct pe_pki_cert_info {
    char cn[PE_PKI_CN_MAX];          /* the subject's first CN ("" when none) */
    char store[PE_ID_MAX];           /* its two parts, "" when the CN is not "<id>/<id>" */
    char terminal[PE_ID_MAX];        /* "t01", or bridge, hq, server */
    enum pe_pki_kind kind;           /* CA, SERVER (serverAuth), else by the CN's second part */
    char issuer_cn[PE_PKI_CN_MAX];   /* the issuer's first CN */
    char serial[PE_PKI_SERIAL_MAX];  /* lower-case hex of the serial's octets */
    int64_t not_before_ms;           /* validity */
    int64_t not_after_ms;            /* */
    char fingerprint[PE_PKI_FPR_LEN]; /* SHA-256 of the DER, lower-case hex */
    char san[256];                   /* "DNS:localhost,IP:127.0.0.1" ("" when none) */
};

struct pe_pki_issue_req {
    enum pe_pki_kind kind;         /* TERMINAL, BRIDGE, HQ or SERVER */
    const char *store;             /* must be the CA's store (any id for an HQ CA) */
    const char *terminal;          /* TERMINAL: the till's id */
    const char *csr_pem;           /* the CSR whose key is certified (its subject is ignored), */
    const struct pe_pki_key *key;  /* or the key itself (exactly one of the two) */
    const char *san;               /* SERVER (required): "DNS:name,IP:addr,..."; else NULL */
    int days;                      /* 0: the kind's default; capped at the CA's own expiry */
    int64_t now_ms;                /* not_before = now - 1 h (clock skew), not_after = now + days */
};

/*
 * Issue a certificate: serial of 16 random octets, EKU clientAuth (serverAuth and the SAN for
 * SERVER), keyUsage digitalSignature, SKI and AKI. The index records it (durably) before
 * *pem_out (malloc'd, the caller's) is set; info (may be NULL) describes it. Errors: PE_EINVAL
 * (bad request: err says which field), PE_EDECLINED (bad CSR), PE_ESTATE (the CA certificate
 * has expired), PE_ECORRUPT (index.json's subject is not ca.crt's), PE_EIO, PE_ENOMEM, PE_ESYS.
 */
int pe_pki_issue(struct pe_pki_ca *ca, const struct pe_pki_issue_req *req, char **pem_out,
                 struct pe_pki_cert_info *info, char *err, size_t errlen);

/*
 * Revoke the certificate with serial hex (upper or lower case, ':' allowed) and write a new
 * CRL (default next update). Errors: PE_ENOTFOUND (not issued by this CA), PE_ESTATE (revoked
 * already), PE_EINVAL, PE_EIO, PE_ENOMEM.
 */
int pe_pki_revoke_serial(struct pe_pki_ca *ca, const char *serial, int64_t now_ms, char *err,
                         size_t errlen);

/*
 * Revoke every unrevoked certificate of identity "<store>/<terminal>" (terminal may be bridge,
 * hq or server too) and void its unused enrolment tokens, then write a new CRL. *ncerts and
 * *ntokens (may be NULL) get the counts. Revoking nothing is not an error. Errors: PE_EINVAL,
 * PE_EIO, PE_ENOMEM.
 */
int pe_pki_revoke_terminal(struct pe_pki_ca *ca, const char *store, const char *terminal,
                           int64_t now_ms, int *ncerts, int *ntokens, char *err, size_t errlen);

/*
 * Write a new CRL to <dir>/crl.pem (0644): this update now, next update now + days (0: the
 * default 7), every revoked certificate, the next cRLNumber (recorded in the index first, so a
 * number is never reused). *pem_out (may be NULL) gets a malloc'd copy. Errors: PE_EINVAL
 * (days outside 1..366), PE_ERANGE (cRLNumber exhausted), PE_EIO, PE_ENOMEM, PE_ESYS.
 */
int pe_pki_crl_write(struct pe_pki_ca *ca, int64_t now_ms, int days, char **pem_out, char *err,
                     size_t errlen);

/* One certificate of the index, as pe_pki_list gives it. */
struct pe_pki_entry {
    char serial[PE_PKI_SERIAL_MAX];
    char cn[PE_PKI_CN_MAX];
    enum pe_pki_kind kind;
    int64_t not_before_ms;
    int64_t not_after_ms;
    bool revoked;
    int64_t revoked_ms; /* 0 unless revoked */
};

/* Every certificate of the index, in issue order: *out is malloc'd (free), *n its count.
 * Errors: PE_ENOMEM. */
int pe_pki_list(const struct pe_pki_ca *ca, struct pe_pki_entry **out, size_t *n);

/* ---- enrolment tokens ---- */

/*
 * Create a one-time enrolment token for till "<store>/<terminal>", valid for ttl_h hours, into
 * token (PE_PKI_TOKEN_LEN + 1 bytes: 24 base32 characters, shown once to the technician; the
 * caller wipes it). Only its SHA-256 is stored. Errors: PE_EINVAL (bad ids, a reserved name,
 * another store, ttl_h outside 1..720), PE_EIO, PE_ENOMEM, PE_ESYS.
 */
int pe_pki_token_create(struct pe_pki_ca *ca, const char *store, const char *terminal, int ttl_h,
                        int64_t now_ms, char token[PE_PKI_TOKEN_LEN + 1], char *err,
                        size_t errlen);

/* Why the signer refused: X(NAME, wire name, message). */
#define PE_PKI_REFUSALS(X)                                                                         \
    X(NONE, "none", "accepted")                                                                    \
    X(BAD_REQUEST, "bad_request", "the request is incomplete or names an invalid store/terminal")  \
    X(BAD_CSR, "bad_csr", "the CSR is malformed, badly signed or not a P-256 key")                 \
    X(BAD_TOKEN, "bad_token", "no such enrolment token")                                           \
    X(TOKEN_USED, "token_used", "the enrolment token was used already")                            \
    X(TOKEN_EXPIRED, "token_expired", "the enrolment token has expired")                           \
    X(WRONG_TERMINAL, "wrong_terminal", "the enrolment token is for another terminal")             \
    X(WRONG_STORE, "wrong_store", "this CA does not issue for that store")                         \
    X(REVOKED, "revoked", "the terminal is revoked")                                               \
    X(NOT_ENROLLED, "not_enrolled", "renewal needs a valid certificate of that terminal")

enum pe_pki_refusal {
#define PE__PKI_REFUSAL_ENUM(e, name, msg) PE_PKI_REFUSE_##e,
    PE_PKI_REFUSALS(PE__PKI_REFUSAL_ENUM)
#undef PE__PKI_REFUSAL_ENUM
};

/* "token_used", ...; NULL for an out-of-range value. */
const char *pe_pki_refusal_name(enum pe_pki_refusal r);

/* The refusal's message; NULL for an out-of-range value. */
const char *pe_pki_refusal_msg(enum pe_pki_refusal r);

struct pe_pki_enrol_req {
    const char *store;    /* the till's store and terminal, as it asks */
    const char *terminal; /* */
    const char *token;    /* a first enrolment: the one-time token (case, '-' and blanks free), */
    bool authenticated;   /* or a renewal: the transport authenticated the requester as exactly
                           * "<store>/<terminal>" with a certificate of this CA */
    const char *csr_pem;  /* the till's CSR (only its key is used) */
    int days;             /* 0: the default of a terminal certificate */
    int64_t now_ms;
};

/*
 * The enrolment signer of the bridge (or HQ): open the CA of dir, check the request and sign.
 * A token is looked up by its hash, must be unused, unexpired, not void and for exactly this
 * store and terminal; it is marked used on disk before the certificate is made. A renewal needs
 * a valid (unrevoked, unexpired) certificate of the identity in the index; a terminal all of
 * whose certificates are revoked gets nothing. The CSR is checked before the token is spent.
 * On success *pem_out is the malloc'd certificate (the caller's) and *why is NONE.
 * Errors: PE_EDECLINED (*why says which refusal, err says it in words), PE_EBUSY, PE_EIO,
 * PE_ECORRUPT, PE_ENOMEM, PE_ESYS (the CA could not work: not the requester's fault).
 */
int pe_pki_enrol(const char *dir, const struct pe_pki_enrol_req *req, char **pem_out,
                 enum pe_pki_refusal *why, char *err, size_t errlen);

/* ---- inspecting and verifying ---- */

/* Describe the first certificate of a PEM (or DER) buffer / file. Errors: PE_EPARSE, PE_EIO,
 * PE_ENOMEM. */
int pe_pki_cert_info_mem(const char *buf, size_t len, struct pe_pki_cert_info *out, char *err,
                         size_t errlen);
int pe_pki_cert_info_file(const char *path, struct pe_pki_cert_info *out, char *err,
                          size_t errlen);

/* Whole days from now until t_ms, rounded down (negative once t_ms is past). */
int64_t pe_pki_days_left(int64_t t_ms, int64_t now_ms);

/* What a CRL file says. */
struct pe_pki_crl_info {
    int64_t this_update_ms;
    int64_t next_update_ms;
    int64_t number;  /* cRLNumber, -1 when absent */
    size_t revoked;  /* entries */
};

/* Errors: PE_EIO, PE_EPARSE, PE_ENOMEM. */
int pe_pki_crl_info_file(const char *path, struct pe_pki_crl_info *out, char *err,
                         size_t errlen);

/* Verdicts of pe_pki_verify: X(NAME, name). */
#define PE_PKI_VERDICTS(X)                                                                         \
    X(OK, "ok")                                                                                    \
    X(WRONG_CA, "wrong_ca")                                                                        \
    X(REVOKED, "revoked")                                                                          \
    X(EXPIRED, "expired")                                                                          \
    X(NOT_YET_VALID, "not_yet_valid")                                                              \
    X(CA_EXPIRED, "ca_expired")                                                                    \
    X(CRL_EXPIRED, "crl_expired")                                                                  \
    X(CRL_BAD, "crl_bad")                                                                          \
    X(BAD, "bad")

enum pe_pki_verdict {
#define PE__PKI_VERDICT_ENUM(e, name) PE_PKI_VERDICT_##e,
    PE_PKI_VERDICTS(PE__PKI_VERDICT_ENUM)
#undef PE__PKI_VERDICT_ENUM
};

/* "revoked", ...; NULL for an out-of-range value. */
const char *pe_pki_verdict_name(enum pe_pki_verdict v);

/*
 * Verify the certificate file against the CA file (the trust anchor) at now_ms, and against
 * the CRL file when crl_path is not NULL (whose next update must not be past either: OpenSSL,
 * and so the broker, refuse every client then). Errors: PE_EDECLINED (*verdict and err say
 * why: "revoked", "expired on ...", "not signed by the CA in ..."), PE_EIO, PE_EPARSE,
 * PE_ENOMEM. On PE_OK *verdict is OK.
 */
int pe_pki_verify(const char *cert_path, const char *ca_path, const char *crl_path,
                  int64_t now_ms, enum pe_pki_verdict *verdict, char *err, size_t errlen);

/* Check that the key file (mode checked) holds the private key of the certificate file.
 * Errors: PE_EDECLINED (another key), those of pe_pki_key_load, PE_EIO, PE_EPARSE. */
int pe_pki_key_matches(const char *key_path, const char *cert_path, char *err, size_t errlen);

/* What a daemon's --self-test and state document report about its TLS identity. */
struct pe_pki_self {
    struct pe_pki_cert_info cert; /* its certificate */
    int64_t days_left;            /* until the certificate expires */
    bool crl;                     /* a CRL was checked */
    int64_t crl_next_update_ms;   /* */
    int64_t crl_days_left;        /* until its next update */
};

/*
 * The checks of --self-test: the key file's mode, the key matching the certificate, the chain
 * to the CA file, the CRL (crl_path may be NULL) and days to expiry. out is filled as far as
 * the checks got. Errors: the first failure, err naming the file and the reason (PE_EDECLINED
 * for a certificate that does not verify, a key that does not match; PE_EINVAL for a key file
 * readable by others; PE_EIO, PE_EPARSE).
 */
int pe_pki_self_check(const char *ca_path, const char *cert_path, const char *key_path,
                      const char *crl_path, int64_t now_ms, struct pe_pki_self *out, char *err,
                      size_t errlen);

#endif
