/* SPDX-License-Identifier: Apache-2.0 */
/*
 * replay.c - dataset replay: CSV files in the layouts existing Kafka pipelines were built on
 * (UCI "Online Retail", Databricks point-of-sale) turned into till activity on the sim board,
 * and the catalog those files imply (docs/scenario.md, "Replaying datasets").
 *
 * Every file is read and checked whole at create and compiled into "groups": one sale per
 * invoice (or transaction), one return per original sale a cancellation refers to, one stock
 * receipt, adjustment or count per transaction or snapshot. A bad row is reported as
 * "FILE:LINE: reason" and takes its whole group with it, so nothing is ever half applied; rows
 * are never guessed at. Groups are handed to the engine one at a time as steps (the keys and
 * scans an operator would make), because a return needs the receipt number its sale got when
 * the till committed it (pe_sim_sale_committed). Event time comes from the files: the clock is
 * set to each group's time and never goes backwards - a group earlier than the one before it
 * is reported and replayed at the previous time (clamped), not dropped.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "sim/replay.h"
#include "sim/sim_int.h"

#define REPLAY_MAX_BYTES (1024UL * 1024 * 1024) /* one CSV file; the UCI file is ~45 MB */
#define SALE_MAX_LINES 100 /* lines of one till basket (agent/till.c MAX_LINES) */
#define TILL_MAX_QTY 9999  /* largest QTY key the till takes */
#define ID_MAX 23          /* longest item id (struct pe_key_line.code) */
#define NAME_MAX_ 48       /* item names kept for the catalog */
#define DEFAULT_OPERATOR "replay"

enum rp_kind { RP_SALE, RP_RETURN, RP_RECEIPT, RP_ADJUST, RP_COUNT };

struct rp_line {
    char stock[ID_MAX + 1]; /* StockCode / item_id as in the file */
    char id[ID_MAX + 1];    /* catalog item id */
    char code[ID_MAX + 1];  /* what the till is given: the item's barcode (sales) or id */
    char name[NAME_MAX_];   /* description, for a derived catalog */
    int64_t qty;            /* units; signed only for adjustments */
    int64_t price;          /* minor units from the file; -1 when the file has none */
    int64_t returned;       /* sale: units later returns took */
    int lineno;             /* row in the file */
};

struct rp_group {
    enum rp_kind kind;     /* what the till records */
    int64_t ts;            /* event time, UTC ms (clamped to never go backwards) */
    char ref[32];          /* InvoiceNo / trans_id, for messages and stock references */
    const char *file;      /* path (borrowed from the caller) */
    int lineno;            /* first row */
    struct rp_line *lines; /* owned */
    int nlines;            /* used */
    int cap;               /* allocated */
    int64_t discount;      /* sale: basket discount, minor units */
    size_t orig;           /* return: index of the sale it returns against */
    char reason[32];       /* adjustment reason */
    int64_t seq;           /* sale: receipt number once committed; 0 before */
    char customer[33];     /* Online Retail CustomerID as an id ("17850"), "" when none */
    bool bad;              /* while being read: a row was bad, the group is skipped */
    int rows;              /* while being read: rows seen */
};

/* An item of a catalog being derived, keyed by (stock, price). */
struct rp_item {
    char stock[ID_MAX + 1];
    char id[ID_MAX + 1];
    char name[NAME_MAX_];
    char brand[32];
    int64_t price;
    bool service;
};

struct db_type {
    char id[24];
    char name[32];
};

struct replay {
    struct pe_replay_opts o;
    FILE *rep;                    /* where reports go */
    const struct pe_catalog *cat; /* replay: the till's catalog; NULL while deriving one */
    struct rp_group *g;           /* compiled groups, in replay order */
    size_t ng, gcap;
    struct rp_item *items; /* deriving: the items, in order of first appearance */
    size_t nitems, icap;
    size_t *slots; /* hash of items: slot -> index + 1 */
    size_t nslots;
    int64_t last_ts;         /* time of the last group compiled */
    bool have_ts;            /* last_ts is set */
    struct db_type *types;   /* Databricks inventory_change_type.csv */
    size_t ntypes;           /* entries in types */
    struct rp_item *dbitems; /* Databricks item.csv (price -1 when none given) */
    size_t ndbitems;         /* entries in dbitems */
    char store[32];          /* Databricks store_id replayed */
    long other_store;        /* rows skipped for another store */
    long bad_rows;           /* rows reported bad */
    long skipped;            /* groups skipped */
    size_t next;             /* running: next group to play */
    size_t awaiting;         /* running: index + 1 of the sale waiting for its commit */
    bool started, closed;    /* running: login/shift open done, shift closed */
    char operator_[33];      /* who logs in */
};

static void report(struct replay *r, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void report(struct replay *r, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(r->rep, "%s:%d: ", file, line);
    vfprintf(r->rep, fmt, ap);
    fputc('\n', r->rep);
    va_end(ap);
    fflush(r->rep);
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* Copy src into dst[cap], cut to fit (the callers have checked the lengths that matter). */
static void copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static uint64_t fnv1a(const char *s, int64_t salt)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)salt;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void group_free(struct rp_group *g)
{
    free(g->lines);
    memset(g, 0, sizeof *g);
}

static int group_add(struct rp_group *g, const struct rp_line *l)
{
    if (g->nlines == g->cap) {
        int ncap = g->cap ? g->cap * 2 : 8;
        struct rp_line *n = realloc(g->lines, (size_t)ncap * sizeof *n);
        if (!n)
            return PE_ENOMEM;
        g->lines = n;
        g->cap = ncap;
    }
    g->lines[g->nlines++] = *l;
    return PE_OK;
}

/* Append a compiled group (taking its lines). */
static int push_group(struct replay *r, struct rp_group *g)
{
    if (r->ng == r->gcap) {
        size_t ncap = r->gcap ? r->gcap * 2 : 64;
        struct rp_group *n = realloc(r->g, ncap * sizeof *n);
        if (!n)
            return PE_ENOMEM;
        r->g = n;
        r->gcap = ncap;
    }
    r->g[r->ng++] = *g;
    memset(g, 0, sizeof *g);
    return PE_OK;
}

/* The clock never goes backwards: a group earlier than the last one is replayed at its time. */
static void clamp(struct replay *r, struct rp_group *g, const char *what)
{
    if (r->have_ts && g->ts < r->last_ts) {
        char a[PE_TIME_STRLEN], b[PE_TIME_STRLEN];
        pe_time_format(g->ts, a);
        pe_time_format(r->last_ts, b);
        report(r, g->file, g->lineno,
               "%s %s at %s is earlier than the activity before it: replayed at %s", what, g->ref,
               a, b);
        g->ts = r->last_ts;
    }
    r->last_ts = g->ts;
    r->have_ts = true;
}

/* ---- Items: lookups in the till's catalog, or the catalog being derived ----------------- */

static struct rp_item *item_find(struct replay *r, const char *stock, int64_t price)
{
    if (!r->nslots)
        return NULL;
    for (size_t s = fnv1a(stock, price) & (r->nslots - 1);; s = (s + 1) & (r->nslots - 1)) {
        size_t i = r->slots[s];
        if (!i)
            return NULL;
        struct rp_item *it = &r->items[i - 1];
        if (it->price == price && strcmp(it->stock, stock) == 0)
            return it;
    }
}

static int item_insert(struct replay *r, const struct rp_item *in)
{
    if ((r->nitems + 1) * 2 > r->nslots) {
        size_t ns = r->nslots ? r->nslots * 2 : 1024;
        size_t *n = calloc(ns, sizeof *n);
        if (!n)
            return PE_ENOMEM;
        for (size_t i = 0; i < r->nitems; i++) {
            size_t s = fnv1a(r->items[i].stock, r->items[i].price) & (ns - 1);
            while (n[s])
                s = (s + 1) & (ns - 1);
            n[s] = i + 1;
        }
        free(r->slots);
        r->slots = n;
        r->nslots = ns;
    }
    if (r->nitems == r->icap) {
        size_t ncap = r->icap ? r->icap * 2 : 256;
        struct rp_item *n = realloc(r->items, ncap * sizeof *n);
        if (!n)
            return PE_ENOMEM;
        r->items = n;
        r->icap = ncap;
    }
    r->items[r->nitems] = *in;
    size_t s = fnv1a(in->stock, in->price) & (r->nslots - 1);
    while (r->slots[s])
        s = (s + 1) & (r->nslots - 1);
    r->slots[s] = ++r->nitems;
    return PE_OK;
}

/* Online Retail codes that are services rather than goods: sold as line items. */
static bool is_service(const char *stock)
{
    static const char *const svc[] = {"POST", "DOT", "C2", "M", "BANK CHARGES", "PADS", "S"};
    for (size_t i = 0; i < sizeof svc / sizeof svc[0]; i++)
        if (strcasecmp(stock, svc[i]) == 0)
            return true;
    return false;
}

/*
 * Give line l its catalog item id and the code the till is given. Replaying: the item must be
 * in the till's catalog - for Online Retail "STOCK@PRICE" or "STOCK" at the row's price, for
 * Databricks the item_id. Deriving: the item is added when new (Online Retail: the first price
 * of a StockCode gets the plain id, other prices "STOCK@PRICE"). Returns PE_OK, PE_ENOTFOUND
 * with why set, or PE_ENOMEM.
 */
static int resolve(struct replay *r, struct rp_line *l, char *why, size_t whylen)
{
    char alt[64];
    bool retail = r->o.format == PE_REPLAY_ONLINE_RETAIL;
    snprintf(alt, sizeof alt, "%s@%" PRId64, l->stock, l->price);
    if (r->cat) {
        const struct pe_item *it = NULL;
        if (retail) {
            it = pe_catalog_by_id(r->cat, alt);
            if (!it) {
                it = pe_catalog_by_id(r->cat, l->stock);
                if (it && it->price != l->price)
                    it = NULL;
            }
        } else {
            it = pe_catalog_by_id(r->cat, l->stock);
        }
        if (!it || it->weighed || strlen(it->id) > ID_MAX) {
            if (retail)
                snprintf(why, whylen, "StockCode %s at %" PRId64 " is not in the catalog", l->stock,
                         l->price);
            else
                snprintf(why, whylen, "item_id %s is not in the catalog", l->stock);
            return PE_ENOTFOUND;
        }
        snprintf(l->id, sizeof l->id, "%s", it->id);
        snprintf(l->code, sizeof l->code, "%s", it->barcode);
        return PE_OK;
    }
    if (!retail) {
        struct rp_item *it = item_find(r, l->stock, -1);
        if (!it) {
            snprintf(why, whylen, "item_id %s is not in item.csv", l->stock);
            return PE_ENOTFOUND;
        }
        snprintf(l->id, sizeof l->id, "%s", it->id);
        snprintf(l->code, sizeof l->code, "%s", it->id);
        return PE_OK;
    }
    struct rp_item *it = item_find(r, l->stock, l->price);
    if (!it) {
        struct rp_item n = {.price = l->price, .service = is_service(l->stock)};
        snprintf(n.stock, sizeof n.stock, "%s", l->stock);
        bool known = item_find(r, l->stock, INT64_MIN) != NULL;
        if (known && strlen(alt) > ID_MAX) {
            snprintf(why, whylen, "StockCode %s: id %s is longer than %d", l->stock, alt, ID_MAX);
            return PE_ENOTFOUND;
        }
        copy(n.id, sizeof n.id, known ? alt : l->stock);
        snprintf(n.name, sizeof n.name, "%s", l->name[0] ? l->name : l->stock);
        snprintf(n.brand, sizeof n.brand, "Online Retail");
        if (item_insert(r, &n))
            return PE_ENOMEM;
        if (!known) {
            struct rp_item mark = {.price = INT64_MIN};
            snprintf(mark.stock, sizeof mark.stock, "%s", l->stock);
            mark.id[0] = '\0'; /* a marker, not an item */
            if (item_insert(r, &mark))
                return PE_ENOMEM;
        }
        it = item_find(r, l->stock, l->price);
    }
    snprintf(l->id, sizeof l->id, "%s", it->id);
    snprintf(l->code, sizeof l->code, "%s", it->id);
    return PE_OK;
}

/* ---- Online Retail ------------------------------------------------------------------------ */

/* The invoice's CustomerID as the till's customer id: "17850" (or "17850.0", as some exports
 * write it) gives "17850"; empty or anything else that is no id gives "" (no customer). */
static void or_customer(const char *field, char out[33])
{
    char id[33];
    size_t n = strcspn(field, " \t");
    if (n >= 3 && strcmp(field + n - 2, ".0") == 0)
        n -= 2;
    out[0] = '\0';
    if (n == 0 || n >= sizeof id)
        return;
    memcpy(id, field, n);
    id[n] = '\0';
    if (pe_event_id_valid(id, 1))
        memcpy(out, id, n + 1);
}

static const char *const or_cols[] = {"InvoiceNo",   "StockCode", "Description", "Quantity",
                                      "InvoiceDate", "UnitPrice", "CustomerID",  "Country"};

/* Codes that are no till activity: fees and adjustments of the web shop's books. */
static bool is_skipped_code(const char *stock)
{
    return strcasecmp(stock, "AMAZONFEE") == 0 || strcasecmp(stock, "CRUK") == 0 ||
           strcasecmp(stock, "B") == 0;
}

/* Compile a returned invoice ("C..."): each line goes back to the latest earlier sale that
 * still has that StockCode to return; one return per such sale. All lines or none. */
static int or_returns(struct replay *r, struct rp_group *inv)
{
    size_t *match = calloc((size_t)inv->nlines, sizeof *match);
    int *mline = calloc((size_t)inv->nlines, sizeof *mline);
    int rc = PE_OK, i;
    if (!match || !mline) {
        rc = PE_ENOMEM;
        goto out;
    }
    for (i = 0; i < inv->nlines; i++) {
        struct rp_line *l = &inv->lines[i];
        bool found = false;
        for (size_t gi = r->ng; gi-- > 0 && !found;) {
            struct rp_group *s = &r->g[gi];
            if (s->kind != RP_SALE)
                continue;
            for (int k = 0; k < s->nlines && !found; k++) {
                struct rp_line *sl = &s->lines[k];
                if (strcmp(sl->stock, l->stock) == 0 && sl->qty - sl->returned >= l->qty) {
                    sl->returned += l->qty;
                    match[i] = gi;
                    mline[i] = k;
                    found = true;
                }
            }
        }
        if (!found)
            break;
    }
    if (i < inv->nlines) {
        for (int k = 0; k < i; k++)
            r->g[match[k]].lines[mline[k]].returned -= inv->lines[k].qty;
        report(r, inv->file, inv->lines[i].lineno,
               "invoice %s: no earlier replayed sale has StockCode %s with %" PRId64
               " left to return; invoice skipped",
               inv->ref, inv->lines[i].stock, inv->lines[i].qty);
        r->skipped++;
        goto out;
    }
    clamp(r, inv, "invoice");
    for (i = 0; i < inv->nlines; i++) {
        bool done = false;
        for (int k = 0; k < i && !done; k++)
            done = match[k] == match[i];
        if (done)
            continue; /* this sale's return was made with an earlier line */
        struct rp_group ret = {.kind = RP_RETURN,
                               .ts = inv->ts,
                               .file = inv->file,
                               .lineno = inv->lineno,
                               .orig = match[i]};
        snprintf(ret.ref, sizeof ret.ref, "%s", inv->ref);
        memcpy(ret.customer, inv->customer, sizeof ret.customer);
        for (int k = i; k < inv->nlines && rc == PE_OK; k++) {
            if (match[k] != match[i])
                continue;
            struct rp_line l = r->g[match[k]].lines[mline[k]];
            l.qty = inv->lines[k].qty;
            l.lineno = inv->lines[k].lineno;
            l.returned = 0;
            rc = group_add(&ret, &l);
        }
        if (rc == PE_OK)
            rc = push_group(r, &ret);
        group_free(&ret);
        if (rc)
            break;
    }
out:
    free(match);
    free(mline);
    return rc;
}

/* Finish one invoice: report it skipped, or compile it into sales or returns. */
static int or_finish(struct replay *r, struct rp_group *inv)
{
    int rc = PE_OK;
    if (!inv->rows)
        return PE_OK;
    if (inv->bad) {
        report(r, inv->file, inv->lineno, "invoice %s skipped (%d rows): a row is bad", inv->ref,
               inv->rows);
        r->skipped++;
        goto out;
    }
    bool cancel = inv->ref[0] == 'C' || inv->ref[0] == 'c';
    /* Drop the rows that are no till activity, taking the discount out of the lines. */
    int kept = 0;
    for (int i = 0; i < inv->nlines; i++) {
        struct rp_line *l = &inv->lines[i];
        if (is_skipped_code(l->stock)) {
            report(r, inv->file, l->lineno,
                   "note: invoice %s: StockCode %s is no till activity "
                   "(a fee or bookkeeping entry); row skipped",
                   inv->ref, l->stock);
            continue;
        }
        if (strcasecmp(l->stock, "D") == 0) {
            if (cancel) {
                report(r, inv->file, l->lineno,
                       "note: invoice %s: a discount granted after the "
                       "sale has no till counterpart; row skipped",
                       inv->ref);
                continue;
            }
            inv->discount += l->qty * l->price;
            continue;
        }
        char why[160];
        if (!cancel && (rc = resolve(r, l, why, sizeof why))) {
            if (rc != PE_ENOTFOUND)
                goto out;
            rc = PE_OK;
            report(r, inv->file, l->lineno, "%s; invoice %s skipped", why, inv->ref);
            r->bad_rows++;
            r->skipped++;
            goto out;
        }
        inv->lines[kept++] = *l;
    }
    inv->nlines = kept;
    if (kept == 0) {
        report(r, inv->file, inv->lineno, "note: invoice %s has nothing for the till; skipped",
               inv->ref);
        goto out;
    }
    if (cancel) {
        rc = or_returns(r, inv);
        goto out;
    }
    /* The basket discount comes off the last basket of the invoice. */
    int64_t last_sum = 0;
    int first_last = (kept - 1) / SALE_MAX_LINES * SALE_MAX_LINES;
    for (int i = first_last; i < kept; i++)
        last_sum += inv->lines[i].qty * inv->lines[i].price;
    if (inv->discount > last_sum) {
        report(r, inv->file, inv->lineno,
               "invoice %s: discount %" PRId64 " is above the amount it applies to; invoice "
               "skipped",
               inv->ref, inv->discount);
        r->skipped++;
        goto out;
    }
    clamp(r, inv, "invoice");
    for (int i = 0; i < kept && rc == PE_OK; i += SALE_MAX_LINES) {
        struct rp_group s = {
            .kind = RP_SALE, .ts = inv->ts, .file = inv->file, .lineno = inv->lines[i].lineno};
        snprintf(s.ref, sizeof s.ref, "%s", inv->ref);
        memcpy(s.customer, inv->customer, sizeof s.customer);
        for (int k = i; k < kept && k < i + SALE_MAX_LINES && rc == PE_OK; k++)
            rc = group_add(&s, &inv->lines[k]);
        if (i == first_last)
            s.discount = inv->discount;
        if (rc == PE_OK)
            rc = push_group(r, &s);
        group_free(&s);
    }
out:
    group_free(inv);
    return rc;
}

/* Check one Online Retail row into l; PE_OK, or PE_EINVAL with why set. */
static int or_row(char **f, int nf, struct rp_line *l, int64_t *ts, char *why, size_t whylen)
{
    if (nf != 8) {
        snprintf(why, whylen, "expected 8 fields, got %d", nf);
        return PE_EINVAL;
    }
    for (int i = 0; i < 8; i++)
        rp_trim(f[i]);
    bool cancel = f[0][0] == 'C' || f[0][0] == 'c';
    int64_t q, price;
    if (!f[0][0] || strlen(f[0]) >= 32) {
        snprintf(why, whylen, "InvoiceNo must be 1..31 characters");
        return PE_EINVAL;
    }
    if (!f[1][0] || strlen(f[1]) > ID_MAX) {
        snprintf(why, whylen, "StockCode must be 1..%d characters", ID_MAX);
        return PE_EINVAL;
    }
    if (rp_int(f[3], &q)) {
        snprintf(why, whylen, "Quantity \"%.32s\" is not an integer", f[3]);
        return PE_EINVAL;
    }
    if (q == 0 || (cancel && q > 0) || (!cancel && q < 0)) {
        snprintf(why, whylen, "Quantity %" PRId64 " %s", q,
                 q == 0   ? "is zero"
                 : cancel ? "is positive in a cancellation"
                          : "is negative outside a cancellation");
        return PE_EINVAL;
    }
    if (q > TILL_MAX_QTY || q < -TILL_MAX_QTY) {
        snprintf(why, whylen, "Quantity %" PRId64 " is above the till's %d", q, TILL_MAX_QTY);
        return PE_EINVAL;
    }
    if (rp_datetime(f[4], ts)) {
        snprintf(why, whylen, "InvoiceDate \"%.32s\" is not a date and time", f[4]);
        return PE_EINVAL;
    }
    int rc = rp_decimal_minor(f[5], 2, &price);
    if (rc || price < 0) {
        snprintf(why, whylen, "UnitPrice \"%.32s\" %s", f[5],
                 rc == PE_ERANGE ? "is not a whole number of minor units"
                 : rc            ? "is not a decimal number"
                                 : "is negative");
        return PE_EINVAL;
    }
    memset(l, 0, sizeof *l);
    snprintf(l->stock, sizeof l->stock, "%s", f[1]);
    snprintf(l->name, sizeof l->name, "%s", f[2]);
    l->qty = q < 0 ? -q : q;
    l->price = price;
    return PE_OK;
}

static bool header_is(char **f, int nf, const char *const *cols, int ncols)
{
    if (nf != ncols)
        return false;
    for (int i = 0; i < ncols; i++)
        if (strcasecmp(rp_trim(f[i]), cols[i]) != 0)
            return false;
    return true;
}

static int or_file(struct replay *r, const char *path, char *err, size_t errlen)
{
    struct rp_csv c;
    struct rp_group inv = {0};
    char why[200];
    int nf, line, rc = rp_csv_open(&c, path, REPLAY_MAX_BYTES, err, errlen);
    if (rc)
        goto out;
    rc = rp_csv_next(&c, &nf, &line, why, sizeof why);
    if (rc == PE_EEOF || (rc == PE_OK && !header_is(c.fields, nf, or_cols, 8)) || rc == PE_EPARSE) {
        seterr(err, errlen,
               "%s:1: not an Online Retail file: the header must be "
               "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,"
               "Country",
               path);
        rc = PE_EINVAL;
        goto out;
    }
    if (rc)
        goto out;
    for (;;) {
        rc = rp_csv_next(&c, &nf, &line, why, sizeof why);
        if (rc == PE_EEOF) {
            rc = PE_OK;
            break;
        }
        if (rc == PE_ENOMEM)
            goto out;
        if (rc == PE_EPARSE) {
            /* The record is unreadable, so is its InvoiceNo: report the row alone. */
            report(r, path, line, "%s; row skipped", why);
            r->bad_rows++;
            continue;
        }
        struct rp_line l;
        int64_t ts = 0;
        const char *no = nf > 0 ? rp_trim(c.fields[0]) : "";
        int bad = or_row(c.fields, nf, &l, &ts, why, sizeof why);
        if (!inv.rows || strcmp(no, inv.ref) != 0) {
            if ((rc = or_finish(r, &inv)))
                goto out;
            inv.file = path;
            inv.lineno = line;
            inv.ts = ts;
            snprintf(inv.ref, sizeof inv.ref, "%s", no);
            or_customer(nf > 6 ? c.fields[6] : "", inv.customer);
        }
        inv.rows++;
        if (bad) {
            report(r, path, line, "%s%s%s%s", why, no[0] ? "; invoice " : "", no,
                   no[0] ? " skipped" : "");
            r->bad_rows++;
            inv.bad = true;
            continue;
        }
        if (inv.rows == 1 || !inv.ts)
            inv.ts = ts;
        l.lineno = line;
        if ((rc = group_add(&inv, &l)))
            goto out;
    }
    rc = or_finish(r, &inv);
out:
    group_free(&inv);
    rp_csv_close(&c);
    return rc;
}

/* ---- Databricks --------------------------------------------------------------------------- */

enum db_kind { DB_NONE, DB_ITEM, DB_STORE, DB_TYPE, DB_CHANGE, DB_SNAPSHOT };

/* Index of column name in the header, or -1. */
static int col(char **f, int nf, const char *name)
{
    for (int i = 0; i < nf; i++)
        if (strcasecmp(f[i], name) == 0)
            return i;
    return -1;
}

static enum db_kind db_classify(char **f, int nf)
{
    for (int i = 0; i < nf; i++)
        rp_trim(f[i]);
    if (col(f, nf, "trans_id") >= 0 && col(f, nf, "change_type_id") >= 0)
        return DB_CHANGE;
    if (col(f, nf, "employee_id") >= 0 && col(f, nf, "quantity") >= 0)
        return DB_SNAPSHOT;
    if (col(f, nf, "change_type") >= 0 && col(f, nf, "change_type_id") >= 0)
        return DB_TYPE;
    if (col(f, nf, "item_id") >= 0 && col(f, nf, "name") >= 0)
        return DB_ITEM;
    if (col(f, nf, "store_id") >= 0 && col(f, nf, "name") >= 0)
        return DB_STORE;
    return DB_NONE;
}

/* The price of a Databricks item the data does not price: x.99 from 0.99 to 49.99, fixed by
 * the item_id alone. */
static int64_t db_price(const char *item_id)
{
    return 99 + 100 * (int64_t)(fnv1a(item_id, 0) % 50);
}

static int db_master(struct replay *r, struct rp_csv *c, enum db_kind kind, char **h, int hn)
{
    int ci = col(h, hn, kind == DB_TYPE ? "change_type_id" : "item_id");
    int cn = col(h, hn, kind == DB_TYPE ? "change_type" : "name");
    int cs = col(h, hn, "supplier_id");
    int cp = col(h, hn, "price") >= 0 ? col(h, hn, "price") : col(h, hn, "unit_price");
    int nf, line, rc;
    char why[160];
    while ((rc = rp_csv_next(c, &nf, &line, why, sizeof why)) != PE_EEOF) {
        if (rc == PE_ENOMEM)
            return rc;
        if (rc == PE_EPARSE || nf != hn) {
            report(r, c->path, line, "%s; row skipped", rc ? why : "wrong number of fields");
            r->bad_rows++;
            continue;
        }
        for (int i = 0; i < nf; i++)
            rp_trim(c->fields[i]);
        const char *id = c->fields[ci];
        if (!id[0] || strlen(id) > ID_MAX) {
            report(r, c->path, line, "id must be 1..%d characters; row skipped", ID_MAX);
            r->bad_rows++;
            continue;
        }
        if (kind == DB_TYPE) {
            struct db_type *n = realloc(r->types, (r->ntypes + 1) * sizeof *n);
            if (!n)
                return PE_ENOMEM;
            r->types = n;
            snprintf(n[r->ntypes].id, sizeof n->id, "%s", id);
            snprintf(n[r->ntypes].name, sizeof n->name, "%s", c->fields[cn]);
            for (char *p = n[r->ntypes].name; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            r->ntypes++;
            continue;
        }
        struct rp_item it = {.price = -1};
        snprintf(it.stock, sizeof it.stock, "%s", id);
        snprintf(it.id, sizeof it.id, "%s", id);
        snprintf(it.name, sizeof it.name, "%s", c->fields[cn][0] ? c->fields[cn] : id);
        snprintf(it.brand, sizeof it.brand, "supplier %s", cs >= 0 ? c->fields[cs] : "-");
        if (cp >= 0 && c->fields[cp][0]) {
            int64_t p;
            if (rp_decimal_minor(c->fields[cp], 2, &p) || p < 0) {
                report(r, c->path, line, "price \"%.32s\" is not a decimal amount; row skipped",
                       c->fields[cp]);
                r->bad_rows++;
                continue;
            }
            it.price = p;
        }
        if (item_find(r, id, -1)) {
            report(r, c->path, line, "item_id %s appears twice; row skipped", id);
            r->bad_rows++;
            continue;
        }
        if (it.price < 0)
            it.price = db_price(id);
        /* Keyed by (id, -1) for lookups; dbitems keeps the entries with their prices. */
        int64_t price = it.price;
        it.price = -1;
        if ((rc = item_insert(r, &it)))
            return rc;
        struct rp_item *n = realloc(r->dbitems, (r->ndbitems + 1) * sizeof *n);
        if (!n)
            return PE_ENOMEM;
        r->dbitems = n;
        n[r->ndbitems] = it;
        n[r->ndbitems].price = price;
        r->ndbitems++;
    }
    return PE_OK;
}

static const struct db_type *db_type(const struct replay *r, const char *id)
{
    for (size_t i = 0; i < r->ntypes; i++)
        if (strcmp(r->types[i].id, id) == 0)
            return &r->types[i];
    return NULL;
}

/* Finish one Databricks transaction or snapshot: skip it, or compile it (chunked). */
static int db_finish(struct replay *r, struct rp_group *g)
{
    int rc = PE_OK;
    if (!g->rows || !g->nlines)
        goto out;
    if (g->bad) {
        report(r, g->file, g->lineno, "%s %s skipped (%d rows): a row is bad",
               g->kind == RP_COUNT ? "snapshot" : "transaction", g->ref, g->rows);
        r->skipped++;
        goto out;
    }
    char why[160];
    for (int i = 0; i < g->nlines; i++) {
        if ((rc = resolve(r, &g->lines[i], why, sizeof why))) {
            if (rc != PE_ENOTFOUND)
                goto out;
            rc = PE_OK;
            report(r, g->file, g->lines[i].lineno, "%s; %s %s skipped", why,
                   g->kind == RP_COUNT ? "snapshot" : "transaction", g->ref);
            r->bad_rows++;
            r->skipped++;
            goto out;
        }
    }
    clamp(r, g, g->kind == RP_COUNT ? "snapshot" : "transaction");
    int chunk = g->kind == RP_SALE ? SALE_MAX_LINES : PE_KEY_MAX_LINES;
    for (int i = 0; i < g->nlines && rc == PE_OK; i += chunk) {
        struct rp_group s = *g;
        s.lines = NULL;
        s.nlines = s.cap = 0;
        s.lineno = g->lines[i].lineno;
        for (int k = i; k < g->nlines && k < i + chunk && rc == PE_OK; k++)
            rc = group_add(&s, &g->lines[k]);
        if (rc == PE_OK)
            rc = push_group(r, &s);
        group_free(&s);
    }
out:
    group_free(g);
    return rc;
}

/* One inventory_change or inventory_snapshot file. */
static int db_data(struct replay *r, struct rp_csv *c, enum db_kind kind, char **h, int hn)
{
    bool change = kind == DB_CHANGE;
    int ct = col(h, hn, "trans_id"), cit = col(h, hn, "item_id"), cst = col(h, hn, "store_id");
    int cdt = col(h, hn, "date_time"), cq = col(h, hn, "quantity");
    int cty = col(h, hn, "change_type_id");
    if (cit < 0 || cst < 0 || cdt < 0 || cq < 0)
        return PE_EINVAL;
    struct rp_group g = {0};
    int nf, line, rc;
    char why[200];
    while ((rc = rp_csv_next(c, &nf, &line, why, sizeof why)) != PE_EEOF) {
        if (rc == PE_ENOMEM)
            goto out;
        if (rc == PE_EPARSE) {
            report(r, c->path, line, "%s; row skipped", why);
            r->bad_rows++;
            continue;
        }
        for (int i = 0; i < nf; i++)
            rp_trim(c->fields[i]);
        const char *store = nf == hn ? c->fields[cst] : "";
        if (nf == hn && !r->store[0])
            snprintf(r->store, sizeof r->store, "%s", store);
        if (nf == hn && strcmp(store, r->store) != 0) {
            r->other_store++;
            continue;
        }
        /* The group key: trans_id and kind for changes, the time for snapshots. */
        char key[64] = "";
        const struct db_type *t = NULL;
        enum rp_kind k = RP_COUNT;
        bool bad = nf != hn;
        if (bad) {
            snprintf(why, sizeof why, "expected %d fields, got %d", hn, nf);
        } else if (change) {
            snprintf(key, sizeof key, "%s", c->fields[ct]);
            t = db_type(r, c->fields[cty]);
            if (!t) {
                snprintf(why, sizeof why,
                         "change_type_id %.24s is not in "
                         "inventory_change_type.csv",
                         c->fields[cty]);
                bad = true;
            } else {
                k = strcmp(t->name, "sale") == 0      ? RP_SALE
                    : strcmp(t->name, "restock") == 0 ? RP_RECEIPT
                                                      : RP_ADJUST;
            }
        } else {
            snprintf(key, sizeof key, "%s", c->fields[cdt]);
        }
        struct rp_line l = {.price = -1, .lineno = line};
        int64_t ts = 0, q = 0;
        if (!bad) {
            const char *item = c->fields[cit];
            if (!item[0] || strlen(item) > ID_MAX) {
                snprintf(why, sizeof why, "item_id must be 1..%d characters", ID_MAX);
                bad = true;
            } else if (rp_datetime(c->fields[cdt], &ts)) {
                snprintf(why, sizeof why, "date_time \"%.32s\" is not yyyy-MM-dd HH:mm:ss",
                         c->fields[cdt]);
                bad = true;
            } else if (rp_int(c->fields[cq], &q)) {
                snprintf(why, sizeof why, "quantity \"%.32s\" is not an integer", c->fields[cq]);
                bad = true;
            } else if ((k == RP_SALE && (q >= 0 || q < -TILL_MAX_QTY)) ||
                       (k == RP_RECEIPT && q <= 0) || (k == RP_ADJUST && q == 0) ||
                       (k == RP_COUNT && q < 0) || q > 1000000000 || q < -1000000000) {
                snprintf(why, sizeof why, "quantity %" PRId64 " does not fit %s", q,
                         k == RP_SALE      ? "a sale (-1..-9999)"
                         : k == RP_RECEIPT ? "a restock (> 0)"
                         : k == RP_ADJUST  ? "an adjustment (not 0)"
                                           : "a count (>= 0)");
                bad = true;
            } else {
                snprintf(l.stock, sizeof l.stock, "%s", item);
                l.qty = k == RP_SALE ? -q : q;
            }
        }
        if (!g.rows || strcmp(key, g.ref) != 0 || (!bad && !g.bad && k != g.kind) ||
            (bad && !key[0])) {
            if ((rc = db_finish(r, &g)))
                goto out;
            g.file = c->path;
            g.lineno = line;
            g.kind = k;
            g.ts = ts;
            copy(g.ref, sizeof g.ref, key);
            if (t && k == RP_ADJUST)
                snprintf(g.reason, sizeof g.reason, "%s", t->name);
        }
        g.rows++;
        if (bad) {
            report(r, c->path, line, "%s%s%s", why, key[0] ? "; " : "",
                   key[0] ? (change ? "transaction skipped" : "snapshot skipped") : "");
            r->bad_rows++;
            g.bad = true;
            continue;
        }
        if (!g.ts)
            g.ts = ts;
        if ((rc = group_add(&g, &l)))
            goto out;
    }
    rc = db_finish(r, &g);
out:
    group_free(&g);
    return rc;
}

static int db_files(struct replay *r, const char *const *paths, size_t n, char *err, size_t errlen)
{
    int rc = PE_OK;
    /* Master files first, whatever the order on the command line; then the data in order. */
    for (int pass = 0; pass < 2 && rc == PE_OK; pass++) {
        for (size_t i = 0; i < n && rc == PE_OK; i++) {
            struct rp_csv c;
            int nf, line;
            char why[160];
            if ((rc = rp_csv_open(&c, paths[i], REPLAY_MAX_BYTES, err, errlen)))
                break;
            enum db_kind kind = DB_NONE;
            if (rp_csv_next(&c, &nf, &line, why, sizeof why) == PE_OK)
                kind = db_classify(c.fields, nf);
            if (kind == DB_NONE) {
                seterr(err, errlen,
                       "%s:1: not a Databricks point-of-sale file (no known "
                       "header: inventory_change, inventory_snapshot, item, store, "
                       "inventory_change_type)",
                       paths[i]);
                rc = PE_EINVAL;
            } else {
                char *h[RP_CSV_MAX_FIELDS];
                char hbuf[RP_CSV_MAX_FIELDS][40];
                for (int k = 0; k < nf; k++) {
                    snprintf(hbuf[k], sizeof hbuf[k], "%s", c.fields[k]);
                    h[k] = hbuf[k];
                }
                bool master = kind == DB_ITEM || kind == DB_STORE || kind == DB_TYPE;
                if (pass == 0 && (kind == DB_ITEM || kind == DB_TYPE))
                    rc = db_master(r, &c, kind, h, nf);
                else if (pass == 1 && !master) {
                    if (kind == DB_CHANGE && !r->ntypes) {
                        seterr(err, errlen,
                               "%s: inventory changes need "
                               "inventory_change_type.csv among the files",
                               paths[i]);
                        rc = PE_EINVAL;
                    } else if (!r->ndbitems) {
                        seterr(err, errlen, "%s: needs item.csv among the files", paths[i]);
                        rc = PE_EINVAL;
                    } else if ((rc = db_data(r, &c, kind, h, nf)) == PE_EINVAL) {
                        seterr(err, errlen, "%s:1: a column is missing", paths[i]);
                    }
                }
            }
            rp_csv_close(&c);
        }
    }
    if (rc == PE_OK && r->other_store)
        fprintf(r->rep, "note: %ld rows of stores other than store_id %s skipped\n", r->other_store,
                r->store);
    return rc;
}

/* ---- Compiling, and the engine source ---------------------------------------------------- */

static void replay_free(struct replay *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->ng; i++)
        free(r->g[i].lines);
    free(r->g);
    free(r->items);
    free(r->slots);
    free(r->types);
    free(r->dbitems);
    free(r);
}

static int compile(const char *const *paths, size_t n, const struct pe_replay_opts *o,
                   const struct pe_catalog *cat, struct replay **out, char *err, size_t errlen)
{
    if (!paths || !n || !o || !out ||
        (o->format != PE_REPLAY_ONLINE_RETAIL && o->format != PE_REPLAY_DATABRICKS)) {
        seterr(err, errlen, "replay: no files, or an unknown format");
        return PE_EINVAL;
    }
    struct replay *r = calloc(1, sizeof *r);
    if (!r)
        return PE_ENOMEM;
    r->o = *o;
    r->rep = o->report ? o->report : stderr;
    r->cat = cat;
    snprintf(r->operator_, sizeof r->operator_, "%s",
             o->operator_ ? o->operator_ : DEFAULT_OPERATOR);
    if (o->store)
        snprintf(r->store, sizeof r->store, "%s", o->store);
    int rc = PE_OK;
    if (o->format == PE_REPLAY_ONLINE_RETAIL) {
        for (size_t i = 0; i < n && rc == PE_OK; i++)
            rc = or_file(r, paths[i], err, errlen);
    } else {
        rc = db_files(r, paths, n, err, errlen);
    }
    if (rc) {
        if (rc == PE_ENOMEM)
            seterr(err, errlen, "replay: out of memory");
        replay_free(r);
        return rc;
    }
    fprintf(r->rep,
            "replay: %zu till transactions from %zu file%s; %ld bad row%s, %ld "
            "transaction%s skipped\n",
            r->ng, n, n == 1 ? "" : "s", r->bad_rows, r->bad_rows == 1 ? "" : "s", r->skipped,
            r->skipped == 1 ? "" : "s");
    fflush(r->rep);
    *out = r;
    return PE_OK;
}

int pe_replay_format_parse(const char *name, enum pe_replay_format *out)
{
    if (name && strcmp(name, "online-retail") == 0)
        *out = PE_REPLAY_ONLINE_RETAIL;
    else if (name && strcmp(name, "databricks") == 0)
        *out = PE_REPLAY_DATABRICKS;
    else
        return PE_EINVAL;
    return PE_OK;
}

/* A step of group g (every step sets the clock to the group's time). */
static struct sim__step *step(struct pe_sim *sim, const struct rp_group *g, enum sim__input in,
                              int *added)
{
    struct sim__step *st = sim__append(sim);
    if (!st)
        return NULL;
    st->input = in;
    st->set_clock = true;
    st->clock_ms = g->ts;
    st->lineno = g->lineno;
    if ((*added)++ == 0)
        st->counts = 1;
    return st;
}

static struct sim__step *key(struct pe_sim *sim, const struct rp_group *g, enum pe_key_kind k,
                             int *added)
{
    struct sim__step *st = step(sim, g, SIM_IN_KEY, added);
    if (st)
        st->kind = k;
    return st;
}

/* The scans of a basket's lines: QTY first when more than one. */
static int scans(struct pe_sim *sim, const struct rp_group *g, int *added)
{
    for (int i = 0; i < g->nlines; i++) {
        struct sim__step *st;
        if (g->lines[i].qty > 1) {
            if (!(st = key(sim, g, PE_KEY_QTY, added)))
                return PE_ENOMEM;
            st->qty = g->lines[i].qty;
        }
        if (!(st = step(sim, g, SIM_IN_SCAN, added)))
            return PE_ENOMEM;
        snprintf(st->text, sizeof st->text, "%s", g->lines[i].code);
    }
    return PE_OK;
}

/* The invoice's customer, keyed before its lines (the till puts it on the sale or return). */
static int customer_key(struct pe_sim *sim, const struct rp_group *g, int *added)
{
    if (!g->customer[0])
        return PE_OK;
    struct sim__step *st = key(sim, g, PE_KEY_CUSTOMER, added);
    if (!st)
        return PE_ENOMEM;
    snprintf(st->text, sizeof st->text, "%s", g->customer);
    return PE_OK;
}

static int play(struct replay *r, struct pe_sim *sim, size_t gi, int *added)
{
    const struct rp_group *g = &r->g[gi];
    struct sim__step *st;
    switch (g->kind) {
    case RP_SALE:
        if (customer_key(sim, g, added) || scans(sim, g, added))
            return PE_ENOMEM;
        if (g->discount > 0) {
            if (!(st = key(sim, g, PE_KEY_DISCOUNT, added)))
                return PE_ENOMEM;
            st->amount = g->discount;
        }
        if (!key(sim, g, PE_KEY_SUBTOTAL, added) || !(st = key(sim, g, PE_KEY_TENDER_CASH, added)))
            return PE_ENOMEM;
        st->flags = PE_KEYF_EXACT;
        r->awaiting = gi + 1;
        return PE_OK;
    case RP_RETURN: {
        int64_t seq = r->g[g->orig].seq;
        if (!seq) {
            report(r, g->file, g->lineno,
                   "invoice %s: its sale %s was not committed by the "
                   "till; return skipped",
                   g->ref, r->g[g->orig].ref);
            return PE_OK;
        }
        if (!(st = key(sim, g, PE_KEY_RETURN, added)))
            return PE_ENOMEM;
        st->ref_seq = seq;
        if (customer_key(sim, g, added) || scans(sim, g, added) ||
            !(st = key(sim, g, PE_KEY_TENDER_CASH, added)))
            return PE_ENOMEM;
        st->flags = PE_KEYF_EXACT;
        return PE_OK;
    }
    case RP_RECEIPT:
    case RP_ADJUST:
    case RP_COUNT:
        if (!(st = key(sim, g,
                       g->kind == RP_RECEIPT  ? PE_KEY_INV_RECEIPT
                       : g->kind == RP_ADJUST ? PE_KEY_INV_ADJUST
                                              : PE_KEY_INV_COUNT,
                       added)))
            return PE_ENOMEM;
        if (!(st->lines = calloc((size_t)g->nlines, sizeof *st->lines)))
            return PE_ENOMEM;
        st->nlines = g->nlines;
        for (int i = 0; i < g->nlines; i++) {
            snprintf(st->lines[i].code, sizeof st->lines[i].code, "%s", g->lines[i].id);
            st->lines[i].qty = g->lines[i].qty;
        }
        snprintf(st->text, sizeof st->text, "%s",
                 g->kind == RP_RECEIPT  ? g->ref
                 : g->kind == RP_ADJUST ? g->reason
                                        : "");
        return PE_OK;
    }
    return PE_OK;
}

static int replay_refill(struct pe_sim *sim, void *ctx)
{
    struct replay *r = ctx;
    int added = 0;
    struct sim__step *st;
    if (r->awaiting) {
        struct rp_group *g = &r->g[r->awaiting - 1];
        r->awaiting = 0;
        if (!g->seq) {
            report(r, g->file, g->lineno,
                   "invoice %s was not committed by the till (see its "
                   "log); its basket is cancelled",
                   g->ref);
            if (!key(sim, g, PE_KEY_CANCEL, &added))
                return PE_ENOMEM;
        }
    }
    if (!r->started && r->ng) {
        r->started = true;
        if (!(st = key(sim, &r->g[0], PE_KEY_LOGIN, &added)))
            return PE_ENOMEM;
        snprintf(st->text, sizeof st->text, "%s", r->operator_);
        if (!key(sim, &r->g[0], PE_KEY_SHIFT_OPEN, &added))
            return PE_ENOMEM;
    }
    while (r->next < r->ng) {
        int before = added;
        if (play(r, sim, r->next++, &added))
            return PE_ENOMEM;
        if (added > before)
            return PE_OK;
    }
    if (r->started && !r->closed) {
        r->closed = true;
        struct rp_group end = r->g[r->ng - 1];
        end.ts = r->last_ts;
        if (!key(sim, &end, PE_KEY_SHIFT_CLOSE, &added) || !key(sim, &end, PE_KEY_Z_REPORT, &added))
            return PE_ENOMEM;
    }
    return added ? PE_OK : PE_EEOF;
}

static void replay_committed(void *ctx, int64_t seq, const char *id, const cJSON *body)
{
    struct replay *r = ctx;
    (void)id;
    (void)body;
    if (r->awaiting)
        r->g[r->awaiting - 1].seq = seq;
}

static void replay_destroy(void *ctx)
{
    replay_free(ctx);
}

int pe_sim_replay_create(const char *const *paths, size_t npaths, const struct pe_replay_opts *o,
                         const struct pe_catalog *cat, const struct pe_sim_devices *devs,
                         struct pe_sim **out, char *err, size_t errlen)
{
    if (!cat || !out)
        return PE_EINVAL;
    *out = NULL;
    struct replay *r = NULL;
    int rc = compile(paths, npaths, o, cat, &r, err, errlen);
    if (rc)
        return rc;
    const struct sim__source src = {.ctx = r,
                                    .refill = replay_refill,
                                    .committed = replay_committed,
                                    .destroy = replay_destroy};
    int64_t start = r->ng ? r->g[0].ts : 0;
    if ((rc = sim__create(devs, start, &src, out, err, errlen)))
        replay_free(r);
    return rc;
}

/* ---- Deriving a catalog ------------------------------------------------------------------ */

/* A made-up EAN-13 in the in-store range "28", fixed by the item id; bumped past any barcode
 * already given (rare), so the result depends only on the ids and their order. */
static void barcode_for(const char *id, char (*used)[14], size_t nused, char out[14])
{
    uint64_t n = fnv1a(id, 0) % 10000000000ULL;
    for (;;) {
        char first12[13];
        snprintf(first12, sizeof first12, "28%010" PRIu64, n);
        snprintf(out, 14, "%s%d", first12, pe_ean13_check_digit(first12));
        bool clash = false;
        for (size_t i = 0; i < nused && !clash; i++)
            clash = strcmp(used[i], out) == 0;
        if (!clash)
            return;
        n = (n + 1) % 10000000000ULL;
    }
}

int pe_replay_catalog(const char *const *paths, size_t npaths, const struct pe_replay_opts *o,
                      char **json_out, char *err, size_t errlen)
{
    if (!json_out)
        return PE_EINVAL;
    *json_out = NULL;
    struct replay *r = NULL;
    int rc = compile(paths, npaths, o, NULL, &r, err, errlen);
    if (rc)
        return rc;
    bool retail = o->format == PE_REPLAY_ONLINE_RETAIL;
    const struct rp_item *items = retail ? r->items : r->dbitems;
    size_t n = retail ? r->nitems : r->ndbitems;
    char(*used)[14] = calloc(n ? n : 1, sizeof *used);
    cJSON *root = cJSON_CreateObject(), *arr = NULL;
    size_t nused = 0;
    rc = PE_ENOMEM;
    if (!used || !root)
        goto out;
    const char *cur = o->currency ? o->currency : retail ? "GBP" : "USD";
    if (!cJSON_AddStringToObject(root, "currency", cur) ||
        !(arr = cJSON_AddArrayToObject(root, "items")))
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct rp_item *it = &items[i];
        if (retail && it->price == INT64_MIN)
            continue; /* a marker of a known StockCode */
        barcode_for(it->id, used, nused, used[nused]);
        cJSON *e = cJSON_CreateObject();
        if (!e)
            goto out;
        cJSON_AddItemToArray(arr, e);
        if (!cJSON_AddStringToObject(e, "id", it->id) ||
            !cJSON_AddStringToObject(e, "barcode", used[nused]) ||
            !cJSON_AddStringToObject(e, "name", it->name[0] ? it->name : it->id) ||
            !cJSON_AddStringToObject(e, "category",
                                     !retail       ? "General"
                                     : it->service ? "Service"
                                                   : "Goods") ||
            !cJSON_AddStringToObject(e, "brand", it->brand[0] ? it->brand : "-") ||
            !cJSON_AddNumberToObject(e, "price", (double)it->price) ||
            !cJSON_AddNumberToObject(e, "tax_bp", o->tax_bp) ||
            !cJSON_AddFalseToObject(e, "weighed"))
            goto out;
        nused++;
    }
    char *text = cJSON_Print(root);
    if (!text)
        goto out;
    *json_out = text;
    rc = PE_OK;
out:
    if (rc == PE_ENOMEM)
        seterr(err, errlen, "replay-catalog: out of memory");
    cJSON_Delete(root);
    free(used);
    replay_free(r);
    return rc;
}
