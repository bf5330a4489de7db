/* SPDX-License-Identifier: Apache-2.0 */
/*
 * replay_catalog_nosim.c - posedge-ctl replay-catalog on a board without the simulator.
 *
 * The dataset replay is part of the simulator (sim/), which a board builds only when its
 * HAL_DIRS has fake. On a board without it, the Makefile builds this file instead of
 * replay_catalog.c (a program's X_nosim.c stands in for its X.c), so the command still exists
 * and says plainly why it cannot run, rather than being an unknown command.
 */
#include <stdio.h>

#include "ctl/ctl.h"

#define EXIT_USAGE 2

int ctl_replay_catalog(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fputs("posedge-ctl replay-catalog: not in this build: the dataset replay is part of the "
          "simulator, which this board leaves out (its HAL_DIRS has no fake)\n",
          stderr);
    return EXIT_USAGE;
}
