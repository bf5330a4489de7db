/* SPDX-License-Identifier: Apache-2.0 */
/*
 * till_state.c - what posedge-ctl's commands that look at a store's tills share (ctl.h): their
 * per-till records (a growable array sorted by id; each record begins with the till's id), and
 * what they read alike from a till's retained state document (docs/protocol.md, "Fleet
 * state"): its state word, and its "upgrade" member, which status shows as the UPGRADE column
 * and rollout follows.
 *
 * Everything here comes from the network: a member that is missing, of the wrong type or not
 * of the expected form is read as unknown ("?", "", PE_UPGRADE_UNKNOWN), never trusted, and
 * every string kept is a copy within a fixed bound or checked before it is printed.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "posedge/err.h"
#include "posedge/json.h"

void *ctl_till_get(void *arrayp, size_t *n, size_t *cap, size_t size, const char *id, bool add)
{
    char *v;
    memcpy(&v, arrayp, sizeof v); /* the command's T *, as the char * it converts to */
    for (size_t i = 0; i < *n; i++)
        if (strcmp(v + i * size, id) == 0) /* the id is each record's first member */
            return v + i * size;
    if (!add)
        return NULL;
    if (*n == *cap) {
        size_t room = *cap ? *cap * 2 : 16;
        if (room > SIZE_MAX / size || !(v = realloc(v, room * size)))
            return NULL;
        memcpy(arrayp, &v, sizeof v);
        *cap = room;
    }
    char *rec = v + (*n)++ * size;
    memset(rec, 0, size);
    snprintf(rec, PE_ID_MAX, "%s", id);
    return rec;
}

int ctl_by_id(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b); /* the id is each record's first member */
}

void ctl_state_word(const cJSON *doc, char *out, size_t n)
{
    const char *s = NULL;
    size_t len;
    snprintf(out, n, "?");
    if (pe_json_get_str(doc, "state", &s) == PE_OK && (len = strlen(s)) > 0 && len < n &&
        strspn(s, "abcdefghijklmnopqrstuvwxyz_") == len)
        snprintf(out, n, "%s", s);
}

/* A string member that is a version into out (PE_VERSION_MAX bytes), else "". */
static void version_of(const cJSON *obj, const char *key, char *out)
{
    const char *s = NULL;
    out[0] = '\0';
    if (pe_json_get_str(obj, key, &s) == PE_OK && pe_version_valid(s))
        snprintf(out, PE_VERSION_MAX, "%s", s);
}

bool ctl_upgrade_of(const cJSON *doc, struct ctl_upgrade *out)
{
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(doc, "upgrade");
    const char *s = NULL;
    memset(out, 0, sizeof *out);
    out->outcome = PE_UPGRADE_UNKNOWN;
    if (!cJSON_IsObject(u))
        return false;
    if (pe_json_get_str(u, "id", &s) == PE_OK && s[0] && strlen(s) < sizeof out->id)
        snprintf(out->id, sizeof out->id, "%s", s);
    version_of(u, "version", out->version);
    version_of(u, "previous", out->previous);
    if (pe_json_get_str(u, "outcome", &s) == PE_OK)
        out->outcome = pe_upgrade_outcome_parse(s);
    if (pe_json_get_str(u, "reason", &out->reason) != PE_OK)
        out->reason = NULL;
    return true;
}
