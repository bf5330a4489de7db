/* SPDX-License-Identifier: Apache-2.0 */
/*
 * err.h - the one error enumeration of posedge.
 *
 * Every public function returns 0 (PE_OK) on success or a negative PE_E* code, and passes
 * results through out-parameters. Names and messages come from the single X-macro list below,
 * so a new code is added in exactly one place. Native codes of SQLite, mosquitto, librdkafka
 * and the C library are converted at the module boundary, which logs the native message once.
 */
#ifndef POSEDGE_ERR_H
#define POSEDGE_ERR_H

/* X(name, value, message) */
#define PE_ERRORS(X)                                                                               \
    X(OK, 0, "success")                                                                            \
    X(ENOMEM, -1, "out of memory")                                                                 \
    X(EINVAL, -2, "invalid argument")                                                              \
    X(EIO, -3, "input/output error")                                                               \
    X(EFULL, -4, "storage is full")                                                                \
    X(ECORRUPT, -5, "data is corrupt")                                                             \
    X(ENOTFOUND, -6, "not found")                                                                  \
    X(EPARSE, -7, "malformed input")                                                               \
    X(ERANGE, -8, "value out of range")                                                            \
    X(ESTATE, -9, "not allowed in the current state")                                              \
    X(ENOTSUP, -10, "operation not supported")                                                     \
    X(EAGAIN, -11, "nothing available yet")                                                        \
    X(EDECLINED, -12, "declined")                                                                  \
    X(EBUSY, -13, "resource is busy")                                                              \
    X(EEXIST, -14, "already exists")                                                               \
    X(ECHAIN, -15, "hash chain is broken")                                                         \
    X(ESYS, -16, "system call failed")                                                             \
    X(EEOF, -17, "end of input")                                                                   \
    X(ETIMEDOUT, -18, "timed out")                                                                 \
    X(EUNAVAIL, -19, "device is unavailable")

enum pe_err {
#define PE__ERR_ENUM(name, value, msg) PE_##name = (value),
    PE_ERRORS(PE__ERR_ENUM)
#undef PE__ERR_ENUM
};

/* Human-readable message for an error code; never NULL ("unknown error" for foreign codes). */
const char *pe_strerror(int err);

/* Symbolic name such as "EFULL"; never NULL. */
const char *pe_errname(int err);

#endif
