/* SPDX-License-Identifier: Apache-2.0 */
/*
 * profile.h - output profiles: how one spooled event becomes the Kafka records of each sink.
 *
 * A sink (bridge_cfg.h, "sinks") names a profile and its topic. A profile is a const ops struct
 * (profile_native.c, profile_json.c) whose map turns one event into zero or more records
 * (topic and value); profile_map_event runs every configured sink over an event and gives each
 * record what all profiles share: key "<store>/<terminal>" (one till's records stay in one
 * partition, in seq order), timestamp = the event time, headers id, type, store, terminal, seq
 * (and profile, for any sink but the implicit native one), and the late flag. The records of all
 * sinks for one event are produced as one unit (output_produce_event), so in transactional mode
 * they are committed together, exactly once across all sinks.
 *
 * The invariant: mapping never stops the bridge. An event a profile cannot map (a body it does
 * not understand) becomes, for that sink only, a dead letter on topics.dlq with the original
 * bytes and headers reason, topic, profile, sink, and the event's ids. Mapping is a pure
 * function of the event and the configuration, except for the late flag, which depends on the
 * time of producing (an event produced again after an abort is judged again).
 */
#ifndef POSEDGE_BRIDGE_PROFILE_H
#define POSEDGE_BRIDGE_PROFILE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bridge/bridge_cfg.h"
#include "bridge/output.h"

/* One spooled event, borrowed for the duration of a call. */
struct profile_event {
    const char *store;    /* store id */
    const char *terminal; /* terminal id */
    const char *id;       /* event UUID */
    const char *type;     /* "sale", ... */
    int64_t seq;          /* per-terminal sequence */
    int64_t ts_ms;        /* event time, UTC ms */
    const char *rec;      /* the canonical record */
    size_t len;           /* its length */
    const cJSON *doc;     /* rec parsed (profile_map_event parses it when a sink needs it) */
};

/* The records made of one event so far (opaque outside profile.c but for recs and n). */
struct profile_out {
    struct output_rec *recs; /* n records, ready for output_produce_event */
    int n;
    int cap;
    struct profile_slot *slots;      /* what each record owns (topic, value, header values) */
    int late;                        /* records flagged late by the last profile_map_event */
    int dead;                        /* dead letters made by the last profile_map_event */
    char key[2 * PE_ID_MAX];         /* "<store>/<terminal>", the key of every record */
    char seq[24];                    /* the seq header */
    char source[2 * PE_ID_MAX + 24]; /* a dead letter's topic header: the events' MQTT topic */
};

struct profile_ops {
    const char *name;           /* the "profile" value in a sink */
    const char *default_topic;  /* a sink's topic when it names none (NULL: native's map) */
    const char *const *options; /* further keys a sink of this profile takes (NULL-ended) */
    bool needs_doc;             /* map reads ev->doc */
    /*
     * Add the event's records with profile_out_add (zero or more). Returns PE_OK, or
     * PE_EINVAL with why saying what the profile cannot map: then whatever this call added is
     * taken back and the event is a dead letter for this sink. PE_ENOMEM likewise fails the
     * sink, and the caller retries the event later.
     */
    int (*map)(const struct bridge_sink *s, const struct bridge_cfg *cfg,
               const struct profile_event *ev, struct profile_out *out, char *why, size_t whylen);
};

extern const struct profile_ops profile_native;
extern const struct profile_ops profile_purchases_json;
extern const struct profile_ops profile_retail_json;
extern const struct profile_ops profile_orders_json;
extern const struct profile_ops profile_inventory_avro;
extern const struct profile_ops profile_orders_avro;

/* The profile of that name, or NULL. */
const struct profile_ops *profile_find(const char *name);

/* "native, purchases-json, ..." for messages. */
const char *profile_names(void);

/*
 * Add one record to topic (copied). val is taken over when owned (malloc'd; freed by the
 * next reset, also on error), else borrowed until the records are produced. Errors: PE_ENOMEM.
 */
int profile_out_add(struct profile_out *out, const char *topic, void *val, size_t len, bool owned);

/*
 * Add one record with a key of its own instead of the shared "<store>/<terminal>" (the Avro
 * profiles' Confluent-framed keys). key and val are malloc'd and taken over, also on error.
 * Errors: PE_ENOMEM.
 */
int profile_out_add_keyed(struct profile_out *out, const char *topic, void *key, size_t keylen,
                          void *val, size_t len);

/* Free what the records own and start empty (the arrays are kept for the next event). */
void profile_out_reset(struct profile_out *out);

/* Free everything. */
void profile_out_free(struct profile_out *out);

/*
 * Map ev through every sink of cfg into out (reset first), and give each record its key,
 * timestamp and headers. now_ms is the time of producing, for the late flag. The records
 * borrow ev's strings and bytes and out's: produce them before either changes. Returns PE_OK
 * (out->n records, possibly 0), or PE_ENOMEM.
 */
int profile_map_event(const struct bridge_cfg *cfg, const struct profile_event *ev, int64_t now_ms,
                      struct profile_out *out);

/* ---- helpers for profiles (profile.c) ---- */

/* A growing string; a failed append sets failed and keeps the rest. */
struct profile_buf {
    char *s;
    size_t len, cap;
    bool failed;
};

void pb_str(struct profile_buf *b, const char *s);            /* raw text */
void pb_json_str(struct profile_buf *b, const char *s);       /* a JSON string, or null for NULL */
void pb_int(struct profile_buf *b, int64_t v);                /* a JSON integer */
void pb_money(struct profile_buf *b, int64_t minor, int exp); /* minor units as a decimal */

/* Minor-unit digits of an ISO 4217 currency (2 unless listed otherwise; NULL: 2). */
int profile_currency_exp(const char *currency);

/* Format event time ms as UTC with a pattern of dd MM yyyy HH mm ss and literal characters. */
void profile_time(int64_t ms, const char *pattern, char *out, size_t outlen);

/* ---- the Avro profiles' start-up (profile_avro.c) ---- */

struct pe_spool;

/*
 * Make the Avro sinks of cfg ready to map: parse their writer schemas, learn each subject's
 * schema id (the ids kept in the spool first, then the Schema Registry: register, or when the
 * registry refuses, its latest version; every id learned is kept in the spool), load the
 * catalog, and publish the master data topics of inventory-avro sinks (best effort). Blocks
 * for the registry's and Kafka's timeouts: call it at start, before the drain. Does nothing
 * without Avro sinks. spool may be NULL (nothing kept). err names the sink, the subject and
 * the registry URL. Errors: PE_EIO (the registry cannot be reached and the spool has no id for
 * a subject), PE_EDECLINED (it refused both registration and lookup), PE_EINVAL (a bad
 * catalog or schema), PE_ENOMEM.
 */
int profile_avro_start(const struct bridge_cfg *cfg, struct pe_spool *spool, char *err,
                       size_t errlen);

/* Free what profile_avro_start made; safe to call when it was not called or failed. */
void profile_avro_stop(void);

#endif
