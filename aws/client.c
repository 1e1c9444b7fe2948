/* aws_client — see client.h.  A call walks: token bucket -> credentials ->
 * endpoint address -> signed transfer -> (retry after backoff) -> done. */
#include "client.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <event2/event.h>

#include "alarm.h"
#include "creds.h"
#include "log.h"
#include "loop.h"
#include "r53_xml.h"
#include "resolver.h"

#define AWS_MAX_BODY (8u << 20)
#define AWS_NBUCKETS 4

typedef enum { ST_RATE, ST_CREDS, ST_DNS, ST_FLIGHT, ST_BACKOFF } aws_st_t;

typedef struct aws_bucket {
    char service[16];
    double per_ms;                 /* tokens added per ms; 0 = unlimited */
    double burst, tokens;
    uint64_t last_ms;
    aws_req_t *head, *tail;        /* waiting for a token, FIFO */
    struct event *timer;
    aws_stats_t st;
} aws_bucket_t;

struct aws_req {
    char *service, *region, *op, *method, *path_query, *body, *content_type, *target;
    size_t body_len;
    aws_proto_t proto;
    aws_done_fn done;
    void *arg;
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

static aws_bucket_t aws_buckets[AWS_NBUCKETS];
static const cfg_t *aws_cfg;
static char *aws_ca_file;

static void aws_step_rate(aws_req_t *r);
static void aws_step_send(aws_req_t *r, const char *addr);

static aws_bucket_t *aws_bucket(const char *service)
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

static void aws_on_bucket(evutil_socket_t fd, short what, void *arg)
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
        b->tokens -= 1.0;
        r->st = ST_CREDS;
        aws_step_rate(r);   /* continues past the bucket: state is ST_CREDS */
    }
    if (b->head)
        aws_bucket_arm(b);
}

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
    free(r->body), free(r->content_type), free(r->target), free(r->resp);
    free(r);
}

/* Remove r from its bucket's queue, if queued. */
static void aws_unqueue(aws_req_t *r)
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

static void aws_finish(aws_req_t *r, int ok, long status, const char *code, const char *msg)
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
    /* The daemon's own AWS errors are alarms (one per service), cleared by
     * the next call that works. */
    char key[40];
    snprintf(key, sizeof(key), "aws-%s", r->service);
    if (!ok) {
        r->bucket->st.failures++;
        if (strcmp(resp.error_code, "InvalidChangeBatch") != 0)   /* drift: its own alarm */
            alarm_raise(key, "warning", resp.error, NULL);
    } else {
        alarm_resolve(key, "AWS calls work again");
    }
    aws_done_fn done = r->done;
    void *arg = r->arg;
    done(arg, &resp);
    aws_req_free(r);
}

static size_t aws_on_body(char *p, size_t sz, size_t n, void *arg)
{
    aws_req_t *r = arg;
    size_t add = sz * n;
    if (r->resp_len + add > AWS_MAX_BODY) {
        r->resp_overflow = true;
        return 0;
    }
    if (r->resp_len + add + 1 > r->resp_cap) {   /* grow geometrically: no copy per chunk */
        size_t cap = r->resp_cap ? r->resp_cap : 16384;
        while (cap < r->resp_len + add + 1)
            cap *= 2;
        if (cap > AWS_MAX_BODY + 1)
            cap = AWS_MAX_BODY + 1;
        char *nb = realloc(r->resp, cap);
        if (!nb)
            return 0;
        r->resp = nb;
        r->resp_cap = cap;
    }
    memcpy(r->resp + r->resp_len, p, add);
    r->resp_len += add;
    r->resp[r->resp_len] = '\0';
    return add;
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

static bool aws_creds_code(const char *c)
{
    return strcmp(c, "ExpiredToken") == 0 || strcmp(c, "ExpiredTokenException") == 0 ||
           strcmp(c, "InvalidClientTokenId") == 0 || strcmp(c, "UnrecognizedClientException") == 0;
}

static void aws_on_backoff(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    aws_req_t *r = arg;
    aws_step_rate(r);
}

/* Retry after a full-jitter backoff: random in [0, min(max, base * 2^attempt)]. */
static void aws_retry(aws_req_t *r)
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

static void aws_on_done(CURL *easy, CURLcode rc, void *arg)
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
        retry = !r->resp_overflow;
    } else {
        aws_error_of(r, code, sizeof(code), msg, sizeof(msg));
        if (!msg[0])
            snprintf(msg, sizeof(msg), "HTTP %ld", status);
        bool thr = aws_retryable_code(code);
        if (thr && strstr(code, "hrottl"))
            r->bucket->st.throttled++;
        retry = status >= 500 || thr;
        if (aws_creds_code(code) && r->attempt == 1) {
            creds_invalidate();   /* temporary credentials may have rotated: fetch anew once */
            retry = true;
        }
    }
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

static void aws_on_creds(void *arg, const aws_creds_t *c, const char *err)
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

/* Take a token (or queue for one), then fetch credentials. */
static void aws_step_rate(aws_req_t *r)
{
    if (r->st != ST_CREDS) {
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

static void aws_step_send(aws_req_t *r, const char *addr)
{
    char line[512], sig[128];
    r->st = ST_FLIGHT;
    r->errbuf[0] = '\0';
    if (!(r->easy = curl_easy_init()))
        goto oom;
    CURL *e = r->easy;
    if (addr) {
        bool v6 = strchr(addr, ':') != NULL;
        snprintf(line, sizeof(line), "%s:%ld:%s%s%s:%ld", r->host, r->port, v6 ? "[" : "", addr,
                 v6 ? "]" : "", r->port);
        if (!(r->conn_to = curl_slist_append(NULL, line)))
            goto oom;
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, r->conn_to);
    }
    struct curl_slist *h = NULL;
    if (r->content_type) {
        snprintf(line, sizeof(line), "Content-Type: %s", r->content_type);
        h = curl_slist_append(h, line);
    }
    if (r->target && h) {
        snprintf(line, sizeof(line), "X-Amz-Target: %s", r->target);
        h = curl_slist_append(h, line);
    }
    if (r->token_hdr[0] && (h || !r->content_type))
        h = curl_slist_append(h, r->token_hdr);
    /* No "Expect:" line to suppress 100-continue: libcurl 7.88's signer lists
     * every user header in SignedHeaders, even one it then does not send. */
    if (!h && (r->content_type || r->token_hdr[0]))
        goto oom;
    r->hdrs = h;
    snprintf(sig, sizeof(sig), "aws:amz:%s:%s", r->region, r->service);
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_AWS_SIGV4, sig);
    curl_easy_setopt(e, CURLOPT_USERNAME, r->user);
    curl_easy_setopt(e, CURLOPT_PASSWORD, r->pass);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "regiond/" REGIOND_VERSION);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)aws_cfg->aws.request_timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, aws_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_SHARE, loop_share());
    curl_easy_setopt(e, CURLOPT_CAINFO, aws_ca_file);
    curl_easy_setopt(e, CURLOPT_CAPATH, NULL);   /* keeps curl's CA cache on (PEERS.md) */
    if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
    }
    if (loop_start(e, aws_on_done, r) == -1)
        goto oom;
    return;
oom:
    if (r->easy)
        curl_easy_cleanup(r->easy);
    r->easy = NULL;
    aws_finish(r, 0, 0, "Internal", "out of memory");
}

static char *aws_dup(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Base URL of SERVICE in REGION: the config's override or AWS's own. */
static int aws_endpoint(aws_req_t *r, char *err, size_t errlen)
{
    char base[512];
    const char *ov = cfg_aws_endpoint(aws_cfg, r->service, r->region);
    if (ov)
        snprintf(base, sizeof(base), "%s", ov);
    else if (strcmp(r->service, "route53") == 0)
        snprintf(base, sizeof(base), "https://route53.amazonaws.com");
    else
        snprintf(base, sizeof(base), "https://%s.%s.amazonaws.com", r->service, r->region);
    size_t bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        base[--bl] = '\0';
    snprintf(r->url, sizeof(r->url), "%s%s", base, r->path_query);
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    int rc = -1;
    if (u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        snprintf(r->host, sizeof(r->host), "%s", host);
        size_t hl = strlen(host);
        if (host[0] == '[' && hl > 2)
            snprintf(r->lookup, sizeof(r->lookup), "%.*s", (int)(hl - 2), host + 1);
        else
            snprintf(r->lookup, sizeof(r->lookup), "%s", host);
        r->port = strtol(port, NULL, 10);
        unsigned char b[16];
        r->host_is_ip = inet_pton(AF_INET, r->lookup, b) == 1 || inet_pton(AF_INET6, r->lookup, b) == 1;
        rc = 0;
    } else {
        snprintf(err, errlen, "bad endpoint URL %s", base);
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
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
    if (c->body && (r->body = malloc(c->body_len + 1))) {
        memcpy(r->body, c->body, c->body_len);
        r->body[c->body_len] = '\0';
    }
    r->body_len = c->body_len;
    r->proto = c->proto;
    r->done = done;
    r->arg = arg;
    r->start_ms = loop_now_ms();
    r->timer = evtimer_new(loop_base(), aws_on_backoff, r);
    if (!r->service || !r->region || !r->op || !r->method || !r->path_query || !r->timer ||
        (c->body && !r->body) || (c->content_type && !r->content_type) || (c->target && !r->target)) {
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

void aws_get_stats(const char *service, aws_stats_t *st)
{
    for (int i = 0; i < AWS_NBUCKETS; i++)
        if (strcmp(aws_buckets[i].service, service) == 0) {
            *st = aws_buckets[i].st;
            return;
        }
    memset(st, 0, sizeof(*st));
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
