/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dashboard.h - what the bridge knows of its store for the store dashboard (its http.listen /
 * page) and the store's alarms (docs/metrics.md, "Alarms").
 *
 * The tills' retained state documents (the last of each, as the bridge receives them), each
 * till's last sale, and the day's sales by hour, by event time: "today" is the UTC day of the
 * newest sale seen, so a simulated store shows its own day, whatever the wall clock says.
 *
 * The alarms are worked out here from the tills' documents and the bridge's own figures, one
 * list that the bridge's state document, its /metrics and the dashboard all show.
 */
#ifndef POSEDGE_BRIDGE_DASHBOARD_H
#define POSEDGE_BRIDGE_DASHBOARD_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "posedge/event.h"
#include "posedge/protocol.h"

/* X(name, word): the alarms (docs/metrics.md). */
#define DASHBOARD_ALARMS(X)                                                                        \
    X(TILL_OFFLINE, "till_offline")     /* a till's state says offline, or none came lately */   \
    X(BACKLOG_OLD, "backlog_old")       /* a till's oldest event not in Kafka is too old */       \
    X(SPOOL_HIGH, "spool_high")         /* the spool above its share of the quota */              \
    X(KAFKA_AUTH, "kafka_auth")         /* Kafka refuses the bridge (authentication, TLS, ACL) */ \
    X(DEVICE_OFFLINE, "device_offline") /* a till's device is failed */                          \
    X(CERT_EXPIRY, "cert_expiry")       /* a certificate close to its end */                      \
    X(CRL_EXPIRY, "crl_expiry")         /* the broker's CRL close to its next update */           \
    X(SIGNER_DOWN, "signer_down")       /* a till's fiscal signer down too long */

enum dashboard_alarm {
#define DASHBOARD__ALARM_ENUM(name, word) DASHBOARD_ALARM_##name,
    DASHBOARD_ALARMS(DASHBOARD__ALARM_ENUM)
#undef DASHBOARD__ALARM_ENUM
        DASHBOARD_ALARM__COUNT
};

const char *dashboard_alarm_name(enum dashboard_alarm a);

#define DASHBOARD_ALARMS_MAX 256

struct dashboard_alarm_on {
    enum dashboard_alarm alarm;
    char terminal[PE_ID_MAX]; /* "" for the bridge's own */
    char detail[200];
};

/* What the alarms are judged by, from the bridge's configuration (alarm.*). */
struct dashboard_limits {
    int64_t till_silent_ms; /* no state document for this long: offline */
    int64_t backlog_age_s;  /* backlog_old beyond this */
    int64_t spool_pct;      /* spool_high beyond this share of spool.max_mb */
    int64_t cert_days;      /* cert_expiry with fewer days left */
};

/* The bridge's own figures the alarms need. */
struct dashboard_bridge {
    const char *kafka_refused;   /* output_auth_name when Kafka refuses, NULL when not */
    int64_t spool_bytes;         /* spooled, not yet in Kafka */
    int64_t spool_quota_bytes;   /* 0: no quota */
    int64_t cert_days_left;      /* the bridge's certificate; INT64_MAX when none */
    bool crl_due;                /* the CRL is close to (or past) its next update */
    int64_t crl_days_left;       /* its days left (-1 unreadable) */
    /* per till known to the spool: the oldest pending event's time (0: none) */
    int nterms;
    const char (*terms)[PE_ID_MAX];
    const int64_t *oldest_pending_ms;
};

struct dashboard;

/* Errors: PE_ENOMEM. */
int dashboard_create(const struct dashboard_limits *lim, struct dashboard **out);
void dashboard_destroy(struct dashboard *d);

/* A till's state document (parsed; copied), received now (pe_mono_ms). */
void dashboard_till_state(struct dashboard *d, const char *terminal, const cJSON *doc);

/* An event newly spooled: a sale moves its till's last sale and the day's sales. */
void dashboard_event(struct dashboard *d, const struct pe_event_meta *m, const cJSON *rec);

/* The alarms on now, into out (at most max); returns how many. */
int dashboard_alarms(struct dashboard *d, const struct dashboard_bridge *b, int64_t now_ms,
                     struct dashboard_alarm_on *out, int max);

/* The alarms as the state document and the page show them: [{"alarm","terminal","detail"}]. */
cJSON *dashboard_alarms_json(const struct dashboard_alarm_on *a, int n);

/* The page's data (GET /dashboard.json): the bridge's state document (bridge_doc, taken over),
 * the tills, the alarms and the day's sales by hour. Errors: PE_ENOMEM. */
int dashboard_json(struct dashboard *d, cJSON *bridge_doc, const struct dashboard_alarm_on *a,
                   int nalarms, int64_t now_ms, char **out, size_t *len);

/* The page itself (GET /): one HTML document with its style and script inline, no external
 * resource, so that it works in a back office with no Internet. */
extern const char dashboard_html[];

#endif
