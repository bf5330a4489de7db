/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_allocfail.c - allocation failures, SQLite's way (its test_malloc.c): the Nth allocation
 * fails, and N steps over whole runs of the journal, the spool, the bridge's intake and the
 * output profiles, N = 1, 2, 3, ... until a run completes without reaching the failure.
 *
 * Which allocations count: the project's own (malloc, calloc, realloc, strdup, strndup,
 * asprintf, vasprintf called from common/, store/ and bridge/), through the linker's --wrap
 * (the Makefile links this program alone with it: no hook in the code that ships, and every
 * call site is covered, including those a hook would have to be threaded through); cJSON's
 * with them (common/json.c gives cJSON its malloc, so the events, the configuration and every
 * document, all cJSON trees, count); SQLite's, through SQLITE_CONFIG_MALLOC set before SQLite
 * initialises. Not stepped: Avro C's (avro_set_allocator would reach them, but Debian's
 * libavro 1.11 dereferences NULL in avro_schema_from_json_length when one fails: not ours to
 * fix, so the Avro profiles are stepped over the project's allocations only), mbedTLS's
 * (Debian's is built without MBEDTLS_PLATFORM_MEMORY: no hook), OpenSSL's and librdkafka's.
 *
 * Each failure is transient (only the Nth allocation fails), and what must hold after it: the
 * operation returned an error it documents (PE_ENOMEM, or PE_EIO where SQLite folds its own
 * failure into one), never success with missing data, never a crash, a leak or a sanitizer
 * report; with allocations working again the stored state is consistent (the journal or spool
 * opened afresh verifies, every record before is there byte for byte, the failed operation
 * happened whole or not at all); and retrying it, then the rest of the run, ends in exactly the
 * state of a run without failure. Each test prints "# <scenario>: N allocation points stepped".
 */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bridge/bridge_cfg.h"
#include "bridge/profile.h"
#include "bridge/sigcheck.h"
#include "posedge/archive.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/journal.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/signer.h"
#include "posedge/spool.h"
#include "tests/unit/harness.h"

/* PE_ALLOCFAIL_TRACE=1: the stack of every allocation made to fail (to find a bug's site). */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define TRACE_HERE() __sanitizer_print_stack_trace()
#else
#define TRACE_HERE() ((void)0)
#endif

#define STORE "s001"
#define TERMINAL "t01"
#define T0 1795256102000LL

/* ---- the allocation counter ---- */

/* Two classes of allocation point, each stepped on its own: the project's own (its calls to the
 * C library, cJSON's and Avro C's on its behalf), whose error paths are what is under test and
 * which are stepped one by one; and SQLite's, many more per run (a schema is hundreds of them),
 * of which a scenario may step every stride-th (how the project takes SQLITE_NOMEM from any
 * statement; SQLite's own paths are proven by SQLite's test_malloc). */
enum af_class { AF_OWN, AF_SQLITE, AF_NCLASS };

static struct {
    bool on;              /* counting (only around the operations under test) */
    enum af_class cls;    /* the class whose fail_at-th allocation fails */
    int64_t n[AF_NCLASS]; /* allocations counted since af_arm, per class */
    int64_t fail_at;      /* the one that fails (1-based) */
    int64_t failed;       /* failures injected since af_arm */
} af;

static void af_arm(enum af_class cls, int64_t nth)
{
    memset(af.n, 0, sizeof af.n);
    af.failed = 0;
    af.cls = cls;
    af.fail_at = nth;
    af.on = true;
}

static void af_disarm(void)
{
    af.on = false;
}

static bool af_fail_in(enum af_class cls)
{
    if (!af.on || ++af.n[cls] != af.fail_at || cls != af.cls)
        return false;
    af.failed++;
    if (getenv("PE_ALLOCFAIL_TRACE"))
        TRACE_HERE();
    return true;
}

static bool af_fail(void)
{
    return af_fail_in(AF_OWN);
}

/* The project's allocations (-Wl,--wrap=malloc,... for this program: ALLOCFAIL_WRAP in the
 * Makefile). */
void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
int __real_vasprintf(char **out, const char *fmt, va_list ap);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_vasprintf(char **out, const char *fmt, va_list ap);
int __wrap_asprintf(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void *__wrap_malloc(size_t n)
{
    return af_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n)
{
    return af_fail() ? NULL : __real_calloc(k, n);
}

void *__wrap_realloc(void *p, size_t n)
{
    return n && af_fail() ? NULL : __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    return af_fail() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return af_fail() ? NULL : __real_strndup(s, n);
}

int __wrap_vasprintf(char **out, const char *fmt, va_list ap)
{
    return af_fail() ? -1 : __real_vasprintf(out, fmt, ap);
}

int __wrap_asprintf(char **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = __wrap_vasprintf(out, fmt, ap);
    va_end(ap);
    return n;
}

/* SQLite's allocations: its default allocator behind a counting front. */
static sqlite3_mem_methods sq_real;

static void *sq_malloc(int n)
{
    return af_fail_in(AF_SQLITE) ? NULL : sq_real.xMalloc(n);
}

static void *sq_realloc(void *p, int n)
{
    return af_fail_in(AF_SQLITE) ? NULL : sq_real.xRealloc(p, n);
}

/* Before anything initialises SQLite (the harness's parent never does). */
static void af_hooks(void)
{
    if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &sq_real) != SQLITE_OK)
        pe_test_fail(__FILE__, __LINE__, "SQLITE_CONFIG_GETMALLOC");
    sqlite3_mem_methods m = sq_real;
    m.xMalloc = sq_malloc;
    m.xRealloc = sq_realloc;
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &m) != SQLITE_OK)
        pe_test_fail(__FILE__, __LINE__, "SQLITE_CONFIG_MALLOC");
}

/* ---- the stepper ---- */

/*
 * One scenario: ops run in order, each returning PE_OK or its error. fresh makes the state a
 * run starts from; check runs after op i failed with rc (allocations working again): it checks
 * rc and the stored state and leaves the context so that op i can be retried; final checks the
 * end state of a completed run against the reference and frees.
 */
struct scenario {
    const char *name;
    int first; /* ops before it set the scene, with allocations working (not stepped) */
    int nops;
    void (*fresh)(void *ctx);
    int (*op)(void *ctx, int i);
    void (*check)(void *ctx, int i, int rc);
    void (*final)(void *ctx);
};

/* SQLite's allocation points stepped per scenario (a schema alone is thousands of them). */
#define SQLITE_POINTS 40

/* Step N over every allocation of class cls in sc's run (stride > 1: every stride-th one).
 * Returns the points stepped; *total gets the class's allocations in a whole run. */
static int64_t step_class(const struct scenario *sc, void *ctx, enum af_class cls, int64_t stride,
                          int64_t *total)
{
    int64_t n, stepped = 0;
    /* PE_ALLOCFAIL_VERBOSE=1: a line per run; PE_ALLOCFAIL_FROM=N: start there (debugging). */
    bool verbose = getenv("PE_ALLOCFAIL_VERBOSE") != NULL;
    const char *from = getenv("PE_ALLOCFAIL_FROM");
    bool counting = stride > INT64_MAX / 4; /* a run without failure, to count */
    for (n = counting ? stride : from ? atoll(from) : 1;; n += stride) {
        sc->fresh(ctx);
        int i = 0, rc = PE_OK;
        for (; i < sc->first; i++)
            if ((rc = sc->op(ctx, i)) != PE_OK)
                pe_test_fail(__FILE__, __LINE__, "%s: op %d (setting the scene) failed: %s",
                             sc->name, i, pe_errname(rc));
        af_arm(cls, n);
        while (i < sc->nops && (rc = sc->op(ctx, i)) == PE_OK)
            i++;
        bool hit = af.failed > 0;
        int64_t counted = af.n[cls];
        af_disarm();
        int fi = i, frc = rc;
        if (i < sc->nops) {
            if (!hit)
                pe_test_fail(__FILE__, __LINE__, "%s: op %d failed with %s, no allocation failed",
                             sc->name, i, pe_errname(rc));
            sc->check(ctx, i, rc);
            for (; i < sc->nops; i++)
                if ((rc = sc->op(ctx, i)) != PE_OK)
                    pe_test_fail(__FILE__, __LINE__, "%s: N=%lld: op %d failed again: %s", sc->name,
                                 (long long)n, i, pe_errname(rc));
        }
        sc->final(ctx);
        if (verbose)
            fprintf(stderr, "%s: class %d N=%lld op=%d rc=%s\n", sc->name, cls, (long long)n, fi,
                    pe_errname(frc));
        if (!hit) {
            *total = counted;
            return stepped;
        }
        stepped++;
    }
}

/* Both classes; one "# " line saying how many points were stepped. SQLite's are stepped at a
 * stride that makes about SQLITE_POINTS of them (every one in a short run), learnt from a run
 * without failure. */
static void step(const struct scenario *sc, void *ctx, int64_t own_stride)
{
    int64_t own_total = 0, sq_total = 0;
    step_class(sc, ctx, AF_SQLITE, INT64_MAX / 2, &sq_total);
    int64_t sqlite_stride = sq_total / SQLITE_POINTS + 1;
    if (sqlite_stride > 1 && sqlite_stride % 2 == 0)
        sqlite_stride++; /* odd: not always the same site of a pattern of even length */
    const char *st = getenv("PE_ALLOCFAIL_STRIDE"); /* debugging: a quicker pass */
    if (st)
        own_stride = atoll(st);
    int64_t own = step_class(sc, ctx, AF_OWN, own_stride, &own_total);
    int64_t sq = step_class(sc, ctx, AF_SQLITE, sqlite_stride, &sq_total);
    printf("# %s: %lld allocation points stepped: %lld of %lld own%s, %lld of %lld SQLite's%s\n",
           sc->name, (long long)(own + sq), (long long)own, (long long)own_total,
           own_stride > 1 ? " (a stride)" : "", (long long)sq, (long long)sq_total,
           sqlite_stride > 1 ? " (a stride)" : "");
    fflush(stdout);
}

/* rc is PE_ENOMEM, or one of the other codes the operation documents for it. */
static void expect_err(const char *what, int rc, const int *also)
{
    if (rc == PE_ENOMEM)
        return;
    for (; also && *also; also++)
        if (rc == *also)
            return;
    pe_test_fail(__FILE__, __LINE__, "%s failed on an allocation failure with %s (%d)", what,
                 pe_errname(rc), rc);
}

static const int IO[] = {PE_EIO, 0};

/* ---- files ---- */

static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(in >= 0 && out >= 0);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        CHECK(write(out, buf, (size_t)n) == n);
    CHECK(n == 0);
    close(in);
    close(out);
}

/* Remove path and its -wal, -shm and .new companions. */
static void remove_db(const char *path)
{
    char p[600];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    snprintf(p, sizeof p, "%s.new", path);
    unlink(p);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- a signed journal: the fixture every scenario starts from ---- */

#define NBASE 2  /* records of the template: signer_installed, a sale */
#define NSALES 2 /* sales each journal run appends */
#define NREC (NBASE + NSALES)

static int64_t fixed_now = T0;

static int64_t test_clock(void *ctx)
{
    (void)ctx;
    return fixed_now++;
}

static int signer_open(const char *key, struct pe_signer **out)
{
    struct pe_signer_conf c = {
        .key_file = key, .store = STORE, .terminal = TERMINAL, .now = test_clock};
    char err[256];
    return pe_signer_open(pe_signer_find("software"), &c, out, err, sizeof err);
}

static int journal_open(const char *path, bool readonly, struct pe_journal **out)
{
    struct pe_journal_opts o = {
        .store = STORE, .terminal = TERMINAL, .check = true, .readonly = readonly};
    char err[512];
    return pe_journal_open(path, &o, out, err, sizeof err);
}

static void meta_of(struct pe_event_meta *m, int n, enum pe_event_type type)
{
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "0a1b2c3d-0000-4000-8000-%012d", n);
    strcpy(m->store, STORE);
    strcpy(m->terminal, TERMINAL);
    strcpy(m->operator_, "op1");
    m->type = type;
    m->ts_ms = T0 + n * 1000;
}

/* A sale of two lines, one weighed, paid cash and card (record n). */
static int sale_body(int n, cJSON **out)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"currency\":\"EUR\",\"lines\":[{\"amount\":%d,\"barcode\":\"2145427049688\","
             "\"brand\":\"Aveline\",\"category\":\"Skincare\",\"discount\":0,\"item\":"
             "\"SKU-00001\",\"line\":1,\"name\":\"Aveline Day Cream 50ml\",\"qty\":2,\"tax_bp\":"
             "2000,\"unit\":\"each\",\"unit_price\":1499},{\"amount\":127,\"barcode\":"
             "\"2036804399352\",\"brand\":\"Sunfield Farm\",\"category\":\"Produce\",\"discount\""
             ":0,\"item\":\"SKU-00203\",\"line\":2,\"name\":\"Bananas\",\"qty\":640,\"tax_bp\":"
             "550,\"unit\":\"g\",\"unit_price\":199}],\"tenders\":[{\"amount\":1000,\"method\":"
             "\"cash\"},{\"amount\":%d,\"last4\":\"1111\",\"method\":\"card\"}],\"totals\":{"
             "\"change\":0,\"discount\":0,\"subtotal\":%d,\"tax\":507,\"tendered\":%d,\"total\":"
             "%d}}",
             2998 + n, 2125 + n, 3125 + n, 3125 + n, 3125 + n);
    char why[128];
    return pe_json_parse(text, strlen(text), out, why, sizeof why);
}

/* Record n (a sale, or the signer_installed for n = 1) in a transaction of its own. */
static int journal_event(struct pe_journal *j, const struct pe_signer *s, int n)
{
    struct pe_event_meta m;
    struct pe_journal_appended a;
    cJSON *b = NULL;
    meta_of(&m, n, n == 1 ? PE_EV_SIGNER_INSTALLED : PE_EV_SALE);
    int rc = n == 1 ? pe_signer_installed_body(pe_signer_key(s), &b) : sale_body(n, &b);
    if (rc == PE_OK && (rc = pe_journal_begin(j)) == PE_OK) {
        rc = pe_journal_append(j, &m, b, &a);
        if (rc == PE_OK)
            rc = pe_journal_commit(j);
        else
            pe_journal_rollback(j);
    }
    cJSON_Delete(b);
    return rc;
}

/* What the fixture holds: the key, the template journal of NBASE records, and the records of a
 * journal run without failure (bytes and sig column), the reference. */
struct fixture {
    char key[512], tmpl[512], full[512];
    char *rec[NREC + 1];
    size_t len[NREC + 1];
    char *sig[NREC + 1];
    size_t siglen[NREC + 1];
    char hash[NREC + 1][PE_SHA256_HEXLEN];
};

static struct fixture fx;

static char *dup_bytes(const void *p, size_t n)
{
    char *s = malloc(n + 1);
    CHECK(s);
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

/* Every record of the journal at path, checked against the reference (or taken as it when
 * take). Returns the count. */
static int64_t journal_records(const char *path, bool take)
{
    struct pe_journal *j = NULL;
    CHECK_OK(journal_open(path, true, &j));
    struct pe_journal_iter *it = NULL;
    struct pe_journal_rec r;
    CHECK_OK(pe_journal_iter_open(j, 1, NULL, &it));
    int64_t n = 0;
    int rc;
    while ((rc = pe_journal_iter_next(it, &r)) == PE_OK) {
        n++;
        CHECK_INT(r.seq, n);
        CHECK(n <= NREC);
        if (take) {
            fx.rec[n] = dup_bytes(r.record, r.len);
            fx.len[n] = r.len;
            fx.sig[n] = r.sig ? dup_bytes(r.sig, r.siglen) : NULL;
            fx.siglen[n] = r.siglen;
            snprintf(fx.hash[n], sizeof fx.hash[n], "%s", r.hash);
        } else {
            if (r.len != fx.len[n] || memcmp(r.record, fx.rec[n], r.len) != 0)
                pe_test_fail(__FILE__, __LINE__, "record %lld differs from the reference",
                             (long long)n);
        }
    }
    CHECK_INT(rc, PE_EEOF);
    pe_journal_iter_close(it);
    struct pe_journal_verify_result v;
    rc = pe_journal_verify(j, &v);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "verify: %s bad_seq=%lld why=%s", pe_errname(rc),
                     (long long)v.bad_seq, v.why);
    CHECK_INT(v.count, n);
    CHECK_INT(v.nsigned, n);
    pe_journal_close(j);
    return n;
}

/* The key and the template; and the reference records, from a journal taken to NREC. */
static void fixture_make(void)
{
    snprintf(fx.key, sizeof fx.key, "%s", pe_test_path(0, "signer.key"));
    snprintf(fx.tmpl, sizeof fx.tmpl, "%s", pe_test_path(1, "template.db"));
    struct pe_signer *s = NULL;
    struct pe_journal *j = NULL;
    CHECK_OK(signer_open(fx.key, &s));
    CHECK_OK(journal_open(fx.tmpl, false, &j));
    CHECK_OK(pe_journal_set_signer(j, s));
    for (int n = 1; n <= NBASE; n++)
        CHECK_OK(journal_event(j, s, n));
    pe_journal_close(j);
    const char *full = fx.full;
    snprintf(fx.full, sizeof fx.full, "%s", pe_test_path(2, "reference.db"));
    copy_file(fx.tmpl, full);
    CHECK_OK(journal_open(full, false, &j));
    CHECK_OK(pe_journal_set_signer(j, s));
    for (int n = NBASE + 1; n <= NREC; n++)
        CHECK_OK(journal_event(j, s, n));
    pe_journal_close(j);
    pe_signer_close(s);
    CHECK_INT(journal_records(full, true), NREC);
}

static void fixture_free(void)
{
    for (int n = 1; n <= NREC; n++) {
        free(fx.rec[n]);
        free(fx.sig[n]);
    }
}

/* ---- the journal ---- */

/* Creating a journal: the open that makes the file and its schema. */
struct jnew {
    char path[512];
    struct pe_journal *j;
};

static void jnew_fresh(void *ctx)
{
    struct jnew *c = ctx;
    remove_db(c->path);
}

static int jnew_op(void *ctx, int i)
{
    struct jnew *c = ctx;
    (void)i;
    return journal_open(c->path, false, &c->j);
}

static void jnew_check(void *ctx, int i, int rc)
{
    struct jnew *c = ctx;
    (void)i;
    expect_err("pe_journal_open (create)", rc, IO);
    CHECK(c->j == NULL);
    /* Nothing half made stays in the way: the file opens and is an empty journal, or the
     * retry makes it. */
    if (exists(c->path)) {
        struct pe_journal *j = NULL;
        CHECK_OK(journal_open(c->path, false, &j));
        int64_t seq = -1;
        CHECK_OK(pe_journal_last(j, &seq, NULL, NULL));
        CHECK_INT(seq, 0);
        pe_journal_close(j);
    }
}

static void jnew_final(void *ctx)
{
    struct jnew *c = ctx;
    CHECK(c->j != NULL);
    pe_journal_close(c->j);
    c->j = NULL;
    CHECK_INT(journal_records(c->path, false), 0);
}

static void t_journal_create(void)
{
    af_hooks();
    struct jnew c = {.j = NULL};
    snprintf(c.path, sizeof c.path, "%s", pe_test_path(0, "new.db"));
    const struct scenario sc = {"journal create", 0,          1,         jnew_fresh,
                                jnew_op,          jnew_check, jnew_final};
    step(&sc, &c, 1);
}

/*
 * A day's work on a journal: open it (with its signer), signed sales, read every record back,
 * verify, export an archive, close. Three scenarios step parts of it: the open, the sales (from
 * the template, opened), and reading, verifying and exporting (from the reference journal, which
 * holds the sales already). The last repeats the same allocation sites for every record, so it
 * is stepped at a stride (READ_STRIDE, prime: from one record to the next it falls on other
 * sites).
 */
enum { J_OPEN, J_SALE1, J_READ = J_SALE1 + NSALES, J_VERIFY, J_EXPORT, J_CLOSE, J_NOPS };

#define READ_STRIDE 7

struct jrun {
    char path[512], arch[512];
    const char *from; /* the journal a run starts from */
    int64_t start;    /* its records */
    int last;         /* the last op of the scenario: what final expects */
    struct pe_signer *s;
    struct pe_journal *j;
    int64_t count; /* records committed, as the run knows */
};

static void jrun_close(struct jrun *c)
{
    pe_journal_close(c->j);
    pe_signer_close(c->s);
    c->j = NULL;
    c->s = NULL;
}

static void jrun_fresh(void *ctx)
{
    struct jrun *c = ctx;
    remove_db(c->path);
    remove_db(c->arch);
    copy_file(c->from, c->path);
    c->count = c->start;
}

static int jrun_ensure_open(struct jrun *c)
{
    int rc = PE_OK;
    if (!c->s && (rc = signer_open(fx.key, &c->s)) != PE_OK)
        return rc;
    if (!c->j) {
        if ((rc = journal_open(c->path, false, &c->j)) != PE_OK)
            return rc;
        if ((rc = pe_journal_set_signer(c->j, c->s)) != PE_OK) {
            pe_journal_close(c->j);
            c->j = NULL;
        }
    }
    return rc;
}

static int jrun_op(void *ctx, int i)
{
    struct jrun *c = ctx;
    int rc = PE_OK;
    if (i == J_CLOSE) {
        jrun_close(c);
        return PE_OK;
    }
    if ((rc = jrun_ensure_open(c)) != PE_OK)
        return rc;
    if (i >= J_SALE1 && i < J_SALE1 + NSALES) {
        int n = NBASE + 1 + (i - J_SALE1);
        if (c->count >= n)
            return PE_OK; /* committed before the failure that interrupted the run */
        if ((rc = journal_event(c->j, c->s, n)) == PE_OK)
            c->count = n;
        return rc;
    }
    if (i == J_READ) {
        for (int64_t n = 1; n <= c->count; n++) {
            char *rec = NULL;
            size_t len = 0;
            if ((rc = pe_journal_get(c->j, n, &rec, &len)) != PE_OK)
                return rc;
            bool same = len == fx.len[n] && memcmp(rec, fx.rec[n], len) == 0;
            free(rec);
            if (!same)
                pe_test_fail(__FILE__, __LINE__, "pe_journal_get(%lld) differs", (long long)n);
        }
        struct pe_journal_iter *it = NULL;
        struct pe_journal_rec r;
        if ((rc = pe_journal_iter_open(c->j, 1, "sale", &it)) != PE_OK)
            return rc;
        int64_t sales = 0;
        while ((rc = pe_journal_iter_next(it, &r)) == PE_OK)
            sales++;
        pe_journal_iter_close(it);
        if (rc != PE_EEOF)
            return rc;
        CHECK_INT(sales, c->count - 1);
        return PE_OK;
    }
    if (i == J_VERIFY) {
        struct pe_journal_verify_result v;
        if ((rc = pe_journal_verify(c->j, &v)) != PE_OK) {
            if (rc == PE_ECHAIN)
                pe_test_fail(__FILE__, __LINE__, "verify said ECHAIN (%s) for an intact journal",
                             v.why);
            return rc;
        }
        CHECK_INT(v.count, c->count);
        CHECK_INT(v.nsigned, c->count);
        return PE_OK;
    }
    if (i == J_EXPORT) {
        char why[256];
        struct pe_archive_written w;
        if ((rc = pe_journal_export(c->j, c->path, 0, 0, c->arch, &w, why, sizeof why)) != PE_OK)
            return rc;
        CHECK_INT(w.count, c->count);
        return PE_OK;
    }
    return PE_OK; /* J_OPEN */
}

static void jrun_check(void *ctx, int i, int rc)
{
    struct jrun *c = ctx;
    const int sale_also[] = {PE_EIO, 0};
    expect_err(i == J_OPEN     ? "open"
               : i < J_READ    ? "a sale"
               : i == J_READ   ? "read back"
               : i == J_VERIFY ? "verify"
                               : "export",
               rc, i >= J_SALE1 && i < J_READ ? sale_also : IO);
    jrun_close(c);
    /* The journal as stored: it verifies, every record is the reference's, and a failed sale
     * is there whole or not at all. */
    int64_t n = journal_records(c->path, false);
    bool sale = i >= J_SALE1 && i < J_READ;
    if (n != c->count && !(sale && n == c->count + 1))
        pe_test_fail(__FILE__, __LINE__, "op %d: %lld records after the failure, %lld committed", i,
                     (long long)n, (long long)c->count);
    c->count = n;
    /* A failed export leaves no archive, complete or not. */
    if (i == J_EXPORT)
        CHECK(!exists(c->arch));
}

static void jrun_final(void *ctx)
{
    struct jrun *c = ctx;
    jrun_close(c);
    int64_t want = c->last >= J_READ - 1 ? NREC : c->start;
    CHECK_INT(c->count, want);
    CHECK_INT(journal_records(c->path, false), want);
    CHECK(exists(c->arch) == (c->last >= J_EXPORT));
}

static void journal_scenario(const char *name, int first, int last, int64_t stride)
{
    struct jrun c = {.s = NULL};
    snprintf(c.path, sizeof c.path, "%s", pe_test_path(3, "journal.db"));
    snprintf(c.arch, sizeof c.arch, "%s", pe_test_path(3, "journal.archive"));
    snprintf(c.path, sizeof c.path, "%s", pe_test_path(3, "journal.db"));
    c.from = first >= J_READ ? fx.full : fx.tmpl;
    c.start = first >= J_READ ? NREC : NBASE;
    c.last = last;
    const struct scenario sc = {name, first, last + 1, jrun_fresh, jrun_op, jrun_check, jrun_final};
    step(&sc, &c, stride);
    remove_db(c.path);
    remove_db(c.arch);
}

static void t_journal_open(void)
{
    af_hooks();
    fixture_make();
    journal_scenario("journal open", J_OPEN, J_OPEN, 1);
    fixture_free();
}

static void t_journal_sales(void)
{
    af_hooks();
    fixture_make();
    journal_scenario("journal sales", J_SALE1, J_READ - 1, 1);
    fixture_free();
}

static void t_journal_read(void)
{
    af_hooks();
    fixture_make();
    journal_scenario("journal read, verify, export", J_READ, J_CLOSE, READ_STRIDE);
    fixture_free();
}

/* ---- the spool ---- */

/* The fixture's records as the bridge receives them: meta, prev and hash (pe_event_verify). */
struct inrec {
    struct pe_event_meta m;
    char prev[PE_SHA256_HEXLEN];
    char hash[PE_SHA256_HEXLEN];
};

static struct inrec in[NREC + 1];

static void inrecs_make(void)
{
    char why[160];
    for (int n = 1; n <= NREC; n++) {
        cJSON *r = NULL;
        const char *prev = NULL;
        CHECK_OK(pe_event_verify(fx.rec[n], fx.len[n], n, NULL, &in[n].m, in[n].hash, &r, why,
                                 sizeof why));
        CHECK_OK(pe_json_get_str(r, "prev", &prev));
        snprintf(in[n].prev, sizeof in[n].prev, "%s", prev);
        cJSON_Delete(r);
    }
}

static int spool_open(const char *path, struct pe_spool **out)
{
    char err[512];
    return pe_spool_open(path, NULL, out, err, sizeof err);
}

/* Records from..to in one transaction (a group commit). */
static int spool_batch(struct pe_spool *sp, int from, int to)
{
    int rc = pe_spool_begin(sp);
    for (int n = from; rc == PE_OK && n <= to; n++)
        rc = pe_spool_add_signed(sp, &in[n].m, in[n].prev, in[n].hash, fx.rec[n], fx.len[n],
                                 fx.sig[n], fx.siglen[n], NULL);
    if (rc == PE_OK)
        return pe_spool_commit(sp);
    pe_spool_rollback(sp);
    return rc;
}

struct spool_seen {
    int64_t first, last, n;
};

static int spool_row_cb(const struct pe_spool_row *r, void *ctx)
{
    struct spool_seen *seen = ctx;
    int64_t n = r->seq;
    CHECK(n >= 1 && n <= NREC);
    if (r->len != fx.len[n] || memcmp(r->record, fx.rec[n], r->len) != 0)
        pe_test_fail(__FILE__, __LINE__, "spooled record %lld differs", (long long)n);
    CHECK(r->sig && r->siglen == fx.siglen[n] && memcmp(r->sig, fx.sig[n], r->siglen) == 0);
    CHECK_STR(r->hash, fx.hash[n]);
    CHECK(r->rejected == NULL);
    if (!seen->n)
        seen->first = n;
    else
        CHECK_INT(n, seen->last + 1);
    seen->last = n;
    seen->n++;
    return 0;
}

/* The spool at path as stored: it verifies, the terminal's watermarks, and its rows (every one
 * the fixture's, in order, from the first not pruned to spooled). */
static void spool_state(const char *path, struct pe_spool_terminal *t, struct spool_seen *seen)
{
    char err[512];
    struct pe_spool_stats st;
    int64_t terms = 0;
    int rc = pe_spool_verify(path, &st, &terms, err, sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "spool verify: %s (%s)", pe_errname(rc), err);
    CHECK_INT(terms, 1);
    struct pe_spool *sp = NULL;
    CHECK_OK(spool_open(path, &sp));
    CHECK_OK(pe_spool_terminal(sp, STORE, TERMINAL, t));
    memset(seen, 0, sizeof *seen);
    CHECK_OK(pe_spool_rows(sp, STORE, TERMINAL, 0, 100, spool_row_cb, seen));
    CHECK_INT(seen->n, st.rows);
    if (seen->n)
        CHECK_INT(seen->last, t->spooled);
    CHECK(t->delivered <= t->spooled);
    CHECK_STR(t->tail_hash, fx.hash[t->spooled]);
    pe_spool_close(sp);
}

/*
 * The bridge's work on its spool: open, a batch of records in one transaction, read them back,
 * mark all but the last delivered, prune, stats, close. From a spool holding the first NBASE.
 */
enum { S_OPEN, S_ADD, S_ROWS, S_DELIVERED, S_PRUNE, S_STATS, S_CLOSE, S_NOPS };

struct srun {
    char path[512], tmpl[512];
    struct pe_spool *sp;
    int64_t spooled, delivered;
};

static void srun_fresh(void *ctx)
{
    struct srun *c = ctx;
    remove_db(c->path);
    copy_file(c->tmpl, c->path);
    c->spooled = NBASE;
    c->delivered = 0;
}

static int srun_op(void *ctx, int i)
{
    struct srun *c = ctx;
    int rc;
    if (i == S_CLOSE) {
        pe_spool_close(c->sp);
        c->sp = NULL;
        return PE_OK;
    }
    if (!c->sp && (rc = spool_open(c->path, &c->sp)) != PE_OK)
        return rc;
    switch (i) {
    case S_ADD:
        if (c->spooled == NREC)
            return PE_OK; /* committed before the failure */
        if ((rc = spool_batch(c->sp, NBASE + 1, NREC)) == PE_OK)
            c->spooled = NREC;
        return rc;
    case S_ROWS: {
        struct spool_seen seen = {0};
        if ((rc = pe_spool_rows(c->sp, STORE, TERMINAL, 0, 100, spool_row_cb, &seen)) != PE_OK)
            return rc;
        CHECK_INT(seen.n, NREC);
        return PE_OK;
    }
    case S_DELIVERED:
        if ((rc = pe_spool_set_delivered(c->sp, STORE, TERMINAL, NREC - 1)) == PE_OK)
            c->delivered = NREC - 1;
        return rc;
    case S_PRUNE: {
        int64_t deleted = -1;
        return pe_spool_prune(c->sp, 100, &deleted);
    }
    case S_STATS: {
        struct pe_spool_stats st;
        if ((rc = pe_spool_stats(c->sp, &st)) != PE_OK)
            return rc;
        CHECK_INT(st.rows, 1);
        CHECK_INT(st.pending, 1);
        CHECK_INT(st.pending_bytes, (int64_t)fx.len[NREC]);
        return PE_OK;
    }
    default:
        return PE_OK; /* S_OPEN */
    }
}

static void srun_check(void *ctx, int i, int rc)
{
    struct srun *c = ctx;
    expect_err("a spool operation", rc, IO);
    pe_spool_close(c->sp);
    c->sp = NULL;
    struct pe_spool_terminal t;
    struct spool_seen seen;
    spool_state(c->path, &t, &seen);
    /* The batch is there whole or not at all; delivered moved or not. */
    if (t.spooled != c->spooled && !(i == S_ADD && t.spooled == NREC))
        pe_test_fail(__FILE__, __LINE__, "op %d: spooled %lld, expected %lld", i,
                     (long long)t.spooled, (long long)c->spooled);
    if (t.delivered != c->delivered && !(i == S_DELIVERED && t.delivered == NREC - 1))
        pe_test_fail(__FILE__, __LINE__, "op %d: delivered %lld, expected %lld", i,
                     (long long)t.delivered, (long long)c->delivered);
    /* Nothing undelivered is ever pruned. */
    CHECK(seen.n == 0 || seen.first <= t.delivered + 1);
    c->spooled = t.spooled;
    c->delivered = t.delivered;
}

static void srun_final(void *ctx)
{
    struct srun *c = ctx;
    pe_spool_close(c->sp);
    c->sp = NULL;
    struct pe_spool_terminal t;
    struct spool_seen seen;
    spool_state(c->path, &t, &seen);
    CHECK_INT(t.spooled, NREC);
    CHECK_INT(t.delivered, NREC - 1);
    CHECK_INT(seen.n, 1);
}

static void t_spool(void)
{
    af_hooks();
    fixture_make();
    inrecs_make();
    struct srun c = {.sp = NULL};
    snprintf(c.path, sizeof c.path, "%s", pe_test_path(3, "spool.db"));
    snprintf(c.tmpl, sizeof c.tmpl, "%s", pe_test_path(2, "spool-template.db"));
    struct pe_spool *sp = NULL;
    CHECK_OK(spool_open(c.tmpl, &sp));
    CHECK_OK(spool_batch(sp, 1, NBASE));
    pe_spool_close(sp);
    const struct scenario sc = {"spool", S_OPEN,     S_NOPS,    srun_fresh,
                                srun_op, srun_check, srun_final};
    step(&sc, &c, 1);
    fixture_free();
}

/* ---- the bridge's intake ---- */

/*
 * What bridge/bridge.c does with an MQTT message on a till's events topic, call for call: split
 * the batch into lines (a record, a tab, its signature), verify each record (pe_event_verify),
 * judge its signature against the till's signing state when it is the next one
 * (sigcheck_record), add it to the spool, and in the same transaction save the signing state
 * that judged it; commit. A record that fails is not stored, and those after it are then gaps:
 * the till sends the batch again (go-back-N), as it does when no ack comes. What must hold
 * beyond the spool's consistency: a record is never refused (dead letter, rejected) because
 * memory ran out, and the signing state stored is the one of the records stored.
 */
#define SIG_KEY "sig/" STORE "/" TERMINAL

struct irun {
    char path[512], tmpl[512];
    char *batch; /* lines NBASE+1..NREC as a till publishes them */
    size_t batchlen;
    struct pe_spool *sp;
    struct sigcheck_till till; /* as of the last commit */
    int64_t spooled;
};

static int intake_load(struct irun *c)
{
    char *doc = NULL, why[120];
    sigcheck_till_clear(&c->till);
    int rc = pe_spool_meta_get(c->sp, SIG_KEY, &doc);
    if (rc == PE_OK)
        rc = sigcheck_till_load(&c->till, doc, why, sizeof why);
    free(doc);
    return rc;
}

/* One line: as bridge.c's intake_record. */
static int intake_line(struct irun *c, const char *line, size_t len, const char *sig, size_t siglen,
                       bool *dirty)
{
    struct pe_event_meta m;
    char hash[PE_SHA256_HEXLEN], why[200], tail[PE_SHA256_HEXLEN];
    cJSON *rec = NULL;
    const char *prev = NULL;
    int rc = pe_event_verify(line, len, 0, NULL, &m, hash, &rec, why, sizeof why);
    if (rc) {
        if (rc != PE_ENOMEM)
            pe_test_fail(__FILE__, __LINE__, "a valid record judged %s: %s", pe_errname(rc), why);
        return rc;
    }
    CHECK_STR(m.store, STORE);
    CHECK_STR(m.terminal, TERMINAL);
    CHECK_OK(pe_json_get_str(rec, "prev", &prev));
    int64_t spooled = 0;
    struct sigcheck_verdict v;
    memset(&v, 0, sizeof v);
    bool next = pe_spool_next(c->sp, STORE, TERMINAL, &spooled, tail) == PE_OK &&
                m.seq == spooled + 1 && strcmp(prev, tail) == 0;
    if (next && (rc = sigcheck_record(&c->till, m.seq, pe_event_type_name(m.type), rec, hash, sig,
                                      siglen, &v)) != PE_OK) {
        sigcheck_verdict_free(&v);
        cJSON_Delete(rec);
        return rc;
    }
    if (next && v.reason != SIGCHECK_OK)
        pe_test_fail(__FILE__, __LINE__, "seq %lld refused: %s", (long long)m.seq, v.why);
    rc = pe_spool_add_signed(c->sp, &m, prev, hash, line, len, sig, siglen, NULL);
    if (rc == PE_OK && next) {
        sigcheck_apply(&c->till, m.seq, &v);
        *dirty = true;
    }
    sigcheck_verdict_free(&v);
    cJSON_Delete(rec);
    return rc == PE_EEXIST || rc == PE_EAGAIN ? PE_OK : rc;
}

/* One message: as bridge.c's on_message and commit_now. Returns the first error. */
static int intake_message(struct irun *c)
{
    int first = PE_OK, rc = pe_spool_begin(c->sp);
    if (rc)
        return rc;
    bool dirty = false;
    const char *p = c->batch, *end = p + c->batchlen;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        const char *tab = memchr(p, '\t', (size_t)(e - p));
        CHECK(tab && tab + 1 < e);
        rc = intake_line(c, p, (size_t)(tab - p), tab + 1, (size_t)(e - tab - 1), &dirty);
        if (rc && !first)
            first = rc;
        p = e + 1;
    }
    char *doc = NULL;
    rc = dirty ? sigcheck_till_save(&c->till, &doc) : PE_OK;
    if (rc == PE_OK && dirty)
        rc = pe_spool_meta_set(c->sp, SIG_KEY, doc, T0);
    free(doc);
    if (rc)
        pe_spool_rollback(c->sp);
    else
        rc = pe_spool_commit(c->sp);
    if (rc) {
        int lrc = intake_load(c); /* back to what the spool holds */
        if (lrc)
            return lrc;
    }
    return rc ? rc : first;
}

enum { I_OPEN, I_MESSAGE, I_CLOSE, I_NOPS };

static void irun_fresh(void *ctx)
{
    struct irun *c = ctx;
    remove_db(c->path);
    copy_file(c->tmpl, c->path);
    c->spooled = NBASE;
}

static int irun_op(void *ctx, int i)
{
    struct irun *c = ctx;
    int rc;
    if (i == I_CLOSE) {
        pe_spool_close(c->sp);
        c->sp = NULL;
        sigcheck_till_clear(&c->till);
        return PE_OK;
    }
    if (!c->sp) {
        if ((rc = spool_open(c->path, &c->sp)) != PE_OK)
            return rc;
        if ((rc = intake_load(c)) != PE_OK) {
            pe_spool_close(c->sp);
            c->sp = NULL;
            return rc;
        }
    }
    return i == I_MESSAGE ? intake_message(c) : PE_OK;
}

/* The signing state stored is the one of the records stored: its counter is the last one's. */
static void intake_state(struct irun *c, int64_t *spooled)
{
    struct pe_spool_terminal t;
    struct spool_seen seen;
    spool_state(c->path, &t, &seen);
    struct pe_spool *sp = NULL;
    CHECK_OK(spool_open(c->path, &sp));
    char *doc = NULL, why[120];
    struct sigcheck_till till = {0};
    CHECK_OK(pe_spool_meta_get(sp, SIG_KEY, &doc));
    CHECK_OK(sigcheck_till_load(&till, doc, why, sizeof why));
    struct pe_signature g;
    CHECK_OK(pe_signature_decode(fx.sig[t.spooled], fx.siglen[t.spooled], &g, NULL, 0));
    CHECK_INT(till.counter, g.counter);
    CHECK_INT(till.rejected, 0);
    CHECK_INT(till.verified, t.spooled);
    sigcheck_till_clear(&till);
    free(doc);
    pe_spool_close(sp);
    *spooled = t.spooled;
}

static void irun_check(void *ctx, int i, int rc)
{
    struct irun *c = ctx;
    (void)i;
    expect_err("intake", rc, IO);
    irun_op(c, I_CLOSE);
    int64_t spooled = 0;
    intake_state(c, &spooled);
    CHECK(spooled >= c->spooled && spooled <= NREC);
    c->spooled = spooled;
}

static void irun_final(void *ctx)
{
    struct irun *c = ctx;
    irun_op(c, I_CLOSE);
    int64_t spooled = 0;
    intake_state(c, &spooled);
    CHECK_INT(spooled, NREC);
}

static void t_intake(void)
{
    af_hooks();
    fixture_make();
    inrecs_make();
    struct irun c = {.sp = NULL};
    snprintf(c.path, sizeof c.path, "%s", pe_test_path(3, "spool.db"));
    snprintf(c.tmpl, sizeof c.tmpl, "%s", pe_test_path(2, "spool-template.db"));
    /* The template: the first NBASE records taken in by the intake itself. */
    size_t cap = 0;
    for (int n = 1; n <= NREC; n++)
        cap += fx.len[n] + fx.siglen[n] + 2;
    c.batch = malloc(cap);
    CHECK(c.batch);
    for (int n = 1; n <= NBASE; n++) {
        c.batchlen += (size_t)sprintf(c.batch + c.batchlen, "%s\t%s\n", fx.rec[n], fx.sig[n]);
    }
    CHECK_OK(spool_open(c.tmpl, &c.sp));
    CHECK_OK(intake_message(&c));
    irun_op(&c, I_CLOSE);
    c.batchlen = 0;
    for (int n = NBASE + 1; n <= NREC; n++)
        c.batchlen += (size_t)sprintf(c.batch + c.batchlen, "%s\t%s%s", fx.rec[n], fx.sig[n],
                                      n < NREC ? "\n" : "");
    const struct scenario sc = {"intake", I_OPEN,     I_NOPS,    irun_fresh,
                                irun_op,  irun_check, irun_final};
    step(&sc, &c, 1);
    free(c.batch);
    fixture_free();
}

/* ---- the output profiles ---- */

/*
 * Every profile over two sales: start the sinks, map each event, stop. The
 * JSON profiles and native in one configuration; the Avro ones (their Schema Registry down, the
 * ids kept in the spool, as test_profile_avro starts them) in another. What must hold: an event
 * that could not be mapped for want of memory is PE_ENOMEM with no record left (never a dead
 * letter: the bridge maps it again), and mapped again it gives the very records of a run
 * without failure.
 */
enum { P_START, P_MAP1, P_MAP2, P_STOP, P_NOPS };
#define PMAX 16 /* records of one event over every sink */

/* The records of one event: topic, value, headers, as bytes to compare. */
struct pref {
    int n;
    char *rec[PMAX];
};

struct prun {
    struct bridge_cfg cfg;
    struct pe_spool *spool; /* the Avro profiles' kept ids, or NULL */
    struct profile_set *ps;
    struct profile_out out;
    struct pref ref[2], got[2]; /* per event: the reference run's, this run's */
    bool taking;                /* the reference run */
};

static struct profile_event pev(int n)
{
    return (struct profile_event){.store = STORE,
                                  .terminal = TERMINAL,
                                  .id = in[n].m.id,
                                  .type = pe_event_type_name(in[n].m.type),
                                  .seq = n,
                                  .ts_ms = in[n].m.ts_ms,
                                  .rec = fx.rec[n],
                                  .len = fx.len[n],
                                  .sig = fx.sig[n]};
}

static void pref_free(struct pref *r)
{
    for (int i = 0; i < r->n; i++)
        free(r->rec[i]);
    r->n = 0;
}

/* out's records as text (values in hex: the Avro ones are binary). Allocations off. */
static void pref_take(struct pref *r, const struct profile_out *o)
{
    bool was = af.on;
    af.on = false;
    pref_free(r);
    CHECK(o->n <= PMAX);
    for (int i = 0; i < o->n; i++) {
        const struct output_rec *x = &o->recs[i];
        size_t cap = 256 + 2 * x->len + 2 * x->keylen, len = 0;
        char *t = malloc(cap + 2048);
        CHECK(t);
        len +=
            (size_t)snprintf(t + len, cap - len, "%s ts=%lld key=", x->topic, (long long)x->ts_ms);
        for (size_t k = 0; k < x->keylen; k++)
            len += (size_t)snprintf(t + len, cap - len, "%02x", ((const unsigned char *)x->key)[k]);
        len += (size_t)snprintf(t + len, cap - len, " val=");
        for (size_t k = 0; k < x->len; k++)
            len += (size_t)snprintf(t + len, cap - len, "%02x", ((const unsigned char *)x->val)[k]);
        for (int h = 0; h < x->nh; h++)
            len += (size_t)snprintf(t + len, cap + 2048 - len, " %s=%.200s", x->h[h].name,
                                    x->h[h].value);
        r->rec[r->n++] = t;
    }
    af.on = was;
}

static void prun_fresh(void *ctx)
{
    (void)ctx; /* mapping keeps no state between runs: the sinks are started by the run */
}

static int prun_op(void *ctx, int i)
{
    struct prun *c = ctx;
    char err[256];
    int rc;
    if (i == P_STOP) {
        profile_set_destroy(c->ps);
        c->ps = NULL;
        return PE_OK;
    }
    if (!c->ps && (rc = profile_set_create(&c->cfg, c->spool, &c->ps, err, sizeof err)) != PE_OK)
        return rc;
    if (i == P_START)
        return PE_OK;
    int e = i - P_MAP1;
    struct profile_event ev = pev(NBASE + 1 + e); /* two sales */
    if ((rc = profile_map_event(c->ps, &ev, ev.ts_ms + 1000, &c->out)) != PE_OK) {
        CHECK_INT(c->out.n, 0); /* nothing half made is left */
        return rc;
    }
    pref_take(c->taking ? &c->ref[e] : &c->got[e], &c->out);
    if (c->out.dead)
        for (int k = 0; k < c->out.n; k++)
            if (strstr((c->taking ? c->ref : c->got)[e].rec[k], " reason="))
                pe_test_fail(__FILE__, __LINE__, "a dead letter: %s",
                             strstr((c->taking ? c->ref : c->got)[e].rec[k], " reason="));
    return PE_OK;
}

static void prun_check(void *ctx, int i, int rc)
{
    (void)ctx;
    expect_err(i == P_START ? "profile_set_create" : "profile_map_event", rc, NULL);
}

static void prun_final(void *ctx)
{
    struct prun *c = ctx;
    CHECK(c->ps == NULL);
    for (int e = 0; e < 2 && !c->taking; e++) {
        CHECK_INT(c->got[e].n, c->ref[e].n);
        for (int k = 0; k < c->ref[e].n; k++)
            if (strcmp(c->got[e].rec[k], c->ref[e].rec[k]) != 0)
                pe_test_fail(__FILE__, __LINE__, "event %d record %d:\n  %s\nexpected\n  %s", e, k,
                             c->got[e].rec[k], c->ref[e].rec[k]);
        pref_free(&c->got[e]);
    }
}

static void profile_scenario(const char *name, const char *conf, struct pe_spool *spool)
{
    struct prun c = {.spool = spool};
    char err[512] = "";
    const char *path = pe_test_path(3, "bridge.json");
    FILE *f = fopen(path, "w");
    CHECK(f);
    fputs(conf, f);
    fclose(f);
    if (bridge_cfg_load(&c.cfg, path, err, sizeof err) != PE_OK)
        pe_test_fail(__FILE__, __LINE__, "%s: %s", path, err);
    const struct scenario sc = {name, P_START, P_NOPS, prun_fresh, prun_op, prun_check, prun_final};
    c.taking = true;
    for (int i = 0; i < P_NOPS; i++)
        CHECK_OK(prun_op(&c, i));
    CHECK(c.ref[0].n > 0 && c.ref[1].n > 0);
    c.taking = false;
    step(&sc, &c, 1);
    profile_out_free(&c.out);
    pref_free(&c.ref[0]);
    pref_free(&c.ref[1]);
    bridge_cfg_free(&c.cfg);
}

static void t_profiles_json(void)
{
    af_hooks();
    fixture_make();
    inrecs_make();
    profile_scenario("profiles native, purchases-json, retail-json, orders-json",
                     "{\"sinks\":[{\"profile\":\"native\"},{\"profile\":\"purchases-json\"},"
                     "{\"profile\":\"retail-json\"},{\"profile\":\"orders-json\"}]}",
                     NULL);
    fixture_free();
}

/* The Avro profiles: their writer schemas kept in the spool, as a bridge that once saw the
 * Schema Registry keeps them (test_profile_avro.c); the registry is down, so the kept ids serve. */
#define DOWN "http://127.0.0.1:9/apis/ccompat/v7"
#define REC(name, fields) "{\"type\":\"record\",\"name\":\"" name "\",\"fields\":[" fields "]}"
#define F(n, t) "{\"name\":\"" n "\",\"type\":\"" t "\"}"

static void keep(struct pe_spool *s, const char *subject, const char *schema, int id)
{
    char key[256];
    snprintf(key, sizeof key, "avro/%s/%d", subject, id);
    cJSON *v = cJSON_CreateObject();
    CHECK(v);
    CHECK_OK(pe_json_add_str(v, "schema", schema));
    CHECK_OK(pe_json_add_int(v, "version", 1));
    char *text = cJSON_PrintUnformatted(v);
    CHECK(text);
    CHECK_OK(pe_spool_meta_put(s, key, text, 1));
    free(text);
    cJSON_Delete(v);
}

static void t_profiles_avro(void)
{
    af_hooks();
    fixture_make();
    inrecs_make();
    struct pe_spool *sp = NULL;
    CHECK_OK(spool_open(pe_test_path(3, "spool.db"), &sp));
    keep(sp, "prod.inventory.transactions-key",
         REC("K", F("trans_id", "string") "," F("item_id", "int") "," F("store_id", "int")), 11);
    keep(sp, "prod.inventory.transactions-value",
         REC("V",
             F("trans_id", "string") "," F("item_id", "int") "," F("store_id", "int") "," F(
                 "date_time", "string") "," F("quantity", "int") "," F("change_type_id", "int")),
         12);
    keep(sp, "prod.inventory.snapshots-key",
         REC("SK", F("item_id", "int") "," F("store_id", "int") "," F("date_time", "string")), 13);
    keep(sp, "prod.inventory.snapshots-value",
         REC("SV", F("item_id", "int") "," F("employee_id", "int") "," F("store_id", "int") "," F(
                       "date_time", "string") "," F("quantity", "int")),
         14);
    keep(
        sp, "orders.avro-value",
        "{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"Order\",\"fields\":[" F(
            "order_id",
            "long") "," F("customer",
                          "string") "," F("description",
                                          "string") "," F("price",
                                                          "double") ",{\"name\":\"products\","
                                                                    "\"type\":{\"type\":\"array\","
                                                                    "\"items\":{"
                                                                    "\"type\":\"record\",\"name\":"
                                                                    "\"Product\",\"fields\":[" F(
                                                                        "name",
                                                                        "string") "," F("price",
                                                                                        "double") "]}}}]}}",
        300);
    profile_scenario(
        "profiles inventory-avro, orders-avro",
        "{\"sinks\":[{\"profile\":\"inventory-avro\",\"registry_url\":\"" DOWN
        "\",\"master_data\":false},{\"profile\":\"orders-avro\",\"registry_url\":\"" DOWN "\"}]}",
        sp);
    pe_spool_close(sp);
    fixture_free();
}

static const struct pe_test tests[] = {
    {"journal_create", t_journal_create},
    {"journal_open", t_journal_open},
    {"journal_sales", t_journal_sales},
    {"journal_read", t_journal_read},
    {"spool", t_spool},
    {"intake", t_intake},
    {"profiles_json", t_profiles_json},
    {"profiles_avro", t_profiles_avro},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    /* Quiet: every failure logs. PE_ALLOCFAIL_LOG=1 shows the lines (debugging). */
    pe_log_init("test", getenv("PE_ALLOCFAIL_LOG") ? PE_LOG_DEBUG : PE_LOG_OFF);
    /* Thousands of runs, each with its commits' fsyncs, which prove nothing here: in memory
     * (tmpfs) when the caller did not choose a place. */
    if (!getenv("TMPDIR") && access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 1);
    return pe_test_main("allocfail", tests, argc, argv);
}
