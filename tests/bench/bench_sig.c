/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_sig.c - what a signature costs the bridge per record, for the intake benchmark.
 *
 * Seals N records of one terminal (bench_records.h) and signs each with a software signer (a
 * P-256 key made in DIR, as a till makes its own), the sig column's JSON of each kept as the
 * till would send it. Then, timed, the bridge's work per record at intake (bridge/sigcheck.c):
 * decode the sig, check it against the key parsed once (the per-till cache), verify it over the
 * record's hash, counter and time. Signing is timed too (the till's side, for comparison).
 *
 * usage: bench_sig DIR N   prints "verify_per_s=V sign_per_s=S records=N"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/signer.h"
#include "tests/bench/bench_records.h"

struct signed_rec {
    char hash[PE_SHA256_HEXLEN];
    char sig[PE_SIGNER_ENCODED_MAX];
    size_t siglen;
};

int main(int argc, char **argv)
{
    if (argc < 3 || atol(argv[2]) < 1) {
        fprintf(stderr, "usage: bench_sig DIR N\n");
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
    struct bench_gen g;
    bench_gen_init(&g, "s001", "t01", 1);
    for (long i = 0; i < n && !rc; i++) {
        struct pe_event_meta m;
        char *rec = NULL;
        size_t len;
        rc = recs ? bench_gen_next(&g, &rec, &len, recs[i].hash, &m) : PE_ENOMEM;
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
    struct pe_signer_pub *pub = NULL;
    char kid[PE_SIGNER_KEY_ID_LEN];
    if (rc == PE_OK)
        rc = pe_signer_pub_parse(pe_signer_key(s)->public_key, &pub, kid);
    int64_t t2 = pe_mono_us(), last = 0;
    for (long i = 0; i < n && !rc; i++) {
        struct pe_signature sig = {0};
        rc = pe_signature_decode(recs[i].sig, recs[i].siglen, &sig, NULL, 0);
        if (rc == PE_OK && (strcmp(sig.key_id, kid) != 0 || sig.counter != last + 1))
            rc = PE_ECHAIN;
        if (rc == PE_OK)
            rc = pe_signer_verify(pub, recs[i].hash, &sig);
        last = sig.counter;
    }
    int64_t t3 = pe_mono_us();
    pe_signer_pub_free(pub);
    pe_signer_close(s);
    free(recs);
    if (rc) {
        fprintf(stderr, "bench_sig: %s\n", pe_errname(rc));
        return 1;
    }
    printf("verify_per_s=%.0f sign_per_s=%.0f records=%ld\n",
           (double)n * 1e6 / (double)(t3 - t2 > 0 ? t3 - t2 : 1),
           (double)n * 1e6 / (double)(t1 - t0 > 0 ? t1 - t0 : 1), n);
    return 0;
}
