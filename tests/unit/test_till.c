/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_till.c - the till state machine against a real journal and the fake devices: every
 * transition, every refusal (which must leave the journal untouched), the money it records,
 * the stock it moves, the reports it closes, and what happens when a commit fails.
 *
 * The catalog in force (till.h): version 0 is the catalog file; a new version is applied only
 * between baskets and journaled as catalog_applied; lines carry the catalog version and the
 * price source; the price in force follows the till's clock to the millisecond; promotions are
 * on the event and the receipt; returns take back what the sale charged whatever the catalog
 * says now; a bad document, a delta on the wrong base, a content hash that does not match and
 * a barcode taken twice all leave the old catalog in force; and an I/O failure at every write of
 * an apply leaves the old catalog or the new one, never a mix.
 *
 * Signer down (signer.h): a sale made while the signer fails is committed after a signer_down,
 * unsigned, and its receipt says so; the signer is tried again no more often than the setting
 * says; the state's alarm rises after the configured time by the till's clock and clears when
 * the signed collective (signer_up) closes the outage; the journal verifies.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/till.h"
#include "hal/fake/fake.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/faultvfs.h"
#include "posedge/json.h"
#include "posedge/ledger.h"
#include "posedge/report.h"
#include "tests/unit/harness.h"

struct fx {
    struct pe_journal *j;
    struct pe_catalog *cat;
    struct pe_rng *rng;
    struct pe_printer *printer;
    struct pe_display *display;
    struct pe_payment *payment;
    struct pe_till *till;
    struct pe_signer *signer; /* NULL: events unsigned (most tests) */
    int64_t clock;
    const struct pe_item *counted, *counted2, *weighed;
};

static struct fx F;

static int64_t fx_now(void *ctx)
{
    (void)ctx;
    return F.clock += 1000;
}

static void fx_open_till(void)
{
    struct till_deps d = {
        .journal = F.j,
        .catalog = F.cat,
        .rng = F.rng,
        .printer = F.printer,
        .display = F.display,
        .payment = F.payment,
        .signer = F.signer,
        .store = "s001",
        .terminal = "t01",
        .currency = "EUR",
        .title = "test shop",
        .now = fx_now,
    };
    CHECK_OK(till_create(&d, &F.till));
}

static void fx_open_journal(const char *vfs)
{
    char err[512];
    struct pe_journal_opts o = {.store = "s001", .terminal = "t01", .check = true, .vfs = vfs};
    int rc = pe_journal_open(pe_test_path(0, "journal.db"), &o, &F.j, err, sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "journal open: %s", err);
}

static void fx_setup_vfs(const char *vfs)
{
    char err[512], path[512];
    memset(&F, 0, sizeof F);
    F.clock = 1795000000000LL;
    snprintf(path, sizeof path, "%s/boards/sim/catalog.json", pe_test_srcdir());
    int rc = pe_catalog_load(path, &F.cat, err, sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "catalog: %s", err);
    for (size_t i = 0; i < pe_catalog_count(F.cat); i++) {
        const struct pe_item *it = pe_catalog_at(F.cat, i);
        if (it->weighed && !F.weighed)
            F.weighed = it;
        else if (!it->weighed && !F.counted)
            F.counted = it;
        else if (!it->weighed && !F.counted2 && it->tax_bp != F.counted->tax_bp)
            F.counted2 = it;
    }
    CHECK(F.counted && F.counted2 && F.weighed);
    fx_open_journal(vfs);
    CHECK_OK(pe_rng_create("test", &F.rng));
    struct pe_hal_devcfg dc = {"fake", "", pe_test_tmpdir()};
    CHECK_OK(pe_printer_open(pe_hal_printer_driver("fake"), &dc, &F.printer));
    CHECK_OK(pe_display_open(pe_hal_display_driver("fake"), &dc, &F.display));
    CHECK_OK(pe_payment_open(pe_hal_payment_driver("fake"), &dc, &F.payment));
    fx_open_till();
}

static void fx_setup(void)
{
    fx_setup_vfs(NULL);
}

static void key(enum pe_key_kind kind, int64_t amount, int32_t flags)
{
    struct pe_key_input k = {.kind = kind, .amount = amount, .flags = flags};
    till_on_key(F.till, &k);
}

static void key_text(enum pe_key_kind kind, const char *text)
{
    struct pe_key_input k = {.kind = kind};
    snprintf(k.text, sizeof k.text, "%s", text);
    till_on_key(F.till, &k);
}

static void open_for_trade(void)
{
    key_text(PE_KEY_LOGIN, "op01");
    key(PE_KEY_SHIFT_OPEN, 10000, 0);
    CHECK_STR(till_display_line1(F.till), "Shift open");
}

/* Deliver the fake terminal's answer to the till, as the daemon's loop would. */
static void pay_result(void)
{
    struct pe_pay_result r;
    CHECK_OK(pe_payment_read(F.payment, &r));
    till_on_payment(F.till, &r);
}

static int64_t last_seq(void)
{
    int64_t s = 0;
    CHECK_OK(pe_journal_last(F.j, &s, NULL, NULL));
    return s;
}

/* The body of the event at seq (caller deletes the returned record). */
static cJSON *event_at(int64_t seq, const cJSON **body, const char **type)
{
    char *rec = NULL;
    size_t len = 0;
    cJSON *p = NULL;
    CHECK_OK(pe_journal_get(F.j, seq, &rec, &len));
    CHECK_OK(pe_json_parse(rec, len, &p, NULL, 0));
    free(rec);
    *body = cJSON_GetObjectItemCaseSensitive(p, "body");
    CHECK_OK(pe_json_get_str(p, "type", type));
    return p;
}

static int64_t iget(const cJSON *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    char *save = NULL;
    char *last = NULL;
    for (char *tok = strtok_r(buf, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
        if (last)
            cur = cJSON_GetObjectItemCaseSensitive(cur, last);
        last = tok;
    }
    int64_t v = 0;
    if (pe_json_get_int(cur, last, &v))
        pe_test_fail(__FILE__, __LINE__, "no integer at %s", path);
    return v;
}

static int64_t counter(const char *name)
{
    int64_t v = 0;
    CHECK_OK(pe_journal_counter_get(F.j, name, &v));
    return v;
}

static int64_t stock(const struct pe_item *it)
{
    int64_t v = 0;
    CHECK_OK(pe_journal_stock_get(F.j, it->id, &v));
    return v;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return calloc(1, 1);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = calloc(1, (size_t)n + 1);
    CHECK(fread(s, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    return s;
}

static int count_substr(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void t_sale_cash_commits_then_prints(void)
{
    fx_setup();
    open_for_trade();
    int64_t s0 = stock(F.counted);
    struct pe_key_input q = {.kind = PE_KEY_QTY, .qty = 2};
    till_on_key(F.till, &q);
    till_on_scan(F.till, F.counted->barcode);
    till_on_scan(F.till, F.counted2->barcode);
    CHECK_INT(till_state(F.till), TILL_BASKET);
    CHECK_INT(last_seq(), 1); /* nothing journaled while the basket is open */
    key(PE_KEY_SUBTOTAL, 0, 0);
    CHECK_INT(till_state(F.till), TILL_TENDER);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_NEXT_NOTE);
    CHECK_INT(till_state(F.till), TILL_IDLE);
    CHECK_INT(last_seq(), 2);
    const cJSON *b;
    const char *type;
    cJSON *rec = event_at(2, &b, &type);
    CHECK_STR(type, "sale");
    int64_t total = 2 * F.counted->price + F.counted2->price;
    CHECK_INT(iget(b, "totals.total"), total);
    CHECK_INT(iget(b, "totals.tendered") - iget(b, "totals.change"), total);
    CHECK(iget(b, "totals.change") >= 0);
    /* Tax per rate adds up to the tax total, and gross per rate to the total. */
    int64_t tax = 0, gross = 0;
    const cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(b, "tax"))
    {
        tax += iget(r, "tax");
        gross += iget(r, "gross");
    }
    CHECK_INT(tax, iget(b, "totals.tax"));
    CHECK_INT(gross, total);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(b, "tax")), 2);
    cJSON_Delete(rec);
    CHECK_INT(stock(F.counted), s0 - 2);
    CHECK_INT(counter("p.sales.count"), 1);
    CHECK_INT(counter("p.sales.gross"), total);
    CHECK_INT(counter("p.tender.cash"), total);
    char *receipts = slurp(pe_test_path(1, "receipts.txt"));
    CHECK(strstr(receipts, "Receipt s001/t01 #2") != NULL);
    CHECK(strstr(receipts, F.counted->name) != NULL);
    free(receipts);
    CHECK_INT(pe_fake_printer_kicks(F.printer), 2); /* shift open float, then the cash sale */
}

static void t_refusals_leave_no_record(void)
{
    fx_setup();
    till_on_scan(F.till, F.counted->barcode);
    CHECK_STR(till_display_line1(F.till), "Log in first");
    key_text(PE_KEY_LOGIN, "op01");
    till_on_scan(F.till, F.counted->barcode);
    CHECK_STR(till_display_line1(F.till), "Open a shift first");
    key(PE_KEY_SHIFT_OPEN, 10000, 0);
    till_on_scan(F.till, "2990000000003");
    CHECK_STR(till_display_line1(F.till), "Unknown item");
    key(PE_KEY_TENDER_CASH, 100, 0);
    CHECK_STR(till_display_line1(F.till), "Nothing to pay");
    till_on_scan(F.till, F.counted->barcode);
    key(PE_KEY_TENDER_CASH, F.counted->price - 1, 0);
    CHECK_STR(till_display_line1(F.till), "Tender short of total");
    key(PE_KEY_Z_REPORT, 0, 0);
    CHECK_STR(till_display_line1(F.till), "Finish the open transaction");
    struct pe_key_input rk = {.kind = PE_KEY_RETURN, .ref_seq = 1};
    till_on_key(F.till, &rk);
    CHECK_STR(till_display_line1(F.till), "Finish the open transaction");
    CHECK_INT(last_seq(), 1); /* only the shift_open */
    CHECK(till_stats(F.till)->refusals >= 6);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    CHECK_INT(last_seq(), 2);
}

static void t_weighed_items(void)
{
    fx_setup();
    open_for_trade();
    till_on_scan(F.till, F.weighed->barcode);
    CHECK_STR(till_display_line1(F.till), "Place the item on the scale");
    struct pe_weight w = {.grams = 640, .stable = false};
    till_on_weight(F.till, &w);
    till_on_scan(F.till, F.weighed->barcode);
    CHECK_STR(till_display_line1(F.till), "Scale not settled");
    w.grams = 0;
    w.stable = true;
    till_on_weight(F.till, &w);
    till_on_scan(F.till, F.weighed->barcode);
    CHECK_STR(till_display_line1(F.till), "Place the item on the scale");
    w.grams = 640;
    till_on_weight(F.till, &w);
    till_on_scan(F.till, F.weighed->barcode);
    CHECK_STR(till_display_line1(F.till), F.weighed->name);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    const cJSON *b;
    const char *type;
    cJSON *rec = event_at(2, &b, &type);
    const cJSON *l = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(b, "lines"), 0);
    CHECK_INT(iget(l, "qty"), 640);
    CHECK_INT(iget(l, "amount"), (F.weighed->price * 640 + 500) / 1000);
    const char *unit = NULL;
    CHECK_OK(pe_json_get_str(l, "unit", &unit));
    CHECK_STR(unit, "g");
    cJSON_Delete(rec);
    CHECK_INT(stock(F.weighed), -640);
}

static void t_card_decline_then_cash_no_pan_stored(void)
{
    fx_setup();
    open_for_trade();
    till_on_scan(F.till, F.counted->barcode);
    CHECK_OK(pe_fake_payment_present(F.payment, "4111111111111111", true, "insufficient funds"));
    key(PE_KEY_TENDER_CARD, 0, 0);
    CHECK(till_awaiting_payment(F.till));
    key(PE_KEY_CANCEL, 0, 0);
    CHECK_STR(till_display_line1(F.till), "Card payment in progress");
    pay_result();
    CHECK_STR(till_display_line1(F.till), "Card declined");
    CHECK_INT(last_seq(), 1);
    CHECK_OK(pe_fake_payment_present(F.payment, "5500000000000004", false, NULL));
    key(PE_KEY_TENDER_CARD, 0, 0);
    pay_result();
    CHECK_INT(last_seq(), 2);
    const cJSON *b;
    const char *type;
    cJSON *rec = event_at(2, &b, &type);
    const cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(b, "tenders"), 0);
    const char *last4 = NULL, *method = NULL;
    CHECK_OK(pe_json_get_str(t, "last4", &last4));
    CHECK_OK(pe_json_get_str(t, "method", &method));
    CHECK_STR(last4, "0004");
    CHECK_STR(method, "card");
    CHECK_INT(iget(t, "amount"), F.counted->price);
    cJSON_Delete(rec);
    pe_journal_close(F.j);
    F.j = NULL;
    /* Neither PAN may appear anywhere in the journal files. */
    char *db = slurp(pe_test_path(1, "journal.db"));
    char *wal = slurp(pe_test_path(2, "journal.db-wal"));
    CHECK(!strstr(db, "4111111111111111") && !strstr(db, "5500000000000004"));
    CHECK(!strstr(wal, "4111111111111111") && !strstr(wal, "5500000000000004"));
    free(db);
    free(wal);
}

static void t_split_tender(void)
{
    fx_setup();
    open_for_trade();
    till_on_scan(F.till, F.counted->barcode);
    till_on_scan(F.till, F.counted2->barcode);
    int64_t total = F.counted->price + F.counted2->price;
    CHECK_OK(pe_fake_payment_present(F.payment, "4111111111111111", false, NULL));
    struct pe_key_input k = {
        .kind = PE_KEY_TENDER_CARD, .amount = total / 2, .flags = PE_KEYF_SPLIT};
    till_on_key(F.till, &k);
    pay_result();
    CHECK_INT(till_state(F.till), TILL_TENDER);
    CHECK_INT(last_seq(), 1);
    key(PE_KEY_TENDER_CASH, 100, PE_KEYF_SPLIT); /* a partial cash tender is fine with SPLIT */
    CHECK_INT(last_seq(), 1);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_NEXT_NOTE);
    CHECK_INT(last_seq(), 2);
    CHECK_INT(counter("p.tender.card"), total / 2);
    CHECK_INT(counter("p.tender.cash"), total - total / 2);
}

/* Sell two of an item, then return them: over-returns and unknown sales are refused. */
static void t_returns(void)
{
    fx_setup();
    open_for_trade();
    int64_t s0 = stock(F.counted);
    struct pe_key_input q = {.kind = PE_KEY_QTY, .qty = 2};
    till_on_key(F.till, &q);
    till_on_scan(F.till, F.counted->barcode);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    CHECK_INT(last_seq(), 2);
    struct pe_key_input rk = {.kind = PE_KEY_RETURN, .ref_seq = 99};
    till_on_key(F.till, &rk);
    CHECK_STR(till_display_line1(F.till), "Unknown sale");
    rk.ref_seq = 1; /* seq 1 is the shift_open: not a sale */
    till_on_key(F.till, &rk);
    CHECK_STR(till_display_line1(F.till), "Unknown sale");
    rk.ref_seq = 2;
    till_on_key(F.till, &rk);
    CHECK_INT(till_state(F.till), TILL_BASKET);
    till_on_scan(F.till, F.counted2->barcode);
    CHECK_STR(till_display_line1(F.till), "Item not on that receipt");
    q.qty = 3;
    till_on_key(F.till, &q);
    till_on_scan(F.till, F.counted->barcode);
    CHECK_STR(till_display_line1(F.till), "Return exceeds quantity sold");
    till_on_scan(F.till, F.counted->barcode);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    CHECK_INT(last_seq(), 3);
    const cJSON *b;
    const char *type;
    cJSON *rec = event_at(3, &b, &type);
    CHECK_STR(type, "return");
    CHECK_INT(iget(b, "original.seq"), 2);
    CHECK_INT(iget(b, "totals.total"), F.counted->price);
    cJSON_Delete(rec);
    CHECK_INT(stock(F.counted), s0 - 1);
    /* One unit is left to return; two more are refused, one is accepted. */
    rk.ref_seq = 2;
    till_on_key(F.till, &rk);
    q.qty = 2;
    till_on_key(F.till, &q);
    till_on_scan(F.till, F.counted->barcode);
    CHECK_STR(till_display_line1(F.till), "Return exceeds quantity sold");
    till_on_scan(F.till, F.counted->barcode);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    CHECK_INT(last_seq(), 4);
    CHECK_INT(counter("p.returns.count"), 2);
    CHECK_INT(counter("p.returns.amount"), 2 * F.counted->price);
    CHECK_INT(counter("p.tender.cash"), 0);
    CHECK_INT(stock(F.counted), s0);
}

static void t_void_and_no_sale(void)
{
    fx_setup();
    open_for_trade();
    int64_t s0 = stock(F.counted);
    till_on_scan(F.till, F.counted->barcode);
    till_on_scan(F.till, F.counted->barcode);
    struct pe_key_input lv = {.kind = PE_KEY_LINE_VOID, .line = 2};
    till_on_key(F.till, &lv);
    CHECK_STR(till_display_line1(F.till), "Line voided");
    till_on_key(F.till, &lv);
    CHECK_STR(till_display_line1(F.till), "No such line");
    key(PE_KEY_CANCEL, 0, 0);
    CHECK_INT(last_seq(), 2);
    const cJSON *b;
    const char *type;
    cJSON *rec = event_at(2, &b, &type);
    CHECK_STR(type, "void");
    CHECK_INT(iget(b, "amount"), F.counted->price);
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(b, "lines")), 1);
    cJSON_Delete(rec);
    CHECK_INT(stock(F.counted), s0);
    key(PE_KEY_CANCEL, 0, 0); /* nothing open: no event */
    CHECK_INT(last_seq(), 2);
    int64_t kicks = pe_fake_printer_kicks(F.printer);
    key_text(PE_KEY_NO_SALE, "change for float");
    CHECK_INT(last_seq(), 3);
    CHECK_INT(pe_fake_printer_kicks(F.printer), kicks + 1);
    CHECK_INT(counter("p.voids.count"), 1);
    CHECK_INT(counter("p.nosale.count"), 1);
}

static void t_discounts(void)
{
    fx_setup();
    open_for_trade();
    till_on_scan(F.till, F.counted->barcode);
    till_on_scan(F.till, F.counted2->barcode);
    struct pe_key_input d = {.kind = PE_KEY_DISCOUNT, .line = 1, .percent_bp = 1000};
    till_on_key(F.till, &d);
    struct pe_key_input bd = {.kind = PE_KEY_DISCOUNT, .line = 0, .amount = 101};
    till_on_key(F.till, &bd);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    const cJSON *b;
    const char *type;
    cJSON *rec = event_at(2, &b, &type);
    int64_t l1 = F.counted->price - (F.counted->price * 1000 + 5000) / 10000;
    int64_t expect = l1 + F.counted2->price - 101;
    CHECK_INT(iget(b, "totals.total"), expect);
    int64_t sum = 0, disc = 0;
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(b, "lines"))
    {
        sum += iget(l, "amount");
        disc += iget(l, "discount");
    }
    CHECK_INT(sum, expect); /* the basket discount is spread cent for cent */
    CHECK_INT(disc, iget(b, "totals.discount"));
    cJSON_Delete(rec);
}

static void t_x_and_z_reports(void)
{
    fx_setup();
    open_for_trade();
    till_on_scan(F.till, F.counted->barcode);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    key(PE_KEY_X_REPORT, 0, 0);
    CHECK_INT(last_seq(), 3);
    key(PE_KEY_Z_REPORT, 0, 0);
    CHECK_STR(till_display_line1(F.till), "Close the shift first");
    key(PE_KEY_SHIFT_CLOSE, 10000 + F.counted->price, 0);
    key(PE_KEY_Z_REPORT, 0, 0);
    CHECK_INT(last_seq(), 5);
    const cJSON *b;
    const char *type;
    cJSON *rec = event_at(5, &b, &type);
    CHECK_STR(type, "z_report");
    CHECK_INT(iget(b, "number"), 1);
    CHECK_INT(iget(b, "sales.count"), 1);
    CHECK_INT(iget(b, "sales.gross"), F.counted->price);
    CHECK_INT(iget(b, "tenders.cash"), F.counted->price);
    CHECK_INT(iget(b, "period.first_seq"), 1);
    CHECK_INT(iget(b, "period.last_seq"), 4);
    CHECK_INT(iget(b, "grand_total"), F.counted->price);
    cJSON_Delete(rec);
    rec = event_at(4, &b, &type);
    CHECK_STR(type, "shift_close");
    CHECK_INT(iget(b, "variance"), 0);
    cJSON_Delete(rec);
    CHECK_INT(counter("p.sales.count"), 0); /* the period is closed */
    CHECK_INT(counter("z.number"), 1);
    key(PE_KEY_Z_REPORT, 0, 0);
    rec = event_at(6, &b, &type);
    CHECK_INT(iget(b, "number"), 2); /* never resets */
    CHECK_INT(iget(b, "sales.count"), 0);
    CHECK_INT(iget(b, "grand_total"), F.counted->price);
    CHECK_INT(iget(b, "period.first_seq"), 6);
    cJSON_Delete(rec);
}

static void t_inventory(void)
{
    fx_setup();
    key_text(PE_KEY_LOGIN, "op01");
    struct pe_key_input k = {.kind = PE_KEY_INV_RECEIPT, .nlines = 2};
    snprintf(k.text, sizeof k.text, "PO-1");
    snprintf(k.lines[0].code, sizeof k.lines[0].code, "%s", F.counted->barcode);
    k.lines[0].qty = 24;
    snprintf(k.lines[1].code, sizeof k.lines[1].code, "%s", F.counted2->id);
    k.lines[1].qty = 6;
    till_on_key(F.till, &k);
    CHECK_INT(last_seq(), 1);
    CHECK_INT(stock(F.counted), 24);
    CHECK_INT(stock(F.counted2), 6);
    struct pe_key_input a = {.kind = PE_KEY_INV_ADJUST, .nlines = 1};
    snprintf(a.text, sizeof a.text, "damage");
    snprintf(a.lines[0].code, sizeof a.lines[0].code, "%s", F.counted->barcode);
    a.lines[0].qty = -3;
    till_on_key(F.till, &a);
    CHECK_INT(stock(F.counted), 21);
    a.lines[0].qty = 0;
    till_on_key(F.till, &a);
    CHECK_STR(till_display_line1(F.till), "Bad quantity");
    snprintf(a.lines[0].code, sizeof a.lines[0].code, "0000000000000");
    a.lines[0].qty = 1;
    till_on_key(F.till, &a);
    CHECK_STR(till_display_line1(F.till), "Unknown item");
    struct pe_key_input c = {.kind = PE_KEY_INV_COUNT, .nlines = 1};
    snprintf(c.lines[0].code, sizeof c.lines[0].code, "%s", F.counted->barcode);
    c.lines[0].qty = 19;
    till_on_key(F.till, &c);
    CHECK_INT(stock(F.counted), 19);
    CHECK_INT(last_seq(), 3);
    const cJSON *b;
    const char *type;
    cJSON *rec = event_at(3, &b, &type);
    CHECK_STR(type, "inventory_count");
    const cJSON *l = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(b, "lines"), 0);
    CHECK_INT(iget(l, "previous"), 21);
    CHECK_INT(iget(l, "variance"), -2);
    cJSON_Delete(rec);
}

/* A commit that fails (disk full) prints nothing and keeps the basket; TOTAL retries it. */
static void t_commit_failure_keeps_basket(void)
{
    CHECK_OK(pe_faultvfs_register());
    fx_setup_vfs("pe-fault");
    open_for_trade();
    till_on_scan(F.till, F.counted->barcode);
    char *before = slurp(pe_test_path(1, "receipts.txt"));
    int64_t kicks = pe_fake_printer_kicks(F.printer);
    pe_faultvfs_arm(PE_FAULT_ANY, 1, PE_EFULL, true);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    CHECK(pe_faultvfs_failures() > 0);
    CHECK_STR(till_display_line1(F.till), "Journal full: not recorded");
    CHECK(till_basket_open(F.till));
    CHECK_INT(till_stats(F.till)->commit_failures, 1);
    char *after = slurp(pe_test_path(1, "receipts.txt"));
    CHECK_STR(after, before); /* nothing printed */
    CHECK_INT(pe_fake_printer_kicks(F.printer), kicks);
    free(after);
    key(PE_KEY_SUBTOTAL, 0, 0); /* still full: refused again */
    CHECK_INT(till_stats(F.till)->commit_failures, 2);
    pe_faultvfs_disarm();
    CHECK_INT(last_seq(), 1);
    key(PE_KEY_SUBTOTAL, 0, 0);
    CHECK(!till_basket_open(F.till));
    CHECK_INT(last_seq(), 2);
    after = slurp(pe_test_path(1, "receipts.txt"));
    CHECK_INT(count_substr(after, "Receipt s001/t01 #2"), 1);
    free(after);
    free(before);
    struct pe_journal_verify_result res;
    CHECK_OK(pe_journal_verify(F.j, &res));
    CHECK_INT(res.count, 2);
}

static void t_park_and_resume(void)
{
    fx_setup();
    open_for_trade();
    till_on_scan(F.till, F.counted->barcode);
    till_on_scan(F.till, F.counted2->barcode);
    CHECK_OK(till_park(F.till));
    till_destroy(F.till);
    fx_open_till();
    CHECK_INT(till_state(F.till), TILL_BASKET);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    CHECK_INT(last_seq(), 2);
    CHECK_INT(counter("p.sales.gross"), F.counted->price + F.counted2->price);
    till_destroy(F.till);
    fx_open_till(); /* nothing parked any more */
    CHECK_INT(till_state(F.till), TILL_IDLE);
}

static void t_shift_survives_restart(void)
{
    fx_setup();
    open_for_trade();
    till_destroy(F.till);
    fx_open_till();
    key_text(PE_KEY_LOGIN, "op02");
    key(PE_KEY_SHIFT_OPEN, 10000, 0);
    CHECK_STR(till_display_line1(F.till), "Shift already open");
    till_on_scan(F.till, F.counted->barcode);
    CHECK_INT(till_state(F.till), TILL_BASKET);
}

struct dump {
    char text[8192];
    size_t len;
};

static int dump_counter(const char *name, int64_t value, void *ctx)
{
    struct dump *d = ctx;
    d->len += (size_t)snprintf(d->text + d->len, sizeof d->text - d->len, "%s=%lld\n", name,
                               (long long)value);
    return d->len >= sizeof d->text;
}

/* Stock and counters after replaying the journal's events equal those the till left: the
 * ledger derives everything from the event bodies (the basis of posedge-ctl recover). */
static void t_replay_rebuilds_state(void)
{
    fx_setup();
    open_for_trade();
    struct pe_key_input q = {.kind = PE_KEY_QTY, .qty = 3};
    till_on_key(F.till, &q);
    till_on_scan(F.till, F.counted->barcode);
    struct pe_weight w = {.grams = 812, .stable = true};
    till_on_weight(F.till, &w);
    till_on_scan(F.till, F.weighed->barcode);
    CHECK_OK(pe_fake_payment_present(F.payment, "4111111111111111", false, NULL));
    struct pe_key_input card = {.kind = PE_KEY_TENDER_CARD, .amount = 500, .flags = PE_KEYF_SPLIT};
    till_on_key(F.till, &card);
    pay_result();
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_NEXT_NOTE);
    struct pe_key_input rk = {.kind = PE_KEY_RETURN, .ref_seq = 2};
    till_on_key(F.till, &rk);
    till_on_scan(F.till, F.counted->barcode);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    till_on_scan(F.till, F.counted2->barcode);
    key(PE_KEY_CANCEL, 0, 0);
    key_text(PE_KEY_NO_SALE, "float");
    struct pe_key_input c = {.kind = PE_KEY_INV_COUNT, .nlines = 1};
    snprintf(c.lines[0].code, sizeof c.lines[0].code, "%s", F.counted2->barcode);
    c.lines[0].qty = 7;
    till_on_key(F.till, &c);
    key(PE_KEY_X_REPORT, 0, 0);
    key(PE_KEY_SHIFT_CLOSE, 5000, 0);
    key(PE_KEY_Z_REPORT, 0, 0);
    key(PE_KEY_SHIFT_OPEN, 3000, 0);
    till_on_scan(F.till, F.counted2->barcode);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    CHECK_INT(last_seq(), 11);

    char err[256];
    struct pe_journal *r;
    struct pe_journal_opts o = {.store = "s001", .terminal = "t01"};
    CHECK_OK(pe_journal_open(pe_test_path(2, "replay.db"), &o, &r, err, sizeof err));
    CHECK_OK(pe_journal_begin(r));
    for (int64_t seq = 1; seq <= 11; seq++) {
        char *rec;
        size_t len;
        cJSON *p;
        const char *type = NULL;
        enum pe_event_type et;
        CHECK_OK(pe_journal_get(F.j, seq, &rec, &len));
        CHECK_OK(pe_journal_import(r, rec, len, NULL));
        CHECK_OK(pe_json_parse(rec, len, &p, NULL, 0));
        CHECK_OK(pe_json_get_str(p, "type", &type));
        CHECK_OK(pe_event_type_parse(type, &et));
        CHECK_OK(pe_ledger_apply(r, et, seq, cJSON_GetObjectItemCaseSensitive(p, "body")));
        cJSON_Delete(p);
        /* A record that does not chain onto the tail is refused. */
        if (seq == 5)
            CHECK_INT(pe_journal_import(r, rec, len, NULL), PE_ECHAIN);
        free(rec);
    }
    CHECK_OK(pe_journal_commit(r));
    static struct dump live, replay;
    CHECK_OK(pe_journal_counters_each(F.j, "", dump_counter, &live));
    CHECK_OK(pe_journal_counters_each(r, "", dump_counter, &replay));
    CHECK(live.len > 100);
    CHECK_STR(replay.text, live.text);
    const struct pe_item *items[] = {F.counted, F.counted2, F.weighed};
    for (int i = 0; i < 3; i++) {
        int64_t a = 0, b = 0;
        CHECK_OK(pe_journal_stock_get(F.j, items[i]->id, &a));
        CHECK_OK(pe_journal_stock_get(r, items[i]->id, &b));
        CHECK_INT(b, a);
    }
    struct pe_sale_line l1[4], l2[4];
    int n1 = 0, n2 = 0;
    CHECK_OK(pe_journal_sale_lines(F.j, 2, l1, 4, &n1));
    CHECK_OK(pe_journal_sale_lines(r, 2, l2, 4, &n2));
    CHECK_INT(n2, n1);
    CHECK_INT(l2[0].returned, 1);
    CHECK_INT(l2[0].returned, l1[0].returned);
    pe_journal_close(r);
}

/* Reports asked for over the fleet channel: busy while a basket is open, a Z refused while a
 * shift is open, the command's operator on the event, the till's login untouched. */
static void t_remote_reports(void)
{
    fx_setup();
    open_for_trade();
    char why[300];
    int64_t seq = 0, number = 0, before = last_seq();
    till_on_scan(F.till, F.counted->barcode);
    CHECK_INT(till_remote_report(F.till, false, "hq", &seq, &number, why, sizeof why), PE_EBUSY);
    CHECK(strstr(why, "transaction is open") != NULL);
    key(PE_KEY_SUBTOTAL, 0, 0);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_NEXT_NOTE);
    before = last_seq();
    CHECK_INT(till_remote_report(F.till, true, "hq", &seq, &number, why, sizeof why), PE_ESTATE);
    CHECK(strstr(why, "shift is open") != NULL);
    CHECK_INT(last_seq(), before);
    CHECK_INT(till_remote_report(F.till, false, "bad id!", &seq, &number, why, sizeof why),
              PE_EINVAL);
    CHECK_OK(till_remote_report(F.till, false, "boss", &seq, &number, why, sizeof why));
    CHECK_INT(seq, before + 1);
    CHECK_INT(number, 1);
    const cJSON *b;
    const char *type;
    cJSON *rec = event_at(seq, &b, &type);
    CHECK_STR(type, "x_report");
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(rec, "operator")->valuestring, "boss");
    cJSON_Delete(rec);
    CHECK_STR(till_operator(F.till), "op01");
    CHECK(till_shift_open(F.till));
    key(PE_KEY_SHIFT_CLOSE, 0, 0);
    CHECK(!till_shift_open(F.till));
    CHECK_OK(till_remote_report(F.till, true, "hq", &seq, &number, why, sizeof why));
    rec = event_at(seq, &b, &type);
    CHECK_STR(type, "z_report");
    CHECK_INT(iget(b, "number"), number);
    CHECK_INT(iget(b, "sales.count"), 1);
    cJSON_Delete(rec);
    CHECK_INT(counter("p.sales.count"), 0); /* the period is closed */
}

/* A reprint is the journal's event, rendered again and marked as a copy; paper out fails it
 * with a reason, and a seq the journal does not have is named. */
static void t_reprint(void)
{
    fx_setup();
    open_for_trade();
    till_on_scan(F.till, F.counted->barcode);
    key(PE_KEY_SUBTOTAL, 0, 0);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_NEXT_NOTE);
    char why[300], type[32];
    int64_t printed = 0;
    CHECK_OK(till_reprint(F.till, 2, &printed, type, why, sizeof why));
    CHECK_INT(printed, 2);
    CHECK_STR(type, "sale");
    char *receipts = slurp(pe_test_path(1, "receipts.txt"));
    CHECK_INT(count_substr(receipts, "Receipt s001/t01 #2"), 2);
    CHECK_INT(count_substr(receipts, "*** COPY - REPRINT ***"), 2);
    free(receipts);
    CHECK_OK(till_reprint(F.till, 0, &printed, type, why, sizeof why));
    CHECK_INT(printed, 2); /* 0: the last event */
    CHECK_INT(till_reprint(F.till, 3, &printed, type, why, sizeof why), PE_ENOTFOUND);
    CHECK(strstr(why, "no event 3") != NULL);
    CHECK_OK(pe_fake_printer_set_fail(F.printer, true));
    int64_t fails = till_stats(F.till)->print_failures;
    CHECK(till_reprint(F.till, 1, &printed, type, why, sizeof why) != PE_OK);
    CHECK(strstr(why, "printer failed") != NULL);
    CHECK_INT(till_stats(F.till)->print_failures, fails + 1);
    CHECK_INT(last_seq(), 2); /* a reprint commits nothing */
}

/* A customer keyed before the basket (for the next one) or during it goes on the sale as
 * customer_id; a bad id, or one keyed at the tender, is refused and changes nothing. */
static void t_customer(void)
{
    fx_setup();
    open_for_trade();
    key_text(PE_KEY_CUSTOMER, "17850");
    till_on_scan(F.till, F.counted->barcode);
    key(PE_KEY_SUBTOTAL, 0, 0);
    key_text(PE_KEY_CUSTOMER, "99");
    CHECK_STR(till_display_line1(F.till), "Customer too late");
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    const cJSON *b;
    const char *type;
    cJSON *rec = event_at(2, &b, &type);
    CHECK_STR(type, "sale");
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(b, "customer_id")->valuestring, "17850");
    cJSON_Delete(rec);
    till_on_scan(F.till, F.counted->barcode);
    key_text(PE_KEY_CUSTOMER, "no spaces allowed");
    CHECK_STR(till_display_line1(F.till), "Bad customer id");
    key_text(PE_KEY_CUSTOMER, "C-42");
    key(PE_KEY_SUBTOTAL, 0, 0);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    rec = event_at(3, &b, &type);
    CHECK_STR(cJSON_GetObjectItemCaseSensitive(b, "customer_id")->valuestring, "C-42");
    cJSON_Delete(rec);
    till_on_scan(F.till, F.counted->barcode);
    key(PE_KEY_SUBTOTAL, 0, 0);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    rec = event_at(4, &b, &type);
    CHECK(cJSON_GetObjectItemCaseSensitive(b, "customer_id") == NULL); /* not carried over */
    cJSON_Delete(rec);
}


/* ---- the catalog in force ---- */

/* A version to apply: chunks (a cJSON array of chunk objects) handed out one copy at a time. */
struct upd {
    cJSON *chunks;
    int calls;
};

static int upd_chunk(void *ctx, size_t i, cJSON **out)
{
    struct upd *u = ctx;
    u->calls++;
    *out = cJSON_Duplicate(cJSON_GetArrayItem(u->chunks, (int)i), 1);
    return *out ? PE_OK : PE_ENOMEM;
}

/* The shipped catalog's items as documents (normal form, sorted by id; caller deletes). */
static cJSON *file_items(void)
{
    cJSON *items = NULL;
    CHECK_OK(pe_catalog_docs(F.cat, &items, NULL));
    return items;
}

static cJSON *item_doc(cJSON *items, const char *id)
{
    cJSON *d;
    cJSON_ArrayForEach(d, items)
    {
        if (strcmp(cJSON_GetObjectItem(d, "id")->valuestring, id) == 0)
            return d;
    }
    pe_test_fail(__FILE__, __LINE__, "no item %s", id);
}

static int64_t ms_of(const char *t)
{
    int64_t v = 0;
    CHECK_OK(pe_time_parse(t, &v));
    return v;
}

/* Give item id of items the price windows given as JSON. */
static void set_prices(cJSON *items, const char *id, const char *prices_json)
{
    cJSON *p = cJSON_Parse(prices_json);
    CHECK(p != NULL);
    cJSON_ReplaceItemInObject(item_doc(items, id), "prices", p);
}

static cJSON *parse_json(const char *text)
{
    cJSON *p = cJSON_Parse(text);
    CHECK(p != NULL);
    return p;
}

/* The content hash of items and promotions (arrays). */
static void hash_of(const cJSON *items, const cJSON *promos, char out[PE_SHA256_HEXLEN])
{
    const cJSON *a[400] = {0}, *b[16] = {0};
    size_t na = 0, nb = 0;
    const cJSON *d;
    CHECK(cJSON_GetArraySize(items) <= 400 && cJSON_GetArraySize(promos) <= 16);
    cJSON_ArrayForEach(d, items) a[na++] = d;
    cJSON_ArrayForEach(d, promos) b[nb++] = d;
    char why[PE_CATALOG_WHY_MAX] = "";
    if (pe_catalog_content_hash(a, na, b, nb, out, why, sizeof why))
        pe_test_fail(__FILE__, __LINE__, "hash: %s", why);
}

/* Apply version as a full transfer of items and promos in chunks of 100 items (the promotions
 * with the last chunk). Returns the till's result; why gets its reason. */
static int apply_full(int64_t version, const cJSON *items, const cJSON *promos, char *why,
                      size_t len)
{
    const cJSON *d0;
    /* Documents the till must refuse have no hash: any will do, it is never reached. */
    char hash[PE_SHA256_HEXLEN] =
        "0000000000000000000000000000000000000000000000000000000000000000";
    const cJSON *a[400] = {0}, *b[16] = {0};
    size_t na = 0, nb = 0;
    CHECK(cJSON_GetArraySize(items) <= 400 && cJSON_GetArraySize(promos) <= 16);
    cJSON_ArrayForEach(d0, items) a[na++] = d0;
    cJSON_ArrayForEach(d0, promos) b[nb++] = d0;
    char w[PE_CATALOG_WHY_MAX];
    pe_catalog_content_hash(a, na, b, nb, hash, w, sizeof w);
    struct upd u = {.chunks = cJSON_CreateArray()};
    cJSON *chunk = NULL;
    int n = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, items)
    {
        if (!chunk || n++ % 100 == 0) {
            chunk = cJSON_CreateObject();
            cJSON_AddItemToObject(chunk, "items", cJSON_CreateArray());
            cJSON_AddItemToArray(u.chunks, chunk);
        }
        cJSON_AddItemToArray(cJSON_GetObjectItem(chunk, "items"), cJSON_Duplicate(d, 1));
    }
    if (!chunk) {
        chunk = cJSON_CreateObject();
        cJSON_AddItemToArray(u.chunks, chunk);
    }
    if (promos)
        cJSON_AddItemToObject(chunk, "promotions", cJSON_Duplicate(promos, 1));
    struct till_catalog_update up = {.version = version,
                                     .full = true,
                                     .hash = hash,
                                     .chunks = (size_t)cJSON_GetArraySize(u.chunks),
                                     .chunk = upd_chunk,
                                     .ctx = &u};
    int rc = till_catalog_apply(F.till, &up, why, len);
    cJSON_Delete(u.chunks);
    return rc;
}

/* The price of the last sale line journaled, and its version and source. */
static void last_line(int64_t seq, int64_t *unit_price, int64_t *version, char source[64])
{
    const cJSON *b;
    const char *type;
    cJSON *rec = event_at(seq, &b, &type);
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(b, "lines");
    const cJSON *l = cJSON_GetArrayItem(lines, cJSON_GetArraySize(lines) - 1);
    *unit_price = iget(l, "unit_price");
    *version = iget(l, "catalog_version");
    const char *src = NULL;
    CHECK_OK(pe_json_get_str(l, "price_source", &src));
    snprintf(source, 64, "%s", src);
    cJSON_Delete(rec);
}

/* Version 0 is the file: stored at the first start, its hash the file's; lines say so. */
static void t_catalog_version0(void)
{
    fx_setup();
    struct pe_journal_catalog c;
    till_catalog(F.till, &c);
    CHECK_INT(c.version, 0);
    CHECK_INT(c.items, (int64_t)pe_catalog_count(F.cat));
    CHECK_INT(c.promotions, 0);
    char h[PE_SHA256_HEXLEN];
    CHECK_OK(pe_catalog_hash(F.cat, h));
    CHECK_STR(c.hash, h);
    CHECK_STR(c.currency, "EUR");
    open_for_trade();
    till_on_scan(F.till, F.counted->barcode);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    int64_t price, version;
    char src[64];
    last_line(last_seq(), &price, &version, src);
    CHECK_INT(price, F.counted->price);
    CHECK_INT(version, 0);
    CHECK_STR(src, "base");
    /* A restart with the same file stores nothing again; the state is as it was. */
    till_destroy(F.till);
    fx_open_till();
    struct pe_journal_catalog c2;
    till_catalog(F.till, &c2);
    CHECK_INT(c2.applied_ms, c.applied_ms);
}

/* A new version waits for the basket to end, then goes in force in one catalog_applied. */
static void t_catalog_apply_between_baskets(void)
{
    fx_setup();
    open_for_trade();
    cJSON *items = file_items();
    set_prices(items, F.counted->id,
               "[{\"price\":777,\"effective_from\":\"2020-01-01T00:00:00.000Z\"}]");
    till_on_scan(F.till, F.counted->barcode);
    char why[256] = "";
    int64_t seq = last_seq();
    CHECK_INT(apply_full(3, items, NULL, why, sizeof why), PE_EBUSY);
    CHECK(strstr(why, "basket is open") != NULL);
    CHECK_INT(last_seq(), seq);
    struct pe_journal_catalog c;
    till_catalog(F.till, &c);
    CHECK_INT(c.version, 0);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT); /* the open basket sells at the old price */
    int64_t price, version;
    char src[64];
    last_line(last_seq(), &price, &version, src);
    CHECK_INT(price, F.counted->price);
    char *before = slurp(pe_test_path(1, "receipts.txt"));
    CHECK_OK(apply_full(3, items, NULL, why, sizeof why));
    char *after = slurp(pe_test_path(1, "receipts.txt"));
    CHECK_STR(after, before); /* nothing printed for it */
    free(before);
    free(after);
    seq = last_seq();
    const cJSON *b;
    const char *type;
    cJSON *rec = event_at(seq, &b, &type);
    CHECK_STR(type, "catalog_applied");
    char h[PE_SHA256_HEXLEN];
    hash_of(items, NULL, h);
    CHECK_INT(iget(b, "version"), 3);
    CHECK_INT(iget(b, "previous"), 0);
    CHECK_INT(iget(b, "items"), (int64_t)pe_catalog_count(F.cat));
    CHECK_INT(iget(b, "promotions"), 0);
    const char *hs = NULL;
    CHECK_OK(pe_json_get_str(b, "hash", &hs));
    CHECK_STR(hs, h);
    cJSON_Delete(rec);
    CHECK_INT(counter("catalog.version"), 3);
    till_catalog(F.till, &c);
    CHECK_INT(c.version, 3);
    CHECK_STR(c.hash, h);
    till_on_scan(F.till, F.counted->barcode);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    last_line(last_seq(), &price, &version, src);
    CHECK_INT(price, 777);
    CHECK_INT(version, 3);
    /* The version survives a restart; the file no longer counts. */
    till_destroy(F.till);
    fx_open_till();
    till_catalog(F.till, &c);
    CHECK_INT(c.version, 3);
    struct pe_journal_verify_result res;
    CHECK_OK(pe_journal_verify(F.j, &res));
    cJSON_Delete(items);
}

/* A change effective at a given minute: the till's clock decides, to the millisecond. */
static void t_catalog_price_at_the_minute(void)
{
    fx_setup();
    open_for_trade();
    cJSON *items = file_items();
    set_prices(items, F.counted->id,
               "[{\"price\":100,\"effective_from\":\"2026-01-01T00:00:00.000Z\","
               "\"effective_to\":\"2026-11-21T06:00:00.000Z\"},{\"price\":90,"
               "\"effective_from\":\"2026-11-21T06:00:00.000Z\",\"effective_to\":null}]");
    char why[256] = "";
    CHECK_OK(apply_full(1, items, NULL, why, sizeof why));
    int64_t change = ms_of("2026-11-21T06:00:00.000Z");
    int64_t price, version;
    char src[64];
    const int64_t want[] = {100, 100, 90, 90};
    const int64_t at[] = {change - 60000, change - 1, change, change + 60000};
    for (int i = 0; i < 4; i++) {
        F.clock = at[i] - 1000; /* the next reading of the clock is at[i] */
        till_on_scan(F.till, F.counted->barcode);
        key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
        last_line(last_seq(), &price, &version, src);
        CHECK_INT(price, want[i]);
        CHECK_INT(version, 1);
    }
    /* An item with no window in force yet is not sold. */
    set_prices(items, F.counted2->id,
               "[{\"price\":5,\"effective_from\":\"2027-01-01T00:00:00.000Z\"}]");
    CHECK_OK(apply_full(2, items, NULL, why, sizeof why));
    int64_t seq = last_seq();
    till_on_scan(F.till, F.counted2->barcode);
    CHECK_STR(till_display_line1(F.till), "No price in force");
    key(PE_KEY_SUBTOTAL, 0, 0);
    CHECK_STR(till_display_line1(F.till), "Basket is empty");
    CHECK_INT(last_seq(), seq);
    cJSON_Delete(items);
}

/* Promotions: on the line's discount, its price source, the event and the receipt. */
static void t_catalog_promotions(void)
{
    fx_setup();
    open_for_trade();
    cJSON *items = file_items();
    set_prices(items, F.counted->id,
               "[{\"price\":200,\"effective_from\":\"2020-01-01T00:00:00.000Z\"}]");
    char promo[512];
    snprintf(promo, sizeof promo,
             "[{\"v\":1,\"id\":\"P-3FOR2\",\"name\":\"3 for 2 deal\",\"kind\":\"n_for_m\","
             "\"target\":{\"item\":\"%s\"},\"n\":3,\"m\":2,\"from\":\"2020-01-01T00:00:00.000Z\"}]",
             F.counted->id);
    cJSON *promos = parse_json(promo);
    char why[256] = "";
    CHECK_OK(apply_full(5, items, promos, why, sizeof why));
    struct pe_journal_catalog c;
    till_catalog(F.till, &c);
    CHECK_INT(c.promotions, 1);
    struct pe_key_input q = {.kind = PE_KEY_QTY, .qty = 3};
    till_on_key(F.till, &q);
    till_on_scan(F.till, F.counted->barcode);
    till_on_scan(F.till, F.counted2->barcode);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    const cJSON *b;
    const char *type;
    cJSON *rec = event_at(last_seq(), &b, &type);
    const cJSON *l0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(b, "lines"), 0);
    const cJSON *l1 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(b, "lines"), 1);
    CHECK_INT(iget(l0, "discount"), 200);
    CHECK_INT(iget(l0, "amount"), 400);
    const char *src = NULL;
    CHECK_OK(pe_json_get_str(l0, "price_source", &src));
    CHECK_STR(src, "promotion:P-3FOR2");
    CHECK_OK(pe_json_get_str(l1, "price_source", &src));
    CHECK_STR(src, "base");
    const cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(b, "promotions"), 0);
    CHECK_OK(pe_json_get_str(p, "name", &src));
    CHECK_STR(src, "3 for 2 deal");
    CHECK_INT(iget(p, "amount"), 200);
    CHECK_INT(iget(b, "totals.total"), 400 + F.counted2->price);
    CHECK_INT(iget(b, "totals.discount"), 200);
    cJSON_Delete(rec);
    char *r = slurp(pe_test_path(1, "receipts.txt"));
    CHECK(strstr(r, "Promotions\n  3 for 2 deal") != NULL);
    CHECK(strstr(r, "-2.00\n") != NULL);
    free(r);
    /* Two of three voided off: the deal goes, the line pays its base price again. */
    q.qty = 3;
    till_on_key(F.till, &q);
    till_on_scan(F.till, F.counted->barcode);
    struct pe_key_input v = {.kind = PE_KEY_LINE_VOID, .line = 1};
    till_on_key(F.till, &v);
    till_on_scan(F.till, F.counted->barcode);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    rec = event_at(last_seq(), &b, &type);
    CHECK_INT(iget(b, "totals.total"), 200);
    CHECK(cJSON_GetObjectItemCaseSensitive(b, "promotions") == NULL);
    cJSON_Delete(rec);
    cJSON_Delete(items);
    cJSON_Delete(promos);
}

/* A return takes back what the sale charged, whatever the catalog says now, and an item the
 * catalog no longer has. */
static void t_catalog_returns_at_charged_price(void)
{
    fx_setup();
    open_for_trade();
    cJSON *items = file_items();
    char promo[512];
    snprintf(promo, sizeof promo,
             "[{\"v\":1,\"id\":\"P-HALF\",\"name\":\"Half price\",\"kind\":\"percent\","
             "\"target\":{\"item\":\"%s\"},\"percent_bp\":5000,"
             "\"from\":\"2020-01-01T00:00:00.000Z\"}]",
             F.counted->id);
    cJSON *promos = parse_json(promo);
    char why[256] = "";
    CHECK_OK(apply_full(1, items, promos, why, sizeof why));
    till_on_scan(F.till, F.counted->barcode);
    till_on_scan(F.till, F.counted2->barcode);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    int64_t sale = last_seq();
    int64_t half = F.counted->price - (F.counted->price + 1) / 2;
    /* Version 2: a new price for the first item, no promotion; the second item delisted. */
    set_prices(items, F.counted->id,
               "[{\"price\":99999,\"effective_from\":\"2020-01-01T00:00:00.000Z\"}]");
    cJSON *gone = NULL;
    int idx = 0;
    cJSON *d;
    cJSON_ArrayForEach(d, items)
    {
        if (strcmp(cJSON_GetObjectItem(d, "id")->valuestring, F.counted2->id) == 0)
            break;
        idx++;
    }
    gone = cJSON_DetachItemFromArray(items, idx);
    CHECK(gone != NULL);
    CHECK_OK(apply_full(2, items, NULL, why, sizeof why));
    till_on_scan(F.till, F.counted2->barcode);
    CHECK_STR(till_display_line1(F.till), "Unknown item"); /* not sold any more */
    struct pe_key_input rk = {.kind = PE_KEY_RETURN, .ref_seq = sale};
    till_on_key(F.till, &rk);
    till_on_scan(F.till, F.counted->barcode);
    till_on_scan(F.till, F.counted2->barcode); /* delisted: taken back from the sale's line */
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    const cJSON *b;
    const char *type;
    cJSON *rec = event_at(last_seq(), &b, &type);
    CHECK_STR(type, "return");
    CHECK_INT(iget(b, "totals.total"), half + F.counted2->price);
    const cJSON *l0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(b, "lines"), 0);
    const cJSON *l1 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(b, "lines"), 1);
    CHECK_INT(iget(l0, "amount"), half);
    CHECK_INT(iget(l0, "catalog_version"), 1);
    const char *src = NULL;
    CHECK_OK(pe_json_get_str(l0, "price_source", &src));
    CHECK_STR(src, "promotion:P-HALF");
    CHECK_INT(iget(l1, "amount"), F.counted2->price);
    CHECK_INT(iget(l1, "tax_bp"), F.counted2->tax_bp);
    CHECK_OK(pe_json_get_str(l1, "item", &src));
    CHECK_STR(src, F.counted2->id);
    cJSON_Delete(rec);
    /* Reports count what was charged. */
    CHECK_INT(counter("p.returns.amount"), half + F.counted2->price);
    CHECK_INT(counter("p.sales.gross"), half + F.counted2->price);
    cJSON_Delete(gone);
    cJSON_Delete(items);
    cJSON_Delete(promos);
}

/* Everything refused leaves the catalog in force as it was, and journals nothing. */
static void t_catalog_refusals(void)
{
    fx_setup();
    open_for_trade();
    cJSON *items = file_items();
    char why[256] = "";
    CHECK_OK(apply_full(4, items, NULL, why, sizeof why));
    int64_t seq = last_seq();
    struct pe_journal_catalog before, now;
    till_catalog(F.till, &before);

    /* A bad document: refused with the chunk, the document and the member. */
    cJSON *bad = cJSON_Duplicate(items, 1);
    set_prices(bad, F.counted->id, "[{\"price\":1,\"effective_from\":\"tomorrow\"}]");
    CHECK_INT(apply_full(5, bad, NULL, why, sizeof why), PE_EINVAL);
    CHECK(strstr(why, "chunk 0: items[") != NULL);
    CHECK(strstr(why, "prices[0].effective_from: not a UTC time") != NULL);
    cJSON_Delete(bad);
    /* Another currency. */
    bad = cJSON_Duplicate(items, 1);
    cJSON_ReplaceItemInObject(item_doc(bad, F.counted->id), "currency", cJSON_CreateString("USD"));
    CHECK_INT(apply_full(5, bad, NULL, why, sizeof why), PE_EINVAL);
    CHECK(strstr(why, "currency: USD, but this till sells in EUR") != NULL);
    cJSON_Delete(bad);
    /* A barcode given to two items. */
    bad = cJSON_Duplicate(items, 1);
    cJSON *bc = cJSON_CreateArray();
    cJSON_AddItemToArray(bc, cJSON_CreateString(F.counted->barcode));
    cJSON_ReplaceItemInObject(item_doc(bad, F.counted2->id), "barcodes", bc);
    CHECK_INT(apply_full(5, bad, NULL, why, sizeof why), PE_EINVAL);
    CHECK(strstr(why, "is also item") != NULL);
    cJSON_Delete(bad);
    /* A hash that is not the result's. */
    struct upd u = {.chunks = parse_json("[{\"items\":[]}]")};
    struct till_catalog_update up = {.version = 5, .full = false, .since = 4,
                                     .hash = "0000000000000000000000000000000000000000000000000000000000000000",
                                     .chunks = 1, .chunk = upd_chunk, .ctx = &u};
    CHECK_INT(till_catalog_apply(F.till, &up, why, sizeof why), PE_ECHAIN);
    CHECK(strstr(why, "content hash") != NULL);
    /* A delta on another base: refused before anything is read. */
    up.since = 3;
    u.calls = 0;
    CHECK_INT(till_catalog_apply(F.till, &up, why, sizeof why), PE_ESTATE);
    CHECK_INT(u.calls, 0);
    /* A chunk that is not an object, a list that is not a list, an id that is not one. */
    cJSON_Delete(u.chunks);
    up.since = 4;
    const char *chunks[] = {"[7]", "[{\"items\":{}}]", "[{\"delisted\":[\"\"]}]"};
    const char *reasons[] = {"chunk 0: not an object", "chunk 0: items: not a list",
                             "chunk 0: delisted[0]: not an id"};
    for (int i = 0; i < 3; i++) {
        u.chunks = parse_json(chunks[i]);
        CHECK_INT(till_catalog_apply(F.till, &up, why, sizeof why), PE_EINVAL);
        CHECK_STR(why, reasons[i]);
        cJSON_Delete(u.chunks);
    }
    CHECK_INT(last_seq(), seq);
    till_catalog(F.till, &now);
    CHECK_INT(now.version, before.version);
    CHECK_STR(now.hash, before.hash);
    till_on_scan(F.till, F.counted->barcode);
    CHECK_INT(till_state(F.till), TILL_BASKET); /* still sells */
    key(PE_KEY_CANCEL, 0, 0);

    /* A good delta: one price, one item delisted; its hash is that of the result. */
    cJSON *after = cJSON_Duplicate(items, 1);
    set_prices(after, F.counted->id,
               "[{\"price\":4242,\"effective_from\":\"2020-01-01T00:00:00.000Z\"}]");
    int idx = 0;
    cJSON *d;
    cJSON_ArrayForEach(d, after)
    {
        if (strcmp(cJSON_GetObjectItem(d, "id")->valuestring, F.counted2->id) == 0)
            break;
        idx++;
    }
    cJSON_DeleteItemFromArray(after, idx);
    char h[PE_SHA256_HEXLEN];
    hash_of(after, NULL, h);
    char chunk[8192];
    cJSON *changed = cJSON_Duplicate(item_doc(after, F.counted->id), 1);
    char *ctext = cJSON_PrintUnformatted(changed);
    snprintf(chunk, sizeof chunk, "[{\"items\":[%s],\"delisted\":[\"%s\"]}]", ctext,
             F.counted2->id);
    free(ctext);
    cJSON_Delete(changed);
    u.chunks = parse_json(chunk);
    up.hash = h;
    CHECK_OK(till_catalog_apply(F.till, &up, why, sizeof why));
    cJSON_Delete(u.chunks);
    till_catalog(F.till, &now);
    CHECK_INT(now.version, 5);
    CHECK_INT(now.items, before.items - 1);
    const cJSON *b;
    const char *type;
    cJSON *rec = event_at(last_seq(), &b, &type);
    CHECK_STR(type, "catalog_applied");
    CHECK_INT(iget(b, "previous"), 4);
    cJSON_Delete(rec);
    till_on_scan(F.till, F.counted2->barcode);
    CHECK_STR(till_display_line1(F.till), "Unknown item");
    cJSON_Delete(after);
    cJSON_Delete(items);
}

/* An I/O failure at each write of an apply in turn: the old catalog or the new one, never a
 * mix, and the journal intact (the SQLite strategy of failing the Nth write). */
static void t_catalog_apply_atomic_under_io_faults(void)
{
    CHECK_OK(pe_faultvfs_register());
    fx_setup_vfs("pe-fault");
    open_for_trade();
    cJSON *items = file_items();
    char why[256] = "", h0[PE_SHA256_HEXLEN], h1[PE_SHA256_HEXLEN];
    struct pe_journal_catalog c;
    till_catalog(F.till, &c);
    snprintf(h0, sizeof h0, "%s", c.hash);
    set_prices(items, F.counted->id,
               "[{\"price\":31337,\"effective_from\":\"2020-01-01T00:00:00.000Z\"}]");
    hash_of(items, NULL, h1);
    int failures = 0;
    for (int64_t nth = 1;; nth++) {
        pe_faultvfs_arm(PE_FAULT_WRITE, nth, PE_EIO, false);
        int64_t seq = last_seq();
        int rc = apply_full(1, items, NULL, why, sizeof why);
        bool tripped = pe_faultvfs_failures() > 0;
        pe_faultvfs_disarm();
        /* Whatever happened, the journal as reopened holds one catalog whole. */
        till_destroy(F.till);
        pe_journal_close(F.j);
        fx_open_journal("pe-fault");
        fx_open_till();
        key_text(PE_KEY_LOGIN, "op01"); /* the shift is still open */
        struct pe_journal_verify_result res;
        CHECK_OK(pe_journal_verify(F.j, &res));
        till_catalog(F.till, &c);
        int64_t price, version;
        char src[64];
        till_on_scan(F.till, F.counted->barcode);
        key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
        last_line(last_seq(), &price, &version, src);
        if (c.version == 0) {
            CHECK(rc != PE_OK);
            CHECK_STR(c.hash, h0);
            CHECK_INT(price, F.counted->price);
            CHECK_INT(last_seq(), seq + 1); /* the sale only: no catalog_applied */
            failures++;
        } else {
            CHECK_INT(c.version, 1);
            CHECK_STR(c.hash, h1);
            CHECK_INT(price, 31337);
            CHECK_INT(counter("catalog.version"), 1);
        }
        if (!tripped || c.version == 1)
            break;
        CHECK(nth < 5000);
    }
    CHECK(failures >= 1);
    cJSON_Delete(items);
}

/* ---- signer down ---- */

static void cash_sale(void)
{
    till_on_scan(F.till, F.counted->barcode);
    key(PE_KEY_SUBTOTAL, 0, 0);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_NEXT_NOTE);
    CHECK_INT(till_state(F.till), TILL_IDLE);
}

static const char *type_at(int64_t seq, char out[32])
{
    const cJSON *b;
    const char *type;
    cJSON *rec = event_at(seq, &b, &type);
    snprintf(out, 32, "%s", type);
    cJSON_Delete(rec);
    return out;
}

static void t_signer_down(void)
{
    fx_setup();
    till_destroy(F.till);
    /* The software signer of test builds fails as an unplugged token while this file exists. */
    const char *flag = pe_test_path(2, "unplugged");
    setenv("PE_TEST_SIGNER_DOWN", flag, 1);
    struct pe_signer_conf sc = {
        .key_file = pe_test_path(3, "signer.key"), .store = "s001", .terminal = "t01"};
    struct pe_signer *s = NULL;
    char err[256], ty[32];
    CHECK_OK(pe_signer_open(&pe_signer_software, &sc, &s, err, sizeof err));
    unsetenv("PE_TEST_SIGNER_DOWN");
    struct till_deps d = {
        .journal = F.j, .catalog = F.cat, .rng = F.rng, .signer = s, .printer = F.printer,
        .display = F.display, .payment = F.payment, .store = "s001", .terminal = "t01",
        .currency = "EUR", .title = "test shop", .now = fx_now,
        .signer_retry_ms = 60000, .signer_down_alarm_s = 300,
    };
    CHECK_OK(till_create(&d, &F.till));
    struct till_signer ts;
    till_signer(F.till, &ts);
    CHECK_STR(ts.status, "ok");
    CHECK(!ts.alarm);
    open_for_trade(); /* 1 signer_installed, 2 shift_open */
    CHECK_INT(last_seq(), 2);

    FILE *f = fopen(flag, "w");
    CHECK(f != NULL);
    fclose(f);
    cash_sale(); /* 3 signer_down, 4 the sale, unsigned */
    CHECK_INT(last_seq(), 4);
    CHECK_STR(type_at(3, ty), "signer_down");
    CHECK_STR(type_at(4, ty), "sale");
    const cJSON *b;
    const char *type;
    cJSON *rec = event_at(3, &b, &type);
    const char *e = NULL;
    CHECK_OK(pe_json_get_str(b, "error", &e));
    CHECK_STR(e, "EUNAVAIL");
    cJSON_Delete(rec);
    char *receipts = slurp(pe_test_path(1, "receipts.txt"));
    const char *r4 = strstr(receipts, "SIGNATURE DEVICE UNAVAILABLE");
    CHECK(r4 != NULL && strstr(r4, "Receipt s001/t01 #4") != NULL);
    CHECK_INT(count_substr(receipts, "SIGNATURE DEVICE UNAVAILABLE"), 1);
    free(receipts);
    till_signer(F.till, &ts);
    CHECK_STR(ts.status, "down");
    CHECK_INT(ts.down_seq, 3);
    CHECK_INT(ts.nunsigned, 2);
    CHECK_INT(ts.outages, 1);
    CHECK(!ts.alarm);

    /* Back, but not tried again before signer.retry_ms has passed: still unsigned. */
    unlink(flag);
    cash_sale();
    CHECK_INT(last_seq(), 5);
    CHECK_STR(type_at(5, ty), "sale");
    receipts = slurp(pe_test_path(1, "receipts.txt"));
    CHECK_INT(count_substr(receipts, "SIGNATURE DEVICE UNAVAILABLE"), 2);
    free(receipts);

    /* Down longer than signer.down_alarm_s by the till's clock: the alarm. */
    int64_t down_ms = ts.down_ms;
    F.clock = down_ms + 250 * 1000;
    till_signer(F.till, &ts);
    CHECK(!ts.alarm);
    F.clock = down_ms + 400 * 1000;
    till_signer(F.till, &ts);
    CHECK(ts.alarm);
    CHECK_INT(ts.nunsigned, 3);
    CHECK(ts.down_s >= 400);

    /* The next event tries again: the collective first, then the sale, signed. */
    cash_sale();
    CHECK_INT(last_seq(), 7);
    CHECK_STR(type_at(6, ty), "signer_up");
    rec = event_at(6, &b, &type);
    CHECK_INT(iget(b, "first_seq"), 3);
    CHECK_INT(iget(b, "last_seq"), 5);
    CHECK_INT(iget(b, "count"), 3);
    cJSON_Delete(rec);
    receipts = slurp(pe_test_path(1, "receipts.txt"));
    CHECK_INT(count_substr(receipts, "SIGNATURE DEVICE UNAVAILABLE"), 2);
    CHECK(strstr(receipts, "Receipt s001/t01 #7") != NULL);
    free(receipts);
    till_signer(F.till, &ts);
    CHECK_STR(ts.status, "ok");
    CHECK(!ts.alarm);
    CHECK_INT(ts.down_seq, 0);
    /* A copy says what the original said. */
    int64_t printed = 0;
    char why[160];
    CHECK_OK(till_reprint(F.till, 4, &printed, ty, why, sizeof why));
    CHECK_OK(till_reprint(F.till, 7, &printed, ty, why, sizeof why));
    receipts = slurp(pe_test_path(1, "receipts.txt"));
    CHECK_INT(count_substr(receipts, "SIGNATURE DEVICE UNAVAILABLE"), 3);
    free(receipts);
    struct pe_journal_verify_result vr;
    CHECK_OK(pe_journal_verify(F.j, &vr));
    CHECK_INT(vr.count, 7);
    CHECK_INT(vr.nmarked, 3);
    CHECK_INT(vr.noutages, 1);
    CHECK_INT(vr.nsigned, 4);
    till_destroy(F.till);
    F.till = NULL;
    pe_signer_close(s);
}

/* ---- totals and closings (report.h) ---- */

/* The perpetual_total of the sale, return or void at seq. */
static int64_t perpetual_at(int64_t seq)
{
    const cJSON *b;
    const char *type;
    cJSON *rec = event_at(seq, &b, &type);
    int64_t v = iget(b, "perpetual_total");
    cJSON_Delete(rec);
    return v;
}

/* Sell one unit of it for exact cash; returns the sale's seq. */
static int64_t sell(const struct pe_item *it)
{
    till_on_scan(F.till, it->barcode);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    CHECK_INT(till_state(F.till), TILL_IDLE);
    return last_seq();
}

/* Return one unit of it against sale seq for cash; returns the return's seq. */
static int64_t give_back(int64_t sale, const struct pe_item *it)
{
    struct pe_key_input rk = {.kind = PE_KEY_RETURN, .ref_seq = sale};
    till_on_key(F.till, &rk);
    till_on_scan(F.till, it->barcode);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    CHECK_INT(till_state(F.till), TILL_IDLE);
    return last_seq();
}

static void verify_totals(struct pe_totals_result *res)
{
    int rc = pe_totals_verify(F.j, res);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "totals: %s (%s)", pe_errname(rc), res->why);
}

/* Close the shift and take the Z report at the till's clock. */
static void close_day(void)
{
    key(PE_KEY_SHIFT_CLOSE, 0, 0);
    key(PE_KEY_Z_REPORT, 0, 0);
    CHECK_STR(till_display_line1(F.till), "Z report");
}

/* Sales add, returns subtract, voids add nothing; the figure survives a restart of the till and
 * of the journal, and a commit that failed and was retried counts once. */
static void t_perpetual_total(void)
{
    CHECK_OK(pe_faultvfs_register());
    fx_setup_vfs("pe-fault");
    open_for_trade();
    int64_t a = F.counted->price, b = F.counted2->price;
    int64_t s1 = sell(F.counted);
    CHECK_INT(perpetual_at(s1), a);
    int64_t s2 = sell(F.counted2);
    CHECK_INT(perpetual_at(s2), a + b);
    int64_t r1 = give_back(s1, F.counted);
    CHECK_INT(perpetual_at(r1), b);
    till_on_scan(F.till, F.counted->barcode);
    key(PE_KEY_CANCEL, 0, 0);
    const cJSON *body;
    const char *type;
    cJSON *rec = event_at(last_seq(), &body, &type);
    CHECK_STR(type, "void");
    CHECK_INT(iget(body, "perpetual_total"), b); /* a void adds nothing */
    cJSON_Delete(rec);
    /* Restart: the till and the journal closed and opened again. */
    till_destroy(F.till);
    pe_journal_close(F.j);
    fx_open_journal("pe-fault");
    fx_open_till();
    key_text(PE_KEY_LOGIN, "op01");
    int64_t s3 = sell(F.counted);
    CHECK_INT(perpetual_at(s3), b + a);
    /* A commit that fails (the disk is full) is rolled back with its counters; the retry
     * counts the sale once. */
    till_on_scan(F.till, F.counted2->barcode);
    pe_faultvfs_arm(PE_FAULT_ANY, 1, PE_EFULL, true);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    CHECK(till_basket_open(F.till));
    pe_faultvfs_disarm();
    key(PE_KEY_SUBTOTAL, 0, 0);
    CHECK(!till_basket_open(F.till));
    CHECK_INT(perpetual_at(last_seq()), 2 * b + a);
    struct pe_totals_result res;
    verify_totals(&res);
    CHECK_INT(res.perpetual, 2 * b + a);
    CHECK_INT(res.carried, 6);
    CHECK_INT(res.training, 0);
    /* The X report says the same as its grand total. */
    key(PE_KEY_X_REPORT, 0, 0);
    rec = event_at(last_seq(), &body, &type);
    CHECK_INT(iget(body, "grand_total"), 2 * b + a);
    cJSON_Delete(rec);
    verify_totals(&res);
}

/* Copy the journal into a new one, sealing record seq with its body changed by edit (the
 * forger's recomputed chain): pe_totals_verify must name seq. */
static void forge(int64_t seq, const char *path, const char *value, const char *why)
{
    char err[256];
    struct pe_journal *r;
    struct pe_journal_opts o = {.store = "s001", .terminal = "t01"};
    static int forged;
    char name[32];
    snprintf(name, sizeof name, "forged%d.db", ++forged);
    CHECK_OK(pe_journal_open(pe_test_path(2, name), &o, &r, err, sizeof err));
    CHECK_OK(pe_journal_begin(r));
    char prev[PE_SHA256_HEXLEN];
    pe_event_genesis("s001", "t01", prev);
    for (int64_t s = 1; s <= last_seq(); s++) {
        char *rec, hash[PE_SHA256_HEXLEN];
        size_t len;
        cJSON *p;
        struct pe_event_meta m;
        CHECK_OK(pe_journal_get(F.j, s, &rec, &len));
        CHECK_OK(pe_event_verify(rec, len, s, NULL, &m, hash, &p, NULL, 0));
        free(rec);
        cJSON *body = cJSON_GetObjectItemCaseSensitive(p, "body");
        if (s == seq) {
            /* path is "key" or "obj.key" */
            char k[64];
            snprintf(k, sizeof k, "%s", path);
            char *dot = strchr(k, '.');
            cJSON *at = body;
            if (dot) {
                *dot = '\0';
                at = cJSON_GetObjectItemCaseSensitive(body, k);
            }
            cJSON_ReplaceItemInObject(at, dot ? dot + 1 : k, cJSON_Parse(value));
        }
        char *out;
        size_t olen;
        CHECK_OK(pe_event_seal(&m, body, prev, &out, &olen, hash));
        int irc = pe_journal_import(r, out, olen, NULL);
        if (irc)
            pe_test_fail(__FILE__, __LINE__, "import seq %lld: %s: %s", (long long)s,
                         pe_errname(irc), out);
        memcpy(prev, hash, sizeof prev);
        free(out);
        cJSON_Delete(p);
    }
    CHECK_OK(pe_journal_commit(r));
    struct pe_totals_result res;
    CHECK_INT(pe_totals_verify(r, &res), PE_ECHAIN);
    CHECK_INT(res.bad_seq, seq);
    if (!strstr(res.why, why))
        pe_test_fail(__FILE__, __LINE__, "seq %lld: \"%s\" does not say \"%s\"", (long long)seq,
                     res.why, why);
    pe_journal_close(r);
}

/* Training mode: committed and printed, flagged, out of every total and of stock; training and
 * real money never meet in a return. */
static void t_training(void)
{
    fx_setup();
    open_for_trade();
    int64_t a = F.counted->price, b = F.counted2->price;
    int64_t real = sell(F.counted);
    int64_t s0 = stock(F.counted2);
    till_set_training(F.till, true);
    CHECK(till_training(F.till));
    int64_t t1 = sell(F.counted2);
    const cJSON *body;
    const char *type;
    cJSON *rec = event_at(t1, &body, &type);
    CHECK_STR(type, "sale");
    bool flag = false;
    CHECK_OK(pe_json_get_bool(body, "training", &flag));
    CHECK(flag);
    CHECK_INT(iget(body, "perpetual_total"), a); /* unchanged */
    cJSON_Delete(rec);
    CHECK_INT(stock(F.counted2), s0);
    CHECK_INT(counter("p.sales.count"), 1);
    CHECK_INT(counter("p.sales.gross"), a);
    CHECK_INT(counter("p.training.count"), 1);
    char *receipts = slurp(pe_test_path(1, "receipts.txt"));
    CHECK_INT(count_substr(receipts, "*** TRAINING - NOT A REAL SALE ***"), 2);
    free(receipts);
    /* In training mode a real sale cannot be returned; the training sale can, in training. */
    struct pe_key_input rk = {.kind = PE_KEY_RETURN, .ref_seq = real};
    till_on_key(F.till, &rk);
    CHECK_STR(till_display_line1(F.till), "Training: real sale");
    int64_t t2 = give_back(t1, F.counted2);
    CHECK_INT(perpetual_at(t2), a);
    CHECK_INT(stock(F.counted2), s0);
    till_on_scan(F.till, F.counted->barcode);
    key(PE_KEY_CANCEL, 0, 0); /* a training void */
    CHECK_INT(counter("p.voids.count"), 0);
    CHECK_INT(counter("p.training.count"), 3);
    /* Out of training: the training sale is not returnable, real trade counts again. */
    till_set_training(F.till, false);
    rk.ref_seq = t1;
    till_on_key(F.till, &rk);
    CHECK_STR(till_display_line1(F.till), "Training sale");
    int64_t s2 = sell(F.counted2);
    CHECK_INT(perpetual_at(s2), a + b);
    CHECK_INT(stock(F.counted2), s0 - 1);
    close_day();
    rec = event_at(last_seq(), &body, &type);
    CHECK_STR(type, "z_report");
    CHECK_INT(iget(body, "sales.count"), 2);
    CHECK_INT(iget(body, "sales.gross"), a + b);
    CHECK_INT(iget(body, "returns.count"), 0);
    CHECK_INT(iget(body, "voids.count"), 0);
    CHECK_INT(iget(body, "training_records"), 3);
    CHECK_INT(iget(body, "grand_total"), a + b);
    cJSON_Delete(rec);
    struct pe_totals_result res;
    verify_totals(&res);
    CHECK_INT(res.training, 3);
    CHECK_INT(res.perpetual, a + b);
    /* A training sale that claims to be real is named by the totals. */
    forge(t1, "training", "false", "perpetual_total");
}

/* Replay the journal's events into a new journal (what posedge-ctl recover does after a crash
 * that damaged the file): the counters of the totals and closings come out the same. */
static void replay_matches(void)
{
    char err[256];
    struct pe_journal *r;
    struct pe_journal_opts o = {.store = "s001", .terminal = "t01"};
    CHECK_OK(pe_journal_open(pe_test_path(2, "replayed.db"), &o, &r, err, sizeof err));
    CHECK_OK(pe_journal_begin(r));
    for (int64_t seq = 1; seq <= last_seq(); seq++) {
        char *rec;
        size_t len;
        cJSON *p;
        const char *type = NULL;
        enum pe_event_type et;
        CHECK_OK(pe_journal_get(F.j, seq, &rec, &len));
        CHECK_OK(pe_journal_import(r, rec, len, NULL));
        CHECK_OK(pe_json_parse(rec, len, &p, NULL, 0));
        CHECK_OK(pe_json_get_str(p, "type", &type));
        CHECK_OK(pe_event_type_parse(type, &et));
        CHECK_OK(pe_ledger_apply(r, et, seq, cJSON_GetObjectItemCaseSensitive(p, "body")));
        cJSON_Delete(p);
        free(rec);
    }
    CHECK_OK(pe_journal_commit(r));
    static const char *const prefixes[] = {"g.", "m.", "y.", "close.", "p."};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        static struct dump live, replay;
        memset(&live, 0, sizeof live);
        memset(&replay, 0, sizeof replay);
        CHECK_OK(pe_journal_counters_each(F.j, prefixes[i], dump_counter, &live));
        CHECK_OK(pe_journal_counters_each(r, prefixes[i], dump_counter, &replay));
        CHECK_STR(replay.text, live.text);
    }
    int64_t a = 0, b = 0;
    CHECK_OK(pe_totals_perpetual(F.j, &a));
    CHECK_OK(pe_totals_perpetual(r, &b));
    CHECK_INT(b, a);
    pe_journal_close(r);
}

/* Month and year closings: committed before the first Z report of a later month (year), summing
 * exactly the Z reports of their period; verify recomputes them from the records. */
static void t_closings(void)
{
    fx_setup();
    int64_t a = F.counted->price, b = F.counted2->price;
    F.clock = ms_of("2026-11-29T09:00:00.000Z");
    open_for_trade();
    int64_t nov1 = sell(F.counted);
    sell(F.counted2);
    close_day();
    int64_t z1 = last_seq();
    CHECK_INT(counter("m.z.count"), 1);
    F.clock = ms_of("2026-11-30T09:00:00.000Z");
    key(PE_KEY_SHIFT_OPEN, 0, 0);
    give_back(nov1, F.counted);
    till_set_training(F.till, true);
    sell(F.counted); /* kept out of every closing */
    till_set_training(F.till, false);
    till_on_scan(F.till, F.counted2->barcode);
    key(PE_KEY_CANCEL, 0, 0);
    close_day();
    int64_t z2 = last_seq();
    /* No closing yet: the month is not over. */
    const cJSON *body;
    const char *type;
    cJSON *rec = event_at(z2, &body, &type);
    CHECK_STR(type, "z_report");
    cJSON_Delete(rec);
    F.clock = ms_of("2026-12-01T09:00:00.000Z");
    key(PE_KEY_SHIFT_OPEN, 0, 0);
    int64_t dec1 = sell(F.counted2);
    close_day();
    /* shift_close, then month_close of November, then the Z report of December 1st. */
    int64_t mc = last_seq() - 1;
    rec = event_at(mc, &body, &type);
    CHECK_STR(type, "month_close");
    const char *month = NULL;
    CHECK_OK(pe_json_get_str(body, "month", &month));
    CHECK_STR(month, "2026-11");
    CHECK_INT(iget(body, "number"), 1);
    CHECK_INT(iget(body, "period.first_seq"), 1);
    CHECK_INT(iget(body, "period.last_seq"), z2);
    CHECK_INT(iget(body, "z_reports"), 2);
    CHECK_INT(iget(body, "sales.count"), 2);
    CHECK_INT(iget(body, "sales.gross"), a + b);
    CHECK_INT(iget(body, "returns.count"), 1);
    CHECK_INT(iget(body, "returns.amount"), a);
    CHECK_INT(iget(body, "voids.count"), 1);
    CHECK_INT(iget(body, "voids.amount"), b);
    CHECK_INT(iget(body, "net_sales"), b);
    CHECK_INT(iget(body, "perpetual_total"), b);
    cJSON_Delete(rec);
    rec = event_at(last_seq(), &body, &type);
    CHECK_STR(type, "z_report");
    CHECK_INT(iget(body, "period.first_seq"), z2 + 1);
    cJSON_Delete(rec);
    CHECK_INT(counter("m.z.count"), 1); /* December's first */
    CHECK_INT(counter("m.first_seq"), z2 + 1);
    CHECK_INT(counter("y.z.count"), 3); /* the year goes on */
    char *receipts = slurp(pe_test_path(1, "receipts.txt"));
    CHECK(strstr(receipts, "MONTH CLOSING 2026-11") != NULL);
    free(receipts);
    /* January: December's month close, then the year's, then the Z. */
    F.clock = ms_of("2027-01-04T09:00:00.000Z");
    key(PE_KEY_SHIFT_OPEN, 0, 0);
    sell(F.counted);
    close_day();
    int64_t z = last_seq();
    rec = event_at(z - 2, &body, &type);
    CHECK_STR(type, "month_close");
    CHECK_OK(pe_json_get_str(body, "month", &month));
    CHECK_STR(month, "2026-12");
    CHECK_INT(iget(body, "number"), 2);
    CHECK_INT(iget(body, "z_reports"), 1);
    CHECK_INT(iget(body, "sales.gross"), b);
    CHECK_INT(iget(body, "perpetual_total"), 2 * b);
    int64_t dec_last = iget(body, "period.last_seq");
    CHECK(dec_last > dec1);
    cJSON_Delete(rec);
    rec = event_at(z - 1, &body, &type);
    CHECK_STR(type, "year_close");
    const char *year = NULL;
    CHECK_OK(pe_json_get_str(body, "year", &year));
    CHECK_STR(year, "2026");
    CHECK_INT(iget(body, "period.first_seq"), 1);
    CHECK_INT(iget(body, "period.last_seq"), dec_last);
    CHECK_INT(iget(body, "z_reports"), 3);
    CHECK_INT(iget(body, "sales.count"), 3);
    CHECK_INT(iget(body, "sales.gross"), a + 2 * b);
    CHECK_INT(iget(body, "returns.amount"), a);
    CHECK_INT(iget(body, "net_sales"), 2 * b);
    CHECK_INT(iget(body, "perpetual_total"), 2 * b);
    cJSON_Delete(rec);
    rec = event_at(z, &body, &type);
    CHECK_STR(type, "z_report");
    cJSON_Delete(rec);
    CHECK_INT(counter("y.z.count"), 1);
    CHECK_INT(counter("close.month.number"), 2);
    CHECK_INT(counter("close.year.number"), 1);
    replay_matches();
    struct pe_totals_result res;
    verify_totals(&res);
    CHECK_INT(res.months, 2);
    CHECK_INT(res.years, 1);
    CHECK_INT(res.training, 1);
    /* A closing whose figure was changed, or that leaves out a Z report, is named. */
    forge(mc, "sales.gross", "1", "sales.gross 1, but its records give");
    char zs[24];
    snprintf(zs, sizeof zs, "%lld", (long long)z1 - 1);
    forge(mc, "period.last_seq", zs, "not a Z report");
    snprintf(zs, sizeof zs, "%lld", (long long)z1);
    forge(mc, "period.last_seq", zs, "leaves out the Z report");
    forge(z - 1, "perpetual_total", "7", "perpetual_total 7");
    forge(z2, "grand_total", "0", "grand_total 0");
}

/* The QR code line of receipt #seq in receipts.txt, without "QR " (caller frees), or NULL. */
static char *qr_of(int64_t seq)
{
    char *all = slurp(pe_test_path(1, "receipts.txt")), head[64];
    snprintf(head, sizeof head, "\nQR posedge-qr/1|s001|t01|%lld|", (long long)seq);
    char *p = strstr(all, head), *line = NULL;
    if (p) {
        p += 4;
        size_t n = strcspn(p, "\n");
        line = strndup(p, n);
    }
    free(all);
    return line;
}

/* Every receipt ends with its QR code: unsigned (the last four fields empty) without a signer,
 * signed by the event's key over everything it shows with one; a reprint carries the same. */
static void t_receipt_qr(void)
{
    fx_setup();
    open_for_trade();
    till_on_scan(F.till, F.counted->barcode);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    CHECK_INT(last_seq(), 2);
    char *qr = qr_of(2);
    CHECK(qr != NULL);
    char want[64];
    snprintf(want, sizeof want, "|sale|%lld|EUR|", (long long)F.counted->price);
    CHECK(strstr(qr, want) != NULL);
    CHECK(strlen(qr) > 4 && strcmp(qr + strlen(qr) - 4, "||||") == 0);
    free(qr);

    struct pe_signer_conf sc = {.key_file = pe_test_path(2, "signer.key"), .store = "s001",
                                .terminal = "t01"};
    char err[256];
    CHECK_OK(pe_signer_open(pe_signer_find("software"), &sc, &F.signer, err, sizeof err));
    till_destroy(F.till);
    fx_open_till();
    key_text(PE_KEY_LOGIN, "op01");
    till_on_scan(F.till, F.counted->barcode);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    CHECK_INT(last_seq(), 4); /* 3: the key put in use */
    qr = qr_of(4);
    CHECK(qr != NULL);
    CHECK(strstr(qr, want) != NULL);
    char *bar = strrchr(qr, '|');
    CHECK(bar != NULL && strlen(bar + 1) == 86);
    const struct pe_signer_key *k = pe_signer_key(F.signer);
    char kid[PE_SIGNER_KEY_ID_LEN + 2];
    snprintf(kid, sizeof kid, "|%s|", k->key_id);
    CHECK(strstr(qr, kid) != NULL);
    /* the signature, decoded from base64url */
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t rs[PE_SIGNER_SIG_LEN];
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (const char *c = bar + 1; *c; c++) {
        const char *at = strchr(abc, *c);
        CHECK(at != NULL);
        acc = (acc << 6) | (uint32_t)(at - abc);
        if ((bits += 6) >= 8) {
            bits -= 8;
            CHECK(o < sizeof rs);
            rs[o++] = (uint8_t)(acc >> bits);
        }
    }
    CHECK_INT(o, sizeof rs);
    struct pe_signer_pub *pub = NULL;
    CHECK_OK(pe_signer_pub_parse(k->public_key, &pub, NULL));
    CHECK_OK(pe_signer_verify_receipt(pub, qr, (size_t)(bar - qr), rs));
    pe_signer_pub_free(pub);

    /* A reprint carries the original's code, signed or not. */
    int64_t printed = 0;
    char type[32], why[256];
    char *unsigned_qr = qr_of(2);
    CHECK_OK(till_reprint(F.till, 4, &printed, type, why, sizeof why));
    CHECK_OK(till_reprint(F.till, 2, &printed, type, why, sizeof why));
    char *all = slurp(pe_test_path(1, "receipts.txt"));
    CHECK_INT(count_substr(all, qr), 2);
    CHECK_INT(count_substr(all, unsigned_qr), 2);
    CHECK_INT(count_substr(all, "\nQR "), 6); /* 4 events, 2 copies */
    free(all);
    free(unsigned_qr);
    free(qr);

    /* A signer that cannot sign receipts (a token without it, or failing): the event is signed,
     * its code names that signature but carries none, and the receipt prints. */
    struct pe_signer_ops no_receipts = *F.signer->ops;
    no_receipts.sign_receipt = NULL;
    const struct pe_signer_ops *real = F.signer->ops;
    F.signer->ops = &no_receipts;
    till_on_scan(F.till, F.counted->barcode);
    key(PE_KEY_TENDER_CASH, 0, PE_KEYF_EXACT);
    F.signer->ops = real;
    CHECK_INT(last_seq(), 5);
    qr = qr_of(5);
    CHECK(qr != NULL && strstr(qr, kid) != NULL);
    CHECK(qr[strlen(qr) - 1] == '|' && qr[strlen(qr) - 2] != '|');
    free(qr);
    all = slurp(pe_test_path(1, "receipts.txt"));
    CHECK(strstr(all, "Receipt s001/t01 #5") != NULL);
    free(all);
    till_destroy(F.till);
    F.till = NULL;
    pe_signer_close(F.signer);
    F.signer = NULL;
}

static const struct pe_test tests[] = {
    {"sale_cash_commits_then_prints", t_sale_cash_commits_then_prints},
    {"signer_down", t_signer_down},
    {"receipt_qr", t_receipt_qr},
    {"refusals_leave_no_record", t_refusals_leave_no_record},
    {"weighed_items", t_weighed_items},
    {"card_decline_then_card_no_pan_stored", t_card_decline_then_cash_no_pan_stored},
    {"split_tender", t_split_tender},
    {"returns", t_returns},
    {"void_and_no_sale", t_void_and_no_sale},
    {"discounts", t_discounts},
    {"x_and_z_reports", t_x_and_z_reports},
    {"inventory", t_inventory},
    {"commit_failure_keeps_basket", t_commit_failure_keeps_basket},
    {"park_and_resume", t_park_and_resume},
    {"shift_survives_restart", t_shift_survives_restart},
    {"replay_rebuilds_state", t_replay_rebuilds_state},
    {"remote_reports", t_remote_reports},
    {"reprint", t_reprint},
    {"customer", t_customer},
    {"catalog_version0", t_catalog_version0},
    {"catalog_apply_between_baskets", t_catalog_apply_between_baskets},
    {"catalog_price_at_the_minute", t_catalog_price_at_the_minute},
    {"catalog_promotions", t_catalog_promotions},
    {"catalog_returns_at_charged_price", t_catalog_returns_at_charged_price},
    {"catalog_refusals", t_catalog_refusals},
    {"catalog_apply_atomic_under_io_faults", t_catalog_apply_atomic_under_io_faults},
    {"perpetual_total", t_perpetual_total},
    {"training", t_training},
    {"closings", t_closings},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("till", tests, argc, argv);
}
