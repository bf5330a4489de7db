/* SPDX-License-Identifier: Apache-2.0 */
/*
 * remote_cfg.c - the agent's settings made remotely, and the checks a configuration must pass
 * beyond its key table.
 *
 * A fleet command set_config (fleet.c) changes one key: it is checked exactly as the file's
 * loader would check it, then by remote_cfg_check (the drivers are built in, the catalog loads
 * and is priced in the currency), and persisted in <data_dir>/remote-config.json before it is
 * answered. A few keys apply at once; every other takes a clean restart. At start the file is
 * applied after the configuration file and before the command line, which still wins.
 *
 * The invariant: a setting that would keep a restarted till from coming up is refused, and one
 * that no longer passes after an upgrade is skipped at load, never fatal. The keys that cannot
 * be set remotely (remote_cfg_settable: identity, link, signer) are refused by set_config and
 * skipped at load, so a remote-config.json damaged or edited on disk can neither orphan the
 * journal nor turn signing off.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "posedge/err.h"
#include "posedge/file.h"
#include "posedge/json.h"
#include "posedge/log.h"
#include "posedge/secret.h"

/* Settings applied at once; every other one takes a clean restart. */
static bool live_key(const char *key)
{
    return strcmp(key, "log_level") == 0 || strcmp(key, "title") == 0 ||
           strcmp(key, "till.training") == 0 || strncmp(key, "fleet.", 6) == 0;
}

bool remote_cfg_settable(const char *key)
{
    return strcmp(key, "store") != 0 && strcmp(key, "terminal") != 0 &&
           strcmp(key, "data_dir") != 0 && strncmp(key, "mqtt.", 5) != 0 &&
           strncmp(key, "enrol.", 6) != 0 && strncmp(key, "signer.", 7) != 0 &&
           strncmp(key, "http.", 5) != 0;
}

static void remote_cfg_path(const struct agent_cfg *c, char *out, size_t len)
{
    snprintf(out, len, "%s/remote-config.json", c->data_dir);
}

void remote_cfg_apply(struct agent_cfg *c, const char *path, const char *text, size_t len)
{
    char err[600];
    cJSON *doc = NULL, *m;
    if (pe_json_parse(text, len, &doc, NULL, 0) != PE_OK || !cJSON_IsObject(doc)) {
        pe_warn("agent.remote_config_unreadable", "path=%s (ignored)", path);
        cJSON_Delete(doc);
        return;
    }
    cJSON_ArrayForEach(m, doc)
    {
        if (!remote_cfg_settable(m->string)) {
            pe_warn("agent.remote_config_skipped", "path=%s key=%s err=\"%s\"", path, m->string,
                    "cannot be set remotely");
            continue;
        }
        if (!cJSON_IsString(m) ||
            pe_cfg_set(agent_cfg_table, c, m->string, m->valuestring, err, sizeof err) != PE_OK) {
            pe_warn("agent.remote_config_skipped", "path=%s key=%s err=\"%s\"", path, m->string,
                    cJSON_IsString(m) ? err : "not a string");
            continue;
        }
        pe_info("agent.remote_config", "key=%s", m->string);
    }
    cJSON_Delete(doc);
}

void remote_cfg_load(struct agent_cfg *c)
{
    char path[AGENT_PATH_MAX + 32], err[600], *text = NULL;
    size_t len = 0;
    remote_cfg_path(c, path, sizeof path);
    if (access(path, F_OK) != 0)
        return;
    if (pe_file_read(path, 64 * 1024, &text, &len, err, sizeof err) != PE_OK)
        pe_warn("agent.remote_config_unreadable", "path=%s (ignored)", path);
    else
        remote_cfg_apply(c, path, text, len);
    free(text);
}

/* Persist key=value in <data_dir>/remote-config.json (atomically replaced). */
static int remote_cfg_save(const struct agent_cfg *c, const char *key, const char *value, char *err,
                           size_t errlen)
{
    char path[AGENT_PATH_MAX + 32], *text = NULL, *out = NULL;
    size_t len = 0;
    cJSON *doc = NULL;
    remote_cfg_path(c, path, sizeof path);
    if (access(path, F_OK) == 0 && pe_file_read(path, 64 * 1024, &text, &len, err, errlen) == 0)
        pe_json_parse(text, len, &doc, NULL, 0);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        doc = cJSON_CreateObject();
    }
    cJSON_DeleteItemFromObjectCaseSensitive(doc, key);
    int rc = doc && cJSON_AddStringToObject(doc, key, value) && (out = cJSON_Print(doc))
                 ? pe_file_write_atomic(path, out, strlen(out), err, errlen)
                 : PE_ENOMEM;
    if (rc == PE_ENOMEM)
        snprintf(err, errlen, "out of memory");
    cJSON_free(out);
    cJSON_Delete(doc);
    free(text);
    return rc;
}

/* Resolve a path from the config file: relative paths are relative to the file's folder. */
static void resolve(const char *cfg_path, const char *p, char *out, size_t len)
{
    const char *slash = strrchr(cfg_path, '/');
    if (p[0] == '/' || !slash)
        snprintf(out, len, "%s", p);
    else
        snprintf(out, len, "%.*s/%s", (int)(slash - cfg_path), cfg_path, p);
}

int remote_cfg_catalog(const struct agent_cfg *c, const char *cfg_path, struct pe_catalog **out,
                       char *err, size_t len)
{
    char path[AGENT_PATH_MAX * 2];
    struct pe_catalog *cat = NULL;
    resolve(cfg_path, c->catalog, path, sizeof path);
    int rc = pe_catalog_load(path, &cat, err, len);
    if (rc == PE_OK && strcmp(pe_catalog_currency(cat), c->currency) != 0) {
        snprintf(err, len, "currency: %s, but the catalog %.300s is priced in %s", c->currency,
                 path, pe_catalog_currency(cat));
        pe_catalog_destroy(cat);
        return PE_EINVAL;
    }
    if (rc == PE_OK)
        *out = cat;
    return rc;
}

int remote_cfg_check(const struct agent_cfg *c, const char *cfg_path, char *err, size_t len)
{
    struct pe_catalog *cat = NULL;
    if (devices_check(c, err, len) != PE_OK ||
        remote_cfg_catalog(c, cfg_path, &cat, err, len) != PE_OK)
        return PE_EINVAL;
    pe_catalog_destroy(cat);
    return PE_OK;
}

int remote_cfg_set(void *ctx, const char *key, const char *value, bool *live, char *err,
                   size_t len)
{
    struct agent *a = ctx;
    if (!remote_cfg_settable(key)) {
        snprintf(err, len, "%s: cannot be set remotely (change the configuration file)", key);
        return PE_EINVAL;
    }
    struct agent_cfg *c = malloc(sizeof *c);
    if (!c) {
        snprintf(err, len, "out of memory");
        return PE_ENOMEM;
    }
    *c = a->cfg;
    int rc = pe_cfg_set(agent_cfg_table, c, key, value, err, len);
    if (rc == PE_OK)
        rc = remote_cfg_check(c, a->cfg_path, err, len);
    if (rc == PE_OK)
        rc = remote_cfg_save(c, key, value, err, len);
    if (rc == PE_OK && (*live = live_key(key))) {
        a->cfg = *c; /* the till's borrowed strings stay where they were */
        enum pe_log_level level = PE_LOG_INFO;
        pe_log_level_parse(a->cfg.log_level, &level);
        pe_log_set_level(level);
        fleet_set_limits(a->fleet, a->cfg.fleet_state_interval_s, a->cfg.fleet_cmd_max_age_s);
        if (a->till)
            till_set_training(a->till, a->cfg.till_training);
    }
    if (rc == PE_OK)
        pe_info("agent.set_config", "key=%s applied=%s", key, *live ? "live" : "restart");
    free(c);
    return rc;
}

int remote_cfg_password(const struct agent_cfg *c, char *out, size_t outlen, char *err,
                        size_t errlen)
{
    static const char what[] = "mqtt.password_file";
    /* Private, as a key file: a password others may read is refused, naming file and mode. */
    int rc = pe_secret_read(what, c->mqtt_password_file, PE_SECRET_PRIVATE, out, outlen, err,
                            errlen);
    /* err reads "mqtt.password_file <path>: ..."; callers name the setting themselves. */
    if (rc != PE_OK && strncmp(err, what, sizeof what - 1) == 0 && err[sizeof what - 1] == ' ')
        memmove(err, err + sizeof what, strlen(err + sizeof what) + 1);
    return rc;
}
