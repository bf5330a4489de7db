/* SPDX-License-Identifier: Apache-2.0 */
/*
 * render.c - the printed form of events: receipts, slips and X/Z reports, PE_RECEIPT_COLS
 * (42) columns wide.
 *
 * Rendering reads only the event (header and body), never live state, so a reprint from the
 * journal is identical to the original print. Every document ends with the receipt number
 * line and the event id, which ties paper to journal record. The document is chosen by a
 * switch over enum pe_event_type without a default, so a new event type that has no printed
 * form yet is a compile-time error here, not a PE_EINVAL at the till.
 *
 * It lives in store/ beside report.c (whose X/Z bodies it prints) and reads nothing of the
 * journal: the daemons and posedge-ctl, above both, hand it the event.
 */
#include "posedge/report.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "posedge/receipt.h"

#define COLS PE_RECEIPT_COLS

struct buf {
    char *p;    /* the document so far, NUL-terminated */
    size_t len; /* bytes used, without the NUL */
    size_t cap; /* bytes allocated */
    int err;    /* first error; once set, nothing more is written */
};

/* Make room for n more bytes and the NUL; false (with b->err set) when that fails. */
static bool reserve(struct buf *b, size_t n)
{
    if (b->err)
        return false;
    if (b->cap - b->len > n)
        return true;
    size_t cap = (b->cap + n + 1) * 2;
    char *np = realloc(b->p, cap);
    if (!np) {
        b->err = PE_ENOMEM;
        return false;
    }
    b->p = np;
    b->cap = cap;
    return true;
}

/* Append n bytes of s. The receipt of every event is built from these appends, so the hot
 * helpers below use them instead of printf-style formatting. */
static void put_n(struct buf *b, const char *s, size_t n)
{
    if (!reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

/* Append c n times. */
static void put_fill(struct buf *b, char c, size_t n)
{
    if (!reserve(b, n))
        return;
    memset(b->p + b->len, c, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append formatted text: for the rare documents (reports, inventory), not the receipt path. */
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
        if (!reserve(b, (size_t)n))
            return;
    }
}

/*
 * A short text built in a fixed array, cut like snprintf into the same array would cut it
 * (at sizeof s - 1 bytes). Used for the receipt's left and right columns, which lr then cuts
 * to the paper width anyway.
 */
struct text {
    char s[160]; /* the text, always NUL-terminated */
    size_t n;    /* its length */
};

static void cat_n(struct text *t, const char *s, size_t n)
{
    size_t room = sizeof t->s - 1 - t->n;
    if (n > room)
        n = room;
    memcpy(t->s + t->n, s, n);
    t->n += n;
    t->s[t->n] = '\0';
}

static void cat(struct text *t, const char *s)
{
    cat_n(t, s, strlen(s));
}

/* v in decimal, exactly as "%0*lld" with width zpad writes it (zpad 0: as "%lld"): the
 * zeros go after the sign and the sign counts towards the width. */
static void cat_int(struct text *t, long long v, int zpad)
{
    char num[48];
    char *p = num + sizeof num;
    unsigned long long a = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    int width = v < 0 ? zpad - 1 : zpad;
    do {
        *--p = (char)('0' + a % 10);
        a /= 10;
        width--;
    } while (a);
    while (width-- > 0 && p > num + 1)
        *--p = '0';
    if (v < 0)
        *--p = '-';
    cat_n(t, p, (size_t)(num + sizeof num - p));
}

/* Copy the n bytes at s into out (len bytes), cut and NUL-terminated as snprintf would. */
static const char *copy_out(char *out, size_t len, const char *s, size_t n)
{
    if (n >= len)
        n = len - 1;
    memcpy(out, s, n);
    out[n] = '\0';
    return out;
}

/* An amount of minor units as "%s%llu.%02llu" wrote it: 1234 -> "12.34", -5 -> "-0.05". */
static const char *amt(int64_t v, char *out, size_t len)
{
    /* The magnitude as unsigned: that of INT64_MIN does not fit an int64_t. */
    uint64_t a = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t units = a / 100, cents = a % 100;
    char num[32];
    char *p = num + sizeof num;
    *--p = (char)('0' + cents % 10);
    *--p = (char)('0' + cents / 10);
    *--p = '.';
    do {
        *--p = (char)('0' + units % 10);
        units /= 10;
    } while (units);
    if (v < 0)
        *--p = '-';
    return copy_out(out, len, p, (size_t)(num + sizeof num - p));
}

/* One line with left text and right-aligned right text, the left cut to fit. Lengths are in
 * bytes, as printf's "%-*.*s" counts them. */
static void lr(struct buf *b, const char *left, const char *right)
{
    size_t rw = strlen(right);
    if (rw == 0) {
        put_n(b, left, strnlen(left, COLS));
        put_n(b, "\n", 1);
        return;
    }
    size_t lw = rw + 1 < COLS ? COLS - rw - 1 : 0;
    size_t l = strnlen(left, lw);
    put_n(b, left, l);
    put_fill(b, ' ', lw - l + 1);
    put_n(b, right, rw);
    put_n(b, "\n", 1);
}

static void rule(struct buf *b, char c)
{
    put_fill(b, c, COLS);
    put_n(b, "\n", 1);
}

static void centre(struct buf *b, const char *s)
{
    size_t w = strnlen(s, COLS);
    put_fill(b, ' ', (COLS - w) / 2);
    put_n(b, s, w);
    put_n(b, "\n", 1);
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

/* A tax rate as a person writes it: 2000 -> "20%", 550 -> "5.5%", 1025 -> "10.25%". The
 * bytes are those of "%lld%%", "%lld.%lld%%" and "%lld.%02lld%%" with C's truncating division,
 * negative rates included. */
static const char *rate(int64_t bp, char *out, size_t len)
{
    struct text t = {.n = 0};
    cat_int(&t, (long long)bp / 100, 0);
    if (bp % 100 != 0) {
        cat_n(&t, ".", 1);
        if (bp % 10 == 0)
            cat_int(&t, (long long)(bp % 100) / 10, 0);
        else
            cat_int(&t, (long long)bp % 100, 2);
    }
    cat_n(&t, "%", 1);
    return copy_out(out, len, t.s, t.n);
}

static void item_lines(struct buf *b, const cJSON *lines, const char *cur)
{
    (void)cur;
    const cJSON *l;
    cJSON_ArrayForEach(l, lines)
    {
        char a[32], p[32], r[24];
        struct text left = {.n = 0}, right = {.n = 0};
        lr(b, gets(l, "name"), "");
        int64_t qty = geti(l, "qty"), price = geti(l, "unit_price");
        /* "  %lld.%03lld kg x %s/kg" for weighed items, "  %lld x %s" for the rest. */
        cat_n(&left, "  ", 2);
        if (strcmp(gets(l, "unit"), "g") == 0) {
            cat_int(&left, (long long)(qty / 1000), 0);
            cat_n(&left, ".", 1);
            cat_int(&left, (long long)(qty % 1000), 3);
            cat_n(&left, " kg x ", 6);
            cat(&left, amt(price, p, sizeof p));
            cat_n(&left, "/kg", 3);
        } else {
            cat_int(&left, (long long)qty, 0);
            cat_n(&left, " x ", 3);
            cat(&left, amt(price, p, sizeof p));
        }
        /* "%s %5s": the amount before discount, then the rate right-aligned in 5 columns. */
        cat(&right, amt(geti(l, "amount") + geti(l, "discount"), a, sizeof a));
        cat_n(&right, " ", 1);
        rate(geti(l, "tax_bp"), r, sizeof r);
        size_t rn = strlen(r);
        for (; rn < 5; rn++)
            cat_n(&right, " ", 1);
        cat(&right, r);
        lr(b, left.s, right.s);
        if (geti(l, "discount"))
            lr(b, "    Discount", amt(-geti(l, "discount"), a, sizeof a));
    }
}

/* The promotions a sale applied (body "promotions"): one line each, name and amount saved. */
static void promotion_lines(struct buf *b, const cJSON *promos)
{
    if (cJSON_GetArraySize(promos) == 0)
        return;
    put_n(b, "Promotions\n", 11);
    const cJSON *p;
    cJSON_ArrayForEach(p, promos)
    {
        char a[32];
        struct text left = {.n = 0};
        cat_n(&left, "  ", 2);
        cat(&left, gets(p, "name"));
        lr(b, left.s, amt(-geti(p, "amount"), a, sizeof a));
    }
}

static void tender_lines(struct buf *b, const cJSON *tenders, const char *verb)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, tenders)
    {
        char a[32];
        struct text left = {.n = 0};
        /* "%s card %s ****%s auth %s" for cards, "%s %s" for the rest. */
        cat(&left, verb);
        if (strcmp(gets(t, "method"), "card") == 0) {
            cat_n(&left, " card ", 6);
            cat(&left, gets(t, "scheme"));
            cat_n(&left, " ****", 5);
            cat(&left, gets(t, "last4"));
            cat_n(&left, " auth ", 6);
            cat(&left, gets(t, "auth"));
        } else {
            cat_n(&left, " ", 1);
            cat(&left, gets(t, "method"));
        }
        lr(b, left.s, amt(geti(t, "amount"), a, sizeof a));
    }
}

static void tax_lines(struct buf *b, const cJSON *tax)
{
    const cJSON *t;
    cJSON_ArrayForEach(t, tax)
    {
        char n[32], x[32], g[32], r[24];
        struct text left = {.n = 0};
        /* "Tax %s on", then "  net %s  tax %s". */
        cat_n(&left, "Tax ", 4);
        cat(&left, rate(geti(t, "rate_bp"), r, sizeof r));
        cat_n(&left, " on", 3);
        lr(b, left.s, amt(geti(t, "gross"), g, sizeof g));
        left.n = 0;
        cat_n(&left, "  net ", 6);
        cat(&left, amt(geti(t, "net"), n, sizeof n));
        cat_n(&left, "  tax ", 6);
        cat(&left, amt(geti(t, "tax"), x, sizeof x));
        lr(b, left.s, "");
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
    if (geti(body, "training_records")) {
        snprintf(range, sizeof range, "%lld", (long long)geti(body, "training_records"));
        lr(b, "Training records (not in totals)", range);
    }
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

/* A month_close or year_close (report.h): the sums of its period's Z reports. */
static void closing(struct buf *b, const cJSON *body, bool month)
{
    char a[32], left[160], right[96];
    const cJSON *period = cJSON_GetObjectItemCaseSensitive(body, "period");
    snprintf(left, sizeof left, "%s CLOSING %s", month ? "MONTH" : "YEAR",
             gets(body, month ? "month" : "year"));
    centre(b, left);
    snprintf(left, sizeof left, "No. %lld", (long long)geti(body, "number"));
    centre(b, left);
    snprintf(right, sizeof right, "%lld..%lld", (long long)geti(period, "first_seq"),
             (long long)geti(period, "last_seq"));
    lr(b, "Receipts", right);
    snprintf(right, sizeof right, "%lld", (long long)geti(body, "z_reports"));
    lr(b, "Z reports", right);
    rule(b, '-');
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(body, "sales");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(body, "returns");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "voids");
    snprintf(left, sizeof left, "Sales (%lld)", (long long)geti(s, "count"));
    lr(b, left, amt(geti(s, "gross"), a, sizeof a));
    snprintf(left, sizeof left, "Returns (%lld)", (long long)geti(r, "count"));
    lr(b, left, amt(-geti(r, "amount"), a, sizeof a));
    lr(b, "NET SALES", amt(geti(body, "net_sales"), a, sizeof a));
    snprintf(left, sizeof left, "Voided transactions (%lld)", (long long)geti(v, "count"));
    lr(b, left, amt(geti(v, "amount"), a, sizeof a));
    rule(b, '-');
    lr(b, "PERPETUAL TOTAL (never reset)", amt(geti(body, "perpetual_total"), a, sizeof a));
}

static void inventory(struct buf *b, const cJSON *body, enum pe_event_type type)
{
    centre(b, type == PE_EV_INVENTORY_RECEIPT  ? "GOODS RECEIVED"
              : type == PE_EV_INVENTORY_ADJUST ? "STOCK ADJUSTMENT"
                                               : "STOCK COUNT");
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
        if (type == PE_EV_INVENTORY_COUNT)
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
    enum pe_event_type type;
    if (!cJSON_IsObject(body) || !h->type || pe_event_type_parse(h->type, &type) != PE_OK)
        return PE_EINVAL;
    pe_time_format(h->ts_ms, ts);
    centre(&b, h->title && *h->title ? h->title : "posedge");
    /* "Store %s  Till %s  Operator %s", then the time as "%.10s %.12s UTC". */
    struct text line = {.n = 0};
    cat_n(&line, "Store ", 6);
    cat(&line, h->store);
    cat_n(&line, "  Till ", 7);
    cat(&line, h->terminal);
    cat_n(&line, "  Operator ", 11);
    cat(&line, h->operator_ && *h->operator_ ? h->operator_ : "-");
    centre(&b, line.s);
    line.n = 0;
    cat_n(&line, ts, 10);
    cat_n(&line, " ", 1);
    cat_n(&line, ts + 11, 12);
    cat_n(&line, " UTC", 4);
    centre(&b, line.s);
    rule(&b, '-');
    /* A training record says so above and below, so it cannot pass for a real one. */
    bool training = pe_totals_training(body);
    if (training)
        centre(&b, "*** TRAINING - NOT A REAL SALE ***");

    switch (type) {
    case PE_EV_SALE: {
        const cJSON *tot = cJSON_GetObjectItemCaseSensitive(body, "totals");
        item_lines(&b, cJSON_GetObjectItemCaseSensitive(body, "lines"), cur);
        promotion_lines(&b, cJSON_GetObjectItemCaseSensitive(body, "promotions"));
        rule(&b, '-');
        if (geti(tot, "discount"))
            lr(&b, "Discounts", amt(-geti(tot, "discount"), a, sizeof a));
        line.n = 0;
        cat_n(&line, "TOTAL ", 6);
        cat(&line, cur);
        lr(&b, line.s, amt(geti(tot, "total"), a, sizeof a));
        tender_lines(&b, cJSON_GetObjectItemCaseSensitive(body, "tenders"), "Paid");
        if (geti(tot, "change"))
            lr(&b, "Change", amt(geti(tot, "change"), a, sizeof a));
        rule(&b, '-');
        tax_lines(&b, cJSON_GetObjectItemCaseSensitive(body, "tax"));
        break;
    }
    case PE_EV_RETURN: {
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
        break;
    }
    case PE_EV_VOID:
        centre(&b, "*** TRANSACTION CANCELLED ***");
        item_lines(&b, cJSON_GetObjectItemCaseSensitive(body, "lines"), cur);
        rule(&b, '-');
        lr(&b, "Cancelled amount", amt(geti(body, "amount"), a, sizeof a));
        lr(&b, "Reason", gets(body, "reason"));
        break;
    case PE_EV_NO_SALE:
        centre(&b, "*** NO SALE ***");
        lr(&b, "Reason", gets(body, "reason"));
        break;
    case PE_EV_SHIFT_OPEN:
        centre(&b, "SHIFT OPEN");
        lr(&b, "Opening float", amt(geti(body, "float"), a, sizeof a));
        break;
    case PE_EV_SHIFT_CLOSE:
        centre(&b, "SHIFT CLOSE");
        lr(&b, "Expected cash", amt(geti(body, "expected"), a, sizeof a));
        lr(&b, "Declared cash", amt(geti(body, "declared"), a, sizeof a));
        lr(&b, "Variance", amt(geti(body, "variance"), a, sizeof a));
        break;
    case PE_EV_X_REPORT:
    case PE_EV_Z_REPORT:
        report(&b, body, type == PE_EV_Z_REPORT);
        break;
    case PE_EV_INVENTORY_RECEIPT:
    case PE_EV_INVENTORY_ADJUST:
    case PE_EV_INVENTORY_COUNT:
        inventory(&b, body, type);
        break;
    case PE_EV_CATALOG_APPLIED: {
        centre(&b, "CATALOG APPLIED");
        snprintf(left, sizeof left, "%lld", (long long)geti(body, "version"));
        lr(&b, "Version", left);
        snprintf(left, sizeof left, "%lld", (long long)geti(body, "previous"));
        lr(&b, "Previous version", left);
        snprintf(left, sizeof left, "%lld", (long long)geti(body, "items"));
        lr(&b, "Items", left);
        snprintf(left, sizeof left, "%lld", (long long)geti(body, "promotions"));
        lr(&b, "Promotions", left);
        snprintf(left, sizeof left, "%.16s", gets(body, "hash"));
        lr(&b, "Content hash", left);
        break;
    }
    case PE_EV_SIGNER_INSTALLED:
        centre(&b, "SIGNATURE KEY INSTALLED");
        lr(&b, "Signer", gets(body, "signer"));
        lr(&b, "Algorithm", gets(body, "alg"));
        if (strcmp(gets(body, "alg"), "none") == 0)
            put(&b, "Events from here on are not signed\n");
        else
            lr(&b, "Key id", gets(body, "key_id"));
        break;
    case PE_EV_SIGNER_DOWN:
        centre(&b, "SIGNATURE DEVICE UNAVAILABLE");
        lr(&b, "Error", gets(body, "error"));
        put(&b, "Events from here on are not signed\nuntil the device is back\n");
        break;
    case PE_EV_SIGNER_UP:
        centre(&b, "SIGNATURE DEVICE BACK");
        centre(&b, "COLLECTIVE SIGNATURE");
        snprintf(left, sizeof left, "#%lld-#%lld", (long long)geti(body, "first_seq"),
                 (long long)geti(body, "last_seq"));
        lr(&b, "Unsigned receipts", left);
        snprintf(left, sizeof left, "%lld", (long long)geti(body, "count"));
        lr(&b, "Count", left);
        snprintf(left, sizeof left, "%.16s", gets(body, "hash"));
        lr(&b, "Hash", left);
        break;
    case PE_EV_MONTH_CLOSE:
    case PE_EV_YEAR_CLOSE:
        closing(&b, body, type == PE_EV_MONTH_CLOSE);
        break;
    case PE_EV__COUNT: /* not a type: pe_event_type_parse never gives it */
        free(b.p);
        return PE_EINVAL;
    }
    if (h->signer_down && type != PE_EV_SIGNER_DOWN) {
        /* Committed unsigned (signer.h): a signed collective covers it once the device is
         * back. */
        centre(&b, "SIGNATURE DEVICE UNAVAILABLE");
        centre(&b, "not signed");
    }
    rule(&b, '-');
    if (training)
        centre(&b, "*** TRAINING - NOT A REAL SALE ***");
    if (h->seq > 0) {
        /* "Receipt %s/%s #%lld", cut as a 160-byte buffer cuts it. */
        line.n = 0;
        cat_n(&line, "Receipt ", 8);
        cat(&line, h->store);
        cat_n(&line, "/", 1);
        cat(&line, h->terminal);
        cat_n(&line, " #", 2);
        cat_int(&line, (long long)h->seq, 0);
        put_n(&b, line.s, line.n);
        put_n(&b, "\n", 1);
        if (h->id) {
            put_n(&b, "ID ", 3);
            put_n(&b, h->id, strlen(h->id));
            put_n(&b, "\n", 1);
        }
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

int pe_render_record_hdr(const cJSON *rec, const char *title, struct pe_render_hdr *h)
{
    int64_t seq = 0, ts = 0;
    if (pe_json_get_int(rec, "seq", &seq) || pe_time_parse(gets(rec, "ts"), &ts))
        return PE_EINVAL;
    *h = (struct pe_render_hdr){
        .title = title,
        .store = gets(rec, "store"),
        .terminal = gets(rec, "terminal"),
        .operator_ = gets(rec, "operator"),
        .type = gets(rec, "type"),
        .seq = seq,
        .id = gets(rec, "id"),
        .ts_ms = ts,
    };
    return PE_OK;
}

int pe_render_record(const cJSON *rec, const char *title, char **text)
{
    struct pe_render_hdr h;
    int rc = pe_render_record_hdr(rec, title, &h);
    return rc ? rc : pe_render_event(&h, cJSON_GetObjectItemCaseSensitive(rec, "body"), text);
}
