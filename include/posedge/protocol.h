/* SPDX-License-Identifier: Apache-2.0 */
/*
 * protocol.h - the one owner of the store's MQTT protocol v1: topic names and reserved ids.
 *
 * Every topic a daemon or posedge-ctl publishes, subscribes or parses is
 *   posedge/v1/<store>/<terminal>/<channel>[/<suffix>]
 * and is formatted and parsed here, nowhere else, so a new channel is one line of
 * PE_CHANNELS. <terminal> is a till's id or the reserved id "bridge" (the store bridge's own
 * documents and probes); "_bridge" is where bridges published their state before protocol v1's
 * fleet state and is still read by posedge-ctl status. Neither may be a till's id.
 *
 * docs/protocol.md describes the messages on each channel.
 */
#ifndef POSEDGE_PROTOCOL_H
#define POSEDGE_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "posedge/event.h"

#define PE_TOPIC_ROOT "posedge/v1"
/* Topic buffers: root, two ids, a channel and a suffix of up to 64 bytes fit. */
#define PE_TOPIC_MAX 192

/* The store bridge's reserved terminal id, and the one it used before fleet state. */
#define PE_ID_BRIDGE "bridge"
#define PE_ID_BRIDGE_OLD "_bridge"

/* Wildcards and ACL substitutions accepted in place of an id by pe_topic. */
#define PE_TOPIC_ANY "+"  /* MQTT single-level wildcard */
#define PE_TOPIC_USER "%u" /* mosquitto ACL pattern: the client's username */

/* X(name, string) - the channels under posedge/v1/<store>/<terminal>/. */
#define PE_CHANNELS(X)                                                                             \
    X(EVENTS, "events")         /* till -> bridge: batches of journal records (QoS 1) */           \
    X(ACK, "ack")               /* bridge -> till: spooled/delivered watermarks (retained) */      \
    X(STATE, "state")           /* till or bridge state document (retained; will: offline) */     \
    X(CMD, "cmd")               /* HQ -> till: one-off commands with request ids */               \
    X(CMD_RES, "cmd/res")       /* till -> HQ: one answer per command */                          \
    X(TELEMETRY, "telemetry")   /* till -> bridge: telemetry documents */                         \
    X(PROBE, "probe")           /* a tool's round-trip probe on the bridge's own topics */        \
    X(ALL, "#")                 /* every channel (subscriptions and ACLs only) */

enum pe_channel {
#define PE__CH_ENUM(name, str) PE_CH_##name,
    PE_CHANNELS(PE__CH_ENUM)
#undef PE__CH_ENUM
        PE_CH__COUNT
};

/* "events", "cmd/res", ...; NULL for an out-of-range value. */
const char *pe_channel_name(enum pe_channel ch);

/*
 * Format posedge/v1/<store>/<terminal>/<channel>[/<suffix>] into out (len bytes, PE_TOPIC_MAX
 * is always enough for a suffix of up to 64 bytes). store and terminal are ids
 * (pe_event_id_valid), PE_TOPIC_ANY or PE_TOPIC_USER; suffix may be NULL. Errors: PE_EINVAL
 * (an id or the suffix is not valid: nothing is written but an empty string), PE_ERANGE (out
 * is too small).
 */
int pe_topic(char *out, size_t len, const char *store, const char *terminal, enum pe_channel ch,
             const char *suffix);

/*
 * Parse a topic of the form above. On success store and terminal (PE_ID_MAX bytes each) hold
 * valid ids, *ch the channel and *suffix (may be NULL) points into topic after the channel's
 * "/" (or at "" when there is none). Errors: PE_EINVAL (not a posedge v1 topic, an invalid id,
 * an unknown channel).
 */
int pe_topic_parse(const char *topic, char store[PE_ID_MAX], char terminal[PE_ID_MAX],
                   enum pe_channel *ch, const char **suffix);

/* True for ids that name no till: "bridge" and "_bridge". */
bool pe_id_reserved(const char *id);

/*
 * Write the mosquitto ACL of a store (acl_file format) to out: the bridge user may read every
 * till's events and state, write acks and commands, read answers and use its own topics; each
 * till (username = terminal id) may use only its own topics. Errors: PE_EINVAL (a bad id),
 * PE_EIO (the write failed).
 */
int pe_protocol_acl(FILE *out, const char *store, const char *bridge_user);

#endif
