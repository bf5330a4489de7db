/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim_shopper.c - the seeded shopper simulator: trading days of customers at one till.
 *
 * Whenever the engine's queue runs dry the shopper generates the next batch of steps: the
 * opening login and shift, one customer (a sale, a return, a void or a no-sale, with the
 * operator's occasional mistakes), or the end of a trading day (shift close, reports, and the
 * next morning's login). Invariant: every choice comes from one xoshiro256** generator seeded
 * from opts->seed, drawn in a fixed order, so the same seed over the same catalog (and the
 * same committed sales) yields the same inputs at the same simulated times, on every
 * platform: the arithmetic is integer only. docs/scenario.md describes the behaviour.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/catalog.h"
#include "sim/sim_int.h"

#define HOUR_MS INT64_C(3600000)
#define DAY_MS (24 * HOUR_MS)
#define SALES_KEPT 64 /* recent sales remembered for returns */
#define OPENING_FLOAT 20000
#define QTY_KEY_PCT 15 /* percent of counted lines keyed with a quantity of 2..3 first */

/* Luhn-valid test card numbers (the schemes' published test PANs). */
static const char *const test_pans[] = {
    "4111111111111111", "4012888888881881", "5555555555554444",
    "5105105105105100", "378282246310005",  "6011111111111117",
};

struct sold_line {
    char barcode[24]; /* the item's barcode */
    int64_t qty;      /* units, or grams when weighed */
    bool weighed;     /* sold by weight */
};

struct sold {
    int64_t seq;                              /* receipt number */
    int nlines;                               /* entries in lines */
    struct sold_line lines[PE_KEY_MAX_LINES]; /* returnable lines */
};

struct shopper {
    struct pe_shopper_opts o;     /* validated options */
    const struct pe_catalog *cat; /* borrowed */
    uint64_t s[4];                /* xoshiro256** state */
    size_t *counted;              /* catalog indices of counted items */
    size_t ncounted;
    size_t *weighed; /* catalog indices of weighed items */
    size_t nweighed;
    bool started;                  /* the opening login is generated */
    int64_t day_open;              /* current trading day, UTC ms */
    int64_t day_close;             /* and its close */
    int64_t interval;              /* mean time between customers */
    int64_t next_arrival;          /* when the next customer arrives */
    int32_t served_today;          /* customers today */
    int64_t generated;             /* customers generated */
    struct sold sales[SALES_KEPT]; /* ring of recent sales */
    int nsales;                    /* entries used */
    int sales_next;                /* where the next one goes */
    /* While generating a batch: */
    struct pe_sim *sim;       /* the engine */
    int64_t t;                /* due time of the last step generated */
    int64_t not_before;       /* the next step is due no earlier than this */
    bool count_next;          /* the next step begins a customer */
    bool oom;                 /* an append failed */
    struct sim__step scratch; /* written instead when out of memory */
};

/* ---- PRNG: splitmix64 seeds xoshiro256** ------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(struct shopper *sh)
{
    uint64_t *s = sh->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in 0..n-1 (n >= 1), without modulo bias. */
static uint64_t below(struct shopper *sh, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v;
    do
        v = next_u64(sh);
    while (v >= limit);
    return v % n;
}

/* Uniform in lo..hi inclusive. */
static int64_t range(struct shopper *sh, int64_t lo, int64_t hi)
{
    return lo + (int64_t)below(sh, (uint64_t)(hi - lo) + 1);
}

static bool per_mille(struct shopper *sh, int32_t pm)
{
    return (int32_t)below(sh, 1000) < pm;
}

/* ---- Options ------------------------------------------------------------------------------ */

void pe_shopper_opts_default(struct pe_shopper_opts *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->transactions = -1;
    o->start_ms = 0;
    o->tx_per_day = 300;
    o->open_hour = 8;
    o->close_hour = 20;
    o->card_pm = 550;
    o->split_pm = 50;
    o->decline_pm = 40;
    o->return_pm = 30;
    o->void_pm = 20;
    o->nosale_pm = 15;
    o->weighed_pm = 120;
    o->error_pm = 20;
    o->max_lines = 8;
    snprintf(o->operator_, sizeof o->operator_, "op01");
}

static int check_opts(const struct pe_shopper_opts *o, char *err, size_t errlen)
{
    const struct {
        const char *name;
        int32_t v;
    } pms[] = {
        {"card_pm", o->card_pm},       {"split_pm", o->split_pm}, {"decline_pm", o->decline_pm},
        {"return_pm", o->return_pm},   {"void_pm", o->void_pm},   {"nosale_pm", o->nosale_pm},
        {"weighed_pm", o->weighed_pm}, {"error_pm", o->error_pm},
    };
    for (size_t i = 0; i < sizeof pms / sizeof pms[0]; i++) {
        if (pms[i].v < 0 || pms[i].v > 1000) {
            if (err && errlen)
                snprintf(err, errlen, "shopper: %s must be 0..1000 (per mille), not %d",
                         pms[i].name, (int)pms[i].v);
            return PE_EINVAL;
        }
    }
    const char *why = NULL;
    if (o->nosale_pm + o->return_pm + o->void_pm > 1000)
        why = "nosale_pm + return_pm + void_pm must not exceed 1000";
    else if (o->card_pm + o->split_pm > 1000)
        why = "card_pm + split_pm must not exceed 1000";
    else if (o->open_hour < 0 || o->open_hour > 23)
        why = "open_hour must be 0..23";
    else if (o->close_hour < 0 || o->close_hour > 23)
        why = "close_hour must be 0..23";
    else if (o->open_hour >= o->close_hour)
        why = "open_hour must be before close_hour";
    else if (o->tx_per_day < 1)
        why = "tx_per_day must be at least 1";
    else if (o->max_lines < 1 || o->max_lines > 30)
        why = "max_lines must be 1..30";
    else if (!memchr(o->operator_, '\0', sizeof o->operator_) || !o->operator_[0])
        why = "operator must be 1..32 characters";
    if (!why)
        return PE_OK;
    if (err && errlen)
        snprintf(err, errlen, "shopper: %s", why);
    return PE_EINVAL;
}

/* ---- Emitting steps ----------------------------------------------------------------------- */

/*
 * Append a step due delay ms after the previous one (or at not_before, if later). Out of
 * memory, the step is written to scratch and the batch fails as a whole at its end.
 */
static struct sim__step *emit(struct shopper *sh, int64_t delay, enum sim__input in)
{
    struct sim__step *st = sim__append(sh->sim);
    if (!st) {
        sh->oom = true;
        st = &sh->scratch;
        memset(st, 0, sizeof *st);
    }
    if (sh->count_next)
        st->counts = 1;
    sh->count_next = false;
    int64_t due = sh->t + (delay > 0 ? delay : 0);
    if (due < sh->not_before)
        due = sh->not_before;
    sh->not_before = 0;
    st->advance_ms = due - sh->t;
    st->input = in;
    sh->t = due;
    return st;
}

static struct sim__step *key(struct shopper *sh, int64_t delay, enum pe_key_kind kind)
{
    struct sim__step *st = emit(sh, delay, SIM_IN_KEY);
    st->kind = kind;
    return st;
}

static void scan(struct shopper *sh, int64_t delay, const char *code)
{
    struct sim__step *st = emit(sh, delay, SIM_IN_SCAN);
    snprintf(st->text, sizeof st->text, "%s", code);
}

static void weigh(struct shopper *sh, int64_t delay, int32_t grams, bool stable)
{
    struct sim__step *st = emit(sh, delay, SIM_IN_WEIGH);
    st->grams = grams;
    st->stable = stable;
}

/* 2..8 s between an operator's actions within a customer. */
static int64_t gap(struct shopper *sh)
{
    return range(sh, 2000, 8000);
}

/* ---- Days --------------------------------------------------------------------------------- */

static int64_t floor_day(int64_t t)
{
    int64_t d = t / DAY_MS;
    if (t % DAY_MS < 0)
        d--;
    return d * DAY_MS;
}

/* Make the trading day that is open at t, or the next one, current. */
static void plan_day(struct shopper *sh, int64_t t)
{
    int64_t day0 = floor_day(t);
    sh->day_open = day0 + sh->o.open_hour * HOUR_MS;
    sh->day_close = day0 + sh->o.close_hour * HOUR_MS;
    if (t >= sh->day_close) {
        sh->day_open += DAY_MS;
        sh->day_close += DAY_MS;
    }
    sh->served_today = 0;
    /* One interval more than customers, so that the jittered arrivals fit the day. */
    sh->interval = (sh->day_close - sh->day_open) / (sh->o.tx_per_day + 1);
    if (sh->interval < 1)
        sh->interval = 1;
}

/* Login and shift open a second from now, or at the day's opening if that is later. */
static void open_day(struct shopper *sh)
{
    sh->not_before = sh->day_open;
    struct sim__step *st = key(sh, 1000, PE_KEY_LOGIN);
    snprintf(st->text, sizeof st->text, "%s", sh->o.operator_);
    st = key(sh, range(sh, 3000, 6000), PE_KEY_SHIFT_OPEN);
    st->amount = OPENING_FLOAT;
    sh->next_arrival = sh->t + (int64_t)below(sh, (uint64_t)sh->interval) + 1;
}

static void close_day(struct shopper *sh)
{
    struct sim__step *st = key(sh, range(sh, 30000, 120000), PE_KEY_SHIFT_CLOSE);
    st->amount = 0;
    if (below(sh, 3) == 0)
        key(sh, range(sh, 5000, 15000), PE_KEY_X_REPORT);
    key(sh, range(sh, 5000, 15000), PE_KEY_Z_REPORT);
    plan_day(sh, sh->day_open + DAY_MS);
    open_day(sh);
}

/* ---- Customers ---------------------------------------------------------------------------- */

static const struct pe_item *pick_item(struct shopper *sh, bool weighed)
{
    const size_t *ix = weighed ? sh->weighed : sh->counted;
    size_t n = weighed ? sh->nweighed : sh->ncounted;
    return pe_catalog_at(sh->cat, ix[below(sh, n)]);
}

/* A valid EAN-13 with prefix 299 that the catalog does not know. */
static void unknown_barcode(struct shopper *sh, char out[14])
{
    for (int tries = 0; tries < 16; tries++) {
        snprintf(out, 14, "299%09llu", (unsigned long long)below(sh, 1000000000ULL));
        out[12] = (char)('0' + pe_ean13_check_digit(out));
        out[13] = '\0';
        if (!pe_catalog_by_barcode(sh->cat, out))
            return;
    }
}

/* Ring up one line: weigh then scan, or [QTY] then scan. Returns its estimated amount. */
static int64_t ring_line(struct shopper *sh, const struct pe_item *it, int32_t grams, int64_t qty)
{
    if (it->weighed) {
        weigh(sh, gap(sh), grams, true);
        scan(sh, range(sh, 1000, 3000), it->barcode);
        return (it->price * grams + 500) / 1000;
    }
    if (qty > 1) {
        struct sim__step *st = key(sh, gap(sh), PE_KEY_QTY);
        st->qty = qty;
        scan(sh, range(sh, 1000, 3000), it->barcode);
    } else {
        scan(sh, gap(sh), it->barcode);
    }
    return it->price * qty;
}

/*
 * One basket line, with the operator's occasional mistake. *lines counts the lines the till
 * has numbered so far, voided ones included. Returns the estimated amount.
 */
static int64_t basket_line(struct shopper *sh, int *lines, bool mistakes)
{
    bool weighed = sh->nweighed > 0 && (sh->ncounted == 0 || per_mille(sh, sh->o.weighed_pm));
    const struct pe_item *it = pick_item(sh, weighed);
    int32_t grams = 0;
    int64_t qty = 1;
    if (weighed)
        grams = (int32_t)range(sh, 100, 2500);
    else if (range(sh, 0, 99) < QTY_KEY_PCT)
        qty = range(sh, 2, 3);
    int mistake = -1;
    if (mistakes && per_mille(sh, sh->o.error_pm)) {
        mistake = (int)below(sh, 3);
        if (mistake == 1 && !weighed)
            mistake = 0;
    }
    if (mistake == 0) {
        char code[14];
        unknown_barcode(sh, code);
        scan(sh, gap(sh), code); /* refused by the till */
    } else if (mistake == 1) {
        /* Scanned while the scale still moves: refused; weighed again and rescanned. */
        weigh(sh, gap(sh), grams + (int32_t)range(sh, -40, 40), false);
        scan(sh, range(sh, 500, 1500), it->barcode);
    }
    int64_t amount = ring_line(sh, it, grams, qty);
    (*lines)++;
    if (mistake == 2) {
        /* Wrong line: voided and rung up again. A voided line keeps its number (it stays on
         * the receipt, struck out), so the new one is the next number. */
        struct sim__step *st = key(sh, gap(sh), PE_KEY_LINE_VOID);
        st->line = *lines;
        ring_line(sh, it, grams, qty);
        (*lines)++;
    }
    return amount;
}

static void pay_card(struct shopper *sh, int64_t delay, int64_t amount, bool split)
{
    bool declined = per_mille(sh, sh->o.decline_pm);
    const char *pan = test_pans[below(sh, sizeof test_pans / sizeof test_pans[0])];
    struct sim__step *st = key(sh, delay, PE_KEY_TENDER_CARD);
    st->amount = amount;
    st->flags = split ? PE_KEYF_SPLIT : 0;
    st->card = true;
    st->decline = declined;
    snprintf(st->pan, sizeof st->pan, "%s", pan);
    if (declined || split) {
        /* Declined: the customer pays cash instead. Split: cash pays the rest. */
        st = key(sh, range(sh, 5000, 15000), PE_KEY_TENDER_CASH);
        st->flags = PE_KEYF_NEXT_NOTE;
    }
}

static void customer_sale(struct shopper *sh)
{
    int nlines = (int)range(sh, 1, sh->o.max_lines);
    int lines = 0;
    int64_t total = 0;
    for (int i = 0; i < nlines; i++)
        total += basket_line(sh, &lines, true);
    key(sh, gap(sh), PE_KEY_SUBTOTAL);
    int64_t delay = range(sh, 10000, 40000);
    int32_t r = (int32_t)below(sh, 1000);
    if (r < sh->o.card_pm) {
        pay_card(sh, delay, 0, false);
    } else if (r < sh->o.card_pm + sh->o.split_pm && total >= 2) {
        pay_card(sh, delay, total / 2, true);
    } else {
        struct sim__step *st = key(sh, delay, PE_KEY_TENDER_CASH);
        st->flags = below(sh, 2) ? PE_KEYF_EXACT : PE_KEYF_NEXT_NOTE;
    }
}

static void customer_void(struct shopper *sh)
{
    int nlines = (int)range(sh, 1, 3);
    int lines = 0;
    for (int i = 0; i < nlines; i++)
        basket_line(sh, &lines, false);
    key(sh, range(sh, 5000, 20000), PE_KEY_CANCEL);
}

static void customer_return(struct shopper *sh)
{
    int k = (int)below(sh, (uint64_t)sh->nsales);
    struct sold *s = &sh->sales[k];
    const struct sold_line *l = &s->lines[below(sh, (uint64_t)s->nlines)];
    struct sim__step *st = key(sh, gap(sh), PE_KEY_RETURN);
    st->ref_seq = s->seq;
    if (l->weighed) {
        weigh(sh, gap(sh), (int32_t)l->qty, true);
        scan(sh, range(sh, 1000, 3000), l->barcode);
    } else {
        scan(sh, gap(sh), l->barcode);
    }
    st = key(sh, range(sh, 5000, 15000), PE_KEY_TENDER_CASH);
    st->flags = PE_KEYF_EXACT;
    /* One return per remembered sale: forget it (the last entry takes its place). */
    sh->sales[k] = sh->sales[sh->nsales - 1];
    sh->nsales--;
    sh->sales_next = sh->nsales;
}

static void customer(struct shopper *sh)
{
    /* The customer's first action is due when they reach the till, at the earliest. */
    sh->not_before = sh->next_arrival;
    sh->count_next = true; /* the customer's first step counts them */
    sh->served_today++;
    sh->generated++;
    sh->next_arrival += sh->interval * range(sh, 500, 1500) / 1000;
    int32_t r = (int32_t)below(sh, 1000);
    int32_t nosale = sh->o.nosale_pm, ret = nosale + sh->o.return_pm, vd = ret + sh->o.void_pm;
    if (r < nosale) {
        struct sim__step *st = key(sh, gap(sh), PE_KEY_NO_SALE);
        snprintf(st->text, sizeof st->text, "change");
    } else if (r < ret && sh->nsales > 0) {
        customer_return(sh);
    } else if (r >= ret && r < vd) {
        customer_void(sh);
    } else {
        customer_sale(sh); /* also a would-be return when no sale is remembered */
    }
}

/* ---- The source --------------------------------------------------------------------------- */

static int shopper_refill(struct pe_sim *sim, void *ctx)
{
    struct shopper *sh = ctx;
    sh->sim = sim;
    sh->t = pe_sim_now(sim);
    sh->not_before = 0;
    sh->count_next = false;
    sh->oom = false;
    if (!sh->started) {
        sh->started = true;
        plan_day(sh, sh->t);
        open_day(sh);
    } else if (sh->o.transactions >= 0 && sh->generated >= sh->o.transactions) {
        return PE_EEOF;
    } else if (sh->served_today >= sh->o.tx_per_day || sh->next_arrival >= sh->day_close ||
               sh->t >= sh->day_close) {
        close_day(sh);
    } else {
        customer(sh);
    }
    return sh->oom ? PE_ENOMEM : PE_OK;
}

/* Remember a committed sale's returnable lines; malformed lines are skipped. */
static void shopper_committed(void *ctx, int64_t seq, const char *id, const cJSON *body)
{
    struct shopper *sh = ctx;
    (void)id;
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(body, "lines");
    if (seq <= 0 || !cJSON_IsArray(lines))
        return;
    struct sold s;
    memset(&s, 0, sizeof s);
    s.seq = seq;
    const cJSON *l;
    cJSON_ArrayForEach(l, lines)
    {
        if (s.nlines == PE_KEY_MAX_LINES)
            break;
        const cJSON *bc = cJSON_GetObjectItemCaseSensitive(l, "barcode");
        const cJSON *item = cJSON_GetObjectItemCaseSensitive(l, "item");
        const cJSON *qty = cJSON_GetObjectItemCaseSensitive(l, "qty");
        const cJSON *unit = cJSON_GetObjectItemCaseSensitive(l, "unit");
        const struct pe_item *it = NULL;
        if (cJSON_IsString(bc) && pe_ean13_valid(bc->valuestring))
            it = pe_catalog_by_barcode(sh->cat, bc->valuestring);
        if (!it && cJSON_IsString(item) && item->valuestring)
            it = pe_catalog_by_id(sh->cat, item->valuestring);
        if (!it || !cJSON_IsNumber(qty) || qty->valuedouble < 1 || qty->valuedouble > 1e6 ||
            !cJSON_IsString(unit) || !unit->valuestring)
            continue;
        bool grams = strcmp(unit->valuestring, "g") == 0;
        if (!grams && strcmp(unit->valuestring, "each") != 0)
            continue;
        struct sold_line *sl = &s.lines[s.nlines++];
        snprintf(sl->barcode, sizeof sl->barcode, "%s", it->barcode);
        sl->qty = (int64_t)qty->valuedouble;
        sl->weighed = grams;
    }
    if (s.nlines == 0)
        return;
    sh->sales[sh->sales_next] = s;
    sh->sales_next = (sh->sales_next + 1) % SALES_KEPT;
    if (sh->nsales < SALES_KEPT)
        sh->nsales++;
}

static void shopper_destroy(void *ctx)
{
    struct shopper *sh = ctx;
    if (!sh)
        return;
    free(sh->counted);
    free(sh->weighed);
    free(sh);
}

int pe_sim_shopper_create(const struct pe_catalog *cat, const struct pe_shopper_opts *o,
                          const struct pe_sim_devices *devs, struct pe_sim **out, char *err,
                          size_t errlen)
{
    if (!cat || !o || !out)
        return PE_EINVAL;
    *out = NULL;
    int rc = check_opts(o, err, errlen);
    if (rc)
        return rc;
    size_t n = pe_catalog_count(cat);
    if (n == 0) {
        if (err && errlen)
            snprintf(err, errlen, "shopper: the catalog has no items");
        return PE_EINVAL;
    }
    struct shopper *sh = calloc(1, sizeof *sh);
    if (!sh)
        return PE_ENOMEM;
    sh->o = *o;
    sh->cat = cat;
    sh->counted = calloc(n, sizeof *sh->counted);
    sh->weighed = calloc(n, sizeof *sh->weighed);
    if (!sh->counted || !sh->weighed) {
        rc = PE_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (pe_catalog_at(cat, i)->weighed)
            sh->weighed[sh->nweighed++] = i;
        else
            sh->counted[sh->ncounted++] = i;
    }
    uint64_t x = o->seed;
    for (int i = 0; i < 4; i++)
        sh->s[i] = splitmix64(&x);
    const struct sim__source src = {
        .ctx = sh,
        .refill = shopper_refill,
        .committed = shopper_committed,
        .destroy = shopper_destroy,
    };
    if ((rc = sim__create(devs, o->start_ms, &src, out, err, errlen)))
        goto fail;
    return PE_OK;
fail:
    shopper_destroy(sh);
    return rc;
}
