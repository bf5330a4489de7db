/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_json.c - unit tests of the canonical JSON writer, the strict parser and the typed
 * accessors (common/json.c).
 *
 * What matters is that the canonical bytes are exactly the documented form, because every hash
 * in posedge is computed over them: sorted keys at every level, integers only within 2^53,
 * valid UTF-8 only, minimal escaping.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/json.h"
#include "tests/unit/harness.h"

/* Parse text and return its canonical form (caller frees); the test fails on any error. */
static char *canon_of(const char *text)
{
    cJSON *j = NULL;
    char why[64];
    CHECK_OK(pe_json_parse(text, strlen(text), &j, why, sizeof why));
    char *out = NULL;
    size_t len = 0;
    CHECK_OK(pe_json_canonical(j, &out, &len));
    CHECK_INT(len, strlen(out));
    cJSON_Delete(j);
    return out;
}

/* The canonical-form result code for text, which must parse. */
static int canon_rc(const char *text)
{
    cJSON *j = NULL;
    CHECK_OK(pe_json_parse(text, strlen(text), &j, NULL, 0));
    char *out = NULL;
    int rc = pe_json_canonical(j, &out, NULL);
    if (rc == PE_OK)
        free(out);
    else
        CHECK(out == NULL);
    cJSON_Delete(j);
    return rc;
}

/* Canonical form of a single string item. */
static int canon_string(const char *s, char **out)
{
    cJSON *j = cJSON_CreateString(s);
    CHECK(j);
    int rc = pe_json_canonical(j, out, NULL);
    cJSON_Delete(j);
    return rc;
}

static void t_sorted_nested(void)
{
    char *c = canon_of(" {\"b\" : {\"z\":1, \"a\":[3, {\"y\":true,\"x\":null}, []]},\n"
                       "  \"a\":\"s\", \"A\":false, \"aa\":{}, \"\":-7}\t");
    CHECK_STR(c, "{\"\":-7,\"A\":false,\"a\":\"s\",\"aa\":{},"
                 "\"b\":{\"a\":[3,{\"x\":null,\"y\":true},[]],\"z\":1}}");
    /* Canonical form is a fixed point. */
    char *again = canon_of(c);
    CHECK_STR(again, c);
    free(again);
    free(c);
}

static void t_key_order_is_bytewise(void)
{
    /* strcmp order: upper case before lower case, a prefix before its extensions, and UTF-8
     * bytes (>= 0x80) after ASCII. */
    char *c = canon_of("{\"\xc3\xa9\":1,\"ab\":2,\"a\":3,\"B\":4,\"b\":5,\"_\":6}");
    CHECK_STR(c, "{\"B\":4,\"_\":6,\"a\":3,\"ab\":2,\"b\":5,\"\xc3\xa9\":1}");
    free(c);
    /* More members than the writer sorts on the stack. */
    cJSON *o = cJSON_CreateObject();
    for (int i = 39; i >= 0; i--) {
        char key[16];
        snprintf(key, sizeof key, "k%02d", i);
        CHECK_OK(pe_json_add_int(o, key, i));
    }
    char *out = NULL;
    CHECK_OK(pe_json_canonical(o, &out, NULL));
    CHECK(strncmp(out, "{\"k00\":0,\"k01\":1,\"k02\":2,", 25) == 0);
    CHECK(strstr(out, "\"k38\":38,\"k39\":39}") != NULL);
    free(out);
    cJSON_Delete(o);
}

static void t_escapes(void)
{
    char *out = NULL;
    CHECK_OK(canon_string("q\"b\\s/\b\f\n\r\t\x01\x1f\x7f end", &out));
    CHECK_STR(out, "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f end\"");
    free(out);
    /* Escapes in keys too, and \u escapes of the parser come out as plain UTF-8. */
    char *c = canon_of("{\"a\\u0000b\":1}");
    CHECK_STR(c, "{\"a\":1}"); /* cJSON cuts at the NUL: the key is "a" */
    free(c);
    c = canon_of("{\"t\\tk\":\"\\u00e9\\u20ac\\ud83d\\ude00\\/\"}");
    CHECK_STR(c, "{\"t\\tk\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80/\"}");
    free(c);
    c = canon_of("[\"\\u001F\\u000b\"]");
    CHECK_STR(c, "[\"\\u001f\\u000b\"]");
    free(c);
}

static void t_utf8(void)
{
    char *out = NULL;
    /* Two-, three- and four-byte sequences at their boundaries pass through literally. */
    static const char *const good[] = {
        "\xc2\x80",         "\xdf\xbf",         "\xe0\xa0\x80",
        "\xed\x9f\xbf",     "\xee\x80\x80",     "\xef\xbf\xbf",
        "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf", "caf\xc3\xa9 \xe2\x82\xac 5",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        CHECK_OK(canon_string(good[i], &out));
        CHECK(strlen(out) == strlen(good[i]) + 2);
        CHECK(memcmp(out + 1, good[i], strlen(good[i])) == 0);
        free(out);
    }
    static const char *const bad[] = {
        "\x80",             /* lone continuation byte */
        "\xbf",             /* lone continuation byte */
        "\xc0\xaf",         /* overlong '/' */
        "\xc1\xbf",         /* overlong */
        "\xe0\x80\xaf",     /* overlong three-byte */
        "\xe0\x9f\xbf",     /* overlong three-byte */
        "\xf0\x8f\xbf\xbf", /* overlong four-byte */
        "\xed\xa0\x80",     /* surrogate U+D800 */
        "\xed\xbf\xbf",     /* surrogate U+DFFF */
        "\xf4\x90\x80\x80", /* U+110000 */
        "\xf5\x80\x80\x80", /* beyond Unicode */
        "\xff",
        "\xfe",
        "\xe2\x82",     /* truncated */
        "\xe2\x82x",    /* broken continuation */
        "ok\xc3",       /* truncated at the end */
        "\xf0\x9f\x98", /* truncated four-byte */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        out = NULL;
        if (canon_string(bad[i], &out) != PE_EINVAL)
            pe_test_fail(__FILE__, __LINE__, "invalid UTF-8 #%zu accepted", i);
        CHECK(out == NULL);
    }
    /* The same check applies to keys. */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "\xc0\xaf", 1);
    CHECK_INT(pe_json_canonical(o, &out, NULL), PE_EINVAL);
    cJSON_Delete(o);
}

static void t_numbers(void)
{
    char *c = canon_of("[0,-0,1,-1,1.0,1e2,-2.50e1,9007199254740992,-9007199254740992]");
    CHECK_STR(c, "[0,0,1,-1,1,100,-25,9007199254740992,-9007199254740992]");
    free(c);
    CHECK_INT(canon_rc("[1.5]"), PE_EINVAL);
    CHECK_INT(canon_rc("{\"a\":{\"b\":[0.1]}}"), PE_EINVAL);
    CHECK_INT(canon_rc("[1e300]"), PE_EINVAL);
    CHECK_INT(canon_rc("[9007199254740994]"), PE_EINVAL); /* 2^53 + 2, exact as a double */
    CHECK_INT(canon_rc("[-9007199254740994]"), PE_EINVAL);
    CHECK_INT(canon_rc("[18446744073709551616]"), PE_EINVAL);

    static const double bad[] = {NAN, INFINITY, -INFINITY, 0.5, -1e-9, 9007199254740994.0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cJSON *n = cJSON_CreateNumber(bad[i]);
        char *out = NULL;
        CHECK_INT(pe_json_canonical(n, &out, NULL), PE_EINVAL);
        cJSON_Delete(n);
    }

    cJSON *o = cJSON_CreateObject();
    CHECK_OK(pe_json_add_int(o, "max", PE_JSON_MAX_INT));
    CHECK_OK(pe_json_add_int(o, "min", -PE_JSON_MAX_INT));
    CHECK_INT(pe_json_add_int(o, "over", PE_JSON_MAX_INT + 1), PE_ERANGE);
    CHECK_INT(pe_json_add_int(o, "under", -PE_JSON_MAX_INT - 1), PE_ERANGE);
    CHECK_OK(pe_json_add_int(o, "big", 1234567890123LL));
    char *out = NULL;
    CHECK_OK(pe_json_canonical(o, &out, NULL));
    CHECK_STR(out, "{\"big\":1234567890123,\"max\":9007199254740992,\"min\":-9007199254740992}");
    free(out);
    cJSON_Delete(o);
}

static void t_duplicates(void)
{
    CHECK_INT(canon_rc("{\"a\":1,\"a\":2}"), PE_EINVAL);
    CHECK_INT(canon_rc("{\"b\":1,\"a\":{\"x\":1,\"y\":2,\"x\":3}}"), PE_EINVAL);
    CHECK_INT(canon_rc("[{\"k\":1},{\"k\":2,\"j\":0,\"k\":1}]"), PE_EINVAL);
    /* Equal keys in different objects are fine, and case differs. */
    CHECK_INT(canon_rc("[{\"k\":1},{\"k\":2,\"K\":3}]"), PE_OK);
}

static void t_other_items(void)
{
    char *out = NULL;
    cJSON *raw = cJSON_CreateRaw("1.5");
    CHECK_INT(pe_json_canonical(raw, &out, NULL), PE_EINVAL);
    cJSON_Delete(raw);

    /* Nesting deeper than the parser accepts is refused rather than recursed into. */
    cJSON *root = cJSON_CreateArray(), *cur = root;
    for (int i = 0; i < 1100; i++) {
        cJSON *a = cJSON_CreateArray();
        cJSON_AddItemToArray(cur, a);
        cur = a;
    }
    CHECK_INT(pe_json_canonical(root, &out, NULL), PE_EINVAL);
    cJSON_Delete(root);

    char *c = canon_of("[true,false,null,\"\",[],{}]");
    CHECK_STR(c, "[true,false,null,\"\",[],{}]");
    free(c);
}

static void t_parse_errors(void)
{
    cJSON *j = NULL;
    char why[64];
    static const struct {
        const char *text;
        const char *why;
    } cases[] = {
        {"{\"a\":1} x", "invalid JSON at byte 8"}, /* trailing garbage */
        {"{\"a\":1}}", "invalid JSON at byte 7"},
        {"[1,2", "invalid JSON at byte 4"}, /* truncated */
        {"", "invalid JSON at byte 0"},
        {"   ", "invalid JSON at byte 3"},
        {"{\"a\":tru}", "invalid JSON at byte 5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        j = NULL;
        why[0] = '\0';
        CHECK_INT(pe_json_parse(cases[i].text, strlen(cases[i].text), &j, why, sizeof why),
                  PE_EPARSE);
        CHECK(j == NULL);
        CHECK_STR(why, cases[i].why);
    }
    static const char *const bad[] = {"{\"a\":1, x}", "[1,2,]",        "{\"a\" 1}", "nul",
                                      "\"abc",        "[\"\\ud800\"]", "{'a':1}",   "01x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(pe_json_parse(bad[i], strlen(bad[i]), &j, why, sizeof why), PE_EPARSE);
        CHECK(strncmp(why, "invalid JSON at byte ", 21) == 0);
        size_t off = strtoul(why + 21, NULL, 10);
        CHECK(off <= strlen(bad[i]));
    }
    /* A NUL inside the text is an error at its offset, not the end of the document. */
    static const char withnul[] = "{\"a\":\"x\0y\"}";
    CHECK_INT(pe_json_parse(withnul, sizeof withnul - 1, &j, why, sizeof why), PE_EPARSE);
    CHECK_STR(why, "invalid JSON at byte 7");
    CHECK_INT(pe_json_parse("{}\0", 3, &j, why, sizeof why), PE_EPARSE);
    CHECK_STR(why, "invalid JSON at byte 2");
    /* why may be NULL. */
    CHECK_INT(pe_json_parse("[", 1, &j, NULL, 0), PE_EPARSE);
}

static void t_parse_length(void)
{
    cJSON *j = NULL;
    /* Only len bytes are read: the rest of the buffer is not part of the document. */
    const char buf[] = "{\"a\":[1,2]}garbage";
    CHECK_OK(pe_json_parse(buf, 11, &j, NULL, 0));
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(j, "a")), 2);
    cJSON_Delete(j);
    /* Trailing whitespace is fine. */
    CHECK_OK(pe_json_parse(" {} \r\n\t", 7, &j, NULL, 0));
    CHECK(cJSON_IsObject(j));
    cJSON_Delete(j);
    /* A buffer without any terminator (exactly len bytes allocated). */
    char *exact = malloc(4);
    memcpy(exact, "[42]", 4);
    CHECK_OK(pe_json_parse(exact, 4, &j, NULL, 0));
    CHECK_INT(cJSON_GetArrayItem(j, 0)->valuedouble, 42);
    cJSON_Delete(j);
    free(exact);
}

static void t_getters(void)
{
    const char *text = "{\"n\":42,\"neg\":-9007199254740992,\"f\":1.5,\"big\":9007199254740994,"
                       "\"s\":\"str\",\"b\":true,\"nb\":false,\"z\":null,\"o\":{},\"N\":7}";
    cJSON *j = NULL;
    CHECK_OK(pe_json_parse(text, strlen(text), &j, NULL, 0));
    int64_t v = 0;
    CHECK_OK(pe_json_get_int(j, "n", &v));
    CHECK_INT(v, 42);
    CHECK_OK(pe_json_get_int(j, "N", &v)); /* keys are case-sensitive */
    CHECK_INT(v, 7);
    CHECK_OK(pe_json_get_int(j, "neg", &v));
    CHECK_INT(v, -PE_JSON_MAX_INT);
    v = 99;
    CHECK_INT(pe_json_get_int(j, "f", &v), PE_EINVAL);
    CHECK_INT(pe_json_get_int(j, "big", &v), PE_EINVAL);
    CHECK_INT(pe_json_get_int(j, "s", &v), PE_EINVAL);
    CHECK_INT(pe_json_get_int(j, "z", &v), PE_EINVAL);
    CHECK_INT(pe_json_get_int(j, "missing", &v), PE_ENOTFOUND);
    CHECK_INT(v, 99);

    const char *s = NULL;
    CHECK_OK(pe_json_get_str(j, "s", &s));
    CHECK_STR(s, "str");
    CHECK_INT(pe_json_get_str(j, "n", &s), PE_EINVAL);
    CHECK_INT(pe_json_get_str(j, "S", &s), PE_ENOTFOUND);

    bool b = false;
    CHECK_OK(pe_json_get_bool(j, "b", &b));
    CHECK(b);
    CHECK_OK(pe_json_get_bool(j, "nb", &b));
    CHECK(!b);
    CHECK_INT(pe_json_get_bool(j, "n", &b), PE_EINVAL);
    CHECK_INT(pe_json_get_bool(j, "none", &b), PE_ENOTFOUND);

    /* An array is not an object to look members up in. */
    cJSON *arr = cJSON_CreateArray();
    CHECK_INT(pe_json_get_int(arr, "n", &v), PE_EINVAL);
    cJSON_Delete(arr);

    CHECK_OK(pe_json_add_str(j, "added", "x\"y"));
    CHECK_OK(pe_json_get_str(j, "added", &s));
    CHECK_STR(s, "x\"y");
    cJSON_Delete(j);
}

/* pe_json_int: exact integers within 2^53; anything else refused without a conversion that
 * does not fit (a number such as 1e300 in a configuration file, found by fuzz_bridge_cfg). */
static void t_int_value(void)
{
    static const struct {
        const char *text;
        int rc;
        int64_t want;
    } cases[] = {
        {"0", PE_OK, 0},
        {"-0", PE_OK, 0},
        {"42", PE_OK, 42},
        {"-7", PE_OK, -7},
        {"9007199254740992", PE_OK, 9007199254740992LL},
        {"-9007199254740992", PE_OK, -9007199254740992LL},
        {"9007199254740994", PE_EINVAL, 0},
        {"1.5", PE_EINVAL, 0},
        {"1e300", PE_EINVAL, 0},
        {"-1e300", PE_EINVAL, 0},
        {"\"1\"", PE_EINVAL, 0},
        {"true", PE_EINVAL, 0},
        {"null", PE_EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cJSON *v = cJSON_Parse(cases[i].text);
        int64_t n = -1;
        CHECK(v);
        CHECK_INT(pe_json_int(v, &n), cases[i].rc);
        if (cases[i].rc == PE_OK)
            CHECK_INT(n, cases[i].want);
        cJSON_Delete(v);
    }
    CHECK_INT(pe_json_int(NULL, &(int64_t){0}), PE_EINVAL);
}

static void t_round_trip(void)
{
    /* Serialise, parse, serialise: the same bytes. */
    const char *text = "{\"lines\":[{\"item\":\"A-1\",\"name\":\"Caf\xc3\xa9 \\\"Bio\\\"\","
                       "\"qty\":2,\"amount\":-350}],\"total\":{\"v\":-700,\"cur\":\"EUR\"},"
                       "\"note\":\"tab\\there\\u0007\"}";
    char *a = canon_of(text);
    char *b = canon_of(a);
    CHECK_STR(a, b);
    CHECK_STR(a, "{\"lines\":[{\"amount\":-350,\"item\":\"A-1\",\"name\":\"Caf\xc3\xa9 "
                 "\\\"Bio\\\"\",\"qty\":2}],\"note\":\"tab\\there\\u0007\","
                 "\"total\":{\"cur\":\"EUR\",\"v\":-700}}");
    free(a);
    free(b);
}

static const struct pe_test tests[] = {
    {"sorted_nested", t_sorted_nested},
    {"key_order_is_bytewise", t_key_order_is_bytewise},
    {"escapes", t_escapes},
    {"utf8", t_utf8},
    {"numbers", t_numbers},
    {"duplicates", t_duplicates},
    {"other_items", t_other_items},
    {"parse_errors", t_parse_errors},
    {"parse_length", t_parse_length},
    {"getters", t_getters},
    {"int_value", t_int_value},
    {"round_trip", t_round_trip},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("json", tests, argc, argv);
}
