/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pki.c - posedge-ctl pki: the store's certificate authority from the command line
 * (common/pki.c does the work; docs/pki.md describes the CA directory and the flow).
 *
 *   posedge-ctl pki init   --dir D (--store S | --hq) [--days N] [--name NAME]
 *   posedge-ctl pki issue  --dir D --store S (--terminal T | --bridge | --hq | --server)
 *                          (--csr FILE | --key-out FILE [--key-format F]) [--san DNS:x,IP:y]
 *                          --out CERT [--days N] [--at TIME]
 *   posedge-ctl pki revoke --dir D (--serial HEX | --terminal T [--store S])
 *   posedge-ctl pki list   --dir D [--json]
 *   posedge-ctl pki crl    --dir D [--out FILE] [--days N]
 *   posedge-ctl pki token  --dir D --store S --terminal T [--ttl-h N] [--out FILE]
 *   posedge-ctl pki csr    --key KEY --store S --terminal T --out CSR [--key-format F]
 *   posedge-ctl pki show   CERT
 *   posedge-ctl pki verify --ca CA --cert CERT [--crl CRL] [--key KEY]
 *
 * The options are one table; each subcommand says which of them it takes. No output line ever
 * holds key material: keys go to 0600 files only. The one secret printed is an enrolment
 * token, once, by "pki token" (for the technician; only its hash is kept). Exit status: 0, 1
 * when the operation failed or a check did not pass, 2 for a usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "posedge/clock.h"
#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/file.h"
#include "posedge/json.h"
#include "posedge/pki.h"
#include "posedge/protocol.h"
#include "posedge/secret.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* X(ID, long name, takes a value) */
#define PKI_OPTS(X)                                                                                \
    X(DIR, "dir", 1)                                                                               \
    X(STORE, "store", 1)                                                                           \
    X(TERMINAL, "terminal", 1)                                                                     \
    X(BRIDGE, PE_ID_BRIDGE, 0) /* --bridge: the store bridge's identity */                        \
    X(HQ, "hq", 0)                                                                                 \
    X(SERVER, "server", 0)                                                                         \
    X(CSR, "csr", 1)                                                                               \
    X(KEY_OUT, "key-out", 1)                                                                       \
    X(KEY, "key", 1)                                                                               \
    X(KEY_FORMAT, "key-format", 1)                                                                 \
    X(SAN, "san", 1)                                                                               \
    X(OUT, "out", 1)                                                                               \
    X(DAYS, "days", 1)                                                                             \
    X(SERIAL, "serial", 1)                                                                         \
    X(JSON, "json", 0)                                                                             \
    X(TTL_H, "ttl-h", 1)                                                                           \
    X(NAME, "name", 1)                                                                             \
    X(CA, "ca", 1)                                                                                 \
    X(CERT, "cert", 1)                                                                             \
    X(CRL, "crl", 1)                                                                               \
    X(AT, "at", 1)                                                                                 \
    X(HELP, "help", 0)

enum opt {
#define OPT_ENUM(id, name, arg) O_##id,
    PKI_OPTS(OPT_ENUM)
#undef OPT_ENUM
        O_COUNT
};
#define BIT(id) (1u << O_##id)

static const char *const opt_names[] = {
#define OPT_NAME(id, name, arg) name,
    PKI_OPTS(OPT_NAME)
#undef OPT_NAME
};

struct args {
    const char *cmd;      /* the subcommand's name */
    const char *v[O_COUNT]; /* option values (NULL when absent; "" for a flag given) */
    const char *pos;      /* the positional argument, for those that take one */
};

/* ---- shared helpers ---- */

static void fail(const struct args *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(const struct args *a, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "posedge-ctl pki %s: ", a->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* An integer option in 1..max (absent: 0). Returns 0, or EXIT_USAGE after saying why. */
static int int_opt(const struct args *a, enum opt o, long max, int *out)
{
    *out = 0;
    const char *s = a->v[o];
    if (!s)
        return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || !*s || *end || v < 1 || v > max) {
        fail(a, "--%s: expected a whole number in 1..%ld, got \"%s\"", opt_names[o], max, s);
        return EXIT_USAGE;
    }
    *out = (int)v;
    return 0;
}

static int key_format(const struct args *a, enum pe_pki_key_format *out)
{
    const char *s = a->v[O_KEY_FORMAT];
    if (!s || strcmp(s, "pkcs8") == 0)
        *out = PE_PKI_KEY_PKCS8;
    else if (strcmp(s, "sec1") == 0)
        *out = PE_PKI_KEY_SEC1;
    else {
        fail(a, "--key-format: expected pkcs8 or sec1, got \"%s\"", s);
        return EXIT_USAGE;
    }
    return 0;
}

static void fmt_time(int64_t ms, char out[PE_TIME_STRLEN])
{
    pe_time_format(ms, out);
}

static int open_ca(const struct args *a, struct pe_pki_ca **ca)
{
    char err[PE_PKI_ERRLEN];
    int rc = pe_pki_ca_open(a->v[O_DIR], ca, err, sizeof err);
    if (rc)
        fail(a, "%s", err);
    return rc ? EXIT_FAIL : 0;
}

/* Write a public file (certificate, CSR, CRL) atomically, mode 0644. */
static int write_public(const struct args *a, const char *path, const char *text)
{
    char err[PE_PKI_ERRLEN];
    if (pe_file_write_atomic_mode(path, text, strlen(text), 0644, 0, err, sizeof err)) {
        fail(a, "%s", err);
        return EXIT_FAIL;
    }
    return 0;
}

static const char *status_of(const struct pe_pki_entry *e, int64_t now)
{
    return e->revoked ? "revoked" : now >= e->not_after_ms ? "expired" : "valid";
}

/* ---- subcommands ---- */

static int cmd_init(const struct args *a)
{
    int days, rc;
    if ((rc = int_opt(a, O_DAYS, 36500, &days)))
        return rc;
    if (!a->v[O_STORE] == !a->v[O_HQ]) {
        fail(a, "needs exactly one of --store S (a store CA) and --hq (an HQ CA)");
        return EXIT_USAGE;
    }
    struct pe_pki_ca_init o = {.dir = a->v[O_DIR],
                               .store = a->v[O_STORE],
                               .hq = a->v[O_HQ] != NULL,
                               .name = a->v[O_NAME],
                               .days = days,
                               .now_ms = pe_time_now_ms()};
    char err[PE_PKI_ERRLEN], path[4200];
    if ((rc = pe_pki_ca_init(&o, err, sizeof err))) {
        fail(a, "%s", err);
        return rc == PE_EINVAL ? EXIT_USAGE : EXIT_FAIL;
    }
    struct pe_pki_cert_info ci;
    snprintf(path, sizeof path, "%s/ca.crt", o.dir);
    if (pe_pki_cert_info_file(path, &ci, err, sizeof err)) {
        fail(a, "%s", err);
        return EXIT_FAIL;
    }
    char t[PE_TIME_STRLEN];
    fmt_time(ci.not_after_ms, t);
    printf("created CA \"%s\" in %s for %s%s, valid until %s\n", ci.cn, o.dir,
           o.hq ? "every store" : "store ", o.hq ? "" : o.store, t);
    printf("trust anchor %s (sha256 %s); key %s/ca.key (mode 0600); CRL %s/crl.pem\n", path,
           ci.fingerprint, o.dir, o.dir);
    return 0;
}

static int cmd_issue(const struct args *a)
{
    int days, rc, nkind = !!a->v[O_TERMINAL] + !!a->v[O_BRIDGE] + !!a->v[O_HQ] + !!a->v[O_SERVER];
    enum pe_pki_key_format fmt;
    if ((rc = int_opt(a, O_DAYS, 36500, &days)) || (rc = key_format(a, &fmt)))
        return rc;
    if (nkind != 1) {
        fail(a, "needs exactly one of --terminal T, --bridge, --hq, --server");
        return EXIT_USAGE;
    }
    if (!a->v[O_CSR] == !a->v[O_KEY_OUT]) {
        fail(a, "needs exactly one of --csr FILE (a till's request) and --key-out FILE (a key "
                "made here)");
        return EXIT_USAGE;
    }
    if (!a->v[O_STORE] || !a->v[O_OUT]) {
        fail(a, "needs --store S and --out CERT");
        return EXIT_USAGE;
    }
    if (a->v[O_KEY_FORMAT] && !a->v[O_KEY_OUT]) {
        fail(a, "--key-format goes with --key-out");
        return EXIT_USAGE;
    }
    enum pe_pki_kind kind = a->v[O_TERMINAL] ? PE_PKI_TERMINAL
                            : a->v[O_BRIDGE] ? PE_PKI_BRIDGE
                            : a->v[O_HQ]     ? PE_PKI_HQ
                                             : PE_PKI_SERVER;
    char err[PE_PKI_ERRLEN], cn[PE_PKI_CN_MAX];
    /* Usage errors before anything touches the CA or makes a key. */
    if (pe_pki_cn_make(kind, a->v[O_STORE], a->v[O_TERMINAL], cn, err, sizeof err)) {
        fail(a, "%s", err);
        return EXIT_USAGE;
    }
    if ((kind == PE_PKI_SERVER) != (a->v[O_SAN] != NULL)) {
        fail(a, kind == PE_PKI_SERVER ? "--server needs --san DNS:name,IP:address"
                                      : "--san goes with --server only");
        return EXIT_USAGE;
    }
    /* --at: issue as if it were that time (a certificate that is already expired, for a test
     * that the broker refuses it; or one valid from a planned date). */
    int64_t now_ms = pe_time_now_ms();
    if (a->v[O_AT] && (pe_time_parse(a->v[O_AT], &now_ms) != PE_OK || now_ms < 0)) {
        fail(a, "--at: expected a UTC time such as 2020-01-01T00:00:00.000Z, got \"%s\"",
             a->v[O_AT]);
        return EXIT_USAGE;
    }
    char *csr = NULL, *pem = NULL;
    struct pe_pki_key *key = NULL;
    struct pe_rng *rng = NULL;
    struct pe_pki_ca *ca = NULL;
    bool key_written = false;
    int status = EXIT_FAIL;
    if (a->v[O_CSR]) {
        char csr_cn[PE_PKI_CN_MAX] = "";
        size_t len;
        if (pe_file_read(a->v[O_CSR], 64 * 1024, &csr, &len, err, sizeof err) ||
            pe_pki_csr_check(csr, len, csr_cn, err, sizeof err)) {
            fail(a, "--csr %s: %s", a->v[O_CSR], err);
            goto done;
        }
        if (strcmp(csr_cn, cn) != 0)
            fprintf(stderr,
                    "posedge-ctl pki issue: note: the CSR asks for CN \"%s\"; the certificate "
                    "names %s (only the CSR's key is used)\n",
                    csr_cn, cn);
    } else {
        if (access(a->v[O_KEY_OUT], F_OK) == 0) {
            fail(a, "--key-out %s exists already: a key is never replaced", a->v[O_KEY_OUT]);
            goto done;
        }
        if (pe_rng_create("posedge-ctl/pki", &rng) ||
            pe_pki_key_generate(rng, &key, err, sizeof err)) {
            fail(a, "cannot generate a key: %s", err);
            goto done;
        }
    }
    if (open_ca(a, &ca))
        goto done;
    if (key) {
        /* The key file first: if it cannot be written, nothing is issued for it. */
        if (pe_pki_key_save(key, a->v[O_KEY_OUT], fmt, err, sizeof err)) {
            fail(a, "%s", err);
            goto done;
        }
        key_written = true;
    }
    struct pe_pki_issue_req req = {.kind = kind,
                                   .store = a->v[O_STORE],
                                   .terminal = a->v[O_TERMINAL],
                                   .csr_pem = csr,
                                   .key = key,
                                   .san = a->v[O_SAN],
                                   .days = days,
                                   .now_ms = now_ms};
    struct pe_pki_cert_info info;
    if ((rc = pe_pki_issue(ca, &req, &pem, &info, err, sizeof err))) {
        fail(a, "%s", err);
        status = rc == PE_EINVAL ? EXIT_USAGE : EXIT_FAIL;
        goto done;
    }
    if (write_public(a, a->v[O_OUT], pem)) {
        fprintf(stderr, "posedge-ctl pki issue: serial %s is in the index; revoke it or write it "
                        "again with pki issue\n",
                info.serial);
        goto done;
    }
    key_written = false; /* it belongs to the certificate now */
    char t[PE_TIME_STRLEN];
    fmt_time(info.not_after_ms, t);
    printf("issued %s certificate %s serial %s, valid until %s (%lld days), to %s\n",
           pe_pki_kind_name(kind), info.cn, info.serial, t,
           (long long)pe_pki_days_left(info.not_after_ms, pe_time_now_ms()), a->v[O_OUT]);
    if (info.san[0])
        printf("subject alternative names %s\n", info.san);
    if (key)
        printf("its key is in %s (mode 0600, %s)\n", a->v[O_KEY_OUT],
               fmt == PE_PKI_KEY_PKCS8 ? "PKCS#8" : "SEC1");
    status = 0;
done:
    if (key_written)
        unlink(a->v[O_KEY_OUT]); /* a key without its certificate is of no use */
    pe_pki_ca_close(ca);
    pe_pki_key_destroy(key);
    pe_rng_destroy(rng);
    free(csr);
    free(pem);
    return status;
}

static void crl_note(const char *dir)
{
    char path[4200], err[PE_PKI_ERRLEN], t[PE_TIME_STRLEN];
    struct pe_pki_crl_info ci;
    snprintf(path, sizeof path, "%s/crl.pem", dir);
    if (pe_pki_crl_info_file(path, &ci, err, sizeof err) != PE_OK)
        return;
    fmt_time(ci.next_update_ms, t);
    printf("wrote CRL %s (number %lld, %zu revoked, next update %s): install it as the broker's "
           "crlfile and reload the broker (SIGHUP)\n",
           path, (long long)ci.number, ci.revoked, t);
}

static int cmd_revoke(const struct args *a)
{
    if (!a->v[O_SERIAL] == !a->v[O_TERMINAL]) {
        fail(a, "needs exactly one of --serial HEX and --terminal T");
        return EXIT_USAGE;
    }
    if (a->v[O_SERIAL] && a->v[O_STORE]) {
        fail(a, "--store goes with --terminal");
        return EXIT_USAGE;
    }
    struct pe_pki_ca *ca;
    if (open_ca(a, &ca))
        return EXIT_FAIL;
    char err[PE_PKI_ERRLEN];
    int rc, status = EXIT_FAIL;
    int64_t now = pe_time_now_ms();
    if (a->v[O_SERIAL]) {
        if ((rc = pe_pki_revoke_serial(ca, a->v[O_SERIAL], now, err, sizeof err))) {
            fail(a, "%s", err);
            status = rc == PE_EINVAL ? EXIT_USAGE : EXIT_FAIL;
            goto done;
        }
        printf("revoked serial %s\n", a->v[O_SERIAL]);
    } else {
        const char *store = a->v[O_STORE] ? a->v[O_STORE] : pe_pki_ca_store(ca);
        if (strcmp(store, "*") == 0) {
            fail(a, "an HQ CA needs --store S with --terminal");
            status = EXIT_USAGE;
            goto done;
        }
        int nc = 0, nt = 0;
        if ((rc = pe_pki_revoke_terminal(ca, store, a->v[O_TERMINAL], now, &nc, &nt, err,
                                         sizeof err))) {
            fail(a, "%s", err);
            status = rc == PE_EINVAL ? EXIT_USAGE : EXIT_FAIL;
            goto done;
        }
        printf("revoked %d certificate%s of %s/%s; voided %d unused enrolment token%s\n", nc,
               nc == 1 ? "" : "s", store, a->v[O_TERMINAL], nt, nt == 1 ? "" : "s");
        if (nc == 0) {
            status = 0;
            goto done;
        }
    }
    crl_note(a->v[O_DIR]);
    status = 0;
done:
    pe_pki_ca_close(ca);
    return status;
}

static int list_json(struct pe_pki_ca *ca, const struct pe_pki_entry *v, size_t n, int64_t now,
                     const struct pe_pki_crl_info *crl)
{
    cJSON *doc = cJSON_CreateObject(), *certs = cJSON_AddArrayToObject(doc, "certs");
    cJSON *c = cJSON_AddObjectToObject(doc, "crl");
    int rc = doc && certs && c ? PE_OK : PE_ENOMEM;
    if (rc == PE_OK)
        rc = pe_json_add_str(doc, "store", pe_pki_ca_store(ca));
    if (rc == PE_OK && crl)
        rc = pe_json_add_int(c, "number", crl->number) ||
             pe_json_add_int(c, "next_update", crl->next_update_ms) ||
             pe_json_add_int(c, "days_left", pe_pki_days_left(crl->next_update_ms, now));
    for (size_t i = 0; rc == PE_OK && i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        if (!e || !cJSON_AddItemToArray(certs, e)) {
            cJSON_Delete(e);
            rc = PE_ENOMEM;
            break;
        }
        rc = pe_json_add_str(e, "serial", v[i].serial) || pe_json_add_str(e, "cn", v[i].cn) ||
             pe_json_add_str(e, "kind", pe_pki_kind_name(v[i].kind)) ||
             pe_json_add_int(e, "not_before", v[i].not_before_ms) ||
             pe_json_add_int(e, "not_after", v[i].not_after_ms) ||
             pe_json_add_str(e, "status", status_of(&v[i], now)) ||
             pe_json_add_int(e, "days_left", pe_pki_days_left(v[i].not_after_ms, now)) ||
             (v[i].revoked && pe_json_add_int(e, "revoked_at", v[i].revoked_ms));
    }
    char *text = rc == PE_OK ? cJSON_PrintUnformatted(doc) : NULL;
    if (text)
        printf("%s\n", text);
    free(text);
    cJSON_Delete(doc);
    return text ? 0 : EXIT_FAIL;
}

static int cmd_list(const struct args *a)
{
    struct pe_pki_ca *ca;
    if (open_ca(a, &ca))
        return EXIT_FAIL;
    struct pe_pki_entry *v = NULL;
    size_t n = 0;
    int status = EXIT_FAIL;
    int64_t now = pe_time_now_ms();
    char path[4200], err[PE_PKI_ERRLEN], t[PE_TIME_STRLEN];
    struct pe_pki_crl_info crl;
    snprintf(path, sizeof path, "%s/crl.pem", a->v[O_DIR]);
    bool have_crl = pe_pki_crl_info_file(path, &crl, err, sizeof err) == PE_OK;
    if (pe_pki_list(ca, &v, &n)) {
        fail(a, "out of memory");
        goto done;
    }
    if (a->v[O_JSON]) {
        status = list_json(ca, v, n, now, have_crl ? &crl : NULL);
        goto done;
    }
    printf("%-32s  %-24s  %-8s  %-24s  %-7s  %s\n", "SERIAL", "CN", "KIND", "NOT AFTER",
           "STATUS", "DAYS LEFT");
    for (size_t i = 0; i < n; i++) {
        fmt_time(v[i].not_after_ms, t);
        printf("%-32s  %-24s  %-8s  %-24s  %-7s  %lld\n", v[i].serial, v[i].cn,
               pe_pki_kind_name(v[i].kind), t, status_of(&v[i], now),
               (long long)pe_pki_days_left(v[i].not_after_ms, now));
    }
    if (have_crl) {
        int64_t left = pe_pki_days_left(crl.next_update_ms, now);
        fmt_time(crl.next_update_ms, t);
        printf("CRL number %lld, %zu revoked, next update %s (%lld days)%s\n",
               (long long)crl.number, crl.revoked, t, (long long)left,
               crl.next_update_ms <= now         ? ": EXPIRED, the broker refuses every client: "
                                                   "run pki crl now"
               : left < PE_PKI_CRL_WARN_DAYS ? ": renew it now (pki crl)"
                                             : "");
    } else {
        printf("CRL: %s\n", err);
    }
    status = 0;
done:
    free(v);
    pe_pki_ca_close(ca);
    return status;
}

static int cmd_crl(const struct args *a)
{
    int days, rc;
    if ((rc = int_opt(a, O_DAYS, 366, &days)))
        return rc;
    struct pe_pki_ca *ca;
    if (open_ca(a, &ca))
        return EXIT_FAIL;
    char err[PE_PKI_ERRLEN], *pem = NULL;
    int status = EXIT_FAIL;
    if (pe_pki_crl_write(ca, pe_time_now_ms(), days, &pem, err, sizeof err)) {
        fail(a, "%s", err);
        goto done;
    }
    if (a->v[O_OUT] && write_public(a, a->v[O_OUT], pem))
        goto done;
    crl_note(a->v[O_DIR]);
    if (a->v[O_OUT])
        printf("copied to %s\n", a->v[O_OUT]);
    status = 0;
done:
    free(pem);
    pe_pki_ca_close(ca);
    return status;
}

static int cmd_token(const struct args *a)
{
    int ttl, rc;
    if ((rc = int_opt(a, O_TTL_H, 720, &ttl)))
        return rc;
    if (!a->v[O_STORE] || !a->v[O_TERMINAL]) {
        fail(a, "needs --store S and --terminal T");
        return EXIT_USAGE;
    }
    if (!ttl)
        ttl = 24;
    struct pe_pki_ca *ca;
    if (open_ca(a, &ca))
        return EXIT_FAIL;
    char err[PE_PKI_ERRLEN], tok[PE_PKI_TOKEN_LEN + 2], t[PE_TIME_STRLEN];
    int64_t now = pe_time_now_ms();
    int status = EXIT_FAIL;
    if ((rc = pe_pki_token_create(ca, a->v[O_STORE], a->v[O_TERMINAL], ttl, now, tok, err,
                                  sizeof err))) {
        fail(a, "%s", err);
        status = rc == PE_EINVAL ? EXIT_USAGE : EXIT_FAIL;
        goto done;
    }
    fmt_time(now + (int64_t)ttl * 3600000, t);
    if (a->v[O_OUT]) {
        size_t n = strlen(tok);
        tok[n] = '\n';
        rc = pe_file_write_atomic_mode(a->v[O_OUT], tok, n + 1, 0600, 0, err, sizeof err);
        if (rc) {
            fail(a, "%s (the token is spent: make another)", err);
            goto done;
        }
        printf("enrolment token for %s/%s written to %s (mode 0600), single use, valid until %s\n",
               a->v[O_STORE], a->v[O_TERMINAL], a->v[O_OUT], t);
    } else {
        /* The one secret this tool prints, once: the technician types it into the till. */
        printf("%s\n", tok);
        fprintf(stderr, "enrolment token for %s/%s: single use, valid until %s\n", a->v[O_STORE],
                a->v[O_TERMINAL], t);
    }
    status = 0;
done:
    pe_secret_wipe(tok, sizeof tok);
    pe_pki_ca_close(ca);
    return status;
}

static int cmd_csr(const struct args *a)
{
    enum pe_pki_key_format fmt;
    int rc;
    if ((rc = key_format(a, &fmt)))
        return rc;
    if (!a->v[O_KEY] || !a->v[O_STORE] || !a->v[O_TERMINAL] || !a->v[O_OUT]) {
        fail(a, "needs --key KEY, --store S, --terminal T and --out CSR");
        return EXIT_USAGE;
    }
    char err[PE_PKI_ERRLEN], cn[PE_PKI_CN_MAX], *pem = NULL;
    if (pe_pki_cn_make(PE_PKI_TERMINAL, a->v[O_STORE], a->v[O_TERMINAL], cn, err, sizeof err)) {
        fail(a, "%s", err);
        return EXIT_USAGE;
    }
    struct pe_rng *rng = NULL;
    struct pe_pki_key *key = NULL;
    int status = EXIT_FAIL;
    bool made = access(a->v[O_KEY], F_OK) != 0;
    if (pe_rng_create("posedge-ctl/pki", &rng)) {
        fail(a, "cannot seed the random generator");
        goto done;
    }
    if (made) {
        /* What a till runs: its key is made here and never leaves it. */
        if (pe_pki_key_generate(rng, &key, err, sizeof err) ||
            pe_pki_key_save(key, a->v[O_KEY], fmt, err, sizeof err)) {
            fail(a, "%s", err);
            goto done;
        }
    } else if (a->v[O_KEY_FORMAT]) {
        fail(a, "--key-format applies to a new key only; %s exists", a->v[O_KEY]);
        status = EXIT_USAGE;
        goto done;
    } else if (pe_pki_key_load(a->v[O_KEY], &key, err, sizeof err)) {
        fail(a, "%s", err);
        goto done;
    }
    if (pe_pki_csr_create(key, a->v[O_STORE], a->v[O_TERMINAL], rng, &pem, err, sizeof err)) {
        fail(a, "%s", err);
        goto done;
    }
    if (write_public(a, a->v[O_OUT], pem))
        goto done;
    printf("wrote the CSR of %s to %s (key %s, %s)\n", cn, a->v[O_OUT], a->v[O_KEY],
           made ? "new, mode 0600" : "existing");
    status = 0;
done:
    free(pem);
    pe_pki_key_destroy(key);
    pe_rng_destroy(rng);
    return status;
}

static int cmd_show(const struct args *a)
{
    struct pe_pki_cert_info ci;
    char err[PE_PKI_ERRLEN], nb[PE_TIME_STRLEN], na[PE_TIME_STRLEN];
    if (pe_pki_cert_info_file(a->pos, &ci, err, sizeof err)) {
        fail(a, "%s", err);
        return EXIT_FAIL;
    }
    int64_t now = pe_time_now_ms();
    fmt_time(ci.not_before_ms, nb);
    fmt_time(ci.not_after_ms, na);
    int64_t left = pe_pki_days_left(ci.not_after_ms, now);
    printf("subject      CN=%s\n", ci.cn);
    printf("kind         %s\n", pe_pki_kind_name(ci.kind));
    if (ci.store[0])
        printf("identity     store %s, %s %s\n", ci.store,
               ci.kind == PE_PKI_TERMINAL ? "terminal" : "name", ci.terminal);
    printf("issuer       CN=%s\n", ci.issuer_cn);
    printf("serial       %s\n", ci.serial);
    printf("not before   %s\n", nb);
    printf("not after    %s (%lld days left%s)\n", na, (long long)left,
           now >= ci.not_after_ms ? ": EXPIRED" : now < ci.not_before_ms ? ": not yet valid" : "");
    if (ci.san[0])
        printf("alt names    %s\n", ci.san);
    printf("sha256       %s\n", ci.fingerprint);
    return 0;
}

static int cmd_verify(const struct args *a)
{
    if (!a->v[O_CA] || !a->v[O_CERT]) {
        fail(a, "needs --ca CA and --cert CERT");
        return EXIT_USAGE;
    }
    char err[PE_PKI_ERRLEN] = "", t[PE_TIME_STRLEN];
    int64_t now = pe_time_now_ms();
    int rc;
    struct pe_pki_self s;
    if (a->v[O_KEY]) {
        rc = pe_pki_self_check(a->v[O_CA], a->v[O_CERT], a->v[O_KEY], a->v[O_CRL], now, &s, err,
                               sizeof err);
    } else {
        enum pe_pki_verdict v;
        memset(&s, 0, sizeof s);
        rc = pe_pki_verify(a->v[O_CERT], a->v[O_CA], a->v[O_CRL], now, &v, err, sizeof err);
        if (rc == PE_OK && (rc = pe_pki_cert_info_file(a->v[O_CERT], &s.cert, err, sizeof err)) ==
                               PE_OK)
            s.days_left = pe_pki_days_left(s.cert.not_after_ms, now);
        struct pe_pki_crl_info ci;
        if (rc == PE_OK && a->v[O_CRL] &&
            (rc = pe_pki_crl_info_file(a->v[O_CRL], &ci, err, sizeof err)) == PE_OK) {
            s.crl = true;
            s.crl_next_update_ms = ci.next_update_ms;
            s.crl_days_left = pe_pki_days_left(ci.next_update_ms, now);
        }
    }
    if (rc) {
        printf("FAILED %s: %s\n", a->v[O_CERT], err);
        return EXIT_FAIL;
    }
    fmt_time(s.cert.not_after_ms, t);
    printf("OK %s: %s, chain to %s%s%s, valid until %s (%lld days)\n", a->v[O_CERT], s.cert.cn,
           a->v[O_CA], a->v[O_CRL] ? ", not revoked" : "", a->v[O_KEY] ? ", key matches" : "", t,
           (long long)s.days_left);
    if (s.days_left < PE_PKI_CERT_WARN_DAYS)
        printf("WARNING %s: fewer than %d days left: renew it\n", a->v[O_CERT],
               PE_PKI_CERT_WARN_DAYS);
    if (s.crl) {
        fmt_time(s.crl_next_update_ms, t);
        printf("CRL %s: next update %s (%lld days)\n", a->v[O_CRL], t, (long long)s.crl_days_left);
        if (s.crl_days_left < PE_PKI_CRL_WARN_DAYS)
            printf("WARNING %s: the CRL is close to its next update: reissue it (pki crl)\n",
                   a->v[O_CRL]);
    }
    return 0;
}

/* ---- the table ---- */

struct sub {
    const char *name;
    int (*fn)(const struct args *a);
    unsigned allowed;  /* options it takes (BIT(HELP) always) */
    unsigned required; /* options it cannot do without */
    bool positional;   /* takes one positional argument */
    const char *usage;
};

static const struct sub subs[] = {
    {"init", cmd_init, BIT(DIR) | BIT(STORE) | BIT(HQ) | BIT(DAYS) | BIT(NAME), BIT(DIR), false,
     "init   --dir D (--store S | --hq) [--days N] [--name NAME]\n"
     "         create a CA in D (0700): key ca.key (0600), certificate ca.crt, index, first CRL"},
    {"issue", cmd_issue,
     BIT(DIR) | BIT(STORE) | BIT(TERMINAL) | BIT(BRIDGE) | BIT(HQ) | BIT(SERVER) | BIT(CSR) |
         BIT(KEY_OUT) | BIT(KEY_FORMAT) | BIT(SAN) | BIT(OUT) | BIT(DAYS) | BIT(AT),
     BIT(DIR), false,
     "issue  --dir D --store S (--terminal T | --bridge | --hq | --server)\n"
     "         (--csr FILE | --key-out FILE [--key-format pkcs8|sec1]) [--san DNS:x,IP:y]\n"
     "         --out CERT [--days N] [--at TIME]\n"
     "         issue S/T (or S/bridge, S/hq, S/server with --san) for the key of a CSR, or for\n"
     "         a key made here and written to FILE (0600: the broker's own, lab use); --at\n"
     "         issues as if it were TIME (UTC, e.g. an expired certificate for a test)"},
    {"revoke", cmd_revoke, BIT(DIR) | BIT(SERIAL) | BIT(TERMINAL) | BIT(STORE), BIT(DIR), false,
     "revoke --dir D (--serial HEX | --terminal T [--store S])\n"
     "         revoke one certificate, or every one of a terminal (and void its tokens), and\n"
     "         write a new crl.pem"},
    {"list", cmd_list, BIT(DIR) | BIT(JSON), BIT(DIR), false,
     "list   --dir D [--json]\n"
     "         every certificate issued: serial, CN, kind, not after, status, days left; the CRL"},
    {"crl", cmd_crl, BIT(DIR) | BIT(OUT) | BIT(DAYS), BIT(DIR), false,
     "crl    --dir D [--out FILE] [--days N]\n"
     "         write a new CRL (next update in N days, default 7; reissue it daily) to\n"
     "         D/crl.pem and FILE"},
    {"token", cmd_token, BIT(DIR) | BIT(STORE) | BIT(TERMINAL) | BIT(TTL_H) | BIT(OUT), BIT(DIR),
     false,
     "token  --dir D --store S --terminal T [--ttl-h N] [--out FILE]\n"
     "         a one-time enrolment token for till S/T (default 24 h), printed once or\n"
     "         written to FILE (0600)"},
    {"csr", cmd_csr, BIT(KEY) | BIT(STORE) | BIT(TERMINAL) | BIT(OUT) | BIT(KEY_FORMAT), 0, false,
     "csr    --key KEY --store S --terminal T --out CSR [--key-format pkcs8|sec1]\n"
     "         what a till runs: make KEY (0600) when missing, and a CSR for S/T"},
    {"show", cmd_show, 0, 0, true,
     "show   CERT\n"
     "         subject, kind, issuer, serial, validity and days left, names, fingerprint"},
    {"verify", cmd_verify, BIT(CA) | BIT(CERT) | BIT(CRL) | BIT(KEY), 0, false,
     "verify --ca CA --cert CERT [--crl CRL] [--key KEY]\n"
     "         the checks of --self-test: chain, revocation, CRL age, key match, days left"},
};
#define NSUBS (sizeof subs / sizeof subs[0])

static void usage(FILE *out)
{
    fputs("usage: posedge-ctl pki COMMAND [OPTIONS]\n\n", out);
    for (size_t i = 0; i < NSUBS; i++)
        fprintf(out, "  %s\n", subs[i].usage);
    fputs("\nIdentities are CN=<store>/<terminal> (s001/t01), s001/bridge, s001/hq, s001/server:\n"
          "mosquitto's use_identity_as_username makes %u = s001/t01 (docs/pki.md). Keys are\n"
          "written 0600 and never printed. Exit status: 0, 1 failure, 2 usage error.\n",
          out);
}

int ctl_pki(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? EXIT_USAGE : 0;
    }
    const struct sub *sub = NULL;
    for (size_t i = 0; i < NSUBS; i++)
        if (strcmp(argv[1], subs[i].name) == 0)
            sub = &subs[i];
    if (!sub) {
        fprintf(stderr, "posedge-ctl pki: unknown command \"%s\"\n", argv[1]);
        usage(stderr);
        return EXIT_USAGE;
    }
    static const struct option longopts[] = {
#define OPT_LONG(id, name, arg) {name, arg ? required_argument : no_argument, NULL, O_##id},
        PKI_OPTS(OPT_LONG)
#undef OPT_LONG
            {NULL, 0, NULL, 0},
    };
    struct args a = {.cmd = sub->name};
    int c;
    argc--;
    argv++;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == O_HELP) {
            printf("usage: posedge-ctl pki %s\n", sub->usage);
            return 0;
        }
        if (c < 0 || c >= O_COUNT || !(sub->allowed & (1u << c))) {
            const char *bad = argv[optind - 1];
            fail(&a, "%s: not an option of this command", bad ? bad : "?");
            fprintf(stderr, "usage: posedge-ctl pki %s\n", sub->usage);
            return EXIT_USAGE;
        }
        if (a.v[c]) {
            fail(&a, "--%s given twice", opt_names[c]);
            return EXIT_USAGE;
        }
        a.v[c] = optarg ? optarg : "";
    }
    if (sub->positional) {
        if (optind + 1 != argc) {
            fprintf(stderr, "usage: posedge-ctl pki %s\n", sub->usage);
            return EXIT_USAGE;
        }
        a.pos = argv[optind];
    } else if (optind != argc) {
        fail(&a, "unexpected argument \"%s\"", argv[optind]);
        return EXIT_USAGE;
    }
    for (int o = 0; o < O_COUNT; o++)
        if ((sub->required & (1u << o)) && !a.v[o]) {
            fail(&a, "needs --%s", opt_names[o]);
            fprintf(stderr, "usage: posedge-ctl pki %s\n", sub->usage);
            return EXIT_USAGE;
        }
    return sub->fn(&a);
}
