/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_records.h - sealed event records for the bridge benchmarks (header only, so that every
 * benchmark source file stays one self-contained program).
 *
 * A generator per terminal produces that terminal's chain: seq 1, 2, ... each record sealed
 * with pe_event_seal onto the hash of the previous one (genesis first), so the bridge's intake
 * verifies and spools every record exactly as it would a till's. The records are one-line
 * sales of varying item, quantity and tender, 480-520 bytes of canonical JSON each, with a
 * deterministic pseudo-random id and an event time one second apart.
 */
#ifndef POSEDGE_BENCH_RECORDS_H
#define POSEDGE_BENCH_RECORDS_H

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/event.h"

#define BENCH_TS0_MS INT64_C(1795248000000) /* 2026-11-21T08:00:00.000Z */

struct bench_gen {
    struct pe_event_meta m;      /* header of the next record (seq already advanced) */
    char prev[PE_SHA256_HEXLEN]; /* hash of the last record (genesis at first) */
    uint64_t rng;                /* xorshift state for ids and amounts */
};

static uint64_t bench_rand(struct bench_gen *g)
{
    g->rng ^= g->rng << 13;
    g->rng ^= g->rng >> 7;
    g->rng ^= g->rng << 17;
    return g->rng;
}

static void bench_gen_init(struct bench_gen *g, const char *store, const char *terminal,
                           uint64_t seed)
{
    memset(g, 0, sizeof *g);
    snprintf(g->m.store, sizeof g->m.store, "%s", store);
    snprintf(g->m.terminal, sizeof g->m.terminal, "%s", terminal);
    snprintf(g->m.operator_, sizeof g->m.operator_, "op01");
    g->m.type = PE_EV_SALE;
    g->rng = seed * 0x9E3779B97F4A7C15ULL + 1;
    pe_event_genesis(store, terminal, g->prev);
}

/* Seal the terminal's next record: *rec (malloc'd, caller frees), *len, hash and meta.
 * Returns PE_OK or the error of pe_event_seal. */
static int bench_gen_next(struct bench_gen *g, char **rec, size_t *len, char hash[PE_SHA256_HEXLEN],
                          struct pe_event_meta *meta)
{
    g->m.seq++;
    g->m.ts_ms = BENCH_TS0_MS + g->m.seq * 1000;
    uint64_t a = bench_rand(g), b = bench_rand(g);
    snprintf(g->m.id, sizeof g->m.id, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
             0x8000 | ((unsigned)(b >> 48) & 0x3fff), (unsigned long long)(b & 0xffffffffffffULL));
    int qty = 1 + (int)(a % 4), price = 99 + (int)(b % 1900), amount = qty * price;
    int tax = amount * 550 / 10550;
    char item[16], barcode[16];
    snprintf(item, sizeof item, "SKU-%05d", (int)(b % 240));
    snprintf(barcode, sizeof barcode, "20%011llu", (unsigned long long)(a % 100000000000ULL));
    cJSON *body = cJSON_CreateObject(), *lines = cJSON_AddArrayToObject(body, "lines");
    cJSON *l = cJSON_CreateObject(), *tenders = cJSON_AddArrayToObject(body, "tenders");
    cJSON *t = cJSON_CreateObject(), *tot = cJSON_AddObjectToObject(body, "totals");
    cJSON_AddStringToObject(body, "currency", "EUR");
    cJSON_AddNumberToObject(l, "amount", amount);
    cJSON_AddStringToObject(l, "barcode", barcode);
    cJSON_AddStringToObject(l, "item", item);
    cJSON_AddNumberToObject(l, "line", 1);
    cJSON_AddNumberToObject(l, "qty", qty);
    cJSON_AddNumberToObject(l, "tax_bp", 550);
    cJSON_AddNumberToObject(l, "unit_price", price);
    cJSON_AddItemToArray(lines, l);
    cJSON_AddNumberToObject(t, "amount", amount);
    cJSON_AddStringToObject(t, "method", a & 1 ? "card" : "cash");
    cJSON_AddItemToArray(tenders, t);
    cJSON_AddNumberToObject(tot, "subtotal", amount);
    cJSON_AddNumberToObject(tot, "tax", tax);
    cJSON_AddNumberToObject(tot, "total", amount);
    int rc = pe_event_seal(&g->m, body, g->prev, rec, len, hash);
    cJSON_Delete(body);
    if (rc)
        return rc;
    memcpy(g->prev, hash, PE_SHA256_HEXLEN);
    if (meta)
        *meta = g->m;
    return PE_OK;
}

#endif
