/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pricing.c - the promotions engine (see pricing.h for the rules).
 *
 * Layout: matching and the value of a single-line promotion, the evaluation of a group
 * promotion over the lines not yet taken, then the loop that hands out promotions. The
 * invariant: a line's discount is never above its amount, and every number comes from the
 * arguments in a fixed order (lines by index, promotions by index, ties by priority then id),
 * so a basket always prices the same. Units are never expanded one by one: a group promotion
 * walks the lines' quantities as runs, most expensive first.
 */
#include "agent/pricing.h"

#include <stdlib.h>
#include <string.h>

#include "agent/money.h"
#include "posedge/err.h"

/* p targets l (its item, or its category). */
static bool matches(const struct pe_promotion *p, const struct pricing_line *l)
{
    if (p->item)
        return l->item && strcmp(p->item, l->item) == 0;
    return p->category && l->category && strcmp(p->category, l->category) == 0;
}

static bool is_group(const struct pe_promotion *p)
{
    switch (p->kind) {
    case PE_PROMO_N_FOR_M:
    case PE_PROMO_MIX_MATCH:
        return true;
    case PE_PROMO_PERCENT:
    case PE_PROMO_AMOUNT:
    case PE_PROMO__COUNT:
        break;
    }
    return false;
}

static int64_t cap(int64_t v, int64_t amount)
{
    return v < 0 ? 0 : v > amount ? amount : v;
}

/* What single-line promotion p saves on l (0 when it does not apply). */
static int64_t line_value(const struct pe_promotion *p, const struct pricing_line *l)
{
    int64_t v = 0;
    switch (p->kind) {
    case PE_PROMO_PERCENT:
        v = money_percent(l->amount, p->percent_bp);
        break;
    case PE_PROMO_AMOUNT:
        /* Off each unit; a weighed line's units are kilograms. Beyond int64 is beyond the
         * line's amount anyway. */
        if (l->weighed ? money_weighed(p->amount, l->qty, &v) != PE_OK
                       : __builtin_mul_overflow(p->amount, l->qty, &v))
            v = l->amount;
        break;
    case PE_PROMO_N_FOR_M:
    case PE_PROMO_MIX_MATCH:
    case PE_PROMO__COUNT:
        break;
    }
    return cap(v, l->amount);
}

/* a (saving va) is better for the customer than b (saving vb): more saved, then the higher
 * priority, then the smaller id. b may be NULL (nothing yet). */
static bool better(int64_t va, const struct pe_promotion *a, int64_t vb,
                   const struct pe_promotion *b)
{
    if (!b || va != vb)
        return !b || va > vb;
    if (a->priority != b->priority)
        return a->priority > b->priority;
    return strcmp(a->id, b->id) < 0;
}

/* Scratch of one evaluation. */
struct work {
    const struct pricing_line *lines;
    size_t n;
    bool *taken;   /* lines already given a promotion */
    size_t *order; /* eligible lines, most expensive unit first */
    int64_t *disc; /* per line: what the evaluated promotion takes off */
    bool *take;    /* per line: the evaluated promotion takes the line */
    size_t *gl;    /* the lines of one group */
    int64_t *gw;   /* per line of one group: the price of its units in the group */
    int64_t *gf;   /* per line of one group: what the group takes off it */
};

static const struct pricing_line *sort_lines; /* qsort has no context argument */

static int by_price_desc(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int64_t px = sort_lines[x].unit_price, py = sort_lines[y].unit_price;
    if (px != py)
        return px > py ? -1 : 1;
    return (x > y) - (x < y);
}

/*
 * Evaluate group promotion p over the counted lines not taken: w->disc and w->take per line,
 * *total the saving. Returns PE_OK or PE_ERANGE (a spread that cannot be made).
 */
static int eval_group(struct work *w, const struct pe_promotion *p, int64_t *total)
{
    size_t k = 0;
    int64_t units = 0;
    *total = 0;
    memset(w->disc, 0, w->n * sizeof *w->disc);
    memset(w->take, 0, w->n * sizeof *w->take);
    for (size_t i = 0; i < w->n; i++) {
        const struct pricing_line *l = &w->lines[i];
        if (!w->taken[i] && !l->weighed && l->qty > 0 && matches(p, l)) {
            w->order[k++] = i;
            units += l->qty;
        }
    }
    int64_t groups = units / p->n;
    if (groups == 0)
        return PE_OK;
    sort_lines = w->lines;
    qsort(w->order, k, sizeof *w->order, by_price_desc);
    size_t cur = 0;   /* position in order */
    int64_t used = 0; /* units of order[cur] already in groups */
    for (int64_t g = 0; g < groups; g++) {
        size_t ng = 0;   /* lines in this group */
        int64_t pos = 0; /* units of the group placed so far */
        int64_t sum = 0; /* the group's price */
        int64_t free_ = 0;
        while (pos < p->n) {
            size_t li = w->order[cur];
            const struct pricing_line *l = &w->lines[li];
            int64_t c = l->qty - used;
            if (c > p->n - pos)
                c = p->n - pos;
            if (ng == 0 || w->gl[ng - 1] != li) {
                w->gl[ng] = li;
                w->gw[ng] = 0;
                w->gf[ng++] = 0;
            }
            if (p->kind == PE_PROMO_N_FOR_M) {
                /* Positions m..n-1 of a group are its cheapest units: free. */
                int64_t lo = pos > p->m ? pos : p->m, hi = pos + c;
                if (hi > lo) {
                    w->gf[ng - 1] += (hi - lo) * l->unit_price;
                    free_ += (hi - lo) * l->unit_price;
                }
            }
            w->gw[ng - 1] += c * l->unit_price;
            sum += c * l->unit_price;
            pos += c;
            used += c;
            if (used == l->qty) {
                cur++;
                used = 0;
            }
        }
        /* A group that saves nothing takes no line: those lines stay free for another. */
        int64_t saving = p->kind == PE_PROMO_N_FOR_M ? free_ : sum - p->price;
        if (saving <= 0)
            continue;
        if (p->kind == PE_PROMO_MIX_MATCH) {
            int rc = money_spread(saving, w->gw, ng, w->gf);
            if (rc)
                return rc;
        }
        for (size_t i = 0; i < ng; i++) {
            w->disc[w->gl[i]] += w->gf[i];
            w->take[w->gl[i]] = true;
        }
    }
    for (size_t i = 0; i < w->n; i++) {
        w->disc[i] = cap(w->disc[i], w->lines[i].amount);
        *total += w->disc[i];
    }
    return PE_OK;
}

int pricing_apply(struct pricing_line *lines, size_t n, const struct pe_promotion *promos,
                  size_t np, int64_t now_ms)
{
    for (size_t i = 0; i < n; i++) {
        lines[i].discount = 0;
        lines[i].promo = -1;
        if (lines[i].amount < 0 || lines[i].qty < 0)
            return PE_EINVAL;
    }
    if (n == 0 || np == 0)
        return PE_OK;
    struct work w = {.lines = lines, .n = n};
    w.taken = calloc(n, sizeof *w.taken);
    w.take = calloc(n, sizeof *w.take);
    w.order = calloc(n, sizeof *w.order);
    w.gl = calloc(n, sizeof *w.gl);
    w.disc = calloc(n, sizeof *w.disc);
    w.gw = calloc(n, sizeof *w.gw);
    w.gf = calloc(n, sizeof *w.gf);
    int64_t *best_v = calloc(n, sizeof *best_v);
    int *best_p = calloc(n, sizeof *best_p);
    bool *used = calloc(np, sizeof *used);
    int rc = w.taken && w.take && w.order && w.gl && w.disc && w.gw && w.gf && best_v && best_p && used
                 ? PE_OK
                 : PE_ENOMEM;
    while (rc == PE_OK) {
        /* Each line's best single-line promotion. */
        for (size_t i = 0; i < n; i++) {
            best_v[i] = 0;
            best_p[i] = -1;
            for (size_t k = 0; !w.taken[i] && k < np; k++) {
                const struct pe_promotion *p = &promos[k];
                if (is_group(p) || !pe_promotion_active(p, now_ms) || !matches(p, &lines[i]))
                    continue;
                int64_t v = line_value(p, &lines[i]);
                if (v > 0 && better(v, p, best_v[i], best_p[i] < 0 ? NULL : &promos[best_p[i]])) {
                    best_v[i] = v;
                    best_p[i] = (int)k;
                }
            }
        }
        /* The group promotion that gains most over those, if any gains at all. */
        int g = -1;
        int64_t g_net = 0;
        for (size_t k = 0; rc == PE_OK && k < np; k++) {
            const struct pe_promotion *p = &promos[k];
            if (used[k] || !is_group(p) || !pe_promotion_active(p, now_ms))
                continue;
            int64_t total = 0, net;
            if ((rc = eval_group(&w, p, &total)) || total == 0)
                continue;
            net = total;
            for (size_t i = 0; i < n; i++)
                net -= w.take[i] ? best_v[i] : 0;
            if (net > 0 && better(net, p, g_net, g < 0 ? NULL : &promos[g])) {
                g = (int)k;
                g_net = net;
            }
        }
        if (rc || g < 0)
            break;
        /* Evaluated again (the scratch holds the last one), then given out. */
        int64_t total = 0;
        if ((rc = eval_group(&w, &promos[g], &total)))
            break;
        for (size_t i = 0; i < n; i++) {
            if (!w.take[i])
                continue;
            w.taken[i] = true;
            /* A line that pays full price in its group (n_for_m) is in the deal, not
             * discounted: it keeps its base price and takes no other promotion. */
            lines[i].discount = w.disc[i];
            lines[i].promo = w.disc[i] > 0 ? g : -1;
        }
        used[g] = true;
    }
    for (size_t i = 0; rc == PE_OK && i < n; i++) {
        if (!w.taken[i] && best_p[i] >= 0) {
            lines[i].discount = best_v[i];
            lines[i].promo = best_p[i];
        }
    }
    if (rc) {
        for (size_t i = 0; i < n; i++) {
            lines[i].discount = 0;
            lines[i].promo = -1;
        }
    }
    free(w.taken);
    free(w.take);
    free(w.order);
    free(w.gl);
    free(w.disc);
    free(w.gw);
    free(w.gf);
    free(best_v);
    free(best_p);
    free(used);
    return rc;
}
