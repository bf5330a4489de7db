/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sha256_compat.h - mbedTLS's streaming SHA-256 under one name on every mbedTLS the boards
 * have: 3.x names the functions mbedtls_sha256_starts/update/finish, 2.x (Debian 12's 2.28)
 * mbedtls_sha256_*_ret. Include after <mbedtls/sha256.h>; the names are macros.
 */
#ifndef POSEDGE_SHA256_COMPAT_H
#define POSEDGE_SHA256_COMPAT_H

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#if MBEDTLS_VERSION_MAJOR >= 3
#define sha256_starts mbedtls_sha256_starts
#define sha256_update mbedtls_sha256_update
#define sha256_finish mbedtls_sha256_finish
#else
#define sha256_starts mbedtls_sha256_starts_ret
#define sha256_update mbedtls_sha256_update_ret
#define sha256_finish mbedtls_sha256_finish_ret
#endif

#endif
