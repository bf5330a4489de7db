/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - posedge-agent: the till daemon's lifecycle - options, configuration, start, run and
 * stop.
 *
 * One thread around one poll(2) loop: the HAL input devices' fds, timers and a signal
 * self-pipe. With --scenario, --shopper or --replay the agent performs exactly those
 * transactions on the sim board's fake devices and exits; otherwise it runs until
 * SIGTERM/SIGINT, when it parks an open basket in the journal and closes cleanly. Every event is
 * committed to the journal before its receipt prints (till.c); this file only brings the parts
 * up in order - devices (devices.c), journal, loop, simulator (agent_sim.c), till and, when
 * mqtt.host is set, the uplink to the bridge (uplink.c) with the fleet channel (fleet.c) - and
 * takes them down in the reverse order (stop, which also takes down a start that failed half
 * way). --self-test is selftest.c, remote settings are remote_cfg.c (agent.h). With mutual TLS
 * (mqtt.tls.*) the certificate comes from enrolment (enrol.c): until it exists the till sells
 * and journals, and the uplink starts once it is written.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "agent/agent.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/log.h"
#include "posedge/mqtt.h"
#include "posedge/notify.h"
#include "posedge/pki.h"
#include "posedge/secret.h"

#define GO_ON (-1) /* parse_args, load_config: no exit status yet, carry on */

/* What the command line says. */
struct opts {
    const char *cfg_path;         /* -c FILE */
    struct agent_sim_opts sim;    /* --scenario, --shopper, --seed, --replay... */
    long long wait_s;             /* --wait-delivered SECONDS, -1 when not given */
    bool print_cfg, self_test;    /* --print-config, --self-test */
    struct pe_cfg_overrides sets; /* --set, and the options that are settings */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: posedge-agent -c FILE [--data-dir DIR] [--store ID] [--terminal ID]\n"
            "                     [--scenario FILE | --shopper N [--seed S] |\n"
            "                      --replay FILE... [--replay-format F] [--replay-store ID]]\n"
            "                     [--mqtt HOST:PORT] [--wait-delivered SECONDS]\n"
            "                     [--set KEY=VALUE]... [--print-config] [--self-test] [--help]\n"
            "\n"
            "Runs a till: captures sales and stock work through the HAL and commits every event\n"
            "to DIR/journal.db before its receipt prints. With --scenario (a JSON-lines script)\n"
            "or --shopper N (N simulated customers) it performs exactly those transactions on\n"
            "the sim board's fake devices and exits 0; without them it runs as a daemon.\n"
            "\n"
            "--replay FILE (repeatable) replays dataset files as till activity in the same way:\n"
            "--replay-format online-retail (default; UCI Online Retail CSV, one sale per\n"
            "InvoiceNo, C invoices as returns) or databricks (inventory_change/_snapshot CSVs\n"
            "with item.csv and inventory_change_type.csv; --replay-store picks the store_id,\n"
            "default the first one seen). The catalog must hold the files' items: make it with\n"
            "posedge-ctl replay-catalog. Bad rows are reported on stderr as FILE:LINE and their\n"
            "invoice or transaction is skipped whole (docs/scenario.md, \"Replaying datasets\").\n"
            "\n"
            "With --mqtt (mqtt.host/mqtt.port) the journal is also sent to the bridge over MQTT;\n"
            "selling never waits for it. --wait-delivered (with --scenario/--shopper) keeps the\n"
            "agent running after the transactions until the bridge reports every event delivered\n"
            "to Kafka, and exits 1 if that takes longer than SECONDS.\n"
            "\n"
            "With the uplink the agent also publishes its retained state document and answers\n"
            "fleet commands from HQ (docs/protocol.md). --self-test checks the configuration,\n"
            "the catalog, the data folder, the journal's hash chain and the real devices without\n"
            "changing anything or needing the network, prints one line per check and exits 0 when\n"
            "all pass, 1 otherwise (for OTA systems marking an update good or rolling it back).\n"
            "\n"
            "exit status: 0 done, 1 error (or --wait-delivered timed out, or a self-test failed),\n"
            "             2 usage or configuration error,\n"
            "             3 a transaction could not be committed (journal full or failing),\n"
            "             4 the journal is damaged (the message says how to recover),\n"
            "             75 a remote setting needs a restart (systemd restarts the unit)\n"
            "\n"
            "configuration keys (JSON file, or --set KEY=VALUE):\n");
    pe_cfg_help(agent_cfg_table, out);
}

/* ---- options and configuration ---- */

/* Parse the command line into o. Returns GO_ON, or the exit status (help, usage error). */
static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"data-dir", required_argument, NULL, 'd'},
        {"scenario", required_argument, NULL, 'S'},
        {"shopper", required_argument, NULL, 'n'},
        {"replay", required_argument, NULL, 'R'},
        {"replay-format", required_argument, NULL, 'F'},
        {"replay-store", required_argument, NULL, 'P'},
        {"seed", required_argument, NULL, 's'},
        {"store", required_argument, NULL, 'o'},
        {"terminal", required_argument, NULL, 't'},
        {"set", required_argument, NULL, 'k'},
        {"mqtt", required_argument, NULL, 'm'},
        {"wait-delivered", required_argument, NULL, 'w'},
        {"print-config", no_argument, NULL, 'p'},
        {"self-test", no_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct agent_sim_opts *so = &o->sim;
    char mqtt_host[256], mqtt_port[8], err[512];
    int c;
    so->shopper = so->seed = o->wait_s = -1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->cfg_path = optarg;
            break;
        case 'd':
        case 'o':
        case 't':
            if (pe_cfg_override(&o->sets,
                                c == 'd'   ? "data_dir"
                                : c == 'o' ? "store"
                                           : "terminal",
                                optarg)) {
                fprintf(stderr, "posedge-agent: too many or too long overrides\n");
                return EXIT_USAGE;
            }
            break;
        case 'S':
            if (so->nreplay) {
                fprintf(stderr, "posedge-agent: --scenario and --replay exclude each other\n");
                return EXIT_USAGE;
            }
            so->scenario = optarg;
            break;
        case 'R':
            if (so->scenario || so->nreplay == AGENT_REPLAY_MAX) {
                fprintf(stderr, "posedge-agent: %s\n",
                        so->scenario ? "--scenario and --replay exclude each other"
                                     : "--replay: at most 64 files");
                return EXIT_USAGE;
            }
            so->replay[so->nreplay++] = optarg;
            break;
        case 'F':
            so->replay_format = optarg;
            break;
        case 'P':
            so->replay_store = optarg;
            break;
        case 'n':
        case 's':
        case 'w': {
            char *end;
            errno = 0;
            long long v = strtoll(optarg, &end, 10);
            if (errno || *end || v < (c == 'n' ? 1 : 0) || (c == 'w' && v > 86400 * 365)) {
                fprintf(stderr, "posedge-agent: --%s: expected a %s integer, got \"%s\"\n",
                        c == 'n'   ? "shopper"
                        : c == 's' ? "seed"
                                   : "wait-delivered",
                        c == 'n' ? "positive" : "non-negative", optarg);
                return EXIT_USAGE;
            }
            *(c == 'n' ? &so->shopper : c == 's' ? &so->seed : &o->wait_s) = v;
            break;
        }
        case 'm': {
            int port = 0;
            if (pe_mqtt_parse_addr(optarg, mqtt_host, sizeof mqtt_host, &port) != PE_OK) {
                fprintf(stderr, "posedge-agent: --mqtt: expected HOST:PORT, got \"%s\"\n", optarg);
                return EXIT_USAGE;
            }
            snprintf(mqtt_port, sizeof mqtt_port, "%d", port);
            if (pe_cfg_override(&o->sets, "mqtt.host", mqtt_host) ||
                pe_cfg_override(&o->sets, "mqtt.port", mqtt_port)) {
                fprintf(stderr, "posedge-agent: too many overrides\n");
                return EXIT_USAGE;
            }
            break;
        }
        case 'k':
            if (pe_cfg_override_arg(&o->sets, optarg)) {
                fprintf(stderr, "posedge-agent: --set: expected KEY=VALUE, got \"%s\"\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'p':
            o->print_cfg = true;
            break;
        case 'T':
            o->self_test = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc || !o->cfg_path) {
        fprintf(stderr,
                optind < argc ? "posedge-agent: unexpected argument \"%s\"\n"
                              : "posedge-agent: -c FILE is required%s\n",
                optind < argc ? argv[optind] : "");
        usage(stderr);
        return EXIT_USAGE;
    }
    if ((so->scenario || so->nreplay) && so->shopper > 0) {
        fprintf(stderr, "posedge-agent: --scenario and --shopper exclude each other\n");
        return EXIT_USAGE;
    }
    if (o->wait_s >= 0 && !agent_sim_batch(so)) {
        fprintf(stderr, "posedge-agent: --wait-delivered needs --scenario or --shopper\n");
        return EXIT_USAGE;
    }
    if (agent_sim_check(so, err, sizeof err) != PE_OK) {
        fprintf(stderr, "posedge-agent: %s\n", err);
        return EXIT_USAGE;
    }
    return GO_ON;
}

/* The configuration file, then the remote settings, then the command line, into a->cfg.
 * Returns GO_ON or EXIT_USAGE. */
static int load_config(struct agent *a, const struct opts *o)
{
    char err[512];
    if (pe_cfg_defaults(agent_cfg_table, &a->cfg) ||
        pe_cfg_load_file(agent_cfg_table, &a->cfg, o->cfg_path, err, sizeof err) ||
        pe_cfg_apply(agent_cfg_table, &a->cfg, &o->sets, err, sizeof err)) {
        fprintf(stderr, "posedge-agent: %s\n", err);
        return EXIT_USAGE;
    }
    /* Settings made remotely (set_config) come after the file; the command line still wins. */
    remote_cfg_load(&a->cfg);
    pe_cfg_apply(agent_cfg_table, &a->cfg, &o->sets, err, sizeof err);
    snprintf(a->cfg_path, sizeof a->cfg_path, "%s", o->cfg_path);
    return GO_ON;
}

/* ---- set-up helpers ---- */

#ifdef PE_FAULT_INJECTION
#include "posedge/faultvfs.h"
/*
 * Test builds only: PE_FAULT="write|sync|any:N:full|io[:sticky]" fails the Nth journal I/O
 * call after start-up, so system tests can prove a failed commit leaves a consistent journal.
 */
static const char *fault_vfs(void)
{
    const char *spec = getenv("PE_FAULT");
    if (!spec || !*spec)
        return NULL;
    char op[8] = "", kind[8] = "", sticky[8] = "";
    long long nth = 0;
    if (sscanf(spec, "%7[a-z]:%lld:%7[a-z]:%7[a-z]", op, &nth, kind, sticky) < 3 || nth < 1) {
        fprintf(stderr, "posedge-agent: PE_FAULT: expected op:N:full|io[:sticky]\n");
        return NULL;
    }
    return pe_faultvfs_register() == PE_OK ? "pe-fault" : NULL;
}

static void fault_arm(void)
{
    const char *spec = getenv("PE_FAULT");
    char op[8] = "", kind[8] = "", sticky[8] = "";
    long long nth = 0;
    if (!spec || sscanf(spec, "%7[a-z]:%lld:%7[a-z]:%7[a-z]", op, &nth, kind, sticky) < 3)
        return;
    enum pe_fault_op fo = strcmp(op, "sync") == 0    ? PE_FAULT_SYNC
                          : strcmp(op, "write") == 0 ? PE_FAULT_WRITE
                                                     : PE_FAULT_ANY;
    pe_faultvfs_arm(fo, nth, strcmp(kind, "full") == 0 ? PE_EFULL : PE_EIO,
                    strcmp(sticky, "sticky") == 0);
    pe_warn("agent.fault_armed", "spec=%s", spec);
}
#else
static const char *fault_vfs(void)
{
    return NULL;
}
static void fault_arm(void) {}
#endif

static int mkdirs(const char *path)
{
    char buf[AGENT_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0750) != 0 && errno != EEXIST)
            return PE_ESYS;
        *p = '/';
    }
    if (mkdir(buf, 0750) != 0 && errno != EEXIST)
        return PE_ESYS;
    return PE_OK;
}

/* ---- the parts' callbacks ---- */

static int64_t sim_clock(void *ctx)
{
    return agent_sim_now(ctx);
}

static int64_t real_clock(void *ctx)
{
    (void)ctx;
    return pe_time_now_ms();
}

static void on_signal(int sig, void *ctx)
{
    struct agent *a = ctx;
    a->stop = true;
    a->stop_signal = sig;
    pe_info("agent.signal", "signal=%d", sig);
    pe_loop_stop(a->loop);
}

static void archive_tick(void *ctx)
{
    struct agent *a = ctx;
    a->archive_timer = 0;
    agent_archive(a);
}

static void on_committed(void *ctx, int64_t seq, const char *id, enum pe_event_type type,
                         const cJSON *body)
{
    struct agent *a = ctx;
    /* A period closed: archive and prune what is now old enough, between baskets. */
    if (type == PE_EV_Z_REPORT && !a->archive_timer &&
        pe_loop_timer(a->loop, 0, archive_tick, a, &a->archive_timer) != PE_OK)
        a->archive_timer = 0;
    agent_sim_committed(a, seq, id, type, body);
    uplink_kick(a->uplink);  /* only arms a timer: the receipt is not delayed */
    fleet_changed(a->fleet); /* likewise */
    catalog_sync_kick(a->catalog_sync); /* likewise: a version waiting for the basket's end */
}

/* fleet_deps.catalog: the state document's "catalog". */
static bool catalog_fleet(void *ctx, cJSON *obj)
{
    struct agent *a = ctx;
    return catalog_sync_state(a->catalog_sync, a->till, obj);
}

/* catalog_sync_deps.changed: a version applied, deferred or refused. */
static void on_catalog_changed(void *ctx)
{
    fleet_changed(((struct agent *)ctx)->fleet);
}

/* fleet_deps.upgrade and upgrade_state: HQ's upgrades (upgrade.h). */
static int upgrade_fleet(void *ctx, const char *id, const char *version, bool after_shift,
                         bool *current, char *why, size_t len)
{
    struct agent *a = ctx;
    return upgrade_ask(a->upgrade, id, version, after_shift, current, why, len);
}

static bool upgrade_fleet_state(void *ctx, cJSON *obj)
{
    return upgrade_state(((struct agent *)ctx)->upgrade, obj);
}

/* upgrade_deps.changed: the state's "upgrade" moved. */
static void on_upgrade_changed(void *ctx)
{
    fleet_changed(((struct agent *)ctx)->fleet);
}

/* fleet_deps.restart: a remote setting needs a clean restart. */
static void on_restart(void *ctx)
{
    struct agent *a = ctx;
    pe_info("agent.restart", "a remote setting needs a restart: closing cleanly");
    a->restart = true;
    a->stop = true;
    pe_loop_stop(a->loop);
}

/* ---- start and stop ---- */

/* Mutual TLS is configured: the CA, the till's certificate and its key. */
static bool tls_mutual(const struct agent_cfg *c)
{
    return c->mqtt_tls_ca_file[0] && c->mqtt_tls_cert_file[0] && c->mqtt_tls_key_file[0];
}

/* The uplink to the bridge and the fleet channel on it. password is borrowed (NULL: none).
 * Returns 0 or the exit status 1. */
static int start_uplink(struct agent *a, const char *password)
{
    struct uplink_opts uo = {
        .host = a->cfg.mqtt_host,
        .port = (int)a->cfg.mqtt_port,
        .keepalive_s = (int)a->cfg.mqtt_keepalive_s,
        .store = a->cfg.store,
        .terminal = a->cfg.terminal,
        .batch_max = a->cfg.uplink_batch_max,
        .batch_bytes = a->cfg.uplink_batch_bytes,
        .window = a->cfg.uplink_window,
        .resend_ms = a->cfg.uplink_resend_ms,
        .username = a->cfg.mqtt_username,
        .password = password,
        .tls_ca_file = a->cfg.mqtt_tls_ca_file,
        .tls_cert_file = a->cfg.mqtt_tls_cert_file,
        .tls_key_file = a->cfg.mqtt_tls_key_file,
    };
    int rc = fleet_hook(&uo, &a->fleet);
    if (rc == PE_OK)
        rc = catalog_sync_hook(&uo, &a->catalog_sync);
    if (rc == PE_OK && a->enrol)
        rc = enrol_hook(&uo, &a->enrol);
    if (rc == PE_OK)
        rc = uplink_create(a->loop, a->journal, &uo, &a->uplink);
    if (rc) {
        fprintf(stderr, "posedge-agent: uplink: %s\n", pe_strerror(rc));
        return 1;
    }
    enrol_attach(a->enrol, a->uplink);
    struct fleet_deps fd = {
        .loop = a->loop,
        .journal = a->journal,
        .till = a->till,
        .uplink = a->uplink,
        .store = a->cfg.store,
        .terminal = a->cfg.terminal,
        .data_dir = a->cfg.data_dir,
        .cert_file = a->cfg.mqtt_tls_ca_file[0] ? a->cfg.mqtt_tls_cert_file : NULL,
        .state_interval_s = a->cfg.fleet_state_interval_s,
        .cmd_max_age_s = a->cfg.fleet_cmd_max_age_s,
        .devices = devices_fleet,
        .catalog = catalog_fleet,
        .upgrade = a->upgrade ? upgrade_fleet : NULL,
        .upgrade_state = a->upgrade ? upgrade_fleet_state : NULL,
        .set_config = remote_cfg_set,
        .restart = on_restart,
        .ctx = a,
    };
    if ((rc = fleet_create(&fd, &a->fleet))) {
        fprintf(stderr, "posedge-agent: fleet channel: %s\n", pe_strerror(rc));
        return 1;
    }
    struct catalog_sync_deps cd = {
        .loop = a->loop,
        .journal = a->journal,
        .till = a->till,
        .uplink = a->uplink,
        .rng = a->rng,
        .store = a->cfg.store,
        .terminal = a->cfg.terminal,
        .currency = a->cfg.currency,
        .timeout_ms = a->cfg.catalog_timeout_ms,
        .changed = on_catalog_changed,
        .ctx = a,
    };
    if ((rc = catalog_sync_create(&cd, &a->catalog_sync))) {
        fprintf(stderr, "posedge-agent: catalog sync: %s\n", pe_strerror(rc));
        return 1;
    }
    return 0;
}

/* enrol_deps.enrolled: the certificate exists now; the uplink starts (no password: with a
 * certificate the broker takes the till's identity from it). */
static void on_enrolled(void *ctx)
{
    struct agent *a = ctx;
    if (a->uplink)
        return;
    if (start_uplink(a, NULL))
        pe_error("agent.uplink_failed", "after enrolment (see the line above); restart the agent");
    else
        fleet_changed(a->fleet);
}

/* The uplink, now or (mutual TLS without a certificate yet) once enrolment has made one. */
static int start_link(struct agent *a, const char *password)
{
    if (!tls_mutual(&a->cfg))
        return start_uplink(a, password);
    struct enrol_deps ed = {
        .loop = a->loop,
        .rng = a->rng,
        .store = a->cfg.store,
        .terminal = a->cfg.terminal,
        .host = a->cfg.mqtt_host,
        .port = (int)a->cfg.enrol_port,
        .keepalive_s = (int)a->cfg.mqtt_keepalive_s,
        .ca_file = a->cfg.mqtt_tls_ca_file,
        .cert_file = a->cfg.mqtt_tls_cert_file,
        .key_file = a->cfg.mqtt_tls_key_file,
        .token_file = a->cfg.enrol_token_file,
        .renew_days = a->cfg.enrol_renew_days,
        .enrolled = on_enrolled,
        .ctx = a,
    };
    int rc = enrol_create(&ed, &a->enrol);
    if (rc) {
        fprintf(stderr, "posedge-agent: enrolment: %s\n", pe_strerror(rc));
        return 1;
    }
    if (enrol_pending(a->enrol)) {
        pe_info("agent.uplink_waits", "cert_file=%s: the uplink starts once enrolment has made "
                                      "the certificate",
                a->cfg.mqtt_tls_cert_file);
        return 0;
    }
    return start_uplink(a, password);
}

/* The certificate, when there is one, names this till (else every topic of ours is denied). */
static void check_identity(const struct agent *a)
{
    struct pe_pki_cert_info ci;
    char err[PE_PKI_ERRLEN], cn[PE_PKI_CN_MAX];
    if (!tls_mutual(&a->cfg) || access(a->cfg.mqtt_tls_cert_file, F_OK) != 0 ||
        pe_pki_cert_info_file(a->cfg.mqtt_tls_cert_file, &ci, err, sizeof err) != PE_OK ||
        pe_pki_cn_make(PE_PKI_TERMINAL, a->cfg.store, a->cfg.terminal, cn, NULL, 0) != PE_OK)
        return;
    if (strcmp(ci.cn, cn) != 0)
        pe_warn("agent.cert_mismatch",
                "cert_file=%s cn=%s store=%s terminal=%s: the broker will deny every topic of "
                "this till",
                a->cfg.mqtt_tls_cert_file, ci.cn, a->cfg.store, a->cfg.terminal);
}

/* The fiscal signer of signer.type (none: a->signer stays NULL). Its key is made on first use;
 * a key file others may read is refused like any secret. Returns 0 or the exit status. */
static int open_signer(struct agent *a)
{
    const struct pe_signer_ops *ops = pe_signer_find(a->cfg.signer_type);
    if (!ops)
        return 0; /* "none": agent_cfg_table allows nothing else */
    char path[AGENT_SIGNER_PATH_MAX], err[PE_PKI_ERRLEN];
    struct pe_signer_conf sc;
    agent_signer_conf(&a->cfg, path, &sc);
    int rc = pe_signer_open(ops, &sc, &a->signer, err, sizeof err);
    if (rc) {
        fprintf(stderr, "posedge-agent: signer.type %s: %s\n", ops->name, err);
        pe_error("agent.signer_refused", "signer=%s err=%s detail=\"%s\"", ops->name,
                 pe_errname(rc), err);
        return rc == PE_EINVAL ? EXIT_USAGE : 1;
    }
    return 0;
}

/* Everything after the checks, in order; what was made stays in a for stop. */
static int start_parts(struct agent *a, const struct opts *o, const char *password)
{
    char err[512], path[AGENT_PATH_MAX + 32];
    int rc;
    if (mkdirs(a->cfg.data_dir)) {
        fprintf(stderr, "posedge-agent: data_dir %s: cannot create: %s\n", a->cfg.data_dir,
                strerror(errno));
        return 1;
    }
    if (remote_cfg_catalog(&a->cfg, a->cfg_path, &a->catalog, err, sizeof err)) {
        fprintf(stderr, "posedge-agent: %s\n", err);
        return EXIT_USAGE;
    }
    snprintf(path, sizeof path, "%s/journal.db", a->cfg.data_dir);
    struct pe_journal_opts jo = {
        .store = a->cfg.store,
        .terminal = a->cfg.terminal,
        .check = true,
        .vfs = fault_vfs(),
        .max_bytes = a->cfg.journal_max_mb * 1024 * 1024,
    };
    if ((rc = pe_journal_open(path, &jo, &a->journal, err, sizeof err))) {
        /* A damaged journal is the fiscal record: never replaced, the operator decides. */
        fprintf(stderr, "posedge-agent: %s\n", err);
        pe_error("agent.journal_refused", "path=%s err=%s", path, pe_errname(rc));
        return rc == PE_ECORRUPT ? EXIT_DAMAGED : 1;
    }
    fault_arm();
    char pers[96];
    snprintf(pers, sizeof pers, "posedge-agent/%s/%s", a->cfg.store, a->cfg.terminal);
    if ((rc = pe_rng_create(pers, &a->rng)) || (rc = pe_loop_create(&a->loop))) {
        fprintf(stderr, "posedge-agent: start-up failed: %s\n", pe_strerror(rc));
        return 1;
    }
    if ((rc = open_signer(a)))
        return rc;
    static const int sigs[] = {SIGINT, SIGTERM};
    signal(SIGPIPE, SIG_IGN);
    if ((rc = pe_loop_signals(a->loop, sigs, 2, on_signal, a))) {
        fprintf(stderr, "posedge-agent: signals: %s\n", pe_strerror(rc));
        return 1;
    }
    if (devices_open(a))
        return 1;

    int64_t last_ts = 0;
    pe_journal_last(a->journal, NULL, NULL, &last_ts);
    /* The simulated clock never runs behind the journal, so event time stays monotonic
     * across restarts even after an accelerated day. */
    int64_t start_ms = pe_time_now_ms();
    if (a->cfg.sim_start[0])
        pe_time_parse(a->cfg.sim_start, &start_ms); /* sim.start, checked by agent_cfg_table */
    if (last_ts >= start_ms)
        start_ms = last_ts + 1;
    if (agent_sim_start(a, &o->sim, start_ms, err, sizeof err)) {
        fprintf(stderr, "posedge-agent: %s\n", err);
        return EXIT_USAGE;
    }
    struct till_deps deps = {
        .journal = a->journal,
        .catalog = a->catalog,
        .rng = a->rng,
        .signer = a->signer,
        .printer = pe_printer_of(a->dev[PE_DEV_PRINTER]),
        .display = pe_display_of(a->dev[PE_DEV_DISPLAY]),
        .payment = pe_payment_of(a->dev[PE_DEV_PAYMENT]),
        .store = a->cfg.store,
        .terminal = a->cfg.terminal,
        .currency = a->cfg.currency,
        .title = a->cfg.title,
        .training = a->cfg.till_training,
        .now = a->sim ? sim_clock : real_clock,
        .now_ctx = a,
        .committed = on_committed,
        .committed_ctx = a,
        .signer_retry_ms = a->cfg.signer_retry_ms,
        .signer_down_alarm_s = a->cfg.signer_down_alarm_s,
    };
    if ((rc = till_create(&deps, &a->till))) {
        fprintf(stderr, "posedge-agent: till: %s\n", pe_strerror(rc));
        return 1;
    }
    devices_watch(a);
    /* A daemon takes HQ's upgrades (and holds the till at once when one is installing). */
    struct upgrade_deps ud = {
        .loop = a->loop,
        .till = a->till,
        .data_dir = a->cfg.data_dir,
        .watch_s = a->cfg.upgrade_watch_s,
        .hold_max_s = a->cfg.upgrade_hold_max_s,
        .changed = on_upgrade_changed,
        .ctx = a,
    };
    if (!agent_sim_batch(&o->sim) && (rc = upgrade_create(&ud, &a->upgrade, err, sizeof err))) {
        fprintf(stderr, "posedge-agent: upgrade: %s\n", err);
        return 1;
    }
    agent_archive(a); /* what closed and was delivered while the till was down */
    if (a->cfg.mqtt_host[0] && start_link(a, password))
        return 1;
    if (a->cfg.http_listen[0] && (rc = pe_http_start(a->loop, a->cfg.http_listen, agent_http, a,
                                                     &a->http, err, sizeof err))) {
        fprintf(stderr, "posedge-agent: %s\n", err);
        return 1;
    }
    /* Under systemd (Type=notify): ready now, and the watchdog pinged from this loop, so a
     * hung loop gets the till restarted. A failure here only loses that supervision. */
    if ((rc = pe_notify_start(a->loop)))
        pe_warn("agent.notify", "err=%s (running without the systemd watchdog)", pe_errname(rc));
    pe_notify("READY=1");
    int64_t seq = 0;
    pe_journal_last(a->journal, &seq, NULL, NULL);
    pe_info("agent.start", "store=%s terminal=%s journal=%s/journal.db last_seq=%lld mode=%s",
            a->cfg.store, a->cfg.terminal, a->cfg.data_dir, (long long)seq,
            agent_sim_mode(&o->sim));
    return 0;
}

/*
 * Bring the till up. Unknown drivers and an unreadable password file are refused before
 * anything exists on disk. Returns 0, or the exit status; either way stop takes down what was
 * made.
 */
static int start(struct agent *a, const struct opts *o)
{
    char err[600];
    if (devices_check(&a->cfg, err, sizeof err)) {
        fprintf(stderr, "posedge-agent: %s\n", err);
        return EXIT_USAGE;
    }
    /* Key and token files others may read are refused, as ssh does (the password file's mode
     * is checked as it is read, below). A key or token not made yet is enrolment's to make. */
    const struct {
        const char *what, *path;
    } private[] = {{"mqtt.tls.key_file", a->cfg.mqtt_tls_key_file},
                   {"enrol.token_file", a->cfg.enrol_token_file}};
    for (size_t i = 0; a->cfg.mqtt_host[0] && i < sizeof private / sizeof *private; i++) {
        if (private[i].path[0] && access(private[i].path, F_OK) == 0 &&
            pe_secret_check_mode(private[i].what, private[i].path, err, sizeof err)) {
            fprintf(stderr, "posedge-agent: %s\n", err);
            pe_error("agent.secret_refused", "%s", err);
            return EXIT_USAGE;
        }
    }
    if (a->cfg.mqtt_host[0] && !a->cfg.mqtt_tls_ca_file[0])
        pe_warn("mqtt.plaintext",
                "host=%s port=%lld: MQTT without TLS: the link is not encrypted and the broker "
                "does not authenticate this till by certificate (a lab only; set "
                "mqtt.tls.ca_file)",
                a->cfg.mqtt_host, (long long)a->cfg.mqtt_port);
    check_identity(a);
    char password[PE_SECRET_MAX] = "";
    if (a->cfg.mqtt_host[0] && a->cfg.mqtt_password_file[0] &&
        remote_cfg_password(&a->cfg, password, sizeof password, err, sizeof err)) {
        fprintf(stderr, "posedge-agent: mqtt.password_file: %s\n", err);
        return EXIT_USAGE;
    }
    int status = start_parts(a, o, password[0] ? password : NULL);
    pe_secret_wipe(password, sizeof password); /* the MQTT client keeps its own copy */
    return status;
}

/* Take down whatever start made, in the reverse order. */
static void stop(struct agent *a)
{
    pe_http_stop(a->http);
    catalog_sync_destroy(a->catalog_sync);
    a->catalog_sync = NULL; /* the uplink's hooks look through this slot until it is gone */
    fleet_destroy(a->fleet);
    upgrade_destroy(a->upgrade);
    a->upgrade = NULL;
    uplink_destroy(a->uplink);
    enrol_destroy(a->enrol);
    till_destroy(a->till);
    agent_sim_stop(a);
    devices_close(a);
    pe_notify_stop();
    pe_loop_destroy(a->loop);
    pe_rng_destroy(a->rng);
    pe_journal_close(a->journal);
    pe_signer_close(a->signer); /* after the journal, which borrows it */
    pe_catalog_destroy(a->catalog);
}

/* ---- run ---- */

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

static void summary(struct agent *a)
{
    const struct till_stats *s = till_stats(a->till);
    int64_t p50 = 0, p99 = 0, max = 0;
    if (s->nlat) {
        qsort(s->lat_us, s->nlat, sizeof *s->lat_us, cmp_i64);
        p50 = s->lat_us[s->nlat / 2];
        p99 = s->lat_us[(s->nlat * 99) / 100 < s->nlat ? (s->nlat * 99) / 100 : s->nlat - 1];
        max = s->lat_us[s->nlat - 1];
    }
    int64_t seq = 0;
    pe_journal_last(a->journal, &seq, NULL, NULL);
    pe_info("agent.summary",
            "customers=%lld events=%lld last_seq=%lld refusals=%lld commit_failures=%lld "
            "print_failures=%lld tender_commit_p50_us=%lld tender_commit_p99_us=%lld "
            "tender_commit_max_us=%lld elapsed_ms=%lld",
            (long long)agent_sim_customers(a), (long long)s->events, (long long)seq,
            (long long)s->refusals, (long long)s->commit_failures, (long long)s->print_failures,
            (long long)p50, (long long)p99, (long long)max,
            (long long)((pe_mono_us() - a->started_us) / 1000));
}

/* After a batch run: keep the loop (and so the uplink) running until the bridge reports every
 * journal event delivered, or the deadline passes. */
static int wait_delivered(struct agent *a, long long secs)
{
    int64_t last = 0, delivered = 0;
    pe_journal_last(a->journal, &last, NULL, NULL);
    pe_info("agent.wait_delivered", "last_seq=%lld timeout_s=%lld", (long long)last, secs);
    int64_t deadline = pe_mono_ms() + secs * 1000;
    for (;;) {
        uplink_watermarks(a->uplink, NULL, &delivered);
        if (delivered >= last) {
            pe_info("agent.delivered", "delivered=%lld last_seq=%lld", (long long)delivered,
                    (long long)last);
            return 0;
        }
        int64_t left = deadline - pe_mono_ms();
        if (a->stop || left <= 0) {
            fprintf(stderr, "posedge-agent: %s: delivered %lld of %lld\n",
                    a->stop ? "interrupted" : "timed out", (long long)delivered, (long long)last);
            pe_error("agent.wait_timeout", "delivered=%lld last_seq=%lld interrupted=%d",
                     (long long)delivered, (long long)last, a->stop);
            return 1;
        }
        int rc = pe_loop_run_once(a->loop, left > 1000 ? 1000 : (int)left);
        if (rc) {
            pe_error("agent.loop", "err=%s", pe_errname(rc));
            return 1;
        }
    }
}

/* Run until the batch is done or the daemon is stopped; park an open basket. Returns the exit
 * status. */
static int run(struct agent *a, const struct opts *o)
{
    bool batch = agent_sim_batch(&o->sim);
    int status;
    if (batch) {
        status = agent_sim_run_batch(a);
        if (status == 0 && o->wait_s >= 0)
            status = wait_delivered(a, o->wait_s);
    } else if (a->sim) {
        status = agent_sim_run_daemon(a);
    } else {
        status = pe_loop_run(a->loop) ? 1 : 0;
    }
    if (a->stop && !batch)
        status = 0; /* a daemon asked to stop has done its job */
    if (a->restart)
        status = EXIT_RESTART;
    if (till_basket_open(a->till)) {
        if (till_park(a->till) != PE_OK)
            pe_error("agent.park_failed", "basket lost: it was never committed or printed");
        /* A basket that could not be committed is a failed run; one resumed from an earlier
         * park and left untouched is not. */
        if (batch && till_stats(a->till)->commit_failures > 0)
            status = status ? status : EXIT_UNCOMMITTED;
    }
    pe_notify("STOPPING=1");
    summary(a);
    return status;
}

int main(int argc, char **argv)
{
    static struct opts o; /* the overrides are large */
    struct agent a = {0};
#ifdef __GLIBC__
    /* Each event allocates and frees the same few hundred KB (record, receipt, SQLite's
     * statement memory); with glibc's defaults the freed top of the heap went back to the kernel
     * and was asked for again on the next event, several brk calls per sale. Keeping up to 1 MB
     * of free heap (and growing it 256 KB at a time) ends that churn; peak RSS stays bounded by
     * the largest event, not by the number of events. */
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
    mallopt(M_TOP_PAD, 256 * 1024);
#endif
    int status = parse_args(argc, argv, &o);
    if (status == GO_ON)
        status = load_config(&a, &o);
    if (status != GO_ON)
        return status;
    if (o.self_test)
        return selftest_run(&a);
    if (o.print_cfg)
        return pe_cfg_print(agent_cfg_table, &a.cfg, stdout) ? 1 : 0;
    if (o.wait_s >= 0 && !a.cfg.mqtt_host[0]) {
        fprintf(stderr, "posedge-agent: --wait-delivered needs the uplink (--mqtt HOST:PORT or "
                        "mqtt.host)\n");
        return EXIT_USAGE;
    }
    enum pe_log_level level = PE_LOG_INFO;
    pe_log_level_parse(a.cfg.log_level, &level);
    pe_log_init("agent", level);
    a.started_us = pe_mono_us();
    a.started_ms = pe_time_now_ms();
    status = start(&a, &o);
    if (status == 0)
        status = run(&a, &o);
    stop(&a);
    return status;
}
