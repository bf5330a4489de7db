/* SPDX-License-Identifier: Apache-2.0 */
/*
 * log.c - one key=value line per event on stderr. The line is assembled in a buffer and
 * written with one write(2), so lines from a daemon and its children never interleave.
 */
#include "posedge/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "posedge/clock.h"
#include "posedge/err.h"

static const char *component = "posedge";
static enum pe_log_level threshold = PE_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void pe_log_init(const char *comp, enum pe_log_level level)
{
    component = comp ? comp : "posedge";
    threshold = level;
}

void pe_log_set_level(enum pe_log_level level)
{
    threshold = level;
}

int pe_log_level_parse(const char *s, enum pe_log_level *out)
{
    for (int i = 0; i <= PE_LOG_OFF; i++) {
        if (s && strcmp(s, level_names[i]) == 0) {
            *out = (enum pe_log_level)i;
            return PE_OK;
        }
    }
    return PE_EINVAL;
}

void pe_log(enum pe_log_level level, const char *event, const char *fmt, ...)
{
    if (level < threshold || level >= PE_LOG_OFF)
        return;
    char line[2048];
    char ts[PE_TIME_STRLEN];
    pe_time_format(pe_time_now_ms(), ts);
    int n = snprintf(line, sizeof line, "%s level=%s comp=%s event=%s", ts, level_names[level],
                     component, event);
    if (n < 0)
        return;
    if (fmt && (size_t)n < sizeof line - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
    }
    if ((size_t)n > sizeof line - 2)
        n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t off = 0;
    while (off < n) {
        ssize_t w = write(STDERR_FILENO, line + off, (size_t)(n - off));
        if (w <= 0)
            break;
        off += w;
    }
}

const char *pe_log_quote(const char *s, char *out, size_t outlen)
{
    size_t i = 0;
    for (; s && *s && i + 1 < outlen; s++)
        out[i++] = *s == '"' ? '\'' : (unsigned char)*s < 0x20 ? ' ' : *s;
    if (outlen)
        out[i] = '\0';
    return out;
}
