/* cfg_target.c — one probe target (regions[].api[]) and the probe settings
 * it shares with probe_defaults: name, URL, method, body, response checks,
 * headers (secrets through cfg_secret), the integer ranges, and the checks
 * that span keys (timeout < interval, blamed on the key set closest to the
 * target); and cfg_free_target(), the inverse.
 * Every range here is documented in docs/config.md; keep the two in step. */
#include "config/cfg_int.h"

#include <curl/curl.h>
#include <regex.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const api_keys[] = { "name", "url", "method", "headers", "body",
                                        "body_contains", "body_regex", "insecure",
                                        CFG_PROBE_KEYS, NULL };
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

/* ---- syntax of URLs and header names ----------------------------------------- */

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
int cfg_probe_settings(cfg_ctx_t *c, const cJSON *o, const char *parent, cfg_api_t *a)
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
static int origin(const cfg_build_t *b, const cJSON *o, const char *key)
{
    return cfg_member(o, key) ? 2 : cfg_member(b->defs_json, key) ? 1 : 0;
}

/* Report that KA (VA) must be OPA than KB (VB), blaming whichever key was set
 * closest to the target: "KB: expected OPB KA (VA), got VB" when that is KB. */
static int conflict(const cfg_build_t *b, const cJSON *o, const char *ap, const char *ka,
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

int cfg_target(const cfg_build_t *b, const cJSON *o, const char *ap, size_t idx, cfg_api_t *a)
{
    if (!cJSON_IsObject(o))
        return cfg_expect(b->c, ap, "an object describing a probe target", o);
    if (cfg_keys(b->c, o, ap, api_keys) == -1)
        return -1;
    *a = b->defs;                         /* scalars; the pointers are all NULL ... */
    a->expect_status = cfg_xcalloc(a->n_expect_status, sizeof *a->expect_status);
    memcpy(a->expect_status, b->defs.expect_status,   /* ... but this one */
           a->n_expect_status * sizeof *a->expect_status);
    if (api_http(b->c, o, ap, idx, a) == -1 || cfg_probe_settings(b->c, o, ap, a) == -1
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

/* ---- freeing ----------------------------------------------------------- */

void cfg_free_target(cfg_api_t *a)
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
