/* SPDX-License-Identifier: Apache-2.0 */
/*
 * enrol.c - the bridge's enrolment signer (see enrol.h).
 *
 * The identity signed is the one the topic names, never what the message or the CSR says: a
 * first enrolment is authorised by a token issued for exactly that store and terminal (and
 * spent on disk before the certificate is made, pe_pki_enrol), a renewal by the topic itself,
 * which the broker's TLS ACL lets only the holder of that till's certificate write
 * ("pattern write posedge/v1/%u/renew"); a revoked till gets nothing. Every request is answered
 * exactly once on the terminal's enrol/res, not retained. Signing opens the CA directory under
 * its lock (pe_pki_enrol): a request waits at most a few seconds for an operator's posedge-ctl.
 * The token is in the parsed request only, wiped before it is freed, and never logged.
 */
#include "bridge/enrol.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/log.h"
#include "posedge/pki.h"
#include "posedge/secret.h"

struct bridge_enrol {
    char dir[512];              /* the CA directory */
    char store[PE_ID_MAX];      /* the store served */
    int64_t signed_;            /* certificates signed */
    int64_t refused;            /* requests refused */
    char last_refusal[PE_ID_MAX]; /* the last refusal's name, "" none */
};

int bridge_enrol_create(const char *dir, const char *store, struct bridge_enrol **out, char *err,
                        size_t errlen)
{
    struct pe_pki_ca *ca = NULL;
    int rc = pe_pki_ca_open(dir, &ca, err, errlen);
    if (rc)
        return rc;
    const char *cs = pe_pki_ca_store(ca);
    if (strcmp(cs, "*") != 0 && strcmp(cs, store) != 0) {
        snprintf(err, errlen, "pki.dir %s: a CA of store %s, this bridge serves %s", dir, cs,
                 store);
        pe_pki_ca_close(ca);
        return PE_EINVAL;
    }
    pe_pki_ca_close(ca);
    struct bridge_enrol *e = calloc(1, sizeof *e);
    if (!e)
        return PE_ENOMEM;
    snprintf(e->dir, sizeof e->dir, "%s", dir);
    snprintf(e->store, sizeof e->store, "%s", store);
    *out = e;
    return PE_OK;
}

void bridge_enrol_destroy(struct bridge_enrol *e)
{
    free(e);
}

void bridge_enrol_subscribe(struct bridge_enrol *e, struct pe_mqtt *m)
{
    static const enum pe_channel chs[] = {PE_CH_ENROL, PE_CH_RENEW};
    char t[PE_TOPIC_MAX];
    for (size_t i = 0; e && i < sizeof chs / sizeof *chs; i++) {
        int rc = pe_topic(t, sizeof t, e->store, PE_TOPIC_ANY, chs[i], NULL);
        if (rc == PE_OK)
            rc = pe_mqtt_subscribe(m, t, 1);
        if (rc)
            pe_warn("enrol.subscribe_failed", "topic=%s err=%s", t, pe_errname(rc));
    }
}

/* Answer on the terminal's enrol/res (QoS 1, not retained). */
static void answer(struct bridge_enrol *e, struct pe_mqtt *m, const char *terminal,
                   const struct pe_enrol_answer *a)
{
    char t[PE_TOPIC_MAX], *text = NULL;
    int rc = pe_topic(t, sizeof t, e->store, terminal, PE_CH_ENROL_RES, NULL);
    if (rc == PE_OK)
        rc = pe_enrol_answer_json(a, &text);
    if (rc == PE_OK)
        rc = pe_mqtt_publish(m, t, text, strlen(text), 1, false, NULL);
    if (rc)
        pe_warn("enrol.answer_failed", "terminal=%s req=%s err=%s (the till asks again)",
                terminal, a->req, pe_errname(rc));
    free(text);
}

static void refuse(struct bridge_enrol *e, struct pe_mqtt *m, const char *terminal,
                   const char *kind, const char *req, enum pe_pki_refusal why, const char *text)
{
    char q[PE_PKI_ERRLEN];
    e->refused++;
    snprintf(e->last_refusal, sizeof e->last_refusal, "%s", pe_pki_refusal_name(why));
    pe_warn("enrol.refused", "store=%s terminal=%s kind=%s req=%s error=%s reason=\"%s\"", e->store,
            terminal, kind, req ? req : "-", e->last_refusal, pe_log_quote(text, q, sizeof q));
    if (!req)
        return; /* no request id to answer to */
    struct pe_enrol_answer a = {.req = req, .error = e->last_refusal, .reason = text};
    answer(e, m, terminal, &a);
}

bool bridge_enrol_message(struct bridge_enrol *e, struct pe_mqtt *m, const char *terminal,
                          enum pe_channel ch, const void *payload, size_t len)
{
    if (!e || (ch != PE_CH_ENROL && ch != PE_CH_RENEW))
        return false;
    bool renew = ch == PE_CH_RENEW;
    const char *kind = renew ? "renew" : "enrol";
    cJSON *doc = NULL;
    struct pe_enrol_request r;
    char why[PE_PKI_ERRLEN], err[PE_PKI_ERRLEN], *pem = NULL;
    if (len == 0)
        return true; /* a retained request being cleared */
    int rc = pe_enrol_request_parse(payload, len, renew, &doc, &r, why, sizeof why);
    if (rc) {
        refuse(e, m, terminal, kind, rc == PE_EINVAL ? r.req : NULL, PE_PKI_REFUSE_BAD_REQUEST,
               why);
        pe_enrol_request_free(doc);
        return true;
    }
    enum pe_pki_refusal refusal = PE_PKI_REFUSE_NONE;
    struct pe_pki_enrol_req er = {
        .store = e->store,
        .terminal = terminal,
        .token = renew ? NULL : r.token,
        .authenticated = renew, /* the TLS ACL: only "<store>/<terminal>" writes its renew */
        .csr_pem = r.csr,
        .now_ms = pe_time_now_ms(),
    };
    rc = pe_pki_enrol(e->dir, &er, &pem, &refusal, err, sizeof err);
    if (rc == PE_EDECLINED) {
        refuse(e, m, terminal, kind, r.req, refusal, err);
    } else if (rc) {
        /* The CA could not work (locked, a disk error): not the till's fault; it asks again. */
        pe_error("enrol.failed", "store=%s terminal=%s kind=%s req=%s err=%s msg=\"%s\"", e->store,
                 terminal, kind, r.req, pe_errname(rc), err);
        e->refused++;
    } else {
        struct pe_pki_cert_info info = {.serial = "?"};
        char t[PE_TIME_STRLEN] = "?";
        if (pe_pki_cert_info_mem(pem, strlen(pem), &info, why, sizeof why) == PE_OK)
            pe_time_format(info.not_after_ms, t);
        e->signed_++;
        pe_info("enrol.signed", "store=%s terminal=%s kind=%s req=%s serial=%s not_after=%s",
                e->store, terminal, kind, r.req, info.serial, t);
        struct pe_enrol_answer a = {.req = r.req, .ok = true, .cert = pem};
        answer(e, m, terminal, &a);
    }
    free(pem);
    pe_enrol_request_free(doc); /* wipes the token */
    return true;
}

void bridge_enrol_counts(const struct bridge_enrol *e, int64_t *signed_, int64_t *refused)
{
    *signed_ = e ? e->signed_ : 0;
    *refused = e ? e->refused : 0;
}

void bridge_enrol_state(const struct bridge_enrol *e, cJSON *doc)
{
    if (!e)
        return;
    cJSON *o = cJSON_AddObjectToObject(doc, "enrol");
    if (!o)
        return;
    cJSON_AddNumberToObject(o, "signed", (double)e->signed_);
    cJSON_AddNumberToObject(o, "refused", (double)e->refused);
    if (e->last_refusal[0])
        cJSON_AddStringToObject(o, "last_refusal", e->last_refusal);
    else
        cJSON_AddNullToObject(o, "last_refusal");
}
