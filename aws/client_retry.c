/* client_retry — the client-side token bucket per service (Route 53's
 * account quota is 5 requests/s) and, on each answer, the choice between
 * done, retry after a full-jitter backoff, and fresh credentials. */
#include "aws/client.h"
#include "aws/client_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "aws/creds.h"
#include "core/log.h"
#include "core/loop.h"
#include "aws/r53_xml.h"
#include "aws/redact.h"

static void aws_step_rate(aws_req_t *r);

aws_bucket_t *aws_bucket(const char *service)
{
    for (int i = 0; i < AWS_NBUCKETS; i++)
        if (strcmp(aws_buckets[i].service, service) == 0)
            return &aws_buckets[i];
    for (int i = 0; i < AWS_NBUCKETS; i++)
        if (!aws_buckets[i].service[0]) {
            snprintf(aws_buckets[i].service, sizeof(aws_buckets[i].service), "%s", service);
            return &aws_buckets[i];
        }
    return &aws_buckets[AWS_NBUCKETS - 1];
}

static void aws_bucket_refill(aws_bucket_t *b)
{
    uint64_t now = loop_now_ms();
    if (b->per_ms > 0) {
        b->tokens += (double)(now - b->last_ms) * b->per_ms;
        if (b->tokens > b->burst)
            b->tokens = b->burst;
    }
    b->last_ms = now;
}

static void aws_bucket_arm(aws_bucket_t *b)
{
    double need = 1.0 - b->tokens;
    uint64_t wait = b->per_ms > 0 ? (uint64_t)(need / b->per_ms) + 1 : 0;
    struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
    evtimer_add(b->timer, &tv);
}

void aws_on_bucket(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    aws_bucket_t *b = arg;
    aws_bucket_refill(b);
    while (b->head && b->tokens >= 1.0) {
        aws_req_t *r = b->head;
        b->head = r->qnext;
        if (!b->head)
            b->tail = NULL;
        r->qnext = NULL;
        if (aws_window_shut(r, "queued for a token"))   /* its window closed while it waited: no token taken */
            continue;
        b->tokens -= 1.0;
        r->st = ST_CREDS;
        aws_step_rate(r);   /* continues past the bucket: state is ST_CREDS */
    }
    if (b->head)
        aws_bucket_arm(b);
}
/* Remove r from its bucket's queue, if queued. */
void aws_unqueue(aws_req_t *r)
{
    aws_bucket_t *b = r->bucket;
    aws_req_t **pp = &b->head, *prev = NULL;
    for (; *pp; prev = *pp, pp = &(*pp)->qnext)
        if (*pp == r) {
            *pp = r->qnext;
            if (b->tail == r)
                b->tail = prev;
            return;
        }
}
/* The AWS error code and message of an error answer, by protocol. */
static void aws_error_of(const aws_req_t *r, char *code, size_t clen, char *msg, size_t mlen)
{
    code[0] = msg[0] = '\0';
    if (!r->resp || !r->resp_len)
        return;
    if (r->proto == AWS_PROTO_REST_XML) {
        r53_error_t e;
        if (r53_parse_error(r->resp, r->resp_len, &e) == 0) {
            snprintf(code, clen, "%s", e.code);
            snprintf(msg, mlen, "%.500s", e.message);
        }
        return;
    }
    cJSON *j = cJSON_ParseWithLength(r->resp, r->resp_len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "__type");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");
    if (!m)
        m = cJSON_GetObjectItemCaseSensitive(j, "Message");
    if (cJSON_IsString(t)) {
        const char *h = strrchr(t->valuestring, '#');   /* "com.amazonaws...#ThrottlingException" */
        snprintf(code, clen, "%s", h ? h + 1 : t->valuestring);
    }
    if (cJSON_IsString(m))
        snprintf(msg, mlen, "%s", m->valuestring);
    cJSON_Delete(j);
}

static bool aws_retryable_code(const char *c)
{
    static const char *const codes[] = {
        "Throttling", "ThrottlingException", "PriorRequestNotComplete", "RequestLimitExceeded",
        "ProvisionedThroughputExceededException", "LimitExceededException",
        "TooManyRequestsException", "RequestThrottled", "InternalFailure", "ServiceUnavailable",
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(c, codes[i]) == 0)
            return true;
    return false;
}

bool aws_op_not_resent(const char *op)
{
    return strcmp(op, "ChangeResourceRecordSets") == 0;
}

/* May a failed call of an operation that is not re-sent have taken effect
 * although its answer was lost?  Yes after a transport error (unless no
 * connection was made) or a 5xx; not after Throttling or
 * PriorRequestNotComplete (4xx), which are retried. */
static bool aws_maybe_applied(const aws_req_t *r, CURLcode rc, long status)
{
    if (!aws_op_not_resent(r->op))
        return false;
    if (rc != CURLE_OK)
        return rc != CURLE_COULDNT_CONNECT && rc != CURLE_COULDNT_RESOLVE_HOST && rc != CURLE_COULDNT_RESOLVE_PROXY;
    return status >= 500;
}

static bool aws_creds_code(const char *c)
{
    return strcmp(c, "ExpiredToken") == 0 || strcmp(c, "ExpiredTokenException") == 0 ||
           strcmp(c, "InvalidClientTokenId") == 0 || strcmp(c, "UnrecognizedClientException") == 0;
}

void aws_on_backoff(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    aws_req_t *r = arg;
    aws_step_rate(r);
}

/* Retry after a full-jitter backoff: random in [0, min(max, base * 2^attempt)]. */
void aws_retry(aws_req_t *r)
{
    uint64_t cap = (uint64_t)aws_cfg->aws.retry_base_ms << (r->attempt < 20 ? r->attempt : 20);
    if (cap > aws_cfg->aws.retry_max_ms)
        cap = aws_cfg->aws.retry_max_ms;
    uint64_t wait = (uint64_t)random() % (cap + 1);
    r->bucket->st.retries++;
    r->st = ST_BACKOFF;
    struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
    evtimer_add(r->timer, &tv);
}

void aws_on_done(CURL *easy, CURLcode rc, void *arg)
{
    aws_req_t *r = arg;
    long status = 0;
    char code[64], msg[512];
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(easy);
    r->easy = NULL;
    curl_slist_free_all(r->hdrs);
    r->hdrs = NULL;
    curl_slist_free_all(r->conn_to);
    r->conn_to = NULL;
    if (rc == CURLE_OK && status >= 200 && status < 300) {
        log_msg(LOG_DEBUG, "msg=\"aws call\" op=%s status=%ld attempt=%u", r->op, status, r->attempt);
        aws_finish(r, 1, status, NULL, "");
        return;
    }
    bool retry;
    if (rc != CURLE_OK) {
        snprintf(code, sizeof(code), "%s", rc == CURLE_OPERATION_TIMEDOUT ? "Timeout" : "Transport");
        if (r->resp_overflow)
            snprintf(msg, sizeof(msg), "answer larger than %u MiB, not read", AWS_MAX_BODY >> 20);
        else
            snprintf(msg, sizeof(msg), "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
        retry = !r->resp_overflow && !aws_maybe_applied(r, rc, 0);
    } else {
        aws_error_of(r, code, sizeof(code), msg, sizeof(msg));
        if (!msg[0])
            snprintf(msg, sizeof(msg), "HTTP %ld", status);
        bool thr = aws_retryable_code(code);
        if (thr && strstr(code, "hrottl"))
            r->bucket->st.throttled++;
        retry = (status >= 500 || thr) && !aws_maybe_applied(r, rc, status);
        if (aws_creds_code(code) && r->attempt == 1) {
            creds_invalidate();   /* temporary credentials may have rotated: fetch anew once */
            retry = true;
        }
    }
    /* A call that must not run twice is retried only when it never reached the service. */
    if (r->once && (rc != CURLE_OK ? rc != CURLE_COULDNT_CONNECT && rc != CURLE_COULDNT_RESOLVE_HOST
                                   : status >= 500))
        retry = false;
    /* Clean at the source: nothing downstream ever sees AWS's raw message. */
    const char *tok = r->token_hdr[0] ? strchr(r->token_hdr, ':') : NULL;
    const char *const secrets[] = {r->pass, tok ? tok + 2 : "", NULL};
    aws_redact(msg, sizeof(msg), secrets);
    for (char *c = code; *c; c++)   /* a code is an identifier; anything else is not one */
        if (!isalnum((unsigned char)*c) && *c != '.' && *c != '_' && *c != '-')
            *c = '_';
    log_msg(retry && r->attempt < aws_cfg->aws.retry_max_attempts ? LOG_NOTICE : LOG_WARNING,
            "msg=\"aws call failed\" op=%s status=%ld code=%s attempt=%u error=\"%s\"", r->op,
            status, code, r->attempt, msg);
    free(r->resp);
    r->resp = NULL;
    r->resp_len = r->resp_cap = 0;
    if (retry && r->attempt < aws_cfg->aws.retry_max_attempts) {
        aws_retry(r);
        return;
    }
    /* keep the last error body for the caller: re-run the parse on nothing */
    aws_finish(r, 0, status, code, msg);
}
/* Take a token (or queue for one), then fetch credentials. */
static void aws_step_rate(aws_req_t *r)
{
    if (r->st != ST_CREDS) {
        if (aws_window_shut(r, "before a token"))   /* before a token is taken or a place in the queue */
            return;
        aws_bucket_t *b = r->bucket;
        aws_bucket_refill(b);
        if (b->per_ms > 0 && (b->tokens < 1.0 || b->head)) {
            r->st = ST_RATE;
            b->st.rate_waits++;
            if (b->tail)
                b->tail->qnext = r;
            else
                b->head = r;
            b->tail = r;
            aws_bucket_arm(b);
            return;
        }
        if (b->per_ms > 0)
            b->tokens -= 1.0;
    }
    r->attempt++;
    r->bucket->st.requests++;
    r->st = ST_CREDS;
    uint64_t id = creds_get(aws_on_creds, r);
    if (id)   /* 0: the callback already ran, and r may be gone */
        r->creds_waiter = id;
}
void aws_get_stats(const char *service, aws_stats_t *st)
{
    for (int i = 0; i < AWS_NBUCKETS; i++)
        if (strcmp(aws_buckets[i].service, service) == 0) {
            *st = aws_buckets[i].st;
            return;
        }
    memset(st, 0, sizeof(*st));
}
