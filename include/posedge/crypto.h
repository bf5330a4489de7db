/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crypto.h - SHA-256 and random identifiers, on mbedTLS.
 *
 * UUIDs are version 4, drawn from mbedTLS's CTR-DRBG seeded from the platform entropy source;
 * a till draws an event's id once, at capture, and never regenerates it.
 */
#ifndef POSEDGE_CRYPTO_H
#define POSEDGE_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define PE_SHA256_LEN 32
#define PE_SHA256_HEXLEN 65 /* 64 hex digits and NUL */
#define PE_UUID_STRLEN 37   /* 36 characters and NUL */

/* SHA-256 of the concatenation a || b (b may be NULL with blen 0). */
void pe_sha256_2(const void *a, size_t alen, const void *b, size_t blen,
                 uint8_t out[PE_SHA256_LEN]);

/* Lower-case hex of n bytes into out, which holds 2n+1 bytes. */
void pe_hex(const uint8_t *in, size_t n, char *out);

/* True when s is exactly 64 lower-case hex digits. */
int pe_is_sha256_hex(const char *s);

struct pe_rng;

/*
 * Create a CTR-DRBG seeded from the entropy source; pers is a personalisation string
 * (e.g. "posedge-agent/s001/t01"). Errors: PE_ENOMEM, PE_ESYS when seeding fails.
 * Test builds (PE_FAULT_INJECTION) only: with PE_TEST_RNG_SEED=<n> in the environment the
 * entropy is a fixed stream of n, so the draws repeat run to run (a warning says so); a value
 * that is not a decimal number is PE_EINVAL. Release builds ignore the variable.
 */
int pe_rng_create(const char *pers, struct pe_rng **out);

/* Free; pe_rng_destroy(NULL) is a no-op. */
void pe_rng_destroy(struct pe_rng *rng);

/* Fill buf with n random bytes. Errors: PE_ESYS. */
int pe_rng_bytes(struct pe_rng *rng, void *buf, size_t n);

/* Draw a random (version 4, RFC 4122 variant) UUID as lower-case text. Errors: PE_ESYS. */
int pe_rng_uuid(struct pe_rng *rng, char out[PE_UUID_STRLEN]);

/* True when s is a lower-case 8-4-4-4-12 UUID. */
int pe_is_uuid(const char *s);

#endif
