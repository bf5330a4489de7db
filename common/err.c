/* SPDX-License-Identifier: Apache-2.0 */
/* err.c - names and messages of the error codes, generated from the one list in err.h. */
#include "posedge/err.h"

#include <stddef.h>

struct err_entry {
    int code;
    const char *name;
    const char *msg;
};

static const struct err_entry table[] = {
#define PE__ERR_ROW(name, value, msg) {value, #name, msg},
    PE_ERRORS(PE__ERR_ROW)
#undef PE__ERR_ROW
};

static const struct err_entry *find(int err)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].code == err)
            return &table[i];
    return NULL;
}

const char *pe_strerror(int err)
{
    const struct err_entry *e = find(err);
    return e ? e->msg : "unknown error";
}

const char *pe_errname(int err)
{
    const struct err_entry *e = find(err);
    return e ? e->name : "EUNKNOWN";
}
