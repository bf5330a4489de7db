// SPDX-License-Identifier: Apache-2.0
/*
 * replay.c - runs a fuzz target's inputs without libFuzzer: a plain main, built with gcc in the
 * sanitizer variant (build/<board>/san/fuzz/replay_<name>), so every `make check` feeds each
 * target its seed corpus and every past crash under ASan and UBSan, with no clang installed.
 *
 * usage: replay_<name> PATH...
 * Each PATH is a file or a directory (its regular files, in name order, not recursing). For
 * each PATH it prints one line in the test harness's format, named after the directory it came
 * from (tests/fuzz/corpus/<name> -> "corpus", tests/fuzz/crashes/<name> -> "crashes"):
 *   ok - fuzz_<name>.corpus: N inputs
 * A seed corpus with no input fails (a target without seeds explores nothing in make check).
 * Each input is handed to LLVMFuzzerTestOneInput in a buffer of exactly its size (as libFuzzer
 * does, so ASan sees a read past its end); LLVMFuzzerInitialize, when the target defines it,
 * runs first. A sanitizer report ends the program with a failure status (ASAN_OPTIONS,
 * UBSAN_OPTIONS of tests/run.sh). Each input's path goes to stderr before it runs, so the
 * report follows the name of the input that caused it; ASan's report also gets a "not ok" line
 * naming it (gcc's UBSan runtime has its own death callbacks, out of reach by name).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Defined by targets that need setup; weak, so a target without it links. */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The sanitizers' hook, called before they end the program (compiler-rt's interface, in both
 * gcc's and clang's runtimes). Declared here to need no sanitizer header; weak, so a build
 * without sanitizers links. */
__attribute__((weak)) void __sanitizer_set_death_callback(void (*cb)(void));

static FILE *tap;                /* the result lines: stdout as it was before the target's setup
                                  * (a target may send its own output to /dev/null) */
static char name[128];           /* fuzz_<name>, from argv[0] */
static const char *current;      /* the input being run, for the death callback */
static const char *current_label; /* its PATH's label */

static void on_death(void)
{
    if (current) {
        fprintf(tap, "not ok - %s.%s: sanitizer report on input %s\n", name, current_label, current);
        fflush(tap);
    }
}

static int run_file(const char *path, const char *label)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(tap, "not ok - %s.%s: cannot open %s: %s\n", name, label, path, strerror(errno));
        return -1;
    }
    size_t cap = 4096, len = 0;
    unsigned char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            unsigned char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        fprintf(tap, "not ok - %s.%s: cannot read %s\n", name, label, path);
        return -1;
    }
    /* Exactly len bytes (malloc(0) may return NULL: one byte then, with size 0). */
    unsigned char *exact = malloc(len ? len : 1);
    if (!exact) {
        free(buf);
        fprintf(tap, "not ok - %s.%s: out of memory for %s\n", name, label, path);
        return -1;
    }
    memcpy(exact, buf, len);
    free(buf);
    current = path;
    current_label = label;
    fprintf(stderr, "replay: %s\n", path);
    LLVMFuzzerTestOneInput(exact, len);
    current = NULL;
    free(exact);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The label of PATH: the name of the directory above a target's directory (corpus, crashes),
 * or the last component of a plain file's directory. */
static void label_of(const char *path, int is_dir, char *out, size_t outlen)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    size_t l = strlen(tmp);
    while (l > 1 && tmp[l - 1] == '/')
        tmp[--l] = '\0';
    /* Drop the last component (a directory's own name is the target's; a file's is its own). */
    char *slash = strrchr(tmp, '/');
    if (!slash) {
        snprintf(out, outlen, "%s", is_dir ? "inputs" : tmp);
        return;
    }
    *slash = '\0';
    slash = strrchr(tmp, '/');
    snprintf(out, outlen, "%s", slash ? slash + 1 : tmp);
}

static int run_path(const char *path)
{
    struct stat st;
    char label[256];
    if (stat(path, &st) != 0) {
        fprintf(tap, "not ok - %s.%s: %s\n", name, path, strerror(errno));
        return -1;
    }
    label_of(path, S_ISDIR(st.st_mode), label, sizeof label);
    if (!S_ISDIR(st.st_mode)) {
        if (run_file(path, label) != 0)
            return -1;
        fprintf(tap, "ok - %s.%s: 1 inputs\n", name, label);
        return 0;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(tap, "not ok - %s.%s: cannot open %s: %s\n", name, label, path, strerror(errno));
        return -1;
    }
    char **files = NULL;
    size_t nfiles = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t plen = strlen(path) + strlen(e->d_name) + 2;
        char *p = malloc(plen);
        if (!p) {
            rc = -1;
            break;
        }
        snprintf(p, plen, "%s/%s", path, e->d_name);
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(p);
            continue;
        }
        if (nfiles == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **nf = realloc(files, ncap * sizeof *nf);
            if (!nf) {
                free(p);
                rc = -1;
                break;
            }
            files = nf;
            cap = ncap;
        }
        files[nfiles++] = p;
    }
    closedir(d);
    if (rc == 0 && nfiles)
        qsort(files, nfiles, sizeof *files, cmp_names);
    size_t ran = 0;
    for (size_t i = 0; rc == 0 && i < nfiles; i++) {
        if (run_file(files[i], label) != 0)
            rc = -1;
        else
            ran++;
    }
    for (size_t i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    if (rc != 0) {
        fprintf(tap, "not ok - %s.%s: stopped after %zu of %zu inputs\n", name, label, ran, nfiles);
        return -1;
    }
    if (ran == 0 && strcmp(label, "corpus") == 0) {
        fprintf(tap, "not ok - %s.%s: no seed input in %s\n", name, label, path);
        return -1;
    }
    fprintf(tap, "ok - %s.%s: %zu inputs\n", name, label, ran);
    return 0;
}

int main(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (strncmp(base, "replay_", 7) == 0)
        base += 7;
    snprintf(name, sizeof name, "fuzz_%s", base);
    if (argc < 2) {
        fprintf(stderr, "usage: %s PATH...\n", argv[0]);
        return 2;
    }
    int fd = dup(STDOUT_FILENO);
    tap = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!tap) {
        perror("replay: stdout");
        return 2;
    }
    setvbuf(tap, NULL, _IOLBF, 0);
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(on_death);
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    int failed = 0;
    for (int i = 1; i < argc; i++)
        if (run_path(argv[i]) != 0)
            failed = 1;
    return failed;
}
