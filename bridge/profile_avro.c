/* SPDX-License-Identifier: Apache-2.0 */
/*
 * profile_avro.c - the Avro output profiles: Confluent-framed Avro (byte 0, the schema id as 4
 * bytes big-endian, Avro binary) with the ids of a Schema Registry (docs/protocol.md, "Output
 * profiles"):
 *
 *   inventory-avro  the Databricks point-of-sale layout: one record per stock movement on
 *                   the sink's topic (prod.inventory.transactions), inventory counts on
 *                   prod.inventory.snapshots, Avro keys; master data (prod.stores, prod.items,
 *                   prod.inventory.types) published at start
 *   orders-avro     one value per sale: an array of one Order record, key "<store>/<terminal>"
 *
 * The schemas' integer ids come from posedge's string ids: an id's trailing digits ("s001" is
 * store 1, "SKU-00203" item 203, "op17" employee 17), unless the sink says otherwise
 * (store_id; a catalog whose items carry item_id, supplier_id, safety_stock). What cannot be
 * mapped is refused with the reason, which makes the event a dead letter for the sink.
 *
 * profile_avro_start runs once at start, before the drain, and is the only place that blocks:
 * it learns every subject's id (the spool's kept ids first, so a restart during a registry
 * outage needs no request; then the registry) and parses the writer schemas. After it, mapping
 * is a pure function of the event, the configuration and those ids. Its state is this file's
 * (one bridge per process): the runtime of each Avro sink, found by the sink's name.
 */
#include "bridge/profile.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge/avro_enc.h"
#include "bridge/schema_registry.h"
#include "posedge/clock.h"
#include "posedge/err.h"
#include "posedge/file.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/spool.h"

#define SNAPSHOTS_TOPIC "prod.inventory.snapshots"
#define STORES_TOPIC "prod.stores"
#define ITEMS_TOPIC "prod.items"
#define TYPES_TOPIC "prod.inventory.types"
#define TYPES_MAX 32
#define MASTER_FLUSH_MS 15000

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

/* ---- runtime state ---- */

/* One subject: its writer schema (ours, or the registry's latest) and id. */
struct subj {
    char name[BRIDGE_TOPIC_MAX + 8];
    struct pe_avro_schema *schema;
    uint32_t id;
};

/* A catalog item's numbers. */
struct item {
    char *id;         /* posedge's item id */
    char *name;       /* its name */
    int64_t item_id;  /* the numeric id */
    int64_t supplier; /* supplier_id, 0 when not given */
    int64_t safety;   /* safety_stock, 0 when not given */
};

/* One Avro sink. */
struct rt {
    const struct bridge_sink *sink; /* the configuration's (borrowed for the bridge's life) */
    char name[PE_ID_MAX];
    struct subj tk, tv, sk, sv; /* inventory: transactions and snapshots key and value */
    struct subj ov;             /* orders: the value */
    struct item *items;
    size_t nitems;
    struct {
        char name[32];
        int64_t id;
    } types[TYPES_MAX];
    int ntypes;
    int64_t store_id; /* the store's numeric id, -1 when it has none */
};

static struct rt rts[BRIDGE_SINKS_MAX];
static int nrts;
static struct pe_avro_buf kbuf, vbuf; /* encode scratch (one bridge thread maps) */

/* Ids the spool kept (loaded once at start). */
struct kept {
    char *subject, *schema;
    int64_t id, version;
};

struct start_ctx {
    struct pe_spool *spool;
    struct pe_sr *sr;
    struct kept *kept;
    size_t nkept;
    const char *url;
};

static struct rt *rt_of(const struct bridge_sink *s)
{
    for (int i = 0; i < nrts; i++)
        if (strcmp(rts[i].name, s->name) == 0)
            return &rts[i];
    return NULL;
}

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

static const struct item *item_find(const struct rt *r, const char *id)
{
    for (size_t i = 0; i < r->nitems; i++)
        if (strcmp(r->items[i].id, id) == 0)
            return &r->items[i];
    return NULL;
}

/* The item's numeric id: the catalog's item_id, else its trailing digits; -1 when none. */
static int64_t item_id_of(const struct rt *r, const char *id)
{
    const struct item *it = item_find(r, id);
    return it ? it->item_id : digits_of(id);
}

static int64_t type_id(const struct rt *r, const char *name)
{
    for (int i = 0; i < r->ntypes; i++)
        if (strcmp(r->types[i].name, name) == 0)
            return r->types[i].id;
    return -1;
}

/* ---- encoding ---- */

/* Encode key (may be NULL: the shared key) and value under the subjects, and add the record. */
static int emit(struct profile_out *out, const char *topic, struct subj *ks, const cJSON *key,
                struct subj *vs, const cJSON *val, char *why, size_t whylen)
{
    int rc = pe_avro_encode_confluent(vs->schema, vs->id, val, &vbuf, why, whylen);
    if (!rc && key)
        rc = pe_avro_encode_confluent(ks->schema, ks->id, key, &kbuf, why, whylen);
    if (rc)
        return rc == PE_ENOMEM ? rc : PE_EINVAL; /* a value the writer schema does not take */
    uint8_t *v = malloc(vbuf.len ? vbuf.len : 1), *k = key ? malloc(kbuf.len) : NULL;
    if (!v || (key && !k)) {
        free(v);
        free(k);
        return PE_ENOMEM;
    }
    memcpy(v, vbuf.data, vbuf.len);
    if (!key)
        return profile_out_add(out, topic, v, vbuf.len, true);
    memcpy(k, kbuf.data, kbuf.len);
    return profile_out_add_keyed(out, topic, k, kbuf.len, v, vbuf.len);
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

static int inventory_map(const struct bridge_sink *s, const struct bridge_cfg *cfg,
                         const struct profile_event *ev, struct profile_out *out, char *why,
                         size_t whylen)
{
    (void)cfg;
    struct rt *r = rt_of(s);
    const char *kind = NULL;
    int sign = 1;
    bool count = strcmp(ev->type, "inventory_count") == 0;
    if (strcmp(ev->type, "sale") == 0)
        kind = "sale", sign = -1;
    else if (strcmp(ev->type, "return") == 0)
        kind = "return";
    else if (strcmp(ev->type, "inventory_receipt") == 0)
        kind = "restock";
    else if (strcmp(ev->type, "inventory_adjust") == 0)
        kind = "adjust";
    else if (!count)
        return PE_OK;
    if (!r || !r->tv.schema) {
        snprintf(why, whylen, "the sink's schema ids are not known (not started)");
        return PE_ESTATE;
    }
    if (r->store_id < 0) {
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
    const char *reason = NULL;
    pe_json_get_str(body, "reason", &reason);
    int idx = 0, rc = PE_OK;
    cJSON_ArrayForEach(l, lines)
    {
        const char *item = NULL;
        int64_t qty;
        if (pe_json_get_str(l, "item", &item) ||
            pe_json_get_int(l, count ? "counted" : "qty", &qty)) {
            snprintf(why, whylen, "lines[%d] has no item or %s", idx, count ? "counted" : "qty");
            return PE_EINVAL;
        }
        int64_t iid = item_id_of(r, item);
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
        const char *tname = kind;
        if (kind && strcmp(kind, "adjust") == 0)
            tname = reason && type_id(r, reason) >= 0 ? reason : qty < 0 ? "shrink" : "correction";
        int64_t tid = tname ? type_id(r, tname) : 0;
        if (tid < 0) {
            snprintf(why, whylen, "no change type %s in change_types", tname);
            return PE_EINVAL;
        }
        cJSON *k = cJSON_CreateObject(), *v = cJSON_CreateObject();
        if (count) {
            cJSON_AddNumberToObject(k, "item_id", (double)iid);
            cJSON_AddNumberToObject(k, "store_id", (double)r->store_id);
            cJSON_AddStringToObject(k, "date_time", date);
            cJSON_AddNumberToObject(v, "item_id", (double)iid);
            cJSON_AddNumberToObject(v, "employee_id", (double)employee);
            cJSON_AddNumberToObject(v, "store_id", (double)r->store_id);
            cJSON_AddStringToObject(v, "date_time", date);
            cJSON_AddNumberToObject(v, "quantity", (double)qty);
        } else {
            cJSON_AddStringToObject(k, "trans_id", guid);
            cJSON_AddNumberToObject(k, "item_id", (double)iid);
            cJSON_AddNumberToObject(k, "store_id", (double)r->store_id);
            cJSON_AddStringToObject(v, "trans_id", guid);
            cJSON_AddNumberToObject(v, "item_id", (double)iid);
            cJSON_AddNumberToObject(v, "store_id", (double)r->store_id);
            cJSON_AddStringToObject(v, "date_time", date);
            cJSON_AddNumberToObject(v, "quantity", (double)qty);
            cJSON_AddNumberToObject(v, "change_type_id", (double)tid);
        }
        if (!k || !v)
            rc = PE_ENOMEM;
        else if (count)
            rc = emit(out, SNAPSHOTS_TOPIC, &r->sk, k, &r->sv, v, why, whylen);
        else
            rc = emit(out, s->topic, &r->tk, k, &r->tv, v, why, whylen);
        cJSON_Delete(k);
        cJSON_Delete(v);
        if (rc)
            return rc;
        idx++;
    }
    return PE_OK;
}

static const char *const avro_common[] = {"registry_url", "registry_user", "registry_password_file",
                                          "registry_ca_file", NULL};
static const char *const inventory_options[] = {
    "registry_url", "registry_user", "registry_password_file", "registry_ca_file", "store_id",
    "store_name",   "catalog",       "change_types",           "master_data",      NULL};

const struct profile_ops profile_inventory_avro = {
    .name = "inventory-avro",
    .default_topic = "prod.inventory.transactions",
    .options = inventory_options,
    .needs_doc = true,
    .map = inventory_map,
};

/* ---- orders-avro ---- */

static int orders_map(const struct bridge_sink *s, const struct bridge_cfg *cfg,
                      const struct profile_event *ev, struct profile_out *out, char *why,
                      size_t whylen)
{
    (void)cfg;
    if (strcmp(ev->type, "sale") != 0)
        return PE_OK;
    struct rt *r = rt_of(s);
    if (!r || !r->ov.schema) {
        snprintf(why, whylen, "the sink's schema ids are not known (not started)");
        return PE_ESTATE;
    }
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
    cJSON *products = cJSON_AddArrayToObject(o, "products");
    cJSON_AddItemToArray(arr, o);
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
        cJSON_AddStringToObject(p, "name", name);
        cJSON_AddNumberToObject(p, "price", (double)amount / unit);
        cJSON_AddItemToArray(products, p);
        if (idx++)
            pb_str(&desc, ", ");
        pb_str(&desc, name);
    }
    cJSON_AddStringToObject(o, "order_id", oid);
    cJSON_AddStringToObject(o, "customer", customer);
    cJSON_AddStringToObject(o, "description", desc.s ? desc.s : "");
    cJSON_AddNumberToObject(o, "price", (double)total / unit);
    /* Field order in the object does not matter: the encoder walks the schema. */
    if (!rc && (desc.failed || !arr || !o || !products))
        rc = PE_ENOMEM;
    if (!rc)
        rc = emit(out, s->topic, NULL, NULL, &r->ov, arr, why, whylen);
    cJSON_Delete(arr);
    free(desc.s);
    return rc;
}

const struct profile_ops profile_orders_avro = {
    .name = "orders-avro",
    .default_topic = "orders.avro",
    .options = avro_common,
    .needs_doc = true,
    .map = orders_map,
};

/* ---- start ---- */

static void learned(void *arg, const struct pe_sr_schema *s)
{
    struct start_ctx *c = arg;
    if (!c->spool)
        return;
    int rc =
        pe_spool_schema_put(c->spool, s->subject, s->schema, s->id, s->version, pe_time_now_ms());
    if (rc)
        pe_warn("bridge.avro_id_not_kept", "subject=%s id=%d err=%s", s->subject, s->id,
                pe_errname(rc));
}

static int keep_row(const struct pe_spool_schema *r, void *arg)
{
    struct start_ctx *c = arg;
    struct kept *k = realloc(c->kept, (c->nkept + 1) * sizeof *k);
    if (!k)
        return PE_ENOMEM;
    c->kept = k;
    k = &c->kept[c->nkept];
    k->subject = strdup(r->subject);
    k->schema = strdup(r->schema);
    k->id = r->id;
    k->version = r->version;
    if (!k->subject || !k->schema) {
        free(k->subject);
        free(k->schema);
        return PE_ENOMEM;
    }
    c->nkept++;
    return 0;
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

/* "sale=1,restock=2" into r->types (checked by the configuration). */
static void types_parse(struct rt *r, const char *spec)
{
    const char *p = spec;
    while (*p && r->ntypes < TYPES_MAX) {
        const char *eq = strchr(p, '='), *end = strchr(p, ',');
        if (!eq)
            break;
        size_t n = (size_t)(eq - p);
        snprintf(r->types[r->ntypes].name, sizeof r->types[0].name, "%.*s", (int)n, p);
        r->types[r->ntypes].id = strtoll(eq + 1, NULL, 10);
        r->ntypes++;
        p = end ? end + 1 : eq + strlen(eq);
    }
}

/* The catalog's items with their numbers: item_id (default: the id's digits), supplier_id
 * and safety_stock (default 0). */
static int catalog_load(struct rt *r, const char *path, char *err, size_t errlen)
{
    char *text = NULL;
    int rc = pe_file_read(path, 64 * 1024 * 1024, &text, NULL, err, errlen);
    if (rc)
        return rc;
    cJSON *doc = cJSON_Parse(text), *items = cJSON_GetObjectItemCaseSensitive(doc, "items"), *it;
    free(text);
    if (!cJSON_IsArray(items)) {
        snprintf(err, errlen, "catalog %s: no items array", path);
        cJSON_Delete(doc);
        return PE_EINVAL;
    }
    r->items = calloc((size_t)cJSON_GetArraySize(items) + 1, sizeof *r->items);
    rc = r->items ? PE_OK : PE_ENOMEM;
    cJSON_ArrayForEach(it, items)
    {
        const char *id = NULL, *name = "";
        struct item *m = &r->items[r->nitems];
        if (rc || pe_json_get_str(it, "id", &id))
            continue;
        pe_json_get_str(it, "name", &name);
        if (pe_json_get_int(it, "item_id", &m->item_id))
            m->item_id = digits_of(id);
        if (pe_json_get_int(it, "supplier_id", &m->supplier))
            m->supplier = 0;
        if (pe_json_get_int(it, "safety_stock", &m->safety))
            m->safety = 0;
        m->id = strdup(id);
        m->name = strdup(name);
        if (!m->id || !m->name)
            rc = PE_ENOMEM;
        r->nitems++;
    }
    cJSON_Delete(doc);
    return rc;
}

/* Best effort, at start: the master data of one inventory-avro sink, through a producer of its
 * own (idempotent, not transactional: they are configuration, not events). */
static void master_publish(const struct bridge_cfg *cfg, struct rt *r, struct start_ctx *c)
{
    struct subj ks = {0}, sv = {0}, iv = {0}, tv = {0};
    char err[512] = "", errstr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = NULL;
    int n = 0;
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_brokers, errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        return;
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, cfg->kafka_properties)
    {
        if (strcmp(p->string, "transactional.id") != 0 && cJSON_IsString(p))
            rd_kafka_conf_set(conf, p->string, p->valuestring, errstr, sizeof errstr);
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
        goto out;
    }
    /* One record per id: key the id ("int"), value the record. */
    for (int kind = 0; kind < 3; kind++) {
        size_t count = kind == 0 ? 1 : kind == 1 ? r->nitems : (size_t)r->ntypes;
        for (size_t i = 0; i < count; i++) {
            cJSON *v = cJSON_CreateObject();
            int64_t id;
            const char *topic;
            struct subj *vs;
            if (kind == 0) {
                id = r->store_id;
                cJSON_AddNumberToObject(v, "store_id", (double)id);
                cJSON_AddStringToObject(v, "name",
                                        r->sink->store_name[0] ? r->sink->store_name : cfg->store);
                topic = STORES_TOPIC, vs = &sv;
            } else if (kind == 1) {
                const struct item *it = &r->items[i];
                id = it->item_id;
                cJSON_AddNumberToObject(v, "item_id", (double)id);
                cJSON_AddStringToObject(v, "name", it->name);
                cJSON_AddNumberToObject(v, "supplier_id", (double)it->supplier);
                cJSON_AddNumberToObject(v, "safety_stock_quantity", (double)it->safety);
                topic = ITEMS_TOPIC, vs = &iv;
            } else {
                id = r->types[i].id;
                cJSON_AddNumberToObject(v, "change_type_id", (double)id);
                cJSON_AddStringToObject(v, "change_type", r->types[i].name);
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
                !pe_avro_encode_confluent(vs->schema, vs->id, v, &vbuf, err, sizeof err) &&
                !pe_avro_encode_confluent(ks.schema, (uint32_t)kid, k, &kbuf, err, sizeof err) &&
                rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_KEY(kbuf.data, kbuf.len), RD_KAFKA_V_VALUE(vbuf.data, vbuf.len),
                    RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR_NO_ERROR)
                n++;
            cJSON_Delete(k);
            cJSON_Delete(v);
        }
    }
    rd_kafka_resp_err_t fe = rd_kafka_flush(rk, MASTER_FLUSH_MS);
    pe_info("bridge.avro_master_data", "sink=%s records=%d flushed=%s", r->name, n,
            fe ? rd_kafka_err2str(fe) : "yes");
    rd_kafka_destroy(rk);
out:
    pe_avro_schema_destroy(ks.schema);
    pe_avro_schema_destroy(sv.schema);
    pe_avro_schema_destroy(iv.schema);
    pe_avro_schema_destroy(tv.schema);
}

/* The first line of the file into a malloc'd string. */
static int first_line(const char *path, char **out, char *err, size_t errlen)
{
    size_t len = 0;
    int rc = pe_file_read(path, 4096, out, &len, err, errlen);
    if (!rc)
        (*out)[strcspn(*out, "\r\n")] = '\0';
    return rc;
}

static int sink_start(const struct bridge_cfg *cfg, const struct bridge_sink *k, struct rt *r,
                      struct start_ctx *c, char *err, size_t errlen)
{
    char *password = NULL;
    int rc = PE_OK;
    if (k->registry_password_file[0] &&
        (rc = first_line(k->registry_password_file, &password, err, errlen)))
        return rc == PE_ENOMEM ? rc : PE_EINVAL;
    struct pe_sr_cfg sc = {
        .url = k->registry_url,
        .username = k->registry_user[0] ? k->registry_user : NULL,
        .password = password,
        .ca_file = k->registry_ca_file[0] ? k->registry_ca_file : NULL,
        .learned = learned,
        .learned_arg = c,
    };
    rc = pe_sr_create(&sc, &c->sr);
    if (password) {
        explicit_bzero(password, strlen(password));
        free(password);
    }
    if (rc) {
        snprintf(err, errlen, "sink %s: registry_url %s: %s", k->name, k->registry_url,
                 pe_strerror(rc));
        return rc;
    }
    c->url = k->registry_url;
    for (size_t i = 0; i < c->nkept; i++)
        pe_sr_cache_put(c->sr, c->kept[i].subject, c->kept[i].schema, (int)c->kept[i].id,
                        (int)c->kept[i].version);
    r->sink = k;
    snprintf(r->name, sizeof r->name, "%s", k->name);
    if (strcmp(k->profile, "orders-avro") == 0) {
        rc = learn(c, &r->ov, k->topic, "value", orders_schema, err, errlen);
        goto done;
    }
    r->store_id = k->store_id ? k->store_id : digits_of(cfg->store);
    types_parse(r, k->change_types);
    if (k->catalog[0] && (rc = catalog_load(r, k->catalog, err, errlen)))
        goto done;
    if ((rc = learn(c, &r->tk, k->topic, "key", txn_key_schema, err, errlen)) ||
        (rc = learn(c, &r->tv, k->topic, "value", txn_value_schema, err, errlen)) ||
        (rc = learn(c, &r->sk, SNAPSHOTS_TOPIC, "key", snap_key_schema, err, errlen)) ||
        (rc = learn(c, &r->sv, SNAPSHOTS_TOPIC, "value", snap_value_schema, err, errlen)))
        goto done;
    if (k->master_data && r->store_id >= 0)
        master_publish(cfg, r, c);
done:
    pe_sr_destroy(c->sr);
    c->sr = NULL;
    return rc;
}

int profile_avro_start(const struct bridge_cfg *cfg, struct pe_spool *spool, char *err,
                       size_t errlen)
{
    struct start_ctx c = {.spool = spool};
    int rc = PE_OK;
    profile_avro_stop();
    for (int i = 0; i < cfg->nsinks && !rc; i++) {
        const struct bridge_sink *k = &cfg->sinks[i];
        if (strcmp(k->profile, "inventory-avro") != 0 && strcmp(k->profile, "orders-avro") != 0)
            continue;
        if (nrts == 0 && spool && (rc = pe_spool_schemas(spool, keep_row, &c))) {
            snprintf(err, errlen, "spool: cannot read the kept schema ids: %s", pe_strerror(rc));
            break;
        }
        rc = sink_start(cfg, k, &rts[nrts++], &c, err, errlen);
    }
    for (size_t i = 0; i < c.nkept; i++) {
        free(c.kept[i].subject);
        free(c.kept[i].schema);
    }
    free(c.kept);
    if (rc)
        profile_avro_stop();
    return rc;
}

static void subj_free(struct subj *s)
{
    pe_avro_schema_destroy(s->schema);
    s->schema = NULL;
}

void profile_avro_stop(void)
{
    for (int i = 0; i < nrts; i++) {
        struct rt *r = &rts[i];
        subj_free(&r->tk);
        subj_free(&r->tv);
        subj_free(&r->sk);
        subj_free(&r->sv);
        subj_free(&r->ov);
        for (size_t j = 0; j < r->nitems; j++) {
            free(r->items[j].id);
            free(r->items[j].name);
        }
        free(r->items);
    }
    memset(rts, 0, sizeof rts);
    nrts = 0;
    pe_avro_buf_free(&kbuf);
    pe_avro_buf_free(&vbuf);
}
