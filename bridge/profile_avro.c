/* SPDX-License-Identifier: Apache-2.0 */
/*
 * profile_avro.c - the Avro output profiles: Confluent-framed Avro (byte 0, the schema id as 4
 * bytes big-endian, Avro binary) with the ids of a Schema Registry (docs/protocol.md, "Output
 * profiles"):
 *
 *   inventory-avro  the Databricks point-of-sale layout: one record per item and stock
 *                   movement on the sink's topic (prod.inventory.transactions), inventory
 *                   counts on prod.inventory.snapshots, Avro keys; master data (prod.stores,
 *                   prod.items, prod.inventory.types) published at start
 *   orders-avro     one value per sale: an array of one Order record, key "<store>/<terminal>"
 *
 * The schemas' integer ids come from posedge's string ids: an id's trailing digits ("s001" is
 * store 1, "SKU-00203" item 203, "op17" employee 17), unless the sink says otherwise
 * (store_id; a catalog whose items carry item_id, supplier_id, safety_stock, read by
 * posedge/catalog.h like the tills' own). What cannot be mapped is refused with the reason,
 * which makes the event a dead letter for the sink.
 *
 * The pipeline inventory-avro feeds keys inventory changes on (trans_id, item_id): a sale with
 * one item on two lines (scanned twice, a line discount on one) is one record with the lines'
 * quantities summed, never two records with one key, which that pipeline's deduplication would
 * silently drop one of.
 *
 * init runs once per sink at start, before the drain, and is the only place that blocks: it
 * learns every subject's id (the ids the spool kept first, so a restart during a registry
 * outage needs no request; then the registry) and parses the writer schemas. After it, mapping
 * is a pure function of the event, the configuration and what init learned, all of it in the
 * sink's own state (struct avro_sink): nothing here is global. Ids are kept in the spool's
 * metadata under "avro/<subject>/<id>", value {"schema": text, "version": n}.
 */
#include "bridge/profile.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/avro_enc.h"
#include "bridge/schema_registry.h"
#include "posedge/catalog.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/json.h"
#include "posedge/kafka_conf.h"
#include "posedge/log.h"
#include "posedge/secret.h"
#include "posedge/spool.h"

#define SNAPSHOTS_TOPIC "prod.inventory.snapshots"
#define STORES_TOPIC "prod.stores"
#define ITEMS_TOPIC "prod.items"
#define TYPES_TOPIC "prod.inventory.types"
#define TYPES_MAX 32
#define MASTER_FLUSH_MS 15000
#define KEPT_PREFIX "avro/" /* the spool's metadata keys of this file */

/* ---- the writer schemas ---- */

static const char txn_key_schema[] =
    "{\"type\":\"record\",\"name\":\"InventoryTransactionKey\",\"namespace\":\"posedge."
    "inventory\",\"fields\":[{\"name\":\"trans_id\",\"type\":\"string\"},{\"name\":\"item_id\","
    "\"type\":\"int\"},{\"name\":\"store_id\",\"type\":\"int\"}]}";
static const char txn_value_schema[] =
    "{\"type\":\"record\",\"name\":\"InventoryTransaction\",\"namespace\":\"posedge.inventory\","
    "\"fields\":[{\"name\":\"trans_id\",\"type\":\"string\"},{\"name\":\"item_id\",\"type\":"
    "\"int\"},{\"name\":\"store_id\",\"type\":\"int\"},{\"name\":\"date_time\",\"type\":"
    "\"string\"},{\"name\":\"quantity\",\"type\":\"int\"},{\"name\":\"change_type_id\",\"type\":"
    "\"int\"}]}";
static const char snap_key_schema[] =
    "{\"type\":\"record\",\"name\":\"InventorySnapshotKey\",\"namespace\":\"posedge.inventory\","
    "\"fields\":[{\"name\":\"item_id\",\"type\":\"int\"},{\"name\":\"store_id\",\"type\":\"int\"},"
    "{\"name\":\"date_time\",\"type\":\"string\"}]}";
static const char snap_value_schema[] =
    "{\"type\":\"record\",\"name\":\"InventorySnapshot\",\"namespace\":\"posedge.inventory\","
    "\"fields\":[{\"name\":\"item_id\",\"type\":\"int\"},{\"name\":\"employee_id\",\"type\":"
    "\"int\"},{\"name\":\"store_id\",\"type\":\"int\"},{\"name\":\"date_time\",\"type\":"
    "\"string\"},{\"name\":\"quantity\",\"type\":\"int\"}]}";
static const char int_schema[] = "\"int\"";
static const char store_schema[] =
    "{\"type\":\"record\",\"name\":\"Store\",\"namespace\":\"posedge.inventory\",\"fields\":["
    "{\"name\":\"store_id\",\"type\":\"int\"},{\"name\":\"name\",\"type\":\"string\"}]}";
static const char item_schema[] =
    "{\"type\":\"record\",\"name\":\"Item\",\"namespace\":\"posedge.inventory\",\"fields\":["
    "{\"name\":\"item_id\",\"type\":\"int\"},{\"name\":\"name\",\"type\":\"string\"},{\"name\":"
    "\"supplier_id\",\"type\":\"int\"},{\"name\":\"safety_stock_quantity\",\"type\":\"int\"}]}";
static const char type_schema[] =
    "{\"type\":\"record\",\"name\":\"ChangeType\",\"namespace\":\"posedge.inventory\","
    "\"fields\":[{\"name\":\"change_type_id\",\"type\":\"int\"},{\"name\":\"change_type\","
    "\"type\":\"string\"}]}";
static const char orders_schema[] =
    "{\"type\":\"array\",\"items\":{\"type\":\"record\",\"name\":\"Order\",\"namespace\":"
    "\"posedge.orders\",\"fields\":[{\"name\":\"order_id\",\"type\":\"long\"},{\"name\":"
    "\"customer\",\"type\":\"string\"},{\"name\":\"description\",\"type\":\"string\"},{\"name\":"
    "\"price\",\"type\":\"double\"},{\"name\":\"products\",\"type\":{\"type\":\"array\","
    "\"items\":{\"type\":\"record\",\"name\":\"Product\",\"fields\":[{\"name\":\"name\","
    "\"type\":\"string\"},{\"name\":\"price\",\"type\":\"double\"}]}}}]}}";

/* ---- configuration ---- */

/* A sink's options (orders-avro takes the registry's; inventory-avro all of them). */
struct avro_opts {
    char registry_url[256];                       /* the Schema Registry's base URL */
    char registry_user[128];                      /* its basic auth user ("": none) */
    char registry_password_file[BRIDGE_PATH_MAX]; /* first line: its password ("": none) */
    char registry_ca_file[BRIDGE_PATH_MAX];       /* PEM CA bundle ("": the system's) */
    int64_t store_id;                             /* 0: the store id's digits */
    char store_name[64];                          /* "": the store id */
    char catalog[BRIDGE_PATH_MAX];                /* catalog file ("": none) */
    char change_types[256];                       /* "sale=1,restock=2,..." */
    bool master_data;                             /* publish stores, items, types at start */
};

static int check_url(const void *v, char *why, size_t len)
{
    if (strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0)
        return PE_OK;
    snprintf(why, len, "expected the Schema Registry's URL, http(s)://host:port[/prefix]");
    return PE_EINVAL;
}

/* "name=N,name=N": names of letters, digits and '_', N from 0 to 2^31-1. */
static int check_change_types(const void *v, char *why, size_t len)
{
    const char *p = v;
    while (*p) {
        size_t n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        size_t d = n && p[n] == '=' ? strspn(p + n + 1, "0123456789") : 0;
        if (!d || d > 9 || (p[n + 1 + d] && p[n + 1 + d] != ',')) {
            snprintf(why, len,
                     "expected name=number pairs separated by commas, e.g. "
                     "\"sale=1,restock=2,shrink=3,return=4\"");
            return PE_EINVAL;
        }
        p += n + 1 + d + (p[n + 1 + d] == ',');
    }
    return PE_OK;
}

#define OPT_STR(k, f, d, lo, h, c)                                                                 \
    {                                                                                              \
        k, PE_CFG_STR, offsetof(struct avro_opts, f), sizeof(((struct avro_opts *)0)->f), d, lo,   \
            0, h, c                                                                                \
    }
#define REGISTRY_KEYS                                                                              \
    OPT_STR("registry_url", registry_url, "", 1,                                                   \
            "the Schema Registry's base URL, http(s)://host:port[/prefix] (required)",             \
            check_url),                                                                            \
        OPT_STR("registry_user", registry_user, "", 0, "its HTTP basic auth user (\"\": none)",    \
                NULL),                                                                             \
        OPT_STR("registry_password_file", registry_password_file, "", 0,                           \
                "file whose first line is that user's password (never logged)", NULL),             \
        OPT_STR("registry_ca_file", registry_ca_file, "", 0,                                       \
                "PEM CA bundle for the registry's certificate (\"\": the system's)", NULL)

static const struct pe_cfg_opt orders_config[] = {
    REGISTRY_KEYS,
    {NULL},
};

static const struct pe_cfg_opt inventory_config[] = {
    REGISTRY_KEYS,
    {"store_id", PE_CFG_INT, offsetof(struct avro_opts, store_id), 0, "0", 0, INT32_MAX,
     "the store's integer id (0: the store id's trailing digits)", NULL},
    OPT_STR("store_name", store_name, "", 0,
            "the name published on prod.stores (\"\": the store id)", NULL),
    OPT_STR("catalog", catalog, "", 0,
            "catalog file (the tills' format; items may carry item_id, supplier_id, "
            "safety_stock), published on prod.items",
            NULL),
    OPT_STR("change_types", change_types, "sale=1,restock=2,shrink=3,return=4,correction=5", 1,
            "change type names and ids (prod.inventory.types)", check_change_types),
    {"master_data", PE_CFG_BOOL, offsetof(struct avro_opts, master_data), 0, "true", 0, 0,
     "publish prod.stores, prod.items and prod.inventory.types at start", NULL},
    {NULL},
};

/* ---- state ---- */

/* One subject: its writer schema (ours, or the registry's latest) and id. */
struct subj {
    char name[BRIDGE_TOPIC_MAX + 8];
    struct pe_avro_schema *schema;
    uint32_t id;
};

/* One item's movement in the event being mapped (inventory-avro's per-item sum). */
struct agg {
    int64_t item_id; /* the numeric id: the record's key with trans_id and store */
    int64_t qty;     /* the lines' quantities, signed, summed */
    int line;        /* the first line of the item, for messages */
};

/* One Avro sink: what init learned, and scratch for mapping. */
struct avro_sink {
    const struct avro_opts *o;  /* the sink's options (the configuration's) */
    struct subj tk, tv, sk, sv; /* inventory: transactions and snapshots key and value */
    struct subj ov;             /* orders: the value */
    struct pe_catalog *cat;     /* inventory: the catalog, NULL without one */
    struct {
        char name[32];
        int64_t id;
    } types[TYPES_MAX];
    int ntypes;
    int64_t store_id;              /* the store's numeric id, -1 when it has none */
    struct pe_avro_buf kbuf, vbuf; /* encode scratch */
    struct agg *agg;               /* per-item sums, room for nagg */
    size_t nagg;
};

/* An id the spool kept. */
struct kept {
    char *subject, *schema;
    int64_t id, version, updated_ms;
    size_t ord; /* read in key order: ties of updated_ms keep it */
};

/* What init needs while it learns ids. */
struct start_ctx {
    struct pe_spool *spool; /* where learned ids are kept (NULL: nowhere) */
    struct pe_sr *sr;       /* the registry client */
    struct kept *kept;      /* the ids kept, oldest first */
    size_t nkept;
    const char *url; /* the registry's URL, for messages */
};

/* The trailing digits of s as a number, or -1 when it has none or they exceed an int32. */
static int64_t digits_of(const char *s)
{
    size_t n = s ? strlen(s) : 0, i = n;
    while (i > 0 && s[i - 1] >= '0' && s[i - 1] <= '9')
        i--;
    if (i == n || n - i > 10)
        return -1;
    int64_t v = strtoll(s + i, NULL, 10);
    return v > INT32_MAX ? -1 : v;
}

/* The item's numeric id: the catalog's item_id, else its trailing digits; -1 when none. */
static int64_t item_id_of(const struct avro_sink *a, const char *id)
{
    const struct pe_item *it = pe_catalog_by_id(a->cat, id);
    return it && it->item_id >= 0 ? it->item_id : digits_of(id);
}

static int64_t type_id(const struct avro_sink *a, const char *name)
{
    for (int i = 0; i < a->ntypes; i++)
        if (strcmp(a->types[i].name, name) == 0)
            return a->types[i].id;
    return -1;
}

/* ---- encoding ---- */

/* Encode key (may be NULL: the shared key) and value under the subjects, and add the record. */
static int emit(struct avro_sink *a, struct profile_out *out, const char *topic, struct subj *ks,
                const cJSON *key, struct subj *vs, const cJSON *val, char *why, size_t whylen)
{
    int rc = pe_avro_encode_confluent(vs->schema, vs->id, val, &a->vbuf, why, whylen);
    if (!rc && key)
        rc = pe_avro_encode_confluent(ks->schema, ks->id, key, &a->kbuf, why, whylen);
    if (rc)
        return rc == PE_ENOMEM ? rc : PE_EINVAL; /* a value the writer schema does not take */
    uint8_t *v = malloc(a->vbuf.len ? a->vbuf.len : 1), *k = key ? malloc(a->kbuf.len) : NULL;
    if (!v || (key && !k)) {
        free(v);
        free(k);
        return PE_ENOMEM;
    }
    memcpy(v, a->vbuf.data, a->vbuf.len);
    if (!key)
        return profile_out_add(out, topic, v, a->vbuf.len, true);
    memcpy(k, a->kbuf.data, a->kbuf.len);
    return profile_out_add_keyed(out, topic, k, a->kbuf.len, v, a->vbuf.len);
}

/* "{UUID}" in upper case. */
static void guid_of(const char *id, char *out, size_t outlen)
{
    size_t o = 0;
    out[o++] = '{';
    for (const char *p = id; *p && o + 2 < outlen; p++)
        out[o++] = (*p >= 'a' && *p <= 'z') ? (char)(*p - 'a' + 'A') : *p;
    out[o++] = '}';
    out[o] = '\0';
}

/* ---- inventory-avro ---- */

/* Members of a record to encode; false when o is NULL or the member could not be added (out of
 * memory: then the record must not go to the encoder, which would call the field missing and
 * make the event a dead letter). */
static bool put_num(cJSON *o, const char *k, double v)
{
    return o && cJSON_AddNumberToObject(o, k, v);
}

static bool put_str(cJSON *o, const char *k, const char *v)
{
    return o && cJSON_AddStringToObject(o, k, v);
}

/* One snapshot record of an inventory count line. */
static int emit_snapshot(struct avro_sink *a, struct profile_out *out, int64_t iid,
                         int64_t employee, const char *date, int64_t qty, char *why,
                         size_t whylen)
{
    cJSON *k = cJSON_CreateObject(), *v = cJSON_CreateObject();
    bool ok = put_num(k, "item_id", (double)iid) && put_num(k, "store_id", (double)a->store_id) &&
              put_str(k, "date_time", date) && put_num(v, "item_id", (double)iid) &&
              put_num(v, "employee_id", (double)employee) &&
              put_num(v, "store_id", (double)a->store_id) && put_str(v, "date_time", date) &&
              put_num(v, "quantity", (double)qty);
    int rc = ok ? emit(a, out, SNAPSHOTS_TOPIC, &a->sk, k, &a->sv, v, why, whylen) : PE_ENOMEM;
    cJSON_Delete(k);
    cJSON_Delete(v);
    return rc;
}

/* One transaction record: an item's movement in one event. */
static int emit_movement(struct avro_sink *a, struct profile_out *out, const char *topic,
                         const char *guid, const char *date, const struct agg *g, int64_t tid,
                         char *why, size_t whylen)
{
    cJSON *k = cJSON_CreateObject(), *v = cJSON_CreateObject();
    bool ok = put_str(k, "trans_id", guid) && put_num(k, "item_id", (double)g->item_id) &&
              put_num(k, "store_id", (double)a->store_id) && put_str(v, "trans_id", guid) &&
              put_num(v, "item_id", (double)g->item_id) &&
              put_num(v, "store_id", (double)a->store_id) && put_str(v, "date_time", date) &&
              put_num(v, "quantity", (double)g->qty) &&
              put_num(v, "change_type_id", (double)tid);
    int rc = ok ? emit(a, out, topic, &a->tk, k, &a->tv, v, why, whylen) : PE_ENOMEM;
    cJSON_Delete(k);
    cJSON_Delete(v);
    return rc;
}

static int inventory_map(struct profile_sink *s, const struct profile_event *ev,
                         struct profile_out *out, char *why, size_t whylen)
{
    struct avro_sink *a = s->state;
    const char *kind = NULL; /* the change type; NULL for an adjustment: by reason and sign */
    int sign = 1;
    bool count = false;
    /* The types are those of .types below: the four that move stock and the count. */
    if (ev->etype == PE_EV_SALE)
        kind = "sale", sign = -1;
    else if (ev->etype == PE_EV_RETURN)
        kind = "return";
    else if (ev->etype == PE_EV_INVENTORY_RECEIPT)
        kind = "restock";
    else if (ev->etype == PE_EV_INVENTORY_COUNT)
        count = true;
    if (a->store_id < 0) {
        snprintf(why, whylen, "store %s has no numeric id (sink key store_id)", ev->store);
        return PE_EINVAL;
    }
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(ev->doc, "body");
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(body, "lines"), *l;
    if (!cJSON_IsArray(lines)) {
        snprintf(why, whylen, "no lines array");
        return PE_EINVAL;
    }
    char guid[64], date[32];
    guid_of(ev->id, guid, sizeof guid);
    profile_time(ev->ts_ms, "yyyy-MM-dd HH:mm:ss", date, sizeof date);
    int64_t employee = -1;
    if (count) {
        const char *op = NULL;
        pe_json_get_str(ev->doc, "operator", &op);
        if ((employee = digits_of(op)) < 0) {
            snprintf(why, whylen, "operator %s has no numeric id", op ? op : "(none)");
            return PE_EINVAL;
        }
    }
    size_t nlines = (size_t)cJSON_GetArraySize(lines), ng = 0;
    if (!count && nlines > a->nagg) {
        struct agg *g = realloc(a->agg, nlines * sizeof *g);
        if (!g)
            return PE_ENOMEM;
        a->agg = g;
        a->nagg = nlines;
    }
    int idx = 0, rc;
    cJSON_ArrayForEach(l, lines)
    {
        const char *item = NULL;
        int64_t qty;
        if (pe_json_get_str(l, "item", &item) ||
            pe_json_get_int(l, count ? "counted" : "qty", &qty)) {
            snprintf(why, whylen, "lines[%d] has no item or %s", idx, count ? "counted" : "qty");
            return PE_EINVAL;
        }
        int64_t iid = item_id_of(a, item);
        if (iid < 0) {
            snprintf(why, whylen, "lines[%d]: item %s has no numeric id (catalog item_id)", idx,
                     item);
            return PE_EINVAL;
        }
        qty *= sign;
        if (qty < INT32_MIN || qty > INT32_MAX) {
            snprintf(why, whylen, "lines[%d]: quantity %" PRId64 " does not fit an int", idx, qty);
            return PE_EINVAL;
        }
        if (count) {
            if ((rc = emit_snapshot(a, out, iid, employee, date, qty, why, whylen)))
                return rc;
        } else {
            /* One record per (trans_id, item_id): lines of one item add up. */
            size_t k = 0;
            while (k < ng && a->agg[k].item_id != iid)
                k++;
            if (k == ng)
                a->agg[ng++] = (struct agg){.item_id = iid, .qty = 0, .line = idx};
            a->agg[k].qty += qty; /* each within an int32: no overflow of the int64 sum */
        }
        idx++;
    }
    const char *reason = NULL;
    pe_json_get_str(body, "reason", &reason);
    for (size_t k = 0; k < ng; k++) {
        const struct agg *g = &a->agg[k];
        if (g->qty < INT32_MIN || g->qty > INT32_MAX) {
            snprintf(why, whylen, "lines[%d]: quantity %" PRId64 " (its item's lines summed) "
                     "does not fit an int", g->line, g->qty);
            return PE_EINVAL;
        }
        const char *tname = kind ? kind
                            : reason && type_id(a, reason) >= 0 ? reason
                            : g->qty < 0                        ? "shrink"
                                                                : "correction";
        int64_t tid = type_id(a, tname);
        if (tid < 0) {
            snprintf(why, whylen, "no change type %s in change_types", tname);
            return PE_EINVAL;
        }
        if ((rc = emit_movement(a, out, s->conf->topic, guid, date, g, tid, why, whylen)))
            return rc;
    }
    return PE_OK;
}

/* ---- orders-avro ---- */

static int orders_map(struct profile_sink *s, const struct profile_event *ev,
                      struct profile_out *out, char *why, size_t whylen)
{
    struct avro_sink *a = s->state;
    const cJSON *body = cJSON_GetObjectItemCaseSensitive(ev->doc, "body");
    const cJSON *lines = cJSON_GetObjectItemCaseSensitive(body, "lines"), *l;
    const cJSON *totals = cJSON_GetObjectItemCaseSensitive(body, "totals");
    int64_t total;
    if (!cJSON_IsArray(lines) || pe_json_get_int(totals, "total", &total)) {
        snprintf(why, whylen, "no lines array or totals.total");
        return PE_EINVAL;
    }
    const char *currency = NULL, *customer = NULL;
    pe_json_get_str(body, "currency", &currency);
    if (pe_json_get_str(body, "customer_id", &customer))
        customer = "";
    double unit = 1;
    for (int i = profile_currency_exp(currency); i > 0; i--)
        unit *= 10;
    /* order_id: the event id's first 15 hex digits (60 bits), stable and unique enough. */
    char oid[24] = "";
    uint64_t v = 0;
    int nd = 0;
    for (const char *p = ev->id; *p && nd < 15; p++) {
        int d = *p >= '0' && *p <= '9'   ? *p - '0'
                : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                                         : -1;
        if (d >= 0)
            v = v * 16 + (uint64_t)d, nd++;
    }
    snprintf(oid, sizeof oid, "%" PRIu64, v);
    struct profile_buf desc = {0};
    cJSON *arr = cJSON_CreateArray(), *o = cJSON_CreateObject();
    if (!arr || !o || !cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(arr);
        cJSON_Delete(o);
        return PE_ENOMEM;
    }
    cJSON *products = cJSON_AddArrayToObject(o, "products");
    bool ok = products != NULL;
    int idx = 0, rc = PE_OK;
    cJSON_ArrayForEach(l, lines)
    {
        const char *name;
        int64_t amount;
        if (pe_json_get_str(l, "name", &name) || pe_json_get_int(l, "amount", &amount)) {
            snprintf(why, whylen, "lines[%d] has no name or amount", idx);
            rc = PE_EINVAL;
            break;
        }
        cJSON *p = cJSON_CreateObject();
        if (!ok || !put_str(p, "name", name) || !put_num(p, "price", (double)amount / unit) ||
            !cJSON_AddItemToArray(products, p)) {
            cJSON_Delete(p); /* not in products */
            ok = false;
        }
        if (idx++)
            pb_str(&desc, ", ");
        pb_str(&desc, name);
    }
    ok = ok && put_str(o, "order_id", oid) && put_str(o, "customer", customer) &&
         put_str(o, "description", desc.s ? desc.s : "") &&
         put_num(o, "price", (double)total / unit);
    /* Field order in the object does not matter: the encoder walks the schema. */
    if (!rc && (desc.failed || !ok))
        rc = PE_ENOMEM;
    if (!rc)
        rc = emit(a, out, s->conf->topic, NULL, NULL, &a->ov, arr, why, whylen);
    cJSON_Delete(arr);
    free(desc.s);
    return rc;
}


/* ---- start: the ids ---- */

/* Keep what the registry taught the client, under "avro/<subject>/<id>" (a version known
 * before is not forgotten when a registration does not say it). */
static void learned(void *arg, const struct pe_sr_schema *s)
{
    struct start_ctx *c = arg;
    if (!c->spool)
        return;
    int64_t version = s->version;
    for (size_t i = 0; i < c->nkept; i++)
        if (c->kept[i].id == s->id && strcmp(c->kept[i].subject, s->subject) == 0 &&
            c->kept[i].version > version)
            version = c->kept[i].version;
    char key[BRIDGE_TOPIC_MAX + 32];
    snprintf(key, sizeof key, KEPT_PREFIX "%s/%d", s->subject, s->id);
    cJSON *v = cJSON_CreateObject();
    char *text = put_str(v, "schema", s->schema) && put_num(v, "version", (double)version)
                     ? cJSON_PrintUnformatted(v)
                     : NULL;
    cJSON_Delete(v);
    int rc = text ? pe_spool_meta_put(c->spool, key, text, pe_time_now_ms()) : PE_ENOMEM;
    free(text);
    if (rc)
        pe_warn("bridge.avro_id_not_kept", "subject=%s id=%d err=%s", s->subject, s->id,
                pe_errname(rc));
}

/* One kept id: "avro/<subject>/<id>" and {"schema":..., "version":...}; others are skipped. */
static int keep_row(const struct pe_spool_meta *m, void *arg)
{
    struct start_ctx *c = arg;
    const char *subject = m->key + strlen(KEPT_PREFIX), *slash = strrchr(subject, '/');
    cJSON *doc = NULL;
    const char *schema = NULL;
    int64_t version = 0;
    if (!slash || slash == subject || digits_of(slash) < 0)
        return 0;
    int prc = pe_json_parse(m->value, strlen(m->value), &doc, NULL, 0);
    if (prc == PE_ENOMEM)
        return prc; /* not skipped: a start without the id would take the registry as down */
    if (prc != PE_OK || pe_json_get_str(doc, "schema", &schema) ||
        pe_json_get_int(doc, "version", &version)) {
        cJSON_Delete(doc);
        return 0;
    }
    struct kept *k = realloc(c->kept, (c->nkept + 1) * sizeof *k);
    int rc = k ? PE_OK : PE_ENOMEM;
    if (k) {
        c->kept = k;
        k = &c->kept[c->nkept];
        k->subject = strndup(subject, (size_t)(slash - subject));
        k->schema = strdup(schema);
        k->id = digits_of(slash);
        k->version = version;
        k->updated_ms = m->updated_ms;
        k->ord = c->nkept;
        if (k->subject && k->schema)
            c->nkept++;
        else
            rc = PE_ENOMEM, free(k->subject), free(k->schema);
    }
    cJSON_Delete(doc);
    return rc;
}

static int by_age(const void *x, const void *y)
{
    const struct kept *a = x, *b = y;
    if (a->updated_ms != b->updated_ms)
        return a->updated_ms < b->updated_ms ? -1 : 1;
    return a->ord < b->ord ? -1 : a->ord > b->ord;
}

/* Learn subject's id and writer schema into sj: register ours; when the registry refuses it,
 * its latest version; when the registry cannot be reached, the id the spool kept last. */
static int learn(struct start_ctx *c, struct subj *sj, const char *topic, const char *suffix,
                 const char *ours, char *err, size_t errlen)
{
    snprintf(sj->name, sizeof sj->name, "%s-%s", topic, suffix);
    int id = 0, version = 0;
    char *latest = NULL;
    const char *writer = ours;
    int rc = pe_sr_register(c->sr, sj->name, ours, &id);
    if (rc == PE_EDECLINED || rc == PE_EINVAL) {
        pe_warn("bridge.avro_register_refused",
                "subject=%s url=%s msg=\"%s\" (using the "
                "latest registered version)",
                sj->name, c->url, pe_sr_errmsg(c->sr));
        rc = pe_sr_latest(c->sr, sj->name, &id, &version, &latest);
        writer = latest;
    }
    if (rc == PE_EIO || rc == PE_ETIMEDOUT || rc == PE_EBUSY) {
        /* The newest kept id of the subject, one for our schema before any other. */
        const struct kept *k = NULL;
        for (size_t i = 0; i < c->nkept; i++)
            if (strcmp(c->kept[i].subject, sj->name) == 0 &&
                (!k || strcmp(c->kept[i].schema, ours) == 0 || strcmp(k->schema, ours) != 0))
                k = &c->kept[i];
        if (!k) {
            snprintf(err, errlen,
                     "Schema Registry %s cannot be reached (%s) and the spool keeps no id for "
                     "subject %s: start the bridge once with the registry up",
                     c->url, pe_sr_errmsg(c->sr), sj->name);
            return PE_EIO;
        }
        pe_warn("bridge.avro_registry_down",
                "subject=%s url=%s id=%lld msg=\"%s\" (using the "
                "id kept in the spool)",
                sj->name, c->url, (long long)k->id, pe_sr_errmsg(c->sr));
        id = (int)k->id;
        writer = k->schema;
        rc = PE_OK;
    }
    if (rc) {
        snprintf(err, errlen, "Schema Registry %s: subject %s: %s", c->url, sj->name,
                 pe_sr_errmsg(c->sr));
        free(latest);
        return rc == PE_ENOMEM ? rc : PE_EDECLINED;
    }
    char why[200] = "";
    rc = pe_avro_schema_parse(writer, strlen(writer), &sj->schema, why, sizeof why);
    if (rc)
        snprintf(err, errlen, "subject %s: the writer schema does not parse: %s", sj->name, why);
    else
        pe_info("bridge.avro_subject", "subject=%s id=%d", sj->name, id);
    sj->id = (uint32_t)id;
    free(latest);
    return rc;
}

/* The kept ids and a registry client for sink s. err names the sink. */
static int ctx_open(struct start_ctx *c, const struct profile_sink *s, struct pe_spool *spool,
                    char *err, size_t errlen)
{
    const struct avro_opts *o = s->conf->opts;
    char password[PE_SECRET_MAX] = "", what[PE_ID_MAX + 40];
    int rc;
    memset(c, 0, sizeof *c);
    c->spool = spool;
    c->url = o->registry_url;
    if (spool && (rc = pe_spool_meta_list(spool, KEPT_PREFIX, keep_row, c))) {
        snprintf(err, errlen, "spool: cannot read the kept schema ids: %s", pe_strerror(rc));
        return rc;
    }
    if (c->nkept > 1)
        qsort(c->kept, c->nkept, sizeof *c->kept, by_age);
    snprintf(what, sizeof what, "sink %s: registry_password_file", s->conf->name);
    if (o->registry_password_file[0] &&
        (rc = pe_secret_read(what, o->registry_password_file, 0, password, sizeof password, err,
                             errlen)))
        return rc == PE_ENOMEM ? rc : PE_EINVAL;
    struct pe_sr_cfg sc = {
        .url = o->registry_url,
        .username = o->registry_user[0] ? o->registry_user : NULL,
        .password = password[0] ? password : NULL,
        .ca_file = o->registry_ca_file[0] ? o->registry_ca_file : NULL,
        .learned = learned,
        .learned_arg = c,
    };
    rc = pe_sr_create(&sc, &c->sr);
    pe_secret_wipe(password, sizeof password); /* the client has its own copy */
    if (rc) {
        snprintf(err, errlen, "sink %s: registry_url %s: %s", s->conf->name, o->registry_url,
                 pe_strerror(rc));
        return rc;
    }
    for (size_t i = 0; i < c->nkept; i++)
        pe_sr_cache_put(c->sr, c->kept[i].subject, c->kept[i].schema, (int)c->kept[i].id,
                        (int)c->kept[i].version);
    return PE_OK;
}

static void ctx_close(struct start_ctx *c)
{
    pe_sr_destroy(c->sr);
    for (size_t i = 0; i < c->nkept; i++) {
        free(c->kept[i].subject);
        free(c->kept[i].schema);
    }
    free(c->kept);
    memset(c, 0, sizeof *c);
}

/* ---- start: master data ---- */

/* Best effort, at start: the master data of one inventory-avro sink, through a producer of its
 * own (not transactional: they are configuration, not events). */
static void master_publish(const struct profile_sink *s, struct avro_sink *a, struct start_ctx *c)
{
    const struct bridge_cfg *cfg = s->cfg;
    struct subj ks = {0}, sv = {0}, iv = {0}, tv = {0};
    char err[512] = "", errstr[256];
    rd_kafka_conf_t *conf = NULL;
    rd_kafka_t *rk = NULL;
    int n = 0;
    struct pe_kafka_site site = {.brokers = cfg->kafka_brokers,
                                 .properties = cfg->kafka_properties,
                                 .security = &cfg->kafka_security};
    if (pe_kafka_conf_new(PE_KAFKA_PRODUCER_MASTER_DATA, &site, &conf, err, sizeof err)) {
        pe_warn("bridge.avro_master_data", "published=no msg=\"%s\"", err);
        return;
    }
    if (learn(c, &ks, STORES_TOPIC, "key", int_schema, err, sizeof err) ||
        learn(c, &sv, STORES_TOPIC, "value", store_schema, err, sizeof err) ||
        learn(c, &iv, ITEMS_TOPIC, "value", item_schema, err, sizeof err) ||
        learn(c, &tv, TYPES_TOPIC, "value", type_schema, err, sizeof err)) {
        pe_warn("bridge.avro_master_data", "published=no msg=\"%s\"", err);
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr))) {
        pe_warn("bridge.avro_master_data", "published=no msg=\"%s\"", errstr);
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    /* One record per id: key the id ("int"), value the record. */
    size_t nitems = pe_catalog_count(a->cat);
    for (int kind = 0; kind < 3; kind++) {
        size_t count = kind == 0 ? 1 : kind == 1 ? nitems : (size_t)a->ntypes;
        for (size_t i = 0; i < count; i++) {
            cJSON *v = cJSON_CreateObject();
            int64_t id;
            const char *topic;
            struct subj *vs;
            if (kind == 0) {
                id = a->store_id;
                cJSON_AddNumberToObject(v, "store_id", (double)id);
                cJSON_AddStringToObject(v, "name",
                                        a->o->store_name[0] ? a->o->store_name : cfg->store);
                topic = STORES_TOPIC, vs = &sv;
            } else if (kind == 1) {
                const struct pe_item *it = pe_catalog_at(a->cat, i);
                id = item_id_of(a, it->id);
                cJSON_AddNumberToObject(v, "item_id", (double)id);
                cJSON_AddStringToObject(v, "name", it->name);
                cJSON_AddNumberToObject(v, "supplier_id", (double)it->supplier_id);
                cJSON_AddNumberToObject(v, "safety_stock_quantity", (double)it->safety_stock);
                topic = ITEMS_TOPIC, vs = &iv;
            } else {
                id = a->types[i].id;
                cJSON_AddNumberToObject(v, "change_type_id", (double)id);
                cJSON_AddStringToObject(v, "change_type", a->types[i].name);
                topic = TYPES_TOPIC, vs = &tv;
            }
            cJSON *k = cJSON_CreateNumber((double)id);
            /* The key subject of each topic is "<topic>-key"; the schema is the same "int". */
            char ksub[BRIDGE_TOPIC_MAX + 8];
            snprintf(ksub, sizeof ksub, "%s-key", topic);
            int kid = (int)ks.id;
            if (strcmp(topic, STORES_TOPIC) != 0 && pe_sr_register(c->sr, ksub, int_schema, &kid))
                kid = (int)ks.id; /* the same schema text has the same global id */
            if (id >= 0 &&
                !pe_avro_encode_confluent(vs->schema, vs->id, v, &a->vbuf, err, sizeof err) &&
                !pe_avro_encode_confluent(ks.schema, (uint32_t)kid, k, &a->kbuf, err,
                                          sizeof err) &&
                rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_KEY(a->kbuf.data, a->kbuf.len),
                                  RD_KAFKA_V_VALUE(a->vbuf.data, a->vbuf.len),
                                  RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR)
                n++;
            cJSON_Delete(k);
            cJSON_Delete(v);
        }
    }
    rd_kafka_resp_err_t fe = rd_kafka_flush(rk, MASTER_FLUSH_MS);
    pe_info("bridge.avro_master_data", "sink=%s records=%d flushed=%s", s->conf->name, n,
            fe ? rd_kafka_err2str(fe) : "yes");
    rd_kafka_destroy(rk);
out:
    pe_avro_schema_destroy(ks.schema);
    pe_avro_schema_destroy(sv.schema);
    pe_avro_schema_destroy(iv.schema);
    pe_avro_schema_destroy(tv.schema);
}

/* ---- hooks ---- */

/* "sale=1,restock=2" into a->types (checked by the configuration). */
static void types_parse(struct avro_sink *a, const char *spec)
{
    const char *p = spec;
    while (*p && a->ntypes < TYPES_MAX) {
        const char *eq = strchr(p, '='), *end = strchr(p, ',');
        if (!eq)
            break;
        size_t n = (size_t)(eq - p);
        snprintf(a->types[a->ntypes].name, sizeof a->types[0].name, "%.*s", (int)n, p);
        a->types[a->ntypes].id = strtoll(eq + 1, NULL, 10);
        a->ntypes++;
        p = end ? end + 1 : eq + strlen(eq);
    }
}

static void avro_free(struct avro_sink *a)
{
    if (!a)
        return;
    struct subj *subjects[] = {&a->tk, &a->tv, &a->sk, &a->sv, &a->ov};
    for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++)
        pe_avro_schema_destroy(subjects[i]->schema);
    pe_catalog_destroy(a->cat);
    pe_avro_buf_free(&a->kbuf);
    pe_avro_buf_free(&a->vbuf);
    free(a->agg);
    free(a);
}

static void avro_exit(struct profile_sink *s)
{
    avro_free(s->state);
    s->state = NULL;
}

static int inventory_init(struct profile_sink *s, struct pe_spool *spool, char *err,
                          size_t errlen)
{
    struct avro_sink *a = calloc(1, sizeof *a);
    struct start_ctx c;
    if (!a)
        return PE_ENOMEM;
    a->o = s->conf->opts;
    int rc = ctx_open(&c, s, spool, err, errlen);
    if (rc)
        goto fail;
    a->store_id = a->o->store_id ? a->o->store_id : digits_of(s->cfg->store);
    types_parse(a, a->o->change_types);
    if (a->o->catalog[0] && (rc = pe_catalog_load(a->o->catalog, &a->cat, err, errlen))) {
        rc = rc == PE_ENOMEM ? rc : PE_EINVAL; /* the configuration names a bad catalog */
        goto fail;
    }
    if ((rc = learn(&c, &a->tk, s->conf->topic, "key", txn_key_schema, err, errlen)) ||
        (rc = learn(&c, &a->tv, s->conf->topic, "value", txn_value_schema, err, errlen)) ||
        (rc = learn(&c, &a->sk, SNAPSHOTS_TOPIC, "key", snap_key_schema, err, errlen)) ||
        (rc = learn(&c, &a->sv, SNAPSHOTS_TOPIC, "value", snap_value_schema, err, errlen)))
        goto fail;
    if (a->o->master_data && a->store_id >= 0)
        master_publish(s, a, &c);
    ctx_close(&c);
    s->state = a;
    return PE_OK;

fail:
    ctx_close(&c);
    avro_free(a);
    return rc;
}

static int orders_init(struct profile_sink *s, struct pe_spool *spool, char *err, size_t errlen)
{
    struct avro_sink *a = calloc(1, sizeof *a);
    struct start_ctx c;
    if (!a)
        return PE_ENOMEM;
    a->o = s->conf->opts;
    int rc = ctx_open(&c, s, spool, err, errlen);
    if (!rc)
        rc = learn(&c, &a->ov, s->conf->topic, "value", orders_schema, err, errlen);
    ctx_close(&c);
    if (rc) {
        avro_free(a);
        return rc;
    }
    s->state = a;
    return PE_OK;
}

const struct profile_ops profile_inventory_avro = {
    .name = "inventory-avro",
    .default_topic = "prod.inventory.transactions",
    .config = inventory_config,
    .config_size = sizeof(struct avro_opts),
    .needs_doc = true,
    .types = PE_EV_BIT(PE_EV_SALE) | PE_EV_BIT(PE_EV_RETURN) | PE_EV_BIT(PE_EV_INVENTORY_RECEIPT) |
             PE_EV_BIT(PE_EV_INVENTORY_ADJUST) | PE_EV_BIT(PE_EV_INVENTORY_COUNT),
    .init = inventory_init,
    .map = inventory_map,
    .exit = avro_exit,
};

const struct profile_ops profile_orders_avro = {
    .name = "orders-avro",
    .default_topic = "orders.avro",
    .config = orders_config,
    .config_size = sizeof(struct avro_opts),
    .needs_doc = true,
    .types = PE_EV_BIT(PE_EV_SALE),
    .init = orders_init,
    .map = orders_map,
    .exit = avro_exit,
};
