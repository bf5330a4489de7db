/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent_sim.c - the agent's hookup to the simulator of the sim board (posedge/sim.h): a
 * scenario, a dataset replay or the seeded shopper drive the fake devices through their back
 * doors, and the sim clock is the till's terminal clock.
 *
 * This is the only file of the agent that calls the simulator. It is built only on a board
 * with the sim layer (HAL_DIRS has fake); elsewhere agent_sim_nosim.c stands in for it, refusing
 * --scenario, --shopper and --replay ("this board has no simulator"), so a board without the
 * simulator links none of it.
 *
 * A simulated action is injected only when the previous one has been consumed and no payment
 * is in flight (pe_sim_pending, till_awaiting_payment), so actions never overtake each other.
 */
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/log.h"
#include "posedge/sim.h"

static bool keypad_is_fake(const struct agent *a)
{
    return strcmp(a->cfg.dev[PE_DEV_KEYPAD].driver, "fake") == 0;
}


int agent_sim_check(const struct agent_sim_opts *o, char *err, size_t len)
{
    enum pe_replay_format f;
    if (o->replay_format && pe_replay_format_parse(o->replay_format, &f) != PE_OK) {
        snprintf(err, len, "--replay-format: expected online-retail or databricks, got \"%s\"",
                 o->replay_format);
        return PE_EINVAL;
    }
    return PE_OK;
}

int agent_sim_start(struct agent *a, const struct agent_sim_opts *o, int64_t start_ms, char *err,
                    size_t len)
{
    if (!keypad_is_fake(a)) {
        if (!agent_sim_batch(o))
            return PE_OK; /* real devices: nothing to simulate */
        snprintf(err, len,
                 "--scenario/--shopper drive the fake devices of the sim board; "
                 "devices.keypad.driver is \"%s\"",
                 a->cfg.dev[PE_DEV_KEYPAD].driver);
        return PE_EINVAL;
    }
    struct pe_sim_devices sd = {
        .scanner = pe_scanner_of(a->dev[PE_DEV_SCANNER]),
        .scale = pe_scale_of(a->dev[PE_DEV_SCALE]),
        .keypad = pe_keypad_of(a->dev[PE_DEV_KEYPAD]),
        .payment = pe_payment_of(a->dev[PE_DEV_PAYMENT]),
    };
    if (o->nreplay) {
        struct pe_replay_opts ro = {.format = PE_REPLAY_ONLINE_RETAIL, .store = o->replay_store};
        if (o->replay_format)
            pe_replay_format_parse(o->replay_format, &ro.format); /* checked at start */
        return pe_sim_replay_create(o->replay, o->nreplay, &ro, a->catalog, &sd, &a->sim, err,
                                    len);
    }
    if (o->scenario)
        return pe_sim_scenario_create(o->scenario, &sd, start_ms, &a->sim, err, len);
    struct pe_shopper_opts so;
    pe_shopper_opts_default(&so);
    so.seed = (uint64_t)(o->seed >= 0 ? o->seed : a->cfg.sim_seed);
    so.transactions = o->shopper > 0 ? o->shopper : -1;
    so.start_ms = start_ms;
    so.tx_per_day = (int32_t)a->cfg.sim_tx_per_day;
    so.card_pm = (int32_t)a->cfg.sim_card_pm;
    so.return_pm = (int32_t)a->cfg.sim_return_pm;
    so.void_pm = (int32_t)a->cfg.sim_void_pm;
    so.decline_pm = (int32_t)a->cfg.sim_decline_pm;
    so.nosale_pm = (int32_t)a->cfg.sim_nosale_pm;
    so.open_hour = (int32_t)a->cfg.sim_open_hour;
    so.close_hour = (int32_t)a->cfg.sim_close_hour;
    return pe_sim_shopper_create(a->catalog, &so, &sd, &a->sim, err, len);
}

void agent_sim_stop(struct agent *a)
{
    pe_sim_destroy(a->sim);
    a->sim = NULL;
}

int64_t agent_sim_now(const struct agent *a)
{
    return pe_sim_now(a->sim);
}

void agent_sim_committed(struct agent *a, int64_t seq, const char *id, enum pe_event_type type,
                         const cJSON *body)
{
    if (a->sim && type == PE_EV_SALE)
        pe_sim_sale_committed(a->sim, seq, id, body);
}

void agent_sim_device_input(struct agent *a, enum pe_dev_class cls)
{
    if (a->sim)
        pe_sim_device_input(a->sim, cls == PE_DEV_SCANNER ? 0 : 1);
}

int64_t agent_sim_customers(const struct agent *a)
{
    return a->sim ? pe_sim_customers(a->sim) : 0;
}

int agent_sim_run_batch(struct agent *a)
{
    for (;;) {
        if (a->stop)
            return 1;
        if (!pe_sim_pending(a->sim) && !till_awaiting_payment(a->till)) {
            int rc = pe_sim_step(a->sim);
            if (rc == PE_EEOF)
                return 0;
            if (rc) {
                pe_error("agent.sim", "err=%s", pe_errname(rc));
                return 1;
            }
        }
        int rc = pe_loop_run_once(a->loop, 1000);
        if (rc) {
            pe_error("agent.loop", "err=%s", pe_errname(rc));
            return 1;
        }
    }
}

int agent_sim_run_daemon(struct agent *a)
{
    int64_t step_at = -1; /* monotonic ms at which the next action is due, -1: not planned */
    while (!a->stop) {
        int wait = 1000;
        if (!pe_sim_pending(a->sim) && !till_awaiting_payment(a->till)) {
            int64_t due = 0, now = pe_mono_ms();
            if (pe_sim_next_due(a->sim, &due) != PE_OK)
                return 0;
            if (step_at < 0)
                step_at = now + (due - pe_sim_now(a->sim)) / a->cfg.sim_speed;
            if (now >= step_at) {
                int rc = pe_sim_step(a->sim);
                if (rc == PE_EEOF)
                    return 0;
                if (rc)
                    return 1;
                step_at = -1;
                wait = 0;
            } else {
                wait = step_at - now > 1000 ? 1000 : (int)(step_at - now);
            }
        }
        if (pe_loop_run_once(a->loop, wait))
            return 1;
    }
    return 0;
}
