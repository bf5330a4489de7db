/* SPDX-License-Identifier: Apache-2.0 */
/*
 * version.h - which posedge this is: the package version (from pkg/changelog) and the board the
 * binary was built for (sim, rpi4, armhf). Both are static strings.
 */
#ifndef POSEDGE_VERSION_H
#define POSEDGE_VERSION_H

const char *pe_version(void);
const char *pe_board(void);

#endif
