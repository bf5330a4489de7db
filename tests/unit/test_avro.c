/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_avro.c - bridge/avro_enc.c: cJSON values to Avro binary and the Confluent framing.
 *
 * Encodings are compared with bytes computed by hand from the Avro specification: zig-zag
 * varints for int and long, little-endian IEEE 754 for float and double, a zig-zag length
 * before string bytes, arrays as blocks (a count, the items, a 0 count to end), a union as its
 * branch index then the value. Every encoding is then decoded back with libavro and compared
 * with the value it came from. Values that break the schema must be rejected with a reason
 * naming where.
 */
#include <avro.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/avro_enc.h"
#include "posedge/err.h"
#include "tests/unit/harness.h"

static const char SCALARS[] =
    "{\"type\":\"record\",\"name\":\"Scalars\",\"fields\":["
    "{\"name\":\"i\",\"type\":\"int\"},{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"s\",\"type\":\"string\"},{\"name\":\"d\",\"type\":\"double\"}]}";

/* One record per sale line, as the seed pipeline's inventory transactions. */
static const char TXN[] =
    "{\"type\":\"record\",\"name\":\"InventoryTransaction\",\"namespace\":\"pos\",\"fields\":["
    "{\"name\":\"trans_id\",\"type\":\"string\"},"
    "{\"name\":\"item_id\",\"type\":\"long\"},"
    "{\"name\":\"quantity\",\"type\":\"int\"},"
    "{\"name\":\"change_type_id\",\"type\":\"int\"},"
    "{\"name\":\"date_time\",\"type\":\"string\"}]}";

static const char LINE_ARRAY[] =
    "{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"Line\",\"fields\":["
    "{\"name\":\"sku\",\"type\":\"string\"},{\"name\":\"qty\",\"type\":\"int\"},"
    "{\"name\":\"price\",\"type\":\"double\"}]}}";

static const char SALE[] =
    "{\"type\":\"record\",\"name\":\"Sale\",\"fields\":["
    "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"seq\",\"type\":\"long\"},"
    "{\"name\":\"lines\",\"type\":{\"type\":\"array\",\"items\":{\"type\":\"record\","
    "\"name\":\"Line\",\"fields\":[{\"name\":\"sku\",\"type\":\"string\"},"
    "{\"name\":\"qty\",\"type\":\"int\"}]}}},"
    "{\"name\":\"total\",\"type\":\"long\"}]}";

static const char EXTRAS[] =
    "{\"type\":\"record\",\"name\":\"Extras\",\"fields\":["
    "{\"name\":\"note\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"ok\",\"type\":\"boolean\"},"
    "{\"name\":\"f\",\"type\":\"float\"},"
    "{\"name\":\"kind\",\"type\":{\"type\":\"enum\",\"name\":\"Kind\",\"symbols\":[\"A\",\"B\"]}},"
    "{\"name\":\"tags\",\"type\":{\"type\":\"map\",\"values\":\"int\"}}]}";

static struct pe_avro_schema *schema(const char *json)
{
    struct pe_avro_schema *s = NULL;
    char why[256] = "";
    int rc = pe_avro_schema_parse(json, strlen(json), &s, why, sizeof(why));
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "schema rejected (%d): %s", rc, why);
    return s;
}

static cJSON *value(const char *json)
{
    cJSON *v = cJSON_Parse(json);
    if (!v)
        pe_test_fail(__FILE__, __LINE__, "bad test JSON: %s", json);
    return v;
}

static void check_bytes(const struct pe_avro_buf *b, const uint8_t *want, size_t n, int line)
{
    char got[512] = "", exp[512] = "";
    for (size_t i = 0; i < b->len && 3 * i + 3 < sizeof(got); i++)
        snprintf(got + 3 * i, 4, "%02x ", b->data[i]);
    for (size_t i = 0; i < n && 3 * i + 3 < sizeof(exp); i++)
        snprintf(exp + 3 * i, 4, "%02x ", want[i]);
    if (b->len != n || memcmp(b->data, want, n) != 0)
        pe_test_fail(__FILE__, line, "encoded %zu bytes [%s], expected %zu [%s]", b->len, got, n,
                     exp);
}

/* Encode json under schema_json, compare with want, decode back with libavro and compare the
 * decoded value with the JSON given (libavro renders unions as {"type": value}, so a value
 * with unions passes its decoded form as back). */
static void roundtrip(const char *schema_json, const char *json, const uint8_t *want, size_t n,
                      const char *back, int line)
{
    struct pe_avro_schema *s = schema(schema_json);
    struct pe_avro_buf b = {0};
    cJSON *v = value(json);
    char why[256] = "";
    int rc = pe_avro_encode(s, v, &b, why, sizeof(why));
    if (rc)
        pe_test_fail(__FILE__, line, "encode returned %d: %s", rc, why);
    check_bytes(&b, want, n, line);

    char *dec = NULL;
    CHECK_OK(pe_avro_decode_json(s, b.data, b.len, &dec));
    cJSON *dv = cJSON_Parse(dec), *ev = value(back ? back : json);
    if (!dv || !cJSON_Compare(dv, ev, 1))
        pe_test_fail(__FILE__, line, "decoded %s, expected %s", dec, back ? back : json);
    cJSON_Delete(dv);
    cJSON_Delete(ev);
    free(dec);
    cJSON_Delete(v);
    pe_avro_buf_free(&b);
    pe_avro_schema_destroy(s);
}

static void t_scalars(void)
{
    /* 1 -> zz 2; -2 -> zz 3; "ab" -> len 2 (zz 4) 'a' 'b'; 1.5 -> 0x3ff8000000000000 LE. */
    static const uint8_t want[] = {0x02, 0x03, 0x04, 'a', 'b', 0, 0, 0, 0, 0, 0, 0xf8, 0x3f};
    roundtrip(SCALARS, "{\"i\":1,\"l\":-2,\"s\":\"ab\",\"d\":1.5}", want, sizeof(want), NULL,
              __LINE__);
}

static void t_varints(void)
{
    /* 150 -> zz 300 = 0xac 0x02; -65 -> zz 129 = 0x81 0x01; "" -> 0x00; -0.1 LE. */
    static const uint8_t want[] = {0xac, 0x02, 0x81, 0x01, 0x00, 0x9a, 0x99,
                                   0x99, 0x99, 0x99, 0x99, 0xb9, 0xbf};
    roundtrip(SCALARS, "{\"i\":150,\"l\":-65,\"s\":\"\",\"d\":-0.1}", want, sizeof(want), NULL,
              __LINE__);
}

static void t_limits(void)
{
    /* INT32_MAX -> zz 2^32-2; INT64_MIN (a string: exact past 2^53) -> zz 2^64-1, 10 bytes. */
    static const uint8_t want[] = {0xfe, 0xff, 0xff, 0xff, 0x0f, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02, 'x',  0,
                                   0,    0,    0,    0,    0,    0,    0};
    roundtrip(SCALARS, "{\"i\":2147483647,\"l\":\"-9223372036854775808\",\"s\":\"x\",\"d\":0}",
              want, sizeof(want),
              "{\"i\":2147483647,\"l\":-9223372036854775808,\"s\":\"x\",\"d\":0}", __LINE__);

    /* 2^53+1 is not a double: only the string form keeps it. */
    struct pe_avro_schema *s = schema(SCALARS);
    struct pe_avro_buf b = {0};
    cJSON *v = value("{\"i\":-2147483648,\"l\":\"9007199254740993\",\"s\":\"\",\"d\":0}");
    static const uint8_t big[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x82, 0x80,
                                  0x80, 0x80, 0x80, 0x80, 0x80, 0x20};
    CHECK_OK(pe_avro_encode(s, v, &b, NULL, 0));
    CHECK(b.len == sizeof(big) + 1 + 8);
    CHECK(memcmp(b.data, big, sizeof(big)) == 0);
    cJSON_Delete(v);
    pe_avro_buf_free(&b);
    pe_avro_schema_destroy(s);
}

static void t_record_line(void)
{
    static const uint8_t want[] = {
        0x0e, '{',  'a', '-', '1', '}', '-', '1', /* trans_id "{a-1}-1": 7 -> zz 14 */
        0xac, 0x02,                               /* item_id 150 */
        0x03,                                     /* quantity -2 (a return) */
        0x04,                                     /* change_type_id 2 */
        0x26, '2',  '0', '2', '6', '-', '1', '1', '-', '2',
        '1',  ' ',  '1', '0', ':', '1', '5', ':', '0', '2', /* date_time: 19 -> zz 38 */
    };
    roundtrip(TXN,
              "{\"trans_id\":\"{a-1}-1\",\"item_id\":150,\"quantity\":-2,\"change_type_id\":2,"
              "\"date_time\":\"2026-11-21 10:15:02\"}",
              want, sizeof(want), NULL, __LINE__);
}

static void t_top_array(void)
{
    /* One block of 2 items (zz 4), each sku/qty/price, then the 0 that ends the array. */
    static const uint8_t want[] = {0x04, 0x02, 'a',  0x02, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f,
                                   0x02, 'b',  0x01, 0,    0, 0, 0, 0, 0, 0, 0,    0x00};
    roundtrip(LINE_ARRAY,
              "[{\"sku\":\"a\",\"qty\":1,\"price\":1.5},{\"sku\":\"b\",\"qty\":-1,\"price\":0}]",
              want, sizeof(want), NULL, __LINE__);
    static const uint8_t empty[] = {0x00};
    roundtrip(LINE_ARRAY, "[]", empty, sizeof(empty), NULL, __LINE__);
}

static void t_nested_array(void)
{
    static const uint8_t want[] = {0x02, 'x', 0x54,                  /* id "x", seq 42 */
                                   0x06,                             /* 3 lines */
                                   0x02, 'a', 0x02, 0x02, 'b', 0x04, /* a*1, b*2 */
                                   0x02, 'c', 0x01, 0x00,            /* c*-1, end */
                                   0xd0, 0x0f};                      /* total 1000 */
    roundtrip(SALE,
              "{\"id\":\"x\",\"seq\":42,\"lines\":[{\"sku\":\"a\",\"qty\":1},"
              "{\"sku\":\"b\",\"qty\":2},{\"sku\":\"c\",\"qty\":-1}],\"total\":1000}",
              want, sizeof(want), NULL, __LINE__);
}

static void t_extras(void)
{
    /* note: branch 1 (zz 2) "hi"; ok true; f 2.5f LE; kind B = 1 (zz 2); tags one block of 1
     * (zz 2) key "k" value 3 (zz 6), end. */
    static const uint8_t want[] = {0x02, 0x04, 'h',  'i',  0x01, 0x00, 0x00, 0x20,
                                   0x40, 0x02, 0x02, 0x02, 'k',  0x06, 0x00};
    roundtrip(EXTRAS, "{\"note\":\"hi\",\"ok\":true,\"f\":2.5,\"kind\":\"B\",\"tags\":{\"k\":3}}",
              want, sizeof(want),
              "{\"note\":{\"string\":\"hi\"},\"ok\":true,\"f\":2.5,\"kind\":\"B\","
              "\"tags\":{\"k\":3}}",
              __LINE__);
    /* A null union branch (index 0) may be left out; a named branch is taken as named. */
    static const uint8_t nul[] = {0x00, 0x00, 0, 0, 0, 0, 0x00, 0x00};
    roundtrip(EXTRAS, "{\"ok\":false,\"f\":0,\"kind\":\"A\",\"tags\":{}}", nul, sizeof(nul),
              "{\"note\":null,\"ok\":false,\"f\":0,\"kind\":\"A\",\"tags\":{}}", __LINE__);
    static const uint8_t named[] = {0x02, 0x02, 'y', 0x00, 0, 0, 0, 0, 0x00, 0x00};
    roundtrip(EXTRAS,
              "{\"note\":{\"string\":\"y\"},\"ok\":false,\"f\":0,\"kind\":\"A\",\"tags\":{}}",
              named, sizeof(named), NULL, __LINE__);
}

static void t_confluent(void)
{
    struct pe_avro_schema *s = schema(SCALARS);
    struct pe_avro_buf b = {0};
    cJSON *v = value("{\"i\":1,\"l\":-2,\"s\":\"ab\",\"d\":1.5}");
    static const uint8_t want[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x02, 0x03, 0x04, 'a',
                                   'b',  0,    0,    0,    0,    0,    0,    0xf8, 0x3f};
    CHECK_OK(pe_avro_encode_confluent(s, 0x01020304u, v, &b, NULL, 0));
    check_bytes(&b, want, sizeof(want), __LINE__);

    uint32_t id = 0;
    const uint8_t *p = NULL;
    size_t plen = 0;
    CHECK_OK(pe_avro_confluent_split(b.data, b.len, &id, &p, &plen));
    CHECK_INT(id, 0x01020304);
    CHECK(p == b.data + 5);
    CHECK_INT(plen, sizeof(want) - 5);
    char *dec = NULL;
    CHECK_OK(pe_avro_decode_json(s, p, plen, &dec));
    CHECK_STR(dec, "{\"i\": 1, \"l\": -2, \"s\": \"ab\", \"d\": 1.5}");
    free(dec);

    /* The buffer is reused: a second, shorter encode replaces the first. */
    uint8_t hdr[5];
    pe_avro_confluent_header(7, hdr);
    static const uint8_t h7[] = {0, 0, 0, 0, 7};
    CHECK(memcmp(hdr, h7, 5) == 0);
    cJSON_Delete(v);
    v = value("{\"i\":0,\"l\":0,\"s\":\"\",\"d\":0}");
    CHECK_OK(pe_avro_encode_confluent(s, 0xffffffffu, v, &b, NULL, 0));
    CHECK_INT(b.len, 5 + 3 + 8);
    CHECK_OK(pe_avro_confluent_split(b.data, b.len, &id, &p, &plen));
    CHECK(id == 0xffffffffu);

    /* Not the wire format: too short, or a magic byte other than 0. */
    CHECK_INT(pe_avro_confluent_split(b.data, 4, &id, &p, &plen), PE_ECORRUPT);
    b.data[0] = 1;
    CHECK_INT(pe_avro_confluent_split(b.data, b.len, &id, &p, &plen), PE_ECORRUPT);
    cJSON_Delete(v);
    pe_avro_buf_free(&b);
    pe_avro_schema_destroy(s);
}

/* Encoding json under schema_json fails with err and a reason containing reason. */
static void rejects(const char *schema_json, const char *json, int err, const char *reason,
                    int line)
{
    struct pe_avro_schema *s = schema(schema_json);
    struct pe_avro_buf b = {0};
    cJSON *v = value(json);
    char why[256] = "";
    int rc = pe_avro_encode(s, v, &b, why, sizeof(why));
    if (rc != err || !strstr(why, reason) || b.len != 0)
        pe_test_fail(__FILE__, line, "returned %d len %zu \"%s\", expected %d \"%s\"", rc, b.len,
                     why, err, reason);
    cJSON_Delete(v);
    pe_avro_buf_free(&b);
    pe_avro_schema_destroy(s);
}

static void t_rejects(void)
{
    rejects(SCALARS, "{\"i\":1,\"l\":2,\"s\":\"x\"}", PE_EINVAL, "$.d: missing field", __LINE__);
    rejects(SCALARS, "{\"i\":1,\"l\":2,\"s\":\"x\",\"d\":1,\"e\":2}", PE_EINVAL,
            "$.e: unknown field", __LINE__);
    rejects(SCALARS, "{\"i\":\"1\",\"l\":2,\"s\":\"x\",\"d\":1}", PE_EINVAL,
            "$.i: expected int, got string", __LINE__);
    rejects(SCALARS, "{\"i\":2147483648,\"l\":2,\"s\":\"x\",\"d\":1}", PE_ERANGE,
            "$.i: integer out of range", __LINE__);
    rejects(SCALARS, "{\"i\":1.5,\"l\":2,\"s\":\"x\",\"d\":1}", PE_ERANGE, "$.i: not an integer",
            __LINE__);
    rejects(SCALARS, "{\"i\":1,\"l\":\"9223372036854775808\",\"s\":\"x\",\"d\":1}", PE_ERANGE,
            "$.l: integer out of range", __LINE__);
    rejects(SCALARS, "{\"i\":1,\"l\":\"12x\",\"s\":\"x\",\"d\":1}", PE_EINVAL,
            "$.l: expected a decimal integer string", __LINE__);
    rejects(SCALARS, "{\"i\":1,\"l\":1e300,\"s\":\"x\",\"d\":1}", PE_ERANGE, "$.l: not an integer",
            __LINE__);
    rejects(SCALARS, "[1]", PE_EINVAL, "$: expected record (object), got array", __LINE__);
    rejects(SALE,
            "{\"id\":\"x\",\"seq\":1,\"lines\":[{\"sku\":\"a\",\"qty\":1},{\"sku\":\"b\"}],"
            "\"total\":1}",
            PE_EINVAL, "$.lines[1].qty: missing field", __LINE__);
    rejects(LINE_ARRAY, "{}", PE_EINVAL, "$: expected array, got object", __LINE__);
    rejects(EXTRAS, "{\"note\":1,\"ok\":true,\"f\":1,\"kind\":\"A\",\"tags\":{}}", PE_EINVAL,
            "$.note: expected a value of one of the union's types", __LINE__);
    rejects(EXTRAS, "{\"ok\":true,\"f\":1,\"kind\":\"C\",\"tags\":{}}", PE_EINVAL,
            "$.kind: unknown enum symbol", __LINE__);
    rejects(EXTRAS, "{\"ok\":true,\"f\":1,\"kind\":\"A\",\"tags\":{\"a\":\"b\"}}", PE_EINVAL,
            "$.tags.a: expected int, got string", __LINE__);
}

static void t_bad_schema(void)
{
    struct pe_avro_schema *s = (struct pe_avro_schema *)1;
    char why[256] = "";
    const char *bad = "{\"type\":\"record\",\"name\":\"X\",\"fields\":[{\"name\":\"a\"}]}";
    CHECK_INT(pe_avro_schema_parse(bad, strlen(bad), &s, why, sizeof(why)), PE_EPARSE);
    CHECK(s == NULL);
    CHECK(strstr(why, "invalid Avro schema") != NULL);
    CHECK_INT(pe_avro_schema_parse("{", 1, &s, NULL, 0), PE_EPARSE);
    pe_avro_schema_destroy(NULL);
    pe_avro_buf_free(NULL);
}

static void t_decode_corrupt(void)
{
    struct pe_avro_schema *s = schema(SCALARS);
    char *json = NULL;
    /* A double cut short; then a whole value with a byte left over. (A string length past the
     * end is not tried: libavro 1.11.1 leaks the string it allocated for it.) */
    static const uint8_t trunc[] = {0x02, 0x03, 0x00, 0, 0, 0};
    CHECK_INT(pe_avro_decode_json(s, trunc, sizeof(trunc), &json), PE_ECORRUPT);
    CHECK(json == NULL);
    static const uint8_t extra[] = {0x02, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x55};
    CHECK_INT(pe_avro_decode_json(s, extra, sizeof(extra), &json), PE_ECORRUPT);
    CHECK_OK(pe_avro_decode_json(s, extra, sizeof(extra) - 1, &json));
    free(json);
    pe_avro_schema_destroy(s);
}

/* The same schema encodes many values in a row without growing or leaking (ASan checks). */
static void t_reuse(void)
{
    struct pe_avro_schema *s = schema(SALE);
    struct pe_avro_buf b = {0};
    for (int i = 0; i < 2000; i++) {
        char json[256];
        snprintf(json, sizeof(json),
                 "{\"id\":\"e%d\",\"seq\":%d,\"lines\":[{\"sku\":\"a\",\"qty\":%d}],"
                 "\"total\":%d}",
                 i, i, i % 7, i * 100);
        cJSON *v = value(json);
        CHECK_OK(pe_avro_encode_confluent(s, 1, v, &b, NULL, 0));
        cJSON_Delete(v);
    }
    CHECK(b.cap <= 256);
    pe_avro_buf_free(&b);
    pe_avro_schema_destroy(s);
}

static const struct pe_test tests[] = {
    {"scalars", t_scalars},
    {"varints", t_varints},
    {"limits", t_limits},
    {"record_line", t_record_line},
    {"top_array", t_top_array},
    {"nested_array", t_nested_array},
    {"extras", t_extras},
    {"confluent", t_confluent},
    {"rejects", t_rejects},
    {"bad_schema", t_bad_schema},
    {"decode_corrupt", t_decode_corrupt},
    {"reuse", t_reuse},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("avro", tests, argc, argv);
}
