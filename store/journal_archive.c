/* SPDX-License-Identifier: Apache-2.0 */
/*
 * journal_archive.c - a range of a journal written as a posedge-archive/1 file (docs/audit.md):
 * a manifest line, the key lines (the signer_installed records in force), one line per record
 * with its exact hashed bytes and its signature; and the manifest's figures, which the writer
 * states and posedge-ctl audit recomputes.
 *
 * Every line is canonical JSON (json.h), so one range of one journal has one archive: the bytes
 * depend on nothing but the records, except created_ms, which is SOURCE_DATE_EPOCH when that is
 * set. The invariant: a file under the archive's name is complete and durable (written as
 * path.new, fsynced, renamed, folder fsynced), so pruning may delete what it holds once this
 * returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "posedge/archive.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/journal.h"
#include "posedge/json.h"
#include "posedge/report.h"
#include "posedge/signer.h"

/* ---- what a manifest states of its records ---- */

/* The money of a type: body[obj][member] (obj NULL: body[member]) in body.currency. */
static const struct {
    const char *type;
    const char *obj;
    const char *member;
} money[] = {
    {"sale", "totals", "total"},
    {"return", "totals", "total"},
    {"void", NULL, "amount"},
};


int pe_archive_figures_init(struct pe_archive_figures *s)
{
    memset(s, 0, sizeof *s);
    s->types = cJSON_CreateObject();
    s->totals = cJSON_CreateObject();
    return s->types && s->totals ? PE_OK : PE_ENOMEM;
}

void pe_archive_figures_free(struct pe_archive_figures *s)
{
    cJSON_Delete(s->types);
    cJSON_Delete(s->totals);
}

/* obj[key] += v, creating it (and, for path, the inner object) as needed. */
static int add_to(cJSON *obj, const char *key, int64_t v)
{
    cJSON *n = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!n)
        return cJSON_AddNumberToObject(obj, key, (double)v) ? PE_OK : PE_ENOMEM;
    int64_t sum = (int64_t)n->valuedouble + v;
    if (sum > PE_JSON_MAX_INT || sum < -PE_JSON_MAX_INT)
        return PE_ERANGE;
    cJSON_SetNumberValue(n, (double)sum);
    return PE_OK;
}

/* Count the parsed record rec (already verified) of type. */
int pe_archive_figures_add(struct pe_archive_figures *s, const cJSON *rec, const char *type,
                           const void *sig, size_t siglen)
{
    int64_t down;
    bool marked = sig && pe_signature_mark_decode(sig, siglen, &down);
    enum pe_event_type et;
    s->count++;
    s->nsigned += sig && !marked;
    s->nmarked += marked;
    s->nkeys += strcmp(type, pe_event_type_name(PE_EV_SIGNER_INSTALLED)) == 0;
    int e = add_to(s->types, type, 1);
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(rec, "body");
    if (pe_event_type_parse(type, &et) == PE_OK)
        s->perpetual += pe_totals_delta(et, body);
    for (size_t i = 0; e == PE_OK && i < sizeof money / sizeof money[0]; i++) {
        if (strcmp(type, money[i].type) != 0 || pe_totals_training(body))
            continue; /* training records stay out of every total */
        const cJSON *o = money[i].obj ? cJSON_GetObjectItemCaseSensitive(body, money[i].obj) : body;
        const char *cur;
        int64_t amount;
        if (pe_json_get_str(body, "currency", &cur) || pe_json_get_int(o, money[i].member, &amount))
            return PE_EINVAL;
        cJSON *t = cJSON_GetObjectItemCaseSensitive(s->totals, type);
        if (!t && !(t = cJSON_AddObjectToObject(s->totals, type)))
            return PE_ENOMEM;
        e = add_to(t, cur, amount);
    }
    return e;
}

/* ---- lines ---- */

/* One key or record line: {"hash","kind","record","seq","sig"} as canonical JSON and "\n",
 * into *out (malloc'd). */
static int record_line(const char *kind, int64_t seq, const char *rec, size_t len,
                       const char *hash, const void *sig, size_t siglen, char **out, size_t *outlen)
{
    cJSON *l = cJSON_CreateObject(), *s = NULL;
    char *text = strndup(rec, len);
    int e = l && text ? PE_OK : PE_ENOMEM;
    if (e == PE_OK && sig)
        e = pe_json_parse(sig, siglen, &s, NULL, 0);
    if (e == PE_OK && !(s ? cJSON_AddItemToObject(l, "sig", s) : !!cJSON_AddNullToObject(l, "sig")))
        e = PE_ENOMEM;
    else
        s = NULL;
    if (e == PE_OK)
        e = pe_json_add_str(l, "hash", hash);
    if (e == PE_OK)
        e = pe_json_add_str(l, "kind", kind);
    if (e == PE_OK)
        e = pe_json_add_str(l, "record", text);
    if (e == PE_OK)
        e = pe_json_add_int(l, "seq", seq);
    char *j = NULL;
    size_t n = 0;
    if (e == PE_OK)
        e = pe_json_canonical(l, &j, &n);
    if (e == PE_OK) {
        char *t = realloc(j, n + 2);
        if (!t) {
            free(j);
            e = PE_ENOMEM;
        } else {
            t[n] = '\n';
            t[n + 1] = '\0';
            *out = t;
            *outlen = n + 1;
        }
    }
    cJSON_Delete(s);
    cJSON_Delete(l);
    free(text);
    return e;
}

/* {"hash":h,"seq":seq} added to o as key. */
static int add_point(cJSON *o, const char *key, int64_t seq, const char *hash)
{
    cJSON *p = cJSON_AddObjectToObject(o, key);
    if (!p)
        return PE_ENOMEM;
    int e = pe_json_add_str(p, "hash", hash);
    return e ? e : pe_json_add_int(p, "seq", seq);
}

/* ---- export ---- */

struct export {
    const char *db;                /* the journal's file, for messages */
    struct pe_journal *j;
    int64_t from, to;
    char anchor[PE_SHA256_HEXLEN]; /* the hash of seq from-1 (genesis for from 1) */
    int64_t anchor_counter;        /* its signature's counter, 0 when unsigned */
    int64_t anchor_perpetual;      /* the perpetual total after seq from-1 */
    int64_t jlast;                 /* the journal's last seq */
    char first[PE_SHA256_HEXLEN], last[PE_SHA256_HEXLEN];
    char *key_lines;               /* the key lines, concatenated */
    size_t key_len;
    int64_t nkey_lines;
    char *held;                    /* the line of the last signer_installed before from */
    size_t held_len;
    struct pe_archive_figures sum;
};

static int append(char **buf, size_t *len, const char *s, size_t n)
{
    char *t = realloc(*buf, *len + n + 1);
    if (!t)
        return PE_ENOMEM;
    memcpy(t + *len, s, n);
    *len += n;
    t[*len] = '\0';
    *buf = t;
    return PE_OK;
}

/* Walk seq 1..to: the anchor, the keys in force and the summary of from..to. */
static int export_scan(struct export *x, char *why, size_t whylen)
{
    struct pe_journal_iter *it;
    struct pe_journal_rec r;
    const char *installed = pe_event_type_name(PE_EV_SIGNER_INSTALLED);
    int e = pe_journal_iter_open(x->j, 1, NULL, &it);
    if (e)
        return e;
    while (e == PE_OK && (e = pe_journal_iter_next(it, &r)) == PE_OK && r.seq <= x->to) {
        bool is_key = strcmp(r.type, installed) == 0;
        int64_t down = 0;
        bool marked = r.sig && pe_signature_mark_decode(r.sig, r.siglen, &down);
        if ((r.seq == x->from - 1 && marked) || (r.seq == x->to && marked && r.seq < x->jlast)) {
            snprintf(why, whylen,
                     "seq %lld is inside the outage of the signer opened at seq %lld: an archive "
                     "%s there (its collective would be cut); %s",
                     (long long)r.seq, (long long)down,
                     r.seq == x->to ? "may not end" : "may not begin after it",
                     r.seq == x->to ? "end before it or at the signer_up that closes it"
                                    : "begin at its signer_down or after its signer_up");
            e = PE_ERANGE;
            break;
        }
        if (r.seq < x->from) {
            if (strcmp(r.type, "sale") == 0 || strcmp(r.type, "return") == 0) {
                /* The perpetual total at the anchor: what the records before it add up to. */
                cJSON *rec = NULL;
                enum pe_event_type t;
                e = pe_json_parse(r.record, r.len, &rec, NULL, 0);
                if (e == PE_OK && pe_event_type_parse(r.type, &t) == PE_OK)
                    x->anchor_perpetual +=
                        pe_totals_delta(t, cJSON_GetObjectItemCaseSensitive(rec, "body"));
                cJSON_Delete(rec);
            }
            if (r.seq == x->from - 1) {
                struct pe_signature s;
                snprintf(x->anchor, sizeof x->anchor, "%s", r.hash);
                x->anchor_counter = 0;
                if (r.sig && pe_signature_decode(r.sig, r.siglen, &s, NULL, 0) == PE_OK)
                    x->anchor_counter = s.counter;
            }
            if (is_key) {
                free(x->held);
                x->held = NULL;
                e = record_line("key", r.seq, r.record, r.len, r.hash, r.sig, r.siglen, &x->held,
                                &x->held_len);
            }
            continue;
        }
        if (r.seq == x->from)
            snprintf(x->first, sizeof x->first, "%s", r.hash);
        snprintf(x->last, sizeof x->last, "%s", r.hash);
        if (is_key) {
            char *l;
            size_t n;
            e = record_line("key", r.seq, r.record, r.len, r.hash, r.sig, r.siglen, &l, &n);
            if (e == PE_OK) {
                e = append(&x->key_lines, &x->key_len, l, n);
                free(l);
                x->nkey_lines++;
            }
        }
        cJSON *rec = NULL;
        if (e == PE_OK)
            e = pe_json_parse(r.record, r.len, &rec, NULL, 0);
        if (e == PE_OK)
            e = pe_archive_figures_add(&x->sum, rec, r.type, r.sig, r.siglen);
        if (e == PE_EINVAL)
            snprintf(why, whylen, "seq %lld: a %s without currency or amount", (long long)r.seq,
                     r.type);
        cJSON_Delete(rec);
    }
    pe_journal_iter_close(it);
    if (e == PE_EEOF || e == PE_OK)
        e = PE_OK;
    if (e == PE_OK && x->held) {
        /* The key in force at the anchor goes first. */
        char *all = NULL;
        size_t n = 0;
        e = append(&all, &n, x->held, x->held_len);
        if (e == PE_OK && x->key_len)
            e = append(&all, &n, x->key_lines, x->key_len);
        if (e == PE_OK) {
            free(x->key_lines);
            x->key_lines = all;
            x->key_len = n;
            x->nkey_lines++;
        } else {
            free(all);
        }
    }
    return e;
}

/* fsync the folder holding path, so that a rename into it is durable. 0 or -1 (errno). */
static int fsync_dir(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

static int64_t created_ms(void)
{
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    char *end;
    if (sde && *sde) {
        errno = 0;
        long long v = strtoll(sde, &end, 10);
        if (!errno && !*end && v >= 0 && v < PE_JSON_MAX_INT / 1000)
            return (int64_t)v * 1000;
    }
    return pe_time_now_ms();
}

/* The manifest line into *out (malloc'd, with "\n"). */
static int export_manifest(struct export *x, char **out, size_t *len)
{
    cJSON *m = cJSON_CreateObject(), *a = NULL;
    int e = m ? PE_OK : PE_ENOMEM;
    if (e == PE_OK && !(a = cJSON_AddObjectToObject(m, "anchor")))
        e = PE_ENOMEM;
    if (e == PE_OK)
        e = pe_json_add_int(a, "counter", x->anchor_counter);
    if (e == PE_OK)
        e = pe_json_add_str(a, "hash", x->anchor);
    if (e == PE_OK)
        e = pe_json_add_int(a, "perpetual_total", x->anchor_perpetual);
    if (e == PE_OK)
        e = pe_json_add_int(a, "seq", x->from - 1);
    if (e == PE_OK)
        e = pe_json_add_int(m, "count", x->sum.count);
    if (e == PE_OK)
        e = pe_json_add_int(m, "created_ms", created_ms());
    if (e == PE_OK)
        e = add_point(m, "first", x->from, x->first);
    if (e == PE_OK)
        e = pe_json_add_str(m, "format", PE_ARCHIVE_FORMAT);
    if (e == PE_OK)
        e = pe_json_add_int(m, "keys", x->nkey_lines);
    if (e == PE_OK)
        e = pe_json_add_str(m, "kind", "manifest");
    if (e == PE_OK)
        e = add_point(m, "last", x->to, x->last);
    if (e == PE_OK)
        e = pe_json_add_int(m, "marked", x->sum.nmarked);
    if (e == PE_OK)
        e = pe_json_add_int(m, "perpetual_total", x->sum.perpetual);
    if (e == PE_OK)
        e = pe_json_add_int(m, "signed", x->sum.nsigned);
    if (e == PE_OK)
        e = pe_json_add_str(m, "store", pe_journal_store(x->j));
    if (e == PE_OK)
        e = pe_json_add_str(m, "terminal", pe_journal_terminal(x->j));
    /* Taken over by m once added (adding copies the key, which may fail: then the manifest
     * would lack them, and the item stays ours to free). */
    if (e == PE_OK && !cJSON_AddItemToObject(m, "totals", x->sum.totals))
        e = PE_ENOMEM;
    if (e == PE_OK)
        x->sum.totals = NULL;
    if (e == PE_OK && !cJSON_AddItemToObject(m, "types", x->sum.types))
        e = PE_ENOMEM;
    if (e == PE_OK)
        x->sum.types = NULL;
    char *j = NULL;
    size_t n = 0;
    if (e == PE_OK)
        e = pe_json_canonical(m, &j, &n);
    if (e == PE_OK) {
        *out = NULL;
        *len = 0;
        e = append(out, len, j, n);
        if (e == PE_OK)
            e = append(out, len, "\n", 1);
    }
    free(j);
    cJSON_Delete(m);
    return e;
}

/* Write the archive to path: path.new written, fsynced, renamed over path, and the folder
 * fsynced, so a crash, a power loss or a full disk never leaves a half archive under the name
 * an auditor will be given, and an archive that was reported written survives a power loss
 * (pruning deletes records only after this returns). */
static int export_write(struct export *x, const char *path, char *why, size_t whylen)
{
    char tmp[4096];
    char *manifest = NULL;
    struct pe_journal_iter *it = NULL;
    struct pe_journal_rec r;
    if (snprintf(tmp, sizeof tmp, "%s.new", path) >= (int)sizeof tmp)
        return PE_EINVAL;
    size_t mlen;
    int e = export_manifest(x, &manifest, &mlen);
    if (e)
        return e;
    FILE *f = fopen(tmp, "w");
    if (!f) {
        snprintf(why, whylen, "%.200s: %s", tmp, strerror(errno));
        free(manifest);
        return PE_EIO;
    }
    bool ok = fwrite(manifest, 1, mlen, f) == mlen &&
              (x->key_len == 0 || fwrite(x->key_lines, 1, x->key_len, f) == x->key_len);
    e = ok ? pe_journal_iter_open(x->j, x->from, NULL, &it) : PE_EIO;
    while (e == PE_OK && (e = pe_journal_iter_next(it, &r)) == PE_OK && r.seq <= x->to) {
        char *l;
        size_t n;
        e = record_line("record", r.seq, r.record, r.len, r.hash, r.sig, r.siglen, &l, &n);
        if (e == PE_OK && fwrite(l, 1, n, f) != n)
            e = PE_EIO;
        if (e == PE_OK)
            free(l);
    }
    pe_journal_iter_close(it);
    if (e == PE_EEOF)
        e = PE_OK;
    if (e == PE_OK && (fflush(f) != 0 || fsync(fileno(f)) != 0))
        e = PE_EIO;
    if (fclose(f) != 0 && e == PE_OK)
        e = PE_EIO;
    if (e == PE_OK && rename(tmp, path) != 0)
        e = PE_EIO;
    if (e == PE_OK && fsync_dir(path) != 0)
        e = PE_EIO;
    if (e) {
        snprintf(why, whylen, "%.200s: %s", path, e == PE_EIO ? strerror(errno) : pe_strerror(e));
        unlink(tmp);
    }
    free(manifest);
    return e;
}

/* Export x->from..to (to 0: the last record) of the verified journal x->j to path: the range
 * checked against what the journal holds, the anchor (genesis, or a pruned journal's own anchor
 * and key record when from follows it), then scan and write. */
static int export_run(struct export *x, int64_t to, const char *path, char *why, size_t whylen)
{
    struct pe_journal_anchor a;
    int64_t last = 0;
    int e = pe_journal_last(x->j, &last, NULL, NULL);
    if (e == PE_OK)
        e = pe_journal_anchor(x->j, &a);
    if (e)
        return e;
    if (x->from == 0)
        x->from = a.seq + 1; /* the first record the journal holds */
    x->to = to ? to : last;
    x->jlast = last;
    if (x->from <= a.seq || x->from > x->to || x->to > last) {
        snprintf(why, whylen, "%.200s holds seq %lld..%lld; seq %lld..%lld is not a range of it",
                 x->db, (long long)a.seq + 1, (long long)last, (long long)x->from,
                 (long long)x->to);
        pe_journal_anchor_free(&a);
        return PE_ERANGE;
    }
    pe_event_genesis(pe_journal_store(x->j), pe_journal_terminal(x->j), x->anchor);
    if (a.seq) {
        /* What came before was pruned: the anchor stands for it (the scan moves on from it). */
        memcpy(x->anchor, a.hash, sizeof x->anchor);
        x->anchor_counter = a.counter;
        x->anchor_perpetual = a.perpetual_total;
        if (a.key_record)
            e = record_line("key", a.key_seq, a.key_record, strlen(a.key_record), a.key_hash,
                            a.key_sig, a.key_sig ? strlen(a.key_sig) : 0, &x->held,
                            &x->held_len);
    }
    pe_journal_anchor_free(&a);
    if (e == PE_OK)
        e = pe_archive_figures_init(&x->sum);
    if (e == PE_OK)
        e = export_scan(x, why, whylen);
    /* The range's records moved the total on from the anchor's. */
    x->sum.perpetual += x->anchor_perpetual;
    if (e == PE_OK)
        e = export_write(x, path, why, whylen);
    return e;
}

int pe_journal_export(struct pe_journal *j, const char *db, int64_t from, int64_t to,
                      const char *path, struct pe_archive_written *out, char *why, size_t whylen)
{
    struct export x = {.db = db, .j = j, .from = from};
    if (why && whylen)
        why[0] = '\0';
    int e = export_run(&x, to, path, why, whylen);
    if (e == PE_OK && out) {
        out->from = x.from;
        out->to = x.to;
        out->count = x.sum.count;
        out->nsigned = x.sum.nsigned;
        memcpy(out->last, x.last, sizeof out->last);
    }
    pe_archive_figures_free(&x.sum);
    free(x.key_lines);
    free(x.held);
    return e;
}
