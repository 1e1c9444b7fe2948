/* probe_http — see http.h.  One file per check kind, as in relayd. */
#include "probes/http.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/log.h"
#include "core/loop.h"

struct probe_http {
    CURL *easy;
    struct curl_slist *headers;
    struct curl_slist *connect_to;
    probe_spec_t spec;
    probe_done_fn done;
    void *arg;
    char *body;
    size_t len, cap;
    bool truncated;
    char addr[48];
    bool full_handshake;
    int sock_errno;          /* socket() failed with this (EMFILE: out of descriptors) */
    bool oom;                /* the body buffer could not grow */
    char errbuf[CURL_ERROR_SIZE];
};

static const char *const probe_outcome_names[PROBE_OUTCOME_COUNT] = {
    "ok", "slow", "dns", "connect", "tls", "timeout", "http_status", "body", "recv", "internal",
};

const char *probe_outcome_str(probe_outcome_t o)
{
    return (unsigned)o < PROBE_OUTCOME_COUNT ? probe_outcome_names[o] : "invalid";
}

static size_t probe_on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    probe_http_t *p = userp;
    size_t n = size * nmemb;
    size_t room = p->spec.api->max_body_bytes - p->len;
    size_t take = n < room ? n : room;
    if (take > 0) {
        if (p->len + take + 1 > p->cap) {
            size_t cap = p->cap ? p->cap : 4096;
            while (cap < p->len + take + 1)
                cap *= 2;
            if (cap > (size_t)p->spec.api->max_body_bytes + 1)
                cap = (size_t)p->spec.api->max_body_bytes + 1;
            char *nb = realloc(p->body, cap);
            if (!nb) {
                p->oom = true;
                return 0;   /* reported as a write error; judged as internal */
            }
            p->body = nb;
            p->cap = cap;
        }
        memcpy(p->body + p->len, data, take);
        p->len += take;
        p->body[p->len] = '\0';
    }
    if (take < n) {
        p->truncated = true;   /* enough read: stop the transfer here */
        return 0;
    }
    return n;
}

/* curl's own socket() failure reads "connect: failed" with no errno: open
 * the socket here to know why. */
static curl_socket_t probe_open_socket(void *userp, curlsocktype purpose, struct curl_sockaddr *a)
{
    probe_http_t *p = userp;
    (void)purpose;
    curl_socket_t fd = socket(a->family, a->socktype, a->protocol);
    if (fd == CURL_SOCKET_BAD)
        p->sock_errno = errno;
    return fd;
}

static double probe_ms(CURL *easy, CURLINFO what)
{
    curl_off_t us = 0;
    if (curl_easy_getinfo(easy, what, &us) != CURLE_OK || us <= 0)
        return -1;
    return (double)us / 1000.0;
}

/* Days until the leaf certificate's notAfter, from CURLINFO_CERTINFO. */
static double probe_cert_days(CURL *easy)
{
    struct curl_certinfo *ci = NULL;
    if (curl_easy_getinfo(easy, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci || ci->num_of_certs < 1)
        return NAN;
    for (struct curl_slist *s = ci->certinfo[0]; s; s = s->next) {
        if (strncmp(s->data, "Expire date:", 12) != 0)
            continue;
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        /* OpenSSL's ASN1_TIME_print form: "Nov 24 23:51:59 2027 GMT" */
        if (!strptime(s->data + 12, "%b %d %H:%M:%S %Y GMT", &tm))
            return NAN;
        time_t t = timegm(&tm);
        return difftime(t, time(NULL)) / 86400.0;
    }
    return NAN;
}

static bool probe_status_ok(const cfg_api_t *api, long status)
{
    for (size_t i = 0; i < api->n_expect_status; i++)
        if (api->expect_status[i] == status)
            return true;
    return false;
}

void probe_http_judge(const probe_spec_t *spec, probe_result_t *r, const char *body, size_t len)
{
    const cfg_api_t *api = spec->api;
    const char *more = r->body_truncated ? " in the first bytes read" : "";
    if (!probe_status_ok(api, r->http_status)) {
        r->outcome = PROBE_HTTP_STATUS;
        snprintf(r->reason, sizeof(r->reason), "http: status %ld", r->http_status);
    } else if (api->body_contains &&
               (!body || !memmem(body, len, api->body_contains, strlen(api->body_contains)))) {
        r->outcome = PROBE_BODY;
        snprintf(r->reason, sizeof(r->reason), "body: '%.80s' not found%s", api->body_contains, more);
    } else if (spec->regex && (!body || regexec(spec->regex, body, 0, NULL, 0) != 0)) {
        r->outcome = PROBE_BODY;
        snprintf(r->reason, sizeof(r->reason), "body: no match for /%.80s/%s", api->body_regex, more);
    } else if (api->latency_ms_max && r->total_ms > api->latency_ms_max) {
        r->outcome = PROBE_SLOW;
        snprintf(r->reason, sizeof(r->reason), "latency: %.0f ms > %u ms", r->total_ms,
                 api->latency_ms_max);
    } else {
        r->outcome = PROBE_OK;
        snprintf(r->reason, sizeof(r->reason), "ok");
    }
}

static const char *probe_tls_detail(const char *errbuf)
{
    const char *k = strstr(errbuf, "SSL certificate problem: ");
    if (k)
        return k + strlen("SSL certificate problem: ");
    return errbuf[0] ? errbuf : "handshake failed";
}

/* Errors of this machine, not of the target: out of descriptors, memory
 * or local ports, our own CA file unreadable, a curl setup error.  They
 * are `internal`, which the caller keeps out of the target's health. */
static bool probe_local_failure(probe_http_t *p, CURLcode rc, long oserr, probe_result_t *r)
{
    const char *why = NULL;
    if (p->oom || rc == CURLE_OUT_OF_MEMORY)
        why = "out of memory";
    else if (oserr == EMFILE || oserr == ENFILE || oserr == ENOMEM || oserr == ENOBUFS || oserr == EADDRNOTAVAIL)
        why = strerror((int)oserr);
    else if (rc == CURLE_SSL_CACERT_BADFILE)
        why = "cannot read tls.ca_file";
    else if (rc == CURLE_FAILED_INIT || rc == CURLE_BAD_FUNCTION_ARGUMENT || rc == CURLE_UNKNOWN_OPTION ||
             rc == CURLE_SSL_ENGINE_INITFAILED || rc == CURLE_NOT_BUILT_IN)
        why = curl_easy_strerror(rc);
    if (!why)
        return false;
    r->outcome = PROBE_INTERNAL;
    snprintf(r->reason, sizeof(r->reason), "internal: %.200s", why);
    return true;
}

/* Map a failed transfer to an outcome and a reason. */
static void probe_classify(probe_http_t *p, CURLcode rc, probe_result_t *r)
{
    const cfg_api_t *api = p->spec.api;
    long oserr = 0;
    curl_easy_getinfo(p->easy, CURLINFO_OS_ERRNO, &oserr);
    if (p->sock_errno && rc == CURLE_COULDNT_CONNECT) {
        /* Our side, not the target's: out of descriptors, most likely. */
        r->outcome = PROBE_INTERNAL;
        snprintf(r->reason, sizeof(r->reason), "internal: cannot open a socket: %s",
                 strerror(p->sock_errno));
        return;
    }
    if (probe_local_failure(p, rc, oserr, r))
        return;
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        r->outcome = PROBE_CONNECT;
        snprintf(r->reason, sizeof(r->reason), "connect: %s",
                 oserr == ECONNREFUSED ? "refused"
                 : oserr == EHOSTUNREACH ? "host unreachable"
                 : oserr == ENETUNREACH ? "network unreachable"
                 : oserr ? strerror((int)oserr) : "failed");
        break;
    case CURLE_OPERATION_TIMEDOUT:
        r->outcome = PROBE_TIMEOUT;
        if (r->connect_ms < 0)
            snprintf(r->reason, sizeof(r->reason), "connect: timeout after %u ms",
                     api->connect_timeout_ms);
        else if (p->spec.https && r->tls_ms < 0)
            snprintf(r->reason, sizeof(r->reason), "tls: handshake timeout after %u ms",
                     api->timeout_ms);
        else
            snprintf(r->reason, sizeof(r->reason), "timeout after %u ms (%s)", api->timeout_ms,
                     r->ttfb_ms < 0 ? "no response" : "body incomplete");
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
        r->outcome = PROBE_TLS;
        snprintf(r->reason, sizeof(r->reason), "tls: certificate verify failed (%.180s)",
                 probe_tls_detail(p->errbuf));
        break;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
        r->outcome = PROBE_TLS;
        snprintf(r->reason, sizeof(r->reason), "tls: %.200s", probe_tls_detail(p->errbuf));
        break;
    case CURLE_GOT_NOTHING:
        r->outcome = PROBE_RECV;
        snprintf(r->reason, sizeof(r->reason), "http: empty reply");
        break;
    default:
        r->outcome = PROBE_RECV;
        snprintf(r->reason, sizeof(r->reason), "%s: %.180s",
                 rc == CURLE_RECV_ERROR ? "recv" : rc == CURLE_SEND_ERROR ? "send" : "http",
                 p->errbuf[0] ? p->errbuf : curl_easy_strerror(rc));
        break;
    }
}

static void probe_free(probe_http_t *p)
{
    curl_easy_cleanup(p->easy);
    curl_slist_free_all(p->headers);
    curl_slist_free_all(p->connect_to);
    free(p->body);
    free(p);
}

static void probe_on_done(CURL *easy, CURLcode rc, void *arg)
{
    probe_http_t *p = arg;
    probe_result_t r;
    memset(&r, 0, sizeof(r));
    snprintf(r.addr, sizeof(r.addr), "%s", p->addr);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.http_status);
    r.dns_ms = probe_ms(easy, CURLINFO_NAMELOOKUP_TIME_T);
    r.connect_ms = probe_ms(easy, CURLINFO_CONNECT_TIME_T);
    r.tls_ms = p->spec.https ? probe_ms(easy, CURLINFO_APPCONNECT_TIME_T) : -1;
    r.ttfb_ms = probe_ms(easy, CURLINFO_STARTTRANSFER_TIME_T);
    r.total_ms = probe_ms(easy, CURLINFO_TOTAL_TIME_T);
    r.body_bytes = p->len;
    r.body_truncated = p->truncated;
    /* Only what happened counts: a new connection whose TLS handshake ran
     * with session reuse off (a reused connection has no handshake). */
    long conns = 0;
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &conns);
    r.full_handshake = p->full_handshake && p->spec.https && conns > 0 && r.tls_ms > 0;
    r.cert_expiry_days = NAN;
    if (r.full_handshake)
        r.cert_expiry_days = probe_cert_days(easy);
    if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && p->truncated))
        probe_http_judge(&p->spec, &r, p->body, p->len);
    else
        probe_classify(p, rc, &r);
    probe_done_fn done = p->done;
    void *darg = p->arg;
    probe_free(p);
    done(darg, &r);
}

static int probe_setup(probe_http_t *p, const char *addr)
{
    const cfg_api_t *api = p->spec.api;
    CURL *e = p->easy;
    char line[8192];
    for (size_t i = 0; i < api->n_headers; i++) {
        if (api->headers[i].value[0])
            snprintf(line, sizeof(line), "%s: %s", api->headers[i].name, api->headers[i].value);
        else
            snprintf(line, sizeof(line), "%s;", api->headers[i].name);
        struct curl_slist *n = curl_slist_append(p->headers, line);
        if (!n)
            return -1;
        p->headers = n;
    }
    if (addr) {
        bool v6 = strchr(addr, ':') != NULL;
        snprintf(line, sizeof(line), "%s:%ld:%s%s%s:%ld", p->spec.host, p->spec.port,
                 v6 ? "[" : "", addr, v6 ? "]" : "", p->spec.port);
        if (!(p->connect_to = curl_slist_append(NULL, line)))
            return -1;
        curl_easy_setopt(e, CURLOPT_CONNECT_TO, p->connect_to);
    }
    curl_easy_setopt(e, CURLOPT_URL, api->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "regiond/" REGIOND_VERSION);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, p->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)api->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)api->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, probe_on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, p->errbuf);
    /* A health answer is small: a 4 KiB receive buffer instead of curl's
     * 16 KiB keeps each probe in flight 12 KiB lighter (thousands are in
     * flight when the loop runs late); larger bodies just take more reads. */
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 4096L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, probe_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, p);
    curl_easy_setopt(e, CURLOPT_SHARE, p->spec.tls_share ? p->spec.tls_share : loop_share());
    if (!api->keepalive) {
        curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }
    if (strcmp(api->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(api->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, api->body ? api->body : "");
    } else if (strcmp(api->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, api->method);
        if (api->body)
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, api->body);
    }
    if (p->spec.https) {
        /* Debian's libcurl sets a default CA path, which turns curl's CA-store
         * cache off and re-parses the bundle on every handshake (~24 ms CPU):
         * keep CAINFO, clear CAPATH (../shared/PEERS.md). */
        curl_easy_setopt(e, CURLOPT_CAINFO, p->spec.ca_file);
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
        if (api->insecure) {
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (p->full_handshake) {
            /* A resumed session skips certificate verification, and a
             * kept-alive connection has no handshake at all: a new
             * connection, no session offered, closed after this probe (a
             * keep-alive target goes on with its pooled connection; the
             * pool does not grow).  CURLOPT_MAXLIFETIME_CONN is not used:
             * libcurl applies the pruning handle's value to every pooled
             * connection, other targets' too. */
            curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
            curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
            curl_easy_setopt(e, CURLOPT_SSL_SESSIONID_CACHE, 0L);
            curl_easy_setopt(e, CURLOPT_CERTINFO, 1L);
        }
    }
    return 0;
}

static void probe_fail_now(probe_done_fn done, void *arg, const char *addr, const char *why)
{
    probe_result_t r;
    memset(&r, 0, sizeof(r));
    r.outcome = PROBE_INTERNAL;
    r.dns_ms = r.connect_ms = r.tls_ms = r.ttfb_ms = r.total_ms = -1;
    r.cert_expiry_days = NAN;
    snprintf(r.addr, sizeof(r.addr), "%s", addr ? addr : "");
    snprintf(r.reason, sizeof(r.reason), "internal: %s", why);
    done(arg, &r);
}

probe_http_t *probe_http_start(const probe_spec_t *spec, const char *addr, bool full_handshake,
                               probe_done_fn done, void *arg)
{
    probe_http_t *p = calloc(1, sizeof(*p));
    if (!p || !(p->easy = curl_easy_init())) {
        free(p);
        probe_fail_now(done, arg, addr, "out of memory");
        return NULL;
    }
    p->spec = *spec;
    p->done = done;
    p->arg = arg;
    p->full_handshake = full_handshake;
    snprintf(p->addr, sizeof(p->addr), "%s", addr ? addr : spec->host);
    if (probe_setup(p, addr) == -1 || loop_start_probe(p->easy, probe_on_done, p) == -1) {
        probe_free(p);
        probe_fail_now(done, arg, addr, "cannot start transfer (out of memory)");
        return NULL;
    }
    return p;
}

void probe_http_cancel(probe_http_t *p)
{
    if (!p)
        return;
    loop_cancel(p->easy);
    probe_free(p);
}
