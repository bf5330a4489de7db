/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_tmp.h - what the fuzz targets that read files share: one temporary directory
 * per process, made on first use (in /dev/shm when it is there: tmpfs keeps a target fast) and
 * removed at exit, and writing an input into a file inside it.
 *
 * The invariant: a target writes nothing outside this directory, and the directory holds only
 * what the current input made (fuzz_tmp_clean empties it between inputs). A process that ends
 * without running its exit handlers (libFuzzer's _Exit on a crash, a timeout or a merge's
 * child) leaves its directory behind; it is named after the process (pe-fuzz-<pid>-XXXXXX),
 * and the next target to start removes those whose process is gone.
 */
#ifndef POSEDGE_TESTS_FUZZ_TMP_H
#define POSEDGE_TESTS_FUZZ_TMP_H

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "posedge/log.h"

static char fuzz_tmp_dir[64];

/* Remove everything inside the directory (one level: the targets make no subdirectories
 * except those named here, which are emptied too). */
static void fuzz_tmp_clean_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    if (!d)
        return;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (unlink(p) != 0) { /* a directory: empty it, then remove it */
            DIR *sub = opendir(p);
            struct dirent *f;
            char q[1024];
            while (sub && (f = readdir(sub)))
                if (strcmp(f->d_name, ".") && strcmp(f->d_name, "..")) {
                    snprintf(q, sizeof q, "%s/%s", p, f->d_name);
                    unlink(q);
                }
            if (sub)
                closedir(sub);
            rmdir(p);
        }
    }
    closedir(d);
}

static void fuzz_tmp_clean(void)
{
    fuzz_tmp_clean_dir(fuzz_tmp_dir);
}

/* Remove the directories under base left by fuzz processes that are gone. */
static void fuzz_tmp_reap(const char *base)
{
    DIR *d = opendir(base);
    struct dirent *e;
    char p[512];
    long pid;
    while (d && (e = readdir(d))) {
        if (sscanf(e->d_name, "pe-fuzz-%ld-", &pid) != 1 || pid <= 0 || kill((pid_t)pid, 0) == 0 ||
            errno != ESRCH)
            continue;
        snprintf(p, sizeof p, "%s/%s", base, e->d_name);
        fuzz_tmp_clean_dir(p);
        rmdir(p);
    }
    if (d)
        closedir(d);
}

static void fuzz_tmp_remove(void)
{
    fuzz_tmp_clean();
    rmdir(fuzz_tmp_dir);
}

/* The directory, made on the first call (with the log silenced: a fuzzer's millions of inputs
 * would fill a disk with warnings about bad input). Aborts when it cannot be made. */
static const char *fuzz_tmp(void)
{
    if (!fuzz_tmp_dir[0]) {
        struct stat st;
        const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
        fuzz_tmp_reap(base);
        snprintf(fuzz_tmp_dir, sizeof fuzz_tmp_dir, "%s/pe-fuzz-%ld-XXXXXX", base, (long)getpid());
        if (!mkdtemp(fuzz_tmp_dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(fuzz_tmp_remove);
        pe_log_set_level(PE_LOG_OFF);
    }
    return fuzz_tmp_dir;
}

/* Write data into <dir>/name; the path into path (pathlen bytes). Aborts on failure (the
 * harness's fault, not the input's). */
static void fuzz_tmp_write(const char *name, const uint8_t *data, size_t size, char *path,
                           size_t pathlen)
{
    snprintf(path, pathlen, "%s/%s", fuzz_tmp(), name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
}

#endif
