/* SPDX-License-Identifier: Apache-2.0 */
/* clock.c - UTC millisecond time, its one text format, and the monotonic clock. */
#include "posedge/clock.h"

#include <string.h>
#include <time.h>

#include "posedge/err.h"

int64_t pe_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pe_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pe_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Days since 1970-01-01 of a proleptic Gregorian civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Write v (0 <= v < 10^n) as exactly n decimal digits, zero-padded. */
static void put_digits(char *out, int v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

void pe_time_split(int64_t ms, struct pe_civil *out)
{
    int64_t days = floordiv(ms, 86400000);
    int64_t rem = ms - days * 86400000;
    civil_from_days(days, &out->year, &out->mon, &out->day);
    out->hour = (int)(rem / 3600000);
    out->min = (int)(rem / 60000 % 60);
    out->sec = (int)(rem / 1000 % 60);
    out->msec = (int)(rem % 1000);
}

int64_t pe_time_join(const struct pe_civil *c)
{
    int64_t days = days_from_civil(c->year, c->mon, c->day);
    return ((days * 24 + c->hour) * 60 + c->min) * 60000 + (int64_t)c->sec * 1000 + c->msec;
}

void pe_time_format(int64_t ms, char out[PE_TIME_STRLEN])
{
    int64_t days = floordiv(ms, 86400000);
    int64_t rem = ms - days * 86400000;
    int64_t y;
    int mo, d;
    civil_from_days(days, &y, &mo, &d);
    int h = (int)(rem / 3600000), mi = (int)(rem / 60000 % 60), s = (int)(rem / 1000 % 60);
    int msec = (int)(rem % 1000);
    if (y < 0 || y > 9999)
        y = y < 0 ? 0 : 9999;
    /* Every field has a fixed width and range, so the digits are placed directly: this runs for
     * every event and receipt, where snprintf's format parsing was the larger part of the cost. */
    put_digits(out, (int)y, 4);
    out[4] = '-';
    put_digits(out + 5, mo, 2);
    out[7] = '-';
    put_digits(out + 8, d, 2);
    out[10] = 'T';
    put_digits(out + 11, h, 2);
    out[13] = ':';
    put_digits(out + 14, mi, 2);
    out[16] = ':';
    put_digits(out + 17, s, 2);
    out[19] = '.';
    put_digits(out + 20, msec, 3);
    out[23] = 'Z';
    out[PE_TIME_STRLEN - 1] = '\0';
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int pe_time_parse(const char *s, int64_t *out_ms)
{
    int y, mo, d, h, mi, sec, ms;
    if (!s || strlen(s) != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != '.' || s[23] != 'Z')
        return PE_EPARSE;
    if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
        digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &sec) ||
        digits(s + 20, 3, &ms))
        return PE_EPARSE;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 59)
        return PE_EPARSE;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return PE_EPARSE;
    int64_t days = days_from_civil(y, mo, d);
    *out_ms = ((days * 24 + h) * 60 + mi) * 60000LL + sec * 1000LL + ms;
    return PE_OK;
}
