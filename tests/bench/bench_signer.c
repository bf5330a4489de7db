/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_signer.c - the fiscal signer's cost per event: signatures per second of the software
 * signer (a key file made in DIR) and, given a PKCS#11 module, token and PIN file, of the pkcs11
 * signer on that token (SoftHSM2 in scripts/bench.sh), each over the same stream of distinct
 * event hashes for SECONDS, through the signer.h ops table the journal uses (message, digest,
 * signature, counter). Every signature made is checked afterwards against the public key, so a
 * signer that returned garbage fast would not count.
 *
 * usage: bench_signer DIR SECONDS [MODULE TOKEN PIN_FILE]
 * prints "software_signs_per_s=N software_us_per_sign=X" and, with a module,
 *        "pkcs11_signs_per_s=N pkcs11_us_per_sign=X"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/clock.h"
#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/log.h"
#include "posedge/signer.h"

#define CHECKED 64 /* signatures verified after each run: the first ones */

static void hash_of(long n, char hex[PE_SHA256_HEXLEN])
{
    uint8_t d[PE_SHA256_LEN];
    pe_sha256_2(&n, sizeof n, NULL, 0, d);
    pe_hex(d, sizeof d, hex);
}

/* Sign for secs with s; prints "<name>_signs_per_s=N <name>_us_per_sign=X". */
static int run(struct pe_signer *s, double secs)
{
    static struct pe_signature sigs[CHECKED];
    char hex[PE_SHA256_HEXLEN];
    int64_t start = pe_mono_us(), end = start + (int64_t)(secs * 1e6), now = start;
    long n = 0;
    while ((now = pe_mono_us()) < end) {
        struct pe_signature g;
        hash_of(n, hex);
        int rc = pe_signer_sign(s, hex, &g);
        if (rc) {
            fprintf(stderr, "bench_signer: %s: sign: %s\n", pe_signer_name(s), pe_errname(rc));
            return 1;
        }
        if (n < CHECKED)
            sigs[n] = g;
        n++;
    }
    struct pe_signer_pub *pub = NULL;
    if (pe_signer_pub_parse(pe_signer_key(s)->public_key, &pub, NULL) != PE_OK)
        return 1;
    for (long i = 0; i < n && i < CHECKED; i++) {
        hash_of(i, hex);
        if (pe_signer_verify(pub, hex, &sigs[i]) != PE_OK || sigs[i].counter != i + 1) {
            fprintf(stderr, "bench_signer: %s: signature %ld does not verify\n",
                    pe_signer_name(s), i);
            pe_signer_pub_free(pub);
            return 1;
        }
    }
    pe_signer_pub_free(pub);
    double el = (double)(now - start) / 1e6;
    printf("%s_signs_per_s=%.0f %s_us_per_sign=%.1f\n", pe_signer_name(s), (double)n / el,
           pe_signer_name(s), el * 1e6 / (double)(n ? n : 1));
    return 0;
}

static int bench(const char *name, const struct pe_signer_conf *c, double secs)
{
    const struct pe_signer_ops *ops = pe_signer_find(name);
    if (!ops) {
        fprintf(stderr, "bench_signer: no %s signer built in\n", name);
        return 1;
    }
    struct pe_signer *s = NULL;
    char err[512];
    int rc = pe_signer_open(ops, c, &s, err, sizeof err);
    if (rc) {
        fprintf(stderr, "bench_signer: %s\n", err);
        return 1;
    }
    rc = run(s, secs);
    pe_signer_close(s);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 3 && argc != 6) {
        fprintf(stderr, "usage: bench_signer DIR SECONDS [MODULE TOKEN PIN_FILE]\n");
        return 2;
    }
    pe_log_init("bench_signer", PE_LOG_WARN);
    double secs = atof(argv[2]);
    char key[4096];
    snprintf(key, sizeof key, "%s/bench-signer.key", argv[1]);
    struct pe_signer_conf c = {.key_file = key, .store = "s001", .terminal = "t01"};
    if (bench("software", &c, secs))
        return 1;
    if (argc == 6) {
        struct pe_signer_conf p = {
            .module = argv[3],
            .token_label = argv[4],
            .pin_file = argv[5],
            .key_label = "bench",
            .store = "s001",
            .terminal = "t01",
        };
        if (bench("pkcs11", &p, secs))
            return 1;
    }
    return 0;
}
