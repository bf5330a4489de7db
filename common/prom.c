/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prom.c - the Prometheus text format (see prom.h), written through open_memstream.
 */
#include "posedge/prom.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posedge/err.h"

int pe_prom_open(struct pe_prom *p)
{
    memset(p, 0, sizeof *p);
    p->f = open_memstream(&p->buf, &p->len);
    return p->f ? PE_OK : PE_ENOMEM;
}

/* s with backslash and newline escaped, and the double quote when quote (a label value). */
static void escaped(FILE *f, const char *s, bool quote)
{
    for (const char *c = s; *c; c++) {
        if (*c == '\\')
            fputs("\\\\", f);
        else if (*c == '\n')
            fputs("\\n", f);
        else if (quote && *c == '"')
            fputs("\\\"", f);
        else
            fputc(*c, f);
    }
}

void pe_prom_family(struct pe_prom *p, const char *name, const char *type, const char *help)
{
    snprintf(p->family, sizeof p->family, "%s", name);
    fprintf(p->f, "# HELP %s ", name);
    escaped(p->f, help, false);
    fprintf(p->f, "\n# TYPE %s %s\n", name, type);
}

static void value(FILE *f, double v)
{
    if (isnan(v))
        fputs("NaN", f);
    else if (isinf(v))
        fputs(v > 0 ? "+Inf" : "-Inf", f);
    else if (v == trunc(v) && fabs(v) < 9e15)
        fprintf(f, "%lld", (long long)v);
    else
        fprintf(f, "%.17g", v);
}

/* The pairs of ap as name="value",... after sep (the first "{" or ","); returns the next sep. */
static const char *pairs(FILE *f, const char *sep, va_list ap)
{
    const char *k;
    while ((k = va_arg(ap, const char *))) {
        const char *val = va_arg(ap, const char *);
        fprintf(f, "%s%s=\"", sep, k);
        escaped(f, val ? val : "", true);
        fputc('"', f);
        sep = ",";
    }
    return sep;
}

void pe_prom_labels(struct pe_prom *p, ...)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    p->base[0] = '\0';
    if (!f)
        return;
    va_list ap;
    va_start(ap, p);
    pairs(f, "", ap);
    va_end(ap);
    if (fclose(f) == 0 && buf && len < sizeof p->base)
        memcpy(p->base, buf, len + 1);
    free(buf);
}

void pe_prom_sample(struct pe_prom *p, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    fputs(p->family, p->f);
    const char *sep = "{";
    if (p->base[0]) {
        fprintf(p->f, "{%s", p->base);
        sep = ",";
    }
    sep = pairs(p->f, sep, ap);
    va_end(ap);
    if (sep[0] == ',')
        fputc('}', p->f);
    fputc(' ', p->f);
    value(p->f, v);
    fputc('\n', p->f);
}

void pe_prom_one(struct pe_prom *p, const char *name, const char *type, const char *help,
                 double v)
{
    pe_prom_family(p, name, type, help);
    pe_prom_sample(p, v, (const char *)NULL);
}

void pe_prom_process(struct pe_prom *p, int64_t started_ms)
{
    char base[sizeof p->base];
    memcpy(base, p->base, sizeof base); /* the standard process metrics carry no labels */
    p->base[0] = '\0';
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    pe_prom_one(p, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                (double)rss * (double)sysconf(_SC_PAGESIZE));
    int fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        for (struct dirent *e; (e = readdir(d));)
            fds += e->d_name[0] != '.';
        closedir(d);
        fds--; /* the directory's own descriptor */
    }
    pe_prom_one(p, "process_open_fds", "gauge", "Number of open file descriptors.", fds);
    pe_prom_one(p, "process_start_time_seconds", "gauge",
                "Start time of the process since unix epoch in seconds.",
                (double)started_ms / 1000.0);
    memcpy(p->base, base, sizeof base);
}

int pe_prom_close(struct pe_prom *p, char **out, size_t *len)
{
    int bad = ferror(p->f);
    if (fclose(p->f) != 0 || bad || !p->buf) {
        free(p->buf);
        *out = NULL;
        *len = 0;
        return PE_ENOMEM;
    }
    *out = p->buf;
    *len = p->len;
    return PE_OK;
}
