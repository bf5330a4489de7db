/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signer.h - the fiscal signer: an ops table with one implementation per kind of key holder,
 * and what every implementation and every verifier share (the signed message, the stored
 * signature, the signer_installed event's body).
 *
 * Every journal event is signed as it is committed (journal.h, pe_journal_set_signer). A
 * signature covers the event's hash (which chains to every earlier record), the signer's
 * counter and the signing time:
 *
 *   message = "posedge-sig/1|" <hash: 64 lower-case hex> "|" <counter> "|" <signed_ms>
 *
 * (ASCII; counter and signed_ms in decimal without leading zeros), signed as JWS ES256 signs:
 * ECDSA P-256 over SHA-256(message), the signature the raw r || s of 64 octets. A verifier
 * needs nothing from posedge: Python's cryptography verifies it with
 * pub.verify(der(r, s), message, ECDSA(SHA256())).
 *
 * A receipt's QR code is signed too, by the same key and without a counter, over its own
 * payload, which begins "posedge-qr/" (pe_signer_sign_receipt; docs/protocol.md, "Receipt QR
 * code"): the two kinds of message never collide.
 *
 * The signature travels beside the record, never inside the hashed bytes. In the journal's
 * `sig` column it is the canonical JSON (json.h) of
 *
 *   {"alg":"ES256","counter":N,"key_id":K,"sig":"<128 lower-case hex: r || s>","signed_ms":T}
 *
 * (about 235 bytes), where K is the key id: the first 16 octets of SHA-256 over the public
 * key's DER SubjectPublicKeyInfo, as 32 lower-case hex digits (`openssl pkey -pubin -outform
 * DER | sha256sum`, cut to 32 digits).
 *
 * The counter is the signer's: it goes up by exactly one per signature under one key. Where it
 * is kept, per implementation:
 *   software  in the journal: each signature is stored in its event's row, in the event's own
 *             transaction, and the journal hands the last counter under the key id back through
 *             resume (at set_signer and after every transaction that did not commit), so a crash
 *             can neither reuse nor skip a value.
 *   pkcs11    the same: the token only signs; the journal's last signature under the key id
 *             (the token's key, found again by its label at each start) is the counter's home.
 *             A token with a monotonic counter of its own would check it in resume (none does
 *             in SoftHSM2; a later issue).
 * A key is put in use by a signer_installed event, itself signed by that key, whose body is
 *
 *   {"alg":"ES256","key_id":K,"public_key":"<PEM SubjectPublicKeyInfo>","signer":"software"}
 *
 * ("signer" is the implementation's name: "software" or "pkcs11"; a token's public key is read
 * from it, CKA_EC_POINT)
 *
 * and which starts a group: every record after it, up to the next signer_installed, must be
 * signed by K with counters rising by one from the installing record's. Turning signing off
 * (signer "none" on a journal that was signed) is itself journaled, unsigned, as
 * {"alg":"none","signer":"none"}, so an unsigned record after a signed one is never silent.
 *
 * Signer down. A signer whose device is gone (a token unplugged, a PKCS#11 session lost) answers
 * sign with a signer-down error (pe_signer_is_down). Selling does not stop: the journal then
 * stores events unsigned and marked so, inside an outage that two events bound (journal.h):
 *
 *   signer_down   opens the outage; unsigned and marked itself; body {"error":E,"key_id":K}
 *                 (E the sign error's name, such as "EUNAVAIL"; K the group's key). Its event
 *                 time is when the outage began.
 *   <any event>   unsigned and marked: its sig column is
 *                     {"alg":"none","signer_down":D}
 *                 where D is the seq of the signer_down event that opened the outage (the
 *                 signer_down event's own mark names its own seq).
 *   signer_up     the signer is back, and this is the collective receipt (the Austrian
 *                 Sammelbeleg): signed by the group's key with the counter one above the last
 *                 one before the outage; body {"count":N,"first_seq":D,"hash":H,"last_seq":L}
 *                 where L is the seq before signer_up, N = L - D + 1 and
 *                     H = hex(SHA-256(h_D || h_D+1 || ... || h_L))
 *                 over the records' hashes as their 64 lower-case hex digits, in seq order.
 *                 Its event time is when the outage ended.
 *
 * So every record of the outage is covered by one signature after it: changing any of them
 * changes its hash (and the chain after it), which changes H. Verification accepts a marked
 * record only inside an outage (after its signer_down, before the signer_up that closes it);
 * the signer_up must cover exactly D..L with the right H; an outage still open at the end of
 * the journal is reported (the signer is still down), not an error. No signer_installed may
 * come inside an outage: the key that was down is the one that closes it.
 *
 * Who retries. The journal never retries on its own: the till tries to commit signer_up before
 * an event at most every signer.retry_ms, calling recover (below) first when the signer has it.
 *
 * Implementations are ops tables: `software` (signer_software.c: a P-256 key in a 0600 file made
 * on the device, mbedTLS) and `pkcs11` (signer_pkcs11.c: a key made on a PKCS#11 token, a smart
 * card, TPM or HSM, that never leaves it; built where the Cryptoki header is, PE_HAVE_PKCS11). A
 * signer handle is the implementation's struct whose first member is struct pe_signer; callers
 * use only the wrappers below. A signer is used from one thread.
 *
 * A signer whose device is gone (pkcs11: a token unplugged, its session lost) answers sign with
 * PE_EIO (the test build's software signer, told to fail, with PE_EUNAVAIL), and with nothing
 * else: every other error of sign is a bug or a bad argument, never the device. Its counter is
 * then not consumed. pe_signer_recover opens the device again (PE_EIO while it is still gone);
 * once it returns PE_OK, sign works again with the same key and the same counter.
 */
#ifndef POSEDGE_SIGNER_H
#define POSEDGE_SIGNER_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "posedge/crypto.h"
#include "posedge/err.h"

#define PE_SIGNER_ALG "ES256"      /* the one signing algorithm */
#define PE_SIGNER_ALG_NONE "none"  /* signing turned off */
#define PE_SIGNER_ALG_MAX 8        /* "ES256", "none" and NUL */
#define PE_SIGNER_NAME_MAX 16      /* "software", "pkcs11", "none" and NUL */
#define PE_SIGNER_KEY_ID_LEN 33    /* 32 hex digits and NUL */
#define PE_SIGNER_SIG_LEN 64       /* r || s */
#define PE_SIGNER_MESSAGE_MAX 128  /* the signed message, and NUL */
#define PE_SIGNER_ENCODED_MAX 320  /* the sig column's JSON, and NUL */

/* One signature, as the sig column holds it. */
struct pe_signature {
    char alg[PE_SIGNER_ALG_MAX];          /* "ES256" */
    char key_id[PE_SIGNER_KEY_ID_LEN];    /* the signing key */
    int64_t counter;                      /* the signer's counter, >= 1 */
    int64_t signed_ms;                    /* the signer's clock, UTC ms */
    uint8_t rs[PE_SIGNER_SIG_LEN];        /* r || s, big-endian */
};

/* What a signer_installed event records of a key. */
struct pe_signer_key {
    const char *signer;                /* the implementation ("software", "pkcs11") */
    const char *alg;                   /* PE_SIGNER_ALG */
    char key_id[PE_SIGNER_KEY_ID_LEN]; /* of public_key */
    char *public_key;                  /* PEM SubjectPublicKeyInfo, owned by the signer */
};

/* How to open a signer; borrowed during open only. */
struct pe_signer_conf {
    const char *key_file; /* software: the key's file, made (0600) on first use */
    const char *store;    /* the till's ids (personalisation of the signer's generator) */
    const char *terminal;
    int64_t (*now)(void *ctx); /* the signing time's clock, UTC ms (NULL: the real clock) */
    void *now_ctx;
    const char *module;      /* pkcs11: the PKCS#11 module (.so) to load */
    const char *token_label; /* pkcs11: the token's label (its slot is found by it) */
    const char *pin_file;    /* pkcs11: the user PIN's file (secret.h, 0600 or 0640) */
    const char *key_label;   /* pkcs11: the key's label (CKA_LABEL), made on first use */
    bool find_only;          /* pkcs11: make no key, PE_ENOTFOUND when there is none */
};

struct pe_signer;

struct pe_signer_ops {
    const char *name; /* "software", "pkcs11": the signer.type setting */
    /* mandatory: open (*out is the implementation's struct) and close (NULL is never passed) */
    int (*open)(const struct pe_signer_conf *c, struct pe_signer **out, char *err, size_t errlen);
    void (*close)(struct pe_signer *s);
    /* mandatory: the key in use; valid until close */
    const struct pe_signer_key *(*key)(const struct pe_signer *s);
    /* mandatory: the counter the next signature will carry */
    int64_t (*counter)(const struct pe_signer *s);
    /* mandatory: learn the last counter durably stored under this key (0: none). The journal
     * calls it when it takes the signer and after a transaction that ends without a commit. A
     * signer whose counter lives in the journal (software) continues from it; one that keeps its
     * own (a token) checks it against its own and reports a difference (a later issue). */
    int (*resume)(struct pe_signer *s, int64_t last);
    /* mandatory: sign hash (64 hex) with the next counter, which this consumes */
    int (*sign)(struct pe_signer *s, const char *hash, struct pe_signature *out);
    /* optional: after a signer-down error, reach the device again (reopen the session, log in
     * again) with the same key: PE_OK when sign works again, the signer-down error while the
     * device is still gone. Without it the till simply tries sign again (the software signer
     * has nothing to reach). The till calls it at most every signer.retry_ms while an outage
     * is open. */
    int (*recover)(struct pe_signer *s, char *err, size_t errlen);
    /* optional: one line saying where the key is (the token, its slot, the key's label) */
    int (*describe)(const struct pe_signer *s, char *out, size_t outlen);
    /* optional: sign a receipt's QR code payload (pe_signer_sign_receipt), no counter used */
    int (*sign_receipt)(struct pe_signer *s, const char *msg, size_t len,
                        uint8_t rs[PE_SIGNER_SIG_LEN]);
};

/* The first member of every implementation's struct. */
struct pe_signer {
    const struct pe_signer_ops *ops;
};

/* The built-in implementations (common/signer_<name>.c). */
extern const struct pe_signer_ops pe_signer_software;
extern const struct pe_signer_ops pe_signer_pkcs11; /* only where PE_HAVE_PKCS11 */

/* The implementation of that name, NULL when none is built in ("none" is not one). */
const struct pe_signer_ops *pe_signer_find(const char *name);

/* "software, pkcs11" (every built-in name, comma-separated) for messages. */
const char *pe_signer_names(void);

/*
 * Open a signer with ops. Errors: the implementation's, with err naming the file or device and
 * the reason and never key material (software: PE_EIO, PE_EINVAL for a key file others may
 * read or that holds no P-256 key, PE_EPARSE, PE_ENOMEM, PE_ESYS; pkcs11: PE_EINVAL for a
 * setting missing, a module that is not PKCS#11 or a PIN file others may read, PE_EIO for a token
 * not present or gone, PE_EDECLINED for a PIN the token refuses, PE_ENOTFOUND for no key with
 * find_only, PE_ESTATE for a key that is not P-256, was not made on the token (imported, or
 * once extractable) or whose halves do not match, PE_ESYS).
 */
static inline int pe_signer_open(const struct pe_signer_ops *ops, const struct pe_signer_conf *c,
                                 struct pe_signer **out, char *err, size_t errlen)
{
    return ops->open(c, out, err, errlen);
}
/* Close, wiping key material; NULL is a no-op. */
static inline void pe_signer_close(struct pe_signer *s)
{
    if (s)
        s->ops->close(s);
}
static inline const struct pe_signer_key *pe_signer_key(const struct pe_signer *s)
{
    return s->ops->key(s);
}
static inline const char *pe_signer_name(const struct pe_signer *s)
{
    return s->ops->name;
}
static inline int64_t pe_signer_counter(const struct pe_signer *s)
{
    return s->ops->counter(s);
}
/* Errors: PE_EINVAL (last < 0), the implementation's (PE_ESTATE: its own counter disagrees). */
static inline int pe_signer_resume(struct pe_signer *s, int64_t last)
{
    return s->ops->resume(s, last);
}
/* Sign hash (64 lower-case hex) with the next counter. Errors: PE_EINVAL (not a hash), PE_ERANGE
 * (the counter is exhausted), PE_ESYS (the signing failed), PE_EUNAVAIL or PE_EIO (the device is
 * gone: signer down, pe_signer_is_down). */
static inline int pe_signer_sign(struct pe_signer *s, const char *hash, struct pe_signature *out)
{
    return s->ops->sign(s, hash, out);
}
/* Open the signer's device again, with the same key (the caller paces the attempts: it may load
 * a module and log in). Errors: PE_ENOTSUP (a signer that is never down), PE_EIO (still gone),
 * PE_EDECLINED (the PIN is refused), PE_ESTATE (the key found is not the one in use, or none),
 * PE_ESYS; err says why, never a secret. */
static inline int pe_signer_recover(struct pe_signer *s, char *err, size_t errlen)
{
    return s->ops->recover ? s->ops->recover(s, err, errlen) : PE_ENOTSUP;
}
/* One line saying where the key is held, into out. Errors: PE_ENOTSUP (the implementation says
 * nothing more than its key id). */
static inline int pe_signer_describe(const struct pe_signer *s, char *out, size_t outlen)
{
    return s->ops->describe ? s->ops->describe(s, out, outlen) : PE_ENOTSUP;
}

/* ---- shared by every implementation ---- */

/* The counter's contract (signer_software.c says why): its durable home is the journal, which
 * stores each signature in its event's row and hands the last one back through resume. These
 * keep it the same for every implementation. */

/* resume: next becomes last + 1. Errors: PE_EINVAL (last negative or past the counter's range). */
int pe_signer_counter_resume(int64_t *next, int64_t last);

/* The signature of hash with counter next under key_id, signed now (the clock is read only
 * for a request that is not refused), all but its r || s, and the digest those must sign:
 * SHA-256 of the signed message. Errors: PE_ERANGE (next is past the counter's range), PE_EINVAL
 * (hash is not 64 lower-case hex, the clock negative). */
int pe_signer_prepare(int64_t next, const char *key_id, int64_t (*now)(void *ctx), void *now_ctx,
                      const char *hash, struct pe_signature *out, uint8_t digest[PE_SHA256_LEN]);

/* The signer-down errors: what sign and recover answer when the signing device is unavailable,
 * so that selling goes on unsigned (above). PE_EUNAVAIL says so plainly; PE_EIO (the device is
 * gone) is taken the same way. Every other error of sign fails the commit as before. The
 * journal reports a signer that is down as PE_EUNAVAIL only, so that it is never confused with
 * an I/O error of the journal's own file. (open is not covered: a signer that cannot open at
 * the agent's start stops the start, as before.) */
static inline bool pe_signer_is_down(int err)
{
    return err == PE_EUNAVAIL || err == PE_EIO;
}

/*
 * Sign the len bytes of msg, a receipt's QR code payload (report.h, pe_render_qr: it begins
 * with PE_SIGNER_RECEIPT_PREFIX), with the key in use: ECDSA P-256 over SHA-256(msg), r || s
 * into rs. No counter is used: the payload names the event's own signature (key id, counter,
 * time), and this one binds the printed fields (total, seq, ...) to it, so one scan and the
 * public key verify the paper. The prefix keeps the two kinds of message apart: a receipt's
 * signature can never pass for an event's ("posedge-sig/1|..."). Errors: PE_EINVAL (msg does
 * not begin with the prefix), PE_ENOTSUP (the implementation has no receipt signatures), the
 * implementation's (PE_ESYS, PE_EIO as sign).
 */
#define PE_SIGNER_RECEIPT_PREFIX "posedge-qr/"
static inline int pe_signer_sign_receipt(struct pe_signer *s, const char *msg, size_t len,
                                         uint8_t rs[PE_SIGNER_SIG_LEN])
{
    if (!msg || len < sizeof PE_SIGNER_RECEIPT_PREFIX - 1 ||
        memcmp(msg, PE_SIGNER_RECEIPT_PREFIX, sizeof PE_SIGNER_RECEIPT_PREFIX - 1) != 0)
        return PE_EINVAL;
    return s->ops->sign_receipt ? s->ops->sign_receipt(s, msg, len, rs) : PE_ENOTSUP;
}

/* ---- shared by every implementation and every verifier ---- */

/* The signed message of (hash, counter, signed_ms) into out; returns its length, or 0 when
 * hash is not 64 lower-case hex or a number is negative. */
size_t pe_signer_message(const char *hash, int64_t counter, int64_t signed_ms,
                         char out[PE_SIGNER_MESSAGE_MAX]);

/* The key id of a PEM public key (SubjectPublicKeyInfo, P-256), checking it parses.
 * Errors: PE_EPARSE (not a public key), PE_EINVAL (not P-256). */
int pe_signer_key_id(const char *pem, char out[PE_SIGNER_KEY_ID_LEN]);

/* Encode sig as the sig column's JSON into out (NUL-terminated); returns its length, 0 when a
 * field is out of range. */
size_t pe_signature_encode(const struct pe_signature *sig, char out[PE_SIGNER_ENCODED_MAX]);

/* Decode a sig column of len bytes. It must be exactly what pe_signature_encode makes.
 * Errors: PE_EPARSE (why, may be NULL, says what is wrong), PE_ENOMEM. */
int pe_signature_decode(const void *buf, size_t len, struct pe_signature *out, char *why,
                        size_t whylen);

/* The sig column of a record stored unsigned during the outage opened at seq down_seq:
 * {"alg":"none","signer_down":D}, NUL-terminated; returns its length, 0 when down_seq < 1. */
size_t pe_signature_mark_encode(int64_t down_seq, char out[PE_SIGNER_ENCODED_MAX]);

/* True when the sig column of len bytes is exactly such a mark; *down_seq gets D. */
bool pe_signature_mark_decode(const void *buf, size_t len, int64_t *down_seq);

/* A public key parsed for verifying. */
struct pe_signer_pub;

/* Parse pem (SubjectPublicKeyInfo, P-256); key_id (may be NULL) gets its key id. *out is the
 * caller's (pe_signer_pub_free). Errors: PE_EPARSE, PE_EINVAL (not P-256), PE_ENOMEM. */
int pe_signer_pub_parse(const char *pem, struct pe_signer_pub **out,
                        char key_id[PE_SIGNER_KEY_ID_LEN]);

/* NULL is a no-op. */
void pe_signer_pub_free(struct pe_signer_pub *p);

/* Check sig over hash under pub (only the signature: the key id and counter are the caller's
 * to compare). Errors: PE_EDECLINED (it does not verify), PE_EINVAL (bad hash or alg). */
int pe_signer_verify(struct pe_signer_pub *pub, const char *hash, const struct pe_signature *sig);

/* Check rs over the len bytes of msg, a receipt's QR code payload before its last '|'
 * (pe_signer_sign_receipt). Errors: PE_EDECLINED (it does not verify), PE_EINVAL (msg does not
 * begin with PE_SIGNER_RECEIPT_PREFIX). */
int pe_signer_verify_receipt(struct pe_signer_pub *pub, const char *msg, size_t len,
                             const uint8_t rs[PE_SIGNER_SIG_LEN]);

/* ---- the signer_installed event's body ---- */

/* The body recording key (k NULL: signing turned off, {"alg":"none","signer":"none"}).
 * *out is the caller's. Errors: PE_ENOMEM. */
int pe_signer_installed_body(const struct pe_signer_key *k, cJSON **out);

/* What a signer_installed body says; strings borrowed from the body. */
struct pe_signer_installed {
    const char *alg;        /* PE_SIGNER_ALG or PE_SIGNER_ALG_NONE */
    const char *signer;     /* the implementation, or "none" */
    const char *key_id;     /* NULL for "none" */
    const char *public_key; /* NULL for "none" */
};

/* Read a signer_installed body: every field present, alg known, key_id that of public_key.
 * Errors: PE_EINVAL (why says which field), PE_ENOMEM. */
int pe_signer_installed_parse(const cJSON *body, struct pe_signer_installed *out, char *why,
                              size_t whylen);

/* ---- the signer_up event's body (signer down, above) ---- */

/* What a signer_up body says: the collective over the outage's records. */
struct pe_signer_collective {
    int64_t first_seq;            /* the signer_down event */
    int64_t last_seq;             /* the last marked record */
    int64_t count;                /* last_seq - first_seq + 1 */
    char hash[PE_SHA256_HEXLEN];  /* over the records' hashes */
};

/* The collective over the marked records' hashes, in seq order from first_seq: begin, add
 * each record's hash (64 lower-case hex), then end (which frees acc and fills c). Errors:
 * PE_ENOMEM (begin), PE_EINVAL (add: not a hash; acc is unchanged). */
struct pe_signer_collective_acc;
int pe_signer_collective_begin(int64_t first_seq, struct pe_signer_collective_acc **out);
int pe_signer_collective_add(struct pe_signer_collective_acc *acc, const char *hash);
void pe_signer_collective_end(struct pe_signer_collective_acc *acc,
                              struct pe_signer_collective *c);
/* Free without a result; NULL is a no-op. */
void pe_signer_collective_abort(struct pe_signer_collective_acc *acc);

/* The body of c. *out is the caller's. Errors: PE_ENOMEM. */
int pe_signer_collective_body(const struct pe_signer_collective *c, cJSON **out);

/* Read a signer_up body: every field present, count = last - first + 1, hash 64 hex.
 * Errors: PE_EINVAL. */
int pe_signer_collective_parse(const cJSON *body, struct pe_signer_collective *out);

/* ---- checking a chain's signatures, record by record ----
 *
 * What every verifier of a chain does with the signatures (the journal's verify, posedge-ctl
 * audit of archives): one group state, fed every record in seq order after its hash and chain
 * checked. A signer_installed record starts a group; from there on each record up to the next
 * signer_installed must carry a signature by that key that verifies over its hash, counter and
 * time, its counter one above the previous record's (the installing record's is the first).
 * Before any signer_installed, and after one that turned signing off, records are unsigned.
 * Outages of the signer (signer down, above) are checked here too: a record marked unsigned is
 * accepted only inside an outage (from a signer_down marked with its own seq, in a signing
 * group, to the signed signer_up whose collective covers exactly its seqs with their hashes'
 * digest); a signed record or a signer_installed inside an outage is an error, and so is a
 * signer_up outside one. An outage still open after the last record is the caller's to report
 * (down), not an error. */

/* The signing group a verifier is in; zero it to start before any signer_installed. */
struct pe_sig_group {
    char alg[PE_SIGNER_ALG_MAX];       /* "" before any signer_installed, "none", "ES256" */
    char key_id[PE_SIGNER_KEY_ID_LEN]; /* ES256: the installed key */
    struct pe_signer_pub *pub;         /* its public key, owned (pe_sig_group_clear) */
    int64_t counter;                   /* the last counter seen in the group, 0 before any */
    int64_t seq;                       /* the signer_installed event's seq */
    int64_t down;                         /* an outage open: its signer_down's seq (0: none) */
    struct pe_signer_collective_acc *acc; /* the collective over the outage so far, owned */
    int64_t nmarked;                      /* records seen marked unsigned in outages */
    int64_t noutages;                     /* outages closed by a signer_up that verified */
};

/* Start the group of the signer_installed record rec (len bytes, already verified canonical) of
 * seq; the group's counter is 0 until its first signature (the outage fields and counts stay).
 * Errors: PE_ECHAIN (why: "seq N: ..."
 * naming the bad field), PE_ENOMEM. */
int pe_sig_group_install(struct pe_sig_group *g, int64_t seq, const char *rec, size_t len,
                         char *why, size_t whylen);

/* Check the record rec of seq and type (its hash already verified) with its signature (the sig
 * column's bytes; sig NULL: unsigned), installing its group first when it is a signer_installed
 * record. *verified (may be NULL) says whether a signature verified. Errors: PE_ECHAIN (why:
 * "seq N: ..."), PE_ENOMEM. */
int pe_sig_group_check(struct pe_sig_group *g, int64_t seq, const char *type, const char *rec,
                       size_t len, const char *hash, const void *sig, size_t siglen,
                       bool *verified, char *why, size_t whylen);

/* Free the group's key and outage and zero it; the group may be used again. */
void pe_sig_group_clear(struct pe_sig_group *g);

#endif
