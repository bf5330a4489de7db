/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_msgs.h - the input framing of the fuzz targets that read MQTT messages (ctl_status,
 * ctl_fleet, ctl_rollout, agent_catalog): one message after another, each a selector byte (the
 * target maps it to a topic), a 2-byte big-endian length and that many bytes of payload (fewer
 * when the input ends first).
 *
 * Each payload is handed out in a malloc'd buffer of exactly its size, as libmosquitto hands a
 * message over, so that ASan sees a read past its end.
 */
#ifndef POSEDGE_FUZZ_MSGS_H
#define POSEDGE_FUZZ_MSGS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fuzz_msg {
    uint8_t sel;   /* the selector byte */
    char *payload; /* malloc'd, len bytes (the caller frees it) */
    size_t len;
};

/* The message at *pos of data (size bytes), *pos moved past it: true with *m filled, false at
 * the end of the input (or out of memory). */
static inline bool fuzz_next_msg(const uint8_t *data, size_t size, size_t *pos, struct fuzz_msg *m)
{
    size_t i = *pos;
    if (i + 3 > size)
        return false;
    m->sel = data[i];
    m->len = (size_t)data[i + 1] << 8 | data[i + 2];
    i += 3;
    if (m->len > size - i)
        m->len = size - i;
    if (!(m->payload = malloc(m->len ? m->len : 1)))
        return false;
    memcpy(m->payload, data + i, m->len);
    *pos = i + m->len;
    return true;
}
#endif
