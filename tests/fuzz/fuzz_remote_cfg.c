/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_remote_cfg.c - libFuzzer target: <data_dir>/remote-config.json, the settings
 * made remotely (agent/remote_cfg.c), as the agent applies it at start over its configuration.
 *
 * Input: the file's bytes, applied as remote_cfg_load applies what it read (remote_cfg_apply;
 * the target leaves out the file itself, so that it runs at tens of thousands of inputs a
 * second). The invariants (remote_cfg.c): a setting that no longer passes is skipped, never
 * fatal, and a key that cannot be set remotely (identity, link, signer: remote_cfg_settable)
 * keeps the value of the configuration file whatever the file says. Checked beyond the sanitizers: those keys are unchanged, and what was
 * applied still prints.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "posedge/cfg.h"
#include "posedge/err.h"
#include "posedge/log.h"

static FILE *devnull;

/* Every key remote_cfg_settable refuses has the same value in a and b. */
static void same_fixed(const struct agent_cfg *a, const struct agent_cfg *b)
{
    for (const struct pe_cfg_opt *o = agent_cfg_table; o->key; o++) {
        if (remote_cfg_settable(o->key))
            continue;
        const char *x = (const char *)a + o->offset, *y = (const char *)b + o->offset;
        size_t n = o->type == PE_CFG_STR   ? strnlen(x, o->size) + 1
                   : o->type == PE_CFG_INT ? sizeof(int64_t)
                                           : sizeof(bool);
        if (memcmp(x, y, n) != 0) {
            fprintf(stderr, "fuzz_remote_cfg: %s was changed by remote-config.json\n", o->key);
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct agent_cfg c, base;
    static bool ready;
    if (!ready) { /* the defaults once: working them out is most of an input's time */
        if (!(devnull = fopen("/dev/null", "w")) || pe_cfg_defaults(agent_cfg_table, &base) != PE_OK)
            abort();
        pe_log_set_level(PE_LOG_OFF);
        ready = true;
    }
    c = base;
    remote_cfg_apply(&c, "remote-config.json", (const char *)data, size);
    same_fixed(&base, &c);
    if (pe_cfg_print(agent_cfg_table, &c, devnull) != PE_OK)
        abort();
    return 0;
}
