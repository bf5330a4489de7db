/* SPDX-License-Identifier: Apache-2.0 */
/*
 * archiver.c - the agent archives closed, delivered periods by itself and prunes them from the
 * live journal, so a till's flash use stays bounded (docs/audit.md, "A pruned journal").
 *
 * A period is closed by a Z report. The newest Z report that is at least journal.keep_days older
 * than the journal's newest event (event time, the till's clock) and that the bridge has
 * acknowledged as delivered ends what may go: the records after the journal's anchor up to it are
 * written to journal.archive_dir as one archive (pe_journal_export), and only then deleted
 * (pe_journal_prune, which checks again that they are delivered and closed, and that the journal
 * still holds the archived record). Run at start and after every Z report; between baskets, on
 * the agent's one thread.
 *
 * The invariant: nothing leaves the journal unless its archive is complete and durable first; a
 * failure anywhere is logged and leaves the journal as it was, and selling never depends on it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/agent.h"
#include "posedge/archive.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/journal.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/signer.h"

#define DAY_MS 86400000LL

/* The newest Z report after the anchor whose event time is at or before cutoff, whose seq is at
 * or before delivered and that is not inside an outage of the signer: *seq, 0 when none. */
static int closing_z(struct pe_journal *j, int64_t after, int64_t cutoff, int64_t delivered,
                     int64_t *seq)
{
    struct pe_journal_iter *it = NULL;
    struct pe_journal_rec r;
    *seq = 0;
    int e = pe_journal_iter_open(j, after + 1, "z_report", &it);
    while (e == PE_OK && (e = pe_journal_iter_next(it, &r)) == PE_OK && r.seq <= delivered) {
        cJSON *rec = NULL;
        const char *t;
        int64_t ts = 0, down = 0;
        if (r.sig && pe_signature_mark_decode(r.sig, r.siglen, &down))
            continue; /* inside an outage of the signer: never an anchor (journal.h) */
        if (pe_json_parse(r.record, r.len, &rec, NULL, 0) == PE_OK &&
            pe_json_get_str(rec, "ts", &t) == PE_OK && pe_time_parse(t, &ts) == PE_OK &&
            ts <= cutoff)
            *seq = r.seq;
        cJSON_Delete(rec);
    }
    pe_journal_iter_close(it);
    return e == PE_EEOF || e == PE_OK ? PE_OK : e;
}

int agent_archive(struct agent *a)
{
    struct pe_journal *j = a->journal;
    struct pe_journal_anchor an;
    struct pe_journal_verify_result res;
    struct pe_archive_written w;
    int64_t spooled = 0, delivered = 0, last = 0, last_ts = 0, through = 0;
    char dir[AGENT_PATH_MAX + 16], db[AGENT_PATH_MAX + 16], path[2 * AGENT_PATH_MAX + 80];
    char why[320] = "";
    int e = pe_journal_uplink_get(j, &spooled, &delivered);
    if (e == PE_OK)
        e = pe_journal_last(j, &last, NULL, &last_ts);
    if (e == PE_OK)
        e = pe_journal_anchor(j, &an);
    if (e) {
        pe_warn("journal.archive_failed", "step=read err=%s", pe_errname(e));
        return e;
    }
    int64_t after = an.seq;
    pe_journal_anchor_free(&an);
    if (delivered <= after)
        return PE_OK; /* nothing delivered since the last prune */
    e = closing_z(j, after, last_ts - a->cfg.journal_keep_days * DAY_MS, delivered, &through);
    if (e || through == 0)
        return e;

    snprintf(db, sizeof db, "%s/journal.db", a->cfg.data_dir);
    if (a->cfg.journal_archive_dir[0])
        snprintf(dir, sizeof dir, "%s", a->cfg.journal_archive_dir);
    else
        snprintf(dir, sizeof dir, "%s/archive", a->cfg.data_dir);
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        pe_warn("journal.archive_failed", "step=mkdir dir=\"%s\" err=\"%s\"", dir, strerror(errno));
        return PE_EIO;
    }
    /* The records leave only as they are: the journal verifies first (signatures included). */
    e = pe_journal_verify(j, &res);
    if (e) {
        pe_error("journal.archive_failed", "step=verify seq=%lld why=\"%s\" err=%s",
                 (long long)res.bad_seq, res.why, pe_errname(e));
        return e;
    }
    snprintf(path, sizeof path, "%s/%s-%s-%012lld-%012lld.arch", dir, a->cfg.store,
             a->cfg.terminal, (long long)after + 1, (long long)through);
    e = pe_journal_export(j, db, after + 1, through, path, &w, why, sizeof why);
    if (e) {
        pe_warn("journal.archive_failed", "step=export path=\"%s\" why=\"%s\" err=%s", path, why,
                pe_errname(e));
        return e;
    }
    e = pe_journal_prune(j, through, w.last, why, sizeof why);
    if (e) {
        pe_warn("journal.archive_failed", "step=prune path=\"%s\" why=\"%s\" err=%s", path, why,
                pe_errname(e));
        return e;
    }
    pe_info("journal.archived", "path=\"%s\" from=%lld through=%lld records=%lld keep_days=%lld "
                                "last_seq=%lld",
            path, (long long)w.from, (long long)w.to, (long long)w.count,
            (long long)a->cfg.journal_keep_days, (long long)last);
    return PE_OK;
}
