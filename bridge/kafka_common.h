/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_common.h - what the two backends of the bridge's output (output_idem.c, idempotent on
 * the loop; output_txn.c, transactional on its own thread) share: how librdkafka's logs and
 * errors become posedge log lines, the wake-up pipe, the cut of an oversized dead letter, and
 * what Kafka refuses (authentication, authorization: struct kc_auth). Their librdkafka
 * configuration comes from posedge/kafka_conf.h, by role.
 */
#ifndef POSEDGE_BRIDGE_KAFKA_COMMON_H
#define POSEDGE_BRIDGE_KAFKA_COMMON_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "bridge/output.h"

/* The strings of an event record's key and headers, from its ref. */
struct kc_ids {
    char store[sizeof((struct output_ref *)0)->store];
    char terminal[sizeof((struct output_ref *)0)->terminal];
    char seq[24];
    char key[sizeof((struct output_ref *)0)->store + sizeof((struct output_ref *)0)->terminal];
    size_t keylen; /* key is "<store>/<terminal>" */
};

/* Read the broker part of librdkafka's statistics JSON (len bytes, need not be terminated)
 * into out: brokers known by node id, those with a connection up, and whether any connection
 * (a bootstrap server's included) is up. */
void kc_stats_parse(const char *json, size_t len, struct output_kafka *out);

/* Fill ids from ref, whose strings need not be terminated within their arrays. */
void kc_ids(const struct output_ref *ref, struct kc_ids *ids);

/* The producer's message.max.bytes (librdkafka's default when it cannot be read). */
size_t kc_max_msg(rd_kafka_t *rk);

/* A producer's topic handles, one per topic it has produced to, made before its first record.
 * librdkafka (2.0.2) asks for a topic's partitions at once only when an application makes a
 * handle for it (rd_kafka_topic_new); a record produced by topic name to a topic it has not
 * seen waits for its 1 s scan of unknown topics, so a new producer's first transaction took
 * a second. With the handle made, records produced by name find the topic known. */
#define KC_TOPICS_MAX 64
struct kc_topics {
    int n;
    rd_kafka_topic_t *rkt[KC_TOPICS_MAX];
};

/* The handle of topic for rk, made (and its metadata asked for) the first time; NULL when
 * KC_TOPICS_MAX are in use or librdkafka refuses one (then the topic waits for the scan). */
rd_kafka_topic_t *kc_topic(rd_kafka_t *rk, struct kc_topics *t, const char *topic);

/* Give the handles back: before rd_kafka_destroy of the producer they came from. */
void kc_topics_drop(struct kc_topics *t);

/* librdkafka's log callback: warn at most, and connection failures (which repeat while Kafka
 * is away, and also come through the error callback) only at info. */
void kc_on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

/* Log a non-fatal error from librdkafka's error callback (all brokers down: warn; else info). */
void kc_log_error(int err, const char *reason);

/* A pipe for wake-ups from librdkafka's threads: both ends non-blocking (a full pipe means a
 * wake-up is pending anyway) and close-on-exec. err says what failed. PE_OK or PE_ESYS. */
int kc_pipe(int fds[2], char *err, size_t errlen);

/* Read everything there is from a non-blocking pipe. */
void kc_drain_pipe(int fd);

/* A refusal by Kafka is retried this long after it was seen, not at once: a wrong password or
 * a missing ACL does not mend itself in milliseconds, and every try costs Kafka and the log. */
#define KC_AUTH_RETRY_MS 5000

/* What Kafka refuses, as the backend last learnt it. Not locked: the owner guards it. */
struct kc_auth {
    enum output_auth status;            /* OUTPUT_AUTH_OK when nothing is refused */
    char resource[OUTPUT_RESOURCE_MAX]; /* the topic, transactional id or group refused */
};

/* The refusal a librdkafka error code means (OUTPUT_AUTH_OK: none). */
enum output_auth kc_auth_of(int err);

/*
 * Record what Kafka refuses now (status OUTPUT_AUTH_OK: nothing any more; resource may be
 * NULL). A change is logged once: output.kafka_auth at error level with the librdkafka error
 * err and reason and what to do, or at info when it is over. Returns true when it changed.
 */
bool kc_auth_note(struct kc_auth *a, enum output_auth status, const char *resource, int err,
                  const char *reason);

/* Copy a's status into out (the auth fields of the state). */
void kc_auth_get(const struct kc_auth *a, struct output_kafka *out);

/* Input too large for Kafka is exactly what becomes a dead letter (the bridge's intake limit
 * may be above message.max.bytes). Rather than lose it, keep its head: returns the length to
 * produce and, when cut, writes the original length into orig (else orig is ""). */
size_t kc_dlq_cut(size_t len, size_t max_msg, const char *reason, const char *source_topic,
                  char orig[24]);

#endif
