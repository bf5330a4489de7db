/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cutfs.c - the power-cut harness's recorder: an LD_PRELOAD interposer on the libc file calls
 * that logs, for the files under one watched folder, every change since it was synced, and cuts
 * the power (SIGKILL) before the Nth change.
 *
 * It is loaded into a release posedge-agent or posedge-bridge (LD_PRELOAD=build/sim/cutfs.so;
 * the sanitizer build interposes libc itself). Settings come from the environment:
 *   CUTFS_DIR     the watched folder (an absolute, symlink-free path: the test passes realpath)
 *   CUTFS_LOG     the operation log, a file outside that folder (created, appended to)
 *   CUTFS_SKIP    colon-separated patterns (fnmatch) of the first path component under the
 *                 folder that are not storage but the outside world: the fake printer's
 *                 receipts, the drawer's log, the -shm files (SQLite rebuilds them)
 *   CUTFS_CUT_AT  N > 0: SIGKILL the process just before its Nth logged change (0: never)
 *   CUTFS_LIE     "sync": fsync and fdatasync of a watched file are performed but not logged,
 *                 as a disk that ignores flushes would: the self-test that the harness catches
 *                 a write that is not durable
 *
 * The log is a sequence of records (struct rec, then its names and data), written with one
 * write(2) each before the change is made, so that whatever the cut leaves, every change made
 * is in the log. What a change is: WRITE (offset, new bytes), TRUNC (new size), SYNC (an fsync
 * or fdatasync of a file), DIRSYNC (an fsync of a folder), CREATE (an inode seen for the first
 * time, with its name and its bytes at that time), RENAME, UNLINK, MKDIR and LINK (names
 * relative to the watched folder). Which of those a power cut keeps is decided afterwards by
 * tests/powercut/cutfs.py from the log: a file's bytes are durable at its SYNC, a folder's
 * names at its DIRSYNC (and a new file's own name at its first SYNC, as ext4, XFS and btrfs do).
 *
 * Invariant: one mutex covers the log record and the change it describes, so a cut (raised
 * while holding it) never falls between the two, and no other thread of the process changes a
 * watched file after the cut point. Reads are not interposed: they change nothing.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

enum { R_WRITE = 1, R_TRUNC, R_SYNC, R_DIRSYNC, R_CREATE, R_RENAME, R_UNLINK, R_MKDIR, R_LINK };

struct rec {            /* one log record; name1, name2 and data follow it */
    uint32_t type;      /* R_* */
    uint32_t name1_len; /* bytes of the first name (relative to the folder) */
    uint64_t ino;       /* the file's inode (WRITE, TRUNC, SYNC, CREATE) */
    uint64_t a;         /* WRITE: offset; TRUNC: the new size */
    uint32_t name2_len; /* bytes of the second name (RENAME, LINK: the new name) */
    uint32_t pad;
    uint64_t data_len; /* bytes of data (WRITE: the new bytes; CREATE: the file's bytes) */
};

#define MAX_FD 4096
#define MAX_INO 65536

struct fdinfo { /* what an fd was last classified as */
    dev_t dev;  /* its file's device and inode when classified (0: not classified) */
    ino_t ino;
    int kind;      /* 0 outside the folder or skipped, 1 a watched file, 2 a watched folder */
    char rel[256]; /* its path relative to the folder ("" for the folder itself) */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char dir[PATH_MAX]; /* the watched folder, without a trailing slash */
static size_t dirlen;
static char skip[1024];  /* CUTFS_SKIP */
static int logfd = -1;   /* the operation log (-1: the interposer is inactive) */
static long cut_at, ops; /* cut before change number cut_at; changes logged so far */
static int lie_sync;     /* CUTFS_LIE=sync */
static struct fdinfo fds[MAX_FD];
static ino_t known[MAX_INO]; /* inodes the log (or the starting folder) already names */
static size_t nknown;

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_ftruncate)(int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);
static int (*real_mkdir)(const char *, mode_t);
static int (*real_link)(const char *, const char *);
static int (*real_close)(int);

static void die(const char *what)
{
    char buf[256];
    int n = snprintf(buf, sizeof buf, "cutfs: %s: %s\n", what, strerror(errno));
    if (n > 0)
        (void)!write(2, buf, (size_t)n);
    _exit(97);
}

static void *sym(const char *name)
{
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        errno = ENOSYS;
        die(name);
    }
    return p;
}

static int is_known(ino_t ino)
{
    for (size_t i = 0; i < nknown; i++)
        if (known[i] == ino)
            return 1;
    return 0;
}

static void forget(ino_t ino)
{
    for (size_t i = 0; i < nknown; i++)
        if (known[i] == ino) {
            known[i] = known[--nknown];
            return;
        }
}

static void remember(ino_t ino)
{
    if (!is_known(ino) && nknown < MAX_INO)
        known[nknown++] = ino;
}

static int scan_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path, (void)flag, (void)ftw;
    if (S_ISREG(st->st_mode))
        remember(st->st_ino);
    return 0;
}

__attribute__((constructor)) static void cutfs_init(void)
{
    real_open = sym("open");
    real_openat = sym("openat");
    real_write = sym("write");
    real_pwrite = sym("pwrite");
    real_writev = sym("writev");
    real_ftruncate = sym("ftruncate");
    real_fsync = sym("fsync");
    real_fdatasync = sym("fdatasync");
    real_rename = sym("rename");
    real_renameat = sym("renameat");
    real_unlink = sym("unlink");
    real_unlinkat = sym("unlinkat");
    real_mkdir = sym("mkdir");
    real_link = sym("link");
    real_close = sym("close");
    const char *d = getenv("CUTFS_DIR"), *l = getenv("CUTFS_LOG");
    if (!d || !*d || !l || !*l)
        return;
    snprintf(dir, sizeof dir, "%s", d);
    dirlen = strlen(dir);
    while (dirlen > 1 && dir[dirlen - 1] == '/')
        dir[--dirlen] = '\0';
    snprintf(skip, sizeof skip, "%s", getenv("CUTFS_SKIP") ? getenv("CUTFS_SKIP") : "");
    cut_at = getenv("CUTFS_CUT_AT") ? atol(getenv("CUTFS_CUT_AT")) : 0;
    lie_sync = getenv("CUTFS_LIE") && strcmp(getenv("CUTFS_LIE"), "sync") == 0;
    nftw(dir, scan_one, 16, FTW_PHYS);
    logfd = real_open(l, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (logfd < 0)
        die(l);
    /* A program this one starts is not under test. */
    unsetenv("LD_PRELOAD");
}

/* ---- paths ---- */

/* The path relative to the folder of path (resolved against dirfd), or NULL when it is outside
 * the folder or skipped. rel must hold PATH_MAX bytes. */
static const char *relpath(int dirfd, const char *path, char *rel)
{
    char abs[PATH_MAX * 2];
    if (path[0] == '/') {
        snprintf(abs, sizeof abs, "%s", path);
    } else {
        char base[PATH_MAX];
        if (dirfd == AT_FDCWD) {
            if (!getcwd(base, sizeof base))
                return NULL;
        } else {
            char link[64];
            snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
            ssize_t n = readlink(link, base, sizeof base - 1);
            if (n < 0)
                return NULL;
            base[n] = '\0';
        }
        snprintf(abs, sizeof abs, "%s/%s", base, path);
    }
    /* Normalise: drop "." components and doubled slashes. */
    char norm[PATH_MAX * 2];
    size_t o = 0;
    for (const char *p = abs; *p;) {
        while (*p == '/')
            p++;
        const char *e = strchrnul(p, '/');
        size_t n = (size_t)(e - p);
        if (n == 0)
            break;
        if (!(n == 1 && p[0] == '.')) {
            if (o + n + 2 >= sizeof norm)
                return NULL;
            norm[o++] = '/';
            memcpy(norm + o, p, n);
            o += n;
        }
        p = e;
    }
    norm[o] = '\0';
    if (o == 0)
        snprintf(norm, sizeof norm, "/");
    if (strncmp(norm, dir, dirlen) != 0 || (norm[dirlen] != '\0' && norm[dirlen] != '/'))
        return NULL;
    const char *r = norm + dirlen + (norm[dirlen] == '/');
    if (strlen(r) >= PATH_MAX || strstr(r, ".."))
        return NULL;
    /* Skipped: the first component matches a CUTFS_SKIP pattern. */
    char first[PATH_MAX];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(r, "/"), r);
    char pats[sizeof skip];
    snprintf(pats, sizeof pats, "%s", skip);
    char *save = NULL;
    for (char *pat = strtok_r(pats, ":", &save); pat; pat = strtok_r(NULL, ":", &save))
        if (fnmatch(pat, first, 0) == 0)
            return NULL;
    snprintf(rel, PATH_MAX, "%s", r);
    return rel;
}

/* ---- the log ---- */

static void put(const struct rec *r, const char *n1, const char *n2, const void *data)
{
    size_t total = sizeof *r + r->name1_len + r->name2_len + r->data_len;
    char stackbuf[8192];
    char *buf = total <= sizeof stackbuf ? stackbuf : malloc(total);
    if (!buf)
        die("out of memory");
    size_t o = 0;
    memcpy(buf, r, sizeof *r);
    o += sizeof *r;
    memcpy(buf + o, n1, r->name1_len);
    o += r->name1_len;
    memcpy(buf + o, n2, r->name2_len);
    o += r->name2_len;
    if (r->data_len)
        memcpy(buf + o, data, r->data_len);
    for (size_t off = 0; off < total;) {
        ssize_t n = real_write(logfd, buf + off, total - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("log write");
        off += (size_t)n;
    }
    if (buf != stackbuf)
        free(buf);
}

/* Counts one change and cuts the power before change number cut_at. Called with mu held. */
static void tick(void)
{
    if (cut_at > 0 && ++ops >= cut_at) {
        kill(getpid(), SIGKILL);
        for (;;)
            pause();
    }
}

static void log_rec(uint32_t type, uint64_t ino, uint64_t a, const char *n1, const char *n2,
                    const void *data, uint64_t data_len)
{
    struct rec r = {.type = type, .ino = ino, .a = a, .data_len = data_len};
    r.name1_len = n1 ? (uint32_t)strlen(n1) : 0;
    r.name2_len = n2 ? (uint32_t)strlen(n2) : 0;
    put(&r, n1 ? n1 : "", n2 ? n2 : "", data);
}

/* A CREATE record for a watched regular file whose inode the log does not name yet, with its
 * present bytes (empty when just created). */
static void sighting(int fd, const struct stat *st, const char *rel)
{
    if (is_known(st->st_ino))
        return;
    remember(st->st_ino);
    char *data = NULL;
    size_t n = (size_t)st->st_size;
    if (n) {
        data = malloc(n);
        if (!data)
            die("read a new file");
        if (pread(fd, data, n, 0) != (ssize_t)n) {
            /* A write-only fd: read the file through its /proc name instead. */
            char link[64];
            snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
            int rfd = real_open(link, O_RDONLY | O_CLOEXEC);
            if (rfd < 0 || pread(rfd, data, n, 0) != (ssize_t)n)
                die("read a new file");
            real_close(rfd);
        }
    }
    log_rec(R_CREATE, st->st_ino, 0, rel, NULL, data, n);
    free(data);
}

/* What fd is: 0 none of ours, 1 a watched file, 2 the folder or one under it. fds opened where
 * the interposer cannot see (stdio, mkstemp) are classified here by their /proc name; a stale
 * entry (its fd closed and reused out of sight) is caught by its inode. Called with mu held. */
static int classify(int fd, struct stat *st)
{
    if (logfd < 0 || fd < 0 || fd >= MAX_FD || fd == logfd || fstat(fd, st) != 0)
        return 0;
    struct fdinfo *f = &fds[fd];
    if (f->dev == st->st_dev && f->ino == st->st_ino && (f->dev || f->ino))
        return f->kind;
    f->dev = st->st_dev;
    f->ino = st->st_ino;
    f->kind = 0;
    char link[64], path[PATH_MAX], rel[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return 0;
    path[n] = '\0';
    if (!relpath(AT_FDCWD, path, rel) || strlen(rel) >= sizeof f->rel)
        return 0;
    snprintf(f->rel, sizeof f->rel, "%s", rel);
    if (S_ISDIR(st->st_mode))
        f->kind = 2;
    else if (S_ISREG(st->st_mode) && st->st_nlink > 0) {
        f->kind = 1;
        sighting(fd, st, rel);
    }
    return f->kind;
}

/* ---- the interposed calls ---- */

static int after_open(int fd, int flags, int existed, off_t old_size)
{
    if (fd < 0 || logfd < 0)
        return fd;
    int e = errno;
    pthread_mutex_lock(&mu);
    if (fd < MAX_FD)
        memset(&fds[fd], 0, sizeof fds[fd]);
    struct stat st;
    if (classify(fd, &st) == 1 && existed && (flags & O_TRUNC) && old_size > 0) {
        /* The truncation happened inside open: logged after the fact, never a cut point. */
        log_rec(R_TRUNC, st.st_ino, 0, NULL, NULL, NULL, 0);
    }
    pthread_mutex_unlock(&mu);
    errno = e;
    return fd;
}

static int do_openat(int dirfd, const char *path, int flags, mode_t mode)
{
    struct stat st;
    int existed = 0;
    off_t size = 0;
    if (logfd >= 0 && (flags & O_TRUNC) && fstatat(dirfd, path, &st, 0) == 0) {
        existed = 1;
        size = st.st_size;
    }
    int fd = real_openat(dirfd, path, flags, mode);
    return after_open(fd, flags, existed, size);
}

int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | __O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    return do_openat(AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | __O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    return do_openat(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

int creat(const char *path, mode_t mode)
{
    return do_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int creat64(const char *path, mode_t mode) __attribute__((alias("creat")));

int close(int fd)
{
    if (fd >= 0 && fd < MAX_FD && logfd >= 0) {
        pthread_mutex_lock(&mu);
        memset(&fds[fd], 0, sizeof fds[fd]);
        pthread_mutex_unlock(&mu);
    }
    return real_close(fd);
}

/* A write of len bytes at off (off < 0: at the fd's position), logged, then made. */
static ssize_t do_write(int fd, const void *buf, size_t len, off_t off, int positional)
{
    if (logfd < 0)
        return positional ? real_pwrite(fd, buf, len, off) : real_write(fd, buf, len);
    pthread_mutex_lock(&mu);
    struct stat st;
    if (classify(fd, &st) == 1 && len > 0) {
        off_t at = off;
        if (!positional)
            at = (fcntl(fd, F_GETFL) & O_APPEND) ? st.st_size : lseek(fd, 0, SEEK_CUR);
        tick();
        if (at >= 0)
            log_rec(R_WRITE, st.st_ino, (uint64_t)at, NULL, NULL, buf, len);
    }
    ssize_t n = positional ? real_pwrite(fd, buf, len, off) : real_write(fd, buf, len);
    int e = errno;
    pthread_mutex_unlock(&mu);
    errno = e;
    return n;
}

ssize_t write(int fd, const void *buf, size_t len)
{
    return do_write(fd, buf, len, -1, 0);
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    return do_write(fd, buf, len, off, 1);
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off) __attribute__((alias("pwrite")));

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    if (logfd < 0)
        return real_writev(fd, iov, cnt);
    size_t total = 0;
    for (int i = 0; i < cnt; i++)
        total += iov[i].iov_len;
    char *flat = malloc(total ? total : 1);
    if (!flat)
        return real_writev(fd, iov, cnt);
    size_t o = 0;
    for (int i = 0; i < cnt; i++) {
        memcpy(flat + o, iov[i].iov_base, iov[i].iov_len);
        o += iov[i].iov_len;
    }
    ssize_t n = do_write(fd, flat, total, -1, 0);
    free(flat);
    return n;
}

int ftruncate(int fd, off_t len)
{
    if (logfd < 0)
        return real_ftruncate(fd, len);
    pthread_mutex_lock(&mu);
    struct stat st;
    if (classify(fd, &st) == 1 && len != st.st_size) {
        tick();
        log_rec(R_TRUNC, st.st_ino, (uint64_t)len, NULL, NULL, NULL, 0);
    }
    int rc = real_ftruncate(fd, len), e = errno;
    pthread_mutex_unlock(&mu);
    errno = e;
    return rc;
}

int ftruncate64(int fd, off_t len) __attribute__((alias("ftruncate")));

/* An fsync or fdatasync: the file's (or folder's) changes become durable when it returns. It is
 * logged after the real call succeeds, and the cut point is before it. */
static int do_sync(int fd, int (*fn)(int))
{
    if (logfd < 0)
        return fn(fd);
    pthread_mutex_lock(&mu);
    struct stat st;
    int kind = classify(fd, &st);
    if (kind)
        tick();
    int rc = fn(fd), e = errno;
    if (rc == 0 && kind == 1 && !lie_sync)
        log_rec(R_SYNC, st.st_ino, 0, NULL, NULL, NULL, 0);
    else if (rc == 0 && kind == 2)
        log_rec(R_DIRSYNC, 0, 0, fds[fd].rel, NULL, NULL, 0);
    pthread_mutex_unlock(&mu);
    errno = e;
    return rc;
}

int fsync(int fd)
{
    return do_sync(fd, real_fsync);
}

int fdatasync(int fd)
{
    return do_sync(fd, real_fdatasync);
}

/* Forgets the inode a name leaves (its last link goes), so a new file given the same inode
 * number is logged as new. */
static void dropping(int dirfd, const char *path)
{
    struct stat st;
    if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
        st.st_nlink <= 1)
        forget(st.st_ino);
}

/* Names that change: logged (a cut point) before the call, kept in the log only if it worked
 * (a failed one is followed by no record, and the model replays only what the log holds:
 * so the record is written after the call, under the lock, with the cut before it). */
int renameat(int olddirfd, const char *from, int newdirfd, const char *to)
{
    if (logfd < 0)
        return real_renameat(olddirfd, from, newdirfd, to);
    char r1[PATH_MAX], r2[PATH_MAX];
    pthread_mutex_lock(&mu);
    const char *a = relpath(olddirfd, from, r1), *b = relpath(newdirfd, to, r2);
    struct stat st;
    if (a && b) {
        tick();
        /* The moving file must be in the log before its new name is. */
        int fd = real_openat(olddirfd, from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
            if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
                sighting(fd, &st, a);
            real_close(fd);
        }
        dropping(newdirfd, to);
    }
    int rc = real_renameat(olddirfd, from, newdirfd, to), e = errno;
    if (rc == 0 && a && b)
        log_rec(R_RENAME, 0, 0, a, b, NULL, 0);
    pthread_mutex_unlock(&mu);
    errno = e;
    return rc;
}

int rename(const char *from, const char *to)
{
    return renameat(AT_FDCWD, from, AT_FDCWD, to);
}

int unlinkat(int dirfd, const char *path, int flags)
{
    if (logfd < 0)
        return real_unlinkat(dirfd, path, flags);
    char r1[PATH_MAX];
    pthread_mutex_lock(&mu);
    const char *a = relpath(dirfd, path, r1);
    if (a) {
        tick();
        dropping(dirfd, path);
    }
    int rc = real_unlinkat(dirfd, path, flags), e = errno;
    if (rc == 0 && a)
        log_rec(R_UNLINK, 0, 0, a, NULL, NULL, 0);
    pthread_mutex_unlock(&mu);
    errno = e;
    return rc;
}

int unlink(const char *path)
{
    return unlinkat(AT_FDCWD, path, 0);
}

int mkdir(const char *path, mode_t mode)
{
    if (logfd < 0)
        return real_mkdir(path, mode);
    char r1[PATH_MAX];
    pthread_mutex_lock(&mu);
    const char *a = relpath(AT_FDCWD, path, r1);
    if (a && *a)
        tick();
    int rc = real_mkdir(path, mode), e = errno;
    if (rc == 0 && a && *a)
        log_rec(R_MKDIR, 0, 0, a, NULL, NULL, 0);
    pthread_mutex_unlock(&mu);
    errno = e;
    return rc;
}

int link(const char *from, const char *to)
{
    if (logfd < 0)
        return real_link(from, to);
    char r1[PATH_MAX], r2[PATH_MAX];
    pthread_mutex_lock(&mu);
    const char *a = relpath(AT_FDCWD, from, r1), *b = relpath(AT_FDCWD, to, r2);
    if (a && b) {
        tick();
        int fd = real_open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        struct stat st;
        if (fd >= 0) {
            if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
                sighting(fd, &st, a);
            real_close(fd);
        }
    }
    int rc = real_link(from, to), e = errno;
    if (rc == 0 && a && b)
        log_rec(R_LINK, 0, 0, a, b, NULL, 0);
    pthread_mutex_unlock(&mu);
    errno = e;
    return rc;
}
