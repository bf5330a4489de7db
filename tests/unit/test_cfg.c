/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_cfg.c - unit tests of the table-driven configuration (common/cfg.c).
 *
 * One sample table with strings, integers, booleans, nested keys and a check hook drives every
 * test. Error messages are compared in full: their forms are a promise to users and scripts.
 * A load that fails must leave the destination untouched, so most refusal tests also compare
 * the struct before and after.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "posedge/cfg.h"
#include "posedge/err.h"
#include "posedge/log.h"
#include "tests/unit/harness.h"

struct sample {
    char store[33];
    char terminal[8];
    int64_t speed;
    bool verbose;
    char driver[16];
    char path[64];
    int64_t port;
    bool json;
    int64_t big;
};

static int check_terminal(const void *value, char *why, size_t whylen)
{
    const char *s = value;
    if (s[0] != 't') {
        snprintf(why, whylen, "must start with 't'");
        return PE_EINVAL;
    }
    return PE_OK;
}

#define OPT(k, t, f, d, lo, hi, h, c)                                                              \
    {                                                                                              \
        k, t, offsetof(struct sample, f), sizeof(((struct sample *)0)->f), d, lo, hi, h, c         \
    }

static const struct pe_cfg_opt table[] = {
    OPT("store", PE_CFG_STR, store, "s001", 1, 32, "store id", NULL),
    OPT("terminal", PE_CFG_STR, terminal, "t01", 1, 7, "terminal id", check_terminal),
    OPT("sim.speed", PE_CFG_INT, speed, "1", 1, 100000, "simulation speed-up", NULL),
    OPT("sim.verbose", PE_CFG_BOOL, verbose, "false", 0, 0, "chatty simulator", NULL),
    OPT("devices.printer.driver", PE_CFG_STR, driver, "fake", 1, 15, "printer driver", NULL),
    OPT("devices.printer.path", PE_CFG_STR, path, "", 0, 0, "printer device", NULL),
    OPT("devices.scale.port", PE_CFG_INT, port, "-5", -100, 100, "scale port", NULL),
    OPT("log.json", PE_CFG_BOOL, json, "true", 0, 0, "JSON logs", NULL),
    OPT("sim.big", PE_CFG_INT, big, "0", 0, 0, "unbounded integer", NULL),
    {NULL},
};

#define ERRLEN 256

static void defaults(struct sample *s)
{
    memset(s, 0xa5, sizeof *s);
    CHECK_OK(pe_cfg_defaults(table, s));
}

/* Load text over defaults and expect the error rc and message msg. */
static void refuse(const char *text, int rc, const char *msg)
{
    struct sample s, before;
    char err[ERRLEN] = "";
    defaults(&s);
    memcpy(&before, &s, sizeof s);
    CHECK_INT(pe_cfg_load_text(table, &s, text, "t.json", err, sizeof err), rc);
    CHECK_STR(err, msg);
    CHECK(memcmp(&before, &s, sizeof s) == 0);
}

/* pe_cfg_set a value and expect the error message msg (PE_EINVAL). */
static void refuse_set(const char *key, const char *value, const char *msg)
{
    struct sample s, before;
    char err[ERRLEN] = "";
    defaults(&s);
    memcpy(&before, &s, sizeof s);
    CHECK_INT(pe_cfg_set(table, &s, key, value, err, sizeof err), PE_EINVAL);
    CHECK_STR(err, msg);
    CHECK(memcmp(&before, &s, sizeof s) == 0);
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    CHECK_INT(fwrite(text, 1, len, f), len);
    CHECK_INT(fclose(f), 0);
}

static void t_defaults(void)
{
    struct sample s;
    defaults(&s);
    CHECK_STR(s.store, "s001");
    CHECK_STR(s.terminal, "t01");
    CHECK_INT(s.speed, 1);
    CHECK(!s.verbose);
    CHECK_STR(s.driver, "fake");
    CHECK_STR(s.path, "");
    CHECK_INT(s.port, -5);
    CHECK(s.json);
    CHECK_INT(s.big, 0);
}

static void t_bad_tables(void)
{
    struct sample s;
    /* The table's own mistakes are logged; keep them out of the test output. */
    pe_log_set_level(PE_LOG_OFF);
    static const struct pe_cfg_opt bad_int[] = {OPT("a", PE_CFG_INT, speed, "4x", 0, 10, "", NULL),
                                                {NULL}};
    static const struct pe_cfg_opt bad_bool[] = {
        OPT("a", PE_CFG_BOOL, verbose, "yes", 0, 0, "", NULL), {NULL}};
    static const struct pe_cfg_opt too_long[] = {
        OPT("a", PE_CFG_STR, terminal, "t0123456", 0, 0, "", NULL), {NULL}};
    static const struct pe_cfg_opt out_of_range[] = {
        OPT("a", PE_CFG_INT, speed, "11", 0, 10, "", NULL), {NULL}};
    static const struct pe_cfg_opt refused[] = {
        OPT("a", PE_CFG_STR, terminal, "x1", 0, 0, "", check_terminal), {NULL}};
    static const struct pe_cfg_opt leaf_and_object[] = {
        OPT("a", PE_CFG_INT, speed, "1", 0, 10, "", NULL),
        OPT("a.b", PE_CFG_INT, port, "1", 0, 10, "", NULL),
        {NULL}};
    static const struct pe_cfg_opt twice[] = {OPT("a", PE_CFG_INT, speed, "1", 0, 10, "", NULL),
                                              OPT("a", PE_CFG_INT, port, "1", 0, 10, "", NULL),
                                              {NULL}};
    static const struct pe_cfg_opt bad_key[] = {
        OPT("a..b", PE_CFG_INT, speed, "1", 0, 10, "", NULL), {NULL}};
    static const struct pe_cfg_opt no_default[] = {
        OPT("a", PE_CFG_INT, speed, NULL, 0, 10, "", NULL), {NULL}};
    static const struct pe_cfg_opt min_above_max[] = {
        OPT("a", PE_CFG_INT, speed, "1", 10, 1, "", NULL), {NULL}};
    CHECK_INT(pe_cfg_defaults(bad_int, &s), PE_EINVAL);
    CHECK_INT(pe_cfg_defaults(bad_bool, &s), PE_EINVAL);
    CHECK_INT(pe_cfg_defaults(too_long, &s), PE_EINVAL);
    CHECK_INT(pe_cfg_defaults(out_of_range, &s), PE_EINVAL);
    CHECK_INT(pe_cfg_defaults(refused, &s), PE_EINVAL);
    CHECK_INT(pe_cfg_defaults(leaf_and_object, &s), PE_EINVAL);
    CHECK_INT(pe_cfg_defaults(twice, &s), PE_EINVAL);
    CHECK_INT(pe_cfg_defaults(bad_key, &s), PE_EINVAL);
    CHECK_INT(pe_cfg_defaults(no_default, &s), PE_EINVAL);
    CHECK_INT(pe_cfg_defaults(min_above_max, &s), PE_EINVAL);
}

static void t_empty_default_means_unset(void)
{
    /* "" may stand for "the site must set this" even when the length bounds exclude it. */
    static const struct pe_cfg_opt required[] = {
        OPT("store", PE_CFG_STR, store, "", 1, 32, "", check_terminal), {NULL}};
    struct sample s;
    char err[ERRLEN] = "";
    CHECK_OK(pe_cfg_defaults(required, &s));
    CHECK_STR(s.store, "");
    CHECK_INT(pe_cfg_load_text(required, &s, "{\"store\":\"\"}", "t.json", err, sizeof err),
              PE_EINVAL);
    CHECK_STR(err, "t.json: store: must be 1..32 characters");
}

static void t_full_load(void)
{
    struct sample s;
    char err[ERRLEN] = "";
    defaults(&s);
    const char *text = "{\"store\":\"s777\",\"terminal\":\"t42\",\n"
                       " \"sim\":{\"speed\":250,\"verbose\":true,\"big\":-9007199254740992},\n"
                       " \"devices\":{\"printer\":{\"driver\":\"escpos\",\n"
                       "                         \"path\":\"/dev/usb/lp0\"},\n"
                       "             \"scale\":{\"port\":-100}},\n"
                       " \"log\":{\"json\":false}}";
    CHECK_OK(pe_cfg_load_text(table, &s, text, "t.json", err, sizeof err));
    CHECK_STR(err, "");
    CHECK_STR(s.store, "s777");
    CHECK_STR(s.terminal, "t42");
    CHECK_INT(s.speed, 250);
    CHECK(s.verbose);
    CHECK_STR(s.driver, "escpos");
    CHECK_STR(s.path, "/dev/usb/lp0");
    CHECK_INT(s.port, -100);
    CHECK(!s.json);
    CHECK_INT(s.big, -9007199254740992LL);
}

static void t_partial_load_keeps_defaults(void)
{
    struct sample s;
    char err[ERRLEN] = "";
    defaults(&s);
    CHECK_OK(pe_cfg_load_text(table, &s, "{\"devices\":{\"scale\":{}},\"sim\":{\"speed\":1e3}}",
                              "t.json", err, sizeof err));
    CHECK_INT(s.speed, 1000);
    CHECK_STR(s.store, "s001");
    CHECK_STR(s.driver, "fake");
    CHECK_INT(s.port, -5);
    CHECK_OK(pe_cfg_load_text(table, &s, "{}", "t.json", err, sizeof err));
    CHECK_INT(s.speed, 1000);
}

static void t_unknown_keys(void)
{
    refuse("{\"stor\":\"x\"}", PE_EINVAL, "t.json: unknown key \"stor\"");
    refuse("{\"devices\":{\"printr\":{}}}", PE_EINVAL, "t.json: unknown key \"devices.printr\"");
    refuse("{\"devices\":{\"printer\":{\"driver\":\"x\",\"baud\":9600}}}", PE_EINVAL,
           "t.json: unknown key \"devices.printer.baud\"");
    refuse("{\"store\":\"s1\",\"\":1}", PE_EINVAL, "t.json: unknown key \"\"");
    refuse("{\"sim.speed\":5}", PE_EINVAL,
           "t.json: unknown key \"sim.speed\" (write dotted keys as nested objects)");
    refuse("{\"sim\":{\"speed.x\":5}}", PE_EINVAL, "t.json: unknown key \"sim.speed.x\"");
}

static void t_wrong_types(void)
{
    refuse("{\"devices\":{\"printer\":\"escpos\"}}", PE_EINVAL,
           "t.json: devices.printer: expected an object");
    refuse("{\"sim\":[]}", PE_EINVAL, "t.json: sim: expected an object");
    refuse("{\"store\":5}", PE_EINVAL, "t.json: store: expected a string");
    refuse("{\"store\":{}}", PE_EINVAL, "t.json: store: expected a string");
    refuse("{\"store\":null}", PE_EINVAL, "t.json: store: expected a string");
    refuse("{\"sim\":{\"speed\":\"5\"}}", PE_EINVAL, "t.json: sim.speed: expected an integer");
    refuse("{\"sim\":{\"speed\":1.5}}", PE_EINVAL, "t.json: sim.speed: expected an integer");
    refuse("{\"sim\":{\"speed\":1e400}}", PE_EINVAL, "t.json: sim.speed: expected an integer");
    refuse("{\"sim\":{\"verbose\":1}}", PE_EINVAL, "t.json: sim.verbose: expected true or false");
    refuse("{\"sim\":{\"verbose\":\"true\"}}", PE_EINVAL,
           "t.json: sim.verbose: expected true or false");
}

static void t_ranges(void)
{
    refuse("{\"store\":\"\"}", PE_EINVAL, "t.json: store: must be 1..32 characters");
    refuse("{\"store\":\"123456789012345678901234567890123\"}", PE_EINVAL,
           "t.json: store: must be 1..32 characters");
    refuse("{\"sim\":{\"speed\":0}}", PE_EINVAL, "t.json: sim.speed: must be between 1 and 100000");
    refuse("{\"sim\":{\"speed\":100001}}", PE_EINVAL,
           "t.json: sim.speed: must be between 1 and 100000");
    refuse("{\"devices\":{\"scale\":{\"port\":-101}}}", PE_EINVAL,
           "t.json: devices.scale.port: must be between -100 and 100");
    /* A bound of max 0 means "as long as the slot holds". */
    char text[200];
    snprintf(text, sizeof text, "{\"devices\":{\"printer\":{\"path\":\"%064d\"}}}", 0);
    refuse(text, PE_EINVAL, "t.json: devices.printer.path: must be 0..63 characters");
    /* JSON numbers are exact only up to 2^53. */
    refuse("{\"sim\":{\"big\":1e19}}", PE_EINVAL,
           "t.json: sim.big: must be between -9007199254740992 and 9007199254740992");

    struct sample s;
    char err[ERRLEN] = "";
    defaults(&s);
    CHECK_OK(pe_cfg_load_text(table, &s,
                              "{\"store\":\"12345678901234567890123456789012\",\"sim\":{\"speed\":"
                              "100000},\"devices\":{\"scale\":{\"port\":100}}}",
                              "t.json", err, sizeof err));
    CHECK_INT(strlen(s.store), 32);
    CHECK_INT(s.speed, 100000);
    CHECK_INT(s.port, 100);
}

static void t_check_hook(void)
{
    refuse("{\"terminal\":\"x01\"}", PE_EINVAL, "t.json: terminal: must start with 't'");
    refuse_set("terminal", "x01", "command line: terminal: must start with 't'");
    struct sample s;
    char err[ERRLEN] = "";
    defaults(&s);
    CHECK_OK(pe_cfg_set(table, &s, "terminal", "t99", err, sizeof err));
    CHECK_STR(s.terminal, "t99");
}

static void t_duplicates(void)
{
    refuse("{\"store\":\"a\",\"store\":\"b\"}", PE_EINVAL, "t.json: duplicate key \"store\"");
    refuse("{\"sim\":{\"speed\":2},\"sim\":{\"verbose\":true}}", PE_EINVAL,
           "t.json: duplicate key \"sim\"");
}

static void t_not_json(void)
{
    refuse("", PE_EPARSE, "t.json: not valid JSON (line 1, column 1)");
    refuse("{} x", PE_EPARSE, "t.json: not valid JSON (line 1, column 4)");
    /* The line is exact; the column is where cJSON stopped, at or just after the offending
     * token. */
    struct sample s;
    char err[ERRLEN] = "";
    defaults(&s);
    CHECK_INT(pe_cfg_load_text(table, &s, "{\"store\":\"s1\",}", "t.json", err, sizeof err),
              PE_EPARSE);
    CHECK(strncmp(err, "t.json: not valid JSON (line 1, column ", 39) == 0);
    CHECK_INT(
        pe_cfg_load_text(table, &s, "{\n  \"store\": \"s\",\n  oops\n}", "t.json", err, sizeof err),
        PE_EPARSE);
    CHECK(strncmp(err, "t.json: not valid JSON (line 3, column ", 39) == 0);
    refuse("[]", PE_EPARSE, "t.json: expected an object");
    refuse("\"store\"", PE_EPARSE, "t.json: expected an object");
    refuse("null", PE_EPARSE, "t.json: expected an object");
}

static void t_file_load(void)
{
    struct sample s;
    char err[ERRLEN] = "";
    const char *path = pe_test_path(0, "agent.json");
    const char *text = "{\"store\":\"s002\",\"sim\":{\"speed\":7}}\n";
    write_file(path, text, strlen(text));
    defaults(&s);
    CHECK_OK(pe_cfg_load_file(table, &s, path, err, sizeof err));
    CHECK_STR(s.store, "s002");
    CHECK_INT(s.speed, 7);

    text = "{\"store\":\"\"}";
    write_file(path, text, strlen(text));
    CHECK_INT(pe_cfg_load_file(table, &s, path, err, sizeof err), PE_EINVAL);
    char want[600];
    snprintf(want, sizeof want, "%s: store: must be 1..32 characters", path);
    CHECK_STR(err, want);
}

static void t_file_errors(void)
{
    struct sample s;
    char err[ERRLEN] = "", want[600];
    defaults(&s);

    const char *missing = pe_test_path(0, "missing.json");
    CHECK_INT(pe_cfg_load_file(table, &s, missing, err, sizeof err), PE_EIO);
    snprintf(want, sizeof want, "%s: cannot read: %s", missing, strerror(ENOENT));
    CHECK_STR(err, want);

    const char *empty = pe_test_path(1, "empty.json");
    write_file(empty, "", 0);
    CHECK_INT(pe_cfg_load_file(table, &s, empty, err, sizeof err), PE_EPARSE);
    snprintf(want, sizeof want, "%s: not valid JSON (line 1, column 1)", empty);
    CHECK_STR(err, want);

    const char *array = pe_test_path(1, "array.json");
    write_file(array, "[]", 2);
    CHECK_INT(pe_cfg_load_file(table, &s, array, err, sizeof err), PE_EPARSE);
    snprintf(want, sizeof want, "%s: expected an object", array);
    CHECK_STR(err, want);

    const char *dir = pe_test_path(1, "dir.json");
    CHECK_INT(mkdir(dir, 0700), 0);
    CHECK_INT(pe_cfg_load_file(table, &s, dir, err, sizeof err), PE_EIO);
    snprintf(want, sizeof want, "%s: cannot read: %s", dir, strerror(EISDIR));
    CHECK_STR(err, want);

    /* A NUL byte would otherwise end the document early and hide what follows it. */
    const char *nul = pe_test_path(1, "nul.json");
    write_file(nul, "{}\0{\"stor\":1}", 13);
    CHECK_INT(pe_cfg_load_file(table, &s, nul, err, sizeof err), PE_EPARSE);
    snprintf(want, sizeof want, "%s: not valid JSON (line 1, column 3)", nul);
    CHECK_STR(err, want);
}

static void t_file_size_limit(void)
{
    struct sample s;
    char err[ERRLEN] = "", want[600];
    size_t limit = 1024 * 1024;
    char *big = malloc(limit + 1);
    CHECK(big != NULL);
    /* Exactly 1 MiB: a valid object padded with blanks is accepted. */
    memset(big, ' ', limit);
    memcpy(big, "{\"store\":\"s1m\"}", 15);
    const char *path = pe_test_path(0, "big.json");
    write_file(path, big, limit);
    defaults(&s);
    CHECK_OK(pe_cfg_load_file(table, &s, path, err, sizeof err));
    CHECK_STR(s.store, "s1m");
    /* One byte more is refused before parsing. */
    big[limit] = ' ';
    write_file(path, big, limit + 1);
    free(big);
    CHECK_INT(pe_cfg_load_file(table, &s, path, err, sizeof err), PE_EIO);
    snprintf(want, sizeof want, "%s: cannot read: %s", path, strerror(EFBIG));
    CHECK_STR(err, want);
}

static void t_set(void)
{
    struct sample s;
    char err[ERRLEN] = "";
    defaults(&s);
    CHECK_OK(pe_cfg_set(table, &s, "store", "s123", err, sizeof err));
    CHECK_STR(s.store, "s123");
    CHECK_OK(pe_cfg_set(table, &s, "sim.speed", "42", err, sizeof err));
    CHECK_INT(s.speed, 42);
    CHECK_OK(pe_cfg_set(table, &s, "devices.scale.port", "-100", err, sizeof err));
    CHECK_INT(s.port, -100);
    CHECK_OK(pe_cfg_set(table, &s, "devices.scale.port", "007", err, sizeof err));
    CHECK_INT(s.port, 7);
    CHECK_OK(pe_cfg_set(table, &s, "sim.verbose", "true", err, sizeof err));
    CHECK(s.verbose);
    CHECK_OK(pe_cfg_set(table, &s, "sim.verbose", "0", err, sizeof err));
    CHECK(!s.verbose);
    CHECK_OK(pe_cfg_set(table, &s, "sim.verbose", "1", err, sizeof err));
    CHECK(s.verbose);
    CHECK_OK(pe_cfg_set(table, &s, "sim.verbose", "false", err, sizeof err));
    CHECK(!s.verbose);
    CHECK_OK(pe_cfg_set(table, &s, "devices.printer.path", "", err, sizeof err));
    CHECK_STR(s.path, "");
    CHECK_OK(pe_cfg_set(table, &s, "sim.big", "-9223372036854775808", err, sizeof err));
    CHECK_INT(s.big, INT64_MIN);
    CHECK_OK(pe_cfg_set(table, &s, "sim.big", "9223372036854775807", err, sizeof err));
    CHECK_INT(s.big, INT64_MAX);
}

static void t_set_refusals(void)
{
    refuse_set("x", "1", "command line: unknown key \"x\"");
    refuse_set("sim", "1", "command line: unknown key \"sim\"");
    refuse_set("store", "", "command line: store: must be 1..32 characters");
    refuse_set("sim.speed", "4x", "command line: sim.speed: expected an integer");
    refuse_set("sim.speed", "", "command line: sim.speed: expected an integer");
    refuse_set("sim.speed", "-", "command line: sim.speed: expected an integer");
    refuse_set("sim.speed", "+4", "command line: sim.speed: expected an integer");
    refuse_set("sim.speed", " 4", "command line: sim.speed: expected an integer");
    refuse_set("sim.speed", "4 ", "command line: sim.speed: expected an integer");
    refuse_set("sim.speed", "0x10", "command line: sim.speed: expected an integer");
    refuse_set("sim.speed", "1.0", "command line: sim.speed: expected an integer");
    refuse_set("sim.speed", "0", "command line: sim.speed: must be between 1 and 100000");
    refuse_set("sim.speed", "99999999999999999999",
               "command line: sim.speed: must be between 1 and 100000");
    refuse_set("sim.big", "9223372036854775808",
               "command line: sim.big: must be between -9223372036854775808 and "
               "9223372036854775807");
    refuse_set("sim.verbose", "yes", "command line: sim.verbose: expected true or false");
    refuse_set("sim.verbose", "TRUE", "command line: sim.verbose: expected true or false");
    refuse_set("sim.verbose", "", "command line: sim.verbose: expected true or false");
}

/* Print cfg into a string (caller frees). */
static char *print_to_string(const struct sample *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    CHECK_OK(pe_cfg_print(table, s, f));
    CHECK_INT(fclose(f), 0);
    return buf;
}

static void t_print_round_trip(void)
{
    struct sample s, back;
    char err[ERRLEN] = "";
    defaults(&s);
    CHECK_OK(pe_cfg_set(table, &s, "store", "s\"q\\uote\t\xc3\xa9", err, sizeof err));
    CHECK_OK(pe_cfg_set(table, &s, "terminal", "t7", err, sizeof err));
    CHECK_OK(pe_cfg_set(table, &s, "sim.speed", "99999", err, sizeof err));
    CHECK_OK(pe_cfg_set(table, &s, "sim.verbose", "true", err, sizeof err));
    CHECK_OK(pe_cfg_set(table, &s, "devices.printer.driver", "escpos", err, sizeof err));
    CHECK_OK(pe_cfg_set(table, &s, "devices.scale.port", "-99", err, sizeof err));
    CHECK_OK(pe_cfg_set(table, &s, "log.json", "false", err, sizeof err));
    CHECK_OK(pe_cfg_set(table, &s, "sim.big", "-9007199254740992", err, sizeof err));

    char *text = print_to_string(&s);
    defaults(&back);
    CHECK_OK(pe_cfg_load_text(table, &back, text, "printed", err, sizeof err));
    CHECK_STR(back.store, s.store);
    CHECK_STR(back.terminal, s.terminal);
    CHECK_INT(back.speed, s.speed);
    CHECK_INT(back.verbose, s.verbose);
    CHECK_STR(back.driver, s.driver);
    CHECK_STR(back.path, s.path);
    CHECK_INT(back.port, s.port);
    CHECK_INT(back.json, s.json);
    CHECK_INT(back.big, s.big);

    /* Nested per dotted key, in table order, with JSON types. */
    const char *store = strstr(text, "\"store\":");
    const char *sim = strstr(text, "\"sim\":");
    const char *speed = strstr(text, "\"speed\":");
    const char *big = strstr(text, "\"big\":");
    const char *devices = strstr(text, "\"devices\":");
    const char *printer = strstr(text, "\"printer\":");
    const char *log = strstr(text, "\"log\":");
    CHECK(text[0] == '{');
    CHECK(store && sim && speed && big && devices && printer && log);
    CHECK(store < sim && sim < speed && speed < big && big < devices && devices < printer &&
          printer < log);
    CHECK(strstr(text, "99999,") || strstr(text, "99999\n"));
    CHECK(strstr(text, "true"));
    CHECK(strstr(text, "-9007199254740992"));
    CHECK(text[strlen(text) - 1] == '\n');
    free(text);
}

static void t_print_defaults_round_trip(void)
{
    struct sample s, back;
    char err[ERRLEN] = "";
    defaults(&s);
    char *text = print_to_string(&s);
    memset(&back, 0, sizeof back);
    CHECK_OK(pe_cfg_load_text(table, &back, text, "printed", err, sizeof err));
    free(text);
    CHECK_STR(back.store, "s001");
    CHECK_STR(back.path, "");
    CHECK_INT(back.port, -5);
    CHECK(back.json);
}

static void t_help(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    pe_cfg_help(table, f);
    CHECK_INT(fclose(f), 0);
    int lines = 0;
    for (char *c = buf; *c; c++)
        lines += *c == '\n';
    CHECK_INT(lines, sizeof table / sizeof table[0] - 1);
    CHECK(strncmp(buf, "store ", 6) == 0);
    CHECK(strstr(buf, "\"s001\""));
    CHECK(strstr(buf, "store id\n"));
    const char *speed = strstr(buf, "\nsim.speed ");
    CHECK(speed);
    CHECK(strstr(speed, " int "));
    CHECK(strstr(speed, " 1 "));
    CHECK(strstr(buf, "log.json "));
    CHECK(strstr(buf, " bool "));
    free(buf);
}

static void t_null_err_buffer(void)
{
    struct sample s;
    defaults(&s);
    CHECK_INT(pe_cfg_load_text(table, &s, "{\"x\":1}", "t.json", NULL, 0), PE_EINVAL);
    CHECK_INT(pe_cfg_set(table, &s, "x", "1", NULL, 0), PE_EINVAL);
    /* A short buffer truncates the message but stays terminated. */
    char err[8];
    CHECK_INT(pe_cfg_set(table, &s, "x", "1", err, sizeof err), PE_EINVAL);
    CHECK_STR(err, "command");
}

/* Command-line overrides apply in order after the file, and refuse what pe_cfg_set refuses. */
static void t_overrides(void)
{
    static struct pe_cfg_overrides o;
    struct sample s;
    char err[ERRLEN];
    defaults(&s);
    CHECK_OK(pe_cfg_override_arg(&o, "sim.speed=7"));
    CHECK_OK(pe_cfg_override(&o, "store", "s9"));
    CHECK_OK(pe_cfg_override_arg(&o, "sim.speed=8"));
    CHECK_INT(pe_cfg_override_arg(&o, "no-equals"), PE_EINVAL);
    CHECK_INT(pe_cfg_override_arg(&o, "=value"), PE_EINVAL);
    CHECK_OK(pe_cfg_apply(table, &s, &o, err, sizeof err));
    CHECK_INT(s.speed, 8);
    CHECK_STR(s.store, "s9");
    CHECK_OK(pe_cfg_override_arg(&o, "sim.speed=0"));
    CHECK_INT(pe_cfg_apply(table, &s, &o, err, sizeof err), PE_EINVAL);
    CHECK(strstr(err, "sim.speed") != NULL);
    while (o.n < PE_CFG_MAX_OVERRIDES)
        CHECK_OK(pe_cfg_override(&o, "store", "s1"));
    CHECK_INT(pe_cfg_override(&o, "store", "s2"), PE_ERANGE);
}

static const struct pe_test tests[] = {
    {"overrides", t_overrides},
    {"defaults", t_defaults},
    {"bad_tables", t_bad_tables},
    {"empty_default_means_unset", t_empty_default_means_unset},
    {"full_load", t_full_load},
    {"partial_load_keeps_defaults", t_partial_load_keeps_defaults},
    {"unknown_keys", t_unknown_keys},
    {"wrong_types", t_wrong_types},
    {"ranges", t_ranges},
    {"check_hook", t_check_hook},
    {"duplicates", t_duplicates},
    {"not_json", t_not_json},
    {"file_load", t_file_load},
    {"file_errors", t_file_errors},
    {"file_size_limit", t_file_size_limit},
    {"set", t_set},
    {"set_refusals", t_set_refusals},
    {"print_round_trip", t_print_round_trip},
    {"print_defaults_round_trip", t_print_defaults_round_trip},
    {"help", t_help},
    {"null_err_buffer", t_null_err_buffer},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("cfg", tests, argc, argv);
}
