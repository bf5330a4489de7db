/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim_scenario.c - scenarios: JSON-lines scripts of till actions (docs/scenario.md).
 *
 * The whole file is read, parsed and checked at create and compiled into engine steps, so a
 * mistake on line 700 is reported before line 1 runs, as "FILE:LINE: reason". Every action
 * becomes one step per device input it needs (a "scan" with "qty" is a QTY key, then the
 * code). Actions without an input ("clock", "wait") fold into the clock movement of the next
 * step; trailing ones make one final step without input. Each step counts the actions it
 * begins, so pe_sim_customers reports the actions performed.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/fake/fake.h"
#include "posedge/clock.h"
#include "posedge/file.h"
#include "sim/sim_int.h"

#define SCENARIO_MAX_BYTES (64L * 1024 * 1024)
#define JSON_INT_MAX 9007199254740991LL /* 2^53 - 1: the integers a double holds exactly */
#define MONEY_MAX 100000000000LL        /* 1e9 in major units: far above any till amount */
#define QTY_MAX 1000000000LL            /* units or grams on one inventory line */
#define DEFAULT_WAIT_MS 1000
#define DEFAULT_PAN "4111111111111111"

/* Parsing state of one file. */
#define MAX_SCENARIO_BYTES (64 * 1024 * 1024) /* scenarios are scripts, not data sets */

struct parser {
    const char *path;   /* as given, for messages */
    int lineno;         /* 1-based line being parsed */
    const char *action; /* its "do", once known */
    char *err;          /* caller's message buffer */
    size_t errlen;      /* its size */
    struct pe_sim *sim; /* steps go here */
    /* Clock movement and action count of "clock"/"wait" lines not yet given to a step. */
    bool carry_set;        /* a "clock" line set the clock */
    int64_t carry_clock;   /* to this */
    int64_t carry_advance; /* then advance by this */
    int32_t carry_counts;  /* actions folded */
};

static int perr(struct parser *p, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int perr(struct parser *p, int rc, const char *fmt, ...)
{
    if (!p->err || p->errlen == 0)
        return rc;
    int n = snprintf(p->err, p->errlen, "%s:%d: ", p->path, p->lineno);
    if (n >= 0 && (size_t)n < p->errlen && p->action)
        n += snprintf(p->err + n, p->errlen - (size_t)n, "%s: ", p->action);
    if (n >= 0 && (size_t)n < p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* ---- Typed field access; each refusal names the field. ---------------------------------- */

static bool is_int(const cJSON *v)
{
    return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) &&
           fabs(v->valuedouble) <= (double)JSON_INT_MAX;
}

static int get_int(struct parser *p, const cJSON *o, const char *name, bool required, int64_t lo,
                   int64_t hi, int64_t def, int64_t *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v) {
        if (required)
            return perr(p, PE_EINVAL, "missing \"%s\"", name);
        *out = def;
        return PE_OK;
    }
    if (!is_int(v))
        return perr(p, PE_EINVAL, "\"%s\" must be an integer", name);
    int64_t n = (int64_t)v->valuedouble;
    if (n < lo || n > hi)
        return perr(p, PE_EINVAL, "\"%s\" must be %lld..%lld", name, (long long)lo, (long long)hi);
    *out = n;
    return PE_OK;
}

/* Copy a string field of 1..cap-1 bytes into out[cap]; def when absent and not required. */
static int get_str(struct parser *p, const cJSON *o, const char *name, bool required,
                   const char *def, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    const char *s = def;
    if (v) {
        if (!cJSON_IsString(v) || !v->valuestring)
            return perr(p, PE_EINVAL, "\"%s\" must be a string", name);
        s = v->valuestring;
        size_t n = strlen(s);
        if (n == 0 || n >= cap)
            return perr(p, PE_EINVAL, "\"%s\" must be 1..%zu characters", name, cap - 1);
    } else if (required) {
        return perr(p, PE_EINVAL, "missing \"%s\"", name);
    }
    snprintf(out, cap, "%s", s ? s : "");
    return PE_OK;
}

static int get_bool(struct parser *p, const cJSON *o, const char *name, bool def, bool *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v) {
        *out = def;
        return PE_OK;
    }
    if (!cJSON_IsBool(v))
        return perr(p, PE_EINVAL, "\"%s\" must be true or false", name);
    *out = cJSON_IsTrue(v);
    return PE_OK;
}

/* Refuse any member not in the space-separated list allowed ("do" and "wait" always are). */
static int check_fields(struct parser *p, const cJSON *o, const char *allowed)
{
    for (const cJSON *f = o->child; f; f = f->next) {
        const char *k = f->string ? f->string : "";
        if (strcmp(k, "do") == 0 || strcmp(k, "wait") == 0)
            continue;
        size_t kl = strlen(k);
        bool ok = false;
        for (const char *a = allowed; *a && !ok;) {
            size_t al = strcspn(a, " ");
            ok = al == kl && kl > 0 && strncmp(a, k, kl) == 0;
            a += al;
            a += *a == ' ';
        }
        if (!ok)
            return perr(p, PE_EINVAL, "unknown field \"%s\"", k);
    }
    return PE_OK;
}

/* ---- Steps -------------------------------------------------------------------------------- */

/* Append a step; the first step of an action gets the action's wait and the carried clock. */
static int add_step(struct parser *p, bool first, int64_t wait, enum sim__input in,
                    struct sim__step **out)
{
    struct sim__step *st = sim__append(p->sim);
    if (!st)
        return PE_ENOMEM;
    st->input = in;
    st->lineno = p->lineno;
    if (first) {
        st->set_clock = p->carry_set;
        st->clock_ms = p->carry_clock;
        st->advance_ms = p->carry_advance + wait;
        st->counts = p->carry_counts + 1;
        p->carry_set = false;
        p->carry_clock = 0;
        p->carry_advance = 0;
        p->carry_counts = 0;
    }
    *out = st;
    return PE_OK;
}

static int add_key(struct parser *p, bool first, int64_t wait, enum pe_key_kind kind,
                   struct sim__step **out)
{
    int rc = add_step(p, first, wait, SIM_IN_KEY, out);
    if (rc == PE_OK)
        (*out)->kind = kind;
    return rc;
}

/* "lines": 1..PE_KEY_MAX_LINES of {"barcode"|"item", "qty"}; qty within lo..hi, never 0
 * unless zero_ok. */
static int parse_lines(struct parser *p, const cJSON *o, int64_t lo, int64_t hi, bool zero_ok,
                       struct sim__step *st)
{
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "lines");
    if (!arr)
        return perr(p, PE_EINVAL, "missing \"lines\"");
    int n = cJSON_GetArraySize(arr);
    if (!cJSON_IsArray(arr) || n < 1 || n > PE_KEY_MAX_LINES)
        return perr(p, PE_EINVAL, "\"lines\" must be an array of 1..%d lines", PE_KEY_MAX_LINES);
    st->lines = calloc((size_t)n, sizeof *st->lines);
    if (!st->lines)
        return PE_ENOMEM;
    st->nlines = n;
    int i = 0;
    for (const cJSON *l = arr->child; l; l = l->next, i++) {
        struct pe_key_line *kl = &st->lines[i];
        if (!cJSON_IsObject(l))
            return perr(p, PE_EINVAL, "lines[%d] must be an object", i);
        for (const cJSON *f = l->child; f; f = f->next) {
            const char *k = f->string ? f->string : "";
            if (strcmp(k, "barcode") && strcmp(k, "item") && strcmp(k, "qty"))
                return perr(p, PE_EINVAL, "lines[%d]: unknown field \"%s\"", i, k);
        }
        const cJSON *bc = cJSON_GetObjectItemCaseSensitive(l, "barcode");
        const cJSON *it = cJSON_GetObjectItemCaseSensitive(l, "item");
        if ((bc != NULL) == (it != NULL))
            return perr(p, PE_EINVAL, "lines[%d]: needs exactly one of \"barcode\" and \"item\"",
                        i);
        const cJSON *code = bc ? bc : it;
        if (!cJSON_IsString(code) || !code->valuestring || !code->valuestring[0] ||
            strlen(code->valuestring) >= sizeof kl->code)
            return perr(p, PE_EINVAL, "lines[%d]: \"%s\" must be a string of 1..%zu characters", i,
                        bc ? "barcode" : "item", sizeof kl->code - 1);
        snprintf(kl->code, sizeof kl->code, "%s", code->valuestring);
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(l, "qty");
        if (!q)
            return perr(p, PE_EINVAL, "lines[%d]: missing \"qty\"", i);
        if (!is_int(q))
            return perr(p, PE_EINVAL, "lines[%d]: \"qty\" must be an integer", i);
        int64_t v = (int64_t)q->valuedouble;
        if (v < lo || v > hi || (v == 0 && !zero_ok))
            return perr(p, PE_EINVAL, "lines[%d]: \"qty\" must be %lld..%lld%s", i, (long long)lo,
                        (long long)hi, zero_ok ? "" : " and not 0");
        kl->qty = v;
    }
    return PE_OK;
}

/* ---- Actions ------------------------------------------------------------------------------ */

static int act_tender(struct parser *p, const cJSON *o, int64_t wait)
{
    char method[8];
    int rc;
    if ((rc = get_str(p, o, "method", true, NULL, method, sizeof method)))
        return rc;
    bool split;
    struct sim__step *st;
    if (strcmp(method, "cash") == 0) {
        if ((rc = check_fields(p, o, "method amount split")) ||
            (rc = get_bool(p, o, "split", false, &split)))
            return rc;
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "amount");
        int64_t amount = 0;
        int32_t flags = split ? PE_KEYF_SPLIT : 0;
        if (!a)
            return perr(p, PE_EINVAL, "missing \"amount\" (cents, \"exact\" or \"next_note\")");
        if (cJSON_IsString(a) && strcmp(a->valuestring, "exact") == 0) {
            flags |= PE_KEYF_EXACT;
        } else if (cJSON_IsString(a) && strcmp(a->valuestring, "next_note") == 0) {
            flags |= PE_KEYF_NEXT_NOTE;
        } else if ((rc = get_int(p, o, "amount", true, 1, MONEY_MAX, 0, &amount))) {
            return perr(p, rc, "\"amount\" must be 1..%lld cents, \"exact\" or \"next_note\"",
                        MONEY_MAX);
        }
        if ((rc = add_key(p, true, wait, PE_KEY_TENDER_CASH, &st)))
            return rc;
        st->amount = amount;
        st->flags = flags;
        return PE_OK;
    }
    if (strcmp(method, "card") == 0) {
        int64_t amount;
        bool decline;
        char pan[20], reason[64];
        if ((rc = check_fields(p, o, "method amount split card decline reason")) ||
            (rc = get_bool(p, o, "split", false, &split)) ||
            (rc = get_int(p, o, "amount", false, 0, MONEY_MAX, 0, &amount)) ||
            (rc = get_str(p, o, "card", false, DEFAULT_PAN, pan, sizeof pan)) ||
            (rc = get_bool(p, o, "decline", false, &decline)) ||
            (rc = get_str(p, o, "reason", false, "", reason, sizeof reason)))
            return rc;
        if (!fake__pan_ok(pan))
            return perr(p, PE_EINVAL, "\"card\" must be 12..19 digits passing the Luhn check");
        if ((rc = add_key(p, true, wait, PE_KEY_TENDER_CARD, &st)))
            return rc;
        st->amount = amount;
        st->flags = split ? PE_KEYF_SPLIT : 0;
        st->card = true;
        st->decline = decline;
        memcpy(st->pan, pan, sizeof st->pan);
        memcpy(st->reason, reason, sizeof st->reason);
        explicit_bzero(pan, sizeof pan);
        return PE_OK;
    }
    return perr(p, PE_EINVAL, "\"method\" must be \"cash\" or \"card\"");
}

static int act_discount(struct parser *p, const cJSON *o, int64_t wait)
{
    int64_t line, bp = 0, amount = 0;
    int rc;
    if ((rc = check_fields(p, o, "line percent_bp amount")) ||
        (rc = get_int(p, o, "line", false, 0, 9999, 0, &line)))
        return rc;
    bool has_bp = cJSON_GetObjectItemCaseSensitive(o, "percent_bp") != NULL;
    bool has_amount = cJSON_GetObjectItemCaseSensitive(o, "amount") != NULL;
    if (has_bp == has_amount)
        return perr(p, PE_EINVAL, "needs exactly one of \"percent_bp\" and \"amount\"");
    if ((has_bp && (rc = get_int(p, o, "percent_bp", true, 1, 10000, 0, &bp))) ||
        (has_amount && (rc = get_int(p, o, "amount", true, 1, MONEY_MAX, 0, &amount))))
        return rc;
    struct sim__step *st;
    if ((rc = add_key(p, true, wait, PE_KEY_DISCOUNT, &st)))
        return rc;
    st->line = (int32_t)line;
    st->percent_bp = (int32_t)bp;
    st->amount = amount;
    return PE_OK;
}

static int act_return(struct parser *p, const cJSON *o, int64_t wait)
{
    int rc;
    if ((rc = check_fields(p, o, "sale id")))
        return rc;
    bool has_sale = cJSON_GetObjectItemCaseSensitive(o, "sale") != NULL;
    bool has_id = cJSON_GetObjectItemCaseSensitive(o, "id") != NULL;
    if (has_sale == has_id)
        return perr(p, PE_EINVAL, "needs exactly one of \"sale\" (receipt number) and \"id\"");
    int64_t seq = 0;
    char id[PE_KEY_TEXT_MAX] = "";
    if ((has_sale && (rc = get_int(p, o, "sale", true, 1, JSON_INT_MAX, 0, &seq))) ||
        (has_id && (rc = get_str(p, o, "id", true, NULL, id, sizeof id))))
        return rc;
    struct sim__step *st;
    if ((rc = add_key(p, true, wait, PE_KEY_RETURN, &st)))
        return rc;
    st->ref_seq = seq;
    memcpy(st->text, id, sizeof st->text);
    return PE_OK;
}

static int act_inventory(struct parser *p, const cJSON *o, int64_t wait, enum pe_key_kind kind)
{
    int rc;
    struct sim__step *st;
    char text[PE_KEY_TEXT_MAX] = "";
    if (kind == PE_KEY_INV_RECEIPT) {
        if ((rc = check_fields(p, o, "ref lines")) ||
            (rc = get_str(p, o, "ref", false, "", text, sizeof text)))
            return rc;
    } else if (kind == PE_KEY_INV_ADJUST) {
        if ((rc = check_fields(p, o, "reason lines")) ||
            (rc = get_str(p, o, "reason", true, NULL, text, sizeof text)))
            return rc;
    } else if ((rc = check_fields(p, o, "lines"))) {
        return rc;
    }
    if ((rc = add_key(p, true, wait, kind, &st)))
        return rc;
    memcpy(st->text, text, sizeof st->text);
    if (kind == PE_KEY_INV_RECEIPT)
        return parse_lines(p, o, 1, QTY_MAX, false, st);
    if (kind == PE_KEY_INV_ADJUST)
        return parse_lines(p, o, -QTY_MAX, QTY_MAX, false, st);
    return parse_lines(p, o, 0, QTY_MAX, true, st);
}

/* Keys without fields. */
static const struct {
    const char *name;
    enum pe_key_kind kind;
} plain_keys[] = {
    {"logout", PE_KEY_LOGOUT},     {"subtotal", PE_KEY_SUBTOTAL}, {"cancel", PE_KEY_CANCEL},
    {"x_report", PE_KEY_X_REPORT}, {"z_report", PE_KEY_Z_REPORT},
};

static int parse_action(struct parser *p, const cJSON *o)
{
    int rc;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "do");
    if (!d)
        return perr(p, PE_EINVAL, "missing \"do\"");
    if (!cJSON_IsString(d) || !d->valuestring)
        return perr(p, PE_EINVAL, "\"do\" must be a string");
    const char *a = d->valuestring;
    p->action = a;
    bool is_wait = strcmp(a, "wait") == 0;
    int64_t wait;
    /* A "wait" action moves the clock by "ms"; its own "wait" defaults to 0. */
    if ((rc = get_int(p, o, "wait", false, 0, JSON_INT_MAX, is_wait ? 0 : DEFAULT_WAIT_MS, &wait)))
        return rc;
    struct sim__step *st;

    for (size_t i = 0; i < sizeof plain_keys / sizeof plain_keys[0]; i++) {
        if (strcmp(a, plain_keys[i].name) == 0) {
            if ((rc = check_fields(p, o, "")))
                return rc;
            return add_key(p, true, wait, plain_keys[i].kind, &st);
        }
    }
    if (strcmp(a, "clock") == 0) {
        char ts[PE_TIME_STRLEN + 1];
        int64_t ms;
        if ((rc = check_fields(p, o, "ts")) ||
            (rc = get_str(p, o, "ts", true, NULL, ts, sizeof ts)))
            return rc;
        if (pe_time_parse(ts, &ms) != PE_OK)
            return perr(p, PE_EINVAL, "\"ts\" must be YYYY-MM-DDTHH:MM:SS.mmmZ");
        /* Setting the clock replaces whatever was carried; its "wait" has no effect. */
        p->carry_set = true;
        p->carry_clock = ms;
        p->carry_advance = 0;
        p->carry_counts++;
        return PE_OK;
    }
    if (is_wait) {
        int64_t ms;
        if ((rc = check_fields(p, o, "ms")) ||
            (rc = get_int(p, o, "ms", true, 0, JSON_INT_MAX, 0, &ms)))
            return rc;
        p->carry_advance += ms + wait;
        p->carry_counts++;
        return PE_OK;
    }
    if (strcmp(a, "login") == 0) {
        if ((rc = check_fields(p, o, "operator")) ||
            (rc = add_key(p, true, wait, PE_KEY_LOGIN, &st)))
            return rc;
        return get_str(p, o, "operator", true, NULL, st->text, 33);
    }
    if (strcmp(a, "customer") == 0) {
        if ((rc = check_fields(p, o, "id")) || (rc = add_key(p, true, wait, PE_KEY_CUSTOMER, &st)))
            return rc;
        return get_str(p, o, "id", true, NULL, st->text, 33);
    }
    if (strcmp(a, "shift_open") == 0 || strcmp(a, "shift_close") == 0) {
        bool open_ = a[6] == 'o';
        const char *field = open_ ? "float" : "declared";
        int64_t amount;
        if ((rc = check_fields(p, o, field)) ||
            (rc = get_int(p, o, field, false, 0, MONEY_MAX, 0, &amount)) ||
            (rc = add_key(p, true, wait, open_ ? PE_KEY_SHIFT_OPEN : PE_KEY_SHIFT_CLOSE, &st)))
            return rc;
        st->amount = amount;
        return PE_OK;
    }
    if (strcmp(a, "scan") == 0) {
        int64_t qty;
        char code[PE_SCAN_MAX];
        if ((rc = check_fields(p, o, "barcode qty")) ||
            (rc = get_str(p, o, "barcode", true, NULL, code, sizeof code)) ||
            (rc = get_int(p, o, "qty", false, 1, QTY_MAX, 0, &qty)))
            return rc;
        bool first = true;
        if (qty > 0) {
            if ((rc = add_key(p, true, wait, PE_KEY_QTY, &st)))
                return rc;
            st->qty = qty;
            first = false;
        }
        if ((rc = add_step(p, first, wait, SIM_IN_SCAN, &st)))
            return rc;
        memcpy(st->text, code, sizeof code);
        return PE_OK;
    }
    if (strcmp(a, "key") == 0) {
        if ((rc = check_fields(p, o, "code")) || (rc = add_key(p, true, wait, PE_KEY_ITEM, &st)))
            return rc;
        return get_str(p, o, "code", true, NULL, st->text, sizeof st->text);
    }
    if (strcmp(a, "qty") == 0) {
        int64_t qty;
        if ((rc = check_fields(p, o, "qty")) ||
            (rc = get_int(p, o, "qty", true, 1, QTY_MAX, 0, &qty)) ||
            (rc = add_key(p, true, wait, PE_KEY_QTY, &st)))
            return rc;
        st->qty = qty;
        return PE_OK;
    }
    if (strcmp(a, "device") == 0) {
        /* Nothing injected: the step is done when the till has taken one more input of this
         * kind from a real device (the Linux scanner or scale of a test rig). */
        char input[8];
        if ((rc = check_fields(p, o, "input")) ||
            (rc = get_str(p, o, "input", true, NULL, input, sizeof input)))
            return rc;
        if (strcmp(input, "scan") != 0 && strcmp(input, "weigh") != 0)
            return perr(p, PE_EINVAL, "input: must be \"scan\" or \"weigh\"");
        if ((rc = add_step(p, true, wait, SIM_IN_DEVICE, &st)))
            return rc;
        st->qty = input[0] == 'w';
        return PE_OK;
    }
    if (strcmp(a, "weigh") == 0) {
        int64_t grams;
        bool stable;
        if ((rc = check_fields(p, o, "grams stable")) ||
            (rc = get_int(p, o, "grams", true, INT32_MIN, INT32_MAX, 0, &grams)) ||
            (rc = get_bool(p, o, "stable", true, &stable)) ||
            (rc = add_step(p, true, wait, SIM_IN_WEIGH, &st)))
            return rc;
        st->grams = (int32_t)grams;
        st->stable = stable;
        return PE_OK;
    }
    if (strcmp(a, "line_void") == 0) {
        int64_t line;
        if ((rc = check_fields(p, o, "line")) ||
            (rc = get_int(p, o, "line", true, 1, 9999, 0, &line)) ||
            (rc = add_key(p, true, wait, PE_KEY_LINE_VOID, &st)))
            return rc;
        st->line = (int32_t)line;
        return PE_OK;
    }
    if (strcmp(a, "discount") == 0)
        return act_discount(p, o, wait);
    if (strcmp(a, "tender") == 0)
        return act_tender(p, o, wait);
    if (strcmp(a, "no_sale") == 0) {
        if ((rc = check_fields(p, o, "reason")) ||
            (rc = add_key(p, true, wait, PE_KEY_NO_SALE, &st)))
            return rc;
        return get_str(p, o, "reason", false, "no sale", st->text, sizeof st->text);
    }
    if (strcmp(a, "return") == 0)
        return act_return(p, o, wait);
    if (strcmp(a, "inventory_receipt") == 0)
        return act_inventory(p, o, wait, PE_KEY_INV_RECEIPT);
    if (strcmp(a, "inventory_adjust") == 0)
        return act_inventory(p, o, wait, PE_KEY_INV_ADJUST);
    if (strcmp(a, "inventory_count") == 0)
        return act_inventory(p, o, wait, PE_KEY_INV_COUNT);
    p->action = NULL;
    return perr(p, PE_EINVAL, "unknown action \"%s\"", a);
}

/* ---- The file ----------------------------------------------------------------------------- */

static int parse_text(struct parser *p, char *text)
{
    char *line = text;
    for (p->lineno = 1; line; p->lineno++) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r')
            line[--n] = '\0';
        const char *s = line + strspn(line, " \t");
        p->action = NULL;
        if (*s && *s != '#') {
            const char *end = NULL;
            cJSON *o = cJSON_ParseWithOpts(s, &end, true);
            if (!o)
                return perr(p, PE_EPARSE, "malformed JSON near column %d",
                            (int)((end ? end : s) - line) + 1);
            int rc = cJSON_IsObject(o) ? parse_action(p, o)
                                       : perr(p, PE_EINVAL, "expected a JSON object");
            p->action = NULL; /* it pointed into o */
            cJSON_Delete(o);
            if (rc)
                return rc;
        }
        line = nl ? nl + 1 : NULL;
    }
    /* Clock movement after the last input still happens, as a step without input. */
    if (p->carry_counts > 0) {
        struct sim__step *st;
        p->lineno--;
        int rc = add_step(p, true, 0, SIM_IN_NONE, &st);
        if (rc == PE_OK)
            st->counts--; /* add_step counted an action of its own */
        return rc;
    }
    return PE_OK;
}

/* A scenario has nothing to add once compiled. */
static int scenario_refill(struct pe_sim *sim, void *ctx)
{
    (void)sim;
    (void)ctx;
    return PE_EEOF;
}

int pe_sim_scenario_create(const char *path, const struct pe_sim_devices *devs, int64_t start_ms,
                           struct pe_sim **out, char *err, size_t errlen)
{
    if (!path || !out)
        return PE_EINVAL;
    *out = NULL;
    struct parser p = {.path = path, .err = err, .errlen = errlen};
    const struct sim__source src = {.refill = scenario_refill};
    char *text = NULL;
    int rc = sim__create(devs, start_ms, &src, &p.sim, err, errlen);
    if (rc)
        return rc;
    if ((rc = pe_file_read(path, MAX_SCENARIO_BYTES, &text, NULL, err, errlen)))
        goto fail;
    if ((rc = parse_text(&p, text)))
        goto fail;
    free(text);
    *out = p.sim;
    return PE_OK;
fail:
    free(text);
    pe_sim_destroy(p.sim);
    return rc;
}
