/* SPDX-License-Identifier: Apache-2.0 */
/*
 * spool.h - the bridge's durable spool: events received from tills, kept until Kafka has them.
 *
 * One SQLite file (WAL, synchronous=FULL). Per (store, terminal) it keeps two contiguous
 * watermarks: spooled = highest seq such that every seq up to it is in the spool, delivered =
 * likewise for Kafka delivery reports. Intake accepts only the next seq of a terminal (its prev
 * must equal the hash of the spooled tail): a duplicate is ignored, a gap is not stored (the
 * till resends from spooled+1: go-back-N), so the spooled watermark is always the spool's
 * contiguous tail. Rows at or below delivered may be pruned; nothing else is ever deleted.
 * Intake writes happen in group-commit transactions (begin/add.../commit), and the ack that
 * carries the watermark is published only after the commit returns.
 */
#ifndef POSEDGE_SPOOL_H
#define POSEDGE_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posedge/event.h"

struct pe_spool;

struct pe_spool_opts {
    int64_t max_bytes; /* quota on bytes of undelivered records; 0: none. When full, add
                        * refuses with PE_EFULL (fiscal records are never evicted) */
    const char *vfs;   /* SQLite VFS name, NULL for the default (tests: "pe-fault") */
};

/* Open or create. opts may be NULL (no quota). Errors: PE_EIO, PE_ECORRUPT (not a spool, or
 * quick_check failed; err names the file), PE_EINVAL (a newer schema version), PE_ENOMEM. */
int pe_spool_open(const char *path, const struct pe_spool_opts *opts, struct pe_spool **out,
                  char *err, size_t errlen);
struct pe_spool_stats;

/*
 * Check the spool at path as pe_spool_open does (what the file is, quick_check, every
 * terminal's rows against its watermarks) without creating or changing any file: it is read
 * as immutable when it has no write-ahead log, else read-only with its -shm index read-only
 * too (only a write-ahead log left without its index makes SQLite build one). May run while
 * a bridge has the spool open. stats and
 * terminals (either may be NULL) get its counts; an empty file counts as a spool with none.
 * err names the file and what is wrong. Errors: PE_ENOTFOUND (no file), PE_ECORRUPT (not a
 * spool, or damaged), PE_EINVAL (a newer schema version), PE_EIO, PE_ENOMEM.
 */
int pe_spool_verify(const char *path, struct pe_spool_stats *stats, int64_t *terminals, char *err,
                    size_t errlen);

/* Close; pe_spool_close(NULL) is a no-op. An open transaction is rolled back. */
void pe_spool_close(struct pe_spool *s);

struct pe_spool_terminal {
    char store[PE_ID_MAX];
    char terminal[PE_ID_MAX];
    int64_t spooled;                  /* contiguous spooled watermark (0: none yet) */
    int64_t delivered;                /* contiguous delivered watermark */
    char tail_hash[PE_SHA256_HEXLEN]; /* hash of seq `spooled` (genesis when 0) */
    int64_t oldest_pending_ts_ms;     /* event time of seq delivered+1, 0 when none pending */
};

/* State of one terminal (as of the last commit plus the open transaction); an unknown
 * terminal reads as zeros with the genesis hash. Errors: PE_EINVAL (not a valid id), PE_EIO. */
int pe_spool_terminal(struct pe_spool *s, const char *store, const char *terminal,
                      struct pe_spool_terminal *out);

/* Call fn for every known terminal, in (store, terminal) order; fn returning non-zero stops. */
int pe_spool_terminals(struct pe_spool *s, int (*fn)(const struct pe_spool_terminal *t, void *ctx),
                       void *ctx);

int pe_spool_begin(struct pe_spool *s);
/* Errors: PE_EFULL, PE_EIO; on failure everything since begin is rolled back. */
int pe_spool_commit(struct pe_spool *s);
void pe_spool_rollback(struct pe_spool *s);

/*
 * Add one verified record (rec: its canonical bytes; m, prev and hash from pe_event_verify)
 * inside the open transaction.
 * Returns PE_OK (stored; spooled advanced), PE_EEXIST (seq <= spooled with the same hash: a
 * duplicate, ignored), PE_ECHAIN (seq <= spooled with another hash, or prev is not the tail
 * hash: a conflict, for the dead-letter topic), PE_EAGAIN (seq > spooled + 1: a gap, not
 * stored), PE_EFULL (quota reached, not stored), PE_ESTATE, PE_EIO, PE_EINVAL (seq < 1, an
 * invalid id, type or hash: pe_event_verify output never is), PE_ENOMEM. A seq already pruned
 * counts as a duplicate: its hash is gone, it was delivered, and a till whose chain diverged
 * shows at its next new record.
 */
int pe_spool_add(struct pe_spool *s, const struct pe_event_meta *m, const char *prev,
                 const char *hash, const char *rec, size_t len);

/*
 * pe_spool_add, and with what travelled beside the record: sig (siglen bytes, the record's
 * signature as the till sent it; NULL: none) and rejected (NULL, or why the bridge refuses the
 * record for the fiscal topics: it is stored all the same, so that the chain and the watermarks
 * move on, and the drain sends it to the dead-letter topic with that reason). Both are kept as
 * given (sig as text) and handed back by pe_spool_rows. Returns and errors as pe_spool_add; PE_EINVAL also for
 * a sig of 0 bytes.
 */
int pe_spool_add_signed(struct pe_spool *s, const struct pe_event_meta *m, const char *prev,
                        const char *hash, const char *rec, size_t len, const void *sig,
                        size_t siglen, const char *rejected);

/* Where a terminal's next record must go, as of the open transaction: *spooled (the next seq is
 * one above) and tail_hash (its prev must be that; the genesis hash for a terminal the spool does
 * not know). No I/O. Errors: PE_EINVAL (not a valid id). */
int pe_spool_next(struct pe_spool *s, const char *store, const char *terminal, int64_t *spooled,
                  char tail_hash[PE_SHA256_HEXLEN]);

struct pe_spool_row {
    const char *store, *terminal;
    int64_t seq;
    const char *id;
    const char *type;
    int64_t ts_ms;
    const char *record; /* canonical bytes */
    size_t len;
    const char *hash;     /* its chain hash, hex */
    const char *sig;      /* its signature as the till sent it (NUL-terminated), NULL: none */
    size_t siglen;        /* bytes at sig */
    const char *rejected; /* NULL, or why it goes to the dead-letter topic instead */
};

/*
 * Call fn for up to max spooled rows of one terminal with seq > after, in seq order. Row
 * pointers are valid during the call only. fn returning non-zero stops (and is returned).
 * Only committed rows are read (what may still be rolled back is never handed to Kafka); fn
 * must not call pe_spool_rows again (PE_ESTATE).
 */
int pe_spool_rows(struct pe_spool *s, const char *store, const char *terminal, int64_t after,
                  int max, int (*fn)(const struct pe_spool_row *r, void *ctx), void *ctx);

/*
 * Record that Kafka acknowledged everything of a terminal up to seq (delivery reports arrive
 * in order per terminal). Runs in its own transaction unless one is open. Raises delivered to
 * seq if higher, never lowers it. Errors: PE_EINVAL (seq > spooled), PE_EIO.
 */
int pe_spool_set_delivered(struct pe_spool *s, const char *store, const char *terminal,
                           int64_t seq);

/*
 * Kafka holds every record of the terminal up to seq, the last one with this hash (read back
 * from Kafka's committed state at start). Raises delivered to seq. When the spool holds fewer
 * records than that (it was lost and started anew, or restored from an old copy), the
 * terminal's rows are deleted and its spooled, delivered and tail jump to seq and hash, so that
 * its next record must continue Kafka's chain: the spool is brought forward, nothing is sent
 * again. When the spool does hold seq, its hash must be this one. Runs in its own transaction
 * unless one is open. Errors: PE_ECHAIN (the spool's record seq has another hash: nothing is
 * changed), PE_EINVAL (bad id, seq < 1, hash not 64 hex digits), PE_EIO, PE_ENOMEM.
 */
int pe_spool_advance(struct pe_spool *s, const char *store, const char *terminal, int64_t seq,
                     const char *hash);

/* Delete rows at or below their terminal's delivered watermark, at most max rows per call,
 * in its own transaction unless one is open. *deleted (may be NULL) gets the count. */
int pe_spool_prune(struct pe_spool *s, int max, int64_t *deleted);

struct pe_spool_stats {
    int64_t rows;          /* rows in the spool */
    int64_t pending;       /* rows above their delivered watermark */
    int64_t pending_bytes; /* their record bytes (what the quota counts) */
};

int pe_spool_stats(struct pe_spool *s, struct pe_spool_stats *out);

/*
 * Metadata: a small key/value store (table meta) for what the bridge's modules keep across
 * restarts besides the records, e.g. ids learned from an outside service so that the bridge
 * starts while that service is down. The spool does not interpret keys or values; each module
 * uses keys under a prefix of its own ("avro/..."). Meant for a few hundred entries.
 */
struct pe_spool_meta {
    const char *key;    /* the key */
    const char *value;  /* its value (text) */
    int64_t updated_ms; /* when it was last put (the caller's clock) */
};

/*
 * Set key to value (both copied; key not empty), replacing an earlier value, in its own
 * transaction. Not while an intake transaction is open or rows are read (PE_ESTATE). Errors:
 * PE_ESTATE, PE_EINVAL (empty key), PE_EIO, PE_EFULL.
 */
int pe_spool_meta_put(struct pe_spool *s, const char *key, const char *value, int64_t now_ms);

/* The value of key into *value (malloc'd; the caller frees it). Errors: PE_ENOTFOUND (no such
 * key: *value is NULL), PE_EIO, PE_ENOMEM. */
int pe_spool_meta_get(struct pe_spool *s, const char *key, char **value);

/*
 * Call fn for every entry whose key starts with prefix ("" for all), in key order; entry
 * pointers are valid during the call. fn returning non-zero stops and is returned.
 * Errors: PE_EIO.
 */
int pe_spool_meta_list(struct pe_spool *s, const char *prefix,
                       int (*fn)(const struct pe_spool_meta *m, void *ctx), void *ctx);

/*
 * Set key to value inside the open transaction (pe_spool_begin): it reaches the file with the
 * rest of the transaction or not at all. Errors: PE_ESTATE (no transaction open), PE_EINVAL
 * (empty key), PE_EIO, PE_EFULL.
 */
int pe_spool_meta_set(struct pe_spool *s, const char *key, const char *value, int64_t now_ms);

/*
 * ---- documents taken from an outside log ----
 *
 * Keyed documents that a bridge module reads from an outside log (a compacted Kafka topic) and
 * serves on, kept with the positions in that log it has read up to. The spool does not
 * interpret documents, collection names or log names.
 *
 * A document lives in a collection (a short name of the caller's), under a key, in a layer
 * (0..PE_SPOOL_LAYERS-1): one key may have a document in several layers of its collection, and
 * the one in the highest layer is the key's effective document (a general entry in layer 0
 * overridden by a particular one in layer 1, say). The effective document of every key is kept
 * with the change number the caller gave when it last changed; a key that no layer has any
 * more keeps its row without a document (removed), so a reader can list everything that
 * changed after a change number, removals included.
 *
 * Writes run inside pe_spool_begin .. pe_spool_commit, as intake does: the documents, the
 * positions (pe_spool_position_set) and metadata (pe_spool_meta_set) of one batch reach the
 * file together or not at all, so after a crash the positions say exactly what to read next.
 */
#define PE_SPOOL_LAYERS 8

/*
 * Put doc (len bytes of UTF-8 text, copied) as key's document in layer of coll, or with doc
 * NULL take key out of that layer; then bring key's effective document up to date. When it
 * changed (other bytes, or present where it was removed, or removed where it was present) its
 * row gets the change number change and *changed (may be NULL) is set; the same bytes again,
 * or from another layer, change nothing. Inside the open transaction only. Errors: PE_ESTATE
 * (no transaction open), PE_EINVAL (empty coll or key, layer out of range, change < 1),
 * PE_EIO, PE_EFULL, PE_ENOMEM; after an error the caller rolls the transaction back.
 */
int pe_spool_doc_put(struct pe_spool *s, const char *coll, const char *key, int layer,
                     const char *doc, size_t len, int64_t change, bool *changed);

/* One effective document, as pe_spool_docs hands it out (pointers valid during the call). */
struct pe_spool_doc {
    const char *key;  /* its key */
    const char *doc;  /* the effective document (NUL-terminated), NULL when removed */
    size_t len;       /* its length */
    int layer;        /* the layer it comes from, -1 when removed */
    int64_t change;   /* the change number of its last change */
};

/*
 * Call fn for every key of coll whose change number is above after (0: every key), in key
 * order (bytewise), with its effective document; removed keys too when removed is true. fn
 * returning non-zero stops and is returned. Reads what the connection sees: the open
 * transaction's writes included. Errors: PE_EIO, PE_ENOMEM.
 */
int pe_spool_docs(struct pe_spool *s, const char *coll, int64_t after, bool removed,
                  int (*fn)(const struct pe_spool_doc *d, void *ctx), void *ctx);

/*
 * The document of key in layer of coll, or with layer -1 its effective document, into *doc
 * (malloc'd, NUL-terminated; the caller frees) and its length into *len. Reads what the
 * connection sees (the open transaction's writes included). Errors: PE_ENOTFOUND (no such
 * document, or the key is removed: *doc NULL), PE_EINVAL (empty coll or key, layer out of
 * range), PE_EIO, PE_ENOMEM.
 */
int pe_spool_doc_get(struct pe_spool *s, const char *coll, const char *key, int layer,
                     char **doc, size_t *len);

/* Take coll away whole, every layer and every row of it, removals too (a working collection
 * its user empties, as if never used). Inside the open transaction only. Errors: PE_ESTATE (no
 * transaction open), PE_EINVAL (empty coll), PE_EIO, PE_EFULL. */
int pe_spool_docs_drop(struct pe_spool *s, const char *coll);

/* Count the keys of coll changed after after: *present (may be NULL) those with a document,
 * *removed (may be NULL) the others. Errors: PE_EIO. */
int pe_spool_docs_count(struct pe_spool *s, const char *coll, int64_t after, int64_t *present,
                        int64_t *removed);

/* Record that log's partition part is read up to next (the position of the next entry to
 * read), inside the open transaction. Errors: PE_ESTATE (no transaction), PE_EINVAL (empty log,
 * part or next negative), PE_EIO, PE_EFULL. */
int pe_spool_position_set(struct pe_spool *s, const char *log, int32_t part, int64_t next);

struct pe_spool_position {
    const char *log; /* the log's name */
    int32_t part;    /* its partition */
    int64_t next;    /* the position of the next entry to read */
};

/* Call fn for every position recorded, by log and partition; fn returning non-zero stops and
 * is returned. Errors: PE_EIO, PE_ENOMEM. */
int pe_spool_positions(struct pe_spool *s, int (*fn)(const struct pe_spool_position *p, void *ctx),
                       void *ctx);

/*
 * Run fn inside one read transaction, so that everything it reads (documents, counts,
 * metadata) is one committed state of the file, whatever is written meanwhile by another
 * connection. Inside an open write transaction fn simply runs (it sees that transaction).
 * While fn runs nothing may begin a write (PE_ESTATE). Returns what fn returns, or PE_EIO when
 * the transaction could not begin.
 */
int pe_spool_read(struct pe_spool *s, int (*fn)(struct pe_spool *s, void *ctx), void *ctx);

#endif
