/* SPDX-License-Identifier: Apache-2.0 */
/*
 * profile_native.c - the native output profile: the canonical record itself, unchanged, on the
 * topic of its event type (topics.<type>). It is the bridge's behaviour before profiles
 * existed and the implicit sink when none is configured; reconcile reads these records.
 */
#include "bridge/profile.h"

#include <stdio.h>

#include "posedge/err.h"
#include "posedge/event.h"

static int native_map(const struct bridge_sink *s, const struct bridge_cfg *cfg,
                      const struct profile_event *ev, struct profile_out *out, char *why,
                      size_t whylen)
{
    enum pe_event_type t;
    (void)s;
    if (pe_event_type_parse(ev->type, &t) != PE_OK) {
        snprintf(why, whylen, "unknown event type %s", ev->type);
        return PE_EINVAL;
    }
    /* Borrowed: the spool row outlives the produce call. */
    return profile_out_add(out, cfg->topic[t], (void *)ev->rec, ev->len, false);
}

const struct profile_ops profile_native = {
    .name = "native",
    .default_topic = NULL,
    .options = NULL,
    .needs_doc = false,
    .map = native_map,
};
