/* SPDX-License-Identifier: Apache-2.0 */
/*
 * acl.c - posedge-ctl acl: the mosquitto access control list of one store.
 *
 *   posedge-ctl acl --store S [--bridge-user NAME]
 *
 * Prints the acl_file of docs/protocol.md ("Access control") for store S, byte for byte as the
 * protocol shows it (pe_protocol_acl, the one writer of the store's topics), with NAME (default "bridge") as the bridge's MQTT user. The bridge user
 * may read every till's events, state and command answers, write acks and commands, and own
 * the reserved terminal "bridge"; each till, connecting with its terminal id as username, gets
 * its own topics only (mosquitto's %u patterns). So a till can neither publish another till's
 * events nor command any till, and only the bridge user (and posedge-ctl connecting as it)
 * can command one. The file is meant for mosquitto's acl_file with allow_anonymous false and a
 * password_file. Exit status: 0, or 2 for a usage error (an invalid store or user name).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl/ctl.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/protocol.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fputs("usage: posedge-ctl acl --store S [--bridge-user NAME]\n"
          "\n"
          "Prints the mosquitto acl_file for store S (docs/protocol.md, \"Access control\"):\n"
          "the bridge user NAME (default bridge) reads the store's events, states and command\n"
          "answers and sends acks and commands; each till, whose MQTT username is its terminal\n"
          "id, only its own topics. Use it with allow_anonymous false and a password_file.\n",
          out);
}

int ctl_acl(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"store", required_argument, NULL, 's'},
        {"bridge-user", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *store = NULL, *user = PE_ID_BRIDGE; /* the bridge's MQTT user by default */
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 's') {
            if (!pe_event_id_valid(optarg, 1)) {
                fprintf(stderr, "posedge-ctl acl: --store: not a store id: \"%s\"\n", optarg);
                return EXIT_USAGE;
            }
            store = optarg;
        } else if (c == 'u') {
            /* Written into the file after "user ": no blanks, no line breaks, no wildcards. */
            if (!pe_event_id_valid(optarg, 1)) {
                fprintf(stderr,
                        "posedge-ctl acl: --bridge-user: expected 1..%d letters, digits, '.', '_' "
                        "or '-', got \"%s\"\n",
                        PE_ID_MAX - 1, optarg);
                return EXIT_USAGE;
            }
            user = optarg;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!store || optind != argc) {
        fprintf(stderr, "posedge-ctl acl: needs --store S, nothing else\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    if (pe_protocol_acl(stdout, store, user) != PE_OK || fflush(stdout) != 0)
        return EXIT_FAIL;
    return 0;
}
