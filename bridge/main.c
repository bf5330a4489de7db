/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - posedge-bridge: one per store. Takes the tills' events from the in-store MQTT
 * broker into a durable SQLite spool and forwards them to Kafka whenever the link is up.
 * One thread, one poll(2) loop (bridge.c does the work). SIGTERM/SIGINT: stop intake, flush
 * Kafka with a deadline, persist the watermarks, close. SIGHUP: read the Kafka password file
 * and certificates again and recreate the Kafka producers (bridge_reload). Under systemd
 * (Type=notify) it says READY=1 once it serves, STOPPING=1 when it stops, and pings the
 * watchdog from its loop.
 * --self-test checks the installation without starting (selftest.c).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bridge/bridge.h"
#include "bridge/selftest.h"
#include "posedge/err.h"
#include "posedge/log.h"
#include "posedge/mqtt.h"
#include "posedge/notify.h"
#include "posedge/version.h"

#define EXIT_USAGE 2
#define EXIT_CORRUPT 4 /* as posedge-agent with a damaged journal */
#define FLUSH_MS 5000

static void usage(FILE *out)
{
    fprintf(out,
            "usage: posedge-bridge -c FILE [--data-dir DIR] [--mqtt HOST:PORT] [--kafka BROKERS]\n"
            "                      [--set KEY=VALUE]... [--print-config] [--self-test] [--help]\n"
            "\n"
            "Receives the store's till events over MQTT, keeps them in DIR/spool.db and\n"
            "forwards them to Kafka (acks=all, idempotent), acknowledging to each till what is\n"
            "spooled and what is delivered. TLS and SASL to Kafka: kafka.security_protocol,\n"
            "kafka.sasl.* and kafka.tls.* (the password only from a file); SIGHUP reads the\n"
            "password file and certificates again. Any other librdkafka property can be given\n"
            "in the file as \"kafka\": {\"properties\": {\"linger.ms\": \"5\", ...}}.\n"
            "\n"
            "--self-test checks the installation and exits: the configuration (as loaded, with\n"
            "the options above), the librdkafka properties, the MQTT password file, that the\n"
            "data directory is writable, and the spool (quick_check and watermarks; none yet is\n"
            "fine). One line per check, \"ok WHAT ...\" or \"FAIL WHAT ...: reason\"; exit status\n"
            "0 when all passed, 1 otherwise. It never connects to Kafka or MQTT and changes\n"
            "nothing, so an update can run it whatever the state of the network.\n"
            "\n"
            "configuration keys (JSON file, or --set KEY=VALUE):\n");
    bridge_cfg_help(out);
}

/* What the signal handler acts on (the bridge exists once it serves). */
struct running {
    struct pe_loop *loop;
    struct bridge *b;
};

static void on_signal(int sig, void *ctx)
{
    struct running *r = ctx;
    pe_info("bridge.signal", "signal=%d", sig);
    if (sig == SIGHUP) {
        if (r->b)
            bridge_reload(r->b);
        return;
    }
    pe_loop_stop(r->loop);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"data-dir", required_argument, NULL, 'd'},
        {"mqtt", required_argument, NULL, 'm'},
        {"kafka", required_argument, NULL, 'k'},
        {"set", required_argument, NULL, 's'},
        {"print-config", no_argument, NULL, 'p'},
        {"self-test", no_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cfg_path = NULL;
    static struct pe_cfg_overrides sets;
    int c, rc = PE_OK;
    bool print_cfg = false, self_test = false;
    char err[512];
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cfg_path = optarg;
            break;
        case 'd':
            rc = pe_cfg_override(&sets, "data_dir", optarg);
            break;
        case 'k':
            rc = pe_cfg_override(&sets, "kafka.brokers", optarg);
            break;
        case 'm': {
            char host[128];
            int port;
            if (pe_mqtt_parse_addr(optarg, host, sizeof host, &port) != PE_OK) {
                fprintf(stderr, "posedge-bridge: --mqtt: expected HOST:PORT, got \"%s\"\n", optarg);
                return EXIT_USAGE;
            }
            char portstr[8];
            snprintf(portstr, sizeof portstr, "%d", port);
            rc = pe_cfg_override(&sets, "mqtt.host", host);
            if (!rc)
                rc = pe_cfg_override(&sets, "mqtt.port", portstr);
            break;
        }
        case 's':
            rc = pe_cfg_override_arg(&sets, optarg);
            if (rc == PE_EINVAL) {
                fprintf(stderr, "posedge-bridge: --set: expected KEY=VALUE, got \"%s\"\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'p':
            print_cfg = true;
            break;
        case 't':
            self_test = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
        if (rc) {
            fprintf(stderr, "posedge-bridge: too many or too long overrides\n");
            return EXIT_USAGE;
        }
    }
    if (optind < argc || !cfg_path) {
        fprintf(stderr,
                optind < argc ? "posedge-bridge: unexpected argument \"%s\"\n"
                              : "posedge-bridge: -c FILE is required%s\n",
                optind < argc ? argv[optind] : "");
        usage(stderr);
        return EXIT_USAGE;
    }
    struct bridge_cfg cfg;
    if (bridge_cfg_load(&cfg, cfg_path, err, sizeof err) ||
        pe_cfg_apply(bridge_cfg_table, &cfg, &sets, err, sizeof err)) {
        if (self_test)
            printf("FAIL config %s: %s\n", cfg_path, err);
        else
            fprintf(stderr, "posedge-bridge: %s\n", err);
        bridge_cfg_free(&cfg);
        return self_test ? 1 : EXIT_USAGE;
    }
    if (self_test && !print_cfg) {
        pe_log_init("bridge", PE_LOG_OFF); /* the check lines say it all */
        printf("ok config %s: store %s, id %s, version %s\n", cfg_path, cfg.store,
               bridge_cfg_id(&cfg), pe_version());
        int failed = bridge_self_test(&cfg, stdout);
        bridge_cfg_free(&cfg);
        return failed ? 1 : 0;
    }
    if (print_cfg) {
        rc = bridge_cfg_print(&cfg, stdout);
        bridge_cfg_free(&cfg);
        return rc ? 1 : 0;
    }
    enum pe_log_level level = PE_LOG_INFO;
    pe_log_level_parse(cfg.log_level, &level);
    pe_log_init("bridge", level);
    int status = 1;
    if (mkdir(cfg.data_dir, 0750) != 0 && errno != EEXIST) {
        fprintf(stderr, "posedge-bridge: data_dir %s: %s\n", cfg.data_dir, strerror(errno));
        bridge_cfg_free(&cfg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    struct pe_loop *loop = NULL;
    struct bridge *b = NULL;
    static struct running running;
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    rc = pe_loop_create(&loop);
    running.loop = loop;
    if (!rc)
        rc = pe_loop_signals(loop, sigs, 3, on_signal, &running);
    if (rc) {
        fprintf(stderr, "posedge-bridge: start-up failed: %s\n", pe_strerror(rc));
        goto out;
    }
    /* Before the bridge, so that a loop that hangs while it starts misses its pings too. */
    if ((rc = pe_notify_start(loop)) != PE_OK)
        fprintf(stderr, "posedge-bridge: systemd notification off: %s\n", pe_strerror(rc));
    if ((rc = bridge_create(loop, &cfg, &b, err, sizeof err))) {
        fprintf(stderr, "posedge-bridge: %s\n", err);
        if (rc == PE_ECORRUPT)
            fprintf(stderr,
                    "posedge-bridge: to recover, move %s/spool.db (with its -wal and -shm files)\n"
                    "  aside and start again: the bridge starts a new spool, resumes after what\n"
                    "  Kafka has committed%s, and the tills send again what it lacks. Keep the\n"
                    "  damaged file for analysis (sqlite3 FILE .recover).\n",
                    cfg.data_dir,
                    bridge_cfg_transactional(&cfg)
                        ? ""
                        : " (idempotent mode: from the start, so Kafka gets duplicates)");
        status = rc == PE_EINVAL ? EXIT_USAGE : rc == PE_ECORRUPT ? EXIT_CORRUPT : 1;
        goto out;
    }
    /* Serving: the spool is open, the producer and the MQTT client exist (they connect, and
     * reconnect, by themselves: a broker that is away must not fail the start). */
    running.b = b;
    pe_notify("READY=1");
    status = pe_loop_run(loop) == PE_OK ? 0 : 1;
    pe_notify("STOPPING=1");
    running.b = NULL;
    bridge_destroy(b, FLUSH_MS);
out:
    pe_notify_stop();
    pe_loop_destroy(loop);
    bridge_cfg_free(&cfg);
    return status;
}
