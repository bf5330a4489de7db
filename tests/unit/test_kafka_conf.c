/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kafka_conf.c - librdkafka configuration by role (common/kafka_conf.c): what each role
 * sets, how the user's kafka.properties apply (strict for the event producers, lenient and
 * with some keys left out for the others, never over a role's fixed settings), and the
 * refusals, named by the key a user writes. Nothing connects: configurations are only read.
 */
#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/kafka_conf.h"
#include "tests/unit/harness.h"

/* The value of key in conf ("" when librdkafka has none). */
static const char *get(rd_kafka_conf_t *conf, const char *key)
{
    static char v[4][256];
    static int n;
    char *out = v[n++ % 4];
    size_t len = sizeof v[0];
    if (rd_kafka_conf_get(conf, key, out, &len) != RD_KAFKA_CONF_OK)
        out[0] = '\0';
    return out;
}

static rd_kafka_conf_t *make(enum pe_kafka_role role, const struct pe_kafka_site *site)
{
    rd_kafka_conf_t *conf = NULL;
    char err[512] = "";
    int rc = pe_kafka_conf_new(role, site, &conf, err, sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "%s: %s (%s)", pe_kafka_role_name(role), pe_errname(rc),
                     err);
    return conf;
}

static void t_roles(void)
{
    cJSON *props = cJSON_CreateObject();
    cJSON_AddStringToObject(props, "linger.ms", "7");
    cJSON_AddStringToObject(props, "enable.idempotence", "true");
    cJSON_AddStringToObject(props, "message.timeout.ms", "1");
    struct pe_kafka_site site = {.brokers = "k1:9092,k2:9092",
                                 .properties = props,
                                 .transactional_id = "posedge-bridge-s001",
                                 .group_id = "g1"};

    rd_kafka_conf_t *c = make(PE_KAFKA_PRODUCER_IDEMPOTENT, &site);
    CHECK_STR(get(c, "bootstrap.servers"), "k1:9092,k2:9092");
    CHECK_STR(get(c, "acks"), "-1"); /* all */
    CHECK_STR(get(c, "enable.idempotence"), "true");
    CHECK_STR(get(c, "compression.codec"), "lz4");
    CHECK_STR(get(c, "partitioner"), "murmur2_random");
    CHECK_STR(get(c, "statistics.interval.ms"), PE_KAFKA_STATS_MS);
    CHECK_STR(get(c, "linger.ms"), "7");
    CHECK_STR(get(c, "message.timeout.ms"), "1"); /* a default the user may change */
    rd_kafka_conf_destroy(c);

    c = make(PE_KAFKA_PRODUCER_TRANSACTIONAL, &site);
    CHECK_STR(get(c, "transactional.id"), "posedge-bridge-s001");
    CHECK_STR(get(c, "acks"), "-1");
    CHECK_STR(get(c, "linger.ms"), "7");
    rd_kafka_conf_destroy(c);

    /* Telemetry: the user's properties, but never idempotent, never unbounded. */
    c = make(PE_KAFKA_PRODUCER_TELEMETRY, &site);
    CHECK_STR(get(c, "acks"), "1");
    CHECK_STR(get(c, "enable.idempotence"), "false");
    CHECK_STR(get(c, "message.timeout.ms"), "30000");
    CHECK_STR(get(c, "queue.buffering.max.messages"), "1000");
    CHECK_STR(get(c, "linger.ms"), "7");
    rd_kafka_conf_destroy(c);

    cJSON_AddStringToObject(props, "transactional.id", "x");
    c = make(PE_KAFKA_PRODUCER_MASTER_DATA, &site);
    CHECK_STR(get(c, "transactional.id"), ""); /* left out */
    CHECK_STR(get(c, "linger.ms"), "7");
    rd_kafka_conf_destroy(c);

    c = make(PE_KAFKA_READER_COMMITTED, &site);
    CHECK_STR(get(c, "group.id"), "g1");
    CHECK_STR(get(c, "isolation.level"), "read_committed");
    CHECK_STR(get(c, "enable.auto.commit"), "false");
    CHECK_STR(get(c, "auto.offset.reset"), "smallest"); /* earliest */
    rd_kafka_conf_destroy(c);

    c = make(PE_KAFKA_MOCK_CLUSTER, NULL);
    CHECK_STR(get(c, "bootstrap.servers"), "");
    rd_kafka_conf_destroy(c);
    cJSON_Delete(props);

    for (int r = 0; r < PE_KAFKA_ROLE__COUNT; r++)
        CHECK(pe_kafka_role_name((enum pe_kafka_role)r) != NULL);
    CHECK(pe_kafka_role_name(PE_KAFKA_ROLE__COUNT) == NULL);
    CHECK_STR(pe_kafka_role_name(PE_KAFKA_READER_COMMITTED), "reader-committed");
}

/* Refusals: strict roles name the property; lenient roles skip it; ids and brokers required. */
static void t_refusals(void)
{
    cJSON *props = cJSON_CreateObject();
    cJSON_AddStringToObject(props, "no.such.property", "1");
    struct pe_kafka_site site = {.brokers = "k:9092", .properties = props};
    rd_kafka_conf_t *c = (rd_kafka_conf_t *)1;
    char err[512];
    CHECK_INT(pe_kafka_conf_new(PE_KAFKA_PRODUCER_IDEMPOTENT, &site, &c, err, sizeof err),
              PE_EINVAL);
    CHECK(c == NULL);
    CHECK(strncmp(err, "kafka.properties.no.such.property: ", 35) == 0);
    c = make(PE_KAFKA_PRODUCER_TELEMETRY, &site);
    rd_kafka_conf_destroy(c);
    c = make(PE_KAFKA_READER_COMMITTED, &(struct pe_kafka_site){.brokers = "k:9092",
                                                                .properties = props,
                                                                .group_id = "g"});
    rd_kafka_conf_destroy(c);
    cJSON_Delete(props);

    props = cJSON_CreateObject();
    cJSON_AddNumberToObject(props, "linger.ms", 5);
    site.properties = props;
    CHECK_INT(pe_kafka_conf_new(PE_KAFKA_PRODUCER_IDEMPOTENT, &site, &c, err, sizeof err),
              PE_EINVAL);
    CHECK_STR(err, "kafka.properties.linger.ms: must be a string");
    cJSON_Delete(props);

    site = (struct pe_kafka_site){.brokers = ""};
    CHECK_INT(pe_kafka_conf_new(PE_KAFKA_PRODUCER_TELEMETRY, &site, &c, err, sizeof err),
              PE_EINVAL);
    CHECK(strncmp(err, "kafka.brokers: missing", 22) == 0);
    site.brokers = "k:9092";
    CHECK_INT(pe_kafka_conf_new(PE_KAFKA_PRODUCER_TRANSACTIONAL, &site, &c, err, sizeof err),
              PE_EINVAL);
    CHECK(strstr(err, "transactional.id: missing"));
    CHECK_INT(pe_kafka_conf_new(PE_KAFKA_READER_COMMITTED, &site, &c, err, sizeof err),
              PE_EINVAL);
    CHECK(strstr(err, "group.id: missing"));
    CHECK_INT(pe_kafka_conf_new(PE_KAFKA_ROLE__COUNT, &site, &c, err, sizeof err), PE_EINVAL);
}

static const struct pe_test tests[] = {
    {"roles", t_roles},
    {"refusals", t_refusals},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("kafka_conf", tests, argc, argv);
}
