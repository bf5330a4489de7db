/* SPDX-License-Identifier: Apache-2.0 */
/*
 * money.h - the till's money arithmetic, all in integer minor units.
 *
 * Prices are tax-inclusive, as on a shelf label. Rounding is half away from zero wherever a
 * division happens, and a basket discount is spread over lines with the largest-remainder
 * method so that the parts always add up to the whole, cent for cent.
 */
#ifndef POSEDGE_AGENT_MONEY_H
#define POSEDGE_AGENT_MONEY_H

#include <stddef.h>
#include <stdint.h>

/* a * b / d rounded half away from zero; d > 0. Returns PE_OK or PE_ERANGE on overflow. */
int money_muldiv(int64_t a, int64_t b, int64_t d, int64_t *out);

/* Amount of a weighed line: price per kg times grams / 1000, rounded. */
int money_weighed(int64_t price_per_kg, int64_t grams, int64_t *out);

/* Tax contained in a tax-inclusive gross amount at rate_bp: gross * bp / (10000 + bp). */
int64_t money_tax_included(int64_t gross, int32_t rate_bp);

/* Percentage (basis points) of an amount, rounded. */
int64_t money_percent(int64_t amount, int32_t bp);

/*
 * Spread total over n weights proportionally (largest remainder): parts[i] sum to total
 * exactly. Weights must be >= 0 with a positive sum. Returns PE_OK, PE_EINVAL, PE_ERANGE.
 */
int money_spread(int64_t total, const int64_t *weights, size_t n, int64_t *parts);

/* The smallest note (5, 10, 20, 50, 100, 200, 500 in major units) covering due, or due
 * rounded up to a multiple of 100.00 above that. */
int64_t money_next_note(int64_t due);

/* Format minor units as "-12.34" into buf (>= 24 bytes); returns buf. */
char *money_fmt(int64_t v, char *buf, size_t len);

#endif
