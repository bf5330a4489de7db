/* SPDX-License-Identifier: Apache-2.0 */
/* file.c - read a whole small file into memory, refusing one larger than the caller's limit. */
#include "posedge/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"

int pe_file_read(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return PE_EIO;
    }
    int rc = PE_OK, why = 0;
    size_t n = 0, cap = 4096;
    char *buf = malloc(cap), *more;
    if (!buf) {
        rc = PE_ENOMEM;
        goto close_file;
    }
    for (;;) {
        /* Read one byte past the limit to tell "exactly max" from "too large". */
        size_t want = cap - 1 - n;
        if (want > max + 1 - n)
            want = max + 1 - n;
        size_t got = fread(buf + n, 1, want, f);
        n += got;
        if (got < want)
            break;
        if (n > max) {
            why = EFBIG;
            break;
        }
        if (n + 1 == cap) {
            cap *= 2;
            if (!(more = realloc(buf, cap))) {
                rc = PE_ENOMEM;
                goto free_buf;
            }
            buf = more;
        }
    }
    if (!why && ferror(f))
        why = errno ? errno : EIO;
    if (why) {
        if (err && errlen)
            snprintf(err, errlen, "%s: cannot read: %s", path, strerror(why));
        rc = PE_EIO;
        goto free_buf;
    }
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    goto close_file;
free_buf:
    free(buf);
close_file:
    fclose(f);
    return rc;
}
