/* SPDX-License-Identifier: Apache-2.0 */
/*
 * schema_registry.h - a Confluent Schema Registry client (REST over HTTP(S), libcurl) for the
 * bridge's Avro output profiles: register a writer schema under a subject, look a schema up,
 * fetch a subject's latest version, with a small in-memory cache in front.
 *
 * Calls block for at most the configured timeouts: the bridge makes them at start-up (or on a
 * worker thread), never on its poll loop's hot path. Ids already known are served from the
 * cache without a request, so a bridge that was told its ids (pe_sr_cache_put, from its spool)
 * produces while the registry is down. Whenever the client learns an id from the registry it
 * calls the learned callback, which is how the caller persists ids: the client itself writes
 * nothing to disk.
 *
 * Errors are negative PE_* codes; the message of the last one (method, URL, HTTP status and
 * the registry's error_code and message) is kept for pe_sr_errmsg and logged once. Neither ever
 * contains the password or user info of the URL.
 */
#ifndef POSEDGE_BRIDGE_SCHEMA_REGISTRY_H
#define POSEDGE_BRIDGE_SCHEMA_REGISTRY_H

#include <stdbool.h>

struct pe_sr;

/* What the client learned, passed to the learned callback; valid only during the call. */
struct pe_sr_schema {
    const char *subject; /* the subject */
    int id;              /* the registry's global schema id (what the Confluent header holds) */
    int version;         /* the version under the subject; 0 when not known (register) */
    const char *schema;  /* the schema text as the caller gave it or the registry returned it */
};

/* Connection settings, borrowed by pe_sr_create only during the call (it copies them). */
struct pe_sr_cfg {
    const char *url;         /* base URL, "http(s)://host:port[/prefix]"; required */
    const char *username;    /* HTTP basic auth user, NULL: no auth */
    const char *password;    /* its password (never logged) */
    const char *ca_file;     /* PEM CA bundle to verify the server with, NULL: the system's */
    const char *cert_file;   /* PEM client certificate for mutual TLS, NULL: none */
    const char *key_file;    /* its private key */
    bool insecure;           /* skip TLS peer and host verification (default: verify) */
    long connect_timeout_ms; /* TCP+TLS connect limit, 0: 5000 */
    long timeout_ms;         /* whole request limit, 0: 10000 */
    /* Called after a request taught the client an id it did not have cached, so the caller
     * can persist it (and hand it back with pe_sr_cache_put after a restart). May be NULL. */
    void (*learned)(void *arg, const struct pe_sr_schema *s);
    void *learned_arg;
};

/*
 * Create a client. Returns PE_OK with *out set; PE_EINVAL when url is missing or not http(s),
 * or a password comes without a user; PE_ENOMEM; PE_EIO when libcurl cannot be initialised.
 * Free with pe_sr_destroy.
 */
int pe_sr_create(const struct pe_sr_cfg *cfg, struct pe_sr **out);

/* Free a client and its cache; NULL is a no-op. */
void pe_sr_destroy(struct pe_sr *sr);

/*
 * Register schema (Avro JSON text) under subject: POST /subjects/<subject>/versions. A schema
 * the registry already has under the subject returns its existing id (the registry's rule).
 * Answered from the cache when the subject is cached with exactly this text.
 * Returns PE_OK with *id; otherwise one of the request errors below.
 */
int pe_sr_register(struct pe_sr *sr, const char *subject, const char *schema, int *id);

/*
 * Look schema up under subject without registering it: POST /subjects/<subject>. Sets *id and
 * *version (either may be NULL). Answered from the cache when it knows both. Returns PE_OK;
 * PE_ENOTFOUND when the subject or the schema under it is unknown; or a request error below.
 */
int pe_sr_lookup(struct pe_sr *sr, const char *subject, const char *schema, int *id, int *version);

/*
 * Fetch the subject's latest version: GET /subjects/<subject>/versions/latest. Always asks the
 * registry (latest changes). Sets *id and *version (either may be NULL) and, when schema is
 * not NULL, *schema to a malloc'd copy of its text the caller frees. Returns PE_OK;
 * PE_ENOTFOUND for an unknown subject; or a request error below.
 */
int pe_sr_latest(struct pe_sr *sr, const char *subject, int *id, int *version, char **schema);

/*
 * Tell the cache what the caller persisted earlier (id and version of schema under subject),
 * so pe_sr_register and pe_sr_lookup answer without the registry. Replaces an entry of the
 * same subject and schema text. Returns PE_OK, PE_EINVAL or PE_ENOMEM.
 */
int pe_sr_cache_put(struct pe_sr *sr, const char *subject, const char *schema, int id, int version);

/* The message of the last failed call ("" after a success); valid until the next call. */
const char *pe_sr_errmsg(const struct pe_sr *sr);

/*
 * Request errors, shared by register, lookup and latest:
 *   PE_EINVAL     bad arguments, or HTTP 422 (the registry rejects the schema as invalid)
 *   PE_ENOTFOUND  HTTP 404 (subject 40401, version 40402 or schema 40403 not found)
 *   PE_EDECLINED  HTTP 401 or 403 (credentials refused), or 409 (incompatible with the
 *                 subject's earlier versions under its compatibility rule)
 *   PE_EBUSY      HTTP 429 (rate limited)
 *   PE_EIO        cannot connect or resolve, TLS failure, HTTP 5xx or another status
 *   PE_ETIMEDOUT  connect or request timeout
 *   PE_EPARSE     a 2xx answer that is not the JSON expected (no integer "id")
 *   PE_ENOMEM
 * Every one of them leaves its message for pe_sr_errmsg.
 */

#endif
