/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim.c - the simulation engine: a queue of steps, the simulated terminal clock, and the
 * injection of each step into the fake devices through their back doors.
 *
 * A source (sim_scenario.c: a whole script compiled at create; sim_shopper.c: one customer at
 * a time, generated when the queue runs dry) fills the queue. Invariant: one pe_sim_step
 * performs exactly one queued step, which carries at most one device input, and the clock
 * only moves in pe_sim_step, to the step's due time. Presenting a card is not a device input:
 * it happens in the same step as the TENDER_CARD key that uses it. Because the daemon calls
 * pe_sim_step only while pe_sim_pending is false, the till has consumed each input (and read
 * each payment result) before the next one exists, so inputs can never overtake each other.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hal/fake/fake.h"
#include "posedge/clock.h"
#include "posedge/log.h"
#include "sim/sim_int.h"

struct pe_sim {
    struct pe_sim_devices devs; /* borrowed fake devices */
    int64_t now;                /* the sim clock, UTC ms */
    struct sim__step *steps;    /* queued steps; [pos, len) are still to run */
    size_t len;                 /* steps queued */
    size_t pos;                 /* next step to run */
    size_t cap;                 /* allocated entries */
    struct sim__source src;     /* where steps come from; owns src.ctx */
    int64_t customers;          /* sum of the counts of the steps performed */
    int64_t dev_seen[2];        /* inputs taken from real devices: scans, weights */
    int64_t dev_wanted[2];      /* device steps performed, by kind */
    bool done;                  /* the source has nothing more */
};

static void step_release(struct sim__step *st)
{
    free(st->lines);
    st->lines = NULL;
    explicit_bzero(st->pan, sizeof st->pan);
}

int sim__create(const struct pe_sim_devices *devs, int64_t start_ms, const struct sim__source *src,
                struct pe_sim **out, char *err, size_t errlen)
{
    const char *bad = NULL;
    if (!devs || !out || !src || !src->refill)
        return PE_EINVAL;
    /* The scanner and the scale may be real devices (scenario "device" steps wait for them). */
    if (!devs->scanner || !devs->scale)
        bad = !devs->scanner ? "scanner" : "scale";
    else if (!devs->keypad || devs->keypad->dev.ops != &pe_fake_keypad_ops.dev)
        bad = "keypad";
    else if (!devs->payment || devs->payment->dev.ops != &pe_fake_payment_ops.dev)
        bad = "payment";
    if (bad) {
        if (err && errlen)
            snprintf(err, errlen, "sim: the %s must be open with the \"fake\" driver", bad);
        return PE_EINVAL;
    }
    struct pe_sim *sim = calloc(1, sizeof *sim);
    if (!sim)
        return PE_ENOMEM;
    sim->devs = *devs;
    sim->now = start_ms;
    sim->src = *src;
    *out = sim;
    return PE_OK;
}

struct sim__step *sim__append(struct pe_sim *sim)
{
    if (sim->len == sim->cap) {
        size_t ncap = sim->cap ? sim->cap * 2 : 64;
        struct sim__step *n = realloc(sim->steps, ncap * sizeof *n);
        if (!n)
            return NULL;
        sim->steps = n;
        sim->cap = ncap;
    }
    struct sim__step *st = &sim->steps[sim->len++];
    memset(st, 0, sizeof *st);
    return st;
}

void pe_sim_destroy(struct pe_sim *sim)
{
    if (!sim)
        return;
    for (size_t i = sim->pos; i < sim->len; i++)
        step_release(&sim->steps[i]);
    free(sim->steps);
    if (sim->src.destroy)
        sim->src.destroy(sim->src.ctx);
    free(sim);
}

int64_t pe_sim_now(const struct pe_sim *sim)
{
    return sim->now;
}

int64_t pe_sim_customers(const struct pe_sim *sim)
{
    return sim->customers;
}

void pe_sim_device_input(struct pe_sim *sim, int kind)
{
    if (sim && (kind == 0 || kind == 1))
        sim->dev_seen[kind]++;
}

bool pe_sim_pending(const struct pe_sim *sim)
{
    return sim->dev_seen[0] < sim->dev_wanted[0] || sim->dev_seen[1] < sim->dev_wanted[1] ||
           pe_fake_scanner_queued(sim->devs.scanner) > 0 ||
           pe_fake_scale_queued(sim->devs.scale) > 0 ||
           pe_fake_keypad_queued(sim->devs.keypad) > 0 || pe_fake_payment_busy(sim->devs.payment);
}

void pe_sim_sale_committed(struct pe_sim *sim, int64_t seq, const char *id, const cJSON *body)
{
    if (sim && sim->src.committed)
        sim->src.committed(sim->src.ctx, seq, id, body);
}

/* The next step to run, asking the source for more when the queue is empty. */
static int peek(struct pe_sim *sim, struct sim__step **out)
{
    if (sim->pos == sim->len) {
        if (sim->done)
            return PE_EEOF;
        sim->pos = sim->len = 0;
        int rc = sim->src.refill(sim, sim->src.ctx);
        if (rc == PE_ENOMEM) {
            for (size_t i = 0; i < sim->len; i++)
                step_release(&sim->steps[i]);
            sim->len = 0;
            return rc;
        }
        if (rc != PE_OK || sim->len == 0) {
            sim->done = true;
            return PE_EEOF;
        }
    }
    *out = &sim->steps[sim->pos];
    return PE_OK;
}

static int64_t due_of(const struct pe_sim *sim, const struct sim__step *st)
{
    return (st->set_clock ? st->clock_ms : sim->now) + st->advance_ms;
}

int pe_sim_next_due(struct pe_sim *sim, int64_t *due_ms)
{
    struct sim__step *st;
    int rc = peek(sim, &st);
    if (rc)
        return rc;
    *due_ms = due_of(sim, st);
    return PE_OK;
}

static const char *input_name(const struct sim__step *st)
{
    switch (st->input) {
    case SIM_IN_KEY:
        return pe_key_kind_name(st->kind);
    case SIM_IN_SCAN:
        return "scan";
    case SIM_IN_WEIGH:
        return "weigh";
    case SIM_IN_DEVICE:
        return st->qty ? "device_weigh" : "device_scan";
    case SIM_IN_NONE:
        break;
    }
    return "none";
}

static int inject_key(struct pe_sim *sim, struct sim__step *st)
{
    struct pe_key_input k;
    memset(&k, 0, sizeof k);
    k.kind = st->kind;
    k.amount = st->amount;
    k.qty = st->qty;
    k.line = st->line;
    k.percent_bp = st->percent_bp;
    k.flags = st->flags;
    k.ref_seq = st->ref_seq;
    memcpy(k.text, st->text, sizeof k.text);
    k.nlines = st->nlines;
    if (st->nlines > 0)
        memcpy(k.lines, st->lines, (size_t)st->nlines * sizeof k.lines[0]);
    if (st->card) {
        int rc = pe_fake_payment_present(sim->devs.payment, st->pan, st->decline,
                                         st->reason[0] ? st->reason : NULL);
        explicit_bzero(st->pan, sizeof st->pan);
        if (rc)
            return rc;
    }
    return pe_fake_keypad_push(sim->devs.keypad, &k);
}

int pe_sim_step(struct pe_sim *sim)
{
    struct sim__step *st;
    int rc = peek(sim, &st);
    if (rc)
        return rc;
    sim->now = due_of(sim, st);
    switch (st->input) {
    case SIM_IN_KEY:
        rc = inject_key(sim, st);
        break;
    case SIM_IN_SCAN:
        rc = pe_fake_scanner_push(sim->devs.scanner, st->text);
        break;
    case SIM_IN_WEIGH:
        rc = pe_fake_scale_push(sim->devs.scale, st->grams, st->stable);
        break;
    case SIM_IN_DEVICE:
        sim->dev_wanted[st->qty ? 1 : 0]++;
        break;
    case SIM_IN_NONE:
        break;
    }
    char ts[PE_TIME_STRLEN];
    pe_time_format(sim->now, ts);
    if (rc) {
        /* The input is lost, as a scan on a disabled scanner is; the run goes on. */
        pe_warn("sim.inject", "sim_ts=%s line=%d input=%s err=%s", ts, st->lineno, input_name(st),
                pe_errname(rc));
    } else if (st->input == SIM_IN_SCAN) {
        pe_debug("sim.step", "sim_ts=%s input=scan code=%s", ts, st->text);
    } else if (st->input == SIM_IN_WEIGH) {
        pe_debug("sim.step", "sim_ts=%s input=weigh grams=%" PRId32 " stable=%d", ts, st->grams,
                 st->stable ? 1 : 0);
    } else {
        pe_debug("sim.step", "sim_ts=%s input=%s amount=%" PRId64 " flags=%" PRId32 "%s", ts,
                 input_name(st), st->amount, st->flags, st->card ? " card=presented" : "");
    }
    sim->customers += st->counts;
    step_release(st);
    sim->pos++;
    return PE_OK;
}
