/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_roundtrip.c - the limit the catalog's publish-to-applied time is measured against: one
 * record from HQ to a reader through Kafka, and one message through the store's MQTT broker,
 * each alone, on the same broker and machine in the same run.
 *
 *   bench_roundtrip BROKERS MQTT_HOST MQTT_PORT N
 *
 * Kafka: a producer with posedge-ctl catalog publish's properties (pe_kafka_conf_new, role
 * producer-transactional) and a reader with the bridge's catalog reader's (role reader-catalog:
 * read_committed) assigned to partition 0 of bench.roundtrip (made on the first produce). Each
 * round produces one record in a transaction of its own and commits it, as a publish does; its
 * time runs from the produce call (where a record's CreateTime is taken) until the reader has
 * the record. MQTT: one MQTT v5 client subscribed with QoS 1 to a topic of its own publishes
 * QoS 1 to it; a round runs from the publish call until the message is back. Three rounds of
 * each warm up first and are not counted; then N of each.
 *
 * Prints "kafka_p50_ms=A kafka_p99_ms=B mqtt_p50_ms=C mqtt_p99_ms=D rounds=N" (nearest-rank
 * percentiles). Exit 1 when a client cannot be made or a round takes longer than ROUND_MS.
 */
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posedge/clock.h"
#include "posedge/kafka_conf.h"

#define TOPIC "bench.roundtrip"
#define WARM 3
#define ROUND_MS 60000

static char nonce[64];

static void die(const char *what, const char *why)
{
    fprintf(stderr, "bench_roundtrip: %s: %s\n", what, why);
    exit(1);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The nearest-rank percentile q (0..1) of the n values in v (sorted here). */
static double pct(double *v, int n, double q)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    int k = (int)ceil(q * n) - 1;
    return v[k < 0 ? 0 : k];
}

/* ---- Kafka ---- */

static rd_kafka_t *kafka_client(enum pe_kafka_role role, const char *brokers)
{
    char err[512];
    struct pe_kafka_site site = {.brokers = brokers,
                                 .transactional_id = "posedge-bench-roundtrip",
                                 .group_id = "posedge-bench-roundtrip"};
    rd_kafka_conf_t *conf = NULL;
    if (pe_kafka_conf_new(role, &site, &conf, err, sizeof err))
        die("kafka configuration", err);
    rd_kafka_t *rk = rd_kafka_new(role == PE_KAFKA_READER_CATALOG ? RD_KAFKA_CONSUMER
                                                                   : RD_KAFKA_PRODUCER,
                                  conf, err, sizeof err);
    if (!rk)
        die("kafka client", err);
    return rk;
}

static void txn(const char *what, rd_kafka_error_t *e)
{
    if (e)
        die(what, rd_kafka_error_string(e));
}

/* Produce value in a transaction of its own and commit it. */
static void produce(rd_kafka_t *p, const char *value)
{
    txn("begin", rd_kafka_begin_transaction(p));
    rd_kafka_resp_err_t e = rd_kafka_producev(
        p, RD_KAFKA_V_TOPIC(TOPIC), RD_KAFKA_V_PARTITION(0),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(nonce, strlen(nonce)),
        RD_KAFKA_V_VALUE((void *)value, strlen(value)), RD_KAFKA_V_END);
    if (e)
        die("produce", rd_kafka_err2str(e));
    txn("commit", rd_kafka_commit_transaction(p, ROUND_MS));
}

/* Read until the record whose value is value. */
static void consume(rd_kafka_t *c, const char *value)
{
    int64_t until = pe_mono_ms() + ROUND_MS;
    size_t len = strlen(value);
    while (pe_mono_ms() < until) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
        if (!m)
            continue;
        bool hit = !m->err && m->len == len && memcmp(m->payload, value, len) == 0;
        rd_kafka_message_destroy(m);
        if (hit)
            return;
    }
    die("consume", "the record did not come back in time");
}

static void kafka_rounds(const char *brokers, int n, double *ms)
{
    char value[128];
    rd_kafka_t *p = kafka_client(PE_KAFKA_PRODUCER_TRANSACTIONAL, brokers);
    txn("init_transactions", rd_kafka_init_transactions(p, ROUND_MS));
    snprintf(value, sizeof value, "%s-made", nonce);
    produce(p, value); /* makes the topic: the reader may not */
    rd_kafka_t *c = kafka_client(PE_KAFKA_READER_CATALOG, brokers);
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(tp, TOPIC, 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_resp_err_t e = rd_kafka_assign(c, tp);
    rd_kafka_topic_partition_list_destroy(tp);
    if (e)
        die("assign", rd_kafka_err2str(e));
    consume(c, value);
    for (int i = -WARM; i < n; i++) {
        snprintf(value, sizeof value, "%s-%d", nonce, i);
        int64_t t0 = pe_mono_us();
        produce(p, value);
        consume(c, value);
        if (i >= 0)
            ms[i] = (double)(pe_mono_us() - t0) / 1000.0;
    }
    rd_kafka_destroy_flags(c, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    rd_kafka_destroy(p);
}

/* ---- MQTT ---- */

static struct {
    bool connected, subscribed, back;
    const char *want;
} mq;

static void on_connect(struct mosquitto *m, void *ctx, int rc)
{
    (void)m, (void)ctx;
    if (rc)
        die("mqtt connect", mosquitto_connack_string(rc));
    mq.connected = true;
}

static void on_subscribe(struct mosquitto *m, void *ctx, int mid, int n, const int *granted)
{
    (void)m, (void)ctx, (void)mid;
    if (n < 1 || granted[0] > 2)
        die("mqtt subscribe", "refused");
    mq.subscribed = true;
}

static void on_message(struct mosquitto *m, void *ctx, const struct mosquitto_message *msg)
{
    (void)m, (void)ctx;
    if (mq.want && (size_t)msg->payloadlen == strlen(mq.want) &&
        memcmp(msg->payload, mq.want, strlen(mq.want)) == 0)
        mq.back = true;
}

/* Run the client's loop until *flag or the round's deadline. */
static void until(struct mosquitto *m, const bool *flag, const char *what)
{
    int64_t end = pe_mono_ms() + ROUND_MS;
    while (!*flag) {
        int rc = mosquitto_loop(m, 10, 1);
        if (rc != MOSQ_ERR_SUCCESS)
            die(what, mosquitto_strerror(rc));
        if (pe_mono_ms() > end)
            die(what, "timed out");
    }
}

static void mqtt_rounds(const char *host, int port, int n, double *ms)
{
    char topic[128], value[128];
    mosquitto_lib_init();
    struct mosquitto *m = mosquitto_new(nonce, true, NULL);
    /* The socket options of posedge's own clients (common/mqtt.c): MQTT v5, no Nagle. */
    if (!m || mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5) ||
        mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1))
        die("mqtt client", "cannot make one");
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    mosquitto_message_callback_set(m, on_message);
    if (mosquitto_connect(m, host, port, 30) != MOSQ_ERR_SUCCESS)
        die("mqtt connect", host);
    until(m, &mq.connected, "mqtt connect");
    snprintf(topic, sizeof topic, "bench/roundtrip/%s", nonce);
    mosquitto_subscribe(m, NULL, topic, 1);
    until(m, &mq.subscribed, "mqtt subscribe");
    for (int i = -WARM; i < n; i++) {
        snprintf(value, sizeof value, "%s-%d", nonce, i);
        mq.want = value;
        mq.back = false;
        int64_t t0 = pe_mono_us();
        if (mosquitto_publish(m, NULL, topic, (int)strlen(value), value, 1, false))
            die("mqtt publish", topic);
        until(m, &mq.back, "mqtt round");
        if (i >= 0)
            ms[i] = (double)(pe_mono_us() - t0) / 1000.0;
    }
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
}

int main(int argc, char **argv)
{
    if (argc != 5 || atoi(argv[3]) < 1 || atoi(argv[4]) < 1) {
        fprintf(stderr, "usage: bench_roundtrip BROKERS MQTT_HOST MQTT_PORT N\n");
        return 2;
    }
    int n = atoi(argv[4]);
    snprintf(nonce, sizeof nonce, "posedge-bench-rt-%ld-%lld", (long)getpid(),
             (long long)pe_time_now_ms());
    double *k = calloc((size_t)n, sizeof *k), *q = calloc((size_t)n, sizeof *q);
    if (!k || !q)
        die("memory", "out of it");
    kafka_rounds(argv[1], n, k);
    mqtt_rounds(argv[2], atoi(argv[3]), n, q);
    printf("kafka_p50_ms=%.3f kafka_p99_ms=%.3f mqtt_p50_ms=%.3f mqtt_p99_ms=%.3f rounds=%d\n",
           pct(k, n, 0.50), pct(k, n, 0.99), pct(q, n, 0.50), pct(q, n, 0.99), n);
    free(k);
    free(q);
    return 0;
}
