/* metrics — see metrics.h. */
#include "daemon/metrics.h"
#include "daemon/observers.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "core/alarm.h"
#include "daemon/api.h"
#include "backup/backup.h"
#include "cluster/lease.h"
#include "cluster/views.h"
#include "aws/client.h"
#include "daemon/control.h"
#include "probes/ddb.h"
#include "core/feed.h"
#include "core/loop.h"
#include "core/resolver.h"
#include "systemd/sdn.h"
#include "core/state.h"
#include "daemon/status.h"
#include "daemon/targets.h"

/* Escape a label value: backslash, double quote and newline. */
static const char *m_esc(const char *s, char *buf, size_t len)
{
    size_t o = 0;
    for (; *s && o + 3 < len; s++) {
        if (*s == '\\' || *s == '"') {
            buf[o++] = '\\';
            buf[o++] = *s;
        } else if (*s == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else {
            buf[o++] = *s;
        }
    }
    buf[o] = '\0';
    return buf;
}

static void m_head(struct evbuffer *b, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void m_val(struct evbuffer *b, double v)
{
    if (isnan(v))
        evbuffer_add_printf(b, "NaN\n");
    else
        evbuffer_add_printf(b, "%.9g\n", v);
}

static void m_process(struct evbuffer *b)
{
    const reload_info_t *ri = targets_reload_info();
    const status_self_t *self = status_self();
    res_stats_t rs;
    res_get_stats(&rs);
    m_head(b, "regiond_build_info", "gauge", "Build information; always 1.");
    evbuffer_add_printf(b, "regiond_build_info{version=\"%s\"} 1\n", REGIOND_VERSION);
    m_head(b, "regiond_start_time_seconds", "gauge", "Wall-clock time the daemon started.");
    evbuffer_add_printf(b, "regiond_start_time_seconds %.3f\n", self->started_wall_ms / 1000.0);
    m_head(b, "regiond_config_generation", "gauge", "Generation of the running config.");
    evbuffer_add_printf(b, "regiond_config_generation %llu\n", (unsigned long long)ri->generation);
    m_head(b, "regiond_config_last_reload_successful", "gauge",
           "1 if the last config load worked, 0 if it failed and the old config runs.");
    evbuffer_add_printf(b, "regiond_config_last_reload_successful %d\n", ri->last_error[0] ? 0 : 1);
    m_head(b, "regiond_config_reloads_failed_total", "counter", "Config reloads rejected.");
    evbuffer_add_printf(b, "regiond_config_reloads_failed_total %llu\n",
                        (unsigned long long)ri->reloads_failed);
    m_head(b, "regiond_transfers_in_flight", "gauge", "HTTP transfers running now.");
    evbuffer_add_printf(b, "regiond_transfers_in_flight %u\n", loop_running());
    loop_fd_budget_t fb;
    loop_fd_budget(&fb);
    m_head(b, "regiond_transfers_queued", "gauge",
           "Transfers waiting for a free descriptor (the fd limit's budget is used up).");
    evbuffer_add_printf(b, "regiond_transfers_queued %u\n", fb.queued);
    m_head(b, "regiond_probe_rounds_skipped_total", "counter",
           "Probe rounds skipped: the loop reached them late, or controller.max_probes_in_flight probes were running.");
    evbuffer_add_printf(b, "regiond_probe_rounds_skipped_total %llu\n",
                        (unsigned long long)targets_rounds_skipped());
    m_head(b, "regiond_probe_local_failures_total", "counter",
           "Probe rounds that failed for a local reason (out of descriptors or memory): health left unchanged.");
    evbuffer_add_printf(b, "regiond_probe_local_failures_total %llu\n",
                        (unsigned long long)targets_local_failures());
    loop_lag_t lg;
    loop_lag(&lg);
    m_head(b, "regiond_loop_lag_seconds", "gauge",
           "Worst lateness of the event loop's 250 ms tick over the last 30-60 s.  Probes run this late too.");
    evbuffer_add_printf(b, "regiond_loop_lag_seconds %.3f\n", lg.max_ms / 1000.0);
    uint64_t sd_sent, sd_dropped;
    sdn_counts(&sd_sent, &sd_dropped);
    m_head(b, "regiond_sd_notify_dropped_total", "counter",
           "systemd notifications dropped because the notify socket could not take them at once (PID 1 stalled).");
    evbuffer_add_printf(b, "regiond_sd_notify_dropped_total %llu\n", (unsigned long long)sd_dropped);
    m_head(b, "regiond_state_write_failures_total", "counter", "State file writes that failed (disk full, read-only, ...).");
    evbuffer_add_printf(b, "regiond_state_write_failures_total %lu\n", state_failures());
    m_head(b, "regiond_state_writes_queued", "gauge", "State file writes waiting for the writer thread (a slow disk).");
    evbuffer_add_printf(b, "regiond_state_writes_queued %u\n", state_queued());
    m_head(b, "regiond_safe_mode", "gauge", "1 while a corrupt state file keeps Route 53 writes frozen (until unfreeze).");
    evbuffer_add_printf(b, "regiond_safe_mode %d\n", state_safe_mode() ? 1 : 0);
    m_head(b, "regiond_dns_queries_total", "counter", "Name lookups asked of the resolver.");
    evbuffer_add_printf(b, "regiond_dns_queries_total %llu\n", (unsigned long long)rs.queries);
    m_head(b, "regiond_dns_cache_hits_total", "counter", "Lookups answered from the TTL cache.");
    evbuffer_add_printf(b, "regiond_dns_cache_hits_total %llu\n", (unsigned long long)rs.cache_hits);
    m_head(b, "regiond_dns_failures_total", "counter", "Lookups that failed (NXDOMAIN, timeout, ...).");
    evbuffer_add_printf(b, "regiond_dns_failures_total %llu\n", (unsigned long long)rs.failures);
    m_head(b, "regiond_events_total", "counter", "Events emitted since start.");
    evbuffer_add_printf(b, "regiond_events_total %llu\n", (unsigned long long)feed_count());
    m_head(b, "regiond_event_stream_clients", "gauge", "Connected /v1/events clients.");
    evbuffer_add_printf(b, "regiond_event_stream_clients %u\n", feed_sse_clients());
}

static void m_regions(struct evbuffer *b)
{
    char n[256];
    static const health_state_t states[] = {HEALTH_UNKNOWN, HEALTH_UP, HEALTH_DEGRADED, HEALTH_DOWN};
    m_head(b, "regiond_region_state", "gauge", "1 for the region's current state, 0 for the others.");
    for (size_t i = 0; i < targets_nregions(); i++) {
        const region_t *r = targets_region(i);
        for (size_t s = 0; s < 4; s++)
            evbuffer_add_printf(b, "regiond_region_state{region=\"%s\",state=\"%s\"} %d\n",
                                m_esc(r->name, n, sizeof(n)), health_state_str(states[s]),
                                r->state == states[s]);
    }
    m_head(b, "regiond_region_probes_total", "counter", "Probe rounds of the region's targets by outcome.");
    for (size_t i = 0; i < targets_nregions(); i++) {
        const region_t *r = targets_region(i);
        for (int o = 0; o < PROBE_OUTCOME_COUNT; o++)
            evbuffer_add_printf(b, "regiond_region_probes_total{region=\"%s\",outcome=\"%s\"} %llu\n",
                                m_esc(r->name, n, sizeof(n)), probe_outcome_str((probe_outcome_t)o),
                                (unsigned long long)r->outcomes[o]);
    }
    m_head(b, "regiond_region_probe_duration_seconds", "histogram",
           "Probe duration (total transfer time) of the region's targets.");
    for (size_t i = 0; i < targets_nregions(); i++) {
        const region_t *r = targets_region(i);
        m_esc(r->name, n, sizeof(n));
        uint64_t cum = 0;
        for (int k = 0; k < HIST_PROM_NBOUNDS; k++) {
            cum += r->latency.bucket[k];
            evbuffer_add_printf(b, "regiond_region_probe_duration_seconds_bucket{region=\"%s\",le=\"%g\"} %llu\n",
                                n, hist_prom_bounds_s[k], (unsigned long long)cum);
        }
        cum += r->latency.bucket[HIST_PROM_NBOUNDS];
        evbuffer_add_printf(b, "regiond_region_probe_duration_seconds_bucket{region=\"%s\",le=\"+Inf\"} %llu\n",
                            n, (unsigned long long)cum);
        evbuffer_add_printf(b, "regiond_region_probe_duration_seconds_sum{region=\"%s\"} %.6f\n", n,
                            r->latency.sum_s);
        evbuffer_add_printf(b, "regiond_region_probe_duration_seconds_count{region=\"%s\"} %llu\n", n,
                            (unsigned long long)r->latency.count);
    }
}

typedef double (*m_get_fn)(const target_t *t, uint64_t now);

static double m_state(const target_t *t, uint64_t now) { (void)now; return t->health.state; }
static double m_p50(const target_t *t, uint64_t now) { return hist_window_quantile(&t->health.window, 0.5, now) / 1000.0; }
static double m_p90(const target_t *t, uint64_t now) { return hist_window_quantile(&t->health.window, 0.9, now) / 1000.0; }
static double m_p99(const target_t *t, uint64_t now) { return hist_window_quantile(&t->health.window, 0.99, now) / 1000.0; }
static double m_ewma(const target_t *t, uint64_t now) { (void)now; return t->health.ewma.value / 1000.0; }
static double m_last(const target_t *t, uint64_t now) { (void)now; return t->last.total_ms < 0 ? NAN : t->last.total_ms / 1000.0; }
static double m_probes(const target_t *t, uint64_t now) { (void)now; return (double)t->health.probes; }
static double m_fails(const target_t *t, uint64_t now) { (void)now; return (double)t->health.failures; }
static double m_cert(const target_t *t, uint64_t now) { (void)now; return t->cert_days; }

static void m_target_family(struct evbuffer *b, const char *name, const char *type, const char *help,
                            const char *extra, m_get_fn get, int skip_nan, uint64_t now)
{
    char rn[256], tn[256];
    if (help)
        m_head(b, name, type, help);
    for (size_t i = 0; i < targets_nregions(); i++) {
        const region_t *r = targets_region(i);
        m_esc(r->name, rn, sizeof(rn));
        for (size_t j = 0; j < r->n_targets; j++) {
            const target_t *t = r->targets[j];
            double v = get(t, now);
            if (skip_nan && isnan(v))
                continue;
            evbuffer_add_printf(b, "%s{region=\"%s\",target=\"%s\"%s} ", name, rn,
                                m_esc(t->api->name, tn, sizeof(tn)), extra);
            m_val(b, v);
        }
    }
}

static void m_targets(struct evbuffer *b)
{
    uint64_t now = loop_now_ms();
    m_target_family(b, "regiond_target_state", "gauge",
                    "Target state: 0 unknown, 1 up, 2 degraded, 3 down.", "", m_state, 0, now);
    m_head(b, "regiond_target_latency_window_seconds", "gauge",
           "Probe latency quantiles over the rolling window (health.latency_window_s).");
    m_target_family(b, "regiond_target_latency_window_seconds", "gauge", NULL, ",quantile=\"0.5\"", m_p50, 1, now);
    m_target_family(b, "regiond_target_latency_window_seconds", "gauge", NULL, ",quantile=\"0.9\"", m_p90, 1, now);
    m_target_family(b, "regiond_target_latency_window_seconds", "gauge", NULL, ",quantile=\"0.99\"", m_p99, 1, now);
    m_target_family(b, "regiond_target_latency_ewma_seconds", "gauge",
                    "Exponentially weighted moving average of probe latency.", "", m_ewma, 1, now);
    m_target_family(b, "regiond_target_last_latency_seconds", "gauge",
                    "Duration of the last probe round.", "", m_last, 1, now);
    m_target_family(b, "regiond_target_probes_total", "counter", "Probe rounds run.", "", m_probes, 0, now);
    m_target_family(b, "regiond_target_failures_total", "counter", "Probe rounds failed.", "", m_fails, 0, now);
    m_target_family(b, "regiond_target_cert_expiry_days", "gauge",
                    "Days until the leaf certificate expires, from the last full TLS handshake.", "",
                    m_cert, 1, now);
}

static void m_aws(struct evbuffer *b)
{
    static const char *const svc[] = {"route53", "dynamodb"};
    aws_stats_t st[2];
    for (int i = 0; i < 2; i++)
        aws_get_stats(svc[i], &st[i]);
    static const struct { const char *name, *help; size_t off; } f[] = {
        {"regiond_aws_requests_total", "AWS API requests sent (each attempt).", offsetof(aws_stats_t, requests)},
        {"regiond_aws_retries_total", "AWS API attempts retried after backoff.", offsetof(aws_stats_t, retries)},
        {"regiond_aws_throttled_total", "AWS API answers that asked us to slow down.", offsetof(aws_stats_t, throttled)},
        {"regiond_aws_failures_total", "AWS API calls that failed after their retries.", offsetof(aws_stats_t, failures)},
        {"regiond_aws_rate_waits_total", "AWS API attempts that waited for the client-side rate limit.",
         offsetof(aws_stats_t, rate_waits)},
    };
    for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
        m_head(b, f[k].name, "counter", f[k].help);
        for (int i = 0; i < 2; i++)
            evbuffer_add_printf(b, "%s{service=\"%s\"} %llu\n", f[k].name, svc[i],
                                (unsigned long long)*(const uint64_t *)((const char *)&st[i] + f[k].off));
    }
}

int metrics_render(struct evbuffer *out)
{
    m_process(out);
    api_metrics(out);
    m_regions(out);
    m_targets(out);
    ctrl_metrics(out);
    ddb_metrics(out);
    backup_metrics(out);
    alarm_metrics(out);
    pitr_metrics(out);
    lease_metrics(out);
    views_metrics(out);
    observers_quorum_metrics(out);
    m_aws(out);
    return 0;
}
