/* SPDX-License-Identifier: Apache-2.0 */
/*
 * broker_config.c - posedge-ctl broker-config: the store broker's mosquitto configuration.
 *
 *   posedge-ctl broker-config --store S --dir D [--tls-dir T] [--conf FILE|-] [--bind ADDR]
 *                             [--port P] [--enrol-port P | --no-enrol]
 *                             [--lab-port P --lab-password-file F]
 *   posedge-ctl broker-config --conf-only --dir D [the same listener options]
 *
 * Writes a complete mosquitto.conf (FILE; default D/mosquitto.conf; "-" for stdout) and the
 * ACL files it names, all from the one writer of the store's topics (pe_protocol_acl_kind):
 *
 *   D/acl        the main listener's (--port, default 8883): mutual TLS, require_certificate,
 *                use_identity_as_username (the CN "<store>/<name>" is the username), the CRL,
 *                no anonymous access: tills, the bridge and HQ's tool
 *   D/acl-enrol  the enrolment listener's (--enrol-port, default 8884): TLS with the broker's
 *                certificate, no client certificate, anonymous; a client (id = terminal id)
 *                may only write its request and read its answer
 *   D/acl-lab    with --lab-port only: a plaintext listener with password logins (labs; never on
 *                a store network) and the password-mode ACL
 *
 * The listeners' TLS files are T/ca.crt (the store's CA: the trust anchor of client
 * certificates), T/server.crt and T/server.key (the broker's, CN "<store>/server" with its
 * host names as SAN) and T/crl.pem (the CRL; reissue it daily: pki crl), T defaulting to D.
 * per_listener_settings is on, so each listener has its own security settings. --conf-only
 * writes the configuration alone, which names no store (the package's conffile,
 * /etc/mosquitto/conf.d/posedge.conf); its ACL files come from a run with --store at install.
 * Files are written atomically, 0644 (mosquitto reads them after dropping root). Exit status:
 * 0, 1 a file could not be written, 2 usage error.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/file.h"
#include "posedge/protocol.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define PATH_MAX_ 512

struct bc {
    const char *store;     /* --store (NULL with --conf-only) */
    const char *dir;       /* --dir: the ACL files */
    const char *tls_dir;   /* --tls-dir: the TLS files (default dir) */
    const char *conf;      /* --conf FILE or "-" (NULL: D/mosquitto.conf) */
    const char *bind;      /* --bind ADDR, or NULL for every interface */
    long port, enrol_port; /* enrol_port 0: --no-enrol */
    long lab_port;         /* 0: no lab listener */
    const char *lab_pw;    /* --lab-password-file */
    bool conf_only;
};

static void usage(FILE *out)
{
    fputs("usage: posedge-ctl broker-config --store S --dir D [--tls-dir T] [--conf FILE|-]\n"
          "                                 [--bind ADDR] [--port P]\n"
          "                                 [--enrol-port P | --no-enrol]\n"
          "                                 [--lab-port P --lab-password-file F]\n"
          "       posedge-ctl broker-config --conf-only --dir D [...]\n"
          "\n"
          "Writes the store broker's mosquitto.conf (FILE, default D/mosquitto.conf; - for\n"
          "stdout) and its ACL files D/acl (mutual TLS on --port, default 8883) and D/acl-enrol\n"
          "(enrolment on --enrol-port, default 8884: TLS, no client certificate). The TLS files\n"
          "are T/ca.crt, T/server.crt, T/server.key and T/crl.pem (T defaults to D). A\n"
          "plaintext listener with password logins only with --lab-port (labs: D/acl-lab).\n"
          "--conf-only writes the configuration alone (it names no store). docs/pki.md,\n"
          "\"The store broker\".\n",
          out);
}

static int port_arg(const char *opt, const char *s, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 1 || v > 65535) {
        fprintf(stderr, "posedge-ctl broker-config: %s: expected a port 1..65535, got \"%s\"\n",
                opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* A path or address written into mosquitto.conf: one line, no blanks (mosquitto's parser
 * splits at them). */
static bool conf_word(const char *opt, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p <= ' ' || *p == 0x7f) {
            fprintf(stderr,
                    "posedge-ctl broker-config: %s: \"%s\" has a blank or control character, "
                    "which mosquitto.conf cannot hold\n",
                    opt, s);
            return false;
        }
    }
    if (!*s) {
        fprintf(stderr, "posedge-ctl broker-config: %s: empty\n", opt);
        return false;
    }
    return true;
}

/* The TLS settings every TLS listener has. */
static void tls_lines(FILE *f, const struct bc *b)
{
    fprintf(f,
            "cafile %s/ca.crt\n"
            "certfile %s/server.crt\n"
            "keyfile %s/server.key\n"
            "tls_version tlsv1.2\n",
            b->tls_dir, b->tls_dir, b->tls_dir);
}

static void listener(FILE *f, const struct bc *b, long port)
{
    fprintf(f, "listener %ld%s%s\n", port, b->bind ? " " : "", b->bind ? b->bind : "");
}

static void write_conf(FILE *f, const struct bc *b)
{
    fputs("# posedge store broker (written by posedge-ctl broker-config; docs/pki.md, \"The "
          "store broker\").\n"
          "# Tills, the bridge and HQ's tool connect with mutual TLS; the certificate's CN\n"
          "# \"<store>/<name>\" is the username the ACL knows. New tills enrol on a listener of\n"
          "# their own. No anonymous access to the store's topics; no plaintext unless a lab\n"
          "# listener was asked for.\n"
          "per_listener_settings true\n"
          "# Small requests and their answers go out at once (no Nagle wait for a delayed ACK).\n"
          "set_tcp_nodelay true\n\n",
          f);
    fputs("# Mutual TLS: tills (s001/t01), the bridge (s001/bridge), HQ (s001/hq). A revoked or\n"
          "# expired certificate is refused at its next connection (reload after a new CRL).\n",
          f);
    listener(f, b, b->port);
    tls_lines(f, b);
    fprintf(f,
            "crlfile %s/crl.pem\n"
            "require_certificate true\n"
            "use_identity_as_username true\n"
            "allow_anonymous false\n"
            "acl_file %s/acl\n",
            b->tls_dir, b->dir);
    if (b->enrol_port) {
        fputs("\n# Enrolment: TLS with the broker's certificate, no client certificate; a till\n"
              "# (client id = its terminal id) may only send its request (one-time token and\n"
              "# CSR) and read the answer.\n",
              f);
        listener(f, b, b->enrol_port);
        tls_lines(f, b);
        fprintf(f,
                "require_certificate false\n"
                "allow_anonymous true\n"
                "acl_file %s/acl-enrol\n",
                b->dir);
    }
    if (b->lab_port) {
        fputs("\n# LAB ONLY: plaintext with password logins (posedge-ctl acl --password). Never\n"
              "# on a store network: nothing on it is encrypted.\n",
              f);
        listener(f, b, b->lab_port);
        fprintf(f,
                "allow_anonymous false\n"
                "password_file %s\n"
                "acl_file %s/acl-lab\n",
                b->lab_pw, b->dir);
    }
}

/* Write text made by fn to path atomically (0644), or to stdout for "-". */
static int emit(const char *path, void (*fn)(FILE *, const struct bc *), const struct bc *b,
                enum pe_acl_kind kind, bool acl)
{
    char *text = NULL, err[600];
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem) {
        fprintf(stderr, "posedge-ctl broker-config: %s\n", pe_strerror(PE_ENOMEM));
        return EXIT_FAIL;
    }
    int rc = PE_OK;
    if (acl)
        rc = pe_protocol_acl_kind(mem, kind, b->store, PE_ID_BRIDGE);
    else
        fn(mem, b);
    if (fclose(mem) != 0 || rc) {
        fprintf(stderr, "posedge-ctl broker-config: %s: %s\n", path, pe_strerror(rc ? rc : PE_EIO));
        free(text);
        return EXIT_FAIL;
    }
    if (strcmp(path, "-") == 0) {
        rc = fwrite(text, 1, len, stdout) == len && fflush(stdout) == 0 ? PE_OK : PE_EIO;
        snprintf(err, sizeof err, "stdout: %s", pe_strerror(PE_EIO));
    } else {
        rc = pe_file_write_atomic_mode(path, text, len, 0644, 0, err, sizeof err);
    }
    free(text);
    if (rc) {
        fprintf(stderr, "posedge-ctl broker-config: %s\n", err);
        return EXIT_FAIL;
    }
    if (strcmp(path, "-") != 0)
        fprintf(stderr, "posedge-ctl broker-config: wrote %s\n", path);
    return 0;
}

int ctl_broker_config(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"store", required_argument, NULL, 's'},
        {"dir", required_argument, NULL, 'd'},
        {"tls-dir", required_argument, NULL, 't'},
        {"conf", required_argument, NULL, 'c'},
        {"bind", required_argument, NULL, 'b'},
        {"port", required_argument, NULL, 'p'},
        {"enrol-port", required_argument, NULL, 'e'},
        {"no-enrol", no_argument, NULL, 'E'},
        {"lab-port", required_argument, NULL, 'l'},
        {"lab-password-file", required_argument, NULL, 'L'},
        {"conf-only", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct bc b = {.port = 8883, .enrol_port = 8884};
    bool no_enrol = false, enrol_given = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (!pe_event_id_valid(optarg, 1)) {
                fprintf(stderr, "posedge-ctl broker-config: --store: not a store id: \"%s\"\n",
                        optarg);
                return EXIT_USAGE;
            }
            b.store = optarg;
            break;
        case 'd':
            b.dir = optarg;
            break;
        case 't':
            b.tls_dir = optarg;
            break;
        case 'c':
            b.conf = optarg;
            break;
        case 'b':
            b.bind = optarg;
            break;
        case 'p':
        case 'e':
        case 'l':
            if (port_arg(c == 'p'   ? "--port"
                         : c == 'e' ? "--enrol-port"
                                    : "--lab-port",
                         optarg,
                         c == 'p'   ? &b.port
                         : c == 'e' ? &b.enrol_port
                                    : &b.lab_port))
                return EXIT_USAGE;
            enrol_given |= c == 'e';
            break;
        case 'E':
            no_enrol = true;
            break;
        case 'L':
            b.lab_pw = optarg;
            break;
        case 'C':
            b.conf_only = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    const char *why = NULL;
    if (optind != argc || !b.dir)
        why = "needs --dir D (and --store S, or --conf-only)";
    else if (!b.store == !b.conf_only)
        why = "needs exactly one of --store S (the configuration and its ACL files) and "
              "--conf-only";
    else if (no_enrol && enrol_given)
        why = "--enrol-port and --no-enrol exclude each other";
    else if (!b.lab_port != !b.lab_pw)
        why = "--lab-port and --lab-password-file go together (a lab listener has password "
              "logins, never anonymous ones)";
    if (why) {
        fprintf(stderr, "posedge-ctl broker-config: %s\n", why);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (no_enrol)
        b.enrol_port = 0;
    if (!b.tls_dir)
        b.tls_dir = b.dir;
    if (!conf_word("--dir", b.dir) || !conf_word("--tls-dir", b.tls_dir) ||
        (b.bind && !conf_word("--bind", b.bind)) || (b.lab_pw && !conf_word("--lab-password-file",
                                                                            b.lab_pw)))
        return EXIT_USAGE;
    long ports[] = {b.port, b.enrol_port, b.lab_port};
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (ports[i] && ports[i] == ports[j]) {
                fprintf(stderr, "posedge-ctl broker-config: port %ld is given to two listeners\n",
                        ports[i]);
                return EXIT_USAGE;
            }
    char path[PATH_MAX_ + 16], conf[PATH_MAX_ + 16];
    snprintf(conf, sizeof conf, "%s/mosquitto.conf", b.dir);
    int status = 0;
    if (!b.conf_only) {
        static const struct {
            const char *name;
            enum pe_acl_kind kind;
        } acls[] = {{"acl", PE_ACL_TLS}, {"acl-enrol", PE_ACL_ENROL}, {"acl-lab", PE_ACL_PASSWORD}};
        for (size_t i = 0; i < sizeof acls / sizeof *acls && !status; i++) {
            if ((acls[i].kind == PE_ACL_ENROL && !b.enrol_port) ||
                (acls[i].kind == PE_ACL_PASSWORD && !b.lab_port))
                continue;
            snprintf(path, sizeof path, "%s/%s", b.dir, acls[i].name);
            status = emit(path, NULL, &b, acls[i].kind, true);
        }
    }
    if (!status)
        status = emit(b.conf ? b.conf : conf, write_conf, &b, PE_ACL_TLS, false);
    return status;
}
