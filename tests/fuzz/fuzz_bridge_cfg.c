/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_bridge_cfg.c - libFuzzer target: the bridge's configuration file
 * (bridge/bridge_cfg.c: the table, kafka.properties and the sinks with their profiles' own
 * options), then --print-config of what loaded.
 *
 * Input: the file's bytes, written into a temporary directory. Checked beyond the sanitizers: a
 * refusal says why (err not empty), a configuration that loaded has at least one sink, and it
 * prints.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "bridge/bridge_cfg.h"
#include "posedge/err.h"
#include "tests/fuzz/fuzz_tmp.h"

static FILE *devnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct bridge_cfg c;
    char path[256], err[600] = "";
    if (!devnull && !(devnull = fopen("/dev/null", "w")))
        abort();
    fuzz_tmp_write("bridge.json", data, size, path, sizeof path);
    int rc = bridge_cfg_load(&c, path, err, sizeof err);
    if (rc != PE_OK && !err[0])
        abort(); /* a refusal that does not say why */
    if (rc == PE_OK && (c.nsinks < 1 || bridge_cfg_print(&c, devnull) != PE_OK))
        abort();
    bridge_cfg_free(&c);
    fuzz_tmp_clean();
    return 0;
}
