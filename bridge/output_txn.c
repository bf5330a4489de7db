/* SPDX-License-Identifier: Apache-2.0 */
/*
 * output_txn.c - exactly-once into Kafka: the transactional backend of the bridge's output
 * (output_backend.h, kafka.mode=transactional), a producer on a thread of its own.
 *
 * Two threads, one owner each. The loop's thread (the bridge) owns the spool and decides what
 * to produce; txn_produce_event copies an event's records (one per output record of every
 * sink) into the inbox and returns. The Kafka thread owns the rd_kafka_t: it takes events from
 * the inbox, produces all records of each inside a transaction (never splitting an event over
 * two), and ends the transaction when it holds its goal of events or has been open its goal of
 * time. The goals start at txn_max_events and txn_interval_ms; while a backlog waits in the
 * inbox at a commit they double, up to half of max_inflight events and TXN_MS_MAX, and they fall
 * back once the inbox is empty: a backlog needs throughput (each commit costs the same flush,
 * EndTxn and AddPartitionsToTxn round trips whatever its size), live sales need latency.
 * Records are handed to librdkafka without a copy: a message stays on the held list until the
 * transaction that carried it has ended (committed: delivered; aborted: purged, and librdkafka
 * has let go of it) or the producer is gone.
 * Just before the commit it produces one more record into the same transaction: this bridge's
 * watermarks (per terminal: the highest seq and its chain hash) keyed by state_key on the
 * compacted state topic. Kafka commits the records and the watermark that covers them
 * atomically, so a read_committed reader never sees one without the other.
 *
 * What happened travels back as events through a mutex-guarded list and one byte on a pipe
 * that the loop watches: COMMITTED (these watermarks are in Kafka), RECOVERED (the watermarks
 * read back from Kafka) and RESET (produce again from the committed watermarks). A reset also
 * starts a new generation: records the loop's thread produced before it saw the reset carry
 * the old one and are dropped by the Kafka thread, since the loop produces them again anyway.
 *
 * Recovery, before the first record and after any failure that leaves Kafka's state unknown
 * (a fatal error, a commit or abort that failed for good): create the producer, call
 * init_transactions (which fences any earlier producer with the same transactional.id and
 * completes or aborts the transaction it left open, even one killed in the middle of its
 * commit), then read the state topic with isolation.level=read_committed from the beginning to
 * its end, keep the latest record with our key, and report it. Only then does the bridge
 * produce, from exactly after those watermarks, whatever its spool says.
 *
 * An abortable error (a record that failed for good, a transaction timed out by the
 * coordinator) aborts the transaction and resets to the committed watermarks with the same
 * producer. Dead letters are not in the spool and cannot be produced again by the bridge, so
 * the Kafka thread keeps those of the open transaction and puts them back after an abort.
 *
 * librdkafka recommends timeout -1 for commit and abort; they are called with COMMIT_MS and
 * resumed while retriable (librdkafka >= 1.9 continues the operation in the background), so
 * that a stop request is seen within a second even while Kafka is away.
 *
 * Refusals by Kafka (kafka_common.h, struct kc_auth, guarded by mu): a failed login or TLS
 * handshake keeps init_transactions retrying (nothing is produced before it succeeds); a
 * transactional id without an ACL is a fatal error, and recovery is tried again with a growing
 * pause; a topic without Write fails its records (delivery reports name the topic), so the
 * transaction is aborted and the Kafka thread waits KC_AUTH_RETRY_MS before the loop produces
 * it again, rather than spin. A reload request (output_reload, from the loop's thread) makes
 * the Kafka thread swap in a producer made from the files as they are now and recover with it:
 * init_transactions fences the old one and aborts its open transaction, so nothing is doubled.
 */
#include "bridge/output_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bridge/kafka_common.h"
#include "posedge/clock.h"
#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "posedge/kafka_conf.h"
#include "posedge/log.h"

#define DEFAULT_MAX_INFLIGHT 100000
#define DEFAULT_TXN_EVENTS 5000
#define DEFAULT_TXN_MS 100
#define IDLE_MS 100           /* the Kafka thread serves librdkafka's callbacks this often */
#define COMMIT_MS 1000        /* one call of init/commit/abort; resumed while retriable */
#define READ_MS 30000         /* longest read of the state topic */
#define BACKOFF_MAX_MS 5000   /* longest pause between recovery attempts */
#define MAX_MARKS 1024        /* terminals per bridge (as bridge.c) */
#define TXN_MS_MAX 1000       /* the longest a backlog's transaction stays open */
/* A new transaction's first record waits this long after the last commit. The coordinator
 * answers EndTxn before it has written the markers; an AddPartitionsToTxn that comes while it
 * writes them is refused (CONCURRENT_TRANSACTIONS) and librdkafka retries it 20 ms later. On
 * the bench's broker, 15 to 22 of 40 back-to-back transactions were refused so; with a gap of
 * 1 to 5 ms, none or one. The bridge's drain there: 106k and 126k events/s with 2 ms, 79k and
 * 105k without. */
#define TXN_GAP_MS 2
#define MAX_DLQ 10000         /* dead letters waiting for Kafka; more are dropped, logged */
#define STATE_VERSION 1
#define STATE_GROUP "posedge-bridge-state" /* the state reader's group (commits nothing) */
#define WIRE_OVERHEAD 256 /* a record's framing and header names, beyond key, value, values */

struct mark {
    char store[PE_ID_MAX];
    char terminal[PE_ID_MAX];
    int64_t committed;            /* in Kafka */
    char chash[PE_SHA256_HEXLEN]; /* hash of seq committed */
    int64_t pending;              /* in the open transaction (== committed when none) */
    char phash[PE_SHA256_HEXLEN]; /* hash of seq pending */
};

/* One record on its way to Kafka; the strings live in data[]. The records of one event form a
 * group: the first is queued, the others hang from its more chain, and all of them are
 * produced into the same transaction (an event that maps to no record is a head with empty
 * set: it only moves the watermark). */
struct msg {
    struct msg *next;
    struct msg *more; /* the event's further records (events only) */
    bool empty;       /* the event has no record at all */
    uint64_t gen;     /* generation it was produced in (events only) */
    bool dlq;
    struct output_ref ref;
    char hash[PE_SHA256_HEXLEN];
    int64_t ts_ms;
    const char *topic;
    const char *key; /* NULL for a dead letter */
    size_t keylen;
    int nh;
    const char *hname[OUTPUT_MAX_HEADERS];
    const char *hval[OUTPUT_MAX_HEADERS];
    const void *val;
    size_t len;
    char data[];
};

enum ev_kind { EV_COMMITTED, EV_RECOVERED, EV_RESET };

struct event {
    struct event *next;
    enum ev_kind kind;
    uint64_t gen;    /* EV_RESET: the new generation */
    int64_t records; /* EV_COMMITTED: event records in the transaction */
    int n;
    struct mark m[]; /* watermarks (committed, chash) */
};

struct otxn {
    /* set at create, read by both threads */
    struct pe_loop *loop;
    char *brokers;
    cJSON *props;
    struct pe_kafka_security sec; /* TLS and SASL settings, a copy */
    char *tid, *state_topic, *state_key;
    int max_events, interval_ms, max_inflight;
    void (*on_reset)(void *ctx);
    void (*on_committed)(void *ctx, const char *store, const char *terminal, int64_t seq);
    void (*on_recovered)(void *ctx, const char *store, const char *terminal, int64_t seq,
                         const char *hash);
    void *ctx;
    int pipe_rd, pipe_wr;
    pthread_t thread;
    bool thread_started;
    bool watched; /* pipe_rd is registered with the loop */

    /* shared, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct msg *in_head, **in_tail; /* the inbox */
    struct event *ev_head, **ev_tail;
    uint64_t gen;  /* the Kafka thread's generation */
    int dlq_count; /* dead letters queued or in the open transaction */
    bool stop;
    bool reload;               /* swap in a new producer (output_reload) */
    bool flush;                /* commit now, and again while records come */
    struct output_kafka kafka; /* the producer's link to Kafka, from statistics and errors */
    struct kc_auth auth;       /* what Kafka refuses (written by the Kafka thread) */

    /* the loop's thread only */
    uint64_t gen_main;
    bool ready; /* a RESET was seen: producing is allowed */
    int inflight;

    /* the Kafka thread only */
    rd_kafka_t *rk;
    size_t max_msg; /* message.max.bytes, read once at create */
    bool inited;    /* init_transactions succeeded on rk */
    bool fatal;     /* the error callback saw a fatal error */
    bool open;      /* a transaction is open */
    bool failed;    /* a produce into the open transaction failed */
    bool refused_in_txn; /* the open transaction holds a record for the refused topic */
    int64_t opened_at;
    int64_t committed_at; /* the last commit's end (monotonic ms), 0 before one */
    struct kc_topics topics; /* rk's topic handles (kafka_common.h) */
    int64_t txn_records;
    int64_t goal_events, goal_ms;     /* when the open transaction ends (see the top) */
    struct msg *held, **held_tail;    /* the open transaction's records, librdkafka reads them */
    struct msg *retired;              /* records of an aborted one, until librdkafka lets go */
    int64_t commits;                  /* state records written, counted on from the recovered one */
    int64_t commits_here;             /* transactions committed by this process */
    int64_t txn_committed, txn_aborted; /* transactions ended, for the metrics (under mu) */
    struct msg *dlq_open, **dlq_tail; /* dead letters produced in the open transaction */
    struct mark *marks;
    int nmarks;
};

/* ---- small helpers ---- */

/* Free a message and the rest of its event's group. */
static void msg_free(struct msg *m)
{
    while (m) {
        struct msg *more = m->more;
        free(m);
        m = more;
    }
}

/* Free a list of messages (linked by next), each with its group. */
static void free_msgs(struct msg *m)
{
    while (m) {
        struct msg *n = m->next;
        msg_free(m);
        m = n;
    }
}

/* Keep an event's records until librdkafka is done with them (produced without a copy). */
static void hold(struct otxn *x, struct msg *m)
{
    m->next = NULL;
    *x->held_tail = m;
    x->held_tail = &m->next;
}

/* The open transaction ended. Committed: its records were delivered, librdkafka holds none of
 * them. Aborted: they were purged, but the purge's reports may still be on their way, so they
 * wait on the retired list until librdkafka's queue is empty (release_retired). */
static void end_held(struct otxn *x, bool committed)
{
    if (committed) {
        free_msgs(x->held);
    } else if (x->held) {
        *x->held_tail = x->retired;
        x->retired = x->held;
    }
    x->held = NULL;
    x->held_tail = &x->held;
}

/* Free the retired records once librdkafka has nothing left (or there is no producer). */
static void release_retired(struct otxn *x)
{
    if (x->retired && (!x->rk || rd_kafka_outq_len(x->rk) == 0)) {
        free_msgs(x->retired);
        x->retired = NULL;
    }
}

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/* Double the goals while a backlog waits, else fall back to the configured ones. Half of
 * max_inflight stays for the inbox: the loop fills it while a commit runs (a quarter was
 * measured slower: the loop then waits for each commit to make room), and what it holds at the
 * commit is how a backlog shows. A transaction holding every record the loop may have out gets
 * no more before it ends, so the goal never passes max_inflight. */
static void set_goals(struct otxn *x, bool backlog)
{
    int64_t most = max64(x->max_inflight / 2, x->max_events);
    int64_t events = backlog ? min64(x->goal_events * 2, most) : x->max_events;
    x->goal_events = min64(events, x->max_inflight);
    int64_t most_ms = max64(TXN_MS_MAX, x->interval_ms);
    x->goal_ms = backlog ? min64(x->goal_ms * 2, most_ms) : x->interval_ms;
}

static void wake_loop(struct otxn *x)
{
    char c = 1;
    ssize_t r;
    do
        r = write(x->pipe_wr, &c, 1);
    while (r < 0 && errno == EINTR);
    /* EAGAIN: the pipe is full, so a wake-up is pending anyway. */
}

static void post(struct otxn *x, struct event *e)
{
    pthread_mutex_lock(&x->mu);
    *x->ev_tail = e;
    x->ev_tail = &e->next;
    pthread_mutex_unlock(&x->mu);
    wake_loop(x);
}

static struct event *event_new(enum ev_kind kind, int n)
{
    struct event *e = calloc(1, sizeof *e + (size_t)n * sizeof(struct mark));
    if (e) {
        e->kind = kind;
        e->n = 0;
    }
    return e;
}

static void log_error(const char *event, rd_kafka_error_t *err)
{
    char q[512];
    pe_warn(event, "err=%s retriable=%d abortable=%d fatal=%d reason=\"%s\"",
            rd_kafka_error_name(err), rd_kafka_error_is_retriable(err),
            rd_kafka_error_txn_requires_abort(err), rd_kafka_error_is_fatal(err),
            pe_log_quote(rd_kafka_error_string(err), q, sizeof q));
}

static bool stopping(struct otxn *x)
{
    pthread_mutex_lock(&x->mu);
    bool s = x->stop;
    pthread_mutex_unlock(&x->mu);
    return s;
}

/* Stopping, or a reload is waiting: a long wait or a retry loop ends. */
static bool interrupted(struct otxn *x)
{
    pthread_mutex_lock(&x->mu);
    bool s = x->stop || x->reload;
    pthread_mutex_unlock(&x->mu);
    return s;
}

/* kc_auth_note under mu (the loop's thread reads the state). */
static bool note(struct otxn *x, enum output_auth status, const char *resource, int err,
                 const char *reason)
{
    pthread_mutex_lock(&x->mu);
    bool changed = kc_auth_note(&x->auth, status, resource, err, reason);
    pthread_mutex_unlock(&x->mu);
    return changed;
}

/* Kafka took something: a refusal of kind what (or of any kind, OUTPUT_AUTH__COUNT) is over. */
static void accepted(struct otxn *x, enum output_auth what)
{
    if (x->auth.status != OUTPUT_AUTH_OK && (what == OUTPUT_AUTH__COUNT || x->auth.status == what))
        note(x, OUTPUT_AUTH_OK, NULL, 0, NULL);
}

/* Wait on the condition variable for up to ms (or until signalled); mu is held. */
static void timed_wait(struct otxn *x, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&x->cv, &x->mu, &ts);
}

/* ---- marks (Kafka thread) ---- */

static struct mark *mark_find(struct mark *marks, int *n, const char *store, const char *terminal,
                              bool add)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(marks[i].terminal, terminal) == 0 && strcmp(marks[i].store, store) == 0)
            return &marks[i];
    if (!add || *n == MAX_MARKS)
        return NULL;
    struct mark *m = &marks[(*n)++];
    memset(m, 0, sizeof *m);
    snprintf(m->store, sizeof m->store, "%s", store);
    snprintf(m->terminal, sizeof m->terminal, "%s", terminal);
    pe_event_genesis(store, terminal, m->chash);
    memcpy(m->phash, m->chash, sizeof m->phash);
    return m;
}

static void marks_rollback(struct otxn *x)
{
    for (int i = 0; i < x->nmarks; i++) {
        x->marks[i].pending = x->marks[i].committed;
        memcpy(x->marks[i].phash, x->marks[i].chash, sizeof x->marks[i].phash);
    }
}

/* The state record: {"v":1,"bridge":K,"n":N,"ts":"...","terminals":[{store,terminal,seq,
 * hash}...]} with the pending watermarks (what the transaction will have committed). */
static char *state_json(struct otxn *x)
{
    cJSON *doc = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    char ts[PE_TIME_STRLEN];
    pe_time_format(pe_time_now_ms(), ts);
    if (!doc || !arr) {
        cJSON_Delete(doc);
        cJSON_Delete(arr);
        return NULL;
    }
    cJSON_AddNumberToObject(doc, "v", STATE_VERSION);
    cJSON_AddStringToObject(doc, "bridge", x->state_key);
    cJSON_AddNumberToObject(doc, "n", (double)(x->commits + 1));
    cJSON_AddStringToObject(doc, "ts", ts);
    cJSON_AddItemToObject(doc, "terminals", arr);
    for (int i = 0; i < x->nmarks; i++) {
        const struct mark *m = &x->marks[i];
        if (m->pending == 0)
            continue;
        cJSON *t = cJSON_CreateObject();
        if (!t)
            break;
        cJSON_AddStringToObject(t, "store", m->store);
        cJSON_AddStringToObject(t, "terminal", m->terminal);
        cJSON_AddNumberToObject(t, "seq", (double)m->pending);
        cJSON_AddStringToObject(t, "hash", m->phash);
        cJSON_AddItemToArray(arr, t);
    }
    char *s = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    return s;
}

/* Parse a state record into marks (committed = pending = its values) and its commit number. */
static int state_parse(const void *val, size_t len, struct mark *marks, int *nmarks, int64_t *n)
{
    cJSON *doc = NULL;
    const cJSON *arr, *t;
    if (pe_json_parse(val, len, &doc, NULL, 0) != PE_OK)
        return PE_EINVAL;
    int rc = PE_EINVAL;
    int64_t v = 0;
    if (pe_json_get_int(doc, "v", &v) || v != STATE_VERSION || pe_json_get_int(doc, "n", n))
        goto out;
    arr = cJSON_GetObjectItemCaseSensitive(doc, "terminals");
    if (!cJSON_IsArray(arr))
        goto out;
    *nmarks = 0;
    cJSON_ArrayForEach(t, arr)
    {
        const char *store, *terminal, *hash;
        int64_t seq;
        if (pe_json_get_str(t, "store", &store) || pe_json_get_str(t, "terminal", &terminal) ||
            pe_json_get_str(t, "hash", &hash) || pe_json_get_int(t, "seq", &seq) || seq < 1 ||
            !pe_event_id_valid(store, 1) || !pe_event_id_valid(terminal, 1) ||
            !pe_is_sha256_hex(hash))
            goto out;
        struct mark *m = mark_find(marks, nmarks, store, terminal, true);
        if (!m)
            goto out;
        m->committed = m->pending = seq;
        memcpy(m->chash, hash, PE_SHA256_HEXLEN);
        memcpy(m->phash, hash, PE_SHA256_HEXLEN);
    }
    rc = PE_OK;
out:
    cJSON_Delete(doc);
    return rc;
}

/* ---- the producer (Kafka thread) ---- */

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct otxn *x = opaque;
    char q[512];
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char why[512];
        rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, why, sizeof why);
        x->fatal = true;
        enum output_auth refusal = kc_auth_of(orig);
        if (refusal != OUTPUT_AUTH_OK)
            note(x, refusal, refusal == OUTPUT_AUTH_TRANSACTIONAL_ID_NOT_AUTHORIZED ? x->tid : "",
                 orig, why);
        else
            pe_error("output.fatal", "reason=\"%s\" (fencing and reading the state back)",
                     pe_log_quote(reason, q, sizeof q));
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
        pthread_mutex_lock(&x->mu);
        x->kafka.connected = false; /* at once, not at the next statistics */
        x->kafka.brokers_up = 0;
        pthread_mutex_unlock(&x->mu);
    }
    enum output_auth refusal = kc_auth_of(err);
    if (refusal == OUTPUT_AUTH_AUTH_FAILED || refusal == OUTPUT_AUTH_TLS_FAILED)
        note(x, refusal, "", err, reason); /* repeats while it lasts: said once per change */
    else if (refusal == OUTPUT_AUTH_GROUP_NOT_AUTHORIZED)
        note(x, refusal, STATE_GROUP, err, reason); /* the state reader's group */
    else
        kc_log_error(err, reason);
}

/* The producer's statistics (served by rd_kafka_poll on the Kafka thread). */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    struct otxn *x = opaque;
    struct output_kafka k;
    (void)rk;
    kc_stats_parse(json, len, &k);
    pthread_mutex_lock(&x->mu);
    x->kafka = k;
    pthread_mutex_unlock(&x->mu);
    /* A connection up has passed the TLS handshake and the login. */
    if (k.connected) {
        accepted(x, OUTPUT_AUTH_AUTH_FAILED);
        accepted(x, OUTPUT_AUTH_TLS_FAILED);
    }
    return 0; /* librdkafka frees json */
}

/* Delivery reports of the transactional producer: only refusals matter here (a failed record
 * fails the commit, which aborts and produces everything again); they name the topic. */
static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct otxn *x = opaque;
    (void)rk;
    const char *topic = rd_kafka_topic_name(m->rkt);
    enum output_auth refusal = kc_auth_of(m->err);
    if (refusal != OUTPUT_AUTH_OK)
        note(x, refusal, refusal == OUTPUT_AUTH_TOPIC_NOT_AUTHORIZED ? topic : "", m->err,
             rd_kafka_err2str(m->err));
    else if (!m->err && x->auth.status == OUTPUT_AUTH_TOPIC_NOT_AUTHORIZED &&
             strcmp(x->auth.resource, topic) == 0)
        note(x, OUTPUT_AUTH_OK, NULL, 0, NULL); /* the topic took a record: granted */
}

/* The state reader gets the producer's properties too; it need not say it ignores some. */
static void on_log_reader(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    if (strcmp(fac, "CONFWARN") != 0)
        kc_on_log(rk, level, fac, buf);
}

/* The callbacks both clients of the Kafka thread share. */
static void set_callbacks(struct otxn *x, rd_kafka_conf_t *conf, bool reader)
{
    rd_kafka_conf_set_log_cb(conf, reader ? on_log_reader : kc_on_log);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, x);
}

static int producer_new(struct otxn *x, rd_kafka_t **out, char *err, size_t errlen)
{
    char why[512];
    rd_kafka_conf_t *conf = NULL;
    struct pe_kafka_site site = {.brokers = x->brokers,
                                 .properties = x->props,
                                 .security = &x->sec,
                                 .transactional_id = x->tid};
    int rc = pe_kafka_conf_new(PE_KAFKA_PRODUCER_TRANSACTIONAL, &site, &conf, err, errlen);
    if (rc)
        return rc;
    set_callbacks(x, conf, false);
    rd_kafka_conf_set_stats_cb(conf, on_stats);
    rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!rk) {
        /* Each property was accepted alone; their combination (or a certificate) was not. */
        snprintf(err, errlen, "kafka.properties: %s", why);
        rd_kafka_conf_destroy(conf);
        return PE_EINVAL;
    }
    *out = rk;
    return PE_OK;
}

static void producer_drop(struct otxn *x)
{
    if (!x->rk)
        return;
    rd_kafka_purge(x->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT |
                              RD_KAFKA_PURGE_F_NON_BLOCKING);
    kc_topics_drop(&x->topics);
    rd_kafka_destroy(x->rk);
    x->rk = NULL;
    end_held(x, false);
    release_retired(x); /* no producer: nothing refers to them */
    x->open = false;
    x->fatal = false;
    x->inited = false;
    pthread_mutex_lock(&x->mu);
    x->kafka = (struct output_kafka){0};
    pthread_mutex_unlock(&x->mu);
}

/* Create the state topic, compacted, when it does not exist. */
static void create_state_topic(struct otxn *x)
{
    char why[256];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(x->state_topic, 1, -1, why, sizeof why);
    if (!nt) {
        pe_warn("output.state_topic", "topic=%s create=\"%s\"", x->state_topic, why);
        return;
    }
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_queue_t *q = rd_kafka_queue_new(x->rk);
    rd_kafka_CreateTopics(x->rk, &nt, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 10000);
    const char *res = "timed out";
    if (ev) {
        const rd_kafka_CreateTopics_result_t *r = rd_kafka_event_CreateTopics_result(ev);
        size_t cnt = 0;
        const rd_kafka_topic_result_t **tr =
            r ? rd_kafka_CreateTopics_result_topics(r, &cnt) : NULL;
        if (rd_kafka_event_error(ev))
            res = rd_kafka_event_error_string(ev);
        else if (cnt == 1 && rd_kafka_topic_result_error(tr[0]))
            res = rd_kafka_topic_result_error_string(tr[0]);
        else
            res = "created";
        pe_info("output.state_topic", "topic=%s cleanup.policy=compact result=\"%s\"",
                x->state_topic, pe_log_quote(res, why, sizeof why));
        rd_kafka_event_destroy(ev);
    } else {
        pe_warn("output.state_topic", "topic=%s result=\"%s\"", x->state_topic, res);
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
}

/* Read our latest committed state record. PE_OK with x->marks set (empty when none). */
static int read_state(struct otxn *x)
{
    char err[512], why[512];
    rd_kafka_conf_t *conf = NULL;
    /* The user's properties apply (security, timeouts); producer-only ones are ignored. */
    struct pe_kafka_site site = {.brokers = x->brokers,
                                 .properties = x->props,
                                 .security = &x->sec,
                                 .group_id = STATE_GROUP};
    int rc = pe_kafka_conf_new(PE_KAFKA_READER_COMMITTED, &site, &conf, err, sizeof err);
    if (rc) {
        pe_error("output.state_read", "err=\"%s\"", err);
        return rc;
    }
    set_callbacks(x, conf, true);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!c) {
        pe_error("output.state_read", "err=\"%s\"", pe_log_quote(why, err, sizeof err));
        rd_kafka_conf_destroy(conf);
        return PE_EINVAL;
    }
    rc = PE_EIO;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(c, x->state_topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rkt ? rd_kafka_metadata(c, 0, rkt, &md, 5000) : RD_KAFKA_RESP_ERR__FAIL;
    if (e) {
        pe_warn("output.state_read", "topic=%s metadata=%s", x->state_topic, rd_kafka_err2name(e));
        goto out;
    }
    if (md->topic_cnt != 1 || md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
        md->topics[0].partition_cnt == 0) {
        create_state_topic(x);
        x->nmarks = 0;
        x->commits = 0;
        rc = PE_OK;
        goto out;
    }
    if (md->topics[0].err) {
        if (kc_auth_of(md->topics[0].err) == OUTPUT_AUTH_TOPIC_NOT_AUTHORIZED)
            note(x, OUTPUT_AUTH_TOPIC_NOT_AUTHORIZED, x->state_topic, md->topics[0].err,
                 "the state topic: the bridge needs Read and Write on it");
        else
            pe_warn("output.state_read", "topic=%s err=%s", x->state_topic,
                    rd_kafka_err2name(md->topics[0].err));
        goto out;
    }
    int np = md->topics[0].partition_cnt;
    rd_kafka_topic_partition_list_t *tp = rd_kafka_topic_partition_list_new(np);
    bool *eof = calloc((size_t)np, sizeof *eof);
    struct mark *scratch = calloc(MAX_MARKS, sizeof *scratch);
    if (!tp || !eof || !scratch) {
        if (tp)
            rd_kafka_topic_partition_list_destroy(tp);
        free(eof);
        free(scratch);
        rc = PE_ENOMEM;
        goto out;
    }
    for (int i = 0; i < np; i++)
        rd_kafka_topic_partition_list_add(tp, x->state_topic, md->topics[0].partitions[i].id)
            ->offset = RD_KAFKA_OFFSET_BEGINNING;
    e = rd_kafka_assign(c, tp);
    rd_kafka_topic_partition_list_destroy(tp);
    int neof = 0;
    int64_t best = -1, records = 0, deadline = pe_mono_ms() + READ_MS;
    size_t klen = strlen(x->state_key);
    while (!e && neof < np && pe_mono_ms() < deadline && !stopping(x)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            for (int i = 0; i < np; i++)
                if (md->topics[0].partitions[i].id == m->partition && !eof[i]) {
                    eof[i] = true;
                    neof++;
                }
        } else if (m->err) {
            pe_info("output.state_read", "err=%s", rd_kafka_err2name(m->err));
        } else if (m->key_len == klen && memcmp(m->key, x->state_key, klen) == 0) {
            /* Later commits carry a higher n; a record that does not parse is skipped. */
            records++;
            int64_t n = 0;
            int cnt = 0;
            if (state_parse(m->payload, m->len, scratch, &cnt, &n) != PE_OK) {
                pe_warn("output.state_bad",
                        "topic=%s partition=%d offset=%" PRId64
                        " (not a state record of version %d: skipped)",
                        x->state_topic, (int)m->partition, m->offset, STATE_VERSION);
            } else if (n > best) {
                best = n;
                memcpy(x->marks, scratch, (size_t)cnt * sizeof *x->marks);
                x->nmarks = cnt;
            }
        }
        rd_kafka_message_destroy(m);
    }
    free(eof);
    free(scratch);
    if (neof == np) {
        x->commits = best > 0 ? best : 0;
        if (best < 0)
            x->nmarks = 0;
        rc = PE_OK;
        pe_info("output.state_read", "topic=%s key=%s records=%" PRId64 " terminals=%d n=%" PRId64,
                x->state_topic, x->state_key, records, x->nmarks, x->commits);
    } else {
        pe_warn("output.state_read", "topic=%s err=%s (end not reached: retrying)", x->state_topic,
                e ? rd_kafka_err2name(e) : "timed out");
    }
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
    return rc;
}

/* Dead letters of a failed transaction go back to the front of the inbox. */
static void requeue_dlq(struct otxn *x)
{
    if (!x->dlq_open)
        return;
    pthread_mutex_lock(&x->mu);
    *x->dlq_tail = x->in_head;
    if (!x->in_head)
        x->in_tail = x->dlq_tail;
    x->in_head = x->dlq_open;
    pthread_mutex_unlock(&x->mu);
    x->dlq_open = NULL;
    x->dlq_tail = &x->dlq_open;
}

static void post_reset(struct otxn *x, bool with_marks)
{
    if (with_marks) {
        struct event *r = event_new(EV_RECOVERED, x->nmarks);
        if (r) {
            memcpy(r->m, x->marks, (size_t)x->nmarks * sizeof *x->marks);
            r->n = x->nmarks;
            post(x, r);
        }
    }
    struct event *e = event_new(EV_RESET, 0);
    pthread_mutex_lock(&x->mu);
    x->gen++;
    if (e)
        e->gen = x->gen;
    pthread_mutex_unlock(&x->mu);
    if (e)
        post(x, e);
}

/* Fence, read the state back, report it. PE_OK when producing may start. */
static int recover(struct otxn *x)
{
    char err[512];
    if (!x->rk) {
        int rc = producer_new(x, &x->rk, err, sizeof err);
        if (rc) {
            pe_error("output.create_failed", "err=\"%s\"", err);
            return rc;
        }
    }
    while (!x->inited) {
        rd_kafka_error_t *e = rd_kafka_init_transactions(x->rk, COMMIT_MS);
        if (!e) {
            x->inited = true;
            accepted(x, OUTPUT_AUTH_TRANSACTIONAL_ID_NOT_AUTHORIZED);
            break;
        }
        bool retry = rd_kafka_error_is_retriable(e) && !rd_kafka_error_is_fatal(e);
        if (!retry || interrupted(x)) {
            enum output_auth refusal = kc_auth_of(rd_kafka_error_code(e));
            if (retry)
                ; /* a stop or a reload, not a failure */
            else if (refusal == OUTPUT_AUTH_OK)
                log_error("output.init_failed", e);
            else /* said once per change, however often it is tried */
                note(x, refusal,
                     refusal == OUTPUT_AUTH_TRANSACTIONAL_ID_NOT_AUTHORIZED ? x->tid : "",
                     rd_kafka_error_code(e), rd_kafka_error_string(e));
            rd_kafka_error_destroy(e);
            producer_drop(x);
            return PE_EIO;
        }
        rd_kafka_error_destroy(e);
        rd_kafka_poll(x->rk, 0);
    }
    /* The state topic's handle (its partitions asked for while we read), for every commit. */
    kc_topic(x->rk, &x->topics, x->state_topic);
    int rc = read_state(x);
    if (rc)
        return rc;
    x->open = false;
    x->failed = false;
    pe_info("output.recovered", "transactional_id=%s terminals=%d", x->tid, x->nmarks);
    post_reset(x, true);
    return PE_OK;
}

/* Start over with a new producer (a fatal error, or a transaction that could not be ended). */
static void reinit(struct otxn *x, const char *why)
{
    pe_warn("output.reinit", "why=%s (fencing and reading the committed state back)", why);
    producer_drop(x);
    marks_rollback(x);
    requeue_dlq(x);
}

/* Count a transaction's end (committed or aborted) in what txn_kafka_state reports. */
static void count_end(struct otxn *x, bool committed)
{
    pthread_mutex_lock(&x->mu);
    if (committed)
        x->txn_committed++;
    else
        x->txn_aborted++;
    pthread_mutex_unlock(&x->mu);
}

static void abort_txn(struct otxn *x)
{
    count_end(x, false);
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(x->rk, COMMIT_MS);
        if (!e)
            break;
        log_error("output.abort", e);
        bool retry = rd_kafka_error_is_retriable(e) && !rd_kafka_error_is_fatal(e);
        rd_kafka_error_destroy(e);
        if (!retry || stopping(x)) {
            reinit(x, "abort_failed");
            return;
        }
    }
    x->open = false;
    x->failed = false;
    end_held(x, false);
    set_goals(x, false);
    marks_rollback(x);
    requeue_dlq(x);
    if (x->auth.status != OUTPUT_AUTH_OK) {
        /* Kafka refuses something (output.kafka_auth said what): produce it again after a
         * pause, not at once and forever. A stop or a reload ends the pause. */
        pe_info("output.aborted",
                "records=%" PRId64 " kafka=%s (producing them again in %d ms)", x->txn_records,
                output_auth_name(x->auth.status), KC_AUTH_RETRY_MS);
        pthread_mutex_lock(&x->mu);
        int64_t until = pe_mono_ms() + KC_AUTH_RETRY_MS;
        while (!x->stop && !x->reload && pe_mono_ms() < until)
            timed_wait(x, until - pe_mono_ms());
        pthread_mutex_unlock(&x->mu);
    } else {
        pe_warn("output.aborted", "records=%" PRId64 " (producing them again)", x->txn_records);
    }
    post_reset(x, false);
}

#ifdef PE_FAULT_INJECTION
/* PE_FAULT_TXN_KILL=before:N or after:N: the bridge kills itself (SIGKILL) at its N-th commit,
 * just before asking Kafka to commit (the state record is produced) or just after Kafka said
 * committed (before the spool or the tills hear of it). Test builds only. */
static void fault_txn_kill(struct otxn *x, bool after)
{
    const char *v = getenv("PE_FAULT_TXN_KILL");
    if (!v)
        return;
    bool want_after = strncmp(v, "after:", 6) == 0;
    if ((!want_after && strncmp(v, "before:", 7) != 0) || want_after != after)
        return;
    if (x->commits_here + (after ? 0 : 1) == atoll(strchr(v, ':') + 1)) {
        pe_warn("output.fault", "PE_FAULT_TXN_KILL=%s: SIGKILL", v);
        raise(SIGKILL);
    }
}
#else
static void fault_txn_kill(struct otxn *x, bool after)
{
    (void)x;
    (void)after;
}
#endif

static void commit_txn(struct otxn *x)
{
    char *state = x->failed ? NULL : state_json(x);
    if (state) {
        size_t klen = strlen(x->state_key);
        rd_kafka_resp_err_t pe = rd_kafka_producev(
            x->rk, RD_KAFKA_V_TOPIC(x->state_topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(x->state_key, klen), RD_KAFKA_V_VALUE(state, strlen(state)),
            RD_KAFKA_V_END);
        free(state);
        if (pe) {
            pe_warn("output.state_produce", "err=%s", rd_kafka_err2name(pe));
            x->failed = true;
        }
    } else {
        x->failed = true;
    }
    if (x->failed) {
        if (x->fatal)
            reinit(x, "fatal");
        else
            abort_txn(x);
        return;
    }
    fault_txn_kill(x, false);
    int64_t c0 = pe_mono_ms();
    for (;;) {
        rd_kafka_error_t *e = rd_kafka_commit_transaction(x->rk, COMMIT_MS);
        if (!e)
            break;
        if (rd_kafka_error_is_fatal(e) || x->fatal) {
            log_error("output.commit", e);
            rd_kafka_error_destroy(e);
            reinit(x, "commit_fatal");
            return;
        }
        if (rd_kafka_error_txn_requires_abort(e)) {
            if (x->auth.status == OUTPUT_AUTH_OK) /* else output.kafka_auth said why */
                log_error("output.commit", e);
            rd_kafka_error_destroy(e);
            abort_txn(x);
            return;
        }
        bool retry = rd_kafka_error_is_retriable(e);
        if (!retry || stopping(x)) {
            log_error("output.commit", e);
            rd_kafka_error_destroy(e);
            /* Committed or not: only Kafka knows. Ask it. */
            count_end(x, false);
            reinit(x, retry ? "stopping" : "commit_failed");
            return;
        }
        rd_kafka_error_destroy(e);
    }
    x->commits_here++;
    count_end(x, true);
    end_held(x, true);
    pthread_mutex_lock(&x->mu);
    bool backlog = x->in_head != NULL;
    pthread_mutex_unlock(&x->mu);
    set_goals(x, backlog);
    accepted(x, OUTPUT_AUTH_AUTH_FAILED);
    accepted(x, OUTPUT_AUTH_TLS_FAILED);
    accepted(x, OUTPUT_AUTH_GROUP_NOT_AUTHORIZED);
    if (x->refused_in_txn)
        accepted(x, OUTPUT_AUTH_TOPIC_NOT_AUTHORIZED);
    fault_txn_kill(x, true);
    /* Committed: report the watermarks that moved. */
    struct event *ev = event_new(EV_COMMITTED, x->nmarks);
    for (int i = 0; i < x->nmarks; i++) {
        struct mark *m = &x->marks[i];
        if (m->pending == m->committed)
            continue;
        m->committed = m->pending;
        memcpy(m->chash, m->phash, sizeof m->chash);
        if (ev)
            ev->m[ev->n++] = *m;
    }
    x->commits++;
    int ndlq = 0;
    while (x->dlq_open) {
        struct msg *d = x->dlq_open;
        x->dlq_open = d->next;
        msg_free(d);
        ndlq++;
    }
    x->dlq_tail = &x->dlq_open;
    if (ndlq) {
        pthread_mutex_lock(&x->mu);
        x->dlq_count -= ndlq;
        pthread_mutex_unlock(&x->mu);
    }
    pe_debug("output.committed",
             "records=%" PRId64 " dead=%d terminals=%d n=%" PRId64 " open_ms=%" PRId64
             " commit_ms=%" PRId64 " next_goal=%" PRId64 "/%" PRId64 "ms",
             x->txn_records, ndlq, ev ? ev->n : -1, x->commits, c0 - x->opened_at,
             pe_mono_ms() - c0, x->goal_events, x->goal_ms);
    x->open = false;
    x->committed_at = pe_mono_ms();
    if (ev) {
        ev->records = x->txn_records;
        post(x, ev);
    }
}

/* Let the last commit's markers be written before a new transaction adds partitions (see
 * TXN_GAP_MS), serving librdkafka's callbacks meanwhile. */
static void gap_after_commit(struct otxn *x)
{
    int64_t left;
    while (x->committed_at && (left = x->committed_at + TXN_GAP_MS - pe_mono_ms()) > 0)
        rd_kafka_poll(x->rk, (int)left);
}

/* Produce one record into the open transaction (opening one when none is). */
static void produce_msg(struct otxn *x, struct msg *m)
{
    if (!x->open) {
        gap_after_commit(x);
        rd_kafka_error_t *e = rd_kafka_begin_transaction(x->rk);
        if (e) {
            log_error("output.begin", e);
            bool fatal = rd_kafka_error_is_fatal(e);
            rd_kafka_error_destroy(e);
            x->fatal = x->fatal || fatal;
            x->failed = true;
            if (m->dlq) {
                pthread_mutex_lock(&x->mu);
                m->next = x->in_head;
                x->in_head = m;
                if (!m->next)
                    x->in_tail = &m->next;
                pthread_mutex_unlock(&x->mu);
            } else {
                msg_free(m);
            }
            reinit(x, "begin_failed");
            return;
        }
        x->open = true;
        x->failed = false;
        x->refused_in_txn = false;
        x->opened_at = pe_mono_ms();
        x->txn_records = 0;
    }
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (struct msg *r = m->empty ? NULL : m; r && !e; r = r->more) {
        if (x->auth.status == OUTPUT_AUTH_TOPIC_NOT_AUTHORIZED &&
            strcmp(r->topic, x->auth.resource) == 0)
            x->refused_in_txn = true;
        rd_kafka_headers_t *hdrs = rd_kafka_headers_new((size_t)r->nh);
        for (int i = 0; hdrs && i < r->nh; i++)
            rd_kafka_header_add(hdrs, r->hname[i], -1, r->hval[i], -1);
        kc_topic(x->rk, &x->topics, r->topic);
        for (;;) {
            /* An event's records stay held until the transaction ends: no copy. A dead letter
             * goes back to the inbox after an abort, so librdkafka gets a copy of it. */
            e = rd_kafka_producev(x->rk, RD_KAFKA_V_TOPIC(r->topic),
                                  RD_KAFKA_V_MSGFLAGS(m->dlq ? RD_KAFKA_MSG_F_COPY : 0),
                                  RD_KAFKA_V_KEY(r->key, r->key ? r->keylen : 0),
                                  RD_KAFKA_V_VALUE((void *)r->val, r->len),
                                  RD_KAFKA_V_TIMESTAMP(r->ts_ms > 0 ? r->ts_ms : 0),
                                  RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || stopping(x))
                break;
            rd_kafka_poll(x->rk, 50);
        }
        if (e) {
            rd_kafka_headers_destroy(hdrs);
            enum output_auth refusal = kc_auth_of(e);
            if (refusal != OUTPUT_AUTH_OK) /* librdkafka knows the refusal from metadata */
                note(x, refusal, refusal == OUTPUT_AUTH_TOPIC_NOT_AUTHORIZED ? r->topic : "", e,
                     rd_kafka_err2str(e));
            else
                pe_warn("output.produce_failed", "topic=%s err=%s", r->topic,
                        rd_kafka_err2name(e));
            if (e == RD_KAFKA_RESP_ERR__FATAL)
                x->fatal = true;
            x->failed = true;
        }
    }
    if (m->dlq) {
        /* Kept until the commit: a dead letter cannot be produced again from the spool. */
        m->next = NULL;
        *x->dlq_tail = m;
        x->dlq_tail = &m->next;
        return;
    }
    if (!e) {
        struct mark *mk = mark_find(x->marks, &x->nmarks, m->ref.store, m->ref.terminal, true);
        if (mk && m->ref.seq > mk->pending) {
            mk->pending = m->ref.seq;
            memcpy(mk->phash, m->hash, sizeof mk->phash);
        }
        x->txn_records++;
    }
    hold(x, m);
}

/* Take up to max records from the inbox, waiting up to wait_ms for the first. */
static struct msg *take(struct otxn *x, int64_t wait_ms, int64_t max, bool *flush, bool *stop)
{
    pthread_mutex_lock(&x->mu);
    if (!x->in_head && !x->stop && !x->reload && !x->flush && wait_ms > 0)
        timed_wait(x, wait_ms);
    struct msg *head = NULL, **tail = &head;
    int64_t n = 0;
    while (x->in_head && n < max) {
        struct msg *m = x->in_head;
        x->in_head = m->next;
        if (!x->in_head)
            x->in_tail = &x->in_head;
        if (!m->dlq && m->gen != x->gen) {
            msg_free(m); /* produced before the loop saw the last reset: it produces it again */
            continue;
        }
        m->next = NULL;
        *tail = m;
        tail = &m->next;
        n++;
    }
    *flush = x->flush;
    if (x->flush && !x->in_head && !x->open)
        x->flush = false;
    *stop = x->stop;
    pthread_mutex_unlock(&x->mu);
    return head;
}

/* A reload was asked for (and is taken now). */
static bool take_reload(struct otxn *x)
{
    pthread_mutex_lock(&x->mu);
    bool r = x->reload;
    x->reload = false;
    pthread_mutex_unlock(&x->mu);
    return r;
}

/* Swap in a producer made from the files as they are now (output_reload). True when it was
 * swapped: then it must recover (init_transactions fences the old one and aborts what it left
 * open). On failure the current producer stays. */
static bool reload(struct otxn *x)
{
    char err[512];
    rd_kafka_t *rk = NULL;
    if (producer_new(x, &rk, err, sizeof err) != PE_OK) {
        pe_error("output.reload_failed", "err=\"%s\" (the current producer stays)", err);
        return false;
    }
    if (x->rk) {
        producer_drop(x);
        marks_rollback(x);
        requeue_dlq(x);
    }
    x->rk = rk;
    pe_info("output.reloaded",
            "transactional_id=%s (a new producer: fencing and reading the committed state back)",
            x->tid);
    return true;
}

static void *run(void *arg)
{
    struct otxn *x = arg;
    int64_t backoff = 0;
    bool ready = false;
    for (;;) {
        if (stopping(x))
            break;
        if (take_reload(x) && reload(x)) {
            ready = false;
            backoff = 0;
        }
        if (!ready || !x->rk) {
            if (backoff) {
                pthread_mutex_lock(&x->mu);
                if (!x->stop && !x->reload)
                    timed_wait(x, backoff);
                pthread_mutex_unlock(&x->mu);
                if (interrupted(x))
                    continue;
            }
            ready = recover(x) == PE_OK;
            backoff = ready     ? 0
                      : backoff ? (backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2)
                                : 250;
            continue;
        }
        int64_t now = pe_mono_ms();
        int64_t wait = x->open ? x->opened_at + x->goal_ms - now : IDLE_MS;
        bool flush, stop;
        int64_t room = x->open ? x->goal_events - x->txn_records : x->goal_events;
        struct msg *batch = take(x, wait, room, &flush, &stop);
        while (batch) {
            struct msg *m = batch;
            batch = m->next;
            if (x->rk)
                produce_msg(x, m);
            else if (m->dlq) {
                m->next = NULL;
                *x->dlq_tail = m;
                x->dlq_tail = &m->next;
            } else {
                msg_free(m);
            }
        }
        if (!x->rk) {
            requeue_dlq(x);
            ready = false;
            continue;
        }
        rd_kafka_poll(x->rk, 0);
        release_retired(x);
        if (x->fatal) {
            reinit(x, "fatal");
            ready = false;
            continue;
        }
        now = pe_mono_ms();
        if (x->open && !stop &&
            (x->failed || flush || x->txn_records >= x->goal_events ||
             now >= x->opened_at + x->goal_ms)) {
            commit_txn(x);
            if (!x->rk)
                ready = false;
        }
    }
    /* Stopping: whatever is still open is not committed; the bridge produces it again on its
     * next start (after init_transactions has aborted it). */
    if (x->rk && x->open) {
        rd_kafka_error_t *e = rd_kafka_abort_transaction(x->rk, COMMIT_MS);
        if (e)
            rd_kafka_error_destroy(e);
    }
    producer_drop(x);
    return NULL;
}

/* ---- the loop's side ---- */

static void process(struct otxn *x)
{
    pthread_mutex_lock(&x->mu);
    struct event *e = x->ev_head;
    x->ev_head = NULL;
    x->ev_tail = &x->ev_head;
    pthread_mutex_unlock(&x->mu);
    while (e) {
        struct event *next = e->next;
        switch (e->kind) {
        case EV_RECOVERED:
            for (int i = 0; i < e->n; i++)
                if (x->on_recovered)
                    x->on_recovered(x->ctx, e->m[i].store, e->m[i].terminal, e->m[i].committed,
                                    e->m[i].chash);
            break;
        case EV_RESET:
            x->gen_main = e->gen;
            x->inflight = 0;
            x->ready = true;
            if (x->on_reset)
                x->on_reset(x->ctx);
            break;
        case EV_COMMITTED:
            x->inflight -= (int)e->records;
            if (x->inflight < 0)
                x->inflight = 0;
            for (int i = 0; i < e->n; i++)
                if (x->on_committed)
                    x->on_committed(x->ctx, e->m[i].store, e->m[i].terminal, e->m[i].committed);
            break;
        }
        free(e);
        e = next;
    }
}

static void on_readable(int fd, short revents, void *ctx)
{
    (void)revents;
    kc_drain_pipe(fd);
    process(ctx);
}

static void enqueue(struct otxn *x, struct msg *m)
{
    m->next = NULL;
    pthread_mutex_lock(&x->mu);
    bool was_empty = x->in_head == NULL;
    *x->in_tail = m;
    x->in_tail = &m->next;
    if (m->dlq)
        x->dlq_count++;
    if (was_empty)
        pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

/* A message with room for n strings and a value; strings are copied in by put. */
static struct msg *msg_new(size_t strings, size_t len)
{
    struct msg *m = calloc(1, sizeof *m + strings + len);
    return m;
}

static const char *put(char **p, const char *s)
{
    size_t n = strlen(s) + 1;
    memcpy(*p, s, n);
    const char *r = *p;
    *p += n;
    return r;
}

/* Copy one record of an event into a new message. NULL when out of memory. */
static struct msg *msg_of(struct otxn *x, const struct output_ref *ref, const char *hash,
                          const struct output_rec *r)
{
    size_t strs = strlen(r->topic) + 1 + (r->key ? r->keylen + 1 : 0);
    for (int i = 0; i < r->nh; i++)
        strs += strlen(r->h[i].name) + strlen(r->h[i].value) + 2;
    struct msg *m = msg_new(strs, r->len);
    if (!m)
        return NULL;
    char *p = m->data;
    m->gen = x->gen_main;
    m->ref = *ref;
    m->ref.store[sizeof m->ref.store - 1] = '\0';
    m->ref.terminal[sizeof m->ref.terminal - 1] = '\0';
    memcpy(m->hash, hash, PE_SHA256_HEXLEN);
    m->ts_ms = r->ts_ms;
    m->topic = put(&p, r->topic);
    if (r->key) {
        memcpy(p, r->key, r->keylen);
        p[r->keylen] = '\0';
        m->key = p;
        m->keylen = r->keylen;
        p += r->keylen + 1;
    }
    for (int i = 0; i < r->nh; i++) {
        m->hname[i] = put(&p, r->h[i].name);
        m->hval[i] = put(&p, r->h[i].value);
    }
    m->nh = r->nh;
    if (r->len)
        memcpy(p, r->val, r->len);
    m->val = p;
    m->len = r->len;
    return m;
}

static int txn_produce_event(void *impl, const struct output_ref *ref, const char *hash,
                             const struct output_rec *recs, int n)
{
    struct otxn *x = impl;
    if (!hash || !pe_is_sha256_hex(hash))
        return PE_EINVAL;
    if (!x->ready || x->inflight >= x->max_inflight)
        return PE_EAGAIN;
    /* Refused here, as the idempotent producer refuses it: once in a transaction, a record
     * Kafka cannot take would abort that transaction and every retry of it. */
    for (int i = 0; i < n; i++) {
        size_t strs = strlen(recs[i].topic) + recs[i].keylen;
        for (int k = 0; k < recs[i].nh; k++)
            strs += strlen(recs[i].h[k].name) + strlen(recs[i].h[k].value);
        if (recs[i].len + strs + WIRE_OVERHEAD > x->max_msg) {
            pe_warn("output.refused", "topic=%s bytes=%zu message.max.bytes=%zu", recs[i].topic,
                    recs[i].len, x->max_msg);
            return PE_EINVAL;
        }
    }
    static const struct output_rec none = {.topic = ""};
    struct msg *head = NULL, **tail = &head;
    for (int i = 0; i < (n ? n : 1); i++) {
        struct msg *m = msg_of(x, ref, hash, n ? &recs[i] : &none);
        if (!m) {
            msg_free(head);
            return PE_ENOMEM;
        }
        *tail = m;
        tail = &m->more;
    }
    head->empty = n == 0;
    enqueue(x, head);
    x->inflight++;
    return PE_OK;
}

static int txn_produce_dlq(void *impl, const char *topic, const void *payload, size_t len,
                           const char *reason, const char *source_topic)
{
    struct otxn *x = impl;
    pthread_mutex_lock(&x->mu);
    int queued = x->dlq_count;
    pthread_mutex_unlock(&x->mu);
    if (queued >= MAX_DLQ)
        return PE_EAGAIN;
    char orig[24];
    len = kc_dlq_cut(len, x->max_msg, reason, source_topic, orig);
    size_t strs = strlen(topic) + strlen(reason) + strlen(source_topic) + strlen(orig) + 4;
    struct msg *m = msg_new(strs, len);
    if (!m)
        return PE_ENOMEM;
    char *p = m->data;
    m->dlq = true;
    m->topic = put(&p, topic);
    m->hname[0] = "reason";
    m->hval[0] = put(&p, reason);
    m->hname[1] = "topic";
    m->hval[1] = put(&p, source_topic);
    m->nh = 2;
    if (orig[0]) {
        m->hname[2] = "truncated";
        m->hval[2] = put(&p, orig);
        m->nh = 3;
    }
    if (len)
        memcpy(p, payload, len);
    m->val = p;
    m->len = len;
    enqueue(x, m);
    return PE_OK;
}

static int txn_inflight(const void *impl)
{
    const struct otxn *x = impl;
    return x->inflight;
}

static void txn_kafka_state(void *impl, struct output_kafka *out)
{
    struct otxn *x = impl;
    pthread_mutex_lock(&x->mu);
    *out = x->kafka;
    out->txn_committed = x->txn_committed;
    out->txn_aborted = x->txn_aborted;
    kc_auth_get(&x->auth, out);
    pthread_mutex_unlock(&x->mu);
}

static int txn_reload(void *impl, char *err, size_t errlen)
{
    struct otxn *x = impl;
    /* The configuration is made here once (the password read, the key's mode checked), so a
     * broken file is refused now; the Kafka thread makes its own. */
    rd_kafka_conf_t *conf = NULL;
    struct pe_kafka_site site = {.brokers = x->brokers,
                                 .properties = x->props,
                                 .security = &x->sec,
                                 .transactional_id = x->tid};
    int rc = pe_kafka_conf_new(PE_KAFKA_PRODUCER_TRANSACTIONAL, &site, &conf, err, errlen);
    if (rc)
        return rc;
    rd_kafka_conf_destroy(conf);
    pthread_mutex_lock(&x->mu);
    x->reload = true;
    pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu);
    return PE_OK;
}

static int txn_flush(void *impl, int timeout_ms)
{
    struct otxn *x = impl;
    int64_t deadline = pe_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        process(x);
        pthread_mutex_lock(&x->mu);
        bool done = x->inflight == 0 && x->dlq_count == 0;
        if (!done) {
            x->flush = true;
            pthread_cond_signal(&x->cv);
        }
        pthread_mutex_unlock(&x->mu);
        if (done)
            return PE_OK;
        int64_t left = deadline - pe_mono_ms();
        if (left <= 0)
            return PE_EAGAIN;
        struct pollfd pfd = {.fd = x->pipe_rd, .events = POLLIN};
        if (poll(&pfd, 1, (int)(left < IDLE_MS ? left : IDLE_MS)) > 0)
            kc_drain_pipe(x->pipe_rd);
    }
}

static void txn_destroy(void *impl)
{
    struct otxn *x = impl;
    if (x->thread_started) {
        pthread_mutex_lock(&x->mu);
        x->stop = true;
        pthread_cond_signal(&x->cv);
        pthread_mutex_unlock(&x->mu);
        pthread_join(x->thread, NULL);
    }
    if (x->inflight > 0)
        pe_warn("output.destroy", "inflight=%d (not committed: the spool keeps them)", x->inflight);
    if (x->watched)
        pe_loop_del_fd(x->loop, x->pipe_rd);
    if (x->pipe_rd >= 0) {
        close(x->pipe_rd);
        close(x->pipe_wr);
    }
    free_msgs(x->in_head);
    free_msgs(x->dlq_open);
    while (x->ev_head) {
        struct event *e = x->ev_head;
        x->ev_head = e->next;
        free(e);
    }
    pthread_cond_destroy(&x->cv);
    pthread_mutex_destroy(&x->mu);
    free(x->marks);
    cJSON_Delete(x->props);
    free(x->brokers);
    free(x->tid);
    free(x->state_topic);
    free(x->state_key);
    free(x);
}

static int txn_create(struct pe_loop *loop, const struct output_opts *opts, void **impl, char *err,
                      size_t errlen)
{
    if (!opts->transactional_id || !*opts->transactional_id || !opts->state_topic ||
        !*opts->state_topic || !opts->state_key || !*opts->state_key) {
        snprintf(err, errlen, "kafka: transactional mode needs an id, a state topic and a key");
        return PE_EINVAL;
    }
    struct otxn *x = calloc(1, sizeof *x);
    if (!x)
        return PE_ENOMEM;
    x->loop = loop;
    x->pipe_rd = x->pipe_wr = -1;
    x->max_inflight = opts->max_inflight > 0 ? opts->max_inflight : DEFAULT_MAX_INFLIGHT;
    x->max_events = opts->txn_max_events > 0 ? opts->txn_max_events : DEFAULT_TXN_EVENTS;
    x->interval_ms = opts->txn_interval_ms > 0 ? opts->txn_interval_ms : DEFAULT_TXN_MS;
    x->on_reset = opts->on_reset;
    x->on_committed = opts->on_committed;
    x->on_recovered = opts->on_recovered;
    x->ctx = opts->ctx;
    x->in_tail = &x->in_head;
    x->ev_tail = &x->ev_head;
    x->dlq_tail = &x->dlq_open;
    x->held_tail = &x->held;
    set_goals(x, false);
    x->brokers = strdup(opts->brokers);
    if (opts->security)
        x->sec = *opts->security;
    x->tid = strdup(opts->transactional_id);
    x->state_topic = strdup(opts->state_topic);
    x->state_key = strdup(opts->state_key);
    x->props = opts->properties ? cJSON_Duplicate(opts->properties, 1) : NULL;
    x->marks = calloc(MAX_MARKS, sizeof *x->marks);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, &ca);
    pthread_condattr_destroy(&ca);
    int fds[2] = {-1, -1}, rc;
    if (!x->brokers || !x->tid || !x->state_topic || !x->state_key || !x->marks ||
        (opts->properties && !x->props)) {
        rc = PE_ENOMEM;
        goto fail;
    }
    /* Check the configuration now, so that a bad property is refused at start, not retried. */
    rd_kafka_t *probe = NULL;
    if ((rc = producer_new(x, &probe, err, errlen)))
        goto fail;
    x->max_msg = kc_max_msg(probe);
    rd_kafka_destroy(probe);
    if ((rc = kc_pipe(fds, err, errlen)))
        goto fail;
    x->pipe_rd = fds[0];
    x->pipe_wr = fds[1];
    if ((rc = pe_loop_add_fd(loop, x->pipe_rd, POLLIN, on_readable, x))) {
        snprintf(err, errlen, "kafka: cannot watch the commit pipe: %s", pe_strerror(rc));
        goto fail;
    }
    x->watched = true;
    if (pthread_create(&x->thread, NULL, run, x) != 0) {
        snprintf(err, errlen, "kafka: cannot start the producer thread");
        rc = PE_ESYS;
        goto fail;
    }
    x->thread_started = true;
    pe_info("output.start",
            "mode=transactional transactional_id=%s state_topic=%s "
            "txn_max_events=%d txn_interval_ms=%d max_inflight=%d brokers=%s",
            x->tid, x->state_topic, x->max_events, x->interval_ms, x->max_inflight, x->brokers);
    *impl = x;
    return PE_OK;

fail:
    txn_destroy(x); /* it frees whatever create got to */
    return rc;
}

const struct output_backend output_transactional = {
    .mode = OUTPUT_TRANSACTIONAL,
    .create = txn_create,
    .produce_event = txn_produce_event,
    .produce_dlq = txn_produce_dlq,
    .kafka_state = txn_kafka_state,
    .inflight = txn_inflight,
    .flush = txn_flush,
    .reload = txn_reload,
    .destroy = txn_destroy,
};
