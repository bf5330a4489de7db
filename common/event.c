/* SPDX-License-Identifier: Apache-2.0 */
/*
 * event.c - the v1 event record: type names, the genesis value, sealing and verifying.
 *
 * A sealed record is the canonical JSON of the event with its "hash" member, and
 * hash = hex(SHA-256(prev || canonical bytes of the event without "hash")). The invariant is
 * that pe_event_verify accepts exactly the byte strings pe_event_seal can produce: the record
 * must re-serialise to itself, carry every v1 field with its type and no other member, and
 * hash correctly, so any edited byte is caught here or by the next record's prev.
 *
 * Sealing formats the header members directly after the canonical body. That is exact because
 * every header value has been validated to a character set that JSON never escapes (UUID, hex,
 * ids of [A-Za-z0-9._-], the fixed time format, type names), and because the member names are
 * written in their sorted order: body, hash, id, operator, prev, seq, store, terminal, ts, type,
 * v. Verification does not rely on that shortcut: it re-serialises the whole parsed record.
 */
#include "posedge/event.h"

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/json.h"

#define GENESIS_PREFIX "posedge/v1/genesis/"
#define MEMBERS 11               /* body hash id operator prev seq store terminal ts type v */
#define TS_MAX 253402300799999LL /* 9999-12-31T23:59:59.999Z, the last time the format holds */
#define HASH_MEMBER_LEN 74       /* ,"hash":"<64 hex>" */

static const struct {
    const char *name;
    int fiscal;
    const char *topic;
} types[PE_EV__COUNT] = {
#define PE__EV_ROW(name, str, fiscal, topic) [PE_EV_##name] = {str, fiscal, topic},
    PE_EVENT_TYPES(PE__EV_ROW)
#undef PE__EV_ROW
};

const char *pe_event_type_name(enum pe_event_type t)
{
    return (unsigned)t < PE_EV__COUNT ? types[t].name : NULL;
}

int pe_event_type_parse(const char *s, enum pe_event_type *out)
{
    for (int i = 0; s && i < PE_EV__COUNT; i++) {
        if (strcmp(s, types[i].name) == 0) {
            *out = (enum pe_event_type)i;
            return PE_OK;
        }
    }
    return PE_ENOTFOUND;
}

int pe_event_type_is_fiscal(enum pe_event_type t)
{
    return (unsigned)t < PE_EV__COUNT ? types[t].fiscal : 0;
}

const char *pe_event_type_topic(enum pe_event_type t)
{
    return (unsigned)t < PE_EV__COUNT ? types[t].topic : NULL;
}

/* True when s has min..PE_ID_MAX-1 characters, all of [A-Za-z0-9._-]. */
bool pe_event_id_valid(const char *s, size_t min)
{
    size_t n = 0;
    if (!s)
        return false;
    for (; s[n]; n++) {
        char c = s[n];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok || n >= PE_ID_MAX - 1)
            return false;
    }
    return n >= min;
}

void pe_event_genesis(const char *store, const char *terminal, char out[PE_SHA256_HEXLEN])
{
    /* Ids are at most 32 characters; callers validate them before they reach this point. */
    assert(store && terminal && strlen(store) < PE_ID_MAX && strlen(terminal) < PE_ID_MAX);
    char text[sizeof GENESIS_PREFIX + 2 * PE_ID_MAX];
    int n = snprintf(text, sizeof text, GENESIS_PREFIX "%s/%s", store, terminal);
    uint8_t sum[PE_SHA256_LEN];
    pe_sha256_2(text, (size_t)n, NULL, 0, sum);
    pe_hex(sum, sizeof sum, out);
}

/* Write the reason for a rejection into why, prefixed with "seq N: " when seq is known. */
static void set_why(char *why, size_t whylen, int64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_why(char *why, size_t whylen, int64_t seq, const char *fmt, ...)
{
    if (!why || !whylen)
        return;
    char what[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (seq > 0)
        snprintf(why, whylen, "seq %lld: %s", (long long)seq, what);
    else
        snprintf(why, whylen, "%s", what);
}

int pe_event_seal(const struct pe_event_meta *m, const cJSON *body, const char *prev_hex,
                  char **out, size_t *len, char hash_out[PE_SHA256_HEXLEN])
{
    assert(m && out && hash_out);
    if (m->seq < 1 || !pe_is_uuid(m->id) || !pe_event_id_valid(m->store, 1) ||
        !pe_event_id_valid(m->terminal, 1) || !pe_event_id_valid(m->operator_, 0) || m->ts_ms < 0 ||
        m->ts_ms > TS_MAX || !pe_event_type_name(m->type) || !pe_is_sha256_hex(prev_hex) ||
        !cJSON_IsObject(body))
        return PE_EINVAL;

    char *bodytext = NULL;
    size_t bodylen = 0;
    int rc = pe_json_canonical(body, &bodytext, &bodylen);
    if (rc)
        return rc;

    char ts[PE_TIME_STRLEN];
    pe_time_format(m->ts_ms, ts);
    /* Every value below is free of characters JSON escapes (see the file comment). */
    char tail[512];
    int taillen = snprintf(tail, sizeof tail,
                           ",\"id\":\"%s\",\"operator\":\"%s\",\"prev\":\"%s\",\"seq\":%lld,"
                           "\"store\":\"%s\",\"terminal\":\"%s\",\"ts\":\"%s\",\"type\":\"%s\","
                           "\"v\":%d}",
                           m->id, m->operator_, prev_hex, (long long)m->seq, m->store, m->terminal,
                           ts, pe_event_type_name(m->type), PE_EVENT_VERSION);
    assert(taillen > 0 && (size_t)taillen < sizeof tail);

    static const char head[] = "{\"body\":";
    size_t headlen = sizeof head - 1;
    size_t unsealed = headlen + bodylen + (size_t)taillen;
    char *rec = malloc(unsealed + HASH_MEMBER_LEN + 1);
    if (!rec) {
        rc = PE_ENOMEM;
        goto free_body;
    }
    /* First the bytes without "hash", which the hash covers ... */
    memcpy(rec, head, headlen);
    memcpy(rec + headlen, bodytext, bodylen);
    memcpy(rec + headlen + bodylen, tail, (size_t)taillen);
    uint8_t sum[PE_SHA256_LEN];
    pe_sha256_2(prev_hex, 64, rec, unsealed, sum);
    pe_hex(sum, sizeof sum, hash_out);

    /* ... then "hash" goes in its sorted place, between body and id. */
    char *at = rec + headlen + bodylen;
    memmove(at + HASH_MEMBER_LEN, at, (size_t)taillen);
    memcpy(at, ",\"hash\":\"", 9);
    memcpy(at + 9, hash_out, 64);
    at[73] = '"';
    rec[unsealed + HASH_MEMBER_LEN] = '\0';

    *out = rec;
    if (len)
        *len = unsealed + HASH_MEMBER_LEN;
free_body:
    free(bodytext);
    return rc;
}

/* Read the v1 header members of rec into m, naming the first wrong one in why. */
static int read_header(const cJSON *rec, struct pe_event_meta *m, const char **prev,
                       const char **hash, char *why, size_t whylen)
{
    const char *s = NULL;
    int64_t v = 0;
    bool ok;

    memset(m, 0, sizeof *m);
    if (pe_json_get_int(rec, "seq", &m->seq) || m->seq < 1) {
        m->seq = 0;
        set_why(why, whylen, 0, "seq is missing or not a positive integer");
        return PE_EINVAL;
    }
    if (cJSON_GetArraySize(rec) != MEMBERS) {
        set_why(why, whylen, m->seq, "record does not have exactly the v1 members");
        return PE_EINVAL;
    }
    if (pe_json_get_int(rec, "v", &v) || v != PE_EVENT_VERSION) {
        set_why(why, whylen, m->seq, "v is not 1");
        return PE_EINVAL;
    }
    ok = pe_json_get_str(rec, "id", &s) == PE_OK && pe_is_uuid(s);
    if (!ok) {
        set_why(why, whylen, m->seq, "id is not a UUID");
        return PE_EINVAL;
    }
    memcpy(m->id, s, PE_UUID_STRLEN);

    static const struct {
        const char *key;
        size_t off;
        size_t min;
    } ids[] = {
        {"store", offsetof(struct pe_event_meta, store), 1},
        {"terminal", offsetof(struct pe_event_meta, terminal), 1},
        {"operator", offsetof(struct pe_event_meta, operator_), 0},
    };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        if (pe_json_get_str(rec, ids[i].key, &s) || !pe_event_id_valid(s, ids[i].min)) {
            set_why(why, whylen, m->seq, "%s is not a valid id", ids[i].key);
            return PE_EINVAL;
        }
        memcpy((char *)m + ids[i].off, s, strlen(s) + 1);
    }
    if (pe_json_get_str(rec, "ts", &s) || pe_time_parse(s, &m->ts_ms) || m->ts_ms < 0) {
        set_why(why, whylen, m->seq, "ts is not a UTC time");
        return PE_EINVAL;
    }
    if (pe_json_get_str(rec, "type", &s) || pe_event_type_parse(s, &m->type)) {
        set_why(why, whylen, m->seq, "type is not a v1 event type");
        return PE_EINVAL;
    }
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(rec, "body"))) {
        set_why(why, whylen, m->seq, "body is not an object");
        return PE_EINVAL;
    }
    if (pe_json_get_str(rec, "prev", prev) || !pe_is_sha256_hex(*prev)) {
        set_why(why, whylen, m->seq, "prev is not a SHA-256 hex value");
        return PE_EINVAL;
    }
    if (pe_json_get_str(rec, "hash", hash) || !pe_is_sha256_hex(*hash)) {
        set_why(why, whylen, m->seq, "hash is not a SHA-256 hex value");
        return PE_EINVAL;
    }
    return PE_OK;
}

/*
 * Hash rec without its "hash" member. In a canonical v1 record that member directly follows
 * the body and is the last ",\"hash\":\"" in the text, because every member after it holds
 * only validated characters that cannot spell it.
 */
static int rehash(const char *rec, size_t len, const char *prev, const char *hash,
                  char out[PE_SHA256_HEXLEN])
{
    static const char key[] = ",\"hash\":\"";
    const char *at = NULL;
    for (size_t i = len >= HASH_MEMBER_LEN ? len - HASH_MEMBER_LEN + 1 : 0; i-- > 0;) {
        if (memcmp(rec + i, key, sizeof key - 1) == 0) {
            at = rec + i;
            break;
        }
    }
    if (!at || memcmp(at + 9, hash, 64) != 0 || at[73] != '"')
        return PE_EINVAL;
    size_t before = (size_t)(at - rec);
    uint8_t sum[PE_SHA256_LEN];
    /* SHA-256(prev || rec[0, at) || rec[at + 74, len)): the record as it was before sealing. */
    char *unsealed = malloc(len - HASH_MEMBER_LEN);
    if (!unsealed)
        return PE_ENOMEM;
    memcpy(unsealed, rec, before);
    memcpy(unsealed + before, at + HASH_MEMBER_LEN, len - before - HASH_MEMBER_LEN);
    pe_sha256_2(prev, 64, unsealed, len - HASH_MEMBER_LEN, sum);
    free(unsealed);
    pe_hex(sum, sizeof sum, out);
    return PE_OK;
}

int pe_event_verify(const char *rec, size_t len, int64_t expect_seq, const char *expect_prev,
                    struct pe_event_meta *meta, char hash_out[PE_SHA256_HEXLEN], cJSON **rec_out,
                    char *why, size_t whylen)
{
    cJSON *root = NULL;
    char *canon = NULL;
    size_t canonlen = 0;
    struct pe_event_meta m;
    const char *prev = NULL, *hash = NULL;
    char computed[PE_SHA256_HEXLEN];
    char what[64];

    if (why && whylen)
        why[0] = '\0';
    int rc = pe_json_parse(rec, len, &root, what, sizeof what);
    if (rc) {
        set_why(why, whylen, 0, "%s", rc == PE_EPARSE ? what : "out of memory");
        return rc;
    }
    if (!cJSON_IsObject(root)) {
        set_why(why, whylen, 0, "record is not a JSON object");
        rc = PE_EINVAL;
        goto free_root;
    }
    /* Read seq before anything else, so that every later reason can name the record. */
    int64_t seq = 0;
    if (pe_json_get_int(root, "seq", &seq) || seq < 1)
        seq = 0;
    rc = pe_json_canonical(root, &canon, &canonlen);
    if (rc == PE_ENOMEM) {
        set_why(why, whylen, seq, "out of memory");
        goto free_root;
    }
    if (rc || canonlen != len || memcmp(canon, rec, len) != 0) {
        set_why(why, whylen, seq, "not canonical");
        rc = PE_EINVAL;
        goto free_canon;
    }
    rc = read_header(root, &m, &prev, &hash, why, whylen);
    if (rc)
        goto free_canon;
    if (expect_seq > 0 && m.seq != expect_seq) {
        set_why(why, whylen, m.seq, "expected seq %lld", (long long)expect_seq);
        rc = PE_ECHAIN;
        goto free_canon;
    }
    if (expect_prev && strcmp(prev, expect_prev) != 0) {
        if (m.seq == 1)
            set_why(why, whylen, m.seq, "prev does not match the genesis value");
        else
            set_why(why, whylen, m.seq, "prev does not match the hash of seq %lld",
                    (long long)(m.seq - 1));
        rc = PE_ECHAIN;
        goto free_canon;
    }
    rc = rehash(rec, len, prev, hash, computed);
    if (rc == PE_EINVAL)
        set_why(why, whylen, m.seq, "hash member out of place");
    if (rc)
        goto free_canon;
    if (strcmp(computed, hash) != 0) {
        set_why(why, whylen, m.seq, "hash mismatch");
        rc = PE_ECHAIN;
        goto free_canon;
    }

    if (meta)
        *meta = m;
    if (hash_out)
        memcpy(hash_out, hash, PE_SHA256_HEXLEN);
    if (rec_out) {
        *rec_out = root;
        root = NULL;
    }
free_canon:
    free(canon);
free_root:
    cJSON_Delete(root);
    return rc;
}
