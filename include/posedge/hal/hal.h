/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hal/hal.h - what every device class of the hardware abstraction layer shares.
 *
 * The classes follow UnifiedPOS: scanner, scale, printer (with the cash drawer behind it),
 * payment terminal, customer display and operator keypad. Each class has an ops table with
 * the driver's name first, then mandatory ops (open, close, and for input devices fd and a
 * non-blocking read) and optional ops (NULL when the driver lacks them). A device handle is a
 * driver struct whose first member is the class's public struct, which holds the ops pointer.
 * Callers use only the inline wrappers in each class header; a wrapper returns PE_ENOTSUP for
 * a missing optional op. A board selects a driver and a device path per class (boards/<b>/).
 */
#ifndef POSEDGE_HAL_HAL_H
#define POSEDGE_HAL_HAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posedge/err.h"

enum pe_health {
    PE_HEALTH_OK = 0,   /* working */
    PE_HEALTH_DEGRADED, /* working with a problem (paper low, weak signal) */
    PE_HEALTH_FAILED,   /* not working (offline, cover open, no paper) */
};

/* How a board configures one device: borrowed strings, valid during open only. */
struct pe_hal_devcfg {
    const char *driver;   /* driver name, e.g. "fake" */
    const char *path;     /* device node, tty or file; meaning is the driver's */
    const char *data_dir; /* the daemon's data directory (fakes write their records there) */
    const char *options;  /* driver options: "key=value" words separated by spaces or commas,
                           * e.g. "baud=9600 parity=even bits=7 protocol=nci" ("" or NULL:
                           * the driver's defaults); an unknown key is refused by open */
};

#endif
