/* SPDX-License-Identifier: Apache-2.0 */
/*
 * devkafka.c - posedge-ctl devkafka: librdkafka's in-memory mock cluster as a development Kafka.
 *
 *   posedge-ctl devkafka [--port P] [--brokers N] [--partitions N]
 *
 * For laptops, demos and tests only: the mock keeps everything in memory and loses it on exit.
 * The first line on stdout is "bootstrap=HOST:PORT[,...]", the value for bootstrap.servers.
 * The topics pos.sales, pos.inventory, pos.reports (the event types' default topics) and
 * pos.dlq exist from the start; others are created on first use. It runs until SIGINT or
 * SIGTERM (exit 0), and takes fault commands on stdin, one per line, each answered on stdout
 * with "ok <command>" or "error <why>":
 *
 *   down [ID]             take every broker (or broker ID) down: connections are cut
 *   up [ID]               bring it back
 *   errors COUNT NAME     fail the next COUNT Produce requests with a Kafka error, e.g.
 *                         "errors 5 NOT_LEADER_FOR_PARTITION"
 *   quit                  stop (exit 0)
 *
 * End of input on stdin does not stop it, so it can run with stdin closed.
 *
 * librdkafka 2.0 cannot choose the mock's ports. With --port, this file listens on
 * 127.0.0.1:P itself and relays each connection byte for byte to one of the mock's brokers (a
 * small poll(2) proxy on the pe_loop); a client uses it only to bootstrap, since the metadata it
 * receives names the brokers' own ports.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/kafka_conf.h"
#include "posedge/log.h"
#include "posedge/loop.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

#define MAX_BROKERS 16
#define PROXY_BUF 65536 /* bytes buffered per direction of a relayed connection */
#define CMD_MAX 256     /* longest command line */
#define API_PRODUCE 0   /* Kafka protocol API key of Produce */

#define DLQ_TOPIC "pos.dlq" /* the bridge's default topics.dlq */
#define MAX_TOPICS (PE_EV__COUNT + 1)

/* The topics made at start: the event types' default topics (PE_EVENT_TYPES, each once, in
 * their order), then the dead-letter topic. Returns how many. */
static int topics_made(const char *topics[MAX_TOPICS])
{
    int n = 0;
    for (int t = 0; t < PE_EV__COUNT; t++) {
        const char *topic = pe_event_type_topic((enum pe_event_type)t);
        int i = 0;
        while (i < n && strcmp(topics[i], topic) != 0)
            i++;
        if (i == n)
            topics[n++] = topic;
    }
    topics[n++] = DLQ_TOPIC;
    return n;
}

/* "a, b, c" and last "and d" (or ", d") into buf. */
static const char *topics_list(char *buf, size_t len, const char *last_sep)
{
    const char *topics[MAX_TOPICS];
    int n = topics_made(topics);
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && o < len; i++) {
        int w = snprintf(buf + o, len - o, "%s%s", i == 0 ? "" : i == n - 1 ? last_sep : ", ",
                         topics[i]);
        o += w > 0 ? (size_t)w : 0;
    }
    return buf;
}

struct devkafka;

/* One relayed connection. Bytes read from fd[d] wait in buf[d] until written to fd[1 - d]. */
struct conn {
    struct devkafka *dk;      /* owner */
    int fd[2];                /* [0] the client, [1] the mock broker */
    char buf[2][PROXY_BUF];   /* per direction */
    size_t off[2];            /* already written of buf[d] */
    size_t len[2];            /* filled of buf[d] */
    bool eof[2];              /* fd[d] reached end of input */
    struct conn *prev, *next; /* all connections */
};

struct devkafka {
    struct pe_loop *loop;                 /* everything runs on it */
    rd_kafka_t *rk;                       /* the handle the mock lives on */
    rd_kafka_mock_cluster_t *mc;          /* the cluster */
    int nbrokers;                         /* broker ids 1..nbrokers */
    struct sockaddr_in addr[MAX_BROKERS]; /* the brokers' listeners, for the proxy */
    int naddr;                            /* entries in addr */
    int next_addr;                        /* where the next relayed connection goes first */
    int listen_fd;                        /* the --port listener, -1 without one */
    struct conn *conns;                   /* relayed connections */
    bool stdin_open;                      /* fd 0 is watched */
    char line[CMD_MAX];                   /* the command being read */
    size_t linelen;                       /* bytes in line */
    bool overlong;                        /* the current line is too long: skip to its end */
};

static void usage(FILE *out)
{
    char list[256];
    fprintf(out,
            "usage: posedge-ctl devkafka [--port P] [--brokers N] [--partitions N]\n"
            "\n"
            "Runs librdkafka's in-memory mock cluster as a Kafka for laptops, demos and tests\n"
            "(NOT for production: nothing is durable, all data is lost on exit). Prints\n"
            "bootstrap=HOST:PORT first, creates %s\n"
            "with --partitions each (default 3) on --brokers brokers (default 3), and runs until\n"
            "SIGINT or SIGTERM. --port P: also accept bootstrap connections on 127.0.0.1:P.\n"
            "Commands on stdin: down [ID] | up [ID] | errors COUNT NAME | quit\n",
            topics_list(list, sizeof list, " and "));
}

static int parse_int(const char *opt, const char *s, long min, long max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !*s || *end || v < min || v > max) {
        fprintf(stderr, "posedge-ctl devkafka: %s: expected an integer in %ld..%ld, got \"%s\"\n",
                opt, min, max, s);
        return EXIT_USAGE;
    }
    *out = (int)v;
    return 0;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -1;
    return 0;
}

/* Say something on stdout, at once: tests and scripts wait for these lines. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* ---- the proxy ---- */

static void conn_close(struct conn *c)
{
    struct devkafka *dk = c->dk;
    for (int d = 0; d < 2; d++) {
        pe_loop_del_fd(dk->loop, c->fd[d]);
        close(c->fd[d]);
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        dk->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

/* Write what buf[d] holds to fd[1 - d]. Returns -1 when that socket failed. */
static int pump(struct conn *c, int d)
{
    while (c->off[d] < c->len[d]) {
        ssize_t n = send(c->fd[1 - d], c->buf[d] + c->off[d], c->len[d] - c->off[d], MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0)
            return -1;
        c->off[d] += (size_t)n;
    }
    c->off[d] = c->len[d] = 0;
    return 0;
}

/* Ask for input only into an empty buffer, and for output only while something waits. */
static void conn_arm(struct conn *c)
{
    for (int d = 0; d < 2; d++) {
        short ev = 0;
        if (!c->eof[d] && c->len[d] == 0)
            ev |= POLLIN;
        if (c->len[1 - d] > c->off[1 - d])
            ev |= POLLOUT;
        pe_loop_mod_fd(c->dk->loop, c->fd[d], ev);
    }
}

static void on_conn(int fd, short revents, void *ctx)
{
    struct conn *c = ctx;
    int d = fd == c->fd[0] ? 0 : 1;
    if (revents & (POLLERR | POLLNVAL)) {
        conn_close(c);
        return;
    }
    if ((revents & POLLOUT) && pump(c, 1 - d) < 0) {
        conn_close(c);
        return;
    }
    if (revents & (POLLIN | POLLHUP)) {
        if (c->eof[d] || c->len[d] != 0) {
            /* A hang-up while our buffer is still full: the other side is gone for good. */
            conn_close(c);
            return;
        }
        ssize_t n = recv(fd, c->buf[d], PROXY_BUF, 0);
        if (n > 0) {
            c->len[d] = (size_t)n;
            c->off[d] = 0;
            if (pump(c, d) < 0) {
                conn_close(c);
                return;
            }
        } else if (n == 0) {
            c->eof[d] = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            conn_close(c);
            return;
        }
    }
    /* Kafka never half-closes: once one side has ended and its bytes are through, end both. */
    if ((c->eof[0] && c->len[0] == 0) || (c->eof[1] && c->len[1] == 0)) {
        conn_close(c);
        return;
    }
    conn_arm(c);
}

/* Connect to a broker that is up, trying each in turn. Returns the socket or -1. */
static int connect_broker(struct devkafka *dk)
{
    for (int k = 0; k < dk->naddr; k++) {
        int i = (dk->next_addr + k) % dk->naddr;
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0)
            return -1;
        /* A blocking connect to the loopback: refused or accepted at once. */
        if (connect(s, (const struct sockaddr *)&dk->addr[i], sizeof dk->addr[i]) == 0 &&
            set_nonblock(s) == 0) {
            dk->next_addr = (i + 1) % dk->naddr;
            return s;
        }
        close(s);
    }
    return -1;
}

static void on_accept(int fd, short revents, void *ctx)
{
    struct devkafka *dk = ctx;
    int one = 1;
    (void)revents;
    for (;;) {
        int cfd = accept(fd, NULL, NULL);
        if (cfd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                pe_warn("devkafka.accept", "errno=%d", errno);
            return;
        }
        int bfd = -1;
        struct conn *c = NULL;
        if (set_nonblock(cfd) < 0 || (bfd = connect_broker(dk)) < 0 ||
            !(c = calloc(1, sizeof *c))) {
            if (bfd < 0)
                pe_info("devkafka.proxy_refused", "reason=\"no broker is up\"");
            if (bfd >= 0)
                close(bfd);
            close(cfd);
            continue;
        }
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->dk = dk;
        c->fd[0] = cfd;
        c->fd[1] = bfd;
        if (pe_loop_add_fd(dk->loop, cfd, POLLIN, on_conn, c) != PE_OK) {
            close(cfd);
            close(bfd);
            free(c);
            continue;
        }
        if (pe_loop_add_fd(dk->loop, bfd, POLLIN, on_conn, c) != PE_OK) {
            pe_loop_del_fd(dk->loop, cfd);
            close(cfd);
            close(bfd);
            free(c);
            continue;
        }
        c->next = dk->conns;
        if (dk->conns)
            dk->conns->prev = c;
        dk->conns = c;
    }
}

static int proxy_listen(struct devkafka *dk, int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        goto fail;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(s, (const struct sockaddr *)&sin, sizeof sin) < 0 || listen(s, 64) < 0 ||
        set_nonblock(s) < 0)
        goto fail;
    if (pe_loop_add_fd(dk->loop, s, POLLIN, on_accept, dk) != PE_OK)
        goto fail;
    dk->listen_fd = s;
    return 0;
fail:
    fprintf(stderr, "posedge-ctl devkafka: cannot listen on 127.0.0.1:%d: %s\n", port,
            strerror(errno));
    if (s >= 0)
        close(s);
    return -1;
}

/* The mock's "127.0.0.1:p1,127.0.0.1:p2,..." as addresses. */
static int parse_bootstraps(struct devkafka *dk, const char *list)
{
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", list);
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && dk->naddr < MAX_BROKERS;
         tok = strtok_r(NULL, ",", &save)) {
        char *colon = strrchr(tok, ':');
        if (!colon)
            continue;
        *colon = '\0';
        struct sockaddr_in *a = &dk->addr[dk->naddr];
        memset(a, 0, sizeof *a);
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)atoi(colon + 1));
        if (inet_pton(AF_INET, tok, &a->sin_addr) == 1)
            dk->naddr++;
    }
    return dk->naddr > 0 ? 0 : -1;
}

/* ---- commands ---- */

/* A Kafka error by its name ("NOT_LEADER_FOR_PARTITION", any case, with or without the
 * RD_KAFKA_RESP_ERR_ prefix) or number. Only broker errors (codes above 0) make sense here. */
static int err_by_name(const char *name, rd_kafka_resp_err_t *out)
{
    const struct rd_kafka_err_desc *descs;
    size_t n;
    char *end;
    long num = strtol(name, &end, 10);
    bool numeric = *name && !*end;
    if (strncasecmp(name, "RD_KAFKA_RESP_ERR_", 18) == 0)
        name += 18;
    rd_kafka_get_err_descs(&descs, &n);
    for (size_t i = 0; i < n; i++) {
        if (descs[i].code <= 0 || !descs[i].name)
            continue;
        if (numeric ? descs[i].code == num : strcasecmp(descs[i].name, name) == 0) {
            *out = descs[i].code;
            return 0;
        }
    }
    return -1;
}

/* down/up [ID]: every broker, or the one named. */
static void cmd_updown(struct devkafka *dk, const char *cmd, bool up, const char *arg)
{
    int from = 1, to = dk->nbrokers;
    if (arg) {
        char *end;
        long id = strtol(arg, &end, 10);
        if (!*arg || *end || id < 1 || id > dk->nbrokers) {
            say("error %s: no broker \"%s\" (ids are 1..%d)\n", cmd, arg, dk->nbrokers);
            return;
        }
        from = to = (int)id;
    }
    for (int b = from; b <= to; b++) {
        rd_kafka_resp_err_t e =
            up ? rd_kafka_mock_broker_set_up(dk->mc, b) : rd_kafka_mock_broker_set_down(dk->mc, b);
        if (e) {
            say("error %s: broker %d: %s\n", cmd, b, rd_kafka_err2str(e));
            return;
        }
    }
    pe_info(up ? "devkafka.up" : "devkafka.down", "brokers=%d..%d", from, to);
    say("ok %s\n", cmd);
}

static void cmd_errors(struct devkafka *dk, const char *cmd, const char *count, const char *name)
{
    char *end;
    long cnt = count ? strtol(count, &end, 10) : 0;
    rd_kafka_resp_err_t e;
    if (!count || !name || !*count || *end || cnt < 1 || cnt > 1000000) {
        say("error %s: usage: errors COUNT NAME (COUNT 1..1000000, NAME e.g. "
            "NOT_LEADER_FOR_PARTITION)\n",
            cmd);
        return;
    }
    if (err_by_name(name, &e) < 0) {
        say("error %s: unknown Kafka error \"%s\" (e.g. NOT_LEADER_FOR_PARTITION, "
            "REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS, LEADER_NOT_AVAILABLE)\n",
            cmd, name);
        return;
    }
    rd_kafka_resp_err_t *errs = malloc((size_t)cnt * sizeof *errs);
    if (!errs) {
        say("error %s: out of memory\n", cmd);
        return;
    }
    for (long i = 0; i < cnt; i++)
        errs[i] = e;
    rd_kafka_mock_push_request_errors_array(dk->mc, API_PRODUCE, (size_t)cnt, errs);
    free(errs);
    pe_info("devkafka.errors", "count=%ld err=%s api=Produce", cnt, rd_kafka_err2name(e));
    say("ok %s\n", cmd);
}

static void command(struct devkafka *dk, char *line)
{
    /* Trim, then split into at most four words. */
    while (*line == ' ' || *line == '\t')
        line++;
    size_t n = strlen(line);
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (n == 0)
        return;
    char cmd[CMD_MAX], words[CMD_MAX];
    snprintf(cmd, sizeof cmd, "%s", line);
    snprintf(words, sizeof words, "%s", line);
    char *w[4] = {NULL, NULL, NULL, NULL}, *save = NULL;
    int nw = 0;
    for (char *t = strtok_r(words, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
        if (nw == 4) {
            say("error %s: too many words\n", cmd);
            return;
        }
        w[nw++] = t;
    }
    if ((strcmp(w[0], "down") == 0 || strcmp(w[0], "up") == 0) && nw <= 2)
        cmd_updown(dk, cmd, w[0][0] == 'u', w[1]);
    else if (strcmp(w[0], "errors") == 0 && nw == 3)
        cmd_errors(dk, cmd, w[1], w[2]);
    else if (strcmp(w[0], "errors") == 0)
        cmd_errors(dk, cmd, NULL, NULL);
    else if (strcmp(w[0], "quit") == 0 && nw == 1) {
        say("ok %s\n", cmd);
        pe_loop_stop(dk->loop);
    } else
        say("error %s: unknown command (down [ID], up [ID], errors COUNT NAME, quit)\n", cmd);
}

static void on_stdin(int fd, short revents, void *ctx)
{
    struct devkafka *dk = ctx;
    char buf[1024];
    (void)revents;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        /* End of input: keep running until a signal. */
        pe_loop_del_fd(dk->loop, fd);
        dk->stdin_open = false;
        if (dk->linelen > 0 && !dk->overlong) {
            dk->line[dk->linelen] = '\0';
            command(dk, dk->line);
        }
        dk->linelen = 0;
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            dk->line[dk->linelen] = '\0';
            if (dk->overlong)
                say("error command longer than %d bytes\n", CMD_MAX - 1);
            else
                command(dk, dk->line);
            dk->linelen = 0;
            dk->overlong = false;
        } else if (dk->linelen + 1 < sizeof dk->line) {
            dk->line[dk->linelen++] = buf[i];
        } else {
            dk->overlong = true;
        }
    }
}

static void on_signal(int sig, void *ctx)
{
    struct devkafka *dk = ctx;
    pe_info("devkafka.signal", "sig=%d", sig);
    pe_loop_stop(dk->loop);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    char q[512];
    (void)rk;
    pe_log(level <= 4 ? PE_LOG_WARN : PE_LOG_DEBUG, "devkafka.librdkafka", "fac=%s msg=\"%s\"", fac,
           pe_log_quote(buf, q, sizeof q));
}

/* ---- the command ---- */

int ctl_devkafka(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},
        {"brokers", required_argument, NULL, 'b'},
        {"partitions", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int port = 0, nbrokers = 3, partitions = 3, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'p' && parse_int("--port", optarg, 1, 65535, &port) == 0)
            continue;
        if (c == 'b' && parse_int("--brokers", optarg, 1, MAX_BROKERS, &nbrokers) == 0)
            continue;
        if (c == 'n' && parse_int("--partitions", optarg, 1, 10000, &partitions) == 0)
            continue;
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        usage(stderr);
        return EXIT_USAGE;
    }
    if (optind != argc) {
        usage(stderr);
        return EXIT_USAGE;
    }

    /* A closed stdin, stdout or stderr would be reused by the first socket we open, and
     * commands or banner lines would then go to a Kafka connection. */
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF && open("/dev/null", O_RDWR) != fd) {
            fprintf(stderr, "posedge-ctl devkafka: cannot open /dev/null\n");
            return EXIT_FAIL;
        }

    /* A client that goes away must not kill us with SIGPIPE (stdout to a closed pipe). */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    struct devkafka dk = {.listen_fd = -1, .nbrokers = nbrokers};
    int status = EXIT_FAIL;
    char why[512];
    if (pe_loop_create(&dk.loop) != PE_OK) {
        fprintf(stderr, "posedge-ctl devkafka: cannot create the event loop\n");
        return EXIT_FAIL;
    }
    rd_kafka_conf_t *conf = NULL;
    if (pe_kafka_conf_new(PE_KAFKA_MOCK_CLUSTER, NULL, &conf, why, sizeof why) != PE_OK) {
        fprintf(stderr, "posedge-ctl devkafka: %s\n", why);
        goto destroy_loop;
    }
    rd_kafka_conf_set_log_cb(conf, on_log);
    dk.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!dk.rk) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "posedge-ctl devkafka: %s\n", why);
        goto destroy_loop;
    }
    dk.mc = rd_kafka_mock_cluster_new(dk.rk, nbrokers);
    if (!dk.mc) {
        fprintf(stderr, "posedge-ctl devkafka: cannot start the mock cluster\n");
        goto destroy_rk;
    }
    int rf = nbrokers < 3 ? nbrokers : 3;
    const char *topics[MAX_TOPICS];
    char list[256];
    int ntopics = topics_made(topics);
    for (int i = 0; i < ntopics; i++) {
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(dk.mc, topics[i], partitions, rf);
        if (e) {
            fprintf(stderr, "posedge-ctl devkafka: topic %s: %s\n", topics[i], rd_kafka_err2str(e));
            goto destroy_mock;
        }
    }
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(dk.mc);
    if (port) {
        if (parse_bootstraps(&dk, bootstraps) < 0) {
            fprintf(stderr, "posedge-ctl devkafka: cannot parse the mock's address \"%s\"\n",
                    bootstraps);
            goto destroy_mock;
        }
        if (proxy_listen(&dk, port) < 0)
            goto destroy_mock;
    }
    static const int sigs[] = {SIGINT, SIGTERM};
    if (pe_loop_signals(dk.loop, sigs, 2, on_signal, &dk) != PE_OK) {
        fprintf(stderr, "posedge-ctl devkafka: cannot take SIGINT/SIGTERM\n");
        goto close_proxy;
    }
    if (fcntl(STDIN_FILENO, F_GETFD) >= 0 &&
        pe_loop_add_fd(dk.loop, STDIN_FILENO, POLLIN, on_stdin, &dk) == PE_OK)
        dk.stdin_open = true;

    if (port)
        say("bootstrap=127.0.0.1:%d\n", port);
    else
        say("bootstrap=%s\n", bootstraps);
    say("posedge devkafka: librdkafka's in-memory mock cluster (%d broker%s; %s "
        "with %d partition%s each) for laptops, demos and tests - NOT for production: nothing "
        "is durable and all data is lost when it exits\n",
        nbrokers, nbrokers == 1 ? "" : "s", topics_list(list, sizeof list, ", "), partitions,
        partitions == 1 ? "" : "s");
    pe_info("devkafka.start", "brokers=%d partitions=%d mock=%s proxy_port=%d", nbrokers,
            partitions, bootstraps, port);

    status = pe_loop_run(dk.loop) == PE_OK ? 0 : EXIT_FAIL;
    pe_info("devkafka.stop", "status=%d (all data discarded)", status);

    if (dk.stdin_open)
        pe_loop_del_fd(dk.loop, STDIN_FILENO);
close_proxy:
    while (dk.conns)
        conn_close(dk.conns);
    if (dk.listen_fd >= 0) {
        pe_loop_del_fd(dk.loop, dk.listen_fd);
        close(dk.listen_fd);
    }
destroy_mock:
    rd_kafka_mock_cluster_destroy(dk.mc);
destroy_rk:
    rd_kafka_destroy(dk.rk);
destroy_loop:
    pe_loop_destroy(dk.loop);
    return status;
}
