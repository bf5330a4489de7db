/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_pricing.c - unit tests of the promotions engine (agent/pricing.c): each kind on items and
 * categories, windows to the millisecond, groups over several lines and prices, the saving of
 * mix and match spread cent for cent, weighed lines, the best promotion for the customer and
 * its ties (priority, then id), no stacking, never a negative line, and the same result for
 * the same basket whatever order the promotions come in.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/pricing.h"
#include "posedge/err.h"
#include "tests/unit/harness.h"

#define T0 INT64_C(1795000000000) /* "now" of the tests */
#define HOUR INT64_C(3600000)

static struct pe_promotion promo(const char *id, enum pe_promo_kind kind, const char *item,
                                 const char *category)
{
    struct pe_promotion p = {
        .id = id,
        .name = id,
        .kind = kind,
        .item = item,
        .category = category,
        .from_ms = T0 - HOUR,
        .to_ms = PE_CATALOG_OPEN,
    };
    return p;
}

static struct pe_promotion percent(const char *id, const char *item, const char *cat, int32_t bp)
{
    struct pe_promotion p = promo(id, PE_PROMO_PERCENT, item, cat);
    p.percent_bp = bp;
    return p;
}

static struct pe_promotion amount(const char *id, const char *item, const char *cat, int64_t a)
{
    struct pe_promotion p = promo(id, PE_PROMO_AMOUNT, item, cat);
    p.amount = a;
    return p;
}

static struct pe_promotion n_for_m(const char *id, const char *item, const char *cat, int n,
                                   int m)
{
    struct pe_promotion p = promo(id, PE_PROMO_N_FOR_M, item, cat);
    p.n = n;
    p.m = m;
    return p;
}

static struct pe_promotion mix(const char *id, const char *cat, int n, int64_t price)
{
    struct pe_promotion p = promo(id, PE_PROMO_MIX_MATCH, NULL, cat);
    p.n = n;
    p.price = price;
    return p;
}

static struct pricing_line line(const char *item, const char *cat, int64_t qty, int64_t price)
{
    struct pricing_line l = {
        .item = item, .category = cat, .qty = qty, .unit_price = price, .amount = qty * price};
    return l;
}

static struct pricing_line weighed(const char *item, const char *cat, int64_t grams,
                                   int64_t per_kg)
{
    struct pricing_line l = {.item = item,
                             .category = cat,
                             .weighed = true,
                             .qty = grams,
                             .unit_price = per_kg,
                             .amount = (grams * per_kg + 500) / 1000};
    return l;
}

#define APPLY(lines, promos)                                                                       \
    CHECK_OK(pricing_apply(lines, sizeof lines / sizeof lines[0], promos,                         \
                           sizeof promos / sizeof promos[0], T0))

static void t_nothing_to_apply(void)
{
    struct pricing_line l[] = {line("A", "Soups", 2, 150)};
    CHECK_OK(pricing_apply(l, 1, NULL, 0, T0));
    CHECK_INT(l[0].discount, 0);
    CHECK_INT(l[0].promo, -1);
    struct pe_promotion p[] = {percent("P", "B", NULL, 1000), percent("Q", NULL, "Tea", 1000)};
    APPLY(l, p);
    CHECK_INT(l[0].discount, 0);
    CHECK_INT(l[0].promo, -1);
    CHECK_OK(pricing_apply(NULL, 0, p, 2, T0));
}

static void t_percent_item_and_category(void)
{
    struct pricing_line l[] = {line("A", "Soups", 1, 1000), line("B", "Soups", 3, 333),
                               line("C", "Tea", 1, 500)};
    struct pe_promotion p[] = {percent("P-A", "A", NULL, 1500), percent("P-SOUP", NULL, "Soups", 1000)};
    APPLY(l, p);
    CHECK_INT(l[0].discount, 150); /* 15 % beats 10 % on A */
    CHECK_INT(l[0].promo, 0);
    CHECK_INT(l[1].discount, 100); /* 10 % of 999, rounded half away from zero */
    CHECK_INT(l[1].promo, 1);
    CHECK_INT(l[2].discount, 0);
    CHECK_INT(l[2].promo, -1);
}

static void t_amount_off_each_unit(void)
{
    struct pricing_line l[] = {line("A", "Soups", 3, 199), line("B", "Soups", 2, 30),
                               weighed("W", "Produce", 1500, 299)};
    struct pe_promotion p[] = {amount("AM", NULL, "Soups", 50), amount("KG", "W", NULL, 100)};
    APPLY(l, p);
    CHECK_INT(l[0].discount, 150);
    CHECK_INT(l[1].discount, 60); /* 2 x 50 off units of 30: capped at the line, never below 0 */
    CHECK_INT(l[1].promo, 0);
    CHECK_INT(l[2].discount, 150); /* 1.000 off per kg for 1.5 kg */
    CHECK_INT(l[2].promo, 1);
    CHECK_INT(l[2].amount - l[2].discount, 299); /* 449 - 150 */
}

static void t_windows(void)
{
    struct pricing_line l[] = {line("A", "Soups", 1, 1000)};
    struct pe_promotion p[] = {percent("P", "A", NULL, 5000)};
    p[0].from_ms = T0;
    p[0].to_ms = T0 + HOUR;
    CHECK_OK(pricing_apply(l, 1, p, 1, T0 - 1));
    CHECK_INT(l[0].discount, 0);
    CHECK_OK(pricing_apply(l, 1, p, 1, T0));
    CHECK_INT(l[0].discount, 500);
    CHECK_OK(pricing_apply(l, 1, p, 1, T0 + HOUR - 1));
    CHECK_INT(l[0].discount, 500);
    CHECK_OK(pricing_apply(l, 1, p, 1, T0 + HOUR));
    CHECK_INT(l[0].discount, 0);
    CHECK_INT(l[0].promo, -1);
}

static void t_n_for_m_on_an_item(void)
{
    struct pe_promotion p[] = {n_for_m("3FOR2", "A", NULL, 3, 2)};
    int64_t want[] = {0, 0, 0, 100, 100, 100, 200, 200, 200, 300};
    for (int64_t q = 1; q <= 9; q++) {
        struct pricing_line l[] = {line("A", "Soups", q, 100)};
        APPLY(l, p);
        CHECK_INT(l[0].discount, want[q]);
        CHECK_INT(l[0].promo, want[q] ? 0 : -1);
    }
    /* Split over two lines of the same item: the group counts units, not lines. */
    struct pricing_line l2[] = {line("A", "Soups", 2, 100), line("A", "Soups", 1, 100)};
    APPLY(l2, p);
    CHECK_INT(l2[0].discount + l2[1].discount, 100);
}

/* Units most expensive first, groups of n, the n - m cheapest of each group free. */
static void t_n_for_m_over_a_category(void)
{
    struct pricing_line l[] = {line("A", "Soups", 1, 300), line("B", "Soups", 1, 50),
                               line("C", "Soups", 1, 500), line("D", "Soups", 1, 100),
                               line("E", "Soups", 1, 400), line("F", "Soups", 1, 200),
                               line("G", "Soups", 1, 999)};
    struct pe_promotion p[] = {n_for_m("3FOR2", NULL, "Soups", 3, 2)};
    APPLY(l, p);
    /* 999 500 400 | 300 200 100 | 50: 400 and 100 are free; 50 is outside any group. */
    int64_t want[] = {0, 0, 0, 100, 400, 0, 0};
    int64_t sum = 0;
    for (int i = 0; i < 7; i++) {
        CHECK_INT(l[i].discount, want[i]);
        sum += l[i].discount;
    }
    CHECK_INT(sum, 500);
    CHECK_INT(l[3].promo, 0);
    CHECK_INT(l[0].promo, -1); /* in the deal at full price */
    /* 5 for 2 on two lines: 3 free units, the cheapest, from both lines. */
    struct pricing_line l2[] = {line("A", "Soups", 2, 300), line("B", "Soups", 3, 100)};
    struct pe_promotion p2[] = {n_for_m("5FOR2", NULL, "Soups", 5, 2)};
    APPLY(l2, p2);
    CHECK_INT(l2[0].discount, 0);
    CHECK_INT(l2[1].discount, 300);
}

/* Any n units of the category for price: the saving is spread by the units' prices. */
static void t_mix_and_match(void)
{
    struct pricing_line l[] = {line("A", "Soups", 1, 300), line("B", "Soups", 1, 250),
                               line("C", "Soups", 1, 200), line("T", "Tea", 1, 999)};
    struct pe_promotion p[] = {mix("MM", "Soups", 3, 500)};
    APPLY(l, p);
    CHECK_INT(l[0].discount, 100);
    CHECK_INT(l[1].discount, 83);
    CHECK_INT(l[2].discount, 67); /* 250 spread 100, 83.3, 66.7: the larger remainder gets it */
    CHECK_INT(l[0].discount + l[1].discount + l[2].discount, 250);
    CHECK_INT(l[3].discount, 0);
    /* Quantities on one line, two groups and one unit left over. */
    struct pricing_line l2[] = {line("A", "Soups", 7, 200)};
    APPLY(l2, p);
    CHECK_INT(l2[0].discount, 200); /* 2 groups of 600 for 500 */
    /* A group that costs less than the deal price saves nothing and takes nothing. */
    struct pricing_line l3[] = {line("A", "Soups", 3, 100)};
    struct pe_promotion p3[] = {mix("MM", "Soups", 3, 500), percent("P", "A", NULL, 1000)};
    APPLY(l3, p3);
    CHECK_INT(l3[0].discount, 30);
    CHECK_INT(l3[0].promo, 1);
    /* A price of 0: the group is free, never negative. */
    struct pricing_line l4[] = {line("A", "Soups", 2, 100)};
    struct pe_promotion p4[] = {mix("FREE", "Soups", 2, 0)};
    APPLY(l4, p4);
    CHECK_INT(l4[0].discount, 200);
}

/* Weighed lines are not units: group promotions leave them alone. */
static void t_weighed_and_groups(void)
{
    struct pricing_line l[] = {weighed("W", "Produce", 3000, 100), weighed("V", "Produce", 500, 100)};
    struct pe_promotion p[] = {n_for_m("3FOR2", NULL, "Produce", 3, 2), mix("MM", "Produce", 2, 1)};
    APPLY(l, p);
    CHECK_INT(l[0].discount, 0);
    CHECK_INT(l[1].discount, 0);
}

/* The best for the customer; equal savings go to the higher priority, then the smaller id. */
static void t_best_and_ties(void)
{
    struct pricing_line l[] = {line("A", "Soups", 1, 1000)};
    struct pe_promotion p[] = {amount("AM", "A", NULL, 50), percent("PC", NULL, "Soups", 1000)};
    APPLY(l, p);
    CHECK_INT(l[0].promo, 1);
    CHECK_INT(l[0].discount, 100);

    struct pe_promotion tie[] = {amount("Z", "A", NULL, 100), percent("B", NULL, "Soups", 1000),
                                 amount("A", "A", NULL, 100)};
    APPLY(l, tie);
    CHECK_INT(l[0].discount, 100);
    CHECK_INT(l[0].promo, 2); /* same saving and priority: "A" before "B" and "Z" */
    tie[0].priority = 5;
    APPLY(l, tie);
    CHECK_INT(l[0].promo, 0); /* the higher priority wins the tie */
    /* But priority never costs the customer money. */
    tie[0].amount = 99;
    APPLY(l, tie);
    CHECK_INT(l[0].promo, 2);
}

/* A group deal against the single-line deals of the lines it would take. */
static void t_group_against_single_lines(void)
{
    struct pricing_line l[] = {line("A", "Soups", 3, 100)};
    struct pe_promotion half[] = {n_for_m("3FOR2", "A", NULL, 3, 2), percent("HALF", "A", NULL, 5000)};
    APPLY(l, half);
    CHECK_INT(l[0].promo, 1); /* 150 off beats one free unit of 100 */
    CHECK_INT(l[0].discount, 150);
    struct pe_promotion fifth[] = {n_for_m("3FOR2", "A", NULL, 3, 2), percent("20", "A", NULL, 2000)};
    APPLY(l, fifth);
    CHECK_INT(l[0].promo, 0); /* 100 off beats 60 */
    CHECK_INT(l[0].discount, 100);

    /* A group over two lines: one of them has a better deal of its own; the group is still
     * worth more than both lines' own deals together, and no line gets two. */
    struct pricing_line l2[] = {line("A", "Soups", 2, 300), line("B", "Soups", 1, 300),
                                line("C", "Soups", 1, 300)};
    struct pe_promotion p2[] = {n_for_m("3FOR2", NULL, "Soups", 3, 2), amount("B50", "B", NULL, 50)};
    APPLY(l2, p2);
    int64_t sum = l2[0].discount + l2[1].discount + l2[2].discount;
    CHECK_INT(sum, 300); /* one group of three (300 free) + C alone; B50 cannot stack */
    CHECK(l2[1].promo != 1 || l2[1].discount == 50);
    int with_b50 = 0;
    for (int i = 0; i < 3; i++)
        with_b50 += l2[i].promo == 1;
    CHECK(with_b50 <= 1);

    /* Two group deals on one category: the one that saves more goes first. */
    struct pricing_line l3[] = {line("A", "Soups", 4, 250)};
    struct pe_promotion p3[] = {n_for_m("4FOR3", NULL, "Soups", 4, 3), mix("4FOR500", "Soups", 4, 500)};
    APPLY(l3, p3);
    CHECK_INT(l3[0].promo, 1);
    CHECK_INT(l3[0].discount, 500);
}

/* Never a negative line, whatever the promotion says. */
static void t_never_negative(void)
{
    struct pricing_line l[] = {line("A", "Soups", 2, 100), line("B", "Soups", 1, 0),
                               line("C", "Soups", 5, 1)};
    struct pe_promotion p[] = {percent("ALL", NULL, "Soups", 10000), amount("BIG", "C", NULL, 1000000000)};
    APPLY(l, p);
    CHECK_INT(l[0].discount, 200);
    CHECK_INT(l[1].discount, 0);
    CHECK_INT(l[1].promo, -1); /* nothing to take off */
    CHECK_INT(l[2].discount, 5);
    for (int i = 0; i < 3; i++)
        CHECK(l[i].amount - l[i].discount >= 0);
    /* Huge quantities and amounts do not overflow into a negative line. */
    struct pricing_line h[] = {line("C", "Soups", 9999, 1000000)};
    APPLY(h, p);
    CHECK_INT(h[0].discount, h[0].amount);
}

/* The same basket prices the same: promotions in any order choose the same deals. */
static void t_deterministic(void)
{
    struct pe_promotion p[] = {n_for_m("G1", NULL, "Soups", 3, 2), mix("G2", "Soups", 2, 150),
                               percent("P1", "A", NULL, 2500), amount("P2", NULL, "Soups", 40),
                               percent("P3", NULL, "Tea", 500)};
    const size_t np = sizeof p / sizeof p[0];
    struct pricing_line base[] = {line("A", "Soups", 2, 120), line("B", "Soups", 3, 90),
                                  line("C", "Tea", 1, 400), line("D", "Soups", 1, 200),
                                  weighed("W", "Soups", 750, 400)};
    const size_t n = sizeof base / sizeof base[0];
    struct pricing_line first[5];
    memcpy(first, base, sizeof first);
    CHECK_OK(pricing_apply(first, n, p, np, T0));
    /* Every rotation of the promotions gives the same ids and discounts. */
    for (size_t r = 1; r < np; r++) {
        struct pe_promotion q[5];
        for (size_t i = 0; i < np; i++)
            q[i] = p[(i + r) % np];
        struct pricing_line again[5];
        memcpy(again, base, sizeof again);
        CHECK_OK(pricing_apply(again, n, q, np, T0));
        for (size_t i = 0; i < n; i++) {
            CHECK_INT(again[i].discount, first[i].discount);
            CHECK_STR(again[i].promo < 0 ? "-" : q[again[i].promo].id,
                      first[i].promo < 0 ? "-" : p[first[i].promo].id);
        }
    }
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        CHECK(first[i].discount >= 0 && first[i].discount <= first[i].amount);
        total += first[i].discount;
    }
    CHECK(total > 0);
}

static void t_bad_lines(void)
{
    struct pricing_line l[] = {line("A", "Soups", 1, 100), line("B", "Soups", 1, 100)};
    l[1].amount = -1;
    struct pe_promotion p[] = {percent("P", NULL, "Soups", 1000)};
    CHECK_INT(pricing_apply(l, 2, p, 1, T0), PE_EINVAL);
    CHECK_INT(l[0].discount, 0);
    CHECK_INT(l[0].promo, -1);
}

static const struct pe_test tests[] = {
    {"nothing_to_apply", t_nothing_to_apply},
    {"percent_item_and_category", t_percent_item_and_category},
    {"amount_off_each_unit", t_amount_off_each_unit},
    {"windows", t_windows},
    {"n_for_m_on_an_item", t_n_for_m_on_an_item},
    {"n_for_m_over_a_category", t_n_for_m_over_a_category},
    {"mix_and_match", t_mix_and_match},
    {"weighed_and_groups", t_weighed_and_groups},
    {"best_and_ties", t_best_and_ties},
    {"group_against_single_lines", t_group_against_single_lines},
    {"never_negative", t_never_negative},
    {"deterministic", t_deterministic},
    {"bad_lines", t_bad_lines},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("pricing", tests, argc, argv);
}
