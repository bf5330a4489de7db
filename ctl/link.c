/* SPDX-License-Identifier: Apache-2.0 */
/*
 * link.c - the one-shot connection to a store's MQTT broker that posedge-ctl status, fleet,
 * catalog status and rollout share (ctl.h, struct ctl_link).
 *
 * Options: --mqtt HOST:PORT, --store S, --user U with --password-file F (the file's first line,
 * read by pe_secret_read and wiped as soon as libmosquitto has its copy), --timeout SECONDS and
 * --tls-ca/--tls-cert/--tls-key (TLS, or mutual TLS as S/hq or S/bridge).
 *
 * The connection is a clean session (the broker keeps nothing of it once it is gone) with a
 * client id of its own per run, "posedge-ctl-<cmd>-<pid>-<hex>", a 10 s keepalive and a short
 * reconnect backoff. At every connect the command's subscriptions are made, then (unless the
 * command asks not to) the probe: our own message on posedge/v1/S/bridge/probe/<client id>, a
 * topic the ACL lets the bridge user and HQ write and read, subscribed and published after the
 * others on the same connection. The broker handles one client's packets in order and sends
 * retained messages when it handles SUBSCRIBE, so when the probe comes back every subscription
 * is in place and every retained message has arrived.
 *
 * Messages reach the command's hooks already parsed: only topics of the link's store without a
 * suffix, with the terminal and the channel. Every wait runs the loop (pe_loop_run_once) against
 * a deadline, never a sleep. Failed connection attempts are counted, not logged: a command says
 * once, in words, why the broker could not be used (ctl_link_reached).
 *
 * Fleet commands (docs/protocol.md, "Fleet commands") are built here in canonical form with a
 * fresh UUID request id per till addressed (a request id is never reused), and their answers
 * matched by request id: another operator's answers and duplicates are not ours.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/loop.h"
#include "posedge/mqtt.h"
#include "posedge/protocol.h"
#include "posedge/secret.h"

void ctl_link_init(struct ctl_link *l, const char *cmd, long timeout_s, long timeout_max,
                   const struct ctl_link_hooks *hooks, void *ctx)
{
    memset(l, 0, sizeof *l);
    l->cmd = cmd;
    l->timeout_s = timeout_s;
    l->timeout_max = timeout_max;
    l->hooks = hooks;
    l->ctx = ctx;
}

/* ---- the options ---- */

int ctl_link_opt(struct ctl_link *l, int c, const char *arg)
{
    switch (c) {
    case CTL_OPT_MQTT:
        if (pe_mqtt_parse_addr(arg, l->host, sizeof l->host, &l->port) != PE_OK) {
            fprintf(stderr, "posedge-ctl %s: --mqtt: expected HOST:PORT, got \"%s\"\n", l->cmd,
                    arg);
            return -1;
        }
        l->addr = arg;
        return 1;
    case CTL_OPT_STORE:
        if (!pe_event_id_valid(arg, 1)) {
            fprintf(stderr, "posedge-ctl %s: --store: not a store id: \"%s\"\n", l->cmd, arg);
            return -1;
        }
        l->store = arg;
        return 1;
    case CTL_OPT_USER:
        l->user = arg;
        return 1;
    case CTL_OPT_PASSWORD_FILE:
        l->password_file = arg;
        return 1;
    case CTL_OPT_TIMEOUT:
        return ctl_seconds(l->cmd, "--timeout", arg, l->timeout_max, &l->timeout_s) ? -1 : 1;
    case CTL_OPT_TLS_CA:
        l->tls.ca = arg;
        return 1;
    case CTL_OPT_TLS_CERT:
        l->tls.cert = arg;
        return 1;
    case CTL_OPT_TLS_KEY:
        l->tls.key = arg;
        return 1;
    default:
        return 0;
    }
}

int ctl_link_check(struct ctl_link *l)
{
    char err[600];
    const struct ctl_tls *t = &l->tls;
    if (!t->cert != !t->key || ((t->cert || t->key) && !t->ca)) {
        fprintf(stderr, "posedge-ctl %s: %s\n", l->cmd,
                !t->cert != !t->key ? "--tls-cert and --tls-key go together"
                                    : "--tls-cert needs --tls-ca (the broker's CA)");
        return -1;
    }
    if (t->key && pe_secret_check_mode("--tls-key", t->key, err, sizeof err) != PE_OK) {
        fprintf(stderr, "posedge-ctl %s: %s\n", l->cmd, err);
        return -1;
    }
    if (l->password_file && !l->user) {
        fprintf(stderr, "posedge-ctl %s: --password-file needs --user\n", l->cmd);
        return -1;
    }
    if (l->password_file && pe_secret_read("--password-file", l->password_file, 0, l->password,
                                           sizeof l->password, err, sizeof err)) {
        fprintf(stderr, "posedge-ctl %s: %s\n", l->cmd, err);
        return -1;
    }
    return 0;
}

/* ---- the connection ---- */

void ctl_link_deliver(struct ctl_link *l, const char *topic, const void *payload, size_t len)
{
    if (strcmp(topic, l->probe) == 0) {
        bool first = !l->probed;
        l->probed = true;
        l->last_msg_ms = pe_mono_ms();
        if (first && l->hooks->probed)
            l->hooks->probed(l->ctx);
        return;
    }
    char store[PE_ID_MAX], terminal[PE_ID_MAX];
    enum pe_channel ch;
    const char *suffix;
    if (pe_topic_parse(topic, store, terminal, &ch, &suffix) != PE_OK ||
        strcmp(store, l->store) != 0 || *suffix)
        return;
    l->hooks->message(l->ctx, terminal, ch, payload, len);
    if (l->probed)
        l->last_msg_ms = pe_mono_ms();
}

static void on_message(void *ctx, const char *topic, const void *payload, size_t len, bool retained)
{
    (void)retained; /* a live message is the newest there is: the commands take it too */
    ctl_link_deliver(ctx, topic, payload, len);
}

static void on_connect(void *ctx, bool session_present)
{
    struct ctl_link *l = ctx;
    (void)session_present; /* a clean session: there never is one */
    l->connected = true;
    char pattern[PE_TOPIC_MAX];
    int rc = PE_OK;
    for (size_t i = 0; rc == PE_OK && i < l->nsubs; i++) {
        const struct ctl_link_sub *s = &l->subs[i];
        rc = pe_topic(pattern, sizeof pattern, l->store, s->terminal ? s->terminal : PE_TOPIC_ANY,
                      s->ch, NULL);
        if (rc == PE_OK)
            rc = pe_mqtt_subscribe(l->mqtt, pattern, s->qos);
    }
    if (rc == PE_OK && !l->no_probe)
        rc = pe_mqtt_subscribe(l->mqtt, l->probe, 0);
    if (rc == PE_OK && !l->no_probe)
        rc = pe_mqtt_publish(l->mqtt, l->probe, "probe", 5, 0, false, NULL);
    if (rc != PE_OK) {
        fprintf(stderr, "posedge-ctl %s: subscribing at %s: %s\n", l->cmd, l->addr,
                pe_strerror(rc));
        return;
    }
    if (l->hooks->connected)
        l->hooks->connected(l->ctx);
}

static void on_disconnect(void *ctx, int reason)
{
    struct ctl_link *l = ctx;
    if (!l->connected)
        l->attempts_failed++;
    l->last_reason = reason;
}

static void on_published(void *ctx, int mid, int reason)
{
    struct ctl_link *l = ctx;
    if (l->hooks->published)
        l->hooks->published(l->ctx, mid, reason);
}

int ctl_link_open(struct ctl_link *l)
{
    /* Failed attempts are reported once, by ctl_link_reached, in words; the client's own lines
     * would only repeat them. */
    pe_log_set_level(PE_LOG_ERROR);
    char name[32];
    snprintf(name, sizeof name, "%s", l->cmd);
    for (char *p = name; *p; p++)
        if (*p == ' ')
            *p = '-'; /* "catalog status": a client id (and a topic level) of one word */
    snprintf(l->client_id, sizeof l->client_id, "posedge-ctl-%s-%ld-%04x", name, (long)getpid(),
             (unsigned)(pe_mono_us() & 0xffff));
    int rc = pe_topic(l->probe, sizeof l->probe, l->store, PE_ID_BRIDGE, PE_CH_PROBE, l->client_id);
    if (rc == PE_OK)
        rc = pe_loop_create(&l->loop);
    if (rc) {
        fprintf(stderr, "posedge-ctl %s: %s\n", l->cmd, pe_strerror(rc));
        return -1;
    }
    struct pe_mqtt_opts mo = {
        .client_id = l->client_id,
        .host = l->host,
        .port = l->port,
        .username = l->user,
        .password = l->password,
        .clean_session = true,
        .keepalive_s = 10,
        .backoff_min_ms = 100,
        .backoff_max_ms = 1000,
        .tls_ca_file = l->tls.ca,
        .tls_cert_file = l->tls.cert,
        .tls_key_file = l->tls.key,
        .on_connect = on_connect,
        .on_disconnect = on_disconnect,
        .on_message = on_message,
        .on_published = on_published,
        .ctx = l,
    };
    rc = pe_mqtt_create(l->loop, &mo, &l->mqtt);
    pe_secret_wipe(l->password, sizeof l->password); /* libmosquitto has its own copy */
    if (rc) {
        fprintf(stderr, "posedge-ctl %s: MQTT client for %s: %s\n", l->cmd, l->addr,
                pe_strerror(rc));
        return -1;
    }
    return 0;
}

int ctl_link_run(struct ctl_link *l, int64_t deadline, bool (*done)(const struct ctl_link *l))
{
    for (;;) {
        if (done && done(l))
            return PE_OK;
        if (!l->connected && l->last_reason == PE_EDECLINED)
            return PE_EDECLINED; /* the credentials: trying again will not help */
        int64_t wait = deadline - pe_mono_ms();
        if (wait <= 0)
            return PE_EAGAIN;
        int rc = pe_loop_run_once(l->loop, wait > INT_MAX ? INT_MAX : (int)wait);
        if (rc)
            return rc;
    }
}

static bool probed(const struct ctl_link *l)
{
    return l->probed;
}

static bool quiet(const struct ctl_link *l)
{
    return l->probed && pe_mono_ms() - l->last_msg_ms >= CTL_QUIET_MS;
}

int ctl_link_collect(struct ctl_link *l, int64_t deadline)
{
    int rc = ctl_link_run(l, deadline, probed);
    while (rc == PE_OK && !quiet(l)) {
        /* Quiet at last_msg_ms + CTL_QUIET_MS unless more comes before. */
        int64_t until = l->last_msg_ms + CTL_QUIET_MS;
        rc = ctl_link_run(l, until < deadline ? until : deadline, quiet);
        if (rc == PE_EAGAIN && until < deadline)
            rc = PE_OK;
    }
    return rc;
}

bool ctl_link_reached(const struct ctl_link *l, long timeout_s)
{
    if (l->connected)
        return true;
    bool tls = l->tls.ca != NULL;
    if (l->last_reason == PE_EDECLINED) {
        fprintf(stderr,
                "posedge-ctl %s: the MQTT broker at %s refused the connection (not authorised: "
                "check %s)\n",
                l->cmd, l->addr,
                tls ? "that --tls-cert names a user of the store's ACL, S/hq or S/bridge"
                    : "--user and --password-file");
        return false;
    }
    int n = l->attempts_failed;
    fprintf(stderr,
            "posedge-ctl %s: cannot reach the MQTT broker at %s within %ld s (%s; %d attempt%s "
            "failed)%s\n",
            l->cmd, l->addr, timeout_s, n == 0 ? "no answer" : "connection refused or lost", n,
            n == 1 ? "" : "s",
            tls && n ? ": with TLS, check --tls-ca, that HOST is a name in the broker's "
                       "certificate, and --tls-cert/--tls-key (the broker refuses a revoked or "
                       "expired certificate)"
                     : "");
    return false;
}

void ctl_link_close(struct ctl_link *l)
{
    pe_mqtt_destroy(l->mqtt);
    l->mqtt = NULL;
    pe_loop_destroy(l->loop);
    l->loop = NULL;
    pe_secret_wipe(l->password, sizeof l->password);
}

/* ---- fleet commands ---- */

/* The command in canonical form: *out is malloc'd, owned by the caller. */
static int build(const char *cmd, const cJSON *args, const char *req, char **out, size_t *len)
{
    int rc;
    char ts[PE_TIME_STRLEN];
    pe_time_format(pe_time_now_ms(), ts);
    cJSON *c = cJSON_CreateObject();
    cJSON *a = args ? cJSON_Duplicate(args, true) : cJSON_CreateObject();
    if (!c || !a) {
        cJSON_Delete(a);
        rc = PE_ENOMEM;
        goto delete_cmd;
    }
    cJSON_AddItemToObject(c, "args", a);
    if ((rc = pe_json_add_str(c, "id", req)) || (rc = pe_json_add_str(c, "cmd", cmd)) ||
        (rc = pe_json_add_str(c, "ts", ts)))
        goto delete_cmd;
    rc = pe_json_canonical(c, out, len);
delete_cmd:
    cJSON_Delete(c);
    return rc;
}

int ctl_link_command(struct ctl_link *l, struct pe_rng *rng, const char *terminal, const char *cmd,
                     const cJSON *args, char req[PE_UUID_STRLEN], int *mid)
{
    char topic[PE_TOPIC_MAX], *payload = NULL;
    size_t len = 0;
    int rc = pe_topic(topic, sizeof topic, l->store, terminal, PE_CH_CMD, NULL);
    if (rc == PE_OK && !req[0])
        rc = pe_rng_uuid(rng, req);
    if (rc == PE_OK)
        rc = build(cmd, args, req, &payload, &len);
    if (rc == PE_OK)
        rc = pe_mqtt_publish(l->mqtt, topic, payload, len, 1, false, mid);
    free(payload);
    return rc;
}

bool ctl_answer_take(const void *payload, size_t len, const char *req, struct ctl_answer *a)
{
    memset(a, 0, sizeof *a);
    const char *id = NULL;
    if (!len || pe_json_parse(payload, len, &a->doc, NULL, 0) != PE_OK || !cJSON_IsObject(a->doc) ||
        pe_json_get_str(a->doc, "id", &id) != PE_OK || strcmp(id, req) != 0) {
        ctl_answer_free(a);
        return false;
    }
    if (pe_json_get_bool(a->doc, "ok", &a->ok) != PE_OK) {
        a->ok = false;
        a->error = "malformed answer (no \"ok\")";
    } else if (!a->ok && pe_json_get_str(a->doc, "error", &a->error) != PE_OK) {
        a->error = "?";
    }
    if (!a->ok && pe_json_get_str(a->doc, "reason", &a->reason) != PE_OK)
        a->reason = NULL;
    if (a->ok)
        a->result = cJSON_GetObjectItemCaseSensitive(a->doc, "result");
    return true;
}

void ctl_answer_free(struct ctl_answer *a)
{
    cJSON_Delete(a->doc);
    a->doc = NULL;
}
