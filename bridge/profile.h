/* SPDX-License-Identifier: Apache-2.0 */
/*
 * profile.h - output profiles: how one spooled event becomes the Kafka records of each sink.
 *
 * A sink (bridge_cfg.h, "sinks") names a profile, its topic and the profile's own options. A
 * profile is one const struct profile_ops in a file of its own (profile_native.c,
 * profile_json.c, profile_avro.c), in the manner of Fluent Bit's output plugins: its name, its
 * configuration map (a pe_cfg_opt table over a struct of its own, which drives the parsing,
 * defaults, validation, --help and --print-config of its sink keys), and three hooks: init
 * makes the sink's state (registry clients, schema ids, a catalog: nothing global), map turns
 * one event into zero or more records, exit frees the state. The one list of profiles is the
 * table in profile.c; every name list in messages and help comes from it. Adding a profile is
 * its file and one line of that table.
 *
 * profile_map_event runs every started sink over an event and gives each record what all
 * profiles share: key "<store>/<terminal>" (one till's records stay in one partition, in seq
 * order), timestamp = the event time, headers id, type, store, terminal, seq (and profile, for
 * any sink but the implicit native one), and the late flag. The records of all sinks for one
 * event are produced as one unit (output_produce_event), so in transactional mode they are
 * committed together, exactly once across all sinks.
 *
 * The invariant: mapping never stops the bridge. An event a profile cannot map (a body it does
 * not understand) becomes, for that sink only, a dead letter on topics.dlq with the original
 * bytes and headers reason, topic, profile, sink, and the event's ids. Mapping is a pure
 * function of the event, the configuration and what init learned, except for the late flag,
 * which depends on the time of producing (an event produced again after an abort is judged
 * again). Only init may block (registry calls, a master data flush): it runs at start, before
 * the drain, never on the loop.
 */
#ifndef POSEDGE_BRIDGE_PROFILE_H
#define POSEDGE_BRIDGE_PROFILE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bridge/bridge_cfg.h"
#include "bridge/output.h"
#include "posedge/cfg.h"
#include "posedge/event.h"
#include "posedge/protocol.h"

struct pe_spool;

/* One spooled event, borrowed for the duration of a call. */
struct profile_event {
    const char *store;         /* store id */
    const char *terminal;      /* terminal id */
    const char *id;            /* event UUID */
    const char *type;          /* "sale", ... */
    enum pe_event_type etype;  /* type as the enum (profile_map_event sets it) */
    int64_t seq;               /* per-terminal sequence */
    int64_t ts_ms;             /* event time, UTC ms */
    const char *rec;           /* the canonical record */
    size_t len;                /* its length */
    const cJSON *doc;          /* rec parsed (profile_map_event parses it when a sink needs it) */
    const char *sig;           /* its signature as the till sent it (NUL-terminated JSON), NULL:
                                * none; every record of the event carries it as the header
                                * posedge-sig */
    const char *rejected;      /* NULL, or why the intake's signature check refused it: then the
                                * event maps to one dead letter with that reason, and no sink
                                * sees it */
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
    char source[PE_TOPIC_MAX];       /* a dead letter's topic header: the events' MQTT topic */
};

/* One started sink: what every hook gets. */
struct profile_sink {
    const struct profile_ops *ops;  /* its profile */
    const struct bridge_sink *conf; /* its configuration: name, topic, late; conf->opts is the
                                       profile's own options struct (its config map's) */
    const struct bridge_cfg *cfg;   /* the bridge's (store, topics.<type>, kafka) */
    void *state;                    /* what init made, NULL until then (or when it made none) */
};

struct profile_ops {
    const char *name;          /* the "profile" value in a sink */
    const char *default_topic; /* a sink's topic when it names none; NULL: the profile routes by
                                  event type (topics.<type>) and a sink of it takes no topic */
    /* The sink keys of this profile beyond the common ones (name, topic, late, lateness_s): a
     * {NULL}-ended table whose offsets are into a struct of config_size bytes, which the
     * configuration allocates, fills with defaults and the sink's values, and hands to the
     * hooks as conf->opts. An STR key whose default is "" and whose min is 1 is required.
     * NULL: none. */
    const struct pe_cfg_opt *config;
    size_t config_size;
    bool needs_doc; /* map reads ev->doc */
    /* The event types map is called for (PE_EV_BIT of each, or PE_EV_ALL); an event of another
     * type makes no record of this profile. So a new event type is mapped only by the profiles
     * that name it, and touches no other profile's file. */
    uint64_t types;
    /* Training records (a sale, return or void whose body says "training":true, report.h) are
     * mapped too. false: they make no record of this profile, as analytics should never count
     * them (the bridge parses the record for such a sink). */
    bool keeps_training;
    /*
     * Optional. Make the sink ready to map: set s->state. spool keeps what the profile learns
     * across restarts (pe_spool_meta_*, keys under a prefix of the profile's; may be NULL: then
     * nothing is kept). May block (start-up only). err names the sink and what failed. Returns
     * PE_OK or an error, which stops the bridge's start (PE_EINVAL: the configuration names
     * something unusable). On error the hook frees what it made; exit is not called.
     */
    int (*init)(struct profile_sink *s, struct pe_spool *spool, char *err, size_t errlen);
    /*
     * Add the event's records with profile_out_add (zero or more). Returns PE_OK, or
     * PE_EINVAL with why saying what the profile cannot map: then whatever this call added is
     * taken back and the event is a dead letter for this sink. PE_ENOMEM likewise fails the
     * sink, and the caller retries the event later.
     */
    int (*map)(struct profile_sink *s, const struct profile_event *ev, struct profile_out *out,
               char *why, size_t whylen);
    /* Optional. Free s->state (init succeeded). */
    void (*exit)(struct profile_sink *s);
};

/* The profile of that name, or NULL. */
const struct profile_ops *profile_find(const char *name);

/* The profile of the implicit sink when a configuration has none ("native"). */
const struct profile_ops *profile_implicit(void);

/* "native, purchases-json, ..." (every profile of the table, in its order) into buf. */
const char *profile_names(char *buf, size_t len);

/* --help: each profile's own sink keys (pe_cfg_help of its config map). */
void profile_help(FILE *out);

/* The started sinks of a configuration. */
struct profile_set;

/*
 * Start every sink of cfg (its profile's init), in order. cfg (with its sinks' options) and
 * spool are borrowed until profile_set_destroy. err names the sink. Errors: as the failing
 * init (PE_EIO, PE_EDECLINED, PE_EINVAL ...), PE_ENOMEM; nothing is left started.
 */
int profile_set_create(const struct bridge_cfg *cfg, struct pe_spool *spool,
                       struct profile_set **out, char *err, size_t errlen);

/* Stop every sink (exit hooks, in reverse order) and free. NULL is a no-op. */
void profile_set_destroy(struct profile_set *ps);

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
 * Map ev through every sink of ps into out (reset first), and give each record its key,
 * timestamp and headers. now_ms is the time of producing, for the late flag. The records
 * borrow ev's strings and bytes and out's: produce them before either changes. Returns PE_OK
 * (out->n records, possibly 0), or PE_ENOMEM.
 */
int profile_map_event(struct profile_set *ps, const struct profile_event *ev, int64_t now_ms,
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

#endif
