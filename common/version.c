/* SPDX-License-Identifier: Apache-2.0 */
/*
 * version.c - the version and board compiled into every binary.
 *
 * The version has one home, the top entry of pkg/changelog (the packages' Debian changelog);
 * the Makefile reads it from there (or takes VERSION=... from the command line) and compiles
 * only this file with it, so a new version rebuilds one object.
 */
#include "posedge/version.h"

#ifndef PE_VERSION
#error "PE_VERSION must be defined by the build (Makefile: from pkg/changelog)"
#endif
#ifndef PE_BOARD
#error "PE_BOARD must be defined by the build (Makefile: BOARD)"
#endif

const char *pe_version(void)
{
    return PE_VERSION;
}

const char *pe_board(void)
{
    return PE_BOARD;
}
