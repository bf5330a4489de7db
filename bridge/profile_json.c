/* SPDX-License-Identifier: Apache-2.0 */
/*
 * profile_json.c - the flat JSON output profiles that seed pipelines expect (docs/protocol.md,
 * "Output profiles"):
 *
 *   purchases-json  one record per sale line: transaction_id, customer_id, category, brand,
 *                   product_name, quantity, price, payment_method, epoch seconds (ts_field)
 *   retail-json     one record per sale or return line in the Online Retail layout
 *   orders-json     one record per sale: customer_id, source, quantity, total, created_at
 *
 * Money is integer minor units in the event and is printed as an exact decimal in major units
 * (pb_money: 249 -> 2.49), never through a float. Field order is fixed, so a given event and
 * configuration always give the same bytes. Weighed goods (unit "g") count as quantity 1 with
 * the line's price (amount before its discount) as the price; purchases-json adds weight_g.
 * A split tender's payment_method is the method of the largest tender (the first of equal
 * ones). Other event types map to nothing (each map switches over every event type, so a new
 * type is a decision here, not a silent default). A sale or return whose body lacks what a
 * profile needs is refused with the reason, which makes it a dead letter for that sink. Each
 * profile has one option (its config map) and no state.
 */
#include "bridge/profile.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/json.h"

/* A sink's option of one string, and its config map. */
#define ONE_STR(type, f, key, def, lo, help, check)                                                \
    static const struct pe_cfg_opt type##_config[] = {                                             \
        {key, PE_CFG_STR, offsetof(struct type, f), sizeof(((struct type *)0)->f), def, lo,        \
         sizeof(((struct type *)0)->f) - 1, help, check},                                          \
        {NULL},                                                                                    \
    }

/* One line of a sale or return body, checked. */
struct line {
    const char *item, *name, *category, *brand;
    int64_t qty;        /* items, or grams when weighed */
    int64_t unit_price; /* minor units per item, or per kg when weighed */
    int64_t amount;     /* paid for the line, after its discount */
    int64_t discount;   /* line discount */
    bool weighed;       /* unit "g" */
};

/* The body of ev, or NULL with why. */
static const cJSON *body_of(const struct profile_event *ev, char *why, size_t whylen)
{
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(ev->doc, "body");
    if (!cJSON_IsObject(b))
        snprintf(why, whylen, "no body object");
    return cJSON_IsObject(b) ? b : NULL;
}

/* Read line idx; counts_only: only what counting items needs (unit, qty, amount). */
static int line_get(const cJSON *l, int idx, bool counts_only, struct line *out, char *why,
                    size_t whylen)
{
    const char *unit = NULL;
    const char *missing = pe_json_get_str(l, "unit", &unit)                    ? "unit"
                          : pe_json_get_int(l, "qty", &out->qty)               ? "qty"
                          : pe_json_get_int(l, "amount", &out->amount)         ? "amount"
                          : counts_only                                        ? NULL
                          : pe_json_get_str(l, "item", &out->item)             ? "item"
                          : pe_json_get_str(l, "name", &out->name)             ? "name"
                          : pe_json_get_str(l, "category", &out->category)     ? "category"
                          : pe_json_get_str(l, "brand", &out->brand)           ? "brand"
                          : pe_json_get_int(l, "unit_price", &out->unit_price) ? "unit_price"
                                                                               : NULL;
    if (missing) {
        snprintf(why, whylen, "lines[%d] has no %s", idx, missing);
        return PE_EINVAL;
    }
    if (pe_json_get_int(l, "discount", &out->discount))
        out->discount = 0;
    out->weighed = strcmp(unit, "g") == 0;
    if (!out->weighed && strcmp(unit, "each") != 0) {
        snprintf(why, whylen, "lines[%d].unit is %s (each or g)", idx, unit);
        return PE_EINVAL;
    }
    return PE_OK;
}

/* Items counted, and the price of one: weighed goods are one item at the line's price. */
static int64_t line_count(const struct line *l)
{
    return l->weighed ? 1 : l->qty;
}

static int64_t line_price(const struct line *l)
{
    return l->weighed ? l->amount + l->discount : l->unit_price;
}

/* The body's lines array (may be empty), or NULL with why. */
static const cJSON *lines_of(const cJSON *body, char *why, size_t whylen)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(body, "lines");
    if (!cJSON_IsArray(a))
        snprintf(why, whylen, "no lines array");
    return cJSON_IsArray(a) ? a : NULL;
}

/* customer_id or customer.id when the sale names a customer, else NULL. */
static const char *customer_of(const cJSON *body)
{
    const char *s = NULL;
    if (pe_json_get_str(body, "customer_id", &s) == PE_OK)
        return s;
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(body, "customer");
    if (cJSON_IsString(c))
        return c->valuestring;
    if (cJSON_IsObject(c) && pe_json_get_str(c, "id", &s) == PE_OK)
        return s;
    return NULL;
}

/* The method of the largest tender (the first of equal ones), or NULL when none. */
static const char *payment_of(const cJSON *body)
{
    const cJSON *t, *tenders = cJSON_GetObjectItemCaseSensitive(body, "tenders");
    const char *best = NULL;
    int64_t most = 0;
    cJSON_ArrayForEach(t, tenders)
    {
        const char *m;
        int64_t a;
        if (pe_json_get_str(t, "method", &m) || pe_json_get_int(t, "amount", &a))
            continue;
        if (!best || a > most) {
            best = m;
            most = a;
        }
    }
    return best;
}

static int currency_exp(const cJSON *body)
{
    const char *c = NULL;
    pe_json_get_str(body, "currency", &c);
    return profile_currency_exp(c);
}

/* Hand a finished buffer to out, or fail for memory. */
static int emit(struct profile_out *out, const char *topic, struct profile_buf *b)
{
    if (b->failed) {
        free(b->s);
        return PE_ENOMEM;
    }
    return profile_out_add(out, topic, b->s, b->len, true);
}

static int64_t epoch_s(int64_t ms)
{
    return ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
}

/* ---- purchases-json ---- */

struct purchases_opts {
    char ts_field[PE_ID_MAX]; /* name of the epoch-seconds field */
};

static int check_field(const void *v, char *why, size_t len)
{
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_')) {
            snprintf(why, len, "a field name has only letters, digits and '_'");
            return PE_EINVAL;
        }
    return PE_OK;
}

ONE_STR(purchases_opts, ts_field, "ts_field", "ts", 1, "name of the epoch-seconds field",
        check_field);

static int purchases_map(struct profile_sink *s, const struct profile_event *ev,
                         struct profile_out *out, char *why, size_t whylen)
{
    const struct purchases_opts *o = s->conf->opts;
    const cJSON *body = body_of(ev, why, whylen),
                *lines = body ? lines_of(body, why, whylen) : NULL;
    if (!lines)
        return PE_EINVAL;
    const char *customer = customer_of(body), *pay = payment_of(body), *currency = NULL;
    pe_json_get_str(body, "currency", &currency);
    int exp = currency_exp(body), idx = 0, rc;
    const cJSON *l;
    cJSON_ArrayForEach(l, lines)
    {
        struct line ln;
        if ((rc = line_get(l, idx++, false, &ln, why, whylen)))
            return rc;
        struct profile_buf b = {0};
        pb_str(&b, "{\"transaction_id\":");
        pb_json_str(&b, ev->id);
        pb_str(&b, ",\"customer_id\":");
        pb_json_str(&b, customer);
        pb_str(&b, ",\"category\":");
        pb_json_str(&b, ln.category);
        pb_str(&b, ",\"brand\":");
        pb_json_str(&b, ln.brand);
        pb_str(&b, ",\"product_name\":");
        pb_json_str(&b, ln.name);
        pb_str(&b, ",\"quantity\":");
        pb_int(&b, line_count(&ln));
        pb_str(&b, ",\"price\":");
        pb_money(&b, line_price(&ln), exp);
        pb_str(&b, ",\"payment_method\":");
        pb_json_str(&b, pay);
        pb_str(&b, ",\"");
        pb_str(&b, o->ts_field);
        pb_str(&b, "\":");
        pb_int(&b, epoch_s(ev->ts_ms));
        pb_str(&b, ",\"amount\":");
        pb_money(&b, ln.amount, exp);
        pb_str(&b, ",\"weight_g\":");
        if (ln.weighed)
            pb_int(&b, ln.qty);
        else
            pb_str(&b, "null");
        pb_str(&b, ",\"currency\":");
        pb_json_str(&b, currency);
        pb_str(&b, ",\"store\":");
        pb_json_str(&b, ev->store);
        pb_str(&b, ",\"terminal\":");
        pb_json_str(&b, ev->terminal);
        pb_str(&b, "}");
        if ((rc = emit(out, s->conf->topic, &b)))
            return rc;
    }
    return PE_OK;
}

const struct profile_ops profile_purchases_json = {
    .name = "purchases-json",
    .default_topic = "purchases",
    .config = purchases_opts_config,
    .config_size = sizeof(struct purchases_opts),
    .needs_doc = true,
    .types = PE_EV_BIT(PE_EV_SALE),
    .map = purchases_map,
};

/* ---- retail-json ---- */

struct retail_opts {
    char country[64]; /* the Country column */
};

ONE_STR(retail_opts, country, "country", "Unspecified", 0, "the Country column", NULL);

static int retail_map(struct profile_sink *s, const struct profile_event *ev,
                      struct profile_out *out, char *why, size_t whylen)
{
    const struct retail_opts *o = s->conf->opts;
    bool ret = ev->etype == PE_EV_RETURN; /* the types are SALE and RETURN */
    const cJSON *body = body_of(ev, why, whylen),
                *lines = body ? lines_of(body, why, whylen) : NULL;
    if (!lines)
        return PE_EINVAL;
    char invoice[128], date[32];
    snprintf(invoice, sizeof invoice, "%s%lld/%s/%s", ret ? "C" : "", (long long)ev->seq, ev->store,
             ev->terminal);
    profile_time(ev->ts_ms, "dd-MM-yyyy HH:mm:ss", date, sizeof date);
    const char *customer = customer_of(body);
    int exp = currency_exp(body), idx = 0, rc;
    const cJSON *l;
    cJSON_ArrayForEach(l, lines)
    {
        struct line ln;
        if ((rc = line_get(l, idx++, false, &ln, why, whylen)))
            return rc;
        struct profile_buf b = {0};
        pb_str(&b, "{\"InvoiceNo\":");
        pb_json_str(&b, invoice);
        /* A replayed dataset's StockCode at a second price is the catalog item CODE@PRICE
         * (docs/scenario.md): the StockCode is the part before the '@'. */
        char code[128];
        snprintf(code, sizeof code, "%.*s", (int)strcspn(ln.item, "@"), ln.item);
        pb_str(&b, ",\"StockCode\":");
        pb_json_str(&b, code);
        pb_str(&b, ",\"Description\":");
        pb_json_str(&b, ln.name);
        pb_str(&b, ",\"Quantity\":");
        pb_int(&b, ret ? -line_count(&ln) : line_count(&ln));
        pb_str(&b, ",\"InvoiceDate\":");
        pb_json_str(&b, date);
        pb_str(&b, ",\"UnitPrice\":");
        pb_money(&b, line_price(&ln), exp);
        pb_str(&b, ",\"CustomerID\":");
        pb_json_str(&b, customer);
        pb_str(&b, ",\"Country\":");
        pb_json_str(&b, o->country);
        pb_str(&b, "}");
        if ((rc = emit(out, s->conf->topic, &b)))
            return rc;
    }
    return PE_OK;
}

const struct profile_ops profile_retail_json = {
    .name = "retail-json",
    .default_topic = "retail",
    .config = retail_opts_config,
    .config_size = sizeof(struct retail_opts),
    .needs_doc = true,
    .types = PE_EV_BIT(PE_EV_SALE) | PE_EV_BIT(PE_EV_RETURN),
    .map = retail_map,
};

/* ---- orders-json ---- */

struct orders_opts {
    char source[PE_ID_MAX]; /* source of a sale without a channel */
};

ONE_STR(orders_opts, source, "source", "store", 1, "source of a sale without a channel", NULL);

static int orders_map(struct profile_sink *s, const struct profile_event *ev,
                      struct profile_out *out, char *why, size_t whylen)
{
    const struct orders_opts *o = s->conf->opts;
    const cJSON *body = body_of(ev, why, whylen),
                *lines = body ? lines_of(body, why, whylen) : NULL;
    if (!lines)
        return PE_EINVAL;
    const cJSON *totals = cJSON_GetObjectItemCaseSensitive(body, "totals");
    int64_t total;
    if (pe_json_get_int(totals, "total", &total)) {
        snprintf(why, whylen, "no totals.total");
        return PE_EINVAL;
    }
    int64_t items = 0;
    int idx = 0, rc;
    const cJSON *l;
    cJSON_ArrayForEach(l, lines)
    {
        struct line ln;
        if ((rc = line_get(l, idx++, true, &ln, why, whylen)))
            return rc;
        items += line_count(&ln);
    }
    const char *source = o->source;
    pe_json_get_str(body, "channel", &source);
    char date[32];
    profile_time(ev->ts_ms, "MM/dd/yyyy, HH:mm:ss", date, sizeof date);
    struct profile_buf b = {0};
    pb_str(&b, "{\"customer_id\":");
    pb_json_str(&b, customer_of(body));
    pb_str(&b, ",\"source\":");
    pb_json_str(&b, source);
    pb_str(&b, ",\"quantity\":");
    pb_int(&b, items);
    pb_str(&b, ",\"total\":");
    pb_money(&b, total, currency_exp(body));
    pb_str(&b, ",\"created_at\":");
    pb_json_str(&b, date);
    pb_str(&b, "}");
    return emit(out, s->conf->topic, &b);
}

const struct profile_ops profile_orders_json = {
    .name = "orders-json",
    .default_topic = "orders",
    .config = orders_opts_config,
    .config_size = sizeof(struct orders_opts),
    .needs_doc = true,
    .types = PE_EV_BIT(PE_EV_SALE),
    .map = orders_map,
};
