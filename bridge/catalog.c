/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog.c - the bridge's catalog consumer and server (see catalog.h).
 *
 * Threads. Everything runs on the bridge's loop but one blocking call: librdkafka 2.0 can only
 * tell a topic's partitions with rd_kafka_metadata, which waits for Kafka (seconds while it is
 * away). That call runs on a short-lived discovery thread, which touches nothing but the
 * consumer handle (thread-safe) and its own result struct, and writes one byte on a pipe when
 * done; the loop then joins it (after which its result is safely visible) and assigns. There
 * is at most one discovery thread at a time; it is joined before the consumer is destroyed.
 *
 * Consuming. The consumer's queue (librdkafka's main queue forwarded into it, so logs and
 * errors come the same way) signals on a second pipe when it goes from empty to not empty; a
 * timer polls as well, as a safety net. Each turn takes what the queue holds, up to BATCH_MAX
 * records or BUDGET_MS of the loop's time, into one batch (catalog_store.h): one spool
 * transaction, committed before the turn ends, which stages the records. A turn cut short
 * plans the next at once. When the spool is in another transaction (the intake's group
 * commit), the record in hand is kept and the turn tried again shortly. When a batch cannot be
 * committed, the consumer is assigned again from the positions in the spool, so what the batch
 * held is read again.
 *
 * Versions. A batch applies the stage (a new version) only at a point where the bridge has
 * read everything HQ committed so far (at_end): the queue drained, and every assigned
 * partition of both topics consumed up to the high watermark of its last fetch (librdkafka
 * moves the position past a commit marker), or at its end (PARTITION_EOF, which under
 * read_committed is the last stable offset) with the high watermark no further. An open or
 * half-committed transaction keeps records above the stable offset: Kafka makes a commit
 * visible partition by partition, and a partition that shows none of a transaction yet while
 * another shows all of it has its part there, so the bridge waits. So a version holds the
 * whole of each transaction HQ committed, or none of it, as far as the last fetch of each
 * partition tells (with several brokers, the fetches of two partitions are not one moment). A
 * stream that never reaches its end, or a transaction that stays open, cannot hold versions
 * back for longer than STAGE_MAX_MS (or STAGE_MAX_RECORDS staged): then the stage is applied
 * as it is (catalog.stage_cut).
 *
 * The invariant: the consumer's position of every partition is never behind the spool's and
 * is ahead of it only by what the open batch holds; the spool's is where a restart begins.
 */
#include "bridge/catalog.h"

#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge/catalog_serve.h"
#include "bridge/catalog_store.h"
#include "bridge/kafka_common.h"
#include "bridge/telemetry.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/mqtt.h"
#include "posedge/spool.h"

#define TOPIC_MAX 256
#define MAX_PARTS 128          /* partitions of one catalog topic */
#define BATCH_MAX 5000         /* records of one batch */
#define BUDGET_MS 200          /* loop time one turn may take */
#define POLL_MS 500            /* the safety-net poll */
#define BUSY_RETRY_MS 5        /* the spool is in the intake's transaction */
#define FAIL_RETRY_MS 1000     /* a batch failed: read again from the spool's positions */
#define DISCOVER_WAIT_MS 2000  /* one metadata call (a stop waits for it at most this long) */
#define DISCOVER_OK_MS 60000   /* look for new partitions this often */
#define DISCOVER_RETRY_MS 5000 /* a topic missing, or Kafka away */
#define PUBLISH_MIN_MS 100     /* the version document goes out at most this often */
#define REJECT_RECORD_MAX 65536 /* bytes of a refused value copied into its reject */
#define STAGE_MAX_MS 10000     /* a stage waits for the topics' end at most this long */
#define STAGE_MAX_RECORDS 100000 /* or until it holds this many records */

/* One run of the discovery thread: its input and result. */
struct discovery {
    pthread_t thread;
    bool running;                       /* started and not yet joined */
    rd_kafka_t *rk;                     /* the consumer asked (outlives the thread) */
    const char *topics[CATALOG_KIND__COUNT]; /* borrowed from struct catalog */
    int err[CATALOG_KIND__COUNT];       /* rd_kafka_resp_err_t per topic, 0: found */
    int n[CATALOG_KIND__COUNT];         /* partitions found */
    int32_t ids[CATALOG_KIND__COUNT][MAX_PARTS];
    int wake;                           /* the pipe's write end */
    atomic_bool stop;                   /* the loop waits for it: no further call */
};

/* A partition assigned. */
struct part {
    enum catalog_kind kind;
    int32_t id;
    bool eof;    /* at its end since the last record */
    int64_t end; /* the offset of that end (its last stable offset) */
};

struct catalog {
    struct pe_loop *loop;
    struct pe_spool *spool;   /* borrowed */
    struct telemetry *tele;   /* borrowed: rejects */
    struct pe_mqtt *mqtt;     /* borrowed, NULL while there is none */
    struct catalog_store *cs; /* the store's catalog in the spool */
    char store[PE_ID_MAX];
    char topics[CATALOG_KIND__COUNT][TOPIC_MAX]; /* by kind */
    char rejects[TOPIC_MAX];
    char version_topic[PE_TOPIC_MAX];
    char *brokers;
    cJSON *props;                    /* owned copy */
    struct pe_kafka_security sec;
    rd_kafka_t *rk;                  /* the consumer */
    rd_kafka_queue_t *q;             /* its queue, with the io event on qpipe[1] */
    int qpipe[2];                    /* consumer queue wake-ups */
    int dpipe[2];                    /* discovery done */
    struct discovery disc;
    struct part parts[2 * MAX_PARTS];
    int nparts;
    bool assigned;                   /* parts is the consumer's assignment */
    bool caught_up;                  /* every partition at its end (said once per change) */
    int64_t stage_mono;              /* when the stage began (pe_mono_ms), 0: empty */
    bool stage_waits;                /* at the end, but a transaction open: said once */
    rd_kafka_message_t *held;        /* read, but the spool was busy: first of the next turn */
    int64_t poll_timer, turn_timer, disc_timer, publish_timer; /* 0 when none */
    int64_t turn_due;                /* when the planned turn runs (pe_mono_ms) */
    int64_t published_mono;          /* when the version document last went out */
    int last_err;                    /* the last Kafka error said (once per change) */
    int topic_err[CATALOG_KIND__COUNT]; /* the last discovery's per topic, said once */
    struct catalog_stats st;
};

static void turn(void *ctx);
static void plan_turn(struct catalog *c, int64_t delay_ms);
static void plan_discovery(struct catalog *c, int64_t delay_ms);

/* ---- Kafka's logs and errors ---- */

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    char q[512];
    (void)rk;
    /* Connection failures repeat while Kafka is away and come as errors too: info. So do the
     * event producers' properties (kafka.properties), which this consumer leaves aside. */
    enum pe_log_level lvl = level <= 4 ? PE_LOG_WARN : level <= 6 ? PE_LOG_INFO : PE_LOG_DEBUG;
    if (lvl == PE_LOG_WARN && (strcmp(fac, "FAIL") == 0 || strcmp(fac, "FATAL") == 0 ||
                               strcmp(fac, "CONFWARN") == 0))
        lvl = PE_LOG_INFO;
    pe_log(lvl, "catalog.librdkafka", "fac=%s msg=\"%s\"", fac, pe_log_quote(buf, q, sizeof q));
}

/* Say a Kafka error once per change of error: refusals as errors, Kafka away as a warning. */
static void say_error(struct catalog *c, int err, const char *reason)
{
    char q[512];
    if (err == RD_KAFKA_RESP_ERR__TRANSPORT) {
        /* One connection lost (it is tried again): Kafka away is ALL_BROKERS_DOWN. */
        pe_debug("catalog.kafka_transport", "reason=\"%s\"", pe_log_quote(reason, q, sizeof q));
        return;
    }
    if (err == c->last_err)
        return;
    c->last_err = err;
    enum output_auth a = kc_auth_of(err);
    if (a != OUTPUT_AUTH_OK)
        pe_error("catalog.kafka_refused",
                 "err=%s reason=\"%s\" (the bridge's Kafka user needs Read on %s and %s and on "
                 "the group %s, Write on %s)",
                 rd_kafka_err2name((rd_kafka_resp_err_t)err), pe_log_quote(reason, q, sizeof q),
                 c->topics[CATALOG_ITEM], c->topics[CATALOG_PROMOTION], CATALOG_GROUP,
                 c->rejects);
    else if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        pe_warn("catalog.kafka_down",
                "err=%s (serving version %lld from the spool; reading on when Kafka is back)",
                rd_kafka_err2name((rd_kafka_resp_err_t)err),
                (long long)catalog_store_version(c->cs)->version);
    else
        pe_info("catalog.kafka_error", "err=%s reason=\"%s\"",
                rd_kafka_err2name((rd_kafka_resp_err_t)err), pe_log_quote(reason, q, sizeof q));
}

/* Kafka answered: an error said before is over. */
static void kafka_ok(struct catalog *c)
{
    if (c->last_err == 0)
        return;
    pe_info("catalog.kafka_ok", "was=%s", rd_kafka_err2name((rd_kafka_resp_err_t)c->last_err));
    c->last_err = 0;
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    (void)rk;
    say_error(opaque, err, reason);
}

/* ---- the version document ---- */

static void publish_version(void *ctx)
{
    struct catalog *c = ctx;
    c->publish_timer = 0;
    if (!c->mqtt || !pe_mqtt_connected(c->mqtt))
        return; /* on connect */
    const struct catalog_version *v = catalog_store_version(c->cs);
    char *doc = catalog_serve_version_doc(v);
    if (!doc) {
        pe_error("catalog.version_doc", "err=ENOMEM");
        return;
    }
    if (pe_mqtt_publish(c->mqtt, c->version_topic, doc, strlen(doc), 1, true, NULL) == PE_OK)
        c->published_mono = pe_mono_ms();
    free(doc);
}

/* A new version: out at once, or PUBLISH_MIN_MS after the last. A version is made only where
 * everything committed has been read, so a backlog makes one; the bound is for HQ publishing
 * many small transactions back to back: the tills fetch the last of a burst, and a till that
 * applies one still gets the next within PUBLISH_MIN_MS. */
static void plan_publish(struct catalog *c)
{
    if (c->publish_timer)
        return;
    int64_t wait = c->published_mono + PUBLISH_MIN_MS - pe_mono_ms();
    pe_loop_timer(c->loop, wait > 0 ? wait : 0, publish_version, c, &c->publish_timer);
}

/* ---- rejects ---- */

/* Length of the well-formed UTF-8 sequence at s (n bytes left), 0 when there is none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    if (s[0] < 0x80)
        return s[0] ? 1 : 0;
    size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;
    if (len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    unsigned cp = len == 2 ? (s[0] & 0x1fu) << 6 | (s[1] & 0x3fu)
                  : len == 3 ? (s[0] & 0x0fu) << 12 | (s[1] & 0x3fu) << 6 | (s[2] & 0x3fu)
                             : (s[0] & 0x07u) << 18 | (s[1] & 0x3fu) << 12 |
                                   (s[2] & 0x3fu) << 6 | (s[3] & 0x3fu);
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

/* The bytes as a C string of valid UTF-8 (malloc'd): what is not is '?', at most max bytes. */
static char *utf8_clean(const void *p, size_t n, size_t max)
{
    const unsigned char *s = p;
    if (n > max)
        n = max;
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n;) {
        size_t l = utf8_len(s + i, n - i);
        if (l == 0) {
            *o++ = '?';
            i++;
        } else {
            memcpy(o, s + i, l);
            o += l;
            i += l;
        }
    }
    *o = '\0';
    return out;
}

/* A refused record to the rejects topic: key as it came, value {"topic","partition",
 * "offset","reason","record"}, header reason. Best effort (the telemetry producer). */
static void reject_record(struct catalog *c, const char *topic, int32_t partition,
                          int64_t offset, const void *k, size_t klen, const void *val,
                          size_t len, const char *why)
{
    char *record = val ? utf8_clean(val, len, REJECT_RECORD_MAX) : NULL;
    char *key = utf8_clean(k ? k : "", k ? klen : 0, 200), q[300];
    c->st.refused++;
    pe_warn("catalog.refused", "topic=%s partition=%" PRId32 " offset=%" PRId64
            " key=\"%s\" reason=\"%s\"",
            topic, partition, offset, key ? pe_log_quote(key, q, sizeof q) : "?", why);
    cJSON *o = cJSON_CreateObject();
    char *out = NULL;
    if (o) {
        pe_json_add_str(o, "topic", topic);
        pe_json_add_int(o, "partition", partition);
        pe_json_add_int(o, "offset", offset);
        pe_json_add_str(o, "reason", why);
        if (record)
            pe_json_add_str(o, "record", record);
        else
            cJSON_AddNullToObject(o, "record");
        if (val && len > REJECT_RECORD_MAX)
            pe_json_add_int(o, "truncated", (int64_t)len);
        out = cJSON_PrintUnformatted(o);
    }
    if (!out || telemetry_produce_keyed(c->tele, c->rejects, k, k ? klen : 0, out, strlen(out),
                                        0, "reason", why) != PE_OK)
        pe_error("catalog.reject_lost", "topic=%s offset=%" PRId64 " (counted and logged only)",
                 topic, offset);
    cJSON_Delete(o);
    free(out);
    free(record);
    free(key);
}

static void reject(struct catalog *c, const rd_kafka_message_t *m, const char *topic,
                   const char *why)
{
    reject_record(c, topic, m->partition, m->offset, m->key, m->key ? m->key_len : 0,
                  m->payload, m->len, why);
}

/* catalog_refused_fn: a record refused as the stage is applied (its barcodes). */
static void refused_at_apply(void *ctx, const struct catalog_refusal *r)
{
    struct catalog *c = ctx;
    reject_record(c, c->topics[r->kind], r->partition, r->offset, r->key, strlen(r->key),
                  r->record, r->record ? strlen(r->record) : 0, r->why);
}

/* ---- partitions ---- */

static struct part *part_of(struct catalog *c, enum catalog_kind k, int32_t id)
{
    for (int i = 0; i < c->nparts; i++)
        if (c->parts[i].kind == k && c->parts[i].id == id)
            return &c->parts[i];
    return NULL;
}

static int kind_of(const struct catalog *c, const rd_kafka_message_t *m)
{
    const char *t = m->rkt ? rd_kafka_topic_name(m->rkt) : NULL;
    for (int k = 0; t && k < CATALOG_KIND__COUNT; k++)
        if (strcmp(t, c->topics[k]) == 0)
            return k;
    return -1;
}

/* Assign c->parts from the positions in the spool (a partition without one from its
 * beginning). Anything read and not committed is dropped and read again. */
static int assign(struct catalog *c)
{
    if (c->held) {
        rd_kafka_message_destroy(c->held);
        c->held = NULL;
    }
    rd_kafka_topic_partition_list_t *l =
        rd_kafka_topic_partition_list_new(c->nparts ? c->nparts : 1);
    if (!l)
        return PE_ENOMEM;
    int rc = PE_OK;
    for (int i = 0; i < c->nparts && rc == PE_OK; i++) {
        int64_t next = -1;
        const char *t = c->topics[c->parts[i].kind];
        rc = catalog_store_position(c->cs, t, c->parts[i].id, &next);
        rd_kafka_topic_partition_list_add(l, t, c->parts[i].id)->offset =
            next >= 0 ? next : RD_KAFKA_OFFSET_BEGINNING;
        c->parts[i].eof = false;
    }
    rd_kafka_resp_err_t e = rc == PE_OK ? rd_kafka_assign(c->rk, l) : RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_destroy(l);
    if (rc == PE_OK && e) {
        pe_error("catalog.assign", "err=%s", rd_kafka_err2name(e));
        rc = PE_EIO;
    }
    c->assigned = rc == PE_OK;
    c->caught_up = false;
    if (rc == PE_OK) {
        pe_info("catalog.assigned", "topics=%s,%s partitions=%d version=%lld",
                c->topics[CATALOG_ITEM], c->topics[CATALOG_PROMOTION], c->nparts,
                (long long)catalog_store_version(c->cs)->version);
        plan_turn(c, 0);
    }
    return rc;
}

/* ---- discovery (the one blocking call, on its own thread) ---- */

static void *discover(void *arg)
{
    struct discovery *d = arg;
    for (int k = 0; k < CATALOG_KIND__COUNT; k++) {
        const struct rd_kafka_metadata *md = NULL;
        if (atomic_load(&d->stop)) {
            d->err[k] = RD_KAFKA_RESP_ERR__DESTROY;
            continue;
        }
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(d->rk, d->topics[k], NULL);
        rd_kafka_resp_err_t e =
            rkt ? rd_kafka_metadata(d->rk, 0, rkt, &md, DISCOVER_WAIT_MS) : RD_KAFKA_RESP_ERR__FAIL;
        d->n[k] = 0;
        if (!e && (md->topic_cnt != 1 || md->topics[0].err))
            e = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        if (!e && md->topics[0].partition_cnt == 0)
            e = RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        for (int i = 0; !e && i < md->topics[0].partition_cnt && i < MAX_PARTS; i++)
            d->ids[k][d->n[k]++] = md->topics[0].partitions[i].id;
        d->err[k] = e;
        if (md)
            rd_kafka_metadata_destroy(md);
        if (rkt)
            rd_kafka_topic_destroy(rkt);
    }
    char one = 1;
    while (write(d->wake, &one, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

static void start_discovery(void *ctx)
{
    struct catalog *c = ctx;
    c->disc_timer = 0;
    if (c->disc.running || !c->rk)
        return;
    c->disc.rk = c->rk;
    c->disc.wake = c->dpipe[1];
    atomic_store(&c->disc.stop, false);
    for (int k = 0; k < CATALOG_KIND__COUNT; k++)
        c->disc.topics[k] = c->topics[k];
    if (pthread_create(&c->disc.thread, NULL, discover, &c->disc) != 0) {
        pe_error("catalog.discover", "err=\"pthread_create: %s\"", strerror(errno));
        plan_discovery(c, DISCOVER_RETRY_MS);
        return;
    }
    c->disc.running = true;
}

static void plan_discovery(struct catalog *c, int64_t delay_ms)
{
    if (c->disc_timer)
        pe_loop_timer_cancel(c->loop, c->disc_timer);
    c->disc_timer = 0;
    pe_loop_timer(c->loop, delay_ms, start_discovery, c, &c->disc_timer);
}

static void join_discovery(struct catalog *c)
{
    if (!c->disc.running)
        return;
    atomic_store(&c->disc.stop, true);
    pthread_join(c->disc.thread, NULL);
    c->disc.running = false;
    kc_drain_pipe(c->dpipe[0]);
}

/* The discovery thread is done: take its partitions, and assign when they changed. */
static void on_discovered(int fd, short revents, void *ctx)
{
    struct catalog *c = ctx;
    (void)fd;
    (void)revents;
    kc_drain_pipe(c->dpipe[0]);
    if (!c->disc.running)
        return;
    join_discovery(c);
    bool all = true;
    struct part found[2 * MAX_PARTS];
    int n = 0;
    for (int k = 0; k < CATALOG_KIND__COUNT; k++) {
        int e = c->disc.err[k];
        all = all && !e;
        if (e != c->topic_err[k]) {
            if (!e)
                pe_info("catalog.topic", "topic=%s partitions=%d", c->topics[k], c->disc.n[k]);
            else if (e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
                     e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
                pe_warn("catalog.topic_missing",
                        "topic=%s (not in Kafka yet: looked for again every %d s)", c->topics[k],
                        DISCOVER_RETRY_MS / 1000);
            else
                say_error(c, e, "metadata");
            c->topic_err[k] = e;
        }
        for (int i = 0; !e && i < c->disc.n[k]; i++)
            found[n++] = (struct part){.kind = (enum catalog_kind)k, .id = c->disc.ids[k][i]};
    }
    if (all)
        kafka_ok(c);
    /* A topic that could not be looked at keeps the partitions it had. */
    for (int i = 0; i < c->nparts; i++) {
        bool there = false;
        for (int j = 0; j < n && !there; j++)
            there = found[j].kind == c->parts[i].kind && found[j].id == c->parts[i].id;
        if (!there && c->disc.err[c->parts[i].kind] && n < 2 * MAX_PARTS)
            found[n++] = c->parts[i];
    }
    bool same = n == c->nparts && c->assigned;
    for (int j = 0; j < n && same; j++)
        same = part_of(c, found[j].kind, found[j].id) != NULL;
    if (!same) {
        memcpy(c->parts, found, (size_t)n * sizeof *found);
        c->nparts = n;
        if (assign(c) != PE_OK)
            all = false;
    }
    plan_discovery(c, all ? DISCOVER_OK_MS : DISCOVER_RETRY_MS);
}

/* ---- consuming ---- */

static void plan_turn(struct catalog *c, int64_t delay_ms)
{
    int64_t due = pe_mono_ms() + delay_ms;
    if (c->turn_timer) {
        if (c->turn_due <= due)
            return; /* one is planned already, as soon or sooner */
        pe_loop_timer_cancel(c->loop, c->turn_timer);
    }
    c->turn_timer = 0;
    c->turn_due = due;
    pe_loop_timer(c->loop, delay_ms, turn, c, &c->turn_timer);
}

/* An error message of the consumer's queue. */
static void queue_error(struct catalog *c, rd_kafka_message_t *m)
{
    int k = kind_of(c, m);
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        struct part *p = k >= 0 ? part_of(c, (enum catalog_kind)k, m->partition) : NULL;
        kafka_ok(c);
        if (p) {
            p->eof = true; /* said by check_caught_up once what was read before is committed */
            p->end = m->offset;
        }
        return;
    }
    if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
        m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
        m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        plan_discovery(c, DISCOVER_RETRY_MS);
    say_error(c, m->err, rd_kafka_message_errstr(m));
}

/* Every partition at its end, with no transaction open above it (see the file's top): the
 * bridge has read everything HQ committed so far. A partition is there when what was consumed
 * of it reaches its high watermark (librdkafka moves the position past a commit marker), or
 * when it said its end (the last stable offset) and the high watermark is no further. *open
 * (may be NULL) says whether a transaction open above an end keeps it from being so. */
static bool at_end(struct catalog *c, bool *open)
{
    if (open)
        *open = false;
    if (c->nparts == 0 || !c->rk)
        return false;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(c->nparts);
    if (!l)
        return false;
    for (int i = 0; i < c->nparts; i++)
        rd_kafka_topic_partition_list_add(l, c->topics[c->parts[i].kind], c->parts[i].id);
    bool all = rd_kafka_position(c->rk, l) == RD_KAFKA_RESP_ERR_NO_ERROR;
    for (int i = 0; i < c->nparts && all; i++) {
        const struct part *p = &c->parts[i];
        int64_t lo = -1, hi = -1, pos = l->elems[i].offset;
        if (rd_kafka_get_watermark_offsets(c->rk, c->topics[p->kind], p->id, &lo, &hi))
            hi = -1;
        if (pos >= 0 && hi >= 0 && pos >= hi)
            continue; /* consumed up to the high watermark */
        if (p->eof && hi > p->end && open)
            *open = true;
        all = p->eof && hi <= p->end;
    }
    rd_kafka_topic_partition_list_destroy(l);
    return all;
}

/* Whether the open batch applies the stage: at the end (looked at only when the queue is
 * drained: the ends it said are then all taken), or the stage waited long enough. */
static bool apply_now(struct catalog *c, bool drained)
{
    int64_t staged = catalog_store_staged(c->cs);
    if (staged == 0)
        return false;
    if (drained && at_end(c, NULL))
        return true;
    int64_t age = c->stage_mono ? pe_mono_ms() - c->stage_mono : 0;
    if (age < STAGE_MAX_MS && staged < STAGE_MAX_RECORDS)
        return false;
    pe_info("catalog.stage_cut",
            "staged=%lld age_ms=%lld (the topics' end not reached within %d s or %d records: "
            "a version of what is read so far)",
            (long long)staged, (long long)age, STAGE_MAX_MS / 1000, STAGE_MAX_RECORDS);
    return true;
}

/* Every partition at its end, everything before committed and applied: said once. */
static void check_caught_up(struct catalog *c)
{
    bool open = false;
    bool all = at_end(c, &open) && catalog_store_staged(c->cs) == 0;
    if (open && !c->stage_waits && catalog_store_staged(c->cs) > 0)
        pe_info("catalog.stage_waits",
                "staged=%lld (a transaction is open in the topics: the stage waits for it, "
                "at most %d s)",
                (long long)catalog_store_staged(c->cs), STAGE_MAX_MS / 1000);
    c->stage_waits = open;
    if (all && !c->caught_up) {
        const struct catalog_version *v = catalog_store_version(c->cs);
        pe_info("catalog.caught_up", "version=%lld items=%lld promotions=%lld hash=%.16s",
                (long long)v->version, (long long)v->items, (long long)v->promotions, v->hash);
    }
    c->caught_up = all;
}

/* The batch of records read (staged of them staged, applied the stage's records when it
 * applied it, else -1) is committed: a new version said and announced, the stage's age
 * kept. */
static void committed(struct catalog *c, bool changed, int64_t records, int64_t staged,
                      int64_t applied)
{
    c->st.batches++;
    if (catalog_store_staged(c->cs) == 0)
        c->stage_mono = 0;
    else if (!c->stage_mono)
        c->stage_mono = pe_mono_ms();
    if (staged > 0 && applied < 0)
        pe_info("catalog.staged", "records=%" PRId64 " staged=%lld version=%lld", records,
                (long long)catalog_store_staged(c->cs),
                (long long)catalog_store_version(c->cs)->version);
    if (changed) {
        const struct catalog_version *v = catalog_store_version(c->cs);
        c->st.versions++;
        pe_info("catalog.version",
                "version=%lld items=%lld promotions=%lld hash=%s records=%" PRId64
                " refused_total=%lld",
                (long long)v->version, (long long)v->items, (long long)v->promotions, v->hash,
                applied, (long long)c->st.refused);
        plan_publish(c);
    }
}

/* A batch that failed: nothing of it kept, read again from the spool's positions. */
static void batch_failed(struct catalog *c, int rc, int64_t n)
{
    pe_error("catalog.batch_failed",
             "err=%s records=%" PRId64 " (nothing of it kept: read again from the spool's "
             "positions)",
             pe_errname(rc), n);
    assign(c);
    plan_turn(c, FAIL_RETRY_MS);
}

/* One turn: a batch of what the queue holds, committed; the stage applied with it when the
 * topics' end is reached (or the stage is old). */
static void turn(void *ctx)
{
    struct catalog *c = ctx;
    char why[256];
    c->turn_timer = 0;
    if (!c->rk)
        return;
    rd_kafka_message_t *m = c->held;
    c->held = NULL;
    /* Error messages and EOFs need no transaction: take them before opening one. */
    while (!m && (m = rd_kafka_consumer_poll(c->rk, 0)) && m->err) {
        queue_error(c, m);
        rd_kafka_message_destroy(m);
        m = NULL;
    }
    if (!m && !apply_now(c, true)) {
        check_caught_up(c);
        return;
    }
    int64_t staged_before = catalog_store_staged(c->cs);
    int rc = catalog_store_begin(c->cs);
    if (rc) {
        c->held = m;
        if (rc != PE_ESTATE)
            pe_error("catalog.spool_begin", "err=%s", pe_errname(rc));
        plan_turn(c, rc == PE_ESTATE ? BUSY_RETRY_MS : FAIL_RETRY_MS);
        return;
    }
    int64_t deadline = pe_mono_ms() + BUDGET_MS, n = 0;
    bool more = false;
    if (m)
        kafka_ok(c);
    while (m) {
        if (m->err) {
            queue_error(c, m);
        } else {
            int k = kind_of(c, m);
            if (k < 0) {
                rd_kafka_message_destroy(m); /* not ours (cannot happen: assigned ours only) */
                m = rd_kafka_consumer_poll(c->rk, 0);
                continue;
            }
            struct part *p = part_of(c, (enum catalog_kind)k, m->partition);
            if (p)
                p->eof = false;
            c->caught_up = false;
            struct catalog_record r = {
                .kind = (enum catalog_kind)k,
                .topic = c->topics[k],
                .partition = m->partition,
                .offset = m->offset,
                .key = m->key,
                .keylen = m->key_len,
                .val = m->payload,
                .len = m->len,
            };
            enum catalog_outcome out;
            rc = catalog_store_add(c->cs, &r, &out, why, sizeof why);
            if (rc)
                break;
            /* Counted as read (a batch that fails is read and counted again). */
            c->st.records++;
            if (out == CATALOG_STORED)
                c->st.stored++;
            else if (out == CATALOG_IGNORED)
                c->st.ignored++;
            else
                reject(c, m, c->topics[k], why);
            n++;
        }
        rd_kafka_message_destroy(m);
        m = NULL;
        if (n >= BATCH_MAX || pe_mono_ms() >= deadline) {
            more = true;
            break;
        }
        m = rd_kafka_consumer_poll(c->rk, 0);
    }
    if (m)
        rd_kafka_message_destroy(m);
    /* The queue is drained when the loop ran out of messages. */
    int64_t applied = -1, staged = catalog_store_staged(c->cs) - staged_before;
    if (rc == PE_OK && apply_now(c, !more)) {
        applied = catalog_store_staged(c->cs);
        rc = catalog_store_apply(c->cs, refused_at_apply, c);
    }
    bool changed = false;
    if (rc == PE_OK)
        rc = catalog_store_commit(c->cs, pe_time_now_ms(), &changed);
    else
        catalog_store_rollback(c->cs);
    if (rc) {
        batch_failed(c, rc, n);
        return;
    }
    committed(c, changed, n, staged, applied);
    if (more)
        plan_turn(c, 0);
    else
        check_caught_up(c);
}

static void on_queue(int fd, short revents, void *ctx)
{
    struct catalog *c = ctx;
    (void)fd;
    (void)revents;
    kc_drain_pipe(c->qpipe[0]);
    plan_turn(c, 0);
}

static void safety_poll(void *ctx)
{
    struct catalog *c = ctx;
    c->poll_timer = 0;
    plan_turn(c, 0);
    pe_loop_timer(c->loop, POLL_MS, safety_poll, c, &c->poll_timer);
}

/* ---- the consumer ---- */

static void consumer_free(struct catalog *c)
{
    join_discovery(c);
    if (c->held)
        rd_kafka_message_destroy(c->held);
    c->held = NULL;
    if (c->q) {
        rd_kafka_queue_io_event_enable(c->q, -1, NULL, 0);
        rd_kafka_queue_destroy(c->q);
    }
    c->q = NULL;
    if (c->rk)
        rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    c->rk = NULL;
    c->assigned = false;
}

/* A new consumer into *rk and *q (nothing assigned yet). */
static int consumer_new(struct catalog *c, rd_kafka_t **rk, rd_kafka_queue_t **q, char *err,
                        size_t errlen)
{
    rd_kafka_conf_t *conf = NULL;
    char why[512];
    struct pe_kafka_site site = {.brokers = c->brokers,
                                 .properties = c->props,
                                 .security = &c->sec,
                                 .group_id = CATALOG_GROUP};
    int rc = pe_kafka_conf_new(PE_KAFKA_READER_CATALOG, &site, &conf, err, errlen);
    if (rc)
        return rc;
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, c);
    *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!*rk) {
        rd_kafka_conf_destroy(conf);
        snprintf(err, errlen, "catalog consumer: %s", why);
        return PE_EINVAL;
    }
    rd_kafka_poll_set_consumer(*rk); /* logs and errors come through the consumer's queue */
    *q = rd_kafka_queue_get_consumer(*rk);
    if (!*q) {
        rd_kafka_destroy_flags(*rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
        snprintf(err, errlen, "catalog consumer: no queue");
        return PE_ENOMEM;
    }
    rd_kafka_queue_io_event_enable(*q, c->qpipe[1], "1", 1);
    return PE_OK;
}

int catalog_create(struct pe_loop *loop, const struct catalog_opts *o, struct catalog **out,
                   char *err, size_t errlen)
{
    *out = NULL;
    struct catalog *c = calloc(1, sizeof *c);
    if (!c)
        return PE_ENOMEM;
    c->loop = loop;
    c->spool = o->spool;
    c->tele = o->tele;
    c->qpipe[0] = c->qpipe[1] = c->dpipe[0] = c->dpipe[1] = -1;
    snprintf(c->store, sizeof c->store, "%s", o->store);
    snprintf(c->topics[CATALOG_ITEM], TOPIC_MAX, "%s", o->topic);
    snprintf(c->topics[CATALOG_PROMOTION], TOPIC_MAX, "%s", o->promotions_topic);
    snprintf(c->rejects, sizeof c->rejects, "%s", o->rejects_topic);
    c->sec = o->security ? *o->security : (struct pe_kafka_security){0};
    if (!o->security)
        pe_kafka_security_defaults(&c->sec);
    int rc = PE_ENOMEM;
    if (!(c->brokers = strdup(o->brokers)) ||
        !(c->props = o->properties ? cJSON_Duplicate(o->properties, 1) : cJSON_CreateObject()))
        goto fail;
    if ((rc = pe_topic(c->version_topic, sizeof c->version_topic, c->store, PE_ID_BRIDGE,
                       PE_CH_CATALOG, NULL))) {
        snprintf(err, errlen, "store: \"%s\" cannot be a topic level", c->store);
        goto fail;
    }
    if ((rc = catalog_store_open(c->spool, c->store, &c->cs))) {
        snprintf(err, errlen, "catalog: the version kept in the spool: %s", pe_strerror(rc));
        goto fail;
    }
    if ((rc = kc_pipe(c->qpipe, err, errlen)) || (rc = kc_pipe(c->dpipe, err, errlen)))
        goto fail;
    if ((rc = consumer_new(c, &c->rk, &c->q, err, errlen)))
        goto fail;
    if ((rc = pe_loop_add_fd(loop, c->qpipe[0], POLLIN, on_queue, c)) ||
        (rc = pe_loop_add_fd(loop, c->dpipe[0], POLLIN, on_discovered, c))) {
        snprintf(err, errlen, "catalog: loop: %s", pe_strerror(rc));
        goto fail;
    }
    pe_loop_timer(loop, POLL_MS, safety_poll, c, &c->poll_timer);
    start_discovery(c);
    if (catalog_store_staged(c->cs) > 0)
        c->stage_mono = pe_mono_ms(); /* a stage left by the last run: its age counts anew */
    const struct catalog_version *v = catalog_store_version(c->cs);
    pe_info("catalog.start",
            "topics=%s,%s rejects=%s version=%lld items=%lld promotions=%lld hash=%.16s "
            "staged=%lld",
            c->topics[CATALOG_ITEM], c->topics[CATALOG_PROMOTION], c->rejects,
            (long long)v->version, (long long)v->items, (long long)v->promotions, v->hash,
            (long long)catalog_store_staged(c->cs));
    *out = c;
    return PE_OK;

fail:
    catalog_destroy(c);
    return rc;
}

void catalog_destroy(struct catalog *c)
{
    if (!c)
        return;
    for (int i = 0; i < 2; i++) {
        int fd = i ? c->dpipe[0] : c->qpipe[0];
        if (fd >= 0)
            pe_loop_del_fd(c->loop, fd); /* PE_ENOTFOUND when never added: fine */
    }
    int64_t *timers[] = {&c->poll_timer, &c->turn_timer, &c->disc_timer, &c->publish_timer};
    for (size_t i = 0; i < sizeof timers / sizeof *timers; i++)
        if (*timers[i])
            pe_loop_timer_cancel(c->loop, *timers[i]);
    consumer_free(c);
    for (int i = 0; i < 2; i++) {
        if (c->qpipe[i] >= 0)
            close(c->qpipe[i]);
        if (c->dpipe[i] >= 0)
            close(c->dpipe[i]);
    }
    catalog_store_close(c->cs);
    cJSON_Delete(c->props);
    free(c->brokers);
    free(c);
}

int catalog_reload(struct catalog *c, char *err, size_t errlen)
{
    if (!c)
        return PE_OK;
    rd_kafka_t *rk = NULL;
    rd_kafka_queue_t *q = NULL;
    /* The new one first (it shares the wake-up pipe; the old one's queue is quiet once its
     * io event is off): a file that cannot be used leaves the current consumer. */
    if (c->q)
        rd_kafka_queue_io_event_enable(c->q, -1, NULL, 0);
    int rc = consumer_new(c, &rk, &q, err, errlen);
    if (rc) {
        if (c->q)
            rd_kafka_queue_io_event_enable(c->q, c->qpipe[1], "1", 1);
        return rc;
    }
    consumer_free(c);
    c->rk = rk;
    c->q = q;
    c->last_err = 0;
    memset(c->topic_err, 0, sizeof c->topic_err);
    if (c->nparts)
        assign(c);
    plan_discovery(c, 0);
    return PE_OK;
}

void catalog_attach(struct catalog *c, struct pe_mqtt *m)
{
    if (c)
        c->mqtt = m;
}

void catalog_connected(struct catalog *c)
{
    if (!c || !c->mqtt)
        return;
    char pattern[PE_TOPIC_MAX];
    if (pe_topic(pattern, sizeof pattern, c->store, PE_TOPIC_ANY, PE_CH_CATALOG_GET, NULL) ==
        PE_OK)
        pe_mqtt_subscribe(c->mqtt, pattern, 1);
    if (c->publish_timer)
        pe_loop_timer_cancel(c->loop, c->publish_timer);
    c->publish_timer = 0;
    publish_version(c);
}

struct sending {
    struct catalog *c;
    char topic[PE_TOPIC_MAX];
};

static int send_chunk(void *ctx, int chunk, int chunks, const char *payload, size_t len)
{
    struct sending *s = ctx;
    (void)chunk;
    (void)chunks;
    return pe_mqtt_publish(s->c->mqtt, s->topic, payload, len, 1, false, NULL);
}

bool catalog_message(struct catalog *c, const char *terminal, enum pe_channel ch,
                     const void *payload, size_t len)
{
    if (!c || ch != PE_CH_CATALOG_GET)
        return false;
    char why[128];
    struct catalog_get g;
    struct sending s = {.c = c};
    if (pe_id_reserved(terminal))
        return true; /* no till asks as the bridge */
    int rc = catalog_serve_parse_get(payload, len, &g, why, sizeof why);
    if (rc) {
        pe_warn("catalog.bad_request", "terminal=%s bytes=%zu reason=\"%s\"", terminal, len,
                rc == PE_EINVAL ? why : pe_strerror(rc));
        return true;
    }
    if (!c->mqtt ||
        pe_topic(s.topic, sizeof s.topic, c->store, terminal, PE_CH_CATALOG_DATA, NULL) != PE_OK)
        return true;
    struct catalog_answer a;
    int64_t t0 = pe_mono_ms();
    rc = catalog_serve_answer(c->spool, &g, send_chunk, &s, &a);
    if (rc) {
        pe_error("catalog.serve_failed", "terminal=%s req=%s since=%lld err=%s chunks_sent=%d",
                 terminal, g.req, (long long)g.since, pe_errname(rc), a.chunks);
        return true;
    }
    c->st.served++;
    pe_info("catalog.served",
            "terminal=%s req=%s since=%lld version=%lld full=%s chunks=%d entries=%lld "
            "bytes=%lld ms=%lld",
            terminal, g.req, (long long)g.since, (long long)a.version, a.full ? "true" : "false",
            a.chunks, (long long)a.entries, (long long)a.bytes, (long long)(pe_mono_ms() - t0));
    return true;
}

void catalog_stats(const struct catalog *c, struct catalog_stats *out)
{
    if (!c) {
        memset(out, 0, sizeof *out);
        return;
    }
    *out = c->st;
}

const struct catalog_version *catalog_version(const struct catalog *c)
{
    return c ? catalog_store_version(c->cs) : NULL;
}
