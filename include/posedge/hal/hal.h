/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hal/hal.h - what every device class of the hardware abstraction layer shares: the list of
 * classes, and the device that every class's handle starts with.
 *
 * The classes follow UnifiedPOS: scanner, scale, printer (with the cash drawer behind it),
 * payment terminal, customer display and operator keypad, declared once in PE_DEV_CLASSES.
 * Each class has an ops table whose first member is struct pe_device_ops, the common prefix:
 * the class, the driver's name, open, close, fd (mandatory for input classes, optional for the
 * others) and health (optional). The class's own ops follow it: mandatory ops (a non-blocking
 * read for input classes) and optional ops (NULL when the driver lacks them). A device handle
 * is a driver struct whose first member is the class's public struct, whose first member is a
 * struct pe_device holding the ops pointer; so a handle is at once a struct pe_scanner (say)
 * and a struct pe_device, and generic code (the agent's device loop, self-test, health watch)
 * opens, polls, health-checks and closes any device without knowing its class, as Zephyr's one
 * struct device serves every driver API.
 *
 * Callers use only the inline wrappers: pe_device_* here for any device, and in each class
 * header the wrappers PE_DEVICE_CLASS generates (pe_<class>_open, _close, _fd, _health, _of)
 * plus the class's own. A wrapper returns PE_ENOTSUP for a missing optional op. A board selects
 * a driver and a device path per class (boards/<b>/, board.h).
 *
 * A new class is one line of PE_DEV_CLASSES, its header (ops table and wrappers), its
 * #include in board.h, and its drivers in hal/<family>/ with their entries in hal_registry.c.
 */
#ifndef POSEDGE_HAL_HAL_H
#define POSEDGE_HAL_HAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posedge/err.h"

/*
 * X(ENUM, name, label, input) - the device classes, in the order of the configuration keys
 * (devices.<name>.*) and of the state document. label names the device to the operator and in
 * logs; input: the class delivers input through a pollable fd and a non-blocking read.
 */
#define PE_DEV_CLASSES(X)                                                                          \
    X(SCANNER, scanner, "Scanner", true)  /* scanner.h: one barcode per read */                  \
    X(SCALE, scale, "Scale", true)        /* scale.h: weight readings in grams */                \
    X(PRINTER, printer, "Printer", false) /* printer.h: receipts, and the cash drawer */         \
    X(PAYMENT, payment, "Payment", true)  /* payment.h: card authorisations */                   \
    X(DISPLAY, display, "Display", false) /* display.h: two lines facing the customer */         \
    X(KEYPAD, keypad, "Keypad", true)     /* keypad.h: one operator action per read */

enum pe_dev_class {
#define PE__DEV_ENUM(e, name, label, input) PE_DEV_##e,
    PE_DEV_CLASSES(PE__DEV_ENUM)
#undef PE__DEV_ENUM
        PE_DEV__COUNT
};

/* What PE_DEV_CLASSES says of a class, as data: pe_dev_classes[PE_DEV_SCALE].name is "scale". */
struct pe_dev_class_info {
    const char *name;  /* "scanner": configuration keys, state document, self-test */
    const char *label; /* "Scanner": the customer display and logs */
    bool input;        /* fd and read are mandatory */
};
extern const struct pe_dev_class_info pe_dev_classes[PE_DEV__COUNT];

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

struct pe_device;

/* The first member (named dev) of every class's ops table. */
struct pe_device_ops {
    enum pe_dev_class cls; /* the class the driver serves */
    const char *name;      /* driver name, as devices.<class>.driver names it */
    /* mandatory: open a device (*out is the driver's struct, of class cls) and close it */
    int (*open)(const struct pe_hal_devcfg *cfg, struct pe_device **out);
    void (*close)(struct pe_device *dev);
    /* mandatory for input classes: readable (POLLIN) while input waits; optional otherwise
     * (a device that sends status events); the number stays the same for the handle's life */
    int (*fd)(struct pe_device *dev);
    /* optional: the device's health; a Linux driver reopens a lost device from here */
    int (*health)(struct pe_device *dev, enum pe_health *out);
};

/* The first member of every class's public struct (struct pe_scanner, ...). */
struct pe_device {
    const struct pe_device_ops *ops; /* the dev member of the class's ops table */
};

/*
 * Open a device with a driver's ops (from pe_hal_driver, board.h). *out is set on success only
 * and is closed with pe_device_close (or the class's close). Errors: the driver's (PE_EINVAL
 * for a bad option or path, PE_EIO when the device cannot be opened, PE_EBUSY when another
 * process holds it, PE_ENOMEM).
 */
static inline int pe_device_open(const struct pe_device_ops *ops, const struct pe_hal_devcfg *cfg,
                                 struct pe_device **out)
{
    return ops->open(cfg, out);
}
/* Close and free; NULL is a no-op. */
static inline void pe_device_close(struct pe_device *d)
{
    if (d)
        d->ops->close(d);
}
/* The fd to poll, or PE_ENOTSUP for a device that has none. */
static inline int pe_device_fd(struct pe_device *d)
{
    return d->ops->fd ? d->ops->fd(d) : PE_ENOTSUP;
}
static inline int pe_device_health(struct pe_device *d, enum pe_health *out)
{
    return d->ops->health ? d->ops->health(d, out) : PE_ENOTSUP;
}
static inline enum pe_dev_class pe_device_class(const struct pe_device *d)
{
    return d->ops->cls;
}

/*
 * In a class header, after struct pe_<name>_ops (first member: struct pe_device_ops dev) and
 * struct pe_<name> (first member: struct pe_device dev): the class's typed wrappers of the
 * common ops, and the conversions between the class handle and struct pe_device.
 *   pe_<name>_open(ops, cfg, &h)  pe_device_open for a driver of the class
 *   pe_<name>_close(h)            NULL is a no-op
 *   pe_<name>_fd(h), pe_<name>_health(h, &health)
 *   pe_<name>_of(dev)             the class handle of a device, NULL if of another class
 *   pe_<name>_dev(h)              the device of a class handle (NULL for NULL)
 *   pe_<name>__ops(h)             the class's ops table, for the class's own wrappers
 */
#define PE_DEVICE_CLASS(e, name)                                                                   \
    static inline const struct pe_##name##_ops *pe_##name##__ops(const struct pe_##name *d)        \
    {                                                                                              \
        return (const struct pe_##name##_ops *)(const void *)d->dev.ops;                           \
    }                                                                                              \
    static inline struct pe_##name *pe_##name##_of(struct pe_device *d)                            \
    {                                                                                              \
        return d && d->ops->cls == PE_DEV_##e ? (struct pe_##name *)(void *)d : NULL;              \
    }                                                                                              \
    static inline struct pe_device *pe_##name##_dev(struct pe_##name *d)                           \
    {                                                                                              \
        return d ? &d->dev : NULL;                                                                 \
    }                                                                                              \
    static inline int pe_##name##_open(const struct pe_##name##_ops *ops,                          \
                                       const struct pe_hal_devcfg *cfg, struct pe_##name **out)    \
    {                                                                                              \
        struct pe_device *d = NULL;                                                                \
        int rc = pe_device_open(&ops->dev, cfg, &d);                                               \
        if (rc == PE_OK)                                                                           \
            *out = (struct pe_##name *)(void *)d;                                                  \
        return rc;                                                                                 \
    }                                                                                              \
    static inline void pe_##name##_close(struct pe_##name *d)                                      \
    {                                                                                              \
        pe_device_close(pe_##name##_dev(d));                                                       \
    }                                                                                              \
    static inline int pe_##name##_fd(struct pe_##name *d)                                          \
    {                                                                                              \
        return pe_device_fd(&d->dev);                                                              \
    }                                                                                              \
    static inline int pe_##name##_health(struct pe_##name *d, enum pe_health *out)                 \
    {                                                                                              \
        return pe_device_health(&d->dev, out);                                                     \
    }

#endif
