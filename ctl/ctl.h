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
#include <stdio.h>

#include <cjson/cJSON.h>

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

/* --mqtt HOST:PORT of command cmd into host (hostlen bytes) and *port: 0, or -1 after saying
 * on stderr what was wrong (ctl/args.c). */
int ctl_mqtt_addr(const char *cmd, const char *arg, char *host, size_t hostlen, int *port);

/* A client id for a one-shot connection of command cmd: "posedge-ctl-<cmd>-<pid>-<hex>". */
void ctl_client_id(const char *cmd, char *out, size_t n);

struct pe_loop;
struct pe_mqtt;
struct pe_mqtt_opts;

/* Create posedge-ctl's one-shot MQTT client from mo (client id, host, port, username and
 * callbacks filled in by the caller): a clean session (no session is left on the broker), a
 * short keepalive and reconnect backoff, and password (may be "") as the login's password,
 * wiped here once libmosquitto has its own copy. Errors as pe_mqtt_create's. */
int ctl_mqtt_open(struct pe_loop *loop, struct pe_mqtt_opts *mo, char *password, size_t pwlen,
                  struct pe_mqtt **out);

/* --tls-ca, --tls-cert and --tls-key of the commands that speak MQTT (status, fleet): TLS to
 * the broker (its certificate and host name verified against the CA), and with a certificate
 * of the store's CA mutual TLS, as "<store>/hq" or "<store>/bridge" (docs/pki.md). */
struct ctl_tls {
    const char *ca, *cert, *key; /* borrowed from argv; NULL when not given */
};
#define CTL_OPT_TLS_CA 0x1001
#define CTL_OPT_TLS_CERT 0x1002
#define CTL_OPT_TLS_KEY 0x1003
#define CTL_TLS_LONGOPTS                                                                           \
    {"tls-ca", required_argument, NULL, CTL_OPT_TLS_CA},                                           \
        {"tls-cert", required_argument, NULL, CTL_OPT_TLS_CERT},                                   \
        {"tls-key", required_argument, NULL, CTL_OPT_TLS_KEY}

/* Take getopt's option c into t when it is one of CTL_TLS_LONGOPTS: true when it was. */
bool ctl_tls_opt(int c, const char *arg, struct ctl_tls *t);

/* The TLS options hold together (a certificate with its key, both with a CA; the key's mode
 * private): 0, or -1 after saying on stderr what is wrong. */
int ctl_tls_check(const char *cmd, const struct ctl_tls *t);

/* Put the TLS options into mo. */
void ctl_tls_apply(const struct ctl_tls *t, struct pe_mqtt_opts *mo);

/* Say on stderr that the broker at addr could not be used within timeout_s: it refused us
 * (last_reason PE_EDECLINED: the credentials or the certificate's identity), or never
 * answered, or refused or lost the connection attempts_failed times (with tls: hints at the
 * certificates, the broker's name and the CRL). */
void ctl_unreachable(const char *cmd, const char *addr, long timeout_s, int attempts_failed,
                     int last_reason, bool tls);

/* Text from a till or the bridge after "KEY=": as it is when it has no blank, quote,
 * backslash, '=' or control character (and is not empty), else as a JSON string, so that
 * nothing a till sends can drive the operator's terminal or be mistaken for another pair. */
void ctl_put_text(FILE *out, const char *s);

/* A JSON value after "KEY=": a string as ctl_put_text, an integer exactly in decimal, anything
 * else (a fraction, true, false, null, an object or array) as compact JSON. */
void ctl_put_value(FILE *out, const cJSON *v);

#endif
