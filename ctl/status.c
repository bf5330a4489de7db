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
 * CTL_QUIET_MS (300 ms) after the subscriptions are in place, or until --timeout (default 5 s).
 * The connection, its options and the probe are the link's (ctl/link.c). Then it prints one
 * line per terminal, sorted by id:
 *
 *   TERMINAL  STATE  SEQ  SPOOLED  DELIVERED  BACKLOG  OLDEST_PENDING  STATE_AGE
 *             VERSION  UPTIME  DEVICES  SHIFT  CATALOG  CERT  UPGRADE
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
 * broker refused publishes of the till (its state's "denied"); UPGRADE, shown when a till of
 * the store reports an upgrade (its state's "upgrade" is an object: docs/protocol.md,
 * "Rollout"), that upgrade's OUTCOME:VERSION ("ok:0.9.1", "waiting:0.9.1",
 * "rolled_back:0.9.1"; "?" for a part that is not readable; "-" when the till never had one).
 * The columns after DEVICES are one list (TAIL_COLUMNS), each padded but the last shown. Any of
 * them is "-" when the state does not say (the will says nothing of them). A last line
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
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ctl/ctl.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "posedge/protocol.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

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

_Static_assert(offsetof(struct term, id) == 0, "ctl_till_get and ctl_by_id: the id first");

struct bridge_state {
    bool present;         /* a non-empty bridge state arrived */
    char state[WORD_MAX]; /* its "state", "?" when unreadable */
    int64_t ts;           /* -1 when unknown */
    cJSON *doc;           /* owned: the document, NULL when not an object */
};

struct status {
    struct ctl_link link;     /* the connection, the options it takes, the probe */
    bool json;                /* --json: the documents instead of the table */
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
          "CERT column then shows each till's certificate's days left. The UPGRADE column,\n"
          "shown once a till has had an upgrade (posedge-ctl rollout), is its last upgrade's\n"
          "OUTCOME:VERSION (waiting, installing, ok, rolled_back or failed). Collects until the\n"
          "broker has been quiet for 300 ms, at most --timeout seconds (default 5). Exit 0\n"
          "with the table, 1 when the broker cannot be reached within --timeout or refuses\n"
          "us, 2 for a usage error.\n",
          out);
}

/* ---- what arrives ---- */

static struct term *term_get(struct status *st, const char *id)
{
    struct term *t = ctl_till_get(&st->terms, &st->nterms, &st->cap, sizeof *t, id, true);
    st->oom |= !t;
    return t;
}

/* True when s is 1..n-1 characters, all from set. */
static bool word_of(const char *s, size_t n, const char *set)
{
    size_t len = strlen(s);
    return len > 0 && len < n && strspn(s, set) == len;
}

#define LOWER "abcdefghijklmnopqrstuvwxyz_"

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
            ctl_state_word(doc, b->state, sizeof b->state);
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
        ctl_state_word(doc, t->state, sizeof t->state);
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

/* A message on one of the store's topics (ctl_link_deliver). */
static void on_message(void *ctx, const char *terminal, enum pe_channel ch, const void *payload,
                       size_t len)
{
    if (ch == PE_CH_STATE || ch == PE_CH_ACK)
        take(ctx, terminal, ch == PE_CH_STATE, payload, len);
}

/* QoS 0: nothing is queued for this session once we are gone. +/state covers the bridge's own
 * state (terminal "bridge") and the old one ("_bridge"). */
static const struct ctl_link_sub subs[] = {{NULL, PE_CH_STATE, 0}, {NULL, PE_CH_ACK, 0}};
static const struct ctl_link_hooks hooks = {.message = on_message};

/* A status before its options: default --timeout 5 s. */
static void status_init(struct status *st)
{
    memset(st, 0, sizeof *st);
    ctl_link_init(&st->link, "status", 5, 3600, &hooks, st);
    st->link.subs = subs;
    st->link.nsubs = sizeof subs / sizeof *subs;
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

/* X(NAME, header, member) - the columns after DEVICES, in order: SHIFT always, each of the
 * others when some till of the store reports what it shows (its state has member as an
 * object). */
#define TAIL_COLUMNS(X)                                                                            \
    X(SHIFT, "SHIFT", NULL)                                                                        \
    X(CATALOG, "CATALOG", "catalog")                                                               \
    X(CERT, "CERT", "cert")                                                                        \
    X(UPGRADE, "UPGRADE", "upgrade")

enum tail {
#define TAIL_ENUM(name, head, member) TAIL_##name,
    TAIL_COLUMNS(TAIL_ENUM)
#undef TAIL_ENUM
        TAIL__COUNT
};

static const struct {
    const char *head;   /* the column's header */
    const char *member; /* shown when a till's state has this member as an object; NULL: always */
} tails[TAIL__COUNT] = {
#define TAIL_ROW(name, h, m) [TAIL_##name] = {h, m},
    TAIL_COLUMNS(TAIL_ROW)
#undef TAIL_ROW
};

#define TAIL_MAX 80 /* a tail column's value: "rolled_back:" and a version of 64 */

/* The columns after the eight original ones, from the state document. */
struct extra {
    char version[VERSION_MAX];
    char uptime[24];
    char devices[DEVICES_MAX];
    char tail[TAIL__COUNT][TAIL_MAX];
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

/* UPGRADE: OUTCOME:VERSION of the till's last upgrade ("ok:0.9.1"), "?" for a part that is
 * not readable; "-" when it never had one. */
static void fmt_upgrade(const cJSON *doc, char *out, size_t n)
{
    struct ctl_upgrade u;
    if (ctl_upgrade_of(doc, &u))
        snprintf(out, n, "%s:%s", pe_upgrade_outcome_word(u.outcome), u.version[0] ? u.version : "?");
    else
        snprintf(out, n, "-");
}

static void extra_of(const struct term *t, int64_t now, struct extra *x)
{
    const cJSON *doc = t->has_state ? t->state_doc : NULL;
    const char *v = NULL;
    int64_t up = -1;
    fmt_cert(doc, x->tail[TAIL_CERT], TAIL_MAX);
    fmt_catalog(doc, x->tail[TAIL_CATALOG], TAIL_MAX);
    fmt_upgrade(doc, x->tail[TAIL_UPGRADE], TAIL_MAX);
    snprintf(x->version, sizeof x->version, "-");
    snprintf(x->uptime, sizeof x->uptime, "-");
    snprintf(x->tail[TAIL_SHIFT], TAIL_MAX, "-");
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
        snprintf(x->tail[TAIL_SHIFT], TAIL_MAX, "%s", word_of(v, WORD_MAX, LOWER) ? v : "?");
}

/* The columns after DEVICES (widths[i] 0: not shown), each padded to its width but the last,
 * so that no line ends in blanks. */
static void put_tail(const char *const vals[TAIL__COUNT], const int widths[TAIL__COUNT])
{
    int last = 0;
    for (int i = 0; i < TAIL__COUNT; i++)
        if (widths[i])
            last = i;
    for (int i = 0; i <= last; i++) {
        if (i == last)
            fputs(vals[i], stdout);
        else if (widths[i])
            printf("%-*s  ", widths[i], vals[i]);
    }
    putchar('\n');
}

static void print_term(const struct term *t, int width, const struct extra *x, int vwidth,
                       int dwidth, const int twidths[TAIL__COUNT], int64_t now)
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
    printf("%-*s  %-7s  %8s  %8s  %9s  %7s  %14s  %9s  %-*s  %7s  %-*s  ", width, t->id, state,
           seq, spooled, delivered, backlog, pending, age, vwidth, x->version, x->uptime, dwidth,
           x->devices);
    const char *vals[TAIL__COUNT];
    for (int i = 0; i < TAIL__COUNT; i++)
        vals[i] = x->tail[i];
    put_tail(vals, twidths);
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
    int twidths[TAIL__COUNT] = {0}; /* 0: the column is not shown */
    if (st->nterms)
        qsort(st->terms, st->nterms, sizeof *st->terms, ctl_by_id);
    for (size_t i = 0; i < st->nterms; i++) {
        const struct term *t = &st->terms[i];
        extra_of(t, now, &x[i]);
        if ((int)strlen(t->id) > width)
            width = (int)strlen(t->id);
        if ((int)strlen(x[i].version) > vwidth)
            vwidth = (int)strlen(x[i].version);
        if ((int)strlen(x[i].devices) > dwidth)
            dwidth = (int)strlen(x[i].devices);
        for (int k = 0; k < TAIL__COUNT; k++)
            if (!tails[k].member ||
                (t->has_state &&
                 cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(t->state_doc, tails[k].member))))
                twidths[k] = (int)strlen(tails[k].head);
    }
    twidths[TAIL_SHIFT] = (int)strlen(tails[TAIL_SHIFT].head); /* even with no till */
    for (size_t i = 0; i < st->nterms; i++)
        for (int k = 0; k < TAIL__COUNT; k++)
            if (twidths[k] && (int)strlen(x[i].tail[k]) > twidths[k])
                twidths[k] = (int)strlen(x[i].tail[k]);
    printf("%-*s  %-7s  %8s  %8s  %9s  %7s  %14s  %9s  %-*s  %7s  %-*s  ", width, "TERMINAL",
           "STATE", "SEQ", "SPOOLED", "DELIVERED", "BACKLOG", "OLDEST_PENDING", "STATE_AGE",
           vwidth, "VERSION", "UPTIME", dwidth, "DEVICES");
    const char *heads[TAIL__COUNT];
    for (int k = 0; k < TAIL__COUNT; k++)
        heads[k] = tails[k].head;
    put_tail(heads, twidths);
    for (size_t i = 0; i < st->nterms; i++)
        print_term(&st->terms[i], width, &x[i], vwidth, dwidth, twidths, now);
    free(x);
    if (st->nterms == 0)
        printf("(no terminal of store %s has a retained state or ack)\n", st->link.store);
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
    cJSON_AddItemToObject(all, "store", cJSON_CreateString(st->link.store));
    cJSON_AddItemToObject(all, "ts", cJSON_CreateString(ts));
    cJSON_AddItemToObject(all, "terminals", terms);
    if (st->nterms)
        qsort(st->terms, st->nterms, sizeof *st->terms, ctl_by_id);
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
    rc = ctl_put_json(stdout, all);
delete_all:
    cJSON_Delete(all);
    if (rc)
        fprintf(stderr, "posedge-ctl status: %s\n", pe_strerror(rc));
    return rc;
}

/* ---- the command ---- */

int ctl_status(int argc, char **argv)
{
    static const struct option longopts[] = {
        CTL_LINK_LONGOPTS,
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct status st;
    status_init(&st);
    int c, taken, status = EXIT_USAGE;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if ((taken = ctl_link_opt(&st.link, c, optarg)) < 0) {
            return EXIT_USAGE;
        } else if (taken) {
            continue;
        } else if (c == 'j') {
            st.json = true;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!st.link.addr || !st.link.store || optind != argc) {
        fprintf(stderr, "posedge-ctl status: needs --mqtt HOST:PORT and --store S, nothing else\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (ctl_link_check(&st.link))
        goto close_link;
    status = EXIT_FAIL;
    long timeout_s = st.link.timeout_s;
    int64_t deadline = pe_mono_ms() + timeout_s * 1000;
    if (ctl_link_open(&st.link))
        goto close_link;
    int rc = ctl_link_collect(&st.link, deadline);
    if (rc != PE_OK && rc != PE_EAGAIN && rc != PE_EDECLINED) {
        fprintf(stderr, "posedge-ctl status: event loop: %s\n", pe_strerror(rc));
        goto close_link;
    }
    if (!ctl_link_reached(&st.link, timeout_s))
        goto close_link;
    if (!st.link.probed)
        fprintf(stderr,
                "posedge-ctl status: the broker did not confirm the subscriptions within %ld s; "
                "the table may be incomplete\n",
                timeout_s);
    if (st.oom)
        fprintf(stderr, "posedge-ctl status: out of memory: some terminals are missing\n");
    if (st.json) {
        if (print_json(&st))
            goto close_link;
    } else {
        print_table(&st);
    }
    status = fflush(stdout) == 0 ? 0 : EXIT_FAIL;

close_link:
    ctl_link_close(&st.link);
    for (size_t i = 0; i < st.nterms; i++) {
        cJSON_Delete(st.terms[i].state_doc);
        cJSON_Delete(st.terms[i].ack_doc);
    }
    free(st.terms);
    cJSON_Delete(st.bridge.doc);
    cJSON_Delete(st.old_bridge.doc);
    return status;
}
