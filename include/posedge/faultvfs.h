/* SPDX-License-Identifier: Apache-2.0 */
/*
 * faultvfs.h - for tests only: "pe-fault", a SQLite VFS that fails the Nth write or sync
 * (store/journal_faultvfs.c), the way a full disk or a failing device would.
 *
 * The unit tests of the journal and the till step it over every I/O call of a run; the
 * daemons' fault-injection builds (-DPE_FAULT_INJECTION: the san and test variants) arm it from
 * environment variables in system tests. No release code path uses it: production code
 * includes journal.h, never this header.
 */
#ifndef POSEDGE_FAULTVFS_H
#define POSEDGE_FAULTVFS_H

#include <stdbool.h>
#include <stdint.h>

enum pe_fault_op { PE_FAULT_WRITE = 1, PE_FAULT_SYNC = 2, PE_FAULT_ANY = 3 };

/* Register the VFS "pe-fault", a shim over the default VFS. Idempotent. */
int pe_faultvfs_register(void);

/* From now on, fail the nth (1-based) matching I/O call with err (PE_EIO or PE_EFULL); when
 * sticky, keep failing every matching call after it too. */
void pe_faultvfs_arm(enum pe_fault_op op, int64_t nth, int err, bool sticky);
void pe_faultvfs_disarm(void);

/* Matching calls seen since the last arm, and failures injected. */
int64_t pe_faultvfs_calls(void);
int64_t pe_faultvfs_failures(void);

#endif
