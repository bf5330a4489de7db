/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_sig.c - what a signature costs the bridge per record, for the intake benchmark.
 *
 * Seals N records of one terminal (bench_records.h), the first a signer_installed of a software
 * signer's key (made in DIR, as a till makes its own), and signs each, the sig column's JSON of
 * each kept as the till sends it. Then, timed, the bridge's own check of each record as its
 * intake runs it (bridge/sigcheck.c: decode, key and counter, ECDSA P-256 verify with the
 * till's key parsed once), and, for comparison, the same verification with the till's library
 * (mbedTLS, pe_signer_verify). Signing is timed too (the till's side).
 *
 * usage: bench_sig DIR N   prints "check_per_s=V mbedtls_verify_per_s=M sign_per_s=S records=N"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/sigcheck.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/json.h"
#include "posedge/signer.h"
#include "tests/bench/bench_records.h"

struct signed_rec {
    char hash[PE_SHA256_HEXLEN];
    char sig[PE_SIGNER_ENCODED_MAX];
    size_t siglen;
};

int main(int argc, char **argv)
{
    if (argc < 3 || atol(argv[2]) < 2) {
        fprintf(stderr, "usage: bench_sig DIR N (N >= 2)\n");
        return 2;
    }
    long n = atol(argv[2]);
    char key[4096], err[512];
    snprintf(key, sizeof key, "%s/bench-signer.key", argv[1]);
    struct pe_signer_conf c = {.key_file = key, .store = "s001", .terminal = "t01"};
    struct pe_signer *s = NULL;
    int rc = pe_signer_open(pe_signer_find("software"), &c, &s, err, sizeof err);
    if (rc == PE_OK)
        rc = pe_signer_resume(s, 0);
    if (rc) {
        fprintf(stderr, "bench_sig: signer: %s %s\n", pe_errname(rc), err);
        return 1;
    }
    struct signed_rec *recs = calloc((size_t)n, sizeof *recs);
    cJSON *installed = NULL; /* record 1: what the bridge learns the key from */
    struct bench_gen g;
    bench_gen_init(&g, "s001", "t01", 1);
    rc = recs ? PE_OK : PE_ENOMEM;
    for (long i = 0; i < n && !rc; i++) {
        struct pe_event_meta m;
        char *rec = NULL;
        size_t len;
        if (i == 0) {
            cJSON *body = NULL;
            m = g.m;
            m.seq = ++g.m.seq;
            m.type = PE_EV_SIGNER_INSTALLED;
            m.ts_ms = BENCH_TS0_MS;
            snprintf(m.id, sizeof m.id, "%s", "0b0e0c00-0000-4000-8000-000000000001");
            rc = pe_signer_installed_body(pe_signer_key(s), &body);
            if (rc == PE_OK)
                rc = pe_event_seal(&m, body, g.prev, &rec, &len, recs[i].hash);
            if (rc == PE_OK) {
                memcpy(g.prev, recs[i].hash, sizeof g.prev);
                rc = pe_json_parse(rec, len, &installed, NULL, 0);
            }
            cJSON_Delete(body);
        } else {
            rc = bench_gen_next(&g, &rec, &len, recs[i].hash, &m);
        }
        free(rec);
    }
    int64_t t0 = pe_mono_us();
    for (long i = 0; i < n && !rc; i++) {
        struct pe_signature sig = {0};
        rc = pe_signer_sign(s, recs[i].hash, &sig);
        if (rc == PE_OK && !(recs[i].siglen = pe_signature_encode(&sig, recs[i].sig)))
            rc = PE_ERANGE;
    }
    int64_t t1 = pe_mono_us();
    /* The bridge's check, record by record, as intake runs it. */
    struct sigcheck_till t = {0};
    for (long i = 0; i < n && !rc; i++) {
        struct sigcheck_verdict v;
        rc = sigcheck_record(&t, i + 1, i == 0 ? "signer_installed" : "sale", installed,
                             recs[i].hash, recs[i].sig, recs[i].siglen, &v);
        if (rc == PE_OK && (v.reason != SIGCHECK_OK || !v.verified)) {
            fprintf(stderr, "bench_sig: record %ld: %s\n", i + 1, v.why);
            rc = PE_ECHAIN;
        }
        if (rc == PE_OK)
            sigcheck_apply(&t, i + 1, &v);
        sigcheck_verdict_free(&v);
    }
    int64_t t2 = pe_mono_us();
    /* The same verification with mbedTLS (the till's library, and posedge-ctl verify's). */
    struct pe_signer_pub *pub = NULL;
    if (rc == PE_OK)
        rc = pe_signer_pub_parse(pe_signer_key(s)->public_key, &pub, NULL);
    int64_t t3 = pe_mono_us();
    for (long i = 0; i < n && !rc; i++) {
        struct pe_signature sig = {0};
        rc = pe_signature_decode(recs[i].sig, recs[i].siglen, &sig, NULL, 0);
        if (rc == PE_OK)
            rc = pe_signer_verify(pub, recs[i].hash, &sig);
    }
    int64_t t4 = pe_mono_us();
    pe_signer_pub_free(pub);
    sigcheck_till_clear(&t);
    cJSON_Delete(installed);
    pe_signer_close(s);
    free(recs);
    if (rc) {
        fprintf(stderr, "bench_sig: %s\n", pe_errname(rc));
        return 1;
    }
#define RATE(a, b) ((double)n * 1e6 / (double)((b) - (a) > 0 ? (b) - (a) : 1))
    printf("check_per_s=%.0f mbedtls_verify_per_s=%.0f sign_per_s=%.0f records=%ld\n",
           RATE(t1, t2), RATE(t3, t4), RATE(t0, t1), n);
    return 0;
}
