/* SPDX-License-Identifier: Apache-2.0 */
/*
 * output_backend.h - the Kafka backends behind output.h (internal to bridge/output*.c).
 *
 * A backend is one const ops table: output_idempotent (output_idem.c: one idempotent producer
 * served from the loop) and output_transactional (output_txn.c: a transactional producer on a
 * thread of its own, because librdkafka's transactional calls block; the loop's thread hands it
 * copies of records and gets back, through a pipe watched by the loop, what was committed).
 * output.c picks one by opts->mode when the output is created and forwards every call to it;
 * the arguments are checked there, so a backend sees only valid ones.
 */
#ifndef POSEDGE_BRIDGE_OUTPUT_BACKEND_H
#define POSEDGE_BRIDGE_OUTPUT_BACKEND_H

#include "bridge/output.h"

struct output_backend {
    enum output_mode mode; /* the kafka.mode it serves */
    /* Make the backend's state in *impl and register with the loop (output_create). */
    int (*create)(struct pe_loop *loop, const struct output_opts *opts, void **impl, char *err,
                  size_t errlen);
    int (*produce_event)(void *impl, const struct output_ref *ref, const char *hash,
                         const struct output_rec *recs, int n);
    int (*produce_dlq)(void *impl, const char *topic, const void *payload, size_t len,
                       const char *reason, const char *source_topic);
    void (*kafka_state)(void *impl, struct output_kafka *out);
    int (*inflight)(const void *impl);
    int (*flush)(void *impl, int timeout_ms);
    int (*reload)(void *impl, char *err, size_t errlen); /* output_reload */
    void (*destroy)(void *impl); /* unregister and free; never NULL impl */
};

extern const struct output_backend output_idempotent;
extern const struct output_backend output_transactional;

#endif
