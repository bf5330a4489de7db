// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_intake.c - fuzz target: an MQTT events payload as the bridge's intake reads it
 * (bridge/bridge.c, on_message and intake_record), without the spool and Kafka around it.
 *
 * The payload is split into lines by the intake's own splitter (pe_events_next_line: record,
 * tab, signature), each record goes through pe_event_verify (canonical JSON, v1 fields, hash)
 * and, when it verifies, its store and terminal are compared with the topic's and its signature
 * is judged by the bridge's check (sigcheck_record) against two tills: one that never installed
 * a key, and one holding the key of the golden journal's till (tests/system/golden), whose
 * judgement is applied to a copy (sigcheck_apply; the state saved and loaded back as the spool
 * keeps it). A record whose only fault is its hash is also tried with the hash made right, so that
 * mutations of a record's body and fields reach the signature check instead of stopping at the
 * hash.
 *
 * Properties beyond "no crash, no leak": every refusal says why; a split covers the payload
 * (every byte of a non-empty line is in a record, its tab or its signature).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/sigcheck.h"
#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/protocol.h"

/* The golden journal's till key (tests/system/golden/journal.jsonl.gz, its signer_installed). */
static const char golden_key_id[] = "65cbeccfde40abe649fbce23f14f3acc";
static const char golden_pem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEaAJZ4j8uSkRpQfvCHS7pODic9xc3\n"
    "x3Q6+WEQCxEoGaHxaNODl7iorm4zWHGvqqqwvfsPkdLHNrkwuO1j1gp11A==\n"
    "-----END PUBLIC KEY-----\n";

static struct sigcheck_till keyed; /* loaded once, only read by sigcheck_record */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pe_log_set_level(PE_LOG_OFF);
    cJSON *d = cJSON_CreateObject();
    char why[160] = "", *keyed_doc = NULL;
    if (!d || pe_json_add_str(d, "alg", "ES256") || pe_json_add_str(d, "key_id", golden_key_id) ||
        pe_json_add_str(d, "public_key", golden_pem) || pe_json_add_int(d, "counter", 5) ||
        pe_json_add_int(d, "installed_seq", 1) || pe_json_add_int(d, "verified", 4) ||
        pe_json_add_int(d, "unsigned", 0) || pe_json_add_int(d, "unverified", 0) ||
        pe_json_add_int(d, "rejected", 0) || pe_json_add_int(d, "keys", 1) ||
        pe_json_add_str(d, "last_reason", "") || pe_json_add_int(d, "last_seq", 0) ||
        !(keyed_doc = cJSON_PrintUnformatted(d)) ||
        sigcheck_till_load(&keyed, keyed_doc, why, sizeof why) != PE_OK) {
        fprintf(stderr, "fuzz_intake: cannot set up the keyed till: %s\n", why);
        abort();
    }
    cJSON_Delete(d);
    free(keyed_doc);
    return 0;
}

/* A copy of rec (len bytes) with its "hash" member recomputed, as pe_event_seal would have made
 * it; NULL when the member is not where a sealed record has it. */
static char *rehashed(const char *rec, size_t len)
{
    static const char key[] = ",\"hash\":\"";
    static const char pkey[] = "\"prev\":\"";
    const char *at = NULL, *prev = NULL;
    for (size_t i = len >= 74 ? len - 74 + 1 : 0; i-- > 0;)
        if (memcmp(rec + i, key, sizeof key - 1) == 0) {
            at = rec + i;
            break;
        }
    for (size_t i = 0; i + sizeof pkey - 1 + 64 <= len; i++)
        if (memcmp(rec + i, pkey, sizeof pkey - 1) == 0) {
            prev = rec + i + sizeof pkey - 1;
            break;
        }
    if (!at || !prev)
        return NULL;
    char *out = malloc(len);
    char *unsealed = malloc(len - 74 + 1);
    if (!out || !unsealed) {
        free(out);
        free(unsealed);
        return NULL;
    }
    size_t before = (size_t)(at - rec);
    memcpy(unsealed, rec, before);
    memcpy(unsealed + before, at + 74, len - before - 74);
    uint8_t sum[PE_SHA256_LEN];
    char hex[PE_SHA256_HEXLEN];
    pe_sha256_2(prev, 64, unsealed, len - 74, sum);
    pe_hex(sum, sizeof sum, hex);
    memcpy(out, rec, len);
    memcpy(out + before + 9, hex, 64);
    free(unsealed);
    return out;
}

static void judge(const struct pe_event_meta *m, const char *hash, const cJSON *rec,
                  const char *sig, size_t siglen)
{
    struct sigcheck_till none = {0};
    struct sigcheck_verdict v;
    const char *type = pe_event_type_name(m->type);
    if (sigcheck_record(&none, m->seq, type, rec, hash, sig, siglen, &v) == PE_OK) {
        if (v.reason != SIGCHECK_OK && !v.why[0])
            abort(); /* a refusal that does not say why */
        sigcheck_apply(&none, m->seq, &v);
        char why[160], *doc = NULL;
        if (sigcheck_till_save(&none, &doc) == PE_OK) {
            struct sigcheck_till back = {0};
            if (sigcheck_till_load(&back, doc, why, sizeof why) != PE_OK)
                abort(); /* the spool could not read back what it wrote */
            sigcheck_till_clear(&back);
            free(doc);
        }
    }
    sigcheck_verdict_free(&v);
    sigcheck_till_clear(&none);

    if (sigcheck_record(&keyed, m->seq, type, rec, hash, sig, siglen, &v) == PE_OK) {
        if (v.reason != SIGCHECK_OK && !v.why[0])
            abort();
        /* Stored: the till's state moves on (on a copy that shares keyed's key, so applying
         * must not free it), and a new key is saved and loaded back as the spool keeps it. */
        struct sigcheck_till t = keyed;
        t.pub = NULL;
        t.public_key = NULL;
        sigcheck_apply(&t, m->seq, &v);
        char why[160], *doc = NULL;
        if (t.public_key && sigcheck_till_save(&t, &doc) == PE_OK) {
            struct sigcheck_till back = {0};
            if (sigcheck_till_load(&back, doc, why, sizeof why) != PE_OK)
                abort(); /* the spool could not read back what it wrote */
            sigcheck_till_clear(&back);
            free(doc);
        }
        sigcheck_till_clear(&t); /* frees only what the verdict handed over */
    }
    sigcheck_verdict_free(&v);
}

static void intake_record(const char *line, size_t len, const char *sig, size_t siglen)
{
    struct pe_event_meta m;
    char hash[PE_SHA256_HEXLEN], why[200];
    cJSON *rec = NULL;
    int rc = pe_event_verify(line, len, 0, NULL, &m, hash, &rec, why, sizeof why);
    char *fixed = NULL;
    if (rc == PE_ECHAIN && strstr(why, "hash mismatch") && (fixed = rehashed(line, len)))
        rc = pe_event_verify(fixed, len, 0, NULL, &m, hash, &rec, why, sizeof why);
    if (rc) {
        if (!why[0])
            abort(); /* a dead letter needs its reason */
        free(fixed);
        return;
    }
    /* The topic of the golden till: a record of another store or terminal is a dead letter. */
    bool ours = strcmp(m.store, "s001") == 0 && strcmp(m.terminal, "t01") == 0;
    const char *prev = NULL;
    pe_json_get_str(rec, "prev", &prev);
    if (ours || (m.seq & 1))
        judge(&m, hash, rec, sig, siglen);
    cJSON_Delete(rec);
    free(fixed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    struct pe_events_line l;
    size_t covered = 0, lines = 0;
    while (pe_events_next_line(&p, end, &l)) {
        if ((l.len == 0 && !l.sig) || l.rec < (const char *)data || l.rec + l.len > end ||
            (l.sig && (l.siglen == 0 || l.sig != l.rec + l.len + 1 || l.sig + l.siglen > end)))
            abort(); /* the splitter left the payload or made an empty piece */
        covered += l.len + (l.sig ? l.siglen + 1 : 0);
        lines++;
        if (!l.bare_tab)
            intake_record(l.rec, l.len, l.sig, l.siglen);
    }
    /* Every byte is in a line or is a newline. */
    size_t newlines = 0;
    for (size_t i = 0; i < size; i++)
        newlines += data[i] == '\n';
    if (covered + newlines != size)
        abort();
    (void)lines;
    return 0;
}
