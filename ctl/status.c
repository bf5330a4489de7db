/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status.c - posedge-ctl status: how far behind each terminal of a store is, from the broker.
 *
 *   posedge-ctl status --mqtt HOST:PORT --store S [--timeout SECONDS]
 *
 * Everything it shows is what the broker keeps retained (docs/protocol.md): each agent's state
 * on posedge/v1/S/<terminal>/state, the bridge's ack on .../ack and the bridge's own state on
 * posedge/v1/S/_bridge/state. It connects with a one-shot client id, subscribes to those, and
 * collects until no message has arrived for QUIET_MS after the subscriptions are in place, or
 * until --timeout (default 5 s). Then it prints one line per terminal, sorted by id:
 *
 *   TERMINAL  STATE    SEQ  SPOOLED  DELIVERED  BACKLOG  OLDEST_PENDING  STATE_AGE
 *
 * SEQ is the last seq of the terminal's journal as its state says; SPOOLED and DELIVERED are
 * the larger of the agent's view (its state) and the bridge's retained ack, since both only
 * grow and the ack is often newer; BACKLOG is SEQ - DELIVERED, the records not yet in Kafka;
 * OLDEST_PENDING is the age of the oldest of them (from the state's oldest_pending_ts): "-"
 * when there is no backlog, "<=AGE" when the ack has moved past the state's delivered (the
 * oldest pending record is then younger than that), "?" when unknown. A state that is only the
 * will ({"state":"offline"}, a till that died) names no seq: SEQ is then "-" and BACKLOG
 * ">=N", the records the bridge has but Kafka does not yet. STATE_AGE is how long ago the
 * state was published (agents republish every 10 s while connected). A last line gives the
 * bridge's state when it has one.
 *
 * The subscriptions are known to be in place when our own probe message, published after
 * them on the same connection, comes back: the broker handles one client's packets in order
 * and sends retained messages when it handles SUBSCRIBE, so by then every retained message
 * has arrived too. The wait is on the loop (pe_loop_run_once against a deadline), never a
 * sleep.
 *
 * Exit status: 0 when the table was printed (even empty, and even when the probe did not come
 * back in time: the table may then be incomplete, which stderr says); 1 when the broker could
 * not be reached within --timeout; 2 for a usage error.
 *
 * pe_mqtt sessions are persistent (clean session off), so the broker keeps a session for every
 * client id it has seen. The subscriptions are QoS 0, which the broker does not queue for an
 * absent client, so such a leftover session holds no messages.
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

#define EXIT_FAIL 1
#define EXIT_USAGE 2

#define QUIET_MS 300  /* no message for this long after the probe: everything is in */
#define TOPIC_MAX 160 /* our topics and patterns */
#define HOST_MAX 256  /* --mqtt host */
#define WORD_MAX 16   /* a state word as printed ("online", "offline", "spool_full") */
#define BRIDGE_ID "_bridge"

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
};

struct bridge_state {
    bool present;         /* a non-empty _bridge/state arrived */
    char state[WORD_MAX]; /* its "state", "?" when unreadable */
    int64_t ts;           /* -1 when unknown */
    int64_t pending;
    int64_t spooled_bytes;
};

struct status {
    struct pe_loop *loop;   /* owned */
    struct pe_mqtt *mqtt;   /* owned */
    const char *store;      /* borrowed from argv */
    const char *addr;       /* borrowed from argv, for messages */
    char prefix[TOPIC_MAX]; /* "posedge/v1/<store>/" */
    char probe[TOPIC_MAX];  /* our own probe topic */
    bool connected;         /* on_connect seen at least once */
    bool probed;            /* the probe came back: the subscriptions are in place */
    int attempts_failed;    /* connection attempts that failed before the first connect */
    int last_reason;        /* PE_E* of the last failure */
    int64_t last_msg_ms;    /* pe_mono_ms of the probe or the last message after it */
    bool oom;               /* a terminal could not be recorded */
    struct term *terms;     /* one per terminal seen, in arrival order until printed */
    size_t nterms, cap;
    struct bridge_state bridge;
};

static void usage(FILE *out)
{
    fputs("usage: posedge-ctl status --mqtt HOST:PORT --store S [--timeout SECONDS]\n"
          "\n"
          "Reads the retained state and ack of every terminal of store S, and the bridge's\n"
          "state, from the MQTT broker, and prints per terminal: online/offline, last seq,\n"
          "spooled, delivered, backlog (seq - delivered) and the age of the oldest record not\n"
          "yet delivered. Collects until the broker has been quiet for 300 ms, at most\n"
          "--timeout seconds (default 5). Exit 0 with the table, 1 when the broker cannot be\n"
          "reached within --timeout, 2 for a usage error.\n",
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

/* The "state" member as a printable word, "?" when absent or odd. */
static void state_word(const cJSON *doc, char out[WORD_MAX])
{
    const char *s = NULL;
    snprintf(out, WORD_MAX, "?");
    if (pe_json_get_str(doc, "state", &s) != PE_OK || !s[0] || strlen(s) >= WORD_MAX)
        return;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || *p == '_'))
            return;
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
    if (strcmp(id, BRIDGE_ID) == 0) {
        struct bridge_state *b = &st->bridge;
        if (is_state) {
            b->present = len > 0;
            state_word(doc, b->state);
            b->ts = get_time(doc, "ts");
            b->pending = get_count(doc, "pending");
            b->spooled_bytes = get_count(doc, "spooled_bytes");
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
    } else if (t) {
        t->has_ack = len > 0;
        t->ack_spooled = get_count(doc, "spooled");
        t->ack_delivered = get_count(doc, "delivered");
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
    size_t pl = strlen(st->prefix);
    if (strncmp(topic, st->prefix, pl) != 0)
        return;
    const char *id = topic + pl, *slash = strchr(id, '/');
    if (!slash || slash == id || (size_t)(slash - id) >= PE_ID_MAX)
        return;
    char tid[PE_ID_MAX];
    memcpy(tid, id, (size_t)(slash - id));
    tid[slash - id] = '\0';
    bool is_state = strcmp(slash, "/state") == 0;
    if (!pe_event_id_valid(tid, 1) || (!is_state && strcmp(slash, "/ack") != 0))
        return;
    take(st, tid, is_state, payload, len);
    if (st->probed)
        st->last_msg_ms = pe_mono_ms();
}

static void on_connect(void *ctx, bool session_present)
{
    struct status *st = ctx;
    (void)session_present;
    st->connected = true;
    /* QoS 0: nothing is queued for this session once we are gone. */
    const char *kinds[] = {"+/state", "+/ack", BRIDGE_ID "/state"};
    char pattern[TOPIC_MAX];
    int rc = PE_OK;
    for (size_t i = 0; rc == PE_OK && i < sizeof kinds / sizeof *kinds; i++) {
        snprintf(pattern, sizeof pattern, "%s%s", st->prefix, kinds[i]);
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

static void print_term(const struct term *t, int width, int64_t now)
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
    printf("%-*s  %-7s  %8s  %8s  %9s  %7s  %14s  %9s\n", width, t->id, state, seq, spooled,
           delivered, backlog, pending, age);
}

static void print_table(struct status *st)
{
    int64_t now = pe_time_now_ms();
    int width = (int)strlen("TERMINAL");
    for (size_t i = 0; i < st->nterms; i++)
        if ((int)strlen(st->terms[i].id) > width)
            width = (int)strlen(st->terms[i].id);
    if (st->nterms)
        qsort(st->terms, st->nterms, sizeof *st->terms, by_id);
    printf("%-*s  %-7s  %8s  %8s  %9s  %7s  %14s  %9s\n", width, "TERMINAL", "STATE", "SEQ",
           "SPOOLED", "DELIVERED", "BACKLOG", "OLDEST_PENDING", "STATE_AGE");
    for (size_t i = 0; i < st->nterms; i++)
        print_term(&st->terms[i], width, now);
    if (st->nterms == 0)
        printf("(no terminal of store %s has a retained state or ack)\n", st->store);
    const struct bridge_state *b = &st->bridge;
    if (b->present) {
        char pending[24], bytes[24], age[24] = "-";
        fmt_count(b->pending, pending, sizeof pending);
        fmt_count(b->spooled_bytes, bytes, sizeof bytes);
        if (b->ts >= 0)
            fmt_age(now - b->ts, age, sizeof age);
        printf("bridge %s: pending=%s spooled_bytes=%s state_age=%s\n", b->state, pending, bytes,
               age);
    }
}

/* ---- the command ---- */

/* Run the loop until everything retained is in (quiet after the probe) or the deadline. */
static int collect(struct status *st, int64_t deadline)
{
    for (;;) {
        int64_t now = pe_mono_ms(), wait = deadline - now;
        if (st->probed && now - st->last_msg_ms >= QUIET_MS)
            return PE_OK;
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
        {"mqtt", required_argument, NULL, 'm'},
        {"store", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct status st = {.store = NULL};
    char host[HOST_MAX];
    int port = 0;
    long timeout_s = 5;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'm') {
            if (pe_mqtt_parse_addr(optarg, host, sizeof host, &port) != PE_OK) {
                fprintf(stderr, "posedge-ctl status: --mqtt: expected HOST:PORT, got \"%s\"\n",
                        optarg);
                return EXIT_USAGE;
            }
            st.addr = optarg;
        } else if (c == 's') {
            if (!pe_event_id_valid(optarg, 1)) {
                fprintf(stderr, "posedge-ctl status: --store: not a store id: \"%s\"\n", optarg);
                return EXIT_USAGE;
            }
            st.store = optarg;
        } else if (c == 'T') {
            if (ctl_seconds("status", "--timeout", optarg, 3600, &timeout_s))
                return EXIT_USAGE;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!st.addr || !st.store || optind != argc) {
        fprintf(stderr, "posedge-ctl status: needs --mqtt HOST:PORT and --store S, nothing else\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    int64_t deadline = pe_mono_ms() + timeout_s * 1000;
    /* Failed attempts are reported once, below, in words; the client's own lines would only
     * repeat them. */
    pe_log_set_level(PE_LOG_ERROR);
    char id[64];
    snprintf(id, sizeof id, "posedge-ctl-status-%ld-%04x", (long)getpid(),
             (unsigned)(pe_mono_us() & 0xffff));
    snprintf(st.prefix, sizeof st.prefix, "posedge/v1/%s/", st.store);
    snprintf(st.probe, sizeof st.probe, "posedge-ctl/probe/%s", id);

    int status = EXIT_FAIL;
    int rc = pe_loop_create(&st.loop);
    if (rc) {
        fprintf(stderr, "posedge-ctl status: %s\n", pe_strerror(rc));
        return EXIT_FAIL;
    }
    struct pe_mqtt_opts mo = {
        .client_id = id,
        .clean_session = true, /* a one-shot look: leave no session behind on the broker */
        .host = host,
        .port = port,
        .keepalive_s = 10,
        .backoff_min_ms = 100,
        .backoff_max_ms = 1000,
        .on_connect = on_connect,
        .on_disconnect = on_disconnect,
        .on_message = on_message,
        .ctx = &st,
    };
    if ((rc = pe_mqtt_create(st.loop, &mo, &st.mqtt))) {
        fprintf(stderr, "posedge-ctl status: MQTT client for %s: %s\n", st.addr, pe_strerror(rc));
        goto destroy_loop;
    }
    rc = collect(&st, deadline);
    if (rc != PE_OK && rc != PE_EAGAIN) {
        fprintf(stderr, "posedge-ctl status: event loop: %s\n", pe_strerror(rc));
        goto destroy_mqtt;
    }
    if (!st.connected) {
        const char *why = st.attempts_failed == 0          ? "no answer"
                          : st.last_reason == PE_EDECLINED ? "the broker refused the connection"
                                                           : "connection refused or lost";
        fprintf(stderr,
                "posedge-ctl status: cannot reach the MQTT broker at %s within %ld s (%s; %d "
                "attempt%s failed)\n",
                st.addr, timeout_s, why, st.attempts_failed, st.attempts_failed == 1 ? "" : "s");
        goto destroy_mqtt;
    }
    if (!st.probed)
        fprintf(stderr,
                "posedge-ctl status: the broker did not confirm the subscriptions within %ld s; "
                "the table may be incomplete\n",
                timeout_s);
    if (st.oom)
        fprintf(stderr, "posedge-ctl status: out of memory: some terminals are missing\n");
    print_table(&st);
    status = fflush(stdout) == 0 ? 0 : EXIT_FAIL;

destroy_mqtt:
    pe_mqtt_destroy(st.mqtt);
destroy_loop:
    pe_loop_destroy(st.loop);
    free(st.terms);
    return status;
}
