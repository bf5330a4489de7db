/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fake_queue.c - the bounded FIFO behind every input fake, with its readiness eventfd.
 *
 * Invariant: the eventfd is readable exactly while the queue holds an entry. A push writes 1
 * to it; the pop that empties the queue reads (drains) its counter back to zero. So a poll
 * loop sees POLLIN on a fake device for as long as - and only as long as - read would
 * return an entry, the way it sees a real device's fd.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hal/fake/fake.h"

int fake__queue_init(struct fake__queue *q, size_t esize, size_t cap)
{
    memset(q, 0, sizeof *q);
    q->efd = -1;
    q->ring = calloc(cap, esize);
    if (!q->ring)
        return PE_ENOMEM;
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->efd < 0) {
        free(q->ring);
        q->ring = NULL;
        return PE_ESYS;
    }
    q->esize = esize;
    q->cap = cap;
    return PE_OK;
}

void fake__queue_fini(struct fake__queue *q)
{
    if (!q->ring)
        return;
    /* Entries may hold operator input; leave nothing behind in freed memory. */
    memset(q->ring, 0, q->cap * q->esize);
    free(q->ring);
    q->ring = NULL;
    if (q->efd >= 0)
        close(q->efd);
    q->efd = -1;
    q->len = 0;
}

/* Reset the eventfd counter to zero; EAGAIN means it already was. */
static void drain(int efd)
{
    uint64_t v;
    while (read(efd, &v, sizeof v) < 0 && errno == EINTR)
        ;
}

int fake__queue_push(struct fake__queue *q, const void *entry)
{
    if (q->len == q->cap)
        return PE_EFULL;
    uint64_t one = 1;
    ssize_t w;
    while ((w = write(q->efd, &one, sizeof one)) < 0 && errno == EINTR)
        ;
    if (w != (ssize_t)sizeof one)
        return PE_ESYS;
    memcpy(q->ring + ((q->head + q->len) % q->cap) * q->esize, entry, q->esize);
    q->len++;
    return PE_OK;
}

int fake__queue_pop(struct fake__queue *q, void *entry)
{
    if (q->len == 0)
        return PE_EAGAIN;
    unsigned char *slot = q->ring + q->head * q->esize;
    memcpy(entry, slot, q->esize);
    memset(slot, 0, q->esize);
    q->head = (q->head + 1) % q->cap;
    q->len--;
    if (q->len == 0)
        drain(q->efd);
    return PE_OK;
}

void fake__queue_clear(struct fake__queue *q)
{
    if (!q->ring)
        return;
    memset(q->ring, 0, q->cap * q->esize);
    q->head = 0;
    q->len = 0;
    drain(q->efd);
}
