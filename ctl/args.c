/* SPDX-License-Identifier: Apache-2.0 */
/*
 * args.c - option values the posedge-ctl commands share (see ctl.h): counts and counts of
 * seconds; and how text and values from a till or the bridge are printed, in KEY=VALUE form or
 * as free text, so that nothing a till sends can drive the operator's terminal. (What the
 * commands that talk to a store's broker take alike is ctl/link.c's.)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "ctl/ctl.h"
#include "posedge/err.h"
#include "posedge/json.h"

/* A decimal integer in min..max: 0, or -1 after saying that what was expected was `what`. */
static int in_range(const char *cmd, const char *opt, const char *arg, const char *what,
                    long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (!*arg || *end || errno || v < min || v > max) {
        fprintf(stderr, "posedge-ctl %s: %s: expected %s in %ld..%ld, got \"%s\"\n", cmd, opt,
                what, min, max, arg);
        return -1;
    }
    *out = v;
    return 0;
}

int ctl_seconds(const char *cmd, const char *opt, const char *arg, long max, long *out)
{
    return in_range(cmd, opt, arg, "seconds", 1, max, out);
}

int ctl_count(const char *cmd, const char *opt, const char *arg, long min, long max, long *out)
{
    return in_range(cmd, opt, arg, "a count", min, max, out);
}

/* True when s can be printed as it is after "KEY=": non-empty, no blank, quote, backslash,
 * '=' or control character. */
static bool plain(const char *s)
{
    if (!*s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= ' ' || *p == 0x7f || *p == '"' || *p == '\\' || *p == '=')
            return false;
    return true;
}

void ctl_put_text(FILE *out, const char *s)
{
    if (plain(s)) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p < ' ' || *p == 0x7f)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

int ctl_put_json(FILE *out, const cJSON *v)
{
    char *text = cJSON_PrintUnformatted(v);
    if (!text)
        return PE_ENOMEM;
    fputs(text, out);
    fputc('\n', out);
    free(text);
    return PE_OK;
}

void ctl_put_clean(FILE *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        fputc(*p < ' ' || *p == 0x7f ? '?' : *p, out);
}

void ctl_put_value(FILE *out, const cJSON *v)
{
    if (cJSON_IsString(v)) {
        ctl_put_text(out, v->valuestring);
        return;
    }
    if (cJSON_IsNumber(v) && v->valuedouble <= (double)PE_JSON_MAX_INT &&
        v->valuedouble >= -(double)PE_JSON_MAX_INT &&
        v->valuedouble == (double)(long long)v->valuedouble) {
        fprintf(out, "%lld", (long long)v->valuedouble); /* exact: cJSON might say 1e+15 */
        return;
    }
    char *s = cJSON_PrintUnformatted(v);
    fputs(s ? s : "?", out);
    free(s);
}
