/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_replay.c - unit tests of the dataset replay's CSV reader and field parsers
 * (sim/replay.h): quoted fields with commas, quotes and line breaks, CRLF, a BOM, bad
 * records with their line numbers and reading going on after them, decimal prices to exact
 * minor units, and the three timestamp layouts; then a whole Online Retail file compiled into
 * a catalog, with the bad rows reported as FILE:LINE.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/sim.h"
#include "sim/replay.h"
#include "tests/unit/harness.h"

static const char *put(const char *name, const char *text)
{
    const char *path = pe_test_path(0, name);
    FILE *f = fopen(path, "wb");
    CHECK(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void t_csv_quoting(void)
{
    const char *p = put("a.csv", "\xEF\xBB\xBFh1,h2,h3\r\n"
                                 "1,\"a, b\",\"say \"\"hi\"\"\"\r\n"
                                 "\r\n"
                                 "2,\"two\nlines\",x\r\n"
                                 "3,,\n");
    struct rp_csv c;
    char err[256], why[128];
    int nf, line;
    CHECK_INT(rp_csv_open(&c, p, 1 << 20, err, sizeof err), PE_OK);
    CHECK_INT(rp_csv_next(&c, &nf, &line, why, sizeof why), PE_OK);
    CHECK_INT(nf, 3);
    CHECK_INT(line, 1);
    CHECK_STR(c.fields[0], "h1");
    CHECK_STR(c.fields[2], "h3");
    CHECK_INT(rp_csv_next(&c, &nf, &line, why, sizeof why), PE_OK);
    CHECK_INT(line, 2);
    CHECK_STR(c.fields[1], "a, b");
    CHECK_STR(c.fields[2], "say \"hi\"");
    CHECK_INT(rp_csv_next(&c, &nf, &line, why, sizeof why), PE_OK);
    CHECK_INT(line, 4);
    CHECK_STR(c.fields[1], "two\nlines");
    CHECK_STR(c.fields[2], "x");
    CHECK_INT(rp_csv_next(&c, &nf, &line, why, sizeof why), PE_OK);
    CHECK_INT(line, 6);
    CHECK_INT(nf, 3);
    CHECK_STR(c.fields[1], "");
    CHECK_STR(c.fields[2], "");
    CHECK_INT(rp_csv_next(&c, &nf, &line, why, sizeof why), PE_EEOF);
    rp_csv_close(&c);
}

static void t_csv_bad_records(void)
{
    const char *p = put("b.csv", "a,b\n"
                                 "1,\"x\"y\n"
                                 "2,ok\n"
                                 "3,x\"y\n"
                                 "4,\"open\n");
    struct rp_csv c;
    char err[256], why[128];
    int nf, line;
    CHECK_INT(rp_csv_open(&c, p, 1 << 20, err, sizeof err), PE_OK);
    CHECK_INT(rp_csv_next(&c, &nf, &line, why, sizeof why), PE_OK);
    CHECK_INT(rp_csv_next(&c, &nf, &line, why, sizeof why), PE_EPARSE);
    CHECK_INT(line, 2);
    CHECK_STR(why, "text after a closing quote");
    CHECK_INT(rp_csv_next(&c, &nf, &line, why, sizeof why), PE_OK);
    CHECK_INT(line, 3);
    CHECK_STR(c.fields[1], "ok");
    CHECK_INT(rp_csv_next(&c, &nf, &line, why, sizeof why), PE_EPARSE);
    CHECK_INT(line, 4);
    CHECK_INT(rp_csv_next(&c, &nf, &line, why, sizeof why), PE_EPARSE);
    CHECK_INT(line, 5);
    CHECK_STR(why, "unclosed quoted field");
    CHECK_INT(rp_csv_next(&c, &nf, &line, why, sizeof why), PE_EEOF);
    rp_csv_close(&c);
    CHECK_INT(rp_csv_open(&c, pe_test_path(1, "missing.csv"), 1 << 20, err, sizeof err), PE_EIO);
    rp_csv_close(&c);
}

static void t_decimal(void)
{
    int64_t v = 0;
    CHECK_INT(rp_decimal_minor("2.55", 2, &v), PE_OK);
    CHECK_INT(v, 255);
    CHECK_INT(rp_decimal_minor("0.29", 2, &v), PE_OK);
    CHECK_INT(v, 29); /* 0.29 * 100 is 28.999... as a double */
    CHECK_INT(rp_decimal_minor("18", 2, &v), PE_OK);
    CHECK_INT(v, 1800);
    CHECK_INT(rp_decimal_minor(".5", 2, &v), PE_OK);
    CHECK_INT(v, 50);
    CHECK_INT(rp_decimal_minor("-11062.06", 2, &v), PE_OK);
    CHECK_INT(v, -1106206);
    CHECK_INT(rp_decimal_minor("1.250", 2, &v), PE_OK);
    CHECK_INT(v, 125);
    CHECK_INT(rp_decimal_minor("0.001", 2, &v), PE_ERANGE);
    CHECK_INT(rp_decimal_minor("1,5", 2, &v), PE_EPARSE);
    CHECK_INT(rp_decimal_minor("1e3", 2, &v), PE_EPARSE);
    CHECK_INT(rp_decimal_minor("", 2, &v), PE_EPARSE);
    CHECK_INT(rp_decimal_minor(".", 2, &v), PE_EPARSE);
    CHECK_INT(rp_decimal_minor("99999999999999", 2, &v), PE_ERANGE);
    CHECK_INT(rp_int("-12", &v), PE_OK);
    CHECK_INT(v, -12);
    CHECK_INT(rp_int("1.0", &v), PE_EPARSE);
    CHECK_INT(rp_int("", &v), PE_EPARSE);
}

static void t_datetime(void)
{
    int64_t ms = 0, ref = 1291191960000LL; /* 2010-12-01T08:26:00Z */
    CHECK_INT(rp_datetime("12/1/2010 8:26", &ms), PE_OK);
    CHECK_INT(ms, ref);
    CHECK_INT(rp_datetime("01-12-2010 08:26:00", &ms), PE_OK);
    CHECK_INT(ms, ref);
    CHECK_INT(rp_datetime("2010-12-01 08:26:00", &ms), PE_OK);
    CHECK_INT(ms, ref);
    CHECK_INT(rp_datetime("2010-12-01T08:26:00.250Z", &ms), PE_OK);
    CHECK_INT(ms, ref + 250);
    CHECK_INT(rp_datetime("2/30/2010 8:26", &ms), PE_EPARSE);
    CHECK_INT(rp_datetime("12/1/2010", &ms), PE_EPARSE);
    CHECK_INT(rp_datetime("12/1/2010 25:00", &ms), PE_EPARSE);
    CHECK_INT(rp_datetime("yesterday", &ms), PE_EPARSE);
}

static void t_online_retail_catalog(void)
{
    const char *p = put("or.csv", "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,"
                                  "CustomerID,Country\r\n"
                                  "1,A,\"THING, RED\",2,12/1/2010 8:26,2.55,17850,UK\r\n"
                                  "1,A,\"THING, RED\",1,12/1/2010 8:26,2.10,17850,UK\r\n"
                                  "2,B,OTHER,1,12/1/2010 8:30,1.00,,UK\r\n"
                                  "2,C,BROKEN,1,12/1/2010 8:30,abc,,UK\r\n"
                                  "3,POST,POSTAGE,1,12/1/2010 9:00,18,,UK\r\n");
    char *out = NULL, *json = NULL;
    size_t outlen = 0;
    FILE *rep = open_memstream(&out, &outlen);
    CHECK(rep);
    struct pe_replay_opts o = {.format = PE_REPLAY_ONLINE_RETAIL, .report = rep};
    char err[256] = "";
    const char *paths[] = {p};
    CHECK_INT(pe_replay_catalog(paths, 1, &o, &json, err, sizeof err), PE_OK);
    fclose(rep);
    CHECK(strstr(out, "or.csv:5: UnitPrice \"abc\" is not a decimal number; invoice 2 skipped"));
    CHECK(strstr(json, "\"id\":\t\"A\""));
    CHECK(strstr(json, "\"id\":\t\"A@210\""));
    CHECK(strstr(json, "\"name\":\t\"THING, RED\""));
    CHECK(strstr(json, "\"id\":\t\"POST\""));
    CHECK(!strstr(json, "\"id\":\t\"B\"")); /* its invoice was skipped whole */
    free(json);
    free(out);
    /* Another layout is refused with the file named. */
    const char *q = put("x.csv", "a,b\n1,2\n");
    paths[0] = q;
    o.report = NULL;
    CHECK_INT(pe_replay_catalog(paths, 1, &o, &json, err, sizeof err), PE_EINVAL);
    CHECK(strstr(err, "x.csv:1: not an Online Retail file"));
}

static const struct pe_test tests[] = {
    {"csv_quoting", t_csv_quoting},
    {"csv_bad_records", t_csv_bad_records},
    {"decimal", t_decimal},
    {"datetime", t_datetime},
    {"online_retail_catalog", t_online_retail_catalog},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("replay", tests, argc, argv);
}
