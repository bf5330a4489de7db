/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypto.c - SHA-256, hex, and UUIDs from mbedTLS's CTR-DRBG.
 *
 * mbedTLS 2.x names the one-shot functions *_ret and 3.x drops the suffix; the small shim
 * below keeps the rest of the file version-free.
 *
 * Test builds only (PE_FAULT_INJECTION: the san and test variants): PE_TEST_RNG_SEED=<n> in the
 * environment replaces the DRBG's entropy source by a SHA-256 counter stream of n, so a seeded
 * run draws the same UUIDs every time (the golden-records test, tests/system/test_golden.py).
 * The DRBG still mixes in the personalisation string, so two tills with one seed differ.
 * Release builds do not contain this code and ignore the variable.
 */
#include "posedge/crypto.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>
#include <stdlib.h>
#include <string.h>
#ifdef PE_FAULT_INJECTION
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#endif

#include "posedge/err.h"
#include "posedge/log.h"
#include "posedge/sha256_compat.h"


void pe_sha256_2(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[PE_SHA256_LEN])
{
    mbedtls_sha256_context ctx;
    mbedtls_sha256_init(&ctx);
    sha256_starts(&ctx, 0);
    if (alen)
        sha256_update(&ctx, a, alen);
    if (blen)
        sha256_update(&ctx, b, blen);
    sha256_finish(&ctx, out);
    mbedtls_sha256_free(&ctx);
}

void pe_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int is_lhex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int pe_is_sha256_hex(const char *s)
{
    if (!s)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!is_lhex(s[i]))
            return 0;
    return s[64] == '\0';
}

int pe_is_uuid(const char *s)
{
    if (!s)
        return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!is_lhex(s[i])) {
            return 0;
        }
    }
    return s[36] == '\0';
}

struct pe_rng {
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
#ifdef PE_FAULT_INJECTION
    uint64_t test_seed; /* PE_TEST_RNG_SEED: the fixed "entropy" of a test run */
    uint64_t test_ctr;  /* blocks of it handed out so far */
#endif
};

#ifdef PE_FAULT_INJECTION
#define TEST_SEED_ENV "PE_TEST_RNG_SEED"
#define TEST_SEED_PREFIX "posedge-test-rng/"

/* The entropy callback of a seeded test run: SHA-256(prefix || seed || counter), block after
 * block. Deterministic by design; only ever compiled into test builds. */
static int test_entropy(void *ctx, unsigned char *out, size_t len)
{
    struct pe_rng *r = ctx;
    while (len > 0) {
        char tail[64];
        int n = snprintf(tail, sizeof tail, "%" PRIu64 "/%" PRIu64, r->test_seed, r->test_ctr++);
        uint8_t d[PE_SHA256_LEN];
        pe_sha256_2(TEST_SEED_PREFIX, strlen(TEST_SEED_PREFIX), tail, (size_t)n, d);
        size_t k = len < sizeof d ? len : sizeof d;
        memcpy(out, d, k);
        out += k;
        len -= k;
    }
    return 0;
}

/* PE_TEST_RNG_SEED: 0 when unset, 1 with *seed set, PE_EINVAL when it is not a decimal
 * number (logged: a test asking for determinism must not silently get randomness). */
static int test_seed(uint64_t *seed)
{
    const char *v = getenv(TEST_SEED_ENV);
    if (!v || !*v)
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || *v < '0' || *v > '9') {
        pe_error("rng.test_seed_bad", "%s=\"%.32s\" must be a decimal number", TEST_SEED_ENV, v);
        return PE_EINVAL;
    }
    *seed = (uint64_t)n;
    return 1;
}
#endif

int pe_rng_create(const char *pers, struct pe_rng **out)
{
    struct pe_rng *r = calloc(1, sizeof *r);
    if (!r)
        return PE_ENOMEM;
    mbedtls_entropy_init(&r->entropy);
    mbedtls_ctr_drbg_init(&r->drbg);
    const char *p = pers ? pers : "posedge";
    int (*entropy)(void *, unsigned char *, size_t) = mbedtls_entropy_func;
    void *entropy_ctx = &r->entropy;
#ifdef PE_FAULT_INJECTION
    int seeded = test_seed(&r->test_seed);
    if (seeded < 0) {
        pe_rng_destroy(r);
        return seeded;
    }
    if (seeded) {
        pe_warn("rng.test_seed", "%s=%" PRIu64 " pers=%s: identifiers are deterministic",
                TEST_SEED_ENV, r->test_seed, p);
        entropy = test_entropy;
        entropy_ctx = r;
    }
#endif
    int rc = mbedtls_ctr_drbg_seed(&r->drbg, entropy, entropy_ctx, (const unsigned char *)p,
                                   strlen(p));
    if (rc != 0) {
        pe_error("rng.seed", "mbedtls_rc=-0x%04x", (unsigned)-rc);
        pe_rng_destroy(r);
        return PE_ESYS;
    }
    *out = r;
    return PE_OK;
}

void pe_rng_destroy(struct pe_rng *r)
{
    if (!r)
        return;
    mbedtls_ctr_drbg_free(&r->drbg);
    mbedtls_entropy_free(&r->entropy);
    free(r);
}

int pe_rng_bytes(struct pe_rng *r, void *buf, size_t n)
{
    /* CTR-DRBG hands out at most MBEDTLS_CTR_DRBG_MAX_REQUEST bytes per call. */
    unsigned char *p = buf;
    while (n > 0) {
        size_t chunk = n > MBEDTLS_CTR_DRBG_MAX_REQUEST ? MBEDTLS_CTR_DRBG_MAX_REQUEST : n;
        int rc = mbedtls_ctr_drbg_random(&r->drbg, p, chunk);
        if (rc != 0) {
            pe_error("rng.draw", "mbedtls_rc=-0x%04x", (unsigned)-rc);
            return PE_ESYS;
        }
        p += chunk;
        n -= chunk;
    }
    return PE_OK;
}

int pe_rng_uuid(struct pe_rng *r, char out[PE_UUID_STRLEN])
{
    uint8_t b[16];
    char hex[33];
    int rc = pe_rng_bytes(r, b, sizeof b);
    if (rc)
        return rc;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    pe_hex(b, sizeof b, hex);
    memcpy(out, hex, 8);
    out[8] = '-';
    memcpy(out + 9, hex + 8, 4);
    out[13] = '-';
    memcpy(out + 14, hex + 12, 4);
    out[18] = '-';
    memcpy(out + 19, hex + 16, 4);
    out[23] = '-';
    memcpy(out + 24, hex + 20, 12);
    out[36] = '\0';
    return PE_OK;
}
