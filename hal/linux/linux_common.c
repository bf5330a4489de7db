/* SPDX-License-Identifier: Apache-2.0 */
/*
 * linux_common.c - options and serial lines for the Linux drivers (see linux.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "hal/linux/linux.h"
#include "posedge/clock.h"
#include "posedge/log.h"

/* The next word of options from *p: its key and value (value "" when there is no '='). */
static int next_word(const char **p, char *key, size_t keylen, char *val, size_t vallen)
{
    const char *s = *p;
    while (*s == ' ' || *s == ',' || *s == '\t')
        s++;
    if (!*s)
        return 0;
    size_t n = strcspn(s, " ,\t");
    const char *eq = memchr(s, '=', n);
    size_t kn = eq ? (size_t)(eq - s) : n, vn = eq ? n - kn - 1 : 0;
    snprintf(key, keylen, "%.*s", (int)kn, s);
    snprintf(val, vallen, "%.*s", (int)vn, eq ? eq + 1 : "");
    *p = s + n;
    return kn < keylen && vn < vallen ? 1 : -1;
}

int lx_opt_check(const char *options, const char *const allowed[], char *why, size_t whylen)
{
    const char *p = options ? options : "";
    char key[32], val[64];
    int r;
    while ((r = next_word(&p, key, sizeof key, val, sizeof val)) != 0) {
        bool ok = r > 0;
        for (int i = 0; ok && allowed[i]; i++)
            if (strcmp(key, allowed[i]) == 0)
                goto next;
        snprintf(why, whylen, "unknown or too long option \"%s\"", key);
        return PE_EINVAL;
    next:;
    }
    return PE_OK;
}

int lx_opt_get(const char *options, const char *key, char *out, size_t outlen)
{
    const char *p = options ? options : "";
    char k[32], v[64];
    int r;
    while ((r = next_word(&p, k, sizeof k, v, sizeof v)) != 0) {
        if (r > 0 && strcmp(k, key) == 0) {
            if (strlen(v) >= outlen)
                return PE_EINVAL;
            memcpy(out, v, strlen(v) + 1);
            return PE_OK;
        }
    }
    return PE_ENOTFOUND;
}

static speed_t baud_of(long b)
{
    switch (b) {
    case 1200:
        return B1200;
    case 2400:
        return B2400;
    case 4800:
        return B4800;
    case 9600:
        return B9600;
    case 19200:
        return B19200;
    case 38400:
        return B38400;
    case 57600:
        return B57600;
    case 115200:
        return B115200;
    default:
        return 0;
    }
}

int lx_tty_open(const char *path, const char *options, int *fd, char *why, size_t whylen)
{
    char v[16];
    long baud = 9600, bits = 8, stop = 1;
    char parity = 'n';
    if (lx_opt_get(options, "baud", v, sizeof v) == PE_OK)
        baud = strtol(v, NULL, 10);
    if (lx_opt_get(options, "bits", v, sizeof v) == PE_OK)
        bits = strtol(v, NULL, 10);
    if (lx_opt_get(options, "stop", v, sizeof v) == PE_OK)
        stop = strtol(v, NULL, 10);
    if (lx_opt_get(options, "parity", v, sizeof v) == PE_OK)
        parity = strcmp(v, "none") == 0   ? 'n'
                 : strcmp(v, "even") == 0 ? 'e'
                 : strcmp(v, "odd") == 0  ? 'o'
                                          : '?';
    speed_t sp = baud_of(baud);
    if (!sp || (bits != 7 && bits != 8) || (stop != 1 && stop != 2) || parity == '?') {
        snprintf(why, whylen,
                 "%s: bad line settings (baud 1200..115200, bits 7|8, stop 1|2, parity "
                 "none|even|odd)",
                 path);
        return PE_EINVAL;
    }
    int f = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (f < 0) {
        snprintf(why, whylen, "%s: %s", path, strerror(errno));
        return PE_EIO;
    }
    struct termios t;
    if (tcgetattr(f, &t) != 0) {
        snprintf(why, whylen, "%s: not a tty: %s", path, strerror(errno));
        close(f);
        return PE_EIO;
    }
    cfmakeraw(&t);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | PARODD | CSTOPB | CRTSCTS);
    t.c_cflag |= (bits == 7 ? CS7 : CS8) | CREAD | CLOCAL;
    if (parity != 'n')
        t.c_cflag |= PARENB | (parity == 'o' ? PARODD : 0);
    if (stop == 2)
        t.c_cflag |= CSTOPB;
    t.c_cc[VMIN] = 0;
    t.c_cc[VTIME] = 0;
    cfsetispeed(&t, sp);
    cfsetospeed(&t, sp);
    if (tcsetattr(f, TCSANOW, &t) != 0) {
        snprintf(why, whylen, "%s: tcsetattr: %s", path, strerror(errno));
        close(f);
        return PE_EIO;
    }
    *fd = f;
    return PE_OK;
}

int lx_gone(int err)
{
    return err == EIO || err == ENODEV || err == ENXIO || err == EPIPE || err == EBADF;
}

int lx_write_all(int fd, const void *buf, size_t len, int timeout_ms)
{
    const char *p = buf;
    int64_t deadline = pe_mono_ms() + timeout_ms;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w > 0) {
            p += w;
            len -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN)
            return PE_EIO; /* EIO, ENODEV, EPIPE: gone; anything else: failed */
        int64_t left = deadline - pe_mono_ms();
        if (left <= 0)
            return PE_ETIMEDOUT;
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int r = poll(&pfd, 1, (int)left);
        if (r > 0 && (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)))
            return PE_EIO;
    }
    return PE_OK;
}

#define BACKOFF_FIRST_MS 500
#define BACKOFF_MAX_MS 30000

void lx_line_init(struct lx_line *l, int fd)
{
    memset(l, 0, sizeof *l);
    l->fd = fd;
    l->hold = -1;
}

void lx_lost(struct lx_line *l, const char *what)
{
    if (l->offline)
        return;
    int p[2];
    if (pipe(p) == 0) {
        /* The read end takes the device's place; the write end stays open, unused, so the
         * read end never reports end of file or hang-up. */
        if (dup2(p[0], l->fd) < 0)
            close(p[1]);
        else
            l->hold = p[1];
        close(p[0]);
        if (l->hold >= 0)
            (void)fcntl(l->fd, F_SETFD, FD_CLOEXEC);
    }
    l->offline = true;
    l->wait_ms = BACKOFF_FIRST_MS;
    l->next_ms = pe_mono_ms() + l->wait_ms;
    pe_warn("hal.device_lost", "device=%s (reopening with backoff)", what);
}

bool lx_retry(struct lx_line *l, const char *what, int (*reopen)(void *ctx, int *fd), void *ctx)
{
    if (!l->offline)
        return true;
    int64_t now = pe_mono_ms();
    if (now < l->next_ms)
        return false;
    int fd = -1;
    if (reopen(ctx, &fd) == PE_OK && fd >= 0 && dup2(fd, l->fd) >= 0) {
        close(fd);
        (void)fcntl(l->fd, F_SETFD, FD_CLOEXEC);
        if (l->hold >= 0)
            close(l->hold);
        l->hold = -1;
        l->offline = false;
        pe_info("hal.device_back", "device=%s", what);
        return true;
    }
    if (fd >= 0)
        close(fd);
    l->wait_ms = l->wait_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->wait_ms * 2;
    l->next_ms = now + l->wait_ms;
    return false;
}

void lx_line_close(struct lx_line *l)
{
    if (l->fd >= 0)
        close(l->fd);
    if (l->hold >= 0)
        close(l->hold);
    l->fd = l->hold = -1;
}
