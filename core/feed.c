/* feed — see feed.h. */
#include "core/feed.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/state.h"
#include "config/utf8.h"

#define FEED_ID_FILE "event-id"
#define FEED_ID_BLOCK 10000u
#define FEED_ID_MAX ((1ull << 53) - (1ull << 40))   /* ids stay exact in JSON numbers */
#define FEED_KEEPALIVE_S 15

/* An event as it goes on the wire, shared by the ring and every stream
 * client's queue (evbuffer_add_reference): a client that does not read
 * holds references, not copies.  Freed when the last holder lets go. */
typedef struct {
    unsigned refs;
    size_t len;
    char text[];         /* "id: N\nevent: TYPE\ndata: JSON\n\n" */
} feed_frame_t;

typedef struct {
    uint64_t id;
    char *type;
    char *json;          /* the full event as one JSON line */
    feed_frame_t *frame;
} feed_event_t;

static void feed_frame_unref(const void *data, size_t len, void *arg)
{
    (void)data, (void)len;
    feed_frame_t *f = arg;
    if (f && --f->refs == 0)
        free(f);
}

static void feed_event_free(feed_event_t *e)
{
    free(e->type);
    free(e->json);
    feed_frame_unref(NULL, 0, e->frame);
    e->type = e->json = NULL;
    e->frame = NULL;
}

/* A stream client holds no copy of the events: only the id of the next one
 * to send.  Events go out in batches of at most client_bytes, the next batch
 * when the socket took the last one, so a client that does not read costs
 * at most client_bytes (plus one event), whatever flows meanwhile.  One
 * that falls behind the ring gets a "gap" event and goes on from the oldest
 * event kept. */
typedef struct feed_client {
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    uint64_t next_id;        /* 0: the oldest in the ring, whatever its id */
    struct feed_client *next;
} feed_client_t;

static feed_event_t *feed_ring;
static uint32_t feed_cap, feed_len, feed_head;   /* head: index of the oldest */
static uint64_t feed_next_id = 1, feed_reserved, feed_total;
static feed_client_t *feed_clients;
static unsigned feed_nclients;
static struct event *feed_keepalive;
static feed_listener_fn feed_listener;
static feed_close_hook_fn feed_close_hook;

void feed_set_close_hook(feed_close_hook_fn fn)
{
    feed_close_hook = fn;
}
static unsigned feed_max_clients = 16;
static size_t feed_client_bytes = 65536, feed_total_bytes = 2u << 20;
static uint64_t feed_gaps_total;

void feed_set_listener(feed_listener_fn fn)
{
    feed_listener = fn;
}

static uint64_t feed_reserving;    /* a reservation being written (0: none) */
static bool feed_past_logged;

/* At start (before the loop runs): the first block, waited for. */
static int feed_reserve(void)
{
    char buf[32];
    uint64_t upto = feed_next_id + FEED_ID_BLOCK;
    int n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", upto);
    if (state_write(FEED_ID_FILE, buf, (size_t)n) == -1)
        return -1;
    feed_reserved = upto;
    return 0;
}

static void feed_on_reserved(void *arg, int rc, const char *err)
{
    (void)arg, (void)err;   /* a failure is logged and alarmed by the state module */
    if (rc == 0 && feed_reserving > feed_reserved)
        feed_reserved = feed_reserving;
    feed_reserving = 0;   /* failed: asked for again by the next event */
}

/* On the loop: half the block used, the next one is written ahead, never
 * waited for.  Events cannot wait: one numbered past the durable block
 * (the disk stalled for FEED_ID_BLOCK / 2 events) is logged once; its id
 * could be handed out again only if regiond dies before the write lands. */
static void feed_reserve_ahead(void)
{
    if (feed_next_id > feed_reserved && !feed_past_logged) {
        feed_past_logged = true;
        log_msg(LOG_ERR, "msg=\"event ids past the reserved block: the disk has not finished writing %s\" "
                "reserved=%" PRIu64, FEED_ID_FILE, feed_reserved);
    } else if (feed_next_id <= feed_reserved) {
        feed_past_logged = false;
    }
    if (feed_reserving || feed_reserved - (feed_next_id < feed_reserved ? feed_next_id : feed_reserved) >
                              FEED_ID_BLOCK / 2)
        return;
    char buf[32];
    uint64_t upto = feed_next_id + FEED_ID_BLOCK;
    int n = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", upto);
    feed_reserving = upto;
    if (state_write_then(FEED_ID_FILE, buf, (size_t)n, feed_on_reserved, NULL) == -1)
        feed_reserving = 0;
}

static void feed_on_keepalive(evutil_socket_t fd, short what, void *arg);

/* The next event id from the reserved-up-to number in event-id.  A file
 * that is there but unreadable or not one number in range is corrupt
 * (alarm, safe mode); ids then go on from the wall clock in ms, past any
 * id a reservation can have handed out before (unless the clock went back). */
static uint64_t feed_load_id(void)
{
    size_t len = 0;
    errno = 0;
    char *s = state_read(FEED_ID_FILE, &len);
    if (!s && errno == ENOENT)
        return 1;
    char why[160] = "";
    uint64_t v = 0;
    if (!s) {
        snprintf(why, sizeof(why), "cannot read: %s", state_read_error(errno));
    } else {
        char *end = NULL;
        errno = 0;
        unsigned long long n = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
        while (end && (*end == '\n' || *end == '\r' || *end == ' '))
            end++;
        if (!end || *end || errno == ERANGE || n == 0 || n > FEED_ID_MAX)
            snprintf(why, sizeof(why), "expected one integer 1..%llu, found %zu bytes that are not",
                     (unsigned long long)FEED_ID_MAX, len);
        else
            v = n + 1;
    }
    free(s);
    if (why[0]) {
        state_corrupt(FEED_ID_FILE, why);
        v = (uint64_t)loop_wall_ms() + 1;
    }
    return v;
}

int feed_init(uint32_t capacity, char *err, size_t errlen)
{
    feed_ring = calloc(capacity, sizeof(*feed_ring));
    if (!feed_ring) {
        snprintf(err, errlen, "feed: out of memory");
        return -1;
    }
    feed_cap = capacity;
    feed_next_id = feed_load_id();
    if (feed_reserve() == -1) {
        snprintf(err, errlen, "cannot write %s/%s", state_dir(), FEED_ID_FILE);
        return -1;
    }
    feed_keepalive = event_new(loop_base(), -1, EV_PERSIST, feed_on_keepalive, NULL);
    struct timeval tv = {FEED_KEEPALIVE_S, 0};
    if (!feed_keepalive || event_add(feed_keepalive, &tv) == -1) {
        snprintf(err, errlen, "feed: out of memory");
        return -1;
    }
    return 0;
}

uint64_t feed_last_id(void)
{
    return feed_len ? feed_ring[(feed_head + feed_len - 1) % feed_cap].id : 0;
}

uint64_t feed_first_id(void)
{
    return feed_len ? feed_ring[feed_head].id : 0;
}

uint64_t feed_count(void)
{
    return feed_total;
}

unsigned feed_sse_clients(void)
{
    return feed_nclients;
}

static void feed_client_drop(feed_client_t *c, int end_reply)
{
    for (feed_client_t **pp = &feed_clients; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    evhttp_connection_set_closecb(c->conn, NULL, NULL);
    if (end_reply)
        evhttp_send_reply_end(c->req);
    free(c);
    feed_nclients--;
}

static size_t feed_queued(const feed_client_t *c)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->conn);
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

static void feed_pump(feed_client_t *c);

/* The socket took everything queued: send the next batch. */
static void feed_on_drained(struct evhttp_connection *conn, void *arg)
{
    (void)conn;
    feed_pump(arg);
}

/* Queue what the client has not had yet, up to feed_client_bytes. */
static void feed_pump(feed_client_t *c)
{
    size_t queued = feed_queued(c);
    /* Refill only once the socket took everything: a client that keeps up
     * gets each event at once, a slow one gets one batch per drain.  Each
     * batch costs two small chains for the chunk framing (~1 KiB each),
     * so topping up event by event would cost more than the events. */
    if (queued > 0 || !feed_len || (c->next_id && c->next_id > feed_last_id()))
        return;
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return;
    uint64_t first = feed_first_id();
    if (c->next_id == 0)   /* no Last-Event-ID: from the oldest event kept, no gap */
        c->next_id = first;
    if (c->next_id < first) {
        feed_gaps_total++;
        evbuffer_add_printf(b, "event: %s\ndata: {\"lost_after\":%" PRIu64 ",\"resumed_at\":%" PRIu64 "}\n\n",
                            feed_ev_str(EV_GAP),
                            c->next_id - 1, first);
        c->next_id = first;
    }
    for (uint64_t i = c->next_id - first; i < feed_len && queued + evbuffer_get_length(b) < feed_client_bytes; i++) {
        feed_event_t *e = &feed_ring[(feed_head + i) % feed_cap];
        if (evbuffer_add_reference(b, e->frame->text, e->frame->len, feed_frame_unref, e->frame) == -1)
            break;
        e->frame->refs++;
        c->next_id = e->id + 1;
    }
    evhttp_send_reply_chunk_with_cb(c->req, b, feed_on_drained, c);
    evbuffer_free(b);
}

static void feed_broadcast(void)
{
    for (feed_client_t *c = feed_clients; c; c = c->next)
        feed_pump(c);
}

static const struct {
    const char *name, *fields;
} feed_ev_names[EV_N] = {
#define FEED_EV_NAME(e, name, fields) [e] = {name, fields},
    FEED_EVENTS(FEED_EV_NAME)
#undef FEED_EV_NAME
};

const char *feed_ev_str(feed_ev_t t)
{
    return (unsigned)t < EV_N ? feed_ev_names[t].name : "?";
}

const char *feed_ev_fields(feed_ev_t t)
{
    return (unsigned)t < EV_N ? feed_ev_names[t].fields : "";
}

/* The journal fields of an event: its region, target and decision straight
 * from the event (never parsed back out of its JSON text). */
typedef struct {
    char region[72], target[72], decision[24];
} feed_lf_t;

static void feed_fields(const cJSON *ev, feed_lf_t *o)
{
    const char *r = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "region"));
    const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "target"));
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(ev, "decision");
    snprintf(o->region, sizeof(o->region), "%s", r ? r : "");
    snprintf(o->target, sizeof(o->target), "%s", t ? t : "");
    o->decision[0] = '\0';
    if (cJSON_IsNumber(d) && d->valuedouble >= 0)
        snprintf(o->decision, sizeof(o->decision), "%.0f", d->valuedouble);
}

uint64_t feed_emit(feed_ev_t kind, cJSON *data)
{
    const char *type = feed_ev_str(kind);
    if (!data)
        data = cJSON_CreateObject();
    if (!data)
        return 0;
    char when[40];
    uint64_t id = feed_next_id;
    loop_fmt_wall(loop_wall_ms(), when, sizeof(when));
    /* Put id, time and type first so a person reading the stream sees them. */
    cJSON *ev = cJSON_CreateObject();
    if (!ev || !cJSON_AddNumberToObject(ev, "id", (double)id) ||
        !cJSON_AddStringToObject(ev, "time", when) || !cJSON_AddStringToObject(ev, "type", type)) {
        cJSON_Delete(ev);
        cJSON_Delete(data);
        return 0;
    }
    while (data->child) {
        cJSON *item = cJSON_DetachItemViaPointer(data, data->child);
        cJSON_AddItemToObject(ev, item->string, item);
    }
    cJSON_Delete(data);
    char *json = cJSON_PrintUnformatted(ev);
    feed_lf_t lf;
    feed_fields(ev, &lf);
    cJSON_Delete(ev);
    char *t = strdup(type);
    if (json)
        utf8_scrub(json);   /* every string an event carries stays valid UTF-8 JSON */
    if (!json || !t) {
        free(json);
        free(t);
        return 0;
    }
    size_t flen = strlen(type) + strlen(json) + 48;
    feed_frame_t *fr = malloc(sizeof(*fr) + flen);
    if (!fr) {
        free(json);
        free(t);
        return 0;
    }
    int fn = snprintf(fr->text, flen, "id: %" PRIu64 "\nevent: %s\ndata: %s\n\n", id, type, json);
    fr->len = fn > 0 && (size_t)fn < flen ? (size_t)fn : 0;
    fr->refs = 1;
    if (feed_len == feed_cap) {
        feed_event_t *old = &feed_ring[feed_head];
        feed_event_free(old);
        feed_head = (feed_head + 1) % feed_cap;
        feed_len--;
    }
    feed_event_t *e = &feed_ring[(feed_head + feed_len) % feed_cap];
    e->id = id;
    e->type = t;
    e->json = json;
    e->frame = fr;
    feed_len++;
    feed_next_id++;
    feed_total++;
    feed_reserve_ahead();
    log_fields_t f = { .region = lf.region, .target = lf.target, .decision = lf.decision, .event = type };
    log_msg_fields(LOG_INFO, &f, "event=%s %s", type, json);
    feed_broadcast();
    if (feed_listener)
        feed_listener(id, e->type, e->json);
    return id;
}

static void feed_on_close(struct evhttp_connection *conn, void *arg)
{
    feed_client_t *c = arg;
    struct evhttp_request *req = c->req;
    if (feed_close_hook)
        feed_close_hook(conn);
    feed_client_drop(c, 0);
    /* The peer went away mid-stream: libevent detached the request from the
     * connection and leaves it to us (evhttp_connection_incoming_fail). */
    if (evhttp_request_get_connection(req) == NULL)
        evhttp_request_free(req);
}

static void feed_on_keepalive(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    for (feed_client_t *c = feed_clients; c; c = c->next) {
        if (feed_queued(c) > 0)
            continue;   /* still sending: that is alive enough */
        struct evbuffer *b = evbuffer_new();
        if (!b)
            return;
        evbuffer_add_printf(b, ": keepalive\n\n");
        evhttp_send_reply_chunk_with_cb(c->req, b, feed_on_drained, c);
        evbuffer_free(b);
    }
}

int feed_sse_admit(void)
{
    if (feed_nclients >= feed_max_clients)
        return 1;
    if ((size_t)(feed_nclients + 1) * feed_client_bytes > feed_total_bytes)
        return 2;
    return 0;
}

void feed_set_caps(unsigned max_clients, size_t client_bytes, size_t total_bytes)
{
    feed_max_clients = max_clients;
    feed_client_bytes = client_bytes;
    feed_total_bytes = total_bytes;
}

void feed_stream_stats(feed_stream_stats_t *s)
{
    s->clients = feed_nclients;
    s->max_clients = feed_max_clients;
    s->client_bytes = feed_client_bytes;
    s->total_bytes = feed_total_bytes;
    s->queued_bytes = 0;
    for (feed_client_t *c = feed_clients; c; c = c->next)
        s->queued_bytes += feed_queued(c);
    s->gaps_total = feed_gaps_total;
}

void feed_sse_attach(struct evhttp_request *req, uint64_t last_id)
{
    feed_client_t *c = calloc(1, sizeof(*c));
    if (!c) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    c->req = req;
    c->conn = evhttp_request_get_connection(req);
    c->next_id = last_id ? last_id + 1 : 0;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, "X-Accel-Buffering", "no");
    evhttp_send_reply_start(req, 200, "OK");
    struct evbuffer *b = evbuffer_new();
    if (b) {
        evbuffer_add_printf(b, "retry: 2000\n\n");
        if (last_id && feed_len && last_id + 1 < feed_first_id()) {
            evbuffer_add_printf(b, "event: %s\ndata: {\"lost_after\":%" PRIu64
                                ",\"resumed_at\":%" PRIu64 "}\n\n", feed_ev_str(EV_GAP), last_id, feed_first_id());
            c->next_id = feed_first_id();
        }
        evhttp_send_reply_chunk_with_cb(req, b, feed_on_drained, c);
        evbuffer_free(b);
    }
    c->next = feed_clients;
    feed_clients = c;
    feed_nclients++;
    evhttp_connection_set_closecb(c->conn, feed_on_close, c);
    feed_pump(c);
}

int feed_resize(uint32_t capacity)
{
    if (capacity == feed_cap)
        return 0;
    feed_event_t *n = calloc(capacity, sizeof(*n));
    if (!n)
        return -1;
    uint32_t keep = feed_len < capacity ? feed_len : capacity;
    uint32_t skip = feed_len - keep;
    for (uint32_t i = 0; i < feed_len; i++) {
        feed_event_t *e = &feed_ring[(feed_head + i) % feed_cap];
        if (i < skip) {
            feed_event_free(e);
        } else {
            n[i - skip] = *e;
        }
    }
    free(feed_ring);
    feed_ring = n;
    feed_cap = capacity;
    feed_head = 0;
    feed_len = keep;
    return 0;
}

void feed_fini(void)
{
    while (feed_clients)
        feed_client_drop(feed_clients, 1);
    if (feed_keepalive)
        event_free(feed_keepalive);
    feed_keepalive = NULL;
    for (uint32_t i = 0; i < feed_len; i++) {
        feed_event_t *e = &feed_ring[(feed_head + i) % feed_cap];
        feed_event_free(e);
    }
    free(feed_ring);
    feed_ring = NULL;
    feed_len = feed_cap = feed_head = 0;
}
