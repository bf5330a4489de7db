/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report.c - X and Z report bodies from the journal's period counters.
 *
 * The counters are the running totals the till updates in each event's own transaction, so a
 * report built inside the Z report's transaction covers exactly the events before it.
 */
#include "posedge/report.h"

#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/json.h"

struct totals {
    cJSON *tax;     /* array being filled, rate order */
    cJSON *tenders; /* object being filled */
    int err;
};

static int collect_tax(const char *name, int64_t value, void *ctx)
{
    /* Names are p.tax.<bp>.gross and p.tax.<bp>.tax; gross comes first in name order. */
    struct totals *t = ctx;
    const char *p = name + strlen("p.tax.");
    char *end;
    long bp = strtol(p, &end, 10);
    if (end == p || *end != '.')
        return 0;
    cJSON *row = NULL, *it;
    cJSON_ArrayForEach(it, t->tax)
    {
        int64_t rate;
        if (pe_json_get_int(it, "rate_bp", &rate) == PE_OK && rate == bp)
            row = it;
    }
    if (!row) {
        row = cJSON_CreateObject();
        if (!row || pe_json_add_int(row, "rate_bp", bp) || pe_json_add_int(row, "gross", 0) ||
            pe_json_add_int(row, "tax", 0) || pe_json_add_int(row, "net", 0)) {
            cJSON_Delete(row);
            t->err = PE_ENOMEM;
            return 1;
        }
        /* Keep rates ascending: counters come in name order, which is not numeric order. */
        int idx = 0;
        cJSON_ArrayForEach(it, t->tax)
        {
            int64_t rate = 0;
            pe_json_get_int(it, "rate_bp", &rate);
            if (rate > bp)
                break;
            idx++;
        }
        cJSON_InsertItemInArray(t->tax, idx, row);
    }
    const char *field = end + 1;
    if (strcmp(field, "gross") == 0 || strcmp(field, "tax") == 0)
        cJSON_ReplaceItemInObject(row, field, cJSON_CreateNumber((double)value));
    int64_t g = 0, x = 0;
    pe_json_get_int(row, "gross", &g);
    pe_json_get_int(row, "tax", &x);
    cJSON_ReplaceItemInObject(row, "net", cJSON_CreateNumber((double)(g - x)));
    return 0;
}

static int collect_tender(const char *name, int64_t value, void *ctx)
{
    struct totals *t = ctx;
    if (pe_json_add_int(t->tenders, name + strlen("p.tender."), value) != PE_OK) {
        t->err = PE_ENOMEM;
        return 1;
    }
    return 0;
}

static int64_t counter(struct pe_journal *j, const char *name, int *err)
{
    int64_t v = 0;
    int rc = pe_journal_counter_get(j, name, &v);
    if (rc && !*err)
        *err = rc;
    return v;
}

static cJSON *pair(const char *k1, int64_t v1, const char *k2, int64_t v2)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || pe_json_add_int(o, k1, v1) || (k2 && pe_json_add_int(o, k2, v2))) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int pe_report_totals(struct pe_journal *j, const char *currency, int64_t number, int64_t last_seq,
                     cJSON **body)
{
    int err = 0;
    int64_t sales_n = counter(j, "p.sales.count", &err);
    int64_t gross = counter(j, "p.sales.gross", &err);
    int64_t disc = counter(j, "p.sales.discount", &err);
    int64_t ret_n = counter(j, "p.returns.count", &err);
    int64_t ret_amt = counter(j, "p.returns.amount", &err);
    int64_t void_n = counter(j, "p.voids.count", &err);
    int64_t void_amt = counter(j, "p.voids.amount", &err);
    int64_t nosale_n = counter(j, "p.nosale.count", &err);
    int64_t training_n = counter(j, "p.training.count", &err);
    int64_t first = counter(j, "p.first_seq", &err);
    int64_t g_sales = counter(j, "g.sales", &err);
    int64_t g_ret = counter(j, "g.returns", &err);
    if (err)
        return err;

    struct totals t = {cJSON_CreateArray(), cJSON_CreateObject(), 0};
    cJSON *b = cJSON_CreateObject();
    cJSON *period = pair("first_seq", first ? first : last_seq + 1, "last_seq", last_seq);
    if (!t.tax || !t.tenders || !b || !period) {
        err = PE_ENOMEM;
        goto fail;
    }
    int rc = pe_journal_counters_each(j, "p.tax.", collect_tax, &t);
    if (!rc)
        rc = pe_journal_counters_each(j, "p.tender.", collect_tender, &t);
    if (rc || t.err) {
        err = t.err ? t.err : (rc < 0 ? rc : PE_EIO);
        goto fail;
    }
    /* Adding copies the key, which may fail: then the item is still ours (a report is never
     * committed without a part of it). */
    if (!cJSON_AddItemToObject(b, "period", period)) {
        err = PE_ENOMEM;
        goto fail;
    }
    period = NULL;
    if (pe_json_add_str(b, "currency", currency) || pe_json_add_int(b, "number", number) ||
        pe_json_add_int(b, "net_sales", gross - ret_amt) ||
        pe_json_add_int(b, "grand_total", g_sales - g_ret)) {
        err = PE_ENOMEM;
        goto fail;
    }
    cJSON *s = pair("count", sales_n, "gross", gross);
    if (s && pe_json_add_int(s, "discount", disc)) {
        cJSON_Delete(s);
        s = NULL;
    }
    cJSON *r = pair("count", ret_n, "amount", ret_amt);
    cJSON *v = pair("count", void_n, "amount", void_amt);
    cJSON *n = pair("count", nosale_n, NULL, 0);
    if (!s || !r || !v || !n) {
        cJSON_Delete(s);
        cJSON_Delete(r);
        cJSON_Delete(v);
        cJSON_Delete(n);
        err = PE_ENOMEM;
        goto fail;
    }
    cJSON *part[] = {s, r, v, n};
    static const char *const part_name[] = {"sales", "returns", "voids", "no_sales"};
    for (int i = 0; i < 4; i++) {
        if (!cJSON_AddItemToObject(b, part_name[i], part[i])) {
            for (int k = i; k < 4; k++)
                cJSON_Delete(part[k]);
            err = PE_ENOMEM;
            goto fail;
        }
    }
    /* Records made in training mode: counted, and kept out of every figure above. */
    if (pe_json_add_int(b, "training_records", training_n)) {
        err = PE_ENOMEM;
        goto fail;
    }
    if (!cJSON_AddItemToObject(b, "tax", t.tax)) {
        err = PE_ENOMEM;
        goto fail;
    }
    t.tax = NULL;
    if (!cJSON_AddItemToObject(b, "tenders", t.tenders)) {
        err = PE_ENOMEM;
        goto fail;
    }
    *body = b;
    return PE_OK;

fail:
    cJSON_Delete(period);
    cJSON_Delete(b);
    cJSON_Delete(t.tax);
    cJSON_Delete(t.tenders);
    return err;
}
