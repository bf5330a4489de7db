/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_common.c - see kafka_common.h.
 */
#include "bridge/kafka_common.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "posedge/err.h"
#include "posedge/log.h"

void kc_ids(const struct output_ref *ref, struct kc_ids *ids)
{
    snprintf(ids->store, sizeof ids->store, "%.*s", (int)sizeof ids->store - 1, ref->store);
    snprintf(ids->terminal, sizeof ids->terminal, "%.*s", (int)sizeof ids->terminal - 1,
             ref->terminal);
    snprintf(ids->seq, sizeof ids->seq, "%" PRId64, ref->seq);
    int n = snprintf(ids->key, sizeof ids->key, "%s/%s", ids->store, ids->terminal);
    ids->keylen = n > 0 ? (size_t)n : 0;
}

void kc_stats_parse(const char *json, size_t len, struct output_kafka *out)
{
    cJSON *doc = cJSON_ParseWithLength(json, len);
    const cJSON *brokers = cJSON_GetObjectItemCaseSensitive(doc, "brokers"), *b;
    struct output_kafka k = {.known = doc != NULL};
    cJSON_ArrayForEach(b, brokers)
    {
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(b, "source");
        const cJSON *state = cJSON_GetObjectItemCaseSensitive(b, "state");
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(b, "nodeid");
        if (!cJSON_IsString(src) || !cJSON_IsString(state) || !cJSON_IsNumber(id))
            continue;
        /* Connections: brokers from bootstrap.servers ("configured", with a node id once
         * metadata named them) and from metadata ("learned"). "internal" and "logical"
         * entries are librdkafka's own handles, not connections. */
        if (strcmp(src->valuestring, "configured") != 0 && strcmp(src->valuestring, "learned") != 0)
            continue;
        bool up = strcmp(state->valuestring, "UP") == 0;
        k.connected = k.connected || up;
        if (id->valuedouble >= 0) {
            k.brokers++;
            k.brokers_up += up;
        }
    }
    cJSON_Delete(doc);
    *out = k;
}

rd_kafka_topic_t *kc_topic(rd_kafka_t *rk, struct kc_topics *t, const char *topic)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(rd_kafka_topic_name(t->rkt[i]), topic) == 0)
            return t->rkt[i];
    if (t->n == KC_TOPICS_MAX)
        return NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (rkt)
        t->rkt[t->n++] = rkt;
    return rkt;
}

void kc_topics_drop(struct kc_topics *t)
{
    for (int i = 0; i < t->n; i++)
        rd_kafka_topic_destroy(t->rkt[i]);
    t->n = 0;
}

size_t kc_max_msg(rd_kafka_t *rk)
{
    char v[32];
    size_t len = sizeof v;
    if (rd_kafka_conf_get(rd_kafka_conf(rk), "message.max.bytes", v, &len) == RD_KAFKA_CONF_OK &&
        atol(v) > 0)
        return (size_t)atol(v);
    return 1000000;
}

void kc_on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    char q[512];
    (void)rk;
    enum pe_log_level lvl = level <= 4 ? PE_LOG_WARN : level <= 6 ? PE_LOG_INFO : PE_LOG_DEBUG;
    if (lvl == PE_LOG_WARN && (strcmp(fac, "FAIL") == 0 || strcmp(fac, "FATAL") == 0))
        lvl = PE_LOG_INFO;
    pe_log(lvl, "output.librdkafka", "fac=%s msg=\"%s\"", fac, pe_log_quote(buf, q, sizeof q));
}

void kc_log_error(int err, const char *reason)
{
    char q[512];
    enum pe_log_level lvl = err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ? PE_LOG_WARN : PE_LOG_INFO;
    pe_log(lvl, "output.kafka_error", "err=%s reason=\"%s\"",
           rd_kafka_err2name((rd_kafka_resp_err_t)err), pe_log_quote(reason, q, sizeof q));
}

int kc_pipe(int fds[2], char *err, size_t errlen)
{
    if (pipe(fds) < 0) {
        snprintf(err, errlen, "kafka: pipe: %s", strerror(errno));
        fds[0] = fds[1] = -1;
        return PE_ESYS;
    }
    for (int i = 0; i < 2; i++) {
        int fl = fcntl(fds[i], F_GETFL);
        if (fl < 0 || fcntl(fds[i], F_SETFL, fl | O_NONBLOCK) < 0 ||
            fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0) {
            snprintf(err, errlen, "kafka: fcntl: %s", strerror(errno));
            close(fds[0]);
            close(fds[1]);
            fds[0] = fds[1] = -1;
            return PE_ESYS;
        }
    }
    return PE_OK;
}

void kc_drain_pipe(int fd)
{
    char buf[64];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
    }
}

size_t kc_dlq_cut(size_t len, size_t max_msg, const char *reason, const char *source_topic,
                  char orig[24])
{
    /* Room is left for the record's framing and headers. */
    size_t room = 1024 + strlen(reason) + strlen(source_topic);
    size_t limit = max_msg > room ? max_msg - room : 0;
    orig[0] = '\0';
    if (len <= limit)
        return len;
    snprintf(orig, 24, "%zu", len);
    return limit;
}

enum output_auth kc_auth_of(int err)
{
    /* librdkafka's error enumeration has some 200 values; the switch is over the value (see
     * output_idem.c's produce). */
    switch (err) {
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
    case RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE:
        return OUTPUT_AUTH_AUTH_FAILED;
    case RD_KAFKA_RESP_ERR__SSL:
        return OUTPUT_AUTH_TLS_FAILED;
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        return OUTPUT_AUTH_TOPIC_NOT_AUTHORIZED;
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        return OUTPUT_AUTH_TRANSACTIONAL_ID_NOT_AUTHORIZED;
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        return OUTPUT_AUTH_GROUP_NOT_AUTHORIZED;
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        return OUTPUT_AUTH_CLUSTER_NOT_AUTHORIZED;
    default:
        return OUTPUT_AUTH_OK;
    }
}

bool kc_auth_note(struct kc_auth *a, enum output_auth status, const char *resource, int err,
                  const char *reason)
{
    char q[512];
    if (!resource)
        resource = "";
    if (a->status == status && strcmp(a->resource, resource) == 0)
        return false;
    if (status == OUTPUT_AUTH_OK) {
        pe_info("output.kafka_auth", "kafka=ok was=%s%s%s", output_auth_name(a->status),
                a->resource[0] ? " resource=" : "", a->resource);
    } else {
        /* librdkafka's reasons name the mechanism, the user and the broker, never a password. */
        pe_error("output.kafka_auth",
                 "kafka=%s%s%s err=%s reason=\"%s\" (nothing is lost: every record stays in the "
                 "spool; %s)",
                 output_auth_name(status), resource[0] ? " resource=" : "", resource,
                 rd_kafka_err2name((rd_kafka_resp_err_t)err),
                 pe_log_quote(reason ? reason : "", q, sizeof q), output_auth_hint(status));
    }
    a->status = status;
    snprintf(a->resource, sizeof a->resource, "%s", resource);
    return true;
}

void kc_auth_get(const struct kc_auth *a, struct output_kafka *out)
{
    out->auth = a->status;
    snprintf(out->resource, sizeof out->resource, "%s", a->resource);
}
