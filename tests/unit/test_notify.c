/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_notify.c - unit tests of the sd_notify client (common/notify.c).
 *
 * Each test plays systemd: it binds an AF_UNIX datagram socket (a file in the test's temporary
 * directory, or a name in the abstract namespace), points NOTIFY_SOCKET (and WATCHDOG_USEC /
 * WATCHDOG_PID) at it, and reads what the notifier sends. Waits run the loop until a message
 * arrives or a deadline passes; the only fixed waits are the ones that show something does
 * NOT happen (no ping after stop, none from a loop that does not turn).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/log.h"
#include "posedge/loop.h"
#include "posedge/notify.h"
#include "tests/unit/harness.h"

#define DEADLINE_MS 5000

/* A datagram socket bound to name ("/..." a path, "@..." abstract). Returns its fd. */
static int listener(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(fd >= 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    CHECK(len < sizeof a.sun_path);
    memcpy(a.sun_path, name, len);
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    if (name[0] == '@')
        a.sun_path[0] = '\0';
    else
        alen++;
    CHECK_INT(bind(fd, (struct sockaddr *)&a, alen), 0);
    return fd;
}

/* One message if one is waiting (buf empty and false otherwise). */
static bool take(int fd, char *buf, size_t n)
{
    ssize_t r = recv(fd, buf, n - 1, MSG_DONTWAIT);
    buf[r > 0 ? r : 0] = '\0';
    return r > 0;
}

/* Run the loop until a message arrives on fd; fails the test at the deadline. */
static void wait_msg(struct pe_loop *loop, int fd, char *buf, size_t n)
{
    int64_t deadline = pe_mono_ms() + DEADLINE_MS;
    while (!take(fd, buf, n)) {
        if (pe_mono_ms() > deadline)
            pe_test_fail(__FILE__, __LINE__, "no notification within %d ms", DEADLINE_MS);
        CHECK_OK(pe_loop_run_once(loop, 10));
    }
}

static void clear_env(void)
{
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

static void t_unset_is_a_noop(void)
{
    struct pe_loop *loop;
    CHECK_OK(pe_loop_create(&loop));
    clear_env();
    CHECK_OK(pe_notify_start(loop));
    pe_notify("READY=1"); /* nowhere to go, and no crash */
    pe_notify_stop();
    pe_notify_stop(); /* twice is fine */
    pe_loop_destroy(loop);
}

static void t_stop_without_start(void)
{
    pe_notify_stop();
    pe_notify("STATUS=nobody listens");
}

static void t_path_socket(void)
{
    struct pe_loop *loop;
    char buf[256];
    CHECK_OK(pe_loop_create(&loop));
    const char *path = pe_test_path(0, "notify.sock");
    int fd = listener(path);
    clear_env();
    setenv("NOTIFY_SOCKET", path, 1);
    CHECK_OK(pe_notify_start(loop));
    pe_notify("READY=1");
    CHECK(take(fd, buf, sizeof buf));
    CHECK_STR(buf, "READY=1");
    pe_notify("STATUS=online: 3 terminals");
    CHECK(take(fd, buf, sizeof buf));
    CHECK_STR(buf, "STATUS=online: 3 terminals");
    pe_notify("STOPPING=1");
    CHECK(take(fd, buf, sizeof buf));
    CHECK_STR(buf, "STOPPING=1");
    CHECK(!take(fd, buf, sizeof buf)); /* one datagram per call, no watchdog configured */
    pe_notify_stop();
    pe_notify("READY=1");
    CHECK(!take(fd, buf, sizeof buf)); /* stopped: nothing is sent */
    close(fd);
    pe_loop_destroy(loop);
}

static void t_abstract_socket(void)
{
    struct pe_loop *loop;
    char name[64], buf[256];
    CHECK_OK(pe_loop_create(&loop));
    snprintf(name, sizeof name, "@posedge-test-notify-%d", (int)getpid());
    int fd = listener(name);
    clear_env();
    setenv("NOTIFY_SOCKET", name, 1);
    CHECK_OK(pe_notify_start(loop));
    pe_notify("READY=1");
    CHECK(take(fd, buf, sizeof buf));
    CHECK_STR(buf, "READY=1");
    pe_notify_stop();
    close(fd);
    pe_loop_destroy(loop);
}

static void t_watchdog_pings_while_the_loop_turns(void)
{
    struct pe_loop *loop;
    char buf[256], pid[24];
    CHECK_OK(pe_loop_create(&loop));
    const char *path = pe_test_path(0, "wd.sock");
    int fd = listener(path);
    clear_env();
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "100000", 1); /* 100 ms: a ping every 50 ms */
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    int64_t t0 = pe_mono_ms();
    CHECK_OK(pe_notify_start(loop));
    for (int i = 0; i < 3; i++) {
        wait_msg(loop, fd, buf, sizeof buf);
        CHECK_STR(buf, "WATCHDOG=1");
    }
    CHECK(pe_mono_ms() - t0 >= 150); /* never early: three pings take three half-intervals */

    /* A loop that hangs sends nothing: the pings come from its timer. */
    while (take(fd, buf, sizeof buf))
        ;
    usleep(200 * 1000); /* the hang itself */
    CHECK(!take(fd, buf, sizeof buf));
    wait_msg(loop, fd, buf, sizeof buf); /* turning again, the overdue ping goes out */
    CHECK_STR(buf, "WATCHDOG=1");

    /* Stopped: the timer is gone. */
    pe_notify_stop();
    while (take(fd, buf, sizeof buf))
        ;
    CHECK_OK(pe_loop_run_once(loop, 200));
    CHECK(!take(fd, buf, sizeof buf));
    close(fd);
    pe_loop_destroy(loop);
}

static void t_watchdog_without_pid(void)
{
    struct pe_loop *loop;
    char buf[256];
    CHECK_OK(pe_loop_create(&loop));
    const char *path = pe_test_path(0, "wd.sock");
    int fd = listener(path);
    clear_env();
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "60000", 1); /* no WATCHDOG_PID: meant for us */
    CHECK_OK(pe_notify_start(loop));
    wait_msg(loop, fd, buf, sizeof buf);
    CHECK_STR(buf, "WATCHDOG=1");
    pe_notify_stop();
    close(fd);
    pe_loop_destroy(loop);
}

static void t_watchdog_for_another_pid(void)
{
    struct pe_loop *loop;
    char buf[256], pid[24];
    CHECK_OK(pe_loop_create(&loop));
    const char *path = pe_test_path(0, "wd.sock");
    int fd = listener(path);
    clear_env();
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "20000", 1);
    snprintf(pid, sizeof pid, "%d", (int)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1); /* our parent's watchdog, inherited: not ours to ping */
    CHECK_OK(pe_notify_start(loop));
    CHECK_OK(pe_loop_run_once(loop, 100)); /* ten intervals: no timer fires */
    CHECK(!take(fd, buf, sizeof buf));
    pe_notify("READY=1"); /* the socket itself still works */
    CHECK(take(fd, buf, sizeof buf));
    CHECK_STR(buf, "READY=1");
    pe_notify_stop();
    close(fd);
    pe_loop_destroy(loop);
}

static void t_malformed_variables(void)
{
    struct pe_loop *loop;
    char buf[256], longpath[200];
    CHECK_OK(pe_loop_create(&loop));
    const char *path = pe_test_path(0, "bad.sock");
    int fd = listener(path);
    static const struct {
        const char *sock, *usec, *pid;
    } bad[] = {
        {"relative/notify", NULL, NULL},
        {"@", NULL, NULL},
        {NULL, "12x", NULL},
        {NULL, "0", NULL},
        {NULL, "-5", NULL},
        {NULL, "100000", "abc"},
        {NULL, "100000", "0"},
        {NULL, "99999999999999999999", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        clear_env();
        setenv("NOTIFY_SOCKET", bad[i].sock ? bad[i].sock : path, 1);
        if (bad[i].usec)
            setenv("WATCHDOG_USEC", bad[i].usec, 1);
        if (bad[i].pid)
            setenv("WATCHDOG_PID", bad[i].pid, 1);
        if (pe_notify_start(loop) != PE_EINVAL)
            pe_test_fail(__FILE__, __LINE__, "case %zu was accepted", i);
        pe_notify("READY=1"); /* nothing was started */
        CHECK(!take(fd, buf, sizeof buf));
    }
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    clear_env();
    setenv("NOTIFY_SOCKET", longpath, 1); /* longer than sun_path */
    CHECK_INT(pe_notify_start(loop), PE_EINVAL);
    pe_notify_stop();
    close(fd);
    pe_loop_destroy(loop);
}

static void t_full_queue_never_blocks(void)
{
    struct pe_loop *loop;
    char buf[256];
    CHECK_OK(pe_loop_create(&loop));
    const char *path = pe_test_path(0, "slow.sock");
    int fd = listener(path);
    clear_env();
    setenv("NOTIFY_SOCKET", path, 1);
    CHECK_OK(pe_notify_start(loop));
    /* Nobody reads: the socket's queue (net.unix.max_dgram_qlen, 10 by default) fills, and the
     * rest is dropped instead of blocking the caller (the harness's timeout would catch it). */
    int64_t t0 = pe_mono_ms();
    for (int i = 0; i < 1000; i++)
        pe_notify("STATUS=busy");
    CHECK(pe_mono_ms() - t0 < 2000);
    CHECK(take(fd, buf, sizeof buf));
    CHECK_STR(buf, "STATUS=busy");
    pe_notify_stop();
    close(fd);
    pe_loop_destroy(loop);
}

static void t_absent_listener_is_harmless(void)
{
    struct pe_loop *loop;
    CHECK_OK(pe_loop_create(&loop));
    clear_env();
    setenv("NOTIFY_SOCKET", pe_test_path(0, "nobody.sock"), 1);
    CHECK_OK(pe_notify_start(loop)); /* the socket is only used when sending */
    pe_notify("READY=1");            /* ECONNREFUSED/ENOENT: dropped */
    pe_notify_stop();
    pe_loop_destroy(loop);
}

static const struct pe_test tests[] = {
    {"unset_is_a_noop", t_unset_is_a_noop},
    {"stop_without_start", t_stop_without_start},
    {"path_socket", t_path_socket},
    {"abstract_socket", t_abstract_socket},
    {"watchdog_pings_while_the_loop_turns", t_watchdog_pings_while_the_loop_turns},
    {"watchdog_without_pid", t_watchdog_without_pid},
    {"watchdog_for_another_pid", t_watchdog_for_another_pid},
    {"malformed_variables", t_malformed_variables},
    {"full_queue_never_blocks", t_full_queue_never_blocks},
    {"absent_listener_is_harmless", t_absent_listener_is_harmless},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    pe_log_init("test", PE_LOG_OFF);
    return pe_test_main("notify", tests, argc, argv);
}
