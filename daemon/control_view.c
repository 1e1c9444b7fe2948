/* control_view — the controller as people and Prometheus see it: the
 * "failover" object of /v1/status, overrides, recent decisions, metrics. */
#include "daemon/control.h"
#include "daemon/control_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/loop.h"
#include "core/state.h"
#include "failover/route53.h"

/* ---- views ---- */

cJSON *ctrl_override_obj(size_t i)
{
    const ctrl_override_t *v = &ctl.ov[i];
    cJSON *x = cJSON_CreateObject();
    if (!x)
        return NULL;
    cJSON_AddStringToObject(x, "region", ctl.names[i]);
    cJSON_AddStringToObject(x, "action", v->kind == DECIDE_OV_DRAIN ? "drain" : "pin");
    cJSON_AddNumberToObject(x, "weight", v->weight);
    return x;
}

const char *ctrl_override_note(const char *region)
{
    int i = ctrl_index(region);
    return i >= 0 && ctl.ov[i].kind != DECIDE_OV_NONE ? ctl.ov[i].note : NULL;
}

cJSON *ctrl_overrides_json(void)
{
    cJSON *a = cJSON_CreateArray();
    char t[40];
    for (size_t i = 0; a && i < ctl.n; i++) {
        const ctrl_override_t *v = &ctl.ov[i];
        if (v->kind == DECIDE_OV_NONE)
            continue;
        cJSON *x = ctrl_override_obj(i);
        if (!x)
            break;
        cJSON_AddStringToObject(x, "created_at", loop_fmt_wall(v->created_wall_ms, t, sizeof(t)));
        if (v->expires_mono_ms) {   /* the expiry is monotonic; the wall time is for people */
            uint64_t now = loop_now_ms(), left = v->expires_mono_ms > now ? v->expires_mono_ms - now : 0;
            cJSON_AddStringToObject(x, "expires_at", loop_fmt_wall(loop_wall_ms() + (int64_t)left, t, sizeof(t)));
            cJSON_AddNumberToObject(x, "expires_in_s", (double)(left / 1000));
        }
        cJSON_AddStringToObject(x, "note", v->note);
        cJSON_AddStringToObject(x, "who", v->who);
        cJSON_AddItemToArray(a, x);
    }
    return a;
}

cJSON *ctrl_decisions_json(void)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = ctl.nring; a && i > 0; i--) {
        cJSON *x = cJSON_Parse(ctl.ring[i - 1]);
        if (x)
            cJSON_AddItemToArray(a, x);
    }
    return a;
}

static cJSON *ctrl_change_json(const route53_change_t *c)
{
    cJSON *x = cJSON_CreateObject();
    char t[40];
    if (!x)
        return NULL;
    cJSON_AddNumberToObject(x, "decision", (double)c->decision);
    cJSON_AddStringToObject(x, "change_id", c->change_id);
    cJSON_AddStringToObject(x, "status", c->status);
    if (c->submitted_wall_ms)
        cJSON_AddStringToObject(x, "submitted_at", loop_fmt_wall(c->submitted_wall_ms, t, sizeof(t)));
    if (c->accepted_ms)
        cJSON_AddNumberToObject(x, "accepted_after_ms", (double)(c->accepted_ms - c->submitted_ms));
    if (c->insync_ms)
        cJSON_AddNumberToObject(x, "insync_after_ms", (double)(c->insync_ms - c->submitted_ms));
    if (c->visible_ms)
        cJSON_AddNumberToObject(x, "visible_after_ms", (double)(c->visible_ms - c->submitted_ms));
    cJSON_AddStringToObject(x, "dns", c->visible_result);
    cJSON_AddStringToObject(x, "error", c->error);
    cJSON_AddBoolToObject(x, "guard_bump", c->guard_bump);
    if (c->guard_bump)
        cJSON_AddNumberToObject(x, "guard_epoch", (double)c->guard_epoch);
    cJSON *h = cJSON_AddArrayToObject(x, "not_sent_drifted");   /* drift left alone: not rewritten */
    for (size_t i = 0; h && i < ctl.n && i < 64; i++)
        if (c->held[i])
            cJSON_AddItemToArray(h, cJSON_CreateString(ctl.names[i]));
    return x;
}

cJSON *ctrl_status_json(void)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    const cfg_route53_t *r = &ctl.cfg->route53;
    cJSON_AddBoolToObject(o, "route53", r->enabled);
    cJSON_AddBoolToObject(o, "frozen", ctl.frozen || state_safe_mode());
    cJSON_AddBoolToObject(o, "safe_mode", state_safe_mode());
    cJSON_AddBoolToObject(o, "dry_run", ctl.cfg->decision.dry_run);
    if (ctl.frozen) {
        cJSON_AddStringToObject(o, "freeze_note", ctl.freeze_note);
        cJSON_AddStringToObject(o, "freeze_who", ctl.freeze_who);
    }
    cJSON_AddBoolToObject(o, "alarm", ctl.cur.alarm);
    cJSON_AddNumberToObject(o, "decision", (double)ctl.seq);
    cJSON_AddStringToObject(o, "rule", decide_rule_str(ctl.cur.top_rule));
    cJSON_AddStringToObject(o, "reason", ctl.cur.reason);
    cJSON_AddStringToObject(o, "applies", ctrl_apply_state(&ctl.cur));
    cJSON_AddStringToObject(o, "actuator", route53_phase_str(route53_phase()));
    cJSON_AddStringToObject(o, "last_error", route53_last_error());
    cJSON *w = cJSON_AddArrayToObject(o, "weights");
    for (size_t i = 0; w && i < ctl.n; i++) {
        cJSON *x = cJSON_CreateObject();
        if (!x)
            break;
        cJSON_AddStringToObject(x, "region", ctl.names[i]);
        if (r->enabled) {
            cJSON_AddStringToObject(x, "set_identifier", r->regions[i].set_identifier);
            cJSON_AddNumberToObject(x, "configured", r->regions[i].weight);
        }
        cJSON_AddNumberToObject(x, "live", r->enabled ? route53_live_weight(i) : -1);
        cJSON_AddNumberToObject(x, "desired", ctl.cur.weight[i]);
        cJSON_AddStringToObject(x, "rule", decide_rule_str(ctl.cur.rule[i]));
        cJSON_AddBoolToObject(x, "drifted", r->enabled && route53_drifted(i));
        cJSON_AddItemToArray(w, x);
    }
    cJSON_AddItemToObject(o, "overrides", ctrl_overrides_json());
    const route53_change_t *c = route53_last_change();
    if (c)
        cJSON_AddItemToObject(o, "last_change", ctrl_change_json(c));
    else
        cJSON_AddNullToObject(o, "last_change");
    cJSON_AddNumberToObject(o, "changes_total", (double)route53_changes_total());
    cJSON_AddNumberToObject(o, "drift_total", (double)route53_drift_total());
    cJSON_AddNumberToObject(o, "guard_knowledge_dropped_total", (double)route53_guard_dropped_total());
    return o;
}

void ctrl_metrics(struct evbuffer *b)
{
    const cfg_route53_t *r = &ctl.cfg->route53;
    evbuffer_add_printf(b, "# HELP regiond_route53_weight Weight of each region's record: live as last read, desired by the last decision.\n"
                        "# TYPE regiond_route53_weight gauge\n");
    for (size_t i = 0; i < ctl.n; i++) {
        evbuffer_add_printf(b, "regiond_route53_weight{region=\"%s\",kind=\"desired\"} %d\n", ctl.names[i], ctl.cur.weight[i]);
        if (r->enabled)
            evbuffer_add_printf(b, "regiond_route53_weight{region=\"%s\",kind=\"live\"} %d\n", ctl.names[i],
                                route53_live_weight(i));
    }
    evbuffer_add_printf(b, "# HELP regiond_decisions_total Decisions made (the last decision number).\n"
                        "# TYPE regiond_decisions_total counter\nregiond_decisions_total %" PRIu64 "\n", ctl.seq);
    evbuffer_add_printf(b, "# HELP regiond_failover_alarm 1 while fail-open or the all-zero guard holds.\n"
                        "# TYPE regiond_failover_alarm gauge\nregiond_failover_alarm %d\n", ctl.cur.alarm ? 1 : 0);
    evbuffer_add_printf(b, "# HELP regiond_failover_frozen 1 while decisions are not applied (freeze or dry run).\n"
                        "# TYPE regiond_failover_frozen gauge\nregiond_failover_frozen %d\n",
                        ctl.frozen || ctl.cfg->decision.dry_run ? 1 : 0);
    evbuffer_add_printf(b, "# HELP regiond_route53_changes_total Record changes accepted by Route 53.\n"
                        "# TYPE regiond_route53_changes_total counter\nregiond_route53_changes_total %" PRIu64 "\n",
                        route53_changes_total());
    evbuffer_add_printf(b, "# HELP regiond_route53_drift_total Records found changed outside regiond.\n"
                        "# TYPE regiond_route53_drift_total counter\nregiond_route53_drift_total %" PRIu64 "\n",
                        route53_drift_total());
    evbuffer_add_printf(b, "# HELP regiond_route53_guard_knowledge_dropped_total Fencing guards written without the "
                        "group's knowledge (it did not fit in the value).\n# TYPE regiond_route53_guard_knowledge_dropped_total "
                        "counter\nregiond_route53_guard_knowledge_dropped_total %" PRIu64 "\n",
                        route53_guard_dropped_total());
    const route53_change_t *c = route53_last_change();
    if (c && c->insync_ms) {
        evbuffer_add_printf(b, "# HELP regiond_route53_last_change_seconds Phases of the last change, from submission.\n"
                            "# TYPE regiond_route53_last_change_seconds gauge\n");
        evbuffer_add_printf(b, "regiond_route53_last_change_seconds{phase=\"accepted\"} %.3f\n",
                            (double)(c->accepted_ms - c->submitted_ms) / 1000.0);
        evbuffer_add_printf(b, "regiond_route53_last_change_seconds{phase=\"insync\"} %.3f\n",
                            (double)(c->insync_ms - c->submitted_ms) / 1000.0);
        if (c->visible_ms)
            evbuffer_add_printf(b, "regiond_route53_last_change_seconds{phase=\"visible\"} %.3f\n",
                                (double)(c->visible_ms - c->submitted_ms) / 1000.0);
    }
}

