/* SPDX-License-Identifier: Apache-2.0 */
/*
 * intake_verify.c - the intake's record checks spread over helper threads (intake_verify.h).
 *
 * Why: checking a record (parse, canonical re-serialisation, SHA-256) is about two thirds of
 * the bridge's CPU per record, and the loop thread was the intake's limit while the machine's
 * other core sat idle; the fsync of a group commit is shared by hundreds of records already.
 *
 * How: the loop thread posts a job (the lines of one message) and works on it itself; the
 * helpers wake, take chunks of lines by an atomic counter, and leave. A job lives on the
 * caller's stack: it is withdrawn under the lock and the caller waits until no helper still
 * holds it before returning, so no helper ever sees a job that has ended. The invariants:
 * every line is verified by exactly one thread (the counter hands each chunk out once), a line
 * is written only by the thread that took it, and the caller reads the lines only after the
 * last helper has left the job (the mutex orders those writes before its reads). Small jobs
 * are done inline: waking a helper costs more than a few records.
 *
 * pe_event_verify is safe on several threads: it keeps no state, and pe_json_parse's
 * out-of-memory flag is per thread (common/json.c).
 */
#include "bridge/intake_verify.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posedge/err.h"
#include "posedge/log.h"

#define HELPERS_MAX 3  /* helper threads at most (the auto choice) */
#define CHUNK 8        /* lines taken at a time */
#define INLINE_MAX 16  /* jobs of up to this many lines are done on the caller's thread */

struct job {
    struct intake_line *v; /* the lines */
    size_t n;
    atomic_size_t next; /* the first line nobody took yet */
    int users;          /* helpers working on it (under mu) */
};

struct intake_verify {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a job was posted, or quit */
    pthread_cond_t idle; /* a helper left a job */
    struct job *job;     /* the posted job, NULL when none (under mu) */
    unsigned long gen;   /* jobs posted so far: a helper joins each one at most once */
    bool quit;
    int nthreads;
    pthread_t threads[HELPERS_MAX];
};

static void verify_line(struct intake_line *l)
{
    l->root = NULL;
    l->why[0] = '\0';
    if (l->bare_tab) {
        l->rc = PE_EINVAL;
        return;
    }
    l->rc = pe_event_verify(l->rec, l->len, 0, NULL, &l->m, l->hash, &l->root, l->why,
                            sizeof l->why);
}

static void consume(struct job *j)
{
    for (;;) {
        size_t i = atomic_fetch_add(&j->next, CHUNK);
        if (i >= j->n)
            return;
        size_t end = i + CHUNK < j->n ? i + CHUNK : j->n;
        for (; i < end; i++)
            verify_line(&j->v[i]);
    }
}

static void *helper(void *ctx)
{
    struct intake_verify *p = ctx;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && (!p->job || p->gen == seen))
            pthread_cond_wait(&p->work, &p->mu);
        if (p->quit)
            break;
        seen = p->gen;
        struct job *j = p->job;
        j->users++;
        pthread_mutex_unlock(&p->mu);
        consume(j);
        pthread_mutex_lock(&p->mu);
        if (--j->users == 0)
            pthread_cond_signal(&p->idle);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int intake_verify_create(int helpers, struct intake_verify **out)
{
    if (helpers < 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        helpers = cpus > 1 ? (int)(cpus - 1) : 0;
    }
    if (helpers > HELPERS_MAX)
        helpers = HELPERS_MAX;
    struct intake_verify *p = calloc(1, sizeof *p);
    if (!p)
        return PE_ENOMEM;
    if (pthread_mutex_init(&p->mu, NULL))
        goto free_pool;
    if (pthread_cond_init(&p->work, NULL))
        goto destroy_mu;
    if (pthread_cond_init(&p->idle, NULL))
        goto destroy_work;
    for (; p->nthreads < helpers; p->nthreads++)
        if (pthread_create(&p->threads[p->nthreads], NULL, helper, p)) {
            pe_error("intake.verify_thread", "started=%d of %d", p->nthreads, helpers);
            intake_verify_destroy(p);
            return PE_EIO;
        }
    *out = p;
    return PE_OK;

destroy_work:
    pthread_cond_destroy(&p->work);
destroy_mu:
    pthread_mutex_destroy(&p->mu);
free_pool:
    free(p);
    return PE_ENOMEM;
}

void intake_verify_destroy(struct intake_verify *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->idle);
    pthread_cond_destroy(&p->work);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

int intake_verify_helpers(const struct intake_verify *p)
{
    return p ? p->nthreads : 0;
}

void intake_verify_run(struct intake_verify *p, struct intake_line *v, size_t n)
{
    struct job j = {.v = v, .n = n};
    atomic_init(&j.next, 0);
    if (!p || p->nthreads == 0 || n <= INLINE_MAX) {
        consume(&j);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->job = &j;
    p->gen++;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    consume(&j);
    pthread_mutex_lock(&p->mu);
    p->job = NULL; /* a helper waking late finds nothing */
    while (j.users > 0)
        pthread_cond_wait(&p->idle, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void intake_line_free(struct intake_line *l)
{
    cJSON_Delete(l->root);
    l->root = NULL;
}
