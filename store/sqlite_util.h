/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sqlite_util.h - what the journal and the spool share about SQLite (private to store/): the
 * one mapping of SQLite result codes to posedge errors, the structural check at open, and the
 * error-message helper.
 */
#ifndef POSEDGE_STORE_SQLITE_UTIL_H
#define POSEDGE_STORE_SQLITE_UTIL_H

#include <sqlite3.h>
#include <stddef.h>

/* SQLite result code (extended or primary) -> PE_* (SQLITE_CONSTRAINT -> PE_EEXIST). */
int store__rc(int rc);

/* PRAGMA quick_check: PE_OK for a single "ok" row, else PE_ECORRUPT with the first message
 * in detail ("quick_check: ..."); another error code when the check could not run. what names
 * the caller in the log line ("journal", "spool"). */
int store__quick_check(sqlite3 *db, const char *what, char *detail, size_t n);

/* printf into err when the caller gave room for a message. */
void store__seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
