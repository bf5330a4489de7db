/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridge_cfg.h - posedge-bridge's configuration: one struct and the table that drives its
 * defaults, parsing, validation, --print-config and --help. "kafka.properties" is the one
 * free-form object: any librdkafka property, passed through unchanged (tuning), except those
 * the security settings own (kafka.security_protocol, kafka.sasl.*, kafka.tls.*: posedge/
 * kafka_conf.h, which refuses them there and says what to write instead).
 * "sinks" is a list of output sinks: the keys every sink has are a table here, the keys of a
 * profile are its own table (profile.h, struct profile_ops.config), and both are parsed,
 * checked and printed by the same code.
 */
#ifndef POSEDGE_BRIDGE_CFG_H
#define POSEDGE_BRIDGE_CFG_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "posedge/cfg.h"
#include "posedge/event.h"
#include "posedge/http.h"
#include "posedge/kafka_conf.h"

#define BRIDGE_PATH_MAX 256
#define BRIDGE_TOPIC_MAX 128
#define BRIDGE_SINKS_MAX 8

/* X(name, value, what it does) - a sink's handling of late events ("late"). */
#define BRIDGE_LATE_MODES(X)                                                                       \
    X(OFF, "off", NULL)                                                                            \
    X(FLAG, "flag", "a header")                                                                    \
    X(ROUTE, "route", "a header, and to <topic>.late")

enum bridge_late {
#define BRIDGE__LATE_ENUM(name, str, what) BRIDGE_LATE_##name,
    BRIDGE_LATE_MODES(BRIDGE__LATE_ENUM)
#undef BRIDGE__LATE_ENUM
        BRIDGE_LATE__COUNT
};

struct profile_ops;

/* One output sink ("sinks" in the file): a profile (profile.h), its topic and its options. */
struct bridge_sink {
    char name[PE_ID_MAX];              /* unique among sinks; default: the profile's name */
    const struct profile_ops *profile; /* its profile */
    char topic[BRIDGE_TOPIC_MAX];      /* "" for a profile that routes by type (native:
                                          topics.<type>); else the profile's default */
    char late[8];                      /* off, flag (a header) or route (header and .late) */
    enum bridge_late late_mode;        /* late, parsed */
    int64_t lateness_s;                /* older than this at produce time is late */
    void *opts; /* the profile's own options (the struct of its config map), owned; NULL when
                   it has none */
};

struct bridge_cfg {
    char store[PE_ID_MAX];          /* the store this bridge serves */
    char bridge_id[PE_ID_MAX];      /* "" means the store id (bridge_cfg_id gives the value) */
    char data_dir[BRIDGE_PATH_MAX]; /* spool.db lives here */
    char log_level[8];              /* debug, info, warn, error */
    char mqtt_host[128];            /* in-store broker */
    int64_t mqtt_port;
    int64_t mqtt_keepalive_s;
    char mqtt_username[128];                    /* "" for none (the broker's ACL names it) */
    char mqtt_password_file[BRIDGE_PATH_MAX];   /* first line: the MQTT password ("": none) */
    char mqtt_tls_ca_file[BRIDGE_PATH_MAX];     /* the broker's CA ("": plaintext, a lab) */
    char mqtt_tls_cert_file[BRIDGE_PATH_MAX];   /* the bridge's certificate, CN <store>/bridge */
    char mqtt_tls_key_file[BRIDGE_PATH_MAX];    /* its key (0600) */
    char mqtt_tls_crl_file[BRIDGE_PATH_MAX];    /* the CRL the broker serves, watched ("": the
                                                   CA directory's, if any) */
    char pki_dir[BRIDGE_PATH_MAX];              /* the store CA that signs enrolments ("": the
                                                   bridge does not sign) */
    char kafka_brokers[512];                    /* bootstrap.servers */
    int64_t kafka_max_inflight;                 /* records produced and not yet acknowledged */
    char kafka_mode[16];                        /* "transactional" or "idempotent" */
    struct pe_kafka_security kafka_security;    /* kafka.security_protocol, kafka.sasl.*,
                                                   kafka.tls.* (files named, never read here) */
    char state_topic[BRIDGE_TOPIC_MAX];         /* compacted topic of committed watermarks */
    char telemetry_topic[BRIDGE_TOPIC_MAX];     /* state documents, best effort */
    int64_t txn_max_events;                     /* records per Kafka transaction */
    int64_t txn_interval_ms;                    /* longest a transaction stays open */
    char topic[PE_EV__COUNT][BRIDGE_TOPIC_MAX]; /* Kafka topic per event type */
    char topic_dlq[BRIDGE_TOPIC_MAX];           /* dead letters */
    bool catalog_enabled;                       /* consume and serve the store's catalog */
    char catalog_topic[BRIDGE_TOPIC_MAX];       /* HQ's item records (compacted) */
    char catalog_promotions_topic[BRIDGE_TOPIC_MAX]; /* HQ's promotion records (compacted) */
    char catalog_rejects_topic[BRIDGE_TOPIC_MAX];    /* records refused, with the reason */
    int64_t max_payload;                        /* largest MQTT payload accepted, bytes */
    int64_t verify_threads;                     /* intake's helper threads, -1: auto */
    int64_t drain_events_per_s; /* pace toward Kafka; 0: as fast as Kafka takes them */
    int64_t drain_bytes_per_s;  /* likewise in record bytes; 0: unlimited */
    int64_t spool_max_mb;       /* quota of undelivered records; 0: none */
    int64_t state_interval_s;   /* the retained state is republished this often */
    char http_listen[PE_HTTP_LISTEN_MAX]; /* /metrics, /health: HOST:PORT, "" off */
    int64_t alarm_till_silent_s; /* a till with no state document this long is offline */
    int64_t alarm_backlog_age_s; /* backlog_old: a till's oldest event not in Kafka older */
    int64_t alarm_spool_pct;     /* spool_high: the spool above this share of its quota */
    int64_t alarm_cert_days;     /* cert_expiry: a certificate with fewer days left */
    cJSON *kafka_properties;    /* owned: object of string values (may be empty) */
    struct bridge_sink sinks[BRIDGE_SINKS_MAX]; /* output sinks, at least one (their options
                                                   are owned here: a copy of the struct
                                                   borrows them, like kafka_properties) */
    int nsinks;
    bool sinks_set; /* "sinks" was in the file (else: one native sink, late "off") */
};

extern const struct pe_cfg_opt bridge_cfg_table[];

/*
 * Defaults, then the file (path may be NULL), taking "kafka.properties" and "sinks" out before
 * the table checks the rest. err names the file and key ("sinks[1].profile: ..."). Errors as
 * pe_cfg_load_file; PE_EINVAL for a property whose value is not a string, number or boolean,
 * or a sink that is not valid (unknown profile or key, bad topic, duplicate name).
 */
int bridge_cfg_load(struct bridge_cfg *c, const char *path, char *err, size_t errlen);

/* Print the effective configuration, properties and sinks included (values of properties
 * whose keys contain "password" or "secret" are masked). */
int bridge_cfg_print(const struct bridge_cfg *c, FILE *out);

/* --help: the keys of the table, then the keys of a sink and each profile's own. */
void bridge_cfg_help(FILE *out);

/* Free what load allocated (properties, the sinks' options). A zeroed struct is fine. */
void bridge_cfg_free(struct bridge_cfg *c);

/*
 * The MQTT password: the first line of mqtt.password_file (without its line end) into out, or
 * "" when no file is configured (pe_secret_read; a file its group may write or others read is
 * refused, naming the file and its mode). Never logged; the caller wipes out when done. err
 * names the key and the file. Errors: PE_EIO (unreadable), PE_EINVAL (the line does not fit in
 * outlen, or the mode is too open), PE_ENOMEM.
 */
int bridge_cfg_password(const struct bridge_cfg *c, char *out, size_t outlen, char *err,
                        size_t errlen);

/* The CRL file the bridge watches: mqtt.tls.crl_file, else <pki.dir>/crl.pem, else NULL. out
 * holds the path (BRIDGE_PATH_MAX + 16 bytes). */
const char *bridge_cfg_crl(const struct bridge_cfg *c, char *out, size_t outlen);

/* The bridge's id: bridge_id, or the store id when that is empty. */
const char *bridge_cfg_id(const struct bridge_cfg *c);

/* True in transactional (exactly-once) mode (kafka.mode, output.h's modes). */
bool bridge_cfg_transactional(const struct bridge_cfg *c);

#endif
