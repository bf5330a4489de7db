/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog_sync.c - the till's side of the catalog channels (see catalog_sync.h).
 *
 * Layout: the state (what the bridge announces, the transfer in progress, the last refusal),
 * asking, receiving chunks, applying, then the uplink hooks and the state document.
 *
 * The invariant: at most one transfer is in progress, named by its request id; a chunk of any
 * other request is ignored, so a late answer to an earlier request can never mix into the
 * current one. Nothing received is used before the whole transfer is in and the till has
 * checked it inside the transaction that puts it in force; until then the catalog in force is
 * the old one, whatever arrives or fails.
 */
#include "agent/catalog_sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/protocol.h"

#define BUSY_POLL_MS 250 /* a complete transfer waiting for the basket to end looks this often */
#define ERROR_MAX 300    /* the reason kept for the state document */

struct catalog_sync {
    struct catalog_sync_deps d;
    char store[PE_ID_MAX], terminal[PE_ID_MAX], currency[4];
    char t_bridge[PE_TOPIC_MAX]; /* posedge/v1/<store>/bridge/catalog (retained) */
    char t_get[PE_TOPIC_MAX];    /* .../<terminal>/catalog/get */
    char t_data[PE_TOPIC_MAX];   /* .../<terminal>/catalog/data */
    /* What the bridge announces. */
    bool announced;                     /* a version document was seen */
    int64_t bridge_version;             /* its version (0: the bridge has no catalog) */
    char bridge_hash[PE_SHA256_HEXLEN]; /* its content hash */
    /* The transfer in progress ("" req: none). */
    char req[PE_UUID_STRLEN];    /* the request it answers */
    int64_t asked_since;         /* the since asked for */
    int64_t want_version;        /* the version announced when asked */
    bool got_first;              /* a chunk arrived: the fields below are the answer's */
    int64_t version, since;      /* the version it puts in force, a delta's base */
    bool full;                   /* the whole catalog */
    int64_t chunks;              /* chunks it has */
    char hash[PE_SHA256_HEXLEN]; /* the content hash of the result */
    uint8_t *have;               /* per chunk index 0..chunks: received */
    int64_t received;            /* distinct chunks received */
    int64_t lo, hi;              /* smallest and largest index received */
    bool complete;               /* every chunk is in the stage: to be applied */
    bool deferred_said;          /* "deferred" was logged for this transfer */
    int64_t timer;               /* the transfer's timeout, 0 none */
    int64_t poll_timer;          /* waits for the basket to end, 0 none */
    /* The last refusal. */
    int64_t failed_version;             /* a version refused for its content (0 none) */
    char failed_hash[PE_SHA256_HEXLEN]; /* its hash: not asked for again */
    char error[ERROR_MAX];              /* why, "" none */
    int64_t applied;                    /* versions applied since start (the log) */
};

static void changed(struct catalog_sync *s)
{
    if (s->d.changed)
        s->d.changed(s->d.ctx);
}

static void set_error(struct catalog_sync *s, const char *why)
{
    snprintf(s->error, sizeof s->error, "%s", why ? why : "");
}

static void cancel_timers(struct catalog_sync *s)
{
    if (s->timer)
        pe_loop_timer_cancel(s->d.loop, s->timer);
    if (s->poll_timer)
        pe_loop_timer_cancel(s->d.loop, s->poll_timer);
    s->timer = s->poll_timer = 0;
}

/* Forget the transfer (and its stage). */
static void drop_transfer(struct catalog_sync *s)
{
    cancel_timers(s);
    free(s->have);
    s->have = NULL;
    s->req[0] = '\0';
    s->got_first = s->complete = s->deferred_said = false;
    s->received = 0;
    int rc = pe_journal_catalog_stage_clear(s->d.journal);
    if (rc)
        pe_warn("catalog.stage_failed", "op=clear err=%s", pe_errname(rc));
}

static void ask(struct catalog_sync *s, int64_t since);

static void timeout_tick(void *ctx)
{
    struct catalog_sync *s = ctx;
    s->timer = 0;
    if (!s->announced || s->bridge_version < 1)
        return;
    pe_warn("catalog.timeout", "req=%s received=%lld chunks=%lld: asking again", s->req,
            (long long)s->received, (long long)s->chunks);
    ask(s, s->asked_since);
}

/* Ask again after the timeout (a transfer that stopped, a failure that may pass). */
static void retry_later(struct catalog_sync *s)
{
    if (!s->timer && pe_loop_timer(s->d.loop, s->d.timeout_ms, timeout_tick, s, &s->timer))
        s->timer = 0;
}

/* Ask for the catalog since version `since` (0: all of it), as a new request. */
static void ask(struct catalog_sync *s, int64_t since)
{
    drop_transfer(s);
    s->asked_since = since;
    s->want_version = s->bridge_version;
    int rc = pe_rng_uuid(s->d.rng, s->req);
    char msg[128];
    if (rc == PE_OK) {
        snprintf(msg, sizeof msg, "{\"v\":1,\"req\":\"%s\",\"since\":%lld}", s->req,
                 (long long)since);
        rc = uplink_publish(s->d.uplink, s->t_get, msg, strlen(msg), false, NULL);
    }
    if (rc)
        pe_warn("catalog.ask_failed", "since=%lld err=%s (asked again in %lld ms)",
                (long long)since, pe_errname(rc), (long long)s->d.timeout_ms);
    else
        pe_info("catalog.fetch", "req=%s since=%lld announced=%lld", s->req, (long long)since,
                (long long)s->bridge_version);
    retry_later(s);
    changed(s);
}

/* A version refused for what it holds: kept out until the bridge announces another. */
static void refuse_version(struct catalog_sync *s, int64_t version, const char *hash,
                           const char *why)
{
    pe_warn("catalog.refused", "version=%lld why=\"%s\" (the catalog in force is kept)",
            (long long)version, why);
    s->failed_version = version;
    snprintf(s->failed_hash, sizeof s->failed_hash, "%s", hash ? hash : "");
    set_error(s, why);
    drop_transfer(s);
    changed(s);
}

/* Compare what the bridge announces with what is in force, and ask for what is missing. */
static void consider(struct catalog_sync *s)
{
    if (!s->announced || s->bridge_version < 1)
        return; /* the bridge has no catalog: the till keeps its own */
    struct pe_journal_catalog cur;
    till_catalog(s->d.till, &cur);
    if (cur.version == s->bridge_version && strcmp(cur.hash, s->bridge_hash) == 0) {
        if (s->req[0] || s->error[0]) {
            drop_transfer(s);
            set_error(s, NULL);
            changed(s);
        }
        return;
    }
    if (s->bridge_version == s->failed_version && strcmp(s->bridge_hash, s->failed_hash) == 0)
        return; /* refused already; the state says why */
    if (s->req[0] && s->want_version == s->bridge_version)
        return; /* on its way */
    /* A delta from the version in force, unless the bridge went back or the same version
     * holds something else: then everything. */
    ask(s, cur.version > 0 && cur.version < s->bridge_version ? cur.version : 0);
}

/* ---- applying ---- */

/* till_catalog_update.chunk: chunk i of the transfer, from the stage. */
static int stage_chunk(void *ctx, size_t i, cJSON **out)
{
    struct catalog_sync *s = ctx;
    char *text = NULL;
    size_t len = 0;
    int rc = pe_journal_catalog_stage_get(s->d.journal, s->lo + (int64_t)i, &text, &len);
    if (rc == PE_OK)
        rc = pe_json_parse(text, len, out, NULL, 0);
    free(text);
    return rc == PE_EPARSE ? PE_EINVAL : rc;
}

static void try_apply(struct catalog_sync *s);

static void poll_tick(void *ctx)
{
    struct catalog_sync *s = ctx;
    s->poll_timer = 0;
    try_apply(s);
}

/* Put the complete transfer in force, or wait for the basket to end. */
static void try_apply(struct catalog_sync *s)
{
    if (!s->complete)
        return;
    struct till_catalog_update u = {
        .version = s->version,
        .full = s->full,
        .since = s->since,
        .hash = s->hash,
        .chunks = (size_t)s->chunks,
        .chunk = stage_chunk,
        .ctx = s,
    };
    char why[ERROR_MAX] = "";
    int rc = till_catalog_apply(s->d.till, &u, why, sizeof why);
    switch (rc) {
    case PE_OK:
        s->applied++;
        if (s->version > s->bridge_version) {
            /* The bridge made this version after announcing the one asked for (it announces at
             * most every 500 ms): take it as announced, or consider() would ask again, for
             * everything, for what is now in force, until the announcement comes. */
            s->bridge_version = s->version;
            snprintf(s->bridge_hash, sizeof s->bridge_hash, "%s", s->hash);
        }
        set_error(s, NULL);
        drop_transfer(s);
        changed(s);
        consider(s); /* a newer version may have been announced meanwhile */
        return;
    case PE_EBUSY:
        if (!s->deferred_said) {
            pe_info("catalog.deferred", "version=%lld: a basket is open; applied when it ends",
                    (long long)s->version);
            s->deferred_said = true;
            changed(s);
        }
        if (!s->poll_timer &&
            pe_loop_timer(s->d.loop, BUSY_POLL_MS, poll_tick, s, &s->poll_timer) != PE_OK)
            s->poll_timer = 0;
        return;
    case PE_ESTATE:
    case PE_ECHAIN:
        if (!s->full) {
            /* A delta that does not lead to the announced catalog: everything instead. */
            pe_warn("catalog.delta_refused", "version=%lld since=%lld why=\"%s\": asking for "
                                             "the whole catalog",
                    (long long)s->version, (long long)s->since, why);
            ask(s, 0);
            return;
        }
        refuse_version(s, s->version, s->hash, why);
        return;
    case PE_EINVAL:
        refuse_version(s, s->version, s->hash, why);
        return;
    default:
        /* The journal (full disk, I/O): not the version's fault; asked again later. */
        pe_warn("catalog.apply_failed", "version=%lld err=%s why=\"%s\"", (long long)s->version,
                pe_errname(rc), why);
        set_error(s, why[0] ? why : pe_strerror(rc));
        drop_transfer(s);
        retry_later(s);
        changed(s);
        return;
    }
}

/* ---- receiving ---- */

/* A fault of the answer itself (not of the catalog it carries): logged, asked again later. */
static void bad_answer(struct catalog_sync *s, const char *why)
{
    pe_warn("catalog.bad_answer", "req=%s why=\"%s\" (asked again in %lld ms)", s->req, why,
            (long long)s->d.timeout_ms);
    set_error(s, why);
    int64_t since = s->asked_since;
    drop_transfer(s);
    s->asked_since = since;
    retry_later(s);
    changed(s);
}

/* The members of a chunk's envelope. */
struct envelope {
    int64_t version, since, chunk, chunks;
    bool full;
    const char *hash, *currency;
};

static int read_envelope(const cJSON *d, struct envelope *e, char *why, size_t len)
{
    int64_t v = 0;
    const char *bad = NULL;
    memset(e, 0, sizeof *e);
    if (pe_json_get_int(d, "v", &v) || v != 1)
        bad = "v: expected 1";
    else if (pe_json_get_int(d, "version", &e->version) || e->version < 1)
        bad = "version: expected an integer >= 1";
    else if (pe_json_get_int(d, "since", &e->since) || e->since < 0)
        bad = "since: expected an integer >= 0";
    else if (pe_json_get_bool(d, "full", &e->full))
        bad = "full: expected true or false";
    else if (pe_json_get_int(d, "chunks", &e->chunks) || e->chunks < 1 ||
             e->chunks > CATALOG_CHUNKS_MAX)
        bad = "chunks: expected 1..100000";
    else if (pe_json_get_int(d, "chunk", &e->chunk) || e->chunk < 0 || e->chunk > e->chunks)
        bad = "chunk: expected an index within chunks";
    else if (pe_json_get_str(d, "hash", &e->hash) || !pe_is_sha256_hex(e->hash))
        bad = "hash: expected 64 lower-case hex digits";
    else if (pe_json_get_str(d, "currency", &e->currency) == PE_EINVAL)
        bad = "currency: expected a string";
    if (bad)
        snprintf(why, len, "catalog/data: %s", bad);
    return bad ? PE_EINVAL : PE_OK;
}

static void on_data(struct catalog_sync *s, const void *payload, size_t len)
{
    cJSON *d = NULL;
    const char *req = NULL;
    char why[ERROR_MAX];
    if (pe_json_parse(payload, len, &d, NULL, 0) != PE_OK || !cJSON_IsObject(d) ||
        pe_json_get_str(d, "req", &req) != PE_OK) {
        pe_warn("catalog.bad_message", "bytes=%zu why=\"not a JSON object with a req\"", len);
        goto done;
    }
    if (!s->req[0] || strcmp(req, s->req) != 0) {
        pe_debug("catalog.stale_chunk", "req=%.40s current=%s", req, s->req);
        goto done;
    }
    struct envelope e;
    if (read_envelope(d, &e, why, sizeof why)) {
        bad_answer(s, why);
        goto done;
    }
    if (!s->got_first) {
        s->have = calloc((size_t)e.chunks + 1, 1);
        if (!s->have) {
            bad_answer(s, "out of memory");
            goto done;
        }
        s->got_first = true;
        s->version = e.version;
        s->since = e.since;
        s->full = e.full;
        s->chunks = e.chunks;
        snprintf(s->hash, sizeof s->hash, "%s", e.hash);
        s->lo = e.chunk;
        s->hi = e.chunk;
        pe_info("catalog.receiving", "req=%s version=%lld since=%lld full=%d chunks=%lld",
                s->req, (long long)e.version, (long long)e.since, e.full, (long long)e.chunks);
    } else if (e.version != s->version || e.since != s->since || e.full != s->full ||
               e.chunks != s->chunks || strcmp(e.hash, s->hash) != 0) {
        bad_answer(s, "catalog/data: chunks of one req disagree on version, since, full, chunks "
                      "or hash");
        goto done;
    }
    if (e.currency && strcmp(e.currency, s->currency) != 0) {
        snprintf(why, sizeof why, "currency: %.8s, but this till sells in %s", e.currency,
                 s->currency);
        refuse_version(s, e.version, e.hash, why);
        goto done;
    }
    if (s->have[e.chunk])
        goto done; /* a redelivery (QoS 1) */
    int rc = pe_journal_catalog_stage_put(s->d.journal, e.chunk, payload, len);
    if (rc) {
        snprintf(why, sizeof why, "cannot keep chunk %lld: %s", (long long)e.chunk,
                 pe_strerror(rc));
        bad_answer(s, why);
        goto done;
    }
    s->have[e.chunk] = 1;
    s->received++;
    /* The timeout is of silence: a long transfer that keeps coming is not asked again. */
    if (s->timer)
        pe_loop_timer_cancel(s->d.loop, s->timer);
    s->timer = 0;
    retry_later(s);
    s->lo = e.chunk < s->lo ? e.chunk : s->lo;
    s->hi = e.chunk > s->hi ? e.chunk : s->hi;
    /* Numbered from 0 or from 1: complete when every index of one of the two is in. */
    if (s->received == s->chunks && s->hi - s->lo + 1 == s->chunks) {
        s->complete = true;
        if (s->timer)
            pe_loop_timer_cancel(s->d.loop, s->timer);
        s->timer = 0;
        pe_info("catalog.received", "req=%s version=%lld chunks=%lld", s->req,
                (long long)s->version, (long long)s->chunks);
        try_apply(s);
    }
done:
    cJSON_Delete(d);
}

static void on_version(struct catalog_sync *s, const void *payload, size_t len)
{
    cJSON *d = NULL;
    int64_t v = 0, version = 0;
    const char *hash = "";
    if (len == 0) {
        /* The retained document was cleared: the bridge has no catalog now. */
        s->announced = false;
        return;
    }
    if (pe_json_parse(payload, len, &d, NULL, 0) != PE_OK || pe_json_get_int(d, "v", &v) ||
        v != 1 || pe_json_get_int(d, "version", &version) || version < 0 ||
        (version > 0 && (pe_json_get_str(d, "hash", &hash) || !pe_is_sha256_hex(hash)))) {
        pe_warn("catalog.bad_version_document", "bytes=%zu", len);
        cJSON_Delete(d);
        return;
    }
    bool news = !s->announced || version != s->bridge_version || strcmp(hash, s->bridge_hash);
    s->announced = true;
    s->bridge_version = version;
    snprintf(s->bridge_hash, sizeof s->bridge_hash, "%s", hash);
    cJSON_Delete(d);
    if (news)
        pe_info("catalog.announced", "version=%lld hash=%.16s", (long long)version,
                s->bridge_hash);
    consider(s);
}

/* ---- uplink hooks ---- */

static void hook_connect(void *ctx)
{
    struct catalog_sync *s = *(struct catalog_sync **)ctx;
    if (!s)
        return;
    const char *topics[] = {s->t_data, s->t_bridge};
    for (size_t i = 0; i < 2; i++) {
        int rc = uplink_subscribe(s->d.uplink, topics[i]);
        if (rc)
            pe_warn("catalog.subscribe_failed", "topic=%s err=%s", topics[i], pe_errname(rc));
    }
    /* A transfer cut by the lost connection comes again when its timeout asks. */
}

static void hook_message(void *ctx, const char *topic, const void *payload, size_t len,
                         bool retained)
{
    (void)retained;
    struct catalog_sync *s = *(struct catalog_sync **)ctx;
    if (!s)
        return;
    if (strcmp(topic, s->t_bridge) == 0)
        on_version(s, payload, len);
    else if (strcmp(topic, s->t_data) == 0)
        on_data(s, payload, len);
}

int catalog_sync_hook(struct uplink_opts *uo, struct catalog_sync **slot)
{
    static const struct uplink_hooks hooks = {
        .on_connect = hook_connect,
        .on_message = hook_message,
    };
    *slot = NULL;
    return uplink_add_hooks(uo, &hooks, slot);
}

/* ---- public ---- */

int catalog_sync_create(const struct catalog_sync_deps *d, struct catalog_sync **out)
{
    if (!d || !out || !d->loop || !d->journal || !d->till || !d->uplink || !d->rng ||
        !pe_event_id_valid(d->store, 1) || !pe_event_id_valid(d->terminal, 1) || !d->currency ||
        strlen(d->currency) != 3 || d->timeout_ms < 1)
        return PE_EINVAL;
    struct catalog_sync *s = calloc(1, sizeof *s);
    if (!s)
        return PE_ENOMEM;
    s->d = *d;
    snprintf(s->store, sizeof s->store, "%s", d->store);
    snprintf(s->terminal, sizeof s->terminal, "%s", d->terminal);
    snprintf(s->currency, sizeof s->currency, "%s", d->currency);
    s->d.store = s->store;
    s->d.terminal = s->terminal;
    s->d.currency = s->currency;
    if (pe_topic(s->t_bridge, sizeof s->t_bridge, d->store, PE_ID_BRIDGE, PE_CH_CATALOG, NULL) ||
        pe_topic(s->t_get, sizeof s->t_get, d->store, d->terminal, PE_CH_CATALOG_GET, NULL) ||
        pe_topic(s->t_data, sizeof s->t_data, d->store, d->terminal, PE_CH_CATALOG_DATA, NULL)) {
        free(s);
        return PE_EINVAL;
    }
    drop_transfer(s); /* a transfer cut by a restart is asked again */
    struct pe_journal_catalog cur;
    till_catalog(d->till, &cur);
    pe_info("catalog.start", "version=%lld hash=%.16s items=%lld promotions=%lld watch=%s",
            (long long)cur.version, cur.hash, (long long)cur.items, (long long)cur.promotions,
            s->t_bridge);
    *out = s;
    return PE_OK;
}

void catalog_sync_kick(struct catalog_sync *s)
{
    if (!s || !s->complete)
        return;
    if (s->poll_timer)
        pe_loop_timer_cancel(s->d.loop, s->poll_timer);
    if (pe_loop_timer(s->d.loop, 0, poll_tick, s, &s->poll_timer) != PE_OK)
        s->poll_timer = 0; /* out of memory: the poll tries later */
}

void catalog_sync_destroy(struct catalog_sync *s)
{
    if (!s)
        return;
    cancel_timers(s);
    free(s->have);
    pe_info("catalog.summary", "applied=%lld", (long long)s->applied);
    free(s);
}

bool catalog_sync_state(const struct catalog_sync *s, const struct pe_till *till, cJSON *obj)
{
    struct pe_journal_catalog cur;
    char ts[PE_TIME_STRLEN];
    till_catalog(till, &cur);
    pe_time_format(cur.applied_ms, ts);
    cJSON *c = cJSON_AddObjectToObject(obj, "catalog");
    bool pending = s && s->req[0];
    int64_t pv = s ? (s->got_first ? s->version : s->want_version) : 0;
    return c && pe_json_add_int(c, "version", cur.version) == PE_OK &&
           cJSON_AddStringToObject(c, "hash", cur.hash) &&
           cJSON_AddStringToObject(c, "applied", ts) &&
           (pending ? pe_json_add_int(c, "pending", pv) == PE_OK
                    : cJSON_AddNullToObject(c, "pending") != NULL) &&
           (s && s->error[0] ? cJSON_AddStringToObject(c, "error", s->error) != NULL
                             : cJSON_AddNullToObject(c, "error") != NULL);
}
