/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loop.h - the single-threaded poll(2) event loop every daemon runs around.
 *
 * File descriptors with a callback each, one-shot timers on the monotonic clock, and signals
 * delivered through a self-pipe so that a handler never runs inside the async signal context.
 * Callbacks run on the loop's thread, one at a time; a callback may add or remove fds and
 * timers, including its own.
 */
#ifndef POSEDGE_LOOP_H
#define POSEDGE_LOOP_H

#include <stdint.h>

struct pe_loop;

typedef void (*pe_fd_cb)(int fd, short revents, void *ctx);
typedef void (*pe_timer_cb)(void *ctx);
typedef void (*pe_signal_cb)(int sig, void *ctx);

/* Errors: PE_ENOMEM, PE_ESYS (pipe). */
int pe_loop_create(struct pe_loop **out);

/* Free; restores the previous disposition of signals it took. pe_loop_destroy(NULL) is a
 * no-op. Does not close watched fds (the caller owns them). */
void pe_loop_destroy(struct pe_loop *l);

/* Watch fd for events (POLLIN/POLLOUT). Errors: PE_EEXIST (already watched), PE_ENOMEM,
 * PE_EINVAL (fd < 0). */
int pe_loop_add_fd(struct pe_loop *l, int fd, short events, pe_fd_cb cb, void *ctx);
/* Change the events of a watched fd. Errors: PE_ENOTFOUND. */
int pe_loop_mod_fd(struct pe_loop *l, int fd, short events);
/* Stop watching fd. Errors: PE_ENOTFOUND. */
int pe_loop_del_fd(struct pe_loop *l, int fd);

/* Call cb once after delay_ms (>= 0). *id (may be NULL) names it for cancel; ids are > 0.
 * Errors: PE_ENOMEM. */
int pe_loop_timer(struct pe_loop *l, int64_t delay_ms, pe_timer_cb cb, void *ctx, int64_t *id);
/* Cancel a pending timer; a no-op for an id that already fired or was cancelled. */
void pe_loop_timer_cancel(struct pe_loop *l, int64_t id);

/* Deliver each of the n signals in sigs to cb through the self-pipe.
 * Errors: PE_ESYS (sigaction). */
int pe_loop_signals(struct pe_loop *l, const int *sigs, int n, pe_signal_cb cb, void *ctx);

/* Wait at most max_wait_ms (-1: until something happens) and dispatch what is ready, timers
 * first. Returns PE_OK or PE_ESYS (poll failed other than EINTR). */
int pe_loop_run_once(struct pe_loop *l, int max_wait_ms);

/* Run until pe_loop_stop is called. Returns PE_OK or PE_ESYS. */
int pe_loop_run(struct pe_loop *l);
void pe_loop_stop(struct pe_loop *l);

#endif
