/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.h - the daemons' small HTTP listener (http.listen): /metrics, /health and the store
 * dashboard, served by GNU libmicrohttpd on the daemon's own poll(2) loop.
 *
 * No thread of its own: libmicrohttpd runs in its external-epoll mode, its epoll fd is one more
 * fd of the loop, and a handler runs on the loop's thread between two other callbacks. So a
 * handler reads the daemon's state directly, with no locks and no copy that could be stale.
 *
 * Only GET and HEAD are served (anything else: 405). A listener that cannot bind (the port in
 * use) is not fatal: a till keeps selling, and the listener tries again every few seconds,
 * logging the failure once per streak.
 */
#ifndef POSEDGE_HTTP_H
#define POSEDGE_HTTP_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "posedge/loop.h"

#define PE_HTTP_LISTEN_MAX 128 /* sizeof a http.listen value */

struct pe_http;

/* What a handler answers. status is 200 and type plain text unless the handler says otherwise;
 * body is malloc'd and handed over (the listener frees it), NULL for an empty body. */
struct pe_http_reply {
    int status;
    const char *type; /* Content-Type, a static string */
    char *body;
    size_t len;
};

/* Answer a GET or HEAD of path (without its query string). Returns PE_OK with r filled, or
 * PE_ENOTFOUND for a path it does not serve (404), PE_ENOMEM (500). */
typedef int (*pe_http_handler)(void *ctx, const char *path, struct pe_http_reply *r);

/* /health's answer (docs/metrics.md): doc, an object with a "problems" array of what is wrong
 * (pe_http_problem), gets "status" "ok" (200) or "fail" (503) and becomes r's JSON body. doc is
 * freed either way. Errors: PE_ENOMEM. */
int pe_http_health(struct pe_http_reply *r, cJSON *doc);

/* One thing wrong, into a "problems" array: a reason word and a sentence for a person. */
void pe_http_problem(cJSON *problems, const char *reason, const char *detail);

/* Split a http.listen value: "HOST:PORT", "[IPV6]:PORT", or ":PORT" and "PORT" for the
 * loopback address 127.0.0.1. PORT is 0..65535 (0: any free port, logged when bound).
 * Returns PE_OK or PE_EINVAL with why naming what is wrong. */
int pe_http_parse_listen(const char *s, char *host, size_t hostlen, int *port, char *why,
                         size_t whylen);

/* A pe_cfg_opt check for http.listen: "" (off) or a value pe_http_parse_listen takes. */
int pe_http_check_listen(const void *value, char *why, size_t whylen);

/* Listen on listen (as pe_http_parse_listen reads it) and answer with h(ctx, ...). Binding
 * happens now, or later if the address is in use or not yet there (see above). Errors:
 * PE_EINVAL (listen does not parse), PE_ENOMEM. */
int pe_http_start(struct pe_loop *loop, const char *listen, pe_http_handler h, void *ctx,
                  struct pe_http **out, char *err, size_t errlen);

/* The port bound, 0 while not listening. */
int pe_http_port(const struct pe_http *s);

/* Close the listener and every connection. NULL is a no-op. */
void pe_http_stop(struct pe_http *s);

#endif
