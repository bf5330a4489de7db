/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kafka_mock.h - for the unit tests of the bridge's Kafka output: librdkafka's in-process mock
 * cluster, and a loop driver that waits for a condition against a deadline. Header-only
 * (static inline), so each test program takes what it uses.
 */
#ifndef POSEDGE_TESTS_KAFKA_MOCK_H
#define POSEDGE_TESTS_KAFKA_MOCK_H

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>

#include "posedge/clock.h"
#include "posedge/loop.h"
#include "tests/unit/harness.h"

/* Run the loop until cond holds; fail the test after ms. */
#define RUN_UNTIL(loop, cond, ms)                                                                  \
    do {                                                                                           \
        int64_t dl__ = pe_mono_ms() + (ms);                                                        \
        while (!(cond)) {                                                                          \
            if (pe_mono_ms() > dl__)                                                               \
                pe_test_fail(__FILE__, __LINE__, "timed out after %d ms waiting for %s", (ms),     \
                             #cond);                                                               \
            CHECK_OK(pe_loop_run_once(loop, 20));                                                  \
        }                                                                                          \
    } while (0)

struct mock {
    rd_kafka_t *rk;              /* the handle the mock cluster lives on */
    rd_kafka_mock_cluster_t *mc; /* the cluster */
    int nbrokers;                /* broker ids 1..nbrokers */
    char brokers[256];           /* its bootstrap list */
};

static inline void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    (void)fac;
    (void)buf;
}

static inline void mock_start(struct mock *m, int nbrokers)
{
    char why[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!m->rk)
        pe_test_fail(__FILE__, __LINE__, "rd_kafka_new: %s", why);
    m->mc = rd_kafka_mock_cluster_new(m->rk, nbrokers);
    CHECK(m->mc != NULL);
    m->nbrokers = nbrokers;
    snprintf(m->brokers, sizeof m->brokers, "%s", rd_kafka_mock_cluster_bootstraps(m->mc));
}

static inline void mock_stop(struct mock *m)
{
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->rk);
}

/* The canonical-looking record of terminal t's seq (what the output sends as the value). */
static inline size_t make_rec(int t, int64_t seq, char *buf, size_t cap)
{
    int n = snprintf(buf, cap,
                     "{\"body\":{\"n\":%" PRId64 "},\"id\":\"00000000-0000-4000-8000-%04d%08" PRId64
                     "\",\"seq\":%" PRId64 ",\"store\":\"s001\",\"terminal\":\"t%02d\","
                     "\"type\":\"sale\",\"v\":1}",
                     seq * 7, t, seq, seq, t);
    return (size_t)n;
}

#endif
