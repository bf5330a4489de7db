/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sigcheck.h - the bridge's check of a till's signatures at intake (docs/protocol.md,
 * "Signatures at the bridge").
 *
 * Per till the bridge keeps what the till's signer_installed records said: the key in use (its
 * id, its PEM and the key parsed once, so a record costs one ECDSA verify and no parse), and the
 * last counter signed under it. Every new record (the next seq of the till's chain: duplicates
 * and gaps are never checked) is judged against that: a signer_installed of a key must be signed
 * by the key it installs; every record after it must be signed by that key, with a counter one
 * above the last, and a signature that verifies over the record's hash (signer.h); a record the
 * till marked unsigned ({"alg":"none",...}: its signer was down) passes, counted. A till that
 * never installed a key (or turned signing off) sends unsigned records, which pass, counted.
 * A signed record of a till whose signer_installed the bridge never saw (its spool was made
 * anew, or the key was installed through an older bridge) passes unverified, counted: refusing
 * it would protect nothing, since an unsigned record of such a till passes. Once the bridge
 * knows a key, every record is held to it.
 *
 * The invariant: sigcheck_record only judges, and changes nothing; sigcheck_apply moves the
 * till's state on once the record is stored, so a record that is not stored (a failed
 * transaction) leaves no trace. A rejected record moves the state too (its counter, when it
 * claims one under the till's key), so that one bad record costs one rejection, not every
 * record after it.
 */
#ifndef POSEDGE_BRIDGE_SIGCHECK_H
#define POSEDGE_BRIDGE_SIGCHECK_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posedge/signer.h"

/* X(name, reason in dead letters and the state document) - why a record is refused. */
#define SIGCHECK_REASONS(X)                                                                        \
    X(OK, "ok")                                                                                    \
    X(BAD_SIGNATURE, "bad_signature")             /* does not verify under the till's key */      \
    X(COUNTER_REGRESSED, "counter_regressed")     /* counter at or below the last one */          \
    X(COUNTER_GAP, "counter_gap")                 /* counter more than one above the last */      \
    X(UNKNOWN_KEY, "unknown_key")                 /* signed by a key the till did not install */  \
    X(MISSING_SIGNATURE, "missing_signature")     /* unsigned and unmarked after a key */         \
    X(MALFORMED_SIGNATURE, "malformed_signature") /* the sig does not decode */                   \
    X(BAD_SIGNER_INSTALLED, "bad_signer_installed") /* its body or key does not parse */

enum sigcheck_reason {
#define SIGCHECK__ENUM(name, str) SIGCHECK_##name,
    SIGCHECK_REASONS(SIGCHECK__ENUM)
#undef SIGCHECK__ENUM
        SIGCHECK__COUNT
};

/* "bad_signature", ...; NULL for an out-of-range value. */
const char *sigcheck_reason_name(enum sigcheck_reason r);

#define SIGCHECK_WHY_MAX 200

/* A till's public key, parsed once for verifying (OpenSSL's libcrypto, see sigcheck.c). */
struct sigcheck_key;

/* One till's signing state and counts. Zeroed is a till that never installed a key. */
struct sigcheck_till {
    char alg[PE_SIGNER_ALG_MAX];       /* "" never installed, "ES256", "none" (turned off) */
    char key_id[PE_SIGNER_KEY_ID_LEN]; /* ES256: the installed key */
    char *public_key;                  /* ES256: its PEM (owned) */
    struct sigcheck_key *pub;          /* ES256: parsed (owned; the per-till cache) */
    int64_t counter;                   /* the last counter under key_id, 0 before any */
    int64_t installed_seq;             /* seq of the signer_installed in force, 0 none */
    int64_t verified;                  /* records whose signature verified */
    int64_t unsigned_;                 /* records accepted unsigned (no key, or marked) */
    int64_t unverified;                /* records accepted signed by a key never seen installed */
    int64_t rejected;                  /* records refused */
    int64_t keys;                      /* keys installed (signer_installed of a key accepted) */
    char last_reason[24];              /* the last refusal's reason ("" none) */
    int64_t last_seq;                  /* and its seq */
};

/* The judgement of one record, and what sigcheck_apply makes of it. */
struct sigcheck_verdict {
    enum sigcheck_reason reason;  /* SIGCHECK_OK: accepted */
    char why[SIGCHECK_WHY_MAX];   /* "<reason>: seq N: ..." for a refusal, for the dead letter */
    bool verified;                /* accepted with a signature that verified */
    bool unverified;              /* accepted signed, its key unknown (no key installed) */
    int64_t counter;              /* the till's last counter after this record */
    bool install;                 /* the record puts alg (and a key) in use */
    char alg[PE_SIGNER_ALG_MAX];  /* install: "ES256" or "none" */
    char key_id[PE_SIGNER_KEY_ID_LEN];
    char *public_key;             /* install of a key: owned until sigcheck_apply */
    struct sigcheck_key *pub;     /* likewise */
};

/*
 * Judge one new record of a till: type is its type's name, rec the record parsed (its "body" is
 * read for a signer_installed), hash its verified chain hash, sig (siglen bytes, NULL: none) the
 * signature that travelled with it. v is filled (sigcheck_verdict_free after). Returns PE_OK
 * whatever the verdict (v->reason), PE_ENOMEM.
 */
int sigcheck_record(const struct sigcheck_till *t, int64_t seq, const char *type, const cJSON *rec,
                    const char *hash, const void *sig, size_t siglen, struct sigcheck_verdict *v);

/* The record judged in v was stored: move t on (taking v's key). */
void sigcheck_apply(struct sigcheck_till *t, int64_t seq, struct sigcheck_verdict *v);

/* Free what v still owns; NULL-safe on its members. */
void sigcheck_verdict_free(struct sigcheck_verdict *v);

/* Free what t owns and zero it. */
void sigcheck_till_clear(struct sigcheck_till *t);

/* t as a JSON document (the spool keeps it under the till's meta key): *out malloc'd.
 * Errors: PE_ENOMEM. */
int sigcheck_till_save(const struct sigcheck_till *t, char **out);

/* t (cleared first) from what sigcheck_till_save made. Errors: PE_EPARSE (why says what),
 * PE_ENOMEM. */
int sigcheck_till_load(struct sigcheck_till *t, const char *doc, char *why, size_t whylen);

#endif
