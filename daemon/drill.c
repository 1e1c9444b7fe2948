/* drill — see drill.h. */
#include "daemon/drill.h"
#include "daemon/drill_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "daemon/control.h"
#include "core/feed.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/state.h"
#include "daemon/targets.h"

static const char *const dr_state_names[DR_NSTATES] = {"active", "done", "stopped", "dry-run"};

dr_table_t DR;

void dr_note(drill_t *d, const char *type, const char *text)
{
    if (!d->timeline || cJSON_GetArraySize(d->timeline) >= DR_TIMELINE)
        return;
    char t[40];
    int64_t now = loop_wall_ms();
    cJSON *x = cJSON_CreateObject();
    if (!x)
        return;
    cJSON_AddStringToObject(x, "t", loop_fmt_wall(now, t, sizeof(t)));
    cJSON_AddNumberToObject(x, "offset_s", (double)(now - d->start_wall_ms) / 1000.0);
    cJSON_AddStringToObject(x, "type", type);
    char *cut = NULL;
    if (strlen(text) > DR_TEXT_MAX && (cut = strndup(text, DR_TEXT_MAX)))
        text = cut;   /* bounded: a drill's file stays small */
    cJSON_AddStringToObject(x, "text", text);
    free(cut);
    cJSON_AddItemToArray(d->timeline, x);
}

/* Every event while a drill runs goes into its timeline. */
static void dr_on_event(uint64_t id, const char *type, const char *json)
{
    (void)id;
    static const char *const skip[] = {"audit", "daemon_start", NULL};
    for (size_t k = 0; skip[k]; k++)
        if (strcmp(type, skip[k]) == 0)
            return;
    int64_t now = loop_wall_ms();
    bool milestone = strncmp(type, "route53_change", 14) == 0 || strcmp(type, "decision") == 0 ||
                     strcmp(type, "region_state") == 0;
    for (size_t i = 0; i < DR.n; i++)   /* active, or restoring: two minutes after the end */
        if (DR.d[i].state == DR_ACTIVE || ((DR.d[i].state == DR_DONE || DR.d[i].state == DR_STOPPED) &&
                                           now < DR.d[i].end_wall_ms + 120000)) {
            dr_note(&DR.d[i], type, json);
            if (milestone)
                dr_save(&DR.d[i], false);   /* this drill's small file, off the loop */
        }
}

static drill_t *dr_find(uint64_t id)
{
    for (size_t i = 0; i < DR.n; i++)
        if (DR.d[i].id == id)
            return &DR.d[i];
    return NULL;
}

/* End a drill: restore, note, save.  CTRL_UNAVAILABLE when the restore
 * could not be saved (the drill then goes on; msg says why). */
static ctrl_rc_t dr_end(drill_t *d, dr_state_t how, const char *who, char *msg, size_t msglen)
{
    int i = targets_region_index(d->region);
    if (!d->fail && ctrl_override_clear(d->region, who, msg, msglen) == CTRL_UNAVAILABLE)
        return CTRL_UNAVAILABLE;
    if (d->fail && i >= 0)
        targets_set_drill_fail((size_t)i, false);
    d->state = how;
    d->end_wall_ms = loop_wall_ms();
    dr_note(d, "drill_end", how == DR_DONE ? "expired: restoring" : "stopped early: restoring");
    cJSON *e = cJSON_CreateObject();
    if (e) {
        cJSON_AddNumberToObject(e, "drill", (double)d->id);
        cJSON_AddStringToObject(e, "region", d->region);
        cJSON_AddStringToObject(e, "state", dr_state_names[how]);
    }
    feed_emit("drill_end", e);
    dr_save(d, false);
    return CTRL_OK;
}

drill_rc_t drill_start(const char *region, bool fail, uint32_t duration_s, bool dry_run, const char *note,
                       const char *who, uint64_t *id, char *msg, size_t msglen)
{
    char why[600];
    int ri = targets_region_index(region);
    if (ri < 0) {
        snprintf(msg, msglen, "no region named '%s'", region);
        return DRILL_NOT_FOUND;
    }
    for (size_t i = 0; i < DR.n; i++)
        if (DR.d[i].state == DR_ACTIVE && strcmp(DR.d[i].region, region) == 0) {
            snprintf(msg, msglen, "drill %" PRIu64 " is already running on %s", DR.d[i].id, region);
            return DRILL_REFUSED;
        }
    /* Safety rules first, for both kinds: a failed region is drained too. */
    ctrl_rc_t pr = ctrl_preview_drain(region, why, sizeof(why));
    if (pr == CTRL_REFUSED) {
        snprintf(msg, msglen, "%s", why);
        return DRILL_REFUSED;
    }
    if (DR.n == DR_MAX) {   /* forget the oldest finished drill */
        size_t k = 0;
        while (k < DR.n && DR.d[k].state == DR_ACTIVE)
            k++;
        if (k == DR.n) {
            snprintf(msg, msglen, "too many active drills");
            return DRILL_REFUSED;
        }
        cJSON_Delete(DR.d[k].timeline);
        dr_forget_file(DR.d[k].id);
        memmove(&DR.d[k], &DR.d[k + 1], (DR.n - k - 1) * sizeof(DR.d[0]));
        DR.n--;
    }
    drill_t *d = &DR.d[DR.n];
    memset(d, 0, sizeof(*d));
    d->timeline = cJSON_CreateArray();
    if (!d->timeline) {
        snprintf(msg, msglen, "out of memory");
        return DRILL_BAD;
    }
    DR.n++;
    d->id = DR.next_id++;
    snprintf(d->region, sizeof(d->region), "%s", region);
    snprintf(d->note, sizeof(d->note), "%s", note ? note : "");
    snprintf(d->who, sizeof(d->who), "%s", who ? who : "");
    d->fail = fail;
    d->dry_run = dry_run;
    d->duration_s = duration_s;
    d->start_wall_ms = loop_wall_ms();
    d->expires_mono_ms = loop_now_ms() + (uint64_t)duration_s * 1000u;
    *id = d->id;
    cJSON *e = cJSON_CreateObject();
    if (e) {
        cJSON_AddNumberToObject(e, "drill", (double)d->id);
        cJSON_AddStringToObject(e, "region", region);
        cJSON_AddStringToObject(e, "action", fail ? "fail" : "drain");
        cJSON_AddNumberToObject(e, "duration_s", duration_s);
        cJSON_AddBoolToObject(e, "dry_run", dry_run);
        cJSON_AddStringToObject(e, "note", d->note);
    }
    if (dry_run) {
        d->state = DR_DRY;
        d->end_wall_ms = d->start_wall_ms;
        snprintf(d->result, sizeof(d->result), "%s", why);
        dr_note(d, "dry_run", why);
        feed_emit("drill_dry_run", e);
        snprintf(msg, msglen, "drill %" PRIu64 " (dry run): %s", d->id, why);
        dr_save(d, false);
        return DRILL_OK;
    }
    d->state = DR_ACTIVE;
    if (dr_save(d, true) == -1) {   /* not durable: not started, not acknowledged */
        snprintf(msg, msglen, "not started: the drill could not be saved (%s)", state_last_error());
        cJSON_Delete(e);
        cJSON_Delete(d->timeline);
        dr_forget_file(d->id);   /* a write that still lands is removed */
        DR.n--;
        return DRILL_UNAVAILABLE;
    }
    feed_emit("drill_start", e);   /* first line of the timeline */
    if (fail) {
        targets_set_drill_fail((size_t)ri, true);
        dr_note(d, "fault_injected", "probes of the region now count as failed (simulated outage)");
    } else {
        char m2[300];
        char n2[260];
        snprintf(n2, sizeof(n2), "drill %" PRIu64 "%s%.200s", d->id, d->note[0] ? ": " : "", d->note);
        ctrl_rc_t rc = ctrl_override_set(region, true, 0, duration_s + 5, n2, who, m2, sizeof(m2));
        if (rc != CTRL_OK) {
            dr_note(d, "refused", m2);
            d->state = DR_STOPPED;
            d->end_wall_ms = loop_wall_ms();
            snprintf(msg, msglen, "%s", m2);
            dr_save(d, false);
            return rc == CTRL_UNAVAILABLE ? DRILL_UNAVAILABLE : DRILL_REFUSED;
        }
    }
    snprintf(msg, msglen, "drill %" PRIu64 " started: %s %s for %u s", d->id, fail ? "failing" : "draining", region,
             duration_s);
    dr_save(d, false);
    return DRILL_OK;
}

drill_rc_t drill_stop(uint64_t id, const char *who, char *msg, size_t msglen)
{
    drill_t *d = dr_find(id);
    if (!d) {
        snprintf(msg, msglen, "no drill %" PRIu64, id);
        return DRILL_NOT_FOUND;
    }
    if (d->state != DR_ACTIVE) {
        snprintf(msg, msglen, "drill %" PRIu64 " is not running (%s)", id, dr_state_names[d->state]);
        return DRILL_REFUSED;
    }
    if (dr_end(d, DR_STOPPED, who, msg, msglen) == CTRL_UNAVAILABLE)
        return DRILL_UNAVAILABLE;
    snprintf(msg, msglen, "drill %" PRIu64 " stopped: restoring %s", id, d->region);
    return DRILL_OK;
}

static void dr_on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    uint64_t now = loop_now_ms();   /* monotonic: a wall-clock step never ends a drill early */
    char msg[300];
    for (size_t i = 0; i < DR.n; i++)
        if (DR.d[i].state == DR_ACTIVE && now >= DR.d[i].expires_mono_ms &&
            dr_end(&DR.d[i], DR_DONE, "drill-expiry", msg, sizeof(msg)) == CTRL_UNAVAILABLE)
            log_msg(LOG_ERR, "msg=\"drill not ended yet\" drill=%" PRIu64 " error=\"%s\"", DR.d[i].id, msg);
}

int drill_init(const cfg_t *cfg)
{
    memset(&DR, 0, sizeof(DR));
    DR.cfg = cfg;
    DR.tick = event_new(loop_base(), -1, EV_PERSIST, dr_on_tick, NULL);
    struct timeval tv = {0, 250000};
    if (!DR.tick || event_add(DR.tick, &tv) == -1)
        return -1;
    dr_load();
    feed_set_listener(dr_on_event);
    dr_on_tick(-1, 0, NULL);
    return 0;
}

void drill_fini(void)
{
    for (size_t i = 0; DR.tick && i < DR.n; i++)   /* only a drill module that started has anything to save */
        dr_save(&DR.d[i], false);
    feed_set_listener(NULL);
    if (DR.tick)
        event_free(DR.tick);
    for (size_t i = 0; i < DR.n; i++)
        cJSON_Delete(DR.d[i].timeline);
    memset(&DR, 0, sizeof(DR));
}

/* ---- views ---- */

static cJSON *dr_summary(const drill_t *d)
{
    char t[40];
    cJSON *x = cJSON_CreateObject();
    if (!x)
        return NULL;
    cJSON_AddNumberToObject(x, "id", (double)d->id);
    cJSON_AddStringToObject(x, "region", d->region);
    cJSON_AddStringToObject(x, "action", d->fail ? "fail" : "drain");
    cJSON_AddStringToObject(x, "state", dr_state_names[d->state]);
    cJSON_AddBoolToObject(x, "dry_run", d->dry_run);
    cJSON_AddStringToObject(x, "note", d->note);
    cJSON_AddStringToObject(x, "who", d->who);
    cJSON_AddNumberToObject(x, "duration_s", d->duration_s);
    cJSON_AddStringToObject(x, "started_at", loop_fmt_wall(d->start_wall_ms, t, sizeof(t)));
    if (d->state == DR_ACTIVE) {   /* the expiry is monotonic; the wall time is for people */
        uint64_t now = loop_now_ms(), left = d->expires_mono_ms > now ? d->expires_mono_ms - now : 0;
        cJSON_AddStringToObject(x, "expires_at", loop_fmt_wall(loop_wall_ms() + (int64_t)left, t, sizeof(t)));
        cJSON_AddNumberToObject(x, "remaining_s", (double)(left / 1000));
    } else {
        cJSON_AddStringToObject(x, "expires_at",
                                loop_fmt_wall(d->start_wall_ms + (int64_t)d->duration_s * 1000, t, sizeof(t)));
    }
    if (d->end_wall_ms)
        cJSON_AddStringToObject(x, "ended_at", loop_fmt_wall(d->end_wall_ms, t, sizeof(t)));
    if (d->result[0])
        cJSON_AddStringToObject(x, "result", d->result);
    return x;
}

cJSON *drill_list_json(void)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = DR.n; a && i > 0; i--)
        cJSON_AddItemToArray(a, dr_summary(&DR.d[i - 1]));
    return a;
}

/* The first timeline entry of `type` (after index `from`) whose text holds
 * `needle` (may be NULL); -1 when none. */
static int dr_first(const cJSON *tl, int from, const char *type, const char *needle)
{
    int i = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, tl) {
        const cJSON *ty = cJSON_GetObjectItemCaseSensitive(x, "type");
        const cJSON *tx = cJSON_GetObjectItemCaseSensitive(x, "text");
        if (i > from && cJSON_IsString(ty) && strcmp(ty->valuestring, type) == 0 &&
            (!needle || (cJSON_IsString(tx) && strstr(tx->valuestring, needle))))
            return i;
        i++;
    }
    return -1;
}

static void dr_milestone(cJSON *ms, const cJSON *tl, const char *name, int idx)
{
    cJSON *m = cJSON_CreateObject();
    if (!m)
        return;
    cJSON_AddStringToObject(m, "step", name);
    if (idx >= 0) {
        const cJSON *e = cJSON_GetArrayItem(tl, idx);
        cJSON_AddItemToObject(m, "t", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(e, "t"), 1));
        cJSON_AddItemToObject(m, "offset_s", cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(e, "offset_s"), 1));
    } else {
        cJSON_AddNullToObject(m, "t");
        cJSON_AddNullToObject(m, "offset_s");
    }
    cJSON_AddItemToArray(ms, m);
}

cJSON *drill_report_json(uint64_t id)
{
    const drill_t *d = dr_find(id);
    if (!d)
        return NULL;
    cJSON *x = dr_summary(d);
    if (!x)
        return NULL;
    const cJSON *tl = d->timeline;
    cJSON *ms = cJSON_AddArrayToObject(x, "milestones");
    char down[120];
    snprintf(down, sizeof(down), "\"region\":\"%s\",\"from\":\"up\",\"to\":\"down\"", d->region);
    int start = dr_first(tl, -1, d->fail ? "drill_start" : "override_set", NULL);
    if (start < 0)
        start = dr_first(tl, -1, "drill_start", NULL);
    int det = d->fail ? dr_first(tl, -1, "region_state", down) : start;
    int dec = dr_first(tl, det, "decision", NULL);
    int sub = dr_first(tl, dec, "route53_change_submitted", NULL);
    int ins = dr_first(tl, sub, "route53_change_insync", NULL);
    int vis = dr_first(tl, ins, "route53_change_visible", NULL);
    int end = dr_first(tl, -1, "drill_end", NULL);
    int rsub = end >= 0 ? dr_first(tl, end, "route53_change_submitted", NULL) : -1;
    int rvis = rsub >= 0 ? dr_first(tl, rsub, "route53_change_visible", NULL) : -1;
    if (sub < 0)
        ins = vis = -1;
    else if (ins < 0)
        vis = -1;
    if (ms) {
        dr_milestone(ms, tl, d->fail ? "fault injected" : "override applied", start);
        if (d->fail)
            dr_milestone(ms, tl, "outage detected (region down)", det);
        dr_milestone(ms, tl, "decision", dec);
        dr_milestone(ms, tl, "batch submitted", sub);
        dr_milestone(ms, tl, "INSYNC", ins);
        dr_milestone(ms, tl, "DNS-visible", vis);
        dr_milestone(ms, tl, "drill ended", end);
        dr_milestone(ms, tl, "restore batch submitted", rsub);
        dr_milestone(ms, tl, "traffic restored (DNS-visible)", rvis);
    }
    cJSON_AddItemToObject(x, "timeline", cJSON_Duplicate(tl, 1));
    return x;
}
