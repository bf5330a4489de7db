/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctl.h - the posedge-ctl commands that live in files of their own. Each takes the arguments
 * after "posedge-ctl" (argv[0] is the command's name) and returns the process exit status:
 * 0 success, 1 the check failed, 2 usage error or the command could not complete.
 */
#ifndef POSEDGE_CTL_H
#define POSEDGE_CTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "posedge/crypto.h"
#include "posedge/protocol.h"
#include "posedge/secret.h"

/* posedge-ctl devkafka [--port P] [--brokers N] [--partitions N] (ctl/devkafka.c) */
int ctl_devkafka(int argc, char **argv);

/* posedge-ctl reconcile --brokers B [--topic T]... [--timeout S] JOURNAL.db...
 * (ctl/reconcile.c) */
int ctl_reconcile(int argc, char **argv);

/* posedge-ctl status --mqtt HOST:PORT --store S [--user U --password-file F]
 * [--tls-ca F [--tls-cert F --tls-key F]] [--timeout SECONDS] [--json] (ctl/status.c): the
 * retained state and ack of every terminal of a store and the bridge's state; exit 1 when the
 * broker cannot be reached within the timeout. */
int ctl_status(int argc, char **argv);

/* posedge-ctl fleet --mqtt HOST:PORT --store S [--terminal T] [--user U --password-file F]
 * [--tls-ca F [--tls-cert F --tls-key F]] [--timeout SECONDS] [--json] CMD [KEY=VALUE...]
 * (ctl/fleet.c): send a fleet command to one
 * till, or to every online till of the store, and print the answers; exit 0 when every till
 * addressed answered ok, 1 when one refused or did not answer. */
int ctl_fleet(int argc, char **argv);

/* posedge-ctl rollout --mqtt HOST:PORT --store S --version V [--canary N] [--max-failures K]
 * [--after-shift] [--timeout SECONDS] [--json] [--user U --password-file F]
 * [--tls-ca F [--tls-cert F --tls-key F]] (ctl/rollout.c): upgrade the store's online tills to
 * V, canaries first, stopping when more than K fail; exit 0 when every till reached ends at V,
 * 1 when the rollout stopped or a till failed or was not reached. */
int ctl_rollout(int argc, char **argv);

/* posedge-ctl acl --store S [--password [--bridge-user NAME] | --tls | --enrol] (ctl/acl.c):
 * print one of the store's mosquitto acl_files (docs/protocol.md, "Access control"). */
int ctl_acl(int argc, char **argv);

/* posedge-ctl broker-config --store S --dir D ... (ctl/broker_config.c): the store broker's
 * mosquitto.conf and its two ACL files (docs/pki.md, "The store broker"). */
int ctl_broker_config(int argc, char **argv);

/* posedge-ctl replay-catalog --format online-retail|databricks [--currency CUR] [--tax-bp N]
 * [--store ID] FILE... (ctl/replay_catalog.c): print the catalog a dataset replay needs. */
int ctl_replay_catalog(int argc, char **argv);

/* posedge-ctl catalog publish|status ... (ctl/catalog.c): HQ's catalog records into Kafka
 * (checked first, one transaction), and every till's applied catalog version. */
int ctl_catalog(int argc, char **argv);

/* posedge-ctl pki init|issue|revoke|list|crl|token|csr|show|verify ... (ctl/pki.c): the store's
 * certificate authority (docs/pki.md). */
int ctl_pki(int argc, char **argv);

/* posedge-ctl export DB [--from SEQ] [--to SEQ] --out FILE (ctl/archive.c): a range of a
 * journal as an archive an auditor checks without posedge (docs/audit.md). */
int ctl_export(int argc, char **argv);

/* posedge-ctl audit FILE... [--journal DB] (ctl/archive.c): archives and a live journal
 * verified as one history; exit 0 with a one-line summary, 1 naming the file and seq. */
int ctl_audit(int argc, char **argv);

/* posedge-ctl prune DB --through SEQ --archive-dir DIR (ctl/archive.c): archive the records up
 * to SEQ (delivered and closed by a Z report only), read the archive back and audit it, then
 * delete them from the live journal, which keeps an anchor (docs/audit.md). */
int ctl_prune(int argc, char **argv);

/* A count of seconds in 1..max from option opt of command cmd: 0, or -1 after saying on
 * stderr what was wrong (ctl/args.c). */
int ctl_seconds(const char *cmd, const char *opt, const char *arg, long max, long *out);

/* A count in min..max from option opt of command cmd: 0, or -1 after saying on stderr what
 * was wrong (ctl/args.c). */
int ctl_count(const char *cmd, const char *opt, const char *arg, long min, long max, long *out);

/* ---- the link: a one-shot connection to a store's MQTT broker (ctl/link.c) ----
 *
 * What status, fleet, catalog status and rollout share: the options --mqtt, --store, --user,
 * --password-file, --timeout and --tls-*, a clean session with a short keepalive, the probe
 * that says the subscriptions (and with them every retained message) are in place, the wait on
 * the loop against a deadline (never a sleep), the words for a broker that cannot be used, and
 * fleet commands and their answers.
 *
 * Use: ctl_link_init (with the command's hooks); ctl_link_opt for each option getopt returns
 * (CTL_LINK_LONGOPTS); ctl_link_check; the subscriptions; ctl_link_open; ctl_link_run or
 * ctl_link_collect; ctl_link_close (always, also after a failed check: it wipes the password).
 */

struct pe_loop;
struct pe_mqtt;
struct pe_rng;

#define CTL_HOST_MAX 256 /* --mqtt's host */
#define CTL_CLIENT_MAX 64
#define CTL_QUIET_MS 300 /* ctl_link_collect: quiet this long after the probe, all is in */

/* --tls-ca, --tls-cert and --tls-key: TLS to the broker (its certificate and host name verified
 * against the CA), and with a certificate of the store's CA mutual TLS, as "<store>/hq" or
 * "<store>/bridge" (docs/pki.md). */
struct ctl_tls {
    const char *ca, *cert, *key; /* borrowed from argv; NULL when not given */
};

/* getopt values of the link's options. */
enum {
    CTL_OPT_TLS_CA = 0x1001,
    CTL_OPT_TLS_CERT,
    CTL_OPT_TLS_KEY,
    CTL_OPT_MQTT,
    CTL_OPT_STORE,
    CTL_OPT_USER,
    CTL_OPT_PASSWORD_FILE,
    CTL_OPT_TIMEOUT,
};
#define CTL_LINK_LONGOPTS                                                                          \
    {"mqtt", required_argument, NULL, CTL_OPT_MQTT},                                               \
        {"store", required_argument, NULL, CTL_OPT_STORE},                                         \
        {"user", required_argument, NULL, CTL_OPT_USER},                                           \
        {"password-file", required_argument, NULL, CTL_OPT_PASSWORD_FILE},                         \
        {"timeout", required_argument, NULL, CTL_OPT_TIMEOUT},                                     \
        {"tls-ca", required_argument, NULL, CTL_OPT_TLS_CA},                                       \
        {"tls-cert", required_argument, NULL, CTL_OPT_TLS_CERT},                                   \
        {"tls-key", required_argument, NULL, CTL_OPT_TLS_KEY}

/* A subscription made at every connect: terminal (NULL: every one, "+") and channel of the
 * link's store, at qos. */
struct ctl_link_sub {
    const char *terminal;
    enum pe_channel ch;
    int qos;
};

struct ctl_link;

/* What a command does with the link's events; each gets the link's ctx. Only message is
 * required. */
struct ctl_link_hooks {
    /* A message on posedge/v1/<store>/<terminal>/<ch> of the link's store, without a suffix
     * (terminal may be a reserved id); payload is valid during the call only. */
    void (*message)(void *ctx, const char *terminal, enum pe_channel ch, const void *payload,
                    size_t len);
    /* The probe came back for the first time: every retained message has arrived. */
    void (*probed)(void *ctx);
    /* Connected and subscribed (again after every reconnect). */
    void (*connected)(void *ctx);
    /* The broker answered a QoS 1 publish (pe_mqtt_opts.on_published). */
    void (*published)(void *ctx, int mid, int reason);
};

struct ctl_link {
    /* Set by ctl_link_init. */
    const char *cmd;   /* the command, for messages: "posedge-ctl <cmd>: ..." */
    long timeout_s;    /* --timeout, its default until given */
    long timeout_max;  /* the largest --timeout taken */
    const struct ctl_link_hooks *hooks; /* the command's */
    void *ctx;                          /* the hooks' argument: the command's state */
    /* The options (ctl_link_opt). */
    const char *addr;          /* --mqtt as given (borrowed from argv), NULL until given */
    char host[CTL_HOST_MAX];   /* and its parts */
    int port;
    const char *store;         /* --store (borrowed), NULL until given */
    const char *user;          /* --user (borrowed) or NULL */
    const char *password_file; /* --password-file (borrowed) or NULL */
    struct ctl_tls tls;
    char password[PE_SECRET_MAX]; /* read by ctl_link_check, wiped once the client has it */
    /* Set by the command before ctl_link_open. */
    const struct ctl_link_sub *subs; /* subscribed at every connect, before the probe */
    size_t nsubs;
    bool no_probe;                   /* do not send the probe (fleet --terminal) */
    /* The connection (ctl_link_open). */
    struct pe_loop *loop;           /* owned */
    struct pe_mqtt *mqtt;           /* owned */
    char client_id[CTL_CLIENT_MAX]; /* "posedge-ctl-<cmd>-<pid>-<hex>" */
    char probe[PE_TOPIC_MAX];       /* posedge/v1/<store>/bridge/probe/<client id> */
    bool connected;                 /* on_connect seen at least once */
    bool probed;                    /* the probe came back */
    int attempts_failed;            /* connection attempts that failed before the first connect */
    int last_reason;                /* PE_E* of the last failure */
    int64_t last_msg_ms;            /* pe_mono_ms of the probe or the last message after it */
};

/* Zero l and set its command name, --timeout's default and maximum, and the command's hooks
 * and their argument ctx. */
void ctl_link_init(struct ctl_link *l, const char *cmd, long timeout_s, long timeout_max,
                   const struct ctl_link_hooks *hooks, void *ctx);

/* Take getopt's option c (argument arg) when it is one of CTL_LINK_LONGOPTS: 1 taken, 0 not a
 * link option, -1 after saying on stderr what was wrong with it. */
int ctl_link_opt(struct ctl_link *l, int c, const char *arg);

/* After the options, --mqtt and --store checked present by the command: the TLS options hold
 * together (a certificate with its key, both with a CA, the key's mode private),
 * --password-file has --user, and the password is read. 0, or -1 after saying on stderr what
 * is wrong (a usage error). */
int ctl_link_check(struct ctl_link *l);

/* Start connecting (the loop, the client, the probe's topic); from here on, failed attempts
 * are reported once by ctl_link_reached rather than logged. 0, or -1 after saying why. */
int ctl_link_open(struct ctl_link *l);

/* What the client does with a message that arrives on topic: the probe, or a message of the
 * store for the message hook (the fuzz targets' way in). */
void ctl_link_deliver(struct ctl_link *l, const char *topic, const void *payload, size_t len);

/* Run the loop until done(l) (NULL: never; the command's state is l->ctx), the broker refuses
 * us before we ever connected, or deadline (pe_mono_ms). Returns PE_OK (done), PE_EDECLINED,
 * PE_EAGAIN (the deadline) or the loop's error. */
int ctl_link_run(struct ctl_link *l, int64_t deadline, bool (*done)(const struct ctl_link *l));

/* Run until everything retained has arrived (the probe came back and nothing more for
 * CTL_QUIET_MS). Returns as ctl_link_run. */
int ctl_link_collect(struct ctl_link *l, int64_t deadline);

/* True once connected; else false after saying on stderr that the broker could not be used
 * within --timeout (timeout_s): it refused us (the credentials or the certificate's identity),
 * never answered, or refused or lost the connection attempts. */
bool ctl_link_reached(const struct ctl_link *l, long timeout_s);

/* Disconnect and free what ctl_link_open made, and wipe the password. Safe on a link never
 * opened, and twice. */
void ctl_link_close(struct ctl_link *l);

/* Publish fleet command cmd with args (NULL: none) to terminal (docs/protocol.md, "Fleet
 * commands") in canonical form, QoS 1, not retained, ts now; req is its request id, drawn from
 * rng when empty (so a command sent again after PE_EAGAIN keeps it). *mid (may be NULL) for
 * the published hook. Errors: PE_EAGAIN (not connected: send it from the connected hook),
 * PE_ENOMEM, PE_ESYS (no random bytes), PE_EINVAL (a value that is not UTF-8), PE_EIO. */
int ctl_link_command(struct ctl_link *l, struct pe_rng *rng, const char *terminal,
                     const char *cmd, const cJSON *args, char req[PE_UUID_STRLEN], int *mid);

/* An answer to a fleet command, from .../cmd/res. */
struct ctl_answer {
    cJSON *doc;          /* owned: the answer (ctl_answer_free) */
    bool ok;             /* it says "ok":true */
    const char *error;   /* refused: its "error", a placeholder when it has none (borrowed) */
    const char *reason;  /* refused: its "reason", or NULL (borrowed) */
    const cJSON *result; /* ok: its "result", or NULL (borrowed) */
};

/* The answer in payload when it is a JSON object with request id req: true and *a filled
 * (ctl_answer_free it); false for anything else (another request's answer, not JSON). An
 * answer without a boolean "ok" is a refusal, its error says so. */
bool ctl_answer_take(const void *payload, size_t len, const char *req, struct ctl_answer *a);

/* Free an answer's document; safe twice. */
void ctl_answer_free(struct ctl_answer *a);

/* ---- the tills of a store, and a till's state document (ctl/till_state.c;
 * docs/protocol.md, "Fleet state") ---- */

/* The record of till id in a command's array of per-till records: *(T **)arrayp (arrayp is
 * the address of the command's typed pointer) holds *n records of size bytes, room for *cap,
 * each beginning with its till's id (char id[PE_ID_MAX] as the first member). The record found;
 * else with add a new one at the end, zeroed but for its id (the array grows, 16 records at
 * first, then doubling: pointers into it last until the next add); NULL when there is none and
 * not add, or when out of memory (the array as it was). */
void *ctl_till_get(void *arrayp, size_t *n, size_t *cap, size_t size, const char *id, bool add);

/* qsort's comparison of records that begin with a till's id (char id[PE_ID_MAX] as their first
 * member: every command's per-till record does), by id. */
int ctl_by_id(const void *a, const void *b);

#define CTL_REQ_MAX 65     /* a request id: 1..64 characters and NUL */

/* The "state" member as a word of 1..n-1 of a-z and '_' ("online"), "?" when it is absent or
 * anything else (doc NULL included). */
void ctl_state_word(const cJSON *doc, char *out, size_t n);

/* The state document's "upgrade" member. */
struct ctl_upgrade {
    char id[CTL_REQ_MAX];           /* the upgrade command's request id; "" when not a string
                                     * of 1..64 characters */
    char version[PE_VERSION_MAX];  /* the version asked for; "" when not a version */
    char previous[PE_VERSION_MAX]; /* the version before; "" when null or not a version */
    enum pe_upgrade_outcome outcome;
    const char *reason;             /* why (rolled_back, failed); NULL when null or not a
                                     * string; borrowed from the document */
};

/* true with *out filled when doc's "upgrade" is an object; false when it is null, absent or
 * anything else (the till never had an upgrade, or is an older agent, or the state is the
 * bare will). */
bool ctl_upgrade_of(const cJSON *doc, struct ctl_upgrade *out);

/* Text from a till or the bridge after "KEY=": as it is when it has no blank, quote,
 * backslash, '=' or control character (and is not empty), else as a JSON string, so that
 * nothing a till sends can drive the operator's terminal or be mistaken for another pair. */
void ctl_put_text(FILE *out, const char *s);

/* v as compact JSON and a newline on out (the --json outputs: one line each): PE_OK, or
 * PE_ENOMEM. */
int ctl_put_json(FILE *out, const cJSON *v);

/* Free text from a till (a refusal's reason) with control characters replaced by '?'. */
void ctl_put_clean(FILE *out, const char *s);

/* A JSON value after "KEY=": a string as ctl_put_text, an integer exactly in decimal, anything
 * else (a fraction, true, false, null, an object or array) as compact JSON. */
void ctl_put_value(FILE *out, const cJSON *v);

#endif
