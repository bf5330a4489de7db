/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake_payment.c - the simulated payment terminal.
 *
 * A card is presented through the back door; start authorises against it at once and the
 * result becomes readable on the fd, as a real terminal's answer arrives later. The invariant
 * that matters: a primary account number never outlives pe_fake_payment_present. It is
 * checked (12..19 digits, Luhn) and tokenised in place - token = "tok_" + the first 24 hex
 * digits of SHA-256("posedge-fake-token/" || PAN) - and only the token, last 4 digits and
 * scheme are kept, so no struct, log line or file of this driver can ever hold a PAN. What is
 * derived from it on the way (the digest) is wiped with explicit_bzero, which the compiler
 * may not drop as a dead store.
 *
 * Each authorisation is appended to "<data_dir>/payments.log" (when a data directory is
 * configured), the terminal's own record, holding tokens only.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hal/fake/fake.h"
#include "posedge/clock.h"
#include "posedge/crypto.h"
#include "posedge/log.h"

#define TOKEN_PREFIX "posedge-fake-token/"
#define AUTH_PREFIX "posedge-fake-auth/"

struct fake_payment {
    struct pe_payment base; /* first: the till holds a struct pe_payment * */
    struct fake__queue q;   /* at most one struct pe_pay_result: the request in flight */
    bool card;              /* a card is presented and waits for a start */
    bool decline;           /* the presented card will be declined */
    char token[48];         /* the presented card's token */
    char last4[5];          /* its last four digits */
    char scheme[16];        /* its scheme */
    char reason[64];        /* decline reason */
    int log_fd;             /* payments.log, or -1 without a data directory */
};

static struct fake_payment *fake_of(struct pe_payment *dev)
{
    return dev && dev->dev.ops == &pe_fake_payment_ops.dev ? (struct fake_payment *)dev : NULL;
}

bool fake__pan_ok(const char *pan)
{
    if (!pan)
        return false;
    size_t n = strlen(pan);
    if (n < 12 || n > 19)
        return false;
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        char c = pan[n - 1 - i];
        if (c < '0' || c > '9')
            return false;
        int d = c - '0';
        if (i % 2) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return sum % 10 == 0;
}

static void forget_card(struct fake_payment *p)
{
    p->card = false;
    p->decline = false;
    explicit_bzero(p->token, sizeof p->token);
    explicit_bzero(p->last4, sizeof p->last4);
    explicit_bzero(p->scheme, sizeof p->scheme);
    explicit_bzero(p->reason, sizeof p->reason);
}

static int payment_open(const struct pe_hal_devcfg *cfg, struct pe_device **out)
{
    struct fake_payment *p = calloc(1, sizeof *p);
    if (!p)
        return PE_ENOMEM;
    p->log_fd = -1;
    int rc = fake__queue_init(&p->q, sizeof(struct pe_pay_result), 1);
    if (rc)
        goto fail_free;
    if (cfg && cfg->data_dir && cfg->data_dir[0]) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/payments.log", cfg->data_dir) >= (int)sizeof path) {
            rc = PE_EINVAL;
            goto fail_queue;
        }
        p->log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (p->log_fd < 0) {
            pe_error("hal.fake.payment.open", "path=\"%s\" err=\"%s\"", path, strerror(errno));
            rc = PE_EIO;
            goto fail_queue;
        }
    }
    p->base.dev.ops = &pe_fake_payment_ops.dev;
    *out = &p->base.dev;
    return PE_OK;

fail_queue:
    fake__queue_fini(&p->q);
fail_free:
    free(p);
    return rc;
}

static void payment_close(struct pe_device *dev)
{
    struct fake_payment *p = fake_of(pe_payment_of(dev));
    if (!p)
        return;
    forget_card(p);
    fake__queue_fini(&p->q);
    if (p->log_fd >= 0)
        close(p->log_fd);
    free(p);
}

static int payment_fd(struct pe_device *dev)
{
    return ((struct fake_payment *)dev)->q.efd;
}

/* Six digits derived from the transaction reference and amount. */
static void auth_code(const struct pe_pay_request *req, char out[16])
{
    char tail[96];
    int n = snprintf(tail, sizeof tail, "%.40s/%" PRId64, req->ref, req->amount);
    uint8_t d[PE_SHA256_LEN];
    pe_sha256_2(AUTH_PREFIX, strlen(AUTH_PREFIX), tail, (size_t)n, d);
    uint32_t v = ((uint32_t)d[0] << 24) | ((uint32_t)d[1] << 16) | ((uint32_t)d[2] << 8) | d[3];
    snprintf(out, 16, "%06u", (unsigned)(v % 1000000u));
}

/* Append one line to payments.log; a failure is logged, never fatal to the payment. */
static void record(struct fake_payment *p, const struct pe_pay_request *req,
                   const struct pe_pay_result *r)
{
    if (p->log_fd < 0)
        return;
    char ts[PE_TIME_STRLEN];
    pe_time_format(pe_time_now_ms(), ts);
    char line[512];
    int n =
        snprintf(line, sizeof line,
                 "%s %s ref=%.40s amount=%" PRId64 " %.3s approved=%d token=%s last4=%s "
                 "scheme=%s auth=%s reason=\"%s\"\n",
                 ts, req->refund ? "refund" : "charge", req->ref, req->amount, req->currency,
                 r->approved ? 1 : 0, r->token[0] ? r->token : "-", r->last4[0] ? r->last4 : "-",
                 r->scheme[0] ? r->scheme : "-", r->auth_code[0] ? r->auth_code : "-", r->reason);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line)
        n = (int)sizeof line - 1;
    if (write(p->log_fd, line, (size_t)n) != n)
        pe_warn("hal.fake.payment.log", "err=\"%s\"", strerror(errno));
}

static int payment_start(struct pe_payment *dev, const struct pe_pay_request *req)
{
    struct fake_payment *p = (struct fake_payment *)dev;
    if (!req || req->amount <= 0)
        return PE_EINVAL;
    if (p->q.len > 0)
        return PE_EBUSY;
    struct pe_pay_result r;
    memset(&r, 0, sizeof r);
    if (!p->card) {
        snprintf(r.reason, sizeof r.reason, "no card presented");
    } else {
        memcpy(r.last4, p->last4, sizeof r.last4);
        memcpy(r.scheme, p->scheme, sizeof r.scheme);
        if (p->decline) {
            snprintf(r.reason, sizeof r.reason, "%s",
                     p->reason[0] ? p->reason : "declined by issuer");
        } else {
            r.approved = true;
            r.amount = req->amount;
            memcpy(r.token, p->token, sizeof r.token);
            auth_code(req, r.auth_code);
        }
    }
    forget_card(p); /* one presentation, one authorisation */
    int rc = fake__queue_push(&p->q, &r);
    if (rc)
        return rc;
    pe_debug("hal.fake.payment.start", "ref=%.40s amount=%" PRId64 " refund=%d approved=%d",
             req->ref, req->amount, req->refund ? 1 : 0, r.approved ? 1 : 0);
    record(p, req, &r);
    return PE_OK;
}

static int payment_read(struct pe_payment *dev, struct pe_pay_result *out)
{
    return fake__queue_pop(&((struct fake_payment *)dev)->q, out);
}

static int payment_cancel(struct pe_payment *dev)
{
    fake__queue_clear(&((struct fake_payment *)dev)->q);
    return PE_OK;
}

static int payment_health(struct pe_device *dev, enum pe_health *out)
{
    (void)dev;
    *out = PE_HEALTH_OK;
    return PE_OK;
}

const struct pe_payment_ops pe_fake_payment_ops = {
    .dev =
        {
            .cls = PE_DEV_PAYMENT,
            .name = "fake",
            .open = payment_open,
            .close = payment_close,
            .fd = payment_fd,
            .health = payment_health,
        },
    .start = payment_start,
    .read = payment_read,
    .cancel = payment_cancel,
};

int pe_fake_payment_present(struct pe_payment *dev, const char *pan, bool decline,
                            const char *reason)
{
    struct fake_payment *p = fake_of(dev);
    if (!p)
        return PE_EINVAL;
    if (!pan) {
        forget_card(p);
        return PE_OK;
    }
    if (!fake__pan_ok(pan))
        return PE_EINVAL;
    forget_card(p);
    size_t n = strlen(pan);
    uint8_t d[PE_SHA256_LEN];
    char hex[PE_SHA256_HEXLEN];
    pe_sha256_2(TOKEN_PREFIX, strlen(TOKEN_PREFIX), pan, n, d);
    pe_hex(d, sizeof d, hex);
    snprintf(p->token, sizeof p->token, "tok_%.24s", hex);
    memcpy(p->last4, pan + n - 4, 4);
    p->last4[4] = '\0';
    const char *scheme = pan[0] == '4'   ? "visa"
                         : pan[0] == '5' ? "mastercard"
                         : pan[0] == '3' ? "amex"
                                         : "card";
    snprintf(p->scheme, sizeof p->scheme, "%s", scheme);
    if (decline)
        snprintf(p->reason, sizeof p->reason, "%s",
                 reason && reason[0] ? reason : "declined by issuer");
    p->decline = decline;
    p->card = true;
    /* The digest and its hex are derived from the PAN: wipe them with it. */
    explicit_bzero(d, sizeof d);
    explicit_bzero(hex, sizeof hex);
    return PE_OK;
}

bool pe_fake_payment_busy(struct pe_payment *dev)
{
    struct fake_payment *p = fake_of(dev);
    return p && p->q.len > 0;
}

bool pe_fake_payment_card_present(struct pe_payment *dev)
{
    struct fake_payment *p = fake_of(dev);
    return p && p->card;
}
