// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_ctl_fleet.c - fuzz target: what posedge-ctl fleet reads from the broker (ctl/fleet.c):
 * the tills' retained state documents before it sends, and their answers on .../cmd/res,
 * printed as a person reads them or as --json.
 *
 * The command's file is compiled into this one, so its own handler (through the link:
 * ctl_link_deliver parses the topic, then on_message calls take_state or take_answer) and
 * printers run, with stdout sent to /dev/null.
 * The command was sent to t01 and t02 (request ids req-t01, req-t02), as after choose().
 *
 * Input: messages, each a topic selector byte (fuzz_topics below), a 2-byte big-endian length
 * and the payload; the last byte picks the command's name and --json.
 */
#include "ctl/fleet.c"
#include "posedge/log.h"
#include "tests/fuzz/fuzz_msgs.h"

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
    fleet_init(&f);
    f.link.store = "s001";
    f.link.addr = "127.0.0.1:1883";
    snprintf(f.link.probe, sizeof f.link.probe, "posedge/v1/s001/ctl-probe");
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
    size_t pos = 0;
    struct fuzz_msg m;
    while (fuzz_next_msg(data, size, &pos, &m)) {
        const char *topic = fuzz_topics[m.sel % (sizeof fuzz_topics / sizeof fuzz_topics[0])];
        ctl_link_deliver(&f.link, topic, m.payload, m.len);
        free(m.payload);
    }
    fflush(stdout);
    free(f.t);
    return 0;
}
