/* SPDX-License-Identifier: Apache-2.0 */
/*
 * secret.c - the one reader of secret files.
 *
 * The invariant: the secret is never in memory anywhere but the caller's buffer. The file is
 * read with read(2) straight into that buffer, not through stdio (whose buffer would be freed
 * with a copy in it) nor a growing heap buffer (whose realloc would leave copies behind), and
 * the buffer is wiped on every error, so a core dump or a reused heap block holds no password.
 * The mode is checked on the open descriptor, so the file checked is the file read.
 */
#include "posedge/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posedge/err.h"

void pe_secret_wipe(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}

/* PE_OK when mode lets neither others read (or use) the file nor its group write it; else
 * PE_EINVAL with err naming the file and the mode. */
static int mode_ok(const char *what, const char *path, mode_t mode, char *err, size_t errlen)
{
    if (!(mode & 027))
        return PE_OK;
    snprintf(err, errlen, "%s %s: mode %04o lets %s (at most 0640: chmod 600 or 640)", what, path,
             (unsigned)(mode & 07777), mode & 007 ? "others read it" : "its group write it");
    return PE_EINVAL;
}

int pe_secret_check_mode(const char *what, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s %s: cannot read: %s", what, path, strerror(errno));
        return PE_EIO;
    }
    return mode_ok(what, path, st.st_mode, err, errlen);
}

int pe_secret_read(const char *what, const char *path, unsigned flags, char *out, size_t outlen,
                   char *err, size_t errlen)
{
    if (!out || outlen == 0)
        return PE_EINVAL;
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        snprintf(err, errlen, "%s %s: cannot read: %s", what, path, strerror(errno));
        pe_secret_wipe(out, outlen);
        return PE_EIO;
    }
    int rc = PE_OK;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s %s: cannot read: %s", what, path, strerror(errno));
        rc = PE_EIO;
        goto wipe_out;
    }
    if ((flags & PE_SECRET_PRIVATE) && (rc = mode_ok(what, path, st.st_mode, err, errlen)))
        goto wipe_out;
    /* Read until the first line ends, the file ends, or out is full: the line must fit in
     * outlen - 1 bytes, with its NUL. */
    size_t n = 0;
    bool ended = false;
    while (!ended && n < outlen) {
        ssize_t got = read(fd, out + n, outlen - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(err, errlen, "%s %s: cannot read: %s", what, path, strerror(errno));
            rc = PE_EIO;
            goto wipe_out;
        }
        if (got == 0)
            break;
        ended = memchr(out + n, '\n', (size_t)got) || memchr(out + n, '\r', (size_t)got) ||
                memchr(out + n, '\0', (size_t)got);
        n += (size_t)got;
    }
    size_t line = 0;
    while (line < n && out[line] != '\n' && out[line] != '\r' && out[line] != '\0')
        line++;
    if (line >= outlen) {
        snprintf(err, errlen, "%s %s: the first line is longer than %zu bytes", what, path,
                 outlen - 1);
        rc = PE_EINVAL;
        goto wipe_out;
    }
    /* Whatever was read after the line (the rest of the file) is wiped too. */
    pe_secret_wipe(out + line, n - line);
    out[line] = '\0';
    goto close_fd;
wipe_out:
    pe_secret_wipe(out, outlen);
close_fd:
    close(fd);
    return rc;
}
