// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_event.c - fuzz target: one event record as the bridge receives it from a till, through
 * the record verifier (pe_event_verify: strict JSON parse, canonical form byte for byte, every
 * v1 field, the hash) and the canonical JSON writer.
 *
 * Properties checked beyond "no crash, no leak": a record the verifier accepts re-serialises to
 * exactly its own bytes; and canonical JSON is a fixed point (whatever parses and serialises,
 * serialised again after a parse of its output, gives the same bytes), since every hash in
 * posedge is computed over that form.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "posedge/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pe_log_set_level(PE_LOG_OFF);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    struct pe_event_meta m;
    char hash[PE_SHA256_HEXLEN];
    char why[160];
    cJSON *rec = NULL;
    if (pe_event_verify(text, size, 0, NULL, &m, hash, &rec, why, sizeof why) == PE_OK) {
        char *canon = NULL;
        size_t clen = 0;
        if (pe_json_canonical(rec, &canon, &clen) != PE_OK || clen != size ||
            memcmp(canon, text, size) != 0)
            abort(); /* verified, yet not its own canonical form */
        free(canon);
        cJSON_Delete(rec);
    } else if (why[0] == '\0') {
        abort(); /* a refusal must say why */
    }

    cJSON *doc = NULL;
    if (pe_json_parse(text, size, &doc, why, sizeof why) != PE_OK)
        return 0;
    char *c1 = NULL, *c2 = NULL;
    size_t l1 = 0, l2 = 0;
    if (pe_json_canonical(doc, &c1, &l1) == PE_OK) {
        cJSON *again = NULL;
        if (pe_json_parse(c1, l1, &again, why, sizeof why) != PE_OK ||
            pe_json_canonical(again, &c2, &l2) != PE_OK || l1 != l2 || memcmp(c1, c2, l1) != 0)
            abort(); /* canonical output that does not reproduce itself */
        cJSON_Delete(again);
        free(c2);
        free(c1);
    }
    cJSON_Delete(doc);
    return 0;
}
