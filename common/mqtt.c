/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mqtt.c - an MQTT client (libmosquitto, no threads) driven by a pe_loop.
 *
 * The file is laid out as: the library reference count, registration of the socket with the
 * loop (sync_fd), the libmosquitto callbacks, connection attempts and the reconnect backoff,
 * and the public functions.
 *
 * The invariant that matters: the loop watches exactly the socket libmosquitto currently owns.
 * libmosquitto closes its socket inside our calls into it (loop_read, loop_write, loop_misc,
 * disconnect) and may open a new one in connect, and a descriptor number is reused by the next
 * socket(2); so after every call into the library sync_fd compares mosquitto_socket() with the
 * descriptor we registered and re-registers, and also sets POLLOUT exactly while
 * mosquitto_want_write() says there is something to send. A watch is never left on a closed
 * descriptor, so a poll can never report on a socket that already belongs to someone else.
 *
 * Connecting never blocks on the network: mosquitto_connect_async makes a non-blocking socket
 * whose connect(2) completes (or fails) while the CONNECT packet waits for POLLOUT. A failure
 * at any stage (refused at once, refused later, CONNACK refused, keepalive timeout, connection
 * lost) ends in lost(), which schedules the next attempt with capped exponential backoff and
 * "equal jitter" (a delay drawn from [d/2, d]) from our own PRNG, so a fleet of tills that lost
 * the same broker does not come back in lockstep. Name resolution (getaddrinfo) is the one
 * blocking step: configure an address or a name in /etc/hosts on a till.
 *
 * Messages are never queued in libmosquitto while offline: pe_mqtt_publish refuses with
 * PE_EAGAIN unless a CONNACK was accepted. QoS 1 messages that were already handed over and not
 * yet acknowledged when a connection drops stay with libmosquitto, which sends them again
 * (with DUP) after the next CONNACK, as MQTT requires of a persistent session.
 *
 * Reasons given to on_disconnect are PE_E* codes: PE_EDECLINED (the broker refused the
 * CONNECT), PE_ENOMEM, PE_EIO (anything else: refused or failed connection, lost connection,
 * keepalive timeout, TLS errors). pe_mqtt_destroy must not be called from this client's own
 * callbacks.
 *
 * MQTT v5 and TLS, and what libmosquitto 2.0 needs for them in a loop of our own:
 *  - A v5 session ends when its connection does unless the CONNECT carries a session expiry
 *    interval, and libmosquitto has no non-blocking connect that takes CONNECT properties. It
 *    keeps the properties given to mosquitto_connect_bind_v5 for every later (re)connect, and
 *    stores them before it looks at the host; so set_session_expiry hands them over with a
 *    NULL host (refused at once, nothing connects) and mosquitto_connect_async sends them from
 *    then on. tests/unit/test_mqtt.c's persistent_session proves it still holds.
 *  - A failed TLS handshake (a certificate the broker or we refuse, a host name that does not
 *    match) closes the socket inside mosquitto_loop_read without any disconnect callback, so
 *    on_socket notices the closed socket itself and goes the way of every other failure.
 *  - During the handshake the library only advances it from mosquitto_loop_read, and it may
 *    keep asking for POLLOUT after the handshake has all it needs to write: so while TLS is
 *    not yet up a writable socket is read too, and a socket that keeps being only writable is
 *    left alone for QUIET_OUT_MS at a time instead of spinning the loop.
 *  - libmosquitto says why TLS failed only in its log; the first error line of an attempt is
 *    kept and logged with the failure, once per change of the failure (a broker that refuses
 *    us every ten seconds is one warning, not a warning every ten seconds).
 */
#include "posedge/mqtt.h"

#include <limits.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/log.h"
#include "posedge/secret.h"

#define MISC_INTERVAL_MS 1000 /* how often mosquitto_loop_misc runs (keepalive, pings) */
#define MAX_INFLIGHT 100      /* QoS 1 publishes on the wire awaiting PUBACK */
#define MAX_PAYLOAD 268435455 /* the largest MQTT packet body */
#define FLUSH_MS 500          /* longest a destroy spends letting the link go quiet */
#define QUIET_MS 20           /* no traffic for this long: the link is quiet */
#define QUIET_OUT_MS 20       /* a TLS handshake that only finds the socket writable waits */
#define OUT_SPINS 8           /* ... after this many such rounds in a row */
#define DETAIL_MAX 200        /* the library's first error line of an attempt */
#define WARNED_MAX 4          /* causes of failure remembered, each warned about once */

struct pe_mqtt {
    struct pe_loop *loop;   /* borrowed; outlives the client */
    struct mosquitto *mosq; /* the library's client */
    struct pe_mqtt_opts o;  /* options; the strings below are our copies */
    char *client_id;        /* owned copy of o.client_id */
    char *host;             /* owned copy of o.host */
    char *will_topic;       /* owned copy, or NULL */
    char *will_payload;     /* owned copy, or NULL */
    bool tls;               /* TLS is on */
    int fd;                 /* the socket the loop watches, -1 when none */
    short events;           /* events requested for fd */
    bool connected;         /* a CONNACK was accepted and the connection is up */
    bool destroying;        /* in pe_mqtt_destroy: callbacks are not passed on */
    int fails;              /* failed attempts since the last connection */
    int backoff_ms;         /* delay before the next attempt, before jitter */
    uint64_t rng;           /* xorshift64* state of the jitter, never 0 */
    int64_t retry_timer;    /* pending reconnect timer id, 0 when none */
    int64_t misc_timer;     /* pending loop_misc timer id, 0 when none */
    int lost_calls;         /* lost() calls so far (did a library call report its failure?) */
    int refused;            /* the CONNACK's refusal (v5 reason code) of this attempt, 0 none */
    int last_refused;       /* the refusal last logged, 0 none */
    char detail[DETAIL_MAX];    /* the library's first error line of this attempt, "" none */
    char warned[WARNED_MAX][DETAIL_MAX + 16]; /* causes warned about since the last connection */
    int nwarned;            /* entries of warned in use (the oldest is replaced when full) */
    int out_spins;          /* rounds in a row the TLS handshake found the socket only writable */
    bool out_quiet;         /* POLLOUT left out for QUIET_OUT_MS */
    int64_t quiet_timer;    /* pending end of out_quiet, 0 when none */
};

/* ---- libmosquitto's global state, initialised once for all clients ---- */

static int lib_refs;

static int lib_acquire(void)
{
    if (lib_refs == 0) {
        int rc = mosquitto_lib_init();
        if (rc != MOSQ_ERR_SUCCESS) {
            pe_error("mqtt.lib_init", "rc=%d msg=\"%s\"", rc, mosquitto_strerror(rc));
            return PE_ESYS;
        }
    }
    lib_refs++;
    return PE_OK;
}

static void lib_release(void)
{
    if (lib_refs > 0 && --lib_refs == 0)
        mosquitto_lib_cleanup();
}

/* mosquitto_strerror has no text for a keepalive timeout. */
static const char *mq_strerror(int rc)
{
    return rc == MOSQ_ERR_KEEPALIVE ? "keepalive timeout" : mosquitto_strerror(rc);
}

/* ---- jitter ---- */

static uint64_t rand_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ULL;
}

/* ---- the socket in the loop ---- */

static void on_socket(int fd, short revents, void *ctx);

/* Make the loop watch the socket libmosquitto owns now, with POLLOUT only while it has
 * something to write. Called after every call into libmosquitto. */
static void sync_fd(struct pe_mqtt *m)
{
    int s = m->destroying ? -1 : mosquitto_socket(m->mosq);
    if (m->fd >= 0 && s != m->fd) {
        pe_loop_del_fd(m->loop, m->fd);
        m->fd = -1;
    }
    if (s < 0)
        return;
    short ev = (short)(POLLIN | (mosquitto_want_write(m->mosq) && !m->out_quiet ? POLLOUT : 0));
    if (m->fd < 0) {
        int rc = pe_loop_add_fd(m->loop, s, ev, on_socket, m);
        if (rc != PE_OK) {
            /* Nothing could wake us for this socket; the keepalive check in the misc timer
             * ends the connection and the reconnect path tries again. */
            pe_error("mqtt.watch", "fd=%d err=%s", s, pe_errname(rc));
            return;
        }
        m->fd = s;
        m->events = ev;
    } else if (ev != m->events) {
        pe_loop_mod_fd(m->loop, m->fd, ev);
        m->events = ev;
    }
}

static void lost(struct pe_mqtt *m, int mosq_rc);

static void quiet_tick(void *ctx)
{
    struct pe_mqtt *m = ctx;
    m->quiet_timer = 0;
    m->out_quiet = false;
    m->out_spins = 0;
    sync_fd(m);
}

static void on_socket(int fd, short revents, void *ctx)
{
    struct pe_mqtt *m = ctx;
    int rc = MOSQ_ERR_SUCCESS, calls = m->lost_calls;
    if (fd != mosquitto_socket(m->mosq)) {
        sync_fd(m);
        return;
    }
    /* Errors and hang-ups are found by reading: the read fails and libmosquitto reports the
     * disconnection through cb_disconnect. A TLS handshake advances only by reading. */
    bool handshake = m->tls && !m->connected;
    if ((revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) || (handshake && (revents & POLLOUT)))
        rc = mosquitto_loop_read(m->mosq, 1);
    if (rc == MOSQ_ERR_SUCCESS && (revents & POLLOUT) && mosquitto_socket(m->mosq) == fd)
        rc = mosquitto_loop_write(m->mosq, 1);
    if (rc != MOSQ_ERR_SUCCESS && m->lost_calls == calls && mosquitto_socket(m->mosq) < 0) {
        lost(m, rc); /* a failed TLS handshake: the library closed the socket and said nothing */
        return;
    }
    if (handshake && (revents & POLLOUT) && !(revents & POLLIN) && ++m->out_spins >= OUT_SPINS &&
        !m->quiet_timer &&
        pe_loop_timer(m->loop, QUIET_OUT_MS, quiet_tick, m, &m->quiet_timer) == PE_OK)
        m->out_quiet = true;
    else if (revents & POLLIN)
        m->out_spins = 0;
    sync_fd(m);
}

/* ---- reconnecting ---- */

static void attempt(void *ctx);

static void schedule_retry(struct pe_mqtt *m)
{
    if (m->retry_timer || m->destroying)
        return;
    int d = m->backoff_ms;
    int64_t delay = d / 2 + (int64_t)(rand_next(&m->rng) % (uint64_t)(d - d / 2 + 1));
    m->backoff_ms = d > m->o.backoff_max_ms / 2 ? m->o.backoff_max_ms : 2 * d;
    if (pe_loop_timer(m->loop, delay, attempt, m, &m->retry_timer) != PE_OK) {
        /* Out of memory for a timer: the misc timer, which is always pending, tries again. */
        m->retry_timer = 0;
    }
}

static int reason_of(const struct pe_mqtt *m, int mosq_rc)
{
    if (m->refused)
        return PE_EDECLINED; /* a v5 refusal reaches us as a protocol error */
    switch (mosq_rc) {
    case MOSQ_ERR_CONN_REFUSED:
        return PE_EDECLINED;
    case MOSQ_ERR_NOMEM:
        return PE_ENOMEM;
    default:
        return PE_EIO;
    }
}

/* True the first time the cause why is seen since the last connection: a broker that refuses
 * us in turn in two ways (a TLS alert, or the connection reset before it is read) is two
 * warnings, not two per attempt. */
static bool news(struct pe_mqtt *m, const char *why)
{
    for (int i = 0; i < m->nwarned; i++)
        if (strcmp(m->warned[i], why) == 0)
            return false;
    int slot = m->nwarned < WARNED_MAX ? m->nwarned++ : m->fails % WARNED_MAX;
    snprintf(m->warned[slot], sizeof m->warned[slot], "%s", why);
    return true;
}

/* The connection (or the attempt at one) is over: the socket is closed already. A failure is
 * a warning the first time its cause is seen since the last connection, else a debug line. */
static void lost(struct pe_mqtt *m, int mosq_rc)
{
    bool was = m->connected;
    m->lost_calls++;
    m->connected = false;
    sync_fd(m);
    if (m->destroying)
        return;
    m->fails++;
    char why[DETAIL_MAX + 16];
    snprintf(why, sizeof why, "%d %s", m->refused ? -m->refused : mosq_rc, m->detail);
    bool first = news(m, why);
    if (was)
        pe_warn("mqtt.disconnected", "client=%s host=%s port=%d rc=%d msg=\"%s\" detail=\"%s\"",
                m->client_id, m->host, m->o.port, mosq_rc, mq_strerror(mosq_rc), m->detail);
    else if (first)
        pe_warn("mqtt.connect_failed",
                "client=%s host=%s port=%d tls=%d rc=%d msg=\"%s\" detail=\"%s\" (each cause "
                "is logged once until a connection succeeds)",
                m->client_id, m->host, m->o.port, m->tls, mosq_rc,
                m->refused ? "refused by the broker (mqtt.refused says why)" : mq_strerror(mosq_rc),
                m->detail);
    else
        pe_debug("mqtt.connect_failed", "client=%s host=%s port=%d attempt=%d rc=%d", m->client_id,
                 m->host, m->o.port, m->fails, mosq_rc);
    schedule_retry(m);
    int reason = reason_of(m, mosq_rc);
    m->refused = 0;
    if (m->o.on_disconnect)
        m->o.on_disconnect(m->o.ctx, reason);
}

static void attempt(void *ctx)
{
    struct pe_mqtt *m = ctx;
    m->retry_timer = 0;
    if (m->connected || mosquitto_socket(m->mosq) >= 0)
        return; /* already connected or connecting */
    m->detail[0] = '\0';
    m->refused = 0;
    m->out_spins = 0;
    /* Non-blocking: the socket exists (connect in progress) when this returns success. */
    int rc = mosquitto_connect_async(m->mosq, m->host, m->o.port, m->o.keepalive_s);
    sync_fd(m);
    if (rc != MOSQ_ERR_SUCCESS)
        lost(m, rc);
}

static void misc_tick(void *ctx)
{
    struct pe_mqtt *m = ctx;
    m->misc_timer = 0;
    if (mosquitto_socket(m->mosq) >= 0) {
        /* Sends PINGREQ when due; on a keepalive timeout (also a connect that never completes)
         * it closes the socket and reports through cb_disconnect. */
        mosquitto_loop_misc(m->mosq);
        sync_fd(m);
    } else if (!m->retry_timer) {
        schedule_retry(m);
    }
    if (pe_loop_timer(m->loop, MISC_INTERVAL_MS, misc_tick, m, &m->misc_timer) != PE_OK)
        m->misc_timer = 0;
}

/* ---- libmosquitto callbacks (run inside our calls into the library) ---- */

static void cb_connect(struct mosquitto *mosq, void *obj, int rc, int flags,
                       const mosquitto_property *props)
{
    struct pe_mqtt *m = obj;
    (void)mosq;
    if (m->destroying)
        return;
    if (rc != 0) {
        /* The library follows this with a disconnection. With v5 the code is a reason code:
         * 0x86 bad user name or password (also a certificate whose CN is no username), 0x87
         * not authorised, 0x8A banned. Said once per change of the code. */
        char *text = NULL;
        mosquitto_property_read_string(props, MQTT_PROP_REASON_STRING, &text, false);
        m->refused = rc;
        if (rc != m->last_refused)
            pe_warn("mqtt.refused",
                    "client=%s host=%s port=%d tls=%d rc=%d msg=\"%s\" reason=\"%s\" (logged again "
                    "when the reason changes)",
                    m->client_id, m->host, m->o.port, m->tls, rc, pe_mqtt_reason(rc),
                    text ? text : "");
        m->last_refused = rc;
        free(text);
        return;
    }
    m->connected = true;
    m->fails = 0;
    m->last_refused = 0;
    m->nwarned = 0;
    m->out_quiet = false;
    m->backoff_ms = m->o.backoff_min_ms;
    pe_info("mqtt.connected", "client=%s host=%s port=%d session_present=%d", m->client_id, m->host,
            m->o.port, flags & 1);
    if (m->o.on_connect)
        m->o.on_connect(m->o.ctx, (flags & 1) != 0);
}

static void cb_disconnect(struct mosquitto *mosq, void *obj, int rc)
{
    (void)mosq;
    lost(obj, rc == MOSQ_ERR_SUCCESS ? MOSQ_ERR_CONN_LOST : rc);
}

static void cb_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg)
{
    struct pe_mqtt *m = obj;
    (void)mosq;
    if (m->destroying || !m->o.on_message)
        return;
    m->o.on_message(m->o.ctx, msg->topic, msg->payload ? msg->payload : "",
                    (size_t)(msg->payloadlen > 0 ? msg->payloadlen : 0), msg->retain);
}

static void cb_publish(struct mosquitto *mosq, void *obj, int mid, int reason,
                       const mosquitto_property *props)
{
    struct pe_mqtt *m = obj;
    (void)mosq;
    (void)props;
    if (!m->destroying && m->o.on_published)
        m->o.on_published(m->o.ctx, mid, reason);
}

static void cb_log(struct mosquitto *mosq, void *obj, int level, const char *str)
{
    struct pe_mqtt *m = obj;
    (void)mosq;
    /* The first error of an attempt says why TLS failed ("certificate verify failed", "host
     * name verification failed", "alert certificate revoked"): kept for lost()'s line. */
    if ((level & MOSQ_LOG_ERR) && m && !m->detail[0]) {
        pe_log_quote(str, m->detail, sizeof m->detail);
    }
    pe_debug("mqtt.lib", "level=%d msg=\"%s\"", level, str);
}

/* Put the session expiry interval into every CONNECT (see the file's comment). */
static int set_session_expiry(struct pe_mqtt *m)
{
    mosquitto_property *props = NULL;
    int rc = mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, UINT32_MAX);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_connect_bind_v5(m->mosq, NULL, 0, m->o.keepalive_s, NULL, props);
    mosquitto_property_free_all(&props);
    /* MOSQ_ERR_INVAL is the NULL host: the properties are stored by then. */
    return rc == MOSQ_ERR_INVAL ? PE_OK : rc == MOSQ_ERR_NOMEM ? PE_ENOMEM : PE_ESYS;
}

/* No passphrase, ever: a key is unencrypted, and OpenSSL must never prompt on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)userdata;
    return 0;
}

/* TLS 1.2 or later, the broker's certificate and host name verified; the client's own
 * certificate when given, its key file's mode checked first. */
static int set_tls(struct pe_mqtt *m, const struct pe_mqtt_opts *o)
{
    const char *cert = o->tls_cert_file && o->tls_cert_file[0] ? o->tls_cert_file : NULL;
    const char *key = o->tls_key_file && o->tls_key_file[0] ? o->tls_key_file : NULL;
    char err[600];
    if (!cert != !key) {
        pe_error("mqtt.tls", "client=%s: %s", m->client_id,
                 cert ? "a client certificate needs its key file"
                      : "a key file needs its client certificate");
        return PE_EINVAL;
    }
    if (key && pe_secret_check_mode("mqtt.tls.key_file", key, err, sizeof err) != PE_OK) {
        pe_error("mqtt.tls_key", "client=%s %s", m->client_id, err);
        return PE_EINVAL;
    }
    int rc = mosquitto_tls_set(m->mosq, o->tls_ca_file, NULL, cert, key, no_passphrase);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_tls_opts_set(m->mosq, 1 /* SSL_VERIFY_PEER */, "tlsv1.2", NULL);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_tls_insecure_set(m->mosq, false); /* the host name is checked */
    if (rc != MOSQ_ERR_SUCCESS) {
        /* mosquitto_tls_set opens each file: INVAL is one that cannot be read. */
        pe_error("mqtt.tls", "client=%s ca_file=%s cert_file=%s key_file=%s rc=%d msg=\"%s\"",
                 m->client_id, o->tls_ca_file, cert ? cert : "-", key ? key : "-", rc,
                 rc == MOSQ_ERR_INVAL ? "a file cannot be read" : mosquitto_strerror(rc));
        return rc == MOSQ_ERR_NOMEM ? PE_ENOMEM : PE_EINVAL;
    }
    m->tls = true;
    return PE_OK;
}

/* ---- public ---- */

static char *dup_or_null(const char *s, bool *failed)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *failed = true;
    return d;
}

int pe_mqtt_create(struct pe_loop *loop, const struct pe_mqtt_opts *opts, struct pe_mqtt **out)
{
    int rc;
    if (!loop || !opts || !out || !opts->client_id || !opts->client_id[0] || !opts->host ||
        !opts->host[0] || opts->port < 1 || opts->port > 65535 || opts->keepalive_s < 0 ||
        (opts->keepalive_s > 0 && opts->keepalive_s < 5) || opts->keepalive_s > 65535 ||
        opts->backoff_min_ms < 0 || opts->backoff_max_ms < 0 ||
        (opts->will_topic && !opts->will_payload))
        return PE_EINVAL;
    struct pe_mqtt *m = calloc(1, sizeof *m);
    if (!m)
        return PE_ENOMEM;
    m->loop = loop;
    m->fd = -1;
    m->o = *opts;
    if (!m->o.keepalive_s)
        m->o.keepalive_s = 30;
    if (!m->o.backoff_min_ms)
        m->o.backoff_min_ms = 200;
    if (!m->o.backoff_max_ms)
        m->o.backoff_max_ms = 10000;
    if (m->o.backoff_max_ms < m->o.backoff_min_ms)
        m->o.backoff_max_ms = m->o.backoff_min_ms;
    m->backoff_ms = m->o.backoff_min_ms;
    m->rng = opts->jitter_seed
                 ? opts->jitter_seed
                 : (uint64_t)pe_mono_us() ^ ((uint64_t)getpid() << 32) ^ (uint64_t)pe_time_now_ms();
    if (!m->rng)
        m->rng = 0x9e3779b97f4a7c15ULL;
    bool failed = false;
    m->client_id = dup_or_null(opts->client_id, &failed);
    m->host = dup_or_null(opts->host, &failed);
    m->will_topic = dup_or_null(opts->will_topic, &failed);
    m->will_payload = dup_or_null(opts->will_topic ? opts->will_payload : NULL, &failed);
    m->o.client_id = m->client_id;
    m->o.host = m->host;
    m->o.will_topic = m->will_topic;
    m->o.will_payload = m->will_payload;
    m->o.username = m->o.password = NULL; /* handed to libmosquitto below, which copies them */
    if (failed) {
        rc = PE_ENOMEM;
        goto free_strings;
    }
    if ((rc = lib_acquire()))
        goto free_strings;
    /* Daemons use clean_session=false: the broker keeps our subscriptions and queues QoS 1
     * messages for us while we are away. */
    m->mosq = mosquitto_new(m->client_id, opts->clean_session, m);
    if (!m->mosq) {
        pe_error("mqtt.new", "client=%s", m->client_id);
        rc = PE_ENOMEM;
        goto release_lib;
    }
    if (m->will_topic) {
        size_t wl = strlen(m->will_payload);
        int mrc = wl > MAX_PAYLOAD ? MOSQ_ERR_PAYLOAD_SIZE
                                   : mosquitto_will_set(m->mosq, m->will_topic, (int)wl,
                                                        m->will_payload, 1, true);
        if (mrc != MOSQ_ERR_SUCCESS) {
            pe_error("mqtt.will", "topic=%s rc=%d msg=\"%s\"", m->will_topic, mrc,
                     mosquitto_strerror(mrc));
            rc = mrc == MOSQ_ERR_NOMEM ? PE_ENOMEM : PE_EINVAL;
            goto destroy_mosq;
        }
    }
    int vrc = mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    if (vrc != MOSQ_ERR_SUCCESS) {
        pe_error("mqtt.v5", "client=%s rc=%d msg=\"%s\"", m->client_id, vrc,
                 mosquitto_strerror(vrc));
        rc = PE_ESYS;
        goto destroy_mosq;
    }
    /* Requests and their answers (catalog/get -> catalog/data, a sale -> its ack) are small
     * packets that wait for each other: with Nagle's algorithm each waits out the peer's
     * delayed ACK (40 ms on Linux). */
    vrc = mosquitto_int_option(m->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    if (vrc != MOSQ_ERR_SUCCESS) {
        pe_error("mqtt.nodelay", "client=%s rc=%d msg=\"%s\"", m->client_id, vrc,
                 mosquitto_strerror(vrc));
        rc = PE_ESYS;
        goto destroy_mosq;
    }
    if (!opts->clean_session && (rc = set_session_expiry(m))) {
        pe_error("mqtt.session", "client=%s err=%s", m->client_id, pe_errname(rc));
        goto destroy_mosq;
    }
    if (opts->tls_ca_file && opts->tls_ca_file[0] && (rc = set_tls(m, opts)))
        goto destroy_mosq;
    if (opts->username && opts->username[0]) {
        int mrc = mosquitto_username_pw_set(
            m->mosq, opts->username, opts->password && opts->password[0] ? opts->password : NULL);
        if (mrc != MOSQ_ERR_SUCCESS) {
            pe_error("mqtt.credentials", "client=%s rc=%d msg=\"%s\"", m->client_id, mrc,
                     mosquitto_strerror(mrc));
            rc = mrc == MOSQ_ERR_NOMEM ? PE_ENOMEM : PE_EINVAL;
            goto destroy_mosq;
        }
    }
    mosquitto_max_inflight_messages_set(m->mosq, MAX_INFLIGHT);
    mosquitto_connect_v5_callback_set(m->mosq, cb_connect);
    mosquitto_disconnect_callback_set(m->mosq, cb_disconnect);
    mosquitto_message_callback_set(m->mosq, cb_message);
    mosquitto_publish_v5_callback_set(m->mosq, cb_publish);
    mosquitto_log_callback_set(m->mosq, cb_log);
    /* The first attempt runs from the loop, so callbacks never run inside pe_mqtt_create. */
    if ((rc = pe_loop_timer(loop, 0, attempt, m, &m->retry_timer)))
        goto destroy_mosq;
    if ((rc = pe_loop_timer(loop, MISC_INTERVAL_MS, misc_tick, m, &m->misc_timer)))
        goto cancel_attempt;
    *out = m;
    return PE_OK;

cancel_attempt:
    pe_loop_timer_cancel(loop, m->retry_timer);
destroy_mosq:
    mosquitto_destroy(m->mosq);
release_lib:
    lib_release();
free_strings:
    free(m->client_id);
    free(m->host);
    free(m->will_topic);
    free(m->will_payload);
    free(m);
    return rc;
}

void pe_mqtt_destroy(struct pe_mqtt *m)
{
    if (!m)
        return;
    if (m->retry_timer)
        pe_loop_timer_cancel(m->loop, m->retry_timer);
    if (m->misc_timer)
        pe_loop_timer_cancel(m->loop, m->misc_timer);
    if (m->quiet_timer)
        pe_loop_timer_cancel(m->loop, m->quiet_timer);
    m->destroying = true;
    sync_fd(m); /* unwatch the socket before the library closes it */
    /* DISCONNECT tells the broker to discard the will; it must reach the broker's reads.
     * Two things can lose it. A DISCONNECT left in libmosquitto's queue (a busy link) dies with
     * the socket. And a socket closed while data it was sent is still unread (the PUBACK of a
     * daemon's last "offline" state, on its way) is reset by the kernel: the broker then drops
     * what it had not read yet, DISCONNECT included, and publishes the will instead of the
     * daemon's own last words. So, for at most FLUSH_MS: write what is queued and read what
     * arrives (callbacks are not passed on) until the link is quiet, then DISCONNECT and write
     * it out. */
    if (m->connected) {
        int64_t deadline = pe_mono_ms() + FLUSH_MS;
        bool sent = false;
        for (;;) {
            int64_t left = deadline - pe_mono_ms();
            struct pollfd p = {.fd = mosquitto_socket(m->mosq), .events = POLLIN};
            if (mosquitto_want_write(m->mosq))
                p.events |= POLLOUT;
            if (left <= 0 || p.fd < 0)
                break;
            int n = poll(&p, 1, (int)(left < QUIET_MS ? left : QUIET_MS));
            if (n < 0)
                break;
            if (n == 0 && !(p.events & POLLOUT)) {
                if (sent)
                    break;
                mosquitto_disconnect(m->mosq); /* quiet: say goodbye, then write it out */
                sent = true;
                continue;
            }
            if (((p.revents & POLLIN) && mosquitto_loop_read(m->mosq, 1) != MOSQ_ERR_SUCCESS) ||
                ((p.revents & POLLOUT) && mosquitto_loop_write(m->mosq, 1) != MOSQ_ERR_SUCCESS) ||
                (p.revents & (POLLERR | POLLHUP | POLLNVAL)))
                break;
        }
        if (!sent && mosquitto_socket(m->mosq) >= 0)
            mosquitto_disconnect(m->mosq);
    }
    mosquitto_destroy(m->mosq);
    lib_release();
    free(m->client_id);
    free(m->host);
    free(m->will_topic);
    free(m->will_payload);
    free(m);
}

bool pe_mqtt_connected(const struct pe_mqtt *m)
{
    return m && m->connected;
}

int pe_mqtt_publish(struct pe_mqtt *m, const char *topic, const void *payload, size_t len, int qos,
                    bool retain, int *mid)
{
    if (!m || !topic || !topic[0] || qos < 0 || qos > 2 || (len && !payload))
        return PE_EINVAL;
    if (len > MAX_PAYLOAD)
        return PE_EINVAL;
    if (!m->connected)
        return PE_EAGAIN;
    int lmid = 0;
    int rc = mosquitto_publish(m->mosq, &lmid, topic, (int)len, payload, qos, retain);
    sync_fd(m);
    switch (rc) {
    case MOSQ_ERR_SUCCESS:
        if (mid)
            *mid = lmid;
        return PE_OK;
    case MOSQ_ERR_NO_CONN:
        return PE_EAGAIN;
    case MOSQ_ERR_NOMEM:
        pe_warn("mqtt.publish", "topic=%s rc=%d msg=\"%s\"", topic, rc, mosquitto_strerror(rc));
        return PE_ENOMEM;
    case MOSQ_ERR_INVAL:
    case MOSQ_ERR_PAYLOAD_SIZE:
    case MOSQ_ERR_OVERSIZE_PACKET:
    case MOSQ_ERR_MALFORMED_UTF8:
    case MOSQ_ERR_QOS_NOT_SUPPORTED:
        pe_warn("mqtt.publish", "topic=%s rc=%d msg=\"%s\"", topic, rc, mosquitto_strerror(rc));
        return PE_EINVAL;
    default:
        /* A write error: the read side notices the broken connection and reports it. */
        pe_warn("mqtt.publish", "topic=%s rc=%d msg=\"%s\"", topic, rc, mosquitto_strerror(rc));
        return PE_EIO;
    }
}

int pe_mqtt_subscribe(struct pe_mqtt *m, const char *pattern, int qos)
{
    if (!m || !pattern || !pattern[0] || qos < 0 || qos > 2)
        return PE_EINVAL;
    if (!m->connected)
        return PE_EAGAIN;
    int rc = mosquitto_subscribe(m->mosq, NULL, pattern, qos);
    sync_fd(m);
    switch (rc) {
    case MOSQ_ERR_SUCCESS:
        return PE_OK;
    case MOSQ_ERR_NO_CONN:
        return PE_EAGAIN;
    case MOSQ_ERR_NOMEM:
        return PE_ENOMEM;
    case MOSQ_ERR_INVAL:
    case MOSQ_ERR_MALFORMED_UTF8:
    case MOSQ_ERR_OVERSIZE_PACKET:
        pe_warn("mqtt.subscribe", "pattern=%s rc=%d msg=\"%s\"", pattern, rc,
                mosquitto_strerror(rc));
        return PE_EINVAL;
    default:
        pe_warn("mqtt.subscribe", "pattern=%s rc=%d msg=\"%s\"", pattern, rc,
                mosquitto_strerror(rc));
        return PE_EIO;
    }
}

const char *pe_mqtt_reason(int reason)
{
    return mosquitto_reason_string(reason);
}

int pe_mqtt_parse_addr(const char *s, char *host, size_t hostlen, int *port)
{
    if (!s || !host || !hostlen || !port)
        return PE_EINVAL;
    const char *h = s, *colon;
    size_t hl;
    if (s[0] == '[') { /* [IPv6]:PORT */
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return PE_EINVAL;
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strchr(s, ':');
        if (!colon || strchr(colon + 1, ':'))
            return PE_EINVAL; /* no port, or an IPv6 address without brackets */
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostlen)
        return PE_EINVAL;
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c <= ' ' || c == 0x7f || c == '/' || c == '[' || c == ']')
            return PE_EINVAL;
    }
    const char *p = colon + 1;
    long v = 0;
    if (!*p || strlen(p) > 5)
        return PE_EINVAL;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return PE_EINVAL;
        v = v * 10 + (*p - '0');
    }
    if (v < 1 || v > 65535)
        return PE_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)v;
    return PE_OK;
}
