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

/* The line format of an events payload (docs/protocol.md, "Event lines"): 2, a record and,
 * after PE_EVENTS_SIG_SEP, its signature (the journal's sig column); a line without one is an
 * unsigned record, as every line of format 1 was. */
#define PE_EVENTS_FORMAT 2
#define PE_EVENTS_SIG_SEP '\t'

/* One line of an events payload: the record and its signature (NULL, 0: none). */
struct pe_events_line {
    const char *rec;  /* the record's bytes (not NUL-terminated) */
    size_t len;       /* their length; 0 only before a signature (a line that starts with a
                       * tab: the verifier refuses the empty record, a dead letter) */
    const char *sig;  /* after the tab: the signature's bytes; NULL for an unsigned record */
    size_t siglen;    /* their length (>= 1 when sig is not NULL) */
    bool bare_tab;    /* the line ends in a tab with nothing after it: malformed, rec/len are
                       * the whole line (tab included) for the dead letter */
};
/*
 * Split the next line off an events payload: *p (advanced past the line and its newline) up to
 * end. Empty lines are skipped. Returns false when no line is left. A canonical record never
 * holds a raw tab or newline, so the first tab of a line ends its record.
 */
bool pe_events_next_line(const char **p, const char *end, struct pe_events_line *out);

/* The store bridge's reserved terminal id, and the one it used before fleet state. */
#define PE_ID_BRIDGE "bridge"
#define PE_ID_BRIDGE_OLD "_bridge"

/* Wildcards and ACL substitutions accepted in place of an id by pe_topic. */
#define PE_TOPIC_ANY "+"    /* MQTT single-level wildcard */
#define PE_TOPIC_USER "%u"   /* mosquitto ACL pattern: the client's username */
#define PE_TOPIC_CLIENT "%c" /* mosquitto ACL pattern: the client's id */

/* X(name, string) - the channels under posedge/v1/<store>/<terminal>/. */
#define PE_CHANNELS(X)                                                                             \
    X(EVENTS, "events")         /* till -> bridge: batches of journal records (QoS 1) */           \
    X(ACK, "ack")               /* bridge -> till: spooled/delivered watermarks (retained) */      \
    X(STATE, "state")           /* till or bridge state document (retained; will: offline) */     \
    X(CMD, "cmd")               /* HQ -> till: one-off commands with request ids */               \
    X(CMD_RES, "cmd/res")       /* till -> HQ: one answer per command */                          \
    X(TELEMETRY, "telemetry")   /* till -> bridge: telemetry documents */                         \
    X(PROBE, "probe")           /* a tool's round-trip probe on the bridge's own topics */        \
    X(ENROL, "enrol")           /* new till -> signer: {"v":1,"req","token","csr"} (QoS 1) */    \
    X(ENROL_RES, "enrol/res")   /* signer -> till: the certificate or the refusal */             \
    X(RENEW, "renew")           /* enrolled till -> signer, over mutual TLS: a new CSR */         \
    X(CATALOG, "catalog")       /* bridge (terminal "bridge"): the store catalog version (ret.) */\
    X(CATALOG_GET, "catalog/get")   /* till -> bridge: {"v":1,"req","since"} (QoS 1) */          \
    X(CATALOG_DATA, "catalog/data") /* bridge -> till: one chunk of a full or delta answer */    \
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
 * (pe_event_id_valid), PE_TOPIC_ANY, PE_TOPIC_USER or PE_TOPIC_CLIENT; suffix may be NULL.
 * Errors: PE_EINVAL (an id or the suffix is not valid: nothing is written but an empty
 * string), PE_ERANGE (out is too small).
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

/* ---- upgrades (docs/protocol.md, "Rollout") ---- */

#define PE_VERSION_MAX 65 /* a package version: 1..64 characters and NUL */

/* True for a Debian version as the upgrade command takes it: 1..64 characters of A-Z a-z 0-9
 * . + ~ : -, the first a digit (also what pkg/posedge-upgrade accepts). */
bool pe_version_valid(const char *s);

/* X(NAME, word, final) - the outcomes of the state's "upgrade" member, in the order a till goes
 * through them; final ones end an upgrade (the upgrade unit writes those). */
#define PE_UPGRADE_OUTCOMES(X)                                                                     \
    X(WAITING, "waiting", false)         /* for the till to be idle, or its shift to close */     \
    X(INSTALLING, "installing", false)   /* the upgrade unit has it: install, self-test, run */   \
    X(OK, "ok", true)                    /* upgraded: the new version passed its first minute */  \
    X(ROLLED_BACK, "rolled_back", true)  /* the new version failed: the till runs previous */     \
    X(FAILED, "failed", true)            /* it could not be installed: nothing changed */

enum pe_upgrade_outcome {
#define PE__OUTCOME_ENUM(name, word, final) PE_UPGRADE_##name,
    PE_UPGRADE_OUTCOMES(PE__OUTCOME_ENUM)
#undef PE__OUTCOME_ENUM
        PE_UPGRADE_UNKNOWN /* missing, or a word not above */
};

/* The outcome's word; "?" for PE_UPGRADE_UNKNOWN. */
const char *pe_upgrade_outcome_word(enum pe_upgrade_outcome o);
/* The outcome a word names; PE_UPGRADE_UNKNOWN for any other (NULL included). */
enum pe_upgrade_outcome pe_upgrade_outcome_parse(const char *word);
/* True for the outcomes that end an upgrade. */
bool pe_upgrade_outcome_final(enum pe_upgrade_outcome o);

/* The kinds of mosquitto ACL (acl_file format) posedge writes for a store's broker. */
enum pe_acl_kind {
    PE_ACL_PASSWORD, /* password logins: username = terminal id, the bridge user by name (labs) */
    PE_ACL_TLS,      /* mutual TLS with use_identity_as_username: username = certificate CN */
    PE_ACL_ENROL,    /* the enrolment listener: anonymous, client id = terminal id */
};

/*
 * Write the password-mode ACL of a store (PE_ACL_PASSWORD) to out: the bridge user may read
 * every till's events and state, write acks and commands, read answers and use its own topics;
 * each till (username = terminal id) may use only its own topics. Errors: PE_EINVAL (a bad
 * id), PE_EIO (the write failed).
 */
int pe_protocol_acl(FILE *out, const char *store, const char *bridge_user);

/*
 * Write the ACL of kind for store to out. PE_ACL_PASSWORD is pe_protocol_acl with bridge_user.
 * PE_ACL_TLS (bridge_user ignored): the users "<store>/bridge" (the bridge: everything of
 * PE_ACL_PASSWORD's bridge user, plus reading renewals and answering enrolments) and
 * "<store>/hq" (HQ's tool: commands, and reading states, acks and answers), and for every
 * client the patterns "posedge/v1/%u/<channel>" of a till, so a certificate "<store>/<till>"
 * reaches its own topics only. PE_ACL_ENROL (bridge_user ignored): an enrolling client (client
 * id = terminal id) may write posedge/v1/<store>/%c/enrol and read .../%c/enrol/res, nothing
 * else. Errors: PE_EINVAL (a bad id or kind), PE_EIO (the write failed).
 */
int pe_protocol_acl_kind(FILE *out, enum pe_acl_kind kind, const char *store,
                         const char *bridge_user);

/* ---- enrolment messages (docs/protocol.md, "Enrolment") ----
 *
 * A till asks on posedge/v1/<store>/<terminal>/enrol (first enrolment, with its one-time token)
 * or .../renew (over mutual TLS, no token) with {"v":1,"req":REQ,"token":T,"csr":PEM} and is
 * answered on .../enrol/res with {"v":1,"req":REQ,"ok":true,"cert":PEM} or {"v":1,"req":REQ,
 * "ok":false,"error":NAME,"reason":TEXT} (NAME from pki.h's PE_PKI_REFUSALS). The store and
 * terminal come from the topic, never from the message. */
#define PE_ENROL_REQ_MAX 64    /* a request id: 1..64 of A-Z a-z 0-9 . _ : - */
#define PE_ENROL_PEM_MAX 8192  /* the longest CSR or certificate accepted */
#define PE_ENROL_TOKEN_MAX 64  /* the longest token accepted (letters, digits, '-', blanks) */

struct pe_enrol_request {
    const char *req;   /* the till's request id */
    const char *token; /* enrol: the one-time token; renew: NULL */
    const char *csr;   /* the CSR, PEM */
};

struct pe_enrol_answer {
    const char *req;    /* the request answered */
    bool ok;            /* signed */
    const char *cert;   /* ok: the certificate, PEM */
    const char *error;  /* refused: the refusal's name ("token_used") */
    const char *reason; /* refused: the refusal in words */
};

struct cJSON;

/*
 * The request r as JSON into *out (malloc'd, NUL-terminated; it holds the token: the caller
 * wipes it with pe_secret_wipe before free). Built by hand, so no copy of the token is left in
 * freed memory. Errors: PE_EINVAL (a field that is not valid), PE_ENOMEM.
 */
int pe_enrol_request_json(const struct pe_enrol_request *r, char **out);

/*
 * Parse a request of len bytes; renew says which channel it came on (a renewal carries no
 * token, an enrolment must). out's strings point into *doc (the caller's: free it with
 * pe_enrol_request_free, which wipes the token). Errors (why says which member): PE_EPARSE
 * (not JSON), PE_EINVAL (a member missing, of the wrong type or not valid), PE_ENOMEM.
 */
int pe_enrol_request_parse(const void *payload, size_t len, bool renew, struct cJSON **doc,
                           struct pe_enrol_request *out, char *why, size_t whylen);

/* Wipe the token of a parsed request and free its document; NULL is a no-op. */
void pe_enrol_request_free(struct cJSON *doc);

/* The answer a as JSON into *out (malloc'd). Errors: PE_EINVAL, PE_ENOMEM. */
int pe_enrol_answer_json(const struct pe_enrol_answer *a, char **out);

/* Parse an answer; out's strings point into *doc (the caller's, cJSON_Delete). Errors as
 * pe_enrol_request_parse's. */
int pe_enrol_answer_parse(const void *payload, size_t len, struct cJSON **doc,
                          struct pe_enrol_answer *out, char *why, size_t whylen);

#endif
