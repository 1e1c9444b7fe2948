/* loop — the one event loop: a libevent base, the libcurl multi handle driven
 * by its socket and timer callbacks (never curl_multi_perform), and a share
 * handle for TLS sessions.  Everything else asks loop to run a transfer and
 * gets exactly one completion callback (curl's multi-event.c is the model). */
#ifndef REGIOND_LOOP_H
#define REGIOND_LOOP_H

#include <stdint.h>

#include <curl/curl.h>
#include <event2/event.h>

/* Called once when a transfer ends (not called after loop_cancel()). */
typedef void (*loop_done_fn)(CURL *easy, CURLcode rc, void *arg);

int loop_init(void);
void loop_fini(void);

struct event_base *loop_base(void);

/* The share handle (TLS sessions) to set with CURLOPT_SHARE on easy handles. */
CURLSH *loop_share(void);

/* Start a configured easy handle; loop owns nothing but the bookkeeping:
 * the caller still owns `easy` and frees it after done/cancel.  0 or -1. */
int loop_start(CURL *easy, loop_done_fn done, void *arg);

/* The same for a probe.  Both count against the descriptor budget
 * (RLIMIT_NOFILE less a reserve for the API): past it, transfers wait in a
 * queue, probes at its tail, every other transfer (AWS, credentials,
 * webhooks) at its head.  A transfer's timeout starts when it leaves the queue. */
int loop_start_probe(CURL *easy, loop_done_fn done, void *arg);

/* Abort a running or queued transfer without calling its done function. */
void loop_cancel(CURL *easy);

/* Transfers currently running; of them, probes. */
unsigned loop_running(void);
unsigned loop_probes_running(void);

typedef struct {
    unsigned nofile;          /* RLIMIT_NOFILE at start; 0 = unlimited */
    unsigned max_in_flight;   /* transfers allowed at once; 0 = no cap */
    unsigned queued;          /* waiting now */
    uint64_t queued_total;    /* ever had to wait */
    unsigned api;             /* descriptors granted to the API's connections */
    unsigned reserve;         /* kept for the listener, DNS, state and audit files */
} loop_fd_budget_t;

void loop_fd_budget(loop_fd_budget_t *b);

/* The API asks for `want` descriptors for its connections; it gets at most
 * half of RLIMIT_NOFILE less what was open at start and the reserve, and
 * transfers keep the rest (max_in_flight shrinks to match).  Returns the
 * grant.  Called at start and at each reload. */
unsigned loop_fd_grant_api(unsigned want);

/* How late the loop runs: a timer every 250 ms notes how long after its due
 * time it fired.  A loop this late fires probes, and their timeouts, late
 * too: more targets than one core can probe.  Logged (once a minute) from
 * 250 ms on. */
typedef struct {
    uint64_t last_ms;         /* the latest tick */
    uint64_t max_ms;          /* the worst tick in the last 30-60 s */
} loop_lag_t;

void loop_lag(loop_lag_t *l);

/* Monotonic milliseconds; wall-clock milliseconds since the epoch. */
uint64_t loop_now_ms(void);
int64_t loop_wall_ms(void);

/* Format wall-clock ms as RFC 3339 UTC with milliseconds into buf (>= 32). */
const char *loop_fmt_wall(int64_t wall_ms, char *buf, unsigned len);

#endif
