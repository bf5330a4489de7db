/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridge_cfg.c - the table of posedge-bridge's configuration keys, the pass-through of
 * librdkafka properties, and the sinks. Adding a key is one line here and one field in
 * bridge_cfg.h; a topics.<type> key comes with each event type (PE_EVENT_TYPES).
 *
 * A sink's keys are two pe_cfg_opt tables: sink_keys below (the keys of every sink, into
 * struct bridge_sink) and its profile's config map (into the profile's own options struct,
 * which this file allocates). Both are parsed, checked and printed by the same few functions
 * here, with messages naming the key as a user writes it: "bridge.json: sinks[1].topic: ...".
 */
#include "bridge/bridge_cfg.h"
#include "bridge/output.h"
#include "bridge/profile.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/file.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/secret.h"

static int check_topic(const void *v, char *why, size_t len)
{
    for (const char *p = v; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-')) {
            snprintf(why, len, "a Kafka topic name has only letters, digits, '.', '_', '-'");
            return PE_EINVAL;
        }
    }
    return PE_OK;
}

static int check_id_or_empty(const void *v, char *why, size_t len)
{
    return *(const char *)v ? pe_cfg_check_id(v, why, len) : PE_OK;
}

static int check_mode(const void *v, char *why, size_t len)
{
    enum output_mode m;
    if (output_mode_parse(v, &m) == PE_OK)
        return PE_OK;
    output_mode_names(why, len);
    return PE_EINVAL;
}

#define STR(k, f, d, lo, hi, h, c)                                                                 \
    {                                                                                              \
        k, PE_CFG_STR, offsetof(struct bridge_cfg, f), sizeof(((struct bridge_cfg *)0)->f), d, lo, \
            hi, h, c                                                                               \
    }
#define INT(k, f, d, lo, hi, h)                                                                    \
    {                                                                                              \
        k, PE_CFG_INT, offsetof(struct bridge_cfg, f), 0, d, lo, hi, h, NULL                       \
    }
#define BOOL(k, f, d, h)                                                                           \
    {                                                                                              \
        k, PE_CFG_BOOL, offsetof(struct bridge_cfg, f), 0, d, 0, 0, h, NULL                        \
    }
/* kafka.<key> of one security setting, made from PE_KAFKA_SECURITY_KEYS (posedge/kafka_conf.h):
 * the same list gives posedge-ctl its options and reads them from this file. */
#define KAFKA_SECURITY(key, opt, field, d, h, c)                                                   \
    STR("kafka." key, kafka_security.field, d, 0, 0, h, c),
/* topics.<type> of one event type, made from PE_EVENT_TYPES (default: the type's topic). */
#define TOPIC(name, type, fiscal, d)                                                               \
    {                                                                                              \
        "topics." type, PE_CFG_STR,                                                                \
            offsetof(struct bridge_cfg, topic) + (size_t)PE_EV_##name * BRIDGE_TOPIC_MAX,          \
            BRIDGE_TOPIC_MAX, d, 1, BRIDGE_TOPIC_MAX - 1, "Kafka topic of " type " events",        \
            check_topic                                                                            \
    },

const struct pe_cfg_opt bridge_cfg_table[] = {
    STR("store", store, "s001", 1, 32, "the store this bridge serves", pe_cfg_check_id),
    STR("id", bridge_id, "", 0, 32,
        "this bridge's id (default: the store id): its Kafka transactional.id is "
        "posedge-bridge-<id> and its key in the state topic; keep it stable",
        check_id_or_empty),
    STR("data_dir", data_dir, "/var/lib/posedge-bridge", 1, BRIDGE_PATH_MAX - 1,
        "directory of spool.db", NULL),
    STR("log_level", log_level, "info", 1, 7, "debug, info, warn or error", pe_cfg_check_log_level),
    STR("mqtt.host", mqtt_host, "127.0.0.1", 1, 127, "in-store MQTT broker host", NULL),
    INT("mqtt.port", mqtt_port, "1883", 1, 65535, "in-store MQTT broker port"),
    INT("mqtt.keepalive_s", mqtt_keepalive_s, "30", 5, 3600, "MQTT keepalive, seconds"),
    STR("mqtt.username", mqtt_username, "", 0, 127,
        "MQTT username (\"\": none); the store's ACL calls the bridge's user \"bridge\"", NULL),
    STR("mqtt.password_file", mqtt_password_file, "", 0, BRIDGE_PATH_MAX - 1,
        "file whose first line is the MQTT password (\"\": none; never logged; mode 0600 or "
        "0640)",
        NULL),
    STR("mqtt.tls.ca_file", mqtt_tls_ca_file, "", 0, BRIDGE_PATH_MAX - 1,
        "CA certificate the broker's certificate and host name are verified against (\"\": "
        "plaintext MQTT, a lab only: warned at every start)",
        NULL),
    STR("mqtt.tls.cert_file", mqtt_tls_cert_file, "", 0, BRIDGE_PATH_MAX - 1,
        "the bridge's certificate, CN <store>/bridge (mutual TLS; posedge-ctl pki issue --bridge)",
        NULL),
    STR("mqtt.tls.key_file", mqtt_tls_key_file, "", 0, BRIDGE_PATH_MAX - 1,
        "the bridge's private key (mode 0600 or 0640)", NULL),
    STR("mqtt.tls.crl_file", mqtt_tls_crl_file, "", 0, BRIDGE_PATH_MAX - 1,
        "the CRL the broker serves: the state warns before its next update (\"\": "
        "<pki.dir>/crl.pem when pki.dir is set)",
        NULL),
    STR("pki.dir", pki_dir, "", 0, BRIDGE_PATH_MAX - 1,
        "the store CA (posedge-ctl pki init) with which the bridge signs tills' enrolments and "
        "renewals (\"\": the bridge does not sign; HQ does)",
        NULL),
    STR("kafka.brokers", kafka_brokers, PE_KAFKA_DEFAULT_BROKERS, 1, 511, "Kafka bootstrap servers",
        NULL),
    PE_KAFKA_SECURITY_KEYS(KAFKA_SECURITY)
    INT("kafka.max_inflight", kafka_max_inflight, "10000", 1, 10000000,
        "records produced and not yet acknowledged by Kafka"),
    STR("kafka.mode", kafka_mode, "transactional", 1, 15,
        "transactional: exactly once for read_committed consumers (needs Kafka transactions); "
        "idempotent: at least once (a bridge restart may repeat records)",
        check_mode),
    STR("kafka.state_topic", state_topic, "posedge.bridge.state", 1, BRIDGE_TOPIC_MAX - 1,
        "compacted topic of each bridge's committed watermarks (transactional mode)", check_topic),
    STR("kafka.telemetry_topic", telemetry_topic, "pos.telemetry", 1, BRIDGE_TOPIC_MAX - 1,
        "topic of the store's state documents (tills' and the bridge's), best effort: never "
        "spooled, never in a transaction",
        check_topic),
    INT("kafka.txn_max_events", txn_max_events, "5000", 1, 1000000,
        "records per transaction: larger is faster, but more is produced again after an abort; "
        "doubled by each commit while a backlog waits, up to half of kafka.max_inflight"),
    INT("kafka.txn_interval_ms", txn_interval_ms, "100", 1, 600000,
        "longest a transaction stays open: consumers see a record at most this much (plus "
        "the commit) after the bridge has it; doubled with the size while a backlog waits, up "
        "to 1 s"),
    PE_EVENT_TYPES(TOPIC)
    STR("topics.dlq", topic_dlq, "pos.dlq", 1, BRIDGE_TOPIC_MAX - 1,
        "dead-letter topic: invalid input, with the reason in headers", check_topic),
    BOOL("catalog.enabled", catalog_enabled, "true",
         "consume the store's catalog and promotions from Kafka into the spool and serve them to "
         "the tills over MQTT (docs/protocol.md, \"The store catalog\")"),
    STR("catalog.topic", catalog_topic, "pos.catalog", 1, BRIDGE_TOPIC_MAX - 1,
        "compacted topic of HQ's item records, key <store or *>/<item id>", check_topic),
    STR("catalog.promotions_topic", catalog_promotions_topic, "pos.promotions", 1,
        BRIDGE_TOPIC_MAX - 1, "compacted topic of HQ's promotion records, key <store or *>/<id>",
        check_topic),
    STR("catalog.rejects_topic", catalog_rejects_topic, "pos.catalog.rejects", 1,
        BRIDGE_TOPIC_MAX - 1,
        "catalog records the bridge refuses, with the reason (a header and in the value)",
        check_topic),
    INT("intake.max_payload", max_payload, "1048576", 1024, 268435456,
        "largest MQTT message accepted, bytes (larger ones are dead letters)"),
    INT("intake.verify_threads", verify_threads, "-1", -1, 3,
        "helper threads that check records (JSON, canonical form, hash) beside the loop "
        "thread: -1 one fewer than the processors online (at most 3), 0 none"),
    INT("drain.events_per_s", drain_events_per_s, "0", 0, 100000000,
        "pace of the backlog toward Kafka, events/s (0: unlimited)"),
    INT("drain.bytes_per_s", drain_bytes_per_s, "0", 0, INT64_MAX,
        "pace toward Kafka, bytes/s (0: unlimited)"),
    INT("spool.max_mb", spool_max_mb, "0", 0, 1048576,
        "quota of undelivered records in MiB (0: none); when full, intake stops acknowledging"),
    INT("fleet.state_interval_s", state_interval_s, "10", 1, 86400,
        "the bridge's retained state is republished this often, seconds (and on change, at "
        "most once a second)"),
    STR("http.listen", http_listen, "", 0, PE_HTTP_LISTEN_MAX - 1,
        "HOST:PORT of /metrics and /health (docs/metrics.md); PORT alone is 127.0.0.1:PORT; "
        "empty: off",
        pe_http_check_listen),
    INT("alarm.till_silent_s", alarm_till_silent_s, "60", 1, 86400,
        "a till from which no state document came for this long is offline (till_offline)"),
    INT("alarm.backlog_age_s", alarm_backlog_age_s, "900", 1, 31 * 86400,
        "backlog_old: a till's oldest event not yet in Kafka is older than this, seconds"),
    INT("alarm.spool_pct", alarm_spool_pct, "80", 1, 100,
        "spool_high: the spool holds more than this share of spool.max_mb, percent"),
    INT("alarm.cert_days", alarm_cert_days, "30", 1, 3650,
        "cert_expiry: the bridge's or a till's certificate has fewer days left than this"),
    {NULL},
};

/* ---- sinks ---- */

static int check_late(const void *v, char *why, size_t len)
{
    static const struct {
        const char *name, *what;
    } modes[] = {
#define LATE_ROW(name, str, what) {str, what},
        BRIDGE_LATE_MODES(LATE_ROW)
#undef LATE_ROW
    };
    size_t o = 0, n = sizeof modes / sizeof modes[0];
    for (size_t i = 0; i < n; i++)
        if (strcmp(v, modes[i].name) == 0)
            return PE_OK;
    /* "off, flag (a header) or route (a header, and to <topic>.late)" */
    for (size_t i = 0; i < n && o < len; i++) {
        int w = snprintf(why + o, len - o, "%s%s%s%s%s", i == 0 ? "" : i + 1 == n ? " or " : ", ",
                         modes[i].name, modes[i].what ? " (" : "",
                         modes[i].what ? modes[i].what : "", modes[i].what ? ")" : "");
        o += w > 0 ? (size_t)w : 0;
    }
    return PE_EINVAL;
}

static enum bridge_late late_mode(const char *s)
{
    static const char *const names[BRIDGE_LATE__COUNT] = {
#define LATE_NAME(name, str, what) [BRIDGE_LATE_##name] = str,
        BRIDGE_LATE_MODES(LATE_NAME)
#undef LATE_NAME
    };
    for (int i = 0; i < BRIDGE_LATE__COUNT; i++)
        if (strcmp(s, names[i]) == 0)
            return (enum bridge_late)i;
    return BRIDGE_LATE_OFF; /* (cannot happen: check_late refused anything else) */
}

#define SINK_STR(k, f, d, lo, hi, h, c)                                                            \
    {                                                                                              \
        k, PE_CFG_STR, offsetof(struct bridge_sink, f), sizeof(((struct bridge_sink *)0)->f), d,   \
            lo, hi, h, c                                                                           \
    }

/* The keys of every sink, besides "profile" (which says which further keys it takes). The
 * defaults of name and topic come from the profile. */
static const struct pe_cfg_opt sink_keys[] = {
    SINK_STR("name", name, "", 1, PE_ID_MAX - 1,
             "unique among sinks (default: the profile's name; two sinks of one profile need one)",
             pe_cfg_check_id),
    SINK_STR("topic", topic, "", 1, BRIDGE_TOPIC_MAX - 1,
             "the sink's Kafka topic (default: the profile's; native takes none)", check_topic),
    SINK_STR("late", late, "flag", 1, 7,
             "late events: off, flag (headers late, lateness_s) or route (headers, and the "
             "record goes to <topic>.late)",
             check_late),
    {"lateness_s", PE_CFG_INT, offsetof(struct bridge_sink, lateness_s), 0, "3600", 1, 31536000,
     "an event older than this when it is produced is late, seconds", NULL},
    {NULL},
};

static const struct pe_cfg_opt *opt_find(const struct pe_cfg_opt *table, const char *key)
{
    for (const struct pe_cfg_opt *o = table; o && o->key; o++)
        if (strcmp(o->key, key) == 0)
            return o;
    return NULL;
}

/* A string option's length bounds, as pe_cfg reads them (max <= 0: as long as the slot). */
static void str_bounds(const struct pe_cfg_opt *o, int64_t *lo, int64_t *hi)
{
    int64_t cap = (int64_t)o->size - 1;
    *lo = o->min < 0 ? 0 : o->min;
    *hi = o->max <= 0 || o->max > cap ? cap : o->max;
}

/* Check the JSON value v against option o and store it into dst; why says what is wrong. */
static int opt_set(const struct pe_cfg_opt *o, void *dst, const cJSON *v, char *why, size_t len)
{
    char *slot = (char *)dst + o->offset;
    switch (o->type) {
    case PE_CFG_STR: {
        int64_t lo, hi;
        str_bounds(o, &lo, &hi);
        if (!cJSON_IsString(v) || !v->valuestring) {
            snprintf(why, len, "expected a string");
            return PE_EINVAL;
        }
        size_t n = strlen(v->valuestring);
        if ((int64_t)n < lo || (int64_t)n > hi) {
            snprintf(why, len, "expected %lld to %lld characters", (long long)lo, (long long)hi);
            return PE_EINVAL;
        }
        if (o->check && o->check(v->valuestring, why, len) != PE_OK) {
            if (!why[0])
                snprintf(why, len, "not valid");
            return PE_EINVAL;
        }
        memcpy(slot, v->valuestring, n + 1);
        return PE_OK;
    }
    case PE_CFG_INT: {
        int64_t lo = o->min, hi = o->max;
        if (lo == 0 && hi == 0)
            lo = -(INT64_C(1) << 53), hi = INT64_C(1) << 53;
        double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
        if (!isfinite(d) || d != floor(d) || d < (double)lo || d > (double)hi) {
            snprintf(why, len, "expected an integer from %lld to %lld", (long long)lo,
                     (long long)hi);
            return PE_EINVAL;
        }
        int64_t i = (int64_t)d;
        if (o->check && o->check(&i, why, len) != PE_OK) {
            if (!why[0])
                snprintf(why, len, "not valid");
            return PE_EINVAL;
        }
        memcpy(slot, &i, sizeof i);
        return PE_OK;
    }
    case PE_CFG_BOOL: {
        if (!cJSON_IsBool(v)) {
            snprintf(why, len, "expected true or false");
            return PE_EINVAL;
        }
        bool b = cJSON_IsTrue(v);
        if (o->check && o->check(&b, why, len) != PE_OK) {
            if (!why[0])
                snprintf(why, len, "not valid");
            return PE_EINVAL;
        }
        memcpy(slot, &b, sizeof b);
        return PE_OK;
    }
    }
    snprintf(why, len, "unknown option type %d", (int)o->type);
    return PE_EINVAL;
}

/* The current value of option o in src as a JSON item (NULL: out of memory). */
static cJSON *opt_item(const struct pe_cfg_opt *o, const void *src)
{
    const char *slot = (const char *)src + o->offset;
    switch (o->type) {
    case PE_CFG_STR:
        return cJSON_CreateString(slot);
    case PE_CFG_INT: {
        int64_t i;
        memcpy(&i, slot, sizeof i);
        return cJSON_CreateNumber((double)i);
    }
    case PE_CFG_BOOL: {
        bool b;
        memcpy(&b, slot, sizeof b);
        return cJSON_CreateBool(b);
    }
    }
    return NULL;
}

/* A required string option (min >= 1, default "") that is still empty: why says what it
 * needs (its check's message on "", else its help). */
static bool missing(const struct pe_cfg_opt *o, const void *src, char *why, size_t len)
{
    if (o->type != PE_CFG_STR || o->min < 1 || ((const char *)src + o->offset)[0])
        return false;
    if (!o->check || o->check("", why, len) == PE_OK || !why[0])
        snprintf(why, len, "required: %s", o->help ? o->help : "a value");
    return true;
}

/* The implicit sink when the file has none: today's records, unchanged, nothing flagged. */
static int sinks_default(struct bridge_cfg *c)
{
    const struct profile_ops *p = profile_implicit();
    struct bridge_sink *k = &c->sinks[0];
    memset(c->sinks, 0, sizeof c->sinks);
    if (pe_cfg_defaults(sink_keys, k))
        return PE_EINVAL;
    snprintf(k->name, sizeof k->name, "%s", p->name);
    k->profile = p;
    snprintf(k->late, sizeof k->late, "off");
    k->late_mode = BRIDGE_LATE_OFF;
    if (p->config_size && !(k->opts = calloc(1, p->config_size)))
        return PE_ENOMEM;
    if (p->config && pe_cfg_defaults(p->config, k->opts))
        return PE_EINVAL;
    c->nsinks = 1;
    c->sinks_set = false;
    return PE_OK;
}

static void sinks_free(struct bridge_cfg *c)
{
    for (int i = 0; i < BRIDGE_SINKS_MAX; i++) {
        free(c->sinks[i].opts);
        c->sinks[i].opts = NULL;
    }
}

/* Parse and check sink i (object o) into c->sinks[i]. err names the file, the sink and the
 * key. */
static int sink_load(struct bridge_cfg *c, int i, const cJSON *o, const char *path, char *err,
                     size_t errlen)
{
    struct bridge_sink *k = &c->sinks[i];
    char why[256] = "";
    if (!cJSON_IsObject(o)) {
        snprintf(err, errlen, "%s: sinks[%d]: expected an object with a \"profile\"", path, i);
        return PE_EINVAL;
    }
    const cJSON *pv = cJSON_GetObjectItemCaseSensitive(o, "profile");
    const struct profile_ops *p = cJSON_IsString(pv) ? profile_find(pv->valuestring) : NULL;
    if (!p) {
        char names[256];
        snprintf(err, errlen, "%s: sinks[%d].profile: %s%s%s (one of %s)", path, i,
                 cJSON_IsString(pv) ? "unknown profile \"" : "missing",
                 cJSON_IsString(pv) ? pv->valuestring : "", cJSON_IsString(pv) ? "\"" : "",
                 profile_names(names, sizeof names));
        return PE_EINVAL;
    }
    if (pe_cfg_defaults(sink_keys, k))
        return PE_EINVAL;
    k->profile = p;
    snprintf(k->name, sizeof k->name, "%s", p->name);
    snprintf(k->topic, sizeof k->topic, "%s", p->default_topic ? p->default_topic : "");
    if (p->config_size && !(k->opts = calloc(1, p->config_size)))
        return PE_ENOMEM;
    if (p->config && pe_cfg_defaults(p->config, k->opts))
        return PE_EINVAL;
    if (!p->default_topic && cJSON_GetObjectItemCaseSensitive(o, "topic")) {
        snprintf(err, errlen,
                 "%s: sinks[%d].topic: the %s profile routes by event type (topics.<type>)", path,
                 i, p->name);
        return PE_EINVAL;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, o)
    {
        if (strcmp(m->string, "profile") == 0)
            continue;
        const struct pe_cfg_opt *opt = opt_find(sink_keys, m->string);
        void *dst = k;
        if (!opt) {
            opt = opt_find(p->config, m->string);
            dst = k->opts;
        }
        if (!opt) {
            snprintf(err, errlen, "%s: sinks[%d].%s: unknown key for profile %s", path, i,
                     m->string, p->name);
            return PE_EINVAL;
        }
        if (opt_set(opt, dst, m, why, sizeof why)) {
            snprintf(err, errlen, "%s: sinks[%d].%s: %s", path, i, m->string, why);
            return PE_EINVAL;
        }
    }
    for (const struct pe_cfg_opt *opt = p->config; opt && opt->key; opt++)
        if (missing(opt, k->opts, why, sizeof why)) {
            snprintf(err, errlen, "%s: sinks[%d].%s: %s", path, i, opt->key, why);
            return PE_EINVAL;
        }
    k->late_mode = late_mode(k->late);
    /* The topics of a profile that routes by type are the fiscal record that posedge-ctl
     * reconcile checks, seq by seq: a late sale moved to another topic would read as missing
     * there. */
    if (!p->default_topic && k->late_mode == BRIDGE_LATE_ROUTE) {
        snprintf(err, errlen,
                 "%s: sinks[%d].late: the %s profile cannot route (its topics are the fiscal "
                 "record reconcile checks); use \"flag\"",
                 path, i, p->name);
        return PE_EINVAL;
    }
    for (int j = 0; j < i; j++)
        if (strcmp(c->sinks[j].name, k->name) == 0) {
            snprintf(err, errlen,
                     "%s: sinks[%d].name: \"%s\" is already the name of sinks[%d] (give "
                     "each sink of the same profile a \"name\")",
                     path, i, k->name, j);
            return PE_EINVAL;
        }
    return PE_OK;
}

/* Parse and check the "sinks" array into c->sinks. err names the file, the sink and the key. */
static int sinks_load(struct bridge_cfg *c, const cJSON *arr, const char *path, char *err,
                      size_t errlen)
{
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 ||
        cJSON_GetArraySize(arr) > BRIDGE_SINKS_MAX) {
        snprintf(err, errlen,
                 "%s: sinks: expected a list of 1 to %d sinks, e.g. "
                 "[{\"profile\":\"native\"},{\"profile\":\"purchases-json\"}]",
                 path, BRIDGE_SINKS_MAX);
        return PE_EINVAL;
    }
    sinks_free(c);
    memset(c->sinks, 0, sizeof c->sinks);
    c->nsinks = 0;
    c->sinks_set = true;
    const cJSON *o;
    int i = 0, rc;
    cJSON_ArrayForEach(o, arr)
    {
        if ((rc = sink_load(c, i, o, path, err, errlen)))
            return rc;
        c->nsinks = ++i;
    }
    return PE_OK;
}

int bridge_cfg_load(struct bridge_cfg *c, const char *path, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    int rc = pe_cfg_defaults(bridge_cfg_table, c);
    if (rc || (rc = sinks_default(c)))
        return rc;
    c->kafka_properties = cJSON_CreateObject();
    if (!c->kafka_properties)
        return PE_ENOMEM;
    if (!path)
        return PE_OK;
    char *text = NULL;
    if ((rc = pe_file_read(path, 1024 * 1024, &text, NULL, err, errlen)))
        return rc;
    cJSON *doc = cJSON_Parse(text);
    cJSON *kafka = doc ? cJSON_GetObjectItemCaseSensitive(doc, "kafka") : NULL;
    cJSON *props =
        cJSON_IsObject(kafka) ? cJSON_DetachItemFromObjectCaseSensitive(kafka, "properties") : NULL;
    cJSON *sinks = doc ? cJSON_DetachItemFromObjectCaseSensitive(doc, "sinks") : NULL;
    if (sinks && (rc = sinks_load(c, sinks, path, err, errlen)))
        goto done;
    if (props) {
        if (!cJSON_IsObject(props)) {
            snprintf(err, errlen, "%s: kafka.properties: expected an object", path);
            rc = PE_EINVAL;
            goto done;
        }
        const cJSON *p;
        cJSON_ArrayForEach(p, props)
        {
            char v[64];
            const char *val = NULL;
            int64_t n;
            if (cJSON_IsString(p)) {
                val = p->valuestring;
            } else if (cJSON_IsBool(p)) {
                val = cJSON_IsTrue(p) ? "true" : "false";
            } else if (pe_json_int(p, &n) == PE_OK) {
                snprintf(v, sizeof v, "%" PRId64, n);
                val = v;
            } else {
                snprintf(err, errlen, "%s: kafka.properties.%s: expected a string", path,
                         p->string);
                rc = PE_EINVAL;
                goto done;
            }
            cJSON_AddStringToObject(c->kafka_properties, p->string, val);
        }
    }
    if (doc) {
        /* The rest goes through the table, which names unknown keys and bad values. */
        char *rest = cJSON_PrintUnformatted(doc);
        rc = rest ? pe_cfg_load_text(bridge_cfg_table, c, rest, path, err, errlen) : PE_ENOMEM;
        free(rest);
    } else {
        rc = pe_cfg_load_text(bridge_cfg_table, c, text, path, err, errlen);
    }
done:
    cJSON_Delete(sinks);
    cJSON_Delete(props);
    cJSON_Delete(doc);
    free(text);
    return rc;
}

int bridge_cfg_print(const struct bridge_cfg *c, FILE *out)
{
    /* The table prints its keys; the properties are merged in as "kafka.properties". */
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return PE_ENOMEM;
    int rc = pe_cfg_print(bridge_cfg_table, c, mem);
    fclose(mem);
    cJSON *doc = rc == PE_OK ? cJSON_Parse(text) : NULL;
    free(text);
    if (!doc)
        return rc ? rc : PE_ENOMEM;
    cJSON *masked = cJSON_Duplicate(c->kafka_properties, 1);
    cJSON *p;
    cJSON_ArrayForEach(p, masked)
    {
        if (strstr(p->string, "password") || strstr(p->string, "secret"))
            cJSON_SetValuestring(p, "********");
    }
    /* Without "sinks" in the file the implicit native sink is not printed, so that the
     * printed configuration read back means the same. */
    cJSON *sinks = c->sinks_set ? cJSON_AddArrayToObject(doc, "sinks") : NULL;
    for (int i = 0; sinks && i < c->nsinks; i++) {
        const struct bridge_sink *k = &c->sinks[i];
        cJSON *o = cJSON_CreateObject();
        if (!o || !k->profile)
            break;
        cJSON_AddItemToArray(sinks, o);
        cJSON_AddStringToObject(o, "name", k->name);
        cJSON_AddStringToObject(o, "profile", k->profile->name);
        for (const struct pe_cfg_opt *opt = sink_keys; opt->key; opt++)
            if (strcmp(opt->key, "name") != 0 && (strcmp(opt->key, "topic") != 0 || k->topic[0]))
                cJSON_AddItemToObject(o, opt->key, opt_item(opt, k));
        for (const struct pe_cfg_opt *opt = k->profile->config; opt && opt->key; opt++)
            cJSON_AddItemToObject(o, opt->key, opt_item(opt, k->opts));
    }
    cJSON *kafka = cJSON_GetObjectItemCaseSensitive(doc, "kafka");
    if (kafka && masked)
        cJSON_AddItemToObject(kafka, "properties", masked);
    else
        cJSON_Delete(masked);
    char *s = cJSON_Print(doc);
    cJSON_Delete(doc);
    if (!s)
        return PE_ENOMEM;
    fprintf(out, "%s\n", s);
    free(s);
    return PE_OK;
}

void bridge_cfg_help(FILE *out)
{
    char names[256];
    pe_cfg_help(bridge_cfg_table, out);
    fprintf(out,
            "\nkeys of each sink (\"sinks\": [{\"profile\": \"...\", ...}, ...]; profile: one "
            "of %s):\n",
            profile_names(names, sizeof names));
    pe_cfg_help(sink_keys, out);
    profile_help(out);
}

void bridge_cfg_free(struct bridge_cfg *c)
{
    sinks_free(c);
    cJSON_Delete(c->kafka_properties);
    c->kafka_properties = NULL;
}

int bridge_cfg_password(const struct bridge_cfg *c, char *out, size_t outlen, char *err,
                        size_t errlen)
{
    if (outlen)
        out[0] = '\0';
    if (!c->mqtt_password_file[0])
        return PE_OK;
    return pe_secret_read("mqtt.password_file", c->mqtt_password_file, PE_SECRET_PRIVATE, out,
                          outlen, err, errlen);
}

const char *bridge_cfg_crl(const struct bridge_cfg *c, char *out, size_t outlen)
{
    if (c->mqtt_tls_crl_file[0])
        snprintf(out, outlen, "%s", c->mqtt_tls_crl_file);
    else if (c->pki_dir[0])
        snprintf(out, outlen, "%s/crl.pem", c->pki_dir);
    else
        return NULL;
    return out;
}

const char *bridge_cfg_id(const struct bridge_cfg *c)
{
    return c->bridge_id[0] ? c->bridge_id : c->store;
}

bool bridge_cfg_transactional(const struct bridge_cfg *c)
{
    enum output_mode m;
    return output_mode_parse(c->kafka_mode, &m) == PE_OK && m == OUTPUT_TRANSACTIONAL;
}
