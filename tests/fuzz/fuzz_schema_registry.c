// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_schema_registry.c - fuzz target: the Schema Registry's answers as the bridge's client
 * reads them (bridge/schema_registry.c: register, lookup, latest), with the HTTP exchange
 * replaced by the input.
 *
 * The client's file is compiled into this one with libcurl's perform and getinfo renamed to
 * the fakes below, so everything after the transfer is the client's own code: the answer
 * gathered by its write callback (in up to three pieces), the status, the error body, the
 * members read, the cache and the learned callback.
 *
 * Input: byte 0 picks the call (register, lookup, latest); byte 1 the HTTP status (or a
 * transfer error); byte 2 where the body is cut into pieces; the rest is the answer's body.
 *
 * Properties beyond "no crash, no leak": a failed call leaves a message naming what was wrong;
 * what a call returns as the registry's id and version are the integers the answer held (an
 * id of 1.5 or "1" is refused, not read as 1).
 */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <stdarg.h>

static CURLcode fuzz_curl_perform(CURL *curl);
static CURLcode fuzz_curl_getinfo(CURL *curl, CURLINFO info, ...);
/* curl.h's own macro for getinfo goes; the client's include of curl.h is a no-op after this. */
#undef curl_easy_getinfo
#define curl_easy_perform fuzz_curl_perform
#define curl_easy_getinfo fuzz_curl_getinfo
#include "bridge/schema_registry.c"
#undef curl_easy_perform
#undef curl_easy_getinfo

#include <math.h>

static struct pe_sr *sr;
static const uint8_t *body; /* the current input's answer */
static size_t bodylen, cut;
static long status;
static CURLcode transfer;
static int learned;

static CURLcode fuzz_curl_perform(CURL *curl)
{
    (void)curl;
    if (transfer != CURLE_OK) {
        snprintf(sr->curl_err, sizeof sr->curl_err, "Failed to connect to localhost port 1");
        return transfer;
    }
    /* The body in up to three writes, as a network delivers it: cut at byte 2's offset and at
     * the middle (whichever comes later). */
    size_t c1 = cut < bodylen ? cut : bodylen;
    size_t c2 = bodylen / 2 > c1 ? bodylen / 2 : c1;
    size_t at[] = {0, c1, c2, bodylen};
    for (int i = 0; i < 3; i++) {
        size_t from = at[i], to = at[i + 1];
        if (to == from)
            continue;
        if (on_data((char *)body + from, 1, to - from, sr) != to - from)
            return CURLE_WRITE_ERROR;
    }
    return CURLE_OK;
}

static CURLcode fuzz_curl_getinfo(CURL *curl, CURLINFO info, ...)
{
    (void)curl;
    va_list ap;
    va_start(ap, info);
    if (info == CURLINFO_RESPONSE_CODE)
        *va_arg(ap, long *) = status;
    va_end(ap);
    return CURLE_OK;
}

static void on_learned(void *arg, const struct pe_sr_schema *s)
{
    (void)arg;
    if (!s->subject || !s->schema || s->id < 0 || s->version < 0)
        abort();
    learned++;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pe_log_set_level(PE_LOG_OFF);
    struct pe_sr_cfg cfg = {.url = "http://127.0.0.1:1/", .learned = on_learned};
    if (pe_sr_create(&cfg, &sr) != PE_OK)
        abort();
    return 0;
}

/* The integer member name of the answer, when it is one exactly. */
static bool answer_int(const char *name, int *out)
{
    cJSON *j = sr->answer ? cJSON_ParseWithLength(sr->answer, sr->answer_len) : NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, name);
    bool ok = cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 2147483647.0 &&
              v->valuedouble == floor(v->valuedouble);
    if (ok)
        *out = (int)v->valuedouble;
    cJSON_Delete(j);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 200, 200, 201, 204, 299, 199, 301, 401, 403,
                                    404, 409, 422, 500, 503, 0};
    if (size < 3)
        return 0;
    int op = data[0] % 3;
    transfer = data[1] == 0xff ? CURLE_COULDNT_CONNECT
               : data[1] == 0xfe ? CURLE_OPERATION_TIMEDOUT
                                 : CURLE_OK;
    status = statuses[data[1] % (sizeof statuses / sizeof statuses[0])];
    cut = data[2];
    body = data + 3;
    bodylen = size - 3;
    learned = 0;

    const char *subject = "pos.sales-value";
    const char *schema = "{\"type\":\"record\",\"name\":\"Sale\",\"fields\":[]}";
    int id = -1, version = -1, want = 0, rc;
    char *latest = NULL;
    switch (op) {
    case 0:
        rc = pe_sr_register(sr, subject, schema, &id);
        if (rc == PE_OK && (!answer_int("id", &want) || want != id))
            abort(); /* an id that is not the integer the registry sent */
        break;
    case 1:
        rc = pe_sr_lookup(sr, subject, schema, &id, &version);
        if (rc == PE_OK && (!answer_int("id", &want) || want != id ||
                            !answer_int("version", &want) || want != version))
            abort();
        break;
    default:
        rc = pe_sr_latest(sr, subject, &id, &version, &latest);
        if (rc == PE_OK && (!latest || !answer_int("id", &want) || want != id ||
                            !answer_int("version", &want) || want != version))
            abort();
        free(latest);
        break;
    }
    if (rc != PE_OK && !pe_sr_errmsg(sr)[0])
        abort(); /* a failure without a message */
    if (rc == PE_OK && learned != 1)
        abort(); /* the first answer for a subject is learned, once */
    /* Each input starts with an empty cache. */
    while (sr->cache) {
        struct entry *e = sr->cache;
        sr->cache = e->next;
        entry_free(e);
    }
    return 0;
}
