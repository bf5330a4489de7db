/* SPDX-License-Identifier: Apache-2.0 */
/*
 * selftest.c - posedge-agent --self-test: can this till run? The configuration (with the remote
 * settings), the catalog, the data folder, the journal's integrity (the whole hash chain and
 * its signatures), the signer's key (its file's mode, that it is a P-256 key), the MQTT
 * password file, the TLS identity (the key's mode, key and certificate matching, the chain
 * to the CA, the days left, the certificate naming this till; or the enrolment token when
 * there is no certificate yet) and every real device, one line each on stdout.
 *
 * The invariant: it is read-only. Nothing is created or changed, and neither the bridge nor the
 * network is needed, so an OTA system (Mender, RAUC, SWUpdate) can run it after an update to
 * mark it good (exit 0) or roll it back (exit 1), even with the WAN down.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "posedge/err.h"
#include "posedge/clock.h"
#include "posedge/log.h"
#include "posedge/pki.h"
#include "posedge/secret.h"
#include "posedge/version.h"

static int self_line(bool ok, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int self_line(bool ok, const char *check, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("%-4s %s: ", ok ? "ok" : "FAIL", check);
    vprintf(fmt, ap);
    putchar('\n');
    fflush(stdout);
    va_end(ap);
    return ok ? 0 : 1;
}

static int check_data_dir(const struct agent *a)
{
    struct stat st;
    if (stat(a->cfg.data_dir, &st) == 0) {
        bool w = S_ISDIR(st.st_mode) && access(a->cfg.data_dir, W_OK | X_OK) == 0;
        return self_line(w, "data_dir", "%s %s", a->cfg.data_dir,
                         w                     ? "is writable"
                         : S_ISDIR(st.st_mode) ? "is not writable for this user"
                                               : "is not a directory");
    }
    /* Missing: the first start creates it, if the nearest existing folder lets us. */
    char up[AGENT_PATH_MAX];
    snprintf(up, sizeof up, "%s", a->cfg.data_dir);
    char *slash;
    while ((slash = strrchr(up, '/')) && slash != up && access(up, F_OK) != 0)
        *slash = '\0';
    if (slash == up && access(up, F_OK) != 0)
        snprintf(up, sizeof up, "/");
    bool w = access(up, W_OK | X_OK) == 0;
    return self_line(w, "data_dir", "%s does not exist yet; %s", a->cfg.data_dir,
                     w ? "the first start creates it" : "and this user cannot create it");
}

static int check_journal(const struct agent *a)
{
    char err[600], path[AGENT_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/journal.db", a->cfg.data_dir);
    if (access(path, F_OK) != 0)
        return self_line(true, "journal", "%s: none yet (created at the first start)", path);
    struct pe_journal_opts jo = {.readonly = true, .check = true};
    struct pe_journal_verify_result vr = {0};
    struct pe_journal *j = NULL;
    int rc = pe_journal_open(path, &jo, &j, err, sizeof err);
    if (rc == PE_OK && (strcmp(pe_journal_store(j), a->cfg.store) != 0 ||
                        strcmp(pe_journal_terminal(j), a->cfg.terminal) != 0)) {
        snprintf(err, sizeof err, "%s belongs to %s/%s, the configuration says %s/%s", path,
                 pe_journal_store(j), pe_journal_terminal(j), a->cfg.store, a->cfg.terminal);
        rc = PE_EINVAL;
    }
    if (rc == PE_OK && (rc = pe_journal_verify(j, &vr)) != PE_OK)
        snprintf(err, sizeof err, "%s: chain broken at seq %lld: %s", path,
                 (long long)vr.bad_seq, vr.why);
    pe_journal_close(j);
    if (rc == PE_OK)
        return self_line(true, "journal", "%s: %lld events, hash chain intact, %lld signed", path,
                         (long long)vr.count, (long long)vr.nsigned);
    return self_line(false, "journal", "%s", err);
}

/* The pkcs11 signer: its token present, the PIN accepted, its key found (never made here) and
 * where it is held. */
static int check_token(const struct agent *a, const struct pe_signer_ops *ops)
{
    char err[PE_PKI_ERRLEN], desc[1024], path[AGENT_SIGNER_PATH_MAX];
    struct pe_signer_conf sc;
    agent_signer_conf(&a->cfg, path, &sc);
    sc.find_only = true;
    struct pe_signer *s = NULL;
    int rc = pe_signer_open(ops, &sc, &s, err, sizeof err);
    if (rc == PE_ENOTFOUND)
        return self_line(true, "signer",
                         "%s: no key \"%s\" on token \"%s\" yet; the first start makes it",
                         ops->name, a->cfg.signer_pkcs11_key, a->cfg.signer_pkcs11_token);
    if (rc)
        return self_line(false, "signer", "%s", err);
    if (pe_signer_describe(s, desc, sizeof desc) != PE_OK)
        desc[0] = '\0';
    rc = self_line(true, "signer", "%s: key %s, %s", ops->name, pe_signer_key(s)->key_id, desc);
    pe_signer_close(s);
    return rc;
}

/* The software signer's key: readable by this user only, a P-256 key. Never made here. */
static int check_signer(const struct agent *a)
{
    char err[PE_PKI_ERRLEN], path[AGENT_SIGNER_PATH_MAX], kid[PE_SIGNER_KEY_ID_LEN];
    struct pe_signer_conf sc;
    const struct pe_signer_ops *ops = pe_signer_find(a->cfg.signer_type);
    if (!ops)
        return self_line(true, "signer", "none: events are not signed (signer.type)");
    if (ops != &pe_signer_software) /* a device (a token): opened to be seen */
        return check_token(a, ops);
    agent_signer_conf(&a->cfg, path, &sc);
    if (access(path, F_OK) != 0)
        return self_line(true, "signer", "%s: %s does not exist yet; the first start makes it",
                         a->cfg.signer_type, path);
    struct pe_pki_key *k = NULL;
    char *pem = NULL;
    int rc = pe_pki_key_load(path, &k, err, sizeof err);
    if (rc == PE_OK)
        rc = pe_pki_key_public_pem(k, &pem, err, sizeof err);
    if (rc == PE_OK && (rc = pe_signer_key_id(pem, kid)) != PE_OK)
        snprintf(err, sizeof err, "%s: its public key does not parse back", path);
    free(pem);
    pe_pki_key_destroy(k);
    if (rc)
        return self_line(false, "signer", "%s", err);
    return self_line(true, "signer", "%s: key %s in %s", a->cfg.signer_type, kid, path);
}

static int check_password(const struct agent *a)
{
    char pw[PE_SECRET_MAX], err[600];
    int rc = remote_cfg_password(&a->cfg, pw, sizeof pw, err, sizeof err);
    pe_secret_wipe(pw, sizeof pw);
    return self_line(rc == PE_OK, "mqtt.password_file", "%s", rc == PE_OK ? "readable" : err);
}

/* The TLS identity (pe_pki_self_check), or what enrolment needs to make one. */
static int check_tls(const struct agent *a)
{
    const struct agent_cfg *c = &a->cfg;
    char err[PE_PKI_ERRLEN], cn[PE_PKI_CN_MAX];
    if (!c->mqtt_tls_ca_file[0])
        return self_line(true, "mqtt.tls",
                         "off: plaintext MQTT (a lab only; set mqtt.tls.ca_file)");
    if (access(c->mqtt_tls_ca_file, R_OK) != 0)
        return self_line(false, "mqtt.tls", "ca_file %s: cannot read", c->mqtt_tls_ca_file);
    if (!c->mqtt_tls_cert_file[0] || !c->mqtt_tls_key_file[0])
        return self_line(true, "mqtt.tls", "server verified against %s; no client certificate",
                         c->mqtt_tls_ca_file);
    if (access(c->mqtt_tls_cert_file, F_OK) != 0) {
        if (!c->enrol_token_file[0] || access(c->enrol_token_file, F_OK) != 0)
            return self_line(false, "mqtt.tls",
                             "cert_file %s does not exist and there is no enrolment token "
                             "(enrol.token_file): the uplink cannot start",
                             c->mqtt_tls_cert_file);
        int rc = pe_secret_check_mode("enrol.token_file", c->enrol_token_file, err, sizeof err);
        return self_line(rc == PE_OK, "mqtt.tls", "%s",
                         rc ? err : "no certificate yet: the till enrols with its token at start");
    }
    struct pe_pki_self me;
    int rc = pe_pki_self_check(c->mqtt_tls_ca_file, c->mqtt_tls_cert_file, c->mqtt_tls_key_file,
                               NULL, pe_time_now_ms(), &me, err, sizeof err);
    if (rc)
        return self_line(false, "mqtt.tls", "%s", err);
    pe_pki_cn_make(PE_PKI_TERMINAL, c->store, c->terminal, cn, NULL, 0);
    if (strcmp(me.cert.cn, cn) != 0)
        return self_line(false, "mqtt.tls", "%s names %s, this till is %s: every topic would be "
                                            "denied",
                         c->mqtt_tls_cert_file, me.cert.cn, cn);
    return self_line(true, "mqtt.tls", "%s serial %s, key matches, chains to %s, %lld days left%s",
                     me.cert.cn, me.cert.serial, c->mqtt_tls_ca_file, (long long)me.days_left,
                     me.days_left < c->enrol_renew_days ? " (renewal due)" : "");
}

/* Open and close one device with its configured driver (fakes are simulated: nothing to open). */
static int check_device(const struct agent *a, enum pe_dev_class cls)
{
    const struct agent_devcfg *dc = &a->cfg.dev[cls];
    char check[32];
    snprintf(check, sizeof check, "device %s", pe_dev_classes[cls].name);
    if (strcmp(dc->driver, "fake") == 0)
        return self_line(true, check, "fake (simulated)");
    const struct pe_device_ops *ops = pe_hal_driver(cls, dc->driver);
    if (!ops)
        return self_line(false, check, "no driver \"%s\"", dc->driver);
    struct pe_hal_devcfg hc = {dc->driver, dc->path, a->cfg.data_dir, dc->options};
    struct pe_device *d = NULL;
    int rc = pe_device_open(ops, &hc, &d);
    if (rc == PE_OK)
        pe_device_close(d);
    return self_line(rc == PE_OK || rc == PE_EBUSY, check, "%s %s: %s", dc->driver,
                     dc->path[0] ? dc->path : "(driver default)",
                     rc == PE_OK      ? "opens"
                     : rc == PE_EBUSY ? "busy (in use, by the running agent?)"
                                      : pe_strerror(rc));
}

int selftest_run(struct agent *a)
{
    int failed = 0;
    char err[600];
    pe_log_init("agent", PE_LOG_ERROR); /* only the report on stdout */
    printf("posedge-agent %s (%s) self-test, config %s\n", pe_version(), pe_board(), a->cfg_path);
    int rc = remote_cfg_check(&a->cfg, a->cfg_path, err, sizeof err);
    failed += self_line(rc == PE_OK, "config", "%s",
                        rc == PE_OK ? "valid (store, terminal, drivers, catalog, currency)" : err);
    failed += check_data_dir(a);
    failed += check_journal(a);
    failed += check_signer(a);
    if (a->cfg.mqtt_password_file[0])
        failed += check_password(a);
    if (a->cfg.mqtt_host[0])
        failed += check_tls(a);
    for (int i = 0; i < PE_DEV__COUNT; i++)
        failed += check_device(a, (enum pe_dev_class)i);
    printf("self-test: %s\n", failed ? "FAILED" : "passed");
    fflush(stdout);
    return failed ? 1 : 0;
}
