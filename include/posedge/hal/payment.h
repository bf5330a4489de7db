/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hal/payment.h - payment terminal class.
 *
 * The till starts an authorisation for an amount; the terminal talks to the card and answers
 * later through read (its fd becomes readable). The answer carries only a token and the last
 * four digits of the card: a primary account number never crosses this interface, so it can
 * never reach the journal, the logs or the network.
 */
#ifndef POSEDGE_HAL_PAYMENT_H
#define POSEDGE_HAL_PAYMENT_H

#include "posedge/hal/hal.h"

struct pe_pay_request {
    int64_t amount;   /* minor units, > 0 */
    char currency[4]; /* ISO 4217 */
    char ref[40];     /* the transaction id the payment belongs to */
    bool refund;      /* a refund to the card instead of a charge */
};

struct pe_pay_result {
    bool approved;      /* true when the amount was authorised */
    int64_t amount;     /* authorised amount */
    char token[48];     /* opaque card token from the terminal (never a PAN) */
    char last4[5];      /* last four digits */
    char scheme[16];    /* "visa", "mastercard", ... */
    char auth_code[16]; /* authorisation code when approved */
    char reason[64];    /* decline reason when not approved */
};

struct pe_payment;

struct pe_payment_ops {
    struct pe_device_ops dev; /* first: name, open, close, fd (mandatory), health */
    /* mandatory */
    int (*start)(struct pe_payment *dev, const struct pe_pay_request *req); /* PE_EBUSY */
    int (*read)(struct pe_payment *dev, struct pe_pay_result *out);         /* PE_EAGAIN */
    /* optional */
    int (*cancel)(struct pe_payment *dev);
};

struct pe_payment {
    struct pe_device dev; /* first member of every driver's device struct */
};

/* pe_payment_open, _close, _fd, _health, _of and _dev (hal.h) */
PE_DEVICE_CLASS(PAYMENT, payment)

static inline int pe_payment_start(struct pe_payment *d, const struct pe_pay_request *r)
{
    return pe_payment__ops(d)->start(d, r);
}
static inline int pe_payment_read(struct pe_payment *d, struct pe_pay_result *out)
{
    return pe_payment__ops(d)->read(d, out);
}
static inline int pe_payment_cancel(struct pe_payment *d)
{
    return pe_payment__ops(d)->cancel ? pe_payment__ops(d)->cancel(d) : PE_ENOTSUP;
}

#endif
