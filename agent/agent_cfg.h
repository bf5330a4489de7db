/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent_cfg.h - posedge-agent's configuration: one struct and the table that drives its
 * defaults, parsing, validation, --print-config and --help (common/cfg.c does the work).
 */
#ifndef POSEDGE_AGENT_CFG_H
#define POSEDGE_AGENT_CFG_H

#include <stdbool.h>
#include <stdint.h>

#include "posedge/cfg.h"
#include "posedge/clock.h"
#include "posedge/event.h"
#include "posedge/hal/hal.h"
#include "posedge/http.h"
#include "posedge/signer.h"

#define AGENT_PATH_MAX 256

struct agent_devcfg {
    char driver[16];           /* HAL driver name */
    char path[AGENT_PATH_MAX]; /* device node or file; "" for the driver's default */
    char options[128];         /* driver options (hal.h), "" for the driver's defaults */
};

struct agent_cfg {
    char store[PE_ID_MAX];         /* store id */
    char terminal[PE_ID_MAX];      /* terminal id */
    char currency[4];              /* ISO 4217 code of the catalog's prices */
    char title[40];                /* first line of every receipt */
    char data_dir[AGENT_PATH_MAX]; /* journal.db, receipts.txt, drawer.log */
    char catalog[AGENT_PATH_MAX];  /* catalog file; relative paths from the config's folder */
    char log_level[8];             /* debug, info, warn, error */
    int64_t journal_max_mb;        /* journal size quota in MiB; 0: no quota */
    int64_t journal_keep_days;     /* closed, delivered periods kept this long, then archived */
    char journal_archive_dir[AGENT_PATH_MAX]; /* where they go ("": <data_dir>/archive) */
    char signer_type[PE_SIGNER_NAME_MAX];  /* signer.h's implementation, or "none" */
    char signer_key_file[AGENT_PATH_MAX];  /* the software signer's key ("": data_dir's) */
    char signer_pkcs11_module[AGENT_PATH_MAX];   /* pkcs11: the PKCS#11 module */
    char signer_pkcs11_token[33];                /* pkcs11: the token's label */
    char signer_pkcs11_pin_file[AGENT_PATH_MAX]; /* pkcs11: the user PIN's file (a secret) */
    char signer_pkcs11_key[65];                  /* pkcs11: the key's label on the token */
    int64_t signer_retry_ms;               /* signer down: try again at most this often */
    int64_t signer_down_alarm_s;           /* signer down this long: alarm */
    bool till_training;                    /* training mode: flagged, kept out of every total */
    struct agent_devcfg dev[PE_DEV__COUNT]; /* devices.<class>.*, by class (hal.h) */
    int64_t sim_seed;       /* shopper seed in daemon mode */
    char sim_start[PE_TIME_STRLEN]; /* simulated clock's start, UTC event-time text; "": now */
    int64_t sim_speed;      /* simulated seconds per real second in daemon mode */
    int64_t sim_tx_per_day; /* shopper customers per trading day */
    int64_t sim_card_pm, sim_return_pm, sim_void_pm, sim_decline_pm, sim_nosale_pm;
    int64_t sim_open_hour, sim_close_hour; /* the simulated shop's trading hours, UTC */
    char mqtt_host[256];                   /* MQTT broker of the uplink; "" turns the uplink off */
    int64_t mqtt_port;                     /* its port */
    int64_t mqtt_keepalive_s;              /* MQTT keepalive, seconds */
    char mqtt_username[65];                /* MQTT username ("": none); the ACL expects the
                                            * terminal id */
    char mqtt_password_file[AGENT_PATH_MAX]; /* first line: the MQTT password ("": none) */
    char mqtt_tls_ca_file[AGENT_PATH_MAX];   /* the broker's CA ("": plaintext, a lab) */
    char mqtt_tls_cert_file[AGENT_PATH_MAX]; /* the till's certificate (mutual TLS) */
    char mqtt_tls_key_file[AGENT_PATH_MAX];  /* its key, made here at enrolment (0600) */
    char enrol_token_file[AGENT_PATH_MAX];   /* one-time enrolment token ("": none) */
    int64_t enrol_port;                      /* the broker's enrolment listener */
    int64_t enrol_renew_days;                /* renew when fewer days are left */
    int64_t fleet_state_interval_s;          /* retained state republished this often */
    int64_t fleet_cmd_max_age_s;             /* older (or that far future) commands are refused */
    int64_t uplink_batch_max;                /* records per events message */
    int64_t uplink_batch_bytes;              /* bytes per events message */
    int64_t uplink_window;                   /* records sent and not yet spooled by the bridge */
    int64_t uplink_resend_ms;                /* ack stall after which the uplink sends again */
    int64_t catalog_timeout_ms;              /* a catalog transfer not complete is asked again */
    char http_listen[PE_HTTP_LISTEN_MAX];    /* /metrics, /health: HOST:PORT, "" off */
    int64_t health_device_offline_s;         /* a device failed this long fails /health */
    int64_t health_disk_min_mb;              /* less free disk than this fails /health */
    int64_t upgrade_watch_s;                 /* the new version's first seconds, judged */
    int64_t upgrade_hold_max_s;              /* longest hold of the till while upgrading */
};

extern const struct pe_cfg_opt agent_cfg_table[];

/* The signer's configuration from c (signer.h), its strings borrowed from c; the software
 * signer's key file ("": <data_dir>/signer.key) into path (len bytes, AGENT_PATH_MAX + 16 is
 * enough). One place for the daemon's open and the self-test's look. */
#define AGENT_SIGNER_PATH_MAX (AGENT_PATH_MAX + 16)
void agent_signer_conf(const struct agent_cfg *c, char path[AGENT_SIGNER_PATH_MAX],
                       struct pe_signer_conf *out);

#endif
