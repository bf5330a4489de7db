/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hal/board.h - driver lookup over the drivers compiled into this board's build.
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

/* Each returns the driver's ops table, or NULL when no driver of that name is built in. */
const struct pe_scanner_ops *pe_hal_scanner_driver(const char *name);
const struct pe_scale_ops *pe_hal_scale_driver(const char *name);
const struct pe_printer_ops *pe_hal_printer_driver(const char *name);
const struct pe_payment_ops *pe_hal_payment_driver(const char *name);
const struct pe_display_ops *pe_hal_display_driver(const char *name);
const struct pe_keypad_ops *pe_hal_keypad_driver(const char *name);

/* Space-separated names of the built-in drivers, for error messages. */
const char *pe_hal_driver_names(void);

#endif
