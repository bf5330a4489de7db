/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mqtt.h - an MQTT client driven by a daemon's own poll(2) loop (libmosquitto, no threads).
 *
 * The client registers its socket with the pe_loop, asks for POLLOUT only while libmosquitto
 * wants to write, runs mosquitto_loop_misc from a timer, and reconnects by itself with capped
 * exponential backoff and jitter. Sessions are persistent (clean session off) unless asked
 * otherwise, so QoS 1 messages queued while a client was away are delivered when it returns.
 * Callbacks run on the loop's thread; pointers passed to them are valid only during the call.
 *
 * Every client speaks MQTT v5, so that the broker answers a publish its ACL denies with a
 * reason code (PUBACK 0x87 "Not authorized") instead of acknowledging and dropping it as MQTT
 * 3.1.1 does; on_published passes the code on. With tls_ca_file set the client connects over
 * TLS 1.2 or later and verifies the broker's certificate and host name; with tls_cert_file and
 * tls_key_file it also authenticates itself (mutual TLS: the broker takes the client's identity
 * from the certificate). Failures to connect (refused CONNACK, TLS errors, lost connections)
 * all end in the same capped backoff, and each is logged once per change of its cause.
 */
#ifndef POSEDGE_MQTT_H
#define POSEDGE_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "posedge/loop.h"

struct pe_mqtt;

/* MQTT v5 reason codes from this one on are failures (a denied publish is 0x87). */
#define PE_MQTT_RC_FAILURE 0x80
#define PE_MQTT_RC_NOT_AUTHORIZED 0x87

struct pe_mqtt_opts {
    const char *client_id;    /* persistent session id, e.g. "posedge-agent-s001-t01" */
    const char *host;         /* broker host (loopback in tests) */
    int port;                 /* broker port */
    int keepalive_s;          /* MQTT keepalive, seconds (default 30 when 0) */
    const char *will_topic;   /* last will (retained, QoS 1), or NULL */
    const char *will_payload; /* its payload */
    const char *username;     /* MQTT username, or NULL/"" for none (the broker's ACL names it) */
    const char *password;     /* its password, or NULL; never logged */
    int backoff_min_ms;       /* first reconnect delay (default 200 when 0) */
    int backoff_max_ms;       /* cap (default 10000 when 0) */
    uint64_t jitter_seed;     /* seed of the backoff jitter (0: from the clock) */
    bool clean_session;       /* true for one-shot tools (no session is kept on the broker);
                               * daemons leave it false so QoS 1 messages wait for them (the
                               * v5 session then never expires, as a 3.1.1 session) */
    const char *tls_ca_file;   /* TLS: the CA file the broker's certificate must chain to; its
                                * host name must match host. NULL or "": plain TCP */
    const char *tls_cert_file; /* mutual TLS: the client's certificate (PEM), or NULL/"" */
    const char *tls_key_file;  /* and its private key; refused when its group may write it or
                                * others read it (pe_secret_check_mode) */
    /* Connected (session_present tells whether the broker kept our session). */
    void (*on_connect)(void *ctx, bool session_present);
    /* Connection lost or refused; the client is already scheduling a reconnect. reason:
     * PE_EDECLINED (the broker refused the CONNECT: credentials, certificate identity),
     * PE_ENOMEM, PE_EIO (anything else, TLS errors included). */
    void (*on_disconnect)(void *ctx, int reason);
    /* A message arrived (payload not NUL-terminated). */
    void (*on_message)(void *ctx, const char *topic, const void *payload, size_t len,
                       bool retained);
    /* A QoS 1 publish was answered by the broker (mid from pe_mqtt_publish; QoS 0: sent).
     * reason is the PUBACK's MQTT v5 reason code: below PE_MQTT_RC_FAILURE the broker took
     * the message (0x10 "no matching subscribers" included), from it on it did not (0x87: the
     * ACL denied it). */
    void (*on_published)(void *ctx, int mid, int reason);
    void *ctx;
};

/*
 * Create a client and start connecting (asynchronously; on_connect reports success). Strings
 * in opts are copied. Errors: PE_EINVAL (bad options; a TLS file that cannot be read, a key
 * file whose mode lets others read it, a certificate without its key: each logged naming the
 * file), PE_ENOMEM, PE_ESYS (libmosquitto refused).
 */
int pe_mqtt_create(struct pe_loop *loop, const struct pe_mqtt_opts *opts, struct pe_mqtt **out);

/* Disconnect cleanly (the will is not sent), unregister from the loop and free.
 * pe_mqtt_destroy(NULL) is a no-op. */
void pe_mqtt_destroy(struct pe_mqtt *m);

/* True while connected. */
bool pe_mqtt_connected(const struct pe_mqtt *m);

/* Publish; *mid (may be NULL) identifies a QoS 1 publish for on_published.
 * Errors: PE_EAGAIN (not connected), PE_ENOMEM, PE_EINVAL (payload too large), PE_EIO. */
int pe_mqtt_publish(struct pe_mqtt *m, const char *topic, const void *payload, size_t len, int qos,
                    bool retain, int *mid);

/* Subscribe (again after every reconnect: call it from on_connect). */
int pe_mqtt_subscribe(struct pe_mqtt *m, const char *pattern, int qos);

/* The text of an MQTT v5 reason code ("Not authorized"); never NULL. */
const char *pe_mqtt_reason(int reason);

/* Parse "HOST:PORT" (port 1..65535) into host (size hostlen) and *port. PE_EINVAL if bad. */
int pe_mqtt_parse_addr(const char *s, char *host, size_t hostlen, int *port);

#endif
