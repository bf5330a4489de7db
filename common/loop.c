/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loop.c - the one-thread poll(2) loop: watched fds, one-shot timers, signals via a self-pipe.
 *
 * Watches live in two parallel arrays, our bookkeeping (struct watch) and the struct pollfd
 * array handed to poll; timers live in a binary min-heap ordered by (due, id); a signal
 * handler only writes the signal number as one byte into a non-blocking pipe whose read end
 * is an ordinary watch, so signal callbacks run on the loop's thread like everything else.
 *
 * The invariant that matters: while a round dispatches (from the return of poll to the end of
 * pe_loop_run_once) the watch arrays are only appended to, never reordered or shrunk. A
 * callback may add or remove any watch, its own included: a removed watch is marked dead and
 * skipped for the rest of the round, an added one sits beyond the count that was polled and
 * waits for the next round, and dead entries are compacted away once dispatch is over.
 * Likewise a timer is taken off the heap before its callback runs, and a round runs only the
 * timers that existed when it began, so a callback that re-arms a zero-delay timer cannot
 * starve the fds.
 *
 * Callbacks must not call pe_loop_destroy or pe_loop_run_once on their own loop. Only one
 * loop at a time should own a given signal; loops that take the same signal must be
 * destroyed in the reverse order, since each restores what it replaced.
 */
#define _GNU_SOURCE /* pipe2 is a GNU extension in glibc 2.36 */

#include "posedge/loop.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/log.h"

struct watch {
    int fd;      /* the watched descriptor; the caller owns it */
    bool dead;   /* removed during dispatch, compacted away after it */
    pe_fd_cb cb; /* called with the ready events */
    void *ctx;   /* passed to cb */
};

struct timer {
    int64_t due;    /* pe_mono_ms() at or after which it fires */
    int64_t id;     /* > 0 and increasing, so equal due times fire in order of creation */
    pe_timer_cb cb; /* called once */
    void *ctx;      /* passed to cb */
};

struct sigslot {
    bool taken;           /* our handler is installed and old holds what it replaced */
    struct sigaction old; /* the disposition to restore in pe_loop_destroy */
    sig_atomic_t old_wfd; /* the sig_wfd entry to restore with it */
    pe_signal_cb cb;      /* called on the loop's thread */
    void *ctx;            /* passed to cb */
};

struct pe_loop {
    struct watch *w;          /* watches, index for index with pfd */
    struct pollfd *pfd;       /* what poll(2) sees; a dead entry has fd -1 */
    size_t n;                 /* entries in w and pfd, dead ones included */
    size_t cap;               /* allocated entries of both arrays */
    size_t ndead;             /* dead entries waiting for compaction */
    bool dispatching;         /* between poll returning and the end of the round */
    bool stop;                /* set by pe_loop_stop, cleared when pe_loop_run returns */
    struct timer *heap;       /* pending timers, a min-heap on (due, id) */
    size_t nt;                /* timers in heap */
    size_t tcap;              /* allocated timers */
    int64_t last_id;          /* id of the most recent timer */
    int pipe_rd;              /* self-pipe read end, watched with on_pipe */
    int pipe_wr;              /* self-pipe write end, written by on_signal */
    struct sigslot sig[NSIG]; /* per signal number */
};

/* For each signal, the write end of the self-pipe of the loop that took it, plus one (0 means
 * none, so the zeroed array is valid before any loop exists). Read by on_signal only. */
static volatile sig_atomic_t sig_wfd[NSIG];

static void on_signal(int sig)
{
    int saved = errno;
    if (sig > 0 && sig < NSIG && sig_wfd[sig] > 0) {
        unsigned char b = (unsigned char)sig;
        /* If the pipe is full the loop is already due to wake; this one number is lost. */
        ssize_t r = write(sig_wfd[sig] - 1, &b, 1);
        (void)r;
    }
    errno = saved;
}

/* Drain the self-pipe and hand each signal number to its callback. */
static void on_pipe(int fd, short revents, void *ctx)
{
    struct pe_loop *l = ctx;
    unsigned char buf[64];
    (void)revents;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        for (ssize_t i = 0; i < r; i++) {
            int s = buf[i];
            if (s > 0 && s < NSIG && l->sig[s].cb)
                l->sig[s].cb(s, l->sig[s].ctx);
        }
    }
}

static long find(const struct pe_loop *l, int fd)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->w[i].fd == fd && !l->w[i].dead)
            return (long)i;
    return -1;
}

static void compact(struct pe_loop *l)
{
    size_t j = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (l->w[i].dead)
            continue;
        if (i != j) {
            l->w[j] = l->w[i];
            l->pfd[j] = l->pfd[i];
        }
        j++;
    }
    l->n = j;
    l->ndead = 0;
}

int pe_loop_create(struct pe_loop **out)
{
    int rc, fds[2];
    struct pe_loop *l = calloc(1, sizeof *l);
    if (!l)
        return PE_ENOMEM;
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
        pe_error("loop.pipe", "errno=%d", errno);
        rc = PE_ESYS;
        goto free_loop;
    }
    l->pipe_rd = fds[0];
    l->pipe_wr = fds[1];
    rc = pe_loop_add_fd(l, l->pipe_rd, POLLIN, on_pipe, l);
    if (rc != PE_OK)
        goto close_pipe;
    *out = l;
    return PE_OK;

close_pipe:
    close(fds[0]);
    close(fds[1]);
free_loop:
    free(l->w);
    free(l->pfd);
    free(l);
    return rc;
}

void pe_loop_destroy(struct pe_loop *l)
{
    if (!l)
        return;
    /* Put back what each signal had before (the default disposition, unless the program had
     * installed something of its own), then forget the pipe the handler wrote to. */
    for (int s = 1; s < NSIG; s++) {
        if (!l->sig[s].taken)
            continue;
        sigaction(s, &l->sig[s].old, NULL);
        sig_wfd[s] = l->sig[s].old_wfd;
    }
    close(l->pipe_rd);
    close(l->pipe_wr);
    free(l->heap);
    free(l->w);
    free(l->pfd);
    free(l);
}

int pe_loop_add_fd(struct pe_loop *l, int fd, short events, pe_fd_cb cb, void *ctx)
{
    assert(cb);
    if (fd < 0)
        return PE_EINVAL;
    if (find(l, fd) >= 0)
        return PE_EEXIST;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        struct watch *w = realloc(l->w, cap * sizeof *w);
        if (!w)
            return PE_ENOMEM;
        l->w = w;
        struct pollfd *p = realloc(l->pfd, cap * sizeof *p);
        if (!p)
            return PE_ENOMEM;
        l->pfd = p;
        l->cap = cap;
    }
    l->w[l->n] = (struct watch){.fd = fd, .dead = false, .cb = cb, .ctx = ctx};
    l->pfd[l->n] = (struct pollfd){.fd = fd, .events = events, .revents = 0};
    l->n++;
    return PE_OK;
}

int pe_loop_mod_fd(struct pe_loop *l, int fd, short events)
{
    long i = find(l, fd);
    if (i < 0)
        return PE_ENOTFOUND;
    l->pfd[i].events = events;
    return PE_OK;
}

int pe_loop_del_fd(struct pe_loop *l, int fd)
{
    long i = find(l, fd);
    if (i < 0)
        return PE_ENOTFOUND;
    l->w[i].dead = true;
    l->pfd[i].fd = -1;
    l->pfd[i].revents = 0;
    l->ndead++;
    if (!l->dispatching)
        compact(l);
    return PE_OK;
}

static bool earlier(const struct timer *a, const struct timer *b)
{
    return a->due < b->due || (a->due == b->due && a->id < b->id);
}

static void swap(struct timer *h, size_t i, size_t j)
{
    struct timer t = h[i];
    h[i] = h[j];
    h[j] = t;
}

static void sift_up(struct timer *h, size_t i)
{
    while (i > 0 && earlier(&h[i], &h[(i - 1) / 2])) {
        swap(h, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static void sift_down(struct timer *h, size_t n, size_t i)
{
    for (;;) {
        size_t m = i, a = 2 * i + 1, b = 2 * i + 2;
        if (a < n && earlier(&h[a], &h[m]))
            m = a;
        if (b < n && earlier(&h[b], &h[m]))
            m = b;
        if (m == i)
            return;
        swap(h, i, m);
        i = m;
    }
}

static void heap_remove(struct pe_loop *l, size_t i)
{
    l->nt--;
    if (i == l->nt)
        return;
    l->heap[i] = l->heap[l->nt];
    sift_down(l->heap, l->nt, i);
    sift_up(l->heap, i);
}

int pe_loop_timer(struct pe_loop *l, int64_t delay_ms, pe_timer_cb cb, void *ctx, int64_t *id)
{
    assert(cb);
    if (l->nt == l->tcap) {
        size_t cap = l->tcap ? 2 * l->tcap : 8;
        struct timer *h = realloc(l->heap, cap * sizeof *h);
        if (!h)
            return PE_ENOMEM;
        l->heap = h;
        l->tcap = cap;
    }
    int64_t now = pe_mono_ms();
    if (delay_ms < 0) /* a programmer error; the nearest meaning is "as soon as possible" */
        delay_ms = 0;
    struct timer t = {
        .due = delay_ms > INT64_MAX - now ? INT64_MAX : now + delay_ms,
        .id = ++l->last_id,
        .cb = cb,
        .ctx = ctx,
    };
    l->heap[l->nt] = t;
    sift_up(l->heap, l->nt);
    l->nt++;
    if (id)
        *id = t.id;
    return PE_OK;
}

void pe_loop_timer_cancel(struct pe_loop *l, int64_t id)
{
    /* A linear scan: a daemon has a handful of timers, and removing the entry at once keeps
     * cancelled timers from piling up in the heap until their due time. */
    for (size_t i = 0; i < l->nt; i++) {
        if (l->heap[i].id == id) {
            heap_remove(l, i);
            return;
        }
    }
}

int pe_loop_signals(struct pe_loop *l, const int *sigs, int n, pe_signal_cb cb, void *ctx)
{
    bool fresh[NSIG] = {false};
    struct sigaction sa;
    int rc = PE_OK, i;

    assert(cb);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    /* First install the handler where it is missing, so a failure can be undone completely. */
    for (i = 0; i < n; i++) {
        int s = sigs[i];
        if (s <= 0 || s >= NSIG) {
            pe_error("loop.signal", "sig=%d reason=\"no such signal\"", s);
            rc = PE_ESYS;
            goto restore_taken;
        }
        struct sigslot *slot = &l->sig[s];
        if (slot->taken)
            continue;
        /* Point the handler at our pipe before it can run, so no early signal is dropped. */
        slot->old_wfd = sig_wfd[s];
        sig_wfd[s] = l->pipe_wr + 1;
        if (sigaction(s, &sa, &slot->old) < 0) {
            pe_error("loop.signal", "sig=%d errno=%d", s, errno);
            sig_wfd[s] = slot->old_wfd;
            rc = PE_ESYS;
            goto restore_taken;
        }
        slot->taken = true;
        fresh[s] = true;
    }
    for (i = 0; i < n; i++) {
        l->sig[sigs[i]].cb = cb;
        l->sig[sigs[i]].ctx = ctx;
    }
    return PE_OK;

restore_taken:
    for (int s = 1; s < NSIG; s++) {
        if (!fresh[s])
            continue;
        sigaction(s, &l->sig[s].old, NULL);
        sig_wfd[s] = l->sig[s].old_wfd;
        l->sig[s].taken = false;
    }
    return rc;
}

/* Run the timers that are due and existed when the round began, earliest first. */
static void run_timers(struct pe_loop *l)
{
    int64_t now = pe_mono_ms();
    int64_t last = l->last_id;
    /* A timer added during this round has due >= now and a larger id than any timer that is
     * due, so it is never at the top ahead of one that should still run. */
    while (l->nt > 0 && l->heap[0].due <= now && l->heap[0].id <= last) {
        struct timer t = l->heap[0];
        heap_remove(l, 0);
        t.cb(t.ctx);
    }
}

int pe_loop_run_once(struct pe_loop *l, int max_wait_ms)
{
    int timeout = max_wait_ms < 0 ? -1 : max_wait_ms;

    assert(!l->dispatching);
    if (l->nt > 0) {
        int64_t wait = l->heap[0].due - pe_mono_ms();
        wait = wait < 0 ? 0 : wait > INT_MAX ? INT_MAX : wait;
        if (timeout < 0 || wait < timeout)
            timeout = (int)wait;
    }
    int nready = poll(l->pfd, (nfds_t)l->n, timeout);
    if (nready < 0) {
        if (errno != EINTR) {
            pe_error("loop.poll", "errno=%d", errno);
            return PE_ESYS;
        }
        nready = 0; /* a signal: its byte is in the pipe for the next round */
    }

    size_t npolled = l->n;
    l->dispatching = true;
    run_timers(l);
    for (size_t i = 0; i < npolled && nready > 0; i++) {
        if (l->w[i].dead)
            continue;
        /* Events the watch stopped asking for (mod_fd in an earlier callback) are dropped;
         * errors and hang-ups are always reported. */
        short rev = (short)(l->pfd[i].revents & (l->pfd[i].events | POLLERR | POLLHUP | POLLNVAL));
        l->pfd[i].revents = 0;
        if (rev)
            l->w[i].cb(l->w[i].fd, rev, l->w[i].ctx);
    }
    l->dispatching = false;
    if (l->ndead > 0)
        compact(l);
    return PE_OK;
}

int pe_loop_run(struct pe_loop *l)
{
    int rc = PE_OK;
    while (!l->stop && rc == PE_OK)
        rc = pe_loop_run_once(l, -1);
    l->stop = false;
    return rc;
}

void pe_loop_stop(struct pe_loop *l)
{
    l->stop = true;
}
