/* SPDX-License-Identifier: Apache-2.0 */
/*
 * catalog.h - prices from HQ: the bridge consumes the store's catalog from Kafka into its
 * spool and serves it to the tills over MQTT (docs/protocol.md, "The store catalog").
 *
 * A librdkafka consumer (role reader-catalog: read_committed, so HQ's transactions arrive
 * whole or not at all) is assigned every partition of catalog.topic and
 * catalog.promotions_topic from the positions kept in the spool, and served from the bridge's
 * loop (its queue's io event on a pipe). What it reads goes into the spool's stage batch by
 * batch (catalog_store.h: one transaction holds a batch's records and positions), and becomes
 * a version only where everything HQ committed so far is read (so a version never holds part
 * of a transaction; catalog.c says how, and the bound on the wait), records refused go to
 * catalog.rejects_topic with their reason, and every new version is published
 * retained on posedge/v1/<store>/bridge/catalog. Tills' catalog/get requests are answered from
 * the spool (catalog_serve.h), whether Kafka is there or not: while it is away the bridge serves
 * what it has, and when it is back the consumer reads on from its positions.
 *
 * Every function takes NULL (catalog.enabled false) and then does nothing.
 */
#ifndef POSEDGE_BRIDGE_CATALOG_H
#define POSEDGE_BRIDGE_CATALOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "posedge/kafka_conf.h"
#include "posedge/loop.h"
#include "posedge/protocol.h"

struct catalog;
struct catalog_version;
struct pe_mqtt;
struct pe_spool;
struct telemetry;

/* The group id of the catalog reader: it joins no group and commits nothing (the positions
 * are in the spool), but librdkafka asks Kafka for the group's coordinator, which a Kafka with
 * ACLs allows only with Read on this group. */
#define CATALOG_GROUP "posedge-bridge-catalog"

struct catalog_opts {
    const char *store;                        /* the store served */
    const char *brokers;                      /* kafka.brokers */
    const cJSON *properties;                  /* kafka.properties (copied) */
    const struct pe_kafka_security *security; /* kafka.security_protocol, sasl.*, tls.* */
    const char *topic;                        /* catalog.topic: item records */
    const char *promotions_topic;             /* catalog.promotions_topic */
    const char *rejects_topic;                /* catalog.rejects_topic */
    struct pe_spool *spool;                   /* the bridge's spool (borrowed) */
    struct telemetry *tele;                   /* produces the rejects (borrowed) */
};

/* What the consumer has done since it was created. */
struct catalog_stats {
    int64_t records;  /* records read */
    int64_t stored;   /* of this store or "*", stored */
    int64_t ignored;  /* of other stores */
    int64_t refused;  /* refused, sent to the rejects topic */
    int64_t batches;  /* batches committed */
    int64_t versions; /* of which applied the stage and raised the version */
    int64_t served;   /* answers given to catalog/get */
};

/*
 * Create the consumer on loop and start assigning its partitions (in the background: Kafka
 * may be away). Strings are copied, the spool and the telemetry producer borrowed. err says
 * what failed. Errors: PE_EINVAL (a property or security file refused), PE_EIO, PE_ESYS,
 * PE_ENOMEM, PE_ECORRUPT (the kept version is damaged).
 */
int catalog_create(struct pe_loop *loop, const struct catalog_opts *o, struct catalog **out,
                   char *err, size_t errlen);

/* Stop consuming (what is read and not committed is read again next time) and free. NULL is
 * a no-op. */
void catalog_destroy(struct catalog *c);

/* The MQTT client to serve on (borrowed; NULL before it exists or after it is gone). */
void catalog_attach(struct catalog *c, struct pe_mqtt *m);

/* The MQTT client connected: subscribe to the tills' catalog/get and publish the version. */
void catalog_connected(struct catalog *c);

/* A message of the store on terminal's channel ch: true when it was the catalog's (a
 * catalog/get, answered or refused in the log), false to let the caller handle it. */
bool catalog_message(struct catalog *c, const char *terminal, enum pe_channel ch,
                     const void *payload, size_t len);

/* SIGHUP: recreate the consumer from the files as they are now (the SASL password, the
 * certificates); it reads on from the positions in the spool. On an error err says why and the
 * current consumer stays. Errors: as catalog_create. */
int catalog_reload(struct catalog *c, char *err, size_t errlen);

/* Counters since create (zeros for NULL). */
void catalog_stats(const struct catalog *c, struct catalog_stats *out);

/* The version served now (NULL for NULL). */
const struct catalog_version *catalog_version(const struct catalog *c);

#endif
