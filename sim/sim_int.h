/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sim/sim_int.h - PRIVATE header of the simulator (sim/ and its unit tests): the engine
 * (sim/sim.c) and what its sources plug into it. A source (the scenario runner, the shopper,
 * the dataset replay) turns its input into steps; the engine performs one step at a time on
 * the fake devices through their back doors (hal/fake/fake.h) and keeps the sim clock.
 */
#ifndef POSEDGE_SIM_INT_H
#define POSEDGE_SIM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "posedge/hal/keypad.h"
#include "posedge/sim.h"

enum sim__input {
    SIM_IN_NONE = 0, /* no device input: only moves the clock (a trailing clock/wait) */
    SIM_IN_KEY,      /* a keypad action; with card set, a card is presented first */
    SIM_IN_SCAN,     /* a scanner code (text) */
    SIM_IN_WEIGH,    /* a scale reading */
    SIM_IN_DEVICE,   /* none injected: wait for one from a real device (kind: 0 scan, 1 weigh) */
};

/* One step: at most one device input, with the clock movement before it. */
struct sim__step {
    bool set_clock;             /* set the clock to clock_ms before advancing */
    int64_t clock_ms;           /* see set_clock */
    int64_t advance_ms;         /* then advance the clock by this much */
    enum sim__input input;      /* what to inject */
    enum pe_key_kind kind;      /* SIM_IN_KEY: the key */
    int64_t amount;             /* SIM_IN_KEY: pe_key_input.amount */
    int64_t qty;                /* SIM_IN_KEY: pe_key_input.qty */
    int64_t ref_seq;            /* SIM_IN_KEY: pe_key_input.ref_seq */
    int32_t line;               /* SIM_IN_KEY: pe_key_input.line */
    int32_t percent_bp;         /* SIM_IN_KEY: pe_key_input.percent_bp */
    int32_t flags;              /* SIM_IN_KEY: pe_key_input.flags */
    char text[PE_KEY_TEXT_MAX]; /* SIM_IN_KEY text, or SIM_IN_SCAN code */
    struct pe_key_line *lines;  /* SIM_IN_KEY inventory lines, owned (malloc) */
    int nlines;                 /* entries in lines */
    int32_t grams;              /* SIM_IN_WEIGH */
    bool stable;                /* SIM_IN_WEIGH */
    bool card;                  /* SIM_IN_KEY: present pan first */
    bool decline;               /* the card is declined */
    char pan[20];               /* the test card's number (wiped once presented) */
    char reason[64];            /* decline reason, "" for the default */
    int32_t counts;             /* customers (shopper) or actions (scenario) begun here */
    int lineno;                 /* scenario line, for logs; 0 for the shopper */
};

/* What a source plugs into the engine. */
struct sim__source {
    void *ctx;
    /* Append the next batch of steps (sim__append); PE_EEOF when there is none. */
    int (*refill)(struct pe_sim *sim, void *ctx);
    /* Optional: pe_sim_sale_committed. */
    void (*committed)(void *ctx, int64_t seq, const char *id, const cJSON *body);
    /* Frees ctx. */
    void (*destroy)(void *ctx);
};

/* Check devs (all four fakes) and create an engine with no steps. Errors: PE_EINVAL, PE_ENOMEM.
 * On success the engine owns src->ctx; on error the caller still does. */
int sim__create(const struct pe_sim_devices *devs, int64_t start_ms, const struct sim__source *src,
                struct pe_sim **out, char *err, size_t errlen);
/* A new zeroed step at the end of the queue, or NULL when out of memory. */
struct sim__step *sim__append(struct pe_sim *sim);

#endif
