/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_agent_cfg.c - libFuzzer target: the agent's configuration file, through the
 * table-driven loader (common/cfg.c) with the agent's table (agent/agent_cfg.c) and its checks,
 * then --print-config of what loaded.
 *
 * Input: the file's text. Checked beyond the sanitizers: a refusal says why (err not empty),
 * and a configuration that loaded prints.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_cfg.h"
#include "posedge/cfg.h"
#include "posedge/err.h"
#include "posedge/log.h"

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct agent_cfg c;
    char err[600] = "";
    if (!devnull && !(devnull = fopen("/dev/null", "w")))
        abort();
    pe_log_set_level(PE_LOG_OFF);
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (pe_cfg_defaults(agent_cfg_table, &c) != PE_OK)
        abort();
    int rc = pe_cfg_load_text(agent_cfg_table, &c, text, "agent.json", err, sizeof err);
    if (rc != PE_OK && !err[0])
        abort(); /* a refusal that does not say why */
    if (rc == PE_OK && pe_cfg_print(agent_cfg_table, &c, devnull) != PE_OK)
        abort();
    free(text);
    return 0;
}
