/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_schema_registry.c - bridge/schema_registry.c against a scripted HTTP server.
 *
 * The fake registry is a thread on a free loopback port that answers each request with the
 * next scripted status and body (optionally after a delay, for timeouts) and records what it
 * was sent: request line, headers and body. The tests check the requests the client makes
 * (paths, escaping, content type, basic auth), what it makes of the answers (ids, versions,
 * the cache and its learned callback), and that every failure becomes the documented PE_*
 * code with a message naming the method, URL and HTTP status, and never the password.
 *
 * With arguments the program is instead the helper through which tests/system/test_registry.py
 * drives the client against a real registry (tests/run.sh runs it without any):
 *   test_schema_registry sr URL register|lookup SUBJECT SCHEMA_FILE   prints "id=N version=V"
 *   test_schema_registry sr URL latest SUBJECT                        the same, then the schema
 *   test_schema_registry encode SCHEMA_FILE ID VALUE_FILE OUT_FILE    writes the Confluent frame
 * A failure prints "error=<PE name> msg=<message>" on stderr and exits 2.
 */
#define _GNU_SOURCE /* strcasestr */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bridge/avro_enc.h"
#include "bridge/schema_registry.h"
#include "posedge/err.h"
#include "tests/unit/harness.h"

#define MAXREQ 8

struct answer {
    int status;
    const char *body;
    int delay_ms; /* wait before answering; -1: answer the raw body without reading */
};

struct fake {
    int lfd;
    int port;
    pthread_t th;
    struct answer script[MAXREQ];
    int nscript;
    int served;
    char req[MAXREQ][8192]; /* request line, headers, blank line, body */
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Read one request from fd into buf; 0 on EOF or error. */
static size_t read_request(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    char *hend = NULL;
    while (!hend) {
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            return 0;
        len += (size_t)n;
        buf[len] = '\0';
        hend = strstr(buf, "\r\n\r\n");
        if (!hend && len == cap - 1)
            return 0;
    }
    size_t body = 0;
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    if (cl && cl < hend)
        body = (size_t)atol(cl + 17);
    size_t want = (size_t)(hend + 4 - buf) + body;
    while (len < want && len < cap - 1) {
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            return 0;
        len += (size_t)n;
    }
    buf[len] = '\0';
    return len;
}

static void *serve(void *arg)
{
    struct fake *f = arg;
    while (f->served < f->nscript) {
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            break;
        if (f->script[f->served].delay_ms < 0) {
            /* Raw: send the body at once, read nothing (a plain answer to a TLS hello). */
            const char *b = f->script[f->served++].body;
            (void)!send(fd, b, strlen(b), MSG_NOSIGNAL);
            close(fd);
            continue;
        }
        while (f->served < f->nscript) {
            char *buf = f->req[f->served];
            if (!read_request(fd, buf, sizeof(f->req[0])))
                break;
            const struct answer *a = &f->script[f->served++];
            if (a->delay_ms)
                sleep_ms(a->delay_ms);
            char out[4096];
            int n = snprintf(out, sizeof(out),
                             "HTTP/1.1 %d X\r\nContent-Type: application/vnd.schemaregistry.v1+json"
                             "\r\nContent-Length: %zu\r\n\r\n%s",
                             a->status, strlen(a->body), a->body);
            if (send(fd, out, (size_t)n, MSG_NOSIGNAL) < 0)
                break;
        }
        close(fd);
    }
    return NULL;
}

/* Start the fake with answers (status, body) ... ending at status 0. */
static void fake_start(struct fake *f, const struct answer *script)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    memset(f, 0, sizeof(*f));
    for (; script[f->nscript].status && f->nscript < MAXREQ; f->nscript++)
        f->script[f->nscript] = script[f->nscript];
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(f->lfd >= 0);
    CHECK(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CHECK(listen(f->lfd, 8) == 0);
    CHECK(getsockname(f->lfd, (struct sockaddr *)&sa, &sl) == 0);
    f->port = ntohs(sa.sin_port);
    CHECK(pthread_create(&f->th, NULL, serve, f) == 0);
}

/* Wait for the fake to serve its whole script. */
static void fake_stop(struct fake *f)
{
    pthread_join(f->th, NULL);
    close(f->lfd);
}

static char *url_of(const struct fake *f, const char *userinfo)
{
    static char url[128];
    snprintf(url, sizeof(url), "http://%s127.0.0.1:%d/", userinfo ? userinfo : "", f->port);
    return url;
}

static struct pe_sr *client(const struct fake *f, const char *user, const char *pass,
                            long timeout_ms)
{
    struct pe_sr_cfg cfg = {.url = url_of(f, NULL), .username = user, .password = pass};
    struct pe_sr *sr = NULL;
    cfg.timeout_ms = timeout_ms;
    CHECK_OK(pe_sr_create(&cfg, &sr));
    return sr;
}

static const char SCHEMA[] = "{\"type\":\"record\",\"name\":\"T\",\"fields\":[{\"name\":\"a\","
                             "\"type\":\"string\",\"doc\":\"quote \\\" and slash \\\\\"}]}";

struct learned {
    int calls;
    int id;
    int version;
    char subject[64];
};

static void on_learned(void *arg, const struct pe_sr_schema *s)
{
    struct learned *l = arg;
    l->calls++;
    l->id = s->id;
    l->version = s->version;
    snprintf(l->subject, sizeof(l->subject), "%s", s->subject);
}

static void t_register(void)
{
    struct fake f;
    static const struct answer script[] = {{200, "{\"id\":7}"}, {0}};
    struct learned l = {0};
    fake_start(&f, script);
    struct pe_sr_cfg cfg = {.url = url_of(&f, NULL), .learned = on_learned, .learned_arg = &l};
    struct pe_sr *sr = NULL;
    CHECK_OK(pe_sr_create(&cfg, &sr));
    int id = 0;
    CHECK_OK(pe_sr_register(sr, "pos.sales-value", SCHEMA, &id));
    CHECK_INT(id, 7);
    CHECK_INT(l.calls, 1);
    CHECK_INT(l.id, 7);
    CHECK_STR(l.subject, "pos.sales-value");
    /* The second registration of the same text is the cache's: no request, no callback. */
    id = 0;
    CHECK_OK(pe_sr_register(sr, "pos.sales-value", SCHEMA, &id));
    CHECK_INT(id, 7);
    CHECK_INT(l.calls, 1);
    fake_stop(&f);
    CHECK_INT(f.served, 1);

    const char *req = f.req[0];
    CHECK(strncmp(req, "POST /subjects/pos.sales-value/versions HTTP/1.1\r\n", 50) == 0);
    CHECK(strcasestr(req, "\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\n"));
    CHECK(!strcasestr(req, "\r\nAuthorization:"));
    cJSON *body = cJSON_Parse(strstr(req, "\r\n\r\n") + 4);
    CHECK(body != NULL);
    CHECK_INT(cJSON_GetArraySize(body), 1);
    CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(body, "schema")), SCHEMA);
    cJSON_Delete(body);
    pe_sr_destroy(sr);
}

static void t_lookup_latest(void)
{
    struct fake f;
    static const struct answer script[] = {
        {200, "{\"subject\":\"s\",\"id\":3,\"version\":2,\"schema\":\"\\\"string\\\"\"}"},
        {200, "{\"subject\":\"s\",\"id\":4,\"version\":3,\"schema\":\"\\\"long\\\"\"}"},
        {0}};
    fake_start(&f, script);
    struct pe_sr *sr = client(&f, NULL, NULL, 0);
    int id = 0, version = 0;
    CHECK_OK(pe_sr_lookup(sr, "s", "\"string\"", &id, &version));
    CHECK_INT(id, 3);
    CHECK_INT(version, 2);
    /* Cached with its version: no request. Register of that text is cached as well. */
    CHECK_OK(pe_sr_lookup(sr, "s", "\"string\"", &id, NULL));
    CHECK_OK(pe_sr_register(sr, "s", "\"string\"", &id));
    CHECK_INT(id, 3);
    char *schema = NULL;
    CHECK_OK(pe_sr_latest(sr, "s", &id, &version, &schema));
    CHECK_INT(id, 4);
    CHECK_INT(version, 3);
    CHECK_STR(schema, "\"long\"");
    free(schema);
    fake_stop(&f);
    CHECK_INT(f.served, 2);
    CHECK(strncmp(f.req[0], "POST /subjects/s HTTP/1.1\r\n", 27) == 0);
    CHECK(strncmp(f.req[1], "GET /subjects/s/versions/latest HTTP/1.1\r\n", 42) == 0);
    /* What latest taught is cached: a lookup of that text needs no request (none is left). */
    CHECK_OK(pe_sr_lookup(sr, "s", "\"long\"", &id, &version));
    CHECK_INT(id, 4);
    pe_sr_destroy(sr);
}

static void t_cache_put(void)
{
    struct fake f;
    static const struct answer script[] = {{0}};
    fake_start(&f, script);
    fake_stop(&f);
    struct pe_sr *sr = client(&f, NULL, NULL, 0);
    int id = 0, version = 0;
    CHECK_OK(pe_sr_cache_put(sr, "s", SCHEMA, 11, 5));
    CHECK_OK(pe_sr_register(sr, "s", SCHEMA, &id));
    CHECK_INT(id, 11);
    CHECK_OK(pe_sr_lookup(sr, "s", SCHEMA, &id, &version));
    CHECK_INT(version, 5);
    /* Another subject is not cached: the registry (gone) is asked, and that fails. */
    CHECK_INT(pe_sr_register(sr, "t", SCHEMA, &id), PE_EIO);
    CHECK_INT(pe_sr_cache_put(sr, NULL, SCHEMA, 1, 1), PE_EINVAL);
    pe_sr_destroy(sr);
}

static void t_escape(void)
{
    struct fake f;
    static const struct answer script[] = {{200, "{\"id\":1}"}, {0}};
    fake_start(&f, script);
    struct pe_sr *sr = client(&f, NULL, NULL, 0);
    int id = 0;
    CHECK_OK(pe_sr_register(sr, "a b/c", "\"int\"", &id));
    fake_stop(&f);
    CHECK(strncmp(f.req[0], "POST /subjects/a%20b%2Fc/versions ", 34) == 0);
    pe_sr_destroy(sr);
}

/* The call fails with err and a message containing each of want (NULL-ended). */
static void check_fail(struct pe_sr *sr, int rc, int err, const char *const *want, int line)
{
    if (rc != err)
        pe_test_fail(__FILE__, line, "returned %d (%s), expected %d: %s", rc, pe_errname(rc), err,
                     pe_sr_errmsg(sr));
    for (; *want; want++)
        if (!strstr(pe_sr_errmsg(sr), *want))
            pe_test_fail(__FILE__, line, "message \"%s\" lacks \"%s\"", pe_sr_errmsg(sr), *want);
}

static void t_statuses(void)
{
    struct fake f;
    static const struct answer script[] = {
        {404, "{\"error_code\":40401,\"message\":\"Subject 'x' not found.\"}"},
        {409, "{\"error_code\":409,\"message\":\"Schema being registered is incompatible\"}"},
        {422, "{\"error_code\":42201,\"message\":\"Invalid schema\"}"},
        {500, "{\"error_code\":50001,\"message\":\"Error in the backend data store\"}"},
        {429, "slow down"},
        {200, "not json"},
        {200, "{\"idx\":1}"},
        {0}};
    fake_start(&f, script);
    struct pe_sr *sr = client(&f, NULL, NULL, 0);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/subjects/x", f.port);
    int id = 0;
    check_fail(sr, pe_sr_latest(sr, "x", &id, NULL, NULL), PE_ENOTFOUND,
               (const char *const[]){"GET ", url, "/versions/latest: HTTP 404", "40401",
                                     "Subject 'x' not found.", NULL},
               __LINE__);
    check_fail(sr, pe_sr_register(sr, "x", "\"int\"", &id), PE_EDECLINED,
               (const char *const[]){"POST ", url, "HTTP 409", "incompatible", NULL}, __LINE__);
    check_fail(sr, pe_sr_register(sr, "x", "\"int\"", &id), PE_EINVAL,
               (const char *const[]){"HTTP 422", NULL}, __LINE__);
    check_fail(sr, pe_sr_register(sr, "x", "\"int\"", &id), PE_EIO,
               (const char *const[]){"HTTP 500", "50001", NULL}, __LINE__);
    check_fail(sr, pe_sr_lookup(sr, "x", "\"int\"", &id, NULL), PE_EBUSY,
               (const char *const[]){"HTTP 429", "no message", NULL}, __LINE__);
    check_fail(sr, pe_sr_register(sr, "x", "\"int\"", &id), PE_EPARSE,
               (const char *const[]){"not a JSON object", NULL}, __LINE__);
    check_fail(sr, pe_sr_register(sr, "x", "\"int\"", &id), PE_EPARSE,
               (const char *const[]){"no integer \"id\"", NULL}, __LINE__);
    fake_stop(&f);
    /* Nothing failed was cached. */
    CHECK_INT(pe_sr_register(sr, "x", "\"int\"", &id), PE_EIO);
    pe_sr_destroy(sr);
}

static void t_auth(void)
{
    struct fake f;
    static const struct answer script[] = {
        {200, "{\"id\":1}"},
        {401, "{\"error_code\":401,\"message\":\"Unauthorized\"}"},
        {403, "{\"error_code\":40301,\"message\":\"Forbidden\"}"},
        {0}};
    fake_start(&f, script);
    struct pe_sr *sr = client(&f, "u", "s3cret", 0);
    int id = 0;
    CHECK_OK(pe_sr_register(sr, "a", "\"int\"", &id));
    check_fail(sr, pe_sr_register(sr, "b", "\"int\"", &id), PE_EDECLINED,
               (const char *const[]){"HTTP 401", NULL}, __LINE__);
    CHECK(!strstr(pe_sr_errmsg(sr), "s3cret"));
    pe_sr_destroy(sr);

    /* Credentials in the URL work too, and are cut out of the message. */
    char url[128];
    snprintf(url, sizeof(url), "http://u:s3cret@127.0.0.1:%d", f.port);
    struct pe_sr_cfg cfg = {.url = url};
    CHECK_OK(pe_sr_create(&cfg, &sr));
    snprintf(url, sizeof(url), "POST http://127.0.0.1:%d/subjects/c/versions: HTTP 403", f.port);
    check_fail(sr, pe_sr_register(sr, "c", "\"int\"", &id), PE_EDECLINED,
               (const char *const[]){url, NULL}, __LINE__);
    CHECK(!strstr(pe_sr_errmsg(sr), "s3cret"));
    CHECK(!strstr(pe_sr_errmsg(sr), "u:"));
    pe_sr_destroy(sr);
    fake_stop(&f);
    /* "u:s3cret" in base64 */
    CHECK(strcasestr(f.req[0], "\r\nAuthorization: Basic dTpzM2NyZXQ=\r\n"));
    CHECK(strcasestr(f.req[2], "\r\nAuthorization: Basic dTpzM2NyZXQ=\r\n"));
}

static void t_timeout(void)
{
    struct fake f;
    static const struct answer script[] = {{200, "{\"id\":1}", 1500}, {0}};
    fake_start(&f, script);
    struct pe_sr *sr = client(&f, NULL, NULL, 300);
    int id = 0;
    check_fail(sr, pe_sr_register(sr, "a", "\"int\"", &id), PE_ETIMEDOUT,
               (const char *const[]){"POST http://127.0.0.1:", NULL}, __LINE__);
    fake_stop(&f);
    pe_sr_destroy(sr);
}

static void t_unreachable(void)
{
    /* A port nobody listens on: the fake's, after it closed. */
    struct fake f;
    static const struct answer script[] = {{0}};
    fake_start(&f, script);
    fake_stop(&f);
    struct pe_sr *sr = client(&f, NULL, NULL, 0);
    int id = 0;
    check_fail(sr, pe_sr_lookup(sr, "a", "\"int\"", &id, NULL), PE_EIO,
               (const char *const[]){"POST http://127.0.0.1:", "/subjects/a: ", NULL}, __LINE__);
    pe_sr_destroy(sr);

    /* https to a plain HTTP server: the TLS handshake fails. */
    static const struct answer one[] = {{400, "HTTP/1.1 400 Bad Request\r\n\r\n", -1}, {0}};
    fake_start(&f, one);
    char url[128];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d", f.port);
    struct pe_sr_cfg cfg = {.url = url, .timeout_ms = 2000};
    CHECK_OK(pe_sr_create(&cfg, &sr));
    CHECK_INT(pe_sr_register(sr, "a", "\"int\"", &id), PE_EIO);
    CHECK(strstr(pe_sr_errmsg(sr), "POST https://127.0.0.1:") != NULL);
    pe_sr_destroy(sr);
    fake_stop(&f);
}

static void t_create(void)
{
    struct pe_sr *sr = (struct pe_sr *)1;
    struct pe_sr_cfg cfg = {.url = "ftp://example"};
    CHECK_INT(pe_sr_create(&cfg, &sr), PE_EINVAL);
    CHECK(sr == NULL);
    cfg.url = NULL;
    CHECK_INT(pe_sr_create(&cfg, &sr), PE_EINVAL);
    cfg.url = "http://x";
    cfg.password = "p";
    CHECK_INT(pe_sr_create(&cfg, &sr), PE_EINVAL);
    cfg.password = NULL;
    cfg.ca_file = "/nonexistent/ca.pem";
    CHECK_OK(pe_sr_create(&cfg, &sr));
    int id;
    CHECK_INT(pe_sr_register(sr, "", "\"int\"", &id), PE_EINVAL);
    CHECK_INT(pe_sr_register(sr, "a", NULL, &id), PE_EINVAL);
    pe_sr_destroy(sr);
    pe_sr_destroy(NULL);
}

static const struct pe_test tests[] = {
    {"register", t_register},   {"lookup_latest", t_lookup_latest},
    {"cache_put", t_cache_put}, {"escape", t_escape},
    {"statuses", t_statuses},   {"auth", t_auth},
    {"timeout", t_timeout},     {"unreachable", t_unreachable},
    {"create", t_create},       {NULL, NULL},
};

/* ---- the helper for tests/system/test_registry.py ---- */

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (!fp)
        return NULL;
    if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, fp) == (size_t)n) {
        buf[n] = '\0';
    } else {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    return buf;
}

static int helper_fail(int rc, const char *msg)
{
    fprintf(stderr, "error=%s msg=%s\n", pe_errname(rc), msg);
    return 2;
}

static int helper_sr(int argc, char **argv)
{
    struct pe_sr_cfg cfg = {.url = argv[2], .timeout_ms = 20000};
    struct pe_sr *sr = NULL;
    char *schema = NULL;
    int rc, id = 0, version = 0;
    if (argc < 5)
        return helper_fail(PE_EINVAL, "usage: sr URL register|lookup|latest SUBJECT [FILE]");
    cfg.username = getenv("PE_SR_USER");
    cfg.password = cfg.username ? getenv("PE_SR_PASSWORD") : NULL;
    if ((rc = pe_sr_create(&cfg, &sr)))
        return helper_fail(rc, "cannot create the client");
    if (strcmp(argv[3], "latest") == 0) {
        rc = pe_sr_latest(sr, argv[4], &id, &version, &schema);
    } else if (argc == 6 && (schema = slurp(argv[5]))) {
        rc = strcmp(argv[3], "register") == 0 ? pe_sr_register(sr, argv[4], schema, &id)
                                              : pe_sr_lookup(sr, argv[4], schema, &id, &version);
    } else {
        rc = PE_EINVAL;
    }
    if (rc == PE_OK) {
        printf("id=%d version=%d\n", id, version);
        if (strcmp(argv[3], "latest") == 0)
            printf("%s\n", schema);
    } else {
        rc = helper_fail(rc, pe_sr_errmsg(sr));
    }
    free(schema);
    pe_sr_destroy(sr);
    return rc;
}

static int helper_encode(int argc, char **argv)
{
    char *schema = argc == 6 ? slurp(argv[2]) : NULL, *text = argc == 6 ? slurp(argv[4]) : NULL;
    struct pe_avro_schema *s = NULL;
    struct pe_avro_buf b = {0};
    cJSON *v = text ? cJSON_Parse(text) : NULL;
    char why[256] = "";
    int rc = schema && v ? PE_OK : PE_EINVAL;
    if (rc == PE_OK)
        rc = pe_avro_schema_parse(schema, strlen(schema), &s, why, sizeof(why));
    if (rc == PE_OK)
        rc = pe_avro_encode_confluent(s, (uint32_t)strtoul(argv[3], NULL, 10), v, &b, why,
                                      sizeof(why));
    if (rc == PE_OK) {
        FILE *fp = fopen(argv[5], "wb");
        if (!fp || fwrite(b.data, 1, b.len, fp) != b.len)
            rc = PE_EIO;
        if (fp && fclose(fp) != 0)
            rc = PE_EIO;
    }
    if (rc)
        rc = helper_fail(rc, why[0] ? why : "usage: encode SCHEMA_FILE ID VALUE_FILE OUT_FILE");
    pe_avro_buf_free(&b);
    pe_avro_schema_destroy(s);
    cJSON_Delete(v);
    free(text);
    free(schema);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "sr") == 0)
        return helper_sr(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "encode") == 0)
        return helper_encode(argc, argv);
    return pe_test_main("schema_registry", tests, argc, argv);
}
