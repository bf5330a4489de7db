/* SPDX-License-Identifier: Apache-2.0 */
/* test_money.c - the till's integer money arithmetic: rounding, tax, spreading, notes. */
#include "agent/money.h"
#include "posedge/err.h"
#include "tests/unit/harness.h"

static void t_muldiv_rounds_half_away(void)
{
    int64_t v;
    CHECK_OK(money_muldiv(5, 1, 2, &v));
    CHECK_INT(v, 3); /* 2.5 -> 3 */
    CHECK_OK(money_muldiv(-5, 1, 2, &v));
    CHECK_INT(v, -3);
    CHECK_OK(money_muldiv(7, 1, 3, &v));
    CHECK_INT(v, 2);
    CHECK_OK(money_muldiv(8, 1, 3, &v));
    CHECK_INT(v, 3);
    CHECK_INT(money_muldiv(INT64_MAX, 2, 3, &v), PE_ERANGE);
    CHECK_INT(money_muldiv(1, 1, 0, &v), PE_EINVAL);
}

static void t_weighed(void)
{
    int64_t v;
    CHECK_OK(money_weighed(249, 640, &v)); /* 2.49/kg x 0.640 kg = 1.5936 */
    CHECK_INT(v, 159);
    CHECK_OK(money_weighed(399, 1500, &v)); /* 5.985 -> 5.99 */
    CHECK_INT(v, 599);
}

static void t_tax_included(void)
{
    CHECK_INT(money_tax_included(1200, 2000), 200);   /* 12.00 incl. 20 %: 2.00 tax */
    CHECK_INT(money_tax_included(1055, 550), 55);     /* 10.55 incl. 5.5 %: 0.55 */
    CHECK_INT(money_tax_included(-1200, 2000), -200); /* returns are symmetric */
    CHECK_INT(money_tax_included(999, 0), 0);
}

static void t_percent(void)
{
    CHECK_INT(money_percent(1999, 1000), 200); /* 10 % of 19.99 = 1.999 */
    CHECK_INT(money_percent(1995, 1000), 200); /* 1.995 -> 2.00 */
    CHECK_INT(money_percent(1000, 10000), 1000);
}

static void t_spread_sums_exactly(void)
{
    int64_t w[] = {333, 333, 334}, p[3];
    CHECK_OK(money_spread(100, w, 3, p));
    CHECK_INT(p[0] + p[1] + p[2], 100);
    int64_t w2[] = {1, 1, 1, 0, 7}, p2[5];
    CHECK_OK(money_spread(11, w2, 5, p2));
    CHECK_INT(p2[0] + p2[1] + p2[2] + p2[3] + p2[4], 11);
    CHECK_INT(p2[3], 0); /* a voided (zero) line gets nothing */
    for (int64_t total = 0; total < 500; total += 7) {
        int64_t w3[] = {129, 1, 50, 999}, p3[4];
        CHECK_OK(money_spread(total, w3, 4, p3));
        CHECK_INT(p3[0] + p3[1] + p3[2] + p3[3], total);
        for (int i = 0; i < 4; i++)
            CHECK(p3[i] >= 0 && p3[i] <= total);
    }
    int64_t z[] = {0, 0};
    CHECK_INT(money_spread(5, z, 2, p), PE_EINVAL);
}

static void t_next_note(void)
{
    CHECK_INT(money_next_note(1), 500);
    CHECK_INT(money_next_note(500), 500);
    CHECK_INT(money_next_note(501), 1000);
    CHECK_INT(money_next_note(4999), 5000);
    CHECK_INT(money_next_note(50001), 60000);
    CHECK_INT(money_next_note(0), 0);
}

static void t_fmt(void)
{
    char b[24];
    CHECK_STR(money_fmt(0, b, sizeof b), "0.00");
    CHECK_STR(money_fmt(5, b, sizeof b), "0.05");
    CHECK_STR(money_fmt(-1234, b, sizeof b), "-12.34");
    CHECK_STR(money_fmt(INT64_MIN, b, sizeof b), "-92233720368547758.08");
}

static const struct pe_test tests[] = {
    {"muldiv_rounds_half_away", t_muldiv_rounds_half_away},
    {"weighed", t_weighed},
    {"tax_included", t_tax_included},
    {"percent", t_percent},
    {"spread_sums_exactly", t_spread_sums_exactly},
    {"next_note", t_next_note},
    {"fmt", t_fmt},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("money", tests, argc, argv);
}
