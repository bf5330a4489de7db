/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bridge.h - posedge-bridge's core: MQTT intake into the spool, acknowledgements, and the
 * paced drain from the spool into Kafka, all on one poll(2) loop.
 *
 * Persist first, then acknowledge: an ack's spooled watermark is published only after the
 * spool transaction holding those records has committed, and its delivered watermark only
 * after Kafka's delivery reports (acks=all). Invalid input goes to the dead-letter topic and
 * is counted; it never stops the bridge.
 */
#ifndef POSEDGE_BRIDGE_H
#define POSEDGE_BRIDGE_H

#include <stdbool.h>
#include <stdint.h>

#include "bridge/bridge_cfg.h"
#include "posedge/loop.h"

struct bridge;

struct bridge_stats {
    int64_t received;   /* records received */
    int64_t stored;     /* records newly spooled */
    int64_t duplicates; /* already spooled, ignored */
    int64_t gaps;       /* ahead of the spooled watermark, dropped (the till resends) */
    int64_t dead;       /* sent to the dead-letter topic */
    int64_t full;       /* refused because the spool quota was reached */
    int64_t produced;   /* records handed to the Kafka producer */
    int64_t delivered;  /* delivery reports with success */
    int64_t failed;     /* delivery reports with an error (the record is produced again) */
};

/* Create the bridge on a loop: opens DIR/spool.db, the producer and the MQTT client.
 * err says what failed. Errors: PE_EIO, PE_ECORRUPT, PE_EINVAL, PE_ENOMEM. */
int bridge_create(struct pe_loop *loop, const struct bridge_cfg *cfg, struct bridge **out,
                  char *err, size_t errlen);

/* Stop intake, flush Kafka for at most flush_ms, persist and publish the last watermarks,
 * publish the offline state, and free. NULL is a no-op. */
void bridge_destroy(struct bridge *b, int flush_ms);

/* SIGHUP: read the Kafka password file and certificates again (librdkafka loads them only when
 * a client is created) and recreate the Kafka producers with them; nothing spooled is lost.
 * A file that cannot be used is logged and the current producers stay. Errors: PE_EINVAL,
 * PE_EIO, PE_ENOMEM (as output_reload). */
int bridge_reload(struct bridge *b);

const struct bridge_stats *bridge_stats(const struct bridge *b);

#endif
