// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_ctl_status.c - fuzz target: the retained state documents and acks posedge-ctl status
 * reads from the broker (ctl/status.c), then its table and its --json output.
 *
 * The command's file is compiled into this one, so its own message handler (through the link:
 * ctl_link_deliver parses the topic, then on_message takes the document) and printers run; the clock is fixed (an age depends on
 * now) and stdout goes to /dev/null.
 *
 * Input: messages, each a topic selector byte (fuzz_topics below), a 2-byte big-endian length
 * and that many bytes of payload (an empty payload is a cleared retained message); the last
 * byte's low bit picks --json.
 */
#include "posedge/clock.h"
#include "posedge/log.h"
#include "tests/fuzz/fuzz_msgs.h"

static int64_t fuzz_now(void);
/* A fixed clock for the printers (the ages they show are now minus a document's time). */
#define pe_time_now_ms() fuzz_now()
#include "ctl/status.c"
#undef pe_time_now_ms

static int64_t fuzz_now(void)
{
    return 1772439234082; /* 2026-03-02T08:13:54.082Z, within the golden run */
}

static const char *const fuzz_topics[] = {
    "posedge/v1/s001/t01/state",     "posedge/v1/s001/t01/ack",   "posedge/v1/s001/t02/state",
    "posedge/v1/s001/t02/ack",       "posedge/v1/s001/bridge/state", "posedge/v1/s001/_bridge/state",
    "posedge/v1/s002/t01/state",     "posedge/v1/s001/t01/events", "posedge/v1/s001/t03/state",
    "posedge/v1/s001/t01/state/x",   "posedge/v1/s001/t0\xff/state", "posedge/v1/s001/+/state",
};

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
    struct status st;
    status_init(&st);
    st.link.store = "s001";
    st.link.addr = "127.0.0.1:1883";
    snprintf(st.link.probe, sizeof st.link.probe, "posedge/v1/s001/ctl-probe");
    st.json = size > 0 && (data[size - 1] & 1);
    size_t pos = 0;
    struct fuzz_msg m;
    while (fuzz_next_msg(data, size, &pos, &m)) {
        const char *topic = fuzz_topics[m.sel % (sizeof fuzz_topics / sizeof fuzz_topics[0])];
        ctl_link_deliver(&st.link, topic, m.payload, m.len);
        free(m.payload);
    }
    if (st.json)
        print_json(&st);
    else
        print_table(&st);
    fflush(stdout);
    for (size_t t = 0; t < st.nterms; t++) {
        cJSON_Delete(st.terms[t].state_doc);
        cJSON_Delete(st.terms[t].ack_doc);
    }
    free(st.terms);
    cJSON_Delete(st.bridge.doc);
    cJSON_Delete(st.old_bridge.doc);
    return 0;
}
