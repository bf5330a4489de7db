/* SPDX-License-Identifier: Apache-2.0 */
/*
 * selftest.h - posedge-bridge --self-test: is this installation able to run? For a package's
 * post-install check and an OTA update's go/no-go, so it looks only at what is local: the
 * configuration, the MQTT credentials file, the TLS identity and the enrolment CA (when
 * configured), the data directory and the spool. It never
 * connects to Kafka or MQTT (a WAN outage must not roll an update back) and never creates or
 * changes a file.
 */
#ifndef POSEDGE_BRIDGE_SELFTEST_H
#define POSEDGE_BRIDGE_SELFTEST_H

#include <stdio.h>

#include "bridge/bridge_cfg.h"

/*
 * Run every check on a loaded configuration, printing one line per check to out: "ok WHAT
 * DETAIL" or "FAIL WHAT DETAIL: reason". Returns the number of checks that failed.
 */
int bridge_self_test(const struct bridge_cfg *cfg, FILE *out);

#endif
