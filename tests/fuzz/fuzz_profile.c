/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_profile.c - libFuzzer target: spooled records read back by the bridge's drain
 * and mapped through the output profiles (bridge/profile*.c: native, purchases-json,
 * retail-json, orders-json) into Kafka records, as produce_row in bridge/bridge.c does.
 *
 * The spool hands back the bytes it stored; they were verified at intake, but a spool damaged
 * on disk, or a record from an older version, must map to records or dead letters, never to a
 * crash. The sinks are started once per process from a configuration with the four profiles
 * (one routing late events). The Avro profiles are left out: they need a Schema Registry.
 *
 * Input: a type byte (the event type, modulo their count), a flags byte (bit 0: a signature
 * travels beside the record; bit 1: the intake rejected it; bits 2-7: five-minute steps
 * between the event time and producing, for the late flag), then the record's bytes. Checked beyond
 * the sanitizers: every record made has a topic and a value.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge_cfg.h"
#include "bridge/output.h"
#include "bridge/profile.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "tests/fuzz/fuzz_tmp.h"

#define T0 1795256102000LL

static struct bridge_cfg cfg;
static struct profile_set *ps;
static struct profile_out out;

static void stop(void)
{
    profile_out_free(&out);
    profile_set_destroy(ps);
    bridge_cfg_free(&cfg);
}

static void start(void)
{
    static const char conf[] =
        "{\"store\":\"s001\",\"sinks\":[{\"profile\":\"native\"},"
        "{\"name\":\"p\",\"profile\":\"purchases-json\",\"topic\":\"purchases\",\"late\":\"route\"}"
        ","
        "{\"name\":\"r\",\"profile\":\"retail-json\",\"topic\":\"retail\",\"late\":\"flag\"},"
        "{\"name\":\"o\",\"profile\":\"orders-json\",\"topic\":\"orders\"}]}";
    char path[256], err[512] = "";
    fuzz_tmp_write("bridge.json", (const uint8_t *)conf, sizeof conf - 1, path, sizeof path);
    int rc = bridge_cfg_load(&cfg, path, err, sizeof err);
    if (rc == PE_OK)
        rc = profile_set_create(&cfg, NULL, &ps, err, sizeof err);
    if (rc) {
        fprintf(stderr, "fuzz_profile: %s: %s\n", pe_errname(rc), err);
        abort();
    }
    fuzz_tmp_clean();
    atexit(stop);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    if (!ps)
        start();
    enum pe_event_type type = (enum pe_event_type)(data[0] % PE_EV__COUNT);
    uint8_t flags = data[1];
    char *rec = malloc(size - 2 + 1); /* NUL-terminated, as the spool's column text is */
    if (!rec)
        return 0;
    memcpy(rec, data + 2, size - 2);
    rec[size - 2] = '\0';
    struct profile_event ev = {
        .store = "s001",
        .terminal = "t01",
        .id = "0a1b2c3d-0000-4000-8000-000000000001",
        .type = pe_event_type_name(type),
        .seq = 1,
        .ts_ms = T0,
        .rec = rec,
        .len = size - 2,
        .sig = (flags & 1) ? "{\"alg\":\"ES256\",\"counter\":1,\"key_id\":\"00\",\"sig\":\"AA\"}"
                           : NULL,
        .rejected = (flags & 2) ? "signature does not verify" : NULL,
    };
    int rc = profile_map_event(ps, &ev, T0 + (int64_t)(flags >> 2) * 300000, &out);
    if (rc == PE_OK)
        for (int i = 0; i < out.n; i++)
            if (!out.recs[i].topic || (!out.recs[i].val && out.recs[i].len))
                abort();
    profile_out_reset(&out);
    free(rec);
    return 0;
}
