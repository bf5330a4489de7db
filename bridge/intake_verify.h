/* SPDX-License-Identifier: Apache-2.0 */
/*
 * intake_verify.h - the intake's record checks (pe_event_verify) spread over helper threads.
 *
 * A batch of an events message is split into its lines first; every record is then verified
 * (JSON, canonical form, the v1 fields, its hash) by the loop thread and the pool's helpers
 * together, each line on exactly one thread, and intake_verify_run returns only once every
 * line has its verdict. What follows (the till's chain, the signature check, the spool, the
 * acks) stays on the loop thread, in line order: the helpers never touch the bridge's state.
 */
#ifndef POSEDGE_BRIDGE_INTAKE_VERIFY_H
#define POSEDGE_BRIDGE_INTAKE_VERIFY_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "posedge/event.h"

#define INTAKE_WHY_MAX 200 /* room for pe_event_verify's reason */

/* One line of an events message and, after intake_verify_run, its verdict. */
struct intake_line {
    const char *rec;  /* the record's bytes, borrowed from the message */
    size_t len;
    const char *sig;  /* its signature after the tab, NULL when none */
    size_t siglen;
    bool bare_tab;    /* a tab with nothing after it: a dead letter, not verified */
    int rc;           /* pe_event_verify's result */
    struct pe_event_meta m;          /* on PE_OK */
    char hash[PE_SHA256_HEXLEN];     /* on PE_OK */
    cJSON *root;                     /* on PE_OK: the parsed record, owned by the line */
    char why[INTAKE_WHY_MAX];        /* otherwise: why it was refused */
};

struct intake_verify;

/*
 * Start helpers helper threads (0: every record is verified on the calling thread; -1: one
 * fewer than the processors online, at most 3). Errors: PE_ENOMEM, PE_EIO (a thread could not
 * be started: nothing is left running). On success *out is the pool (intake_verify_destroy).
 */
int intake_verify_create(int helpers, struct intake_verify **out);

/* Stop and join the helpers, and free the pool. NULL is a no-op. */
void intake_verify_destroy(struct intake_verify *p);

/* The helper threads running. */
int intake_verify_helpers(const struct intake_verify *p);

/*
 * Verify v[0..n) (bare tabs are skipped), on this thread and the helpers; returns when all are
 * done. Each line's root then belongs to the line: intake_line_free releases it. Not
 * reentrant: one caller thread.
 */
void intake_verify_run(struct intake_verify *p, struct intake_line *v, size_t n);

/* Free what a verified line holds (its root). */
void intake_line_free(struct intake_line *l);

#endif
