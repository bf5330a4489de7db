/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_spool.c - fill a bridge spool with a backlog for the drain benchmark.
 *
 * Seals N records spread round robin over T terminals (store s001, terminals PREFIX01..) and
 * adds them with pe_spool_add in transactions of TXN records, exactly what the bridge's intake
 * would have stored had the tills sent them while Kafka was away. Nothing is delivered yet.
 *
 * usage: bench_spool DB N T [PREFIX]   prints "spooled=N bytes=B seconds=S"
 */
#include <stdio.h>
#include <stdlib.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/spool.h"
#include "tests/bench/bench_records.h"

#define TXN 5000
#define MAX_T 64

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_spool DB N T [PREFIX]\n");
        return 2;
    }
    long n = atol(argv[2]);
    int nt = atoi(argv[3]);
    const char *prefix = argc > 4 ? argv[4] : "t";
    if (n < 1 || nt < 1 || nt > MAX_T) {
        fprintf(stderr, "bench_spool: N >= 1 and 1 <= T <= %d\n", MAX_T);
        return 2;
    }
    char err[512] = "";
    struct pe_spool *s;
    int rc = pe_spool_open(argv[1], NULL, &s, err, sizeof err);
    if (rc) {
        fprintf(stderr, "bench_spool: %s: %s\n", argv[1], err);
        return 1;
    }
    static struct bench_gen g[MAX_T];
    for (int t = 0; t < nt; t++) {
        char term[PE_ID_MAX];
        snprintf(term, sizeof term, "%s%02d", prefix, t + 1);
        bench_gen_init(&g[t], "s001", term, (uint64_t)t + 1);
    }
    int64_t t0 = pe_mono_us(), bytes = 0;
    for (long i = 0; i < n && !rc; i++) {
        if (i % TXN == 0 && (rc = pe_spool_begin(s)))
            break;
        struct bench_gen *gt = &g[i % nt];
        struct pe_event_meta m;
        char hash[PE_SHA256_HEXLEN], prev[PE_SHA256_HEXLEN], *rec;
        size_t len;
        memcpy(prev, gt->prev, sizeof prev);
        if ((rc = bench_gen_next(gt, &rec, &len, hash, &m)))
            break;
        rc = pe_spool_add(s, &m, prev, hash, rec, len);
        bytes += (int64_t)len;
        free(rec);
        if (!rc && (i % TXN == TXN - 1 || i == n - 1))
            rc = pe_spool_commit(s);
    }
    pe_spool_close(s);
    if (rc) {
        fprintf(stderr, "bench_spool: %s\n", pe_strerror(rc));
        return 1;
    }
    printf("spooled=%ld bytes=%lld seconds=%.2f\n", n, (long long)bytes,
           (double)(pe_mono_us() - t0) / 1e6);
    return 0;
}
