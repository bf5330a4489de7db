/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - posedge-agent: the till daemon.
 *
 * One thread around one poll(2) loop: the HAL input devices' fds, timers and a signal
 * self-pipe. With --scenario or --shopper the agent performs exactly those transactions on the
 * sim board's fake devices and exits; otherwise it runs until SIGTERM/SIGINT, when it parks an
 * open basket in the journal and closes cleanly. Every event is committed to the journal before
 * its receipt prints (till.c); this file only wires devices, clock, journal, till and (when
 * mqtt.host is set) the uplink to the bridge (uplink.c) together.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "agent/agent_cfg.h"
#include "agent/fleet.h"
#include "agent/till.h"
#include "agent/uplink.h"
#include "posedge/catalog.h"
#include "posedge/clock.h"
#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/file.h"
#include "posedge/json.h"
#include "posedge/hal/board.h"
#include "posedge/hal/sim.h"
#include "posedge/journal.h"
#include "posedge/log.h"
#include "posedge/loop.h"
#include "posedge/mqtt.h"
#include "posedge/notify.h"
#include "posedge/version.h"

#define EXIT_USAGE 2
#define EXIT_UNCOMMITTED 3
#define EXIT_RESTART                                                                               \
    75 /* a remote set_config needs a clean restart (unit: RestartForceExitStatus) */

struct agent {
    struct agent_cfg cfg;
    struct pe_loop *loop;
    struct pe_journal *journal;
    struct pe_catalog *catalog;
    struct pe_rng *rng;
    struct pe_scanner *scanner;
    struct pe_scale *scale;
    struct pe_printer *printer;
    struct pe_payment *payment;
    struct pe_display *display;
    struct pe_keypad *keypad;
    struct pe_sim *sim;
    struct pe_till *till;
    struct uplink *uplink;         /* NULL when mqtt.host is "" */
    struct fleet *fleet;           /* with the uplink: state document and commands */
    char cfg_path[AGENT_PATH_MAX]; /* the configuration file, for relative paths */
    bool restart;                  /* stop, then exit EXIT_RESTART */
    enum pe_health health[4];      /* last seen: scanner, scale, printer, display */
    bool scale_polled;             /* the scale answers request(): ask it every SCALE_POLL_MS */
    bool stop;
    int stop_signal;
};

#define HEALTH_MS 1000    /* devices' health is looked at this often */
#define SCALE_POLL_MS 250 /* a polled scale (NCI, 8213) is asked for a reading this often */

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

/* ---- clock ---- */

static int64_t sim_clock(void *ctx)
{
    return pe_sim_now(((struct agent *)ctx)->sim);
}

static int64_t real_clock(void *ctx)
{
    (void)ctx;
    return pe_time_now_ms();
}

/* ---- device input ---- */

static void on_scanner(int fd, short revents, void *ctx)
{
    (void)fd;
    (void)revents;
    struct agent *a = ctx;
    struct pe_scan s;
    while (pe_scanner_read(a->scanner, &s) == PE_OK) {
        till_on_scan(a->till, s.code);
        if (a->sim && strcmp(a->cfg.scanner.driver, "fake") != 0)
            pe_sim_device_input(a->sim, 0);
    }
}

static void on_scale(int fd, short revents, void *ctx)
{
    (void)fd;
    (void)revents;
    struct agent *a = ctx;
    struct pe_weight w;
    while (pe_scale_read(a->scale, &w) == PE_OK) {
        till_on_weight(a->till, &w);
        if (a->sim && strcmp(a->cfg.scale.driver, "fake") != 0)
            pe_sim_device_input(a->sim, 1);
    }
}

static void on_keypad(int fd, short revents, void *ctx)
{
    (void)fd;
    (void)revents;
    struct agent *a = ctx;
    struct pe_key_input k;
    while (pe_keypad_read(a->keypad, &k) == PE_OK)
        till_on_key(a->till, &k);
}

static void on_payment(int fd, short revents, void *ctx)
{
    (void)fd;
    (void)revents;
    struct agent *a = ctx;
    struct pe_pay_result r;
    while (pe_payment_read(a->payment, &r) == PE_OK)
        till_on_payment(a->till, &r);
}

/* ---- device health: offline, back, out of paper ---- */

/* The Linux drivers keep their fd through an unplug and reopen the device from their health op
 * with backoff (hal/linux/linux.h); the agent looks at every device's health each HEALTH_MS,
 * logs each change and says it on the customer display. */
static void on_health(void *ctx)
{
    struct agent *a = ctx;
    static const char *const names[4] = {"Scanner", "Scale", "Printer", "Display"};
    enum pe_health h[4] = {PE_HEALTH_OK, PE_HEALTH_OK, PE_HEALTH_OK, PE_HEALTH_OK};
    int rc[4] = {
        pe_scanner_health(a->scanner, &h[0]),
        pe_scale_health(a->scale, &h[1]),
        pe_printer_health(a->printer, &h[2]),
        pe_display_health(a->display, &h[3]),
    };
    for (int i = 0; i < 4; i++) {
        if (rc[i] != PE_OK || h[i] == a->health[i])
            continue;
        static const char *const words[] = {"ok", "degraded", "failed"};
        pe_log(h[i] == PE_HEALTH_OK ? PE_LOG_INFO : PE_LOG_WARN, "agent.device",
               "device=%s health=%s", names[i], words[h[i]]);
        if (h[i] == PE_HEALTH_FAILED)
            till_on_device(a->till, names[i], false,
                           i == 2 ? "receipts can be reprinted" : "check the cable");
        else if (a->health[i] == PE_HEALTH_FAILED)
            till_on_device(a->till, names[i], true, "");
        a->health[i] = h[i];
        fleet_changed(a->fleet);
    }
    pe_loop_timer(a->loop, HEALTH_MS, on_health, a, NULL);
}

static void on_scale_poll(void *ctx)
{
    struct agent *a = ctx;
    pe_scale_request(a->scale);
    pe_loop_timer(a->loop, SCALE_POLL_MS, on_scale_poll, a, NULL);
}

static void watch_health(struct agent *a)
{
    pe_loop_timer(a->loop, HEALTH_MS, on_health, a, NULL);
    /* A scale that reports by itself (the fake) says so: request is not supported. */
    if (pe_scale_request(a->scale) != PE_ENOTSUP) {
        a->scale_polled = true;
        pe_loop_timer(a->loop, SCALE_POLL_MS, on_scale_poll, a, NULL);
    }
}

static void on_signal(int sig, void *ctx)
{
    struct agent *a = ctx;
    a->stop = true;
    a->stop_signal = sig;
    pe_info("agent.signal", "signal=%d", sig);
    pe_loop_stop(a->loop);
}

static void on_committed(void *ctx, int64_t seq, const char *id, enum pe_event_type type,
                         const cJSON *body)
{
    struct agent *a = ctx;
    if (a->sim && type == PE_EV_SALE)
        pe_sim_sale_committed(a->sim, seq, id, body);
    uplink_kick(a->uplink);  /* only arms a timer: the receipt is not delayed */
    fleet_changed(a->fleet); /* likewise */
}

/* ---- the fleet channel's callbacks (fleet.h) ---- */

static const char *const CLASSES[6] = {"scanner", "scale",   "printer",
                                       "payment", "display", "keypad"};

static const struct agent_devcfg *devcfg(const struct agent_cfg *c, int i)
{
    const struct agent_devcfg *d[6] = {&c->scanner, &c->scale,   &c->printer,
                                       &c->payment, &c->display, &c->keypad};
    return d[i];
}

static int device_health(struct agent *a, int i, enum pe_health *h)
{
    switch (i) {
    case 0:
        return pe_scanner_health(a->scanner, h);
    case 1:
        return pe_scale_health(a->scale, h);
    case 2:
        return pe_printer_health(a->printer, h);
    case 3:
        return pe_payment_health(a->payment, h);
    case 4:
        return pe_display_health(a->display, h);
    default:
        return pe_keypad_health(a->keypad, h);
    }
}

/* The state document's "devices": each class's driver and health ("unknown" when the driver
 * cannot tell). */
static void fleet_devices(void *ctx, cJSON *obj)
{
    struct agent *a = ctx;
    static const char *const words[] = {"ok", "degraded", "failed"};
    for (int i = 0; i < 6; i++) {
        enum pe_health h = PE_HEALTH_OK;
        int rc = device_health(a, i, &h);
        cJSON *d = cJSON_AddObjectToObject(obj, CLASSES[i]);
        if (!d || !cJSON_AddStringToObject(d, "driver", devcfg(&a->cfg, i)->driver) ||
            !cJSON_AddStringToObject(
                d, "status",
                rc == PE_OK && h >= PE_HEALTH_OK && h <= PE_HEALTH_FAILED ? words[h] : "unknown"))
            return; /* out of memory: the document says less */
    }
}

/* Settings applied at once; every other one takes a clean restart. */
static bool live_key(const char *key)
{
    return strcmp(key, "log_level") == 0 || strcmp(key, "title") == 0 ||
           strncmp(key, "fleet.", 6) == 0;
}

static void remote_cfg_path(const struct agent_cfg *c, char *out, size_t len)
{
    snprintf(out, len, "%s/remote-config.json", c->data_dir);
}

/* Apply <data_dir>/remote-config.json (settings made by set_config) to c. A setting that no
 * longer passes (a key renamed by an upgrade, say) is logged and skipped, never fatal: an
 * unattended till must come back up. */
static void remote_cfg_load(struct agent_cfg *c)
{
    char path[AGENT_PATH_MAX + 32], err[600], *text = NULL;
    size_t len = 0;
    cJSON *doc = NULL, *m;
    remote_cfg_path(c, path, sizeof path);
    if (access(path, F_OK) != 0)
        return;
    if (pe_file_read(path, 64 * 1024, &text, &len, err, sizeof err) != PE_OK ||
        pe_json_parse(text, len, &doc, NULL, 0) != PE_OK || !cJSON_IsObject(doc)) {
        pe_warn("agent.remote_config_unreadable", "path=%s (ignored)", path);
        goto out;
    }
    cJSON_ArrayForEach(m, doc)
    {
        if (!cJSON_IsString(m) ||
            pe_cfg_set(agent_cfg_table, c, m->string, m->valuestring, err, sizeof err) != PE_OK) {
            pe_warn("agent.remote_config_skipped", "path=%s key=%s err=\"%s\"", path, m->string,
                    cJSON_IsString(m) ? err : "not a string");
            continue;
        }
        pe_info("agent.remote_config", "key=%s", m->string);
    }
out:
    cJSON_Delete(doc);
    free(text);
}

/* Persist key=value in <data_dir>/remote-config.json (atomically replaced). */
static int remote_cfg_save(const struct agent_cfg *c, const char *key, const char *value, char *err,
                           size_t errlen)
{
    char path[AGENT_PATH_MAX + 32], *text = NULL, *out = NULL;
    size_t len = 0;
    cJSON *doc = NULL;
    remote_cfg_path(c, path, sizeof path);
    if (access(path, F_OK) == 0 && pe_file_read(path, 64 * 1024, &text, &len, err, errlen) == 0)
        pe_json_parse(text, len, &doc, NULL, 0);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        doc = cJSON_CreateObject();
    }
    cJSON_DeleteItemFromObjectCaseSensitive(doc, key);
    int rc = doc && cJSON_AddStringToObject(doc, key, value) && (out = cJSON_Print(doc))
                 ? pe_file_write_atomic(path, out, strlen(out), err, errlen)
                 : PE_ENOMEM;
    if (rc == PE_ENOMEM)
        snprintf(err, errlen, "out of memory");
    cJSON_free(out);
    cJSON_Delete(doc);
    free(text);
    return rc;
}

static void resolve(const char *cfg_path, const char *p, char *out, size_t len);

/* The checks main() makes at start that the key table cannot: drivers built in, the catalog
 * readable and priced in the currency. A setting that fails them would keep a restarted till
 * from coming up, so set_config refuses it. */
static int cross_check(const struct agent_cfg *c, const char *cfg_path, char *err, size_t len)
{
    const void *found[6] = {
        pe_hal_scanner_driver(c->scanner.driver), pe_hal_scale_driver(c->scale.driver),
        pe_hal_printer_driver(c->printer.driver), pe_hal_payment_driver(c->payment.driver),
        pe_hal_display_driver(c->display.driver), pe_hal_keypad_driver(c->keypad.driver)};
    for (int i = 0; i < 6; i++)
        if (!found[i]) {
            snprintf(err, len, "devices.%s.driver: no driver \"%s\" (built in: %s)", CLASSES[i],
                     devcfg(c, i)->driver, pe_hal_driver_names());
            return PE_EINVAL;
        }
    char path[AGENT_PATH_MAX * 2];
    struct pe_catalog *cat = NULL;
    resolve(cfg_path, c->catalog, path, sizeof path);
    int rc = pe_catalog_load(path, &cat, err, len);
    if (rc == PE_OK && strcmp(pe_catalog_currency(cat), c->currency) != 0) {
        snprintf(err, len, "currency: %s, but the catalog %.300s is priced in %s", c->currency,
                 path, pe_catalog_currency(cat));
        rc = PE_EINVAL;
    }
    pe_catalog_destroy(cat);
    return rc ? PE_EINVAL : PE_OK;
}

static int fleet_set_config(void *ctx, const char *key, const char *value, bool *live, char *err,
                            size_t len)
{
    struct agent *a = ctx;
    struct agent_cfg *c = malloc(sizeof *c);
    if (!c) {
        snprintf(err, len, "out of memory");
        return PE_ENOMEM;
    }
    *c = a->cfg;
    int rc = pe_cfg_set(agent_cfg_table, c, key, value, err, len);
    if (rc == PE_OK)
        rc = cross_check(c, a->cfg_path, err, len);
    if (rc == PE_OK)
        rc = remote_cfg_save(c, key, value, err, len);
    if (rc == PE_OK && (*live = live_key(key))) {
        a->cfg = *c; /* the till's borrowed strings stay where they were */
        enum pe_log_level level = PE_LOG_INFO;
        pe_log_level_parse(a->cfg.log_level, &level);
        pe_log_set_level(level);
        fleet_set_limits(a->fleet, a->cfg.fleet_state_interval_s, a->cfg.fleet_cmd_max_age_s);
    }
    if (rc == PE_OK)
        pe_info("agent.set_config", "key=%s applied=%s", key, *live ? "live" : "restart");
    free(c);
    return rc;
}

static void fleet_restart(void *ctx)
{
    struct agent *a = ctx;
    pe_info("agent.restart", "a remote setting needs a restart: closing cleanly");
    a->restart = true;
    a->stop = true;
    pe_loop_stop(a->loop);
}

/* The first line of mqtt.password_file into out. Errors: PE_EIO (err names the file). */
static int read_password(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    int rc = pe_file_read(path, 4096, &text, &len, err, errlen);
    if (rc)
        return rc;
    text[strcspn(text, "\r\n")] = '\0';
    if ((size_t)snprintf(out, outlen, "%s", text) >= outlen) {
        snprintf(err, errlen, "mqtt.password_file %s: the password is too long", path);
        rc = PE_EINVAL;
    }
    memset(text, 0, len);
    free(text);
    return rc;
}

/* ---- --self-test ---- */

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

/* Open and close one device with its configured driver (fakes are simulated: nothing to open). */
#define SELF_DEV(cls, field, finder)                                                               \
    do {                                                                                           \
        const struct agent_devcfg *dc_ = &a->cfg.field;                                            \
        if (strcmp(dc_->driver, "fake") == 0) {                                                    \
            failed += self_line(true, "device " cls, "fake (simulated)");                          \
            break;                                                                                 \
        }                                                                                          \
        struct pe_hal_devcfg hc_ = {dc_->driver, dc_->path, a->cfg.data_dir, dc_->options};        \
        if (!finder(dc_->driver)) {                                                                \
            failed += self_line(false, "device " cls, "no driver \"%s\"", dc_->driver);            \
            break;                                                                                 \
        }                                                                                          \
        int rc_ = finder(dc_->driver)->open(&hc_, &a->field);                                      \
        if (rc_ == PE_OK)                                                                          \
            field##_close_ok(a);                                                                   \
        failed += self_line(rc_ == PE_OK || rc_ == PE_EBUSY, "device " cls, "%s %s: %s",           \
                            dc_->driver, dc_->path[0] ? dc_->path : "(driver default)",            \
                            rc_ == PE_OK      ? "opens"                                            \
                            : rc_ == PE_EBUSY ? "busy (in use, by the running agent?)"             \
                                              : pe_strerror(rc_));                                 \
    } while (0)

static void scanner_close_ok(struct agent *a)
{
    pe_scanner_close(a->scanner);
    a->scanner = NULL;
}
static void scale_close_ok(struct agent *a)
{
    pe_scale_close(a->scale);
    a->scale = NULL;
}
static void printer_close_ok(struct agent *a)
{
    pe_printer_close(a->printer);
    a->printer = NULL;
}
static void payment_close_ok(struct agent *a)
{
    pe_payment_close(a->payment);
    a->payment = NULL;
}
static void display_close_ok(struct agent *a)
{
    pe_display_close(a->display);
    a->display = NULL;
}
static void keypad_close_ok(struct agent *a)
{
    pe_keypad_close(a->keypad);
    a->keypad = NULL;
}

/*
 * posedge-agent --self-test: can this till run? The configuration (with the remote settings),
 * the catalog, the data folder, the journal's integrity (the whole hash chain), the MQTT
 * password file and every real device. Read-only: nothing is created or changed, and neither
 * the bridge nor the network is needed, so an OTA system (Mender, RAUC, SWUpdate) can run it
 * after an update to mark it good (exit 0) or roll it back (exit 1), even with the WAN down.
 */
static int run_self_test(struct agent *a)
{
    int failed = 0;
    char err[600], path[AGENT_PATH_MAX + 32];
    pe_log_init("agent", PE_LOG_ERROR); /* only the report on stdout */
    printf("posedge-agent %s (%s) self-test, config %s\n", pe_version(), pe_board(), a->cfg_path);
    int rc = cross_check(&a->cfg, a->cfg_path, err, sizeof err);
    failed += self_line(rc == PE_OK, "config", "%s",
                        rc == PE_OK ? "valid (store, terminal, "
                                      "drivers, catalog, currency)"
                                    : err);
    struct stat st;
    if (stat(a->cfg.data_dir, &st) == 0) {
        bool w = S_ISDIR(st.st_mode) && access(a->cfg.data_dir, W_OK | X_OK) == 0;
        failed += self_line(w, "data_dir", "%s %s", a->cfg.data_dir,
                            w                     ? "is writable"
                            : S_ISDIR(st.st_mode) ? "is not writable for this user"
                                                  : "is not a directory");
    } else {
        /* Missing: the first start creates it, if the nearest existing folder lets us. */
        char up[AGENT_PATH_MAX];
        snprintf(up, sizeof up, "%s", a->cfg.data_dir);
        char *slash;
        while ((slash = strrchr(up, '/')) && slash != up && access(up, F_OK) != 0)
            *slash = '\0';
        if (slash == up && access(up, F_OK) != 0)
            snprintf(up, sizeof up, "/");
        bool w = access(up, W_OK | X_OK) == 0;
        failed += self_line(w, "data_dir", "%s does not exist yet; %s", a->cfg.data_dir,
                            w ? "the first start creates it" : "and this user cannot create it");
    }
    snprintf(path, sizeof path, "%s/journal.db", a->cfg.data_dir);
    if (access(path, F_OK) != 0) {
        failed += self_line(true, "journal", "%s: none yet (created at the first start)", path);
    } else {
        struct pe_journal_opts jo = {.readonly = true, .check = true};
        struct pe_journal_verify_result vr = {0};
        struct pe_journal *j = NULL;
        rc = pe_journal_open(path, &jo, &j, err, sizeof err);
        if (rc == PE_OK && (strcmp(pe_journal_store(j), a->cfg.store) != 0 ||
                            strcmp(pe_journal_terminal(j), a->cfg.terminal) != 0)) {
            snprintf(err, sizeof err, "%s belongs to %s/%s, the configuration says %s/%s", path,
                     pe_journal_store(j), pe_journal_terminal(j), a->cfg.store, a->cfg.terminal);
            rc = PE_EINVAL;
        }
        if (rc == PE_OK && (rc = pe_journal_verify(j, &vr)) != PE_OK)
            snprintf(err, sizeof err, "%s: chain broken at seq %lld: %s", path,
                     (long long)vr.bad_seq, vr.why);
        if (rc == PE_OK)
            failed += self_line(true, "journal", "%s: %lld events, hash chain intact", path,
                                (long long)vr.count);
        else
            failed += self_line(false, "journal", "%s", err);
        pe_journal_close(j);
    }
    if (a->cfg.mqtt_password_file[0]) {
        char pw[256];
        rc = read_password(a->cfg.mqtt_password_file, pw, sizeof pw, err, sizeof err);
        memset(pw, 0, sizeof pw);
        failed +=
            self_line(rc == PE_OK, "mqtt.password_file", "%s", rc == PE_OK ? "readable" : err);
    }
    SELF_DEV("scanner", scanner, pe_hal_scanner_driver);
    SELF_DEV("scale", scale, pe_hal_scale_driver);
    SELF_DEV("printer", printer, pe_hal_printer_driver);
    SELF_DEV("payment", payment, pe_hal_payment_driver);
    SELF_DEV("display", display, pe_hal_display_driver);
    SELF_DEV("keypad", keypad, pe_hal_keypad_driver);
    printf("self-test: %s\n", failed ? "FAILED" : "passed");
    fflush(stdout);
    return failed ? 1 : 0;
}

/* ---- set-up ---- */

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

/* Resolve a path from the config file: relative paths are relative to the file's folder. */
static void resolve(const char *cfg_path, const char *p, char *out, size_t len)
{
    const char *slash = strrchr(cfg_path, '/');
    if (p[0] == '/' || !slash)
        snprintf(out, len, "%s", p);
    else
        snprintf(out, len, "%.*s/%s", (int)(slash - cfg_path), cfg_path, p);
}

/* Open one device of a class with the driver the configuration names (checked at start). */
#define OPEN_DEV(cls, field, finder)                                                               \
    do {                                                                                           \
        struct pe_hal_devcfg dc = {a->cfg.field.driver, a->cfg.field.path, a->cfg.data_dir,        \
                                   a->cfg.field.options};                                          \
        int rc_ = finder(a->cfg.field.driver)->open(&dc, &a->field);                               \
        if (rc_) {                                                                                 \
            fprintf(stderr, "posedge-agent: cannot open the " cls " (%s %s): %s\n",                \
                    a->cfg.field.driver, a->cfg.field.path, pe_strerror(rc_));                     \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

static int open_devices(struct agent *a)
{
    OPEN_DEV("scanner", scanner, pe_hal_scanner_driver);
    OPEN_DEV("scale", scale, pe_hal_scale_driver);
    OPEN_DEV("printer", printer, pe_hal_printer_driver);
    OPEN_DEV("payment", payment, pe_hal_payment_driver);
    OPEN_DEV("display", display, pe_hal_display_driver);
    OPEN_DEV("keypad", keypad, pe_hal_keypad_driver);
    int rc = pe_loop_add_fd(a->loop, pe_scanner_fd(a->scanner), POLLIN, on_scanner, a);
    if (!rc)
        rc = pe_loop_add_fd(a->loop, pe_scale_fd(a->scale), POLLIN, on_scale, a);
    if (!rc)
        rc = pe_loop_add_fd(a->loop, pe_keypad_fd(a->keypad), POLLIN, on_keypad, a);
    if (!rc)
        rc = pe_loop_add_fd(a->loop, pe_payment_fd(a->payment), POLLIN, on_payment, a);
    if (rc) {
        fprintf(stderr, "posedge-agent: cannot watch devices: %s\n", pe_strerror(rc));
        return 1;
    }
    return 0;
}

static void close_devices(struct agent *a)
{
    pe_scanner_close(a->scanner);
    pe_scale_close(a->scale);
    pe_printer_close(a->printer);
    pe_payment_close(a->payment);
    pe_display_close(a->display);
    pe_keypad_close(a->keypad);
}

#ifdef PE_FAULT_INJECTION
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

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

static void summary(struct agent *a, int64_t started_us)
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
            (long long)(a->sim ? pe_sim_customers(a->sim) : 0), (long long)s->events,
            (long long)seq, (long long)s->refusals, (long long)s->commit_failures,
            (long long)s->print_failures, (long long)p50, (long long)p99, (long long)max,
            (long long)((pe_mono_us() - started_us) / 1000));
}

/* Drive a batch run: inject the next simulated action whenever the till has taken the last. */
static int run_batch(struct agent *a)
{
    for (;;) {
        if (a->stop)
            return 1;
        if (!pe_sim_pending(a->sim) && !till_awaiting_payment(a->till)) {
            int rc = pe_sim_step(a->sim);
            if (rc == PE_EEOF)
                return 0;
            if (rc) {
                pe_error("agent.sim", "err=%s", pe_errname(rc));
                return 1;
            }
        }
        int rc = pe_loop_run_once(a->loop, 1000);
        if (rc) {
            pe_error("agent.loop", "err=%s", pe_errname(rc));
            return 1;
        }
    }
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

/* Daemon on the sim board: the endless shopper, paced to sim.speed against the real clock. */
static int run_sim_daemon(struct agent *a)
{
    int64_t step_at = -1; /* monotonic ms at which the next action is due, -1: not planned */
    while (!a->stop) {
        int wait = 1000;
        if (!pe_sim_pending(a->sim) && !till_awaiting_payment(a->till)) {
            int64_t due = 0, now = pe_mono_ms();
            if (pe_sim_next_due(a->sim, &due) != PE_OK)
                return 0;
            if (step_at < 0)
                step_at = now + (due - pe_sim_now(a->sim)) / a->cfg.sim_speed;
            if (now >= step_at) {
                int rc = pe_sim_step(a->sim);
                if (rc == PE_EEOF)
                    return 0;
                if (rc)
                    return 1;
                step_at = -1;
                wait = 0;
            } else {
                wait = step_at - now > 1000 ? 1000 : (int)(step_at - now);
            }
        }
        if (pe_loop_run_once(a->loop, wait))
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
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
    struct agent a = {0};
    const char *cfg_path = NULL, *scenario = NULL;
    long long shopper = -1, seed = -1, wait_s = -1;
    char mqtt_host[256], mqtt_port[8];
    bool print_cfg = false, self_test = false;
    char err[512];
    static struct pe_cfg_overrides sets;
    /* --replay files; a replay runs like a scenario (scenario points at its first file). */
    static const char *replay[64];
    size_t nreplay = 0;
    struct pe_replay_opts ro = {.format = PE_REPLAY_ONLINE_RETAIL};
    int c;
#ifdef __GLIBC__
    /* Each event allocates and frees the same few hundred KB (record, receipt, SQLite's
     * statement memory); with glibc's defaults the freed top of the heap went back to the kernel
     * and was asked for again on the next event, several brk calls per sale. Keeping up to 1 MB
     * of free heap (and growing it 256 KB at a time) ends that churn; peak RSS stays bounded by
     * the largest event, not by the number of events. */
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
    mallopt(M_TOP_PAD, 256 * 1024);
#endif
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            cfg_path = optarg;
            break;
        case 'd':
        case 'o':
        case 't':
            if (pe_cfg_override(&sets,
                                c == 'd'   ? "data_dir"
                                : c == 'o' ? "store"
                                           : "terminal",
                                optarg)) {
                fprintf(stderr, "posedge-agent: too many or too long overrides\n");
                return EXIT_USAGE;
            }
            break;
        case 'S':
            if (nreplay) {
                fprintf(stderr, "posedge-agent: --scenario and --replay exclude each other\n");
                return EXIT_USAGE;
            }
            scenario = optarg;
            break;
        case 'R':
            if ((scenario && !nreplay) || nreplay == sizeof replay / sizeof replay[0]) {
                fprintf(stderr, "posedge-agent: %s\n",
                        nreplay ? "--replay: at most 64 files"
                                : "--scenario and --replay exclude each other");
                return EXIT_USAGE;
            }
            replay[nreplay++] = optarg;
            scenario = replay[0];
            break;
        case 'F':
            if (pe_replay_format_parse(optarg, &ro.format)) {
                fprintf(stderr,
                        "posedge-agent: --replay-format: expected online-retail or "
                        "databricks, got \"%s\"\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case 'P':
            ro.store = optarg;
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
            *(c == 'n' ? &shopper : c == 's' ? &seed : &wait_s) = v;
            break;
        }
        case 'm': {
            int port = 0;
            if (pe_mqtt_parse_addr(optarg, mqtt_host, sizeof mqtt_host, &port) != PE_OK) {
                fprintf(stderr, "posedge-agent: --mqtt: expected HOST:PORT, got \"%s\"\n", optarg);
                return EXIT_USAGE;
            }
            snprintf(mqtt_port, sizeof mqtt_port, "%d", port);
            if (pe_cfg_override(&sets, "mqtt.host", mqtt_host) ||
                pe_cfg_override(&sets, "mqtt.port", mqtt_port)) {
                fprintf(stderr, "posedge-agent: too many overrides\n");
                return EXIT_USAGE;
            }
            break;
        }
        case 'k':
            if (pe_cfg_override_arg(&sets, optarg)) {
                fprintf(stderr, "posedge-agent: --set: expected KEY=VALUE, got \"%s\"\n", optarg);
                return EXIT_USAGE;
            }
            break;
        case 'p':
            print_cfg = true;
            break;
        case 'T':
            self_test = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind < argc || !cfg_path) {
        fprintf(stderr,
                optind < argc ? "posedge-agent: unexpected argument \"%s\"\n"
                              : "posedge-agent: -c FILE is required%s\n",
                optind < argc ? argv[optind] : "");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (scenario && shopper > 0) {
        fprintf(stderr, "posedge-agent: --scenario and --shopper exclude each other\n");
        return EXIT_USAGE;
    }
    if (wait_s >= 0 && !scenario && shopper < 1) {
        fprintf(stderr, "posedge-agent: --wait-delivered needs --scenario or --shopper\n");
        return EXIT_USAGE;
    }
    if (pe_cfg_defaults(agent_cfg_table, &a.cfg) ||
        pe_cfg_load_file(agent_cfg_table, &a.cfg, cfg_path, err, sizeof err)) {
        fprintf(stderr, "posedge-agent: %s\n", err);
        return EXIT_USAGE;
    }
    if (pe_cfg_apply(agent_cfg_table, &a.cfg, &sets, err, sizeof err)) {
        fprintf(stderr, "posedge-agent: %s\n", err);
        return EXIT_USAGE;
    }
    /* Settings made remotely (set_config) come after the file; the command line still wins. */
    remote_cfg_load(&a.cfg);
    pe_cfg_apply(agent_cfg_table, &a.cfg, &sets, err, sizeof err);
    snprintf(a.cfg_path, sizeof a.cfg_path, "%s", cfg_path);
    if (self_test)
        return run_self_test(&a);
    if (print_cfg)
        return pe_cfg_print(agent_cfg_table, &a.cfg, stdout) ? 1 : 0;
    if (wait_s >= 0 && !a.cfg.mqtt_host[0]) {
        fprintf(stderr, "posedge-agent: --wait-delivered needs the uplink (--mqtt HOST:PORT or "
                        "mqtt.host)\n");
        return EXIT_USAGE;
    }

    enum pe_log_level level = PE_LOG_INFO;
    pe_log_level_parse(a.cfg.log_level, &level);
    pe_log_init("agent", level);
    int64_t started_us = pe_mono_us();
    int status = 1, rc;

    /* Refuse unknown drivers before anything is created on disk. */
    const struct agent_devcfg *devs[] = {&a.cfg.scanner, &a.cfg.scale,   &a.cfg.printer,
                                         &a.cfg.payment, &a.cfg.display, &a.cfg.keypad};
    const void *found[] = {
        pe_hal_scanner_driver(a.cfg.scanner.driver), pe_hal_scale_driver(a.cfg.scale.driver),
        pe_hal_printer_driver(a.cfg.printer.driver), pe_hal_payment_driver(a.cfg.payment.driver),
        pe_hal_display_driver(a.cfg.display.driver), pe_hal_keypad_driver(a.cfg.keypad.driver)};
    static const char *const classes[] = {"scanner", "scale",   "printer",
                                          "payment", "display", "keypad"};
    for (int i = 0; i < 6; i++) {
        if (!found[i]) {
            fprintf(stderr, "posedge-agent: devices.%s.driver: no driver \"%s\" (built in: %s)\n",
                    classes[i], devs[i]->driver, pe_hal_driver_names());
            return EXIT_USAGE;
        }
    }

    /* The MQTT password too is read before anything exists on disk. */
    char password[256] = "";
    if (a.cfg.mqtt_host[0] && a.cfg.mqtt_password_file[0] &&
        read_password(a.cfg.mqtt_password_file, password, sizeof password, err, sizeof err)) {
        fprintf(stderr, "posedge-agent: mqtt.password_file: %s\n", err);
        return EXIT_USAGE;
    }
    char path[AGENT_PATH_MAX + 32];
    if (mkdirs(a.cfg.data_dir)) {
        fprintf(stderr, "posedge-agent: data_dir %s: cannot create: %s\n", a.cfg.data_dir,
                strerror(errno));
        return 1;
    }
    resolve(cfg_path, a.cfg.catalog, path, sizeof path);
    if ((rc = pe_catalog_load(path, &a.catalog, err, sizeof err))) {
        fprintf(stderr, "posedge-agent: %s\n", err);
        return EXIT_USAGE;
    }
    if (strcmp(pe_catalog_currency(a.catalog), a.cfg.currency) != 0) {
        fprintf(stderr, "posedge-agent: currency: %s, but the catalog %s is priced in %s\n",
                a.cfg.currency, path, pe_catalog_currency(a.catalog));
        status = EXIT_USAGE;
        goto out_catalog;
    }
    snprintf(path, sizeof path, "%s/journal.db", a.cfg.data_dir);
    struct pe_journal_opts jo = {
        .store = a.cfg.store,
        .terminal = a.cfg.terminal,
        .check = true,
        .vfs = fault_vfs(),
        .max_bytes = a.cfg.journal_max_mb * 1024 * 1024,
    };
    if ((rc = pe_journal_open(path, &jo, &a.journal, err, sizeof err))) {
        /* A damaged journal is the fiscal record: never replaced, the operator decides. */
        fprintf(stderr, "posedge-agent: %s\n", err);
        pe_error("agent.journal_refused", "path=%s err=%s", path, pe_errname(rc));
        status = rc == PE_ECORRUPT ? 4 : 1;
        goto out_catalog;
    }
    fault_arm();
    char pers[96];
    snprintf(pers, sizeof pers, "posedge-agent/%s/%s", a.cfg.store, a.cfg.terminal);
    if ((rc = pe_rng_create(pers, &a.rng)) || (rc = pe_loop_create(&a.loop))) {
        fprintf(stderr, "posedge-agent: start-up failed: %s\n", pe_strerror(rc));
        goto out_journal;
    }
    static const int sigs[] = {SIGINT, SIGTERM};
    signal(SIGPIPE, SIG_IGN);
    if ((rc = pe_loop_signals(a.loop, sigs, 2, on_signal, &a))) {
        fprintf(stderr, "posedge-agent: signals: %s\n", pe_strerror(rc));
        goto out_loop;
    }
    if ((status = open_devices(&a)))
        goto out_devices;
    status = 1;

    bool fake = strcmp(a.cfg.keypad.driver, "fake") == 0;
    if ((scenario || shopper > 0) && !fake) {
        fprintf(stderr,
                "posedge-agent: --scenario/--shopper drive the fake devices of the sim "
                "board; devices.keypad.driver is \"%s\"\n",
                a.cfg.keypad.driver);
        status = EXIT_USAGE;
        goto out_devices;
    }
    int64_t last_ts = 0;
    pe_journal_last(a.journal, NULL, NULL, &last_ts);
    /* The simulated clock never runs behind the journal, so event time stays monotonic
     * across restarts even after an accelerated day. */
    int64_t start_ms = pe_time_now_ms();
    if (a.cfg.sim_start[0])
        pe_time_parse(a.cfg.sim_start, &start_ms); /* sim.start, checked by agent_cfg_table */
    if (last_ts >= start_ms)
        start_ms = last_ts + 1;
    if (fake) {
        struct pe_sim_devices sd = {a.scanner, a.scale, a.keypad, a.payment};
        if (nreplay) {
            rc =
                pe_sim_replay_create(replay, nreplay, &ro, a.catalog, &sd, &a.sim, err, sizeof err);
        } else if (scenario) {
            rc = pe_sim_scenario_create(scenario, &sd, start_ms, &a.sim, err, sizeof err);
        } else {
            struct pe_shopper_opts so;
            pe_shopper_opts_default(&so);
            so.seed = (uint64_t)(seed >= 0 ? seed : a.cfg.sim_seed);
            so.transactions = shopper > 0 ? shopper : -1;
            so.start_ms = start_ms;
            so.tx_per_day = (int32_t)a.cfg.sim_tx_per_day;
            so.card_pm = (int32_t)a.cfg.sim_card_pm;
            so.return_pm = (int32_t)a.cfg.sim_return_pm;
            so.void_pm = (int32_t)a.cfg.sim_void_pm;
            so.decline_pm = (int32_t)a.cfg.sim_decline_pm;
            so.nosale_pm = (int32_t)a.cfg.sim_nosale_pm;
            so.open_hour = (int32_t)a.cfg.sim_open_hour;
            so.close_hour = (int32_t)a.cfg.sim_close_hour;
            rc = pe_sim_shopper_create(a.catalog, &so, &sd, &a.sim, err, sizeof err);
        }
        if (rc) {
            fprintf(stderr, "posedge-agent: %s\n", err);
            status = EXIT_USAGE;
            goto out_devices;
        }
    }
    struct till_deps deps = {
        .journal = a.journal,
        .catalog = a.catalog,
        .rng = a.rng,
        .printer = a.printer,
        .display = a.display,
        .payment = a.payment,
        .store = a.cfg.store,
        .terminal = a.cfg.terminal,
        .currency = a.cfg.currency,
        .title = a.cfg.title,
        .now = a.sim ? sim_clock : real_clock,
        .now_ctx = &a,
        .committed = on_committed,
        .committed_ctx = &a,
    };
    if ((rc = till_create(&deps, &a.till))) {
        fprintf(stderr, "posedge-agent: till: %s\n", pe_strerror(rc));
        goto out_sim;
    }
    /* Real devices are watched; the fakes of the sim board are driven by their back doors. */
    const char *drivers[] = {a.cfg.scanner.driver, a.cfg.scale.driver, a.cfg.printer.driver,
                             a.cfg.display.driver};
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++)
        if (strcmp(drivers[i], "fake") != 0) {
            watch_health(&a);
            break;
        }
    if (a.cfg.mqtt_host[0]) {
        struct uplink_opts uo = {
            .host = a.cfg.mqtt_host,
            .port = (int)a.cfg.mqtt_port,
            .keepalive_s = (int)a.cfg.mqtt_keepalive_s,
            .store = a.cfg.store,
            .terminal = a.cfg.terminal,
            .batch_max = a.cfg.uplink_batch_max,
            .batch_bytes = a.cfg.uplink_batch_bytes,
            .window = a.cfg.uplink_window,
            .resend_ms = a.cfg.uplink_resend_ms,
            .username = a.cfg.mqtt_username,
        };
        uo.password = password[0] ? password : NULL;
        fleet_hook(&uo, &a.fleet);
        rc = uplink_create(a.loop, a.journal, &uo, &a.uplink);
        if (rc) {
            fprintf(stderr, "posedge-agent: uplink: %s\n", pe_strerror(rc));
            goto out_till;
        }
        struct fleet_deps fd = {
            .loop = a.loop,
            .journal = a.journal,
            .till = a.till,
            .uplink = a.uplink,
            .store = a.cfg.store,
            .terminal = a.cfg.terminal,
            .data_dir = a.cfg.data_dir,
            .state_interval_s = a.cfg.fleet_state_interval_s,
            .cmd_max_age_s = a.cfg.fleet_cmd_max_age_s,
            .devices = fleet_devices,
            .set_config = fleet_set_config,
            .restart = fleet_restart,
            .ctx = &a,
        };
        if ((rc = fleet_create(&fd, &a.fleet))) {
            fprintf(stderr, "posedge-agent: fleet channel: %s\n", pe_strerror(rc));
            goto out_uplink;
        }
    }
    /* Under systemd (Type=notify): ready now, and the watchdog pinged from this loop, so a
     * hung loop gets the till restarted. A failure here only loses that supervision. */
    if ((rc = pe_notify_start(a.loop)))
        pe_warn("agent.notify", "err=%s (running without the systemd watchdog)", pe_errname(rc));
    pe_notify("READY=1");
    int64_t seq = 0;
    pe_journal_last(a.journal, &seq, NULL, NULL);
    pe_info("agent.start", "store=%s terminal=%s journal=%s/journal.db last_seq=%lld mode=%s",
            a.cfg.store, a.cfg.terminal, a.cfg.data_dir, (long long)seq,
            scenario      ? "scenario"
            : shopper > 0 ? "shopper"
                          : "daemon");

    if (scenario || shopper > 0) {
        status = run_batch(&a);
        if (status == 0 && wait_s >= 0)
            status = wait_delivered(&a, wait_s);
    } else if (a.sim)
        status = run_sim_daemon(&a);
    else
        status = pe_loop_run(a.loop) ? 1 : 0;
    if (a.stop && !(scenario || shopper > 0))
        status = 0; /* a daemon asked to stop has done its job */
    if (a.restart)
        status = EXIT_RESTART;

    if (till_basket_open(a.till)) {
        if (till_park(a.till) != PE_OK)
            pe_error("agent.park_failed", "basket lost: it was never committed or printed");
        /* A basket that could not be committed is a failed run; one resumed from an earlier
         * park and left untouched is not. */
        if ((scenario || shopper > 0) && till_stats(a.till)->commit_failures > 0)
            status = status ? status : EXIT_UNCOMMITTED;
    }
    pe_notify("STOPPING=1");
    summary(&a, started_us);
    fleet_destroy(a.fleet);
out_uplink:
    uplink_destroy(a.uplink);
out_till:
    till_destroy(a.till);
out_sim:
    pe_sim_destroy(a.sim);
out_devices:
    close_devices(&a);
out_loop:
    pe_notify_stop();
    pe_loop_destroy(a.loop);
    pe_rng_destroy(a.rng);
out_journal:
    pe_journal_close(a.journal);
out_catalog:
    pe_catalog_destroy(a.catalog);
    memset(password, 0, sizeof password);
    return status;
}
