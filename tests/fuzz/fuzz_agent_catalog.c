// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_agent_catalog.c - fuzz target: what the agent reads on the catalog channels
 * (agent/catalog_sync.c): the bridge's retained version document and the chunks of an answer,
 * through the sync's own state machine (announce, ask, receive, stage, apply, refuse).
 *
 * The sync's file is compiled into this one with its neighbours replaced by stubs: the journal's
 * stage is in memory, the uplink takes every publish, timers never fire, request ids are one
 * fixed UUID (the seeds answer it), and the till's apply reads every chunk back through the
 * sync's own callback and checks each document with the catalog parsers the journal's apply
 * uses (pe_catalog_doc_parse_item, _promotion) and the content hash (pe_catalog_hasher).
 *
 * Input: messages, each a kind byte ('V' the version document on .../bridge/catalog, anything
 * else a chunk on .../<terminal>/catalog/data), a 2-byte big-endian length and the payload.
 *
 * Properties beyond "no crash, no leak": the state document can always be made; a refusal
 * leaves a reason in it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/catalog_sync.h"
#include "agent/till.h"
#include "agent/uplink.h"
#include "posedge/catalog.h"
#include "posedge/crypto.h"
#include "posedge/journal.h"
#include "posedge/err.h"
#include "posedge/log.h"
#include "posedge/loop.h"
#include "tests/fuzz/fuzz_msgs.h"

#define FUZZ_STAGE_MAX 64
static struct {
    int64_t i;
    char *doc;
    size_t len;
} stage[FUZZ_STAGE_MAX];
static int nstage;
static struct pe_journal_catalog current; /* the till's catalog in force */

static int fuzz_stage_clear(struct pe_journal *j)
{
    (void)j;
    for (int k = 0; k < nstage; k++)
        free(stage[k].doc);
    nstage = 0;
    return PE_OK;
}

static int fuzz_stage_put(struct pe_journal *j, int64_t i, const void *payload, size_t len)
{
    (void)j;
    if (nstage == FUZZ_STAGE_MAX)
        return PE_EFULL;
    char *c = malloc(len + 1);
    if (!c)
        return PE_ENOMEM;
    memcpy(c, payload, len);
    c[len] = '\0';
    stage[nstage].i = i;
    stage[nstage].doc = c;
    stage[nstage].len = len;
    nstage++;
    return PE_OK;
}

static int fuzz_stage_get(struct pe_journal *j, int64_t i, char **payload, size_t *len)
{
    (void)j;
    for (int k = 0; k < nstage; k++)
        if (stage[k].i == i) {
            if (!(*payload = malloc(stage[k].len + 1)))
                return PE_ENOMEM;
            memcpy(*payload, stage[k].doc, stage[k].len + 1);
            *len = stage[k].len;
            return PE_OK;
        }
    return PE_ENOTFOUND;
}

static void fuzz_till_catalog(const struct pe_till *t, struct pe_journal_catalog *out)
{
    (void)t;
    *out = current;
}

/* The journal's apply, as far as the documents go: each chunk read back twice (as the till
 * does), every item and promotion checked, the content hash compared. */
static int fuzz_till_catalog_apply(struct pe_till *t, const struct till_catalog_update *u,
                                   char *why, size_t whylen)
{
    (void)t;
    if (!u->full && u->since != current.version) {
        snprintf(why, whylen, "delta since %lld, in force %lld", (long long)u->since,
                 (long long)current.version);
        return PE_ESTATE;
    }
    struct pe_catalog_hasher *h = NULL;
    int rc = pe_catalog_hasher_create(&h);
    int64_t items = 0, promotions = 0;
    for (size_t i = 0; rc == PE_OK && i < u->chunks; i++) {
        cJSON *doc = NULL;
        rc = u->chunk(u->ctx, i, &doc);
        if (rc) {
            snprintf(why, whylen, "chunk %zu: %s", i, pe_strerror(rc));
            break;
        }
        const cJSON *it, *list = cJSON_GetObjectItemCaseSensitive(doc, "items");
        cJSON_ArrayForEach(it, list)
        {
            struct pe_item_doc d;
            char w[200] = "";
            if ((rc = pe_catalog_doc_parse_item(it, &d, w, sizeof w)) != PE_OK ||
                (rc = pe_catalog_hasher_item(h, it, w, sizeof w)) != PE_OK) {
                if (!w[0])
                    abort(); /* a refused document must say why */
                snprintf(why, whylen, "chunk %zu: items[%lld]: %s", i, (long long)items, w);
                break;
            }
            items++;
        }
        list = cJSON_GetObjectItemCaseSensitive(doc, "promotions");
        cJSON_ArrayForEach(it, list)
        {
            if (rc)
                break;
            struct pe_promotion p;
            char w[200] = "";
            if ((rc = pe_catalog_doc_parse_promotion(it, &p, w, sizeof w)) != PE_OK ||
                (rc = pe_catalog_hasher_promotion(h, it, w, sizeof w)) != PE_OK) {
                if (!w[0])
                    abort();
                snprintf(why, whylen, "chunk %zu: promotions[%lld]: %s", i, (long long)promotions,
                         w);
                break;
            }
            promotions++;
        }
        cJSON_Delete(doc);
    }
    char hash[PE_SHA256_HEXLEN];
    if (rc == PE_OK) {
        rc = pe_catalog_hasher_finish(h, hash);
        h = NULL;
        if (rc == PE_OK && strcmp(hash, u->hash) != 0) {
            snprintf(why, whylen, "content hash %.16s, announced %.16s", hash, u->hash);
            rc = PE_ECHAIN;
        }
    }
    pe_catalog_hasher_free(h);
    if (rc == PE_OK) {
        current.version = u->version;
        snprintf(current.hash, sizeof current.hash, "%s", u->hash);
        current.items = items;
        current.promotions = promotions;
    }
    return rc;
}

static int fuzz_rng_uuid(struct pe_rng *rng, char out[PE_UUID_STRLEN])
{
    (void)rng;
    snprintf(out, PE_UUID_STRLEN, "6b1bbaf4-24ee-488f-b3d5-e121a47aa1dc");
    return PE_OK;
}

static int fuzz_publish(struct uplink *u, const char *topic, const void *payload, size_t len,
                        bool retain, int *mid)
{
    (void)u;
    (void)topic;
    (void)payload;
    (void)len;
    (void)retain;
    if (mid)
        *mid = 1;
    return PE_OK;
}

static int fuzz_subscribe(struct uplink *u, const char *topic)
{
    (void)u;
    (void)topic;
    return PE_OK;
}

static int fuzz_timer(struct pe_loop *l, int64_t delay_ms, pe_timer_cb cb, void *ctx, int64_t *id)
{
    (void)l;
    (void)delay_ms;
    (void)cb;
    (void)ctx;
    if (id)
        *id = 1;
    return PE_OK;
}

static void fuzz_timer_cancel(struct pe_loop *l, int64_t id)
{
    (void)l;
    (void)id;
}

#define pe_journal_catalog_stage_clear fuzz_stage_clear
#define pe_journal_catalog_stage_put fuzz_stage_put
#define pe_journal_catalog_stage_get fuzz_stage_get
#define till_catalog fuzz_till_catalog
#define till_catalog_apply fuzz_till_catalog_apply
#define pe_rng_uuid fuzz_rng_uuid
#define uplink_publish fuzz_publish
#define uplink_subscribe fuzz_subscribe
#define pe_loop_timer fuzz_timer
#define pe_loop_timer_cancel fuzz_timer_cancel
#include "agent/catalog_sync.c"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pe_log_set_level(PE_LOG_OFF);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    memset(&current, 0, sizeof current);
    current.version = 17; /* what the till has: a delta since 17 applies */
    snprintf(current.hash, sizeof current.hash, "%064d", 0);
    snprintf(current.currency, sizeof current.currency, "EUR");
    /* Stand-ins: the stubs never look at these. */
    static char dummy;
    struct catalog_sync_deps d = {
        .loop = (struct pe_loop *)&dummy,
        .journal = (struct pe_journal *)&dummy,
        .till = (struct pe_till *)&dummy,
        .uplink = (struct uplink *)&dummy,
        .rng = (struct pe_rng *)&dummy,
        .store = "s001",
        .terminal = "t01",
        .currency = "EUR",
        .timeout_ms = 1000,
    };
    struct catalog_sync *s = NULL;
    if (catalog_sync_create(&d, &s) != PE_OK)
        abort();
    struct catalog_sync *slot = s;
    size_t pos = 0;
    struct fuzz_msg m;
    while (fuzz_next_msg(data, size, &pos, &m)) {
        bool version = m.sel == 'V';
        hook_message(&slot, version ? s->t_bridge : s->t_data, m.payload, m.len, !version);
        free(m.payload);
        catalog_sync_kick(s);
    }
    cJSON *obj = cJSON_CreateObject();
    if (!obj || !catalog_sync_state(s, d.till, obj))
        abort(); /* the state document cannot be made */
    cJSON_Delete(obj);
    catalog_sync_destroy(s);
    fuzz_stage_clear(NULL);
    return 0;
}
