/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridge.c - intake, acknowledgements and the drain (see bridge.h).
 *
 * Layout: per-terminal state, then the acks and the bridge's own state document, then intake
 * (MQTT message -> verify, a slice of lines at a time on the loop thread and intake_verify.c's
 * helpers together -> spool, in line order on the loop thread only, group-committed by a
 * zero-delay timer, then the acks; state
 * documents of the store's tills are forwarded to the telemetry topic), then the drain (round
 * robin over terminals, each in seq order, paced by a token bucket, bounded by the producer's
 * in-flight limit), then the delivery reports that move the delivered watermark, then
 * housekeeping and shutdown.
 *
 * The state document (docs/protocol.md, "The bridge's state") is retained on
 * posedge/v1/<store>/bridge/state and produced to the telemetry topic with the same bytes. It
 * goes out on connect, when something in it changes (at most once a second: a change only
 * plans a check) and every fleet.state_interval_s. Telemetry is best effort on a producer of
 * its own (telemetry.c), so nothing about it can hold up or fail the events' path.
 *
 * With mqtt.tls.* the bridge connects over mutual TLS; its state then carries its certificate's
 * expiry and, when it watches one, the CRL's next update (a CRL past it locks every client out
 * of the broker: warned from PE_PKI_CRL_WARN_DAYS before). With pki.dir it also signs its
 * tills' enrolments and renewals (enrol.c), on messages of this same connection.
 */
#include "bridge/bridge.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/catalog.h"
#include "bridge/catalog_store.h"
#include "bridge/dashboard.h"
#include "bridge/enrol.h"
#include "bridge/flow.h"
#include "bridge/intake_verify.h"
#include "bridge/output.h"
#include "bridge/profile.h"
#include "bridge/sigcheck.h"
#include "bridge/telemetry.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/journal.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/mqtt.h"
#include "posedge/notify.h"
#include "posedge/pki.h"
#include "posedge/prom.h"
#include "posedge/protocol.h"
#include "posedge/secret.h"
#include "posedge/spool.h"
#include "posedge/version.h"

#define MAX_TERMINALS 1024
#define DRAIN_CHUNK 512      /* rows read from the spool per terminal per turn */
#define PERSIST_MS 50        /* how often delivered watermarks are written and acked */
#define HOUSEKEEPING_MS 2000 /* prune, state, stats */
#define STATS_EVERY 5        /* housekeeping rounds between stats lines */
#define STATE_MIN_MS 1000    /* the state document goes out at most this often on change */
#define RATE_SAMPLES 32      /* delivered counts kept for the drain rate, one per housekeeping */
#define INTAKE_SLICE 256     /* lines of a message verified at once (intake_verify.c) */

struct term {
    char store[PE_ID_MAX];
    char terminal[PE_ID_MAX];
    int64_t spooled;       /* committed spooled watermark */
    int64_t produced;      /* highest seq handed to the producer */
    struct watermark done; /* contiguous delivered (done.mark), from delivery reports */
    int64_t saved;         /* delivered as written to the spool */
    int64_t acked_spooled; /* watermarks of the last ack published */
    int64_t acked_delivered;
    int64_t refused; /* a seq the producer refused (too large for Kafka): the till waits */
    bool dirty;      /* records added in the open transaction */
    struct sigcheck_till sig; /* its signing state, as of the open transaction */
    bool sig_dirty;           /* sig changed in the open transaction (saved before commit) */
    bool sig_loaded;          /* sig holds what the spool has (else it is read again first) */
};

/* What a state document says that counts as a change (everything but times and rates). */
struct state_key {
    char word[16]; /* online, spool_full, offline */
    bool kafka_known;
    bool kafka_connected;
    int brokers_up;
    int brokers;
    enum output_auth kafka_auth;
    char kafka_resource[OUTPUT_RESOURCE_MAX];
    int nterms;
    int64_t pending;
    int64_t pending_bytes;
    int64_t dead;
    int64_t sig_rejected; /* records whose signature check failed, all tills */
    bool crl_due; /* the CRL is close to (or past) its next update */
    int64_t signed_, refused; /* the enrolment signer's counts */
    uint64_t alarms; /* FNV-1a of the alarms on (which and whose) */
};

/* A till whose state document was forwarded last, and a hash of its bytes. */
struct forwarded {
    char terminal[PE_ID_MAX];
    uint64_t hash; /* FNV-1a of the document */
};

struct bridge {
    struct bridge_cfg cfg; /* copy; kafka_properties borrowed from the caller */
    struct pe_loop *loop;
    struct pe_spool *spool;
    struct pe_mqtt *mqtt;
    struct output *out;
    struct telemetry *tele;  /* state documents to Kafka, best effort */
    struct profile_set *sinks; /* the output sinks, started */
    struct profile_out pout;   /* the records of the event being produced */
    struct term terms[MAX_TERMINALS];
    int nterms;
    struct intake_verify *verify;            /* checks records on helper threads too */
    struct intake_line lines[INTAKE_SLICE]; /* the slice of a message being taken in */
    int rr;      /* round-robin start of the next drain turn */
    bool in_txn; /* an intake transaction is open */
    bool commit_planned;
    bool drain_planned;
    bool persist_planned;
    bool spool_full; /* the quota refused records: intake is not acknowledged */
    bool stopping;
    struct pace pace_ev;    /* drain pace, events/s */
    struct pace pace_bytes; /* and bytes/s */
    int64_t hk_rounds;
    char state_topic[PE_TOPIC_MAX];
    struct bridge_stats st;
    int64_t sig_rejected; /* records refused by the signature check since the start */
    int64_t dead_by[BRIDGE_DEAD__COUNT]; /* st.dead by what was wrong */
    struct pe_http *http;  /* /metrics and /health (http.listen), NULL when off */
    struct dashboard *dash; /* the tills' documents, the day's sales, the alarms */
    int64_t mqtt_down_mono; /* when MQTT went down (monotonic), 0 while connected */

    /* the state document */
    int64_t started_ms;          /* wall clock at create */
    int64_t started_mono;        /* monotonic clock at create */
    int64_t last_ok_ms;          /* wall clock of the last delivery report / commit, 0: none */
    bool state_planned;          /* a change check is pending */
    int64_t state_timer;         /* the periodic document's timer, 0 when none */
    int64_t state_sent_mono;     /* when the last document went out (monotonic) */
    struct state_key state_sent; /* what it said */
    struct {
        int64_t mono_ms;   /* when the sample was taken */
        int64_t delivered; /* st.delivered then */
    } rate[RATE_SAMPLES];  /* ring, newest at rate_next - 1 */
    int rate_next, rate_n;
    struct forwarded fwd[MAX_TERMINALS]; /* last forwarded till documents, for duplicates */
    int nfwd;
    struct bridge_enrol *enrol; /* the enrolment signer (pki.dir), NULL when none */
    struct catalog *catalog;    /* the store catalog from HQ (catalog.enabled), NULL when off */
    bool crl_due;               /* the CRL is close to its next update (crl_watch) */
    bool crl_read;              /* crl holds the CRL as last read, else crl_err says why */
    struct pe_pki_crl_info crl;
    char crl_err[PE_PKI_ERRLEN];
};

static void plan_drain(struct bridge *b, int64_t delay_ms);
static void plan_persist(struct bridge *b);

/* ---- terminals ---- */

/* The spool's metadata key of a till's signing state (sigcheck.h). */
static void sig_key(const struct term *t, char *out, size_t len)
{
    snprintf(out, len, "sig/%s/%s", t->store, t->terminal);
}

/* The till's signing state as the spool last committed it (none: a till never seen signing).
 * When it cannot be read now (out of memory, an I/O error) t->sig_loaded stays false: its
 * records are then not taken in (the till sends them again) until a later load works, since
 * judging them by an empty state would pass them unverified and save the empty state over
 * the key the spool holds. */
static int sig_load(struct bridge *b, struct term *t)
{
    char key[2 * PE_ID_MAX + 8], why[120];
    char *doc = NULL;
    sig_key(t, key, sizeof key);
    sigcheck_till_clear(&t->sig);
    t->sig_dirty = false;
    t->sig_loaded = false;
    int rc = pe_spool_meta_get(b->spool, key, &doc);
    if (rc == PE_OK)
        rc = sigcheck_till_load(&t->sig, doc, why, sizeof why);
    free(doc);
    if (rc == PE_EPARSE)
        pe_error("bridge.sig_state", "store=%s terminal=%s err=%s why=\"%s\" (its key is known "
                 "again at its next signer_installed)", t->store, t->terminal, pe_errname(rc),
                 why);
    else if (rc && rc != PE_ENOTFOUND) {
        pe_error("bridge.sig_state", "store=%s terminal=%s err=%s (its records wait)", t->store,
                 t->terminal, pe_errname(rc));
        sigcheck_till_clear(&t->sig);
        return rc;
    }
    t->sig_loaded = true;
    return PE_OK;
}

static struct term *term_find(struct bridge *b, const char *store, const char *terminal,
                              bool create)
{
    for (int i = 0; i < b->nterms; i++)
        if (strcmp(b->terms[i].terminal, terminal) == 0 && strcmp(b->terms[i].store, store) == 0)
            return &b->terms[i];
    if (!create || b->nterms == MAX_TERMINALS)
        return NULL;
    struct term *t = &b->terms[b->nterms++];
    memset(t, 0, sizeof *t);
    snprintf(t->store, sizeof t->store, "%s", store);
    snprintf(t->terminal, sizeof t->terminal, "%s", terminal);
    struct pe_spool_terminal st;
    if (pe_spool_terminal(b->spool, store, terminal, &st) == PE_OK) {
        t->spooled = st.spooled;
        t->saved = t->produced = st.delivered;
        wm_init(&t->done, st.delivered);
    }
    t->acked_spooled = t->acked_delivered = -1;
    sig_load(b, t); /* when it fails, it is tried again at the till's next record */
    return t;
}

static int load_term(const struct pe_spool_terminal *st, void *ctx)
{
    term_find(ctx, st->store, st->terminal, true);
    return 0;
}

/* ---- acknowledgements and state ---- */

static void publish_ack(struct bridge *b, struct term *t)
{
    if (t->spooled == t->acked_spooled && t->done.mark == t->acked_delivered)
        return;
    char topic[PE_TOPIC_MAX], payload[96];
    if (pe_topic(topic, sizeof topic, t->store, t->terminal, PE_CH_ACK, NULL) != PE_OK)
        return;
    int n = snprintf(payload, sizeof payload, "{\"spooled\":%lld,\"delivered\":%lld}",
                     (long long)t->spooled, (long long)t->done.mark);
    if (pe_mqtt_publish(b->mqtt, topic, payload, (size_t)n, 1, true, NULL) == PE_OK) {
        t->acked_spooled = t->spooled;
        t->acked_delivered = t->done.mark;
    }
}

static const char *state_word(const struct bridge *b)
{
    return b->stopping ? "offline" : b->spool_full ? "spool_full" : "online";
}

/* The store's alarms now (dashboard.c judges them), into out (DASHBOARD_ALARMS_MAX). */
static int bridge_alarms(const struct bridge *b, const struct output_kafka *k, int64_t now_ms,
                         struct dashboard_alarm_on *out)
{
    static char names[MAX_TERMINALS][PE_ID_MAX];
    static int64_t oldest[MAX_TERMINALS];
    struct dashboard_bridge db = {
        .kafka_refused = k->auth != OUTPUT_AUTH_OK ? output_auth_name(k->auth) : NULL,
        .spool_quota_bytes = b->cfg.spool_max_mb * 1024 * 1024,
        .cert_days_left = INT64_MAX,
        .crl_due = b->crl_due,
        .crl_days_left = b->crl_read ? pe_pki_days_left(b->crl.next_update_ms, now_ms) : -1,
        .terms = names,
        .oldest_pending_ms = oldest,
    };
    struct pe_spool_stats ss = {0};
    pe_spool_stats(b->spool, &ss);
    db.spool_bytes = ss.pending_bytes;
    for (int i = 0; ss.pending > 0 && i < b->nterms; i++) {
        struct pe_spool_terminal st;
        if (pe_spool_terminal(b->spool, b->terms[i].store, b->terms[i].terminal, &st) != PE_OK)
            continue;
        memcpy(names[db.nterms], b->terms[i].terminal, PE_ID_MAX);
        oldest[db.nterms++] = st.oldest_pending_ts_ms;
    }
    struct pe_pki_cert_info ci;
    char err[PE_PKI_ERRLEN];
    if (b->cfg.mqtt_tls_cert_file[0] &&
        pe_pki_cert_info_file(b->cfg.mqtt_tls_cert_file, &ci, err, sizeof err) == PE_OK)
        db.cert_days_left = pe_pki_days_left(ci.not_after_ms, now_ms);
    return dashboard_alarms(b->dash, &db, now_ms, out, DASHBOARD_ALARMS_MAX);
}

static uint64_t alarms_hash(const struct dashboard_alarm_on *a, int n)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < n; i++) {
        h = (h ^ (uint64_t)a[i].alarm) * 1099511628211ULL;
        for (const char *c = a[i].terminal; *c; c++)
            h = (h ^ (uint8_t)*c) * 1099511628211ULL;
    }
    return h;
}

static void state_key(const struct bridge *b, const char *word, const struct pe_spool_stats *ss,
                      const struct output_kafka *k, struct state_key *out)
{
    memset(out, 0, sizeof *out); /* compared with memcmp: padding too */
    snprintf(out->word, sizeof out->word, "%s", word);
    out->kafka_known = k->known;
    out->kafka_connected = k->connected;
    out->brokers_up = k->brokers_up;
    out->brokers = k->brokers;
    out->kafka_auth = k->auth;
    snprintf(out->kafka_resource, sizeof out->kafka_resource, "%s", k->resource);
    out->nterms = b->nterms;
    out->pending = ss->pending;
    out->pending_bytes = ss->pending_bytes;
    out->dead = b->st.dead;
    out->sig_rejected = b->sig_rejected;
    out->crl_due = b->crl_due;
    bridge_enrol_counts(b->enrol, &out->signed_, &out->refused);
    static struct dashboard_alarm_on on[DASHBOARD_ALARMS_MAX];
    out->alarms = alarms_hash(on, bridge_alarms(b, k, pe_time_now_ms(), on));
}

/* Records per second Kafka took over the last fleet.state_interval_s (at least the last
 * housekeeping round, at most what the samples cover). */
static double drain_rate(const struct bridge *b, int64_t now)
{
    int64_t window = b->cfg.state_interval_s * 1000;
    if (window < HOUSEKEEPING_MS)
        window = HOUSEKEEPING_MS;
    /* From the newest sample at least a window old; else the oldest point known: the start
     * while the ring has not wrapped, its oldest sample once it has. */
    int64_t at = b->started_mono, delivered = 0;
    bool found = false;
    for (int i = 1; i <= b->rate_n && !found; i++) {
        int k = (b->rate_next - i + RATE_SAMPLES) % RATE_SAMPLES;
        found = now - b->rate[k].mono_ms >= window || (i == RATE_SAMPLES);
        if (found) {
            at = b->rate[k].mono_ms;
            delivered = b->rate[k].delivered;
        }
    }
    if (now - at < 100)
        return 0;
    double r = (double)(b->st.delivered - delivered) * 1000.0 / (double)(now - at);
    return (double)llround(r * 10) / 10;
}

static void add_time(cJSON *o, const char *key, int64_t ms)
{
    char ts[PE_TIME_STRLEN];
    if (ms <= 0) {
        cJSON_AddNullToObject(o, key);
        return;
    }
    pe_time_format(ms, ts);
    cJSON_AddStringToObject(o, key, ts);
}

/* "cert": the bridge's own certificate (the file as it is now), with mutual TLS only. */
static void add_cert(const struct bridge *b, cJSON *d, int64_t now_ms)
{
    struct pe_pki_cert_info ci;
    char err[PE_PKI_ERRLEN];
    if (!b->cfg.mqtt_tls_cert_file[0])
        return;
    cJSON *c = cJSON_AddObjectToObject(d, "cert");
    if (!c)
        return;
    if (pe_pki_cert_info_file(b->cfg.mqtt_tls_cert_file, &ci, err, sizeof err) != PE_OK) {
        cJSON_AddStringToObject(c, "error", err);
        return;
    }
    cJSON_AddStringToObject(c, "cn", ci.cn);
    cJSON_AddStringToObject(c, "serial", ci.serial);
    add_time(c, "not_after", ci.not_after_ms);
    pe_json_add_int(c, "days_left", pe_pki_days_left(ci.not_after_ms, now_ms));
}

/* Look at the CRL the broker serves (every housekeeping round): crl_due when its next update
 * is less than PE_PKI_CRL_WARN_DAYS away (or it cannot be read), said once per change: past
 * it the broker refuses every client. */
static void crl_watch(struct bridge *b, int64_t now_ms)
{
    char path[BRIDGE_PATH_MAX + 16];
    if (!bridge_cfg_crl(&b->cfg, path, sizeof path))
        return;
    b->crl_read = pe_pki_crl_info_file(path, &b->crl, b->crl_err, sizeof b->crl_err) == PE_OK;
    int64_t left = b->crl_read ? pe_pki_days_left(b->crl.next_update_ms, now_ms) : -1;
    bool due = !b->crl_read ||
               b->crl.next_update_ms - now_ms < (int64_t)PE_PKI_CRL_WARN_DAYS * 86400000;
    if (due && !b->crl_due)
        pe_warn("bridge.crl_due",
                "crl=%s days_left=%lld%s%s: renew it now (posedge-ctl pki crl --dir DIR --out "
                "FILE, then reload the broker); past its next update the broker refuses every "
                "client",
                path, (long long)left, b->crl_read ? "" : " err=", b->crl_read ? "" : b->crl_err);
    else if (!due && b->crl_due)
        pe_info("bridge.crl_ok", "crl=%s days_left=%lld", path, (long long)left);
    b->crl_due = due;
}

/* "crl": the CRL the broker serves and its next update, when one is watched. */
static void add_crl(struct bridge *b, cJSON *d, int64_t now_ms)
{
    char path[BRIDGE_PATH_MAX + 16];
    if (!bridge_cfg_crl(&b->cfg, path, sizeof path))
        return;
    cJSON *c = cJSON_AddObjectToObject(d, "crl");
    if (!c)
        return;
    cJSON_AddStringToObject(c, "file", path);
    if (!b->crl_read) {
        cJSON_AddStringToObject(c, "error", b->crl_err);
    } else {
        add_time(c, "next_update", b->crl.next_update_ms);
        pe_json_add_int(c, "days_left", pe_pki_days_left(b->crl.next_update_ms, now_ms));
    }
    cJSON_AddBoolToObject(c, "warning", b->crl_due);
}

/* "signing": the tills' signatures as checked at intake, totals over the tills the bridge
 * knows, and each till whose records were refused with its count and last reason. */
static void add_signing(const struct bridge *b, cJSON *d)
{
    cJSON *s = cJSON_AddObjectToObject(d, "signing");
    if (!s)
        return;
    int64_t verified = 0, unsigned_ = 0, unverified = 0, rejected = 0, keyed = 0;
    cJSON *tills = cJSON_CreateArray();
    for (int i = 0; i < b->nterms; i++) {
        const struct term *t = &b->terms[i];
        verified += t->sig.verified;
        unsigned_ += t->sig.unsigned_;
        unverified += t->sig.unverified;
        rejected += t->sig.rejected;
        keyed += t->sig.pub != NULL;
        if (!t->sig.rejected || !tills)
            continue;
        cJSON *o = cJSON_CreateObject();
        if (!o)
            continue;
        cJSON_AddStringToObject(o, "terminal", t->terminal);
        pe_json_add_int(o, "rejected", t->sig.rejected);
        cJSON_AddStringToObject(o, "last_reason", t->sig.last_reason);
        pe_json_add_int(o, "last_seq", t->sig.last_seq);
        cJSON_AddItemToArray(tills, o);
    }
    pe_json_add_int(s, "keyed", keyed);
    pe_json_add_int(s, "verified", verified);
    pe_json_add_int(s, "unsigned", unsigned_);
    pe_json_add_int(s, "unverified", unverified);
    pe_json_add_int(s, "rejected", rejected);
    if (tills)
        cJSON_AddItemToObject(s, "rejected_tills", tills);
}

/* The bridge's state document (docs/protocol.md, "The bridge's state"), malloc'd. */
static cJSON *state_obj(struct bridge *b, const char *word, const struct pe_spool_stats *ss,
                        const struct output_kafka *k, int64_t now_ms, int64_t now_mono)
{
    int64_t oldest = 0;
    for (int i = 0; ss->pending > 0 && i < b->nterms; i++) {
        struct pe_spool_terminal st;
        if (pe_spool_terminal(b->spool, b->terms[i].store, b->terms[i].terminal, &st) == PE_OK &&
            st.oldest_pending_ts_ms > 0 && (oldest == 0 || st.oldest_pending_ts_ms < oldest))
            oldest = st.oldest_pending_ts_ms;
    }
    cJSON *d = cJSON_CreateObject();
    if (!d)
        return NULL;
    cJSON_AddStringToObject(d, "state", word);
    add_time(d, "ts", now_ms);
    cJSON_AddStringToObject(d, "version", pe_version());
    cJSON_AddStringToObject(d, "board", pe_board());
    cJSON_AddStringToObject(d, "store", b->cfg.store);
    cJSON_AddStringToObject(d, "terminal", PE_ID_BRIDGE);
    cJSON_AddStringToObject(d, "bridge", bridge_cfg_id(&b->cfg));
    add_time(d, "started", b->started_ms);
    pe_json_add_int(d, "uptime_s", (now_mono - b->started_mono) / 1000);
    cJSON *kafka = cJSON_AddObjectToObject(d, "kafka");
    if (kafka) {
        cJSON_AddStringToObject(kafka, "mode", b->cfg.kafka_mode);
        if (k->known)
            cJSON_AddBoolToObject(kafka, "connected", k->connected);
        else
            cJSON_AddNullToObject(kafka, "connected");
        pe_json_add_int(kafka, "brokers_up", k->brokers_up);
        pe_json_add_int(kafka, "brokers", k->brokers);
        add_time(kafka, "last_delivered_ts", b->last_ok_ms);
        cJSON_AddStringToObject(kafka, "auth", output_auth_name(k->auth));
        if (k->resource[0])
            cJSON_AddStringToObject(kafka, "refused", k->resource);
        else
            cJSON_AddNullToObject(kafka, "refused");
    }
    pe_json_add_int(d, "pending", ss->pending);
    pe_json_add_int(d, "spooled_bytes", ss->pending_bytes);
    add_time(d, "oldest_pending_ts", oldest);
    if (oldest > 0)
        cJSON_AddNumberToObject(d, "oldest_pending_age_s",
                                (double)llround((double)(now_ms - oldest) / 100) / 10);
    else
        cJSON_AddNullToObject(d, "oldest_pending_age_s");
    cJSON_AddNumberToObject(d, "drain_eps", drain_rate(b, now_mono));
    cJSON *quota = cJSON_AddObjectToObject(d, "quota");
    cJSON *ev = quota ? cJSON_AddObjectToObject(quota, "events") : NULL;
    cJSON *tm = quota ? cJSON_AddObjectToObject(quota, "telemetry") : NULL;
    if (ev && tm) {
        pe_json_add_int(ev, "used_bytes", ss->pending_bytes);
        pe_json_add_int(ev, "limit_bytes", b->cfg.spool_max_mb * 1024 * 1024);
        pe_json_add_int(tm, "used_bytes", 0); /* never stored: forwarded best effort */
        pe_json_add_int(tm, "limit_bytes", 0);
    }
    pe_json_add_int(d, "terminals", b->nterms);
    pe_json_add_int(d, "dead", b->st.dead);
    pe_json_add_int(d, "events_format", PE_EVENTS_FORMAT);
    add_signing(b, d);
    add_cert(b, d, now_ms);
    add_crl(b, d, now_ms);
    if (b->enrol)
        bridge_enrol_state(b->enrol, d);
    static struct dashboard_alarm_on on[DASHBOARD_ALARMS_MAX];
    cJSON *alarms = dashboard_alarms_json(on, bridge_alarms(b, k, now_ms, on));
    if (alarms && !cJSON_AddItemToObject(d, "alarms", alarms))
        cJSON_Delete(alarms);
    return d;
}

static char *state_doc(struct bridge *b, const char *word, const struct pe_spool_stats *ss,
                       const struct output_kafka *k, int64_t now_ms, int64_t now_mono)
{
    cJSON *d = state_obj(b, word, ss, k, now_ms, now_mono);
    char *s = d ? cJSON_PrintUnformatted(d) : NULL;
    cJSON_Delete(d);
    return s;
}

static void state_tick(void *ctx);

/* Publish the state document now: retained on MQTT, to the telemetry topic, and a line for
 * systemd. Best effort everywhere (MQTT may be down; Kafka may be). The periodic document is
 * due fleet.state_interval_s after this one, whatever made this one go out. */
static void publish_state(struct bridge *b, const char *word)
{
    struct pe_spool_stats ss = {0};
    struct output_kafka k;
    pe_spool_stats(b->spool, &ss);
    output_kafka_state(b->out, &k);
    int64_t now_ms = pe_time_now_ms(), now_mono = pe_mono_ms();
    char *doc = state_doc(b, word, &ss, &k, now_ms, now_mono);
    if (!doc) {
        pe_error("bridge.state", "err=ENOMEM");
        return;
    }
    size_t len = strlen(doc);
    pe_mqtt_publish(b->mqtt, b->state_topic, doc, len, 1, true, NULL);
    char key[2 * PE_ID_MAX + 8];
    snprintf(key, sizeof key, "%s/%s", b->cfg.store, PE_ID_BRIDGE);
    telemetry_produce(b->tele, b->cfg.telemetry_topic, key, doc, len, now_ms, "state");
    free(doc);
    char status[200];
    snprintf(status, sizeof status,
             "STATUS=%s: %d terminals, %lld pending, Kafka %s (%d/%d brokers up)", word, b->nterms,
             (long long)ss.pending,
             !k.known      ? "not known yet"
             : k.connected ? "connected"
                           : "not connected",
             k.brokers_up, k.brokers);
    pe_notify(status);
    state_key(b, word, &ss, &k, &b->state_sent);
    b->state_sent_mono = now_mono;
    if (b->state_timer)
        pe_loop_timer_cancel(b->loop, b->state_timer);
    b->state_timer = 0;
    if (!b->stopping)
        pe_loop_timer(b->loop, b->cfg.state_interval_s * 1000, state_tick, b, &b->state_timer);
}

/* Publish when something the document says has changed since the last one. */
static void state_check(void *ctx)
{
    struct bridge *b = ctx;
    b->state_planned = false;
    if (b->stopping)
        return;
    struct pe_spool_stats ss = {0};
    struct output_kafka k;
    struct state_key now;
    pe_spool_stats(b->spool, &ss);
    output_kafka_state(b->out, &k);
    state_key(b, state_word(b), &ss, &k, &now);
    if (memcmp(&now, &b->state_sent, sizeof now) != 0)
        publish_state(b, state_word(b));
}

/* Something may have changed: check at once, or a second after the last document. */
static void plan_state(struct bridge *b)
{
    if (b->state_planned || b->stopping)
        return;
    int64_t wait = b->state_sent_mono + STATE_MIN_MS - pe_mono_ms();
    if (pe_loop_timer(b->loop, wait > 0 ? wait : 0, state_check, b, NULL) == PE_OK)
        b->state_planned = true;
}

/* The periodic document, whether anything changed or not (publish_state arms the next). */
static void state_tick(void *ctx)
{
    struct bridge *b = ctx;
    b->state_timer = 0;
    if (!b->stopping)
        publish_state(b, state_word(b));
}

/* ---- intake ---- */

static void dead_letter(struct bridge *b, enum bridge_dead cls, const char *topic,
                        const void *data, size_t len, const char *reason)
{
    b->st.dead++;
    b->dead_by[cls]++;
    pe_warn("bridge.dead_letter", "topic=%s bytes=%zu reason=\"%s\"", topic, len, reason);
    int rc = output_produce_dlq(b->out, b->cfg.topic_dlq, data, len, reason, topic);
    if (rc)
        pe_error("bridge.dead_letter_lost", "err=%s reason=\"%s\"", pe_errname(rc), reason);
}

/* Every till's signing state changed in the open transaction, into it: the spool then holds
 * the records and the state that judged them, or neither. */
static int save_sigs(struct bridge *b)
{
    int64_t now = pe_time_now_ms();
    for (int i = 0; i < b->nterms; i++) {
        struct term *t = &b->terms[i];
        if (!t->sig_dirty)
            continue;
        char key[2 * PE_ID_MAX + 8], *doc = NULL;
        sig_key(t, key, sizeof key);
        int rc = sigcheck_till_save(&t->sig, &doc);
        if (rc == PE_OK)
            rc = pe_spool_meta_set(b->spool, key, doc, now);
        free(doc);
        if (rc)
            return rc;
    }
    return PE_OK;
}

static void commit_now(void *ctx)
{
    struct bridge *b = ctx;
    b->commit_planned = false;
    if (!b->in_txn)
        return;
    b->in_txn = false;
    int rc = save_sigs(b);
    if (rc)
        pe_spool_rollback(b->spool);
    else
        rc = pe_spool_commit(b->spool);
    for (int i = 0; i < b->nterms; i++) {
        struct term *t = &b->terms[i];
        if (t->sig_dirty) {
            if (rc)
                sig_load(b, t); /* back to what the spool holds */
            t->sig_dirty = false;
        }
        if (!t->dirty)
            continue;
        t->dirty = false;
        struct pe_spool_terminal st;
        if (pe_spool_terminal(b->spool, t->store, t->terminal, &st) == PE_OK)
            t->spooled = st.spooled;
        /* Persist first, then acknowledge: the ack names only committed records. */
        if (rc == PE_OK)
            publish_ack(b, t);
    }
    if (rc) {
        pe_error("bridge.spool_commit_failed", "err=%s (the tills will send again)",
                 pe_errname(rc));
        return;
    }
    plan_drain(b, 0);
    plan_state(b);
}

static void open_txn(struct bridge *b)
{
    if (b->in_txn)
        return;
    int rc = pe_spool_begin(b->spool);
    if (rc) {
        pe_error("bridge.spool_begin_failed", "err=%s", pe_errname(rc));
        return;
    }
    b->in_txn = true;
    if (!b->commit_planned) {
        /* Group commit: every message read in this loop round shares one transaction. */
        b->commit_planned = true;
        pe_loop_timer(b->loop, 0, commit_now, b, NULL);
    }
}

/* Judge the record's signature when it is the till's next one (a duplicate or a gap is not
 * stored, and never judged twice); *checked says it was, and rejected (when not NULL) why it
 * goes to the dead-letter topic instead of the fiscal ones. */
static int check_sig(struct bridge *b, struct term *t, const struct pe_event_meta *m,
                     const char *prev, const char *hash, const cJSON *rec, const char *sig,
                     size_t siglen, struct sigcheck_verdict *v, bool *checked)
{
    int64_t spooled = 0;
    char tail[PE_SHA256_HEXLEN];
    *checked = false;
    memset(v, 0, sizeof *v);
    if (pe_spool_next(b->spool, t->store, t->terminal, &spooled, tail) != PE_OK ||
        m->seq != spooled + 1 || !prev || strcmp(prev, tail) != 0)
        return PE_OK;
    int rc = sigcheck_record(&t->sig, m->seq, pe_event_type_name(m->type), rec, hash, sig,
                             siglen, v);
    *checked = rc == PE_OK;
    return rc;
}

/* One verified line (intake_verify.c): the record (l->rec, l->len) and its signature (l->sig,
 * l->siglen; NULL: none) after the tab that follows it. A dead letter made here carries the
 * whole line as it came. */
static void intake_record(struct bridge *b, const char *topic, const char *store,
                          const char *terminal, struct intake_line *l)
{
    const char *line = l->rec, *sig = l->sig;
    size_t len = l->len, siglen = l->siglen;
    const struct pe_event_meta m = l->m;
    const char *hash = l->hash, *why = l->why;
    char reason[320];
    cJSON *rec = l->root;
    const char *prev = NULL;
    size_t whole = sig ? (size_t)(sig + siglen - line) : len;
    b->st.received++;
    int rc = l->rc;
    if (rc == PE_ENOMEM) {
        /* No verdict on the record: it is not stored nor acknowledged, so the till sends it
         * again (go-back-N). */
        pe_error("bridge.intake_failed", "err=%s (the till sends it again)", pe_errname(rc));
        goto done;
    }
    if (rc) {
        dead_letter(b, BRIDGE_DEAD_INVALID, topic, line, whole, why);
        goto done;
    }
    if (strcmp(m.store, store) != 0 || strcmp(m.terminal, terminal) != 0) {
        snprintf(reason, sizeof reason, "seq %lld: record of %s/%s on the topic of %s/%s",
                 (long long)m.seq, m.store, m.terminal, store, terminal);
        dead_letter(b, BRIDGE_DEAD_WRONG_TERMINAL, topic, line, whole, reason);
        goto done;
    }
    pe_json_get_str(rec, "prev", &prev);
    struct term *t = term_find(b, store, terminal, true);
    if (!t) {
        dead_letter(b, BRIDGE_DEAD_TOO_MANY_TERMINALS, topic, line, whole,
                    "too many terminals for one bridge");
        goto done;
    }
    open_txn(b);
    if (!b->in_txn)
        goto done;
    if (!t->sig_loaded && (rc = sig_load(b, t)) != PE_OK) {
        pe_error("bridge.sig_state_unread", "err=%s (the till sends it again)", pe_errname(rc));
        goto done;
    }
    struct sigcheck_verdict v;
    bool checked = false;
    if ((rc = check_sig(b, t, &m, prev, hash, rec, sig, siglen, &v, &checked)) != PE_OK) {
        pe_error("bridge.sig_check_failed", "err=%s (the till sends it again)", pe_errname(rc));
        goto done;
    }
    const char *rejected = checked && v.reason != SIGCHECK_OK ? v.why : NULL;
    rc = pe_spool_add_signed(b->spool, &m, prev, hash, line, len, sig, siglen, rejected);
    if (rc == PE_OK && checked) {
        sigcheck_apply(&t->sig, m.seq, &v);
        t->sig_dirty = true;
        if (rejected) {
            b->sig_rejected++;
            pe_warn("bridge.sig_rejected",
                    "store=%s terminal=%s seq=%lld reason=\"%s\" (stored and acknowledged; it goes "
                    "to %s, never to the fiscal topics)",
                    store, terminal, (long long)m.seq, rejected, b->cfg.topic_dlq);
            plan_state(b);
        }
    }
    sigcheck_verdict_free(&v);
    switch (rc) {
    case PE_OK:
        b->st.stored++;
        t->dirty = true;
        dashboard_event(b->dash, &m, rec);
        break;
    case PE_EEXIST:
        b->st.duplicates++;
        t->dirty = true; /* ack again: the till may have missed the last one */
        t->acked_spooled = -1;
        break;
    case PE_EAGAIN:
        b->st.gaps++;
        /* Ack again: a till whose last ack came from a spool that was since lost or rebuilt
         * learns where to resume (one ack per group commit, however many records). */
        t->dirty = true;
        t->acked_spooled = -1;
        break;
    case PE_ECHAIN:
        snprintf(reason, sizeof reason,
                 "seq %lld: does not continue the spooled chain of %s/%s (seq regression or "
                 "broken prev)",
                 (long long)m.seq, store, terminal);
        dead_letter(b, BRIDGE_DEAD_CHAIN, topic, line, whole, reason);
        break;
    case PE_EFULL:
        b->st.full++;
        if (!b->spool_full) {
            b->spool_full = true;
            pe_error("bridge.spool_full",
                     "quota_mb=%lld: not acknowledging new events; the "
                     "tills keep them until Kafka drains the spool",
                     (long long)b->cfg.spool_max_mb);
            plan_state(b);
        }
        break;
    default:
        pe_error("bridge.spool_add_failed", "err=%s", pe_errname(rc));
        break;
    }
done:
    intake_line_free(l);
}

static uint64_t fnv1a(const void *p, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ ((const unsigned char *)p)[i]) * 1099511628211ULL;
    return h;
}

/* True when this document is the one last forwarded for the terminal (a retained document
 * the broker hands out again at every subscription); else remembers it. */
static bool forwarded_before(struct bridge *b, const char *terminal, const void *doc, size_t len)
{
    uint64_t h = fnv1a(doc, len);
    for (int i = 0; i < b->nfwd; i++) {
        if (strcmp(b->fwd[i].terminal, terminal) == 0) {
            bool same = b->fwd[i].hash == h;
            b->fwd[i].hash = h;
            return same;
        }
    }
    if (b->nfwd < MAX_TERMINALS) {
        struct forwarded *f = &b->fwd[b->nfwd++];
        snprintf(f->terminal, sizeof f->terminal, "%s", terminal);
        f->hash = h;
    }
    return false;
}

/* A till's state document: to the telemetry topic, bytes as received, at its own time. */
static void forward_state(struct bridge *b, const char *terminal, const void *payload, size_t len)
{
    if (len == 0)
        return; /* a cleared retained topic */
    if (pe_id_reserved(terminal))
        return; /* ours go to Kafka as they are published (this may be a predecessor's will) */
    if ((int64_t)len > b->cfg.max_payload) {
        pe_warn("bridge.state_refused", "terminal=%s bytes=%zu reason=\"over intake.max_payload\"",
                terminal, len);
        return;
    }
    cJSON *doc = NULL;
    char why[128];
    if (pe_json_parse(payload, len, &doc, why, sizeof why) != PE_OK || !cJSON_IsObject(doc)) {
        pe_warn("bridge.state_refused", "terminal=%s bytes=%zu reason=\"not a JSON object\"",
                terminal, len);
        cJSON_Delete(doc);
        return;
    }
    /* Event time when the document says it (a bare last will does not): else sending time. */
    const char *ts = NULL;
    int64_t ts_ms = 0;
    if (pe_json_get_str(doc, "ts", &ts) != PE_OK || pe_time_parse(ts, &ts_ms) != PE_OK)
        ts_ms = 0;
    dashboard_till_state(b->dash, terminal, doc);
    cJSON_Delete(doc);
    plan_state(b); /* its alarms may have changed */
    if (forwarded_before(b, terminal, payload, len))
        return;
    char key[2 * PE_ID_MAX + 2];
    snprintf(key, sizeof key, "%s/%s", b->cfg.store, terminal);
    telemetry_produce(b->tele, b->cfg.telemetry_topic, key, payload, len, ts_ms, "state");
}

static void on_message(void *ctx, const char *topic, const void *payload, size_t len, bool retained)
{
    struct bridge *b = ctx;
    (void)retained;
    if (b->stopping)
        return;
    char store[PE_ID_MAX], terminal[PE_ID_MAX], reason[128];
    enum pe_channel ch;
    const char *rest = NULL;
    bool ours = pe_topic_parse(topic, store, terminal, &ch, &rest) == PE_OK && !*rest &&
                strcmp(store, b->cfg.store) == 0;
    if (ours && ch == PE_CH_STATE) {
        forward_state(b, terminal, payload, len);
        return;
    }
    if (ours && catalog_message(b->catalog, terminal, ch, payload, len))
        return;
    if (ours && bridge_enrol_message(b->enrol, b->mqtt, terminal, ch, payload, len))
        return;
    if (!ours || ch != PE_CH_EVENTS) {
        dead_letter(b, BRIDGE_DEAD_FOREIGN_TOPIC, topic, payload, len,
                    "topic outside this bridge's store events");
        return;
    }
    if ((int64_t)len > b->cfg.max_payload) {
        snprintf(reason, sizeof reason, "payload of %zu bytes over intake.max_payload %lld", len,
                 (long long)b->cfg.max_payload);
        dead_letter(b, BRIDGE_DEAD_OVERSIZED, topic, payload, len, reason);
        return;
    }
    /* A line is a record, or a record, a tab and its signature (docs/protocol.md, "Event
     * lines"): a canonical record never holds a raw tab. */
    const char *p = payload, *end = p + len;
    struct pe_events_line l;
    bool more = true;
    while (more) {
        /* The lines of the message in slices of INTAKE_SLICE: all of a slice verified at once
         * (on the helpers too), then taken in, in order, here. */
        size_t n = 0;
        while (n < INTAKE_SLICE && (more = pe_events_next_line(&p, end, &l)))
            b->lines[n++] = (struct intake_line){.rec = l.rec, .len = l.len, .sig = l.sig,
                                                 .siglen = l.siglen, .bare_tab = l.bare_tab};
        intake_verify_run(b->verify, b->lines, n);
        for (size_t i = 0; i < n; i++) {
            if (b->lines[i].bare_tab)
                dead_letter(b, BRIDGE_DEAD_BARE_TAB, topic, b->lines[i].rec, b->lines[i].len,
                            "a tab without a signature after it");
            else
                intake_record(b, topic, store, terminal, &b->lines[i]);
        }
    }
}

static void on_connect(void *ctx, bool session_present)
{
    struct bridge *b = ctx;
    b->mqtt_down_mono = 0;
    /* Every store's events: another store's on this broker are dead letters, not ignored. */
    char pattern[PE_TOPIC_MAX], states[PE_TOPIC_MAX];
    pe_topic(pattern, sizeof pattern, PE_TOPIC_ANY, PE_TOPIC_ANY, PE_CH_EVENTS, NULL);
    pe_topic(states, sizeof states, b->cfg.store, PE_TOPIC_ANY, PE_CH_STATE, NULL);
    pe_mqtt_subscribe(b->mqtt, pattern, 1);
    pe_mqtt_subscribe(b->mqtt, states, 1);
    pe_info("bridge.mqtt_connected", "session_present=%d subscribe=%s,%s", session_present, pattern,
            states);
    bridge_enrol_subscribe(b->enrol, b->mqtt);
    catalog_connected(b->catalog);
    publish_state(b, state_word(b));
    for (int i = 0; i < b->nterms; i++) {
        b->terms[i].acked_spooled = -1; /* re-publish every ack after a reconnect */
        publish_ack(b, &b->terms[i]);
    }
}

static void on_disconnect(void *ctx, int reason)
{
    struct bridge *b = ctx;
    if (!b->mqtt_down_mono)
        b->mqtt_down_mono = pe_mono_ms();
    pe_warn("bridge.mqtt_disconnected", "reason=%d", reason);
}

/* ---- drain ---- */

struct turn {
    struct bridge *b;
    struct term *t;
    int64_t budget_ev;
    int64_t budget_bytes;
    bool blocked; /* the producer refused (in-flight limit) */
};

static int produce_row(const struct pe_spool_row *r, void *ctx)
{
    struct turn *u = ctx;
    if (u->budget_ev <= 0 || u->budget_bytes <= 0)
        return 1;
    if (r->seq > u->t->done.mark + WM_WINDOW) {
        u->blocked = true; /* its delivery reports will make room */
        return 1;
    }
    struct output_ref ref = {.seq = r->seq};
    snprintf(ref.store, sizeof ref.store, "%s", r->store);
    snprintf(ref.terminal, sizeof ref.terminal, "%s", r->terminal);
    /* Every sink's records of this event, produced (and committed) as one unit. */
    struct profile_event ev = {
        .store = r->store,
        .terminal = r->terminal,
        .id = r->id,
        .type = r->type,
        .seq = r->seq,
        .ts_ms = r->ts_ms,
        .rec = r->record,
        .len = r->len,
        .sig = r->sig,
        .rejected = r->rejected,
    };
    int rc = profile_map_event(u->b->sinks, &ev, pe_time_now_ms(), &u->b->pout);
    if (rc == PE_OK)
        rc = output_produce_event(u->b->out, &ref, r->hash, u->b->pout.recs, u->b->pout.n);
    if (rc == PE_ENOMEM)
        rc = PE_EAGAIN; /* tried again on the next turn */
    else if (rc == PE_OK) {
        u->b->st.dead += u->b->pout.dead;
        u->b->dead_by[r->rejected ? BRIDGE_DEAD_SIGNATURE : BRIDGE_DEAD_PROFILE] +=
            u->b->pout.dead;
    }
    profile_out_reset(&u->b->pout);
    if (rc == PE_EAGAIN) {
        u->blocked = true;
        return 1;
    }
    if (rc) {
        /* Never dropped (it is a journaled event), never in the way of the other tills: this
         * till waits at this record until the configuration lets Kafka take it. */
        if (u->t->refused != r->seq)
            pe_error("bridge.produce_refused",
                     "store=%s terminal=%s seq=%lld bytes=%zu err=%s (raise "
                     "kafka.properties.message.max.bytes and the topic's max.message.bytes, "
                     "then restart)",
                     r->store, r->terminal, (long long)r->seq, r->len, pe_errname(rc));
        u->t->refused = r->seq;
        return 1;
    }
    u->t->produced = r->seq;
    u->b->st.produced++;
    u->budget_ev--;
    u->budget_bytes -= (int64_t)r->len;
    return 0;
}

static void drain(void *ctx)
{
    struct bridge *b = ctx;
    b->drain_planned = false;
    if (b->nterms == 0)
        return;
    int64_t now = pe_mono_ms();
    int64_t ev = pace_available(&b->pace_ev, now), bytes = pace_available(&b->pace_bytes, now);
    int64_t ev0 = ev, bytes0 = bytes;
    bool more = true, blocked = false;
    /* Round robin: each turn gives every terminal with a backlog up to DRAIN_CHUNK rows, in
     * its own seq order, so live events of one till are not stuck behind another's backlog. */
    while (more && !blocked && ev > 0 && bytes > 0) {
        more = false;
        for (int k = 0; k < b->nterms && !blocked && ev > 0 && bytes > 0; k++) {
            struct term *t = &b->terms[(b->rr + k) % b->nterms];
            if (t->produced >= t->spooled || t->refused == t->produced + 1)
                continue;
            struct turn u = {b, t, ev < DRAIN_CHUNK ? ev : DRAIN_CHUNK, bytes, false};
            int64_t before = u.budget_ev, before_b = u.budget_bytes;
            pe_spool_rows(b->spool, t->store, t->terminal, t->produced, DRAIN_CHUNK, produce_row,
                          &u);
            ev -= before - u.budget_ev;
            bytes -= before_b - u.budget_bytes;
            blocked = u.blocked;
            if (t->produced < t->spooled && t->refused != t->produced + 1)
                more = true;
        }
        b->rr = (b->rr + 1) % b->nterms;
    }
    pace_spend(&b->pace_ev, ev0 - ev);
    pace_spend(&b->pace_bytes, bytes0 - bytes);
    /* Blocked: the delivery reports will plan the next turn. Paced out: wait for tokens. */
    if (more && !blocked) {
        int64_t wait = pace_wait_ms(&b->pace_ev), wb = pace_wait_ms(&b->pace_bytes);
        plan_drain(b, wait > wb ? wait : (wb > 0 ? wb : 1));
    }
}

static void plan_drain(struct bridge *b, int64_t delay_ms)
{
    if (b->drain_planned || b->stopping)
        return;
    b->drain_planned = true;
    pe_loop_timer(b->loop, delay_ms, drain, b, NULL);
}

static void persist(void *ctx)
{
    struct bridge *b = ctx;
    bool moved = false;
    b->persist_planned = false;
    for (int i = 0; i < b->nterms; i++) {
        struct term *t = &b->terms[i];
        if (t->done.mark > t->saved) {
            int rc = pe_spool_set_delivered(b->spool, t->store, t->terminal, t->done.mark);
            if (rc) {
                pe_error("bridge.persist_failed", "err=%s", pe_errname(rc));
                continue;
            }
            t->saved = t->done.mark;
            moved = true;
        }
        if (!b->in_txn)
            publish_ack(b, t);
    }
    if (moved)
        plan_state(b);
}

static void on_delivered(void *ctx, const struct output_ref *ref, int err)
{
    struct bridge *b = ctx;
    if (ref->seq == 0) /* a dead letter */
        return;
    struct term *t = term_find(b, ref->store, ref->terminal, false);
    if (!t)
        return;
    if (err) {
        /* Produce it again from the spool; nothing is dropped. */
        struct output_kafka k;
        output_kafka_state(b->out, &k);
        b->st.failed++;
        if (k.auth == OUTPUT_AUTH_OK) /* a refusal: output.kafka_auth said it, once */
            pe_warn("bridge.delivery_failed", "store=%s terminal=%s seq=%lld err=%d", t->store,
                    t->terminal, (long long)ref->seq, err);
        t->produced = t->done.mark;
        wm_reset(&t->done);
        plan_drain(b, 100);
        return;
    }
    b->st.delivered++;
    b->last_ok_ms = pe_time_now_ms();
    bool ok;
    wm_mark(&t->done, ref->seq, &ok);
    if (!ok)
        pe_warn("bridge.delivery_beyond_window", "terminal=%s seq=%lld delivered=%lld", t->terminal,
                (long long)ref->seq, (long long)t->done.mark);
    plan_persist(b);
    plan_drain(b, 0);
}

static void plan_persist(struct bridge *b)
{
    if (!b->persist_planned) {
        b->persist_planned = true;
        pe_loop_timer(b->loop, PERSIST_MS, persist, b, NULL);
    }
}

/* Transactional mode: a Kafka transaction with the terminal's records up to seq committed. */
static void on_committed(void *ctx, const char *store, const char *terminal, int64_t seq)
{
    struct bridge *b = ctx;
    struct term *t = term_find(b, store, terminal, false);
    if (!t || seq <= t->done.mark)
        return;
    b->st.delivered += seq - t->done.mark;
    b->last_ok_ms = pe_time_now_ms();
    wm_init(&t->done, seq);
    plan_persist(b);
    plan_drain(b, 0);
}

/* Transactional mode, at (re)start: what Kafka has committed of a terminal. The spool follows
 * Kafka: a spool behind it is brought forward (those records are not produced again). */
static void on_recovered(void *ctx, const char *store, const char *terminal, int64_t seq,
                         const char *hash)
{
    struct bridge *b = ctx;
    if (strcmp(store, b->cfg.store) != 0)
        return;
    struct term *t = term_find(b, store, terminal, true);
    if (!t) {
        pe_error("bridge.recover", "store=%s terminal=%s (too many terminals)", store, terminal);
        return;
    }
    int64_t was_spooled = t->spooled, was_delivered = t->saved;
    int rc = pe_spool_advance(b->spool, store, terminal, seq, hash);
    if (rc == PE_ECHAIN)
        pe_error("bridge.recover_conflict",
                 "store=%s terminal=%s seq=%lld: Kafka's record has another hash than the "
                 "spool's (a replaced journal?); taking Kafka's watermark",
                 store, terminal, (long long)seq);
    else if (rc)
        pe_error("bridge.recover_failed", "store=%s terminal=%s seq=%lld err=%s", store, terminal,
                 (long long)seq, pe_errname(rc));
    struct pe_spool_terminal st;
    if (pe_spool_terminal(b->spool, store, terminal, &st) == PE_OK) {
        t->spooled = st.spooled;
        t->saved = st.delivered;
    }
    if (seq < t->saved)
        pe_warn("bridge.recover_behind",
                "store=%s terminal=%s kafka=%lld spool_delivered=%lld: Kafka's committed state "
                "is behind the spool (state topic lost?): resuming after the spool's",
                store, terminal, (long long)seq, (long long)t->saved);
    int64_t mark = seq > t->saved ? seq : t->saved;
    wm_init(&t->done, mark);
    t->produced = mark;
    if (t->spooled > was_spooled && t->sig.counter > 0) {
        /* The spool jumped past records it never judged (it was lost or restored from an old
         * copy): their counters are unknown, so the till's next signature starts the count
         * again, as the first of a group does. */
        t->sig.counter = 0;
        if (b->in_txn) {
            t->sig_dirty = true;
        } else {
            char key[2 * PE_ID_MAX + 8], *doc = NULL;
            sig_key(t, key, sizeof key);
            int e = sigcheck_till_save(&t->sig, &doc);
            if (e == PE_OK)
                e = pe_spool_meta_put(b->spool, key, doc, pe_time_now_ms());
            free(doc);
            if (e)
                pe_error("bridge.sig_state", "store=%s terminal=%s err=%s", store, terminal,
                         pe_errname(e));
        }
    }
    if (t->spooled != was_spooled || t->saved != was_delivered)
        pe_info("bridge.recovered",
                "store=%s terminal=%s kafka=%lld spooled=%lld->%lld delivered=%lld->%lld", store,
                terminal, (long long)seq, (long long)was_spooled, (long long)t->spooled,
                (long long)was_delivered, (long long)t->saved);
    t->acked_spooled = -1;
    if (!b->in_txn)
        publish_ack(b, t);
    else
        t->dirty = true;
}

static void on_reset(void *ctx)
{
    struct bridge *b = ctx;
    pe_warn("bridge.producer_reset", "terminals=%d (producing again from delivered+1)", b->nterms);
    for (int i = 0; i < b->nterms; i++) {
        b->terms[i].produced = b->terms[i].done.mark;
        wm_reset(&b->terms[i].done);
    }
    plan_drain(b, 0);
}

/* ---- housekeeping ---- */

static void housekeeping(void *ctx)
{
    struct bridge *b = ctx;
    int64_t pruned = 0;
    if (b->stopping)
        return;
    if (!b->in_txn)
        pe_spool_prune(b->spool, 50000, &pruned);
    struct pe_spool_stats ss = {0};
    pe_spool_stats(b->spool, &ss);
    crl_watch(b, pe_time_now_ms());
    int64_t low_water = b->cfg.spool_max_mb * 1024 * 1024 * 9 / 10;
    if (b->spool_full && (b->cfg.spool_max_mb == 0 || ss.pending_bytes < low_water)) {
        b->spool_full = false;
        pe_info("bridge.spool_ok", "pending_bytes=%lld: acknowledging again",
                (long long)ss.pending_bytes);
    }
    /* A sample for the drain rate, and a look at what else may have changed (Kafka's link). */
    b->rate[b->rate_next].mono_ms = pe_mono_ms();
    b->rate[b->rate_next].delivered = b->st.delivered;
    b->rate_next = (b->rate_next + 1) % RATE_SAMPLES;
    if (b->rate_n < RATE_SAMPLES)
        b->rate_n++;
    plan_state(b);
    if (++b->hk_rounds % STATS_EVERY == 0 || pruned)
        pe_info("bridge.stats",
                "received=%lld stored=%lld duplicates=%lld gaps=%lld dead=%lld full=%lld "
                "produced=%lld delivered=%lld failed=%lld pending=%lld pruned=%lld",
                (long long)b->st.received, (long long)b->st.stored, (long long)b->st.duplicates,
                (long long)b->st.gaps, (long long)b->st.dead, (long long)b->st.full,
                (long long)b->st.produced, (long long)b->st.delivered, (long long)b->st.failed,
                (long long)ss.pending, (long long)pruned);
    plan_drain(b, 0);
    pe_loop_timer(b->loop, HOUSEKEEPING_MS, housekeeping, b, NULL);
}

/* ---- fault injection (test builds) ---- */

#ifdef PE_FAULT_INJECTION
#include <unistd.h>

#include "posedge/faultvfs.h"
/* PE_FAULT_SPOOL_FULL=FLAG: the spool is opened through the "pe-fault" VFS, and while the file
 * FLAG exists every write to it fails as on a full disk (SQLITE_FULL). */
static const char *fault_disk_flag(void)
{
    return getenv("PE_FAULT_SPOOL_FULL");
}

static void fault_disk_tick(void *ctx)
{
    struct bridge *b = ctx;
    static bool armed;
    bool full = access(fault_disk_flag(), F_OK) == 0;
    if (full && !armed)
        pe_faultvfs_arm(PE_FAULT_WRITE, 1, PE_EFULL, true);
    else if (!full && armed)
        pe_faultvfs_disarm();
    if (full != armed)
        pe_warn("bridge.fault", "PE_FAULT_SPOOL_FULL: disk %s", full ? "full" : "has space again");
    armed = full;
    pe_loop_timer(b->loop, 100, fault_disk_tick, b, NULL);
}

static const char *fault_disk_vfs(void)
{
    return fault_disk_flag() && pe_faultvfs_register() == PE_OK ? "pe-fault" : NULL;
}
#else
static const char *fault_disk_vfs(void)
{
    return NULL;
}
#endif

/* ---- lifecycle ---- */

int bridge_create(struct pe_loop *loop, const struct bridge_cfg *cfg, struct bridge **out,
                  char *err, size_t errlen)
{
    struct bridge *b = calloc(1, sizeof *b);
    if (!b)
        return PE_ENOMEM;
    b->cfg = *cfg;
    b->loop = loop;
    b->started_ms = pe_time_now_ms();
    b->started_mono = pe_mono_ms();
    pace_init(&b->pace_ev, cfg->drain_events_per_s, pe_mono_ms());
    pace_init(&b->pace_bytes, cfg->drain_bytes_per_s, pe_mono_ms());
    char password[PE_SECRET_MAX] = "";
    int rc = pe_topic(b->state_topic, sizeof b->state_topic, cfg->store, PE_ID_BRIDGE,
                      PE_CH_STATE, NULL);
    if (rc) {
        snprintf(err, errlen, "store: \"%s\" cannot be a topic level", cfg->store);
        goto free_bridge;
    }
    /* First, so that a missing password file, or a key or password file others may read, is
     * named before anything is opened (as ssh refuses such a key). */
    rc = bridge_cfg_password(cfg, password, sizeof password, err, errlen);
    if (rc) {
        rc = rc == PE_ENOMEM ? rc : PE_EINVAL; /* the configuration names a file we cannot use */
        goto free_bridge;
    }
    if (cfg->mqtt_tls_key_file[0] &&
        (rc = pe_secret_check_mode("mqtt.tls.key_file", cfg->mqtt_tls_key_file, err, errlen))) {
        rc = PE_EINVAL;
        goto free_bridge;
    }
    if (cfg->pki_dir[0] &&
        (rc = bridge_enrol_create(cfg->pki_dir, cfg->store, &b->enrol, err, errlen))) {
        rc = rc == PE_ENOMEM ? rc : PE_EINVAL;
        goto free_bridge;
    }
    if (!cfg->mqtt_tls_ca_file[0])
        pe_warn("mqtt.plaintext",
                "host=%s port=%lld: MQTT without TLS: the link is not encrypted and the broker "
                "does not authenticate the bridge by certificate (a lab only; set "
                "mqtt.tls.ca_file)",
                cfg->mqtt_host, (long long)cfg->mqtt_port);
    if ((rc = intake_verify_create((int)cfg->verify_threads, &b->verify))) {
        snprintf(err, errlen, "intake.verify_threads: cannot start the helper threads");
        goto free_bridge;
    }
    char path[BRIDGE_PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/spool.db", cfg->data_dir);
    struct pe_spool_opts so = {.max_bytes = cfg->spool_max_mb * 1024 * 1024,
                               .vfs = fault_disk_vfs()};
    rc = pe_spool_open(path, &so, &b->spool, err, errlen);
    if (rc)
        goto free_bridge;
    pe_spool_terminals(b->spool, load_term, b);
    /* The sinks, before anything is produced: their init may block (a Schema Registry), which
     * belongs here, never on the loop. They borrow b->cfg (and the caller's sink options). */
    if ((rc = profile_set_create(&b->cfg, b->spool, &b->sinks, err, errlen)))
        goto close_spool;
    char tid[64];
    snprintf(tid, sizeof tid, "posedge-bridge-%s", bridge_cfg_id(cfg));
    enum output_mode mode;
    if (output_mode_parse(cfg->kafka_mode, &mode) != PE_OK) {
        snprintf(err, errlen, "kafka.mode: \"%s\" is not a mode", cfg->kafka_mode);
        rc = PE_EINVAL;
        goto stop_sinks;
    }
    struct output_opts oo = {
        .mode = mode,
        .brokers = cfg->kafka_brokers,
        .properties = cfg->kafka_properties,
        .security = &cfg->kafka_security,
        .max_inflight = (int)cfg->kafka_max_inflight,
        .on_delivered = on_delivered,
        .on_reset = on_reset,
        .ctx = b,
        .transactional_id = tid,
        .state_topic = cfg->state_topic,
        .state_key = bridge_cfg_id(cfg),
        .txn_max_events = (int)cfg->txn_max_events,
        .txn_interval_ms = (int)cfg->txn_interval_ms,
        .on_committed = on_committed,
        .on_recovered = on_recovered,
    };
    if ((rc = output_create(loop, &oo, &b->out, err, errlen)))
        goto stop_sinks;
    if ((rc = telemetry_create(loop, cfg->kafka_brokers, cfg->kafka_properties,
                               &cfg->kafka_security, &b->tele, err, errlen)))
        goto destroy_output;
    struct catalog_opts co = {
        .store = cfg->store,
        .brokers = cfg->kafka_brokers,
        .properties = cfg->kafka_properties,
        .security = &cfg->kafka_security,
        .topic = cfg->catalog_topic,
        .promotions_topic = cfg->catalog_promotions_topic,
        .rejects_topic = cfg->catalog_rejects_topic,
        .spool = b->spool,
        .tele = b->tele,
    };
    if (cfg->catalog_enabled && (rc = catalog_create(loop, &co, &b->catalog, err, errlen)))
        goto destroy_telemetry;
    char client_id[96], will[64];
    snprintf(client_id, sizeof client_id, "posedge-bridge-%s", cfg->store);
    snprintf(will, sizeof will, "{\"state\":\"offline\"}");
    struct pe_mqtt_opts mo = {
        .client_id = client_id,
        .host = cfg->mqtt_host,
        .port = (int)cfg->mqtt_port,
        .keepalive_s = (int)cfg->mqtt_keepalive_s,
        .will_topic = b->state_topic,
        .will_payload = will,
        .username = cfg->mqtt_username[0] ? cfg->mqtt_username : NULL,
        .password = password[0] ? password : NULL,
        .tls_ca_file = cfg->mqtt_tls_ca_file,
        .tls_cert_file = cfg->mqtt_tls_cert_file,
        .tls_key_file = cfg->mqtt_tls_key_file,
        .on_connect = on_connect,
        .on_disconnect = on_disconnect,
        .on_message = on_message,
        .ctx = b,
    };
    rc = pe_mqtt_create(loop, &mo, &b->mqtt);
    pe_secret_wipe(password, sizeof password); /* the client has its own copy */
    if (rc) {
        snprintf(err, errlen, "mqtt %s:%lld: %s", cfg->mqtt_host, (long long)cfg->mqtt_port,
                 pe_strerror(rc));
        goto destroy_catalog;
    }
    catalog_attach(b->catalog, b->mqtt);
    crl_watch(b, pe_time_now_ms());
    pe_loop_timer(loop, HOUSEKEEPING_MS, housekeeping, b, NULL);
    /* The first document goes out on connect; this one only while MQTT is not there yet. */
    pe_loop_timer(loop, cfg->state_interval_s * 1000, state_tick, b, &b->state_timer);
#ifdef PE_FAULT_INJECTION
    if (so.vfs)
        fault_disk_tick(b);
#endif
    plan_drain(b, 0);
    b->mqtt_down_mono = pe_mono_ms(); /* until the first connect */
    struct dashboard_limits lim = {
        .till_silent_ms = cfg->alarm_till_silent_s * 1000,
        .backlog_age_s = cfg->alarm_backlog_age_s,
        .spool_pct = cfg->alarm_spool_pct,
        .cert_days = cfg->alarm_cert_days,
    };
    if ((rc = dashboard_create(&lim, &b->dash))) {
        snprintf(err, errlen, "out of memory");
        goto destroy_mqtt;
    }
    if (cfg->http_listen[0] &&
        (rc = pe_http_start(loop, cfg->http_listen, bridge_http, b, &b->http, err, errlen)))
        goto destroy_mqtt;
    pe_info("bridge.start",
            "store=%s id=%s version=%s mode=%s spool=%s terminals=%d kafka=%s mqtt=%s:%lld "
            "mqtt_user=%s mqtt_tls=%s enrol_signer=%s telemetry_topic=%s verify_helpers=%d",
            cfg->store, bridge_cfg_id(cfg), pe_version(), cfg->kafka_mode, path, b->nterms,
            cfg->kafka_brokers, cfg->mqtt_host, (long long)cfg->mqtt_port,
            cfg->mqtt_username[0] ? cfg->mqtt_username : "-",
            !cfg->mqtt_tls_ca_file[0]     ? "off"
            : cfg->mqtt_tls_cert_file[0] ? "mutual"
                                         : "server",
            cfg->pki_dir[0] ? cfg->pki_dir : "off", cfg->telemetry_topic,
            intake_verify_helpers(b->verify));
    for (int i = 0; cfg->sinks_set && i < cfg->nsinks; i++)
        pe_info("bridge.sink", "name=%s profile=%s topic=%s late=%s lateness_s=%lld",
                cfg->sinks[i].name, cfg->sinks[i].profile->name,
                cfg->sinks[i].topic[0] ? cfg->sinks[i].topic : "topics.<type>", cfg->sinks[i].late,
                (long long)cfg->sinks[i].lateness_s);
    *out = b;
    return PE_OK;

destroy_mqtt:
    dashboard_destroy(b->dash);
    pe_mqtt_destroy(b->mqtt);
destroy_catalog:
    catalog_destroy(b->catalog);
destroy_telemetry:
    telemetry_destroy(b->tele, 0);
destroy_output:
    output_destroy(b->out);
stop_sinks:
    profile_set_destroy(b->sinks);
close_spool:
    for (int i = 0; i < b->nterms; i++)
        sigcheck_till_clear(&b->terms[i].sig);
    pe_spool_close(b->spool);
free_bridge:
    pe_secret_wipe(password, sizeof password);
    intake_verify_destroy(b->verify);
    bridge_enrol_destroy(b->enrol);
    free(b);
    return rc;
}

void bridge_destroy(struct bridge *b, int flush_ms)
{
    if (!b)
        return;
    b->stopping = true;
    pe_http_stop(b->http);
    commit_now(b);
    int rc = output_flush(b->out, flush_ms);
    persist(b);
    publish_state(b, "offline");
    /* Give the last acks and the state a moment on the wire before disconnecting. */
    int64_t deadline = pe_mono_ms() + 500;
    while (pe_mono_ms() < deadline && pe_mqtt_connected(b->mqtt))
        if (pe_loop_run_once(b->loop, 50))
            break;
    pe_info("bridge.stop", "flushed=%s produced=%lld delivered=%lld dead=%lld",
            rc == PE_OK ? "yes" : "no (undelivered records stay in the spool)",
            (long long)b->st.produced, (long long)b->st.delivered, (long long)b->st.dead);
    catalog_destroy(b->catalog); /* what it read and did not commit is read again next time */
    pe_mqtt_destroy(b->mqtt);
    telemetry_destroy(b->tele, 500); /* the offline document, if Kafka takes it soon */
    output_destroy(b->out);
    profile_out_free(&b->pout);
    profile_set_destroy(b->sinks);
    for (int i = 0; i < b->nterms; i++)
        sigcheck_till_clear(&b->terms[i].sig);
    pe_spool_close(b->spool);
    intake_verify_destroy(b->verify);
    bridge_enrol_destroy(b->enrol);
    dashboard_destroy(b->dash);
    free(b);
}

int bridge_reload(struct bridge *b)
{
    char err[512];
    const struct bridge_cfg *c = &b->cfg;
    int rc = output_reload(b->out, err, sizeof err);
    if (rc) {
        pe_error("bridge.reload_failed", "err=\"%s\" (the current Kafka producer stays)", err);
        return rc;
    }
    if (telemetry_reload(b->tele, c->kafka_brokers, c->kafka_properties, &c->kafka_security, err,
                         sizeof err))
        pe_warn("bridge.reload_failed", "telemetry: err=\"%s\"", err);
    if (catalog_reload(b->catalog, err, sizeof err))
        pe_warn("bridge.reload_failed", "catalog: err=\"%s\" (the current consumer stays)", err);
    pe_info("bridge.reloaded",
            "kafka=producers recreated (the password file and certificates as they are now)");
    plan_state(b);
    return PE_OK;
}

const struct bridge_stats *bridge_stats(const struct bridge *b)
{
    return &b->st;
}

/* ---- /metrics and /health (docs/metrics.md) ---- */

#define MQTT_DOWN_UNHEALTHY_MS 60000 /* MQTT down this long makes /health fail */

static const char *const dead_names[] = {
#define BRIDGE__DEAD_NAME(name, label) label,
    BRIDGE_DEAD_REASONS(BRIDGE__DEAD_NAME)
#undef BRIDGE__DEAD_NAME
};

static void metrics_terms(struct bridge *b, struct pe_prom *p, int64_t now_ms)
{
    struct pe_spool_terminal st[MAX_TERMINALS];
    for (int i = 0; i < b->nterms; i++)
        if (pe_spool_terminal(b->spool, b->terms[i].store, b->terms[i].terminal, &st[i]) != PE_OK)
            st[i] = (struct pe_spool_terminal){.spooled = b->terms[i].spooled,
                                               .delivered = b->terms[i].saved};
    pe_prom_family(p, "posedge_events_spooled_total", "counter",
                   "Events of the till in the bridge's spool: its spooled watermark (seq).");
    for (int i = 0; i < b->nterms; i++)
        pe_prom_sample(p, (double)st[i].spooled, "terminal", b->terms[i].terminal, NULL);
    pe_prom_family(p, "posedge_events_delivered_total", "counter",
                   "Events of the till Kafka has taken (acks=all, or committed): its delivered "
                   "watermark (seq).");
    for (int i = 0; i < b->nterms; i++)
        pe_prom_sample(p, (double)st[i].delivered, "terminal", b->terms[i].terminal, NULL);
    pe_prom_family(p, "posedge_backlog_events", "gauge",
                   "Events of the till spooled and not yet in Kafka.");
    for (int i = 0; i < b->nterms; i++)
        pe_prom_sample(p, (double)(st[i].spooled - st[i].delivered), "terminal",
                       b->terms[i].terminal, NULL);
    pe_prom_family(p, "posedge_backlog_oldest_age_seconds", "gauge",
                   "Age of the till's oldest event not yet in Kafka, from its event time (0: "
                   "none waiting).");
    for (int i = 0; i < b->nterms; i++) {
        int64_t ts = st[i].oldest_pending_ts_ms, age = ts > 0 && now_ms > ts ? now_ms - ts : 0;
        pe_prom_sample(p, (double)age / 1000.0, "terminal", b->terms[i].terminal, NULL);
    }
    pe_prom_family(p, "posedge_signatures_rejected_total", "counter",
                   "Records of the till whose signature the bridge refused (they go to the dead "
                   "letters only).");
    for (int i = 0; i < b->nterms; i++)
        pe_prom_sample(p, (double)b->terms[i].sig.rejected, "terminal", b->terms[i].terminal,
                       NULL);
}

static int bridge_metrics(struct bridge *b, struct pe_http_reply *r)
{
    struct pe_prom p;
    if (pe_prom_open(&p))
        return PE_ENOMEM;
    int64_t now_ms = pe_time_now_ms();
    struct pe_spool_stats ss = {0};
    struct output_kafka k;
    pe_spool_stats(b->spool, &ss);
    output_kafka_state(b->out, &k);
    pe_prom_process(&p, b->started_ms);
    pe_prom_labels(&p, "store", b->cfg.store, NULL);
    pe_prom_family(&p, "posedge_build_info", "gauge", "The daemon's version and board.");
    pe_prom_sample(&p, 1, "daemon", PE_ID_BRIDGE, "version", pe_version(), "board", pe_board(), NULL);
    metrics_terms(b, &p, now_ms);
    pe_prom_one(&p, "posedge_terminals", "gauge", "Tills the bridge knows.", b->nterms);
    pe_prom_one(&p, "posedge_records_received_total", "counter",
                "Event records received over MQTT since the start.", (double)b->st.received);
    pe_prom_one(&p, "posedge_records_duplicate_total", "counter",
                "Records received again and ignored (already spooled).",
                (double)b->st.duplicates);
    pe_prom_one(&p, "posedge_records_gap_total", "counter",
                "Records ahead of the spooled watermark, dropped (the till sends them again).",
                (double)b->st.gaps);
    pe_prom_one(&p, "posedge_records_quota_refused_total", "counter",
                "Records refused because the spool quota was reached (the till keeps them).",
                (double)b->st.full);
    pe_prom_family(&p, "posedge_dead_letters_total", "counter",
                   "Records sent to the dead-letter topic, by what was wrong.");
    for (int i = 0; i < BRIDGE_DEAD__COUNT; i++)
        pe_prom_sample(&p, (double)b->dead_by[i], "reason", dead_names[i], NULL);
    pe_prom_one(&p, "posedge_spool_backlog_bytes", "gauge",
                "Record bytes in the spool not yet in Kafka (what spool.max_mb counts).",
                (double)ss.pending_bytes);
    pe_prom_one(&p, "posedge_spool_quota_bytes", "gauge",
                "The spool quota, spool.max_mb in bytes (0: none).",
                (double)b->cfg.spool_max_mb * 1024 * 1024);
    pe_prom_one(&p, "posedge_spool_full", "gauge",
                "1 while the quota refuses new records.", b->spool_full);
    pe_prom_one(&p, "posedge_mqtt_connected", "gauge", "1 while connected to the MQTT broker.",
                pe_mqtt_connected(b->mqtt));
    pe_prom_one(&p, "posedge_kafka_connected", "gauge",
                "1 while the event producer has a connection to a broker it needs.",
                k.known && k.connected);
    pe_prom_one(&p, "posedge_kafka_brokers_up", "gauge",
                "Brokers the event producer has a connection to.", k.brokers_up);
    pe_prom_family(&p, "posedge_kafka_refused", "gauge",
                   "1 for what Kafka refuses the bridge now (authentication, TLS, an ACL).");
    for (int i = 1; i < OUTPUT_AUTH__COUNT; i++)
        pe_prom_sample(&p, k.auth == (enum output_auth)i, "reason",
                       output_auth_name((enum output_auth)i), NULL);
    pe_prom_one(&p, "posedge_kafka_produced_total", "counter",
                "Records handed to the Kafka producer (again after a failure).",
                (double)b->st.produced);
    pe_prom_one(&p, "posedge_kafka_delivery_errors_total", "counter",
                "Delivery reports with an error (the record is produced again).",
                (double)b->st.failed);
    pe_prom_one(&p, "posedge_kafka_transactions_committed_total", "counter",
                "Kafka transactions committed (kafka.mode transactional).",
                (double)k.txn_committed);
    pe_prom_one(&p, "posedge_kafka_transactions_aborted_total", "counter",
                "Kafka transactions aborted, or left to the next producer to abort.",
                (double)k.txn_aborted);
    pe_prom_one(&p, "posedge_kafka_last_delivery_timestamp_seconds", "gauge",
                "When Kafka last took a record (0: not since the start).",
                (double)b->last_ok_ms / 1000.0);
    struct pe_pki_cert_info ci;
    char err[PE_PKI_ERRLEN];
    if (b->cfg.mqtt_tls_cert_file[0] &&
        pe_pki_cert_info_file(b->cfg.mqtt_tls_cert_file, &ci, err, sizeof err) == PE_OK)
        pe_prom_one(&p, "posedge_cert_expiry_timestamp_seconds", "gauge",
                    "When the daemon's MQTT client certificate expires.",
                    (double)ci.not_after_ms / 1000.0);
    if (b->crl_read)
        pe_prom_one(&p, "posedge_crl_next_update_timestamp_seconds", "gauge",
                    "The next update of the CRL the broker serves (past it, every client is "
                    "refused).",
                    (double)b->crl.next_update_ms / 1000.0);
    static struct dashboard_alarm_on on[DASHBOARD_ALARMS_MAX];
    int n = bridge_alarms(b, &k, now_ms, on);
    pe_prom_family(&p, "posedge_alarm", "gauge",
                   "1 for each alarm on now (docs/metrics.md, \"Alarms\"); terminal \"\" for the "
                   "bridge's own.");
    for (int i = 0; i < n; i++)
        pe_prom_sample(&p, 1, "alarm", dashboard_alarm_name(on[i].alarm), "terminal",
                       on[i].terminal, NULL);
    const struct catalog_version *cv = catalog_version(b->catalog);
    if (cv)
        pe_prom_one(&p, "posedge_catalog_version", "gauge",
                    "The catalog version the bridge serves the tills (0: nothing from HQ yet).",
                    (double)cv->version);
    if (pe_prom_close(&p, &r->body, &r->len))
        return PE_ENOMEM;
    r->type = PE_PROM_TYPE;
    return PE_OK;
}

static int bridge_health(struct bridge *b, struct pe_http_reply *r)
{
    struct output_kafka k;
    output_kafka_state(b->out, &k);
    cJSON *d = cJSON_CreateObject(), *arr = d ? cJSON_AddArrayToObject(d, "problems") : NULL;
    if (!arr || !cJSON_AddStringToObject(d, "daemon", PE_ID_BRIDGE) ||
        !cJSON_AddStringToObject(d, "store", b->cfg.store)) {
        cJSON_Delete(d);
        return PE_ENOMEM;
    }
    char detail[OUTPUT_RESOURCE_MAX + 300];
    if (k.auth != OUTPUT_AUTH_OK) {
        snprintf(detail, sizeof detail, "Kafka refuses the bridge: %s%s%s; %s",
                 output_auth_name(k.auth), k.resource[0] ? " on " : "", k.resource,
                 output_auth_hint(k.auth));
        pe_http_problem(arr, "kafka_refused", detail);
    }
    if (b->spool_full) {
        snprintf(detail, sizeof detail,
                 "the spool holds spool.max_mb %lld MiB not yet in Kafka: new events are "
                 "refused (the tills keep them)",
                 (long long)b->cfg.spool_max_mb);
        pe_http_problem(arr, "spool_full", detail);
    }
    int64_t down = b->mqtt_down_mono ? pe_mono_ms() - b->mqtt_down_mono : 0;
    if (down >= MQTT_DOWN_UNHEALTHY_MS) {
        snprintf(detail, sizeof detail, "no connection to the MQTT broker %s:%lld for %lld s",
                 b->cfg.mqtt_host, (long long)b->cfg.mqtt_port, (long long)(down / 1000));
        pe_http_problem(arr, "mqtt_down", detail);
    }
    return pe_http_health(r, d);
}

int bridge_http(void *ctx, const char *path, struct pe_http_reply *r)
{
    struct bridge *b = ctx;
    if (strcmp(path, "/metrics") == 0)
        return bridge_metrics(b, r);
    if (strcmp(path, "/health") == 0)
        return bridge_health(b, r);
    if (strcmp(path, "/") == 0) {
        r->type = "text/html; charset=utf-8";
        return (r->body = strdup(dashboard_html)) ? PE_OK : PE_ENOMEM;
    }
    if (strcmp(path, "/dashboard.json") == 0) {
        struct pe_spool_stats ss = {0};
        struct output_kafka k;
        pe_spool_stats(b->spool, &ss);
        output_kafka_state(b->out, &k);
        int64_t now_ms = pe_time_now_ms();
        static struct dashboard_alarm_on on[DASHBOARD_ALARMS_MAX];
        int n = bridge_alarms(b, &k, now_ms, on);
        r->type = "application/json";
        return dashboard_json(b->dash, state_obj(b, state_word(b), &ss, &k, now_ms, pe_mono_ms()),
                              on, n, now_ms, &r->body, &r->len);
    }
    return PE_ENOTFOUND;
}
