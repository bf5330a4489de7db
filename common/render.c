/* SPDX-License-Identifier: Apache-2.0 */
/*
 * render.c - the printed form of events: receipts, slips and X/Z reports, 42 columns wide.
 *
 * Rendering reads only the event (header and body), never live state, so a reprint from the
 * journal is identical to the original print. Every document ends with the receipt number
 * line and the event id, which ties paper to journal record.
 */
#include "posedge/report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/hal/printer.h"
#include "posedge/json.h"

#define COLS PE_RECEIPT_COLS

struct buf {
    char *p;
    size_t len, cap;
    int err;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
    if (b->err)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->err = PE_EINVAL;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *np = realloc(b->p, cap);
        if (!np) {
            b->err = PE_ENOMEM;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
}

static const char *amt(int64_t v, char *out, size_t len)
{
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    snprintf(out, len, "%s%llu.%02llu", v < 0 ? "-" : "", (unsigned long long)(a / 100),
             (unsigned long long)(a % 100));
    return out;
}

/* One line with left text and right-aligned right text, the left cut to fit. */
static void lr(struct buf *b, const char *left, const char *right)
{
    int rw = (int)strlen(right);
    if (rw == 0) {
        put(b, "%.*s\n", COLS, left);
        return;
    }
    int lw = COLS - rw - 1;
    if (lw < 0)
        lw = 0;
    put(b, "%-*.*s %s\n", lw, lw, left, right);
}

static void rule(struct buf *b, char c)
{
    char line[COLS + 2];
    memset(line, c, COLS);
    line[COLS] = '\n';
    line[COLS + 1] = '\0';
    put(b, "%s", line);
}

static void centre(struct buf *b, const char *s)
{
    int w = (int)strlen(s);
    if (w > COLS)
        w = COLS;
    put(b, "%*s%.*s\n", (COLS - w) / 2, "", w, s);
}

static int64_t geti(const cJSON *o, const char *k)
{
    int64_t v = 0;
    pe_json_get_int(o, k, &v);
    return v;
}

static const char *gets(const cJSON *o, const char *k)
{
    const char *s = NULL;
    return pe_json_get_str(o, k, &s) == PE_OK ? s : "";
}

/* A tax rate as a person writes it: 2000 -> "20%", 550 -> "5.5%", 1025 -> "10.25%". */
static const char *rate(int64_t bp, char *out, size_t len)
{
    if (bp % 100 == 0)
        snprintf(out, len, "%lld%%", (long long)bp / 100);
    else if (bp % 10 == 0)
        snprintf(out, len, "%lld.%lld%%", (long long)bp / 100, (long long)(bp % 100) / 10);
    else
        snprintf(out, len, "%lld.%02lld%%", (long long)bp / 100, (long long)bp % 100);
    return out;
}

static void item_lines(struct buf *b, const cJSON *lines, const char *cur)
{
    (void)cur;
    const cJSON *l;
    cJSON_ArrayForEach(l, lines)
    {
        char a[32], p[32], left[160];
        lr(b, gets(l, "name"), "");
        int64_t qty = geti(l, "qty"), price = geti(l, "unit_price");
        if (strcmp(gets(l, "unit"), "g") == 0)
            snprintf(left, sizeof left, "  %lld.%03lld kg x %s/kg", (long long)(qty / 1000),
                     (long long)(qty % 1000), amt(price, p, sizeof p));
        else
            snprintf(left, sizeof left, "  %lld x %s", (long long)qty, amt(price, p, sizeof p));
        char right[96], r[24];
        snprintf(right, sizeof right, "%s %5s", amt(geti(l, "amount") + geti(l, "discount"), a,
                                                    sizeof a),
                 rate(geti(l, "tax_bp"), r, sizeof r));
        lr(b, left, right);
        if (geti(l, "discount"))
            lr(b, "    Discount", amt(-geti(l, "discount"), a, sizeof a));
    }
}

static void tender_lines(struct buf *b, const cJSON *tenders, const char *verb)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, tenders)
    {
        char a[32], left[160];
        if (strcmp(gets(t, "method"), "card") == 0)
            snprintf(left, sizeof left, "%s card %s ****%s auth %s", verb, gets(t, "scheme"),
                     gets(t, "last4"), gets(t, "auth"));
        else
            snprintf(left, sizeof left, "%s %s", verb, gets(t, "method"));
        lr(b, left, amt(geti(t, "amount"), a, sizeof a));
    }
}

static void tax_lines(struct buf *b, const cJSON *tax)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, tax)
    {
        char n[32], x[32], g[32], r[24], left[160];
        snprintf(left, sizeof left, "Tax %s on", rate(geti(t, "rate_bp"), r, sizeof r));
        lr(b, left, amt(geti(t, "gross"), g, sizeof g));
        snprintf(left, sizeof left, "  net %s  tax %s", amt(geti(t, "net"), n, sizeof n),
                 amt(geti(t, "tax"), x, sizeof x));
        lr(b, left, "");
    }
}

static void report(struct buf *b, const cJSON *body, int z)
{
    char a[32];
    const cJSON *period = cJSON_GetObjectItemCaseSensitive(body, "period");
    char title[96];
    snprintf(title, sizeof title, "%s REPORT %s%lld", z ? "Z" : "X", z ? "No. " : "",
             (long long)geti(body, "number"));
    centre(b, z ? title : "X REPORT (period not closed)");
    if (!z) {
        snprintf(title, sizeof title, "X No. %lld", (long long)geti(body, "number"));
        centre(b, title);
    }
    char range[96];
    snprintf(range, sizeof range, "%lld..%lld", (long long)geti(period, "first_seq"),
             (long long)geti(period, "last_seq"));
    lr(b, "Receipts", range);
    rule(b, '-');
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(body, "sales");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(body, "returns");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "voids");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(body, "no_sales");
    char left[160];
    snprintf(left, sizeof left, "Sales (%lld)", (long long)geti(s, "count"));
    lr(b, left, amt(geti(s, "gross"), a, sizeof a));
    lr(b, "  of which discounts", amt(geti(s, "discount"), a, sizeof a));
    snprintf(left, sizeof left, "Returns (%lld)", (long long)geti(r, "count"));
    lr(b, left, amt(-geti(r, "amount"), a, sizeof a));
    lr(b, "NET SALES", amt(geti(body, "net_sales"), a, sizeof a));
    snprintf(left, sizeof left, "Voided transactions (%lld)", (long long)geti(v, "count"));
    lr(b, left, amt(geti(v, "amount"), a, sizeof a));
    snprintf(left, sizeof left, "No-sale drawer openings");
    snprintf(range, sizeof range, "%lld", (long long)geti(n, "count"));
    lr(b, left, range);
    rule(b, '-');
    put(b, "Tenders\n");
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(body, "tenders"))
    {
        snprintf(left, sizeof left, "  %s", t->string);
        lr(b, left, amt((int64_t)t->valuedouble, a, sizeof a));
    }
    put(b, "Tax (gross by rate)\n");
    tax_lines(b, cJSON_GetObjectItemCaseSensitive(body, "tax"));
    rule(b, '-');
    lr(b, "GRAND TOTAL (never reset)", amt(geti(body, "grand_total"), a, sizeof a));
}

static void inventory(struct buf *b, const cJSON *body, const char *type)
{
    const char *title = strcmp(type, "inventory_receipt") == 0   ? "GOODS RECEIVED"
                        : strcmp(type, "inventory_adjust") == 0 ? "STOCK ADJUSTMENT"
                                                                : "STOCK COUNT";
    centre(b, title);
    if (*gets(body, "reference"))
        lr(b, "Reference", gets(body, "reference"));
    if (*gets(body, "reason"))
        lr(b, "Reason", gets(body, "reason"));
    rule(b, '-');
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(body, "lines"))
    {
        char right[96];
        lr(b, gets(l, "name"), "");
        if (strcmp(type, "inventory_count") == 0)
            snprintf(right, sizeof right, "counted %lld (was %lld)", (long long)geti(l, "counted"),
                     (long long)geti(l, "previous"));
        else
            snprintf(right, sizeof right, "%+lld -> stock %lld", (long long)geti(l, "qty"),
                     (long long)geti(l, "stock_after"));
        lr(b, "  ", right);
    }
}

int pe_render_event(const struct pe_render_hdr *h, const cJSON *body, char **text)
{
    struct buf b = {0};
    char ts[PE_TIME_STRLEN], a[32], left[160];
    const char *cur = gets(body, "currency");
    if (!cJSON_IsObject(body) || !h->type)
        return PE_EINVAL;
    pe_time_format(h->ts_ms, ts);
    centre(&b, h->title && *h->title ? h->title : "posedge");
    snprintf(left, sizeof left, "Store %s  Till %s  Operator %s", h->store, h->terminal,
             h->operator_ && *h->operator_ ? h->operator_ : "-");
    centre(&b, left);
    snprintf(left, sizeof left, "%.10s %.12s UTC", ts, ts + 11);
    centre(&b, left);
    rule(&b, '-');

    const char *type = h->type;
    if (strcmp(type, "sale") == 0) {
        const cJSON *tot = cJSON_GetObjectItemCaseSensitive(body, "totals");
        item_lines(&b, cJSON_GetObjectItemCaseSensitive(body, "lines"), cur);
        rule(&b, '-');
        if (geti(tot, "discount"))
            lr(&b, "Discounts", amt(-geti(tot, "discount"), a, sizeof a));
        snprintf(left, sizeof left, "TOTAL %s", cur);
        lr(&b, left, amt(geti(tot, "total"), a, sizeof a));
        tender_lines(&b, cJSON_GetObjectItemCaseSensitive(body, "tenders"), "Paid");
        if (geti(tot, "change"))
            lr(&b, "Change", amt(geti(tot, "change"), a, sizeof a));
        rule(&b, '-');
        tax_lines(&b, cJSON_GetObjectItemCaseSensitive(body, "tax"));
    } else if (strcmp(type, "return") == 0) {
        const cJSON *orig = cJSON_GetObjectItemCaseSensitive(body, "original");
        const cJSON *tot = cJSON_GetObjectItemCaseSensitive(body, "totals");
        centre(&b, "RETURN");
        snprintf(left, sizeof left, "for receipt #%lld", (long long)geti(orig, "seq"));
        centre(&b, left);
        item_lines(&b, cJSON_GetObjectItemCaseSensitive(body, "lines"), cur);
        rule(&b, '-');
        snprintf(left, sizeof left, "REFUND %s", cur);
        lr(&b, left, amt(geti(tot, "total"), a, sizeof a));
        tender_lines(&b, cJSON_GetObjectItemCaseSensitive(body, "refunds"), "Refunded");
        rule(&b, '-');
        tax_lines(&b, cJSON_GetObjectItemCaseSensitive(body, "tax"));
    } else if (strcmp(type, "void") == 0) {
        centre(&b, "*** TRANSACTION CANCELLED ***");
        item_lines(&b, cJSON_GetObjectItemCaseSensitive(body, "lines"), cur);
        rule(&b, '-');
        lr(&b, "Cancelled amount", amt(geti(body, "amount"), a, sizeof a));
        lr(&b, "Reason", gets(body, "reason"));
    } else if (strcmp(type, "no_sale") == 0) {
        centre(&b, "*** NO SALE ***");
        lr(&b, "Reason", gets(body, "reason"));
    } else if (strcmp(type, "shift_open") == 0) {
        centre(&b, "SHIFT OPEN");
        lr(&b, "Opening float", amt(geti(body, "float"), a, sizeof a));
    } else if (strcmp(type, "shift_close") == 0) {
        centre(&b, "SHIFT CLOSE");
        lr(&b, "Expected cash", amt(geti(body, "expected"), a, sizeof a));
        lr(&b, "Declared cash", amt(geti(body, "declared"), a, sizeof a));
        lr(&b, "Variance", amt(geti(body, "variance"), a, sizeof a));
    } else if (strcmp(type, "x_report") == 0 || strcmp(type, "z_report") == 0) {
        report(&b, body, type[0] == 'z');
    } else if (strncmp(type, "inventory_", 10) == 0) {
        inventory(&b, body, type);
    } else {
        free(b.p);
        return PE_EINVAL;
    }
    rule(&b, '-');
    if (h->seq > 0) {
        snprintf(left, sizeof left, "Receipt %s/%s #%lld", h->store, h->terminal,
                 (long long)h->seq);
        put(&b, "%s\n", left);
        if (h->id)
            put(&b, "ID %s\n", h->id);
    } else {
        put(&b, "Not a receipt: preview, not journaled\n");
    }
    if (b.err) {
        free(b.p);
        return b.err;
    }
    *text = b.p;
    return PE_OK;
}

int pe_render_record(const cJSON *rec, const char *title, char **text)
{
    int64_t seq = 0, ts = 0;
    if (pe_json_get_int(rec, "seq", &seq) || pe_time_parse(gets(rec, "ts"), &ts))
        return PE_EINVAL;
    struct pe_render_hdr h = {
        .title = title,
        .store = gets(rec, "store"),
        .terminal = gets(rec, "terminal"),
        .operator_ = gets(rec, "operator"),
        .type = gets(rec, "type"),
        .seq = seq,
        .id = gets(rec, "id"),
        .ts_ms = ts,
    };
    return pe_render_event(&h, cJSON_GetObjectItemCaseSensitive(rec, "body"), text);
}
