/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ctl.h - the posedge-ctl commands that live in files of their own. Each takes the arguments
 * after "posedge-ctl" (argv[0] is the command's name) and returns the process exit status:
 * 0 success, 1 the check failed, 2 usage error or the command could not complete.
 */
#ifndef POSEDGE_CTL_H
#define POSEDGE_CTL_H

/* posedge-ctl devkafka [--port P] [--brokers N] [--partitions N] (ctl/devkafka.c) */
int ctl_devkafka(int argc, char **argv);

/* posedge-ctl reconcile --brokers B [--topic T]... [--timeout S] JOURNAL.db...
 * (ctl/reconcile.c) */
int ctl_reconcile(int argc, char **argv);

/* posedge-ctl status --mqtt HOST:PORT --store S [--timeout SECONDS] (ctl/status.c): the
 * retained state and ack of every terminal of a store; exit 1 when the broker cannot be
 * reached within the timeout. */
int ctl_status(int argc, char **argv);

/* A count of seconds in 1..max from option opt of command cmd: 0, or -1 after saying on
 * stderr what was wrong (ctl/args.c). */
int ctl_seconds(const char *cmd, const char *opt, const char *arg, long max, long *out);

#endif
