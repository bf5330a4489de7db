/* SPDX-License-Identifier: Apache-2.0 */
/*
 * telemetry.h - the bridge's best-effort Kafka producer for what is not fiscal: the store's
 * state documents (docs/protocol.md, "Fleet state"), forwarded to kafka.telemetry_topic, and
 * the catalog records the bridge refuses (catalog.rejects_topic).
 *
 * A plain producer of its own, apart from the event producer in both modes: no transaction, no
 * idempotence, records that expire after 30 s, and a small bounded queue whose overflow is dropped
 * and counted (librdkafka role producer-telemetry, posedge/kafka_conf.h). Nothing here is spooled
 * and nothing waits for it, so a telemetry topic Kafka refuses, a full queue or a Kafka outage
 * costs telemetry records only, never an event, a transaction or the loop's time. Served from the
 * bridge's loop by a timer that runs only while records are in flight.
 */
#ifndef POSEDGE_BRIDGE_TELEMETRY_H
#define POSEDGE_BRIDGE_TELEMETRY_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "posedge/kafka_conf.h"
#include "posedge/loop.h"

struct telemetry;

struct telemetry_stats {
    int64_t produced;  /* records handed to librdkafka */
    int64_t delivered; /* acknowledged by Kafka */
    int64_t dropped;   /* refused at once (queue full, too large) or failed in Kafka */
};

/*
 * Create the producer (librdkafka connects when the first record needs it). properties are
 * the user's librdkafka properties (tuning; borrowed), applied except those that would make it
 * transactional, idempotent or unbounded; security the TLS and SASL settings (borrowed; NULL:
 * plaintext). err names a bad property or file. Errors: PE_EINVAL, PE_EIO, PE_ENOMEM.
 */
int telemetry_create(struct pe_loop *loop, const char *brokers, const cJSON *properties,
                     const struct pe_kafka_security *security, struct telemetry **out, char *err,
                     size_t errlen);

/*
 * Replace the producer with one made from the same settings and the files as they are now
 * (SIGHUP: a new password or certificate). What the old one still holds is dropped (best
 * effort). On an error err says why and the old producer stays. Errors as telemetry_create.
 */
int telemetry_reload(struct telemetry *t, const char *brokers, const cJSON *properties,
                     const struct pe_kafka_security *security, char *err, size_t errlen);

/*
 * Hand one record to Kafka, best effort: key and value (len bytes) are copied, ts_ms is the
 * record timestamp (0: the time of sending), one header "type" with the value type. Returns
 * PE_OK (queued), PE_EAGAIN (the queue is full: dropped), PE_EINVAL (refused: bad arguments,
 * too large); a refusal is counted as dropped.
 */
int telemetry_produce(struct telemetry *t, const char *topic, const char *key, const void *val,
                      size_t len, int64_t ts_ms, const char *type);

/* The same for a record of another kind (the catalog's rejects): a key of keylen bytes (NULL
 * with keylen 0: none) and the one header hname = hval instead of "type". Returns as
 * telemetry_produce. */
int telemetry_produce_keyed(struct telemetry *t, const char *topic, const void *key,
                            size_t keylen, const void *val, size_t len, int64_t ts_ms,
                            const char *hname, const char *hval);

/* Counters since create. */
void telemetry_stats(const struct telemetry *t, struct telemetry_stats *out);

/* Wait at most timeout_ms for what is queued to reach Kafka (at shutdown), then destroy:
 * whatever is left is dropped. NULL is a no-op. */
void telemetry_destroy(struct telemetry *t, int timeout_ms);

#endif
