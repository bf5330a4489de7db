/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_sim.c - unit tests of the simulation: scenario parsing and refusals with line numbers,
 * a scenario run injecting the expected inputs one per step at the expected simulated times,
 * and the shopper's determinism, customer count, day end and returns.
 *
 * The tests play the till: after every step they read each fake device until it is empty,
 * start a payment for every TENDER_CARD key and read its result, and record what they saw as
 * one text line per input ("<sim time> <input>"), so two runs compare as two strings.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/fake/fake.h"
#include "posedge/clock.h"
#include "posedge/sim.h"
#include "tests/unit/harness.h"

#define CHECK_HAS(hay, needle)                                                                     \
    do {                                                                                           \
        const char *h__ = (hay), *n__ = (needle);                                                  \
        if (!h__ || !strstr(h__, n__))                                                             \
            pe_test_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"", h__ ? h__ : "",     \
                         n__);                                                                     \
    } while (0)

/* ---- The rig: four fake devices and a recording till ------------------------------------ */

struct rig {
    struct pe_sim_devices devs;
    char *rec;    /* recorded inputs, one per line */
    size_t len;   /* bytes in rec */
    size_t cap;   /* allocated */
    int inputs;   /* inputs read so far */
    int approved; /* card payments approved */
    int declined; /* and declined */
};

static void rig_open(struct rig *r)
{
    memset(r, 0, sizeof *r);
    struct pe_hal_devcfg cfg = {.driver = "fake", .path = "", .data_dir = pe_test_tmpdir()};
    CHECK_OK(pe_scanner_open(pe_hal_scanner_driver("fake"), &cfg, &r->devs.scanner));
    CHECK_OK(pe_scale_open(pe_hal_scale_driver("fake"), &cfg, &r->devs.scale));
    CHECK_OK(pe_keypad_open(pe_hal_keypad_driver("fake"), &cfg, &r->devs.keypad));
    CHECK_OK(pe_payment_open(pe_hal_payment_driver("fake"), &cfg, &r->devs.payment));
}

static void rig_close(struct rig *r)
{
    pe_scanner_close(r->devs.scanner);
    pe_scale_close(r->devs.scale);
    pe_keypad_close(r->devs.keypad);
    pe_payment_close(r->devs.payment);
    free(r->rec);
}

static void rec(struct rig *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void rec(struct rig *r, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(r->rec ? r->rec + r->len : NULL, r->rec ? r->cap - r->len : 0, fmt, ap);
        va_end(ap);
        CHECK(n >= 0);
        if (r->rec && r->len + (size_t)n < r->cap) {
            r->len += (size_t)n;
            return;
        }
        r->cap = r->cap * 2 + (size_t)n + 4096;
        r->rec = realloc(r->rec, r->cap);
        CHECK(r->rec != NULL);
        r->rec[r->len] = '\0';
    }
}

static void describe_key(struct rig *r, const struct pe_key_input *k)
{
    rec(r, "%s", pe_key_kind_name(k->kind));
    if (k->amount)
        rec(r, " amount=%lld", (long long)k->amount);
    if (k->qty)
        rec(r, " qty=%lld", (long long)k->qty);
    if (k->line)
        rec(r, " line=%d", (int)k->line);
    if (k->percent_bp)
        rec(r, " bp=%d", (int)k->percent_bp);
    if (k->flags)
        rec(r, " flags=%d", (int)k->flags);
    if (k->ref_seq)
        rec(r, " ref=%lld", (long long)k->ref_seq);
    if (k->text[0])
        rec(r, " text=%s", k->text);
    for (int i = 0; i < k->nlines; i++)
        rec(r, " %s:%lld", k->lines[i].code, (long long)k->lines[i].qty);
}

/* Read every waiting input as a till would. Returns the number read. */
static int till_read(struct rig *r, const struct pe_sim *sim)
{
    char ts[PE_TIME_STRLEN];
    pe_time_format(pe_sim_now(sim), ts);
    int n = 0;
    struct pe_key_input k;
    struct pe_scan s;
    struct pe_weight w;
    while (pe_keypad_read(r->devs.keypad, &k) == PE_OK) {
        rec(r, "%s ", ts);
        describe_key(r, &k);
        if (k.kind == PE_KEY_TENDER_CARD) {
            /* The till starts the payment at once; the result is the in-flight part. */
            rec(r, " card=%d", pe_fake_payment_card_present(r->devs.payment) ? 1 : 0);
            struct pe_pay_request req = {.amount = k.amount ? k.amount : 1000};
            memcpy(req.currency, "EUR", 4);
            CHECK_OK(pe_payment_start(r->devs.payment, &req));
            CHECK(pe_sim_pending(sim));
            struct pe_pay_result res;
            CHECK_OK(pe_payment_read(r->devs.payment, &res));
            rec(r, " %s", res.approved ? "approved" : res.reason);
            if (res.approved)
                r->approved++;
            else
                r->declined++;
        }
        rec(r, "\n");
        n++;
    }
    while (pe_scanner_read(r->devs.scanner, &s) == PE_OK) {
        rec(r, "%s scan %s\n", ts, s.code);
        n++;
    }
    while (pe_scale_read(r->devs.scale, &w) == PE_OK) {
        rec(r, "%s weigh %d %s\n", ts, (int)w.grams, w.stable ? "stable" : "moving");
        n++;
    }
    r->inputs += n;
    return n;
}

/* Step until EEOF or max steps; each step must inject at most one input at its due time. */
static int run(struct rig *r, struct pe_sim *sim, int max_steps)
{
    int steps = 0;
    for (; steps < max_steps; steps++) {
        CHECK(!pe_sim_pending(sim));
        int64_t due = 0;
        int rc = pe_sim_next_due(sim, &due);
        if (rc == PE_EEOF) {
            CHECK_INT(pe_sim_step(sim), PE_EEOF);
            break;
        }
        CHECK_OK(rc);
        CHECK_OK(pe_sim_step(sim));
        CHECK_INT(pe_sim_now(sim), due);
        CHECK(till_read(r, sim) <= 1);
    }
    return steps;
}

static const char *write_tmp(const char *name, const char *text)
{
    const char *path = pe_test_path(0, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    CHECK(fputs(text, f) >= 0);
    CHECK(fclose(f) == 0);
    return path;
}

static int64_t ts_ms(const char *ts)
{
    int64_t ms = 0;
    CHECK_OK(pe_time_parse(ts, &ms));
    return ms;
}

/* ---- Scenarios ---------------------------------------------------------------------------- */

static const char scenario[] =
    "# A morning at till 1.\n"
    "{\"do\":\"clock\",\"ts\":\"2026-11-21T08:00:00.000Z\"}\n"
    "{\"do\":\"login\",\"operator\":\"op17\"}\n"
    "{\"do\":\"shift_open\",\"float\":20000,\"wait\":500}\n"
    "\n"
    "{\"do\":\"scan\",\"barcode\":\"4006381333931\",\"qty\":3}\n"
    "   {\"do\":\"weigh\",\"grams\":512,\"stable\":false,\"wait\":0}\r\n"
    "{\"do\":\"wait\",\"ms\":60000}\n"
    "{\"do\":\"key\",\"code\":\"SKU-00001\"}\n"
    "{\"do\":\"qty\",\"qty\":2}\n"
    "{\"do\":\"scan\",\"barcode\":\"5901234123457\"}\n"
    "{\"do\":\"line_void\",\"line\":2}\n"
    "{\"do\":\"discount\",\"line\":0,\"percent_bp\":1000}\n"
    "{\"do\":\"discount\",\"line\":1,\"amount\":200}\n"
    "{\"do\":\"subtotal\"}\n"
    "{\"do\":\"tender\",\"method\":\"card\",\"amount\":500,\"split\":true,\"decline\":true,"
    "\"reason\":\"stolen card\"}\n"
    "{\"do\":\"tender\",\"method\":\"card\",\"card\":\"5555555555554444\"}\n"
    "{\"do\":\"tender\",\"method\":\"cash\",\"amount\":\"next_note\",\"split\":true}\n"
    "{\"do\":\"tender\",\"method\":\"cash\",\"amount\":2000}\n"
    "{\"do\":\"tender\",\"method\":\"cash\",\"amount\":\"exact\"}\n"
    "{\"do\":\"cancel\"}\n"
    "{\"do\":\"no_sale\",\"reason\":\"change for float\"}\n"
    "{\"do\":\"return\",\"sale\":12}\n"
    "{\"do\":\"return\",\"id\":\"0b5f3f1e-2f4d-4c4e-9d7e-1a2b3c4d5e6f\"}\n"
    "{\"do\":\"inventory_receipt\",\"ref\":\"PO-1\",\"lines\":[{\"barcode\":\"4006381333931\","
    "\"qty\":24},{\"item\":\"SKU-00001\",\"qty\":6}]}\n"
    "{\"do\":\"inventory_adjust\",\"reason\":\"damage\",\"lines\":[{\"item\":\"SKU-00002\","
    "\"qty\":-2}]}\n"
    "{\"do\":\"inventory_count\",\"lines\":[{\"item\":\"SKU-00003\",\"qty\":0}]}\n"
    "{\"do\":\"shift_close\",\"declared\":12345}\n"
    "{\"do\":\"x_report\"}\n"
    "{\"do\":\"z_report\"}\n"
    "{\"do\":\"logout\"}\n"
    "{\"do\":\"clock\",\"ts\":\"2026-11-22T08:00:00.000Z\"}\n"
    "{\"do\":\"wait\",\"ms\":5}\n";

static const char expected[] =
    "2026-11-21T08:00:01.000Z login text=op17\n"
    "2026-11-21T08:00:01.500Z shift_open amount=20000\n"
    "2026-11-21T08:00:02.500Z qty qty=3\n"
    "2026-11-21T08:00:02.500Z scan 4006381333931\n"
    "2026-11-21T08:00:02.500Z weigh 512 moving\n"
    "2026-11-21T08:01:03.500Z item text=SKU-00001\n"
    "2026-11-21T08:01:04.500Z qty qty=2\n"
    "2026-11-21T08:01:05.500Z scan 5901234123457\n"
    "2026-11-21T08:01:06.500Z line_void line=2\n"
    "2026-11-21T08:01:07.500Z discount bp=1000\n"
    "2026-11-21T08:01:08.500Z discount amount=200 line=1\n"
    "2026-11-21T08:01:09.500Z subtotal\n"
    "2026-11-21T08:01:10.500Z tender_card amount=500 flags=4 card=1 stolen card\n"
    "2026-11-21T08:01:11.500Z tender_card card=1 approved\n"
    "2026-11-21T08:01:12.500Z tender_cash flags=6\n"
    "2026-11-21T08:01:13.500Z tender_cash amount=2000\n"
    "2026-11-21T08:01:14.500Z tender_cash flags=1\n"
    "2026-11-21T08:01:15.500Z cancel\n"
    "2026-11-21T08:01:16.500Z no_sale text=change for float\n"
    "2026-11-21T08:01:17.500Z return ref=12\n"
    "2026-11-21T08:01:18.500Z return text=0b5f3f1e-2f4d-4c4e-9d7e-1a2b3c4d5e6f\n"
    "2026-11-21T08:01:19.500Z inv_receipt text=PO-1 4006381333931:24 SKU-00001:6\n"
    "2026-11-21T08:01:20.500Z inv_adjust text=damage SKU-00002:-2\n"
    "2026-11-21T08:01:21.500Z inv_count SKU-00003:0\n"
    "2026-11-21T08:01:22.500Z shift_close amount=12345\n"
    "2026-11-21T08:01:23.500Z x_report\n"
    "2026-11-21T08:01:24.500Z z_report\n"
    "2026-11-21T08:01:25.500Z logout\n";

static void t_scenario_run(void)
{
    struct rig r;
    rig_open(&r);
    struct pe_sim *sim = NULL;
    char err[256] = "";
    int64_t start = ts_ms("2000-01-01T00:00:00.000Z");
    int rc = pe_sim_scenario_create(write_tmp("s.jsonl", scenario), &r.devs, start, &sim, err,
                                    sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "create: %s: %s", pe_errname(rc), err);
    CHECK_INT(pe_sim_now(sim), start);
    CHECK(!pe_sim_pending(sim));

    /* Pending while an input waits unread. */
    CHECK_OK(pe_sim_step(sim));
    CHECK(pe_sim_pending(sim));
    CHECK_INT(till_read(&r, sim), 1);
    CHECK(!pe_sim_pending(sim));

    int steps = run(&r, sim, 1000);
    CHECK_STR(r.rec, expected);
    /* 28 inputs in 28 steps, plus one step for the trailing clock and wait. */
    CHECK_INT(r.inputs, 28);
    CHECK_INT(steps + 1, 29);
    CHECK_INT(pe_sim_now(sim), ts_ms("2026-11-22T08:00:00.005Z"));
    CHECK_INT(pe_sim_customers(sim), 31); /* every action of the script */
    int64_t due;
    CHECK_INT(pe_sim_next_due(sim, &due), PE_EEOF);
    CHECK_INT(pe_sim_step(sim), PE_EEOF);
    CHECK_INT(r.approved, 1);
    CHECK_INT(r.declined, 1);
    pe_sim_sale_committed(sim, 1, "x", NULL); /* a scenario ignores commits */
    pe_sim_destroy(sim);
    pe_sim_destroy(NULL);
    rig_close(&r);
}

static void t_scenario_empty(void)
{
    struct rig r;
    rig_open(&r);
    struct pe_sim *sim = NULL;
    char err[256] = "";
    CHECK_OK(pe_sim_scenario_create(write_tmp("e.jsonl", "# nothing\n\n"), &r.devs, 42, &sim, err,
                                    sizeof err));
    int64_t due;
    CHECK_INT(pe_sim_next_due(sim, &due), PE_EEOF);
    CHECK_INT(pe_sim_step(sim), PE_EEOF);
    CHECK_INT(pe_sim_now(sim), 42);
    pe_sim_destroy(sim);
    rig_close(&r);
}

static void expect_refusal(struct rig *r, const char *text, int want_rc, const char *want_err)
{
    struct pe_sim *sim = (struct pe_sim *)1;
    char err[256] = "";
    int rc = pe_sim_scenario_create(write_tmp("s.jsonl", text), &r->devs, 0, &sim, err, sizeof err);
    if (rc != want_rc)
        pe_test_fail(__FILE__, __LINE__, "\"%s\": rc %s, expected %s (%s)", text, pe_errname(rc),
                     pe_errname(want_rc), err);
    CHECK(sim == NULL);
    CHECK_HAS(err, want_err);
    /* Nothing of a refused script ran. */
    CHECK(!pe_fake_keypad_queued(r->devs.keypad) && !pe_fake_scanner_queued(r->devs.scanner));
}

static void t_scenario_refusals(void)
{
    struct rig r;
    rig_open(&r);
    expect_refusal(&r, "{\"do\":\"scan\"}\n", PE_EINVAL, "s.jsonl:1: scan: missing \"barcode\"");
    expect_refusal(&r,
                   "# header\n\n{\"do\":\"login\",\"operator\":\"a\"}\n"
                   "{\"do\":\"subtotal\"}\n\n# more\n{\"do\":\"scan\"}\n",
                   PE_EINVAL, "s.jsonl:7: scan: missing \"barcode\"");
    expect_refusal(&r, "{\"do\":\"login\",\"operator\":\"a\"}\n{\"do\":\"dance\"}\n", PE_EINVAL,
                   "s.jsonl:2: unknown action \"dance\"");
    expect_refusal(&r, "{\"do\":\"scan\",\"barcode\":\"1\",\"qtty\":2}", PE_EINVAL,
                   "s.jsonl:1: scan: unknown field \"qtty\"");
    expect_refusal(&r, "{\"do\":\"scan\",\"barcode\":\"1\",\"qty\":\"3\"}", PE_EINVAL,
                   "scan: \"qty\" must be an integer");
    expect_refusal(&r, "{\"do\":\"scan\",\"barcode\":1}", PE_EINVAL,
                   "scan: \"barcode\" must be a string");
    expect_refusal(&r, "{\"do\":\"qty\",\"qty\":2.5}", PE_EINVAL, "\"qty\" must be an integer");
    expect_refusal(&r, "{\"do\":\"weigh\",\"grams\":5,\"stable\":1}", PE_EINVAL,
                   "\"stable\" must be true or false");
    expect_refusal(&r, "{\"do\":\"subtotal\",\"wait\":-1}", PE_EINVAL, "\"wait\" must be");
    expect_refusal(&r, "\n{\"do\":", PE_EPARSE, "s.jsonl:2: malformed JSON");
    expect_refusal(&r, "{\"do\":\"cancel\"} trailing", PE_EPARSE, "s.jsonl:1: malformed JSON");
    expect_refusal(&r, "[1,2]", PE_EINVAL, "s.jsonl:1: expected a JSON object");
    expect_refusal(&r, "{\"wait\":5}", PE_EINVAL, "s.jsonl:1: missing \"do\"");
    expect_refusal(&r, "{\"do\":\"clock\",\"ts\":\"2026-11-21 08:00\"}", PE_EINVAL,
                   "clock: \"ts\" must be");
    expect_refusal(&r, "{\"do\":\"tender\",\"method\":\"card\",\"card\":\"4111111111111112\"}",
                   PE_EINVAL, "tender: \"card\" must be 12..19 digits passing the Luhn check");
    expect_refusal(&r,
                   "{\"do\":\"tender\",\"method\":\"cash\",\"card\":\"4111111111111111\","
                   "\"amount\":5}",
                   PE_EINVAL, "tender: unknown field \"card\"");
    expect_refusal(&r, "{\"do\":\"tender\",\"method\":\"cash\"}", PE_EINVAL,
                   "tender: missing \"amount\"");
    expect_refusal(&r, "{\"do\":\"tender\",\"method\":\"cash\",\"amount\":\"lots\"}", PE_EINVAL,
                   "tender: \"amount\" must be");
    expect_refusal(&r, "{\"do\":\"tender\",\"method\":\"cheque\"}", PE_EINVAL,
                   "tender: \"method\" must be \"cash\" or \"card\"");
    expect_refusal(&r, "{\"do\":\"discount\",\"percent_bp\":10,\"amount\":5}", PE_EINVAL,
                   "discount: needs exactly one of");
    expect_refusal(&r, "{\"do\":\"return\"}", PE_EINVAL, "return: needs exactly one of");
    expect_refusal(&r, "{\"do\":\"inventory_receipt\",\"lines\":[]}", PE_EINVAL,
                   "inventory_receipt: \"lines\" must be an array");
    expect_refusal(&r,
                   "{\"do\":\"inventory_receipt\",\"lines\":[{\"item\":\"A\",\"qty\":1},"
                   "{\"item\":\"B\"}]}",
                   PE_EINVAL, "inventory_receipt: lines[1]: missing \"qty\"");
    expect_refusal(&r,
                   "{\"do\":\"inventory_adjust\",\"reason\":\"x\",\"lines\":[{\"barcode\":"
                   "\"1\",\"item\":\"A\",\"qty\":1}]}",
                   PE_EINVAL, "lines[0]: needs exactly one of \"barcode\" and \"item\"");
    expect_refusal(&r, "{\"do\":\"inventory_adjust\",\"lines\":[{\"item\":\"A\",\"qty\":1}]}",
                   PE_EINVAL, "inventory_adjust: missing \"reason\"");
    expect_refusal(&r, "{\"do\":\"inventory_receipt\",\"lines\":[{\"item\":\"A\",\"qty\":-1}]}",
                   PE_EINVAL, "lines[0]: \"qty\" must be 1..");
    expect_refusal(&r, "{\"do\":\"login\"}", PE_EINVAL, "login: missing \"operator\"");
    expect_refusal(&r, "{\"do\":\"wait\"}", PE_EINVAL, "wait: missing \"ms\"");

    struct pe_sim *sim = NULL;
    char err[256] = "";
    CHECK_INT(
        pe_sim_scenario_create(pe_test_path(1, "absent.jsonl"), &r.devs, 0, &sim, err, sizeof err),
        PE_EIO);
    CHECK_HAS(err, "absent.jsonl");

    /* The keypad and the payment terminal must be fakes: the scenario plays the operator and
     * the card. The scanner and the scale may be real ("device" steps wait for them). */
    static const struct pe_keypad_ops other_keypad = {.dev.name = "evdev"};
    struct pe_keypad not_fake_keypad = {.dev.ops = &other_keypad.dev};
    struct pe_sim_devices devs = r.devs;
    devs.keypad = &not_fake_keypad;
    CHECK_INT(pe_sim_scenario_create(write_tmp("ok.jsonl", "{\"do\":\"cancel\"}\n"), &devs, 0, &sim,
                                     err, sizeof err),
              PE_EINVAL);
    CHECK_HAS(err, "keypad");
    static const struct pe_scale_ops other = {.dev.name = "serial"};
    struct pe_scale not_fake = {.dev.ops = &other.dev};
    devs = r.devs;
    devs.scale = &not_fake;
    CHECK_OK(
        pe_sim_scenario_create(write_tmp("dev.jsonl", "{\"do\":\"device\",\"input\":\"weigh\"}\n"),
                               &devs, 0, &sim, err, sizeof err));
    /* A device step waits for the real input, and is done once it came. */
    CHECK_OK(pe_sim_step(sim));
    CHECK(pe_sim_pending(sim));
    pe_sim_device_input(sim, 0); /* a scan does not count for a weight */
    CHECK(pe_sim_pending(sim));
    pe_sim_device_input(sim, 1);
    CHECK(!pe_sim_pending(sim));
    pe_sim_destroy(sim);
    CHECK_INT(
        pe_sim_scenario_create(write_tmp("bad.jsonl", "{\"do\":\"device\",\"input\":\"key\"}\n"),
                               &r.devs, 0, &sim, err, sizeof err),
        PE_EINVAL);
    CHECK_HAS(err, "input");
    rig_close(&r);
}

/* ---- The shopper -------------------------------------------------------------------------- */

static struct pe_catalog *load_catalog(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/boards/sim/catalog.json", pe_test_srcdir());
    struct pe_catalog *cat = NULL;
    char err[256] = "";
    int rc = pe_catalog_load(path, &cat, err, sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "catalog: %s", err);
    return cat;
}

static struct pe_shopper_opts opts_at(uint64_t seed, const char *start)
{
    struct pe_shopper_opts o;
    pe_shopper_opts_default(&o);
    o.seed = seed;
    o.start_ms = ts_ms(start);
    return o;
}

/* Run a shopper for up to max_steps and return what the till saw (caller frees). */
static char *shopper_run(const struct pe_catalog *cat, const struct pe_shopper_opts *o,
                         int max_steps, int64_t *customers)
{
    struct rig r;
    rig_open(&r);
    struct pe_sim *sim = NULL;
    char err[256] = "";
    int rc = pe_sim_shopper_create(cat, o, &r.devs, &sim, err, sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "shopper: %s", err);
    run(&r, sim, max_steps);
    if (customers)
        *customers = pe_sim_customers(sim);
    pe_sim_destroy(sim);
    char *out = r.rec ? r.rec : strdup("");
    r.rec = NULL;
    rig_close(&r);
    return out;
}

static void t_shopper_defaults(void)
{
    struct pe_shopper_opts o;
    memset(&o, 0x5a, sizeof o);
    pe_shopper_opts_default(&o);
    CHECK_INT(o.seed, 1);
    CHECK_INT(o.transactions, -1);
    CHECK_INT(o.start_ms, 0);
    CHECK_INT(o.tx_per_day, 300);
    CHECK_INT(o.open_hour, 8);
    CHECK_INT(o.close_hour, 20);
    CHECK_INT(o.card_pm, 550);
    CHECK_INT(o.split_pm, 50);
    CHECK_INT(o.decline_pm, 40);
    CHECK_INT(o.return_pm, 30);
    CHECK_INT(o.void_pm, 20);
    CHECK_INT(o.nosale_pm, 15);
    CHECK_INT(o.weighed_pm, 120);
    CHECK_INT(o.error_pm, 20);
    CHECK_INT(o.max_lines, 8);
    CHECK_STR(o.operator_, "op01");
}

static void t_shopper_refuses_bad_options(void)
{
    struct pe_catalog *cat = load_catalog();
    struct rig r;
    rig_open(&r);
    struct pe_shopper_opts o;
    struct pe_sim *sim = NULL;
    char err[256];
#define REFUSE(stmt, msg)                                                                          \
    do {                                                                                           \
        pe_shopper_opts_default(&o);                                                               \
        stmt;                                                                                      \
        err[0] = '\0';                                                                             \
        CHECK_INT(pe_sim_shopper_create(cat, &o, &r.devs, &sim, err, sizeof err), PE_EINVAL);      \
        CHECK(sim == NULL);                                                                        \
        CHECK_HAS(err, msg);                                                                       \
    } while (0)
    REFUSE(o.card_pm = 1001, "card_pm must be 0..1000");
    REFUSE(o.error_pm = -1, "error_pm");
    REFUSE(o.decline_pm = 5000, "decline_pm");
    REFUSE((o.card_pm = 900, o.split_pm = 200), "card_pm + split_pm");
    REFUSE((o.nosale_pm = 500, o.return_pm = 400, o.void_pm = 200), "nosale_pm + return_pm");
    REFUSE(o.open_hour = 24, "open_hour must be 0..23");
    REFUSE(o.close_hour = -1, "close_hour must be 0..23");
    REFUSE((o.open_hour = 20, o.close_hour = 8), "open_hour must be before close_hour");
    REFUSE(o.tx_per_day = 0, "tx_per_day");
    REFUSE(o.max_lines = 0, "max_lines must be 1..30");
    REFUSE(o.max_lines = 31, "max_lines must be 1..30");
    REFUSE(o.operator_[0] = '\0', "operator");
    REFUSE(memset(o.operator_, 'x', sizeof o.operator_), "operator");
#undef REFUSE
    rig_close(&r);
    pe_catalog_destroy(cat);
}

static void t_shopper_deterministic(void)
{
    struct pe_catalog *cat = load_catalog();
    struct pe_shopper_opts o = opts_at(7, "2026-11-21T06:30:00.000Z");
    char *a = shopper_run(cat, &o, 3000, NULL);
    char *b = shopper_run(cat, &o, 3000, NULL);
    CHECK(strlen(a) > 10000);
    CHECK_STR(a, b);
    o.seed = 8;
    char *c = shopper_run(cat, &o, 3000, NULL);
    CHECK(strcmp(a, c) != 0);
    /* The day opens at 08:00 with the operator's login and the float. */
    CHECK(strncmp(a, "2026-11-21T08:00:00.000Z login text=op01\n", 41) == 0);
    CHECK_HAS(a, "shift_open amount=20000\n");
    /* Both tenders, weighed produce and QTY keys show up in a few hundred steps. */
    CHECK_HAS(a, " tender_card ");
    CHECK_HAS(a, " tender_cash ");
    CHECK_HAS(a, " stable\n");
    CHECK_HAS(a, " qty qty=");
    CHECK_HAS(a, " subtotal\n");
    free(a);
    free(b);
    free(c);
    pe_catalog_destroy(cat);
}

static void t_shopper_transactions_eof(void)
{
    struct pe_catalog *cat = load_catalog();
    struct pe_shopper_opts o = opts_at(3, "2026-11-21T09:00:00.000Z");
    o.transactions = 25; /* a few hours' trade at 300 a day: no day end on the way */
    int64_t customers = 0;
    char *a = shopper_run(cat, &o, 100000, &customers);
    CHECK_INT(customers, 25);
    CHECK(strstr(a, "shift_close") == NULL);
    CHECK(strstr(a, "z_report") == NULL);
    /* Starting inside trading hours logs in a second later. */
    CHECK(strncmp(a, "2026-11-21T09:00:01.000Z login text=op01\n", 41) == 0);
    /* The last customer finished: the last input is a tender or a cancel or a no-sale. */
    size_t n = strlen(a);
    CHECK(n > 2);
    const char *last = a + n - 2;
    while (last > a && *last != '\n')
        last--;
    CHECK(strstr(last, "tender_") || strstr(last, "cancel") || strstr(last, "no_sale"));
    free(a);

    o.transactions = 0;
    a = shopper_run(cat, &o, 100, &customers);
    CHECK_INT(customers, 0);
    free(a);
    pe_catalog_destroy(cat);
}

static void t_shopper_day_end(void)
{
    struct pe_catalog *cat = load_catalog();
    struct pe_shopper_opts o = opts_at(11, "2026-11-21T07:00:00.000Z");
    o.tx_per_day = 4;
    o.transactions = 9; /* two full days and one customer on the third */
    int64_t customers = 0;
    char *a = shopper_run(cat, &o, 100000, &customers);
    CHECK_INT(customers, 9);
    const char *close1 = strstr(a, " shift_close");
    CHECK(close1 != NULL);
    const char *z1 = strstr(close1, " z_report\n");
    CHECK(z1 != NULL);
    CHECK_HAS(z1, "2026-11-22T08:00:00.000Z login text=op01\n");
    const char *login2 = strstr(z1, "2026-11-22T08:00:00.000Z login text=op01\n");
    CHECK(strstr(login2, " shift_open amount=20000\n") != NULL);
    const char *close2 = strstr(login2, " shift_close");
    CHECK(close2 != NULL);
    CHECK(strstr(close2, " z_report\n") != NULL);
    CHECK_HAS(close2, "2026-11-23T08:00:00.000Z login text=op01\n");
    /* Only two day ends for 9 customers at 4 a day, none after the last customer. */
    int zs = 0;
    for (const char *p = a; (p = strstr(p, " z_report")); p++)
        zs++;
    CHECK_INT(zs, 2);
    free(a);

    /* Time runs out before customers do: the day also ends at close_hour. */
    o = opts_at(12, "2026-11-21T19:30:00.000Z");
    o.transactions = 30; /* 300 a day: one every 2.4 minutes on average */
    a = shopper_run(cat, &o, 100000, &customers);
    CHECK_INT(customers, 30);
    CHECK_HAS(a, "2026-11-22T08:00:00.000Z login text=op01\n");
    CHECK_HAS(a, " z_report\n");
    free(a);
    pe_catalog_destroy(cat);
}

static void t_shopper_mistakes(void)
{
    struct pe_catalog *cat = load_catalog();
    struct pe_shopper_opts o = opts_at(5, "2026-11-21T08:00:00.000Z");
    o.error_pm = 1000;
    o.weighed_pm = 500;
    o.transactions = 40;
    char *a = shopper_run(cat, &o, 100000, NULL);
    CHECK_HAS(a, " moving\n");
    CHECK_HAS(a, " line_void line=");
    const char *p = strstr(a, " scan 299");
    CHECK(p != NULL);
    char code[14];
    memcpy(code, p + 6, 13);
    code[13] = '\0';
    CHECK(pe_ean13_valid(code));
    CHECK(pe_catalog_by_barcode(cat, code) == NULL);

    /* Replay the trace through a minimal till: each LINE_VOID names the last line it rang up
     * (voided lines keep their numbers), and every weighed scan it accepts had a stable
     * reading before it. */
    int lines = 0, voids = 0, accepted_weighed = 0;
    bool stable = false;
    for (const char *l = a; *l; l = strchr(l, '\n') + 1) {
        const char *what = l + 25;
        if (!strncmp(what, "weigh ", 6)) {
            stable = strstr(what, " stable\n") && strstr(what, " stable\n") < strchr(what, '\n');
        } else if (!strncmp(what, "scan ", 5)) {
            char bc[14];
            memcpy(bc, what + 5, 13);
            bc[13] = '\0';
            const struct pe_item *it = pe_catalog_by_barcode(cat, bc);
            if (it && (!it->weighed || stable))
                lines++;
            if (it && it->weighed && stable)
                accepted_weighed++;
            stable = false;
        } else if (!strncmp(what, "line_void line=", 15)) {
            CHECK_INT(atoi(what + 15), lines);
            voids++;
        } else if (!strncmp(what, "subtotal", 8) || !strncmp(what, "cancel", 6) ||
                   !strncmp(what, "tender_", 7) || !strncmp(what, "return", 6)) {
            lines = 0;
        }
    }
    CHECK(voids > 5);
    CHECK(accepted_weighed > 5);
    free(a);

    /* Declines: the first card is refused and the customer pays cash. */
    o = opts_at(6, "2026-11-21T08:00:00.000Z");
    o.card_pm = 1000;
    o.split_pm = 0;
    o.decline_pm = 1000;
    o.transactions = 10;
    o.nosale_pm = o.return_pm = o.void_pm = 0;
    a = shopper_run(cat, &o, 100000, NULL);
    CHECK_HAS(a, " tender_card card=1 declined by issuer\n");
    CHECK(strstr(a, "approved") == NULL);
    CHECK_HAS(a, " tender_cash flags=2\n");
    free(a);

    /* Splits: card for part with the SPLIT flag, then cash for the rest. */
    o.card_pm = 0;
    o.split_pm = 1000;
    o.decline_pm = 0;
    a = shopper_run(cat, &o, 100000, NULL);
    CHECK_HAS(a, " flags=4 card=1 approved\n");
    CHECK_HAS(a, " tender_cash flags=2\n");
    free(a);
    pe_catalog_destroy(cat);
}

static void t_shopper_returns_after_commit(void)
{
    struct pe_catalog *cat = load_catalog();
    const struct pe_item *weighed = NULL, *counted = NULL;
    for (size_t i = 0; i < pe_catalog_count(cat); i++) {
        const struct pe_item *it = pe_catalog_at(cat, i);
        if (it->weighed && !weighed)
            weighed = it;
        if (!it->weighed && !counted)
            counted = it;
    }
    CHECK(weighed && counted);

    struct rig r;
    rig_open(&r);
    struct pe_shopper_opts o = opts_at(9, "2026-11-21T08:00:00.000Z");
    o.return_pm = 1000;
    o.nosale_pm = o.void_pm = 0;
    struct pe_sim *sim = NULL;
    char err[256];
    CHECK_OK(pe_sim_shopper_create(cat, &o, &r.devs, &sim, err, sizeof err));

    /* Without a committed sale there is nothing to return: customers buy. */
    run(&r, sim, 200);
    CHECK(strstr(r.rec, " return ") == NULL);
    CHECK(pe_sim_customers(sim) > 3);

    /* A committed sale (with malformed lines that must be skipped) brings a return. */
    char body[1024];
    snprintf(body, sizeof body,
             "{\"currency\":\"EUR\",\"lines\":["
             "{\"line\":1,\"item\":\"%s\",\"barcode\":\"%s\",\"qty\":2,\"unit\":\"each\"},"
             "{\"line\":2,\"item\":\"%s\",\"barcode\":\"%s\",\"qty\":640,\"unit\":\"g\"},"
             "{\"line\":3,\"barcode\":\"123\",\"qty\":1,\"unit\":\"each\"},"
             "{\"line\":4,\"item\":\"%s\",\"qty\":\"x\",\"unit\":\"each\"},"
             "{\"line\":5,\"item\":\"%s\",\"qty\":1,\"unit\":\"lb\"},"
             "17],\"tenders\":[],\"totals\":{}}",
             counted->id, counted->barcode, weighed->id, weighed->barcode, counted->id,
             counted->id);
    cJSON *j = cJSON_Parse(body);
    CHECK(j != NULL);
    pe_sim_sale_committed(sim, 12, "0b5f3f1e-2f4d-4c4e-9d7e-1a2b3c4d5e6f", j);
    pe_sim_sale_committed(sim, 13, "x", NULL); /* malformed: ignored */
    cJSON_Delete(j);

    size_t mark = r.len;
    run(&r, sim, 300);
    const char *ret = strstr(r.rec + mark, " return ref=12\n");
    CHECK(ret != NULL);
    /* Then the weighed line (stable weigh of the sold grams, then its scan) or the counted
     * one (its scan), then cash back, exactly. */
    const char *next = strchr(ret + 1, '\n') + 1;
    char want[128];
    if (strstr(next, " weigh ") && strstr(next, " weigh ") < strchr(next, '\n')) {
        CHECK_HAS(next, " weigh 640 stable\n");
        next = strchr(next, '\n') + 1;
        snprintf(want, sizeof want, " scan %s\n", weighed->barcode);
    } else {
        snprintf(want, sizeof want, " scan %s\n", counted->barcode);
    }
    CHECK(strncmp(next + 24, want, strlen(want)) == 0);
    next = strchr(next, '\n') + 1;
    CHECK(strncmp(next + 24, " tender_cash flags=1\n", 21) == 0);
    /* One return per remembered sale. */
    CHECK(strstr(next, " return ") == NULL);
    pe_sim_destroy(sim);
    rig_close(&r);
    pe_catalog_destroy(cat);
}

static void t_shopper_endless_day_after_day(void)
{
    struct pe_catalog *cat = load_catalog();
    struct pe_shopper_opts o = opts_at(1, "2026-11-21T08:00:00.000Z");
    int64_t customers = 0;
    char *a = shopper_run(cat, &o, 20000, &customers);
    /* Endless: still going after 20000 steps, across several trading days. */
    CHECK(customers > 500);
    CHECK_HAS(a, "2026-11-22T08:00:00.000Z login text=op01\n");
    CHECK_HAS(a, " declined by issuer\n");
    CHECK_HAS(a, " no_sale text=change\n");
    CHECK_HAS(a, " cancel\n");
    /* Customers only while the shop is open: no input between 20:10 and 08:00. */
    for (const char *l = a; *l; l = strchr(l, '\n') + 1) {
        int hh = (l[11] - '0') * 10 + (l[12] - '0');
        int mm = (l[14] - '0') * 10 + (l[15] - '0');
        CHECK(hh >= 8 && (hh < 20 || (hh == 20 && mm < 10)));
    }
    free(a);
    pe_catalog_destroy(cat);
}

static const struct pe_test tests[] = {
    {"scenario_run", t_scenario_run},
    {"scenario_empty", t_scenario_empty},
    {"scenario_refusals", t_scenario_refusals},
    {"shopper_defaults", t_shopper_defaults},
    {"shopper_refuses_bad_options", t_shopper_refuses_bad_options},
    {"shopper_deterministic", t_shopper_deterministic},
    {"shopper_transactions_eof", t_shopper_transactions_eof},
    {"shopper_day_end", t_shopper_day_end},
    {"shopper_mistakes", t_shopper_mistakes},
    {"shopper_returns_after_commit", t_shopper_returns_after_commit},
    {"shopper_endless_day_after_day", t_shopper_endless_day_after_day},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("sim", tests, argc, argv);
}
