/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridge.c - intake, acknowledgements and the drain (see bridge.h).
 *
 * Layout: per-terminal state, then intake (MQTT message -> verify -> spool, group-committed
 * by a zero-delay timer, then the acks), then the drain (round robin over terminals, each in
 * seq order, paced by a token bucket, bounded by the producer's in-flight limit), then the
 * delivery reports that move the delivered watermark, then housekeeping and shutdown.
 */
#include "bridge/bridge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/flow.h"
#include "bridge/output.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/journal.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/mqtt.h"
#include "posedge/spool.h"

#define MAX_TERMINALS 1024
#define DRAIN_CHUNK 512      /* rows read from the spool per terminal per turn */
#define PERSIST_MS 50        /* how often delivered watermarks are written and acked */
#define HOUSEKEEPING_MS 2000 /* prune, state, stats */
#define STATS_EVERY 5        /* housekeeping rounds between stats lines */

struct term {
    char store[PE_ID_MAX];
    char terminal[PE_ID_MAX];
    int64_t spooled;       /* committed spooled watermark */
    int64_t produced;      /* highest seq handed to the producer */
    struct watermark done; /* contiguous delivered (done.mark), from delivery reports */
    int64_t saved;         /* delivered as written to the spool */
    int64_t acked_spooled; /* watermarks of the last ack published */
    int64_t acked_delivered;
    int64_t refused; /* a seq the producer refused (too large for Kafka): the till waits */
    bool dirty;      /* records added in the open transaction */
};

struct bridge {
    struct bridge_cfg cfg; /* copy; kafka_properties borrowed from the caller */
    struct pe_loop *loop;
    struct pe_spool *spool;
    struct pe_mqtt *mqtt;
    struct output *out;
    struct term terms[MAX_TERMINALS];
    int nterms;
    int rr;      /* round-robin start of the next drain turn */
    bool in_txn; /* an intake transaction is open */
    bool commit_planned;
    bool drain_planned;
    bool persist_planned;
    bool spool_full; /* the quota refused records: intake is not acknowledged */
    bool stopping;
    struct pace pace_ev;    /* drain pace, events/s */
    struct pace pace_bytes; /* and bytes/s */
    int64_t hk_rounds;
    char state_topic[128];
    struct bridge_stats st;
};

static void plan_drain(struct bridge *b, int64_t delay_ms);
static void plan_persist(struct bridge *b);

/* ---- terminals ---- */

static struct term *term_find(struct bridge *b, const char *store, const char *terminal,
                              bool create)
{
    for (int i = 0; i < b->nterms; i++)
        if (strcmp(b->terms[i].terminal, terminal) == 0 && strcmp(b->terms[i].store, store) == 0)
            return &b->terms[i];
    if (!create || b->nterms == MAX_TERMINALS)
        return NULL;
    struct term *t = &b->terms[b->nterms++];
    memset(t, 0, sizeof *t);
    snprintf(t->store, sizeof t->store, "%s", store);
    snprintf(t->terminal, sizeof t->terminal, "%s", terminal);
    struct pe_spool_terminal st;
    if (pe_spool_terminal(b->spool, store, terminal, &st) == PE_OK) {
        t->spooled = st.spooled;
        t->saved = t->produced = st.delivered;
        wm_init(&t->done, st.delivered);
    }
    t->acked_spooled = t->acked_delivered = -1;
    return t;
}

static int load_term(const struct pe_spool_terminal *st, void *ctx)
{
    term_find(ctx, st->store, st->terminal, true);
    return 0;
}

/* ---- acknowledgements and state ---- */

static void publish_ack(struct bridge *b, struct term *t)
{
    if (t->spooled == t->acked_spooled && t->done.mark == t->acked_delivered)
        return;
    char topic[160], payload[96];
    snprintf(topic, sizeof topic, "posedge/v1/%s/%s/ack", t->store, t->terminal);
    int n = snprintf(payload, sizeof payload, "{\"spooled\":%lld,\"delivered\":%lld}",
                     (long long)t->spooled, (long long)t->done.mark);
    if (pe_mqtt_publish(b->mqtt, topic, payload, (size_t)n, 1, true, NULL) == PE_OK) {
        t->acked_spooled = t->spooled;
        t->acked_delivered = t->done.mark;
    }
}

static void publish_state(struct bridge *b, const char *state)
{
    struct pe_spool_stats ss = {0};
    pe_spool_stats(b->spool, &ss);
    char ts[PE_TIME_STRLEN], payload[256];
    pe_time_format(pe_time_now_ms(), ts);
    int n = snprintf(payload, sizeof payload,
                     "{\"state\":\"%s\",\"pending\":%lld,\"spooled_bytes\":%lld,\"dead\":%lld,"
                     "\"ts\":\"%s\"}",
                     state, (long long)ss.pending, (long long)ss.pending_bytes,
                     (long long)b->st.dead, ts);
    pe_mqtt_publish(b->mqtt, b->state_topic, payload, (size_t)n, 1, true, NULL);
}

/* ---- intake ---- */

static void dead_letter(struct bridge *b, const char *topic, const void *data, size_t len,
                        const char *reason)
{
    b->st.dead++;
    pe_warn("bridge.dead_letter", "topic=%s bytes=%zu reason=\"%s\"", topic, len, reason);
    int rc = output_produce_dlq(b->out, b->cfg.topic_dlq, data, len, reason, topic);
    if (rc)
        pe_error("bridge.dead_letter_lost", "err=%s reason=\"%s\"", pe_errname(rc), reason);
}

static void commit_now(void *ctx)
{
    struct bridge *b = ctx;
    b->commit_planned = false;
    if (!b->in_txn)
        return;
    b->in_txn = false;
    int rc = pe_spool_commit(b->spool);
    for (int i = 0; i < b->nterms; i++) {
        struct term *t = &b->terms[i];
        if (!t->dirty)
            continue;
        t->dirty = false;
        struct pe_spool_terminal st;
        if (pe_spool_terminal(b->spool, t->store, t->terminal, &st) == PE_OK)
            t->spooled = st.spooled;
        /* Persist first, then acknowledge: the ack names only committed records. */
        if (rc == PE_OK)
            publish_ack(b, t);
    }
    if (rc) {
        pe_error("bridge.spool_commit_failed", "err=%s (the tills will send again)",
                 pe_errname(rc));
        return;
    }
    plan_drain(b, 0);
}

static void open_txn(struct bridge *b)
{
    if (b->in_txn)
        return;
    int rc = pe_spool_begin(b->spool);
    if (rc) {
        pe_error("bridge.spool_begin_failed", "err=%s", pe_errname(rc));
        return;
    }
    b->in_txn = true;
    if (!b->commit_planned) {
        /* Group commit: every message read in this loop round shares one transaction. */
        b->commit_planned = true;
        pe_loop_timer(b->loop, 0, commit_now, b, NULL);
    }
}

/* "posedge/v1/<store>/<terminal>/events" -> store and terminal; false when not that shape. */
static bool parse_topic(const char *topic, char *store, char *terminal)
{
    static const char prefix[] = "posedge/v1/";
    if (strncmp(topic, prefix, sizeof prefix - 1) != 0)
        return false;
    const char *s = topic + sizeof prefix - 1, *t = strchr(s, '/');
    if (!t || t - s < 1 || t - s >= PE_ID_MAX)
        return false;
    const char *e = strchr(t + 1, '/');
    if (!e || e - t - 1 < 1 || e - t - 1 >= PE_ID_MAX || strcmp(e, "/events") != 0)
        return false;
    memcpy(store, s, (size_t)(t - s));
    store[t - s] = '\0';
    memcpy(terminal, t + 1, (size_t)(e - t - 1));
    terminal[e - t - 1] = '\0';
    return pe_event_id_valid(store, 1) && pe_event_id_valid(terminal, 1);
}

static void intake_record(struct bridge *b, const char *topic, const char *store,
                          const char *terminal, const char *line, size_t len)
{
    struct pe_event_meta m;
    char hash[PE_SHA256_HEXLEN], why[200], reason[320];
    cJSON *rec = NULL;
    const char *prev = NULL;
    b->st.received++;
    int rc = pe_event_verify(line, len, 0, NULL, &m, hash, &rec, why, sizeof why);
    if (rc) {
        dead_letter(b, topic, line, len, why);
        goto done;
    }
    if (strcmp(m.store, store) != 0 || strcmp(m.terminal, terminal) != 0) {
        snprintf(reason, sizeof reason, "seq %lld: record of %s/%s on the topic of %s/%s",
                 (long long)m.seq, m.store, m.terminal, store, terminal);
        dead_letter(b, topic, line, len, reason);
        goto done;
    }
    pe_json_get_str(rec, "prev", &prev);
    struct term *t = term_find(b, store, terminal, true);
    if (!t) {
        dead_letter(b, topic, line, len, "too many terminals for one bridge");
        goto done;
    }
    open_txn(b);
    if (!b->in_txn)
        goto done;
    rc = pe_spool_add(b->spool, &m, prev, hash, line, len);
    switch (rc) {
    case PE_OK:
        b->st.stored++;
        t->dirty = true;
        break;
    case PE_EEXIST:
        b->st.duplicates++;
        t->dirty = true; /* ack again: the till may have missed the last one */
        t->acked_spooled = -1;
        break;
    case PE_EAGAIN:
        b->st.gaps++;
        /* Ack again: a till whose last ack came from a spool that was since lost or rebuilt
         * learns where to resume (one ack per group commit, however many records). */
        t->dirty = true;
        t->acked_spooled = -1;
        break;
    case PE_ECHAIN:
        snprintf(reason, sizeof reason,
                 "seq %lld: does not continue the spooled chain of %s/%s (seq regression or "
                 "broken prev)",
                 (long long)m.seq, store, terminal);
        dead_letter(b, topic, line, len, reason);
        break;
    case PE_EFULL:
        b->st.full++;
        if (!b->spool_full) {
            b->spool_full = true;
            pe_error("bridge.spool_full",
                     "quota_mb=%lld: not acknowledging new events; the "
                     "tills keep them until Kafka drains the spool",
                     (long long)b->cfg.spool_max_mb);
            publish_state(b, "spool_full");
        }
        break;
    default:
        pe_error("bridge.spool_add_failed", "err=%s", pe_errname(rc));
        break;
    }
done:
    cJSON_Delete(rec);
}

static void on_message(void *ctx, const char *topic, const void *payload, size_t len, bool retained)
{
    struct bridge *b = ctx;
    (void)retained;
    if (b->stopping)
        return;
    char store[PE_ID_MAX], terminal[PE_ID_MAX], reason[128];
    if (!parse_topic(topic, store, terminal) || strcmp(store, b->cfg.store) != 0) {
        dead_letter(b, topic, payload, len, "topic outside this bridge's store events");
        return;
    }
    if ((int64_t)len > b->cfg.max_payload) {
        snprintf(reason, sizeof reason, "payload of %zu bytes over intake.max_payload %lld", len,
                 (long long)b->cfg.max_payload);
        dead_letter(b, topic, payload, len, reason);
        return;
    }
    const char *p = payload, *end = p + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        if (e > p)
            intake_record(b, topic, store, terminal, p, (size_t)(e - p));
        p = e + 1;
    }
}

static void on_connect(void *ctx, bool session_present)
{
    struct bridge *b = ctx;
    /* Every store's events: another store's on this broker are dead letters, not ignored. */
    const char *pattern = "posedge/v1/+/+/events";
    pe_mqtt_subscribe(b->mqtt, pattern, 1);
    pe_info("bridge.mqtt_connected", "session_present=%d subscribe=%s", session_present, pattern);
    publish_state(b, b->spool_full ? "spool_full" : "online");
    for (int i = 0; i < b->nterms; i++) {
        b->terms[i].acked_spooled = -1; /* re-publish every ack after a reconnect */
        publish_ack(b, &b->terms[i]);
    }
}

static void on_disconnect(void *ctx, int reason)
{
    (void)ctx;
    pe_warn("bridge.mqtt_disconnected", "reason=%d", reason);
}

/* ---- drain ---- */

struct turn {
    struct bridge *b;
    struct term *t;
    int64_t budget_ev;
    int64_t budget_bytes;
    bool blocked; /* the producer refused (in-flight limit) */
};

static int produce_row(const struct pe_spool_row *r, void *ctx)
{
    struct turn *u = ctx;
    if (u->budget_ev <= 0 || u->budget_bytes <= 0)
        return 1;
    if (r->seq > u->t->done.mark + WM_WINDOW) {
        u->blocked = true; /* its delivery reports will make room */
        return 1;
    }
    const char *topic = route_topic(&u->b->cfg, r->type);
    struct output_ref ref = {.seq = r->seq};
    snprintf(ref.store, sizeof ref.store, "%s", r->store);
    snprintf(ref.terminal, sizeof ref.terminal, "%s", r->terminal);
    int rc = output_produce(u->b->out, topic, &ref, r->id, r->type, r->hash, r->ts_ms, r->record,
                            r->len);
    if (rc == PE_EAGAIN) {
        u->blocked = true;
        return 1;
    }
    if (rc) {
        /* Never dropped (it is a journaled event), never in the way of the other tills: this
         * till waits at this record until the configuration lets Kafka take it. */
        if (u->t->refused != r->seq)
            pe_error("bridge.produce_refused",
                     "store=%s terminal=%s seq=%lld bytes=%zu err=%s (raise "
                     "kafka.properties.message.max.bytes and the topic's max.message.bytes, "
                     "then restart)",
                     r->store, r->terminal, (long long)r->seq, r->len, pe_errname(rc));
        u->t->refused = r->seq;
        return 1;
    }
    u->t->produced = r->seq;
    u->b->st.produced++;
    u->budget_ev--;
    u->budget_bytes -= (int64_t)r->len;
    return 0;
}

static void drain(void *ctx)
{
    struct bridge *b = ctx;
    b->drain_planned = false;
    if (b->nterms == 0)
        return;
    int64_t now = pe_mono_ms();
    int64_t ev = pace_available(&b->pace_ev, now), bytes = pace_available(&b->pace_bytes, now);
    int64_t ev0 = ev, bytes0 = bytes;
    bool more = true, blocked = false;
    /* Round robin: each turn gives every terminal with a backlog up to DRAIN_CHUNK rows, in
     * its own seq order, so live events of one till are not stuck behind another's backlog. */
    while (more && !blocked && ev > 0 && bytes > 0) {
        more = false;
        for (int k = 0; k < b->nterms && !blocked && ev > 0 && bytes > 0; k++) {
            struct term *t = &b->terms[(b->rr + k) % b->nterms];
            if (t->produced >= t->spooled || t->refused == t->produced + 1)
                continue;
            struct turn u = {b, t, ev < DRAIN_CHUNK ? ev : DRAIN_CHUNK, bytes, false};
            int64_t before = u.budget_ev, before_b = u.budget_bytes;
            pe_spool_rows(b->spool, t->store, t->terminal, t->produced, DRAIN_CHUNK, produce_row,
                          &u);
            ev -= before - u.budget_ev;
            bytes -= before_b - u.budget_bytes;
            blocked = u.blocked;
            if (t->produced < t->spooled && t->refused != t->produced + 1)
                more = true;
        }
        b->rr = (b->rr + 1) % b->nterms;
    }
    pace_spend(&b->pace_ev, ev0 - ev);
    pace_spend(&b->pace_bytes, bytes0 - bytes);
    /* Blocked: the delivery reports will plan the next turn. Paced out: wait for tokens. */
    if (more && !blocked) {
        int64_t wait = pace_wait_ms(&b->pace_ev), wb = pace_wait_ms(&b->pace_bytes);
        plan_drain(b, wait > wb ? wait : (wb > 0 ? wb : 1));
    }
}

static void plan_drain(struct bridge *b, int64_t delay_ms)
{
    if (b->drain_planned || b->stopping)
        return;
    b->drain_planned = true;
    pe_loop_timer(b->loop, delay_ms, drain, b, NULL);
}

static void persist(void *ctx)
{
    struct bridge *b = ctx;
    b->persist_planned = false;
    for (int i = 0; i < b->nterms; i++) {
        struct term *t = &b->terms[i];
        if (t->done.mark > t->saved) {
            int rc = pe_spool_set_delivered(b->spool, t->store, t->terminal, t->done.mark);
            if (rc) {
                pe_error("bridge.persist_failed", "err=%s", pe_errname(rc));
                continue;
            }
            t->saved = t->done.mark;
        }
        if (!b->in_txn)
            publish_ack(b, t);
    }
}

static void on_delivered(void *ctx, const struct output_ref *ref, int err)
{
    struct bridge *b = ctx;
    if (ref->seq == 0) /* a dead letter */
        return;
    struct term *t = term_find(b, ref->store, ref->terminal, false);
    if (!t)
        return;
    if (err) {
        /* Produce it again from the spool; nothing is dropped. */
        b->st.failed++;
        pe_warn("bridge.delivery_failed", "store=%s terminal=%s seq=%lld err=%d", t->store,
                t->terminal, (long long)ref->seq, err);
        t->produced = t->done.mark;
        wm_reset(&t->done);
        plan_drain(b, 100);
        return;
    }
    b->st.delivered++;
    bool ok;
    wm_mark(&t->done, ref->seq, &ok);
    if (!ok)
        pe_warn("bridge.delivery_beyond_window", "terminal=%s seq=%lld delivered=%lld", t->terminal,
                (long long)ref->seq, (long long)t->done.mark);
    plan_persist(b);
    plan_drain(b, 0);
}

static void plan_persist(struct bridge *b)
{
    if (!b->persist_planned) {
        b->persist_planned = true;
        pe_loop_timer(b->loop, PERSIST_MS, persist, b, NULL);
    }
}

/* Transactional mode: a Kafka transaction with the terminal's records up to seq committed. */
static void on_committed(void *ctx, const char *store, const char *terminal, int64_t seq)
{
    struct bridge *b = ctx;
    struct term *t = term_find(b, store, terminal, false);
    if (!t || seq <= t->done.mark)
        return;
    b->st.delivered += seq - t->done.mark;
    wm_init(&t->done, seq);
    plan_persist(b);
    plan_drain(b, 0);
}

/* Transactional mode, at (re)start: what Kafka has committed of a terminal. The spool follows
 * Kafka: a spool behind it is brought forward (those records are not produced again). */
static void on_recovered(void *ctx, const char *store, const char *terminal, int64_t seq,
                         const char *hash)
{
    struct bridge *b = ctx;
    if (strcmp(store, b->cfg.store) != 0)
        return;
    struct term *t = term_find(b, store, terminal, true);
    if (!t) {
        pe_error("bridge.recover", "store=%s terminal=%s (too many terminals)", store, terminal);
        return;
    }
    int64_t was_spooled = t->spooled, was_delivered = t->saved;
    int rc = pe_spool_advance(b->spool, store, terminal, seq, hash);
    if (rc == PE_ECHAIN)
        pe_error("bridge.recover_conflict",
                 "store=%s terminal=%s seq=%lld: Kafka's record has another hash than the "
                 "spool's (a replaced journal?); taking Kafka's watermark",
                 store, terminal, (long long)seq);
    else if (rc)
        pe_error("bridge.recover_failed", "store=%s terminal=%s seq=%lld err=%s", store, terminal,
                 (long long)seq, pe_errname(rc));
    struct pe_spool_terminal st;
    if (pe_spool_terminal(b->spool, store, terminal, &st) == PE_OK) {
        t->spooled = st.spooled;
        t->saved = st.delivered;
    }
    if (seq < t->saved)
        pe_warn("bridge.recover_behind",
                "store=%s terminal=%s kafka=%lld spool_delivered=%lld: Kafka's committed state "
                "is behind the spool (state topic lost?): resuming after the spool's",
                store, terminal, (long long)seq, (long long)t->saved);
    int64_t mark = seq > t->saved ? seq : t->saved;
    wm_init(&t->done, mark);
    t->produced = mark;
    if (t->spooled != was_spooled || t->saved != was_delivered)
        pe_info("bridge.recovered",
                "store=%s terminal=%s kafka=%lld spooled=%lld->%lld delivered=%lld->%lld", store,
                terminal, (long long)seq, (long long)was_spooled, (long long)t->spooled,
                (long long)was_delivered, (long long)t->saved);
    t->acked_spooled = -1;
    if (!b->in_txn)
        publish_ack(b, t);
    else
        t->dirty = true;
}

static void on_reset(void *ctx)
{
    struct bridge *b = ctx;
    pe_warn("bridge.producer_reset", "terminals=%d (producing again from delivered+1)", b->nterms);
    for (int i = 0; i < b->nterms; i++) {
        b->terms[i].produced = b->terms[i].done.mark;
        wm_reset(&b->terms[i].done);
    }
    plan_drain(b, 0);
}

/* ---- housekeeping ---- */

static void housekeeping(void *ctx)
{
    struct bridge *b = ctx;
    int64_t pruned = 0;
    if (!b->in_txn)
        pe_spool_prune(b->spool, 50000, &pruned);
    struct pe_spool_stats ss = {0};
    pe_spool_stats(b->spool, &ss);
    int64_t low_water = b->cfg.spool_max_mb * 1024 * 1024 * 9 / 10;
    if (b->spool_full && (b->cfg.spool_max_mb == 0 || ss.pending_bytes < low_water)) {
        b->spool_full = false;
        pe_info("bridge.spool_ok", "pending_bytes=%lld: acknowledging again",
                (long long)ss.pending_bytes);
    }
    publish_state(b, b->spool_full ? "spool_full" : "online");
    if (++b->hk_rounds % STATS_EVERY == 0 || pruned)
        pe_info("bridge.stats",
                "received=%lld stored=%lld duplicates=%lld gaps=%lld dead=%lld full=%lld "
                "produced=%lld delivered=%lld failed=%lld pending=%lld pruned=%lld",
                (long long)b->st.received, (long long)b->st.stored, (long long)b->st.duplicates,
                (long long)b->st.gaps, (long long)b->st.dead, (long long)b->st.full,
                (long long)b->st.produced, (long long)b->st.delivered, (long long)b->st.failed,
                (long long)ss.pending, (long long)pruned);
    plan_drain(b, 0);
    pe_loop_timer(b->loop, HOUSEKEEPING_MS, housekeeping, b, NULL);
}

/* ---- fault injection (test builds) ---- */

#ifdef PE_FAULT_INJECTION
#include <unistd.h>
/* PE_FAULT_SPOOL_FULL=FLAG: the spool is opened through the "pe-fault" VFS, and while the file
 * FLAG exists every write to it fails as on a full disk (SQLITE_FULL). */
static const char *fault_disk_flag(void)
{
    return getenv("PE_FAULT_SPOOL_FULL");
}

static void fault_disk_tick(void *ctx)
{
    struct bridge *b = ctx;
    static bool armed;
    bool full = access(fault_disk_flag(), F_OK) == 0;
    if (full && !armed)
        pe_faultvfs_arm(PE_FAULT_WRITE, 1, PE_EFULL, true);
    else if (!full && armed)
        pe_faultvfs_disarm();
    if (full != armed)
        pe_warn("bridge.fault", "PE_FAULT_SPOOL_FULL: disk %s", full ? "full" : "has space again");
    armed = full;
    pe_loop_timer(b->loop, 100, fault_disk_tick, b, NULL);
}

static const char *fault_disk_vfs(void)
{
    return fault_disk_flag() && pe_faultvfs_register() == PE_OK ? "pe-fault" : NULL;
}
#else
static const char *fault_disk_vfs(void)
{
    return NULL;
}
#endif

/* ---- lifecycle ---- */

int bridge_create(struct pe_loop *loop, const struct bridge_cfg *cfg, struct bridge **out,
                  char *err, size_t errlen)
{
    struct bridge *b = calloc(1, sizeof *b);
    if (!b)
        return PE_ENOMEM;
    b->cfg = *cfg;
    b->loop = loop;
    pace_init(&b->pace_ev, cfg->drain_events_per_s, pe_mono_ms());
    pace_init(&b->pace_bytes, cfg->drain_bytes_per_s, pe_mono_ms());
    snprintf(b->state_topic, sizeof b->state_topic, "posedge/v1/%s/_bridge/state", cfg->store);
    char path[BRIDGE_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/spool.db", cfg->data_dir);
    struct pe_spool_opts so = {.max_bytes = cfg->spool_max_mb * 1024 * 1024,
                               .vfs = fault_disk_vfs()};
    int rc = pe_spool_open(path, &so, &b->spool, err, errlen);
    if (rc)
        goto free_bridge;
    pe_spool_terminals(b->spool, load_term, b);
    char tid[64];
    snprintf(tid, sizeof tid, "posedge-bridge-%s", bridge_cfg_id(cfg));
    bool txn = bridge_cfg_transactional(cfg);
    struct output_opts oo = {
        .brokers = cfg->kafka_brokers,
        .properties = cfg->kafka_properties,
        .max_inflight = (int)cfg->kafka_max_inflight,
        .on_delivered = on_delivered,
        .on_reset = on_reset,
        .ctx = b,
        .transactional_id = txn ? tid : NULL,
        .state_topic = cfg->state_topic,
        .state_key = bridge_cfg_id(cfg),
        .txn_max_events = (int)cfg->txn_max_events,
        .txn_interval_ms = (int)cfg->txn_interval_ms,
        .on_committed = on_committed,
        .on_recovered = on_recovered,
    };
    if ((rc = output_create(loop, &oo, &b->out, err, errlen)))
        goto close_spool;
    char client_id[96], will[64];
    snprintf(client_id, sizeof client_id, "posedge-bridge-%s", cfg->store);
    snprintf(will, sizeof will, "{\"state\":\"offline\"}");
    struct pe_mqtt_opts mo = {
        .client_id = client_id,
        .host = cfg->mqtt_host,
        .port = (int)cfg->mqtt_port,
        .keepalive_s = (int)cfg->mqtt_keepalive_s,
        .will_topic = b->state_topic,
        .will_payload = will,
        .on_connect = on_connect,
        .on_disconnect = on_disconnect,
        .on_message = on_message,
        .ctx = b,
    };
    if ((rc = pe_mqtt_create(loop, &mo, &b->mqtt))) {
        snprintf(err, errlen, "mqtt %s:%lld: %s", cfg->mqtt_host, (long long)cfg->mqtt_port,
                 pe_strerror(rc));
        goto destroy_output;
    }
    pe_loop_timer(loop, HOUSEKEEPING_MS, housekeeping, b, NULL);
#ifdef PE_FAULT_INJECTION
    if (so.vfs)
        fault_disk_tick(b);
#endif
    plan_drain(b, 0);
    pe_info("bridge.start", "store=%s id=%s mode=%s spool=%s terminals=%d kafka=%s mqtt=%s:%lld",
            cfg->store, bridge_cfg_id(cfg), cfg->kafka_mode, path, b->nterms, cfg->kafka_brokers,
            cfg->mqtt_host, (long long)cfg->mqtt_port);
    *out = b;
    return PE_OK;

destroy_output:
    output_destroy(b->out);
close_spool:
    pe_spool_close(b->spool);
free_bridge:
    free(b);
    return rc;
}

void bridge_destroy(struct bridge *b, int flush_ms)
{
    if (!b)
        return;
    b->stopping = true;
    commit_now(b);
    int rc = output_flush(b->out, flush_ms);
    persist(b);
    publish_state(b, "offline");
    /* Give the last acks and the state a moment on the wire before disconnecting. */
    int64_t deadline = pe_mono_ms() + 500;
    while (pe_mono_ms() < deadline && pe_mqtt_connected(b->mqtt))
        if (pe_loop_run_once(b->loop, 50))
            break;
    pe_info("bridge.stop", "flushed=%s produced=%lld delivered=%lld dead=%lld",
            rc == PE_OK ? "yes" : "no (undelivered records stay in the spool)",
            (long long)b->st.produced, (long long)b->st.delivered, (long long)b->st.dead);
    pe_mqtt_destroy(b->mqtt);
    output_destroy(b->out);
    pe_spool_close(b->spool);
    free(b);
}

const struct bridge_stats *bridge_stats(const struct bridge *b)
{
    return &b->st;
}
