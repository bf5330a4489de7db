/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_sqlite.c - the limit the till is measured against: raw SQLite commits per second with
 * one row per transaction, WAL and synchronous=FULL, on the disk of the given directory.
 *
 * usage: bench_sqlite DIR [SECONDS]   prints "sqlite_commits_per_s=N commits=N"
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posedge/clock.h"

static int exec(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "bench_sqlite: %s: %s\n", sql, err ? err : "?");
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_sqlite DIR [SECONDS]\n");
        return 2;
    }
    double secs = argc > 2 ? atof(argv[2]) : 3.0;
    char path[4096];
    snprintf(path, sizeof path, "%s/raw-sqlite-bench.db", argv[1]);
    unlink(path);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return 1;
    if (exec(db, "PRAGMA journal_mode=WAL") || exec(db, "PRAGMA synchronous=FULL") ||
        exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB NOT NULL)"))
        return 1;
    sqlite3_stmt *ins;
    if (sqlite3_prepare_v2(db, "INSERT INTO t(v) VALUES (?)", -1, &ins, NULL) != SQLITE_OK)
        return 1;
    char payload[300];
    memset(payload, 'x', sizeof payload);
    int64_t start = pe_mono_us(), end = start + (int64_t)(secs * 1e6), now = start;
    long n = 0;
    while ((now = pe_mono_us()) < end) {
        if (exec(db, "BEGIN"))
            return 1;
        sqlite3_bind_blob(ins, 1, payload, sizeof payload, SQLITE_STATIC);
        if (sqlite3_step(ins) != SQLITE_DONE)
            return 1;
        sqlite3_reset(ins);
        if (exec(db, "COMMIT"))
            return 1;
        n++;
    }
    sqlite3_finalize(ins);
    sqlite3_close(db);
    unlink(path);
    char wal[4200];
    snprintf(wal, sizeof wal, "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof wal, "%s-shm", path);
    unlink(wal);
    printf("sqlite_commits_per_s=%.0f commits=%ld\n", n / ((now - start) / 1e6), n);
    return 0;
}
