/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_hal_fake.c - unit tests of the driver registry and the fake drivers, each reached the
 * way the daemon reaches it: looked up by name, opened through its ops table and used through
 * the class header's wrappers. The back doors of hal/fake/fake.h play the outside world.
 */
#define _GNU_SOURCE /* memmem */
#include <poll.h>
#include <qrencode.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "hal/fake/fake.h"
#include "posedge/crypto.h"
#include "posedge/hal/board.h"
#include "tests/unit/harness.h"

#define CHECK_HAS(hay, needle)                                                                     \
    do {                                                                                           \
        const char *h__ = (hay), *n__ = (needle);                                                  \
        if (!h__ || !strstr(h__, n__))                                                             \
            pe_test_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"", h__ ? h__ : "",     \
                         n__);                                                                     \
    } while (0)

/* True when fd polls readable right now. */
static bool readable(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, 0);
    CHECK(n >= 0);
    return n == 1 && (p.revents & POLLIN);
}

static struct pe_hal_devcfg cfg_tmp(void)
{
    struct pe_hal_devcfg cfg = {.driver = "fake", .path = "", .data_dir = pe_test_tmpdir()};
    return cfg;
}

/* The whole file as a string (caller frees), or NULL when it does not exist. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = calloc(1, 1 << 20);
    CHECK(buf != NULL);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void t_registry(void)
{
    CHECK(pe_hal_scanner_driver("fake") == &pe_fake_scanner_ops);
    CHECK(pe_hal_scale_driver("fake") == &pe_fake_scale_ops);
    CHECK(pe_hal_printer_driver("fake") == &pe_fake_printer_ops);
    CHECK(pe_hal_payment_driver("fake") == &pe_fake_payment_ops);
    CHECK(pe_hal_display_driver("fake") == &pe_fake_display_ops);
    CHECK(pe_hal_keypad_driver("fake") == &pe_fake_keypad_ops);
#ifdef PE_HAL_linux
    /* The board builds the Linux drivers too: each answers to its class's name only. */
    CHECK(pe_hal_scanner_driver("evdev") != NULL);
    CHECK(pe_hal_scanner_driver("serial") != NULL);
    CHECK(pe_hal_scale_driver("serial") != NULL);
    CHECK(pe_hal_printer_driver("escpos") != NULL);
    CHECK(pe_hal_display_driver("serial") != NULL);
    CHECK(pe_hal_scale_driver("evdev") == NULL);
    CHECK(pe_hal_keypad_driver("serial") == NULL);
    CHECK_STR(pe_hal_driver_names(), "fake evdev serial escpos");
#else
    CHECK(pe_hal_scanner_driver("evdev") == NULL);
    CHECK_STR(pe_hal_driver_names(), "fake");
#endif
    CHECK(pe_hal_keypad_driver("") == NULL);
    CHECK(pe_hal_printer_driver(NULL) == NULL);
    CHECK_STR(pe_fake_scanner_ops.dev.name, "fake");

    CHECK_STR(pe_key_kind_name(PE_KEY_LOGIN), "login");
    CHECK_STR(pe_key_kind_name(PE_KEY_TENDER_CASH), "tender_cash");
    CHECK_STR(pe_key_kind_name(PE_KEY_INV_COUNT), "inv_count");
    CHECK_STR(pe_key_kind_name(PE_KEY_Z_REPORT), "z_report");
    CHECK_STR(pe_key_kind_name((enum pe_key_kind)0), "?");
    CHECK_STR(pe_key_kind_name((enum pe_key_kind)999), "?");
    CHECK_STR(pe_key_kind_name(PE_KEY_CUSTOMER), "customer");
    for (int k = PE_KEY_LOGIN; k <= PE_KEY_CUSTOMER; k++)
        CHECK(strcmp(pe_key_kind_name((enum pe_key_kind)k), "?") != 0);
}

static void t_scanner_queue(void)
{
    struct pe_hal_devcfg cfg = cfg_tmp();
    struct pe_scanner *sc = NULL;
    CHECK_OK(pe_scanner_open(pe_hal_scanner_driver("fake"), &cfg, &sc));
    int fd = pe_scanner_fd(sc);
    CHECK(fd >= 0);
    struct pe_scan scan;
    CHECK(!readable(fd));
    CHECK_INT(pe_scanner_read(sc, &scan), PE_EAGAIN);

    CHECK_OK(pe_fake_scanner_push(sc, "4006381333931"));
    CHECK_OK(pe_fake_scanner_push(sc, "5901234123457"));
    CHECK_INT(pe_fake_scanner_queued(sc), 2);
    CHECK(readable(fd));
    CHECK_OK(pe_scanner_read(sc, &scan));
    CHECK_STR(scan.code, "4006381333931");
    CHECK(readable(fd)); /* one still waits */
    CHECK_OK(pe_scanner_read(sc, &scan));
    CHECK_STR(scan.code, "5901234123457");
    CHECK(!readable(fd));
    CHECK_INT(pe_scanner_read(sc, &scan), PE_EAGAIN);
    CHECK_INT(pe_fake_scanner_queued(sc), 0);

    for (int i = 0; i < PE_FAKE_QUEUE_MAX; i++)
        CHECK_OK(pe_fake_scanner_push(sc, "1"));
    CHECK_INT(pe_fake_scanner_push(sc, "1"), PE_EFULL);
    for (int i = 0; i < PE_FAKE_QUEUE_MAX; i++) {
        CHECK(readable(fd));
        CHECK_OK(pe_scanner_read(sc, &scan));
    }
    CHECK(!readable(fd));

    char longcode[PE_SCAN_MAX + 1];
    memset(longcode, '7', PE_SCAN_MAX);
    longcode[PE_SCAN_MAX] = '\0';
    CHECK_INT(pe_fake_scanner_push(sc, longcode), PE_EINVAL);
    CHECK_INT(pe_fake_scanner_push(sc, ""), PE_EINVAL);
    CHECK_INT(pe_fake_scanner_push(sc, NULL), PE_EINVAL);

    /* Disabled: what waited is dropped and new scans are refused. */
    CHECK_OK(pe_fake_scanner_push(sc, "1"));
    CHECK_OK(pe_scanner_enable(sc, false));
    CHECK(!readable(fd));
    CHECK_INT(pe_fake_scanner_push(sc, "2"), PE_ESTATE);
    CHECK_OK(pe_scanner_enable(sc, true));
    CHECK_OK(pe_fake_scanner_push(sc, "3"));
    CHECK_OK(pe_scanner_read(sc, &scan));
    CHECK_STR(scan.code, "3");

    enum pe_health h = PE_HEALTH_FAILED;
    CHECK_OK(pe_scanner_health(sc, &h));
    CHECK_INT(h, PE_HEALTH_OK);
    pe_scanner_close(sc);
    pe_scanner_close(NULL);
}

static void t_scale_queue(void)
{
    struct pe_hal_devcfg cfg = cfg_tmp();
    struct pe_scale *s = NULL;
    CHECK_OK(pe_scale_open(pe_hal_scale_driver("fake"), &cfg, &s));
    int fd = pe_scale_fd(s);
    struct pe_weight w;
    CHECK(!readable(fd));
    CHECK_INT(pe_scale_read(s, &w), PE_EAGAIN);
    CHECK_OK(pe_fake_scale_push(s, 512, false));
    CHECK_OK(pe_fake_scale_push(s, -3, true));
    CHECK_INT(pe_fake_scale_queued(s), 2);
    CHECK(readable(fd));
    CHECK_OK(pe_scale_read(s, &w));
    CHECK_INT(w.grams, 512);
    CHECK(!w.stable);
    CHECK_OK(pe_scale_read(s, &w));
    CHECK_INT(w.grams, -3);
    CHECK(w.stable);
    CHECK(!readable(fd));
    for (int i = 0; i < PE_FAKE_QUEUE_MAX; i++)
        CHECK_OK(pe_fake_scale_push(s, i, true));
    CHECK_INT(pe_fake_scale_push(s, 1, true), PE_EFULL);

    /* The fake reports continuously: the optional request op is absent. */
    CHECK(pe_fake_scale_ops.request == NULL);
    CHECK_INT(pe_scale_request(s), PE_ENOTSUP);
    CHECK_OK(pe_scale_zero(s));
    enum pe_health h;
    CHECK_OK(pe_scale_health(s, &h));
    CHECK_INT(h, PE_HEALTH_OK);
    pe_scale_close(s);
}

static void t_keypad_queue(void)
{
    struct pe_hal_devcfg cfg = cfg_tmp();
    struct pe_keypad *k = NULL;
    CHECK_OK(pe_keypad_open(pe_hal_keypad_driver("fake"), &cfg, &k));
    int fd = pe_keypad_fd(k);
    struct pe_key_input in, out;
    CHECK(!readable(fd));
    CHECK_INT(pe_keypad_read(k, &out), PE_EAGAIN);

    memset(&in, 0, sizeof in);
    in.kind = PE_KEY_INV_RECEIPT;
    snprintf(in.text, sizeof in.text, "PO-1");
    in.nlines = 2;
    snprintf(in.lines[0].code, sizeof in.lines[0].code, "4006381333931");
    in.lines[0].qty = 24;
    snprintf(in.lines[1].code, sizeof in.lines[1].code, "SKU-00001");
    in.lines[1].qty = 6;
    CHECK_OK(pe_fake_keypad_push(k, &in));
    memset(&in, 0, sizeof in);
    in.kind = PE_KEY_TENDER_CASH;
    in.flags = PE_KEYF_EXACT;
    CHECK_OK(pe_fake_keypad_push(k, &in));
    CHECK_INT(pe_fake_keypad_queued(k), 2);

    CHECK(readable(fd));
    CHECK_OK(pe_keypad_read(k, &out));
    CHECK_INT(out.kind, PE_KEY_INV_RECEIPT);
    CHECK_STR(out.text, "PO-1");
    CHECK_INT(out.nlines, 2);
    CHECK_STR(out.lines[1].code, "SKU-00001");
    CHECK_INT(out.lines[0].qty, 24);
    CHECK_OK(pe_keypad_read(k, &out));
    CHECK_INT(out.kind, PE_KEY_TENDER_CASH);
    CHECK_INT(out.flags, PE_KEYF_EXACT);
    CHECK(!readable(fd));

    in.nlines = PE_KEY_MAX_LINES + 1;
    CHECK_INT(pe_fake_keypad_push(k, &in), PE_EINVAL);
    in.nlines = 0;
    for (int i = 0; i < PE_FAKE_QUEUE_MAX; i++)
        CHECK_OK(pe_fake_keypad_push(k, &in));
    CHECK_INT(pe_fake_keypad_push(k, &in), PE_EFULL);
    enum pe_health h;
    CHECK_OK(pe_keypad_health(k, &h));
    pe_keypad_close(k);
}

static void t_back_doors_refuse_other_drivers(void)
{
    /* A handle of some other driver must never be taken for a fake. */
    static const struct pe_scanner_ops other_scanner = {.dev.name = "other"};
    static const struct pe_printer_ops other_printer = {.dev.name = "other"};
    static const struct pe_payment_ops other_payment = {.dev.name = "other"};
    static const struct pe_display_ops other_display = {.dev.name = "other"};
    struct pe_scanner sc = {.dev.ops = &other_scanner.dev};
    struct pe_printer pr = {.dev.ops = &other_printer.dev};
    struct pe_payment pay = {.dev.ops = &other_payment.dev};
    struct pe_display d = {.dev.ops = &other_display.dev};
    CHECK_INT(pe_fake_scanner_push(&sc, "1"), PE_EINVAL);
    CHECK_INT(pe_fake_scanner_queued(&sc), 0);
    CHECK_INT(pe_fake_scanner_push(NULL, "1"), PE_EINVAL);
    CHECK_INT(pe_fake_printer_set_fail(&pr, true), PE_EINVAL);
    CHECK_INT(pe_fake_printer_kicks(&pr), 0);
    CHECK_INT(pe_fake_payment_present(&pay, "4111111111111111", false, NULL), PE_EINVAL);
    CHECK(!pe_fake_payment_busy(&pay));
    const char *l1, *l2;
    CHECK_INT(pe_fake_display_lines(&d, &l1, &l2), PE_EINVAL);
    /* The wrappers report missing optional ops. */
    CHECK_INT(pe_scanner_health(&sc, NULL), PE_ENOTSUP);
    CHECK_INT(pe_scanner_enable(&sc, true), PE_ENOTSUP);
    CHECK_INT(pe_printer_cut(&pr), PE_ENOTSUP);
    CHECK_INT(pe_printer_drawer_kick(&pr), PE_ENOTSUP);
    CHECK_INT(pe_payment_cancel(&pay), PE_ENOTSUP);
}

static void expected_token(const char *pan, char out[48])
{
    uint8_t d[PE_SHA256_LEN];
    char hex[PE_SHA256_HEXLEN];
    const char *prefix = "posedge-fake-token/";
    pe_sha256_2(prefix, strlen(prefix), pan, strlen(pan), d);
    pe_hex(d, sizeof d, hex);
    snprintf(out, 48, "tok_%.24s", hex);
}

static struct pe_payment *open_payment(void)
{
    struct pe_hal_devcfg cfg = cfg_tmp();
    struct pe_payment *p = NULL;
    CHECK_OK(pe_payment_open(pe_hal_payment_driver("fake"), &cfg, &p));
    return p;
}

static struct pe_pay_request request(int64_t amount, const char *ref)
{
    struct pe_pay_request r;
    memset(&r, 0, sizeof r);
    r.amount = amount;
    memcpy(r.currency, "EUR", 4);
    snprintf(r.ref, sizeof r.ref, "%s", ref);
    return r;
}

static void t_payment_approve(void)
{
    const char *pan = "4111111111111111";
    struct pe_payment *p = open_payment();
    int fd = pe_payment_fd(p);
    CHECK(!readable(fd));
    struct pe_pay_result res;
    CHECK_INT(pe_payment_read(p, &res), PE_EAGAIN);

    CHECK_OK(pe_fake_payment_present(p, pan, false, NULL));
    CHECK(pe_fake_payment_card_present(p));
    struct pe_pay_request req = request(1234, "0b5f3f1e-2f4d-4c4e-9d7e-1a2b3c4d5e6f");
    CHECK_OK(pe_payment_start(p, &req));
    CHECK(!pe_fake_payment_card_present(p)); /* consumed by the start */
    CHECK(pe_fake_payment_busy(p));
    CHECK(readable(fd));
    memset(&res, 0x55, sizeof res);
    CHECK_OK(pe_payment_read(p, &res));
    CHECK(!readable(fd));
    CHECK(!pe_fake_payment_busy(p));
    CHECK(res.approved);
    CHECK_INT(res.amount, 1234);
    CHECK_STR(res.last4, "1111");
    CHECK_STR(res.scheme, "visa");
    char tok[48];
    expected_token(pan, tok);
    CHECK_STR(res.token, tok);
    CHECK_INT(strlen(res.token), 28);
    CHECK_INT(strlen(res.auth_code), 6);
    CHECK(strspn(res.auth_code, "0123456789") == 6);
    CHECK_STR(res.reason, "");
    /* Nothing the till receives holds the PAN. */
    CHECK(memmem(&res, sizeof res, pan, strlen(pan)) == NULL);
    CHECK(memmem(&res, sizeof res, "411111111111", 12) == NULL);

    /* The same card, ref and amount authorise with the same token and code. */
    char first_auth[16];
    memcpy(first_auth, res.auth_code, sizeof first_auth);
    CHECK_OK(pe_fake_payment_present(p, pan, false, NULL));
    CHECK_OK(pe_payment_start(p, &req));
    CHECK_OK(pe_payment_read(p, &res));
    CHECK_STR(res.auth_code, first_auth);
    CHECK_STR(res.token, tok);

    /* A refund to a presented card is approved alike. */
    CHECK_OK(pe_fake_payment_present(p, "5555555555554444", false, NULL));
    req.refund = true;
    CHECK_OK(pe_payment_start(p, &req));
    CHECK_OK(pe_payment_read(p, &res));
    CHECK(res.approved);
    CHECK_STR(res.scheme, "mastercard");
    CHECK_STR(res.last4, "4444");
    pe_payment_close(p);

    /* The terminal's own record holds tokens, never a PAN. */
    char *log = slurp(pe_test_path(1, "payments.log"));
    CHECK(log != NULL);
    CHECK_HAS(log, tok);
    CHECK_HAS(log, "refund");
    CHECK(strstr(log, pan) == NULL);
    CHECK(strstr(log, "5555555555554444") == NULL);
    free(log);
}

static void t_payment_decline_and_no_card(void)
{
    struct pe_payment *p = open_payment();
    struct pe_pay_request req = request(500, "ref-1");
    struct pe_pay_result res;

    CHECK_OK(pe_payment_start(p, &req));
    CHECK_OK(pe_payment_read(p, &res));
    CHECK(!res.approved);
    CHECK_STR(res.reason, "no card presented");
    CHECK_STR(res.token, "");

    CHECK_OK(pe_fake_payment_present(p, "378282246310005", true, NULL));
    CHECK_OK(pe_payment_start(p, &req));
    CHECK_OK(pe_payment_read(p, &res));
    CHECK(!res.approved);
    CHECK_INT(res.amount, 0);
    CHECK_STR(res.reason, "declined by issuer");
    CHECK_STR(res.scheme, "amex");
    CHECK_STR(res.token, "");
    CHECK_STR(res.auth_code, "");

    CHECK_OK(pe_fake_payment_present(p, "6011111111111117", true, "insufficient funds"));
    CHECK_OK(pe_payment_start(p, &req));
    CHECK_OK(pe_payment_read(p, &res));
    CHECK_STR(res.reason, "insufficient funds");
    CHECK_STR(res.scheme, "card");

    /* The declined card was consumed too. */
    CHECK_OK(pe_payment_start(p, &req));
    CHECK_OK(pe_payment_read(p, &res));
    CHECK_STR(res.reason, "no card presented");

    /* A withdrawn card is gone. */
    CHECK_OK(pe_fake_payment_present(p, "4111111111111111", false, NULL));
    CHECK_OK(pe_fake_payment_present(p, NULL, false, NULL));
    CHECK(!pe_fake_payment_card_present(p));
    pe_payment_close(p);
}

static void t_payment_busy_and_cancel(void)
{
    struct pe_payment *p = open_payment();
    int fd = pe_payment_fd(p);
    struct pe_pay_request req = request(700, "ref-2");
    struct pe_pay_result res;
    CHECK_OK(pe_fake_payment_present(p, "4012888888881881", false, NULL));
    CHECK_OK(pe_payment_start(p, &req));
    CHECK_INT(pe_payment_start(p, &req), PE_EBUSY);
    CHECK_OK(pe_payment_cancel(p));
    CHECK(!readable(fd));
    CHECK(!pe_fake_payment_busy(p));
    CHECK_INT(pe_payment_read(p, &res), PE_EAGAIN);
    CHECK_OK(pe_payment_start(p, &req));
    CHECK(readable(fd));
    CHECK_OK(pe_payment_read(p, &res));
    req.amount = 0;
    CHECK_INT(pe_payment_start(p, &req), PE_EINVAL);
    CHECK_INT(pe_payment_start(p, NULL), PE_EINVAL);
    enum pe_health h;
    CHECK_OK(pe_payment_health(p, &h));
    CHECK_INT(h, PE_HEALTH_OK);
    pe_payment_close(p);
}

static void t_payment_refuses_bad_pan(void)
{
    struct pe_payment *p = open_payment();
    CHECK_INT(pe_fake_payment_present(p, "4111111111111112", false, NULL), PE_EINVAL); /* Luhn */
    CHECK_INT(pe_fake_payment_present(p, "41111111113", false, NULL), PE_EINVAL); /* 11 digits */
    CHECK_INT(pe_fake_payment_present(p, "41111111111111111113", false, NULL), PE_EINVAL);
    CHECK_INT(pe_fake_payment_present(p, "4111-1111-1111-1111", false, NULL), PE_EINVAL);
    CHECK_INT(pe_fake_payment_present(p, "", false, NULL), PE_EINVAL);
    CHECK(!pe_fake_payment_card_present(p));
    CHECK_OK(pe_fake_payment_present(p, "411111111117", false, NULL));        /* 12 digits, Luhn */
    CHECK_OK(pe_fake_payment_present(p, "4111111111111111110", false, NULL)); /* 19 digits */
    CHECK(fake__pan_ok("5105105105105100"));
    CHECK(!fake__pan_ok(NULL));
    pe_payment_close(p);
}

static void t_printer_receipts_and_cut(void)
{
    struct pe_hal_devcfg cfg = cfg_tmp();
    struct pe_printer *pr = NULL;
    CHECK_OK(pe_printer_open(pe_hal_printer_driver("fake"), &cfg, &pr));
    const char *r1 = "SHOP\nItem 1   12.99\nTOTAL    12.99\n";
    CHECK_OK(pe_printer_print(pr, r1, strlen(r1)));
    CHECK_OK(pe_printer_cut(pr));
    CHECK_OK(pe_printer_print(pr, "x\n", 2));
    CHECK_OK(pe_printer_print(pr, "", 0));
    enum pe_health h;
    CHECK_OK(pe_printer_health(pr, &h));
    CHECK_INT(h, PE_HEALTH_OK);
    pe_printer_close(pr);

    char want[512];
    char rule[PE_RECEIPT_COLS + 1];
    memset(rule, '=', PE_RECEIPT_COLS);
    rule[PE_RECEIPT_COLS] = '\0';
    snprintf(want, sizeof want, "%s\n%s\nx\n", r1, rule);
    char *got = slurp(pe_test_path(1, "receipts.txt"));
    CHECK_STR(got, want);
    free(got);

    /* An explicit path wins over the data directory; reopening appends. */
    cfg.path = pe_test_path(2, "paper.txt");
    CHECK_OK(pe_printer_open(&pe_fake_printer_ops, &cfg, &pr));
    CHECK_OK(pe_printer_print(pr, "a\n", 2));
    pe_printer_close(pr);
    CHECK_OK(pe_printer_open(&pe_fake_printer_ops, &cfg, &pr));
    CHECK_OK(pe_printer_print(pr, "b\n", 2));
    pe_printer_close(pr);
    got = slurp(pe_test_path(2, "paper.txt"));
    CHECK_STR(got, "a\nb\n");
    free(got);

    struct pe_hal_devcfg none = {.driver = "fake", .path = "", .data_dir = ""};
    CHECK_INT(pe_printer_open(&pe_fake_printer_ops, &none, &pr), PE_EINVAL);
    struct pe_hal_devcfg bad = {.driver = "fake", .path = "/nonexistent-dir/x/receipts.txt"};
    CHECK_INT(pe_printer_open(&pe_fake_printer_ops, &bad, &pr), PE_EIO);
}

static void t_printer_drawer(void)
{
    struct pe_hal_devcfg cfg = cfg_tmp();
    struct pe_printer *pr = NULL;
    CHECK_OK(pe_printer_open(&pe_fake_printer_ops, &cfg, &pr));
    bool open_ = true;
    CHECK_OK(pe_printer_drawer_is_open(pr, &open_));
    CHECK(!open_);
    CHECK_OK(pe_printer_drawer_kick(pr));
    CHECK_OK(pe_printer_drawer_kick(pr));
    CHECK_INT(pe_fake_printer_kicks(pr), 2);
    CHECK_OK(pe_printer_drawer_is_open(pr, &open_));
    CHECK(open_);
    CHECK_OK(pe_fake_drawer_close(pr));
    CHECK_OK(pe_printer_drawer_is_open(pr, &open_));
    CHECK(!open_);
    pe_printer_close(pr);

    char *log = slurp(pe_test_path(1, "drawer.log"));
    CHECK(log != NULL);
    char *l2 = strchr(log, '\n');
    CHECK(l2 != NULL);
    *l2++ = '\0';
    /* "<ISO UTC time> drawer kick n=<count>" */
    CHECK_INT(strlen(log), 24 + strlen(" drawer kick n=1"));
    CHECK_STR(log + 24, " drawer kick n=1");
    CHECK(log[10] == 'T' && log[23] == 'Z');
    CHECK_STR(l2 + 24, " drawer kick n=2\n");
    free(log);
}

static void t_printer_failure(void)
{
    struct pe_hal_devcfg cfg = cfg_tmp();
    struct pe_printer *pr = NULL;
    CHECK_OK(pe_printer_open(&pe_fake_printer_ops, &cfg, &pr));
    CHECK_OK(pe_fake_printer_set_fail(pr, true));
    CHECK_INT(pe_printer_print(pr, "lost\n", 5), PE_EIO);
    CHECK_INT(pe_printer_cut(pr), PE_EIO);
    enum pe_health h;
    CHECK_OK(pe_printer_health(pr, &h));
    CHECK_INT(h, PE_HEALTH_FAILED);
    CHECK_OK(pe_fake_printer_set_fail(pr, false));
    CHECK_OK(pe_printer_print(pr, "kept\n", 5));
    CHECK_OK(pe_printer_health(pr, &h));
    CHECK_INT(h, PE_HEALTH_OK);
    pe_printer_close(pr);
    char *got = slurp(pe_test_path(1, "receipts.txt"));
    CHECK_STR(got, "kept\n");
    free(got);
}

static void t_display_lines(void)
{
    struct pe_hal_devcfg cfg = cfg_tmp();
    struct pe_display *d = NULL;
    CHECK_OK(pe_display_open(pe_hal_display_driver("fake"), &cfg, &d));
    const char *l1 = NULL, *l2 = NULL;
    CHECK_OK(pe_fake_display_lines(d, &l1, &l2));
    CHECK_STR(l1, "");
    CHECK_STR(l2, "");
    CHECK_OK(pe_display_show(d, "Welcome", "Next customer please"));
    CHECK_OK(pe_display_show(d, "Gala Apples 0.512 kg", "TOTAL 1.43"));
    CHECK_OK(pe_fake_display_lines(d, &l1, &l2));
    CHECK_STR(l1, "Gala Apples 0.512 kg");
    CHECK_STR(l2, "TOTAL 1.43");

    char lng[100];
    memset(lng, 'x', sizeof lng - 1);
    lng[sizeof lng - 1] = '\0';
    CHECK_OK(pe_display_show(d, lng, NULL));
    CHECK_OK(pe_fake_display_lines(d, &l1, &l2));
    CHECK_INT(strlen(l1), PE_DISPLAY_COLS);
    CHECK_STR(l2, "");
    CHECK_OK(pe_display_show(d, l1, "keep")); /* its own line back */
    CHECK_OK(pe_fake_display_lines(d, &l1, &l2));
    CHECK_INT(strlen(l1), PE_DISPLAY_COLS);

    /* No clear op: the wrapper clears by showing two empty lines. */
    CHECK(pe_fake_display_ops.clear == NULL);
    CHECK_OK(pe_display_clear(d));
    CHECK_OK(pe_fake_display_lines(d, &l1, &l2));
    CHECK_STR(l1, "");
    CHECK_STR(l2, "");
    enum pe_health h;
    CHECK_OK(pe_display_health(d, &h));
    pe_display_close(d);
    pe_display_close(NULL);
}

/* ---- the fake printer's QR codes (fake_qr.c) ---- */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * Read a PNG as fake_qr.c writes it, checking every byte a decoder checks: the signature,
 * IHDR (1-bit gray, no interlace), every chunk's CRC-32, one zlib stream of rows with filter
 * None or Up, IEND last. *pixels (w x h, the caller frees) gets the image, 0 dark, 255 light.
 */
static void png_read(const uint8_t *png, size_t len, uint32_t *w, uint32_t *h, uint8_t **pixels)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    CHECK(len > 8 + 25 + 12 + 12);
    CHECK(memcmp(png, sig, 8) == 0);
    size_t o = 8;
    const uint8_t *idat = NULL;
    size_t idatlen = 0;
    int nchunks = 0;
    bool end = false;
    while (o < len) {
        CHECK(!end);
        CHECK(o + 12 <= len);
        uint32_t n = rd32(png + o);
        CHECK(o + 12 + n <= len);
        CHECK_INT(rd32(png + o + 8 + n), crc32(crc32(0L, NULL, 0), png + o + 4, 4 + n));
        const uint8_t *type = png + o + 4, *data = png + o + 8;
        if (nchunks == 0) {
            CHECK(memcmp(type, "IHDR", 4) == 0);
            CHECK_INT(n, 13);
            *w = rd32(data);
            *h = rd32(data + 4);
            CHECK(data[8] == 1 && data[9] == 0 && data[10] == 0 && data[11] == 0 && data[12] == 0);
        } else if (memcmp(type, "IDAT", 4) == 0) {
            CHECK(idat == NULL);
            idat = data;
            idatlen = n;
        } else {
            CHECK(memcmp(type, "IEND", 4) == 0);
            CHECK_INT(n, 0);
            end = true;
        }
        nchunks++;
        o += 12 + n;
    }
    CHECK(end && idat);
    size_t row = 1 + (*w + 7) / 8;
    uLongf rawlen = (uLongf)(*h * row);
    uint8_t *raw = malloc(rawlen + 1);
    CHECK(raw != NULL);
    uLongf got = rawlen + 1;
    CHECK_INT(uncompress(raw, &got, idat, (uLong)idatlen), Z_OK);
    CHECK_INT(got, rawlen);
    *pixels = malloc((size_t)*w * *h);
    CHECK(*pixels != NULL);
    for (uint32_t y = 0; y < *h; y++) {
        uint8_t *r = raw + (size_t)y * row;
        CHECK(r[0] == 0 || (r[0] == 2 && y > 0));
        if (r[0] == 2) /* Up: each byte plus the one above it */
            for (size_t i = 1; i < row; i++)
                r[i] = (uint8_t)(r[i] + r[i - row]);
        for (uint32_t x = 0; x < *w; x++)
            (*pixels)[(size_t)y * *w + x] = (r[1 + x / 8] & (0x80 >> (x % 8))) ? 255 : 0;
    }
    free(raw);
}

/* The PNG writer: what it is given is what a decoder reads back. */
static void t_png_mono(void)
{
    const uint8_t px[2 * 11] = {0, 255, 1, 0, 0, 0, 0, 0, 0, 7, 0, /* 11: a second byte */
                                255, 0, 0, 0, 0, 0, 0, 0, 9, 0, 255};
    uint8_t *png = NULL, *back = NULL;
    size_t len = 0;
    uint32_t w = 0, h = 0;
    CHECK_OK(pe_fake_png_mono(px, 11, 2, &png, &len));
    png_read(png, len, &w, &h, &back);
    CHECK_INT(w, 11);
    CHECK_INT(h, 2);
    for (size_t i = 0; i < sizeof px; i++)
        CHECK_INT(back[i], px[i] ? 255 : 0);
    free(back);
    free(png);
    CHECK_INT(pe_fake_png_mono(px, 0, 2, &png, &len), PE_EINVAL);
    CHECK_INT(pe_fake_png_mono(px, 3, 4097, &png, &len), PE_EINVAL);
    CHECK_INT(pe_fake_png_mono(NULL, 3, 2, &png, &len), PE_EINVAL);
}

/* The image is libqrencode's symbol (model 2, level M) for exactly the payload's bytes: each
 * module 4 x 4 pixels, dark 0 and light 255, inside a light quiet zone of 4 modules. */
static void t_qr_png(void)
{
    const char *data = "posedge-qr/1|s001|t01|7|id|1795256102007|sale|1007|EUR|||||";
    uint8_t *png = NULL, *px = NULL;
    size_t len = 0;
    uint32_t w = 0, h = 0;
    CHECK_OK(pe_fake_qr_png(data, strlen(data), &png, &len));
    png_read(png, len, &w, &h, &px);
    QRcode *q = QRcode_encodeData((int)strlen(data), (const unsigned char *)data, 0, QR_ECLEVEL_M);
    CHECK(q != NULL);
    CHECK_INT(w, (uint32_t)(q->width + 8) * 4);
    CHECK_INT(h, w);
    for (uint32_t y = 0; y < h; y++) {
        for (uint32_t x = 0; x < w; x++) {
            int mx = (int)x / 4 - 4, my = (int)y / 4 - 4;
            bool dark = mx >= 0 && my >= 0 && mx < q->width && my < q->width &&
                        (q->data[my * q->width + mx] & 1);
            if (px[(size_t)y * w + x] != (dark ? 0 : 255))
                pe_test_fail(__FILE__, __LINE__, "pixel (%u, %u) is %u, module (%d, %d) is %s",
                             x, y, px[(size_t)y * w + x], mx, my, dark ? "dark" : "light");
        }
    }
    QRcode_free(q);
    free(px);
    free(png);

    char big[PE_RECEIPT_QR_MAX];
    memset(big, 'A', sizeof big);
    CHECK_INT(pe_fake_qr_png(big, sizeof big, &png, &len), PE_EINVAL);
    CHECK_INT(pe_fake_qr_png(big, 0, &png, &len), PE_EINVAL);
    CHECK_OK(pe_fake_qr_png(big, sizeof big - 1, &png, &len)); /* the longest payload fits */
    free(png);
}

/* print_qr: the line "QR <payload>" in the receipt, and the symbol's PNG in qr/ beside it,
 * named by the payload's SHA-256 (16 hex digits); a reprint rewrites the same file, paper out
 * fails it and writes nothing, and a payload that is no single line is refused. */
static void t_printer_qr(void)
{
    struct pe_hal_devcfg cfg = cfg_tmp();
    struct pe_printer *pr = NULL;
    const char *data = "posedge-qr/1|s001|t01|8|id|1795256102008|sale|1|EUR|||||";
    CHECK_OK(pe_printer_open(&pe_fake_printer_ops, &cfg, &pr));
    CHECK_OK(pe_printer_print(pr, "TOTAL 0.01\n", 11));
    CHECK_OK(pe_printer_print_qr(pr, data, strlen(data)));
    CHECK_OK(pe_printer_cut(pr));
    CHECK_OK(pe_printer_print_qr(pr, data, strlen(data)));
    CHECK_OK(pe_fake_printer_set_fail(pr, true));
    CHECK_INT(pe_printer_print_qr(pr, "posedge-qr/1|other", 18), PE_EIO);
    CHECK_OK(pe_fake_printer_set_fail(pr, false));
    CHECK_INT(pe_printer_print_qr(pr, "a\nb", 3), PE_EINVAL);
    CHECK_INT(pe_printer_print_qr(pr, data, 0), PE_EINVAL);
    CHECK_INT(pe_printer_print_qr(pr, NULL, 3), PE_EINVAL);
    pe_printer_close(pr);

    char *got = slurp(pe_test_path(0, "receipts.txt"));
    CHECK(got != NULL);
    char want[512], rule[PE_RECEIPT_COLS + 1];
    memset(rule, '=', PE_RECEIPT_COLS);
    rule[PE_RECEIPT_COLS] = '\0';
    snprintf(want, sizeof want, "TOTAL 0.01\nQR %s\n\n%s\nQR %s\n", data, rule, data);
    CHECK_STR(got, want);
    free(got);

    uint8_t d[PE_SHA256_LEN];
    char hex[2 * PE_SHA256_LEN + 1], name[96];
    pe_sha256_2(data, strlen(data), NULL, 0, d);
    pe_hex(d, 8, hex);
    snprintf(name, sizeof name, "qr/%s.png", hex);
    FILE *f = fopen(pe_test_path(1, name), "rb");
    CHECK(f != NULL);
    static uint8_t file[1 << 16];
    size_t n = fread(file, 1, sizeof file, f);
    fclose(f);
    uint8_t *png = NULL;
    size_t len = 0;
    CHECK_OK(pe_fake_qr_png(data, strlen(data), &png, &len));
    CHECK_INT(n, len);
    CHECK(memcmp(file, png, len) == 0);
    free(png);
    /* No temporary left over, and no image of the code paper out refused. (Checked by name:
     * readdir fails under 32-bit qemu-user on a 64-bit host's directories.) */
    snprintf(name, sizeof name, "qr/%s.png.tmp", hex);
    CHECK(access(pe_test_path(1, name), F_OK) != 0);
    pe_sha256_2("posedge-qr/1|other", 18, NULL, 0, d);
    pe_hex(d, 8, hex);
    snprintf(name, sizeof name, "qr/%s.png", hex);
    CHECK(access(pe_test_path(1, name), F_OK) != 0);

    /* qr_png=off: the line alone; an unknown option is refused. */
    CHECK(mkdir(pe_test_path(3, "off"), 0755) == 0);
    cfg.path = pe_test_path(2, "off/receipts.txt");
    cfg.options = "qr_png=off";
    CHECK_OK(pe_printer_open(&pe_fake_printer_ops, &cfg, &pr));
    CHECK_OK(pe_printer_print_qr(pr, data, strlen(data)));
    pe_printer_close(pr);
    got = slurp(pe_test_path(3, "off/receipts.txt"));
    snprintf(want, sizeof want, "QR %s\n", data);
    CHECK_STR(got, want);
    free(got);
    CHECK(access(pe_test_path(3, "off/qr"), F_OK) != 0);
    const char *bad[] = {"qr_png=maybe", "qr_png", "colour=red", "qr_png=on,cut=full"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg.options = bad[i];
        CHECK_INT(pe_printer_open(&pe_fake_printer_ops, &cfg, &pr), PE_EINVAL);
    }
    cfg.options = " qr_png=off, qr_png=on ";
    CHECK_OK(pe_printer_open(&pe_fake_printer_ops, &cfg, &pr));
    pe_printer_close(pr);
}

static const struct pe_test tests[] = {
    {"registry", t_registry},
    {"scanner_queue", t_scanner_queue},
    {"scale_queue", t_scale_queue},
    {"keypad_queue", t_keypad_queue},
    {"back_doors_refuse_other_drivers", t_back_doors_refuse_other_drivers},
    {"payment_approve", t_payment_approve},
    {"payment_decline_and_no_card", t_payment_decline_and_no_card},
    {"payment_busy_and_cancel", t_payment_busy_and_cancel},
    {"payment_refuses_bad_pan", t_payment_refuses_bad_pan},
    {"printer_receipts_and_cut", t_printer_receipts_and_cut},
    {"printer_drawer", t_printer_drawer},
    {"printer_failure", t_printer_failure},
    {"png_mono", t_png_mono},
    {"qr_png", t_qr_png},
    {"printer_qr", t_printer_qr},
    {"display_lines", t_display_lines},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("hal_fake", tests, argc, argv);
}
