/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_replay_csv.c - libFuzzer target: the dataset files the replay reads (sim/
 * replay_csv.c: RFC 4180 records, a BOM; sim/replay.c: the Online Retail and Databricks layouts,
 * their decimal prices and timestamps), compiled as posedge-ctl replay-catalog compiles them.
 *
 * Input: the first byte chooses the layout (bit 0: Databricks, else Online Retail); the rest is
 * one or more files separated by a line "--8<--" (at most 6; Databricks needs several: item,
 * inventory_change_type, then the data). Checked beyond the sanitizers: a refusal says why
 * (err not empty), and a catalog made is JSON.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/sim.h"
#include "tests/fuzz/fuzz_tmp.h"

#define MAX_FILES 6
static const char CUT[] = "\n--8<--\n";

static FILE *devnull;

/* The first occurrence of CUT in data[0..size), or NULL. */
static const uint8_t *find_cut(const uint8_t *data, size_t size)
{
    size_t n = sizeof CUT - 1;
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(data + i, CUT, n) == 0)
            return data + i;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char paths[MAX_FILES][256], err[512] = "";
    const char *argv[MAX_FILES];
    size_t n = 0;
    if (size < 1)
        return 0;
    if (!devnull && !(devnull = fopen("/dev/null", "w")))
        abort();
    struct pe_replay_opts o = {.format =
                                   (data[0] & 1) ? PE_REPLAY_DATABRICKS : PE_REPLAY_ONLINE_RETAIL,
                               .report = devnull};
    data++;
    size--;
    while (n < MAX_FILES) {
        const uint8_t *cut = n + 1 < MAX_FILES ? find_cut(data, size) : NULL;
        size_t len = cut ? (size_t)(cut - data) : size;
        char name[16];
        snprintf(name, sizeof name, "f%zu.csv", n);
        fuzz_tmp_write(name, data, len, paths[n], sizeof paths[n]);
        argv[n] = paths[n];
        n++;
        if (!cut)
            break;
        data = cut + sizeof CUT - 1;
        size -= len + sizeof CUT - 1;
    }
    char *json = NULL;
    int rc = pe_replay_catalog(argv, n, &o, &json, err, sizeof err);
    if (rc != PE_OK && !err[0])
        abort(); /* a refusal that does not say why */
    if (rc == PE_OK) {
        cJSON *doc = json ? cJSON_Parse(json) : NULL;
        if (!doc)
            abort();
        cJSON_Delete(doc);
    }
    free(json);
    fuzz_tmp_clean();
    return 0;
}
