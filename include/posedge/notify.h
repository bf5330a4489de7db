/* SPDX-License-Identifier: Apache-2.0 */
/*
 * notify.h - telling systemd how a daemon is doing (the sd_notify protocol, without libsystemd).
 *
 * Under a unit with Type=notify, systemd passes the path of a datagram socket in NOTIFY_SOCKET
 * ("/run/systemd/notify", or "@name" for an abstract socket) and, with WatchdogSec=, the
 * interval in WATCHDOG_USEC and the process meant in WATCHDOG_PID. A daemon sends one datagram
 * per state: "READY=1" once it serves, "STOPPING=1" when it begins to stop, "STATUS=..." a line
 * for systemctl status, and "WATCHDOG=1" at least every WATCHDOG_USEC. The pings come from a
 * timer on the daemon's own loop, so a loop that hangs stops them and systemd restarts the
 * service. Everything is best effort and never blocks: a datagram that cannot be sent at once
 * is dropped. Outside systemd (no NOTIFY_SOCKET) every call is a no-op.
 *
 * One notifier per process (the environment is per process): the state is module-global and
 * used from the loop's thread only.
 */
#ifndef POSEDGE_NOTIFY_H
#define POSEDGE_NOTIFY_H

struct pe_loop;

/* Start: read NOTIFY_SOCKET (and WATCHDOG_USEC / WATCHDOG_PID). When the watchdog is on for
 * this pid, arm a loop timer that sends WATCHDOG=1 every WATCHDOG_USEC/2, so a loop that hangs
 * stops the pings and systemd restarts the service. No-op (PE_OK) when NOTIFY_SOCKET is unset.
 * Starting again stops the previous notifier first. loop is borrowed and must outlive
 * pe_notify_stop. Errors: PE_EINVAL (malformed variables, logged; nothing is left started),
 * PE_ENOMEM, PE_ESYS (no socket could be made, logged). */
int pe_notify_start(struct pe_loop *loop);

/* Send one state string ("READY=1", "STOPPING=1", "STATUS=..."); best effort, no-op when not
 * under systemd. state is borrowed. */
void pe_notify(const char *state);

/* Cancel the watchdog timer and close the socket. Safe to call when never started. */
void pe_notify_stop(void);

#endif
