/* views_show — the observers' views for status and metrics (views.h). */
#include "cluster/views_int.h"

#include <inttypes.h>
#include <stdio.h>

#include "core/loop.h"

static cJSON *region_json(const view_region_t *r, uint64_t age)
{
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddStringToObject(o, "region", r->region) || !cJSON_AddStringToObject(o, "state",
                                                                                         view_state_str(r->state))
        || !cJSON_AddStringToObject(o, "reason", r->reason)
        || !cJSON_AddNumberToObject(o, "age_ms", (double)(r->age_ms + (age == UINT64_MAX ? 0 : age)))
        || !cJSON_AddNumberToObject(o, "probes", r->probes) || !cJSON_AddNumberToObject(o, "failures", r->failures)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *str_or_null(const char *s)
{
    return s[0] ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *obs_json(const vw_obs_t *o, uint64_t now)
{
    uint64_t age = vw_age(o, now);
    cJSON *j = cJSON_CreateObject();
    bool ok = j && cJSON_AddStringToObject(j, "observer", o->id) && cJSON_AddBoolToObject(j, "self", o->self)
              && cJSON_AddBoolToObject(j, "fresh", vw_fresh(o, now)) && cJSON_AddBoolToObject(j, "seen", o->have)
              && (o->have ? cJSON_AddNumberToObject(j, "age_ms", (double)age) : cJSON_AddNullToObject(j, "age_ms"))
              && cJSON_AddNumberToObject(j, "epoch", (double)o->epoch) && cJSON_AddNumberToObject(j, "seq", (double)o->seq)
              && cJSON_AddBoolToObject(j, "suspect", o->have && o->view->suspect);
    cJSON *rf = ok ? str_or_null(o->refused) : NULL, *re = rf ? str_or_null(o->read_error) : NULL;
    if (rf)
        cJSON_AddItemToObject(j, "refused", rf);
    if (re)
        cJSON_AddItemToObject(j, "read_error", re);
    cJSON *rs = re ? cJSON_AddArrayToObject(j, "regions") : NULL;
    ok = rs != NULL;
    for (size_t i = 0; ok && o->have && i < o->view->n; i++) {
        cJSON *r = region_json(&o->view->regions[i], age);
        ok = r != NULL;
        if (r)
            cJSON_AddItemToArray(rs, r);
    }
    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

cJSON *views_status_json(void)
{
    if (!vw.on)
        return NULL;
    uint64_t now = loop_now_ms();
    cJSON *j = cJSON_CreateObject(), *w = NULL, *vs = NULL;
    bool ok = j && cJSON_AddStringToObject(j, "self", vw.self_id) && cJSON_AddNumberToObject(j, "k", vw.k)
              && cJSON_AddNumberToObject(j, "n", (double)vw.n) && cJSON_AddNumberToObject(j, "publish_ms", vw.publish_ms)
              && cJSON_AddNumberToObject(j, "silent_after_ms", vw.silent_ms)
              && cJSON_AddFalseToObject(j, "quorum_applied") && cJSON_AddBoolToObject(j, "publishing", vw.incarnation)
              && cJSON_AddNumberToObject(j, "epoch", (double)vw.epoch) && cJSON_AddNumberToObject(j, "seq", (double)vw.seq)
              && (w = cJSON_AddObjectToObject(j, "writes")) && cJSON_AddNumberToObject(w, "sent", (double)vw.sent)
              && cJSON_AddNumberToObject(w, "ok", (double)vw.ok) && cJSON_AddNumberToObject(w, "failed", (double)vw.failed)
              && (vw.write_error[0] ? cJSON_AddStringToObject(w, "last_error", vw.write_error)
                                    : cJSON_AddNullToObject(w, "last_error"))
              && (vs = cJSON_AddArrayToObject(j, "views"));
    for (size_t i = 0; ok && i < vw.n; i++) {
        cJSON *o = obs_json(&vw.obs[i], now);
        ok = o != NULL;
        if (o)
            cJSON_AddItemToArray(vs, o);
    }
    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

void views_metrics(struct evbuffer *b)
{
    if (!vw.on)
        return;
    uint64_t now = loop_now_ms();
    evbuffer_add_printf(b, "# HELP regiond_observer_view_fresh 1 while the observer's view changed within "
                        "silent_after_ms on this instance's monotonic clock.\n# TYPE regiond_observer_view_fresh gauge\n");
    for (size_t i = 0; i < vw.n; i++)
        evbuffer_add_printf(b, "regiond_observer_view_fresh{observer=\"%s\"} %d\n", vw.obs[i].id,
                            vw_fresh(&vw.obs[i], now) ? 1 : 0);
    evbuffer_add_printf(b, "# HELP regiond_observer_view_age_seconds Time since the observer's view last changed, "
                        "on this instance's monotonic clock (absent: never seen).\n"
                        "# TYPE regiond_observer_view_age_seconds gauge\n");
    for (size_t i = 0; i < vw.n; i++)
        if (vw.obs[i].have)
            evbuffer_add_printf(b, "regiond_observer_view_age_seconds{observer=\"%s\"} %.3f\n", vw.obs[i].id,
                                (double)vw_age(&vw.obs[i], now) / 1000.0);
    evbuffer_add_printf(b, "# HELP regiond_observer_region_up 1 when the observer's last view has the region up, "
                        "else 0 (absent: no view held).\n# TYPE regiond_observer_region_up gauge\n");
    for (size_t i = 0; i < vw.n; i++)
        for (size_t r = 0; vw.obs[i].have && r < vw.obs[i].view->n; r++)
            evbuffer_add_printf(b, "regiond_observer_region_up{observer=\"%s\",region=\"%s\"} %d\n", vw.obs[i].id,
                                vw.obs[i].view->regions[r].region, vw.obs[i].view->regions[r].state == VIEW_UP);
    evbuffer_add_printf(b, "# HELP regiond_observer_view_writes_total This instance's view writes by result.\n"
                        "# TYPE regiond_observer_view_writes_total counter\n"
                        "regiond_observer_view_writes_total{result=\"ok\"} %" PRIu64 "\n"
                        "regiond_observer_view_writes_total{result=\"failed\"} %" PRIu64 "\n", vw.ok, vw.failed);
}
