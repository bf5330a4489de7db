/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_output_txn.c - the bridge's transactional Kafka output (output.h with a
 * transactional_id, bridge/output_txn.c) against librdkafka's in-process mock cluster.
 *
 * Every test starts its own mock cluster, creates the output and runs a pe_loop until the
 * reports it waits for have arrived (a condition with a deadline, never a sleep). The sink
 * below plays the bridge: it keeps each terminal's committed watermark from on_recovered and
 * on_committed, and on on_reset produces again from there. What a downstream job would see is
 * then read back with a read_committed consumer: every (terminal, seq) exactly once, in order,
 * and the state topic's latest record for the bridge's key holding the last seq and hash.
 *
 * Covered: records are refused until the producer has recovered, then committed and reported
 * per terminal; a later output with the same transactional_id and key recovers the committed
 * watermarks (and one with another key recovers nothing); a transaction made to fail
 * (AddPartitionsToTxn refused) is aborted and reported as a reset, and producing again gives
 * each record and the dead letter of the failed transaction exactly once; a commit that meets
 * retriable coordinator errors is retried without a reset; a fatal commit error makes a new
 * producer that fences, recovers and resets; bad hashes and incomplete options are refused.
 * Refusals: a transactional id without an ACL is said (kafka.auth) and recovery is tried again
 * until it is granted; a topic refused aborts, pauses, and produces again, each record once; a
 * reload (SIGHUP) fences with a new producer and resumes from the committed watermarks.
 *
 * librdkafka 2.0.2's mock cluster does not implement read_committed isolation: it writes no
 * transaction markers and a fetch sees aborted and open transactions' records too. Faults are
 * therefore injected where the failed transaction's records never reach the log (its first
 * AddPartitionsToTxn request), so that a record seen twice really was produced twice.
 */
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/output.h"
#include "posedge/clock.h"
#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/log.h"
#include "posedge/loop.h"
#include "tests/unit/harness.h"
#include "tests/unit/kafka_mock.h"

/* Kafka protocol API keys (rdkafka_protocol.h is not installed). */
#define API_PRODUCE 0
#define API_INIT_PRODUCER_ID 22
#define API_ADD_PARTITIONS_TO_TXN 24
#define API_END_TXN 26

#define MAXT 4      /* terminals per test */
#define MAXREC 2048 /* records read back per topic */
#define MAXSEQ 512  /* highest seq a test produces */
#define TS0 1795000000000LL
#define TID "bridge-test"
#define STATE_TOPIC "posedge.state"
#define WAIT_MS 60000

/* ---- the mock cluster ---- */

/* ---- what the output reports: the sink plays the bridge ---- */

struct sink {
    int resets;                            /* on_reset calls */
    int recovered;                         /* on_recovered calls */
    int recovered_at_reset;                /* on_recovered calls seen by the last on_reset */
    int commits;                           /* on_committed calls */
    bool backwards;                        /* on_committed did not move a watermark forward */
    bool beyond;                           /* on_committed named a seq never produced */
    int64_t committed[MAXT];               /* the terminal's committed watermark */
    int64_t committed_at_reset[MAXT];      /* committed as the last on_reset saw it */
    int64_t produced[MAXT];                /* last produced seq (the test's "spool" position) */
    int64_t rec_seq[MAXT];                 /* last on_recovered seq, -1 when none */
    char rec_hash[MAXT][PE_SHA256_HEXLEN]; /* last on_recovered hash */
};

static int term_index(const char *terminal)
{
    int t = atoi(terminal + 1);
    if (terminal[0] != 't' || t < 0 || t >= MAXT)
        pe_test_fail(__FILE__, __LINE__, "unexpected terminal %s", terminal);
    return t;
}

static void sink_init(struct sink *s)
{
    memset(s, 0, sizeof *s);
    for (int t = 0; t < MAXT; t++)
        s->rec_seq[t] = -1;
}

static void on_committed(void *ctx, const char *store, const char *terminal, int64_t seq)
{
    struct sink *s = ctx;
    CHECK_STR(store, "s001");
    int t = term_index(terminal);
    if (seq <= s->committed[t])
        s->backwards = true;
    if (seq > s->produced[t])
        s->beyond = true;
    s->committed[t] = seq;
    s->commits++;
}

static void on_recovered(void *ctx, const char *store, const char *terminal, int64_t seq,
                         const char *hash)
{
    struct sink *s = ctx;
    CHECK_STR(store, "s001");
    int t = term_index(terminal);
    CHECK(pe_is_sha256_hex(hash));
    s->rec_seq[t] = seq;
    snprintf(s->rec_hash[t], sizeof s->rec_hash[t], "%s", hash);
    s->committed[t] = seq; /* Kafka's watermark is where the bridge goes on from */
    s->recovered++;
}

/* Like the bridge: produce again from the committed watermark + 1. */
static void on_reset(void *ctx)
{
    struct sink *s = ctx;
    s->resets++;
    s->recovered_at_reset = s->recovered;
    for (int t = 0; t < MAXT; t++) {
        s->committed_at_reset[t] = s->committed[t];
        s->produced[t] = s->committed[t];
    }
}

/* ---- records ---- */

/* A chain hash stand-in: 64 lower-case hex digits, distinct per (terminal, seq). */
static void make_hash(int t, int64_t seq, char out[PE_SHA256_HEXLEN])
{
    snprintf(out, PE_SHA256_HEXLEN, "%016" PRIx64 "%016" PRIx64 "%016" PRIx64 "%016" PRIx64,
             (uint64_t)t, (uint64_t)seq, (uint64_t)0xfeedfacecafebeefULL,
             (uint64_t)seq * 2654435761u + (uint64_t)t);
}

static int produce_one(struct output *o, int t, int64_t seq)
{
    char rec[256], id[64], hash[PE_SHA256_HEXLEN];
    struct output_ref ref = {.seq = seq};
    snprintf(ref.store, sizeof ref.store, "s001");
    snprintf(ref.terminal, sizeof ref.terminal, "t%02d", t);
    snprintf(id, sizeof id, "00000000-0000-4000-8000-%04d%08" PRId64, t, seq);
    make_hash(t, seq, hash);
    size_t len = make_rec(t, seq, rec, sizeof rec);
    return output_produce(o, "pos.sales", &ref, id, "sale", hash, TS0 + seq * 1000 + t, rec, len);
}

/* Produce terminals 0..nt-1 up to seq to[t], interleaved, from each one's produced + 1. */
static void produce_upto(struct output *o, struct sink *s, int nt, const int64_t *to)
{
    for (int64_t seq = 1; seq <= MAXSEQ; seq++)
        for (int t = 0; t < nt; t++)
            if (seq <= to[t] && s->produced[t] == seq - 1) {
                CHECK_OK(produce_one(o, t, seq));
                s->produced[t] = seq;
            }
}

static bool all_committed(const struct sink *s, int nt, const int64_t *to)
{
    for (int t = 0; t < nt; t++)
        if (s->committed[t] < to[t])
            return false;
    return true;
}

/* ---- reading back, read_committed ---- */

struct got {
    int32_t partition;
    int64_t offset;
    char key[80];
    bool has_key;
    char val[1024];
    size_t len;
    int64_t ts;
    char h[7][128]; /* id, type, store, terminal, seq, reason, topic ("": absent) */
};

static const char *const hnames[7] = {"id", "type", "store", "terminal", "seq", "reason", "topic"};

/* Read topic from the beginning to the end of every partition. Returns the records read. */
static int read_topic(const char *brokers, const char *topic, struct got *out, int max)
{
    char why[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    CHECK(rd_kafka_conf_set(conf, "bootstrap.servers", brokers, why, sizeof why) == 0);
    CHECK(rd_kafka_conf_set(conf, "group.id", "test-output-txn", why, sizeof why) == 0);
    CHECK(rd_kafka_conf_set(conf, "enable.auto.commit", "false", why, sizeof why) == 0);
    CHECK(rd_kafka_conf_set(conf, "isolation.level", "read_committed", why, sizeof why) == 0);
    CHECK(rd_kafka_conf_set(conf, "enable.partition.eof", "true", why, sizeof why) == 0);
    CHECK(rd_kafka_conf_set(conf, "fetch.wait.max.ms", "20", why, sizeof why) == 0);
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!rk)
        pe_test_fail(__FILE__, __LINE__, "consumer: %s", why);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    CHECK_INT(rd_kafka_metadata(rk, 0, rkt, &md, 10000), 0);
    CHECK_INT(md->topic_cnt, 1);
    CHECK_INT(md->topics[0].err, 0);
    int np = md->topics[0].partition_cnt;
    CHECK(np > 0);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(np);
    for (int i = 0; i < np; i++)
        rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    CHECK_INT(rd_kafka_assign(rk, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);
    int n = 0, neof = 0;
    int64_t deadline = pe_mono_ms() + WAIT_MS;
    while (neof < np) {
        if (pe_mono_ms() > deadline)
            pe_test_fail(__FILE__, __LINE__, "%s: %d of %d partitions read to their end", topic,
                         neof, np);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            neof++; /* once per partition: nothing is produced while we read */
        } else if (!m->err) {
            if (n == max)
                pe_test_fail(__FILE__, __LINE__, "%s holds more than %d records", topic, max);
            struct got *g = &out[n++];
            memset(g, 0, sizeof *g);
            g->partition = m->partition;
            g->offset = m->offset;
            g->has_key = m->key != NULL;
            if (m->key)
                snprintf(g->key, sizeof g->key, "%.*s", (int)m->key_len, (const char *)m->key);
            memcpy(g->val, m->payload, m->len < sizeof g->val - 1 ? m->len : sizeof g->val - 1);
            g->len = m->len;
            g->ts = rd_kafka_message_timestamp(m, NULL);
            rd_kafka_headers_t *hdrs = NULL;
            if (rd_kafka_message_headers(m, &hdrs) == 0)
                for (int i = 0; i < 7; i++) {
                    const void *v;
                    size_t vlen;
                    if (rd_kafka_header_get_last(hdrs, hnames[i], &v, &vlen) == 0 && v)
                        snprintf(g->h[i], sizeof g->h[i], "%.*s", (int)vlen, (const char *)v);
                }
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return n;
}

/*
 * What a downstream job sees on pos.sales for terminals 0..nt-1: seqs 1..to[t] each exactly
 * once, in seq order within one partition per terminal, with key, bytes, timestamp and headers.
 * With after_abort > 0, a seq above it may appear again (the mock shows an aborted
 * transaction's records, see the top), but only as a run that starts over at or below the
 * seq it repeats, never as a gap: then the count is not checked, the order of first sight is.
 */
static void check_sales_as(const char *brokers, int nt, const int64_t *to, int64_t after_abort)
{
    static struct got g[MAXREC];
    int n = read_topic(brokers, "pos.sales", g, MAXREC);
    int64_t want = 0;
    for (int t = 0; t < nt; t++)
        want += to[t];
    static int seen[MAXT][MAXSEQ + 1];
    memset(seen, 0, sizeof seen);
    int64_t next[MAXT] = {0};
    int32_t part[MAXT];
    for (int t = 0; t < MAXT; t++)
        part[t] = -1;
    for (int i = 0; i < n; i++) {
        int t = term_index(g[i].h[3]);
        int64_t seq = strtoll(g[i].h[4], NULL, 10);
        CHECK(t < nt && seq >= 1 && seq <= to[t]);
        if (++seen[t][seq] > 1 && !(after_abort > 0 && seq > after_abort))
            pe_test_fail(__FILE__, __LINE__, "t%02d seq %" PRId64 " is in Kafka twice", t, seq);
        if (seen[t][seq] == 1) {
            CHECK_INT(seq, next[t] + 1);
            next[t] = seq;
        }
        if (part[t] < 0)
            part[t] = g[i].partition;
        CHECK_INT(g[i].partition, part[t]);
        char rec[256], key[80];
        size_t len = make_rec(t, seq, rec, sizeof rec);
        CHECK_INT(g[i].len, len);
        CHECK(memcmp(g[i].val, rec, len) == 0);
        snprintf(key, sizeof key, "s001/t%02d", t);
        CHECK_STR(g[i].key, key);
        CHECK_INT(g[i].ts, TS0 + seq * 1000 + t);
        CHECK_STR(g[i].h[1], "sale");
        CHECK_STR(g[i].h[2], "s001");
    }
    if (after_abort == 0)
        CHECK_INT(n, want);
    for (int t = 0; t < nt; t++)
        CHECK_INT(next[t], to[t]);
}

static void check_sales(const char *brokers, int nt, const int64_t *to)
{
    check_sales_as(brokers, nt, to, 0);
}

/* The latest state record keyed key: per terminal 0..nt-1, seq to[t] with its hash. */
static void check_state(const char *brokers, const char *key, int nt, const int64_t *to)
{
    static struct got g[MAXREC];
    int n = read_topic(brokers, STATE_TOPIC, g, MAXREC);
    const struct got *last = NULL;
    for (int i = 0; i < n; i++)
        if (strcmp(g[i].key, key) == 0) {
            if (last)
                CHECK_INT(g[i].partition, last->partition);
            last = &g[i];
        }
    CHECK(last != NULL);
    cJSON *doc = cJSON_ParseWithLength(last->val, last->len);
    CHECK(doc != NULL);
    CHECK_INT(cJSON_GetObjectItem(doc, "v")->valueint, 1);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(doc, "bridge")), key);
    const cJSON *arr = cJSON_GetObjectItem(doc, "terminals"), *e;
    CHECK(cJSON_IsArray(arr));
    CHECK_INT(cJSON_GetArraySize(arr), nt);
    bool found[MAXT] = {false};
    cJSON_ArrayForEach(e, arr)
    {
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "store")), "s001");
        int t = term_index(cJSON_GetStringValue(cJSON_GetObjectItem(e, "terminal")));
        CHECK(t < nt && !found[t]);
        found[t] = true;
        char hash[PE_SHA256_HEXLEN];
        make_hash(t, to[t], hash);
        CHECK_INT(cJSON_GetObjectItem(e, "seq")->valuedouble, to[t]);
        CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "hash")), hash);
    }
    cJSON_Delete(doc);
}

/* ---- set-up ---- */

struct fixture {
    struct mock m;
    struct pe_loop *loop;
    struct output *o;
    struct sink s;
    int interval_ms; /* the output's txn_interval_ms; 0: 50 */
};

static int open_output(struct fixture *f, const char *tid, const char *key, int max_events,
                       char *err, size_t errlen)
{
    /* Reconnect fast; the state reader (which gets these too) need not wait for fetches. */
    cJSON *props = cJSON_Parse("{\"reconnect.backoff.ms\":\"20\","
                               "\"reconnect.backoff.max.ms\":\"200\","
                               "\"fetch.wait.max.ms\":\"20\"}");
    CHECK(props != NULL);
    struct output_opts oo = {
        .mode = OUTPUT_TRANSACTIONAL,
        .brokers = f->m.brokers,
        .properties = props,
        .on_reset = on_reset,
        .ctx = &f->s,
        .transactional_id = tid,
        .state_topic = STATE_TOPIC,
        .state_key = key,
        .txn_max_events = max_events,
        .txn_interval_ms = f->interval_ms ? f->interval_ms : 50,
        .on_committed = on_committed,
        .on_recovered = on_recovered,
    };
    f->o = NULL;
    int rc = output_create(f->loop, &oo, &f->o, err, errlen);
    cJSON_Delete(props); /* the output keeps its own copy */
    return rc;
}

/* A new output on the fixture's cluster with a fresh sink; waits for its first reset. */
static void start_output(struct fixture *f, const char *tid, const char *key, int max_events)
{
    char err[512] = "";
    sink_init(&f->s);
    int rc = open_output(f, tid, key, max_events, err, sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "output_create: %s: %s", pe_errname(rc), err);
    /* Not ready before it has fenced and read the state back: refused, not queued. */
    CHECK_INT(produce_one(f->o, 0, 1), PE_EAGAIN);
    CHECK_INT(output_inflight(f->o), 0);
    CHECK_INT(f->s.resets, 0);
    RUN_UNTIL(f->loop, f->s.resets == 1, WAIT_MS);
    CHECK_INT(f->s.recovered_at_reset, f->s.recovered); /* recovered first, then reset */
    CHECK_INT(output_inflight(f->o), 0);
}

/*
 * Logging: errors only. Against the mock, librdkafka warns through the output's log callback
 * on every state read (the mock speaks Metadata v2, which cannot carry
 * allow.auto.create.topics=false) and about fetch.wait.max.ms given to the producer; the
 * fault tests' aborts and resets are logged as warnings by design.
 */
static void setup(struct fixture *f, int nbrokers, enum pe_log_level lvl)
{
    memset(f, 0, sizeof *f);
    pe_log_init("test", lvl);
    mock_start(&f->m, nbrokers);
    CHECK_OK(pe_loop_create(&f->loop));
}

static void stop_output(struct fixture *f)
{
    output_destroy(f->o);
    f->o = NULL;
}

static void teardown(struct fixture *f)
{
    stop_output(f);
    pe_loop_destroy(f->loop);
    mock_stop(&f->m);
}

/* ---- tests ---- */

static void t_commits(void)
{
    struct fixture f;
    setup(&f, 3, PE_LOG_ERROR);
    /* Small transactions, so that the run takes several commits. */
    start_output(&f, TID, "bridge-1", 64);
    CHECK_INT(f.s.recovered, 0); /* a new cluster: nothing to recover */
    const int64_t to[2] = {150, 90};
    produce_upto(f.o, &f.s, 2, to);
    CHECK_INT(output_inflight(f.o), 240);
    CHECK_INT(output_flush(f.o, WAIT_MS), PE_OK);
    CHECK_INT(output_inflight(f.o), 0);
    CHECK_INT(f.s.committed[0], 150);
    CHECK_INT(f.s.committed[1], 90);
    CHECK(f.s.commits >= 3); /* 240 records: 64, then 128 while a backlog waits, then the rest */
    CHECK(!f.s.backwards);
    CHECK(!f.s.beyond);
    CHECK_INT(f.s.resets, 1);
    CHECK_INT(output_flush(f.o, 0), PE_OK);
    /* More after the flush: the output keeps committing. */
    const int64_t to2[2] = {160, 100};
    produce_upto(f.o, &f.s, 2, to2);
    RUN_UNTIL(f.loop, all_committed(&f.s, 2, to2), WAIT_MS);
    CHECK_INT(output_inflight(f.o), 0);
    CHECK(!f.s.backwards);
    check_sales(f.m.brokers, 2, to2);
    check_state(f.m.brokers, "bridge-1", 2, to2);
    teardown(&f);
}

static struct output_kafka kstate(const struct output *o)
{
    struct output_kafka k;
    output_kafka_state(o, &k);
    return k;
}

/* A backlog's transactions double in size at each commit (up to half of max_inflight); once the
 * inbox was empty at a commit they start from txn_max_events again. */
static void t_grows_with_backlog(void)
{
    struct fixture f;
    setup(&f, 1, PE_LOG_ERROR);
    /* Transactions end by their size or a flush only, never by the clock, however slow the
     * machine: what is counted below does not depend on speed. */
    f.interval_ms = 600000;
    start_output(&f, TID, "bridge-1", 50);
    const int64_t to[2] = {400, 400};
    produce_upto(f.o, &f.s, 2, to); /* all 800 queued before the first commit */
    CHECK_INT(output_flush(f.o, WAIT_MS), PE_OK);
    CHECK(all_committed(&f.s, 2, to));
    /* 50, 100, 200, 400, 50 when all 800 are queued before the first commit; at 50 a
     * transaction it would take 16. */
    int64_t backlog_txns = kstate(f.o).txn_committed;
    CHECK(backlog_txns >= 4 && backlog_txns < 16);
    /* The inbox was empty at the last commit: 200 more start at 50 again, so they take more
     * than one transaction (at the grown size they would fit in one). */
    const int64_t to2[2] = {500, 500};
    produce_upto(f.o, &f.s, 2, to2);
    CHECK_INT(output_flush(f.o, WAIT_MS), PE_OK);
    CHECK(all_committed(&f.s, 2, to2));
    CHECK(kstate(f.o).txn_committed - backlog_txns >= 2);
    CHECK(!f.s.backwards);
    check_sales(f.m.brokers, 2, to2);
    check_state(f.m.brokers, "bridge-1", 2, to2);
    teardown(&f);
}

/* The Kafka thread's view of the link reaches the loop's thread (under the mutex). */
static void t_kafka_state(void)
{
    struct fixture f;
    setup(&f, 3, PE_LOG_ERROR);
    start_output(&f, TID, "bridge-1", 64);
    const int64_t to[1] = {20};
    produce_upto(f.o, &f.s, 1, to);
    RUN_UNTIL(f.loop, all_committed(&f.s, 1, to), WAIT_MS);
    RUN_UNTIL(f.loop, kstate(f.o).known && kstate(f.o).brokers == 3, 10000);
    CHECK(kstate(f.o).connected && kstate(f.o).brokers_up >= 1);
    for (int b = 1; b <= 3; b++)
        CHECK_INT(rd_kafka_mock_broker_set_down(f.m.mc, b), 0);
    RUN_UNTIL(f.loop, !kstate(f.o).connected, 15000);
    CHECK_INT(kstate(f.o).brokers_up, 0);
    for (int b = 1; b <= 3; b++)
        CHECK_INT(rd_kafka_mock_broker_set_up(f.m.mc, b), 0);
    RUN_UNTIL(f.loop, kstate(f.o).connected, 30000);
    teardown(&f);
}

static void t_recovers_watermarks(void)
{
    struct fixture f;
    setup(&f, 3, PE_LOG_ERROR);
    start_output(&f, TID, "bridge-1", 0);
    const int64_t to[3] = {37, 53, 1};
    produce_upto(f.o, &f.s, 3, to);
    CHECK_INT(output_flush(f.o, WAIT_MS), PE_OK);
    CHECK(all_committed(&f.s, 3, to));
    stop_output(&f);

    /* The next process with the same identity: Kafka's watermarks, then a reset. */
    start_output(&f, TID, "bridge-1", 0);
    CHECK_INT(f.s.recovered, 3);
    for (int t = 0; t < 3; t++) {
        char hash[PE_SHA256_HEXLEN];
        make_hash(t, to[t], hash);
        CHECK_INT(f.s.rec_seq[t], to[t]);
        CHECK_STR(f.s.rec_hash[t], hash);
        CHECK_INT(f.s.produced[t], to[t]); /* the reset goes on from there */
    }
    const int64_t to2[3] = {60, 60, 1};
    produce_upto(f.o, &f.s, 3, to2);
    CHECK_INT(output_flush(f.o, WAIT_MS), PE_OK);
    CHECK(all_committed(&f.s, 3, to2));
    CHECK(!f.s.backwards);
    CHECK(!f.s.beyond);
    stop_output(&f);

    /* Another bridge's key: none of these terminals is its business. */
    start_output(&f, TID, "bridge-2", 0);
    CHECK_INT(f.s.recovered, 0);
    for (int t = 0; t < MAXT; t++)
        CHECK_INT(f.s.rec_seq[t], -1);
    stop_output(&f);

    /* The first key again: the latest of its state records wins, not the first one. */
    start_output(&f, TID, "bridge-1", 0);
    CHECK_INT(f.s.recovered, 3);
    for (int t = 0; t < 3; t++) {
        char hash[PE_SHA256_HEXLEN];
        make_hash(t, to2[t], hash);
        CHECK_INT(f.s.rec_seq[t], to2[t]);
        CHECK_STR(f.s.rec_hash[t], hash);
    }
    check_sales(f.m.brokers, 3, to2);
    check_state(f.m.brokers, "bridge-1", 3, to2);
    teardown(&f);
}

static void t_abort_resets(void)
{
    struct fixture f;
    static struct got g[16];
    static const char bad[] = "{\"seq\":\"not a number\"\n";
    setup(&f, 3, PE_LOG_ERROR);
    /* Ten records per transaction: the failed one ends while the rest still wait in the
     * inbox, produced before the reset, and must not reach Kafka after it. */
    start_output(&f, TID, "bridge-1", 10);
    const int64_t to[2] = {20, 20};
    produce_upto(f.o, &f.s, 2, to);
    CHECK_INT(output_flush(f.o, WAIT_MS), PE_OK);
    CHECK(all_committed(&f.s, 2, to));
    /* The next transaction's first AddPartitionsToTxn is refused for good: librdkafka makes
     * the transaction abortable before any of its records is sent. */
    rd_kafka_mock_push_request_errors(f.m.mc, API_ADD_PARTITIONS_TO_TXN, 1,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    CHECK_OK(output_produce_dlq(f.o, "pos.dlq", bad, sizeof bad - 1, "bad schema: seq",
                                "posedge/v1/s001/t01/events"));
    const int64_t to2[2] = {45, 30};
    produce_upto(f.o, &f.s, 2, to2);
    CHECK_INT(output_inflight(f.o), 35);
    RUN_UNTIL(f.loop, f.s.resets == 2, WAIT_MS);
    /* Nothing of the failed transaction was reported committed, nothing is in flight, and the
     * reset asks for everything after the committed watermarks again. */
    CHECK_INT(f.s.committed_at_reset[0], 20);
    CHECK_INT(f.s.committed_at_reset[1], 20);
    CHECK_INT(f.s.produced[0], 20);
    CHECK_INT(f.s.produced[1], 20);
    CHECK_INT(output_inflight(f.o), 0);
    CHECK_INT(f.s.recovered, 0); /* the same producer goes on: no recovery */
    produce_upto(f.o, &f.s, 2, to2);
    CHECK_INT(output_flush(f.o, WAIT_MS), PE_OK);
    CHECK(all_committed(&f.s, 2, to2));
    CHECK_INT(f.s.resets, 2);
    CHECK(!f.s.backwards);
    CHECK(!f.s.beyond);
    check_sales(f.m.brokers, 2, to2);
    check_state(f.m.brokers, "bridge-1", 2, to2);
    /* The dead letter was kept through the abort and is in Kafka once. */
    CHECK_INT(read_topic(f.m.brokers, "pos.dlq", g, 16), 1);
    CHECK_INT(g[0].len, sizeof bad - 1);
    CHECK(memcmp(g[0].val, bad, g[0].len) == 0);
    CHECK(!g[0].has_key);
    CHECK_STR(g[0].h[5], "bad schema: seq");
    CHECK_STR(g[0].h[6], "posedge/v1/s001/t01/events");
    teardown(&f);
}

static void t_commit_retried(void)
{
    struct fixture f;
    setup(&f, 3, PE_LOG_ERROR);
    start_output(&f, TID, "bridge-1", 0);
    /* The coordinator is busy or moving for a while: the commit is retried, not aborted. */
    rd_kafka_mock_push_request_errors(
        f.m.mc, API_END_TXN, 4, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
        RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
        RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE);
    const int64_t to[2] = {30, 25};
    produce_upto(f.o, &f.s, 2, to);
    CHECK_INT(output_flush(f.o, WAIT_MS), PE_OK);
    CHECK(all_committed(&f.s, 2, to));
    CHECK_INT(f.s.resets, 1);
    CHECK(!f.s.backwards);
    check_sales(f.m.brokers, 2, to);
    check_state(f.m.brokers, "bridge-1", 2, to);
    teardown(&f);
}

static void t_fatal_commit_recovers(void)
{
    struct fixture f;
    setup(&f, 3, PE_LOG_OFF); /* the fatal error is logged as an error, by design */
    start_output(&f, TID, "bridge-1", 0);
    const int64_t to[2] = {10, 10};
    produce_upto(f.o, &f.s, 2, to);
    CHECK_INT(output_flush(f.o, WAIT_MS), PE_OK);
    /* The commit is told the producer was fenced: fatal. A new producer fences, reads the
     * watermarks back and resets. (Real Kafka would have aborted the failed transaction; the
     * mock keeps its records and state record, so the recovered watermark covers them. On a
     * slow machine, such as an ARM board under QEMU, the records up to to2 may take more than
     * one transaction, the first of which fails: then the watermark recovered is somewhere in
     * between, and whatever it is, its hash must be that seq's.) */
    rd_kafka_mock_push_request_errors(f.m.mc, API_END_TXN, 1, RD_KAFKA_RESP_ERR_PRODUCER_FENCED);
    const int64_t to2[2] = {25, 15};
    produce_upto(f.o, &f.s, 2, to2);
    RUN_UNTIL(f.loop, f.s.resets == 2, WAIT_MS);
    CHECK_INT(f.s.recovered, 2);
    CHECK_INT(f.s.recovered_at_reset, 2);
    CHECK_INT(output_inflight(f.o), 0);
    for (int t = 0; t < 2; t++) {
        char hash[PE_SHA256_HEXLEN];
        CHECK(f.s.rec_seq[t] >= to[t] && f.s.rec_seq[t] <= to2[t]);
        make_hash(t, f.s.rec_seq[t], hash);
        CHECK_STR(f.s.rec_hash[t], hash);
    }
    produce_upto(f.o, &f.s, 2, to2);
    CHECK_INT(output_flush(f.o, WAIT_MS), PE_OK);
    CHECK(all_committed(&f.s, 2, to2));
    CHECK_INT(f.s.resets, 2);
    check_sales(f.m.brokers, 2, to2);
    check_state(f.m.brokers, "bridge-1", 2, to2);
    teardown(&f);
}

/* The transactional id without an ACL: fatal for the producer; the state names the id, and a
 * new producer tries again (with a growing pause) until Kafka lets it in. */
static void t_transactional_id_not_authorized(void)
{
    struct fixture f;
    char err[512] = "";
    setup(&f, 3, PE_LOG_OFF); /* the refusal is logged as an error, by design */
    rd_kafka_mock_push_request_errors(f.m.mc, API_INIT_PRODUCER_ID, 3,
                                      RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
                                      RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    sink_init(&f.s);
    CHECK_OK(open_output(&f, TID, "bridge-1", 0, err, sizeof err));
    RUN_UNTIL(f.loop, kstate(f.o).auth == OUTPUT_AUTH_TRANSACTIONAL_ID_NOT_AUTHORIZED, WAIT_MS);
    CHECK_STR(kstate(f.o).resource, TID);
    CHECK_INT(produce_one(f.o, 0, 1), PE_EAGAIN);
    RUN_UNTIL(f.loop, f.s.resets == 1, WAIT_MS); /* granted (the errors are used up) */
    CHECK_INT(kstate(f.o).auth, OUTPUT_AUTH_OK);
    const int64_t to[1] = {20};
    produce_upto(f.o, &f.s, 1, to);
    CHECK_INT(output_flush(f.o, WAIT_MS), PE_OK);
    check_sales(f.m.brokers, 1, to);
    teardown(&f);
}

/* A topic without Write: the transaction aborts, the state names the topic, and after a pause
 * the records are produced again; each is in Kafka once and the refusal is over. */
static void t_topic_not_authorized(void)
{
    struct fixture f;
    setup(&f, 3, PE_LOG_OFF);
    start_output(&f, TID, "bridge-1", 0);
    const int64_t to[1] = {10};
    produce_upto(f.o, &f.s, 1, to);
    CHECK_INT(output_flush(f.o, WAIT_MS), PE_OK);
    rd_kafka_mock_push_request_errors(f.m.mc, API_PRODUCE, 1,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    const int64_t to2[1] = {20};
    produce_upto(f.o, &f.s, 1, to2);
    RUN_UNTIL(f.loop, kstate(f.o).auth == OUTPUT_AUTH_TOPIC_NOT_AUTHORIZED, WAIT_MS);
    CHECK(strcmp(kstate(f.o).resource, "pos.sales") == 0 ||
          strcmp(kstate(f.o).resource, STATE_TOPIC) == 0);
    RUN_UNTIL(f.loop, f.s.resets == 2, WAIT_MS);
    CHECK_INT(f.s.committed_at_reset[0], 10);
    /* Produce again after every reset, as the bridge does: the mock answers the next
     * transaction with a sequence error (it counted the refused batch), one abort more. */
    RUN_UNTIL(f.loop, (produce_upto(f.o, &f.s, 1, to2), all_committed(&f.s, 1, to2)), 30000);
    CHECK_INT(kstate(f.o).auth, OUTPUT_AUTH_OK);
    CHECK(!f.s.backwards);
    /* The sequence error's abort comes after the producer sent some of that transaction's
     * records (how many depends on timing: under qemu, some), and the mock shows them: the
     * seqs after 10 may be seen twice here. That each is in Kafka once is the real broker's
     * part (tests/system/test_bridge.py and test_fault_suite.py read it read_committed). */
    check_sales_as(f.m.brokers, 1, to2, 10);
    check_state(f.m.brokers, "bridge-1", 1, to2);
    teardown(&f);
}

/* A reload (SIGHUP): a new producer fences the old one, reads the committed watermarks back
 * and resets; what was in flight is produced again, once. */
static void t_reload(void)
{
    struct fixture f;
    char err[512] = "";
    setup(&f, 3, PE_LOG_ERROR);
    start_output(&f, TID, "bridge-1", 0);
    const int64_t to[2] = {10, 10};
    produce_upto(f.o, &f.s, 2, to);
    CHECK_INT(output_flush(f.o, WAIT_MS), PE_OK);
    CHECK_OK(output_reload(f.o, err, sizeof err));
    RUN_UNTIL(f.loop, f.s.resets == 2, WAIT_MS);
    CHECK_INT(f.s.recovered_at_reset, f.s.recovered);
    CHECK_INT(f.s.committed_at_reset[0], 10);
    CHECK_INT(f.s.committed_at_reset[1], 10);
    const int64_t to2[2] = {25, 30};
    produce_upto(f.o, &f.s, 2, to2);
    CHECK_INT(output_flush(f.o, WAIT_MS), PE_OK);
    CHECK(all_committed(&f.s, 2, to2));
    check_sales(f.m.brokers, 2, to2);
    check_state(f.m.brokers, "bridge-1", 2, to2);
    teardown(&f);
}

static void expect_create_refused(struct fixture *f, const char *tid, const char *topic,
                                  const char *key, const char *props, const char *prefix)
{
    char err[512] = "";
    cJSON *p = props ? cJSON_Parse(props) : NULL;
    CHECK(!props || p);
    struct output_opts oo = {
        .mode = OUTPUT_TRANSACTIONAL,
        .brokers = f->m.brokers,
        .properties = p,
        .on_reset = on_reset,
        .ctx = &f->s,
        .transactional_id = tid,
        .state_topic = topic,
        .state_key = key,
        .on_committed = on_committed,
        .on_recovered = on_recovered,
    };
    struct output *o = NULL;
    CHECK_INT(output_create(f->loop, &oo, &o, err, sizeof err), PE_EINVAL);
    CHECK(o == NULL);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        pe_test_fail(__FILE__, __LINE__, "error \"%s\" does not start with \"%s\"", err, prefix);
    cJSON_Delete(p);
}

static void t_bad_arguments(void)
{
    struct fixture f;
    setup(&f, 1, PE_LOG_ERROR);
    expect_create_refused(&f, TID, NULL, "bridge-1", NULL, "kafka: transactional mode needs ");
    expect_create_refused(&f, TID, "", "bridge-1", NULL, "kafka: transactional mode needs ");
    expect_create_refused(&f, TID, STATE_TOPIC, NULL, NULL, "kafka: transactional mode needs ");
    expect_create_refused(&f, TID, STATE_TOPIC, "", NULL, "kafka: transactional mode needs ");
    expect_create_refused(&f, "", STATE_TOPIC, "bridge-1", NULL,
                          "kafka: transactional mode needs ");
    expect_create_refused(&f, TID, STATE_TOPIC, "bridge-1", "{\"no.such.property\":\"1\"}",
                          "kafka.properties.no.such.property: ");
    expect_create_refused(&f, TID, STATE_TOPIC, "bridge-1", "{\"linger.ms\":5}",
                          "kafka.properties.linger.ms: must be a string");

    char err[512] = "";
    sink_init(&f.s);
    CHECK_OK(open_output(&f, TID, "bridge-1", 0, err, sizeof err));
    struct output_ref ref = {.seq = 1};
    snprintf(ref.store, sizeof ref.store, "s001");
    snprintf(ref.terminal, sizeof ref.terminal, "t00");
    char ok[PE_SHA256_HEXLEN], upper[PE_SHA256_HEXLEN], nonhex[PE_SHA256_HEXLEN];
    char shorter[PE_SHA256_HEXLEN], longer[PE_SHA256_HEXLEN + 1];
    make_hash(0, 1, ok);
    memcpy(upper, ok, sizeof ok);
    upper[20] = 'F';
    memcpy(nonhex, ok, sizeof ok);
    nonhex[63] = 'g';
    memcpy(shorter, ok, sizeof ok);
    shorter[63] = '\0';
    snprintf(longer, sizeof longer, "%s0", ok);
    const char *bad[] = {NULL, "", upper, nonhex, shorter, longer};
    /* A hash is required in transactional mode, ready or not. */
    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            CHECK_INT(output_produce(f.o, "pos.sales", &ref, "id", "sale", bad[i], TS0, "{}", 2),
                      PE_EINVAL);
        CHECK_INT(output_inflight(f.o), 0);
        if (pass == 0)
            RUN_UNTIL(f.loop, f.s.resets == 1, WAIT_MS);
    }
    /* A record Kafka cannot take is refused at once, not left to abort every transaction. */
    size_t hn = 2 * 1024 * 1024;
    char *huge = malloc(hn);
    CHECK(huge != NULL);
    memset(huge, 'x', hn);
    CHECK_INT(output_produce(f.o, "pos.sales", &ref, "id", "sale", ok, TS0, huge, hn), PE_EINVAL);
    free(huge);
    CHECK_INT(output_inflight(f.o), 0);
    CHECK_INT(output_produce(f.o, "pos.sales", &ref, "id", "sale", ok, TS0, "{}", 2), PE_OK);
    f.s.produced[0] = 1;
    CHECK_INT(output_inflight(f.o), 1);
    CHECK_INT(output_flush(f.o, WAIT_MS), PE_OK);
    CHECK_INT(f.s.committed[0], 1);
    teardown(&f);
}

static const struct pe_test tests[] = {
    {"commits", t_commits},
    {"kafka_state", t_kafka_state},
    {"grows_with_backlog", t_grows_with_backlog},
    {"recovers_watermarks", t_recovers_watermarks},
    {"abort_resets", t_abort_resets},
    {"commit_retried", t_commit_retried},
    {"fatal_commit_recovers", t_fatal_commit_recovers},
    {"bad_arguments", t_bad_arguments},
    {"transactional_id_not_authorized", t_transactional_id_not_authorized},
    {"topic_not_authorized", t_topic_not_authorized},
    {"reload", t_reload},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("output_txn", tests, argc, argv);
}
