/* SPDX-License-Identifier: Apache-2.0 */
/* file.h - reading a whole (small) file, for configuration, catalogs and scenarios, and replacing
 * one atomically (state files; keys and certificates with a given mode). */
#ifndef POSEDGE_FILE_H
#define POSEDGE_FILE_H

#include <stddef.h>

/*
 * Read the file at path, at most max bytes, into a malloc'd NUL-terminated buffer (*out, the
 * caller frees; *len may be NULL). On error err gets "<path>: cannot read: <reason>" (a file
 * over max bytes reads "File too large"). Errors: PE_EIO, PE_ENOMEM.
 */
int pe_file_read(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen);

/*
 * Replace the file at path with data atomically and durably: write path.new (mode 0640), fsync
 * it, rename it over path, fsync the folder. After a power loss the file holds either the old
 * or the new contents, never a torn mix (a plain rewrite in place could leave a half-written
 * file). Errors: PE_EIO (err says which step and why).
 */
int pe_file_write_atomic(const char *path, const void *data, size_t len, char *err, size_t errlen);

/* Flags of pe_file_write_atomic_mode. */
#define PE_FILE_NOREPLACE 1u /* fail with PE_EEXIST when path exists (never clobber a key) */

/*
 * Like pe_file_write_atomic, with the file's permission bits given: the data goes to a fresh
 * temporary file next to path (created O_EXCL with mode 0600 and then set to exactly mode,
 * whatever the umask, before a byte is written), which is fsynced and renamed over path; the
 * folder is fsynced. So a private key is never readable by others, not even for a moment, and
 * a crash leaves the old file or the new one, at worst a stray "path.XXXXXX" temporary. With
 * PE_FILE_NOREPLACE the temporary is linked to path instead, which fails when path exists.
 * Errors: PE_EEXIST (NOREPLACE and path exists), PE_EIO (err says which step and why).
 */
int pe_file_write_atomic_mode(const char *path, const void *data, size_t len, unsigned mode,
                              unsigned flags, char *err, size_t errlen);

#endif
