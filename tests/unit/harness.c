/* SPDX-License-Identifier: Apache-2.0 */
/*
 * harness.c - runs each unit test in a forked child with a timeout and reports one line per
 * test. The parent never runs test code, so one broken test cannot hide the others' results.
 */
#include "tests/unit/harness.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEST_TIMEOUT_S 120

/* _exit skips LeakSanitizer's check at exit: in the sanitizer build each test asks for it. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define LEAK_CHECK() __lsan_do_leak_check()
#else
#define LEAK_CHECK() ((void)0)
#endif

static char tmpdir[256];
static char paths[4][512];

void pe_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "    %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    _exit(1);
}

const char *pe_test_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/pe-unit-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir))
            pe_test_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
    }
    return tmpdir;
}

const char *pe_test_path(int slot, const char *name)
{
    if (slot < 0 || slot > 3)
        pe_test_fail(__FILE__, __LINE__, "bad path slot %d", slot);
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", pe_test_tmpdir(), name);
    return paths[slot];
}

const char *pe_test_srcdir(void)
{
    const char *s = getenv("PE_SRCDIR");
    return s && *s ? s : ".";
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int run_one(const char *module, const struct pe_test *t)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        printf("not ok - %s.%s: fork failed\n", module, t->name);
        return 1;
    }
    if (pid == 0) {
        alarm(TEST_TIMEOUT_S);
        t->fn();
        if (tmpdir[0])
            nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        fflush(stdout);
        LEAK_CHECK(); /* a leak ends the child with ASAN_OPTIONS' exitcode: a failed test */
        _exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        printf("ok - %s.%s\n", module, t->name);
        return 0;
    }
    if (WIFSIGNALED(status))
        printf("not ok - %s.%s: killed by signal %d%s\n", module, t->name, WTERMSIG(status),
               WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
    else
        printf("not ok - %s.%s: exit status %d\n", module, t->name, WEXITSTATUS(status));
    return 1;
}

int pe_test_main(const char *module, const struct pe_test *tests, int argc, char **argv)
{
    int failed = 0, passed = 0;
    setvbuf(stdout, NULL, _IOLBF, 0);
    for (const struct pe_test *t = tests; t->name; t++) {
        if (argc > 1) {
            int wanted = 0;
            for (int i = 1; i < argc; i++)
                wanted |= strcmp(argv[i], t->name) == 0;
            if (!wanted)
                continue;
        }
        if (run_one(module, t))
            failed++;
        else
            passed++;
    }
    printf("# %s: %d passed, %d failed\n", module, passed, failed);
    return failed ? 1 : 0;
}
