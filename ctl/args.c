/* SPDX-License-Identifier: Apache-2.0 */
/*
 * args.c - option values the posedge-ctl commands share (see ctl.h): counts of seconds, and
 * what the commands that talk to the MQTT broker (status, fleet) take alike: the broker's
 * address, a one-shot client id, the login (the password, read from --password-file by
 * pe_secret_read, is wiped as soon as the client has its copy), the TLS options, and the words
 * for a broker that could not be reached; and how a value from a till or the bridge is printed
 * in KEY=VALUE form.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/json.h"
#include "posedge/mqtt.h"
#include "posedge/secret.h"

int ctl_seconds(const char *cmd, const char *opt, const char *arg, long max, long *out)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (!*arg || *end || v < 1 || v > max) {
        fprintf(stderr, "posedge-ctl %s: %s: expected seconds in 1..%ld, got \"%s\"\n", cmd, opt,
                max, arg);
        return -1;
    }
    *out = v;
    return 0;
}

int ctl_mqtt_addr(const char *cmd, const char *arg, char *host, size_t hostlen, int *port)
{
    if (pe_mqtt_parse_addr(arg, host, hostlen, port) != PE_OK) {
        fprintf(stderr, "posedge-ctl %s: --mqtt: expected HOST:PORT, got \"%s\"\n", cmd, arg);
        return -1;
    }
    return 0;
}

void ctl_client_id(const char *cmd, char *out, size_t n)
{
    snprintf(out, n, "posedge-ctl-%s-%ld-%04x", cmd, (long)getpid(),
             (unsigned)(pe_mono_us() & 0xffff));
}

int ctl_mqtt_open(struct pe_loop *loop, struct pe_mqtt_opts *mo, char *password, size_t pwlen,
                  struct pe_mqtt **out)
{
    mo->clean_session = true;
    mo->password = password;
    mo->keepalive_s = 10;
    mo->backoff_min_ms = 100;
    mo->backoff_max_ms = 1000;
    int rc = pe_mqtt_create(loop, mo, out);
    pe_secret_wipe(password, pwlen); /* libmosquitto has its own copy */
    mo->password = NULL;
    return rc;
}

bool ctl_tls_opt(int c, const char *arg, struct ctl_tls *t)
{
    switch (c) {
    case CTL_OPT_TLS_CA:
        t->ca = arg;
        return true;
    case CTL_OPT_TLS_CERT:
        t->cert = arg;
        return true;
    case CTL_OPT_TLS_KEY:
        t->key = arg;
        return true;
    default:
        return false;
    }
}

int ctl_tls_check(const char *cmd, const struct ctl_tls *t)
{
    char err[600];
    if (!t->cert != !t->key || ((t->cert || t->key) && !t->ca)) {
        fprintf(stderr, "posedge-ctl %s: %s\n", cmd,
                !t->cert != !t->key ? "--tls-cert and --tls-key go together"
                                    : "--tls-cert needs --tls-ca (the broker's CA)");
        return -1;
    }
    if (t->key && pe_secret_check_mode("--tls-key", t->key, err, sizeof err) != PE_OK) {
        fprintf(stderr, "posedge-ctl %s: %s\n", cmd, err);
        return -1;
    }
    return 0;
}

void ctl_tls_apply(const struct ctl_tls *t, struct pe_mqtt_opts *mo)
{
    mo->tls_ca_file = t->ca;
    mo->tls_cert_file = t->cert;
    mo->tls_key_file = t->key;
}

void ctl_unreachable(const char *cmd, const char *addr, long timeout_s, int attempts_failed,
                     int last_reason, bool tls)
{
    if (last_reason == PE_EDECLINED) {
        fprintf(stderr,
                "posedge-ctl %s: the MQTT broker at %s refused the connection (not authorised: "
                "check %s)\n",
                cmd, addr,
                tls ? "that --tls-cert names a user of the store's ACL, S/hq or S/bridge"
                    : "--user and --password-file");
        return;
    }
    const char *why = attempts_failed == 0 ? "no answer" : "connection refused or lost";
    fprintf(stderr,
            "posedge-ctl %s: cannot reach the MQTT broker at %s within %ld s (%s; %d attempt%s "
            "failed)%s\n",
            cmd, addr, timeout_s, why, attempts_failed, attempts_failed == 1 ? "" : "s",
            tls && attempts_failed ? ": with TLS, check --tls-ca, that HOST is a name in the "
                                     "broker's certificate, and --tls-cert/--tls-key (the "
                                     "broker refuses a revoked or expired certificate)"
                                   : "");
}

/* True when s can be printed as it is after "KEY=": non-empty, no blank, quote, backslash,
 * '=' or control character. */
static bool plain(const char *s)
{
    if (!*s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == '"' || *p == '\\' || *p == '=')
            return false;
    return true;
}

void ctl_put_text(FILE *out, const char *s)
{
    if (plain(s)) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < ' ' || *p == 0x7f)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

void ctl_put_value(FILE *out, const cJSON *v)
{
    if (cJSON_IsString(v)) {
        ctl_put_text(out, v->valuestring);
        return;
    }
    if (cJSON_IsNumber(v) && v->valuedouble <= (double)PE_JSON_MAX_INT &&
        v->valuedouble >= -(double)PE_JSON_MAX_INT &&
        v->valuedouble == (double)(long long)v->valuedouble) {
        fprintf(out, "%lld", (long long)v->valuedouble); /* exact: cJSON might say 1e+15 */
        return;
    }
    char *s = cJSON_PrintUnformatted(v);
    fputs(s ? s : "?", out);
    free(s);
}
