/* SPDX-License-Identifier: Apache-2.0 */
/* test_flow.c - the bridge's pacing, delivered-watermark arithmetic and its topics by type. */
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge_cfg.h"
#include "bridge/flow.h"
#include "posedge/err.h"
#include "tests/unit/harness.h"

static void t_pace_unlimited(void)
{
    struct pace p;
    pace_init(&p, 0, 1000);
    CHECK(pace_available(&p, 1000) > 1000000000);
    pace_spend(&p, 5000000);
    CHECK(pace_available(&p, 1000) > 1000000000);
    CHECK_INT(pace_wait_ms(&p), 0);
}

static void t_pace_rate_and_burst(void)
{
    struct pace p;
    pace_init(&p, 1000, 0);
    CHECK_INT(pace_available(&p, 0), 0);
    CHECK_INT(pace_wait_ms(&p), 1);
    CHECK_INT(pace_available(&p, 250), 250); /* 1,000/s for 250 ms */
    pace_spend(&p, 200);
    CHECK_INT(pace_available(&p, 250), 50);
    CHECK_INT(pace_available(&p, 60000), 1000); /* never more than one second's burst */
    pace_spend(&p, 1000);
    CHECK_INT(pace_available(&p, 60000), 0);
    struct pace slow;
    pace_init(&slow, 4, 0);
    CHECK_INT(pace_wait_ms(&slow), 250);
    /* Over a simulated minute the bucket hands out exactly rate x time (plus the burst). */
    struct pace q;
    pace_init(&q, 500, 0);
    int64_t total = 0;
    for (int64_t ms = 0; ms <= 60000; ms += 7) {
        int64_t n = pace_available(&q, ms);
        pace_spend(&q, n);
        total += n;
    }
    CHECK(total >= 29990 && total <= 30000);
}

static void t_watermark_in_order(void)
{
    struct watermark *w = malloc(sizeof *w);
    wm_init(w, 10);
    CHECK_INT(wm_mark(w, 11, NULL), 11);
    CHECK_INT(wm_mark(w, 12, NULL), 12);
    CHECK_INT(wm_mark(w, 5, NULL), 12); /* old report after a restart: ignored */
    free(w);
}

static void t_watermark_across_topics(void)
{
    struct watermark *w = malloc(sizeof *w);
    wm_init(w, 0);
    /* seq 1 on pos.reports, 2..5 on pos.sales, 6 on pos.inventory: reports interleave. */
    CHECK_INT(wm_mark(w, 2, NULL), 0);
    CHECK_INT(wm_mark(w, 3, NULL), 0);
    CHECK_INT(wm_mark(w, 6, NULL), 0);
    CHECK_INT(wm_mark(w, 1, NULL), 3);
    CHECK_INT(wm_mark(w, 5, NULL), 3);
    CHECK_INT(wm_mark(w, 4, NULL), 6);
    /* Wrapping around the window many times keeps counting right. */
    for (int64_t base = 7; base < 7 + 3 * WM_WINDOW; base += WM_WINDOW / 2) {
        for (int64_t s = base; s < base + WM_WINDOW / 2; s += 2)
            wm_mark(w, s + 1, NULL); /* every other seq first: the mark cannot move */
        CHECK_INT(w->mark, base - 1);
        for (int64_t s = base; s < base + WM_WINDOW / 2; s += 2)
            wm_mark(w, s, NULL);
    }
    CHECK_INT(w->mark, 6 + 3 * WM_WINDOW);
    bool ok = true;
    wm_mark(w, w->mark + WM_WINDOW + 1, &ok);
    CHECK(!ok);
    wm_mark(w, w->mark + 2, NULL);
    wm_reset(w); /* the producer was reset: pending bits are forgotten */
    CHECK_INT(wm_mark(w, w->mark + 1, NULL), 7 + 3 * WM_WINDOW);
    free(w);
}

/* topics.<type>: one key per event type, made from PE_EVENT_TYPES with the type's topic as
 * the default (the native profile routes by it; profile_native.c). */
static void t_topics_by_type(void)
{
    struct bridge_cfg c;
    char err[256];
    CHECK_OK(bridge_cfg_load(&c, NULL, err, sizeof err));
    for (int t = 0; t < PE_EV__COUNT; t++)
        CHECK_STR(c.topic[t], pe_event_type_topic((enum pe_event_type)t));
    CHECK_STR(c.topic[PE_EV_SALE], "pos.sales");
    CHECK_STR(c.topic[PE_EV_VOID], "pos.sales");
    CHECK_STR(c.topic[PE_EV_NO_SALE], "pos.sales");
    CHECK_STR(c.topic[PE_EV_INVENTORY_COUNT], "pos.inventory");
    CHECK_STR(c.topic[PE_EV_Z_REPORT], "pos.reports");
    CHECK_STR(c.topic[PE_EV_SHIFT_OPEN], "pos.reports");
    CHECK_STR(c.topic_dlq, "pos.dlq");
    CHECK_OK(pe_cfg_set(bridge_cfg_table, &c, "topics.return", "pos.returns", err, sizeof err));
    CHECK_STR(c.topic[PE_EV_RETURN], "pos.returns");
    CHECK_STR(c.topic[PE_EV_SALE], "pos.sales");
    CHECK(pe_cfg_set(bridge_cfg_table, &c, "topics.sale", "bad topic", err, sizeof err) != 0);
    CHECK(strstr(err, "topics.sale") != NULL);
    CHECK(pe_cfg_set(bridge_cfg_table, &c, "topics.bogus", "x", err, sizeof err) != 0);
    bridge_cfg_free(&c);
}

static const struct pe_test tests[] = {
    {"pace_unlimited", t_pace_unlimited},
    {"pace_rate_and_burst", t_pace_rate_and_burst},
    {"watermark_in_order", t_watermark_in_order},
    {"watermark_across_topics", t_watermark_across_topics},
    {"topics_by_type", t_topics_by_type},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("flow", tests, argc, argv);
}
