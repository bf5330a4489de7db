/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_profile_avro.c - the Avro output profiles (bridge/profile_avro.c): the exact Confluent-
 * framed bytes of inventory-avro's keys and values for a known sale and an inventory count,
 * orders-avro's value (bytes computed independently with Python's fastavro), dead letters for
 * ids that cannot be mapped, one record per (trans_id, item_id) when a sale has an item on
 * two lines, numeric ids from a catalog, and start-up against a Schema Registry that cannot be
 * reached: with the ids the spool kept (the outage case, also from a spool of schema version
 * 2, migrated) and without them (a clear refusal naming the URL). No registry runs here: the
 * URL points at a closed port.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge_cfg.h"
#include "bridge/profile.h"
#include "posedge/err.h"
#include "posedge/spool.h"
#include "tests/unit/harness.h"

#define TS_MS 1795248014000LL /* 2026-11-21T08:00:14.000Z */
#define DOWN "http://127.0.0.1:9/apis/ccompat/v7"

static const char SALE[] =
    "{\"body\":{\"currency\":\"EUR\",\"lines\":[{\"amount\":2998,\"item\":\"SKU-00001\","
    "\"name\":\"Aveline Day Cream 50ml\",\"qty\":2,\"unit\":\"each\",\"unit_price\":1499},"
    "{\"amount\":127,\"item\":\"SKU-00203\",\"name\":\"Bananas\",\"qty\":640,\"unit\":\"g\","
    "\"unit_price\":199}],\"totals\":{\"total\":3125}},\"id\":\"d9604cbf-6221-4f67-89b0-"
    "74d2b9c601ca\",\"operator\":\"op17\",\"seq\":3,\"store\":\"s001\",\"terminal\":\"t01\","
    "\"ts\":\"2026-11-21T08:00:14.000Z\",\"type\":\"sale\",\"v\":1}";

static const char COUNT[] =
    "{\"body\":{\"lines\":[{\"counted\":12,\"item\":\"SKU-00042\",\"previous\":10,\"variance\":2}"
    "]},\"id\":\"c-1\",\"operator\":\"op17\",\"seq\":4,\"store\":\"s001\",\"terminal\":\"t01\","
    "\"ts\":\"2026-11-21T08:00:14.000Z\",\"type\":\"inventory_count\",\"v\":1}";

static const char BAD_ITEM[] =
    "{\"body\":{\"lines\":[{\"item\":\"BANANA\",\"qty\":5}]},\"id\":\"x-1\",\"seq\":5,"
    "\"store\":\"s001\",\"terminal\":\"t01\",\"ts\":\"2026-11-21T08:00:14.000Z\","
    "\"type\":\"inventory_receipt\",\"v\":1}";

/* Writer schemas as a registry would hold them (any text of the same shape will do). */
#define REC(name, fields) "{\"type\":\"record\",\"name\":\"" name "\",\"fields\":[" fields "]}"
#define F(n, t) "{\"name\":\"" n "\",\"type\":\"" t "\"}"
static const char TK[] =
    REC("K", F("trans_id", "string") "," F("item_id", "int") "," F("store_id", "int"));
static const char TV[] =
    REC("V", F("trans_id", "string") "," F("item_id", "int") "," F("store_id", "int") "," F(
                 "date_time", "string") "," F("quantity", "int") "," F("change_type_id", "int"));
static const char SK[] =
    REC("SK", F("item_id", "int") "," F("store_id", "int") "," F("date_time", "string"));
static const char SV[] =
    REC("SV", F("item_id", "int") "," F("employee_id", "int") "," F("store_id", "int") "," F(
                  "date_time", "string") "," F("quantity", "int"));
static const char OV[] = "{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"Order\","
                         "\"fields\":[" F("order_id", "long") "," F("customer", "string") "," F(
                             "description",
                             "string") "," F("price",
                                             "double") ",{\"name\":\"products\",\"type\":{\"type\":"
                                                       "\"array\",\"items\":{\"type\":\"record\","
                                                       "\"name\":\"Product\",\"fields\":[" F(
                                                           "name",
                                                           "string") "," F("price",
                                                                           "double") "]}}}]}}";

static struct profile_event event(const char *rec, const char *type, const char *id)
{
    return (struct profile_event){.store = "s001",
                                  .terminal = "t01",
                                  .id = id,
                                  .type = type,
                                  .seq = 3,
                                  .ts_ms = TS_MS,
                                  .rec = rec,
                                  .len = strlen(rec)};
}

static int load(struct bridge_cfg *c, const char *text, char *err, size_t errlen)
{
    const char *path = pe_test_path(0, "bridge.json");
    FILE *f = fopen(path, "w");
    CHECK(f);
    fputs(text, f);
    fclose(f);
    return bridge_cfg_load(c, path, err, errlen);
}

/* Keep an id as the Avro profiles do: "avro/<subject>/<id>" -> {"schema":..., "version":...}. */
static void keep(struct pe_spool *s, const char *subject, const char *schema, int id)
{
    char key[256];
    snprintf(key, sizeof key, "avro/%s/%d", subject, id);
    cJSON *v = cJSON_CreateObject();
    cJSON_AddStringToObject(v, "schema", schema);
    cJSON_AddNumberToObject(v, "version", 1);
    char *text = cJSON_PrintUnformatted(v);
    CHECK_OK(pe_spool_meta_put(s, key, text, 1));
    free(text);
    cJSON_Delete(v);
}

/* A spool keeping the ids of every subject, as a bridge that once saw the registry has. */
static struct pe_spool *spool_with_ids(void)
{
    struct pe_spool *s = NULL;
    char err[256];
    CHECK_OK(pe_spool_open(pe_test_path(0, "spool.db"), NULL, &s, err, sizeof err));
    keep(s, "prod.inventory.transactions-key", TK, 11);
    keep(s, "prod.inventory.transactions-value", TV, 12);
    keep(s, "prod.inventory.snapshots-key", SK, 13);
    keep(s, "prod.inventory.snapshots-value", SV, 14);
    keep(s, "orders.avro-value", OV, 300);
    return s;
}

/* Start c's sinks with spool s (the registry is down: the kept ids serve). */
static struct profile_set *start(const struct bridge_cfg *c, struct pe_spool *s)
{
    struct profile_set *ps = NULL;
    char err[512] = "";
    int rc = profile_set_create(c, s, &ps, err, sizeof err);
    if (rc)
        pe_test_fail(__FILE__, __LINE__, "start: %s (%s)", pe_errname(rc), err);
    return ps;
}

static const char CFG[] =
    "{\"sinks\":[{\"profile\":\"inventory-avro\",\"registry_url\":\"" DOWN "\","
    "\"master_data\":false},{\"profile\":\"orders-avro\",\"registry_url\":\"" DOWN "\"}]}";

static void check_bytes(const void *got, size_t len, const char *want, size_t wlen)
{
    CHECK_INT((long long)len, (long long)wlen);
    if (memcmp(got, want, wlen) != 0) {
        for (size_t i = 0; i < len; i++)
            fprintf(stderr, "\\x%02x", ((const unsigned char *)got)[i]);
        fprintf(stderr, "\n");
    }
    CHECK(memcmp(got, want, wlen) == 0);
}

#define GUID "{D9604CBF-6221-4F67-89B0-74D2B9C601CA}"
#define BYTES(lit) lit, sizeof lit - 1

static void t_inventory_avro_bytes(void)
{
    struct bridge_cfg c;
    char err[512];
    CHECK_OK(load(&c, CFG, err, sizeof err));
    struct pe_spool *s = spool_with_ids();
    /* The registry is down: the kept ids serve. */
    struct profile_set *ps = start(&c, s);
    struct profile_out o = {0};
    struct profile_event ev = event(SALE, "sale", "d9604cbf-6221-4f67-89b0-74d2b9c601ca");
    CHECK_OK(profile_map_event(ps, &ev, TS_MS, &o));
    CHECK_INT(o.n, 3); /* two stock movements, one order */
    CHECK_STR(o.recs[0].topic, "prod.inventory.transactions");
    /* Key: magic 0, id 11, trans_id (38 chars: zigzag 76), item 1, store 1. */
    check_bytes(o.recs[0].key, o.recs[0].keylen, BYTES("\x00\x00\x00\x00\x0b\x4c" GUID "\x02\x02"));
    /* Value: id 12, ..., date_time (19 chars), quantity -2 (zigzag 3), change type sale 1. */
    check_bytes(o.recs[0].val, o.recs[0].len,
                BYTES("\x00\x00\x00\x00\x0c\x4c" GUID "\x02\x02\x26"
                      "2026-11-21 08:00:14\x03\x02"));
    /* The weighed line: item 203 (zigzag 406: 96 03), -640 grams (zigzag 1279: ff 09). */
    check_bytes(o.recs[1].val, o.recs[1].len,
                BYTES("\x00\x00\x00\x00\x0c\x4c" GUID "\x96\x03\x02\x26"
                      "2026-11-21 08:00:14\xff\x09\x02"));
    CHECK_STR(o.recs[2].topic, "orders.avro");
    CHECK_INT((long long)o.recs[2].keylen, 8);
    CHECK(memcmp(o.recs[2].key, "s001/t01", 8) == 0);
    /* fastavro's bytes for [{order_id 978975243053962486, customer "", description
     * "Aveline Day Cream 50ml, Bananas", price 31.25, products [...29.98, ...1.27]}]. */
    check_bytes(o.recs[2].val, o.recs[2].len,
                BYTES("\x00\x00\x00\x01\x2c"
                      "\x02\xec\xd3\x90\xe2\xfe\xb2\x82\x96\x1b\x00\x3e"
                      "Aveline Day Cream 50ml, Bananas"
                      "\x00\x00\x00\x00\x00\x40\x3f\x40\x04\x2c"
                      "Aveline Day Cream 50ml"
                      "\x7b\x14\xae\x47\xe1\xfa\x3d\x40\x0e"
                      "Bananas"
                      "\x52\xb8\x1e\x85\xeb\x51\xf4\x3f\x00\x00"));
    /* Headers as every profile's. */
    CHECK_INT(o.dead, 0);

    /* An inventory count: a snapshot keyed by item, store and time, employee 17. */
    ev = event(COUNT, "inventory_count", "c-1");
    CHECK_OK(profile_map_event(ps, &ev, TS_MS, &o));
    CHECK_INT(o.n, 1);
    CHECK_STR(o.recs[0].topic, "prod.inventory.snapshots");
    check_bytes(o.recs[0].key, o.recs[0].keylen,
                BYTES("\x00\x00\x00\x00\x0d\x54\x02\x26"
                      "2026-11-21 08:00:14"));
    check_bytes(o.recs[0].val, o.recs[0].len,
                BYTES("\x00\x00\x00\x00\x0e\x54\x22\x02\x26"
                      "2026-11-21 08:00:14\x18"));

    /* An item without a numeric id: a dead letter for inventory-avro, with the reason. */
    ev = event(BAD_ITEM, "inventory_receipt", "x-1");
    CHECK_OK(profile_map_event(ps, &ev, TS_MS, &o));
    CHECK_INT(o.n, 1);
    CHECK_INT(o.dead, 1);
    CHECK_STR(o.recs[0].topic, "pos.dlq");
    CHECK(strstr(o.recs[0].h[0].value, "inventory-avro: lines[0]: item BANANA has no numeric id"));
    profile_out_free(&o);
    profile_set_destroy(ps);
    pe_spool_close(s);
    bridge_cfg_free(&c);
}

static void t_registry_down_without_ids_refuses(void)
{
    struct bridge_cfg c;
    char err[512];
    CHECK_OK(load(&c, CFG, err, sizeof err));
    struct pe_spool *s = NULL;
    CHECK_OK(pe_spool_open(pe_test_path(0, "empty.db"), NULL, &s, err, sizeof err));
    struct profile_set *ps = NULL;
    CHECK_INT(profile_set_create(&c, s, &ps, err, sizeof err), PE_EIO);
    CHECK(ps == NULL);
    CHECK(strstr(err, DOWN));
    CHECK(strstr(err, "prod.inventory.transactions-key"));
    pe_spool_close(s);
    bridge_cfg_free(&c);
}

static void t_avro_config(void)
{
    struct bridge_cfg c;
    char err[512];
    CHECK_INT(load(&c, "{\"sinks\":[{\"profile\":\"orders-avro\"}]}", err, sizeof err), PE_EINVAL);
    CHECK(strstr(err, "sinks[0].registry_url"));
    bridge_cfg_free(&c);
    CHECK_INT(load(&c,
                   "{\"sinks\":[{\"profile\":\"inventory-avro\",\"registry_url\":\"http://r\","
                   "\"change_types\":\"sale=x\"}]}",
                   err, sizeof err),
              PE_EINVAL);
    CHECK(strstr(err, "sinks[0].change_types"));
    bridge_cfg_free(&c);
    CHECK_INT(load(&c,
                   "{\"sinks\":[{\"profile\":\"orders-avro\",\"registry_url\":\"http://r\","
                   "\"store_id\":3}]}",
                   err, sizeof err),
              PE_EINVAL);
    CHECK(strstr(err, "sinks[0].store_id: unknown key"));
    bridge_cfg_free(&c);
    CHECK_OK(load(&c,
                  "{\"sinks\":[{\"profile\":\"inventory-avro\",\"registry_url\":\"http://r\","
                  "\"store_id\":42,\"store_name\":\"Lyon\"}]}",
                  err, sizeof err));
    CHECK_STR(c.sinks[0].topic, "prod.inventory.transactions");
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    CHECK_OK(bridge_cfg_print(&c, mem));
    fclose(mem);
    CHECK(strstr(text, "\"store_id\":\t42,"));
    CHECK(strstr(text, "\"store_name\":\t\"Lyon\","));
    CHECK(strstr(text, "\"master_data\":\ttrue"));
    free(text);
    bridge_cfg_free(&c);
    /* A required key given empty, and keys of the other Avro profile. */
    CHECK_INT(load(&c, "{\"sinks\":[{\"profile\":\"orders-avro\",\"registry_url\":\"\"}]}",
                   err, sizeof err),
              PE_EINVAL);
    CHECK(strstr(err, "sinks[0].registry_url: expected 1 to 255 characters"));
    bridge_cfg_free(&c);
    CHECK_INT(load(&c,
                   "{\"sinks\":[{\"profile\":\"inventory-avro\",\"registry_url\":\"ftp://r\"}]}",
                   err, sizeof err),
              PE_EINVAL);
    CHECK(strstr(err, "sinks[0].registry_url: expected the Schema Registry's URL"));
    bridge_cfg_free(&c);
    CHECK_INT(load(&c,
                   "{\"sinks\":[{\"profile\":\"inventory-avro\",\"registry_url\":\"http://r\","
                   "\"master_data\":\"yes\"}]}",
                   err, sizeof err),
              PE_EINVAL);
    CHECK(strstr(err, "sinks[0].master_data: expected true or false"));
    bridge_cfg_free(&c);
}

/* One item on two lines of a sale (scanned twice): one record with the quantities summed, keyed
 * (trans_id, item_id) once; an adjustment's type follows the sum. */
static void t_one_record_per_item(void)
{
    static const char SALE2[] =
        "{\"body\":{\"currency\":\"EUR\",\"lines\":[{\"amount\":2998,\"item\":\"SKU-00001\","
        "\"name\":\"Aveline Day Cream 50ml\",\"qty\":2,\"unit\":\"each\",\"unit_price\":1499},"
        "{\"amount\":127,\"item\":\"SKU-00203\",\"name\":\"Bananas\",\"qty\":640,\"unit\":\"g\","
        "\"unit_price\":199},{\"amount\":1349,\"discount\":150,\"item\":\"SKU-00001\",\"name\":"
        "\"Aveline Day Cream 50ml\",\"qty\":1,\"unit\":\"each\",\"unit_price\":1499}],"
        "\"totals\":{\"total\":4474}},\"id\":\"d9604cbf-6221-4f67-89b0-74d2b9c601ca\","
        "\"operator\":\"op17\",\"seq\":3,\"store\":\"s001\",\"terminal\":\"t01\","
        "\"ts\":\"2026-11-21T08:00:14.000Z\",\"type\":\"sale\",\"v\":1}";
    static const char ADJUST[] =
        "{\"body\":{\"lines\":[{\"item\":\"SKU-00042\",\"qty\":-2},{\"item\":\"SKU-00042\","
        "\"qty\":5},{\"item\":\"SKU-00043\",\"qty\":-1}]},\"id\":\"a-1\",\"seq\":6,"
        "\"store\":\"s001\",\"terminal\":\"t01\",\"ts\":\"2026-11-21T08:00:14.000Z\","
        "\"type\":\"inventory_adjust\",\"v\":1}";
    struct bridge_cfg c;
    char err[512];
    CHECK_OK(load(&c, CFG, err, sizeof err));
    struct pe_spool *s = spool_with_ids();
    struct profile_set *ps = start(&c, s);
    struct profile_out o = {0};
    struct profile_event ev = event(SALE2, "sale", "d9604cbf-6221-4f67-89b0-74d2b9c601ca");
    CHECK_OK(profile_map_event(ps, &ev, TS_MS, &o));
    CHECK_INT(o.n, 3); /* item 1 (2 + 1), item 203, the order */
    CHECK_INT(o.dead, 0);
    check_bytes(o.recs[0].key, o.recs[0].keylen, BYTES("\x00\x00\x00\x00\x0b\x4c" GUID "\x02\x02"));
    /* quantity -3 (zigzag 5) */
    check_bytes(o.recs[0].val, o.recs[0].len,
                BYTES("\x00\x00\x00\x00\x0c\x4c" GUID "\x02\x02\x26"
                      "2026-11-21 08:00:14\x05\x02"));
    check_bytes(o.recs[1].key, o.recs[1].keylen,
                BYTES("\x00\x00\x00\x00\x0b\x4c" GUID "\x96\x03\x02"));
    check_bytes(o.recs[1].val, o.recs[1].len,
                BYTES("\x00\x00\x00\x00\x0c\x4c" GUID "\x96\x03\x02\x26"
                      "2026-11-21 08:00:14\xff\x09\x02"));
    CHECK_STR(o.recs[2].topic, "orders.avro");
    /* -2 + 5 of item 42 is +3, a correction (5); item 43's -1 a shrink (3). */
    ev = event(ADJUST, "inventory_adjust", "a-1");
    CHECK_OK(profile_map_event(ps, &ev, TS_MS, &o));
    CHECK_INT(o.n, 2);
    check_bytes(o.recs[0].val, o.recs[0].len,
                BYTES("\x00\x00\x00\x00\x0c\x0a{A-1}\x54\x02\x26"
                      "2026-11-21 08:00:14\x06\x0a"));
    check_bytes(o.recs[1].val, o.recs[1].len,
                BYTES("\x00\x00\x00\x00\x0c\x0a{A-1}\x56\x02\x26"
                      "2026-11-21 08:00:14\x01\x06"));
    profile_out_free(&o);
    profile_set_destroy(ps);
    pe_spool_close(s);
    bridge_cfg_free(&c);
}

/* The catalog is read by posedge/catalog.h: its item_id is the Avro item id; a catalog the
 * tills would refuse stops the sink's start. */
static void t_catalog_item_ids(void)
{
    char cat[512];
    snprintf(cat, sizeof cat, "%s", pe_test_path(0, "catalog.json"));
    FILE *f = fopen(cat, "w");
    CHECK(f);
    fputs("{\"currency\":\"EUR\",\"items\":[{\"id\":\"SKU-00001\",\"barcode\":"
          "\"4006381333931\",\"name\":\"Cream\",\"category\":\"Skincare\",\"brand\":\"A\","
          "\"price\":1499,\"tax_bp\":2000,\"weighed\":false,\"item_id\":7001,"
          "\"supplier_id\":3,\"safety_stock\":10}]}",
          f);
    fclose(f);
    char text[1024], err[512];
    snprintf(text, sizeof text,
             "{\"sinks\":[{\"profile\":\"inventory-avro\",\"registry_url\":\"" DOWN
             "\",\"master_data\":false,\"catalog\":\"%s\"}]}",
             cat);
    struct bridge_cfg c;
    CHECK_OK(load(&c, text, err, sizeof err));
    struct pe_spool *s = spool_with_ids();
    struct profile_set *ps = start(&c, s);
    struct profile_out o = {0};
    struct profile_event ev = event(SALE, "sale", "d9604cbf-6221-4f67-89b0-74d2b9c601ca");
    CHECK_OK(profile_map_event(ps, &ev, TS_MS, &o));
    CHECK_INT(o.n, 2);
    /* Item 7001 (zigzag b2 6d) from the catalog; SKU-00203, not in it, by its digits. */
    check_bytes(o.recs[0].key, o.recs[0].keylen,
                BYTES("\x00\x00\x00\x00\x0b\x4c" GUID "\xb2\x6d\x02"));
    check_bytes(o.recs[1].key, o.recs[1].keylen,
                BYTES("\x00\x00\x00\x00\x0b\x4c" GUID "\x96\x03\x02"));
    profile_out_free(&o);
    profile_set_destroy(ps);
    bridge_cfg_free(&c);

    f = fopen(cat, "w");
    CHECK(f);
    fputs("{\"currency\":\"EUR\",\"items\":[{\"id\":\"SKU-00001\",\"item_id\":7001}]}", f);
    fclose(f);
    CHECK_OK(load(&c, text, err, sizeof err));
    ps = NULL;
    CHECK_INT(profile_set_create(&c, s, &ps, err, sizeof err), PE_EINVAL);
    CHECK(strstr(err, "items[0].barcode: missing"));
    bridge_cfg_free(&c);
    pe_spool_close(s);
}

/* A spool of schema version 2 kept its ids in a table of their own: after the migration at
 * open the Avro profiles find them (the outage case still starts). */
static void t_ids_of_a_version_2_spool(void)
{
    static const char v2[] =
        "CREATE TABLE terminals(tid INTEGER PRIMARY KEY, store TEXT NOT NULL,"
        " terminal TEXT NOT NULL, spooled INTEGER NOT NULL, delivered INTEGER NOT NULL,"
        " pruned INTEGER NOT NULL, tail_hash TEXT NOT NULL, spooled_bytes INTEGER NOT NULL,"
        " delivered_bytes INTEGER NOT NULL, UNIQUE(store, terminal));"
        "CREATE TABLE spool(k INTEGER PRIMARY KEY, id TEXT NOT NULL, type TEXT NOT NULL,"
        " ts_ms INTEGER NOT NULL, fiscal INTEGER NOT NULL, cum INTEGER NOT NULL,"
        " hash BLOB NOT NULL, record BLOB NOT NULL);"
        "CREATE TABLE schema_ids(subject TEXT NOT NULL, schema TEXT NOT NULL, id INTEGER NOT "
        "NULL, version INTEGER NOT NULL, learned_ms INTEGER NOT NULL, PRIMARY KEY(subject, "
        "schema));"
        "PRAGMA application_id = 1346720592; PRAGMA user_version = 2;";
    const char *path = pe_test_path(0, "v2.db");
    sqlite3 *db = NULL;
    CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_INT(sqlite3_exec(db, v2, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK_INT(sqlite3_prepare_v2(
                  db, "INSERT INTO schema_ids VALUES ('orders.avro-value', ?1, 300, 2, 5)", -1,
                  &st, NULL),
              SQLITE_OK);
    sqlite3_bind_text(st, 1, OV, -1, SQLITE_STATIC);
    CHECK_INT(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);

    struct pe_spool *s = NULL;
    char err[512];
    CHECK_OK(pe_spool_open(path, NULL, &s, err, sizeof err));
    struct bridge_cfg c;
    CHECK_OK(load(&c, "{\"sinks\":[{\"profile\":\"orders-avro\",\"registry_url\":\"" DOWN "\"}]}",
                  err, sizeof err));
    struct profile_set *ps = start(&c, s);
    struct profile_out o = {0};
    struct profile_event ev = event(SALE, "sale", "d9604cbf-6221-4f67-89b0-74d2b9c601ca");
    CHECK_OK(profile_map_event(ps, &ev, TS_MS, &o));
    CHECK_INT(o.n, 1);
    CHECK(o.recs[0].len > 5 && memcmp(o.recs[0].val, "\x00\x00\x00\x01\x2c", 5) == 0);
    profile_out_free(&o);
    profile_set_destroy(ps);
    bridge_cfg_free(&c);
    pe_spool_close(s);
}

static const struct pe_test tests[] = {
    {"inventory_avro_bytes", t_inventory_avro_bytes},
    {"registry_down_without_ids_refuses", t_registry_down_without_ids_refuses},
    {"avro_config", t_avro_config},
    {"one_record_per_item", t_one_record_per_item},
    {"catalog_item_ids", t_catalog_item_ids},
    {"ids_of_a_version_2_spool", t_ids_of_a_version_2_spool},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("profile_avro", tests, argc, argv);
}
