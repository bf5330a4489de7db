/* SPDX-License-Identifier: Apache-2.0 */
/*
 * money.c - integer money arithmetic for the till (see money.h). No floating point anywhere:
 * every intermediate fits in int64 or the operation reports PE_ERANGE.
 */
#include "agent/money.h"

#include <stdio.h>

#include "posedge/err.h"

int money_muldiv(int64_t a, int64_t b, int64_t d, int64_t *out)
{
    if (d <= 0)
        return PE_EINVAL;
    int64_t p;
    if (__builtin_mul_overflow(a, b, &p))
        return PE_ERANGE;
    int64_t q = p / d, r = p % d;
    /* Half away from zero: compare twice the remainder with the divisor. */
    if (r != 0) {
        int64_t r2 = r < 0 ? -r : r;
        if (r2 >= d - r2)
            q += p < 0 ? -1 : 1;
    }
    *out = q;
    return PE_OK;
}

int money_weighed(int64_t price_per_kg, int64_t grams, int64_t *out)
{
    return money_muldiv(price_per_kg, grams, 1000, out);
}

int64_t money_tax_included(int64_t gross, int32_t rate_bp)
{
    int64_t tax = 0;
    if (rate_bp <= 0 || money_muldiv(gross, rate_bp, 10000 + (int64_t)rate_bp, &tax) != PE_OK)
        return 0;
    return tax;
}

int64_t money_percent(int64_t amount, int32_t bp)
{
    int64_t v = 0;
    if (money_muldiv(amount, bp, 10000, &v) != PE_OK)
        return 0;
    return v;
}

int money_spread(int64_t total, const int64_t *weights, size_t n, int64_t *parts)
{
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (weights[i] < 0 || __builtin_add_overflow(sum, weights[i], &sum))
            return PE_EINVAL;
    }
    if (n == 0 || sum <= 0)
        return PE_EINVAL;
    int64_t given = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t p;
        if (__builtin_mul_overflow(total, weights[i], &p))
            return PE_ERANGE;
        parts[i] = p / sum; /* truncated toward zero; the remainder is handed out below */
        given += parts[i];
    }
    /* Largest remainder: the |left| (< n) units still missing go one each to the parts whose
     * truncated remainder was largest; ties go to the earlier line, so it is deterministic. */
    int64_t left = total - given;
    int64_t step = left > 0 ? 1 : -1;
    while (left != 0) {
        size_t best = n;
        int64_t best_rem = -1;
        for (size_t i = 0; i < n; i++) {
            int64_t rem = (total * weights[i]) % sum;
            rem = rem < 0 ? -rem : rem;
            int64_t took = parts[i] - (total * weights[i]) / sum; /* 0 or step already */
            if (took != 0 || weights[i] == 0)
                continue;
            if (rem > best_rem) {
                best_rem = rem;
                best = i;
            }
        }
        if (best == n)
            return PE_ERANGE; /* cannot happen: fewer units left than parts */
        parts[best] += step;
        left -= step;
    }
    return PE_OK;
}

int64_t money_next_note(int64_t due)
{
    static const int64_t notes[] = {500, 1000, 2000, 5000, 10000, 20000, 50000};
    if (due <= 0)
        return 0;
    for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++)
        if (notes[i] >= due)
            return notes[i];
    return (due + 9999) / 10000 * 10000;
}

char *money_fmt(int64_t v, char *buf, size_t len)
{
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    snprintf(buf, len, "%s%llu.%02llu", v < 0 ? "-" : "", (unsigned long long)(a / 100),
             (unsigned long long)(a % 100));
    return buf;
}
