/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pricing.h - the promotions engine: which promotion takes how much off each line of a basket.
 *
 * The till gives the basket's lines (each at the price in force when it was added) and the
 * catalog's promotions; the engine says, for each line, the promotion applied to it (or none)
 * and the discount it gives. The rules (docs/protocol.md, "Promotions"):
 *  - a promotion applies while in force (from <= now < to) to the lines of its target item or
 *    category; percent and amount work line by line (amount off each unit, per kg when
 *    weighed), n_for_m and mix_match on the counted units of all the lines they target
 *    together: the units, most expensive first, make groups of n; in each full group the n - m
 *    cheapest units are free (n_for_m), or the group costs price (mix_match, the saving spread
 *    over the group's units by their prices);
 *  - a line gets one promotion at most, and never a discount above its amount (never a
 *    negative line);
 *  - when several match, the customer gets the best: a group promotion goes first when it saves
 *    more than the best single-line promotions of the lines it takes (the largest such gain
 *    first), then every other line takes its own best; ties go to the higher priority, then to
 *    the smaller id (strcmp);
 *  - the result depends on nothing but the arguments: the same basket prices the same.
 */
#ifndef POSEDGE_AGENT_PRICING_H
#define POSEDGE_AGENT_PRICING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posedge/catalog.h"

struct pricing_line {
    /* in */
    const char *item;     /* item id */
    const char *category; /* its category */
    bool weighed;         /* qty is grams and unit_price per kg */
    int64_t qty;          /* units, or grams */
    int64_t unit_price;   /* per unit, or per kg */
    int64_t amount;       /* the line before discounts (>= 0) */
    /* out */
    int64_t discount; /* what the promotion takes off, 0..amount */
    int promo;        /* index in the promotions given, -1 when none applies */
};

/*
 * Price n lines with the np promotions (those in force at now_ms count; the others are
 * ignored). Sets each line's discount and promo. Errors: PE_EINVAL (a line with a negative
 * amount or quantity), PE_ENOMEM; on error every line is left without a promotion.
 */
int pricing_apply(struct pricing_line *lines, size_t n, const struct pe_promotion *promos,
                  size_t np, int64_t now_ms);

#endif
