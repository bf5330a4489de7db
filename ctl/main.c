/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - posedge-ctl: inspect, verify and report on journals, and look at and command a
 * store's fleet through its MQTT broker.
 *
 *   posedge-ctl journal DB [--from SEQ] [--type TYPE]   events as JSON lines, in seq order
 *   posedge-ctl verify DB                               check JSON, gapless seq, hash chain,
 *                                                       signatures and their counters
 *   posedge-ctl report DB --x | --z N                   print an X report or Z report N
 *   posedge-ctl report DB --month YYYY-MM | --year YYYY print a month or year closing
 *   posedge-ctl recover DAMAGED.db NEW.db               copy the intact prefix to a new journal
 *
 * and, in files of their own (ctl.h): devkafka, reconcile, status, fleet, rollout, acl,
 * broker-config, pki, catalog, export and audit.
 *
 * Every command opens the journal read-only: inspecting a till's fiscal record never changes
 * it; recover writes only the new file, and prune (ctl/archive.c) deletes only what it archived. Exit status: 0 success, 1 the check failed or the
 * thing asked for does not exist, 2 usage error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/journal.h"
#include "posedge/json.h"
#include "posedge/ledger.h"
#include "posedge/log.h"
#include "posedge/report.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fputs("usage: posedge-ctl journal DB [--from SEQ] [--type TYPE]\n"
          "       posedge-ctl verify DB\n"
          "       posedge-ctl report DB --x | --z N | --month YYYY-MM | --year YYYY\n"
          "       posedge-ctl recover DAMAGED.db NEW.db\n"
          "       posedge-ctl export DB [--from SEQ] [--to SEQ] --out FILE\n"
          "       posedge-ctl audit FILE... [--journal DB]\n"
          "       posedge-ctl prune DB --through SEQ --archive-dir DIR\n"
          "       posedge-ctl devkafka [--port P] [--brokers N] [--partitions N]\n"
          "       posedge-ctl reconcile --brokers B [--topic T]... JOURNAL.db...\n"
          "       posedge-ctl status --mqtt HOST:PORT --store S [--user U --password-file F]\n"
          "                          [--tls-ca F [--tls-cert F --tls-key F]]\n"
          "                          [--timeout SECONDS] [--json]\n"
          "       posedge-ctl fleet --mqtt HOST:PORT --store S [--terminal T]\n"
          "                         [--user U --password-file F] [--timeout SECONDS] [--json]\n"
          "                         [--tls-ca F [--tls-cert F --tls-key F]] CMD [KEY=VALUE...]\n"
          "       posedge-ctl rollout --mqtt HOST:PORT --store S --version V [--canary N]\n"
          "                           [--max-failures K] [--after-shift] [--timeout SECONDS]\n"
          "                           [--json] [--user U --password-file F] [--tls-ca F ...]\n"
          "       posedge-ctl acl --store S [--bridge-user NAME] [--password | --tls | --enrol]\n"
          "       posedge-ctl broker-config --store S --dir D [--tls-dir T] [--conf FILE|-] ...\n"
          "       posedge-ctl replay-catalog --format online-retail|databricks FILE...\n"
          "       posedge-ctl pki init|issue|revoke|list|crl|token|csr|show|verify ...\n"
          "       posedge-ctl catalog publish --brokers B FILE... | status --mqtt H:P --store S\n"
          "\n"
          "journal  print the journal's events as JSON lines, one per line, in seq order\n"
          "verify   check every record: valid canonical JSON, gapless seq, the SHA-256 chain,\n"
          "         and each signature under the key its signer_installed event recorded, with\n"
          "         counters rising by one, and every record left unsigned while the signer was\n"
          "         down covered by the signed collective (signer_up) after it; then every\n"
          "         figure taken from earlier records: each perpetual_total and grand_total,\n"
          "         and each month and year closing recomputed from the records; exit 0 with\n"
          "         a summary when intact, 1 naming the first bad seq\n"
          "report   print the X report of the open period (not journaled: a preview),\n"
          "         or Z report number N, or the month or year closing, as it was printed\n"
          "recover  copy the events of a damaged journal that still verify, from seq 1 up to\n"
          "         the first bad one, into a new journal and rebuild its stock, counters and\n"
          "         shift state from them; the damaged file is only read\n"
          "export   write seq FROM..TO of a journal as an archive (docs/audit.md): its records\n"
          "         with their signatures, the keys in force and a manifest of counts and totals\n"
          "audit    verify archives (and --journal, the live journal after them) as one history:\n"
          "         chain, signatures, counters and every manifest figure; exit 0 with a\n"
          "         one-line summary, 1 naming the file and the first bad seq\n"
          "prune    archive seq ..SEQ into DIR (only records the bridge has acknowledged as\n"
          "         delivered and a Z report has closed), audit it, then delete them from the\n"
          "         journal, which keeps an anchor (the last pruned seq and hash)\n"
          "devkafka librdkafka's in-memory mock cluster as a development Kafka (not for\n"
          "         production); prints bootstrap=127.0.0.1:PORT first; stdin takes down, up,\n"
          "         errors N NAME\n"
          "reconcile read the topics from the beginning (read_committed) and compare with the\n"
          "         journals; exit 0 only when nothing is missing, duplicated or different\n"
          "status   every till's retained state and ack and the bridge's state, from the\n"
          "         broker: backlog, version, uptime, devices, shift (--json: the documents)\n"
          "fleet    send a fleet command (ping, status, x_report, z_report, set_config,\n"
          "         resend_from, reprint) to till T, or to every online till of the store, and\n"
          "         print the answers; exit 0 only when every till answered ok\n"
          "rollout  upgrade the store's tills to package version V: N canaries first, then\n"
          "         the rest unless more than K failed; each followed in its retained state\n"
          "         until upgraded, rolled back or failed; exit 0 only when all end at V\n"
          "acl      print a mosquitto acl_file of the store (password logins, mutual TLS, or the\n"
          "         enrolment listener): only the bridge (and HQ) may command tills\n"
          "broker-config  write the store broker's mosquitto.conf (mutual TLS, enrolment,\n"
          "         optionally a plaintext lab listener) and its ACL files\n"
          "replay-catalog  print the catalog for posedge-agent --replay of dataset files\n"
          "pki      the store's certificate authority: CA, till certificates from CSRs,\n"
          "         revocation and CRLs, enrolment tokens (posedge-ctl pki --help)\n"          "catalog  HQ's catalog: publish a CSV or JSON-lines file to Kafka (checked first,\n"
          "         one transaction), or list the tills not at the store's catalog version\n"
          "         (posedge-ctl catalog --help)\n"
          "\n"
          "--user and --password-file (the file's first line is the password) log in to a\n"
          "broker that has the store's ACL, normally as the bridge user; --tls-ca, --tls-cert\n"
          "and --tls-key connect over mutual TLS instead, as S/hq. \"posedge-ctl CMD --help\"\n"
          "explains status, fleet, rollout, acl and broker-config further.\n",
          out);
}

static int open_ro(const char *path, bool check, struct pe_journal **j)
{
    char err[512];
    struct pe_journal_opts o = {.readonly = true, .check = check};
    int rc = pe_journal_open(path, &o, j, err, sizeof err);
    if (rc)
        fprintf(stderr, "posedge-ctl: %s\n", err);
    return rc;
}

static int parse_i64(const char *opt, const char *s, long long min, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || !*s || v < min) {
        fprintf(stderr, "posedge-ctl: %s: expected an integer >= %lld, got \"%s\"\n", opt, min, s);
        return EXIT_USAGE;
    }
    *out = v;
    return 0;
}

static int cmd_journal(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"from", required_argument, NULL, 'f'},
        {"type", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    long long from = 1;
    const char *type = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'f' && parse_i64("--from", optarg, 1, &from) == 0)
            continue;
        if (c == 't') {
            enum pe_event_type t;
            if (pe_event_type_parse(optarg, &t) != PE_OK) {
                fprintf(stderr, "posedge-ctl: --type: unknown event type \"%s\"\n", optarg);
                return EXIT_USAGE;
            }
            type = optarg;
            continue;
        }
        usage(stderr);
        return EXIT_USAGE;
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    struct pe_journal *j;
    if (open_ro(argv[optind], false, &j))
        return EXIT_FAIL;
    struct pe_journal_iter *it;
    int rc = pe_journal_iter_open(j, from, type, &it);
    struct pe_journal_rec r;
    while (rc == PE_OK && (rc = pe_journal_iter_next(it, &r)) == PE_OK) {
        fwrite(r.record, 1, r.len, stdout);
        fputc('\n', stdout);
    }
    if (rc != PE_EEOF)
        fprintf(stderr, "posedge-ctl: reading %s: %s\n", argv[optind], pe_strerror(rc));
    pe_journal_iter_close(it);
    pe_journal_close(j);
    return rc == PE_EEOF && fflush(stdout) == 0 ? 0 : EXIT_FAIL;
}

static int cmd_verify(int argc, char **argv)
{
    if (argc != 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *path = argv[1];
    struct pe_journal *j;
    if (open_ro(path, false, &j))
        return EXIT_FAIL;
    struct pe_journal_verify_result res = {0};
    struct pe_totals_result tot = {0};
    int rc = pe_journal_verify(j, &res);
    /* The chain holds: now every figure a record took from the records before it. */
    if (rc == PE_OK && (rc = pe_totals_verify(j, &tot)) == PE_ECHAIN) {
        res.bad_seq = tot.bad_seq;
        snprintf(res.why, sizeof res.why, "%s", tot.why);
    }
    char head[PE_SHA256_HEXLEN] = "";
    pe_journal_last(j, NULL, head, NULL);
    pe_journal_close(j);
    if (rc == PE_ECHAIN) {
        printf("FAILED %s: first bad seq %lld: %s (%lld records checked before it)\n", path,
               (long long)res.bad_seq, res.why, (long long)(res.bad_seq > 0 ? res.bad_seq - 1 : 0));
        return EXIT_FAIL;
    }
    if (rc) {
        printf("FAILED %s: %s\n", path, pe_strerror(rc));
        return EXIT_FAIL;
    }
    /* The chain is intact; also have SQLite check the file's structure (indexes, pages). */
    if (open_ro(path, true, &j)) {
        printf("FAILED %s: the events verify but the database structure is damaged\n", path);
        return EXIT_FAIL;
    }
    pe_journal_close(j);
    char sigs[160];
    if (res.nsigned == 0 && !res.alg[0])
        snprintf(sigs, sizeof sigs, "not signed");
    else if (res.nsigned == 0)
        snprintf(sigs, sizeof sigs, "no signature (signing turned off)");
    else
        snprintf(sigs, sizeof sigs,
                 "%lld signatures valid from seq %lld under %lld key%s (last %.12s), counters "
                 "gapless%s",
                 (long long)res.nsigned, (long long)res.first_signed_seq, (long long)res.ngroups,
                 res.ngroups == 1 ? "" : "s", res.key_id[0] ? res.key_id : "-",
                 strcmp(res.alg, PE_SIGNER_ALG_NONE) == 0 ? ", signing turned off since" : "");
    /* Outages of the signer (signer.h): closed ones are covered by their collective; one still
     * open at the end is said, not failed (the signer is down now). */
    char outages[160] = "";
    if (res.noutages || res.down_seq) {
        int n = snprintf(outages, sizeof outages,
                         "; %lld unsigned while the signer was down, %lld outage%s covered by "
                         "collective signatures",
                         (long long)res.nmarked, (long long)res.noutages,
                         res.noutages == 1 ? "" : "s");
        if (res.down_seq && n > 0 && (size_t)n < sizeof outages)
            snprintf(outages + n, sizeof outages - (size_t)n,
                     ", signer down since seq %lld (not covered yet)", (long long)res.down_seq);
    }
    char from[96] = "1";
    if (res.anchor_seq)
        snprintf(from, sizeof from, "%lld", (long long)res.anchor_seq + 1);
    printf("OK %s: %lld events, seq %s..%lld gapless%s, hash chain intact, head %.16s; %s%s\n",
           path, (long long)res.count, from, (long long)res.last_seq,
           res.anchor_seq ? " from the anchor (pruned before it: see docs/audit.md)" : "", head,
           sigs, outages);
    char skipped[96] = "";
    if (tot.before_anchor)
        snprintf(skipped, sizeof skipped, " (%lld more begin before the anchor: archived)",
                 (long long)tot.before_anchor);
    printf("OK totals: perpetual total %lld (%lld records carry it), %lld month and %lld year "
           "closings recomputed%s, %lld training records kept out\n",
           (long long)tot.perpetual, (long long)tot.carried, (long long)tot.months,
           (long long)tot.years, skipped, (long long)tot.training);
    return 0;
}

/* The currency of a journal: the one its first sale was made in. */
static void journal_currency(struct pe_journal *j, char out[4])
{
    struct pe_journal_iter *it;
    struct pe_journal_rec r;
    snprintf(out, 4, "EUR");
    if (pe_journal_iter_open(j, 1, "sale", &it) != PE_OK)
        return;
    cJSON *rec = NULL;
    const char *cur = NULL;
    if (pe_journal_iter_next(it, &r) == PE_OK &&
        pe_json_parse(r.record, r.len, &rec, NULL, 0) == PE_OK &&
        pe_json_get_str(cJSON_GetObjectItemCaseSensitive(rec, "body"), "currency", &cur) == 0 &&
        strlen(cur) == 3)
        snprintf(out, 4, "%s", cur);
    cJSON_Delete(rec);
    pe_journal_iter_close(it);
}

static int report_x(struct pe_journal *j)
{
    int64_t last = 0, x = 0, ts = 0;
    char cur[4];
    journal_currency(j, cur);
    pe_journal_last(j, &last, NULL, &ts);
    pe_journal_counter_get(j, "p.x.count", &x);
    cJSON *body = NULL;
    char *text = NULL;
    int rc = pe_report_totals(j, cur, x + 1, last, &body);
    struct pe_render_hdr h = {
        .title = "posedge",
        .store = pe_journal_store(j),
        .terminal = pe_journal_terminal(j),
        .operator_ = "",
        .type = "x_report",
        .seq = 0,
        .ts_ms = ts,
    };
    if (rc == PE_OK)
        rc = pe_render_event(&h, body, &text);
    if (rc == PE_OK)
        fputs(text, stdout);
    else
        fprintf(stderr, "posedge-ctl: cannot build the X report: %s\n", pe_strerror(rc));
    free(text);
    cJSON_Delete(body);
    return rc ? EXIT_FAIL : 0;
}

static int report_z(struct pe_journal *j, long long n)
{
    struct pe_journal_iter *it;
    struct pe_journal_rec r;
    int rc = pe_journal_iter_open(j, 1, "z_report", &it);
    long long last = 0;
    int status = EXIT_FAIL;
    while (rc == PE_OK && (rc = pe_journal_iter_next(it, &r)) == PE_OK) {
        cJSON *rec = NULL;
        int64_t num = 0;
        if (pe_json_parse(r.record, r.len, &rec, NULL, 0) == PE_OK &&
            pe_json_get_int(cJSON_GetObjectItemCaseSensitive(rec, "body"), "number", &num) ==
                PE_OK) {
            last = num;
            if (num == n) {
                char *text = NULL;
                if (pe_render_record(rec, "posedge", &text) == PE_OK) {
                    fputs(text, stdout);
                    status = 0;
                }
                free(text);
            }
        }
        cJSON_Delete(rec);
        if (status == 0)
            break;
    }
    pe_journal_iter_close(it);
    if (status != 0 && (rc == PE_EEOF || rc == PE_OK))
        fprintf(stderr, "posedge-ctl: no Z report number %lld (%s%lld)\n", n,
                last ? "the last is " : "none yet, ", last);
    else if (status != 0)
        fprintf(stderr, "posedge-ctl: reading Z reports: %s\n", pe_strerror(rc));
    return status;
}

/* The month_close (month true) or year_close of period, printed as it was printed. Its
 * figures are those verify recomputes from the records (pe_totals_verify). */
static int report_closing(struct pe_journal *j, bool month, const char *period)
{
    const char *type = month ? "month_close" : "year_close";
    struct pe_journal_iter *it;
    struct pe_journal_rec r;
    int rc = pe_journal_iter_open(j, 1, type, &it);
    int status = EXIT_FAIL;
    while (status != 0 && rc == PE_OK && (rc = pe_journal_iter_next(it, &r)) == PE_OK) {
        cJSON *rec = NULL;
        const char *p = NULL;
        if (pe_json_parse(r.record, r.len, &rec, NULL, 0) == PE_OK &&
            pe_json_get_str(cJSON_GetObjectItemCaseSensitive(rec, "body"), month ? "month" : "year",
                            &p) == PE_OK &&
            strcmp(p, period) == 0) {
            char *text = NULL;
            if (pe_render_record(rec, "posedge", &text) == PE_OK) {
                fputs(text, stdout);
                status = 0;
            }
            free(text);
        }
        cJSON_Delete(rec);
    }
    pe_journal_iter_close(it);
    if (status != 0 && (rc == PE_EEOF || rc == PE_OK))
        fprintf(stderr, "posedge-ctl: no %s of %s\n", type, period);
    else if (status != 0)
        fprintf(stderr, "posedge-ctl: reading %s events: %s\n", type, pe_strerror(rc));
    return status;
}

static int cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"x", no_argument, NULL, 'x'},
        {"z", required_argument, NULL, 'z'},
        {"month", required_argument, NULL, 'm'},
        {"year", required_argument, NULL, 'y'},
        {NULL, 0, NULL, 0},
    };
    int c, want_x = 0;
    long long z = 0;
    const char *month = NULL, *year = NULL;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'x')
            want_x = 1;
        else if (c == 'z' && parse_i64("--z", optarg, 1, &z) == 0)
            continue;
        else if (c == 'm')
            month = optarg;
        else if (c == 'y')
            year = optarg;
        else {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind + 1 != argc || want_x + (z > 0) + !!month + !!year != 1) {
        fprintf(stderr, "posedge-ctl: report needs DB and exactly one of --x, --z N, "
                        "--month YYYY-MM, --year YYYY\n");
        return EXIT_USAGE;
    }
    struct pe_journal *j;
    if (open_ro(argv[optind], false, &j))
        return EXIT_FAIL;
    int status = want_x  ? report_x(j)
                 : month ? report_closing(j, true, month)
                 : year  ? report_closing(j, false, year)
                         : report_z(j, z);
    pe_journal_close(j);
    return status;
}

/* Copy the verifiable prefix of a damaged journal into a new one, replaying each event's
 * effect (ledger.h) so the new journal's stock and counters match its events exactly. */
static int cmd_recover(int argc, char **argv)
{
    if (argc != 3) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *src_path = argv[1], *dst_path = argv[2];
    if (access(dst_path, F_OK) == 0) {
        fprintf(stderr, "posedge-ctl: %s exists; recover writes only a new file\n", dst_path);
        return EXIT_USAGE;
    }
    struct pe_journal *src, *dst;
    char err[512];
    if (open_ro(src_path, false, &src))
        return EXIT_FAIL;
    struct pe_journal_opts o = {.store = pe_journal_store(src),
                                .terminal = pe_journal_terminal(src)};
    if (pe_journal_open(dst_path, &o, &dst, err, sizeof err)) {
        fprintf(stderr, "posedge-ctl: %s\n", err);
        pe_journal_close(src);
        return EXIT_FAIL;
    }
    struct pe_journal_iter *it = NULL;
    struct pe_journal_rec r;
    char prev[PE_SHA256_HEXLEN];
    pe_event_genesis(pe_journal_store(src), pe_journal_terminal(src), prev);
    int64_t copied = 0, src_last = 0;
    char why[256] = "";
    pe_journal_last(src, &src_last, NULL, NULL);
    int rc = pe_journal_iter_open(src, 1, NULL, &it);
    bool in_txn = false;
    while (rc == PE_OK) {
        rc = pe_journal_iter_next(it, &r);
        if (rc != PE_OK)
            break;
        struct pe_event_meta m;
        char hash[PE_SHA256_HEXLEN];
        cJSON *rec = NULL;
        if (pe_event_verify(r.record, r.len, copied + 1, prev, &m, hash, &rec, why, sizeof why) !=
            PE_OK) {
            cJSON_Delete(rec);
            rc = PE_ECHAIN;
            break;
        }
        /* Batches of 1,000 records per transaction: the new file is not live yet. */
        if (!in_txn && (rc = pe_journal_begin(dst)) == PE_OK)
            in_txn = true;
        if (rc == PE_OK) {
            /* The signature (or a signer outage's mark) goes along (verify checks it); one that
             * does not even decode is left behind, and verify names that record as unsigned. */
            struct pe_signature sg;
            int64_t down = 0;
            bool sig_ok = r.sig && (pe_signature_mark_decode(r.sig, r.siglen, &down) ||
                                    pe_signature_decode(r.sig, r.siglen, &sg, NULL, 0) == PE_OK);
            rc = pe_journal_import_signed(dst, r.record, r.len, sig_ok ? r.sig : NULL,
                                          sig_ok ? r.siglen : 0, NULL);
        }
        if (rc == PE_OK)
            rc = pe_ledger_apply(dst, m.type, m.seq, cJSON_GetObjectItemCaseSensitive(rec, "body"));
        cJSON_Delete(rec);
        if (rc != PE_OK) {
            snprintf(why, sizeof why, "seq %lld: cannot write to %s: %s", (long long)m.seq,
                     dst_path, pe_strerror(rc));
            rc = PE_EIO;
            break;
        }
        memcpy(prev, hash, sizeof prev);
        copied++;
        if (copied % 1000 == 0) {
            in_txn = false;
            if ((rc = pe_journal_commit(dst)))
                break;
        }
    }
    pe_journal_iter_close(it);
    int crc = PE_OK;
    if (in_txn)
        crc = rc == PE_EIO ? (pe_journal_rollback(dst), PE_EIO) : pe_journal_commit(dst);
    pe_journal_close(dst);
    pe_journal_close(src);
    if (rc == PE_EIO || crc) {
        fprintf(stderr, "posedge-ctl: recover failed: %s\n", why[0] ? why : pe_strerror(crc));
        remove(dst_path);
        return EXIT_FAIL;
    }
    if (rc != PE_EEOF && !why[0])
        snprintf(why, sizeof why, "seq %lld: unreadable (%s)", (long long)copied + 1,
                 pe_strerror(rc));
    printf("recovered seq 1..%lld of %s into %s%s%s\n", (long long)copied, src_path, dst_path,
           why[0] ? "; stopped at " : " (the whole chain)", why);
    if (why[0] || copied < src_last)
        printf("events after seq %lld are NOT in %s: keep %s for the auditor\n", (long long)copied,
               dst_path, src_path);
    return 0;
}

int main(int argc, char **argv)
{
    pe_log_init("ctl", PE_LOG_WARN);
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "journal") == 0)
        return cmd_journal(argc - 1, argv + 1);
    if (strcmp(cmd, "verify") == 0)
        return cmd_verify(argc - 1, argv + 1);
    if (strcmp(cmd, "report") == 0)
        return cmd_report(argc - 1, argv + 1);
    if (strcmp(cmd, "recover") == 0)
        return cmd_recover(argc - 1, argv + 1);
    if (strcmp(cmd, "devkafka") == 0)
        return ctl_devkafka(argc - 1, argv + 1);
    if (strcmp(cmd, "reconcile") == 0)
        return ctl_reconcile(argc - 1, argv + 1);
    if (strcmp(cmd, "status") == 0)
        return ctl_status(argc - 1, argv + 1);
    if (strcmp(cmd, "fleet") == 0)
        return ctl_fleet(argc - 1, argv + 1);
    if (strcmp(cmd, "rollout") == 0)
        return ctl_rollout(argc - 1, argv + 1);
    if (strcmp(cmd, "acl") == 0)
        return ctl_acl(argc - 1, argv + 1);
    if (strcmp(cmd, "broker-config") == 0)
        return ctl_broker_config(argc - 1, argv + 1);
    if (strcmp(cmd, "replay-catalog") == 0)
        return ctl_replay_catalog(argc - 1, argv + 1);
    if (strcmp(cmd, "pki") == 0)
        return ctl_pki(argc - 1, argv + 1);
    if (strcmp(cmd, "catalog") == 0)
        return ctl_catalog(argc - 1, argv + 1);
    if (strcmp(cmd, "export") == 0)
        return ctl_export(argc - 1, argv + 1);
    if (strcmp(cmd, "audit") == 0)
        return ctl_audit(argc - 1, argv + 1);
    if (strcmp(cmd, "prune") == 0)
        return ctl_prune(argc - 1, argv + 1);
    fprintf(stderr, "posedge-ctl: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
