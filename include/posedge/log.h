/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.h - structured logging to stderr, one line per event.
 *
 * A line reads
 *   2026-11-21T10:15:02.123Z level=info comp=agent event=sale.commit seq=12 total=1234
 * The caller supplies the event name and the remaining key=value fields as a printf format.
 * Values that may contain spaces must be quoted by the caller (pe_log does not escape).
 * Card numbers are never passed to the logger: the till only ever holds a token and last 4.
 */
#ifndef POSEDGE_LOG_H
#define POSEDGE_LOG_H

#include <stddef.h>

enum pe_log_level { PE_LOG_DEBUG = 0, PE_LOG_INFO, PE_LOG_WARN, PE_LOG_ERROR, PE_LOG_OFF };

/* Component name printed as comp=...; the string must outlive all logging (a literal). */
void pe_log_init(const char *component, enum pe_log_level level);

void pe_log_set_level(enum pe_log_level level);

/* Parse "debug", "info", "warn", "error", "off". Returns PE_OK or PE_EINVAL. */
int pe_log_level_parse(const char *s, enum pe_log_level *out);

/* Write one line if level is enabled. fmt may be NULL for an event without fields. */
/* Copy s (NULL: "") into out for a quoted value of a log line, which pe_log does not escape:
 * '"' becomes '\'' and control characters a space. Returns out. */
const char *pe_log_quote(const char *s, char *out, size_t outlen);

void pe_log(enum pe_log_level level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define pe_debug(ev, ...) pe_log(PE_LOG_DEBUG, ev, __VA_ARGS__)
#define pe_info(ev, ...) pe_log(PE_LOG_INFO, ev, __VA_ARGS__)
#define pe_warn(ev, ...) pe_log(PE_LOG_WARN, ev, __VA_ARGS__)
#define pe_error(ev, ...) pe_log(PE_LOG_ERROR, ev, __VA_ARGS__)

#endif
