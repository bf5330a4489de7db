/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_loop.c - unit tests of the poll(2) event loop (common/loop.c).
 *
 * Pipes stand in for devices: writing a byte makes the read end ready. Nothing here sleeps to
 * synchronise; a test that waits for something runs the loop until a condition holds or a
 * deadline passes, and timing is only ever asserted from below (a timer never fires early).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/log.h"
#include "posedge/loop.h"
#include "tests/unit/harness.h"

#define DEADLINE_MS 5000

struct pipe {
    int rd, wr;
};

static struct pipe make_pipe(void)
{
    int fds[2];
    CHECK_INT(pipe(fds), 0);
    return (struct pipe){fds[0], fds[1]};
}

static void close_pipe(struct pipe p)
{
    close(p.rd);
    close(p.wr);
}

static void poke(struct pipe p)
{
    CHECK_INT(write(p.wr, "x", 1), 1);
}

/* What a callback saw, and what it should do to the loop. */
struct probe {
    struct pe_loop *loop;
    int calls;
    int fd;
    short revents;
    bool drain;              /* read one byte from fd */
    int del_fd;              /* remove this fd (-1: none) */
    int add_fd;              /* add this fd with probe add_probe (-1: none) */
    struct probe *add_probe; /* probe of the added fd */
};

static void probe_init(struct probe *p, struct pe_loop *l)
{
    memset(p, 0, sizeof *p);
    p->loop = l;
    p->fd = -1;
    p->del_fd = -1;
    p->add_fd = -1;
}

static void on_fd(int fd, short revents, void *ctx)
{
    struct probe *p = ctx;
    char c;
    p->calls++;
    p->fd = fd;
    p->revents = revents;
    if (p->drain)
        CHECK_INT(read(fd, &c, 1), 1);
    if (p->del_fd >= 0)
        CHECK_OK(pe_loop_del_fd(p->loop, p->del_fd));
    if (p->add_fd >= 0)
        CHECK_OK(pe_loop_add_fd(p->loop, p->add_fd, POLLIN, on_fd, p->add_probe));
}

/* Run the loop until *counter reaches want, failing after DEADLINE_MS. */
static void run_until(struct pe_loop *l, const int *counter, int want)
{
    int64_t end = pe_mono_ms() + DEADLINE_MS;
    while (*counter < want) {
        if (pe_mono_ms() > end)
            pe_test_fail(__FILE__, __LINE__, "waited %d ms for %d, have %d", DEADLINE_MS, want,
                         *counter);
        CHECK_OK(pe_loop_run_once(l, 100));
    }
}

static void t_create_destroy(void)
{
    struct pe_loop *l = NULL;
    CHECK_OK(pe_loop_create(&l));
    CHECK(l != NULL);
    pe_loop_destroy(l);
    pe_loop_destroy(NULL);
}

static void t_fd_readable(void)
{
    struct pe_loop *l;
    struct probe p;
    struct pipe a = make_pipe();
    CHECK_OK(pe_loop_create(&l));
    probe_init(&p, l);
    p.drain = true;
    CHECK_OK(pe_loop_add_fd(l, a.rd, POLLIN, on_fd, &p));
    CHECK_OK(pe_loop_run_once(l, 0));
    CHECK_INT(p.calls, 0);
    poke(a);
    run_until(l, &p.calls, 1);
    CHECK_INT(p.fd, a.rd);
    CHECK(p.revents & POLLIN);
    /* Drained: it stays quiet. */
    CHECK_OK(pe_loop_run_once(l, 0));
    CHECK_INT(p.calls, 1);
    pe_loop_destroy(l);
    /* The loop does not close what it watched. */
    CHECK(fcntl(a.rd, F_GETFD) >= 0);
    close_pipe(a);
}

static void t_fd_errors(void)
{
    struct pe_loop *l;
    struct probe p;
    struct pipe a = make_pipe();
    CHECK_OK(pe_loop_create(&l));
    probe_init(&p, l);
    CHECK_INT(pe_loop_add_fd(l, -1, POLLIN, on_fd, &p), PE_EINVAL);
    CHECK_OK(pe_loop_add_fd(l, a.rd, POLLIN, on_fd, &p));
    CHECK_INT(pe_loop_add_fd(l, a.rd, POLLIN, on_fd, &p), PE_EEXIST);
    CHECK_INT(pe_loop_mod_fd(l, a.wr, POLLIN), PE_ENOTFOUND);
    CHECK_INT(pe_loop_del_fd(l, a.wr), PE_ENOTFOUND);
    CHECK_OK(pe_loop_del_fd(l, a.rd));
    CHECK_INT(pe_loop_del_fd(l, a.rd), PE_ENOTFOUND);
    CHECK_INT(pe_loop_mod_fd(l, a.rd, POLLIN), PE_ENOTFOUND);
    /* Removed outside dispatch: it can be added again at once, and nothing fires. */
    CHECK_OK(pe_loop_add_fd(l, a.rd, POLLIN, on_fd, &p));
    CHECK_OK(pe_loop_del_fd(l, a.rd));
    poke(a);
    CHECK_OK(pe_loop_run_once(l, 0));
    CHECK_INT(p.calls, 0);
    pe_loop_destroy(l);
    close_pipe(a);
}

static void t_mod_fd(void)
{
    struct pe_loop *l;
    struct probe p;
    struct pipe a = make_pipe();
    CHECK_OK(pe_loop_create(&l));
    probe_init(&p, l);
    /* An empty pipe's write end is writable, never readable. */
    CHECK_OK(pe_loop_add_fd(l, a.wr, POLLOUT, on_fd, &p));
    run_until(l, &p.calls, 1);
    CHECK(p.revents & POLLOUT);
    CHECK_OK(pe_loop_mod_fd(l, a.wr, POLLIN));
    CHECK_OK(pe_loop_run_once(l, 0));
    CHECK_INT(p.calls, 1);
    CHECK_OK(pe_loop_mod_fd(l, a.wr, POLLOUT));
    CHECK_OK(pe_loop_run_once(l, 0));
    CHECK_INT(p.calls, 2);
    pe_loop_destroy(l);
    close_pipe(a);
}

static void t_hangup(void)
{
    struct pe_loop *l;
    struct probe p;
    struct pipe a = make_pipe();
    CHECK_OK(pe_loop_create(&l));
    probe_init(&p, l);
    p.del_fd = a.rd;
    CHECK_OK(pe_loop_add_fd(l, a.rd, POLLIN, on_fd, &p));
    close(a.wr);
    run_until(l, &p.calls, 1);
    CHECK(p.revents & POLLHUP);
    pe_loop_destroy(l);
    close(a.rd);
}

static void t_del_in_callback(void)
{
    struct pe_loop *l;
    struct probe pa, pb;
    struct pipe a = make_pipe(), b = make_pipe();
    CHECK_OK(pe_loop_create(&l));
    probe_init(&pa, l);
    probe_init(&pb, l);
    /* a is dispatched before b (added first); its callback removes b, which was also ready. */
    pa.drain = true;
    pa.del_fd = b.rd;
    CHECK_OK(pe_loop_add_fd(l, a.rd, POLLIN, on_fd, &pa));
    CHECK_OK(pe_loop_add_fd(l, b.rd, POLLIN, on_fd, &pb));
    poke(a);
    poke(b);
    /* Make sure both are ready before the round that sees them. */
    struct pollfd both[2] = {{a.rd, POLLIN, 0}, {b.rd, POLLIN, 0}};
    CHECK_INT(poll(both, 2, DEADLINE_MS), 2);
    CHECK_OK(pe_loop_run_once(l, 0));
    CHECK_INT(pa.calls, 1);
    CHECK_INT(pb.calls, 0);
    CHECK_OK(pe_loop_run_once(l, 0));
    CHECK_INT(pb.calls, 0);
    CHECK_INT(pe_loop_del_fd(l, b.rd), PE_ENOTFOUND);
    pe_loop_destroy(l);
    close_pipe(a);
    close_pipe(b);
}

static void t_del_self_in_callback(void)
{
    struct pe_loop *l;
    struct probe pa, pb;
    struct pipe a = make_pipe(), b = make_pipe();
    CHECK_OK(pe_loop_create(&l));
    probe_init(&pa, l);
    probe_init(&pb, l);
    pa.del_fd = a.rd;
    pb.drain = true;
    CHECK_OK(pe_loop_add_fd(l, a.rd, POLLIN, on_fd, &pa));
    CHECK_OK(pe_loop_add_fd(l, b.rd, POLLIN, on_fd, &pb));
    poke(a);
    poke(b);
    struct pollfd both[2] = {{a.rd, POLLIN, 0}, {b.rd, POLLIN, 0}};
    CHECK_INT(poll(both, 2, DEADLINE_MS), 2);
    CHECK_OK(pe_loop_run_once(l, 0));
    /* The entry after the removed one is still dispatched, exactly once. */
    CHECK_INT(pa.calls, 1);
    CHECK_INT(pb.calls, 1);
    /* a is still readable but no longer watched. */
    CHECK_OK(pe_loop_run_once(l, 0));
    CHECK_INT(pa.calls, 1);
    pe_loop_destroy(l);
    close_pipe(a);
    close_pipe(b);
}

static void t_add_in_callback(void)
{
    struct pe_loop *l;
    struct probe pa, pb;
    struct pipe a = make_pipe(), b = make_pipe();
    CHECK_OK(pe_loop_create(&l));
    probe_init(&pa, l);
    probe_init(&pb, l);
    pa.drain = true;
    pa.add_fd = b.rd;
    pa.add_probe = &pb;
    pb.drain = true;
    CHECK_OK(pe_loop_add_fd(l, a.rd, POLLIN, on_fd, &pa));
    poke(b); /* b is ready before it is watched */
    poke(a);
    run_until(l, &pa.calls, 1);
    /* Added during the round: not dispatched until the next one. */
    CHECK_INT(pb.calls, 0);
    run_until(l, &pb.calls, 1);
    CHECK_INT(pb.fd, b.rd);
    CHECK_INT(pa.calls, 1);
    pe_loop_destroy(l);
    close_pipe(a);
    close_pipe(b);
}

static void t_readd_in_callback(void)
{
    struct pe_loop *l;
    struct probe pa, pb, pb2;
    struct pipe a = make_pipe(), b = make_pipe();
    CHECK_OK(pe_loop_create(&l));
    probe_init(&pa, l);
    probe_init(&pb, l);
    probe_init(&pb2, l);
    /* a's callback replaces b's watch; the new watch waits for the next round. */
    pa.drain = true;
    pa.del_fd = b.rd;
    pa.add_fd = b.rd;
    pa.add_probe = &pb2;
    pb2.drain = true;
    CHECK_OK(pe_loop_add_fd(l, a.rd, POLLIN, on_fd, &pa));
    CHECK_OK(pe_loop_add_fd(l, b.rd, POLLIN, on_fd, &pb));
    poke(a);
    poke(b);
    struct pollfd both[2] = {{a.rd, POLLIN, 0}, {b.rd, POLLIN, 0}};
    CHECK_INT(poll(both, 2, DEADLINE_MS), 2);
    CHECK_OK(pe_loop_run_once(l, 0));
    CHECK_INT(pa.calls, 1);
    CHECK_INT(pb.calls, 0);
    CHECK_INT(pb2.calls, 0);
    CHECK_OK(pe_loop_run_once(l, 0));
    CHECK_INT(pb.calls, 0);
    CHECK_INT(pb2.calls, 1);
    pe_loop_destroy(l);
    close_pipe(a);
    close_pipe(b);
}

static void t_many_fds(void)
{
    enum { N = 100 };
    struct pe_loop *l;
    struct probe p[N];
    struct pipe ps[N];
    int total = 0;
    CHECK_OK(pe_loop_create(&l));
    for (int i = 0; i < N; i++) {
        ps[i] = make_pipe();
        probe_init(&p[i], l);
        p[i].drain = true;
        CHECK_OK(pe_loop_add_fd(l, ps[i].rd, POLLIN, on_fd, &p[i]));
        poke(ps[i]);
    }
    int64_t end = pe_mono_ms() + DEADLINE_MS;
    while (total < N && pe_mono_ms() < end) {
        CHECK_OK(pe_loop_run_once(l, 100));
        total = 0;
        for (int i = 0; i < N; i++)
            total += p[i].calls;
    }
    for (int i = 0; i < N; i++) {
        CHECK_INT(p[i].calls, 1);
        CHECK_INT(p[i].fd, ps[i].rd);
    }
    for (int i = 0; i < N; i += 2)
        CHECK_OK(pe_loop_del_fd(l, ps[i].rd));
    for (int i = 1; i < N; i += 2)
        CHECK_OK(pe_loop_mod_fd(l, ps[i].rd, POLLIN));
    pe_loop_destroy(l);
    for (int i = 0; i < N; i++)
        close_pipe(ps[i]);
}

/* Timers record the order they fire in. */
struct order {
    struct pe_loop *loop;
    int fired[16];
    int64_t at[16];
    int n;
    int64_t cancel_id; /* cancelled by the timer that fires first, if > 0 */
};

struct tag {
    struct order *o;
    int id;
};

static void on_timer(void *ctx)
{
    struct tag *t = ctx;
    struct order *o = t->o;
    CHECK(o->n < 16);
    o->fired[o->n] = t->id;
    o->at[o->n] = pe_mono_ms();
    o->n++;
    if (o->cancel_id > 0) {
        pe_loop_timer_cancel(o->loop, o->cancel_id);
        o->cancel_id = 0;
    }
}

static void t_timers_in_order(void)
{
    struct pe_loop *l;
    struct order o = {0};
    struct tag t[5] = {{&o, 30}, {&o, 10}, {&o, 20}, {&o, 1}, {&o, 2}};
    int64_t ids[5];
    CHECK_OK(pe_loop_create(&l));
    o.loop = l;
    int64_t start = pe_mono_ms();
    CHECK_OK(pe_loop_timer(l, 30, on_timer, &t[0], &ids[0]));
    CHECK_OK(pe_loop_timer(l, 10, on_timer, &t[1], &ids[1]));
    CHECK_OK(pe_loop_timer(l, 20, on_timer, &t[2], &ids[2]));
    CHECK_OK(pe_loop_timer(l, 0, on_timer, &t[3], &ids[3]));
    CHECK_OK(pe_loop_timer(l, 0, on_timer, &t[4], &ids[4]));
    for (int i = 0; i < 5; i++) {
        CHECK(ids[i] > 0);
        if (i > 0)
            CHECK(ids[i] > ids[i - 1]);
    }
    run_until(l, &o.n, 5);
    CHECK_INT(o.fired[0], 1);
    CHECK_INT(o.fired[1], 2);
    CHECK_INT(o.fired[2], 10);
    CHECK_INT(o.fired[3], 20);
    CHECK_INT(o.fired[4], 30);
    /* Never early. */
    CHECK(o.at[2] - start >= 10);
    CHECK(o.at[3] - start >= 20);
    CHECK(o.at[4] - start >= 30);
    pe_loop_destroy(l);
}

static void t_equal_due_in_creation_order(void)
{
    enum { N = 12 };
    struct pe_loop *l;
    struct order o = {0};
    struct tag t[N];
    CHECK_OK(pe_loop_create(&l));
    o.loop = l;
    for (int i = 0; i < N; i++) {
        t[i] = (struct tag){&o, i};
        CHECK_OK(pe_loop_timer(l, 0, on_timer, &t[i], NULL));
    }
    run_until(l, &o.n, N);
    for (int i = 0; i < N; i++)
        CHECK_INT(o.fired[i], i);
    pe_loop_destroy(l);
}

static void t_timer_cancel(void)
{
    struct pe_loop *l;
    struct order o = {0};
    struct tag t[2] = {{&o, 1}, {&o, 2}};
    int64_t a, b;
    CHECK_OK(pe_loop_create(&l));
    o.loop = l;
    CHECK_OK(pe_loop_timer(l, 5, on_timer, &t[0], &a));
    CHECK_OK(pe_loop_timer(l, 20, on_timer, &t[1], &b));
    pe_loop_timer_cancel(l, a);
    pe_loop_timer_cancel(l, a);     /* twice */
    pe_loop_timer_cancel(l, 12345); /* never existed */
    pe_loop_timer_cancel(l, 0);
    run_until(l, &o.n, 1);
    CHECK_INT(o.fired[0], 2);
    pe_loop_timer_cancel(l, b); /* already fired */
    /* Nothing else is pending: an idle round fires nothing. */
    CHECK_OK(pe_loop_run_once(l, 10));
    CHECK_INT(o.n, 1);
    pe_loop_destroy(l);
}

static void t_timer_cancel_in_callback(void)
{
    struct pe_loop *l;
    struct order o = {0};
    struct tag t[2] = {{&o, 1}, {&o, 2}};
    int64_t second;
    CHECK_OK(pe_loop_create(&l));
    o.loop = l;
    /* Both are due in the same round; the first cancels the second. */
    CHECK_OK(pe_loop_timer(l, 0, on_timer, &t[0], NULL));
    CHECK_OK(pe_loop_timer(l, 0, on_timer, &t[1], &second));
    o.cancel_id = second;
    run_until(l, &o.n, 1);
    CHECK_OK(pe_loop_run_once(l, 10));
    CHECK_INT(o.n, 1);
    CHECK_INT(o.fired[0], 1);
    pe_loop_destroy(l);
}

struct rearm {
    struct pe_loop *loop;
    int calls;
};

static void on_rearm(void *ctx)
{
    struct rearm *r = ctx;
    r->calls++;
    CHECK_OK(pe_loop_timer(r->loop, 0, on_rearm, r, NULL));
}

static void t_zero_delay_timer(void)
{
    struct pe_loop *l;
    struct rearm r = {0};
    CHECK_OK(pe_loop_create(&l));
    r.loop = l;
    CHECK_OK(pe_loop_timer(l, 0, on_rearm, &r, NULL));
    /* Even with no limit on the wait, a due timer makes the round return. */
    CHECK_OK(pe_loop_run_once(l, -1));
    CHECK_INT(r.calls, 1);
    /* A timer that re-arms itself at zero delay runs once per round, never in a tight loop
     * inside one. */
    CHECK_OK(pe_loop_run_once(l, -1));
    CHECK_INT(r.calls, 2);
    CHECK_OK(pe_loop_run_once(l, 0));
    CHECK_INT(r.calls, 3);
    pe_loop_destroy(l);
}

static void t_negative_delay(void)
{
    struct pe_loop *l;
    struct order o = {0};
    struct tag t = {&o, 1};
    CHECK_OK(pe_loop_create(&l));
    CHECK_OK(pe_loop_timer(l, -50, on_timer, &t, NULL));
    run_until(l, &o.n, 1);
    pe_loop_destroy(l);
}

static void t_idle_max_wait(void)
{
    struct pe_loop *l;
    CHECK_OK(pe_loop_create(&l));
    int64_t start = pe_mono_ms();
    CHECK_OK(pe_loop_run_once(l, 0));
    CHECK_OK(pe_loop_run_once(l, 20));
    int64_t took = pe_mono_ms() - start;
    /* It waited, and it came back (the harness would time out a hang). */
    CHECK(took >= 10);
    CHECK(took < DEADLINE_MS);
    /* A far timer does not stretch max_wait. */
    struct order o = {0};
    struct tag t = {&o, 1};
    CHECK_OK(pe_loop_timer(l, 60000, on_timer, &t, NULL));
    start = pe_mono_ms();
    CHECK_OK(pe_loop_run_once(l, 20));
    CHECK(pe_mono_ms() - start < DEADLINE_MS);
    CHECK_INT(o.n, 0);
    pe_loop_destroy(l);
}

static void t_timer_bounds_wait(void)
{
    struct pe_loop *l;
    struct order o = {0};
    struct tag t = {&o, 1};
    CHECK_OK(pe_loop_create(&l));
    CHECK_OK(pe_loop_timer(l, 20, on_timer, &t, NULL));
    /* Unbounded wait: the timer ends it (the harness would time out a hang). */
    int64_t end = pe_mono_ms() + DEADLINE_MS;
    while (o.n == 0 && pe_mono_ms() < end)
        CHECK_OK(pe_loop_run_once(l, -1));
    CHECK_INT(o.n, 1);
    pe_loop_destroy(l);
}

struct sigprobe {
    struct pe_loop *loop;
    int calls;
    int sig;
    void *ctx;
    bool stop;
};

static void on_sig(int sig, void *ctx)
{
    struct sigprobe *p = ctx;
    p->calls++;
    p->sig = sig;
    p->ctx = ctx;
    if (p->stop)
        pe_loop_stop(p->loop);
}

static void own_handler(int sig)
{
    (void)sig;
}

static void t_signal_delivery(void)
{
    struct pe_loop *l;
    struct sigprobe p = {0};
    struct sigaction mine, cur;
    int sigs[] = {SIGUSR1, SIGUSR2};

    /* The program had its own SIGUSR1 handler; SIGUSR2 was at its default. */
    memset(&mine, 0, sizeof mine);
    mine.sa_handler = own_handler;
    sigemptyset(&mine.sa_mask);
    CHECK_INT(sigaction(SIGUSR1, &mine, NULL), 0);
    signal(SIGUSR2, SIG_DFL);

    CHECK_OK(pe_loop_create(&l));
    p.loop = l;
    CHECK_OK(pe_loop_signals(l, sigs, 2, on_sig, &p));
    CHECK_INT(raise(SIGUSR1), 0);
    CHECK_INT(p.calls, 0); /* never inside the handler */
    run_until(l, &p.calls, 1);
    CHECK_INT(p.sig, SIGUSR1);
    CHECK(p.ctx == &p);
    CHECK_INT(raise(SIGUSR2), 0);
    CHECK_INT(raise(SIGUSR1), 0);
    run_until(l, &p.calls, 3);
    CHECK_INT(p.sig, SIGUSR1);
    pe_loop_destroy(l);

    CHECK_INT(sigaction(SIGUSR1, NULL, &cur), 0);
    CHECK(cur.sa_handler == own_handler);
    CHECK_INT(sigaction(SIGUSR2, NULL, &cur), 0);
    CHECK(cur.sa_handler == SIG_DFL);
}

static void t_signal_refused(void)
{
    struct pe_loop *l;
    struct sigprobe p = {0};
    struct sigaction cur;
    int sigs[] = {SIGUSR1, SIGKILL};
    int bad[] = {0};
    pe_log_set_level(PE_LOG_OFF); /* the refusals are logged; keep them out of the output */
    CHECK_OK(pe_loop_create(&l));
    signal(SIGUSR1, SIG_DFL);
    CHECK_INT(pe_loop_signals(l, sigs, 2, on_sig, &p), PE_ESYS);
    CHECK_INT(pe_loop_signals(l, bad, 1, on_sig, &p), PE_ESYS);
    /* The failed call took nothing: SIGUSR1 is back at its default. */
    CHECK_INT(sigaction(SIGUSR1, NULL, &cur), 0);
    CHECK(cur.sa_handler == SIG_DFL);
    pe_loop_destroy(l);
}

static void t_signal_during_poll(void)
{
    struct pe_loop *l;
    struct sigprobe p = {0};
    int sigs[] = {SIGUSR2};
    timer_t tm;
    struct sigevent sev;
    struct itimerspec its;

    CHECK_OK(pe_loop_create(&l));
    CHECK_OK(pe_loop_signals(l, sigs, 1, on_sig, &p));
    /* A POSIX timer raises SIGUSR2 while the loop is blocked in poll with no limit; the
     * interrupted poll is not an error and the signal arrives through the pipe. */
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGUSR2;
    CHECK_INT(timer_create(CLOCK_MONOTONIC, &sev, &tm), 0);
    memset(&its, 0, sizeof its);
    its.it_value.tv_nsec = 20 * 1000 * 1000;
    CHECK_INT(timer_settime(tm, 0, &its, NULL), 0);
    int64_t end = pe_mono_ms() + DEADLINE_MS;
    while (p.calls == 0 && pe_mono_ms() < end)
        CHECK_OK(pe_loop_run_once(l, -1));
    CHECK_INT(p.calls, 1);
    CHECK_INT(p.sig, SIGUSR2);
    timer_delete(tm);
    pe_loop_destroy(l);
}

static void on_stop(void *ctx)
{
    pe_loop_stop(ctx);
}

static void t_stop_ends_run(void)
{
    struct pe_loop *l;
    struct order o = {0};
    struct tag t = {&o, 1};
    CHECK_OK(pe_loop_create(&l));
    CHECK_OK(pe_loop_timer(l, 5, on_timer, &t, NULL));
    CHECK_OK(pe_loop_timer(l, 10, on_stop, l, NULL));
    CHECK_OK(pe_loop_run(l));
    CHECK_INT(o.n, 1);
    /* Run can start again after a stop. */
    CHECK_OK(pe_loop_timer(l, 0, on_stop, l, NULL));
    CHECK_OK(pe_loop_run(l));
    pe_loop_destroy(l);
}

static void t_signal_stops_run(void)
{
    struct pe_loop *l;
    struct sigprobe p = {0};
    int sigs[] = {SIGTERM};
    CHECK_OK(pe_loop_create(&l));
    p.loop = l;
    p.stop = true;
    CHECK_OK(pe_loop_signals(l, sigs, 1, on_sig, &p));
    CHECK_INT(raise(SIGTERM), 0);
    CHECK_OK(pe_loop_run(l));
    CHECK_INT(p.calls, 1);
    CHECK_INT(p.sig, SIGTERM);
    pe_loop_destroy(l);
}

static const struct pe_test tests[] = {
    {"create_destroy", t_create_destroy},
    {"fd_readable", t_fd_readable},
    {"fd_errors", t_fd_errors},
    {"mod_fd", t_mod_fd},
    {"hangup", t_hangup},
    {"del_in_callback", t_del_in_callback},
    {"del_self_in_callback", t_del_self_in_callback},
    {"add_in_callback", t_add_in_callback},
    {"readd_in_callback", t_readd_in_callback},
    {"many_fds", t_many_fds},
    {"timers_in_order", t_timers_in_order},
    {"equal_due_in_creation_order", t_equal_due_in_creation_order},
    {"timer_cancel", t_timer_cancel},
    {"timer_cancel_in_callback", t_timer_cancel_in_callback},
    {"zero_delay_timer", t_zero_delay_timer},
    {"negative_delay", t_negative_delay},
    {"idle_max_wait", t_idle_max_wait},
    {"timer_bounds_wait", t_timer_bounds_wait},
    {"signal_delivery", t_signal_delivery},
    {"signal_refused", t_signal_refused},
    {"signal_during_poll", t_signal_during_poll},
    {"stop_ends_run", t_stop_ends_run},
    {"signal_stops_run", t_signal_stops_run},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("loop", tests, argc, argv);
}
