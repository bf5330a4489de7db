// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_ctl_fleet.c - fuzz target: what posedge-ctl fleet reads from the broker (ctl/fleet.c):
 * the tills' retained state documents before it sends, and their answers on .../cmd/res,
 * printed as a person reads them or as --json.
 *
 * The command's file is compiled into this one, so its own handler (on_message: topic, store,
 * channel, then take_state or take_answer) and printers run, with stdout sent to /dev/null.
 * The command was sent to t01 and t02 (request ids req-t01, req-t02), as after choose().
 *
 * Input: messages, each a topic selector byte (fuzz_topics below), a 2-byte big-endian length
 * and the payload; the last byte picks the command's name and --json.
 */
#include "ctl/fleet.c"

static const char *const fuzz_topics[] = {
    "posedge/v1/s001/t01/cmd/res", "posedge/v1/s001/t02/cmd/res", "posedge/v1/s001/t01/state",
    "posedge/v1/s001/t03/state",   "posedge/v1/s001/t03/cmd/res", "posedge/v1/s002/t01/cmd/res",
    "posedge/v1/s001/bridge/cmd/res", "posedge/v1/s001/t01/cmd",  "posedge/v1/s001/t01/cmd/res/x",
};
static const char *const fuzz_cmds[] = {"status", "ping", "x_report", "z_report", "set_config",
                                        "resend_from", "reprint", "unknown"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    pe_log_set_level(PE_LOG_OFF);
    if (!freopen("/dev/null", "w", stdout))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fleet f;
    memset(&f, 0, sizeof f);
    f.store = "s001";
    f.addr = "127.0.0.1:1883";
    snprintf(f.probe, sizeof f.probe, "posedge/v1/s001/ctl-probe");
    uint8_t last = size ? data[size - 1] : 0;
    f.cmd = fuzz_cmds[last % (sizeof fuzz_cmds / sizeof fuzz_cmds[0])];
    f.json = (last & 0x80) != 0;
    static const char *const sent[] = {"t01", "t02"};
    for (size_t k = 0; k < 2; k++) {
        struct target *t = target_get(&f, sent[k]);
        if (!t)
            abort();
        snprintf(t->req, sizeof t->req, "req-%s", sent[k]);
        t->addressed = t->sent = true;
    }
    size_t i = 0;
    while (i + 3 <= size) {
        const char *topic = fuzz_topics[data[i] % (sizeof fuzz_topics / sizeof fuzz_topics[0])];
        size_t len = (size_t)data[i + 1] << 8 | data[i + 2];
        i += 3;
        if (len > size - i)
            len = size - i;
        char *p = malloc(len ? len : 1);
        if (!p)
            break;
        memcpy(p, data + i, len);
        on_message(&f, topic, p, len, true);
        free(p);
        i += len;
    }
    fflush(stdout);
    free(f.t);
    return 0;
}
