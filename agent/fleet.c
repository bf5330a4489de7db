/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleet.c - the till's fleet channel: its retained state document and HQ's commands
 * (docs/protocol.md, "Fleet state" and "Fleet commands").
 *
 * Layout: the seen-id store, the state document, the command handlers (one function each,
 * listed in COMMANDS with the arguments they take), the dispatcher, and the uplink hooks.
 *
 * The order of checks on a command is fixed and every path ends in exactly one answer: parse
 * (bad_request), id (bad_request), retained (retained), seen before (replayed), then the id is
 * remembered (durably, before anything runs, so a crash in the middle cannot make a replay
 * run it twice), dated (expired), known (unknown_command), arguments (bad_args), and only then
 * the command. A command runs on the loop between two device inputs, so it never meets a
 * half-entered key; one that needs the till idle (reports) is refused as busy otherwise.
 */
#include "agent/fleet.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/file.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/mqtt.h"
#include "posedge/pki.h"
#include "posedge/protocol.h"
#include "posedge/version.h"

#define ID_MAX 64             /* request id length */
#define CHANGE_MIN_MS 1000    /* a change republishes the state at most this often */
#define RESTART_GRACE_MS 2000 /* longest wait for the broker to take a restart's answer */
#define BUSY_WAIT_MS 30000    /* a report waits this long for a transaction to finish */
#define BUSY_POLL_MS 50       /* and looks this often whether it has */

struct fleet {
    struct fleet_deps d;
    char store[PE_ID_MAX], terminal[PE_ID_MAX];
    char data_dir[512];
    char cert_file[512];  /* "" none */
    char seen_path[512];
    char journal_path[512];
    char t_state[PE_TOPIC_MAX];            /* posedge/v1/<store>/<terminal>/state */
    char t_cmd[PE_TOPIC_MAX];              /* .../cmd */
    char t_res[PE_TOPIC_MAX];              /* .../cmd/res */
    char seen[FLEET_SEEN_MAX][ID_MAX + 1]; /* ring of request ids, oldest at seen_head */
    int nseen, seen_head;
    int64_t started_ms;     /* UTC ms of create */
    int64_t last_pub_ms;    /* pe_mono_ms of the last state publish, 0 never */
    int64_t interval_timer; /* timer ids, 0 when none */
    int64_t change_timer;
    int64_t restart_timer;
    int restart_mid;            /* mid of a restart's answer, 0 none */
    bool restart_pending;       /* a set_config waits for the restart */
    int64_t pending_seq;        /* the seq whose event time pending_ts_ms holds, 0 none */
    int64_t pending_ts_ms;      /* its "ts", -1 when unreadable */
    int64_t commands, refusals; /* counters for the log */
    /* A report that came while a transaction was open waits for the till to be idle. */
    struct {
        char id[ID_MAX + 1];
        bool z;
        char operator_[PE_ID_MAX];
        int64_t until; /* pe_mono_ms after which it is refused as busy */
        int64_t timer; /* poll timer, 0 when none */
        bool active;
    } wait;
};

/* ---- request ids already seen ---- */

static bool id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > ID_MAX)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '.' || *s == '_' || *s == ':' || *s == '-'))
            return false;
    return true;
}

static bool seen_has(const struct fleet *f, const char *id)
{
    for (int i = 0; i < f->nseen; i++)
        if (strcmp(f->seen[i], id) == 0)
            return true;
    return false;
}

/* Remember id and rewrite the file (oldest first). The command runs only if this succeeds: a
 * command whose id could not be made durable might otherwise run again after a crash. */
static int seen_add(struct fleet *f, const char *id, char *why, size_t len)
{
    int slot = f->nseen < FLEET_SEEN_MAX ? f->nseen++ : f->seen_head;
    if (slot == f->seen_head && f->nseen == FLEET_SEEN_MAX)
        f->seen_head = (f->seen_head + 1) % FLEET_SEEN_MAX;
    snprintf(f->seen[slot], sizeof f->seen[slot], "%s", id);
    char buf[FLEET_SEEN_MAX * (ID_MAX + 1)];
    size_t n = 0;
    for (int i = 0; i < f->nseen; i++) {
        const char *s = f->seen[(f->seen_head + i) % f->nseen];
        size_t l = strlen(s);
        memcpy(buf + n, s, l);
        buf[n + l] = '\n';
        n += l + 1;
    }
    char err[600];
    int rc = pe_file_write_atomic(f->seen_path, buf, n, err, sizeof err);
    if (rc) {
        pe_error("fleet.seen_write", "%s", err);
        snprintf(why, len, "cannot record the request id: %.500s", err);
    }
    return rc;
}

/* Read <data_dir>/fleet-seen; a missing file is an empty list, a bad line is skipped. */
static void seen_load(struct fleet *f)
{
    char *text = NULL, err[600];
    if (pe_file_read(f->seen_path, FLEET_SEEN_MAX * (ID_MAX + 1) * 2, &text, NULL, err,
                     sizeof err) != PE_OK) {
        if (errno != ENOENT)
            pe_warn("fleet.seen_read", "%s (starting with no remembered ids)", err);
        return;
    }
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!id_valid(line))
            continue;
        int slot = f->nseen < FLEET_SEEN_MAX ? f->nseen++ : f->seen_head;
        if (slot == f->seen_head && f->nseen == FLEET_SEEN_MAX)
            f->seen_head = (f->seen_head + 1) % FLEET_SEEN_MAX;
        snprintf(f->seen[slot], sizeof f->seen[slot], "%s", line);
    }
    free(text);
}

/* ---- the state document ---- */

/* The event time of seq (the oldest record not yet delivered). One journal read per new seq:
 * the answer is kept until delivered moves. False when it cannot be read. */
static bool event_time(struct fleet *f, int64_t seq, int64_t *ts_ms)
{
    if (f->pending_seq != seq) {
        char *rec = NULL;
        size_t len = 0;
        cJSON *doc = NULL;
        const char *ts = NULL;
        int rc = pe_journal_get(f->d.journal, seq, &rec, &len);
        if (rc == PE_OK)
            rc = pe_json_parse(rec, len, &doc, NULL, 0);
        if (rc == PE_OK)
            rc = pe_json_get_str(doc, "ts", &ts);
        if (rc == PE_OK)
            rc = pe_time_parse(ts, &f->pending_ts_ms);
        if (rc != PE_OK) {
            /* Logged once per seq: the state then says null until delivered moves on. */
            pe_warn("fleet.state_ts", "seq=%lld err=%s", (long long)seq, pe_errname(rc));
            f->pending_ts_ms = -1;
        }
        f->pending_seq = seq;
        cJSON_Delete(doc);
        free(rec);
    }
    *ts_ms = f->pending_ts_ms;
    return f->pending_ts_ms >= 0;
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

static cJSON *add_time(cJSON *o, const char *key, int64_t ms)
{
    char ts[PE_TIME_STRLEN];
    pe_time_format(ms, ts);
    return cJSON_AddStringToObject(o, key, ts);
}

/* "cert": what the till's certificate says (the file as it is now: a renewed certificate
 * shows at once, and is used from the next connection), with mutual TLS only. */
static bool add_cert(const struct fleet *f, cJSON *o, int64_t now)
{
    if (!f->cert_file[0])
        return true;
    cJSON *c = cJSON_AddObjectToObject(o, "cert");
    struct pe_pki_cert_info ci;
    char err[PE_PKI_ERRLEN];
    if (!c)
        return false;
    if (pe_pki_cert_info_file(f->cert_file, &ci, err, sizeof err) != PE_OK)
        return cJSON_AddStringToObject(c, "error", err) != NULL;
    return cJSON_AddStringToObject(c, "cn", ci.cn) &&
           cJSON_AddStringToObject(c, "serial", ci.serial) &&
           add_time(c, "not_after", ci.not_after_ms) &&
           cJSON_AddNumberToObject(c, "days_left", (double)pe_pki_days_left(ci.not_after_ms, now));
}

/* "denied": the publishes the broker refused (uplink.h). */
static bool add_denied(const struct fleet *f, cJSON *o)
{
    struct uplink_denial d;
    uplink_denied(f->d.uplink, &d);
    cJSON *j = cJSON_AddObjectToObject(o, "denied");
    if (!j || !cJSON_AddNumberToObject(j, "count", (double)d.count))
        return false;
    if (!d.count)
        return cJSON_AddNullToObject(j, "topic") && cJSON_AddNullToObject(j, "reason") &&
               cJSON_AddNullToObject(j, "ts") && cJSON_AddFalseToObject(j, "now");
    return cJSON_AddStringToObject(j, "topic", d.topic) &&
           cJSON_AddStringToObject(j, "reason", pe_mqtt_reason(d.reason)) &&
           add_time(j, "ts", d.ts_ms) && cJSON_AddBoolToObject(j, "now", d.now);
}

/* "signer": where the fiscal signer stands (till.h, by the till's clock), and "alarms": the
 * alarms raised now, by name ("signer_down": an outage older than signer.down_alarm_s). */
static bool add_signer(const struct fleet *f, cJSON *o)
{
    struct till_signer ts;
    till_signer(f->d.till, &ts);
    cJSON *s = cJSON_AddObjectToObject(o, "signer");
    cJSON *alarms = cJSON_AddArrayToObject(o, "alarms");
    if (!s || !alarms || !cJSON_AddStringToObject(s, "status", ts.status) ||
        !cJSON_AddNumberToObject(s, "outages", (double)ts.outages) ||
        !cJSON_AddBoolToObject(s, "alarm", ts.alarm))
        return false;
    if (ts.alarm && !cJSON_AddItemToArray(alarms, cJSON_CreateString("signer_down")))
        return false;
    if (!ts.down_seq)
        return cJSON_AddNullToObject(s, "down_since") && cJSON_AddNullToObject(s, "down_seq") &&
               cJSON_AddNullToObject(s, "down_s") && cJSON_AddNumberToObject(s, "unsigned", 0);
    return add_time(s, "down_since", ts.down_ms) &&
           cJSON_AddNumberToObject(s, "down_seq", (double)ts.down_seq) &&
           cJSON_AddNumberToObject(s, "down_s", (double)ts.down_s) &&
           cJSON_AddNumberToObject(s, "unsigned", (double)ts.nunsigned);
}

int fleet_state(struct fleet *f, const char *state, cJSON **out)
{
    int64_t last = 0, spooled = 0, delivered = 0, now = pe_time_now_ms(), pending_ms = 0;
    pe_journal_last(f->d.journal, &last, NULL, NULL);
    uplink_watermarks(f->d.uplink, &spooled, &delivered);
    cJSON *o = cJSON_CreateObject(), *devs = NULL;
    if (!o)
        return PE_ENOMEM;
    bool ok = cJSON_AddStringToObject(o, "state", state) && add_time(o, "ts", now) &&
              cJSON_AddStringToObject(o, "version", pe_version()) &&
              cJSON_AddStringToObject(o, "board", pe_board()) &&
              cJSON_AddStringToObject(o, "store", f->store) &&
              cJSON_AddStringToObject(o, "terminal", f->terminal) &&
              add_time(o, "started", f->started_ms) &&
              cJSON_AddNumberToObject(o, "uptime_s", (double)((now - f->started_ms) / 1000)) &&
              cJSON_AddNumberToObject(o, "seq", (double)last) &&
              cJSON_AddNumberToObject(o, "spooled", (double)spooled) &&
              cJSON_AddNumberToObject(o, "delivered", (double)delivered);
    if (ok && delivered < last && event_time(f, delivered + 1, &pending_ms)) {
        int64_t age = now - pending_ms;
        ok = add_time(o, "oldest_pending_ts", pending_ms) &&
             cJSON_AddNumberToObject(o, "oldest_pending_age_s",
                                     (double)(age > 0 ? age : 0) / 1000.0);
    } else if (ok) {
        ok = cJSON_AddNullToObject(o, "oldest_pending_ts") &&
             cJSON_AddNullToObject(o, "oldest_pending_age_s");
    }
    char wal[540];
    snprintf(wal, sizeof wal, "%s-wal", f->journal_path);
    struct statvfs vfs;
    double free_bytes =
        statvfs(f->d.data_dir, &vfs) == 0 ? (double)vfs.f_bavail * (double)vfs.f_frsize : -1;
    const char *op = till_operator(f->d.till);
    ok = ok &&
         cJSON_AddNumberToObject(o, "journal_bytes",
                                 (double)(file_size(f->journal_path) + file_size(wal))) &&
         (free_bytes >= 0 ? cJSON_AddNumberToObject(o, "free_disk_bytes", free_bytes)
                          : cJSON_AddNullToObject(o, "free_disk_bytes")) &&
         cJSON_AddStringToObject(o, "shift", till_shift_open(f->d.till) ? "open" : "closed") &&
         cJSON_AddBoolToObject(o, "training", till_training(f->d.till)) &&
         (op[0] ? cJSON_AddStringToObject(o, "operator", op)
                : cJSON_AddNullToObject(o, "operator")) &&
         add_cert(f, o, now) && add_denied(f, o) && add_signer(f, o) &&
         (!f->d.catalog || f->d.catalog(f->d.ctx, o)) &&
         (!f->d.upgrade_state || f->d.upgrade_state(f->d.ctx, o)) &&
         (devs = cJSON_AddObjectToObject(o, "devices"));
    if (!ok) {
        cJSON_Delete(o);
        return PE_ENOMEM;
    }
    if (f->d.devices)
        f->d.devices(f->d.ctx, devs);
    *out = o;
    return PE_OK;
}

static void publish_state(struct fleet *f, const char *state)
{
    cJSON *doc = NULL;
    char *text = NULL;
    int rc = fleet_state(f, state, &doc);
    if (rc == PE_OK && !(text = cJSON_PrintUnformatted(doc)))
        rc = PE_ENOMEM;
    if (rc == PE_OK)
        rc = uplink_publish(f->d.uplink, f->t_state, text, strlen(text), true, NULL);
    if (rc)
        pe_warn("fleet.state_failed", "err=%s", pe_errname(rc));
    f->last_pub_ms = pe_mono_ms();
    cJSON_free(text);
    cJSON_Delete(doc);
}

static void interval_tick(void *ctx)
{
    struct fleet *f = ctx;
    f->interval_timer = 0;
    if (!uplink_connected(f->d.uplink))
        return; /* the next connect publishes and re-arms */
    publish_state(f, "online");
    if (pe_loop_timer(f->d.loop, f->d.state_interval_s * 1000, interval_tick, f,
                      &f->interval_timer) != PE_OK)
        f->interval_timer = 0; /* out of memory: the next connect arms it again */
}

static void change_tick(void *ctx)
{
    struct fleet *f = ctx;
    f->change_timer = 0;
    if (uplink_connected(f->d.uplink))
        publish_state(f, "online");
}

void fleet_changed(struct fleet *f)
{
    if (!f || f->change_timer || !uplink_connected(f->d.uplink))
        return;
    int64_t wait = f->last_pub_ms ? f->last_pub_ms + CHANGE_MIN_MS - pe_mono_ms() : 0;
    if (pe_loop_timer(f->d.loop, wait > 0 ? wait : 0, change_tick, f, &f->change_timer) != PE_OK)
        f->change_timer = 0; /* the interval publishes it anyway */
}

void fleet_set_limits(struct fleet *f, int64_t state_interval_s, int64_t cmd_max_age_s)
{
    if (!f)
        return;
    bool moved = state_interval_s != f->d.state_interval_s;
    f->d.state_interval_s = state_interval_s;
    f->d.cmd_max_age_s = cmd_max_age_s;
    if (moved && f->interval_timer) {
        pe_loop_timer_cancel(f->d.loop, f->interval_timer);
        f->interval_timer = 0;
        if (pe_loop_timer(f->d.loop, state_interval_s * 1000, interval_tick, f,
                          &f->interval_timer) != PE_OK)
            f->interval_timer = 0;
    }
}

/* ---- commands ---- */

struct answer {
    const char *error; /* NULL: ok */
    char reason[600];
    cJSON *result; /* owned; on success */
    bool deferred; /* no answer now: it comes when the command has run (report_wait) */
};

static void send_answer(struct fleet *f, const char *id, const char *cmd, struct answer *a);

static void refuse(struct answer *a, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void refuse(struct answer *a, const char *error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->reason, sizeof a->reason, fmt, ap);
    va_end(ap);
    a->error = error;
}

/* Result object helpers: any allocation failure turns the answer into "failed". */
static cJSON *result(struct answer *a)
{
    if (!a->result && !(a->result = cJSON_CreateObject()))
        refuse(a, "failed", "out of memory");
    return a->result;
}

static void res_num(struct answer *a, const char *key, int64_t v)
{
    if (result(a) && !cJSON_AddNumberToObject(a->result, key, (double)v))
        refuse(a, "failed", "out of memory");
}

static void res_str(struct answer *a, const char *key, const char *v)
{
    if (result(a) && !cJSON_AddStringToObject(a->result, key, v))
        refuse(a, "failed", "out of memory");
}

/* An integer argument (JSON integer within 1 .. 2^53); false (and a refusal) otherwise. The
 * range is checked before the conversion: converting a double beyond int64_t (1e300) is
 * undefined behaviour. */
static bool arg_seq(const cJSON *args, const char *key, int64_t *out, struct answer *a)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, key);
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 1 && v->valuedouble <= 9007199254740992.0) ||
        v->valuedouble != (double)(int64_t)v->valuedouble) {
        refuse(a, "bad_args", "%s: expected a positive integer", key);
        return false;
    }
    *out = (int64_t)v->valuedouble;
    return true;
}

static void cmd_ping(struct fleet *f, const cJSON *args, struct answer *a, const char *id)
{
    (void)id;
    (void)f;
    (void)args;
    if (result(a) && !cJSON_AddTrueToObject(a->result, "pong"))
        refuse(a, "failed", "out of memory");
    res_str(a, "version", pe_version());
}

static void cmd_status(struct fleet *f, const cJSON *args, struct answer *a, const char *id)
{
    (void)id;
    (void)args;
    if (fleet_state(f, "online", &a->result) != PE_OK)
        refuse(a, "failed", "out of memory");
}

static bool till_idle(const struct fleet *f)
{
    return till_state(f->d.till) == TILL_IDLE && !till_awaiting_payment(f->d.till);
}

/* Commit the report and fill the answer. */
static void report_run(struct fleet *f, bool z, const char *op, struct answer *a)
{
    int64_t seq = 0, number = 0;
    char why[300], *rec = NULL;
    size_t len = 0;
    int rc = till_remote_report(f->d.till, z, op, &seq, &number, why, sizeof why);
    if (rc) {
        refuse(a,
               rc == PE_EBUSY    ? "busy"
               : rc == PE_ESTATE ? "refused"
               : rc == PE_EINVAL ? "bad_args"
                                 : "failed",
               "%s", why);
        return;
    }
    res_num(a, "seq", seq);
    res_num(a, "number", number);
    /* The committed report's body, as Kafka will carry it. */
    cJSON *doc = NULL;
    if (pe_journal_get(f->d.journal, seq, &rec, &len) == PE_OK &&
        pe_json_parse(rec, len, &doc, NULL, 0) == PE_OK && result(a)) {
        cJSON *body = cJSON_DetachItemFromObjectCaseSensitive(doc, "body");
        if (body)
            cJSON_AddItemToObject(a->result, "report", body);
    }
    cJSON_Delete(doc);
    free(rec);
    fleet_changed(f);
}

static void wait_end(struct fleet *f)
{
    if (f->wait.timer)
        pe_loop_timer_cancel(f->d.loop, f->wait.timer);
    f->wait.timer = 0;
    f->wait.active = false;
}

/* The waiting report: run it once the till is idle, or give up after BUSY_WAIT_MS. */
static void wait_tick(void *ctx)
{
    struct fleet *f = ctx;
    struct answer a = {0};
    f->wait.timer = 0;
    if (!f->wait.active)
        return;
    if (!till_idle(f) && pe_mono_ms() < f->wait.until) {
        if (pe_loop_timer(f->d.loop, BUSY_POLL_MS, wait_tick, f, &f->wait.timer) == PE_OK)
            return;
        refuse(&a, "failed", "out of memory");
    } else if (!till_idle(f)) {
        refuse(&a, "busy", "a transaction stayed open at the till for %ds: try again later",
               BUSY_WAIT_MS / 1000);
    } else {
        report_run(f, f->wait.z, f->wait.operator_, &a);
    }
    char id[ID_MAX + 1];
    snprintf(id, sizeof id, "%s", f->wait.id);
    wait_end(f);
    f->refusals += a.error != NULL;
    pe_log(a.error ? PE_LOG_WARN : PE_LOG_INFO, "fleet.command", "id=%s cmd=%s ok=%d error=%s", id,
           f->wait.z ? "z_report" : "x_report", !a.error, a.error ? a.error : "-");
    send_answer(f, id, f->wait.z ? "z_report" : "x_report", &a);
    cJSON_Delete(a.result);
}

static void report(struct fleet *f, const cJSON *args, struct answer *a, bool z, const char *id)
{
    const cJSON *opv = cJSON_GetObjectItemCaseSensitive(args, "operator");
    const char *op = "hq";
    if (opv && !(cJSON_IsString(opv) && pe_event_id_valid(opv->valuestring, 1))) {
        refuse(a, "bad_args", "operator: expected an id (letters, digits, '-', '_', '.')");
        return;
    }
    if (opv)
        op = opv->valuestring;
    if (till_idle(f)) {
        report_run(f, z, op, a);
        return;
    }
    /* A sale is being rung up: the report runs when it is finished, as at the till. */
    if (f->wait.active) {
        refuse(a, "busy", "another report is waiting for the till (request %s)", f->wait.id);
        return;
    }
    snprintf(f->wait.id, sizeof f->wait.id, "%s", id);
    snprintf(f->wait.operator_, sizeof f->wait.operator_, "%s", op);
    f->wait.z = z;
    f->wait.until = pe_mono_ms() + BUSY_WAIT_MS;
    if (pe_loop_timer(f->d.loop, BUSY_POLL_MS, wait_tick, f, &f->wait.timer) != PE_OK) {
        refuse(a, "failed", "out of memory");
        return;
    }
    f->wait.active = true;
    a->deferred = true;
    pe_info("fleet.command_waits", "id=%s cmd=%s (a transaction is open)", id,
            z ? "z_report" : "x_report");
}

static void cmd_x_report(struct fleet *f, const cJSON *args, struct answer *a, const char *id)
{
    report(f, args, a, false, id);
}

static void cmd_z_report(struct fleet *f, const cJSON *args, struct answer *a, const char *id)
{
    report(f, args, a, true, id);
}

static void cmd_set_config(struct fleet *f, const cJSON *args, struct answer *a, const char *id)
{
    (void)id;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(args, "key");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, "value");
    char value[512];
    if (!cJSON_IsString(k) || !k->valuestring[0]) {
        refuse(a, "bad_args", "key: expected the name of a configuration key");
        return;
    }
    if (cJSON_IsString(v)) {
        if ((size_t)snprintf(value, sizeof value, "%s", v->valuestring) >= sizeof value) {
            refuse(a, "bad_args", "value: longer than %zu bytes", sizeof value - 1);
            return;
        }
    } else if (cJSON_IsNumber(v) && v->valuedouble >= -(double)PE_JSON_MAX_INT &&
               v->valuedouble <= (double)PE_JSON_MAX_INT &&
               v->valuedouble == (double)(int64_t)v->valuedouble) {
        /* In range first: converting a double beyond int64_t (1e300) is undefined. */
        snprintf(value, sizeof value, "%lld", (long long)v->valuedouble);
    } else {
        refuse(a, "bad_args", "value: expected a string or an integer within +/- 2^53");
        return;
    }
    const char *key = k->valuestring;
    /* Identity, the link, the fiscal signer, the listener (remote_cfg_settable says why). */
    if (!remote_cfg_settable(key)) {
        refuse(a, "bad_args", "%s: cannot be set remotely (change the configuration file)", key);
        return;
    }
    bool live = false;
    char err[600];
    int rc = f->d.set_config ? f->d.set_config(f->d.ctx, key, value, &live, err, sizeof err)
                             : PE_ENOTSUP;
    if (rc) {
        /* pe_cfg_set names its source "command line"; here the source is this command. */
        const char *msg = strncmp(err, "command line: ", 14) == 0 ? err + 14 : err;
        refuse(a, rc == PE_EINVAL ? "bad_args" : "failed", "%s",
               rc == PE_ENOTSUP ? "not supported" : msg);
        return;
    }
    res_str(a, "key", key);
    res_str(a, "value", value);
    res_str(a, "applied", live ? "live" : "restart");
    if (!live && !a->error)
        f->restart_pending = true;
    fleet_changed(f);
}

static void cmd_resend_from(struct fleet *f, const cJSON *args, struct answer *a, const char *id)
{
    (void)id;
    int64_t seq = 0, last = 0;
    if (!arg_seq(args, "seq", &seq, a))
        return;
    pe_journal_last(f->d.journal, &last, NULL, NULL);
    int rc = uplink_resend_from(f->d.uplink, seq);
    if (rc == PE_ERANGE) {
        refuse(a, "bad_args", "seq: must be between 1 and the last seq (%lld)", (long long)last);
        return;
    }
    if (rc) {
        refuse(a, "failed", "%s", pe_strerror(rc));
        return;
    }
    res_num(a, "from", seq);
    res_num(a, "to", last);
}

static void cmd_reprint(struct fleet *f, const cJSON *args, struct answer *a, const char *id)
{
    (void)id;
    int64_t seq = 0, printed = 0;
    if (cJSON_GetObjectItemCaseSensitive(args, "seq") && !arg_seq(args, "seq", &seq, a))
        return;
    char type[32] = "", why[300];
    int rc = till_reprint(f->d.till, seq, &printed, type, why, sizeof why);
    if (rc) {
        refuse(a, rc == PE_ENOTFOUND ? "bad_args" : "failed", "%s", why);
        return;
    }
    res_num(a, "seq", printed);
    res_str(a, "type", type);
}

/* Hand the upgrade to the upgrade unit once the till is idle (upgrade.h); the outcome comes in
 * the state document's "upgrade", with this command's id. */
static void cmd_upgrade(struct fleet *f, const cJSON *args, struct answer *a, const char *id)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, "version");
    const cJSON *as = cJSON_GetObjectItemCaseSensitive(args, "after_shift");
    if (!cJSON_IsString(v)) {
        refuse(a, "bad_args", "version: expected the Debian version to install");
        return;
    }
    if (as && !cJSON_IsBool(as)) {
        refuse(a, "bad_args", "after_shift: expected true or false");
        return;
    }
    if (!f->d.upgrade) {
        refuse(a, "failed", "not supported by this agent (no upgrade unit in this mode)");
        return;
    }
    bool current = false;
    char why[500];
    int rc = f->d.upgrade(f->d.ctx, id, v->valuestring, cJSON_IsTrue(as), &current, why,
                          sizeof why);
    if (rc) {
        refuse(a, rc == PE_EINVAL ? "bad_args" : rc == PE_EBUSY ? "busy" : "failed", "%s", why);
        return;
    }
    res_str(a, "version", v->valuestring);
    res_str(a, "from", pe_version());
    if (result(a) && !cJSON_AddBoolToObject(a->result, "current", current))
        refuse(a, "failed", "out of memory");
    fleet_changed(f);
}

static const struct command {
    const char *name;
    const char *args[3]; /* the members args may have; NULL-terminated */
    void (*run)(struct fleet *f, const cJSON *args, struct answer *a, const char *id);
} COMMANDS[] = {
    {"ping", {NULL}, cmd_ping},
    {"status", {NULL}, cmd_status},
    {"x_report", {"operator", NULL}, cmd_x_report},
    {"z_report", {"operator", NULL}, cmd_z_report},
    {"set_config", {"key", "value", NULL}, cmd_set_config},
    {"resend_from", {"seq", NULL}, cmd_resend_from},
    {"reprint", {"seq", NULL}, cmd_reprint},
    {"upgrade", {"version", "after_shift", NULL}, cmd_upgrade},
};
#define NCOMMANDS (sizeof COMMANDS / sizeof COMMANDS[0])

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(COMMANDS[i].name, name) == 0)
            return &COMMANDS[i];
    return NULL;
}

/* Every member of args is one the command takes. */
static bool args_known(const struct command *c, const cJSON *args, struct answer *a)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, args)
    {
        bool known = false;
        for (int i = 0; c->args[i]; i++)
            known |= strcmp(m->string, c->args[i]) == 0;
        if (!known) {
            char takes[64] = "";
            for (int i = 0; c->args[i]; i++)
                snprintf(takes + strlen(takes), sizeof takes - strlen(takes), "%s%s", i ? ", " : "",
                         c->args[i]);
            refuse(a, "bad_args", "%s takes %s%s; unknown argument \"%.64s\"", c->name,
                   takes[0] ? "" : "no arguments", takes, m->string);
            return false;
        }
    }
    return true;
}

static void restart_now(struct fleet *f)
{
    if (f->restart_timer) {
        pe_loop_timer_cancel(f->d.loop, f->restart_timer);
        f->restart_timer = 0;
    }
    f->restart_mid = 0;
    if (f->d.restart)
        f->d.restart(f->d.ctx);
}

static void restart_tick(void *ctx)
{
    struct fleet *f = ctx;
    f->restart_timer = 0;
    pe_warn("fleet.restart_unconfirmed", "the broker did not take the answer in time");
    restart_now(f);
}

static void send_answer(struct fleet *f, const char *id, const char *cmd, struct answer *a)
{
    cJSON *o = cJSON_CreateObject();
    char *text = NULL;
    bool ok = o && (id ? cJSON_AddStringToObject(o, "id", id) : cJSON_AddNullToObject(o, "id")) &&
              cJSON_AddStringToObject(o, "terminal", f->terminal) &&
              (cmd ? cJSON_AddStringToObject(o, "cmd", cmd) : cJSON_AddNullToObject(o, "cmd")) &&
              cJSON_AddBoolToObject(o, "ok", !a->error) && add_time(o, "ts", pe_time_now_ms());
    if (ok && a->error)
        ok = cJSON_AddStringToObject(o, "error", a->error) &&
             cJSON_AddStringToObject(o, "reason", a->reason);
    if (ok && !a->error && a->result) {
        cJSON_AddItemToObject(o, "result", a->result);
        a->result = NULL;
    }
    int mid = 0, rc = ok && (text = cJSON_PrintUnformatted(o)) ? PE_OK : PE_ENOMEM;
    if (rc == PE_OK)
        rc = uplink_publish(f->d.uplink, f->t_res, text, strlen(text), false, &mid);
    if (rc)
        pe_warn("fleet.answer_failed", "id=%s err=%s", id ? id : "-", pe_errname(rc));
    if (f->restart_pending && !a->error) {
        /* Restart once the broker has the answer: HQ learns the setting was taken. */
        f->restart_pending = false;
        f->restart_mid = rc == PE_OK ? mid : 0;
        if (!f->restart_mid ||
            pe_loop_timer(f->d.loop, RESTART_GRACE_MS, restart_tick, f, &f->restart_timer) != PE_OK)
            restart_now(f);
    }
    cJSON_free(text);
    cJSON_Delete(o);
}

static void on_command(struct fleet *f, const void *payload, size_t len, bool retained)
{
    struct answer a = {0};
    cJSON *doc = NULL;
    const char *id = NULL, *name = NULL;
    const struct command *c = NULL;
    char quoted[96];
    if (len == 0)
        return; /* a retained command being cleared, not a command */
    if (pe_json_parse(payload, len, &doc, NULL, 0) != PE_OK || !cJSON_IsObject(doc)) {
        refuse(&a, "bad_request", "not a JSON object");
        goto answer;
    }
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(doc, "id");
    if (!cJSON_IsString(idv) || !id_valid(idv->valuestring)) {
        refuse(&a, "bad_request", "id: expected 1 to %d characters of A-Z a-z 0-9 . _ : -", ID_MAX);
        goto answer;
    }
    id = idv->valuestring;
    const cJSON *cv = cJSON_GetObjectItemCaseSensitive(doc, "cmd");
    name = cJSON_IsString(cv) ? cv->valuestring : NULL;
    if (retained) {
        refuse(&a, "retained",
               "a retained command would run again on every connect: publish "
               "commands without the retain flag");
        goto answer;
    }
    if (seen_has(f, id)) {
        refuse(&a, "replayed", "request id %s was seen before: commands run once", id);
        goto answer;
    }
    if (seen_add(f, id, a.reason, sizeof a.reason) != PE_OK) {
        a.error = "failed";
        goto answer;
    }
    const cJSON *tsv = cJSON_GetObjectItemCaseSensitive(doc, "ts");
    if (tsv) {
        int64_t ts = 0, now = pe_time_now_ms(), max = f->d.cmd_max_age_s * 1000;
        if (!cJSON_IsString(tsv) || pe_time_parse(tsv->valuestring, &ts) != PE_OK) {
            refuse(&a, "bad_request", "ts: expected a UTC time such as 2026-11-21T10:15:02.123Z");
            goto answer;
        }
        if (now - ts > max || ts - now > max) {
            refuse(&a, "expired", "sent at %s, more than %llds from the till's clock",
                   tsv->valuestring, (long long)f->d.cmd_max_age_s);
            goto answer;
        }
    }
    if (!name || !(c = find_command(name))) {
        refuse(&a, "unknown_command",
               "%s (known: ping, status, x_report, z_report, set_config, resend_from, reprint)",
               name ? pe_log_quote(name, quoted, sizeof quoted) : "cmd: missing");
        goto answer;
    }
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(doc, "args");
    if (args && !cJSON_IsObject(args)) {
        refuse(&a, "bad_args", "args: expected an object");
        goto answer;
    }
    if (!args_known(c, args, &a))
        goto answer;
    c->run(f, args, &a, id);

answer:
    f->commands++;
    if (a.deferred) {
        cJSON_Delete(doc);
        return;
    }
    f->refusals += a.error != NULL;
    pe_log(a.error ? PE_LOG_WARN : PE_LOG_INFO, "fleet.command", "id=%s cmd=%s ok=%d error=%s",
           id ? id : "-", name ? pe_log_quote(name, quoted, sizeof quoted) : "-", !a.error,
           a.error ? a.error : "-");
    send_answer(f, id, c ? c->name : (name && strlen(name) <= 32 ? name : NULL), &a);
    cJSON_Delete(a.result);
    cJSON_Delete(doc);
}

/* ---- uplink hooks ---- */

static void hook_connect(void *ctx)
{
    struct fleet *f = *(struct fleet **)ctx;
    if (!f)
        return;
    int rc = uplink_subscribe(f->d.uplink, f->t_cmd);
    if (rc)
        pe_warn("fleet.subscribe_failed", "topic=%s err=%s", f->t_cmd, pe_errname(rc));
    publish_state(f, "online");
    if (!f->interval_timer && pe_loop_timer(f->d.loop, f->d.state_interval_s * 1000, interval_tick,
                                            f, &f->interval_timer) != PE_OK)
        f->interval_timer = 0;
}

static void hook_message(void *ctx, const char *topic, const void *payload, size_t len,
                         bool retained)
{
    struct fleet *f = *(struct fleet **)ctx;
    if (f && strcmp(topic, f->t_cmd) == 0)
        on_command(f, payload, len, retained);
}

static void hook_published(void *ctx, int mid, int reason)
{
    struct fleet *f = *(struct fleet **)ctx;
    (void)reason; /* the uplink counts and says refusals; a restart's answer was handled */
    if (f && f->restart_mid && mid == f->restart_mid)
        restart_now(f);
}

static void hook_change(void *ctx)
{
    fleet_changed(*(struct fleet **)ctx);
}

int fleet_hook(struct uplink_opts *uo, struct fleet **slot)
{
    static const struct uplink_hooks hooks = {
        .on_connect = hook_connect,
        .on_message = hook_message,
        .on_published = hook_published,
        .on_change = hook_change,
    };
    *slot = NULL;
    return uplink_add_hooks(uo, &hooks, slot);
}

/* ---- public ---- */

int fleet_create(const struct fleet_deps *d, struct fleet **out)
{
    if (!d || !out || !d->loop || !d->journal || !d->till || !d->uplink || !d->data_dir ||
        !pe_event_id_valid(d->store, 1) || !pe_event_id_valid(d->terminal, 1) ||
        d->state_interval_s < 1 || d->cmd_max_age_s < 1)
        return PE_EINVAL;
    struct fleet *f = calloc(1, sizeof *f);
    if (!f)
        return PE_ENOMEM;
    f->d = *d;
    snprintf(f->store, sizeof f->store, "%s", d->store);
    snprintf(f->terminal, sizeof f->terminal, "%s", d->terminal);
    f->d.store = f->store;
    f->d.terminal = f->terminal;
    if ((size_t)snprintf(f->seen_path, sizeof f->seen_path, "%s/fleet-seen", d->data_dir) >=
            sizeof f->seen_path ||
        (size_t)snprintf(f->journal_path, sizeof f->journal_path, "%s/journal.db", d->data_dir) >=
            sizeof f->journal_path ||
        pe_topic(f->t_state, sizeof f->t_state, d->store, d->terminal, PE_CH_STATE, NULL) ||
        pe_topic(f->t_cmd, sizeof f->t_cmd, d->store, d->terminal, PE_CH_CMD, NULL) ||
        pe_topic(f->t_res, sizeof f->t_res, d->store, d->terminal, PE_CH_CMD_RES, NULL)) {
        free(f);
        return PE_EINVAL;
    }
    snprintf(f->data_dir, sizeof f->data_dir, "%s", d->data_dir);
    f->d.data_dir = f->data_dir;
    snprintf(f->cert_file, sizeof f->cert_file, "%s", d->cert_file ? d->cert_file : "");
    f->d.cert_file = f->cert_file;
    f->started_ms = pe_time_now_ms();
    seen_load(f);
    pe_info("fleet.start", "state=%s cmd=%s remembered_ids=%d", f->t_state, f->t_cmd, f->nseen);
    *out = f;
    return PE_OK;
}

void fleet_destroy(struct fleet *f)
{
    if (!f)
        return;
    if (f->wait.active) {
        struct answer a = {0};
        refuse(&a, "failed", "the agent is stopping; the report was not made");
        send_answer(f, f->wait.id, f->wait.z ? "z_report" : "x_report", &a);
        wait_end(f);
    }
    int64_t *timers[] = {&f->interval_timer, &f->change_timer, &f->restart_timer};
    for (size_t i = 0; i < sizeof timers / sizeof *timers; i++)
        if (*timers[i])
            pe_loop_timer_cancel(f->d.loop, *timers[i]);
    /* A clean exit says offline itself, with how far the bridge got (a DISCONNECT makes the
     * broker drop the will, which can only say "offline"). */
    if (uplink_connected(f->d.uplink))
        publish_state(f, "offline");
    pe_info("fleet.summary", "commands=%lld refusals=%lld", (long long)f->commands,
            (long long)f->refusals);
    free(f);
}
