/* cfg_check.c — building a cfg_t from the parsed JSON, section by section:
 * defaults, ranges, the syntax of addresses and URLs, and the checks that
 * span keys (timeout < interval, quorum <= targets, unique names); and
 * cfg_free(), the inverse of all that.
 * Every range here is documented in docs/config.md; keep the two in step. */
#include "config/cfg_int.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <math.h>
#include <regex.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

#define PROBE_KEYS "interval_ms", "timeout_ms", "connect_timeout_ms", "latency_ms_max", \
    "rise", "fall", "max_body_bytes", "full_handshake_s", "max_addresses", \
    "keepalive", "ip_version", "expect_status"

static const char *const top_keys[] = { "controller", "resolver", "tls", "health",
                                        "probe_defaults", "regions", "aws", "route53",
                                        "decision", "dynamodb", "alarms", NULL };
static const char *const controller_keys[] = { "id", "listen", "state_dir", "events_ring", "max_probes_in_flight",
                                               "token_file", "token_credential",
                                               "log_level", "max_api_connections", "max_stream_clients",
                                               "stream_client_buffer_bytes", "stream_memory_bytes",
                                               "request_deadline_ms", "allowed_hosts", "audit_max_bytes",
                                               NULL };
static const char *const resolver_keys[] = { "servers", "timeout_ms", "tries", "min_ttl_s",
                                             "max_ttl_s", "negative_ttl_s", NULL };
static const char *const tls_keys[] = { "ca_file", NULL };
static const char *const health_keys[] = { "latency_window_s", NULL };
static const char *const defaults_keys[] = { PROBE_KEYS, NULL };
static const char *const region_keys[] = { "name", "rule", "quorum", "api", "route53", "dynamodb",
                                           NULL };
static const char *const api_keys[] = { "name", "url", "method", "headers", "body",
                                        "body_contains", "body_regex", "insecure",
                                        PROBE_KEYS, NULL };
static const char *const log_levels[] = { "debug", "info", "notice", "warning", "error", NULL };
static const char *const rules[] = { "all", "any", "quorum", NULL };
static const char *const methods[] = { "GET", "HEAD", "POST", "PUT", "OPTIONS", NULL };
enum { METHOD_GET, METHOD_HEAD };                   /* indexes into methods[] */

/* The integer probe settings: key, range, where it lives in cfg_api_t. */
static const struct {
    const char *key;
    uint32_t min, max;
    size_t off;
} probe_ints[] = {
    { "interval_ms", 100, 3600000, offsetof(cfg_api_t, interval_ms) },
    { "timeout_ms", 1, 600000, offsetof(cfg_api_t, timeout_ms) },
    { "connect_timeout_ms", 1, 600000, offsetof(cfg_api_t, connect_timeout_ms) },
    { "latency_ms_max", 0, 600000, offsetof(cfg_api_t, latency_ms_max) },
    { "rise", 1, 100, offsetof(cfg_api_t, rise) },
    { "fall", 1, 100, offsetof(cfg_api_t, fall) },
    { "max_body_bytes", 1, 67108864, offsetof(cfg_api_t, max_body_bytes) },
    { "full_handshake_s", 1, 86400, offsetof(cfg_api_t, full_handshake_s) },
    { "max_addresses", 1, 64, offsetof(cfg_api_t, max_addresses) },
};

/* State of one cfg_build(): the probe defaults every target starts from. */
typedef struct {
    cfg_ctx_t *c;
    const cJSON *defs_json;       /* the probe_defaults object, or NULL */
    cfg_api_t defs;               /* built-in defaults overridden by probe_defaults */
} build_t;

const char *cfg_rule_str(cfg_rule_t r)
{
    switch (r) {
    case CFG_RULE_ALL: return "all";
    case CFG_RULE_ANY: return "any";
    case CFG_RULE_QUORUM: return "quorum";
    }
    return "?";
}

/* ---- syntax of addresses, URLs and header names ------------------------------ */

static bool port_ok(const char *p)
{
    size_t n = strspn(p, "0123456789");
    return n >= 1 && n <= 5 && p[n] == '\0' && p[0] != '0' && atol(p) <= 65535;
}

/* "IPv4:PORT" or "[IPv6]:PORT"; with BARE_OK also "IPv4", "IPv6", "[IPv6]". */
static bool hostport_ok(const char *s, bool bare_ok)
{
    char host[INET6_ADDRSTRLEN + 1];
    unsigned char addr[16];
    const char *end = s[0] == '[' ? strchr(s, ']') : strchr(s, ':');
    if (bare_ok && (inet_pton(AF_INET, s, addr) == 1 || inet_pton(AF_INET6, s, addr) == 1))
        return true;
    if (!end)
        return false;
    size_t n = (size_t)(end - s) - (s[0] == '[');
    if (n >= sizeof host)
        return false;
    memcpy(host, s + (s[0] == '['), n);
    host[n] = '\0';
    if (inet_pton(s[0] == '[' ? AF_INET6 : AF_INET, host, addr) != 1)
        return false;
    if (s[0] == '[' && end[1] == '\0')
        return bare_ok;
    return (s[0] == '[' ? end[1] == ':' && port_ok(end + 2) : port_ok(end + 1));
}

static bool listen_ok(const char *s)
{
    if (strncmp(s, "unix:", 5) == 0)
        return s[5] == '/' && strlen(s + 5) < sizeof(((struct sockaddr_un *)0)->sun_path);
    return hostport_ok(s, false);
}

/* Check an http(s) URL with libcurl's parser; never echo one with a password. */
static int check_url(cfg_ctx_t *c, const char *path, const cJSON *v)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *user = NULL, *pass = NULL;
    const char *why = NULL;
    if (!u)
        return cfg_fail(c, path, "out of memory");
    CURLUcode rc = curl_url_set(u, CURLUPART_URL, v->valuestring, 0);
    if (rc != CURLUE_OK)
        why = curl_url_strerror(rc);
    else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
             || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        why = "the scheme must be http or https";
    else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host
             || strstr(v->valuestring, ":///"))        /* curl reads http:///x as host x */
        why = "no host";
    else if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && atol(port) == 0)
        why = "the port must be from 1 to 65535";
    curl_url_get(u, CURLUPART_USER, &user, 0);
    curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    int has_userinfo = user || pass || (why && strchr(v->valuestring, '@'));
    curl_free(user);
    curl_free(pass);
    if (has_userinfo)
        return cfg_fail(c, path, "expected a URL without a user name or password, got one "
                        "with credentials (send them in a header, as a secret)");
    if (!why)
        return 0;
    char got[CFG_PATH_MAX];
    cfg_describe(v, got, sizeof got);
    return cfg_fail(c, path, "expected an http:// or https:// URL with a host, got %s (%s)",
                    got, why);
}

/* RFC 9110 token: the characters a header name may hold. */
static bool token_ok(const char *s)
{
    size_t n = strspn(s, "!#$%&'*+-.^_`|~0123456789"
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
    return n > 0 && s[n] == '\0';
}

/* ---- the global sections --------------------------------------------------- */

static int controller(cfg_ctx_t *c, const cJSON *root, cfg_controller_t *ctl)
{
    const cJSON *o, *listen;
    int level = 1;
    ctl->id = cfg_xstrdup("regiond");
    ctl->listen = cfg_xstrdup("127.0.0.1:9470");
    ctl->state_dir = cfg_xstrdup("/var/lib/regiond");
    ctl->events_ring = 4096;
    ctl->max_probes_in_flight = 256;
    ctl->max_api_connections = 64;
    ctl->max_stream_clients = 16;
    ctl->stream_client_buffer_bytes = 65536;
    ctl->stream_memory_bytes = 2u << 20;
    ctl->request_deadline_ms = 5000;
    ctl->audit_max_bytes = 16u << 20;
    if (cfg_get_section(c, root, "", "controller", controller_keys, &o) == -1
        || cfg_get_str(c, o, "controller", "id", CFG_S_NAME, &ctl->id) == -1
        || cfg_get_str(c, o, "controller", "listen", CFG_S_NONEMPTY | CFG_S_NOCTRL,
                       &ctl->listen) == -1
        || cfg_get_str(c, o, "controller", "state_dir", CFG_S_ABSPATH, &ctl->state_dir) == -1
        || cfg_get_u32(c, o, "controller", "events_ring", 16, 1000000, &ctl->events_ring) == -1
        || cfg_get_u32(c, o, "controller", "max_probes_in_flight", 1, 1000000, &ctl->max_probes_in_flight) == -1
        || cfg_get_enum(c, o, "controller", "log_level", log_levels, &level) == -1
        || cfg_get_str(c, o, "controller", "token_file", CFG_S_ABSPATH, &ctl->token_file) == -1
        || cfg_get_str(c, o, "controller", "token_credential", CFG_S_NAME, &ctl->token_credential) == -1
        || cfg_controller_api(c, o, ctl) == -1)
        return -1;
    ctl->log_level = cfg_xstrdup(log_levels[level]);
    if ((listen = cfg_member(o, "listen")) && !listen_ok(ctl->listen))
        return cfg_expect(c, "controller.listen", "\"IPv4:PORT\", \"[IPv6]:PORT\" or "
                          "\"unix:/absolute/path\" (at most 107 bytes)", listen);
    return 0;
}

static int resolver_servers(cfg_ctx_t *c, const cJSON *o, cfg_resolver_t *r)
{
    const cJSON *v = cfg_member(o, "servers");
    char path[CFG_PATH_MAX];
    size_t i = 0;
    if (!v)
        return 0;
    if (!cJSON_IsArray(v))
        return cfg_expect(c, "resolver.servers", "an array of IP addresses", v);
    r->n_servers = (size_t)cJSON_GetArraySize(v);
    r->servers = r->n_servers ? cfg_xcalloc(r->n_servers, sizeof *r->servers) : NULL;
    for (const cJSON *s = v->child; s; s = s->next, i++) {
        cfg_idx_path(path, "resolver.servers", i);
        if (!cJSON_IsString(s) || !hostport_ok(s->valuestring, true))
            return cfg_expect(c, path, "an IP address with an optional port (192.0.2.53, "
                              "192.0.2.53:53, 2001:db8::53 or [2001:db8::53]:53)", s);
        r->servers[i] = cfg_xstrdup(s->valuestring);
    }
    return 0;
}

static int resolver(cfg_ctx_t *c, const cJSON *root, cfg_resolver_t *r)
{
    const cJSON *o;
    const char *p = "resolver";
    *r = (cfg_resolver_t){ .timeout_ms = 2000, .tries = 2, .min_ttl_s = 5,
                           .max_ttl_s = 300, .negative_ttl_s = 5 };
    if (cfg_get_section(c, root, "", p, resolver_keys, &o) == -1
        || resolver_servers(c, o, r) == -1
        || cfg_get_u32(c, o, p, "timeout_ms", 10, 60000, &r->timeout_ms) == -1
        || cfg_get_u32(c, o, p, "tries", 1, 10, &r->tries) == -1
        || cfg_get_u32(c, o, p, "min_ttl_s", 0, 86400, &r->min_ttl_s) == -1
        || cfg_get_u32(c, o, p, "max_ttl_s", 1, 86400, &r->max_ttl_s) == -1
        || cfg_get_u32(c, o, p, "negative_ttl_s", 0, 3600, &r->negative_ttl_s) == -1)
        return -1;
    if (r->min_ttl_s <= r->max_ttl_s)
        return 0;
    if (cfg_member(o, "min_ttl_s"))
        return cfg_fail(c, "resolver.min_ttl_s", "expected at most max_ttl_s (%u), got %u",
                        r->max_ttl_s, r->min_ttl_s);
    return cfg_fail(c, "resolver.max_ttl_s", "expected at least min_ttl_s (%u), got %u",
                    r->min_ttl_s, r->max_ttl_s);
}

static int tls_health(cfg_ctx_t *c, const cJSON *root, cfg_t *cfg)
{
    const cJSON *o;
    cfg->tls.ca_file = cfg_xstrdup("/etc/ssl/certs/ca-certificates.crt");
    cfg->health.latency_window_s = 300;
    if (cfg_get_section(c, root, "", "tls", tls_keys, &o) == -1
        || cfg_get_str(c, o, "tls", "ca_file", CFG_S_ABSPATH, &cfg->tls.ca_file) == -1
        || cfg_get_section(c, root, "", "health", health_keys, &o) == -1
        || cfg_get_u32(c, o, "health", "latency_window_s", 10, 86400,
                       &cfg->health.latency_window_s) == -1)
        return -1;
    return 0;
}

/* ---- probe settings (probe_defaults and each target) ------------------------- */

static int expect_status(cfg_ctx_t *c, const cJSON *o, const char *parent, cfg_api_t *a)
{
    const cJSON *v = cfg_member(o, "expect_status");
    char path[CFG_PATH_MAX], sub[CFG_PATH_MAX];
    size_t n = cJSON_IsArray(v) ? (size_t)cJSON_GetArraySize(v) : 0, i = 0;
    if (!v)
        return 0;
    cfg_key_path(path, parent, "expect_status");
    if (n == 0)
        return cfg_expect(c, path, "a non-empty array of HTTP status codes", v);
    int *st = cfg_xcalloc(n, sizeof *st);
    for (const cJSON *s = v->child; s; s = s->next, i++) {
        uint32_t code;
        cfg_idx_path(sub, path, i);
        if (cfg_u32_value(c, s, sub, 100, 599, &code) == -1)
            goto fail;
        st[i] = (int)code;
        for (size_t j = 0; j < i; j++)
            if (st[j] == st[i]) {
                cfg_fail(c, sub, "duplicate status %d (also expect_status[%zu])", st[i], j);
                goto fail;
            }
    }
    free(a->expect_status);
    a->expect_status = st;
    a->n_expect_status = n;
    return 0;
fail:
    free(st);
    return -1;
}

/* The keys shared by probe_defaults and targets, read from O over A. */
static int probe_settings(cfg_ctx_t *c, const cJSON *o, const char *parent, cfg_api_t *a)
{
    const cJSON *ipv = cfg_member(o, "ip_version");
    for (size_t i = 0; i < sizeof probe_ints / sizeof probe_ints[0]; i++)
        if (cfg_get_u32(c, o, parent, probe_ints[i].key, probe_ints[i].min, probe_ints[i].max,
                        (uint32_t *)((char *)a + probe_ints[i].off)) == -1)
            return -1;
    if (cfg_get_bool(c, o, parent, "keepalive", &a->keepalive) == -1
        || expect_status(c, o, parent, a) == -1)
        return -1;
    if (ipv) {
        double d = cJSON_IsNumber(ipv) ? ipv->valuedouble : -1;
        char path[CFG_PATH_MAX];
        cfg_key_path(path, parent, "ip_version");
        if (d != 0 && d != 4 && d != 6)
            return cfg_expect(c, path, "0 (both), 4 or 6", ipv);
        a->ip_version = (int)d;
    }
    return 0;
}

/* Where KEY of target O was set: 2 in the target, 1 in probe_defaults, 0 built in. */
static int origin(const build_t *b, const cJSON *o, const char *key)
{
    return cfg_member(o, key) ? 2 : cfg_member(b->defs_json, key) ? 1 : 0;
}

/* Report that KA (VA) must be OPA than KB (VB), blaming whichever key was set
 * closest to the target: "KB: expected OPB KA (VA), got VB" when that is KB. */
static int conflict(const build_t *b, const cJSON *o, const char *ap, const char *ka,
                    uint32_t va, const char *opa, const char *kb, uint32_t vb, const char *opb)
{
    int ra = origin(b, o, ka), rb = origin(b, o, kb), blame_a = ra >= rb;
    int where = blame_a ? ra : rb;
    char path[CFG_PATH_MAX], suffix[CFG_PATH_MAX + 16] = "";
    cfg_key_path(path, where == 2 ? ap : "probe_defaults", blame_a ? ka : kb);
    if (where != 2)
        snprintf(suffix, sizeof suffix, " (for %s)", ap);
    return cfg_fail(b->c, path, "expected %s %s (%u), got %u%s", blame_a ? opa : opb,
                    blame_a ? kb : ka, blame_a ? vb : va, blame_a ? va : vb, suffix);
}

/* ---- targets ------------------------------------------------------------- */

static int headers(cfg_ctx_t *c, const cJSON *o, const char *ap, cfg_api_t *a)
{
    const cJSON *v = cfg_member(o, "headers");
    char path[CFG_PATH_MAX], hp[CFG_PATH_MAX], name[CFG_PATH_MAX], other[CFG_PATH_MAX];
    if (!v)
        return 0;
    cfg_key_path(path, ap, "headers");
    if (!cJSON_IsObject(v))
        return cfg_expect(c, path, "an object of header names to values", v);
    a->n_headers = (size_t)cJSON_GetArraySize(v);
    a->headers = a->n_headers ? cfg_xcalloc(a->n_headers, sizeof *a->headers) : NULL;
    cfg_header_t *h = a->headers;
    for (const cJSON *ch = v->child; ch; ch = ch->next, h++) {
        cfg_key_path(hp, path, ch->string);
        cfg_key_path(name, "", ch->string);
        if (!token_ok(ch->string))
            return cfg_fail(c, hp, "expected a header name of letters, digits and "
                            "!#$%%&'*+-.^_`|~, got \"%s\"", name);
        if (!strcasecmp(ch->string, "Content-Length")
            || !strcasecmp(ch->string, "Transfer-Encoding"))
            return cfg_fail(c, hp, "expected a header that regiond does not set itself");
        for (const cJSON *p = v->child; p != ch; p = p->next)
            if (strcasecmp(p->string, ch->string) == 0) {
                cfg_key_path(other, path, p->string);
                return cfg_fail(c, hp, "duplicate header name (also %s; names are "
                                "case-insensitive)", other);
            }
        h->name = cfg_xstrdup(ch->string);
        if (cJSON_IsObject(ch) && cfg_secret(c, ch, hp, h) == -1)
            return -1;
        if (cJSON_IsObject(ch))
            continue;
        if (!cJSON_IsString(ch) || !*ch->valuestring)   /* "Name:" would make curl drop it */
            return cfg_expect(c, hp, "a non-empty string or a secret object", ch);
        for (const unsigned char *s = (const unsigned char *)ch->valuestring; *s; s++)
            if (*s < 0x20 || *s == 0x7f)
                return cfg_fail(c, hp, "expected a header value without control characters,"
                                " got a string with a control character");
        h->value = cfg_xstrdup(ch->valuestring);
    }
    return 0;
}

/* name, url, method, body and the response checks of target O. */
static int api_http(cfg_ctx_t *c, const cJSON *o, const char *ap, size_t idx, cfg_api_t *a)
{
    char path[CFG_PATH_MAX], errbuf[256];
    int method = METHOD_GET;
    regex_t re;
    if (cfg_get_str(c, o, ap, "name", CFG_S_NAME, &a->name) == -1
        || cfg_get_str(c, o, ap, "url", CFG_S_NONEMPTY | CFG_S_NOCTRL, &a->url) == -1
        || cfg_get_enum(c, o, ap, "method", methods, &method) == -1
        || cfg_get_str(c, o, ap, "body", CFG_S_NULL, &a->body) == -1
        || cfg_get_str(c, o, ap, "body_contains", CFG_S_NULL | CFG_S_NONEMPTY,
                       &a->body_contains) == -1
        || cfg_get_str(c, o, ap, "body_regex", CFG_S_NULL | CFG_S_NONEMPTY, &a->body_regex) == -1
        || cfg_get_bool(c, o, ap, "insecure", &a->insecure) == -1)
        return -1;
    if (!a->name) {
        snprintf(path, sizeof path, "api[%zu]", idx);
        a->name = cfg_xstrdup(path);
    }
    a->method = cfg_xstrdup(methods[method]);
    cfg_key_path(path, ap, "url");
    if (!a->url)
        return cfg_expect(c, path, "an http:// or https:// URL", NULL);
    if (check_url(c, path, cfg_member(o, "url")) == -1)
        return -1;
    cfg_key_path(path, ap, "body_regex");
    if (a->body_regex) {
        int rc = regcomp(&re, a->body_regex, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            regerror(rc, &re, errbuf, sizeof errbuf);
            return cfg_fail(c, path, "expected a POSIX extended regular expression, got an "
                            "invalid one (%s)", errbuf);
        }
        regfree(&re);
    }
    cfg_key_path(path, ap, "body");
    if (a->body && (method == METHOD_GET || method == METHOD_HEAD))
        return cfg_fail(c, path, "expected no request body with method %s (use POST or PUT)",
                        a->method);
    cfg_key_path(path, ap, a->body_contains ? "body_contains" : "body_regex");
    if (method == METHOD_HEAD && (a->body_contains || a->body_regex))
        return cfg_fail(c, path, "expected no body check with method HEAD (a HEAD response "
                        "has no body)");
    return 0;
}

static int api(build_t *b, const cJSON *o, const char *ap, size_t idx, cfg_api_t *a)
{
    if (!cJSON_IsObject(o))
        return cfg_expect(b->c, ap, "an object describing a probe target", o);
    if (cfg_keys(b->c, o, ap, api_keys) == -1)
        return -1;
    *a = b->defs;                         /* scalars; the pointers are all NULL ... */
    a->expect_status = cfg_xcalloc(a->n_expect_status, sizeof *a->expect_status);
    memcpy(a->expect_status, b->defs.expect_status,   /* ... but this one */
           a->n_expect_status * sizeof *a->expect_status);
    if (api_http(b->c, o, ap, idx, a) == -1 || probe_settings(b->c, o, ap, a) == -1
        || headers(b->c, o, ap, a) == -1)
        return -1;
    if (a->connect_timeout_ms == 0)
        a->connect_timeout_ms = a->timeout_ms;
    if (a->timeout_ms >= a->interval_ms)
        return conflict(b, o, ap, "timeout_ms", a->timeout_ms, "less than",
                        "interval_ms", a->interval_ms, "more than");
    if (a->connect_timeout_ms > a->timeout_ms)
        return conflict(b, o, ap, "connect_timeout_ms", a->connect_timeout_ms, "at most",
                        "timeout_ms", a->timeout_ms, "at least");
    return 0;
}

/* ---- regions ----------------------------------------------------------- */

static int region_quorum(cfg_ctx_t *c, const cJSON *o, const char *rp, cfg_region_t *r)
{
    const cJSON *q = cfg_member(o, "quorum");
    char path[CFG_PATH_MAX], what[96];
    cfg_key_path(path, rp, "quorum");
    if (r->rule != CFG_RULE_QUORUM) {
        if (q)
            return cfg_fail(c, path, "expected no quorum with rule \"%s\" (it is only for "
                            "rule \"quorum\")", cfg_rule_str(r->rule));
        r->quorum = r->rule == CFG_RULE_ALL ? (uint32_t)r->n_api : 1;
        return 0;
    }
    snprintf(what, sizeof what, "an integer from 1 to %zu (the number of api targets)", r->n_api);
    double d = cJSON_IsNumber(q) ? q->valuedouble : 0;
    if (d < 1 || d > (double)r->n_api || d != floor(d))
        return cfg_expect(c, path, what, q);
    r->quorum = (uint32_t)d;
    return 0;
}

static int region(build_t *b, const cJSON *o, const char *rp, cfg_region_t *r)
{
    const cJSON *v = cfg_member(o, "api");
    char path[CFG_PATH_MAX], ap[CFG_PATH_MAX];
    int rule = CFG_RULE_ALL;
    size_t i = 0;
    if (!cJSON_IsObject(o))
        return cfg_expect(b->c, rp, "an object describing a region", o);
    if (cfg_keys(b->c, o, rp, region_keys) == -1
        || cfg_get_str(b->c, o, rp, "name", CFG_S_NAME, &r->name) == -1
        || cfg_get_enum(b->c, o, rp, "rule", rules, &rule) == -1)
        return -1;
    cfg_key_path(path, rp, "name");
    if (!r->name)
        return cfg_expect(b->c, path, "a name of 1 to 64 characters A-Z a-z 0-9 . _ -", NULL);
    r->rule = (cfg_rule_t)rule;
    cfg_key_path(path, rp, "api");
    if (!cJSON_IsArray(v) || !v->child)
        return cfg_expect(b->c, path, "a non-empty array of probe targets", v);
    r->n_api = (size_t)cJSON_GetArraySize(v);
    r->api = cfg_xcalloc(r->n_api, sizeof *r->api);
    for (const cJSON *t = v->child; t; t = t->next, i++) {
        cfg_idx_path(ap, path, i);
        if (api(b, t, ap, i, &r->api[i]) == -1)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->api[j].name, r->api[i].name) == 0) {
                char np[CFG_PATH_MAX];
                cfg_key_path(np, ap, "name");
                return cfg_fail(b->c, np, "duplicate target name '%s' (also %s[%zu].name)",
                                r->api[i].name, path, j);
            }
    }
    return region_quorum(b->c, o, rp, r);
}

static int regions(build_t *b, const cJSON *root, cfg_t *cfg)
{
    const cJSON *v = cfg_member(root, "regions");
    char rp[CFG_PATH_MAX], np[CFG_PATH_MAX];
    size_t i = 0;
    if (!cJSON_IsArray(v) || !v->child)
        return cfg_expect(b->c, "regions", "a non-empty array of regions", v);
    if (cJSON_GetArraySize(v) > CFG_MAX_REGIONS)   /* what failover manages; more would be left alone silently */
        return cfg_fail(b->c, "regions", "at most %d regions (failover manages that many), found %d",
                        CFG_MAX_REGIONS, cJSON_GetArraySize(v));
    cfg->n_regions = (size_t)cJSON_GetArraySize(v);
    cfg->regions = cfg_xcalloc(cfg->n_regions, sizeof *cfg->regions);
    for (const cJSON *r = v->child; r; r = r->next, i++) {
        cfg_idx_path(rp, "regions", i);
        if (region(b, r, rp, &cfg->regions[i]) == -1)
            return -1;
        cfg_key_path(np, rp, "name");
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->regions[j].name, cfg->regions[i].name) == 0)
                return cfg_fail(b->c, np, "duplicate region name '%s' (also regions[%zu].name)",
                                cfg->regions[i].name, j);
    }
    return 0;
}

int cfg_build(cfg_ctx_t *c, const cJSON *root, cfg_t *cfg)
{
    static const int ok_200[] = { 200 };
    build_t b = { .c = c };
    int rc = -1;
    b.defs = (cfg_api_t){ .max_body_bytes = 65536, .interval_ms = 1000, .timeout_ms = 800,
                          .rise = 2, .fall = 4, .full_handshake_s = 60, .max_addresses = 4,
                          .n_expect_status = 1 };
    b.defs.expect_status = cfg_xcalloc(1, sizeof ok_200);
    memcpy(b.defs.expect_status, ok_200, sizeof ok_200);
    if (cfg_keys(c, root, "", top_keys) == 0
        && controller(c, root, &cfg->controller) == 0
        && resolver(c, root, &cfg->resolver) == 0
        && tls_health(c, root, cfg) == 0
        && cfg_get_section(c, root, "", "probe_defaults", defaults_keys, &b.defs_json) == 0
        && probe_settings(c, b.defs_json, "probe_defaults", &b.defs) == 0)
        rc = regions(&b, root, cfg);
    if (rc == 0)
        rc = cfg_build_failover(c, root, cfg);
    if (rc == 0)
        rc = cfg_build_dynamodb(c, root, cfg);
    if (rc == 0)
        rc = cfg_build_alarms(c, root, cfg);
    free(b.defs.expect_status);
    return rc;
}

/* ---- freeing ----------------------------------------------------------- */

static void free_api(cfg_api_t *a)
{
    for (size_t i = 0; i < a->n_headers; i++) {
        cfg_header_t *h = &a->headers[i];
        if (h->value)
            explicit_bzero(h->value, strlen(h->value));
        free(h->value);
        free(h->name);
        free(h->secret_source);
    }
    free(a->headers);
    free(a->name);
    free(a->url);
    free(a->method);
    free(a->body);
    free(a->expect_status);
    free(a->body_contains);
    free(a->body_regex);
}

void cfg_free(cfg_t *cfg)
{
    if (!cfg)
        return;
    for (size_t r = 0; r < cfg->n_regions; r++) {
        for (size_t i = 0; i < cfg->regions[r].n_api; i++)
            free_api(&cfg->regions[r].api[i]);
        free(cfg->regions[r].api);
        free(cfg->regions[r].name);
    }
    cfg_free_failover(cfg);
    cfg_free_dynamodb(cfg);
    cfg_free_alarms(cfg);
    free(cfg->regions);
    for (size_t i = 0; i < cfg->resolver.n_servers; i++)
        free(cfg->resolver.servers[i]);
    free(cfg->resolver.servers);
    free(cfg->controller.id);
    free(cfg->controller.listen);
    free(cfg->controller.state_dir);
    free(cfg->controller.log_level);
    free(cfg->controller.token_file);
    free(cfg->controller.token_credential);
    cfg_free_controller_api(&cfg->controller);
    free(cfg->tls.ca_file);
    free(cfg->path);
    free(cfg);
}
