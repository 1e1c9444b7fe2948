/* loop — see loop.h.  Structure follows curl's docs/examples/multi-event.c:
 * one socket context per fd (curl_multi_assign), one transfer context per
 * easy handle (CURLOPT_PRIVATE), one timer for CURLMOPT_TIMERFUNCTION. */
#include "core/loop.h"

#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "core/log.h"

/* File descriptors kept back from transfers and from the API's connections:
 * the API listener, c-ares' sockets, state, config and audit files. */
#define LOOP_FD_RESERVE 32
#define LOOP_MIN_IN_FLIGHT 4

typedef struct loop_xfer {
    loop_done_fn done;
    void *arg;
    CURL *easy;
    bool queued;
    bool probe;               /* started by loop_start_probe */
    struct loop_xfer *qnext;
} loop_xfer_t;

typedef struct {
    curl_socket_t fd;
    struct event *ev;
} loop_sock_t;

static struct event_base *loop_ev_base;
static CURLM *loop_multi;
static CURLSH *loop_sh;
static struct event *loop_timer, *loop_drain_ev;
static unsigned loop_nrunning, loop_nprobes;
/* Transfers beyond the fd budget wait here, FIFO (control calls go first). */
static loop_xfer_t *loop_qhead, *loop_qtail;
static unsigned loop_nqueued, loop_max_in_flight = UINT_MAX, loop_nofile;
static unsigned loop_fd_avail = UINT_MAX;   /* nofile - open at start - reserve */
static unsigned loop_api_fds;                /* granted to the API's connections */
static uint64_t loop_nqueued_total;
static bool loop_cap_logged;
/* Loop lag (loop_lag_t): worst tick per 30 s slot, this one and the last. */
#define LOOP_LAG_TICK_MS 250
#define LOOP_LAG_WARN_MS 250
static struct event *loop_lag_ev;
static uint64_t loop_lag_due, loop_lag_last, loop_lag_max[2], loop_lag_slot, loop_lag_warned;

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

unsigned loop_probes_running(void)
{
    return loop_nprobes;
}

unsigned loop_running(void)
{
    return loop_nrunning;
}

void loop_fd_budget(loop_fd_budget_t *b)
{
    b->nofile = loop_nofile;
    b->max_in_flight = loop_max_in_flight == UINT_MAX ? 0 : loop_max_in_flight;
    b->queued = loop_nqueued;
    b->queued_total = loop_nqueued_total;
    b->api = loop_api_fds;
    b->reserve = LOOP_FD_RESERVE;
}

static void loop_drain_queue(void);

static void loop_lag_arm(uint64_t now)
{
    static const struct timeval tick = {0, LOOP_LAG_TICK_MS * 1000};
    loop_lag_due = now + LOOP_LAG_TICK_MS;
    evtimer_add(loop_lag_ev, &tick);
}

static void loop_on_lag_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    uint64_t now = loop_now_ms(), lag = now > loop_lag_due ? now - loop_lag_due : 0;
    if (now - loop_lag_slot >= 30000) {
        loop_lag_max[1] = loop_lag_max[0];
        loop_lag_max[0] = 0;
        loop_lag_slot = now;
    }
    loop_lag_last = lag;
    if (lag > loop_lag_max[0])
        loop_lag_max[0] = lag;
    if (lag >= LOOP_LAG_WARN_MS && (!loop_lag_warned || now - loop_lag_warned >= 60000)) {
        loop_lag_warned = now;
        log_msg(LOG_WARNING, "msg=\"event loop running late: probes and their timeouts run late "
                "(more probes a second than one core does; fewer targets or a longer interval)\" "
                "lag_ms=%llu in_flight=%u queued=%u", (unsigned long long)lag, loop_nrunning, loop_nqueued);
    }
    loop_lag_arm(now);
}

void loop_lag(loop_lag_t *l)
{
    l->last_ms = loop_lag_last;
    l->max_ms = loop_lag_max[0] > loop_lag_max[1] ? loop_lag_max[0] : loop_lag_max[1];
}

static void loop_on_drain(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    loop_drain_queue();
}

/* Drain from the loop, never inside a caller's cancel or start. */
static void loop_drain_later(void)
{
    static const struct timeval now = {0, 0};
    if (loop_qhead && loop_nrunning < loop_max_in_flight)
        evtimer_add(loop_drain_ev, &now);
}

static int loop_add(loop_xfer_t *x)
{
    if (curl_multi_add_handle(loop_multi, x->easy) != CURLM_OK)
        return -1;
    loop_nrunning++;
    loop_nprobes += x->probe;
    return 0;
}

/* Start queued transfers while the budget allows.  One that cannot be added
 * completes at once with CURLE_OUT_OF_MEMORY, as a failed start would. */
static void loop_drain_queue(void)
{
    while (loop_qhead && loop_nrunning < loop_max_in_flight) {
        loop_xfer_t *x = loop_qhead;
        loop_qhead = x->qnext;
        if (!loop_qhead)
            loop_qtail = NULL;
        x->qnext = NULL;
        x->queued = false;
        loop_nqueued--;
        if (loop_add(x) == -1) {
            CURL *easy = x->easy;
            loop_done_fn done = x->done;
            void *arg = x->arg;
            curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
            free(x);
            done(easy, CURLE_OUT_OF_MEMORY, arg);
        }
    }
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
            loop_nprobes -= x->probe;
            free(x);
            curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
            done(easy, rc, arg);   /* may free easy; nothing touches it after */
        }
    }
    loop_drain_queue();
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

/* Descriptors open now (before the loop opens its own). */
static unsigned loop_fds_open(void)
{
    unsigned n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 16;   /* a guess; the reserve covers the rest */
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n ? n - 1 : 0;   /* the directory's own descriptor */
}

/* Transfers get what the API was not granted. */
static void loop_apply_budget(void)
{
    long cache = 10000;
    unsigned left = loop_fd_avail > loop_api_fds ? loop_fd_avail - loop_api_fds : 0;
    loop_max_in_flight = left > LOOP_MIN_IN_FLIGHT ? left : LOOP_MIN_IN_FLIGHT;
    /* Idle keep-alive connections hold descriptors too. */
    curl_multi_setopt(loop_multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)loop_max_in_flight);
    if ((long)loop_max_in_flight < cache)
        cache = (long)loop_max_in_flight;
    curl_multi_setopt(loop_multi, CURLMOPT_MAXCONNECTS, cache);
    loop_drain_later();
}

unsigned loop_fd_grant_api(unsigned want)
{
    if (loop_fd_avail == UINT_MAX) {   /* no descriptor limit */
        loop_api_fds = want;
        return want;
    }
    /* The API never gets more than half of what is left after the reserve:
     * probes and AWS calls keep the other half whatever clients do. */
    unsigned half = loop_fd_avail / 2;
    loop_api_fds = want < half ? want : half;
    loop_apply_budget();
    return loop_api_fds;
}

/* How many transfers may run at once: each holds a socket, and the API must
 * keep descriptors to answer with (RLIMIT_NOFILE minus what is open minus a
 * reserve).  Past that, transfers queue instead of failing with EMFILE. */
static void loop_set_budget(void)
{
    struct rlimit rl;
    /* libcurl's connection cache otherwise holds 4 x the transfers running
     * when a handle is added: a few dozen.  Keep-alive targets beyond that
     * lost their connection between probes and opened (and for HTTPS fully
     * handshook) a new one each time (bench/probe_cost.py): let the cache
     * hold as many idle connections as the descriptor budget allows. */
    long cache = 10000;
    if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1u << 30) {
        curl_multi_setopt(loop_multi, CURLMOPT_MAXCONNECTS, cache);
        return;
    }
    loop_nofile = (unsigned)rl.rlim_cur;
    unsigned used = loop_fds_open() + LOOP_FD_RESERVE;
    loop_fd_avail = loop_nofile > used ? loop_nofile - used : 0;
    loop_apply_budget();
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
    loop_drain_ev = evtimer_new(loop_ev_base, loop_on_drain, NULL);
    loop_lag_ev = evtimer_new(loop_ev_base, loop_on_lag_tick, NULL);
    if (!loop_timer || !loop_drain_ev || !loop_lag_ev)
        return -1;
    loop_lag_slot = loop_now_ms();
    loop_lag_arm(loop_lag_slot);
    curl_share_setopt(loop_sh, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_multi_setopt(loop_multi, CURLMOPT_SOCKETFUNCTION, loop_sock_cb);
    curl_multi_setopt(loop_multi, CURLMOPT_TIMERFUNCTION, loop_timer_cb);
    loop_set_budget();
    return 0;
}

static int loop_enqueue(CURL *easy, loop_done_fn done, void *arg, bool front)
{
    loop_xfer_t *x = calloc(1, sizeof(*x));
    if (!x)
        return -1;
    x->done = done;
    x->arg = arg;
    x->easy = easy;
    x->probe = !front;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    if (loop_nrunning < loop_max_in_flight && !loop_qhead) {
        if (loop_add(x) == -1) {
            curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
            free(x);
            return -1;
        }
        return 0;
    }
    if (!loop_cap_logged) {
        loop_cap_logged = true;
        log_msg(LOG_WARNING, "msg=\"fd limit reached: transfers wait for a free socket\" "
                "fd_limit=%u max_in_flight=%u", loop_nofile, loop_max_in_flight);
    }
    x->queued = true;
    loop_nqueued++;
    loop_nqueued_total++;
    if (front) {
        x->qnext = loop_qhead;
        loop_qhead = x;
        if (!loop_qtail)
            loop_qtail = x;
    } else {
        if (loop_qtail)
            loop_qtail->qnext = x;
        else
            loop_qhead = x;
        loop_qtail = x;
    }
    loop_drain_later();
    return 0;
}

int loop_start(CURL *easy, loop_done_fn done, void *arg)
{
    return loop_enqueue(easy, done, arg, true);
}

int loop_start_probe(CURL *easy, loop_done_fn done, void *arg)
{
    return loop_enqueue(easy, done, arg, false);
}

static void loop_unqueue(loop_xfer_t *x)
{
    loop_xfer_t **pp = &loop_qhead, *prev = NULL;
    for (; *pp; prev = *pp, pp = &(*pp)->qnext)
        if (*pp == x) {
            *pp = x->qnext;
            if (loop_qtail == x)
                loop_qtail = prev;
            loop_nqueued--;
            return;
        }
}

void loop_cancel(CURL *easy)
{
    loop_xfer_t *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    if (!x)
        return;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    if (x->queued) {
        loop_unqueue(x);
        free(x);
        return;
    }
    curl_multi_remove_handle(loop_multi, easy);
    loop_nprobes -= x->probe;
    free(x);
    loop_nrunning--;
    loop_drain_later();
}

void loop_fini(void)
{
    while (loop_qhead) {   /* owners cancel theirs first; this is a safety net */
        loop_xfer_t *x = loop_qhead;
        loop_qhead = x->qnext;
        curl_easy_setopt(x->easy, CURLOPT_PRIVATE, NULL);
        free(x);
    }
    loop_qtail = NULL;
    loop_nqueued = 0;
    if (loop_drain_ev)
        event_free(loop_drain_ev);
    loop_drain_ev = NULL;
    if (loop_lag_ev)
        event_free(loop_lag_ev);
    loop_lag_ev = NULL;
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
