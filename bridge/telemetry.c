/* SPDX-License-Identifier: Apache-2.0 */
/*
 * telemetry.c - the best-effort producer of state documents (see telemetry.h).
 *
 * Why a producer of its own rather than the event producer, in both modes:
 *  - transactional mode: a record in a Kafka transaction that Kafka refuses (the telemetry
 *    topic missing where topics are not created automatically, denied by an ACL, over its
 *    max.message.bytes) fails the whole transaction, and every retry of it, so one bad
 *    telemetry record would stop the exactly-once path; an aborted transaction would also
 *    need the telemetry it held kept for producing again, and telemetry is never spooled.
 *    Records of a plain producer are visible to read_committed consumers at once, and a state
 *    document needs no atomicity with anything.
 *  - idempotent mode: the event producer never lets a record expire (message.timeout.ms=0)
 *    and counts every record against kafka.max_inflight; telemetry must expire and must not
 *    take room from events. A fatal idempotence error on a telemetry partition would also
 *    reset the event producer and make it produce everything in flight again.
 * The price is one more librdkafka instance (a few threads, a connection per broker it needs).
 *
 * librdkafka's logs and errors of this producer are demoted to debug: the event producer
 * already reports the same outages, and telemetry failures are counted instead.
 */
#include "bridge/telemetry.h"

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/kafka_conf.h"
#include "posedge/log.h"

#define POLL_MS 200 /* serving interval while records are in flight */

struct telemetry {
    struct pe_loop *loop;     /* borrowed */
    rd_kafka_t *rk;           /* the plain producer */
    int64_t poll_timer;       /* pending serving timer, 0 when none */
    struct telemetry_stats s; /* counters */
    bool failing;             /* the last report was a failure (logged once per streak) */
};

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    char q[512];
    (void)rk;
    (void)level;
    pe_debug("telemetry.librdkafka", "fac=%s msg=\"%s\"", fac, pe_log_quote(buf, q, sizeof q));
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    char q[512];
    (void)rk;
    (void)opaque;
    pe_debug("telemetry.kafka_error", "err=%s reason=\"%s\"",
             rd_kafka_err2name((rd_kafka_resp_err_t)err), pe_log_quote(reason, q, sizeof q));
}

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct telemetry *t = opaque;
    (void)rk;
    if (!m->err) {
        t->s.delivered++;
        t->failing = false;
        return;
    }
    t->s.dropped++;
    if (!t->failing)
        pe_info("telemetry.dropped", "topic=%s err=%s (best effort: not produced again)",
                rd_kafka_topic_name(m->rkt), rd_kafka_err2name(m->err));
    t->failing = true;
}

static void serve(void *ctx)
{
    struct telemetry *t = ctx;
    t->poll_timer = 0;
    rd_kafka_poll(t->rk, 0);
    if (rd_kafka_outq_len(t->rk) > 0 &&
        pe_loop_timer(t->loop, POLL_MS, serve, t, &t->poll_timer) != PE_OK)
        t->poll_timer = 0; /* the next produce arms it again */
}

/* A new producer for t from the settings and the files as they are now. */
static int make(struct telemetry *t, const char *brokers, const cJSON *properties,
                const struct pe_kafka_security *security, rd_kafka_t **out, char *err,
                size_t errlen)
{
    char why[512];
    rd_kafka_conf_t *conf = NULL;
    /* The event producer has checked the properties already; one it takes and this role
     * cannot is skipped, and so are those that would make it transactional, idempotent or
     * unbounded (kafka_conf.c, role producer-telemetry). */
    struct pe_kafka_site site = {
        .brokers = brokers, .properties = properties, .security = security};
    int rc = pe_kafka_conf_new(PE_KAFKA_PRODUCER_TELEMETRY, &site, &conf, err, errlen);
    if (rc)
        return rc;
    rd_kafka_conf_set_opaque(conf, t);
    rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);
    *out = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!*out) {
        snprintf(err, errlen, "telemetry producer: %s", why);
        rd_kafka_conf_destroy(conf);
        return PE_EINVAL;
    }
    return PE_OK;
}

int telemetry_create(struct pe_loop *loop, const char *brokers, const cJSON *properties,
                     const struct pe_kafka_security *security, struct telemetry **out, char *err,
                     size_t errlen)
{
    struct telemetry *t = calloc(1, sizeof *t);
    if (!t)
        return PE_ENOMEM;
    t->loop = loop;
    int rc = make(t, brokers, properties, security, &t->rk, err, errlen);
    if (rc) {
        free(t);
        return rc;
    }
    *out = t;
    return PE_OK;
}

/* Destroy a producer without waiting: what it holds is dropped, and counted. */
static void drop(rd_kafka_t *rk)
{
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                           RD_KAFKA_PURGE_F_NON_BLOCKING);
    rd_kafka_poll(rk, 0); /* the purged records' reports: dropped */
    rd_kafka_destroy(rk);
}

int telemetry_reload(struct telemetry *t, const char *brokers, const cJSON *properties,
                     const struct pe_kafka_security *security, char *err, size_t errlen)
{
    rd_kafka_t *rk = NULL;
    if (!t)
        return PE_EINVAL;
    int rc = make(t, brokers, properties, security, &rk, err, errlen);
    if (rc)
        return rc;
    drop(t->rk);
    t->rk = rk;
    return PE_OK;
}

int telemetry_produce(struct telemetry *t, const char *topic, const char *key, const void *val,
                      size_t len, int64_t ts_ms, const char *type)
{
    if (!key || !type) {
        if (t)
            t->s.dropped++;
        return PE_EINVAL;
    }
    return telemetry_produce_keyed(t, topic, key, strlen(key), val, len, ts_ms, "type", type);
}

int telemetry_produce_keyed(struct telemetry *t, const char *topic, const void *key,
                            size_t keylen, const void *val, size_t len, int64_t ts_ms,
                            const char *hname, const char *hval)
{
    if (!t || !topic || !*topic || (!key && keylen) || (!val && len) || !hname || !hval) {
        if (t)
            t->s.dropped++;
        return PE_EINVAL;
    }
    rd_kafka_headers_t *h = rd_kafka_headers_new(1);
    if (!h) {
        t->s.dropped++;
        return PE_ENOMEM;
    }
    rd_kafka_header_add(h, hname, -1, hval, -1);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        t->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key, keylen), RD_KAFKA_V_VALUE((void *)val, len),
        RD_KAFKA_V_TIMESTAMP(ts_ms > 0 ? ts_ms : 0), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(h);
        t->s.dropped++;
        pe_debug("telemetry.refused", "topic=%s bytes=%zu err=%s", topic, len,
                 rd_kafka_err2name(e));
        return e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? PE_EAGAIN
               : e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE || e == RD_KAFKA_RESP_ERR__INVALID_ARG
                   ? PE_EINVAL
                   : PE_EIO;
    }
    t->s.produced++;
    if (!t->poll_timer && pe_loop_timer(t->loop, POLL_MS, serve, t, &t->poll_timer) != PE_OK)
        t->poll_timer = 0;
    return PE_OK;
}

void telemetry_stats(const struct telemetry *t, struct telemetry_stats *out)
{
    *out = t ? t->s : (struct telemetry_stats){0};
}

void telemetry_destroy(struct telemetry *t, int timeout_ms)
{
    if (!t)
        return;
    if (t->poll_timer)
        pe_loop_timer_cancel(t->loop, t->poll_timer);
    if (timeout_ms > 0)
        rd_kafka_flush(t->rk, timeout_ms); /* serves the reports too */
    drop(t->rk);
    pe_info("telemetry.stop", "produced=%lld delivered=%lld dropped=%lld", (long long)t->s.produced,
            (long long)t->s.delivered, (long long)t->s.dropped);
    free(t);
}
