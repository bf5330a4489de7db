/* SPDX-License-Identifier: Apache-2.0 */
/*
 * schema_registry.c - the Schema Registry client: one libcurl easy handle (its connection is
 * kept alive between requests), requests in the registry's JSON content type, answers parsed
 * with cJSON, and a list of (subject, schema text) -> (id, version) in front of it.
 *
 * The configured credentials go to libcurl only; messages and logs name the URL with any user
 * info cut out, so no password can reach a log line. Redirects are not followed (a redirect
 * would send the credentials elsewhere) and only http and https are allowed.
 */
#include "bridge/schema_registry.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/log.h"

#define SR_CONTENT_TYPE "application/vnd.schemaregistry.v1+json"
#define SR_MAX_ANSWER (1u << 20) /* bytes of an answer kept; more is an error */

struct entry {
    struct entry *next;
    char *subject;
    char *schema;
    int id;
    int version; /* 0: not known */
};

struct pe_sr {
    CURL *curl;                 /* the one handle, options set once */
    struct curl_slist *headers; /* Content-Type and Accept */
    char *base;                 /* the URL without a trailing '/' */
    char *safe;                 /* base with user info cut out, for messages */
    struct entry *cache;        /* what the registry told us or the caller put */
    void (*learned)(void *, const struct pe_sr_schema *);
    void *learned_arg;
    char *answer; /* the body of the current answer */
    size_t answer_len;
    bool answer_cut; /* the answer was longer than SR_MAX_ANSWER */
    char curl_err[CURL_ERROR_SIZE];
    char err[512]; /* pe_sr_errmsg */
};

static void set_err(struct pe_sr *sr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_err(struct pe_sr *sr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(sr->err, sizeof(sr->err), fmt, ap);
    va_end(ap);
}

/* base with "user:pass@" removed from its authority. */
static char *without_userinfo(const char *url)
{
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    const char *end = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    size_t n = strlen(url);
    char *s = malloc(n + 1);
    if (!s)
        return NULL;
    if (!at) {
        memcpy(s, url, n + 1);
    } else {
        size_t head = (size_t)(auth - url);
        memcpy(s, url, head);
        memcpy(s + head, at + 1, n - (size_t)(at + 1 - url) + 1);
    }
    return s;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct pe_sr *sr = arg;
    size_t n = size * nmemb;
    if (sr->answer_len + n > SR_MAX_ANSWER) {
        sr->answer_cut = true;
        return 0; /* libcurl ends the transfer with CURLE_WRITE_ERROR */
    }
    char *p = realloc(sr->answer, sr->answer_len + n + 1);
    if (!p)
        return 0;
    memcpy(p + sr->answer_len, ptr, n);
    sr->answer = p;
    sr->answer_len += n;
    p[sr->answer_len] = '\0';
    return n;
}

int pe_sr_create(const struct pe_sr_cfg *cfg, struct pe_sr **out)
{
    struct pe_sr *sr;
    int rc = PE_ENOMEM;
    if (!cfg || !out || !cfg->url)
        return PE_EINVAL;
    *out = NULL;
    if (strncmp(cfg->url, "http://", 7) != 0 && strncmp(cfg->url, "https://", 8) != 0) {
        pe_error("sr.config", "error=\"schema registry URL must be http:// or https://\"");
        return PE_EINVAL;
    }
    if (cfg->password && !cfg->username)
        return PE_EINVAL;
    sr = calloc(1, sizeof(*sr));
    if (!sr)
        return PE_ENOMEM;
    sr->base = strdup(cfg->url);
    if (!sr->base)
        goto err_free;
    for (size_t n = strlen(sr->base); n > 0 && sr->base[n - 1] == '/'; n--)
        sr->base[n - 1] = '\0';
    sr->safe = without_userinfo(sr->base);
    if (!sr->safe)
        goto err_base;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = PE_EIO;
        goto err_safe;
    }
    sr->curl = curl_easy_init();
    if (!sr->curl) {
        rc = PE_EIO;
        goto err_global;
    }
    sr->headers = curl_slist_append(NULL, "Content-Type: " SR_CONTENT_TYPE);
    struct curl_slist *h = sr->headers ? curl_slist_append(sr->headers, "Accept: " SR_CONTENT_TYPE
                                                                        ", application/json")
                                       : NULL;
    if (!h)
        goto err_curl;
    sr->headers = h;

    CURL *c = sr->curl;
    CURLcode cc = CURLE_OK;
    /* NOSIGNAL: the bridge has threads; timeouts must not use SIGALRM. */
    cc |= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    cc |= curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    cc |= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    cc |= curl_easy_setopt(c, CURLOPT_HTTPHEADER, sr->headers);
    cc |= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    cc |= curl_easy_setopt(c, CURLOPT_WRITEDATA, sr);
    cc |= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, sr->curl_err);
    cc |= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                           cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 5000L);
    cc |= curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, cfg->timeout_ms > 0 ? cfg->timeout_ms : 10000L);
    cc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, cfg->insecure ? 0L : 1L);
    cc |= curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, cfg->insecure ? 0L : 2L);
    if (cfg->ca_file)
        cc |= curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file);
    if (cfg->cert_file)
        cc |= curl_easy_setopt(c, CURLOPT_SSLCERT, cfg->cert_file);
    if (cfg->key_file)
        cc |= curl_easy_setopt(c, CURLOPT_SSLKEY, cfg->key_file);
    if (cfg->username) {
        /* libcurl copies both strings; the caller's may go away after this call. */
        cc |= curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        cc |= curl_easy_setopt(c, CURLOPT_USERNAME, cfg->username);
        cc |= curl_easy_setopt(c, CURLOPT_PASSWORD, cfg->password ? cfg->password : "");
    }
    if (cc != CURLE_OK) {
        pe_error("sr.config", "error=\"libcurl refused an option (TLS support missing?)\"");
        rc = PE_EINVAL;
        goto err_headers;
    }
    sr->learned = cfg->learned;
    sr->learned_arg = cfg->learned_arg;
    *out = sr;
    return PE_OK;

err_headers:
    curl_slist_free_all(sr->headers);
err_curl:
    curl_easy_cleanup(sr->curl);
err_global:
    curl_global_cleanup();
err_safe:
    free(sr->safe);
err_base:
    free(sr->base);
err_free:
    free(sr);
    return rc;
}

static void entry_free(struct entry *e)
{
    free(e->subject);
    free(e->schema);
    free(e);
}

void pe_sr_destroy(struct pe_sr *sr)
{
    if (!sr)
        return;
    while (sr->cache) {
        struct entry *e = sr->cache;
        sr->cache = e->next;
        entry_free(e);
    }
    free(sr->answer);
    curl_slist_free_all(sr->headers);
    curl_easy_cleanup(sr->curl);
    curl_global_cleanup();
    free(sr->safe);
    free(sr->base);
    free(sr);
}

const char *pe_sr_errmsg(const struct pe_sr *sr)
{
    return sr ? sr->err : "";
}

static struct entry *cache_find(struct pe_sr *sr, const char *subject, const char *schema)
{
    for (struct entry *e = sr->cache; e; e = e->next)
        if (strcmp(e->subject, subject) == 0 && strcmp(e->schema, schema) == 0)
            return e;
    return NULL;
}

/* Remember (subject, schema) -> (id, version); a known version is never forgotten for 0.
 * *fresh says whether the id was new to the cache. */
static int cache_set(struct pe_sr *sr, const char *subject, const char *schema, int id, int version,
                     bool *fresh)
{
    struct entry *e = cache_find(sr, subject, schema);
    if (fresh)
        *fresh = !e || e->id != id;
    if (e) {
        if (e->id != id)
            e->version = 0;
        e->id = id;
        if (version > 0)
            e->version = version;
        return PE_OK;
    }
    e = calloc(1, sizeof(*e));
    if (!e)
        return PE_ENOMEM;
    e->subject = strdup(subject);
    e->schema = strdup(schema);
    if (!e->subject || !e->schema) {
        entry_free(e);
        return PE_ENOMEM;
    }
    e->id = id;
    e->version = version > 0 ? version : 0;
    e->next = sr->cache;
    sr->cache = e;
    return PE_OK;
}

int pe_sr_cache_put(struct pe_sr *sr, const char *subject, const char *schema, int id, int version)
{
    if (!sr || !subject || !schema || id < 0)
        return PE_EINVAL;
    return cache_set(sr, subject, schema, id, version, NULL);
}

/* Cache what a request taught us and tell the caller when it is new. */
static int learn(struct pe_sr *sr, const char *subject, const char *schema, int id, int version)
{
    bool fresh = false;
    int rc = cache_set(sr, subject, schema, id, version, &fresh);
    if (rc == PE_OK && fresh && sr->learned) {
        struct pe_sr_schema s = {subject, id, version, schema};
        sr->learned(sr->learned_arg, &s);
    }
    return rc;
}

static int status_err(long status)
{
    switch (status) {
    case 401:
    case 403:
    case 409:
        return PE_EDECLINED;
    case 404:
        return PE_ENOTFOUND;
    case 422:
        return PE_EINVAL;
    case 429:
        return PE_EBUSY;
    default:
        return PE_EIO;
    }
}

/*
 * One request: method to <base>/subjects/<subject escaped><suffix> with body (NULL: GET).
 * On PE_OK *answer is the parsed JSON of a 2xx answer (the caller deletes it). Every error
 * sets the message and is logged once.
 */
static int request(struct pe_sr *sr, const char *method, const char *subject, const char *suffix,
                   const char *body, cJSON **answer)
{
    char *esc = NULL, *url = NULL, *safe = NULL;
    long status = 0;
    int rc;
    *answer = NULL;
    esc = curl_easy_escape(sr->curl, subject, 0);
    if (!esc)
        return PE_ENOMEM;
    size_t n = strlen(sr->base) + strlen(esc) + strlen(suffix) + 16;
    url = malloc(n);
    safe = malloc(n + strlen(sr->safe));
    if (!url || !safe) {
        rc = PE_ENOMEM;
        goto out;
    }
    snprintf(url, n, "%s/subjects/%s%s", sr->base, esc, suffix);
    snprintf(safe, n + strlen(sr->safe), "%s/subjects/%s%s", sr->safe, esc, suffix);

    free(sr->answer);
    sr->answer = NULL;
    sr->answer_len = 0;
    sr->answer_cut = false;
    sr->curl_err[0] = '\0';
    CURLcode cc = curl_easy_setopt(sr->curl, CURLOPT_URL, url);
    if (body) {
        cc |= curl_easy_setopt(sr->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        cc |= curl_easy_setopt(sr->curl, CURLOPT_POSTFIELDS, body);
    } else {
        cc |= curl_easy_setopt(sr->curl, CURLOPT_HTTPGET, 1L);
    }
    if (cc != CURLE_OK) {
        set_err(sr, "%s %s: libcurl refused the request", method, safe);
        rc = PE_EIO;
        goto log;
    }
    cc = curl_easy_perform(sr->curl);
    if (cc != CURLE_OK) {
        const char *why = sr->curl_err[0] ? sr->curl_err : curl_easy_strerror(cc);
        if (sr->answer_cut)
            why = "answer larger than 1 MiB";
        set_err(sr, "%s %s: %s", method, safe, why);
        rc = cc == CURLE_OPERATION_TIMEDOUT ? PE_ETIMEDOUT
             : cc == CURLE_OUT_OF_MEMORY    ? PE_ENOMEM
                                            : PE_EIO;
        goto log;
    }
    curl_easy_getinfo(sr->curl, CURLINFO_RESPONSE_CODE, &status);
    cJSON *j = sr->answer ? cJSON_ParseWithLength(sr->answer, sr->answer_len) : NULL;
    if (status < 200 || status > 299) {
        /* The registry's error body: {"error_code": 40401, "message": "Subject not found."} */
        const cJSON *code = j ? cJSON_GetObjectItemCaseSensitive(j, "error_code") : NULL;
        const cJSON *msg = j ? cJSON_GetObjectItemCaseSensitive(j, "message") : NULL;
        set_err(sr, "%s %s: HTTP %ld (error_code %d: %.300s)", method, safe, status,
                cJSON_IsNumber(code) ? code->valueint : 0,
                cJSON_IsString(msg) ? msg->valuestring : "no message");
        cJSON_Delete(j);
        rc = status_err(status);
        goto log;
    }
    if (!cJSON_IsObject(j)) {
        set_err(sr, "%s %s: HTTP %ld with an answer that is not a JSON object", method, safe,
                status);
        cJSON_Delete(j);
        rc = PE_EPARSE;
        goto log;
    }
    *answer = j;
    sr->err[0] = '\0';
    rc = PE_OK;
    goto out;

log:
    if (rc != PE_ENOTFOUND) {
        char q[sizeof(sr->err)];
        pe_warn("sr.request", "error=%s msg=\"%s\"", pe_errname(rc),
                pe_log_quote(sr->err, q, sizeof(q)));
    }
out:
    curl_free(esc);
    free(url);
    free(safe);
    return rc;
}

/* The integer member name of j into *out; PE_EPARSE (with the message) when absent, or not
 * an integer of 0..2^31-1 (an id of 1.5 is refused, not read as 1: it goes into every
 * record's Confluent header). */
static int get_int(struct pe_sr *sr, const cJSON *j, const char *name, const char *what, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 2147483647.0) ||
        v->valuedouble != (double)(int)v->valuedouble) {
        set_err(sr, "%s: the answer has no integer \"%s\"", what, name);
        pe_warn("sr.answer", "error=EPARSE field=%s", name);
        return PE_EPARSE;
    }
    *out = v->valueint;
    return PE_OK;
}

static char *schema_body(const char *schema)
{
    cJSON *o = cJSON_CreateObject();
    char *body = NULL;
    if (o && cJSON_AddStringToObject(o, "schema", schema))
        body = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return body;
}

static bool bad_args(struct pe_sr *sr, const char *subject, const char *schema)
{
    if (sr && subject && *subject && schema)
        return false;
    if (sr)
        set_err(sr, "invalid argument: subject and schema are required");
    return true;
}

int pe_sr_register(struct pe_sr *sr, const char *subject, const char *schema, int *id)
{
    cJSON *a = NULL;
    char *body;
    int rc, got = 0;
    if (bad_args(sr, subject, schema) || !id)
        return PE_EINVAL;
    const struct entry *e = cache_find(sr, subject, schema);
    if (e) {
        *id = e->id;
        sr->err[0] = '\0';
        return PE_OK;
    }
    body = schema_body(schema);
    if (!body)
        return PE_ENOMEM;
    rc = request(sr, "POST", subject, "/versions", body, &a);
    if (rc == PE_OK)
        rc = get_int(sr, a, "id", "register", &got);
    if (rc == PE_OK)
        rc = learn(sr, subject, schema, got, 0);
    if (rc == PE_OK)
        *id = got;
    cJSON_Delete(a);
    cJSON_free(body);
    return rc;
}

int pe_sr_lookup(struct pe_sr *sr, const char *subject, const char *schema, int *id, int *version)
{
    cJSON *a = NULL;
    char *body;
    int rc, got_id = 0, got_version = 0;
    if (bad_args(sr, subject, schema))
        return PE_EINVAL;
    const struct entry *e = cache_find(sr, subject, schema);
    if (e && e->version > 0) {
        if (id)
            *id = e->id;
        if (version)
            *version = e->version;
        sr->err[0] = '\0';
        return PE_OK;
    }
    body = schema_body(schema);
    if (!body)
        return PE_ENOMEM;
    rc = request(sr, "POST", subject, "", body, &a);
    if (rc == PE_OK)
        rc = get_int(sr, a, "id", "lookup", &got_id);
    if (rc == PE_OK)
        rc = get_int(sr, a, "version", "lookup", &got_version);
    if (rc == PE_OK)
        rc = learn(sr, subject, schema, got_id, got_version);
    if (rc == PE_OK) {
        if (id)
            *id = got_id;
        if (version)
            *version = got_version;
    }
    cJSON_Delete(a);
    cJSON_free(body);
    return rc;
}

int pe_sr_latest(struct pe_sr *sr, const char *subject, int *id, int *version, char **schema)
{
    cJSON *a = NULL;
    int rc, got_id = 0, got_version = 0;
    char *copy = NULL;
    if (bad_args(sr, subject, ""))
        return PE_EINVAL;
    if (schema)
        *schema = NULL;
    rc = request(sr, "GET", subject, "/versions/latest", NULL, &a);
    if (rc == PE_OK)
        rc = get_int(sr, a, "id", "latest", &got_id);
    if (rc == PE_OK)
        rc = get_int(sr, a, "version", "latest", &got_version);
    if (rc == PE_OK) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(a, "schema");
        if (!cJSON_IsString(s)) {
            set_err(sr, "latest: the answer has no string \"schema\"");
            rc = PE_EPARSE;
        } else if (!(copy = strdup(s->valuestring))) {
            rc = PE_ENOMEM;
        } else {
            rc = learn(sr, subject, copy, got_id, got_version);
        }
    }
    if (rc == PE_OK) {
        if (id)
            *id = got_id;
        if (version)
            *version = got_version;
        if (schema) {
            *schema = copy;
            copy = NULL;
        }
    }
    free(copy);
    cJSON_Delete(a);
    return rc;
}
