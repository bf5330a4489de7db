/* SPDX-License-Identifier: Apache-2.0 */
/*
 * clock.h - wall time (UTC, milliseconds) and monotonic time.
 *
 * Event time in posedge is always UTC with millisecond precision, written as
 * "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 characters). Monotonic time drives timers only and is never
 * written into an event.
 */
#ifndef POSEDGE_CLOCK_H
#define POSEDGE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define PE_TIME_STRLEN 25 /* 24 characters and the terminating NUL */

/* Milliseconds since the Unix epoch, UTC, from CLOCK_REALTIME. */
int64_t pe_time_now_ms(void);

/* Milliseconds from CLOCK_MONOTONIC; only differences are meaningful. */
int64_t pe_mono_ms(void);

/* Microseconds from CLOCK_MONOTONIC, for latency measurement. */
int64_t pe_mono_us(void);

/* A UTC time split into its civil fields (proleptic Gregorian), independent of time_t, whose
 * 32 bits on some boards (Debian's armhf) end in 2038. */
struct pe_civil {
    int64_t year; /* e.g. 2026 */
    int mon;      /* 1..12 */
    int day;      /* 1..31 */
    int hour;     /* 0..23 */
    int min;      /* 0..59 */
    int sec;      /* 0..59 */
    int msec;     /* 0..999 */
};

/* Split ms since the epoch (any int64, also before 1970) into civil fields. */
void pe_time_split(int64_t ms, struct pe_civil *out);

/* Ms since the epoch of civil fields (not checked: out-of-range fields carry over). */
int64_t pe_time_join(const struct pe_civil *c);

/* Format ms since epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" into out (>= PE_TIME_STRLEN bytes). */
void pe_time_format(int64_t ms, char out[PE_TIME_STRLEN]);

/* Parse exactly the format above. Returns PE_OK, or PE_EPARSE naming nothing (caller names it). */
int pe_time_parse(const char *s, int64_t *out_ms);

#endif
