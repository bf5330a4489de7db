/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_remote_cfg.c - libFuzzer target: <data_dir>/remote-config.json, the settings
 * made remotely (agent/remote_cfg.c), as the agent applies it at start over its configuration.
 *
 * Input: the file's bytes, written into a temporary data_dir. The invariants (remote_cfg.c): a
 * setting that no longer passes is skipped, never fatal, and a key that cannot be set remotely
 * (identity, link, signer: remote_cfg_settable) keeps the value of the configuration file
 * whatever the file says. Checked beyond the sanitizers: those keys are unchanged, and what was
 * applied still prints.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "posedge/cfg.h"
#include "posedge/err.h"
#include "tests/fuzz/fuzz_tmp.h"

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
    char path[256];
    if (!devnull && !(devnull = fopen("/dev/null", "w")))
        abort();
    fuzz_tmp_write("remote-config.json", data, size, path, sizeof path);
    if (pe_cfg_defaults(agent_cfg_table, &c) != PE_OK)
        abort();
    snprintf(c.data_dir, sizeof c.data_dir, "%s", fuzz_tmp());
    base = c;
    remote_cfg_load(&c);
    same_fixed(&base, &c);
    if (pe_cfg_print(agent_cfg_table, &c, devnull) != PE_OK)
        abort();
    fuzz_tmp_clean();
    return 0;
}
