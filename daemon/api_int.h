/* api_int.h — private to the API (api.c, api_conn.c): the connection
 * budget.  Every accepted connection is tracked from accept to close, so the
 * API holds at most max_api_connections descriptors (plus a few refusal
 * slots) and never one reserved for probes and AWS calls (loop.h). */
#ifndef REGIOND_API_INT_H
#define REGIOND_API_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "config/cfg.h"

/* Connections accepted past the cap, given one small reply (503, or
 * /healthz) and closed; past these the listener pauses (the kernel's
 * backlog holds the rest). */
#define APIC_REFUSE_SLOTS 8

typedef enum {
    APIC_R_CONNECTIONS = 0,   /* max_api_connections reached, nothing to evict: 503 (/healthz served) */
    APIC_R_EVICTED,           /* an idle connection closed to make room for a new one */
    APIC_R_DEADLINE,          /* request not complete within request_deadline_ms: 408 */
    APIC_R_STREAMS,           /* max_stream_clients reached: 503 */
    APIC_R_STREAM_MEMORY,     /* stream_memory_bytes would be exceeded: 503 */
    APIC_R_HOST,              /* Host header not allowed: 403 */
    APIC_R_BAD_REQUEST,       /* strict parsing: 400 */
    APIC_R_ACCEPT,            /* accept() failed (EMFILE...) */
    APIC_R_COUNT
} apic_reason_t;

const char *apic_reason_str(apic_reason_t r);

typedef struct api_conn api_conn_t;

/* Track every connection of `http`; caps from the config. */
int apic_init(struct evhttp *http, const cfg_controller_t *c);
void apic_configure(const cfg_controller_t *c);
void apic_set_listener(struct evconnlistener *l);
void apic_fini(void);

/* The tracked connection of a request (NULL if unknown). */
api_conn_t *apic_of(struct evhttp_request *req);

/* A request was read whole and is being answered: the next one on this
 * connection gets a fresh deadline. */
void apic_request_seen(api_conn_t *c);

/* Accepted past the cap: true when `req` must be answered 503 (counted)
 * and the connection closed; a /healthz there is served, then closed. */
bool apic_refused(api_conn_t *c, struct evhttp_request *req);

/* A control request waits for its change to be durable: no request
 * deadline, never evicted as idle, until it is answered (apic_request_seen
 * then).  False when half of max_api_connections is held already: the
 * request must be answered 503 at once, its change not applied. */
bool apic_hold(api_conn_t *c);

/* The connection now carries an event stream (no deadline, never evicted). */
void apic_set_stream(api_conn_t *c, size_t sndbuf);

/* An event stream's connection closed (feed.c's close callback hands it on). */
void apic_stream_closed(struct evhttp_connection *evcon);

/* Count a refusal. */
void apic_count(apic_reason_t r);

/* accept() failed: pause the listener for a moment. */
void apic_pause_accept(uint32_t ms);

typedef struct {
    unsigned connections;     /* open now (tracked) */
    unsigned max_connections; /* effective cap (config, clamped to the descriptor budget) */
    unsigned max_streams;
    uint32_t request_deadline_ms;
    uint64_t accepted_total;
    uint64_t refused[APIC_R_COUNT];
} apic_stats_t;

void apic_stats(apic_stats_t *s);

/* api.c: replies (JSON bodies are checked to be UTF-8 last). */
void api_reply(struct evhttp_request *req, int code, const char *reason, const char *ctype, const char *body,
               size_t len);
void api_error(struct evhttp_request *req, int code, const char *reason, const char *msg);
void api_send_json(struct evhttp_request *req, int code, const char *reason, cJSON *o);
/* The request body as a JSON object (strict text), or NULL with 400 sent. */
cJSON *api_body_json(struct evhttp_request *req);

/* A route's handler (api.c's route table): answers req, now or later. */
typedef void (*api_handler_fn)(struct evhttp_request *req, const char *path);
/* A control request in flight (api_control.c): answered, audited and freed
 * once its change is durable or refused. */
typedef struct api_wait api_wait_t;
/* A WRITE route's handler: answers w, now or from a completion callback. */
typedef void (*api_write_fn)(api_wait_t *w, const char *path);

/* api_control.c: a WRITE route: the write token (403/401/403), then the
 * handler, then (when it is answered) the audit line. */
void api_control_run(struct evhttp_request *req, const char *path, enum evhttp_cmd_type cmd, api_write_fn fn);
/* The control handlers (the route table names their paths). */
void api_override_post(api_wait_t *w, const char *path);
void api_override_delete(api_wait_t *w, const char *path);
void api_freeze_post(api_wait_t *w, const char *path);
void api_freeze_delete(api_wait_t *w, const char *path);
void api_backup_post(api_wait_t *w, const char *path);
void api_drill_post(api_wait_t *w, const char *path);
void api_drill_delete(api_wait_t *w, const char *path);
/* /v1/drills/ID: true with *id when ID is a decimal drill id. */
bool api_drill_id(const char *path, uint64_t *id);

/* api_listen.c: bind the listener (unix:PATH or HOST:PORT) to http. */
int api_listen_unix(struct evhttp *http, const char *path, char *err, size_t errlen);
int api_listen_inet(struct evhttp *http, const char *listen, char *err, size_t errlen);
void api_listen_fini(void);   /* removes the unix socket's path */

/* api_guard.c: the Host allow-list and strict framing. */
void apig_configure(const cfg_controller_t *c);
void apig_fini(void);
bool apig_host_ok(struct evhttp_request *req);
const char *apig_bad_request(struct evhttp_request *req, int *code);   /* NULL: fine; else *code 400/411 */

#endif
