/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_output.c - the bridge's Kafka output against librdkafka's in-process mock cluster.
 *
 * Every test starts its own mock cluster (three brokers), produces through output.c while
 * running a pe_loop until the delivery reports it waits for have arrived (a condition with a
 * deadline, never a sleep), then reads the topic back with a plain consumer and checks what a
 * downstream job would see: key, value bytes, event-time timestamp, headers, and per-terminal
 * order with nothing missing and nothing twice. Faults come from the mock: brokers down, errors
 * pushed onto Produce requests, and a fatal idempotence error that makes the output recreate
 * its producer. Refusals: a login the mock cannot answer (it speaks no SASL) keeps every record
 * in flight and says auth_failed; a topic refused keeps nothing lost and holds producing for a
 * pause; a reload (SIGHUP) swaps the producer, and one whose password file others may read is
 * refused while the producer stays.
 *
 * The reconcile_* tests close the loop: they write journals, produce their records through
 * the output as the bridge does (plus deliberate faults: a record skipped, one sent twice, one
 * with altered bytes, one without headers, one out of order), and check what posedge-ctl
 * reconcile (ctl/reconcile.c) reports about them.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/kafka_common.h"
#include "bridge/output.h"
#include "ctl/ctl.h"
#include "posedge/clock.h"
#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/journal.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/loop.h"
#include "tests/unit/harness.h"
#include "tests/unit/kafka_mock.h"

/* Kafka protocol API keys (rdkafka_protocol.h is not installed). */
#define API_PRODUCE 0
#define API_FETCH 1
#define API_INIT_PRODUCER_ID 22

#define MAXT 4      /* terminals per test */
#define MAXREC 4096 /* records read back per test */
#define TS0 1795000000000LL
/* How long a test waits for a condition before it fails: generous, for ARM boards under qemu
 * on a loaded machine (a deadline, not a timing claim: the wait ends as soon as it holds). */
#define WAIT_MS 60000

/* ---- the mock cluster ---- */

static void mock_all(struct mock *m, bool up)
{
    for (int b = 1; b <= m->nbrokers; b++)
        CHECK_INT(up ? rd_kafka_mock_broker_set_up(m->mc, b)
                     : rd_kafka_mock_broker_set_down(m->mc, b),
                  0);
}

/* ---- what the output reports ---- */

struct sink {
    int delivered;          /* event records reported delivered */
    int failed;             /* reports with an error */
    int dlq;                /* dead letters reported delivered */
    int resets;             /* on_reset calls */
    int64_t last[MAXT];     /* last delivered seq per terminal */
    int64_t produced[MAXT]; /* last produced seq per terminal (the test's "spool") */
    bool out_of_order;      /* a report skipped or repeated a seq */
};

static int term_index(const char *terminal)
{
    int t = atoi(terminal + 1);
    if (t < 0 || t >= MAXT)
        pe_test_fail(__FILE__, __LINE__, "unexpected terminal %s", terminal);
    return t;
}

static void on_delivered(void *ctx, const struct output_ref *ref, int err)
{
    struct sink *s = ctx;
    if (err) {
        s->failed++;
        return;
    }
    if (ref->seq == 0) {
        s->dlq++;
        return;
    }
    CHECK_STR(ref->store, "s001");
    int t = term_index(ref->terminal);
    if (ref->seq != s->last[t] + 1)
        s->out_of_order = true;
    s->last[t] = ref->seq;
    s->delivered++;
}

/* Like the bridge: produce again from the last delivered seq + 1. */
static void on_reset(void *ctx)
{
    struct sink *s = ctx;
    s->resets++;
    for (int t = 0; t < MAXT; t++)
        s->produced[t] = s->last[t];
}

/* ---- records ---- */

static void make_id(int t, int64_t seq, char id[64])
{
    snprintf(id, 64, "00000000-0000-4000-8000-%04d%08" PRId64, t, seq);
}

static int produce_one(struct output *o, int t, int64_t seq)
{
    char rec[256], id[64];
    struct output_ref ref = {.seq = seq};
    snprintf(ref.store, sizeof ref.store, "s001");
    snprintf(ref.terminal, sizeof ref.terminal, "t%02d", t);
    make_id(t, seq, id);
    size_t len = make_rec(t, seq, rec, sizeof rec);
    return output_produce(o, "pos.sales", &ref, id, "sale", NULL, TS0 + seq * 1000 + t, rec, len);
}

/* As produce_upto, but stop at the first "not now" (PE_EAGAIN): a producer whose fatal error
 * came before the call takes nothing until it is recreated. Returns how many it took. */
static int produce_accepted(struct output *o, struct sink *s, int nt, int64_t to)
{
    int taken = 0;
    for (int64_t seq = 1; seq <= to; seq++)
        for (int t = 0; t < nt; t++)
            if (s->produced[t] == seq - 1) {
                int rc = produce_one(o, t, seq);
                if (rc == PE_EAGAIN)
                    return taken;
                CHECK_OK(rc);
                s->produced[t] = seq;
                taken++;
            }
    return taken;
}

/* Produce terminals 0..nt-1 up to seq `to`, interleaved, from each one's produced + 1. */
static void produce_upto(struct output *o, struct sink *s, int nt, int64_t to)
{
    for (int64_t seq = 1; seq <= to; seq++)
        for (int t = 0; t < nt; t++)
            if (s->produced[t] == seq - 1) {
                CHECK_OK(produce_one(o, t, seq));
                s->produced[t] = seq;
            }
}

static bool all_delivered(const struct sink *s, int nt, int64_t to)
{
    for (int t = 0; t < nt; t++)
        if (s->last[t] < to)
            return false;
    return true;
}

/* ---- reading back ---- */

struct got {
    char topic[32];
    int32_t partition;
    int64_t offset;
    char key[80];
    bool has_key;
    char val[512];
    size_t len;
    int64_t ts;
    rd_kafka_timestamp_type_t tstype;
    char h[8][128]; /* id, type, store, terminal, seq, reason, topic, truncated ("": absent) */
};

static const char *const hnames[8] = {"id",  "type",   "store", "terminal",
                                      "seq", "reason", "topic", "truncated"};

static rd_kafka_t *consumer_new(const char *brokers)
{
    char why[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    CHECK(rd_kafka_conf_set(conf, "bootstrap.servers", brokers, why, sizeof why) == 0);
    CHECK(rd_kafka_conf_set(conf, "group.id", "test-output", why, sizeof why) == 0);
    CHECK(rd_kafka_conf_set(conf, "enable.auto.commit", "false", why, sizeof why) == 0);
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!rk)
        pe_test_fail(__FILE__, __LINE__, "consumer: %s", why);
    return rk;
}

/* Read every record of topic (exactly as many as its watermarks say it holds) into out. */
static int consume_all(const char *brokers, const char *topic, struct got *out, int max)
{
    rd_kafka_t *rk = consumer_new(brokers);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    CHECK_INT(rd_kafka_metadata(rk, 0, rkt, &md, 10000), 0);
    CHECK_INT(md->topic_cnt, 1);
    CHECK_INT(md->topics[0].err, 0);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(8);
    int64_t total = 0;
    for (int i = 0; i < md->topics[0].partition_cnt; i++) {
        int32_t p = md->topics[0].partitions[i].id;
        int64_t lo, hi;
        CHECK_INT(rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000), 0);
        total += hi - lo;
        rd_kafka_topic_partition_list_add(parts, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    CHECK(total <= max);
    CHECK_INT(rd_kafka_assign(rk, parts), 0);
    rd_kafka_topic_partition_list_destroy(parts);
    int n = 0;
    int64_t deadline = pe_mono_ms() + 30000;
    while (n < total) {
        if (pe_mono_ms() > deadline)
            pe_test_fail(__FILE__, __LINE__, "read %d of %" PRId64 " records of %s", n, total,
                         topic);
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        struct got *g = &out[n++];
        memset(g, 0, sizeof *g);
        snprintf(g->topic, sizeof g->topic, "%s", rd_kafka_topic_name(m->rkt));
        g->partition = m->partition;
        g->offset = m->offset;
        g->has_key = m->key != NULL;
        if (m->key)
            snprintf(g->key, sizeof g->key, "%.*s", (int)m->key_len, (const char *)m->key);
        /* Only the head of a large value is kept; len says how long it was. */
        memcpy(g->val, m->payload, m->len < sizeof g->val ? m->len : sizeof g->val);
        g->len = m->len;
        g->ts = rd_kafka_message_timestamp(m, &g->tstype);
        rd_kafka_headers_t *hdrs = NULL;
        if (rd_kafka_message_headers(m, &hdrs) == 0) {
            for (int i = 0; i < 8; i++) {
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
 * Check what a downstream job sees for terminals 0..nt-1 with seqs 1..to each: exactly one
 * record per (terminal, seq), in one partition per terminal, in seq order, with the right key,
 * bytes, timestamp and headers.
 */
static void check_topic(const char *brokers, int nt, int64_t to)
{
    static struct got g[MAXREC];
    int n = consume_all(brokers, "pos.sales", g, MAXREC);
    CHECK_INT(n, nt * to);
    int64_t next[MAXT] = {0};
    int32_t part[MAXT];
    for (int t = 0; t < MAXT; t++)
        part[t] = -1;
    /* Records arrive per partition in offset order; partitions may interleave. */
    for (int i = 0; i < n; i++) {
        int t = atoi(g[i].h[3] + 1);
        CHECK(t >= 0 && t < nt);
        int64_t seq = strtoll(g[i].h[4], NULL, 10);
        CHECK_INT(seq, next[t] + 1);
        next[t] = seq;
        if (part[t] < 0)
            part[t] = g[i].partition;
        CHECK_INT(g[i].partition, part[t]);
        char want[256], key[80], id[64];
        size_t len = make_rec(t, seq, want, sizeof want);
        CHECK_INT(g[i].len, len);
        CHECK(memcmp(g[i].val, want, len) == 0);
        snprintf(key, sizeof key, "s001/t%02d", t);
        CHECK_STR(g[i].key, key);
        CHECK_INT(g[i].ts, TS0 + seq * 1000 + t);
        CHECK_INT(g[i].tstype, RD_KAFKA_TIMESTAMP_CREATE_TIME);
        make_id(t, seq, id);
        CHECK_STR(g[i].h[0], id);
        CHECK_STR(g[i].h[1], "sale");
        CHECK_STR(g[i].h[2], "s001");
    }
    for (int t = 0; t < nt; t++)
        CHECK_INT(next[t], to);
}

/* ---- set-up ---- */

struct fixture {
    struct mock m;
    struct pe_loop *loop;
    struct output *o;
    struct sink s;
    cJSON *props;
};

static void setup(struct fixture *f, int max_inflight, const char *props_json)
{
    char err[512] = "";
    memset(f, 0, sizeof *f);
    pe_log_init("test", PE_LOG_WARN);
    mock_start(&f->m, 3);
    CHECK_OK(pe_loop_create(&f->loop));
    /* Reconnect fast after an outage: the defaults back off up to 10 s. */
    f->props = cJSON_Parse(props_json ? props_json
                                      : "{\"reconnect.backoff.ms\":\"20\","
                                        "\"reconnect.backoff.max.ms\":\"200\"}");
    CHECK(f->props != NULL);
    struct output_opts oo = {
        .mode = OUTPUT_IDEMPOTENT,
        .brokers = f->m.brokers,
        .properties = f->props,
        .max_inflight = max_inflight,
        .on_delivered = on_delivered,
        .on_reset = on_reset,
        .ctx = &f->s,
    };
    int rc = output_create(f->loop, &oo, &f->o, err, sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "output_create: %s: %s", pe_errname(rc), err);
    /* The output keeps its own copy of the properties. */
    cJSON_Delete(f->props);
    f->props = NULL;
}

static void teardown(struct fixture *f)
{
    output_destroy(f->o);
    pe_loop_destroy(f->loop);
    mock_stop(&f->m);
}

/* ---- tests ---- */

static void t_delivers_in_order(void)
{
    struct fixture f;
    setup(&f, 0, NULL);
    produce_upto(f.o, &f.s, 3, 300);
    CHECK_INT(output_inflight(f.o), 900);
    RUN_UNTIL(f.loop, all_delivered(&f.s, 3, 300), WAIT_MS);
    CHECK_INT(f.s.delivered, 900);
    CHECK_INT(f.s.failed, 0);
    CHECK(!f.s.out_of_order);
    CHECK_INT(output_inflight(f.o), 0);
    check_topic(f.m.brokers, 3, 300);
    teardown(&f);
}

static void t_broker_outage(void)
{
    struct fixture f;
    setup(&f, 0, NULL);
    produce_upto(f.o, &f.s, 3, 50);
    RUN_UNTIL(f.loop, all_delivered(&f.s, 3, 50), WAIT_MS);
    mock_all(&f.m, false);
    produce_upto(f.o, &f.s, 3, 250);
    /* The outage lasts a while: run the loop for 1.5 s; nothing may be reported failed. */
    int64_t until = pe_mono_ms() + 1500;
    while (pe_mono_ms() < until)
        CHECK_OK(pe_loop_run_once(f.loop, 50));
    CHECK_INT(f.s.failed, 0);
    CHECK(output_inflight(f.o) > 0);
    mock_all(&f.m, true);
    RUN_UNTIL(f.loop, all_delivered(&f.s, 3, 250), 60000);
    CHECK_INT(f.s.failed, 0);
    CHECK_INT(f.s.resets, 0);
    CHECK(!f.s.out_of_order);
    check_topic(f.m.brokers, 3, 250);
    teardown(&f);
}

/* What librdkafka knows of the link, as the bridge's state document shows it. */
static struct output_kafka kstate(const struct output *o)
{
    struct output_kafka k;
    output_kafka_state(o, &k);
    return k;
}

static void t_kafka_state(void)
{
    struct fixture f;
    setup(&f, 0, NULL);
    CHECK(!kstate(f.o).known); /* no statistics yet */
    produce_upto(f.o, &f.s, 1, 10);
    RUN_UNTIL(f.loop, all_delivered(&f.s, 1, 10), WAIT_MS);
    /* Statistics every 2 s: three brokers known, the leader's connection up at least. */
    RUN_UNTIL(f.loop, kstate(f.o).known && kstate(f.o).brokers == 3, WAIT_MS);
    struct output_kafka k = kstate(f.o);
    CHECK(k.connected);
    CHECK(k.brokers_up >= 1 && k.brokers_up <= 3);
    mock_all(&f.m, false);
    RUN_UNTIL(f.loop, !kstate(f.o).connected, WAIT_MS);
    CHECK_INT(kstate(f.o).brokers_up, 0);
    mock_all(&f.m, true);
    produce_upto(f.o, &f.s, 1, 11); /* something to connect for */
    RUN_UNTIL(f.loop, kstate(f.o).connected && kstate(f.o).brokers_up >= 1, WAIT_MS);
    RUN_UNTIL(f.loop, all_delivered(&f.s, 1, 11), WAIT_MS);
    teardown(&f);
}

static void t_stats_parse(void)
{
    /* The broker part of librdkafka's statistics, trimmed: two brokers known by id (one
     * connected), a bootstrap entry not yet identified, librdkafka's own handles. */
    static const char json[] =
        "{\"name\":\"rdkafka#producer-1\",\"brokers\":{"
        "\"k1:9092/1\":{\"nodeid\":1,\"source\":\"configured\",\"state\":\"UP\"},"
        "\"k2:9092/2\":{\"nodeid\":2,\"source\":\"learned\",\"state\":\"INIT\"},"
        "\"k3:9092/bootstrap\":{\"nodeid\":-1,\"source\":\"configured\",\"state\":\"DOWN\"},"
        "\"TxnCoordinator\":{\"nodeid\":1,\"source\":\"logical\",\"state\":\"UP\"},"
        "\":0/internal\":{\"nodeid\":-1,\"source\":\"internal\",\"state\":\"UP\"}}}";
    struct output_kafka k;
    kc_stats_parse(json, sizeof json - 1, &k);
    CHECK(k.known && k.connected);
    CHECK_INT(k.brokers, 2);
    CHECK_INT(k.brokers_up, 1);
    /* Down everywhere: only librdkafka's own handles are "UP". */
    static const char down[] =
        "{\"brokers\":{\"k1:9092/1\":{\"nodeid\":1,\"source\":\"configured\",\"state\":"
        "\"TRY_CONNECT\"},\"TxnCoordinator\":{\"nodeid\":1,\"source\":\"logical\",\"state\":"
        "\"UP\"},\":0/internal\":{\"nodeid\":-1,\"source\":\"internal\",\"state\":\"UP\"}}}";
    kc_stats_parse(down, sizeof down - 1, &k);
    CHECK(k.known && !k.connected);
    CHECK_INT(k.brokers, 1);
    CHECK_INT(k.brokers_up, 0);
    kc_stats_parse("{not json", 9, &k);
    CHECK(!k.known && !k.connected && k.brokers == 0);
}

/* One handle per topic and producer, the same one each time; past KC_TOPICS_MAX none (the
 * record is produced by name); dropped with the producer. */
static void t_topic_handles(void)
{
    char why[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    CHECK(rd_kafka_conf_set(conf, "bootstrap.servers", "127.0.0.1:1", why, sizeof why) ==
          RD_KAFKA_CONF_OK);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    CHECK(rk != NULL);
    if (!rk)
        return;
    struct kc_topics t = {0};
    rd_kafka_topic_t *a = kc_topic(rk, &t, "pos.sales");
    CHECK(a != NULL);
    CHECK_STR(a ? rd_kafka_topic_name(a) : "", "pos.sales");
    CHECK(kc_topic(rk, &t, "pos.sales") == a);
    rd_kafka_topic_t *b = kc_topic(rk, &t, "pos.reports");
    CHECK(b != NULL && b != a);
    CHECK_INT(t.n, 2);
    char name[32];
    for (int i = t.n; i < KC_TOPICS_MAX; i++) {
        snprintf(name, sizeof name, "t%d", i);
        CHECK(kc_topic(rk, &t, name) != NULL);
    }
    CHECK(kc_topic(rk, &t, "one.too.many") == NULL);
    CHECK(kc_topic(rk, &t, "pos.reports") == b);
    CHECK_INT(t.n, KC_TOPICS_MAX);
    kc_topics_drop(&t);
    CHECK_INT(t.n, 0);
    rd_kafka_destroy(rk);
}

static void t_produce_errors_retried(void)
{
    struct fixture f;
    setup(&f, 0, NULL);
    produce_upto(f.o, &f.s, 2, 20);
    RUN_UNTIL(f.loop, all_delivered(&f.s, 2, 20), WAIT_MS);
    rd_kafka_mock_push_request_errors(
        f.m.mc, API_PRODUCE, 12, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS);
    /* Produce in small steps so that many requests meet the injected errors. */
    for (int64_t to = 40; to <= 400; to += 20) {
        produce_upto(f.o, &f.s, 2, to);
        RUN_UNTIL(f.loop, all_delivered(&f.s, 2, to), 60000);
    }
    CHECK_INT(f.s.failed, 0);
    CHECK(!f.s.out_of_order);
    check_topic(f.m.brokers, 2, 400);
    teardown(&f);
}

static void t_inflight_limit(void)
{
    struct fixture f;
    setup(&f, 10, NULL);
    produce_upto(f.o, &f.s, 1, 10);
    CHECK_INT(output_inflight(f.o), 10);
    CHECK_INT(produce_one(f.o, 0, 11), PE_EAGAIN);
    char big[8];
    CHECK_INT(output_produce_dlq(f.o, "pos.dlq", big, 0, "r", "t"), PE_EAGAIN);
    RUN_UNTIL(f.loop, all_delivered(&f.s, 1, 10), WAIT_MS);
    CHECK_INT(output_inflight(f.o), 0);
    /* Capacity is back; the slots are reused. */
    produce_upto(f.o, &f.s, 1, 20);
    CHECK_INT(produce_one(f.o, 0, 21), PE_EAGAIN);
    RUN_UNTIL(f.loop, all_delivered(&f.s, 1, 20), WAIT_MS);
    check_topic(f.m.brokers, 1, 20);
    teardown(&f);
}

static void t_bad_input_refused(void)
{
    struct fixture f;
    setup(&f, 0, NULL);
    struct output_ref ref = {.seq = 1};
    CHECK_INT(output_produce(f.o, "pos.sales", &ref, "id", "sale", NULL, TS0, "{}", 2), PE_EINVAL);
    snprintf(ref.store, sizeof ref.store, "s001");
    snprintf(ref.terminal, sizeof ref.terminal, "t01");
    CHECK_INT(output_produce(f.o, "", &ref, "id", "sale", NULL, TS0, "{}", 2), PE_EINVAL);
    CHECK_INT(output_produce(f.o, "pos.sales", &ref, NULL, "sale", NULL, TS0, "{}", 2), PE_EINVAL);
    CHECK_INT(output_produce(f.o, "pos.sales", &ref, "id", "sale", NULL, TS0, NULL, 2), PE_EINVAL);
    CHECK_INT(output_inflight(f.o), 0);
    /* Larger than message.max.bytes: refused at once, not retried forever. */
    size_t n = 2 * 1024 * 1024;
    char *huge = malloc(n);
    CHECK(huge != NULL);
    memset(huge, 'x', n);
    CHECK_INT(output_produce(f.o, "pos.sales", &ref, "id", "sale", NULL, TS0, huge, n), PE_EINVAL);
    free(huge);
    CHECK_INT(output_inflight(f.o), 0);
    teardown(&f);
}

static void expect_refused(const char *props, const char *prefix)
{
    struct mock m;
    struct pe_loop *loop;
    struct output *o = NULL;
    char err[512] = "";
    mock_start(&m, 1);
    CHECK_OK(pe_loop_create(&loop));
    cJSON *p = cJSON_Parse(props);
    CHECK(p != NULL);
    struct output_opts oo = {.mode = OUTPUT_IDEMPOTENT, .brokers = m.brokers, .properties = p};
    CHECK_INT(output_create(loop, &oo, &o, err, sizeof err), PE_EINVAL);
    CHECK(o == NULL);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        pe_test_fail(__FILE__, __LINE__, "error \"%s\" does not start with \"%s\"", err, prefix);
    cJSON_Delete(p);
    pe_loop_destroy(loop);
    mock_stop(&m);
}

static void t_bad_property_named(void)
{
    pe_log_init("test", PE_LOG_ERROR);
    expect_refused("{\"linger.ms\":\"5\",\"no.such.property\":\"1\"}",
                   "kafka.properties.no.such.property: ");
    expect_refused("{\"linger.ms\":\"banana\"}", "kafka.properties.linger.ms: ");
    expect_refused("{\"linger.ms\":5}", "kafka.properties.linger.ms: must be a string");
    expect_refused("[\"linger.ms\"]", "kafka.properties: must be an object");
    /* Accepted one by one, refused together: idempotence needs acks=all. */
    expect_refused("{\"acks\":\"1\"}", "kafka.properties: ");
    struct pe_loop *loop;
    struct output *o = NULL;
    char err[256] = "";
    CHECK_OK(pe_loop_create(&loop));
    struct output_opts oo = {.mode = OUTPUT_IDEMPOTENT, .brokers = ""};
    CHECK_INT(output_create(loop, &oo, &o, err, sizeof err), PE_EINVAL);
    CHECK(strncmp(err, "kafka.brokers: ", 15) == 0);
    pe_loop_destroy(loop);
}

static void t_dead_letter_headers(void)
{
    struct fixture f;
    setup(&f, 0, NULL);
    static const char bad[] = "{\"seq\":\"not a number\"\n";
    CHECK_OK(output_produce_dlq(f.o, "pos.dlq", bad, sizeof bad - 1, "bad schema: seq",
                                "posedge/v1/s001/t01/events"));
    RUN_UNTIL(f.loop, f.s.dlq == 1, WAIT_MS);
    CHECK_INT(f.s.failed, 0);
    static struct got g[4];
    CHECK_INT(consume_all(f.m.brokers, "pos.dlq", g, 4), 1);
    CHECK_INT(g[0].len, sizeof bad - 1);
    CHECK(memcmp(g[0].val, bad, g[0].len) == 0);
    CHECK(!g[0].has_key);
    CHECK_STR(g[0].h[5], "bad schema: seq");
    CHECK_STR(g[0].h[6], "posedge/v1/s001/t01/events");
    CHECK_STR(g[0].h[7], "");
    teardown(&f);
}

static void t_dead_letter_too_large_is_cut(void)
{
    struct fixture f;
    setup(&f, 0, NULL);
    /* One byte over the bridge's default intake limit, itself above message.max.bytes. */
    size_t n = 1024 * 1024 + 1;
    char *big = malloc(n);
    CHECK(big != NULL);
    memset(big, 'x', n);
    CHECK_OK(output_produce_dlq(f.o, "pos.dlq", big, n, "too large", "posedge/v1/s001/t01/events"));
    free(big);
    RUN_UNTIL(f.loop, f.s.dlq == 1, WAIT_MS);
    static struct got g[4];
    CHECK_INT(consume_all(f.m.brokers, "pos.dlq", g, 4), 1);
    CHECK(g[0].len > 900000 && g[0].len < 1000000);
    CHECK(g[0].val[0] == 'x');
    CHECK_STR(g[0].h[5], "too large");
    CHECK_STR(g[0].h[7], "1048577");
    teardown(&f);
}

static void t_flush(void)
{
    struct fixture f;
    setup(&f, 0, NULL);
    produce_upto(f.o, &f.s, 2, 50);
    CHECK_INT(output_flush(f.o, 20000), PE_OK);
    CHECK_INT(output_inflight(f.o), 0);
    CHECK_INT(f.s.delivered, 100);
    CHECK_INT(output_flush(f.o, 0), PE_OK);
    /* With Kafka down the flush gives up at its deadline. */
    mock_all(&f.m, false);
    produce_upto(f.o, &f.s, 2, 60);
    int64_t t0 = pe_mono_ms();
    CHECK_INT(output_flush(f.o, 300), PE_EAGAIN);
    CHECK(pe_mono_ms() - t0 < 3000);
    CHECK_INT(output_inflight(f.o), 20);
    mock_all(&f.m, true);
    CHECK_INT(output_flush(f.o, 30000), PE_OK);
    check_topic(f.m.brokers, 2, 60);
    teardown(&f);
}

static void t_fatal_error_recreates(void)
{
    struct fixture f;
    setup(&f, 0, NULL);
    produce_upto(f.o, &f.s, 1, 50);
    RUN_UNTIL(f.loop, all_delivered(&f.s, 1, 50), WAIT_MS);
    /* The head-of-line request fails with a sequence the producer cannot explain: librdkafka
     * raises a fatal error, the output destroys the producer and makes a new one. */
    rd_kafka_mock_push_request_errors(f.m.mc, API_PRODUCE, 1,
                                      RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    produce_upto(f.o, &f.s, 1, 100);
    RUN_UNTIL(f.loop, f.s.resets == 1, WAIT_MS);
    CHECK_INT(output_inflight(f.o), 0);
    CHECK_INT(f.s.failed, 0); /* covered by on_reset, not reported one by one */
    CHECK(f.s.produced[0] < 100);
    /* Produce the rest again into the new producer, as the bridge does from its spool. */
    produce_upto(f.o, &f.s, 1, 100);
    RUN_UNTIL(f.loop, all_delivered(&f.s, 1, 100), WAIT_MS);
    CHECK(!f.s.out_of_order);
    CHECK_INT(f.s.resets, 1);
    check_topic(f.m.brokers, 1, 100);
    teardown(&f);
}

static void t_fatal_before_first_delivery(void)
{
    struct fixture f;
    struct mock m;
    char err[512];
    memset(&f, 0, sizeof f);
    pe_log_init("test", PE_LOG_WARN);
    mock_start(&m, 3);
    /* The first producer id request is refused for good: fatal for an idempotent producer. */
    rd_kafka_mock_push_request_errors(m.mc, API_INIT_PRODUCER_ID, 1,
                                      RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED);
    CHECK_OK(pe_loop_create(&f.loop));
    struct output_opts oo = {.mode = OUTPUT_IDEMPOTENT,
                             .brokers = m.brokers,
                             .on_delivered = on_delivered,
                             .on_reset = on_reset,
                             .ctx = &f.s};
    CHECK_OK(output_create(f.loop, &oo, &f.o, err, sizeof err));
    /* The refusal may reach librdkafka's thread before the first record does: then the output
     * takes nothing ("not now") and resets just the same. */
    produce_accepted(f.o, &f.s, 2, 10);
    RUN_UNTIL(f.loop, f.s.resets >= 1, WAIT_MS);
    produce_upto(f.o, &f.s, 2, 10);
    RUN_UNTIL(f.loop, all_delivered(&f.s, 2, 10), WAIT_MS);
    CHECK(!f.s.out_of_order);
    check_topic(m.brokers, 2, 10);
    output_destroy(f.o);
    pe_loop_destroy(f.loop);
    mock_stop(&m);
}

/* A SASL client of the mock, which speaks no SASL: every login fails, as with a wrong password.
 * Nothing is reported failed, everything stays in flight, the state says auth_failed; a
 * reload whose password file others may read is refused and the producer stays; a good one
 * swaps it (and everything in flight is to be produced again: on_reset). */
static void t_auth_failed_keeps_everything(void)
{
    struct fixture f;
    char err[512] = "";
    const char *pw = pe_test_path(0, "kafka.pw");
    memset(&f, 0, sizeof f);
    pe_log_init("test", PE_LOG_OFF); /* the refusal is logged as an error, by design */
    mock_start(&f.m, 1);
    CHECK_OK(pe_loop_create(&f.loop));
    int fd = open(pw, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && write(fd, "pw\n", 3) == 3);
    close(fd);
    struct pe_kafka_security sec;
    pe_kafka_security_defaults(&sec);
    snprintf(sec.protocol, sizeof sec.protocol, "sasl_plaintext");
    snprintf(sec.username, sizeof sec.username, "bridge");
    snprintf(sec.password_file, sizeof sec.password_file, "%s", pw);
    struct output_opts oo = {.mode = OUTPUT_IDEMPOTENT,
                             .brokers = f.m.brokers,
                             .security = &sec,
                             .on_delivered = on_delivered,
                             .on_reset = on_reset,
                             .ctx = &f.s};
    CHECK_OK(output_create(f.loop, &oo, &f.o, err, sizeof err));
    produce_upto(f.o, &f.s, 2, 10);
    RUN_UNTIL(f.loop, kstate(f.o).auth == OUTPUT_AUTH_AUTH_FAILED, WAIT_MS);
    CHECK_STR(kstate(f.o).resource, "");
    CHECK(!kstate(f.o).connected);
    CHECK_STR(output_auth_name(kstate(f.o).auth), "auth_failed");
    CHECK_INT(f.s.failed, 0);
    CHECK_INT(f.s.delivered, 0);
    CHECK_INT(output_inflight(f.o), 20);
    CHECK_OK(chmod(pw, 0644));
    CHECK_INT(output_reload(f.o, err, sizeof err), PE_EINVAL);
    CHECK(strstr(err, pw) && strstr(err, "0644"));
    CHECK_INT(output_inflight(f.o), 20);
    CHECK_INT(f.s.resets, 0);
    CHECK_OK(chmod(pw, 0600));
    CHECK_OK(output_reload(f.o, err, sizeof err));
    CHECK_INT(f.s.resets, 1);
    CHECK_INT(output_inflight(f.o), 0);
    /* Still refused until a connection proves otherwise. */
    CHECK_INT(kstate(f.o).auth, OUTPUT_AUTH_AUTH_FAILED);
    teardown(&f);
}

/* Try to produce terminal 0 up to seq to; false while the output holds (PE_EAGAIN). */
static bool produce_held(struct output *o, struct sink *s, int64_t to)
{
    while (s->produced[0] < to) {
        int rc = produce_one(o, 0, s->produced[0] + 1);
        if (rc == PE_EAGAIN)
            return false;
        CHECK_OK(rc);
        s->produced[0]++;
    }
    return true;
}

/* A topic without Write: its records are reported failed (the bridge produces them again),
 * the state names the topic, producing is held for a pause instead of spinning, and once Kafka
 * takes them the refusal is over; nothing is missing or doubled. */
static void t_topic_not_authorized(void)
{
    struct fixture f;
    setup(&f, 0, NULL);
    pe_log_init("test", PE_LOG_OFF); /* the refusal is logged as an error, by design */
    produce_upto(f.o, &f.s, 1, 10);
    RUN_UNTIL(f.loop, all_delivered(&f.s, 1, 10), WAIT_MS);
    rd_kafka_mock_push_request_errors(f.m.mc, API_PRODUCE, 1,
                                      RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
    produce_upto(f.o, &f.s, 1, 20);
    RUN_UNTIL(f.loop, kstate(f.o).auth == OUTPUT_AUTH_TOPIC_NOT_AUTHORIZED, WAIT_MS);
    CHECK_STR(kstate(f.o).resource, "pos.sales");
    RUN_UNTIL(f.loop, output_inflight(f.o) == 0, WAIT_MS);
    CHECK(f.s.failed > 0);
    f.s.produced[0] = f.s.last[0]; /* as the bridge: again from the last delivered */
    int64_t t0 = pe_mono_ms();
    CHECK_INT(produce_one(f.o, 0, f.s.produced[0] + 1), PE_EAGAIN);
    RUN_UNTIL(f.loop, produce_held(f.o, &f.s, 20), WAIT_MS);
    CHECK(pe_mono_ms() - t0 >= 4000); /* held for the pause (KC_AUTH_RETRY_MS) */
    RUN_UNTIL(f.loop, all_delivered(&f.s, 1, 20), WAIT_MS);
    RUN_UNTIL(f.loop, kstate(f.o).auth == OUTPUT_AUTH_OK, WAIT_MS);
    CHECK(!f.s.out_of_order);
    check_topic(f.m.brokers, 1, 20);
    teardown(&f);
}

/* A reload (SIGHUP) swaps the producer, and producing goes on through the new one, exactly
 * once. (Records still in flight at a reload are produced again: at least once, as after a
 * restart, which is idempotent mode's promise. The reload gives a working producer a second to
 * deliver them first, which a slow board under QEMU may not manage, so this test reloads with
 * nothing in flight.) */
static void t_reload(void)
{
    struct fixture f;
    char err[512];
    setup(&f, 0, NULL);
    produce_upto(f.o, &f.s, 2, 10);
    RUN_UNTIL(f.loop, all_delivered(&f.s, 2, 10), WAIT_MS);
    produce_upto(f.o, &f.s, 2, 15);
    RUN_UNTIL(f.loop, all_delivered(&f.s, 2, 15), WAIT_MS);
    CHECK_OK(output_reload(f.o, err, sizeof err));
    CHECK_INT(f.s.resets, 1);
    CHECK_INT(output_inflight(f.o), 0);
    produce_upto(f.o, &f.s, 2, 30);
    RUN_UNTIL(f.loop, all_delivered(&f.s, 2, 30), WAIT_MS);
    CHECK(!f.s.out_of_order);
    CHECK_INT(f.s.failed, 0);
    check_topic(f.m.brokers, 2, 30);
    teardown(&f);
}

static void t_destroy_with_inflight(void)
{
    struct fixture f;
    setup(&f, 0, NULL);
    mock_all(&f.m, false);
    produce_upto(f.o, &f.s, 2, 30);
    CHECK_INT(output_inflight(f.o), 60);
    int64_t t0 = pe_mono_ms();
    output_destroy(f.o); /* does not wait for Kafka */
    CHECK(pe_mono_ms() - t0 < 5000);
    output_destroy(NULL);
    /* Nothing is reported from a destroyed producer, neither success nor failure. */
    CHECK_INT(f.s.delivered, 0);
    CHECK_INT(f.s.failed, 0);
    pe_loop_destroy(f.loop);
    mock_stop(&f.m);
}

/* ---- posedge-ctl reconcile against what the output produced ---- */

/*
 * The reconcile tests write real journals, produce their records through the output exactly
 * as the bridge would (topic by type, headers, key), add the faults under test, and run
 * posedge-ctl reconcile in this process with its stdout captured.
 */

static const char *const jtypes[] = {"shift_open", "sale", "inventory_receipt", "sale",
                                     "no_sale",    "sale", "x_report"};

static const char *topic_of(const char *type)
{
    if (!strcmp(type, "shift_open") || !strcmp(type, "x_report"))
        return "pos.reports";
    if (!strncmp(type, "inventory_", 10))
        return "pos.inventory";
    return "pos.sales";
}

static void make_journal(const char *path, const char *terminal, int n)
{
    char err[256];
    struct pe_journal *j;
    struct pe_rng *rng;
    struct pe_journal_opts jo = {.store = "s001", .terminal = terminal};
    CHECK_OK(pe_journal_open(path, &jo, &j, err, sizeof err));
    CHECK_OK(pe_rng_create("test_output", &rng));
    for (int i = 0; i < n; i++) {
        struct pe_event_meta m = {.ts_ms = TS0 + i * 1000};
        snprintf(m.store, sizeof m.store, "s001");
        snprintf(m.terminal, sizeof m.terminal, "%s", terminal);
        snprintf(m.operator_, sizeof m.operator_, "op1");
        CHECK_OK(pe_event_type_parse(jtypes[i % 7], &m.type));
        CHECK_OK(pe_rng_uuid(rng, m.id));
        cJSON *body = cJSON_CreateObject();
        CHECK_OK(pe_json_add_int(body, "n", i));
        struct pe_journal_appended a;
        CHECK_OK(pe_journal_begin(j));
        CHECK_OK(pe_journal_append(j, &m, body, &a));
        CHECK_OK(pe_journal_commit(j));
        cJSON_Delete(body);
    }
    pe_rng_destroy(rng);
    pe_journal_close(j);
}

static void count_delivered(void *ctx, const struct output_ref *ref, int err)
{
    (void)ref;
    CHECK_INT(err, 0);
    (*(int *)ctx)++;
}

enum fault { F_NONE, F_SKIP, F_TWICE, F_ALTER };

/* Produce a journal's records through a new output; fault(seq) says what to do with each. */
static void produce_journal(struct mock *m, const char *path, enum fault (*fault)(int64_t seq))
{
    char err[256];
    struct pe_loop *loop;
    struct output *o;
    struct pe_journal *j;
    struct pe_journal_iter *it;
    struct pe_journal_rec r;
    int delivered = 0, produced = 0;
    CHECK_OK(pe_loop_create(&loop));
    struct output_opts oo = {.mode = OUTPUT_IDEMPOTENT,
                             .brokers = m->brokers,
                             .on_delivered = count_delivered,
                             .ctx = &delivered};
    CHECK_OK(output_create(loop, &oo, &o, err, sizeof err));
    struct pe_journal_opts jo = {.readonly = true};
    CHECK_OK(pe_journal_open(path, &jo, &j, err, sizeof err));
    CHECK_OK(pe_journal_iter_open(j, 1, NULL, &it));
    while (pe_journal_iter_next(it, &r) == PE_OK) {
        enum fault f = fault ? fault(r.seq) : F_NONE;
        if (f == F_SKIP)
            continue;
        struct pe_event_meta meta;
        char hash[PE_SHA256_HEXLEN];
        CHECK_OK(pe_event_verify(r.record, r.len, 0, NULL, &meta, hash, NULL, NULL, 0));
        struct output_ref ref = {.seq = r.seq};
        snprintf(ref.store, sizeof ref.store, "%s", pe_journal_store(j));
        snprintf(ref.terminal, sizeof ref.terminal, "%s", pe_journal_terminal(j));
        char *copy = malloc(r.len);
        CHECK(copy != NULL);
        memcpy(copy, r.record, r.len);
        if (f == F_ALTER)
            copy[r.len / 2] ^= 0x01;
        for (int k = 0; k < (f == F_TWICE ? 2 : 1); k++, produced++)
            CHECK_OK(output_produce(o, topic_of(r.type), &ref, meta.id, r.type, NULL, meta.ts_ms,
                                    copy, r.len));
        free(copy);
    }
    pe_journal_iter_close(it);
    pe_journal_close(j);
    RUN_UNTIL(loop, delivered == produced, WAIT_MS);
    output_destroy(o);
    pe_loop_destroy(loop);
}

/* A record without headers, as a foreign producer might write it; or, with reason, a dead
 * letter as the bridge writes it. */
static void produce_raw(struct mock *m, const char *topic, const char *key, const char *value,
                        const char *reason)
{
    char why[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    CHECK(rd_kafka_conf_set(conf, "bootstrap.servers", m->brokers, why, sizeof why) == 0);
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    CHECK(rk != NULL);
    rd_kafka_headers_t *h = rd_kafka_headers_new(2);
    if (reason) {
        rd_kafka_header_add(h, "reason", -1, reason, -1);
        rd_kafka_header_add(h, "topic", -1, "posedge/v1/s001/t01/events", -1);
    }
    CHECK_INT(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                                RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                RD_KAFKA_V_END),
              0);
    CHECK_INT(rd_kafka_flush(rk, 30000), 0);
    rd_kafka_destroy(rk);
}

/* Run posedge-ctl reconcile with args; its stdout goes to out (cap bytes). Returns its status. */
static int reconcile(char *out, size_t cap, const char *const *args)
{
    char *argv[16];
    int argc = 0;
    argv[argc++] = "reconcile";
    for (; args[argc - 1] && argc < 15; argc++)
        argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    const char *path = pe_test_path(3, "reconcile.out");
    fflush(stdout);
    int saved = dup(1);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(saved >= 0 && fd >= 0);
    dup2(fd, 1);
    close(fd);
    int status = ctl_reconcile(argc, argv);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
    return status;
}

static const char *last_line(const char *out)
{
    static char line[256];
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '\n')
        n--;
    size_t b = n;
    while (b > 0 && out[b - 1] != '\n')
        b--;
    snprintf(line, sizeof line, "%.*s", (int)(n - b), out + b);
    return line;
}

#define CHECK_HAS(out, s)                                                                          \
    do {                                                                                           \
        if (!strstr((out), (s)))                                                                   \
            pe_test_fail(__FILE__, __LINE__, "output lacks \"%s\":\n%s", (s), (out));              \
    } while (0)

static void t_reconcile_clean(void)
{
    struct mock m;
    static char out[8192];
    pe_log_init("test", PE_LOG_WARN);
    mock_start(&m, 3);
    const char *j1 = pe_test_path(0, "t01.db"), *j2 = pe_test_path(1, "t02.db");
    make_journal(j1, "t01", 40);
    make_journal(j2, "t02", 15);
    produce_journal(&m, j1, NULL);
    produce_journal(&m, j2, NULL);
    const char *args[] = {"--brokers", m.brokers, j1, j2, NULL};
    int st = reconcile(out, sizeof out, args);
    if (st != 0)
        pe_test_fail(__FILE__, __LINE__, "status %d:\n%s", st, out);
    CHECK_STR(last_line(out), "missing=0 duplicates=0 mismatched=0");
    CHECK_HAS(out, "s001/t01: journal=40 kafka=40 missing=0 duplicates=0 mismatched=0 "
                   "out_of_order=0");
    CHECK_HAS(out, "s001/t02: journal=15 kafka=15 missing=0");
    /* One topic only: just the events that route there are compared. */
    const char *args2[] = {"--brokers", m.brokers, "--topic", "pos.reports", j1, NULL};
    CHECK_INT(reconcile(out, sizeof out, args2), 0);
    CHECK_HAS(out, "s001/t01: journal=11 kafka=11 missing=0");
    CHECK_STR(last_line(out), "missing=0 duplicates=0 mismatched=0");
    mock_stop(&m);
}

static enum fault faults_t01(int64_t seq)
{
    return seq == 5    ? F_SKIP
           : seq == 8  ? F_TWICE
           : seq == 9  ? F_ALTER
           : seq == 30 ? F_SKIP
                       : F_NONE;
}

static void t_reconcile_finds_faults(void)
{
    struct mock m;
    static char out[8192];
    pe_log_init("test", PE_LOG_WARN);
    mock_start(&m, 3);
    const char *j1 = pe_test_path(0, "t01.db"), *j2 = pe_test_path(1, "t02.db");
    const char *j9 = pe_test_path(2, "t09.db");
    make_journal(j1, "t01", 40);
    make_journal(j2, "t02", 10);
    make_journal(j9, "t09", 6);
    produce_journal(&m, j1, faults_t01);
    produce_journal(&m, j9, NULL); /* its journal is not given: an unknown terminal */
    /* t02 seq 2 arrives twice: once from the output, once without headers (matched by its
     * JSON value, and byte for byte the journal's record). A record that names no terminal at
     * all is reported, not counted. */
    produce_journal(&m, j2, NULL);
    char *rec = NULL;
    size_t len = 0;
    char err[256];
    struct pe_journal *j;
    struct pe_journal_opts jo = {.readonly = true};
    CHECK_OK(pe_journal_open(j2, &jo, &j, err, sizeof err));
    CHECK_OK(pe_journal_get(j, 2, &rec, &len));
    pe_journal_close(j);
    produce_raw(&m, "pos.sales", "s001/t02", rec, NULL);
    /* The same bytes again as a dead letter (here on pos.sales): not a duplicate. */
    produce_raw(&m, "pos.sales", "s001/t02", rec, "seq 2 is a duplicate");
    free(rec);
    produce_raw(&m, "pos.sales", "x", "not json at all", NULL);
    const char *args[] = {"--brokers", m.brokers, "--timeout", "30", j2, j1, NULL};
    int st = reconcile(out, sizeof out, args);
    if (st != 1)
        pe_test_fail(__FILE__, __LINE__, "status %d:\n%s", st, out);
    CHECK_STR(last_line(out), "missing=2 duplicates=2 mismatched=1");
    CHECK_HAS(out, "s001/t01: journal=40 kafka=39 missing=2 duplicates=1 mismatched=1 "
                   "out_of_order=0");
    CHECK_HAS(out, "    missing seqs: 5, 30\n");
    CHECK_HAS(out, "    duplicate seqs: 8\n");
    CHECK_HAS(out, "    mismatched seqs: 9\n");
    CHECK_HAS(out, "s001/t02: journal=10 kafka=11 missing=0 duplicates=1 mismatched=0");
    CHECK_HAS(out, "s001/t09: unknown terminal (no journal given): kafka=6");
    CHECK_HAS(out, "(1 without store/terminal/seq, not counted) (1 dead letter, not compared)");
    mock_stop(&m);
}

static void t_reconcile_out_of_order(void)
{
    struct mock m;
    static char out[8192];
    pe_log_init("test", PE_LOG_WARN);
    mock_start(&m, 1);
    const char *j1 = pe_test_path(0, "t01.db");
    make_journal(j1, "t01", 4);
    /* seq 2 and 4 are sales, in the same partition; write 4 before 2. */
    char err[256], *r2, *r4;
    size_t l2, l4;
    struct pe_journal *j;
    struct pe_journal_opts jo = {.readonly = true};
    CHECK_OK(pe_journal_open(j1, &jo, &j, err, sizeof err));
    CHECK_OK(pe_journal_get(j, 2, &r2, &l2));
    CHECK_OK(pe_journal_get(j, 4, &r4, &l4));
    pe_journal_close(j);
    produce_raw(&m, "pos.sales", "s001/t01", r4, NULL);
    produce_raw(&m, "pos.sales", "s001/t01", r2, NULL);
    free(r2);
    free(r4);
    const char *args[] = {"--brokers", m.brokers, "--topic", "pos.sales", j1, NULL};
    CHECK_INT(reconcile(out, sizeof out, args), 0);
    CHECK_HAS(out, "s001/t01: journal=2 kafka=2 missing=0 duplicates=0 mismatched=0 "
                   "out_of_order=1");
    mock_stop(&m);
}

static void t_reconcile_refusals(void)
{
    struct mock m;
    static char out[8192];
    pe_log_init("test", PE_LOG_ERROR);
    mock_start(&m, 1);
    const char *j1 = pe_test_path(0, "a.db"), *j2 = pe_test_path(1, "b.db");
    make_journal(j1, "t01", 2);
    make_journal(j2, "t01", 2);
    const char *no_brokers[] = {j1, NULL};
    CHECK_INT(reconcile(out, sizeof out, no_brokers), 2);
    const char *no_journal[] = {"--brokers", m.brokers, NULL};
    CHECK_INT(reconcile(out, sizeof out, no_journal), 2);
    const char *twice[] = {"--brokers", m.brokers, j1, j2, NULL};
    CHECK_INT(reconcile(out, sizeof out, twice), 2);
    const char *absent[] = {"--brokers", m.brokers, pe_test_path(2, "absent.db"), NULL};
    CHECK_INT(reconcile(out, sizeof out, absent), 2);
    const char *bad_timeout[] = {"--brokers", m.brokers, "--timeout", "0", j1, NULL};
    CHECK_INT(reconcile(out, sizeof out, bad_timeout), 2);
    CHECK_STR(out, "");
    mock_stop(&m);
}

/* Fetch requests that keep failing: the topics are never read to their end. */
static void t_reconcile_times_out(void)
{
    struct mock m;
    static char out[8192];
    pe_log_init("test", PE_LOG_ERROR);
    mock_start(&m, 3);
    const char *j1 = pe_test_path(0, "t01.db");
    make_journal(j1, "t01", 3);
    produce_journal(&m, j1, NULL);
    rd_kafka_resp_err_t errs[2000];
    for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
        errs[i] = RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION;
    rd_kafka_mock_push_request_errors_array(m.mc, API_FETCH, sizeof errs / sizeof errs[0], errs);
    const char *args[] = {"--brokers", m.brokers, "--timeout", "2", j1, NULL};
    int64_t t0 = pe_mono_ms();
    CHECK_INT(reconcile(out, sizeof out, args), 2);
    CHECK(pe_mono_ms() - t0 < 10000);
    CHECK_STR(out, "");
    mock_stop(&m);
}

static const struct pe_test tests[] = {
    {"delivers_in_order", t_delivers_in_order},
    {"broker_outage", t_broker_outage},
    {"kafka_state", t_kafka_state},
    {"stats_parse", t_stats_parse},
    {"topic_handles", t_topic_handles},
    {"produce_errors_retried", t_produce_errors_retried},
    {"inflight_limit", t_inflight_limit},
    {"bad_input_refused", t_bad_input_refused},
    {"bad_property_named", t_bad_property_named},
    {"dead_letter_headers", t_dead_letter_headers},
    {"dead_letter_too_large_is_cut", t_dead_letter_too_large_is_cut},
    {"flush", t_flush},
    {"fatal_error_recreates", t_fatal_error_recreates},
    {"fatal_before_first_delivery", t_fatal_before_first_delivery},
    {"destroy_with_inflight", t_destroy_with_inflight},
    {"auth_failed_keeps_everything", t_auth_failed_keeps_everything},
    {"topic_not_authorized", t_topic_not_authorized},
    {"reload", t_reload},
    {"reconcile_clean", t_reconcile_clean},
    {"reconcile_finds_faults", t_reconcile_finds_faults},
    {"reconcile_out_of_order", t_reconcile_out_of_order},
    {"reconcile_refusals", t_reconcile_refusals},
    {"reconcile_times_out", t_reconcile_times_out},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("output", tests, argc, argv);
}
