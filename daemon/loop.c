/* loop — see loop.h.  Structure follows curl's docs/examples/multi-event.c:
 * one socket context per fd (curl_multi_assign), one transfer context per
 * easy handle (CURLOPT_PRIVATE), one timer for CURLMOPT_TIMERFUNCTION. */
#include "loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

typedef struct {
    loop_done_fn done;
    void *arg;
} loop_xfer_t;

typedef struct {
    curl_socket_t fd;
    struct event *ev;
} loop_sock_t;

static struct event_base *loop_ev_base;
static CURLM *loop_multi;
static CURLSH *loop_sh;
static struct event *loop_timer;
static unsigned loop_nrunning;

uint64_t loop_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int64_t loop_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *loop_fmt_wall(int64_t wall_ms, char *buf, unsigned len)
{
    time_t s = (time_t)(wall_ms / 1000);
    struct tm tm;
    char tmp[24];
    gmtime_r(&s, &tm);
    strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03dZ", tmp, (int)(wall_ms % 1000));
    return buf;
}

struct event_base *loop_base(void)
{
    return loop_ev_base;
}

CURLSH *loop_share(void)
{
    return loop_sh;
}

unsigned loop_running(void)
{
    return loop_nrunning;
}

/* Hand finished transfers to their owners. */
static void loop_check_done(void)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(loop_multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        loop_xfer_t *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(loop_multi, easy);
        loop_nrunning--;
        if (x) {
            loop_done_fn done = x->done;
            void *arg = x->arg;
            free(x);
            curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
            done(easy, rc, arg);   /* may free easy; nothing touches it after */
        }
    }
}

static void loop_on_sock(evutil_socket_t fd, short what, void *arg)
{
    (void)arg;
    int running, flags = 0;
    if (what & EV_READ)
        flags |= CURL_CSELECT_IN;
    if (what & EV_WRITE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(loop_multi, fd, flags, &running);
    loop_check_done();
}

static void loop_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    int running;
    curl_multi_socket_action(loop_multi, CURL_SOCKET_TIMEOUT, 0, &running);
    loop_check_done();
}

static int loop_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi, (void)userp;
    if (timeout_ms < 0) {
        evtimer_del(loop_timer);
        return 0;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    evtimer_add(loop_timer, &tv);
    return 0;
}

static int loop_sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *sockp)
{
    (void)easy, (void)userp;
    loop_sock_t *ls = sockp;
    if (what == CURL_POLL_REMOVE) {
        if (ls) {
            event_free(ls->ev);
            free(ls);
            curl_multi_assign(loop_multi, s, NULL);
        }
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (!ls) {
        ls = calloc(1, sizeof(*ls));
        if (!ls)
            return -1;   /* curl fails this transfer; we keep running */
        ls->fd = s;
        curl_multi_assign(loop_multi, s, ls);
    } else {
        event_free(ls->ev);
    }
    ls->ev = event_new(loop_ev_base, s, kind, loop_on_sock, NULL);
    if (!ls->ev || event_add(ls->ev, NULL) == -1)
        return -1;
    return 0;
}

int loop_init(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    loop_ev_base = event_base_new();
    loop_multi = curl_multi_init();
    loop_sh = curl_share_init();
    if (!loop_ev_base || !loop_multi || !loop_sh)
        return -1;
    loop_timer = evtimer_new(loop_ev_base, loop_on_timer, NULL);
    if (!loop_timer)
        return -1;
    curl_share_setopt(loop_sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_multi_setopt(loop_multi, CURLMOPT_SOCKETFUNCTION, loop_sock_cb);
    curl_multi_setopt(loop_multi, CURLMOPT_TIMERFUNCTION, loop_timer_cb);
    return 0;
}

int loop_start(CURL *easy, loop_done_fn done, void *arg)
{
    loop_xfer_t *x = malloc(sizeof(*x));
    if (!x)
        return -1;
    x->done = done;
    x->arg = arg;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    if (curl_multi_add_handle(loop_multi, easy) != CURLM_OK) {
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        free(x);
        return -1;
    }
    loop_nrunning++;
    return 0;
}

void loop_cancel(CURL *easy)
{
    loop_xfer_t *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    if (!x)
        return;
    curl_multi_remove_handle(loop_multi, easy);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    free(x);
    loop_nrunning--;
}

void loop_fini(void)
{
    if (loop_timer)
        event_free(loop_timer);
    loop_timer = NULL;
    if (loop_multi)
        curl_multi_cleanup(loop_multi);
    loop_multi = NULL;
    if (loop_sh)
        curl_share_cleanup(loop_sh);
    loop_sh = NULL;
    if (loop_ev_base)
        event_base_free(loop_ev_base);
    loop_ev_base = NULL;
    curl_global_cleanup();
}
