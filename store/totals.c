/* SPDX-License-Identifier: Apache-2.0 */
/*
 * totals.c - the perpetual total, training records and the month and year closings (report.h).
 *
 * Two computations of the same figures live here on purpose. The till's: the perpetual total and
 * the closings come from the journal's counters, which the ledger moves in each event's own
 * transaction (so a crash can never skip or repeat an amount, and a restart reads them back as
 * they were). The auditor's: pe_totals_verify walks the records alone, from seq 1, sums what each
 * sale, return and void says, and compares every figure a record claims with that sum. The
 * invariant: both agree on every journal the till wrote, and a record whose figure was changed
 * (or a closing that leaves out a Z report) is named by its seq.
 */
#include "posedge/report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/json.h"

bool pe_totals_training(const cJSON *body)
{
    bool v = false;
    return pe_json_get_bool(body, "training", &v) == PE_OK && v;
}

static int64_t num(const cJSON *o, const char *key)
{
    int64_t v = 0;
    pe_json_get_int(o, key, &v);
    return v;
}

static int64_t total_of(const cJSON *body)
{
    return num(cJSON_GetObjectItemCaseSensitive(body, "totals"), "total");
}

int64_t pe_totals_delta(enum pe_event_type type, const cJSON *body)
{
    if (pe_totals_training(body))
        return 0;
    if (type == PE_EV_SALE)
        return total_of(body);
    if (type == PE_EV_RETURN)
        return -total_of(body);
    return 0;
}

int pe_totals_perpetual(struct pe_journal *j, int64_t *out)
{
    int64_t s = 0, r = 0;
    int rc = pe_journal_counter_get(j, "g.sales", &s);
    if (rc == PE_OK)
        rc = pe_journal_counter_get(j, "g.returns", &r);
    if (rc == PE_OK)
        *out = s - r;
    return rc;
}

void pe_totals_period(enum pe_event_type type, int64_t ts_ms, char out[8])
{
    struct pe_civil c;
    pe_time_split(ts_ms, &c);
    long long y = c.year < 0 ? 0 : c.year > 9999 ? 9999 : (long long)c.year;
    if (type == PE_EV_YEAR_CLOSE)
        snprintf(out, 8, "%04lld", y);
    else
        snprintf(out, 8, "%04lld-%02d", y, c.mon);
}

/* ---- the till's closing, from the counters ---- */

static cJSON *pair(const char *k1, int64_t v1, const char *k2, int64_t v2)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || pe_json_add_int(o, k1, v1) || pe_json_add_int(o, k2, v2)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static bool add_obj(cJSON *b, const char *k, cJSON *v)
{
    if (!v)
        return false;
    if (!cJSON_AddItemToObject(b, k, v)) { /* the key's copy failed: v is still ours */
        cJSON_Delete(v);
        return false;
    }
    return true;
}

int pe_report_closing(struct pe_journal *j, enum pe_event_type type, const char *period,
                      const char *currency, int64_t number, cJSON **body)
{
    if (type != PE_EV_MONTH_CLOSE && type != PE_EV_YEAR_CLOSE)
        return PE_EINVAL;
    const char *p = type == PE_EV_MONTH_CLOSE ? "m." : "y.";
    static const char *const names[] = {"first_seq",    "last_seq",      "z.count",
                                        "sales.count",  "sales.gross",   "returns.count",
                                        "returns.amount", "voids.count", "voids.amount",
                                        "perpetual"};
    enum { FIRST, LAST, ZS, SN, SG, RN, RA, VN, VA, PERP, N };
    int64_t v[N] = {0};
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "%s%s", p, names[i]);
        int rc = pe_journal_counter_get(j, name, &v[i]);
        if (rc)
            return rc;
    }
    if (v[ZS] == 0)
        return PE_EINVAL;
    cJSON *b = cJSON_CreateObject();
    bool ok = b && pe_json_add_str(b, "currency", currency) == PE_OK &&
              pe_json_add_int(b, "number", number) == PE_OK &&
              pe_json_add_str(b, type == PE_EV_MONTH_CLOSE ? "month" : "year", period) == PE_OK &&
              add_obj(b, "period", pair("first_seq", v[FIRST], "last_seq", v[LAST])) &&
              pe_json_add_int(b, "z_reports", v[ZS]) == PE_OK &&
              add_obj(b, "sales", pair("count", v[SN], "gross", v[SG])) &&
              add_obj(b, "returns", pair("count", v[RN], "amount", v[RA])) &&
              add_obj(b, "voids", pair("count", v[VN], "amount", v[VA])) &&
              pe_json_add_int(b, "net_sales", v[SG] - v[RA]) == PE_OK &&
              pe_json_add_int(b, "perpetual_total", v[PERP]) == PE_OK;
    if (!ok) {
        cJSON_Delete(b);
        return PE_ENOMEM;
    }
    *body = b;
    return PE_OK;
}

/* ---- the auditor's: from the records alone ---- */

/* Running sums since seq 1 of what the closings count (training records left out). */
struct cum {
    int64_t z, sales_n, sales_g, ret_n, ret_a, void_n, void_a;
};

/* The state after a Z report: where a closing may end. */
struct zsnap {
    int64_t seq;
    char month[8]; /* "YYYY-MM" of the Z's time */
    struct cum c;
    int64_t perpetual;
};

/* Where the open month's (year's) period starts: after the last closing's last Z. */
struct base {
    bool set;      /* a closing of this kind was seen */
    int64_t seq;   /* its last_seq */
    int64_t number; /* its number */
    struct cum c;  /* the sums at its last_seq */
};

struct walk {
    struct pe_totals_result *res;
    int64_t running; /* the perpetual total so far */
    bool carried;    /* some record carried perpetual_total */
    struct cum c;
    struct zsnap *zs; /* the Z reports since the older of the two bases */
    size_t nz, capz;
    struct base month, year;
    int64_t anchor; /* a pruned journal's anchor: the walk starts after it (0: from seq 1) */
};

static int fail(struct walk *w, int64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct walk *w, int64_t seq, const char *fmt, ...)
{
    char *why = w->res->why;
    size_t len = sizeof w->res->why;
    int n = snprintf(why, len, "seq %lld: ", (long long)seq);
    if (n > 0 && (size_t)n < len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why + n, len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    w->res->bad_seq = seq;
    return PE_ECHAIN;
}

static const struct zsnap *z_at(const struct walk *w, int64_t seq)
{
    for (size_t i = 0; i < w->nz; i++)
        if (w->zs[i].seq == seq)
            return &w->zs[i];
    return NULL;
}

static int sale_like(struct walk *w, enum pe_event_type type, int64_t seq, const cJSON *body)
{
    bool training = pe_totals_training(body);
    w->res->training += training;
    w->running += pe_totals_delta(type, body);
    if (!training) {
        int64_t t = type == PE_EV_VOID ? num(body, "amount") : total_of(body);
        if (type == PE_EV_SALE) {
            w->c.sales_n++;
            w->c.sales_g += t;
        } else if (type == PE_EV_RETURN) {
            w->c.ret_n++;
            w->c.ret_a += t;
        } else {
            w->c.void_n++;
            w->c.void_a += t;
        }
    }
    int64_t claimed = 0;
    int rc = pe_json_get_int(body, "perpetual_total", &claimed);
    if (rc == PE_ENOTFOUND) {
        /* Journals from before the perpetual total have none; from the first that does,
         * every one must. */
        return w->carried ? fail(w, seq, "%s without perpetual_total (earlier records carry it)",
                                 pe_event_type_name(type))
                          : PE_OK;
    }
    if (rc)
        return fail(w, seq, "perpetual_total is not an integer");
    w->carried = true;
    w->res->carried++;
    if (claimed != w->running)
        return fail(w, seq, "perpetual_total %lld, but the records up to it sum to %lld",
                    (long long)claimed, (long long)w->running);
    return PE_OK;
}

static int report(struct walk *w, enum pe_event_type type, int64_t seq, int64_t ts,
                  const cJSON *body)
{
    int64_t g = 0;
    if (pe_json_get_int(body, "grand_total", &g) != PE_OK)
        return fail(w, seq, "%s without grand_total", pe_event_type_name(type));
    if (g != w->running)
        return fail(w, seq, "grand_total %lld, but the records before it sum to %lld",
                    (long long)g, (long long)w->running);
    if (type != PE_EV_Z_REPORT)
        return PE_OK;
    w->c.z++;
    if (w->nz == w->capz) {
        size_t cap = w->capz ? w->capz * 2 : 64;
        struct zsnap *p = realloc(w->zs, cap * sizeof *p);
        if (!p)
            return PE_ENOMEM;
        w->zs = p;
        w->capz = cap;
    }
    struct zsnap *z = &w->zs[w->nz++];
    z->seq = seq;
    pe_totals_period(PE_EV_MONTH_CLOSE, ts, z->month);
    z->c = w->c;
    z->perpetual = w->running;
    return PE_OK;
}

/* Compare a closing's figure with the recomputed one. */
#define SAME(what, claimed, want)                                                                  \
    do {                                                                                           \
        if ((claimed) != (want))                                                                   \
            return fail(w, seq, "%s %s: %s %lld, but its records give %lld", tname, label, what,   \
                        (long long)(claimed), (long long)(want));                                  \
    } while (0)

static int closing(struct walk *w, enum pe_event_type type, int64_t seq, int64_t ts,
                   const cJSON *body)
{
    bool month = type == PE_EV_MONTH_CLOSE;
    const char *tname = pe_event_type_name(type);
    size_t plen = month ? 7 : 4; /* "YYYY-MM" or "YYYY": the part of a Z's month compared */
    const char *label = NULL;
    if (pe_json_get_str(body, month ? "month" : "year", &label) || strlen(label) != plen)
        return fail(w, seq, "%s without a %s", tname, month ? "month (YYYY-MM)" : "year (YYYY)");
    const cJSON *period = cJSON_GetObjectItemCaseSensitive(body, "period");
    int64_t first = num(period, "first_seq"), last = num(period, "last_seq");
    struct base *b = month ? &w->month : &w->year;
    struct cum from = {0};
    if (!b->set && w->anchor && first <= w->anchor) {
        /* A pruned journal: the period began in the archives, whose Z reports are not here.
         * Not recomputed; later closings go on from its end. */
        const struct zsnap *ze = z_at(w, last);
        b->set = true;
        b->seq = last;
        b->number = num(body, "number");
        if (ze)
            b->c = ze->c;
        w->res->before_anchor++;
        return PE_OK;
    }
    if (b->set) {
        if (first != b->seq + 1)
            return fail(w, seq, "%s %s starts at seq %lld, but the last closing ended at %lld",
                        tname, label, (long long)first, (long long)b->seq);
        from = b->c;
        if (num(body, "number") != b->number + 1)
            return fail(w, seq, "%s %s is number %lld after number %lld", tname, label,
                        (long long)num(body, "number"), (long long)b->number);
    } else if (first != 1 && first != w->anchor + 1) {
        /* The first closing of a journal that had Z reports before closings existed. */
        const struct zsnap *z0 = z_at(w, first - 1);
        if (!z0)
            return fail(w, seq, "%s %s starts at seq %lld, which follows no Z report", tname,
                        label, (long long)first);
        from = z0->c;
    }
    const struct zsnap *zl = z_at(w, last);
    if (!zl || last < first)
        return fail(w, seq, "%s %s ends at seq %lld, which is not a Z report after seq %lld",
                    tname, label, (long long)last, (long long)first);
    for (size_t i = 0; i < w->nz; i++) {
        const struct zsnap *z = &w->zs[i];
        int cmp = strncmp(z->month, label, plen);
        if (z->seq >= first && z->seq <= last && cmp != 0)
            return fail(w, seq, "%s %s covers the Z report at seq %lld, of %.*s", tname, label,
                        (long long)z->seq, (int)plen, z->month);
        if (z->seq > last && cmp <= 0)
            return fail(w, seq, "%s %s leaves out the Z report at seq %lld, of %.*s", tname, label,
                        (long long)z->seq, (int)plen, z->month);
    }
    char now[8];
    pe_totals_period(PE_EV_MONTH_CLOSE, ts, now);
    if (strncmp(now, label, plen) <= 0)
        return fail(w, seq, "%s %s made at %.*s, before its period ended", tname, label,
                    (int)plen, now);
    const struct cum *c = &zl->c;
    SAME("z_reports", num(body, "z_reports"), c->z - from.z);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(body, "sales");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(body, "returns");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "voids");
    SAME("sales.count", num(s, "count"), c->sales_n - from.sales_n);
    SAME("sales.gross", num(s, "gross"), c->sales_g - from.sales_g);
    SAME("returns.count", num(r, "count"), c->ret_n - from.ret_n);
    SAME("returns.amount", num(r, "amount"), c->ret_a - from.ret_a);
    SAME("voids.count", num(v, "count"), c->void_n - from.void_n);
    SAME("voids.amount", num(v, "amount"), c->void_a - from.void_a);
    SAME("net_sales", num(body, "net_sales"),
         (c->sales_g - from.sales_g) - (c->ret_a - from.ret_a));
    SAME("perpetual_total", num(body, "perpetual_total"), zl->perpetual);
    b->set = true;
    b->seq = last;
    b->number = num(body, "number");
    b->c = *c;
    if (month)
        w->res->months++;
    else
        w->res->years++;
    /* The Z reports before both open periods are needed no more. */
    int64_t keep = w->month.set && w->year.set ? (w->month.seq < w->year.seq ? w->month.seq
                                                                              : w->year.seq)
                                               : 0;
    size_t k = 0;
    for (size_t i = 0; i < w->nz; i++)
        if (w->zs[i].seq > keep)
            w->zs[k++] = w->zs[i];
    w->nz = k;
    return PE_OK;
}

#undef SAME

/* The types whose records carry figures of the totals (masks: a switch here would have to name
 * every other type too). */
#define SALE_LIKE (PE_EV_BIT(PE_EV_SALE) | PE_EV_BIT(PE_EV_RETURN) | PE_EV_BIT(PE_EV_VOID))
#define REPORTS (PE_EV_BIT(PE_EV_X_REPORT) | PE_EV_BIT(PE_EV_Z_REPORT))
#define CLOSINGS (PE_EV_BIT(PE_EV_MONTH_CLOSE) | PE_EV_BIT(PE_EV_YEAR_CLOSE))

int pe_totals_verify(struct pe_journal *j, struct pe_totals_result *res)
{
    memset(res, 0, sizeof *res);
    struct walk w = {.res = res};
    struct pe_journal_iter *it = NULL;
    struct pe_journal_rec r;
    struct pe_journal_anchor an;
    int rc = pe_journal_anchor(j, &an);
    /* A pruned journal goes on from the total its anchor keeps. */
    w.running = an.perpetual_total;
    w.anchor = an.seq;
    pe_journal_anchor_free(&an);
    if (rc == PE_OK)
        rc = pe_journal_iter_open(j, 1, NULL, &it);
    while (rc == PE_OK && (rc = pe_journal_iter_next(it, &r)) == PE_OK) {
        enum pe_event_type type;
        if (pe_event_type_parse(r.type, &type) != PE_OK)
            continue;
        if (!(PE_EV_BIT(type) & (SALE_LIKE | REPORTS | CLOSINGS)))
            continue; /* nothing of the totals in it */
        cJSON *rec = NULL;
        int64_t ts = 0;
        const char *tss = NULL;
        char why[120] = "";
        rc = pe_json_parse(r.record, r.len, &rec, why, sizeof why);
        if (rc == PE_ENOMEM)
            break;
        if (rc || pe_json_get_str(rec, "ts", &tss) || pe_time_parse(tss, &ts)) {
            cJSON_Delete(rec);
            rc = fail(&w, r.seq, "the record does not parse%s%s", why[0] ? ": " : "", why);
            break;
        }
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(rec, "body");
        if (PE_EV_BIT(type) & SALE_LIKE)
            rc = sale_like(&w, type, r.seq, body);
        else if (PE_EV_BIT(type) & REPORTS)
            rc = report(&w, type, r.seq, ts, body);
        else
            rc = closing(&w, type, r.seq, ts, body);
        cJSON_Delete(rec);
    }
    pe_journal_iter_close(it);
    free(w.zs);
    res->perpetual = w.running;
    return rc == PE_EEOF ? PE_OK : rc;
}
