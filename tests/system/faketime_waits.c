/* SPDX-License-Identifier: Apache-2.0 */
/*
 * faketime_waits.c - preloaded before libfaketime when a system test runs the posedge programs
 * at a faked wall clock (PE_TEST_FAKETIME, tests/system/lib.py): timespec_get and gettimeofday
 * give the real time.
 *
 * librdkafka times its condition waits with glibc's C11 cnd_timedwait, which calls glibc's own
 * pthread_cond_timedwait directly, where libfaketime cannot translate the deadline, and takes
 * the deadline from timespec_get (or gettimeofday). Faked, every such wait of a clock set back
 * ends at once (rd_kafka_new fails: "Timed out waiting for 1 background thread(s) to
 * initialize") and one of a clock set ahead lasts hours. posedge reads the wall clock only
 * through clock_gettime (common/clock.c), which stays faked, and so do time() and the clock that
 * TLS certificate checks use.
 */
#define _GNU_SOURCE
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int real_now(struct timespec *ts)
{
    return (int)syscall(SYS_clock_gettime, CLOCK_REALTIME, ts);
}

int timespec_get(struct timespec *ts, int base)
{
    return base == TIME_UTC && real_now(ts) == 0 ? base : 0;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    struct timespec ts;
    (void)tz;
    if (real_now(&ts))
        return -1;
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}
