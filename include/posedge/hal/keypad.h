/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hal/keypad.h - operator input class: the till's function keys and numeric entry, delivered
 * as one decoded operator action per read (a POS keyboard driver assembles digits and the
 * function key into one struct pe_key_input).
 */
#ifndef POSEDGE_HAL_KEYPAD_H
#define POSEDGE_HAL_KEYPAD_H

#include "posedge/hal/hal.h"

enum pe_key_kind {
    PE_KEY_LOGIN = 1,   /* text: operator id */
    PE_KEY_LOGOUT,      /* - */
    PE_KEY_SHIFT_OPEN,  /* amount: opening float */
    PE_KEY_SHIFT_CLOSE, /* amount: declared cash in drawer */
    PE_KEY_QTY,         /* qty: multiplier for the next scanned item */
    PE_KEY_ITEM,        /* text: barcode or item id keyed by hand */
    PE_KEY_LINE_VOID,   /* line: 1-based basket line to void; other lines keep their numbers */
    PE_KEY_DISCOUNT,    /* line (0 = whole basket), percent_bp or amount */
    PE_KEY_SUBTOTAL,    /* - : close the basket and go to tender */
    PE_KEY_TENDER_CASH, /* amount, or flags EXACT / NEXT_NOTE; flag SPLIT allows partial */
    PE_KEY_TENDER_CARD, /* amount (0 = the rest due) */
    PE_KEY_CANCEL,      /* cancel the open transaction (a void when lines exist) */
    PE_KEY_NO_SALE,     /* text: reason; opens the drawer */
    PE_KEY_RETURN,      /* ref_seq or text (sale id): start a return against a sale */
    PE_KEY_X_REPORT,    /* - */
    PE_KEY_Z_REPORT,    /* - */
    PE_KEY_INV_RECEIPT, /* lines (qty received), text: delivery reference */
    PE_KEY_INV_ADJUST,  /* lines (signed qty), text: reason */
    PE_KEY_INV_COUNT,   /* lines (counted qty) */
    PE_KEY_CUSTOMER,    /* text: customer (loyalty) id of the open basket, or of the next one */
};

#define PE_KEYF_EXACT 0x1     /* TENDER_CASH: tender exactly the amount due */
#define PE_KEYF_NEXT_NOTE 0x2 /* TENDER_CASH: tender the amount due rounded up to a note */
#define PE_KEYF_SPLIT 0x4     /* TENDER_*: a partial tender; the rest follows */

#define PE_KEY_MAX_LINES 32
#define PE_KEY_TEXT_MAX 64

struct pe_key_line {
    char code[24]; /* barcode or item id */
    int64_t qty;   /* units (grams for weighed items) */
};

struct pe_key_input {
    enum pe_key_kind kind;
    int64_t amount;             /* money in minor units (see kind) */
    int64_t qty;                /* PE_KEY_QTY */
    int32_t line;               /* PE_KEY_LINE_VOID, PE_KEY_DISCOUNT */
    int32_t percent_bp;         /* PE_KEY_DISCOUNT: 1000 = 10.00 % */
    int32_t flags;              /* PE_KEYF_* */
    int64_t ref_seq;            /* PE_KEY_RETURN by receipt number (seq) */
    char text[PE_KEY_TEXT_MAX]; /* see kind */
    int nlines;                 /* PE_KEY_INV_* */
    struct pe_key_line lines[PE_KEY_MAX_LINES];
};

/* "login", "tender_cash", ... for logs; "?" when unknown. */
const char *pe_key_kind_name(enum pe_key_kind k);

struct pe_keypad;

struct pe_keypad_ops {
    struct pe_device_ops dev; /* first: name, open, close, fd (mandatory), health */
    /* mandatory */
    int (*read)(struct pe_keypad *dev, struct pe_key_input *out); /* PE_OK or PE_EAGAIN */
};

struct pe_keypad {
    struct pe_device dev; /* first member of every driver's device struct */
};

/* pe_keypad_open, _close, _fd, _health, _of and _dev (hal.h) */
PE_DEVICE_CLASS(KEYPAD, keypad)

static inline int pe_keypad_read(struct pe_keypad *d, struct pe_key_input *out)
{
    return pe_keypad__ops(d)->read(d, out);
}

#endif
