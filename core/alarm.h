/* alarm — alarms that reach people.  A part of regiond that sees a condition a
 * person must act on raises an alarm under a stable key; when the condition
 * ends it resolves the key.  Each raise and resolve becomes a feed event
 * ("alarm_raised" / "alarm_resolved") and a message to every configured
 * webhook (cfg "alarms.webhooks": json, slack, pagerduty).
 *
 * De-duplication by key: raising an active key again does nothing unless the
 * alarm changed materially — its severity changed, or its summary changed in
 * something other than numbers (digit runs are ignored when comparing, so
 * "lag 12 s" -> "lag 13 s" is the same alarm, "lag on eu" -> "lag on us" is
 * not).  A material change is delivered as a new trigger under the same key
 * (PagerDuty de-duplicates it into the open incident).  Resolving an active
 * key delivers one resolve; resolving an inactive key does nothing.
 *
 * Delivery: per webhook, one message at a time in order (a resolve never
 * overtakes its trigger), through libcurl on the daemon's loop, host names via
 * the resolver.  5xx, 408, 429, timeouts and connection/DNS errors are retried
 * with exponential backoff and jitter up to max_attempts; other 4xx give up.
 * A webhook's queue holds at most alarms.queue_max messages: the oldest not in
 * flight is dropped (logged).  Webhook URLs and routing keys are never logged.
 *
 * Owner: this module owns its active-alarm table and webhook queues; it keeps
 * copies of what it needs from the cfg_t. */
#ifndef REGIOND_ALARM_H
#define REGIOND_ALARM_H

#include <cjson/cJSON.h>
#include <event2/buffer.h>

#include "config/cfg.h"

/* Outcome of one delivery attempt or message; metrics and logs use _str(). */
typedef enum {
    ALARM_DELIV_OK,          /* 2xx */
    ALARM_DELIV_RETRY,       /* attempt failed, will retry */
    ALARM_DELIV_FAILED,      /* gave up after max_attempts */
    ALARM_DELIV_REJECTED,    /* 4xx other than 408/429: not retried */
    ALARM_DELIV_DROPPED,     /* pushed out of a full queue, or dropped on reload/fini */
    ALARM_DELIV_N
} alarm_deliv_t;
const char *alarm_deliv_str(alarm_deliv_t r);

/* Set up webhooks from cfg (kept: controller id and alarms).  0 or -1. */
int alarm_init(const cfg_t *cfg);

/* Apply a reloaded config: active alarms survive; webhooks are rebuilt, a
 * webhook of the same name keeps its queued messages (rebuilt for the new
 * url/kind), others' queues are dropped. */
void alarm_configure(const cfg_t *cfg);

/* Cancel transfers, drop queues, forget active alarms. */
void alarm_fini(void);

/* Every alarm kind, once: X(enum, its key as docs/config.md shows it).  An
 * upper-case word in the key is filled in (REGION, SERVICE, NAME, SCHEDULE)
 * by the kind's builder below; no caller formats a key itself. */
#define ALARM_KINDS(X)                                                  \
    X(ALARM_FAILOVER, "failover")                                       \
    X(ALARM_SAFETY_RULE, "safety-rule")                                 \
    X(ALARM_ROUTE53_CHANGE, "route53-change")                           \
    X(ALARM_ROUTE53_UNKNOWN, "route53-unknown")                         \
    X(ALARM_ROUTE53_REFUSED, "route53-refused")                         \
    X(ALARM_ROUTE53_STUCK, "route53-stuck")                             \
    X(ALARM_ROUTE53_READ, "route53-read")                               \
    X(ALARM_ROUTE53_DRIFT, "route53-drift-REGION")                      \
    X(ALARM_REPLICA, "replica-REGION")                                  \
    X(ALARM_PITR_OFF, "pitr-off-REGION")                                \
    X(ALARM_PITR_DRIFT, "pitr-drift-REGION")                            \
    X(ALARM_BACKUP, "SCHEDULE@REGION")                                  \
    X(ALARM_DDB_HEARTBEAT, "ddb-heartbeat")                             \
    X(ALARM_AWS, "aws-SERVICE")                                         \
    X(ALARM_STATE_WRITE, "state-write")                                 \
    X(ALARM_STATE_WRITE_STALLED, "state-write-stalled")                 \
    X(ALARM_STATE_CORRUPT, "state-corrupt-NAME")                        \
    X(ALARM_AUDIT_LOG, "audit-log")                                     \
    X(ALARM_CONTROLLER_RESOURCES, "controller-resources")              \
    X(ALARM_CLUSTER_LEASE, "cluster-lease")                             \
    X(ALARM_CLUSTER_STATE, "cluster-state")                             \
    X(ALARM_CLUSTER_VIEW, "cluster-view")                               \
    X(ALARM_OBSERVER_SUSPECT, "observer-suspect")                     \
    X(ALARM_CLUSTER_QUORUM, "cluster-quorum")                           \
    X(ALARM_CLUSTER_MARK_STALE, "cluster-mark-stale")

typedef enum {
#define ALARM_KIND_ENUM(e, key) e,
    ALARM_KINDS(ALARM_KIND_ENUM)
#undef ALARM_KIND_ENUM
    ALARM_KIND_N
} alarm_kind_t;

/* A built key (a value: no buffer for the caller to size). */
typedef struct {
    char s[200];
} alarm_key_t;

/* The key of a kind with nothing to fill in ("failover", "route53-read"). */
alarm_key_t alarm_key(alarm_kind_t kind);
/* A per-region kind: route53-drift-, replica-, pitr-off-, pitr-drift-REGION. */
alarm_key_t alarm_key_region(alarm_kind_t kind, const char *region);
/* aws-SERVICE: the daemon's own AWS errors, one per service. */
alarm_key_t alarm_key_aws(const char *service);
/* state-corrupt-NAME: a state file set aside (the first 60 bytes of NAME). */
alarm_key_t alarm_key_state_file(const char *name);
/* SCHEDULE@REGION: a backup schedule in one region (also its job's id). */
alarm_key_t alarm_key_backup(const char *schedule, const char *region);

/* Raise alarm KEY; severity "critical" or "warning" (anything else is
 * treated as "warning"); details (an object, taken over, may be NULL) go to
 * the json body and PagerDuty's custom_details. */
void alarm_raise(const char *key, const char *severity, const char *summary, cJSON *details);

/* Resolve alarm KEY if active; summary says why (may be NULL). */
void alarm_resolve(const char *key, const char *summary);

/* {"active":[{"key","severity","summary","since"}...],
 *  "webhooks":[{"name","kind","queued","delivered","failed","dropped"}...]} */
cJSON *alarm_status_json(void);

/* regiond_alarms_active{severity} and regiond_alarm_deliveries_total{webhook,result}. */
void alarm_metrics(struct evbuffer *b);

#endif
