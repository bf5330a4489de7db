/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_conf.h - the one owner of librdkafka configuration: every Kafka client posedge makes
 * (the bridge's event producers, its telemetry and master data producers, the readers of
 * committed state in the bridge and in posedge-ctl, posedge-ctl's development cluster) gets
 * its rd_kafka_conf_t from pe_kafka_conf_new, by role.
 *
 * A role is what the client is for. It has defaults posedge chooses (acks=all and idempotence
 * for events, read_committed for readers), then the user's kafka.properties pass-through, then
 * settings the user cannot change (the bounds of best-effort telemetry). The pass-through is
 * strict for the event producers (a property librdkafka refuses is an error naming it) and
 * lenient for the others (skipped), which share the event producers' properties and need not
 * take all of them; a role may also leave out properties that would change what it is (a
 * transactional.id on a best-effort producer). Security settings will be applied here too,
 * once, for every client.
 *
 * Callbacks (logs, errors, reports) and the opaque stay the caller's: set them on the
 * configuration before rd_kafka_new.
 */
#ifndef POSEDGE_KAFKA_CONF_H
#define POSEDGE_KAFKA_CONF_H

#include <cjson/cJSON.h>
#include <librdkafka/rdkafka.h>
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
    X(MOCK_CLUSTER, "mock-cluster")                     /* the handle a mock cluster lives on */

enum pe_kafka_role {
#define PE__KROLE_ENUM(name, str) PE_KAFKA_##name,
    PE_KAFKA_ROLES(PE__KROLE_ENUM)
#undef PE__KROLE_ENUM
        PE_KAFKA_ROLE__COUNT
};

/* "producer-idempotent", ...; NULL for an out-of-range value. */
const char *pe_kafka_role_name(enum pe_kafka_role role);

/* Where a client connects and what the user configured, borrowed for the call. */
struct pe_kafka_site {
    const char *brokers;          /* bootstrap.servers; required by every role but MOCK_CLUSTER */
    const cJSON *properties;      /* the user's librdkafka properties (an object of strings), or
                                     NULL; MOCK_CLUSTER takes none */
    const char *transactional_id; /* PRODUCER_TRANSACTIONAL: required */
    const char *group_id;         /* READER_COMMITTED: required */
};

/*
 * A new configuration for a client of role at site, in *out (the caller passes it to
 * rd_kafka_new, or destroys it). err names what librdkafka or posedge refused, by the key a
 * user writes: "kafka.brokers: ...", "kafka.properties.linger.ms: ...". Errors: PE_EINVAL (no
 * brokers, a missing transactional or group id, a refused property of a strict role, a
 * property that is not a string), PE_ENOMEM.
 */
int pe_kafka_conf_new(enum pe_kafka_role role, const struct pe_kafka_site *site,
                      rd_kafka_conf_t **out, char *err, size_t errlen);

#endif
