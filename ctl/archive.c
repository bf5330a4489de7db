/* SPDX-License-Identifier: Apache-2.0 */
/*
 * archive.c - posedge-ctl export, audit and prune: a journal's records as an archive an auditor
 * can check without posedge, the check of archives and a live journal as one history, and the
 * live journal pruned of what is archived.
 *
 *   posedge-ctl export DB [--from SEQ] [--to SEQ] --out FILE
 *   posedge-ctl audit FILE... [--journal DB]
 *   posedge-ctl prune DB --through SEQ --archive-dir DIR
 *
 * The archive is the JSON-lines file docs/audit.md specifies (archive.h; the writer is
 * store/journal_archive.c, which the agent's own pruning uses too): a manifest line, the key
 * lines (the signer_installed records in force), one line per record with its exact hashed bytes
 * and its signature.
 *
 * The invariant: audit accepts a set of files only when every record chains onto the one
 * before it from the first archive's anchor to the last record, every signature and counter
 * verifies in its key group (signer.h's pe_sig_group, the journal's own verifier), and every
 * figure of every manifest is what the records say. The manifest is not signed on its own: see
 * docs/audit.md, "Why the manifest carries no signature of its own".
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "posedge/archive.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/journal.h"
#include "posedge/json.h"
#include "posedge/signer.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2


int ctl_export(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},
        {"out", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    struct pe_journal *j = NULL;
    struct pe_archive_written w;
    const char *out = NULL;
    int64_t from = 0, to = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        char *end;
        long long v = 0;
        if (c == 'f' || c == 't') {
            errno = 0;
            v = strtoll(optarg, &end, 10);
            if (errno || *end || v < 1) {
                fprintf(stderr, "posedge-ctl export: --%s: expected a seq >= 1, got \"%s\"\n",
                        c == 'f' ? "from" : "to", optarg);
                return EXIT_USAGE;
            }
        }
        if (c == 'f')
            from = v;
        else if (c == 't')
            to = v;
        else if (c == 'o')
            out = optarg;
        else
            goto usage;
    }
    if (optind + 1 != argc || !out)
        goto usage;
    const char *db = argv[optind];
    char err[512];
    struct pe_journal_opts o = {.readonly = true};
    if (pe_journal_open(db, &o, &j, err, sizeof err)) {
        fprintf(stderr, "posedge-ctl export: %s\n", err);
        return EXIT_FAIL;
    }
    int rc = EXIT_FAIL;
    struct pe_journal_verify_result res;
    int e = pe_journal_verify(j, &res);
    if (e == PE_ECHAIN) {
        fprintf(stderr, "posedge-ctl export: %s does not verify (first bad seq %lld: %s); "
                        "nothing exported\n",
                db, (long long)res.bad_seq, res.why);
        goto out;
    }
    if (e) {
        fprintf(stderr, "posedge-ctl export: %s: %s\n", db, pe_strerror(e));
        goto out;
    }
    char why[320] = "";
    e = pe_journal_export(j, db, from, to, out, &w, why, sizeof why);
    if (e) {
        fprintf(stderr, "posedge-ctl export: %s\n", why[0] ? why : pe_strerror(e));
        goto out;
    }
    printf("exported %s/%s seq %lld..%lld (%lld records, %lld signed) to %s, last hash %.16s\n",
           pe_journal_store(j), pe_journal_terminal(j), (long long)w.from, (long long)w.to,
           (long long)w.count, (long long)w.nsigned, out, w.last);
    rc = 0;
out:
    pe_journal_close(j);
    return rc;
usage:
    fputs("usage: posedge-ctl export DB [--from SEQ] [--to SEQ] --out FILE\n", stderr);
    return EXIT_USAGE;
}

/* ---- audit ---- */

/* The history being audited, as far as it has been read. */
struct history {
    bool started;                        /* a first record or anchor was taken */
    char store[PE_ID_MAX];               /* whose records */
    char terminal[PE_ID_MAX];
    int64_t first;                       /* the first seq of the history */
    int64_t next;                        /* the seq the next record must have */
    char prev[PE_SHA256_HEXLEN];         /* the hash of seq next-1 (the anchor at first) */
    char group_hash[PE_SHA256_HEXLEN];   /* the hash of the group's signer_installed record */
    struct pe_sig_group g;               /* the signing group in force */
    int64_t nsigned, ngroups;            /* signatures verified, signing keys installed */
    int64_t perpetual;                   /* the perpetual total after seq next-1 (report.h) */
    const char *where;                   /* the file the last record came from */
};

/* Take the record of seq (rec, len bytes; claimed: the hash its line or row states, may be
 * NULL; sig the sig column's bytes or NULL) as the history's next one. *parsed (may be NULL) gets
 * the record. Errors: PE_ECHAIN (why says "seq N: ..."), PE_ENOMEM. */
static int feed(struct history *h, int64_t seq, const char *rec, size_t len, const char *claimed,
                const void *sig, size_t siglen, cJSON **parsed, char *why, size_t whylen)
{
    struct pe_event_meta m;
    char hash[PE_SHA256_HEXLEN];
    cJSON *r = NULL;
    if (seq != h->next) {
        snprintf(why, whylen, "seq %lld: missing (the next record is seq %lld)",
                 (long long)h->next, (long long)seq);
        return PE_ECHAIN;
    }
    int e = pe_event_verify(rec, len, seq, h->prev, &m, hash, &r, why, whylen);
    if (e == PE_ENOMEM)
        return e;
    if (e) {
        if (strncmp(why, "seq ", 4) != 0) {
            char w[160];
            snprintf(w, sizeof w, "%.150s", why);
            snprintf(why, whylen, "seq %lld: %s", (long long)seq, w);
        }
        return PE_ECHAIN;
    }
    const char *bad = NULL;
    if (claimed && strcmp(claimed, hash) != 0)
        bad = "the hash beside the record is not the record's hash";
    else if (strcmp(m.store, h->store) != 0 || strcmp(m.terminal, h->terminal) != 0)
        bad = "record belongs to another store or terminal";
    if (bad) {
        snprintf(why, whylen, "seq %lld: %s", (long long)seq, bad);
        cJSON_Delete(r);
        return PE_ECHAIN;
    }
    bool verified;
    const char *type = pe_event_type_name(m.type);
    e = pe_sig_group_check(&h->g, seq, type, rec, len, hash, sig, siglen, &verified, why, whylen);
    if (e) {
        cJSON_Delete(r);
        return e;
    }
    if (m.type == PE_EV_SIGNER_INSTALLED) {
        memcpy(h->group_hash, hash, sizeof hash);
        h->ngroups += strcmp(h->g.alg, PE_SIGNER_ALG) == 0;
    }
    h->nsigned += verified;
    memcpy(h->prev, hash, sizeof hash);
    h->next++;
    if (parsed)
        *parsed = r;
    else
        cJSON_Delete(r);
    return PE_OK;
}

/* One archive file, opened, with its manifest. */
struct archive {
    const char *path;
    FILE *f;
    cJSON *manifest;
    int64_t first, last;
    char *line; /* getline's buffer */
    size_t cap;
};

/* The next line of a as a canonical JSON object (*out the caller's); PE_EEOF at the end.
 * Errors: PE_EPARSE (why says what is wrong). */
static int next_line(struct archive *a, cJSON **out, char *why, size_t whylen)
{
    ssize_t n = getline(&a->line, &a->cap, a->f);
    if (n < 0)
        return PE_EEOF;
    if (n == 0 || a->line[n - 1] != '\n') {
        snprintf(why, whylen, "the last line is not terminated (the file was cut)");
        return PE_EPARSE;
    }
    cJSON *o = NULL;
    char *again = NULL;
    size_t len;
    int e = pe_json_parse(a->line, (size_t)n - 1, &o, why, whylen);
    if (e == PE_OK && (!cJSON_IsObject(o) || pe_json_canonical(o, &again, &len) != PE_OK ||
                       len != (size_t)n - 1 || memcmp(again, a->line, len) != 0)) {
        snprintf(why, whylen, "a line is not canonical JSON");
        e = PE_EPARSE;
    }
    free(again);
    if (e) {
        cJSON_Delete(o);
        return e == PE_ENOMEM ? e : PE_EPARSE;
    }
    *out = o;
    return PE_OK;
}

static int get_point(const cJSON *m, const char *key, int64_t *seq, const char **hash)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(m, key);
    return pe_json_get_int(p, "seq", seq) || pe_json_get_str(p, "hash", hash) ||
                   !pe_is_sha256_hex(*hash)
               ? PE_EINVAL
               : PE_OK;
}

/* Open a and read its manifest. Errors: PE_EIO, PE_EPARSE (why). */
static int archive_open(struct archive *a, char *why, size_t whylen)
{
    const char *fmt, *hash;
    a->f = fopen(a->path, "r");
    if (!a->f) {
        snprintf(why, whylen, "%s", strerror(errno));
        return PE_EIO;
    }
    int e = next_line(a, &a->manifest, why, whylen);
    if (e == PE_EEOF) {
        snprintf(why, whylen, "empty file");
        return PE_EPARSE;
    }
    if (e)
        return e;
    if (pe_json_get_str(a->manifest, "format", &fmt) || strcmp(fmt, PE_ARCHIVE_FORMAT) != 0) {
        snprintf(why, whylen, "not a %s archive (the first line is not its manifest)",
                 PE_ARCHIVE_FORMAT);
        return PE_EPARSE;
    }
    if (get_point(a->manifest, "first", &a->first, &hash) ||
        get_point(a->manifest, "last", &a->last, &hash) || a->first < 1 || a->last < a->first) {
        snprintf(why, whylen, "manifest: first or last missing or out of order");
        return PE_EPARSE;
    }
    return PE_OK;
}

static void archive_close(struct archive *a)
{
    if (a->f)
        fclose(a->f);
    cJSON_Delete(a->manifest);
    free(a->line);
}

/* A line's record and signature: rec borrowed from l, *sig malloc'd canonical JSON or NULL. */
static int line_record(const cJSON *l, int64_t *seq, const char **rec, const char **hash,
                       char **sig, size_t *siglen)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(l, "sig");
    *sig = NULL;
    *siglen = 0;
    if (pe_json_get_int(l, "seq", seq) || pe_json_get_str(l, "record", rec) ||
        pe_json_get_str(l, "hash", hash) || !s)
        return PE_EINVAL;
    if (cJSON_IsNull(s))
        return PE_OK;
    return cJSON_IsObject(s) ? pe_json_canonical(s, sig, siglen) : PE_EINVAL;
}

/* The manifest's number key, or -1. */
static int64_t mint(const cJSON *m, const char *key)
{
    int64_t v;
    return pe_json_get_int(m, key, &v) ? -1 : v;
}

/* Two JSON values equal in canonical form. */
static bool same_json(const cJSON *a, const cJSON *b)
{
    char *x = NULL, *y = NULL;
    bool same = a && b && pe_json_canonical(a, &x, NULL) == PE_OK &&
                pe_json_canonical(b, &y, NULL) == PE_OK && strcmp(x, y) == 0;
    free(x);
    free(y);
    return same;
}

/* Check archive a's anchor against the history (or start the history at it) and take its key
 * lines. keys gets the seqs and hashes of the key lines inside the range. */
static int audit_start(struct history *h, struct archive *a, cJSON **keys, int64_t *nkey_lines,
                       cJSON **pending, char *why, size_t whylen)
{
    const char *store, *terminal, *ahash;
    int64_t aseq, acounter, aperpetual;
    const cJSON *anchor = cJSON_GetObjectItemCaseSensitive(a->manifest, "anchor");
    if (pe_json_get_str(a->manifest, "store", &store) ||
        pe_json_get_str(a->manifest, "terminal", &terminal) ||
        get_point(a->manifest, "anchor", &aseq, &ahash) ||
        pe_json_get_int(anchor, "counter", &acounter) ||
        pe_json_get_int(anchor, "perpetual_total", &aperpetual) || aseq != a->first - 1 ||
        !pe_event_id_valid(store, 1) || !pe_event_id_valid(terminal, 1)) {
        snprintf(why, whylen, "manifest: store, terminal or anchor missing or wrong");
        return PE_ECHAIN;
    }
    if (h->started && (strcmp(store, h->store) != 0 || strcmp(terminal, h->terminal) != 0)) {
        snprintf(why, whylen, "belongs to %s/%s, the history to %s/%s", store, terminal,
                 h->store, h->terminal);
        return PE_ECHAIN;
    }
    if (h->started && a->first > h->next) {
        snprintf(why, whylen, "seq %lld: missing (gap: %s ends at seq %lld, this archive starts "
                              "at seq %lld)",
                 (long long)h->next, h->where, (long long)h->next - 1, (long long)a->first);
        return PE_ECHAIN;
    }
    if (h->started && a->first < h->next) {
        snprintf(why, whylen, "seq %lld: overlaps %s, which already holds seq %lld..%lld",
                 (long long)a->first, h->where, (long long)h->first, (long long)h->next - 1);
        return PE_ECHAIN;
    }
    if (h->started && strcmp(ahash, h->prev) != 0) {
        snprintf(why, whylen, "seq %lld: anchor hash is not the hash of seq %lld in %s",
                 (long long)a->first, (long long)aseq, h->where);
        return PE_ECHAIN;
    }
    if (h->started && aperpetual != h->perpetual) {
        snprintf(why, whylen, "seq %lld: anchor perpetual_total %lld, but the records before it "
                              "sum to %lld",
                 (long long)a->first, (long long)aperpetual, (long long)h->perpetual);
        return PE_ECHAIN;
    }
    if (!h->started && aseq == 0 && aperpetual != 0) {
        snprintf(why, whylen, "seq 1: anchor perpetual_total %lld before any record",
                 (long long)aperpetual);
        return PE_ECHAIN;
    }
    if (!h->started) {
        h->perpetual = aperpetual; /* mid-history: taken as given, as the anchor's hash is */
        snprintf(h->store, sizeof h->store, "%s", store);
        snprintf(h->terminal, sizeof h->terminal, "%s", terminal);
        h->first = h->next = a->first;
        if (a->first == 1) {
            pe_event_genesis(store, terminal, h->prev);
            if (strcmp(ahash, h->prev) != 0) {
                snprintf(why, whylen, "seq 1: anchor hash is not the genesis value of %s/%s",
                         store, terminal);
                return PE_ECHAIN;
            }
        } else {
            snprintf(h->prev, sizeof h->prev, "%s", ahash);
        }
    }
    /* The key lines: at most one before the range (the group in force at the anchor), then the
     * signer_installed records of the range, in seq order. */
    cJSON *l = NULL;
    int e;
    int64_t last_key = 0;
    *nkey_lines = 0;
    while ((e = next_line(a, &l, why, whylen)) == PE_OK) {
        const char *kind, *rec, *hash;
        char *sig = NULL;
        size_t siglen;
        int64_t seq;
        if (pe_json_get_str(l, "kind", &kind) || strcmp(kind, "key") != 0)
            break;
        (*nkey_lines)++;
        if (line_record(l, &seq, &rec, &hash, &sig, &siglen) || seq <= last_key) {
            snprintf(why, whylen, "a key line is malformed or out of order");
            e = PE_ECHAIN;
        } else if (seq > a->last) {
            snprintf(why, whylen, "seq %lld: a key line after the archive's last record",
                     (long long)seq);
            e = PE_ECHAIN;
        } else if (seq >= a->first) {
            cJSON *k = cJSON_CreateObject();
            e = k && pe_json_add_str(k, "hash", hash) == PE_OK &&
                        pe_json_add_int(k, "seq", seq) == PE_OK
                    ? PE_OK
                    : PE_ENOMEM;
            if (e == PE_OK)
                cJSON_AddItemToArray(*keys, k);
            else
                cJSON_Delete(k);
        } else if (last_key) {
            snprintf(why, whylen, "seq %lld: more than one key line before the range",
                     (long long)seq);
            e = PE_ECHAIN;
        } else if (h->next > a->first || (h->g.seq != 0 && h->next == a->first &&
                                          h->g.seq != seq && h->where)) {
            snprintf(why, whylen, "seq %lld: the key in force is not the history's (seq %lld)",
                     (long long)seq, (long long)h->g.seq);
            e = PE_ECHAIN;
        } else if (h->where) {
            /* Continuing: the key line must be the record that started the group in force. */
            if (strcmp(hash, h->group_hash) != 0) {
                snprintf(why, whylen, "seq %lld: the key line is not the history's record",
                         (long long)seq);
                e = PE_ECHAIN;
            }
        } else {
            /* Starting mid-history: the key stands on its own signature. */
            struct pe_event_meta m;
            char rh[PE_SHA256_HEXLEN];
            bool verified;
            e = pe_event_verify(rec, strlen(rec), seq, NULL, &m, rh, NULL, why, whylen);
            if (e == PE_OK && (m.type != PE_EV_SIGNER_INSTALLED || strcmp(rh, hash) != 0)) {
                snprintf(why, whylen, "seq %lld: the key line is not a signer_installed record",
                         (long long)seq);
                e = PE_ECHAIN;
            }
            if (e == PE_OK)
                e = pe_sig_group_check(&h->g, seq, pe_event_type_name(m.type), rec, strlen(rec),
                                       rh, sig, siglen, &verified, why, whylen);
            if (e == PE_OK) {
                memcpy(h->group_hash, rh, sizeof rh);
                h->ngroups += strcmp(h->g.alg, PE_SIGNER_ALG) == 0;
                if (strcmp(h->g.alg, PE_SIGNER_ALG) == 0)
                    h->g.counter = acounter;
            } else if (e != PE_ENOMEM) {
                e = PE_ECHAIN;
            }
        }
        free(sig);
        last_key = seq;
        cJSON_Delete(l);
        l = NULL;
        if (e)
            return e;
    }
    if (e == PE_EPARSE)
        return PE_ECHAIN;
    if (h->where && strcmp(h->g.alg, PE_SIGNER_ALG) == 0 && acounter != h->g.counter) {
        snprintf(why, whylen, "seq %lld: anchor counter %lld, the history's last counter %lld",
                 (long long)a->first, (long long)acounter, (long long)h->g.counter);
        cJSON_Delete(l);
        return PE_ECHAIN;
    }
    *pending = l; /* the first record line (NULL at the end of the file) */
    return e == PE_EEOF || e == PE_OK ? PE_OK : e;
}

/* Audit archive a as the continuation of h. Prints FAILED and returns 1, or returns 0. */
static int audit_archive(struct history *h, struct archive *a)
{
    char why[320] = "";
    struct pe_archive_figures sum;
    cJSON *keys = cJSON_CreateArray(), *l = NULL;
    int64_t nkey_lines = 0;
    int e = pe_archive_figures_init(&sum);
    if (e == PE_OK && !keys)
        e = PE_ENOMEM;
    if (e == PE_OK)
        e = audit_start(h, a, &keys, &nkey_lines, &l, why, sizeof why);
    h->started = true;
    sum.perpetual = h->perpetual;
    int ki = 0;
    while (e == PE_OK && l) {
        const char *kind, *rec, *hash;
        char *sig = NULL;
        size_t siglen;
        int64_t seq;
        cJSON *r = NULL;
        if (pe_json_get_str(l, "kind", &kind) || strcmp(kind, "record") != 0 ||
            line_record(l, &seq, &rec, &hash, &sig, &siglen)) {
            snprintf(why, sizeof why, "seq %lld: a line that is not a record",
                     (long long)h->next);
            e = PE_ECHAIN;
        }
        if (e == PE_OK)
            e = feed(h, seq, rec, strlen(rec), hash, sig, siglen, &r, why, sizeof why);
        if (e == PE_OK) {
            const cJSON *k = cJSON_GetArrayItem(keys, ki);
            int64_t kseq = 0;
            const char *khash = "";
            if (k && pe_json_get_int(k, "seq", &kseq) == PE_OK &&
                pe_json_get_str(k, "hash", &khash) == PE_OK && kseq == seq)
                ki++;
            const char *type = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(r, "type"));
            bool is_key = strcmp(type, pe_event_type_name(PE_EV_SIGNER_INSTALLED)) == 0;
            if (is_key != (kseq == seq) || (is_key && strcmp(khash, hash) != 0)) {
                snprintf(why, sizeof why, "seq %lld: the key lines do not list this "
                                          "archive's signer_installed records",
                         (long long)seq);
                e = PE_ECHAIN;
            }
            if (e == PE_OK)
                e = pe_archive_figures_add(&sum, r, type, sig, siglen);
            if (e == PE_EINVAL) {
                snprintf(why, sizeof why, "seq %lld: a %s without currency or amount",
                         (long long)seq, type);
                e = PE_ECHAIN;
            }
            /* A record that states the perpetual total states the running sum. */
            int64_t claimed;
            if (e == PE_OK &&
                pe_json_get_int(cJSON_GetObjectItemCaseSensitive(r, "body"), "perpetual_total",
                                &claimed) == PE_OK &&
                claimed != sum.perpetual) {
                snprintf(why, sizeof why,
                         "seq %lld: perpetual_total %lld, but the records up to it sum to %lld",
                         (long long)seq, (long long)claimed, (long long)sum.perpetual);
                e = PE_ECHAIN;
            }
        }
        free(sig);
        cJSON_Delete(r);
        cJSON_Delete(l);
        l = NULL;
        if (e == PE_OK) {
            e = next_line(a, &l, why, sizeof why);
            if (e == PE_EEOF)
                e = PE_OK, l = NULL;
            else if (e == PE_EPARSE) {
                char w[160];
                snprintf(w, sizeof w, "%.150s", why);
                snprintf(why, sizeof why, "seq %lld: %s", (long long)h->next, w);
                e = PE_ECHAIN;
            }
        }
    }
    cJSON_Delete(l);
    /* The manifest states what the records say, figure by figure. */
    const cJSON *m = a->manifest;
    const char *lhash = "";
    int64_t lseq = 0, mp = 0;
    get_point(m, "last", &lseq, &lhash);
    if (e == PE_OK) {
        const char *bad = NULL;
        if (h->next - 1 != a->last)
            snprintf(why, sizeof why, "seq %lld: missing (the manifest's last seq is %lld)",
                     (long long)h->next, (long long)a->last);
        else if (strcmp(lhash, h->prev) != 0)
            bad = "last hash";
        else if (mint(m, "count") != sum.count)
            bad = "count";
        else if (mint(m, "signed") != sum.nsigned)
            bad = "signed";
        else if (mint(m, "marked") != sum.nmarked)
            bad = "marked";
        else if (pe_json_get_int(m, "perpetual_total", &mp) || mp != sum.perpetual)
            bad = "perpetual_total";
        else if (mint(m, "keys") != nkey_lines || ki != cJSON_GetArraySize(keys))
            bad = "keys";
        else if (!same_json(cJSON_GetObjectItemCaseSensitive(m, "types"), sum.types))
            bad = "types";
        else if (!same_json(cJSON_GetObjectItemCaseSensitive(m, "totals"), sum.totals))
            bad = "totals";
        if (bad)
            snprintf(why, sizeof why, "manifest: %s does not match the records", bad);
        if (why[0])
            e = PE_ECHAIN;
    }
    h->perpetual = sum.perpetual;
    char marked[64] = "";
    if (sum.nmarked)
        snprintf(marked, sizeof marked, ", %lld unsigned while the signer was down",
                 (long long)sum.nmarked);
    if (e == PE_OK)
        printf("OK %s: seq %lld..%lld, %lld records, %lld signed%s, manifest matches\n", a->path,
               (long long)a->first, (long long)a->last, (long long)sum.count,
               (long long)sum.nsigned, marked);
    else
        printf("FAILED %s: %s\n", a->path, why[0] ? why : pe_strerror(e));
    h->where = a->path;
    pe_archive_figures_free(&sum);
    cJSON_Delete(keys);
    return e == PE_OK ? 0 : EXIT_FAIL;
}

/* Audit the live journal db as the rest of h (or, with no archive before it, as the whole
 * history): the journal verifies on its own, its record at the archives' last seq has their last
 * hash, and its later records continue the chain. Prints FAILED and returns 1, or returns 0. */
static int audit_journal(struct history *h, const char *db, int64_t *from_journal)
{
    char err[512], why[320] = "";
    struct pe_journal *j = NULL;
    struct pe_journal_opts o = {.readonly = true};
    struct pe_journal_iter *it = NULL;
    struct pe_journal_rec r;
    struct pe_journal_verify_result res = {0};
    struct pe_journal_anchor a = {0};
    int64_t last = 0, n = 0;
    char last_hash[PE_SHA256_HEXLEN] = "";
    int e = pe_journal_open(db, &o, &j, err, sizeof err);
    if (e) {
        printf("FAILED %s: %s\n", db, err);
        return EXIT_FAIL;
    }
    e = pe_journal_verify(j, &res);
    if (e == PE_ECHAIN) {
        snprintf(why, sizeof why, "first bad seq %lld: %s", (long long)res.bad_seq, res.why);
        goto out;
    }
    if (e == PE_OK)
        e = pe_journal_last(j, &last, last_hash, NULL);
    if (e)
        goto out;
    if (e == PE_OK)
        e = pe_journal_anchor(j, &a);
    if (e)
        goto out;
    if (h->started && (strcmp(pe_journal_store(j), h->store) != 0 ||
                       strcmp(pe_journal_terminal(j), h->terminal) != 0)) {
        snprintf(why, sizeof why, "belongs to %s/%s, the archives to %s/%s",
                 pe_journal_store(j), pe_journal_terminal(j), h->store, h->terminal);
        e = PE_ECHAIN;
        goto out;
    }
    if (!h->started) {
        h->started = true;
        snprintf(h->store, sizeof h->store, "%s", pe_journal_store(j));
        snprintf(h->terminal, sizeof h->terminal, "%s", pe_journal_terminal(j));
        h->first = h->next = a.seq + 1;
        h->perpetual = a.perpetual_total;
        pe_event_genesis(h->store, h->terminal, h->prev);
        if (a.seq) {
            /* A pruned journal alone: the history starts at its anchor, as an archive that starts
             * mid-history does (pe_journal_verify checked the key record it keeps). */
            memcpy(h->prev, a.hash, sizeof h->prev);
            if (a.key_record) {
                size_t klen = strlen(a.key_record);
                e = pe_sig_group_install(&h->g, a.key_seq, a.key_record, klen, why, sizeof why);
                if (e)
                    goto out;
                memcpy(h->group_hash, a.key_hash, sizeof h->group_hash);
                h->ngroups += strcmp(h->g.alg, PE_SIGNER_ALG) == 0;
                if (strcmp(h->g.alg, PE_SIGNER_ALG) == 0)
                    h->g.counter = a.counter;
            }
        }
    } else if (a.seq > h->next - 1) {
        snprintf(why, sizeof why, "seq %lld: missing (the archives end at seq %lld, the journal "
                                  "was pruned up to seq %lld)",
                 (long long)h->next, (long long)h->next - 1, (long long)a.seq);
        e = PE_ECHAIN;
        goto out;
    } else if (a.seq == h->next - 1 &&
               (strcmp(a.hash, h->prev) != 0 || a.perpetual_total != h->perpetual ||
                (strcmp(h->g.alg, PE_SIGNER_ALG) == 0 && a.counter != h->g.counter) ||
                (a.key_record ? strcmp(a.key_hash, h->group_hash) != 0 : h->g.alg[0] != 0))) {
        snprintf(why, sizeof why, "seq %lld: the journal's anchor (hash %.16s, counter %lld) is "
                                  "not the last record of %s (hash %.16s, counter %lld, or key, "
                                  "or perpetual_total)",
                 (long long)a.seq, a.hash, (long long)a.counter, h->where, h->prev,
                 (long long)h->g.counter);
        e = PE_ECHAIN;
        goto out;
    } else if (last < h->next - 1) {
        snprintf(why, sizeof why, "ends at seq %lld, before the archives' last seq %lld",
                 (long long)last, (long long)h->next - 1);
        e = PE_ECHAIN;
        goto out;
    }
    /* The junction: the journal's record at the archives' last seq must be the same record. */
    int64_t from = h->next > 1 ? h->next - 1 : 1;
    e = pe_journal_iter_open(j, from, NULL, &it);
    while (e == PE_OK && (e = pe_journal_iter_next(it, &r)) == PE_OK) {
        if (r.seq < h->next) {
            if (r.seq == h->next - 1 && strcmp(r.hash, h->prev) != 0) {
                snprintf(why, sizeof why, "seq %lld: not the record %s holds (hash %.16s, there "
                                          "%.16s)",
                         (long long)r.seq, h->where ? h->where : "the archive", r.hash, h->prev);
                e = PE_ECHAIN;
            }
            continue;
        }
        e = feed(h, r.seq, r.record, r.len, r.hash, r.sig, r.siglen, NULL, why, sizeof why);
        n += e == PE_OK;
    }
    if (e == PE_EEOF)
        e = PE_OK;
    if (e == PE_OK && h->next - 1 != last) {
        snprintf(why, sizeof why, "seq %lld: missing (the journal's last seq is %lld)",
                 (long long)h->next, (long long)last);
        e = PE_ECHAIN;
    }
out:
    pe_journal_anchor_free(&a);
    pe_journal_iter_close(it);
    pe_journal_close(j);
    if (e == PE_OK) {
        if (n)
            printf("OK %s: seq %lld..%lld continue the history (%lld records)\n", db,
                   (long long)(last - n + 1), (long long)last, (long long)n);
        else
            printf("OK %s: ends at seq %lld, the archives' last record\n", db, (long long)last);
        *from_journal = n;
        h->where = db;
        return 0;
    }
    printf("FAILED %s: %s\n", db, why[0] ? why : pe_strerror(e));
    return EXIT_FAIL;
}

static int by_first(const void *a, const void *b)
{
    const struct archive *x = a, *y = b;
    return (x->first > y->first) - (x->first < y->first);
}

int ctl_audit(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"journal", required_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'j')
            db = optarg;
        else
            goto usage;
    }
    int na = argc - optind;
    if (na == 0 && !db)
        goto usage;
    struct archive *a = calloc(na ? (size_t)na : 1, sizeof *a);
    struct history h = {0};
    int rc = 0;
    int64_t nj = 0;
    if (!a) {
        fputs("posedge-ctl audit: out of memory\n", stderr);
        return EXIT_USAGE;
    }
    /* Every manifest first, so the archives are audited in seq order whatever order the
     * command line gives them in. */
    for (int i = 0; i < na && rc == 0; i++) {
        char why[200];
        a[i].path = argv[optind + i];
        if (archive_open(&a[i], why, sizeof why)) {
            printf("FAILED %s: %s\n", a[i].path, why);
            rc = EXIT_FAIL;
        }
    }
    if (rc == 0)
        qsort(a, (size_t)na, sizeof *a, by_first);
    for (int i = 0; i < na && rc == 0; i++)
        rc = audit_archive(&h, &a[i]);
    if (rc == 0 && db)
        rc = audit_journal(&h, db, &nj);
    /* Outages of the signer: closed ones covered by their collective; one still open at the end
     * is said, not failed (as verify does). */
    char outages[200] = "";
    if (rc == 0 && (h.g.noutages || h.g.down)) {
        int n = snprintf(outages, sizeof outages,
                         ", %lld unsigned while the signer was down, %lld outage%s covered by "
                         "collective signatures",
                         (long long)h.g.nmarked, (long long)h.g.noutages,
                         h.g.noutages == 1 ? "" : "s");
        if (h.g.down && n > 0 && (size_t)n < sizeof outages)
            snprintf(outages + n, sizeof outages - (size_t)n,
                     ", signer down since seq %lld (not covered yet)", (long long)h.g.down);
    }
    if (rc == 0)
        printf("audit OK: %s/%s seq %lld..%lld intact across %d archive(s)%s, %lld signatures "
               "valid under %lld key(s), counters gapless%s, every manifest matches\n",
               h.store, h.terminal, (long long)h.first, (long long)h.next - 1, na,
               db ? " and the journal" : "", (long long)h.nsigned, (long long)h.ngroups, outages);
    for (int i = 0; i < na; i++)
        archive_close(&a[i]);
    free(a);
    pe_sig_group_clear(&h.g);
    return rc;
usage:
    fputs("usage: posedge-ctl audit FILE... [--journal DB]\n", stderr);
    return EXIT_USAGE;
}

/* ---- prune ---- */

int ctl_prune(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"through", required_argument, NULL, 't'},
        {"archive-dir", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    long long through = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        char *end;
        if (c == 't') {
            errno = 0;
            through = strtoll(optarg, &end, 10);
            if (errno || *end || through < 1) {
                fprintf(stderr, "posedge-ctl prune: --through: expected a seq >= 1, got \"%s\"\n",
                        optarg);
                return EXIT_USAGE;
            }
        } else if (c == 'd') {
            dir = optarg;
        } else {
            goto usage;
        }
    }
    if (optind + 1 != argc || !dir || !through)
        goto usage;
    const char *db = argv[optind];
    char err[512], why[320] = "", path[4096];
    struct pe_journal *j = NULL;
    struct pe_archive_written w = {0};
    struct pe_journal_opts o = {0};
    struct pe_journal_verify_result res;
    struct pe_journal_anchor a = {0};
    struct history h = {0};
    struct archive ar = {0};
    int rc = EXIT_FAIL;
    if (pe_journal_open(db, &o, &j, err, sizeof err)) {
        fprintf(stderr, "posedge-ctl prune: %s\n", err);
        return EXIT_FAIL;
    }
    int e = pe_journal_verify(j, &res);
    if (e == PE_ECHAIN) {
        fprintf(stderr, "posedge-ctl prune: %s does not verify (first bad seq %lld: %s); nothing "
                        "pruned\n",
                db, (long long)res.bad_seq, res.why);
        goto out;
    }
    if (e == PE_OK && (e = pe_journal_prunable(j, through, why, sizeof why)) != PE_OK &&
        why[0]) {
        fprintf(stderr, "posedge-ctl prune: %s: %s; nothing pruned\n", db, why);
        goto out;
    }
    if (e == PE_OK)
        e = pe_journal_anchor(j, &a);
    if (e) {
        fprintf(stderr, "posedge-ctl prune: %s: %s\n", db, pe_strerror(e));
        goto out;
    }
    int64_t from = a.seq + 1;
    if (snprintf(path, sizeof path, "%s/%s-%s-%012lld-%012lld.arch", dir,
                 pe_journal_store(j), pe_journal_terminal(j), (long long)from,
                 through) >= (int)sizeof path) {
        fprintf(stderr, "posedge-ctl prune: --archive-dir: path too long\n");
        goto out;
    }
    /* 1. The archive, durable (written, fsynced, renamed, folder fsynced) before any row goes. */
    e = pe_journal_export(j, db, from, through, path, &w, why, sizeof why);
    if (e) {
        fprintf(stderr, "posedge-ctl prune: %s; nothing pruned\n", why[0] ? why : pe_strerror(e));
        goto out;
    }
    /* 2. Read back and audited as an auditor would, continuing from the journal's anchor. */
    ar.path = path;
    e = archive_open(&ar, why, sizeof why);
    if (e == PE_OK && audit_archive(&h, &ar) != 0)
        e = PE_ECHAIN;
    if (e == PE_OK && strcmp(h.prev, w.last) != 0)
        e = PE_ECHAIN;
    if (e) {
        fprintf(stderr, "posedge-ctl prune: %s does not audit%s%s; nothing pruned\n", path,
                why[0] ? ": " : "", why);
        goto out;
    }
    /* 3. The records it holds leave the journal, the anchor moving to its last one, in one
     *    transaction. */
    e = pe_journal_prune(j, through, w.last, why, sizeof why);
    if (e) {
        fprintf(stderr, "posedge-ctl prune: %s: %s; nothing pruned (the archive %s stays)\n", db,
                why[0] ? why : pe_strerror(e), path);
        goto out;
    }
    printf("pruned %s/%s seq %lld..%lld from %s into %s; the journal continues after seq %lld "
           "(anchor hash %.16s)\n",
           pe_journal_store(j), pe_journal_terminal(j), (long long)from, through, db, path,
           through, w.last);
    rc = 0;
out:
    archive_close(&ar);
    pe_sig_group_clear(&h.g);
    pe_journal_anchor_free(&a);
    pe_journal_close(j);
    return rc;
usage:
    fputs("usage: posedge-ctl prune DB --through SEQ --archive-dir DIR\n", stderr);
    return EXIT_USAGE;
}
