/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.c - the HTTP listener on the daemon's loop (see http.h), over GNU libmicrohttpd.
 *
 * libmicrohttpd runs with MHD_USE_EPOLL and no thread: its epoll fd is watched by the loop,
 * and MHD_run does the work when it is readable or when the timeout MHD_get_timeout asks for
 * (an idle connection's) has passed. Connections are few (a Prometheus scrape, a browser):
 * at most CONN_MAX at once, each dropped after CONN_TIMEOUT_S seconds idle.
 */
#include "posedge/http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "posedge/err.h"
#include "posedge/log.h"

#define CONN_MAX 16
#define CONN_TIMEOUT_S 10
#define RETRY_MS 5000 /* a listener that could not bind tries again this often */

struct pe_http {
    struct pe_loop *loop; /* borrowed */
    char host[PE_HTTP_LISTEN_MAX];
    int port_asked;
    int port; /* bound, 0 while not listening */
    pe_http_handler h;
    void *ctx;
    struct MHD_Daemon *d;
    int epfd;          /* libmicrohttpd's epoll fd, watched by the loop; -1 none */
    int64_t timer;     /* the pending MHD timeout or retry, 0 none */
    bool failing;      /* the last bind failed (logged once per streak) */
};

int pe_http_parse_listen(const char *s, char *host, size_t hostlen, int *port, char *why,
                         size_t whylen)
{
    const char *colon = strrchr(s, ':'), *p = colon ? colon + 1 : s;
    size_t hl = colon ? (size_t)(colon - s) : 0;
    const char *h = s;
    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') { /* [::1]:9464 */
        h = s + 1;
        hl -= 2;
    } else if (colon && memchr(s, ':', hl)) {
        snprintf(why, whylen, "an IPv6 address is written in brackets: [ADDRESS]:PORT");
        return PE_EINVAL;
    }
    long v = 0;
    size_t digits = 0;
    for (; p[digits] >= '0' && p[digits] <= '9' && digits < 6; digits++)
        v = v * 10 + (p[digits] - '0');
    if (digits == 0 || p[digits] != '\0' || v > 65535) {
        snprintf(why, whylen, "\"%.*s\" is not a port (0..65535); the form is HOST:PORT",
                 (int)(strlen(p) > 40 ? 40 : strlen(p)), p);
        return PE_EINVAL;
    }
    if (hl == 0) {
        h = "127.0.0.1";
        hl = strlen(h);
    }
    if (hl >= hostlen) {
        snprintf(why, whylen, "the host is longer than %zu characters", hostlen - 1);
        return PE_EINVAL;
    }
    for (size_t i = 0; i < hl; i++)
        if (!((h[i] >= 'a' && h[i] <= 'z') || (h[i] >= 'A' && h[i] <= 'Z') ||
              (h[i] >= '0' && h[i] <= '9') || h[i] == '.' || h[i] == '-' || h[i] == ':' ||
              h[i] == '%' || h[i] == '_')) {
            snprintf(why, whylen, "the host has a character that no address or name has");
            return PE_EINVAL;
        }
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)v;
    return PE_OK;
}

int pe_http_check_listen(const void *value, char *why, size_t whylen)
{
    char host[PE_HTTP_LISTEN_MAX];
    int port;
    const char *s = value;
    return !s[0] ? PE_OK : pe_http_parse_listen(s, host, sizeof host, &port, why, whylen);
}

/* libmicrohttpd's own messages, as log lines. */
static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[300], q[320];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    pe_debug("http.mhd", "msg=\"%s\"", pe_log_quote(msg, q, sizeof q));
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    struct pe_http *s = cls;
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    struct pe_http_reply r = {200, "text/plain; charset=utf-8", NULL, 0};
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0,
         head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    int rc = PE_OK;
    if (!get && !head) {
        r.status = MHD_HTTP_METHOD_NOT_ALLOWED;
        r.body = strdup("only GET and HEAD are served\n");
    } else if ((rc = s->h(s->ctx, url, &r)) == PE_ENOTFOUND) {
        free(r.body);
        r = (struct pe_http_reply){MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", NULL, 0};
        r.body = strdup("not found\n");
    } else if (rc != PE_OK) {
        free(r.body);
        r = (struct pe_http_reply){MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain; charset=utf-8",
                                   NULL, 0};
        r.body = strdup("the answer could not be made (out of memory)\n");
    }
    if (r.body && !r.len)
        r.len = strlen(r.body);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r.len, r.body ? r.body : (char *)"",
                                        r.body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(r.body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r.type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r.status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result q = MHD_queue_response(c, (unsigned)r.status, resp);
    MHD_destroy_response(resp);
    return q;
}

void pe_http_problem(cJSON *problems, const char *reason, const char *detail)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "reason", reason) ||
        !cJSON_AddStringToObject(o, "detail", detail) || !cJSON_AddItemToArray(problems, o))
        cJSON_Delete(o);
}

int pe_http_health(struct pe_http_reply *r, cJSON *doc)
{
    bool ok = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "problems")) == 0;
    char *text = NULL;
    if (cJSON_AddStringToObject(doc, "status", ok ? "ok" : "fail"))
        text = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    size_t n = text ? strlen(text) : 0;
    if (!text || !(r->body = malloc(n + 2))) {
        free(text);
        return PE_ENOMEM;
    }
    memcpy(r->body, text, n); /* and a newline, for curl on a terminal */
    memcpy(r->body + n, "\n", 2);
    free(text);
    r->len = n + 1;
    r->status = ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
    r->type = "application/json";
    return PE_OK;
}

static void try_listen(void *ctx);
static void on_epoll(int fd, short revents, void *ctx);

/* Run libmicrohttpd, then wait for its epoll fd or its next timeout. */
static void on_timeout(void *ctx);
static void run(struct pe_http *s)
{
    MHD_run(s->d);
    if (s->timer)
        pe_loop_timer_cancel(s->loop, s->timer);
    s->timer = 0;
    MHD_UNSIGNED_LONG_LONG t;
    if (MHD_get_timeout(s->d, &t) == MHD_YES &&
        pe_loop_timer(s->loop, (int64_t)(t > 60000 ? 60000 : t), on_timeout, s, &s->timer) != PE_OK)
        s->timer = 0;
}

static void on_timeout(void *ctx)
{
    struct pe_http *s = ctx;
    s->timer = 0;
    run(s);
}

static void on_epoll(int fd, short revents, void *ctx)
{
    (void)fd;
    (void)revents;
    run(ctx);
}

static void retry_later(struct pe_http *s)
{
    if (pe_loop_timer(s->loop, RETRY_MS, try_listen, s, &s->timer) != PE_OK)
        s->timer = 0;
}

static void try_listen(void *ctx)
{
    struct pe_http *s = ctx;
    s->timer = 0;
    char port[8];
    snprintf(port, sizeof port, "%d", s->port_asked);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE},
                    *ai = NULL;
    int gai = getaddrinfo(s->host, port, &hints, &ai);
    const char *why = NULL;
    int err = 0;
    if (gai != 0) {
        why = gai_strerror(gai);
    } else {
        unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                         (ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0);
        errno = 0;
        s->d = MHD_start_daemon(flags, 0, NULL, NULL, answer, s, MHD_OPTION_SOCK_ADDR,
                                ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_MAX,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
                                MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, MHD_OPTION_END);
        err = errno;
        freeaddrinfo(ai);
        if (!s->d)
            why = err ? strerror(err) : "libmicrohttpd could not start";
    }
    const union MHD_DaemonInfo *fd_info =
        s->d ? MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (s->d && (!fd_info || pe_loop_add_fd(s->loop, fd_info->epoll_fd, POLLIN, on_epoll, s))) {
        why = "its epoll descriptor cannot be watched";
        MHD_stop_daemon(s->d);
        s->d = NULL;
    }
    if (!s->d) {
        if (!s->failing)
            pe_error("http.listen_failed", "host=%s port=%d err=\"%s\" (trying again every %d s)",
                     s->host, s->port_asked, why, RETRY_MS / 1000);
        s->failing = true;
        retry_later(s);
        return;
    }
    s->epfd = fd_info->epoll_fd;
    const union MHD_DaemonInfo *port_info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = port_info ? port_info->port : s->port_asked;
    s->failing = false;
    pe_info("http.listening", "host=%s port=%d", s->host, s->port);
    run(s);
}

int pe_http_start(struct pe_loop *loop, const char *listen, pe_http_handler h, void *ctx,
                  struct pe_http **out, char *err, size_t errlen)
{
    struct pe_http *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return PE_ENOMEM;
    }
    char why[160];
    if (pe_http_parse_listen(listen, s->host, sizeof s->host, &s->port_asked, why, sizeof why)) {
        snprintf(err, errlen, "http.listen: %s", why);
        free(s);
        return PE_EINVAL;
    }
    s->loop = loop;
    s->h = h;
    s->ctx = ctx;
    s->epfd = -1;
    try_listen(s);
    *out = s;
    return PE_OK;
}

int pe_http_port(const struct pe_http *s)
{
    return s ? s->port : 0;
}

void pe_http_stop(struct pe_http *s)
{
    if (!s)
        return;
    if (s->timer)
        pe_loop_timer_cancel(s->loop, s->timer);
    if (s->epfd >= 0)
        pe_loop_del_fd(s->loop, s->epfd);
    if (s->d)
        MHD_stop_daemon(s->d);
    free(s);
}
