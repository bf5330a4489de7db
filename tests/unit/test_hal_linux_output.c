/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_hal_linux_output.c - unit tests of the Linux output drivers: the "escpos" receipt
 * printer and the "serial" customer display (hal/linux/).
 *
 * A pseudo-terminal stands in for the serial line: the driver opens the slave, the test reads
 * what the driver sent from the master and, for status queries, answers from a responder
 * thread that plays the printer. A plain file stands in for a printer-class device such as
 * /dev/usb/lp0. Every wait polls with a deadline; nothing sleeps to synchronise. Closing the
 * master hangs the line up, as unplugging a USB serial adapter does; a symlink as the
 * configured path, pointed at a fresh pty, plays plugging it in again (as udev's stable names
 * do), so the tests see health reopen the device.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hal/linux/linux.h"
#include "posedge/clock.h"
#include "tests/unit/harness.h"

#define WAIT_MS 3000 /* longest wait for bytes that are on their way */

/* ---- helpers ---- */

struct pty {
    int master;     /* the test's end */
    char slave[64]; /* the driver's end */
};

static void pty_open(struct pty *t)
{
    t->master = posix_openpt(O_RDWR | O_NOCTTY);
    CHECK(t->master >= 0);
    CHECK_OK(grantpt(t->master));
    CHECK_OK(unlockpt(t->master));
    const char *name = ptsname(t->master);
    CHECK(name != NULL);
    snprintf(t->slave, sizeof t->slave, "%s", name);
    CHECK_OK(fcntl(t->master, F_SETFL, O_NONBLOCK));
}

/* Up to n bytes from fd into buf, waiting up to WAIT_MS in all for them; returns the count. */
static size_t read_n(int fd, unsigned char *buf, size_t n)
{
    int64_t deadline = pe_mono_ms() + WAIT_MS;
    size_t got = 0;
    while (got < n) {
        int64_t left = deadline - pe_mono_ms();
        if (left <= 0)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        ssize_t r = read(fd, buf + got, n - got);
        if (r > 0)
            got += (size_t)r;
        else if (r == 0 || (errno != EAGAIN && errno != EINTR))
            break;
    }
    return got;
}

static void hex(char *out, size_t outlen, const unsigned char *b, size_t n)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && o + 4 < outlen; i++)
        o += (size_t)snprintf(out + o, outlen - o, "%02x ", b[i]);
}

/* Fail unless want and got (n and gn bytes) are the same, showing both in hex. */
static void same_bytes(int line, const void *got, size_t gn, const void *want, size_t n)
{
    if (gn == n && memcmp(got, want, n) == 0)
        return;
    char hg[512], hw[512];
    hex(hg, sizeof hg, got, gn);
    hex(hw, sizeof hw, want, n);
    pe_test_fail(__FILE__, line, "got %zu bytes [%s], expected %zu bytes [%s]", gn, hg, n, hw);
}

/* The next n bytes the driver sent to the master must be want. */
static void expect_bytes(int line, int master, const void *want, size_t n)
{
    unsigned char got[4096];
    if (n > sizeof got)
        pe_test_fail(__FILE__, line, "expectation too long");
    same_bytes(line, got, read_n(master, got, n), want, n);
}

/* EXPECT(fd, "literal") for literals with NUL bytes in them. */
#define EXPECT(fd, lit) expect_bytes(__LINE__, fd, lit, sizeof(lit) - 1)

/* The whole of a small file; *n is its length. Caller frees. */
static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    unsigned char *buf = malloc(1 << 20);
    CHECK(buf != NULL);
    *n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    return buf;
}

static void make_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    close(fd);
}

static struct pe_printer *printer_open(const char *path, const char *options)
{
    struct pe_hal_devcfg cfg = {.driver = "escpos", .path = path, .options = options};
    struct pe_printer *p = NULL;
    CHECK_OK(pe_printer_open(&pe_linux_printer_ops, &cfg, &p));
    CHECK(p != NULL);
    return p;
}

static int printer_open_rc(const char *path, const char *options)
{
    struct pe_hal_devcfg cfg = {.driver = "escpos", .path = path, .options = options};
    struct pe_printer *p = NULL;
    int rc = pe_printer_open(&pe_linux_printer_ops, &cfg, &p);
    if (rc == PE_OK)
        pe_printer_close(p);
    return rc;
}

static struct pe_display *display_open(const char *path, const char *options)
{
    struct pe_hal_devcfg cfg = {.driver = "serial", .path = path, .options = options};
    struct pe_display *d = NULL;
    CHECK_OK(pe_display_open(&pe_linux_display_ops, &cfg, &d));
    CHECK(d != NULL);
    return d;
}

static int display_open_rc(const char *path, const char *options)
{
    struct pe_hal_devcfg cfg = {.driver = "serial", .path = path, .options = options};
    struct pe_display *d = NULL;
    int rc = pe_display_open(&pe_linux_display_ops, &cfg, &d);
    if (rc == PE_OK)
        pe_display_close(d);
    return rc;
}

static int print_str(struct pe_printer *p, const char *s)
{
    return pe_printer_print(p, s, strlen(s));
}

/* ---- the printer's other end: answers DLE EOT n from the master ---- */

static const unsigned char noise[] = {0x00, 0xff, 'A', 0x80, 0x0a, 0x10};

struct responder {
    int master;             /* the pty master */
    int stop[2];            /* a byte written to stop[1] ends the thread */
    pthread_t thread;       /* reads queries, writes replies */
    pthread_mutex_t mu;     /* guards the fields below */
    unsigned char reply[5]; /* answer to DLE EOT n, n = 1..4 */
    bool silent;            /* answer nothing */
    bool noisy;             /* send noise, then the answer in a second write */
    int queries[5];         /* DLE EOT n seen, by n */
    int other;              /* bytes seen that were not part of a query */
};

static void *responder_run(void *arg)
{
    struct responder *r = arg;
    int state = 0; /* 0: want DLE, 1: want EOT, 2: want n */
    for (;;) {
        struct pollfd p[2] = {{.fd = r->master, .events = POLLIN},
                              {.fd = r->stop[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[1].revents)
            return NULL;
        unsigned char buf[64];
        ssize_t got = read(r->master, buf, sizeof buf);
        if (got <= 0) {
            if (got < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            return NULL; /* the slave was closed */
        }
        for (ssize_t i = 0; i < got; i++) {
            unsigned char c = buf[i];
            if (state == 2 && c >= 1 && c <= 4) {
                pthread_mutex_lock(&r->mu);
                r->queries[c]++;
                bool silent = r->silent, noisy = r->noisy;
                unsigned char ans = r->reply[c];
                pthread_mutex_unlock(&r->mu);
                if (noisy && !silent)
                    CHECK_INT(write(r->master, noise, sizeof noise), sizeof noise);
                if (!silent)
                    CHECK_INT(write(r->master, &ans, 1), 1);
                state = 0;
                continue;
            }
            if (c == 0x10)
                state = 1;
            else if (state == 1 && c == 0x04)
                state = 2;
            else {
                pthread_mutex_lock(&r->mu);
                r->other++;
                pthread_mutex_unlock(&r->mu);
                state = 0;
            }
        }
    }
}

static void responder_start(struct responder *r, int master)
{
    memset(r, 0, sizeof *r);
    r->master = master;
    r->reply[1] = r->reply[2] = r->reply[3] = r->reply[4] = 0x12; /* all well */
    CHECK_OK(pipe(r->stop));
    CHECK_OK(pthread_mutex_init(&r->mu, NULL));
    CHECK_OK(pthread_create(&r->thread, NULL, responder_run, r));
}

static void responder_stop(struct responder *r)
{
    CHECK_INT(write(r->stop[1], "x", 1), 1);
    CHECK_OK(pthread_join(r->thread, NULL));
    pthread_mutex_destroy(&r->mu);
    close(r->stop[0]);
    close(r->stop[1]);
}

/* Set the printer's answers to DLE EOT 1, 2 and 4. */
static void responder_set(struct responder *r, unsigned char s1, unsigned char s2, unsigned char s4)
{
    pthread_mutex_lock(&r->mu);
    r->reply[1] = s1;
    r->reply[2] = s2;
    r->reply[4] = s4;
    pthread_mutex_unlock(&r->mu);
}

static void responder_mode(struct responder *r, bool silent, bool noisy)
{
    pthread_mutex_lock(&r->mu);
    r->silent = silent;
    r->noisy = noisy;
    pthread_mutex_unlock(&r->mu);
}

static int responder_queries(struct responder *r, int n)
{
    pthread_mutex_lock(&r->mu);
    int q = r->queries[n];
    pthread_mutex_unlock(&r->mu);
    return q;
}

static enum pe_health health_of(struct pe_printer *p)
{
    enum pe_health h = (enum pe_health)99; /* not a health */
    CHECK_OK(pe_printer_health(p, &h));
    return h;
}

/* Status bytes: the fixed bits 0x12 and what is set. */
#define S_OK 0x12
#define S1_DRAWER_HIGH (0x12 | 0x04)
#define S1_OFFLINE (0x12 | 0x08)
#define S2_COVER_OPEN (0x12 | 0x04)
#define S2_PAPER_END_STOP (0x12 | 0x20)
#define S2_ERROR (0x12 | 0x40)
#define S2_FEED_BUTTON (0x12 | 0x08)
#define S4_NEAR_END (0x12 | 0x0c)
#define S4_END (0x12 | 0x0c | 0x60)

/* ---- printer ---- */

/* A printer-class device: the exact bytes of open, print, cut and drawer kick. */
static void t_printer_stream_file(void)
{
    const char *lp = pe_test_path(0, "lp0");
    make_file(lp);
    struct pe_printer *p = printer_open(lp, NULL);
    CHECK_STR(pe_linux_printer_ops.dev.name, "escpos");
    CHECK_OK(print_str(p, "Kaffee        2.50\nTOTAL         2.50\n"));
    CHECK_OK(pe_printer_cut(p));
    CHECK_OK(pe_printer_drawer_kick(p));
    /* status=auto is off for a device that is not a tty */
    CHECK_INT(health_of(p), PE_HEALTH_OK);
    bool open_ = false;
    CHECK_INT(pe_printer_drawer_is_open(p, &open_), PE_ENOTSUP);
    pe_printer_close(p);
    pe_printer_close(NULL);

    static const char want[] = "\x1b@"
                               "Kaffee        2.50\nTOTAL         2.50\n"
                               "\x1b\x64\x03\x1d\x56\x42\x00"
                               "\x1b\x70\x00\x32\x64";
    size_t n;
    unsigned char *got = slurp(lp, &n);
    same_bytes(__LINE__, got, n, want, sizeof want - 1);
    free(got);

    /* Options change the cut, the pin and the pulse; a reopen appends. */
    make_file(lp);
    p = printer_open(lp, "cut=full drawer_pin=5 pulse_ms=60 cols=5");
    CHECK_OK(print_str(p, "123456789"));
    CHECK_OK(pe_printer_cut(p));
    CHECK_OK(pe_printer_drawer_kick(p));
    pe_printer_close(p);
    p = printer_open(lp, "pulse_ms=510,drawer_pin=2");
    CHECK_OK(pe_printer_drawer_kick(p));
    pe_printer_close(p);
    p = printer_open(lp, "pulse_ms=200");
    CHECK_OK(pe_printer_drawer_kick(p));
    pe_printer_close(p);
    p = printer_open(lp, "pulse_ms=3");
    CHECK_OK(pe_printer_drawer_kick(p));
    pe_printer_close(p);
    static const char want2[] = "\x1b@"
                                "12345\n"
                                "\x1b\x64\x03\x1d\x56\x41\x00"
                                "\x1b\x70\x01\x1e\x3c"
                                "\x1b@"
                                "\x1b\x70\x00\xff\xff"
                                "\x1b@"
                                "\x1b\x70\x00\x64\xc8"
                                "\x1b@"
                                "\x1b\x70\x00\x01\x02";
    got = slurp(lp, &n);
    same_bytes(__LINE__, got, n, want2, sizeof want2 - 1);
    free(got);
}

/* Lines are cut to cols and anything but printable ASCII becomes '?'. */
static void t_printer_text(void)
{
    const char *lp = pe_test_path(0, "lp0");
    make_file(lp);
    struct pe_printer *p = printer_open(lp, "cols=10");
    static const char text[] = "0123456789ABC\n"
                               "t\tab\x01\n"
                               "E\xe2\x82\xac 5\r\n"
                               "\n"
                               "caf\xc3\xa9\n"
                               "x\x00y\n"
                               "\xff\x80z\n"
                               "last";
    CHECK_OK(pe_printer_print(p, text, sizeof text - 1));
    CHECK_OK(pe_printer_print(p, "", 0));
    CHECK_OK(pe_printer_print(p, NULL, 0));
    CHECK_INT(pe_printer_print(p, NULL, 3), PE_EINVAL);
    /* a receipt longer than the driver's buffer goes out whole and in order */
    char big[300 * 11 + 1], want_big[300 * 11 + 1];
    size_t o = 0;
    for (int i = 0; i < 300; i++)
        o += (size_t)snprintf(big + o, sizeof big - o, "line %03d!!\n", i);
    o = 0;
    for (int i = 0; i < 300; i++)
        o += (size_t)snprintf(want_big + o, sizeof want_big - o, "line %03d!!\n", i);
    CHECK_OK(print_str(p, big));
    pe_printer_close(p);

    static const char want[] = "\x1b@"
                               "0123456789\n"
                               "t?ab?\n"
                               "E? 5\n"
                               "\n"
                               "caf?\n"
                               "x?y\n"
                               "??z\n"
                               "last\n";
    size_t n;
    unsigned char *got = slurp(lp, &n);
    CHECK(n == sizeof want - 1 + o);
    same_bytes(__LINE__, got, sizeof want - 1, want, sizeof want - 1);
    same_bytes(__LINE__, got + sizeof want - 1, n - (sizeof want - 1), want_big, o);
    free(got);
}

/* A serial printer: the same stream over a tty, where status is on by default. */
static void t_printer_stream_tty(void)
{
    struct pty t;
    pty_open(&t);
    struct pe_printer *p = printer_open(t.slave, "baud=19200 parity=even cols=42");
    EXPECT(t.master, "\x1b@");
    CHECK_OK(print_str(p, "A\nB\n"));
    CHECK_OK(pe_printer_cut(p));
    CHECK_OK(pe_printer_drawer_kick(p));
    EXPECT(t.master, "A\nB\n\x1b\x64\x03\x1d\x56\x42\x00\x1b\x70\x00\x32\x64");

    struct responder r;
    responder_start(&r, t.master);
    CHECK_INT(health_of(p), PE_HEALTH_OK);
    CHECK_INT(responder_queries(&r, 1), 1);
    CHECK_INT(responder_queries(&r, 2), 1);
    CHECK_INT(responder_queries(&r, 3), 0);
    CHECK_INT(responder_queries(&r, 4), 1);
    pthread_mutex_lock(&r.mu);
    CHECK_INT(r.other, 0);
    pthread_mutex_unlock(&r.mu);
    responder_stop(&r);
    pe_printer_close(p);
    close(t.master);

    /* status=off on a tty: no queries, health OK without asking */
    pty_open(&t);
    p = printer_open(t.slave, "status=off");
    EXPECT(t.master, "\x1b@");
    CHECK_INT(health_of(p), PE_HEALTH_OK);
    CHECK_OK(pe_printer_drawer_kick(p));
    EXPECT(t.master, "\x1b\x70\x00\x32\x64"); /* the next bytes: no query went out */
    pe_printer_close(p);
    close(t.master);
}

/* Health from the real-time status the printer answers. */
static void t_printer_status(void)
{
    static const struct {
        unsigned char s1, s2, s4;
        enum pe_health want;
    } cases[] = {
        {S_OK, S_OK, S_OK, PE_HEALTH_OK},
        {S_OK, S_OK, S4_NEAR_END, PE_HEALTH_DEGRADED},
        {S1_OFFLINE, S2_PAPER_END_STOP, S4_END, PE_HEALTH_FAILED},
        {S_OK, S_OK, S4_END, PE_HEALTH_FAILED},
        {S1_OFFLINE, S2_COVER_OPEN, S_OK, PE_HEALTH_FAILED},
        {S1_OFFLINE, S2_ERROR, S_OK, PE_HEALTH_FAILED},
        {S1_OFFLINE, S_OK, S_OK, PE_HEALTH_FAILED},
        /* each cause counts on its own, even where the printer claims to be online */
        {S_OK, S2_COVER_OPEN, S_OK, PE_HEALTH_FAILED},
        {S_OK, S2_PAPER_END_STOP, S_OK, PE_HEALTH_FAILED},
        {S_OK, S2_ERROR, S_OK, PE_HEALTH_FAILED},
        {S_OK, S2_FEED_BUTTON, S_OK, PE_HEALTH_OK},
        {S1_DRAWER_HIGH, S_OK, S_OK, PE_HEALTH_OK},
        {S_OK, S_OK, S_OK, PE_HEALTH_OK},
    };
    struct pty t;
    pty_open(&t);
    struct pe_printer *p = printer_open(t.slave, "status_ms=1000");
    EXPECT(t.master, "\x1b@");
    struct responder r;
    responder_start(&r, t.master);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        responder_set(&r, cases[i].s1, cases[i].s2, cases[i].s4);
        enum pe_health h = health_of(p);
        if (h != cases[i].want)
            pe_test_fail(__FILE__, __LINE__, "case %zu: health %d, expected %d", i, h,
                         cases[i].want);
    }
    /* Paper out does not stop print: the caller learns of it from health. */
    responder_set(&r, S1_OFFLINE, S2_PAPER_END_STOP, S4_END);
    CHECK_INT(health_of(p), PE_HEALTH_FAILED);
    CHECK_OK(print_str(p, "x\n"));
    responder_stop(&r);
    pe_printer_close(p);
    close(t.master);
}

/* Bytes that are not status replies are skipped, and a late reply is not taken for the next. */
static void t_printer_status_noise(void)
{
    struct pty t;
    pty_open(&t);
    struct pe_printer *p = printer_open(t.slave, "status_ms=1000");
    EXPECT(t.master, "\x1b@");
    struct responder r;
    responder_start(&r, t.master);
    responder_mode(&r, false, true);
    responder_set(&r, S_OK, S_OK, S4_NEAR_END);
    CHECK_INT(health_of(p), PE_HEALTH_DEGRADED);
    responder_set(&r, S1_OFFLINE, S2_COVER_OPEN, S_OK);
    CHECK_INT(health_of(p), PE_HEALTH_FAILED);
    responder_set(&r, S_OK, S_OK, S_OK);
    CHECK_INT(health_of(p), PE_HEALTH_OK);

    /* A reply arriving after its query timed out waits in the line; the next query drains it
     * instead of taking "offline, paper end" for its answer. */
    int watch = open(t.slave, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    CHECK(watch >= 0);
    const unsigned char stale[] = {S1_OFFLINE, S2_PAPER_END_STOP};
    CHECK_INT(write(t.master, stale, sizeof stale), sizeof stale);
    struct pollfd pw = {.fd = watch, .events = POLLIN};
    CHECK_INT(poll(&pw, 1, WAIT_MS), 1); /* the stale bytes reached the driver's side */
    responder_mode(&r, false, false);
    CHECK_INT(health_of(p), PE_HEALTH_OK);
    close(watch);
    responder_stop(&r);
    pe_printer_close(p);
    close(t.master);
}

/* The drawer's switch, read through drawer_open_level. */
static void t_printer_drawer(void)
{
    struct pty t;
    pty_open(&t);
    struct pe_printer *p = printer_open(t.slave, "status_ms=1000");
    EXPECT(t.master, "\x1b@");
    struct responder r;
    responder_start(&r, t.master);
    bool open_ = false;
    responder_set(&r, S1_DRAWER_HIGH, S_OK, S_OK);
    CHECK_OK(pe_printer_drawer_is_open(p, &open_));
    CHECK(open_);
    responder_set(&r, S_OK, S_OK, S_OK);
    CHECK_OK(pe_printer_drawer_is_open(p, &open_));
    CHECK(!open_);
    CHECK_INT(responder_queries(&r, 1), 2);
    CHECK_INT(responder_queries(&r, 2), 0);
    responder_stop(&r);
    pe_printer_close(p);
    close(t.master);

    pty_open(&t);
    p = printer_open(t.slave, "status=on drawer_open_level=low status_ms=1000");
    EXPECT(t.master, "\x1b@");
    responder_start(&r, t.master);
    responder_set(&r, S1_DRAWER_HIGH, S_OK, S_OK);
    CHECK_OK(pe_printer_drawer_is_open(p, &open_));
    CHECK(!open_);
    responder_set(&r, S_OK, S_OK, S_OK);
    CHECK_OK(pe_printer_drawer_is_open(p, &open_));
    CHECK(open_);
    responder_stop(&r);
    pe_printer_close(p);
    close(t.master);
}

/* A printer that does not answer: DEGRADED within status_ms, FAILED after three checks. */
static void t_printer_status_timeout(void)
{
    struct pty t;
    pty_open(&t);
    struct pe_printer *p = printer_open(t.slave, "status_ms=100");
    EXPECT(t.master, "\x1b@");
    struct responder r;
    responder_start(&r, t.master);
    responder_mode(&r, true, false);
    int64_t t0 = pe_mono_ms();
    CHECK_INT(health_of(p), PE_HEALTH_DEGRADED);
    int64_t took = pe_mono_ms() - t0;
    CHECK(took >= 100 && took < 1000);
    CHECK_INT(responder_queries(&r, 1), 1); /* it gave up after the first silence */
    CHECK_INT(responder_queries(&r, 2), 0);
    CHECK_INT(health_of(p), PE_HEALTH_DEGRADED);
    CHECK_INT(health_of(p), PE_HEALTH_FAILED);
    bool open_ = false;
    CHECK_INT(pe_printer_drawer_is_open(p, &open_), PE_ETIMEDOUT);
    CHECK_OK(print_str(p, "still here\n")); /* silence is not a hang-up */

    responder_mode(&r, false, false);
    CHECK_INT(health_of(p), PE_HEALTH_OK);
    responder_mode(&r, true, false);
    CHECK_INT(health_of(p), PE_HEALTH_DEGRADED); /* the count of silences starts again */
    responder_stop(&r);
    pe_printer_close(p);
    close(t.master);
}

/* A line that hangs up: every op says PE_EIO, and health FAILED, until it comes back. */
static void t_printer_hangup(void)
{
    struct pty t;
    pty_open(&t);
    struct pe_printer *p = printer_open(t.slave, NULL);
    EXPECT(t.master, "\x1b@");
    close(t.master);
    CHECK_INT(print_str(p, "lost\n"), PE_EIO);
    CHECK_INT(pe_printer_cut(p), PE_EIO);
    CHECK_INT(pe_printer_drawer_kick(p), PE_EIO);
    CHECK_INT(health_of(p), PE_HEALTH_FAILED);
    bool open_;
    CHECK_INT(pe_printer_drawer_is_open(p, &open_), PE_EIO);
    CHECK_INT(print_str(p, "lost\n"), PE_EIO);
    CHECK_INT(health_of(p), PE_HEALTH_FAILED);
    pe_printer_close(p);

    /* with status off, health sees the hang-up by itself */
    pty_open(&t);
    p = printer_open(t.slave, "status=off");
    EXPECT(t.master, "\x1b@");
    close(t.master);
    CHECK_INT(health_of(p), PE_HEALTH_FAILED);
    CHECK_INT(print_str(p, "lost\n"), PE_EIO);
    pe_printer_close(p);

    /* the first op to notice is health, through a status query */
    pty_open(&t);
    p = printer_open(t.slave, "status=on");
    EXPECT(t.master, "\x1b@");
    close(t.master);
    CHECK_INT(health_of(p), PE_HEALTH_FAILED);
    CHECK_INT(pe_printer_drawer_kick(p), PE_EIO);
    pe_printer_close(p);
}

/* Point the symlink link at target, replacing it in one step. */
static void relink(const char *link, const char *target)
{
    const char *tmp = pe_test_path(3, "link.new");
    unlink(tmp);
    CHECK_OK(symlink(target, tmp));
    CHECK_OK(rename(tmp, link));
}

/* Call health until it says want, for up to WAIT_MS (the first reopen comes after 0.5 s). */
static void printer_wait_health(struct pe_printer *p, enum pe_health want)
{
    int64_t deadline = pe_mono_ms() + WAIT_MS;
    while (health_of(p) != want) {
        CHECK(pe_mono_ms() < deadline);
        poll(NULL, 0, 20); /* pacing only: the condition is what is waited for */
    }
}

/* Unplugged and plugged in again: health reopens the device and initialises it. */
static void t_printer_reopen(void)
{
    struct pty a, b;
    pty_open(&a);
    const char *link = pe_test_path(0, "printer");
    CHECK_OK(symlink(a.slave, link));
    struct pe_printer *p = printer_open(link, "status=off cols=20");
    EXPECT(a.master, "\x1b@");
    close(a.master);
    CHECK_INT(print_str(p, "lost\n"), PE_EIO);
    CHECK_INT(health_of(p), PE_HEALTH_FAILED);
    CHECK_INT(pe_printer_cut(p), PE_EIO);

    pty_open(&b);
    relink(link, b.slave);
    printer_wait_health(p, PE_HEALTH_OK);
    EXPECT(b.master, "\x1b@");
    CHECK_OK(print_str(p, "back\n"));
    CHECK_OK(pe_printer_cut(p));
    EXPECT(b.master, "back\n\x1b\x64\x03\x1d\x56\x42\x00");
    pe_printer_close(p);
    close(b.master);
}

/* A printer that takes nothing: print gives up with PE_EIO after timeout_ms. */
static void t_printer_stalled(void)
{
    struct pty t;
    pty_open(&t);
    struct pe_printer *p = printer_open(t.slave, "status=off timeout_ms=100");
    size_t len = 20000 * 21;
    char *text = malloc(len + 1);
    CHECK(text != NULL);
    for (size_t i = 0; i < len; i += 21)
        memcpy(text + i, "twenty characters...\n", 21);
    int64_t t0 = pe_mono_ms();
    CHECK_INT(pe_printer_print(p, text, len), PE_EIO);
    int64_t took = pe_mono_ms() - t0;
    CHECK(took >= 100 && took < 2000);
    free(text);
    pe_printer_close(p);
    close(t.master);
}

/* A receipt's QR code: GS ( k, the printer's own symbol, byte for byte; a payload of 300
 * bytes needs pH (fn180's length is k + 3 = 303 = 0x012f). */
static void t_printer_qr(void)
{
    const char *lp = pe_test_path(0, "lp0");
    make_file(lp);
    struct pe_printer *p = printer_open(lp, NULL);
    CHECK_OK(pe_printer_print_qr(p, "posedge-qr/1|s|t", 16));
    pe_printer_close(p);
    static const char want[] = "\x1b@"
                               "\x1b\x61\x01"
                               "\x1d\x28\x6b\x04\x00\x31\x41\x32\x00"
                               "\x1d\x28\x6b\x03\x00\x31\x43\x04"
                               "\x1d\x28\x6b\x03\x00\x31\x45\x31"
                               "\x1d\x28\x6b\x13\x00\x31\x50\x30"
                               "posedge-qr/1|s|t"
                               "\x1d\x28\x6b\x03\x00\x31\x51\x30"
                               "\x1b\x61\x00";
    size_t n;
    unsigned char *got = slurp(lp, &n);
    same_bytes(__LINE__, got, n, want, sizeof want - 1);
    free(got);

    char data[300];
    memset(data, 'A', sizeof data);
    make_file(lp);
    p = printer_open(lp, "qr_module=6");
    CHECK_OK(pe_printer_print_qr(p, data, sizeof data));
    CHECK_INT(pe_printer_print_qr(p, data, 0), PE_EINVAL);
    CHECK_INT(pe_printer_print_qr(p, NULL, 3), PE_EINVAL);
    char big[PE_RECEIPT_QR_MAX];
    memset(big, 'A', sizeof big);
    CHECK_INT(pe_printer_print_qr(p, big, sizeof big), PE_EINVAL);
    pe_printer_close(p);
    got = slurp(lp, &n);
    static const unsigned char head[] = {0x1b, '@',  0x1b, 0x61, 0x01, 0x1d, 0x28, 0x6b, 0x04,
                                         0x00, 0x31, 0x41, 0x32, 0x00, 0x1d, 0x28, 0x6b, 0x03,
                                         0x00, 0x31, 0x43, 0x06, 0x1d, 0x28, 0x6b, 0x03, 0x00,
                                         0x31, 0x45, 0x31, 0x1d, 0x28, 0x6b, 0x2f, 0x01, 0x31,
                                         0x50, 0x30};
    CHECK_INT(n, sizeof head + sizeof data + 11);
    if (n == sizeof head + sizeof data + 11) {
        same_bytes(__LINE__, got, sizeof head, head, sizeof head);
        same_bytes(__LINE__, got + sizeof head, sizeof data, data, sizeof data);
    }
    free(got);
}

static void t_printer_options(void)
{
    const char *lp = pe_test_path(0, "lp0");
    make_file(lp);
    static const char *const bad[] = {
        "speed=9600",  "cols=0",         "cols=65",
        "cols=4x",     "cols=",          "drawer_pin=3",
        "pulse_ms=1",  "pulse_ms=511",   "status=maybe",
        "cut=half",    "timeout_ms=5",   "drawer_open_level=mid",
        "baud=9600",   "parity=none",    "cols=42 colour=red",
        "status_ms=9", "status_ms=5001", "qr_module=0",
        "qr_module=17",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = printer_open_rc(lp, bad[i]);
        if (rc != PE_EINVAL)
            pe_test_fail(__FILE__, __LINE__, "\"%s\": open returned %d", bad[i], rc);
    }
    CHECK_OK(printer_open_rc(lp, "cols=64,cut=partial drawer_pin=2 status=off timeout_ms=60000"));
    CHECK_OK(printer_open_rc(lp, ""));
    CHECK_INT(printer_open_rc(pe_test_path(1, "missing"), NULL), PE_EIO);
    CHECK_INT(printer_open_rc(NULL, NULL), PE_EINVAL);
    CHECK_INT(printer_open_rc("", NULL), PE_EINVAL);
    CHECK_INT(pe_printer_open(&pe_linux_printer_ops, NULL, NULL), PE_EINVAL);

    struct pty t;
    pty_open(&t);
    CHECK_INT(printer_open_rc(t.slave, "baud=12345"), PE_EINVAL);
    CHECK_INT(printer_open_rc(t.slave, "unknown=1"), PE_EINVAL);
    close(t.master);
}

/* ---- display ---- */

/* home, line 1 padded to cols, row2, line 2 padded to cols, into out; returns the length. */
static size_t screen(char *out, const char *home, const char *l1, const char *row2, const char *l2,
                     int cols)
{
    return (size_t)sprintf(out, "%s%-*s%s%-*s", home, cols, l1, row2, cols, l2);
}

static void t_display_escpos(void)
{
    struct pty t;
    pty_open(&t);
    struct pe_display *d = display_open(t.slave, "baud=9600");
    CHECK_STR(pe_linux_display_ops.dev.name, "serial");
    EXPECT(t.master, "\x1b@");
    char want[256];
    size_t n;

    CHECK_OK(pe_display_show(d, "TOTAL", "12.50"));
    n = screen(want, "\x0c", "TOTAL", "\x1f\x24\x01\x02", "12.50", 20);
    expect_bytes(__LINE__, t.master, want, n);

    CHECK_OK(pe_display_show(d, "Pommes Frites Gross 1.20", "\xe2\x82\xac 3\tx"));
    n = screen(want, "\x0c", "Pommes Frites Gross ", "\x1f\x24\x01\x02", "? 3?x", 20);
    expect_bytes(__LINE__, t.master, want, n);

    CHECK_OK(pe_display_show(d, NULL, ""));
    n = screen(want, "\x0c", "", "\x1f\x24\x01\x02", "", 20);
    expect_bytes(__LINE__, t.master, want, n);

    CHECK_OK(pe_display_clear(d));
    EXPECT(t.master, "\x0c");
    enum pe_health h = PE_HEALTH_FAILED;
    CHECK_OK(pe_display_health(d, &h));
    CHECK_INT(h, PE_HEALTH_OK);

    close(t.master);
    CHECK_INT(pe_display_show(d, "A", "B"), PE_EIO);
    CHECK_INT(pe_display_clear(d), PE_EIO);
    CHECK_OK(pe_display_health(d, &h));
    CHECK_INT(h, PE_HEALTH_FAILED);
    pe_display_close(d);
    pe_display_close(NULL);
}

static void t_display_ansi(void)
{
    struct pty t;
    pty_open(&t);
    struct pe_display *d = display_open(t.slave, "cmdset=ansi,cols=16 baud=19200");
    char want[256];
    size_t n;
    CHECK_OK(pe_display_show(d, "Hello", "0123456789abcdefXYZ"));
    /* the first bytes on the line: ansi sends nothing at open */
    n = screen(want, "\x1b[2J\x1b[H", "Hello", "\x1b[2;1H", "0123456789abcdef", 16);
    expect_bytes(__LINE__, t.master, want, n);
    CHECK_OK(pe_display_clear(d));
    EXPECT(t.master, "\x1b[2J\x1b[H");

    /* the health check alone notices the hang-up */
    close(t.master);
    enum pe_health h;
    CHECK_OK(pe_display_health(d, &h));
    CHECK_INT(h, PE_HEALTH_FAILED);
    CHECK_INT(pe_display_show(d, "A", "B"), PE_EIO);
    pe_display_close(d);
}

/* Call health until it says want, for up to WAIT_MS (the first reopen comes after 0.5 s). */
static void display_wait_health(struct pe_display *d, enum pe_health want)
{
    int64_t deadline = pe_mono_ms() + WAIT_MS;
    enum pe_health h;
    for (;;) {
        CHECK_OK(pe_display_health(d, &h));
        if (h == want)
            return;
        CHECK(pe_mono_ms() < deadline);
        poll(NULL, 0, 20); /* pacing only: the condition is what is waited for */
    }
}

/* Unplugged and plugged in again: the display comes back with what it should show. */
static void t_display_reopen(void)
{
    struct pty a, b;
    pty_open(&a);
    const char *link = pe_test_path(0, "display");
    CHECK_OK(symlink(a.slave, link));
    struct pe_display *d = display_open(link, NULL);
    EXPECT(a.master, "\x1b@");
    CHECK_OK(pe_display_show(d, "Apfel", "1.00"));
    char want[256];
    size_t n = screen(want, "\x0c", "Apfel", "\x1f\x24\x01\x02", "1.00", 20);
    expect_bytes(__LINE__, a.master, want, n);
    close(a.master);
    CHECK_INT(pe_display_show(d, "TOTAL", "3.50"), PE_EIO); /* kept for the reopen */
    enum pe_health h = PE_HEALTH_OK;
    CHECK_OK(pe_display_health(d, &h));
    CHECK_INT(h, PE_HEALTH_FAILED);

    pty_open(&b);
    relink(link, b.slave);
    display_wait_health(d, PE_HEALTH_OK);
    n = screen(want, "\x1b@\x0c", "TOTAL", "\x1f\x24\x01\x02", "3.50", 20);
    expect_bytes(__LINE__, b.master, want, n);
    CHECK_OK(pe_display_clear(d));
    EXPECT(b.master, "\x0c");

    /* cleared while gone: it comes back blank */
    CHECK_OK(pe_display_show(d, "Birne", "0.80"));
    n = screen(want, "\x0c", "Birne", "\x1f\x24\x01\x02", "0.80", 20);
    expect_bytes(__LINE__, b.master, want, n);
    close(b.master);
    CHECK_INT(pe_display_clear(d), PE_EIO);
    pty_open(&a);
    relink(link, a.slave);
    display_wait_health(d, PE_HEALTH_OK);
    CHECK_OK(pe_display_show(d, "Danke", ""));
    n = screen(want, "\x1b@\x0c", "Danke", "\x1f\x24\x01\x02", "", 20);
    expect_bytes(__LINE__, a.master, want, n);
    pe_display_close(d);
    close(a.master);
}

static void t_display_options(void)
{
    struct pty t;
    pty_open(&t);
    static const char *const bad[] = {"speed=1",      "cols=0",   "cols=41",     "cols=x",
                                      "cmdset=vt100", "baud=300", "drawer_pin=2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = display_open_rc(t.slave, bad[i]);
        if (rc != PE_EINVAL)
            pe_test_fail(__FILE__, __LINE__, "\"%s\": open returned %d", bad[i], rc);
    }
    CHECK_OK(display_open_rc(t.slave, "cols=40 cmdset=escpos parity=odd bits=7 stop=2"));
    CHECK_OK(display_open_rc(t.slave, NULL));
    close(t.master);

    const char *file = pe_test_path(0, "not-a-tty");
    make_file(file);
    CHECK_INT(display_open_rc(file, NULL), PE_EIO);
    CHECK_INT(display_open_rc(pe_test_path(1, "missing"), NULL), PE_EIO);
    CHECK_INT(display_open_rc(NULL, NULL), PE_EINVAL);
    CHECK_INT(pe_display_open(&pe_linux_display_ops, NULL, NULL), PE_EINVAL);
}

static const struct pe_test tests[] = {
    {"printer_stream_file", t_printer_stream_file},
    {"printer_text", t_printer_text},
    {"printer_stream_tty", t_printer_stream_tty},
    {"printer_status", t_printer_status},
    {"printer_status_noise", t_printer_status_noise},
    {"printer_drawer", t_printer_drawer},
    {"printer_status_timeout", t_printer_status_timeout},
    {"printer_hangup", t_printer_hangup},
    {"printer_reopen", t_printer_reopen},
    {"printer_stalled", t_printer_stalled},
    {"printer_options", t_printer_options},
    {"printer_qr", t_printer_qr},
    {"display_escpos", t_display_escpos},
    {"display_ansi", t_display_ansi},
    {"display_reopen", t_display_reopen},
    {"display_options", t_display_options},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("hal_linux_output", tests, argc, argv);
}
