/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cfg.c - table-driven configuration: defaults, the JSON file, command-line overrides,
 * --print-config and --help, all from one struct pe_cfg_opt table (see cfg.h).
 *
 * Every value, whatever its source, is converted into a union value and passes one validator
 * (type, range or length, the option's check hook) before it is stored. A file is applied in
 * two passes over the parsed document: the first only validates, the second stores, so a load
 * that fails leaves the destination exactly as it was. Error messages have fixed forms
 * ("<source>: <key>: <reason>", "<source>: unknown key \"<key>\"") that tests and users rely on.
 *
 * Conventions beyond cfg.h:
 *   - PE_CFG_STR lengths are counted in bytes. max <= 0, or a max above size - 1, means "as
 *     long as the slot holds" (size - 1); a negative min means 0.
 *   - PE_CFG_INT with min == max == 0 means unbounded (INT64_MIN..INT64_MAX). JSON numbers are
 *     doubles, so a file can only give integers within +-2^53; the command line takes any
 *     int64. pe_cfg_print writes integers exactly.
 *   - The check hook gets a const char * for PE_CFG_STR (the NUL-terminated candidate string
 *     itself), a const int64_t * for PE_CFG_INT and a const bool * for PE_CFG_BOOL. It runs
 *     before the value is stored; a refused value never reaches the destination.
 *   - A default must convert and fit its slot, and is validated like any other value, except
 *     that an empty string default skips the length bounds and the check hook: "" means "not
 *     configured", which lets a table demand that a site sets the key.
 *   - A JSON member name containing '.' is an unknown key: dotted keys are written as nested
 *     objects, so each setting has exactly one spelling. A member given twice is refused.
 */
#include "posedge/cfg.h"
#include "posedge/event.h"
#include "posedge/file.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "posedge/err.h"
#include "posedge/log.h"

#define MAX_FILE (1024 * 1024)      /* largest accepted config file, in bytes */
#define KEY_MAX 256                 /* longest key of a table, including the NUL */
#define JSON_INT 9007199254740992.0 /* 2^53: beyond it a JSON number is not an exact integer */
#define CMDLINE "command line"      /* source name of pe_cfg_set in messages */

/* One converted value, before it is validated and stored. */
union value {
    const char *s; /* PE_CFG_STR: borrowed from the JSON tree or the caller's text */
    int64_t i;     /* PE_CFG_INT */
    bool b;        /* PE_CFG_BOOL */
};

static void say(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write a message into err, if the caller gave room for one. */
static void say(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void str_bounds(const struct pe_cfg_opt *o, int64_t *lo, int64_t *hi)
{
    int64_t cap = o->size > 0 ? (int64_t)o->size - 1 : 0;
    *lo = o->min < 0 ? 0 : o->min;
    *hi = o->max <= 0 || o->max > cap ? cap : o->max;
}

static void int_bounds(const struct pe_cfg_opt *o, int64_t *lo, int64_t *hi)
{
    if (o->min == 0 && o->max == 0) {
        *lo = INT64_MIN;
        *hi = INT64_MAX;
    } else {
        *lo = o->min;
        *hi = o->max;
    }
}

static const char *type_name(enum pe_cfg_type t)
{
    switch (t) {
    case PE_CFG_STR:
        return "str";
    case PE_CFG_INT:
        return "int";
    case PE_CFG_BOOL:
        return "bool";
    }
    return "?";
}

static int range_error(const struct pe_cfg_opt *o, int64_t lo, int64_t hi, const char *src,
                       char *err, size_t errlen)
{
    say(err, errlen, "%s: %s: must be between %" PRId64 " and %" PRId64, src, o->key, lo, hi);
    return PE_EINVAL;
}

/*
 * Validate a converted value: length or range, then the check hook. full is false only for an
 * empty string default, which skips both (see the file comment).
 */
static int validate(const struct pe_cfg_opt *o, const union value *v, bool full, const char *src,
                    char *err, size_t errlen)
{
    int64_t lo, hi;
    const void *p = NULL;

    switch (o->type) {
    case PE_CFG_STR: {
        size_t len = strlen(v->s);
        str_bounds(o, &lo, &hi);
        if (full && (len < (uint64_t)lo || len > (uint64_t)hi)) {
            say(err, errlen, "%s: %s: must be %" PRId64 "..%" PRId64 " characters", src, o->key, lo,
                hi);
            return PE_EINVAL;
        }
        if (len + 1 > o->size) { /* only reachable with a zero-size slot, a bad table */
            say(err, errlen, "%s: %s: does not fit", src, o->key);
            return PE_EINVAL;
        }
        p = v->s;
        break;
    }
    case PE_CFG_INT:
        int_bounds(o, &lo, &hi);
        if (v->i < lo || v->i > hi)
            return range_error(o, lo, hi, src, err, errlen);
        p = &v->i;
        break;
    case PE_CFG_BOOL:
        p = &v->b;
        break;
    default:
        say(err, errlen, "%s: %s: unknown option type %d", src, o->key, (int)o->type);
        return PE_EINVAL;
    }
    if (full && o->check) {
        char why[160] = "";
        if (o->check(p, why, sizeof why) != 0) {
            say(err, errlen, "%s: %s: %s", src, o->key, why[0] ? why : "refused");
            return PE_EINVAL;
        }
    }
    return PE_OK;
}

/* Store a validated value into its slot of dst. */
static void store(const struct pe_cfg_opt *o, void *dst, const union value *v)
{
    char *slot = (char *)dst + o->offset;
    switch (o->type) {
    case PE_CFG_STR:
        memcpy(slot, v->s, strlen(v->s) + 1);
        break;
    case PE_CFG_INT:
        memcpy(slot, &v->i, sizeof v->i);
        break;
    case PE_CFG_BOOL:
        memcpy(slot, &v->b, sizeof v->b);
        break;
    }
}

/* Convert text (a default or a command-line value) by the option's type. */
static int from_text(const struct pe_cfg_opt *o, const char *text, union value *v, const char *src,
                     char *err, size_t errlen)
{
    switch (o->type) {
    case PE_CFG_STR:
        v->s = text;
        return PE_OK;
    case PE_CFG_INT: {
        /* Decimal digits with an optional '-', nothing else: strtoll alone would also take
         * blanks, '+', and stop silently at the first stray character. */
        const char *d = text[0] == '-' ? text + 1 : text;
        if (!*d || strspn(d, "0123456789") != strlen(d)) {
            say(err, errlen, "%s: %s: expected an integer", src, o->key);
            return PE_EINVAL;
        }
        errno = 0;
        long long n = strtoll(text, NULL, 10);
        if (errno == ERANGE) {
            int64_t lo, hi;
            int_bounds(o, &lo, &hi);
            return range_error(o, lo, hi, src, err, errlen);
        }
        v->i = n;
        return PE_OK;
    }
    case PE_CFG_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0) {
            v->b = true;
            return PE_OK;
        }
        if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0) {
            v->b = false;
            return PE_OK;
        }
        say(err, errlen, "%s: %s: expected true or false", src, o->key);
        return PE_EINVAL;
    }
    say(err, errlen, "%s: %s: unknown option type %d", src, o->key, (int)o->type);
    return PE_EINVAL;
}

/* Convert a JSON value by the option's type. */
static int from_json(const struct pe_cfg_opt *o, const cJSON *item, union value *v, const char *src,
                     char *err, size_t errlen)
{
    switch (o->type) {
    case PE_CFG_STR:
        if (!cJSON_IsString(item) || !item->valuestring) {
            say(err, errlen, "%s: %s: expected a string", src, o->key);
            return PE_EINVAL;
        }
        v->s = item->valuestring;
        return PE_OK;
    case PE_CFG_INT: {
        double d = item->valuedouble;
        if (!cJSON_IsNumber(item) || !isfinite(d) || d != floor(d)) {
            say(err, errlen, "%s: %s: expected an integer", src, o->key);
            return PE_EINVAL;
        }
        if (d < -JSON_INT || d > JSON_INT) {
            int64_t lo, hi;
            int_bounds(o, &lo, &hi);
            lo = lo < -(int64_t)JSON_INT ? -(int64_t)JSON_INT : lo;
            hi = hi > (int64_t)JSON_INT ? (int64_t)JSON_INT : hi;
            return range_error(o, lo, hi, src, err, errlen);
        }
        v->i = (int64_t)d;
        return PE_OK;
    }
    case PE_CFG_BOOL:
        if (!cJSON_IsBool(item)) {
            say(err, errlen, "%s: %s: expected true or false", src, o->key);
            return PE_EINVAL;
        }
        v->b = cJSON_IsTrue(item);
        return PE_OK;
    }
    say(err, errlen, "%s: %s: unknown option type %d", src, o->key, (int)o->type);
    return PE_EINVAL;
}

static const struct pe_cfg_opt *find_key(const struct pe_cfg_opt *table, const char *key)
{
    for (const struct pe_cfg_opt *o = table; o->key; o++)
        if (strcmp(o->key, key) == 0)
            return o;
    return NULL;
}

/* True when some key of the table continues path with a '.'. */
static bool is_prefix(const struct pe_cfg_opt *table, const char *path, size_t len)
{
    for (const struct pe_cfg_opt *o = table; o->key; o++)
        if (strncmp(o->key, path, len) == 0 && o->key[len] == '.')
            return true;
    return false;
}

/* Check one option of a table: a usable key, a known type, sane bounds, no clash. */
static int check_opt(const struct pe_cfg_opt *table, const struct pe_cfg_opt *o, char *err,
                     size_t errlen)
{
    size_t len = strlen(o->key);
    int64_t lo, hi;

    if (len == 0 || len >= KEY_MAX || o->key[0] == '.' || o->key[len - 1] == '.' ||
        strstr(o->key, "..")) {
        say(err, errlen, "bad key");
        return PE_EINVAL;
    }
    if (!o->def) {
        say(err, errlen, "no default");
        return PE_EINVAL;
    }
    switch (o->type) {
    case PE_CFG_STR:
        str_bounds(o, &lo, &hi);
        if (o->size == 0 || lo > hi) {
            say(err, errlen, "bad size or length bounds");
            return PE_EINVAL;
        }
        break;
    case PE_CFG_INT:
        int_bounds(o, &lo, &hi);
        if (lo > hi) {
            say(err, errlen, "min is above max");
            return PE_EINVAL;
        }
        break;
    case PE_CFG_BOOL:
        break;
    default:
        say(err, errlen, "unknown type %d", (int)o->type);
        return PE_EINVAL;
    }
    if (find_key(table, o->key) != o) {
        say(err, errlen, "key appears twice");
        return PE_EINVAL;
    }
    if (is_prefix(table, o->key, len)) {
        say(err, errlen, "key is both a value and an object");
        return PE_EINVAL;
    }
    return PE_OK;
}

int pe_cfg_defaults(const struct pe_cfg_opt *table, void *dst)
{
    char err[256];
    for (const struct pe_cfg_opt *o = table; o->key; o++) {
        union value v;
        int rc = check_opt(table, o, err, sizeof err);
        if (rc == PE_OK)
            rc = from_text(o, o->def, &v, "default", err, sizeof err);
        if (rc == PE_OK)
            rc = validate(o, &v, o->type != PE_CFG_STR || v.s[0] != '\0', "default", err,
                          sizeof err);
        if (rc != PE_OK) {
            pe_error("cfg.table", "key=%s reason=\"%s\"", o->key, err);
            return PE_EINVAL;
        }
        store(o, dst, &v);
    }
    return PE_OK;
}

/* State of one pass over a parsed document. */
struct walk {
    const struct pe_cfg_opt *table;
    void *dst; /* NULL in the validating pass, the destination in the storing pass */
    const char *src;
    char *err;
    size_t errlen;
};

/* Visit every member of obj, whose dotted path is path (plen bytes, "" at the root). */
static int walk(const struct walk *w, const cJSON *obj, char *path, size_t plen)
{
    for (const cJSON *m = obj->child; m; m = m->next) {
        const char *sep = plen ? "." : "";
        size_t mlen = strlen(m->string);
        size_t len = plen + (plen ? 1 : 0) + mlen;

        if (mlen == 0 || strchr(m->string, '.') || len >= KEY_MAX) {
            bool spelled = len < KEY_MAX && mlen > 0;
            if (spelled) {
                memcpy(path + plen, sep, strlen(sep));
                memcpy(path + plen + strlen(sep), m->string, mlen + 1);
                spelled = find_key(w->table, path) || is_prefix(w->table, path, len);
                path[plen] = '\0';
            }
            say(w->err, w->errlen, "%s: unknown key \"%s%s%s\"%s", w->src, path, sep, m->string,
                spelled ? " (write dotted keys as nested objects)" : "");
            return PE_EINVAL;
        }
        memcpy(path + plen, sep, strlen(sep));
        memcpy(path + plen + strlen(sep), m->string, mlen + 1);

        const struct pe_cfg_opt *o = find_key(w->table, path);
        bool inner = !o && is_prefix(w->table, path, len);
        int rc = PE_OK;
        if (!o && !inner) {
            say(w->err, w->errlen, "%s: unknown key \"%s\"", w->src, path);
            rc = PE_EINVAL;
            goto restore_path;
        }
        /* Earlier siblings are all known keys, so this scan is bounded by the table. */
        for (const cJSON *p = obj->child; p != m; p = p->next) {
            if (strcmp(p->string, m->string) == 0) {
                say(w->err, w->errlen, "%s: duplicate key \"%s\"", w->src, path);
                rc = PE_EINVAL;
                goto restore_path;
            }
        }
        if (inner) {
            if (!cJSON_IsObject(m)) {
                say(w->err, w->errlen, "%s: %s: expected an object", w->src, path);
                rc = PE_EINVAL;
                goto restore_path;
            }
            rc = walk(w, m, path, len);
            goto restore_path;
        }
        union value v;
        rc = from_json(o, m, &v, w->src, w->err, w->errlen);
        if (rc == PE_OK && !w->dst)
            rc = validate(o, &v, true, w->src, w->err, w->errlen);
        if (rc == PE_OK && w->dst)
            store(o, w->dst, &v);
    restore_path:
        path[plen] = '\0';
        if (rc != PE_OK)
            return rc;
    }
    return PE_OK;
}

/* Parse and apply a NUL-terminated text of len bytes. */
static int load(const struct pe_cfg_opt *table, void *dst, const char *text, size_t len,
                const char *src, char *err, size_t errlen)
{
    /* A NUL inside the text would end cJSON's parse early and hide the rest: report it. */
    const char *end = memchr(text, '\0', len);
    cJSON *root = NULL;

    if (!end)
        root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) {
        if (!end || end < text || end > text + len)
            end = text + len;
        int line = 1;
        const char *bol = text;
        for (const char *c = text; c < end; c++) {
            if (*c == '\n') {
                line++;
                bol = c + 1;
            }
        }
        say(err, errlen, "%s: not valid JSON (line %d, column %d)", src, line,
            (int)(end - bol) + 1);
        return PE_EPARSE;
    }

    int rc;
    char path[KEY_MAX] = "";
    if (!cJSON_IsObject(root)) {
        say(err, errlen, "%s: expected an object", src);
        rc = PE_EPARSE;
        goto delete_root;
    }
    struct walk w = {table, NULL, src, err, errlen};
    rc = walk(&w, root, path, 0);
    if (rc == PE_OK) {
        w.dst = dst;
        rc = walk(&w, root, path, 0);
    }
delete_root:
    cJSON_Delete(root);
    return rc;
}

int pe_cfg_load_text(const struct pe_cfg_opt *table, void *dst, const char *text, const char *name,
                     char *err, size_t errlen)
{
    const char *src = name ? name : "config";
    if (!text) {
        say(err, errlen, "%s: no text", src);
        return PE_EINVAL;
    }
    return load(table, dst, text, strlen(text), src, err, errlen);
}

/*
 * Besides the errors cfg.h lists, PE_ENOMEM when the text cannot be held. A file larger than
 * MAX_FILE is PE_EIO with strerror(EFBIG), "<path>: cannot read: File too large".
 */
int pe_cfg_load_file(const struct pe_cfg_opt *table, void *dst, const char *path, char *err,
                     size_t errlen)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = pe_file_read(path, MAX_FILE, &buf, &len, err, errlen);
    if (rc)
        return rc;
    rc = load(table, dst, buf, len, path, err, errlen);
    free(buf);
    return rc;
}

int pe_cfg_set(const struct pe_cfg_opt *table, void *dst, const char *key, const char *value,
               char *err, size_t errlen)
{
    const struct pe_cfg_opt *o = key ? find_key(table, key) : NULL;
    union value v;
    int rc;

    if (!o) {
        say(err, errlen, "%s: unknown key \"%s\"", CMDLINE, key ? key : "");
        return PE_EINVAL;
    }
    if (!value) {
        say(err, errlen, "%s: %s: expected a value", CMDLINE, key);
        return PE_EINVAL;
    }
    rc = from_text(o, value, &v, CMDLINE, err, errlen);
    if (rc == PE_OK)
        rc = validate(o, &v, true, CMDLINE, err, errlen);
    if (rc == PE_OK)
        store(o, dst, &v);
    return rc;
}

/* Build the JSON item of one option's current value in src. */
static cJSON *item_of(const struct pe_cfg_opt *o, const void *src)
{
    const char *slot = (const char *)src + o->offset;
    switch (o->type) {
    case PE_CFG_STR: {
        /* The slot is bounded by size even if something left it without a NUL. */
        size_t len = strnlen(slot, o->size);
        char *copy = malloc(len + 1);
        if (!copy)
            return NULL;
        memcpy(copy, slot, len);
        copy[len] = '\0';
        cJSON *item = cJSON_CreateString(copy);
        free(copy);
        return item;
    }
    case PE_CFG_INT: {
        /* A raw number keeps every digit; a double would round past 2^53. */
        int64_t i;
        char num[24];
        memcpy(&i, slot, sizeof i);
        snprintf(num, sizeof num, "%" PRId64, i);
        return cJSON_CreateRaw(num);
    }
    case PE_CFG_BOOL: {
        bool b;
        memcpy(&b, slot, sizeof b);
        return cJSON_CreateBool(b);
    }
    }
    return NULL;
}

/* Add one option to root under its dotted key, creating the parent objects in table order. */
static int add_opt(cJSON *root, const struct pe_cfg_opt *o, const void *src)
{
    char key[KEY_MAX];
    cJSON *parent = root, *item;
    char *seg = key, *dot;

    if (strlen(o->key) >= sizeof key)
        return PE_EINVAL;
    strcpy(key, o->key);
    while ((dot = strchr(seg, '.')) != NULL) {
        *dot = '\0';
        cJSON *child = cJSON_GetObjectItemCaseSensitive(parent, seg);
        if (!child)
            child = cJSON_AddObjectToObject(parent, seg);
        if (!child)
            return PE_ENOMEM;
        if (!cJSON_IsObject(child))
            return PE_EINVAL; /* a bad table: this key is also a value */
        parent = child;
        seg = dot + 1;
    }
    if (cJSON_GetObjectItemCaseSensitive(parent, seg))
        return PE_EINVAL; /* a bad table: the key appears twice or is also an object */
    item = item_of(o, src);
    if (!item)
        return PE_ENOMEM;
    if (!cJSON_AddItemToObject(parent, seg, item)) {
        cJSON_Delete(item);
        return PE_ENOMEM;
    }
    return PE_OK;
}

/* Write a JSON string or scalar item as cJSON spells it, unformatted. */
static int put_item(const cJSON *item, FILE *out)
{
    char *text = cJSON_PrintUnformatted(item);
    if (!text)
        return PE_ENOMEM;
    int rc = fputs(text, out) == EOF ? PE_EIO : PE_OK;
    cJSON_free(text);
    return rc;
}

/* Write obj with two spaces of indent per level, "key": value, one member per line. */
static int put_object(const cJSON *obj, int depth, FILE *out)
{
    if (fputc('{', out) == EOF)
        return PE_EIO;
    for (const cJSON *m = obj->child; m; m = m->next) {
        cJSON *key = cJSON_CreateString(m->string);
        if (!key)
            return PE_ENOMEM;
        int rc = fprintf(out, "\n%*s", 2 * (depth + 1), "") < 0 ? PE_EIO : PE_OK;
        if (rc == PE_OK)
            rc = put_item(key, out);
        cJSON_Delete(key);
        if (rc == PE_OK)
            rc = fputs(": ", out) == EOF ? PE_EIO : PE_OK;
        if (rc == PE_OK)
            rc = cJSON_IsObject(m) ? put_object(m, depth + 1, out) : put_item(m, out);
        if (rc == PE_OK && m->next)
            rc = fputc(',', out) == EOF ? PE_EIO : PE_OK;
        if (rc != PE_OK)
            return rc;
    }
    if (obj->child && fprintf(out, "\n%*s", 2 * depth, "") < 0)
        return PE_EIO;
    return fputc('}', out) == EOF ? PE_EIO : PE_OK;
}

/* Returns PE_OK, PE_ENOMEM, PE_EIO (out refused the text) or PE_EINVAL (a bad table). */
int pe_cfg_print(const struct pe_cfg_opt *table, const void *src, FILE *out)
{
    int rc = PE_OK;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return PE_ENOMEM;
    for (const struct pe_cfg_opt *o = table; o->key && rc == PE_OK; o++)
        rc = add_opt(root, o, src);
    if (rc == PE_OK)
        rc = put_object(root, 0, out);
    if (rc == PE_OK && (fputc('\n', out) == EOF || fflush(out) == EOF))
        rc = PE_EIO;
    cJSON_Delete(root);
    return rc;
}

void pe_cfg_help(const struct pe_cfg_opt *table, FILE *out)
{
    int kw = 0, dw = 0;
    for (const struct pe_cfg_opt *o = table; o->key; o++) {
        int k = (int)strlen(o->key);
        int d = o->def ? (int)strlen(o->def) + (o->type == PE_CFG_STR ? 2 : 0) : 0;
        kw = k > kw ? k : kw;
        dw = d > dw ? d : dw;
    }
    for (const struct pe_cfg_opt *o = table; o->key; o++) {
        const char *q = o->type == PE_CFG_STR ? "\"" : "";
        const char *def = o->def ? o->def : "";
        int pad = dw - (int)strlen(def) - 2 * (int)strlen(q);
        fprintf(out, "%-*s  %-4s  %s%s%s%*s  %s\n", kw, o->key, type_name(o->type), q, def, q, pad,
                "", o->help ? o->help : "");
    }
}

int pe_cfg_check_id(const void *value, char *why, size_t whylen)
{
    if (!pe_event_id_valid(value, 1)) {
        snprintf(why, whylen, "only letters, digits, '.', '_' and '-' are allowed");
        return PE_EINVAL;
    }
    return PE_OK;
}

int pe_cfg_check_log_level(const void *value, char *why, size_t whylen)
{
    enum pe_log_level l;
    if (pe_log_level_parse(value, &l) != PE_OK) {
        snprintf(why, whylen, "must be one of debug, info, warn, error");
        return PE_EINVAL;
    }
    return PE_OK;
}

int pe_cfg_override(struct pe_cfg_overrides *o, const char *key, const char *value)
{
    if (o->n == PE_CFG_MAX_OVERRIDES || strlen(key) >= sizeof o->kv[0].key ||
        strlen(value) >= sizeof o->kv[0].value)
        return PE_ERANGE;
    memcpy(o->kv[o->n].key, key, strlen(key) + 1);
    memcpy(o->kv[o->n].value, value, strlen(value) + 1);
    o->n++;
    return PE_OK;
}

int pe_cfg_override_arg(struct pe_cfg_overrides *o, const char *arg)
{
    const char *eq = strchr(arg, '=');
    char key[sizeof o->kv[0].key];
    if (!eq || eq == arg)
        return PE_EINVAL;
    if ((size_t)(eq - arg) >= sizeof key)
        return PE_ERANGE;
    memcpy(key, arg, (size_t)(eq - arg));
    key[eq - arg] = '\0';
    return pe_cfg_override(o, key, eq + 1);
}

int pe_cfg_apply(const struct pe_cfg_opt *table, void *dst, const struct pe_cfg_overrides *o,
                 char *err, size_t errlen)
{
    for (int i = 0; i < o->n; i++) {
        int rc = pe_cfg_set(table, dst, o->kv[i].key, o->kv[i].value, err, errlen);
        if (rc)
            return rc;
    }
    return PE_OK;
}
