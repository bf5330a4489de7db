/* SPDX-License-Identifier: Apache-2.0 */
/*
 * journal_prune.c - the anchor of a pruned journal, and pruning: records already archived,
 * delivered and inside a closed period deleted from the live journal.
 *
 * The anchor is one row of the meta table, "anchor", whose value is the canonical JSON
 *
 *   {"counter":C,"hash":H,"key":{"hash":KH,"record":R,"seq":KS,"sig":S}|null,
 *    "perpetual_total":P,"seq":A,"ts_ms":T}
 *
 * A is the last pruned record's seq, H its hash (the prev of record A+1), C its signature's counter
 * (0 when unsigned), and key the signer_installed record in force at A (its exact bytes R, hash and
 * sig column S, or null when unsigned; key null when no signer_installed came at or before A), and
 * P the perpetual total (report.h) after A, from which pe_totals_verify goes on, and T record A's
 * event time (the till's closings need the time of the last Z report, which may be A). A is never inside
 * an outage of the signer (its record is not marked unsigned), so no outage state needs keeping. So
 * the live journal still verifies on its own from its anchor: chain, signatures and counters,
 * exactly as `posedge-ctl audit` continues an archive from its manifest's anchor.
 *
 * The invariant: pe_journal_prune moves the anchor and deletes the records up to it in one
 * SQLite transaction (WAL, synchronous=FULL), so after a crash the journal holds either the old
 * anchor and every record, or the new anchor and the records after it; and it deletes only
 * records that the caller says are archived (their last hash, which it checks), that the bridge
 * has acknowledged as delivered, and that a Z report closed.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/report.h"
#include "posedge/signer.h"
#include "store/journal_int.h"

__attribute__((format(printf, 3, 4))) static void seterr(char *why, size_t whylen,
                                                          const char *fmt, ...)
{
    if (!why || !whylen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

void pe_journal_anchor_free(struct pe_journal_anchor *a)
{
    if (!a)
        return;
    free(a->key_record);
    free(a->key_sig);
    memset(a, 0, sizeof *a);
}

/* Parse the meta row's value into a (zeroed first). Errors: PE_ECORRUPT, PE_ENOMEM. */
static int anchor_parse(const char *text, struct pe_journal_anchor *a)
{
    cJSON *o = NULL;
    const char *hash, *khash, *krec;
    memset(a, 0, sizeof *a);
    int e = pe_json_parse(text, strlen(text), &o, NULL, 0);
    if (e)
        return e == PE_ENOMEM ? e : PE_ECORRUPT;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "key");
    if (pe_json_get_int(o, "seq", &a->seq) || a->seq < 1 || pe_json_get_str(o, "hash", &hash) ||
        !pe_is_sha256_hex(hash) || pe_json_get_int(o, "counter", &a->counter) || a->counter < 0 ||
        !k) {
        e = PE_ECORRUPT;
        goto out;
    }
    memcpy(a->hash, hash, PE_SHA256_HEXLEN);
    if (pe_json_get_int(o, "perpetual_total", &a->perpetual_total) ||
        pe_json_get_int(o, "ts_ms", &a->ts_ms)) {
        e = PE_ECORRUPT;
        goto out;
    }
    if (!cJSON_IsNull(k)) {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(k, "sig");
        if (pe_json_get_int(k, "seq", &a->key_seq) || a->key_seq < 1 || a->key_seq > a->seq ||
            pe_json_get_str(k, "hash", &khash) || !pe_is_sha256_hex(khash) ||
            pe_json_get_str(k, "record", &krec) || !s ||
            !(cJSON_IsNull(s) || cJSON_IsString(s))) {
            e = PE_ECORRUPT;
            goto out;
        }
        memcpy(a->key_hash, khash, PE_SHA256_HEXLEN);
        a->key_record = strdup(krec);
        a->key_sig = cJSON_IsString(s) ? strdup(s->valuestring) : NULL;
        if (!a->key_record || (cJSON_IsString(s) && !a->key_sig))
            e = PE_ENOMEM;
    }
out:
    cJSON_Delete(o);
    if (e)
        pe_journal_anchor_free(a);
    return e;
}

int pe_journal_anchor(struct pe_journal *j, struct pe_journal_anchor *out)
{
    assert(j && out);
    sqlite3_stmt *st = NULL;
    memset(out, 0, sizeof *out);
    int rc = sqlite3_prepare_v2(j->db, "SELECT value FROM meta WHERE key = 'anchor'", -1, &st,
                                NULL);
    if (rc != SQLITE_OK)
        return journal__fail(j, rc, "anchor");
    int e = PE_OK;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(st, 0);
        e = v ? anchor_parse(v, out) : PE_ECORRUPT;
        if (e == PE_ECORRUPT)
            pe_error("journal.anchor", "path=\"%s\" msg=\"the anchor row does not parse\"",
                     j->path);
    } else if (rc != SQLITE_DONE) {
        e = journal__fail(j, rc, "anchor");
    }
    sqlite3_finalize(st);
    return e;
}

/* The anchor's JSON for a pruned through seq with the key record of key_seq (0: none). */
static int anchor_json(struct pe_journal *j, int64_t seq, const char *hash, int64_t counter,
                       int64_t key_seq, int64_t perpetual, int64_t ts_ms,
                       const struct pe_journal_anchor *old, char **out)
{
    cJSON *o = cJSON_CreateObject(), *k = NULL;
    sqlite3_stmt *st = NULL;
    int e = o ? PE_OK : PE_ENOMEM;
    if (e == PE_OK)
        e = pe_json_add_int(o, "counter", counter);
    if (e == PE_OK)
        e = pe_json_add_str(o, "hash", hash);
    if (e == PE_OK)
        e = pe_json_add_int(o, "perpetual_total", perpetual);
    if (e == PE_OK)
        e = pe_json_add_int(o, "seq", seq);
    if (e == PE_OK)
        e = pe_json_add_int(o, "ts_ms", ts_ms);
    if (e == PE_OK && key_seq == 0 && old->key_record) {
        /* The key in force is the old anchor's (no signer_installed among the pruned rows). */
        k = cJSON_AddObjectToObject(o, "key");
        e = k ? pe_json_add_str(k, "hash", old->key_hash) : PE_ENOMEM;
        if (e == PE_OK)
            e = pe_json_add_str(k, "record", old->key_record);
        if (e == PE_OK)
            e = pe_json_add_int(k, "seq", old->key_seq);
        if (e == PE_OK && !(old->key_sig ? cJSON_AddStringToObject(k, "sig", old->key_sig)
                                         : cJSON_AddNullToObject(k, "sig")))
            e = PE_ENOMEM;
    } else if (e == PE_OK && key_seq == 0) {
        e = cJSON_AddNullToObject(o, "key") ? PE_OK : PE_ENOMEM;
    } else if (e == PE_OK) {
        int rc = sqlite3_prepare_v2(j->db, "SELECT record, hash, sig FROM events WHERE seq = ?1",
                                    -1, &st, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_int64(st, 1, key_seq);
            rc = sqlite3_step(st);
        }
        if (rc != SQLITE_ROW) {
            e = rc == SQLITE_DONE ? PE_ECORRUPT : journal__fail(j, rc, "prune key");
        } else {
            char *rec = strndup(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
            const void *sig = sqlite3_column_blob(st, 2);
            char *sigt = sig ? strndup(sig, (size_t)sqlite3_column_bytes(st, 2)) : NULL;
            k = cJSON_AddObjectToObject(o, "key");
            e = k && rec && (!sig || sigt) ? PE_OK : PE_ENOMEM;
            if (e == PE_OK)
                e = pe_json_add_str(k, "hash", (const char *)sqlite3_column_text(st, 1));
            if (e == PE_OK)
                e = pe_json_add_str(k, "record", rec);
            if (e == PE_OK)
                e = pe_json_add_int(k, "seq", key_seq);
            if (e == PE_OK &&
                !(sigt ? cJSON_AddStringToObject(k, "sig", sigt) : cJSON_AddNullToObject(k, "sig")))
                e = PE_ENOMEM;
            free(rec);
            free(sigt);
        }
        sqlite3_finalize(st);
    }
    if (e == PE_OK)
        e = pe_json_canonical(o, out, NULL);
    cJSON_Delete(o);
    return e;
}

/* One integer from q with ?1 bound to a (and ?2 to b when b is not NULL); 0 when no row or
 * NULL. */
static int query1(struct pe_journal *j, const char *q, int64_t a, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(j->db, q, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, a);
        rc = sqlite3_step(st);
    }
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? PE_OK : journal__fail(j, rc, "prune");
}

/* *perpetual (the total after seq after) moved on by the records after..through (report.h). */
static int perpetual_at(struct pe_journal *j, int64_t after, int64_t through, int64_t *perpetual)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(j->db,
                                "SELECT type, record FROM events WHERE seq > ?1 AND seq <= ?2 "
                                "AND type IN ('sale', 'return') ORDER BY seq",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return journal__fail(j, rc, "prune");
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, through);
    int e = PE_OK;
    while (e == PE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        enum pe_event_type type;
        cJSON *r = NULL;
        const char *t = (const char *)sqlite3_column_text(st, 0);
        e = pe_json_parse(sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), &r,
                          NULL, 0);
        if (e == PE_OK && pe_event_type_parse(t ? t : "", &type) == PE_OK)
            *perpetual += pe_totals_delta(type, cJSON_GetObjectItemCaseSensitive(r, "body"));
        else if (e != PE_ENOMEM)
            e = PE_ECORRUPT;
        cJSON_Delete(r);
    }
    if (e == PE_OK && rc != SQLITE_DONE)
        e = journal__fail(j, rc, "prune");
    sqlite3_finalize(st);
    return e;
}

int pe_journal_prunable(struct pe_journal *j, int64_t through, char *why, size_t whylen)
{
    assert(j);
    struct pe_journal_anchor old;
    int64_t spooled = 0, delivered = 0, zseq = 0;
    int e = pe_journal_anchor(j, &old);
    if (e)
        return e;
    if (through <= old.seq || through > j->committed.seq) {
        seterr(why, whylen, "seq %lld is not in the live journal (it holds seq %lld..%lld)",
               (long long)through, (long long)old.seq + 1, (long long)j->committed.seq);
        e = PE_ERANGE;
        goto out;
    }
    if ((e = pe_journal_uplink_get(j, &spooled, &delivered)))
        goto out;
    if (delivered < through) {
        seterr(why, whylen, "seq %lld is not delivered yet (the bridge has acknowledged up to seq "
                            "%lld): only delivered records are pruned",
               (long long)through, (long long)delivered);
        e = PE_ESTATE;
        goto out;
    }
    if ((e = query1(j, "SELECT max(seq) FROM events WHERE type = 'z_report' AND seq >= ?1",
                    through, &zseq)))
        goto out;
    if (zseq == 0) {
        seterr(why, whylen, "seq %lld is in the open period (no Z report at or after it): only "
                            "closed periods are pruned",
               (long long)through);
        e = PE_ESTATE;
        goto out;
    }
    /* Not inside an outage of the signer: the anchor keeps no outage (its collective could not
     * be checked from it). */
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(j->db, "SELECT sig FROM events WHERE seq = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, through);
        rc = sqlite3_step(st);
    }
    int64_t down = 0;
    if (rc == SQLITE_ROW &&
        pe_signature_mark_decode(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0),
                                 &down)) {
        seterr(why, whylen, "seq %lld is inside the outage of the signer opened at seq %lld: "
                            "prune through a seq before it or after the signer_up that closes it",
               (long long)through, (long long)down);
        e = PE_ESTATE;
    } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        e = journal__fail(j, rc, "prune");
    }
    sqlite3_finalize(st);
out:
    pe_journal_anchor_free(&old);
    return e;
}

int pe_journal_prune(struct pe_journal *j, int64_t through, const char *archived_hash,
                     char *why, size_t whylen)
{
    assert(j && archived_hash);
    struct pe_journal_anchor old;
    int64_t key_seq = 0, have = 0;
    char *anchor = NULL, hash[PE_SHA256_HEXLEN] = "";
    int64_t counter = 0;
    if (j->readonly || j->in_txn)
        return PE_ESTATE;
    int e = pe_journal_begin(j);
    if (e)
        return e;
    e = pe_journal_anchor(j, &old);
    if (e == PE_OK)
        e = pe_journal_prunable(j, through, why, whylen);
    if (e)
        goto rollback;
    /* The record that becomes the anchor, and the key in force at it. */
    sqlite3_stmt *st = NULL;
    int64_t ts_ms = 0;
    int rc = sqlite3_prepare_v2(j->db, "SELECT hash, sig, ts_ms FROM events WHERE seq = ?1", -1,
                                &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, through);
        rc = sqlite3_step(st);
    }
    if (rc == SQLITE_ROW) {
        const char *h = (const char *)sqlite3_column_text(st, 0);
        const void *sig = sqlite3_column_blob(st, 1);
        struct pe_signature s;
        snprintf(hash, sizeof hash, "%s", h ? h : "");
        ts_ms = sqlite3_column_int64(st, 2);
        if (sig && pe_signature_decode(sig, (size_t)sqlite3_column_bytes(st, 1), &s, NULL, 0) ==
                       PE_OK)
            counter = s.counter;
        have = 1;
    }
    sqlite3_finalize(st);
    if (!have) {
        e = rc == SQLITE_DONE ? PE_ECORRUPT : journal__fail(j, rc, "prune");
        goto rollback;
    }
    if (strcmp(hash, archived_hash) != 0) {
        seterr(why, whylen, "seq %lld: the journal's record is not the archived one",
               (long long)through);
        e = PE_ECHAIN;
        goto rollback;
    }
    if ((e = query1(j, "SELECT max(seq) FROM events WHERE type = 'signer_installed' AND seq <= ?1",
                    through, &key_seq)))
        goto rollback;
    int64_t perpetual = old.perpetual_total;
    e = perpetual_at(j, old.seq, through, &perpetual);
    if (e == PE_OK)
        e = anchor_json(j, through, hash, counter, key_seq, perpetual, ts_ms, &old, &anchor);
    if (e)
        goto rollback;
    static const char *const del[] = {
        ("INSERT INTO meta(key, value) VALUES ('anchor', ?2) "
         "ON CONFLICT(key) DO UPDATE SET value = excluded.value"),
        "DELETE FROM events WHERE seq <= ?1",
        /* A sale pruned can no longer be found for a return: its lines go with it. */
        "DELETE FROM sale_lines WHERE sale_seq <= ?1",
    };
    for (size_t i = 0; e == PE_OK && i < sizeof del / sizeof del[0]; i++) {
        rc = sqlite3_prepare_v2(j->db, del[i], -1, &st, NULL);
        if (rc == SQLITE_OK) {
            if (sqlite3_bind_parameter_count(st) >= 2)
                sqlite3_bind_text(st, 2, anchor, -1, SQLITE_STATIC);
            else
                sqlite3_bind_int64(st, 1, through);
            rc = sqlite3_step(st);
        }
        if (rc != SQLITE_DONE)
            e = journal__fail(j, rc, "prune");
        sqlite3_finalize(st);
    }
    if (e)
        goto rollback;
    e = pe_journal_commit(j);
    if (e == PE_OK)
        e = journal__reload(j);
    if (e == PE_OK)
        pe_info("journal.pruned", "path=\"%s\" through=%lld hash=%.16s", j->path,
                (long long)through, hash);
    free(anchor);
    pe_journal_anchor_free(&old);
    return e;
rollback:
    pe_journal_rollback(j);
    free(anchor);
    pe_journal_anchor_free(&old);
    return e;
}
