/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flow.h - the bridge's small arithmetic, kept apart so it can be tested on its own: the pace
 * of the drain (token buckets) and the contiguous delivered watermark of one terminal whose
 * delivery reports arrive out of order across topics. (The topic of an event type is the
 * native profile's: topics.<type>, profile_native.c.)
 */
#ifndef POSEDGE_BRIDGE_FLOW_H
#define POSEDGE_BRIDGE_FLOW_H

#include <stdbool.h>
#include <stdint.h>

/* A token bucket: rate per second, holding at most one second's worth. rate 0: unlimited. */
struct pace {
    int64_t rate;  /* tokens per second; 0 for no limit */
    double tokens; /* available now */
    int64_t at_ms; /* when tokens was last refilled (monotonic ms) */
};

void pace_init(struct pace *p, int64_t rate, int64_t now_ms);

/* Tokens available at now_ms (INT64_MAX / 4 when unlimited), after refilling. */
int64_t pace_available(struct pace *p, int64_t now_ms);

/* Spend n tokens (n <= what pace_available returned). */
void pace_spend(struct pace *p, int64_t n);

/* Milliseconds until at least one token is available (0 when one is). */
int64_t pace_wait_ms(const struct pace *p);

#define WM_WINDOW 65536 /* most seqs of one terminal reported above the watermark at once */

/*
 * The contiguous delivered watermark of one terminal. Delivery reports for one topic come in
 * order, but a terminal's events go to several topics, so a report may come before the
 * reports of lower seqs: such seqs wait as bits until the gap below them closes.
 */
struct watermark {
    int64_t mark;                  /* every seq <= mark is delivered */
    uint64_t bits[WM_WINDOW / 64]; /* seqs in (mark, mark + WM_WINDOW] reported delivered */
};

void wm_init(struct watermark *w, int64_t mark);

/* Record seq as delivered; returns the new mark. A seq at or below the mark is ignored; one
 * beyond the window is refused (returns false through *ok when ok is not NULL). */
int64_t wm_mark(struct watermark *w, int64_t seq, bool *ok);

/* Forget everything above the mark (the producer was reset: those seqs are produced again). */
void wm_reset(struct watermark *w);

#endif
