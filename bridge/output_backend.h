/* SPDX-License-Identifier: Apache-2.0 */
/*
 * output_txn.h - the transactional side of output.h (internal to bridge/output*.c).
 *
 * librdkafka's transactional calls block (init, commit and abort wait for the coordinator), so
 * the transactional producer lives on a thread of its own; the loop's thread hands it copies of
 * records and gets back, through a pipe watched by the loop, what was committed. See
 * output_txn.c for the protocol between the two.
 */
#ifndef POSEDGE_BRIDGE_OUTPUT_TXN_H
#define POSEDGE_BRIDGE_OUTPUT_TXN_H

#include "bridge/output.h"

struct otxn;

int otxn_create(struct pe_loop *loop, const struct output_opts *opts, struct otxn **out, char *err,
                size_t errlen);
int otxn_produce_event(struct otxn *x, const struct output_ref *ref, const char *hash,
                       const struct output_rec *recs, int n);
int otxn_produce_dlq(struct otxn *x, const char *topic, const void *payload, size_t len,
                     const char *reason, const char *source_topic);
int otxn_inflight(const struct otxn *x);
void otxn_kafka_state(struct otxn *x, struct output_kafka *out);
int otxn_flush(struct otxn *x, int timeout_ms);
void otxn_destroy(struct otxn *x);

#endif
