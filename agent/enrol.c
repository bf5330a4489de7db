/* SPDX-License-Identifier: Apache-2.0 */
/*
 * enrol.c - the till's certificate: first enrolment and renewal (see enrol.h).
 *
 * Layout: installing a certificate (the one path by which a certificate file is ever written),
 * the first enrolment (token, key, CSR, its own MQTT connection to the enrolment listener, the
 * answer), the renewal over the uplink, and the public functions.
 *
 * The invariants. A certificate file only ever holds a certificate that names this till, holds
 * this till's key and chains to the configured CA: an answer is written to "<cert>.new", checked
 * there, and renamed over the certificate, so a crash leaves the old file or the new one. The
 * key is made once and never replaced (pe_pki_key_save refuses to), so a renewal certifies the
 * same key and no certificate can be installed for a key the till does not hold. The token is
 * read from its file for each request, kept only in a buffer that is wiped when the request is
 * built and sent, and never logged; its file is removed once a certificate is installed.
 */
#include "agent/enrol.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posedge/clock.h"
#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/file.h"
#include "posedge/log.h"
#include "posedge/mqtt.h"
#include "posedge/pki.h"
#include "posedge/protocol.h"
#include "posedge/secret.h"

#define PATH_MAX_ 512
#define TOKEN_POLL_MS 5000     /* no token yet: look for its file this often */
#define ANSWER_MS 20000        /* a request unanswered this long is sent again */
#define RETRY_MIN_MS 2000      /* after a refusal: first wait, doubling... */
#define RETRY_MAX_MS 60000     /* ... up to this */
#define RENEW_CHECK_MS 3600000 /* a connected till looks at its certificate's days this often */
#define RENEW_RETRY_MS 3600000 /* a refused or unanswered renewal is asked again after this */

struct enrol {
    struct enrol_deps d;
    char store[PE_ID_MAX], terminal[PE_ID_MAX];
    char host[256];
    char ca_file[PATH_MAX_], cert_file[PATH_MAX_], key_file[PATH_MAX_], token_file[PATH_MAX_];
    char t_enrol[PE_TOPIC_MAX];     /* posedge/v1/<store>/<terminal>/enrol */
    char t_renew[PE_TOPIC_MAX];     /* .../renew */
    char t_res[PE_TOPIC_MAX];       /* .../enrol/res */
    struct pe_mqtt *mqtt;           /* the enrolment connection, NULL when none */
    struct uplink *uplink;          /* borrowed: renewal; NULL when none */
    char req[PE_UUID_STRLEN];       /* the request awaiting its answer, "" none */
    bool renewing;                  /* req is a renewal (else a first enrolment) */
    bool sent;                      /* req's request is with the broker */
    bool done;                      /* enrolled: the certificate exists */
    int retry_ms;                   /* the next wait after a refusal */
    int64_t timer;                  /* the pending step (retry, token poll, answer deadline) */
    int64_t done_timer;             /* the pending call of enrolled(), 0 none */
    int64_t renew_timer;            /* the pending renewal check, 0 none */
    int64_t renew_after;            /* pe_mono_ms before which no renewal is asked again */
    char last_refusal[PE_ID_MAX];   /* the refusal last logged ("" none), said once per change */
    char last_wait[PE_PKI_ERRLEN];  /* why we last said we wait, said once per change */
    int64_t refusals;               /* refusals so far */
};

static void step(void *ctx);

/* ---- installing a certificate ---- */

/* Check the answer's certificate and put it in place. Errors: PE_EDECLINED (not ours: err
 * says why), PE_EIO. */
static int install(struct enrol *e, const char *pem, struct pe_pki_cert_info *info, char *err,
                   size_t errlen)
{
    char tmp[PATH_MAX_ + 8], cn[PE_PKI_CN_MAX];
    enum pe_pki_verdict v;
    int rc = pe_pki_cert_info_mem(pem, strlen(pem), info, err, errlen);
    if (rc)
        return PE_EDECLINED;
    if (pe_pki_cn_make(PE_PKI_TERMINAL, e->store, e->terminal, cn, NULL, 0) != PE_OK ||
        strcmp(info->cn, cn) != 0) {
        snprintf(err, errlen, "the certificate is for %s, this till is %s", info->cn, cn);
        return PE_EDECLINED;
    }
    snprintf(tmp, sizeof tmp, "%s.new", e->cert_file);
    if ((rc = pe_file_write_atomic_mode(tmp, pem, strlen(pem), 0644, 0, err, errlen)))
        return rc;
    if ((rc = pe_pki_key_matches(e->key_file, tmp, err, errlen)) ||
        (rc = pe_pki_verify(tmp, e->ca_file, NULL, pe_time_now_ms(), &v, err, errlen))) {
        unlink(tmp);
        return rc == PE_EIO ? rc : PE_EDECLINED;
    }
    if (rename(tmp, e->cert_file) != 0) {
        snprintf(err, errlen, "%.200s: cannot rename to %.200s: %s", tmp, e->cert_file,
                 strerror(errno));
        unlink(tmp);
        return PE_EIO;
    }
    return PE_OK;
}

/* Say a refusal of the signer once per change of its name. */
static void refused(struct enrol *e, const char *what, const struct pe_enrol_answer *a)
{
    char q[256];
    e->refusals++;
    if (strcmp(e->last_refusal, a->error) == 0) {
        pe_debug(what, "error=%s", a->error);
        return;
    }
    snprintf(e->last_refusal, sizeof e->last_refusal, "%.*s", (int)sizeof e->last_refusal - 1,
             a->error);
    pe_warn(what, "error=%s reason=\"%s\" (asking again later; logged again when the reason "
                  "changes)",
            e->last_refusal, pe_log_quote(a->reason, q, sizeof q));
}

/* ---- the first enrolment ---- */

static void arm(struct enrol *e, int64_t ms)
{
    if (e->timer)
        pe_loop_timer_cancel(e->d.loop, e->timer);
    e->timer = 0;
    if (pe_loop_timer(e->d.loop, ms, step, e, &e->timer) != PE_OK)
        e->timer = 0; /* out of memory: a restart of the agent tries again */
}

/* Say why the enrolment waits, once per change of the reason. */
static void waiting(struct enrol *e, const char *event, const char *why)
{
    char q[sizeof e->last_wait];
    pe_log_quote(why, q, sizeof q);
    if (strcmp(e->last_wait, q) != 0)
        pe_warn(event, "cert_file=%s reason=\"%s\" (selling goes on; the journal keeps every "
                       "event until the uplink can start)",
                e->cert_file, q);
    snprintf(e->last_wait, sizeof e->last_wait, "%s", q);
}

/* The till's key: made (0600) the first time, else loaded (its mode checked). */
static int key_get(struct enrol *e, struct pe_pki_key **key, char *err, size_t errlen)
{
    if (access(e->key_file, F_OK) == 0)
        return pe_pki_key_load(e->key_file, key, err, errlen);
    int rc = pe_pki_key_generate(e->d.rng, key, err, errlen);
    if (rc == PE_OK && (rc = pe_pki_key_save(*key, e->key_file, PE_PKI_KEY_PKCS8, err, errlen))) {
        pe_pki_key_destroy(*key);
        *key = NULL;
    }
    if (rc == PE_OK)
        pe_info("enrol.key_created", "key_file=%s mode=0600 (it never leaves the till)",
                e->key_file);
    return rc;
}

/* A CSR for the till's key into *csr (malloc'd). */
static int csr_get(struct enrol *e, char **csr, char *err, size_t errlen)
{
    struct pe_pki_key *key = NULL;
    int rc = key_get(e, &key, err, errlen);
    if (rc == PE_OK)
        rc = pe_pki_csr_create(key, e->store, e->terminal, e->d.rng, csr, err, errlen);
    pe_pki_key_destroy(key);
    return rc;
}

/* Send a first enrolment's request on the enrolment connection: the token is read from its
 * file now, and wiped with the request's text once the client has its copy. */
static void send_enrol(struct enrol *e)
{
    char token[PE_SECRET_MAX], err[PE_PKI_ERRLEN], *csr = NULL, *text = NULL;
    int rc = pe_secret_read("enrol.token_file", e->token_file, PE_SECRET_PRIVATE, token,
                            sizeof token, err, sizeof err);
    if (rc) {
        waiting(e, "enrol.token_refused", err); /* names the file, and its mode when too open */
        arm(e, TOKEN_POLL_MS);
        goto wipe;
    }
    if ((rc = csr_get(e, &csr, err, sizeof err))) {
        pe_error("enrol.key_failed", "%s", err);
        arm(e, RETRY_MAX_MS);
        goto wipe;
    }
    struct pe_enrol_request r = {.req = e->req, .token = token, .csr = csr};
    if ((rc = pe_rng_uuid(e->d.rng, e->req)) || (rc = pe_enrol_request_json(&r, &text)) ||
        (rc = pe_mqtt_publish(e->mqtt, e->t_enrol, text, strlen(text), 1, false, NULL))) {
        if (rc == PE_EINVAL)
            pe_error("enrol.token_invalid",
                     "enrol.token_file %s: not an enrolment token (letters, digits, '-')",
                     e->token_file);
        else if (rc != PE_EAGAIN)
            pe_warn("enrol.send_failed", "err=%s", pe_errname(rc));
        e->req[0] = '\0';
        arm(e, rc == PE_EAGAIN ? ANSWER_MS : RETRY_MAX_MS);
        goto wipe;
    }
    e->sent = true;
    pe_info("enrol.request", "req=%s topic=%s host=%s port=%d", e->req, e->t_enrol, e->host,
            e->d.port);
    arm(e, ANSWER_MS);
wipe:
    if (text) {
        pe_secret_wipe(text, strlen(text));
        free(text);
    }
    free(csr);
    pe_secret_wipe(token, sizeof token);
}

static void done_tick(void *ctx)
{
    struct enrol *e = ctx;
    e->done_timer = 0;
    pe_mqtt_destroy(e->mqtt); /* not from its own callback: from this timer */
    e->mqtt = NULL;
    if (e->d.enrolled)
        e->d.enrolled(e->d.ctx);
}

static void on_enrol_answer(struct enrol *e, const void *payload, size_t len)
{
    cJSON *doc = NULL;
    struct pe_enrol_answer a;
    char why[PE_PKI_ERRLEN], t[PE_TIME_STRLEN];
    int rc = pe_enrol_answer_parse(payload, len, &doc, &a, why, sizeof why);
    if (rc || !e->req[0] || strcmp(a.req, e->req) != 0) {
        if (rc)
            pe_warn("enrol.answer_malformed", "topic=%s err=\"%s\"", e->t_res, why);
        cJSON_Delete(doc);
        return; /* another request's (an earlier one of ours, another client's) */
    }
    e->req[0] = '\0';
    e->sent = false;
    if (!a.ok) {
        refused(e, "enrol.refused", &a);
        arm(e, e->retry_ms);
        e->retry_ms = e->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : e->retry_ms * 2;
        cJSON_Delete(doc);
        return;
    }
    struct pe_pki_cert_info info;
    rc = install(e, a.cert, &info, why, sizeof why);
    cJSON_Delete(doc);
    if (rc) {
        pe_error("enrol.bad_certificate", "err=\"%s\" (asking again later)", why);
        arm(e, RETRY_MAX_MS);
        return;
    }
    if (e->timer)
        pe_loop_timer_cancel(e->d.loop, e->timer);
    e->timer = 0;
    e->done = true;
    if (unlink(e->token_file) != 0 && errno != ENOENT)
        pe_warn("enrol.token_left", "enrol.token_file %s: cannot remove: %s (it is spent)",
                e->token_file, strerror(errno));
    pe_time_format(info.not_after_ms, t);
    pe_info("enrol.enrolled", "cn=%s serial=%s not_after=%s cert_file=%s (mutual TLS from now on)",
            info.cn, info.serial, t, e->cert_file);
    if (pe_loop_timer(e->d.loop, 0, done_tick, e, &e->done_timer) != PE_OK)
        e->done_timer = 0;
}

static void enrol_connect(void *ctx, bool session_present)
{
    struct enrol *e = ctx;
    (void)session_present;
    int rc = pe_mqtt_subscribe(e->mqtt, e->t_res, 1);
    if (rc) {
        pe_warn("enrol.subscribe_failed", "topic=%s err=%s", e->t_res, pe_errname(rc));
        return;
    }
    /* Asked on a former connection and not answered: the answer may be lost, ask again. */
    send_enrol(e);
}

static void enrol_message(void *ctx, const char *topic, const void *payload, size_t len,
                          bool retained)
{
    struct enrol *e = ctx;
    (void)retained;
    if (strcmp(topic, e->t_res) == 0 && !e->done)
        on_enrol_answer(e, payload, len);
}

/* Open the enrolment connection (its on_connect sends the request). */
static int enrol_open(struct enrol *e)
{
    struct pe_mqtt_opts mo = {
        .client_id = e->terminal, /* the enrolment ACL's %c */
        .host = e->host,
        .port = e->d.port,
        .keepalive_s = e->d.keepalive_s,
        .clean_session = true,
        .backoff_min_ms = 500,
        .backoff_max_ms = RETRY_MAX_MS,
        .tls_ca_file = e->ca_file,
        .on_connect = enrol_connect,
        .on_message = enrol_message,
        .ctx = e,
    };
    int rc = pe_mqtt_create(e->d.loop, &mo, &e->mqtt);
    if (rc == PE_OK)
        pe_info("enrol.start", "host=%s port=%d client=%s cert_file=%s key_file=%s", e->host,
                e->d.port, e->terminal, e->cert_file, e->key_file);
    return rc;
}

/* The first enrolment's one step: wait for the token, open the connection, or ask again. */
static void step(void *ctx)
{
    struct enrol *e = ctx;
    e->timer = 0;
    if (e->done)
        return;
    if (access(e->token_file, F_OK) != 0) {
        bool expired = access(e->cert_file, F_OK) == 0;
        char why[200];
        snprintf(why, sizeof why, "%s%s",
                 expired ? "the certificate has expired (or cannot be read)" : "no certificate yet",
                 e->token_file[0] ? ": waiting for an enrolment token in enrol.token_file"
                                  : ", and enrol.token_file is not set");
        waiting(e, "enrol.waiting", why);
        arm(e, TOKEN_POLL_MS);
        return;
    }
    e->last_wait[0] = '\0';
    if (!e->mqtt) {
        int rc = enrol_open(e);
        if (rc) {
            pe_error("enrol.client", "err=%s (trying again later)", pe_errname(rc));
            arm(e, RETRY_MAX_MS);
        }
        return; /* its on_connect asks */
    }
    if (e->sent && e->req[0])
        pe_warn("enrol.no_answer", "req=%s after %d s (asking again)", e->req, ANSWER_MS / 1000);
    e->req[0] = '\0';
    e->sent = false;
    if (pe_mqtt_connected(e->mqtt))
        send_enrol(e);
    else
        arm(e, ANSWER_MS); /* the next on_connect asks */
}

/* ---- renewal over the uplink ---- */

static void renew_check(struct enrol *e);

static void renew_tick(void *ctx)
{
    struct enrol *e = ctx;
    e->renew_timer = 0;
    renew_check(e);
    if (pe_loop_timer(e->d.loop, RENEW_CHECK_MS, renew_tick, e, &e->renew_timer) != PE_OK)
        e->renew_timer = 0;
}

/* Ask for a new certificate when fewer than renew_days are left and none is being asked. */
static void renew_check(struct enrol *e)
{
    struct pe_pki_cert_info ci;
    char err[PE_PKI_ERRLEN], *csr = NULL, *text = NULL;
    int64_t now = pe_time_now_ms();
    if (!e->uplink || !uplink_connected(e->uplink) || pe_mono_ms() < e->renew_after ||
        pe_pki_cert_info_file(e->cert_file, &ci, err, sizeof err) != PE_OK)
        return;
    int64_t left = pe_pki_days_left(ci.not_after_ms, now);
    if (left >= e->d.renew_days)
        return;
    int rc = csr_get(e, &csr, err, sizeof err);
    struct pe_enrol_request r = {.req = e->req, .csr = csr};
    if (rc == PE_OK && (rc = pe_rng_uuid(e->d.rng, e->req)) == PE_OK &&
        (rc = pe_enrol_request_json(&r, &text)) == PE_OK)
        rc = uplink_publish(e->uplink, e->t_renew, text, strlen(text), false, NULL);
    if (rc) {
        pe_warn("enrol.renew_failed", "err=%s %s", pe_errname(rc), rc == PE_EAGAIN ? "" : err);
        e->req[0] = '\0';
    } else {
        e->renewing = true;
        pe_info("enrol.renewing", "req=%s days_left=%lld renew_days=%lld serial=%s", e->req,
                (long long)left, (long long)e->d.renew_days, ci.serial);
    }
    /* Answered or not, not asked again within the hour: a lost answer costs an hour. */
    e->renew_after = pe_mono_ms() + RENEW_RETRY_MS;
    free(text);
    free(csr);
}

static void on_renew_answer(struct enrol *e, const void *payload, size_t len)
{
    cJSON *doc = NULL;
    struct pe_enrol_answer a;
    char why[PE_PKI_ERRLEN], t[PE_TIME_STRLEN];
    int rc = pe_enrol_answer_parse(payload, len, &doc, &a, why, sizeof why);
    if (rc || !e->renewing || strcmp(a.req, e->req) != 0) {
        if (rc)
            pe_warn("enrol.answer_malformed", "topic=%s err=\"%s\"", e->t_res, why);
        cJSON_Delete(doc);
        return;
    }
    e->renewing = false;
    e->req[0] = '\0';
    if (!a.ok) {
        refused(e, "enrol.renew_refused", &a);
        cJSON_Delete(doc);
        return;
    }
    struct pe_pki_cert_info info;
    rc = install(e, a.cert, &info, why, sizeof why);
    cJSON_Delete(doc);
    if (rc) {
        pe_error("enrol.bad_certificate", "err=\"%s\" (renewal asked again later)", why);
        return;
    }
    e->last_refusal[0] = '\0';
    pe_time_format(info.not_after_ms, t);
    pe_info("enrol.renewed", "serial=%s not_after=%s cert_file=%s (used from the next connection)",
            info.serial, t, e->cert_file);
}

static void hook_connect(void *ctx)
{
    struct enrol *e = *(struct enrol **)ctx;
    if (!e || !e->uplink)
        return;
    int rc = uplink_subscribe(e->uplink, e->t_res);
    if (rc)
        pe_warn("enrol.subscribe_failed", "topic=%s err=%s", e->t_res, pe_errname(rc));
    renew_check(e);
}

static void hook_message(void *ctx, const char *topic, const void *payload, size_t len,
                         bool retained)
{
    struct enrol *e = *(struct enrol **)ctx;
    (void)retained;
    if (e && strcmp(topic, e->t_res) == 0)
        on_renew_answer(e, payload, len);
}

int enrol_hook(struct uplink_opts *uo, struct enrol **slot)
{
    static const struct uplink_hooks hooks = {
        .on_connect = hook_connect,
        .on_message = hook_message,
    };
    return uplink_add_hooks(uo, &hooks, slot);
}

void enrol_attach(struct enrol *e, struct uplink *u)
{
    if (!e)
        return;
    e->uplink = u;
    if (u && !e->renew_timer &&
        pe_loop_timer(e->d.loop, RENEW_CHECK_MS, renew_tick, e, &e->renew_timer) != PE_OK)
        e->renew_timer = 0;
}

/* ---- public ---- */

bool enrol_have_cert(const char *cert_file, int64_t now_ms)
{
    struct pe_pki_cert_info ci;
    char err[PE_PKI_ERRLEN];
    return cert_file && cert_file[0] &&
           pe_pki_cert_info_file(cert_file, &ci, err, sizeof err) == PE_OK &&
           now_ms < ci.not_after_ms;
}

int enrol_create(const struct enrol_deps *d, struct enrol **out)
{
    if (!d || !out || !d->loop || !d->rng || !d->host || !d->host[0] || !d->ca_file ||
        !d->ca_file[0] || !d->cert_file || !d->cert_file[0] || !d->key_file ||
        !d->key_file[0] || !pe_event_id_valid(d->store, 1) ||
        !pe_event_id_valid(d->terminal, 1) || d->renew_days < 1)
        return PE_EINVAL;
    struct enrol *e = calloc(1, sizeof *e);
    if (!e)
        return PE_ENOMEM;
    e->d = *d;
    bool fits = true;
#define COPY(dst, src)                                                                             \
    fits &= (size_t)snprintf(dst, sizeof dst, "%s", (src) ? (src) : "") < sizeof dst
    COPY(e->store, d->store);
    COPY(e->terminal, d->terminal);
    COPY(e->host, d->host);
    COPY(e->ca_file, d->ca_file);
    COPY(e->cert_file, d->cert_file);
    COPY(e->key_file, d->key_file);
    COPY(e->token_file, d->token_file);
#undef COPY
    if (!fits ||
        pe_topic(e->t_enrol, sizeof e->t_enrol, e->store, e->terminal, PE_CH_ENROL, NULL) ||
        pe_topic(e->t_renew, sizeof e->t_renew, e->store, e->terminal, PE_CH_RENEW, NULL) ||
        pe_topic(e->t_res, sizeof e->t_res, e->store, e->terminal, PE_CH_ENROL_RES, NULL)) {
        free(e);
        return PE_EINVAL;
    }
    e->d.store = e->d.terminal = e->d.host = NULL; /* ours are the copies above */
    e->d.ca_file = e->d.cert_file = e->d.key_file = e->d.token_file = NULL;
    e->retry_ms = RETRY_MIN_MS;
    e->done = enrol_have_cert(e->cert_file, pe_time_now_ms());
    if (!e->done)
        arm(e, 0); /* from the loop: nothing runs inside enrol_create */
    *out = e;
    return PE_OK;
}

void enrol_destroy(struct enrol *e)
{
    if (!e)
        return;
    int64_t *timers[] = {&e->timer, &e->done_timer, &e->renew_timer};
    for (size_t i = 0; i < sizeof timers / sizeof *timers; i++)
        if (*timers[i])
            pe_loop_timer_cancel(e->d.loop, *timers[i]);
    pe_mqtt_destroy(e->mqtt);
    free(e);
}

int64_t enrol_refusals(const struct enrol *e)
{
    return e ? e->refusals : 0;
}

bool enrol_pending(const struct enrol *e)
{
    return e && !e->done;
}
