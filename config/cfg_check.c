/* cfg_check.c — building a cfg_t from the parsed JSON, section by section:
 * the controller, resolver, tls and health sections, probe_defaults and the
 * regions (each target is cfg_target.c's), with their defaults, ranges and
 * the checks that span keys (quorum <= targets, unique names); and
 * cfg_free(), the inverse of all that.
 * Every range here is documented in docs/config.md; keep the two in step. */
#include "config/cfg_int.h"

#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

static const char *const top_keys[] = { "controller", "resolver", "tls", "health",
                                        "probe_defaults", "regions", "aws", "route53",
                                        "decision", "dynamodb", "alarms", "cluster", NULL };
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
static const char *const defaults_keys[] = { CFG_PROBE_KEYS, NULL };
static const char *const region_keys[] = { "name", "rule", "quorum", "api", "route53", "dynamodb",
                                           NULL };
static const char *const log_levels[] = { "debug", "info", "notice", "warning", "error", NULL };
static const char *const rules[] = { "all", "any", "quorum", NULL };

const char *cfg_rule_str(cfg_rule_t r)
{
    switch (r) {
    case CFG_RULE_ALL: return "all";
    case CFG_RULE_ANY: return "any";
    case CFG_RULE_QUORUM: return "quorum";
    }
    return "?";
}

/* ---- syntax of addresses ------------------------------------------------- */

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
    if (cJSON_GetArraySize(v) > CFG_MAX_RESOLVERS)   /* the daemon would refuse the list at start */
        return cfg_fail(c, "resolver.servers", "expected at most %d servers, found %d", CFG_MAX_RESOLVERS,
                        cJSON_GetArraySize(v));
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

static int region(cfg_build_t *b, const cJSON *o, const char *rp, cfg_region_t *r)
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
        if (cfg_target(b, t, ap, i, &r->api[i]) == -1)
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

static int regions(cfg_build_t *b, const cJSON *root, cfg_t *cfg)
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
    cfg_build_t b = { .c = c };
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
        && cfg_probe_settings(c, b.defs_json, "probe_defaults", &b.defs) == 0)
        rc = regions(&b, root, cfg);
    if (rc == 0)
        rc = cfg_build_failover(c, root, cfg);
    if (rc == 0)
        rc = cfg_build_dynamodb(c, root, cfg);
    if (rc == 0)
        rc = cfg_build_alarms(c, root, cfg);
    if (rc == 0)
        rc = cfg_build_cluster(c, root, cfg);
    free(b.defs.expect_status);
    return rc;
}

/* ---- freeing ----------------------------------------------------------- */

void cfg_free(cfg_t *cfg)
{
    if (!cfg)
        return;
    for (size_t r = 0; r < cfg->n_regions; r++) {
        for (size_t i = 0; i < cfg->regions[r].n_api; i++)
            cfg_free_target(&cfg->regions[r].api[i]);
        free(cfg->regions[r].api);
        free(cfg->regions[r].name);
    }
    cfg_free_failover(cfg);
    cfg_free_dynamodb(cfg);
    cfg_free_alarms(cfg);
    cfg_free_cluster(cfg);
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
