/* SPDX-License-Identifier: Apache-2.0 */
/*
 * protocol.c - topic names of the store's MQTT protocol v1, formatted and parsed in one place.
 *
 * The invariant: every topic string of posedge is built by pe_topic (or written by
 * pe_protocol_acl), so a topic that one daemon publishes is exactly the topic another parses.
 */
#include "posedge/protocol.h"

#include <string.h>

#include "posedge/err.h"

static const char *const channel_names[PE_CH__COUNT] = {
#define PE__CH_NAME(name, str) [PE_CH_##name] = str,
    PE_CHANNELS(PE__CH_NAME)
#undef PE__CH_NAME
};

const char *pe_channel_name(enum pe_channel ch)
{
    return (unsigned)ch < PE_CH__COUNT ? channel_names[ch] : NULL;
}

bool pe_id_reserved(const char *id)
{
    return strcmp(id, PE_ID_BRIDGE) == 0 || strcmp(id, PE_ID_BRIDGE_OLD) == 0;
}

/* An id, or one of the two placeholders a subscription or an ACL pattern may hold. */
static bool id_or_placeholder(const char *s)
{
    return strcmp(s, PE_TOPIC_ANY) == 0 || strcmp(s, PE_TOPIC_USER) == 0 ||
           pe_event_id_valid(s, 1);
}

/* A suffix: 1..64 bytes, no wildcard, no empty level. */
static bool suffix_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64 || s[0] == '/' || s[n - 1] == '/' || strstr(s, "//"))
        return false;
    return strpbrk(s, "+#") == NULL;
}

int pe_topic(char *out, size_t len, const char *store, const char *terminal, enum pe_channel ch,
             const char *suffix)
{
    if (len)
        out[0] = '\0';
    const char *name = pe_channel_name(ch);
    if (!name || !id_or_placeholder(store) || !id_or_placeholder(terminal) ||
        (suffix && (ch == PE_CH_ALL || !suffix_valid(suffix))))
        return PE_EINVAL;
    size_t need = strlen(PE_TOPIC_ROOT) + strlen(store) + strlen(terminal) + strlen(name) + 3 +
                  (suffix ? strlen(suffix) + 1 : 0);
    if (need >= len)
        return PE_ERANGE;
    char *p = out;
    const char *parts[] = {PE_TOPIC_ROOT, store, terminal, name, suffix};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0] && parts[i]; i++) {
        size_t n = strlen(parts[i]);
        if (i)
            *p++ = '/';
        memcpy(p, parts[i], n);
        p += n;
    }
    *p = '\0';
    return PE_OK;
}

/* Copy the level starting at s (up to the next '/') into id when it is a valid id; returns the
 * character after the level's '/', or NULL. */
static const char *take_id(const char *s, char id[PE_ID_MAX])
{
    const char *e = strchr(s, '/');
    if (!e || e == s || e - s >= PE_ID_MAX)
        return NULL;
    memcpy(id, s, (size_t)(e - s));
    id[e - s] = '\0';
    return pe_event_id_valid(id, 1) ? e + 1 : NULL;
}

int pe_topic_parse(const char *topic, char store[PE_ID_MAX], char terminal[PE_ID_MAX],
                   enum pe_channel *ch, const char **suffix)
{
    static const char root[] = PE_TOPIC_ROOT "/";
    if (strncmp(topic, root, sizeof root - 1) != 0)
        return PE_EINVAL;
    const char *rest = take_id(topic + sizeof root - 1, store);
    if (!rest || !(rest = take_id(rest, terminal)))
        return PE_EINVAL;
    /* The longest channel name that is the whole rest or a prefix of it ending at a '/'
     * ("cmd/res" is its own channel, not "cmd" with a suffix). */
    int best = -1;
    size_t best_len = 0;
    for (int c = 0; c < PE_CH__COUNT; c++) {
        if (c == PE_CH_ALL)
            continue;
        size_t n = strlen(channel_names[c]);
        if (n > best_len && strncmp(rest, channel_names[c], n) == 0 &&
            (rest[n] == '\0' || (rest[n] == '/' && rest[n + 1] != '\0'))) {
            best = c;
            best_len = n;
        }
    }
    if (best < 0)
        return PE_EINVAL;
    *ch = (enum pe_channel)best;
    if (suffix)
        *suffix = rest[best_len] ? rest + best_len + 1 : rest + best_len;
    return PE_OK;
}

int pe_protocol_acl(FILE *out, const char *store, const char *bridge_user)
{
    /* What the bridge user may do on every till's channels, then on its own id; what each till
     * may do on its own channels (mosquitto substitutes %u with the username: the terminal). */
    static const struct {
        const char *access;
        enum pe_channel ch;
    } bridge_any[] = {{"read", PE_CH_EVENTS},  {"read", PE_CH_STATE}, {"readwrite", PE_CH_ACK},
                      {"write", PE_CH_CMD},    {"read", PE_CH_CMD_RES}},
      till[] = {{"write", PE_CH_EVENTS}, {"readwrite", PE_CH_STATE}, {"read", PE_CH_ACK},
                {"read", PE_CH_CMD},     {"write", PE_CH_CMD_RES}};
    if (!pe_event_id_valid(store, 1) || !pe_event_id_valid(bridge_user, 1))
        return PE_EINVAL;
    char t[PE_TOPIC_MAX];
    fprintf(out, "# posedge ACL for store %s (mosquitto acl_file)\nuser %s\n", store, bridge_user);
    for (size_t i = 0; i < sizeof bridge_any / sizeof bridge_any[0]; i++) {
        pe_topic(t, sizeof t, store, PE_TOPIC_ANY, bridge_any[i].ch, NULL);
        fprintf(out, "topic %s %s\n", bridge_any[i].access, t);
    }
    pe_topic(t, sizeof t, store, PE_ID_BRIDGE, PE_CH_ALL, NULL);
    fprintf(out,
            "topic readwrite %s\n\n"
            "# each till: only its own topics (%%u is the MQTT username, the terminal id)\n",
            t);
    for (size_t i = 0; i < sizeof till / sizeof till[0]; i++) {
        pe_topic(t, sizeof t, store, PE_TOPIC_USER, till[i].ch, NULL);
        fprintf(out, "pattern %s %s\n", till[i].access, t);
    }
    /* Flushed here, so that a full disk or a closed pipe is this call's PE_EIO. */
    return fflush(out) != 0 || ferror(out) ? PE_EIO : PE_OK;
}
