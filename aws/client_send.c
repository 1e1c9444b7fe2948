/* client_send — one attempt's transfer: the endpoint's URL, host and port,
 * the headers, libcurl's own SigV4 signing (CURLOPT_AWS_SIGV4), the address
 * the resolver found (CURLOPT_CONNECT_TO) and the answer's body. */
#include "aws/client.h"
#include "aws/client_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "core/loop.h"

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
void aws_step_send(aws_req_t *r, const char *addr)
{
    char line[512], sig[128];
    if (aws_window_shut(r, "before the transfer"))   /* the credentials or the address took until after the window */
        return;
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
    if (r->once || aws_op_not_resent(r->op))   /* libcurl silently resends a request whose reused connection died */
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
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
/* Base URL of SERVICE in REGION: the config's override or AWS's own. */
int aws_endpoint(aws_req_t *r, char *err, size_t errlen)
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