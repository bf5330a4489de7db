/* SPDX-License-Identifier: Apache-2.0 */
/*
 * signer_software.c - the `software` signer: an ECDSA P-256 key in a file on the till, mbedTLS.
 *
 * The key is made on the device the first time the signer opens without one (pki.c's
 * generator, from a CTR-DRBG of the signer's own seeded from the platform's entropy) and written
 * 0600 atomically, never replacing a file that exists; a key file others may read is refused
 * (pe_pki_key_load). Key material stays in mbedTLS contexts and wiped buffers; no message, log
 * line or error names it (the key id and the public key are public). Signatures are
 * deterministic ECDSA (RFC 6979): no signature depends on a random draw, the generator only
 * blinds the arithmetic. The key stays loaded, with libcrypto's form of it made at the first
 * signature (pe_pki_key_sign_digest), not once per signature.
 *
 * Where the counter lives, and what a crash does. The counter's durable home is the journal
 * itself: each signature is stored in its event's row (the sig column), in the same SQLite
 * transaction as the event, and the journal hands the last counter stored under this key back
 * through resume() when it takes the signer and after every transaction that ends without a
 * commit. So:
 *   - a crash (or a failed commit) between sign and commit loses the signature together with
 *     its event: that signature was never stored and never printed (the receipt prints after the
 *     commit), and the retry signs again with the same counter. No stored counter is ever used
 *     twice and none is skipped; there is nothing to reconcile after a power cut.
 *   - a counter file of its own (blocks reserved and fsynced ahead) was the alternative: it costs
 *     a second fsync now and then, and a crash skips the rest of the reserved block, which would
 *     then have to be journaled as a gap. Keeping it in the event's transaction costs nothing.
 *   - what this cannot see is a journal replaced by an older copy of itself: the counters of the
 *     lost tail are then used again. The bridge holds those counters (a later issue checks
 *     them there), and a token's own counter (pkcs11) would catch it on the till.
 *
 * Test builds only (PE_FAULT_INJECTION: the san and test variants): PE_TEST_SIGNER_DOWN=<path>
 * in the environment at open makes sign answer PE_EUNAVAIL, as a token that is unplugged does,
 * for as long as a file exists at path; the signer-down path (signer.h) is tested through it.
 * Release builds do not contain this code and ignore the variable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "posedge/clock.h"
#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/log.h"
#include "posedge/pki.h"
#include "posedge/signer.h"

struct software {
    struct pe_signer s;       /* first: the handle */
    struct pe_pki_key *key;   /* the private key (wiped at close) */
    struct pe_rng *rng;       /* blinds the signing arithmetic */
    struct pe_signer_key pub; /* what signer_installed records */
    int64_t next;             /* the counter of the next signature */
    int64_t (*now)(void *ctx);
    void *now_ctx;
#ifdef PE_FAULT_INJECTION
    char *down_file; /* PE_TEST_SIGNER_DOWN: the device is "unplugged" while this exists */
#endif
};

static int64_t real_clock(void *ctx)
{
    (void)ctx;
    return pe_time_now_ms();
}

static struct software *sw(struct pe_signer *s)
{
    return (struct software *)(void *)s;
}

static const struct software *csw(const struct pe_signer *s)
{
    return (const struct software *)(const void *)s;
}

static void sw_close(struct pe_signer *s)
{
    struct software *w = sw(s);
    pe_pki_key_destroy(w->key);
    pe_rng_destroy(w->rng);
    free(w->pub.public_key);
#ifdef PE_FAULT_INJECTION
    free(w->down_file);
#endif
    free(w);
}

/* Load the key file, or make it when there is none. */
static int load_or_make(struct software *w, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) == 0 || errno != ENOENT)
        return pe_pki_key_load(path, &w->key, err, errlen);
    int rc = pe_pki_key_generate(w->rng, &w->key, err, errlen);
    if (rc == PE_OK)
        rc = pe_pki_key_save(w->key, path, PE_PKI_KEY_PKCS8, err, errlen);
    if (rc == PE_EEXIST) {
        /* Another process made it in the meantime: use that one. */
        pe_pki_key_destroy(w->key);
        w->key = NULL;
        return pe_pki_key_load(path, &w->key, err, errlen);
    }
    if (rc == PE_OK)
        pe_info("signer.key_created", "signer=software path=\"%s\"", path);
    return rc;
}

static int sw_open(const struct pe_signer_conf *c, struct pe_signer **out, char *err,
                   size_t errlen)
{
    if (!c->key_file || !c->key_file[0]) {
        snprintf(err, errlen, "signer software: no key file");
        return PE_EINVAL;
    }
    struct software *w = calloc(1, sizeof *w);
    if (!w)
        return PE_ENOMEM;
    w->s.ops = &pe_signer_software;
    w->now = c->now ? c->now : real_clock;
    w->now_ctx = c->now_ctx;
    w->next = 1;
    w->pub.signer = pe_signer_software.name;
    w->pub.alg = PE_SIGNER_ALG;
    char pers[96];
    snprintf(pers, sizeof pers, "posedge-signer/%s/%s", c->store ? c->store : "",
             c->terminal ? c->terminal : "");
    int rc = pe_rng_create(pers, &w->rng);
    if (rc) {
        snprintf(err, errlen, "signer software: cannot seed its generator: %s", pe_strerror(rc));
        goto fail;
    }
    if ((rc = load_or_make(w, c->key_file, err, errlen)))
        goto fail;
    if ((rc = pe_pki_key_public_pem(w->key, &w->pub.public_key, err, errlen)))
        goto fail;
    if ((rc = pe_signer_key_id(w->pub.public_key, w->pub.key_id))) {
        snprintf(err, errlen, "signer software: %s: its public key does not parse back",
                 c->key_file);
        goto fail;
    }
#ifdef PE_FAULT_INJECTION
    const char *down = getenv("PE_TEST_SIGNER_DOWN");
    if (down && *down && !(w->down_file = strdup(down))) {
        rc = PE_ENOMEM;
        goto fail;
    }
#endif
    pe_info("signer.open", "signer=software key_id=%s path=\"%s\"", w->pub.key_id, c->key_file);
    *out = &w->s;
    return PE_OK;

fail:
    sw_close(&w->s);
    return rc;
}

static const struct pe_signer_key *sw_key(const struct pe_signer *s)
{
    return &csw(s)->pub;
}

static int64_t sw_counter(const struct pe_signer *s)
{
    return csw(s)->next;
}

static int sw_resume(struct pe_signer *s, int64_t last)
{
    return pe_signer_counter_resume(&sw(s)->next, last);
}

static int sw_sign(struct pe_signer *s, const char *hash, struct pe_signature *out)
{
    struct software *w = sw(s);
    struct pe_signature g;
    uint8_t digest[PE_SHA256_LEN];
    char err[160];
    int rc = pe_signer_prepare(w->next, w->pub.key_id, w->now, w->now_ctx, hash, &g, digest);
    if (rc)
        return rc;
#ifdef PE_FAULT_INJECTION
    struct stat st;
    if (w->down_file && stat(w->down_file, &st) == 0)
        return PE_EUNAVAIL;
#endif
    rc = pe_pki_key_sign_digest(w->key, digest, w->rng, g.rs, err, sizeof err);
    if (rc) {
        pe_error("signer.sign_failed", "signer=software counter=%lld err=\"%s\"",
                 (long long)g.counter, err);
        return rc == PE_EIO ? PE_ESYS : rc; /* PE_EIO is the signer down: never this one */
    }
    w->next++;
    *out = g;
    return PE_OK;
}

/* A receipt's QR code payload (signer.h): the same key and arithmetic as sw_sign, over the
 * payload itself, and no counter. */
static int sw_sign_receipt(struct pe_signer *s, const char *msg, size_t len,
                           uint8_t rs[PE_SIGNER_SIG_LEN])
{
    struct software *w = sw(s);
    uint8_t digest[PE_SHA256_LEN];
    char err[160];
    pe_sha256_2(msg, len, NULL, 0, digest);
    int rc = pe_pki_key_sign_digest(w->key, digest, w->rng, rs, err, sizeof err);
    if (rc)
        pe_error("signer.sign_receipt_failed", "signer=software err=\"%s\"", err);
    return rc;
}

const struct pe_signer_ops pe_signer_software = {
    .name = "software",
    .open = sw_open,
    .close = sw_close,
    .key = sw_key,
    .counter = sw_counter,
    .resume = sw_resume,
    .sign = sw_sign,
    .sign_receipt = sw_sign_receipt,
};
