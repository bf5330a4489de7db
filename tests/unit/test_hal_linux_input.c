/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_hal_linux_input.c - unit tests of the Linux input drivers: the serial scale (NCI and
 * 8213), the serial and evdev barcode scanners, and the evdev key decoder.
 *
 * The serial drivers are driven through pseudo-terminals: the driver opens the slave, the test
 * plays the device on the master, reading the commands the driver sends and writing replies,
 * noise, cut-off frames, or closing the master to hang the line up. The decoder is fed event
 * sequences in the shape evtest records them (EV_MSC scan codes and EV_SYN reports around every
 * key). The evdev driver reads a FIFO of input_event records everywhere, and a real uinput
 * keyboard where the machine allows one (main decides at run time; without /dev/uinput that
 * test is not run and a "# uinput: not available" line says why). Waiting is always on a
 * deadline with poll(2), never a sleep standing in for synchronisation.
 */
#include "tests/unit/harness.h"

#include <stdio.h>

#ifdef PE_HAL_linux

#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <linux/uinput.h>
#include <dirent.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "hal/linux/evdev_decode.h"
#include "hal/linux/linux.h"
#include "posedge/clock.h"
#include "posedge/log.h"

#define WAIT_MS 2000 /* the longest any expected input may take to arrive */

/* ---- pseudo-terminals: the test is the device ---- */

struct pty {
    int m;          /* master: the device's side */
    char path[128]; /* slave: what the driver opens */
};

static struct pty pty_new(void)
{
    struct pty p;
    p.m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    CHECK(p.m >= 0);
    CHECK(grantpt(p.m) == 0);
    CHECK(unlockpt(p.m) == 0);
    const char *n = ptsname(p.m);
    CHECK(n != NULL);
    snprintf(p.path, sizeof p.path, "%s", n);
    return p;
}

static void put(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    int64_t end = pe_mono_ms() + WAIT_MS;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        CHECK(w < 0 && (errno == EAGAIN || errno == EINTR));
        CHECK(pe_mono_ms() < end);
        struct pollfd pf = {.fd = fd, .events = POLLOUT};
        (void)poll(&pf, 1, 20);
    }
}

static void puts_(int fd, const char *s)
{
    put(fd, s, strlen(s));
}

/* True when fd becomes readable within ms. */
static bool readable_within(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n;
    while ((n = poll(&p, 1, ms)) < 0 && errno == EINTR)
        ;
    CHECK(n >= 0);
    return n == 1 && (p.revents & POLLIN);
}

/* The master must receive exactly want (and nothing more for a moment). */
static void expect_sent(int m, const char *want)
{
    size_t n = strlen(want), got = 0;
    char buf[64];
    CHECK(n < sizeof buf);
    int64_t end = pe_mono_ms() + WAIT_MS;
    while (got < n) {
        int64_t left = end - pe_mono_ms();
        if (left <= 0)
            pe_test_fail(__FILE__, __LINE__, "the device got %zu of %zu bytes of \"%s\"", got, n,
                         want);
        if (!readable_within(m, (int)left))
            continue;
        ssize_t r = read(m, buf + got, n - got);
        CHECK(r > 0);
        got += (size_t)r;
    }
    CHECK(memcmp(buf, want, n) == 0);
    CHECK(!readable_within(m, 30));
}

/* Wait until the tty fd has n bytes queued for reading. */
static void queued(int fd, size_t n)
{
    int64_t end = pe_mono_ms() + WAIT_MS;
    for (;;) {
        int q = 0;
        CHECK(ioctl(fd, FIONREAD, &q) == 0);
        if (q >= 0 && (size_t)q >= n)
            return;
        CHECK(pe_mono_ms() < end);
        (void)poll(NULL, 0, 5);
    }
}

/* Read the scale until it reports something other than PE_EAGAIN, or ms pass (PE_EAGAIN).
 * Small poll waits let a timeout that never makes the fd readable be seen. */
static int scale_await(struct pe_scale *s, struct pe_weight *w, int ms)
{
    int64_t end = pe_mono_ms() + ms;
    for (;;) {
        int rc = pe_scale_read(s, w);
        int64_t left = end - pe_mono_ms();
        if (rc != PE_EAGAIN || left <= 0)
            return rc;
        (void)readable_within(pe_scale_fd(s), left < 20 ? (int)left : 20);
    }
}

static int scan_await(struct pe_scanner *s, struct pe_scan *out, int ms)
{
    int64_t end = pe_mono_ms() + ms;
    for (;;) {
        int rc = pe_scanner_read(s, out);
        int64_t left = end - pe_mono_ms();
        if (rc != PE_EAGAIN || left <= 0)
            return rc;
        (void)readable_within(pe_scanner_fd(s), left < 20 ? (int)left : 20);
    }
}

/* Let the driver take in what was just sent, which must complete no code. */
static void scan_drain(struct pe_scanner *s)
{
    struct pe_scan out;
    CHECK(readable_within(pe_scanner_fd(s), WAIT_MS));
    do
        CHECK_INT(pe_scanner_read(s, &out), PE_EAGAIN);
    while (readable_within(pe_scanner_fd(s), 0));
}

static struct pe_scale *scale_open(const char *path, const char *options)
{
    struct pe_hal_devcfg cfg = {.driver = "serial", .path = path, .options = options};
    struct pe_scale *s = NULL;
    CHECK_OK(pe_scale_open(&pe_linux_scale_ops, &cfg, &s));
    CHECK(s != NULL);
    return s;
}

static int scale_open_rc(const char *path, const char *options)
{
    struct pe_hal_devcfg cfg = {.driver = "serial", .path = path, .options = options};
    struct pe_scale *s = NULL;
    int rc = pe_scale_open(&pe_linux_scale_ops, &cfg, &s);
    if (rc == PE_OK)
        pe_scale_close(s);
    return rc;
}

static enum pe_health scale_health(struct pe_scale *s)
{
    enum pe_health h = PE_HEALTH_FAILED;
    CHECK_OK(pe_scale_health(s, &h));
    return h;
}

/* Ask for a weight, see the command on the line, answer with reply, read the result. */
static int ask(struct pe_scale *s, struct pty *p, const char *cmd, const char *reply,
               struct pe_weight *w)
{
    CHECK_OK(pe_scale_request(s));
    expect_sent(p->m, cmd);
    puts_(p->m, reply);
    return scale_await(s, w, WAIT_MS);
}

#define STX "\002"
#define ETX "\003"
#define GS "\035"
#define NCI(weight, s1, s2) "\n" weight "\r\nS" s1 s2 "\r" ETX

/* ---- scale, NCI ---- */

static void t_scale_nci_weights(void)
{
    struct pty p = pty_new();
    struct pe_scale *s = scale_open(p.path, "protocol=nci baud=9600 parity=even bits=7");
    struct pe_weight w;
    CHECK_INT(pe_scale_read(s, &w), PE_EAGAIN);

    CHECK_OK(ask(s, &p, "W\r", NCI("  1.234kg", "0", "0"), &w));
    CHECK_INT(w.grams, 1234);
    CHECK(w.stable);
    CHECK_INT(pe_scale_read(s, &w), PE_EAGAIN); /* one reply, one reading */
    CHECK_INT(scale_health(s), PE_HEALTH_OK);

    /* s1 bit 0: motion. */
    CHECK_OK(ask(s, &p, "W\r", NCI("  0.998kg", "1", "0"), &w));
    CHECK_INT(w.grams, 998);
    CHECK(!w.stable);
    /* s1 bit 1: at zero. */
    CHECK_OK(ask(s, &p, "W\r", NCI("  0.000kg", "2", "0"), &w));
    CHECK_INT(w.grams, 0);
    CHECK(w.stable);
    /* Below zero, grams, ounces, upper case, leading plus. */
    CHECK_OK(ask(s, &p, "W\r", NCI(" -0.012kg", "0", "0"), &w));
    CHECK_INT(w.grams, -12);
    CHECK_OK(ask(s, &p, "W\r", NCI("    250g", "0", "0"), &w));
    CHECK_INT(w.grams, 250);
    CHECK_OK(ask(s, &p, "W\r", NCI("   251 g", "0", "0"), &w));
    CHECK_INT(w.grams, 251);
    CHECK_OK(ask(s, &p, "W\r", NCI("   8.8oz", "0", "0"), &w));
    CHECK_INT(w.grams, 249); /* 249.4758 */
    CHECK_OK(ask(s, &p, "W\r", NCI("  2.000KG", "0", "0"), &w));
    CHECK_INT(w.grams, 2000);
    CHECK_OK(ask(s, &p, "W\r", NCI("+ 0.5kg", "0", "0"), &w));
    CHECK_INT(w.grams, 500);
    /* A third status byte is allowed and ignored. */
    CHECK_OK(ask(s, &p, "W\r", "\n  3.210kg\r\nS004\r\x03", &w));
    CHECK_INT(w.grams, 3210);

    /* Two replies waiting at once: the newer reading is the one reported. */
    CHECK_OK(pe_scale_request(s));
    expect_sent(p.m, "W\r");
    const char *two = NCI("  4.000kg", "1", "0") NCI("  4.100kg", "0", "0");
    puts_(p.m, two);
    queued(pe_scale_fd(s), strlen(two));
    CHECK_OK(pe_scale_read(s, &w));
    CHECK_INT(w.grams, 4100);
    CHECK(w.stable);
    CHECK_INT(pe_scale_read(s, &w), PE_EAGAIN);

    /* Zero sends Z and its status-only reply reports nothing. */
    CHECK_OK(pe_scale_zero(s));
    expect_sent(p.m, "Z\r");
    puts_(p.m, "\nS20\r\x03");
    CHECK_INT(scale_await(s, &w, 100), PE_EAGAIN);
    CHECK_INT(scale_health(s), PE_HEALTH_OK);
    pe_scale_close(s);
    close(p.m);
}

static void t_scale_nci_pounds(void)
{
    struct pty p = pty_new();
    struct pe_scale *s = scale_open(p.path, NULL);
    struct pe_weight w;
    CHECK_OK(ask(s, &p, "W\r", NCI(" 12.345lb", "0", "0"), &w));
    CHECK_INT(w.grams, 5600); /* 5599.5978 */
    CHECK_OK(ask(s, &p, "W\r", NCI("  0.01lb", "0", "0"), &w));
    CHECK_INT(w.grams, 5); /* 4.5359 */
    CHECK_OK(ask(s, &p, "W\r", NCI("  1.000lb", "0", "0"), &w));
    CHECK_INT(w.grams, 454); /* 453.59237 */
    CHECK_OK(ask(s, &p, "W\r", NCI(" 0.0011lb", "0", "0"), &w));
    CHECK_INT(w.grams, 0); /* 0.4990: rounds down */
    CHECK_OK(ask(s, &p, "W\r", NCI("-0.0012lb", "0", "0"), &w));
    CHECK_INT(w.grams, -1); /* -0.5443: away from zero */
    CHECK_OK(ask(s, &p, "W\r", NCI(" 1lb  2.5oz", "0", "0"), &w));
    CHECK_INT(w.grams, 524); /* 18.5 oz = 524.4662 */
    CHECK_OK(ask(s, &p, "W\r", NCI(" 2 LB 0.25 OZ", "0", "0"), &w));
    CHECK_INT(w.grams, 914); /* 32.25 oz = 914.2721 */
    CHECK_INT(ask(s, &p, "W\r", NCI(" 1.5lb 2oz", "0", "0"), &w), PE_EPARSE);
    CHECK_OK(ask(s, &p, "W\r", NCI("1000.00lb", "0", "0"), &w));
    CHECK_INT(w.grams, 453592);
    pe_scale_close(s);
    close(p.m);
}

static void t_scale_nci_out_of_range(void)
{
    struct pty p = pty_new();
    struct pe_scale *s = scale_open(p.path, NULL);
    struct pe_weight w = {.grams = 77};
    /* s2 bit 1: over capacity; the weight text is symbols then. */
    CHECK_INT(ask(s, &p, "W\r", NCI("^^^^^^^kg", "0", "2"), &w), PE_ERANGE);
    CHECK_INT(w.grams, 77); /* not reported as a weight */
    CHECK_INT(scale_health(s), PE_HEALTH_DEGRADED);
    CHECK_INT(pe_scale_read(s, &w), PE_EAGAIN);
    /* s2 bit 0: under capacity. */
    CHECK_INT(ask(s, &p, "W\r", NCI("-------kg", "0", "1"), &w), PE_ERANGE);
    /* Status alone, over capacity, as some scales answer. */
    CHECK_INT(ask(s, &p, "W\r", "\nS02\r\x03", &w), PE_ERANGE);
    /* Status alone, in motion: no weight yet. */
    CHECK_INT(ask(s, &p, "W\r", "\nS10\r\x03", &w), PE_EBUSY);
    CHECK_INT(scale_health(s), PE_HEALTH_OK);
    /* A good reading brings health back. */
    CHECK_OK(ask(s, &p, "W\r", NCI("  0.100kg", "0", "0"), &w));
    CHECK_INT(w.grams, 100);
    CHECK_INT(scale_health(s), PE_HEALTH_OK);
    /* s1 bit 2: RAM error; s2 bit 2: ROM error: the scale itself has failed. */
    CHECK_INT(ask(s, &p, "W\r", NCI("  0.100kg", "4", "0"), &w), PE_EIO);
    CHECK_INT(scale_health(s), PE_HEALTH_FAILED);
    CHECK_INT(ask(s, &p, "W\r", NCI("  0.100kg", "0", "4"), &w), PE_EIO);
    CHECK_INT(scale_health(s), PE_HEALTH_FAILED);
    CHECK_OK(ask(s, &p, "W\r", NCI("  0.200kg", "0", "0"), &w));
    CHECK_INT(scale_health(s), PE_HEALTH_OK);
    pe_scale_close(s);
    close(p.m);
}

static void t_scale_nci_refused(void)
{
    struct pty p = pty_new();
    struct pe_scale *s = scale_open(p.path, NULL);
    struct pe_weight w;
    CHECK_INT(ask(s, &p, "W\r", "\n?\r\x03", &w), PE_EPARSE);
    CHECK_INT(scale_health(s), PE_HEALTH_DEGRADED);
    /* A weight text that is no weight is refused too, not guessed at. */
    CHECK_INT(ask(s, &p, "W\r", NCI("  1.2.3kg", "0", "0"), &w), PE_EPARSE);
    CHECK_INT(ask(s, &p, "W\r", NCI("  1.234st", "0", "0"), &w), PE_EPARSE);
    CHECK_INT(ask(s, &p, "W\r", NCI("1234567890g", "0", "0"), &w), PE_EPARSE);
    /* Fits the text but not an int32 of grams. */
    CHECK_INT(ask(s, &p, "W\r", NCI("999999999kg", "0", "0"), &w), PE_ERANGE);
    CHECK_OK(ask(s, &p, "W\r", NCI("  0.001kg", "0", "0"), &w));
    CHECK_INT(w.grams, 1);
    CHECK_INT(scale_health(s), PE_HEALTH_OK);
    pe_scale_close(s);
    close(p.m);
}

static void t_scale_noise_before_reply(void)
{
    struct pty p = pty_new();
    struct pe_scale *s = scale_open(p.path, NULL);
    struct pe_weight w;
    static const char noise[] = "\xff\x00\x7f garbage 9.999kg\r\x03\r\r\x01\x02"
                                "S00\r\x03 \x80\x90\n 9.999kg\x00\n9.9\x01";
    CHECK_OK(pe_scale_request(s));
    expect_sent(p.m, "W\r");
    put(p.m, noise, sizeof noise - 1);
    CHECK_INT(scale_await(s, &w, 100), PE_EAGAIN);
    puts_(p.m, NCI("  1.234kg", "0", "0"));
    CHECK_OK(scale_await(s, &w, WAIT_MS));
    CHECK_INT(w.grams, 1234);
    CHECK(w.stable);
    CHECK_INT(pe_scale_read(s, &w), PE_EAGAIN);

    /* Noise and the reply in one burst. */
    CHECK_OK(pe_scale_request(s));
    expect_sent(p.m, "W\r");
    put(p.m, noise, sizeof noise - 1);
    puts_(p.m, NCI("  0.555kg", "0", "0"));
    CHECK_OK(scale_await(s, &w, WAIT_MS));
    CHECK_INT(w.grams, 555);
    CHECK_INT(scale_health(s), PE_HEALTH_OK);
    pe_scale_close(s);
    close(p.m);
}

/* Each cut-off frame below is followed by a good one: only the good one is read. */
static void t_scale_truncated_frames(void)
{
    static const char *const cut[] = {
        "\n  9.9",                /* cut in the weight */
        "\n  9.999kg\r",          /* cut after the weight line */
        "\n  9.999kg\r\nS0",      /* cut in the status */
        "\n  9.999kg\r\nS00\r",   /* cut before ETX */
        "\n  9.9\x15",            /* garbage in the middle */
        "\n  9.999kg\r\nS00\rX",  /* garbage before ETX */
        "\n  9.99\n  9.99\n",     /* several starts */
        "\n  9.999kg\r\nS0\1770", /* garbage in the status */
    };
    struct pty p = pty_new();
    struct pe_scale *s = scale_open(p.path, NULL);
    struct pe_weight w;
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        CHECK_OK(pe_scale_request(s));
        expect_sent(p.m, "W\r");
        puts_(p.m, cut[i]);
        puts_(p.m, NCI("  2.345kg", "0", "0"));
        int rc = scale_await(s, &w, WAIT_MS);
        if (rc != PE_OK || w.grams != 2345)
            pe_test_fail(__FILE__, __LINE__, "cut frame %zu: rc %d grams %d", i, rc, w.grams);
        CHECK_INT(pe_scale_read(s, &w), PE_EAGAIN);
    }
    /* The rest of a frame cut off by garbage, a status alone, tells nothing. */
    CHECK_OK(pe_scale_request(s));
    expect_sent(p.m, "W\r");
    puts_(p.m, "\n  7.7\02577kg\r\nS00\r\x03");
    CHECK_INT(scale_await(s, &w, 100), PE_EAGAIN);
    CHECK_INT(scale_health(s), PE_HEALTH_OK);
    pe_scale_close(s);
    close(p.m);
}

static void t_scale_timeout(void)
{
    struct pty p = pty_new();
    struct pe_scale *s = scale_open(p.path, "timeout_ms=150");
    struct pe_weight w;
    CHECK_OK(ask(s, &p, "W\r", NCI("  0.100kg", "0", "0"), &w));
    CHECK_INT(scale_health(s), PE_HEALTH_OK);

    int64_t t0 = pe_mono_ms();
    CHECK_OK(pe_scale_request(s));
    expect_sent(p.m, "W\r");
    /* Asked again while the first request is in flight: nothing more is sent. */
    CHECK_OK(pe_scale_request(s));
    CHECK(!readable_within(p.m, 30));
    CHECK_INT(scale_await(s, &w, WAIT_MS), PE_ETIMEDOUT);
    int64_t took = pe_mono_ms() - t0;
    CHECK(took >= 150);
    CHECK(took < 1500);
    CHECK_INT(pe_scale_read(s, &w), PE_EAGAIN); /* once */
    CHECK_INT(scale_await(s, &w, 200), PE_EAGAIN);
    CHECK_INT(scale_health(s), PE_HEALTH_DEGRADED);
    CHECK_OK(ask(s, &p, "W\r", NCI("  0.250kg", "0", "0"), &w));
    CHECK_INT(w.grams, 250);
    CHECK_INT(scale_health(s), PE_HEALTH_OK);

    /* Health sees a silence that read was never called for (the fd never became readable),
     * and the next request, past the timeout, asks again. */
    CHECK_OK(pe_scale_request(s));
    expect_sent(p.m, "W\r");
    CHECK(!readable_within(pe_scale_fd(s), 200));
    CHECK_INT(scale_health(s), PE_HEALTH_DEGRADED);
    CHECK_OK(ask(s, &p, "W\r", NCI("  0.260kg", "0", "0"), &w));
    CHECK_INT(w.grams, 260);
    CHECK_INT(scale_health(s), PE_HEALTH_OK);
    pe_scale_close(s);
    close(p.m);
}

static void t_scale_hangup_and_back(void)
{
    /* The driver opens a symlink, so the "same device" can come back on a new pty. */
    struct pty p = pty_new();
    const char *link = pe_test_path(0, "scale");
    CHECK(symlink(p.path, link) == 0);
    struct pe_scale *s = scale_open(link, "timeout_ms=500");
    int fd = pe_scale_fd(s);
    struct pe_weight w;
    CHECK_OK(ask(s, &p, "W\r", NCI("  0.100kg", "0", "0"), &w));

    close(p.m);
    CHECK_INT(scale_await(s, &w, WAIT_MS), PE_EIO);
    CHECK_INT(pe_scale_read(s, &w), PE_EIO);
    CHECK_INT(pe_scale_request(s), PE_EIO);
    CHECK_INT(pe_scale_zero(s), PE_EIO);
    CHECK_INT(scale_health(s), PE_HEALTH_FAILED);
    CHECK_INT(pe_scale_fd(s), fd); /* the number the agent polls stays valid, and quiet */
    CHECK(fcntl(fd, F_GETFD) >= 0);
    CHECK(!readable_within(fd, 50));

    struct pty p2 = pty_new();
    CHECK(unlink(link) == 0);
    CHECK(symlink(p2.path, link) == 0);
    int64_t end = pe_mono_ms() + 5000;
    while (scale_health(s) != PE_HEALTH_OK) {
        CHECK(pe_mono_ms() < end);
        (void)poll(NULL, 0, 20);
    }
    CHECK_INT(pe_scale_fd(s), fd);
    CHECK_OK(ask(s, &p2, "W\r", NCI("  0.321kg", "0", "0"), &w));
    CHECK_INT(w.grams, 321);
    pe_scale_close(s);
    close(p2.m);
}

/* ---- scale, 8213 ---- */

static void t_scale_8213(void)
{
    struct pty p = pty_new();
    struct pe_scale *s = scale_open(p.path, "protocol=8213,timeout_ms=500");
    struct pe_weight w;
    CHECK_OK(ask(s, &p, "W", STX "00123\r", &w));
    CHECK_INT(w.grams, 558); /* 1.23 lb = 557.9186 g */
    CHECK(w.stable);
    CHECK_OK(ask(s, &p, "W", STX "00000\r", &w));
    CHECK_INT(w.grams, 0);
    CHECK_OK(ask(s, &p, "W", STX "99999\r", &w));
    CHECK_INT(w.grams, 453588); /* 999.99 lb = 453587.83 g */
    /* Noise before, a frame cut off by a new start. */
    CHECK_OK(ask(s, &p, "W", "zz\x7f\r" STX "12" STX "00050\r", &w));
    CHECK_INT(w.grams, 227); /* 226.796 */
    CHECK_INT(pe_scale_read(s, &w), PE_EAGAIN);
    CHECK_INT(scale_health(s), PE_HEALTH_OK);
    CHECK_INT(pe_scale_zero(s), PE_ENOTSUP);
    pe_scale_close(s);

    s = scale_open(p.path, "protocol=8213 unit=g");
    CHECK_OK(ask(s, &p, "W", STX "01234\r", &w));
    CHECK_INT(w.grams, 1234);
    pe_scale_close(s);
    close(p.m);
}

static void t_scale_8213_bad_replies(void)
{
    struct pty p = pty_new();
    struct pe_scale *s = scale_open(p.path, "protocol=8213");
    struct pe_weight w;
    /* Status bits 0 motion, 1 over capacity, 2 under zero; bits 5 and 6 set on the wire. */
    CHECK_INT(ask(s, &p, "W", STX "?a\r", &w), PE_EBUSY);
    CHECK_INT(scale_health(s), PE_HEALTH_OK);
    CHECK_INT(ask(s, &p, "W", STX "?b\r", &w), PE_ERANGE);
    CHECK_INT(scale_health(s), PE_HEALTH_DEGRADED);
    CHECK_INT(ask(s, &p, "W", STX "?d\r", &w), PE_ERANGE);
    CHECK_INT(ask(s, &p, "W", STX "?\r", &w), PE_EPARSE);
    CHECK_INT(ask(s, &p, "W", STX "12a45\r", &w), PE_EPARSE);
    CHECK_INT(ask(s, &p, "W", STX "1234\r", &w), PE_EPARSE);
    /* Garbage inside a frame drops it: no reply at all. */
    CHECK_OK(pe_scale_request(s));
    expect_sent(p.m, "W");
    puts_(p.m, STX "00\001100\r");
    CHECK_INT(scale_await(s, &w, 100), PE_EAGAIN);
    puts_(p.m, STX "00100\r");
    CHECK_OK(scale_await(s, &w, WAIT_MS));
    CHECK_INT(w.grams, 454);
    CHECK_INT(scale_health(s), PE_HEALTH_OK);
    pe_scale_close(s);
    close(p.m);
}

static void t_scale_options(void)
{
    struct pty p = pty_new();
    CHECK_INT(scale_open_rc(p.path, "speed=9600"), PE_EINVAL);
    CHECK_INT(scale_open_rc(p.path, "protocol=nci maxlen=3"), PE_EINVAL);
    CHECK_INT(scale_open_rc(p.path, "protocol=toledo"), PE_EINVAL);
    CHECK_INT(scale_open_rc(p.path, "protocol=nci unit=g"), PE_EINVAL);
    CHECK_INT(scale_open_rc(p.path, "protocol=8213 unit=kg"), PE_EINVAL);
    CHECK_INT(scale_open_rc(p.path, "timeout_ms=0"), PE_EINVAL);
    CHECK_INT(scale_open_rc(p.path, "timeout_ms=12x"), PE_EINVAL);
    CHECK_INT(scale_open_rc(p.path, "timeout_ms="), PE_EINVAL);
    CHECK_INT(scale_open_rc(p.path, "baud=1234"), PE_EINVAL);
    CHECK_INT(scale_open_rc("", NULL), PE_EINVAL);
    CHECK_INT(scale_open_rc(NULL, NULL), PE_EINVAL);
    CHECK_INT(scale_open_rc("/nonexistent/ttyUSB9", NULL), PE_EIO);
    CHECK_OK(scale_open_rc(p.path, ""));
    CHECK_OK(scale_open_rc(p.path, "protocol=8213 unit=lb timeout_ms=60000 stop=2"));
    CHECK_STR(pe_linux_scale_ops.dev.name, "serial");
    close(p.m);
}

/* ---- serial scanner ---- */

static struct pe_scanner *scanner_open(const struct pe_scanner_ops *ops, const char *path,
                                       const char *options)
{
    struct pe_hal_devcfg cfg = {.driver = ops->dev.name, .path = path, .options = options};
    struct pe_scanner *s = NULL;
    CHECK_OK(pe_scanner_open(ops, &cfg, &s));
    CHECK(s != NULL);
    return s;
}

static int scanner_open_rc(const struct pe_scanner_ops *ops, const char *path, const char *options)
{
    struct pe_hal_devcfg cfg = {.driver = ops->dev.name, .path = path, .options = options};
    struct pe_scanner *s = NULL;
    int rc = pe_scanner_open(ops, &cfg, &s);
    if (rc == PE_OK)
        pe_scanner_close(s);
    return rc;
}

static enum pe_health scanner_health(struct pe_scanner *s)
{
    enum pe_health h = PE_HEALTH_FAILED;
    CHECK_OK(pe_scanner_health(s, &h));
    return h;
}

#define EXPECT_SCAN(s, want)                                                                       \
    do {                                                                                           \
        struct pe_scan sc__;                                                                       \
        memset(&sc__, 0x55, sizeof sc__);                                                          \
        CHECK_OK(scan_await((s), &sc__, WAIT_MS));                                                 \
        CHECK_STR(sc__.code, (want));                                                              \
    } while (0)

static void t_serial_terminators(void)
{
    struct pty p = pty_new();
    struct pe_scanner *s =
        scanner_open(&pe_linux_serial_scanner_ops, p.path, "baud=115200 timeout_ms=5000");
    struct pe_scan out;
    CHECK_INT(pe_scanner_read(s, &out), PE_EAGAIN);
    puts_(p.m, "4006381333931\r");
    EXPECT_SCAN(s, "4006381333931");
    puts_(p.m, "ABC-1\n");
    EXPECT_SCAN(s, "ABC-1");
    puts_(p.m, "SKU-00001\r\n");
    EXPECT_SCAN(s, "SKU-00001");
    CHECK_INT(pe_scanner_read(s, &out), PE_EAGAIN); /* the LF of CRLF is no empty code */
    /* Several codes in one burst come out one per read, in order. */
    puts_(p.m, "1\r\n22\n\n333\r4444\r\n");
    EXPECT_SCAN(s, "1");
    EXPECT_SCAN(s, "22");
    EXPECT_SCAN(s, "333");
    EXPECT_SCAN(s, "4444");
    CHECK_INT(pe_scanner_read(s, &out), PE_EAGAIN);
    /* STX/ETX framing and other control bytes are skipped; GS (GS1) is kept. */
    puts_(p.m, STX "0104006381333931" GS "10ABC" ETX "\r");
    EXPECT_SCAN(s, "0104006381333931" GS "10ABC");
    /* A code split over two writes is one code. */
    puts_(p.m, "123");
    scan_drain(s);
    puts_(p.m, "456\r");
    EXPECT_SCAN(s, "123456");
    CHECK_INT(scanner_health(s), PE_HEALTH_OK);
    /* Disabled, codes are read and dropped. */
    CHECK_OK(pe_scanner_enable(s, false));
    puts_(p.m, "777\r");
    CHECK_INT(scan_await(s, &out, 100), PE_EAGAIN);
    CHECK_OK(pe_scanner_enable(s, true));
    puts_(p.m, "888\r");
    EXPECT_SCAN(s, "888");
    pe_scanner_close(s);
    close(p.m);
}

static void t_serial_partial_timeout(void)
{
    struct pty p = pty_new();
    struct pe_scanner *s =
        scanner_open(&pe_linux_serial_scanner_ops, p.path, "timeout_ms=100 maxlen=20");
    puts_(p.m, "12345");
    scan_drain(s);
    /* A silence longer than timeout_ms: the partial code is dropped. */
    CHECK(!readable_within(pe_scanner_fd(s), 150));
    puts_(p.m, "678\r");
    EXPECT_SCAN(s, "678");
    /* An overlong partial code is dropped the same way. */
    puts_(p.m, "123456789012345678901234");
    scan_drain(s);
    CHECK(!readable_within(pe_scanner_fd(s), 150));
    puts_(p.m, "9\r");
    EXPECT_SCAN(s, "9");
    pe_scanner_close(s);
    close(p.m);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    char *buf = calloc(1, 65536);
    CHECK(buf != NULL);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void t_serial_overlong(void)
{
    const char *logpath = pe_test_path(1, "stderr.log");
    fflush(stderr);
    int saved = dup(2);
    int lf = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(saved >= 0 && lf >= 0);
    CHECK(dup2(lf, 2) == 2);
    close(lf);

    struct pty p = pty_new();
    struct pe_scanner *s = scanner_open(&pe_linux_serial_scanner_ops, p.path, "maxlen=8");
    puts_(p.m, "123456789\rABC\r12345678\r");
    EXPECT_SCAN(s, "ABC");
    EXPECT_SCAN(s, "12345678"); /* exactly maxlen is fine */
    /* Far longer than the buffer of a code, split over writes. */
    char big[300];
    memset(big, '7', sizeof big);
    put(p.m, big, sizeof big);
    scan_drain(s);
    put(p.m, big, sizeof big);
    puts_(p.m, "\nX1\n");
    EXPECT_SCAN(s, "X1");
    struct pe_scan out;
    CHECK_INT(pe_scanner_read(s, &out), PE_EAGAIN);
    pe_scanner_close(s);
    close(p.m);

    fflush(stderr);
    CHECK(dup2(saved, 2) == 2);
    close(saved);
    char *log = slurp(logpath);
    const char *hit = strstr(log, "hal.linux.scanner.overlong");
    CHECK(hit != NULL);
    CHECK(strstr(hit + 1, "hal.linux.scanner.overlong") != NULL); /* once per code */
    free(log);
}

static void t_serial_hangup(void)
{
    struct pty p = pty_new();
    struct pe_scanner *s = scanner_open(&pe_linux_serial_scanner_ops, p.path, NULL);
    int fd = pe_scanner_fd(s);
    puts_(p.m, "42\r");
    EXPECT_SCAN(s, "42");
    puts_(p.m, "4");
    scan_drain(s);
    close(p.m);
    struct pe_scan out;
    CHECK_INT(scan_await(s, &out, WAIT_MS), PE_EIO);
    CHECK_INT(pe_scanner_read(s, &out), PE_EIO);
    CHECK_INT(scanner_health(s), PE_HEALTH_FAILED);
    CHECK_INT(pe_scanner_fd(s), fd);
    CHECK(!readable_within(fd, 50));
    pe_scanner_close(s);
}

static void t_scanner_options(void)
{
    struct pty p = pty_new();
    const struct pe_scanner_ops *ser = &pe_linux_serial_scanner_ops;
    const struct pe_scanner_ops *ev = &pe_linux_evdev_scanner_ops;
    CHECK_STR(ser->dev.name, "serial");
    CHECK_STR(ev->dev.name, "evdev");
    CHECK_INT(scanner_open_rc(ser, p.path, "suffix=cr"), PE_EINVAL);
    CHECK_INT(scanner_open_rc(ser, p.path, "grab=0"), PE_EINVAL); /* evdev's, not serial's */
    CHECK_INT(scanner_open_rc(ser, p.path, "maxlen=0"), PE_EINVAL);
    CHECK_INT(scanner_open_rc(ser, p.path, "maxlen=64"), PE_EINVAL);
    CHECK_INT(scanner_open_rc(ser, p.path, "timeout_ms=-5"), PE_EINVAL);
    CHECK_INT(scanner_open_rc(ser, p.path, "parity=mark"), PE_EINVAL);
    CHECK_INT(scanner_open_rc(ser, "", NULL), PE_EINVAL);
    CHECK_INT(scanner_open_rc(ser, "/nonexistent/ttyACM7", NULL), PE_EIO);
    CHECK_OK(scanner_open_rc(ser, p.path, "maxlen=63 timeout_ms=60000 baud=9600 bits=7"));

    const char *fifo = pe_test_path(0, "events");
    CHECK(mkfifo(fifo, 0600) == 0);
    CHECK_INT(scanner_open_rc(ev, fifo, "baud=9600"), PE_EINVAL);
    CHECK_INT(scanner_open_rc(ev, fifo, "keymap=de"), PE_EINVAL);
    CHECK_INT(scanner_open_rc(ev, fifo, "grab=yes"), PE_EINVAL);
    CHECK_INT(scanner_open_rc(ev, fifo, "maxlen=100"), PE_EINVAL);
    CHECK_OK(scanner_open_rc(ev, fifo, "keymap=us grab=0 maxlen=13 timeout_ms=50"));
    CHECK_INT(scanner_open_rc(ev, p.path, NULL), PE_EINVAL);      /* a tty is no input device */
    CHECK_INT(scanner_open_rc(ev, "/dev/null", NULL), PE_EINVAL); /* nor is /dev/null */
    CHECK_INT(scanner_open_rc(ev, "/nonexistent/event3", NULL), PE_EIO);
    close(p.m);
}

/* ---- recorded event sequences ---- */

struct rec {
    uint16_t type, code;
    int32_t value;
};

/* As evtest records a USB HID keyboard wedge: for each key the HID usage (EV_MSC MSC_SCAN),
 * the key (EV_KEY: 1 press, 0 release, 2 autorepeat) and a report (EV_SYN SYN_REPORT). */
/* clang-format off */
#define KEYREC(k, usage, v) \
    {EV_MSC, MSC_SCAN, 0x70000 + (usage)}, {EV_KEY, (k), (v)}, {EV_SYN, SYN_REPORT, 0}
#define DOWN(k, usage) KEYREC(k, usage, 1)
#define UP(k, usage) KEYREC(k, usage, 0)
#define REPEAT(k) {EV_KEY, (k), 2}, {EV_SYN, SYN_REPORT, 0}
#define TAP(k, usage) DOWN(k, usage), UP(k, usage)
#define LSHIFT_DOWN DOWN(KEY_LEFTSHIFT, 0xe1)
#define LSHIFT_UP UP(KEY_LEFTSHIFT, 0xe1)
#define RSHIFT_DOWN DOWN(KEY_RIGHTSHIFT, 0xe5)
#define RSHIFT_UP UP(KEY_RIGHTSHIFT, 0xe5)
#define ENTER TAP(KEY_ENTER, 0x28)

/* EAN-13 4006381333931. */
static const struct rec seq_ean13[] = {
    TAP(KEY_4, 0x21), TAP(KEY_0, 0x27), TAP(KEY_0, 0x27), TAP(KEY_6, 0x23), TAP(KEY_3, 0x20),
    TAP(KEY_8, 0x25), TAP(KEY_1, 0x1e), TAP(KEY_3, 0x20), TAP(KEY_3, 0x20), TAP(KEY_3, 0x20),
    TAP(KEY_9, 0x26), TAP(KEY_3, 0x20), TAP(KEY_1, 0x1e), ENTER,
};
/* "120.9" on the keypad, ended by keypad Enter, the first two presses overlapping. */
static const struct rec seq_keypad[] = {
    DOWN(KEY_KP1, 0x59), DOWN(KEY_KP2, 0x5a), UP(KEY_KP1, 0x59), UP(KEY_KP2, 0x5a),
    TAP(KEY_KP0, 0x62), TAP(KEY_KPDOT, 0x63), TAP(KEY_KP9, 0x61), TAP(KEY_KPENTER, 0x58),
};
/* Enter alone, an LED, keys without a character: no code. */
static const struct rec seq_nothing[] = {
    ENTER, {EV_MSC, MSC_SCAN, 0x70028}, {EV_SYN, SYN_REPORT, 0}, {EV_LED, LED_NUML, 1},
    TAP(KEY_LEFTCTRL, 0xe0), TAP(KEY_TAB, 0x2b), TAP(KEY_F1, 0x3a), ENTER,
};
/* "Ab-C_1": left shift for A, right shift held over C and '-'. */
static const struct rec seq_ab_c[] = {
    LSHIFT_DOWN, TAP(KEY_A, 0x04), LSHIFT_UP, TAP(KEY_B, 0x05), TAP(KEY_MINUS, 0x2d),
    RSHIFT_DOWN, TAP(KEY_C, 0x06), TAP(KEY_MINUS, 0x2d), RSHIFT_UP, TAP(KEY_1, 0x1e), ENTER,
};
/* Both shifts down, the left released: "XYz". */
static const struct rec seq_two_shifts[] = {
    LSHIFT_DOWN, RSHIFT_DOWN, TAP(KEY_X, 0x1b), LSHIFT_UP, TAP(KEY_Y, 0x1c), RSHIFT_UP,
    TAP(KEY_Z, 0x1d), ENTER,
};
/* '1' held for two repeats, then 'A' held with a repeating shift, then 'a': "111AAa". */
static const struct rec seq_repeat[] = {
    DOWN(KEY_1, 0x1e), REPEAT(KEY_1), REPEAT(KEY_1), UP(KEY_1, 0x1e),
    LSHIFT_DOWN, REPEAT(KEY_LEFTSHIFT), DOWN(KEY_A, 0x04), REPEAT(KEY_A), REPEAT(KEY_LEFTSHIFT),
    UP(KEY_A, 0x04), LSHIFT_UP, TAP(KEY_A, 0x04), ENTER,
};
static const struct rec seq_98[] = {TAP(KEY_9, 0x26), TAP(KEY_8, 0x25)}; /* no Enter */
static const struct rec seq_12[] = {TAP(KEY_1, 0x1e), TAP(KEY_2, 0x1f), ENTER};
static const struct rec seq_shift_q[] = {LSHIFT_DOWN, TAP(KEY_Q, 0x14)}; /* shift still down */
static const struct rec seq_w_e[] = {TAP(KEY_W, 0x1a), LSHIFT_UP, TAP(KEY_E, 0x08), ENTER};
static const struct rec seq_123456_7[] = {
    TAP(KEY_1, 0x1e), TAP(KEY_2, 0x1f), TAP(KEY_3, 0x20), TAP(KEY_4, 0x21), TAP(KEY_5, 0x22),
    TAP(KEY_6, 0x23), ENTER, TAP(KEY_7, 0x24), ENTER,
};
static const struct rec seq_abcde[] = {
    TAP(KEY_A, 0x04), TAP(KEY_B, 0x05), TAP(KEY_C, 0x06), TAP(KEY_D, 0x07), TAP(KEY_E, 0x08),
    ENTER,
};
/* The kernel's buffer overflowed (SYN_DROPPED) while shift was down and "A" typed. */
static const struct rec seq_dropped[] = {
    LSHIFT_DOWN, TAP(KEY_A, 0x04), {EV_SYN, SYN_DROPPED, 0}, {EV_KEY, KEY_B, 1},
    {EV_KEY, KEY_ENTER, 1}, {EV_SYN, SYN_REPORT, 0}, TAP(KEY_C, 0x06), ENTER,
};
static const struct rec seq_xy[] = {TAP(KEY_X, 0x1b), TAP(KEY_Y, 0x1c), ENTER};
static const struct rec seq_1_2[] = {TAP(KEY_1, 0x1e), ENTER, TAP(KEY_2, 0x1f), ENTER};
static const struct rec seq_7[] = {TAP(KEY_7, 0x24), ENTER};
static const struct rec seq_eleven[] = {
    TAP(KEY_1, 0x1e), TAP(KEY_2, 0x1f), TAP(KEY_3, 0x20), TAP(KEY_4, 0x21), TAP(KEY_5, 0x22),
    TAP(KEY_6, 0x23), TAP(KEY_7, 0x24), TAP(KEY_8, 0x25), TAP(KEY_9, 0x26), TAP(KEY_0, 0x27),
    TAP(KEY_1, 0x1e), ENTER,
};
static const struct rec seq_4006[] = {
    TAP(KEY_KP4, 0x5c), TAP(KEY_0, 0x27), TAP(KEY_0, 0x27), TAP(KEY_6, 0x23),
    TAP(KEY_KPENTER, 0x58),
};
/* clang-format on */

#define NREC(arr) (sizeof(arr) / sizeof((arr)[0]))

/* ---- evdev decoder ---- */

/* Feed n records; returns the results joined as "code|code|!|" ('!' for an overlong code). */
static const char *feed(struct lx_evdev *d, const struct rec *r, size_t n)
{
    static char got[512];
    got[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        struct pe_scan out;
        enum lx_evdev_result res = lx_evdev_feed(d, r[i].type, r[i].code, r[i].value, &out);
        if (res == LX_EVDEV_CODE)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s|", out.code);
        else if (res == LX_EVDEV_OVERLONG)
            snprintf(got + strlen(got), sizeof got - strlen(got), "!|");
    }
    return got;
}

#define FEED(d, arr) feed((d), (arr), NREC(arr))

static void t_evdev_digits(void)
{
    struct lx_evdev d;
    lx_evdev_init(&d, 0);
    CHECK_INT(d.maxlen, PE_SCAN_MAX - 1);
    CHECK_STR(FEED(&d, seq_ean13), "4006381333931|");
    CHECK(!lx_evdev_pending(&d));
    CHECK_STR(FEED(&d, seq_keypad), "120.9|");
    CHECK_STR(FEED(&d, seq_nothing), "");
    CHECK(!lx_evdev_pending(&d));
}

static void t_evdev_shifted(void)
{
    struct lx_evdev d;
    lx_evdev_init(&d, 20);
    CHECK_STR(FEED(&d, seq_ab_c), "Ab-C_1|");
    CHECK_STR(FEED(&d, seq_two_shifts), "XYz|");
    /* Every shifted key of the US layout, and their plain forms. */
    static const uint16_t keys[] = {
        KEY_1,         KEY_2,          KEY_3,         KEY_4,          KEY_5,     KEY_6,
        KEY_7,         KEY_8,          KEY_9,         KEY_0,          KEY_MINUS, KEY_EQUAL,
        KEY_LEFTBRACE, KEY_RIGHTBRACE, KEY_SEMICOLON, KEY_APOSTROPHE, KEY_GRAVE, KEY_BACKSLASH,
        KEY_COMMA,     KEY_DOT,        KEY_SLASH,     KEY_SPACE,      KEY_Z,     KEY_Q,
    };
    char plain[64] = "", shifted[64] = "";
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        plain[i] = lx_evdev_char(keys[i], false);
        shifted[i] = lx_evdev_char(keys[i], true);
    }
    CHECK_STR(plain, "1234567890-=[];'`\\,./ zq");
    CHECK_STR(shifted, "!@#$%^&*()_+{}:\"~|<>? ZQ");
    CHECK_INT(lx_evdev_char(KEY_KP7, true), '7');
    CHECK_INT(lx_evdev_char(KEY_ENTER, false), 0);
    CHECK_INT(lx_evdev_char(KEY_MAX, false), 0);
}

static void t_evdev_autorepeat(void)
{
    struct lx_evdev d;
    lx_evdev_init(&d, 20);
    CHECK_STR(FEED(&d, seq_repeat), "111AAa|");
}

static void t_evdev_partial_then_next(void)
{
    struct lx_evdev d;
    lx_evdev_init(&d, 20);
    CHECK_STR(FEED(&d, seq_98), "");
    CHECK(lx_evdev_pending(&d));
    /* Without a silence in between, it is all one code... */
    CHECK_STR(FEED(&d, seq_12), "9812|");
    /* ...after one (the caller's timeout drops it), only the next. */
    CHECK_STR(FEED(&d, seq_98), "");
    lx_evdev_drop(&d);
    CHECK(!lx_evdev_pending(&d));
    CHECK_STR(FEED(&d, seq_12), "12|");
    /* The drop keeps a shift that is still held. */
    CHECK_STR(FEED(&d, seq_shift_q), "");
    lx_evdev_drop(&d);
    CHECK_STR(FEED(&d, seq_w_e), "We|");
}

static void t_evdev_overlong_and_dropped_events(void)
{
    struct lx_evdev d;
    lx_evdev_init(&d, 5);
    CHECK_STR(FEED(&d, seq_123456_7), "!|7|");
    CHECK_STR(FEED(&d, seq_abcde), "abcde|"); /* exactly maxlen */
    /* Lost events void the code in progress and the shift state up to the next report. */
    CHECK_STR(FEED(&d, seq_dropped), "c|");
}

/* ---- evdev driver ---- */

static struct input_event event_of(const struct rec *r)
{
    struct input_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = r->type;
    ev.code = r->code;
    ev.value = r->value;
    return ev;
}

static void put_events(int fd, const struct rec *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct input_event ev = event_of(&r[i]);
        put(fd, &ev, sizeof ev);
    }
}

#define PUT_EVENTS(fd, arr) put_events((fd), (arr), NREC(arr))

static void t_evdev_driver_fifo(void)
{
    const char *fifo = pe_test_path(0, "events");
    CHECK(mkfifo(fifo, 0600) == 0);
    struct pe_scanner *s =
        scanner_open(&pe_linux_evdev_scanner_ops, fifo, "timeout_ms=250 maxlen=10");
    struct pe_scan out;
    CHECK_INT(pe_scanner_read(s, &out), PE_EAGAIN); /* no writer yet: nothing, not gone */
    int w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    CHECK(w >= 0);
    PUT_EVENTS(w, seq_ab_c);
    EXPECT_SCAN(s, "Ab-C_1");
    CHECK_INT(scanner_health(s), PE_HEALTH_OK); /* a FIFO is not grabbed, by design */

    /* Records split across reads. */
    const size_t esz = sizeof(struct input_event);
    unsigned char bytes[NREC(seq_xy) * sizeof(struct input_event)];
    for (size_t i = 0; i < NREC(seq_xy); i++) {
        struct input_event ev = event_of(&seq_xy[i]);
        memcpy(bytes + i * esz, &ev, esz);
    }
    put(w, bytes, 7);
    scan_drain(s);
    put(w, bytes + 7, esz * 4 - 7);
    scan_drain(s);
    put(w, bytes + esz * 4, sizeof bytes - esz * 4);
    EXPECT_SCAN(s, "xy");

    /* Two codes in one burst come out one per read. */
    PUT_EVENTS(w, seq_1_2);
    EXPECT_SCAN(s, "1");
    EXPECT_SCAN(s, "2");

    /* A partial code dropped after a silence. */
    PUT_EVENTS(w, seq_98);
    scan_drain(s);
    CHECK(!readable_within(pe_scanner_fd(s), 300));
    PUT_EVENTS(w, seq_7);
    EXPECT_SCAN(s, "7");

    /* An overlong code is dropped whole; the next is fine. */
    PUT_EVENTS(w, seq_eleven);
    PUT_EVENTS(w, seq_7);
    EXPECT_SCAN(s, "7");
    CHECK_INT(pe_scanner_read(s, &out), PE_EAGAIN);

    /* The writer goes away: the device is gone. */
    close(w);
    CHECK_INT(scan_await(s, &out, WAIT_MS), PE_EIO);
    CHECK_INT(scanner_health(s), PE_HEALTH_FAILED);
    pe_scanner_close(s);
}

/* ---- evdev driver on a real uinput keyboard ---- */

/* Create a uinput keyboard with every key the decoder knows. Returns its fd, or -1 with errno. */
static int uinput_create(void)
{
    int u = open("/dev/uinput", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (u < 0)
        return -1;
    struct uinput_setup us;
    memset(&us, 0, sizeof us);
    us.id.bustype = BUS_USB;
    us.id.vendor = 0x1d6b; /* anything */
    us.id.product = 0x0104;
    snprintf(us.name, sizeof us.name, "posedge test scanner");
    int ok = ioctl(u, UI_SET_EVBIT, EV_KEY) == 0 && ioctl(u, UI_SET_EVBIT, EV_SYN) == 0;
    for (int k = KEY_ESC; ok && k <= KEY_KPDOT; k++)
        ok = ioctl(u, UI_SET_KEYBIT, k) == 0;
    ok = ok && ioctl(u, UI_SET_KEYBIT, KEY_KPENTER) == 0 && ioctl(u, UI_DEV_SETUP, &us) == 0 &&
         ioctl(u, UI_DEV_CREATE) == 0;
    if (!ok) {
        int e = errno;
        close(u);
        errno = e;
        return -1;
    }
    return u;
}

/* The event node of the uinput device u: /dev/input/eventN once it appears, else a node made
 * in the test's directory from its sysfs dev numbers. */
static void uinput_node(int u, char *node, size_t len)
{
    char sysname[64] = "", dir[160], event[32] = "";
    CHECK(ioctl(u, UI_GET_SYSNAME(sizeof sysname), sysname) >= 0);
    snprintf(dir, sizeof dir, "/sys/devices/virtual/input/%s", sysname);
    int64_t end = pe_mono_ms() + WAIT_MS;
    while (!event[0]) {
        DIR *d = opendir(dir);
        CHECK(d != NULL);
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            if (strncmp(e->d_name, "event", 5) == 0)
                snprintf(event, sizeof event, "%.31s", e->d_name);
        closedir(d);
        CHECK(pe_mono_ms() < end);
        if (!event[0])
            (void)poll(NULL, 0, 10);
    }
    snprintf(node, len, "/dev/input/%s", event);
    while (access(node, R_OK) != 0 && pe_mono_ms() < end)
        (void)poll(NULL, 0, 10);
    if (access(node, R_OK) == 0)
        return;
    /* No devtmpfs or udev here: make the node ourselves. */
    char devfile[256];
    snprintf(devfile, sizeof devfile, "%s/%s/dev", dir, event);
    FILE *f = fopen(devfile, "r");
    CHECK(f != NULL);
    unsigned maj = 0, min = 0;
    CHECK(fscanf(f, "%u:%u", &maj, &min) == 2);
    fclose(f);
    snprintf(node, len, "%s", pe_test_path(2, event));
    if (mknod(node, S_IFCHR | 0600, makedev(maj, min)) != 0)
        pe_test_fail(__FILE__, __LINE__, "no %s/%s and mknod failed: %s", "/dev/input", event,
                     strerror(errno));
}

static void uinput_type(int u, const struct rec *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (r[i].type == EV_MSC)
            continue; /* uinput was not given EV_MSC; the kernel adds nothing we need */
        struct input_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = r[i].type;
        ev.code = r[i].code;
        ev.value = r[i].value;
        put(u, &ev, sizeof ev);
    }
}

static void t_evdev_driver_uinput(void)
{
    int u = uinput_create();
    CHECK(u >= 0);
    char node[256];
    uinput_node(u, node, sizeof node);
    struct pe_scanner *s = scanner_open(&pe_linux_evdev_scanner_ops, node, "timeout_ms=2000");
    CHECK_INT(scanner_health(s), PE_HEALTH_OK); /* grabbed */
    uinput_type(u, seq_ab_c, NREC(seq_ab_c));
    EXPECT_SCAN(s, "Ab-C_1");
    uinput_type(u, seq_4006, NREC(seq_4006));
    EXPECT_SCAN(s, "4006");
    /* Unplugged: the device node reports ENODEV. */
    CHECK(ioctl(u, UI_DEV_DESTROY) == 0);
    close(u);
    struct pe_scan out;
    CHECK_INT(scan_await(s, &out, WAIT_MS), PE_EIO);
    CHECK_INT(scanner_health(s), PE_HEALTH_FAILED);
    pe_scanner_close(s);
}

/* ---- table ---- */

static struct pe_test tests[] = {
    {"scale_nci_weights", t_scale_nci_weights},
    {"scale_nci_pounds", t_scale_nci_pounds},
    {"scale_nci_out_of_range", t_scale_nci_out_of_range},
    {"scale_nci_refused", t_scale_nci_refused},
    {"scale_noise_before_reply", t_scale_noise_before_reply},
    {"scale_truncated_frames", t_scale_truncated_frames},
    {"scale_timeout", t_scale_timeout},
    {"scale_hangup_and_back", t_scale_hangup_and_back},
    {"scale_8213", t_scale_8213},
    {"scale_8213_bad_replies", t_scale_8213_bad_replies},
    {"scale_options", t_scale_options},
    {"serial_terminators", t_serial_terminators},
    {"serial_partial_timeout", t_serial_partial_timeout},
    {"serial_overlong", t_serial_overlong},
    {"serial_hangup", t_serial_hangup},
    {"scanner_options", t_scanner_options},
    {"evdev_digits", t_evdev_digits},
    {"evdev_shifted", t_evdev_shifted},
    {"evdev_autorepeat", t_evdev_autorepeat},
    {"evdev_partial_then_next", t_evdev_partial_then_next},
    {"evdev_overlong_and_dropped_events", t_evdev_overlong_and_dropped_events},
    {"evdev_driver_fifo", t_evdev_driver_fifo},
    {"evdev_driver_uinput", t_evdev_driver_uinput}, /* last: left out without uinput */
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    /* The uinput test runs only where a keyboard can be made; elsewhere it is not counted. */
    int u = uinput_create();
    if (u >= 0) {
        (void)ioctl(u, UI_DEV_DESTROY);
        close(u);
    } else {
        int e = errno;
        printf("# uinput: not available (errno %d: %s)\n", e, strerror(e));
        tests[sizeof tests / sizeof tests[0] - 2] = (struct pe_test){NULL, NULL};
    }
    return pe_test_main("hal_linux_input", tests, argc, argv);
}

#else /* !PE_HAL_linux */

static const struct pe_test tests[] = {{NULL, NULL}};

int main(int argc, char **argv)
{
    printf("# hal_linux_input: hal/linux is not built for this board\n");
    return pe_test_main("hal_linux_input", tests, argc, argv);
}

#endif
