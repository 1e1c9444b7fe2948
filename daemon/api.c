/* api — see api.h.  Every request gets an answer: unknown path 404, wrong
 * method 405, oversized headers/body 413/400 (evhttp's own limits).  The
 * endpoints are one const table (api_routes: method, path pattern, auth
 * level, handler); api_route() answers in the order written above it. */
#include "daemon/api.h"
#include "daemon/api_int.h"

#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "daemon/auth.h"
#include "backup/backup.h"
#include "daemon/control.h"
#include "probes/ddb.h"
#include "daemon/drill.h"
#include "core/feed.h"
#include "core/log.h"
#include "core/loop.h"
#include "daemon/metrics.h"
#include "daemon/rsrc.h"
#include "daemon/status.h"
#include "config/utf8.h"
#include "daemon/web.h"

#define API_MAX_HEADERS 8192
#define API_MAX_BODY 65536

static struct evhttp *api_http;
static bool api_local;            /* listener on loopback or a unix socket */
static bool api_draining;         /* SIGTERM came: replies are counted (api_drain) */
static size_t api_unsent;         /* replies since then not yet fully written */

static void api_sent(struct evhttp_request *req, void *arg)
{
    (void)req, (void)arg;
    if (api_unsent > 0)
        api_unsent--;
}

void api_reply(struct evhttp_request *req, int code, const char *reason,
                      const char *ctype, const char *body, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", ctype);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    if (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
        evbuffer_add(b, body, len);
    if (api_draining) {
        api_unsent++;
        evhttp_request_set_on_complete_cb(req, api_sent, NULL);
    }
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

void api_error(struct evhttp_request *req, int code, const char *reason, const char *msg)
{
    char body[512];
    int n = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"status\":%d}\n", msg, code);
    api_reply(req, code, reason, "application/json", body, (size_t)n);
}

static void api_refuse(struct evhttp_request *req, int code, const char *reason, const char *msg)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    api_error(req, code, reason, msg);
}

static void api_status(struct evhttp_request *req)
{
    char *s = status_json();
    if (s)
        utf8_scrub(s);   /* names were checked at load; this is the last guard */
    if (!s) {
        api_error(req, 503, "Service Unavailable", "out of memory");
        return;
    }
    api_reply(req, 200, "OK", "application/json", s, strlen(s));
    free(s);
}

static void api_get_metrics(struct evhttp_request *req)
{
    struct evbuffer *b = evbuffer_new();
    if (!b || metrics_render(b) == -1) {
        if (b)
            evbuffer_free(b);
        api_error(req, 503, "Service Unavailable", "out of memory");
        return;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD)
        evbuffer_drain(b, evbuffer_get_length(b));
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

/* Last-Event-ID header, or ?last_event_id= for clients that cannot set it. */
static int api_last_id(struct evhttp_request *req, uint64_t *out)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Last-Event-ID");
    struct evkeyvalq q;
    TAILQ_INIT(&q);
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (!h && query && evhttp_parse_query_str(query, &q) == 0)
        h = evhttp_find_header(&q, "last_event_id");
    int rc = 0;
    *out = 0;
    if (h && *h) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(h, &end, 10);
        if (errno || *end || h[0] == '-')
            rc = -1;
        else
            *out = v;
    }
    evhttp_clear_headers(&q);
    return rc;
}

void api_send_json(struct evhttp_request *req, int code, const char *reason, cJSON *o)
{
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s) {
        api_error(req, 503, "Service Unavailable", "out of memory");
        return;
    }
    utf8_scrub(s);
    api_reply(req, code, reason, "application/json", s, strlen(s));
    free(s);
}

/* The request body as a JSON object, or NULL (400 already sent). */
cJSON *api_body_json(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    char *buf = malloc(len + 1);
    if (!buf) {
        api_error(req, 503, "Service Unavailable", "out of memory");
        return NULL;
    }
    evbuffer_copyout(in, buf, len);
    buf[len] = '\0';
    /* Before any lookup: a NUL would cut "us-east-1\u0000x" to a region
     * that exists, and bytes that are not UTF-8 would be echoed. */
    size_t off;
    json_text_rc_t tr = json_text_check(buf, len, &off);
    if (tr != JSON_TEXT_OK) {
        free(buf);
        char msg[160];
        snprintf(msg, sizeof(msg), "request body: %s at byte %zu", json_text_what(tr), off);
        apic_count(APIC_R_BAD_REQUEST);
        api_error(req, 400, "Bad Request", msg);
        return NULL;
    }
    cJSON *o = cJSON_ParseWithLength(buf, len);
    free(buf);
    if (cJSON_IsObject(o) && !json_tree_utf8(o->child)) {
        cJSON_Delete(o);
        apic_count(APIC_R_BAD_REQUEST);
        api_error(req, 400, "Bad Request", "request body: a string that is not UTF-8");
        return NULL;
    }
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        api_error(req, 400, "Bad Request", "expected a JSON object in the request body");
        return NULL;
    }
    return o;
}

static void api_get_healthz(struct evhttp_request *req, const char *path)
{
    (void)path;
    static const char ok[] = "{\"status\":\"ok\"}\n";
    api_reply(req, 200, "OK", "application/json", ok, sizeof(ok) - 1);
}

static void api_get_status(struct evhttp_request *req, const char *path)
{
    (void)path;
    api_status(req);
}

static void api_get_metrics_route(struct evhttp_request *req, const char *path)
{
    (void)path;
    api_get_metrics(req);
}

static void api_get_weights(struct evhttp_request *req, const char *path)
{
    (void)path;
    api_send_json(req, 200, "OK", ctrl_status_json());
}

static void api_get_decisions(struct evhttp_request *req, const char *path)
{
    (void)path;
    api_send_json(req, 200, "OK", ctrl_decisions_json());
}

static void api_get_overrides(struct evhttp_request *req, const char *path)
{
    (void)path;
    api_send_json(req, 200, "OK", ctrl_overrides_json());
}

static void api_get_drills(struct evhttp_request *req, const char *path)
{
    (void)path;
    api_send_json(req, 200, "OK", drill_list_json());
}

static void api_get_drill(struct evhttp_request *req, const char *path)
{
    uint64_t id;
    cJSON *r = api_drill_id(path, &id) ? drill_report_json(id) : NULL;
    if (r)
        api_send_json(req, 200, "OK", r);
    else
        api_error(req, 404, "Not Found", "no such drill");
}

static void api_get_replicas(struct evhttp_request *req, const char *path)
{
    (void)path;
    api_send_json(req, 200, "OK", ddb_status_json());
}

static void api_get_backups(struct evhttp_request *req, const char *path)
{
    (void)path;
    cJSON *o = cJSON_CreateObject();
    if (o) {
        cJSON_AddItemToObject(o, "schedules", backup_status_json());
        cJSON_AddItemToObject(o, "pitr", pitr_status_json());
    }
    api_send_json(req, 200, "OK", o);
}

static void api_get_events(struct evhttp_request *req, const char *path)
{
    (void)path;
    uint64_t last;
    if (api_last_id(req, &last) == -1) {
        api_error(req, 400, "Bad Request", "Last-Event-ID must be a decimal event id");
        return;
    }
    int why = feed_sse_admit();
    if (why) {
        apic_count(why == 1 ? APIC_R_STREAMS : APIC_R_STREAM_MEMORY);
        rsrc_note(RSRC_STREAM_CAP, why == 1 ? "controller.max_stream_clients reached"
                                            : "controller.stream_memory_bytes reached");
        api_refuse(req, 503, "Service Unavailable", why == 1
                   ? "too many event-stream clients (controller.max_stream_clients): try again later"
                   : "event-stream memory cap reached (controller.stream_memory_bytes): try again later");
        return;
    }
    feed_stream_stats_t fs;
    feed_stream_stats(&fs);
    apic_set_stream(apic_of(req), fs.client_bytes);
    feed_sse_attach(req, last);
}

/* ---- the routes ----
 * A path pattern is exact, or ends in "*" (one or more bytes follow) or "#"
 * (a decimal drill id follows).  GET also serves HEAD.  Auth: OPEN for
 * anyone; READ needs a token unless the listener is loopback; WRITE always
 * needs a write token and is audited (api_control.c).  The order of answers
 * (api_route): no route for the path 404; GET/HEAD on a non-OPEN path
 * without a token off loopback 401; no route for the method 405; a WRITE
 * route's token 403/401/403; then the handler. */
typedef enum { API_OPEN, API_READ, API_WRITE } api_auth_t;

typedef struct {
    unsigned method;    /* EVHTTP_REQ_GET (and HEAD), _POST or _DELETE */
    const char *path;
    api_auth_t auth;
    api_handler_fn handler;   /* OPEN and READ routes */
    api_write_fn write;       /* WRITE routes */
} api_route_t;

#define GET EVHTTP_REQ_GET
#define POST EVHTTP_REQ_POST
#define DEL EVHTTP_REQ_DELETE
static const api_route_t api_routes[] = {
    {GET, "/healthz", API_OPEN, api_get_healthz, NULL},
    {GET, "/v1/status", API_READ, api_get_status, NULL},
    {GET, "/metrics", API_READ, api_get_metrics_route, NULL},
    {GET, "/v1/events", API_READ, api_get_events, NULL},
    {GET, "/v1/weights", API_READ, api_get_weights, NULL},
    {GET, "/v1/decisions", API_READ, api_get_decisions, NULL},
    {GET, "/v1/overrides", API_READ, api_get_overrides, NULL},
    {POST, "/v1/overrides", API_WRITE, NULL, api_override_post},
    {DEL, "/v1/overrides/*", API_WRITE, NULL, api_override_delete},
    {POST, "/v1/freeze", API_WRITE, NULL, api_freeze_post},
    {DEL, "/v1/freeze", API_WRITE, NULL, api_freeze_delete},
    {GET, "/v1/replicas", API_READ, api_get_replicas, NULL},
    {GET, "/v1/backups", API_READ, api_get_backups, NULL},
    {POST, "/v1/backups", API_WRITE, NULL, api_backup_post},
    {GET, "/v1/drills", API_READ, api_get_drills, NULL},
    {POST, "/v1/drills", API_WRITE, NULL, api_drill_post},
    {GET, "/v1/drills/*", API_READ, api_get_drill, NULL},
    {DEL, "/v1/drills/#", API_WRITE, NULL, api_drill_delete},
};
#undef GET
#undef POST
#undef DEL
#define API_NROUTES (sizeof(api_routes) / sizeof(api_routes[0]))

static bool api_path_match(const char *pattern, const char *path)
{
    size_t n = strlen(pattern);
    if (pattern[n - 1] == '*')
        return strncmp(path, pattern, n - 1) == 0 && path[n - 1];
    if (pattern[n - 1] == '#') {
        uint64_t id;
        return strncmp(path, pattern, n - 1) == 0 && api_drill_id(path, &id);
    }
    return strcmp(path, pattern) == 0;
}

/* The route for path and method (HEAD as GET); *path_known says whether any
 * route has this path. */
static const api_route_t *api_route_find(const char *path, enum evhttp_cmd_type cmd, bool *path_known)
{
    unsigned m = cmd == EVHTTP_REQ_HEAD ? EVHTTP_REQ_GET : (unsigned)cmd;
    const api_route_t *hit = NULL;
    *path_known = false;
    for (size_t i = 0; i < API_NROUTES; i++)
        if (api_path_match(api_routes[i].path, path)) {
            *path_known = true;
            if (api_routes[i].method == m && !hit)
                hit = &api_routes[i];
        }
    return hit;
}

static const web_asset_t *api_asset(const char *path)
{
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (const web_asset_t *a = web_assets; a->path; a++)
        if (strcmp(a->path, path) == 0)
            return a;
    return NULL;
}

static void api_asset_reply(struct evhttp_request *req, const web_asset_t *a)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    api_reply(req, 200, "OK", a->content_type, (const char *)a->data, a->len);
}

/* A read: any token (or none on a loopback listener); else 401.  True when
 * the request may go on. */
static bool api_read_allowed(struct evhttp_request *req)
{
    char who[65];
    if (api_local || auth_check(req, who, sizeof(who)) != AUTH_NONE)
        return true;
    evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
    api_error(req, 401, "Unauthorized", "this listener is not loopback: a bearer token is required");
    return false;
}

/* Answer a request for path by the route table (see api_routes). */
static void api_dispatch(struct evhttp_request *req, const char *path, enum evhttp_cmd_type cmd)
{
    bool known;
    const api_route_t *r = api_route_find(path, cmd, &known);
    if (!known) {
        api_error(req, 404, "Not Found", "no such endpoint");
        return;
    }
    if (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD) {
        if (!(r && r->auth == API_OPEN) && !api_read_allowed(req))
            return;
        if (!r)
            api_error(req, 405, "Method Not Allowed", "use POST or DELETE");
        else
            r->handler(req, path);
        return;
    }
    if (!r) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        api_error(req, 405, "Method Not Allowed",
                  "use GET (control: POST /v1/overrides, DELETE /v1/overrides/REGION, POST/DELETE /v1/freeze, "
                  "POST /v1/backups)");
        return;
    }
    if (r->auth == API_WRITE) {
        api_control_run(req, path, cmd, r->write);   /* token, handler, audit line */
        return;
    }
    if (r->auth == API_READ && !api_read_allowed(req))
        return;
    r->handler(req, path);
}

/* libevent writes at most 16 KiB to a socket per loop iteration.  With
 * thousands of probes a second an iteration handles many events, so a
 * multi-megabyte /v1/status or /metrics (10,000 targets) trickled out for
 * longer than the 30 s connection timeout (bench/probe_cost.py found it):
 * let each write hand the kernel as much as it takes. */
#define API_MAX_SINGLE_WRITE (4 << 20)

static void api_route(struct evhttp_request *req, void *arg)
{
    (void)arg;
    struct evhttp_connection *con = evhttp_request_get_connection(req);
    struct bufferevent *bev = con ? evhttp_connection_get_bufferevent(con) : NULL;
    if (bev)
        bufferevent_set_max_single_write(bev, API_MAX_SINGLE_WRITE);
    api_conn_t *ac = apic_of(req);
    apic_request_seen(ac);
    if (apic_refused(ac, req)) {   /* counted there */
        api_refuse(req, 503, "Service Unavailable",
                   "too many API connections (controller.max_api_connections): try again later");
        return;
    }
    int bad_code;
    const char *bad = apig_bad_request(req, &bad_code);
    if (bad) {
        apic_count(APIC_R_BAD_REQUEST);
        api_refuse(req, bad_code, bad_code == 411 ? "Length Required" : "Bad Request", bad);
        return;
    }
    if (!apig_host_ok(req)) {
        apic_count(APIC_R_HOST);
        api_refuse(req, 403, "Forbidden", "this Host is not served: loopback names, IP addresses and "
                   "controller.allowed_hosts only");
        return;
    }
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path) {
        api_error(req, 400, "Bad Request", "malformed request target");
        return;
    }
    const web_asset_t *asset = api_asset(path);
    if (asset && (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD)) {
        if (!api_read_allowed(req))
            return;
        api_asset_reply(req, asset);
        return;
    }
    api_dispatch(req, path, cmd);
}

static void api_caps(const cfg_controller_t *ctl)
{
    apic_configure(ctl);
    apic_stats_t s;
    apic_stats(&s);
    feed_set_caps(s.max_streams, ctl->stream_client_buffer_bytes, ctl->stream_memory_bytes);
    apig_configure(ctl);
}

void api_configure(const cfg_controller_t *ctl)
{
    api_caps(ctl);
}

int api_init(const char *listen, const cfg_controller_t *ctl, char *err, size_t errlen)
{
    api_http = evhttp_new(loop_base());
    feed_set_close_hook(apic_stream_closed);
    if (!api_http || apic_init(api_http, ctl) == -1) {
        snprintf(err, errlen, "api: out of memory");
        return -1;
    }
    api_caps(ctl);
    evhttp_set_max_headers_size(api_http, API_MAX_HEADERS);
    evhttp_set_max_body_size(api_http, API_MAX_BODY);
    evhttp_set_timeout(api_http, 30);
    evhttp_set_allowed_methods(api_http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                               EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                               EVHTTP_REQ_PATCH);
    evhttp_set_gencb(api_http, api_route, NULL);
    if (strncmp(listen, "unix:", 5) == 0) {
        api_local = true;
        return api_listen_unix(api_http, listen + 5, err, errlen);
    }
    api_local = strncmp(listen, "127.", 4) == 0 || strncmp(listen, "[::1]:", 6) == 0;
    return api_listen_inet(api_http, listen, err, errlen);
}

void api_drain_begin(void)
{
    api_draining = true;
    api_unsent = 0;
}

static void api_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
}

void api_drain(unsigned ms)
{
    uint64_t end = loop_now_ms() + ms;
    struct event *t = evtimer_new(loop_base(), api_drain_tick, NULL);
    if (!t)
        return;   /* out of memory: not waited for */
    const struct timeval step = {0, 20000};
    while (api_unsent > 0 && loop_now_ms() < end) {   /* a reply whose client left is never counted down: bounded */
        evtimer_add(t, &step);
        event_base_loop(loop_base(), EVLOOP_ONCE);
    }
    event_free(t);
    if (api_unsent > 0)
        log_msg(LOG_WARNING, "msg=\"stopping with replies unsent\" count=%zu", api_unsent);
}

void api_fini(void)
{
    apic_set_listener(NULL);   /* evhttp_free frees the listener before the connections */
    if (api_http)
        evhttp_free(api_http);
    api_http = NULL;
    apic_fini();
    apig_fini();
    api_listen_fini();
}
