/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake_printer.c - the simulated receipt printer and the cash drawer behind it.
 *
 * Receipts are appended to a text file (cfg->path, else "<data_dir>/receipts.txt"), each one
 * with a single write(2) on an O_APPEND descriptor, so a receipt is never interleaved with
 * another writer's and a kill -9 between receipts leaves only whole ones. (A short write is
 * continued, which only a full disk causes.) Drawer kicks are counted and appended to
 * "<data_dir>/drawer.log". The back door pe_fake_printer_set_fail plays "paper out".
 *
 * A QR code (print_qr) is a line "QR <payload>" in the receipt, where a real printer prints
 * the symbol, and the symbol itself as a PNG (fake_qr.c) in the folder "qr" beside the
 * receipts file, named after its payload: the first 16 hex digits of SHA-256(payload) and
 * ".png", so a test finds the image of a receipt's line, and a reprint rewrites the same file.
 * The image is written to a temporary name and renamed, so a reader never sees half of one.
 * A build without the simulator draws no images (fake_qr_nosim.c), nor does the option
 * "qr_png=off" (the benchmark's till path: a real printer draws its codes itself): the line
 * alone is written. The option is the driver's only one; any other is refused at open.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>

#include "hal/fake/fake.h"
#include "posedge/clock.h"
#include "posedge/crypto.h"
#include "posedge/log.h"

#define CUT_LINE_LEN (1 + PE_RECEIPT_COLS + 1) /* "\n", the '=' rule, "\n" */

struct fake_printer {
    struct pe_printer base; /* first: the till holds a struct pe_printer * */
    int fd;                 /* the receipts file */
    int drawer_fd;          /* drawer.log, or -1 without a data directory */
    char *qr_dir;           /* the QR codes' PNG folder, made at the first code */
    bool qr_dir_made;       /* it exists (made, or found) */
    bool qr_png;            /* write the PNGs (option qr_png, default on) */
    int64_t kicks;          /* drawer kicks since open */
    bool drawer_open;       /* kicked and not yet closed through the back door */
    bool fail;              /* paper out: print and cut fail, health FAILED */
};

static struct fake_printer *fake_of(struct pe_printer *dev)
{
    return dev && dev->dev.ops == &pe_fake_printer_ops.dev ? (struct fake_printer *)dev : NULL;
}

static int open_append(const char *path, int *out)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        pe_error("hal.fake.printer.open", "path=\"%s\" err=\"%s\"", path, strerror(errno));
        return PE_EIO;
    }
    *out = fd;
    return PE_OK;
}

/* One write(2) for the whole buffer; only a short write makes a second one. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            pe_error("hal.fake.printer.write", "err=\"%s\"", w < 0 ? strerror(errno) : "no space");
            return PE_EIO;
        }
        buf += w;
        len -= (size_t)w;
    }
    return PE_OK;
}

/* The options: "qr_png=on" (the default) or "qr_png=off"; anything else is refused. */
static int parse_options(const char *o, bool *qr_png)
{
    *qr_png = true;
    while (o && *o) {
        o += strspn(o, " ,");
        size_t n = strcspn(o, " ,");
        if (n == 0)
            break;
        if (n == strlen("qr_png=on") && strncmp(o, "qr_png=on", n) == 0) {
            *qr_png = true;
        } else if (n == strlen("qr_png=off") && strncmp(o, "qr_png=off", n) == 0) {
            *qr_png = false;
        } else {
            pe_error("hal.fake.printer.options", "option=\"%.*s\" known=\"qr_png=on|off\"",
                     (int)n, o);
            return PE_EINVAL;
        }
        o += n;
    }
    return PE_OK;
}

static int printer_open(const struct pe_hal_devcfg *cfg, struct pe_device **out)
{
    bool qr_png = true;
    if (parse_options(cfg ? cfg->options : NULL, &qr_png))
        return PE_EINVAL;
    char path[4096];
    bool has_dir = cfg && cfg->data_dir && cfg->data_dir[0];
    if (cfg && cfg->path && cfg->path[0]) {
        if (snprintf(path, sizeof path, "%s", cfg->path) >= (int)sizeof path)
            return PE_EINVAL;
    } else if (has_dir) {
        if (snprintf(path, sizeof path, "%s/receipts.txt", cfg->data_dir) >= (int)sizeof path)
            return PE_EINVAL;
    } else {
        return PE_EINVAL;
    }
    struct fake_printer *p = calloc(1, sizeof *p);
    if (!p)
        return PE_ENOMEM;
    p->fd = -1;
    p->drawer_fd = -1;
    p->qr_png = qr_png;
    const char *slash = strrchr(path, '/');
    int dirlen = slash ? (int)(slash - path) : 1;
    size_t qlen = (size_t)dirlen + sizeof "/qr";
    int rc = PE_ENOMEM;
    if (!(p->qr_dir = malloc(qlen)))
        goto fail_free;
    snprintf(p->qr_dir, qlen, "%.*s/qr", dirlen, slash ? path : ".");
    rc = open_append(path, &p->fd);
    if (rc)
        goto fail_free;
    if (has_dir) {
        if (snprintf(path, sizeof path, "%s/drawer.log", cfg->data_dir) >= (int)sizeof path) {
            rc = PE_EINVAL;
            goto fail_close;
        }
        if ((rc = open_append(path, &p->drawer_fd)))
            goto fail_close;
    }
    p->base.dev.ops = &pe_fake_printer_ops.dev;
    *out = &p->base.dev;
    return PE_OK;

fail_close:
    close(p->fd);
fail_free:
    free(p->qr_dir);
    free(p);
    return rc;
}

static void printer_close(struct pe_device *dev)
{
    struct fake_printer *p = fake_of(pe_printer_of(dev));
    if (!p)
        return;
    close(p->fd);
    if (p->drawer_fd >= 0)
        close(p->drawer_fd);
    free(p->qr_dir);
    free(p);
}

static int printer_print(struct pe_printer *dev, const char *text, size_t len)
{
    struct fake_printer *p = (struct fake_printer *)dev;
    if (!text && len)
        return PE_EINVAL;
    if (p->fail)
        return PE_EIO;
    return write_all(p->fd, text, len);
}

static int printer_cut(struct pe_printer *dev)
{
    struct fake_printer *p = (struct fake_printer *)dev;
    if (p->fail)
        return PE_EIO;
    char buf[CUT_LINE_LEN];
    buf[0] = '\n';
    memset(buf + 1, '=', PE_RECEIPT_COLS);
    buf[CUT_LINE_LEN - 1] = '\n';
    return write_all(p->fd, buf, sizeof buf);
}

/* The PNG of data into the QR folder, named after data (see the top of the file). */
static int write_qr_png(struct fake_printer *p, const char *data, size_t len)
{
    uint8_t *png = NULL, digest[PE_SHA256_LEN];
    size_t pnglen = 0;
    char hex[2 * PE_SHA256_LEN + 1], path[4096], tmp[4096 + 8];
    int rc = pe_fake_qr_png(data, len, &png, &pnglen);
    if (rc)
        return rc;
    pe_sha256_2(data, len, NULL, 0, digest);
    pe_hex(digest, 8, hex);
    if (snprintf(path, sizeof path, "%s/%s.png", p->qr_dir, hex) >= (int)sizeof path) {
        rc = PE_EINVAL;
        goto out;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (!p->qr_dir_made && mkdir(p->qr_dir, 0755) != 0 && errno != EEXIST) {
        pe_error("hal.fake.printer.qr", "path=\"%s\" err=\"%s\"", p->qr_dir, strerror(errno));
        rc = PE_EIO;
        goto out;
    }
    p->qr_dir_made = true;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        pe_error("hal.fake.printer.qr", "path=\"%s\" err=\"%s\"", tmp, strerror(errno));
        rc = PE_EIO;
        goto out;
    }
    rc = write_all(fd, (const char *)png, pnglen);
    if (close(fd) != 0 && rc == PE_OK)
        rc = PE_EIO;
    if (rc == PE_OK && rename(tmp, path) != 0) {
        pe_error("hal.fake.printer.qr", "path=\"%s\" err=\"%s\"", path, strerror(errno));
        rc = PE_EIO;
    }
    if (rc)
        unlink(tmp);
out:
    free(png);
    return rc;
}

/* The line "QR <payload>" in the receipt, and the symbol as a PNG. */
static int printer_print_qr(struct pe_printer *dev, const char *data, size_t len)
{
    struct fake_printer *p = (struct fake_printer *)dev;
    if (!data || len == 0 || len >= PE_RECEIPT_QR_MAX || memchr(data, '\n', len))
        return PE_EINVAL;
    if (p->fail)
        return PE_EIO;
    char line[PE_RECEIPT_QR_MAX + 4];
    memcpy(line, "QR ", 3);
    memcpy(line + 3, data, len);
    line[3 + len] = '\n';
    int rc = p->qr_png ? write_qr_png(p, data, len) : PE_OK;
    return rc && rc != PE_ENOTSUP ? rc : write_all(p->fd, line, len + 4);
}

static int printer_drawer_kick(struct pe_printer *dev)
{
    struct fake_printer *p = (struct fake_printer *)dev;
    p->kicks++;
    p->drawer_open = true;
    if (p->drawer_fd < 0)
        return PE_OK;
    char ts[PE_TIME_STRLEN];
    pe_time_format(pe_time_now_ms(), ts);
    char line[96];
    int n = snprintf(line, sizeof line, "%s drawer kick n=%lld\n", ts, (long long)p->kicks);
    return write_all(p->drawer_fd, line, (size_t)n);
}

static int printer_drawer_is_open(struct pe_printer *dev, bool *open_)
{
    *open_ = ((struct fake_printer *)dev)->drawer_open;
    return PE_OK;
}

static int printer_health(struct pe_device *dev, enum pe_health *out)
{
    *out = ((struct fake_printer *)dev)->fail ? PE_HEALTH_FAILED : PE_HEALTH_OK;
    return PE_OK;
}

const struct pe_printer_ops pe_fake_printer_ops = {
    .dev =
        {
            .cls = PE_DEV_PRINTER,
            .name = "fake",
            .open = printer_open,
            .close = printer_close,
            .health = printer_health,
        },
    .print = printer_print,
    .cut = printer_cut,
    .drawer_kick = printer_drawer_kick,
    .drawer_is_open = printer_drawer_is_open,
    .print_qr = printer_print_qr,
};

int64_t pe_fake_printer_kicks(struct pe_printer *dev)
{
    struct fake_printer *p = fake_of(dev);
    return p ? p->kicks : 0;
}

int pe_fake_drawer_close(struct pe_printer *dev)
{
    struct fake_printer *p = fake_of(dev);
    if (!p)
        return PE_EINVAL;
    p->drawer_open = false;
    return PE_OK;
}

int pe_fake_printer_set_fail(struct pe_printer *dev, bool fail)
{
    struct fake_printer *p = fake_of(dev);
    if (!p)
        return PE_EINVAL;
    p->fail = fail;
    return PE_OK;
}
