/* SPDX-License-Identifier: Apache-2.0 */
/*
 * profile.c - the output profiles' table, the started sinks, the records under construction,
 * the driver that runs every sink over one event (shared key, timestamp and headers, the late
 * flag, dead letters for what a profile cannot map), and small helpers for JSON profiles:
 * exact decimal money from integer minor units and event time in a pattern. See profile.h.
 */
#include "bridge/profile.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/report.h"

/* The profiles, in the order names are listed: one line each, X(symbol suffix). A profile is
 * its file, which defines const struct profile_ops profile_<suffix>, and its line here. */
#define PROFILES(X)                                                                                \
    X(native)                                                                                      \
    X(purchases_json)                                                                              \
    X(retail_json)                                                                                 \
    X(orders_json)                                                                                 \
    X(inventory_avro)                                                                              \
    X(orders_avro)

#define PROFILE_DECL(n) extern const struct profile_ops profile_##n;
PROFILES(PROFILE_DECL)
#undef PROFILE_DECL

static const struct profile_ops *const all[] = {
#define PROFILE_ADDR(n) &profile_##n,
    PROFILES(PROFILE_ADDR)
#undef PROFILE_ADDR
};

#define NPROFILES (sizeof all / sizeof all[0])

/* What one record owns; the output_rec of the same index points into it. */
struct profile_slot {
    char topic[BRIDGE_TOPIC_MAX + 8]; /* the destination (".late" appended when routed) */
    void *owned;                      /* the value when owned, else NULL */
    void *key;                        /* its own key (owned), else NULL: the shared key */
    size_t keylen;                    /* bytes at key */
    const char *profile;              /* the profile header ("" for the implicit native sink) */
    const char *sink;                 /* the sink's name */
    bool late;                        /* flagged late */
    bool dead;                        /* a dead letter */
    char lateness[24];                /* seconds, for the lateness_s header */
    char reason[256];                 /* a dead letter's reason */
};

struct profile_set {
    const struct bridge_cfg *cfg;                  /* borrowed */
    struct profile_sink sinks[BRIDGE_SINKS_MAX]; /* cfg's sinks, started */
    int n;                                         /* sinks started */
    bool needs_doc;                                /* some sink's profile reads ev->doc */
};

const struct profile_ops *profile_find(const char *name)
{
    for (size_t i = 0; name && i < NPROFILES; i++)
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    return NULL;
}

const struct profile_ops *profile_implicit(void)
{
    return &profile_native;
}

const char *profile_names(char *buf, size_t len)
{
    size_t o = 0;
    if (len)
        buf[0] = '\0';
    for (size_t i = 0; i < NPROFILES && o < len; i++) {
        int n = snprintf(buf + o, len - o, "%s%s", i ? ", " : "", all[i]->name);
        o += n > 0 ? (size_t)n : 0;
    }
    return buf;
}

void profile_help(FILE *out)
{
    for (size_t i = 0; i < NPROFILES; i++) {
        if (!all[i]->config || !all[i]->config->key)
            continue;
        fprintf(out, "\nkeys of a sink of profile %s:\n", all[i]->name);
        pe_cfg_help(all[i]->config, out);
    }
}

/* ---- the started sinks ---- */

int profile_set_create(const struct bridge_cfg *cfg, struct pe_spool *spool,
                       struct profile_set **out, char *err, size_t errlen)
{
    struct profile_set *ps = calloc(1, sizeof *ps);
    if (!ps)
        return PE_ENOMEM;
    ps->cfg = cfg;
    for (int i = 0; i < cfg->nsinks; i++) {
        struct profile_sink *s = &ps->sinks[i];
        s->ops = cfg->sinks[i].profile;
        s->conf = &cfg->sinks[i];
        s->cfg = cfg;
        ps->needs_doc = ps->needs_doc || s->ops->needs_doc || !s->ops->keeps_training;
        int rc = s->ops->init ? s->ops->init(s, spool, err, errlen) : PE_OK;
        if (rc) {
            profile_set_destroy(ps);
            return rc;
        }
        ps->n = i + 1;
    }
    *out = ps;
    return PE_OK;
}

void profile_set_destroy(struct profile_set *ps)
{
    if (!ps)
        return;
    for (int i = ps->n - 1; i >= 0; i--)
        if (ps->sinks[i].ops->exit)
            ps->sinks[i].ops->exit(&ps->sinks[i]);
    free(ps);
}

/* ---- records ---- */

int profile_out_add(struct profile_out *out, const char *topic, void *val, size_t len, bool owned)
{
    if (out->n == out->cap) {
        int cap = out->cap ? out->cap * 2 : 16;
        struct output_rec *r = realloc(out->recs, (size_t)cap * sizeof *r);
        if (r)
            out->recs = r;
        struct profile_slot *s = r ? realloc(out->slots, (size_t)cap * sizeof *s) : NULL;
        if (!s) {
            if (owned)
                free(val);
            return PE_ENOMEM;
        }
        out->slots = s;
        out->cap = cap;
    }
    struct profile_slot *s = &out->slots[out->n];
    memset(s, 0, sizeof *s);
    snprintf(s->topic, sizeof s->topic, "%s", topic);
    s->owned = owned ? val : NULL;
    out->recs[out->n] = (struct output_rec){.val = val, .len = len};
    out->n++;
    return PE_OK;
}

int profile_out_add_keyed(struct profile_out *out, const char *topic, void *key, size_t keylen,
                          void *val, size_t len)
{
    int rc = profile_out_add(out, topic, val, len, true);
    if (rc) {
        free(key);
        return rc;
    }
    out->slots[out->n - 1].key = key;
    out->slots[out->n - 1].keylen = keylen;
    return PE_OK;
}

/* Take back records from..n-1. */
static void truncate_to(struct profile_out *out, int from)
{
    while (out->n > from) {
        out->n--;
        free(out->slots[out->n].owned);
        free(out->slots[out->n].key);
        out->slots[out->n].owned = NULL;
        out->slots[out->n].key = NULL;
    }
}

void profile_out_reset(struct profile_out *out)
{
    truncate_to(out, 0);
    out->late = 0;
    out->dead = 0;
}

void profile_out_free(struct profile_out *out)
{
    profile_out_reset(out);
    free(out->recs);
    free(out->slots);
    memset(out, 0, sizeof *out);
}

/* ---- the driver ---- */

static void finish(struct profile_out *out, const struct profile_event *ev);

int profile_map_event(struct profile_set *ps, const struct profile_event *ev0, int64_t now_ms,
                      struct profile_out *out)
{
    profile_out_reset(out);
    const struct bridge_cfg *cfg = ps->cfg;
    struct profile_event ev = *ev0;
    bool typed = pe_event_type_parse(ev.type, &ev.etype) == PE_OK;
    cJSON *doc = NULL;
    char parse_why[160] = "";
    if (ps->needs_doc && !ev.doc) {
        int prc = pe_json_parse(ev.rec, ev.len, &doc, parse_why, sizeof parse_why);
        if (prc == PE_ENOMEM)
            return prc; /* not a dead letter: the event is mapped again later */
        if (prc != PE_OK && !parse_why[0])
            snprintf(parse_why, sizeof parse_why, "the record is not JSON");
    }
    if (doc)
        ev.doc = doc;
    int rc = PE_OK;
    int64_t late_ms = now_ms - ev.ts_ms;
    if (ev.rejected) {
        /* Refused at intake (a forged or wrongly signed record): to the dead letters only. */
        rc = profile_out_add(out, cfg->topic_dlq, (void *)ev.rec, ev.len, false);
        if (rc == PE_OK) {
            struct profile_slot *s = &out->slots[out->n - 1];
            s->dead = true;
            snprintf(s->reason, sizeof s->reason, "%s", ev.rejected);
            out->dead++;
        }
    }
    for (int i = 0; !ev.rejected && i < ps->n; i++) {
        struct profile_sink *sk = &ps->sinks[i];
        const struct bridge_sink *k = sk->conf;
        const char *pname = sk->ops->name;
        int from = out->n;
        char why[200] = "";
        int mrc = PE_EINVAL;
        if (!typed)
            snprintf(why, sizeof why, "unknown event type %s", ev.type);
        else if (sk->ops->needs_doc && !ev.doc)
            snprintf(why, sizeof why, "%s", parse_why);
        else if (!(sk->ops->types & PE_EV_BIT(ev.etype)))
            mrc = PE_OK; /* a type this profile makes no record of */
        else if (!sk->ops->keeps_training && ev.doc &&
                 pe_totals_training(cJSON_GetObjectItemCaseSensitive(ev.doc, "body")))
            mrc = PE_OK; /* a training record: kept out of this profile's figures */
        else
            mrc = sk->ops->map(sk, &ev, out, why, sizeof why);
        if (mrc == PE_ENOMEM) {
            rc = mrc;
            break;
        }
        bool flag = k->late_mode != BRIDGE_LATE_OFF && late_ms > k->lateness_s * 1000;
        if (mrc != PE_OK) {
            truncate_to(out, from);
            if ((rc = profile_out_add(out, cfg->topic_dlq, (void *)ev.rec, ev.len, false)))
                break;
            struct profile_slot *s = &out->slots[out->n - 1];
            s->dead = true;
            snprintf(s->reason, sizeof s->reason, "%.31s: %.200s", pname,
                     why[0] ? why : "cannot map this event");
            out->dead++;
            pe_warn("bridge.profile_dead_letter",
                    "sink=%s profile=%s store=%s terminal=%s seq=%" PRId64 " reason=\"%s\"",
                    k->name, pname, ev.store, ev.terminal, ev.seq, s->reason);
            flag = false;
        }
        for (int j = from; j < out->n; j++) {
            struct profile_slot *s = &out->slots[j];
            s->profile = cfg->sinks_set ? pname : "";
            s->sink = k->name;
            if (!flag || s->dead)
                continue;
            s->late = true;
            out->late++;
            snprintf(s->lateness, sizeof s->lateness, "%" PRId64, late_ms / 1000);
            if (k->late_mode == BRIDGE_LATE_ROUTE) {
                size_t tl = strlen(s->topic);
                snprintf(s->topic + tl, sizeof s->topic - tl, ".late");
            }
        }
    }
    cJSON_Delete(doc);
    if (rc) {
        profile_out_reset(out);
        return rc;
    }
    finish(out, &ev);
    return PE_OK;
}

/* The shared part of every record, filled once all are made (the arrays no longer move). */
static void finish(struct profile_out *out, const struct profile_event *ev)
{
    int kl = snprintf(out->key, sizeof out->key, "%s/%s", ev->store, ev->terminal);
    snprintf(out->seq, sizeof out->seq, "%" PRId64, ev->seq);
    pe_topic(out->source, sizeof out->source, ev->store, ev->terminal, PE_CH_EVENTS, NULL);
    const char *seq = out->seq, *source_topic = out->source;
    for (int i = 0; i < out->n; i++) {
        struct output_rec *r = &out->recs[i];
        struct profile_slot *s = &out->slots[i];
        r->topic = s->topic;
        r->key = s->key ? s->key : out->key;
        r->keylen = s->key ? s->keylen : kl > 0 ? (size_t)kl : 0;
        r->ts_ms = ev->ts_ms;
        int n = 0;
        if (s->dead) {
            r->h[n++] = (struct output_header){"reason", s->reason};
            r->h[n++] = (struct output_header){"topic", source_topic};
            if (s->sink)
                r->h[n++] = (struct output_header){"sink", s->sink};
        }
        r->h[n++] = (struct output_header){"id", ev->id};
        r->h[n++] = (struct output_header){"type", ev->type};
        r->h[n++] = (struct output_header){"store", ev->store};
        r->h[n++] = (struct output_header){"terminal", ev->terminal};
        r->h[n++] = (struct output_header){"seq", seq};
        if (s->profile && s->profile[0])
            r->h[n++] = (struct output_header){"profile", s->profile};
        if (s->late) {
            r->h[n++] = (struct output_header){"late", "true"};
            r->h[n++] = (struct output_header){"lateness_s", s->lateness};
        }
        if (ev->sig)
            r->h[n++] = (struct output_header){"posedge-sig", ev->sig};
        r->nh = n;
    }
}

/* ---- helpers ---- */

static void pb_grow(struct profile_buf *b, size_t more)
{
    if (b->failed || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        b->failed = true;
        return;
    }
    b->s = s;
    b->cap = cap;
}

static void pb_mem(struct profile_buf *b, const char *s, size_t n)
{
    pb_grow(b, n);
    if (b->failed)
        return;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void pb_str(struct profile_buf *b, const char *s)
{
    pb_mem(b, s, strlen(s));
}

void pb_json_str(struct profile_buf *b, const char *s)
{
    if (!s) {
        pb_str(b, "null");
        return;
    }
    pb_str(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            pb_mem(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            pb_mem(b, esc, 6);
        } else {
            pb_mem(b, (const char *)p, 1);
        }
    }
    pb_str(b, "\"");
}

void pb_int(struct profile_buf *b, int64_t v)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRId64, v);
    pb_str(b, s);
}

void pb_money(struct profile_buf *b, int64_t minor, int exp)
{
    /* Integer arithmetic only: 249 with exp 2 is "2.49", -5 is "-0.05", 1000 is "10.00". */
    char s[48];
    uint64_t m = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    uint64_t unit = 1;
    exp = exp < 0 ? 0 : exp > 6 ? 6 : exp;
    for (int i = 0; i < exp; i++)
        unit *= 10;
    int n = snprintf(s, sizeof s, "%s%" PRIu64, minor < 0 ? "-" : "", m / unit);
    if (exp > 0 && n > 0) {
        uint64_t frac = m % unit;
        s[n] = '.';
        for (int i = exp; i > 0; i--, frac /= 10)
            s[n + i] = (char)('0' + frac % 10);
        s[n + exp + 1] = '\0';
    }
    pb_str(b, s);
}

int profile_currency_exp(const char *c)
{
    static const char *const zero[] = {"BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW",
                                       "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"};
    static const char *const three[] = {"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"};
    for (size_t i = 0; c && i < sizeof zero / sizeof zero[0]; i++)
        if (strcmp(c, zero[i]) == 0)
            return 0;
    for (size_t i = 0; c && i < sizeof three / sizeof three[0]; i++)
        if (strcmp(c, three[i]) == 0)
            return 3;
    return 2;
}

void profile_time(int64_t ms, const char *pattern, char *out, size_t outlen)
{
    struct pe_civil c; /* not time_t: 32 bits on armhf */
    pe_time_split(ms, &c);
    size_t o = 0;
    for (const char *p = pattern; *p && o + 5 < outlen;) {
        int v = -1, w = 2;
        if (strncmp(p, "yyyy", 4) == 0)
            v = (int)c.year, w = 4, p += 4;
        else if (strncmp(p, "MM", 2) == 0)
            v = c.mon, p += 2;
        else if (strncmp(p, "dd", 2) == 0)
            v = c.day, p += 2;
        else if (strncmp(p, "HH", 2) == 0)
            v = c.hour, p += 2;
        else if (strncmp(p, "mm", 2) == 0)
            v = c.min, p += 2;
        else if (strncmp(p, "ss", 2) == 0)
            v = c.sec, p += 2;
        if (v < 0) {
            out[o++] = *p++;
            continue;
        }
        int n = snprintf(out + o, outlen - o, "%0*d", w, v);
        o += n > 0 ? (size_t)n : 0;
    }
    out[o < outlen ? o : outlen - 1] = '\0';
}
