/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_mqtt.c - unit tests of the loop-driven MQTT client (common/mqtt.c) against a real
 * mosquitto broker.
 *
 * Each test that needs a broker starts /usr/sbin/mosquitto (or $PE_MOSQUITTO) on a free
 * loopback port from a config file generated in the test's temporary directory, and stops it
 * at the end. The broker dies with the test process (see broker_start), so a failed CHECK,
 * which exits at once, never leaves one behind. Readiness is found by polling a TCP connect
 * against a deadline, and every wait spins the pe_loop until a condition holds or a deadline
 * passes: nothing sleeps to synchronise.
 *
 * MQTT v5 and TLS: a publish the broker's ACL denies comes back with reason 0x87 (not a silent
 * drop), a refused CONNACK is PE_EDECLINED; mutual TLS with certificates made by pe_pki in the
 * test's directory, and the refusals (no client certificate, a broker whose certificate does
 * not name the host, a key file others may read, a certificate without its key).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "posedge/clock.h"
#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/file.h"
#include "posedge/log.h"
#include "posedge/loop.h"
#include "posedge/mqtt.h"
#include "posedge/pki.h"
#include "tests/unit/harness.h"

#define WAIT_MS 10000 /* deadline of every wait */

/* Run the loop until cond holds, failing the test after WAIT_MS. */
#define WAIT_FOR(loop, cond) WAIT_FOR_MS(loop, cond, WAIT_MS)
#define WAIT_FOR_MS(loop, cond, ms)                                                                \
    do {                                                                                           \
        int64_t dl__ = pe_mono_ms() + (ms);                                                        \
        while (!(cond)) {                                                                          \
            if (pe_mono_ms() > dl__)                                                               \
                pe_test_fail(__FILE__, __LINE__, "timed out waiting for %s", #cond);               \
            pe_loop_run_once((loop), 20);                                                          \
        }                                                                                          \
    } while (0)

/* ---- the broker ---- */

/*
 * The broker runs under a small reaper process that holds the read end of a "life" pipe: when
 * the test closes the write end (broker_stop) or dies in any way (a failed CHECK exits at
 * once), the reaper sees end-of-file, stops mosquitto and exits. (PR_SET_PDEATHSIG would not
 * do: mosquitto started as root drops privileges, which clears it.)
 */
struct broker {
    pid_t reaper; /* the reaper, 0 when stopped */
    pid_t pid;    /* mosquitto itself (for SIGSTOP) */
    int life;     /* write end of the life pipe */
    int port;     /* the loopback port */
};

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) != 0)
        pe_test_fail(__FILE__, __LINE__, "no free port: %s", strerror(errno));
    close(s);
    return ntohs(a.sin_port);
}

static bool port_open(int port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0)
        close(s);
    return ok;
}

static void nap_ms(int ms)
{
    /* The polling interval of a condition with a deadline, not a synchroniser. */
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* In the reaper: close every descriptor but keep, so neither it nor mosquitto holds a copy of
 * the test's sockets (which would keep connections open after the test closed them). */
static void close_others(int keep1, int keep2)
{
    long max = sysconf(_SC_OPEN_MAX);
    for (int fd = 3; fd < (max > 0 && max < 65536 ? max : 4096); fd++)
        if (fd != keep1 && fd != keep2)
            close(fd);
}

static void reaper(const char *exe, const char *conf, const char *log, int life, int report)
{
    close_others(life, report);
    pid_t mp = fork();
    if (mp == 0) {
        close(life);
        close(report);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execl(exe, "mosquitto", "-c", conf, (char *)NULL);
        _exit(127);
    }
    if (write(report, &mp, sizeof mp) != (ssize_t)sizeof mp)
        mp = mp > 0 ? mp : 0;
    close(report);
    for (;;) {
        char c;
        ssize_t r = read(life, &c, 1);
        if (r == 0 || (r < 0 && errno != EINTR))
            break;
    }
    if (mp > 0) {
        kill(mp, SIGTERM);
        kill(mp, SIGCONT); /* a stopped broker must run to act on SIGTERM */
        while (waitpid(mp, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    _exit(0);
}

/* Start mosquitto on port (0: a free one) with the listener's lines extra (NULL: anonymous
 * plain TCP) and return once it accepts connections. */
static void broker_start_with(struct broker *b, int port, const char *extra)
{
    b->port = port ? port : free_port();
    const char *conf = pe_test_path(0, "mosquitto.conf");
    FILE *f = fopen(conf, "w");
    if (!f)
        pe_test_fail(__FILE__, __LINE__, "cannot write %s", conf);
    fprintf(f,
            "user root\nper_listener_settings true\nlistener %d 127.0.0.1\n%s\n"
            "persistence false\n",
            b->port, extra ? extra : "allow_anonymous true");
    fclose(f);
    const char *exe = getenv("PE_MOSQUITTO");
    exe = exe && *exe ? exe : "/usr/sbin/mosquitto";
    const char *log = pe_test_path(1, "mosquitto.log");
    int life[2], report[2];
    if (pipe(life) != 0 || pipe(report) != 0)
        pe_test_fail(__FILE__, __LINE__, "pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        pe_test_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0)
        reaper(exe, conf, log, life[0], report[1]);
    close(life[0]);
    close(report[1]);
    /* Children forked later (another broker's reaper, the will test's child) must not keep
     * this broker alive; the reaper closes what it inherits, and exec closes this. */
    fcntl(life[1], F_SETFD, FD_CLOEXEC);
    b->reaper = pid;
    b->life = life[1];
    b->pid = 0;
    if (read(report[0], &b->pid, sizeof b->pid) != (ssize_t)sizeof b->pid || b->pid <= 0)
        pe_test_fail(__FILE__, __LINE__, "mosquitto did not start");
    close(report[0]);
    int64_t deadline = pe_mono_ms() + WAIT_MS;
    while (!port_open(b->port)) {
        if (pe_mono_ms() > deadline)
            pe_test_fail(__FILE__, __LINE__, "mosquitto not listening on %d; see %s", b->port, log);
        nap_ms(10);
    }
}

static void broker_start(struct broker *b, int port)
{
    broker_start_with(b, port, NULL);
}

static void broker_stop(struct broker *b)
{
    if (!b->reaper)
        return;
    close(b->life);
    while (waitpid(b->reaper, NULL, 0) < 0 && errno == EINTR)
        ;
    b->reaper = 0;
    b->pid = 0;
}

/* ---- a client that records what happens to it ---- */

#define MAXMSG 600

struct msg {
    char topic[64];
    char payload[64];
    size_t len;
    bool retained;
};

struct probe {
    struct pe_mqtt *m;
    const char *sub;      /* subscribe to this in on_connect, or NULL */
    bool sub_if_fresh;    /* ... only when the broker had no session */
    int connects;         /* on_connect calls */
    int disconnects;      /* on_disconnect calls */
    int reason;           /* reason of the last one */
    bool session_present; /* of the last on_connect */
    int published;        /* on_published calls */
    int last_mid;         /* mid of the last one */
    int last_reason;      /* its MQTT v5 reason code */
    int denied;           /* on_published calls with a failure reason (>= 0x80) */
    int nmsg;             /* messages received */
    struct msg msgs[MAXMSG];
};

static void p_connect(void *ctx, bool session_present)
{
    struct probe *p = ctx;
    p->connects++;
    p->session_present = session_present;
    if (p->sub && !(p->sub_if_fresh && session_present))
        CHECK_OK(pe_mqtt_subscribe(p->m, p->sub, 1));
}

static void p_disconnect(void *ctx, int reason)
{
    struct probe *p = ctx;
    p->disconnects++;
    p->reason = reason;
}

static void p_message(void *ctx, const char *topic, const void *payload, size_t len, bool retained)
{
    struct probe *p = ctx;
    if (p->nmsg == MAXMSG)
        return;
    struct msg *m = &p->msgs[p->nmsg++];
    snprintf(m->topic, sizeof m->topic, "%s", topic);
    m->len = len;
    memcpy(m->payload, payload, len < sizeof m->payload ? len : sizeof m->payload);
    m->retained = retained;
}

static void p_published(void *ctx, int mid, int reason)
{
    struct probe *p = ctx;
    p->published++;
    p->last_mid = mid;
    p->last_reason = reason;
    p->denied += reason >= PE_MQTT_RC_FAILURE;
}

static struct pe_mqtt *client(struct pe_loop *l, struct probe *p, const char *id, int port,
                              const char *sub)
{
    struct pe_mqtt_opts o = {
        .client_id = id,
        .host = "127.0.0.1",
        .port = port,
        .keepalive_s = 10,
        .backoff_min_ms = 20,
        .backoff_max_ms = 200,
        .jitter_seed = 42,
        .on_connect = p_connect,
        .on_disconnect = p_disconnect,
        .on_message = p_message,
        .on_published = p_published,
        .ctx = p,
    };
    p->sub = sub;
    CHECK_OK(pe_mqtt_create(l, &o, &p->m));
    return p->m;
}

static int find_msg(const struct probe *p, const char *topic, const char *payload)
{
    for (int i = 0; i < p->nmsg; i++)
        if (strcmp(p->msgs[i].topic, topic) == 0 && p->msgs[i].len == strlen(payload) &&
            memcmp(p->msgs[i].payload, payload, p->msgs[i].len) == 0)
            return i;
    return -1;
}

static struct pe_loop *new_loop(void)
{
    struct pe_loop *l;
    signal(SIGPIPE, SIG_IGN);
    pe_log_init("test", getenv("PE_TEST_DEBUG") ? PE_LOG_DEBUG : PE_LOG_ERROR);
    CHECK_OK(pe_loop_create(&l));
    return l;
}

/* ---- tests ---- */

static void t_parse_addr(void)
{
    char host[16];
    int port = 0;
    CHECK_OK(pe_mqtt_parse_addr("127.0.0.1:1883", host, sizeof host, &port));
    CHECK_STR(host, "127.0.0.1");
    CHECK_INT(port, 1883);
    CHECK_OK(pe_mqtt_parse_addr("localhost:1", host, sizeof host, &port));
    CHECK_STR(host, "localhost");
    CHECK_INT(port, 1);
    CHECK_OK(pe_mqtt_parse_addr("broker.lan:65535", host, sizeof host, &port));
    CHECK_STR(host, "broker.lan");
    CHECK_INT(port, 65535);
    CHECK_OK(pe_mqtt_parse_addr("[::1]:8883", host, sizeof host, &port));
    CHECK_STR(host, "::1");
    CHECK_INT(port, 8883);
    static const char *const bad[] = {
        "",
        ":1883",
        "host",
        "host:",
        "host:0",
        "host:65536",
        "host:99999999",
        "host:12a",
        "host:-1",
        "host: 1",
        "host:+1",
        "a:b:1",
        "::1:1883",
        "[::1]1883",
        "[::1]",
        "[]:1",
        "ho st:1",
        "sixteen-chars.xy:1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        port = -7;
        if (pe_mqtt_parse_addr(bad[i], host, sizeof host, &port) != PE_EINVAL)
            pe_test_fail(__FILE__, __LINE__, "\"%s\" accepted", bad[i]);
        CHECK_INT(port, -7); /* nothing written on refusal */
    }
    CHECK_OK(pe_mqtt_parse_addr("fifteen-chars.x:1", host, sizeof host, &port)); /* just fits */
    CHECK_STR(host, "fifteen-chars.x");
    CHECK_INT(pe_mqtt_parse_addr(NULL, host, sizeof host, &port), PE_EINVAL);
}

static void t_create_refuses_bad_options(void)
{
    struct pe_loop *l = new_loop();
    struct pe_mqtt *m = NULL;
    struct pe_mqtt_opts good = {.client_id = "c", .host = "127.0.0.1", .port = 1883};
    struct pe_mqtt_opts o;
    o = good, o.client_id = "";
    CHECK_INT(pe_mqtt_create(l, &o, &m), PE_EINVAL);
    o = good, o.host = NULL;
    CHECK_INT(pe_mqtt_create(l, &o, &m), PE_EINVAL);
    o = good, o.port = 0;
    CHECK_INT(pe_mqtt_create(l, &o, &m), PE_EINVAL);
    o = good, o.port = 65536;
    CHECK_INT(pe_mqtt_create(l, &o, &m), PE_EINVAL);
    o = good, o.keepalive_s = 3;
    CHECK_INT(pe_mqtt_create(l, &o, &m), PE_EINVAL);
    o = good, o.will_topic = "w";
    CHECK_INT(pe_mqtt_create(l, &o, &m), PE_EINVAL);
    CHECK(m == NULL);
    pe_mqtt_destroy(NULL);
    CHECK(!pe_mqtt_connected(NULL));
    pe_loop_destroy(l);
}

static void t_roundtrip_qos1(void)
{
    struct broker b = {0};
    broker_start(&b, 0);
    struct pe_loop *l = new_loop();
    static struct probe p;
    client(l, &p, "pe-test-rt", b.port, "rt/#");
    CHECK(!pe_mqtt_connected(p.m));
    CHECK_INT(pe_mqtt_publish(p.m, "rt/x", "a", 1, 1, false, NULL), PE_EAGAIN);
    WAIT_FOR(l, p.connects == 1);
    CHECK(pe_mqtt_connected(p.m));
    CHECK(!p.session_present);
    /* The subscription is in place once a message to ourselves comes back. */
    int mid = 0;
    const char payload[] = {'b', 'i', 0, 'n'}; /* payloads are bytes, not strings */
    CHECK_OK(pe_mqtt_publish(p.m, "rt/x", payload, sizeof payload, 1, false, &mid));
    CHECK(mid > 0);
    WAIT_FOR(l, p.nmsg == 1 && p.published == 1);
    CHECK_INT(p.last_mid, mid);
    CHECK_STR(p.msgs[0].topic, "rt/x");
    CHECK_INT(p.msgs[0].len, 4);
    CHECK(memcmp(p.msgs[0].payload, payload, 4) == 0);
    CHECK(!p.msgs[0].retained);
    CHECK_OK(pe_mqtt_publish(p.m, "rt/empty", NULL, 0, 1, false, NULL));
    WAIT_FOR(l, p.nmsg == 2);
    CHECK_INT(p.msgs[1].len, 0);
    CHECK_INT(pe_mqtt_publish(p.m, "rt/#", "x", 1, 1, false, NULL), PE_EINVAL);
    CHECK_INT(pe_mqtt_publish(p.m, "", "x", 1, 1, false, NULL), PE_EINVAL);
    CHECK_INT(pe_mqtt_subscribe(p.m, "rt/#/x", 1), PE_EINVAL);
    CHECK_INT(p.disconnects, 0);
    pe_mqtt_destroy(p.m);
    pe_loop_destroy(l);
    broker_stop(&b);
}

static void t_many_in_order(void)
{
    struct broker b = {0};
    broker_start(&b, 0);
    struct pe_loop *l = new_loop();
    static struct probe p;
    client(l, &p, "pe-test-many", b.port, "many/#");
    WAIT_FOR(l, p.connects == 1);
    CHECK_OK(pe_mqtt_publish(p.m, "many/start", "s", 1, 1, false, NULL));
    WAIT_FOR(l, p.nmsg == 1);
    /* More than the in-flight limit at once: the rest wait inside libmosquitto's queue and go
     * out as PUBACKs come back, in order. */
    enum { N = 500 };
    for (int i = 0; i < N; i++) {
        char buf[16];
        int n = snprintf(buf, sizeof buf, "%d", i);
        CHECK_OK(pe_mqtt_publish(p.m, "many/n", buf, (size_t)n, 1, false, NULL));
    }
    WAIT_FOR(l, p.published == N + 1 && p.nmsg == N + 1);
    for (int i = 0; i < N; i++) {
        char buf[16];
        snprintf(buf, sizeof buf, "%d", i);
        CHECK_INT(p.msgs[i + 1].len, strlen(buf));
        CHECK(memcmp(p.msgs[i + 1].payload, buf, strlen(buf)) == 0);
    }
    pe_mqtt_destroy(p.m);
    pe_loop_destroy(l);
    broker_stop(&b);
}

static void t_retained(void)
{
    struct broker b = {0};
    broker_start(&b, 0);
    struct pe_loop *l = new_loop();
    static struct probe a, r;
    client(l, &a, "pe-test-ret-a", b.port, NULL);
    WAIT_FOR(l, a.connects == 1);
    CHECK_OK(pe_mqtt_publish(a.m, "ret/state", "{\"state\":\"online\"}", 18, 1, true, NULL));
    WAIT_FOR(l, a.published == 1);
    client(l, &r, "pe-test-ret-r", b.port, "ret/#");
    WAIT_FOR(l, r.nmsg == 1);
    CHECK_STR(r.msgs[0].topic, "ret/state");
    CHECK(r.msgs[0].retained);
    CHECK(memcmp(r.msgs[0].payload, "{\"state\":\"online\"}", 18) == 0);
    /* A live publish reaches the existing subscriber with the retain flag clear. */
    CHECK_OK(pe_mqtt_publish(a.m, "ret/state", "x", 1, 1, true, NULL));
    WAIT_FOR(l, r.nmsg == 2);
    CHECK(!r.msgs[1].retained);
    pe_mqtt_destroy(a.m);
    pe_mqtt_destroy(r.m);
    pe_loop_destroy(l);
    broker_stop(&b);
}

static void t_connects_when_broker_comes_up(void)
{
    struct pe_loop *l = new_loop();
    static struct probe p;
    int port = free_port();
    client(l, &p, "pe-test-late", port, "late/#");
    /* Nothing listens: every attempt fails and is reported, and the client keeps trying. */
    WAIT_FOR(l, p.disconnects >= 3);
    CHECK_INT(p.connects, 0);
    CHECK_INT(p.reason, PE_EIO);
    CHECK(!pe_mqtt_connected(p.m));
    CHECK_INT(pe_mqtt_publish(p.m, "late/x", "a", 1, 1, false, NULL), PE_EAGAIN);
    CHECK_INT(pe_mqtt_subscribe(p.m, "late/#", 1), PE_EAGAIN);
    struct broker b = {0};
    broker_start(&b, port);
    WAIT_FOR(l, p.connects == 1);
    CHECK_OK(pe_mqtt_publish(p.m, "late/x", "a", 1, 1, false, NULL));
    WAIT_FOR(l, p.nmsg == 1);
    pe_mqtt_destroy(p.m);
    pe_loop_destroy(l);
    broker_stop(&b);
}

static void t_reconnects_after_broker_restart(void)
{
    struct broker b = {0};
    broker_start(&b, 0);
    struct pe_loop *l = new_loop();
    static struct probe a, c;
    client(l, &a, "pe-test-restart-a", b.port, "rs/#");
    client(l, &c, "pe-test-restart-c", b.port, NULL);
    WAIT_FOR(l, a.connects == 1 && c.connects == 1);
    CHECK_OK(pe_mqtt_publish(a.m, "rs/self", "1", 1, 1, false, NULL));
    WAIT_FOR(l, a.nmsg == 1);

    broker_stop(&b);
    WAIT_FOR(l, a.disconnects >= 1 && c.disconnects >= 1);
    CHECK(!pe_mqtt_connected(a.m));
    CHECK_INT(pe_mqtt_publish(a.m, "rs/self", "2", 1, 1, false, NULL), PE_EAGAIN);

    /* Same port; the broker keeps nothing (persistence false), so the session is new and
     * on_connect subscribes again. */
    broker_start(&b, b.port);
    WAIT_FOR(l, a.connects == 2 && c.connects == 2);
    CHECK(pe_mqtt_connected(a.m));
    CHECK(!a.session_present);
    CHECK_OK(pe_mqtt_publish(a.m, "rs/self", "3", 1, 1, false, NULL));
    WAIT_FOR(l, find_msg(&a, "rs/self", "3") >= 0); /* subscribed again */
    CHECK_OK(pe_mqtt_publish(c.m, "rs/from-c", "after", 5, 1, false, NULL));
    WAIT_FOR(l, find_msg(&a, "rs/from-c", "after") >= 0);
    pe_mqtt_destroy(a.m);
    pe_mqtt_destroy(c.m);
    pe_loop_destroy(l);
    broker_stop(&b);
}

static void t_persistent_session(void)
{
    struct broker b = {0};
    broker_start(&b, 0);
    struct pe_loop *l = new_loop();
    static struct probe a, c;
    a.sub_if_fresh = true;
    client(l, &a, "pe-test-session", b.port, "ps/#");
    client(l, &c, "pe-test-session-c", b.port, NULL);
    WAIT_FOR(l, a.connects == 1 && c.connects == 1);
    CHECK(!a.session_present);
    CHECK_OK(pe_mqtt_publish(a.m, "ps/self", "1", 1, 1, false, NULL));
    WAIT_FOR(l, a.nmsg == 1);

    /* A goes away cleanly; its session stays with the broker, which queues for it. */
    pe_mqtt_destroy(a.m);
    int mid = 0;
    CHECK_OK(pe_mqtt_publish(c.m, "ps/queued", "while away", 10, 1, false, &mid));
    WAIT_FOR(l, c.published == 1);
    CHECK_INT(c.last_mid, mid);

    memset(&a, 0, sizeof a);
    a.sub_if_fresh = true;
    client(l, &a, "pe-test-session", b.port, "ps/#");
    WAIT_FOR(l, a.connects == 1);
    CHECK(a.session_present);
    WAIT_FOR(l, find_msg(&a, "ps/queued", "while away") >= 0);
    pe_mqtt_destroy(a.m);
    pe_mqtt_destroy(c.m);
    pe_loop_destroy(l);
    broker_stop(&b);
}

static void t_keepalive_detects_silent_broker(void)
{
    struct broker b = {0};
    broker_start(&b, 0);
    struct pe_loop *l = new_loop();
    static struct probe p;
    struct pe_mqtt_opts o = {
        .client_id = "pe-test-keepalive",
        .host = "127.0.0.1",
        .port = b.port,
        .keepalive_s = 5,
        .backoff_min_ms = 20,
        .backoff_max_ms = 200,
        .on_connect = p_connect,
        .on_disconnect = p_disconnect,
        .ctx = &p,
    };
    CHECK_OK(pe_mqtt_create(l, &o, &p.m));
    WAIT_FOR(l, p.connects == 1);
    /* A stopped broker keeps the TCP connection open but answers nothing: only the keepalive
     * (PINGREQ unanswered within another keepalive period) can notice. */
    kill(b.pid, SIGSTOP);
    int64_t t0 = pe_mono_ms();
    WAIT_FOR_MS(l, p.disconnects >= 1, 20000);
    CHECK(pe_mono_ms() - t0 >= 4000);
    CHECK_INT(p.reason, PE_EIO);
    CHECK(!pe_mqtt_connected(p.m));
    kill(b.pid, SIGCONT);
    WAIT_FOR_MS(l, p.connects == 2, 20000);
    pe_mqtt_destroy(p.m);
    pe_loop_destroy(l);
    broker_stop(&b);
}

/* The child of t_will: connect with a will, say so, and die without a DISCONNECT. */
static void will_child(int port, int wfd)
{
    struct pe_loop *l;
    if (pe_loop_create(&l))
        _exit(2);
    struct probe *p = calloc(1, sizeof *p);
    struct pe_mqtt_opts o = {
        .client_id = "pe-test-will-child",
        .host = "127.0.0.1",
        .port = port,
        .will_topic = "will/child",
        .will_payload = "{\"state\":\"offline\"}",
        .on_connect = p_connect,
        .ctx = p,
    };
    if (!p || pe_mqtt_create(l, &o, &p->m))
        _exit(3);
    int64_t deadline = pe_mono_ms() + WAIT_MS;
    while (!p->connects && pe_mono_ms() < deadline)
        pe_loop_run_once(l, 20);
    char c = p->connects ? 'c' : 'x';
    if (write(wfd, &c, 1) != 1)
        _exit(4);
    _exit(0); /* the kernel closes the socket; the broker sends the will */
}

static void t_will(void)
{
    struct broker b = {0};
    broker_start(&b, 0);
    struct pe_loop *l = new_loop();
    static struct probe s, r;
    client(l, &s, "pe-test-will-s", b.port, "will/#");
    WAIT_FOR(l, s.connects == 1);
    CHECK_OK(pe_mqtt_publish(s.m, "will/ping", "p", 1, 1, false, NULL));
    WAIT_FOR(l, s.nmsg == 1);

    int pfd[2];
    CHECK(pipe(pfd) == 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(pfd[0]);
        will_child(b.port, pfd[1]);
    }
    close(pfd[1]);
    struct pollfd w = {.fd = pfd[0], .events = POLLIN};
    CHECK(poll(&w, 1, WAIT_MS) == 1);
    char c = 0;
    CHECK(read(pfd[0], &c, 1) == 1);
    CHECK(c == 'c');
    close(pfd[0]);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    WAIT_FOR(l, find_msg(&s, "will/child", "{\"state\":\"offline\"}") >= 0);
    /* The will is retained: a later subscriber finds it. */
    client(l, &r, "pe-test-will-r", b.port, "will/child");
    WAIT_FOR(l, r.nmsg == 1);
    CHECK(r.msgs[0].retained);
    CHECK(find_msg(&r, "will/child", "{\"state\":\"offline\"}") == 0);

    /* A clean destroy sends DISCONNECT: no will. */
    static struct probe q;
    struct pe_mqtt_opts o = {
        .client_id = "pe-test-will-clean",
        .host = "127.0.0.1",
        .port = b.port,
        .will_topic = "will/clean",
        .will_payload = "gone",
        .on_connect = p_connect,
        .ctx = &q,
    };
    CHECK_OK(pe_mqtt_create(l, &o, &q.m));
    WAIT_FOR(l, q.connects == 1);
    pe_mqtt_destroy(q.m);
    /* Two round trips through the broker after the DISCONNECT: it has handled it by then. */
    CHECK_OK(pe_mqtt_publish(s.m, "will/ping", "p2", 2, 1, false, NULL));
    WAIT_FOR(l, find_msg(&s, "will/ping", "p2") >= 0);
    CHECK_OK(pe_mqtt_publish(s.m, "will/ping", "p3", 2, 1, false, NULL));
    WAIT_FOR(l, find_msg(&s, "will/ping", "p3") >= 0);
    CHECK(find_msg(&s, "will/clean", "gone") < 0);
    pe_mqtt_destroy(s.m);
    pe_mqtt_destroy(r.m);
    pe_loop_destroy(l);
    broker_stop(&b);
}

/* ---- MQTT v5 and TLS ---- */

static void t_v5_denied_publish_has_its_reason(void)
{
    char acl[600], extra[800];
    snprintf(acl, sizeof acl, "%s/acl", pe_test_tmpdir());
    FILE *f = fopen(acl, "w");
    CHECK(f != NULL);
    fputs("topic readwrite ok/#\n", f);
    fclose(f);
    snprintf(extra, sizeof extra, "allow_anonymous true\nacl_file %s", acl);
    struct broker b = {0};
    broker_start_with(&b, 0, extra);
    struct pe_loop *l = new_loop();
    static struct probe p;
    client(l, &p, "pe-test-v5", b.port, NULL);
    WAIT_FOR(l, p.connects == 1);
    int mid = 0;
    CHECK_OK(pe_mqtt_publish(p.m, "no/x", "a", 1, 1, false, &mid));
    WAIT_FOR(l, p.published == 1);
    /* MQTT 3.1.1 would have acknowledged it and dropped it: v5 says why. */
    CHECK_INT(p.last_mid, mid);
    CHECK_INT(p.last_reason, PE_MQTT_RC_NOT_AUTHORIZED);
    CHECK_INT(p.denied, 1);
    CHECK_STR(pe_mqtt_reason(p.last_reason), "Not authorized");
    CHECK_OK(pe_mqtt_publish(p.m, "ok/x", "a", 1, 1, false, &mid));
    WAIT_FOR(l, p.published == 2);
    CHECK(p.last_reason < PE_MQTT_RC_FAILURE); /* 0x10: nobody subscribed, still taken */
    CHECK_INT(p.denied, 1);
    CHECK_INT(p.disconnects, 0);
    pe_mqtt_destroy(p.m);
    pe_loop_destroy(l);
    broker_stop(&b);
}

static void t_v5_refused_connack_is_declined(void)
{
    struct broker b = {0};
    broker_start_with(&b, 0, "allow_anonymous false");
    struct pe_loop *l = new_loop();
    static struct probe p;
    client(l, &p, "pe-test-refused", b.port, NULL);
    WAIT_FOR(l, p.disconnects >= 2);
    CHECK_INT(p.connects, 0);
    CHECK_INT(p.reason, PE_EDECLINED);
    pe_mqtt_destroy(p.m);
    pe_loop_destroy(l);
    broker_stop(&b);
}

/* A store CA in the test's directory, with the broker's certificate (SAN san) and a till's. */
struct tls_files {
    char ca[300], server_crt[300], server_key[300], till_crt[300], till_key[300];
};

static void write_cert(struct pe_pki_ca *ca, struct pe_rng *rng, enum pe_pki_kind kind,
                       const char *san, const char *crt, const char *key)
{
    char err[PE_PKI_ERRLEN], *pem = NULL;
    struct pe_pki_key *k = NULL;
    CHECK_OK(pe_pki_key_generate(rng, &k, err, sizeof err));
    CHECK_OK(pe_pki_key_save(k, key, PE_PKI_KEY_PKCS8, err, sizeof err));
    struct pe_pki_issue_req r = {.kind = kind, .store = "s001", .terminal = "t01", .key = k,
                                 .san = san, .now_ms = pe_time_now_ms()};
    CHECK_OK(pe_pki_issue(ca, &r, &pem, NULL, err, sizeof err));
    CHECK_OK(pe_file_write_atomic_mode(crt, pem, strlen(pem), 0644, 0, err, sizeof err));
    free(pem);
    pe_pki_key_destroy(k);
}

static void make_tls(struct tls_files *t, const char *san)
{
    const char *d = pe_test_tmpdir();
    char dir[256], err[PE_PKI_ERRLEN];
    snprintf(dir, sizeof dir, "%.200s/ca", d);
    snprintf(t->ca, sizeof t->ca, "%s/ca.crt", dir);
    snprintf(t->server_crt, sizeof t->server_crt, "%s/server.crt", d);
    snprintf(t->server_key, sizeof t->server_key, "%s/server.key", d);
    snprintf(t->till_crt, sizeof t->till_crt, "%s/till.crt", d);
    snprintf(t->till_key, sizeof t->till_key, "%s/till.key", d);
    struct pe_pki_ca_init ci = {.dir = dir, .store = "s001", .now_ms = pe_time_now_ms()};
    CHECK_OK(pe_pki_ca_init(&ci, err, sizeof err));
    struct pe_pki_ca *ca = NULL;
    struct pe_rng *rng = NULL;
    CHECK_OK(pe_pki_ca_open(dir, &ca, err, sizeof err));
    CHECK_OK(pe_rng_create("test_mqtt", &rng));
    write_cert(ca, rng, PE_PKI_SERVER, san, t->server_crt, t->server_key);
    write_cert(ca, rng, PE_PKI_TERMINAL, NULL, t->till_crt, t->till_key);
    pe_rng_destroy(rng);
    pe_pki_ca_close(ca);
}

static void tls_broker(struct broker *b, const struct tls_files *t)
{
    char extra[1600];
    snprintf(extra, sizeof extra,
             "cafile %s\ncertfile %s\nkeyfile %s\ntls_version tlsv1.2\nrequire_certificate true\n"
             "use_identity_as_username true\nallow_anonymous false",
             t->ca, t->server_crt, t->server_key);
    broker_start_with(b, 0, extra);
}

static struct pe_mqtt *tls_client(struct pe_loop *l, struct probe *p, int port,
                                  const struct tls_files *t, bool cert)
{
    struct pe_mqtt_opts o = {
        .client_id = "pe-test-tls",
        .host = "127.0.0.1",
        .port = port,
        .keepalive_s = 10,
        .backoff_min_ms = 20,
        .backoff_max_ms = 200,
        .jitter_seed = 42,
        .tls_ca_file = t->ca,
        .tls_cert_file = cert ? t->till_crt : NULL,
        .tls_key_file = cert ? t->till_key : NULL,
        .on_connect = p_connect,
        .on_disconnect = p_disconnect,
        .on_message = p_message,
        .on_published = p_published,
        .ctx = p,
    };
    CHECK_OK(pe_mqtt_create(l, &o, &p->m));
    return p->m;
}

static void t_tls_mutual(void)
{
    static struct tls_files t;
    make_tls(&t, "DNS:localhost,IP:127.0.0.1");
    struct broker b = {0};
    tls_broker(&b, &t);
    struct pe_loop *l = new_loop();
    static struct probe p;
    p.sub = "posedge/v1/s001/t01/#";
    tls_client(l, &p, b.port, &t, true);
    WAIT_FOR(l, p.connects == 1);
    CHECK_OK(pe_mqtt_publish(p.m, "posedge/v1/s001/t01/state", "s", 1, 1, false, NULL));
    WAIT_FOR(l, p.nmsg == 1 && p.published == 1);
    CHECK(p.last_reason < PE_MQTT_RC_FAILURE);
    CHECK_INT(p.disconnects, 0);
    pe_mqtt_destroy(p.m);
    pe_loop_destroy(l);
    broker_stop(&b);
}

static void t_tls_refusals(void)
{
    static struct tls_files t;
    make_tls(&t, "DNS:broker.example");
    struct broker b = {0};
    tls_broker(&b, &t);
    struct pe_loop *l = new_loop();
    /* The broker's certificate names broker.example, not 127.0.0.1: refused by us, and tried
     * again with backoff like any failed connection. */
    static struct probe p;
    tls_client(l, &p, b.port, &t, true);
    WAIT_FOR(l, p.disconnects >= 3);
    CHECK_INT(p.connects, 0);
    CHECK_INT(p.reason, PE_EIO);
    pe_mqtt_destroy(p.m);
    /* A key file others may read: refused before any connection (each logged: quiet here). */
    pe_log_set_level(PE_LOG_OFF);
    struct pe_mqtt *m = NULL;
    CHECK(chmod(t.till_key, 0644) == 0);
    struct pe_mqtt_opts o = {.client_id = "c", .host = "127.0.0.1", .port = b.port,
                             .tls_ca_file = t.ca, .tls_cert_file = t.till_crt,
                             .tls_key_file = t.till_key};
    CHECK_INT(pe_mqtt_create(l, &o, &m), PE_EINVAL);
    CHECK(chmod(t.till_key, 0600) == 0);
    o.tls_key_file = NULL; /* a certificate without its key */
    CHECK_INT(pe_mqtt_create(l, &o, &m), PE_EINVAL);
    o.tls_key_file = t.till_key;
    o.tls_ca_file = "/nonexistent/ca.crt";
    CHECK_INT(pe_mqtt_create(l, &o, &m), PE_EINVAL);
    CHECK(m == NULL);
    pe_loop_destroy(l);
    broker_stop(&b);
}

static void t_tls_without_client_certificate(void)
{
    static struct tls_files t;
    make_tls(&t, "DNS:localhost,IP:127.0.0.1");
    struct broker b = {0};
    tls_broker(&b, &t);
    struct pe_loop *l = new_loop();
    static struct probe p;
    tls_client(l, &p, b.port, &t, false); /* the broker requires a certificate */
    WAIT_FOR(l, p.disconnects >= 3);
    CHECK_INT(p.connects, 0);
    CHECK_INT(p.reason, PE_EIO);
    pe_mqtt_destroy(p.m);
    pe_loop_destroy(l);
    broker_stop(&b);
}

/* A broker that accepts the TCP connection but never answers the TLS handshake (stopped): the
 * client waits on the loop without spinning, and the keepalive ends the attempt. */
static void t_tls_handshake_waits_without_spinning(void)
{
    static struct tls_files t;
    make_tls(&t, "DNS:localhost,IP:127.0.0.1");
    struct broker b = {0};
    tls_broker(&b, &t);
    kill(b.pid, SIGSTOP);
    struct pe_loop *l = new_loop();
    static struct probe p;
    tls_client(l, &p, b.port, &t, true);
    struct rusage r0, r1;
    getrusage(RUSAGE_SELF, &r0);
    int64_t t0 = pe_mono_ms();
    while (pe_mono_ms() - t0 < 2000)
        pe_loop_run_once(l, 50);
    getrusage(RUSAGE_SELF, &r1);
    long cpu_ms = (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1000 +
                  (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1000 +
                  (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1000 +
                  (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1000;
    if (cpu_ms > 500)
        pe_test_fail(__FILE__, __LINE__, "%ld ms of CPU in 2 s of waiting for a handshake", cpu_ms);
    CHECK_INT(p.connects, 0);
    kill(b.pid, SIGCONT);
    WAIT_FOR_MS(l, p.connects == 1, 30000);
    pe_mqtt_destroy(p.m);
    pe_loop_destroy(l);
    broker_stop(&b);
}

static const struct pe_test tests[] = {
    {"parse_addr", t_parse_addr},
    {"create_refuses_bad_options", t_create_refuses_bad_options},
    {"roundtrip_qos1", t_roundtrip_qos1},
    {"many_in_order", t_many_in_order},
    {"retained", t_retained},
    {"connects_when_broker_comes_up", t_connects_when_broker_comes_up},
    {"reconnects_after_broker_restart", t_reconnects_after_broker_restart},
    {"persistent_session", t_persistent_session},
    {"will", t_will},
    {"keepalive_detects_silent_broker", t_keepalive_detects_silent_broker},
    {"v5_denied_publish_has_its_reason", t_v5_denied_publish_has_its_reason},
    {"v5_refused_connack_is_declined", t_v5_refused_connack_is_declined},
    {"tls_mutual", t_tls_mutual},
    {"tls_refusals", t_tls_refusals},
    {"tls_without_client_certificate", t_tls_without_client_certificate},
    {"tls_handshake_waits_without_spinning", t_tls_handshake_waits_without_spinning},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("mqtt", tests, argc, argv);
}
