/* cfg_failover.c — the sections that drive failover: "aws" (client,
 * credentials, endpoint overrides, rate limit, retries), "route53" (the
 * weighted record set and how its change is checked in DNS), "decision"
 * (safety rules) and each region's "route53" record.  Ranges are documented
 * in docs/config.md; keep the two in step. */
#include "config/cfg_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const aws_keys[] = { "profile", "shared_credentials_file", "credential",
                                        "imds_endpoint", "account_id", "endpoints",
                                        "route53_rate_per_s", "route53_burst", "retry",
                                        "request_timeout_ms", NULL };
static const char *const retry_keys[] = { "max_attempts", "base_ms", "max_ms", NULL };
static const char *const r53_keys[] = { "hosted_zone_id", "record_name", "record_type", "ttl",
                                        "name_servers", "dns_check", "change_timeout_s",
                                        "reconcile_s", "correct_drift", NULL };
static const char *const dns_check_keys[] = { "consecutive", "interval_ms", "timeout_s", NULL };
static const char *const decision_keys[] = { "min_healthy_regions", "fail_open",
                                             "degraded_weight", "hold_down_s", "max_changes",
                                             "window_s", "settle_ms", "freeze", "dry_run", NULL };
static const char *const region_r53_keys[] = { "set_identifier", "weight", "value", "values",
                                               "alias", NULL };
static const char *const alias_keys[] = { "hosted_zone_id", "dns_name", "evaluate_target_health",
                                          NULL };
static const char *const record_types[] = { "CNAME", "A", "AAAA", NULL };
static const char *const fail_open_modes[] = { "keep", "restore", NULL };

const char *cfg_aws_endpoint(const cfg_t *cfg, const char *service, const char *region)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", service, region ? region : "");
    for (size_t i = 0; i < cfg->aws.n_endpoints; i++)
        if (strcmp(cfg->aws.endpoint_keys[i], key) == 0)
            return cfg->aws.endpoint_urls[i];
    for (size_t i = 0; i < cfg->aws.n_endpoints; i++)
        if (strcmp(cfg->aws.endpoint_keys[i], service) == 0)
            return cfg->aws.endpoint_urls[i];
    return NULL;
}

/* An http(s) URL with a host and nothing after the path's root. */
static int endpoint_url(cfg_ctx_t *c, const char *path, const cJSON *v)
{
    if (cfg_str_value(c, v, path, CFG_S_NONEMPTY | CFG_S_NOCTRL) == -1)
        return -1;
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int ok = u && curl_url_set(u, CURLUPART_URL, v->valuestring, 0) == CURLUE_OK
             && curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
             && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK
             && (strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0) && *host;
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok ? 0 : cfg_expect(c, path, "an http:// or https:// URL with a host", v);
}

static int aws_endpoints(cfg_ctx_t *c, const cJSON *o, cfg_aws_t *a)
{
    const cJSON *v = cfg_member(o, "endpoints");
    char path[CFG_PATH_MAX];
    if (!v)
        return 0;
    if (!cJSON_IsObject(v))
        return cfg_expect(c, "aws.endpoints", "an object of SERVICE[.REGION]: URL", v);
    a->n_endpoints = (size_t)cJSON_GetArraySize(v);
    a->endpoint_keys = cfg_xcalloc(a->n_endpoints, sizeof(char *));
    a->endpoint_urls = cfg_xcalloc(a->n_endpoints, sizeof(char *));
    size_t i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        cfg_key_path(path, "aws.endpoints", e->string);
        const char *dot = strchr(e->string, '.');
        size_t sl = dot ? (size_t)(dot - e->string) : strlen(e->string);
        if (!((sl == 7 && strncmp(e->string, "route53", 7) == 0) ||
              (sl == 8 && strncmp(e->string, "dynamodb", 8) == 0)) || (dot && !cfg_name_ok(dot + 1)))
            return cfg_fail(c, path, "expected a key \"route53\", \"dynamodb\" or "
                            "\"dynamodb.REGION\"");
        if (endpoint_url(c, path, e) == -1)
            return -1;
        a->endpoint_keys[i] = cfg_xstrdup(e->string);
        a->endpoint_urls[i] = cfg_xstrdup(e->valuestring);
    }
    return 0;
}

static int aws(cfg_ctx_t *c, const cJSON *root, cfg_aws_t *a)
{
    const cJSON *o = NULL, *retry = NULL;
    uint32_t rate = 2000;
    a->route53_burst = 5;
    a->retry_max_attempts = 8;
    a->retry_base_ms = 100;
    a->retry_max_ms = 20000;
    a->request_timeout_ms = 10000;
    if (cfg_get_section(c, root, "", "aws", aws_keys, &o) == -1)
        return -1;
    const cJSON *r = cfg_member(o, "route53_rate_per_s");
    if (r) {
        double d = cJSON_IsNumber(r) ? r->valuedouble : NAN;
        if (!isfinite(d) || d < 0.1 || d > 5)
            return cfg_expect(c, "aws.route53_rate_per_s",
                              "a number from 0.1 to 5 (Route 53 allows 5 requests/s per account)", r);
        rate = (uint32_t)lround(d * 1000);
    }
    a->route53_rate_milli = rate;
    if (cfg_get_str(c, o, "aws", "profile", CFG_S_NONEMPTY | CFG_S_NOCTRL, &a->profile) == -1
        || cfg_get_str(c, o, "aws", "shared_credentials_file", CFG_S_ABSPATH,
                       &a->shared_credentials_file) == -1
        || cfg_get_str(c, o, "aws", "credential", CFG_S_NAME, &a->credential) == -1
        || cfg_get_str(c, o, "aws", "account_id", CFG_S_NONEMPTY, &a->account_id) == -1
        || cfg_get_u32(c, o, "aws", "route53_burst", 1, 20, &a->route53_burst) == -1
        || cfg_get_u32(c, o, "aws", "request_timeout_ms", 100, 120000, &a->request_timeout_ms) == -1
        || cfg_get_section(c, o, "aws", "retry", retry_keys, &retry) == -1
        || cfg_get_u32(c, retry, "aws.retry", "max_attempts", 1, 20, &a->retry_max_attempts) == -1
        || cfg_get_u32(c, retry, "aws.retry", "base_ms", 1, 60000, &a->retry_base_ms) == -1
        || cfg_get_u32(c, retry, "aws.retry", "max_ms", 1, 600000, &a->retry_max_ms) == -1
        || aws_endpoints(c, o, a) == -1)
        return -1;
    if (a->account_id && (strlen(a->account_id) != 12 ||
                          strspn(a->account_id, "0123456789") != 12))
        return cfg_expect(c, "aws.account_id", "a 12-digit AWS account id",
                          cfg_member(o, "account_id"));
    const cJSON *im = cfg_member(o, "imds_endpoint");
    if (im) {
        if (endpoint_url(c, "aws.imds_endpoint", im) == -1)
            return -1;
        a->imds_endpoint = cfg_xstrdup(im->valuestring);
    }
    if (a->retry_base_ms > a->retry_max_ms)
        return cfg_fail(c, "aws.retry.base_ms", "expected at most aws.retry.max_ms (%u), got %u",
                        a->retry_max_ms, a->retry_base_ms);
    return 0;
}

/* A list of non-empty strings without control characters. */
static int str_list(cfg_ctx_t *c, const cJSON *v, const char *path, char ***out, size_t *n)
{
    char ip[CFG_PATH_MAX];
    if (!cJSON_IsArray(v) || !v->child)
        return cfg_expect(c, path, "a non-empty array of strings", v);
    *n = (size_t)cJSON_GetArraySize(v);
    *out = cfg_xcalloc(*n, sizeof(char *));
    size_t i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        cfg_idx_path(ip, path, i);
        if (cfg_str_value(c, e, ip, CFG_S_NONEMPTY | CFG_S_NOCTRL) == -1)
            return -1;
        (*out)[i] = cfg_xstrdup(e->valuestring);
    }
    return 0;
}

/* A name server as c-ares takes it: an IPv4 or IPv6 address (IPv6 in
 * brackets when a port follows), optionally ":port" (1..65535). */
static bool ns_ok(const char *s)
{
    char host[64];
    const char *port = NULL;
    size_t hl;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || (e[1] && e[1] != ':'))
            return false;
        hl = (size_t)(e - s - 1);
        s++;
        port = e[1] == ':' ? e + 2 : NULL;
    } else {
        const char *c = strchr(s, ':');
        bool v6 = c && strchr(c + 1, ':');
        hl = c && !v6 ? (size_t)(c - s) : strlen(s);
        port = c && !v6 ? c + 1 : NULL;
    }
    if (hl == 0 || hl >= sizeof(host))
        return false;
    memcpy(host, s, hl);
    host[hl] = '\0';
    unsigned char buf[16];
    if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1)
        return false;
    if (!port)
        return true;
    char *end;
    long p = strtol(port, &end, 10);
    return *port >= '0' && *port <= '9' && !*end && p >= 1 && p <= 65535;
}

/* A DNS name: labels of [A-Za-z0-9_-], 1..63 each, total <= 253. */
static bool dns_name_ok(const char *s)
{
    size_t len = strlen(s), label = 0;
    if (len == 0 || len > 254 || (len == 254 && s[253] != '.'))
        return false;
    for (const char *p = s; *p; p++) {
        if (*p == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '*') {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return true;
}

/* "NAME" with a trailing dot added. */
static char *fqdn(const char *s)
{
    size_t n = strlen(s);
    char *o = cfg_xcalloc(n + 2, 1);
    memcpy(o, s, n);
    if (n == 0 || s[n - 1] != '.')
        o[n] = '.';
    return o;
}

static int record_values(cfg_ctx_t *c, const cJSON *o, const char *rp, const char *type,
                         cfg_r53_region_t *rr)
{
    char path[CFG_PATH_MAX], vp[CFG_PATH_MAX];
    const cJSON *one = cfg_member(o, "value"), *many = cfg_member(o, "values");
    if (one && many) {
        cfg_key_path(path, rp, "values");
        return cfg_fail(c, path, "expected either value or values, not both");
    }
    cfg_key_path(path, rp, one ? "value" : "values");
    if (one) {
        if (cfg_str_value(c, one, path, CFG_S_NONEMPTY | CFG_S_NOCTRL) == -1)
            return -1;
        rr->n_values = 1;
        rr->values = cfg_xcalloc(1, sizeof(char *));
        rr->values[0] = cfg_xstrdup(one->valuestring);
    } else if (str_list(c, many, path, &rr->values, &rr->n_values) == -1) {
        return -1;
    }
    if (strcmp(type, "CNAME") == 0 && rr->n_values != 1)
        return cfg_fail(c, path, "expected exactly one value for a CNAME record");
    for (size_t i = 0; i < rr->n_values; i++) {
        unsigned char buf[16];
        int fam = strcmp(type, "A") == 0 ? AF_INET : strcmp(type, "AAAA") == 0 ? AF_INET6 : 0;
        bool ok = fam ? inet_pton(fam, rr->values[i], buf) == 1 : dns_name_ok(rr->values[i]);
        cfg_idx_path(vp, path, i);
        if (!ok)
            return cfg_fail(c, one ? path : vp, "expected %s for a %s record, got \"%.60s\"",
                            fam == AF_INET ? "an IPv4 address" : fam ? "an IPv6 address"
                            : "a DNS name", type, rr->values[i]);
    }
    return 0;
}

static int region_alias(cfg_ctx_t *c, const cJSON *o, const char *rp, cfg_r53_region_t *rr)
{
    const cJSON *al = NULL;
    char ap[CFG_PATH_MAX];
    if (cfg_get_section(c, o, rp, "alias", alias_keys, &al) == -1)
        return -1;
    cfg_key_path(ap, rp, "alias");
    if (cfg_get_str(c, al, ap, "hosted_zone_id", CFG_S_NONEMPTY | CFG_S_NOCTRL, &rr->alias_zone) == -1
        || cfg_get_str(c, al, ap, "dns_name", CFG_S_NONEMPTY | CFG_S_NOCTRL, &rr->alias_dns) == -1
        || cfg_get_bool(c, al, ap, "evaluate_target_health", &rr->alias_evaluate) == -1)
        return -1;
    if (!rr->alias_zone || !rr->alias_dns)
        return cfg_fail(c, ap, "expected hosted_zone_id and dns_name");
    if (!dns_name_ok(rr->alias_dns))
        return cfg_fail(c, ap, "expected dns_name to be a DNS name");
    return 0;
}

static int region_record(cfg_ctx_t *c, const cJSON *ro, size_t idx, const cfg_t *cfg,
                         cfg_r53_region_t *rr)
{
    char rp[CFG_PATH_MAX], base[CFG_PATH_MAX];
    cfg_idx_path(base, "regions", idx);
    cfg_key_path(rp, base, "route53");
    const cJSON *o = cfg_member(ro, "route53");
    if (!o)
        return cfg_fail(c, rp, "expected a route53 record for every region when the "
                        "top-level route53 section is set");
    if (!cJSON_IsObject(o))
        return cfg_expect(c, rp, "an object", o);
    rr->weight = 100;
    if (cfg_keys(c, o, rp, region_r53_keys) == -1
        || cfg_get_str(c, o, rp, "set_identifier", CFG_S_NONEMPTY | CFG_S_NOCTRL,
                       &rr->set_identifier) == -1
        || cfg_get_u32(c, o, rp, "weight", 0, 255, &rr->weight) == -1)
        return -1;
    if (!rr->set_identifier)
        rr->set_identifier = cfg_xstrdup(cfg->regions[idx].name);
    else if (strlen(rr->set_identifier) > 128)
        return cfg_fail(c, rp, "expected set_identifier of at most 128 characters");
    if (cfg_member(o, "alias")) {
        if (cfg_member(o, "value") || cfg_member(o, "values"))
            return cfg_fail(c, rp, "expected either alias or value(s), not both");
        return region_alias(c, o, rp, rr);
    }
    if (!cfg_member(o, "value") && !cfg_member(o, "values"))
        return cfg_fail(c, rp, "expected value, values or alias");
    return record_values(c, o, rp, cfg->route53.record_type, rr);
}

static int route53_cross(cfg_ctx_t *c, const cfg_t *cfg)
{
    const cfg_route53_t *r = &cfg->route53;
    uint32_t serving = 0;
    for (size_t i = 0; i < cfg->n_regions; i++) {
        serving += r->regions[i].weight > 0;
        for (size_t j = 0; j < i; j++)
            if (strcmp(r->regions[i].set_identifier, r->regions[j].set_identifier) == 0) {
                char p[CFG_PATH_MAX];
                snprintf(p, sizeof p, "regions[%zu].route53.set_identifier", i);
                return cfg_fail(c, p, "duplicate set_identifier '%s' (also regions[%zu])",
                                r->regions[i].set_identifier, j);
            }
    }
    if (serving == 0)
        return cfg_fail(c, "regions", "expected at least one region with a route53 weight above 0");
    if (cfg->decision.min_healthy_regions > cfg->n_regions)
        return cfg_fail(c, "decision.min_healthy_regions",
                        "expected at most the number of regions (%zu), got %u", cfg->n_regions,
                        cfg->decision.min_healthy_regions);
    return 0;
}

static int route53(cfg_ctx_t *c, const cJSON *root, cfg_t *cfg)
{
    cfg_route53_t *r = &cfg->route53;
    const cJSON *o = NULL, *dc = NULL;
    int type = 0;
    r->ttl = 60;
    r->dns_consecutive = 5;
    r->dns_interval_ms = 200;
    r->dns_timeout_s = 120;
    r->change_timeout_s = 300;
    r->reconcile_s = 60;
    if (cfg_get_section(c, root, "", "route53", r53_keys, &o) == -1)
        return -1;
    if (!o)
        return 0;
    r->enabled = true;
    char *name = NULL;
    if (cfg_get_str(c, o, "route53", "hosted_zone_id", CFG_S_NONEMPTY | CFG_S_NOCTRL,
                    &r->hosted_zone_id) == -1
        || cfg_get_str(c, o, "route53", "record_name", CFG_S_NONEMPTY | CFG_S_NOCTRL, &name) == -1
        || cfg_get_enum(c, o, "route53", "record_type", record_types, &type) == -1
        || cfg_get_u32(c, o, "route53", "ttl", 0, 2147483647, &r->ttl) == -1
        || cfg_get_u32(c, o, "route53", "change_timeout_s", 10, 86400, &r->change_timeout_s) == -1
        || cfg_get_u32(c, o, "route53", "reconcile_s", 5, 86400, &r->reconcile_s) == -1
        || cfg_get_bool(c, o, "route53", "correct_drift", &r->correct_drift) == -1
        || cfg_get_section(c, o, "route53", "dns_check", dns_check_keys, &dc) == -1
        || cfg_get_u32(c, dc, "route53.dns_check", "consecutive", 1, 1000, &r->dns_consecutive) == -1
        || cfg_get_u32(c, dc, "route53.dns_check", "interval_ms", 10, 60000, &r->dns_interval_ms) == -1
        || cfg_get_u32(c, dc, "route53.dns_check", "timeout_s", 1, 3600, &r->dns_timeout_s) == -1) {
        free(name);
        return -1;
    }
    if (!r->hosted_zone_id || !name) {
        free(name);
        return cfg_fail(c, "route53", "expected hosted_zone_id and record_name");
    }
    if (strspn(r->hosted_zone_id, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != strlen(r->hosted_zone_id)
        || strlen(r->hosted_zone_id) > 32) {
        free(name);
        return cfg_expect(c, "route53.hosted_zone_id", "a zone id like Z0123456789ABC (no /hostedzone/ prefix)",
                          cfg_member(o, "hosted_zone_id"));
    }
    bool ok = dns_name_ok(name);
    r->record_name = ok ? fqdn(name) : NULL;
    free(name);
    if (!ok)
        return cfg_expect(c, "route53.record_name", "a DNS name", cfg_member(o, "record_name"));
    r->record_type = cfg_xstrdup(record_types[type]);
    const cJSON *ns = cfg_member(o, "name_servers");
    if (ns && str_list(c, ns, "route53.name_servers", &r->name_servers, &r->n_name_servers) == -1)
        return -1;
    if (r->n_name_servers > CFG_MAX_NAME_SERVERS)   /* the DNS check would ask only the first ones */
        return cfg_fail(c, "route53.name_servers", "expected at most %d name servers (the DNS check asks each "
                        "of them), found %zu", CFG_MAX_NAME_SERVERS, r->n_name_servers);
    for (size_t i = 0; i < r->n_name_servers; i++)
        if (!ns_ok(r->name_servers[i])) {
            char np[CFG_PATH_MAX];
            cfg_idx_path(np, "route53.name_servers", i);
            return cfg_fail(c, np, "expected an IP address with an optional port (\"192.0.2.53\", "
                            "\"192.0.2.53:5353\", \"[2001:db8::53]:53\"), found \"%.80s\"", r->name_servers[i]);
        }
    r->regions = cfg_xcalloc(cfg->n_regions, sizeof *r->regions);
    const cJSON *regs = cfg_member(root, "regions");
    size_t i = 0;
    for (const cJSON *ro = regs->child; ro; ro = ro->next, i++)
        if (region_record(c, ro, i, cfg, &r->regions[i]) == -1)
            return -1;
    return 0;
}

static int decision(cfg_ctx_t *c, const cJSON *root, cfg_decision_t *d)
{
    const cJSON *o = NULL;
    int fo = 0;
    d->min_healthy_regions = 1;
    d->degraded_weight = -1;
    d->hold_down_s = 60;
    d->max_changes = 6;
    d->window_s = 3600;
    d->settle_ms = 1000;
    if (cfg_get_section(c, root, "", "decision", decision_keys, &o) == -1
        || cfg_get_u32(c, o, "decision", "min_healthy_regions", 0, 64, &d->min_healthy_regions) == -1
        || cfg_get_enum(c, o, "decision", "fail_open", fail_open_modes, &fo) == -1
        || cfg_get_u32(c, o, "decision", "hold_down_s", 0, 86400, &d->hold_down_s) == -1
        || cfg_get_u32(c, o, "decision", "max_changes", 0, CFG_MAX_CHANGES, &d->max_changes) == -1
        || cfg_get_u32(c, o, "decision", "window_s", 1, 604800, &d->window_s) == -1
        || cfg_get_u32(c, o, "decision", "settle_ms", 0, 60000, &d->settle_ms) == -1
        || cfg_get_bool(c, o, "decision", "freeze", &d->freeze) == -1
        || cfg_get_bool(c, o, "decision", "dry_run", &d->dry_run) == -1)
        return -1;
    d->fail_open_restore = fo;
    const cJSON *dw = cfg_member(o, "degraded_weight");
    if (dw && !(cJSON_IsString(dw) && strcmp(dw->valuestring, "keep") == 0)) {
        uint32_t w;
        if (!cJSON_IsNumber(dw))
            return cfg_expect(c, "decision.degraded_weight", "\"keep\" or an integer from 0 to 255", dw);
        if (cfg_u32_value(c, dw, "decision.degraded_weight", 0, 255, &w) == -1)
            return -1;
        d->degraded_weight = (int)w;
    }
    return 0;
}

int cfg_build_failover(cfg_ctx_t *c, const cJSON *root, cfg_t *cfg)
{
    if (aws(c, root, &cfg->aws) == -1 || decision(c, root, &cfg->decision) == -1
        || route53(c, root, cfg) == -1)
        return -1;
    if (!cfg->route53.enabled) {
        size_t i = 0;
        for (const cJSON *ro = cfg_member(root, "regions")->child; ro; ro = ro->next, i++)
            if (cfg_member(ro, "route53")) {
                char p[CFG_PATH_MAX];
                snprintf(p, sizeof p, "regions[%zu].route53", i);
                return cfg_fail(c, p, "expected the top-level route53 section too (zone and record name)");
            }
        return 0;
    }
    return route53_cross(c, cfg);
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void cfg_free_failover(cfg_t *cfg)
{
    cfg_aws_t *a = &cfg->aws;
    free(a->profile);
    free(a->shared_credentials_file);
    free(a->credential);
    free(a->imds_endpoint);
    free(a->account_id);
    free_list(a->endpoint_keys, a->n_endpoints);
    free_list(a->endpoint_urls, a->n_endpoints);
    cfg_route53_t *r = &cfg->route53;
    for (size_t i = 0; r->regions && i < cfg->n_regions; i++) {
        free(r->regions[i].set_identifier);
        free_list(r->regions[i].values, r->regions[i].n_values);
        free(r->regions[i].alias_zone);
        free(r->regions[i].alias_dns);
    }
    free(r->regions);
    free(r->hosted_zone_id);
    free(r->record_name);
    free(r->record_type);
    free_list(r->name_servers, r->n_name_servers);
}
