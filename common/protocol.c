/* SPDX-License-Identifier: Apache-2.0 */
/*
 * protocol.c - topic names of the store's MQTT protocol v1, formatted and parsed in one place.
 *
 * The invariant: every topic string of posedge is built by pe_topic (or written by
 * pe_protocol_acl), so a topic that one daemon publishes is exactly the topic another parses.
 */
#include "posedge/protocol.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/secret.h"

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

bool pe_version_valid(const char *s)
{
    size_t len = s ? strlen(s) : 0;
    return len >= 1 && len < PE_VERSION_MAX && s[0] >= '0' && s[0] <= '9' &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.+~:-") == len;
}

static const struct {
    const char *word;
    bool final;
} outcomes[] = {
#define PE__OUTCOME_ROW(name, w, f) [PE_UPGRADE_##name] = {w, f},
    PE_UPGRADE_OUTCOMES(PE__OUTCOME_ROW)
#undef PE__OUTCOME_ROW
};

const char *pe_upgrade_outcome_word(enum pe_upgrade_outcome o)
{
    return (size_t)o < sizeof outcomes / sizeof *outcomes ? outcomes[o].word : "?";
}

enum pe_upgrade_outcome pe_upgrade_outcome_parse(const char *word)
{
    for (size_t i = 0; word && i < sizeof outcomes / sizeof *outcomes; i++)
        if (strcmp(outcomes[i].word, word) == 0)
            return (enum pe_upgrade_outcome)i;
    return PE_UPGRADE_UNKNOWN;
}

bool pe_upgrade_outcome_final(enum pe_upgrade_outcome o)
{
    return (size_t)o < sizeof outcomes / sizeof *outcomes && outcomes[o].final;
}

bool pe_events_next_line(const char **p, const char *end, struct pe_events_line *out)
{
    const char *s = *p;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        *p = nl ? nl + 1 : end;
        if (e == s) {
            s = *p;
            continue; /* an empty line */
        }
        const char *tab = memchr(s, PE_EVENTS_SIG_SEP, (size_t)(e - s));
        memset(out, 0, sizeof *out);
        out->rec = s;
        if (tab && tab + 1 == e) {
            out->len = (size_t)(e - s);
            out->bare_tab = true;
        } else if (tab) {
            out->len = (size_t)(tab - s);
            out->sig = tab + 1;
            out->siglen = (size_t)(e - tab - 1);
        } else {
            out->len = (size_t)(e - s);
        }
        return true;
    }
    *p = end;
    return false;
}

/* An id, or one of the two placeholders a subscription or an ACL pattern may hold. */
static bool id_or_placeholder(const char *s)
{
    return strcmp(s, PE_TOPIC_ANY) == 0 || strcmp(s, PE_TOPIC_USER) == 0 ||
           strcmp(s, PE_TOPIC_CLIENT) == 0 || pe_event_id_valid(s, 1);
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

/* One line of an ACL: what may be done on which channel. */
struct acl_rule {
    const char *access; /* read, write or readwrite */
    enum pe_channel ch;
};

/* What a till may do on its own channels (the patterns of both modes). */
static const struct acl_rule till_rules[] = {
    {"write", PE_CH_EVENTS}, {"readwrite", PE_CH_STATE},   {"read", PE_CH_ACK},
    {"read", PE_CH_CMD},     {"write", PE_CH_CMD_RES},     {"write", PE_CH_CATALOG_GET},
    {"read", PE_CH_CATALOG_DATA},
};
/* What the bridge user may do on every till's channels. */
static const struct acl_rule bridge_rules[] = {
    {"read", PE_CH_EVENTS}, {"read", PE_CH_STATE},       {"readwrite", PE_CH_ACK},
    {"write", PE_CH_CMD},   {"read", PE_CH_CMD_RES},     {"read", PE_CH_CATALOG_GET},
    {"write", PE_CH_CATALOG_DATA},
};
/* In TLS mode, besides: a till renews over its own connection (the answer comes on
 * enrol/res), and the bridge's signer reads renewals and enrolments and answers them. */
static const struct acl_rule till_tls_rules[] = {{"write", PE_CH_RENEW}, {"read", PE_CH_ENROL_RES}};
static const struct acl_rule signer_rules[] = {
    {"read", PE_CH_ENROL}, {"read", PE_CH_RENEW}, {"write", PE_CH_ENROL_RES}};
/* HQ's tool (posedge-ctl status and fleet as "<store>/hq"): commands, and what it reads. */
static const struct acl_rule hq_rules[] = {{"write", PE_CH_CMD},
                                           {"read", PE_CH_STATE},
                                           {"read", PE_CH_CMD_RES},
                                           {"read", PE_CH_ACK},
                                           {"read", PE_CH_CATALOG}};
#define NRULES(a) (sizeof a / sizeof a[0])

/* "topic ACCESS posedge/v1/<store>/+/<channel>" for each rule. */
static void rules_any(FILE *out, const char *store, const struct acl_rule *r, size_t n)
{
    char t[PE_TOPIC_MAX];
    for (size_t i = 0; i < n; i++) {
        pe_topic(t, sizeof t, store, PE_TOPIC_ANY, r[i].ch, NULL);
        fprintf(out, "topic %s %s\n", r[i].access, t);
    }
}

/* Every till reads the store catalog's version document, retained on the bridge's own id. */
static void till_reads_bridge(FILE *out, const char *store)
{
    char t[PE_TOPIC_MAX];
    pe_topic(t, sizeof t, store, PE_ID_BRIDGE, PE_CH_CATALOG, NULL);
    fprintf(out, "pattern read %s\n", t);
}

/* Flushed here, so that a full disk or a closed pipe is the caller's PE_EIO. */
static int acl_done(FILE *out)
{
    return fflush(out) != 0 || ferror(out) ? PE_EIO : PE_OK;
}

int pe_protocol_acl(FILE *out, const char *store, const char *bridge_user)
{
    /* What the bridge user may do on every till's channels, then on its own id; what each till
     * may do on its own channels (mosquitto substitutes %u with the username: the terminal). */
    if (!pe_event_id_valid(store, 1) || !pe_event_id_valid(bridge_user, 1))
        return PE_EINVAL;
    char t[PE_TOPIC_MAX];
    fprintf(out, "# posedge ACL for store %s (mosquitto acl_file)\nuser %s\n", store, bridge_user);
    rules_any(out, store, bridge_rules, NRULES(bridge_rules));
    pe_topic(t, sizeof t, store, PE_ID_BRIDGE, PE_CH_ALL, NULL);
    fprintf(out,
            "topic readwrite %s\n\n"
            "# each till: only its own topics (%%u is the MQTT username, the terminal id)\n",
            t);
    for (size_t i = 0; i < NRULES(till_rules); i++) {
        pe_topic(t, sizeof t, store, PE_TOPIC_USER, till_rules[i].ch, NULL);
        fprintf(out, "pattern %s %s\n", till_rules[i].access, t);
    }
    till_reads_bridge(out, store);
    return acl_done(out);
}

/* Mutual TLS: usernames are certificate CNs, "<store>/<name>" (pki.h). */
static int acl_tls(FILE *out, const char *store)
{
    char t[PE_TOPIC_MAX];
    fprintf(out,
            "# posedge ACL for store %s, mutual TLS (mosquitto acl_file; "
            "use_identity_as_username:\n"
            "# the username is the client certificate's CN, \"<store>/<name>\")\n"
            "user %s/%s\n",
            store, store, PE_ID_BRIDGE);
    rules_any(out, store, bridge_rules, NRULES(bridge_rules));
    rules_any(out, store, signer_rules, NRULES(signer_rules));
    pe_topic(t, sizeof t, store, PE_ID_BRIDGE, PE_CH_ALL, NULL);
    fprintf(out, "topic readwrite %s\n\n# HQ's tool (posedge-ctl status and fleet)\nuser %s/hq\n",
            t, store);
    rules_any(out, store, hq_rules, NRULES(hq_rules));
    /* posedge-ctl's round-trip probe (status, fleet) lives on the bridge's probe channel. */
    pe_topic(t, sizeof t, store, PE_ID_BRIDGE, PE_CH_PROBE, NULL);
    fprintf(out,
            "topic readwrite %s/#\n\n"
            "# each till: only its own topics (%%u = \"<store>/<terminal>\", store and terminal\n"
            "# both from its certificate)\n",
            t);
    const struct acl_rule *sets[] = {till_rules, till_tls_rules};
    size_t counts[] = {NRULES(till_rules), NRULES(till_tls_rules)};
    for (size_t k = 0; k < 2; k++)
        for (size_t i = 0; i < counts[k]; i++)
            fprintf(out, "pattern %s %s/%s/%s\n", sets[k][i].access, PE_TOPIC_ROOT,
                    PE_TOPIC_USER, pe_channel_name(sets[k][i].ch));
    till_reads_bridge(out, store);
    return acl_done(out);
}

/* The enrolment listener: anonymous clients whose client id is their terminal id. */
static int acl_enrol(FILE *out, const char *store)
{
    char t[PE_TOPIC_MAX];
    fprintf(out, "# posedge enrolment ACL for store %s (mosquitto acl_file of the enrolment\n"
                 "# listener: anonymous, %%c is the MQTT client id, the terminal id)\n",
            store);
    pe_topic(t, sizeof t, store, PE_TOPIC_CLIENT, PE_CH_ENROL, NULL);
    fprintf(out, "pattern write %s\n", t);
    pe_topic(t, sizeof t, store, PE_TOPIC_CLIENT, PE_CH_ENROL_RES, NULL);
    fprintf(out, "pattern read %s\n", t);
    return acl_done(out);
}

int pe_protocol_acl_kind(FILE *out, enum pe_acl_kind kind, const char *store,
                         const char *bridge_user)
{
    if (!pe_event_id_valid(store, 1))
        return PE_EINVAL;
    switch (kind) {
    case PE_ACL_PASSWORD:
        return pe_protocol_acl(out, store, bridge_user);
    case PE_ACL_TLS:
        return acl_tls(out, store);
    case PE_ACL_ENROL:
        return acl_enrol(out, store);
    }
    return PE_EINVAL;
}

/* ---- enrolment messages ---- */

static bool req_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= PE_ENROL_REQ_MAX &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") == n;
}

static bool token_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= PE_ENROL_TOKEN_MAX &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789- ") == n;
}

/* PEM of a kind ("CERTIFICATE REQUEST", "CERTIFICATE"): its armour, printable ASCII and line
 * ends only, at most PE_ENROL_PEM_MAX bytes. */
static bool pem_valid(const char *s, const char *kind)
{
    char head[64];
    size_t n = s ? strlen(s) : 0;
    snprintf(head, sizeof head, "-----BEGIN %s-----", kind);
    if (n < strlen(head) || n > PE_ENROL_PEM_MAX || strncmp(s, head, strlen(head)) != 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= ' ' && s[i] < 0x7f) || s[i] == '\n' || s[i] == '\r'))
            return false;
    return true;
}

/* Append text to the buffer at *p (room checked by the caller's sizing), JSON-escaped: the
 * strings here are printable ASCII with line ends (checked), so only those need escaping. */
static char *put_json_str(char *p, const char *s)
{
    *p++ = '"';
    for (; *s; s++) {
        if (*s == '\n' || *s == '\r') {
            *p++ = '\\';
            *p++ = *s == '\n' ? 'n' : 'r';
        } else {
            if (*s == '"' || *s == '\\')
                *p++ = '\\';
            *p++ = *s;
        }
    }
    *p++ = '"';
    return p;
}

int pe_enrol_request_json(const struct pe_enrol_request *r, char **out)
{
    if (!r || !req_valid(r->req) || (r->token && !token_valid(r->token)) ||
        !pem_valid(r->csr, "CERTIFICATE REQUEST"))
        return PE_EINVAL;
    size_t need = 64 + 2 * (strlen(r->req) + (r->token ? strlen(r->token) : 0) + strlen(r->csr));
    char *b = malloc(need), *p = b;
    if (!b)
        return PE_ENOMEM;
    p += sprintf(p, "{\"v\":1,\"req\":");
    p = put_json_str(p, r->req);
    if (r->token) {
        p += sprintf(p, ",\"token\":");
        p = put_json_str(p, r->token);
    }
    p += sprintf(p, ",\"csr\":");
    p = put_json_str(p, r->csr);
    *p++ = '}';
    *p = '\0';
    *out = b;
    return PE_OK;
}

/* Parse into *doc, leaving no unwiped copy of the text (it may hold a token). */
static int parse_private(const void *payload, size_t len, cJSON **doc, char *why, size_t whylen)
{
    *doc = NULL;
    if (len > 4 * PE_ENROL_PEM_MAX || (len && memchr(payload, '\0', len))) {
        snprintf(why, whylen, "not a JSON object of at most %d bytes", 4 * PE_ENROL_PEM_MAX);
        return PE_EPARSE;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return PE_ENOMEM;
    if (len)
        memcpy(copy, payload, len);
    copy[len] = '\0';
    cJSON *d = cJSON_ParseWithLengthOpts(copy, len + 1, NULL, 1);
    pe_secret_wipe(copy, len + 1);
    free(copy);
    if (!d || !cJSON_IsObject(d)) {
        cJSON_Delete(d);
        snprintf(why, whylen, "not a JSON object");
        return PE_EPARSE;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(d, "v");
    if (!cJSON_IsNumber(v) || v->valuedouble != 1) {
        *doc = d; /* the caller frees it (wiping what it holds) */
        snprintf(why, whylen, "v: expected 1");
        return PE_EINVAL;
    }
    *doc = d;
    return PE_OK;
}

static const char *str_member(const cJSON *d, const char *key)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(d, key);
    return cJSON_IsString(m) ? m->valuestring : NULL;
}

int pe_enrol_request_parse(const void *payload, size_t len, bool renew, struct cJSON **doc,
                           struct pe_enrol_request *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    int rc = parse_private(payload, len, doc, why, whylen);
    if (rc)
        return rc;
    const cJSON *d = *doc;
    out->req = str_member(d, "req");
    out->token = str_member(d, "token");
    out->csr = str_member(d, "csr");
    if (!req_valid(out->req)) {
        snprintf(why, whylen, "req: expected 1 to %d of A-Z a-z 0-9 . _ : -", PE_ENROL_REQ_MAX);
        return PE_EINVAL;
    }
    if (renew && cJSON_GetObjectItemCaseSensitive(d, "token")) {
        snprintf(why, whylen, "token: a renewal carries none (the certificate authenticates it)");
        return PE_EINVAL;
    }
    if (!renew && !token_valid(out->token)) {
        snprintf(why, whylen, "token: expected the enrolment token (1 to %d letters, digits, '-')",
                 PE_ENROL_TOKEN_MAX);
        return PE_EINVAL;
    }
    if (!pem_valid(out->csr, "CERTIFICATE REQUEST")) {
        snprintf(why, whylen, "csr: expected a PEM certificate request of at most %d bytes",
                 PE_ENROL_PEM_MAX);
        return PE_EINVAL;
    }
    return PE_OK;
}

void pe_enrol_request_free(struct cJSON *doc)
{
    cJSON *t = doc ? cJSON_GetObjectItemCaseSensitive(doc, "token") : NULL;
    if (cJSON_IsString(t) && t->valuestring)
        pe_secret_wipe(t->valuestring, strlen(t->valuestring));
    cJSON_Delete(doc);
}

int pe_enrol_answer_json(const struct pe_enrol_answer *a, char **out)
{
    if (!a || !req_valid(a->req) || (a->ok && !pem_valid(a->cert, "CERTIFICATE")) ||
        (!a->ok && (!a->error || !a->reason)))
        return PE_EINVAL;
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddNumberToObject(o, "v", 1) &&
              cJSON_AddStringToObject(o, "req", a->req) &&
              cJSON_AddBoolToObject(o, "ok", a->ok) &&
              (a->ok ? cJSON_AddStringToObject(o, "cert", a->cert) != NULL
                     : cJSON_AddStringToObject(o, "error", a->error) &&
                           cJSON_AddStringToObject(o, "reason", a->reason));
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s)
        return PE_ENOMEM;
    *out = s;
    return PE_OK;
}

int pe_enrol_answer_parse(const void *payload, size_t len, struct cJSON **doc,
                          struct pe_enrol_answer *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    int rc = parse_private(payload, len, doc, why, whylen);
    if (rc)
        return rc;
    const cJSON *d = *doc, *ok = cJSON_GetObjectItemCaseSensitive(d, "ok");
    out->req = str_member(d, "req");
    if (!req_valid(out->req)) {
        snprintf(why, whylen, "req: expected 1 to %d of A-Z a-z 0-9 . _ : -", PE_ENROL_REQ_MAX);
        return PE_EINVAL;
    }
    if (!cJSON_IsBool(ok)) {
        snprintf(why, whylen, "ok: expected true or false");
        return PE_EINVAL;
    }
    out->ok = cJSON_IsTrue(ok);
    if (out->ok) {
        out->cert = str_member(d, "cert");
        if (!pem_valid(out->cert, "CERTIFICATE")) {
            snprintf(why, whylen, "cert: expected a PEM certificate of at most %d bytes",
                     PE_ENROL_PEM_MAX);
            return PE_EINVAL;
        }
        return PE_OK;
    }
    out->error = str_member(d, "error");
    out->reason = str_member(d, "reason");
    if (!out->error || !out->reason) {
        snprintf(why, whylen, "error, reason: expected strings in a refusal");
        return PE_EINVAL;
    }
    return PE_OK;
}
