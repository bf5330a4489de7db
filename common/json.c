/* SPDX-License-Identifier: Apache-2.0 */
/*
 * json.c - the canonical JSON writer, a strict front end to cJSON's parser, and typed member
 * access.
 *
 * The writer is our own, not cJSON_Print: every hash in posedge is computed over its output, so
 * the bytes must not depend on a library version or on the platform's printf of doubles. The
 * invariant is that pe_json_canonical either refuses an item or produces exactly the form
 * documented in json.h: members sorted by strcmp of their keys at every level, integers within
 * +/- 2^53 printed as "%lld", strings checked to be UTF-8 and escaped minimally. Output goes to
 * a growable buffer; any failure frees it, so a caller never sees half a document.
 */
#include "posedge/json.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"

/* Deeper nesting than this is refused; cJSON's parser stops at the same depth. */
#define MAX_DEPTH 1000

/* Members of an object sorted on the stack up to this count, on the heap beyond it. */
#define SORT_INLINE 16

/*
 * cJSON answers NULL both for malformed text and for a parse that ran out of memory. Its
 * allocations come here (installed before main), so pe_json_parse can tell the two apart: a
 * record is never judged malformed (a journal damaged, an event a dead letter) because memory
 * ran short. Per thread, as the bridge parses on more than one.
 */
static _Thread_local bool parse_oom;

static void *json_malloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        parse_oom = true;
    return p;
}

__attribute__((constructor)) static void json_hooks(void)
{
    cJSON_Hooks h = {.malloc_fn = json_malloc, .free_fn = free};
    cJSON_InitHooks(&h);
}

struct buf {
    char *p;    /* bytes written so far, NUL-terminated once finished */
    size_t len; /* bytes used */
    size_t cap; /* bytes allocated */
};

static int grow(struct buf *b, size_t more)
{
    if (b->cap - b->len > more)
        return PE_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= more) {
        if (cap > ((size_t)-1) / 2)
            return PE_ENOMEM;
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p)
        return PE_ENOMEM;
    b->p = p;
    b->cap = cap;
    return PE_OK;
}

static int put(struct buf *b, const char *s, size_t n)
{
    int rc = grow(b, n);
    if (rc)
        return rc;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return PE_OK;
}

static int putc_(struct buf *b, char c)
{
    return put(b, &c, 1);
}

/*
 * Write v in decimal, the bytes "%lld" would give, without printf: this runs for every number
 * of every record sealed, and snprintf's format parsing cost more than the rest of the writer.
 */
static int put_int(struct buf *b, long long v)
{
    char num[24]; /* 20 digits of 2^64, a sign, and room to spare */
    char *p = num + sizeof num;
    /* Work on the magnitude as unsigned so that even LLONG_MIN would not overflow. */
    unsigned long long a = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--p = (char)('0' + a % 10);
        a /= 10;
    } while (a);
    if (v < 0)
        *--p = '-';
    return put(b, p, (size_t)(num + sizeof num - p));
}

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF), or 0 when the bytes there are not one.
 */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned char lo = c == 0xe0 ? 0xa0 : 0x80; /* E0 80..9F would be overlong */
        unsigned char hi = c == 0xed ? 0x9f : 0xbf; /* ED A0..BF would be a surrogate */
        if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80)
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char lo = c == 0xf0 ? 0x90 : 0x80; /* F0 80..8F would be overlong */
        unsigned char hi = c == 0xf4 ? 0x8f : 0xbf; /* F4 90.. would exceed U+10FFFF */
        if (s[1] < lo || s[1] > hi || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
            return 0;
        return 4;
    }
    return 0;
}

/* Write s as a JSON string literal: UTF-8 checked, only '"', '\\' and controls escaped. */
static int put_string(struct buf *b, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    int rc = putc_(b, '"');
    while (rc == PE_OK && *s) {
        /* Copy the longest run that needs no escaping in one go. */
        const unsigned char *run = s;
        while (*s >= 0x20 && *s != '"' && *s != '\\') {
            size_t n = utf8_seq(s);
            if (n == 0)
                return PE_EINVAL;
            s += n;
        }
        if (s > run)
            rc = put(b, (const char *)run, (size_t)(s - run));
        if (rc || !*s)
            break;
        switch (*s) {
        case '"':
            rc = put(b, "\\\"", 2);
            break;
        case '\\':
            rc = put(b, "\\\\", 2);
            break;
        case '\b':
            rc = put(b, "\\b", 2);
            break;
        case '\f':
            rc = put(b, "\\f", 2);
            break;
        case '\n':
            rc = put(b, "\\n", 2);
            break;
        case '\r':
            rc = put(b, "\\r", 2);
            break;
        case '\t':
            rc = put(b, "\\t", 2);
            break;
        default: {
            /* The other controls as \u00xx, lower-case hex as "%04x" wrote them. */
            static const char hex[] = "0123456789abcdef";
            char esc[6] = {'\\', 'u', '0', '0', hex[*s >> 4], hex[*s & 0xf]};
            rc = put(b, esc, sizeof esc);
            break;
        }
        }
        s++;
    }
    return rc ? rc : putc_(b, '"');
}

/* The integer a cJSON number stands for, or PE_EINVAL when it is not one within 2^53. */
static int exact_int(double d, long long *out)
{
    if (!isfinite(d) || d != floor(d) || d > (double)PE_JSON_MAX_INT ||
        d < -(double)PE_JSON_MAX_INT)
        return PE_EINVAL;
    *out = (long long)d; /* -0.0 becomes 0, so "-0" is never written */
    return PE_OK;
}

static int by_key(const void *a, const void *b)
{
    const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
    return strcmp(x->string, y->string);
}

static int put_item(struct buf *b, const cJSON *it, int depth);

static int put_object(struct buf *b, const cJSON *obj, int depth)
{
    const cJSON *inline_[SORT_INLINE];
    const cJSON **kids = inline_;
    size_t n = 0;
    int rc = PE_OK;

    for (const cJSON *c = obj->child; c; c = c->next) {
        if (!c->string)
            return PE_EINVAL;
        n++;
    }
    if (n > SORT_INLINE) {
        kids = malloc(n * sizeof *kids);
        if (!kids)
            return PE_ENOMEM;
    }
    size_t i = 0;
    for (const cJSON *c = obj->child; c; c = c->next)
        kids[i++] = c;
    qsort(kids, n, sizeof *kids, by_key);

    rc = putc_(b, '{');
    for (i = 0; rc == PE_OK && i < n; i++) {
        if (i > 0 && strcmp(kids[i - 1]->string, kids[i]->string) == 0) {
            rc = PE_EINVAL; /* a duplicate key has no canonical form */
            break;
        }
        if (i > 0)
            rc = putc_(b, ',');
        if (rc == PE_OK)
            rc = put_string(b, kids[i]->string);
        if (rc == PE_OK)
            rc = putc_(b, ':');
        if (rc == PE_OK)
            rc = put_item(b, kids[i], depth + 1);
    }
    if (rc == PE_OK)
        rc = putc_(b, '}');
    if (kids != inline_)
        free(kids);
    return rc;
}

static int put_item(struct buf *b, const cJSON *it, int depth)
{
    if (depth > MAX_DEPTH)
        return PE_EINVAL;
    switch (it->type & 0xff) {
    case cJSON_False:
        return put(b, "false", 5);
    case cJSON_True:
        return put(b, "true", 4);
    case cJSON_NULL:
        return put(b, "null", 4);
    case cJSON_Number: {
        long long v;
        if (exact_int(it->valuedouble, &v))
            return PE_EINVAL;
        return put_int(b, v);
    }
    case cJSON_String:
        return it->valuestring ? put_string(b, it->valuestring) : PE_EINVAL;
    case cJSON_Array: {
        int rc = putc_(b, '[');
        for (const cJSON *c = it->child; rc == PE_OK && c; c = c->next) {
            if (c != it->child)
                rc = putc_(b, ',');
            if (rc == PE_OK)
                rc = put_item(b, c, depth + 1);
        }
        return rc ? rc : putc_(b, ']');
    }
    case cJSON_Object:
        return put_object(b, it, depth);
    default:
        return PE_EINVAL; /* cJSON_Raw and cJSON_Invalid have no canonical form */
    }
}

int pe_json_canonical(const cJSON *item, char **out, size_t *len)
{
    assert(item && out);
    struct buf b = {0};
    int rc = put_item(&b, item, 0);
    if (rc == PE_OK)
        rc = putc_(&b, '\0');
    if (rc) {
        free(b.p);
        return rc;
    }
    *out = b.p;
    if (len)
        *len = b.len - 1;
    return PE_OK;
}

int pe_json_parse(const char *buf, size_t len, cJSON **out, char *why, size_t whylen)
{
    assert(out && (buf || len == 0));
    /* JSON text never holds a NUL byte; cJSON would silently cut a string at one. */
    const char *nul = len ? memchr(buf, '\0', len) : NULL;
    if (nul) {
        if (why && whylen)
            snprintf(why, whylen, "invalid JSON at byte %zu", (size_t)(nul - buf));
        return PE_EPARSE;
    }
    /* A private NUL-terminated copy lets cJSON insist that nothing but whitespace follows. */
    char *copy = malloc(len + 1);
    if (!copy)
        return PE_ENOMEM;
    if (len)
        memcpy(copy, buf, len);
    copy[len] = '\0';
    const char *end = NULL;
    parse_oom = false;
    cJSON *root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 1);
    if (!root && parse_oom) {
        if (why && whylen)
            snprintf(why, whylen, "out of memory");
        free(copy);
        return PE_ENOMEM;
    }
    if (!root) {
        size_t off = end && end >= copy ? (size_t)(end - copy) : 0;
        if (off > len)
            off = len;
        if (why && whylen)
            snprintf(why, whylen, "invalid JSON at byte %zu", off);
        free(copy);
        return PE_EPARSE;
    }
    free(copy);
    *out = root;
    return PE_OK;
}

/* The member key of obj, PE_ENOTFOUND when absent, PE_EINVAL when obj is not an object. */
static int member(const cJSON *obj, const char *key, const cJSON **out)
{
    assert(key);
    if (!cJSON_IsObject(obj))
        return PE_EINVAL;
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!it)
        return PE_ENOTFOUND;
    *out = it;
    return PE_OK;
}

int pe_json_get_int(const cJSON *obj, const char *key, int64_t *out)
{
    const cJSON *it;
    int rc = member(obj, key, &it);
    if (rc)
        return rc;
    long long v;
    if (!cJSON_IsNumber(it) || exact_int(it->valuedouble, &v))
        return PE_EINVAL;
    *out = (int64_t)v;
    return PE_OK;
}

int pe_json_int(const cJSON *item, int64_t *out)
{
    long long v;
    if (!cJSON_IsNumber(item) || exact_int(item->valuedouble, &v))
        return PE_EINVAL;
    *out = (int64_t)v;
    return PE_OK;
}

int pe_json_get_str(const cJSON *obj, const char *key, const char **out)
{
    const cJSON *it;
    int rc = member(obj, key, &it);
    if (rc)
        return rc;
    if (!cJSON_IsString(it) || !it->valuestring)
        return PE_EINVAL;
    *out = it->valuestring;
    return PE_OK;
}

int pe_json_get_bool(const cJSON *obj, const char *key, bool *out)
{
    const cJSON *it;
    int rc = member(obj, key, &it);
    if (rc)
        return rc;
    if (!cJSON_IsBool(it))
        return PE_EINVAL;
    *out = cJSON_IsTrue(it) != 0;
    return PE_OK;
}

int pe_json_add_int(cJSON *obj, const char *key, int64_t v)
{
    assert(obj && key);
    if (v > PE_JSON_MAX_INT || v < -PE_JSON_MAX_INT)
        return PE_ERANGE;
    return cJSON_AddNumberToObject(obj, key, (double)v) ? PE_OK : PE_ENOMEM;
}

int pe_json_add_str(cJSON *obj, const char *key, const char *v)
{
    assert(obj && key && v);
    return cJSON_AddStringToObject(obj, key, v) ? PE_OK : PE_ENOMEM;
}
