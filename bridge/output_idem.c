/* SPDX-License-Identifier: Apache-2.0 */
/*
 * output_idem.c - the idempotent backend of the bridge's Kafka output (output_backend.h,
 * kafka.mode=idempotent): a librdkafka producer served from the bridge's poll loop.
 *
 * One idempotent producer (librdkafka role producer-idempotent: acks=all, lz4, message.timeout.ms=0
 * so that no message ever expires into loss) whose main queue carries delivery reports, errors and
 * librdkafka's own log lines. The queue's io event writes one byte into a non-blocking pipe whose
 * read end is a pe_loop watch; when it is readable the pipe is drained and rd_kafka_poll(rk, 0)
 * serves the queue, so every callback of this file runs on the loop's thread. A 100 ms timer polls
 * as well, as a safety net for a wake-up byte that could not be written.
 *
 * Each produced record carries a slot (struct output_ref plus a free-list link) as its
 * msg_opaque. Slots come from slabs of SLAB_SLOTS that are allocated on demand and kept, so a
 * steady stream costs no malloc per message and memory follows the peak in-flight count,
 * bounded by max_inflight.
 *
 * The invariant that matters: once librdkafka raises a fatal error, nothing produced into that
 * producer is reported failed one by one. The producer is destroyed (purged, not flushed), every
 * slot is released and the owner gets on_reset instead, and produces again everything not yet
 * reported delivered, in order, into the fresh producer. A report of success that arrives
 * before the reset still counts: that record is in Kafka.
 *
 * Refusals by Kafka (kafka_common.h, struct kc_auth): a failed login or TLS handshake never
 * fails a record (message.timeout.ms=0: they wait in librdkafka's queue, which the in-flight
 * limit bounds) and ends when a broker connection comes up; a topic without Write is reported
 * failed record by record (the owner produces them again) and holds producing for
 * KC_AUTH_RETRY_MS, so that the retry does not spin. A reload (output_reload) swaps in a
 * producer made from the files as they are now, and resets as after a fatal error.
 */
#include "bridge/kafka_common.h"
#include "bridge/output.h"
#include "bridge/output_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/kafka_conf.h"
#include "posedge/log.h"

#define DEFAULT_MAX_INFLIGHT 100000
#define SLAB_SLOTS 1024
#define POLL_MS 100           /* the safety-net poll */
#define RETRY_MS 1000         /* retry of a producer that could not be recreated */
#define RELOAD_FLUSH_MS 1000  /* a reload first lets a working producer deliver this long */

/* A record in flight. The records of one event (output_produce_event) share the slot of the
 * first, the head, which counts the reports still due and is given back with the last. */
struct slot {
    struct output_ref ref; /* what on_delivered reports (the head's) */
    struct slot *next;     /* free list link while unused */
    struct slot *head;     /* the event's head slot (itself for the head) */
    int left;              /* head: reports still due */
    int err;               /* head: the first error reported, 0 when none */
    bool abandoned;        /* head: the event was refused half way: report nothing */
};

struct slab {
    struct slab *next;             /* all slabs, for release and reset */
    struct slot slots[SLAB_SLOTS]; /* handed out one by one */
};

struct idem {
    struct pe_loop *loop;    /* the loop the pipe and timers are registered with */
    rd_kafka_t *rk;          /* the producer; NULL only while a recreate is pending */
    rd_kafka_queue_t *mainq; /* its main queue, with the io event on pipe_wr */
    int pipe_rd;             /* watched by the loop */
    int pipe_wr;             /* written by librdkafka's threads (non-blocking) */
    int64_t poll_timer;      /* the safety-net timer, 0 when none */
    int64_t reset_timer;     /* a pending reset or retry, 0 when none */
    char *brokers;           /* bootstrap.servers, owned */
    struct kc_topics topics; /* rk's topic handles (kafka_common.h) */
    cJSON *props;            /* the user's librdkafka properties, an owned copy (or NULL) */
    struct pe_kafka_security sec; /* TLS and SASL settings, a copy */
    struct kc_auth auth;          /* what Kafka refuses */
    int64_t hold_until;           /* no producing before this (monotonic ms): a refusal */
    size_t max_msg;          /* the producer's message.max.bytes */
    int max_inflight;        /* limit of slots in use */
    int inflight;            /* slots in use: produced, not yet reported */
    int nslots;              /* slots allocated in all slabs */
    struct slab *slabs;      /* allocated slabs */
    struct slot *free;       /* free slots */
    bool fatal;              /* librdkafka raised a fatal error: reset when not serving */
    bool fatal_auth;         /* ... caused by a refusal: reset after KC_AUTH_RETRY_MS */
    bool serving;            /* inside rd_kafka_poll / rd_kafka_flush */
    void (*on_delivered)(void *ctx, const struct output_ref *ref, int err); /* a record's fate */
    void (*on_reset)(void *ctx); /* the producer was recreated */
    void *ctx;                   /* passed to both callbacks */
    struct output_kafka kafka;   /* the link to Kafka, from statistics and errors */
};

/* ---- slots ---- */

static struct slot *slot_take(struct idem *o)
{
    if (!o->free) {
        struct slab *s = malloc(sizeof *s);
        if (!s)
            return NULL;
        s->next = o->slabs;
        o->slabs = s;
        for (int i = SLAB_SLOTS - 1; i >= 0; i--) {
            s->slots[i].next = o->free;
            o->free = &s->slots[i];
        }
        o->nslots += SLAB_SLOTS;
    }
    struct slot *sl = o->free;
    o->free = sl->next;
    o->inflight++;
    return sl;
}

static void slot_give(struct idem *o, struct slot *sl)
{
    sl->next = o->free;
    o->free = sl;
    o->inflight--;
}

/* Every slot becomes free again (the producer that held them is gone). */
static void slots_release_all(struct idem *o)
{
    o->free = NULL;
    for (struct slab *s = o->slabs; s; s = s->next)
        for (int i = SLAB_SLOTS - 1; i >= 0; i--) {
            s->slots[i].next = o->free;
            o->free = &s->slots[i];
        }
    o->inflight = 0;
}

/* ---- librdkafka callbacks (all run inside rd_kafka_poll on the loop's thread) ---- */

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct idem *o = opaque;
    struct slot *sl = m->_private;
    (void)rk;
    if (!sl)
        return;
    /* After a fatal error the failures are not reported one by one: on_reset covers them. */
    if (m->err && o->fatal)
        return;
    struct slot *h = sl->head;
    const char *topic = rd_kafka_topic_name(m->rkt);
    enum output_auth refusal = kc_auth_of(m->err);
    if (refusal != OUTPUT_AUTH_OK) {
        /* Said once per change, not once per record; tried again after a pause. */
        kc_auth_note(&o->auth, refusal, refusal == OUTPUT_AUTH_TOPIC_NOT_AUTHORIZED ? topic : "",
                     m->err, rd_kafka_err2str(m->err));
        o->hold_until = pe_mono_ms() + KC_AUTH_RETRY_MS;
    } else if (m->err) {
        pe_warn("output.delivery_failed", "topic=%s store=%s terminal=%s seq=%" PRId64 " err=%s",
                topic, h->ref.store, h->ref.terminal, h->ref.seq, rd_kafka_err2name(m->err));
    } else if (o->auth.status != OUTPUT_AUTH_OK &&
               (o->auth.status != OUTPUT_AUTH_TOPIC_NOT_AUTHORIZED ||
                strcmp(o->auth.resource, topic) == 0)) {
        kc_auth_note(&o->auth, OUTPUT_AUTH_OK, NULL, 0, NULL); /* Kafka took it: over */
    }
    if (m->err && !h->err)
        h->err = (int)m->err;
    if (sl != h)
        slot_give(o, sl);
    if (--h->left > 0)
        return;
    struct output_ref ref = h->ref;
    int err = h->err;
    bool abandoned = h->abandoned;
    slot_give(o, h); /* before the callback, so that it may produce into the freed capacity */
    if (o->on_delivered && !abandoned)
        o->on_delivered(o->ctx, &ref, err);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct idem *o = opaque;
    char q[512];
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof why);
        if (kc_auth_of(orig) != OUTPUT_AUTH_OK) {
            /* A refusal (an ACL the idempotent producer needs): recreated after a pause. */
            kc_auth_note(&o->auth, kc_auth_of(orig), "", orig, why);
            o->fatal_auth = true;
        } else {
            pe_error("output.fatal", "err=%s reason=\"%s\" inflight=%d (recreating the producer)",
                     rd_kafka_err2name(orig), pe_log_quote(why, q, sizeof q), o->inflight);
        }
        o->fatal = true;
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        o->kafka.connected = false; /* at once, not at the next statistics */
        o->kafka.brokers_up = 0;
    }
    enum output_auth refusal = kc_auth_of(err);
    if (refusal == OUTPUT_AUTH_AUTH_FAILED || refusal == OUTPUT_AUTH_TLS_FAILED)
        kc_auth_note(&o->auth, refusal, "", err, reason); /* repeats: said once per change */
    else
        kc_log_error(err, reason);
}

/* librdkafka's statistics (served by rd_kafka_poll, on the loop's thread like the rest). */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    struct idem *o = opaque;
    (void)rk;
    kc_stats_parse(json, len, &o->kafka);
    /* A connection up has passed the TLS handshake and the login. */
    if (o->kafka.connected &&
        (o->auth.status == OUTPUT_AUTH_AUTH_FAILED || o->auth.status == OUTPUT_AUTH_TLS_FAILED))
        kc_auth_note(&o->auth, OUTPUT_AUTH_OK, NULL, 0, NULL);
    return 0; /* librdkafka frees json */
}

/* ---- the producer ---- */

/* Make a producer from the configuration and the files as they are now (the password is
 * read, the certificates loaded). On error nothing is left behind. */
static int make(struct idem *o, rd_kafka_t **out, char *err, size_t errlen)
{
    char why[512];
    rd_kafka_conf_t *conf = NULL;
    struct pe_kafka_site site = {
        .brokers = o->brokers, .properties = o->props, .security = &o->sec};
    int rc = pe_kafka_conf_new(PE_KAFKA_PRODUCER_IDEMPOTENT, &site, &conf, err, errlen);
    if (rc)
        return rc;
    rd_kafka_conf_set_opaque(conf, o);
    rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, kc_on_log);
    rd_kafka_conf_set_stats_cb(conf, on_stats);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!rk) {
        /* Each property was accepted alone; their combination (or a certificate) was not. */
        snprintf(err, errlen, "kafka.properties: %s", why);
        rd_kafka_conf_destroy(conf);
        return PE_EINVAL;
    }
    *out = rk; /* conf now belongs to rk */
    return PE_OK;
}

/* Take rk as the producer: hook its main queue to the pipe. On error rk is destroyed. */
static int attach(struct idem *o, rd_kafka_t *rk)
{
    o->max_msg = kc_max_msg(rk);
    rd_kafka_set_log_queue(rk, NULL);
    o->mainq = rd_kafka_queue_get_main(rk);
    if (!o->mainq) {
        rd_kafka_destroy(rk);
        return PE_ENOMEM;
    }
    rd_kafka_queue_io_event_enable(o->mainq, o->pipe_wr, "1", 1);
    o->rk = rk;
    o->fatal = o->fatal_auth = false;
    return PE_OK;
}

/* Create the producer and hook its main queue to the pipe. On error nothing is left behind. */
static int start(struct idem *o, char *err, size_t errlen)
{
    rd_kafka_t *rk = NULL;
    int rc = make(o, &rk, err, errlen);
    return rc ? rc : attach(o, rk);
}

/* Destroy the producer without waiting for anything it still holds. */
static void stop(struct idem *o)
{
    if (!o->rk)
        return;
    rd_kafka_queue_io_event_enable(o->mainq, -1, NULL, 0);
    rd_kafka_queue_destroy(o->mainq);
    o->mainq = NULL;
    /* Purged messages void their delivery reports; the caller still has them (spool). */
    rd_kafka_purge(o->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                              RD_KAFKA_PURGE_F_NON_BLOCKING);
    kc_topics_drop(&o->topics);
    rd_kafka_destroy(o->rk);
    o->rk = NULL;
    o->kafka = (struct output_kafka){0};
}

static void reset_cb(void *ctx);

/* Replace a producer that raised a fatal error (or could not be created) with a new one. */
static void reset(struct idem *o)
{
    char err[512] = "";
    int dropped = o->inflight;
    stop(o);
    kc_drain_pipe(o->pipe_rd);
    slots_release_all(o);
    o->fatal = o->fatal_auth = false;
    int rc = start(o, err, sizeof err);
    if (rc) {
        pe_error("output.recreate_failed", "err=%s reason=\"%s\" (retrying in %d ms)",
                 pe_errname(rc), err, RETRY_MS);
        pe_loop_timer(o->loop, RETRY_MS, reset_cb, o, &o->reset_timer);
        if (dropped == 0)
            return; /* nothing to redo, and on_reset was already given for this outage */
    } else {
        pe_warn("output.recreated", "dropped_inflight=%d", dropped);
    }
    if (o->on_reset)
        o->on_reset(o->ctx);
}

static void reset_cb(void *ctx)
{
    struct idem *o = ctx;
    o->reset_timer = 0;
    reset(o);
}

/* Schedule a reset from outside a poll (output_produce saw the fatal state first). */
static void plan_reset(struct idem *o)
{
    o->fatal = true;
    if (!o->serving && !o->reset_timer)
        pe_loop_timer(o->loop, 0, reset_cb, o, &o->reset_timer);
}

/* Serve the main queue (delivery reports, errors, logs), then act on a fatal error. */
static void serve(struct idem *o, int timeout_ms)
{
    if (!o->rk || o->serving)
        return;
    o->serving = true;
    if (timeout_ms > 0)
        rd_kafka_flush(o->rk, timeout_ms);
    else
        rd_kafka_poll(o->rk, 0);
    o->serving = false;
    if (o->fatal && o->fatal_auth) {
        /* Not at once: the same refusal would follow, again and again. */
        if (!o->reset_timer)
            pe_loop_timer(o->loop, KC_AUTH_RETRY_MS, reset_cb, o, &o->reset_timer);
    } else if (o->fatal) {
        if (o->reset_timer) {
            pe_loop_timer_cancel(o->loop, o->reset_timer);
            o->reset_timer = 0;
        }
        reset(o);
    }
}

static void on_readable(int fd, short revents, void *ctx)
{
    (void)revents;
    kc_drain_pipe(fd);
    serve(ctx, 0);
}

static void on_poll_timer(void *ctx)
{
    struct idem *o = ctx;
    serve(o, 0);
    pe_loop_timer(o->loop, POLL_MS, on_poll_timer, o, &o->poll_timer);
}

/* ---- the backend ---- */

static int idem_create(struct pe_loop *loop, const struct output_opts *opts, void **impl,
                       char *err, size_t errlen)
{
    int rc, fds[2];
    struct idem *o = calloc(1, sizeof *o);
    if (!o)
        return PE_ENOMEM;
    o->loop = loop;
    o->max_inflight = opts->max_inflight > 0 ? opts->max_inflight : DEFAULT_MAX_INFLIGHT;
    o->on_delivered = opts->on_delivered;
    o->on_reset = opts->on_reset;
    o->ctx = opts->ctx;
    o->brokers = strdup(opts->brokers);
    if (opts->security)
        o->sec = *opts->security;
    /* A copy, since a reset recreates the producer long after the caller's config is gone. */
    o->props = opts->properties ? cJSON_Duplicate(opts->properties, 1) : NULL;
    if (!o->brokers || (opts->properties && !o->props)) {
        rc = PE_ENOMEM;
        goto free_output;
    }
    /* librdkafka's threads must never block on a full pipe. */
    if ((rc = kc_pipe(fds, err, errlen)))
        goto free_output;
    o->pipe_rd = fds[0];
    o->pipe_wr = fds[1];
    if ((rc = start(o, err, errlen)))
        goto close_pipe;
    if ((rc = pe_loop_add_fd(loop, o->pipe_rd, POLLIN, on_readable, o))) {
        snprintf(err, errlen, "kafka: cannot watch the delivery pipe: %s", pe_strerror(rc));
        goto stop_producer;
    }
    if ((rc = pe_loop_timer(loop, POLL_MS, on_poll_timer, o, &o->poll_timer))) {
        snprintf(err, errlen, "kafka: %s", pe_strerror(rc));
        goto unwatch;
    }
    pe_info("output.start", "brokers=%s max_inflight=%d", o->brokers, o->max_inflight);
    *impl = o;
    return PE_OK;

unwatch:
    pe_loop_del_fd(loop, o->pipe_rd);
stop_producer:
    stop(o);
close_pipe:
    close(fds[0]);
    close(fds[1]);
free_output:
    cJSON_Delete(o->props);
    free(o->brokers);
    free(o);
    return rc;
}

/* Hand one record to librdkafka with slot sl (its report goes to sl->head). On a refusal
 * the caller gives the slot back. */
static int produce(struct idem *o, struct slot *sl, const struct output_rec *r)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new((size_t)r->nh);
    if (!hdrs)
        return PE_ENOMEM;
    for (int i = 0; i < r->nh; i++)
        rd_kafka_header_add(hdrs, r->h[i].name, -1, r->h[i].value, -1);
    const char *topic = r->topic;
    size_t len = r->len;
    kc_topic(o->rk, &o->topics, topic);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        o->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(r->key, r->key ? r->keylen : 0), RD_KAFKA_V_VALUE((void *)r->val, r->len),
        RD_KAFKA_V_TIMESTAMP(r->ts_ms > 0 ? r->ts_ms : 0), RD_KAFKA_V_HEADERS(hdrs),
        RD_KAFKA_V_OPAQUE(sl), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
        return PE_OK; /* hdrs now belong to the message */
    rd_kafka_headers_destroy(hdrs);
    /* librdkafka's error enumeration has some 200 values; the few named here need an action of
     * their own and the rest are alike, so the switch is over the value, not the enumeration
     * (-Wswitch-enum is for the project's own enumerations). */
    switch ((int)e) {
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
        return PE_EAGAIN;
    case RD_KAFKA_RESP_ERR__FATAL:
        plan_reset(o);
        return PE_EAGAIN;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        pe_warn("output.refused", "topic=%s bytes=%zu err=%s", topic, len, rd_kafka_err2name(e));
        return PE_EINVAL;
    default:
        pe_error("output.produce_failed", "topic=%s err=%s", topic, rd_kafka_err2name(e));
        return PE_EIO;
    }
}

static int idem_produce_event(void *impl, const struct output_ref *ref, const char *hash,
                              const struct output_rec *recs, int n)
{
    struct idem *o = impl;
    (void)hash;
    if (n == 0) {
        /* Nothing to wait for: delivered as soon as the ones before it are. */
        if (o->on_delivered)
            o->on_delivered(o->ctx, ref, 0);
        return PE_OK;
    }
    if (!o->rk || o->fatal || o->inflight + n > o->max_inflight ||
        (o->hold_until && pe_mono_ms() < o->hold_until))
        return PE_EAGAIN;
    struct slot *h = slot_take(o);
    if (!h)
        return PE_ENOMEM;
    h->ref = *ref;
    h->ref.store[sizeof h->ref.store - 1] = '\0';
    h->ref.terminal[sizeof h->ref.terminal - 1] = '\0';
    h->head = h;
    h->left = n;
    h->err = 0;
    h->abandoned = false;
    for (int i = 0; i < n; i++) {
        struct slot *sl = i == 0 ? h : slot_take(o);
        int rc = sl ? PE_OK : PE_ENOMEM;
        if (sl) {
            sl->head = h;
            rc = produce(o, sl, &recs[i]);
            if (rc && sl != h)
                slot_give(o, sl);
        }
        if (rc == PE_OK)
            continue;
        if (i == 0) {
            slot_give(o, h);
            return rc;
        }
        /* Records 0..i-1 are in librdkafka: their reports still come and free the head, but
         * report nothing; the caller produces the whole event again. */
        h->left -= n - i;
        h->abandoned = true;
        return rc;
    }
    return PE_OK;
}

static int idem_produce_dlq(void *impl, const char *topic, const void *payload, size_t len,
                            const char *reason, const char *source_topic)
{
    struct idem *o = impl;
    if (!o->rk || o->fatal || o->inflight >= o->max_inflight ||
        (o->hold_until && pe_mono_ms() < o->hold_until))
        return PE_EAGAIN;
    char orig[24];
    len = kc_dlq_cut(len, o->max_msg, reason, source_topic, orig);
    struct output_rec r = {
        .topic = topic,
        .val = payload,
        .len = len,
        .nh = orig[0] ? 3 : 2,
        .h = {{"reason", reason}, {"topic", source_topic}, {"truncated", orig}},
    };
    struct slot *sl = slot_take(o);
    if (!sl)
        return PE_ENOMEM;
    sl->ref = (struct output_ref){.seq = 0};
    sl->head = sl;
    sl->left = 1;
    sl->err = 0;
    sl->abandoned = false;
    int rc = produce(o, sl, &r);
    if (rc)
        slot_give(o, sl);
    return rc;
}

static void idem_kafka_state(void *impl, struct output_kafka *out)
{
    const struct idem *o = impl;
    *out = o->kafka;
    kc_auth_get(&o->auth, out);
}

static int idem_inflight(const void *impl)
{
    const struct idem *o = impl;
    return o->inflight;
}

static int idem_flush(void *impl, int timeout_ms)
{
    struct idem *o = impl;
    int64_t deadline = pe_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        if (o->inflight == 0)
            return PE_OK;
        int64_t left = deadline - pe_mono_ms();
        if (left <= 0 || o->serving)
            return PE_EAGAIN;
        if (!o->rk)
            return PE_EAGAIN; /* (cannot happen: a reset leaves nothing in flight) */
        /* rd_kafka_flush also sends lingering batches at once and serves reports. */
        serve(o, left < POLL_MS ? (int)left : POLL_MS);
    }
}

static int idem_reload(void *impl, char *err, size_t errlen)
{
    struct idem *o = impl;
    rd_kafka_t *rk = NULL;
    int rc = make(o, &rk, err, errlen);
    if (rc)
        return rc; /* the current producer stays */
    /* A working producer delivers what it can first: what it still holds is produced again
     * (at least once), so the less the better. */
    if (o->rk && o->inflight > 0 && o->kafka.connected && o->auth.status == OUTPUT_AUTH_OK)
        serve(o, RELOAD_FLUSH_MS);
    int dropped = o->inflight;
    if (o->reset_timer) {
        pe_loop_timer_cancel(o->loop, o->reset_timer);
        o->reset_timer = 0;
    }
    stop(o);
    kc_drain_pipe(o->pipe_rd);
    slots_release_all(o);
    o->hold_until = 0;
    if ((rc = attach(o, rk))) {
        snprintf(err, errlen, "kafka: %s", pe_strerror(rc));
        pe_loop_timer(o->loop, RETRY_MS, reset_cb, o, &o->reset_timer);
    } else {
        pe_info("output.reloaded", "dropped_inflight=%d (producing them again)", dropped);
    }
    if (o->on_reset)
        o->on_reset(o->ctx);
    return rc;
}

static void idem_destroy(void *impl)
{
    struct idem *o = impl;
    if (o->inflight > 0)
        pe_warn("output.destroy", "inflight=%d (not reported delivered: the spool keeps them)",
                o->inflight);
    if (o->poll_timer)
        pe_loop_timer_cancel(o->loop, o->poll_timer);
    if (o->reset_timer)
        pe_loop_timer_cancel(o->loop, o->reset_timer);
    pe_loop_del_fd(o->loop, o->pipe_rd);
    stop(o);
    close(o->pipe_rd);
    close(o->pipe_wr);
    while (o->slabs) {
        struct slab *s = o->slabs;
        o->slabs = s->next;
        free(s);
    }
    cJSON_Delete(o->props);
    free(o->brokers);
    free(o);
}

const struct output_backend output_idempotent = {
    .mode = OUTPUT_IDEMPOTENT,
    .create = idem_create,
    .produce_event = idem_produce_event,
    .produce_dlq = idem_produce_dlq,
    .kafka_state = idem_kafka_state,
    .inflight = idem_inflight,
    .flush = idem_flush,
    .reload = idem_reload,
    .destroy = idem_destroy,
};
