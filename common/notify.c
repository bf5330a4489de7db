/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notify.c - the sd_notify protocol over an AF_UNIX datagram socket (see notify.h).
 *
 * The socket is made once at start, unconnected, and every message is one sendto(2) with
 * MSG_DONTWAIT: if systemd is slow to read and the socket's queue is full, the message is
 * dropped rather than stall the loop (a watchdog ping that blocked would hide the very hang it
 * is meant to reveal). An address starting with '@' is in the abstract namespace: the '@'
 * becomes a NUL and the address length counts exactly the name, no terminating NUL.
 *
 * The watchdog ping is sent from a one-shot timer that re-arms itself, so it only goes out
 * while the loop turns. WATCHDOG_PID, when set, names the process systemd watches; a child
 * that inherited the environment sees another pid and leaves the watchdog alone.
 */
#include "posedge/notify.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "posedge/err.h"
#include "posedge/log.h"
#include "posedge/loop.h"

static struct {
    int fd;                  /* the datagram socket, -1 when not started */
    struct sockaddr_un addr; /* where systemd listens */
    socklen_t addrlen;       /* the address's exact length (abstract names have no NUL) */
    struct pe_loop *loop;    /* borrowed: the loop the watchdog timer runs on */
    int64_t timer;           /* the pending watchdog timer, 0 when none */
    int64_t interval_ms;     /* WATCHDOG_USEC / 2 in ms, 0 when the watchdog is off */
} nt = {.fd = -1};

/* A decimal number of at most 19 digits with nothing around it; false otherwise. */
static bool parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    int n = 0;
    for (; *s; s++, n++) {
        if (*s < '0' || *s > '9' || n == 19)
            return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return n > 0;
}

static void send_state(const char *state)
{
    ssize_t r;
    do
        r = sendto(nt.fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL,
                   (const struct sockaddr *)&nt.addr, nt.addrlen);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        pe_debug("notify.send_failed", "errno=%d msg=\"%s\"", errno, strerror(errno));
}

static void watchdog_tick(void *ctx)
{
    (void)ctx;
    nt.timer = 0;
    if (nt.fd < 0)
        return;
    send_state("WATCHDOG=1");
    if (pe_loop_timer(nt.loop, nt.interval_ms, watchdog_tick, NULL, &nt.timer) != PE_OK) {
        /* No memory for a timer: the pings stop and systemd restarts us, which is the cure. */
        nt.timer = 0;
        pe_error("notify.watchdog_timer", "err=ENOMEM (watchdog pings stopped)");
    }
}

/* The watchdog interval for this process: *ms 0 when it is off or meant for another pid. */
static int watchdog_interval(int64_t *ms)
{
    const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    uint64_t u = 0, p = 0;
    *ms = 0;
    if (!usec || !*usec)
        return PE_OK;
    if (!parse_u64(usec, &u) || u == 0) {
        pe_error("notify.bad_env", "WATCHDOG_USEC=\"%.32s\" (expected microseconds > 0)", usec);
        return PE_EINVAL;
    }
    if (pid && *pid) {
        if (!parse_u64(pid, &p) || p == 0 || p > INT32_MAX) {
            pe_error("notify.bad_env", "WATCHDOG_PID=\"%.32s\" (expected a process id)", pid);
            return PE_EINVAL;
        }
        if ((pid_t)p != getpid()) {
            pe_info("notify.watchdog", "pid=%lld (not this process: no pings)", (long long)p);
            return PE_OK;
        }
    }
    *ms = (int64_t)(u / 2000);
    if (*ms < 1)
        *ms = 1;
    return PE_OK;
}

int pe_notify_start(struct pe_loop *loop)
{
    pe_notify_stop();
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path)
        return PE_OK;
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len < 2 || len >= sizeof nt.addr.sun_path) {
        pe_error("notify.bad_env",
                 "NOTIFY_SOCKET=\"%.120s\" (expected /path or @abstract, "
                 "shorter than %zu)",
                 path, sizeof nt.addr.sun_path);
        return PE_EINVAL;
    }
    int64_t ms;
    int rc = watchdog_interval(&ms);
    if (rc)
        return rc;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = errno == ENOMEM || errno == ENOBUFS ? PE_ENOMEM : PE_ESYS;
        pe_error("notify.socket", "errno=%d msg=\"%s\"", errno, strerror(errno));
        return rc;
    }
    memset(&nt.addr, 0, sizeof nt.addr);
    nt.addr.sun_family = AF_UNIX;
    memcpy(nt.addr.sun_path, path, len);
    if (path[0] == '@')
        nt.addr.sun_path[0] = '\0';
    /* A path counts its NUL; an abstract name is exactly its bytes. */
    nt.addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
    nt.fd = fd;
    nt.loop = loop;
    nt.interval_ms = ms;
    if (ms > 0) {
        if ((rc = pe_loop_timer(loop, ms, watchdog_tick, NULL, &nt.timer))) {
            pe_notify_stop();
            return rc;
        }
    }
    pe_info("notify.start", "socket=%s watchdog_ms=%lld", path, (long long)ms);
    return PE_OK;
}

void pe_notify(const char *state)
{
    if (nt.fd >= 0 && state && *state)
        send_state(state);
}

void pe_notify_stop(void)
{
    if (nt.timer && nt.loop)
        pe_loop_timer_cancel(nt.loop, nt.timer);
    if (nt.fd >= 0)
        close(nt.fd);
    nt.fd = -1;
    nt.timer = 0;
    nt.loop = NULL;
    nt.interval_ms = 0;
    nt.addrlen = 0;
}
