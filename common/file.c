/* SPDX-License-Identifier: Apache-2.0 */
/* file.c - small whole files: read one into memory (refusing one larger than the caller's limit),
 * or replace one atomically and durably (write, fsync, rename, fsync the folder), optionally
 * with a given mode and without replacing an existing file (keys). */
#include "posedge/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

int pe_file_write_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    char tmp[4096], dir[4096];
    const char *step = "path too long";
    int e = ENAMETOOLONG, fd = -1;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.new", path) >= sizeof tmp)
        goto failed;
    step = "create";
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640)) < 0)
        goto failed_errno;
    step = "write";
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, (const char *)data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto failed_errno;
        off += (size_t)n;
    }
    step = "fsync";
    if (fsync(fd) != 0)
        goto failed_errno;
    step = "close";
    int rc = close(fd);
    fd = -1;
    if (rc != 0)
        goto failed_errno;
    step = "rename";
    if (rename(tmp, path) != 0)
        goto failed_errno;
    /* The rename is durable only once the folder's entry is on disk. */
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return PE_OK;

failed_errno:
    e = errno;
failed:
    if (fd >= 0) {
        close(fd);
        unlink(tmp);
    }
    if (err && errlen)
        snprintf(err, errlen, "%s: cannot write (%s): %s", path, step, strerror(e));
    return PE_EIO;
}

/* The folder of path, for fsyncing a rename or link in it. */
static void sync_dir_of(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

int pe_file_write_atomic_mode(const char *path, const void *data, size_t len, unsigned mode,
                              unsigned flags, char *err, size_t errlen)
{
    char tmp[4096];
    const char *step = "path too long";
    int e = ENAMETOOLONG, fd = -1, rc = PE_EIO;
    bool made = false; /* the temporary exists and must go on failure */
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.XXXXXX", path) >= sizeof tmp)
        goto failed;
    /* mkstemp: O_CREAT|O_EXCL, mode 0600, a name of its own (a stale temporary of a crashed
     * writer never blocks the next one). fchmod sets the final mode before any data exists. */
    step = "create";
    if ((fd = mkstemp(tmp)) < 0)
        goto failed_errno;
    made = true;
    step = "chmod";
    if (fchmod(fd, (mode_t)(mode & 07777)) != 0)
        goto failed_errno;
    step = "write";
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, (const char *)data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto failed_errno;
        off += (size_t)n;
    }
    step = "fsync";
    if (fsync(fd) != 0)
        goto failed_errno;
    step = "close";
    int crc = close(fd);
    fd = -1;
    if (crc != 0)
        goto failed_errno;
    if (flags & PE_FILE_NOREPLACE) {
        /* link(2) fails when path exists: the check and the creation are one step. */
        step = "link";
        if (link(tmp, path) != 0) {
            if (errno == EEXIST) {
                unlink(tmp);
                if (err && errlen)
                    snprintf(err, errlen, "%s: exists already (not replaced)", path);
                return PE_EEXIST;
            }
            goto failed_errno;
        }
        unlink(tmp);
    } else {
        step = "rename";
        if (rename(tmp, path) != 0)
            goto failed_errno;
    }
    /* The rename or link is durable only once the folder's entry is on disk. */
    sync_dir_of(path);
    return PE_OK;

failed_errno:
    e = errno;
failed:
    if (fd >= 0)
        close(fd);
    if (made)
        unlink(tmp);
    if (err && errlen)
        snprintf(err, errlen, "%s: cannot write (%s): %s", path, step, strerror(e));
    return rc;
}
