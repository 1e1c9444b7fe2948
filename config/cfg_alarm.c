/* cfg_alarm.c — the "alarms" section: the webhooks alarms are delivered to
 * (json, slack, pagerduty), their timeouts and retries, and the queue bound.
 * A webhook URL may carry a token (Slack's path, a ?token= query), so it may
 * be given as a secret and is never echoed in a message. */
#include "config/cfg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

static const char *const alarms_keys[] = { "webhooks", "queue_max", "retry_base_ms", "retry_max_ms", NULL };
static const char *const hook_keys[] = { "name", "url", "kind", "routing_key", "timeout_ms",
                                         "max_attempts", "min_severity", NULL };
static const char *const kinds[] = { "json", "slack", "pagerduty", NULL };
static const char *const severities[] = { "warning", "critical", NULL };

/* An http(s) URL with a host and no user info; the URL itself is never
 * quoted back (it may hold a token). */
static int hook_url(cfg_ctx_t *c, const char *path, const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL, *pass = NULL;
    const char *why = NULL;
    if (!u)
        return cfg_fail(c, path, "out of memory");
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        why = "not a URL";
    else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
             || (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0))
        why = "the scheme must be http or https";
    else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host || strstr(url, ":///"))
        why = "no host";
    else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK
             || curl_url_get(u, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK)
        why = "a user name or password is not allowed";
    curl_free(scheme), curl_free(host), curl_free(user), curl_free(pass);
    curl_url_cleanup(u);
    return why ? cfg_fail(c, path, "expected an http:// or https:// URL with a host (%s)", why) : 0;
}

/* "url": a string or a secret object ({"file"|"env"|"credential"}). */
static int hook_url_member(cfg_ctx_t *c, const cJSON *o, const char *hp, cfg_webhook_t *w)
{
    char path[CFG_PATH_MAX];
    const cJSON *v = cfg_member(o, "url");
    cfg_key_path(path, hp, "url");
    if (cJSON_IsObject(v)) {
        cfg_header_t h = { 0 };
        int rc = cfg_secret(c, v, path, &h);
        free(h.secret_source);
        if (rc == -1) {
            free(h.value);
            return -1;
        }
        w->url = h.value;
        w->url_secret = true;
    } else if (cJSON_IsString(v)) {
        if (cfg_str_value(c, v, path, CFG_S_NONEMPTY | CFG_S_NOCTRL) == -1)
            return -1;
        w->url = cfg_xstrdup(v->valuestring);
    } else {
        return cfg_fail(c, path, "expected an http(s) URL string or a secret object");
    }
    return hook_url(c, path, w->url);
}

static int webhook(cfg_ctx_t *c, const cJSON *o, const char *hp, size_t idx, cfg_webhook_t *w)
{
    char path[CFG_PATH_MAX];
    int kind = CFG_HOOK_JSON, sev = CFG_SEV_WARNING;
    if (!cJSON_IsObject(o))
        return cfg_expect(c, hp, "an object describing a webhook", o);
    w->timeout_ms = 5000;
    w->max_attempts = 6;
    if (cfg_keys(c, o, hp, hook_keys) == -1
        || cfg_get_str(c, o, hp, "name", CFG_S_NAME, &w->name) == -1
        || cfg_get_enum(c, o, hp, "kind", kinds, &kind) == -1
        || cfg_get_u32(c, o, hp, "timeout_ms", 100, 120000, &w->timeout_ms) == -1
        || cfg_get_u32(c, o, hp, "max_attempts", 1, 100, &w->max_attempts) == -1
        || cfg_get_enum(c, o, hp, "min_severity", severities, &sev) == -1)
        return -1;
    w->kind = (cfg_hook_kind_t)kind;
    w->min_severity = (cfg_severity_t)sev;
    if (!w->name) {
        char n[32];
        snprintf(n, sizeof n, "webhooks[%zu]", idx);
        w->name = cfg_xstrdup(n);
    }
    if (!cfg_member(o, "url"))
        return cfg_fail(c, hp, "expected url (where to deliver alarms)");
    if (hook_url_member(c, o, hp, w) == -1)
        return -1;
    const cJSON *rk = cfg_member(o, "routing_key");
    cfg_key_path(path, hp, "routing_key");
    if (w->kind != CFG_HOOK_PAGERDUTY)
        return rk ? cfg_fail(c, path, "expected only with kind \"pagerduty\"") : 0;
    if (!rk)
        return cfg_fail(c, hp, "expected routing_key (a secret: {\"file\"}, {\"env\"} or {\"credential\"}) "
                        "for kind \"pagerduty\"");
    if (!cJSON_IsObject(rk))   /* never quote it: it may be the key itself */
        return cfg_fail(c, path, "expected a secret object ({\"file\": \"/path\"}, {\"env\": \"NAME\"} or "
                        "{\"credential\": \"NAME\"})");
    return cfg_secret(c, rk, path, &w->routing_key);
}

int cfg_build_alarms(cfg_ctx_t *c, const cJSON *root, cfg_t *cfg)
{
    cfg_alarms_t *a = &cfg->alarms;
    const cJSON *o = NULL;
    char hp[CFG_PATH_MAX];
    a->queue_max = 100;
    a->retry_base_ms = 1000;
    a->retry_max_ms = 60000;
    if (cfg_get_section(c, root, "", "alarms", alarms_keys, &o) == -1)
        return -1;
    if (!o)
        return 0;
    if (cfg_get_u32(c, o, "alarms", "queue_max", 1, 100000, &a->queue_max) == -1
        || cfg_get_u32(c, o, "alarms", "retry_base_ms", 10, 600000, &a->retry_base_ms) == -1
        || cfg_get_u32(c, o, "alarms", "retry_max_ms", 10, 3600000, &a->retry_max_ms) == -1)
        return -1;
    if (a->retry_max_ms < a->retry_base_ms)
        return cfg_fail(c, "alarms.retry_max_ms", "expected at least retry_base_ms (%u), got %u",
                        a->retry_base_ms, a->retry_max_ms);
    const cJSON *v = cfg_member(o, "webhooks");
    if (!v)
        return 0;
    if (!cJSON_IsArray(v))
        return cfg_expect(c, "alarms.webhooks", "an array of webhooks", v);
    a->n_webhooks = (size_t)cJSON_GetArraySize(v);
    a->webhooks = a->n_webhooks ? cfg_xcalloc(a->n_webhooks, sizeof *a->webhooks) : NULL;
    size_t i = 0;
    for (const cJSON *w = v->child; w; w = w->next, i++) {
        cfg_idx_path(hp, "alarms.webhooks", i);
        if (webhook(c, w, hp, i, &a->webhooks[i]) == -1)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(a->webhooks[j].name, a->webhooks[i].name) == 0) {
                char np[CFG_PATH_MAX];
                cfg_key_path(np, hp, "name");
                return cfg_fail(c, np, "duplicate webhook name '%s' (also alarms.webhooks[%zu])",
                                a->webhooks[i].name, j);
            }
    }
    return 0;
}

static void wipe_free(char *s)
{
    if (s)
        explicit_bzero(s, strlen(s));
    free(s);
}

void cfg_free_alarms(cfg_t *cfg)
{
    cfg_alarms_t *a = &cfg->alarms;
    for (size_t i = 0; i < a->n_webhooks; i++) {
        cfg_webhook_t *w = &a->webhooks[i];
        free(w->name);
        wipe_free(w->url);
        wipe_free(w->routing_key.value);
        free(w->routing_key.name);
        free(w->routing_key.secret_source);
    }
    free(a->webhooks);
    a->webhooks = NULL;
    a->n_webhooks = 0;
}
