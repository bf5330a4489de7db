/* SPDX-License-Identifier: Apache-2.0 */
/*
 * args.c - option values the posedge-ctl commands share (see ctl.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "ctl/ctl.h"

int ctl_seconds(const char *cmd, const char *opt, const char *arg, long max, long *out)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (!*arg || *end || v < 1 || v > max) {
        fprintf(stderr, "posedge-ctl %s: %s: expected seconds in 1..%ld, got \"%s\"\n", cmd, opt,
                max, arg);
        return -1;
    }
    *out = v;
    return 0;
}
