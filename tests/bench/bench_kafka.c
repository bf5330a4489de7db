/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_kafka.c - the limit the bridge's drain is measured against: raw librdkafka produce
 * throughput of the same messages to the same cluster.
 *
 * One producer with the properties of bridge/output.c (acks=all, idempotence, lz4,
 * message.timeout.ms=0, murmur2_random) plus those of boards/sim/bridge.json (linger.ms=5,
 * batch.num.messages=10000), and at most INFLIGHT messages produced and not yet reported, the
 * bridge's default kafka.max_inflight. The messages are the records of a spool filled by
 * bench_spool, read into memory before the clock starts (up to POOL of them, reused in turn
 * with the seq header advanced), each with the bridge's key "<store>/<terminal>", timestamp
 * and headers id, type, store, terminal, seq, to the topic of its type. Every topic's
 * partitions are known before the clock starts too. The rate is N over the time from the
 * first produce until the last delivery report; a failed report is an error.
 * PROPERTIES, when given, is a file of librdkafka "key=value" lines applied last: the security
 * of a SASL_SSL broker (it holds a password: mode 0600; the line buffer is wiped after use).
 * BENCH_KAFKA_TXN=K makes the producer transactional (transactional.id bench-kafka-<pid>): a
 * transaction every K messages, each committed before the next begins, as one transactional
 * producer must. That is librdkafka's own limit for the bridge's exactly-once drain, with no
 * spool, no profile and no second thread; it prints raw_txn_produce_per_s.
 *
 * usage: bench_kafka BROKERS SPOOL_DB N [PROPERTIES]   prints "raw_produce_per_s=R messages=N"
 */
#include <librdkafka/rdkafka.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posedge/clock.h"

#define POOL 20000
#define INFLIGHT 10000

struct msg {
    char store[33], terminal[33], id[40], type[24];
    long long seq, ts_ms;
    char *rec;
    int len;
};

static long inflight, failed;

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk, (void)opaque;
    inflight--;
    if (m->err && failed++ == 0)
        fprintf(stderr, "bench_kafka: delivery failed: %s\n", rd_kafka_err2str(m->err));
}

static const char *topic_of(const char *type)
{
    if (strncmp(type, "inventory_", 10) == 0)
        return "pos.inventory";
    if (!strcmp(type, "sale") || !strcmp(type, "return") || !strcmp(type, "void") ||
        !strcmp(type, "no_sale"))
        return "pos.sales";
    return "pos.reports";
}

/* Apply the key=value lines of the file at path to conf. */
static int properties(rd_kafka_conf_t *conf, const char *path, char *why, size_t whylen)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int rc = 0;
    if (!f) {
        snprintf(why, whylen, "%s: cannot read", path);
        return -1;
    }
    while (!rc && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        char *eq = strchr(line, '=');
        if (line[0] == '#' || !eq)
            continue;
        *eq = '\0';
        if (rd_kafka_conf_set(conf, line, eq + 1, why, whylen) != RD_KAFKA_CONF_OK)
            rc = -1;
    }
    explicit_bzero(line, sizeof line);
    fclose(f);
    return rc;
}

static int load(const char *path, struct msg *pool, int *n)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT store, terminal, seq, id, type, ts_ms, record FROM records "
                           "ORDER BY seq, terminal LIMIT ?1",
                           -1, &q, NULL) != SQLITE_OK) {
        fprintf(stderr, "bench_kafka: %s: %s\n", path, sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_int(q, 1, POOL);
    *n = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        struct msg *m = &pool[(*n)++];
        snprintf(m->store, sizeof m->store, "%s", sqlite3_column_text(q, 0));
        snprintf(m->terminal, sizeof m->terminal, "%s", sqlite3_column_text(q, 1));
        m->seq = sqlite3_column_int64(q, 2);
        snprintf(m->id, sizeof m->id, "%s", sqlite3_column_text(q, 3));
        snprintf(m->type, sizeof m->type, "%s", sqlite3_column_text(q, 4));
        m->ts_ms = sqlite3_column_int64(q, 5);
        m->len = sqlite3_column_bytes(q, 6);
        m->rec = malloc((size_t)m->len);
        if (!m->rec)
            return -1;
        memcpy(m->rec, sqlite3_column_blob(q, 6), (size_t)m->len);
    }
    sqlite3_finalize(q);
    sqlite3_close(db);
    return *n > 0 ? 0 : -1;
}

/* Ask for rkt's metadata until its partitions are known (a topic the request makes exists
 * only at a later one), for up to 30 s. */
static bool topic_known(rd_kafka_t *rk, rd_kafka_topic_t *rkt)
{
    int64_t until = pe_mono_us() + 30000000;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        bool known = rd_kafka_metadata(rk, 0, rkt, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
                     md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                     md->topics[0].partition_cnt > 0;
        if (md)
            rd_kafka_metadata_destroy(md);
        if (known || pe_mono_us() > until)
            return known;
        usleep(50000);
    }
}

/* A transactional call's error, said and freed; 0 when it succeeded. */
static int txn_call(const char *what, rd_kafka_error_t *e)
{
    if (!e)
        return 0;
    fprintf(stderr, "bench_kafka: %s transaction: %s\n", what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_kafka BROKERS SPOOL_DB N [PROPERTIES]\n");
        return 2;
    }
    long n = atol(argv[3]);
    static struct msg pool[POOL];
    int npool;
    if (n < 1 || load(argv[2], pool, &npool))
        return 1;
    long long maxseq = 0;
    for (int i = 0; i < npool; i++)
        maxseq = pool[i].seq > maxseq ? pool[i].seq : maxseq;

    static const char *const props[][2] = {
        {"acks", "all"},
        {"enable.idempotence", "true"},
        {"compression.type", "lz4"},
        {"message.timeout.ms", "0"},
        {"queue.buffering.max.messages", "10000000"},
        {"partitioner", "murmur2_random"},
        {"linger.ms", "5"},
        {"batch.num.messages", "10000"},
    };
    char why[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], why, sizeof why))
        goto bad_conf;
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++)
        if (rd_kafka_conf_set(conf, props[i][0], props[i][1], why, sizeof why))
            goto bad_conf;
    if (argc > 4 && properties(conf, argv[4], why, sizeof why))
        goto bad_conf;
    long txn = getenv("BENCH_KAFKA_TXN") ? atol(getenv("BENCH_KAFKA_TXN")) : 0;
    char tid[64];
    snprintf(tid, sizeof tid, "bench-kafka-%ld", (long)getpid());
    if (txn > 0 && rd_kafka_conf_set(conf, "transactional.id", tid, why, sizeof why))
        goto bad_conf;
    rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!rk)
        goto bad_conf;

    if (txn > 0 && txn_call("init", rd_kafka_init_transactions(rk, 60000)))
        return 1;
    /* The limit is librdkafka's throughput, not its start: every topic's partitions are known
     * before the clock starts (produced to by name alone, a new topic waits for librdkafka's
     * 1 s scan of unknown topics). Handles are kept until the end. */
    static const char *const topics[] = {"pos.sales", "pos.inventory", "pos.reports"};
    rd_kafka_topic_t *rkts[3];
    for (int i = 0; i < 3; i++) {
        rkts[i] = rd_kafka_topic_new(rk, topics[i], NULL);
        if (!rkts[i] || !topic_known(rk, rkts[i])) {
            fprintf(stderr, "bench_kafka: %s: its partitions did not become known\n", topics[i]);
            return 1;
        }
    }
    int64_t t0 = pe_mono_us();
    for (long i = 0; i < n; i++) {
        if (txn > 0 && i % txn == 0 &&
            ((i > 0 && txn_call("commit", rd_kafka_commit_transaction(rk, -1))) ||
             txn_call("begin", rd_kafka_begin_transaction(rk))))
            return 1;
        const struct msg *m = &pool[i % npool];
        char seq[24], key[80];
        snprintf(seq, sizeof seq, "%lld", m->seq + (long long)(i / npool) * maxseq);
        int keylen = snprintf(key, sizeof key, "%s/%s", m->store, m->terminal);
        rd_kafka_headers_t *h = rd_kafka_headers_new(5);
        rd_kafka_header_add(h, "id", -1, m->id, -1);
        rd_kafka_header_add(h, "type", -1, m->type, -1);
        rd_kafka_header_add(h, "store", -1, m->store, -1);
        rd_kafka_header_add(h, "terminal", -1, m->terminal, -1);
        rd_kafka_header_add(h, "seq", -1, seq, -1);
        while (inflight >= INFLIGHT)
            rd_kafka_poll(rk, 10);
        rd_kafka_resp_err_t e = rd_kafka_producev(
            rk, RD_KAFKA_V_TOPIC(topic_of(m->type)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(key, (size_t)keylen), RD_KAFKA_V_VALUE(m->rec, (size_t)m->len),
            RD_KAFKA_V_TIMESTAMP(m->ts_ms), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (e) {
            fprintf(stderr, "bench_kafka: produce: %s\n", rd_kafka_err2str(e));
            return 1;
        }
        inflight++;
        if (i % 1000 == 0)
            rd_kafka_poll(rk, 0);
    }
    if (txn > 0 && txn_call("commit", rd_kafka_commit_transaction(rk, -1)))
        return 1;
    while (inflight > 0)
        rd_kafka_poll(rk, 100);
    double s = (double)(pe_mono_us() - t0) / 1e6;
    for (int i = 0; i < 3; i++)
        rd_kafka_topic_destroy(rkts[i]);
    rd_kafka_destroy(rk);
    if (failed) {
        fprintf(stderr, "bench_kafka: %ld delivery reports failed\n", failed);
        return 1;
    }
    printf("%s=%.0f messages=%ld\n", txn > 0 ? "raw_txn_produce_per_s" : "raw_produce_per_s",
           (double)n / s, n);
    return 0;

bad_conf:
    fprintf(stderr, "bench_kafka: %s\n", why);
    return 1;
}
