/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status.c - posedge-ctl status: how each terminal of a store is doing, from the broker.
 *
 *   posedge-ctl status --mqtt HOST:PORT --store S [--user U --password-file F]
 *                      [--tls-ca F [--tls-cert F --tls-key F]] [--timeout SECONDS] [--json]
 *
 * Everything it shows is what the broker keeps retained (docs/protocol.md): each agent's state
 * document on posedge/v1/S/<terminal>/state, the bridge's ack on .../ack and the bridge's own
 * state on posedge/v1/S/bridge/state (before protocol v1's fleet state the bridge used the
 * terminal name "_bridge": its document is shown when there is no newer one, and "_bridge" is
 * never taken for a till). It connects with a one-shot client id (as --user with the password
 * from the first line of --password-file when given: the bridge user of the store's ACL may
 * read all of this), subscribes to those, and collects until no message has arrived for
 * QUIET_MS after the subscriptions are in place, or until --timeout (default 5 s). Then it
 * prints one line per terminal, sorted by id:
 *
 *   TERMINAL  STATE  SEQ  SPOOLED  DELIVERED  BACKLOG  OLDEST_PENDING  STATE_AGE
 *             VERSION  UPTIME  DEVICES  SHIFT  CATALOG  CERT
 *
 * SEQ is the last seq of the terminal's journal as its state says; SPOOLED and DELIVERED are
 * the larger of the agent's view (its state) and the bridge's retained ack, since both only
 * grow and the ack is often newer; BACKLOG is SEQ - DELIVERED, the records not yet in Kafka;
 * OLDEST_PENDING is the age of the oldest of them (from the state's oldest_pending_ts): "-"
 * when there is no backlog, "<=AGE" when the ack has moved past the state's delivered (the
 * oldest pending record is then younger than that), "?" when unknown. A state that is only the
 * will ({"state":"offline"}, a till that died) names no seq: SEQ is then "-" and BACKLOG
 * ">=N", the records the bridge has but Kafka does not yet. STATE_AGE is how long ago the
 * state was published (agents republish every 10 s while connected). These eight columns keep
 * their meaning and place: other tooling parses them. VERSION is the agent's package version;
 * UPTIME how long it has been running (uptime_s plus the state's age; "-" unless online);
 * DEVICES "ok" when every device's status is ok, else the others as class:status joined by
 * commas ("scale:failed,printer:degraded"); SHIFT "open" or "closed"; CATALOG, shown when a
 * till of the store reports its catalog, the catalog version in force ("7"), with "->8" after
 * it while version 8 is being fetched or waits for a basket to end, and "!" after it when the
 * last version it was sent was refused (its state's catalog.error); CERT, shown when a till
 * of the store reports a certificate (mutual TLS), the days that certificate has left ("87d";
 * "expired"; "?" when the till cannot read it; "-" without one), with "!" after it when the
 * broker refused publishes of the till (its state's "denied"). Any
 * of them is "-" when the state does not say (the will says nothing of them). A last line
 * gives the bridge's state when it has one (docs/protocol.md, "The bridge's state"):
 *
 *   bridge STATE: pending=N spooled_bytes=N kafka=connected|disconnected|unknown|REFUSAL
 *     [kafka_refused=NAME] kafka_brokers=UP/ALL kafka_mode=MODE last_delivered=AGE drain_eps=R
 *     oldest_pending=AGE
 *     quota.CLASS=USED/LIMIT|none... terminals=N dead=N
 *     [sig_rejected=N sig_rejected.TERMINAL=N:REASON@SEQ...] cert_days=N crl_days=N crl=due
 *     version=V uptime=AGE state_age=AGE
 *
 * on one line; sig_rejected appears when the bridge's signature check refused records (and per
 * till its count, last reason and that record's seq); REFUSAL is what Kafka refuses the bridge
 * when its document says so (auth_failed,
 * tls_failed, topic_not_authorized with the topic as kafka_refused, ...); cert_days, crl_days
 * and crl=due appear when the bridge uses TLS and watches a CRL (crl=due when its next update
 * is less than two days away). pending and spooled_bytes (what older bridges published, with
 * state, dead and ts) are "-" when missing; every other field is shown only when the document
 * has it, so an older bridge's document is shown as well as a newer one's. AGEs are "-" for a
 * null time.
 *
 * With --json it prints instead one JSON object holding every document as it came:
 * {"store":S,"ts":NOW,"terminals":{"t01":{"state":{...},"ack":{...}},...},"bridge":{...}},
 * terminals sorted by id, null for a document that is missing or not a JSON object.
 *
 * The subscriptions are known to be in place when our own probe message, published after
 * them on the same connection on posedge/v1/S/bridge/probe/<client id> (a topic the ACL lets
 * the bridge user write and read), comes back: the broker handles one client's packets in order
 * and sends retained messages when it handles SUBSCRIBE, so by then every retained message
 * has arrived too. The wait is on the loop (pe_loop_run_once against a deadline), never a
 * sleep.
 *
 * Exit status: 0 when the table was printed (even empty, and even when the probe did not come
 * back in time: the table may then be incomplete, which stderr says); 1 when the broker could
 * not be reached within --timeout or refused us (the credentials: said at once, without
 * waiting for the timeout); 2 for a usage error or a password file that cannot be read.
 *
 * The client is a clean session, so the broker keeps nothing of it once it is gone; the
 * subscriptions are QoS 0 besides.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ctl/ctl.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/loop.h"
#include "posedge/mqtt.h"
#include "posedge/protocol.h"
#include "posedge/secret.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

#define QUIET_MS 300                /* quiet this long after the probe: all is in */
#define HOST_MAX 256    /* --mqtt host */
#define WORD_MAX 16     /* a state word as printed ("online", "spool_full") */
#define REASON_MAX 32   /* a refusal reason of the bridge's signature check ("missing_signature") */
#define VERSION_MAX 24  /* a version as printed ("0.6.0", "1.2.3~rc1-2") */
#define DEVICES_MAX 160 /* the DEVICES column */

/* What the broker told us about one terminal; -1 marks a number not known. */
struct term {
    char id[PE_ID_MAX];   /* terminal id */
    bool has_state;       /* a non-empty state message arrived */
    bool has_ack;         /* a non-empty ack arrived */
    char state[WORD_MAX]; /* "online", "offline", "?" when unreadable */
    int64_t state_ts;     /* when the state was published, ms since the epoch */
    int64_t seq;          /* from the state */
    int64_t spooled;      /* from the state */
    int64_t delivered;    /* from the state */
    int64_t pending_ts;   /* the state's oldest_pending_ts, ms since the epoch */
    int64_t ack_spooled;  /* from the ack */
    int64_t ack_delivered;
    cJSON *state_doc; /* owned: the state document, NULL when none or not an object */
    cJSON *ack_doc;   /* owned: the ack, likewise */
};

struct bridge_state {
    bool present;         /* a non-empty bridge state arrived */
    char state[WORD_MAX]; /* its "state", "?" when unreadable */
    int64_t ts;           /* -1 when unknown */
    cJSON *doc;           /* owned: the document, NULL when not an object */
};

struct status {
    struct pe_loop *loop;     /* owned */
    struct pe_mqtt *mqtt;     /* owned */
    const char *store;        /* borrowed from argv */
    const char *addr;         /* borrowed from argv, for messages */
    bool json;                /* --json: the documents instead of the table */
    char probe[PE_TOPIC_MAX]; /* our own probe topic */
    bool connected;           /* on_connect seen at least once */
    bool probed;              /* the probe came back: the subscriptions are in place */
    int attempts_failed;      /* connection attempts that failed before the first connect */
    int last_reason;          /* PE_E* of the last failure */
    int64_t last_msg_ms;      /* pe_mono_ms of the probe or the last message after it */
    bool oom;                 /* a terminal could not be recorded */
    struct term *terms;       /* one per terminal seen, in arrival order until printed */
    size_t nterms, cap;
    struct bridge_state bridge;     /* from posedge/v1/S/bridge/state */
    struct bridge_state old_bridge; /* from posedge/v1/S/_bridge/state (older bridges) */
};

static void usage(FILE *out)
{
    fputs("usage: posedge-ctl status --mqtt HOST:PORT --store S [--user U --password-file F]\n"
          "                          [--tls-ca F [--tls-cert F --tls-key F]]\n"
          "                          [--timeout SECONDS] [--json]\n"
          "\n"
          "Reads the retained state and ack of every terminal of store S, and the bridge's\n"
          "state, from the MQTT broker, and prints per terminal: online/offline, last seq,\n"
          "spooled, delivered, backlog (seq - delivered), the age of the oldest record not\n"
          "yet delivered, the age of the state, the agent's version, its uptime, its devices\n"
          "(ok, or those that are not, as class:status) and the shift; then the bridge's line.\n"
          "--json prints every document instead, as one JSON object. --user and\n"
          "--password-file (its first line is the password) log in to a broker with the\n"
          "store's ACL, as the bridge user. --tls-ca (the store's CA) connects over TLS, with\n"
          "--tls-cert and --tls-key as S/hq (or S/bridge) of the store's mutual TLS ACL; the\n"
          "CERT column then shows each till's certificate's days left. Collects until the\n"
          "broker has been quiet for 300 ms, at most --timeout seconds (default 5). Exit 0\n"
          "with the table, 1 when the broker cannot be reached within --timeout or refuses\n"
          "us, 2 for a usage error.\n",
          out);
}

/* ---- what arrives ---- */

static struct term *term_get(struct status *st, const char *id)
{
    for (size_t i = 0; i < st->nterms; i++)
        if (strcmp(st->terms[i].id, id) == 0)
            return &st->terms[i];
    if (st->nterms == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 16;
        struct term *t = realloc(st->terms, cap * sizeof *t);
        if (!t) {
            st->oom = true;
            return NULL;
        }
        st->terms = t;
        st->cap = cap;
    }
    struct term *t = &st->terms[st->nterms++];
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", id);
    return t;
}

/* True when s is 1..n-1 characters, all from set. */
static bool word_of(const char *s, size_t n, const char *set)
{
    size_t len = strlen(s);
    return len > 0 && len < n && strspn(s, set) == len;
}

#define LOWER "abcdefghijklmnopqrstuvwxyz_"

/* The "state" member as a printable word, "?" when absent or odd. */
static void state_word(const cJSON *doc, char out[WORD_MAX])
{
    const char *s = NULL;
    snprintf(out, WORD_MAX, "?");
    if (pe_json_get_str(doc, "state", &s) == PE_OK && word_of(s, WORD_MAX, LOWER))
        snprintf(out, WORD_MAX, "%s", s);
}

/* An integer member >= 0, or -1. */
static int64_t get_count(const cJSON *doc, const char *key)
{
    int64_t v = -1;
    if (pe_json_get_int(doc, key, &v) != PE_OK || v < 0)
        return -1;
    return v;
}

/* A timestamp member in the protocol's format, or -1. */
static int64_t get_time(const cJSON *doc, const char *key)
{
    const char *s = NULL;
    int64_t ms = -1;
    if (pe_json_get_str(doc, key, &s) != PE_OK || pe_time_parse(s, &ms) != PE_OK)
        return -1;
    return ms;
}

/* A message on .../<terminal>/state or .../<terminal>/ack. Empty payloads (a retained
 * message being cleared) and malformed JSON leave what we knew as unknown. */
static void take(struct status *st, const char *id, bool is_state, const void *payload, size_t len)
{
    cJSON *doc = NULL;
    if (len && (pe_json_parse(payload, len, &doc, NULL, 0) != PE_OK || !cJSON_IsObject(doc))) {
        cJSON_Delete(doc);
        doc = NULL; /* malformed: recorded as a state of "?" below */
    }
    bool is_bridge = strcmp(id, PE_ID_BRIDGE) == 0, is_old = strcmp(id, PE_ID_BRIDGE_OLD) == 0;
    if (is_bridge || is_old) {
        struct bridge_state *b = is_bridge ? &st->bridge : &st->old_bridge;
        if (is_state) {
            b->present = len > 0;
            state_word(doc, b->state);
            b->ts = get_time(doc, "ts");
            cJSON_Delete(b->doc);
            b->doc = doc;
            doc = NULL;
        }
        cJSON_Delete(doc);
        return;
    }
    struct term *t = term_get(st, id);
    if (t && is_state) {
        t->has_state = len > 0;
        state_word(doc, t->state);
        t->state_ts = get_time(doc, "ts");
        t->seq = get_count(doc, "seq");
        t->spooled = get_count(doc, "spooled");
        t->delivered = get_count(doc, "delivered");
        t->pending_ts = get_time(doc, "oldest_pending_ts");
        cJSON_Delete(t->state_doc);
        t->state_doc = doc;
        doc = NULL;
    } else if (t) {
        t->has_ack = len > 0;
        t->ack_spooled = get_count(doc, "spooled");
        t->ack_delivered = get_count(doc, "delivered");
        cJSON_Delete(t->ack_doc);
        t->ack_doc = doc;
        doc = NULL;
    }
    cJSON_Delete(doc);
}

static void on_message(void *ctx, const char *topic, const void *payload, size_t len, bool retained)
{
    struct status *st = ctx;
    (void)retained; /* a live message is the newest there is: take it too */
    if (strcmp(topic, st->probe) == 0) {
        st->probed = true;
        st->last_msg_ms = pe_mono_ms();
        return;
    }
    char store[PE_ID_MAX], tid[PE_ID_MAX];
    enum pe_channel ch;
    const char *suffix;
    if (pe_topic_parse(topic, store, tid, &ch, &suffix) != PE_OK ||
        strcmp(store, st->store) != 0 || *suffix || (ch != PE_CH_STATE && ch != PE_CH_ACK))
        return;
    take(st, tid, ch == PE_CH_STATE, payload, len);
    if (st->probed)
        st->last_msg_ms = pe_mono_ms();
}

static void on_connect(void *ctx, bool session_present)
{
    struct status *st = ctx;
    (void)session_present;
    st->connected = true;
    /* QoS 0: nothing is queued for this session once we are gone. +/state covers the bridge's
     * own state (terminal "bridge") and the old one ("_bridge"). */
    static const enum pe_channel kinds[] = {PE_CH_STATE, PE_CH_ACK};
    char pattern[PE_TOPIC_MAX];
    int rc = PE_OK;
    for (size_t i = 0; rc == PE_OK && i < sizeof kinds / sizeof *kinds; i++) {
        rc = pe_topic(pattern, sizeof pattern, st->store, PE_TOPIC_ANY, kinds[i], NULL);
        if (rc == PE_OK)
            rc = pe_mqtt_subscribe(st->mqtt, pattern, 0);
    }
    if (rc == PE_OK)
        rc = pe_mqtt_subscribe(st->mqtt, st->probe, 0);
    if (rc == PE_OK)
        rc = pe_mqtt_publish(st->mqtt, st->probe, "probe", 5, 0, false, NULL);
    if (rc != PE_OK)
        fprintf(stderr, "posedge-ctl status: subscribing at %s: %s\n", st->addr, pe_strerror(rc));
}

static void on_disconnect(void *ctx, int reason)
{
    struct status *st = ctx;
    if (!st->connected)
        st->attempts_failed++;
    st->last_reason = reason;
}

/* ---- the table ---- */

/* "12s", "3m04s", "2h05m", "3d04h". */
static void fmt_age(int64_t ms, char *out, size_t n)
{
    long long s = ms < 0 ? 0 : (long long)(ms / 1000);
    if (s < 60)
        snprintf(out, n, "%llds", s);
    else if (s < 3600)
        snprintf(out, n, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(out, n, "%lldh%02lldm", s / 3600, s % 3600 / 60);
    else
        snprintf(out, n, "%lldd%02lldh", s / 86400, s % 86400 / 3600);
}

static void fmt_count(int64_t v, char *out, size_t n)
{
    if (v < 0)
        snprintf(out, n, "-");
    else
        snprintf(out, n, "%lld", (long long)v);
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const struct term *)a)->id, ((const struct term *)b)->id);
}

/* The columns after the eight original ones, from the state document. */
struct extra {
    char version[VERSION_MAX];
    char uptime[24];
    char devices[DEVICES_MAX];
    char shift[WORD_MAX];
    char catalog[48];
    char cert[32];
};

/* CATALOG: the version in force, "->N" while N is pending, "!" after a refusal; "-" when the
 * document has no catalog. */
static void fmt_catalog(const cJSON *doc, char *out, size_t n)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(doc, "catalog");
    int64_t v = 0, p = 0;
    if (!cJSON_IsObject(c) || pe_json_get_int(c, "version", &v) != PE_OK || v < 0) {
        snprintf(out, n, cJSON_IsObject(c) ? "?" : "-");
        return;
    }
    int k = snprintf(out, n, "%lld", (long long)v);
    if (k > 0 && (size_t)k < n && pe_json_get_int(c, "pending", &p) == PE_OK && p >= 0)
        k += snprintf(out + k, n - (size_t)k, "->%lld", (long long)p);
    if (k > 0 && (size_t)k < n && cJSON_IsString(cJSON_GetObjectItemCaseSensitive(c, "error")))
        snprintf(out + k, n - (size_t)k, "!");
}

/* DEVICES: "ok" when every device says ok, else the others as class:status; "-" when the
 * document names no device. A class or status that is not a plain word shows as "?". */
static void fmt_devices(const cJSON *devices, char *out, size_t n)
{
    snprintf(out, n, "-");
    if (!cJSON_IsObject(devices) || !devices->child)
        return;
    size_t used = 0;
    bool truncated = false;
    out[0] = '\0';
    for (const cJSON *d = devices->child; d; d = d->next) {
        const char *cls = d->string, *stat = NULL;
        if (pe_json_get_str(d, "status", &stat) == PE_OK && strcmp(stat, "ok") == 0)
            continue;
        if (!cls || !word_of(cls, WORD_MAX, LOWER "0123456789-"))
            cls = "?";
        if (!stat || !word_of(stat, WORD_MAX, LOWER))
            stat = "?";
        int w = snprintf(out + used, n - used, "%s%s:%s", used ? "," : "", cls, stat);
        if (w < 0 || (size_t)w >= n - used - 4) { /* room for ",..." */
            out[used] = '\0';
            truncated = true;
            break;
        }
        used += (size_t)w;
    }
    if (truncated)
        snprintf(out + used, n - used, "%s...", used ? "," : "");
    else if (!used)
        snprintf(out, n, "ok");
}

/* CERT: the days the till's certificate has left, "!" when the broker refused its publishes. */
static void fmt_cert(const cJSON *doc, char *out, size_t n)
{
    const cJSON *cert = cJSON_GetObjectItemCaseSensitive(doc, "cert");
    const cJSON *denied = cJSON_GetObjectItemCaseSensitive(doc, "denied");
    int64_t days = 0, count = 0;
    const char *mark = pe_json_get_int(denied, "count", &count) == PE_OK && count > 0 ? "!" : "";
    if (cJSON_IsObject(cert) && pe_json_get_int(cert, "days_left", &days) == PE_OK && days < 0)
        snprintf(out, n, "expired%s", mark);
    else if (cJSON_IsObject(cert) && pe_json_get_int(cert, "days_left", &days) == PE_OK)
        snprintf(out, n, "%lldd%s", (long long)(days < 99999 ? days : 99999), mark);
    else
        snprintf(out, n, "%s%s", cJSON_IsObject(cert) ? "?" : "-", mark);
}

static void extra_of(const struct term *t, int64_t now, struct extra *x)
{
    const cJSON *doc = t->has_state ? t->state_doc : NULL;
    const char *v = NULL;
    int64_t up = -1;
    fmt_cert(doc, x->cert, sizeof x->cert);
    fmt_catalog(doc, x->catalog, sizeof x->catalog);
    snprintf(x->version, sizeof x->version, "-");
    snprintf(x->uptime, sizeof x->uptime, "-");
    snprintf(x->shift, sizeof x->shift, "-");
    if (pe_json_get_str(doc, "version", &v) == PE_OK)
        snprintf(x->version, sizeof x->version, "%s",
                 word_of(v, VERSION_MAX,
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.+~:_-")
                     ? v
                     : "?");
    if (doc && strcmp(t->state, "online") == 0 && pe_json_get_int(doc, "uptime_s", &up) == PE_OK &&
        up >= 0 && up < PE_JSON_MAX_INT / 1000) {
        int64_t since = t->state_ts >= 0 && now > t->state_ts ? now - t->state_ts : 0;
        fmt_age(up * 1000 + since, x->uptime, sizeof x->uptime);
    }
    fmt_devices(cJSON_GetObjectItemCaseSensitive(doc, "devices"), x->devices, sizeof x->devices);
    if (pe_json_get_str(doc, "shift", &v) == PE_OK)
        snprintf(x->shift, sizeof x->shift, "%s", word_of(v, WORD_MAX, LOWER) ? v : "?");
}

static void print_term(const struct term *t, int width, const struct extra *x, int vwidth,
                       int dwidth, int cwidth, bool certs, int64_t now)
{
    char seq[24], spooled[24], delivered[24], backlog[24], pending[24] = "-", age[24] = "-";
    const char *state = !t->has_state ? "unknown" : t->state;
    int64_t s = t->has_state ? t->seq : -1;
    int64_t sp = max64(t->has_state ? t->spooled : -1, t->has_ack ? t->ack_spooled : -1);
    int64_t dl = max64(t->has_state ? t->delivered : -1, t->has_ack ? t->ack_delivered : -1);
    if (s >= 0 && sp > s)
        s = sp; /* sold more since the state was published; the bridge has them already */
    fmt_count(s, seq, sizeof seq);
    fmt_count(sp, spooled, sizeof spooled);
    fmt_count(dl, delivered, sizeof delivered);
    int64_t lag = -1;
    if (s >= 0) {
        lag = s - (dl < 0 ? 0 : dl);
        fmt_count(lag < 0 ? 0 : lag, backlog, sizeof backlog);
    } else if (sp >= 0 && sp > dl) {
        snprintf(backlog, sizeof backlog, ">=%lld", (long long)(sp - (dl < 0 ? 0 : dl)));
    } else {
        snprintf(backlog, sizeof backlog, "-");
    }
    if (lag > 0 || (s < 0 && sp > dl)) {
        if (t->has_state && t->pending_ts >= 0) {
            char a[16];
            fmt_age(now - t->pending_ts, a, sizeof a);
            snprintf(pending, sizeof pending, "%s%s", dl > t->delivered ? "<=" : "", a);
        } else {
            snprintf(pending, sizeof pending, "?");
        }
    }
    if (t->has_state && t->state_ts >= 0)
        fmt_age(now - t->state_ts, age, sizeof age);
    printf("%-*s  %-7s  %8s  %8s  %9s  %7s  %14s  %9s  %-*s  %7s  %-*s  %-*s%s%-*s%s%s\n",
           width, t->id, state, seq, spooled, delivered, backlog, pending, age, vwidth,
           x->version, x->uptime, dwidth, x->devices, certs || cwidth ? 6 : 0, x->shift,
           cwidth ? " " : "", certs ? cwidth : 0, cwidth ? x->catalog : "", certs ? " " : "",
           certs ? x->cert : "");
}

/* " KEY=VALUE" of member key of obj when present (a scalar). */
static void put_member(const char *name, const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsObject(v) || cJSON_IsArray(v))
        return;
    printf(" %s=", name);
    ctl_put_value(stdout, v);
}

/* " KEY=AGE" from a timestamp member (how long ago), "-" when null, nothing when absent. */
static void put_since(const char *name, const cJSON *obj, const char *key, int64_t now)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    int64_t ms = get_time(obj, key);
    char age[24] = "-";
    if (!v || (ms < 0 && !cJSON_IsNull(v)))
        return;
    if (ms >= 0)
        fmt_age(now - ms, age, sizeof age);
    printf(" %s=%s", name, age);
}

/* The bridge's signature check, when it refused records: sig_rejected=N, then per till
 * sig_rejected.TERMINAL=N:LAST_REASON@SEQ. */
static void put_signing(const cJSON *sg)
{
    int64_t n = 0;
    if (!cJSON_IsObject(sg) || pe_json_get_int(sg, "rejected", &n) != PE_OK || n <= 0)
        return;
    printf(" sig_rejected=%lld", (long long)n);
    const cJSON *tills = cJSON_GetObjectItemCaseSensitive(sg, "rejected_tills");
    for (const cJSON *t = cJSON_IsArray(tills) ? tills->child : NULL; t; t = t->next) {
        const char *term = NULL, *why = NULL;
        int64_t k = 0, seq = 0;
        if (pe_json_get_str(t, "terminal", &term) != PE_OK || !pe_event_id_valid(term, 1) ||
            pe_json_get_int(t, "rejected", &k) != PE_OK ||
            pe_json_get_str(t, "last_reason", &why) != PE_OK ||
            !word_of(why, REASON_MAX, LOWER) || pe_json_get_int(t, "last_seq", &seq) != PE_OK)
            continue;
        printf(" sig_rejected.%s=%lld:%s@%lld", term, (long long)k, why, (long long)seq);
    }
}

/* The bridge's line (docs/protocol.md, "The bridge's state"); see the file's comment. */
static void print_bridge(const struct bridge_state *b, int64_t now)
{
    const cJSON *doc = b->doc, *v;
    char age[24] = "-";
    printf("bridge %s: pending=", b->state);
    if ((v = cJSON_GetObjectItemCaseSensitive(doc, "pending")) && !cJSON_IsObject(v))
        ctl_put_value(stdout, v);
    else
        fputc('-', stdout);
    fputs(" spooled_bytes=", stdout);
    if ((v = cJSON_GetObjectItemCaseSensitive(doc, "spooled_bytes")) && !cJSON_IsObject(v))
        ctl_put_value(stdout, v);
    else
        fputc('-', stdout);
    const cJSON *kafka = cJSON_GetObjectItemCaseSensitive(doc, "kafka");
    if (cJSON_IsObject(kafka)) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(kafka, "connected");
        const char *auth = NULL;
        if (pe_json_get_str(kafka, "auth", &auth) == PE_OK && strcmp(auth, "ok") != 0)
            printf(" kafka=%s", auth); /* refused: the connection state says less */
        else
            printf(" kafka=%s", cJSON_IsTrue(c)    ? "connected"
                                : cJSON_IsFalse(c) ? "disconnected"
                                                   : "unknown");
        if (auth && strcmp(auth, "ok") != 0 &&
            cJSON_IsString(cJSON_GetObjectItemCaseSensitive(kafka, "refused")))
            put_member("kafka_refused", kafka, "refused");
        int64_t up, all;
        if (pe_json_get_int(kafka, "brokers_up", &up) == PE_OK &&
            pe_json_get_int(kafka, "brokers", &all) == PE_OK)
            printf(" kafka_brokers=%lld/%lld", (long long)up, (long long)all);
        put_member("kafka_mode", kafka, "mode");
        put_since("last_delivered", kafka, "last_delivered_ts", now);
    } else if (kafka) {
        put_member("kafka", doc, "kafka");
    }
    put_member("drain_eps", doc, "drain_eps");
    if ((v = cJSON_GetObjectItemCaseSensitive(doc, "oldest_pending_age_s")) &&
        (cJSON_IsNull(v) || cJSON_IsNumber(v))) {
        char a[24] = "-";
        if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1e12)
            fmt_age((int64_t)(v->valuedouble * 1000), a, sizeof a);
        printf(" oldest_pending=%s", a);
    }
    const cJSON *quota = cJSON_GetObjectItemCaseSensitive(doc, "quota");
    for (const cJSON *q = cJSON_IsObject(quota) ? quota->child : NULL; q; q = q->next) {
        int64_t used, limit;
        if (!q->string || !word_of(q->string, WORD_MAX, LOWER "0123456789-") ||
            pe_json_get_int(q, "used_bytes", &used) != PE_OK ||
            pe_json_get_int(q, "limit_bytes", &limit) != PE_OK)
            continue;
        printf(" quota.%s=%lld/", q->string, (long long)used);
        if (limit > 0)
            printf("%lld", (long long)limit);
        else
            fputs("none", stdout);
    }
    put_member("terminals", doc, "terminals");
    put_member("dead", doc, "dead");
    put_signing(cJSON_GetObjectItemCaseSensitive(doc, "signing"));
    const cJSON *cert = cJSON_GetObjectItemCaseSensitive(doc, "cert");
    const cJSON *crl = cJSON_GetObjectItemCaseSensitive(doc, "crl");
    if (cJSON_IsObject(cert))
        put_member("cert_days", cert, "days_left");
    if (cJSON_IsObject(crl)) {
        put_member("crl_days", crl, "days_left");
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(crl, "warning")))
            fputs(" crl=due", stdout);
    }
    put_member("version", doc, "version");
    int64_t up;
    if (strcmp(b->state, "offline") != 0 && pe_json_get_int(doc, "uptime_s", &up) == PE_OK &&
        up >= 0 && up < PE_JSON_MAX_INT / 1000) {
        char a[24];
        fmt_age(up * 1000 + (b->ts >= 0 && now > b->ts ? now - b->ts : 0), a, sizeof a);
        printf(" uptime=%s", a);
    }
    if (b->ts >= 0)
        fmt_age(now - b->ts, age, sizeof age);
    printf(" state_age=%s\n", age);
}

static void print_table(struct status *st)
{
    int64_t now = pe_time_now_ms();
    int width = (int)strlen("TERMINAL"), vwidth = (int)strlen("VERSION"),
        dwidth = (int)strlen("DEVICES");
    struct extra *x = calloc(st->nterms ? st->nterms : 1, sizeof *x);
    if (!x) {
        fprintf(stderr, "posedge-ctl status: %s\n", pe_strerror(PE_ENOMEM));
        st->oom = true;
        return;
    }
    bool certs = false; /* a till reports a certificate: the CERT column is shown */
    int cwidth = 0;     /* a till reports its catalog: the CATALOG column is shown, this wide */
    if (st->nterms)
        qsort(st->terms, st->nterms, sizeof *st->terms, by_id);
    for (size_t i = 0; i < st->nterms; i++) {
        extra_of(&st->terms[i], now, &x[i]);
        if (st->terms[i].has_state &&
            cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(st->terms[i].state_doc, "cert")))
            certs = true;
        if ((int)strlen(st->terms[i].id) > width)
            width = (int)strlen(st->terms[i].id);
        if ((int)strlen(x[i].version) > vwidth)
            vwidth = (int)strlen(x[i].version);
        if ((int)strlen(x[i].devices) > dwidth)
            dwidth = (int)strlen(x[i].devices);
        if (st->terms[i].has_state &&
            cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(st->terms[i].state_doc, "catalog")) &&
            cwidth < (int)strlen("CATALOG"))
            cwidth = (int)strlen("CATALOG");
    }
    for (size_t i = 0; cwidth && i < st->nterms; i++)
        if ((int)strlen(x[i].catalog) > cwidth)
            cwidth = (int)strlen(x[i].catalog);
    printf("%-*s  %-7s  %8s  %8s  %9s  %7s  %14s  %9s  %-*s  %7s  %-*s  %-*s%s%-*s%s%s\n",
           width, "TERMINAL", "STATE", "SEQ", "SPOOLED", "DELIVERED", "BACKLOG",
           "OLDEST_PENDING", "STATE_AGE", vwidth, "VERSION", "UPTIME", dwidth, "DEVICES",
           certs || cwidth ? 6 : 0, "SHIFT", cwidth ? " " : "", certs ? cwidth : 0,
           cwidth ? "CATALOG" : "", certs ? " " : "", certs ? "CERT" : "");
    for (size_t i = 0; i < st->nterms; i++)
        print_term(&st->terms[i], width, &x[i], vwidth, dwidth, cwidth, certs, now);
    free(x);
    if (st->nterms == 0)
        printf("(no terminal of store %s has a retained state or ack)\n", st->store);
    const struct bridge_state *b = st->bridge.present ? &st->bridge : &st->old_bridge;
    if (b->present)
        print_bridge(b, now);
}

/* A copy of doc for the JSON output, or null. Returns NULL only when out of memory. */
static cJSON *dup_or_null(const cJSON *doc)
{
    return doc ? cJSON_Duplicate(doc, true) : cJSON_CreateNull();
}

/* Every document as one JSON object on one line. Errors: PE_ENOMEM. */
static int print_json(struct status *st)
{
    char ts[PE_TIME_STRLEN];
    pe_time_format(pe_time_now_ms(), ts);
    int rc = PE_ENOMEM;
    cJSON *all = cJSON_CreateObject(), *terms = cJSON_CreateObject();
    if (!all || !terms) {
        cJSON_Delete(terms);
        goto delete_all;
    }
    cJSON_AddItemToObject(all, "store", cJSON_CreateString(st->store));
    cJSON_AddItemToObject(all, "ts", cJSON_CreateString(ts));
    cJSON_AddItemToObject(all, "terminals", terms);
    if (st->nterms)
        qsort(st->terms, st->nterms, sizeof *st->terms, by_id);
    for (size_t i = 0; i < st->nterms; i++) {
        const struct term *t = &st->terms[i];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            goto delete_all;
        cJSON_AddItemToObject(terms, t->id, o);
        cJSON_AddItemToObject(o, "state", dup_or_null(t->has_state ? t->state_doc : NULL));
        cJSON_AddItemToObject(o, "ack", dup_or_null(t->has_ack ? t->ack_doc : NULL));
    }
    const struct bridge_state *b = st->bridge.present ? &st->bridge : &st->old_bridge;
    cJSON_AddItemToObject(all, "bridge", dup_or_null(b->present ? b->doc : NULL));
    /* cJSON_AddItemToObject drops a NULL item silently: count what must be there. */
    if (cJSON_GetArraySize(all) != 4 || cJSON_GetArraySize(terms) != (int)st->nterms)
        goto delete_all;
    for (const cJSON *o = terms->child; o; o = o->next)
        if (cJSON_GetArraySize(o) != 2)
            goto delete_all;
    char *text = cJSON_PrintUnformatted(all);
    if (!text)
        goto delete_all;
    puts(text);
    free(text);
    rc = PE_OK;
delete_all:
    cJSON_Delete(all);
    if (rc)
        fprintf(stderr, "posedge-ctl status: %s\n", pe_strerror(rc));
    return rc;
}

/* ---- the command ---- */

/* Run the loop until everything retained is in (quiet after the probe), the broker refused
 * us, or the deadline. */
static int collect(struct status *st, int64_t deadline)
{
    for (;;) {
        int64_t now = pe_mono_ms(), wait = deadline - now;
        if (st->probed && now - st->last_msg_ms >= QUIET_MS)
            return PE_OK;
        if (!st->connected && st->last_reason == PE_EDECLINED)
            return PE_EDECLINED; /* the credentials: trying again will not help */
        if (wait <= 0)
            return PE_EAGAIN;
        if (st->probed && st->last_msg_ms + QUIET_MS - now < wait)
            wait = st->last_msg_ms + QUIET_MS - now;
        int rc = pe_loop_run_once(st->loop, (int)wait);
        if (rc)
            return rc;
    }
}

int ctl_status(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"mqtt", required_argument, NULL, 'm'},    {"store", required_argument, NULL, 's'},
        {"user", required_argument, NULL, 'u'},    {"password-file", required_argument, NULL, 'p'},
        {"timeout", required_argument, NULL, 'T'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},          CTL_TLS_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    struct status st = {.store = NULL};
    struct ctl_tls tls = {NULL};
    char host[HOST_MAX], password[PE_SECRET_MAX] = "", err[512];
    const char *user = NULL, *password_file = NULL;
    int port = 0;
    long timeout_s = 5;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'm') {
            if (ctl_mqtt_addr("status", optarg, host, sizeof host, &port))
                return EXIT_USAGE;
            st.addr = optarg;
        } else if (c == 's') {
            if (!pe_event_id_valid(optarg, 1)) {
                fprintf(stderr, "posedge-ctl status: --store: not a store id: \"%s\"\n", optarg);
                return EXIT_USAGE;
            }
            st.store = optarg;
        } else if (c == 'u') {
            user = optarg;
        } else if (c == 'p') {
            password_file = optarg;
        } else if (c == 'T') {
            if (ctl_seconds("status", "--timeout", optarg, 3600, &timeout_s))
                return EXIT_USAGE;
        } else if (c == 'j') {
            st.json = true;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else if (!ctl_tls_opt(c, optarg, &tls)) {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (ctl_tls_check("status", &tls))
        return EXIT_USAGE;
    if (!st.addr || !st.store || optind != argc) {
        fprintf(stderr, "posedge-ctl status: needs --mqtt HOST:PORT and --store S, nothing else\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (password_file && !user) {
        fprintf(stderr, "posedge-ctl status: --password-file needs --user\n");
        return EXIT_USAGE;
    }
    if (password_file && pe_secret_read("--password-file", password_file, 0, password,
                                        sizeof password, err, sizeof err)) {
        fprintf(stderr, "posedge-ctl status: %s\n", err);
        return EXIT_USAGE;
    }
    int64_t deadline = pe_mono_ms() + timeout_s * 1000;
    /* Failed attempts are reported once, below, in words; the client's own lines would only
     * repeat them. */
    pe_log_set_level(PE_LOG_ERROR);
    char id[64];
    ctl_client_id("status", id, sizeof id);

    int status = EXIT_FAIL;
    int rc = pe_topic(st.probe, sizeof st.probe, st.store, PE_ID_BRIDGE, PE_CH_PROBE, id);
    if (rc == PE_OK)
        rc = pe_loop_create(&st.loop);
    if (rc) {
        fprintf(stderr, "posedge-ctl status: %s\n", pe_strerror(rc));
        goto wipe_password;
    }
    struct pe_mqtt_opts mo = {
        .client_id = id,
        .host = host,
        .port = port,
        .username = user,
        .on_connect = on_connect,
        .on_disconnect = on_disconnect,
        .on_message = on_message,
        .ctx = &st,
    };
    ctl_tls_apply(&tls, &mo);
    rc = ctl_mqtt_open(st.loop, &mo, password, sizeof password, &st.mqtt);
    if (rc) {
        fprintf(stderr, "posedge-ctl status: MQTT client for %s: %s\n", st.addr, pe_strerror(rc));
        goto destroy_loop;
    }
    rc = collect(&st, deadline);
    if (rc != PE_OK && rc != PE_EAGAIN && rc != PE_EDECLINED) {
        fprintf(stderr, "posedge-ctl status: event loop: %s\n", pe_strerror(rc));
        goto destroy_mqtt;
    }
    if (!st.connected) {
        ctl_unreachable("status", st.addr, timeout_s, st.attempts_failed, st.last_reason,
                        tls.ca != NULL);
        goto destroy_mqtt;
    }
    if (!st.probed)
        fprintf(stderr,
                "posedge-ctl status: the broker did not confirm the subscriptions within %ld s; "
                "the table may be incomplete\n",
                timeout_s);
    if (st.oom)
        fprintf(stderr, "posedge-ctl status: out of memory: some terminals are missing\n");
    if (st.json) {
        if (print_json(&st))
            goto destroy_mqtt;
    } else {
        print_table(&st);
    }
    status = fflush(stdout) == 0 ? 0 : EXIT_FAIL;

destroy_mqtt:
    pe_mqtt_destroy(st.mqtt);
destroy_loop:
    pe_loop_destroy(st.loop);
    for (size_t i = 0; i < st.nterms; i++) {
        cJSON_Delete(st.terms[i].state_doc);
        cJSON_Delete(st.terms[i].ack_doc);
    }
    free(st.terms);
    cJSON_Delete(st.bridge.doc);
    cJSON_Delete(st.old_bridge.doc);
wipe_password:
    pe_secret_wipe(password, sizeof password);
    return status;
}
