/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json.h - canonical JSON and small typed accessors over cJSON.
 *
 * Canonical form (what every hash in posedge is computed over):
 *  - no insignificant whitespace;
 *  - object members sorted by key, bytewise (strcmp) order, recursively; duplicate keys refused;
 *  - numbers are integers only, printed in decimal without exponent, sign only when negative,
 *    within +/- 2^53 (money is minor units, weight is grams: floats never occur);
 *  - strings are UTF-8; only '"', '\\' and control characters below 0x20 are escaped, using
 *    \b \f \n \r \t where they exist and \u00XX (lower-case hex) otherwise; '/' is not escaped;
 *  - true, false and null as literals.
 * Two events with the same content therefore have the same bytes on every platform.
 */
#ifndef POSEDGE_JSON_H
#define POSEDGE_JSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PE_JSON_MAX_INT 9007199254740992LL /* 2^53: beyond it a double loses integers */

/*
 * Serialise item canonically. On success *out is a NUL-terminated malloc'd string owned by the
 * caller (free()) and *len its length without the NUL (len may be NULL).
 * Errors: PE_EINVAL for a non-integer or out-of-range number, a duplicate key, or invalid
 * UTF-8 in a string; PE_ENOMEM.
 */
int pe_json_canonical(const cJSON *item, char **out, size_t *len);

/*
 * Parse len bytes (need not be NUL-terminated). On success *out is owned by the caller
 * (cJSON_Delete). Errors: PE_EPARSE (why, if not NULL, gets a short reason with the byte
 * offset), PE_ENOMEM.
 */
int pe_json_parse(const char *buf, size_t len, cJSON **out, char *why, size_t whylen);

/* Typed member access. Each returns PE_OK, PE_ENOTFOUND when the key is absent, or PE_EINVAL
 * when present with the wrong type (or, for integers, not integral / beyond 2^53). */
int pe_json_get_int(const cJSON *obj, const char *key, int64_t *out);
int pe_json_get_str(const cJSON *obj, const char *key, const char **out); /* borrowed */
int pe_json_get_bool(const cJSON *obj, const char *key, bool *out);

/* An item as an exact integer: PE_OK with *out when it is a number without a fraction within
 * 2^53 (the doubles that are integers exactly), else PE_EINVAL. Never converts a double that
 * does not fit an integer type (1e300 cast to long long is undefined behaviour). */
int pe_json_int(const cJSON *item, int64_t *out);

/* Add an integer member exactly (cJSON stores doubles; values within 2^53 are exact).
 * Returns PE_OK, PE_ERANGE beyond 2^53, PE_ENOMEM. */
int pe_json_add_int(cJSON *obj, const char *key, int64_t v);

/* Add a string member (copied). Returns PE_OK or PE_ENOMEM. */
int pe_json_add_str(cJSON *obj, const char *key, const char *v);

#endif
