/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ledger.c - the effect of each event type on stock, report counters, sale lines and the
 * shift, derived from the event body alone (see ledger.h). Keeping this in one place is what
 * lets a journal be replayed: the till and posedge-ctl recover call the same function.
 */
#include "posedge/ledger.h"

#include <stdio.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/json.h"
#include "posedge/report.h"

static int add(struct pe_journal *j, const char *name, int64_t delta)
{
    return delta ? pe_journal_counter_add(j, name, delta) : PE_OK;
}

static int64_t num(const cJSON *o, const char *key)
{
    int64_t v = 0;
    pe_json_get_int(o, key, &v);
    return v;
}

/* Sum the amounts of tenders paid with method. */
static int64_t paid_by(const cJSON *tenders, const char *method)
{
    int64_t sum = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, tenders)
    {
        const char *m = NULL;
        if (pe_json_get_str(t, "method", &m) == PE_OK && strcmp(m, method) == 0)
            sum += num(t, "amount");
    }
    return sum;
}

/* Add sign x the per-rate gross and tax of a sale or return to the period's tax counters. */
static int tax(struct pe_journal *j, const cJSON *body, int sign)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(body, "tax"))
    {
        char name[48];
        int64_t bp = num(r, "rate_bp");
        snprintf(name, sizeof name, "p.tax.%lld.gross", (long long)bp);
        int rc = add(j, name, sign * num(r, "gross"));
        if (rc)
            return rc;
        snprintf(name, sizeof name, "p.tax.%lld.tax", (long long)bp);
        if ((rc = add(j, name, sign * num(r, "tax"))))
            return rc;
    }
    return PE_OK;
}

static int sale(struct pe_journal *j, int64_t seq, const cJSON *b)
{
    const cJSON *tot = cJSON_GetObjectItemCaseSensitive(b, "totals");
    const cJSON *tenders = cJSON_GetObjectItemCaseSensitive(b, "tenders");
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(b, "lines");
    if (!cJSON_IsObject(tot) || !cJSON_IsArray(tenders) || !cJSON_IsArray(lines))
        return PE_EINVAL;
    int64_t total = num(tot, "total");
    int64_t cash = paid_by(tenders, "cash") - num(tot, "change");
    bool training = pe_totals_training(b);
    int rc;
    if (training)
        rc = add(j, "p.training.count", 1);
    else if ((rc = add(j, "p.sales.count", 1)) || (rc = add(j, "p.sales.gross", total)) ||
        (rc = add(j, "p.sales.discount", num(tot, "discount"))) ||
        (rc = add(j, "p.tender.cash", cash)) ||
        (rc = add(j, "p.tender.card", paid_by(tenders, "card"))) ||
        (rc = add(j, "g.sales", total)) || (rc = add(j, "shift.cash", cash)) || (rc = tax(j, b, 1)))
        return rc;
    const cJSON *l;
    cJSON_ArrayForEach(l, lines)
    {
        struct pe_sale_line sl = {.line = (int32_t)num(l, "line"),
                                  .qty = num(l, "qty"),
                                  .amount = num(l, "amount"),
                                  .tax_bp = (int32_t)num(l, "tax_bp")};
        const char *item = NULL;
        if (pe_json_get_str(l, "item", &item) || strlen(item) >= sizeof sl.item)
            return PE_EINVAL;
        memcpy(sl.item, item, strlen(item) + 1);
        /* A training sale's lines can be returned in training mode; its stock never moves. */
        if ((rc = pe_journal_sale_line_add(j, seq, &sl)) ||
            (!training && (rc = pe_journal_stock_add(j, item, -sl.qty, NULL))))
            return rc;
    }
    return PE_OK;
}

static int refund(struct pe_journal *j, const cJSON *b)
{
    const cJSON *tot = cJSON_GetObjectItemCaseSensitive(b, "totals");
    const cJSON *refunds = cJSON_GetObjectItemCaseSensitive(b, "refunds");
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(b, "lines");
    int64_t orig = num(cJSON_GetObjectItemCaseSensitive(b, "original"), "seq");
    if (!cJSON_IsObject(tot) || !cJSON_IsArray(refunds) || !cJSON_IsArray(lines) || orig < 1)
        return PE_EINVAL;
    int64_t total = num(tot, "total"), cash = paid_by(refunds, "cash");
    bool training = pe_totals_training(b);
    int rc;
    if (training)
        rc = add(j, "p.training.count", 1);
    else if ((rc = add(j, "p.returns.count", 1)) || (rc = add(j, "p.returns.amount", total)) ||
        (rc = add(j, "p.tender.cash", -cash)) ||
        (rc = add(j, "p.tender.card", -paid_by(refunds, "card"))) ||
        (rc = add(j, "g.returns", total)) || (rc = add(j, "shift.cash", -cash)) ||
        (rc = tax(j, b, -1)))
        return rc;
    const cJSON *l;
    cJSON_ArrayForEach(l, lines)
    {
        const char *item = NULL;
        if (pe_json_get_str(l, "item", &item))
            return PE_EINVAL;
        /* The journal refuses a return beyond what remains of the sold line. */
        if ((rc = pe_journal_sale_line_return(j, orig, (int32_t)num(l, "orig_line"),
                                              num(l, "qty"))) ||
            (!training && (rc = pe_journal_stock_add(j, item, num(l, "qty"), NULL))))
            return rc;
    }
    return PE_OK;
}

static int inventory(struct pe_journal *j, enum pe_event_type type, const cJSON *b)
{
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(b, "lines"))
    {
        const char *item = NULL;
        if (pe_json_get_str(l, "item", &item))
            return PE_EINVAL;
        int rc = type == PE_EV_INVENTORY_COUNT
                     ? pe_journal_stock_set(j, item, num(l, "counted"), NULL)
                     : pe_journal_stock_add(j, item, num(l, "qty"), NULL);
        if (rc)
            return rc;
    }
    return PE_OK;
}

/* Add a Z report's figures to the open month's (p "m.") or year's ("y.") sums (report.h). */
static int closing_add(struct pe_journal *j, const char *p, int64_t seq, const cJSON *z)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(z, "sales");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(z, "returns");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(z, "voids");
    const struct {
        const char *name;
        int64_t delta;
    } sums[] = {
        {"z.count", 1},
        {"sales.count", num(s, "count")},
        {"sales.gross", num(s, "gross")},
        {"returns.count", num(r, "count")},
        {"returns.amount", num(r, "amount")},
        {"voids.count", num(v, "count")},
        {"voids.amount", num(v, "amount")},
    };
    char name[32];
    int64_t first = 0;
    snprintf(name, sizeof name, "%sfirst_seq", p);
    int rc = pe_journal_counter_get(j, name, &first);
    if (!rc && !first)
        rc = pe_journal_counter_set(
            j, name, num(cJSON_GetObjectItemCaseSensitive(z, "period"), "first_seq"));
    for (size_t i = 0; !rc && i < sizeof sums / sizeof sums[0]; i++) {
        snprintf(name, sizeof name, "%s%s", p, sums[i].name);
        rc = add(j, name, sums[i].delta);
    }
    if (!rc) {
        snprintf(name, sizeof name, "%slast_seq", p);
        rc = pe_journal_counter_set(j, name, seq);
    }
    if (!rc) {
        snprintf(name, sizeof name, "%sperpetual", p);
        rc = pe_journal_counter_set(j, name, num(z, "grand_total"));
    }
    return rc;
}

int pe_ledger_apply(struct pe_journal *j, enum pe_event_type type, int64_t seq, const cJSON *body)
{
    if (!cJSON_IsObject(body))
        return PE_EINVAL;
    int rc;
    if (type != PE_EV_Z_REPORT) {
        /* The period starts with its first event after a Z report. */
        int64_t first = 0;
        if ((rc = pe_journal_counter_get(j, "p.first_seq", &first)))
            return rc;
        if (!first && (rc = pe_journal_counter_set(j, "p.first_seq", seq)))
            return rc;
    }
    switch (type) {
    case PE_EV_SALE:
        return sale(j, seq, body);
    case PE_EV_RETURN:
        return refund(j, body);
    case PE_EV_VOID:
        if (pe_totals_training(body))
            return add(j, "p.training.count", 1);
        rc = add(j, "p.voids.count", 1);
        return rc ? rc : add(j, "p.voids.amount", num(body, "amount"));
    case PE_EV_NO_SALE:
        return add(j, "p.nosale.count", 1);
    case PE_EV_SHIFT_OPEN:
        rc = pe_journal_counter_set(j, "shift.open", 1);
        return rc ? rc : pe_journal_counter_set(j, "shift.cash", num(body, "float"));
    case PE_EV_SHIFT_CLOSE:
        rc = pe_journal_counter_set(j, "shift.open", 0);
        return rc ? rc : pe_journal_counter_set(j, "shift.cash", 0);
    case PE_EV_X_REPORT:
        return pe_journal_counter_set(j, "p.x.count", num(body, "number"));
    case PE_EV_Z_REPORT:
        /* A Z report closes the period: its totals are in the event; the period counters
         * start again from zero, the Z number and the grand totals carry on. */
        rc = pe_journal_counter_set(j, "z.number", num(body, "number"));
        if (!rc && !(rc = closing_add(j, "m.", seq, body)))
            rc = closing_add(j, "y.", seq, body);
        return rc ? rc : pe_journal_counters_reset(j, "p.");
    case PE_EV_MONTH_CLOSE:
    case PE_EV_YEAR_CLOSE: {
        /* The closing's figures are in the event; the month's (year's) sums start again. */
        bool m = type == PE_EV_MONTH_CLOSE;
        rc = pe_journal_counter_set(j, m ? "close.month.number" : "close.year.number",
                                    num(body, "number"));
        return rc ? rc : pe_journal_counters_reset(j, m ? "m." : "y.");
    }
    case PE_EV_INVENTORY_RECEIPT:
    case PE_EV_INVENTORY_ADJUST:
    case PE_EV_INVENTORY_COUNT:
        return inventory(j, type, body);
    case PE_EV_CATALOG_APPLIED:
        /* The catalog's rows are not in the body (they are the journal's catalog tables, which
         * the same transaction replaced); what the body says is the version in force. */
        return pe_journal_counter_set(j, "catalog.version", num(body, "version"));
    case PE_EV_SIGNER_INSTALLED:
    case PE_EV_SIGNER_DOWN:
    case PE_EV_SIGNER_UP:
        /* A key put in use, or an outage of the signer: no stock or counter changes (the
         * journal reads what it needs from the events themselves when it verifies). */
        return PE_OK;
    case PE_EV__COUNT:
        break;
    }
    return PE_EINVAL;
}
