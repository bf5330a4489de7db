/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_remote_cfg.c - libFuzzer target: <data_dir>/remote-config.json, the settings
 * made remotely (agent/remote_cfg.c), as the agent applies it at start over its configuration.
 *
 * Input: the file's bytes, written into a temporary data_dir. The invariant (remote_cfg.c): a
 * file that no longer passes is skipped, never fatal; remote_cfg_load returns nothing, so what
 * is checked here beyond the sanitizers is that what it applied still prints.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "agent/agent.h"
#include "posedge/cfg.h"
#include "posedge/err.h"
#include "tests/fuzz/fuzz_tmp.h"

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct agent_cfg c;
    char path[256];
    if (!devnull && !(devnull = fopen("/dev/null", "w")))
        abort();
    fuzz_tmp_write("remote-config.json", data, size, path, sizeof path);
    if (pe_cfg_defaults(agent_cfg_table, &c) != PE_OK)
        abort();
    snprintf(c.data_dir, sizeof c.data_dir, "%s", fuzz_tmp());
    remote_cfg_load(&c);
    if (pe_cfg_print(agent_cfg_table, &c, devnull) != PE_OK)
        abort();
    fuzz_tmp_clean();
    return 0;
}
