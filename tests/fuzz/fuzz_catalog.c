// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_catalog.c - fuzz target: a catalog record as the bridge reads it from HQ's compacted
 * Kafka topics (docs/protocol.md, "Records on Kafka"), through bridge/catalog_doc.c: the key's
 * scope and id (catalog_doc_key), the document's check and normal form (catalog_doc_check),
 * and what the bridge reads back from the stored normal form without parsing it (currency,
 * barcodes) and hashes into a version.
 *
 * Input: one byte, 'P' for a promotion (pos.promotions), anything else an item (pos.catalog);
 * then the record's key up to the first newline; then its value.
 *
 * Properties beyond "no crash, no leak": a refusal names what was wrong; the normal form is a
 * fixed point (checked again it is accepted and unchanged), since the bridge stores it and
 * tills hash it; the barcodes read back from a stored item are 1..8 EAN-13 numbers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/catalog_doc.h"
#include "posedge/err.h"
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
    if (size < 1)
        return 0;
    enum catalog_kind kind = data[0] == 'P' ? CATALOG_PROMOTION : CATALOG_ITEM;
    const char *key = (const char *)data + 1, *end = (const char *)data + size;
    const char *nl = memchr(key, '\n', (size_t)(end - key));
    size_t keylen = nl ? (size_t)(nl - key) : (size_t)(end - key);
    const char *val = nl ? nl + 1 : end;
    size_t len = (size_t)(end - val);

    char id[PE_CATALOG_ID_MAX], why[300] = "";
    int scope = catalog_doc_key("s001", key, keylen, id, why, sizeof why);
    if (scope < 0 && !why[0])
        abort(); /* a refused key must say why */
    if (scope <= 0)
        snprintf(id, sizeof id, "%s", "SKU-0001"); /* check the value all the same */

    char *out = NULL;
    size_t outlen = 0;
    why[0] = '\0';
    int rc = catalog_doc_check(kind, id, val, len, &out, &outlen, why, sizeof why);
    if (rc != PE_OK) {
        if (rc == PE_EINVAL && !why[0])
            abort(); /* a refused document must say why */
        return 0;
    }
    if (!out || strlen(out) != outlen)
        abort();
    /* The normal form is accepted as it is. */
    char *again = NULL;
    size_t againlen = 0;
    if (catalog_doc_check(kind, id, out, outlen, &again, &againlen, why, sizeof why) != PE_OK ||
        againlen != outlen || memcmp(again, out, outlen) != 0)
        abort();
    free(again);
    if (kind == CATALOG_ITEM) {
        char cur[4];
        catalog_doc_currency(out, outlen, cur);
        uint64_t codes[PE_CATALOG_BARCODES_MAX];
        int n = catalog_doc_barcodes(out, outlen, codes);
        if (n < 1 || n > PE_CATALOG_BARCODES_MAX)
            abort(); /* a stored item whose barcodes cannot be read back */
        for (int i = 0; i < n; i++)
            if (codes[i] >= 10000000000000ULL)
                abort();
    }
    struct catalog_hash *h = NULL;
    if (catalog_hash_begin(&h) == PE_OK) {
        char hex[65];
        catalog_hash_add(h, kind, out, outlen);
        catalog_hash_end(h, hex);
    }
    free(out);
    return 0;
}
