/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_kafka_conf.c - librdkafka configuration by role (common/kafka_conf.c): what each role
 * sets, how the user's kafka.properties apply (strict for the event producers, lenient and
 * with some keys left out for the others, never over a role's fixed settings), and the
 * refusals, named by the key a user writes. The security settings (TLS, SASL): applied to every
 * role that connects, the password read from its file each time (so a reload takes a new one)
 * and never in a message, files others may read refused, the properties they own refused in
 * kafka.properties, and the same settings read from a bridge configuration file. Nothing
 * connects: configurations are only read.
 */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

    /* The catalog reader: bounded, and read_committed whatever the user's properties say. */
    cJSON_AddStringToObject(props, "isolation.level", "read_uncommitted");
    cJSON_AddStringToObject(props, "enable.auto.commit", "true");
    c = make(PE_KAFKA_READER_CATALOG, &site);
    CHECK_STR(get(c, "group.id"), "g1");
    CHECK_STR(get(c, "isolation.level"), "read_committed");
    CHECK_STR(get(c, "enable.auto.commit"), "false");
    CHECK_STR(get(c, "enable.partition.eof"), "true");
    CHECK_STR(get(c, "queued.max.messages.kbytes"), "4096");
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

/* Write text to the file at path with mode. */
static void put(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    CHECK_OK(chmod(path, mode));
}

#define PW "s3cret-pw"

/* SASL_SSL settings with the password file, CA and client files in the test's directory. */
static void sasl_ssl(struct pe_kafka_security *s)
{
    pe_kafka_security_defaults(s);
    put(pe_test_path(0, "pw"), PW "\nsecond line\n", 0600);
    put(pe_test_path(1, "ca.pem"), "-----BEGIN CERTIFICATE-----\n", 0644);
    snprintf(s->protocol, sizeof s->protocol, "sasl_ssl");
    snprintf(s->username, sizeof s->username, "bridge");
    snprintf(s->password_file, sizeof s->password_file, "%s", pe_test_path(0, "pw"));
    snprintf(s->ca_file, sizeof s->ca_file, "%s", pe_test_path(1, "ca.pem"));
}

/* Every role that connects gets the settings; the mock cluster none. */
static void t_security_applied(void)
{
    struct pe_kafka_security sec;
    sasl_ssl(&sec);
    CHECK_STR(sec.mechanism, "SCRAM-SHA-512"); /* the default */
    struct pe_kafka_site site = {.brokers = "k:9093",
                                 .security = &sec,
                                 .transactional_id = "posedge-bridge-s001",
                                 .group_id = "g"};
    for (int r = 0; r < PE_KAFKA_ROLE__COUNT; r++) {
        rd_kafka_conf_t *c = make((enum pe_kafka_role)r, r == PE_KAFKA_MOCK_CLUSTER ? NULL : &site);
        if (r == PE_KAFKA_MOCK_CLUSTER) {
            CHECK_STR(get(c, "security.protocol"), "plaintext");
        } else {
            CHECK_STR(get(c, "security.protocol"), "sasl_ssl");
            CHECK_STR(get(c, "sasl.mechanisms"), "SCRAM-SHA-512");
            CHECK_STR(get(c, "sasl.username"), "bridge");
            CHECK_STR(get(c, "sasl.password"), PW); /* the first line only */
            CHECK_STR(get(c, "ssl.ca.location"), pe_test_path(1, "ca.pem"));
            CHECK_STR(get(c, "ssl.endpoint.identification.algorithm"), "https");
        }
        rd_kafka_conf_destroy(c);
    }
    /* Read each time a configuration is made: a reload gets the file as it is now. */
    put(pe_test_path(0, "pw"), "new-pw\n", 0640);
    rd_kafka_conf_t *c = make(PE_KAFKA_PRODUCER_TRANSACTIONAL, &site);
    CHECK_STR(get(c, "sasl.password"), "new-pw");
    rd_kafka_conf_destroy(c);
    /* PLAIN; mutual TLS with a client certificate. */
    snprintf(sec.mechanism, sizeof sec.mechanism, "PLAIN");
    put(pe_test_path(2, "client.key"), "-----BEGIN PRIVATE KEY-----\n", 0600);
    snprintf(sec.cert_file, sizeof sec.cert_file, "%s", pe_test_path(1, "ca.pem"));
    snprintf(sec.key_file, sizeof sec.key_file, "%s", pe_test_path(2, "client.key"));
    c = make(PE_KAFKA_PRODUCER_IDEMPOTENT, &site);
    CHECK_STR(get(c, "sasl.mechanisms"), "PLAIN");
    CHECK_STR(get(c, "ssl.key.location"), pe_test_path(2, "client.key"));
    CHECK_STR(get(c, "ssl.certificate.location"), pe_test_path(1, "ca.pem"));
    rd_kafka_conf_destroy(c);
    /* Plaintext (the default, and NULL) sets the protocol and nothing else. */
    pe_kafka_security_defaults(&sec);
    c = make(PE_KAFKA_PRODUCER_IDEMPOTENT, &site);
    CHECK_STR(get(c, "security.protocol"), "plaintext");
    CHECK_STR(get(c, "sasl.username"), "");
    rd_kafka_conf_destroy(c);
    CHECK(!pe_kafka_security_tls(&sec) && !pe_kafka_security_tls(NULL));
    snprintf(sec.protocol, sizeof sec.protocol, "ssl");
    CHECK(pe_kafka_security_tls(&sec));
    CHECK_INT(pe_kafka_security_protocol(&sec), PE_KAFKA_SSL);
}

/* What is refused, and that no message carries the password. */
static void t_security_refusals(void)
{
    struct pe_kafka_security sec;
    struct pe_kafka_site site = {.brokers = "k:9093", .security = &sec, .group_id = "g"};
    rd_kafka_conf_t *c = NULL;
    char err[512];
    const char *pw = pe_test_path(0, "pw");
#define REFUSED(rc, text)                                                                          \
    do {                                                                                           \
        err[0] = '\0';                                                                             \
        CHECK_INT(pe_kafka_conf_new(PE_KAFKA_READER_COMMITTED, &site, &c, err, sizeof err), rc);   \
        CHECK(c == NULL);                                                                          \
        if (!strstr(err, text))                                                                    \
            pe_test_fail(__FILE__, __LINE__, "\"%s\" does not say \"%s\"", err, text);           \
        CHECK(!strstr(err, PW));                                                                   \
    } while (0)

    /* A password file others may read: named, with its mode. */
    sasl_ssl(&sec);
    CHECK_OK(chmod(pw, 0644));
    REFUSED(PE_EINVAL, "mode 0644");
    REFUSED(PE_EINVAL, pw);
    CHECK_OK(chmod(pw, 0620)); /* its group may write it */
    REFUSED(PE_EINVAL, "kafka.sasl.password_file");
    put(pw, "\n" PW "\n", 0600);
    REFUSED(PE_EINVAL, "the first line is empty");
    unlink(pw);
    REFUSED(PE_EIO, "kafka.sasl.password_file");

    /* TLS files: unreadable CA; a key others may read. */
    sasl_ssl(&sec);
    snprintf(sec.ca_file, sizeof sec.ca_file, "%s", pe_test_path(3, "missing.pem"));
    REFUSED(PE_EIO, "kafka.tls.ca_file");
    sasl_ssl(&sec);
    put(pe_test_path(2, "client.key"), "-----BEGIN PRIVATE KEY-----\n", 0644);
    snprintf(sec.cert_file, sizeof sec.cert_file, "%s", pe_test_path(1, "ca.pem"));
    snprintf(sec.key_file, sizeof sec.key_file, "%s", pe_test_path(2, "client.key"));
    REFUSED(PE_EINVAL, "kafka.tls.key_file");
    REFUSED(PE_EINVAL, "mode 0644");
    sec.key_file[0] = '\0';
    REFUSED(PE_EINVAL, "kafka.tls.key_file: required with kafka.tls.cert_file");

    /* Settings that do not fit together. */
    sasl_ssl(&sec);
    sec.username[0] = '\0';
    REFUSED(PE_EINVAL, "kafka.sasl.username: required with kafka.security_protocol sasl_ssl");
    sasl_ssl(&sec);
    snprintf(sec.mechanism, sizeof sec.mechanism, "GSSAPI");
    REFUSED(PE_EINVAL, "kafka.sasl.mechanism: \"GSSAPI\" is not one of SCRAM-SHA-512");
    sasl_ssl(&sec);
    snprintf(sec.protocol, sizeof sec.protocol, "ssl");
    REFUSED(PE_EINVAL, "kafka.sasl.username: only with kafka.security_protocol");
    sasl_ssl(&sec);
    snprintf(sec.protocol, sizeof sec.protocol, "sasl_plaintext");
    REFUSED(PE_EINVAL, "kafka.tls.ca_file: only with");
    snprintf(sec.protocol, sizeof sec.protocol, "tls");
    REFUSED(PE_EINVAL, "kafka.security_protocol: \"tls\" is not one of plaintext, ssl, "
                       "sasl_plaintext or sasl_ssl");

    /* The properties the settings own are refused in kafka.properties, for every role, by
     * name and with what to write instead; the value is never repeated. */
    sasl_ssl(&sec);
    static const char *const owned[][2] = {
        {"sasl.password", "kafka.sasl.password_file"},
        {"security.protocol", "kafka.security_protocol"},
        {"sasl.mechanisms", "kafka.sasl.mechanism"},
        {"ssl.key.password", "kafka.tls.key_file"},
        {"ssl.ca.location", "kafka.tls.ca_file"},
    };
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
        cJSON *props = cJSON_CreateObject();
        cJSON_AddStringToObject(props, owned[i][0], PW);
        site.properties = props;
        REFUSED(PE_EINVAL, owned[i][1]);
        char want[128];
        snprintf(want, sizeof want, "kafka.properties.%s: not accepted here", owned[i][0]);
        REFUSED(PE_EINVAL, want);
        cJSON_Delete(props);
    }
    site.properties = NULL;
#undef REFUSED

    /* The values, as the configuration table and posedge-ctl's options check them. */
    char why[128];
    CHECK_INT(pe_kafka_check_protocol("sasl_ssl", why, sizeof why), PE_OK);
    CHECK_INT(pe_kafka_check_protocol("SASL_SSL", why, sizeof why), PE_EINVAL);
    CHECK_STR(why, "plaintext, ssl, sasl_plaintext or sasl_ssl");
    CHECK_INT(pe_kafka_check_mechanism("PLAIN", why, sizeof why), PE_OK);
    CHECK_INT(pe_kafka_check_mechanism("plain", why, sizeof why), PE_EINVAL);
    CHECK_STR(why, "SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN");
    pe_kafka_security_defaults(&sec);
    int n = 0;
    while (pe_kafka_security_keys[n].key)
        n++;
    CHECK_INT(n, 7);
    CHECK_STR(pe_kafka_security_keys[3].option, "sasl-password-file");
    CHECK_OK(pe_kafka_security_set(&sec, 3, "/etc/pw", why, sizeof why));
    CHECK_STR(sec.password_file, "/etc/pw");
    CHECK_INT(pe_kafka_security_set(&sec, 1, "MD5", why, sizeof why), PE_EINVAL);
    CHECK(strstr(why, "\"MD5\" is not one of"));
    CHECK_INT(pe_kafka_security_set(&sec, 7, "x", why, sizeof why), PE_EINVAL);
}

/* The Kafka settings of a bridge configuration file (posedge-ctl reconcile --bridge-config). */
static void t_client_load(void)
{
    struct pe_kafka_client kc;
    char err[512];
    const char *path = pe_test_path(0, "bridge.json");
    put(path,
        "{\"store\":\"s001\",\"kafka\":{\"brokers\":\"k1:9093\",\"mode\":\"idempotent\","
        "\"security_protocol\":\"sasl_ssl\",\"sasl\":{\"mechanism\":\"PLAIN\","
        "\"username\":\"hq\",\"password_file\":\"/etc/hq.pw\"},\"tls\":{\"ca_file\":"
        "\"/etc/ca.pem\"},\"properties\":{\"linger.ms\":5,\"client.id\":\"x\"}}}",
        0644);
    CHECK_OK(pe_kafka_client_load(path, &kc, err, sizeof err));
    CHECK_STR(kc.brokers, "k1:9093");
    CHECK_STR(kc.security.protocol, "sasl_ssl");
    CHECK_STR(kc.security.mechanism, "PLAIN");
    CHECK_STR(kc.security.username, "hq");
    CHECK_STR(kc.security.password_file, "/etc/hq.pw");
    CHECK_STR(kc.security.ca_file, "/etc/ca.pem");
    CHECK_STR(cJSON_GetObjectItem(kc.properties, "linger.ms")->valuestring, "5");
    pe_kafka_client_free(&kc);
    pe_kafka_client_free(&kc); /* twice is fine */

    put(path, "{\"store\":\"s001\"}", 0644); /* nothing of Kafka: the defaults */
    CHECK_OK(pe_kafka_client_load(path, &kc, err, sizeof err));
    CHECK_STR(kc.brokers, PE_KAFKA_DEFAULT_BROKERS);
    CHECK_STR(kc.security.protocol, "plaintext");
    CHECK_INT(cJSON_GetArraySize(kc.properties), 0);
    pe_kafka_client_free(&kc);

    put(path, "{\"kafka\":{\"sasl\":{\"mechanism\":\"MD5\"}}}", 0644);
    CHECK_INT(pe_kafka_client_load(path, &kc, err, sizeof err), PE_EINVAL);
    CHECK(strstr(err, "kafka.sasl.mechanism: \"MD5\" is not one of"));
    put(path, "{\"kafka\":{\"security_protocol\":\"sasl_ssl\"}}", 0644);
    CHECK_INT(pe_kafka_client_load(path, &kc, err, sizeof err), PE_EINVAL);
    CHECK(strstr(err, "kafka.sasl.username: required"));
    put(path, "{\"kafka\":{\"tls\":{\"ca_file\":7}}}", 0644);
    CHECK_INT(pe_kafka_client_load(path, &kc, err, sizeof err), PE_EINVAL);
    CHECK(strstr(err, "kafka.tls.ca_file: expected a string"));
    put(path, "[1]", 0644);
    CHECK_INT(pe_kafka_client_load(path, &kc, err, sizeof err), PE_EPARSE);
    CHECK_INT(pe_kafka_client_load(pe_test_path(1, "none.json"), &kc, err, sizeof err), PE_EIO);
    CHECK(kc.properties == NULL);
}

static const struct pe_test tests[] = {
    {"roles", t_roles},
    {"refusals", t_refusals},
    {"security_applied", t_security_applied},
    {"security_refusals", t_security_refusals},
    {"client_load", t_client_load},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("kafka_conf", tests, argc, argv);
}
