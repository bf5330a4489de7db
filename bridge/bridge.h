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
#include "posedge/http.h"
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

/* X(name, label value) - what was wrong with a dead letter, the reason label of
 * posedge_dead_letters_total (docs/metrics.md). */
#define BRIDGE_DEAD_REASONS(X)                                                                     \
    X(INVALID, "invalid_record")         /* not canonical JSON, a v1 field, or its hash */       \
    X(WRONG_TERMINAL, "wrong_terminal")  /* another store's or till's record on this topic */    \
    X(TOO_MANY_TERMINALS, "too_many_terminals")                                                    \
    X(CHAIN, "chain_break")              /* does not continue the spooled chain */                \
    X(FOREIGN_TOPIC, "foreign_topic")    /* a topic outside this store's events */                \
    X(OVERSIZED, "oversized")            /* over intake.max_payload */                            \
    X(BARE_TAB, "bare_tab")              /* a tab with no signature after it */                   \
    X(SIGNATURE, "signature")            /* its signature refused at intake */                    \
    X(PROFILE, "profile")                /* an output profile could not map it */

enum bridge_dead {
#define BRIDGE__DEAD_ENUM(name, label) BRIDGE_DEAD_##name,
    BRIDGE_DEAD_REASONS(BRIDGE__DEAD_ENUM)
#undef BRIDGE__DEAD_ENUM
        BRIDGE_DEAD__COUNT
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

/* GET path on the bridge's http.listen: /metrics (Prometheus text) and /health (200 or 503 with
 * the reasons, JSON), as docs/metrics.md describes them (a pe_http_handler). */
int bridge_http(void *ctx, const char *path, struct pe_http_reply *r);

#endif
