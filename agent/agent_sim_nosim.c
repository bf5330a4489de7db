/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent_sim_nosim.c - stands in for agent_sim.c on a board without the simulator (its HAL_DIRS
 * has no fake, so there is no sim layer): --scenario, --shopper and --replay are refused with
 * "this board has no simulator", and nothing else happens, so the binary links no simulator.
 */
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/log.h"

static bool keypad_is_fake(const struct agent *a)
{
    return strcmp(a->cfg.dev[PE_DEV_KEYPAD].driver, "fake") == 0;
}


int agent_sim_check(const struct agent_sim_opts *o, char *err, size_t len)
{
    if (agent_sim_batch(o) || o->replay_format || o->replay_store || o->seed >= 0) {
        snprintf(err, len, "--scenario, --shopper and --replay: this board has no simulator");
        return PE_EINVAL;
    }
    return PE_OK;
}

int agent_sim_start(struct agent *a, const struct agent_sim_opts *o, int64_t start_ms, char *err,
                    size_t len)
{
    (void)o;
    (void)start_ms;
    (void)err;
    (void)len;
    if (keypad_is_fake(a))
        pe_warn("agent.no_simulator", "the devices are fakes, but this board has no simulator: "
                                      "nothing drives them");
    return PE_OK;
}

void agent_sim_stop(struct agent *a)
{
    a->sim = NULL;
}

int64_t agent_sim_now(const struct agent *a)
{
    (void)a;
    return pe_time_now_ms();
}

void agent_sim_committed(struct agent *a, int64_t seq, const char *id, enum pe_event_type type,
                         const cJSON *body)
{
    (void)a;
    (void)seq;
    (void)id;
    (void)type;
    (void)body;
}

void agent_sim_device_input(struct agent *a, enum pe_dev_class cls)
{
    (void)a;
    (void)cls;
}

int64_t agent_sim_customers(const struct agent *a)
{
    (void)a;
    return 0;
}

int agent_sim_run_batch(struct agent *a)
{
    (void)a;
    return 1;
}

int agent_sim_run_daemon(struct agent *a)
{
    (void)a;
    return 1;
}
