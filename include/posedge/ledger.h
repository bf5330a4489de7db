/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ledger.h - what a committed event does to the journal's running state.
 *
 * The journal's events are the record; the stock ledger, the report counters (report.h names
 * them), the returnable sale lines and the shift state are projections of them. Each event's
 * effect is computed from its body alone, so the till applies it inside the event's own
 * transaction, and replaying a journal's events from seq 1 into an empty journal rebuilds
 * exactly the same state (posedge-ctl recover does that).
 */
#ifndef POSEDGE_LEDGER_H
#define POSEDGE_LEDGER_H

#include <cjson/cJSON.h>
#include <stdint.h>

#include "posedge/event.h"
#include "posedge/journal.h"

/*
 * Apply the effect of event seq of the given type and body inside the open transaction.
 * Errors: PE_EINVAL (a body without the fields its type needs), PE_ERANGE (a return of more
 * than remains of the sale line), and the journal's errors (PE_ESTATE, PE_EFULL, PE_EIO).
 */
int pe_ledger_apply(struct pe_journal *j, enum pe_event_type type, int64_t seq, const cJSON *body);

#endif
