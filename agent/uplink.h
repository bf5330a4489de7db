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
 * stops sending until the next connection or kick. A publish the broker refuses (an MQTT v5
 * PUBACK reason code from 0x80 on: the ACL denied it) is no delivery: the records stay in the
 * journal and go again with the next go-back; the refusal is counted, logged when it starts or
 * changes, and shown in the state document (uplink_denied).
 */
#ifndef POSEDGE_AGENT_UPLINK_H
#define POSEDGE_AGENT_UPLINK_H

#include <stdbool.h>
#include <stdint.h>

#include "posedge/journal.h"
#include "posedge/loop.h"
#include "posedge/protocol.h"

/* A part of the agent riding on the uplink's connection (the fleet channel, enrolment's
 * renewal, the catalog's sync). Every hook may be NULL; they are called from the loop, never from inside an
 * uplink_* call: connected (subscriptions are to be renewed), a message on a topic other than
 * the ack (each part picks its own), a QoS 1 publish answered by the broker (reason: the MQTT
 * v5 reason code, mqtt.h), the bridge's watermarks moved. */
struct uplink_hooks {
    void (*on_connect)(void *ctx);
    void (*on_message)(void *ctx, const char *topic, const void *payload, size_t len,
                       bool retained);
    void (*on_published)(void *ctx, int mid, int reason);
    void (*on_change)(void *ctx);
};
#define UPLINK_HOOKS_MAX 3

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
    const char *tls_ca_file;   /* TLS (mqtt.h): the broker's CA, NULL or "" for plain TCP */
    const char *tls_cert_file; /* the till's certificate and key (mutual TLS), or NULL */
    const char *tls_key_file;
    struct {
        const struct uplink_hooks *h; /* NULL: a free slot */
        void *ctx;
    } hook[UPLINK_HOOKS_MAX]; /* filled by uplink_add_hooks */
};

/* Put the hooks h (static) with ctx into the first free slot of o. Errors: PE_ENOMEM (none
 * free). */
int uplink_add_hooks(struct uplink_opts *o, const struct uplink_hooks *h, void *ctx);

/* The publishes the broker refused since start (uplink_denied). */
struct uplink_denial {
    int64_t count;            /* refused publishes, events and the fleet channel's */
    char topic[PE_TOPIC_MAX]; /* the last one's topic, "" none */
    int reason;               /* its MQTT v5 reason code (0x87 not authorised) */
    int64_t ts_ms;            /* when it was refused, UTC ms; 0 none */
    bool now;                 /* a channel's last publish was refused (not taken since) */
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

/* What the broker refused so far (uplink_denial); u may be NULL (nothing). */
void uplink_denied(const struct uplink *u, struct uplink_denial *out);

/* Publish on the uplink's connection (QoS 1); *mid (may be NULL) as pe_mqtt_publish's; the
 * topic is remembered until the broker answers, so a refusal names it.
 * Errors: PE_EAGAIN (not connected), PE_ENOMEM, PE_EINVAL, PE_EIO. */
int uplink_publish(struct uplink *u, const char *topic, const void *payload, size_t len,
                   bool retain, int *mid);

/* Subscribe (QoS 1) on the uplink's connection; call it from the on_connect hook. */
int uplink_subscribe(struct uplink *u, const char *topic);

/* Send the journal again from seq on (fleet command resend_from), whatever the bridge has
 * acknowledged. Errors: PE_ERANGE (seq outside 1 .. last seq), the journal's. */
int uplink_resend_from(struct uplink *u, int64_t seq);

#endif
