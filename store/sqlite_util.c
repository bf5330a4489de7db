/* SPDX-License-Identifier: Apache-2.0 */
/* sqlite_util.c - SQLite helpers shared by the journal and the spool (see sqlite_util.h). */
#include "store/sqlite_util.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/log.h"

int store__rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return PE_OK;
    case SQLITE_FULL:
        return PE_EFULL;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return PE_ECORRUPT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return PE_EBUSY;
    case SQLITE_NOMEM:
        return PE_ENOMEM;
    case SQLITE_CONSTRAINT:
        return PE_EEXIST;
    case SQLITE_READONLY:
        return PE_ESTATE;
    default: /* SQLITE_IOERR*, SQLITE_CANTOPEN, SQLITE_PROTOCOL and the rest */
        return PE_EIO;
    }
}

int store__quick_check(sqlite3 *db, const char *what, char *detail, size_t n)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);
    int rows = 0;
    bool ok = false;
    if (rc == SQLITE_OK) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *msg = (const char *)sqlite3_column_text(st, 0);
            if (rows++ == 0) {
                ok = msg && strcmp(msg, "ok") == 0;
                snprintf(detail, n, "quick_check: %s", msg ? msg : "(null)");
            }
        }
    }
    if (rc != SQLITE_DONE) {
        snprintf(detail, n, "quick_check: %s", sqlite3_errmsg(db));
        pe_error("store.sqlite", "db=%s op=quick_check rc=%d msg=\"%s\"", what, rc,
                 sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        int e = store__rc(rc);
        return e == PE_ECORRUPT || e == PE_OK ? PE_ECORRUPT : e;
    }
    return ok && rows == 1 ? PE_OK : PE_ECORRUPT;
}

void store__seterr(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}
