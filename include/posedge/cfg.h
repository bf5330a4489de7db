/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cfg.h - table-driven configuration.
 *
 * A daemon describes its configuration once, as an array of struct pe_cfg_opt terminated by
 * an entry with key NULL. The same table drives defaults, parsing of the JSON file, command-
 * line overrides, validation and --print-config. Keys are dotted paths into the JSON document
 * ("devices.printer.driver" is {"devices":{"printer":{"driver":...}}}). A key in the file that
 * is not in the table is an error naming the key; so is a value of the wrong type or range.
 */
#ifndef POSEDGE_CFG_H
#define POSEDGE_CFG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum pe_cfg_type {
    PE_CFG_STR,  /* char[size] at offset; value must fit (size includes the NUL) */
    PE_CFG_INT,  /* int64_t at offset; min..max inclusive */
    PE_CFG_BOOL, /* bool at offset */
};

struct pe_cfg_opt {
    const char *key;       /* dotted path; NULL terminates the table */
    enum pe_cfg_type type; /* storage type */
    size_t offset;         /* offsetof(struct your_cfg, field) */
    size_t size;           /* PE_CFG_STR: sizeof the char array */
    const char *def;       /* default as text ("" for empty string, "true"/"false", "42") */
    int64_t min, max;      /* PE_CFG_INT: inclusive range; PE_CFG_STR: min/max length */
    const char *help;      /* one line for --help and documentation */
    /* Optional extra validation of a parsed value; fills why and returns PE_EINVAL to refuse. */
    int (*check)(const void *value, char *why, size_t whylen);
};

/* Ready-made check() hooks: an id of letters, digits, '.', '_' and '-' (store, terminal,
 * driver names), and a log level name. */
int pe_cfg_check_id(const void *value, char *why, size_t whylen);
int pe_cfg_check_log_level(const void *value, char *why, size_t whylen);

/* Command-line overrides, collected while the options are parsed and applied after the file
 * (file first, then the command line, whatever the order of the arguments). */
#define PE_CFG_MAX_OVERRIDES 64
struct pe_cfg_overrides {
    int n;
    struct {
        char key[64];
        char value[512];
    } kv[PE_CFG_MAX_OVERRIDES];
};

/* Add KEY = value (copied). Errors: PE_ERANGE (too many, or too long). */
int pe_cfg_override(struct pe_cfg_overrides *o, const char *key, const char *value);

/* Add a "KEY=VALUE" argument of --set. Errors: PE_EINVAL (no '='), PE_ERANGE. */
int pe_cfg_override_arg(struct pe_cfg_overrides *o, const char *arg);

/* pe_cfg_set each override in order; err as pe_cfg_set's. */
int pe_cfg_apply(const struct pe_cfg_opt *table, void *dst, const struct pe_cfg_overrides *o,
                 char *err, size_t errlen);

/* Reset every option of dst to its default. Returns PE_OK or PE_EINVAL (a bad table). */
int pe_cfg_defaults(const struct pe_cfg_opt *table, void *dst);

/*
 * Read a JSON config file over dst (call pe_cfg_defaults first). On error err receives a
 * message naming the file and the key, e.g. "agent.json: store: must be 1..32 characters".
 * Errors: PE_EIO (cannot read file), PE_EPARSE (not JSON / not an object), PE_EINVAL (unknown
 * key, wrong type, out of range, check refused).
 */
int pe_cfg_load_file(const struct pe_cfg_opt *table, void *dst, const char *path, char *err,
                     size_t errlen);

/* Same as pe_cfg_load_file over an in-memory JSON text; name is used in messages. */
int pe_cfg_load_text(const struct pe_cfg_opt *table, void *dst, const char *text, const char *name,
                     char *err, size_t errlen);

/* Set one key from text (a command-line override). Errors as above. */
int pe_cfg_set(const struct pe_cfg_opt *table, void *dst, const char *key, const char *value,
               char *err, size_t errlen);

/* Print the effective configuration as indented JSON (nested by the dotted keys). */
int pe_cfg_print(const struct pe_cfg_opt *table, const void *src, FILE *out);

/* Print "key  type  default  help" lines for --help. */
void pe_cfg_help(const struct pe_cfg_opt *table, FILE *out);

#endif
