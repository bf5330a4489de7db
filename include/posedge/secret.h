/* SPDX-License-Identifier: Apache-2.0 */
/*
 * secret.h - reading secrets (passwords, tokens) from files: the one reader of posedge.
 *
 * A secret never comes from a configuration value or a command line, only from a file named by
 * one. The reader takes the file's first line (without CR/LF), can refuse a file whose mode lets
 * others read it (as ssh does with keys), and leaves no copy behind: it reads straight into the
 * caller's buffer (no stdio or heap copy), wipes what it read past the first line, and wipes
 * the whole buffer on an error. The caller wipes its buffer with pe_secret_wipe when done.
 * Messages name the setting and the file, never the secret.
 */
#ifndef POSEDGE_SECRET_H
#define POSEDGE_SECRET_H

#include <stddef.h>

#define PE_SECRET_MAX 1024 /* the longest first line a secret file may hold, and its NUL */

/* Flags of pe_secret_read. */
#define PE_SECRET_PRIVATE 1u /* refuse a file that its group may write or others may read */

/*
 * Read the first line of the file at path into out (outlen bytes, NUL-terminated; an empty
 * file gives ""; the line ends at the first LF, CR or NUL). what names the setting in messages
 * ("mqtt.password_file"): "<what> <path>: cannot read: <reason>", "<what> <path>: the first
 * line is longer than N bytes". With PE_SECRET_PRIVATE a file with any of the mode bits 0027
 * set is refused, naming the file and its mode. Errors (err says which file and why): PE_EIO
 * (cannot be read), PE_EINVAL (the line is longer than outlen - 1 bytes, the mode is too open,
 * or out is NULL or outlen 0). On an error out is wiped (all zeros).
 */
int pe_secret_read(const char *what, const char *path, unsigned flags, char *out, size_t outlen,
                   char *err, size_t errlen);

/*
 * Check that the file at path (a key or password file) is not readable by others and not
 * writable by its group. Errors: PE_EIO (cannot stat: err says why), PE_EINVAL (too open: err
 * names the file and the mode).
 */
int pe_secret_check_mode(const char *what, const char *path, char *err, size_t errlen);

/* Overwrite n bytes at p with zeros, in a way the compiler keeps. p may be NULL. */
void pe_secret_wipe(void *p, size_t n);

#endif
