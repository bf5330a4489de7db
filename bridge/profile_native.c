/* SPDX-License-Identifier: Apache-2.0 */
/*
 * profile_native.c - the native output profile: the canonical record itself, unchanged, on the
 * topic of its event type (topics.<type>). It is the bridge's behaviour before profiles
 * existed and the implicit sink when none is configured; reconcile reads these records. It has
 * no options and no state.
 */
#include "bridge/profile.h"

#include "posedge/err.h"
#include "posedge/event.h"

static int native_map(struct profile_sink *s, const struct profile_event *ev,
                      struct profile_out *out, char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    /* Borrowed: the spool row outlives the produce call. */
    return profile_out_add(out, s->cfg->topic[ev->etype], (void *)ev->rec, ev->len, false);
}

const struct profile_ops profile_native = {
    .name = "native",
    .default_topic = NULL,
    .needs_doc = false,
    .types = PE_EV_ALL,
    .keeps_training = true, /* the record as the till made it, flag and all */
    .map = native_map,
};
