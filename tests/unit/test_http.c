/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_http.c - unit tests of the metrics text (common/prom.c) and of the HTTP listener
 * (common/http.c): http.listen's forms, a real GET over loopback on the daemon's loop, a port
 * in use, and /health's answer.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/http.h"
#include "posedge/loop.h"
#include "posedge/prom.h"
#include "tests/unit/harness.h"

static void t_prom_text(void)
{
    struct pe_prom p;
    CHECK_OK(pe_prom_open(&p));
    pe_prom_labels(&p, "store", "s\"1\\", NULL);
    pe_prom_family(&p, "posedge_x_total", "counter", "A help\nline.");
    pe_prom_sample(&p, 3, "terminal", "t\n1", NULL);
    pe_prom_sample(&p, 0.25, NULL);
    pe_prom_one(&p, "posedge_y", "gauge", "Y.", 1e20);
    char *out = NULL;
    size_t len = 0;
    CHECK_OK(pe_prom_close(&p, &out, &len));
    CHECK_INT(len, strlen(out));
    CHECK_STR(out, "# HELP posedge_x_total A help\\nline.\n"
                   "# TYPE posedge_x_total counter\n"
                   "posedge_x_total{store=\"s\\\"1\\\\\",terminal=\"t\\n1\"} 3\n"
                   "posedge_x_total{store=\"s\\\"1\\\\\"} 0.25\n"
                   "# HELP posedge_y Y.\n"
                   "# TYPE posedge_y gauge\n"
                   "posedge_y{store=\"s\\\"1\\\\\"} 1e+20\n");
    free(out);
}

static void t_listen_forms(void)
{
    char host[PE_HTTP_LISTEN_MAX], why[160];
    int port = -1;
    CHECK_OK(pe_http_parse_listen("9464", host, sizeof host, &port, why, sizeof why));
    CHECK_STR(host, "127.0.0.1");
    CHECK_INT(port, 9464);
    CHECK_OK(pe_http_parse_listen(":0", host, sizeof host, &port, why, sizeof why));
    CHECK_STR(host, "127.0.0.1");
    CHECK_INT(port, 0);
    CHECK_OK(pe_http_parse_listen("0.0.0.0:80", host, sizeof host, &port, why, sizeof why));
    CHECK_STR(host, "0.0.0.0");
    CHECK_OK(pe_http_parse_listen("[::1]:9464", host, sizeof host, &port, why, sizeof why));
    CHECK_STR(host, "::1");
    CHECK_OK(pe_http_parse_listen("localhost:1", host, sizeof host, &port, why, sizeof why));
    CHECK_STR(host, "localhost");
    const char *bad[] = {"", "host:", "host:65536", "host:-1", "host:12a", "::1:80", "a b:80",
                         "host:1234567"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        why[0] = '\0';
        CHECK_INT(pe_http_parse_listen(bad[i], host, sizeof host, &port, why, sizeof why),
                  PE_EINVAL);
        CHECK(why[0] != '\0');
    }
    CHECK_OK(pe_http_check_listen("", why, sizeof why)); /* off */
    CHECK_INT(pe_http_check_listen("x:y", why, sizeof why), PE_EINVAL);
}

static int answer(void *ctx, const char *path, struct pe_http_reply *r)
{
    int *calls = ctx;
    (*calls)++;
    if (strcmp(path, "/hello") != 0)
        return PE_ENOTFOUND;
    r->body = strdup("hi\n");
    return r->body ? PE_OK : PE_ENOMEM;
}

/* A raw HTTP/1.0 request to port, answered while the loop runs; returns the response. */
static char *request(struct pe_loop *l, int port, const char *req)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(fd, (struct sockaddr *)&a, sizeof a); /* in progress */
    static char buf[4096];
    size_t got = 0, sent = 0, n = strlen(req);
    int64_t deadline = pe_mono_ms() + 10000;
    while (pe_mono_ms() < deadline) {
        CHECK_OK(pe_loop_run_once(l, 20));
        if (sent < n) {
            ssize_t w = send(fd, req + sent, n - sent, MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
            continue;
        }
        ssize_t r = recv(fd, buf + got, sizeof buf - 1 - got, 0);
        if (r == 0)
            break;
        if (r > 0)
            got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    return buf;
}

static void t_get_on_the_loop(void)
{
    struct pe_loop *l;
    CHECK_OK(pe_loop_create(&l));
    int calls = 0;
    struct pe_http *s, *second;
    char err[200];
    CHECK_OK(pe_http_start(l, "127.0.0.1:0", answer, &calls, &s, err, sizeof err));
    int port = pe_http_port(s);
    CHECK(port > 0);
    char *r = request(l, port, "GET /hello?x=1 HTTP/1.0\r\n\r\n");
    CHECK(strncmp(r, "HTTP/1.0 200", 12) == 0 || strncmp(r, "HTTP/1.1 200", 12) == 0);
    CHECK(strstr(r, "\r\n\r\nhi\n") != NULL);
    r = request(l, port, "GET /other HTTP/1.0\r\n\r\n");
    CHECK(strstr(r, " 404 ") != NULL);
    r = request(l, port, "POST /hello HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
    CHECK(strstr(r, " 405 ") != NULL);
    CHECK(strstr(r, "Allow: GET, HEAD") != NULL);
    CHECK_INT(calls, 2); /* the POST never reached the handler */

    /* The same port again: not an error, the listener waits for it. */
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    CHECK_OK(pe_http_start(l, addr, answer, &calls, &second, err, sizeof err));
    CHECK_INT(pe_http_port(second), 0);
    pe_http_stop(s);
    pe_http_stop(second);
    CHECK_INT(pe_http_start(l, "nonsense", answer, &calls, &s, err, sizeof err), PE_EINVAL);
    CHECK(strstr(err, "http.listen") != NULL);
    pe_loop_destroy(l);
}

static void t_health_answer(void)
{
    struct pe_http_reply r = {0};
    cJSON *d = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(d, "problems");
    CHECK_OK(pe_http_health(&r, d));
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "{\"problems\":[],\"status\":\"ok\"}\n");
    free(r.body);
    d = cJSON_CreateObject();
    arr = cJSON_AddArrayToObject(d, "problems");
    pe_http_problem(arr, "spool_full", "full");
    CHECK_OK(pe_http_health(&r, d));
    CHECK_INT(r.status, 503);
    CHECK_STR(r.body,
              "{\"problems\":[{\"reason\":\"spool_full\",\"detail\":\"full\"}],\"status\":\"fail\"}\n");
    CHECK_INT(r.len, strlen(r.body));
    free(r.body);
}

static const struct pe_test tests[] = {
    {"prom_text", t_prom_text},
    {"listen_forms", t_listen_forms},
    {"get_on_the_loop", t_get_on_the_loop},
    {"health_answer", t_health_answer},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("http", tests, argc, argv);
}
