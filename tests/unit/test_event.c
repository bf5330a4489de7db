/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_event.c - unit tests of sealing and verifying v1 records (common/event.c).
 *
 * The property that matters: a record verifies exactly as sealed, and any change to any of its
 * bytes, or a wrong predecessor, is refused. Known-answer values pin the hash function and the
 * genesis derivation, so two builds can never disagree about a chain.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/clock.h"
#include "posedge/crypto.h"
#include "posedge/err.h"
#include "posedge/event.h"
#include "posedge/json.h"
#include "tests/unit/harness.h"

/* printf 'posedge/v1/genesis/s001/t01' | sha256sum */
#define GENESIS_S001_T01 "7637fee5221eb6062a7b485b4a4a29f3e7595f0b24f2782bf6214201021af338"
/* printf 'posedge/v1/genesis/s001/t02' | sha256sum */
#define GENESIS_S001_T02 "bb271b39f74a1e0f0d52796e699daa1e8abfe0fd2c867bd784b62dad5df56c76"
/* printf 'abc' | sha256sum */
#define SHA256_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void meta_init(struct pe_event_meta *m, int64_t seq)
{
    memset(m, 0, sizeof *m);
    m->seq = seq;
    snprintf(m->id, sizeof m->id, "6f1c2a3b-4d5e-4f60-8a7b-%012lld", (long long)seq);
    strcpy(m->store, "s001");
    strcpy(m->terminal, "t01");
    strcpy(m->operator_, "op17");
    m->type = PE_EV_SALE;
    m->ts_ms = 1795256102123LL; /* 2026-11-21T10:15:02.123Z */
}

static cJSON *sale_body(int total)
{
    const char *text = "{\"currency\":\"EUR\",\"lines\":[{\"item\":\"4006381333931\",\"name\":"
                       "\"Caf\xc3\xa9 cr\xc3\xa8me \\\"bio\\\"\",\"qty\":2,\"unit\":175,"
                       "\"tax_bp\":700}],\"tenders\":[{\"method\":\"card\",\"last4\":\"4242\"}],"
                       "\"note\":\"a/b\\tc\",\"hash\":\"not the record's\"}";
    cJSON *b = NULL;
    CHECK_OK(pe_json_parse(text, strlen(text), &b, NULL, 0));
    CHECK_OK(pe_json_add_int(b, "total", total));
    return b;
}

/* Seal one record with the default meta; caller frees *rec. */
static void seal(int64_t seq, const char *prev, char **rec, size_t *len,
                 char hash[PE_SHA256_HEXLEN])
{
    struct pe_event_meta m;
    meta_init(&m, seq);
    cJSON *b = sale_body((int)seq * 100);
    CHECK_OK(pe_event_seal(&m, b, prev, rec, len, hash));
    cJSON_Delete(b);
}

static void t_types(void)
{
    CHECK_STR(pe_event_type_name(PE_EV_SALE), "sale");
    CHECK_STR(pe_event_type_name(PE_EV_INVENTORY_COUNT), "inventory_count");
    CHECK_STR(pe_event_type_name(PE_EV_Z_REPORT), "z_report");
    CHECK(pe_event_type_name(PE_EV__COUNT) == NULL);
    CHECK(pe_event_type_name((enum pe_event_type) - 1) == NULL);
    for (int t = 0; t < PE_EV__COUNT; t++) {
        enum pe_event_type back;
        CHECK_OK(pe_event_type_parse(pe_event_type_name((enum pe_event_type)t), &back));
        CHECK_INT(back, t);
    }
    enum pe_event_type t;
    CHECK_INT(pe_event_type_parse("Sale", &t), PE_ENOTFOUND);
    CHECK_INT(pe_event_type_parse("", &t), PE_ENOTFOUND);
    CHECK(pe_event_type_is_fiscal(PE_EV_SALE));
    CHECK(pe_event_type_is_fiscal(PE_EV_NO_SALE));
    CHECK(pe_event_type_is_fiscal(PE_EV_Z_REPORT));
    CHECK(!pe_event_type_is_fiscal(PE_EV_INVENTORY_RECEIPT));
    CHECK(!pe_event_type_is_fiscal(PE_EV_INVENTORY_ADJUST));
    CHECK(!pe_event_type_is_fiscal(PE_EV_INVENTORY_COUNT));
    CHECK(!pe_event_type_is_fiscal(PE_EV__COUNT));
}

static void t_known_answers(void)
{
    uint8_t sum[PE_SHA256_LEN];
    char hex[PE_SHA256_HEXLEN];
    pe_sha256_2("ab", 2, "c", 1, sum);
    pe_hex(sum, sizeof sum, hex);
    CHECK_STR(hex, SHA256_ABC);
    pe_sha256_2("abc", 3, NULL, 0, sum);
    pe_hex(sum, sizeof sum, hex);
    CHECK_STR(hex, SHA256_ABC);

    pe_event_genesis("s001", "t01", hex);
    CHECK_STR(hex, GENESIS_S001_T01);
    pe_event_genesis("s001", "t01", hex); /* deterministic */
    CHECK_STR(hex, GENESIS_S001_T01);
    pe_event_genesis("s001", "t02", hex); /* and different per terminal */
    CHECK_STR(hex, GENESIS_S001_T02);
    char other[PE_SHA256_HEXLEN];
    pe_event_genesis("s002", "t01", other);
    CHECK(strcmp(other, GENESIS_S001_T01) != 0);
    /* The separator matters: s00/1t01 is another terminal than s001/t01. */
    pe_event_genesis("s00", "1t01", other);
    CHECK(strcmp(other, GENESIS_S001_T01) != 0);
}

static void t_round_trip(void)
{
    char genesis[PE_SHA256_HEXLEN], hash[PE_SHA256_HEXLEN], vhash[PE_SHA256_HEXLEN];
    char *rec = NULL;
    size_t len = 0;
    pe_event_genesis("s001", "t01", genesis);
    seal(1, genesis, &rec, &len, hash);
    CHECK_INT(len, strlen(rec));
    CHECK(pe_is_sha256_hex(hash));

    /* The layout of a v1 record. */
    CHECK(strncmp(rec, "{\"body\":{\"currency\":\"EUR\",", 26) == 0);
    char tail[512];
    snprintf(tail, sizeof tail,
             ",\"hash\":\"%s\",\"id\":\"6f1c2a3b-4d5e-4f60-8a7b-000000000001\","
             "\"operator\":\"op17\",\"prev\":\"%s\",\"seq\":1,\"store\":\"s001\","
             "\"terminal\":\"t01\",\"ts\":\"2026-11-21T10:15:02.123Z\",\"type\":\"sale\",\"v\":1}",
             hash, genesis);
    CHECK(len > strlen(tail));
    CHECK_STR(rec + len - strlen(tail), tail);

    /* The record is its own canonical form. */
    cJSON *parsed = NULL;
    CHECK_OK(pe_json_parse(rec, len, &parsed, NULL, 0));
    char *canon = NULL;
    CHECK_OK(pe_json_canonical(parsed, &canon, NULL));
    CHECK_STR(canon, rec);
    free(canon);

    /* The hash, computed independently: prev || canonical(record without "hash"). */
    cJSON_DeleteItemFromObjectCaseSensitive(parsed, "hash");
    CHECK_OK(pe_json_canonical(parsed, &canon, NULL));
    uint8_t sum[PE_SHA256_LEN];
    char expect[PE_SHA256_HEXLEN];
    pe_sha256_2(genesis, 64, canon, strlen(canon), sum);
    pe_hex(sum, sizeof sum, expect);
    CHECK_STR(hash, expect);
    free(canon);
    cJSON_Delete(parsed);

    struct pe_event_meta m;
    cJSON *out = NULL;
    char why[160];
    CHECK_OK(pe_event_verify(rec, len, 1, genesis, &m, vhash, &out, why, sizeof why));
    CHECK_STR(vhash, hash);
    CHECK_INT(m.seq, 1);
    CHECK_STR(m.id, "6f1c2a3b-4d5e-4f60-8a7b-000000000001");
    CHECK_STR(m.store, "s001");
    CHECK_STR(m.terminal, "t01");
    CHECK_STR(m.operator_, "op17");
    CHECK_INT(m.type, PE_EV_SALE);
    CHECK_INT(m.ts_ms, 1795256102123LL);
    int64_t total = 0;
    CHECK_OK(pe_json_get_int(cJSON_GetObjectItem(out, "body"), "total", &total));
    CHECK_INT(total, 100);
    cJSON_Delete(out);

    /* Without expectations, and with NULL outputs. */
    CHECK_OK(pe_event_verify(rec, len, 0, NULL, NULL, NULL, NULL, NULL, 0));
    free(rec);
}

static void t_chain(void)
{
    char prev[PE_SHA256_HEXLEN], hash[PE_SHA256_HEXLEN];
    char *recs[6];
    size_t lens[6];
    pe_event_genesis("s001", "t01", prev);
    for (int i = 1; i <= 5; i++) {
        seal(i, prev, &recs[i], &lens[i], hash);
        memcpy(prev, hash, sizeof prev);
    }
    pe_event_genesis("s001", "t01", prev);
    for (int i = 1; i <= 5; i++) {
        CHECK_OK(pe_event_verify(recs[i], lens[i], i, prev, NULL, hash, NULL, NULL, 0));
        memcpy(prev, hash, sizeof prev);
    }

    /* Wrong predecessor, wrong seq. */
    char why[160];
    CHECK_INT(pe_event_verify(recs[3], lens[3], 3, prev, NULL, hash, NULL, why, sizeof why),
              PE_ECHAIN);
    CHECK_STR(why, "seq 3: prev does not match the hash of seq 2");
    char genesis2[PE_SHA256_HEXLEN];
    pe_event_genesis("s001", "t02", genesis2);
    CHECK_INT(pe_event_verify(recs[1], lens[1], 1, genesis2, NULL, hash, NULL, why, sizeof why),
              PE_ECHAIN);
    CHECK_STR(why, "seq 1: prev does not match the genesis value");
    CHECK_INT(pe_event_verify(recs[4], lens[4], 5, NULL, NULL, hash, NULL, why, sizeof why),
              PE_ECHAIN);
    CHECK_STR(why, "seq 4: expected seq 5");
    for (int i = 1; i <= 5; i++)
        free(recs[i]);
}

static void t_every_byte(void)
{
    char genesis[PE_SHA256_HEXLEN], hash[PE_SHA256_HEXLEN];
    char *rec = NULL;
    size_t len = 0;
    pe_event_genesis("s001", "t01", genesis);
    seal(7, genesis, &rec, &len, hash);
    char *copy = malloc(len);
    static const unsigned char masks[] = {0x01, 0x02, 0x20, 0x40, 0x80};
    int64_t checked = 0;
    for (size_t m = 0; m < sizeof masks; m++) {
        for (size_t i = 0; i < len; i++) {
            memcpy(copy, rec, len);
            copy[i] = (char)(copy[i] ^ masks[m]);
            char why[160] = "";
            int rc = pe_event_verify(copy, len, 0, NULL, NULL, NULL, NULL, why, sizeof why);
            if (rc == PE_OK)
                pe_test_fail(__FILE__, __LINE__, "byte %zu ^ 0x%02x accepted", i, masks[m]);
            CHECK(rc == PE_EPARSE || rc == PE_EINVAL || rc == PE_ECHAIN);
            CHECK(why[0] != '\0');
            checked++;
        }
    }
    /* Dropping any one byte is refused as well. */
    for (size_t i = 0; i < len; i++) {
        memcpy(copy, rec, i);
        memcpy(copy + i, rec + i + 1, len - i - 1);
        CHECK(pe_event_verify(copy, len - 1, 0, NULL, NULL, NULL, NULL, NULL, 0) != PE_OK);
    }
    CHECK_INT(checked, (int64_t)len * (int64_t)sizeof masks);
    CHECK_OK(pe_event_verify(rec, len, 7, genesis, NULL, NULL, NULL, NULL, 0));
    free(copy);
    free(rec);
}

/* Verify text, expecting rc and a reason that starts with want. */
static void expect_refused(const char *text, int rc, const char *want)
{
    char why[160] = "";
    int got = pe_event_verify(text, strlen(text), 0, NULL, NULL, NULL, NULL, why, sizeof why);
    if (got != rc || strncmp(why, want, strlen(want)) != 0)
        pe_test_fail(__FILE__, __LINE__, "got %d \"%s\", expected %d \"%s...\"", got, why, rc,
                     want);
}

static void t_refusals(void)
{
    char genesis[PE_SHA256_HEXLEN], hash[PE_SHA256_HEXLEN];
    char *rec = NULL;
    size_t len = 0;
    pe_event_genesis("s001", "t01", genesis);
    seal(12, genesis, &rec, &len, hash);

    expect_refused("not json", PE_EPARSE, "invalid JSON at byte");
    expect_refused("[1]", PE_EINVAL, "record is not a JSON object");
    expect_refused("{}", PE_EINVAL, "seq is missing");

    /* Whitespace or reordering is not canonical. */
    char *spaced = malloc(len + 2);
    spaced[0] = ' ';
    memcpy(spaced + 1, rec, len + 1);
    expect_refused(spaced, PE_EINVAL, "seq 12: not canonical");
    free(spaced);

    /* A canonical record whose content changed: hash mismatch. */
    cJSON *j = NULL;
    CHECK_OK(pe_json_parse(rec, len, &j, NULL, 0));
    cJSON *body = cJSON_GetObjectItem(j, "body");
    cJSON_ReplaceItemInObject(body, "total", cJSON_CreateNumber(1));
    char *edited = NULL;
    CHECK_OK(pe_json_canonical(j, &edited, NULL));
    expect_refused(edited, PE_ECHAIN, "seq 12: hash mismatch");
    free(edited);

    /* A field of the wrong type, a missing one, an extra one. */
    cJSON_ReplaceItemInObject(j, "v", cJSON_CreateNumber(2));
    CHECK_OK(pe_json_canonical(j, &edited, NULL));
    expect_refused(edited, PE_EINVAL, "seq 12: v is not 1");
    free(edited);
    cJSON_ReplaceItemInObject(j, "v", cJSON_CreateNumber(1));
    cJSON_ReplaceItemInObject(j, "type", cJSON_CreateString("refund"));
    CHECK_OK(pe_json_canonical(j, &edited, NULL));
    expect_refused(edited, PE_EINVAL, "seq 12: type");
    free(edited);
    cJSON_ReplaceItemInObject(j, "type", cJSON_CreateString("sale"));
    cJSON_ReplaceItemInObject(j, "ts", cJSON_CreateString("2026-11-21 10:15:02"));
    CHECK_OK(pe_json_canonical(j, &edited, NULL));
    expect_refused(edited, PE_EINVAL, "seq 12: ts");
    free(edited);
    cJSON_ReplaceItemInObject(j, "ts", cJSON_CreateString("2026-11-21T10:15:02.123Z"));
    cJSON_ReplaceItemInObject(j, "store", cJSON_CreateString("s 001"));
    CHECK_OK(pe_json_canonical(j, &edited, NULL));
    expect_refused(edited, PE_EINVAL, "seq 12: store");
    free(edited);
    cJSON_ReplaceItemInObject(j, "store", cJSON_CreateString("s001"));
    cJSON_AddStringToObject(j, "extra", "x");
    CHECK_OK(pe_json_canonical(j, &edited, NULL));
    expect_refused(edited, PE_EINVAL, "seq 12: record does not have exactly");
    free(edited);
    cJSON_DeleteItemFromObject(j, "extra");
    cJSON_DeleteItemFromObject(j, "operator");
    CHECK_OK(pe_json_canonical(j, &edited, NULL));
    expect_refused(edited, PE_EINVAL, "seq 12: ");
    free(edited);
    cJSON_Delete(j);
    free(rec);
}

static void t_seal_validation(void)
{
    char genesis[PE_SHA256_HEXLEN], hash[PE_SHA256_HEXLEN];
    char *rec = NULL;
    size_t len = 0;
    pe_event_genesis("s001", "t01", genesis);
    cJSON *b = sale_body(1);
    struct pe_event_meta m;

#define REFUSED(stmt)                                                                              \
    do {                                                                                           \
        meta_init(&m, 1);                                                                          \
        stmt;                                                                                      \
        rec = NULL;                                                                                \
        CHECK_INT(pe_event_seal(&m, b, genesis, &rec, &len, hash), PE_EINVAL);                     \
        CHECK(rec == NULL);                                                                        \
    } while (0)

    REFUSED(m.seq = 0);
    REFUSED(m.seq = -5);
    REFUSED(strcpy(m.id, "6F1C2A3B-4D5E-4F60-8A7B-000000000001"));
    REFUSED(strcpy(m.id, "not-a-uuid"));
    REFUSED(m.store[0] = '\0');
    REFUSED(strcpy(m.store, "s 01"));
    REFUSED(strcpy(m.store, "s\"01"));
    REFUSED(memset(m.store, 'a', PE_ID_MAX)); /* no terminator within 32 characters */
    REFUSED(m.terminal[0] = '\0');
    REFUSED(strcpy(m.terminal, "t/01"));
    REFUSED(strcpy(m.operator_, "op\\1"));
    REFUSED(m.ts_ms = -1);
    REFUSED(m.type = PE_EV__COUNT);
#undef REFUSED

    meta_init(&m, 1);
    CHECK_INT(pe_event_seal(&m, b, "abc", &rec, &len, hash), PE_EINVAL);
    CHECK_INT(pe_event_seal(&m, b, NULL, &rec, &len, hash), PE_EINVAL);
    cJSON *arr = cJSON_CreateArray();
    CHECK_INT(pe_event_seal(&m, arr, genesis, &rec, &len, hash), PE_EINVAL);
    cJSON_Delete(arr);
    cJSON *fl = cJSON_CreateObject();
    cJSON_AddNumberToObject(fl, "price", 1.99);
    CHECK_INT(pe_event_seal(&m, fl, genesis, &rec, &len, hash), PE_EINVAL);
    cJSON_Delete(fl);

    /* The limits themselves are fine: 32-character ids, an empty operator, an empty body. */
    memset(m.store, 'S', 32);
    m.store[32] = '\0';
    strcpy(m.terminal, "T-1._x");
    m.operator_[0] = '\0';
    m.ts_ms = 0;
    cJSON *empty = cJSON_CreateObject();
    CHECK_OK(pe_event_seal(&m, empty, genesis, &rec, &len, hash));
    struct pe_event_meta back;
    CHECK_OK(pe_event_verify(rec, len, 1, genesis, &back, NULL, NULL, NULL, 0));
    CHECK_STR(back.store, m.store);
    CHECK_STR(back.operator_, "");
    CHECK_INT(back.ts_ms, 0);
    CHECK(strstr(rec, "\"ts\":\"1970-01-01T00:00:00.000Z\"") != NULL);
    free(rec);
    cJSON_Delete(empty);
    cJSON_Delete(b);
}

static void t_body_lookalikes(void)
{
    /* A body that itself contains "hash" members and hash-like text still verifies, and
     * editing them is caught. */
    char genesis[PE_SHA256_HEXLEN], hash[PE_SHA256_HEXLEN];
    pe_event_genesis("s001", "t01", genesis);
    char text[512];
    snprintf(text, sizeof text,
             "{\"hash\":\"%s\",\"z\":{\"hash\":\"%s\",\"prev\":\"x\"},"
             "\"q\":\",\\\"hash\\\":\\\"\"}",
             genesis, genesis);
    cJSON *b = NULL;
    CHECK_OK(pe_json_parse(text, strlen(text), &b, NULL, 0));
    struct pe_event_meta m;
    meta_init(&m, 1);
    char *rec = NULL;
    size_t len = 0;
    CHECK_OK(pe_event_seal(&m, b, genesis, &rec, &len, hash));
    CHECK_OK(pe_event_verify(rec, len, 1, genesis, NULL, NULL, NULL, NULL, 0));
    char *p = strstr(rec, genesis); /* the first hash-like value inside the body */
    CHECK(p != NULL);
    p[0] = p[0] == '0' ? '1' : '0';
    CHECK_INT(pe_event_verify(rec, len, 1, genesis, NULL, NULL, NULL, NULL, 0), PE_ECHAIN);
    free(rec);
    cJSON_Delete(b);
}

static const struct pe_test tests[] = {
    {"types", t_types},
    {"known_answers", t_known_answers},
    {"round_trip", t_round_trip},
    {"chain", t_chain},
    {"every_byte", t_every_byte},
    {"refusals", t_refusals},
    {"seal_validation", t_seal_validation},
    {"body_lookalikes", t_body_lookalikes},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("event", tests, argc, argv);
}
