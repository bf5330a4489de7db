/* SPDX-License-Identifier: Apache-2.0 */
/*
 * enrol.h - the till's certificate: first enrolment with a one-time token, and renewal before
 * it expires (docs/pki.md, "Enrolment"; docs/protocol.md, "Enrolment").
 *
 * A new till holds only an enrolment token (enrol.token_file, from posedge-ctl pki token). When
 * its certificate (mqtt.tls.cert_file) is missing or expired and the token is there, it makes
 * its key (mqtt.tls.key_file, 0600, once: the key never leaves the till), connects to the
 * broker's enrolment listener (enrol.port: TLS with the broker's certificate verified, no
 * client certificate, client id = terminal id), and asks for a certificate with the token and
 * a CSR. The signer (the bridge, or HQ) answers with the certificate, which is checked (its CN
 * is this till, it holds this key, it chains to mqtt.tls.ca_file) and written atomically; the
 * token file is removed, and the uplink starts over mutual TLS. A refusal is logged with its
 * reason (never the token) and the till asks again later, reading the token file anew (a
 * technician may have put a fresh token there). Selling never waits for any of it: the journal
 * keeps every event, and the uplink sends them once the certificate exists.
 *
 * Renewal rides on the uplink (enrol_hook): when fewer than enrol.renew_days are left, the till
 * sends a new CSR for the same key on .../renew over its mutual TLS connection (only the
 * certificate's owner may write there) and writes the answer's certificate the same way; the
 * next connection uses it.
 */
#ifndef POSEDGE_AGENT_ENROL_H
#define POSEDGE_AGENT_ENROL_H

#include <stdbool.h>
#include <stdint.h>

#include "agent/uplink.h"
#include "posedge/loop.h"

struct pe_rng;

struct enrol_deps {
    struct pe_loop *loop; /* borrowed; outlives the enrolment */
    struct pe_rng *rng;   /* borrowed: the key and request ids */
    const char *store;    /* the till's ids (copied, as every string here) */
    const char *terminal;
    const char *host;       /* mqtt.host */
    int port;               /* enrol.port: the enrolment listener */
    int keepalive_s;        /* MQTT keepalive of the enrolment connection */
    const char *ca_file;    /* mqtt.tls.ca_file: the broker's and the till's CA */
    const char *cert_file;  /* mqtt.tls.cert_file */
    const char *key_file;   /* mqtt.tls.key_file */
    const char *token_file; /* enrol.token_file ("": none) */
    int64_t renew_days;     /* enrol.renew_days */
    /* The certificate exists now (after a first enrolment): start the uplink. Called from a
     * timer of the loop, never from inside an enrol_* call. */
    void (*enrolled)(void *ctx);
    void *ctx;
};

struct enrol;

/* True when cert_file holds a certificate that is valid at now_ms. */
bool enrol_have_cert(const char *cert_file, int64_t now_ms);

/*
 * Create the enrolment. With a usable certificate it only watches for renewal (through the
 * uplink's hooks); without one it enrols now when the token file is there, and otherwise
 * looks for the token file every few seconds. Errors: PE_EINVAL (a missing setting: host,
 * store, terminal, ca, cert or key file), PE_ENOMEM.
 */
int enrol_create(const struct enrol_deps *d, struct enrol **out);

/* Stop (an enrolment connection is closed), wipe the token and free. NULL is a no-op. */
void enrol_destroy(struct enrol *e);

/* Add the renewal's hooks to the uplink's (before uplink_create; slot is where enrol_create's
 * result is stored, as fleet_hook's). Errors: PE_ENOMEM (no free hook slot). */
int enrol_hook(struct uplink_opts *uo, struct enrol **slot);

/* The uplink the renewal publishes on (borrowed; NULL when it is gone). */
void enrol_attach(struct enrol *e, struct uplink *u);

/* For the state document and tests: enrolments and renewals refused so far, and whether an
 * enrolment is under way. */
int64_t enrol_refusals(const struct enrol *e);
bool enrol_pending(const struct enrol *e);

#endif
