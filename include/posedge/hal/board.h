/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hal/board.h - every device class, and driver lookup over the drivers compiled into this
 * board's build.
 *
 * Which drivers exist is decided at build time by boards/<board>/board.mk (HAL_DIRS); which one
 * serves each device class is data in the daemon's configuration ("devices.<class>.driver").
 */
#ifndef POSEDGE_HAL_BOARD_H
#define POSEDGE_HAL_BOARD_H

#include "posedge/hal/display.h"
#include "posedge/hal/keypad.h"
#include "posedge/hal/payment.h"
#include "posedge/hal/printer.h"
#include "posedge/hal/scale.h"
#include "posedge/hal/scanner.h"

/* The ops of the driver called name that serves cls, or NULL when no such driver is built in
 * (or name is NULL). */
const struct pe_device_ops *pe_hal_driver(enum pe_dev_class cls, const char *name);

/* The same for one class, typed: pe_hal_scanner_driver(name), pe_hal_scale_driver(name), ... */
#define PE__HAL_DRIVER(e, name, label, input)                                                      \
    static inline const struct pe_##name##_ops *pe_hal_##name##_driver(const char *driver)        \
    {                                                                                              \
        return (const struct pe_##name##_ops *)(const void *)pe_hal_driver(PE_DEV_##e, driver);    \
    }
PE_DEV_CLASSES(PE__HAL_DRIVER)
#undef PE__HAL_DRIVER

/* Space-separated names of the built-in drivers, each once, for error messages. */
const char *pe_hal_driver_names(void);

#endif
