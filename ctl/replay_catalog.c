/* SPDX-License-Identifier: Apache-2.0 */
/*
 * replay_catalog.c - posedge-ctl replay-catalog: the catalog a dataset replay needs.
 *
 *   posedge-ctl replay-catalog --format online-retail|databricks [--currency CUR]
 *                              [--tax-bp N] [--store ID] FILE... > catalog.json
 *
 * Reads dataset files the way `posedge-agent --replay` does (sim/replay.c) and prints a
 * catalog (catalog.h) holding every product they sell, each with a stable made-up EAN-13.
 * Rows the replay would skip are reported on stderr as "FILE:LINE: reason" and add no item.
 * The catalog is a file rather than something the agent makes in memory so that the till
 * loads, checks and sells from it like any other catalog (and --self-test checks it), and an
 * operator can review or reprice it before replaying. Exit status: 0, 1 when a file cannot be
 * read or is of another layout, 2 usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "posedge/err.h"
#include "posedge/sim.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fputs("usage: posedge-ctl replay-catalog --format online-retail|databricks\n"
          "                                  [--currency CUR] [--tax-bp N] [--store ID]\n"
          "                                  FILE... > catalog.json\n"
          "\n"
          "Prints the catalog that `posedge-agent --replay FILE...` needs: one item per\n"
          "product of the files (Online Retail: per StockCode and UnitPrice; Databricks: per\n"
          "item of item.csv, priced from its price column or a fixed x.99 price), with a\n"
          "made-up EAN-13 in the in-store range 28. --currency (default GBP for Online Retail,\n"
          "USD for Databricks) must match the till's; --tax-bp (default 0) is every item's tax\n"
          "rate. Bad rows are reported on stderr as FILE:LINE and add nothing.\n",
          out);
}

int ctl_replay_catalog(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'}, {"currency", required_argument, NULL, 'c'},
        {"tax-bp", required_argument, NULL, 't'}, {"store", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
    };
    struct pe_replay_opts o = {.format = PE_REPLAY_ONLINE_RETAIL, .report = stderr};
    bool have_format = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'f':
            if (pe_replay_format_parse(optarg, &o.format)) {
                fprintf(stderr,
                        "posedge-ctl replay-catalog: --format: expected online-retail "
                        "or databricks, got \"%s\"\n",
                        optarg);
                return EXIT_USAGE;
            }
            have_format = true;
            break;
        case 'c':
            if (strlen(optarg) != 3 || strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 3) {
                fprintf(stderr,
                        "posedge-ctl replay-catalog: --currency: expected an ISO 4217 "
                        "code such as GBP, got \"%s\"\n",
                        optarg);
                return EXIT_USAGE;
            }
            o.currency = optarg;
            break;
        case 't': {
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < 0 || v > 10000) {
                fprintf(stderr,
                        "posedge-ctl replay-catalog: --tax-bp: expected 0..10000, got "
                        "\"%s\"\n",
                        optarg);
                return EXIT_USAGE;
            }
            o.tax_bp = (int32_t)v;
            break;
        }
        case 's':
            o.store = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!have_format || optind >= argc) {
        fprintf(stderr, "posedge-ctl replay-catalog: %s\n",
                have_format ? "give one or more FILEs" : "--format is required");
        usage(stderr);
        return EXIT_USAGE;
    }
    char err[512] = "", *json = NULL;
    int rc = pe_replay_catalog((const char *const *)argv + optind, (size_t)(argc - optind), &o,
                               &json, err, sizeof err);
    if (rc) {
        fprintf(stderr, "posedge-ctl replay-catalog: %s\n", err[0] ? err : pe_strerror(rc));
        return EXIT_FAIL;
    }
    int failed = fputs(json, stdout) < 0 || fputc('\n', stdout) == EOF || fflush(stdout) != 0;
    free(json);
    if (failed) {
        fprintf(stderr, "posedge-ctl replay-catalog: cannot write the catalog\n");
        return EXIT_FAIL;
    }
    return 0;
}
