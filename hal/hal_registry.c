/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hal_registry.c - the drivers compiled into this board's build, looked up by name.
 *
 * Which driver directories are built is the board's choice (HAL_DIRS in boards/<b>/board.mk);
 * the Makefile passes -DPE_HAL_<dir>=1 for each, and only those drivers are referenced here,
 * so a board links no driver it does not use. Each table ends with NULL. A new driver family
 * (hal/linux: PE_HAL_linux) adds its private header, one #ifdef entry per class it serves, and
 * a NAMES_<family> string to driver_names.
 */
#include <string.h>

#include "posedge/hal/board.h"
#include "posedge/hal/keypad.h"

#ifdef PE_HAL_fake
#include "hal/fake/fake.h"
#define NAMES_FAKE " fake"
#else
#define NAMES_FAKE ""
#endif

#ifdef PE_HAL_linux
#include "hal/linux/linux.h"
#define NAMES_LINUX " evdev serial escpos"
#else
#define NAMES_LINUX ""
#endif

/* Each family adds " <name>"; the leading space is skipped on return. */
static const char driver_names[] = "" NAMES_FAKE NAMES_LINUX;

static const struct pe_scanner_ops *const scanners[] = {
#ifdef PE_HAL_fake
    &pe_fake_scanner_ops,
#endif
#ifdef PE_HAL_linux
    &pe_linux_evdev_scanner_ops,
    &pe_linux_serial_scanner_ops,
#endif
    NULL,
};

static const struct pe_scale_ops *const scales[] = {
#ifdef PE_HAL_fake
    &pe_fake_scale_ops,
#endif
#ifdef PE_HAL_linux
    &pe_linux_scale_ops,
#endif
    NULL,
};

static const struct pe_printer_ops *const printers[] = {
#ifdef PE_HAL_fake
    &pe_fake_printer_ops,
#endif
#ifdef PE_HAL_linux
    &pe_linux_printer_ops,
#endif
    NULL,
};

static const struct pe_payment_ops *const payments[] = {
#ifdef PE_HAL_fake
    &pe_fake_payment_ops,
#endif
    NULL,
};

static const struct pe_display_ops *const displays[] = {
#ifdef PE_HAL_fake
    &pe_fake_display_ops,
#endif
#ifdef PE_HAL_linux
    &pe_linux_display_ops,
#endif
    NULL,
};

static const struct pe_keypad_ops *const keypads[] = {
#ifdef PE_HAL_fake
    &pe_fake_keypad_ops,
#endif
    NULL,
};

/* Every ops table starts with its name, so one search serves all classes. */
#define FIND(table, name)                                                                          \
    do {                                                                                           \
        if (!(name))                                                                               \
            return NULL;                                                                           \
        for (size_t i = 0; (table)[i]; i++)                                                        \
            if (strcmp((table)[i]->name, (name)) == 0)                                             \
                return (table)[i];                                                                 \
        return NULL;                                                                               \
    } while (0)

const struct pe_scanner_ops *pe_hal_scanner_driver(const char *name)
{
    FIND(scanners, name);
}

const struct pe_scale_ops *pe_hal_scale_driver(const char *name)
{
    FIND(scales, name);
}

const struct pe_printer_ops *pe_hal_printer_driver(const char *name)
{
    FIND(printers, name);
}

const struct pe_payment_ops *pe_hal_payment_driver(const char *name)
{
    FIND(payments, name);
}

const struct pe_display_ops *pe_hal_display_driver(const char *name)
{
    FIND(displays, name);
}

const struct pe_keypad_ops *pe_hal_keypad_driver(const char *name)
{
    FIND(keypads, name);
}

const char *pe_hal_driver_names(void)
{
    return driver_names[0] == ' ' ? driver_names + 1 : driver_names;
}

const char *pe_key_kind_name(enum pe_key_kind k)
{
    switch (k) {
    case PE_KEY_LOGIN:
        return "login";
    case PE_KEY_LOGOUT:
        return "logout";
    case PE_KEY_SHIFT_OPEN:
        return "shift_open";
    case PE_KEY_SHIFT_CLOSE:
        return "shift_close";
    case PE_KEY_QTY:
        return "qty";
    case PE_KEY_ITEM:
        return "item";
    case PE_KEY_LINE_VOID:
        return "line_void";
    case PE_KEY_DISCOUNT:
        return "discount";
    case PE_KEY_SUBTOTAL:
        return "subtotal";
    case PE_KEY_TENDER_CASH:
        return "tender_cash";
    case PE_KEY_TENDER_CARD:
        return "tender_card";
    case PE_KEY_CANCEL:
        return "cancel";
    case PE_KEY_NO_SALE:
        return "no_sale";
    case PE_KEY_RETURN:
        return "return";
    case PE_KEY_X_REPORT:
        return "x_report";
    case PE_KEY_Z_REPORT:
        return "z_report";
    case PE_KEY_INV_RECEIPT:
        return "inv_receipt";
    case PE_KEY_INV_ADJUST:
        return "inv_adjust";
    case PE_KEY_INV_COUNT:
        return "inv_count";
    case PE_KEY_CUSTOMER:
        return "customer";
    }
    return "?";
}
