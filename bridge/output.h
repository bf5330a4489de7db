/* SPDX-License-Identifier: Apache-2.0 */
/*
 * output.h - the bridge's Kafka producer, driven from the bridge's poll loop.
 *
 * librdkafka with acks=all, idempotence on, lz4, message.timeout.ms=0 (a message never expires
 * into loss), and any extra librdkafka property from the configuration. Delivery reports are
 * served on the loop's thread: the producer's main queue has an event fd
 * (rd_kafka_queue_io_event_enable) registered with the pe_loop, and on_delivered runs from
 * there. A fatal producer error destroys the producer and creates a new one; the caller is told
 * (on_reset) so it re-produces everything not yet reported delivered, in order.
 *
 * Two backends behind one ops table (output_backend.h), chosen once from opts.mode (kafka.mode):
 * idempotent (output_idem.c, at least once) and transactional (output_txn.c). Transactional mode:
 * records are produced in Kafka transactions, each of which also carries this bridge's per-terminal
 * committed watermarks as one record keyed by opts.state_key on the compacted opts.state_topic.
 * Nothing is reported record by record: on_committed says that a terminal's records up to a seq are
 * committed. Before the first record, and after any failure that could leave Kafka's state unknown,
 * the producer fences its predecessors (init_transactions), reads the committed watermarks back
 * (read_committed) and hands them to on_recovered, then on_reset: produce from there.
 *
 * Kafka refusing the bridge (a wrong password, a certificate it cannot verify, a topic or the
 * transactional id without an ACL) loses nothing: what is not in Kafka stays in the spool and
 * is produced again, the refusal is in output_kafka_state (auth) and logged once per change
 * (output.kafka_auth), and the producer backs off instead of spinning. librdkafka reads the
 * password and the certificates only when a client is created, so output_reload recreates the
 * producer from the files as they are now (SIGHUP).
 */
#ifndef POSEDGE_BRIDGE_OUTPUT_H
#define POSEDGE_BRIDGE_OUTPUT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posedge/kafka_conf.h"
#include "posedge/loop.h"

struct output;

/* X(name, kafka.mode value, what it promises) - the backends. */
#define OUTPUT_MODES(X)                                                                            \
    X(TRANSACTIONAL, "transactional", "exactly once")                                              \
    X(IDEMPOTENT, "idempotent", "at least once")

enum output_mode {
#define OUTPUT__MODE_ENUM(name, str, what) OUTPUT_##name,
    OUTPUT_MODES(OUTPUT__MODE_ENUM)
#undef OUTPUT__MODE_ENUM
        OUTPUT_MODE__COUNT
};

/* "transactional", "idempotent"; NULL for an out-of-range value. */
const char *output_mode_name(enum output_mode m);

/* The mode of that kafka.mode value. Errors: PE_EINVAL (no such mode). */
int output_mode_parse(const char *s, enum output_mode *out);

/* "transactional (exactly once) or idempotent (at least once)" into buf, for messages. */
const char *output_mode_names(char *buf, size_t len);

/* Identifies one produced record in its delivery report (copied by output_produce). */
struct output_ref {
    char store[33];
    char terminal[33];
    int64_t seq; /* 0 for a dead letter */
};

/* X(name, value in the state document, what to do about it) - what Kafka refuses the
 * bridge, from librdkafka's error reports, delivery reports and transactional calls. */
#define OUTPUT_AUTH_STATES(X)                                                                      \
    X(OK, "ok", NULL)                                                                              \
    X(AUTH_FAILED, "auth_failed",                                                                  \
      "check kafka.sasl.username, kafka.sasl.mechanism and the password file, then SIGHUP")       \
    X(TLS_FAILED, "tls_failed",                                                                    \
      "check kafka.tls.ca_file (and the client certificate) against the brokers' certificates "   \
      "and names, then SIGHUP")                                                                    \
    X(TOPIC_NOT_AUTHORIZED, "topic_not_authorized",                                                \
      "grant the bridge's user Write on the topic (Kafka ACL); the bridge tries again by itself")  \
    X(TRANSACTIONAL_ID_NOT_AUTHORIZED, "transactional_id_not_authorized",                          \
      "grant the bridge's user Write on its transactional id (Kafka ACL)")                         \
    X(GROUP_NOT_AUTHORIZED, "group_not_authorized",                                                \
      "grant the bridge's user Read on the group (Kafka ACL)")                                     \
    X(CLUSTER_NOT_AUTHORIZED, "cluster_not_authorized",                                            \
      "grant the bridge's user IdempotentWrite on the cluster (Kafka ACL; brokers before 2.8)")

enum output_auth {
#define OUTPUT__AUTH_ENUM(name, str, what) OUTPUT_AUTH_##name,
    OUTPUT_AUTH_STATES(OUTPUT__AUTH_ENUM)
#undef OUTPUT__AUTH_ENUM
        OUTPUT_AUTH__COUNT
};

/* "ok", "auth_failed", ...; NULL for an out-of-range value. */
const char *output_auth_name(enum output_auth a);

/* What to do about it (NULL for OUTPUT_AUTH_OK or an out-of-range value). */
const char *output_auth_hint(enum output_auth a);

#define OUTPUT_RESOURCE_MAX 256 /* a topic, transactional id or group name, and its NUL */

/* What librdkafka knows of the event producer's link to Kafka, from its statistics (every
 * PE_KAFKA_STATS_MS unless kafka.properties sets statistics.interval.ms) and its error
 * reports. */
struct output_kafka {
    bool known;     /* statistics arrived since the producer was (re)created */
    bool connected; /* a connection to at least one broker is up */
    int brokers_up; /* brokers with a connection up (only those the producer needs) */
    int brokers;    /* brokers known from metadata */
    enum output_auth auth;              /* what Kafka refuses (OUTPUT_AUTH_OK: nothing) */
    char resource[OUTPUT_RESOURCE_MAX]; /* the topic, transactional id or group it refuses
                                           ("" for auth_failed, tls_failed, ok) */
    int64_t txn_committed; /* transactions committed by this process (transactional mode) */
    int64_t txn_aborted;   /* and aborted, or left to the next producer to abort */
};

struct output_opts {
    enum output_mode mode;   /* which backend (kafka.mode) */
    const char *brokers;     /* bootstrap.servers */
    const cJSON *properties; /* extra librdkafka properties (object of strings), borrowed */
    const struct pe_kafka_security *security; /* TLS and SASL (copied; NULL: plaintext) */
    int max_inflight;        /* records produced but not yet reported (default 100000) */
    /* A record's fate: err 0 delivered (acks=all), else a librdkafka error code. */
    void (*on_delivered)(void *ctx, const struct output_ref *ref, int err);
    /* The producer was recreated after a fatal error: everything in flight is lost from it. */
    void (*on_reset)(void *ctx);
    void *ctx;

    /* Transactional mode. */
    const char *transactional_id; /* stable per bridge: fences a predecessor's transactions */
    const char *state_topic;      /* compacted topic of committed watermarks */
    const char *state_key;        /* this bridge's key in it */
    int txn_max_events;           /* records per transaction (default 5000) */
    int txn_interval_ms;          /* longest a transaction stays open (default 100) */
    /* Every record of the terminal up to seq is committed. */
    void (*on_committed)(void *ctx, const char *store, const char *terminal, int64_t seq);
    /* Kafka's committed watermark of a terminal, read back at (re)start: seq and its hash. */
    void (*on_recovered)(void *ctx, const char *store, const char *terminal, int64_t seq,
                         const char *hash);
};

/* One header of an output record: NUL-terminated name and value, borrowed. */
struct output_header {
    const char *name;
    const char *value;
};

#define OUTPUT_MAX_HEADERS 10

/* One Kafka record of an event, as an output profile made it (bridge/profile.h). Every
 * pointer is borrowed for the duration of the call that takes it. */
struct output_rec {
    const char *topic; /* destination topic */
    const void *key;   /* key bytes (NULL: no key) */
    size_t keylen;
    const void *val; /* value bytes */
    size_t len;
    int64_t ts_ms; /* record timestamp: the event time (0: the time of producing) */
    int nh;        /* headers used in h */
    struct output_header h[OUTPUT_MAX_HEADERS];
};

/* Create the backend of opts->mode and register it with the loop. err names a bad property
 * ("kafka.properties.linger.ms: ..."). Errors: PE_EINVAL, PE_ENOMEM, PE_ESYS. */
int output_create(struct pe_loop *loop, const struct output_opts *opts, struct output **out,
                  char *err, size_t errlen);

/*
 * Produce one event record: key "<store>/<terminal>", value rec (copied), timestamp ts_ms,
 * headers id, type, store, terminal, seq. hash is the record's chain hash (kept as the
 * terminal's watermark in transactional mode; may be NULL otherwise). Records of one terminal
 * must be produced in seq order. Errors: PE_EAGAIN (in-flight limit or local queue full, or a
 * transactional producer not ready yet: try again after the next report), PE_EINVAL, PE_EIO.
 */
int output_produce(struct output *o, const char *topic, const struct output_ref *ref,
                   const char *id, const char *type, const char *hash, int64_t ts_ms,
                   const char *rec, size_t len);

/*
 * Produce every record of one spooled event as a unit: n records (n may be 0: the event maps to
 * nothing, yet it counts as delivered once every earlier one is). In transactional mode they
 * all go into one transaction, never split over two, and the terminal's watermark moves past
 * ref->seq with that transaction. In idempotent mode on_delivered reports ref once, after the
 * last of the n delivery reports (with the first error if any failed; an event with n = 0 is
 * reported at once, from inside this call). All or nothing: on an error nothing of the event
 * is left to be reported. hash as output_produce. Errors as output_produce; PE_EINVAL also for
 * n > OUTPUT_MAX_RECS or a record without topic.
 */
#define OUTPUT_MAX_RECS 4096
int output_produce_event(struct output *o, const struct output_ref *ref, const char *hash,
                         const struct output_rec *recs, int n);

/* Produce a dead letter: value = the original bytes, headers reason and topic (source). Bytes
 * beyond what message.max.bytes allows are cut off, and a header truncated gives the original
 * length. */
int output_produce_dlq(struct output *o, const char *topic, const void *payload, size_t len,
                       const char *reason, const char *source_topic);

/* The producer's link to Kafka as librdkafka last reported it (all false/0 when unknown). */
void output_kafka_state(const struct output *o, struct output_kafka *out);

/* Records produced and not yet reported. */
int output_inflight(const struct output *o);

/*
 * Recreate the producer (and the clients it reads with) from the files as they are now: the
 * password file and the certificates, which librdkafka reads only when a client is created
 * (SIGHUP). The new configuration is made first; when that fails (a file unreadable or open to
 * others) err says why and the current producer stays. Then, as after a fatal error, what was
 * in flight is produced again: on_reset (transactional mode: after fencing and reading the
 * committed state back, so nothing is doubled; idempotent mode: what was produced and not yet
 * reported may be doubled, as at a restart). Errors: PE_EINVAL, PE_EIO, PE_ENOMEM.
 */
int output_reload(struct output *o, char *err, size_t errlen);

/* Serve delivery reports for up to timeout_ms (used at shutdown). Returns PE_OK when nothing
 * is in flight any more, PE_EAGAIN otherwise. */
int output_flush(struct output *o, int timeout_ms);

/* Unregister and destroy (without waiting: call output_flush first). NULL is a no-op. */
void output_destroy(struct output *o);

#endif
