/* SPDX-License-Identifier: Apache-2.0 */
/*
 * journal_faultvfs.c - "pe-fault", a SQLite VFS shim that fails the Nth write or sync.
 *
 * It sits over the default VFS and forwards every call, so a journal opened through it behaves
 * exactly like one opened normally, WAL and memory-mapped I/O included. While a fault is armed,
 * xWrite and xTruncate (writes) and xSync (syncs) are counted; the nth matching call (and, when
 * sticky, every later one) returns the armed error without touching the file, the way a full
 * disk or a failing device would. Tests step nth from 1 upwards until a run completes with no
 * fault triggered, which is SQLite's own I/O-error test strategy applied to the journal.
 *
 * Layout: each open file is a struct ffile whose first member is the sqlite3_file SQLite sees,
 * followed in the same allocation (szOsFile) by the real VFS's file. The methods table handed
 * to SQLite has the same iVersion as the real file's, so SQLite asks for no method the real
 * file lacks. State is plain static data: the tests that use it are single-threaded.
 */
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>

#include "posedge/err.h"
#include "posedge/faultvfs.h"

struct ffile {
    sqlite3_file base;  /* what SQLite sees; pMethods first, as SQLite requires */
    sqlite3_file *real; /* the wrapped file of the real VFS, right after this struct */
};

static struct {
    int op;        /* armed enum pe_fault_op bits, 0 when disarmed */
    int64_t nth;   /* 1-based matching call to fail */
    int err;       /* PE_EFULL or PE_EIO */
    bool sticky;   /* keep failing after the nth call */
    int64_t calls; /* matching calls since the last arm */
    int64_t fails; /* failures injected since the last arm */
} fault;

static sqlite3_vfs *real_vfs; /* the VFS underneath, the default one at registration */

/* Count a call of kind; true when it is to fail. */
static bool trip(int kind)
{
    if (!(fault.op & kind))
        return false;
    fault.calls++;
    if (fault.calls == fault.nth || (fault.sticky && fault.calls > fault.nth)) {
        fault.fails++;
        return true;
    }
    return false;
}

static sqlite3_file *real(sqlite3_file *f)
{
    return ((struct ffile *)f)->real;
}

static int f_close(sqlite3_file *f)
{
    return real(f)->pMethods->xClose(real(f));
}

static int f_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off)
{
    return real(f)->pMethods->xRead(real(f), buf, amt, off);
}

static int f_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off)
{
    if (trip(PE_FAULT_WRITE))
        return fault.err == PE_EFULL ? SQLITE_FULL : SQLITE_IOERR_WRITE;
    return real(f)->pMethods->xWrite(real(f), buf, amt, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    if (trip(PE_FAULT_WRITE))
        return fault.err == PE_EFULL ? SQLITE_FULL : SQLITE_IOERR_TRUNCATE;
    return real(f)->pMethods->xTruncate(real(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
    /* A sync fails the same way whether the disk is full or broken: the data is not durable. */
    if (trip(PE_FAULT_SYNC))
        return SQLITE_IOERR_FSYNC;
    return real(f)->pMethods->xSync(real(f), flags);
}

static int f_size(sqlite3_file *f, sqlite3_int64 *size)
{
    return real(f)->pMethods->xFileSize(real(f), size);
}

static int f_lock(sqlite3_file *f, int level)
{
    return real(f)->pMethods->xLock(real(f), level);
}

static int f_unlock(sqlite3_file *f, int level)
{
    return real(f)->pMethods->xUnlock(real(f), level);
}

static int f_check_reserved(sqlite3_file *f, int *out)
{
    return real(f)->pMethods->xCheckReservedLock(real(f), out);
}

static int f_control(sqlite3_file *f, int op, void *arg)
{
    return real(f)->pMethods->xFileControl(real(f), op, arg);
}

static int f_sector(sqlite3_file *f)
{
    return real(f)->pMethods->xSectorSize(real(f));
}

static int f_devchar(sqlite3_file *f)
{
    return real(f)->pMethods->xDeviceCharacteristics(real(f));
}

static int f_shm_map(sqlite3_file *f, int region, int size, int extend, void volatile **pp)
{
    return real(f)->pMethods->xShmMap(real(f), region, size, extend, pp);
}

static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
    return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
    real(f)->pMethods->xShmBarrier(real(f));
}

static int f_shm_unmap(sqlite3_file *f, int del)
{
    return real(f)->pMethods->xShmUnmap(real(f), del);
}

static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp)
{
    return real(f)->pMethods->xFetch(real(f), off, amt, pp);
}

static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return real(f)->pMethods->xUnfetch(real(f), off, p);
}

#define FAULT_METHODS(version)                                                                     \
    {                                                                                              \
        .iVersion = (version), .xClose = f_close, .xRead = f_read, .xWrite = f_write,              \
        .xTruncate = f_truncate, .xSync = f_sync, .xFileSize = f_size, .xLock = f_lock,            \
        .xUnlock = f_unlock, .xCheckReservedLock = f_check_reserved, .xFileControl = f_control,    \
        .xSectorSize = f_sector, .xDeviceCharacteristics = f_devchar, .xShmMap = f_shm_map,        \
        .xShmLock = f_shm_lock, .xShmBarrier = f_shm_barrier, .xShmUnmap = f_shm_unmap,            \
        .xFetch = f_fetch, .xUnfetch = f_unfetch,                                                  \
    }

/* Index i is the table for iVersion i + 1. */
static const sqlite3_io_methods methods[3] = {FAULT_METHODS(1), FAULT_METHODS(2), FAULT_METHODS(3)};

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *outflags)
{
    (void)vfs;
    struct ffile *f = (struct ffile *)file;
    f->base.pMethods = NULL; /* SQLite calls no method, not even xClose, if xOpen fails */
    f->real = (sqlite3_file *)(f + 1);
    int rc = real_vfs->xOpen(real_vfs, name, f->real, flags, outflags);
    if (rc != SQLITE_OK || !f->real->pMethods)
        return rc;
    int version = f->real->pMethods->iVersion;
    f->base.pMethods = &methods[version < 1 ? 0 : version > 3 ? 2 : version - 1];
    return SQLITE_OK;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
    (void)vfs;
    return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
    (void)vfs;
    return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int v_fullpath(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
    (void)vfs;
    return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *v_dlopen(sqlite3_vfs *vfs, const char *name)
{
    (void)vfs;
    return real_vfs->xDlOpen(real_vfs, name);
}

static void v_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
    (void)vfs;
    real_vfs->xDlError(real_vfs, n, msg);
}

static void (*v_dlsym(sqlite3_vfs *vfs, void *lib, const char *sym))(void)
{
    (void)vfs;
    return real_vfs->xDlSym(real_vfs, lib, sym);
}

static void v_dlclose(sqlite3_vfs *vfs, void *lib)
{
    (void)vfs;
    real_vfs->xDlClose(real_vfs, lib);
}

static int v_random(sqlite3_vfs *vfs, int n, char *out)
{
    (void)vfs;
    return real_vfs->xRandomness(real_vfs, n, out);
}

static int v_sleep(sqlite3_vfs *vfs, int us)
{
    (void)vfs;
    return real_vfs->xSleep(real_vfs, us);
}

static int v_time(sqlite3_vfs *vfs, double *out)
{
    (void)vfs;
    return real_vfs->xCurrentTime(real_vfs, out);
}

static int v_last_error(sqlite3_vfs *vfs, int n, char *msg)
{
    (void)vfs;
    return real_vfs->xGetLastError ? real_vfs->xGetLastError(real_vfs, n, msg) : 0;
}

static int v_time64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
    (void)vfs;
    if (real_vfs->iVersion >= 2 && real_vfs->xCurrentTimeInt64)
        return real_vfs->xCurrentTimeInt64(real_vfs, out);
    double day;
    int rc = real_vfs->xCurrentTime(real_vfs, &day);
    *out = (sqlite3_int64)(day * 86400000.0);
    return rc;
}

static sqlite3_vfs fault_vfs = {
    .iVersion = 2, /* system-call overrides (version 3) are the real VFS's business */
    .zName = "pe-fault",
    .xOpen = v_open,
    .xDelete = v_delete,
    .xAccess = v_access,
    .xFullPathname = v_fullpath,
    .xDlOpen = v_dlopen,
    .xDlError = v_dlerror,
    .xDlSym = v_dlsym,
    .xDlClose = v_dlclose,
    .xRandomness = v_random,
    .xSleep = v_sleep,
    .xCurrentTime = v_time,
    .xGetLastError = v_last_error,
    .xCurrentTimeInt64 = v_time64,
};

int pe_faultvfs_register(void)
{
    if (real_vfs)
        return PE_OK;
    sqlite3_vfs *under = sqlite3_vfs_find(NULL);
    if (!under)
        return PE_ENOTSUP;
    fault_vfs.szOsFile = (int)sizeof(struct ffile) + under->szOsFile;
    fault_vfs.mxPathname = under->mxPathname;
    real_vfs = under;
    if (sqlite3_vfs_register(&fault_vfs, 0) != SQLITE_OK) {
        real_vfs = NULL;
        return PE_ENOMEM;
    }
    return PE_OK;
}

void pe_faultvfs_arm(enum pe_fault_op op, int64_t nth, int err, bool sticky)
{
    fault.op = (int)op;
    fault.nth = nth;
    fault.err = err;
    fault.sticky = sticky;
    fault.calls = 0;
    fault.fails = 0;
}

void pe_faultvfs_disarm(void)
{
    fault.op = 0;
}

int64_t pe_faultvfs_calls(void)
{
    return fault.calls;
}

int64_t pe_faultvfs_failures(void)
{
    return fault.fails;
}
