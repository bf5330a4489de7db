/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_profile.c - the bridge's output profiles (bridge/profile*.c) and their configuration:
 * the exact bytes each JSON profile makes of known events, exact decimal money, returns, the
 * late flag and route, dead letters for what a profile cannot map, and the "sinks" checks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/bridge_cfg.h"
#include "bridge/profile.h"
#include "posedge/err.h"
#include "tests/unit/harness.h"

#define TS_MS 1795248014000LL /* 2026-11-21T08:00:14.000Z */

/* A sale of two lines (one weighed) paid 10.00 cash and 21.25 card. */
static const char SALE[] =
    "{\"body\":{\"currency\":\"EUR\",\"lines\":[{\"amount\":2998,\"barcode\":\"2145427049688\","
    "\"brand\":\"Aveline\",\"category\":\"Skincare\",\"discount\":0,\"item\":\"SKU-00001\","
    "\"line\":1,\"name\":\"Aveline Day Cream 50ml\",\"qty\":2,\"tax_bp\":2000,\"unit\":\"each\","
    "\"unit_price\":1499},{\"amount\":127,\"barcode\":\"2036804399352\",\"brand\":\"Sunfield "
    "Farm\",\"category\":\"Produce\",\"discount\":0,\"item\":\"SKU-00203\",\"line\":2,\"name\":"
    "\"Bananas\",\"qty\":640,\"tax_bp\":550,\"unit\":\"g\",\"unit_price\":199}],\"tenders\":[{"
    "\"amount\":1000,\"method\":\"cash\"},{\"amount\":2125,\"last4\":\"1111\",\"method\":\"card\"}"
    "],\"totals\":{\"change\":0,\"discount\":0,\"subtotal\":3125,\"tax\":507,\"tendered\":3125,"
    "\"total\":3125}},\"hash\":\"00\",\"id\":\"d9604cbf-6221-4f67-89b0-74d2b9c601ca\","
    "\"operator\":\"op17\",\"prev\":\"00\",\"seq\":3,\"store\":\"s001\",\"terminal\":\"t01\","
    "\"ts\":\"2026-11-21T08:00:14.000Z\",\"type\":\"sale\",\"v\":1}";

static const char RETURN[] =
    "{\"body\":{\"currency\":\"EUR\",\"customer_id\":\"C-4711\",\"lines\":[{\"amount\":1499,"
    "\"brand\":\"Aveline\",\"category\":\"Skincare\",\"discount\":0,\"item\":\"SKU-00001\","
    "\"line\":1,\"name\":\"Aveline \\\"Day\\\" Cream\",\"orig_line\":1,\"qty\":1,\"tax_bp\":2000,"
    "\"unit\":\"each\",\"unit_price\":1499}],\"original\":{\"seq\":3},\"refunds\":[{\"amount\":"
    "1499,\"method\":\"cash\"}],\"totals\":{\"total\":1499}},\"id\":\"r-1\",\"seq\":5,\"store\":"
    "\"s001\",\"terminal\":\"t01\",\"ts\":\"2026-11-21T08:11:18.000Z\",\"type\":\"return\","
    "\"v\":1}";

static struct profile_event event(const char *rec, const char *type, int64_t seq, int64_t ts)
{
    return (struct profile_event){
        .store = "s001",
        .terminal = "t01",
        .id = strcmp(type, "sale") == 0 ? "d9604cbf-6221-4f67-89b0-74d2b9c601ca" : "r-1",
        .type = type,
        .seq = seq,
        .ts_ms = ts,
        .rec = rec,
        .len = strlen(rec),
    };
}

/* A configuration from the text of a file. */
static int load(struct bridge_cfg *c, const char *text, char *err, size_t errlen)
{
    const char *path = pe_test_path(0, "bridge.json");
    FILE *f = fopen(path, "w");
    CHECK(f);
    fputs(text, f);
    fclose(f);
    return bridge_cfg_load(c, path, err, errlen);
}

/* Start c's sinks (their init hooks), map ev through them, stop them. */
static int map(const struct bridge_cfg *c, const struct profile_event *ev, int64_t now,
               struct profile_out *o)
{
    struct profile_set *ps = NULL;
    char err[256] = "";
    CHECK_OK(profile_set_create(c, NULL, &ps, err, sizeof err));
    int rc = profile_map_event(ps, ev, now, o);
    profile_set_destroy(ps);
    return rc;
}

static const char *val(const struct profile_out *o, int i)
{
    static char buf[4][2048];
    snprintf(buf[i % 4], sizeof buf[0], "%.*s", (int)o->recs[i].len, (const char *)o->recs[i].val);
    return buf[i % 4];
}

static const char *header(const struct output_rec *r, const char *name)
{
    for (int i = 0; i < r->nh; i++)
        if (strcmp(r->h[i].name, name) == 0)
            return r->h[i].value;
    return NULL;
}

static void t_money_exact(void)
{
    static const struct {
        int64_t minor;
        int exp;
        const char *want;
    } cases[] = {{249, 2, "2.49"},     {5, 2, "0.05"},
                 {-5, 2, "-0.05"},     {100000, 2, "1000.00"},
                 {-1499, 2, "-14.99"}, {7, 0, "7"},
                 {1234, 3, "1.234"},   {0, 2, "0.00"},
                 {10, 2, "0.10"},      {999999999999, 2, "9999999999.99"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct profile_buf b = {0};
        pb_money(&b, cases[i].minor, cases[i].exp);
        CHECK(!b.failed);
        CHECK_STR(b.s, cases[i].want);
        free(b.s);
    }
    CHECK_INT(profile_currency_exp("EUR"), 2);
    CHECK_INT(profile_currency_exp("JPY"), 0);
    CHECK_INT(profile_currency_exp("KWD"), 3);
    char t[40];
    profile_time(TS_MS, "dd-MM-yyyy HH:mm:ss", t, sizeof t);
    CHECK_STR(t, "21-11-2026 08:00:14");
    profile_time(TS_MS + 999, "MM/dd/yyyy, HH:mm:ss", t, sizeof t);
    CHECK_STR(t, "11/21/2026, 08:00:14");
}

static void t_purchases_json_bytes(void)
{
    struct bridge_cfg c;
    char err[512] = "";
    CHECK_INT(load(&c, "{\"sinks\":[{\"profile\":\"purchases-json\"}]}", err, sizeof err), PE_OK);
    struct profile_out o = {0};
    struct profile_event ev = event(SALE, "sale", 3, TS_MS);
    CHECK_INT(map(&c, &ev, TS_MS + 1000, &o), PE_OK);
    CHECK_INT(o.n, 2);
    CHECK_STR(val(&o, 0),
              "{\"transaction_id\":\"d9604cbf-6221-4f67-89b0-74d2b9c601ca\",\"customer_id\":null,"
              "\"category\":\"Skincare\",\"brand\":\"Aveline\",\"product_name\":\"Aveline Day "
              "Cream 50ml\",\"quantity\":2,\"price\":14.99,\"payment_method\":\"card\","
              "\"ts\":1795248014,\"amount\":29.98,\"weight_g\":null,\"currency\":\"EUR\","
              "\"store\":\"s001\",\"terminal\":\"t01\"}");
    /* Weighed: one item at the line's price, the weight beside it. */
    CHECK_STR(val(&o, 1),
              "{\"transaction_id\":\"d9604cbf-6221-4f67-89b0-74d2b9c601ca\",\"customer_id\":null,"
              "\"category\":\"Produce\",\"brand\":\"Sunfield Farm\",\"product_name\":\"Bananas\","
              "\"quantity\":1,\"price\":1.27,\"payment_method\":\"card\",\"ts\":1795248014,"
              "\"amount\":1.27,\"weight_g\":640,\"currency\":\"EUR\",\"store\":\"s001\","
              "\"terminal\":\"t01\"}");
    const struct output_rec *r = &o.recs[0];
    CHECK_STR(r->topic, "purchases");
    CHECK_INT(r->keylen, 8);
    CHECK(memcmp(r->key, "s001/t01", 8) == 0);
    CHECK_INT(r->ts_ms, TS_MS);
    CHECK_STR(header(r, "id"), "d9604cbf-6221-4f67-89b0-74d2b9c601ca");
    CHECK_STR(header(r, "type"), "sale");
    CHECK_STR(header(r, "seq"), "3");
    CHECK_STR(header(r, "profile"), "purchases-json");
    CHECK(!header(r, "late"));
    /* A return, a void, a report: no purchase. */
    struct profile_event ret = event(RETURN, "return", 5, TS_MS);
    CHECK_INT(map(&c, &ret, TS_MS, &o), PE_OK);
    CHECK_INT(o.n, 0);
    /* Another field name for the time, and a customer. */
    bridge_cfg_free(&c);
    CHECK_INT(load(&c,
                   "{\"sinks\":[{\"profile\":\"purchases-json\",\"ts_field\":\"event_ts\","
                   "\"topic\":\"shop.purchases\"}]}",
                   err, sizeof err),
              PE_OK);
    CHECK_INT(map(&c, &ev, TS_MS, &o), PE_OK);
    CHECK(strstr(val(&o, 0), ",\"event_ts\":1795248014,"));
    CHECK_STR(o.recs[0].topic, "shop.purchases");
    profile_out_free(&o);
    bridge_cfg_free(&c);
}

static void t_retail_json_bytes_and_returns(void)
{
    struct bridge_cfg c;
    char err[512] = "";
    CHECK_INT(load(&c, "{\"sinks\":[{\"profile\":\"retail-json\",\"country\":\"France\"}]}", err,
                   sizeof err),
              PE_OK);
    struct profile_out o = {0};
    struct profile_event ev = event(SALE, "sale", 3, TS_MS);
    CHECK_INT(map(&c, &ev, TS_MS, &o), PE_OK);
    CHECK_INT(o.n, 2);
    CHECK_STR(val(&o, 0), "{\"InvoiceNo\":\"3/s001/t01\",\"StockCode\":\"SKU-00001\","
                          "\"Description\":\"Aveline Day Cream 50ml\",\"Quantity\":2,"
                          "\"InvoiceDate\":\"21-11-2026 08:00:14\",\"UnitPrice\":14.99,"
                          "\"CustomerID\":null,\"Country\":\"France\"}");
    CHECK_STR(val(&o, 1), "{\"InvoiceNo\":\"3/s001/t01\",\"StockCode\":\"SKU-00203\","
                          "\"Description\":\"Bananas\",\"Quantity\":1,"
                          "\"InvoiceDate\":\"21-11-2026 08:00:14\",\"UnitPrice\":1.27,"
                          "\"CustomerID\":null,\"Country\":\"France\"}");
    CHECK_STR(o.recs[0].topic, "retail");
    struct profile_event ret = event(RETURN, "return", 5, TS_MS + 664000);
    CHECK_INT(map(&c, &ret, TS_MS, &o), PE_OK);
    CHECK_INT(o.n, 1);
    CHECK_STR(val(&o, 0), "{\"InvoiceNo\":\"C5/s001/t01\",\"StockCode\":\"SKU-00001\","
                          "\"Description\":\"Aveline \\\"Day\\\" Cream\",\"Quantity\":-1,"
                          "\"InvoiceDate\":\"21-11-2026 08:11:18\",\"UnitPrice\":14.99,"
                          "\"CustomerID\":\"C-4711\",\"Country\":\"France\"}");
    CHECK_STR(header(&o.recs[0], "type"), "return");
    profile_out_free(&o);
    bridge_cfg_free(&c);
}

static void t_orders_json_bytes(void)
{
    struct bridge_cfg c;
    char err[512] = "";
    CHECK_INT(load(&c, "{\"sinks\":[{\"profile\":\"orders-json\"}]}", err, sizeof err), PE_OK);
    struct profile_out o = {0};
    struct profile_event ev = event(SALE, "sale", 3, TS_MS);
    CHECK_INT(map(&c, &ev, TS_MS, &o), PE_OK);
    CHECK_INT(o.n, 1);
    CHECK_STR(val(&o, 0), "{\"customer_id\":null,\"source\":\"store\",\"quantity\":3,"
                          "\"total\":31.25,\"created_at\":\"11/21/2026, 08:00:14\"}");
    CHECK_STR(o.recs[0].topic, "orders");
    struct profile_event ret = event(RETURN, "return", 5, TS_MS);
    CHECK_INT(map(&c, &ret, TS_MS, &o), PE_OK);
    CHECK_INT(o.n, 0);
    profile_out_free(&o);
    bridge_cfg_free(&c);
}

static void t_late_flag_and_route(void)
{
    struct bridge_cfg c;
    char err[512] = "";
    CHECK_INT(load(&c,
                   "{\"sinks\":[{\"profile\":\"native\"},{\"profile\":\"purchases-json\","
                   "\"late\":\"route\"},{\"profile\":\"orders-json\",\"lateness_s\":60}]}",
                   err, sizeof err),
              PE_OK);
    struct profile_out o = {0};
    struct profile_event ev = event(SALE, "sale", 3, TS_MS);
    /* 3599 s old: only the orders sink (60 s) calls it late. */
    CHECK_INT(map(&c, &ev, TS_MS + 3599000, &o), PE_OK);
    CHECK_INT(o.n, 4);
    CHECK_STR(o.recs[0].topic, "pos.sales");
    CHECK(!header(&o.recs[0], "late"));
    CHECK_STR(header(&o.recs[0], "profile"), "native");
    CHECK_STR(o.recs[1].topic, "purchases");
    CHECK(!header(&o.recs[1], "late"));
    CHECK_STR(o.recs[3].topic, "orders"); /* flagged, not routed */
    CHECK_STR(header(&o.recs[3], "late"), "true");
    CHECK_STR(header(&o.recs[3], "lateness_s"), "3599");
    CHECK_INT(o.late, 1);
    /* 3601 s old: native and purchases flag it, purchases routes it. */
    CHECK_INT(map(&c, &ev, TS_MS + 3601500, &o), PE_OK);
    CHECK_INT(o.n, 4);
    CHECK_STR(o.recs[0].topic, "pos.sales");
    CHECK_STR(header(&o.recs[0], "late"), "true");
    CHECK_STR(o.recs[1].topic, "purchases.late");
    CHECK_STR(o.recs[2].topic, "purchases.late");
    CHECK_STR(header(&o.recs[2], "lateness_s"), "3601");
    CHECK_INT(o.late, 4);
    profile_out_free(&o);
    bridge_cfg_free(&c);
    /* Without sinks: one native sink, exactly the records of before (5 headers, never late). */
    CHECK_INT(bridge_cfg_load(&c, NULL, err, sizeof err), PE_OK);
    CHECK_INT(c.nsinks, 1);
    CHECK(!c.sinks_set);
    CHECK_INT(map(&c, &ev, TS_MS + 86400000, &o), PE_OK);
    CHECK_INT(o.n, 1);
    CHECK_STR(o.recs[0].topic, "pos.sales");
    CHECK_INT(o.recs[0].nh, 5);
    CHECK(o.recs[0].val == SALE);
    profile_out_free(&o);
    bridge_cfg_free(&c);
}

/* A training sale reaches the native sink with its flag, and no analytics sink counts it. */
static void t_training_only_native(void)
{
    struct bridge_cfg c;
    char err[512] = "";
    CHECK_INT(load(&c,
                   "{\"sinks\":[{\"profile\":\"native\"},{\"profile\":\"purchases-json\"},"
                   "{\"profile\":\"retail-json\"},{\"profile\":\"orders-json\"}]}",
                   err, sizeof err),
              PE_OK);
    /* The same sale, flagged: "training":true goes after "tenders" in canonical order. */
    char rec[sizeof SALE + 32];
    const char *at = strstr(SALE, ",\"totals\":");
    CHECK(at);
    snprintf(rec, sizeof rec, "%.*s,\"training\":true%s", (int)(at - SALE), SALE, at);
    struct profile_out o = {0};
    struct profile_event ev = event(rec, "sale", 3, TS_MS);
    CHECK_INT(map(&c, &ev, TS_MS, &o), PE_OK);
    CHECK_INT(o.n, 1);
    CHECK_STR(o.recs[0].topic, "pos.sales");
    CHECK(strstr(val(&o, 0), "\"training\":true"));
    CHECK_INT(o.dead, 0);
    /* Unflagged, every sink maps it. */
    ev = event(SALE, "sale", 3, TS_MS);
    CHECK_INT(map(&c, &ev, TS_MS, &o), PE_OK);
    CHECK(o.n > 3);
    profile_out_free(&o);
    bridge_cfg_free(&c);
}

static void t_unmappable_is_a_dead_letter(void)
{
    struct bridge_cfg c;
    char err[512] = "";
    CHECK_INT(load(&c,
                   "{\"sinks\":[{\"profile\":\"native\"},{\"profile\":\"purchases-json\"},"
                   "{\"profile\":\"orders-json\"}]}",
                   err, sizeof err),
              PE_OK);
    char *bad = strdup(SALE);
    char *cat = strstr(bad, "\"category\""); /* "category" -> "kategory" in the first line */
    cat[1] = 'k';
    struct profile_out o = {0};
    struct profile_event ev = event(bad, "sale", 3, TS_MS);
    CHECK_INT(map(&c, &ev, TS_MS, &o), PE_OK);
    CHECK_INT(o.n, 3);
    CHECK_INT(o.dead, 1);
    CHECK_STR(o.recs[0].topic, "pos.sales");
    CHECK_STR(o.recs[1].topic, "pos.dlq");
    CHECK(o.recs[1].len == strlen(bad) && memcmp(o.recs[1].val, bad, strlen(bad)) == 0);
    CHECK_STR(header(&o.recs[1], "profile"), "purchases-json");
    CHECK_STR(header(&o.recs[1], "reason"), "purchases-json: lines[0] has no category");
    CHECK_STR(header(&o.recs[1], "topic"), "posedge/v1/s001/t01/events");
    CHECK_STR(header(&o.recs[1], "sink"), "purchases-json");
    CHECK_STR(header(&o.recs[1], "seq"), "3");
    CHECK_STR(o.recs[2].topic, "orders"); /* orders needs no category */
    /* Not JSON at all: native still carries it, each JSON sink dead-letters it. */
    struct profile_event junk = event("{not json", "sale", 4, TS_MS);
    CHECK_INT(map(&c, &junk, TS_MS, &o), PE_OK);
    CHECK_INT(o.n, 3);
    CHECK_INT(o.dead, 2);
    profile_out_free(&o);
    free(bad);
    bridge_cfg_free(&c);
}

/* native: the record itself on topics.<type> of its type; an unknown type is a dead letter of
 * every sink (a spooled record always has a known type: pe_event_verify checks it). */
static void t_native_routes_by_type(void)
{
    struct bridge_cfg c;
    char err[512] = "";
    CHECK_INT(load(&c,
                   "{\"topics\":{\"z_report\":\"pos.z\"},\"sinks\":[{\"profile\":"
                   "\"native\"},{\"profile\":\"orders-json\"}]}",
                   err, sizeof err),
              PE_OK);
    static const char Z[] = "{\"type\":\"z_report\"}", C[] = "{\"type\":\"inventory_count\"}";
    struct profile_out o = {0};
    struct profile_event ev = event(Z, "z_report", 7, TS_MS);
    CHECK_INT(map(&c, &ev, TS_MS, &o), PE_OK);
    CHECK_INT(o.n, 1);
    CHECK_STR(o.recs[0].topic, "pos.z");
    CHECK(o.recs[0].val == Z);
    ev = event(C, "inventory_count", 8, TS_MS);
    CHECK_INT(map(&c, &ev, TS_MS, &o), PE_OK);
    CHECK_INT(o.n, 1);
    CHECK_STR(o.recs[0].topic, "pos.inventory");
    ev = event(C, "bogus", 9, TS_MS);
    CHECK_INT(map(&c, &ev, TS_MS, &o), PE_OK);
    CHECK_INT(o.n, 2);
    CHECK_INT(o.dead, 2);
    CHECK_STR(o.recs[0].topic, "pos.dlq");
    CHECK_STR(header(&o.recs[0], "reason"), "native: unknown event type bogus");
    CHECK_STR(header(&o.recs[1], "reason"), "orders-json: unknown event type bogus");
    profile_out_free(&o);
    bridge_cfg_free(&c);
}

/* The table: every profile found by its name, the names listed from it, the implicit one. */
static void t_profile_table(void)
{
    char names[256];
    profile_names(names, sizeof names);
    CHECK_STR(names, "native, purchases-json, retail-json, orders-json, inventory-avro, "
                     "orders-avro");
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(names, ", ", &save); tok;
         tok = strtok_r(NULL, ", ", &save), n++) {
        const struct profile_ops *p = profile_find(tok);
        CHECK(p && strcmp(p->name, tok) == 0 && p->map);
        CHECK(!p->config == !p->config_size);
    }
    CHECK_INT(n, 6);
    CHECK(profile_find("csv") == NULL);
    CHECK(profile_find(NULL) == NULL);
    CHECK_STR(profile_implicit()->name, "native");
    CHECK(profile_implicit()->default_topic == NULL);
    /* --help lists each profile's own keys. */
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    profile_help(mem);
    fclose(mem);
    CHECK(strstr(text, "keys of a sink of profile purchases-json:\nts_field "));
    CHECK(strstr(text, "keys of a sink of profile inventory-avro:\nregistry_url "));
    CHECK(!strstr(text, "profile native"));
    free(text);
}

static void t_sinks_config_errors_are_named(void)
{
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        {"{\"sinks\":{}}", "sinks: expected a list"},
        {"{\"sinks\":[]}", "sinks: expected a list"},
        {"{\"sinks\":[{\"topic\":\"x\"}]}", "sinks[0].profile: missing"},
        {"{\"sinks\":[{\"profile\":\"csv\"}]}",
         "sinks[0].profile: unknown profile \"csv\" (one of native, purchases-json, retail-json, "
         "orders-json, inventory-avro, orders-avro)"},
        {"{\"sinks\":[{\"profile\":\"native\",\"source\":\"x\"}]}",
         "sinks[0].source: unknown key for profile native"},
        {"{\"sinks\":[{\"profile\":\"orders-json\",\"source\":7}]}",
         "sinks[0].source: expected a string"},
        {"{\"sinks\":[{\"profile\":\"retail-json\",\"lateness_s\":1.5}]}",
         "sinks[0].lateness_s: expected an integer from 1 to 31536000"},
        {"{\"sinks\":[{\"profile\":\"native\",\"topic\":\"x\"}]}", "sinks[0].topic: the native"},
        {"{\"sinks\":[{\"profile\":\"orders-json\",\"country\":\"FR\"}]}",
         "sinks[0].country: unknown key for profile orders-json"},
        {"{\"sinks\":[{\"profile\":\"native\"},{\"profile\":\"retail-json\",\"topic\":\"a b\"}]}",
         "sinks[1].topic: a Kafka topic name"},
        {"{\"sinks\":[{\"profile\":\"retail-json\",\"late\":\"drop\"}]}", "sinks[0].late: off, "},
        {"{\"sinks\":[{\"profile\":\"retail-json\",\"lateness_s\":0}]}", "sinks[0].lateness_s"},
        {"{\"sinks\":[{\"profile\":\"orders-json\"},{\"profile\":\"orders-json\"}]}",
         "sinks[1].name: \"orders-json\" is already"},
        {"{\"sinks\":[{\"profile\":\"purchases-json\",\"ts_field\":\"a-b\"}]}",
         "sinks[0].ts_field"},
        {"{\"sinks\":[{\"profile\":\"native\",\"late\":\"route\"}]}",
         "sinks[0].late: the native profile cannot route"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct bridge_cfg c;
        char err[512] = "";
        CHECK_INT(load(&c, cases[i].text, err, sizeof err), PE_EINVAL);
        if (!strstr(err, cases[i].want))
            pe_test_fail(__FILE__, __LINE__, "%s: err \"%s\" lacks \"%s\"", cases[i].text, err,
                         cases[i].want);
        bridge_cfg_free(&c);
    }
    /* A good one, printed back with its defaults. */
    struct bridge_cfg c;
    char err[512] = "";
    CHECK_INT(load(&c,
                   "{\"sinks\":[{\"profile\":\"native\"},{\"profile\":\"orders-json\",\"name\":"
                   "\"o2\",\"source\":\"web\"}],\"store\":\"s002\"}",
                   err, sizeof err),
              PE_OK);
    CHECK_INT(c.nsinks, 2);
    CHECK_STR(c.store, "s002");
    CHECK_STR(c.sinks[0].late, "flag");
    CHECK_STR(c.sinks[1].topic, "orders");
    CHECK_INT(c.sinks[1].lateness_s, 3600);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    CHECK_INT(bridge_cfg_print(&c, mem), PE_OK);
    fclose(mem);
    CHECK(strstr(text, "\"profile\":\t\"orders-json\""));
    CHECK(strstr(text, "\"source\":\t\"web\""));
    free(text);
    bridge_cfg_free(&c);
}

/* A signed event's records all carry its signature (posedge-sig), the late ones and every sink's
 * too; one the intake's signature check refused is one dead letter with its reason, and no sink
 * sees it. */
static void t_signature_header_and_refused(void)
{
    struct bridge_cfg c;
    char err[512] = "";
    CHECK_INT(load(&c,
                   "{\"sinks\":[{\"profile\":\"native\"},{\"profile\":\"purchases-json\"},"
                   "{\"profile\":\"orders-json\"}]}",
                   err, sizeof err),
              PE_OK);
    static const char sig[] = "{\"alg\":\"ES256\",\"counter\":3}";
    struct profile_out o = {0};
    struct profile_event ev = event(SALE, "sale", 3, TS_MS);
    ev.sig = sig;
    CHECK_INT(map(&c, &ev, TS_MS + 7200000, &o), PE_OK);
    CHECK_INT(o.n, 4);
    for (int i = 0; i < o.n; i++) {
        CHECK_STR(header(&o.recs[i], "posedge-sig"), sig);
        CHECK_STR(header(&o.recs[i], "late"), "true");
    }
    ev.rejected = "bad_signature: seq 3: signature does not verify";
    CHECK_INT(map(&c, &ev, TS_MS, &o), PE_OK);
    CHECK_INT(o.n, 1);
    CHECK_INT(o.dead, 1);
    CHECK_STR(o.recs[0].topic, "pos.dlq");
    CHECK_STR(val(&o, 0), SALE);
    CHECK_STR(header(&o.recs[0], "reason"), ev.rejected);
    CHECK_STR(header(&o.recs[0], "topic"), "posedge/v1/s001/t01/events");
    CHECK_STR(header(&o.recs[0], "seq"), "3");
    CHECK_STR(header(&o.recs[0], "posedge-sig"), sig);
    CHECK(!header(&o.recs[0], "sink") && !header(&o.recs[0], "profile"));
    ev.sig = NULL; /* a refused record without a signature (missing_signature) */
    CHECK_INT(map(&c, &ev, TS_MS, &o), PE_OK);
    CHECK_INT(o.n, 1);
    CHECK(!header(&o.recs[0], "posedge-sig"));
    profile_out_free(&o);
    bridge_cfg_free(&c);
}

static const struct pe_test tests[] = {
    {"signature_header_and_refused", t_signature_header_and_refused},
    {"money_exact", t_money_exact},
    {"purchases_json_bytes", t_purchases_json_bytes},
    {"retail_json_bytes_and_returns", t_retail_json_bytes_and_returns},
    {"orders_json_bytes", t_orders_json_bytes},
    {"late_flag_and_route", t_late_flag_and_route},
    {"training_only_native", t_training_only_native},
    {"unmappable_is_a_dead_letter", t_unmappable_is_a_dead_letter},
    {"native_routes_by_type", t_native_routes_by_type},
    {"profile_table", t_profile_table},
    {"sinks_config_errors_are_named", t_sinks_config_errors_are_named},
    {NULL, NULL},
};

int main(int argc, char **argv)
{
    return pe_test_main("profile", tests, argc, argv);
}
