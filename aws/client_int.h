/* client_int.h — private to the AWS client: a request's state and what its
 * files share.  client.c runs a call's life (start, credentials, endpoint
 * address, finish, cancel); client_retry.c holds the token bucket per
 * service and the retry/backoff decision on each answer; client_send.c
 * builds the signed libcurl transfer. */
#ifndef REGIOND_AWS_CLIENT_INT_H
#define REGIOND_AWS_CLIENT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "config/cfg.h"
#include "aws/client.h"
#include "aws/creds.h"

#define AWS_MAX_BODY (8u << 20)
#define AWS_NBUCKETS 4

typedef enum { ST_RATE, ST_CREDS, ST_DNS, ST_FLIGHT, ST_BACKOFF } aws_st_t;

/* The aws-SERVICE alarm's failing targets (client_alarm.c): at most
 * AWS_ALARM_TARGETS (region, resource) pairs per service, each held until a
 * call to it works, or until none of its calls failed for
 * AWS_ALARM_STALE_MS and a call of the service works. */
#define AWS_ALARM_TARGETS 16
#define AWS_ALARM_STALE_MS 3600000
typedef struct {
    char region[40], resource[256];
    char code[64], op[40];
    char error[300];               /* the first failure's cleaned message for this code */
    uint64_t last_ms;              /* monotonic: its latest failure */
} aws_fail_t;

typedef struct aws_bucket {
    char service[16];
    double per_ms;                 /* tokens added per ms; 0 = unlimited */
    double burst, tokens;
    uint64_t last_ms;
    aws_req_t *head, *tail;        /* waiting for a token, FIFO */
    struct event *timer;
    aws_stats_t st;
    aws_fail_t fails[AWS_ALARM_TARGETS];   /* the failing targets, oldest first */
    size_t n_fails;
    bool more;                     /* a failure did not fit: the summary says "and others" */
} aws_bucket_t;

struct aws_req {
    char *service, *region, *op, *method, *path_query, *body, *content_type, *target, *resource;
    size_t body_len;
    aws_proto_t proto;
    int once;
    aws_done_fn done;
    void *arg;
    aws_window_fn window;          /* NULL: no send window (aws_set_window) */
    void *window_arg;
    char window_what[96];
    aws_st_t st;
    unsigned attempt;
    uint64_t start_ms;
    struct event *timer;
    uint64_t creds_waiter, res_waiter;
    aws_bucket_t *bucket;
    aws_req_t *qnext;
    CURL *easy;
    struct curl_slist *hdrs, *conn_to;
    char *resp;
    size_t resp_len, resp_cap;
    bool resp_overflow;
    char errbuf[CURL_ERROR_SIZE];
    char url[1024];
    char host[256], lookup[256];
    long port;
    bool host_is_ip;
    char user[128], pass[256], token_hdr[4200];
};

/* Owned by client.c; the buckets' queues hold requests waiting for a token. */
extern aws_bucket_t aws_buckets[AWS_NBUCKETS];
extern const cfg_t *aws_cfg;
extern char *aws_ca_file;

/* client.c: hand the outcome to the caller and free the request; the
 * credentials' callback (next: the endpoint's address, then the transfer). */
void aws_finish(aws_req_t *r, int ok, long status, const char *code, const char *msg);
void aws_on_creds(void *arg, const aws_creds_t *c, const char *err);
/* Before an attempt: true (and r finished as not sent, i.e. gone) when its
 * send window closed; r must not be queued for a token.  where (for the
 * log): "before a token", "queued for a token", "before the transfer". */
bool aws_window_shut(aws_req_t *r, const char *where);

/* client_alarm.c: the outcome of a call (after retries) for the service's
 * alarm: raised, kept or resolved per target (code and error as aws_finish). */
void aws_alarm_note(aws_req_t *r, int ok, const char *code, const char *error);

/* client_retry.c: the bucket of a service (made on first use); its timer's
 * callback; remove r from its bucket's queue; the backoff timer's callback;
 * retry after a full-jitter backoff; the transfer's completion callback. */
aws_bucket_t *aws_bucket(const char *service);
void aws_on_bucket(evutil_socket_t fd, short what, void *arg);
void aws_unqueue(aws_req_t *r);
void aws_on_backoff(evutil_socket_t fd, short what, void *arg);
void aws_retry(aws_req_t *r);
/* An operation whose request may take effect though its answer is lost, and
 * whose caller re-reads instead of re-sending (Route 53 applies a
 * ChangeResourceRecordSets batch once accepted: sent again after the group
 * went back to its old state, e.g. an operator undoing a drain, it lands
 * twice over the other writer's change).  Such a request gets a fresh
 * connection (libcurl re-sends a request silently when a reused connection
 * dies before the answer) and is not retried after a transport error or a
 * 5xx. */
bool aws_op_not_resent(const char *op);
void aws_on_done(CURL *easy, CURLcode rc, void *arg);

/* client_send.c: start the signed transfer, connecting to addr (NULL: the
 * host is an address); set r's URL, host and port from the endpoint. */
void aws_step_send(aws_req_t *r, const char *addr);
int aws_endpoint(aws_req_t *r, char *err, size_t errlen);

#endif
