/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_catalog.c - unit tests of the item catalog: the shipped sim catalog loads and holds
 * what the simulator needs, EAN-13 check digits match known answers, the loader refuses each
 * kind of bad file with a message naming the file, the item index and the field, and the
 * optional numbers pipelines key on (item_id, supplier_id, safety_stock) are checked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/catalog.h"
#include "posedge/err.h"
#include "tests/unit/harness.h"

#define CHECK_HAS(hay, needle)                                                                     \
    do {                                                                                           \
        const char *h__ = (hay), *n__ = (needle);                                                  \
        if (!strstr(h__, n__))                                                                     \
            pe_test_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"", h__, n__);          \
    } while (0)

static const char *shipped_path(void)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/boards/sim/catalog.json", pe_test_srcdir());
    return path;
}

static const char *write_tmp(const char *name, const char *text)
{
    const char *path = pe_test_path(0, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    CHECK(fputs(text, f) >= 0);
    CHECK(fclose(f) == 0);
    return path;
}

/* Load text as a catalog file; expect rc and return err for inspection. */
static const char *load_bad(const char *text, int want_rc)
{
    static char err[256];
    struct pe_catalog *cat = (struct pe_catalog *)1;
    err[0] = '\0';
    int rc = pe_catalog_load(write_tmp("catalog.json", text), &cat, err, sizeof err);
    CHECK_INT(rc, want_rc);
    CHECK(cat == NULL);
    CHECK_HAS(err, "catalog.json");
    return err;
}

#define HEAD "{\"currency\":\"EUR\",\"items\":["
#define ITEM(id, bc, price)                                                                        \
    "{\"id\":\"" id "\",\"barcode\":\"" bc "\",\"name\":\"N\","                                    \
    "\"category\":\"Snacks\",\"brand\":\"B\",\"price\":" price ","                                 \
    "\"tax_bp\":550,\"weighed\":false}"

static void t_shipped_loads(void)
{
    struct pe_catalog *cat = NULL;
    char err[256] = "";
    int rc = pe_catalog_load(shipped_path(), &cat, err, sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "load: %s (%s)", pe_errname(rc), err);
    CHECK_STR(pe_catalog_currency(cat), "EUR");
    size_t n = pe_catalog_count(cat);
    CHECK(n >= 200);
    size_t weighed = 0;
    const char *cats[] = {"Skincare",  "Makeup", "Hair Care", "Bath & Body",
                          "Fragrance", "Snacks", "Beverages", "Produce"};
    size_t per_cat[8] = {0};
    for (size_t i = 0; i < n; i++) {
        const struct pe_item *it = pe_catalog_at(cat, i);
        CHECK(it != NULL);
        CHECK(pe_ean13_valid(it->barcode));
        /* Unique: each barcode and id finds this very item. */
        CHECK(pe_catalog_by_barcode(cat, it->barcode) == it);
        CHECK(pe_catalog_by_id(cat, it->id) == it);
        char want_id[32];
        snprintf(want_id, sizeof want_id, "SKU-%05zu", i + 1);
        CHECK_STR(it->id, want_id);
        CHECK(strncmp(it->barcode, "299", 3) != 0); /* kept free for the shopper's mistakes */
        CHECK(it->price > 0);
        CHECK(strlen(it->name) <= 32);
        CHECK(it->brand[0] != '\0');
        bool known = false;
        for (int c = 0; c < 8; c++) {
            if (strcmp(it->category, cats[c]) == 0) {
                per_cat[c]++;
                known = true;
            }
        }
        CHECK(known);
        if (it->weighed) {
            weighed++;
            CHECK_STR(it->category, "Produce");
        }
        if (!strcmp(it->category, "Snacks") || !strcmp(it->category, "Produce") ||
            !strcmp(it->category, "Beverages"))
            CHECK(it->tax_bp == 550 || it->tax_bp == 1000);
        else
            CHECK_INT(it->tax_bp, 2000);
    }
    CHECK(weighed >= 25);
    for (int c = 0; c < 8; c++)
        CHECK(per_cat[c] > 0);
    CHECK(pe_catalog_at(cat, n) == NULL);
    CHECK(pe_catalog_by_barcode(cat, "4006381333931") == NULL);
    CHECK(pe_catalog_by_id(cat, "SKU-99999") == NULL);
    CHECK(pe_catalog_by_barcode(cat, NULL) == NULL);
    const struct pe_item *first = pe_catalog_by_id(cat, "SKU-00001");
    CHECK(first == pe_catalog_at(cat, 0));
    pe_catalog_destroy(cat);
}

static void t_ean13_known_answers(void)
{
    CHECK_INT(pe_ean13_check_digit("400638133393"), 1);
    CHECK_INT(pe_ean13_check_digit("590123412345"), 7);
    CHECK_INT(pe_ean13_check_digit("978020137962"), 4);
    CHECK_INT(pe_ean13_check_digit("000000000000"), 0);
    CHECK_INT(pe_ean13_check_digit("40063813339"), -1);
    CHECK_INT(pe_ean13_check_digit("40063813339x"), -1);
    CHECK_INT(pe_ean13_check_digit(NULL), -1);
    CHECK(pe_ean13_valid("4006381333931"));
    CHECK(pe_ean13_valid("5901234123457"));
    CHECK(!pe_ean13_valid("4006381333932"));
    CHECK(!pe_ean13_valid("400638133393"));
    CHECK(!pe_ean13_valid("40063813339310"));
    CHECK(!pe_ean13_valid("400638133393a"));
    CHECK(!pe_ean13_valid(NULL));
}

static void t_small_file_and_lookup(void)
{
    const char *path = write_tmp("ok.json", HEAD ITEM("A-1", "4006381333931", "199") "," ITEM(
                                                "A-2", "5901234123457", "0") "]}");
    struct pe_catalog *cat = NULL;
    char err[256] = "";
    CHECK_OK(pe_catalog_load(path, &cat, err, sizeof err));
    CHECK_INT(pe_catalog_count(cat), 2);
    CHECK_STR(pe_catalog_by_barcode(cat, "5901234123457")->id, "A-2");
    CHECK_INT(pe_catalog_by_id(cat, "A-1")->price, 199);
    CHECK(!pe_catalog_by_id(cat, "A-1")->weighed);
    pe_catalog_destroy(cat);
    pe_catalog_destroy(NULL);

    CHECK_OK(pe_catalog_load(write_tmp("empty.json", "{\"currency\":\"USD\",\"items\":[]}"), &cat,
                             err, sizeof err));
    CHECK_INT(pe_catalog_count(cat), 0);
    CHECK_STR(pe_catalog_currency(cat), "USD");
    CHECK(pe_catalog_by_barcode(cat, "4006381333931") == NULL);
    pe_catalog_destroy(cat);
}

static void t_refuses_bad_check_digit(void)
{
    const char *err =
        load_bad(HEAD ITEM("A-1", "4006381333931", "1") "," ITEM("A-2", "4006381333932", "1") "]}",
                 PE_EINVAL);
    CHECK_HAS(err, "items[1].barcode");
    CHECK_HAS(err, "check digit");
    err = load_bad(HEAD ITEM("A-1", "40063813339", "1") "]}", PE_EINVAL);
    CHECK_HAS(err, "items[0].barcode");
}

static void t_refuses_duplicates(void)
{
    const char *err =
        load_bad(HEAD ITEM("A-1", "4006381333931", "1") "," ITEM(
                     "A-2", "5901234123457", "1") "," ITEM("A-3", "4006381333931", "1") "]}",
                 PE_EINVAL);
    CHECK_HAS(err, "items[2].barcode");
    CHECK_HAS(err, "duplicate of items[0]");
    err =
        load_bad(HEAD ITEM("A-1", "4006381333931", "1") "," ITEM("A-1", "5901234123457", "1") "]}",
                 PE_EINVAL);
    CHECK_HAS(err, "items[1].id");
    CHECK_HAS(err, "duplicate");
}

static void t_refuses_bad_fields(void)
{
    const char *err = load_bad(HEAD ITEM("A-1", "4006381333931", "12.99") "]}", PE_EINVAL);
    CHECK_HAS(err, "items[0].price");
    CHECK_HAS(err, "integer");
    err = load_bad(HEAD ITEM("A-1", "4006381333931", "\"1\"") "]}", PE_EINVAL);
    CHECK_HAS(err, "items[0].price");
    err = load_bad(HEAD ITEM("A-1", "4006381333931", "-5") "]}", PE_EINVAL);
    CHECK_HAS(err, "items[0].price");
    err =
        load_bad(HEAD ITEM("A-1", "4006381333931",
                           "1") ","
                                "{\"id\":\"A-2\",\"barcode\":\"5901234123457\",\"category\":\"C\","
                                "\"brand\":\"B\",\"price\":1,\"tax_bp\":0,\"weighed\":true}]}",
                 PE_EINVAL);
    CHECK_HAS(err, "items[1].name: missing");
    err = load_bad("{\"currency\":\"EUR\",\"items\":[{\"id\":\"A-2\",\"barcode\":\"5901234123457\","
                   "\"name\":\"N\",\"category\":\"C\",\"brand\":\"B\",\"price\":1,"
                   "\"tax_bp\":20000,\"weighed\":true}]}",
                   PE_EINVAL);
    CHECK_HAS(err, "items[0].tax_bp");
    err = load_bad("{\"currency\":\"EUR\",\"items\":[{\"id\":\"A-2\",\"barcode\":\"5901234123457\","
                   "\"name\":\"N\",\"category\":\"C\",\"brand\":\"B\",\"price\":1,"
                   "\"tax_bp\":0,\"weighed\":1}]}",
                   PE_EINVAL);
    CHECK_HAS(err, "items[0].weighed");
    err = load_bad("{\"currency\":\"EUR\",\"items\":[{\"id\":\"A-2\",\"barcode\":\"5901234123457\","
                   "\"name\":\"N\",\"category\":\"C\",\"brand\":\"B\",\"price\":1,"
                   "\"tax_bp\":0,\"wieghed\":true}]}",
                   PE_EINVAL);
    CHECK_HAS(err, "items[0].wieghed: unknown field");
    err = load_bad("{\"currency\":\"EUR\",\"items\":[{\"id\":\"\",\"barcode\":\"5901234123457\"}]}",
                   PE_EINVAL);
    CHECK_HAS(err, "items[0].id");
    err = load_bad("{\"currency\":\"EUR\",\"items\":[42]}", PE_EINVAL);
    CHECK_HAS(err, "items[0]: not an object");
}

static void t_refuses_bad_file(void)
{
    const char *err = load_bad("{\"currency\":\"EUR\",\n\"items\":[\n{\"id\":}]}", PE_EPARSE);
    CHECK_HAS(err, "catalog.json:3:");
    err = load_bad("{\"currency\":\"eur\",\"items\":[]}", PE_EINVAL);
    CHECK_HAS(err, "currency");
    err = load_bad("{\"items\":[]}", PE_EINVAL);
    CHECK_HAS(err, "currency: missing");
    err = load_bad("{\"currency\":\"EUR\"}", PE_EINVAL);
    CHECK_HAS(err, "items: missing");
    err = load_bad("[1,2]", PE_EINVAL);
    CHECK_HAS(err, "not a JSON object");

    struct pe_catalog *cat = NULL;
    char msg[256] = "";
    CHECK_INT(pe_catalog_load(pe_test_path(1, "absent.json"), &cat, msg, sizeof msg), PE_EIO);
    CHECK_HAS(msg, "absent.json");
    CHECK(cat == NULL);
}

/* The numbers pipelines key on are optional, checked when given, and default when not. */
static void t_optional_pipeline_ids(void)
{
    const char *path = write_tmp(
        "ids.json", HEAD ITEM("A-1", "4006381333931", "199") ","
                         "{\"id\":\"A-2\",\"barcode\":\"5901234123457\",\"name\":\"N\","
                         "\"category\":\"C\",\"brand\":\"B\",\"price\":1,\"tax_bp\":0,"
                         "\"weighed\":false,\"item_id\":2147483647,\"supplier_id\":12,"
                         "\"safety_stock\":40}]}");
    struct pe_catalog *cat = NULL;
    char err[256] = "";
    CHECK_OK(pe_catalog_load(path, &cat, err, sizeof err));
    const struct pe_item *a = pe_catalog_by_id(cat, "A-1"), *b = pe_catalog_by_id(cat, "A-2");
    CHECK_INT(a->item_id, -1);
    CHECK_INT(a->supplier_id, 0);
    CHECK_INT(a->safety_stock, 0);
    CHECK_INT(b->item_id, 2147483647);
    CHECK_INT(b->supplier_id, 12);
    CHECK_INT(b->safety_stock, 40);
    CHECK_INT(b->tax_bp, 0);
    CHECK_INT(b->price, 1);
    pe_catalog_destroy(cat);

#define WITH(extra)                                                                                \
    "{\"currency\":\"EUR\",\"items\":[{\"id\":\"A-2\",\"barcode\":\"5901234123457\","           \
    "\"name\":\"N\",\"category\":\"C\",\"brand\":\"B\",\"price\":1,\"tax_bp\":0,"             \
    "\"weighed\":false," extra "}]}"
    const char *e = load_bad(WITH("\"item_id\":2147483648"), PE_EINVAL);
    CHECK_HAS(e, "items[0].item_id: 2147483648 is outside 0..2147483647");
    e = load_bad(WITH("\"item_id\":\"7\""), PE_EINVAL);
    CHECK_HAS(e, "items[0].item_id: not an integer");
    e = load_bad(WITH("\"supplier_id\":-1"), PE_EINVAL);
    CHECK_HAS(e, "items[0].supplier_id");
    e = load_bad(WITH("\"safety_stock\":1.5"), PE_EINVAL);
    CHECK_HAS(e, "items[0].safety_stock: not an integer");
    e = load_bad(WITH("\"supplier\":3"), PE_EINVAL);
    CHECK_HAS(e, "items[0].supplier: unknown field");
#undef WITH
}

static const struct pe_test tests[] = {
    {"shipped_loads", t_shipped_loads},
    {"ean13_known_answers", t_ean13_known_answers},
    {"small_file_and_lookup", t_small_file_and_lookup},
    {"refuses_bad_check_digit", t_refuses_bad_check_digit},
    {"refuses_duplicates", t_refuses_duplicates},
    {"refuses_bad_fields", t_refuses_bad_fields},
    {"refuses_bad_file", t_refuses_bad_file},
    {"optional_pipeline_ids", t_optional_pipeline_ids},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("catalog", tests, argc, argv);
}
