/* alarm_hook — the delivery half of alarm (see alarm.h).  Each webhook walks
 * its queue one message at a time: (backoff) -> address -> transfer -> next.
 * Nothing starts inside a caller: the first step always runs from a timer on
 * the loop.  Never logged: a webhook's URL, its routing key, a message body. */
#include "core/alarm.h"
#include "core/alarm_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/resolver.h"

typedef enum { HS_IDLE, HS_WAIT, HS_DNS, HS_FLIGHT } hook_st_t;

/* One webhook.  Owner: the hooks array; its messages are its own. */
typedef struct hook {
    char *name, *url, *routing_key;   /* url and routing_key wiped on free */
    cfg_hook_kind_t kind;
    uint32_t timeout_ms, max_attempts;
    cfg_severity_t min_severity;
    char host[256], lookup[256];
    long port;
    bool host_is_ip;
    alarm_msg_t *head, *tail;         /* head is the one being delivered */
    size_t queued;
    hook_st_t st;
    unsigned attempt;
    uint64_t attempt_ms;              /* when the current attempt started */
    CURL *easy;
    struct curl_slist *hdrs, *conn_to;
    char *body;
    struct event *timer;
    uint64_t res_waiter;
    uint64_t counts[ALARM_DELIV_N];
} hook_t;

static hook_t **hooks;
static size_t n_hooks;
static uint32_t queue_max = 100, retry_base_ms = 1000, retry_max_ms = 60000;
static uint64_t rnd_state;

static const char *const kind_names[] = { "json", "slack", "pagerduty" };

static void hook_attempt(hook_t *h);

static uint64_t hook_rand(void)
{
    if (!rnd_state)
        rnd_state = loop_now_ms() * 6364136223846793005ull + (uint64_t)getpid() + 1;
    rnd_state ^= rnd_state << 13, rnd_state ^= rnd_state >> 7, rnd_state ^= rnd_state << 17;
    return rnd_state;
}

static void hook_wipe(char *s)
{
    if (s)
        explicit_bzero(s, strlen(s));
    free(s);
}

/* Drop the current transfer or lookup (the message stays queued). */
static void hook_stop(hook_t *h)
{
    if (h->easy) {
        loop_cancel(h->easy);
        curl_easy_cleanup(h->easy);
        h->easy = NULL;
    }
    curl_slist_free_all(h->hdrs);
    curl_slist_free_all(h->conn_to);
    h->hdrs = h->conn_to = NULL;
    hook_wipe(h->body);
    h->body = NULL;
    res_cancel(h->res_waiter);
    h->res_waiter = 0;
    if (h->timer)
        evtimer_del(h->timer);
    h->st = HS_IDLE;
}

static void hook_free(hook_t *h)
{
    if (!h)
        return;
    hook_stop(h);
    while (h->head) {
        alarm_msg_t *m = h->head;
        h->head = m->next;
        alarm_msg_free(m);
    }
    if (h->timer)
        event_free(h->timer);
    free(h->name);
    hook_wipe(h->url);
    hook_wipe(h->routing_key);
    free(h);
}

/* Wait DELAY ms on the loop, then attempt the head message. */
static void hook_wait(hook_t *h, uint64_t delay)
{
    struct timeval tv = { (time_t)(delay / 1000), (suseconds_t)(delay % 1000) * 1000 };
    h->st = HS_WAIT;
    evtimer_add(h->timer, &tv);
}

/* Start on the head message if idle. */
static void hook_kick(hook_t *h)
{
    if (h->st == HS_IDLE && h->head) {
        h->attempt = 0;
        hook_wait(h, 0);
    }
}

/* The head message is done with RESULT: count, log, go on to the next. */
static void hook_finish(hook_t *h, alarm_deliv_t result, long status, const char *err)
{
    alarm_msg_t *m = h->head;
    h->counts[result]++;
    log_msg(result == ALARM_DELIV_OK ? LOG_INFO : LOG_WARNING,
            "msg=\"alarm %s\" webhook=%s kind=%s key=%s state=%s result=%s attempts=%u status=%ld%s%s%s",
            result == ALARM_DELIV_OK ? "delivered" : "not delivered", h->name, kind_names[h->kind], m->key,
            m->firing ? "firing" : "resolved", alarm_deliv_str(result), h->attempt, status,
            err ? " error=\"" : "", err ? err : "", err ? "\"" : "");
    h->head = m->next;
    if (!h->head)
        h->tail = NULL;
    h->queued--;
    alarm_msg_free(m);
    h->st = HS_IDLE;
    hook_kick(h);
}

/* An attempt failed in a way worth retrying: back off, or give up. */
static void hook_failed(hook_t *h, long status, const char *err)
{
    if (h->attempt >= h->max_attempts) {
        hook_finish(h, ALARM_DELIV_FAILED, status, err);
        return;
    }
    uint64_t d = retry_base_ms;
    for (unsigned i = 1; i < h->attempt && d < retry_max_ms; i++)
        d *= 2;
    if (d > retry_max_ms)
        d = retry_max_ms;
    uint64_t delay = d / 2 + hook_rand() % (d / 2 + 1);   /* equal jitter: gaps still grow */
    h->counts[ALARM_DELIV_RETRY]++;
    log_msg(LOG_NOTICE, "msg=\"alarm delivery failed, retrying\" webhook=%s key=%s attempt=%u status=%ld "
            "error=\"%s\" retry_in_ms=%llu", h->name, h->head->key, h->attempt, status, err ? err : "",
            (unsigned long long)delay);
    hook_wait(h, delay);
}

static size_t hook_discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p, (void)arg;
    return size * n;
}

static void hook_on_done(CURL *easy, CURLcode rc, void *arg)
{
    hook_t *h = arg;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(easy);
    h->easy = NULL;
    hook_stop(h);
    if (rc != CURLE_OK)
        hook_failed(h, 0, curl_easy_strerror(rc));   /* generic text: never the URL */
    else if (status >= 200 && status < 300)
        hook_finish(h, ALARM_DELIV_OK, status, NULL);
    else if (status >= 500 || status == 408 || status == 429)
        hook_failed(h, status, "HTTP error");
    else
        hook_finish(h, ALARM_DELIV_REJECTED, status, "HTTP error");
}

static void hook_send(hook_t *h, const char *addr)
{
    char line[600];
    h->st = HS_FLIGHT;
    h->body = alarm_body(h->head, h->kind, alarm_controller_id(), h->routing_key);
    if (!h->body || !(h->easy = curl_easy_init()))
        goto oom;
    CURL *e = h->easy;
    if (addr) {
        bool v6 = strchr(addr, ':') != NULL;
        snprintf(line, sizeof line, "%s:%ld:%s%s%s:%ld", h->host, h->port, v6 ? "[" : "", addr, v6 ? "]" : "",
                 h->port);
        if (!(h->conn_to = curl_slist_append(NULL, line)))
            goto oom;
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, h->conn_to);
    }
    if (!(h->hdrs = curl_slist_append(NULL, "Content-Type: application/json"))
        || !curl_slist_append(h->hdrs, "Expect:"))
        goto oom;
    curl_easy_setopt(e, CURLOPT_URL, h->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->hdrs);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "regiond/" REGIOND_VERSION);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, hook_discard);
    curl_easy_setopt(e, CURLOPT_SHARE, loop_share());
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(h->body));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, h->body);
    if (loop_start(e, hook_on_done, h) == -1)
        goto oom;
    return;
oom:
    hook_stop(h);
    hook_failed(h, 0, "out of memory");
}

static void hook_on_resolved(void *arg, const res_answer_t *ans)
{
    hook_t *h = arg;
    h->res_waiter = 0;
    if (!ans->ok) {
        h->st = HS_IDLE;
        hook_failed(h, 0, ans->error);   /* names the host only */
        return;
    }
    hook_send(h, ans->addrs[0].text);
}

static void hook_attempt(hook_t *h)
{
    h->attempt++;
    h->attempt_ms = loop_now_ms();
    if (h->host_is_ip) {
        hook_send(h, NULL);
        return;
    }
    h->st = HS_DNS;
    uint64_t id = res_lookup(h->lookup, 0, hook_on_resolved, h);
    if (id)   /* 0: the callback already ran */
        h->res_waiter = id;
}

static void hook_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    hook_t *h = arg;
    h->st = HS_IDLE;
    if (h->head)
        hook_attempt(h);
}

/* Host, port and lookup name of the webhook's URL.  0 or -1. */
static int hook_parse_url(hook_t *h)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    int rc = -1;
    if (u && curl_url_set(u, CURLUPART_URL, h->url, 0) == CURLUE_OK
        && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK
        && curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
        unsigned char b[16];
        size_t hl = strlen(host);
        snprintf(h->host, sizeof h->host, "%s", host);
        if (host[0] == '[' && hl > 2)
            snprintf(h->lookup, sizeof h->lookup, "%.*s", (int)(hl - 2), host + 1);
        else
            snprintf(h->lookup, sizeof h->lookup, "%s", host);
        h->port = strtol(port, NULL, 10);
        h->host_is_ip = inet_pton(AF_INET, h->lookup, b) == 1 || inet_pton(AF_INET6, h->lookup, b) == 1;
        rc = 0;
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

static hook_t *hook_new(const cfg_webhook_t *w)
{
    hook_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->name = strdup(w->name);
    h->url = strdup(w->url);
    h->routing_key = w->routing_key.value ? strdup(w->routing_key.value) : NULL;
    h->kind = w->kind;
    h->timeout_ms = w->timeout_ms;
    h->max_attempts = w->max_attempts ? w->max_attempts : 1;
    h->min_severity = w->min_severity;
    h->timer = evtimer_new(loop_base(), hook_on_timer, h);
    if (!h->name || !h->url || (w->routing_key.value && !h->routing_key) || !h->timer || hook_parse_url(h) == -1) {
        hook_free(h);
        return NULL;
    }
    return h;
}

/* Drop the oldest message of H that is not being delivered. */
static void hook_drop_oldest(hook_t *h)
{
    alarm_msg_t **pp = h->st == HS_IDLE ? &h->head : &h->head->next, *m = *pp;
    if (!m)
        return;
    *pp = m->next;
    h->tail = NULL;
    for (alarm_msg_t *t = h->head; t; t = t->next)
        h->tail = t;
    h->queued--;
    h->counts[ALARM_DELIV_DROPPED]++;
    log_msg(LOG_WARNING, "msg=\"alarm dropped\" webhook=%s key=%s state=%s reason=queue_full queue_max=%u",
            h->name, m->key, m->firing ? "firing" : "resolved", queue_max);
    alarm_msg_free(m);
}

static void hook_push(hook_t *h, alarm_msg_t *m)
{
    if (h->tail)
        h->tail->next = m;
    else
        h->head = m;
    h->tail = m;
    h->queued++;
}

void alarm_hook_enqueue(const alarm_msg_t *m)
{
    for (size_t i = 0; i < n_hooks; i++) {
        hook_t *h = hooks[i];
        if (m->severity < h->min_severity)
            continue;
        alarm_msg_t *c = calloc(1, sizeof *c);
        if (c) {
            *c = *m;
            c->next = NULL;
            c->key = strdup(m->key);
            c->summary = strdup(m->summary);
            c->details = m->details ? cJSON_Duplicate(m->details, 1) : NULL;
        }
        if (!c || !c->key || !c->summary || (m->details && !c->details)) {
            alarm_msg_free(c);
            h->counts[ALARM_DELIV_DROPPED]++;
            log_msg(LOG_ERR, "msg=\"alarm dropped\" webhook=%s key=%s reason=out_of_memory", h->name, m->key);
            continue;
        }
        while (h->queued >= queue_max && h->queued > (h->st != HS_IDLE))
            hook_drop_oldest(h);
        if (h->queued >= queue_max) {   /* only the one in flight is left (queue_max 1) */
            h->counts[ALARM_DELIV_DROPPED]++;
            log_msg(LOG_WARNING, "msg=\"alarm dropped\" webhook=%s key=%s reason=queue_full queue_max=%u",
                    h->name, c->key, queue_max);
            alarm_msg_free(c);
            continue;
        }
        hook_push(h, c);
        hook_kick(h);
    }
}

int alarm_hook_configure(const cfg_t *cfg)
{
    const cfg_alarms_t *a = cfg ? &cfg->alarms : NULL;
    size_t n = a ? a->n_webhooks : 0;
    hook_t **nh = n ? calloc(n, sizeof *nh) : NULL;
    if (n && !nh)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!(nh[i] = hook_new(&a->webhooks[i]))) {
            while (i--)
                hook_free(nh[i]);
            free(nh);
            return -1;
        }
    if (a) {
        queue_max = a->queue_max ? a->queue_max : 100;
        retry_base_ms = a->retry_base_ms ? a->retry_base_ms : 1000;
        retry_max_ms = a->retry_max_ms >= retry_base_ms ? a->retry_max_ms : retry_base_ms;
    }
    /* A webhook of the same name keeps its messages and counters; one in
     * flight is sent again from its first attempt (at least once). */
    for (size_t i = 0; i < n_hooks; i++) {
        hook_t *o = hooks[i];
        hook_stop(o);
        for (size_t j = 0; j < n; j++)
            if (strcmp(nh[j]->name, o->name) == 0) {
                nh[j]->head = o->head, nh[j]->tail = o->tail, nh[j]->queued = o->queued;
                memcpy(nh[j]->counts, o->counts, sizeof o->counts);
                o->head = o->tail = NULL, o->queued = 0;
            }
        if (o->queued) {
            o->counts[ALARM_DELIV_DROPPED] += o->queued;
            log_msg(LOG_WARNING, "msg=\"alarm webhook removed\" webhook=%s dropped=%zu", o->name, o->queued);
        }
        hook_free(o);
    }
    free(hooks);
    hooks = nh;
    n_hooks = n;
    for (size_t i = 0; i < n; i++)
        hook_kick(hooks[i]);
    return 0;
}

void alarm_hook_fini(void)
{
    for (size_t i = 0; i < n_hooks; i++)
        hook_free(hooks[i]);
    free(hooks);
    hooks = NULL;
    n_hooks = 0;
}

void alarm_hook_status(cJSON *arr)
{
    for (size_t i = 0; i < n_hooks; i++) {
        const hook_t *h = hooks[i];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return;
        cJSON_AddStringToObject(o, "name", h->name);
        cJSON_AddStringToObject(o, "kind", kind_names[h->kind]);
        cJSON_AddStringToObject(o, "min_severity", alarm_sev_str(h->min_severity));
        cJSON_AddNumberToObject(o, "queued", (double)h->queued);
        for (int r = 0; r < ALARM_DELIV_N; r++)
            cJSON_AddNumberToObject(o, alarm_deliv_str((alarm_deliv_t)r), (double)h->counts[r]);
        cJSON_AddItemToArray(arr, o);
    }
}

void alarm_hook_metrics(struct evbuffer *b)
{
    evbuffer_add_printf(b, "# HELP regiond_alarm_deliveries_total Alarm messages per webhook by outcome "
                           "(retry counts failed attempts that were retried).\n"
                           "# TYPE regiond_alarm_deliveries_total counter\n");
    for (size_t i = 0; i < n_hooks; i++)
        for (int r = 0; r < ALARM_DELIV_N; r++)
            evbuffer_add_printf(b, "regiond_alarm_deliveries_total{webhook=\"%s\",result=\"%s\"} %llu\n",
                                hooks[i]->name, alarm_deliv_str((alarm_deliv_t)r),
                                (unsigned long long)hooks[i]->counts[r]);
}
