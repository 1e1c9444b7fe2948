/* feed — the one append-only ring of events.  Every state transition,
 * config load and daemon fact becomes an event with an id that grows
 * monotonically across restarts (ids are reserved in blocks in state_dir).
 * /v1/events streams them as server-sent events; Last-Event-ID resumes from
 * the ring.  Status, metrics and logs are views of the same facts. */
#ifndef REGIOND_FEED_H
#define REGIOND_FEED_H

#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/http.h>

/* Set up a ring of `capacity` events; reads/reserves ids in state_dir.
 * 0 or -1 with err. */
int feed_init(uint32_t capacity, char *err, size_t errlen);

/* Every event type on /v1/events, once: X(enum, name, fields of its data).
 * README.md's list and the dashboard's (web/app.js EVENT_TYPES) are checked
 * against this one by tests/bb/test_event_types.py.  Every event also gets
 * "id", "time" and "type". */
#define FEED_EVENTS(X)                                                                              \
    X(EV_DAEMON_START, "daemon_start", "")                                                          \
    X(EV_DAEMON_STOP, "daemon_stop", "")                                                            \
    X(EV_CONFIG_LOADED, "config_loaded", "path generation targets")                                 \
    X(EV_CONFIG_ERROR, "config_error", "path generation error")                                     \
    X(EV_TARGET_STATE, "target_state", "region target from to reason")                              \
    X(EV_REGION_STATE, "region_state", "region from to reason")                                     \
    X(EV_DECISION, "decision", "decision rule reason trigger applied alarm regions[]")              \
    X(EV_ALARM, "alarm", "active rule reason")                                                      \
    X(EV_ALARM_RAISED, "alarm_raised", "key severity summary")                                      \
    X(EV_ALARM_RESOLVED, "alarm_resolved", "key severity summary")                                  \
    X(EV_OVERRIDE_SET, "override_set", "region action weight for_s note who")                       \
    X(EV_OVERRIDE_RELEASED, "override_released", "region who had_override")                        \
    X(EV_OVERRIDE_EXPIRED, "override_expired", "region action note")                                \
    X(EV_FREEZE, "freeze", "frozen note who")                                                       \
    X(EV_UNFREEZE, "unfreeze", "frozen note who")                                                   \
    X(EV_AUDIT, "audit", "time who what status result")                                            \
    X(EV_ROUTE53_LIVE, "route53_live", "REGION: weight")                                            \
    X(EV_ROUTE53_CHANGE_SUBMITTED, "route53_change_submitted", R53_CHANGE_FIELDS)                   \
    X(EV_ROUTE53_CHANGE_INSYNC, "route53_change_insync", R53_CHANGE_FIELDS)                         \
    X(EV_ROUTE53_CHANGE_VISIBLE, "route53_change_visible", R53_CHANGE_FIELDS)                       \
    X(EV_ROUTE53_CHANGE_NOT_VISIBLE, "route53_change_not_visible", R53_CHANGE_FIELDS)               \
    X(EV_ROUTE53_CHANGE_FAILED, "route53_change_failed", R53_CHANGE_FIELDS)                         \
    X(EV_ROUTE53_CHANGE_REFUSED, "route53_change_refused", R53_CHANGE_FIELDS)                       \
    X(EV_ROUTE53_CHANGE_LANDED, "route53_change_landed", R53_CHANGE_FIELDS)                         \
    X(EV_ROUTE53_CHANGE_LOST, "route53_change_lost", R53_CHANGE_FIELDS)                             \
    X(EV_ROUTE53_CHANGE_STUCK, "route53_change_stuck", R53_CHANGE_FIELDS)                           \
    X(EV_ROUTE53_DRIFT, "route53_drift", "region expected_weight live_weight why corrected")        \
    X(EV_REPLICA_FINDING, "replica_finding", "region active finding")                               \
    X(EV_BACKUP_STARTED, "backup_started", BACKUP_FIELDS)                                           \
    X(EV_BACKUP_AVAILABLE, "backup_available", BACKUP_FIELDS)                                       \
    X(EV_BACKUP_STUCK, "backup_stuck", BACKUP_FIELDS)                                               \
    X(EV_BACKUP_FAILED, "backup_failed", BACKUP_FIELDS)                                             \
    X(EV_BACKUP_DELETED, "backup_deleted", "schedule region name arn")                              \
    X(EV_BACKUP_PARKED, "backup_parked", BACKUP_FIELDS)                                             \
    X(EV_BACKUP_RESUMED, "backup_resumed", BACKUP_FIELDS)                                           \
    X(EV_PITR_ENABLED, "pitr_enabled", "region table detail")                                       \
    X(EV_PITR_ENABLE_FAILED, "pitr_enable_failed", "region table detail")                           \
    X(EV_PITR_DRIFT, "pitr_drift", "region table detail")                                           \
    X(EV_DRILL_START, "drill_start", "drill region action duration_s dry_run note")                 \
    X(EV_DRILL_DRY_RUN, "drill_dry_run", "drill region action duration_s dry_run note")             \
    X(EV_DRILL_END, "drill_end", "drill region state")                                              \
    X(EV_LEASE_WON, "lease_won", "instance epoch held tables majority regions[] send_until_in_ms")   \
    X(EV_LEASE_LOST, "lease_lost", "instance epoch why")                                            \
    X(EV_LEASE_HOLDER, "lease_holder", "holder advertise epoch previous")                           \
    X(EV_LEASE_TABLES, "lease_tables", "reachable tables majority unreachable[]")                   \
    X(EV_OBSERVER_SILENT, "observer_silent", "observer self silent seen age_ms silent_after_ms")     \
    X(EV_OBSERVER_SUSPECT, "observer_suspect", "observer self suspect reason")                      \
    X(EV_QUORUM_DECISION, "quorum_decision", "region seq call from to would why drill reason k n leader counted[] left_out[] views[]") \
    X(EV_GAP, "gap", "lost_after resumed_at (only on a stream, never in the ring)")
#define R53_CHANGE_FIELDS "decision change_id status submit_ms insync_after_ms visible_after_ms dns error weights not_sent_drifted[]"
#define BACKUP_FIELDS "schedule table region name arn detail"

typedef enum {
#define FEED_EV_ENUM(e, name, fields) e,
    FEED_EVENTS(FEED_EV_ENUM)
#undef FEED_EV_ENUM
    EV_N
} feed_ev_t;

/* The event type's name on the wire ("?" for a value out of range). */
const char *feed_ev_str(feed_ev_t t);

/* The fields of its data, for a person (space-separated). */
const char *feed_ev_fields(feed_ev_t t);

/* Emit an event of `type`; `data` (an object, taken over, may be NULL) gets
 * "id", "time" and "type" added.  Also logged.  Returns the id (0 on OOM). */
uint64_t feed_emit(feed_ev_t type, cJSON *data);

/* One consumer of every event as it is emitted (the drill timelines). */
typedef void (*feed_listener_fn)(uint64_t id, const char *type, const char *json);
void feed_set_listener(feed_listener_fn fn);

/* Newest id (0 when none yet this run). */
uint64_t feed_last_id(void);

/* Oldest id still in the ring (0 when empty). */
uint64_t feed_first_id(void);

/* Total events emitted in this run. */
uint64_t feed_count(void);

/* May one more SSE client attach?  0 yes; 1 no, max_stream_clients are
 * attached; 2 no, stream_memory_bytes would be exceeded. */
int feed_sse_admit(void);

/* Caps of the event streams (api.c, from the config). */
void feed_set_caps(unsigned max_clients, size_t client_bytes, size_t total_bytes);

typedef struct {
    unsigned clients, max_clients;
    size_t client_bytes, total_bytes;   /* caps: per client and all together */
    size_t queued_bytes;                /* queued now, all clients */
    uint64_t gaps_total;                /* clients that fell behind the ring */
} feed_stream_stats_t;

void feed_stream_stats(feed_stream_stats_t *s);

/* Serve an SSE client: sends events after last_id still in the ring (or a
 * "gap" event when some were lost), then every new one.  The request is
 * owned by the feed from now on. */
void feed_sse_attach(struct evhttp_request *req, uint64_t last_id);

/* Called with a stream's connection when it closes (the connection's close
 * callback belongs to the feed while it streams). */
typedef void (*feed_close_hook_fn)(struct evhttp_connection *conn);
void feed_set_close_hook(feed_close_hook_fn fn);

/* Number of connected SSE clients. */
unsigned feed_sse_clients(void);

/* Resize the ring (reload), keeping the newest events. */
int feed_resize(uint32_t capacity);

/* Close every SSE stream and free the ring. */
void feed_fini(void);

#endif
