/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_catalog.c - unit tests of the item catalog: the shipped sim catalog loads and holds
 * what the simulator needs, EAN-13 check digits match known answers, the loader refuses each
 * kind of bad file with a message naming the file, the item index and the field, and the
 * optional numbers pipelines key on (item_id, supplier_id, safety_stock) are checked.
 *
 * The documents HQ publishes (catalog.h): a valid item and promotion of every form parse, and
 * each fault is refused with its own reason naming the member (one table of documents and
 * reasons); the shorthand and the list form are one normal form; windows are sorted, never
 * overlap, and the price in force follows the clock to the millisecond; keys split and scopes
 * rank (a store's record over "*"); the content hash is stable (order, form and whitespace do
 * not change it, any content change does) and is the same made whole or incrementally; a
 * catalog built from documents finds every barcode of an item.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/catalog.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/json.h"
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


/* ---- documents ---- */

#define DOC_HEAD                                                                                   \
    "\"v\":1,\"id\":\"SKU-1\",\"barcodes\":[\"4006381333931\",\"5901234123457\"],"              \
    "\"name\":\"Tomato soup\",\"category\":\"Soups\",\"brand\":\"B\",\"tax_bp\":550,"            \
    "\"weighed\":false,\"currency\":\"EUR\""
#define PRICES                                                                                     \
    "\"prices\":[{\"price\":199,\"effective_from\":\"2026-12-08T06:00:00.000Z\","                \
    "\"effective_to\":null},{\"price\":249,\"effective_from\":\"2026-01-01T00:00:00.000Z\","     \
    "\"effective_to\":\"2026-12-08T06:00:00.000Z\"}]"

static cJSON *parse(const char *text)
{
    cJSON *d = NULL;
    char why[128];
    int rc = pe_json_parse(text, strlen(text), &d, why, sizeof why);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "test JSON: %s: %s", why, text);
    return d;
}

static int64_t ms(const char *t)
{
    int64_t v = 0;
    CHECK_OK(pe_time_parse(t, &v));
    return v;
}

static void t_item_document(void)
{
    cJSON *d = parse("{" DOC_HEAD "," PRICES ",\"item_id\":123,\"safety_stock\":10}");
    struct pe_item_doc it;
    char why[PE_CATALOG_WHY_MAX] = "";
    CHECK_OK(pe_catalog_doc_parse_item(d, &it, why, sizeof why));
    CHECK_STR(it.item.id, "SKU-1");
    CHECK_STR(it.item.barcode, "4006381333931");
    CHECK_INT(it.item.nbarcodes, 2);
    CHECK_STR(it.item.barcodes[1], "5901234123457");
    CHECK_STR(it.currency, "EUR");
    CHECK_INT(it.item.tax_bp, 550);
    CHECK_INT(it.item.item_id, 123);
    CHECK_INT(it.item.supplier_id, 0);
    CHECK_INT(it.item.safety_stock, 10);
    CHECK_INT(it.item.has, PE_ITEM_HAS_ITEM_ID | PE_ITEM_HAS_SAFETY_STOCK);
    /* Sorted by effective_from whatever the document's order. */
    CHECK_INT(it.item.nprices, 2);
    CHECK_INT(it.item.prices[0].price, 249);
    CHECK_INT(it.item.prices[1].price, 199);
    CHECK(it.item.prices[1].to_ms == PE_CATALOG_OPEN);
    /* The price in force, by the clock, to the millisecond; none before the first window. */
    int64_t change = ms("2026-12-08T06:00:00.000Z"), p = 0;
    CHECK_OK(pe_item_price_at(&it.item, change - 1, &p));
    CHECK_INT(p, 249);
    CHECK_OK(pe_item_price_at(&it.item, change, &p));
    CHECK_INT(p, 199);
    CHECK_OK(pe_item_price_at(&it.item, change + 86400000LL * 365 * 50, &p));
    CHECK_INT(p, 199);
    CHECK_INT(pe_item_price_at(&it.item, ms("2025-12-31T23:59:59.999Z"), &p), PE_ENOTFOUND);
    CHECK(pe_item_price_window(&it.item, change) == &it.item.prices[1]);

    /* A copy outlives the document. */
    struct pe_item *copy = NULL;
    CHECK_OK(pe_item_dup(&it.item, &copy));
    cJSON_Delete(d);
    CHECK_STR(copy->barcodes[1], "5901234123457");
    CHECK_STR(copy->barcode, "4006381333931");
    CHECK_STR(copy->category, "Soups");
    CHECK_INT(copy->prices[1].price, 199);
    free(copy);
}

/* The shorthand and the list form are the same normal form; the normal form parses back to
 * itself. */
static void t_normal_form(void)
{
    cJSON *a = parse("{" DOC_HEAD ",\"price\":199,\"effective_from\":\"2026-12-08T06:00:00.000Z\"}");
    cJSON *b = parse("{" DOC_HEAD ",\"prices\":[{\"price\":199,\"effective_from\":"
                     "\"2026-12-08T06:00:00.000Z\",\"effective_to\":null}]}");
    cJSON *na = NULL, *nb = NULL, *nn = NULL;
    char why[PE_CATALOG_WHY_MAX] = "", *ta = NULL, *tb = NULL, *tn = NULL;
    CHECK_OK(pe_catalog_doc_normalize_item(a, &na, why, sizeof why));
    CHECK_OK(pe_catalog_doc_normalize_item(b, &nb, why, sizeof why));
    CHECK_OK(pe_json_canonical(na, &ta, NULL));
    CHECK_OK(pe_json_canonical(nb, &tb, NULL));
    CHECK_STR(ta, tb);
    CHECK_STR(ta, "{\"barcodes\":[\"4006381333931\",\"5901234123457\"],\"brand\":\"B\","
                  "\"category\":\"Soups\",\"currency\":\"EUR\",\"id\":\"SKU-1\",\"name\":"
                  "\"Tomato soup\",\"prices\":[{\"effective_from\":\"2026-12-08T06:00:00.000Z\","
                  "\"effective_to\":null,\"price\":199}],\"tax_bp\":550,\"v\":1,"
                  "\"weighed\":false}");
    CHECK_OK(pe_catalog_doc_normalize_item(na, &nn, why, sizeof why));
    CHECK_OK(pe_json_canonical(nn, &tn, NULL));
    CHECK_STR(tn, ta);
    free(ta), free(tb), free(tn);
    cJSON_Delete(a), cJSON_Delete(b), cJSON_Delete(na), cJSON_Delete(nb), cJSON_Delete(nn);

    cJSON *p = parse("{\"v\":1,\"id\":\"P-1\",\"name\":\"3 for 2\",\"kind\":\"n_for_m\","
                     "\"target\":{\"category\":\"Soups\"},\"n\":3,\"m\":2,"
                     "\"from\":\"2026-12-01T00:00:00.000Z\"}");
    CHECK_OK(pe_catalog_doc_normalize_promotion(p, &na, why, sizeof why));
    CHECK_OK(pe_json_canonical(na, &ta, NULL));
    CHECK_STR(ta, "{\"from\":\"2026-12-01T00:00:00.000Z\",\"id\":\"P-1\",\"kind\":\"n_for_m\","
                  "\"m\":2,\"n\":3,\"name\":\"3 for 2\",\"priority\":0,\"target\":{\"category\":"
                  "\"Soups\"},\"to\":null,\"v\":1}");
    free(ta);
    cJSON_Delete(na), cJSON_Delete(p);
}

/* Every fault of an item document, with the reason it must be refused with. */
static const struct {
    const char *doc;
    const char *why;
} bad_items[] = {
    {"[]", "not an object"},
    {"{" DOC_HEAD "," PRICES ",\"weighted\":true}", "weighted: unknown field"},
    {"{" DOC_HEAD "," PRICES ",\"tax_bp\":2000}", "tax_bp: given twice"},
    {"{\"id\":\"SKU-1\"}", "v: missing"},
    {"{\"v\":2,\"id\":\"SKU-1\"}", "v: 2 is outside 1..1"},
    {"{\"v\":1,\"id\":\"\"}", "id: must be 1..31 printable ASCII characters"},
    {"{\"v\":1,\"id\":\"A B\"}", "id: must be 1..31 printable ASCII characters"},
    {"{\"v\":1,\"id\":\"0123456789012345678901234567890123\"}", "id: must be 1..31"},
    {"{\"v\":1,\"id\":7}", "id: not a string"},
    {"{\"v\":1,\"id\":\"SKU-1\",\"barcodes\":\"4006381333931\"}", "barcodes: not a list"},
    {"{\"v\":1,\"id\":\"SKU-1\",\"barcodes\":[]}", "barcodes: must hold 1..8 barcodes"},
    {"{\"v\":1,\"id\":\"SKU-1\",\"barcodes\":[\"4006381333932\"]}",
     "barcodes[0]: bad EAN-13 check digit (expected 1)"},
    {"{\"v\":1,\"id\":\"SKU-1\",\"barcodes\":[\"4006381333931\",\"40063813\"]}",
     "barcodes[1]: \"40063813\" is not 13 digits"},
    {"{\"v\":1,\"id\":\"SKU-1\",\"barcodes\":[\"4006381333931\",\"4006381333931\"]}",
     "barcodes[1]: duplicate of barcodes[0]"},
    {"{\"v\":1,\"id\":\"SKU-1\",\"barcodes\":[\"4006381333931\"]}", "name: missing"},
    {"{\"v\":1,\"id\":\"SKU-1\",\"barcodes\":[\"4006381333931\"],\"name\":\"\"}",
     "name: must be 1..256 bytes long"},
    {"{\"v\":1,\"id\":\"SKU-1\",\"barcodes\":[\"4006381333931\"],\"name\":\"N\",\"category\":"
     "\"C\",\"brand\":\"B\",\"tax_bp\":10001}",
     "tax_bp: 10001 is outside 0..10000"},
    {"{\"v\":1,\"id\":\"SKU-1\",\"barcodes\":[\"4006381333931\"],\"name\":\"N\",\"category\":"
     "\"C\",\"brand\":\"B\",\"tax_bp\":2000,\"weighed\":1}",
     "weighed: not true or false"},
    {"{\"v\":1,\"id\":\"SKU-1\",\"barcodes\":[\"4006381333931\"],\"name\":\"N\",\"category\":"
     "\"C\",\"brand\":\"B\",\"tax_bp\":2000,\"weighed\":true,\"currency\":\"eur\"}",
     "currency: not an ISO 4217 code (3 upper-case letters)"},
    {"{" DOC_HEAD "}", "prices: missing"},
    {"{" DOC_HEAD "," PRICES ",\"price\":5}", "price: give prices or price, not both"},
    {"{" DOC_HEAD ",\"price\":5}", "effective_from: missing (the price's start)"},
    {"{" DOC_HEAD ",\"price\":12.5,\"effective_from\":\"2026-12-08T06:00:00.000Z\"}",
     "price: not an integer"},
    {"{" DOC_HEAD ",\"price\":-1,\"effective_from\":\"2026-12-08T06:00:00.000Z\"}",
     "price: -1 is outside 0..1000000000"},
    {"{" DOC_HEAD ",\"price\":5,\"effective_from\":\"2026-12-08 06:00:00\"}",
     "effective_from: not a UTC time (YYYY-MM-DDTHH:MM:SS.mmmZ)"},
    {"{" DOC_HEAD ",\"price\":5,\"effective_from\":\"2026-12-08T06:00:00.000Z\","
     "\"effective_to\":\"2026-12-08T06:00:00.000Z\"}",
     "effective_to: not after effective_from"},
    {"{" DOC_HEAD ",\"prices\":{}}", "prices: not a list"},
    {"{" DOC_HEAD ",\"prices\":[]}", "prices: must hold 1..32 entries"},
    {"{" DOC_HEAD ",\"prices\":[7]}", "prices[0]: not an object"},
    {"{" DOC_HEAD ",\"prices\":[{\"price\":1,\"effective_from\":\"2026-12-08T06:00:00.000Z\"},"
     "{\"price\":2}]}",
     "prices[1].effective_from: missing"},
    {"{" DOC_HEAD ",\"prices\":[{\"price\":1,\"effective_from\":\"2026-12-08T06:00:00.000Z\"},"
     "{\"price\":2,\"effective_from\":\"2026-02-30T06:00:00.000Z\"}]}",
     "prices[1].effective_from: not a UTC time"},
    {"{" DOC_HEAD ",\"prices\":[{\"price\":1,\"effective_from\":\"2026-12-08T06:00:00.000Z\","
     "\"effective_to\":5}]}",
     "prices[0].effective_to: not a UTC time (YYYY-MM-DDTHH:MM:SS.mmmZ) or null"},
    {"{" DOC_HEAD ",\"prices\":[{\"price\":1,\"effective_from\":\"2026-12-08T06:00:00.000Z\","
     "\"cost\":1}]}",
     "prices[0].cost: unknown field"},
    {"{" DOC_HEAD ",\"prices\":[{\"price\":1,\"effective_from\":\"2026-12-08T06:00:00.000Z\","
     "\"effective_to\":\"2026-12-01T06:00:00.000Z\"}]}",
     "prices[0].effective_to: not after effective_from"},
    /* Open-ended windows overlap whatever starts later; so do windows sharing a stretch. */
    {"{" DOC_HEAD ",\"prices\":[{\"price\":1,\"effective_from\":\"2026-12-08T06:00:00.000Z\"},"
     "{\"price\":2,\"effective_from\":\"2026-12-09T06:00:00.000Z\"}]}",
     "prices[1]: overlaps prices[0]"},
    {"{" DOC_HEAD ",\"prices\":[{\"price\":1,\"effective_from\":\"2026-12-09T06:00:00.000Z\","
     "\"effective_to\":\"2026-12-20T00:00:00.000Z\"},{\"price\":3,\"effective_from\":"
     "\"2027-01-01T00:00:00.000Z\"},{\"price\":2,\"effective_from\":\"2026-12-01T00:00:00.000Z\","
     "\"effective_to\":\"2026-12-09T06:00:00.001Z\"}]}",
     "prices[2]: overlaps prices[0]"},
    {"{" DOC_HEAD "," PRICES ",\"item_id\":-1}", "item_id: -1 is outside 0..2147483647"},
    {"{" DOC_HEAD "," PRICES ",\"supplier_id\":\"4\"}", "supplier_id: not an integer"},
};

static void t_item_document_refusals(void)
{
    for (size_t i = 0; i < sizeof bad_items / sizeof bad_items[0]; i++) {
        cJSON *d = parse(bad_items[i].doc);
        struct pe_item_doc it;
        char why[PE_CATALOG_WHY_MAX] = "";
        int rc = pe_catalog_doc_parse_item(d, &it, why, sizeof why);
        if (rc != PE_EINVAL || strncmp(why, bad_items[i].why, strlen(bad_items[i].why)) != 0)
            pe_test_fail(__FILE__, __LINE__, "bad_items[%zu]: rc %d, why \"%s\", expected \"%s\"",
                         i, rc, why, bad_items[i].why);
        cJSON_Delete(d);
    }
    /* Adjacent windows (to == the next from) are fine: effective_to is exclusive. */
    cJSON *d = parse("{" DOC_HEAD "," PRICES "}");
    struct pe_item_doc it;
    CHECK_OK(pe_catalog_doc_parse_item(d, &it, NULL, 0));
    cJSON_Delete(d);
}

#define PROMO_HEAD "\"v\":1,\"id\":\"P-1\",\"name\":\"Deal\",\"from\":\"2026-12-01T00:00:00.000Z\","

static const struct {
    const char *doc;
    const char *why;
} bad_promos[] = {
    {"7", "not an object"},
    {"{" PROMO_HEAD "\"kind\":\"bogof\",\"target\":{\"item\":\"A\"}}",
     "kind: expected percent, amount, n_for_m or mix_match"},
    {"{" PROMO_HEAD "\"target\":{\"item\":\"A\"}}", "kind: missing"},
    {"{" PROMO_HEAD "\"kind\":\"percent\",\"percent_bp\":10}", "target: missing"},
    {"{" PROMO_HEAD "\"kind\":\"percent\",\"target\":{\"sku\":\"A\"},\"percent_bp\":10}",
     "target: expected {\"item\":ID} or {\"category\":NAME}"},
    {"{" PROMO_HEAD "\"kind\":\"percent\",\"target\":{\"item\":\"A\",\"category\":\"C\"},"
     "\"percent_bp\":10}",
     "target: expected {\"item\":ID} or {\"category\":NAME}"},
    {"{" PROMO_HEAD "\"kind\":\"percent\",\"target\":{\"item\":\"\"},\"percent_bp\":10}",
     "target.item: must be 1..31"},
    {"{" PROMO_HEAD "\"kind\":\"percent\",\"target\":{\"item\":\"A\"}}", "percent_bp: missing"},
    {"{" PROMO_HEAD "\"kind\":\"percent\",\"target\":{\"item\":\"A\"},\"percent_bp\":0}",
     "percent_bp: 0 is outside 1..10000"},
    {"{" PROMO_HEAD "\"kind\":\"percent\",\"target\":{\"item\":\"A\"},\"percent_bp\":10,"
     "\"amount\":5}",
     "amount: not a member of a percent promotion"},
    {"{" PROMO_HEAD "\"kind\":\"amount\",\"target\":{\"item\":\"A\"},\"amount\":0}",
     "amount: 0 is outside 1..1000000000"},
    {"{" PROMO_HEAD "\"kind\":\"n_for_m\",\"target\":{\"item\":\"A\"},\"n\":3}", "m: missing"},
    {"{" PROMO_HEAD "\"kind\":\"n_for_m\",\"target\":{\"item\":\"A\"},\"n\":3,\"m\":3}",
     "m: must be below n (3)"},
    {"{" PROMO_HEAD "\"kind\":\"n_for_m\",\"target\":{\"item\":\"A\"},\"n\":1,\"m\":1}",
     "n: 1 is outside 2..1000"},
    {"{" PROMO_HEAD "\"kind\":\"mix_match\",\"target\":{\"item\":\"A\"},\"n\":3,\"price\":5}",
     "target: mix_match needs a category"},
    {"{" PROMO_HEAD "\"kind\":\"mix_match\",\"target\":{\"category\":\"C\"},\"n\":3}",
     "price: missing"},
    {"{" PROMO_HEAD "\"kind\":\"mix_match\",\"target\":{\"category\":\"C\"},\"n\":3,\"price\":5,"
     "\"m\":1}",
     "m: not a member of a mix_match promotion"},
    {"{" PROMO_HEAD "\"kind\":\"percent\",\"target\":{\"item\":\"A\"},\"percent_bp\":10,"
     "\"to\":\"2026-11-30T00:00:00.000Z\"}",
     "to: not after from"},
    {"{" PROMO_HEAD "\"kind\":\"percent\",\"target\":{\"item\":\"A\"},\"percent_bp\":10,"
     "\"priority\":\"high\"}",
     "priority: not an integer"},
    {"{" PROMO_HEAD "\"kind\":\"percent\",\"target\":{\"item\":\"A\"},\"percent_bp\":10,"
     "\"stack\":true}",
     "stack: unknown field"},
    {"{\"v\":1,\"id\":\"P-1\",\"name\":\"Deal\",\"kind\":\"percent\",\"target\":{\"item\":\"A\"},"
     "\"percent_bp\":10}",
     "from: missing"},
};

static void t_promotion_documents(void)
{
    static const char *const good[] = {
        "{" PROMO_HEAD "\"kind\":\"percent\",\"target\":{\"item\":\"A\"},\"percent_bp\":1500}",
        "{" PROMO_HEAD "\"kind\":\"amount\",\"target\":{\"category\":\"Soups\"},\"amount\":50,"
        "\"to\":\"2026-12-31T00:00:00.000Z\",\"priority\":-3}",
        "{" PROMO_HEAD "\"kind\":\"n_for_m\",\"target\":{\"item\":\"A\"},\"n\":3,\"m\":2,"
        "\"to\":null}",
        "{" PROMO_HEAD "\"kind\":\"mix_match\",\"target\":{\"category\":\"C\"},\"n\":3,"
        "\"price\":500,\"priority\":10}",
    };
    struct pe_promotion p;
    char why[PE_CATALOG_WHY_MAX] = "";
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        cJSON *d = parse(good[i]);
        if (pe_catalog_doc_parse_promotion(d, &p, why, sizeof why))
            pe_test_fail(__FILE__, __LINE__, "good[%zu]: %s", i, why);
        CHECK_INT(p.kind, (int)i);
        CHECK_STR(pe_promo_kind_name(p.kind), i == 0   ? "percent"
                                              : i == 1 ? "amount"
                                              : i == 2 ? "n_for_m"
                                                       : "mix_match");
        if (i == 1) {
            CHECK(p.item == NULL);
            CHECK_STR(p.category, "Soups");
            CHECK_INT(p.amount, 50);
            CHECK_INT(p.priority, -3);
            CHECK(pe_promotion_active(&p, ms("2026-12-01T00:00:00.000Z")));
            CHECK(pe_promotion_active(&p, ms("2026-12-30T23:59:59.999Z")));
            CHECK(!pe_promotion_active(&p, ms("2026-12-31T00:00:00.000Z")));
            CHECK(!pe_promotion_active(&p, ms("2026-11-30T23:59:59.999Z")));
        }
        if (i == 2)
            CHECK(p.to_ms == PE_CATALOG_OPEN && p.n == 3 && p.m == 2);
        cJSON_Delete(d);
    }
    CHECK(pe_promo_kind_name(PE_PROMO__COUNT) == NULL);
    for (size_t i = 0; i < sizeof bad_promos / sizeof bad_promos[0]; i++) {
        cJSON *d = parse(bad_promos[i].doc);
        why[0] = '\0';
        int rc = pe_catalog_doc_parse_promotion(d, &p, why, sizeof why);
        if (rc != PE_EINVAL || strncmp(why, bad_promos[i].why, strlen(bad_promos[i].why)) != 0)
            pe_test_fail(__FILE__, __LINE__,
                         "bad_promos[%zu]: rc %d, why \"%s\", expected \"%s\"", i, rc, why,
                         bad_promos[i].why);
        cJSON_Delete(d);
    }
}

static void t_keys_and_scopes(void)
{
    char scope[PE_ID_MAX], id[PE_CATALOG_ID_MAX];
    CHECK_OK(pe_catalog_key_parse("s001/SKU-1", 10, scope, id));
    CHECK_STR(scope, "s001");
    CHECK_STR(id, "SKU-1");
    CHECK_OK(pe_catalog_key_parse("*/P/2", 5, scope, id));
    CHECK_STR(scope, "*");
    CHECK_STR(id, "P/2");
    static const char *const bad[] = {"SKU-1", "/SKU-1", "s001/", "s 1/SKU-1", "**/SKU-1",
                                      "s001/A B", "s001/0123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_INT(pe_catalog_key_parse(bad[i], strlen(bad[i]), scope, id), PE_EINVAL);
    CHECK_INT(pe_catalog_key_parse("s001/A\0B", 8, scope, id), PE_EINVAL);
    /* The store's own record beats "*"; another store's does not count. */
    CHECK_INT(pe_catalog_scope_rank("s001", "s001"), 2);
    CHECK_INT(pe_catalog_scope_rank("*", "s001"), 1);
    CHECK_INT(pe_catalog_scope_rank("s002", "s001"), 0);
    CHECK_INT(pe_catalog_scope_rank("*", "*"), 1);
    CHECK(pe_catalog_scope_rank("s001", "s001") > pe_catalog_scope_rank("*", "s001"));
}

/* The hash covers content, not order, form or spacing; made whole or row by row it is one. */
static void t_content_hash(void)
{
    cJSON *i1 = parse("{" DOC_HEAD "," PRICES "}");
    cJSON *i2 = parse("{\"v\":1,\"id\":\"SKU-0\",\"barcodes\":[\"2145427049688\"],\"name\":\"X\","
                      "\"category\":\"C\",\"brand\":\"B\",\"tax_bp\":2000,\"weighed\":true,"
                      "\"currency\":\"EUR\",\"price\":100,\"effective_from\":"
                      "\"2026-01-01T00:00:00.000Z\"}");
    cJSON *i2b = parse("{\"currency\":\"EUR\",\"prices\":[{\"effective_to\":null,\"price\":100,"
                       "\"effective_from\":\"2026-01-01T00:00:00.000Z\"}],\"v\":1,\"id\":"
                       "\"SKU-0\",\"barcodes\":[\"2145427049688\"],\"name\":\"X\",\"category\":"
                       "\"C\",\"brand\":\"B\",\"tax_bp\":2000,\"weighed\":true}");
    cJSON *p1 = parse("{" PROMO_HEAD "\"kind\":\"percent\",\"target\":{\"item\":\"SKU-1\"},"
                      "\"percent_bp\":1500}");
    char h1[PE_SHA256_HEXLEN], h2[PE_SHA256_HEXLEN], h3[PE_SHA256_HEXLEN];
    char why[PE_CATALOG_WHY_MAX];
    const cJSON *a[] = {i1, i2}, *b[] = {i2b, i1}, *pr[] = {p1};
    CHECK_OK(pe_catalog_content_hash(a, 2, pr, 1, h1, why, sizeof why));
    CHECK_OK(pe_catalog_content_hash(b, 2, pr, 1, h2, why, sizeof why));
    CHECK_STR(h1, h2);
    CHECK(pe_is_sha256_hex(h1));

    /* Incrementally, in id order: the same. */
    struct pe_catalog_hasher *h = NULL;
    CHECK_OK(pe_catalog_hasher_create(&h));
    CHECK_OK(pe_catalog_hasher_item(h, i2, why, sizeof why));
    CHECK_OK(pe_catalog_hasher_item(h, i1, why, sizeof why));
    CHECK_OK(pe_catalog_hasher_promotion(h, p1, why, sizeof why));
    CHECK_OK(pe_catalog_hasher_finish(h, h3));
    CHECK_STR(h3, h1);

    /* Out of order, twice, an item after a promotion: refused with the reason. */
    CHECK_OK(pe_catalog_hasher_create(&h));
    CHECK_OK(pe_catalog_hasher_item(h, i1, why, sizeof why));
    CHECK_INT(pe_catalog_hasher_item(h, i2, why, sizeof why), PE_EINVAL);
    CHECK(strstr(why, "item SKU-0: not after SKU-1") != NULL);
    CHECK_INT(pe_catalog_hasher_finish(h, h3), PE_EINVAL);
    CHECK_OK(pe_catalog_hasher_create(&h));
    CHECK_OK(pe_catalog_hasher_promotion(h, p1, why, sizeof why));
    CHECK_INT(pe_catalog_hasher_item(h, i1, why, sizeof why), PE_EINVAL);
    CHECK(strstr(why, "after the promotions") != NULL);
    pe_catalog_hasher_free(h);
    const cJSON *twice[] = {i1, i1};
    CHECK_INT(pe_catalog_content_hash(twice, 2, NULL, 0, h3, why, sizeof why), PE_EINVAL);
    CHECK(strstr(why, "not after SKU-1") != NULL);

    /* A bad document is named by its index as given. */
    cJSON *bad = parse("{\"v\":1,\"id\":\"SKU-9\"}");
    const cJSON *withbad[] = {i1, bad};
    CHECK_INT(pe_catalog_content_hash(withbad, 2, NULL, 0, h3, why, sizeof why), PE_EINVAL);
    CHECK_STR(why, "items[1]: barcodes: missing");

    /* Any change of content changes it: a price, a window, a promotion, one item fewer. */
    cJSON_ReplaceItemInObject(i2b, "tax_bp", cJSON_CreateNumber(1000));
    CHECK_OK(pe_catalog_content_hash(b, 2, pr, 1, h2, why, sizeof why));
    CHECK(strcmp(h1, h2) != 0);
    CHECK_OK(pe_catalog_content_hash(a, 2, NULL, 0, h2, why, sizeof why));
    CHECK(strcmp(h1, h2) != 0);
    CHECK_OK(pe_catalog_content_hash(a, 1, pr, 1, h2, why, sizeof why));
    CHECK(strcmp(h1, h2) != 0);

    /* The empty catalog: SHA-256 of {"items":[],"promotions":[]}, stable across builds. */
    CHECK_OK(pe_catalog_content_hash(NULL, 0, NULL, 0, h3, why, sizeof why));
    uint8_t d[PE_SHA256_LEN];
    char want[PE_SHA256_HEXLEN];
    static const char empty[] = "{\"items\":[],\"promotions\":[]}";
    pe_sha256_2(empty, sizeof empty - 1, NULL, 0, d);
    pe_hex(d, sizeof d, want);
    CHECK_STR(h3, want);
    cJSON_Delete(i1), cJSON_Delete(i2), cJSON_Delete(i2b), cJSON_Delete(p1), cJSON_Delete(bad);
}

/* A catalog built from documents: every barcode finds its item, duplicates and another
 * currency are refused naming the document; its documents and hash round-trip. */
static void t_build_from_documents(void)
{
    cJSON *i1 = parse("{" DOC_HEAD "," PRICES "}");
    cJSON *i2 = parse("{\"v\":1,\"id\":\"SKU-0\",\"barcodes\":[\"2145427049688\"],\"name\":\"X\","
                      "\"category\":\"C\",\"brand\":\"B\",\"tax_bp\":2000,\"weighed\":true,"
                      "\"currency\":\"EUR\",\"price\":100,\"effective_from\":"
                      "\"2026-01-01T00:00:00.000Z\"}");
    cJSON *dup = parse("{\"v\":1,\"id\":\"SKU-2\",\"barcodes\":[\"5901234123457\"],\"name\":\"X\","
                       "\"category\":\"C\",\"brand\":\"B\",\"tax_bp\":2000,\"weighed\":true,"
                       "\"currency\":\"EUR\",\"price\":100,\"effective_from\":"
                       "\"2026-01-01T00:00:00.000Z\"}");
    cJSON *usd = parse("{\"v\":1,\"id\":\"SKU-3\",\"barcodes\":[\"0012345678905\"],\"name\":\"X\","
                       "\"category\":\"C\",\"brand\":\"B\",\"tax_bp\":2000,\"weighed\":true,"
                       "\"currency\":\"USD\",\"price\":100,\"effective_from\":"
                       "\"2026-01-01T00:00:00.000Z\"}");
    cJSON *p1 = parse("{" PROMO_HEAD "\"kind\":\"percent\",\"target\":{\"item\":\"SKU-1\"},"
                      "\"percent_bp\":1500}");
    const cJSON *items[] = {i1, i2, dup, usd}, *pr[] = {p1, p1};
    struct pe_catalog *cat = NULL;
    char why[PE_CATALOG_WHY_MAX] = "";
    CHECK_OK(pe_catalog_build(items, 2, pr, 1, NULL, &cat, why, sizeof why));
    CHECK_STR(pe_catalog_currency(cat), "EUR");
    CHECK_INT(pe_catalog_count(cat), 2);
    CHECK_STR(pe_catalog_by_barcode(cat, "5901234123457")->id, "SKU-1");
    CHECK_STR(pe_catalog_by_barcode(cat, "4006381333931")->id, "SKU-1");
    CHECK_STR(pe_catalog_by_id(cat, "SKU-0")->barcode, "2145427049688");
    CHECK(pe_catalog_by_barcode(cat, "0012345678905") == NULL);
    CHECK_INT(pe_catalog_promotion_count(cat), 1);
    CHECK_STR(pe_catalog_promotion_at(cat, 0)->item, "SKU-1");
    char h1[PE_SHA256_HEXLEN], h2[PE_SHA256_HEXLEN];
    CHECK_OK(pe_catalog_hash(cat, h1));
    CHECK_OK(pe_catalog_content_hash(items, 2, pr, 1, h2, why, sizeof why));
    CHECK_STR(h1, h2);
    cJSON *docs = NULL;
    CHECK_OK(pe_catalog_docs(cat, &docs, NULL));
    CHECK_INT(cJSON_GetArraySize(docs), 2);
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(docs, 0), "id")->valuestring, "SKU-0");
    cJSON_Delete(docs);
    pe_catalog_destroy(cat);

    cat = (struct pe_catalog *)1;
    CHECK_INT(pe_catalog_build(items, 3, NULL, 0, NULL, &cat, why, sizeof why), PE_EINVAL);
    CHECK(cat == NULL);
    CHECK_STR(why, "items[2]: barcodes: duplicate of items[0] (5901234123457)");
    const cJSON *cur[] = {i1, usd};
    CHECK_INT(pe_catalog_build(cur, 2, NULL, 0, NULL, &cat, why, sizeof why), PE_EINVAL);
    CHECK_STR(why, "items[1]: currency: USD, but the catalog is priced in EUR");
    CHECK_INT(pe_catalog_build(items, 1, pr, 2, "EUR", &cat, why, sizeof why), PE_EINVAL);
    CHECK_STR(why, "promotions[1]: id: duplicate of promotions[0] (P-1)");
    CHECK_OK(pe_catalog_build(NULL, 0, NULL, 0, "EUR", &cat, why, sizeof why));
    CHECK_INT(pe_catalog_count(cat), 0);
    CHECK(pe_catalog_by_id(cat, "SKU-1") == NULL);
    pe_catalog_destroy(cat);
    cJSON_Delete(i1), cJSON_Delete(i2), cJSON_Delete(dup), cJSON_Delete(usd), cJSON_Delete(p1);
}

/* A file's item is priced at every time from 1970 on; a file may carry promotions. */
static void t_file_items_as_documents(void)
{
    const char *path = write_tmp(
        "cat.json",
        HEAD ITEM("A-1", "4006381333931", "1299") "],\"promotions\":[{\"v\":1,\"id\":\"P-1\","
             "\"name\":\"Deal\",\"kind\":\"percent\",\"target\":{\"item\":\"A-1\"},"
             "\"percent_bp\":1000,\"from\":\"2026-01-01T00:00:00.000Z\"}]}");
    struct pe_catalog *cat = NULL;
    char err[256] = "";
    CHECK_OK(pe_catalog_load(path, &cat, err, sizeof err));
    const struct pe_item *it = pe_catalog_by_id(cat, "A-1");
    int64_t p = 0;
    CHECK_OK(pe_item_price_at(it, 0, &p));
    CHECK_INT(p, 1299);
    CHECK_OK(pe_item_price_at(it, ms("2099-01-01T00:00:00.000Z"), &p));
    CHECK_INT(it->nbarcodes, 1);
    CHECK_STR(it->barcodes[0], "4006381333931");
    CHECK_INT(pe_catalog_promotion_count(cat), 1);
    cJSON *docs = NULL;
    char *text = NULL;
    CHECK_OK(pe_catalog_docs(cat, &docs, NULL));
    CHECK_OK(pe_json_canonical(cJSON_GetArrayItem(docs, 0), &text, NULL));
    CHECK_STR(text, "{\"barcodes\":[\"4006381333931\"],\"brand\":\"B\",\"category\":\"Snacks\","
                    "\"currency\":\"EUR\",\"id\":\"A-1\",\"name\":\"N\",\"prices\":[{"
                    "\"effective_from\":\"1970-01-01T00:00:00.000Z\",\"effective_to\":null,"
                    "\"price\":1299}],\"tax_bp\":550,\"v\":1,\"weighed\":false}");
    free(text);
    cJSON_Delete(docs);
    pe_catalog_destroy(cat);
    const char *e = load_bad(HEAD ITEM("A-1", "4006381333931", "1299") "],\"promotions\":[{}]}",
                             PE_EINVAL);
    CHECK_HAS(e, "promotions[0].v: missing");
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
    {"item_document", t_item_document},
    {"normal_form", t_normal_form},
    {"item_document_refusals", t_item_document_refusals},
    {"promotion_documents", t_promotion_documents},
    {"keys_and_scopes", t_keys_and_scopes},
    {"content_hash", t_content_hash},
    {"build_from_documents", t_build_from_documents},
    {"file_items_as_documents", t_file_items_as_documents},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("catalog", tests, argc, argv);
}
