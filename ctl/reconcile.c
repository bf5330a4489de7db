/* SPDX-License-Identifier: Apache-2.0 */
/*
 * reconcile.c - posedge-ctl reconcile: compare terminal journals with what is in Kafka.
 *
 *   posedge-ctl reconcile (--brokers B | --bridge-config FILE) [--security-protocol P]
 *       [--sasl-mechanism M --sasl-username U --sasl-password-file F] [--tls-ca-file F]
 *       [--tls-cert-file F --tls-key-file F] [--topic T]... [--timeout S] JOURNAL.db...
 *
 * Kafka is reached as the bridge reaches it: --bridge-config takes kafka.brokers,
 * kafka.properties and the security settings (kafka.security_protocol, kafka.sasl.*,
 * kafka.tls.*) from a bridge's configuration file, and the options above override them one by
 * one (PE_KAFKA_SECURITY_KEYS: the same settings under the same names). A password is only
 * ever read from a file, never taken on the command line. At HQ, use a reader's user of its
 * own: it needs Read on the topics and on the groups posedge-reconcile-*.
 *
 * Reads the topics (default pos.sales, pos.inventory, pos.reports) from the beginning up to the
 * high watermarks taken when it starts, read_committed, with a throwaway consumer group that
 * commits nothing, and matches every record to its terminal by the headers store, terminal and
 * seq (or, for a record without them, the same fields of its JSON value). The journals are
 * opened read-only. Per terminal it prints the journal events that belong in those topics, the
 * records found, and:
 *
 *   missing       journal events with no record in Kafka (the first few seqs are listed)
 *   duplicates    records beyond the first for one seq
 *   mismatched    records whose value is not byte for byte the journal's record
 *   out_of_order  times a terminal's seq went backwards within one partition
 *
 * Records of a terminal whose journal was not given are listed as "unknown terminal" and do
 * not fail the check; dead letters (a "reason" header) and records that name no terminal are
 * counted apart and never compared. The last line is exactly
 * "missing=M duplicates=D mismatched=X" over the given journals; the exit status is 0 when all
 * three are 0, 1 when not, and 2 for a usage error, a journal that cannot be opened, or Kafka
 * not read to its end within --timeout.
 *
 * Which events belong where is the bridge's default topic map, the one of PE_EVENT_TYPES
 * (posedge/event.h, docs/protocol.md): sale, return, void, no_sale -> pos.sales;
 * inventory_* -> pos.inventory; shift_*, x_report, z_report -> pos.reports. The default topics
 * are the distinct topics of that map, in its order. With --topic only the events whose
 * default topic is among the given ones are compared. The consumer is librdkafka's role
 * reader-committed (posedge/kafka_conf.h).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "posedge/clock.h"
#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/journal.h"
#include "posedge/kafka_conf.h"
#include "posedge/json.h"
#include "posedge/log.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

#define MAX_TOPICS 32
#define SHOW 10 /* seqs listed per kind and terminal */


/* Where one terminal's records were last seen in one partition. */
struct ppos {
    int topic;         /* index into rc->topics */
    int32_t partition; /* partition id */
    int64_t last;      /* seq of the last record there */
};

struct list {
    int64_t v[SHOW]; /* the first few */
    int n;           /* entries in v */
};

struct term {
    char store[PE_ID_MAX];    /* store id */
    char terminal[PE_ID_MAX]; /* terminal id */
    struct pe_journal *j;     /* its journal, NULL for an unknown terminal */
    const char *path;         /* the journal's path (borrowed from argv) */
    int64_t *seqs;            /* seqs of its records in Kafka, sorted after reading */
    size_t nseqs, cap;        /* entries and room in seqs */
    struct ppos *pp;          /* per partition it appeared in */
    int npp;                  /* entries in pp */
    int64_t journal;          /* journal events that belong in the topics read */
    int64_t missing, duplicates, mismatched, out_of_order, not_in_journal;
    struct list show_missing, show_dup, show_mismatch;
};

struct part {
    int topic;  /* index into rc->topics */
    int32_t id; /* partition id */
    int64_t hi; /* high watermark at start: read up to offset hi - 1 */
    bool done;  /* reached hi */
};

struct rec {
    const char *brokers;            /* bootstrap.servers */
    const cJSON *properties;        /* librdkafka properties (--bridge-config), or NULL */
    struct pe_kafka_security sec;   /* TLS and SASL */
    const char *topics[MAX_TOPICS]; /* topics read */
    int ntopics;
    int timeout_s;      /* overall limit */
    struct term *terms; /* journals' terminals first, then unknown ones */
    int nterms, tcap;
    struct part *parts; /* non-empty partitions being read */
    int nparts, ndone;
    int64_t records;      /* records read */
    int64_t unidentified; /* records without store/terminal/seq */
    int64_t dead;         /* dead letters (a "reason" header): never compared */
    int64_t total;        /* records expected (sum of hi - lo) */
    int refused;          /* a librdkafka error saying Kafka refuses this client, 0: none */
    char refusal[256];    /* its reason */
};

/* Kafka refuses this client for good (a wrong password, a certificate that does not verify, a
 * missing ACL): waiting for the deadline would not help. */
static bool refusal(int err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__SSL:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        return true;
    default:
        return false;
    }
}

/* Say why Kafka refused us, and what to check. EXIT_USAGE. */
static int refused(const struct rec *rc)
{
    fprintf(stderr,
            "posedge-ctl reconcile: Kafka at %s refuses this client: %s: %s (check the "
            "security options; the user needs Read on the topics and on the groups "
            "posedge-reconcile-*)\n",
            rc->brokers, rd_kafka_err2name((rd_kafka_resp_err_t)rc->refused), rc->refusal);
    return EXIT_USAGE;
}

/* The distinct default topics of the event types, in their order, into topics (n of them). */
static int default_topics(const char *topics[], int max)
{
    int n = 0;
    for (int t = 0; t < PE_EV__COUNT; t++) {
        const char *topic = pe_event_type_topic((enum pe_event_type)t);
        int i = 0;
        while (i < n && strcmp(topics[i], topic) != 0)
            i++;
        if (i == n && n < max)
            topics[n++] = topic;
    }
    return n;
}

static void usage(FILE *out)
{
    const char *topics[MAX_TOPICS];
    int n = default_topics(topics, MAX_TOPICS);
    fputs("usage: posedge-ctl reconcile (--brokers B | --bridge-config FILE) [SECURITY]...\n"
          "                             [--topic T]... [--timeout S] JOURNAL.db...\n"
          "\n"
          "Reads the topics (default ",
          out);
    for (int i = 0; i < n; i++)
        fprintf(out, "%s%s", i ? ", " : "", topics[i]);
    fputs(") up to their current\n"
          "end and compares them with the journals: per terminal, events missing from Kafka,\n"
          "duplicate records, records whose bytes differ from the journal's, and seqs out of\n"
          "order within a partition. The last line reads\n"
          "\"missing=M duplicates=D mismatched=X\"; exit 0 when all three are 0, 1 when not,\n"
          "2 when the comparison could not be made (usage, unreadable journal, Kafka not read\n"
          "to its end within --timeout, default 60 s).\n"
          "\n"
          "--bridge-config FILE connects as that bridge's configuration says: kafka.brokers,\n"
          "kafka.properties and the security settings below (--brokers and the options below\n"
          "override it). SECURITY (the bridge's kafka.* settings of the same names):\n",
          out);
    for (int i = 0; pe_kafka_security_keys[i].key; i++)
        fprintf(out, "  --%-20s kafka.%s: %s\n", pe_kafka_security_keys[i].option,
                pe_kafka_security_keys[i].key, pe_kafka_security_keys[i].help);
}

/* The default topic of an event type, NULL for none. */
static const char *default_topic(const char *type)
{
    enum pe_event_type t;
    return pe_event_type_parse(type, &t) == PE_OK ? pe_event_type_topic(t) : NULL;
}

static int topic_index(const struct rec *rc, const char *topic)
{
    for (int i = 0; topic && i < rc->ntopics; i++)
        if (strcmp(rc->topics[i], topic) == 0)
            return i;
    return -1;
}

static void list_add(struct list *l, int64_t v)
{
    if (l->n < SHOW)
        l->v[l->n++] = v;
}

static void list_print(const char *what, const struct list *l, int64_t count)
{
    if (count == 0)
        return;
    printf("    %s:", what);
    for (int i = 0; i < l->n; i++)
        printf("%s %" PRId64, i ? "," : "", l->v[i]);
    if (count > l->n)
        printf(" (and %" PRId64 " more)", count - l->n);
    putchar('\n');
}

static struct term *term_find(struct rec *rc, const char *store, const char *terminal, bool add)
{
    for (int i = 0; i < rc->nterms; i++)
        if (!strcmp(rc->terms[i].store, store) && !strcmp(rc->terms[i].terminal, terminal))
            return &rc->terms[i];
    if (!add)
        return NULL;
    if (rc->nterms == rc->tcap) {
        int cap = rc->tcap ? 2 * rc->tcap : 16;
        struct term *t = realloc(rc->terms, (size_t)cap * sizeof *t);
        if (!t)
            return NULL;
        rc->terms = t;
        rc->tcap = cap;
    }
    struct term *t = &rc->terms[rc->nterms++];
    memset(t, 0, sizeof *t);
    snprintf(t->store, sizeof t->store, "%s", store);
    snprintf(t->terminal, sizeof t->terminal, "%s", terminal);
    return t;
}

/* ---- one record ---- */

static bool header(rd_kafka_headers_t *h, const char *name, char *out, size_t outlen)
{
    const void *v;
    size_t len;
    if (!h || rd_kafka_header_get_last(h, name, &v, &len) != RD_KAFKA_RESP_ERR_NO_ERROR || !v ||
        len == 0 || len >= outlen)
        return false;
    memcpy(out, v, len);
    out[len] = '\0';
    return true;
}

/* store, terminal and seq of a record: from its headers, else from its JSON value. */
static bool identify(const rd_kafka_message_t *m, char store[PE_ID_MAX], char terminal[PE_ID_MAX],
                     int64_t *seq)
{
    rd_kafka_headers_t *h = NULL;
    char seqtxt[24];
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        header(h, "store", store, PE_ID_MAX) && header(h, "terminal", terminal, PE_ID_MAX) &&
        header(h, "seq", seqtxt, sizeof seqtxt)) {
        char *end;
        errno = 0;
        long long v = strtoll(seqtxt, &end, 10);
        if (!errno && !*end && v >= 1 && pe_event_id_valid(store, 1) &&
            pe_event_id_valid(terminal, 1)) {
            *seq = v;
            return true;
        }
    }
    cJSON *doc = NULL;
    const char *s, *t;
    bool ok = m->payload && pe_json_parse(m->payload, m->len, &doc, NULL, 0) == PE_OK &&
              pe_json_get_str(doc, "store", &s) == PE_OK &&
              pe_json_get_str(doc, "terminal", &t) == PE_OK &&
              pe_json_get_int(doc, "seq", seq) == PE_OK && *seq >= 1 && pe_event_id_valid(s, 1) &&
              pe_event_id_valid(t, 1);
    if (ok) {
        snprintf(store, PE_ID_MAX, "%s", s);
        snprintf(terminal, PE_ID_MAX, "%s", t);
    }
    cJSON_Delete(doc);
    return ok;
}

/* Count one record. Returns PE_OK, PE_ENOMEM or PE_EIO (a journal could not be read). */
static int take(struct rec *rc, const rd_kafka_message_t *m, int topic)
{
    char store[PE_ID_MAX], terminal[PE_ID_MAX];
    int64_t seq;
    rc->records++;
    rd_kafka_headers_t *h = NULL;
    const void *v;
    size_t vlen;
    /* A dead letter's value is whatever the bridge could not accept: it may even look like a
     * terminal's event, but it is not the delivered copy of one. */
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        rd_kafka_header_get_last(h, "reason", &v, &vlen) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        rc->dead++;
        return PE_OK;
    }
    if (!identify(m, store, terminal, &seq)) {
        rc->unidentified++;
        return PE_OK;
    }
    struct term *t = term_find(rc, store, terminal, true);
    if (!t)
        return PE_ENOMEM;
    if (t->nseqs == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 1024;
        int64_t *s = realloc(t->seqs, cap * sizeof *s);
        if (!s)
            return PE_ENOMEM;
        t->seqs = s;
        t->cap = cap;
    }
    t->seqs[t->nseqs++] = seq;

    struct ppos *pp = NULL;
    for (int i = 0; i < t->npp && !pp; i++)
        if (t->pp[i].topic == topic && t->pp[i].partition == m->partition)
            pp = &t->pp[i];
    if (!pp) {
        struct ppos *n = realloc(t->pp, (size_t)(t->npp + 1) * sizeof *n);
        if (!n)
            return PE_ENOMEM;
        t->pp = n;
        pp = &t->pp[t->npp++];
        *pp = (struct ppos){.topic = topic, .partition = m->partition, .last = 0};
    }
    if (seq < pp->last)
        t->out_of_order++;
    pp->last = seq;

    if (!t->j)
        return PE_OK;
    char *jrec = NULL;
    size_t jlen = 0;
    int e = pe_journal_get(t->j, seq, &jrec, &jlen);
    if (e == PE_ENOTFOUND) {
        t->not_in_journal++;
        return PE_OK;
    }
    if (e)
        return e;
    if (jlen != m->len || memcmp(jrec, m->payload, jlen) != 0) {
        t->mismatched++;
        list_add(&t->show_mismatch, seq);
    }
    free(jrec);
    return PE_OK;
}

/* ---- reading Kafka ---- */

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    char q[512];
    (void)rk;
    pe_log_quote(buf, q, sizeof q);
    /* Connection failures repeat while Kafka is away; the deadline reports them. */
    enum pe_log_level lvl = level <= 4 && strcmp(fac, "FAIL") != 0 ? PE_LOG_WARN : PE_LOG_DEBUG;
    pe_log(lvl, "reconcile.librdkafka", "fac=%s msg=\"%s\"", fac, q);
}

static void on_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct rec *rc = opaque;
    (void)rk;
    pe_log(PE_LOG_INFO, "reconcile.kafka_error", "err=%s reason=\"%s\"",
           rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
    if (refusal(err) && !rc->refused) {
        rc->refused = err;
        snprintf(rc->refusal, sizeof rc->refusal, "%s", reason);
    }
}

static int64_t left_ms(int64_t deadline)
{
    int64_t l = deadline - pe_mono_ms();
    return l > 0 ? l : 0;
}

static int consumer_new(struct rec *rc, rd_kafka_t **out)
{
    char why[512], group[64] = "posedge-reconcile";
    struct pe_rng *rng = NULL;
    char uuid[PE_UUID_STRLEN];
    if (pe_rng_create("posedge-ctl/reconcile", &rng) == PE_OK && pe_rng_uuid(rng, uuid) == PE_OK)
        snprintf(group, sizeof group, "posedge-reconcile-%s", uuid);
    else
        snprintf(group, sizeof group, "posedge-reconcile-%ld-%lld", (long)getpid(),
                 (long long)pe_time_now_ms());
    pe_rng_destroy(rng);
    rd_kafka_conf_t *conf = NULL;
    struct pe_kafka_site site = {.brokers = rc->brokers,
                                 .properties = rc->properties,
                                 .security = &rc->sec,
                                 .group_id = group};
    if (pe_kafka_conf_new(PE_KAFKA_READER_COMMITTED, &site, &conf, why, sizeof why) != PE_OK) {
        fprintf(stderr, "posedge-ctl reconcile: %s\n", why);
        return EXIT_USAGE;
    }
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, rc);
    *out = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!*out) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "posedge-ctl reconcile: %s\n", why);
        return EXIT_USAGE;
    }
    return 0;
}

/* Find the partitions and their high watermarks, and assign the non-empty ones. */
static int plan(struct rec *rc, rd_kafka_t *rk, int64_t deadline)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TIMED_OUT;
    /* A second at a time, serving the error reports in between: a refusal ends it early. */
    while (e == RD_KAFKA_RESP_ERR__TIMED_OUT && left_ms(deadline) > 0 && !rc->refused) {
        int64_t l = left_ms(deadline);
        e = rd_kafka_metadata(rk, 1, NULL, &md, (int)(l < 1000 ? l : 1000));
        rd_kafka_poll(rk, 0);
    }
    if (e && rc->refused)
        return refused(rc);
    if (e) {
        fprintf(stderr, "posedge-ctl reconcile: cannot read the topics of Kafka at %s: %s\n",
                rc->brokers, rd_kafka_err2str(e));
        return EXIT_USAGE;
    }
    rd_kafka_topic_partition_list_t *assign = rd_kafka_topic_partition_list_new(32);
    int status = 0;
    for (int ti = 0; ti < rc->ntopics && !status; ti++) {
        const struct rd_kafka_metadata_topic *mt = NULL;
        for (int i = 0; i < md->topic_cnt; i++)
            if (!strcmp(md->topics[i].topic, rc->topics[ti]))
                mt = &md->topics[i];
        if (!mt || mt->err) {
            fprintf(stderr, "posedge-ctl reconcile: topic %s: %s (counted as empty)\n",
                    rc->topics[ti], mt ? rd_kafka_err2str(mt->err) : "does not exist");
            continue;
        }
        for (int pi = 0; pi < mt->partition_cnt; pi++) {
            int32_t p = mt->partitions[pi].id;
            int64_t lo = 0, hi = 0;
            e = rd_kafka_query_watermark_offsets(rk, rc->topics[ti], p, &lo, &hi,
                                                 (int)left_ms(deadline));
            if (e) {
                fprintf(stderr, "posedge-ctl reconcile: %s [%d]: cannot read the watermarks: %s\n",
                        rc->topics[ti], (int)p, rd_kafka_err2str(e));
                status = EXIT_USAGE;
                break;
            }
            if (hi <= lo)
                continue;
            struct part *np = realloc(rc->parts, (size_t)(rc->nparts + 1) * sizeof *np);
            if (!np) {
                status = EXIT_FAIL;
                break;
            }
            rc->parts = np;
            rc->parts[rc->nparts++] = (struct part){.topic = ti, .id = p, .hi = hi};
            rc->total += hi - lo;
            rd_kafka_topic_partition_list_add(assign, rc->topics[ti], p)->offset =
                RD_KAFKA_OFFSET_BEGINNING;
        }
    }
    rd_kafka_metadata_destroy(md);
    if (!status && rc->nparts > 0 && (e = rd_kafka_assign(rk, assign))) {
        fprintf(stderr, "posedge-ctl reconcile: assign: %s\n", rd_kafka_err2str(e));
        status = EXIT_USAGE;
    }
    rd_kafka_topic_partition_list_destroy(assign);
    return status;
}

static struct part *part_find(struct rec *rc, int topic, int32_t id)
{
    for (int i = 0; i < rc->nparts; i++)
        if (rc->parts[i].topic == topic && rc->parts[i].id == id)
            return &rc->parts[i];
    return NULL;
}

static void part_done(struct rec *rc, struct part *p)
{
    if (!p->done) {
        p->done = true;
        rc->ndone++;
    }
}

/* Read every assigned partition up to its high watermark. */
static int drain(struct rec *rc, rd_kafka_t *rk, int64_t deadline)
{
    while (rc->ndone < rc->nparts) {
        if (left_ms(deadline) == 0) {
            fprintf(stderr,
                    "posedge-ctl reconcile: timed out after %d s: read %" PRId64 " of %" PRId64
                    " records; partitions not read to their end:",
                    rc->timeout_s, rc->records, rc->total);
            for (int i = 0; i < rc->nparts; i++)
                if (!rc->parts[i].done)
                    fprintf(stderr, " %s[%d]", rc->topics[rc->parts[i].topic],
                            (int)rc->parts[i].id);
            fprintf(stderr, " (Kafka unreachable, or an open transaction?)\n");
            return EXIT_USAGE;
        }
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        int topic = m->rkt ? topic_index(rc, rd_kafka_topic_name(m->rkt)) : -1;
        struct part *p = topic >= 0 ? part_find(rc, topic, m->partition) : NULL;
        int e = PE_OK;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (p && m->offset >= p->hi)
                part_done(rc, p);
        } else if (m->err) {
            pe_log(PE_LOG_WARN, "reconcile.consume", "err=%s reason=\"%s\"",
                   rd_kafka_err2name(m->err), rd_kafka_message_errstr(m));
            if (refusal(m->err) && !rc->refused) {
                rc->refused = m->err;
                snprintf(rc->refusal, sizeof rc->refusal, "%s", rd_kafka_message_errstr(m));
            }
        } else if (p && !p->done && m->offset < p->hi) {
            e = take(rc, m, topic);
            if (m->offset + 1 >= p->hi)
                part_done(rc, p);
        } else if (p && m->offset >= p->hi) {
            part_done(rc, p); /* written after we started: not ours to judge */
        }
        rd_kafka_message_destroy(m);
        if (rc->refused)
            return refused(rc);
        if (e) {
            fprintf(stderr, "posedge-ctl reconcile: %s\n", pe_strerror(e));
            return EXIT_USAGE;
        }
    }
    return 0;
}

/* ---- comparing ---- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_term(const void *a, const void *b)
{
    const struct term *x = a, *y = b;
    int c = strcmp(x->store, y->store);
    return c ? c : strcmp(x->terminal, y->terminal);
}

/* Walk one journal: every event that belongs in the topics read must be among the seqs. */
static int compare_journal(struct rec *rc, struct term *t)
{
    struct pe_journal_iter *it;
    struct pe_journal_rec r;
    int e = pe_journal_iter_open(t->j, 1, NULL, &it);
    while (e == PE_OK && (e = pe_journal_iter_next(it, &r)) == PE_OK) {
        if (topic_index(rc, default_topic(r.type)) < 0)
            continue;
        t->journal++;
        if (t->nseqs == 0 || !bsearch(&r.seq, t->seqs, t->nseqs, sizeof *t->seqs, cmp_i64)) {
            t->missing++;
            list_add(&t->show_missing, r.seq);
        }
    }
    pe_journal_iter_close(it);
    if (e != PE_EEOF) {
        fprintf(stderr, "posedge-ctl reconcile: reading %s: %s\n", t->path, pe_strerror(e));
        return EXIT_USAGE;
    }
    return 0;
}

static void count_duplicates(struct term *t)
{
    if (t->nseqs)
        qsort(t->seqs, t->nseqs, sizeof *t->seqs, cmp_i64);
    for (size_t i = 1; i < t->nseqs; i++) {
        if (t->seqs[i] == t->seqs[i - 1]) {
            if (t->show_dup.n == 0 || t->show_dup.v[t->show_dup.n - 1] != t->seqs[i])
                list_add(&t->show_dup, t->seqs[i]);
            t->duplicates++;
        }
    }
}

static int open_journals(struct rec *rc, int n, char **paths)
{
    for (int i = 0; i < n; i++) {
        char err[512];
        struct pe_journal *j;
        struct pe_journal_opts o = {.readonly = true};
        if (pe_journal_open(paths[i], &o, &j, err, sizeof err) != PE_OK) {
            fprintf(stderr, "posedge-ctl reconcile: %s\n", err);
            return EXIT_USAGE;
        }
        struct term *t = term_find(rc, pe_journal_store(j), pe_journal_terminal(j), false);
        if (t) {
            fprintf(stderr, "posedge-ctl reconcile: %s and %s are both journals of %s/%s\n",
                    t->path, paths[i], t->store, t->terminal);
            pe_journal_close(j);
            return EXIT_USAGE;
        }
        t = term_find(rc, pe_journal_store(j), pe_journal_terminal(j), true);
        if (!t) {
            pe_journal_close(j);
            return EXIT_FAIL;
        }
        t->j = j;
        t->path = paths[i];
    }
    return 0;
}

static int report(struct rec *rc)
{
    int64_t missing = 0, dups = 0, mism = 0;
    qsort(rc->terms, (size_t)rc->nterms, sizeof *rc->terms, cmp_term);
    for (int i = 0; i < rc->nterms; i++) {
        struct term *t = &rc->terms[i];
        if (!t->j) {
            printf("%s/%s: unknown terminal (no journal given): kafka=%zu duplicates=%" PRId64
                   " out_of_order=%" PRId64 "\n",
                   t->store, t->terminal, t->nseqs, t->duplicates, t->out_of_order);
            continue;
        }
        printf("%s/%s: journal=%" PRId64 " kafka=%zu missing=%" PRId64 " duplicates=%" PRId64
               " mismatched=%" PRId64 " out_of_order=%" PRId64 " (%s)\n",
               t->store, t->terminal, t->journal, t->nseqs, t->missing, t->duplicates,
               t->mismatched, t->out_of_order, t->path);
        list_print("missing seqs", &t->show_missing, t->missing);
        list_print("duplicate seqs", &t->show_dup, t->duplicates);
        list_print("mismatched seqs", &t->show_mismatch, t->mismatched);
        if (t->not_in_journal)
            printf("    %" PRId64 " record%s with a seq the journal does not have (an older copy "
                   "of the journal?)\n",
                   t->not_in_journal, t->not_in_journal == 1 ? "" : "s");
        missing += t->missing;
        dups += t->duplicates;
        mism += t->mismatched;
    }
    printf("read %d topic%s, %d non-empty partition%s, %" PRId64 " records", rc->ntopics,
           rc->ntopics == 1 ? "" : "s", rc->nparts, rc->nparts == 1 ? "" : "s", rc->records);
    if (rc->unidentified)
        printf(" (%" PRId64 " without store/terminal/seq, not counted)", rc->unidentified);
    if (rc->dead)
        printf(" (%" PRId64 " dead letter%s, not compared)", rc->dead, rc->dead == 1 ? "" : "s");
    printf("\nmissing=%" PRId64 " duplicates=%" PRId64 " mismatched=%" PRId64 "\n", missing, dups,
           mism);
    if (fflush(stdout) != 0)
        return EXIT_USAGE;
    return missing || dups || mism ? EXIT_FAIL : 0;
}

/* The security options' values start here in getopt's val (SEC_OPT + index). */
#define SEC_OPT 1000
#define SEC_MAX 16

int ctl_reconcile(int argc, char **argv)
{
    static const struct option fixed[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"bridge-config", required_argument, NULL, 'C'},
        {"topic", required_argument, NULL, 't'},
        {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
    };
    struct option longopts[sizeof fixed / sizeof fixed[0] + SEC_MAX + 1];
    const char *sec_args[SEC_MAX] = {NULL};
    int nopt = 0, nsec = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        longopts[nopt++] = fixed[i];
    for (; pe_kafka_security_keys[nsec].key && nsec < SEC_MAX; nsec++)
        longopts[nopt++] = (struct option){pe_kafka_security_keys[nsec].option, required_argument,
                                           NULL, SEC_OPT + nsec};
    longopts[nopt] = (struct option){NULL, 0, NULL, 0};
    struct rec rc = {.timeout_s = 60};
    struct pe_kafka_client bridge_cfg = {0};
    const char *bridge_path = NULL;
    char why[512];
    int c;
    pe_kafka_security_defaults(&rc.sec);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c >= SEC_OPT && c < SEC_OPT + nsec) {
            sec_args[c - SEC_OPT] = optarg; /* applied over --bridge-config, whatever the order */
        } else if (c == 'C') {
            bridge_path = optarg;
        } else if (c == 'b') {
            rc.brokers = optarg;
        } else if (c == 't') {
            if (rc.ntopics == MAX_TOPICS || !*optarg) {
                fprintf(stderr, "posedge-ctl reconcile: --topic: at most %d non-empty topics\n",
                        MAX_TOPICS);
                return EXIT_USAGE;
            }
            if (topic_index(&rc, optarg) < 0)
                rc.topics[rc.ntopics++] = optarg;
        } else if (c == 'T') {
            long v;
            if (ctl_seconds("reconcile", "--timeout", optarg, 86400, &v))
                return EXIT_USAGE;
            rc.timeout_s = (int)v;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (bridge_path) {
        if (pe_kafka_client_load(bridge_path, &bridge_cfg, why, sizeof why) != PE_OK) {
            fprintf(stderr, "posedge-ctl reconcile: --bridge-config %s\n", why);
            return EXIT_USAGE;
        }
        rc.sec = bridge_cfg.security;
        rc.properties = bridge_cfg.properties;
        if (!rc.brokers)
            rc.brokers = bridge_cfg.brokers;
    }
    int status = 0;
    for (int i = 0; i < nsec && !status; i++)
        if (sec_args[i] && pe_kafka_security_set(&rc.sec, i, sec_args[i], why, sizeof why)) {
            fprintf(stderr, "posedge-ctl reconcile: --%s: %s\n", pe_kafka_security_keys[i].option,
                    why);
            status = EXIT_USAGE;
        }
    if (!status && pe_kafka_security_check(&rc.sec, why, sizeof why)) {
        fprintf(stderr, "posedge-ctl reconcile: %s\n", why);
        status = EXIT_USAGE;
    }
    if (!status && (!rc.brokers || !*rc.brokers || optind >= argc)) {
        fprintf(stderr, "posedge-ctl reconcile: needs --brokers (or --bridge-config) and at "
                        "least one journal\n");
        usage(stderr);
        status = EXIT_USAGE;
    }
    if (status) {
        pe_kafka_client_free(&bridge_cfg);
        return status;
    }
    if (rc.ntopics == 0)
        rc.ntopics = default_topics(rc.topics, MAX_TOPICS);

    int64_t deadline = pe_mono_ms() + (int64_t)rc.timeout_s * 1000;
    rd_kafka_t *rk = NULL;
    /* The consumer first: a security file that cannot be used is a usage error, named
     * before any journal is opened. */
    status = consumer_new(&rc, &rk);
    if (!status)
        status = open_journals(&rc, argc - optind, argv + optind);
    if (!status)
        status = plan(&rc, rk, deadline);
    if (!status)
        status = drain(&rc, rk, deadline);
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    for (int i = 0; !status && i < rc.nterms; i++) {
        count_duplicates(&rc.terms[i]);
        if (rc.terms[i].j)
            status = compare_journal(&rc, &rc.terms[i]);
    }
    if (!status)
        status = report(&rc);
    for (int i = 0; i < rc.nterms; i++) {
        pe_journal_close(rc.terms[i].j);
        free(rc.terms[i].seqs);
        free(rc.terms[i].pp);
    }
    free(rc.terms);
    free(rc.parts);
    pe_kafka_client_free(&bridge_cfg);
    return status;
}
