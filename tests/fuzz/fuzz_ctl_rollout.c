// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_ctl_rollout.c - fuzz target: what posedge-ctl rollout reads from the broker
 * (ctl/rollout.c): the tills' retained states before the plan, then their answers to the
 * upgrade command and the states that follow its outcome, printed per till and as --json.
 *
 * The command's file is compiled into this one, so its own handlers run through the link
 * (ctl_link_deliver parses the topic; the probe's topic makes the plan), with stdout sent to
 * /dev/null. Once planned, every till still to be asked is asked as a canary with request id
 * "req-<terminal>", as after run_wave's send (nothing is published: there is no connection).
 * After the input the report is made, and checked: an upgraded till's state says the version,
 * and the failures counted are the tills that failed.
 *
 * Its progress lines (stderr in the command) go to /dev/null as well: the command's file sees
 * stderr as fuzz_stderr, so that libFuzzer's own reports stay on the real one.
 *
 * Input: messages, each a topic selector byte (fuzz_topics below), a 2-byte big-endian length
 * and the payload; the last byte's low bit picks --json.
 */
#include <stdio.h>

static FILE *fuzz_stderr;
#undef stderr
#define stderr fuzz_stderr
#include "ctl/rollout.c"
#undef stderr
#include "tests/fuzz/fuzz_msgs.h"

#define FUZZ_PROBE "posedge/v1/s001/bridge/probe/fuzz"

static const char *const fuzz_topics[] = {
    "posedge/v1/s001/t01/state",   "posedge/v1/s001/t02/state",      "posedge/v1/s001/t01/cmd/res",
    "posedge/v1/s001/t02/cmd/res", FUZZ_PROBE,                       "posedge/v1/s001/t03/state",
    "posedge/v1/s002/t01/state",   "posedge/v1/s001/t01/state/x",    "posedge/v1/s001/bridge/state",
    "posedge/v1/s001/t03/cmd/res", "posedge/v1/s001/bridge/cmd/res",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (!freopen("/dev/null", "w", stdout) || !(fuzz_stderr = fopen("/dev/null", "w")))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rollout r;
    rollout_init(&r);
    r.link.store = "s001";
    r.link.addr = "127.0.0.1:1883";
    snprintf(r.link.probe, sizeof r.link.probe, FUZZ_PROBE);
    r.version = "0.9.1";
    r.json = size > 0 && (data[size - 1] & 1);
    bool asked = false;
    size_t pos = 0;
    struct fuzz_msg m;
    while (fuzz_next_msg(data, size, &pos, &m)) {
        const char *topic = fuzz_topics[m.sel % (sizeof fuzz_topics / sizeof fuzz_topics[0])];
        ctl_link_deliver(&r.link, topic, m.payload, m.len);
        free(m.payload);
        if (r.planned && !asked) {
            asked = true;
            for (size_t k = 0; k < r.n; k++) {
                struct till *t = &r.t[k];
                if (t->result != R_PENDING)
                    continue;
                t->wave = WAVE_CANARY;
                t->sent = true;
                snprintf(t->req, sizeof t->req, "req-%s", t->id);
                snprintf(t->from, sizeof t->from, "%s", t->version);
            }
            r.wave = WAVE_CANARY;
        }
    }
    long failures = r.failures;
    report(&r);
    fflush(stdout);
    long failed = 0;
    for (size_t k = 0; k < r.n; k++) {
        const struct till *t = &r.t[k];
        failed += results[t->result].failure;
        if (t->result == R_OK && strcmp(t->version, r.version) != 0)
            abort(); /* upgraded, but its state says another version */
        if (t->result == R_PENDING)
            abort(); /* the report leaves none undecided */
    }
    if (failed != failures)
        abort();
    free(r.t);
    return 0;
}
