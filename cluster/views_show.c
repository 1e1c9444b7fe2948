/* views_show — the observers' views for status, metrics and events (views.h). */
#include "cluster/views_int.h"

#include <inttypes.h>
#include <stdio.h>

#include "core/feed.h"
#include "core/log.h"
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

/* Whether observer o's view is suspect, and why: this instance's own from
 * its latest local view (the tables may hold an older one), the others'
 * from the view held. */
static bool suspect_of(const vw_obs_t *o, const char **why)
{
    bool s = o->self ? vw.mine_suspect : o->have && o->view->suspect;
    *why = !s ? "" : o->self ? vw.mine_reason : o->view->suspect_reason;
    return s;
}

static cJSON *obs_json(const vw_obs_t *o, uint64_t now)
{
    uint64_t age = vw_age(o, now);
    const char *why;
    bool sus = suspect_of(o, &why);
    cJSON *j = cJSON_CreateObject();
    bool ok = j && cJSON_AddStringToObject(j, "observer", o->id) && cJSON_AddBoolToObject(j, "self", o->self)
              && cJSON_AddBoolToObject(j, "fresh", vw_fresh(o, now)) && cJSON_AddBoolToObject(j, "seen", o->have)
              && (o->have ? cJSON_AddNumberToObject(j, "age_ms", (double)age) : cJSON_AddNullToObject(j, "age_ms"))
              && cJSON_AddNumberToObject(j, "epoch", (double)o->epoch) && cJSON_AddNumberToObject(j, "seq", (double)o->seq)
              && cJSON_AddBoolToObject(j, "suspect", sus)
              && (sus ? cJSON_AddStringToObject(j, "suspect_reason", why) : cJSON_AddNullToObject(j, "suspect_reason"));
    cJSON *rf = ok ? str_or_null(o->refused) : NULL, *ig = rf ? str_or_null(o->ignored) : NULL;
    cJSON *re = ig ? str_or_null(o->read_error) : NULL;
    if (rf)
        cJSON_AddItemToObject(j, "refused", rf);
    if (ig)
        cJSON_AddItemToObject(j, "ignored", ig);
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
    cJSON *ds = ok ? cJSON_AddArrayToObject(j, "drills") : NULL;   /* the fail drills its view names */
    ok = ds != NULL;
    for (size_t i = 0; ok && o->have && i < o->view->n_drills; i++) {
        cJSON *d = cJSON_CreateObject();
        if (d)
            cJSON_AddItemToArray(ds, d);
        ok = d && cJSON_AddNumberToObject(d, "id", (double)o->view->drills[i].id)
             && cJSON_AddStringToObject(d, "region", o->view->drills[i].region);
    }
    if (!ok) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* ---- events: what this reader sees change ---- */

static void emit(feed_ev_t type, cJSON *d, bool ok)
{
    if (!ok) {
        cJSON_Delete(d);
        log_msg(LOG_ERR, "msg=\"observer event lost\" type=%s error=\"out of memory\"", feed_ev_str(type));
        return;
    }
    feed_emit(type, d);
}

/* observer_silent: a view went silent, or fresh again.  Its first fresh
 * sight says nothing; one never seen is said silent once silent_after_ms
 * has passed since the views started (before, nobody could have read it). */
static void feed_fresh(vw_obs_t *o, uint64_t now)
{
    bool fresh = vw_fresh(o, now);
    vw_said_t now_is = fresh ? VW_SAID_FRESH : VW_SAID_SILENT;
    if (o->said == now_is)
        return;
    bool first = o->said == VW_SAID_NOTHING;
    if (first && (fresh || now - vw.start_ms <= vw.silent_ms)) {
        if (fresh)
            o->said = now_is;
        return;
    }
    o->said = now_is;
    uint64_t age = vw_age(o, now);
    cJSON *d = cJSON_CreateObject();
    bool ok = d && cJSON_AddStringToObject(d, "observer", o->id) && cJSON_AddBoolToObject(d, "self", o->self)
              && cJSON_AddBoolToObject(d, "silent", !fresh) && cJSON_AddBoolToObject(d, "seen", o->have)
              && (o->have ? cJSON_AddNumberToObject(d, "age_ms", (double)age) : cJSON_AddNullToObject(d, "age_ms"))
              && cJSON_AddNumberToObject(d, "silent_after_ms", vw.silent_ms);
    emit(EV_OBSERVER_SILENT, d, ok);
}

/* observer_suspect: a view became suspect (with the reason), or cleared. */
static void feed_suspect(vw_obs_t *o)
{
    const char *why;
    bool sus = suspect_of(o, &why);
    if (sus == o->said_suspect)
        return;
    o->said_suspect = sus;
    cJSON *d = cJSON_CreateObject();
    bool ok = d && cJSON_AddStringToObject(d, "observer", o->id) && cJSON_AddBoolToObject(d, "self", o->self)
              && cJSON_AddBoolToObject(d, "suspect", sus)
              && (sus ? cJSON_AddStringToObject(d, "reason", why) : cJSON_AddNullToObject(d, "reason"));
    emit(EV_OBSERVER_SUSPECT, d, ok);
}

void vw_feed(uint64_t now)
{
    for (size_t i = 0; vw.on && i < vw.n; i++) {
        feed_fresh(&vw.obs[i], now);
        feed_suspect(&vw.obs[i]);
    }
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
              && cJSON_AddTrueToObject(j, "quorum_applied") && cJSON_AddBoolToObject(j, "publishing", vw.incarnation)
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
    evbuffer_add_printf(b, "# HELP regiond_observer_view_items_ignored Lease tables whose item of the observer's "
                        "view was ignored at the last read (not a valid item, or a doc that did not decode beside "
                        "one that did; alarm cluster-view names them).\n"
                        "# TYPE regiond_observer_view_items_ignored gauge\n");
    for (size_t i = 0; i < vw.n; i++)
        evbuffer_add_printf(b, "regiond_observer_view_items_ignored{observer=\"%s\"} %zu\n", vw.obs[i].id,
                            vw.obs[i].n_ignored);
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
    evbuffer_add_printf(b, "# HELP regiond_observer_suspect 1 when the observer's view is suspect (it marked its "
                        "own view: every region failing at once, the lease tables out of reach, a local resource "
                        "shortage); this instance's own from its latest view, others' from their last view held "
                        "(absent: none held).\n# TYPE regiond_observer_suspect gauge\n");
    for (size_t i = 0; i < vw.n; i++) {
        const char *why;
        bool sus = suspect_of(&vw.obs[i], &why);
        if (vw.obs[i].self || vw.obs[i].have)
            evbuffer_add_printf(b, "regiond_observer_suspect{observer=\"%s\"} %d\n", vw.obs[i].id, sus ? 1 : 0);
    }
    evbuffer_add_printf(b, "# HELP regiond_observer_view_writes_total This instance's view writes by result.\n"
                        "# TYPE regiond_observer_view_writes_total counter\n"
                        "regiond_observer_view_writes_total{result=\"ok\"} %" PRIu64 "\n"
                        "regiond_observer_view_writes_total{result=\"failed\"} %" PRIu64 "\n", vw.ok, vw.failed);
}
