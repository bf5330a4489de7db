/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_scenario.c - libFuzzer target: a simulator scenario file (JSON lines of till
 * actions, sim/sim_scenario.c, docs/scenario.md), compiled into the steps the simulator plays
 * over the four fake devices.
 *
 * Input: the file's bytes, written into a temporary directory. The fake devices are opened once
 * (compiling a scenario only appends steps; it touches no device). Checked beyond the
 * sanitizers: a refusal says why (err not empty).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "posedge/err.h"
#include "posedge/hal/hal.h"
#include "posedge/sim.h"
#include "tests/fuzz/fuzz_tmp.h"

static struct pe_sim_devices devs;

static void devs_close(void)
{
    pe_scanner_close(devs.scanner);
    pe_scale_close(devs.scale);
    pe_keypad_close(devs.keypad);
    pe_payment_close(devs.payment);
}

static void devs_open(void)
{
    char dir[128];
    snprintf(dir, sizeof dir, "%s/devices", fuzz_tmp());
    if (mkdir(dir, 0700) != 0)
        abort();
    struct pe_hal_devcfg cfg = {.driver = "fake", .path = "", .data_dir = dir};
    if (pe_scanner_open(pe_hal_scanner_driver("fake"), &cfg, &devs.scanner) ||
        pe_scale_open(pe_hal_scale_driver("fake"), &cfg, &devs.scale) ||
        pe_keypad_open(pe_hal_keypad_driver("fake"), &cfg, &devs.keypad) ||
        pe_payment_open(pe_hal_payment_driver("fake"), &cfg, &devs.payment))
        abort();
    atexit(devs_close);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[256], err[512] = "";
    struct pe_sim *sim = NULL;
    if (!devs.scanner)
        devs_open();
    fuzz_tmp_write("scenario.jsonl", data, size, path, sizeof path);
    int rc = pe_sim_scenario_create(path, &devs, 1700000000000, &sim, err, sizeof err);
    if (rc != PE_OK && !err[0])
        abort(); /* a refusal that does not say why */
    if ((rc == PE_OK) != (sim != NULL))
        abort();
    pe_sim_destroy(sim);
    unlink(path);
    return 0;
}
