/* SPDX-License-Identifier: Apache-2.0 */
/*
 * journal_int.h - what journal.c (open, transactions, events, verification) and
 * journal_ledger.c (stock, counters, sale lines, parked basket) share.
 *
 * The invariant both files keep: j->tail is the last event as this handle sees it (including
 * the open transaction's appends) and j->committed the last durable one; whenever a transaction
 * ends without a successful COMMIT, tail goes back to committed, so the next append chains from
 * what is really on disk.
 */
#ifndef POSEDGE_STORE_JOURNAL_INT_H
#define POSEDGE_STORE_JOURNAL_INT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "posedge/journal.h"
#include "posedge/signer.h"

/* Statements prepared once at open; the SQL is in journal.c. */
enum journal_stmt {
    JS_BEGIN,
    JS_COMMIT,
    JS_ROLLBACK,
    JS_DATA_VERSION,
    JS_TAIL,
    JS_FIND,
    JS_INSERT,
    JS_GET,
    JS_SIGNING,
    JS_TS,
    JS_STOCK_ADD,
    JS_STOCK_ADD_RET,
    JS_STOCK_GET,
    JS_STOCK_SET,
    JS_COUNTER_ADD,
    JS_COUNTER_SET,
    JS_COUNTER_GET,
    JS_LINE_ADD,
    JS_LINE_LIST,
    JS_LINE_GET,
    JS_LINE_RETURN,
    JS__COUNT
};

/* Statements of the applied catalog (journal_catalog.c), prepared on first use: a journal
 * opened read-only from before the catalog tables has none of them. */
enum journal_cstmt {
    JC_STATE_GET,
    JC_STATE_SET,
    JC_BY_BARCODE,
    JC_BY_ID,
    JC_ITEM_PUT,
    JC_ITEM_DEL,
    JC_BARCODES_DEL,
    JC_BARCODE_OWNER,
    JC_BARCODE_PUT,
    JC_PROMO_PUT,
    JC_PROMO_DEL,
    JC_STAGE_PUT,
    JC_STAGE_GET,
    JC__COUNT
};

/* Where signing stands at a point of the journal: the group of the last signed record or
 * signer_installed event. */
struct journal_signing {
    char alg[PE_SIGNER_ALG_MAX];       /* "ES256"; "none" (turned off); "" never signed */
    char key_id[PE_SIGNER_KEY_ID_LEN]; /* the group's key, "" unless signed */
    int64_t counter;                   /* the last counter stored under key_id */
    int64_t seq;                       /* the record it was learnt from, 0 for none */
    /* An outage of the signer (signer.h), open from a signer_down event until the signer_up
     * that covers it: */
    int64_t down_seq; /* its signer_down event, 0 when no outage is open */
    int64_t down_ms;  /* that event's time */
};

struct journal_tail {
    int64_t seq;                 /* last seq, 0 when the journal is empty */
    char hash[PE_SHA256_HEXLEN]; /* its hash, the genesis value when empty */
    int64_t ts_ms;               /* its event time, 0 when empty */
    struct journal_signing sig;  /* valid once j->sig_loaded */
};

struct pe_journal {
    sqlite3 *db;                   /* the connection */
    sqlite3_stmt *st[JS__COUNT];   /* hot statements, prepared at open */
    char *path;                    /* file name, for messages */
    char store[PE_ID_MAX];         /* store id from the meta table */
    char terminal[PE_ID_MAX];      /* terminal id from the meta table */
    bool readonly;                 /* opened without write access */
    bool in_txn;                   /* between a successful begin and commit/rollback */
    int lost;                      /* error with which SQLite ended the open transaction */
    int64_t data_version;          /* PRAGMA data_version when the tail was last loaded */
    struct journal_tail tail;      /* last event including the open transaction */
    struct journal_tail committed; /* last committed event */
    sqlite3_stmt *cst[JC__COUNT];  /* catalog statements, NULL until first used */
    struct pe_signer *signer;      /* signs every append; NULL: none (borrowed) */
    bool sig_loaded;               /* tail.sig and committed.sig have been read */
    int sign_err;                  /* the last signer-down error of sign, 0 none */
};

/* Convert a SQLite result code to PE_E*, logging SQLite's message once. When SQLite has ended
 * the open transaction by itself (I/O error, full disk), remember that and restore the tail. */
int journal__fail(struct pe_journal *j, int rc, const char *op);

/* PE_OK when a write may run now: a transaction is open and still alive. */
int journal__writable(const struct pe_journal *j);

/* Read the tail (and, when next needed, signing) again after this handle changed the file
 * outside an append (pruning). */
int journal__reload(struct pe_journal *j);

/* Finalize the catalog's statements (journal_catalog.c); at close. */
void journal__catalog_close(struct pe_journal *j);

#endif
