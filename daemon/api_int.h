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

/* Connections accepted past the cap, answered 503 and closed; past these
 * the listener pauses (the kernel's backlog holds the rest). */
#define APIC_REFUSE_SLOTS 8

typedef enum {
    APIC_R_CONNECTIONS = 0,   /* max_api_connections reached, nothing to evict: 503 */
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

/* Accepted past the cap: answer 503 and close. */
bool apic_refused(const api_conn_t *c);

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

/* api_control.c: POST/DELETE on the control endpoints; /v1/drills/ID. */
void api_control(struct evhttp_request *req, const char *path, enum evhttp_cmd_type cmd);
bool api_drill_id(const char *path, uint64_t *id);

/* api_guard.c: the Host allow-list and strict framing. */
void apig_configure(const cfg_controller_t *c);
void apig_fini(void);
bool apig_host_ok(struct evhttp_request *req);
const char *apig_bad_request(struct evhttp_request *req);   /* NULL: fine */

#endif
