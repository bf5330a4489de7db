/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_conf.c - librdkafka configuration by role (see kafka_conf.h).
 *
 * Each role is one entry of data: its defaults, the user's properties it leaves out, whether
 * refusals of the user's properties are errors, and the settings that come last. role_of
 * switches over the role enum without a default, so a new role without its entry does not
 * compile. The order of application is always bootstrap.servers, defaults, the user's
 * properties, fixed settings.
 */
#include "posedge/kafka_conf.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "posedge/err.h"

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
        (rc = apply(conf, r->fixed, site, err, errlen)))
        goto destroy_conf;
    *out = conf;
    return PE_OK;

destroy_conf:
    rd_kafka_conf_destroy(conf);
    return rc;
}
