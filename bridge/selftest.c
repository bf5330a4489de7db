/* SPDX-License-Identifier: Apache-2.0 */
/*
 * selftest.c - the checks of posedge-bridge --self-test (see selftest.h).
 *
 * Each check prints its one line and says whether it passed. The data directory is judged by
 * access(2) with the effective ids and the file system's read-only flag, never by writing a
 * probe file; the spool is read through pe_spool_verify, which opens it read-only (the same
 * checks as the bridge's start: quick_check and every terminal's rows against its
 * watermarks). librdkafka's configuration is only built: no producer is created.
 */
#include "bridge/selftest.h"

#include <errno.h>
#include <librdkafka/rdkafka.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <fcntl.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/kafka_conf.h"
#include "posedge/pki.h"
#include "posedge/secret.h"
#include "posedge/spool.h"

/* Print "ok WHAT DETAIL" or "FAIL WHAT DETAIL"; returns 1 for a failure, else 0. */
static int line(FILE *out, bool ok, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int line(FILE *out, bool ok, const char *what, const char *fmt, ...)
{
    va_list ap;
    fprintf(out, "%s %s ", ok ? "ok" : "FAIL", what);
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
    fflush(out);
    return ok ? 0 : 1;
}

/* The librdkafka properties, on the configuration the event producer of the bridge's mode
 * would get (posedge/kafka_conf.h); no client is created. */
static int check_kafka(const struct bridge_cfg *cfg, FILE *out)
{
    char err[600], tid[64];
    snprintf(tid, sizeof tid, "posedge-bridge-%s", bridge_cfg_id(cfg));
    struct pe_kafka_site site = {
        .brokers = cfg->kafka_brokers,
        .properties = cfg->kafka_properties,
        .security = &cfg->kafka_security,
        .transactional_id = tid,
    };
    rd_kafka_conf_t *conf = NULL;
    int rc = pe_kafka_conf_new(bridge_cfg_transactional(cfg) ? PE_KAFKA_PRODUCER_TRANSACTIONAL
                                                             : PE_KAFKA_PRODUCER_IDEMPOTENT,
                               &site, &conf, err, sizeof err);
    if (conf)
        rd_kafka_conf_destroy(conf);
    if (rc) { /* err reads "kafka.properties.KEY: why" or "kafka.brokers: why" */
        static const char prefix[] = "kafka.properties.";
        return line(out, false, "kafka.properties", "%s",
                    strncmp(err, prefix, sizeof prefix - 1) == 0 ? err + sizeof prefix - 1 : err);
    }
    return line(out, true, "kafka.properties",
                "%d accepted by librdkafka %s (brokers %s, mode %s; not contacted)",
                cJSON_GetArraySize(cfg->kafka_properties), rd_kafka_version_str(),
                cfg->kafka_brokers, cfg->kafka_mode);
}

static int check_mqtt(const struct bridge_cfg *cfg, FILE *out)
{
    char pw[PE_SECRET_MAX], err[600];
    int rc = bridge_cfg_password(cfg, pw, sizeof pw, err, sizeof err);
    bool have = pw[0] != '\0';
    pe_secret_wipe(pw, sizeof pw);
    if (rc) /* err reads "mqtt.password_file FILE: why" */
        return line(out, false, "mqtt.password_file", "%s",
                    strncmp(err, "mqtt.password_file ", 19) == 0 ? err + 19 : err);
    if (!cfg->mqtt_password_file[0])
        return line(out, true, "mqtt.password_file", "none (user %s; broker %s:%lld not contacted)",
                    cfg->mqtt_username[0] ? cfg->mqtt_username : "anonymous", cfg->mqtt_host,
                    (long long)cfg->mqtt_port);
    return line(out, true, "mqtt.password_file",
                "%s: readable, %s (user %s; broker %s:%lld not contacted)", cfg->mqtt_password_file,
                have ? "a password" : "EMPTY: no password",
                cfg->mqtt_username[0] ? cfg->mqtt_username : "anonymous", cfg->mqtt_host,
                (long long)cfg->mqtt_port);
}

/* Writable by us, on a file system mounted read-write. */
static bool writable(const char *dir, char *why, size_t len)
{
    struct statvfs vfs;
    if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) != 0) {
        snprintf(why, len, "not writable: %s", strerror(errno));
        return false;
    }
    if (statvfs(dir, &vfs) == 0 && (vfs.f_flag & ST_RDONLY)) {
        snprintf(why, len, "not writable: read-only file system");
        return false;
    }
    return true;
}

static int check_data_dir(const struct bridge_cfg *cfg, FILE *out)
{
    struct stat sb;
    struct statvfs vfs;
    char why[300], parent[BRIDGE_PATH_MAX];
    const char *dir = cfg->data_dir;
    if (stat(dir, &sb) != 0) {
        if (errno != ENOENT)
            return line(out, false, "data_dir", "%s: %s", dir, strerror(errno));
        /* The bridge makes it at start (one level, as mkdir). */
        snprintf(parent, sizeof parent, "%s", dir);
        char *slash = strrchr(parent, '/');
        if (slash)
            *(slash == parent ? slash + 1 : slash) = '\0';
        else
            snprintf(parent, sizeof parent, ".");
        if (stat(parent, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return line(out, false, "data_dir", "%s: does not exist, nor does its parent %s", dir,
                        parent);
        if (!writable(parent, why, sizeof why))
            return line(out, false, "data_dir", "%s: does not exist, and its parent %s is %s", dir,
                        parent, why);
        return line(out, true, "data_dir", "%s: does not exist yet (made at start in %s)", dir,
                    parent);
    }
    if (!S_ISDIR(sb.st_mode))
        return line(out, false, "data_dir", "%s: not a directory", dir);
    if (!writable(dir, why, sizeof why))
        return line(out, false, "data_dir", "%s: %s", dir, why);
    if (statvfs(dir, &vfs) == 0)
        return line(out, true, "data_dir", "%s: writable, %llu MiB free", dir,
                    (unsigned long long)vfs.f_bavail * vfs.f_frsize / (1024 * 1024));
    return line(out, true, "data_dir", "%s: writable", dir);
}

static int check_spool(const struct bridge_cfg *cfg, FILE *out)
{
    char path[BRIDGE_PATH_MAX + 16], err[600];
    struct pe_spool_stats ss;
    int64_t terminals = 0;
    snprintf(path, sizeof path, "%s/spool.db", cfg->data_dir);
    int rc = pe_spool_verify(path, &ss, &terminals, err, sizeof err);
    if (rc == PE_ENOTFOUND)
        return line(out, true, "spool", "%s: no spool yet (made at start)", path);
    if (rc) /* err names the file: "spool FILE is damaged (...)", "FILE is not a spool" */
        return line(out, false, "spool", "%s", strncmp(err, "spool ", 6) == 0 ? err + 6 : err);
    return line(out, true, "spool", "%s: intact, %lld terminals, %lld records not yet in Kafka",
                path, (long long)terminals, (long long)ss.pending);
}

/* The MQTT TLS identity (pe_pki_self_check: the key's mode, key and certificate matching, the
 * chain to the CA, the CRL when one is watched, days to expiry). Said only with TLS configured
 * (plaintext is the start's warning). */
static int check_tls(const struct bridge_cfg *cfg, FILE *out)
{
    char err[PE_PKI_ERRLEN], crl[BRIDGE_PATH_MAX + 16];
    if (!cfg->mqtt_tls_ca_file[0])
        return 0;
    if (!cfg->mqtt_tls_cert_file[0] || !cfg->mqtt_tls_key_file[0])
        return line(out, !cfg->mqtt_tls_cert_file[0] && !cfg->mqtt_tls_key_file[0], "mqtt.tls",
                    "%s", cfg->mqtt_tls_cert_file[0] || cfg->mqtt_tls_key_file[0]
                              ? "mqtt.tls.cert_file and mqtt.tls.key_file go together"
                              : "server verified; no client certificate");
    struct pe_pki_self me;
    const char *crl_path = bridge_cfg_crl(cfg, crl, sizeof crl);
    int rc = pe_pki_self_check(cfg->mqtt_tls_ca_file, cfg->mqtt_tls_cert_file,
                               cfg->mqtt_tls_key_file, crl_path, pe_time_now_ms(), &me, err,
                               sizeof err);
    if (rc)
        return line(out, false, "mqtt.tls", "%s", err);
    int failed = line(out, true, "mqtt.tls",
                      "%s serial %s, key matches, chains to %s, %lld days left%s", me.cert.cn,
                      me.cert.serial, cfg->mqtt_tls_ca_file, (long long)me.days_left,
                      me.days_left < PE_PKI_CERT_WARN_DAYS ? " (renew it soon)" : "");
    if (me.crl)
        failed += line(out, true, "mqtt.tls.crl", "%s: next update in %lld days%s", crl_path,
                       (long long)me.crl_days_left,
                       me.crl_days_left < PE_PKI_CRL_WARN_DAYS
                           ? " (renew it now: past it the broker refuses every client)"
                           : "");
    return failed;
}

/* The enrolment signer's CA (opened under its lock, read only), when one is configured. */
static int check_pki(const struct bridge_cfg *cfg, FILE *out)
{
    char err[PE_PKI_ERRLEN];
    struct pe_pki_ca *ca = NULL;
    if (!cfg->pki_dir[0])
        return 0;
    int rc = pe_pki_ca_open(cfg->pki_dir, &ca, err, sizeof err);
    if (rc)
        return line(out, false, "pki.dir", "%s", err);
    const char *store = pe_pki_ca_store(ca);
    bool ok = strcmp(store, "*") == 0 || strcmp(store, cfg->store) == 0;
    rc = line(out, ok, "pki.dir", "%s: a CA for %s%s", cfg->pki_dir,
              strcmp(store, "*") == 0 ? "every store (HQ)" : store,
              ok ? "" : ", not this bridge's store");
    pe_pki_ca_close(ca);
    return rc;
}

int bridge_self_test(const struct bridge_cfg *cfg, FILE *out)
{
    return check_kafka(cfg, out) + check_mqtt(cfg, out) + check_tls(cfg, out) +
           check_pki(cfg, out) + check_data_dir(cfg, out) + check_spool(cfg, out);
}
