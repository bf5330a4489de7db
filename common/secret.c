/* SPDX-License-Identifier: Apache-2.0 */
/*
 * secret.c - the one reader of secret files. Every copy of a secret it makes is wiped before
 * the memory is given back, so a core dump or a reused heap block holds no password.
 */
#include "posedge/secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "posedge/err.h"
#include "posedge/file.h"

void pe_secret_wipe(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}

int pe_secret_check_mode(const char *what, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s %s: cannot read: %s", what, path, strerror(errno));
        return PE_EIO;
    }
    if (st.st_mode & 027) {
        snprintf(err, errlen,
                 "%s %s: mode %04o lets others read it (at most 0640: chmod 600 or 640)", what,
                 path, (unsigned)(st.st_mode & 07777));
        return PE_EINVAL;
    }
    return PE_OK;
}

int pe_secret_read(const char *what, const char *path, unsigned flags, char *out, size_t outlen,
                   char *err, size_t errlen)
{
    if (outlen)
        out[0] = '\0';
    int rc;
    if ((flags & PE_SECRET_PRIVATE) && (rc = pe_secret_check_mode(what, path, err, errlen)))
        return rc;
    char *text = NULL;
    size_t len = 0;
    char why[512];
    if ((rc = pe_file_read(path, 64 * 1024, &text, &len, why, sizeof why))) {
        /* why reads "<path>: cannot read: <reason>"; say which setting it is. */
        snprintf(err, errlen, "%s %s", what, why);
        return rc;
    }
    size_t n = strcspn(text, "\r\n");
    if (n >= outlen) {
        snprintf(err, errlen, "%s %s: the first line is longer than %zu bytes", what, path,
                 outlen ? outlen - 1 : 0);
        rc = PE_EINVAL;
    } else {
        memcpy(out, text, n);
        out[n] = '\0';
    }
    pe_secret_wipe(text, len);
    free(text);
    return rc;
}
