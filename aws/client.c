/* aws_client — see client.h.  A call walks: token bucket -> credentials ->
 * endpoint address -> signed transfer -> (retry after backoff) -> done.
 *
 * This file: a call's life from aws_call() to aws_finish() or aws_cancel(),
 * set-up and tear-down.  The token bucket and retries are in
 * client_retry.c, the transfer itself in client_send.c. */
#include "aws/client.h"
#include "aws/client_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "core/alarm.h"
#include "aws/creds.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/resolver.h"

aws_bucket_t aws_buckets[AWS_NBUCKETS];
const cfg_t *aws_cfg;
char *aws_ca_file;

void aws_configure(const cfg_t *cfg)
{
    aws_cfg = cfg;
    aws_bucket_t *b = aws_bucket("route53");
    b->per_ms = cfg->aws.route53_rate_milli / 1e6;
    b->burst = cfg->aws.route53_burst;
    if (!b->last_ms) {
        b->tokens = b->burst;
        b->last_ms = loop_now_ms();
    }
    free(aws_ca_file);
    aws_ca_file = strdup(cfg->tls.ca_file);
}

int aws_init(const cfg_t *cfg, char *err, size_t errlen)
{
    for (int i = 0; i < AWS_NBUCKETS; i++) {
        aws_buckets[i].timer = evtimer_new(loop_base(), aws_on_bucket, &aws_buckets[i]);
        if (!aws_buckets[i].timer) {
            snprintf(err, errlen, "aws: out of memory");
            return -1;
        }
    }
    aws_configure(cfg);
    creds_cfg_t cc = {.profile = cfg->aws.profile, .shared_file = cfg->aws.shared_credentials_file,
                      .credential_name = cfg->aws.credential, .imds_endpoint = cfg->aws.imds_endpoint,
                      .timeout_ms = 2000};
    if (creds_init(&cc) == -1) {
        snprintf(err, errlen, "aws: cannot set up credentials");
        return -1;
    }
    return 0;
}

static void aws_req_free(aws_req_t *r)
{
    if (r->easy) {
        loop_cancel(r->easy);
        curl_easy_cleanup(r->easy);
    }
    curl_slist_free_all(r->hdrs);
    curl_slist_free_all(r->conn_to);
    if (r->timer)
        event_free(r->timer);
    explicit_bzero(r->pass, sizeof(r->pass));
    explicit_bzero(r->token_hdr, sizeof(r->token_hdr));
    free(r->service), free(r->region), free(r->op), free(r->method), free(r->path_query);
    free(r->body), free(r->content_type), free(r->target), free(r->resource), free(r->resp);
    free(r);
}
void aws_cancel(aws_req_t *r)
{
    if (!r)
        return;
    if (r->st == ST_RATE)
        aws_unqueue(r);
    creds_cancel(r->creds_waiter);
    res_cancel(r->res_waiter);
    aws_req_free(r);
}

void aws_finish(aws_req_t *r, int ok, long status, const char *code, const char *msg)
{
    aws_resp_t resp;
    memset(&resp, 0, sizeof(resp));
    resp.ok = ok;
    resp.http_status = status;
    resp.body = r->resp ? r->resp : "";
    resp.body_len = r->resp_len;
    resp.attempts = r->attempt;
    resp.elapsed_ms = (double)(loop_now_ms() - r->start_ms);
    snprintf(resp.error_code, sizeof(resp.error_code), "%s", code ? code : "");
    if (!ok)
        snprintf(resp.error, sizeof(resp.error), "%s%s%s (%s, HTTP %ld, %u attempt%s)",
                 code && *code ? code : "", code && *code ? ": " : "", msg, r->op, status,
                 r->attempt, r->attempt == 1 ? "" : "s");
    /* The daemon's own AWS errors are alarms, one per service, held per
     * target (client_alarm.c). */
    if (!ok)
        r->bucket->st.failures++;
    aws_alarm_note(r, ok, resp.error_code, resp.error);
    aws_done_fn done = r->done;
    void *arg = r->arg;
    done(arg, &resp);
    aws_req_free(r);
}
void aws_set_window(aws_req_t *r, aws_window_fn until, void *arg, const char *what)
{
    if (!r)
        return;
    r->window = until;
    r->window_arg = arg;
    snprintf(r->window_what, sizeof(r->window_what), "%s", what ? what : "its send window closed");
}

/* The call's send window closed before an attempt: it ends here, without
 * an alarm (not an AWS error: the caller's term ended) and not counted as
 * a failure; attempts counts those that went before. */
bool aws_window_shut(aws_req_t *r, const char *where)
{
    if (!r->window || loop_now_ms() < r->window(r->window_arg))
        return false;
    aws_resp_t resp;
    memset(&resp, 0, sizeof(resp));
    resp.body = "";
    resp.attempts = r->attempt;
    resp.not_sent = 1;
    resp.elapsed_ms = (double)(loop_now_ms() - r->start_ms);
    snprintf(resp.error_code, sizeof(resp.error_code), "NotSent");
    snprintf(resp.error, sizeof(resp.error), "not sent: %s (%s, before attempt %u)", r->window_what, r->op,
             r->attempt + 1);
    log_msg(LOG_NOTICE, "msg=\"aws call not sent: send window closed\" op=%s attempts=%u where=\"%s\" why=\"%s\"",
            r->op, r->attempt, where, r->window_what);
    aws_done_fn done = r->done;
    void *arg = r->arg;
    done(arg, &resp);
    aws_req_free(r);
    return true;
}

static void aws_on_resolved(void *arg, const res_answer_t *ans)
{
    aws_req_t *r = arg;
    r->res_waiter = 0;
    if (!ans->ok) {
        char msg[256];
        snprintf(msg, sizeof(msg), "dns: %s", ans->error);
        if (r->attempt < aws_cfg->aws.retry_max_attempts) {
            log_msg(LOG_NOTICE, "msg=\"aws endpoint lookup failed\" op=%s error=\"%s\"", r->op, msg);
            aws_retry(r);
            return;
        }
        aws_finish(r, 0, 0, "Transport", msg);
        return;
    }
    aws_step_send(r, ans->addrs[0].text);
}

void aws_on_creds(void *arg, const aws_creds_t *c, const char *err)
{
    aws_req_t *r = arg;
    r->creds_waiter = 0;
    if (!c) {
        aws_finish(r, 0, 0, "NoCredentials", err ? err : "no AWS credentials found");
        return;
    }
    snprintf(r->user, sizeof(r->user), "%s", c->access_key);
    snprintf(r->pass, sizeof(r->pass), "%s", c->secret_key);
    r->token_hdr[0] = '\0';
    if (c->token[0])
        snprintf(r->token_hdr, sizeof(r->token_hdr), "X-Amz-Security-Token: %s", c->token);
    r->st = ST_DNS;
    if (r->host_is_ip) {
        aws_step_send(r, NULL);
        return;
    }
    uint64_t id = res_lookup(r->lookup, 0, aws_on_resolved, r);
    if (id)   /* 0: the callback already ran, and r may be gone */
        r->res_waiter = id;
}
static char *aws_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}
aws_req_t *aws_call(const aws_call_t *c, aws_done_fn done, void *arg)
{
    char err[256];
    aws_req_t *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->service = aws_dup(c->service), r->region = aws_dup(c->region), r->op = aws_dup(c->op);
    r->method = aws_dup(c->method), r->path_query = aws_dup(c->path_query);
    r->content_type = aws_dup(c->content_type), r->target = aws_dup(c->target);
    r->resource = aws_dup(c->resource);
    if (c->body && (r->body = malloc(c->body_len + 1))) {
        memcpy(r->body, c->body, c->body_len);
        r->body[c->body_len] = '\0';
    }
    r->body_len = c->body_len;
    r->proto = c->proto;
    r->once = c->once;
    r->done = done;
    r->arg = arg;
    r->start_ms = loop_now_ms();
    r->timer = evtimer_new(loop_base(), aws_on_backoff, r);
    if (!r->service || !r->region || !r->op || !r->method || !r->path_query || !r->timer ||
        (c->body && !r->body) || (c->content_type && !r->content_type) || (c->target && !r->target) ||
        (c->resource && !r->resource)) {
        aws_req_free(r);
        return NULL;
    }
    r->bucket = aws_bucket(r->service);
    r->st = ST_BACKOFF;
    if (aws_endpoint(r, err, sizeof(err)) == -1) {
        log_msg(LOG_ERR, "msg=\"aws call not started\" op=%s error=\"%s\"", c->op, err);
        aws_req_free(r);
        return NULL;
    }
    /* Start from the loop, never inside aws_call(): done never runs before
     * the caller has the handle. */
    struct timeval now = {0, 0};
    evtimer_add(r->timer, &now);
    return r;
}
void aws_fini(void)
{
    for (int i = 0; i < AWS_NBUCKETS; i++) {
        while (aws_buckets[i].head) {
            aws_req_t *r = aws_buckets[i].head;
            aws_buckets[i].head = r->qnext;
            aws_req_free(r);
        }
        if (aws_buckets[i].timer)
            event_free(aws_buckets[i].timer);
        memset(&aws_buckets[i], 0, sizeof(aws_buckets[i]));
    }
    creds_fini();
    free(aws_ca_file);
    aws_ca_file = NULL;
}
