/* api_guard — what a request must be before the API looks at it: a Host
 * the listener serves with at most one valid port (no DNS rebinding), one
 * unambiguous body framing (Content-Length only), header names that are
 * tokens, a target without NUL, space or control bytes; and the API's caps
 * and refusals in /metrics and /v1/status. */
#include "daemon/api.h"
#include "daemon/api_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/http_struct.h>   /* the request's HTTP version (no accessor in libevent 2.1) */
#include <event2/keyvalq_struct.h>

#include "daemon/auth.h"
#include "core/feed.h"
#include "core/loop.h"
#include "config/utf8.h"

static char **apig_hosts;
static size_t apig_nhosts;

void apig_configure(const cfg_controller_t *c)
{
    char **n = c->n_allowed_hosts ? calloc(c->n_allowed_hosts, sizeof(char *)) : NULL;
    size_t k = 0;
    for (size_t i = 0; n && i < c->n_allowed_hosts; i++)
        if ((n[k] = strdup(c->allowed_hosts[i])))
            k++;
    if (c->n_allowed_hosts && !n)
        return;   /* out of memory: keep the old list */
    apig_fini();
    apig_hosts = n;
    apig_nhosts = k;
}

void apig_fini(void)
{
    for (size_t i = 0; i < apig_nhosts; i++)
        free(apig_hosts[i]);
    free(apig_hosts);
    apig_hosts = NULL;
    apig_nhosts = 0;
}

/* After the colon of "host:port": one decimal 1-65535 (leading zeros
 * allowed, RFC 3986 3.2.3); nothing else, not even empty. */
static bool apig_port_ok(const char *p)
{
    unsigned long v = 0;
    if (!*p)
        return false;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > 65535)
            return false;
    }
    return v >= 1;
}

/* The Host header without its port ("[::1]:9470" -> "::1"); false when it
 * is not uri-host [ ":" port ] (RFC 9110 7.2).  A reg-name or IPv4 address
 * has no colon, so the first one starts the port; an IP-literal ends at its
 * "]".  What the name itself may be is apig_name_ok's business. */
static bool apig_host_name(const char *h, char *out, size_t len)
{
    const char *end, *colon;
    if (h[0] == '[') {
        end = strchr(h, ']');
        if (!end)
            return false;
        colon = end[1] ? end + 1 : NULL;
        if (colon && *colon != ':')
            return false;
        h++;
    } else {
        colon = end = strchr(h, ':');
        if (!end)
            end = h + strlen(h);
    }
    if (colon && !apig_port_ok(colon + 1))
        return false;
    size_t n = (size_t)(end - h);
    if (n == 0 || n >= len)
        return false;
    memcpy(out, h, n);
    out[n] = '\0';
    return true;
}

/* Served: an IP literal (a rebinding page's Host is a DNS name it
 * controls), the loopback names, and controller.allowed_hosts. */
static bool apig_name_ok(const char *h)
{
    char name[256];
    unsigned char addr[16];
    if (!apig_host_name(h, name, sizeof(name)))
        return false;
    size_t n = strlen(name);
    if (n && name[n - 1] == '.')
        name[--n] = '\0';   /* "localhost." */
    if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1)
        return true;
    static const char *const loop_names[] = {"localhost", "localhost.localdomain", "ip6-localhost",
                                             "ip6-loopback", NULL};
    for (size_t i = 0; loop_names[i]; i++)
        if (strcasecmp(name, loop_names[i]) == 0)
            return true;
    if (n > 10 && strcasecmp(name + n - 10, ".localhost") == 0)
        return true;   /* RFC 6761: always loopback */
    for (size_t i = 0; i < apig_nhosts; i++)
        if (strcasecmp(name, apig_hosts[i]) == 0)
            return true;
    return false;
}

/* The Host header (none: HTTP/1.0) and, for an absolute-form target
 * ("GET http://NAME/..."), its host too: RFC 9112 3.2.2 makes that one the
 * request's host, whatever Host says. */
bool apig_host_ok(struct evhttp_request *req)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *uh = u ? evhttp_uri_get_host(u) : NULL;
    if (uh && !apig_name_ok(uh))
        return false;
    return !h || apig_name_ok(h);
}

/* RFC 9110 5.6.2: token = 1*tchar.  evhttp keeps whatever precedes the
 * colon as the name: "Content-Length : 5" would be another header to it,
 * and the body the next request, while a proxy that trims reads a length
 * (RFC 9112 5.1: such a request MUST be answered 400). */
static bool apig_token(const char *v)
{
    if (!*v)
        return false;
    for (; *v; v++) {
        unsigned char ch = (unsigned char)*v;
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch && strchr("!#$%&'*+-.^_`|~", ch))))
            return false;
    }
    return true;
}

/* RFC 9112 3.2: a request target has no whitespace or control byte (evhttp
 * takes "GET /a b HTTP/1.1" as the target "/a b"). */
static bool apig_target_ok(const char *uri)
{
    for (; *uri; uri++)
        if ((unsigned char)*uri <= 0x20 || (unsigned char)*uri == 0x7f)
            return false;
    return true;
}

/* RFC 9110 8.6: Content-Length = 1*DIGIT ("+5" is not one; evhttp's
 * strtoll would take it). */
static bool apig_digits(const char *v)
{
    if (!*v)
        return false;
    for (; *v; v++)
        if (*v < '0' || *v > '9')
            return false;
    return true;
}

/* The framing of the body: Content-Length only.  A chunked body is
 * refused (411) because evhttp's chunk parser cannot be made strict ("+2a",
 * "0x2a" and " 2a" are sizes to it, the CRLF after a chunk is optional);
 * evhttp has read it when we see the request, and the refusal closes the
 * connection, so nothing behind it is read.  HEAD has no body to evhttp:
 * one sent with it would be read as the next request. */
static const char *apig_framing(struct evhttp_request *req, unsigned ncl, unsigned nte, const char *te,
                                const char *cl, int *code)
{
    if (ncl > 1)
        return "more than one Content-Length header";
    if (nte && ncl)
        return "both Transfer-Encoding and Content-Length";
    if (nte && req->minor == 0)
        return "Transfer-Encoding in an HTTP/1.0 request (RFC 9112 6.1: faulty framing)";
    if (nte > 1 || (te && strcasecmp(te, "chunked") != 0))
        return "Transfer-Encoding other than one \"chunked\"";
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD && (nte || (cl && strspn(cl, "0") != strlen(cl))))
        return "a body on a HEAD request";
    if (nte) {
        *code = 411;
        return "a chunked request body: send it with a Content-Length";
    }
    return NULL;
}

/* One framing of the body, or a reason to refuse the request (*code: 400,
 * or 411 for a chunked body). */
const char *apig_bad_request(struct evhttp_request *req, int *code)
{
    const struct evkeyvalq *hs = evhttp_request_get_input_headers(req);
    const struct evkeyval *kv;
    unsigned ncl = 0, nte = 0, nhost = 0;
    const char *te = NULL, *cl = NULL;
    *code = 400;
    if (req->major != 1)
        return "an HTTP version other than 1.x";
    TAILQ_FOREACH(kv, hs, next) {
        if (!apig_token(kv->key))
            return "a header name that is not a token (whitespace before the colon?)";
        if (strcasecmp(kv->key, "Content-Length") == 0) {
            if (!apig_digits(kv->value))
                return "a Content-Length that is not digits only";
            ncl++, cl = kv->value;
        }
        else if (strcasecmp(kv->key, "Transfer-Encoding") == 0)
            nte++, te = kv->value;
        else if (strcasecmp(kv->key, "Host") == 0)
            nhost++;
        if (!utf8_valid(kv->value, strlen(kv->value), NULL))
            return "a header value is not UTF-8";
    }
    if (nhost > 1)
        return "more than one Host header";
    const char *uri = evhttp_request_get_uri(req);
    if (!uri || strcasestr(uri, "%00"))
        return "a NUL (%00) in the request target";
    if (!apig_target_ok(uri))
        return "a space or control byte in the request target";
    const char *why = apig_framing(req, ncl, nte, te, cl, code);
    if (why)
        return why;
    size_t dlen = 0;
    char *dec = evhttp_uridecode(uri, 0, &dlen);
    bool ok = dec && strlen(dec) == dlen && utf8_valid(dec, dlen, NULL);
    free(dec);
    return ok ? NULL : "the request target does not decode to UTF-8 text";
}

void api_metrics(struct evbuffer *b)
{
    apic_stats_t s;
    feed_stream_stats_t f;
    loop_fd_budget_t fb;
    apic_stats(&s);
    feed_stream_stats(&f);
    loop_fd_budget(&fb);
    evbuffer_add_printf(b, "# HELP regiond_api_connections Open API connections (event streams included).\n"
                        "# TYPE regiond_api_connections gauge\nregiond_api_connections %u\n", s.connections);
    evbuffer_add_printf(b, "# HELP regiond_api_max_connections API connections allowed (controller.max_api_connections, "
                        "clamped to the descriptor budget).\n# TYPE regiond_api_max_connections gauge\n"
                        "regiond_api_max_connections %u\n", s.max_connections);
    evbuffer_add_printf(b, "# HELP regiond_api_max_stream_clients Event-stream clients allowed.\n"
                        "# TYPE regiond_api_max_stream_clients gauge\nregiond_api_max_stream_clients %u\n", f.max_clients);
    evbuffer_add_printf(b, "# HELP regiond_api_stream_queued_bytes Bytes queued for event-stream clients now.\n"
                        "# TYPE regiond_api_stream_queued_bytes gauge\nregiond_api_stream_queued_bytes %zu\n",
                        f.queued_bytes);
    evbuffer_add_printf(b, "# HELP regiond_api_stream_memory_max_bytes Cap on all stream clients' queues "
                        "(controller.stream_memory_bytes).\n# TYPE regiond_api_stream_memory_max_bytes gauge\n"
                        "regiond_api_stream_memory_max_bytes %zu\n", f.total_bytes);
    evbuffer_add_printf(b, "# HELP regiond_api_fd_budget Descriptors granted to the API's connections.\n"
                        "# TYPE regiond_api_fd_budget gauge\nregiond_api_fd_budget %u\n", fb.api);
    evbuffer_add_printf(b, "# HELP regiond_api_accepted_total API connections accepted.\n"
                        "# TYPE regiond_api_accepted_total counter\nregiond_api_accepted_total %llu\n",
                        (unsigned long long)s.accepted_total);
    auth_stats_t as;
    auth_stats(&as);
    evbuffer_add_printf(b, "# HELP regiond_api_denied_total Control requests refused for a missing, wrong or "
                        "read-only token.\n# TYPE regiond_api_denied_total counter\nregiond_api_denied_total %llu\n",
                        (unsigned long long)as.denied_total);
    evbuffer_add_printf(b, "# HELP regiond_audit_denied_suppressed_total Refused requests counted in a summary line "
                        "instead of one audit line each.\n# TYPE regiond_audit_denied_suppressed_total counter\n"
                        "regiond_audit_denied_suppressed_total %llu\n", (unsigned long long)as.denied_suppressed_total);
    evbuffer_add_printf(b, "# HELP regiond_audit_write_failures_total audit.log opens, rotations or writes that failed.\n"
                        "# TYPE regiond_audit_write_failures_total counter\nregiond_audit_write_failures_total %llu\n",
                        (unsigned long long)as.audit_failures_total);
    evbuffer_add_printf(b, "# HELP regiond_api_refused_total API connections and requests refused or closed, by reason.\n"
                        "# TYPE regiond_api_refused_total counter\n");
    for (unsigned r = 0; r < APIC_R_COUNT; r++)
        evbuffer_add_printf(b, "regiond_api_refused_total{reason=\"%s\"} %llu\n", apic_reason_str((apic_reason_t)r),
                            (unsigned long long)s.refused[r]);
}

cJSON *api_status_json(void)
{
    apic_stats_t s;
    feed_stream_stats_t f;
    apic_stats(&s);
    feed_stream_stats(&f);
    cJSON *o = cJSON_CreateObject(), *r = o ? cJSON_AddObjectToObject(o, "refused") : NULL;
    if (!r)
        return o;
    cJSON_AddNumberToObject(o, "connections", s.connections);
    cJSON_AddNumberToObject(o, "max_connections", s.max_connections);
    cJSON_AddNumberToObject(o, "stream_clients", f.clients);
    cJSON_AddNumberToObject(o, "max_stream_clients", f.max_clients);
    cJSON_AddNumberToObject(o, "stream_queued_bytes", (double)f.queued_bytes);
    cJSON_AddNumberToObject(o, "stream_memory_max_bytes", (double)f.total_bytes);
    cJSON_AddNumberToObject(o, "request_deadline_ms", s.request_deadline_ms);
    for (unsigned i = 0; i < APIC_R_COUNT; i++)
        cJSON_AddNumberToObject(r, apic_reason_str((apic_reason_t)i), (double)s.refused[i]);
    auth_stats_t as;
    auth_stats(&as);
    cJSON_AddNumberToObject(o, "denied", (double)as.denied_total);
    cJSON_AddNumberToObject(o, "audit_denied_suppressed", (double)as.denied_suppressed_total);
    cJSON_AddNumberToObject(o, "audit_write_failures", (double)as.audit_failures_total);
    return o;
}
