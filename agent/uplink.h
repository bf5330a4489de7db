/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uplink.h - the agent's uplink: sends the journal to the bridge over MQTT (docs/protocol.md).
 *
 * The journal is the queue. The uplink reads it from the bridge's spooled watermark on, in seq
 * order, publishes batches on posedge/v1/<store>/<terminal>/events (QoS 1), keeps at most
 * `window` records sent but not spooled, and goes back to spooled + 1 when the ack has not
 * moved for `resend_ms` (go-back-N). Acks come on .../ack (retained, so a restarted agent
 * learns where the bridge is) and are kept in the journal's uplink table. The uplink never
 * blocks selling: it runs from loop timers and socket events, and a failure to publish only
 * stops sending until the next connection or kick.
 */
#ifndef POSEDGE_AGENT_UPLINK_H
#define POSEDGE_AGENT_UPLINK_H

#include <stdbool.h>
#include <stdint.h>

#include "posedge/journal.h"
#include "posedge/loop.h"

struct uplink_opts {
    const char *host;  /* broker host */
    int port;          /* broker port */
    int keepalive_s;   /* MQTT keepalive, seconds */
    const char *store; /* ids naming the topics and the client id */
    const char *terminal;
    int64_t batch_max;    /* records per batch (>= 1) */
    int64_t batch_bytes;  /* bytes per batch (>= 1; a single larger record goes alone) */
    int64_t window;       /* records sent and not yet spooled (>= 1) */
    int64_t resend_ms;    /* ack stall before going back to spooled + 1 (>= 1) */
    const char *username; /* MQTT credentials, NULL or "" for none (borrowed during create) */
    const char *password;
    /* Hooks for the fleet channel sharing the connection (all may be NULL; called from the
     * loop, never from inside an uplink_* call): connected (subscriptions are to be renewed),
     * a message on a topic other than the ack, a QoS 1 publish acknowledged by the broker, the
     * bridge's watermarks moved. */
    void (*on_connect)(void *ctx);
    void (*on_message)(void *ctx, const char *topic, const void *payload, size_t len,
                       bool retained);
    void (*on_published)(void *ctx, int mid);
    void (*on_change)(void *ctx);
    void *hook_ctx;
};

struct uplink;

/*
 * Create the uplink and start connecting (client id "posedge-agent-<store>-<terminal>",
 * persistent session, will = retained {"state":"offline"} on .../state; the state document
 * itself is the fleet channel's, fleet.c). The loop and the
 * journal are borrowed and must outlive it. Errors: PE_EINVAL, PE_ENOMEM, PE_EIO (journal),
 * PE_ESYS (libmosquitto).
 */
int uplink_create(struct pe_loop *loop, struct pe_journal *journal, const struct uplink_opts *o,
                  struct uplink **out);

/* Store the watermarks, publish the retained offline state (with the watermarks) when
 * connected (best effort), disconnect and free. uplink_destroy(NULL) is a no-op. */
void uplink_destroy(struct uplink *u);

/* Something was committed to the journal: send it soon (from a zero-delay timer, never from
 * inside the caller). Cheap; call it after every commit. */
void uplink_kick(struct uplink *u);

/* The watermarks acknowledged by the bridge so far (either pointer may be NULL). */
void uplink_watermarks(const struct uplink *u, int64_t *spooled, int64_t *delivered);

/* True while connected to the broker. */
bool uplink_connected(const struct uplink *u);

/* Publish on the uplink's connection (QoS 1); *mid (may be NULL) as pe_mqtt_publish's.
 * Errors: PE_EAGAIN (not connected), PE_ENOMEM, PE_EINVAL, PE_EIO. */
int uplink_publish(struct uplink *u, const char *topic, const void *payload, size_t len,
                   bool retain, int *mid);

/* Subscribe (QoS 1) on the uplink's connection; call it from the on_connect hook. */
int uplink_subscribe(struct uplink *u, const char *topic);

/* Send the journal again from seq on (fleet command resend_from), whatever the bridge has
 * acknowledged. Errors: PE_ERANGE (seq outside 1 .. last seq), the journal's. */
int uplink_resend_from(struct uplink *u, int64_t seq);

#endif
