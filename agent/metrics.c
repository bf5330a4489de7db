/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c - the till's /metrics and /health (http.listen; docs/metrics.md).
 *
 * The figures are those of the state document (fleet_state: one place computes the backlog,
 * the oldest pending event's age, the journal's size and the free disk), read from it as
 * numbers, plus what only the till has: events captured, commit failures, the devices. A till
 * without the uplink (mqtt.host "") has no state document and no backlog: it serves the rest.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "agent/agent.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/json.h"
#include "posedge/mqtt.h"
#include "posedge/pki.h"
#include "posedge/prom.h"
#include "posedge/version.h"

/* A number of the state document at the dotted-free path obj.key, or NAN when absent. */
static double num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void one_if(struct pe_prom *p, const char *name, const char *type, const char *help,
                   double v)
{
    if (!isnan(v))
        pe_prom_one(p, name, type, help, v);
}

static void metrics_devices(struct agent *a, struct pe_prom *p)
{
    pe_prom_family(p, "posedge_device_up", "gauge",
                   "1 while the device reports itself working (ok or degraded), by class.");
    for (int i = 0; i < PE_DEV__COUNT; i++) {
        enum pe_health h;
        bool known = devices_health(a, (enum pe_dev_class)i, &h, NULL);
        if (known)
            pe_prom_sample(p, h != PE_HEALTH_FAILED, "device", pe_dev_classes[i].name, NULL);
    }
    pe_prom_family(p, "posedge_device_degraded", "gauge",
                   "1 while the device works with a fault (the printer low on paper), by class.");
    for (int i = 0; i < PE_DEV__COUNT; i++) {
        enum pe_health h;
        if (devices_health(a, (enum pe_dev_class)i, &h, NULL))
            pe_prom_sample(p, h == PE_HEALTH_DEGRADED, "device", pe_dev_classes[i].name, NULL);
    }
}

static int agent_metrics(struct agent *a, struct pe_http_reply *r)
{
    struct pe_prom p;
    if (pe_prom_open(&p))
        return PE_ENOMEM;
    cJSON *doc = NULL;
    if (a->fleet && fleet_state(a->fleet, "online", &doc) != PE_OK)
        doc = NULL;
    int64_t last = 0;
    pe_journal_last(a->journal, &last, NULL, NULL);
    const struct till_stats *ts = till_stats(a->till);
    pe_prom_process(&p, a->started_ms);
    pe_prom_labels(&p, "store", a->cfg.store, "terminal", a->cfg.terminal, NULL);
    pe_prom_family(&p, "posedge_build_info", "gauge", "The daemon's version and board.");
    pe_prom_sample(&p, 1, "daemon", "agent", "version", pe_version(), "board", pe_board(), NULL);
    pe_prom_one(&p, "posedge_events_captured_total", "counter",
                "Events committed to the till's journal: its last seq.", (double)last);
    pe_prom_one(&p, "posedge_journal_commit_failures_total", "counter",
                "Commits the journal refused (full, I/O, busy) since the start: nothing was "
                "printed for them.",
                (double)ts->commit_failures);
    pe_prom_one(&p, "posedge_receipt_print_failures_total", "counter",
                "Receipts the printer could not print since the start (they can be reprinted).",
                (double)ts->print_failures);
    pe_prom_one(&p, "posedge_mqtt_connected", "gauge", "1 while the uplink is connected.",
                a->uplink && uplink_connected(a->uplink));
    if (doc) {
        double seq = num(doc, "seq"), spooled = num(doc, "spooled"),
               delivered = num(doc, "delivered"), age = num(doc, "oldest_pending_age_s");
        one_if(&p, "posedge_events_spooled_total", "counter",
               "Events the bridge acknowledged as spooled: the till's spooled watermark (seq).",
               spooled);
        one_if(&p, "posedge_events_delivered_total", "counter",
               "Events the bridge acknowledged as in Kafka: the till's delivered watermark.",
               delivered);
        one_if(&p, "posedge_backlog_events", "gauge",
               "Events of the till not yet acknowledged as in Kafka.", seq - delivered);
        one_if(&p, "posedge_backlog_oldest_age_seconds", "gauge",
               "Age of the till's oldest event not yet in Kafka, from its event time (0: none "
               "waiting).",
               isnan(age) ? 0 : age);
        one_if(&p, "posedge_journal_bytes", "gauge", "The journal's database and WAL, bytes.",
               num(doc, "journal_bytes"));
        one_if(&p, "posedge_disk_free_bytes", "gauge",
               "Free disk under data_dir for the daemon, bytes.", num(doc, "free_disk_bytes"));
        const cJSON *cat = cJSON_GetObjectItemCaseSensitive(doc, "catalog");
        one_if(&p, "posedge_catalog_version", "gauge",
               "The catalog version the till sells from (0: none from HQ yet).",
               num(cat, "version"));
    }
    struct till_signer sg;
    till_signer(a->till, &sg);
    if (strcmp(sg.status, "none") != 0) {
        pe_prom_one(&p, "posedge_signer_up", "gauge",
                    "1 while the fiscal signer signs; 0 during an outage (events stored "
                    "unsigned).",
                    strcmp(sg.status, "ok") == 0);
        pe_prom_one(&p, "posedge_signer_outages_total", "counter",
                    "Signer outages this till opened since the start.", (double)sg.outages);
    }
    struct pe_pki_cert_info ci;
    char err[PE_PKI_ERRLEN];
    if (a->cfg.mqtt_tls_ca_file[0] && a->cfg.mqtt_tls_cert_file[0] &&
        pe_pki_cert_info_file(a->cfg.mqtt_tls_cert_file, &ci, err, sizeof err) == PE_OK)
        pe_prom_one(&p, "posedge_cert_expiry_timestamp_seconds", "gauge",
                    "When the till's MQTT client certificate expires.",
                    (double)ci.not_after_ms / 1000.0);
    metrics_devices(a, &p);
    cJSON_Delete(doc);
    if (pe_prom_close(&p, &r->body, &r->len))
        return PE_ENOMEM;
    r->type = PE_PROM_TYPE;
    return PE_OK;
}

static int agent_health(struct agent *a, struct pe_http_reply *r)
{
    cJSON *d = cJSON_CreateObject(), *arr = d ? cJSON_AddArrayToObject(d, "problems") : NULL;
    if (!arr || !cJSON_AddStringToObject(d, "daemon", "agent") ||
        !cJSON_AddStringToObject(d, "store", a->cfg.store) ||
        !cJSON_AddStringToObject(d, "terminal", a->cfg.terminal)) {
        cJSON_Delete(d);
        return PE_ENOMEM;
    }
    char detail[AGENT_PATH_MAX + 300];
    const struct till_stats *ts = till_stats(a->till);
    if (ts->commit_failing) {
        snprintf(detail, sizeof detail,
                 "the journal refused the last commit (%s): the till records nothing until a "
                 "commit succeeds",
                 pe_strerror(ts->commit_failing));
        pe_http_problem(arr, "journal_refused", detail);
    }
    for (int i = 0; i < PE_DEV__COUNT; i++) {
        enum pe_health h;
        int64_t failed_ms = 0;
        if (devices_health(a, (enum pe_dev_class)i, &h, &failed_ms) && h == PE_HEALTH_FAILED &&
            failed_ms >= a->cfg.health_device_offline_s * 1000) {
            snprintf(detail, sizeof detail, "the %s (driver %s) has been offline for %lld s",
                     pe_dev_classes[i].label, a->cfg.dev[i].driver,
                     (long long)(failed_ms / 1000));
            pe_http_problem(arr, "device_offline", detail);
        }
    }
    struct statvfs vfs;
    if (a->cfg.health_disk_min_mb > 0 && statvfs(a->cfg.data_dir, &vfs) == 0) {
        double free_mb = (double)vfs.f_bavail * (double)vfs.f_frsize / (1024.0 * 1024.0);
        if (free_mb < (double)a->cfg.health_disk_min_mb) {
            snprintf(detail, sizeof detail,
                     "%.1f MiB free under %s, less than health.disk_min_mb %lld: the journal "
                     "will soon refuse sales",
                     free_mb, a->cfg.data_dir, (long long)a->cfg.health_disk_min_mb);
            pe_http_problem(arr, "disk_low", detail);
        }
    }
    return pe_http_health(r, d);
}

int agent_http(void *ctx, const char *path, struct pe_http_reply *r)
{
    struct agent *a = ctx;
    if (strcmp(path, "/metrics") == 0)
        return agent_metrics(a, r);
    if (strcmp(path, "/health") == 0)
        return agent_health(a, r);
    return PE_ENOTFOUND;
}
