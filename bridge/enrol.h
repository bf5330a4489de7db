/* SPDX-License-Identifier: Apache-2.0 */
/*
 * enrol.h - the bridge's enrolment signer (docs/pki.md, "Enrolment"): with a CA directory
 * configured (pki.dir) the bridge answers its store's tills' enrolment requests (a one-time
 * token and a CSR, on posedge/v1/<store>/<terminal>/enrol, from the broker's enrolment
 * listener) and renewals (a CSR on .../renew, which only the holder of that till's certificate
 * may write: the broker's ACL), signing with pe_pki_enrol, and answers on .../enrol/res.
 * Without pki.dir the bridge does not sign (HQ does) and none of this is created.
 */
#ifndef POSEDGE_BRIDGE_ENROL_H
#define POSEDGE_BRIDGE_ENROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "posedge/mqtt.h"
#include "posedge/protocol.h"

struct bridge_enrol;

/*
 * A signer for store with the CA in dir (checked now: it opens, it issues for the store, its
 * key's mode is private). err says what is wrong. Errors: those of pe_pki_ca_open, PE_EINVAL
 * (a CA of another store), PE_ENOMEM.
 */
int bridge_enrol_create(const char *dir, const char *store, struct bridge_enrol **out, char *err,
                        size_t errlen);

/* Free; NULL is a no-op. */
void bridge_enrol_destroy(struct bridge_enrol *e);

/* Subscribe to the store's enrolments and renewals on m (call it from on_connect). */
void bridge_enrol_subscribe(struct bridge_enrol *e, struct pe_mqtt *m);

/*
 * A message on channel ch (PE_CH_ENROL or PE_CH_RENEW) of terminal: check, sign or refuse, and
 * answer on the terminal's enrol/res. Every refusal is counted and logged with its reason
 * (never the token). Returns false for a channel that is not the signer's.
 */
bool bridge_enrol_message(struct bridge_enrol *e, struct pe_mqtt *m, const char *terminal,
                          enum pe_channel ch, const void *payload, size_t len);

/* Certificates signed and requests refused so far (both 0 for NULL). */
void bridge_enrol_counts(const struct bridge_enrol *e, int64_t *signed_, int64_t *refused);

/* "enrol": {"signed":N,"refused":N,"last_refusal":NAME|null} into the state document (nothing
 * for NULL: no signer). */
void bridge_enrol_state(const struct bridge_enrol *e, cJSON *doc);

#endif
