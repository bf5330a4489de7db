/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog_serve.h - the store catalog as the tills get it over MQTT (docs/protocol.md, "The
 * catalog over MQTT"): the version document the bridge keeps retained on
 * posedge/v1/<store>/bridge/catalog, and the answers to a till's catalog/get on its
 * catalog/data.
 *
 * An answer is built from one read transaction of the spool (pe_spool_read), so its chunks are
 * one version however many batches commit meanwhile, and handed out chunk by chunk as each is
 * complete: at most CATALOG_CHUNK_DOCS entries (documents and ids of every list together) per
 * chunk, all of them at once. It is the delta since the till's version when the bridge has
 * every change since then (always, once the till's version is one it made: removals are
 * kept), else the full catalog.
 */
#ifndef POSEDGE_BRIDGE_CATALOG_SERVE_H
#define POSEDGE_BRIDGE_CATALOG_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/catalog_store.h"

struct pe_spool;

/* Entries of one chunk at most: 100 chunks for a 50,000-item catalog, within mosquitto's
 * default max_queued_messages (1000) for a till that is slow to take them. */
#define CATALOG_CHUNK_DOCS 500

/* The request id of a catalog/get: 1..64 of A-Z a-z 0-9 . _ : - */
#define CATALOG_REQ_MAX 64

/* A till's request, parsed. */
struct catalog_get {
    char req[CATALOG_REQ_MAX + 1]; /* its id, echoed in every chunk */
    int64_t since;                 /* the version the till has (0: it wants the whole) */
};

/* The retained version document of v (malloc'd, NUL-terminated): {"v":1,"version":N,"hash":H,
 * "items":I,"promotions":P,"ts":T} (ts null for version 0). NULL when out of memory. */
char *catalog_serve_version_doc(const struct catalog_version *v);

/* Parse a catalog/get request {"v":1,"req":ID,"since":V}. why says what is wrong. Errors:
 * PE_EINVAL, PE_ENOMEM. */
int catalog_serve_parse_get(const void *payload, size_t len, struct catalog_get *out, char *why,
                            size_t whylen);

/* What an answer was. */
struct catalog_answer {
    int64_t version;  /* the version answered */
    bool full;        /* the whole catalog (else the changes since the request's version) */
    int chunks;       /* chunks handed out */
    int64_t entries;  /* documents and ids in them */
    int64_t bytes;    /* payload bytes */
};

/*
 * Answer g from the spool sp: every chunk, in order, to emit (payload valid during the call);
 * emit returning non-zero stops the answer and is returned. info (may be NULL) says what was
 * answered. Errors: what emit returns, PE_EIO, PE_ECORRUPT (the kept version is damaged),
 * PE_ENOMEM.
 */
int catalog_serve_answer(struct pe_spool *sp, const struct catalog_get *g,
                         int (*emit)(void *ctx, int chunk, int chunks, const char *payload,
                                     size_t len),
                         void *ctx, struct catalog_answer *info);

#endif
