// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_agent_cmd.c - fuzz target: a fleet command as the agent reads it from .../cmd
 * (agent/fleet.c, on_command): the envelope (id, cmd, ts, args), the argument checks of each
 * command and set_config's key and value, up to where a command would act on the till.
 *
 * The agent's file is compiled into this one, so these are its own static checks (id_valid,
 * find_command, args_known, arg_seq, cmd_set_config); set_config's setter is a stub that
 * refuses, as the configuration loader refuses an unknown key. Running a report, a resend or
 * a reprint needs a till and a journal and is not done here: the commands' arguments are.
 *
 * Properties beyond "no crash, no leak": every refusal has an error code and a reason.
 */
#include "agent/fleet.c"

static int stub_set_config(void *ctx, const char *key, const char *value, bool *live, char *err,
                           size_t errlen)
{
    (void)ctx;
    (void)value;
    *live = false;
    snprintf(err, errlen, "command line: %.64s: unknown key", key);
    return PE_EINVAL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pe_log_set_level(PE_LOG_OFF);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct answer a = {0};
    cJSON *doc = NULL;
    const struct command *c = NULL;
    if (pe_json_parse((const char *)data, size, &doc, NULL, 0) != PE_OK || !cJSON_IsObject(doc)) {
        refuse(&a, "bad_request", "not a JSON object");
        goto answer;
    }
    const cJSON *idv = cJSON_GetObjectItemCaseSensitive(doc, "id");
    if (!cJSON_IsString(idv) || !id_valid(idv->valuestring)) {
        refuse(&a, "bad_request", "id");
        goto answer;
    }
    const cJSON *cv = cJSON_GetObjectItemCaseSensitive(doc, "cmd");
    const char *name = cJSON_IsString(cv) ? cv->valuestring : NULL;
    const cJSON *tsv = cJSON_GetObjectItemCaseSensitive(doc, "ts");
    int64_t ts = 0;
    if (tsv && (!cJSON_IsString(tsv) || pe_time_parse(tsv->valuestring, &ts) != PE_OK)) {
        refuse(&a, "bad_request", "ts");
        goto answer;
    }
    if (!name || !(c = find_command(name))) {
        char quoted[96];
        refuse(&a, "unknown_command",
               "%s (known: ping, status, x_report, z_report, set_config, resend_from, reprint)",
               name ? pe_log_quote(name, quoted, sizeof quoted) : "cmd: missing");
        goto answer;
    }
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(doc, "args");
    if (args && !cJSON_IsObject(args)) {
        refuse(&a, "bad_args", "args: expected an object");
        goto answer;
    }
    if (!args_known(c, args, &a))
        goto answer;
    int64_t seq = 0;
    if (c->run == cmd_set_config) {
        struct fleet f;
        memset(&f, 0, sizeof f);
        f.d.set_config = stub_set_config;
        cmd_set_config(&f, args, &a, idv->valuestring);
    } else if (c->run == cmd_resend_from || c->run == cmd_reprint) {
        if (cJSON_GetObjectItemCaseSensitive(args, "seq") || c->run == cmd_resend_from)
            arg_seq(args, "seq", &seq, &a);
    } else if (c->run == cmd_x_report || c->run == cmd_z_report) {
        const cJSON *opv = cJSON_GetObjectItemCaseSensitive(args, "operator");
        if (opv && (!cJSON_IsString(opv) || !pe_event_id_valid(opv->valuestring, 1)))
            refuse(&a, "bad_args", "operator");
    }
answer:
    if (a.error && !a.reason[0])
        abort(); /* a refusal without a reason */
    cJSON_Delete(a.result);
    cJSON_Delete(doc);
    return 0;
}
