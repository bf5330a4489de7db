/* SPDX-License-Identifier: Apache-2.0 */
/*
 * avro_enc.c - cJSON values to Avro binary through Apache Avro C, and the Confluent framing.
 *
 * The walk fills libavro's generic value of the schema (one per parsed schema, reset before
 * each encode) from the cJSON value, then asks libavro for the encoded size and writes into
 * the caller's buffer, after room for the Confluent header when one is wanted. The walk keeps
 * the JSON path of where it is, so a rejection says where the value broke the schema. Nothing
 * here trusts the value: every type, range and name is checked, never asserted.
 */
#include "bridge/avro_enc.h"

#include <avro.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/log.h"

struct pe_avro_schema {
    avro_schema_t schema;      /* the parsed writer schema */
    avro_value_iface_t *iface; /* libavro's generic class of it */
    avro_value_t value;        /* scratch value, reset before each encode */
};

/* Where the walk is and why it stopped. */
struct walk {
    char path[256]; /* "$.lines[2].qty" */
    size_t plen;    /* bytes of path in use */
    char *why;      /* the caller's reason buffer, or NULL */
    size_t whylen;
};

static void say(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    if (!why || whylen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

static int reject(struct walk *w, int err, const char *what)
{
    say(w->why, w->whylen, "%s: %s", w->path, what);
    return err;
}

/* Append ".name" or "[i]" to the path (truncated quietly when long); returns the old length
 * for pop. */
static size_t push(struct walk *w, const char *name, size_t index)
{
    size_t old = w->plen;
    int n = name ? snprintf(w->path + w->plen, sizeof(w->path) - w->plen, ".%s", name)
                 : snprintf(w->path + w->plen, sizeof(w->path) - w->plen, "[%zu]", index);
    if (n > 0)
        w->plen = w->plen + (size_t)n < sizeof(w->path) ? w->plen + (size_t)n : sizeof(w->path) - 1;
    return old;
}

static void pop(struct walk *w, size_t old)
{
    w->plen = old;
    w->path[old] = '\0';
}

static const char *json_type(const cJSON *j)
{
    if (cJSON_IsNull(j))
        return "null";
    if (cJSON_IsBool(j))
        return "boolean";
    if (cJSON_IsNumber(j))
        return "number";
    if (cJSON_IsString(j))
        return "string";
    if (cJSON_IsArray(j))
        return "array";
    if (cJSON_IsObject(j))
        return "object";
    return "invalid";
}

static int mismatch(struct walk *w, const char *want, const cJSON *j)
{
    char what[96];
    snprintf(what, sizeof(what), "expected %s, got %s", want, json_type(j));
    return reject(w, PE_EINVAL, what);
}

static int native(struct walk *w, const char *op)
{
    char what[200];
    snprintf(what, sizeof(what), "libavro %s failed: %s", op, avro_strerror());
    pe_warn("avro.native", "path=%s op=%s", w->path, op);
    return reject(w, PE_EIO, what);
}

/* An integral value of j within [lo, hi]: a number, or for long a decimal string. */
static int integral(struct walk *w, const cJSON *j, int64_t lo, int64_t hi, bool strings,
                    int64_t *out)
{
    if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        /* 2^63 is exactly representable; anything at or above it does not fit an int64. */
        if (!isfinite(d) || d != floor(d) || d < -9223372036854775808.0 ||
            d >= 9223372036854775808.0)
            return reject(w, PE_ERANGE, "not an integer");
        int64_t v = (int64_t)d;
        if (v < lo || v > hi)
            return reject(w, PE_ERANGE, "integer out of range");
        *out = v;
        return PE_OK;
    }
    if (strings && cJSON_IsString(j)) {
        const char *s = j->valuestring;
        char *end;
        if (!*s || (*s != '-' && (*s < '0' || *s > '9')))
            return reject(w, PE_EINVAL, "expected a decimal integer string");
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (*end)
            return reject(w, PE_EINVAL, "expected a decimal integer string");
        if (errno == ERANGE || v < lo || v > hi)
            return reject(w, PE_ERANGE, "integer out of range");
        *out = v;
        return PE_OK;
    }
    return mismatch(w, strings ? "long (number or decimal string)" : "int", j);
}

/* Does the JSON value j fit a union branch of type t without looking inside? */
static bool fits(avro_type_t t, const cJSON *j)
{
    switch (t) {
    case AVRO_NULL:
        return cJSON_IsNull(j);
    case AVRO_BOOLEAN:
        return cJSON_IsBool(j);
    case AVRO_INT32:
    case AVRO_INT64:
        return cJSON_IsNumber(j) && isfinite(j->valuedouble) &&
               j->valuedouble == floor(j->valuedouble);
    case AVRO_FLOAT:
    case AVRO_DOUBLE:
        return cJSON_IsNumber(j);
    case AVRO_STRING:
    case AVRO_BYTES:
    case AVRO_ENUM:
    case AVRO_FIXED:
        return cJSON_IsString(j);
    case AVRO_ARRAY:
        return cJSON_IsArray(j);
    case AVRO_RECORD:
    case AVRO_MAP:
        return cJSON_IsObject(j);
    case AVRO_UNION: /* a union directly inside a union is not valid Avro */
    case AVRO_LINK:  /* a recursive schema: no posedge schema has one */
        return false;
    }
    return false;
}

static int fill(struct walk *w, avro_value_t *v, const cJSON *j);

static int fill_record(struct walk *w, avro_value_t *v, const cJSON *j)
{
    size_t n = 0, used = 0;
    if (!cJSON_IsObject(j))
        return mismatch(w, "record (object)", j);
    if (avro_value_get_size(v, &n))
        return native(w, "get_size");
    for (size_t i = 0; i < n; i++) {
        avro_value_t f;
        const char *name = NULL;
        if (avro_value_get_by_index(v, i, &f, &name))
            return native(w, "get_by_index");
        const cJSON *fj = cJSON_GetObjectItemCaseSensitive(j, name);
        size_t old = push(w, name, 0);
        if (!fj) {
            /* A missing field is null only where null is allowed; Avro defaults are for
             * readers, the writer names every field. */
            static const cJSON null_value = {.type = cJSON_NULL};
            avro_type_t t = avro_value_get_type(&f);
            if (t != AVRO_NULL && t != AVRO_UNION)
                return reject(w, PE_EINVAL, "missing field");
            fj = &null_value;
        } else {
            used++;
        }
        int rc = fill(w, &f, fj);
        if (rc)
            return rc;
        pop(w, old);
    }
    if (used != (size_t)cJSON_GetArraySize(j)) {
        for (const cJSON *c = j->child; c; c = c->next) {
            avro_value_t f;
            if (!c->string || avro_value_get_by_name(v, c->string, &f, NULL)) {
                size_t old = push(w, c->string ? c->string : "?", 0);
                (void)old;
                return reject(w, PE_EINVAL, "unknown field");
            }
        }
        return reject(w, PE_EINVAL, "duplicate field");
    }
    return PE_OK;
}

static int fill_union(struct walk *w, avro_value_t *v, const cJSON *j)
{
    avro_schema_t us = avro_value_get_schema(v);
    size_t n = avro_schema_union_size(us);
    avro_value_t branch;
    /* {"<type name>": value}: Avro's JSON encoding names the branch. */
    if (cJSON_IsObject(j) && j->child && !j->child->next && j->child->string) {
        int disc = -1;
        if (avro_schema_union_branch_by_name(us, &disc, j->child->string) && disc >= 0) {
            if (avro_value_set_branch(v, disc, &branch))
                return native(w, "set_branch");
            return fill(w, &branch, j->child);
        }
    }
    for (size_t i = 0; i < n; i++) {
        avro_schema_t bs = avro_schema_union_branch(us, (int)i);
        if (bs && fits(avro_typeof(bs), j)) {
            if (avro_value_set_branch(v, (int)i, &branch))
                return native(w, "set_branch");
            return fill(w, &branch, j);
        }
    }
    return mismatch(w, "a value of one of the union's types", j);
}

static int fill(struct walk *w, avro_value_t *v, const cJSON *j)
{
    int64_t n;
    int rc;
    switch (avro_value_get_type(v)) {
    case AVRO_NULL:
        if (!cJSON_IsNull(j))
            return mismatch(w, "null", j);
        return avro_value_set_null(v) ? native(w, "set_null") : PE_OK;
    case AVRO_BOOLEAN:
        if (!cJSON_IsBool(j))
            return mismatch(w, "boolean", j);
        return avro_value_set_boolean(v, cJSON_IsTrue(j)) ? native(w, "set_boolean") : PE_OK;
    case AVRO_INT32:
        if ((rc = integral(w, j, INT32_MIN, INT32_MAX, false, &n)))
            return rc;
        return avro_value_set_int(v, (int32_t)n) ? native(w, "set_int") : PE_OK;
    case AVRO_INT64:
        if ((rc = integral(w, j, INT64_MIN, INT64_MAX, true, &n)))
            return rc;
        return avro_value_set_long(v, n) ? native(w, "set_long") : PE_OK;
    case AVRO_FLOAT:
        if (!cJSON_IsNumber(j))
            return mismatch(w, "float (number)", j);
        return avro_value_set_float(v, (float)j->valuedouble) ? native(w, "set_float") : PE_OK;
    case AVRO_DOUBLE:
        if (!cJSON_IsNumber(j))
            return mismatch(w, "double (number)", j);
        return avro_value_set_double(v, j->valuedouble) ? native(w, "set_double") : PE_OK;
    case AVRO_STRING:
        if (!cJSON_IsString(j))
            return mismatch(w, "string", j);
        return avro_value_set_string_len(v, j->valuestring, strlen(j->valuestring) + 1)
                   ? native(w, "set_string")
                   : PE_OK;
    case AVRO_BYTES:
        if (!cJSON_IsString(j))
            return mismatch(w, "bytes (string)", j);
        return avro_value_set_bytes(v, j->valuestring, strlen(j->valuestring))
                   ? native(w, "set_bytes")
                   : PE_OK;
    case AVRO_FIXED: {
        if (!cJSON_IsString(j))
            return mismatch(w, "fixed (string)", j);
        size_t want = (size_t)avro_schema_fixed_size(avro_value_get_schema(v));
        if (strlen(j->valuestring) != want)
            return reject(w, PE_EINVAL, "fixed of the wrong size");
        return avro_value_set_fixed(v, j->valuestring, want) ? native(w, "set_fixed") : PE_OK;
    }
    case AVRO_ENUM: {
        if (!cJSON_IsString(j))
            return mismatch(w, "enum symbol (string)", j);
        int sym = avro_schema_enum_get_by_name(avro_value_get_schema(v), j->valuestring);
        if (sym < 0)
            return reject(w, PE_EINVAL, "unknown enum symbol");
        return avro_value_set_enum(v, sym) ? native(w, "set_enum") : PE_OK;
    }
    case AVRO_RECORD:
        return fill_record(w, v, j);
    case AVRO_ARRAY: {
        if (!cJSON_IsArray(j))
            return mismatch(w, "array", j);
        size_t i = 0;
        for (const cJSON *e = j->child; e; e = e->next, i++) {
            avro_value_t ev;
            if (avro_value_append(v, &ev, NULL))
                return native(w, "append");
            size_t old = push(w, NULL, i);
            if ((rc = fill(w, &ev, e)))
                return rc;
            pop(w, old);
        }
        return PE_OK;
    }
    case AVRO_MAP:
        if (!cJSON_IsObject(j))
            return mismatch(w, "map (object)", j);
        for (const cJSON *e = j->child; e; e = e->next) {
            avro_value_t ev;
            int is_new = 0;
            if (!e->string)
                return reject(w, PE_EINVAL, "map entry without a key");
            if (avro_value_add(v, e->string, &ev, NULL, &is_new))
                return native(w, "add");
            size_t old = push(w, e->string, 0);
            if (!is_new)
                return reject(w, PE_EINVAL, "duplicate map key");
            if ((rc = fill(w, &ev, e)))
                return rc;
            pop(w, old);
        }
        return PE_OK;
    case AVRO_UNION:
        return fill_union(w, v, j);
    case AVRO_LINK:
        break;
    }
    return reject(w, PE_EINVAL, "unsupported Avro type");
}

void pe_avro_buf_free(struct pe_avro_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int reserve(struct pe_avro_buf *b, size_t need)
{
    if (need <= b->cap)
        return PE_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p)
        return PE_ENOMEM;
    b->data = p;
    b->cap = cap;
    return PE_OK;
}

int pe_avro_schema_parse(const char *json, size_t len, struct pe_avro_schema **out, char *why,
                         size_t whylen)
{
    struct pe_avro_schema *s;
    int rc;
    if (!json || !out)
        return PE_EINVAL;
    *out = NULL;
    s = calloc(1, sizeof(*s));
    if (!s)
        return PE_ENOMEM;
    if (avro_schema_from_json_length(json, len, &s->schema)) {
        say(why, whylen, "invalid Avro schema: %s", avro_strerror());
        pe_warn("avro.schema", "error=\"%s\"", avro_strerror());
        rc = PE_EPARSE;
        goto err_free;
    }
    s->iface = avro_generic_class_from_schema(s->schema);
    if (!s->iface) {
        say(why, whylen, "libavro has no class for the schema: %s", avro_strerror());
        rc = PE_ENOMEM;
        goto err_schema;
    }
    if (avro_generic_value_new(s->iface, &s->value)) {
        rc = PE_ENOMEM;
        goto err_iface;
    }
    *out = s;
    return PE_OK;

err_iface:
    avro_value_iface_decref(s->iface);
err_schema:
    avro_schema_decref(s->schema);
err_free:
    free(s);
    return rc;
}

void pe_avro_schema_destroy(struct pe_avro_schema *s)
{
    if (!s)
        return;
    avro_value_decref(&s->value);
    avro_value_iface_decref(s->iface);
    avro_schema_decref(s->schema);
    free(s);
}

/* Encode value into out after hdr bytes (left for the caller to fill). */
static int encode_at(struct pe_avro_schema *s, size_t hdr, const cJSON *value,
                     struct pe_avro_buf *out, char *why, size_t whylen)
{
    struct walk w = {.path = "$", .plen = 1, .why = why, .whylen = whylen};
    size_t size = 0;
    avro_writer_t wr;
    int rc;
    if (!s || !value || !out)
        return PE_EINVAL;
    out->len = 0;
    if (why && whylen)
        why[0] = '\0';
    if (avro_value_reset(&s->value))
        return native(&w, "reset");
    if ((rc = fill(&w, &s->value, value)))
        return rc;
    if (avro_value_sizeof(&s->value, &size))
        return native(&w, "sizeof");
    if (size > INT64_MAX - hdr || (rc = reserve(out, hdr + size)))
        return rc ? rc : PE_ENOMEM;
    /* A zero-byte value (null, an empty record) still gets a valid writer. */
    wr = avro_writer_memory((const char *)out->data + hdr, (int64_t)size);
    if (!wr)
        return PE_ENOMEM;
    rc = avro_value_write(wr, &s->value) ? native(&w, "write") : PE_OK;
    avro_writer_free(wr);
    if (rc == PE_OK)
        out->len = hdr + size;
    return rc;
}

int pe_avro_encode(struct pe_avro_schema *s, const cJSON *value, struct pe_avro_buf *out, char *why,
                   size_t whylen)
{
    return encode_at(s, 0, value, out, why, whylen);
}

void pe_avro_confluent_header(uint32_t schema_id, uint8_t hdr[PE_AVRO_CONFLUENT_HDR])
{
    hdr[0] = 0;
    hdr[1] = (uint8_t)(schema_id >> 24);
    hdr[2] = (uint8_t)(schema_id >> 16);
    hdr[3] = (uint8_t)(schema_id >> 8);
    hdr[4] = (uint8_t)schema_id;
}

int pe_avro_encode_confluent(struct pe_avro_schema *s, uint32_t schema_id, const cJSON *value,
                             struct pe_avro_buf *out, char *why, size_t whylen)
{
    int rc = encode_at(s, PE_AVRO_CONFLUENT_HDR, value, out, why, whylen);
    if (rc == PE_OK)
        pe_avro_confluent_header(schema_id, out->data);
    return rc;
}

int pe_avro_confluent_split(const uint8_t *buf, size_t len, uint32_t *schema_id,
                            const uint8_t **payload, size_t *payload_len)
{
    if (!buf || len < PE_AVRO_CONFLUENT_HDR || buf[0] != 0)
        return PE_ECORRUPT;
    *schema_id =
        (uint32_t)buf[1] << 24 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 8 | (uint32_t)buf[4];
    *payload = buf + PE_AVRO_CONFLUENT_HDR;
    *payload_len = len - PE_AVRO_CONFLUENT_HDR;
    return PE_OK;
}

int pe_avro_decode_json(struct pe_avro_schema *s, const uint8_t *buf, size_t len, char **json)
{
    avro_reader_t rd;
    int rc = PE_OK;
    if (!s || !json || (!buf && len))
        return PE_EINVAL;
    *json = NULL;
    if (avro_value_reset(&s->value))
        return PE_EIO;
    rd = avro_reader_memory((const char *)buf, (int64_t)len);
    if (!rd)
        return PE_ENOMEM;
    if (avro_value_read(rd, &s->value)) {
        pe_warn("avro.decode", "error=\"%s\"", avro_strerror());
        rc = PE_ECORRUPT;
        goto out_reader;
    }
    /* A memory reader has no end-of-input test: one more byte must not be there. */
    char extra;
    if (avro_read(rd, &extra, 1) == 0) {
        pe_warn("avro.decode", "error=\"bytes left over after the value\"");
        rc = PE_ECORRUPT;
        goto out_reader;
    }
    if (avro_value_to_json(&s->value, 1, json))
        rc = PE_ENOMEM;
out_reader:
    avro_reader_free(rd);
    return rc;
}
