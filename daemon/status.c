/* status — see status.h.  Secrets never appear: headers are listed by name
 * and, for secrets, by source only. */
#include "daemon/status.h"
#include "daemon/observers.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "daemon/api.h"
#include "core/alarm.h"
#include "backup/backup.h"
#include "cluster/lease.h"
#include "cluster/views.h"
#include "daemon/control.h"
#include "probes/ddb.h"
#include "core/feed.h"
#include "core/loop.h"
#include "daemon/targets.h"

static status_self_t st_self;

void status_set_self(const status_self_t *self)
{
    st_self = *self;
}

const status_self_t *status_self(void)
{
    return &st_self;
}

static void st_num(cJSON *o, const char *k, double v)
{
    if (isnan(v) || v < 0)
        cJSON_AddNullToObject(o, k);
    else
        cJSON_AddNumberToObject(o, k, round(v * 1000.0) / 1000.0);
}

static void st_time(cJSON *o, const char *k, int64_t wall_ms)
{
    char buf[40];
    if (wall_ms <= 0)
        cJSON_AddNullToObject(o, k);
    else
        cJSON_AddStringToObject(o, k, loop_fmt_wall(wall_ms, buf, sizeof(buf)));
}

static cJSON *st_last(const target_t *t)
{
    const probe_result_t *r = &t->last;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    st_time(o, "at", t->last_wall_ms);
    cJSON_AddStringToObject(o, "outcome", probe_outcome_str(r->outcome));
    cJSON_AddStringToObject(o, "reason", r->reason);
    cJSON_AddStringToObject(o, "addr", r->addr);
    cJSON_AddNumberToObject(o, "http_status", (double)r->http_status);
    cJSON *tm = cJSON_AddObjectToObject(o, "timings_ms");
    if (tm) {
        st_num(tm, "dns", r->dns_ms);
        st_num(tm, "connect", r->connect_ms);
        st_num(tm, "tls", r->tls_ms);
        st_num(tm, "first_byte", r->ttfb_ms);
        st_num(tm, "total", r->total_ms);
    }
    cJSON_AddNumberToObject(o, "body_bytes", (double)r->body_bytes);
    cJSON_AddBoolToObject(o, "body_truncated", r->body_truncated);
    cJSON_AddBoolToObject(o, "full_handshake", r->full_handshake);
    return o;
}

static cJSON *st_target(const target_t *t, uint64_t now)
{
    const cfg_api_t *a = t->api;
    const health_target_t *h = &t->health;
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "name", a->name);
    cJSON_AddStringToObject(o, "url", a->url);
    cJSON_AddStringToObject(o, "method", a->method);
    cJSON_AddStringToObject(o, "state", health_state_str(h->state));
    st_time(o, "since", h->since_wall_ms);
    cJSON_AddNumberToObject(o, "since_s", (double)((now - h->since_mono_ms) / 1000u));
    cJSON_AddStringToObject(o, "reason", h->reason);
    cJSON_AddStringToObject(o, "last_failure", h->last_failure);
    cJSON_AddBoolToObject(o, "insecure", a->insecure);
    cJSON_AddBoolToObject(o, "keepalive", a->keepalive);
    cJSON_AddNumberToObject(o, "interval_ms", a->interval_ms);
    cJSON_AddNumberToObject(o, "timeout_ms", a->timeout_ms);
    cJSON_AddNumberToObject(o, "rise", a->rise);
    cJSON_AddNumberToObject(o, "fall", a->fall);
    if (t->last_wall_ms)
        cJSON_AddItemToObject(o, "last", st_last(t));
    else
        cJSON_AddNullToObject(o, "last");
    cJSON *addrs = cJSON_AddArrayToObject(o, "addresses");
    for (unsigned i = 0; addrs && i < t->prev_n; i++) {
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddStringToObject(x, "addr", t->prev[i].addr);
        cJSON_AddStringToObject(x, "outcome", probe_outcome_str(t->prev[i].outcome));
        cJSON_AddNumberToObject(x, "http_status", (double)t->prev[i].http_status);
        st_num(x, "total_ms", t->prev[i].total_ms);
        cJSON_AddItemToArray(addrs, x);
    }
    cJSON *lat = cJSON_AddObjectToObject(o, "latency_ms");
    if (lat) {
        st_num(lat, "p50", hist_window_quantile(&h->window, 0.50, now));
        st_num(lat, "p90", hist_window_quantile(&h->window, 0.90, now));
        st_num(lat, "p99", hist_window_quantile(&h->window, 0.99, now));
        st_num(lat, "ewma", h->ewma.value);
        cJSON_AddNumberToObject(lat, "samples", (double)hist_window_count(&h->window, now));
        cJSON_AddNumberToObject(lat, "window_s", (double)(h->window.slot_ms * HIST_SLOTS / 1000u));
    }
    st_num(o, "cert_expiry_days", t->cert_days);
    cJSON *c = cJSON_AddObjectToObject(o, "counters");
    if (c) {
        cJSON_AddNumberToObject(c, "probes", (double)h->probes);
        cJSON_AddNumberToObject(c, "failures", (double)h->failures);
        cJSON_AddNumberToObject(c, "slow", (double)h->slow);
    }
    cJSON *hs = cJSON_AddArrayToObject(o, "headers");
    for (size_t i = 0; hs && i < a->n_headers; i++) {
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddStringToObject(x, "name", a->headers[i].name);
        cJSON_AddBoolToObject(x, "secret", a->headers[i].secret);
        if (a->headers[i].secret)
            cJSON_AddStringToObject(x, "source", a->headers[i].secret_source);
        cJSON_AddItemToArray(hs, x);
    }
    return o;
}

static cJSON *st_region(const region_t *r, uint64_t now)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "name", r->name);
    cJSON_AddStringToObject(o, "state", health_state_str(r->state));
    st_time(o, "since", r->since_wall_ms);
    cJSON_AddNumberToObject(o, "since_s", (double)((now - r->since_mono_ms) / 1000u));
    cJSON_AddStringToObject(o, "reason", r->reason);
    cJSON_AddStringToObject(o, "rule", cfg_rule_str(r->cfg->rule));
    if (r->cfg->rule == CFG_RULE_QUORUM)
        cJSON_AddNumberToObject(o, "quorum", r->cfg->quorum);
    cJSON *ts = cJSON_AddArrayToObject(o, "targets");
    for (size_t i = 0; ts && i < r->n_targets; i++)
        cJSON_AddItemToArray(ts, st_target(r->targets[i], now));
    return o;
}

static void st_controller(cJSON *root, uint64_t now)
{
    const gen_t *g = targets_gen();
    cJSON *c = cJSON_AddObjectToObject(root, "controller");
    if (c) {
        cJSON_AddStringToObject(c, "id", g ? g->cfg->controller.id : "");
        cJSON_AddStringToObject(c, "version", REGIOND_VERSION);
        cJSON_AddNumberToObject(c, "pid", (double)getpid());
        st_time(c, "started_at", st_self.started_wall_ms);
        cJSON_AddNumberToObject(c, "uptime_s", (double)((now - st_self.started_mono_ms) / 1000u));
        cJSON_AddStringToObject(c, "listen", st_self.listen ? st_self.listen : "");
        cJSON_AddNumberToObject(c, "transfers_in_flight", loop_running());
        loop_fd_budget_t fb;
        loop_fd_budget(&fb);
        cJSON_AddNumberToObject(c, "transfers_queued", fb.queued);
        cJSON_AddNumberToObject(c, "transfers_queued_total", (double)fb.queued_total);
        cJSON_AddNumberToObject(c, "max_in_flight", fb.max_in_flight);   /* 0: no cap */
        cJSON_AddNumberToObject(c, "fd_limit", fb.nofile);               /* 0: unlimited */
        cJSON_AddNumberToObject(c, "rounds_skipped", (double)targets_rounds_skipped());
        cJSON_AddNumberToObject(c, "probe_local_failures", (double)targets_local_failures());
        cJSON_AddNumberToObject(c, "fd_api", fb.api);
        cJSON_AddNumberToObject(c, "fd_reserve", fb.reserve);
        loop_lag_t lg;
        loop_lag(&lg);
        cJSON_AddNumberToObject(c, "loop_lag_ms", (double)lg.last_ms);
        cJSON_AddNumberToObject(c, "loop_lag_max_ms", (double)lg.max_ms);
    }
    const reload_info_t *ri = targets_reload_info();
    cJSON *k = cJSON_AddObjectToObject(root, "config");
    if (k) {
        cJSON_AddStringToObject(k, "path", st_self.config_path ? st_self.config_path : "");
        cJSON_AddNumberToObject(k, "generation", (double)ri->generation);
        st_time(k, "loaded_at", ri->loaded_wall_ms);
        if (ri->last_error[0])
            cJSON_AddStringToObject(k, "last_error", ri->last_error);
        else
            cJSON_AddNullToObject(k, "last_error");
        st_time(k, "last_error_at", ri->last_error_wall_ms);
        cJSON_AddNumberToObject(k, "reloads_ok", (double)ri->reloads_ok);
        cJSON_AddNumberToObject(k, "reloads_failed", (double)ri->reloads_failed);
    }
    cJSON *e = cJSON_AddObjectToObject(root, "events");
    if (e) {
        cJSON_AddNumberToObject(e, "first_id", (double)feed_first_id());
        cJSON_AddNumberToObject(e, "last_id", (double)feed_last_id());
        cJSON_AddNumberToObject(e, "stream_clients", feed_sse_clients());
    }
}

char *status_json(void)
{
    uint64_t now = loop_now_ms();
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    st_controller(root, now);
    char sum[256];
    targets_summary(sum, sizeof(sum));
    cJSON_AddStringToObject(root, "summary", sum);
    cJSON *rs = cJSON_AddArrayToObject(root, "regions");
    for (size_t i = 0; rs && i < targets_nregions(); i++)
        cJSON_AddItemToArray(rs, st_region(targets_region(i), now));
    cJSON_AddItemToObject(root, "failover", ctrl_status_json());
    cJSON_AddItemToObject(root, "alarms", alarm_status_json());
    cJSON_AddItemToObject(root, "api", api_status_json());
    cJSON *dd = ddb_status_json();
    if (cJSON_IsObject(dd)) {
        cJSON_AddItemToObject(dd, "backups", backup_status_json());
        cJSON_AddItemToObject(dd, "pitr", pitr_status_json());
    }
    cJSON_AddItemToObject(root, "dynamodb", dd);
    cJSON *ls = lease_status_json();
    cJSON_AddItemToObject(root, "lease", ls ? ls : cJSON_CreateNull());
    cJSON *ov = views_status_json();
    cJSON *oq = ov ? observers_quorum_json() : NULL;   /* the quorum rule as the decisions take it */
    if (oq)
        cJSON_AddItemToObject(ov, "quorum", oq);
    cJSON_AddItemToObject(root, "observers", ov ? ov : cJSON_CreateNull());
    char *out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}
