/* SPDX-License-Identifier: Apache-2.0 */
/*
 * archive.h - posedge-archive/1 (docs/audit.md): a range of a journal as a file an auditor checks
 * without posedge, and the figures its manifest states of its records (the writer's, in
 * store/journal_archive.c, and the ones posedge-ctl audit recomputes: one definition for both).
 */
#ifndef POSEDGE_ARCHIVE_H
#define POSEDGE_ARCHIVE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posedge/crypto.h"
#include "posedge/journal.h"

#define PE_ARCHIVE_FORMAT "posedge-archive/1"

/* What a manifest states of its records: counts, and money per type and currency. */
struct pe_archive_figures {
    int64_t count;   /* records */
    int64_t nsigned; /* records with a signature (not counting the marks of an outage) */
    int64_t nkeys;   /* signer_installed records */
    cJSON *types;    /* {"sale": n, ...}, owned */
    cJSON *totals;   /* {"sale": {"EUR": minor units}, ...}: sale and return totals.total, void
                        amount (training records left out), owned */
    int64_t nmarked;   /* records marked unsigned in an outage of the signer (signer.h) */
    int64_t perpetual; /* the perpetual total (report.h) after the last record counted: set it
                          to the total at the anchor after init */
};

/* Errors: PE_ENOMEM. pe_archive_figures_free after, whatever it returns. */
int pe_archive_figures_init(struct pe_archive_figures *f);

/* Count the parsed record rec (already verified) of type with its sig column (sig NULL:
 * unsigned; an outage's mark counts as marked, not signed). Errors: PE_EINVAL (a sale, return or
 * void without currency or amount), PE_ERANGE (a sum beyond 2^53), PE_ENOMEM. */
int pe_archive_figures_add(struct pe_archive_figures *f, const cJSON *rec, const char *type,
                           const void *sig, size_t siglen);

void pe_archive_figures_free(struct pe_archive_figures *f);

/* What pe_journal_export wrote. */
struct pe_archive_written {
    int64_t from, to;               /* the range */
    int64_t count, nsigned;         /* records, signed ones */
    char last[PE_SHA256_HEXLEN];    /* the hash of seq to */
};

/*
 * Write seq from..to of journal j (db: its file name, for messages; from 0: the first record it
 * holds, after its anchor; to 0: its last) as an archive at path: path.new written, fsynced,
 * renamed over path, the folder fsynced, so the file is complete and durable when this returns and
 * absent or untouched when it fails. The journal should have been verified (pe_journal_verify):
 * records are written as they are. *out (may be NULL) says what was written. Errors: PE_ERANGE (not
 * a range the journal holds, or one that begins inside an outage of the signer, or ends inside one
 * before the journal's last record: why says which), PE_EIO (why names the file and the reason),
 * PE_EINVAL (why: a record without currency or amount), PE_ENOMEM.
 */
int pe_journal_export(struct pe_journal *j, const char *db, int64_t from, int64_t to,
                      const char *path, struct pe_archive_written *out, char *why, size_t whylen);

#endif
