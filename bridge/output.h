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
 */
#ifndef POSEDGE_BRIDGE_OUTPUT_H
#define POSEDGE_BRIDGE_OUTPUT_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posedge/loop.h"

struct output;

/* Identifies one produced record in its delivery report (copied by output_produce). */
struct output_ref {
    char store[33];
    char terminal[33];
    int64_t seq; /* 0 for a dead letter */
};

struct output_opts {
    const char *brokers;     /* bootstrap.servers */
    const cJSON *properties; /* extra librdkafka properties (object of strings), borrowed */
    int max_inflight;        /* records produced but not yet reported (default 100000) */
    /* A record's fate: err 0 delivered (acks=all), else a librdkafka error code. */
    void (*on_delivered)(void *ctx, const struct output_ref *ref, int err);
    /* The producer was recreated after a fatal error: everything in flight is lost from it. */
    void (*on_reset)(void *ctx);
    void *ctx;
};

/* Create and register with the loop. err names a bad property ("kafka.properties.linger.ms:
 * ..."). Errors: PE_EINVAL, PE_ENOMEM, PE_ESYS. */
int output_create(struct pe_loop *loop, const struct output_opts *opts, struct output **out,
                  char *err, size_t errlen);

/*
 * Produce one event record: key "<store>/<terminal>", value rec (copied), timestamp ts_ms,
 * headers id, type, store, terminal, seq. Errors: PE_EAGAIN (in-flight limit or local queue
 * full: try again after delivery reports), PE_EINVAL, PE_EIO.
 */
int output_produce(struct output *o, const char *topic, const struct output_ref *ref,
                   const char *id, const char *type, int64_t ts_ms, const char *rec, size_t len);

/* Produce a dead letter: value = the original bytes, headers reason and topic (source). Bytes
 * beyond what message.max.bytes allows are cut off, and a header truncated gives the original
 * length. */
int output_produce_dlq(struct output *o, const char *topic, const void *payload, size_t len,
                       const char *reason, const char *source_topic);

/* Records produced and not yet reported. */
int output_inflight(const struct output *o);

/* Serve delivery reports for up to timeout_ms (used at shutdown). Returns PE_OK when nothing
 * is in flight any more, PE_EAGAIN otherwise. */
int output_flush(struct output *o, int timeout_ms);

/* Unregister and destroy (without waiting: call output_flush first). NULL is a no-op. */
void output_destroy(struct output *o);

#endif
