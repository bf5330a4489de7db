/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridge_cfg.c - the table of posedge-bridge's configuration keys, and the pass-through of
 * librdkafka properties. Adding a key is one line here and one field in bridge_cfg.h.
 */
#include "bridge/bridge_cfg.h"
#include "bridge/profile.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/file.h"
#include "posedge/log.h"

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
    if (strcmp(v, "transactional") == 0 || strcmp(v, "idempotent") == 0)
        return PE_OK;
    snprintf(why, len, "transactional (exactly once) or idempotent (at least once)");
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
#define TOPIC(type, idx, d)                                                                        \
    {                                                                                              \
        "topics." type, PE_CFG_STR, offsetof(struct bridge_cfg, topic) + (idx)*BRIDGE_TOPIC_MAX,   \
            BRIDGE_TOPIC_MAX, d, 1, BRIDGE_TOPIC_MAX - 1, "Kafka topic of " type " events",        \
            check_topic                                                                            \
    }

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
        "file whose first line is the MQTT password (\"\": none; never logged)", NULL),
    STR("kafka.brokers", kafka_brokers, "127.0.0.1:9092", 1, 511, "Kafka bootstrap servers", NULL),
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
        "records per transaction: larger is faster, but more is produced again after an abort"),
    INT("kafka.txn_interval_ms", txn_interval_ms, "100", 1, 600000,
        "longest a transaction stays open: consumers see a record at most this much (plus "
        "the commit) after the bridge has it"),
    TOPIC("sale", PE_EV_SALE, "pos.sales"),
    TOPIC("return", PE_EV_RETURN, "pos.sales"),
    TOPIC("void", PE_EV_VOID, "pos.sales"),
    TOPIC("no_sale", PE_EV_NO_SALE, "pos.sales"),
    TOPIC("inventory_receipt", PE_EV_INVENTORY_RECEIPT, "pos.inventory"),
    TOPIC("inventory_adjust", PE_EV_INVENTORY_ADJUST, "pos.inventory"),
    TOPIC("inventory_count", PE_EV_INVENTORY_COUNT, "pos.inventory"),
    TOPIC("shift_open", PE_EV_SHIFT_OPEN, "pos.reports"),
    TOPIC("shift_close", PE_EV_SHIFT_CLOSE, "pos.reports"),
    TOPIC("x_report", PE_EV_X_REPORT, "pos.reports"),
    TOPIC("z_report", PE_EV_Z_REPORT, "pos.reports"),
    STR("topics.dlq", topic_dlq, "pos.dlq", 1, BRIDGE_TOPIC_MAX - 1,
        "dead-letter topic: invalid input, with the reason in headers", check_topic),
    INT("intake.max_payload", max_payload, "1048576", 1024, 268435456,
        "largest MQTT message accepted, bytes (larger ones are dead letters)"),
    INT("drain.events_per_s", drain_events_per_s, "0", 0, 100000000,
        "pace of the backlog toward Kafka, events/s (0: unlimited)"),
    INT("drain.bytes_per_s", drain_bytes_per_s, "0", 0, INT64_MAX,
        "pace toward Kafka, bytes/s (0: unlimited)"),
    INT("spool.max_mb", spool_max_mb, "0", 0, 1048576,
        "quota of undelivered records in MiB (0: none); when full, intake stops acknowledging"),
    INT("fleet.state_interval_s", state_interval_s, "10", 1, 86400,
        "the bridge's retained state is republished this often, seconds (and on change, at "
        "most once a second)"),
    {NULL},
};

/* The implicit sink when the file has none: today's records, unchanged, nothing flagged. */
static void sinks_default(struct bridge_cfg *c)
{
    memset(c->sinks, 0, sizeof c->sinks);
    snprintf(c->sinks[0].name, sizeof c->sinks[0].name, "native");
    snprintf(c->sinks[0].profile, sizeof c->sinks[0].profile, "native");
    snprintf(c->sinks[0].late, sizeof c->sinks[0].late, "off");
    c->sinks[0].lateness_s = 3600;
    c->nsinks = 1;
    c->sinks_set = false;
}

static bool has_option(const struct profile_ops *p, const char *key)
{
    static const char *const common[] = {"name", "profile", "topic", "late", "lateness_s", NULL};
    for (int i = 0; common[i]; i++)
        if (strcmp(common[i], key) == 0)
            return true;
    for (int i = 0; p->options && p->options[i]; i++)
        if (strcmp(p->options[i], key) == 0)
            return true;
    return false;
}

/* A string member of a sink into out (outlen with NUL): 1..outlen-1 characters, or the default
 * when absent. check may refuse it. */
static int sink_str(const cJSON *o, const char *key, const char *def, char *out, size_t outlen,
                    size_t min, int (*check)(const void *, char *, size_t), const char *path,
                    int idx, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v) {
        snprintf(out, outlen, "%s", def);
        return PE_OK;
    }
    char why[160] = "";
    if (!cJSON_IsString(v))
        snprintf(why, sizeof why, "expected a string");
    else if (strlen(v->valuestring) < min || strlen(v->valuestring) >= outlen)
        snprintf(why, sizeof why, "expected %zu to %zu characters", min, outlen - 1);
    else if (check && check(v->valuestring, why, sizeof why) != PE_OK && !why[0])
        snprintf(why, sizeof why, "not valid");
    if (why[0]) {
        snprintf(err, errlen, "%s: sinks[%d].%s: %s", path, idx, key, why);
        return PE_EINVAL;
    }
    snprintf(out, outlen, "%s", v->valuestring);
    return PE_OK;
}

static int check_late(const void *v, char *why, size_t len)
{
    if (strcmp(v, "off") == 0 || strcmp(v, "flag") == 0 || strcmp(v, "route") == 0)
        return PE_OK;
    snprintf(why, len, "off, flag (a header) or route (a header, and to <topic>.late)");
    return PE_EINVAL;
}

static int check_field(const void *v, char *why, size_t len)
{
    for (const char *p = v; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_')) {
            snprintf(why, len, "a field name has only letters, digits and '_'");
            return PE_EINVAL;
        }
    return PE_OK;
}

static bool is_avro(const struct profile_ops *p)
{
    return p == &profile_inventory_avro || p == &profile_orders_avro;
}

/* An optional integer member of a sink from lo to hi, or def when absent. */
static int sink_int(const cJSON *o, const char *key, int64_t def, int64_t lo, int64_t hi,
                    int64_t *out, const char *path, int idx, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    *out = def;
    if (!v)
        return PE_OK;
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble ||
        v->valuedouble < (double)lo || v->valuedouble > (double)hi) {
        snprintf(err, errlen, "%s: sinks[%d].%s: expected an integer from %lld to %lld", path, idx,
                 key, (long long)lo, (long long)hi);
        return PE_EINVAL;
    }
    *out = (int64_t)v->valuedouble;
    return PE_OK;
}

/* "name=N,name=N": names of letters, digits and '_', N from 0 to 2^31-1. */
static int check_change_types(const void *v, char *why, size_t len)
{
    const char *p = v;
    while (*p) {
        size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        size_t d = n && p[n] == '=' ? strspn(p + n + 1, "0123456789") : 0;
        if (!d || d > 9 || (p[n + 1 + d] && p[n + 1 + d] != ',')) {
            snprintf(why, len,
                     "expected name=number pairs separated by commas, e.g. "
                     "\"sale=1,restock=2,shrink=3,return=4\"");
            return PE_EINVAL;
        }
        p += n + 1 + d + (p[n + 1 + d] == ',');
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
    memset(c->sinks, 0, sizeof c->sinks);
    c->nsinks = 0;
    c->sinks_set = true;
    const cJSON *o;
    int i = 0, rc;
    cJSON_ArrayForEach(o, arr)
    {
        struct bridge_sink *k = &c->sinks[i];
        if (!cJSON_IsObject(o)) {
            snprintf(err, errlen, "%s: sinks[%d]: expected an object with a \"profile\"", path, i);
            return PE_EINVAL;
        }
        const cJSON *pv = cJSON_GetObjectItemCaseSensitive(o, "profile");
        const struct profile_ops *p = cJSON_IsString(pv) ? profile_find(pv->valuestring) : NULL;
        if (!p) {
            snprintf(err, errlen, "%s: sinks[%d].profile: %s%s%s (one of %s)", path, i,
                     cJSON_IsString(pv) ? "unknown profile \"" : "missing",
                     cJSON_IsString(pv) ? pv->valuestring : "", cJSON_IsString(pv) ? "\"" : "",
                     profile_names());
            return PE_EINVAL;
        }
        const cJSON *m;
        cJSON_ArrayForEach(m, o)
        {
            if (!has_option(p, m->string)) {
                snprintf(err, errlen, "%s: sinks[%d].%s: unknown key for profile %s", path, i,
                         m->string, p->name);
                return PE_EINVAL;
            }
        }
        snprintf(k->profile, sizeof k->profile, "%s", p->name);
        if (!p->default_topic && cJSON_GetObjectItemCaseSensitive(o, "topic")) {
            snprintf(err, errlen,
                     "%s: sinks[%d].topic: the %s profile routes by event type (topics.<type>)",
                     path, i, p->name);
            return PE_EINVAL;
        }
        if ((rc = sink_str(o, "name", p->name, k->name, sizeof k->name, 1, pe_cfg_check_id, path, i,
                           err, errlen)) ||
            (rc = sink_str(o, "topic", p->default_topic ? p->default_topic : "", k->topic,
                           sizeof k->topic, 1, check_topic, path, i, err, errlen)) ||
            (rc = sink_str(o, "late", "flag", k->late, sizeof k->late, 1, check_late, path, i, err,
                           errlen)) ||
            (rc = sink_str(o, "ts_field", "ts", k->ts_field, sizeof k->ts_field, 1, check_field,
                           path, i, err, errlen)) ||
            (rc = sink_str(o, "country", "Unspecified", k->country, sizeof k->country, 0, NULL,
                           path, i, err, errlen)) ||
            (rc = sink_str(o, "source", "store", k->source, sizeof k->source, 1, NULL, path, i, err,
                           errlen)) ||
            (rc = sink_str(o, "registry_url", "", k->registry_url, sizeof k->registry_url, 0, NULL,
                           path, i, err, errlen)) ||
            (rc = sink_str(o, "registry_user", "", k->registry_user, sizeof k->registry_user, 0,
                           NULL, path, i, err, errlen)) ||
            (rc = sink_str(o, "registry_password_file", "", k->registry_password_file,
                           sizeof k->registry_password_file, 0, NULL, path, i, err, errlen)) ||
            (rc = sink_str(o, "registry_ca_file", "", k->registry_ca_file,
                           sizeof k->registry_ca_file, 0, NULL, path, i, err, errlen)) ||
            (rc = sink_str(o, "store_name", "", k->store_name, sizeof k->store_name, 0, NULL, path,
                           i, err, errlen)) ||
            (rc = sink_str(o, "catalog", "", k->catalog, sizeof k->catalog, 0, NULL, path, i, err,
                           errlen)) ||
            (rc = sink_str(o, "change_types", "sale=1,restock=2,shrink=3,return=4,correction=5",
                           k->change_types, sizeof k->change_types, 1, check_change_types, path, i,
                           err, errlen)) ||
            (rc = sink_int(o, "store_id", 0, 0, INT32_MAX, &k->store_id, path, i, err, errlen)))
            return rc;
        const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "master_data");
        if (md && !cJSON_IsBool(md)) {
            snprintf(err, errlen, "%s: sinks[%d].master_data: expected true or false", path, i);
            return PE_EINVAL;
        }
        k->master_data = !md || cJSON_IsTrue(md);
        if (is_avro(p) && strncmp(k->registry_url, "http://", 7) != 0 &&
            strncmp(k->registry_url, "https://", 8) != 0) {
            snprintf(err, errlen,
                     "%s: sinks[%d].registry_url: the %s profile needs the Schema Registry's "
                     "URL, http(s)://host:port[/prefix]",
                     path, i, p->name);
            return PE_EINVAL;
        }
        /* The native topics are the fiscal record that posedge-ctl reconcile checks, seq by
         * seq: a late sale moved to another topic would read as missing there. */
        if (!p->default_topic && strcmp(k->late, "route") == 0) {
            snprintf(err, errlen,
                     "%s: sinks[%d].late: the %s profile cannot route (its topics are the fiscal "
                     "record reconcile checks); use \"flag\"",
                     path, i, p->name);
            return PE_EINVAL;
        }
        const cJSON *ls = cJSON_GetObjectItemCaseSensitive(o, "lateness_s");
        k->lateness_s = 3600;
        if (ls) {
            if (!cJSON_IsNumber(ls) || ls->valuedouble != (double)(int64_t)ls->valuedouble ||
                ls->valuedouble < 1 || ls->valuedouble > 31536000) {
                snprintf(err, errlen,
                         "%s: sinks[%d].lateness_s: expected an integer from 1 to "
                         "31536000 (seconds)",
                         path, i);
                return PE_EINVAL;
            }
            k->lateness_s = (int64_t)ls->valuedouble;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(c->sinks[j].name, k->name) == 0) {
                snprintf(err, errlen,
                         "%s: sinks[%d].name: \"%s\" is already the name of sinks[%d] (give "
                         "each sink of the same profile a \"name\")",
                         path, i, k->name, j);
                return PE_EINVAL;
            }
        c->nsinks = ++i;
    }
    return PE_OK;
}

int bridge_cfg_load(struct bridge_cfg *c, const char *path, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    int rc = pe_cfg_defaults(bridge_cfg_table, c);
    if (rc)
        return rc;
    sinks_default(c);
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
            if (cJSON_IsString(p)) {
                val = p->valuestring;
            } else if (cJSON_IsBool(p)) {
                val = cJSON_IsTrue(p) ? "true" : "false";
            } else if (cJSON_IsNumber(p) && p->valuedouble == (double)(long long)p->valuedouble) {
                snprintf(v, sizeof v, "%lld", (long long)p->valuedouble);
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
        const struct profile_ops *prof = profile_find(k->profile);
        cJSON *o = cJSON_CreateObject();
        if (!o || !prof)
            break;
        cJSON_AddItemToArray(sinks, o);
        cJSON_AddStringToObject(o, "name", k->name);
        cJSON_AddStringToObject(o, "profile", k->profile);
        if (k->topic[0])
            cJSON_AddStringToObject(o, "topic", k->topic);
        cJSON_AddStringToObject(o, "late", k->late);
        cJSON_AddNumberToObject(o, "lateness_s", (double)k->lateness_s);
        if (has_option(prof, "ts_field"))
            cJSON_AddStringToObject(o, "ts_field", k->ts_field);
        if (has_option(prof, "country"))
            cJSON_AddStringToObject(o, "country", k->country);
        if (has_option(prof, "source"))
            cJSON_AddStringToObject(o, "source", k->source);
        if (has_option(prof, "registry_url")) {
            cJSON_AddStringToObject(o, "registry_url", k->registry_url);
            cJSON_AddStringToObject(o, "registry_user", k->registry_user);
            cJSON_AddStringToObject(o, "registry_password_file", k->registry_password_file);
            cJSON_AddStringToObject(o, "registry_ca_file", k->registry_ca_file);
        }
        if (has_option(prof, "store_id")) {
            cJSON_AddNumberToObject(o, "store_id", (double)k->store_id);
            cJSON_AddStringToObject(o, "store_name", k->store_name);
            cJSON_AddStringToObject(o, "catalog", k->catalog);
            cJSON_AddStringToObject(o, "change_types", k->change_types);
            cJSON_AddBoolToObject(o, "master_data", k->master_data);
        }
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

void bridge_cfg_free(struct bridge_cfg *c)
{
    cJSON_Delete(c->kafka_properties);
    c->kafka_properties = NULL;
}

int bridge_cfg_password(const struct bridge_cfg *c, char *out, size_t outlen, char *err,
                        size_t errlen)
{
    out[0] = '\0';
    if (!c->mqtt_password_file[0])
        return PE_OK;
    char *text = NULL;
    size_t len = 0;
    int rc = pe_file_read(c->mqtt_password_file, 4096, &text, &len, err, errlen);
    if (rc) {
        /* err reads "<path>: cannot read: <reason>"; say which key it is. */
        char why[512];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, errlen, "mqtt.password_file %s", why);
        return rc;
    }
    size_t n = strcspn(text, "\r\n");
    if (n >= outlen) {
        snprintf(err, errlen, "mqtt.password_file %s: the password is longer than %zu bytes",
                 c->mqtt_password_file, outlen - 1);
        rc = PE_EINVAL;
    } else {
        memcpy(out, text, n);
        out[n] = '\0';
    }
    explicit_bzero(text, len);
    free(text);
    return rc;
}

const char *bridge_cfg_id(const struct bridge_cfg *c)
{
    return c->bridge_id[0] ? c->bridge_id : c->store;
}

bool bridge_cfg_transactional(const struct bridge_cfg *c)
{
    return strcmp(c->kafka_mode, "transactional") == 0;
}
