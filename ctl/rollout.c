/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rollout.c - posedge-ctl rollout: upgrade a store's tills to one version, canaries first.
 *
 *   posedge-ctl rollout --mqtt HOST:PORT --store S --version V [--canary N] [--max-failures K]
 *                       [--after-shift] [--timeout SECONDS] [--json]
 *                       [--user U --password-file F] [--tls-ca F [--tls-cert F --tls-key F]]
 *
 * It reads the store's retained till states as posedge-ctl status does (the link's probe says
 * they are all in; ctl/link.c), sorts the tills by id and plans: a till whose state's version
 * is V already is "current", one whose state is not "online" is not reached (neither is
 * asked), every other till needs the upgrade. The canaries are the first N of those (default
 * 1; 0: none); the rest follow as one wave once the canaries' wave is over, unless by then more
 * than K tills failed (default 0), when the rollout stops and the rest are not asked. A till
 * whose state appears only after the plan is not part of it.
 *
 * Each till of a wave gets the fleet command upgrade {"version":V,"after_shift":BOOL} with a
 * request id of its own (docs/protocol.md, "Fleet commands" and "Rollout"). Its answer is
 * checked: a refusal (by the till, or the broker's ACL) is a failure with its reason; "current"
 * true means it runs V already. Then its state is followed until its "upgrade" member names
 * that request id with a final outcome: "ok" with the state's version V is upgraded (ok with
 * another version is a failure), "rolled_back" and "failed" are failures with the till's
 * reason. A state naming the request id also counts as the till having accepted it, should the
 * answer be lost. A wave waits at most --timeout seconds (default 1800): a till without a final
 * outcome by then is a failure, "no outcome within S s (last outcome: W)". The broker must be
 * reached and the states read within --timeout, at most CONNECT_S seconds. Every wait runs the
 * loop against its deadline; nothing sleeps.
 *
 * Output, on stdout, one line per till as its outcome arrives (the current and the unreached
 * ones first, when planned):
 *
 *   rollout t01: ok 0.9.0 -> 0.9.1 (canary)
 *   rollout t01: rolled_back 0.9.1 -> 0.9.0 (canary): self-test failed: ...
 *   rollout t01: failed 0.9.0 -> 0.9.1: apt-get: ...
 *   rollout t01: refused 0.9.0 -> 0.9.1: busy: an upgrade is being installed
 *   rollout t01: timeout 0.9.0 -> 0.9.1: no outcome within 1800 s (last outcome: waiting)
 *   rollout t02: current 0.9.1
 *   rollout t03: offline: not reached
 *
 * (" (canary)" on a canary's line; "?" for a version not known; a till's text with control
 * characters as '?'), then one summary line:
 *
 *   rollout stopped: 1 failure(s) > --max-failures 0; not asked: t02 t03
 *   rollout done: 3 upgraded, 0 current, 0 failed, 0 not reached
 *
 * With --json, one JSON object instead (RESULTS below names each till's result):
 * {"store":S,"version":V,"result":"done"|"stopped","upgraded":N,"current":N,"failed":N,
 *  "not_reached":N,"not_asked":N,"tills":[{"terminal":T,"result":R,"canary":BOOL,"state":W,
 *  "from":V|null,"id":REQ|null,"outcome":O|null,"previous":V|null,"reason":TEXT|null},...]}.
 * Progress goes to stderr: each wave as it starts, and a till's outcome each time it changes
 * while it is not final ("posedge-ctl rollout: t01: installing (upgrade to 0.9.1)").
 *
 * Exit status: 0 when every till of the store ends at V (upgraded or current); 1 when the
 * rollout stopped, a till failed or was not reached, the store has no till, or the broker
 * could not be used; 2 for a usage error or a password file that cannot be read.
 */
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
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

#define DEFAULT_TIMEOUT_S 1800 /* a wave: the till waits to be idle, installs, runs a minute */
#define TIMEOUT_MAX_S 86400    /* --after-shift may wait for a shift to end */
#define CONNECT_S 30           /* the broker reached and the states read, at most */
#define COUNT_MAX 100000       /* --canary, --max-failures */
#define WORD_MAX 16            /* a state word ("online") */
#define REASON_MAX 512         /* why a till failed */

/* X(NAME, word, failure) - what became of a till. */
#define RESULTS(X)                                                                                 \
    X(PENDING, "pending", false)         /* to be asked, or asked and not final yet */             \
    X(OK, "ok", false)                   /* upgraded: outcome ok, and its state says V */          \
    X(CURRENT, "current", false)         /* runs V already: not asked, or it answered so */        \
    X(ROLLED_BACK, "rolled_back", true)  /* V failed at the till, which runs previous again */     \
    X(FAILED, "failed", true)            /* V not installed, ok without V, or not sent */          \
    X(REFUSED, "refused", true)          /* the till or the broker refused the command */          \
    X(TIMEOUT, "timeout", true)          /* no final outcome within --timeout */                   \
    X(NOT_REACHED, "not_reached", false) /* its state is not online: not asked */                  \
    X(NOT_ASKED, "not_asked", false)     /* the rollout stopped before its wave */

enum result {
#define RESULT_ENUM(name, word, failure) R_##name,
    RESULTS(RESULT_ENUM)
#undef RESULT_ENUM
        R__COUNT
};

static const struct {
    const char *word;
    bool failure;
} results[R__COUNT] = {
#define RESULT_ROW(name, w, f) [R_##name] = {w, f},
    RESULTS(RESULT_ROW)
#undef RESULT_ROW
};

enum wave { WAVE_NONE, WAVE_CANARY, WAVE_REST };

/* One till of the store. */
struct till {
    char id[PE_ID_MAX];             /* terminal id */
    char state[WORD_MAX];           /* its state's "state" ("?" unreadable) */
    char version[PE_VERSION_MAX];  /* its state's "version"; "" when none or not a version */
    enum wave wave;                 /* the wave it is asked in; WAVE_NONE not (yet) */
    enum result result;             /* R_PENDING until it is final */
    char req[PE_UUID_STRLEN];       /* the upgrade's request id, "" until drawn */
    bool sent;                      /* handed to the broker */
    int mid;                        /* its publish, for the broker's answer (PUBACK) */
    bool answered;                  /* its answer arrived */
    bool accepted;                  /* the answer or its state says it took the upgrade */
    char from[PE_VERSION_MAX];     /* the version it ran when asked, "" unknown */
    bool seen;                      /* its state gave an outcome for req */
    enum pe_upgrade_outcome outcome;       /* the last of them */
    char previous[PE_VERSION_MAX]; /* that upgrade's "previous", "" when none */
    char reason[REASON_MAX];        /* why it failed (a till's words, unprinted yet), "" */
};

_Static_assert(offsetof(struct till, id) == 0, "ctl_till_get and ctl_by_id: the id first");

struct rollout {
    struct ctl_link link; /* the connection, the options it takes, the probe */
    struct pe_rng *rng;   /* owned: request ids */
    const char *version;  /* --version (borrowed) */
    bool after_shift;     /* --after-shift */
    long canary;          /* --canary */
    long max_failures;    /* --max-failures */
    bool json;            /* --json */
    cJSON *args;          /* owned: the upgrade command's args */
    bool planned;         /* the probe came back: the tills are sorted and planned */
    enum wave wave;       /* the wave being waited for */
    long failures;        /* over the whole rollout */
    bool oom;             /* a till could not be recorded */
    struct till *t;       /* the tills (sorted by id once planned) */
    size_t n, cap;
};

static void usage(FILE *out)
{
    fputs("usage: posedge-ctl rollout --mqtt HOST:PORT --store S --version V [--canary N]\n"
          "                           [--max-failures K] [--after-shift] [--timeout SECONDS]\n"
          "                           [--json] [--user U --password-file F]\n"
          "                           [--tls-ca F [--tls-cert F --tls-key F]]\n"
          "\n"
          "Upgrades the tills of store S to package version V (docs/protocol.md, \"Rollout\"):\n"
          "tills that run V already are current, tills that are not online are not reached;\n"
          "the first N (default 1) of the others are the canaries, sent the upgrade command\n"
          "and followed in their retained states until each is upgraded, rolled back or\n"
          "failed. When more than K (default 0) tills failed the rollout stops there; else\n"
          "every other till is upgraded likewise, in one wave. --after-shift: each till\n"
          "waits for its shift to be closed, not only for no basket to be open. A wave waits\n"
          "at most --timeout seconds (default 1800). Prints one line per till and a summary\n"
          "(--json: one JSON object); progress on stderr. --user, --password-file and the\n"
          "--tls options log in as for posedge-ctl fleet. Exit 0 when every till ends at V,\n"
          "1 when the rollout stopped or a till failed or was not reached, 2 for a usage\n"
          "error.\n",
          out);
}

/* ---- the tills ---- */

/* The record of till id; with add, a new one when there is none (NULL: out of memory). */
static struct till *till_get(struct rollout *r, const char *id, bool add)
{
    size_t n = r->n;
    struct till *t = ctl_till_get(&r->t, &r->n, &r->cap, sizeof *t, id, add);
    if (t && r->n > n)
        t->outcome = PE_UPGRADE_UNKNOWN;
    r->oom |= add && !t;
    return t;
}

/* The till's line (see the file's comment); results without one print nothing. */
static void put_line(const struct rollout *r, const struct till *t)
{
    const char *canary = t->wave == WAVE_CANARY ? " (canary)" : "";
    const char *from = t->from[0] ? t->from : "?";
    switch (t->result) {
    case R_OK:
        printf("rollout %s: ok %s -> %s%s\n", t->id, from, r->version, canary);
        break;
    case R_CURRENT:
        printf("rollout %s: current %s%s\n", t->id, r->version, canary);
        break;
    case R_ROLLED_BACK:
        printf("rollout %s: rolled_back %s -> %s%s", t->id, r->version,
               t->previous[0] ? t->previous : from, canary);
        break;
    case R_FAILED:
    case R_REFUSED:
    case R_TIMEOUT:
        printf("rollout %s: %s %s -> %s%s", t->id, results[t->result].word, from, r->version,
               canary);
        break;
    case R_NOT_REACHED:
        printf("rollout %s: %s: not reached\n", t->id,
               strcmp(t->state, "?") == 0 ? "unreadable state" : t->state);
        break;
    case R_PENDING:
    case R_NOT_ASKED:
    case R__COUNT:
        break;
    }
    if (results[t->result].failure) {
        if (t->reason[0]) {
            fputs(": ", stdout);
            ctl_put_clean(stdout, t->reason);
        }
        fputc('\n', stdout);
    }
    fflush(stdout);
}

/* t is final: result (its reason, if any, already in t->reason). */
static void finish(struct rollout *r, struct till *t, enum result result)
{
    t->result = result;
    if (results[result].failure)
        r->failures++;
    if (!r->json)
        put_line(r, t);
}

/* Drop the last character of s when a cut left it short (its UTF-8 lead byte wants more
 * bytes than follow it), so that a till's UTF-8 stays UTF-8 in --json. */
static void cut_partial(char *s)
{
    size_t len = strlen(s), i = len;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
        i--;
    if (i == 0 || (unsigned char)s[i - 1] < 0xc0)
        return; /* ends in ASCII, or no lead byte at all */
    unsigned char c = (unsigned char)s[i - 1];
    size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    if (len - (i - 1) < need)
        s[i - 1] = '\0';
}

/* t is final with result, for the reason fmt says (printf-style; cut at REASON_MAX). */
__attribute__((format(printf, 4, 5))) static void fail(struct rollout *r, struct till *t,
                                                       enum result result, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->reason, sizeof t->reason, fmt, ap);
    va_end(ap);
    if (k >= (int)sizeof t->reason)
        cut_partial(t->reason);
    finish(r, t, result);
}

/* ---- the upgrade command ---- */

/* Send the upgrade to every till of the wave that does not have it yet. A failure because the
 * connection just went is retried from the next connect; any other is final. */
static void send_pending(struct rollout *r)
{
    for (size_t i = 0; r->wave != WAVE_NONE && i < r->n; i++) {
        struct till *t = &r->t[i];
        if (t->wave != r->wave || t->sent || t->result != R_PENDING)
            continue;
        int rc = ctl_link_command(&r->link, r->rng, t->id, "upgrade", r->args, t->req, &t->mid);
        if (rc == PE_OK)
            t->sent = true;
        else if (rc != PE_EAGAIN)
            fail(r, t, R_FAILED, "the command could not be sent: %s", pe_strerror(rc));
    }
}

/* Its state document, after the plan: follow the upgrade with our request id. */
static void follow(struct rollout *r, struct till *t, const cJSON *doc)
{
    struct ctl_upgrade u;
    if (!ctl_upgrade_of(doc, &u) || !t->req[0] || strcmp(u.id, t->req) != 0)
        return;
    t->accepted = true;
    bool changed = !t->seen || u.outcome != t->outcome;
    t->seen = true;
    t->outcome = u.outcome;
    if (!pe_upgrade_outcome_final(u.outcome)) {
        if (changed)
            fprintf(stderr, "posedge-ctl rollout: %s: %s (upgrade to %s)\n", t->id,
                    pe_upgrade_outcome_word(u.outcome), r->version);
        return;
    }
    snprintf(t->previous, sizeof t->previous, "%s", u.previous);
    enum result res = u.outcome == PE_UPGRADE_ROLLED_BACK ? R_ROLLED_BACK : R_FAILED;
    if (u.outcome == PE_UPGRADE_OK && strcmp(t->version, r->version) == 0)
        finish(r, t, R_OK);
    else if (u.outcome == PE_UPGRADE_OK)
        fail(r, t, R_FAILED, "outcome ok, but the till runs %s", t->version[0] ? t->version : "?");
    else if (u.reason)
        fail(r, t, res, "%s", u.reason);
    else
        finish(r, t, res);
}

/* A state message: before the plan, a till of the store (a cleared one is none); after it,
 * news of a till of the plan that is not final yet. */
static void take_state(struct rollout *r, const char *id, const void *payload, size_t len)
{
    struct till *t = till_get(r, id, len > 0 && !r->planned);
    if (!len) {
        if (t && !r->planned)
            *t = r->t[--r->n]; /* cleared: no till (the order comes with the plan) */
        return;
    }
    if (!t || t->result != R_PENDING)
        return; /* not of the plan, or final: its record keeps what it was then */
    cJSON *doc = NULL;
    const char *v = NULL;
    if (pe_json_parse(payload, len, &doc, NULL, 0) != PE_OK)
        doc = NULL;
    ctl_state_word(doc, t->state, sizeof t->state);
    t->version[0] = '\0';
    if (pe_json_get_str(doc, "version", &v) == PE_OK && pe_version_valid(v))
        snprintf(t->version, sizeof t->version, "%s", v);
    if (r->planned && t->wave != WAVE_NONE)
        follow(r, t, doc);
    cJSON_Delete(doc);
}

/* An answer on .../cmd/res: ours when it carries the till's request id. */
static void take_answer(struct rollout *r, const char *id, const void *payload, size_t len)
{
    struct till *t = till_get(r, id, false);
    struct ctl_answer a;
    if (!t || !t->sent || t->answered || t->result != R_PENDING ||
        !ctl_answer_take(payload, len, t->req, &a))
        return;
    t->answered = true;
    bool current = false;
    const char *from = NULL;
    if (!a.ok) {
        if (a.reason)
            fail(r, t, R_REFUSED, "%s: %s", a.error, a.reason);
        else
            fail(r, t, R_REFUSED, "%s", a.error);
    } else {
        t->accepted = true;
        if (pe_json_get_str(a.result, "from", &from) == PE_OK && pe_version_valid(from))
            snprintf(t->from, sizeof t->from, "%s", from);
        if (pe_json_get_bool(a.result, "current", &current) == PE_OK && current)
            finish(r, t, R_CURRENT);
    }
    ctl_answer_free(&a);
}

/* ---- the link's hooks ---- */

static void on_message(void *ctx, const char *tid, enum pe_channel ch, const void *payload,
                       size_t len)
{
    struct rollout *r = ctx;
    if (pe_id_reserved(tid))
        return;
    if (ch == PE_CH_STATE)
        take_state(r, tid, payload, len);
    else if (ch == PE_CH_CMD_RES)
        take_answer(r, tid, payload, len);
}

/* The probe came back: every retained state is in. Sort the tills and say which are current
 * and which are not reached; the others wait for their wave. */
static void plan(void *ctx)
{
    struct rollout *r = ctx;
    r->planned = true;
    if (r->n)
        qsort(r->t, r->n, sizeof *r->t, ctl_by_id);
    for (size_t i = 0; i < r->n; i++) {
        struct till *t = &r->t[i];
        if (strcmp(t->version, r->version) == 0)
            finish(r, t, R_CURRENT);
        else if (strcmp(t->state, "online") != 0)
            finish(r, t, R_NOT_REACHED);
    }
}

static void on_connect(void *ctx)
{
    send_pending(ctx);
}

/* The broker answered an upgrade's publish: one it refused (the ACL) is never answered. */
static void on_published(void *ctx, int mid, int reason)
{
    struct rollout *r = ctx;
    if (reason < PE_MQTT_RC_FAILURE)
        return;
    for (size_t i = 0; i < r->n; i++) {
        struct till *t = &r->t[i];
        if (t->sent && t->mid == mid && !t->answered && t->result == R_PENDING)
            fail(r, t, R_REFUSED, "the broker refused the command (%s)", pe_mqtt_reason(reason));
    }
}

static const struct ctl_link_sub subs[] = {
    {NULL, PE_CH_CMD_RES, 1}, /* the answers first */
    {NULL, PE_CH_STATE, 1},   /* QoS 1: every outcome the broker has for us */
};

static const struct ctl_link_hooks hooks = {
    .message = on_message,
    .probed = plan,
    .connected = on_connect,
    .published = on_published,
};

/* A rollout before its options: one canary, no failure allowed, --timeout DEFAULT_TIMEOUT_S. */
static void rollout_init(struct rollout *r)
{
    memset(r, 0, sizeof *r);
    r->canary = 1;
    ctl_link_init(&r->link, "rollout", DEFAULT_TIMEOUT_S, TIMEOUT_MAX_S, &hooks, r);
    r->link.subs = subs;
    r->link.nsubs = sizeof subs / sizeof *subs;
}

static bool planned(const struct ctl_link *l)
{
    return ((const struct rollout *)l->ctx)->planned;
}

static bool wave_over(const struct ctl_link *l)
{
    const struct rollout *r = l->ctx;
    for (size_t i = 0; i < r->n; i++)
        if (r->t[i].wave == r->wave && r->t[i].result == R_PENDING)
            return false;
    return true;
}

/* ---- the waves ---- */

/* Ask the first `count` tills that still need the upgrade, as wave w, and wait for them until
 * --timeout. Returns PE_OK, or the loop's error. */
static int run_wave(struct rollout *r, enum wave w, long count)
{
    long picked = 0;
    for (size_t i = 0; i < r->n && picked < count; i++)
        if (r->t[i].result == R_PENDING && r->t[i].wave == WAVE_NONE) {
            r->t[i].wave = w;
            picked++;
        }
    if (!picked)
        return PE_OK;
    fprintf(stderr, "posedge-ctl rollout: upgrading to %s:", r->version);
    for (size_t i = 0; i < r->n; i++)
        if (r->t[i].wave == w)
            fprintf(stderr, " %s", r->t[i].id);
    fprintf(stderr, "%s\n", w == WAVE_CANARY ? " (canary)" : "");
    for (size_t i = 0; i < r->n; i++)
        if (r->t[i].wave == w)
            snprintf(r->t[i].from, sizeof r->t[i].from, "%s", r->t[i].version);
    r->wave = w;
    long timeout_s = r->link.timeout_s;
    send_pending(r);
    int rc = ctl_link_run(&r->link, pe_mono_ms() + timeout_s * 1000, wave_over);
    if (rc != PE_OK && rc != PE_EAGAIN)
        return rc;
    for (size_t i = 0; i < r->n; i++) {
        struct till *t = &r->t[i];
        if (t->wave != w || t->result != R_PENDING)
            continue;
        if (!t->sent)
            fail(r, t, R_TIMEOUT, "not sent within %ld s (the broker's connection was lost)",
                 timeout_s);
        else if (!t->accepted)
            fail(r, t, R_TIMEOUT, "no answer within %ld s", timeout_s);
        else
            fail(r, t, R_TIMEOUT, "no outcome within %ld s (last outcome: %s)", timeout_s,
                 t->seen ? pe_upgrade_outcome_word(t->outcome) : "none");
    }
    r->wave = WAVE_NONE;
    return PE_OK;
}

/* ---- the report ---- */

static size_t count_of(const struct rollout *r, enum result res)
{
    size_t k = 0;
    for (size_t i = 0; i < r->n; i++)
        k += r->t[i].result == res;
    return k;
}

static cJSON *str_or_null(const char *s)
{
    return s && s[0] ? cJSON_CreateString(s) : cJSON_CreateNull();
}

/* The --json object. Errors: PE_ENOMEM. */
static int print_json(const struct rollout *r, bool stopped, size_t failed)
{
    int rc = PE_ENOMEM;
    cJSON *o = cJSON_CreateObject(), *tills = cJSON_CreateArray();
    if (!o || !tills) {
        cJSON_Delete(tills);
        goto delete_o;
    }
    cJSON_AddItemToObject(o, "store", cJSON_CreateString(r->link.store));
    cJSON_AddItemToObject(o, "version", cJSON_CreateString(r->version));
    cJSON_AddItemToObject(o, "result", cJSON_CreateString(stopped ? "stopped" : "done"));
    cJSON_AddItemToObject(o, "upgraded", cJSON_CreateNumber((double)count_of(r, R_OK)));
    cJSON_AddItemToObject(o, "current", cJSON_CreateNumber((double)count_of(r, R_CURRENT)));
    cJSON_AddItemToObject(o, "failed", cJSON_CreateNumber((double)failed));
    cJSON_AddItemToObject(o, "not_reached", cJSON_CreateNumber((double)count_of(r, R_NOT_REACHED)));
    cJSON_AddItemToObject(o, "not_asked", cJSON_CreateNumber((double)count_of(r, R_NOT_ASKED)));
    cJSON_AddItemToObject(o, "tills", tills);
    for (size_t i = 0; i < r->n; i++) {
        const struct till *t = &r->t[i];
        cJSON *j = cJSON_CreateObject();
        if (!j)
            goto delete_o;
        cJSON_AddItemToArray(tills, j);
        cJSON_AddItemToObject(j, "terminal", cJSON_CreateString(t->id));
        cJSON_AddItemToObject(j, "result", cJSON_CreateString(results[t->result].word));
        cJSON_AddItemToObject(j, "canary", cJSON_CreateBool(t->wave == WAVE_CANARY));
        cJSON_AddItemToObject(j, "state", cJSON_CreateString(t->state));
        cJSON_AddItemToObject(j, "from", str_or_null(t->wave ? t->from : t->version));
        cJSON_AddItemToObject(j, "id", str_or_null(t->sent ? t->req : NULL));
        cJSON_AddItemToObject(j, "outcome",
                              str_or_null(t->seen ? pe_upgrade_outcome_word(t->outcome) : NULL));
        cJSON_AddItemToObject(j, "previous", str_or_null(t->previous));
        cJSON_AddItemToObject(j, "reason", str_or_null(t->reason));
        if (cJSON_GetArraySize(j) != 9) /* cJSON_AddItemToObject drops a NULL item silently */
            goto delete_o;
    }
    if (cJSON_GetArraySize(o) != 9 || cJSON_GetArraySize(tills) != (int)r->n)
        goto delete_o;
    rc = ctl_put_json(stdout, o);
delete_o:
    cJSON_Delete(o);
    if (rc)
        fprintf(stderr, "posedge-ctl rollout: %s\n", pe_strerror(rc));
    return rc;
}

/* The summary line or the JSON object: 0 when every till ends at V, else EXIT_FAIL. */
static int report(struct rollout *r)
{
    bool stopped = r->failures > r->max_failures;
    size_t failed = 0, not_asked = 0;
    for (size_t i = 0; i < r->n; i++) {
        struct till *t = &r->t[i];
        if (t->result == R_PENDING)
            t->result = R_NOT_ASKED; /* only after a stop */
        failed += results[t->result].failure;
        not_asked += t->result == R_NOT_ASKED;
    }
    stopped = stopped && not_asked > 0;
    if (r->json) {
        if (print_json(r, stopped, failed))
            return EXIT_FAIL;
    } else if (stopped) {
        printf("rollout stopped: %ld failure(s) > --max-failures %ld; not asked:", r->failures,
               r->max_failures);
        for (size_t i = 0; i < r->n; i++)
            if (r->t[i].result == R_NOT_ASKED)
                printf(" %s", r->t[i].id);
        putchar('\n');
    } else {
        printf("rollout done: %zu upgraded, %zu current, %zu failed, %zu not reached\n",
               count_of(r, R_OK), count_of(r, R_CURRENT), failed, count_of(r, R_NOT_REACHED));
    }
    bool all = count_of(r, R_OK) + count_of(r, R_CURRENT) == r->n;
    return all && fflush(stdout) == 0 ? 0 : EXIT_FAIL;
}

/* ---- the command line ---- */

int ctl_rollout(int argc, char **argv)
{
    static const struct option longopts[] = {
        CTL_LINK_LONGOPTS,
        {"version", required_argument, NULL, 'v'},
        {"canary", required_argument, NULL, 'c'},
        {"max-failures", required_argument, NULL, 'k'},
        {"after-shift", no_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct rollout r;
    rollout_init(&r);
    int c, taken;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if ((taken = ctl_link_opt(&r.link, c, optarg)) < 0)
            return EXIT_USAGE;
        if (taken)
            continue;
        switch (c) {
        case 'v':
            if (!pe_version_valid(optarg)) {
                fprintf(stderr,
                        "posedge-ctl rollout: --version: not a package version (1..64 of "
                        "A-Z a-z 0-9 . + ~ : -, a digit first): \"%s\"\n",
                        optarg);
                return EXIT_USAGE;
            }
            r.version = optarg;
            break;
        case 'c':
            if (ctl_count("rollout", "--canary", optarg, 0, COUNT_MAX, &r.canary))
                return EXIT_USAGE;
            break;
        case 'k':
            if (ctl_count("rollout", "--max-failures", optarg, 0, COUNT_MAX, &r.max_failures))
                return EXIT_USAGE;
            break;
        case 'a':
            r.after_shift = true;
            break;
        case 'j':
            r.json = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!r.link.addr || !r.link.store || !r.version || optind != argc) {
        fprintf(stderr, "posedge-ctl rollout: needs --mqtt HOST:PORT, --store S and --version V, "
                        "nothing else\n");
        usage(stderr);
        return EXIT_USAGE;
    }
    int status = EXIT_USAGE;
    if (ctl_link_check(&r.link))
        goto close_link;
    status = EXIT_FAIL;
    int rc = PE_ENOMEM;
    if (!(r.args = cJSON_CreateObject()) || (rc = pe_json_add_str(r.args, "version", r.version)) ||
        !cJSON_AddBoolToObject(r.args, "after_shift", r.after_shift) ||
        (rc = pe_rng_create("posedge-ctl/rollout", &r.rng))) {
        fprintf(stderr, "posedge-ctl rollout: %s\n", pe_strerror(rc ? rc : PE_ENOMEM));
        goto close_link;
    }
    long connect_s = r.link.timeout_s < CONNECT_S ? r.link.timeout_s : CONNECT_S;
    if (ctl_link_open(&r.link))
        goto close_link;
    rc = ctl_link_run(&r.link, pe_mono_ms() + connect_s * 1000, planned);
    if (rc != PE_OK && rc != PE_EAGAIN && rc != PE_EDECLINED) {
        fprintf(stderr, "posedge-ctl rollout: event loop: %s\n", pe_strerror(rc));
        goto close_link;
    }
    if (!ctl_link_reached(&r.link, connect_s))
        goto close_link;
    if (!r.planned) {
        fprintf(stderr,
                "posedge-ctl rollout: the broker did not confirm the subscriptions within %ld s: "
                "nothing sent\n",
                connect_s);
        goto close_link;
    }
    if (r.oom) {
        fprintf(stderr, "posedge-ctl rollout: out of memory: nothing sent\n");
        goto close_link;
    }
    if (r.n == 0) {
        fprintf(stderr, "posedge-ctl rollout: no till of store %s has a state: nothing to do\n",
                r.link.store);
        goto close_link;
    }
    if ((rc = run_wave(&r, WAVE_CANARY, r.canary)) == PE_OK && r.failures <= r.max_failures)
        rc = run_wave(&r, WAVE_REST, LONG_MAX);
    if (rc) {
        fprintf(stderr, "posedge-ctl rollout: event loop: %s\n", pe_strerror(rc));
        goto close_link;
    }
    status = report(&r);

close_link:
    ctl_link_close(&r.link);
    pe_rng_destroy(r.rng);
    cJSON_Delete(r.args);
    free(r.t);
    return status;
}
