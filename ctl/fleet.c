/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fleet.c - posedge-ctl fleet: send a fleet command to a store's tills and print the answers.
 *
 *   posedge-ctl fleet --mqtt HOST:PORT --store S [--terminal T] [--user U --password-file F]
 *                     [--tls-ca F [--tls-cert F --tls-key F]] [--timeout SECONDS] [--json]
 *                     CMD [KEY=VALUE...]
 *
 * The command is the JSON object of docs/protocol.md ("Fleet commands"):
 * {"args":{...},"cmd":CMD,"id":"<uuid>","ts":"<now>"} in canonical form, one fresh UUID per till
 * addressed (a request id is never reused), ts the UTC time it is sent. Each KEY=VALUE becomes a
 * member of args: a decimal integer literal (0, or an optional '-' and digits without a leading
 * zero, within +/- 2^53) as a JSON integer, anything else as a string. CMD and the keys are
 * checked only for their syntax: the agent is the authority on which commands and arguments
 * exist, so an unknown one is sent and its refusal printed.
 *
 * With --terminal T the answer topic posedge/v1/S/T/cmd/res is subscribed first and the command
 * published on posedge/v1/S/T/cmd (QoS 1, not retained) right after it on the same connection:
 * the broker handles one client's packets in order, so the subscription is in place before the
 * till can answer. Without --terminal the tills are the store's: the answer topics
 * (posedge/v1/S/+/cmd/res) and the retained states (posedge/v1/S/+/state) are subscribed, then a
 * probe message on posedge/v1/S/bridge/probe/<client id> (a topic the bridge user may write);
 * when the probe comes back every retained state has arrived, and the command goes to every
 * till whose state says "online" (not to the bridge's own "bridge" state, nor the old
 * "_bridge"). Tills that are not online are named on stderr and not addressed.
 *
 * The connection, its options, the probe, the command's JSON and the matching of answers are
 * the link's (ctl/link.c), which posedge-ctl status and rollout share.
 *
 * A command the broker refuses (MQTT v5 PUBACK 0x87: the ACL does not let us command that till,
 * e.g. logged in as a till) is not waited for: it is named on stderr as refused by the broker.
 * --tls-ca, --tls-cert and --tls-key connect over (mutual) TLS, as S/hq or S/bridge.
 *
 * Answers are matched by topic and request id; anything else on the answer topics (another
 * operator's answers, a duplicate) is ignored. Each answer is printed as it arrives, on stdout:
 * with --json the answer's JSON as it came, one per line; otherwise one line per till,
 *
 *   t01 ok z_report: seq=1234 number=7
 *     report.count=12
 *   t02 refused z_report: refused: a shift is open: close it first
 *
 * the result's scalar members on the first line while it fits in 100 columns, every other
 * member (nested ones flattened to dotted paths) on a line of its own below it. The wait runs
 * the event loop against the --timeout deadline (default 40 s, counted from the start: longer
 * than the 30 s an agent holds a report for a busy till), never
 * a sleep. The connection is a one-shot clean session, so nothing is left on the broker.
 *
 * Exit status: 0 when every till addressed answered ok; 1 when one refused, did not answer in
 * time (each named on stderr), no till was online, or the broker could not be used; 2 for a
 * usage error or a password file that cannot be read.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ctl/ctl.h"
#include "posedge/clock.h"
#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "posedge/mqtt.h"
#include "posedge/protocol.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

/* An agent holds a report up to 30 s for a transaction at the till to finish before it
 * refuses it as busy (agent/fleet.c): wait longer than that by default. */
#define DEFAULT_TIMEOUT_S 40
#define WORD_MAX 40   /* a state word or error code ("unknown_command") */
#define LINE_COLS 100 /* the first line of a human-readable answer */
#define PATH_MAX_ 256 /* a flattened path ("report.tax[0].net") */

/* One till: seen in a retained state (fan-out) or named by --terminal. */
struct target {
    char id[PE_ID_MAX];       /* terminal id */
    char state[WORD_MAX];     /* its retained state's "state" ("?" unreadable, "" cleared) */
    bool addressed;           /* the command is for this till */
    char req[PE_UUID_STRLEN]; /* the request id drawn for it, "" until drawn */
    bool sent;                /* the command was handed to the broker */
    int mid;                  /* its publish, for the broker's answer (PUBACK) */
    int refused;              /* the PUBACK's reason when the broker refused it, else 0 */
    int send_err;             /* PE_E* when it cannot be sent at all, else 0 */
    bool answered;            /* its answer arrived (later copies are ignored) */
    bool ok;                  /* the answer said "ok":true */
    char error[WORD_MAX];     /* the refusal's "error", for the summary */
};

_Static_assert(offsetof(struct target, id) == 0, "ctl_till_get and ctl_by_id: the id first");

struct fleet {
    struct ctl_link link;     /* the connection, the options it takes, the probe (fan-out:
                               * once it came back, the tills are chosen) */
    struct pe_rng *rng;       /* owned: request ids */
    const char *terminal;     /* --terminal, or NULL for every online till (borrowed) */
    const char *cmd;          /* CMD (borrowed) */
    cJSON *args;              /* owned: the command's args object */
    bool json;                /* --json: print the answers' JSON */
    struct ctl_link_sub subs[2]; /* the answers, and (fan-out) the states */
    bool oom;                 /* a till could not be recorded */
    struct target *t;         /* the tills known (sorted by id once chosen) */
    size_t n, cap;            /* entries and room in t */
};

static void usage(FILE *out)
{
    fputs("usage: posedge-ctl fleet --mqtt HOST:PORT --store S [--terminal T]\n"
          "                         [--user U --password-file F] [--timeout SECONDS] [--json]\n"
          "                         [--tls-ca F [--tls-cert F --tls-key F]]\n"
          "                         CMD [KEY=VALUE...]\n"
          "\n"
          "Sends fleet command CMD (docs/protocol.md: ping, status, x_report, z_report,\n"
          "set_config, resend_from, reprint) with arguments KEY=VALUE (a decimal integer is\n"
          "sent as a number, anything else as a string) to till T of store S, or without\n"
          "--terminal to every till whose retained state says online, and prints each answer\n"
          "(--json: the answers' JSON, one per line). --user and --password-file (its first\n"
          "line is the password) log in to a broker with the store's ACL, as the bridge user;\n"
          "--tls-ca, --tls-cert and --tls-key connect over mutual TLS as S/hq (or S/bridge).\n"
          "Waits at most --timeout seconds (default 40). Exit 0 when every till answered ok,\n"
          "1 when one refused or did not answer in time, 2 for a usage error.\n",
          out);
}

/* ---- the command ---- */

/* True for a name of 1..PE_ID_MAX-1 letters, digits, '.', '_' or '-' beginning with a
 * letter: CMD and argument keys. */
static bool name_ok(const char *s)
{
    return pe_event_id_valid(s, 1) &&
           ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'));
}

/* A decimal integer literal within the protocol's integer range: "0" or -?[1-9][0-9]*. */
static bool int_literal(const char *s, int64_t *out)
{
    const char *p = s[0] == '-' ? s + 1 : s;
    if (!*p || (p[0] == '0' && (p[1] || p != s)) || strspn(p, "0123456789") != strlen(p) ||
        strlen(p) > 16)
        return false;
    long long v = strtoll(s, NULL, 10);
    if (v > PE_JSON_MAX_INT || v < -PE_JSON_MAX_INT)
        return false;
    *out = v;
    return true;
}

/* KEY=VALUE into args. 0, or -1 after saying what was wrong. */
static int add_arg(cJSON *args, const char *kv)
{
    const char *eq = strchr(kv, '=');
    char key[PE_ID_MAX];
    if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key) {
        fprintf(stderr, "posedge-ctl fleet: expected KEY=VALUE, got \"%s\"\n", kv);
        return -1;
    }
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = '\0';
    if (!name_ok(key)) {
        fprintf(stderr,
                "posedge-ctl fleet: \"%s\": a key is a letter and up to %d letters, digits, '.', "
                "'_' or '-'\n",
                kv, PE_ID_MAX - 2);
        return -1;
    }
    if (cJSON_GetObjectItemCaseSensitive(args, key)) {
        fprintf(stderr, "posedge-ctl fleet: argument %s given twice\n", key);
        return -1;
    }
    int64_t v;
    int rc = int_literal(eq + 1, &v) ? pe_json_add_int(args, key, v)
                                     : pe_json_add_str(args, key, eq + 1);
    if (rc) {
        fprintf(stderr, "posedge-ctl fleet: %s: %s\n", key, pe_strerror(rc));
        return -1;
    }
    return 0;
}

/* Publish the command to every till addressed that does not have it yet. A failure because
 * the connection just went is retried from the next on_connect; any other is final. */
static void send_pending(struct fleet *f)
{
    for (size_t i = 0; i < f->n; i++) {
        struct target *t = &f->t[i];
        if (!t->addressed || t->sent || t->send_err)
            continue;
        int rc = ctl_link_command(&f->link, f->rng, t->id, f->cmd, f->args, t->req, &t->mid);
        if (rc == PE_OK)
            t->sent = true;
        else if (rc != PE_EAGAIN)
            t->send_err = rc;
    }
}

/* ---- the tills ---- */

static struct target *target_get(struct fleet *f, const char *id)
{
    struct target *t = ctl_till_get(&f->t, &f->n, &f->cap, sizeof *t, id, true);
    f->oom |= !t;
    return t;
}

/* A retained state arrived before the probe came back: remember whether the till is online. */
static void take_state(struct fleet *f, const char *id, const void *payload, size_t len)
{
    struct target *t = target_get(f, id);
    cJSON *doc = NULL;
    if (!t)
        return;
    if (!len) {
        t->state[0] = '\0'; /* cleared */
        return;
    }
    if (pe_json_parse(payload, len, &doc, NULL, 0) != PE_OK)
        doc = NULL;
    ctl_state_word(doc, t->state, sizeof t->state);
    cJSON_Delete(doc);
}

/* The probe came back: every retained state is in. Address the online tills, say which are
 * not, and send. */
static void choose(void *ctx)
{
    struct fleet *f = ctx;
    if (f->n)
        qsort(f->t, f->n, sizeof *f->t, ctl_by_id);
    for (size_t i = 0; i < f->n; i++) {
        struct target *t = &f->t[i];
        t->addressed = strcmp(t->state, "online") == 0;
        if (!t->addressed && t->state[0])
            fprintf(stderr, "posedge-ctl fleet: %s is %s: not sent\n", t->id,
                    strcmp(t->state, "?") == 0 ? "in an unreadable state" : t->state);
    }
    send_pending(f);
}

/* ---- printing an answer ---- */

static bool is_leaf(const cJSON *v)
{
    return !(cJSON_IsObject(v) || cJSON_IsArray(v)) || !v->child;
}

/* Every leaf under v as "  path=value" lines. */
static void put_flat(FILE *out, const char *path, const cJSON *v)
{
    if (is_leaf(v)) {
        fputs("  ", out);
        ctl_put_text(out, path);
        fputc('=', out);
        ctl_put_value(out, v);
        fputc('\n', out);
        return;
    }
    int i = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
        char sub[PATH_MAX_];
        if (cJSON_IsArray(v))
            snprintf(sub, sizeof sub, "%s[%d]", path, i);
        else
            snprintf(sub, sizeof sub, "%s.%s", path, c->string ? c->string : "?");
        put_flat(out, sub, c);
    }
}

/* "t01 ok CMD: k=v k=v" and the rest of the result below it. */
static void print_ok(FILE *out, const char *term, const char *cmd, const cJSON *result)
{
    char *first = NULL, *rest = NULL;
    size_t flen = 0, rlen = 0;
    FILE *fo = open_memstream(&first, &flen), *ro = open_memstream(&rest, &rlen);
    if (!fo || !ro) {
        if (fo)
            fclose(fo);
        if (ro)
            fclose(ro);
        free(first);
        free(rest);
        char *s = result ? cJSON_PrintUnformatted(result) : NULL;
        fprintf(out, "%s ok %s%s%s\n", term, cmd, s ? ": " : "", s ? s : "");
        free(s);
        return;
    }
    fprintf(fo, "%s ok %s", term, cmd);
    bool colon = false, full = false;
    if (result && !cJSON_IsObject(result)) {
        fputs(": ", fo);
        ctl_put_value(fo, result);
    } else if (result) {
        for (const cJSON *c = result->child; c; c = c->next) {
            if (!is_leaf(c)) {
                put_flat(ro, c->string ? c->string : "?", c);
                continue;
            }
            char *kv = NULL;
            size_t kvlen = 0;
            FILE *ko = open_memstream(&kv, &kvlen);
            if (!ko)
                continue;
            ctl_put_text(ko, c->string ? c->string : "?");
            fputc('=', ko);
            ctl_put_value(ko, c);
            fclose(ko);
            fflush(fo);
            if (!full && flen + 2 + kvlen <= LINE_COLS) {
                fprintf(fo, "%s%s", colon ? " " : ": ", kv);
                colon = true;
            } else {
                full = true; /* the rest below, in the result's order */
                fprintf(ro, "  %s\n", kv);
            }
            free(kv);
        }
    }
    fclose(fo);
    fclose(ro);
    fprintf(out, "%s\n%s", first, rest);
    free(first);
    free(rest);
}

/* An answer on posedge/v1/S/<id>/cmd/res: the one we wait for when it is from a till we sent
 * to and carries its request id. */
static void take_answer(struct fleet *f, const char *id, const void *payload, size_t len)
{
    struct target *t = NULL;
    for (size_t i = 0; i < f->n && !t; i++)
        if (f->t[i].sent && !f->t[i].answered && strcmp(f->t[i].id, id) == 0)
            t = &f->t[i];
    struct ctl_answer a;
    if (!t || !ctl_answer_take(payload, len, t->req, &a))
        return;
    t->answered = true;
    t->ok = a.ok;
    if (!a.ok)
        snprintf(t->error, sizeof t->error, "%s", a.error);
    if (f->json) {
        if (memchr(payload, '\n', len)) {
            ctl_put_json(stdout, a.doc); /* one line each; out of memory: none */
        } else {
            fwrite(payload, 1, len, stdout);
            fputc('\n', stdout);
        }
    } else if (a.ok) {
        print_ok(stdout, t->id, f->cmd, a.result);
    } else {
        printf("%s refused %s: ", t->id, f->cmd);
        ctl_put_clean(stdout, a.error);
        if (a.reason) {
            fputs(": ", stdout);
            ctl_put_clean(stdout, a.reason);
        }
        fputc('\n', stdout);
    }
    fflush(stdout);
    ctl_answer_free(&a);
}

/* ---- the connection ---- */

/* A message on one of the store's topics (ctl_link_deliver): an answer, or before the probe
 * came back a till's state. */
static void on_message(void *ctx, const char *tid, enum pe_channel ch, const void *payload,
                       size_t len)
{
    struct fleet *f = ctx;
    if (pe_id_reserved(tid))
        return;
    if (ch == PE_CH_CMD_RES)
        take_answer(f, tid, payload, len);
    else if (ch == PE_CH_STATE && !f->terminal && !f->link.probed)
        take_state(f, tid, payload, len);
}

/* Subscribed (the answers first, QoS 1 so that none is lost between the broker and us): send
 * what is not sent yet, once the tills are chosen. */
static void on_connect(void *ctx)
{
    struct fleet *f = ctx;
    if (f->terminal || f->link.probed)
        send_pending(f);
}

/* The broker answered a command's publish: one it refused (the ACL) will never be answered. */
static void on_published(void *ctx, int mid, int reason)
{
    struct fleet *f = ctx;
    if (reason < PE_MQTT_RC_FAILURE)
        return;
    for (size_t i = 0; i < f->n; i++) {
        struct target *t = &f->t[i];
        if (t->sent && !t->answered && !t->send_err && t->mid == mid) {
            t->send_err = PE_EDECLINED;
            t->refused = reason;
        }
    }
}

static const struct ctl_link_hooks hooks = {
    .message = on_message,
    .probed = choose,
    .connected = on_connect,
    .published = on_published,
};

/* A fleet before its options: default --timeout DEFAULT_TIMEOUT_S. */
static void fleet_init(struct fleet *f)
{
    memset(f, 0, sizeof *f);
    ctl_link_init(&f->link, "fleet", DEFAULT_TIMEOUT_S, 3600, &hooks, f);
}

/* True when nothing more can come: every till addressed answered or cannot be sent to. */
static bool finished(const struct ctl_link *l)
{
    const struct fleet *f = l->ctx;
    if (!f->terminal && !f->link.probed)
        return false;
    for (size_t i = 0; i < f->n; i++)
        if (f->t[i].addressed && !f->t[i].answered && !f->t[i].send_err)
            return false;
    return true;
}

/* ---- the command line ---- */

int ctl_fleet(int argc, char **argv)
{
    static const struct option longopts[] = {
        CTL_LINK_LONGOPTS,
        {"terminal", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct fleet f;
    fleet_init(&f);
    int c, taken;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if ((taken = ctl_link_opt(&f.link, c, optarg)) < 0) {
            return EXIT_USAGE;
        } else if (taken) {
            continue;
        } else if (c == 't') {
            if (!pe_event_id_valid(optarg, 1) || pe_id_reserved(optarg)) {
                fprintf(stderr, "posedge-ctl fleet: --terminal: not a till id: \"%s\"\n", optarg);
                return EXIT_USAGE;
            }
            f.terminal = optarg;
        } else if (c == 'j') {
            f.json = true;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!f.link.addr || !f.link.store || optind >= argc) {
        fprintf(stderr, "posedge-ctl fleet: needs --mqtt HOST:PORT, --store S and CMD\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    f.cmd = argv[optind];
    if (!name_ok(f.cmd)) {
        fprintf(stderr,
                "posedge-ctl fleet: \"%s\" is not a command name (a letter and up to %d letters, "
                "digits, '.', '_' or '-')\n",
                f.cmd, PE_ID_MAX - 2);
        return EXIT_USAGE;
    }
    if (!(f.args = cJSON_CreateObject())) {
        fprintf(stderr, "posedge-ctl fleet: %s\n", pe_strerror(PE_ENOMEM));
        return EXIT_FAIL;
    }
    int status = EXIT_USAGE;
    for (int i = optind + 1; i < argc; i++)
        if (add_arg(f.args, argv[i]))
            goto close_link;
    char *check = NULL;
    int crc = pe_json_canonical(f.args, &check, NULL);
    free(check);
    if (crc) {
        fprintf(stderr, "posedge-ctl fleet: the arguments cannot be sent: %s%s\n", pe_strerror(crc),
                crc == PE_EINVAL ? " (a value that is not UTF-8)" : "");
        goto close_link;
    }
    if (ctl_link_check(&f.link))
        goto close_link;

    status = EXIT_FAIL;
    long timeout_s = f.link.timeout_s;
    int64_t deadline = pe_mono_ms() + timeout_s * 1000;
    /* The answers, and without --terminal the states, which the probe says are all in. */
    f.subs[0] = (struct ctl_link_sub){f.terminal, PE_CH_CMD_RES, 1};
    f.subs[1] = (struct ctl_link_sub){NULL, PE_CH_STATE, 0};
    f.link.subs = f.subs;
    f.link.nsubs = f.terminal ? 1 : 2;
    f.link.no_probe = f.terminal != NULL;
    int rc = pe_rng_create("posedge-ctl/fleet", &f.rng);
    if (rc) {
        fprintf(stderr, "posedge-ctl fleet: %s\n", pe_strerror(rc));
        goto close_link;
    }
    if (f.terminal) {
        struct target *t = target_get(&f, f.terminal);
        if (!t) {
            fprintf(stderr, "posedge-ctl fleet: %s\n", pe_strerror(PE_ENOMEM));
            goto close_link;
        }
        t->addressed = true;
    }
    if (ctl_link_open(&f.link))
        goto close_link;
    rc = ctl_link_run(&f.link, deadline, finished);
    if (rc != PE_OK && rc != PE_EAGAIN && rc != PE_EDECLINED) {
        fprintf(stderr, "posedge-ctl fleet: event loop: %s\n", pe_strerror(rc));
        goto close_link;
    }
    if (!ctl_link_reached(&f.link, timeout_s))
        goto close_link;
    if (!f.terminal && !f.link.probed) {
        fprintf(stderr,
                "posedge-ctl fleet: the broker did not confirm the subscriptions within %ld s: "
                "nothing sent\n",
                timeout_s);
        goto close_link;
    }
    if (f.oom)
        fprintf(stderr, "posedge-ctl fleet: out of memory: some tills were not addressed\n");
    size_t addressed = 0, good = 0;
    for (size_t i = 0; i < f.n; i++) {
        const struct target *t = &f.t[i];
        if (!t->addressed)
            continue;
        addressed++;
        if (t->answered && t->ok)
            good++;
        else if (t->answered)
            fprintf(stderr, "posedge-ctl fleet: %s refused %s (%s)\n", t->id, f.cmd, t->error);
        else if (t->send_err == PE_EDECLINED)
            fprintf(stderr,
                    "posedge-ctl fleet: %s: the broker refused the command (%s: this login may "
                    "not command it)\n",
                    t->id, pe_mqtt_reason(t->refused));
        else if (t->send_err)
            fprintf(stderr, "posedge-ctl fleet: %s: the command could not be sent: %s\n", t->id,
                    pe_strerror(t->send_err));
        else
            fprintf(stderr, "posedge-ctl fleet: %s did not answer within %ld s\n", t->id,
                    timeout_s);
    }
    if (addressed == 0)
        fprintf(stderr, "posedge-ctl fleet: no till of store %s is online: nothing sent\n",
                f.link.store);
    status = addressed > 0 && good == addressed && !f.oom && fflush(stdout) == 0 ? 0 : EXIT_FAIL;

close_link:
    ctl_link_close(&f.link);
    pe_rng_destroy(f.rng);
    free(f.t);
    cJSON_Delete(f.args);
    return status;
}
