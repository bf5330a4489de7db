/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_conf.c - librdkafka configuration by role (see kafka_conf.h).
 *
 * Each role is one entry of data: its defaults, the user's properties it leaves out, whether
 * refusals of the user's properties are errors, and the settings that come last. role_of
 * switches over the role enum without a default, so a new role without its entry does not
 * compile. The order of application is always bootstrap.servers, defaults, the user's
 * properties, the security settings, fixed settings.
 *
 * The SASL password goes from its file into a buffer on this stack, from there into
 * librdkafka's configuration, and the buffer is wiped: it is never in a log line, an error
 * message or a heap block of posedge's. librdkafka keeps its own copy (marked sensitive: its
 * configuration dumps redact it) for as long as the client lives.
 */
#include "posedge/kafka_conf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posedge/err.h"
#include "posedge/file.h"
#include "posedge/json.h"
#include "posedge/secret.h"

#define QUEUE_MSGS "10000000" /* the event producers' own queue: far above any max_inflight */
#define TELEMETRY_TIMEOUT_MS "30000" /* a telemetry record not in Kafka by then is dropped */
#define TELEMETRY_QUEUE_MSGS "1000"  /* telemetry records queued at most (more are dropped) */
#define TELEMETRY_QUEUE_KBYTES "2048" /* and their bytes */

/* Where a setting's value comes from. */
enum from {
    FROM_CONST, /* the value given */
    FROM_TID,   /* site->transactional_id */
    FROM_GROUP, /* site->group_id */
};

struct setting {
    const char *key;   /* librdkafka property; NULL ends a list */
    const char *value; /* FROM_CONST: the value */
    enum from from;
};

struct role {
    const struct setting *defaults; /* before the user's properties (they may change them) */
    const struct setting *fixed;    /* after them (they may not) */
    const char *const *skip;        /* the user's properties this role leaves out (NULL-ended) */
    bool props;                     /* the user's properties apply at all */
    bool strict;                    /* one librdkafka refuses is an error, not skipped */
    bool brokers;                   /* bootstrap.servers is required */
};

static const struct setting idempotent_defaults[] = {
    {"acks", "all", FROM_CONST},
    {"enable.idempotence", "true", FROM_CONST},
    {"compression.type", "lz4", FROM_CONST},
    /* A message never expires into loss: the bridge produces it until Kafka has it. */
    {"message.timeout.ms", "0", FROM_CONST},
    {"queue.buffering.max.messages", QUEUE_MSGS, FROM_CONST},
    /* The partitioner of the Java client, so keys land where other producers put them. */
    {"partitioner", "murmur2_random", FROM_CONST},
    {"log.queue", "true", FROM_CONST},
    {"statistics.interval.ms", PE_KAFKA_STATS_MS, FROM_CONST},
    {NULL, NULL, FROM_CONST},
};

static const struct setting transactional_defaults[] = {
    {"transactional.id", NULL, FROM_TID},
    {"acks", "all", FROM_CONST},
    {"enable.idempotence", "true", FROM_CONST},
    {"compression.type", "lz4", FROM_CONST},
    {"queue.buffering.max.messages", QUEUE_MSGS, FROM_CONST},
    {"partitioner", "murmur2_random", FROM_CONST},
    {"statistics.interval.ms", PE_KAFKA_STATS_MS, FROM_CONST},
    {NULL, NULL, FROM_CONST},
};

static const struct setting telemetry_defaults[] = {
    {"acks", "1", FROM_CONST},
    {"compression.type", "lz4", FROM_CONST},
    {"linger.ms", "100", FROM_CONST},
    {"partitioner", "murmur2_random", FROM_CONST},
    {NULL, NULL, FROM_CONST},
};

/* Telemetry never waits for Kafka, never holds much and never takes part in transactions. */
static const struct setting telemetry_fixed[] = {
    {"enable.idempotence", "false", FROM_CONST},
    {"message.timeout.ms", TELEMETRY_TIMEOUT_MS, FROM_CONST},
    {"queue.buffering.max.messages", TELEMETRY_QUEUE_MSGS, FROM_CONST},
    {"queue.buffering.max.kbytes", TELEMETRY_QUEUE_KBYTES, FROM_CONST},
    {NULL, NULL, FROM_CONST},
};

/* The user's properties that would make the telemetry producer transactional or idempotent,
 * or unbound what it keeps while Kafka is away. */
static const char *const telemetry_skip[] = {
    "transactional.id",       "enable.idempotence",           "message.timeout.ms",
    "delivery.timeout.ms",    "queue.buffering.max.messages", "queue.buffering.max.kbytes",
    "statistics.interval.ms", "enable.gapless.guarantee",     NULL,
};

static const struct setting master_data_defaults[] = {
    {"enable.idempotence", "true", FROM_CONST},
    {NULL, NULL, FROM_CONST},
};

/* Master data is configuration, not events: never in a transaction. */
static const char *const master_data_skip[] = {"transactional.id", NULL};

static const struct setting reader_defaults[] = {
    {"group.id", NULL, FROM_GROUP},
    {"enable.auto.commit", "false", FROM_CONST},
    {"enable.auto.offset.store", "false", FROM_CONST},
    {"isolation.level", "read_committed", FROM_CONST},
    {"enable.partition.eof", "true", FROM_CONST},
    {"auto.offset.reset", "earliest", FROM_CONST},
    {"allow.auto.create.topics", "false", FROM_CONST},
    {NULL, NULL, FROM_CONST},
};

/* The bridge's catalog reader: partitions assigned by the bridge from offsets it keeps itself
 * (nothing committed to Kafka), HQ's transactions seen whole or not at all, and a prefetch
 * queue bounded to a few MB (librdkafka's default would hold 64 MB of a large catalog). */
#define CATALOG_QUEUE_KBYTES "4096"
static const struct setting catalog_defaults[] = {
    {"group.id", NULL, FROM_GROUP},
    {"enable.partition.eof", "true", FROM_CONST},
    {"auto.offset.reset", "earliest", FROM_CONST},
    {"allow.auto.create.topics", "false", FROM_CONST},
    {"queued.max.messages.kbytes", CATALOG_QUEUE_KBYTES, FROM_CONST},
    {NULL, NULL, FROM_CONST},
};

/* What makes it the catalog reader: the user's properties cannot change these. */
static const struct setting catalog_fixed[] = {
    {"enable.auto.commit", "false", FROM_CONST},
    {"enable.auto.offset.store", "false", FROM_CONST},
    {"isolation.level", "read_committed", FROM_CONST},
    {NULL, NULL, FROM_CONST},
};

static const struct setting none[] = {{NULL, NULL, FROM_CONST}};

static const struct role *role_of(enum pe_kafka_role r)
{
    static const struct role idempotent = {idempotent_defaults, none, NULL, true, true, true},
                             transactional = {transactional_defaults, none, NULL, true, true,
                                              true},
                             telemetry = {telemetry_defaults, telemetry_fixed, telemetry_skip, true,
                                          false, true},
                             master_data = {master_data_defaults, none, master_data_skip, true,
                                            false, true},
                             reader = {reader_defaults, none, NULL, true, false, true},
                             catalog = {catalog_defaults, catalog_fixed, NULL, true, false, true},
                             mock = {none, none, NULL, false, false, false};
    switch (r) {
    case PE_KAFKA_PRODUCER_IDEMPOTENT:
        return &idempotent;
    case PE_KAFKA_PRODUCER_TRANSACTIONAL:
        return &transactional;
    case PE_KAFKA_PRODUCER_TELEMETRY:
        return &telemetry;
    case PE_KAFKA_PRODUCER_MASTER_DATA:
        return &master_data;
    case PE_KAFKA_READER_COMMITTED:
        return &reader;
    case PE_KAFKA_READER_CATALOG:
        return &catalog;
    case PE_KAFKA_MOCK_CLUSTER:
        return &mock;
    case PE_KAFKA_ROLE__COUNT:
        break;
    }
    return NULL;
}

const char *pe_kafka_role_name(enum pe_kafka_role role)
{
    static const char *const names[PE_KAFKA_ROLE__COUNT] = {
#define PE__KROLE_NAME(name, str) [PE_KAFKA_##name] = str,
        PE_KAFKA_ROLES(PE__KROLE_NAME)
#undef PE__KROLE_NAME
    };
    return (unsigned)role < PE_KAFKA_ROLE__COUNT ? names[role] : NULL;
}

/* ---- security ---- */

static const struct {
    const char *name;   /* kafka.security_protocol */
    const char *rdk;    /* librdkafka's security.protocol */
    bool tls, sasl;     /* encrypted; SASL */
} protocols[PE_KAFKA_PROTOCOL__COUNT] = {
#define PE__KPROTO_ROW(name, str, rdk, tls, sasl) [PE_KAFKA_##name] = {str, rdk, tls, sasl},
    PE_KAFKA_PROTOCOLS(PE__KPROTO_ROW)
#undef PE__KPROTO_ROW
};

static const char *const mechanisms[] = {
#define PE__KMECH_ROW(str) str,
    PE_KAFKA_MECHANISMS(PE__KMECH_ROW)
#undef PE__KMECH_ROW
};

#define NMECH (sizeof mechanisms / sizeof mechanisms[0])

/* The librdkafka properties the security settings own, refused in kafka.properties with what
 * to write instead: a property there would connect one client differently from the others, or
 * put a secret into a configuration file. */
static const struct {
    const char *prop; /* librdkafka property */
    const char *use;  /* what to write instead */
} owned[] = {
    {"security.protocol", "set kafka.security_protocol"},
    {"sasl.mechanisms", "set kafka.sasl.mechanism"},
    {"sasl.mechanism", "set kafka.sasl.mechanism"},
    {"sasl.username", "set kafka.sasl.username"},
    {"sasl.password", "put the password in a file (mode 0600) named by kafka.sasl.password_file"},
    {"ssl.ca.location", "set kafka.tls.ca_file"},
    {"ssl.ca.pem", "put the CA certificates in a file named by kafka.tls.ca_file"},
    {"ssl.certificate.location", "set kafka.tls.cert_file"},
    {"ssl.certificate.pem", "put the certificate in a file named by kafka.tls.cert_file"},
    {"ssl.key.location", "set kafka.tls.key_file"},
    {"ssl.key.pem", "put the key in a file (mode 0600) named by kafka.tls.key_file"},
    {"ssl.key.password", "use an unencrypted key in a file of mode 0600 (kafka.tls.key_file)"},
    {"ssl.keystore.location", "use PEM files: kafka.tls.cert_file and kafka.tls.key_file"},
    {"ssl.keystore.password", "use PEM files: kafka.tls.cert_file and kafka.tls.key_file"},
    {"sasl.oauthbearer.client.secret",
     "secrets come only from files; OAUTHBEARER is not supported"},
};

int pe_kafka_check_protocol(const void *value, char *why, size_t whylen)
{
    for (int i = 0; i < PE_KAFKA_PROTOCOL__COUNT; i++)
        if (strcmp(value, protocols[i].name) == 0)
            return PE_OK;
    size_t o = 0;
    for (int i = 0; i < PE_KAFKA_PROTOCOL__COUNT && o < whylen; i++) {
        int n = snprintf(why + o, whylen - o, "%s%s", i == 0                             ? ""
                                                      : i == PE_KAFKA_PROTOCOL__COUNT - 1 ? " or "
                                                                                          : ", ",
                         protocols[i].name);
        o += n > 0 ? (size_t)n : 0;
    }
    return PE_EINVAL;
}

int pe_kafka_check_mechanism(const void *value, char *why, size_t whylen)
{
    for (size_t i = 0; i < NMECH; i++)
        if (strcmp(value, mechanisms[i]) == 0)
            return PE_OK;
    size_t o = 0;
    for (size_t i = 0; i < NMECH && o < whylen; i++) {
        int n = snprintf(why + o, whylen - o, "%s%s",
                         i == 0 ? "" : i == NMECH - 1 ? " or " : ", ", mechanisms[i]);
        o += n > 0 ? (size_t)n : 0;
    }
    return PE_EINVAL;
}

const struct pe_kafka_security_key pe_kafka_security_keys[] = {
#define PE__KSEC_KEY(key, opt, field, def, help, chk) {key, opt, help},
    PE_KAFKA_SECURITY_KEYS(PE__KSEC_KEY)
#undef PE__KSEC_KEY
    {NULL, NULL, NULL},
};

int pe_kafka_security_set(struct pe_kafka_security *s, int i, const char *value, char *why,
                          size_t whylen)
{
    /* Each setting's slot and check, in the list's order. */
    static const struct {
        size_t offset, size;
        int (*check)(const void *, char *, size_t);
    } slots[] = {
#define PE__KSEC_SLOT(key, opt, field, def, help, chk)                                             \
    {offsetof(struct pe_kafka_security, field), sizeof(((struct pe_kafka_security *)0)->field),   \
     chk},
        PE_KAFKA_SECURITY_KEYS(PE__KSEC_SLOT)
#undef PE__KSEC_SLOT
    };
    if (i < 0 || (size_t)i >= sizeof slots / sizeof slots[0] || !value) {
        snprintf(why, whylen, "no such setting");
        return PE_EINVAL;
    }
    if (strlen(value) >= slots[i].size) {
        snprintf(why, whylen, "at most %zu characters", slots[i].size - 1);
        return PE_EINVAL;
    }
    if (slots[i].check && slots[i].check(value, why, whylen)) {
        char vals[128];
        snprintf(vals, sizeof vals, "%s", why);
        snprintf(why, whylen, "\"%s\" is not one of %s", value, vals);
        return PE_EINVAL;
    }
    snprintf((char *)s + slots[i].offset, slots[i].size, "%s", value);
    return PE_OK;
}

void pe_kafka_security_defaults(struct pe_kafka_security *s)
{
    memset(s, 0, sizeof *s);
#define PE__KSEC_DEFAULT(key, opt, field, def, help, chk)                                          \
    snprintf(s->field, sizeof s->field, "%s", def);
    PE_KAFKA_SECURITY_KEYS(PE__KSEC_DEFAULT)
#undef PE__KSEC_DEFAULT
}

enum pe_kafka_protocol pe_kafka_security_protocol(const struct pe_kafka_security *s)
{
    for (int i = 0; s && i < PE_KAFKA_PROTOCOL__COUNT; i++)
        if (strcmp(s->protocol, protocols[i].name) == 0)
            return (enum pe_kafka_protocol)i;
    return PE_KAFKA_PLAINTEXT;
}

bool pe_kafka_security_tls(const struct pe_kafka_security *s)
{
    return protocols[pe_kafka_security_protocol(s)].tls;
}

int pe_kafka_security_check(const struct pe_kafka_security *s, char *err, size_t errlen)
{
    char why[128] = "";
    if (!s)
        return PE_OK;
    if (s->protocol[0] && pe_kafka_check_protocol(s->protocol, why, sizeof why)) {
        snprintf(err, errlen, "kafka.security_protocol: \"%s\" is not one of %s", s->protocol, why);
        return PE_EINVAL;
    }
    enum pe_kafka_protocol p = pe_kafka_security_protocol(s);
    const char *name = protocols[p].name;
    if (protocols[p].sasl) {
        if (pe_kafka_check_mechanism(s->mechanism, why, sizeof why)) {
            snprintf(err, errlen, "kafka.sasl.mechanism: \"%s\" is not one of %s", s->mechanism,
                     why);
            return PE_EINVAL;
        }
        if (!s->username[0] || !s->password_file[0]) {
            snprintf(err, errlen, "kafka.sasl.%s: required with kafka.security_protocol %s",
                     !s->username[0] ? "username" : "password_file", name);
            return PE_EINVAL;
        }
    } else if (s->username[0] || s->password_file[0]) {
        snprintf(err, errlen,
                 "kafka.sasl.%s: only with kafka.security_protocol sasl_ssl or sasl_plaintext "
                 "(it is %s)",
                 s->username[0] ? "username" : "password_file", name);
        return PE_EINVAL;
    }
    if (!protocols[p].tls && (s->ca_file[0] || s->cert_file[0] || s->key_file[0])) {
        snprintf(err, errlen,
                 "kafka.tls.%s: only with kafka.security_protocol sasl_ssl or ssl (it is %s)",
                 s->ca_file[0] ? "ca_file" : s->cert_file[0] ? "cert_file" : "key_file", name);
        return PE_EINVAL;
    }
    if (!s->cert_file[0] != !s->key_file[0]) {
        snprintf(err, errlen, "kafka.tls.%s: required with kafka.tls.%s",
                 s->cert_file[0] ? "key_file" : "cert_file",
                 s->cert_file[0] ? "cert_file" : "key_file");
        return PE_EINVAL;
    }
    return PE_OK;
}

/* A file librdkafka will read when the client is created: say now, by the setting's name,
 * when it cannot. */
static int readable(const char *what, const char *path, char *err, size_t errlen)
{
    if (access(path, R_OK) == 0)
        return PE_OK;
    snprintf(err, errlen, "%s %s: cannot read: %s", what, path, strerror(errno));
    return PE_EIO;
}

static int set(rd_kafka_conf_t *conf, const char *key, const char *value, const char *what,
               char *err, size_t errlen)
{
    char why[512];
    if (rd_kafka_conf_set(conf, key, value, why, sizeof why) == RD_KAFKA_CONF_OK)
        return PE_OK;
    snprintf(err, errlen, "%s: %s", what, why);
    return PE_EINVAL;
}

/* The security settings onto conf. The password is read here, handed over and wiped. */
static int apply_security(rd_kafka_conf_t *conf, const struct pe_kafka_security *s, char *err,
                          size_t errlen)
{
    int rc = pe_kafka_security_check(s, err, errlen);
    if (rc)
        return rc;
    enum pe_kafka_protocol p = pe_kafka_security_protocol(s);
    if ((rc = set(conf, "security.protocol", protocols[p].rdk, "kafka.security_protocol", err,
                  errlen)))
        return rc;
    if (!s)
        return PE_OK;
    if (protocols[p].tls) {
        if (s->ca_file[0] &&
            ((rc = readable("kafka.tls.ca_file", s->ca_file, err, errlen)) ||
             (rc = set(conf, "ssl.ca.location", s->ca_file, "kafka.tls.ca_file", err, errlen))))
            return rc;
        if (s->cert_file[0] &&
            ((rc = readable("kafka.tls.cert_file", s->cert_file, err, errlen)) ||
             (rc = pe_secret_check_mode("kafka.tls.key_file", s->key_file, err, errlen)) ||
             (rc = readable("kafka.tls.key_file", s->key_file, err, errlen)) ||
             (rc = set(conf, "ssl.certificate.location", s->cert_file, "kafka.tls.cert_file", err,
                       errlen)) ||
             (rc = set(conf, "ssl.key.location", s->key_file, "kafka.tls.key_file", err, errlen))))
            return rc;
    }
    if (!protocols[p].sasl)
        return PE_OK;
    if ((rc = set(conf, "sasl.mechanisms", s->mechanism, "kafka.sasl.mechanism", err, errlen)) ||
        (rc = set(conf, "sasl.username", s->username, "kafka.sasl.username", err, errlen)))
        return rc;
    char pw[PE_SECRET_MAX];
    rc = pe_secret_read("kafka.sasl.password_file", s->password_file, PE_SECRET_PRIVATE, pw,
                        sizeof pw, err, errlen);
    if (rc == PE_OK && !pw[0]) {
        snprintf(err, errlen, "kafka.sasl.password_file %s: the first line is empty",
                 s->password_file);
        rc = PE_EINVAL;
    }
    /* librdkafka's message on a refusal names the property, never the value. */
    if (rc == PE_OK)
        rc = set(conf, "sasl.password", pw, "kafka.sasl.password_file", err, errlen);
    pe_secret_wipe(pw, sizeof pw);
    return rc;
}

static bool skipped(const char *const *skip, const char *key)
{
    for (size_t i = 0; skip && skip[i]; i++)
        if (strcmp(skip[i], key) == 0)
            return true;
    return false;
}

/* Apply one list of our settings. */
static int apply(rd_kafka_conf_t *conf, const struct setting *list,
                 const struct pe_kafka_site *site, char *err, size_t errlen)
{
    char why[512];
    for (const struct setting *s = list; s->key; s++) {
        const char *v = s->from == FROM_TID     ? site->transactional_id
                        : s->from == FROM_GROUP ? site->group_id
                                                : s->value;
        if (!v || !*v) {
            snprintf(err, errlen, "kafka: %s: missing", s->key);
            return PE_EINVAL;
        }
        if (rd_kafka_conf_set(conf, s->key, v, why, sizeof why) != RD_KAFKA_CONF_OK) {
            snprintf(err, errlen, "%s: %s", s->key, why);
            return PE_EINVAL;
        }
    }
    return PE_OK;
}

/* The user's properties, as the role takes them. */
static int apply_user(rd_kafka_conf_t *conf, const struct role *r, const cJSON *props, char *err,
                      size_t errlen)
{
    char why[512];
    const cJSON *p;
    cJSON_ArrayForEach(p, props)
    {
        for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++)
            if (strcmp(p->string, owned[i].prop) == 0) {
                snprintf(err, errlen, "kafka.properties.%s: not accepted here: %s", p->string,
                         owned[i].use);
                return PE_EINVAL;
            }
        if (skipped(r->skip, p->string))
            continue;
        if (!cJSON_IsString(p)) {
            if (!r->strict)
                continue;
            snprintf(err, errlen, "kafka.properties.%s: must be a string", p->string);
            return PE_EINVAL;
        }
        if (rd_kafka_conf_set(conf, p->string, p->valuestring, why, sizeof why) !=
                RD_KAFKA_CONF_OK &&
            r->strict) {
            snprintf(err, errlen, "kafka.properties.%s: %s", p->string, why);
            return PE_EINVAL;
        }
    }
    return PE_OK;
}

int pe_kafka_conf_new(enum pe_kafka_role role, const struct pe_kafka_site *site,
                      rd_kafka_conf_t **out, char *err, size_t errlen)
{
    static const struct pe_kafka_site nowhere = {0};
    const struct role *r = role_of(role);
    char why[512];
    int rc;
    *out = NULL;
    if (!site)
        site = &nowhere;
    if (!r) {
        snprintf(err, errlen, "kafka: no client role %d", (int)role);
        return PE_EINVAL;
    }
    if (r->brokers && (!site->brokers || !*site->brokers)) {
        snprintf(err, errlen, "kafka.brokers: missing (host:port[,host:port...])");
        return PE_EINVAL;
    }
    if (r->props && site->properties && !cJSON_IsObject(site->properties)) {
        snprintf(err, errlen, "kafka.properties: must be an object of strings");
        return PE_EINVAL;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (!conf)
        return PE_ENOMEM;
    if (r->brokers &&
        rd_kafka_conf_set(conf, "bootstrap.servers", site->brokers, why, sizeof why) !=
            RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka.brokers: %s", why);
        rc = PE_EINVAL;
        goto destroy_conf;
    }
    if ((rc = apply(conf, r->defaults, site, err, errlen)) ||
        (r->props && (rc = apply_user(conf, r, site->properties, err, errlen))) ||
        (r->brokers && (rc = apply_security(conf, site->security, err, errlen))) ||
        (rc = apply(conf, r->fixed, site, err, errlen)))
        goto destroy_conf;
    *out = conf;
    return PE_OK;

destroy_conf:
    rd_kafka_conf_destroy(conf);
    return rc;
}

/* ---- the Kafka settings of a bridge configuration file ---- */

/* The value at a dotted path under obj ("sasl.username"), NULL when absent. */
static const cJSON *at(const cJSON *obj, const char *path)
{
    char part[64];
    while (obj && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof part)
            return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        obj = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, part) : NULL;
        path += n + (dot ? 1 : 0);
    }
    return obj;
}

/* The string at key under kafka: PE_OK with *out NULL when absent; PE_EINVAL when not a
 * string. */
static int string_at(const cJSON *kafka, const char *key, const char **out, const char *path,
                     char *err, size_t errlen)
{
    const cJSON *v = at(kafka, key);
    *out = NULL;
    if (!v)
        return PE_OK;
    if (!cJSON_IsString(v)) {
        snprintf(err, errlen, "%s: kafka.%s: expected a string", path, key);
        return PE_EINVAL;
    }
    *out = v->valuestring;
    return PE_OK;
}

int pe_kafka_client_load(const char *path, struct pe_kafka_client *out, char *err, size_t errlen)
{
    char *text = NULL;
    memset(out, 0, sizeof *out);
    snprintf(out->brokers, sizeof out->brokers, "%s", PE_KAFKA_DEFAULT_BROKERS);
    pe_kafka_security_defaults(&out->security);
    int rc = pe_file_read(path, 1024 * 1024, &text, NULL, err, errlen);
    if (rc)
        return rc;
    cJSON *doc = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(doc)) {
        snprintf(err, errlen, "%s: not a JSON object", path);
        rc = PE_EPARSE;
        goto fail;
    }
    const cJSON *kafka = cJSON_GetObjectItemCaseSensitive(doc, "kafka");
    if (kafka && !cJSON_IsObject(kafka)) {
        snprintf(err, errlen, "%s: kafka: expected an object", path);
        rc = PE_EINVAL;
        goto fail;
    }
    struct pe_kafka_security *s = &out->security;
    const char *v;
    if ((rc = string_at(kafka, "brokers", &v, path, err, errlen)))
        goto fail;
    if (v && (!*v || strlen(v) >= sizeof out->brokers)) {
        snprintf(err, errlen, "%s: kafka.brokers: expected 1 to %zu characters", path,
                 sizeof out->brokers - 1);
        rc = PE_EINVAL;
        goto fail;
    }
    if (v)
        snprintf(out->brokers, sizeof out->brokers, "%s", v);
    for (int i = 0; pe_kafka_security_keys[i].key; i++) {
        char why[256];
        const char *key = pe_kafka_security_keys[i].key;
        if ((rc = string_at(kafka, key, &v, path, err, errlen)))
            goto fail;
        if (v && (rc = pe_kafka_security_set(s, i, v, why, sizeof why))) {
            snprintf(err, errlen, "%s: kafka.%s: %s", path, key, why);
            goto fail;
        }
    }
    if ((rc = pe_kafka_security_check(s, err, errlen))) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s: %s", path, err);
        snprintf(err, errlen, "%s", msg);
        goto fail;
    }
    if (!(out->properties = cJSON_CreateObject())) {
        rc = PE_ENOMEM;
        goto fail;
    }
    const cJSON *props = at(kafka, "properties"), *p;
    if (props && !cJSON_IsObject(props)) {
        snprintf(err, errlen, "%s: kafka.properties: expected an object", path);
        rc = PE_EINVAL;
        goto fail;
    }
    cJSON_ArrayForEach(p, props)
    {
        char num[32];
        const char *pv = cJSON_IsString(p) ? p->valuestring
                        : cJSON_IsBool(p) ? (cJSON_IsTrue(p) ? "true" : "false")
                                          : NULL;
        int64_t n;
        if (!pv && pe_json_int(p, &n) == PE_OK) {
            snprintf(num, sizeof num, "%" PRId64, n);
            pv = num;
        }
        if (!pv) {
            snprintf(err, errlen, "%s: kafka.properties.%s: expected a string", path, p->string);
            rc = PE_EINVAL;
            goto fail;
        }
        if (!cJSON_AddStringToObject(out->properties, p->string, pv)) {
            rc = PE_ENOMEM;
            goto fail;
        }
    }
    cJSON_Delete(doc);
    return PE_OK;

fail:
    cJSON_Delete(doc);
    pe_kafka_client_free(out);
    return rc;
}

void pe_kafka_client_free(struct pe_kafka_client *c)
{
    cJSON_Delete(c->properties);
    c->properties = NULL;
}
