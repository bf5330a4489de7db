/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uplink.c - the agent's uplink: the journal, in seq order, to the bridge (docs/protocol.md).
 *
 * State is three numbers. spooled and delivered are the bridge's watermarks as acknowledged
 * (stored in the journal's uplink table; they go back only when the bridge says less than
 * before, after its spool was rebuilt); sent_up_to is the last seq handed to MQTT since we last
 * went back. The sender publishes from sent_up_to + 1 while sent_up_to - spooled < window; the ack
 * moves spooled; and when records are outstanding and the ack has not moved for resend_ms,
 * sent_up_to goes back to spooled (go-back-N) and the same records are sent again, which the bridge
 * recognises as duplicates. Every (re)connect also goes back to spooled. Nothing is lost by sending
 * twice; nothing can be skipped because the bridge only ever acknowledges a contiguous prefix.
 *
 * Selling never waits for the uplink. A commit only arms a zero-delay timer (uplink_kick); the
 * sender then runs from the loop, a few batches per round, and re-arms itself while there is a
 * backlog and room in the window, so device input is served between batches. A publish that
 * fails (offline, out of memory) just stops the sender until the next connection or kick.
 *
 * Three refinements of the plain scheme, each to avoid needless work on a till:
 *  - After a connect the sender holds back until the retained ack arrives (or ACK_GRACE_MS
 *    passes, for a bridge that has never acknowledged), so a restarted agent does not first
 *    resend what the bridge already has.
 *  - A go-back waits until the broker has acknowledged (PUBACK) the last batch we sent, so a
 *    slow link never holds more than about one window of copies in libmosquitto's queue.
 *  - Acks are written to the journal at most once per PERSIST_MS (and at destroy): each write
 *    is a synchronous commit, and a stale stored watermark only means resending a little more
 *    after a crash.
 *
 * The uplink owns the till's one MQTT connection. The fleet channel (fleet.c: the retained state
 * document, commands) and enrolment's renewal (enrol.c) ride on it through the hooks in
 * uplink_opts: connects, messages on other topics than the ack, publish acknowledgements and
 * watermark changes are passed on to each.
 *
 * A publish the broker refuses (PUBACK reason >= 0x80, MQTT v5: the ACL denied the topic) is not
 * a delivery. For a batch nothing changes but the count: the ack does not move, so the records
 * go again at the next go-back, as after any loss. Every refusal on the connection is counted
 * and named by topic (uplink_publish remembers the topic of each publish it makes until the
 * broker answers; the rest are the events' batches); the log says it when refusals start or
 * their topic or reason changes, and when that topic is taken again.
 */
#include "agent/uplink.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/mqtt.h"
#include "posedge/protocol.h"

#define BATCHES_PER_ROUND 4 /* batches sent per loop round before yielding to devices */
#define ACK_GRACE_MS 500    /* longest wait for the retained ack after a connect */
#define PERSIST_MS 1000     /* at most one watermark write per this interval */
#define PENDING_MAX 32      /* publishes of the hooks remembered until the broker answers */

static const char OFFLINE[] = "{\"state\":\"offline\"}"; /* the will */

struct uplink {
    struct pe_loop *loop;     /* borrowed */
    struct pe_journal *j;     /* borrowed */
    struct pe_mqtt *mqtt;     /* owned */
    struct uplink_opts o;     /* limits (the id strings are not kept) */
    char store[PE_ID_MAX];       /* the till's ids */
    char terminal[PE_ID_MAX];
    char t_events[PE_TOPIC_MAX]; /* posedge/v1/<store>/<terminal>/events */
    char t_ack[PE_TOPIC_MAX];    /* .../ack */
    char t_state[PE_TOPIC_MAX];  /* .../state */
    int64_t spooled;          /* bridge watermarks as acknowledged */
    int64_t delivered;
    int64_t saved_spooled; /* as last written to the journal */
    int64_t saved_delivered;
    int64_t persisted_at;  /* pe_mono_ms of the last write, 0 never */
    int64_t sent_up_to;    /* last seq handed to MQTT since the last go-back */
    int64_t stall_since;   /* pe_mono_ms since which the ack has not moved while
                            * records were outstanding */
    bool holding;          /* connected, waiting for the retained ack */
    bool was_connected;    /* on_connect seen since the last on_disconnect */
    bool last_done;        /* the broker acknowledged the last batch sent */
    bool resend_due;       /* a go-back waits for last_done */
    bool warned_malformed; /* a malformed ack was logged already */
    int last_mid;          /* mid of the last batch sent */
    int64_t pump_timer;    /* pending timer ids, 0 when none */
    int64_t resend_timer;
    int64_t hold_timer;
    int64_t persist_timer;
    char *buf;       /* the batch being built */
    size_t cap;      /* its allocated size */
    int64_t batches; /* counters for the summary line */
    int64_t records;
    int64_t resends;
    int64_t acks;
    struct {
        int mid;          /* 0: a free entry */
        enum pe_channel ch;
    } pending[PENDING_MAX]; /* the hooks' publishes awaiting the broker's answer */
    int pending_next;       /* the entry to use next (a ring) */
    struct uplink_denial denial;
    int refused[PE_CH__COUNT]; /* per channel: the reason its last publish was refused, 0 taken */
};

/* ---- watermarks in the journal ---- */

static void persist(struct uplink *u)
{
    if (u->spooled == u->saved_spooled && u->delivered == u->saved_delivered)
        return;
    u->persisted_at = pe_mono_ms();
    int rc = pe_journal_uplink_set(u->j, u->spooled, u->delivered);
    if (rc) {
        /* Only costs a larger resend after a restart; selling is not affected. */
        pe_warn("uplink.persist_failed", "spooled=%lld delivered=%lld err=%s",
                (long long)u->spooled, (long long)u->delivered, pe_errname(rc));
        return;
    }
    u->saved_spooled = u->spooled;
    u->saved_delivered = u->delivered;
}

static void persist_tick(void *ctx)
{
    struct uplink *u = ctx;
    u->persist_timer = 0;
    persist(u);
}

static void persist_soon(struct uplink *u)
{
    if (u->persist_timer)
        return;
    int64_t wait = u->persisted_at ? u->persisted_at + PERSIST_MS - pe_mono_ms() : 0;
    if (wait <= 0 || pe_loop_timer(u->loop, wait, persist_tick, u, &u->persist_timer) != PE_OK)
        persist(u);
}

/* ---- the sender ---- */

static void pump(struct uplink *u);

static void pump_tick(void *ctx)
{
    struct uplink *u = ctx;
    u->pump_timer = 0;
    pump(u);
}

static void arm_pump(struct uplink *u)
{
    if (!u->pump_timer && pe_loop_timer(u->loop, 0, pump_tick, u, &u->pump_timer) != PE_OK)
        u->pump_timer = 0; /* out of memory: the next kick or ack tries again */
}

static void go_back(struct uplink *u, const char *why)
{
    u->resend_due = false;
    if (u->sent_up_to <= u->spooled)
        return;
    pe_info("uplink.resend", "from=%lld to=%lld why=%s", (long long)(u->spooled + 1),
            (long long)u->sent_up_to, why);
    u->resends++;
    u->sent_up_to = u->spooled;
    pump(u);
}

static void resend_tick(void *ctx);

static void arm_resend(struct uplink *u)
{
    if (u->resend_timer || u->resend_due)
        return;
    int64_t wait = u->stall_since + u->o.resend_ms - pe_mono_ms();
    if (pe_loop_timer(u->loop, wait < 0 ? 0 : wait, resend_tick, u, &u->resend_timer) != PE_OK)
        u->resend_timer = 0;
}

static void resend_tick(void *ctx)
{
    struct uplink *u = ctx;
    u->resend_timer = 0;
    if (!pe_mqtt_connected(u->mqtt) || u->sent_up_to <= u->spooled)
        return;
    if (pe_mono_ms() - u->stall_since < u->o.resend_ms) {
        arm_resend(u); /* the ack moved meanwhile */
        return;
    }
    if (!u->last_done) {
        u->resend_due = true; /* on_published of the last batch does it */
        return;
    }
    go_back(u, "ack_stalled");
}

/* Fill u->buf with records from..(at most) from+max-1, joined by '\n', within batch_bytes
 * (a first record larger than that goes alone). A signed record's line is the record, a tab
 * and its sig column (docs/protocol.md, "Event lines"). *n gets the count (0 at the journal's
 * end). */
static int build(struct uplink *u, int64_t from, int64_t max, size_t *len, int64_t *n)
{
    struct pe_journal_iter *it;
    struct pe_journal_rec r;
    int rc = pe_journal_iter_open(u->j, from, NULL, &it);
    if (rc)
        return rc;
    *len = 0;
    *n = 0;
    while (*n < max && (rc = pe_journal_iter_next(it, &r)) == PE_OK) {
        if (r.seq != from + *n) {
            pe_error("uplink.gap", "expected=%lld got=%lld", (long long)(from + *n),
                     (long long)r.seq);
            rc = PE_ECORRUPT;
            break;
        }
        size_t need = *len + (*n ? 1 : 0) + r.len + (r.sig ? 1 + r.siglen : 0);
        if (*n && need > (size_t)u->o.batch_bytes)
            break;
        if (need > u->cap) {
            size_t cap = u->cap ? u->cap : 4096;
            while (cap < need)
                cap *= 2;
            char *b = realloc(u->buf, cap);
            if (!b) {
                rc = PE_ENOMEM;
                break;
            }
            u->buf = b;
            u->cap = cap;
        }
        if (*n)
            u->buf[(*len)++] = '\n';
        memcpy(u->buf + *len, r.record, r.len);
        *len += r.len;
        if (r.sig) {
            u->buf[(*len)++] = PE_EVENTS_SIG_SEP;
            memcpy(u->buf + *len, r.sig, r.siglen);
            *len += r.siglen;
        }
        (*n)++;
    }
    pe_journal_iter_close(it);
    return rc == PE_EEOF ? PE_OK : rc;
}

static void pump(struct uplink *u)
{
    if (!pe_mqtt_connected(u->mqtt) || u->holding)
        return;
    int64_t last = 0;
    if (pe_journal_last(u->j, &last, NULL, NULL) != PE_OK)
        return;
    int round = 0;
    while (u->sent_up_to < last && u->sent_up_to - u->spooled < u->o.window) {
        if (round++ == BATCHES_PER_ROUND) {
            arm_pump(u); /* more backlog: continue after the devices had their turn */
            break;
        }
        int64_t room = u->o.window - (u->sent_up_to - u->spooled);
        int64_t from = u->sent_up_to + 1, n = 0;
        size_t len = 0;
        int rc = build(u, from, room < u->o.batch_max ? room : u->o.batch_max, &len, &n);
        if (rc || n == 0) {
            if (rc)
                pe_warn("uplink.read_failed", "from=%lld err=%s", (long long)from, pe_errname(rc));
            break;
        }
        int mid = 0;
        rc = pe_mqtt_publish(u->mqtt, u->t_events, u->buf, len, 1, false, &mid);
        if (rc) {
            if (rc != PE_EAGAIN)
                pe_warn("uplink.publish_failed", "from=%lld n=%lld bytes=%zu err=%s",
                        (long long)from, (long long)n, len, pe_errname(rc));
            break; /* wait for the next connect or kick */
        }
        if (u->sent_up_to == u->spooled)
            u->stall_since = pe_mono_ms(); /* records are outstanding from now on */
        u->sent_up_to = from + n - 1;
        u->last_mid = mid;
        u->last_done = false;
        u->batches++;
        u->records += n;
        pe_debug("uplink.batch", "from=%lld to=%lld bytes=%zu mid=%d", (long long)from,
                 (long long)u->sent_up_to, len, mid);
    }
    if (u->sent_up_to > u->spooled)
        arm_resend(u);
}

/* ---- MQTT events ---- */

static void release_hold(struct uplink *u)
{
    if (!u->holding)
        return;
    u->holding = false;
    if (u->hold_timer) {
        pe_loop_timer_cancel(u->loop, u->hold_timer);
        u->hold_timer = 0;
    }
    arm_pump(u);
}

static void hold_tick(void *ctx)
{
    struct uplink *u = ctx;
    u->hold_timer = 0;
    release_hold(u);
}

static void on_connect(void *ctx, bool session_present)
{
    struct uplink *u = ctx;
    int64_t last = 0;
    pe_journal_last(u->j, &last, NULL, NULL);
    pe_info("uplink.connected", "session_present=%d last_seq=%lld spooled=%lld delivered=%lld",
            session_present, (long long)last, (long long)u->spooled, (long long)u->delivered);
    u->was_connected = true;
    int rc = pe_mqtt_subscribe(u->mqtt, u->t_ack, 1);
    if (rc)
        pe_warn("uplink.subscribe_failed", "topic=%s err=%s", u->t_ack, pe_errname(rc));
    for (int i = 0; i < UPLINK_HOOKS_MAX; i++)
        if (u->o.hook[i].h && u->o.hook[i].h->on_connect)
            u->o.hook[i].h->on_connect(u->o.hook[i].ctx);
    /* A new connection starts from what the bridge has; earlier sends may be lost. */
    u->sent_up_to = u->spooled;
    u->last_done = true;
    u->resend_due = false;
    u->holding = rc == PE_OK;
    int64_t grace = u->o.resend_ms < ACK_GRACE_MS ? u->o.resend_ms : ACK_GRACE_MS;
    if (u->holding && !u->hold_timer &&
        pe_loop_timer(u->loop, grace, hold_tick, u, &u->hold_timer) != PE_OK)
        u->holding = false;
    if (!u->holding)
        arm_pump(u);
}

static void on_disconnect(void *ctx, int reason)
{
    struct uplink *u = ctx;
    if (u->was_connected)
        pe_warn("uplink.disconnected", "reason=%s sent_up_to=%lld spooled=%lld", pe_errname(reason),
                (long long)u->sent_up_to, (long long)u->spooled);
    u->was_connected = false;
    u->holding = false;
    u->resend_due = false;
    if (u->hold_timer) {
        pe_loop_timer_cancel(u->loop, u->hold_timer);
        u->hold_timer = 0;
    }
}

/* The channel of publish mid: one the hooks made (forgotten now), else an events batch. */
static enum pe_channel channel_of(struct uplink *u, int mid)
{
    for (int i = 0; i < PENDING_MAX; i++) {
        if (u->pending[i].mid == mid) {
            u->pending[i].mid = 0;
            return u->pending[i].ch;
        }
    }
    return PE_CH_EVENTS;
}

/* The broker answered publish mid with reason: count a refusal, and say it when the channel's
 * verdict changes (refused now, or taken again), not at every resend. */
static void judge(struct uplink *u, int mid, int reason)
{
    enum pe_channel ch = channel_of(u, mid);
    char topic[PE_TOPIC_MAX];
    if (pe_topic(topic, sizeof topic, u->store, u->terminal, ch, NULL) != PE_OK)
        snprintf(topic, sizeof topic, "%s", u->t_events);
    struct uplink_denial *d = &u->denial;
    bool refused = reason >= PE_MQTT_RC_FAILURE;
    if (!refused) {
        if (u->refused[ch]) {
            u->refused[ch] = 0;
            pe_info("uplink.denied_over", "topic=%s (the broker takes it again)", topic);
        }
        d->now = false;
        for (int c = 0; c < PE_CH__COUNT; c++)
            d->now |= u->refused[c] != 0;
        return;
    }
    d->count++;
    d->ts_ms = pe_time_now_ms();
    if (u->refused[ch] != reason)
        pe_warn("uplink.denied",
                "topic=%s reason=%d msg=\"%s\" count=%lld (the broker refused the publish: "
                "nothing is lost, the journal keeps it; logged again when this changes)",
                topic, reason, pe_mqtt_reason(reason), (long long)d->count);
    u->refused[ch] = reason;
    snprintf(d->topic, sizeof d->topic, "%s", topic);
    d->reason = reason;
    d->now = true;
}

static void on_published(void *ctx, int mid, int reason)
{
    struct uplink *u = ctx;
    judge(u, mid, reason);
    for (int i = 0; i < UPLINK_HOOKS_MAX; i++)
        if (u->o.hook[i].h && u->o.hook[i].h->on_published)
            u->o.hook[i].h->on_published(u->o.hook[i].ctx, mid, reason);
    if (u->last_done || mid != u->last_mid)
        return;
    u->last_done = true;
    if (u->resend_due)
        go_back(u, "ack_stalled");
}

static void on_ack(struct uplink *u, const void *payload, size_t len)
{
    cJSON *doc = NULL;
    int64_t s = 0, d = 0, last = 0;
    release_hold(u); /* whatever it says, it is the retained ack we waited for */
    if (pe_json_parse(payload, len, &doc, NULL, 0) != PE_OK || !cJSON_IsObject(doc) ||
        pe_json_get_int(doc, "spooled", &s) != PE_OK ||
        pe_json_get_int(doc, "delivered", &d) != PE_OK || s < 0 || d < 0) {
        cJSON_Delete(doc);
        if (!u->warned_malformed)
            pe_warn("uplink.ack_malformed", "len=%zu (logged once)", len);
        u->warned_malformed = true;
        return;
    }
    cJSON_Delete(doc);
    if (pe_journal_last(u->j, &last, NULL, NULL) != PE_OK)
        return;
    if (s > last || d > last) {
        /* The bridge cannot have what we never wrote: another terminal's journal, or ours
         * replaced. Believing it would skip records. */
        pe_warn("uplink.ack_ahead", "spooled=%lld delivered=%lld last_seq=%lld (ignored)",
                (long long)s, (long long)d, (long long)last);
        return;
    }
    if (s == u->spooled && d == u->delivered)
        return;
    u->acks++;
    if (s < u->spooled || d < u->delivered) {
        /* The bridge has less than it said before: its spool was lost and rebuilt (from Kafka's
         * committed state), or a restarted broker kept an older retained ack. The ack is the
         * bridge's word: go back and resend from there. Records it still has are duplicates
         * to it, so this costs traffic, never a record. */
        pe_warn("uplink.ack_behind", "spooled=%lld->%lld delivered=%lld->%lld (resending)",
                (long long)u->spooled, (long long)s, (long long)u->delivered, (long long)d);
        if (s < u->spooled) {
            u->spooled = s;
            u->sent_up_to = s;
            u->stall_since = pe_mono_ms();
        }
        if (d < u->delivered)
            u->delivered = d;
    }
    if (s > u->spooled) {
        u->spooled = s;
        u->stall_since = pe_mono_ms();
        if (u->sent_up_to < s)
            u->sent_up_to = s; /* the bridge has more than we sent since going back */
    }
    if (d > u->delivered)
        u->delivered = d;
    pe_info("uplink.ack", "spooled=%lld delivered=%lld", (long long)u->spooled,
            (long long)u->delivered);
    persist_soon(u);
    for (int i = 0; i < UPLINK_HOOKS_MAX; i++)
        if (u->o.hook[i].h && u->o.hook[i].h->on_change)
            u->o.hook[i].h->on_change(u->o.hook[i].ctx);
    pump(u); /* the window may have room again */
}

static void on_message(void *ctx, const char *topic, const void *payload, size_t len, bool retained)
{
    struct uplink *u = ctx;
    if (strcmp(topic, u->t_ack) == 0) {
        on_ack(u, payload, len);
        return;
    }
    for (int i = 0; i < UPLINK_HOOKS_MAX; i++)
        if (u->o.hook[i].h && u->o.hook[i].h->on_message)
            u->o.hook[i].h->on_message(u->o.hook[i].ctx, topic, payload, len, retained);
}

/* ---- public ---- */

int uplink_create(struct pe_loop *loop, struct pe_journal *journal, const struct uplink_opts *o,
                  struct uplink **out)
{
    if (!loop || !journal || !o || !out || !o->host || !o->host[0] ||
        !pe_event_id_valid(o->store, 1) || !pe_event_id_valid(o->terminal, 1) || o->batch_max < 1 ||
        o->batch_bytes < 1 || o->window < 1 || o->resend_ms < 1)
        return PE_EINVAL;
    struct uplink *u = calloc(1, sizeof *u);
    if (!u)
        return PE_ENOMEM;
    u->loop = loop;
    u->j = journal;
    u->o = *o;
    u->o.host = u->o.store = u->o.terminal = NULL; /* borrowed only during create */
    u->o.username = u->o.password = NULL;
    u->o.tls_ca_file = u->o.tls_cert_file = u->o.tls_key_file = NULL;
    snprintf(u->store, sizeof u->store, "%s", o->store);
    snprintf(u->terminal, sizeof u->terminal, "%s", o->terminal);
    int rc;
    if ((rc = pe_topic(u->t_events, sizeof u->t_events, o->store, o->terminal, PE_CH_EVENTS,
                       NULL)) ||
        (rc = pe_topic(u->t_ack, sizeof u->t_ack, o->store, o->terminal, PE_CH_ACK, NULL)) ||
        (rc = pe_topic(u->t_state, sizeof u->t_state, o->store, o->terminal, PE_CH_STATE, NULL)) ||
        (rc = pe_journal_uplink_get(journal, &u->spooled, &u->delivered)))
        goto free_u;
    u->saved_spooled = u->spooled;
    u->saved_delivered = u->delivered;
    u->sent_up_to = u->spooled;
    u->last_done = true;
    char id[96];
    snprintf(id, sizeof id, "posedge-agent-%s-%s", o->store, o->terminal);
    struct pe_mqtt_opts mo = {
        .client_id = id,
        .host = o->host,
        .port = o->port,
        .keepalive_s = o->keepalive_s,
        .will_topic = u->t_state,
        .will_payload = OFFLINE,
        .username = o->username,
        .password = o->password,
        .tls_ca_file = o->tls_ca_file,
        .tls_cert_file = o->tls_cert_file,
        .tls_key_file = o->tls_key_file,
        .on_connect = on_connect,
        .on_disconnect = on_disconnect,
        .on_message = on_message,
        .on_published = on_published,
        .ctx = u,
    };
    if ((rc = pe_mqtt_create(loop, &mo, &u->mqtt)))
        goto free_u;
    pe_info("uplink.start", "client=%s host=%s port=%d tls=%s spooled=%lld delivered=%lld", id,
            o->host, o->port,
            !o->tls_ca_file || !o->tls_ca_file[0] ? "off"
            : o->tls_cert_file && o->tls_cert_file[0] ? "mutual"
                                                      : "server",
            (long long)u->spooled, (long long)u->delivered);
    *out = u;
    return PE_OK;

free_u:
    free(u);
    return rc;
}

void uplink_destroy(struct uplink *u)
{
    if (!u)
        return;
    int64_t *timers[] = {&u->pump_timer, &u->resend_timer, &u->hold_timer, &u->persist_timer};
    for (size_t i = 0; i < sizeof timers / sizeof *timers; i++)
        if (*timers[i])
            pe_loop_timer_cancel(u->loop, *timers[i]);
    persist(u);
    pe_info("uplink.summary",
            "batches=%lld records=%lld resends=%lld acks=%lld spooled=%lld "
            "delivered=%lld",
            (long long)u->batches, (long long)u->records, (long long)u->resends, (long long)u->acks,
            (long long)u->spooled, (long long)u->delivered);
    pe_mqtt_destroy(u->mqtt);
    free(u->buf);
    free(u);
}

void uplink_kick(struct uplink *u)
{
    if (u && pe_mqtt_connected(u->mqtt) && !u->holding)
        arm_pump(u);
}

void uplink_watermarks(const struct uplink *u, int64_t *spooled, int64_t *delivered)
{
    if (spooled)
        *spooled = u ? u->spooled : 0;
    if (delivered)
        *delivered = u ? u->delivered : 0;
}

bool uplink_connected(const struct uplink *u)
{
    return u && pe_mqtt_connected(u->mqtt);
}

int uplink_add_hooks(struct uplink_opts *o, const struct uplink_hooks *h, void *ctx)
{
    for (int i = 0; i < UPLINK_HOOKS_MAX; i++) {
        if (!o->hook[i].h) {
            o->hook[i].h = h;
            o->hook[i].ctx = ctx;
            return PE_OK;
        }
    }
    return PE_ENOMEM;
}

void uplink_denied(const struct uplink *u, struct uplink_denial *out)
{
    memset(out, 0, sizeof *out);
    if (u)
        *out = u->denial;
}

int uplink_publish(struct uplink *u, const char *topic, const void *payload, size_t len,
                   bool retain, int *mid)
{
    int lmid = 0;
    int rc = pe_mqtt_publish(u->mqtt, topic, payload, len, 1, retain, &lmid);
    char store[PE_ID_MAX], term[PE_ID_MAX];
    enum pe_channel ch;
    if (rc == PE_OK && pe_topic_parse(topic, store, term, &ch, NULL) == PE_OK &&
        ch != PE_CH_EVENTS) {
        u->pending[u->pending_next].mid = lmid;
        u->pending[u->pending_next].ch = ch;
        u->pending_next = (u->pending_next + 1) % PENDING_MAX;
    }
    if (rc == PE_OK && mid)
        *mid = lmid;
    return rc;
}

int uplink_subscribe(struct uplink *u, const char *topic)
{
    return pe_mqtt_subscribe(u->mqtt, topic, 1);
}

int uplink_resend_from(struct uplink *u, int64_t seq)
{
    int64_t last = 0;
    int rc = pe_journal_last(u->j, &last, NULL, NULL);
    if (rc)
        return rc;
    if (seq < 1 || seq > last)
        return PE_ERANGE;
    /* Below spooled too: the bridge treats what it has as duplicates, so this costs traffic and
     * repairs a downstream that lost records. An ack arriving meanwhile moves sent_up_to up to
     * spooled again, which only shortens the resend to what the bridge lacks. */
    pe_info("uplink.resend_from", "seq=%lld last=%lld spooled=%lld", (long long)seq,
            (long long)last, (long long)u->spooled);
    u->sent_up_to = seq - 1;
    u->stall_since = pe_mono_ms();
    u->resends++;
    if (pe_mqtt_connected(u->mqtt) && !u->holding)
        arm_pump(u);
    return PE_OK;
}
