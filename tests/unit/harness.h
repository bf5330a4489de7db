/* SPDX-License-Identifier: Apache-2.0 */
/*
 * harness.h - the unit-test harness: one program per module, each test in its own process.
 *
 * A test file lists its tests in a table and hands it to pe_test_main. Every test runs in a
 * forked child with a timeout, so a crash, a sanitizer report or a hang fails that test alone.
 * Output is one line per test, "ok - module.name" or "not ok - module.name: reason", which
 * tests/run.sh counts into the final "N passed, N failed". A CHECK that fails ends the test.
 *
 *   static void t_adds(void) { CHECK_INT(1 + 1, 2); }
 *   static const struct pe_test tests[] = {{"adds", t_adds}, {NULL, NULL}};
 *   int main(int argc, char **argv) { return pe_test_main("math", tests, argc, argv); }
 */
#ifndef POSEDGE_TEST_HARNESS_H
#define POSEDGE_TEST_HARNESS_H

#include <stdint.h>
#include <string.h>

struct pe_test {
    const char *name;
    void (*fn)(void);
};

/* Run every test (or only those named on the command line). Returns 0 when all pass. */
int pe_test_main(const char *module, const struct pe_test *tests, int argc, char **argv);

/* Fail the running test with a message; does not return. */
void pe_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

/* A fresh temporary directory for the running test, removed when the test passes. The
 * returned path is valid for the rest of the test. */
const char *pe_test_tmpdir(void);

/* Path of a file inside pe_test_tmpdir() (static buffer per call slot 0..3). */
const char *pe_test_path(int slot, const char *name);

/* The repository root (for boards/sim/catalog.json etc.): $PE_SRCDIR or ".". */
const char *pe_test_srcdir(void);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            pe_test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                                  \
    } while (0)

#define CHECK_INT(a, b)                                                                            \
    do {                                                                                           \
        long long va__ = (long long)(a), vb__ = (long long)(b);                                    \
        if (va__ != vb__)                                                                          \
            pe_test_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, va__, #b,      \
                         vb__);                                                                    \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *va__ = (a), *vb__ = (b);                                                       \
        if (!va__ || !vb__ || strcmp(va__, vb__) != 0)                                             \
            pe_test_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a,                  \
                         va__ ? va__ : "(null)", vb__ ? vb__ : "(null)");                          \
    } while (0)

/* Check that a posedge call returned PE_OK, printing the error name otherwise. */
#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        int rc__ = (expr);                                                                         \
        if (rc__ != 0)                                                                             \
            pe_test_fail(__FILE__, __LINE__, "%s returned %d", #expr, rc__);                       \
    } while (0)

#endif
