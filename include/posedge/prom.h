/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prom.h - writing metrics in the Prometheus text exposition format (version 0.0.4), for the
 * daemons' /metrics.
 *
 * A family is started with its name, type and help (one # HELP and one # TYPE line), and its
 * samples follow at once, each with its label pairs. Names are the caller's: docs/metrics.md
 * lists them with their units. Label values are escaped here (backslash, quote, newline).
 */
#ifndef POSEDGE_PROM_H
#define POSEDGE_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PE_PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct pe_prom {
    FILE *f;
    char *buf;
    size_t len;
    char family[96]; /* the family being written */
    char base[256];  /* labels every sample carries first, rendered ("" none) */
};

/* Start an exposition. Errors: PE_ENOMEM. */
int pe_prom_open(struct pe_prom *p);

/* Labels that every sample from now on carries before its own: name and value pairs ending
 * with NULL, as for pe_prom_sample (the daemon's store, a till's terminal). */
void pe_prom_labels(struct pe_prom *p, ...) __attribute__((sentinel));

/* Start a family: type is "counter" or "gauge"; help is one line. */
void pe_prom_family(struct pe_prom *p, const char *name, const char *type, const char *help);

/* One sample of the current family: v, then label name and value pairs, ending with NULL
 * (pe_prom_sample(p, 3, "terminal", "t01", NULL); pe_prom_sample(p, 1, NULL) for none). */
void pe_prom_sample(struct pe_prom *p, double v, ...) __attribute__((sentinel));

/* The family and its one sample, for a value with no labels. */
void pe_prom_one(struct pe_prom *p, const char *name, const char *type, const char *help,
                 double v);

/* The process's own figures under their standard names: process_resident_memory_bytes,
 * process_open_fds, process_start_time_seconds (from /proc/self). */
void pe_prom_process(struct pe_prom *p, int64_t started_ms);

/* End: *out (malloc'd, NUL-terminated) and *len. Errors: PE_ENOMEM (nothing is returned). */
int pe_prom_close(struct pe_prom *p, char **out, size_t *len);

#endif
