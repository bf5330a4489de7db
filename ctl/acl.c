/* SPDX-License-Identifier: Apache-2.0 */
/*
 * acl.c - posedge-ctl acl: the mosquitto access control lists of one store.
 *
 *   posedge-ctl acl --store S [--password [--bridge-user NAME] | --tls | --enrol]
 *
 * Prints, for store S, one of the three acl_files of docs/protocol.md ("Access control"), each
 * written by pe_protocol_acl_kind (the one writer of the store's topics):
 *
 *  --password (the default, for labs): password logins, the username a till's terminal id and
 *    NAME (default "bridge") the bridge's user. The bridge user may read every till's events,
 *    state and command answers, write acks and commands, and own the reserved terminal
 *    "bridge"; each till gets its own topics only (mosquitto's %u patterns). Meant for
 *    mosquitto's acl_file with allow_anonymous false and a password_file.
 *  --tls: mutual TLS with use_identity_as_username, so the username is the client certificate's
 *    CN "<store>/<name>": the users "S/bridge" (as above, and the enrolment signer's channels)
 *    and "S/hq" (HQ's tool: commands, reading states, acks and answers), and for a till the
 *    patterns posedge/v1/%u/..., which name its store and terminal both.
 *  --enrol: the enrolment listener's: an anonymous client whose client id is its terminal id
 *    may write posedge/v1/S/%c/enrol and read .../%c/enrol/res, nothing else.
 *
 * So a till can neither publish another till's events nor command any till, and only the
 * bridge (and HQ) can command one. Exit status: 0, or 2 for a usage error (an invalid store or
 * user name, two forms at once).
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
    fputs("usage: posedge-ctl acl --store S [--password [--bridge-user NAME] | --tls | --enrol]\n"
          "\n"
          "Prints a mosquitto acl_file for store S (docs/protocol.md, \"Access control\").\n"
          "--password (the default; labs): the bridge user NAME (default bridge) reads the\n"
          "store's events, states and command answers and sends acks and commands; each till,\n"
          "whose MQTT username is its terminal id, only its own topics. Use it with\n"
          "allow_anonymous false and a password_file.\n"
          "--tls: for a listener with require_certificate and use_identity_as_username: the\n"
          "username is the certificate's CN, S/bridge for the bridge, S/hq for HQ's tool and\n"
          "S/<terminal> for a till, which reaches only its own topics.\n"
          "--enrol: for the enrolment listener (anonymous, client id = terminal id): a till may\n"
          "only ask for its certificate and read the answer.\n",
          out);
}

int ctl_acl(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"store", required_argument, NULL, 's'},
        {"bridge-user", required_argument, NULL, 'u'},
        {"password", no_argument, NULL, 'P'},
        {"tls", no_argument, NULL, 'T'},
        {"enrol", no_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *store = NULL, *user = PE_ID_BRIDGE; /* the bridge's MQTT user by default */
    enum pe_acl_kind kind = PE_ACL_PASSWORD;
    int c, forms = 0;
    bool user_given = false;
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
            user_given = true;
        } else if (c == 'P' || c == 'T' || c == 'E') {
            kind = c == 'P' ? PE_ACL_PASSWORD : c == 'T' ? PE_ACL_TLS : PE_ACL_ENROL;
            forms++;
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
    if (forms > 1 || (user_given && kind != PE_ACL_PASSWORD)) {
        fprintf(stderr, "posedge-ctl acl: %s\n",
                forms > 1 ? "one of --password, --tls and --enrol"
                          : "--bridge-user goes with --password (with --tls the bridge's user is "
                            "its certificate's CN, S/bridge)");
        return EXIT_USAGE;
    }
    if (pe_protocol_acl_kind(stdout, kind, store, user) != PE_OK || fflush(stdout) != 0)
        return EXIT_FAIL;
    return 0;
}
