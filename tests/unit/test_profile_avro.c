/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_profile_avro.c - the Avro output profiles (bridge/profile_avro.c): the exact Confluent-
 * framed bytes of inventory-avro's keys and values for a known sale and an inventory count,
 * orders-avro's value (bytes computed independently with Python's fastavro), dead letters for
 * ids that cannot be mapped, and start-up against a Schema Registry that cannot be reached:
 * with the ids the spool kept (the outage case) and without them (a clear refusal naming the
 * URL). No registry runs here: the URL points at a closed port.
 */
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

/* A spool keeping the ids of every subject, as a bridge that once saw the registry has. */
static struct pe_spool *spool_with_ids(void)
{
    struct pe_spool *s = NULL;
    char err[256];
    CHECK_OK(pe_spool_open(pe_test_path(0, "spool.db"), NULL, &s, err, sizeof err));
    CHECK_OK(pe_spool_schema_put(s, "prod.inventory.transactions-key", TK, 11, 1, 1));
    CHECK_OK(pe_spool_schema_put(s, "prod.inventory.transactions-value", TV, 12, 1, 1));
    CHECK_OK(pe_spool_schema_put(s, "prod.inventory.snapshots-key", SK, 13, 1, 1));
    CHECK_OK(pe_spool_schema_put(s, "prod.inventory.snapshots-value", SV, 14, 1, 1));
    CHECK_OK(pe_spool_schema_put(s, "orders.avro-value", OV, 300, 1, 1));
    return s;
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
    CHECK_OK(profile_avro_start(&c, s, err, sizeof err));
    struct profile_out o = {0};
    struct profile_event ev = event(SALE, "sale", "d9604cbf-6221-4f67-89b0-74d2b9c601ca");
    CHECK_OK(profile_map_event(&c, &ev, TS_MS, &o));
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
    CHECK_OK(profile_map_event(&c, &ev, TS_MS, &o));
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
    CHECK_OK(profile_map_event(&c, &ev, TS_MS, &o));
    CHECK_INT(o.n, 1);
    CHECK_INT(o.dead, 1);
    CHECK_STR(o.recs[0].topic, "pos.dlq");
    CHECK(strstr(o.recs[0].h[0].value, "inventory-avro: lines[0]: item BANANA has no numeric id"));
    profile_out_free(&o);
    profile_avro_stop();
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
    CHECK_INT(profile_avro_start(&c, s, err, sizeof err), PE_EIO);
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
    CHECK_INT(c.sinks[0].store_id, 42);
    CHECK(c.sinks[0].master_data);
    bridge_cfg_free(&c);
}

static const struct pe_test tests[] = {
    {"inventory_avro_bytes", t_inventory_avro_bytes},
    {"registry_down_without_ids_refuses", t_registry_down_without_ids_refuses},
    {"avro_config", t_avro_config},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("profile_avro", tests, argc, argv);
}
