/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent_cfg.c - the table of posedge-agent's configuration keys. Adding a key is one line
 * here and one field in agent_cfg.h; parsing, defaults, checks, --print-config and --help all
 * follow from the table.
 */
#include "agent/agent_cfg.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/log.h"
#include "posedge/protocol.h"

static int check_currency(const void *v, char *why, size_t len)
{
    const char *s = v;
    if (strlen(s) != 3 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' || s[2] < 'A' ||
        s[2] > 'Z') {
        snprintf(why, len, "must be an ISO 4217 code such as \"EUR\"");
        return PE_EINVAL;
    }
    return PE_OK;
}

/* A host name or address for getaddrinfo: no blanks or control characters. */
static int check_host(const void *v, char *why, size_t len)
{
    for (const unsigned char *p = v; *p; p++) {
        if (*p <= ' ' || *p == 0x7f || *p == '/') {
            snprintf(why, len, "must be a host name or address without blanks or '/'");
            return PE_EINVAL;
        }
    }
    return PE_OK;
}

/* A terminal id; the store bridge's reserved names on the store's topics are not one. */
static int check_terminal(const void *v, char *why, size_t len)
{
    if (pe_id_reserved(v)) {
        snprintf(why, len, "\"%s\" is reserved for the store's bridge (docs/protocol.md)",
                 (const char *)v);
        return PE_EINVAL;
    }
    return pe_cfg_check_id(v, why, len);
}

/* The simulated clock's start: "" (now) or a UTC time in event-time format, 1970 or later. */
static int check_sim_start(const void *v, char *why, size_t len)
{
    int64_t ms = 0;
    if (*(const char *)v == '\0' || (pe_time_parse(v, &ms) == PE_OK && ms >= 0))
        return PE_OK;
    snprintf(why, len, "must be \"\" (now) or a UTC time such as \"2026-03-02T07:55:00.000Z\"");
    return PE_EINVAL;
}

/* A built-in signer's name, or "none". */
static int check_signer(const void *v, char *why, size_t len)
{
    if (strcmp(v, PE_SIGNER_ALG_NONE) == 0 || pe_signer_find(v))
        return PE_OK;
    snprintf(why, len, "must be one of: %s, none", pe_signer_names());
    return PE_EINVAL;
}

#define STR(k, f, d, lo, hi, h, c)                                                                 \
    {                                                                                              \
        k, PE_CFG_STR, offsetof(struct agent_cfg, f), sizeof(((struct agent_cfg *)0)->f), d, lo,   \
            hi, h, c                                                                               \
    }
#define INT(k, f, d, lo, hi, h)                                                                    \
    {                                                                                              \
        k, PE_CFG_INT, offsetof(struct agent_cfg, f), 0, d, lo, hi, h, NULL                        \
    }
#define BOOL(k, f, d, h)                                                                           \
    {                                                                                              \
        k, PE_CFG_BOOL, offsetof(struct agent_cfg, f), 0, d, 0, 0, h, NULL                         \
    }
/* The three keys of each device class (PE_DEV_CLASSES), in the classes' order. */
#define DEV(e, cls, label, input)                                                                  \
    STR("devices." #cls ".driver", dev[PE_DEV_##e].driver, "fake", 1, 15,                          \
        "HAL driver of the " #cls, pe_cfg_check_id),                                               \
        STR("devices." #cls ".path", dev[PE_DEV_##e].path, "", 0, AGENT_PATH_MAX - 1,              \
            "device path of the " #cls " (\"\": driver default)", NULL),                           \
        STR("devices." #cls ".options", dev[PE_DEV_##e].options, "", 0, 127,                       \
            "driver options of the " #cls ", e.g. \"baud=9600 parity=none bits=8\"", NULL),

const struct pe_cfg_opt agent_cfg_table[] = {
    STR("store", store, "s001", 1, 32, "store id", pe_cfg_check_id),
    STR("terminal", terminal, "t01", 1, 32, "terminal (till) id", check_terminal),
    STR("currency", currency, "EUR", 3, 3, "ISO 4217 currency of all amounts", check_currency),
    STR("title", title, "posedge demo store", 0, 39, "first line of every receipt", NULL),
    STR("data_dir", data_dir, "/var/lib/posedge", 1, AGENT_PATH_MAX - 1,
        "directory of journal.db (and the fake devices' files)", NULL),
    STR("catalog", catalog, "catalog.json", 1, AGENT_PATH_MAX - 1,
        "item catalog; a relative path is taken from the config file's directory", NULL),
    STR("log_level", log_level, "info", 1, 7, "debug, info, warn or error", pe_cfg_check_log_level),
    INT("journal.max_mb", journal_max_mb, "0", 0, 1048576,
        "journal size quota in MiB (0: none); when full, sales are refused, nothing is evicted"),
    INT("journal.keep_days", journal_keep_days, "31", 0, 36500,
        "days of closed periods kept in the live journal: a period closed by a Z report this "
        "much older than the newest event, and delivered to the bridge, is archived to "
        "journal.archive_dir and pruned"),
    STR("journal.archive_dir", journal_archive_dir, "", 0, AGENT_PATH_MAX - 1,
        "where pruned periods are archived (docs/audit.md; \"\": <data_dir>/archive)", NULL),
    STR("signer.type", signer_type, "software", 1, PE_SIGNER_NAME_MAX - 1,
        "fiscal signer of every journal event: software (an ECDSA P-256 key made on the till), "
        "pkcs11 (a key made on a PKCS#11 token, where built) or none (unsigned; turning signing "
        "off is journaled)",
        check_signer),
    STR("signer.key_file", signer_key_file, "", 0, AGENT_PATH_MAX - 1,
        "the software signer's private key, made on first use (mode 0600, never printed; "
        "\"\": <data_dir>/signer.key)",
        NULL),
    STR("signer.pkcs11_module", signer_pkcs11_module, "", 0, AGENT_PATH_MAX - 1,
        "the pkcs11 signer's PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so", NULL),
    STR("signer.pkcs11_token", signer_pkcs11_token, "posedge", 1, 32,
        "the pkcs11 signer's token, found by its label", NULL),
    STR("signer.pkcs11_pin_file", signer_pkcs11_pin_file, "", 0, AGENT_PATH_MAX - 1,
        "file whose first line is the pkcs11 token's user PIN (mode 0600 or 0640, never logged)",
        NULL),
    STR("signer.pkcs11_key", signer_pkcs11_key, "posedge-fiscal", 1, 64,
        "the pkcs11 signer's key on the token (CKA_LABEL), made there on first use, sign-only "
        "and never extractable",
        NULL),
    INT("signer.retry_ms", signer_retry_ms, "1000", 0, 3600000,
        "while the signer is down, try it again before an event at most this often, by the "
        "till's clock (0: before every event)"),
    INT("signer.down_alarm_s", signer_down_alarm_s, "300", 0, 31536000,
        "the till's state raises the signer_down alarm once the signer has been down this "
        "long, by the till's clock"),
    PE_DEV_CLASSES(DEV)
    BOOL("till.training", till_training, "false",
         "training mode: sales, returns and voids are flagged \"training\", print TRAINING and stay "
         "out of every total and out of stock (live: from the next basket)"),
    INT("sim.seed", sim_seed, "1", 0, INT64_MAX, "shopper seed (daemon mode on the sim board)"),
    STR("sim.start", sim_start, "", 0, PE_TIME_STRLEN - 1,
        "simulated clock's start, UTC \"YYYY-MM-DDTHH:MM:SS.mmmZ\" (\"\": now); never behind "
        "the journal's last event",
        check_sim_start),
    INT("sim.speed", sim_speed, "720", 1, 1000000,
        "simulated seconds per real second (720: a 12-hour day in a minute)"),
    INT("sim.tx_per_day", sim_tx_per_day, "300", 1, 100000, "shopper customers per trading day"),
    INT("sim.card_pm", sim_card_pm, "550", 0, 1000, "per mille of customers paying by card"),
    INT("sim.return_pm", sim_return_pm, "30", 0, 1000, "per mille of customers returning goods"),
    INT("sim.void_pm", sim_void_pm, "20", 0, 1000, "per mille of transactions cancelled"),
    INT("sim.decline_pm", sim_decline_pm, "40", 0, 1000, "per mille of card payments declined"),
    INT("sim.nosale_pm", sim_nosale_pm, "15", 0, 1000, "per mille of no-sale drawer openings"),
    INT("sim.open_hour", sim_open_hour, "8", 0, 22, "simulated shop opens (UTC hour)"),
    INT("sim.close_hour", sim_close_hour, "20", 1, 23,
        "simulated shop closes (UTC hour; then shift close and Z report)"),
    STR("mqtt.host", mqtt_host, "", 0, 255,
        "MQTT broker of the uplink to the bridge (\"\": uplink off; --mqtt HOST:PORT)", check_host),
    INT("mqtt.port", mqtt_port, "1883", 1, 65535, "MQTT broker port"),
    INT("mqtt.keepalive_s", mqtt_keepalive_s, "30", 5, 65535,
        "MQTT keepalive in seconds (a silent broker is noticed within 1.5 times this)"),
    STR("mqtt.username", mqtt_username, "", 0, 64,
        "MQTT username (\"\": none); with the store ACL it is the terminal id", NULL),
    STR("mqtt.password_file", mqtt_password_file, "", 0, AGENT_PATH_MAX - 1,
        "file whose first line is the MQTT password (\"\": none; mode 0600 or 0640)", NULL),
    STR("mqtt.tls.ca_file", mqtt_tls_ca_file, "", 0, AGENT_PATH_MAX - 1,
        "CA certificate the broker's certificate and host name are verified against (\"\": "
        "plaintext MQTT, a lab only: warned at every start)",
        NULL),
    STR("mqtt.tls.cert_file", mqtt_tls_cert_file, "", 0, AGENT_PATH_MAX - 1,
        "the till's certificate, CN <store>/<terminal> (mutual TLS); written by enrolment", NULL),
    STR("mqtt.tls.key_file", mqtt_tls_key_file, "", 0, AGENT_PATH_MAX - 1,
        "the till's private key (mode 0600; made on the till at enrolment, never leaves it)",
        NULL),
    STR("enrol.token_file", enrol_token_file, "", 0, AGENT_PATH_MAX - 1,
        "one-time enrolment token (posedge-ctl pki token): with no certificate yet the till "
        "enrols with it, then removes it (\"\": none)",
        NULL),
    INT("enrol.port", enrol_port, "8884", 1, 65535,
        "the broker's enrolment listener (TLS, no client certificate) on mqtt.host"),
    INT("enrol.renew_days", enrol_renew_days, "30", 1, 3650,
        "renew the certificate over the mutual TLS link when fewer days than this are left"),
    INT("fleet.state_interval_s", fleet_state_interval_s, "10", 1, 86400,
        "the retained state document is republished this often (and on every change)"),
    INT("fleet.cmd_max_age_s", fleet_cmd_max_age_s, "600", 1, 31 * 86400,
        "fleet commands sent longer ago than this (or dated that far ahead) are refused"),
    INT("uplink.batch_max", uplink_batch_max, "200", 1, 100000, "most records per events message"),
    INT("uplink.batch_bytes", uplink_batch_bytes, "262144", 1024, 64 * 1024 * 1024,
        "most bytes per events message (a larger single record goes alone)"),
    INT("uplink.window", uplink_window, "2000", 1, 1000000,
        "most records sent and not yet acknowledged as spooled by the bridge"),
    INT("uplink.resend_ms", uplink_resend_ms, "3000", 10, 3600000,
        "send again from the spooled watermark when the ack has not moved for this long"),
    INT("catalog_sync.timeout_ms", catalog_timeout_ms, "30000", 100, 3600000,
        "a catalog transfer from the bridge from which nothing came for this long, incomplete, "
        "is asked for again"),
    STR("http.listen", http_listen, "", 0, PE_HTTP_LISTEN_MAX - 1,
        "HOST:PORT of /metrics and /health (docs/metrics.md); PORT alone is 127.0.0.1:PORT; "
        "empty: off",
        pe_http_check_listen),
    INT("health.device_offline_s", health_device_offline_s, "300", 1, 86400,
        "a device failed (offline) for this long makes /health answer 503"),
    INT("health.disk_min_mb", health_disk_min_mb, "16", 0, 1048576,
        "less free disk than this under data_dir makes /health answer 503 (0: not checked)"),
    INT("upgrade.watch_s", upgrade_watch_s, "60", 1, 3600,
        "after an upgrade the new version must run this long without a restart, besides its "
        "--self-test, or the upgrade unit rolls it back (docs/rollout.md)"),
    INT("upgrade.hold_max_s", upgrade_hold_max_s, "900", 10, 86400,
        "the till refuses new transactions while an upgrade installs, at most this long"),
    {NULL},
};

void agent_signer_conf(const struct agent_cfg *c, char path[AGENT_SIGNER_PATH_MAX],
                       struct pe_signer_conf *out)
{
    if (c->signer_key_file[0])
        snprintf(path, AGENT_SIGNER_PATH_MAX, "%s", c->signer_key_file);
    else
        snprintf(path, AGENT_SIGNER_PATH_MAX, "%s/signer.key", c->data_dir);
    *out = (struct pe_signer_conf){
        .key_file = path,
        .module = c->signer_pkcs11_module,
        .token_label = c->signer_pkcs11_token,
        .pin_file = c->signer_pkcs11_pin_file,
        .key_label = c->signer_pkcs11_key,
        .store = c->store,
        .terminal = c->terminal,
    };
}
