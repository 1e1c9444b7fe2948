/* aws_client — every AWS call regiond makes: a libcurl transfer on the
 * daemon's one multi handle, signed by libcurl's CURLOPT_AWS_SIGV4 (never a
 * hand-written signer), credentials from creds, the endpoint's name resolved
 * by the daemon's resolver and handed over with CURLOPT_CONNECT_TO; retries
 * with exponential backoff and full jitter on throttling, 5xx and transport
 * errors; a client-side token bucket per service (Route 53's account quota is
 * 5 requests/s, shared with every other tool in the account). */
#ifndef REGIOND_AWS_CLIENT_H
#define REGIOND_AWS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"

typedef enum { AWS_PROTO_REST_XML = 0, AWS_PROTO_JSON } aws_proto_t;

/* One request.  Strings are copied by aws_call(). */
typedef struct {
    const char *service;          /* signing service: "route53", "dynamodb" */
    const char *region;           /* signing region: "us-east-1" for Route 53 */
    const char *op;               /* operation name, for logs and metrics */
    const char *method;           /* "GET" or "POST" */
    const char *path_query;       /* "/2013-04-01/...?a=1&b=2": query already sorted by
                                     name and encoded (libcurl 7.88 signs it as given) */
    const char *body;             /* NULL for none */
    size_t body_len;
    const char *content_type;     /* NULL for none */
    const char *target;           /* X-Amz-Target for the JSON protocol, else NULL */
    aws_proto_t proto;
    const char *resource;         /* what the call is about, for the service's alarm (a table name);
                                     NULL: the service as a whole */
    int once;                     /* not idempotent (CreateBackup): never retried once an attempt may
                                     have reached the service (a timeout, a lost answer, a 5xx); only
                                     refusals that prove nothing was done (throttling) are retried */
} aws_call_t;

/* The outcome, after retries. */
typedef struct {
    int ok;                       /* 1: HTTP 2xx */
    long http_status;             /* 0 when no HTTP answer */
    const char *body;             /* response body (valid during the callback only) */
    size_t body_len;
    char error_code[64];          /* AWS error code ("Throttling", "InvalidChangeBatch"), or "" */
    char error[768];              /* one line for people: code, message, or transport error */
    unsigned attempts;
    double elapsed_ms;            /* from aws_call() to the callback */
    int not_sent;                 /* 1: failed here, its send window closed (aws_set_window): the
                                     next attempt was never sent (error_code "NotSent") */
} aws_resp_t;

typedef void (*aws_done_fn)(void *arg, const aws_resp_t *r);

typedef struct aws_req aws_req_t;

/* Set up from the config (endpoints, rate, retries, credentials). */
int aws_init(const cfg_t *cfg, char *err, size_t errlen);

/* Take new settings on reload (endpoints, rates, retries). */
void aws_configure(const cfg_t *cfg);

void aws_fini(void);

/* Start a call; done runs exactly once, from the loop (never inside
 * aws_call), unless aws_cancel() is called first; done must not cancel its
 * own request.  NULL when the call cannot start (out of memory, bad endpoint
 * URL; logged), and done is then not called. */
aws_req_t *aws_call(const aws_call_t *call, aws_done_fn done, void *arg);

void aws_cancel(aws_req_t *req);

/* A send window for one call (several controllers: only the lease's holder
 * sends, and only until its term's send_until).  until(arg) returns the
 * monotonic time (loop_now_ms()'s clock) from which the call may not send;
 * it is asked before every attempt: before a token of the rate limiter is
 * taken (or, queued for one, again when the token is due) and again right
 * before the transfer starts, so a retry (Throttling,
 * PriorRequestNotComplete, a refused connection) never goes after it.  Once
 * the window is closed the call fails here: done gets not_sent = 1, code
 * "NotSent" and "not sent: WHAT (op, before attempt N)".  An attempt already
 * handed to libcurl is not stopped.  Set it right after aws_call (the first
 * attempt starts from the loop); until and arg must stay valid until done
 * ran or the call was cancelled.  Without it a call has no window. */
typedef uint64_t (*aws_window_fn)(void *arg);
void aws_set_window(aws_req_t *req, aws_window_fn until, void *arg, const char *what);

/* The service's alarm (aws-SERVICE, warning; client_alarm.c): a call that
 * fails after its retries marks its target (region, resource: a table, or
 * the service as a whole) failing; the alarm is raised when a target starts
 * failing or fails with another code, and resolved when the last failing
 * target has a call that works.  ConditionalCheckFailedException and
 * InvalidChangeBatch are answers the caller handles: they count as working.
 * A call ended by its send window (not_sent) or cancelled counts as neither. */

/* Counters for /metrics. */
typedef struct {
    uint64_t requests;            /* attempts sent */
    uint64_t retries;
    uint64_t throttled;           /* answers with a throttling code */
    uint64_t failures;            /* calls that failed after retries */
    uint64_t rate_waits;          /* attempts that waited for the token bucket */
} aws_stats_t;

void aws_get_stats(const char *service, aws_stats_t *st);

#endif
