/* api_conn — see api_int.h.
 *
 * evhttp gives no hook at accept, but it asks us for each connection's
 * bufferevent (evhttp_set_bevcb): we create it and, once the accept callback
 * has returned (an event made active from it runs before any I/O on the new
 * socket), find its evhttp_connection (the bufferevent's callback argument)
 * and set its close callback, which evhttp calls exactly once when it
 * resets or frees the connection.  Event streams take the close callback
 * over; feed.c hands the close on (feed_set_close_hook).  To close a
 * connection we shut its socket down: evhttp reads the EOF and frees it. */
#include "daemon/api_int.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "core/log.h"
#include "core/loop.h"
#include "daemon/rsrc.h"

#define APIC_SWEEP_MS 100
#define APIC_REFUSE_MS 300           /* a refused connection gets this long to send its request */
#define APIC_DEFER_S 1               /* TCP: a connection is accepted when its data comes, or after this */

struct api_conn {
    struct bufferevent *bev;
    struct evhttp_connection *evcon; /* NULL until adopted */
    uint64_t deadline_ms;            /* 0: none (an event stream) */
    bool refused, stream, closing;
    bool held;                       /* a control request waits for its change to be durable */
    struct api_conn *prev, *next;    /* oldest first */
};

static struct evhttp *apic_http;
static struct evconnlistener *apic_listener;
static struct event *apic_sweep_ev, *apic_adopt_ev;
static api_conn_t *apic_head, *apic_tail;
static unsigned apic_n, apic_nrefusing, apic_nclosing, apic_nheld, apic_cap, apic_want, apic_max_streams;
static uint32_t apic_deadline_ms = 5000;
static uint64_t apic_accepted, apic_refused_n[APIC_R_COUNT], apic_pause_until;
static bool apic_disabled;
static unsigned apic_freed_since_trim;
static uint64_t apic_trimmed_ms;

static const char *const apic_reason_names[APIC_R_COUNT] = {
    "connections", "evicted", "deadline", "streams", "stream_memory", "host", "bad_request", "accept",
};

const char *apic_reason_str(apic_reason_t r)
{
    return (unsigned)r < APIC_R_COUNT ? apic_reason_names[r] : "invalid";
}

void apic_count(apic_reason_t r)
{
    if ((unsigned)r < APIC_R_COUNT)
        apic_refused_n[r]++;
}

static void apic_listener_update(void);

static void apic_unlink(api_conn_t *c)
{
    *(c->prev ? &c->prev->next : &apic_head) = c->next;
    *(c->next ? &c->next->prev : &apic_tail) = c->prev;
    apic_n--;
    apic_nrefusing -= c->refused;
    apic_nclosing -= c->closing;
    apic_nheld -= c->held;
    apic_freed_since_trim++;
    if (!c->evcon)
        bufferevent_decref(c->bev);   /* not adopted yet: we still hold a reference */
    free(c);
}

static void apic_on_close(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    apic_unlink(arg);
    apic_listener_update();
}

/* The close callback of an event stream's connection (feed.c took it over). */
void apic_stream_closed(struct evhttp_connection *evcon)
{
    for (api_conn_t *c = apic_head; c; c = c->next)
        if (c->evcon == evcon) {
            apic_unlink(c);
            return;
        }
}

/* Right after accept: find the evhttp_connection and take its close
 * callback; drop the reference that kept the bufferevent until now. */
static void apic_on_adopt(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    for (api_conn_t *c = apic_tail, *prev; c && !c->evcon; c = prev) {
        prev = c->prev;
        bufferevent_data_cb rd, wr;
        bufferevent_event_cb ev;
        void *cbarg = NULL;
        bufferevent_getcb(c->bev, &rd, &wr, &ev, &cbarg);
        if (!ev || !cbarg || bufferevent_getfd(c->bev) < 0) {   /* evhttp gave up on it already */
            apic_unlink(c);
            continue;
        }
        c->evcon = cbarg;
        evhttp_connection_set_closecb(c->evcon, apic_on_close, c);
        bufferevent_decref(c->bev);
    }
}

/* Shut the socket: evhttp sees EOF and frees the connection (and closes
 * the descriptor).  `reply`, when given, goes out first (best effort). */
static void apic_close(api_conn_t *c, const char *reply)
{
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (fd < 0 || c->closing)
        return;
    c->closing = true;
    apic_nclosing++;
    if (reply)
        (void)send(fd, reply, strlen(reply), MSG_DONTWAIT | MSG_NOSIGNAL);
    shutdown(fd, SHUT_RDWR);
}

/* Nothing to read, nothing to write, no stream, no request being answered:
 * a connection that waits.  A held control request sends and reads nothing
 * while its change is written, yet it is owed an answer: never idle. */
static bool apic_idle(const api_conn_t *c)
{
    int pending = 0;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (c->stream || c->closing || c->refused || c->held || fd < 0)
        return false;
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
        return false;
    return ioctl(fd, FIONREAD, &pending) == 0 && pending == 0;
}

/* At the cap: close the connection that has waited longest without sending
 * anything (idle keep-alive, a trickle, a client that only connected). */
static bool apic_evict_one(void)
{
    for (api_conn_t *c = apic_head; c; c = c->next)
        if (apic_idle(c)) {
            apic_close(c, NULL);
            apic_count(APIC_R_EVICTED);
            rsrc_note(RSRC_API_CAP, "controller.max_api_connections reached: idle connections closed");
            return true;
        }
    return false;
}

/* Every tracked connection holds a descriptor until evhttp frees it (a
 * closed one until the next loop turn): past cap + the refusal slots the
 * listener stops accepting, and the kernel's backlog holds the rest. */
static void apic_listener_update(void)
{
    bool want_off = apic_n >= apic_cap + APIC_REFUSE_SLOTS || loop_now_ms() < apic_pause_until;
    if (!apic_listener || want_off == apic_disabled)
        return;
    if (want_off)
        evconnlistener_disable(apic_listener);
    else
        evconnlistener_enable(apic_listener);
    apic_disabled = want_off;
}

static struct bufferevent *apic_on_new(struct event_base *base, void *arg)
{
    (void)arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);
    api_conn_t *c = bev ? calloc(1, sizeof(*c)) : NULL;
    if (!c)
        return bev;   /* evhttp copes with NULL; untracked under OOM */
    bufferevent_incref(bev);
    c->bev = bev;
    c->deadline_ms = loop_now_ms() + apic_deadline_ms;
    apic_accepted++;
    unsigned live = apic_n - apic_nrefusing - apic_nclosing;
    if (live >= apic_cap && !apic_evict_one()) {
        c->refused = true;   /* one reply when its request arrives (apic_refused), then closed */
        c->deadline_ms = loop_now_ms() + APIC_REFUSE_MS;
        apic_nrefusing++;
    }
    c->prev = apic_tail;
    *(apic_tail ? &apic_tail->next : &apic_head) = c;
    apic_tail = c;
    apic_n++;
    apic_listener_update();
    event_active(apic_adopt_ev, EV_TIMEOUT, 1);
    return bev;
}

/* A connection over the cap got 503, or never sent its request. */
static void apic_note_refused(void)
{
    apic_count(APIC_R_CONNECTIONS);
    rsrc_note(RSRC_API_CAP, "controller.max_api_connections reached: connections refused");
}

static void apic_on_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    static const char timeout_reply[] =
        "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nConnection: close\r\n"
        "Content-Length: 95\r\n\r\n"
        "{\"error\":\"the request did not arrive whole within controller.request_deadline_ms\",\"status\":408}";
    uint64_t now = loop_now_ms();
    for (api_conn_t *c = apic_head, *next; c; c = next) {
        next = c->next;
        if (c->stream || c->closing || !c->deadline_ms || now < c->deadline_ms)
            continue;
        if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0)
            continue;   /* a reply still going out: evhttp's write timeout covers it */
        if (c->refused)
            apic_note_refused();
        else
            apic_count(APIC_R_DEADLINE);
        /* evhttp has consumed what came of a trickled request: say why, to
         * an idle connection too (a 408 is allowed there, RFC 9110 15.5.9). */
        apic_close(c, c->refused ? NULL : timeout_reply);
    }
    apic_listener_update();
    /* Many connections' buffers were freed: hand the heap's free pages back
     * (glibc keeps them otherwise, and RSS would stay at its peak after a
     * crowd of clients left; test_api_caps.py measures it). */
    if (apic_freed_since_trim >= 16 && now - apic_trimmed_ms >= 1000) {
        apic_freed_since_trim = 0;
        apic_trimmed_ms = now;
        malloc_trim(0);
    }
}

api_conn_t *apic_of(struct evhttp_request *req)
{
    struct evhttp_connection *con = evhttp_request_get_connection(req);
    struct bufferevent *bev = con ? evhttp_connection_get_bufferevent(con) : NULL;
    for (api_conn_t *c = apic_tail; bev && c; c = c->prev)   /* newest first: usually near */
        if (c->bev == bev)
            return c;
    return NULL;
}

void apic_request_seen(api_conn_t *c)
{
    if (!c)
        return;
    c->deadline_ms = loop_now_ms() + apic_deadline_ms;
    apic_nheld -= c->held;
    c->held = false;
}

/* Held connections are never evicted: at most half the cap of them, so the
 * other half (and the refusal slots' /healthz) always has room. */
static unsigned apic_held_cap(void)
{
    return apic_cap > 1 ? apic_cap / 2 : 1;
}

bool apic_hold(api_conn_t *c)
{
    if (!c)
        return true;   /* untracked (out of memory at accept): nothing to count */
    if (!c->held && apic_nheld >= apic_held_cap()) {
        rsrc_note(RSRC_API_CAP, "controller.max_api_connections: half of it waits for the disk, a change refused");
        return false;
    }
    apic_nheld += !c->held;
    c->held = true;
    c->deadline_ms = 0;
    return true;
}

/* A connection taken in over the cap (one of the APIC_REFUSE_SLOTS) gets
 * one reply and is closed.  A GET or HEAD of /healthz is that reply (a few
 * bytes: it leaves at once and frees the slot as fast as a 503 would), so a
 * liveness check is answered whatever the crowd; anything else gets 503. */
bool apic_refused(api_conn_t *c, struct evhttp_request *req)
{
    if (!c || !c->refused)
        return false;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    if ((cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD) && path && strcmp(path, "/healthz") == 0 &&
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close") == 0) {
        c->deadline_ms = loop_now_ms() + APIC_REFUSE_MS;
        return false;
    }
    apic_note_refused();
    return true;
}

void apic_set_stream(api_conn_t *c, size_t sndbuf)
{
    if (c) {
        c->stream = true;
        c->deadline_ms = 0;
        /* The kernel's send buffer grows to net.ipv4.tcp_wmem's maximum (4 MB)
         * for a client that does not read: fix it, so a stream costs the
         * machine at most this (doubled by the kernel) plus our queue. */
        int v = sndbuf > (1u << 24) ? 1 << 24 : (int)sndbuf;
        evutil_socket_t fd = bufferevent_getfd(c->bev);
        if (fd >= 0)
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
    }
}

void apic_pause_accept(uint32_t ms)
{
    apic_pause_until = loop_now_ms() + ms;
    apic_count(APIC_R_ACCEPT);
    apic_listener_update();
}

void apic_set_listener(struct evconnlistener *l)
{
    apic_listener = l;
    if (!l)
        return;
    /* evhttp listens with a backlog of 128: a crowd connecting at once
     * would overflow it, and a dropped SYN costs the next client (an
     * operator's /healthz) a 1 s retransmission.  The kernel caps it at
     * net.core.somaxconn. */
    evutil_socket_t fd = evconnlistener_get_fd(l);
    listen(fd, 4096);
    /* Admission by data: the kernel hands us a TCP connection only once its
     * first bytes have come (or, with none, after APIC_DEFER_S, when it
     * answers the connect again and the client's ACK completes it).  A bare
     * connect costs no descriptor until then, and a client whose request
     * follows its connect (a /healthz, however descheduled in between) is
     * never accepted bare, so never the idle one evicted (docs/safety.md). */
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int secs = APIC_DEFER_S;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
        (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) &&
        setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs, sizeof(secs)) == -1)
        log_msg(LOG_WARNING, "msg=\"cannot defer accepting until a request arrives (TCP_DEFER_ACCEPT): "
                "bare connections take API slots at once\" error=\"%s\"", strerror(errno));
}

void apic_configure(const cfg_controller_t *c)
{
    apic_want = c->max_api_connections;
    apic_max_streams = c->max_stream_clients;
    apic_deadline_ms = c->request_deadline_ms;
    unsigned grant = loop_fd_grant_api(apic_want + APIC_REFUSE_SLOTS);
    unsigned cap = grant > APIC_REFUSE_SLOTS ? grant - APIC_REFUSE_SLOTS : 1;
    if (cap < apic_want)
        log_msg(LOG_WARNING, "msg=\"controller.max_api_connections lowered to fit the descriptor budget "
                "(half of RLIMIT_NOFILE after the reserve)\" wanted=%u cap=%u", apic_want, cap);
    apic_cap = cap;
    if (apic_max_streams >= apic_cap)
        apic_max_streams = apic_cap > 2 ? apic_cap / 2 : 1;
}

int apic_init(struct evhttp *http, const cfg_controller_t *c)
{
    static const struct timeval tick = {0, APIC_SWEEP_MS * 1000};
    apic_http = http;
    (void)c;   /* the caps come with apic_configure(), called next by api.c */
    apic_sweep_ev = event_new(loop_base(), -1, EV_PERSIST, apic_on_sweep, NULL);
    apic_adopt_ev = event_new(loop_base(), -1, 0, apic_on_adopt, NULL);
    if (!apic_sweep_ev || !apic_adopt_ev || event_add(apic_sweep_ev, &tick) == -1)
        return -1;
    evhttp_set_bevcb(http, apic_on_new, NULL);
    return 0;
}

void apic_stats(apic_stats_t *s)
{
    memset(s, 0, sizeof(*s));
    s->connections = apic_n;
    s->max_connections = apic_cap;
    s->max_streams = apic_max_streams;
    s->request_deadline_ms = apic_deadline_ms;
    s->accepted_total = apic_accepted;
    memcpy(s->refused, apic_refused_n, sizeof(s->refused));
}

/* After evhttp_free: every connection is gone; drop our references. */
void apic_fini(void)
{
    if (apic_sweep_ev)
        event_free(apic_sweep_ev);
    if (apic_adopt_ev)
        event_free(apic_adopt_ev);
    apic_sweep_ev = apic_adopt_ev = NULL;
    /* evhttp_free closed every connection; left here are event streams
     * (feed_fini took their close callback away) and ones never adopted,
     * whose bufferevent only our reference keeps (apic_unlink drops it). */
    while (apic_head)
        apic_unlink(apic_head);
    apic_listener = NULL;
    apic_http = NULL;
}
