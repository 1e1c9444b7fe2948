/* aresl — see aresl.h. */
#include "core/aresl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "core/log.h"
#include "core/loop.h"

typedef struct aresl_sock {
    ares_socket_t fd;
    struct event *ev;
    struct aresl_sock *next;
} aresl_sock_t;

struct aresl {
    ares_channel chan;
    struct event *timer;
    aresl_sock_t *socks;
};

ares_channel aresl_channel(aresl_t *a)
{
    return a->chan;
}

void aresl_rearm(aresl_t *a)
{
    struct timeval maxtv = {1, 0}, tv, *t;
    t = ares_timeout(a->chan, &maxtv, &tv);
    evtimer_add(a->timer, t);
}

static void aresl_on_fd(evutil_socket_t fd, short what, void *arg)
{
    aresl_t *a = arg;
    ares_process_fd(a->chan, (what & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (what & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    aresl_rearm(a);
}

static void aresl_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    aresl_t *a = arg;
    ares_process_fd(a->chan, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    aresl_rearm(a);
}

static void aresl_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    aresl_t *a = data;
    aresl_sock_t **pp = &a->socks, *s;
    while ((s = *pp) && s->fd != fd)
        pp = &s->next;
    if (!readable && !writable) {
        if (s) {
            event_free(s->ev);
            *pp = s->next;
            free(s);
        }
        return;
    }
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s) {
            log_msg(LOG_ERR, "msg=\"dns: out of memory for a socket\"");
            return;   /* the query times out through ares_timeout */
        }
        s->fd = fd;
        s->next = a->socks;
        a->socks = s;
    } else {
        event_free(s->ev);
    }
    short kind = EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
    s->ev = event_new(loop_base(), fd, kind, aresl_on_fd, a);
    if (s->ev)
        event_add(s->ev, NULL);
}

aresl_t *aresl_new(struct ares_options *o, int mask, char *err, size_t errlen)
{
    aresl_t *a = calloc(1, sizeof(*a));
    if (!a || !(a->timer = evtimer_new(loop_base(), aresl_on_timer, a))) {
        free(a);
        snprintf(err, errlen, "dns: out of memory");
        return NULL;
    }
    o->sock_state_cb = aresl_sock_state;
    o->sock_state_cb_data = a;
    int st = ares_init_options(&a->chan, o, mask | ARES_OPT_SOCK_STATE_CB);
    if (st != ARES_SUCCESS) {
        snprintf(err, errlen, "dns: %s", ares_strerror(st));
        event_free(a->timer);
        free(a);
        return NULL;
    }
    return a;
}

void aresl_free(aresl_t *a)
{
    if (!a)
        return;
    ares_destroy(a->chan);
    while (a->socks) {
        aresl_sock_t *s = a->socks;
        a->socks = s->next;
        event_free(s->ev);
        free(s);
    }
    event_free(a->timer);
    free(a);
}
