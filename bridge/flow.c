/* SPDX-License-Identifier: Apache-2.0 */
/* flow.c - pacing and the delivered watermark (see flow.h). */
#include "bridge/flow.h"

#include <string.h>

#define UNLIMITED (INT64_MAX / 4)

void pace_init(struct pace *p, int64_t rate, int64_t now_ms)
{
    p->rate = rate > 0 ? rate : 0;
    p->tokens = 0;
    p->at_ms = now_ms;
}

int64_t pace_available(struct pace *p, int64_t now_ms)
{
    if (p->rate == 0)
        return UNLIMITED;
    if (now_ms > p->at_ms) {
        p->tokens += (double)(now_ms - p->at_ms) * (double)p->rate / 1000.0;
        if (p->tokens > (double)p->rate)
            p->tokens = (double)p->rate; /* a burst of at most one second */
        p->at_ms = now_ms;
    }
    return (int64_t)p->tokens;
}

void pace_spend(struct pace *p, int64_t n)
{
    if (p->rate)
        p->tokens -= (double)n;
}

int64_t pace_wait_ms(const struct pace *p)
{
    if (p->rate == 0 || p->tokens >= 1.0)
        return 0;
    double ms = (1.0 - p->tokens) * 1000.0 / (double)p->rate;
    return ms < 1.0 ? 1 : (int64_t)(ms + 0.999);
}

void wm_init(struct watermark *w, int64_t mark)
{
    w->mark = mark;
    memset(w->bits, 0, sizeof w->bits);
}

int64_t wm_mark(struct watermark *w, int64_t seq, bool *ok)
{
    if (ok)
        *ok = true;
    if (seq <= w->mark)
        return w->mark;
    if (seq > w->mark + WM_WINDOW) {
        if (ok)
            *ok = false;
        return w->mark;
    }
    uint64_t bit = (uint64_t)seq % WM_WINDOW;
    w->bits[bit / 64] |= 1ULL << (bit % 64);
    for (;;) {
        uint64_t next = (uint64_t)(w->mark + 1) % WM_WINDOW;
        if (!(w->bits[next / 64] & (1ULL << (next % 64))))
            break;
        w->bits[next / 64] &= ~(1ULL << (next % 64));
        w->mark++;
    }
    return w->mark;
}

void wm_reset(struct watermark *w)
{
    memset(w->bits, 0, sizeof w->bits);
}
