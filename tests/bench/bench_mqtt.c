/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_mqtt.c - the MQTT side of the bridge benchmarks, one libmosquitto client in one thread.
 *
 *   bench_mqtt [CONNECTION] raw HOST PORT N T
 *       The limit: N messages of one canonical record each (the same records the intake run
 *       sends), QoS 1, to bench/raw/<terminal> where nobody subscribes; the rate is N over the
 *       time from the first publish until every PUBACK is in.
 *       Prints "raw_msgs_per_s=R messages=N bytes=B".
 *   bench_mqtt [CONNECTION] intake HOST PORT N T BATCH PREFIX
 *       The bridge's intake: N records of T terminals (s001/<PREFIX>01.., names no earlier run
 *       on the same broker used, since acks are retained), each terminal's in seq order
 *       in agent-style batches (up to BATCH records joined by '\n' per message) on
 *       posedge/v1/s001/<terminal>/events, with the agent's go-back-N window (at most WINDOW
 *       records of a terminal sent and not yet acknowledged as spooled). The rate is N over the
 *       time from the first publish until the retained ack of every terminal says spooled == its
 *       share. Prints "intake_events_per_s=R events=N messages=M".
 *   bench_mqtt [CONNECTION] store HOST PORT N T BATCH PREFIX RATE
 *       A store of T tills on one bridge: each till s001/<PREFIX>01.. its own MQTT connection
 *       subscribed to its own ack, N records in all, each till's records committed at RATE
 *       records/s from the start (staggered across tills; RATE 0: all committed at the start,
 *       a backlog after an outage), each till publishing what it has committed as the agent
 *       does (batches of up to BATCH, the go-back-N window). Fairness: every till's spooled
 *       records/s from the start until the first till is fully spooled, as Jain's index
 *       (sum x)^2 / (T sum x^2) (1: equal shares, 1/T: one till takes all) and min/max; latency:
 *       from each record's commit to the ack that first says it is spooled arriving at its
 *       till. Prints "store_events_per_s=R jain=J till_min_per_s=A till_max_per_s=B
 *       commit_ack_p50_ms=P commit_ack_p99_ms=Q commit_ack_max_ms=M events=N tills=T".
 *   bench_mqtt [CONNECTION] wait HOST PORT N T PREFIX
 *       Wait until the retained ack of every terminal s001/<PREFIX>01.. says delivered == its
 *       share of N (the drain benchmark's finish line). Prints "delivered=N".
 *
 * CONNECTION, for a broker with the store's ACL (posedge-ctl broker-config):
 *   --tls CA CERT KEY          TLS 1.2 or later, the broker's certificate checked against CA
 *                              and HOST, the client certificate CERT with its key KEY
 *   --user U --password-file F a password login (its first line); plaintext unless --tls
 *
 * Both publishers keep the same client settings as posedge's own (pe_mqtt: MQTT v5, 100 QoS 1
 * messages on the wire, TLS as common/mqtt.c sets it), records are generated before the clock
 * starts, and everything is on loopback. A publish the broker refuses (a v5 PUBACK reason code
 * of 0x80 or more, e.g. 0x87 Not authorized by the ACL) ends the run with exit 1: it would
 * otherwise count as done. Exit 1 too when progress stalls for STALL_MS.
 */
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/clock.h"
#include "tests/bench/bench_records.h"

#define MAX_T 64
#define MAX_INFLIGHT 100 /* as common/mqtt.c */
#define RAW_WINDOW 1000  /* raw: messages published and not yet acknowledged */
#define WINDOW 2000      /* intake: a terminal's records sent and not yet spooled (agent) */
#define STALL_MS 60000

struct rec {
    char *data;
    size_t len;
};

struct term {
    char name[PE_ID_MAX];
    struct rec *recs; /* its records, seq 1..n */
    long n;
    long sent;      /* records published */
    long spooled;   /* from the ack */
    long delivered; /* from the ack */
    /* store: the till's own connection */
    struct mosquitto *mosq;
    bool connected, asked, subscribed; /* asked: its SUBSCRIBE is out */
    int64_t phase_us;   /* its first commit, after the start */
    int64_t done_us;    /* when its last record was acknowledged as spooled, 0: not yet */
};

static struct {
    const char *ca, *cert, *key; /* --tls */
    const char *user;            /* --user */
    char password[256];          /* --password-file's first line */
} conn;

static struct {
    struct term t[MAX_T];
    int nt;
    bool connected, subscribed;
    long acked; /* PUBACKs */
    int64_t progress_ms;
} st;

static void on_connect(struct mosquitto *m, void *ctx, int rc)
{
    (void)m;
    (void)ctx;
    if (rc) {
        fprintf(stderr, "bench_mqtt: connection refused: %s\n", mosquitto_connack_string(rc));
        exit(1);
    }
    st.connected = true;
}

static void on_subscribe(struct mosquitto *m, void *ctx, int mid, int n, const int *qos)
{
    (void)m, (void)ctx, (void)mid, (void)n, (void)qos;
    st.subscribed = true;
}

static void on_publish(struct mosquitto *m, void *ctx, int mid, int reason,
                       const mosquitto_property *props)
{
    (void)m, (void)ctx, (void)props;
    if (reason >= 0x80) { /* MQTT v5: refused (a success is < 0x80, e.g. 0x10 no subscribers) */
        fprintf(stderr, "bench_mqtt: publish %d refused: %s\n", mid,
                mosquitto_reason_string(reason));
        exit(1);
    }
    st.acked++;
    st.progress_ms = pe_mono_ms();
}

/* posedge/v1/s001/<terminal>/ack {"spooled":N,"delivered":M} */
static void on_message(struct mosquitto *m, void *ctx, const struct mosquitto_message *msg)
{
    (void)m, (void)ctx;
    char term[PE_ID_MAX], body[128];
    if (sscanf(msg->topic, "posedge/v1/s001/%32[^/]/ack", term) != 1 || msg->payloadlen <= 0)
        return;
    snprintf(body, sizeof body, "%.*s", msg->payloadlen, (const char *)msg->payload);
    long sp, de;
    if (sscanf(body, "{\"spooled\":%ld,\"delivered\":%ld}", &sp, &de) != 2)
        return;
    for (int i = 0; i < st.nt; i++)
        if (strcmp(st.t[i].name, term) == 0) {
            if (sp > st.t[i].spooled || de > st.t[i].delivered)
                st.progress_ms = pe_mono_ms();
            st.t[i].spooled = sp;
            st.t[i].delivered = de;
        }
}

static void step(struct mosquitto *m, int timeout_ms)
{
    int rc = mosquitto_loop(m, timeout_ms, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "bench_mqtt: %s\n", mosquitto_strerror(rc));
        exit(1);
    }
    if (pe_mono_ms() - st.progress_ms > STALL_MS) {
        fprintf(stderr, "bench_mqtt: no progress for %d ms\n", STALL_MS);
        exit(1);
    }
}

static void publish(struct mosquitto *m, const char *topic, const void *p, size_t len)
{
    int rc = mosquitto_publish(m, NULL, topic, (int)len, p, 1, false);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "bench_mqtt: publish: %s\n", mosquitto_strerror(rc));
        exit(1);
    }
}

/* The options of posedge's own clients (common/mqtt.c) on a bench client: MQTT v5, no Nagle,
 * and the connection's TLS and login (conn). False (said on stderr) when one is refused. */
static bool client_settings(struct mosquitto *m)
{
    int rc = mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_int_option(m, MOSQ_OPT_TCP_NODELAY, 1);
    if (rc == MOSQ_ERR_SUCCESS && conn.ca) {
        rc = mosquitto_tls_set(m, conn.ca, NULL, conn.cert, conn.key, NULL);
        if (rc == MOSQ_ERR_SUCCESS)
            rc = mosquitto_tls_opts_set(m, 1 /* SSL_VERIFY_PEER */, "tlsv1.2", NULL);
    }
    if (rc == MOSQ_ERR_SUCCESS && conn.user)
        rc = mosquitto_username_pw_set(m, conn.user, conn.password);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "bench_mqtt: client settings: %s\n", mosquitto_strerror(rc));
        return false;
    }
    return true;
}

static struct mosquitto *client(const char *host, int port, const char *sub)
{
    mosquitto_lib_init();
    char id[64];
    snprintf(id, sizeof id, "posedge-bench-%ld", (long)pe_mono_us());
    struct mosquitto *m = mosquitto_new(id, true, NULL);
    if (!m)
        exit(1);
    if (!client_settings(m))
        exit(1);
    mosquitto_max_inflight_messages_set(m, MAX_INFLIGHT);
    mosquitto_connect_callback_set(m, on_connect);
    mosquitto_subscribe_callback_set(m, on_subscribe);
    mosquitto_publish_v5_callback_set(m, on_publish);
    mosquitto_message_callback_set(m, on_message);
    if (mosquitto_connect(m, host, port, 30) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "bench_mqtt: cannot connect to %s:%d\n", host, port);
        exit(1);
    }
    st.progress_ms = pe_mono_ms();
    while (!st.connected)
        step(m, 100);
    if (sub) {
        mosquitto_subscribe(m, NULL, sub, 1);
        while (!st.subscribed)
            step(m, 100);
    }
    return m;
}

/* Disconnects and frees the client and the library (a clean exit for LeakSanitizer). */
static void finish(struct mosquitto *m)
{
    mosquitto_disconnect(m);
    mosquitto_destroy(m);
    mosquitto_lib_cleanup();
}

/* Seal n records spread round robin over nt terminals PREFIX01.. (share: n / nt, the first
 * n % nt terminals one more). */
static void make_terms(long n, int nt, const char *prefix, bool records)
{
    st.nt = nt;
    for (int i = 0; i < nt; i++) {
        struct term *t = &st.t[i];
        snprintf(t->name, sizeof t->name, "%s%02d", prefix, i + 1);
        t->n = n / nt + (i < n % nt);
        if (!records)
            continue;
        struct bench_gen g;
        bench_gen_init(&g, "s001", t->name, (uint64_t)i + 1);
        t->recs = calloc((size_t)t->n, sizeof *t->recs);
        char hash[PE_SHA256_HEXLEN];
        for (long k = 0; k < t->n; k++)
            if (!t->recs || bench_gen_next(&g, &t->recs[k].data, &t->recs[k].len, hash, NULL)) {
                fprintf(stderr, "bench_mqtt: cannot build records\n");
                exit(1);
            }
    }
}

static int run_raw(const char *host, int port, long n, int nt)
{
    make_terms(n, nt, "t", true);
    struct mosquitto *m = client(host, port, NULL);
    char topic[MAX_T][64];
    for (int i = 0; i < nt; i++)
        snprintf(topic[i], sizeof topic[i], "bench/raw/%s", st.t[i].name);
    long sent = 0;
    int64_t bytes = 0, t0 = pe_mono_us();
    st.progress_ms = pe_mono_ms();
    while (st.acked < n) {
        while (sent < n && sent - st.acked < RAW_WINDOW) {
            struct term *t = &st.t[sent % nt];
            struct rec *r = &t->recs[t->sent++];
            publish(m, topic[sent % nt], r->data, r->len);
            bytes += (int64_t)r->len;
            sent++;
        }
        step(m, sent < n ? 0 : 100);
    }
    double s = (double)(pe_mono_us() - t0) / 1e6;
    printf("raw_msgs_per_s=%.0f messages=%ld bytes=%lld\n", (double)n / s, n, (long long)bytes);
    finish(m);
    return 0;
}

/* The terminal's next agent-style batch: up to batch records from sent + 1, none past upto nor
 * beyond the go-back-N window, joined by '\n' into buf; topic gets its events topic. */
static size_t next_batch(struct term *t, long upto, int batch, char *buf, char *topic,
                         size_t topiclen)
{
    size_t len = 0;
    for (int k = 0; k < batch && t->sent < upto && t->sent - t->spooled < WINDOW; k++) {
        struct rec *r = &t->recs[t->sent++];
        if (k)
            buf[len++] = '\n';
        memcpy(buf + len, r->data, r->len);
        len += r->len;
    }
    snprintf(topic, topiclen, "posedge/v1/s001/%s/events", t->name);
    return len;
}

static int run_intake(const char *host, int port, long n, int nt, int batch, const char *prefix)
{
    make_terms(n, nt, prefix, true);
    struct mosquitto *m = client(host, port, "posedge/v1/s001/+/ack");
    char *buf = malloc((size_t)batch * 1024);
    if (!buf)
        return 1;
    long msgs = 0;
    int64_t t0 = pe_mono_us();
    st.progress_ms = pe_mono_ms();
    for (;;) {
        bool done = true, more = false;
        for (int i = 0; i < nt; i++) {
            struct term *t = &st.t[i];
            done = done && t->spooled >= t->n;
            /* Go-back-N as the agent: resend from spooled + 1 only when it stalls; here
             * nothing is lost, so the window alone paces the sender. */
            if (t->sent >= t->n || t->sent - t->spooled >= WINDOW)
                continue;
            char topic[96];
            size_t len = next_batch(t, t->n, batch, buf, topic, sizeof topic);
            publish(m, topic, buf, len);
            msgs++;
            more = more || t->sent < t->n;
        }
        if (done)
            break;
        step(m, more ? 0 : 100);
    }
    double s = (double)(pe_mono_us() - t0) / 1e6;
    printf("intake_events_per_s=%.0f events=%ld messages=%ld\n", (double)n / s, n, msgs);
    finish(m);
    free(buf);
    return 0;
}

/* ---- store: T tills, each on a connection of its own ---- */

static struct {
    int64_t t0;     /* the start, monotonic us */
    double rate;    /* records/s per till, 0: all committed at the start */
    int64_t *lat;   /* commit -> ack, us, one per record acknowledged */
    long nlat;
    int64_t first_done_us; /* when the first till was fully spooled */
    long at_first[MAX_T];  /* every till's spooled then */
} so;

static int64_t commit_us(const struct term *t, long seq)
{
    return so.rate > 0 ? so.t0 + t->phase_us + (int64_t)((double)(seq - 1) * 1e6 / so.rate)
                       : so.t0;
}

static void till_connect(struct mosquitto *m, void *ctx, int rc)
{
    (void)m;
    if (rc) {
        fprintf(stderr, "bench_mqtt: connection refused: %s\n", mosquitto_connack_string(rc));
        exit(1);
    }
    ((struct term *)ctx)->connected = true;
}

static void till_subscribe(struct mosquitto *m, void *ctx, int mid, int n, const int *qos)
{
    (void)m, (void)mid, (void)n, (void)qos;
    ((struct term *)ctx)->subscribed = true;
}

static void till_message(struct mosquitto *m, void *ctx, const struct mosquitto_message *msg)
{
    (void)m;
    struct term *t = ctx;
    char body[128];
    long sp, de;
    if (msg->payloadlen <= 0)
        return;
    snprintf(body, sizeof body, "%.*s", msg->payloadlen, (const char *)msg->payload);
    if (sscanf(body, "{\"spooled\":%ld,\"delivered\":%ld}", &sp, &de) != 2 || sp <= t->spooled)
        return;
    int64_t now = pe_mono_us();
    if (sp > t->n)
        sp = t->n;
    for (long seq = t->spooled + 1; seq <= sp; seq++)
        so.lat[so.nlat++] = now - commit_us(t, seq);
    t->spooled = sp;
    st.progress_ms = now / 1000;
    if (sp == t->n && !t->done_us) {
        t->done_us = now;
        if (!so.first_done_us) {
            so.first_done_us = now;
            for (int i = 0; i < st.nt; i++)
                so.at_first[i] = st.t[i].spooled;
        }
    }
}

static void till_step(struct mosquitto *m, int rc)
{
    (void)m;
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "bench_mqtt: %s\n", mosquitto_strerror(rc));
        exit(1);
    }
}

/* Read and write what every till's socket is ready for, waiting at most timeout_ms. */
static void tills_poll(int timeout_ms)
{
    struct pollfd pfd[MAX_T];
    for (int i = 0; i < st.nt; i++) {
        struct mosquitto *m = st.t[i].mosq;
        pfd[i] = (struct pollfd){.fd = mosquitto_socket(m),
                                 .events = (short)(POLLIN | (mosquitto_want_write(m) ? POLLOUT : 0))};
    }
    if (poll(pfd, (nfds_t)st.nt, timeout_ms) < 0)
        return;
    for (int i = 0; i < st.nt; i++) {
        struct mosquitto *m = st.t[i].mosq;
        if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
            till_step(m, mosquitto_loop_read(m, 1));
        if (pfd[i].revents & POLLOUT)
            till_step(m, mosquitto_loop_write(m, 1));
    }
    if (pe_mono_ms() - st.progress_ms > STALL_MS) {
        fprintf(stderr, "bench_mqtt: no progress for %d ms\n", STALL_MS);
        exit(1);
    }
}

static void tills_misc(int64_t *last_ms)
{
    if (pe_mono_ms() - *last_ms < 1000)
        return;
    *last_ms = pe_mono_ms();
    for (int i = 0; i < st.nt; i++)
        till_step(st.t[i].mosq, mosquitto_loop_misc(st.t[i].mosq));
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int run_store(const char *host, int port, long n, int nt, int batch, const char *prefix,
                     double rate)
{
    make_terms(n, nt, prefix, true);
    so.rate = rate;
    so.lat = calloc((size_t)n, sizeof *so.lat);
    char *buf = malloc((size_t)batch * 1024);
    if (!so.lat || !buf)
        return 1;
    mosquitto_lib_init();
    int64_t misc_ms = pe_mono_ms();
    st.progress_ms = pe_mono_ms();
    for (int i = 0; i < nt; i++) {
        struct term *t = &st.t[i];
        char id[64];
        snprintf(id, sizeof id, "posedge-bench-%s-%ld", t->name, (long)pe_mono_us());
        struct mosquitto *m = t->mosq = mosquitto_new(id, true, t);
        if (!m)
            return 1;
        if (!client_settings(m))
            return 1;
        mosquitto_max_inflight_messages_set(m, MAX_INFLIGHT);
        mosquitto_connect_callback_set(m, till_connect);
        mosquitto_subscribe_callback_set(m, till_subscribe);
        mosquitto_publish_v5_callback_set(m, on_publish);
        mosquitto_message_callback_set(m, till_message);
        if (mosquitto_connect(m, host, port, 30) != MOSQ_ERR_SUCCESS) {
            fprintf(stderr, "bench_mqtt: cannot connect to %s:%d\n", host, port);
            return 1;
        }
        t->phase_us = rate > 0 ? (int64_t)(1e6 / rate * i / nt) : 0;
    }
    for (bool ready = false; !ready;) {
        ready = true;
        for (int i = 0; i < nt; i++) {
            struct term *t = &st.t[i];
            if (t->connected && !t->asked) {
                char topic[96];
                snprintf(topic, sizeof topic, "posedge/v1/s001/%s/ack", t->name);
                mosquitto_subscribe(t->mosq, NULL, topic, 1);
                t->asked = true;
            }
            ready = ready && t->subscribed;
        }
        tills_poll(100);
    }
    long msgs = 0;
    so.t0 = pe_mono_us();
    st.progress_ms = pe_mono_ms();
    for (int left = nt; left > 0;) {
        int64_t now = pe_mono_us(), next = INT64_MAX;
        left = 0;
        for (int i = 0; i < nt; i++) {
            struct term *t = &st.t[i];
            left += t->spooled < t->n;
            /* What the till has committed by now, and when its next commit comes. */
            long committed = t->n;
            if (rate > 0) {
                int64_t since = now - so.t0 - t->phase_us;
                committed = since < 0 ? 0 : 1 + (long)((double)since * rate / 1e6);
                if (committed > t->n)
                    committed = t->n;
                if (committed < t->n && commit_us(t, committed + 1) < next)
                    next = commit_us(t, committed + 1);
            }
            while (t->sent < committed && t->sent - t->spooled < WINDOW) {
                char topic[96];
                size_t len = next_batch(t, committed, batch, buf, topic, sizeof topic);
                int rc = mosquitto_publish(t->mosq, NULL, topic, (int)len, buf, 1, false);
                if (rc != MOSQ_ERR_SUCCESS) {
                    fprintf(stderr, "bench_mqtt: publish: %s\n", mosquitto_strerror(rc));
                    return 1;
                }
                msgs++;
            }
        }
        int wait_ms = next == INT64_MAX ? 100 : (int)((next - pe_mono_us()) / 1000);
        tills_poll(wait_ms < 0 ? 0 : wait_ms > 100 ? 100 : wait_ms);
        tills_misc(&misc_ms);
    }
    int64_t end = pe_mono_us();
    double s = (double)(end - so.t0) / 1e6, fs = (double)(so.first_done_us - so.t0) / 1e6;
    double sum = 0, sum2 = 0, lo = 1e300, hi = 0;
    for (int i = 0; i < nt; i++) {
        double x = (double)so.at_first[i] / fs;
        sum += x, sum2 += x * x;
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
    }
    qsort(so.lat, (size_t)so.nlat, sizeof *so.lat, cmp_i64);
    long p50 = so.nlat / 2, p99 = so.nlat * 99 / 100;
    printf("store_events_per_s=%.0f jain=%.3f till_min_per_s=%.0f till_max_per_s=%.0f "
           "commit_ack_p50_ms=%.1f commit_ack_p99_ms=%.1f commit_ack_max_ms=%.1f events=%ld "
           "tills=%d messages=%ld\n",
           (double)n / s, sum * sum / (nt * sum2), lo, hi, (double)so.lat[p50] / 1000.0,
           (double)so.lat[p99] / 1000.0, (double)so.lat[so.nlat - 1] / 1000.0, n, nt, msgs);
    for (int i = 0; i < nt; i++) {
        mosquitto_disconnect(st.t[i].mosq);
        mosquitto_destroy(st.t[i].mosq);
    }
    mosquitto_lib_cleanup();
    free(so.lat);
    free(buf);
    return 0;
}

static int run_wait(const char *host, int port, long n, int nt, const char *prefix)
{
    make_terms(n, nt, prefix, false);
    struct mosquitto *m = client(host, port, "posedge/v1/s001/+/ack");
    st.progress_ms = pe_mono_ms();
    for (;;) {
        bool done = true;
        for (int i = 0; i < nt; i++)
            done = done && st.t[i].delivered >= st.t[i].n;
        if (done)
            break;
        step(m, 100);
    }
    printf("delivered=%ld\n", n);
    finish(m);
    return 0;
}

/* --password-file F: its first line into conn.password. */
static int read_password(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f || !fgets(conn.password, sizeof conn.password, f)) {
        fprintf(stderr, "bench_mqtt: cannot read %s\n", path);
        if (f)
            fclose(f);
        return 2;
    }
    fclose(f);
    conn.password[strcspn(conn.password, "\r\n")] = '\0';
    return 0;
}

int main(int argc, char **argv)
{
    const char *usage = "usage: bench_mqtt [--tls CA CERT KEY] [--user U --password-file F]\n"
                        "                  raw|intake|store|wait HOST PORT N T [BATCH|PREFIX] [PREFIX] [RATE]\n";
    bool password = false;
    while (argc > 1 && strncmp(argv[1], "--", 2) == 0) {
        int used = 0;
        if (strcmp(argv[1], "--tls") == 0 && argc > 4) {
            conn.ca = argv[2], conn.cert = argv[3], conn.key = argv[4];
            used = 4;
        } else if (strcmp(argv[1], "--user") == 0 && argc > 2) {
            conn.user = argv[2];
            used = 2;
        } else if (strcmp(argv[1], "--password-file") == 0 && argc > 2) {
            if (read_password(argv[2]))
                return 2;
            password = true;
            used = 2;
        } else {
            fputs(usage, stderr);
            return 2;
        }
        argc -= used;
        argv += used;
    }
    if (argc < 6 || password != (conn.user != NULL)) {
        fputs(usage, stderr);
        return 2;
    }
    const char *host = argv[2];
    int port = atoi(argv[3]), nt = atoi(argv[5]);
    long n = atol(argv[4]);
    if (n < 1 || nt < 1 || nt > MAX_T || n < nt) {
        fprintf(stderr, "bench_mqtt: need N >= T and 1 <= T <= %d\n", MAX_T);
        return 2;
    }
    if (strcmp(argv[1], "raw") == 0)
        return run_raw(host, port, n, nt);
    if (strcmp(argv[1], "intake") == 0)
        return run_intake(host, port, n, nt, argc > 6 ? atoi(argv[6]) : 200,
                          argc > 7 ? argv[7] : "t");
    if (strcmp(argv[1], "store") == 0)
        return run_store(host, port, n, nt, argc > 6 ? atoi(argv[6]) : 200,
                         argc > 7 ? argv[7] : "t", argc > 8 ? atof(argv[8]) : 0);
    if (strcmp(argv[1], "wait") == 0)
        return run_wait(host, port, n, nt, argc > 6 ? argv[6] : "t");
    fprintf(stderr, "bench_mqtt: unknown mode %s\n", argv[1]);
    return 2;
}
