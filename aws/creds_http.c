/* creds_http — the container and IMDSv2 credential fetches (creds_int.h).
 * Each step is one transfer on the daemon's loop; a host name is resolved
 * by the daemon's resolver and handed to curl with CURLOPT_CONNECT_TO, so
 * curl never resolves.  Bodies are capped, secrets wiped before release,
 * and no message carries a body, a token or a key.  What the container
 * source is configured to fetch is worked out in creds_container.c, the
 * document is parsed in creds_json.c. */
#include "aws/creds_int.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/resolver.h"

#define CH_BODY_MAX (64 * 1024)
#define CH_TOKEN_TTL "21600"

typedef enum { CH_CONTAINER, CH_IMDS_TOKEN, CH_IMDS_ROLE, CH_IMDS_CREDS } ch_step_t;

struct creds_http {
    ch_step_t step;
    const char *what;                /* names the source in messages */
    char base[1024];                 /* IMDS endpoint, no trailing '/' */
    char url[2048];                  /* this step's URL */
    char shown[1024];                /* the URL without user info and query, for messages */
    char host[300];                  /* as in the URL (IPv6 in brackets) */
    char lookup[300];                /* for the resolver / inet_pton */
    long port;
    bool need_loopback;
    uint64_t res_id;
    CURL *easy;
    struct curl_slist *headers, *connect_to;
    char *body;
    size_t len, cap;
    bool too_big;
    char errbuf[CURL_ERROR_SIZE];
    char *secret;                    /* Authorization value or IMDS token */
    char role[65];
    uint32_t timeout_ms;
    struct event *later;             /* deferred failure */
    char err[512];
    creds_http_fn fn;
    void *arg;
};

void creds_wipe(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}

static void ch_free_slist(struct curl_slist *l)
{
    for (struct curl_slist *s = l; s; s = s->next)
        creds_wipe(s->data, strlen(s->data));
    curl_slist_free_all(l);
}

/* Drop this step's transfer and body, keep the fetch. */
static void ch_reset_step(creds_http_t *h)
{
    if (h->easy) {
        loop_cancel(h->easy);
        curl_easy_cleanup(h->easy);
        h->easy = NULL;
    }
    ch_free_slist(h->headers);
    h->headers = NULL;
    curl_slist_free_all(h->connect_to);
    h->connect_to = NULL;
    creds_wipe(h->body, h->cap);
    h->len = 0;
    h->too_big = false;
    h->errbuf[0] = '\0';
}

static void ch_free(creds_http_t *h)
{
    if (h->res_id)
        res_cancel(h->res_id);
    ch_reset_step(h);
    free(h->body);
    if (h->secret) {
        creds_wipe(h->secret, strlen(h->secret));
        free(h->secret);
    }
    if (h->later)
        event_free(h->later);
    creds_wipe(h, sizeof(*h));
    free(h);
}

void creds_http_cancel(creds_http_t *h)
{
    if (h)
        ch_free(h);
}

static void ch_finish(creds_http_t *h, const aws_creds_t *c, const char *err)
{
    creds_http_fn fn = h->fn;
    void *arg = h->arg;
    ch_free(h);
    fn(arg, c, err);
}

static void ch_fail(creds_http_t *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ch_fail(creds_http_t *h, const char *fmt, ...)
{
    char msg[480], full[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(full, sizeof(full), "%s: %s", h->what, msg);
    ch_finish(h, NULL, full);
}

static void ch_on_later(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    creds_http_t *h = arg;
    char msg[sizeof(h->err)];
    memcpy(msg, h->err, sizeof(msg));
    ch_finish(h, NULL, msg);
}

/* Fail from the loop, not from the caller's stack (start, resolver). */
static void ch_fail_later(creds_http_t *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void ch_fail_later(creds_http_t *h, const char *fmt, ...)
{
    char msg[480];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(h->err, sizeof(h->err), "%s: %s", h->what, msg);
    struct timeval now = {0, 0};
    if (evtimer_add(h->later, &now) == -1)
        log_fatal_oom("creds: deferred failure event");
}

/* Split h->url with libcurl's URL API into host/port and the shown form. */
static int ch_set_url(creds_http_t *h, const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    int rc = -1;
    snprintf(h->url, sizeof(h->url), "%s", url);
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
        goto out;
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        goto out;
    snprintf(h->host, sizeof(h->host), "%s", host);
    size_t hl = strlen(host);
    if (host[0] == '[' && hl > 2)
        snprintf(h->lookup, sizeof(h->lookup), "%.*s", (int)(hl - 2), host + 1);
    else
        snprintf(h->lookup, sizeof(h->lookup), "%s", host);
    h->port = strtol(port, NULL, 10);
    snprintf(h->shown, sizeof(h->shown), "%s://%s:%ld%s", scheme, host, h->port, path);
    rc = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

static size_t ch_on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    creds_http_t *h = userp;
    size_t n = size * nmemb;
    if (n > CH_BODY_MAX - h->len) {
        h->too_big = true;
        return 0;
    }
    if (h->len + n + 1 > h->cap) {
        /* Grow by hand, not realloc: the old block may hold a secret. */
        size_t cap = h->cap ? h->cap : 4096;
        while (cap < h->len + n + 1)
            cap *= 2;
        char *nb = malloc(cap);
        if (!nb)
            return 0;
        if (h->body)
            memcpy(nb, h->body, h->len);
        creds_wipe(h->body, h->cap);
        free(h->body);
        h->body = nb;
        h->cap = cap;
    }
    memcpy(h->body + h->len, data, n);
    h->len += n;
    h->body[h->len] = '\0';
    return n;
}

static int ch_header(creds_http_t *h, const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = malloc(n);
    if (!line)
        return -1;
    snprintf(line, n, "%s: %s", name, value);
    struct curl_slist *l = curl_slist_append(h->headers, line);
    creds_wipe(line, n);
    free(line);
    if (!l)
        return -1;
    h->headers = l;
    return 0;
}

static int ch_setup(creds_http_t *h, const char *addr)
{
    CURL *e = h->easy;
    if (addr) {
        char line[600];
        bool v6 = strchr(addr, ':') != NULL;
        snprintf(line, sizeof(line), "%s:%ld:%s%s%s:%ld", h->host, h->port, v6 ? "[" : "", addr,
                 v6 ? "]" : "", h->port);
        if (!(h->connect_to = curl_slist_append(NULL, line)))
            return -1;
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, h->connect_to);
    }
    if (h->step == CH_IMDS_TOKEN) {
        if (ch_header(h, "X-aws-ec2-metadata-token-ttl-seconds", CH_TOKEN_TTL) == -1 ||
            !(h->headers = curl_slist_append(h->headers, "Content-Type:")))
            return -1;
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
    } else if (h->secret) {
        const char *name = h->step == CH_CONTAINER ? "Authorization" : "X-aws-ec2-metadata-token";
        if (ch_header(h, name, h->secret) == -1)
            return -1;
    }
    curl_easy_setopt(e, CURLOPT_URL, h->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "regiond/" REGIOND_VERSION);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)h->timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ch_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(e, CURLOPT_SHARE, loop_share());
    return 0;
}

static void ch_on_done(CURL *easy, CURLcode rc, void *arg);

static void ch_transfer(creds_http_t *h, const char *addr)
{
    if (!(h->easy = curl_easy_init()) || ch_setup(h, addr) == -1) {
        ch_fail_later(h, "out of memory");
        return;
    }
    if (loop_start(h->easy, ch_on_done, h) == -1)
        ch_fail_later(h, "cannot start transfer (out of memory)");
}

bool creds_is_loopback(const char *addr)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, addr, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    return inet_pton(AF_INET6, addr, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static void ch_on_resolved(void *arg, const res_answer_t *ans)
{
    creds_http_t *h = arg;
    h->res_id = 0;
    if (!ans->ok) {
        ch_fail_later(h, "%s", ans->error);
        return;
    }
    const char *addr = ans->addrs[0].text;
    if (h->need_loopback) {
        addr = NULL;
        for (size_t i = 0; i < ans->n && !addr; i++)
            if (creds_is_loopback(ans->addrs[i].text))
                addr = ans->addrs[i].text;
        if (!addr) {
            ch_fail_later(h, "%s resolves to no loopback address (plain http is allowed only "
                          "to loopback and the ECS/EKS addresses)", h->lookup);
            return;
        }
    }
    ch_transfer(h, addr);
}

/* Start the current step: resolve a name first, an IP literal goes as is. */
static void ch_step_start(creds_http_t *h, const char *url)
{
    unsigned char buf[16];
    ch_reset_step(h);
    if (ch_set_url(h, url) == -1) {
        ch_fail_later(h, "invalid URL");
        return;
    }
    if (inet_pton(AF_INET, h->lookup, buf) == 1 || inet_pton(AF_INET6, h->lookup, buf) == 1) {
        ch_transfer(h, NULL);
        return;
    }
    uint64_t id = res_lookup(h->lookup, 0, ch_on_resolved, h);
    if (id)
        h->res_id = id;
}

void creds_trim(char *s)
{
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
}

static void ch_got_token(creds_http_t *h)
{
    creds_trim(h->body);
    size_t n = strlen(h->body);
    if (n == 0 || n > 1024 || strspn(h->body,
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-.") != n) {
        ch_fail(h, "unusable token from %s", h->shown);
        return;
    }
    if (!(h->secret = strdup(h->body))) {
        ch_fail(h, "out of memory");
        return;
    }
    h->step = CH_IMDS_ROLE;
    char url[1200];
    snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/", h->base);
    ch_step_start(h, url);
}

static void ch_got_role(creds_http_t *h)
{
    size_t n = strcspn(h->body, "\r\n");
    static const char ok[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+=,.@_-";
    if (n == 0 || n >= sizeof(h->role) || strspn(h->body, ok) < n ||
        strspn(h->body, ".") == n) {   /* "." or "..": a path step, not a role */
        ch_fail(h, "no usable IAM role name from %s", h->shown);
        return;
    }
    memcpy(h->role, h->body, n);
    h->role[n] = '\0';
    h->step = CH_IMDS_CREDS;
    char url[1200];
    snprintf(url, sizeof(url), "%s/latest/meta-data/iam/security-credentials/%s", h->base, h->role);
    ch_step_start(h, url);
}

static void ch_got_creds(creds_http_t *h)
{
    aws_creds_t c;
    char err[256];
    if (creds_parse_json(h->body, h->len, h->what, &c, err, sizeof(err)) == -1) {
        ch_finish(h, NULL, err);
        return;
    }
    if (h->step == CH_CONTAINER)
        snprintf(c.source, sizeof(c.source), "container");
    else
        snprintf(c.source, sizeof(c.source), "imds:%.42s", h->role);
    ch_finish(h, &c, NULL);
    creds_wipe(&c, sizeof(c));
}

static const char *ch_hint(const creds_http_t *h, long status)
{
    if (h->step == CH_IMDS_ROLE && status == 404)
        return " (no IAM role attached to the instance?)";
    if (h->step == CH_IMDS_TOKEN && (status == 403 || status == 405))
        return " (IMDSv2 disabled, or hop limit too low?)";
    return "";
}

static void ch_on_done(CURL *easy, CURLcode rc, void *arg)
{
    creds_http_t *h = arg;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) {
        if (h->too_big)
            ch_fail(h, "response from %s larger than %d KiB", h->shown, CH_BODY_MAX / 1024);
        else if (rc == CURLE_OPERATION_TIMEDOUT)
            ch_fail(h, "timeout after %u ms from %s", h->timeout_ms, h->shown);
        else
            ch_fail(h, "%s from %s", h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc), h->shown);
        return;
    }
    if (status != 200) {
        ch_fail(h, "HTTP %ld from %s%s", status, h->shown, ch_hint(h, status));
        return;
    }
    if (h->len == 0 || memchr(h->body, '\0', h->len)) {
        ch_fail(h, "%s response from %s", h->len ? "binary" : "empty", h->shown);
        return;
    }
    switch (h->step) {
    case CH_IMDS_TOKEN: ch_got_token(h); break;
    case CH_IMDS_ROLE: ch_got_role(h); break;
    default: ch_got_creds(h); break;
    }
}

static creds_http_t *ch_new(const char *what, uint32_t timeout_ms, creds_http_fn fn, void *arg,
                            char *err, size_t errlen)
{
    creds_http_t *h = calloc(1, sizeof(*h));
    if (!h || !(h->later = evtimer_new(loop_base(), ch_on_later, h))) {
        free(h);
        snprintf(err, errlen, "%s: out of memory", what);
        return NULL;
    }
    h->what = what;
    h->timeout_ms = timeout_ms;
    h->fn = fn;
    h->arg = arg;
    return h;
}

creds_http_t *creds_http_container(uint32_t timeout_ms, creds_http_fn fn, void *arg, char *err,
                                   size_t errlen)
{
    char url[2048];
    bool need_loopback;
    char *auth = NULL;
    if (creds_container_cfg(url, sizeof(url), &need_loopback, &auth, err, errlen) != 1)
        return NULL;
    creds_http_t *h = ch_new("container credentials", timeout_ms, fn, arg, err, errlen);
    if (h) {
        h->step = CH_CONTAINER;
        h->need_loopback = need_loopback;
        h->secret = auth;
        auth = NULL;
        ch_step_start(h, url);
    }
    if (auth) {
        creds_wipe(auth, strlen(auth));
        free(auth);
    }
    return h;
}

creds_http_t *creds_http_imds(const char *endpoint, uint32_t timeout_ms, creds_http_fn fn,
                              void *arg, char *err, size_t errlen)
{
    creds_http_t *h = ch_new("instance metadata (IMDSv2)", timeout_ms, fn, arg, err, errlen);
    if (!h)
        return NULL;
    h->step = CH_IMDS_TOKEN;
    snprintf(h->base, sizeof(h->base), "%s", endpoint);
    size_t n = strlen(h->base);
    while (n && h->base[n - 1] == '/')
        h->base[--n] = '\0';
    char url[1200];
    snprintf(url, sizeof(url), "%s/latest/api/token", h->base);
    ch_step_start(h, url);
    return h;
}
