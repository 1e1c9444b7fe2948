/* ddb_view — the DynamoDB probe as status and metrics show it. */
#include "probes/ddb.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/hist.h"
#include "core/loop.h"
#include "probes/ddb_int.h"

/* ---- views ---- */

static void ddb_num(cJSON *o, const char *k, double v)
{
    if (v < 0 || isnan(v))
        cJSON_AddNullToObject(o, k);
    else
        cJSON_AddNumberToObject(o, k, round(v * 10) / 10);
}

cJSON *ddb_status_json(void)
{
    if (!ddbs.on)
        return cJSON_CreateNull();
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    uint64_t now = loop_now_ms();
    char why[320], t[40];
    cJSON_AddStringToObject(o, "table", ddbs.cfg->dynamodb.table);
    cJSON_AddNumberToObject(o, "rpo_ms", ddbs.cfg->dynamodb.rpo_ms);
    cJSON_AddStringToObject(o, "gate", ddbs.cfg->dynamodb.gate == 0 ? "gate" : ddbs.cfg->dynamodb.gate == 1 ? "warn" : "off");
    cJSON *hb = cJSON_AddObjectToObject(o, "heartbeat");
    if (hb) {
        bool all = true;
        for (size_t i = 0; i < ddbs.n; i++)
            all &= ddbs.r[i].keys_known;
        cJSON_AddStringToObject(hb, "table", ddbs.cfg->dynamodb.heartbeat_table);
        cJSON_AddStringToObject(hb, "mode", ddbs.cfg->dynamodb.heartbeat_mode ? "application" : "table");
        cJSON_AddStringToObject(hb, "state", ddbs.hb_off[0] ? "off" : all ? "on" : "checking");
        cJSON_AddStringToObject(hb, "reason", ddbs.hb_off);
    }
    cJSON *rs = cJSON_AddArrayToObject(o, "regions");
    for (size_t i = 0; rs && i < ddbs.n; i++) {
        const ddb_region_t *r = &ddbs.r[i];
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddStringToObject(x, "region", ddbs.cfg->regions[i].name);
        cJSON_AddStringToObject(x, "aws_region", ddbs.cfg->dynamodb.aws_regions[i]);
        cJSON_AddStringToObject(x, "table_status", r->table_status);
        cJSON_AddStringToObject(x, "replica_status", r->replica_status);
        cJSON_AddStringToObject(x, "global_table_version", r->global_version);
        if (r->described_wall_ms)
            cJSON_AddStringToObject(x, "described_at", loop_fmt_wall(r->described_wall_ms, t, sizeof(t)));
        cJSON_AddStringToObject(x, "finding", r->finding);
        ddb_num(x, "lag_in_ms", (double)ddb_lag_to_ms(i));
        cJSON_AddBoolToObject(x, "gate_ok", ddb_gate_ok(i, why, sizeof(why)));
        ddb_num(x, "heartbeat_write_ms", r->write_ms.value);
        ddb_num(x, "heartbeat_read_ms", r->read_ms.value);
        cJSON_AddStringToObject(x, "write_error", r->write_error);
        cJSON_AddBoolToObject(x, "keys_known", r->keys_known);
        cJSON_AddStringToObject(x, "heartbeat_table_error", r->hb_error);
        cJSON_AddItemToArray(rs, x);
    }
    cJSON *ps = cJSON_AddArrayToObject(o, "pairs");
    for (size_t w = 0; ps && w < ddbs.n; w++)
        for (size_t r = 0; r < ddbs.n; r++) {
            if (w == r)
                continue;
            const ddb_pair_t *p = &ddbs.p[w][r];
            cJSON *x = cJSON_CreateObject();
            if (!x)
                break;
            cJSON_AddStringToObject(x, "from", ddbs.cfg->regions[w].name);
            cJSON_AddStringToObject(x, "to", ddbs.cfg->regions[r].name);
            ddb_num(x, "lag_ms", p->last_lag_ms);
            ddb_num(x, "lag_now_ms", (double)ddb_pair_lag(w, r, now));
            ddb_num(x, "newest_seen_age_ms", p->seen_write_mono ? (double)(now - p->seen_write_mono) : -1);
            cJSON_AddNumberToObject(x, "samples", (double)p->lag.count);
            ddb_num(x, "lag_avg_ms", p->lag.count ? p->lag.sum_s * 1000.0 / (double)p->lag.count : -1);
            cJSON_AddStringToObject(x, "read_error", p->error);
            cJSON_AddItemToArray(ps, x);
        }
    return o;
}

void ddb_metrics(struct evbuffer *b)
{
    if (!ddbs.on)
        return;
    uint64_t now = loop_now_ms();
    evbuffer_add_printf(b, "# HELP regiond_ddb_replication_lag_seconds Global-table replication lag per ordered region pair, from heartbeats.\n"
                        "# TYPE regiond_ddb_replication_lag_seconds histogram\n");
    for (size_t w = 0; w < ddbs.n; w++)
        for (size_t r = 0; r < ddbs.n; r++) {
            if (w == r)
                continue;
            const ddb_pair_t *p = &ddbs.p[w][r];
            const char *f = ddbs.cfg->regions[w].name, *t = ddbs.cfg->regions[r].name;
            uint64_t cum = 0;
            for (int k = 0; k < HIST_PROM_NBOUNDS; k++) {
                cum += p->lag.bucket[k];
                evbuffer_add_printf(b, "regiond_ddb_replication_lag_seconds_bucket{from=\"%s\",to=\"%s\",le=\"%g\"} %llu\n",
                                    f, t, hist_prom_bounds_s[k], (unsigned long long)cum);
            }
            cum += p->lag.bucket[HIST_PROM_NBOUNDS];
            evbuffer_add_printf(b, "regiond_ddb_replication_lag_seconds_bucket{from=\"%s\",to=\"%s\",le=\"+Inf\"} %llu\n"
                                "regiond_ddb_replication_lag_seconds_sum{from=\"%s\",to=\"%s\"} %.6f\n"
                                "regiond_ddb_replication_lag_seconds_count{from=\"%s\",to=\"%s\"} %llu\n",
                                f, t, (unsigned long long)cum, f, t, p->lag.sum_s, f, t,
                                (unsigned long long)p->lag.count);
        }
    evbuffer_add_printf(b, "# HELP regiond_ddb_newest_heartbeat_age_seconds Age of the newest heartbeat of one region seen in another.\n"
                        "# TYPE regiond_ddb_newest_heartbeat_age_seconds gauge\n");
    for (size_t w = 0; w < ddbs.n; w++)
        for (size_t r = 0; r < ddbs.n; r++)
            if (w != r && ddbs.p[w][r].seen_write_mono)
                evbuffer_add_printf(b, "regiond_ddb_newest_heartbeat_age_seconds{from=\"%s\",to=\"%s\"} %.3f\n",
                                    ddbs.cfg->regions[w].name, ddbs.cfg->regions[r].name,
                                    (double)(now - ddbs.p[w][r].seen_write_mono) / 1000.0);
    evbuffer_add_printf(b, "# HELP regiond_ddb_replica_ok 1 when the region's replica has no finding.\n"
                        "# TYPE regiond_ddb_replica_ok gauge\n");
    for (size_t i = 0; i < ddbs.n; i++)
        evbuffer_add_printf(b, "regiond_ddb_replica_ok{region=\"%s\"} %d\n", ddbs.cfg->regions[i].name,
                            ddbs.r[i].finding[0] ? 0 : 1);
    evbuffer_add_printf(b, "# HELP regiond_ddb_heartbeat_latency_seconds EWMA of heartbeat write and read latency per region.\n"
                        "# TYPE regiond_ddb_heartbeat_latency_seconds gauge\n");
    for (size_t i = 0; i < ddbs.n; i++) {
        if (!isnan(ddbs.r[i].write_ms.value))
            evbuffer_add_printf(b, "regiond_ddb_heartbeat_latency_seconds{region=\"%s\",op=\"write\"} %.6f\n",
                                ddbs.cfg->regions[i].name, ddbs.r[i].write_ms.value / 1000.0);
        if (!isnan(ddbs.r[i].read_ms.value))
            evbuffer_add_printf(b, "regiond_ddb_heartbeat_latency_seconds{region=\"%s\",op=\"read\"} %.6f\n",
                                ddbs.cfg->regions[i].name, ddbs.r[i].read_ms.value / 1000.0);
    }
}
