/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hal_registry.c - the device classes as data, and the drivers compiled into this board's
 * build, looked up by class and name.
 *
 * Which driver directories are built is the board's choice (HAL_DIRS in boards/<b>/board.mk);
 * the Makefile passes -DPE_HAL_<dir>=1 for each, and only those drivers are referenced here,
 * so a board links no driver it does not use. The drivers are one table; each ops table says
 * its class, so a lookup is by class and name, and the list of names for messages is derived
 * from the table. A new driver family (hal/linux: PE_HAL_linux) adds its private header and
 * one #ifdef block of entries; a new driver of a family, one entry.
 */
#include <string.h>

#include "posedge/hal/board.h"
#include "posedge/hal/keypad.h"

#ifdef PE_HAL_fake
#include "hal/fake/fake.h"
#endif
#ifdef PE_HAL_linux
#include "hal/linux/linux.h"
#endif

const struct pe_dev_class_info pe_dev_classes[PE_DEV__COUNT] = {
#define CLASS_INFO(e, name, label, input) [PE_DEV_##e] = {#name, label, input},
    PE_DEV_CLASSES(CLASS_INFO)
#undef CLASS_INFO
};

/* Every built-in driver, in the order of pe_hal_driver_names; NULL ends the table. */
static const struct pe_device_ops *const drivers[] = {
#ifdef PE_HAL_fake
    &pe_fake_scanner_ops.dev,
    &pe_fake_scale_ops.dev,
    &pe_fake_printer_ops.dev,
    &pe_fake_payment_ops.dev,
    &pe_fake_display_ops.dev,
    &pe_fake_keypad_ops.dev,
#endif
#ifdef PE_HAL_linux
    &pe_linux_evdev_scanner_ops.dev,
    &pe_linux_serial_scanner_ops.dev,
    &pe_linux_scale_ops.dev,
    &pe_linux_printer_ops.dev,
    &pe_linux_display_ops.dev,
#endif
    NULL,
};

const struct pe_device_ops *pe_hal_driver(enum pe_dev_class cls, const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; drivers[i]; i++)
        if (drivers[i]->cls == cls && strcmp(drivers[i]->name, name) == 0)
            return drivers[i];
    return NULL;
}

const char *pe_hal_driver_names(void)
{
    static char names[256]; /* made once: the table is constant */
    if (names[0])
        return names;
    for (size_t i = 0; drivers[i]; i++) {
        size_t j = 0;
        while (j < i && strcmp(drivers[j]->name, drivers[i]->name) != 0)
            j++;
        if (j < i)
            continue; /* named already */
        size_t len = strlen(names), n = strlen(drivers[i]->name);
        if (len + n + 2 > sizeof names)
            break;
        if (len)
            names[len++] = ' ';
        memcpy(names + len, drivers[i]->name, n + 1);
    }
    return names;
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
