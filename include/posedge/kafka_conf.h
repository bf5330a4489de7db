/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_conf.h - the one owner of librdkafka configuration: every Kafka client posedge makes
 * (the bridge's event producers, its telemetry and master data producers, the readers of
 * committed state in the bridge and in posedge-ctl, the bridge's catalog reader, posedge-ctl's
 * development cluster) gets
 * its rd_kafka_conf_t from pe_kafka_conf_new, by role.
 *
 * A role is what the client is for. It has defaults posedge chooses (acks=all and idempotence
 * for events, read_committed for readers), then the user's kafka.properties pass-through, then
 * settings the user cannot change (the bounds of best-effort telemetry). The pass-through is
 * strict for the event producers (a property librdkafka refuses is an error naming it) and
 * lenient for the others (skipped), which share the event producers' properties and need not
 * take all of them; a role may also leave out properties that would change what it is (a
 * transactional.id on a best-effort producer).
 *
 * Security (TLS, SASL) is a struct of its own, struct pe_kafka_security, made from the
 * settings kafka.security_protocol, kafka.sasl.* and kafka.tls.* (PE_KAFKA_SECURITY_KEYS: one
 * list for the bridge's configuration table, posedge-ctl's options and the reader of a bridge
 * configuration file). It is applied here, after the user's properties, for every role that
 * connects, and the librdkafka properties it owns are refused in kafka.properties, naming the
 * setting to use: so every client of one configuration connects the same way, and a secret is
 * never a configuration value. The SASL password is read from its file (pe_secret_read, refused
 * when others may read it) each time a configuration is made, handed to librdkafka and wiped:
 * a client created after the file changed (a reload) uses the new password, and certificates
 * likewise, since librdkafka reads them when a client is created.
 *
 * Callbacks (logs, errors, reports) and the opaque stay the caller's: set them on the
 * configuration before rd_kafka_new.
 */
#ifndef POSEDGE_KAFKA_CONF_H
#define POSEDGE_KAFKA_CONF_H

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

/* librdkafka's statistics interval for the event producers, unless kafka.properties sets one:
 * how soon the bridge's state notices that brokers went away or came back. */
#define PE_KAFKA_STATS_MS "2000"

/* X(name, string) - the roles of Kafka clients. */
#define PE_KAFKA_ROLES(X)                                                                          \
    X(PRODUCER_IDEMPOTENT, "producer-idempotent")       /* events, at least once */               \
    X(PRODUCER_TRANSACTIONAL, "producer-transactional") /* events, exactly once */                \
    X(PRODUCER_TELEMETRY, "producer-telemetry")         /* state documents, best effort */        \
    X(PRODUCER_MASTER_DATA, "producer-master-data")     /* Avro master data at start */           \
    X(READER_COMMITTED, "reader-committed")             /* read_committed, commits nothing */     \
    X(READER_CATALOG, "reader-catalog")                 /* the bridge's catalog reader */        \
    X(MOCK_CLUSTER, "mock-cluster")                     /* the handle a mock cluster lives on */

enum pe_kafka_role {
#define PE__KROLE_ENUM(name, str) PE_KAFKA_##name,
    PE_KAFKA_ROLES(PE__KROLE_ENUM)
#undef PE__KROLE_ENUM
        PE_KAFKA_ROLE__COUNT
};

/* "producer-idempotent", ...; NULL for an out-of-range value. */
const char *pe_kafka_role_name(enum pe_kafka_role role);

/* The default of kafka.brokers (the bridge's and posedge-ctl's). */
#define PE_KAFKA_DEFAULT_BROKERS "127.0.0.1:9092"

/* X(name, setting value, librdkafka security.protocol, encrypted, SASL) - the values of
 * kafka.security_protocol. */
#define PE_KAFKA_PROTOCOLS(X)                                                                      \
    X(PLAINTEXT, "plaintext", "PLAINTEXT", false, false)                                           \
    X(SSL, "ssl", "SSL", true, false)                                                              \
    X(SASL_PLAINTEXT, "sasl_plaintext", "SASL_PLAINTEXT", false, true)                             \
    X(SASL_SSL, "sasl_ssl", "SASL_SSL", true, true)

enum pe_kafka_protocol {
#define PE__KPROTO_ENUM(name, str, rdk, tls, sasl) PE_KAFKA_##name,
    PE_KAFKA_PROTOCOLS(PE__KPROTO_ENUM)
#undef PE__KPROTO_ENUM
        PE_KAFKA_PROTOCOL__COUNT
};

/* X(value) - the values of kafka.sasl.mechanism, as librdkafka's sasl.mechanisms spells them. */
#define PE_KAFKA_MECHANISMS(X) X("SCRAM-SHA-512") X("SCRAM-SHA-256") X("PLAIN")

#define PE_KAFKA_PATH_MAX 256
#define PE_KAFKA_USER_MAX 128

/* How a client authenticates and encrypts (the settings of PE_KAFKA_SECURITY_KEYS). Files are
 * named, never read into it: the password is read when a configuration is made. */
struct pe_kafka_security {
    char protocol[16];                     /* plaintext, ssl, sasl_plaintext or sasl_ssl */
    char mechanism[16];                    /* SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN (SASL) */
    char username[PE_KAFKA_USER_MAX];      /* SASL user name */
    char password_file[PE_KAFKA_PATH_MAX]; /* first line: the SASL password (mode <= 0640) */
    char ca_file[PE_KAFKA_PATH_MAX];       /* PEM trust anchors ("": the system's) */
    char cert_file[PE_KAFKA_PATH_MAX];     /* PEM client certificate (mutual TLS; "": none) */
    char key_file[PE_KAFKA_PATH_MAX];      /* its PEM key (mode <= 0640) */
};

/*
 * X(key after "kafka.", option of posedge-ctl, field, default, help, check) - the settings of
 * struct pe_kafka_security. The bridge's configuration table has a row for each, posedge-ctl
 * an option, and pe_kafka_client_load reads them from a bridge configuration file.
 */
#define PE_KAFKA_SECURITY_KEYS(X)                                                                  \
    X("security_protocol", "security-protocol", protocol, "plaintext",                            \
      "plaintext, ssl, sasl_plaintext or sasl_ssl (a managed Kafka wants sasl_ssl); "             \
      "without TLS a warning is logged at every start",                                          \
      pe_kafka_check_protocol)                                                                     \
    X("sasl.mechanism", "sasl-mechanism", mechanism, "SCRAM-SHA-512",                             \
      "SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN (sasl_* protocols)", pe_kafka_check_mechanism)       \
    X("sasl.username", "sasl-username", username, "", "SASL user name (sasl_* protocols)", NULL) \
    X("sasl.password_file", "sasl-password-file", password_file, "",                              \
      "file whose first line is the SASL password (sasl_* protocols; mode 0600 or 0640, never "   \
      "logged; read again at SIGHUP)",                                                            \
      NULL)                                                                                        \
    X("tls.ca_file", "tls-ca-file", ca_file, "",                                                  \
      "PEM file of the CAs that sign the brokers' certificates (ssl, sasl_ssl; \"\": the "        \
      "system's); the brokers' host names are checked",                                           \
      NULL)                                                                                        \
    X("tls.cert_file", "tls-cert-file", cert_file, "",                                            \
      "PEM client certificate for mutual TLS (ssl, sasl_ssl; \"\": none)", NULL)                  \
    X("tls.key_file", "tls-key-file", key_file, "",                                               \
      "PEM key of tls.cert_file (mode 0600 or 0640; read again at SIGHUP)", NULL)

/* One setting of PE_KAFKA_SECURITY_KEYS, for a program that takes them as options. */
struct pe_kafka_security_key {
    const char *key;    /* after "kafka.": "sasl.password_file" */
    const char *option; /* posedge-ctl's long option: "sasl-password-file" */
    const char *help;   /* one line */
};

/* The settings in PE_KAFKA_SECURITY_KEYS order, ended by an entry with key NULL. */
extern const struct pe_kafka_security_key pe_kafka_security_keys[];

/* Set setting i (an index into pe_kafka_security_keys) of s to value: its length and values
 * checked. why says what is wrong. Errors: PE_EINVAL. */
int pe_kafka_security_set(struct pe_kafka_security *s, int i, const char *value, char *why,
                          size_t whylen);

/* Check hooks (struct pe_cfg_opt.check) of kafka.security_protocol and kafka.sasl.mechanism;
 * why lists the values. */
int pe_kafka_check_protocol(const void *value, char *why, size_t whylen);
int pe_kafka_check_mechanism(const void *value, char *why, size_t whylen);

/* Every field of s to its default. */
void pe_kafka_security_defaults(struct pe_kafka_security *s);

/* The protocol of s (PLAINTEXT for "" or an unknown value). */
enum pe_kafka_protocol pe_kafka_security_protocol(const struct pe_kafka_security *s);

/* True when s encrypts (ssl, sasl_ssl); false for NULL. */
bool pe_kafka_security_tls(const struct pe_kafka_security *s);

/*
 * Check that the settings of s fit together, without reading any file: a SASL protocol needs
 * a mechanism, a user name and a password file, and the others take none; TLS files only with
 * an encrypted protocol; a certificate and its key go together. err names the setting
 * ("kafka.sasl.username: ..."). Errors: PE_EINVAL. NULL s is plaintext and fine.
 */
int pe_kafka_security_check(const struct pe_kafka_security *s, char *err, size_t errlen);

/* Where a client connects and what the user configured, borrowed for the call. */
struct pe_kafka_site {
    const char *brokers;          /* bootstrap.servers; required by every role but MOCK_CLUSTER */
    const cJSON *properties;      /* the user's librdkafka properties (an object of strings), or
                                     NULL; MOCK_CLUSTER takes none */
    const struct pe_kafka_security *security; /* NULL: plaintext; MOCK_CLUSTER takes none */
    const char *transactional_id; /* PRODUCER_TRANSACTIONAL: required */
    const char *group_id;         /* READER_COMMITTED, READER_CATALOG: required */
};

/*
 * A new configuration for a client of role at site, in *out (the caller passes it to
 * rd_kafka_new, or destroys it). err names what librdkafka or posedge refused, by the key a
 * user writes: "kafka.brokers: ...", "kafka.properties.linger.ms: ...",
 * "kafka.sasl.password_file /etc/x: mode 0644 lets others read it ...". The password file is
 * read here (and wiped once librdkafka has its copy), and the key file's mode checked, for
 * each configuration. Errors: PE_EINVAL (no brokers, a missing transactional or group id, a
 * refused property of a strict role, a property that is not a string, a property the
 * security settings own, settings that do not fit together, a password or key file others may
 * read, an empty password), PE_EIO (a security file that cannot be read), PE_ENOMEM.
 */
int pe_kafka_conf_new(enum pe_kafka_role role, const struct pe_kafka_site *site,
                      rd_kafka_conf_t **out, char *err, size_t errlen);

/* The Kafka settings of a bridge configuration file, for a client that is not the bridge
 * (posedge-ctl reconcile --bridge-config). */
struct pe_kafka_client {
    char brokers[512];                 /* kafka.brokers (default PE_KAFKA_DEFAULT_BROKERS) */
    struct pe_kafka_security security; /* kafka.security_protocol, kafka.sasl.*, kafka.tls.* */
    cJSON *properties; /* kafka.properties, an owned object of strings (maybe empty) */
};

/*
 * Read kafka.brokers, kafka.properties and the security settings from the JSON file at path
 * (a bridge's configuration; its other keys are not looked at) into out, over their defaults.
 * err names the file and the key. Errors: PE_EIO (cannot read), PE_EPARSE (not a JSON
 * object), PE_EINVAL (a value of the wrong type, length or value; settings that do not fit
 * together), PE_ENOMEM. On an error nothing is left to free.
 */
int pe_kafka_client_load(const char *path, struct pe_kafka_client *out, char *err, size_t errlen);

/* Free what pe_kafka_client_load allocated. A zeroed struct is fine. */
void pe_kafka_client_free(struct pe_kafka_client *c);

#endif
