/* SPDX-License-Identifier: Apache-2.0 */
/*
 * upgrade.c - the till's side of a fleet upgrade: the files of upgrade.h, the wait for an idle
 * till, the hold while the upgrade unit works, and the state document's "upgrade".
 *
 * Invariants: request is written only while no transaction is open at the till (and, with
 * after_shift, no shift), and the till is held from that moment until request is gone or
 * upgrade.hold_max_s has passed, whichever is first; an agent that starts and finds request
 * holds the till before its first input. Every file is written whole (pe_file_write_atomic), so
 * the unit never reads half of one. The unit is root and the folder is the agent's: the unit
 * only ever replaces files here by rename (pkg/posedge-upgrade), and reads them as data.
 */
#include "agent/upgrade.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/file.h"
#include "posedge/log.h"
#include "posedge/version.h"

#define WAIT_TICK_MS 200  /* an upgrade waiting for an idle till looks this often */
#define HOLD_TICK_MS 1000 /* while installing: alive rewritten, request looked for */
#define FILE_MAX 4096     /* the largest file of upgrade.h read */
#define ID_MAX 64
#define REASON_MAX 300
#define HOLD_WHY "installing an update"

enum phase { IDLE, WAITING, INSTALLING };

/* pending and request: one accepted upgrade. */
struct ticket {
    char id[ID_MAX + 1];
    char version[PE_VERSION_MAX];
    char from[PE_VERSION_MAX];
    char ts[PE_TIME_STRLEN];
    bool after_shift;
    int64_t watch_s;
};

/* result: what the unit made of the last one. */
struct result {
    bool have;
    char id[ID_MAX + 1];
    char version[PE_VERSION_MAX];
    char previous[PE_VERSION_MAX];
    char outcome[16];
    char reason[REASON_MAX];
    char ts[PE_TIME_STRLEN];
};

struct upgrade {
    struct upgrade_deps d;
    char dir[512], pending[540], request[540], alive[540], result_path[540];
    enum phase phase;
    struct ticket t;      /* WAITING, INSTALLING */
    struct result last;   /* the result file as last read */
    int64_t timer;        /* 0 none */
    int64_t held_since;   /* pe_mono_ms the till was held, 0 when it is not */
    bool hold_expired;    /* released at hold_max_s while request stays */
};

/* The value of "key=" in text (a line of its own), cut to n - 1 bytes; "" when absent. */
static void kv_get(const char *text, const char *key, char *out, size_t n)
{
    size_t kl = strlen(key);
    out[0] = '\0';
    for (const char *l = text, *next; l && *l; l = next) {
        next = strchr(l, '\n');
        next = next ? next + 1 : NULL;
        if (strncmp(l, key, kl) != 0 || l[kl] != '=')
            continue;
        const char *v = l + kl + 1, *end = strchr(v, '\n');
        size_t len = end ? (size_t)(end - v) : strlen(v);
        if (len >= n)
            len = n - 1;
        memcpy(out, v, len);
        out[len] = '\0';
        return;
    }
}

/* Read a file into text (malloc'd); false when it does not exist or cannot be read (logged). */
static bool read_text(const char *path, char **text)
{
    char err[600];
    if (pe_file_read(path, FILE_MAX, text, NULL, err, sizeof err) == PE_OK)
        return true;
    if (errno != ENOENT)
        pe_warn("upgrade.read_failed", "%s", err);
    return false;
}

static bool ticket_read(const char *path, struct ticket *t)
{
    char *text = NULL, v[32];
    if (!read_text(path, &text))
        return false;
    memset(t, 0, sizeof *t);
    kv_get(text, "id", t->id, sizeof t->id);
    kv_get(text, "version", t->version, sizeof t->version);
    kv_get(text, "from", t->from, sizeof t->from);
    kv_get(text, "ts", t->ts, sizeof t->ts);
    kv_get(text, "after_shift", v, sizeof v);
    t->after_shift = strcmp(v, "1") == 0;
    kv_get(text, "watch_s", v, sizeof v);
    t->watch_s = atoll(v);
    free(text);
    if (!t->id[0] || !pe_version_valid(t->version)) {
        pe_warn("upgrade.bad_file", "path=%s: no id or no valid version (ignored)", path);
        return false;
    }
    return true;
}

static void result_read(struct upgrade *u)
{
    char *text = NULL;
    struct result *r = &u->last;
    memset(r, 0, sizeof *r);
    if (!read_text(u->result_path, &text))
        return;
    kv_get(text, "id", r->id, sizeof r->id);
    kv_get(text, "version", r->version, sizeof r->version);
    kv_get(text, "previous", r->previous, sizeof r->previous);
    kv_get(text, "outcome", r->outcome, sizeof r->outcome);
    kv_get(text, "reason", r->reason, sizeof r->reason);
    kv_get(text, "ts", r->ts, sizeof r->ts);
    free(text);
    /* The unit writes a final outcome; anything else is not shown as one. */
    r->have = r->id[0] && pe_upgrade_outcome_final(pe_upgrade_outcome_parse(r->outcome));
}

static int ticket_write(const struct upgrade *u, const struct ticket *t, char *err, size_t len)
{
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "id=%s\nversion=%s\nfrom=%s\nafter_shift=%d\nwatch_s=%lld\nts=%s\n", t->id,
                     t->version, t->from, t->after_shift, (long long)t->watch_s, t->ts);
    return pe_file_write_atomic(u->pending, buf, (size_t)n, err, len);
}

static void write_alive(const struct upgrade *u)
{
    char buf[160], err[600];
    int n = snprintf(buf, sizeof buf, "version=%s\npid=%ld\nts_ms=%lld\n", pe_version(),
                     (long)getpid(), (long long)pe_time_now_ms());
    if (pe_file_write_atomic(u->alive, buf, (size_t)n, err, sizeof err) != PE_OK)
        pe_warn("upgrade.alive_failed", "%s", err);
}

static void changed(struct upgrade *u)
{
    if (u->d.changed)
        u->d.changed(u->d.ctx);
}

static void tick(void *ctx);

static void arm(struct upgrade *u)
{
    if (u->timer)
        pe_loop_timer_cancel(u->d.loop, u->timer);
    u->timer = 0;
    if (u->phase == IDLE)
        return;
    if (pe_loop_timer(u->d.loop, u->phase == WAITING ? WAIT_TICK_MS : HOLD_TICK_MS, tick, u,
                      &u->timer) != PE_OK) {
        u->timer = 0;
        pe_error("upgrade.timer", "out of memory: the upgrade waits for the next command");
    }
}

static void hold(struct upgrade *u)
{
    till_hold(u->d.till, HOLD_WHY);
    u->held_since = pe_mono_ms();
    u->hold_expired = false;
    u->phase = INSTALLING;
    write_alive(u);
}

static bool till_ready(const struct upgrade *u)
{
    const struct pe_till *t = u->d.till;
    return till_state(t) == TILL_IDLE && !till_basket_open(t) && !till_awaiting_payment(t) &&
           !(u->t.after_shift && till_shift_open(t));
}

static void tick(void *ctx)
{
    struct upgrade *u = ctx;
    u->timer = 0;
    if (u->phase == WAITING) {
        if (!till_ready(u))
            goto again;
        /* Held first: nothing may open between the rename and the hold. */
        till_hold(u->d.till, HOLD_WHY);
        if (rename(u->pending, u->request) != 0) {
            pe_error("upgrade.request_failed", "rename %s: %s (the upgrade is dropped)",
                     u->pending, strerror(errno));
            till_hold(u->d.till, NULL);
            u->phase = IDLE;
            changed(u);
            return;
        }
        pe_info("upgrade.requested", "id=%s version=%s from=%s", u->t.id, u->t.version,
                u->t.from);
        hold(u);
        changed(u);
        goto again;
    }
    if (access(u->request, F_OK) != 0 && errno == ENOENT) {
        /* The unit is done: its result says how it went. */
        till_hold(u->d.till, NULL);
        u->held_since = 0;
        u->phase = IDLE;
        unlink(u->alive);
        result_read(u);
        pe_info("upgrade.done", "id=%s version=%s outcome=%s reason=\"%s\"", u->last.id,
                u->last.version, u->last.have ? u->last.outcome : "unknown", u->last.reason);
        changed(u);
        return;
    }
    write_alive(u);
    if (!u->hold_expired && pe_mono_ms() - u->held_since >= u->d.hold_max_s * 1000) {
        u->hold_expired = true;
        till_hold(u->d.till, NULL);
        pe_warn("upgrade.hold_expired",
                "id=%s version=%s: the upgrade unit has not finished after %llds; the till "
                "sells again (is posedge-upgrade.path enabled?)",
                u->t.id, u->t.version, (long long)u->d.hold_max_s);
    }
again:
    arm(u);
}

int upgrade_create(const struct upgrade_deps *deps, struct upgrade **out, char *err,
                   size_t errlen)
{
    struct upgrade *u = calloc(1, sizeof *u);
    if (!u)
        return PE_ENOMEM;
    u->d = *deps;
    snprintf(u->dir, sizeof u->dir, "%s/upgrade", deps->data_dir);
    snprintf(u->pending, sizeof u->pending, "%s/pending", u->dir);
    snprintf(u->request, sizeof u->request, "%s/request", u->dir);
    snprintf(u->alive, sizeof u->alive, "%s/alive", u->dir);
    snprintf(u->result_path, sizeof u->result_path, "%s/result", u->dir);
    if (mkdir(u->dir, 0750) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create: %s", u->dir, strerror(errno));
        free(u);
        return PE_EIO;
    }
    result_read(u);
    if (ticket_read(u->request, &u->t)) {
        pe_info("upgrade.installing", "id=%s version=%s from=%s (the till is held until the "
                "upgrade unit is done)", u->t.id, u->t.version, u->t.from);
        hold(u);
    } else if (ticket_read(u->pending, &u->t)) {
        u->phase = WAITING;
    }
    arm(u);
    *out = u;
    return PE_OK;
}

void upgrade_destroy(struct upgrade *u)
{
    if (!u)
        return;
    if (u->timer)
        pe_loop_timer_cancel(u->d.loop, u->timer);
    free(u);
}

int upgrade_ask(struct upgrade *u, const char *id, const char *version, bool after_shift,
                bool *current, char *why, size_t len)
{
    *current = false;
    if (!pe_version_valid(version)) {
        snprintf(why, len,
                 "version: expected a Debian version (a digit, then A-Z a-z 0-9 . + ~ : -; at "
                 "most %d characters)", PE_VERSION_MAX - 1);
        return PE_EINVAL;
    }
    if (u->phase == INSTALLING) {
        snprintf(why, len, "an upgrade to %s is being installed", u->t.version);
        return PE_EBUSY;
    }
    if (strcmp(version, pe_version()) == 0) {
        *current = true;
        return PE_OK;
    }
    struct ticket t = {.after_shift = after_shift, .watch_s = u->d.watch_s};
    snprintf(t.id, sizeof t.id, "%s", id);
    snprintf(t.version, sizeof t.version, "%s", version);
    snprintf(t.from, sizeof t.from, "%s", pe_version());
    pe_time_format(pe_time_now_ms(), t.ts);
    char err[600];
    if (ticket_write(u, &t, err, sizeof err) != PE_OK) {
        pe_error("upgrade.write_failed", "%s", err);
        snprintf(why, len, "cannot record the upgrade: %.400s", err);
        return PE_EIO;
    }
    if (u->phase == WAITING)
        pe_info("upgrade.replaced", "id=%s version=%s (by id=%s version=%s)", u->t.id,
                u->t.version, t.id, t.version);
    pe_info("upgrade.accepted", "id=%s version=%s from=%s after_shift=%d", t.id, t.version,
            t.from, t.after_shift);
    u->t = t;
    u->phase = WAITING;
    arm(u);
    changed(u);
    return PE_OK;
}

static bool add_str_or_null(cJSON *o, const char *key, const char *v)
{
    return v && v[0] ? cJSON_AddStringToObject(o, key, v) != NULL
                     : cJSON_AddNullToObject(o, key) != NULL;
}

bool upgrade_state(const struct upgrade *u, cJSON *obj)
{
    if (u->phase == IDLE && !u->last.have)
        return cJSON_AddNullToObject(obj, "upgrade") != NULL;
    cJSON *o = cJSON_AddObjectToObject(obj, "upgrade");
    if (!o)
        return false;
    if (u->phase != IDLE) {
        const char *reason = NULL;
        if (u->phase == WAITING)
            reason = u->t.after_shift && till_shift_open(u->d.till)
                         ? "waiting for the shift to close"
                         : "waiting for an idle till";
        enum pe_upgrade_outcome now = u->phase == WAITING ? PE_UPGRADE_WAITING
                                                          : PE_UPGRADE_INSTALLING;
        return add_str_or_null(o, "id", u->t.id) && add_str_or_null(o, "version", u->t.version) &&
               add_str_or_null(o, "previous", u->t.from) &&
               add_str_or_null(o, "outcome", pe_upgrade_outcome_word(now)) &&
               add_str_or_null(o, "reason", reason) && add_str_or_null(o, "ts", u->t.ts);
    }
    const struct result *r = &u->last;
    return add_str_or_null(o, "id", r->id) && add_str_or_null(o, "version", r->version) &&
           add_str_or_null(o, "previous", r->previous) &&
           add_str_or_null(o, "outcome", r->outcome) && add_str_or_null(o, "reason", r->reason) &&
           add_str_or_null(o, "ts", r->ts);
}
