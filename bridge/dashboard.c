/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dashboard.c - the store as the dashboard shows it, and the store's alarms (dashboard.h).
 */
#include "bridge/dashboard.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/json.h"

#define TILLS_MAX 256
#define DAY_MS 86400000LL

struct till {
    char terminal[PE_ID_MAX];
    cJSON *doc;           /* its last state document, NULL before one came */
    int64_t doc_mono;     /* when it came (pe_mono_ms) */
    int64_t last_sale_ms; /* event time of its newest sale spooled, 0: none */
};

struct dashboard {
    struct dashboard_limits lim;
    struct till tills[TILLS_MAX];
    int ntills;
    int64_t day;           /* UTC day (ms / DAY_MS) of the newest sale; -1: none */
    int64_t count[24];     /* sales of that day by hour */
    int64_t total[24];     /* their totals, minor units */
    char currency[4];
};

static const char *const alarm_names[] = {
#define DASHBOARD__ALARM_NAME(name, word) word,
    DASHBOARD_ALARMS(DASHBOARD__ALARM_NAME)
#undef DASHBOARD__ALARM_NAME
};

const char *dashboard_alarm_name(enum dashboard_alarm a)
{
    return a >= 0 && a < DASHBOARD_ALARM__COUNT ? alarm_names[a] : NULL;
}

int dashboard_create(const struct dashboard_limits *lim, struct dashboard **out)
{
    struct dashboard *d = calloc(1, sizeof *d);
    if (!d)
        return PE_ENOMEM;
    d->lim = *lim;
    d->day = -1;
    *out = d;
    return PE_OK;
}

void dashboard_destroy(struct dashboard *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->ntills; i++)
        cJSON_Delete(d->tills[i].doc);
    free(d);
}

static struct till *till_of(struct dashboard *d, const char *terminal)
{
    for (int i = 0; i < d->ntills; i++)
        if (strcmp(d->tills[i].terminal, terminal) == 0)
            return &d->tills[i];
    if (d->ntills == TILLS_MAX)
        return NULL;
    struct till *t = &d->tills[d->ntills++];
    snprintf(t->terminal, sizeof t->terminal, "%s", terminal);
    return t;
}

void dashboard_till_state(struct dashboard *d, const char *terminal, const cJSON *doc)
{
    struct till *t = d ? till_of(d, terminal) : NULL;
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(doc, "state");
    cJSON *copy = NULL;
    if (t && t->doc && !cJSON_GetObjectItemCaseSensitive(doc, "seq") && cJSON_IsString(state)) {
        /* A bare last will ({"state":"offline"}): the till's last figures stay, offline. */
        copy = cJSON_Duplicate(t->doc, true);
        if (copy && !cJSON_ReplaceItemInObjectCaseSensitive(copy, "state",
                                                            cJSON_CreateString(state->valuestring))) {
            cJSON_Delete(copy);
            copy = NULL;
        }
    } else if (t) {
        copy = cJSON_Duplicate(doc, true);
    }
    if (!copy)
        return; /* out of memory: the page shows the document before */
    cJSON_Delete(t->doc);
    t->doc = copy;
    t->doc_mono = pe_mono_ms();
}

void dashboard_event(struct dashboard *d, const struct pe_event_meta *m, const cJSON *rec)
{
    if (!d || m->type != PE_EV_SALE)
        return;
    struct till *t = till_of(d, m->terminal);
    if (t && m->ts_ms > t->last_sale_ms)
        t->last_sale_ms = m->ts_ms;
    int64_t day = m->ts_ms / DAY_MS;
    if (day < d->day)
        return; /* a sale of an earlier day, late: not today's */
    if (day > d->day) {
        memset(d->count, 0, sizeof d->count);
        memset(d->total, 0, sizeof d->total);
        d->day = day;
    }
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(rec, "body");
    const cJSON *totals = cJSON_GetObjectItemCaseSensitive(body, "totals");
    const char *cur = NULL;
    int64_t total = 0;
    if (pe_json_get_int(totals, "total", &total) != PE_OK)
        total = 0;
    if (pe_json_get_str(body, "currency", &cur) == PE_OK && strlen(cur) == 3)
        memcpy(d->currency, cur, 4);
    int h = (int)(m->ts_ms % DAY_MS / 3600000);
    d->count[h]++;
    d->total[h] += total;
}

/* ---- alarms ---- */

struct alarms {
    struct dashboard_alarm_on *a;
    int n, max;
};

static void raise_alarm(struct alarms *s, enum dashboard_alarm which, const char *terminal,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void raise_alarm(struct alarms *s, enum dashboard_alarm which, const char *terminal,
                        const char *fmt, ...)
{
    if (s->n == s->max)
        return;
    struct dashboard_alarm_on *o = &s->a[s->n++];
    o->alarm = which;
    snprintf(o->terminal, sizeof o->terminal, "%s", terminal);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->detail, sizeof o->detail, fmt, ap);
    va_end(ap);
}

static const char *doc_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The alarms a till's own document makes: offline, devices, its certificate, its signer. */
static void till_alarms(const struct dashboard *d, const struct till *t, int64_t now_mono,
                        struct alarms *s)
{
    const char *state = doc_str(t->doc, "state");
    int64_t silent = now_mono - t->doc_mono;
    if (!t->doc)
        return; /* known from its events only: its document has not come yet */
    if (!state || strcmp(state, "online") != 0)
        raise_alarm(s, DASHBOARD_ALARM_TILL_OFFLINE, t->terminal, "its state says %s",
                    state ? state : "nothing");
    else if (silent > d->lim.till_silent_ms)
        raise_alarm(s, DASHBOARD_ALARM_TILL_OFFLINE, t->terminal,
                    "no state document for %lld s", (long long)(silent / 1000));
    const cJSON *dev;
    cJSON_ArrayForEach(dev, cJSON_GetObjectItemCaseSensitive(t->doc, "devices"))
    {
        const char *st = doc_str(dev, "status");
        if (st && strcmp(st, "failed") == 0)
            raise_alarm(s, DASHBOARD_ALARM_DEVICE_OFFLINE, t->terminal, "%s (driver %s) offline",
                        dev->string, doc_str(dev, "driver") ? doc_str(dev, "driver") : "?");
    }
    int64_t days = 0;
    if (pe_json_get_int(cJSON_GetObjectItemCaseSensitive(t->doc, "cert"), "days_left", &days) ==
            PE_OK &&
        days < d->lim.cert_days)
        raise_alarm(s, DASHBOARD_ALARM_CERT_EXPIRY, t->terminal,
                    "its certificate has %lld days left", (long long)days);
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(t->doc, "alarms"))
    {
        if (cJSON_IsString(a) && strcmp(a->valuestring, "signer_down") == 0)
            raise_alarm(s, DASHBOARD_ALARM_SIGNER_DOWN, t->terminal,
                        "its fiscal signer is down: events are stored unsigned");
    }
}

int dashboard_alarms(struct dashboard *d, const struct dashboard_bridge *b, int64_t now_ms,
                     struct dashboard_alarm_on *out, int max)
{
    struct alarms s = {out, 0, max};
    int64_t now_mono = pe_mono_ms();
    if (!d)
        return 0;
    for (int i = 0; i < d->ntills; i++)
        till_alarms(d, &d->tills[i], now_mono, &s);
    for (int i = 0; i < b->nterms; i++) {
        int64_t ts = b->oldest_pending_ms[i], age_s = ts > 0 ? (now_ms - ts) / 1000 : 0;
        if (ts > 0 && age_s > d->lim.backlog_age_s)
            raise_alarm(&s, DASHBOARD_ALARM_BACKLOG_OLD, b->terms[i],
                        "its oldest event not in Kafka is %lld s old (alarm.backlog_age_s %lld)",
                        (long long)age_s, (long long)d->lim.backlog_age_s);
    }
    if (b->spool_quota_bytes > 0 && b->spool_bytes * 100 > b->spool_quota_bytes * d->lim.spool_pct)
        raise_alarm(&s, DASHBOARD_ALARM_SPOOL_HIGH, "",
                    "the spool holds %lld%% of spool.max_mb (alarm.spool_pct %lld)",
                    (long long)(b->spool_bytes * 100 / b->spool_quota_bytes),
                    (long long)d->lim.spool_pct);
    if (b->kafka_refused)
        raise_alarm(&s, DASHBOARD_ALARM_KAFKA_AUTH, "", "Kafka refuses the bridge: %s",
                    b->kafka_refused);
    if (b->cert_days_left < d->lim.cert_days)
        raise_alarm(&s, DASHBOARD_ALARM_CERT_EXPIRY, "",
                    "the bridge's certificate has %lld days left", (long long)b->cert_days_left);
    if (b->crl_due)
        raise_alarm(&s, DASHBOARD_ALARM_CRL_EXPIRY, "",
                    b->crl_days_left < 0 ? "the broker's CRL cannot be read"
                                         : "the broker's CRL has %lld days left before its next "
                                           "update",
                    (long long)b->crl_days_left);
    return s.n;
}

cJSON *dashboard_alarms_json(const struct dashboard_alarm_on *a, int n)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "alarm", dashboard_alarm_name(a[i].alarm)) ||
            !(a[i].terminal[0] ? cJSON_AddStringToObject(o, "terminal", a[i].terminal)
                               : cJSON_AddNullToObject(o, "terminal")) ||
            !cJSON_AddStringToObject(o, "detail", a[i].detail) || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

/* ---- the page's data ---- */

static bool add_time(cJSON *o, const char *key, int64_t ms)
{
    char ts[PE_TIME_STRLEN];
    if (ms <= 0)
        return cJSON_AddNullToObject(o, key) != NULL;
    pe_time_format(ms, ts);
    return cJSON_AddStringToObject(o, key, ts) != NULL;
}

static cJSON *till_json(const struct till *t, int64_t now_mono)
{
    cJSON *o = cJSON_CreateObject();
    const char *state = doc_str(t->doc, "state");
    const cJSON *cat = cJSON_GetObjectItemCaseSensitive(t->doc, "catalog");
    const cJSON *devs = cJSON_GetObjectItemCaseSensitive(t->doc, "devices");
    int64_t seq = 0, delivered = 0;
    pe_json_get_int(t->doc, "seq", &seq);
    pe_json_get_int(t->doc, "delivered", &delivered);
    const cJSON *age = cJSON_GetObjectItemCaseSensitive(t->doc, "oldest_pending_age_s");
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(cat, "version");
    if (!o || !cJSON_AddStringToObject(o, "terminal", t->terminal) ||
        !cJSON_AddStringToObject(o, "state", state ? state : "unknown") ||
        !cJSON_AddBoolToObject(o, "online", state && strcmp(state, "online") == 0) ||
        pe_json_add_int(o, "seq", seq) || pe_json_add_int(o, "backlog", seq - delivered) ||
        !cJSON_AddItemToObject(o, "oldest_pending_age_s",
                               cJSON_IsNumber(age) ? cJSON_CreateNumber(age->valuedouble)
                                                   : cJSON_CreateNull()) ||
        !add_time(o, "last_sale", t->last_sale_ms) ||
        !cJSON_AddItemToObject(o, "devices",
                               devs ? cJSON_Duplicate(devs, true) : cJSON_CreateObject()) ||
        !cJSON_AddItemToObject(o, "catalog_version", cJSON_IsNumber(version)
                                                         ? cJSON_CreateNumber(version->valuedouble)
                                                         : cJSON_CreateNull()) ||
        pe_json_add_int(o, "state_age_s", t->doc ? (now_mono - t->doc_mono) / 1000 : -1)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *sales_json(const struct dashboard *d)
{
    cJSON *o = cJSON_CreateObject(), *hours = o ? cJSON_AddArrayToObject(o, "hours") : NULL;
    char day[PE_TIME_STRLEN];
    if (d->day >= 0)
        pe_time_format(d->day * DAY_MS, day);
    day[10] = '\0';
    if (!hours ||
        !(d->day >= 0 ? cJSON_AddStringToObject(o, "day", day) : cJSON_AddNullToObject(o, "day")) ||
        !cJSON_AddStringToObject(o, "currency", d->currency)) {
        cJSON_Delete(o);
        return NULL;
    }
    for (int h = 0; h < 24; h++) {
        cJSON *b = cJSON_CreateObject();
        if (!b || pe_json_add_int(b, "hour", h) || pe_json_add_int(b, "count", d->count[h]) ||
            pe_json_add_int(b, "total", d->total[h]) || !cJSON_AddItemToArray(hours, b)) {
            cJSON_Delete(b);
            cJSON_Delete(o);
            return NULL;
        }
    }
    return o;
}

int dashboard_json(struct dashboard *d, cJSON *bridge_doc, const struct dashboard_alarm_on *a,
                   int nalarms, int64_t now_ms, char **out, size_t *len)
{
    cJSON *o = cJSON_CreateObject(), *tills = NULL;
    int64_t now_mono = pe_mono_ms();
    if (!o || !bridge_doc || !cJSON_AddItemToObject(o, "bridge", bridge_doc)) {
        cJSON_Delete(bridge_doc);
        cJSON_Delete(o);
        return PE_ENOMEM;
    }
    bool ok = add_time(o, "ts", now_ms) && (tills = cJSON_AddArrayToObject(o, "tills"));
    for (int i = 0; ok && i < d->ntills; i++) {
        cJSON *t = till_json(&d->tills[i], now_mono);
        ok = t && cJSON_AddItemToArray(tills, t);
    }
    cJSON *al = ok ? dashboard_alarms_json(a, nalarms) : NULL;
    ok = ok && al && cJSON_AddItemToObject(o, "alarms", al);
    cJSON *sales = ok ? sales_json(d) : NULL;
    ok = ok && sales && cJSON_AddItemToObject(o, "sales", sales);
    char *text = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text)
        return PE_ENOMEM;
    *out = text;
    *len = strlen(text);
    return PE_OK;
}
