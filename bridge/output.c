/* SPDX-License-Identifier: Apache-2.0 */
/*
 * output.c - the bridge's Kafka output: the one place that chooses a backend (by kafka.mode,
 * once, at create) and the checks every call goes through before it reaches the backend.
 *
 * The backends are a table indexed by enum output_mode, so a mode without a backend is a
 * compile error (backend_of switches over the modes without a default), and the names in
 * messages come from OUTPUT_MODES.
 */
#include "bridge/output.h"
#include "bridge/kafka_common.h"
#include "bridge/output_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/log.h"

struct output {
    const struct output_backend *be; /* the backend chosen at create */
    void *impl;                      /* its state */
};

static const struct output_backend *backend_of(enum output_mode m)
{
    switch (m) {
    case OUTPUT_TRANSACTIONAL:
        return &output_transactional;
    case OUTPUT_IDEMPOTENT:
        return &output_idempotent;
    case OUTPUT_MODE__COUNT:
        break;
    }
    return NULL;
}

static const struct {
    const char *name;
    const char *what;
} modes[OUTPUT_MODE__COUNT] = {
#define OUTPUT__MODE_ROW(name, str, what) [OUTPUT_##name] = {str, what},
    OUTPUT_MODES(OUTPUT__MODE_ROW)
#undef OUTPUT__MODE_ROW
};

static const struct {
    const char *name;
    const char *hint;
} auths[OUTPUT_AUTH__COUNT] = {
#define OUTPUT__AUTH_ROW(name, str, what) [OUTPUT_AUTH_##name] = {str, what},
    OUTPUT_AUTH_STATES(OUTPUT__AUTH_ROW)
#undef OUTPUT__AUTH_ROW
};

const char *output_auth_name(enum output_auth a)
{
    return (unsigned)a < OUTPUT_AUTH__COUNT ? auths[a].name : NULL;
}

const char *output_auth_hint(enum output_auth a)
{
    return (unsigned)a < OUTPUT_AUTH__COUNT ? auths[a].hint : NULL;
}

const char *output_mode_name(enum output_mode m)
{
    return (unsigned)m < OUTPUT_MODE__COUNT ? modes[m].name : NULL;
}

int output_mode_parse(const char *s, enum output_mode *out)
{
    for (int m = 0; s && m < OUTPUT_MODE__COUNT; m++)
        if (strcmp(s, modes[m].name) == 0) {
            *out = (enum output_mode)m;
            return PE_OK;
        }
    return PE_EINVAL;
}

const char *output_mode_names(char *buf, size_t len)
{
    size_t o = 0;
    if (len)
        buf[0] = '\0';
    for (int m = 0; m < OUTPUT_MODE__COUNT && o < len; m++) {
        const char *sep = m == 0 ? "" : m == OUTPUT_MODE__COUNT - 1 ? " or " : ", ";
        int n = snprintf(buf + o, len - o, "%s%s (%s)", sep, modes[m].name, modes[m].what);
        o += n > 0 ? (size_t)n : 0;
    }
    return buf;
}

int output_create(struct pe_loop *loop, const struct output_opts *opts, struct output **out,
                  char *err, size_t errlen)
{
    const struct output_backend *be = backend_of(opts->mode);
    if (!be) {
        snprintf(err, errlen, "kafka.mode: no backend %d", (int)opts->mode);
        return PE_EINVAL;
    }
    if (!opts->brokers || !*opts->brokers) {
        snprintf(err, errlen, "kafka.brokers: missing (host:port[,host:port...])");
        return PE_EINVAL;
    }
    if (opts->properties && !cJSON_IsObject(opts->properties)) {
        snprintf(err, errlen, "kafka.properties: must be an object of strings");
        return PE_EINVAL;
    }
    int rc = pe_kafka_security_check(opts->security, err, errlen);
    if (rc)
        return rc;
    struct output *o = calloc(1, sizeof *o);
    if (!o)
        return PE_ENOMEM;
    o->be = be;
    rc = be->create(loop, opts, &o->impl, err, errlen);
    if (rc) {
        free(o);
        return rc;
    }
    /* Secure by default; plaintext stays possible for a lab, and says so at every start. */
    if (!pe_kafka_security_tls(opts->security))
        pe_warn("output.kafka_plaintext",
                "security_protocol=%s brokers=%s: records%s go to Kafka unencrypted (lab only; "
                "set kafka.security_protocol=sasl_ssl)",
                opts->security && opts->security->protocol[0] ? opts->security->protocol
                                                              : "plaintext",
                opts->brokers,
                pe_kafka_security_protocol(opts->security) == PE_KAFKA_SASL_PLAINTEXT
                    ? " and the SASL password"
                    : "");
    *out = o;
    return PE_OK;
}

int output_produce_event(struct output *o, const struct output_ref *ref, const char *hash,
                         const struct output_rec *recs, int n)
{
    if (!o || !ref || !ref->store[0] || !ref->terminal[0] || n < 0 || n > OUTPUT_MAX_RECS ||
        (n && !recs))
        return PE_EINVAL;
    for (int i = 0; i < n; i++)
        if (!recs[i].topic || !*recs[i].topic || (!recs[i].val && recs[i].len) || recs[i].nh < 0 ||
            recs[i].nh > OUTPUT_MAX_HEADERS)
            return PE_EINVAL;
    return o->be->produce_event(o->impl, ref, hash, recs, n);
}

int output_produce(struct output *o, const char *topic, const struct output_ref *ref,
                   const char *id, const char *type, const char *hash, int64_t ts_ms,
                   const char *rec, size_t len)
{
    if (!o || !topic || !*topic || !ref || !ref->store[0] || !ref->terminal[0] || !id || !type ||
        (!rec && len))
        return PE_EINVAL;
    struct kc_ids ids;
    kc_ids(ref, &ids);
    struct output_rec r = {
        .topic = topic,
        .key = ids.key,
        .keylen = ids.keylen,
        .val = rec,
        .len = len,
        .ts_ms = ts_ms,
        .nh = 5,
        .h = {{"id", id},
              {"type", type},
              {"store", ids.store},
              {"terminal", ids.terminal},
              {"seq", ids.seq}},
    };
    return output_produce_event(o, ref, hash, &r, 1);
}

int output_produce_dlq(struct output *o, const char *topic, const void *payload, size_t len,
                       const char *reason, const char *source_topic)
{
    if (!o || !topic || !*topic || (!payload && len))
        return PE_EINVAL;
    return o->be->produce_dlq(o->impl, topic, payload, len, reason ? reason : "",
                              source_topic ? source_topic : "");
}

void output_kafka_state(const struct output *o, struct output_kafka *out)
{
    if (o)
        o->be->kafka_state(o->impl, out);
    else
        *out = (struct output_kafka){0};
}

int output_inflight(const struct output *o)
{
    return o ? o->be->inflight(o->impl) : 0;
}

int output_reload(struct output *o, char *err, size_t errlen)
{
    if (!o)
        return PE_EINVAL;
    return o->be->reload(o->impl, err, errlen);
}

int output_flush(struct output *o, int timeout_ms)
{
    return o ? o->be->flush(o->impl, timeout_ms) : PE_OK;
}

void output_destroy(struct output *o)
{
    if (!o)
        return;
    o->be->destroy(o->impl);
    free(o);
}
