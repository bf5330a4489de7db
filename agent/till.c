/* SPDX-License-Identifier: Apache-2.0 */
/*
 * till.c - the till's transaction state machine (see till.h).
 *
 * Layout: basket arithmetic first, then event bodies, then the one commit path every event
 * goes through (begin, build body, append, apply stock and counters, commit), then one handler
 * per input. The commit path is the only place that touches the journal for writing, and the
 * only caller of the printer and the drawer, which it reaches only after a successful commit.
 */
#include "agent/till.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/money.h"
#include "agent/pricing.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/json.h"
#include "posedge/ledger.h"
#include "posedge/log.h"
#include "posedge/report.h"

#define MAX_LINES 100
#define MAX_TENDERS 8
#define MAX_RATES 8
#define MAX_QTY 9999
#define MAX_GRAMS 50000

enum basket_mode { MODE_SALE = 0, MODE_RETURN };

/* "promotion:" and a promotion id, or "base". */
#define SOURCE_MAX (sizeof "promotion:" + PE_CATALOG_ID_MAX)

struct line {
    struct pe_item *item;     /* the item as the catalog had it (owned: pe_item_dup) */
    int64_t qty;              /* units, or grams when weighed */
    int64_t unit_price;       /* per unit, or per kg: in force when added (a return: the sale's) */
    int64_t amount;           /* before discounts */
    int64_t discount;         /* the operator's line discount */
    int64_t promo_disc;       /* what the promotion takes off (sales) */
    int promo;                /* the promotion, index in t->promos; -1 none */
    int32_t tax_bp;           /* the line's tax rate (a return: the sale's) */
    int64_t catalog_version;  /* the catalog version the price came from */
    char source[SOURCE_MAX];  /* a return: the sold line's price_source */
    int32_t orig_line;        /* return: the line of the original sale */
    bool voided;              /* removed by a line void */
};

struct tender {
    char method[8]; /* "cash" or "card" */
    int64_t amount; /* tendered (cash may exceed what is due) */
    char token[48];
    char last4[5];
    char scheme[16];
    char auth[16];
};

struct basket {
    char id[PE_UUID_STRLEN]; /* drawn when the basket opens, kept across commit retries */
    enum basket_mode mode;
    int64_t ref_seq;             /* return: original sale seq */
    char ref_id[PE_UUID_STRLEN]; /* return: original sale id */
    struct line lines[MAX_LINES];
    int nlines;
    int32_t disc_bp;     /* basket discount in basis points, or */
    int64_t disc_amount; /* a fixed basket discount */
    struct tender tenders[MAX_TENDERS];
    int ntenders;
    bool commit_failed;       /* fully paid, commit failed: waiting for a retry */
    char customer[PE_ID_MAX]; /* customer (loyalty) id, "" when none */
    bool training;            /* opened in training mode: flagged, kept out of every total */
};

struct totals {
    int64_t subtotal;         /* sum of line amounts before discounts */
    int64_t discount;         /* all discounts */
    int64_t total;            /* due */
    int64_t tax;              /* tax included in total */
    int64_t final[MAX_LINES]; /* per line after discounts */
    int64_t disc[MAX_LINES];  /* per line discount incl. its share of the basket's */
    int nrates;
    struct {
        int32_t bp;
        int64_t gross, tax;
    } rates[MAX_RATES];
};

/* The promotions of the catalog in force: parsed from their documents, whose strings they
 * borrow. */
struct promos {
    struct pe_promotion *p; /* by id */
    cJSON **docs;           /* the documents (owned) */
    size_t n;
};

struct pe_till {
    struct till_deps d;
    struct pe_journal_catalog cat; /* the catalog in force: version, hash, counts */
    struct promos promos;          /* its promotions */
    enum till_state state;
    struct basket b;
    char operator_[PE_ID_MAX];
    char next_customer[PE_ID_MAX]; /* a customer keyed while idle: for the next basket */
    bool shift_open;
    int64_t pending_qty;     /* QTY key for the next counted item, 0 when none */
    struct pe_weight weight; /* last scale reading */
    bool awaiting_payment;
    int64_t pay_amount; /* amount of the card request in flight */
    bool pay_split;
    int64_t tender_start_us;   /* when the final tender input arrived (latency) */
    char line1[64], line2[64]; /* what the display shows */
    struct till_stats stats;
    bool training;                       /* training mode: the next baskets are training */
    bool install;                        /* a signer_installed event is due before the next event */
    const struct pe_signer_key *install_key; /* the key it records; NULL: signing turned off */
    int64_t down_seq;   /* an outage of the signer is open: its signer_down (signer.h), 0 none */
    int64_t down_ms;    /* when it began: that event's time */
    int64_t up_try_ms;  /* the till's clock at the last try to close it, 0: none yet */
    int recover_rc;     /* the last recover's error that was not the signer down, said once */
    int64_t outages;    /* outages opened since the till started */
    char hold[64];      /* no new transaction while set: why (till_hold), "" none */
};

/* ---- display and refusals ---- */

static void show(struct pe_till *t, const char *l1, const char *l2)
{
    snprintf(t->line1, sizeof t->line1, "%s", l1);
    snprintf(t->line2, sizeof t->line2, "%s", l2 ? l2 : "");
    if (t->d.display)
        pe_display_show(t->d.display, t->line1, t->line2);
}

void till_on_device(struct pe_till *t, const char *device, bool online, const char *detail)
{
    char l1[32];
    snprintf(l1, sizeof l1, "%s %s", device, online ? "online" : "offline");
    show(t, l1, detail);
}

static void refuse(struct pe_till *t, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Refuse an action: the display says why, the log records it, nothing else changes. */
static void refuse(struct pe_till *t, const char *what, const char *fmt, ...)
{
    char why[128] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, sizeof why, fmt, ap);
        va_end(ap);
    }
    t->stats.refusals++;
    show(t, what, why);
    pe_info("till.refused", "reason=\"%s\" detail=\"%s\"", what, why);
}

static const char *fmt_amt(int64_t v, char *buf)
{
    return money_fmt(v, buf, 24);
}

/* ---- basket arithmetic ---- */

static int compute(const struct pe_till *t, struct totals *x)
{
    const struct basket *b = &t->b;
    int64_t w[MAX_LINES], share[MAX_LINES];
    memset(x, 0, sizeof *x);
    int live = 0;
    for (int i = 0; i < b->nlines; i++) {
        const struct line *l = &b->lines[i];
        w[i] = l->voided ? 0 : l->amount - l->promo_disc - l->discount;
        share[i] = 0;
        if (!l->voided) {
            x->subtotal += l->amount;
            live++;
        }
    }
    int64_t after_lines = 0;
    for (int i = 0; i < b->nlines; i++)
        after_lines += w[i];
    int64_t bdisc = b->disc_bp ? money_percent(after_lines, b->disc_bp) : b->disc_amount;
    if (bdisc > after_lines)
        bdisc = after_lines;
    if (bdisc > 0 && live > 0 && after_lines > 0) {
        int rc = money_spread(bdisc, w, (size_t)b->nlines, share);
        if (rc)
            return rc;
    }
    for (int i = 0; i < b->nlines; i++) {
        const struct line *l = &b->lines[i];
        if (l->voided)
            continue;
        x->disc[i] = l->promo_disc + l->discount + share[i];
        x->final[i] = l->amount - x->disc[i];
        x->discount += x->disc[i];
        x->total += x->final[i];
        int r = 0;
        while (r < x->nrates && x->rates[r].bp != l->tax_bp)
            r++;
        if (r == x->nrates) {
            if (x->nrates == MAX_RATES)
                return PE_ERANGE;
            x->rates[x->nrates++].bp = l->tax_bp;
        }
        x->rates[r].gross += x->final[i];
    }
    for (int r = 0; r < x->nrates; r++) {
        x->rates[r].tax = money_tax_included(x->rates[r].gross, x->rates[r].bp);
        x->tax += x->rates[r].tax;
    }
    return PE_OK;
}

static int64_t tendered(const struct basket *b)
{
    int64_t s = 0;
    for (int i = 0; i < b->ntenders; i++)
        s += b->tenders[i].amount;
    return s;
}

static int64_t tendered_by(const struct basket *b, const char *method)
{
    int64_t s = 0;
    for (int i = 0; i < b->ntenders; i++)
        if (strcmp(b->tenders[i].method, method) == 0)
            s += b->tenders[i].amount;
    return s;
}

static int live_lines(const struct basket *b)
{
    int n = 0;
    for (int i = 0; i < b->nlines; i++)
        n += !b->lines[i].voided;
    return n;
}

/* ---- event bodies ---- */

static cJSON *obj(void)
{
    return cJSON_CreateObject();
}

/* Adds to o; sets *err on failure so a chain of adds checks once. */
static void add_i(cJSON *o, const char *k, int64_t v, int *err)
{
    if (!*err && pe_json_add_int(o, k, v))
        *err = PE_ENOMEM;
}

static void add_s(cJSON *o, const char *k, const char *v, int *err)
{
    if (!*err && pe_json_add_str(o, k, v))
        *err = PE_ENOMEM;
}

static void add_o(cJSON *o, const char *k, cJSON *v, int *err)
{
    if (!v) {
        *err = PE_ENOMEM;
        return;
    }
    if (*err || !cJSON_AddItemToObject(o, k, v)) {
        cJSON_Delete(v);
        *err = *err ? *err : PE_ENOMEM;
    }
}

static void push(cJSON *arr, cJSON *v, int *err)
{
    if (!v) {
        *err = PE_ENOMEM;
        return;
    }
    if (*err || !cJSON_AddItemToArray(arr, v)) {
        cJSON_Delete(v);
        *err = *err ? *err : PE_ENOMEM;
    }
}

/* Where a line's price came from: "promotion:<id>" when a promotion took something off it,
 * else "base"; a return's line says what the sold line said. */
static const char *line_source(const struct pe_till *t, const struct line *l,
                               char out[SOURCE_MAX])
{
    if (l->source[0])
        return l->source;
    if (l->promo >= 0 && (size_t)l->promo < t->promos.n && l->promo_disc > 0)
        snprintf(out, SOURCE_MAX, "promotion:%s", t->promos.p[l->promo].id);
    else
        snprintf(out, SOURCE_MAX, "base");
    return out;
}

/* A sale's promotions: {"id","name","amount"} for each that took something off, in the
 * promotions' order; NULL (nothing to add) when none did. */
static cJSON *promotions_json(const struct pe_till *t, int *err)
{
    cJSON *arr = NULL;
    for (size_t k = 0; k < t->promos.n && !*err; k++) {
        int64_t sum = 0;
        for (int i = 0; i < t->b.nlines; i++) {
            const struct line *l = &t->b.lines[i];
            if (!l->voided && l->promo == (int)k)
                sum += l->promo_disc;
        }
        if (sum <= 0)
            continue;
        if (!arr && !(arr = cJSON_CreateArray())) {
            *err = PE_ENOMEM;
            break;
        }
        cJSON *o = obj();
        add_s(o, "id", t->promos.p[k].id, err);
        add_s(o, "name", t->promos.p[k].name, err);
        add_i(o, "amount", sum, err);
        push(arr, o, err);
    }
    return arr;
}

static cJSON *lines_json(const struct pe_till *t, const struct totals *x, int *err)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr) {
        *err = PE_ENOMEM;
        return NULL;
    }
    int no = 0;
    for (int i = 0; i < t->b.nlines; i++) {
        const struct line *l = &t->b.lines[i];
        if (l->voided)
            continue;
        cJSON *o = obj();
        if (!o) {
            *err = PE_ENOMEM;
            break;
        }
        add_i(o, "line", ++no, err);
        if (t->b.mode == MODE_RETURN)
            add_i(o, "orig_line", l->orig_line, err);
        add_s(o, "item", l->item->id, err);
        add_s(o, "barcode", l->item->barcode, err);
        add_s(o, "name", l->item->name, err);
        add_s(o, "category", l->item->category, err);
        add_s(o, "brand", l->item->brand, err);
        add_i(o, "qty", l->qty, err);
        add_s(o, "unit", l->item->weighed ? "g" : "each", err);
        add_i(o, "unit_price", l->unit_price, err);
        add_i(o, "discount", x->disc[i], err);
        add_i(o, "tax_bp", l->tax_bp, err);
        add_i(o, "amount", x->final[i], err);
        add_i(o, "catalog_version", l->catalog_version, err);
        char source[SOURCE_MAX];
        add_s(o, "price_source", line_source(t, l, source), err);
        push(arr, o, err);
    }
    return arr;
}

static cJSON *tax_json(const struct totals *x, int *err)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr) {
        *err = PE_ENOMEM;
        return NULL;
    }
    for (int r = 0; r < x->nrates; r++) {
        cJSON *o = obj();
        add_i(o, "rate_bp", x->rates[r].bp, err);
        add_i(o, "gross", x->rates[r].gross, err);
        add_i(o, "net", x->rates[r].gross - x->rates[r].tax, err);
        add_i(o, "tax", x->rates[r].tax, err);
        push(arr, o, err);
    }
    return arr;
}

static cJSON *tenders_json(const struct basket *b, int64_t change, int *err)
{
    cJSON *arr = cJSON_CreateArray();
    if (!arr) {
        *err = PE_ENOMEM;
        return NULL;
    }
    (void)change;
    for (int i = 0; i < b->ntenders; i++) {
        const struct tender *tn = &b->tenders[i];
        cJSON *o = obj();
        add_s(o, "method", tn->method, err);
        add_i(o, "amount", tn->amount, err);
        if (strcmp(tn->method, "card") == 0) {
            add_s(o, "token", tn->token, err);
            add_s(o, "last4", tn->last4, err);
            add_s(o, "scheme", tn->scheme, err);
            add_s(o, "auth", tn->auth, err);
        }
        push(arr, o, err);
    }
    return arr;
}

static int basket_body(const struct pe_till *t, enum pe_event_type type, cJSON **out)
{
    struct totals x;
    int err = compute(t, &x);
    if (err)
        return err;
    cJSON *b = obj();
    if (!b)
        return PE_ENOMEM;
    add_s(b, "currency", t->d.currency, &err);
    if (t->b.customer[0])
        add_s(b, "customer_id", t->b.customer, &err);
    add_o(b, "lines", lines_json(t, &x, &err), &err);
    cJSON *promos = type == PE_EV_SALE ? promotions_json(t, &err) : NULL;
    if (promos)
        add_o(b, "promotions", promos, &err);
    if (type == PE_EV_SALE || type == PE_EV_RETURN) {
        int64_t paid = tendered(&t->b);
        int64_t change = paid > x.total ? paid - x.total : 0;
        cJSON *tot = obj();
        add_i(tot, "subtotal", x.subtotal, &err);
        add_i(tot, "discount", x.discount, &err);
        add_i(tot, "tax", x.tax, &err);
        add_i(tot, "total", x.total, &err);
        add_i(tot, "tendered", paid, &err);
        add_i(tot, "change", change, &err);
        add_o(b, "totals", tot, &err);
        add_o(b, "tax", tax_json(&x, &err), &err);
        add_o(b, type == PE_EV_SALE ? "tenders" : "refunds", tenders_json(&t->b, change, &err),
              &err);
        if (type == PE_EV_RETURN) {
            cJSON *orig = obj();
            add_i(orig, "seq", t->b.ref_seq, &err);
            add_s(orig, "id", t->b.ref_id, &err);
            add_o(b, "original", orig, &err);
        }
    } else { /* void */
        add_i(b, "amount", x.total, &err);
        add_s(b, "reason", "cancelled by operator", &err);
        add_s(b, "mode", t->b.mode == MODE_RETURN ? "return" : "sale", &err);
    }
    if (t->b.training && !err && !cJSON_AddTrueToObject(b, "training"))
        err = PE_ENOMEM;
    /* The perpetual total including this record (report.h), from the counters of every
     * committed record: basket_body runs inside the event's own transaction. */
    int64_t perpetual = 0;
    if (!err)
        err = pe_totals_perpetual(t->d.journal, &perpetual);
    add_i(b, "perpetual_total", perpetual + pe_totals_delta(type, b), &err);
    if (err) {
        cJSON_Delete(b);
        return err;
    }
    *out = b;
    return PE_OK;
}

/* ---- the commit path ---- */

struct op {
    enum pe_event_type type;
    const char *id; /* the event id drawn at capture */
    int (*build)(struct pe_till *t, void *ctx, int64_t seq, cJSON **body);
    void *ctx;
    bool cash_drawer; /* open the drawer after the commit */
    bool quiet;       /* the till's own work (a catalog applied): nothing printed, and a
                       * failure is the caller's to report, not a refusal on the display */
    int64_t ts_ms;    /* the event time when the caller read the clock already; 0: now */
};

/*
 * The receipt's QR code (pe_render_qr), after its text. A signed event's code is signed too
 * (pe_signer_sign_receipt), over every field it shows; an unsigned event's (signing off, or the
 * signer down) carries no signature, and the receipt still prints; so does a reprint's. A code
 * that cannot be made is left out of the receipt (logged); a printer without codes prints none.
 */
static int print_qr(struct pe_till *t, const struct pe_render_hdr *h, const cJSON *body,
                    const struct pe_journal_appended *app)
{
    char qr[PE_RECEIPT_QR_MAX];
    uint8_t rs[PE_SIGNER_SIG_LEN];
    size_t n = 0;
    bool sealed = false;
    int rc = pe_render_qr(h, body, app->hash, app->is_signed ? &app->sig : NULL, qr, &n);
    /* Only the key that signed the event signs its code (a reprint after a key change: none). */
    if (rc == PE_OK && app->is_signed && t->d.signer &&
        strcmp(pe_signer_key(t->d.signer)->key_id, app->sig.key_id) == 0) {
        int src = pe_signer_sign_receipt(t->d.signer, qr, n, rs);
        sealed = src == PE_OK;
        if (!sealed)
            pe_warn("till.qr_unsigned", "seq=%lld err=%s", (long long)app->seq,
                    pe_errname(src));
    }
    if (rc == PE_OK)
        rc = pe_render_qr_seal(qr, &n, sealed ? rs : NULL);
    if (rc != PE_OK) {
        pe_warn("till.qr_failed", "seq=%lld err=%s", (long long)app->seq, pe_errname(rc));
        return PE_OK;
    }
    rc = pe_printer_print_qr(t->d.printer, qr, n);
    return rc == PE_ENOTSUP ? PE_OK : rc;
}

static void print_event(struct pe_till *t, const struct op *op,
                        const struct pe_journal_appended *app, int64_t ts, const cJSON *body)
{
    struct pe_render_hdr h = {
        .title = t->d.title,
        .store = t->d.store,
        .terminal = t->d.terminal,
        .operator_ = t->operator_,
        .type = pe_event_type_name(op->type),
        .seq = app->seq,
        .id = op->id,
        .ts_ms = ts,
        .signer_down = app->marked,
    };
    char *text = NULL;
    int rc = pe_render_event(&h, body, &text);
    if (rc == PE_OK && t->d.printer) {
        rc = pe_printer_print(t->d.printer, text, strlen(text));
        if (rc == PE_OK)
            rc = print_qr(t, &h, body, app);
        if (rc == PE_OK)
            pe_printer_cut(t->d.printer);
    }
    free(text);
    if (rc != PE_OK) {
        t->stats.print_failures++;
        pe_warn("till.print_failed", "seq=%lld err=%s", (long long)app->seq, pe_errname(rc));
    }
}

/*
 * Commit one event: the event row, its stock moves and counters in one transaction. Only after
 * the commit returns does the receipt print and the drawer open, so no receipt or open drawer
 * ever exists for an event the journal does not hold. A failed commit rolls everything back.
 */
static int install_signer(struct pe_till *t);
static int signer_down(struct pe_till *t);
static void signer_retry(struct pe_till *t);

static int commit(struct pe_till *t, const struct op *op, int64_t *seq_out)
{
    struct pe_journal *j = t->d.journal;
    struct pe_journal_appended app = {0};
    cJSON *body = NULL;
    int64_t last = 0, ts = 0;
    bool replay = false, opened = false;
    bool own = op->type == PE_EV_SIGNER_INSTALLED || op->type == PE_EV_SIGNER_DOWN ||
               op->type == PE_EV_SIGNER_UP; /* the till's own signing events */
    int rc = PE_OK;
    if (!own && t->down_seq && t->d.signer)
        signer_retry(t);
    /* A new key (or signing turned off) goes on record once no outage is open: the key that
     * went down is the one that closes it (signer.h). */
    if (t->install && !own && !t->down_seq && (rc = install_signer(t)))
        goto failed;
again:
    ts = op->ts_ms ? op->ts_ms : t->d.now(t->d.now_ctx); /* a closing: its Z's time */
    rc = pe_journal_begin(j);
    if (rc)
        goto failed;
    if ((rc = pe_journal_last(j, &last, NULL, NULL)))
        goto rollback;
    if ((rc = op->build(t, op->ctx, last + 1, &body)))
        goto rollback;
    struct pe_event_meta m = {.type = op->type, .ts_ms = ts};
    snprintf(m.id, sizeof m.id, "%s", op->id);
    snprintf(m.store, sizeof m.store, "%s", t->d.store);
    snprintf(m.terminal, sizeof m.terminal, "%s", t->d.terminal);
    snprintf(m.operator_, sizeof m.operator_, "%s", t->operator_);
    rc = pe_journal_append(j, &m, body, &app);
    if (rc == PE_EUNAVAIL && !own && !opened) {
        /* The signer is down: selling goes on. Open the outage on record, then commit this
         * event again, unsigned and marked (journal.h). */
        pe_journal_rollback(j);
        cJSON_Delete(body);
        body = NULL;
        opened = true;
        if ((rc = signer_down(t)))
            goto failed;
        goto again;
    }
    if (rc == PE_EEXIST) {
        /* An earlier commit of this very event reported failure but reached the disk. It is
         * in the journal with its stock and counters: treat it as committed, apply nothing. */
        pe_journal_rollback(j);
        replay = true;
        pe_warn("till.commit_replayed", "id=%s seq=%lld", op->id, (long long)app.seq);
        goto committed;
    }
    if (rc)
        goto rollback;
    /* The event's effect on stock, counters and shift comes from its body alone (ledger.h),
     * so a replay of the journal rebuilds exactly this state. */
    if ((rc = pe_ledger_apply(j, op->type, app.seq, body)))
        goto rollback;
    if ((rc = pe_journal_commit(j)))
        goto failed;

committed:
    t->stats.events++;
    t->stats.commit_failing = 0;
    if (t->tender_start_us) {
        if (t->stats.nlat == t->stats.caplat) {
            size_t cap = t->stats.caplat ? t->stats.caplat * 2 : 1024;
            int64_t *p = realloc(t->stats.lat_us, cap * sizeof *p);
            if (p) {
                t->stats.lat_us = p;
                t->stats.caplat = cap;
            }
        }
        if (t->stats.nlat < t->stats.caplat)
            t->stats.lat_us[t->stats.nlat++] = pe_mono_us() - t->tender_start_us;
        t->tender_start_us = 0;
    }
    if (!replay) {
        pe_info("till.commit", "seq=%lld type=%s id=%s", (long long)app.seq,
                pe_event_type_name(op->type), op->id);
        if (!op->quiet)
            print_event(t, op, &app, ts, body);
        if (op->cash_drawer && t->d.printer)
            pe_printer_drawer_kick(t->d.printer);
        if (t->d.committed)
            t->d.committed(t->d.committed_ctx, app.seq, op->id, op->type, body);
    }
    cJSON_Delete(body);
    if (seq_out)
        *seq_out = app.seq;
    return PE_OK;

rollback:
    pe_journal_rollback(j);
failed:
    cJSON_Delete(body);
    if (op->type == PE_EV_SIGNER_UP && rc == PE_EUNAVAIL)
        return rc; /* still down: the caller's to say, once */
    if (op->quiet) {
        pe_warn("till.commit_failed", "type=%s id=%s err=%s", pe_event_type_name(op->type),
                op->id, pe_errname(rc));
        return rc;
    }
    t->stats.commit_failures += rc == PE_EFULL || rc == PE_EIO || rc == PE_EBUSY;
    if (rc == PE_EFULL || rc == PE_EIO || rc == PE_EBUSY)
        t->stats.commit_failing = rc;
    t->tender_start_us = 0;
    /* PE_EUNAVAIL here: a signer that is down before its key is on record (the first start
     * with the token out), where no outage can be opened. */
    refuse(t,
           rc == PE_EFULL       ? "Journal full: not recorded"
           : rc == PE_EUNAVAIL ? "Signer unavailable: not recorded"
                               : "Journal error: not recorded",
           "%s; nothing printed, retry", pe_strerror(rc));
    pe_error("till.commit_failed", "type=%s id=%s err=%s", pe_event_type_name(op->type), op->id,
             pe_errname(rc));
    return rc;
}

/* ---- signing ---- */

static int install_build(struct pe_till *t, void *ctx, int64_t seq, cJSON **body)
{
    (void)ctx;
    (void)seq;
    return pe_signer_installed_body(t->install_key, body);
}

/* Commit the signer_installed event that is due: the signer's key put in use, or signing
 * turned off. Its receipt prints like any event's. */
static int install_signer(struct pe_till *t)
{
    char id[PE_UUID_STRLEN];
    int rc = pe_rng_uuid(t->d.rng, id);
    if (rc)
        return rc;
    int64_t tender_start = t->tender_start_us; /* the latency is the event's that follows */
    t->tender_start_us = 0;
    struct op op = {.type = PE_EV_SIGNER_INSTALLED, .id = id, .build = install_build};
    int64_t seq = 0;
    rc = commit(t, &op, &seq);
    t->tender_start_us = tender_start;
    if (rc)
        return rc;
    t->install = false;
    if (t->install_key)
        pe_info("till.signer_installed", "seq=%lld signer=%s alg=%s key_id=%s", (long long)seq,
                t->install_key->signer, t->install_key->alg, t->install_key->key_id);
    else
        pe_warn("till.signing_off", "seq=%lld: events from here on are not signed",
                (long long)seq);
    return PE_OK;
}

/* ---- signer down (signer.h) ---- */

static int down_build(struct pe_till *t, void *ctx, int64_t seq, cJSON **body)
{
    (void)ctx;
    (void)seq;
    cJSON *b = obj();
    int err = b ? PE_OK : PE_ENOMEM;
    add_s(b, "error", pe_errname(pe_journal_sign_error(t->d.journal)), &err);
    add_s(b, "key_id", pe_signer_key(t->d.signer)->key_id, &err);
    if (err) {
        cJSON_Delete(b);
        return err;
    }
    *body = b;
    return PE_OK;
}

static int up_build(struct pe_till *t, void *ctx, int64_t seq, cJSON **body)
{
    (void)ctx;
    (void)seq;
    struct pe_signer_collective c;
    int rc = pe_journal_collective(t->d.journal, &c);
    return rc ? rc : pe_signer_collective_body(&c, body);
}

/* Commit a signing event of the till's own (nothing printed), keeping the latency figure for
 * the event that follows. */
static int commit_own(struct pe_till *t, enum pe_event_type type,
                      int (*build)(struct pe_till *, void *, int64_t, cJSON **), int64_t *seq)
{
    char id[PE_UUID_STRLEN];
    int rc = pe_rng_uuid(t->d.rng, id);
    if (rc)
        return rc;
    int64_t tender_start = t->tender_start_us;
    t->tender_start_us = 0;
    struct op op = {.type = type, .id = id, .build = build, .quiet = true};
    rc = commit(t, &op, seq);
    t->tender_start_us = tender_start;
    return rc;
}

/* The signer could not sign: open an outage with a signer_down event. */
static int signer_down(struct pe_till *t)
{
    int64_t seq = 0;
    int rc = commit_own(t, PE_EV_SIGNER_DOWN, down_build, &seq);
    if (rc)
        return rc;
    struct pe_journal_signing js;
    t->down_seq = seq;
    t->down_ms = pe_journal_signing(t->d.journal, &js) == PE_OK ? js.down_ms : 0;
    t->up_try_ms = t->d.now(t->d.now_ctx);
    t->outages++;
    pe_error("till.signer_down", "seq=%lld err=%s: events are committed unsigned until the "
             "signer is back", (long long)seq, pe_errname(pe_journal_sign_error(t->d.journal)));
    return PE_OK;
}

/* An outage is open: at most every signer_retry_ms, see whether the signer is back, and if it
 * is, close the outage with the signed collective (signer_up). Never fails the event that
 * follows: while the signer stays down it is committed marked. */
static void signer_retry(struct pe_till *t)
{
    int64_t now = t->d.now(t->d.now_ctx);
    if (t->install)
        return; /* another key than the one that went down: it cannot close the outage */
    if (t->up_try_ms && now >= t->up_try_ms && now - t->up_try_ms < t->d.signer_retry_ms)
        return;
    t->up_try_ms = now;
    char err[200] = "";
    int rc = pe_signer_recover(t->d.signer, err, sizeof err);
    if (rc != PE_OK && rc != PE_ENOTSUP) {
        if (!pe_signer_is_down(rc) && rc != t->recover_rc) /* a PIN refused, another key: once */
            pe_warn("till.signer_recover", "err=%s reason=\"%s\"", pe_errname(rc), err);
        t->recover_rc = rc;
        return;
    }
    t->recover_rc = 0;
    int64_t seq = 0, down = t->down_seq;
    rc = commit_own(t, PE_EV_SIGNER_UP, up_build, &seq);
    if (rc == PE_OK) {
        pe_info("till.signer_up", "seq=%lld covers=%lld-%lld down_ms=%lld", (long long)seq,
                (long long)down, (long long)seq - 1, (long long)(now - t->down_ms));
        t->down_seq = 0;
        t->down_ms = 0;
        t->up_try_ms = 0;
    }
}

void till_signer(const struct pe_till *t, struct till_signer *out)
{
    memset(out, 0, sizeof *out);
    out->outages = t->outages;
    if (!t->down_seq) {
        out->status = t->d.signer ? "ok" : "none";
        return;
    }
    int64_t now = t->d.now(t->d.now_ctx), last = 0;
    pe_journal_last(t->d.journal, &last, NULL, NULL);
    out->status = "down";
    out->down_seq = t->down_seq;
    out->down_ms = t->down_ms;
    out->down_s = now > t->down_ms ? (now - t->down_ms) / 1000 : 0;
    out->nunsigned = last >= t->down_seq ? last - t->down_seq + 1 : 0;
    out->alarm = now - t->down_ms >= t->d.signer_down_alarm_s * 1000;
}

/* Hand the signer to the journal and see whether a signer_installed event is due. */
static int signing_start(struct pe_till *t)
{
    struct pe_journal_signing js;
    int rc = pe_journal_signing(t->d.journal, &js);
    if (rc == PE_OK)
        rc = pe_journal_set_signer(t->d.journal, t->d.signer);
    if (rc)
        return rc;
    t->install_key = t->d.signer ? pe_signer_key(t->d.signer) : NULL;
    t->down_seq = js.down_seq; /* an outage left open by the last run goes on */
    t->down_ms = js.down_ms;
    if (js.down_seq)
        pe_warn("till.signer_down_open", "seq=%lld: the signer has been down since then; trying "
                "to close the outage before the next event", (long long)js.down_seq);
    bool signing = js.alg[0] && strcmp(js.alg, PE_SIGNER_ALG_NONE) != 0;
    if (t->install_key)
        t->install = strcmp(js.key_id, t->install_key->key_id) != 0;
    else
        t->install = signing; /* turning it off is on record; never signing needs nothing */
    if (t->install && js.down_seq)
        pe_error("till.signer_outage_key", "down_seq=%lld key_id=%s: the outage can only be "
                 "closed by the key that went down; events stay unsigned until it is back",
                 (long long)js.down_seq, js.key_id);
    return PE_OK;
}

/* ---- basket lifecycle ---- */

/* Free the basket's copies of its items (every line, voided ones too). */
static void free_lines(struct basket *b)
{
    for (int i = 0; i < b->nlines; i++) {
        free(b->lines[i].item);
        b->lines[i].item = NULL;
    }
    b->nlines = 0;
}

static int open_basket(struct pe_till *t, enum basket_mode mode)
{
    free_lines(&t->b);
    memset(&t->b, 0, sizeof t->b);
    int rc = pe_rng_uuid(t->d.rng, t->b.id);
    if (rc)
        return rc;
    t->b.mode = mode;
    t->b.training = t->training;
    t->state = TILL_BASKET;
    memcpy(t->b.customer, t->next_customer, sizeof t->b.customer);
    t->next_customer[0] = '\0';
    return PE_OK;
}

static void close_basket(struct pe_till *t)
{
    free_lines(&t->b);
    memset(&t->b, 0, sizeof t->b);
    t->state = TILL_IDLE;
    t->pending_qty = 0;
}

static bool ready_to_trade(struct pe_till *t, const char *what)
{
    if (t->hold[0]) {
        refuse(t, "Please wait", "%s", t->hold);
        return false;
    }
    if (!t->operator_[0]) {
        refuse(t, "Log in first", "%s needs an operator", what);
        return false;
    }
    if (!t->shift_open) {
        refuse(t, "Open a shift first", "%s needs an open shift", what);
        return false;
    }
    return true;
}

static int sale_build(struct pe_till *t, void *ctx, int64_t seq, cJSON **body)
{
    (void)seq;
    return basket_body(t, *(enum pe_event_type *)ctx, body);
}

/* Commit the basket as a sale or return once fully paid. */
static void finish_basket(struct pe_till *t)
{
    enum pe_event_type type = t->b.mode == MODE_SALE ? PE_EV_SALE : PE_EV_RETURN;
    struct op op = {
        .type = type,
        .id = t->b.id,
        .build = sale_build,
        .ctx = &type,
        .cash_drawer = tendered_by(&t->b, "cash") > 0,
    };
    struct totals x;
    compute(t, &x);
    int64_t paid = tendered(&t->b);
    if (commit(t, &op, NULL) != PE_OK) {
        t->b.commit_failed = true;
        return;
    }
    char a[24], l2[64];
    if (type == PE_EV_SALE && paid > x.total) {
        snprintf(l2, sizeof l2, "Change %s", fmt_amt(paid - x.total, a));
        show(t, "Thank you", l2);
    } else {
        snprintf(l2, sizeof l2, "%s %s", type == PE_EV_SALE ? "Paid" : "Refunded",
                 fmt_amt(x.total, a));
        show(t, "Thank you", l2);
    }
    close_basket(t);
}

/* ---- the catalog in force ---- */

/*
 * Look code up (a barcode, or an item id) in the catalog in force: *out is a copy the caller
 * frees. Errors: PE_ENOTFOUND, PE_ENOMEM, PE_EIO, PE_EINVAL (a stored document that does not
 * parse: never stored so, but a damaged file is reported, not sold from).
 */
static int lookup(struct pe_till *t, const char *code, struct pe_item **out)
{
    char *text = NULL;
    size_t len = 0;
    cJSON *doc = NULL;
    struct pe_item_doc d;
    char why[PE_CATALOG_WHY_MAX];
    *out = NULL;
    int rc = pe_journal_catalog_item(t->d.journal, code, &text, &len);
    if (rc == PE_OK)
        rc = pe_json_parse(text, len, &doc, NULL, 0);
    if (rc == PE_OK && (rc = pe_catalog_doc_parse_item(doc, &d, why, sizeof why)))
        pe_error("till.catalog_damaged", "code=%.32s why=\"%s\"", code, why);
    if (rc == PE_OK)
        rc = pe_item_dup(&d.item, out);
    cJSON_Delete(doc);
    free(text);
    return rc == PE_EPARSE ? PE_EINVAL : rc;
}

/* Re-price the open sale: which promotion takes how much off each live line, as the
 * promotions in force now say (pricing.h). A manual line discount never takes a line below 0. */
static void reprice(struct pe_till *t)
{
    struct pricing_line pl[MAX_LINES];
    int idx[MAX_LINES], n = 0;
    for (int i = 0; i < t->b.nlines; i++) {
        struct line *l = &t->b.lines[i];
        l->promo_disc = 0;
        l->promo = -1;
        if (l->voided || t->b.mode != MODE_SALE)
            continue;
        pl[n] = (struct pricing_line){.item = l->item->id,
                                      .category = l->item->category,
                                      .weighed = l->item->weighed,
                                      .qty = l->qty,
                                      .unit_price = l->unit_price,
                                      .amount = l->amount};
        idx[n++] = i;
    }
    if (n == 0 || t->promos.n == 0)
        return;
    int rc = pricing_apply(pl, (size_t)n, t->promos.p, t->promos.n, t->d.now(t->d.now_ctx));
    if (rc) {
        pe_warn("till.pricing_failed", "err=%s (no promotion applied)", pe_errname(rc));
        return;
    }
    for (int k = 0; k < n; k++) {
        struct line *l = &t->b.lines[idx[k]];
        l->promo_disc = pl[k].discount;
        l->promo = pl[k].promo;
        if (l->discount > l->amount - l->promo_disc)
            l->discount = l->amount - l->promo_disc;
    }
}

/* ---- input: scans ---- */

/* Add a sale line of it (the basket takes it over, or it is freed with a refusal). */
static void add_sale_line(struct pe_till *t, struct pe_item *it)
{
    struct line l = {.item = it, .tax_bp = it->tax_bp, .catalog_version = t->cat.version,
                     .promo = -1};
    char a[24], l2[64];
    /* The price in force by the till's own clock: a change effective at 06:00 sells at the new
     * price from 06:00 on, whether or not the store's link is up then. */
    if (pe_item_price_at(it, t->d.now(t->d.now_ctx), &l.unit_price) != PE_OK) {
        t->pending_qty = 0;
        refuse(t, "No price in force", "%s cannot be sold now", it->name);
        goto refused;
    }
    if (it->weighed) {
        if (t->pending_qty) {
            t->pending_qty = 0;
            refuse(t, "No quantity for weighed items", "%s is sold by weight", it->name);
            goto refused;
        }
        if (t->weight.grams <= 0) {
            refuse(t, "Place the item on the scale", "%s is sold by weight", it->name);
            goto refused;
        }
        if (!t->weight.stable) {
            refuse(t, "Scale not settled", "wait for a stable weight");
            goto refused;
        }
        if (t->weight.grams > MAX_GRAMS) {
            refuse(t, "Weight out of range", "%d g", t->weight.grams);
            goto refused;
        }
        l.qty = t->weight.grams;
        if (money_weighed(l.unit_price, l.qty, &l.amount)) {
            refuse(t, "Amount out of range", "%s", it->name);
            goto refused;
        }
        t->weight.grams = 0; /* the item leaves the scale with the customer */
        t->weight.stable = false;
    } else {
        l.qty = t->pending_qty ? t->pending_qty : 1;
        t->pending_qty = 0;
        if (__builtin_mul_overflow(l.qty, l.unit_price, &l.amount)) {
            refuse(t, "Amount out of range", "%s", it->name);
            goto refused;
        }
    }
    if (t->b.nlines == MAX_LINES) {
        refuse(t, "Basket full", "%d lines: subtotal and pay", MAX_LINES);
        goto refused;
    }
    t->b.lines[t->b.nlines++] = l;
    reprice(t);
    struct totals x;
    char a2[24];
    compute(t, &x);
    snprintf(l2, sizeof l2, "%s  total %s", fmt_amt(l.amount, a), fmt_amt(x.total, a2));
    show(t, it->name, l2);
    return;
refused:
    free(it);
}

/* What a sale's line says beyond its returnable quantities: the price charged per unit, the tax
 * rate, the catalog version and the price source (older sales have neither: 0 and "base"). */
struct sold_line {
    int64_t unit_price;
    int32_t tax_bp;
    int64_t catalog_version;
    char source[SOURCE_MAX];
};

/* Line number `line` of sale record rec (parsed), or NULL. */
static const cJSON *record_line(const cJSON *rec, int32_t line)
{
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(
                              cJSON_GetObjectItemCaseSensitive(rec, "body"), "lines"))
    {
        int64_t no = 0;
        if (pe_json_get_int(l, "line", &no) == PE_OK && no == line)
            return l;
    }
    return NULL;
}

static void sold_line_of(const cJSON *l, struct sold_line *out)
{
    const char *src = "base";
    int64_t v = 0;
    memset(out, 0, sizeof *out);
    pe_json_get_int(l, "unit_price", &out->unit_price);
    if (pe_json_get_int(l, "tax_bp", &v) == PE_OK)
        out->tax_bp = (int32_t)v;
    pe_json_get_int(l, "catalog_version", &out->catalog_version);
    pe_json_get_str(l, "price_source", &src);
    snprintf(out->source, sizeof out->source, "%s", src);
}

/*
 * The item a return line is for when the catalog in force no longer knows code (delisted, or
 * its barcode moved): made from the sold line with that barcode or item id, so an item can be
 * taken back whatever the catalog says today. NULL when no sold line matches.
 */
static struct pe_item *item_from_sale(const cJSON *rec, const char *code)
{
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(
                              cJSON_GetObjectItemCaseSensitive(rec, "body"), "lines"))
    {
        const char *id = "", *bc = "", *name = "", *cat = "", *brand = "", *unit = "";
        pe_json_get_str(l, "item", &id);
        pe_json_get_str(l, "barcode", &bc);
        if (strcmp(code, id) != 0 && strcmp(code, bc) != 0)
            continue;
        pe_json_get_str(l, "name", &name);
        pe_json_get_str(l, "category", &cat);
        pe_json_get_str(l, "brand", &brand);
        pe_json_get_str(l, "unit", &unit);
        struct sold_line s;
        sold_line_of(l, &s);
        const char *barcodes[] = {bc};
        struct pe_price price = {s.unit_price, 0, PE_CATALOG_OPEN};
        struct pe_item it = {.id = id, .barcode = bc, .name = name, .category = cat,
                             .brand = brand, .price = s.unit_price, .tax_bp = s.tax_bp,
                             .weighed = strcmp(unit, "g") == 0, .item_id = -1,
                             .barcodes = barcodes, .nbarcodes = 1, .prices = &price,
                             .nprices = 1};
        struct pe_item *copy = NULL;
        return pe_item_dup(&it, &copy) == PE_OK ? copy : NULL;
    }
    return NULL;
}

/* Add a return line of it against the basket's sale (rec: that sale, parsed); the basket takes
 * it over, or it is freed with a refusal. The line is priced as the sale charged it, never at
 * today's catalog price. */
static void add_return_line(struct pe_till *t, struct pe_item *it, const cJSON *rec)
{
    struct pe_sale_line sold[MAX_LINES];
    int n = 0;
    int rc = pe_journal_sale_lines(t->d.journal, t->b.ref_seq, sold, MAX_LINES, &n);
    if (rc) {
        refuse(t, "Original sale unavailable", "%s", pe_strerror(rc));
        goto refused;
    }
    int64_t want;
    if (it->weighed) {
        if (t->weight.grams <= 0 || !t->weight.stable) {
            refuse(t, t->weight.grams <= 0 ? "Place the item on the scale" : "Scale not settled",
                   "returns of %s are weighed", it->name);
            goto refused;
        }
        want = t->weight.grams;
    } else {
        want = t->pending_qty ? t->pending_qty : 1;
    }
    t->pending_qty = 0;
    bool on_receipt = false;
    int64_t best_left = 0, best_sold = 0, best_ret = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(sold[i].item, it->id) != 0)
            continue;
        on_receipt = true;
        int64_t in_basket = 0;
        for (int k = 0; k < t->b.nlines; k++)
            if (!t->b.lines[k].voided && t->b.lines[k].orig_line == sold[i].line)
                in_basket += t->b.lines[k].qty;
        int64_t left = sold[i].qty - sold[i].returned - in_basket;
        if (left >= want) {
            struct sold_line s;
            const cJSON *rl = record_line(rec, sold[i].line);
            sold_line_of(rl, &s);
            struct line l = {.item = it,
                             .qty = want,
                             .orig_line = sold[i].line,
                             .tax_bp = sold[i].tax_bp,
                             .catalog_version = s.catalog_version,
                             .promo = -1};
            memcpy(l.source, s.source, sizeof l.source);
            if (money_muldiv(sold[i].amount, want, sold[i].qty, &l.amount)) {
                refuse(t, "Amount out of range", "%s", it->name);
                goto refused;
            }
            /* Per kg as sold for weighed items; per unit as charged for the rest. */
            l.unit_price =
                it->weighed ? s.unit_price : (sold[i].qty ? sold[i].amount / sold[i].qty : 0);
            if (t->b.nlines == MAX_LINES) {
                refuse(t, "Basket full", "%d lines", MAX_LINES);
                goto refused;
            }
            t->b.lines[t->b.nlines++] = l;
            if (it->weighed) {
                t->weight.grams = 0;
                t->weight.stable = false;
            }
            char a[24], l2[64];
            snprintf(l2, sizeof l2, "Refund %s", fmt_amt(l.amount, a));
            show(t, it->name, l2);
            return;
        }
        if (left > best_left || best_sold == 0) {
            best_left = left;
            best_sold = sold[i].qty;
            best_ret = sold[i].qty - left;
        }
    }
    if (!on_receipt)
        refuse(t, "Item not on that receipt", "%s is not on receipt #%lld", it->name,
               (long long)t->b.ref_seq);
    else
        refuse(t, "Return exceeds quantity sold", "sold %lld, already returned %lld, asked %lld",
               (long long)best_sold, (long long)best_ret, (long long)want);
refused:
    free(it);
}

/* The sale a return basket is against, parsed (caller deletes); NULL when unreadable. */
static cJSON *return_sale(struct pe_till *t)
{
    char *rec = NULL;
    size_t len = 0;
    cJSON *p = NULL;
    if (pe_journal_get(t->d.journal, t->b.ref_seq, &rec, &len) == PE_OK)
        pe_json_parse(rec, len, &p, NULL, 0);
    free(rec);
    return p;
}

static void item_entered(struct pe_till *t, const char *code)
{
    struct pe_item *it = NULL;
    cJSON *sale = NULL;
    int rc = lookup(t, code, &it);
    if (rc == PE_ENOTFOUND && t->state != TILL_IDLE && t->b.mode == MODE_RETURN &&
        (sale = return_sale(t)))
        it = item_from_sale(sale, code);
    if (!it) {
        t->pending_qty = 0;
        if (rc == PE_ENOTFOUND)
            refuse(t, "Unknown item", "no item with code %.24s", code);
        else
            refuse(t, "Catalog unavailable", "%s", pe_strerror(rc));
        goto done;
    }
    if (t->state == TILL_TENDER) {
        if (t->b.ntenders > 0 || t->b.commit_failed) {
            refuse(t, "Payment in progress", "finish or cancel the payment first");
            goto done;
        }
        t->state = TILL_BASKET; /* back from subtotal to add more */
    }
    if (t->state == TILL_IDLE) {
        if (!ready_to_trade(t, "A sale"))
            goto done;
        if ((rc = open_basket(t, MODE_SALE))) {
            refuse(t, "Cannot start a sale", "%s", pe_strerror(rc));
            goto done;
        }
    }
    if (t->b.mode == MODE_RETURN) {
        if (!sale && !(sale = return_sale(t))) {
            refuse(t, "Original sale unavailable", "receipt #%lld", (long long)t->b.ref_seq);
            goto done;
        }
        add_return_line(t, it, sale);
    } else {
        add_sale_line(t, it);
    }
    it = NULL; /* the line's now, or freed with its refusal */
done:
    free(it);
    cJSON_Delete(sale);
}

void till_on_scan(struct pe_till *t, const char *code)
{
    item_entered(t, code);
}

void till_on_weight(struct pe_till *t, const struct pe_weight *w)
{
    t->weight = *w;
    char l2[32];
    snprintf(l2, sizeof l2, "%d g%s", w->grams, w->stable ? "" : " (settling)");
    show(t, "Scale", l2);
}

/* ---- input: tenders ---- */

static void to_tender(struct pe_till *t)
{
    struct totals x;
    compute(t, &x);
    t->state = TILL_TENDER;
    char a[24], l2[64];
    snprintf(l2, sizeof l2, "%s %s", t->d.currency,
             fmt_amt(x.total - tendered(&t->b) > 0 ? x.total - tendered(&t->b) : 0, a));
    show(t, t->b.mode == MODE_SALE ? "Total due" : "Refund due", l2);
}

static bool can_tender(struct pe_till *t, const char *what)
{
    if (t->state == TILL_IDLE) {
        refuse(t, "Nothing to pay", "%s with no open transaction", what);
        return false;
    }
    if (live_lines(&t->b) == 0) {
        refuse(t, "Basket is empty", "scan an item first");
        return false;
    }
    if (t->awaiting_payment) {
        refuse(t, "Card payment in progress", "wait for the terminal");
        return false;
    }
    return true;
}

/*
 * What every tender key does first: refuse when nothing can be paid, and when the basket is
 * already paid (a commit failed) retry the commit instead. Returns true with *due set when the
 * tender should go ahead.
 */
static bool tender_start(struct pe_till *t, const char *what, int64_t *due)
{
    if (!can_tender(t, what))
        return false;
    struct totals x;
    compute(t, &x);
    *due = x.total - tendered(&t->b);
    if (t->b.commit_failed || *due <= 0) {
        t->tender_start_us = pe_mono_us();
        finish_basket(t); /* a retry of a failed commit */
        return false;
    }
    return true;
}

static void tender_cash(struct pe_till *t, const struct pe_key_input *k)
{
    int64_t due;
    if (!tender_start(t, "Cash", &due))
        return;
    int64_t amount = k->amount;
    if (k->flags & PE_KEYF_EXACT || t->b.mode == MODE_RETURN)
        amount = due; /* refunds pay out exactly what is due, never change */
    else if (k->flags & PE_KEYF_NEXT_NOTE)
        amount = money_next_note(due);
    char a[24], b2[24];
    if (amount <= 0) {
        refuse(t, "Enter the amount tendered", "due %s", fmt_amt(due, a));
        return;
    }
    if (amount < due && !(k->flags & PE_KEYF_SPLIT)) {
        refuse(t, "Tender short of total", "due %s, tendered %s", fmt_amt(due, a),
               fmt_amt(amount, b2));
        return;
    }
    if (t->b.ntenders == MAX_TENDERS) {
        refuse(t, "Too many tenders", "at most %d", MAX_TENDERS);
        return;
    }
    struct tender *tn = &t->b.tenders[t->b.ntenders++];
    memset(tn, 0, sizeof *tn);
    snprintf(tn->method, sizeof tn->method, "cash");
    tn->amount = amount;
    t->state = TILL_TENDER;
    if (amount >= due) {
        t->tender_start_us = pe_mono_us();
        finish_basket(t);
    } else {
        to_tender(t);
    }
}

static void tender_card(struct pe_till *t, const struct pe_key_input *k)
{
    int64_t due;
    if (!tender_start(t, "Card", &due))
        return;
    int64_t amount = k->amount > 0 ? k->amount : due;
    char a[24], b2[24];
    if (amount > due) {
        refuse(t, "Card amount above amount due", "due %s, asked %s", fmt_amt(due, a),
               fmt_amt(amount, b2));
        return;
    }
    if (t->b.ntenders == MAX_TENDERS) {
        refuse(t, "Too many tenders", "at most %d", MAX_TENDERS);
        return;
    }
    if (!t->d.payment) {
        refuse(t, "No payment terminal", "pay cash");
        return;
    }
    struct pe_pay_request req = {.amount = amount, .refund = t->b.mode == MODE_RETURN};
    snprintf(req.currency, sizeof req.currency, "%s", t->d.currency);
    snprintf(req.ref, sizeof req.ref, "%s", t->b.id);
    int rc = pe_payment_start(t->d.payment, &req);
    if (rc) {
        refuse(t, "Payment terminal unavailable", "%s", pe_strerror(rc));
        return;
    }
    t->awaiting_payment = true;
    t->pay_amount = amount;
    t->state = TILL_TENDER;
    show(t, "Insert or tap card", fmt_amt(amount, a));
}

void till_on_payment(struct pe_till *t, const struct pe_pay_result *r)
{
    if (!t->awaiting_payment) {
        pe_warn("till.payment_unexpected", "approved=%d", r->approved);
        return;
    }
    t->awaiting_payment = false;
    if (!r->approved) {
        refuse(t, "Card declined", "%s", r->reason[0] ? r->reason : "declined");
        to_tender(t);
        snprintf(t->line1, sizeof t->line1, "Card declined"); /* keep the reason visible */
        return;
    }
    if (t->b.ntenders == MAX_TENDERS) {
        refuse(t, "Too many tenders", "at most %d", MAX_TENDERS);
        return;
    }
    struct tender *tn = &t->b.tenders[t->b.ntenders++];
    memset(tn, 0, sizeof *tn);
    snprintf(tn->method, sizeof tn->method, "card");
    tn->amount = r->approved && r->amount > 0 ? r->amount : t->pay_amount;
    snprintf(tn->token, sizeof tn->token, "%s", r->token);
    snprintf(tn->last4, sizeof tn->last4, "%s", r->last4);
    snprintf(tn->scheme, sizeof tn->scheme, "%s", r->scheme);
    snprintf(tn->auth, sizeof tn->auth, "%s", r->auth_code);
    struct totals x;
    compute(t, &x);
    if (tendered(&t->b) >= x.total) {
        t->tender_start_us = pe_mono_us();
        finish_basket(t);
    } else {
        to_tender(t);
    }
}

/* ---- input: other keys ---- */

static void cancel(struct pe_till *t)
{
    if (t->state == TILL_IDLE) {
        t->pending_qty = 0;
        show(t, "Nothing to cancel", "");
        return;
    }
    if (t->awaiting_payment) {
        refuse(t, "Card payment in progress", "wait for the terminal");
        return;
    }
    if (tendered_by(&t->b, "card") > 0) {
        refuse(t, "Card payment taken", "complete the transaction");
        return;
    }
    if (live_lines(&t->b) == 0) {
        close_basket(t);
        show(t, "Cancelled", "");
        return;
    }
    enum pe_event_type type = PE_EV_VOID;
    struct op op = {.type = PE_EV_VOID, .id = t->b.id, .build = sale_build, .ctx = &type};
    if (commit(t, &op, NULL) == PE_OK) {
        close_basket(t);
        show(t, "Transaction cancelled", "");
    }
}

static void line_void(struct pe_till *t, int32_t line)
{
    if (t->state != TILL_BASKET && !(t->state == TILL_TENDER && t->b.ntenders == 0)) {
        refuse(t, "No line to void", "no open basket");
        return;
    }
    if (line < 1 || line > t->b.nlines || t->b.lines[line - 1].voided) {
        refuse(t, "No such line", "line %d", line);
        return;
    }
    t->b.lines[line - 1].voided = true;
    t->state = TILL_BASKET;
    reprice(t); /* a group deal may lose the unit it stood on */
    show(t, "Line voided", t->b.lines[line - 1].item->name);
}

static void discount(struct pe_till *t, const struct pe_key_input *k)
{
    if (t->state == TILL_IDLE || t->b.ntenders > 0 || t->b.mode == MODE_RETURN) {
        refuse(t, "No discount now", "discounts apply to an open sale before payment");
        return;
    }
    if ((k->percent_bp <= 0 && k->amount <= 0) || k->percent_bp > 10000) {
        refuse(t, "Bad discount", "give a percentage or an amount");
        return;
    }
    if (k->line == 0) {
        struct totals x;
        compute(t, &x);
        if (!k->percent_bp && k->amount > x.total) {
            refuse(t, "Discount above total", NULL);
            return;
        }
        t->b.disc_bp = k->percent_bp;
        t->b.disc_amount = k->percent_bp ? 0 : k->amount;
    } else {
        if (k->line < 1 || k->line > t->b.nlines || t->b.lines[k->line - 1].voided) {
            refuse(t, "No such line", "line %d", k->line);
            return;
        }
        /* On what the customer pays after the line's promotion. */
        struct line *l = &t->b.lines[k->line - 1];
        int64_t base = l->amount - l->promo_disc;
        int64_t d = k->percent_bp ? money_percent(base, k->percent_bp) : k->amount;
        if (d > base) {
            refuse(t, "Discount above line amount", NULL);
            return;
        }
        l->discount = d;
    }
    struct totals x;
    compute(t, &x);
    char a[24], l2[64];
    snprintf(l2, sizeof l2, "total %s", fmt_amt(x.total, a));
    show(t, "Discount applied", l2);
}

static void start_return(struct pe_till *t, const struct pe_key_input *k)
{
    if (t->state != TILL_IDLE) {
        refuse(t, "Finish the open transaction", "before a return");
        return;
    }
    if (!ready_to_trade(t, "A return"))
        return;
    int64_t seq = k->ref_seq;
    int rc = PE_OK;
    if (seq <= 0 && k->text[0])
        rc = pe_journal_find_id(t->d.journal, k->text, &seq);
    char *rec = NULL;
    size_t len = 0;
    if (rc == PE_OK && seq > 0)
        rc = pe_journal_get(t->d.journal, seq, &rec, &len);
    else if (rc == PE_OK)
        rc = PE_ENOTFOUND;
    cJSON *parsed = NULL;
    const char *type = NULL, *id = NULL;
    if (rc == PE_OK && pe_json_parse(rec, len, &parsed, NULL, 0) == PE_OK) {
        pe_json_get_str(parsed, "type", &type);
        pe_json_get_str(parsed, "id", &id);
    }
    if (rc != PE_OK || !type || strcmp(type, "sale") != 0 || !id) {
        if (seq > 0)
            refuse(t, "Unknown sale", "no sale with receipt #%lld", (long long)seq);
        else
            refuse(t, "Unknown sale", "no sale with id %.36s", k->text);
        goto done;
    }
    cJSON *sale_body = cJSON_GetObjectItemCaseSensitive(parsed, "body");
    if (pe_totals_training(sale_body) != t->training) {
        /* Training money never meets real money: a training sale is returned in training
         * mode only, and a real sale never is. */
        refuse(t, t->training ? "Training: real sale" : "Training sale",
               t->training ? "receipt #%lld is a real sale: leave training mode to return it"
                           : "receipt #%lld was made in training mode",
               (long long)seq);
        goto done;
    }
    if ((rc = open_basket(t, MODE_RETURN))) {
        refuse(t, "Cannot start a return", "%s", pe_strerror(rc));
        goto done;
    }
    t->b.ref_seq = seq;
    snprintf(t->b.ref_id, sizeof t->b.ref_id, "%s", id);
    char l2[64];
    snprintf(l2, sizeof l2, "against receipt #%lld", (long long)seq);
    show(t, "Return: scan items", l2);
done:
    cJSON_Delete(parsed);
    free(rec);
}

/* An event whose body is complete at capture (ctx is the body); its id is drawn now. */
static int simple_build(struct pe_till *t, void *ctx, int64_t seq, cJSON **body)
{
    (void)t;
    (void)seq;
    *body = cJSON_Duplicate(ctx, 1);
    return *body ? PE_OK : PE_ENOMEM;
}

/* Commit an event with a ready body (consumed) and open the drawer after it if asked. */
static int simple_event(struct pe_till *t, enum pe_event_type type, cJSON *body, bool drawer)
{
    char id[PE_UUID_STRLEN];
    int rc = body ? pe_rng_uuid(t->d.rng, id) : PE_ENOMEM;
    if (rc == PE_OK) {
        struct op op = {
            .type = type, .id = id, .build = simple_build, .ctx = body, .cash_drawer = drawer};
        rc = commit(t, &op, NULL);
    } else {
        refuse(t, "Cannot record", "%s", pe_strerror(rc));
    }
    cJSON_Delete(body);
    return rc;
}

static bool idle_for(struct pe_till *t, const char *what)
{
    if (t->state != TILL_IDLE) {
        refuse(t, "Finish the open transaction", "before %s", what);
        return false;
    }
    return true;
}

static void no_sale(struct pe_till *t, const struct pe_key_input *k)
{
    if (!idle_for(t, "a no-sale") || !ready_to_trade(t, "A no-sale"))
        return;
    cJSON *b = obj();
    int err = 0;
    add_s(b, "reason", k->text[0] ? k->text : "no sale", &err);
    if (err) {
        cJSON_Delete(b);
        b = NULL;
    }
    if (simple_event(t, PE_EV_NO_SALE, b, true) == PE_OK)
        show(t, "No sale", "drawer open");
}

static void shift(struct pe_till *t, const struct pe_key_input *k, bool open)
{
    if (!idle_for(t, open ? "opening a shift" : "closing a shift"))
        return;
    if (!t->operator_[0]) {
        refuse(t, "Log in first", "shifts need an operator");
        return;
    }
    if (open == t->shift_open) {
        refuse(t, open ? "Shift already open" : "No shift open", NULL);
        return;
    }
    if (k->amount < 0) {
        refuse(t, "Bad amount", "must not be negative");
        return;
    }
    int64_t expected = 0;
    pe_journal_counter_get(t->d.journal, "shift.cash", &expected);
    cJSON *b = obj();
    int err = 0;
    if (open) {
        add_i(b, "float", k->amount, &err);
    } else {
        add_i(b, "declared", k->amount, &err);
        add_i(b, "expected", expected, &err);
        add_i(b, "variance", k->amount - expected, &err);
    }
    if (err) {
        cJSON_Delete(b);
        b = NULL;
    }
    int rc = simple_event(t, open ? PE_EV_SHIFT_OPEN : PE_EV_SHIFT_CLOSE, b, true);
    if (rc == PE_OK) {
        t->shift_open = open;
        show(t, open ? "Shift open" : "Shift closed", t->operator_);
    }
}

struct report_ctx {
    bool z;
    int64_t number;
};

/* ---- month and year closings ---- */

struct closing_ctx {
    enum pe_event_type type; /* PE_EV_MONTH_CLOSE or PE_EV_YEAR_CLOSE */
    char period[8];          /* "YYYY-MM" or "YYYY" */
    int64_t number;
};

static int closing_build(struct pe_till *t, void *ctx, int64_t seq, cJSON **body)
{
    struct closing_ctx *c = ctx;
    (void)seq;
    int64_t n = 0;
    int rc = pe_journal_counter_get(t->d.journal, c->type == PE_EV_MONTH_CLOSE
                                                      ? "close.month.number"
                                                      : "close.year.number",
                                    &n);
    if (rc)
        return rc;
    c->number = n + 1;
    return pe_report_closing(t->d.journal, c->type, c->period, t->d.currency, c->number, body);
}

/*
 * Before a Z report at time now: when the month (year) of the last Z report is over,
 * commit its month_close (and year_close) first, so the closing sums exactly the Z reports of
 * its period and the Z about to be taken opens the next one. A month without a Z report has
 * nothing to close. Returns PE_OK (nothing due, or committed) or the commit's error (then the
 * Z report must not follow: the closing would be skipped).
 */
static int close_periods(struct pe_till *t, int64_t now)
{
    struct pe_journal *j = t->d.journal;
    int64_t last_z = 0, ts = 0;
    char *rec = NULL;
    size_t len = 0;
    cJSON *doc = NULL;
    const char *tss = NULL;
    int rc = pe_journal_counter_get(j, "m.last_seq", &last_z);
    if (rc || last_z == 0)
        return rc;
    if ((rc = pe_journal_get(j, last_z, &rec, &len)) == PE_OK &&
        (rc = pe_json_parse(rec, len, &doc, NULL, 0)) == PE_OK &&
        (pe_json_get_str(doc, "ts", &tss) || pe_time_parse(tss, &ts)))
        rc = PE_EINVAL;
    cJSON_Delete(doc);
    free(rec);
    if (rc == PE_ENOTFOUND) {
        /* Pruned through that Z report (journal.h): its time is the anchor's. */
        struct pe_journal_anchor a;
        rc = pe_journal_anchor(j, &a);
        if (rc == PE_OK && a.seq == last_z)
            ts = a.ts_ms;
        else if (rc == PE_OK)
            rc = PE_ENOTFOUND;
        pe_journal_anchor_free(&a);
    }
    if (rc) {
        refuse(t, "Journal error: not recorded", "the last Z report (seq %lld) unreadable: %s",
               (long long)last_z, pe_strerror(rc));
        return rc;
    }
    static const enum pe_event_type types[] = {PE_EV_MONTH_CLOSE, PE_EV_YEAR_CLOSE};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        struct closing_ctx c = {.type = types[i]};
        char cur[8];
        pe_totals_period(c.type, ts, c.period);
        pe_totals_period(c.type, now, cur);
        if (strcmp(cur, c.period) <= 0)
            break; /* the period of the last Z is still open (a year only closes with a month) */
        char id[PE_UUID_STRLEN];
        if ((rc = pe_rng_uuid(t->d.rng, id)))
            return rc;
        struct op op = {
            .type = c.type, .id = id, .build = closing_build, .ctx = &c, .ts_ms = now};
        int64_t seq = 0;
        if ((rc = commit(t, &op, &seq)))
            return rc;
        pe_info("till.closing", "type=%s period=%s number=%lld seq=%lld",
                pe_event_type_name(c.type), c.period, (long long)c.number, (long long)seq);
    }
    return PE_OK;
}

static int report_build(struct pe_till *t, void *ctx, int64_t seq, cJSON **body)
{
    struct report_ctx *c = ctx;
    int64_t n = 0;
    int rc = pe_journal_counter_get(t->d.journal, c->z ? "z.number" : "p.x.count", &n);
    if (rc)
        return rc;
    c->number = n + 1;
    return pe_report_totals(t->d.journal, t->d.currency, c->number, seq - 1, body);
}

static void report(struct pe_till *t, bool z)
{
    if (!idle_for(t, z ? "a Z report" : "an X report"))
        return;
    if (!t->operator_[0]) {
        refuse(t, "Log in first", "reports need an operator");
        return;
    }
    if (z && t->shift_open) {
        refuse(t, "Close the shift first", "a Z report closes the period");
        return;
    }
    char id[PE_UUID_STRLEN];
    struct report_ctx c = {.z = z};
    int rc = pe_rng_uuid(t->d.rng, id);
    if (rc) {
        refuse(t, "Cannot record", "%s", pe_strerror(rc));
        return;
    }
    /* The Z report's time decides its month, so the closings are judged by the same time. */
    struct op op = {.type = z ? PE_EV_Z_REPORT : PE_EV_X_REPORT,
                    .id = id,
                    .build = report_build,
                    .ctx = &c,
                    .ts_ms = t->d.now(t->d.now_ctx)};
    if ((!z || close_periods(t, op.ts_ms) == PE_OK) && commit(t, &op, NULL) == PE_OK) {
        char l2[32];
        snprintf(l2, sizeof l2, "No. %lld printed", (long long)c.number);
        show(t, z ? "Z report" : "X report", l2);
    }
}

/* A report asked for over the fleet channel (fleet.c): the same rules as the keys, except that
 * the operator comes with the command and the till's own login is left as it was. */
int till_remote_report(struct pe_till *t, bool z, const char *operator_, int64_t *seq,
                       int64_t *number, char *why, size_t len)
{
    if (t->state != TILL_IDLE || t->awaiting_payment) {
        snprintf(why, len, "a transaction is open at the till: try again when it is finished");
        return PE_EBUSY;
    }
    if (z && t->shift_open) {
        snprintf(why, len, "a shift is open%s%s%s: close it first (a Z report closes the period)",
                 t->operator_[0] ? " (operator " : "", t->operator_, t->operator_[0] ? ")" : "");
        return PE_ESTATE;
    }
    if (!pe_event_id_valid(operator_, 1)) {
        snprintf(why, len, "operator: not a valid id");
        return PE_EINVAL;
    }
    char id[PE_UUID_STRLEN], saved[PE_ID_MAX];
    struct report_ctx c = {.z = z};
    int rc = pe_rng_uuid(t->d.rng, id);
    if (rc) {
        snprintf(why, len, "cannot draw an event id: %s", pe_strerror(rc));
        return rc;
    }
    struct op op = {.type = z ? PE_EV_Z_REPORT : PE_EV_X_REPORT,
                    .id = id,
                    .build = report_build,
                    .ctx = &c,
                    .ts_ms = t->d.now(t->d.now_ctx)};
    memcpy(saved, t->operator_, sizeof saved);
    snprintf(t->operator_, sizeof t->operator_, "%s", operator_);
    rc = z ? close_periods(t, op.ts_ms) : PE_OK;
    if (rc == PE_OK)
        rc = commit(t, &op, seq);
    memcpy(t->operator_, saved, sizeof saved);
    if (rc) {
        snprintf(why, len, "not recorded: %s", pe_strerror(rc));
        return rc;
    }
    *number = c.number;
    char l2[32];
    snprintf(l2, sizeof l2, "No. %lld printed", (long long)c.number);
    show(t, z ? "Z report (HQ)" : "X report (HQ)", l2);
    return PE_OK;
}

/* Record seq as the journal holds it: parsed into *doc (the caller's), with its hash and its
 * signature (a sig column that does not decode counts as none: the copy is then unsigned). */
static int reprint_read(struct pe_journal *j, int64_t seq, cJSON **doc,
                        struct pe_journal_appended *app)
{
    struct pe_journal_iter *it = NULL;
    struct pe_journal_rec r = {0};
    int rc = pe_journal_iter_open(j, seq, NULL, &it);
    if (rc == PE_OK)
        rc = pe_journal_iter_next(it, &r);
    if (rc == PE_EEOF || (rc == PE_OK && r.seq != seq))
        rc = PE_ENOTFOUND;
    if (rc == PE_OK)
        rc = pe_json_parse(r.record, r.len, doc, NULL, 0);
    if (rc == PE_OK) {
        memset(app, 0, sizeof *app);
        app->seq = seq;
        snprintf(app->hash, sizeof app->hash, "%s", r.hash);
        int64_t down = 0;
        app->marked = r.sig && pe_signature_mark_decode(r.sig, r.siglen, &down);
        app->is_signed = r.sig && !app->marked &&
                         pe_signature_decode(r.sig, r.siglen, &app->sig, NULL, 0) == PE_OK;
    }
    pe_journal_iter_close(it);
    return rc;
}

int till_reprint(struct pe_till *t, int64_t seq, int64_t *printed, char type[32], char *why,
                 size_t len)
{
    struct pe_journal *j = t->d.journal;
    int64_t last = 0;
    char *text = NULL;
    cJSON *doc = NULL;
    const char *ty = NULL;
    struct pe_journal_appended app = {0};
    struct pe_render_hdr h = {0};
    int rc = pe_journal_last(j, &last, NULL, NULL);
    if (rc == PE_OK && seq == 0)
        seq = last;
    if (rc == PE_OK && (seq < 1 || seq > last)) {
        snprintf(why, len, "seq: no event %lld in the journal (last is %lld)", (long long)seq,
                 (long long)last);
        return PE_ENOTFOUND;
    }
    if (rc == PE_OK)
        rc = reprint_read(j, seq, &doc, &app);
    if (rc == PE_OK)
        rc = pe_json_get_str(doc, "type", &ty);
    if (rc == PE_OK)
        rc = pe_render_record_hdr(doc, t->d.title, &h);
    h.signer_down = app.marked; /* a copy of a receipt made while the signer was down says so */
    if (rc == PE_OK)
        rc = pe_render_event(&h, cJSON_GetObjectItemCaseSensitive(doc, "body"), &text);
    if (rc) {
        snprintf(why, len, "seq %lld: cannot read it from the journal: %s", (long long)seq,
                 pe_strerror(rc));
        goto out;
    }
    snprintf(type, 32, "%s", ty);
    /* A copy says so, above and below, so it cannot pass for the original receipt. Its QR code
     * is the original's (deterministic signatures: the same payload, the same signature). */
    static const char COPY[] = "*** COPY - REPRINT ***\n";
    if (!t->d.printer)
        rc = PE_ENOTSUP;
    if (!rc)
        rc = pe_printer_print(t->d.printer, COPY, sizeof COPY - 1);
    if (!rc)
        rc = pe_printer_print(t->d.printer, text, strlen(text));
    if (!rc)
        rc = print_qr(t, &h, cJSON_GetObjectItemCaseSensitive(doc, "body"), &app);
    if (!rc)
        rc = pe_printer_print(t->d.printer, COPY, sizeof COPY - 1);
    if (!rc)
        rc = pe_printer_cut(t->d.printer);
    if (rc) {
        t->stats.print_failures++;
        snprintf(why, len, "the printer failed: %s", pe_strerror(rc));
        pe_warn("till.reprint_failed", "seq=%lld err=%s", (long long)seq, pe_errname(rc));
        goto out;
    }
    *printed = seq;
    pe_info("till.reprint", "seq=%lld type=%s", (long long)seq, type);
out:
    free(text);
    cJSON_Delete(doc);
    return rc;
}

struct inv_ctx {
    enum pe_key_kind kind;
    const struct pe_key_input *k;
    struct pe_item *items[PE_KEY_MAX_LINES]; /* copies, freed by inventory() */
};

static int inv_build(struct pe_till *t, void *ctx, int64_t seq, cJSON **body)
{
    (void)seq;
    struct inv_ctx *c = ctx;
    int err = 0;
    cJSON *b = obj(), *lines = cJSON_CreateArray();
    if (c->kind == PE_KEY_INV_RECEIPT)
        add_s(b, "reference", c->k->text, &err);
    else if (c->kind == PE_KEY_INV_ADJUST)
        add_s(b, "reason", c->k->text, &err);
    for (int i = 0; i < c->k->nlines && !err; i++) {
        const struct pe_item *it = c->items[i];
        int64_t qty = c->k->lines[i].qty, have = 0;
        int rc = pe_journal_stock_get(t->d.journal, it->id, &have);
        if (rc) {
            err = rc;
            break;
        }
        cJSON *o = obj();
        add_i(o, "line", i + 1, &err);
        add_s(o, "item", it->id, &err);
        add_s(o, "barcode", it->barcode, &err);
        add_s(o, "name", it->name, &err);
        add_s(o, "unit", it->weighed ? "g" : "each", &err);
        if (c->kind == PE_KEY_INV_COUNT) {
            add_i(o, "counted", qty, &err);
            add_i(o, "previous", have, &err);
            add_i(o, "variance", qty - have, &err);
        } else {
            add_i(o, "qty", qty, &err);
            add_i(o, "stock_after", have + qty, &err);
        }
        push(lines, o, &err);
    }
    add_o(b, "lines", lines, &err);
    if (err) {
        cJSON_Delete(b);
        return err;
    }
    *body = b;
    return PE_OK;
}

static void inventory(struct pe_till *t, const struct pe_key_input *k)
{
    if (!idle_for(t, "stock work"))
        return;
    if (!t->operator_[0]) {
        refuse(t, "Log in first", "stock work needs an operator");
        return;
    }
    if (k->nlines <= 0 || k->nlines > PE_KEY_MAX_LINES) {
        refuse(t, "No stock lines", "give 1..%d lines", PE_KEY_MAX_LINES);
        return;
    }
    struct inv_ctx c = {.kind = k->kind, .k = k};
    for (int i = 0; i < k->nlines; i++) {
        const char *code = k->lines[i].code;
        int64_t q = k->lines[i].qty;
        int rc = lookup(t, code, &c.items[i]);
        if (rc) {
            if (rc == PE_ENOTFOUND)
                refuse(t, "Unknown item", "line %d: no item with code %.24s", i + 1, code);
            else
                refuse(t, "Catalog unavailable", "%s", pe_strerror(rc));
            goto done;
        }
        bool ok = k->kind == PE_KEY_INV_RECEIPT  ? q > 0
                  : k->kind == PE_KEY_INV_ADJUST ? q != 0
                                                 : q >= 0;
        if (!ok || q > 100000000 || q < -100000000) {
            refuse(t, "Bad quantity", "line %d: %lld", i + 1, (long long)q);
            goto done;
        }
    }
    enum pe_event_type type = k->kind == PE_KEY_INV_RECEIPT  ? PE_EV_INVENTORY_RECEIPT
                              : k->kind == PE_KEY_INV_ADJUST ? PE_EV_INVENTORY_ADJUST
                                                             : PE_EV_INVENTORY_COUNT;
    char id[PE_UUID_STRLEN];
    int rc = pe_rng_uuid(t->d.rng, id);
    if (rc) {
        refuse(t, "Cannot record", "%s", pe_strerror(rc));
        goto done;
    }
    struct op op = {.type = type, .id = id, .build = inv_build, .ctx = &c};
    if (commit(t, &op, NULL) == PE_OK)
        show(t, "Stock updated", pe_event_type_name(type));
done:
    for (int i = 0; i < PE_KEY_MAX_LINES; i++)
        free(c.items[i]);
}

/* A customer (loyalty card or keyed id) for the open basket, or for the next one when the till
 * is idle; it goes on the sale or return as customer_id. Never a card number: only an id of
 * letters, digits, '.', '_', '-'. */
static void customer(struct pe_till *t, const struct pe_key_input *k)
{
    if (!pe_event_id_valid(k->text, 1)) {
        refuse(t, "Bad customer id", "1..32 of letters, digits, '.', '_', '-'");
        return;
    }
    if (t->state == TILL_TENDER) {
        refuse(t, "Customer too late", "key the customer before the total");
        return;
    }
    /* Valid ids are at most 32 characters: the copy fits PE_ID_MAX with its NUL. */
    memcpy(t->state == TILL_BASKET ? t->b.customer : t->next_customer, k->text,
           strlen(k->text) + 1);
    show(t, "Customer", k->text);
}

void till_on_key(struct pe_till *t, const struct pe_key_input *k)
{
    pe_debug("till.key", "kind=%s state=%d", pe_key_kind_name(k->kind), (int)t->state);
    switch (k->kind) {
    case PE_KEY_LOGIN:
        if (t->state != TILL_IDLE) {
            refuse(t, "Finish the open transaction", "before changing operator");
            return;
        }
        if (!pe_event_id_valid(k->text, 1)) {
            refuse(t, "Bad operator id", "1..32 letters, digits, '.', '_' or '-'");
            return;
        }
        memcpy(t->operator_, k->text, strlen(k->text) + 1); /* length checked above */
        show(t, "Logged in", t->operator_);
        return;
    case PE_KEY_LOGOUT:
        if (t->state != TILL_IDLE) {
            refuse(t, "Finish the open transaction", "before logging out");
            return;
        }
        t->operator_[0] = '\0';
        show(t, "Logged out", "");
        return;
    case PE_KEY_SHIFT_OPEN:
    case PE_KEY_SHIFT_CLOSE:
        shift(t, k, k->kind == PE_KEY_SHIFT_OPEN);
        return;
    case PE_KEY_QTY:
        if (k->qty < 1 || k->qty > MAX_QTY) {
            refuse(t, "Bad quantity", "1..%d", MAX_QTY);
            return;
        }
        t->pending_qty = k->qty;
        char l2[32];
        snprintf(l2, sizeof l2, "%lld x", (long long)k->qty);
        show(t, "Quantity", l2);
        return;
    case PE_KEY_ITEM:
        item_entered(t, k->text);
        return;
    case PE_KEY_LINE_VOID:
        line_void(t, k->line);
        return;
    case PE_KEY_DISCOUNT:
        discount(t, k);
        return;
    case PE_KEY_SUBTOTAL:
        if (t->state == TILL_IDLE || live_lines(&t->b) == 0) {
            refuse(t, "Basket is empty", "scan an item first");
            return;
        }
        if (t->b.commit_failed) {
            t->tender_start_us = pe_mono_us();
            finish_basket(t); /* TOTAL retries a commit that failed */
            return;
        }
        to_tender(t);
        return;
    case PE_KEY_TENDER_CASH:
        tender_cash(t, k);
        return;
    case PE_KEY_TENDER_CARD:
        tender_card(t, k);
        return;
    case PE_KEY_CANCEL:
        cancel(t);
        return;
    case PE_KEY_NO_SALE:
        no_sale(t, k);
        return;
    case PE_KEY_RETURN:
        start_return(t, k);
        return;
    case PE_KEY_X_REPORT:
    case PE_KEY_Z_REPORT:
        report(t, k->kind == PE_KEY_Z_REPORT);
        return;
    case PE_KEY_INV_RECEIPT:
    case PE_KEY_INV_ADJUST:
    case PE_KEY_INV_COUNT:
        inventory(t, k);
        return;
    case PE_KEY_CUSTOMER:
        customer(t, k);
        return;
    }
    refuse(t, "Unknown key", "%d", (int)k->kind);
}

/* ---- parking ---- */

int till_park(struct pe_till *t)
{
    if (t->state == TILL_IDLE || live_lines(&t->b) == 0)
        return PE_OK;
    int err = 0;
    cJSON *p = obj(), *lines = cJSON_CreateArray();
    add_s(p, "id", t->b.id, &err);
    add_s(p, "mode", t->b.mode == MODE_RETURN ? "return" : "sale", &err);
    add_i(p, "ref_seq", t->b.ref_seq, &err);
    add_s(p, "ref_id", t->b.ref_id, &err);
    add_i(p, "disc_bp", t->b.disc_bp, &err);
    add_i(p, "disc_amount", t->b.disc_amount, &err);
    add_s(p, "operator", t->operator_, &err);
    add_s(p, "customer", t->b.customer, &err);
    if (t->b.training && !err && !cJSON_AddTrueToObject(p, "training"))
        err = PE_ENOMEM;
    for (int i = 0; i < t->b.nlines; i++) {
        const struct line *l = &t->b.lines[i];
        if (l->voided)
            continue;
        cJSON *o = obj();
        add_s(o, "item", l->item->id, &err);
        add_i(o, "qty", l->qty, &err);
        add_i(o, "unit_price", l->unit_price, &err);
        add_i(o, "amount", l->amount, &err);
        add_i(o, "discount", l->discount, &err);
        add_i(o, "orig_line", l->orig_line, &err);
        add_i(o, "tax_bp", l->tax_bp, &err);
        add_i(o, "catalog_version", l->catalog_version, &err);
        add_s(o, "source", l->source, &err);
        push(lines, o, &err);
    }
    add_o(p, "lines", lines, &err);
    /* Cash already in the drawer is given back when a basket is parked; an approved card
     * payment cannot be, so it travels with the basket. */
    add_o(p, "tenders", tenders_json(&t->b, 0, &err), &err);
    char *s = err ? NULL : cJSON_PrintUnformatted(p);
    cJSON_Delete(p);
    if (!s)
        return PE_ENOMEM;
    int rc = pe_journal_park(t->d.journal, s);
    free(s);
    if (rc == PE_OK)
        pe_info("till.parked", "id=%s lines=%d", t->b.id, live_lines(&t->b));
    return rc;
}

static void unpark(struct pe_till *t)
{
    char *s = NULL;
    if (pe_journal_unpark(t->d.journal, &s) != PE_OK || !s)
        return;
    cJSON *p = cJSON_Parse(s);
    free(s);
    const char *id = NULL, *mode = NULL, *ref_id = "", *op = "";
    if (!p || pe_json_get_str(p, "id", &id) || !pe_is_uuid(id) ||
        pe_json_get_str(p, "mode", &mode)) {
        pe_warn("till.unpark_failed", "reason=\"parked basket unreadable, dropped\"");
        cJSON_Delete(p);
        return;
    }
    free_lines(&t->b);
    memset(&t->b, 0, sizeof t->b);
    snprintf(t->b.id, sizeof t->b.id, "%s", id);
    t->b.mode = strcmp(mode, "return") == 0 ? MODE_RETURN : MODE_SALE;
    int64_t v = 0;
    pe_json_get_int(p, "ref_seq", &t->b.ref_seq);
    pe_json_get_str(p, "ref_id", &ref_id);
    snprintf(t->b.ref_id, sizeof t->b.ref_id, "%s", ref_id);
    if (pe_json_get_int(p, "disc_bp", &v) == PE_OK)
        t->b.disc_bp = (int32_t)v;
    pe_json_get_int(p, "disc_amount", &t->b.disc_amount);
    pe_json_get_str(p, "operator", &op);
    snprintf(t->operator_, sizeof t->operator_, "%s", op);
    const char *cust = "";
    if (pe_json_get_str(p, "customer", &cust) == PE_OK && pe_event_id_valid(cust, 1))
        snprintf(t->b.customer, sizeof t->b.customer, "%s", cust);
    t->b.training = pe_totals_training(p);
    const cJSON *l;
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(p, "lines"))
    {
        const char *item = NULL;
        if (pe_json_get_str(l, "item", &item) || t->b.nlines == MAX_LINES)
            continue;
        struct line *dst = &t->b.lines[t->b.nlines];
        memset(dst, 0, sizeof *dst);
        if (lookup(t, item, &dst->item) != PE_OK)
            continue;
        dst->promo = -1;
        dst->tax_bp = dst->item->tax_bp;
        dst->catalog_version = t->cat.version;
        pe_json_get_int(l, "qty", &dst->qty);
        pe_json_get_int(l, "unit_price", &dst->unit_price);
        pe_json_get_int(l, "amount", &dst->amount);
        pe_json_get_int(l, "discount", &dst->discount);
        if (pe_json_get_int(l, "orig_line", &v) == PE_OK)
            dst->orig_line = (int32_t)v;
        /* A basket parked by an older version has no tax rate or version of its own. */
        if (pe_json_get_int(l, "tax_bp", &v) == PE_OK)
            dst->tax_bp = (int32_t)v;
        pe_json_get_int(l, "catalog_version", &dst->catalog_version);
        const char *src = "";
        pe_json_get_str(l, "source", &src);
        snprintf(dst->source, sizeof dst->source, "%s", src);
        t->b.nlines++;
    }
    reprice(t);
    cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(p, "tenders"))
    {
        const char *m = "", *tok = "", *l4 = "", *sch = "", *auth = "";
        pe_json_get_str(l, "method", &m);
        if (strcmp(m, "card") != 0 || t->b.ntenders == MAX_TENDERS)
            continue;
        struct tender *tn = &t->b.tenders[t->b.ntenders++];
        snprintf(tn->method, sizeof tn->method, "card");
        pe_json_get_int(l, "amount", &tn->amount);
        pe_json_get_str(l, "token", &tok);
        pe_json_get_str(l, "last4", &l4);
        pe_json_get_str(l, "scheme", &sch);
        pe_json_get_str(l, "auth", &auth);
        snprintf(tn->token, sizeof tn->token, "%s", tok);
        snprintf(tn->last4, sizeof tn->last4, "%s", l4);
        snprintf(tn->scheme, sizeof tn->scheme, "%s", sch);
        snprintf(tn->auth, sizeof tn->auth, "%s", auth);
    }
    cJSON_Delete(p);
    t->state = t->b.ntenders ? TILL_TENDER : TILL_BASKET;
    pe_info("till.unparked", "id=%s lines=%d", t->b.id, t->b.nlines);
    show(t, "Parked basket resumed", t->b.id);
}

/* ---- applying a catalog ---- */

static void promos_free(struct promos *p)
{
    for (size_t i = 0; i < p->n; i++)
        cJSON_Delete(p->docs[i]);
    free(p->docs);
    free(p->p);
    memset(p, 0, sizeof *p);
}

struct promos_load {
    struct promos *p;
    size_t cap;
};

static int promo_row(const char *id, const char *doc, void *ctx)
{
    struct promos_load *pl = ctx;
    struct promos *p = pl->p;
    cJSON *d = NULL;
    char why[PE_CATALOG_WHY_MAX];
    if (pe_json_parse(doc, strlen(doc), &d, NULL, 0) != PE_OK) {
        pe_error("till.catalog_damaged", "promotion=%s why=\"not JSON\"", id);
        return PE_OK; /* a damaged row is left out, not sold from */
    }
    if (p->n == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 16;
        struct pe_promotion *np = realloc(p->p, cap * sizeof *np);
        if (np)
            p->p = np;
        cJSON **nd = np ? realloc(p->docs, cap * sizeof *nd) : NULL;
        if (nd)
            p->docs = nd;
        if (!np || !nd) {
            cJSON_Delete(d);
            return PE_ENOMEM;
        }
        pl->cap = cap;
    }
    if (pe_catalog_doc_parse_promotion(d, &p->p[p->n], why, sizeof why) != PE_OK) {
        pe_error("till.catalog_damaged", "promotion=%s why=\"%s\"", id, why);
        cJSON_Delete(d);
        return PE_OK;
    }
    p->docs[p->n++] = d;
    return PE_OK;
}

/* Read the catalog in force (its state and promotions) from the journal. */
static int catalog_load(struct pe_till *t)
{
    struct promos fresh = {0};
    struct promos_load pl = {.p = &fresh};
    struct pe_journal_catalog c;
    int rc = pe_journal_catalog_get(t->d.journal, &c);
    if (rc == PE_OK)
        rc = pe_journal_catalog_each(t->d.journal, true, promo_row, &pl);
    if (rc) {
        promos_free(&fresh);
        return rc;
    }
    promos_free(&t->promos);
    t->promos = fresh;
    t->cat = c;
    return PE_OK;
}

/* Store one document (normal form) as an item or a promotion. */
static int put_doc(struct pe_till *t, const cJSON *d, bool promotion)
{
    char *text = NULL;
    int rc = pe_json_canonical(d, &text, NULL);
    const char *id = cJSON_GetObjectItemCaseSensitive(d, "id")->valuestring;
    if (rc == PE_OK && promotion) {
        rc = pe_journal_catalog_put_promotion(t->d.journal, id, text);
    } else if (rc == PE_OK) {
        struct pe_item_doc it;
        rc = pe_catalog_doc_parse_item(d, &it, NULL, 0);
        if (rc == PE_OK)
            rc = pe_journal_catalog_put_item(t->d.journal, id, it.item.barcodes,
                                             it.item.nbarcodes, text, NULL);
    }
    free(text);
    return rc;
}

/* Store every item and promotion of the file, one document at a time. */
static int put_file(struct pe_till *t, const struct pe_catalog *cat)
{
    size_t n = pe_catalog_count(cat), np = pe_catalog_promotion_count(cat);
    int rc = PE_OK;
    for (size_t i = 0; !rc && i < n + np; i++) {
        cJSON *d = NULL;
        rc = i < n ? pe_catalog_item_json(pe_catalog_at(cat, i), pe_catalog_currency(cat), &d)
                   : pe_catalog_promotion_json(pe_catalog_promotion_at(cat, i - n), &d);
        if (!rc)
            rc = put_doc(t, d, i >= n);
        cJSON_Delete(d);
    }
    return rc;
}

/*
 * Version 0: the catalog file (deps->catalog) as the catalog in force, stored in the journal on
 * the first start, and again while no version from HQ has replaced it when the file changed (a
 * new package). Not an event: the file is what the till always sold from before HQ sends one.
 */
static int catalog_seed(struct pe_till *t)
{
    struct pe_journal_catalog now = {0};
    int rc = pe_journal_catalog_get(t->d.journal, &now);
    if ((rc != PE_OK && rc != PE_ENOTFOUND) || !t->d.catalog)
        return rc == PE_ENOTFOUND ? PE_OK : rc;
    bool stored = rc == PE_OK;
    if (stored && now.version > 0)
        return PE_OK; /* HQ's catalog is in force: the file no longer counts */
    struct pe_journal_catalog c = {0};
    snprintf(c.currency, sizeof c.currency, "%s", pe_catalog_currency(t->d.catalog));
    if ((rc = pe_catalog_hash(t->d.catalog, c.hash)))
        return rc;
    if (stored && strcmp(now.hash, c.hash) == 0)
        return PE_OK;
    c.applied_ms = t->d.now(t->d.now_ctx);
    c.items = (int64_t)pe_catalog_count(t->d.catalog);
    c.promotions = (int64_t)pe_catalog_promotion_count(t->d.catalog);
    if ((rc = pe_journal_begin(t->d.journal)))
        return rc;
    if ((rc = pe_journal_catalog_clear(t->d.journal)) || (rc = put_file(t, t->d.catalog)) ||
        (rc = pe_journal_catalog_set(t->d.journal, &c))) {
        pe_journal_rollback(t->d.journal);
        return rc;
    }
    if ((rc = pe_journal_commit(t->d.journal)) == PE_OK)
        pe_info("till.catalog_seeded", "version=0 items=%lld promotions=%lld hash=%s",
                (long long)c.items, (long long)c.promotions, c.hash);
    return rc;
}

/* What building a catalog_applied event needs and learns. */
struct apply_ctx {
    const struct till_catalog_update *u;
    int64_t previous;            /* the version it replaces */
    struct pe_journal_catalog c; /* the one it puts in force */
    char *why;
    size_t len;
};

/* Chunk i of the update (caller deletes), or an error with why said. */
static int get_chunk(struct apply_ctx *a, size_t i, cJSON **out)
{
    *out = NULL;
    int rc = a->u->chunk(a->u->ctx, i, out);
    if (rc == PE_OK && !cJSON_IsObject(*out))
        rc = PE_EINVAL;
    if (rc) {
        cJSON_Delete(*out);
        *out = NULL;
        snprintf(a->why, a->len, "chunk %zu: %s", i, rc == PE_EINVAL ? "not an object"
                                                                    : pe_strerror(rc));
    }
    return rc;
}

/* A member of a chunk that must be a list (absent: empty). */
static const cJSON *chunk_list(const cJSON *chunk, const char *key, size_t i, int *rc, char *why,
                               size_t len)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(chunk, key);
    if (v && !cJSON_IsArray(v) && !*rc) {
        snprintf(why, len, "chunk %zu: %s: not a list", i, key);
        *rc = PE_EINVAL;
    }
    return cJSON_IsArray(v) ? v : NULL;
}

/* Pass 1 of a chunk: what it removes (a delta's delisted items and removed promotions, and the
 * old rows of the items it brings, whose barcodes another item may take in the same update). */
static int apply_removals(struct pe_till *t, struct apply_ctx *a, size_t ci, const cJSON *chunk)
{
    int rc = PE_OK;
    static const struct {
        const char *key;
        bool docs, promotions;
    } lists[] = {{"items", true, false},
                 {"delisted", false, false},
                 {"removed", false, true}};
    for (size_t k = 0; k < sizeof lists / sizeof lists[0] && !rc; k++) {
        const cJSON *arr = chunk_list(chunk, lists[k].key, ci, &rc, a->why, a->len), *e;
        size_t n = 0;
        cJSON_ArrayForEach(e, arr)
        {
            const cJSON *id = lists[k].docs ? cJSON_GetObjectItemCaseSensitive(e, "id") : e;
            if (!cJSON_IsString(id) || !pe_catalog_id_valid(id->valuestring)) {
                if (lists[k].docs)
                    break; /* pass 2 names the bad document */
                snprintf(a->why, a->len, "chunk %zu: %s[%zu]: not an id", ci, lists[k].key, n);
                return PE_EINVAL;
            }
            rc = lists[k].promotions
                     ? pe_journal_catalog_delete_promotion(t->d.journal, id->valuestring)
                     : pe_journal_catalog_delete_item(t->d.journal, id->valuestring);
            if (rc)
                return rc;
            n++;
        }
    }
    return rc;
}

/* Pass 2 of a chunk: every document checked and stored in its normal form. */
static int apply_docs(struct pe_till *t, struct apply_ctx *a, size_t ci, const cJSON *chunk)
{
    int rc = PE_OK;
    char why[PE_CATALOG_WHY_MAX];
    const cJSON *items = chunk_list(chunk, "items", ci, &rc, a->why, a->len);
    const cJSON *promos = chunk_list(chunk, "promotions", ci, &rc, a->why, a->len);
    const cJSON *d;
    size_t i = 0;
    cJSON_ArrayForEach(d, items)
    {
        struct pe_item_doc it;
        cJSON *norm = NULL;
        char *text = NULL, owner[PE_CATALOG_ID_MAX] = "";
        if (rc)
            break;
        if ((rc = pe_catalog_doc_parse_item(d, &it, why, sizeof why))) {
            snprintf(a->why, a->len, "chunk %zu: items[%zu]: %s", ci, i, why);
            break;
        }
        if (strcmp(it.currency, t->d.currency) != 0) {
            snprintf(a->why, a->len, "chunk %zu: items[%zu]: currency: %s, but this till sells in %s",
                     ci, i, it.currency, t->d.currency);
            rc = PE_EINVAL;
            break;
        }
        rc = pe_catalog_item_json(&it.item, it.currency, &norm);
        if (!rc)
            rc = pe_json_canonical(norm, &text, NULL);
        if (!rc)
            rc = pe_journal_catalog_put_item(t->d.journal, it.item.id, it.item.barcodes,
                                             it.item.nbarcodes, text, owner);
        if (rc == PE_EEXIST) {
            snprintf(a->why, a->len, "chunk %zu: items[%zu]: barcodes: one of %s's is also item "
                     "%s's", ci, i, it.item.id, owner);
            rc = PE_EINVAL;
        }
        free(text);
        cJSON_Delete(norm);
        i++;
    }
    i = 0;
    cJSON_ArrayForEach(d, promos)
    {
        struct pe_promotion p;
        cJSON *norm = NULL;
        char *text = NULL;
        if (rc)
            break;
        if ((rc = pe_catalog_doc_parse_promotion(d, &p, why, sizeof why))) {
            snprintf(a->why, a->len, "chunk %zu: promotions[%zu]: %s", ci, i, why);
            break;
        }
        rc = pe_catalog_promotion_json(&p, &norm);
        if (!rc)
            rc = pe_json_canonical(norm, &text, NULL);
        if (!rc)
            rc = pe_journal_catalog_put_promotion(t->d.journal, p.id, text);
        free(text);
        cJSON_Delete(norm);
        i++;
    }
    return rc;
}

struct hash_walk {
    struct pe_catalog_hasher *h;
    bool promotions;
    int64_t count;
    char *why;
    size_t len;
};

static int hash_row(const char *id, const char *doc, void *ctx)
{
    struct hash_walk *w = ctx;
    cJSON *d = NULL;
    char why[PE_CATALOG_WHY_MAX] = "not JSON";
    int rc = pe_json_parse(doc, strlen(doc), &d, NULL, 0);
    if (rc == PE_OK)
        rc = w->promotions ? pe_catalog_hasher_promotion(w->h, d, why, sizeof why)
                           : pe_catalog_hasher_item(w->h, d, why, sizeof why);
    cJSON_Delete(d);
    if (rc) {
        snprintf(w->why, w->len, "%s %s: %s", w->promotions ? "promotion" : "item", id, why);
        return rc == PE_EPARSE ? PE_EINVAL : rc;
    }
    w->count++;
    return PE_OK;
}

/* The content hash and counts of the catalog the open transaction holds. */
static int catalog_hash(struct pe_till *t, struct pe_journal_catalog *c, char *why, size_t len)
{
    struct hash_walk w = {.why = why, .len = len};
    int rc = pe_catalog_hasher_create(&w.h);
    if (rc)
        return rc;
    rc = pe_journal_catalog_each(t->d.journal, false, hash_row, &w);
    c->items = w.count;
    w.promotions = true;
    w.count = 0;
    if (!rc)
        rc = pe_journal_catalog_each(t->d.journal, true, hash_row, &w);
    c->promotions = w.count;
    if (rc) {
        pe_catalog_hasher_free(w.h);
        return rc;
    }
    return pe_catalog_hasher_finish(w.h, c->hash);
}

/* The build of a catalog_applied event: the tables replaced inside the event's transaction,
 * checked whole, and the body saying what is now in force. */
static int apply_build(struct pe_till *t, void *ctx, int64_t seq, cJSON **body)
{
    (void)seq;
    struct apply_ctx *a = ctx;
    const struct till_catalog_update *u = a->u;
    int rc = u->full ? pe_journal_catalog_clear(t->d.journal) : PE_OK;
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (size_t i = 0; i < u->chunks && !rc; i++) {
            cJSON *chunk = NULL;
            if ((rc = get_chunk(a, i, &chunk)))
                break;
            rc = pass == 0 ? apply_removals(t, a, i, chunk) : apply_docs(t, a, i, chunk);
            cJSON_Delete(chunk);
        }
    }
    if (!rc)
        rc = catalog_hash(t, &a->c, a->why, a->len);
    if (!rc && strcmp(a->c.hash, u->hash) != 0) {
        snprintf(a->why, a->len, "content hash %.16s... is not the %.16s... announced", a->c.hash,
                 u->hash);
        rc = PE_ECHAIN;
    }
    a->c.version = u->version;
    a->c.applied_ms = t->d.now(t->d.now_ctx);
    snprintf(a->c.currency, sizeof a->c.currency, "%s", t->d.currency);
    if (!rc)
        rc = pe_journal_catalog_set(t->d.journal, &a->c);
    if (rc)
        return rc;
    int err = 0;
    cJSON *b = obj();
    if (!b)
        return PE_ENOMEM;
    add_i(b, "version", u->version, &err);
    add_s(b, "hash", a->c.hash, &err);
    add_i(b, "items", a->c.items, &err);
    add_i(b, "promotions", a->c.promotions, &err);
    add_i(b, "previous", a->previous, &err);
    if (err) {
        cJSON_Delete(b);
        return err;
    }
    *body = b;
    return PE_OK;
}

int till_catalog_apply(struct pe_till *t, const struct till_catalog_update *u, char *why,
                       size_t len)
{
    char scratch[8];
    if (!why || !len) {
        why = scratch;
        len = sizeof scratch;
    }
    why[0] = '\0';
    if (!u || !u->chunk || u->version < 1 || !pe_is_sha256_hex(u->hash)) {
        snprintf(why, len, "not a catalog version");
        return PE_EINVAL;
    }
    if (t->state != TILL_IDLE || t->awaiting_payment) {
        snprintf(why, len, "a basket is open: applied when it is finished");
        return PE_EBUSY;
    }
    if (!u->full && u->since != t->cat.version) {
        snprintf(why, len, "a delta since version %lld, but version %lld is in force",
                 (long long)u->since, (long long)t->cat.version);
        return PE_ESTATE;
    }
    struct apply_ctx a = {.u = u, .previous = t->cat.version, .why = why, .len = len};
    char id[PE_UUID_STRLEN];
    int rc = pe_rng_uuid(t->d.rng, id);
    if (rc) {
        snprintf(why, len, "cannot draw an event id: %s", pe_strerror(rc));
        return rc;
    }
    struct op op = {
        .type = PE_EV_CATALOG_APPLIED, .id = id, .build = apply_build, .ctx = &a, .quiet = true};
    rc = commit(t, &op, NULL);
    if (rc) {
        if (!why[0])
            snprintf(why, len, "not recorded: %s", pe_strerror(rc));
        return rc;
    }
    /* Committed: the tables are the new version; the promotions in memory follow. */
    if ((rc = catalog_load(t)))
        pe_error("till.catalog_reload", "err=%s (the new version is in force in the journal; "
                                        "promotions are reloaded at the next start)",
                 pe_errname(rc));
    pe_info("till.catalog_applied", "version=%lld previous=%lld items=%lld promotions=%lld "
                                    "hash=%s full=%d",
            (long long)a.c.version, (long long)a.previous, (long long)a.c.items,
            (long long)a.c.promotions, a.c.hash, u->full);
    return PE_OK;
}

void till_catalog(const struct pe_till *t, struct pe_journal_catalog *out)
{
    *out = t->cat;
}

/* ---- lifecycle ---- */

static int64_t wall_clock(void *ctx)
{
    (void)ctx;
    return pe_time_now_ms();
}

int till_create(const struct till_deps *deps, struct pe_till **out)
{
    struct pe_till *t = calloc(1, sizeof *t);
    if (!t)
        return PE_ENOMEM;
    t->d = *deps;
    t->training = deps->training;
    if (!t->d.now)
        t->d.now = wall_clock; /* the real clock when none is given */
    int64_t open = 0;
    int rc = pe_journal_counter_get(t->d.journal, "shift.open", &open);
    if (rc) {
        free(t);
        return rc;
    }
    t->shift_open = open != 0;
    if ((rc = signing_start(t))) {
        pe_error("till.signing_unavailable", "err=%s", pe_errname(rc));
        free(t);
        return rc;
    }
    /* The catalog in force: the journal's, seeded from the file while HQ has sent none. A seed
     * that fails leaves the one stored before, if there is one. */
    int seeded = catalog_seed(t);
    if (seeded)
        pe_warn("till.catalog_seed_failed", "err=%s", pe_errname(seeded));
    if ((rc = catalog_load(t))) {
        pe_error("till.catalog_unavailable", "err=%s", pe_errname(rc));
        promos_free(&t->promos);
        free(t);
        return rc == PE_ENOTFOUND && seeded ? seeded : rc;
    }
    unpark(t);
    if (t->state == TILL_IDLE)
        show(t, "Till ready", t->d.terminal);
    *out = t;
    return PE_OK;
}

void till_destroy(struct pe_till *t)
{
    if (!t)
        return;
    free_lines(&t->b);
    promos_free(&t->promos);
    free(t->stats.lat_us);
    free(t);
}

bool till_awaiting_payment(const struct pe_till *t)
{
    return t->awaiting_payment;
}

bool till_basket_open(const struct pe_till *t)
{
    return t->state != TILL_IDLE;
}

enum till_state till_state(const struct pe_till *t)
{
    return t->state;
}

void till_set_training(struct pe_till *t, bool on)
{
    if (t->training != on)
        pe_info("till.training", "on=%d", on);
    t->training = on;
}

bool till_training(const struct pe_till *t)
{
    return t->training;
}

void till_hold(struct pe_till *t, const char *why)
{
    bool was = t->hold[0] != '\0';
    snprintf(t->hold, sizeof t->hold, "%s", why ? why : "");
    if (was == (t->hold[0] != '\0'))
        return;
    pe_info("till.hold", "on=%d reason=\"%s\"", !was, t->hold);
    if (t->state == TILL_IDLE)
        show(t, was ? "Till ready" : "Please wait", was ? t->d.terminal : t->hold);
}

const struct till_stats *till_stats(const struct pe_till *t)
{
    return &t->stats;
}

const char *till_display_line1(const struct pe_till *t)
{
    return t->line1;
}

bool till_shift_open(const struct pe_till *t)
{
    return t->shift_open;
}

const char *till_operator(const struct pe_till *t)
{
    return t->operator_;
}
